-- critical_path.lua - longest chain first.
--
-- task.chain counts the tasks on the longest path from this task to the end
-- of the DAG, itself included. Starting the tasks that head the longest
-- chains first shortens the run when the DAG, not the worker count, is what
-- limits it. Ties keep submission order.
--
-- Parameters: none.

return {
  key = function(task)
    return -task.chain
  end,
}
