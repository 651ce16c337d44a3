# t_pool.sh - the pool plugin end to end with the real binary and the two
# example workers (examples/workers/worker.py, worker.c): the same python3 -c
# workload gives the same output with and without the pool; a worker killed
# mid-request is replaced and the task retried; a worker that writes garbage
# or hangs past the task's timeout is killed and replaced with a clear
# message; max_requests recycles workers; the C worker and the argument rule;
# pool.size/pool.idle from a Lua policy; config errors; multiplex workers
# (the same results, answers out of order matched by requestId, a worker
# killed, hung or writing garbage with several requests in flight: all of
# them fail with it, are retried and answered once); the run's stop (Ctrl-C,
# SIGTERM, --halt now) cuts a request in flight short at once, --halt soon
# does not; and no worker process is left behind after any run.
. "$(dirname "$0")/lib.sh"
: "${GBX_ROOT:?}"
unset GEARBOX_PLUGIN_PATH
command -v python3 >/dev/null || { echo "ok - pool: skipped, no python3 (tools/deps.sh installs it)"; exit 0; }

cp "$GBX_ROOT/examples/workers/worker.py" "$T/worker.py"
cc -O2 -o "$T/cworker" "$GBX_ROOT/examples/workers/worker.c" || fail "C worker builds"
# no_leftovers NAME: no worker of this test is alive any more
no_leftovers() {
	if pgrep -f "$T/worker.py" >/dev/null || pgrep -f "$T/cworker" >/dev/null; then
		fail "$1: no worker process left" "$(ps -ef | grep "$T" | grep -v grep)"
	else
		pass "$1: no worker process left"
	fi
}
count() { grep -c -- "$1" "$2"; }
started_order() { grep '"event":"started"' "$1" | sed 's/.*"id":"\([^"]*\)".*/\1/' | tr '\n' ' '; }

cat >cfg.json <<EOF
{ "plugins": { "pool": { "pools": {
    "py": { "command": ["python3", "$T/worker.py"], "match": "python3", "min": 2, "max": 2 },
    "py1": { "command": ["python3", "$T/worker.py", "single"], "max": 1 },
    "rec": { "command": ["python3", "$T/worker.py", "recycled"], "max": 1, "max_requests": 2 },
    "c": { "command": ["$T/cworker"], "match": "sumit" } } } } }
EOF

# ---- the same results with and without the pool ------------------------------
{
	echo '{ "tasks": ['
	for i in $(seq 1 40); do
		echo "{ \"id\": \"t$i\", \"argv\": [\"python3\", \"-c\", \"import sys; n = int(sys.argv[1]); print(n, sum(k * k for k in range(n)), repr('x\\\\ty' * (n % 3)))\", \"$i\"] }$([ "$i" -lt 40 ] && echo ,)"
	done
	echo '] }'
} >same.json
run_gbx run same.json -j4 --no-progress
sort out >direct.txt
expect "without the pool: all 40 ok" test "$rc" = 0 -a "$(wc -l <direct.txt)" = 40
run_gbx run same.json -j4 --config cfg.json --enable pool --events ev-same.jsonl --no-progress
sort out >pooled.txt
expect "with the pool: all 40 ok" test "$rc" = 0
expect "with the pool: output identical to python3 -c" cmp -s direct.txt pooled.txt
expect "with the pool: every task answered by the pool" test "$(grep '"event":"finished"' ev-same.jsonl | count '"label":"pool"' -)" = 40
expect "with the pool: two workers started, none replaced" has '"event":"pool.summary","pool":"py","started":2,"requests":40,"replaced":0' ev-same.jsonl
no_leftovers "same results"

# ---- a worker killed mid-request is replaced and the task retried -------------
cat >kill.json <<EOF
{ "tasks": [
  { "id": "victim", "retries": 1, "argv": ["python3", "-c", "import os\nif not os.path.exists('$T/killed'):\n    open('$T/killed', 'w').close()\n    os.kill(os.getpid(), 9)\nprint('survived')"] },
  { "id": "after", "deps": ["victim"], "argv": ["python3", "-c", "print('after')"] } ] }
