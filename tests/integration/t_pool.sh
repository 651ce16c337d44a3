# t_pool.sh - the pool plugin end to end with the real binary and the two
# example workers (examples/workers/worker.py, worker.c): the same python3 -c
# workload gives the same output with and without the pool; a worker killed
# mid-request is replaced and the task retried; a worker that writes garbage
# or hangs past the task's timeout is killed and replaced with a clear
# message; max_requests recycles workers; the C worker and the argument rule;
# pool.size/pool.idle from a Lua policy; config errors; and no worker process
# is left behind after any run.
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
