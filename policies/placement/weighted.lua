-- weighted.lua - weighted least-connections by capability: the node with
-- the fewest running tasks per unit of capability, where a node's capability
-- is its cores, scaled by memory for tasks of class "mem". A node with twice
-- the cores gets about twice the tasks.
--
-- Parameters:
--   MEM_WEIGHT  how much memory counts for class "mem" tasks (0 to 1)

local MEM_WEIGHT = 0.5

return {
  place = function(task, nodes)
    local maxmem = 1
    for _, n in ipairs(nodes) do
      if n.mem_mb > maxmem then maxmem = n.mem_mb end
    end
    local best, bkey
    for _, n in ipairs(nodes) do
      local cap = n.cores
      if task.class == "mem" then
        cap = cap * ((1 - MEM_WEIGHT) + MEM_WEIGHT * n.mem_mb / maxmem)
      end
      local key = (n.running + 1) / cap
      if not best or key < bkey then best, bkey = n.name, key end
    end
    return best
  end,
}
