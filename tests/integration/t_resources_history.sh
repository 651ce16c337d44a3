# t_resources_history.sh - the run history in SQLite (docs/resources.md,
# "History"): on by default beside a workload file (not for the quick form,
# not for a workload without exec tasks, not with "history": false);
# estimates converge after two runs and reach the scheduling policy as
# est_ms; a mem class task is admitted by its memory estimate (never limited
# by it); scaling policies see memory per task; agents' attempts are
# recorded like local ones; two runs writing one history
# at once lose nothing; a corrupt history is a warning and a fresh store,
# never a failed run.
. "$(dirname "$0")/lib.sh"

# on by default, beside the workload file (here in a subdirectory)
mkdir -p wd
echo '{"tasks": [{"id": "a", "argv": ["true"]}, {"id": "s", "kind": "sim"}]}' >wd/w.json
run_gbx run wd/w.json -q
rows=$(sqlite3 wd/.gearbox-history.db "select task, tmpl, outcome from attempts" 2>&1 | tr '\n' ' ')
expect "history on by default: beside the workload, the exec attempt only ($rows)" \
	sh -c "[ '$rc' = 0 ] && [ '$rows' = 'a|true|ok ' ] && [ ! -e .gearbox-history.db ]"
mkdir -p sd
echo '{"tasks": [{"id": "s", "kind": "sim", "io_ms": 5}]}' >sd/s.json
run_gbx run sd/s.json -q
expect "a workload without exec tasks opens no store" sh -c "[ '$rc' = 0 ] && [ ! -e sd/.gearbox-history.db ]"
run_gbx run -q -- true ::: 1 2
expect "the quick form keeps no history unless the config names one" \
	sh -c "[ '$rc' = 0 ] && [ ! -e .gearbox-history.db ]"
mkdir -p bd
cp wd/w.json bd/
run_gbx bench bd/w.json --plugins cache --repeat 1
expect "gearbox bench keeps no history (its runs would change each other's estimates)" \
	sh -c "[ '$rc' = 0 ] && [ ! -e bd/.gearbox-history.db ]"
echo '{"history": false}' >off.json
mkdir -p od
cp wd/w.json od/
run_gbx run od/w.json --config off.json -q
expect "\"history\": false: no store" sh -c "[ '$rc' = 0 ] && [ ! -e od/.gearbox-history.db ]"
run_gbx check od/w.json --config off.json --estimates
expect "check --estimates with history off says so" grep -q '^estimates: none, history is off' "$T/out"

cat >h.json <<'J'
{"tasks": [{"id": "slow", "argv": ["sleep", "0.25"]},
           {"id": "mid",  "argv": ["sleep", "0.12"]},
           {"id": "fast", "argv": ["sleep", "0.01"]}]}
J
echo '{"history": true}' >hc.json
run_gbx check h.json --config hc.json --estimates
expect "no history yet: check --estimates says so and creates nothing" \
	sh -c "[ '$rc' = 0 ] && grep -q '^estimates: no history at .gearbox-history.db yet' '$T/out' && [ ! -e .gearbox-history.db ]"
run_gbx run h.json --config hc.json -q
run_gbx run h.json -q
run_gbx check h.json --estimates
est() { sed -n "s/^  $1: est_ms \([0-9]*\), mem_mb [0-9.]*, 2 samples$/\1/p" "$T/out"; }
s=$(est slow); m=$(est mid); f=$(est fast)
# with two samples the p90 is the larger one: compare with the rows the store holds
want=$(sqlite3 .gearbox-history.db "select cast(max(ms) + 0.5 as int) from attempts group by task order by task" | tr '\n' ' ')
expect "after two runs: each estimate is the p90 of its two samples (fast mid slow: $f $m $s; store: $want)" \
	sh -c "[ -n '$s' ] && [ -n '$m' ] && [ -n '$f' ] && [ '$f $m $s ' = '$want' ]"
run_gbx run h.json -j1 --policy scheduling=sjf --events ev.jsonl -q
order=$(jq -s -r '[.[] | select(.event == "started") | .id] | join(" ")' ev.jsonl)
# the order the estimates give (ties keep the file's order: slow, mid, fast)
worder=$(printf '%s slow 0\n%s mid 1\n%s fast 2\n' "$s" "$m" "$f" | sort -n -k1,1 -k3,3 | cut -d' ' -f2 | tr '\n' ' ' | sed 's/ $//')
expect "sjf orders by the history's est_ms (given none): $order (estimates: $worder)" test "$order" = "$worder"
run_gbx run h.json -j1 --config off.json --policy scheduling=sjf --events ev0.jsonl -q
order0=$(jq -s -r '[.[] | select(.event == "started") | .id] | join(" ")' ev0.jsonl)
expect "without history sjf keeps the file's order: $order0" test "$order0" = "slow mid fast"

