# bench_pool.sh - the pool plugin (sourced by tests/bench/run.sh; BENCH=pool).
#
# 1. 2,000 tasks of python3 -c '<a short computation>' at -j2, each with its
#    index as an argument: a new interpreter per task (pool disabled) vs the
#    same argv sent to a warm pool of 2 examples/workers/worker.py (min 2,
#    max 2, matched by argv[0]). Goal: >= 5x the throughput. Repeated
#    BENCH_POOL_REPEAT times (default 3): the cold side takes ~10-30 s a run.
# 2. The pool enabled, with a pool configured, but no task using it:
#    1,000,000 no-op sim tasks, pool off vs on. Goal: within 2%.
pool_rep=${BENCH_POOL_REPEAT:-3}
pool_w="$W/pool-2000.json"
echo "{ \"name\": \"pool-bench\", \"matrix\": [ { \"id\": \"t{i}\", \"argv\": [\"python3\", \"-c\", \"import sys; n = int(sys.argv[1]); print(n, sum(k * k for k in range(200 + n)))\", \"{i}\"], \"vars\": { \"i\": [$(seq -s, 0 1999)] } } ] }" >"$pool_w"
echo "{ \"plugins\": { \"pool\": { \"pools\": { \"py\": { \"command\": [\"python3\", \"$root/examples/workers/worker.py\"], \"match\": \"python3\", \"min\": 2, \"max\": 2 } } } } }" >"$W/pool-cfg.json"
: >"$W/pool-off"; : >"$W/pool-on"
for i in $(seq 1 "$pool_rep"); do
	"$M" "$GBX" run "$pool_w" -j2 -q --no-progress --config "$W/pool-cfg.json" >>"$W/pool-off" 2>/dev/null
	"$M" "$GBX" run "$pool_w" -j2 -q --no-progress --config "$W/pool-cfg.json" --enable pool >>"$W/pool-on" 2>/dev/null
done
# a check, not a measurement: the two give the same output, and every task went to the pool
"$GBX" run "$pool_w" -j2 -q --no-progress >"$W/pool-out-off" 2>/dev/null
"$GBX" run "$pool_w" -j2 -q --no-progress --config "$W/pool-cfg.json" --enable pool --events "$W/pool-ev.jsonl" >"$W/pool-out-on" 2>/dev/null
pool_same=different
[ "$(sort "$W/pool-out-off" | md5sum)" = "$(sort "$W/pool-out-on" | md5sum)" ] && pool_same=identical
pool_n=$(grep '"event":"finished"' "$W/pool-ev.jsonl" | grep -c '"label":"pool"')
pool_off=$(med "$W/pool-off" 1); pool_on=$(med "$W/pool-on" 1)
echo
echo "## pool: 2,000 tasks of python3 -c '...' at -j2 (median wall of $pool_rep, alternated)"
echo "pool disabled (an interpreter per task):   $pool_off s   $(awk -v s="$pool_off" 'BEGIN {printf "%.0f", 2000 / s}') tasks/s"
echo "warm pool of 2 worker.py:                  $pool_on s   $(awk -v s="$pool_on" 'BEGIN {printf "%.0f", 2000 / s}') tasks/s   throughput ratio $(ratio "$pool_off" "$pool_on") (goal >= 5; output $pool_same, $pool_n of 2000 via the pool)"

sim1m ""
echo "{ \"plugins\": { \"pool\": { \"pools\": { \"py\": { \"command\": [\"python3\", \"$root/examples/workers/worker.py\"], \"match\": \"python3\" } } } } }" >"$W/pool-idle.json"
pairwise "\"\$GBX\" run \"\$W/sim1m.json\" -j2 -q --no-progress --config \"\$W/pool-idle.json\"" \
	"\"\$GBX\" run \"\$W/sim1m.json\" -j2 -q --no-progress --config \"\$W/pool-idle.json\" --enable pool"
echo
echo "## pool enabled but unused: 1,000,000 no-op sim tasks at -j2 (median wall of $REPEAT, alternated)"
echo "pool disabled:             $(median <"$W/pw.1") s"
echo "pool enabled, not used:    $(median <"$W/pw.2") s   ratio $(ratio "$(median <"$W/pw.2")" "$(median <"$W/pw.1")") (goal <= 1.02), +$(per_task "$W/pw.1" "$W/pw.2" 1000000) ns/task"
