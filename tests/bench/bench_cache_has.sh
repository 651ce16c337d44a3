# bench_cache_has.sh - what cache.has(task) costs a policy when the cache has
# a remote (sourced by tests/bench/run.sh; BENCH=cache_has). A real
# redis-server is started here (tools/redis.sh) and stopped by its PID.
#
# 2,000 `true {i}` tasks at -j2, all ready at the start, with a scheduling
# policy that runs what the cache has first (so cache.has is called once per
# task, on the dispatcher, under the engine's lock). Cold every time: a new
# cache dir and a new remote namespace, so memory and disk miss and every
# cache.has asks Redis (one EXISTS) and is false. In alternation, REPEAT times:
#   local   the cache without a remote, with the policy
#   remote  the cache with the remote (2 s deadline: the round trip itself,
#           not a breaker tripped by a loaded machine), without the policy
#   has     the same with the policy: has - remote = 2,000 EXISTS round trips
#   stopped the remote stopped (SIGSTOP), default 20 ms deadline, with the
#           policy; against local. Goal: one deadline + 2% at most (the first
#           cache.has waits the deadline and opens the breaker; after that
#           has and lookups answer at once).
ch_start=$("$root/tools/redis.sh" start "$W/redis-has") || { echo "cache_has: redis-server did not start"; return 0 2>/dev/null || exit 0; }
ch_pid=${ch_start% *}
ch_sock=${ch_start#* }
trap 'kill -CONT "$ch_pid" 2>/dev/null; "$root/tools/redis.sh" stop "$ch_pid"; rm -rf "$W"' EXIT
ch_w="$W/ch-2000.json"
echo "{ \"name\": \"cache-has-bench\", \"matrix\": [ { \"id\": \"t{i}\", \"argv\": [\"true\", \"{i}\"], \"vars\": { \"i\": [$(seq -s, 0 1999)] } } ] }" >"$ch_w"
echo 'return { key = function(task) if cache.has(task) then return 0 else return 1 end end }' >"$W/ch-has.lua"
ch_cfg() { # ch_cfg NAME DIR [REMOTE_JSON]
	echo "{ \"plugins\": { \"cache\": { \"enabled\": true, \"dir\": \"$W/$2\"${3:+, $3} } } }" >"$W/ch-$1.json"
}
for v in local remote has stopped; do : >"$W/ch-$v"; done
for i in $(seq 1 "$REPEAT"); do
	ch_cfg local "ch-l-$i"
	ch_cfg remote "ch-r-$i" "\"remote\": \"unix:$ch_sock\", \"remote_deadline_ms\": 2000, \"remote_namespace\": \"r$i\""
	ch_cfg has "ch-h-$i" "\"remote\": \"unix:$ch_sock\", \"remote_deadline_ms\": 2000, \"remote_namespace\": \"h$i\""
	ch_cfg stopped "ch-s-$i" "\"remote\": \"unix:$ch_sock\", \"remote_namespace\": \"s$i\""
	"$M" "$GBX" run "$ch_w" -j2 -q --no-progress --config "$W/ch-local.json" --policy scheduling="$W/ch-has.lua" | awk '{print $1}' >>"$W/ch-local"
	"$M" "$GBX" run "$ch_w" -j2 -q --no-progress --config "$W/ch-remote.json" | awk '{print $1}' >>"$W/ch-remote"
	"$M" "$GBX" run "$ch_w" -j2 -q --no-progress --config "$W/ch-has.json" --policy scheduling="$W/ch-has.lua" | awk '{print $1}' >>"$W/ch-has"
	kill -STOP "$ch_pid"
	"$M" "$GBX" run "$ch_w" -j2 -q --no-progress --config "$W/ch-stopped.json" --policy scheduling="$W/ch-has.lua" | awk '{print $1}' >>"$W/ch-stopped"
	kill -CONT "$ch_pid"
done
ch_l=$(median <"$W/ch-local"); ch_r=$(median <"$W/ch-remote"); ch_h=$(median <"$W/ch-has"); ch_s=$(median <"$W/ch-stopped")
echo
echo "## cache.has with a remote: 2,000 true at -j2, cold, a policy calling cache.has per task (median wall of $REPEAT, alternated)"
echo "cache without a remote, with the policy:    $ch_l s"
echo "cache with the remote, without the policy:  $ch_r s"
echo "cache with the remote, with the policy:     $ch_h s   has/remote = $(ratio "$ch_h" "$ch_r"), $(awk -v a="$ch_h" -v b="$ch_r" 'BEGIN {printf "%+.1f", (a - b) * 1e6 / 2000}') us per cache.has (one EXISTS each)"
echo "the remote stopped (SIGSTOP), the policy:   $ch_s s   extra = $(awk -v a="$ch_s" -v b="$ch_l" 'BEGIN {printf "%.3f s = %.1f%%", a - b, 100 * (a - b) / b}') (goal <= 0.020 s + 2%)"
"$root/tools/redis.sh" stop "$ch_pid"
trap 'rm -rf "$W"' EXIT
