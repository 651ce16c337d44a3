# bench_resources.sh - declared needs and admission (sourced by
# tests/bench/run.sh; BENCH=resources). docs/resources.md has the figures.
#
# 1. 1,000,000 no-op sim tasks at -j2: none declaring anything, against the
#    same tasks each declaring `resources` (goal <= +30 ns/task), and against
#    gearbox built from the commit before resources.c existed (goal within
#    2%; GBX_BASE=path skips building it). Paired ratios over 3 x REPEAT
#    rounds with an A/A copy of the baseline.
# 2. A mixed workload (cpu-bound, io-bound and memory-heavy sim tasks, and a
#    chain): makespan under admission against the lower bound
#    max(total cpu x time / cpus, total mem x time / memory, longest chain),
#    and against -j alone: -j2 (safe for memory) and -j8 (fast, but its
#    peak declared memory is over the budget).
# 3. Per-task cgroup setup: 2,000 `true` at -j1 with enforce on against off,
#    in us per task (skipped where the machine gives no cgroup).
echo
echo "## resources"
# 1.
A=$(seq -s, 0 99); B=$(seq -s, 0 9999)
echo "{\"matrix\":[{\"id\":\"t{a}-{b}\",\"kind\":\"sim\",\"vars\":{\"a\":[$A],\"b\":[$B]}}]}" >"$W/r-none.json"
echo "{\"matrix\":[{\"id\":\"t{a}-{b}\",\"kind\":\"sim\",\"resources\":{\"cpu\":0.001,\"mem_mb\":1},\"vars\":{\"a\":[$A],\"b\":[$B]}}]}" >"$W/r-decl.json"
base=${GBX_BASE:-}
if [ -z "$base" ]; then
	rev=$(git log --format=%H --diff-filter=A -- core/resources.c | tail -1)
	if [ -n "$rev" ]; then
		mkdir -p "$W/base"
		git archive "$rev^" | tar -x -C "$W/base" &&
			nice make -s -C "$W/base" -j2 build/gearbox >/dev/null 2>&1 &&
			base=$W/base/build/gearbox
	fi
fi
[ -x "${base:-/nonexistent}" ] || base=$GBX
rounds=$((REPEAT * 3))
pairwise_n "$rounds" "\"\$GBX\" run \"\$W/r-none.json\" -j2 -q --no-progress" \
	"\"\$GBX\" run \"\$W/r-decl.json\" -j2 -q --no-progress" \
	"\"$base\" run \"\$W/r-none.json\" -j2 -q --no-progress" \
	"\"\$GBX\" run \"\$W/r-none.json\" -j2 -q --no-progress"
echo "### 1,000,000 no-op sim tasks at -j2 (median wall of $rounds rounds, alternated; paired ratios)"
echo "none declaring:                         $(median <"$W/pw.1") s"
echo "none declaring again (A/A):             $(median <"$W/pw.4") s   ratio $(pratio "$W/pw.4" "$W/pw.1"), $(pdiff "$W/pw.1" "$W/pw.4" 1000000) ns/task"
echo "each declaring cpu and mem_mb:          $(median <"$W/pw.2") s   $(pdiff "$W/pw.1" "$W/pw.2" 1000000) ns/task (goal <= +30)"
echo "before resources (${base#$W/}):  $(median <"$W/pw.3") s   none declaring / before = $(pratio "$W/pw.1" "$W/pw.3") (goal within 2%)"

# 2. the mixed workload: 12 cpu tasks (1 cpu, 150 ms of CPU), 24 io tasks
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
pairwise "\"\$GBX\" run \"\$W/r-mixed.json\" --config \"\$W/r-mixed-cfg.json\" -j8 -q --no-progress" \
	"\"\$GBX\" run \"\$W/r-mixed-j.json\" -j2 -q --no-progress" \
	"\"\$GBX\" run \"\$W/r-mixed-j.json\" -j8 -q --no-progress"
echo "### mixed cpu/io/mem workload, 52 tasks (median wall of $REPEAT, alternated); lower bound $bound s"
echo "admission (cpu 2, mem_mb 1000, io 6; -j8): $(median <"$W/pw.1") s   makespan / bound = $(ratio "$(median <"$W/pw.1")" $bound) (goal <= 1.10)"
echo "-j2 alone:                                $(median <"$W/pw.2") s   / bound = $(ratio "$(median <"$W/pw.2")" $bound)"
echo "-j8 alone:                                $(median <"$W/pw.3") s   / bound = $(ratio "$(median <"$W/pw.3")" $bound), but up to 8 x 450 MB at once against 1000"

# 3. cgroup setup per task
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
