# t_durable.sh - journal and --resume, kill -9, joblog, events, --output-dir,
# signals, --halt, changing -j while running, gearbox check.
. "$(dirname "$0")/lib.sh"

# wait_for FILE PATTERN: waits (bounded, 20 s) until FILE has a line matching PATTERN
wait_for() {
	i=0
	while ! grep -q -- "$2" "$1" 2>/dev/null; do
		i=$((i + 1))
		[ $i -gt 400 ] && return 1
		sleep 0.05
	done
}

# journal + resume: a failing task is fixed, only it (and what needs it) re-runs
cat >w.json <<'EOF'
{ "tasks": [
    { "id": "one", "argv": ["sh", "-c", "echo one >> runs.log"] },
    { "id": "two", "argv": ["sh", "-c", "echo two >> runs.log; test -f fixed"] },
    { "id": "three", "argv": ["sh", "-c", "echo three >> runs.log"], "deps": ["two"] }
  ] }
EOF
run_gbx run w.json --journal j.jsonl --no-progress
expect "journal: first run exits 1" test "$rc" = 1
expect "journal: a header line, then one record per finished task" sh -c "test \"\$(head -1 $T/j.jsonl)\" = '{\"gearbox\":\"journal\",\"version\":1}' && test \$(wc -l <$T/j.jsonl) = 4"
expect "journal: records are JSON with status" sh -c "jq -e -s 'map(select(.id) | .status) | sort == [\"failed\",\"ok\",\"skipped\"]' $T/j.jsonl >/dev/null"
touch fixed
: >runs.log
run_gbx run w.json --journal j.jsonl --resume --no-progress
expect "resume: second run succeeds" test "$rc" = 0
expect "resume: succeeded task not re-run" sh -c "! grep -q one $T/runs.log"
expect "resume: failed and skipped tasks re-run" sh -c "grep -q two $T/runs.log && grep -q three $T/runs.log"
expect "resume: summary says what came from the journal" has "(1 from the journal)" err
run_gbx run w.json --resume --no-progress
expect "resume without journal: exit 2" test "$rc" = 2

# a truncated last line (the writer died mid-line) is ignored, not fatal
printf '{"id":"one","status":"ok"}\n{"id":"two","sta' >jt.jsonl
: >runs.log
run_gbx run w.json --journal jt.jsonl --resume --no-progress
expect "resume: torn last line ignored with a warning" has "incomplete last record ignored" err
expect "resume: still skips what the intact lines record" sh -c "! grep -q one $T/runs.log"
: >runs.log
run_gbx run w.json --journal jt.jsonl --resume --no-progress
expect "resume again: the torn line was removed, not glued to the next record" sh -c "! grep -q 'not a journal record' $T/err && test -z \"\$(cat $T/runs.log)\""

# kill -9 in the middle: every journal line is whole, and resume finishes the rest
cat >k.json <<'EOF'
{ "matrix": [ { "id": "k{i}", "argv": ["sh", "-c", "sleep 0.05; echo k{i} >> kruns.log"],
               "vars": { "i": [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33,34,35,36,37,38,39,40] } } ] }
EOF
"$GBX" run k.json -j2 --journal kj.jsonl --no-progress >/dev/null 2>&1 &
pid=$!
wait_for kj.jsonl '"k6"'
kill -9 $pid
wait $pid 2>/dev/null
n1=$(wc -l <kj.jsonl)
expect "kill -9: journal has only whole JSON lines" sh -c "jq -e -s 'length == $n1' $T/kj.jsonl >/dev/null && test \"\$(tail -c1 $T/kj.jsonl | od -An -c | tr -d ' ')\" = '\\n'"
expect "kill -9: stopped part way" test "$n1" -lt 40
run_gbx run k.json -j2 --journal kj.jsonl --resume --no-progress
expect "kill -9: resume completes" test "$rc" = 0
expect "kill -9: journal holds all 40 tasks as ok" test "$(jq -r 'select(.status=="ok") | .id' kj.jsonl | sort -u | wc -l)" = 40
# at most the 2 running tasks ran twice
dups=$(sort kruns.log | uniq -d | wc -l)
expect "kill -9: at most the running tasks (j=2) ran twice" test "$dups" -le 2

