-- adaptive.lua - grow while CPU and memory are idle, shrink under pressure.
--
--   shrink  by STEP_DOWN when cpu > CPU_BUSY or mem > MEM_BUSY
--   grow    by up to STEP_UP when cpu < CPU_IDLE and mem < MEM_IDLE, but
--           never past the tasks there are to run (queued + running), past
--           CORES_FACTOR * cores, nor past what memory allows: each running
--           task is assumed to use mem / running of the machine, and only
--           as many more as fit under MEM_IDLE are added (a conservative
--           guess: mem counts the whole machine, not only gearbox's tasks);
--           when the history knows the tasks' peak memory
--           (m.mem_per_task_mb > 0), that guess gives way to
--           running + MEM_IDLE * available memory / memory per task
--   hold    otherwise
--
-- cpu and mem are machine utilization in [0, 1]. The engine clamps the
-- result to [min_jobs, max_jobs].
--
-- Parameters:
local INTERVAL_MS = 500
local CPU_IDLE = 0.6
local MEM_IDLE = 0.8
local CPU_BUSY = 0.9
local MEM_BUSY = 0.9
local STEP_UP = 2
local STEP_DOWN = 1
local CORES_FACTOR = 2

return {
  interval_ms = INTERVAL_MS,
  decide = function(m)
    if m.cpu > CPU_BUSY or m.mem > MEM_BUSY then
      return math.max(m.jobs - STEP_DOWN, 1)
    end
    if m.cpu < CPU_IDLE and m.mem < MEM_IDLE then
      local want = math.min(m.jobs + STEP_UP, m.queued + m.running, CORES_FACTOR * m.cores)
      if (m.mem_per_task_mb or 0) > 0 and (m.mem_avail_mb or 0) > 0 then
        want = math.min(want, m.running + math.floor(MEM_IDLE * m.mem_avail_mb / m.mem_per_task_mb))
      elseif m.running > 0 and m.mem > 0 then
        local per_task = m.mem / m.running
        want = math.min(want, m.running + math.floor((MEM_IDLE - m.mem) / per_task))
      end
      return math.max(want, m.jobs)
    end
    return m.jobs
  end,
}