EOF
run_gbx run kill.json -j2 --config cfg.json --enable pool --events ev-kill.jsonl --no-progress
expect "killed worker: run succeeds after a retry" test "$rc" = 0
expect "killed worker: the retry printed its output" has survived out
expect "killed worker: attempt 1 failed with kind error" sh -c "grep '\"event\":\"finished\",\"id\":\"victim\",\"attempt\":1' ev-kill.jsonl | grep -q '\"failure\":\"error\"'"
expect "killed worker: attempt 2 ok, through the pool" sh -c "grep '\"event\":\"finished\",\"id\":\"victim\",\"attempt\":2' ev-kill.jsonl | grep '\"ok\":true' | grep -q '\"label\":\"pool\"'"
expect "killed worker: a pool.replaced event says how it died" sh -c "grep '\"event\":\"pool.replaced\"' ev-kill.jsonl | grep '\"why\":\"died\"' | grep -q 'killed by signal 9 while running task victim'"
expect "killed worker: exactly one finished event per attempt" test "$(count '"event":"finished","id":"victim"' ev-kill.jsonl)" = 2
no_leftovers "killed worker"

# ---- a worker that writes garbage is replaced with a clear message ------------
cat >garbage.json <<EOF
{ "defaults": { "retries": 0 },
  "tasks": [
  { "id": "noisy", "pool": "py1", "argv": ["python3", "-c", "import sys; sys.__stdout__.write('this is not json\\\\n'); print('ok')"] },
  { "id": "calm", "pool": "py1", "argv": ["python3", "-c", "print('calm')"] } ] }
EOF
run_gbx run garbage.json -j1 --config cfg.json --enable pool --events ev-garbage.jsonl --no-progress
expect "garbage: the run fails (exit 1)" test "$rc" = 1
expect "garbage: the summary names the worker and the line" sh -c "grep 'noisy' '$T/err' | grep -q 'pool py1: worker [0-9]* wrote a malformed line while running task noisy: this is not json; killed and replaced' || grep -q 'pool py1: worker [0-9]* wrote a malformed line while running task noisy: this is not json' '$T/err'"
expect "garbage: failure kind error" sh -c "grep '\"event\":\"finished\",\"id\":\"noisy\"' ev-garbage.jsonl | grep -q '\"failure\":\"error\"'"
expect "garbage: pool.replaced event with why malformed" sh -c "grep '\"event\":\"pool.replaced\"' ev-garbage.jsonl | grep -q '\"why\":\"malformed\"'"
expect "garbage: the next task runs on a fresh worker" sh -c "grep -q '^calm$' '$T/out' && grep '\"event\":\"finished\",\"id\":\"calm\"' ev-garbage.jsonl | grep -q '\"ok\":true'"
no_leftovers "garbage"

# ---- a worker that hangs past the task's timeout ------------------------------
cat >hang.json <<EOF
{ "tasks": [ { "id": "stuck", "pool": "py1", "timeout_ms": 300, "retries": 0,
               "argv": ["python3", "-c", "import time; time.sleep(60)"] } ] }
EOF
cat >hangcfg.json <<EOF
{ "plugins": { "pool": { "pools": {
    "py1": { "command": ["python3", "$T/worker.py", "single"], "max": 1, "min": 1, "startup_timeout_ms": 1000 } } } } }
EOF
t0=$(date +%s)
run_gbx run hang.json --config hangcfg.json --enable pool --events ev-hang.jsonl --no-progress
t1=$(date +%s)
expect "hang: the task fails with kind timeout" sh -c "grep '\"event\":\"finished\",\"id\":\"stuck\"' ev-hang.jsonl | grep -q '\"failure\":\"timeout\"'"
expect "hang: the message says so" grep -q 'pool py1: worker [0-9]* did not answer task stuck within' "$T/err"
expect "hang: over in seconds, not a minute ($((t1 - t0)) s)" test $((t1 - t0)) -lt 20
no_leftovers "hang"

# ---- max_requests recycles workers --------------------------------------------
{
	echo '{ "tasks": ['
	for i in 1 2 3 4 5 6; do
		echo "{ \"id\": \"r$i\", \"pool\": \"rec\", \"argv\": [\"python3\", \"-c\", \"import os; print('pid', os.getpid())\"] }$([ $i -lt 6 ] && echo ,)"
	done
	echo '] }'
} >rec.json
run_gbx run rec.json -j1 --config cfg.json --enable pool --events ev-rec.jsonl --no-progress
npids=$(grep '^pid ' out | sort -u | wc -l)
expect "max_requests 2: 6 requests on 3 workers ($npids)" test "$npids" = 3
expect "max_requests 2: the summary counts them" has '"pool":"rec","started":3,"requests":6,"replaced":0,"recycled":3' ev-rec.jsonl
no_leftovers "max_requests"

