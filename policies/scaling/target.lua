-- target.lua - the Kubernetes Horizontal Pod Autoscaler rule.
--
--   desired = ceil(jobs * metric / TARGET)
--
-- with metric = m[METRIC] (CPU utilization by default). No change while
-- |metric / TARGET - 1| <= TOLERANCE, so noise does not make it flap.
-- Scaling up happens at once; scaling down is stabilized: the policy remembers
-- its recommendations of the last STABILIZATION_MS and scales down only to the
-- highest of them, so one quiet interval does not drop workers that the next
-- busy one needs again.
--
-- Parameters:
local INTERVAL_MS = 1000
local METRIC = "cpu"             -- a field of the metrics table
local TARGET = 0.7               -- the metric value to hold
local TOLERANCE = 0.1
local STABILIZATION_MS = 30000   -- Kubernetes uses 5 minutes for long-lived pods

-- recommendations { t = elapsed_ms, n = jobs }, oldest first; this state
-- lives as long as the loaded file (a reload starts afresh)
local history = {}

return {
  interval_ms = INTERVAL_MS,
  decide = function(m)
    local current = m.jobs
    local ratio = m[METRIC] / TARGET
    local desired = current
    if math.abs(ratio - 1) > TOLERANCE then
      desired = math.max(math.ceil(current * ratio), 1)
    end
    local now = m.elapsed_ms
    history[#history + 1] = { t = now, n = desired }
    while history[1].t < now - STABILIZATION_MS do
      table.remove(history, 1)
    end
    if desired >= current then
      return desired
    end
    local highest = desired
    for _, h in ipairs(history) do
      if h.n > highest then highest = h.n end
    end
    return math.min(highest, current)
  end,
}
