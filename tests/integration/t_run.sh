# t_run.sh - gearbox run end to end: exec and sim tasks, deps, output,
# failures, retries, timeouts, env/cwd/stdin/sh, the quick form.
. "$(dirname "$0")/lib.sh"

cat >w.json <<'EOF'
{ "name": "basic",
  "tasks": [
    { "id": "a", "argv": ["sh", "-c", "echo a-out; echo a-err >&2; echo a > a.txt"] },
    { "id": "b", "argv": ["sh", "-c", "test -f a.txt && echo b-saw-a"], "deps": ["a"] },
    { "id": "c", "kind": "sim", "cpu_us": 100, "deps": ["a"] },
    { "id": "d", "sh": "echo d-$((1+2))", "deps": ["b", "c"] }
  ] }
EOF
run_gbx run w.json -j2 --no-progress
expect "run: all succeed, exit 0" test "$rc" = 0
expect "run: deps respected (b ran after a)" has "b-saw-a" out
expect "run: sh only when asked" has "d-3" out
expect "run: stderr captured and shown" has "a-err" err
expect "run: summary counts" has "4 tasks: 4 ok, 0 failed, 0 skipped" err

# output of a task is grouped, never interleaved mid-line with another task
cat >g.json <<'EOF'
{ "tasks": [] ,
  "matrix": [ { "id": "p{n}", "vars": { "n": [1,2,3,4,5,6,7,8] },
    "argv": ["sh", "-c", "for i in 1 2 3 4 5 6 7 8 9 10; do printf 'task{n}-line%s\\n' $i; done"] } ] }
EOF
run_gbx run g.json -j8 --no-progress
ok=1
for n in 1 2 3 4 5 6 7 8; do
	# the 10 lines of each task are consecutive in the output
	first=$(grep -n "^task$n-line1\$" out | cut -d: -f1)
	last=$(grep -n "^task$n-line10\$" out | cut -d: -f1)
	[ -n "$first" ] && [ -n "$last" ] && [ $((last - first)) -eq 9 ] || ok=0
done
[ "$(wc -l <out)" -eq 80 ] || ok=0
expect "run: output grouped per task" test $ok = 1

# a failure: exit status and stderr tail in the summary, dependants skipped, exit 1
cat >f.json <<'EOF'
{ "tasks": [
    { "id": "good", "argv": ["true"] },
    { "id": "bad", "argv": ["sh", "-c", "echo first >&2; echo boom-last-line >&2; exit 3"] },
    { "id": "child", "argv": ["echo", "never"], "deps": ["bad"] },
    { "id": "grandchild", "argv": ["echo", "never"], "deps": ["child"] }
  ] }
EOF
run_gbx run f.json --no-progress --events ev.jsonl
expect "failure: exit 1" test "$rc" = 1
expect "failure: summary names the task and exit status" has "FAILED bad: exit 3" err
expect "failure: summary shows the stderr tail" has "| boom-last-line" err
expect "failure: dependants skipped and reported" has "skipped (a dependency failed): child, grandchild" err
expect "failure: dependants never ran" sh -c "! grep -q never $T/out"
expect "failure: skipped events" test "$(grep -c '"event":"skipped"' ev.jsonl)" = 2

# a command that does not exist fails with a spawn error; the run goes on
cat >n.json <<'EOF'
{ "tasks": [ { "id": "ghost", "argv": ["/no/such/command-xyz"] },
             { "id": "other", "argv": ["echo", "other-ran"] } ] }
EOF
run_gbx run n.json --no-progress
expect "spawn error: exit 1" test "$rc" = 1
expect "spawn error: clear message" has "FAILED ghost: spawn: cannot run /no/such/command-xyz: No such file or directory" err
expect "spawn error: the run goes on" has "other-ran" out

# unreadable cwd: the task fails with a clear message
mkdir locked && chmod 000 locked
cat >c.json <<EOF
{ "tasks": [ { "id": "incwd", "argv": ["pwd"], "cwd": "$T/locked" },
             { "id": "nocwd", "argv": ["pwd"], "cwd": "$T/missing-dir" } ] }
EOF
run_gbx run c.json --no-progress
if [ "$(id -u)" = 0 ]; then
	# root can enter a mode-000 directory; only the missing one fails
	expect "cwd: missing directory is a spawn failure" has "FAILED nocwd: spawn: cannot enter cwd $T/missing-dir: No such file or directory" err
else
	expect "cwd: unreadable directory is a spawn failure" has "FAILED incwd: spawn: cannot enter cwd" err
