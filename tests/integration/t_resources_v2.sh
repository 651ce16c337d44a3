# t_resources_v2.sh - enforcement through cgroup v2 (docs/resources.md,
# Enforcing), run for real in a cgroup of the test's own under the cgroup2
# mount's root: gearbox, alone in it, moves itself into gearbox-PID/gearbox
# so that the cgroup may hand controllers on (no internal processes), every
# task starts inside its own cgroup (clone3 into the cgroup, not moved after
# the spawn), what a task leaves behind is killed and every cgroup removed,
# and the cgroup is handed back as it was. With another process in the
# cgroup gearbox leaves it alone and says why.
#
# The controller is memory where cgroup v2 has it (then the OOM kill and
# the retry that grows run through memory.max and memory.events too). Where
# memory is bound to a v1 hierarchy (the development VM: cgroup2 offers only
# hugetlb) the same placement runs with hugetlb, another domain controller
# under the same rules, through GEARBOX_TEST_CGROUP2_CONTROLLER; memory
# limits then do not apply and those cases say they are skipped.
. "$(dirname "$0")/lib.sh"
ROOT=${GBX_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}

U=$(awk '$3 == "cgroup2" {print $2; exit}' /proc/mounts)
if [ "$(id -u)" != 0 ] || [ -z "$U" ]; then
	pass "cgroup v2: skipped, needs root and a cgroup2 mount (uid $(id -u), cgroup2 at ${U:-none})"
	exit 0
fi
ctls=$(cat "$U/cgroup.controllers" 2>/dev/null)
case " $ctls " in
*" memory "*) C=memory ;;
*" hugetlb "*) C=hugetlb ;;
*) pass "cgroup v2: skipped, cgroup2 at $U offers no memory or hugetlb controller ([$ctls])"; exit 0 ;;
esac
# the mount's root hands C on (the root may, whatever processes it holds);
# inside a cgroup namespace it is not the real root and refuses
if ! grep -qw "$C" "$U/cgroup.subtree_control" && ! echo "+$C" >"$U/cgroup.subtree_control" 2>/dev/null; then
	pass "cgroup v2: skipped, cannot enable $C in $U/cgroup.subtree_control (not the hierarchy's root?)"
	exit 0
fi
[ "$C" = memory ] || export GEARBOX_TEST_CGROUP2_CONTROLLER=$C

