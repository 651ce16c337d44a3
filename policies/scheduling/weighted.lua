-- weighted.lua - a weighted score of four signals; highest score first.
--
--   score = W_PRIO * priority      the task's effective priority
--         + W_SHORT * shortness    1 / (1 + est_ms / 1000): 1 for an instant
--                                  task, 0.5 at one second; UNKNOWN_SHORTNESS
--                                  when est_ms is not given
--         + W_ODDS * success_odds  1 / (1 + attempts): 1 for a fresh task,
--                                  0.5 after one failed attempt, ...
--         + W_CHAIN * chain        tasks on the longest path from here
--
-- key = -score, so the highest score runs first; ties keep submission order.
--
-- Parameters (the weights; set one to 0 to ignore that signal):
local W_PRIO = 1.0
local W_SHORT = 2.0
local W_ODDS = 1.0
local W_CHAIN = 0.5
local UNKNOWN_SHORTNESS = 0.5

return {
  key = function(task)
    local est = task.est_ms
    local shortness = est and 1 / (1 + est / 1000) or UNKNOWN_SHORTNESS
    local odds = 1 / (1 + task.attempts)
    return -(W_PRIO * task.priority + W_SHORT * shortness
             + W_ODDS * odds + W_CHAIN * task.chain)
  end,
}
