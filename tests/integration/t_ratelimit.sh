# t_ratelimit.sh - the ratelimit plugin with many tasks waiting on one
# target (plugins/ratelimit, docs/resources.md): each waiter holds a ticket
# and comes back when its own token is due, so the deferrals stay about one
# per waiting task (before tickets every waiter came back at every token:
# about n^2 / 2 deferrals for n waiters); the rate still holds within one
# token over any window; tasks of another target are not held behind
# them; and they start in the order they first waited.
# (t_resources.sh checks the bucket with two targets and bad config.)
. "$(dirname "$0")/lib.sh"

jqok() { jq -e "$@" >/dev/null; }

# 240 tasks on "api" at 240/s with a burst of 1 (a second), then 24 on
# "other", whose bucket never runs dry
N=240
awk -v n=$N 'BEGIN { printf "{\"tasks\": ["
	for (i = 0; i < n; i++) printf "%s{\"id\":\"a%d\",\"kind\":\"sim\",\"target\":\"api\"}", i ? "," : "", i
	for (i = 0; i < 24; i++) printf ",{\"id\":\"o%d\",\"kind\":\"sim\",\"target\":\"other\"}", i
	printf "]}\n" }' >many.json
echo '{"history": false, "plugins": {"ratelimit": {"enabled": true, "rate": 240, "burst": 1,
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
worst=$(jq -s --argjson rate 240 --argjson burst 1 '
  [.[] | select(.event == "started" and (.id | startswith("a"))) | .t_ms] | sort as $t
  | [range(0; $t | length) as $i | range($i; $t | length) as $j
     | ($j - $i + 1) - ($burst + $rate * ($t[$j] - $t[$i]) / 1000)] | max' ev.jsonl)
span=$(jq -s '[.[] | select(.event == "started" and (.id | startswith("a"))) | .t_ms] | (max - min)' ev.jsonl)
expect "$N waiters: 240/s burst 1 holds within one token (excess $worst) and the rate is used (span $span ms)" \
	jqok -n "$worst <= 1 and $span < 1500"

# other's tasks come after api's in the file, yet all start before api's
# 60th start, and none is deferred
expect "tasks of another target are not held behind the waiters" jqok -s '
  ([.[] | select(.event == "started" and (.id | startswith("a"))) | .t_ms] | sort | .[59]) as $a60
  | [.[] | select(.event == "started" and (.id | startswith("o"))) | .t_ms] as $o
  | ($o | length) == 24 and ($o | max) < $a60
    and ([.[] | select(.event == "deferred" and (.id | startswith("o")))] | length) == 0' ev.jsonl

# waiters start in the order they first waited, but for one that came back
# to find its token gone and queued again (each such adds one deferral):
# count the adjacent starts in the wrong order
inv=$(jq -s '
  [.[] | select(.event == "deferred" and .deferrals == 1) | .id] as $wait
  | [.[] | select(.event == "started") | .id | select(. as $x | $wait | index($x))] as $s
  | [range(1; $s | length) as $k | select(($wait | index($s[$k])) < ($wait | index($s[$k - 1])))] | length' ev.jsonl)
requeued=$((de - $(jq -s '[.[] | select(.event == "deferred" and .deferrals == 1)] | length' ev.jsonl)))
expect "waiters start in the order they waited ($inv out of order, $requeued queued again)" \
	sh -c "[ '$inv' -le $((requeued + 4)) ]"