H=$U/gbx-t-$$
mkdir "$H" || { fail "cgroup v2: cannot create $H"; exit 0; }
cleanup() {
	for p in $(cat "$H/cgroup.procs" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
	find "$H" -mindepth 1 -depth -type d -exec rmdir {} \; 2>/dev/null
	rmdir "$H" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT

# in_h ARGS...: gearbox ARGS as the only process of $H, like run_gbx
in_h() {
	sh -c 'echo $$ >"$1/cgroup.procs" && shift && exec "$@"' sh "$H" "$GBX" "$@" \
		>"$T/out" 2>"$T/err" </dev/null
	rc=$?
}

echo '{"tasks": []}' >empty.json
in_h check empty.json
expect "check: cgroup v2 with $C, gearbox moved into gearbox-PID/gearbox" \
	grep -q "^enforce: cgroup v2: $C.max.* in $H/gearbox-PID, gearbox moved into gearbox-PID/gearbox;" "$T/out"
expect "check leaves $H as it was (no child cgroup, nothing enabled, no process)" \
	sh -c "[ -z \"\$(find '$H' -mindepth 1 -type d)\" ] && [ -z \"\$(cat '$H/cgroup.subtree_control')\" ] && [ -z \"\$(cat '$H/cgroup.procs')\" ]"

# a shell whose pipeline forks at once: the children start where the shell
# does, so a shell moved in after posix_spawn leaves them outside
awk 'BEGIN { printf "{\"defaults\": {\"enforce\": true, \"resources\": {\"cpu\": 0.5}}, \"tasks\": [";
	for (i = 0; i < 24; i++)
		printf "%s{\"id\": \"c%d\", \"argv\": [\"sh\", \"-c\", \"cat /proc/self/cgroup | grep ^0:: | cut -d: -f3\"]}", i ? "," : "", i;
	print "]}" }' >cg.json
in_h run cg.json -j 2 --set history=false --output-dir od --no-progress -q
bad=0
for i in $(seq 0 23); do
	grep -q "^${H#$U}/gearbox-[0-9]*/t$i-1\$" "od/c$i.stdout" 2>/dev/null || bad=$((bad + 1))
done
expect "every task's pipeline runs inside the task's cgroup from its start ($bad of 24 outside; c0: $(cat od/c0.stdout 2>/dev/null))" \
	sh -c "[ '$rc' = 0 ] && [ $bad = 0 ]"
expect "after the run $H is as it was: no cgroup left, nothing enabled, no process" \
	sh -c "[ -z \"\$(find '$H' -mindepth 1 -type d)\" ] && [ -z \"\$(cat '$H/cgroup.subtree_control')\" ] && [ -z \"\$(cat '$H/cgroup.procs')\" ]"

# what a task leaves running outside its process group is killed with its
# cgroup, and the cgroup is removed
# (the task ends once the orphan is in a session of its own)
mkfifo "$T/ready"
cat >orphan.json <<J
{"tasks": [{"id": "o", "enforce": true, "resources": {"cpu": 1},
            "argv": ["sh", "-c", "setsid sh -c 'echo >$T/ready; exec sleep 47.25' </dev/null >/dev/null 2>&1 & read x <$T/ready"]}]}
J
in_h run orphan.json --set history=false --no-progress -q
left=$(pgrep -f 'sleep 47.25' | tr '\n' ' ')
expect "a process the task left outside its group is killed with the cgroup (left: [$left])" \
	sh -c "[ '$rc' = 0 ] && [ -z '$left' ] && [ -z \"\$(find '$H' -mindepth 1 -type d)\" ]"

# a spawn that fails inside the cgroup is reported as posix_spawnp's
cat >nx.json <<'J'
{"tasks": [{"id": "nx", "enforce": true, "resources": {"cpu": 1}, "argv": ["no-such-program-gbx"]},
           {"id": "in", "enforce": true, "resources": {"cpu": 1}, "stdin": "abc", "cwd": "/",
            "argv": ["sh", "-c", "cat; pwd"]}]}
J
in_h run nx.json --set history=false --output-dir od2 --no-progress
expect "spawn failures are named, stdin and cwd apply" \
	sh -c "[ '$rc' = 1 ] && grep -q 'cannot run no-such-program-gbx: No such file or directory' '$T/err' && [ \"\$(cat od2/in.stdout)\" = 'abc/' ]"

# another process in the cgroup: gearbox cannot empty it, so no v2
# (gearbox starts once the other is in: it says so through a fifo)
mkfifo "$T/moved"
sh -c 'echo $$ >"$1/cgroup.procs"; echo >"$2"; exec sleep 30' sh "$H" "$T/moved" &
other=$!
read -r _ <"$T/moved"
in_h check empty.json
kill "$other" 2>/dev/null
wait "$other" 2>/dev/null
expect "another process in gearbox's cgroup: no v2, and check says why" \
	grep -q "cgroup v2: $H also holds pid $other, so it cannot hand controllers on .*(no internal processes)" "$T/out"

if [ "$C" = memory ]; then
	cat >hog.json <<'J'
{"tasks": [{"id": "hog", "enforce": true, "resources": {"mem_mb": 32},
            "argv": ["sh", "-c", "exec python3 -c 'x = bytearray(60 << 20); print(len(x))'"]}]}
J
	in_h run hog.json --policy retry="$ROOT/policies/retry/grow_on_oom.lua" --events evo.jsonl --no-progress
	kinds=$(jq -s -c '[.[] | select(.event == "finished") | (.failure // "ok")]' evo.jsonl)
	peak=$(jq -s '[.[] | select(.event == "finished")][-1].cg_peak_kb // 0' evo.jsonl)
	expect "v2 memory.max: oom, oom, then ok with 128 MB ($kinds; memory.peak $peak kB)" \
		sh -c "[ '$rc' = 0 ] && [ '$kinds' = '[\"oom\",\"oom\",\"ok\"]' ] && [ '$peak' -gt 61440 ]"
else
	pass "v2 memory.max, memory.peak, memory.events: skipped, memory is not a cgroup v2 controller here ([$ctls]); the placement above ran with $C"
fi
case " $ctls " in
*" cpu "*)
	echo '{"tasks": [{"id": "q", "enforce": true, "resources": {"cpu": 0.5}, "argv": ["sh", "-c", "cat '"$U"'$(cut -d: -f3 /proc/self/cgroup)/cpu.max"]}]}' >q.json
	in_h run q.json --set history=false --output-dir od3 --no-progress -q
	expect "cpu.max is QUOTA PERIOD: cpu 0.5 gives 50000 100000 ($(cat od3/q.stdout 2>/dev/null))" \
		sh -c "[ \"\$(cat od3/q.stdout)\" = '50000 100000' ]" ;;
*) pass "v2 cpu.max: skipped, cpu is not a cgroup v2 controller here ([$ctls])" ;;
esac
