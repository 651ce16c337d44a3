# t_ratelimit.sh - the ratelimit plugin with many tasks waiting on one
# target (plugins/ratelimit, docs/resources.md): each waiter holds a ticket
# and comes back when its own token is due, so the deferrals stay about one
# per waiting task (before tickets every waiter came back at every token:
# about n^2 / 2 deferrals for n waiters); the rate still holds within one
# token over any window; tasks of another target are not held behind
# them; they start in the order they first waited; waiters that all come
# back late (a busy worker) then use the rate; a waiter that is shed gives
# its ticket back.
# (t_resources.sh checks the bucket with two targets and bad config.)
. "$(dirname "$0")/lib.sh"

jqok() { jq -e "$@" >/dev/null; }

# 120 tasks on "api" at 80/s with a burst of 1 (1.5 s), then 24 on "other",
# whose bucket never runs dry. 80/s, not more: under ASan at a load of 15 a
# waiter often comes back a few ms late, and past half a token late its
# token is partly lost and a waiter queues again (at 240/s: up to 258 of 240)
N=${RL_N:-120} RATE=${RL_RATE:-80}
awk -v n=$N 'BEGIN { printf "{\"tasks\": ["
	for (i = 0; i < n; i++) printf "%s{\"id\":\"a%d\",\"kind\":\"sim\",\"target\":\"api\"}", i ? "," : "", i
	for (i = 0; i < 24; i++) printf ",{\"id\":\"o%d\",\"kind\":\"sim\",\"target\":\"other\"}", i
	printf "]}\n" }' >many.json
echo '{"history": false, "plugins": {"ratelimit": {"enabled": true, "rate": '"$RATE"', "burst": 1,
  "targets": {"other": {"rate": 100000, "burst": 100}}}}}' >many-cfg.json
run_gbx run many.json --config many-cfg.json -j 4 --events ev.jsonl --no-progress
expect "$N waiters on one target: the run succeeds" sh -c "[ '$rc' = 0 ]"

# deferrals: the plugin's own count and the engine's events agree, and stay
# under 2 per task
dp=$(jq -s '[.[] | select(.event == "ratelimit.summary")][0].deferred // -1' ev.jsonl)
de=$(jq -s '[.[] | select(.event == "deferred")] | length' ev.jsonl)
expect "$N waiters: $dp deferrals ($de events), under 2 x $N" \
	sh -c "[ '$dp' = '$de' ] && [ '$dp' -ge $((N - 2)) ] && [ '$dp' -lt $((2 * N)) ]"

