# bench_resources.sh - declared needs, admission and history (sourced by
# tests/bench/run.sh; BENCH=resources). docs/resources.md has the figures.
#
# 1. 1,000,000 no-op sim tasks at -j2: none declaring anything, against the
#    same tasks each declaring `resources` (goal <= +30 ns/task), against
#    gearbox built from the commit before resources.c existed (goal within
#    2%; GBX_BASE=path skips building it), against that build with
#    base_idtpl.patch applied (the matrix id expansion that came later:
#    without it the figure above mixes what resources and later features
#    cost with what the faster expansion saves; GBX_BASE2=path), and with
#    history off in the config (history is on by default: goal within 2%).
#    Paired differences over 5 x REPEAT rounds, wall and CPU time, with an
#    A/A copy.
# 2. 3,000 `true` at -j2: history on by default (beside the workload, in the
#    bench's temp dir, growing by 3,000 rows a round) against "history":
#    false, without and with a policy (which makes the run read estimates).
# 3. A mixed workload (cpu-bound, io-bound and memory-heavy sim tasks, and a
#    chain): makespan under admission against the lower bound
#    max(total cpu x time / cpus, total mem x time / memory, longest chain),
#    and against -j alone: -j2 (safe for memory) and -j8 (fast, but its
#    peak declared memory is over the budget). The bound assumes idle
#    cores; the cpu tasks alone at -j2 in the same rounds show what this
#    machine's cores give now (the load average is printed).
# 4. Per-task cgroup setup: 2,000 `true` at -j1 with enforce on against off,
#    in us per task (skipped where the machine gives no cgroup).
echo
echo "## resources"
# 1.
A=$(seq -s, 0 99); B=$(seq -s, 0 9999)
echo "{\"matrix\":[{\"id\":\"t{a}-{b}\",\"kind\":\"sim\",\"vars\":{\"a\":[$A],\"b\":[$B]}}]}" >"$W/r-none.json"
echo "{\"matrix\":[{\"id\":\"t{a}-{b}\",\"kind\":\"sim\",\"resources\":{\"cpu\":0.001,\"mem_mb\":1},\"vars\":{\"a\":[$A],\"b\":[$B]}}]}" >"$W/r-decl.json"
base=${GBX_BASE:-}
base2=${GBX_BASE2:-}
rev=$(git log --format=%H --diff-filter=A -- core/resources.c | tail -1)
if [ -z "$base" ] && [ -n "$rev" ]; then
	mkdir -p "$W/base"
	git archive "$rev^" | tar -x -C "$W/base" &&
		nice make -s -C "$W/base" -j2 build/gearbox >/dev/null 2>&1 &&
		base=$W/base/build/gearbox
fi
if [ -z "$base2" ] && [ -n "$rev" ]; then
	# from the tree built above when there is one: make then rebuilds
	# only the patched workload.c
	if [ -x "$W/base/build/gearbox" ]; then
		cp -a "$W/base" "$W/base2"
	else
		mkdir -p "$W/base2" && git archive "$rev^" | tar -x -C "$W/base2"
	fi &&
		(cd "$W/base2" && git apply "$root/tests/bench/base_idtpl.patch") &&
		nice make -s -C "$W/base2" -j2 build/gearbox >/dev/null 2>&1 &&
		base2=$W/base2/build/gearbox
fi
[ -x "${base:-/nonexistent}" ] || base=$GBX
[ -x "${base2:-/nonexistent}" ] || base2=$GBX
echo '{"history": false}' >"$W/r-hoff.json"
rounds=$((REPEAT * 5))
pairwise_n "$rounds" "\"\$GBX\" run \"\$W/r-none.json\" -j2 -q --no-progress" \
	"\"\$GBX\" run \"\$W/r-decl.json\" -j2 -q --no-progress" \
	"\"$base\" run \"\$W/r-none.json\" -j2 -q --no-progress" \
	"\"\$GBX\" run \"\$W/r-none.json\" -j2 -q --no-progress" \
	"\"\$GBX\" run \"\$W/r-none.json\" -j2 -q --no-progress --config \"\$W/r-hoff.json\"" \
	"\"$base2\" run \"\$W/r-none.json\" -j2 -q --no-progress"
