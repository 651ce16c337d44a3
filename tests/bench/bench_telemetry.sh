# bench_telemetry.sh - the telemetry plugin's cost (a section of tests/bench/run.sh,
# sourced with M, GBX, W, REPEAT, median, ratio, pairwise and sim1m; BENCH=telemetry).
#
# On 1,000,000 no-op sim tasks at -j2, alternated 3 x REPEAT times (TEL_REPEAT)
# against no telemetry, and against itself (A/A):
#   sample 1.0: every attempt counted and timed (counters, both histograms per
#     kind and target, the report's busy timeline), writing metrics.prom (every
#     interval and at the end), summary.json and report.html;  goal <= 1.05
#   sample 0.01: the same, plus trace.json of the sampled 1% (~10,000
#     slices);  goal <= 1.02
#   sample 1.0 with trace.json of every attempt: a million slices, ~100 MB of
#     JSON; shown for what it costs (the file's own size), without a goal.
# On 10,000 x /bin/true at -j2: sample 1.0 with every output (trace included)
# against none;  goal <= 1.02.
sim1m ""
TD="$W/telemetry"
mkdir -p "$TD"
tel_cfg() { # tel_cfg FILE SAMPLE TRACE(0|1)
	# each config its own trace file: renaming a small trace over the 110 MB
	# one another config left would charge that file's unlink to this run
	tr=""
	[ "$3" = 1 ] && tr="\"trace\": \"$1.trace.json\","
	echo "{ \"plugins\": { \"telemetry\": { \"enabled\": true, \"sample\": $2, $tr
	  \"prometheus\": \"$TD/metrics.prom\", \"summary\": \"$TD/summary.json\", \"html\": \"$TD/report.html\" } } }" >"$1"
}
tel_cfg "$TD/s1.json" 1.0 0
tel_cfg "$TD/s001.json" 0.01 1
tel_cfg "$TD/s1t.json" 1.0 1
tel_cfg "$TD/all.json" 1.0 1

# A run is ~0.15 s and the goals are a few ms, less than this VM's spread
# between runs: three times REPEAT alternations (TEL_REPEAT), and a second
# copy of the baseline (A/A) that shows the spread measured in the same run
tel_repeat=$REPEAT
REPEAT=${TEL_REPEAT:-$((REPEAT * 3))}
pairwise "\"\$GBX\" run \"\$W/sim1m.json\" -j2 -q --no-progress" \
	"\"\$GBX\" run \"\$W/sim1m.json\" -j2 -q --no-progress --config \"\$TD/s1.json\"" \
	"\"\$GBX\" run \"\$W/sim1m.json\" -j2 -q --no-progress --config \"\$TD/s001.json\"" \
	"\"\$GBX\" run \"\$W/sim1m.json\" -j2 -q --no-progress --config \"\$TD/s1t.json\"" \
	"\"\$GBX\" run \"\$W/sim1m.json\" -j2 -q --no-progress"
t0=$(median <"$W/pw.1")
t1=$(median <"$W/pw.2")
t2=$(median <"$W/pw.3")
t3=$(median <"$W/pw.4")
t4=$(median <"$W/pw.5")
tsize=$(wc -c <"$TD/s1t.json.trace.json" 2>/dev/null || echo 0)
echo
echo "## telemetry plugin on 1,000,000 no-op sim tasks at -j2 (median wall of $REPEAT, alternated)"
echo "without telemetry:                                             $t0 s"
echo "without telemetry again (A/A: the spread of this run):         $t4 s   ratio $(ratio "$t4" "$t0")"
echo "sample 1.0: metrics.prom + summary.json + report.html           $t1 s   ratio $(ratio "$t1" "$t0") (goal <= 1.05)"
echo "sample 0.01: the same + trace.json of the sampled 1%            $t2 s   ratio $(ratio "$t2" "$t0") (goal <= 1.02)"
printf "%-62s %s s   ratio %s (no goal: the file's own cost)\n" \
	"sample 1.0 + trace.json of every attempt ($(awk -v b="$tsize" 'BEGIN {printf "%.0f MB", b / 1e6}')):" "$t3" "$(ratio "$t3" "$t0")"
# CPU (user+sys) moves less than wall with how the two workers share the
# VM's CPUs; shown beside the goals, which are on wall time
c0=$(median <"$W/pw.1.cpu")
echo "CPU time, the same runs: without $c0 s; sample 1.0 ratio $(ratio "$(median <"$W/pw.2.cpu")" "$c0"), sample 0.01 ratio $(ratio "$(median <"$W/pw.3.cpu")" "$c0")"

REPEAT=$tel_repeat

seq 1 10000 >"$W/args10k"
pairwise "\"\$GBX\" run -j2 -q --no-progress -a \"\$W/args10k\" -- /bin/true" \
	"\"\$GBX\" run -j2 -q --no-progress --config \"\$TD/all.json\" -a \"\$W/args10k\" -- /bin/true"
b0=$(median <"$W/pw.1")
b1=$(median <"$W/pw.2")
echo
echo "## telemetry plugin on 10,000 x /bin/true at -j2 (median wall of $REPEAT, alternated)"
echo "without telemetry:                                             $b0 s"
echo "sample 1.0, every output (prometheus, summary, html, trace)    $b1 s   ratio $(ratio "$b1" "$b0") (goal <= 1.02)"
rm -rf "$TD"
