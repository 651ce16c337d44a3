-- round_robin.lua - each task to the next node in turn, whatever their load.
--
-- The turn is kept across calls: the position after the last node chosen,
-- by name order, among the nodes offered (the eligible ones with a free slot).

local last = nil

return {
  place = function(task, nodes)
    local names = {}
    for _, n in ipairs(nodes) do names[#names + 1] = n.name end
    table.sort(names)
    for _, name in ipairs(names) do
      if last == nil or name > last then
        last = name
        return name
      end
    end
    last = names[1]
    return last
  end,
}
