# bench_ratelimit.sh - many tasks waiting on one target under the ratelimit
# plugin (sourced by tests/bench/run.sh; BENCH=ratelimit; M, GBX, W,
# REPEAT, median and ratio come from there).
#
# 2,000 no-op sim tasks on one target at 1,000/s, -j4, with burst 1 and
# burst 10: this build's ratelimit.so against the one before tickets (each
# waiter came back at every token), in alternation, REPEAT rounds. Shown:
# wall, CPU (user + sys), deferrals per task (from --stats) and starts per
# second. The plugin before is built from the commit before tickets and
# loaded by this gearbox (GEARBOX_PLUGIN_PATH), so nothing else differs; or
# GBX_BASE=path runs a gearbox built before (with its own plugins) instead.
# Goals: deferrals about one per task (O(1) work per token), CPU well down,
# wall within a few % (the rate is used).
echo
rl_rev=$(git log --format=%H -1 --grep='^ratelimit: each waiter holds a ticket' 2>/dev/null)
rl_old=
if [ -n "${GBX_BASE:-}" ]; then
	rl_old="\"$GBX_BASE\""
	rl_what="GBX_BASE=$GBX_BASE"
elif [ -n "$rl_rev" ]; then
	mkdir -p "$W/rl_old"
	git archive "$rl_rev^" | tar -x -C "$W/rl_old"
	if nice make -s -C "$W/rl_old" -j2 build/plugins/ratelimit.so >"$W/rl.log" 2>&1; then
		rl_old="env GEARBOX_PLUGIN_PATH=\"$W/rl_old/build/plugins\" \"$GBX\""
		rl_what="ratelimit.so at ${rl_rev%"${rl_rev#???????}"}^"
	else
		tail -5 "$W/rl.log"
	fi
fi
if [ -z "$rl_old" ]; then
	echo "## ratelimit: no build before tickets (set GBX_BASE=path, or run in a checkout that has the ticket commit); skipped"
else
	echo "{\"matrix\":[{\"id\":\"t{i}\",\"kind\":\"sim\",\"target\":\"api\",\"vars\":{\"i\":[$(seq -s, 1 2000)]}}]}" >"$W/rl2k.json"
	for b in 1 10; do
		echo "{\"history\": false, \"plugins\": {\"ratelimit\": {\"enabled\": true, \"rate\": 1000, \"burst\": $b}}}" >"$W/rl-b$b.json"
	done
	for f in old.1 new.1 old.10 new.10; do : >"$W/rl.$f"; : >"$W/rl.$f.d"; done
	for i in $(seq 1 "$REPEAT"); do
		for b in 1 10; do
			for side in old new; do
				if [ $side = old ]; then bin=$rl_old; else bin="\"$GBX\""; fi
				eval "\"\$M\" $bin run \"\$W/rl2k.json\" --config \"\$W/rl-b$b.json\" -j4 -q --no-progress --stats \"\$W/rl.st\"" >>"$W/rl.$side.$b"
				jq '.deferred' "$W/rl.st" >>"$W/rl.$side.$b.d"
			done
		done
	done
	echo "## ratelimit: 2,000 no-op sim tasks on one target at 1,000/s, -j4 (median of $REPEAT, alternated; load $(cut -d' ' -f1-3 /proc/loadavg))"
	echo "before: $rl_what"
	for b in 1 10; do
		for side in old new; do
			w=$(med "$W/rl.$side.$b" 1)
			c=$(awk '{print $2 + $3}' "$W/rl.$side.$b" | median)
			d=$(median <"$W/rl.$side.$b.d")
			eval "w_$side=$w c_$side=$c d_$side=$d"
			printf '%-7s burst %-3s wall %6.3f s  CPU %6.3f s  deferrals %7d (%.1f per task)  %4.0f starts/s\n' \
				"$side" "$b" "$w" "$c" "$d" "$(awk -v d="$d" 'BEGIN {print d / 2000}')" "$(awk -v w="$w" 'BEGIN {print 2000 / w}')"
		done
		echo "        burst $b: new/old wall $(ratio "$w_new" "$w_old"), CPU $(ratio "$c_new" "$c_old"); old/new deferrals $(awk -v a="$d_old" -v b="$d_new" 'BEGIN {printf "%.0f", a / b}')x"
	done
fi
