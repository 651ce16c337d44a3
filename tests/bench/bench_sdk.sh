# bench_sdk.sh - plugin ABI 1.4 costs nothing when nobody uses it (a section
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
