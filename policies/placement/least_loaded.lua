-- least_loaded.lua - the node with the lowest share of busy slots; among
-- equals, the lowest CPU load per core. This is also what gearbox does with
-- no placement policy (in C, without a Lua call per task), so this file is a
-- starting point to copy rather than something to load.
--
-- `nodes` holds only the nodes that may take the task (its `node` labels)
-- and have a free slot; return a node's name (or position), or nil for the
-- built-in choice.

return {
  place = function(task, nodes)
    local best, bkey, bload
    for _, n in ipairs(nodes) do
      local key = n.running / n.slots
      if not best or key < bkey or (key == bkey and n.load < bload) then
        best, bkey, bload = n.name, key, n.load
      end
    end
    return best
  end,
}