fi
chmod 755 locked

# env, cwd, stdin
mkdir sub
cat >e.json <<EOF
{ "defaults": { "env": { "GBX_A": "from-defaults", "GBX_B": "b" } },
  "tasks": [ { "id": "env", "argv": ["sh", "-c", "echo \$GBX_A-\$GBX_B-\$HOME_SET"], "env": { "GBX_A": "from-task", "HOME_SET": "x" } },
             { "id": "cwd", "argv": ["pwd"], "cwd": "$T/sub" },
             { "id": "stdin", "argv": ["tr", "a-z", "A-Z"], "stdin": "hello stdin\n" } ] }
EOF
run_gbx run e.json --no-progress
expect "env: task overrides defaults, others inherited" has "from-task-b-x" out
expect "cwd: task runs in its cwd" has "^$T/sub\$" out
expect "stdin: data fed to the task" has "HELLO STDIN" out

# argv is not a shell: metacharacters are passed literally
cat >a.json <<'EOF'
{ "tasks": [ { "id": "lit", "argv": ["echo", "$HOME", "a;b", "*"] } ] }
EOF
run_gbx run a.json --no-progress
expect "argv: no shell expansion" has '^\$HOME a;b \*$' out

# retries with the built-in backoff: fail twice, succeed on the third attempt
cat >r.json <<'EOF'
{ "tasks": [ { "id": "flaky", "kind": "sim", "fail_after": 2, "retries": 2 },
             { "id": "hopeless", "kind": "sim", "fail_after": 5, "retries": 1 } ] }
EOF
run_gbx run r.json --no-progress --events rev.jsonl
expect "retries: exit 1 (one task out of retries)" test "$rc" = 1
expect "retries: flaky succeeds on attempt 3" sh -c "grep '\"id\":\"flaky\"' $T/rev.jsonl | grep '\"finished\"' | grep -q '\"attempt\":3,\"ok\":true'"
expect "retries: two retried events for flaky" test "$(grep '"retried"' rev.jsonl | grep -c '"flaky"')" = 2
expect "retries: backoff doubles (100, 200 ms)" sh -c "grep '\"retried\"' $T/rev.jsonl | grep '\"flaky\"' | tr '\n' ' ' | grep -q 'delay_ms\":100.*delay_ms\":200'"
expect "retries: hopeless fails after 2 attempts" has "FAILED hopeless: exit 1: sim: injected failure (attempt 2) (2 attempts)" err

# sim fail_rate is deterministic for a seed
cat >s.json <<'EOF'
{ "defaults": { "seed": 42 },
  "matrix": [ { "id": "s{i}", "kind": "sim", "fail_rate": 0.5,
               "vars": { "i": [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20] } } ] }
EOF
"$GBX" run s.json -j4 --no-progress --journal j1 >/dev/null 2>&1
"$GBX" run s.json -j1 --no-progress --journal j2 >/dev/null 2>&1
f1=$(grep '"failed"' j1 | sed 's/.*"id":"\([^"]*\)".*/\1/' | sort | tr '\n' ' ')
f2=$(grep '"failed"' j2 | sed 's/.*"id":"\([^"]*\)".*/\1/' | sort | tr '\n' ' ')
expect "sim: same seed, same failures at any -j" test -n "$f1" -a "$f1" = "$f2"
nf=$(echo $f1 | wc -w)
expect "sim: fail_rate 0.5 fails some, not all" test "$nf" -gt 2 -a "$nf" -lt 18

# timeout: SIGTERM, then SIGKILL for a task that ignores TERM
cat >t.json <<'EOF'
{ "tasks": [ { "id": "slow", "argv": ["sleep", "30"], "timeout_ms": 200 },
             { "id": "stubborn", "argv": ["sh", "-c", "trap '' TERM; sleep 30; sleep 30"], "timeout_ms": 200 } ] }
EOF
echo '{ "kill_grace_ms": 300 }' >grace.json
start=$(date +%s)
run_gbx run t.json --config grace.json --no-progress
end=$(date +%s)
expect "timeout: exit 1" test "$rc" = 1
expect "timeout: reported as timeout" has "FAILED slow: timeout: timed out after 200 ms" err
expect "timeout: TERM-ignoring task killed after grace" has "FAILED stubborn: timeout" err
expect "timeout: the run did not wait for sleep 30" test $((end - start)) -lt 15

