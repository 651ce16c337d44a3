# bench_breaker_shared.sh - what plugins.breaker.shared costs a breaker that
# does not use it (a section of tests/bench/run.sh, BENCH=breaker_shared,
# sourced with M, GBX, W, REPEAT, pairwise, pratio, pdiff and median).
# The shared state added to the breaker's hooks one pointer test each (is
# there a shared state?) plus a small view per target. This builds breaker.so
# at the commit that added it and at the one before, so nothing else differs,
# and runs 1,000,000 no-op sim tasks with a target at -j2, the breaker on and
# not shared, with this checkout's gearbox loading each breaker.so in turn
# (GEARBOX_PLUGIN_PATH), in alternation, plus an A/A copy of the old one to
# show the noise. Goal: after/before within the A/A spread.
bs_rev=$(git log --format=%H -1 --grep='^breaker: plugins.breaker.shared, one sliding window' 2>/dev/null)
if [ -z "$bs_rev" ]; then
	echo "## breaker_shared: the commit that added plugins.breaker.shared is not in this checkout's history; skipped"
else
	mkdir -p "$W/bs_old" "$W/bs_new"
	git archive "$bs_rev^" | tar -x -C "$W/bs_old"
	git archive "$bs_rev" | tar -x -C "$W/bs_new"
	if ! make -s -C "$W/bs_old" -j2 build/plugins/breaker.so >"$W/bs.log" 2>&1 ||
		! make -s -C "$W/bs_new" -j2 build/plugins/breaker.so >>"$W/bs.log" 2>&1; then
		echo "## breaker_shared: cannot build breaker.so at the shared-breaker commit or the one before"; tail -5 "$W/bs.log"
	else
		echo "{ \"name\": \"sim-target\", \"matrix\": [ { \"id\": \"t{a}-{b}\", \"kind\": \"sim\", \"target\": \"api\", \"vars\": { \"a\": [$(seq -s, 0 99)], \"b\": [$(seq -s, 0 9999)] } } ] }" >"$W/bs_sim.json"
		echo '{ "plugins": { "breaker": { "enabled": true } } }' >"$W/bs_on.json"
		BS_OLD=$W/bs_old/build/plugins
		BS_NEW=$W/bs_new/build/plugins
		pairwise "env GEARBOX_PLUGIN_PATH=\"\$BS_OLD\" \"\$GBX\" run \"\$W/bs_sim.json\" -j2 -q --no-progress --config \"\$W/bs_on.json\"" \
			"env GEARBOX_PLUGIN_PATH=\"\$BS_NEW\" \"\$GBX\" run \"\$W/bs_sim.json\" -j2 -q --no-progress --config \"\$W/bs_on.json\"" \
			"env GEARBOX_PLUGIN_PATH=\"\$BS_OLD\" \"\$GBX\" run \"\$W/bs_sim.json\" -j2 -q --no-progress --config \"\$W/bs_on.json\""
		r=${bs_rev%"${bs_rev#???????}"}
		echo
		echo "## breaker_shared: 1,000,000 no-op sim tasks with a target at -j2, the breaker on, not shared: breaker.so before and after plugins.breaker.shared (median wall of $REPEAT, alternated)"
		echo "before ($r^):                $(median <"$W/pw.1") s"
		echo "after ($r), shared off:      $(median <"$W/pw.2") s   after/before $(pratio "$W/pw.2" "$W/pw.1"), $(pdiff "$W/pw.1" "$W/pw.2" 1000000) ns/task"
		echo "before again (A/A):          $(median <"$W/pw.3") s   A/A $(pratio "$W/pw.3" "$W/pw.1"), $(pdiff "$W/pw.1" "$W/pw.3" 1000000) ns/task (goal: after/before within the A/A spread)"
	fi
fi
