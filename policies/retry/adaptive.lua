-- adaptive.lua - retry according to how the attempt failed, and stop
-- retrying a kind of failure whose retries rarely succeed.
--
--   timeout   retry with a longer timeout: the task's current timeout_ms (or
--             DEFAULT_TIMEOUT_MS) times TIMEOUT_GROWTH, at most MAX_TIMEOUT_MS
--   exit      codes in PERMANENT_EXIT (usage error, not executable, not
--             found) never succeed on a second try: give up; others back off
--   spawn     the program could not be started: give up
--   others    (signal, rejected, error) back off exponentially with full
--             jitter, as exponential.lua does
--
-- Whatever the kind: once MIN_RETRIES retries of that kind have been made in
-- this run and fewer than MIN_SUCCESS_RATE of them succeeded, failures of that
-- kind are no longer retried.
--
-- How many attempts: at most MAX_ATTEMPTS in all (the first one included);
-- when the task sets `retries` (> 0), also at most retries + 1.
--
-- Parameters:
local MAX_ATTEMPTS = 5
local BASE_MS = 500             -- backoff: ceiling of the first delay
local FACTOR = 2                -- backoff: growth of the ceiling per attempt
local CAP_MS = 30000            -- backoff: the ceiling never exceeds this
local TIMEOUT_GROWTH = 1.5      -- a timed-out task gets this much more time
local DEFAULT_TIMEOUT_MS = 60000 -- the base when the task has no timeout_ms
local MAX_TIMEOUT_MS = 3600000  -- never grow a timeout past this
local PERMANENT_EXIT = { 2, 126, 127 }
local NEVER = { spawn = true }  -- failure kinds never retried
local MIN_RETRIES = 5           -- retries of a kind seen before judging it
local MIN_SUCCESS_RATE = 0.3    -- below this, stop retrying that kind

local permanent = {}
for _, code in ipairs(PERMANENT_EXIT) do permanent[code] = true end

local function attempts_left(task, attempt)
  if attempt >= MAX_ATTEMPTS then return false end
  if task.retries > 0 and attempt > task.retries then return false end
  return true
end

local function backoff(attempt)
  local ceiling = math.min(CAP_MS, BASE_MS * FACTOR ^ (attempt - 1))
  return math.random(0, math.floor(ceiling))
end

return {
  decide = function(task, failure, attempt, stats)
    if not attempts_left(task, attempt) then return nil end
    local kind = failure.kind
    if NEVER[kind] then return nil end
    if kind == "exit" and permanent[failure.exit] then return nil end
    local s = stats[kind]
    if s and s.retries >= MIN_RETRIES and (s.success_rate or 0) < MIN_SUCCESS_RATE then
      return nil
    end
    if kind == "timeout" then
      local grown = (task.timeout_ms or DEFAULT_TIMEOUT_MS) * TIMEOUT_GROWTH
      return backoff(attempt), { timeout_ms = math.floor(math.min(grown, MAX_TIMEOUT_MS)) }
    end
    return backoff(attempt)
  end,
}
