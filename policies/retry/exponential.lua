-- exponential.lua - exponential backoff with full jitter and a cap.
--
-- After the n-th failed attempt the delay is drawn uniformly from
-- [0, min(CAP_MS, BASE_MS * FACTOR^(n-1))] ms ("full jitter"): retries of
-- tasks that failed together spread out instead of hitting a struggling
-- service at the same instant.
--
-- How many attempts: at most MAX_ATTEMPTS in all (the first one included);
-- when the task sets `retries` (> 0), also at most retries + 1.
--
-- Parameters:
local BASE_MS = 500        -- ceiling of the first delay
local FACTOR = 2           -- the ceiling grows by this factor per attempt
local CAP_MS = 30000       -- the ceiling never exceeds this
local MAX_ATTEMPTS = 5     -- attempts in all, the first one included

local function attempts_left(task, attempt)
  if attempt >= MAX_ATTEMPTS then return false end
  if task.retries > 0 and attempt > task.retries then return false end
  return true
end

return {
  decide = function(task, failure, attempt, stats)
    if not attempts_left(task, attempt) then return nil end
    local ceiling = math.min(CAP_MS, BASE_MS * FACTOR ^ (attempt - 1))
    return math.random(0, math.floor(ceiling))
  end,
}
