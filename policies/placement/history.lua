-- history.lua - by load, fit and what this kind of task did on each node:
--
--   score = 0.4 x current load + 0.3 x capability mismatch
--         + 0.3 x (1 - historical performance of this kind on this node)
--
-- lowest wins. Every term is in [0, 1]:
--   current load      the share of busy slots, or the CPU load per core when
--                     that is higher (someone else may use the machine)
--   mismatch          for class "cpu" tasks 1 - cores / the most cores offered,
--                     for class "mem" 1 - memory / the most memory offered,
--                     else 0
--   performance       success rate x speed (the fastest node's mean time for
--                     this kind / this node's); NEUTRAL until MIN_RUNS runs
--
-- Parameters: the three weights, MIN_RUNS, NEUTRAL.

local W_LOAD, W_FIT, W_HIST = 0.4, 0.3, 0.3
local MIN_RUNS = 3
local NEUTRAL = 0.5

return {
  place = function(task, nodes)
    local maxcores, maxmem, fastest = 1, 1, math.huge
    for _, n in ipairs(nodes) do
      if n.cores > maxcores then maxcores = n.cores end
      if n.mem_mb > maxmem then maxmem = n.mem_mb end
      local h = n.history
      if h.runs >= MIN_RUNS and h.avg_ms > 0 and h.avg_ms < fastest then fastest = h.avg_ms end
    end
    local best, bscore
    for _, n in ipairs(nodes) do
      local load = n.running / n.slots
      if n.load > load then load = math.min(n.load, 1) end
      local fit = 0
      if task.class == "cpu" then
        fit = 1 - n.cores / maxcores
      elseif task.class == "mem" then
        fit = 1 - n.mem_mb / maxmem
      end
      local perf = NEUTRAL
      local h = n.history
      if h.runs >= MIN_RUNS then
        local speed = 1
        if h.avg_ms > 0 and fastest < math.huge then speed = fastest / h.avg_ms end
        perf = (h.ok / h.runs) * speed
      end
      local score = W_LOAD * load + W_FIT * fit + W_HIST * (1 - perf)
      if not best or score < bscore then best, bscore = n.name, score end
    end
    return best
  end,
}
