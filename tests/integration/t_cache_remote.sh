# t_cache_remote.sh - the cache's remote level on a real redis-server (started
# here once, on a unix socket, persistence off, stopped by its PID): two
# processes in two copies of a project share one Redis and run each action
# once in total; identical tasks in one run run once; a corrupt remote entry
# is a miss with a warning; Redis killed mid-run or absent: the run completes
# with one warning.
#
# Every task appends to $T/ran, so "ran once" is counted, not timed.
. "$(dirname "$0")/lib.sh"
: "${GBX_ROOT:?}"

if ! command -v redis-server >/dev/null 2>&1; then
	fail "redis-server is installed (tools/deps.sh installs it)"
	exit 0
fi
REDIS_PIDS=""
trap 'for p in $REDIS_PIDS; do "$GBX_ROOT/tools/redis.sh" stop "$p"; done; rm -rf "$T"' EXIT
start_redis() { # start_redis DIR: sets SOCK and PID
	out=$("$GBX_ROOT/tools/redis.sh" start "$1") || { fail "redis starts" "$out"; exit 0; }
	PID=${out% *}
	SOCK=${out#* }
	REDIS_PIDS="$REDIS_PIDS $PID"
}
start_redis "$T/redis"
rcli() { redis-cli -s "$SOCK" "$@"; }

ran="$T/ran"
: >"$ran"
nran() { wc -l <"$ran" | tr -d ' '; }
jqe() { jq -e "$@" >/dev/null; }
cached_count() { grep '"event":"finished"' "$1" | grep -c '"label":"cached"'; }

# ---- two copies of one project, two processes at once, one Redis ---------------------
mkproject() { # mkproject DIR: 8 tasks; a, b and c are identical to the tasks a2, b2, c2
	mkdir -p "$1/src"
	for i in 1 2 3 4 5 6 7 8; do echo "input $i" >"$1/src/$i.txt"; done
	{
		echo '{ "tasks": ['
		for i in 1 2 3 4 5 6 7 8; do
			sep=,; [ $i = 8 ] && sep=
			echo "{ \"id\": \"t$i\", \"sh\": \"echo t$i >>$ran; sleep 0.1; mkdir -p out; tr a-z A-Z <src/$i.txt >out/$i.txt; cat out/$i.txt\", \"inputs\": [\"src/$i.txt\"], \"outputs\": [\"out/$i.txt\"] }$sep"
		done
		echo '] }'
	} >"$1/w.json"
	echo "{ \"plugins\": { \"cache\": { \"enabled\": true, \"dir\": \".cache\", \"remote\": \"unix:$SOCK\", \"remote_deadline_ms\": 2000 } } }" >"$1/gearbox.json"
}
mkproject one
mkproject two
(cd one && "$GBX" run w.json -j2 --no-progress --events ev.jsonl >out.txt 2>err.txt; echo $? >rc) &
p1=$!
(cd two && "$GBX" run w.json -j2 --no-progress --events ev.jsonl >out.txt 2>err.txt; echo $? >rc) &
p2=$!
wait $p1 $p2
expect "two processes: both ok" test "$(cat one/rc) $(cat two/rc)" = "0 0"
expect "two processes, two checkouts, one Redis: each action ran once in total" test "$(nran)" = 8
expect "two processes: every task's output is there in both copies" \
	sh -c 'for i in 1 2 3 4 5 6 7 8; do test "$(cat one/out/$i.txt)" = "INPUT $i" && test "$(cat two/out/$i.txt)" = "INPUT $i" || exit 1; done'
total=$(( $(cached_count one/ev.jsonl) + $(cached_count two/ev.jsonl) ))
expect "two processes: the other 8 were cached" test "$total" = 8
# stores: entries a run produced; fills: remote hits it wrote to its disk level
cnt() { grep '"event":"cache.stats"' "$2" | sed "s/.*\"$1\":\([0-9]*\).*/\1/"; }
expect "two processes: 8 stores in all, and the other copy's 8 are fills ($(cnt stores one/ev.jsonl)+$(cnt stores two/ev.jsonl) stores, $(cnt fills one/ev.jsonl)+$(cnt fills two/ev.jsonl) fills)" \
	test "$(( $(cnt stores one/ev.jsonl) + $(cnt stores two/ev.jsonl) )):$(( $(cnt fills one/ev.jsonl) + $(cnt fills two/ev.jsonl) ))" = 8:8
expect "two processes: no warning" sh -c "! grep -q warning one/err.txt two/err.txt"

# a third copy with no local cache at all: every task comes from Redis
mkproject three
echo "{ \"plugins\": { \"cache\": { \"enabled\": true, \"dir\": \".cache\", \"remote\": \"unix:$SOCK\", \"remote_deadline_ms\": 2000 }, \"telemetry\": { \"enabled\": true, \"summary\": \"sum.json\", \"prometheus\": \"m.prom\" } } }" >three/gearbox.json
(cd three && "$GBX" run w.json -j2 --no-progress --events ev.jsonl >out.txt 2>err.txt)
expect "a new copy: nothing ran" test "$(nran)" = 8
expect "a new copy: all 8 hits from the remote" grep -q '"hits_remote":8' three/ev.jsonl
expect "a new copy: the 8 written to disk are fills, not stores ($(grep -o '"stores":[0-9]*,"fills":[0-9]*' three/ev.jsonl))" \
	grep -q '"stores":0,"fills":8,' three/ev.jsonl
expect "a new copy: telemetry's plugin_counters say so too" \
	jqe '.plugin_counters | ."cache.fills" == 8 and ."cache.stores" == 0 and ."cache.remote.hits" == 8 and ."cache.disk.misses" == 8' three/sum.json
expect "a new copy: and Prometheus" \
	sh -c "grep -q '^gearbox_plugin_counter{name=\"cache.fills\"} 8\$' three/m.prom && grep -q '^gearbox_plugin_counter{name=\"cache.stores\"} 0\$' three/m.prom"
expect "a new copy: the outputs are restored" test "$(cat three/out/5.txt)" = "INPUT 5"
(cd three && "$GBX" cache stats >stats.txt)
expect "gearbox cache stats: hits from the remote" grep -q 'from remote *8' three/stats.txt
expect "gearbox cache stats: 8 fills, no store" sh -c "grep -q '^fills *8 ' three/stats.txt && grep -q '^stores *0\$' three/stats.txt"
expect "remote hits fill the disk level as one pack, not a file each" \
	test "$(find three/.cache/v1/packs -name '*.pack' | wc -l):$(find three/.cache/v1/entries -type f | wc -l)" = 1:0
echo '{ "plugins": { "cache": { "enabled": true, "dir": ".cache" } } }' >three/local.json
(cd three && "$GBX" run w.json -j2 --no-progress --config local.json --events ev2.jsonl >out2.txt 2>err2.txt)
expect "... which a run without the remote then hits" sh -c "test $(nran) = 8 && grep -q '\"hits_disk\":8' three/ev2.jsonl"

# ---- identical tasks in one run run once ------------------------------------------------
cat >same.json <<EOF2
{ "tasks": [
  { "id": "x1", "sh": "echo same >>$ran; sleep 0.3; echo out" },
  { "id": "x2", "sh": "echo same >>$ran; sleep 0.3; echo out" } ] }
EOF2
: >"$ran"
echo '{ "plugins": { "cache": { "enabled": true, "dir": "c-same" } } }' >same-cfg.json
run_gbx run same.json -j2 --config same-cfg.json --no-progress --events same.jsonl
expect "two identical tasks at once: ok" test "$rc" = 0
expect "two identical tasks at once: ran once" test "$(nran)" = 1
expect "two identical tasks at once: the other replayed it" test "$(cached_count same.jsonl)" = 1
expect "two identical tasks at once: counted as deduplicated" grep -q '"deduped":1' same.jsonl

# ---- a corrupt remote entry is a miss with a warning -------------------------------------
for k in $(rcli --scan --pattern 'gbx1:e:*'); do rcli set "$k" "garbage" >/dev/null; done
: >"$ran"
mkproject four
(cd four && "$GBX" run w.json -j2 --no-progress >out.txt 2>err.txt; echo $? >rc)
expect "corrupt remote entries: the run is ok" test "$(cat four/rc)" = 0
expect "corrupt remote entries: every task ran" test "$(nran)" = 8
expect "corrupt remote entries: a warning names the damage" grep -q 'remote cache entry .* is damaged' four/err.txt
expect "corrupt remote entries: stored again, whole" test "$(rcli get "$(rcli --scan --pattern 'gbx1:e:*' | head -1)" | head -c 4)" = GBXE

# ---- gearbox bench with a remote: cold means cold at every level ------------------------------
# 3 tasks, --repeat 2: the baseline runs them twice, the warm cache once (the
# unmeasured fill), and each of the two cold runs again: 2 + 1 + 2 = 5 runs
# of each. Without a new remote namespace per cold run, the cold runs would be
# answered from Redis (filled by the warm fill) and run nothing.
mkdir -p bw
echo "{ \"matrix\": [ { \"id\": \"b{i}\", \"sh\": \"echo b{i} >>$ran; echo out {i}\", \"vars\": { \"i\": [1, 2, 3] } } ] }" >bw/w.json
echo "{ \"plugins\": { \"cache\": { \"enabled\": false, \"remote\": \"unix:$SOCK\", \"remote_deadline_ms\": 2000 } } }" >bw/gearbox.json
: >"$ran"
(cd bw && "$GBX" bench w.json --config gearbox.json --plugins cache --repeat 2 -q --format json >bench.json 2>bench.err; echo $? >rc)
expect "bench with a remote: exit 0" test "$(cat bw/rc)" = 0
expect "bench with a remote: the cold runs ran every task, fresh at every level ($(nran) runs of 3 tasks; want 15)" test "$(nran)" = 15
expect "bench with a remote: each cold run had a namespace of its own in Redis" \
	test "$(rcli --scan --pattern 'gbx1:bench-*:e:*' | sed 's/:e:.*//' | sort -u | wc -l)" -ge 3

# (a generous deadline above: this machine is shared and a first connection
# may take longer than 20 ms; past the deadline a lookup is a miss, by design)

# ---- cache.has(task) asks Redis, within the lookup deadline --------------------------------
# r1 and r2 are only in Redis (their run's cache dir is gone), n1 and n2
# nowhere; a policy runs what the cache has first. -j1: one at a time, in order.
# (r2's 5,000-byte output is a blob: its entry is filled as a file, r1's in a pack)
mkdir -p hasp
cat >hasp/w.json <<EOF2
{ "tasks": [ { "id": "n1", "argv": ["sh", "-c", "echo n1"] }, { "id": "n2", "argv": ["sh", "-c", "echo n2"] },
             { "id": "r1", "argv": ["sh", "-c", "echo r1"] }, { "id": "r2", "argv": ["sh", "-c", "printf %05000d 2"] } ] }
EOF2
echo '{ "tasks": [ { "id": "r1", "argv": ["sh", "-c", "echo r1"] }, { "id": "r2", "argv": ["sh", "-c", "printf %05000d 2"] } ] }' >hasp/pre.json
echo 'return { key = function(task) if cache.has(task) then return 0 else return 1 end end }' >hasp/has.lua
hascfg() { # hascfg DIR DEADLINE_MS
	echo "{ \"plugins\": { \"cache\": { \"enabled\": true, \"dir\": \"$1\", \"remote\": \"unix:$SOCK\", \"remote_deadline_ms\": $2 } } }"
}
started() { grep '"started"' "$1" | sed 's/.*"id":"\([^"]*\)".*/\1/' | tr '\n' ' '; }
hascfg .c-pre 2000 >hasp/pre-cfg.json
(cd hasp && "$GBX" run pre.json --config pre-cfg.json --no-progress >/dev/null 2>pre.err && rm -rf .c-pre)
hascfg .c-has 2000 >hasp/has-cfg.json
(cd hasp && "$GBX" run w.json -j1 --config has-cfg.json --policy scheduling=has.lua --no-progress --events ev.jsonl >out.txt 2>err.txt; echo $? >rc)
expect "cache.has: an entry only in Redis is had, so r1 and r2 start first ($(started hasp/ev.jsonl))" \
	test "$(cat hasp/rc):$(started hasp/ev.jsonl)" = "0:r1 r2 n1 n2 "
expect "cache.has: ... and they were hits from the remote" grep -q '"hits_remote":2,' hasp/ev.jsonl
expect "the 2 hits from the remote are fills (a pack's and a file's), n1 and n2 stores ($(grep -o '"stores":[0-9]*,"fills":[0-9]*' hasp/ev.jsonl))" \
	sh -c "grep -q '\"stores\":2,\"fills\":2,' hasp/ev.jsonl && test \$(find hasp/.c-has/v1/entries -type f | wc -l) = 1"
expect "cache.has: no warning" sh -c '! grep -q warning hasp/err.txt'
# Redis stopped (SIGSTOP: it accepts a connection and never answers): has is
# false, the first call within the 400 ms deadline, which opens the breaker,
# so the other calls and the lookups answer at once ("queued" follows each
# task's key, in the run's own clock)
hascfg .c-stop 400 >hasp/stop-cfg.json
kill -STOP "$PID"
(cd hasp && timeout 60 "$GBX" run w.json -j1 --config stop-cfg.json --policy scheduling=has.lua --no-progress --events evs.jsonl >outs.txt 2>errs.txt; echo $? >rc)
hascfg .c-check 400 >hasp/check-cfg.json
(cd hasp && timeout 60 "$GBX" check w.json --config check-cfg.json --policy scheduling=has.lua >check.out 2>&1; echo $? >rc-check)
kill -CONT "$PID"
expect "gearbox check tries the has policy without asking Redis: ok, no warning" \
	sh -c 'test "$(cat hasp/rc-check)" = 0 && ! grep -q "remote cache" hasp/check.out'
queued=$(grep '"queued"' hasp/evs.jsonl | sed 's/.*"t_ms":\([0-9.]*\).*/\1/' | tr '\n' ' ')
expect "Redis stopped: has is false (submission order), the run is ok ($(started hasp/evs.jsonl))" \
	test "$(cat hasp/rc):$(started hasp/evs.jsonl)" = "0:n1 n2 r1 r2 "
expect "Redis stopped: the first has waits the deadline, not past it, and the rest not at all (queued at ms: $queued)" \
	awk -v q="$queued" 'BEGIN { n = split(q, t, " "); exit !(n == 4 && t[1] >= 380 && t[4] < 600) }'
expect "Redis stopped: has opened the breaker, so every lookup skipped Redis; one warning ($(grep -o '"remote_skipped":[0-9]*' hasp/evs.jsonl); $(cat hasp/errs.txt | grep -c 'remote cache') warnings)" \
	sh -c 'grep -q "\"remote_skipped\":4," hasp/evs.jsonl && test "$(grep -c "remote cache" hasp/errs.txt)" = 1'

# ---- Redis killed in the middle of a run --------------------------------------------------
start_redis "$T/redis2"
kill_pid=$PID
mkdir -p mid
cat >mid/w.json <<EOF2
{ "tasks": [
  { "id": "first", "sh": "echo first >>$ran; touch started; while [ ! -e go ]; do sleep 0.01; done" },
  $(for i in 1 2 3 4 5 6 7 8 9 10; do echo "{ \"id\": \"m$i\", \"deps\": [\"first\"], \"sh\": \"echo m$i >>$ran\" },"; done)
  { "id": "last", "deps": ["first"], "sh": "echo last >>$ran" } ] }
EOF2
echo "{ \"plugins\": { \"cache\": { \"enabled\": true, \"dir\": \".cache\", \"remote\": \"unix:$SOCK\" } } }" >mid/gearbox.json
: >"$ran"
(cd mid && "$GBX" run w.json -j2 --no-progress >out.txt 2>err.txt; echo $? >rc) &
pm=$!
i=0
while [ ! -e mid/started ] && [ $i -lt 1000 ]; do sleep 0.01; i=$((i + 1)); done
"$GBX_ROOT/tools/redis.sh" stop "$kill_pid"
touch mid/go
wait $pm
expect "Redis killed mid-run: the run completes ok" test "$(cat mid/rc)" = 0
expect "Redis killed mid-run: every task ran" test "$(nran)" = 12
expect "Redis killed mid-run: exactly one warning" test "$(grep -c 'remote cache' mid/err.txt)" = 1

# ---- no Redis at all -------------------------------------------------------------------------
mkdir -p none
cp mid/w.json none/w.json
echo "{ \"plugins\": { \"cache\": { \"enabled\": true, \"dir\": \".cache\", \"remote\": \"unix:$T/nothing.sock\" } } }" >none/gearbox.json
touch none/go
(cd none && "$GBX" run w.json -j2 --no-progress >out.txt 2>err.txt; echo $? >rc)
expect "no Redis: the run is ok" test "$(cat none/rc)" = 0
expect "no Redis: one warning" test "$(grep -c 'remote cache' none/err.txt)" = 1

# ---- bad configuration -----------------------------------------------------------------------
echo '{ "plugins": { "cache": { "enabled": true, "remote": "http://x" } } }' >bad.json
run_gbx run w.json --config bad.json
expect "a bad remote URL: exit 2 naming the key" sh -c "test $rc = 2 && grep -q 'remote: expected' '$T/err'"
