# t_sdk_oot.sh - a plugin built out of tree from the installed SDK alone
# (`make install PREFIX=...`, then pkg-config, as a plugin author does):
# tests/oot/holdback defers tasks with per-task state (task_data, task_free,
# task_deferrals), checks the workload in validate_run, waits on the stop fd
# in a hook, and answers a failure with a message.
. "$(dirname "$0")/lib.sh"
: "${GBX_ROOT:?}"
B=$(cd "$(dirname "$GBX")" && pwd -P)
P="$T/prefix"
unset GEARBOX_PLUGIN_PATH
san=
case "$B" in */asan) san=1 ;; esac

if ! make -s -C "$GBX_ROOT" BUILD="$B" SAN="$san" install PREFIX="$P" >make.out 2>&1; then
	fail "oot: make install PREFIX=..." "$(tail -20 make.out)"
	exit 0
fi
cp -r "$GBX_ROOT/tests/oot/holdback" src
# the user's CFLAGS replace ours but never the flags a plugin needs
if PKG_CONFIG_PATH="$P/lib/pkgconfig" make -s -C src CFLAGS="-O0 -g" >make2.out 2>&1 && [ -f src/holdback.so ]; then
	pass "oot: holdback builds from the installed SDK with CFLAGS=-O0 (pkg-config only)"
else
	fail "oot: holdback builds from the installed SDK with CFLAGS=-O0 (pkg-config only)" "$(tail -20 make2.out)"
	exit 0
fi
G="$P/bin/gearbox"
export GEARBOX_PLUGIN_PATH="$T/src"

# --- deferral with per-task state -------------------------------------------
cat >w.json <<'EOW'
{ "tasks": [
  { "id": "a", "argv": ["true"], "target": "db" },
  { "id": "b", "argv": ["true"], "target": "db" },
  { "id": "c", "argv": ["true"], "target": "web" } ] }
EOW
cat >g.json <<'EOC'
{ "plugins": { "holdback": { "enabled": true, "target": "db", "defer": 3, "delay_ms": 0 } } }
EOC
"$G" run w.json --config g.json --events ev.jsonl --stats st.json >out 2>err
rc=$?
expect "defer: the run succeeds (rc=$rc)" test "$rc" = 0
expect "defer: each db task deferred 3 times, counted by host and plugin alike" \
	test "$(grep -c '"holdback.free".*"mine":3,"host":3' ev.jsonl)" = 2
expect "defer: host->task_deferrals matched the plugin's own count every time" \
	sh -c "! grep -q holdback.mismatch ev.jsonl"
expect "defer: the deferred event names the plugin, the delay (0 -> the next tick, 10 ms) and the count" \
	test "$(grep '"event":"deferred"' ev.jsonl | grep -c '"plugin":"holdback","delay_ms":10,"deferrals":[123]')" = 6
expect "defer: no started event for a deferral" test "$(grep -c '"event":"started"' ev.jsonl)" = 3
expect "defer: the summary counts deferrals per plugin" grep -q "6 deferred (holdback 6)" err
expect "defer: --stats counts deferrals per plugin" grep -q '"deferred":6,"deferred_by":{"holdback":6}' st.json
expect "validate_run: told the counts per target" grep -q "plugin holdback: holding back 2 of 3 tasks (target db)" err

# delay 0 is the next tick, never a spin: 20 deferrals take >= 190 ms
cat >g0.json <<'EOC'
{ "plugins": { "holdback": { "enabled": true, "target": "db", "defer": 20 } } }
EOC
echo '{"tasks": [{"id": "a", "argv": ["true"], "target": "db"}]}' >w1.json
"$G" run w1.json --config g0.json --stats st0.json >out 2>err
wall=$(sed 's/.*"wall_ms":\([0-9.]*\).*/\1/' st0.json)
expect "defer: delay_ms 0 waits a tick each time (20 deferrals in $wall ms >= 190)" \
	awk -v w="$wall" 'BEGIN { exit !(w >= 190) }'

# --- validate_run: config that matches nothing ---------------------------------
cat >gw.json <<'EOC'
{ "plugins": { "holdback": { "enabled": true, "target": "nosuch" } } }
EOC
"$G" run w.json --config gw.json >out 2>err
rc=$?
expect "validate_run: a target no task has is a warning (rc=$rc)" \
	sh -c "test $rc = 0 && grep -q 'plugin holdback: warning: target \"nosuch\": no task of w.json has it; this config does nothing' err"
cat >gs.json <<'EOC'
{ "plugins": { "holdback": { "enabled": true, "target": "nosuch", "strict": true } } }
EOC
"$G" check w.json --config gs.json >out 2>err
rc=$?
expect "validate_run: -1 refuses the workload with exit 2, naming file and plugin (check)" \
	sh -c "test $rc = 2 && grep -q 'gearbox: w.json: plugin holdback: target \"nosuch\": no task of the workload has it' err"

# the quick form is validated as a workload is, named "<command line>"
"$G" run --config gw.json -- true ::: 1 2 >out 2>err
rc=$?
expect "validate_run: the quick form is validated too (warning, rc=$rc)" \
	sh -c "test $rc = 0 && grep -q 'plugin holdback: warning: target \"nosuch\": no task of <command line> has it; this config does nothing' err"
"$G" run --config gs.json -- true ::: 1 2 >out 2>err
rc=$?
expect "validate_run: -1 refuses a quick-form run with exit 2 before any task (rc=$rc)" \
	sh -c "test $rc = 2 && grep -q 'gearbox: <command line>: plugin holdback: target \"nosuch\": no task of the workload has it' err && ! test -s out"

# --- typed config errors from plugin_config.h -----------------------------------
echo '{ "plugins": { "holdback": { "enabled": true, "defer": "x" } } }' >gb.json
"$G" run w.json --config gb.json >out 2>err
rc=$?
expect "config: a typed error names the key, the range and the value (rc=$rc)" \
	sh -c "test $rc = 2 && grep -q 'plugin holdback: init failed: defer: expected an integer from 0 to 1000, got \"x\"' err"

# --- an answered failure carries its message --------------------------------------
echo '{ "plugins": { "holdback": { "enabled": true, "fail": "c" } } }' >gf.json
"$G" run w.json --config gf.json --events evf.jsonl >out 2>err
rc=$?
expect "message: an answered failure's message is in the finished event (rc=$rc)" \
	sh -c "test $rc = 1 && grep '\"event\":\"finished\",\"id\":\"c\"' evf.jsonl | grep -q '\"message\":\"holdback: told to fail this one\"'"

# --- the stop fd: a hook blocked in poll() sees Ctrl-C ----------------------------
echo '{ "plugins": { "holdback": { "enabled": true, "block": "c", "block_ms": 30000 } } }' >gk.json
"$G" run w.json --config gk.json --events evk.jsonl --no-progress >out 2>err &
pid=$!
i=0
while [ $i -lt 200 ] && ! grep -q holdback.blocking evk.jsonl 2>/dev/null; do
	sleep 0.05
	i=$((i + 1))
done
t0=$(date +%s%N)
kill -INT $pid
wait $pid
rc=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
expect "stop: SIGINT ends a run whose hook waits on the stop fd: exit 130 in $ms ms (< 5000)" \
	sh -c "test $rc = 130 && test $ms -lt 5000"
expect "stop: the hook saw the stop flag" grep -q '"message":"holdback: stopped while waiting"' evk.jsonl
