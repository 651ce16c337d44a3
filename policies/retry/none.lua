-- none.lua - never retry: the first failure of a task is final, whatever its
-- `retries` says.
--
-- Parameters: none.

return {
  decide = function(task, failure, attempt, stats)
    return nil
  end,
}
