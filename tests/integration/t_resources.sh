# t_resources.sh - declared needs and admission (docs/resources.md): usage
# reconstructed from --events never exceeds a capacity, smaller tasks
# backfill past a head that does not fit until it has waited
# reserve_after_ms, an impossible task is refused at start, and a memory hog
# under enforce is killed as "oom" and succeeds on retry under
# retry/grow_on_oom.lua.
. "$(dirname "$0")/lib.sh"
ROOT=${GBX_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}

jqok() { jq -e "$@" >/dev/null; }

# peak EVENTS WORKLOAD: the highest use of every resource over the run, from
# the started and finished events in file order, with each task's needs
# taken from the workload (not from the events)
peak() {
	jq -s -c --slurpfile w "$2" '
	  ($w[0].tasks | map({(.id): (.resources // {})}) | add) as $need
	  | reduce (.[] | select(.event == "started" or .event == "finished")) as $e
	      ({u: {}, max: {}};
	       (if $e.event == "started" then 1 else -1 end) as $s
	       | reduce ($need[$e.id] | to_entries[]) as $kv (.;
	           .u[$kv.key] = ((.u[$kv.key] // 0) + $s * $kv.value)
	           | .max[$kv.key] = ([(.max[$kv.key] // 0), .u[$kv.key]] | max)))
	  | .max' "$1"
}

# 48 sim tasks with mixed needs; "big" (all 3 cpus) comes second
awk 'BEGIN {
	printf "{\"tasks\": [\n"
	printf "{\"id\":\"first\",\"kind\":\"sim\",\"io_ms\":120,\"resources\":{\"cpu\":1}},\n"
	printf "{\"id\":\"big\",\"kind\":\"sim\",\"io_ms\":40,\"resources\":{\"cpu\":3,\"mem_mb\":200}},\n"
	for (i = 0; i < 46; i++) {
		cpu = (i % 4 == 0) ? 0.5 : (i % 4 == 1) ? 1 : (i % 4 == 2) ? 1.5 : 2
		mem = 100 * (1 + (i * 3) % 7)
		db = (i % 3 == 0) ? ",\"db\":1" : ""
		printf "{\"id\":\"t%d\",\"kind\":\"sim\",\"io_ms\":%d,\"resources\":{\"cpu\":%s,\"mem_mb\":%d%s}}%s\n", \
			i, 10 + (i * 13) % 30, cpu, mem, db, i < 45 ? "," : ""
	}
	printf "]}\n" }' >mixed.json
echo '{"resources": {"cpu": 3, "mem_mb": 1000, "db": 1, "reserve_after_ms": 60000}}' >cfg.json

run_gbx run mixed.json --config cfg.json -j 8 --events ev.jsonl --no-progress
p=$(peak ev.jsonl mixed.json)
expect "mixed needs: the run succeeds" test "$rc" = 0
expect "usage from --events stays within cpu 3, mem_mb 1000, db 1 (peak $p)" \
	jqok -n --argjson p "$p" '$p.cpu <= 3 and $p.mem_mb <= 1000 and $p.db <= 1'
expect "admission still runs tasks side by side (peak $p)" \
	jqok -n --argjson p "$p" '$p.cpu >= 2'
# backfill: while "first" holds a cpu, big (3 cpus) cannot start; later tasks do
started_before_big=$(jq -s '[.[] | select(.event == "started") | .id] | index("big")' ev.jsonl)
expect "backfill: smaller tasks start past big while it does not fit ($started_before_big before it)" \
	test "$started_before_big" -gt 2

# without admission the same workload overcommits (the check above can fail)
jq 'del(.tasks[].resources)' mixed.json >plain.json
run_gbx run plain.json -j 8 --events ev0.jsonl --no-progress
p0=$(peak ev0.jsonl mixed.json)
expect "by -j alone the same tasks would use more than every capacity (peak $p0)" \
	jqok -n --argjson p "$p0" '$p.cpu > 3 and $p.mem_mb > 1000 and $p.db > 1'

# reservation: with reserve_after_ms 0 big holds back what it needs at once,
# so no task after it starts before it
echo '{"resources": {"cpu": 3, "mem_mb": 1000, "db": 1, "reserve_after_ms": 0}}' >cfg0.json
run_gbx run mixed.json --config cfg0.json -j 8 --events ev1.jsonl --no-progress
p1=$(peak ev1.jsonl mixed.json)
pos=$(jq -s '[.[] | select(.event == "started") | .id] | index("big")' ev1.jsonl)
expect "reservation: big starts right after first (position $pos), usage within capacity ($p1)" \
	sh -c "[ '$rc' = 0 ] && [ '$pos' -le 1 ] && jq -e -n --argjson p '$p1' '\$p.cpu <= 3 and \$p.mem_mb <= 1000' >/dev/null"

# an impossible task: exit 2 at start, naming the task and the resource
cat >imp.json <<'J'
{"tasks": [{"id": "ok1", "kind": "sim"},
           {"id": "huge", "kind": "sim", "resources": {"mem_mb": 5000}}]}
J
run_gbx run imp.json --config cfg.json --events evi.jsonl --no-progress
expect "impossible task: exit 2 naming huge and mem_mb, nothing started" \
	sh -c "[ '$rc' = 2 ] && grep -q 'task \"huge\" needs 5000 mem_mb but the capacity is 1000' '$T/err' && ! grep -q started evi.jsonl 2>/dev/null"
run_gbx check imp.json --config cfg.json
expect "impossible task: check refuses it too" \
	sh -c "[ '$rc' = 2 ] && grep -q 'huge' '$T/err'"
echo '{"tasks": [{"id": "lic", "kind": "sim", "resources": {"license": 1}}]}' >lic.json
run_gbx run lic.json --no-progress
expect "a custom resource without a capacity is refused, saying where to give one" \
	sh -c "[ '$rc' = 2 ] && grep -q 'needs 1 license but the capacity is 0; give one' '$T/err'"
echo '{"tasks": [{"id": "x", "kind": "sim", "resources": {"cpu": "two"}}]}' >badneed.json
run_gbx run badneed.json --no-progress
expect "a bad need: exit 2 naming the file, the task and the field" \
	sh -c "[ '$rc' = 2 ] && grep -q 'badneed.json' '$T/err' && grep -q 'resources.cpu must be a number' '$T/err'"

# class -> default need: class cpu is one cpu; with cpu 1 they run one at a time
awk 'BEGIN { printf "{\"defaults\": {\"class\": \"cpu\"}, \"tasks\": ["
	for (i = 0; i < 6; i++) printf "%s{\"id\":\"c%d\",\"kind\":\"sim\",\"io_ms\":20}", i ? "," : "", i
	printf "]}\n" }' >cls.json
echo '{"resources": {"cpu": 1}}' >cfg1.json
run_gbx run cls.json --config cfg1.json -j 4 --events evc.jsonl --no-progress
over=$(jq -s 'reduce (.[] | select(.event == "started" or .event == "finished")) as $e
	({n: 0, m: 0}; .n += (if $e.event == "started" then 1 else -1 end) | .m = ([.m, .n] | max)) | .m' evc.jsonl)
expect "class cpu needs one cpu: at most one runs with cpu 1 (saw $over)" test "$over" = 1

# enforce: a hog over its memory limit is killed as oom, then grows and passes
run_gbx check imp.json
enf=$(grep '^enforce' "$T/out")
if grep -q '^enforce: cgroup' "$T/out"; then
	cat >hog.json <<'J'
{"tasks": [{"id": "hog", "enforce": true, "resources": {"mem_mb": 32},
            "argv": ["sh", "-c", "exec python3 -c 'x = bytearray(60 << 20); print(len(x))'"]}]}
J
	run_gbx run hog.json --policy retry="$ROOT/policies/retry/grow_on_oom.lua" --events evo.jsonl --no-progress
	kinds=$(jq -s -c '[.[] | select(.event == "finished") | (.failure // "ok")]' evo.jsonl)
	needs=$(jq -s -c '[.[] | select(.event == "started") | .needs.mem_mb]' evo.jsonl)
	expect "enforce: the hog is killed as oom, retried with more memory, and succeeds ($kinds, mem_mb $needs)" \
		sh -c "[ '$rc' = 0 ] && [ '$kinds' = '[\"oom\",\"oom\",\"ok\"]' ] && [ '$needs' = '[32,64,128]' ]"
	# this run's gearbox-PID (other runs may be going on: look for ours only)
	"$GBX" run hog.json --policy retry="$ROOT/policies/retry/grow_on_oom.lua" --no-progress -q \
		</dev/null >/dev/null 2>&1 &
	gpid=$!
	wait $gpid
	expect "enforce: no task cgroup is left behind (gearbox-$gpid)" \
		sh -c "! find /sys/fs/cgroup -maxdepth 6 -name 'gearbox-$gpid' 2>/dev/null | grep -q ."
	run_gbx run hog.json --events evn.jsonl --no-progress
	expect "enforce without grow_on_oom: the failure is oom, not signal" \
		sh -c "[ '$rc' = 1 ] && jq -e -s 'map(select(.event == \"finished\")) | .[0].failure == \"oom\"' evn.jsonl >/dev/null"
else
	pass "enforce: skipped, this machine gives no cgroup memory controller ($(grep '^enforce' "$T/out"))"
fi
# which cgroup path the enforce tests above went through; the v2 one needs
# the memory controller in the unified hierarchy, which a hybrid machine
# (memory bound to a v1 hierarchy) cannot give: a second cgroup2 mount is the
# same hierarchy, and a controller leaves v1 only when its v1 hierarchy is
# unmounted and empty
case "$enf" in
*"enforce: cgroup v2"*) pass "cgroup v2 path (memory.max, memory.peak, cpu.max): exercised by the enforce tests above" ;;
*)
	v1h=$(awk '$1 == "memory" {print $2 " (" $3 " cgroups)"}' /proc/cgroups 2>/dev/null)
	u=$(awk '$3 == "cgroup2" {print $2; exit}' /proc/mounts)
	uc=$(cat "$u/cgroup.controllers" 2>/dev/null)
	pass "cgroup v2 path: skipped, not testable here: the memory controller is in v1 hierarchy ${v1h:-?} (/proc/cgroups), and cgroup2${u:+ at $u} offers only [${uc:-no controllers}] (t_resources_v2.sh runs the v2 placement with what it offers); this machine's enforcement: ${enf#enforce: }" ;;
esac

# batches of short tasks claim more only while they fit, and every claim is
# released: 20,000 no-op tasks end with nothing counted as used
echo "{\"matrix\": [{\"id\": \"n{i}\", \"kind\": \"sim\", \"resources\": {\"cpu\": 0.5, \"db\": 1}, \"vars\": {\"i\": [$(seq -s, 1 20000)]}}]}" >many.json
run_gbx run many.json --config cfg.json -j 2
expect "20,000 short tasks with needs: all ok, accounting back to zero" \
	sh -c "[ '$rc' = 0 ] && grep -q '20000 ok' '$T/err' && ! grep -q 'internal error' '$T/err'"

# admit(task, state): at most one task tagged db at a time, the rest run
# side by side; without the hook the db tasks overlap (so the check can fail)
cat >dbone.lua <<'L'
local function has(tags, x)
  for _, v in ipairs(tags) do if v == x then return true end end
  return false
end
return {
  key = function(task) return -task.priority end,
  admit = function(task, state)
    if has(task.tags, "db") and (state.tags.db or 0) >= 1 then return false end
    return true
  end,
}
L
awk 'BEGIN { printf "{\"tasks\": ["
	for (i = 0; i < 30; i++) printf "%s{\"id\":\"t%d\",\"kind\":\"sim\",\"io_ms\":%d%s}", i ? "," : "", i, 10 + (i * 7) % 20, (i % 2) ? ",\"tags\":[\"db\"]" : ""
	printf "]}\n" }' >db.json
# most DB-tagged (M) and most of all (A) running at once
conc() {
	jq -s -r --slurpfile w db.json '
	  ($w[0].tasks | map({(.id): ((.tags // []) | index("db") != null)}) | add) as $db
	  | reduce (.[] | select(.event == "started" or .event == "finished")) as $e
	      ({d: 0, a: 0, M: 0, A: 0};
	       (if $e.event == "started" then 1 else -1 end) as $s
	       | .a += $s | (if $db[$e.id] then .d += $s else . end)
	       | .M = ([.M, .d] | max) | .A = ([.A, .a] | max))
	  | "\(.M) \(.A)"' "$1"
}
run_gbx run db.json -j 6 --policy scheduling=dbone.lua --events evd.jsonl --no-progress
c1=$(conc evd.jsonl)
set -- $c1
expect "admit: at most one db task at a time, others alongside (db, all: $c1)" \
	sh -c "[ '$rc' = 0 ] && [ '$1' = 1 ] && [ '$2' -ge 2 ]"
run_gbx run db.json -j 6 --events evd0.jsonl --no-progress
c0=$(conc evd0.jsonl)
set -- $c0
expect "without admit the db tasks overlap (db, all: $c0)" test "$1" -gt 1

# measuring: every exec attempt's peak memory (wait4) reaches the finished
# event, the journal, --stats and the summary's top memory users
cat >mem.json <<'J'
{"tasks": [{"id": "big20", "argv": ["python3", "-c", "x = bytearray(20 << 20); x[::4096] = b'x' * len(x[::4096])"]},
           {"id": "tiny", "argv": ["true"]}]}
J
run_gbx run mem.json --events evm.jsonl --journal jm.jsonl --stats stm.json
expect "peak memory: events, journal, --stats and the summary have it, big20 first" \
	sh -c "[ '$rc' = 0 ] &&
	       jq -e -s 'map(select(.event == \"finished\" and .id == \"big20\"))[0].maxrss_kb > 20000' evm.jsonl >/dev/null &&
	       jq -e -s 'map(select(.id == \"big20\"))[0].peak_kb > 20000' jm.jsonl >/dev/null &&
	       jq -e '.peak_memory_kb.measured == 2 and .peak_memory_kb.max > 20000' stm.json >/dev/null &&
	       grep -q '^gearbox: top memory: big20 [0-9.]* MB, tiny ' '$T/err'"

# the ratelimit plugin: a token bucket per target; over any window the
# starts towards a target are at most burst + rate x window, within one token
awk 'BEGIN { printf "{\"tasks\": ["
	for (i = 0; i < 30; i++) printf "%s{\"id\":\"r%d\",\"kind\":\"sim\",\"target\":\"%s\"}", i ? "," : "", i, (i % 3) ? "api" : "other"
	printf "]}\n" }' >rl.json
echo '{"plugins": {"ratelimit": {"rate": 50, "burst": 2, "targets": {"other": {"rate": 20, "burst": 1}}}}}' >rlc.json
# worst TARGET RATE BURST EVENTS: the largest excess of starts in a window
# over burst + rate x window, across all windows between two starts
worst() {
	jq -s --arg tg "$1" --argjson rate "$2" --argjson burst "$3" --slurpfile w rl.json '
	  ($w[0].tasks | map({(.id): .target}) | add) as $tgt
	  | [.[] | select(.event == "started" and $tgt[.id] == $tg) | .t_ms] | sort as $t
	  | [range(0; $t | length) as $i | range($i; $t | length) as $j
	     | ($j - $i + 1) - ($burst + $rate * ($t[$j] - $t[$i]) / 1000)] | max' "$4"
}
run_gbx run rl.json --config rlc.json --enable ratelimit -j 4 --events evr.jsonl --no-progress
wa=$(worst api 50 2 evr.jsonl); wo=$(worst other 20 1 evr.jsonl)
expect "ratelimit: api 50/s burst 2 and other 20/s burst 1 hold within one token (excess $wa, $wo)" \
	sh -c "[ '$rc' = 0 ] && jq -e -n '$wa <= 1 and $wo <= 1' >/dev/null && grep -q '\"event\":\"ratelimit.summary\"' evr.jsonl"
run_gbx run rl.json -j 4 --events evr0.jsonl --no-progress
w0=$(worst api 50 2 evr0.jsonl)
expect "without ratelimit the same starts exceed the rate (excess $w0)" jqok -n "$w0 > 1"
echo '{"plugins": {"ratelimit": {"rate": -1}}}' >rlbad.json
run_gbx run rl.json --config rlbad.json --enable ratelimit --no-progress
expect "ratelimit: a bad rate is exit 2 naming it" sh -c "[ '$rc' = 2 ] && grep -q 'rate: expected a number' '$T/err'"

# load shedding: at -j1, eight priority-5 tasks keep the queue busy for
# 240 ms; the four priority-0 ones wait longer than 100 ms and are dropped
# (kind shed, in the journal, in the summary); "after" depends on one of them
# and is skipped; priority-5 tasks that waited as long are not dropped.
# --resume without shedding runs exactly the dropped ones and "after".
awk 'BEGIN { printf "{\"tasks\": ["
	for (i = 0; i < 8; i++) printf "%s{\"id\":\"hi%d\",\"kind\":\"sim\",\"io_ms\":30,\"priority\":5}", i ? "," : "", i
	for (i = 0; i < 4; i++) printf ",{\"id\":\"lo%d\",\"kind\":\"sim\",\"io_ms\":1,\"priority\":0}", i
	printf ",{\"id\":\"after\",\"kind\":\"sim\",\"deps\":[\"lo0\"],\"priority\":9}]}\n" }' >shed.json
echo '{"shed": {"queue_wait_ms": 100, "below_priority": 1}}' >shedc.json
run_gbx run shed.json --config shedc.json -j1 --journal sj.jsonl --events evs.jsonl --no-progress
shed=$(jq -s -r '[.[] | select(.failure == "shed") | .id] | sort | join(" ")' sj.jsonl)
expect "shedding: exactly lo0..lo3 are dropped as shed, after is skipped ($shed)" \
	sh -c "[ '$rc' = 1 ] && [ '$shed' = 'lo0 lo1 lo2 lo3' ] &&
	       jq -e -s 'map(select(.status == \"ok\")) | length == 8' sj.jsonl >/dev/null &&
	       jq -e -s 'map(select(.id == \"after\"))[0].status == \"skipped\"' sj.jsonl >/dev/null &&
	       jq -e -s 'map(select(.event == \"finished\" and .failure == \"shed\")) | length == 4' evs.jsonl >/dev/null &&
	       grep -q '^gearbox: 4 tasks shed (under priority 1 after 100 ms in the queue)' '$T/err'"
run_gbx run shed.json -j1 --journal sj.jsonl --resume --events evs2.jsonl --no-progress
ran=$(jq -s -r '[.[] | select(.event == "started") | .id] | sort | join(" ")' evs2.jsonl)
expect "shedding: --resume runs the shed tasks and their dependant, nothing else ($ran)" \
	sh -c "[ '$rc' = 0 ] && [ '$ran' = 'after lo0 lo1 lo2 lo3' ]"
echo '{"shed": {"queue_wait_ms": 100}}' >shedbad.json
run_gbx run shed.json --config shedbad.json --no-progress
expect "shedding: a half-given shed is exit 2" sh -c "[ '$rc' = 2 ] && grep -q 'shed: needs both' '$T/err'"
