# t_badinput.sh - bad input: a clear message naming the file, the place and
# the problem, exit status 2, no crash, no hang, nothing half-written.
. "$(dirname "$0")/lib.sh"

# bad NAME FILE-CONTENT PATTERN...: `gearbox run` on it exits 2 and stderr matches every pattern
bad() {
	name=$1
	printf '%s' "$2" >bad.json
	shift 2
	run_gbx run bad.json --journal bad-journal.jsonl --no-progress
	ok=1
	[ "$rc" = 2 ] || ok=0
	for p in "$@"; do grep -q -- "$p" err || ok=0; done
	# no task ran, nothing was journaled
	[ ! -s bad-journal.jsonl ] || ok=0
	if [ $ok = 1 ]; then pass "$name"; else fail "$name" "rc=$rc" "stderr: $(cat err)"; fi
	# check says the same
	run_gbx check bad.json
	if [ "$rc" = 2 ]; then pass "$name (check)"; else fail "$name (check)" "rc=$rc"; fi
}

bad "malformed JSON: file, line, column" '{ "tasks": [
  { "id": "a", "argv": ["true"] },
  { "id": "b" "argv": ["true"] }
] }' 'bad.json:3:' 'bad.json:3:[0-9]*:'

bad "unknown task field with did-you-mean" '{ "tasks": [ { "id": "a", "argv": ["true"], "dpes": ["x"] } ] }' \
	'bad.json' 'tasks\[0\]' '"a"' 'unknown field "dpes"' 'did you mean "deps"'

bad "unknown top-level field" '{ "taks": [] }' 'bad.json' 'unknown top-level field "taks"' 'did you mean "tasks"'

bad "duplicate id" '{ "tasks": [ { "id": "a", "argv": ["true"] }, { "id": "a", "argv": ["false"] } ] }' \
	'bad.json' 'duplicate' '"a"' 'tasks\[0\]' 'tasks\[1\]'

bad "missing dependency" '{ "tasks": [ { "id": "parse", "argv": ["true"], "deps": ["fetch"] } ] }' \
	'bad.json' '"parse"' '"fetch"' 'does not exist'

bad "dependency cycle named" '{ "tasks": [
  { "id": "a", "argv": ["true"], "deps": ["c"] },
  { "id": "b", "argv": ["true"], "deps": ["a"] },
  { "id": "c", "argv": ["true"], "deps": ["b"] },
  { "id": "free", "argv": ["true"] } ] }' 'bad.json' 'cycle' 'a' '-> ' 

bad "self dependency is a cycle" '{ "tasks": [ { "id": "me", "argv": ["true"], "deps": ["me"] } ] }' \
	'bad.json' 'cycle' 'me -> me'

bad "empty argv" '{ "tasks": [ { "id": "e", "argv": [] } ] }' 'bad.json' 'tasks\[0\]' 'argv is empty'

bad "negative number" '{ "tasks": [ { "id": "n", "argv": ["true"], "timeout_ms": -5 } ] }' \
	'bad.json' '"n"' 'timeout_ms' 'negative'

bad "absurd number" '{ "tasks": [ { "id": "n", "argv": ["true"], "retries": 1000000 } ] }' \
	'bad.json' '"n"' 'retries' 'absurd'

bad "wrong type" '{ "tasks": [ { "id": "n", "argv": "true" } ] }' 'bad.json' 'argv'

bad "fail_rate out of range" '{ "tasks": [ { "id": "s", "kind": "sim", "fail_rate": 1.5 } ] }' \
	'bad.json' 'fail_rate'

bad "unknown kind" '{ "tasks": [ { "id": "k", "kind": "teleport" } ] }' 'bad.json' 'teleport'

bad "not an object" '[1, 2, 3]' 'bad.json'

# binary garbage
head -c 4096 /dev/urandom >garbage.json
run_gbx run garbage.json --no-progress
expect "binary garbage: exit 2 with the file named" sh -c "test $rc = 2 && grep -q 'garbage.json' $T/err"

# an empty file, a directory, a missing file
: >empty.json
run_gbx run empty.json
expect "empty file: exit 2" sh -c "test $rc = 2 && grep -q 'empty.json' $T/err"
mkdir adir.json
run_gbx run adir.json
expect "directory: exit 2" sh -c "test $rc = 2 && grep -q 'adir.json' $T/err"
run_gbx run missing.json
expect "missing file: exit 2" sh -c "test $rc = 2 && grep -q 'missing.json' $T/err"

# a 50 MB workload file is checked without trouble
awk 'BEGIN {
	printf "{ \"tasks\": [\n";
	n = 400000;
	for (i = 0; i < n; i++)
		printf "{ \"id\": \"task-%07d\", \"kind\": \"sim\", \"tags\": [\"padding-padding-padding\"], \"meta\": { \"note\": \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\" } }%s\n", i, (i < n - 1 ? "," : "");
	printf "] }\n";
}' >big.json
size=$(wc -c <big.json)
run_gbx check big.json
expect "50 MB workload: file is that big" test "$size" -gt 50000000
expect "50 MB workload: checked" sh -c "test $rc = 0 && grep -q 'tasks: 400000' $T/out"

# usage errors
run_gbx run
expect "no workload: exit 2" sh -c "test $rc = 2 && grep -q 'no workload' $T/err"
run_gbx run -j zero x.json
expect "bad -j: exit 2" sh -c "test $rc = 2 && grep -q -- '-j zero' $T/err"
run_gbx run --bogus x.json
expect "unknown option: exit 2" sh -c "test $rc = 2 && grep -q -- '--bogus' $T/err"

# config errors name the file and key
echo '{ "jobs": { "initial": 2, "maxx": 4 } }' >cfg.json
echo '{ "tasks": [] }' >ok.json
run_gbx run ok.json --config cfg.json
expect "config: unknown key named with did-you-mean" sh -c "test $rc = 2 && grep -q 'cfg.json: jobs: unknown key \"maxx\" (did you mean \"max\"?)' $T/err"
echo '{ "jobs": 4, "profiles": { "fast": { "jobs": 8 } } }' >cfg2.json
run_gbx run ok.json --config cfg2.json --profile slow
expect "config: unknown profile lists the known ones" sh -c "test $rc = 2 && grep -q 'no profile \"slow\" (profiles: fast)' $T/err"
printf '{ "jobs": 4,\n  "jobs": 5 }' >cfg3.json
run_gbx run ok.json --config cfg3.json
expect "config: duplicate key with line" sh -c "test $rc = 2 && grep -q 'cfg3.json:2:' $T/err"