# the rate holds within one token over any window of api's starts
worst=$(jq -s --argjson rate $RATE --argjson burst 1 '
  [.[] | select(.event == "started" and (.id | startswith("a"))) | .t_ms] | sort as $t
  | [range(0; $t | length) as $i | range($i; $t | length) as $j
     | ($j - $i + 1) - ($burst + $rate * ($t[$j] - $t[$i]) / 1000)] | max' ev.jsonl)
span=$(jq -s '[.[] | select(.event == "started" and (.id | startswith("a"))) | .t_ms] | (max - min)' ev.jsonl)
expect "$N waiters: $RATE/s burst 1 holds within one token (excess $worst) and the rate is used (span $span ms)" \
	jqok -n "$worst <= 1 and $span < 1500 * $N / $RATE"

# other's tasks come after api's in the file, yet all start before api's
# 60th start, and none is deferred
expect "tasks of another target are not held behind the waiters" jqok -s '
  ([.[] | select(.event == "started" and (.id | startswith("a"))) | .t_ms] | sort | .[59]) as $a60
  | [.[] | select(.event == "started" and (.id | startswith("o"))) | .t_ms] as $o
  | ($o | length) == 24 and ($o | max) < $a60
    and ([.[] | select(.event == "deferred" and (.id | startswith("o")))] | length) == 0' ev.jsonl

# waiters start in the order they first waited, but for one that came back
# to find its token gone and queued again (each such adds one deferral):
# count the adjacent starts in the wrong order (events of tickets issued
# at once on 4 workers may be logged in another order; a random order
# would give about N / 2)
inv=$(jq -s '
  [.[] | select(.event == "deferred" and .deferrals == 1) | .id] as $wait
  | [.[] | select(.event == "started") | .id | select(. as $x | $wait | index($x))] as $s
  | [range(1; $s | length) as $k | select(($wait | index($s[$k])) < ($wait | index($s[$k - 1])))] | length' ev.jsonl)
requeued=$((de - $(jq -s '[.[] | select(.event == "deferred" and .deferrals == 1)] | length' ev.jsonl)))
expect "waiters start in the order they waited ($inv out of order, $requeued queued again)" \
	sh -c "[ '$inv' -le $((requeued + N / 8)) ]"

# waiters held up by a busy slot (-j1, a 400 ms task) all come back late:
# the first takes the token, the others queue again one token apart from
# then, not behind the places given before (past, so not counted): the
# longest delay given after the block is about 5 tokens (225 ms at 20/s;
# 325 when past places were counted), with a deferral or two each. The
# delays are checked, not the starts: on a loaded machine a waiter may come
# back late once more and push the starts further.
cat >late.json <<'J'
{ "tasks": [
  {"id": "d0", "kind": "sim", "target": "api"}, {"id": "d1", "kind": "sim", "target": "api"},
  {"id": "d2", "kind": "sim", "target": "api"}, {"id": "d3", "kind": "sim", "target": "api"},
  {"id": "d4", "kind": "sim", "target": "api"},
  {"id": "blocker", "kind": "sim", "io_ms": 400},
  {"id": "n0", "kind": "sim", "target": "api", "deps": ["blocker"]},
  {"id": "n1", "kind": "sim", "target": "api", "deps": ["blocker"]} ] }
J
echo '{"history": false, "plugins": {"ratelimit": {"enabled": true, "rate": 20, "burst": 1}}}' >late-cfg.json
run_gbx run late.json --config late-cfg.json -j 1 --policy scheduling=fifo --events evl.jsonl --no-progress
after=$(jq -s '([.[] | select(.event == "finished" and .id == "blocker")][0].t_ms) as $b
  | [.[] | select(.event == "deferred" and .t_ms > $b) | .delay_ms] | max' evl.jsonl)
ndl=$(jq -s '[.[] | select(.event == "deferred")] | length' evl.jsonl)
expect "waiters that come back late queue again from then (longest delay $after ms at 20/s, $ndl deferrals)" \
	sh -c "[ '$rc' = 0 ] && jq -e -n '$after <= 260 and $ndl <= 12' >/dev/null"

# a waiter that ends without coming back gives its ticket back: d1..d4 wait
# for tokens, then are shed (they waited too long behind x0 and x1), and
# n0, ready after them with the bucket full, starts at once
cat >shed.json <<'J'
{ "tasks": [
  {"id": "d0", "kind": "sim", "target": "api", "priority": 3}, {"id": "d1", "kind": "sim", "target": "api", "priority": 3},
  {"id": "d2", "kind": "sim", "target": "api", "priority": 3}, {"id": "d3", "kind": "sim", "target": "api", "priority": 3},
  {"id": "d4", "kind": "sim", "target": "api", "priority": 3},
  {"id": "blocker", "kind": "sim", "io_ms": 300, "priority": 3},
  {"id": "x0", "kind": "sim", "io_ms": 60, "priority": 9, "deps": ["blocker"]},
  {"id": "x1", "kind": "sim", "io_ms": 60, "priority": 9, "deps": ["blocker"]},
  {"id": "n0", "kind": "sim", "target": "api", "deps": ["x0", "x1"]},
  {"id": "n1", "kind": "sim", "target": "api", "deps": ["x0", "x1"]} ] }
J
echo '{"history": false, "shed": {"queue_wait_ms": 100, "below_priority": 5},
  "plugins": {"ratelimit": {"enabled": true, "rate": 20, "burst": 1}}}' >shed-cfg.json
run_gbx run shed.json --config shed-cfg.json -j 1 --policy scheduling=priority --events evs.jsonl --no-progress
expect "a waiter that ends elsewhere (shed) gives its ticket back: the next task starts at once" jqok -s '
  ([.[] | select(.event == "finished" and .failure == "shed") | .id] | sort) == ["d1", "d2", "d3", "d4"]
  and ([.[] | select(.event == "deferred" and .id == "n0")] | length) == 0
  and ([.[] | select(.event == "started" and .id == "n0")] | length) == 1' evs.jsonl
