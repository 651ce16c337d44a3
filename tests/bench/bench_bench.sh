# bench_bench.sh - what `gearbox bench` itself costs, and whether it bends the
# ratios it reports (a section of tests/bench/run.sh; BENCH=bench).
#
#  1. --stats, which every bench run writes: 1,000,000 no-op sim tasks at
#     -j2 with and without it, alternated (ns per task).
#  2. A/A: `gearbox bench --aa` on the light example; the second baseline
#     should come out within noise.
#  3. the same ratio measured two ways: the cache on examples/workloads/
#     repeated.json as bench reports it, and as run.sh's own alternation of
#     plain `gearbox run` commands measures it (fresh cache dir per run, so
#     bench's cold figure).
sim1m ""
pairwise "\"\$GBX\" run \"\$W/sim1m.json\" -j2 -q --no-progress" \
	"\"\$GBX\" run \"\$W/sim1m.json\" -j2 -q --no-progress --stats \"\$W/st.json\""
echo
echo "## gearbox bench's own cost"
echo "run --stats on 1,000,000 no-op sim tasks: $(median <"$W/pw.1") s without, $(median <"$W/pw.2") s with: +$(per_task "$W/pw.1" "$W/pw.2" 1000000) ns/task"

"$GBX" bench examples/workloads/light.json --config examples/workloads/gearbox.json -j2 \
	--plugins telemetry --aa --repeat "$REPEAT" --format json -q >"$W/aa.json"
jq -r '.variants[] | select(.name == "baseline (A/A)") |
	"A/A on light.json (200 x true): second baseline \(.wall_ratio * 1000 | round / 1000)x [\(.wall_ratio_ci95[0] * 1000 | round / 1000), \(.wall_ratio_ci95[1] * 1000 | round / 1000)], p \(.p_value * 1000 | round / 1000): \(.verdict)"' "$W/aa.json"

"$GBX" bench examples/workloads/repeated.json --config examples/workloads/gearbox.json -j2 \
	--plugins cache --repeat "$REPEAT" --format json -q >"$W/bc.json"
: >"$W/rc.off"; : >"$W/rc.on"
for i in $(seq 1 "$REPEAT"); do
	"$M" "$GBX" run examples/workloads/repeated.json --config examples/workloads/gearbox.json -j2 -q --no-progress \
		>>"$W/rc.off"
	"$M" "$GBX" run examples/workloads/repeated.json --config examples/workloads/gearbox.json -j2 -q --no-progress \
		--enable cache --set "plugins.cache.dir=$W/rc-cache-$i" >>"$W/rc.on"
done
direct=$(ratio "$(med "$W/rc.on" 1)" "$(med "$W/rc.off" 1)")
# the plain runs start from an empty cache each: bench's cold figure
jq -r --arg d "$direct" '.variants[] | select(.name == "cache") |
	"cache (cold) on repeated.json: bench says \(.cold.wall_ratio * 100 | round / 100)x, plain alternated runs say \($d)x"' "$W/bc.json"