# past 20 tasks, check --estimates prints one line per command template
# (a matrix entry's, or one command's) with its count; =tasks lists each
mkdir -p gd
cat >gd/g.json <<'J'
{"matrix": [{"id": "a{n}", "argv": ["true", "{n}"], "vars": {"n": [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25]}},
            {"id": "b{n}", "argv": ["sh", "-c", "exit 0 # {n}"], "vars": {"n": [1,2,3,4]}}],
 "tasks": [{"id": "c", "argv": ["true", "c"], "est_ms": 40}]}
J
run_gbx run gd/g.json -j2 -q
run_gbx run gd/g.json -j2 -q
run_gbx check gd/g.json --estimates
tl=$(grep -c '^  ' "$T/out")
expect "30 tasks: one line per template, the largest first ($tl lines)" \
	sh -c "[ '$rc' = 0 ] && [ '$tl' = 3 ] && grep -q 'by command template' '$T/out' &&
	       sed -n '/by command template/{n;p;}' '$T/out' | grep -q '^  25 tasks like a1 (true {n}): est_ms [0-9].*, 50 samples$' &&
	       grep -q '^  4 tasks like b1 (sh -c exit 0 # {n}): est_ms [0-9].*, 8 samples$' '$T/out' &&
	       grep -q '^  1 task like c (true c): est_ms 40 (1 given), mem_mb [0-9.]*, 2 samples$' '$T/out'"
run_gbx check gd/g.json --estimates=tasks
expect "--estimates=tasks lists every task" \
	sh -c "[ \$(grep -c '^  [abc][0-9]*: est_ms' '$T/out') = 30 ]"
run_gbx check h.json --estimates=groups
expect "--estimates=groups groups a small workload too" \
	sh -c "[ \$(grep -c '^  1 task like [a-z]* (sleep 0\.[0-9]*): est_ms [0-9]*, mem_mb [0-9.]*, [0-9]* samples$' '$T/out') = 3 ]"
run_gbx check h.json --estimates=all
expect "--estimates=all: exit 2 naming the choices" sh -c "[ '$rc' = 2 ] && grep -q 'tasks or groups' '$T/err'"
# 200,000 tasks from one template print one line; 60 commands print 50 and a count
awk 'BEGIN { printf "{\"matrix\": [{\"id\": \"x{i}-{j}\", \"argv\": [\"true\", \"{i}\", \"{j}\"], \"vars\": {\"i\": [";
	for (i = 0; i < 500; i++) printf "%s%d", i ? "," : "", i; printf "], \"j\": [";
	for (i = 0; i < 400; i++) printf "%s%d", i ? "," : "", i; printf "]}}], \"tasks\": [";
	for (i = 0; i < 60; i++) printf "%s{\"id\": \"p%d\", \"argv\": [\"echo\", \"%d\"]}", i ? "," : "", i, i;
	print "]}" }' >gd/big.json
run_gbx check gd/big.json --estimates
lines=$(wc -l <"$T/out")
expect "200,060 tasks: 50 template lines and what is left counted ($lines lines of output)" \
	sh -c "[ '$rc' = 0 ] && [ '$lines' -lt 70 ] &&
	       grep -q '^  200000 tasks like x0-0 (true {i} {j}): est_ms unknown, 0 samples$' '$T/out' &&
	       grep -q '^  \\.\\.\\. and 11 more templates (11 tasks): --estimates=tasks lists every task$' '$T/out'"

# the mem class: each task needs its own memory estimate (the p90 of its
# peak memory). The history is written here by hand: 600 MB each against a
# capacity of 1000, so two never run at once; without history they do.
mkdir -p mc
awk 'BEGIN { printf "{\"tasks\": ["
	for (i = 0; i < 4; i++) printf "%s{\"id\":\"m%d\",\"argv\":[\"sleep\",\"0.15\"],\"class\":\"mem\"}", i ? "," : "", i
	printf "]}\n" }' >mc/m.json
echo '{"resources": {"mem_mb": 1000}}' >mcap.json
echo '{"resources": {"mem_mb": 1000}, "history": false}' >mcap0.json
run_gbx run mc/m.json -q --config mcap0.json # creates nothing
run_gbx run mc/m.json -q --config mcap.json   # creates the store
for i in 0 1 2 3; do
	sqlite3 mc/.gearbox-history.db "insert into attempts(task, tmpl, ms, peak_kb, outcome, t) values('m$i', 'sleep 0.15', 150, 614400, 'ok', 0)"
