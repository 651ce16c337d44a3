# t_tsan.sh - the threading contract of plugin.h under ThreadSanitizer: a
# gearbox built with -fsanitize=thread (build/tsan, the binary and the test
# plugin only) loads tests/plugins/hostcalls.c, which calls every host
# function from every hook, from a Lua function a policy calls under the
# engine's lock, and from a thread of its own, with deferrals, task_data and
# task_free on the way. Any data race or lock-order inversion TSan sees fails
# the test. Runs in the plain suite only (the build is the same for both).
. "$(dirname "$0")/lib.sh"
: "${GBX_ROOT:?}"
case "$GBX" in */asan/*) exit 0 ;; esac
TB="$GBX_ROOT/build/tsan"
if ! nice make -s -C "$GBX_ROOT" BUILD=build/tsan SAN=thread "build/tsan/gearbox" \
	"build/tsan/tests/plugins/hostcalls.so" >make.out 2>&1; then
	fail "tsan: build gearbox and hostcalls with -fsanitize=thread" "$(tail -20 make.out)"
	exit 0
fi
{
	printf '{"tasks": ['
	i=0
	while [ $i -lt 30 ]; do
		case $((i % 3)) in
		0) printf '{"id": "e%d", "argv": ["true"], "target": "t%d"},' $i $((i % 4)) ;;
		1) printf '{"id": "s%d", "kind": "sim", "cpu_us": 200},' $i ;;
		2) printf '{"id": "h%d", "kind": "hostcalls", "meta": {"n": %d}},' $i $i ;;
		esac
		i=$((i + 1))
	done
	printf '{"id": "last", "argv": ["true"], "deps": ["e0", "s1", "h2"]}]}\n'
} >w.json
echo 'return { key = function(task) hostcalls.poke(task); return 0 end }' >poke.lua
printf '{"plugin_path": ["%s"], "plugins": {"hostcalls": {"enabled": true}}}\n' "$TB/tests/plugins" >g.json
TSAN_OPTIONS="halt_on_error=0 exitcode=66 second_deadlock_stack=1" \
	timeout 120 "$TB/gearbox" run w.json --config g.json --policy scheduling=poke.lua -j 4 \
	--events ev.jsonl --stats st.json >out 2>err
rc=$?
expect "tsan: every host function from every hook, a Lua function and a thread: no race (rc=$rc)" \
	sh -c "test $rc = 0 && ! grep -q 'ThreadSanitizer' err"
expect "tsan: the plugin's calls reached the host from each place" \
	sh -c "for w in init run_start before_task after_attempt tick run validate validate_run lua task_free thread run_end run_summary fini; do grep -q \"plugin hostcalls: \$w: \" err || exit 1; done"
expect "tsan: every task was deferred once and freed once" \
	sh -c "test \$(grep -c '\"event\":\"deferred\"' ev.jsonl) = 31 && grep -q '\"deferred\":31' st.json"