# ---- the C worker, and the argument rule --------------------------------------
cat >c.json <<EOF
{ "tasks": [
  { "id": "prefix", "pool": "c", "argv": ["$T/cworker", "--sum", "1", "2", "3.5"] },
  { "id": "match", "argv": ["sumit", "--echo", "matched", "by", "argv0"] },
  { "id": "whole", "pool": "c", "retries": 0, "argv": ["--echo", "whole", "argv"] },
  { "id": "code", "pool": "c", "retries": 0, "argv": ["$T/cworker", "--exit", "3"] },
  { "id": "optout", "pool": false, "retries": 0, "argv": ["python3", "-c", "print('ran directly')"] } ] }
EOF
run_gbx run c.json -j2 --config cfg.json --enable pool --events ev-c.jsonl --no-progress
expect "C worker: the pool command's prefix is stripped" grep -qx '6.5' out
expect "C worker: a match strips argv[0]" grep -qx 'matched by argv0' out
expect "C worker: another argv is sent whole" grep -qx 'whole argv' out
expect "C worker: exitCode 3 is a failure of kind exit" sh -c "grep '\"event\":\"finished\",\"id\":\"code\"' ev-c.jsonl | grep '\"exit\":3' | grep -q '\"failure\":\"exit\"'"
expect "\"pool\": false runs the task as usual" sh -c "grep -qx 'ran directly' '$T/out' && ! grep '\"event\":\"finished\",\"id\":\"optout\"' ev-c.jsonl | grep -q label"
no_leftovers "C worker"

# ---- pool.size / pool.idle from a Lua scheduling policy -----------------------
cat >lua.json <<'EOF'
{ "tasks": [
  { "id": "r", "argv": ["python3", "-c", "print('r')"] },
  { "id": "d1", "deps": ["r"], "argv": ["python3", "-c", "print('d1')"] },
  { "id": "d2", "deps": ["r"], "argv": ["python3", "-c", "print('d2')"] },
  { "id": "d3", "deps": ["r"], "argv": ["python3", "-c", "print('d3')"] },
  { "id": "d4", "deps": ["r"], "argv": ["python3", "-c", "print('d4')"] } ] }
EOF
cat >sched.lua <<'EOF'
-- py has min 2 = max 2: size 2, and both idle once r is done
return { key = function(task)
  if task.id == "d1" then return pool.size("py")          -- 2
  elseif task.id == "d2" then return 1.5
  elseif task.id == "d3" then return pool.idle("py") + 0.6 -- 2.6
  elseif task.id == "d4" then if pool.size("nope") == nil then return 3 else return -1 end
  end
  return 0 end }
EOF
run_gbx run lua.json -j1 --config cfg.json --enable pool --policy scheduling=sched.lua --events ev-lua.jsonl --no-progress
order=$(started_order ev-lua.jsonl)
expect "pool.size/pool.idle: the keys they gave order the tasks ($order)" test "$order" = "r d2 d1 d3 d4 "
expect "pool.size/pool.idle: no policy error" sh -c "! grep -q 'sched.lua' '$T/err'"
no_leftovers "Lua"

# ---- multiplex: the same results, several requests in flight per worker -------
cat >mxcfg.json <<EOF
{ "plugins": { "pool": { "pools": {
    "mx": { "command": ["python3", "$T/worker.py", "mx"], "match": "python3", "multiplex": true, "max": 2, "max_inflight": 4 },
    "one": { "command": ["python3", "$T/worker.py", "one"], "multiplex": true, "max": 1, "max_inflight": 4 },
    "cmx": { "command": ["$T/cworker", "--persistent_worker"], "multiplex": true, "max": 1, "max_inflight": 3 },
    "hang": { "command": ["python3", "$T/worker.py", "hang"], "multiplex": true, "min": 1, "max": 1, "startup_timeout_ms": 0 },
    "liar": { "command": ["python3", "$T/worker.py", "liar"], "multiplex": true, "max": 1 } } } } }
EOF
run_gbx run same.json -j8 --config mxcfg.json --enable pool --events ev-mx.jsonl --no-progress
sort out >mx.txt
expect "multiplex: all 40 ok" test "$rc" = 0
expect "multiplex: output identical to python3 -c" cmp -s direct.txt mx.txt
expect "multiplex: every task answered by the pool" test "$(grep '"event":"finished"' ev-mx.jsonl | count '"label":"pool"' -)" = 40
expect "multiplex: at most two workers for 40 requests, none replaced" grep -q '"event":"pool.summary","pool":"mx","started":[12],"requests":40,"replaced":0' ev-mx.jsonl
no_leftovers "multiplex same results"

