# bench_nodes.sh - the claims of --nodes (a section of tests/bench/run.sh,
# sourced with M, GBX, W, REPEAT, median, ratio, pratio, pdiff, pairwise,
# pairwise_n, per_task and sim1m):
#  1. a run without --nodes pays nothing for them: 1,000,000 no-op sim tasks
#     at -j2 against the same tree built with -DGBX_BENCH_NO_NODES (which
#     compiles out the two hooks on the attempt path); goal within 2%.
#  2. 100,000 no-op sim tasks through 2 local agents against the same run
#     without agents: overhead per task, goal <= 50 us.
#  3. 3,000 /bin/true through 2 local agents (2 slots each) against a local
#     run at -j4 (the same slots): goal within 1.3x.
#  4. 2,000 `true` inside a Slurm allocation (tools/slurm.sh, 2 nodes): through
#     agents (--nodes slurm) against one srun per task at the same
#     concurrency; goal >= 30x. srun costs ~0.1 s a step, so this repeats
#     NODES_SLURM_REPEAT times (default 1), and is skipped without Slurm.
NODES_SLURM_REPEAT=${NODES_SLURM_REPEAT:-1}

# 1. the cost when off
sim1m ""
make -s -j2 BUILD="$W/nonodes" OPT="-O2 -g -DGBX_BENCH_NO_NODES" "$W/nonodes/gearbox" >/dev/null 2>&1 ||
	echo "bench_nodes: the -DGBX_BENCH_NO_NODES build failed"
rounds=$((REPEAT * 3))
pairwise_n "$rounds" "\"\$W/nonodes/gearbox\" run \"\$W/sim1m.json\" -j2 -q --no-progress" \
	"\"\$GBX\" run \"\$W/sim1m.json\" -j2 -q --no-progress" \
	"\"\$W/nonodes/gearbox\" run \"\$W/sim1m.json\" -j2 -q --no-progress"
echo
echo "## nodes: what a run without --nodes pays, 1,000,000 no-op sim tasks at -j2 ($rounds rounds, alternated; ratio: median of the rounds' ratios)"
echo "built without the nodes hooks:        $(median <"$W/pw.1") s"
echo "again (A/A):                          $(median <"$W/pw.3") s   ratio $(pratio "$W/pw.3" "$W/pw.1"), $(pdiff "$W/pw.1" "$W/pw.3" 1000000) ns/task"
echo "with them (this build, no --nodes):   $(median <"$W/pw.2") s   ratio $(pratio "$W/pw.2" "$W/pw.1") (goal within 2%), $(pdiff "$W/pw.1" "$W/pw.2" 1000000) ns/task"

# 2. 100,000 no-op sim tasks through 2 local agents
echo "{ \"matrix\": [ { \"id\": \"t{a}-{b}\", \"kind\": \"sim\", \"vars\": { \"a\": [$(seq -s, 0 9)], \"b\": [$(seq -s, 0 9999)] } } ] }" >"$W/sim100k.json"
pairwise "\"\$GBX\" run \"\$W/sim100k.json\" -j2 -q --no-progress" \
	"\"\$GBX\" run \"\$W/sim100k.json\" --nodes local:2 -q --no-progress"
echo
echo "## nodes: 100,000 no-op sim tasks, -j2 here against 2 local agents (2 slots each) (median wall of $REPEAT, alternated)"
echo "no agents (-j2):        $(median <"$W/pw.1") s"
echo "--nodes local:2:        $(median <"$W/pw.2") s   overhead $(per_task "$W/pw.1" "$W/pw.2" 100000 | awk '{printf "%.1f", $1 / 1000}') us/task (goal <= 50)"

# 3. 3,000 /bin/true through 2 local agents
seq 1 3000 >"$W/args3k"
pairwise "\"\$GBX\" run -j4 -q --no-progress -a \"\$W/args3k\" -- /bin/true" \
	"\"\$GBX\" run --nodes local:2 -j2 -q --no-progress -a \"\$W/args3k\" -- /bin/true" \
	"\"\$GBX\" run -j2 -q --no-progress -a \"\$W/args3k\" -- /bin/true"
echo
echo "## nodes: 3,000 x /bin/true, local against 2 local agents of 2 slots (median wall of $REPEAT, alternated)"
echo "local -j4:                      $(median <"$W/pw.1") s"
echo "--nodes local:2 -j2 (4 slots):  $(median <"$W/pw.2") s   ratio $(pratio "$W/pw.2" "$W/pw.1") (goal <= 1.30)"
echo "local -j2 (for reference):      $(median <"$W/pw.3") s"

# 4. Slurm: agents against one srun per task
if command -v slurmctld >/dev/null 2>&1 || [ -x /usr/sbin/slurmctld ]; then
	if line=$(sh tools/slurm.sh start "$W/slurm"); then
		export SLURM_CONF="$W/slurm/slurm.conf"
		nn=${line##*NODES=}
		seq 1 2000 >"$W/args2k"
		: >"$W/sl.agents"; : >"$W/sl.srun"
		for i in $(seq 1 "$NODES_SLURM_REPEAT"); do
			salloc -Q -N "$nn" -c 2 "$M" "$GBX" run --nodes slurm -q --no-progress -a "$W/args2k" -- true </dev/null >>"$W/sl.agents" 2>/dev/null
			salloc -Q -N "$nn" -c 2 "$M" "$GBX" run -j $((nn * 2)) -q --no-progress -a "$W/args2k" -- srun --overlap -N1 -n1 -Q true </dev/null >>"$W/sl.srun" 2>/dev/null
		done
		sh tools/slurm.sh stop "$W/slurm"
		unset SLURM_CONF
		a=$(med "$W/sl.agents" 1); s=$(med "$W/sl.srun" 1)
		echo
		echo "## nodes: 2,000 x true in a Slurm allocation of $nn nodes x 2 CPUs (median wall of $NODES_SLURM_REPEAT)"
		echo "one srun per task (-j $((nn * 2))):    $s s"
		echo "--nodes slurm (agents):        $a s   srun/agents = $(ratio "$s" "$a") (goal >= 30)"
	else
		echo
		echo "## nodes: Slurm: tools/slurm.sh could not start a cluster; skipped"
	fi
else
	echo
	echo "## nodes: Slurm not installed (tools/deps.sh); skipped"
fi
