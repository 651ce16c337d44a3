# bench_sdk.sh - plugin ABI 1.4 and 1.5 cost nothing when nobody uses them (a section
# of tests/bench/run.sh, sourced with M, GBX, W, REPEAT, pairwise, pratio,
# pdiff and sim1m). ABI 1.4 added, on the engine's path of every task, a test
# for per-task plugin data where a task ends (host_task_end) and a deferral
# count in two bytes of struct task that were padding. This builds gearbox at
# that commit and at the one before it, so nothing else differs, and runs
# 1,000,000 no-op sim tasks at -j2, no plugins, with both binaries in
# alternation, plus an A/A copy of the old one to show the noise.
# Goal: after/before within the A/A spread.
sdk_rev=$(git log --format=%H -1 --grep='^plugin ABI 1.4: deferral done right' 2>/dev/null)
if [ -z "$sdk_rev" ]; then
	echo "## sdk: the ABI 1.4 commit is not in this checkout's history; skipped"
else
	mkdir -p "$W/sdk_old" "$W/sdk_new"
	git archive "$sdk_rev^" | tar -x -C "$W/sdk_old"
	git archive "$sdk_rev" | tar -x -C "$W/sdk_new"
	if ! make -s -C "$W/sdk_old" -j2 build/gearbox >"$W/sdk_old.log" 2>&1 ||
		! make -s -C "$W/sdk_new" -j2 build/gearbox >>"$W/sdk_old.log" 2>&1; then
		echo "## sdk: cannot build the ABI 1.4 commit or the one before"; tail -5 "$W/sdk_old.log"
	else
		OLD=$W/sdk_old/build/gearbox
		NEW=$W/sdk_new/build/gearbox
		sim1m ""
		pairwise "\"\$OLD\" run \"\$W/sim1m.json\" -j2 -q --no-progress" \
			"\"\$NEW\" run \"\$W/sim1m.json\" -j2 -q --no-progress" \
			"\"\$OLD\" run \"\$W/sim1m.json\" -j2 -q --no-progress"
		echo
		echo "## sdk: 1,000,000 no-op sim tasks at -j2, no plugins: before and after plugin ABI 1.4 (median wall of $REPEAT, alternated)"
		echo "before ABI 1.4 (${sdk_rev%"${sdk_rev#???????}"}^):     $(median <"$W/pw.1") s"
		echo "ABI 1.4 (${sdk_rev%"${sdk_rev#???????}"}):           $(median <"$W/pw.2") s   ratio $(pratio "$W/pw.2" "$W/pw.1"), $(pdiff "$W/pw.1" "$W/pw.2" 1000000) ns/task"
		echo "before again (A/A):            $(median <"$W/pw.3") s   ratio $(pratio "$W/pw.3" "$W/pw.1"), $(pdiff "$W/pw.1" "$W/pw.3" 1000000) ns/task (the noise)"
	fi
fi

# Plugin ABI 1.5 put an attempt's node, peak memory and CPU time in struct
# gbx_attempt and added published counters. On the engine's path: a few more
# stores where after_attempt plugins get an attempt, and a fold keyed by node
# as well: nothing when no plugin sets after_attempt (telemetry off). Built
# at that commit and the one before, 1,000,000 no-op sim tasks at -j2, with
# no plugin (goal: within the A/A spread), then with telemetry on, every
# attempt counted, a summary file only (no goal: what the new fields cost
# the plugin that reads them).
sdk15_rev=$(git log --format=%H -1 --grep='^plugin ABI 1.5: gbx_attempt tells' 2>/dev/null)
if [ -z "$sdk15_rev" ]; then
	echo "## sdk: the ABI 1.5 commit is not in this checkout's history; skipped"
else
	S15="$W/sdk15"
	mkdir -p "$S15/old" "$S15/new"
	git archive "$sdk15_rev^" | tar -x -C "$S15/old"
	git archive "$sdk15_rev" | tar -x -C "$S15/new"
	if ! make -s -C "$S15/old" -j2 build/gearbox build/plugins/telemetry.so >"$S15/build.log" 2>&1 ||
		! make -s -C "$S15/new" -j2 build/gearbox build/plugins/telemetry.so >>"$S15/build.log" 2>&1; then
		echo "## sdk: cannot build the ABI 1.5 commit or the one before"; tail -5 "$S15/build.log"
	else
		OLD=$S15/old/build/gearbox
		NEW=$S15/new/build/gearbox
		sim1m ""
		echo '{ "plugins": { "telemetry": { "enabled": true, "summary": "'"$S15"'/summary.json" } } }' >"$S15/tel.json"
		short=${sdk15_rev%"${sdk15_rev#???????}"}
		pairwise "\"\$OLD\" run \"\$W/sim1m.json\" -j2 -q --no-progress --config ''" \
			"\"\$NEW\" run \"\$W/sim1m.json\" -j2 -q --no-progress --config ''" \
			"\"\$OLD\" run \"\$W/sim1m.json\" -j2 -q --no-progress --config ''"
		echo
		echo "## sdk: 1,000,000 no-op sim tasks at -j2, no plugins: before and after plugin ABI 1.5 (median wall of $REPEAT, alternated)"
		echo "before ABI 1.5 ($short^):     $(median <"$W/pw.1") s"
		echo "ABI 1.5 ($short):           $(median <"$W/pw.2") s   ratio $(pratio "$W/pw.2" "$W/pw.1"), $(pdiff "$W/pw.1" "$W/pw.2" 1000000) ns/task"
		echo "before again (A/A):            $(median <"$W/pw.3") s   ratio $(pratio "$W/pw.3" "$W/pw.1"), $(pdiff "$W/pw.1" "$W/pw.3" 1000000) ns/task (the noise)"
		echo "by CPU time (user + sys, less moved by other load): after/before $(pratio "$W/pw.2.cpu" "$W/pw.1.cpu"), A/A $(pratio "$W/pw.3.cpu" "$W/pw.1.cpu"), $(pdiff "$W/pw.1.cpu" "$W/pw.2.cpu" 1000000) ns/task"
		pairwise "\"\$OLD\" run \"\$W/sim1m.json\" -j2 -q --no-progress --config \"\$S15/tel.json\"" \
			"\"\$NEW\" run \"\$W/sim1m.json\" -j2 -q --no-progress --config \"\$S15/tel.json\"" \
			"\"\$OLD\" run \"\$W/sim1m.json\" -j2 -q --no-progress --config \"\$S15/tel.json\""
		echo
		echo "## sdk: the same with telemetry on (sample 1, a summary file): before and after ABI 1.5"
		echo "before ABI 1.5 ($short^):     $(median <"$W/pw.1") s"
		echo "ABI 1.5 ($short):           $(median <"$W/pw.2") s   ratio $(pratio "$W/pw.2" "$W/pw.1"), $(pdiff "$W/pw.1" "$W/pw.2" 1000000) ns/task"
		echo "before again (A/A):            $(median <"$W/pw.3") s   ratio $(pratio "$W/pw.3" "$W/pw.1"), $(pdiff "$W/pw.1" "$W/pw.3" 1000000) ns/task (the noise)"
		echo "by CPU time (user + sys, less moved by other load): after/before $(pratio "$W/pw.2.cpu" "$W/pw.1.cpu"), A/A $(pratio "$W/pw.3.cpu" "$W/pw.1.cpu"), $(pdiff "$W/pw.1.cpu" "$W/pw.2.cpu" 1000000) ns/task"
	fi
fi
