-- grow_on_oom.lua - retry a task the OOM killer killed with more memory.
--
-- A task that ran out of its memory limit (failure kind "oom", under
-- `enforce`) is retried with its mem_mb need multiplied by GROWTH, so
-- admission counts the larger need and its cgroup gets the larger limit
-- (clamped to the capacity). Other failures are retried like fixed.lua.
--
-- How many attempts: at most MAX_ATTEMPTS in all (the first one included);
-- when the task sets `retries` (> 0), also at most retries + 1.
--
-- Parameters:
local GROWTH = 2           -- factor on mem_mb per OOM kill
local FIRST_MB = 256       -- mem_mb to start from when the task declared none
local DELAY_MS = 100       -- wait between a failure and the next attempt
local MAX_ATTEMPTS = 4     -- attempts in all, the first one included

local function attempts_left(task, attempt)
  if attempt >= MAX_ATTEMPTS then return false end
  if task.retries > 0 and attempt > task.retries then return false end
  return true
end

return {
  decide = function(task, failure, attempt, stats)
    if not attempts_left(task, attempt) then return nil end
    if failure.kind == "oom" then
      local mb = task.resources.mem_mb or FIRST_MB
      return DELAY_MS, { resources = { mem_mb = mb * GROWTH } }
    end
    return DELAY_MS
  end,
}