# a slow request and fast ones on one worker: the slow one is answered only
# after three requests that reached the worker after it were answered
# (worker.py --after 3; it fails if that never happens), so answers come back
# out of order and must still land on their own tasks
{
	echo '{ "defaults": { "retries": 0 }, "tasks": ['
	echo '{ "id": "slow", "pool": "one", "argv": ["python3", "--after", "3", "-c", "print(\"I am slow\")"] },'
	for i in 1 2 3 4 5 6; do
		echo "{ \"id\": \"fast$i\", \"pool\": \"one\", \"argv\": [\"python3\", \"-c\", \"print('I am fast$i')\"] }$([ $i -lt 6 ] && echo ,)"
	done
	echo '] }'
} >ooo.json
run_gbx run ooo.json -j4 --config mxcfg.json --enable pool --events ev-ooo.jsonl --output-dir outs --no-progress
expect "out of order: all 7 ok on one worker" sh -c "test $rc = 0 && grep -q '\"pool\":\"one\",\"started\":1,\"requests\":7,\"replaced\":0' ev-ooo.jsonl"
ok=1
for t in slow fast1 fast2 fast3 fast4 fast5 fast6; do
	[ "$(cat "outs/$t.stdout" 2>/dev/null)" = "I am $t" ] || ok=0
done
expect "out of order: every output landed on its own task" test $ok = 1
no_leftovers "out of order"

# the C worker answers in order but echoes each requestId
{
	echo '{ "tasks": ['
	for i in $(seq 1 12); do
		echo "{ \"id\": \"c$i\", \"pool\": \"cmx\", \"argv\": [\"$T/cworker\", \"--sum\", \"$i\", \"1000\"] }$([ $i -lt 12 ] && echo ,)"
	done
	echo '] }'
} >cmx.json
run_gbx run cmx.json -j4 --config mxcfg.json --enable pool --output-dir couts --no-progress
ok=1
for i in $(seq 1 12); do [ "$(cat "couts/c$i.stdout" 2>/dev/null)" = "$((i + 1000))" ] || ok=0; done
expect "multiplex C worker: 12 sums, each on its task" test "$rc" = 0 -a $ok = 1
no_leftovers "multiplex C worker"

# blocker NAME: python code that on its first attempt stays in flight until
# its worker dies (gbx_worker.hold), and on later attempts prints "NAME ok"
blocker() {
	printf '%s' "import os, gbx_worker\\np = '$T/seen-$1'\\nif not os.path.exists(p):\\n    open(p, 'w').close()\\n    gbx_worker.hold()\\nprint('$1 ok')"
}

# a worker killed with three requests in flight: all three fail with it, are
# retried on a new worker and answered once
cat >mxkill.json <<EOF
{ "defaults": { "retries": 1 },
  "tasks": [
  { "id": "victim", "pool": "one", "argv": ["python3", "-c", "import os, gbx_worker\\nif not os.path.exists('$T/mkilled'):\\n    open('$T/mkilled', 'w').close()\\n    gbx_worker.wait_held(2)\\n    os.kill(os.getpid(), 9)\\nprint('victim ok')"] },
  { "id": "k1", "pool": "one", "argv": ["python3", "-c", "$(blocker k1)"] },
  { "id": "k2", "pool": "one", "argv": ["python3", "-c", "$(blocker k2)"] } ] }
EOF
run_gbx run mxkill.json -j3 --config mxcfg.json --enable pool --events ev-mxkill.jsonl --journal mxkill.journal --no-progress
expect "multiplex kill: the run succeeds after retries" test "$rc" = 0
expect "multiplex kill: each task printed once" test "$(sort out | tr '\n' ' ')" = "k1 ok k2 ok victim ok "
ok=1
for t in victim k1 k2; do
	[ "$(count "\"event\":\"finished\",\"id\":\"$t\"" ev-mxkill.jsonl)" = 2 ] || ok=0
	grep "\"event\":\"finished\",\"id\":\"$t\",\"attempt\":1" ev-mxkill.jsonl | grep -q '"failure":"error"' || ok=0
	grep "\"event\":\"finished\",\"id\":\"$t\",\"attempt\":2" ev-mxkill.jsonl | grep '"ok":true' | grep -q '"label":"pool"' || ok=0
	[ "$(count "\"id\":\"$t\"" mxkill.journal)" = 1 ] || ok=0