echo "### 1,000,000 no-op sim tasks at -j2 (median of $rounds rounds, alternated; paired differences and ratios; load $(cut -d' ' -f1-3 /proc/loadavg))"
echo "none declaring:                         $(median <"$W/pw.1") s wall, $(median <"$W/pw.1.cpu") s CPU"
echo "none declaring again (A/A):             $(median <"$W/pw.4") s   ratio $(pratio "$W/pw.4" "$W/pw.1"), $(pdiff "$W/pw.1" "$W/pw.4" 1000000) ns/task wall, $(pdiff "$W/pw.1.cpu" "$W/pw.4.cpu" 1000000) ns/task CPU"
echo "each declaring cpu and mem_mb:          $(median <"$W/pw.2") s   $(pdiff "$W/pw.1" "$W/pw.2" 1000000) ns/task wall, $(pdiff "$W/pw.1.cpu" "$W/pw.2.cpu" 1000000) ns/task CPU (goal <= +30)"
echo "before resources (${base#$W/}):  $(median <"$W/pw.3") s   none declaring / before = $(pratio "$W/pw.1" "$W/pw.3") (goal within 2%)"
echo "before, with today's id expansion:     $(median <"$W/pw.6") s   none declaring / before = $(pratio "$W/pw.1" "$W/pw.6") wall, $(pratio "$W/pw.1.cpu" "$W/pw.6.cpu") CPU (what resources and the features after it cost, alike otherwise)"
echo "history off in the config:              $(median <"$W/pw.5") s   history on its default / off = $(pratio "$W/pw.1" "$W/pw.5") (goal within 2%; sim tasks are not recorded, so no store is opened)"

# 2. history on 3,000 true
mkdir -p "$W/hist"
echo "{\"matrix\":[{\"id\":\"t{i}\",\"argv\":[\"true\"],\"vars\":{\"i\":[$(seq -s, 1 3000)]}}]}" >"$W/hist/true3k.json"
pairwise "\"\$GBX\" run \"\$W/hist/true3k.json\" -j2 -q --no-progress --config \"\$W/r-hoff.json\"" \
	"\"\$GBX\" run \"\$W/hist/true3k.json\" -j2 -q --no-progress" \
	"\"\$GBX\" run \"\$W/hist/true3k.json\" -j2 -q --no-progress --config \"\$W/r-hoff.json\" --policy scheduling=sjf" \
	"\"\$GBX\" run \"\$W/hist/true3k.json\" -j2 -q --no-progress --policy scheduling=sjf"
echo "### 3,000 x true at -j2, history off against on by default (median of $REPEAT, alternated; $(sqlite3 "$W/hist/.gearbox-history.db" 'select count(*) from attempts' 2>/dev/null || echo '?') rows in the store at the end)"
echo "history off:                 $(median <"$W/pw.1") s"
echo "history on (default):        $(median <"$W/pw.2") s   ratio $(pratio "$W/pw.2" "$W/pw.1"), $(pdiff "$W/pw.1" "$W/pw.2" 3000 | awk '{printf "%+.1f", $1 / 1000}') us/task wall, $(pdiff "$W/pw.1.cpu" "$W/pw.2.cpu" 3000 | awk '{printf "%+.1f", $1 / 1000}') us/task CPU"
echo "sjf policy, history off:     $(median <"$W/pw.3") s"
echo "sjf policy, history on:      $(median <"$W/pw.4") s   ratio $(pratio "$W/pw.4" "$W/pw.3"), $(pdiff "$W/pw.3" "$W/pw.4" 3000 | awk '{printf "%+.1f", $1 / 1000}') us/task wall (estimates read: one lookup per task)"

# 3. the mixed workload: 12 cpu tasks (1 cpu, 150 ms of CPU), 24 io tasks
# (1 io, 100 ms waiting), 12 mem tasks (450 MB of a 1000 MB budget, 100 ms),
# and a chain of 4 x 60 ms
awk 'BEGIN {
	printf "{\"tasks\": [\n"
	for (i = 0; i < 12; i++) printf "{\"id\":\"cpu%d\",\"kind\":\"sim\",\"cpu_us\":150000,\"resources\":{\"cpu\":1}},\n", i
	for (i = 0; i < 24; i++) printf "{\"id\":\"io%d\",\"kind\":\"sim\",\"io_ms\":100,\"resources\":{\"io\":1}},\n", i
	for (i = 0; i < 12; i++) printf "{\"id\":\"mem%d\",\"kind\":\"sim\",\"io_ms\":100,\"resources\":{\"mem_mb\":450}},\n", i
	for (i = 0; i < 4; i++) printf "{\"id\":\"ch%d\",\"kind\":\"sim\",\"io_ms\":60%s}%s\n", i, i ? ",\"deps\":[\"ch" i - 1 "\"]" : "", i < 3 ? "," : ""
	printf "]}\n" }' >"$W/r-mixed.json"
