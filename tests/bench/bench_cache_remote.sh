# bench_cache_remote.sh - the cache's remote level and hits that cost nothing
# (sourced by tests/bench/run.sh; BENCH=cache_remote). A real redis-server is
# started here (tools/redis.sh: unix socket, persistence off) and stopped by
# its PID.
#
# 1. 2,000 tasks of sh -c 'sleep 0.01; echo done' at -j4, per repetition in
#    alternation: cold (Redis flushed, a new cache dir: every task runs and is
#    stored) and remote-only (another new cache dir, a new process: memory and
#    disk empty, every entry in Redis). Goal: cold/remote >= 20, median remote
#    lookup <= 200 us (the cache.stats event's remote_lookup_p50_us). Also
#    the remote-only run with its new dir on tmpfs, and with a 2 s deadline
#    (on a loaded machine the default 20 ms trips the breaker: fewer hits).
# 2. Redis stopped (SIGSTOP: it accepts connections and never answers, the
#    worst case): the cache on without a remote, against the same with the
#    stopped remote. Goal: at most one lookup deadline (20 ms) + 2% more.
# 3. A no-op rebuild of gearbox's own sources (every .c under core/ and
#    plugins/, compiled with -MMD) as a workload with depfiles, every task a
#    hit whose outputs are in place, against make's no-op on the same objects.
#    Goal: gearbox within 3x of make.
cr_start=$("$root/tools/redis.sh" start "$W/redis") || { echo "cache_remote: redis-server did not start"; return 0 2>/dev/null || exit 0; }
cr_pid=${cr_start% *}
cr_sock=${cr_start#* }
trap '"$root/tools/redis.sh" stop "$cr_pid"; kill -CONT "$cr_pid" 2>/dev/null; "$root/tools/redis.sh" stop "$cr_pid"; rm -rf "$W"' EXIT
cr_w="$W/cr-2000.json"
echo "{ \"name\": \"cache-remote-bench\", \"matrix\": [ { \"id\": \"t{i}\", \"argv\": [\"sh\", \"-c\", \"sleep 0.01; echo done\", \"{i}\"], \"vars\": { \"i\": [$(seq -s, 0 1999)] } } ] }" >"$cr_w"
: >"$W/cr-cold"; : >"$W/cr-remote"; : >"$W/cr-shm"; : >"$W/cr-p50"; : >"$W/cr-hits"; : >"$W/cr-slow"; : >"$W/cr-hits-slow"
for i in $(seq 1 "$REPEAT"); do
	redis-cli -s "$cr_sock" flushall >/dev/null
	# (the cold run fills Redis: a generous deadline, so that a slow first
	# connection on a loaded machine does not open the breaker and leave
	# entries out of Redis; the measured remote run keeps the default 20 ms)
	echo "{ \"plugins\": { \"cache\": { \"enabled\": true, \"dir\": \"$W/cr-cold-$i\", \"remote\": \"unix:$cr_sock\", \"remote_deadline_ms\": 2000 } } }" >"$W/cr-cold.json"
	echo "{ \"plugins\": { \"cache\": { \"enabled\": true, \"dir\": \"$W/cr-rem-$i\", \"remote\": \"unix:$cr_sock\" } } }" >"$W/cr-rem.json"
	"$M" "$GBX" run "$cr_w" -j4 -q --no-progress --config "$W/cr-cold.json" | awk '{print $1}' >>"$W/cr-cold"
	"$M" "$GBX" run "$cr_w" -j4 -q --no-progress --config "$W/cr-rem.json" --events "$W/cr-ev-$i.jsonl" | awk '{print $1}' >>"$W/cr-remote"
	grep '"event":"cache.stats"' "$W/cr-ev-$i.jsonl" | sed 's/.*"remote_lookup_p50_us":\([0-9.]*\).*/\1/' >>"$W/cr-p50"
	grep '"event":"cache.stats"' "$W/cr-ev-$i.jsonl" | sed 's/.*"hits_remote":\([0-9]*\).*/\1/' >>"$W/cr-hits"
	# the same with a 2 s deadline: on a loaded machine a 20 ms lookup (or
	# the first connection) can time out, which opens the breaker for 5 s and
	# turns the rest into misses, by design; this row shows the remote path
	# itself, the fill of L2 included
	echo "{ \"plugins\": { \"cache\": { \"enabled\": true, \"dir\": \"$W/cr-slow-$i\", \"remote\": \"unix:$cr_sock\", \"remote_deadline_ms\": 2000 } } }" >"$W/cr-slow.json"
	"$M" "$GBX" run "$cr_w" -j4 -q --no-progress --config "$W/cr-slow.json" --events "$W/cr-evs-$i.jsonl" | awk '{print $1}' >>"$W/cr-slow"
	grep '"event":"cache.stats"' "$W/cr-evs-$i.jsonl" | sed 's/.*"hits_remote":\([0-9]*\).*/\1/' >>"$W/cr-hits-slow"
	if [ -d /dev/shm ]; then # the same with the new cache dir on tmpfs: the fill of L2 without ext4's file creation
		cr_shm=$(mktemp -d /dev/shm/gbx-cr.XXXXXX)
		echo "{ \"plugins\": { \"cache\": { \"enabled\": true, \"dir\": \"$cr_shm/c\", \"remote\": \"unix:$cr_sock\" } } }" >"$W/cr-shm.json"
		"$M" "$GBX" run "$cr_w" -j4 -q --no-progress --config "$W/cr-shm.json" | awk '{print $1}' >>"$W/cr-shm"
		rm -rf "$cr_shm"
	fi
done
cr_cold=$(median <"$W/cr-cold"); cr_remote=$(median <"$W/cr-remote"); cr_p50=$(median <"$W/cr-p50")
echo
echo "## cache, remote level: 2,000 tasks of sh -c 'sleep 0.01; echo done' at -j4 (median wall of $REPEAT, alternated)"
echo "cold (Redis and disk empty):              $cr_cold s"
echo "entries only in Redis (new dir, new proc): $cr_remote s   cold/remote = $(ratio "$cr_cold" "$cr_remote") (goal >= 20; hits from Redis per run: $(tr '\n' ' ' <"$W/cr-hits"))"
[ -s "$W/cr-shm" ] && echo "the same, the new cache dir on tmpfs:      $(median <"$W/cr-shm") s   cold/remote = $(ratio "$cr_cold" "$(median <"$W/cr-shm")") (the difference is what filling L2 on ext4 costs)"
echo "the same, remote_deadline_ms 2000:         $(median <"$W/cr-slow") s   cold/remote = $(ratio "$cr_cold" "$(median <"$W/cr-slow")") (hits from Redis per run: $(tr '\n' ' ' <"$W/cr-hits-slow"); fewer hits above: the 20 ms deadline tripped the breaker)"
echo "median remote lookup:                      $cr_p50 us (goal <= 200)"

# 2. Redis stopped
kill -STOP "$cr_pid"
: >"$W/cr-local"; : >"$W/cr-stopped"; : >"$W/cr-warn"
for i in $(seq 1 "$REPEAT"); do
	echo "{ \"plugins\": { \"cache\": { \"enabled\": true, \"dir\": \"$W/cr-loc-$i\" } } }" >"$W/cr-loc.json"
	echo "{ \"plugins\": { \"cache\": { \"enabled\": true, \"dir\": \"$W/cr-stop-$i\", \"remote\": \"unix:$cr_sock\" } } }" >"$W/cr-stop.json"
	"$M" "$GBX" run "$cr_w" -j4 -q --no-progress --config "$W/cr-loc.json" | awk '{print $1}' >>"$W/cr-local"
	"$M" "$GBX" run "$cr_w" -j4 -q --no-progress --config "$W/cr-stop.json" | awk '{print $1}' >>"$W/cr-stopped"
done
# a check, not a measurement (measure discards output): the warnings one such run prints
rm -rf "$W/cr-stop-$REPEAT"
"$GBX" run "$cr_w" -j4 --no-progress --config "$W/cr-stop.json" >/dev/null 2>"$W/cr-stop-err"
grep -c 'remote cache' "$W/cr-stop-err" >>"$W/cr-warn"
kill -CONT "$cr_pid"
cr_local=$(median <"$W/cr-local"); cr_stopped=$(median <"$W/cr-stopped")
echo
echo "## cache, Redis stopped (SIGSTOP): the same 2,000 tasks, cold (median wall of $REPEAT, alternated)"
echo "cache without a remote:                   $cr_local s"
echo "cache with the stopped remote:            $cr_stopped s   extra = $(awk -v a="$cr_stopped" -v b="$cr_local" 'BEGIN {printf "%.3f s = %.1f%%", a - b, 100 * (a - b) / b}') (goal <= 0.020 s + 2%; warnings in a run: $(tr -d '\n' <"$W/cr-warn"))"

# 3. no-op rebuild of gearbox's own sources: gearbox with depfiles against make
cr_src="$W/cr-src"
mkdir -p "$cr_src"
(cd "$root" && cp -r --parents core plugins sdk/include "$cr_src/")
cr_flags="-O0 -w -std=c11 -D_GNU_SOURCE -I. -Icore -Isdk/include $(pkg-config --cflags lua5.4 jansson 2>/dev/null)"
(
	cd "$cr_src" || exit 1
	srcs=$(find core plugins -name '*.c' | sort)
	{
		echo "OBJ = $(echo "$srcs" | sed 's|^\(.*\)\.c$|objm/\1.o|' | tr '\n' ' ')"
		echo "all: \$(OBJ)"
		echo "objm/%.o: %.c"
		printf '\t@mkdir -p $(dir $@)\n\t@cc %s -MMD -MF $(@:.o=.d) -c $< -o $@\n' "$cr_flags"
		echo "-include \$(OBJ:.o=.d)"
	} >Makefile
	{
		echo '{ "tasks": ['
		n=0
		for s in $srcs; do
			o="obj/${s%.c}.o"
			[ $n -gt 0 ] && echo ","
			printf '{ "id": "%s", "sh": "mkdir -p %s && cc %s -MMD -MF %s -c %s -o %s", "inputs": ["%s"], "outputs": ["%s"], "depfile": "%s" }' \
				"$s" "$(dirname "$o")" "$cr_flags" "${o%.o}.d" "$s" "$o" "$s" "$o" "${o%.o}.d"
			n=$((n + 1))
		done
		echo '] }'
	} >build.json
	echo '{ "plugins": { "cache": { "enabled": true, "dir": ".cache" } } }' >gearbox.json
	echo "$srcs" | wc -l >nsrc
)
cr_n=$(cat "$cr_src/nsrc")
(cd "$cr_src" && "$GBX" run build.json -j2 -q --no-progress >/dev/null 2>&1 && make -s -j2 >/dev/null 2>&1)
: >"$W/cr-make"; : >"$W/cr-gbx"
for i in $(seq 1 "$REPEAT"); do
	(cd "$cr_src" && "$M" make -s -j2) | awk '{print $1}' >>"$W/cr-make"
	(cd "$cr_src" && "$M" "$GBX" run build.json -j2 -q --no-progress --events "$W/cr-noop.jsonl") | awk '{print $1}' >>"$W/cr-gbx"
done
cr_cached=$(grep '"event":"finished"' "$W/cr-noop.jsonl" | grep -c '"label":"cached"')
cr_make=$(median <"$W/cr-make"); cr_gbx=$(median <"$W/cr-gbx")
echo
echo "## cache: no-op rebuild of gearbox's own sources, $cr_n compiles with depfiles, -j2 (median wall of $REPEAT, alternated)"
echo "make -j2 (nothing to do):                 $cr_make s"
echo "gearbox run build.json (every task a hit): $cr_gbx s   gearbox/make = $(ratio "$cr_gbx" "$cr_make") (goal <= 3; $cr_cached of $cr_n cached)"
"$root/tools/redis.sh" stop "$cr_pid"
trap 'rm -rf "$W"' EXIT
