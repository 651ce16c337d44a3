-- fixed.lua - keep the concurrency where it is (-j, the config, or -j FILE).
--
-- Parameters: none. interval_ms is long because there is nothing to decide.

return {
  interval_ms = 5000,
  decide = function(m)
    return m.jobs
  end,
}
