# bench_cache.sh - the cache plugin (sourced by tests/bench/run.sh; BENCH=cache).
# 1. 2,000 sleep tasks (below); 2. light.json, off against on (at the end).
#
# 2,000 tasks of sh -c 'sleep 0.01; echo done' at -j4, each with its index as
# sh's $0 so that every task has a key of its own. Per repetition, in
# alternation: the cache disabled; the cache on and empty (every task a miss:
# the cost of looking up and storing); the same again with the cache full
# (every task a hit). Each cold run gets a new, empty cache dir; none is
# deleted until the end (with $W): removing thousands of files right before a
# run makes ext4 slow to create files for a minute or more, which would
# measure the file system's recovery rather than the cache.
cache_w="$W/cache-2000.json"
echo "{ \"name\": \"cache-bench\", \"matrix\": [ { \"id\": \"t{i}\", \"argv\": [\"sh\", \"-c\", \"sleep 0.01; echo done\", \"{i}\"], \"vars\": { \"i\": [$(seq -s, 0 1999)] } } ] }" >"$cache_w"
: >"$W/cache-off"; : >"$W/cache-cold"; : >"$W/cache-warm"
for i in $(seq 1 "$REPEAT"); do
	echo "{ \"plugins\": { \"cache\": { \"dir\": \"$W/cache-dir-$i\" } } }" >"$W/cache-cfg.json"
	"$M" "$GBX" run "$cache_w" -j4 -q --no-progress --config "$W/cache-cfg.json" | awk '{print $1}' >>"$W/cache-off"
	"$M" "$GBX" run "$cache_w" -j4 -q --no-progress --config "$W/cache-cfg.json" --enable cache | awk '{print $1}' >>"$W/cache-cold"
	"$M" "$GBX" run "$cache_w" -j4 -q --no-progress --config "$W/cache-cfg.json" --enable cache | awk '{print $1}' >>"$W/cache-warm"
done
# a check, not a measurement: the warm runs really were all hits
"$GBX" run "$cache_w" -j4 -q --no-progress --config "$W/cache-cfg.json" --enable cache --events "$W/cache-ev.jsonl" >/dev/null 2>&1
cache_hits=$(grep '"event":"finished"' "$W/cache-ev.jsonl" | grep -c '"label":"cached"')
cache_off=$(median <"$W/cache-off"); cache_cold=$(median <"$W/cache-cold"); cache_warm=$(median <"$W/cache-warm")
echo
echo "## cache: 2,000 tasks of sh -c 'sleep 0.01; echo done' at -j4 (median wall of $REPEAT, alternated)"
echo "cache disabled:                         $cache_off s"
echo "cache on, empty (every task a miss):    $cache_cold s   cold/disabled = $(ratio "$cache_cold" "$cache_off") (goal <= 1.05)"
echo "cache on, full (every task a hit):      $cache_warm s   cold/warm = $(ratio "$cache_cold" "$cache_warm") (goal >= 20; $cache_hits of 2000 cached)"

# 2. light.json (200 x true with distinct arguments: nothing to replay), the
# issue's tiny-task case: the cache off against the cache on and empty (every
# task a miss and a store: since entries are written as packs, one file per
# run instead of one per task), and on and full. Goal: on-empty/off <= 1.2.
# A run takes about 0.2 s, so this part does LIGHT_REPEAT rounds (default
# 3 x REPEAT): a median of 3 such short runs is mostly the machine's noise.
lt_w="$root/examples/workloads/light.json"
lt_n=${LIGHT_REPEAT:-$((REPEAT * 3))}
: >"$W/lt-off"; : >"$W/lt-cold"; : >"$W/lt-warm"
for i in $(seq 1 "$lt_n"); do
	echo "{ \"plugins\": { \"cache\": { \"dir\": \"$W/lt-dir-$i\" } } }" >"$W/lt-cfg.json"
	"$M" "$GBX" run "$lt_w" -j2 -q --no-progress --config "$W/lt-cfg.json" | awk '{print $1}' >>"$W/lt-off"
	"$M" "$GBX" run "$lt_w" -j2 -q --no-progress --config "$W/lt-cfg.json" --enable cache | awk '{print $1}' >>"$W/lt-cold"
	"$M" "$GBX" run "$lt_w" -j2 -q --no-progress --config "$W/lt-cfg.json" --enable cache | awk '{print $1}' >>"$W/lt-warm"
done
lt_off=$(median <"$W/lt-off"); lt_cold=$(median <"$W/lt-cold"); lt_warm=$(median <"$W/lt-warm")
echo
echo "## cache: examples/workloads/light.json, 200 x true at -j2 (median wall of $lt_n, alternated)"
echo "cache off:                              $lt_off s"
echo "cache on, empty (every task a miss):    $lt_cold s   on/off = $(ratio "$lt_cold" "$lt_off") (goal <= 1.2)"
echo "cache on, full (every task a hit):      $lt_warm s   on/off = $(ratio "$lt_warm" "$lt_off")"