done
expect "multiplex kill: all three failed once with the worker, then ok once (events, journal)" test $ok = 1
expect "multiplex kill: one pool.replaced, naming the three tasks" sh -c "test \$(grep -c '\"event\":\"pool.replaced\"' ev-mxkill.jsonl) = 1 && grep '\"event\":\"pool.replaced\"' ev-mxkill.jsonl | grep '\"why\":\"died\"' | grep '\"tasks\":\\[' | grep -q 'killed by signal 9 with 3 requests in flight'"
expect "multiplex kill: two workers started, one replaced" has '"pool":"one","started":2,"requests":6,"replaced":1' ev-mxkill.jsonl
no_leftovers "multiplex kill"

# garbage, an unknown requestId and a hang, each with a bystander in flight
# (one that holds: its first attempt stays in flight, so it fails with the
# worker)
cat >mxbad.json <<EOF
{ "defaults": { "retries": 0 },
  "tasks": [
  { "id": "noisy", "pool": "one", "argv": ["python3", "-c", "import sys, gbx_worker\\ngbx_worker.wait_held(1)\\nsys.__stdout__.write('this is not json\\\\n')\\nsys.__stdout__.flush()"] },
  { "id": "by1", "pool": "one", "retries": 1, "argv": ["python3", "-c", "$(blocker by1)"] },
  { "id": "liar", "pool": "liar", "argv": ["python3", "-c", "import sys\\nsys.__stdout__.write('{\"exitCode\": 0, \"requestId\": 99999}\\\\n')\\nsys.__stdout__.flush()"] },
  { "id": "stuck", "pool": "hang", "timeout_ms": 1000, "argv": ["python3", "-c", "import gbx_worker\\ngbx_worker.wait_held(1)\\ngbx_worker.hold()"] },
  { "id": "by2", "pool": "hang", "retries": 1, "argv": ["python3", "-c", "$(blocker by2)"] } ] }
EOF
run_gbx run mxbad.json -j5 --config mxcfg.json --enable pool --events ev-mxbad.jsonl --no-progress
expect "multiplex garbage: failure kind error" sh -c "grep '\"event\":\"finished\",\"id\":\"noisy\"' ev-mxbad.jsonl | grep -q '\"failure\":\"error\"'"
expect "multiplex garbage: the message names pool, worker, task and line" grep -q 'pool one: worker [0-9]* wrote a malformed line while running task noisy (2 requests in flight): this is not json; killed and replaced' "$T/err"
expect "multiplex garbage: the bystander failed with it (error), then ok" sh -c "grep '\"event\":\"finished\",\"id\":\"by1\",\"attempt\":1' ev-mxbad.jsonl | grep -q '\"failure\":\"error\"' && grep '\"event\":\"finished\",\"id\":\"by1\",\"attempt\":2' ev-mxbad.jsonl | grep -q '\"ok\":true' && grep -qx 'by1 ok' '$T/out'"
expect "multiplex unknown requestId: failure kind error" sh -c "grep '\"event\":\"finished\",\"id\":\"liar\"' ev-mxbad.jsonl | grep -q '\"failure\":\"error\"'"
expect "multiplex unknown requestId: the message says so" grep -q 'pool liar: worker [0-9]* wrote a response with an unknown requestId while running task liar (1 request in flight): {"exitCode": 0, "requestId": 99999}; killed and replaced' "$T/err"
expect "multiplex hang: the task fails with kind timeout" sh -c "grep '\"event\":\"finished\",\"id\":\"stuck\"' ev-mxbad.jsonl | grep -q '\"failure\":\"timeout\"'"
expect "multiplex hang: the message says so" grep -q 'pool hang: worker [0-9]* did not answer task stuck within 1000 ms (2 requests in flight); killed and replaced' "$T/err"
expect "multiplex hang: the bystander failed with kind error, then ok" sh -c "grep '\"event\":\"finished\",\"id\":\"by2\",\"attempt\":1' ev-mxbad.jsonl | grep -q '\"failure\":\"error\"' && grep '\"event\":\"finished\",\"id\":\"by2\",\"attempt\":2' ev-mxbad.jsonl | grep -q '\"ok\":true'"
for why in malformed 'unknown requestId' timeout; do
	expect "multiplex failures: a pool.replaced event with why $why" sh -c "grep '\"event\":\"pool.replaced\"' ev-mxbad.jsonl | grep -q '\"why\":\"$why\"'"
done
no_leftovers "multiplex failures"

