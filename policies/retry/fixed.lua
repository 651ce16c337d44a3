-- fixed.lua - retry after a constant delay.
--
-- How many attempts: at most MAX_ATTEMPTS in all (the first one included);
-- when the task sets `retries` (> 0), also at most retries + 1. Every bundled
-- retry policy applies this same rule.
--
-- Parameters:
local DELAY_MS = 1000      -- wait between a failure and the next attempt
local MAX_ATTEMPTS = 3     -- attempts in all, the first one included

local function attempts_left(task, attempt)
  if attempt >= MAX_ATTEMPTS then return false end
  if task.retries > 0 and attempt > task.retries then return false end
  return true
end

return {
  decide = function(task, failure, attempt, stats)
    if not attempts_left(task, attempt) then return nil end
    return DELAY_MS
  end,
}
