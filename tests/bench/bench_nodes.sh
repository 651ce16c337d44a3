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
#  5. output through agents (protocol 3 sends it in pieces of 64 KiB): 3,000
#     tasks each printing a line through 2 local agents (each output rides in
#     its done), and 300 MB from one task through one agent (wall and peak
#     RSS of gearbox and its agents) against the same locally.
# With GBX_BASE=path (a gearbox built before a change), sections 2, 3 and 5
# also run that build, alternated with this one, for the ratio.
NODES_SLURM_REPEAT=${NODES_SLURM_REPEAT:-1}
base=${GBX_BASE:-}

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
set -- "\"\$GBX\" run \"\$W/sim100k.json\" -j2 -q --no-progress" \
	"\"\$GBX\" run \"\$W/sim100k.json\" --nodes local:2 -q --no-progress"
[ -n "$base" ] && set -- "$@" "\"\$base\" run \"\$W/sim100k.json\" --nodes local:2 -q --no-progress"
pairwise "$@"
echo
echo "## nodes: 100,000 no-op sim tasks, -j2 here against 2 local agents (2 slots each) (median wall of $REPEAT, alternated)"
echo "no agents (-j2):        $(median <"$W/pw.1") s"
echo "--nodes local:2:        $(median <"$W/pw.2") s   overhead $(per_task "$W/pw.1" "$W/pw.2" 100000 | awk '{printf "%.1f", $1 / 1000}') us/task (goal <= 50)"
[ -n "$base" ] && echo "GBX_BASE, --nodes local:2: $(median <"$W/pw.3") s   this build/base $(pratio "$W/pw.2" "$W/pw.3"), $(pdiff "$W/pw.3" "$W/pw.2" 100000) ns/task"

# 3. 3,000 /bin/true through 2 local agents
seq 1 3000 >"$W/args3k"
set -- "\"\$GBX\" run -j4 -q --no-progress -a \"\$W/args3k\" -- /bin/true" \
	"\"\$GBX\" run --nodes local:2 -j2 -q --no-progress -a \"\$W/args3k\" -- /bin/true" \
	"\"\$GBX\" run -j2 -q --no-progress -a \"\$W/args3k\" -- /bin/true"
[ -n "$base" ] && set -- "$@" "\"\$base\" run --nodes local:2 -j2 -q --no-progress -a \"\$W/args3k\" -- /bin/true"
pairwise "$@"
echo
echo "## nodes: 3,000 x /bin/true, local against 2 local agents of 2 slots (median wall of $REPEAT, alternated)"
echo "local -j4:                      $(median <"$W/pw.1") s"
echo "--nodes local:2 -j2 (4 slots):  $(median <"$W/pw.2") s   ratio $(pratio "$W/pw.2" "$W/pw.1") (goal <= 1.30)"
echo "local -j2 (for reference):      $(median <"$W/pw.3") s"
[ -n "$base" ] && echo "GBX_BASE, --nodes local:2 -j2:  $(median <"$W/pw.4") s   this build/base $(pratio "$W/pw.2" "$W/pw.4"), $(pdiff "$W/pw.4" "$W/pw.2" 3000) ns/task"

# 5. output through agents: small outputs, then 300 MB from one task
set -- "\"\$GBX\" run -j4 -q --no-progress -a \"\$W/args3k\" -- echo out-{}" \
	"\"\$GBX\" run --nodes local:2 -j2 -q --no-progress -a \"\$W/args3k\" -- echo out-{}"
[ -n "$base" ] && set -- "$@" "\"\$base\" run --nodes local:2 -j2 -q --no-progress -a \"\$W/args3k\" -- echo out-{}"
pairwise "$@"
echo
echo "## nodes: 3,000 x echo (a line of output each), local against 2 local agents of 2 slots (median wall of $REPEAT, alternated)"
echo "local -j4:                      $(median <"$W/pw.1") s"
echo "--nodes local:2 -j2 (4 slots):  $(median <"$W/pw.2") s   ratio $(pratio "$W/pw.2" "$W/pw.1")"
[ -n "$base" ] && echo "GBX_BASE, --nodes local:2 -j2:  $(median <"$W/pw.3") s   this build/base $(pratio "$W/pw.2" "$W/pw.3"), $(pdiff "$W/pw.3" "$W/pw.2" 3000) ns/task"
big='yes 0123456789abcdefghijklmnopqrstuvwxyz | head -c 300000000'
: >"$W/big.local"; : >"$W/big.nodes"; : >"$W/big.base"
for i in $(seq 1 "$REPEAT"); do
	"$M" "$GBX" run -q --no-progress -- sh -c "$big" ::: 1 >>"$W/big.local"
	"$M" "$GBX" run -q --no-progress --nodes local:1 -- sh -c "$big" ::: 1 >>"$W/big.nodes"
	[ -n "$base" ] && "$M" "$base" run -q --no-progress --nodes local:1 -- sh -c "$big" ::: 1 >>"$W/big.base"
done
echo
echo "## nodes: 300 MB of stdout from one task (median wall and peak RSS of gearbox and its agents, of $REPEAT, alternated)"
echo "local:                 $(med "$W/big.local" 1) s   $(med "$W/big.local" 4) kB"
echo "--nodes local:1:       $(med "$W/big.nodes" 1) s   $(med "$W/big.nodes" 4) kB"
[ -n "$base" ] && echo "GBX_BASE, local:1:     $(med "$W/big.base" 1) s   $(med "$W/big.base" 4) kB"

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