# ---- config errors and start-up failures --------------------------------------
echo '{ "plugins": { "pool": { "pools": { "x": { "command": ["true"], "mni": 1 } } } } }' >bad1.json
run_gbx run lua.json --config bad1.json --enable pool --no-progress
expect "config: an unknown pool key is an error naming it" sh -c "test $rc = 2 && grep -q 'pools.x: unknown key \"mni\"' '$T/err'"
echo '{ "plugins": { "pool": { "pools": { "x": { "min": 1 } } } } }' >bad2.json
run_gbx run lua.json --config bad2.json --enable pool --no-progress
expect "config: command is required" sh -c "test $rc = 2 && grep -q 'pools.x: \"command\" is required' '$T/err'"
echo '{ "plugins": { "pool": { "pools": { "x": { "command": ["true"], "min": 3, "max": 2 } } } } }' >bad3.json
run_gbx run lua.json --config bad3.json --enable pool --no-progress
expect "config: min > max is an error" sh -c "test $rc = 2 && grep -q 'min (3) is larger than max (2)' '$T/err'"
echo '{ "plugins": { "pool": { "pools": { "x": { "command": ["/nonexistent/worker"] } } } } }' >bad4.json
echo '{ "tasks": [ { "id": "s", "pool": "x", "retries": 0, "argv": ["a"] }, { "id": "u", "pool": "nope", "retries": 0, "argv": ["a"] } ] }' >spawn.json
run_gbx run spawn.json --config bad4.json --enable pool --events ev-spawn.jsonl --no-progress
expect "a worker that cannot start: failure kind spawn" sh -c "grep '\"event\":\"finished\",\"id\":\"s\"' ev-spawn.jsonl | grep -q '\"failure\":\"spawn\"' && grep -q 'pool x: cannot start worker /nonexistent/worker' '$T/err'"
expect "an unknown pool name: failure kind error with a message" sh -c "grep '\"event\":\"finished\",\"id\":\"u\"' ev-spawn.jsonl | grep -q '\"failure\":\"error\"' && grep -q 'no pool named nope' '$T/err'"
echo '{ "plugins": { "pool": { "pools": { "x": { "command": ["true"], "max_inflight": 4 } } } } }' >bad5.json
run_gbx run lua.json --config bad5.json --enable pool --no-progress
expect "config: max_inflight without multiplex is an error" sh -c "test $rc = 2 && grep -q 'pools.x.max_inflight: only multiplex workers' '$T/err'"
echo '{ "plugins": { "pool": { "pools": { "x": { "command": ["true"], "multiplex": true, "max_inflight": 0 } } } } }' >bad6.json
run_gbx run lua.json --config bad6.json --enable pool --no-progress
expect "config: max_inflight 0 is an error" sh -c "test $rc = 2 && grep -q 'pools.x.max_inflight: expected an integer from 1 to 1024' '$T/err'"
echo '{ "plugins": { "pool": { "pools": { "x": { "command": ["true"], "multiplex": "yes" } } } } }' >bad7.json
run_gbx run lua.json --config bad7.json --enable pool --no-progress
expect "config: a typed error (plugin_config.h) names the pool, the key and the value" \
	sh -c "test $rc = 2 && grep -qF 'pools.x.multiplex: expected true or false, got \"yes\"' '$T/err'"

# ---- idle_timeout_ms: an idle worker is stopped (singleplex and multiplex) ------
cat >idlecfg.json <<EOF2
{ "plugins": { "pool": { "pools": {
    "i1": { "command": ["python3", "$T/worker.py"], "max": 1, "idle_timeout_ms": 100 },
    "im": { "command": ["python3", "$T/worker.py"], "max": 1, "multiplex": true, "idle_timeout_ms": 100 },
    "keep": { "command": ["python3", "$T/worker.py"], "max": 1, "min": 1, "idle_timeout_ms": 100 } } } } }
EOF2
cat >idle.json <<'EOF2'
{ "tasks": [ { "id": "a", "pool": "i1", "argv": ["python3", "-c", "print('a')"] },
             { "id": "b", "pool": "im", "argv": ["python3", "-c", "print('b')"] },
             { "id": "k", "pool": "keep", "argv": ["python3", "-c", "print('k')"] },
             { "id": "wait", "kind": "sim", "io_ms": 2600, "deps": ["a", "b", "k"] } ] }
EOF2
run_gbx run idle.json -j4 --config idlecfg.json --enable pool --events ev-idle.jsonl --no-progress
expired() { jq -s -e --arg p "$1" --argjson n "$2" 'any(.[]; .event == "pool.summary" and .pool == $p and .expired == $n)' ev-idle.jsonl >/dev/null; }
expect "idle_timeout_ms: an idle singleplex worker is stopped during the run" expired i1 1
expect "idle_timeout_ms: an idle multiplex worker is stopped during the run" expired im 1
expect "idle_timeout_ms: never below min" expired keep 0
no_leftovers "idle_timeout_ms"

