# bench_breaker.sh - the breaker plugin's claims (a section of tests/bench/run.sh,
# sourced with M, GBX, W, REPEAT, median, ratio, pairwise and per_task):
#  1. a dead target: 400 tasks that time out after 500 ms at -j4; with the
#     breaker (on_open reject) the run should take at most a fifth of the
#     time. Without it this takes ~50 s a run, so it repeats BREAKER_REPEAT
#     times (default 3), not REPEAT.
#  2. a healthy target: what the breaker costs when it never trips, on
#     /bin/true tasks (goal: within 2%) and, to show the per-task price
#     bare, on no-op in-process tasks (ns per task, no goal: such tasks do
#     nothing a breaker could protect).
BREAKER_REPEAT=${BREAKER_REPEAT:-3}

awk 'BEGIN { printf "{ \"defaults\": { \"retries\": 0 }, \"matrix\": [ { \"id\": \"dead{i}\", \"argv\": [\"sleep\", \"10\"], \"timeout_ms\": 500, \"target\": \"dead\", \"vars\": { \"i\": ["; for (i = 0; i < 400; i++) printf "%s%d", (i ? "," : ""), i; printf "] } } ] }\n" }' >"$W/bk_dead.json"
echo '{ "kill_grace_ms": 100 }' >"$W/bk_off.json"
cat >"$W/bk_on.json" <<'EOF'
{ "kill_grace_ms": 100,
  "plugins": { "breaker": { "enabled": true, "on_open": "reject", "minimum_calls": 10,
                            "sliding_window_size": 10, "wait_open_ms": 60000 } } }
EOF
bk_repeat=$REPEAT
REPEAT=$BREAKER_REPEAT
pairwise "\"\$GBX\" run \"\$W/bk_dead.json\" -j4 -q --no-progress --config \"\$W/bk_off.json\"" \
	"\"\$GBX\" run \"\$W/bk_dead.json\" -j4 -q --no-progress --config \"\$W/bk_on.json\""
REPEAT=$bk_repeat
bk_off=$(median <"$W/pw.1")
bk_on=$(median <"$W/pw.2")
echo
echo "## breaker: 400 tasks against a target that times out after 500 ms, -j4 (median wall of $BREAKER_REPEAT, alternated)"
echo "without the breaker:             $bk_off s"
echo "with it (on_open reject):        $bk_on s   without/with = $(ratio "$bk_off" "$bk_on") (goal >= 5)"

# 2. healthy: every task has a target, none fails
awk 'BEGIN { printf "{ \"matrix\": [ { \"id\": \"ok{i}\", \"argv\": [\"/bin/true\"], \"target\": \"api\", \"vars\": { \"i\": ["; for (i = 0; i < 10000; i++) printf "%s%d", (i ? "," : ""), i; printf "] } } ] }\n" }' >"$W/bk_true.json"
echo "{ \"matrix\": [ { \"id\": \"t{a}-{b}\", \"kind\": \"sim\", \"target\": \"api\", \"vars\": { \"a\": [$(seq -s, 0 99)], \"b\": [$(seq -s, 0 9999)] } } ] }" >"$W/bk_sim.json"
echo '{ "plugins": { "breaker": { "enabled": true } } }' >"$W/bk_healthy.json"
pairwise "\"\$GBX\" run \"\$W/bk_true.json\" -j2 -q --no-progress" \
	"\"\$GBX\" run \"\$W/bk_true.json\" -j2 -q --no-progress --config \"\$W/bk_healthy.json\"" \
	"\"\$GBX\" run \"\$W/bk_sim.json\" -j2 -q --no-progress" \
	"\"\$GBX\" run \"\$W/bk_sim.json\" -j2 -q --no-progress --config \"\$W/bk_healthy.json\""
echo
echo "## breaker on a healthy target (median wall of $REPEAT, alternated)"
echo "10,000 x /bin/true at -j2, without:         $(median <"$W/pw.1") s"
echo "  with the breaker:                         $(median <"$W/pw.2") s   ratio $(ratio "$(median <"$W/pw.2")" "$(median <"$W/pw.1")") (goal <= 1.02)"
echo "1,000,000 no-op sim tasks at -j2, without:  $(median <"$W/pw.3") s"
echo "  with the breaker:                         $(median <"$W/pw.4") s   +$(per_task "$W/pw.3" "$W/pw.4" 1000000) ns/task (its bare per-task cost)"
