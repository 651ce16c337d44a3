# t_breaker_shared.sh - plugins.breaker.shared on a real redis-server (started
# here once, on a unix socket, persistence off, stopped by its PID): the
# failures of process A open the shared breaker of target "api" for process
# B, whose own calls never failed (B's tasks are rejected without running);
# with sharing off B runs them. Redis absent: the run completes, one warning.
#
# Admission never waits on Redis: a process learns the shared state from a
# first read when the target's breaker is made and from each tick (100 ms),
# so B's api tasks wait for a 0.5 s task without a target first.
. "$(dirname "$0")/lib.sh"
: "${GBX_ROOT:?}"
unset GEARBOX_PLUGIN_PATH

if ! command -v redis-server >/dev/null 2>&1; then
	fail "redis-server is installed (tools/deps.sh installs it)"
	exit 0
fi
REDIS_PID=""
trap '[ -n "$REDIS_PID" ] && "$GBX_ROOT/tools/redis.sh" stop "$REDIS_PID"; rm -rf "$T"' EXIT
out=$("$GBX_ROOT/tools/redis.sh" start "$T/redis") || { fail "redis starts" "$out"; exit 0; }
REDIS_PID=${out% *}
SOCK=${out#* }

mkcfg() { # mkcfg FILE SHARED-MEMBER
	echo "{ \"plugins\": { \"breaker\": { \"enabled\": true, $2 \"minimum_calls\": 4,
	  \"wait_open_ms\": 60000, \"on_open\": \"reject\", \"targets\": { \"api\": {} } } } }" >"$1"
}
mkcfg shared.json "\"shared\": \"unix:$SOCK\","
mkcfg local.json ""
mkcfg absent.json "\"shared\": \"unix:$T/none.sock\","

# A: four failed calls to api, enough to open its breaker (4 calls, 100% failed)
{
	echo '{ "defaults": { "retries": 0 }, "tasks": ['
	for i in 1 2 3 4; do echo "{ \"id\": \"a$i\", \"argv\": [\"false\"], \"target\": \"api\" },"; done
	echo '{ "id": "a5", "argv": ["true"], "target": "api" } ] }'
} >a.json
# B: three calls to api that would succeed, after a task without a target
{
	echo '{ "defaults": { "retries": 0 }, "tasks": [ { "id": "warm", "argv": ["sleep", "0.5"] },'
	for i in 1 2 3; do
		sep=,; [ $i = 3 ] && sep=
		echo "{ \"id\": \"b$i\", \"argv\": [\"true\"], \"target\": \"api\", \"deps\": [\"warm\"] }$sep"
	done
	echo '] }'
} >b.json
nrej() { grep '"event":"finished"' "$1" | grep '"id":"b' | grep -c '"failure":"rejected"'; }
nok() { grep '"event":"finished"' "$1" | grep '"id":"b' | grep -c '"ok":true'; }

run_gbx run a.json -j1 --config shared.json --events a.ev --no-progress
expect "A: its own failures open its breaker" has '"from":"CLOSED","to":"OPEN"' a.ev
expect "A: the shared window is OPEN on the server" \
	test "$(redis-cli -s "$SOCK" hget gbx:breaker:api state)" = OPEN

run_gbx run b.json -j1 --config shared.json --events b.ev --no-progress
expect "B: its api tasks are rejected by the shared state" test "$(nrej b.ev)" = 3
expect "B: the reason names the shared state" has 'OPEN in the shared state' b.ev
expect "B: its own breaker saw no failure" test "$(grep -c '"event":"breaker.transition"' b.ev)" = 0
expect "B: no warning with Redis up" test ! -s err -o "$(grep -ci warn err)" = 0

run_gbx run b.json -j1 --config local.json --events l.ev --no-progress
expect "sharing off: B runs its api tasks" test "$(nok l.ev)" = 3

run_gbx run b.json -j1 --config absent.json --events n.ev --no-progress
expect "Redis absent: B runs its api tasks" test "$(nok n.ev)" = 3
expect "Redis absent: one warning" test "$(grep -c 'shared: cannot connect' err)" = 1

printf '{ "plugins": { "breaker": { "enabled": true, "shared": "http://x" } } }\n' >bad.json
run_gbx run b.json --config bad.json --no-progress
expect "a bad url: exit 2 and a message" sh -c "[ $rc = 2 ] && grep -q 'shared: expected' err"