# ---- the run's stop (ABI 1.4 stop fd): a request in flight is cut short -------
# Each task's code starts `sleep 31.PID` (in the worker's process group; the
# script's pid makes it this script's own when the two builds run at once),
# writes a marker, and waits for the sleep: a run is stopped only once the
# markers are there (the requests are in flight), and must then end within
# seconds with its documented exit status, leaving no worker and no sleep.
cat >stopcfg.json <<EOF
{ "plugins": { "pool": { "pools": {
    "s1": { "command": ["python3", "$T/worker.py", "stop1"], "max": 1 },
    "smx": { "command": ["python3", "$T/worker.py", "stopmx"], "multiplex": true, "max": 1, "max_inflight": 4 } } } } }
EOF
nap=31.$$
# sleeper NAME [SECONDS]: python code that starts the sleep, marks NAME, waits
sleeper() {
	printf '%s' "import subprocess\\np = subprocess.Popen(['sleep', '${2:-$nap}'])\\nopen('$T/began-$1', 'w').close()\\np.wait()\\nprint('$1 slept')"
}
# markers NAME...: waits (at most 20 s each) for the markers
markers() {
	for m in "$@"; do
		i=0
		while [ ! -e "began-$m" ] && [ $i -lt 400 ]; do
			sleep 0.05
			i=$((i + 1))
		done
	done
}
# stop_run SIG MARKER...: once the markers are there (MARKER "any": any one),
# sends SIG to the run in $pid and waits for it: rc, and ms from the signal
# to its end
stop_run() {
	sig=$1
	shift
	i=0
	while [ "$1" = any ] && ! ls began-* >/dev/null 2>&1 && [ $i -lt 400 ]; do
		sleep 0.05
		i=$((i + 1))
	done
	[ "$1" = any ] && shift
	markers "$@"
	t0=$(date +%s%N)
	kill "-$sig" "$pid"
	wait "$pid"
	rc=$?
	ms=$((($(date +%s%N) - t0) / 1000000))
}
no_sleep_left() {
	if pgrep -f "sleep $nap" >/dev/null; then
		fail "$1: the worker's process group was killed" "$(ps -ef | grep "sleep $nap" | grep -v grep)"
	else
		pass "$1: the worker's process group was killed"
	fi
}
# ev FILE FILTER: some event in FILE matches the jq FILTER
ev() { jq -s -e "any(.[]; $2)" "$1" >/dev/null; }
killed_msg='^pool: worker [0-9]+ of pool'

# Ctrl-C with a request in flight on a singleplex worker and a second task
# waiting for that worker (-j2, max 1; whichever got it first): 130 at once;
# the one in flight is interrupted, the other was never sent (not started)
cat >stop1.json <<EOF
{ "tasks": [ { "id": "p1", "pool": "s1", "argv": ["python3", "-c", "$(sleeper p1)"] },
             { "id": "p2", "pool": "s1", "argv": ["python3", "-c", "$(sleeper p2)"] } ] }
EOF
"$GBX" run stop1.json -j2 --config stopcfg.json --enable pool --events ev-stop1.jsonl --no-progress >out 2>err </dev/null &
pid=$!
stop_run INT any
sent=$(ls began-* 2>/dev/null | sed 's/began-//' | tr '\n' ' ')
expect "stop, SIGINT: exit 130 within seconds, not after the request's 31 s ($ms ms)" test "$rc" = 130 -a "$ms" -lt 8000
expect "stop, SIGINT: exactly one request was sent ($sent)" test "$sent" = "p1 " -o "$sent" = "p2 "
sent=${sent% }
expect "stop, SIGINT: the request in flight failed, kind signal 9, with a message" ev ev-stop1.jsonl \
	".event == \"finished\" and .id == \"$sent\" and .failure == \"signal\" and .signal == 9 and (.message | test(\"$killed_msg s1 killed: the run is stopping \\\\(task $sent had no answer yet\\\\)$\"))"
