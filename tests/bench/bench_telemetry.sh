# bench_telemetry.sh - the telemetry plugin's cost (a section of tests/bench/run.sh,
# sourced with M, GBX, W, REPEAT, median, ratio, pratio, pairwise, pairwise_n and sim1m;
# BENCH=telemetry).
#
# On 1,000,000 no-op sim tasks at -j2, alternated 3 x REPEAT times
# (TEL_REPEAT) against no telemetry and against itself (A/A), each with the
# same outputs: metrics.prom (every interval and at the end), summary.json and
# report.html:
#   sample 1.0: every attempt counted and timed (counters, both histograms
#     per kind and target, the report's busy timeline);  goal <= 1.05
#   sample 0.01: counters exact, the detail for 1% of the tasks;  goal <= 1.02
# Then, without goals, what a trace.json adds: of the sampled 1% (~10,000
# slices), and of every attempt (a million slices, ~110 MB of JSON).
# On 10,000 x /bin/true at -j2: sample 1.0 with every output (trace included)
# against none;  goal <= 1.02.
#
# The ratios are medians of per-round ratios (pratio): this VM has slow and
# fast phases of tens of seconds that both runs of a round share.
sim1m ""
TD="$W/telemetry"
mkdir -p "$TD"
# The outputs go to a tmpfs when there is one: replacing a file is the
# filesystem's cost, not the plugin's, and on this VM's root (ext4 mounted
# with discard) each replaced file waits for a discard. One line below
# shows the same run with the outputs on $W's filesystem.
OD="$TD"
if OD=$(mktemp -d /dev/shm/gbx-tel.XXXXXX 2>/dev/null); then :; else OD="$TD"; fi
tel_cfg() { # tel_cfg FILE SAMPLE TRACE(0|1) [OUTDIR]
	# each config its own trace file: renaming a small trace over the 110 MB
	# one another config left would charge that file's unlink to this run
	_o=${4:-$OD}
	tr=""
	[ "$3" = 1 ] && tr="\"trace\": \"$_o/$(basename "$1").trace.json\","
	echo "{ \"plugins\": { \"telemetry\": { \"enabled\": true, \"sample\": $2, $tr
	  \"prometheus\": \"$_o/metrics.prom\", \"summary\": \"$_o/summary.json\", \"html\": \"$_o/report.html\" } } }" >"$1"
}
tel_cfg "$TD/s1.json" 1.0 0
tel_cfg "$TD/s1disk.json" 1.0 0 "$TD"
tel_cfg "$TD/s001.json" 0.01 0
tel_cfg "$TD/s001t.json" 0.01 1
tel_cfg "$TD/s1t.json" 1.0 1
tel_cfg "$TD/all.json" 1.0 1

tel_rounds=${TEL_REPEAT:-$((REPEAT * 3))}
sim="\"\$GBX\" run \"\$W/sim1m.json\" -j2 -q --no-progress"
pairwise_n "$tel_rounds" "$sim" "$sim --config \"\$TD/s1.json\"" "$sim --config \"\$TD/s001.json\"" "$sim" \
	"$sim --config \"\$TD/s1disk.json\""
echo
echo "## telemetry plugin on 1,000,000 no-op sim tasks at -j2 ($tel_rounds rounds, alternated; ratio: median of the rounds' ratios)"
echo "outputs in $OD ($(df -PT "$OD" | awk 'NR == 2 {print $2}'))"
echo "without telemetry:                                             $(median <"$W/pw.1") s"
echo "without telemetry again (A/A: the spread of this run):         $(median <"$W/pw.4") s   ratio $(pratio "$W/pw.4" "$W/pw.1")"
echo "sample 1.0: metrics.prom + summary.json + report.html           $(median <"$W/pw.2") s   ratio $(pratio "$W/pw.2" "$W/pw.1") (goal <= 1.05)"
echo "sample 0.01: the same outputs                                   $(median <"$W/pw.3") s   ratio $(pratio "$W/pw.3" "$W/pw.1") (goal <= 1.02)"
printf "%-62s %s\n" "sample 1.0, outputs on $(df -PT "$TD" | awk 'NR == 2 {print $2}') ($(findmnt -no OPTIONS -T "$TD" 2>/dev/null | tr , "\n" | grep -x discard || echo "no discard")):" "$(median <"$W/pw.5") s   ratio $(pratio "$W/pw.5" "$W/pw.1") (no goal: the filesystem's share)"
echo "CPU time (user+sys), the same rounds: sample 1.0 ratio $(pratio "$W/pw.2.cpu" "$W/pw.1.cpu"), sample 0.01 ratio $(pratio "$W/pw.3.cpu" "$W/pw.1.cpu")"
# the traces, in their own rounds: the 110 MB file's write-back and unlink
# would otherwise fall on the runs after it
pairwise_n "$tel_rounds" "$sim --config \"\$TD/s001.json\"" "$sim --config \"\$TD/s001t.json\"" \
	"$sim --config \"\$TD/s1.json\"" "$sim --config \"\$TD/s1t.json\""
tsize=$(wc -c <"$OD/s1t.json.trace.json" 2>/dev/null || echo 0)
printf "%-62s %s s   ratio %s to sample 0.01 without it (no goal)\n" \
	"sample 0.01 + trace.json of the sampled 1%:" "$(median <"$W/pw.2")" "$(pratio "$W/pw.2" "$W/pw.1")"
printf "%-62s %s s   ratio %s to sample 1.0 without it (no goal: the file's own cost)\n" \
	"sample 1.0 + trace.json of every attempt ($(awk -v b="$tsize" 'BEGIN {printf "%.0f MB", b / 1e6}')):" "$(median <"$W/pw.4")" "$(pratio "$W/pw.4" "$W/pw.3")"

seq 1 10000 >"$W/args10k"
pairwise "\"\$GBX\" run -j2 -q --no-progress -a \"\$W/args10k\" -- /bin/true" \
	"\"\$GBX\" run -j2 -q --no-progress --config \"\$TD/all.json\" -a \"\$W/args10k\" -- /bin/true"
b0=$(median <"$W/pw.1")
b1=$(median <"$W/pw.2")
echo
echo "## telemetry plugin on 10,000 x /bin/true at -j2 ($REPEAT rounds, alternated)"
echo "without telemetry:                                             $b0 s"
echo "sample 1.0, every output (prometheus, summary, html, trace)    $b1 s   ratio $(pratio "$W/pw.2" "$W/pw.1") (goal <= 1.02)"
rm -rf "$TD" "$OD"