echo '{"resources": {"cpu": 2, "mem_mb": 1000, "io": 6}}' >"$W/r-mixed-cfg.json"
jq 'del(.tasks[].resources)' "$W/r-mixed.json" >"$W/r-mixed-j.json"
# cpu: 12 x 0.15 s / 2 = 0.9 s; mem: 12 x 450 x 0.1 / 1000 = 0.54 s; io:
# 24 x 0.1 / 6 = 0.4 s; chain 0.24 s
bound=0.90
# the cpu tasks alone at their capacity: what this machine's two cores give
# them now (the bound assumes idle cores); and the whole workload with each
# cpu task's 150 ms as a wait, which shows admission's own schedule apart
# from the machine's load
jq '{tasks: [.tasks[] | select(.id | startswith("cpu"))]}' "$W/r-mixed.json" >"$W/r-cpu.json"
sed 's/"cpu_us":150000/"io_ms":150/' "$W/r-mixed.json" >"$W/r-mixed-w.json"
pairwise "\"\$GBX\" run \"\$W/r-mixed.json\" --config \"\$W/r-mixed-cfg.json\" -j16 -q --no-progress" \
	"\"\$GBX\" run \"\$W/r-mixed.json\" --config \"\$W/r-mixed-cfg.json\" -j8 -q --no-progress" \
	"\"\$GBX\" run \"\$W/r-mixed-j.json\" -j2 -q --no-progress" \
	"\"\$GBX\" run \"\$W/r-mixed-j.json\" -j8 -q --no-progress" \
	"\"\$GBX\" run \"\$W/r-cpu.json\" --config \"\$W/r-mixed-cfg.json\" -j2 -q --no-progress" \
	"\"\$GBX\" run \"\$W/r-mixed-w.json\" --config \"\$W/r-mixed-cfg.json\" -j16 -q --no-progress"
cpu_now=$(median <"$W/pw.5")
echo "### mixed cpu/io/mem workload, 52 tasks (median wall of $REPEAT, alternated; load $(cut -d' ' -f1-3 /proc/loadavg)); lower bound $bound s"
echo "admission (cpu 2, mem_mb 1000, io 6; -j16): $(median <"$W/pw.1") s   makespan / bound = $(ratio "$(median <"$W/pw.1")" $bound) (goal <= 1.10)"
echo "admission, -j8:                             $(median <"$W/pw.2") s   / bound = $(ratio "$(median <"$W/pw.2")" $bound) (8 slots: io, then mem, in the file's order)"
echo "-j2 alone:                                  $(median <"$W/pw.3") s   / bound = $(ratio "$(median <"$W/pw.3")" $bound)"
echo "-j8 alone:                                  $(median <"$W/pw.4") s   / bound = $(ratio "$(median <"$W/pw.4")" $bound), but up to 8 x 450 MB at once against 1000"
echo "the 12 cpu tasks alone at cpu 2:            $cpu_now s   (idle cores: 0.90; the bound on this machine now is max($cpu_now, 0.54, 0.40, 0.24)); admission / that = $(ratio "$(median <"$W/pw.1")" "$cpu_now")"
echo "cpu tasks as 150 ms waits, admission -j16:  $(median <"$W/pw.6") s   / bound = $(ratio "$(median <"$W/pw.6")" $bound) (admission's schedule without the machine's load)"

# 4. cgroup setup per task
if "$GBX" check "$W/r-none.json" 2>/dev/null | grep -q '^enforce: cgroup'; then
	echo "{\"matrix\":[{\"id\":\"t{i}\",\"argv\":[\"true\"],\"resources\":{\"mem_mb\":64},\"vars\":{\"i\":[$(seq -s, 1 2000)]}}]}" >"$W/r-true.json"
	echo '{"enforce": true}' >"$W/r-enf.json"
	pairwise "\"\$GBX\" run \"\$W/r-true.json\" -j1 -q --no-progress" \
		"\"\$GBX\" run \"\$W/r-true.json\" -j1 -q --no-progress --config \"\$W/r-enf.json\""
	echo "### 2,000 x true at -j1 (median wall of $REPEAT, alternated)"
	echo "enforce off:  $(median <"$W/pw.1") s"
	echo "enforce on:   $(median <"$W/pw.2") s   cgroup setup $(pdiff "$W/pw.1" "$W/pw.2" 2000 | awk '{printf "%+.0f", $1 / 1000}') us/task ($("$GBX" check "$W/r-none.json" | sed -n 's/^enforce: \([^;]*\);.*/\1/p'))"
else
	echo "### cgroup setup: skipped, $("$GBX" check "$W/r-none.json" 2>/dev/null | grep '^enforce')"
fi