expect "stop, SIGINT: the summary says 1 interrupted, 1 not started" has '0 failed, 0 skipped, 1 interrupted, 1 not started' err
expect "stop, SIGINT: the waiting task was never sent (one attempt ended)" test "$(grep -c '"event":"finished"' ev-stop1.jsonl)" = 1
expect "stop, SIGINT: pool.summary counts it interrupted, none replaced" has '"pool":"s1","started":1,"requests":1,"replaced":0,"recycled":0,"expired":0,"interrupted":1' ev-stop1.jsonl
expect "stop, SIGINT: no pool.replaced event (a stopped worker is not replaced)" sh -c "! grep -q pool.replaced ev-stop1.jsonl"
no_leftovers "stop, SIGINT"
no_sleep_left "stop, SIGINT"

# SIGTERM with two requests in flight on one multiplex worker: 143 at once,
# both interrupted with the worker
cat >stopmx.json <<EOF
{ "tasks": [ { "id": "m1", "pool": "smx", "argv": ["python3", "-c", "$(sleeper m1)"] },
             { "id": "m2", "pool": "smx", "argv": ["python3", "-c", "$(sleeper m2)"] } ] }
EOF
"$GBX" run stopmx.json -j2 --config stopcfg.json --enable pool --events ev-stopmx.jsonl --no-progress >out 2>err </dev/null &
pid=$!
stop_run TERM m1 m2
expect "stop, SIGTERM, multiplex: exit 143 within seconds ($ms ms)" test "$rc" = 143 -a "$ms" -lt 8000
for t in m1 m2; do
	expect "stop, SIGTERM, multiplex: $t failed with the worker, kind signal 9" ev ev-stopmx.jsonl \
		".event == \"finished\" and .id == \"$t\" and .failure == \"signal\" and .signal == 9 and (.message | test(\"$killed_msg smx killed: the run is stopping \\\\(task $t had no answer yet; 2 requests in flight\\\\)$\"))"
done
expect "stop, SIGTERM, multiplex: the summary says 2 interrupted" has '0 failed, 0 skipped, 2 interrupted' err
expect "stop, SIGTERM, multiplex: pool.summary counts 2 interrupted" has '"pool":"smx","started":1,"requests":2,"replaced":0,"recycled":0,"expired":0,"interrupted":2' ev-stopmx.jsonl
no_leftovers "stop, SIGTERM, multiplex"
no_sleep_left "stop, SIGTERM, multiplex"

# --halt now: another task fails while a request is in flight; the run ends
# at once (exit 1) and the pooled task fails as a killed process does
cat >stophalt.json <<EOF
{ "tasks": [ { "id": "busy", "pool": "s1", "retries": 0, "argv": ["python3", "-c", "$(sleeper busy)"] },
             { "id": "bad", "retries": 0, "sh": "i=0; until [ -e '$T/began-busy' ] || [ \$i -gt 400 ]; do sleep 0.05; i=\$((i+1)); done; exit 1" } ] }
EOF
rm -f began-*
t0=$(date +%s%N)
run_gbx run stophalt.json -j2 --halt now,fail=1 --config stopcfg.json --enable pool --events ev-stophalt.jsonl --no-progress
ms=$((($(date +%s%N) - t0) / 1000000))
expect "stop, --halt now: exit 1, the whole run within seconds ($ms ms)" test "$rc" = 1 -a "$ms" -lt 15000
expect "stop, --halt now: the summary names the killed request" \
	sh -c "grep -q 'FAILED busy: killed by signal 9 (Killed): pool: worker [0-9]* of pool s1 killed: the run is stopping (task busy had no answer yet)' '$T/err'"
no_leftovers "stop, --halt now"
no_sleep_left "stop, --halt now"

# --halt soon lets running tasks finish, a pooled one too: the stop fd is
# not raised (core/engine.c, stop_workers)
cat >stopsoon.json <<EOF
{ "tasks": [ { "id": "short", "pool": "s1", "retries": 0, "argv": ["python3", "-c", "$(sleeper short 1)"] },
             { "id": "bad", "retries": 0, "sh": "i=0; until [ -e '$T/began-short' ] || [ \$i -gt 400 ]; do sleep 0.05; i=\$((i+1)); done; exit 1" } ] }
EOF
run_gbx run stopsoon.json -j2 --halt soon,fail=1 --config stopcfg.json --enable pool --events ev-stopsoon.jsonl --no-progress
expect "stop, --halt soon: the request in flight is answered, not cut short" \
	sh -c "test $rc = 1 && grep -qx 'short slept' '$T/out' && grep '\"event\":\"finished\",\"id\":\"short\"' ev-stopsoon.jsonl | grep '\"ok\":true' | grep -q '\"label\":\"pool\"'"
no_leftovers "stop, --halt soon"