done
run_gbx check mc/m.json --config mcap.json --estimates
expect "check --estimates shows the mem class's need" \
	sh -c "grep -q '^  m0: .*; class mem: admitted by mem_mb 600$' '$T/out' &&
	       grep -q '^memory per task (scaling policies. mem_per_task_mb): 600.0 MB$' '$T/out'"
# the most tasks running at once, from started and finished events
overlap() {
	jq -s '[.[] | select(.event == "started" or .event == "finished") | {t: .t_ms, d: (if .event == "started" then 1 else -1 end)}]
	       | sort_by(.t, .d) | reduce .[] as $e ({n: 0, max: 0}; .n += $e.d | .max = ([.max, .n] | max)) | .max' "$1"
}
run_gbx run mc/m.json -j4 --config mcap.json --events mev.jsonl -q
o1=$(overlap mev.jsonl)
need=$(jq -s -r '[.[] | select(.event == "started")][0].needs.mem_mb' mev.jsonl)
run_gbx run mc/m.json -j4 --config mcap0.json --events mev0.jsonl -q
o0=$(overlap mev0.jsonl)
expect "a mem class task is admitted by its estimate: one at a time (at most $o1 at once, need $need), without history $o0" \
	sh -c "[ '$o1' = 1 ] && [ '$need' = 600 ] && [ '$o0' -gt 1 ]"

# an estimate admits but never limits: under enforce, a task whose history
# says 1 MB still allocates 40 MB
if "$GBX" check mc/m.json 2>/dev/null | grep -q '^enforce: cgroup'; then
	mkdir -p en
	echo '{"tasks": [{"id": "grow", "class": "mem", "argv": ["python3", "-c", "b = bytearray(40 << 20); print(len(b))"]}]}' >en/g.json
	echo '{"enforce": true}' >enf.json
	run_gbx run en/g.json --config enf.json -q
	sqlite3 en/.gearbox-history.db "update attempts set peak_kb = 1024"
	run_gbx run en/g.json --config enf.json -q --events gev.jsonl
	expect "under enforce an estimated need is no limit (needs $(jq -s -c '[.[] | select(.event == "started")][0].needs' gev.jsonl), rc $rc)" \
		sh -c "[ '$rc' = 0 ] && jq -s -e '[.[] | select(.event == \"started\")][0].needs.mem_mb == 1' gev.jsonl >/dev/null"
else
	pass "enforce with an estimate: skipped, this machine gives no cgroup ($("$GBX" check mc/m.json 2>/dev/null | grep '^enforce'))"
fi

# scaling policies see memory per task: with the history saying each task
# needs more than 80% of the available memory, adaptive.lua (its CPU
# thresholds lifted, so a busy machine does not decide) never goes past one
# task; without history it grows
mkdir -p sc
awk 'BEGIN { printf "{\"tasks\": ["
	for (i = 0; i < 8; i++) printf "%s{\"id\":\"s%d\",\"argv\":[\"sleep\",\"0.2\"]}", i ? "," : "", i
	printf "]}\n" }' >sc/s.json
sed -e 's/^local INTERVAL_MS = .*/local INTERVAL_MS = 20/' -e 's/^local CPU_IDLE = .*/local CPU_IDLE = 2/' \
	-e 's/^local CPU_BUSY = .*/local CPU_BUSY = 2/' "$GBX_ROOT/policies/scaling/adaptive.lua" >adaptive.lua
echo '{"jobs": {"min": 1, "max": 8, "initial": 1}}' >sj.json
echo '{"jobs": {"min": 1, "max": 8, "initial": 1}, "history": false}' >sj0.json
run_gbx run sc/s.json --config sj.json -q
avail=$(awk '/^MemAvailable:/ {print $2}' /proc/meminfo)
for i in 0 1 2 3 4 5 6 7; do
	sqlite3 sc/.gearbox-history.db "insert into attempts(task, tmpl, ms, peak_kb, outcome, t) values('s$i', 'sleep 0.2', 200, $avail, 'ok', 0)"
done
run_gbx run sc/s.json --config sj.json --policy scaling=adaptive.lua --events sev.jsonl -q
s1=$(overlap sev.jsonl)
run_gbx run sc/s.json --config sj0.json --policy scaling=adaptive.lua --events sev0.jsonl -q
s0=$(overlap sev0.jsonl)
expect "adaptive scaling takes memory per task from history: at most $s1 at once (without history $s0)" \
	sh -c "[ '$s1' = 1 ] && [ '$s0' -gt 1 ]"