# quick form
printf 'x\n' >one.log
printf 'y\n' >two.log
run_gbx run -j2 --no-progress -- sh -c 'echo "got $0"' {} ::: one.log two.log
expect "quick: ::: arguments substituted" sh -c "grep -q 'got one.log' $T/out && grep -q 'got two.log' $T/out"
run_gbx run -j2 --no-progress -- echo ::: p q ::: 1 2
expect "quick: several ::: make the product, args appended" sh -c "grep -q '^p 1\$' $T/out && grep -q '^q 2\$' $T/out && test \$(wc -l <$T/out) = 4"
printf 'l1\nl2\nl3\n' >args.txt
run_gbx run -a args.txt --no-progress -- echo arg={}
expect "quick: -a FILE one argument per line" sh -c "grep -q '^arg=l3\$' $T/out && test \$(wc -l <$T/out) = 3"
printf 'i1\ni2\n' | "$GBX" run -a - --no-progress -- echo stdin={} >out 2>err
expect "quick: -a - reads stdin" sh -c "grep -q '^stdin=i2\$' $T/out"
run_gbx run --no-progress -- gzip -k {} ::: one.log two.log
expect "quick: gzip -k {} like parallel" test -f one.log.gz -a -f two.log.gz -a -f one.log

# -v and -q
run_gbx run w.json -q --no-progress
expect "quiet: no summary on success" sh -c "! grep -q 'tasks:' $T/err"
run_gbx run w.json -v --no-progress
expect "verbose: a line per task" has "gearbox: ok d" err

# 0 tasks succeed and say so
echo '{ "name": "empty", "tasks": [] }' >empty.json
run_gbx run empty.json --no-progress
expect "empty workload: exit 0" test "$rc" = 0
expect "empty workload: says so" has "has no tasks; nothing to do" err

# --help and --version
run_gbx --version
expect "version" has "^gearbox [0-9]" out
run_gbx run --help
expect "run --help lists options" has "--journal FILE" out
run_gbx frobnicate
expect "unknown command: exit 2" test "$rc" = 2

# the progress line: on with --progress, off by default when stderr is not a terminal
cat >p.json <<'EOF2'
{ "matrix": [ { "id": "p{i}", "kind": "sim", "io_ms": 100, "vars": { "i": [1,2,3,4,5,6] } } ] }
EOF2
run_gbx run p.json -j1 --progress
expect "progress: forced on shows done/failed/running/queued, rate and ETA" sh -c "grep -a -q 'done (.* ok, .* failed), .* running, .* queued, .*/s, ETA' $T/err"
run_gbx run p.json -j1
expect "progress: off when stderr is not a terminal" sh -c "! grep -a -q 'ETA' $T/err"
if command -v script >/dev/null 2>&1; then
	script -qec "$GBX run p.json -j1" /dev/null >tty.out 2>&1 </dev/null
	expect "progress: on by default on a terminal" sh -c "grep -a -q 'ETA' $T/tty.out"
	script -qec "$GBX run p.json -j1 --no-progress" /dev/null >tty2.out 2>&1 </dev/null
	expect "progress: --no-progress turns it off on a terminal" sh -c "! grep -a -q 'ETA' $T/tty2.out"
fi

# an ignored SIGCHLD inherited from the parent does not make gearbox lose its children
timeout 20 sh -c "trap '' CHLD; exec \"$GBX\" run -q --no-progress -- echo ::: a b" >chld.out 2>&1
rc=$?
expect "SIGCHLD ignored by the parent: the run still completes (rc=$rc)" sh -c "test $rc = 0 && grep -q '^a\$' $T/chld.out"

# closed stdout: task output does not land in the journal
"$GBX" run --journal cj.jsonl -q --no-progress -- echo hello ::: 1 2 >&- 2>/dev/null
expect "stdout closed: the journal holds only records" sh -c "jq -e -s 'map(select(.id)) | length == 2' $T/cj.jsonl >/dev/null && ! grep -q hello $T/cj.jsonl"

# a timeout reaches what the task started, also what outlived it and ignored TERM
cat >orphan.json <<'EOF2'
{ "tasks": [ { "id": "o", "sh": "(trap '' TERM; exec sleep 31.321) & exec sleep 32.321", "timeout_ms": 300 } ] }
EOF2
echo '{ "kill_grace_ms": 200 }' >g2.json
run_gbx run orphan.json --config g2.json --no-progress
expect "timeout: no descendant left behind" sh -c "test $rc = 1 && ! pgrep -x -f 'sleep 31.321' >/dev/null"
