#!/bin/sh
# run.sh - `make bench`: gearbox's performance claims, measured side by side.
#
# Every comparison runs its contenders in alternation (A B C A B C ...), REPEAT
# times (default 5), and reports medians and ratios from that one run: the
# machine is shared and noisy, so absolute times are not comparable across runs.
# Set BENCH=name to run one section (spawn, sim, startcost, policy, plugins, or
# NAME of a tests/bench/bench_NAME.sh: breaker, cache, peers, pool, sdk, telemetry,
# parallel, runout, ...).
set -u
cd "$(dirname "$0")/../.." || exit 2
root=$(pwd)
REPEAT=${REPEAT:-5}
GBX=$root/build/gearbox
W=$(mktemp -d "${TMPDIR:-/tmp}/gbx-bench.XXXXXX")
trap 'rm -rf "$W"' EXIT
# an interrupted bench (^C, or `make bench | head`) ends through the EXIT trap too
trap 'exit 130' INT TERM HUP
trap 'exit 141' PIPE
cc -O2 -o "$W/measure" tests/bench/measure.c || exit 2
M=$W/measure
only=${BENCH:-all}

# median of the numbers on stdin
median() { sort -g | awk '{a[NR] = $1} END {if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
# field N of a measure line file, median
med() { awk -v f="$2" '{print $f}' "$1" | median; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }

echo "gearbox bench: $(nproc) cores, $(uname -sr), REPEAT=$REPEAT, $(date -u +%Y-%m-%dT%H:%MZ)"

# 1. 10,000 x /bin/true at -j2: gearbox vs xargs -P2 -n1 vs GNU parallel -j2
if [ "$only" = all ] || [ "$only" = spawn ]; then
	seq 1 10000 >"$W/args"
	: >"$W/g" ; : >"$W/x" ; : >"$W/p"
	have_parallel=0
	command -v parallel >/dev/null && have_parallel=1
	for i in $(seq 1 "$REPEAT"); do
		"$M" "$GBX" run -j2 -q --no-progress -a "$W/args" -- /bin/true >>"$W/g"
		"$M" xargs -P2 -n1 -a "$W/args" /bin/true >>"$W/x"
		[ $have_parallel = 1 ] && "$M" parallel -j2 /bin/true ::: $(cat "$W/args") >>"$W/p"
	done
	g=$(med "$W/g" 1); x=$(med "$W/x" 1)
	echo
	echo "## 10,000 tasks of /bin/true at -j2 (wall seconds, median of $REPEAT)"
	echo "gearbox run -j2 -a args -- /bin/true   $g"
	echo "xargs -P2 -n1 /bin/true                $x   gearbox/xargs = $(ratio "$g" "$x") (goal <= 1.30)"
	if [ $have_parallel = 1 ]; then
		p=$(med "$W/p" 1)
		echo "parallel -j2 /bin/true ::: ...         $p   parallel/gearbox = $(ratio "$p" "$g") (goal >= 5)"
	else
		echo "parallel: not installed (tools/deps.sh bench installs it)"
	fi
fi

# 2. 1,000,000 no-op sim tasks from one matrix entry at -j2
if [ "$only" = all ] || [ "$only" = sim ]; then
	cat >"$W/sim.json" <<'EOF'
{ "name": "sim-noop",
  "matrix": [ { "id": "t{a}-{b}", "kind": "sim",
      "vars": { "a": [0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,48,49,50,51,52,53,54,55,56,57,58,59,60,61,62,63,64,65,66,67,68,69,70,71,72,73,74,75,76,77,78,79,80,81,82,83,84,85,86,87,88,89,90,91,92,93,94,95,96,97,98,99],
                "b": [BVALS] } } ] }
EOF
	bvals=$(seq -s, 0 9999)
	sed -i "s/BVALS/$bvals/" "$W/sim.json"
	: >"$W/s"
	for i in $(seq 1 "$REPEAT"); do
		"$M" "$GBX" run "$W/sim.json" -j2 -q --no-progress >>"$W/s"
	done
	s=$(med "$W/s" 1); rss=$(med "$W/s" 4)
	echo
	echo "## 1,000,000 no-op sim tasks (one matrix entry) at -j2, end to end (median of $REPEAT)"
	echo "wall $s s, $(awk -v s="$s" 'BEGIN {printf "%.0f", 1000000 / s}') tasks/s (goal >= 500000), peak RSS $(awk -v k="$rss" 'BEGIN {printf "%.0f", k / 1024}') MB (goal <= 400)"
fi

# 3. task start cost with 1,000 vs 1,000,000 tasks loaded
if [ "$only" = all ] || [ "$only" = startcost ]; then
	small="$W/small.json"
	big="$W/big.json"
	awk 'BEGIN { printf "{ \"matrix\": [ { \"id\": \"x{i}\", \"argv\": [\"/bin/true\"], \"priority\": 1, \"vars\": { \"i\": ["; for (i = 0; i < 1000; i++) printf "%s%d", (i ? "," : ""), i; printf "] } } ] }\n" }' >"$small"
	bvals=$(seq -s, 0 9989)
	cat >"$big" <<EOF
{ "matrix": [ { "id": "x{i}", "argv": ["/bin/true"], "priority": 1, "vars": { "i": [$(seq -s, 0 999)] } },
              { "id": "s{a}-{b}", "kind": "sim", "vars": { "a": [$(seq -s, 0 99)], "b": [$bvals] } } ] }
EOF
	: >"$W/cs"; : >"$W/cb"
	for i in $(seq 1 "$REPEAT"); do
		"$GBX" run "$small" -j2 --no-progress 2>&1 >/dev/null | sed -n 's/.*spawn time median \([0-9.]*\) us, mean \([0-9.]*\) us.*/\1 \2/p' >>"$W/cs"
		"$GBX" run "$big" -j2 --no-progress 2>&1 >/dev/null | sed -n 's/.*spawn time median \([0-9.]*\) us, mean \([0-9.]*\) us.*/\1 \2/p' >>"$W/cb"
	done
	cs=$(med "$W/cs" 1); cb=$(med "$W/cb" 1)
	ms=$(med "$W/cs" 2); mb=$(med "$W/cb" 2)
	echo
	echo "## task start cost: posix_spawn time per subprocess over 1,000 subprocesses (median of $REPEAT runs)"
	echo "1,000 tasks loaded:      median $cs us, mean $ms us"
	echo "1,000,000 tasks loaded:  median $cb us, mean $mb us   ratio of medians $(ratio "$cb" "$cs") (goal <= 1.20), of means $(ratio "$mb" "$ms")"
fi

# the 1,000,000-task no-op sim workload used below
sim1m() {
	[ -f "$W/sim1m.json" ] && return
	echo "{ \"name\": \"sim-noop\", \"matrix\": [ { \"id\": \"t{a}-{b}\", \"kind\": \"sim\", $1 \"vars\": { \"a\": [$(seq -s, 0 99)], \"b\": [$(seq -s, 0 9999)] } } ] }" >"$W/sim1m.json"
}
# pairwise_n ROUNDS CMD...: runs each command line in alternation ROUNDS
# times; leaves wall times in $W/pw.N (one file per command, line i from
# round i) and user+sys CPU times in $W/pw.N.cpu. pairwise CMD...: REPEAT
# rounds.
pairwise_n() {
	_rounds=$1
	shift
	n=0
	for cmd in "$@"; do n=$((n + 1)); : >"$W/pw.$n"; : >"$W/pw.$n.cpu"; done
	for i in $(seq 1 "$_rounds"); do
		n=0
		for cmd in "$@"; do
			n=$((n + 1))
			eval "\"\$M\" $cmd" | awk -v cpu="$W/pw.$n.cpu" '{print $1; print $2 + $3 >>cpu}' >>"$W/pw.$n"
		done
	done
}
pairwise() { pairwise_n "$REPEAT" "$@"; }
# pratio B A: the median of the per-round ratios B/A of two pairwise files
# (line i of each is round i). This VM runs in slow and fast phases that last
# tens of seconds; both runs of a round see the same phase, so the paired
# ratio is steady where the ratio of the two medians jumps when a phase
# change falls near the middle of the rounds.
pratio() { paste "$1" "$2" | awk '$2 > 0 {print $1 / $2}' | median | awk '{printf "%.3f", $1}'; }
# pdiff A B N: the median of the per-round differences B - A, in ns per task
# for N tasks (paired like pratio)
pdiff() { paste "$1" "$2" | awk -v n="$3" '{print ($2 - $1) * 1e9 / n}' | median | awk '{printf "%+.0f", $1}'; }
# ns per task of file $2 over file $1 (medians), for $3 tasks
per_task() { awk -v a="$(median <"$1")" -v b="$(median <"$2")" -v n="$3" 'BEGIN {printf "%.0f", (b - a) * 1e9 / n}'; }

# 4. Lua policies: added cost per task against the built-in decisions
if [ "$only" = all ] || [ "$only" = policy ]; then
	sim1m ""
	echo '{ "matrix": [ { "id": "t{a}-{b}", "kind": "sim", "fail_after": 1, "retries": 1, "vars": { "a": ['"$(seq -s, 0 99)"'], "b": ['"$(seq -s, 0 9999)"'] } } ] }' >"$W/fail1m.json"
	echo '{ "retry": { "base_ms": 0 } }' >"$W/nodelay.json"
	echo 'return { decide = function(task, failure, attempt, stats) return 0 end }' >"$W/retry0.lua"
	echo 'return { interval_ms = 10, decide = function(m) return m.jobs end }' >"$W/scale10.lua"
	pairwise "\"\$GBX\" run \"\$W/sim1m.json\" -j2 -q --no-progress" \
		"\"\$GBX\" run \"\$W/sim1m.json\" -j2 -q --no-progress --policy scheduling=fifo" \
		"\"\$GBX\" run \"\$W/sim1m.json\" -j2 -q --no-progress --policy scheduling=edf" \
		"\"\$GBX\" run \"\$W/sim1m.json\" -j2 -q --no-progress --policy scheduling=weighted" \
		"\"\$GBX\" run \"\$W/fail1m.json\" -j2 -q --no-progress --config \"\$W/nodelay.json\"" \
		"\"\$GBX\" run \"\$W/fail1m.json\" -j2 -q --no-progress --config \"\$W/nodelay.json\" --policy retry=\"\$W/retry0.lua\"" \
		"\"\$GBX\" run \"\$W/sim1m.json\" -j2 -q --no-progress --policy scaling=\"\$W/scale10.lua\""
	echo
	echo "## Lua policies on 1,000,000 no-op sim tasks at -j2 (median wall of $REPEAT, alternated)"
	echo "built-in order:              $(median <"$W/pw.1") s"
	echo "scheduling=fifo.lua:         $(median <"$W/pw.2") s   +$(per_task "$W/pw.1" "$W/pw.2" 1000000) ns/task (goal <= 250)"
	echo "scheduling=edf.lua:          $(median <"$W/pw.3") s   +$(per_task "$W/pw.1" "$W/pw.3" 1000000) ns/task"
	echo "scheduling=weighted.lua:     $(median <"$W/pw.4") s   +$(per_task "$W/pw.1" "$W/pw.4" 1000000) ns/task"
	echo "every task fails once, built-in retry:  $(median <"$W/pw.5") s"
	echo "same, retry decided by Lua:             $(median <"$W/pw.6") s   +$(per_task "$W/pw.5" "$W/pw.6" 1000000) ns/retry decision"
	echo "scaling policy every 10 ms:  $(median <"$W/pw.7") s   +$(per_task "$W/pw.1" "$W/pw.7" 1000000) ns/task"
fi

# 5. plugins: absent vs present-but-disabled, and the cost of an empty hook
if [ "$only" = all ] || [ "$only" = plugins ]; then
	sim1m ""
	mkdir -p "$W/plugdir"
	for p in pool cache breaker telemetry; do cp build/tests/plugins/empty_hooks.so "$W/plugdir/$p.so"; done
	cp build/tests/plugins/empty_hooks.so "$W/plugdir/"
	echo '{ "plugin_path": ["'"$W"'/plugdir"], "plugins": { "pool": { "enabled": false }, "cache": { "enabled": false }, "breaker": { "enabled": false }, "telemetry": { "enabled": false } } }' >"$W/off.json"
	echo '{ "plugin_path": ["'"$W"'/plugdir"], "plugins": { "empty_hooks": { "enabled": true } } }' >"$W/on.json"
	# goals of a few ns on a ~0.15 s run: 3 x REPEAT rounds, paired ratios
	# (pratio), and an A/A copy of the baseline for the spread
	rounds=$((REPEAT * 3))
	pairwise_n "$rounds" "\"\$GBX\" run \"\$W/sim1m.json\" -j2 -q --no-progress" \
		"\"\$GBX\" run \"\$W/sim1m.json\" -j2 -q --no-progress --config \"\$W/off.json\"" \
		"\"\$GBX\" run \"\$W/sim1m.json\" -j2 -q --no-progress --config \"\$W/on.json\"" \
		"\"\$GBX\" run \"\$W/sim1m.json\" -j2 -q --no-progress"
	echo
	echo "## plugins on 1,000,000 no-op sim tasks at -j2 ($rounds rounds, alternated; ratio: median of the rounds' ratios)"
	echo "no plugins:                                  $(median <"$W/pw.1") s"
	echo "no plugins again (A/A):                      $(median <"$W/pw.4") s   ratio $(pratio "$W/pw.4" "$W/pw.1"), $(pdiff "$W/pw.1" "$W/pw.4" 1000000) ns/task"
	echo "4 plugins on disk, disabled in the config:   $(median <"$W/pw.2") s   ratio $(pratio "$W/pw.2" "$W/pw.1") (goal within 2%)"
	echo "1 plugin with empty before/after hooks:      $(median <"$W/pw.3") s   $(pdiff "$W/pw.1" "$W/pw.3" 1000000) ns/task (goal <= 20)"
fi

# 6. sections of their own: tests/bench/bench_NAME.sh (plugins add theirs),
# each sourced with M, GBX, W, REPEAT, median, med, ratio, pratio, pdiff,
# pairwise, pairwise_n, per_task
# and sim1m available; BENCH=NAME runs just one.
for f in tests/bench/bench_*.sh; do
	[ -f "$f" ] || continue
	name=$(basename "$f" .sh)
	name=${name#bench_}
	if [ "$only" = all ] || [ "$only" = "$name" ]; then
		. "$f"
	fi
done
