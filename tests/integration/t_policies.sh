# t_policies.sh - Lua policies change what the engine does: the order tasks
# start in, when and how failed tasks are retried, how many run at once; and
# broken policies never stop a run.
. "$(dirname "$0")/lib.sh"
: "${GBX_ROOT:?}"

# order of "started" events
starts() { jq -r 'select(.event=="started") | .id' "$1" | tr '\n' ' '; }

cat >order.json <<'EOF'
{ "tasks": [
    { "id": "a", "kind": "sim", "priority": 1, "deadline_ms": 900, "est_ms": 30 },
    { "id": "b", "kind": "sim", "priority": 9, "deadline_ms": 100, "est_ms": 20 },
    { "id": "c", "kind": "sim", "priority": 5, "deadline_ms": 500, "est_ms": 10 },
    { "id": "d", "kind": "sim", "priority": 3, "deadline_ms": 300, "est_ms": 40 } ] }
EOF
run_gbx run order.json -j1 --events ev0.jsonl
expect "scheduling: built-in order is by priority" test "$(starts ev0.jsonl)" = "b c d a "
run_gbx run order.json -j1 --events ev1.jsonl --policy scheduling=fifo
expect "scheduling: fifo keeps file order" test "$(starts ev1.jsonl)" = "a b c d "
run_gbx run order.json -j1 --events ev2.jsonl --policy scheduling=edf
expect "scheduling: edf runs the earliest deadline first" test "$(starts ev2.jsonl)" = "b d c a "
run_gbx run order.json -j1 --events ev3.jsonl --policy scheduling="$GBX_ROOT/policies/scheduling/sjf.lua"
expect "scheduling: sjf by path runs the shortest first" test "$(starts ev3.jsonl)" = "c b a d "
cat >rev.lua <<'EOF'
-- reverse alphabetical: the key is minus the first byte of the id
return { key = function(task) return -string.byte(task.id) end }
EOF
echo '{ "policies": { "scheduling": "rev.lua" } }' >pc.json
run_gbx run order.json -j1 --events ev4.jsonl --config pc.json
expect "scheduling: a policy named in the config, relative to it" test "$(starts ev4.jsonl)" = "d c b a "

# retry: the policy's delay and its change to the next attempt's timeout
cat >retry.lua <<'EOF'
return { decide = function(task, failure, attempt, stats)
  if attempt >= 3 then return nil end
  if failure.kind == "timeout" then return 50, { timeout_ms = 3000 } end
  return 300
end }
EOF
cat >r.json <<'EOF'
{ "tasks": [ { "id": "flaky", "kind": "sim", "fail_after": 2, "retries": 5 },
             { "id": "slowpoke", "argv": ["sleep", "0.5"], "timeout_ms": 100, "retries": 5 } ] }
EOF
run_gbx run r.json --events rev.jsonl --policy retry=retry.lua
expect "retry: run succeeds" test "$rc" = 0
expect "retry: the policy's delay is used" test "$(jq -r 'select(.event=="retried" and .id=="flaky") | .delay_ms' rev.jsonl | tr '\n' ' ')" = "300 300 "
gap=$(jq -r 'select(.id=="flaky" and (.event=="finished" or .event=="started")) | .t_ms' rev.jsonl | awk 'NR==2 {f=$1} NR==3 {print int($1 - f)}')
expect "retry: the next attempt waits the delay ($gap ms)" test "$gap" -ge 300
expect "retry: a longer timeout on the next attempt lets it finish" sh -c "jq -s -e 'any(.[]; .event==\"finished\" and .id==\"slowpoke\" and .attempt==2 and .ok)' $T/rev.jsonl >/dev/null"
cat >giveup.lua <<'EOF'
return { decide = function() return nil end }
EOF
run_gbx run r.json --events gev.jsonl --policy retry=giveup.lua
expect "retry: a policy that gives up overrides retries" sh -c "test $rc = 1 && ! grep -q retried $T/gev.jsonl"