# attempts run by agents (--nodes) are recorded by the controller, keyed
# like local ones (task id and command), with the agents' peak memory
mkdir -p nd
echo '{"matrix": [{"id": "n{i}", "argv": ["sh", "-c", "echo {i}"], "vars": {"i": [1, 2, 3, 4]}}]}' >nd/n.json
run_gbx run nd/n.json -q --nodes local:2
nrows=$(sqlite3 nd/.gearbox-history.db "select count(*) from attempts where peak_kb > 0 and outcome = 'ok' and tmpl = 'sh -c echo ' || substr(task, 2)")
run_gbx run nd/n.json -q
lrows=$(sqlite3 nd/.gearbox-history.db "select count(distinct task) || '/' || count(*) from attempts group by tmpl" | sort -u | tr '\n' ' ')
expect "agents' attempts go into the history like local ones ($nrows rows from --nodes; tasks per command after a local run: $lrows)" \
	sh -c "[ '$rc' = 0 ] && [ '$nrows' = 4 ] && [ '$lrows' = '1/2 ' ]"

# two runs at once, 300 attempts each, into one file: all 600 rows arrive
echo "{\"matrix\": [{\"id\": \"a{i}\", \"argv\": [\"true\"], \"vars\": {\"i\": [$(seq -s, 1 300)]}}]}" >a.json
echo "{\"matrix\": [{\"id\": \"b{i}\", \"argv\": [\"true\"], \"vars\": {\"i\": [$(seq -s, 1 300)]}}]}" >b.json
echo '{"history": "shared.db"}' >sc.json
"$GBX" run a.json --config sc.json -q </dev/null >/dev/null 2>a.err &
pa=$!
"$GBX" run b.json --config sc.json -q </dev/null >/dev/null 2>b.err &
pb=$!
wait $pa; ra=$?
wait $pb; rb=$?
rows=$(sqlite3 shared.db "select count(*) from attempts where task like 'a%'; select count(*) from attempts where task like 'b%'; pragma journal_mode;" | tr '\n' ' ')
expect "two runs at once: both ok, 300 + 300 rows, WAL ($rows)" \
	sh -c "[ $ra = 0 ] && [ $rb = 0 ] && [ '$rows' = '300 300 wal ' ] && ! grep -q warning a.err b.err"

# a corrupt history: a warning, the file moved aside, a fresh store, run ok
head -c 8192 /dev/urandom >bad.db
echo '{"history": "bad.db"}' >bc.json
run_gbx run h.json --config bc.json -q
expect "corrupt history: warning, moved to bad.db.corrupt, run ok, fresh store with 3 rows" \
	sh -c "[ '$rc' = 0 ] && grep -q 'warning: history bad.db is not a usable store' '$T/err' &&
	       [ -f bad.db.corrupt ] && [ \"\$(sqlite3 bad.db 'select count(*) from attempts')\" = 3 ]"
# damage past the header (the open reads only the schema): found when the
# rows are written, which then go into a fresh store
mkdir -p dc
echo '{"tasks": [{"id": "a", "argv": ["true"]}]}' >dc/w.json
run_gbx run dc/w.json -q
sqlite3 dc/.gearbox-history.db "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 20000)
	INSERT INTO attempts(task, tmpl, ms, peak_kb, outcome, t) SELECT 't' || x, 'cmd ' || x, 1, 1, 'ok', 0 FROM c"
pages=$(($(stat -c %s dc/.gearbox-history.db) / 4096))
dd if=/dev/urandom of=dc/.gearbox-history.db bs=4096 seek=$((pages - 6)) count=6 conv=notrunc 2>/dev/null
run_gbx run dc/w.json -q
expect "damage deep in the store: run ok, a warning, moved aside, this run's row in a fresh store" \
	sh -c "[ '$rc' = 0 ] && grep -q 'warning: history .*gearbox-history.db is not a usable store' '$T/err' &&
	       [ -f dc/.gearbox-history.db.corrupt ] && [ \"\$(sqlite3 dc/.gearbox-history.db 'select count(*) from attempts')\" = 1 ]"
echo '{"history": 5}' >badc.json
run_gbx run h.json --config badc.json -q
expect "a bad history value is exit 2" sh -c "[ '$rc' = 2 ] && grep -q 'history: expected true' '$T/err'"