# joblog: GNU parallel's columns
run_gbx run -j1 --joblog jl.tsv --no-progress -- sh -c 'exit $0' ::: 0 7
expect "joblog: header" sh -c "head -1 $T/jl.tsv | grep -q '^Seq	Host	Starttime	JobRuntime	Send	Receive	Exitval	Signal	Command\$'"
expect "joblog: one row per attempt with exit value" sh -c "awk -F'\t' 'NR>1 {print \$7}' $T/jl.tsv | sort | tr '\n' ' ' | grep -q '^0 7 \$'"
expect "joblog: command column" sh -c "grep -q 'sh -c exit \$0 7' $T/jl.tsv"

# events: one JSON object per line, queued/started/finished for every task
cat >ev.json <<'EOF'
{ "tasks": [ { "id": "x", "kind": "sim" }, { "id": "y", "kind": "sim", "deps": ["x"] } ] }
EOF
run_gbx run ev.json --events ev.jsonl --no-progress
expect "events: every line parses" sh -c "jq -e . $T/ev.jsonl >/dev/null"
expect "events: queued, started, finished per task" test "$(jq -r '.event' ev.jsonl | sort | uniq -c | awk '{print $1}' | tr '\n' ' ')" = "2 2 2 "
expect "events: y queued only after x finished" sh -c "jq -r '.event + \":\" + .id' $T/ev.jsonl | tr '\n' ' ' | grep -q 'finished:x.*queued:y'"

# --output-dir keeps stdout and stderr as files, not on the terminal
run_gbx run --output-dir outs --no-progress -- sh -c 'echo out-$0; echo err-$0 >&2' ::: a/b c
expect "output-dir: stdout file" sh -c "grep -q out-c $T/outs/2.stdout"
expect "output-dir: stderr file" sh -c "grep -q err-a/b $T/outs/1.stderr"
expect "output-dir: nothing printed" test ! -s out

# SIGINT: stop starting, terminate running tasks, flush the journal, exit 130
cat >sig.json <<'EOF'
{ "tasks": [ { "id": "fast", "argv": ["true"] },
             { "id": "long1", "argv": ["sleep", "60.123"], "deps": ["fast"] },
             { "id": "long2", "argv": ["sleep", "60.123"], "deps": ["fast"] },
             { "id": "later", "argv": ["touch", "later-ran"], "deps": ["long1"] } ] }
EOF
"$GBX" run sig.json -j2 --journal sj.jsonl --events sev.jsonl --no-progress >sout 2>serr &
pid=$!
wait_for sev.jsonl '"started","id":"long2"'
wait_for sev.jsonl '"started","id":"long1"'
start=$(date +%s)
kill -INT $pid
wait $pid
rc=$?
end=$(date +%s)
expect "SIGINT: exit 130" test "$rc" = 130
expect "SIGINT: running tasks terminated quickly" test $((end - start)) -lt 10
expect "SIGINT: no new task started" test ! -e later-ran
expect "SIGINT: journal flushed (fast recorded)" has '"id":"fast","status":"ok"' sj.jsonl
expect "SIGINT: summary printed" has "not started" serr
expect "SIGINT: no sleep left behind" sh -c "! pgrep -x -f 'sleep 60.123' >/dev/null"

