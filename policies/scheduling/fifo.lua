-- fifo.lua - first in, first out.
--
-- Every task gets the same key, and the engine breaks ties by submission
-- order, so tasks run in the order they became ready. This is the order you
-- get with no scheduling policy and no priorities.
--
-- Parameters: none.

return {
  key = function(task)
    return 0
  end,
}