# retry: a priority change for the next attempt reorders it
cat >demote.lua <<'EOF'
return { decide = function(task, failure, attempt) return 0, { priority = 1 } end }
EOF
cat >prio.json <<'EOF'
{ "tasks": [ { "id": "a", "kind": "sim", "priority": 20, "fail_after": 1, "retries": 1 },
             { "id": "b", "kind": "sim", "priority": 10 },
             { "id": "c", "kind": "sim", "priority": 10 } ] }
EOF
echo '{ "retry": { "base_ms": 0 } }' >nodelay.json
run_gbx run prio.json -j1 --config nodelay.json --events pr0.jsonl
expect "retry: built-in keeps the priority (a a b c)" test "$(starts pr0.jsonl)" = "a a b c "
run_gbx run prio.json -j1 --config nodelay.json --events pr1.jsonl --policy retry=demote.lua
expect "retry: the policy's priority change sends a to the back (a b c a)" test "$(starts pr1.jsonl)" = "a b c a "

# scaling: concurrency follows the policy
cat >grow.lua <<'EOF'
return { interval_ms = 50,
  decide = function(m) if m.elapsed_ms > 300 then return 4 end return 1 end }
EOF
cat >many.json <<'EOF'
{ "matrix": [ { "id": "m{i}", "kind": "sim", "io_ms": 60,
    "vars": { "i": [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30] } } ] }
EOF
echo '{ "jobs": { "min": 1, "max": 8, "initial": 1 } }' >jc.json
run_gbx run many.json --config jc.json --events sev.jsonl --policy scaling=grow.lua
maxrun=$(jq -r 'select(.event=="started" or .event=="finished") | .event' sev.jsonl |
	awk '/started/ {n++} /finished/ {n--} {if (n > m) m = n} END {print m}')
first=$(jq -r 'select(.event=="started" or .event=="finished") | .event' sev.jsonl | head -4 | tr '\n' ' ')
expect "scaling: run succeeds" test "$rc" = 0
expect "scaling: one at a time at first" test "$first" = "started finished started finished "
expect "scaling: four at once after the policy said so" test "$maxrun" = 4
expect "scaling: scaled event" sh -c "jq -s -e 'any(.[]; .event==\"scaled\" and .jobs==4)' $T/sev.jsonl >/dev/null"
cat >huge.lua <<'EOF'
return { interval_ms = 20, decide = function(m) return 1000 end }
EOF
run_gbx run many.json --config jc.json --events hev.jsonl --policy scaling=huge.lua
expect "scaling: clamped to jobs.max" sh -c "jq -s -e 'any(.[]; .event==\"scaled\" and .jobs == 8) and all(.[]; .event!=\"scaled\" or .jobs <= 8)' $T/hev.jsonl >/dev/null"

