# bench_pool.sh - the pool plugin (sourced by tests/bench/run.sh; BENCH=pool).
#
# 1. 2,000 tasks of python3 -c '<a short computation>' at -j2, each with its
#    index as an argument: a new interpreter per task (pool disabled) vs the
#    same argv sent to a warm pool of 2 examples/workers/worker.py (min 2,
#    max 2, matched by argv[0]). Goal: >= 5x the throughput. Repeated
#    BENCH_POOL_REPEAT times (default 3): the cold side takes ~10-30 s a run.
# 2. The pool enabled, with a pool configured, but no task using it:
#    1,000,000 no-op sim tasks, pool off vs on. Goal: within 2%.
# 3. Heap allocations per task in the gearbox process (tests/bench/
#    malloc_count.c, an LD_PRELOAD counter): 1,000 and 3,000 tasks of
#    examples/workers/worker.c --echo at -j2, the difference over 2,000, for
#    loading alone (gearbox check), no pool (a process per task), a
#    singleplex pool and a multiplex pool; and the calls made from pool.so's
#    own code. Counts, not times: one run each.
# 3 first: it takes seconds
cc -O2 -shared -fPIC -o "$W/malloc_count.so" tests/bench/malloc_count.c -ldl || exit 2
cc -O2 -o "$W/cworker" examples/workers/worker.c || exit 2
for n in 1000 3000; do
	echo "{ \"matrix\": [ { \"id\": \"t{i}\", \"argv\": [\"$W/cworker\", \"--echo\", \"x\", \"{i}\"], \"vars\": { \"i\": [$(seq -s, 1 $n)] } } ] }" >"$W/alloc-$n.json"
done
echo "{ \"plugins\": { \"pool\": { \"pools\": { \"c\": { \"command\": [\"$W/cworker\", \"--persistent_worker\"], \"match\": \"$W/cworker\", \"min\": 2, \"max\": 2 } } } } }" >"$W/alloc-single.json"
echo "{ \"plugins\": { \"pool\": { \"pools\": { \"c\": { \"command\": [\"$W/cworker\", \"--persistent_worker\"], \"match\": \"$W/cworker\", \"multiplex\": true, \"min\": 1, \"max\": 1, \"max_inflight\": 2 } } } } }" >"$W/alloc-mux.json"
# al_count N CMD ARGS...: runs gearbox CMD on the N-task workload with the
# counter; prints "total from-pool.so"
al_count() {
	al_n=$1; shift
	al_cmd=$1; shift
	rm -f "$W/mc.out"
	LD_PRELOAD="$W/malloc_count.so" MALLOC_COUNT_OUT="$W/mc.out" MALLOC_COUNT_LIB=/pool.so \
		"$GBX" "$al_cmd" "$W/alloc-$al_n.json" "$@" >/dev/null 2>&1
	cat "$W/mc.out" 2>/dev/null || echo "0 0"
}
# al_per CMD ARGS...: allocations per task from 1,000 to 3,000 tasks:
# "total from-pool.so beyond-loading" (al_load must be set for the third)
al_per() {
	echo "$(al_count 1000 "$@") $(al_count 3000 "$@") ${al_load:-0}" |
		awk '{t = ($3 - $1) / 2000; printf "%.2f %.2f %.2f", t, ($4 - $2) / 2000, t - $5}'
}
al_load=$(al_per check | cut -d' ' -f1)
al_off=$(al_per run -j2 -q --no-progress)
al_one=$(al_per run -j2 -q --no-progress --config "$W/alloc-single.json" --enable pool)
al_mux=$(al_per run -j2 -q --no-progress --config "$W/alloc-mux.json" --enable pool)
echo
echo "## pool: heap allocations per task in the gearbox process (1,000 vs 3,000 tasks of worker.c --echo at -j2)"
echo "loading the workload (gearbox check):     $al_load"
echo "$al_off" | awk '{printf "run, no pool (a process per task):        %s   (%s beyond loading)\n", $1, $3}'
echo "$al_one" | awk '{printf "run, singleplex pool of 2 worker.c:       %s   (%s beyond loading; from pool.so'"'"'s own code: %s)\n", $1, $3, $2}'
echo "$al_mux" | awk '{printf "run, multiplex pool of 1, 2 in flight:    %s   (%s beyond loading; from pool.so'"'"'s own code: %s)\n", $1, $3, $2}'

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
# a 2% goal on a ~0.15 s run: 3 x REPEAT rounds, paired ratios (run.sh's
# pratio), an A/A copy of the baseline for the spread
pool_rounds=$((REPEAT * 3))
pairwise_n "$pool_rounds" "\"\$GBX\" run \"\$W/sim1m.json\" -j2 -q --no-progress --config \"\$W/pool-idle.json\"" \
	"\"\$GBX\" run \"\$W/sim1m.json\" -j2 -q --no-progress --config \"\$W/pool-idle.json\" --enable pool" \
	"\"\$GBX\" run \"\$W/sim1m.json\" -j2 -q --no-progress --config \"\$W/pool-idle.json\""
echo
echo "## pool enabled but unused: 1,000,000 no-op sim tasks at -j2 ($pool_rounds rounds, alternated; ratio: median of the rounds' ratios)"
echo "pool disabled:             $(median <"$W/pw.1") s"
echo "pool disabled again (A/A): $(median <"$W/pw.3") s   ratio $(pratio "$W/pw.3" "$W/pw.1")"
echo "pool enabled, not used:    $(median <"$W/pw.2") s   ratio $(pratio "$W/pw.2" "$W/pw.1") (goal <= 1.02), $(pdiff "$W/pw.1" "$W/pw.2" 1000000) ns/task"
