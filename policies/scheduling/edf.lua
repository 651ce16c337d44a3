-- edf.lua - earliest deadline first, by the task's `deadline_ms` (from the
-- start of the run).
--
-- Tasks without a deadline go after every task that has one. On one worker,
-- EDF meets every deadline that any order could meet.
--
-- Parameters:
--   NO_DEADLINE  the key of a task without a deadline (math.huge: last)

local NO_DEADLINE = math.huge

return {
  key = function(task)
    return task.deadline_ms or NO_DEADLINE
  end,
}