# broken policies: the run completes, with one clear message each
cat >small.json <<'EOF'
{ "matrix": [ { "id": "s{i}", "kind": "sim", "vars": { "i": [1,2,3,4,5,6,7,8,9,10] } } ] }
EOF
cat >loop.lua <<'EOF'
return { key = function(task)
  while true do end
end }
EOF
run_gbx run small.json --policy scheduling=loop.lua
expect "infinite loop: run completes" test "$rc" = 0
expect "infinite loop: one message naming file and budget" sh -c "test \$(grep -c 'loop.lua' $T/err) = 1 && grep -q 'budget' $T/err"
cat >hog.lua <<'EOF'
local keep = {}
return { key = function(task)
  while true do keep[#keep + 1] = string.rep("x", 1024) .. #keep end
end }
EOF
run_gbx run small.json --policy scheduling=hog.lua
expect "unbounded allocation: run completes" test "$rc" = 0
expect "unbounded allocation: one message" sh -c "test \$(grep -c 'hog.lua' $T/err) = 1 && grep -q 'memory' $T/err"
cat >syntax.lua <<'EOF'
return { key = function(task)
  return task.priority +
end }
EOF
run_gbx run small.json --policy scheduling=syntax.lua
expect "syntax error: run completes" test "$rc" = 0
expect "syntax error: one message with file and line" sh -c "test \$(grep -c 'syntax.lua' $T/err) = 1 && grep -q 'syntax.lua:3' $T/err"
cat >str.lua <<'EOF'
return { key = function(task) return "soon" end }
EOF
run_gbx run small.json --policy scheduling=str.lua
expect "string instead of number: run completes" test "$rc" = 0
expect "string instead of number: one message" sh -c "test \$(grep -c 'str.lua' $T/err) = 1 && grep -q 'string' $T/err"
run_gbx run small.json --policy scheduling=no-such-file.lua
expect "missing policy file: exit 2 naming it" sh -c "test $rc = 2 && grep -q 'no-such-file.lua' $T/err"
run_gbx run small.json --policy sched=fifo
expect "bad --policy kind: exit 2" test "$rc" = 2

# check dry-calls policies and reports errors with lines
cat >bad-retry.lua <<'EOF'
return { decide = function(task, failure, attempt, stats)
  return failure.nosuch.field
end }
EOF
run_gbx check small.json --policy retry=bad-retry.lua
expect "check: a policy error is reported with its line" sh -c "test $rc = 2 && grep -q 'bad-retry.lua:2' $T/err"
run_gbx check small.json --policy scheduling=syntax.lua
expect "check: a syntax error is exit 2 with its line" sh -c "test $rc = 2 && grep -q 'syntax.lua:3' $T/err"
run_gbx check small.json --policy scheduling=edf --policy retry=adaptive --policy scaling=target
expect "check: bundled policies pass" test "$rc" = 0

# hot reload on SIGHUP: a broken new version keeps the old one, a good one is used
cat >hot.lua <<'EOF'
return { key = function(task) return 0 end }
EOF
cat >slow.json <<'EOF'
{ "matrix": [ { "id": "h{i}", "kind": "sim", "io_ms": 100, "vars": { "i": [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20] } } ] }
EOF
"$GBX" run slow.json -j1 --policy scheduling=hot.lua --events hot.jsonl >hout 2>herr &
pid=$!
i=0; while ! grep -q '"started"' hot.jsonl 2>/dev/null && [ $i -lt 200 ]; do i=$((i+1)); sleep 0.05; done
echo 'return { key = function(task) return 0 end' >hot.lua
kill -HUP $pid
i=0; while ! grep -q 'reload' herr && [ $i -lt 200 ]; do i=$((i+1)); sleep 0.05; done
echo 'return { key = function(task) return 1 end }' >hot.lua
kill -HUP $pid
i=0; while ! grep -q 'policies reloaded' herr && [ $i -lt 200 ]; do i=$((i+1)); sleep 0.05; done
wait $pid
rc=$?
expect "reload: run completes" test "$rc" = 0
expect "reload: a broken file keeps the old policy and says why" sh -c "grep -q 'reload (SIGHUP) failed' $T/herr && grep -q 'hot.lua' $T/herr"
expect "reload: a good file is taken" has "policies reloaded (SIGHUP)" herr

# --watch-policies: a changed file is reloaded without a signal
echo 'return { key = function(task) return 0 end }' >watched.lua
"$GBX" run slow.json -j1 --policy scheduling=watched.lua --watch-policies --events wat.jsonl >wout 2>werr &
pid=$!
i=0; while ! grep -q '"started"' wat.jsonl 2>/dev/null && [ $i -lt 200 ]; do i=$((i+1)); sleep 0.05; done
echo 'return { key = function(task) return 1 end } -- changed' >watched.lua
i=0; while ! grep -q 'policies reloaded' werr && [ $i -lt 200 ]; do i=$((i+1)); sleep 0.05; done
wait $pid
rc=$?
expect "watch: run completes" test "$rc" = 0
expect "watch: the changed file is reloaded" has "policies reloaded (file changed)" werr
