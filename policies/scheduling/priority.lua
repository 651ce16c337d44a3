-- priority.lua - highest `priority` first; ties keep submission order.
--
-- task.priority is the effective priority: the workload's value, or the one a
-- retry policy set for the next attempt. Same order as the built-in one.
--
-- Parameters: none.

return {
  key = function(task)
    return -task.priority
  end,
}
