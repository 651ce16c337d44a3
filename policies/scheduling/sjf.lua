-- sjf.lua - shortest job first, by the task's `est_ms`.
--
-- Tasks without an estimate go after every estimated one (key math.huge, a
-- valid number: they keep submission order among themselves). Running short
-- tasks first lowers the mean time to completion; long ones can starve while
-- short ones keep arriving.
--
-- Parameters:
--   UNKNOWN_MS  the estimate assumed when a task has none (math.huge: last)

local UNKNOWN_MS = math.huge

return {
  key = function(task)
    return task.est_ms or UNKNOWN_MS
  end,
}