# a second SIGINT exits at once even when a task ignores TERM
cat >sig2.json <<'EOF'
{ "tasks": [ { "id": "stubborn", "argv": ["sh", "-c", "trap '' TERM INT; echo ready > ready.txt; sleep 60; sleep 60"] } ] }
EOF
echo '{ "kill_grace_ms": 60000 }' >longgrace.json
"$GBX" run sig2.json --config longgrace.json --events s2.jsonl --no-progress >s2out 2>s2err &
pid=$!
wait_for ready.txt ready
kill -INT $pid
wait_for s2err "stopping"
start=$(date +%s)
kill -INT $pid
wait $pid
rc=$?
end=$(date +%s)
expect "second SIGINT: exit 130 at once" sh -c "test $rc = 130 && test $((end - start)) -lt 5"
pkill -f "trap '' TERM INT" 2>/dev/null

# --halt soon,fail=1: no new tasks after the first failure, running ones finish
cat >h.json <<'EOF'
{ "tasks": [ { "id": "bad", "sh": "until [ -e bad2-started ]; do sleep 0.01; done; exit 1", "priority": 10 },
             { "id": "after1", "argv": ["touch", "after1"], "deps": ["bad2"] },
             { "id": "bad2", "argv": ["sh", "-c", "touch bad2-started; sleep 0.3; touch bad2-finished"], "priority": 5 },
             { "id": "late", "argv": ["touch", "late-ran"], "priority": 1 } ] }
EOF
run_gbx run h.json -j2 --halt soon,fail=1 --no-progress
expect "halt soon: exit 1" test "$rc" = 1
expect "halt soon: running task finished" test -e bad2-finished
expect "halt soon: no new task started" sh -c "test ! -e $T/late-ran && test ! -e $T/after1"
expect "halt soon: says it halted" has "halting (soon)" err
rm -f bad2-finished bad2-started
run_gbx run h.json -j2 --halt now,fail=1 --no-progress
expect "halt now: running task killed" test ! -e bad2-finished
expect "halt now: exit 1" test "$rc" = 1
run_gbx run h.json --halt sometimes
expect "halt: bad value is a usage error" sh -c "test $rc = 2 && grep -q 'expected never' $T/err"

# -j FILE: concurrency changed while running
cat >jw.json <<'EOF'
{ "matrix": [ { "id": "j{i}", "kind": "sim", "io_ms": 150,
               "vars": { "i": [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24] } } ] }
EOF
echo 1 >jobs.txt
"$GBX" run jw.json -j jobs.txt --events jev.jsonl --no-progress >/dev/null 2>&1 &
pid=$!
wait_for jev.jsonl '"finished","id":"j2"'
echo 6 >jobs.txt
wait $pid
rc=$?
# max number of tasks running at once, from the events
maxrun=$(jq -r 'select(.event=="started" or .event=="finished") | .event' jev.jsonl |
	awk '/started/ {n++} /finished/ {n--} {if (n > m) m = n} END {print m}')
firstpair=$(jq -r 'select(.event=="started" or .event=="finished") | .event' jev.jsonl | head -4 | tr '\n' ' ')
expect "jobs file: run succeeds" test "$rc" = 0
expect "jobs file: one at a time at first" test "$firstpair" = "started finished started finished "
expect "jobs file: more at once after the file changed" test "$maxrun" -ge 4

# gearbox check: DAG stats without running anything
cat >ck.json <<'EOF'
{ "tasks": [ { "id": "a", "argv": ["touch", "check-ran"], "est_ms": 100 },
             { "id": "b", "kind": "sim", "deps": ["a"], "est_ms": 50 },
             { "id": "c", "kind": "sim", "deps": ["a"], "est_ms": 300 },
             { "id": "d", "kind": "sim", "deps": ["b", "c"], "est_ms": 10 } ] }
EOF
run_gbx check ck.json
expect "check: exit 0" test "$rc" = 0
expect "check: runs nothing" test ! -e check-ran
expect "check: task count" has "tasks: 4 (exec 1, sim 3)" out
expect "check: edges" has "edges: 4" out
expect "check: depth" has "depth: 3" out
expect "check: critical path" has "critical path: 410 ms" out
