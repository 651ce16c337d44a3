# t_cache.sh - the cache plugin end to end: a second run executes nothing and
# restores outputs byte for byte with their modes; a changed input re-runs
# exactly its dependants; cache:false, require_inputs, failures; damaged
# entries are misses with a warning; two gearbox processes on one cache dir;
# packs (waiting entries, kill -9, salvage, merging); identical tasks across
# the agents of a --nodes local:2 run run once;
# gearbox cache stats|gc|clear|verify; cache.has/cache.hit_rate from Lua.
#
# Every task appends to $T/ran (outside the cache), so "executed nothing" is
# checked by that file not growing, not by timing.
. "$(dirname "$0")/lib.sh"

ran="$T/ran"
: >"$ran"
nran() { wc -l <"$ran" | tr -d ' '; }
# cached_count EVENTS: finished events labelled cached
cached_count() { grep '"event":"finished"' "$1" | grep -c '"label":"cached"'; }
# flip FILE OFFSET: changes the byte there (to X, or Y where it was X: the
# byte may be part of a timestamp, so writing a constant changes nothing 1 time in 256)
flip() {
	b=X; [ "$(od -A n -c -j "$2" -N 1 "$1" | tr -d ' ')" = X ] && b=Y
	printf '%s' "$b" | dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null
}
finished_count() { grep -c '"event":"finished"' "$1"; }
conf() { # conf FILE JSON-MEMBERS: a config with plugins.cache.dir=$T/cc plus members
	echo "{ \"plugins\": { \"cache\": { \"dir\": \"$T/cc\"${2:+, $2} } } }" >"$1"
}
conf cfg.json

# ---- the acceptance workload ------------------------------------------------------
mkdir -p src tree-src/sub
echo "alpha" >src/a.txt
echo "beta" >src/b.txt
echo "one" >tree-src/sub/x.txt
cat >w.json <<EOF
{ "tasks": [
  { "id": "gen", "sh": "echo gen >>$ran; mkdir -p res; printf 'bin\\\\000\\\\001\\\\377' >res/gen.bin; cat src/a.txt >>res/gen.bin; chmod 750 res/gen.bin; echo gen-out; echo gen-err >&2",
    "inputs": ["src/a.txt"], "outputs": ["res/gen.bin"] },
  { "id": "big", "sh": "echo big >>$ran; mkdir -p res; yes big | head -c 20000 >res/big.txt; chmod 600 res/big.txt; yes line | head -n 2000",
    "inputs": ["src/b.txt"], "outputs": ["res/big.txt"] },
  { "id": "tree", "sh": "echo tree >>$ran; rm -rf res/tree; mkdir -p res/tree/deep; cp -r tree-src/sub res/tree/; echo t >res/tree/deep/t.txt; chmod 700 res/tree/deep; ln -s deep/t.txt res/tree/link; echo tree-out",
    "inputs": ["tree-src"], "outputs": ["res/tree"] },
  { "id": "dep", "sh": "echo dep >>$ran; cksum <res/gen.bin >res/dep.txt; cat res/dep.txt", "deps": ["gen"],
    "inputs": ["res/gen.bin"], "outputs": ["res/dep.txt"] },
  { "id": "plain", "argv": ["sh", "-c", "echo plain >>$ran; echo plain-out"] }
] }
EOF
snapshot() { # snapshot DIR: a copy of res/ plus modes and link targets
	rm -rf "$1"; cp -a res "$1"
	(cd res && find . | sort | while read -r f; do printf '%s %s %s\n' "$f" "$(stat -c %a "$f")" "$(readlink "$f")"; done) >"$1.modes"
}
run_gbx run w.json -j1 --config cfg.json --enable cache --events ev1.jsonl --journal j1.jsonl --no-progress
cp "$T/out" stdout1.txt
expect "first run: ok" test "$rc" = 0
expect "first run: all 5 tasks executed" test "$(nran)" = 5
expect "first run: nothing cached" test "$(cached_count ev1.jsonl)" = 0
snapshot first
rm -rf res
run_gbx run w.json -j1 --config cfg.json --enable cache --events ev2.jsonl --journal j2.jsonl --no-progress
expect "second run: ok" test "$rc" = 0
expect "second run: executed nothing" test "$(nran)" = 5
expect "second run: every task finished as cached in --events" test "$(cached_count ev2.jsonl)" = 5
expect "second run: the journal says cached" test "$(grep -c '"label":"cached"' j2.jsonl)" = 5
expect "second run: same stdout" cmp -s stdout1.txt "$T/out"
expect "second run: stderr replayed" has gen-err "$T/err"
snapshot second
expect "second run: outputs restored byte for byte" diff -r first second
expect "second run: modes and symlinks restored" cmp -s first.modes second.modes
expect "second run: a binary output with mode 750" test "$(stat -c %a res/gen.bin)" = 750
expect "second run: an output over 4 KiB (a blob) restored" test "$(wc -c <res/big.txt)" = 20000
grep '"event":"cache.stats"' ev2.jsonl >stats2.json
expect "second run: cache.stats event counts 5 hits" has '"hits":5,' stats2.json

# a third run with the outputs in place changes nothing either
run_gbx run w.json -j1 --config cfg.json --enable cache --no-progress
expect "third run (outputs present): executed nothing" test "$(nran)" = 5

# ---- one input changes: exactly its dependants run ------------------------------------
echo "ALPHA" >src/a.txt
: >"$ran"
run_gbx run w.json -j1 --config cfg.json --enable cache --events ev3.jsonl --no-progress
expect "input changed: ok" test "$rc" = 0
expect "input changed: exactly gen and dep (through gen's output) re-ran ($(tr '\n' ' ' <"$ran"))" \
	test "$(sort "$ran" | tr '\n' ' ')" = "dep gen "
expect "input changed: the other three were cached" test "$(cached_count ev3.jsonl)" = 3
echo "two" >tree-src/sub/x.txt
: >"$ran"
run_gbx run w.json -j1 --config cfg.json --enable cache --no-progress
expect "a file deep in an input directory changed: only tree re-ran" test "$(cat "$ran")" = tree
expect "... and its new content is in its output" has two res/tree/sub/x.txt

# ---- cache: false, require_inputs ---------------------------------------------------------
cat >nc.json <<EOF
{ "tasks": [
  { "id": "never", "cache": false, "argv": ["sh", "-c", "echo never >>$ran"] },
  { "id": "noin", "argv": ["sh", "-c", "echo noin >>$ran"] },
  { "id": "within", "inputs": ["src/b.txt"], "argv": ["sh", "-c", "echo within >>$ran"] } ] }
EOF
: >"$ran"
run_gbx run nc.json --config cfg.json --enable cache --no-progress
run_gbx run nc.json --config cfg.json --enable cache --no-progress --events ev.jsonl
expect "cache:false: runs every time" test "$(grep -c never "$ran")" = 2
expect "cache:false: the others were cached" test "$(grep -c noin "$ran"):$(grep -c within "$ran")" = 1:1
conf ri.json '"require_inputs": true, "key_version": "ri"'
: >"$ran"
run_gbx run nc.json --config ri.json --enable cache --no-progress
run_gbx run nc.json --config ri.json --enable cache --no-progress
expect "require_inputs: a task without inputs is never cached" test "$(grep -c noin "$ran")" = 2
expect "require_inputs: one with inputs is" test "$(grep -c within "$ran")" = 1

# ---- failures ----------------------------------------------------------------------------------
cat >f.json <<EOF
{ "tasks": [ { "id": "bad", "argv": ["sh", "-c", "echo bad >>$ran; echo bad-out; exit 3"] } ] }
EOF
: >"$ran"
run_gbx run f.json --config cfg.json --enable cache --no-progress
run_gbx run f.json --config cfg.json --enable cache --no-progress --events evf.jsonl
expect "failure: not cached by default (ran twice, exit 1)" test "$(nran):$rc:$(cached_count evf.jsonl)" = 2:1:0
conf cf.json '"cache_failures": true'
: >"$ran"
run_gbx run f.json --config cf.json --enable cache --no-progress
run_gbx run f.json --config cf.json --enable cache --no-progress --events evf.jsonl --journal jf.jsonl
expect "cache_failures: the failure is replayed (ran once, still exit 1)" test "$(nran):$rc:$(cached_count evf.jsonl)" = 1:1:1
expect "cache_failures: with its exit status and output" sh -c "grep -q '\"exit\":3.*\"label\":\"cached\"' jf.jsonl && grep -q bad-out '$T/out'"

# ---- damaged entries: misses with a warning, never a failed run ------------------------------
# (a cache of its own, so every entry in it belongs to w.json as it is now)
conf dmg.json '"key_version": "dmg"'
sed -i "s#$T/cc#$T/dmg#" dmg.json
rm -rf res
run_gbx run w.json -j1 --config dmg.json --enable cache --no-progress
snapshot refill
# big's entry is a file of its own (it has blobs); the others are in one pack
e1=$(find dmg/v1/entries -type f | sort | sed -n 1p)
pk=$(find dmg/v1/packs -name '*.pack' | sort | sed -n 1p)
expect "packs: one file for the four small entries, one for big's" sh -c "test -n '$e1' && test -n '$pk' && test \$(find dmg/v1/entries dmg/v1/packs -type f | wc -l) = 2"
truncate -s 30 "$e1"
# a byte flipped inside the pack's first entry (index record 0: key, u64 offset, u64 length)
off=$(od -A n -t u8 -j 48 -N 8 "$pk" | tr -d ' ')
flip "$pk" $((off + 40))
: >"$ran"
rm -rf res
run_gbx run w.json -j1 --config dmg.json --enable cache --no-progress
expect "damaged: the run still succeeds" test "$rc" = 0
expect "damaged: a truncated entry is reported" has "damaged (truncated)" "$T/err"
expect "damaged: a flipped byte is reported" has "damaged (checksum mismatch)" "$T/err"
expect "damaged: exactly those two tasks ran again ($(nran))" test "$(nran)" = 2
expect "damaged: the pack was salvaged (its sound entries in a new pack, the old one gone)" sh -c "test ! -e '$pk' && test \$(find dmg/v1/packs -name '*.pack' | wc -l) -ge 1"
snapshot damaged
expect "damaged: outputs are right anyway" diff -r refill damaged
# a damaged blob (big's 20 KB output or its 10 KB stdout)
for blob in $(find dmg/v1/blobs -type f); do
	flip "$blob" 100
done
: >"$ran"
rm -rf res
run_gbx run w.json -j1 --config dmg.json --enable cache --no-progress
expect "damaged blob: reported, the run succeeds" sh -c "test $rc = 0 && grep -q 'damaged (.*blob' '$T/err'"
expect "damaged blob: only its task ran again ($(cat "$ran"))" test "$(cat "$ran")" = big
snapshot damaged2
expect "damaged blob: outputs are right anyway" diff -r refill damaged2
: >"$ran"
run_gbx run w.json -j1 --config dmg.json --enable cache --no-progress
expect "damaged: rewritten, so the next run is all hits and quiet" sh -c "test $(nran) = 0 && ! grep -q damaged '$T/err'"
run_gbx cache verify --config dmg.json
expect "verify: the repaired cache checks out" test "$rc" = 0
flip "$e1" 40
run_gbx cache verify --config dmg.json
expect "verify: finds a damaged entry and exits 1" sh -c "test $rc = 1 && grep -q '1 damaged' '$T/out'"

# ---- two gearbox processes on one cache dir at once -------------------------------------------
# 400 tasks in each process, the same keys: both store the same entries (and,
# for the even ones, the same 6 KB stderr blob) at the same time.
cat >cc.json <<'EOF'
{ "matrix": [ { "id": "c{i}", "argv": ["sh", "-c", "if [ $(({i} % 2)) = 0 ]; then yes even | head -c 6000 >&2; fi; echo task {i}"],
  "vars": { "i": [I] } } ] }
EOF
sed -i "s/\[I\]/[$(seq -s, 0 399)]/" cc.json
echo "{ \"plugins\": { \"cache\": { \"dir\": \"$T/conc\" } } }" >conc.json
"$GBX" run cc.json -j4 --config conc.json --enable cache --no-progress >c1.out 2>c1.err </dev/null &
p1=$!
"$GBX" run cc.json -j4 --config conc.json --enable cache --no-progress >c2.out 2>c2.err </dev/null &
p2=$!
wait $p1; r1=$?
wait $p2; r2=$?
expect "concurrent: both runs succeed" test "$r1:$r2" = 0:0
expect "concurrent: no warnings" sh -c "! grep -q warning c1.err c2.err"
run_gbx cache verify --config conc.json
expect "concurrent: every entry reads back valid ($(cat "$T/out"))" sh -c "test $rc = 0 && grep -q '^400 entries checked, 0 damaged' '$T/out'"
run_gbx run cc.json -j4 --config conc.json --enable cache --no-progress --events evc.jsonl
expect "concurrent: a third run is all hits" test "$(cached_count evc.jsonl)" = 400
sort c1.out >c1.sorted; sort "$T/out" >c3.sorted
expect "concurrent: ... with the same output" cmp -s c1.sorted c3.sorted
# again with a cap so small that each run's gc evicts while the other stores
echo "{ \"plugins\": { \"cache\": { \"dir\": \"$T/conc2\", \"max_mb\": 1 } } }" >conc2.json
"$GBX" run cc.json -j4 --config conc2.json --enable cache --no-progress >d1.out 2>d1.err </dev/null &
p1=$!
"$GBX" run cc.json -j4 --config conc2.json --enable cache --no-progress >d2.out 2>d2.err </dev/null &
p2=$!
wait $p1; r1=$?
wait $p2; r2=$?
expect "concurrent with gc: both runs succeed, no warnings" sh -c "test $r1:$r2 = 0:0 && ! grep -q warning d1.err d2.err"
run_gbx cache verify --config conc2.json
expect "concurrent with gc: what is left reads back valid ($(cat "$T/out"))" sh -c "test $rc = 0 && grep -q ' 0 damaged' '$T/out'"
run_gbx run cc.json -j4 --config conc2.json --enable cache --no-progress
sort "$T/out" >d3.sorted
expect "concurrent with gc: the next run gives the same output, quietly" sh -c "cmp -s c1.sorted d3.sorted && ! grep -q warning '$T/err'"

# ---- entries wait in memory for their pack: this process finds them there ---------------------
# (no memory level: the second of two identical tasks finds the first's entry
# still waiting for the writer, instead of running again)
cat >twin.json <<EOF
{ "tasks": [ { "id": "t1", "argv": ["sh", "-c", "echo twin >>$ran; sleep 0.2; echo twin-out"] },
             { "id": "t2", "argv": ["sh", "-c", "echo twin >>$ran; sleep 0.2; echo twin-out"] } ] }
EOF
echo "{ \"plugins\": { \"cache\": { \"dir\": \"$T/twin\", \"mem_entries\": 0 } } }" >twin-cfg.json
: >"$ran"
run_gbx run twin.json -j2 --config twin-cfg.json --enable cache --no-progress --events evt.jsonl
expect "waiting entries: two identical tasks without a memory level run once ($(nran))" sh -c "test $rc = 0 && test $(nran) = 1 && test $(cached_count evt.jsonl) = 1"
expect "waiting entries: written as one pack at the end of the run" test "$(find twin/v1/packs -name '*.pack' | wc -l):$(find twin/v1/entries -type f | wc -l)" = 1:0

# ---- kill -9 in the middle of a run: what was written reads back whole ----------------------
echo "{ \"matrix\": [ { \"id\": \"k{i}\", \"argv\": [\"sh\", \"-c\", \"echo k{i} >>$ran; echo out {i}\"], \"vars\": { \"i\": [$(seq -s, 0 2999)] } } ] }" >kill.json
echo "{ \"plugins\": { \"cache\": { \"dir\": \"$T/killc\" } } }" >kill-cfg.json
: >"$ran"
"$GBX" run kill.json -j2 --config kill-cfg.json --enable cache --no-progress >/dev/null 2>&1 </dev/null &
pk9=$!
i=0
# past the first batch (PACK_BATCH, 1,024 entries, or 1 s): some packs written, more waiting
while [ "$(nran)" -lt 1500 ] && [ $i -lt 3000 ]; do sleep 0.01; i=$((i + 1)); done
kill -9 $pk9
wait $pk9 2>/dev/null
before=$(nran)
run_gbx cache verify --config kill-cfg.json
expect "kill -9: what was written checks out ($(cat "$T/out"))" sh -c "test $rc = 0 && grep -q ' 0 damaged' '$T/out'"
: >"$ran"
run_gbx run kill.json -j2 --config kill-cfg.json --enable cache --no-progress --events evk.jsonl
expect "kill -9: the next run is ok and quiet" sh -c "test $rc = 0 && ! grep -q warning '$T/err'"
# (tasks ran counted by id: the killed run's last tasks may still append to
# $ran after it was emptied, and those ran again in this run anyway)
uran=$(sort -u "$ran" | wc -l)
expect "kill -9: ... and replays what was written ($(cached_count evk.jsonl) cached, $uran ran, $before before the kill)" \
	sh -c "test $(cached_count evk.jsonl) -gt 0 && test $(( $(cached_count evk.jsonl) + uran )) = 3000"

# ---- identical tasks that fail: after the first failure the others run side by side -----------
# (waiting for each other in turn would take four times as long; the waiters
# of a failed action are released together, and later ones do not wait)
cat >fl.json <<'EOF'
{ "matrix": [ { "id": "f{i}", "sh": "echo $(date +%s%N) start >>FLOG; sleep 0.3; echo $(date +%s%N) end >>FLOG; exit 1", "vars": { "i": [1, 2, 3, 4] } } ] }
EOF
sed -i "s#FLOG#$T/fl#g" fl.json
echo "{ \"plugins\": { \"cache\": { \"dir\": \"$T/flc\" } } }" >fl-cfg.json
: >"$T/fl"
run_gbx run fl.json -j4 --config fl-cfg.json --enable cache --no-progress
# the most attempts running at once, from the start and end times
most=$(sort -n "$T/fl" | awk '$2 == "start" {n++} $2 == "end" {n--} n > m {m = n} END {print m + 0}')
expect "failing identical tasks: all four ran and failed" sh -c "test $rc = 1 && test $(grep -c start "$T/fl") = 4"
expect "failing identical tasks: after the first failed, the others ran side by side (at most $most at once)" test "$most" -ge 2

# ---- identical tasks across the agents of a multi-node run run once --------------------------
# (docs/nodes.md: the plugins' hooks run in the controller, so the in-flight
# table sees every node's attempts.) Without the cache the four spread over
# both agents; with it one runs and the other three wait for it and replay it.
echo "{ \"matrix\": [ { \"id\": \"s{i}\", \"sh\": \"echo same >>$ran; sleep 0.3; echo same-out\", \"vars\": { \"i\": [1, 2, 3, 4] } } ] }" >nodes-same.json
echo "{ \"plugins\": { \"cache\": { \"dir\": \"$T/nodesc\" } } }" >nodes-cfg.json
: >"$ran"
run_gbx run nodes-same.json --nodes local:2 -j2 --config nodes-cfg.json --no-progress --journal nj0.jsonl
expect "nodes, no cache: the four identical tasks ran on both agents" sh -c "test $rc = 0 && test $(nran) = 4 && grep -q '\"node\":\"local1\"' nj0.jsonl && grep -q '\"node\":\"local2\"' nj0.jsonl"
: >"$ran"
run_gbx run nodes-same.json --nodes local:2 -j2 --config nodes-cfg.json --enable cache --no-progress --events nev.jsonl
expect "nodes: four identical tasks at once across two agents ran once ($(nran))" sh -c "test $rc = 0 && test $(nran) = 1"
expect "nodes: the other three replayed it, counted as deduplicated" sh -c "test $(cached_count nev.jsonl) = 3 && grep -q '\"deduped\":3' nev.jsonl"
expect "nodes: each printed its output" test "$(grep -c '^same-out$' "$T/out")" = 4

# ---- many runs, many packs: past 32 the end of a run merges them -----------------------------
echo "{ \"plugins\": { \"cache\": { \"dir\": \"$T/many\" } } }" >many.json
for i in $(seq 1 34); do "$GBX" run --config many.json --enable cache -q --no-progress -- echo "$i" ::: x >/dev/null 2>&1; done
expect "packs: 34 runs leave at most 2 packs, merged ($(find many/v1/packs -name '*.pack' | wc -l))" test "$(find many/v1/packs -name '*.pack' | wc -l)" -le 2
run_gbx cache verify --config many.json
expect "packs: merged, every entry is still there ($(cat "$T/out"))" grep -q '^34 entries checked, 0 damaged' "$T/out"
n=0
for i in 1 17 34; do
	"$GBX" run --config many.json --enable cache -q --no-progress --events evm.jsonl -- echo "$i" ::: x >/dev/null 2>&1
	n=$((n + $(cached_count evm.jsonl)))
done
expect "packs: merged entries are hits" test "$n" = 3

# ---- gearbox cache stats | gc | clear ---------------------------------------------------------
run_gbx cache stats --config cfg.json
expect "stats: lists entries, hits and misses" sh -c "grep -q '^entries  *[1-9]' '$T/out' && grep -q '^hits  *[1-9]' '$T/out' && grep -q '^misses ' '$T/out'"
# LRU: fill with A then B (30 tasks each, 20 KB outputs), age everything, use A
# again, then gc under a 1 MiB cap: A (recently used) stays, B goes. Filled
# under a roomy cap so that no run's own gc gets there first.
for w in A B; do
	echo "{ \"matrix\": [ { \"id\": \"$w{i}\", \"argv\": [\"sh\", \"-c\", \"echo $w{i} >>$ran; mkdir -p lo; yes $w{i} | head -c 20000 >lo/$w{i}\"], \"outputs\": [\"lo/$w{i}\"], \"vars\": { \"i\": [$(seq -s, 0 29)] } } ] }" >$w.json
done
echo "{ \"plugins\": { \"cache\": { \"dir\": \"$T/lruc\" } } }" >roomy.json
echo "{ \"plugins\": { \"cache\": { \"dir\": \"$T/lruc\", \"max_mb\": 1 } } }" >lru.json
usage() { find "$1/v1" -type f -printf '%b\n' | awk '{s += $1} END {print s * 512}'; }
run_gbx run A.json --config roomy.json --enable cache --no-progress
run_gbx run B.json --config roomy.json --enable cache --no-progress
find lruc/v1/entries -type f -exec touch -d '2 hours ago' {} +
: >"$ran"
run_gbx run A.json --config roomy.json --enable cache --no-progress
expect "lru: A was cached" test "$(nran)" = 0
before=$(usage lruc)
run_gbx cache gc --config lru.json
after=$(usage lruc)
expect "gc: over the cap before ($before bytes)" test "$before" -gt 1048576
expect "gc: under max_mb after ($after bytes): $(cat "$T/out")" test "$after" -le 1048576
run_gbx run A.json --config roomy.json --enable cache --no-progress
expect "gc: the recently used entries stayed" test "$(nran)" = 0
run_gbx run B.json --config roomy.json --enable cache --no-progress
expect "gc: the least recently used went ($(nran) of 30 B tasks ran again)" test "$(nran)" -ge 20
run_gbx cache clear --config lru.json
expect "clear: ok" test "$rc" = 0
run_gbx cache stats --config lru.json
expect "clear: no entries left" has '^entries  *0 ' "$T/out"
: >"$ran"
run_gbx run A.json --config lru.json --enable cache --no-progress
expect "clear: the next run executes again" test "$(nran)" = 30
# the cheap gc at the end of a run: over the cap after B, so the run trims it
run_gbx run B.json --config lru.json --enable cache --no-progress
expect "run_end gc: a run that takes the cache over max_mb trims it ($(usage lruc) bytes)" test "$(usage lruc)" -le 1048576
run_gbx cache bogus --config lru.json
expect "cache command: an unknown subcommand is a usage error" sh -c "test $rc = 2 && grep -q 'unknown command' '$T/err'"

# ---- config errors name the key -----------------------------------------------------------------
echo '{ "plugins": { "cache": { "max_mb": "lots" } } }' >bad.json
run_gbx run w.json --config bad.json --enable cache
expect "config: a bad max_mb stops the run, naming the key" sh -c "test $rc = 2 && grep -q 'max_mb: expected a positive integer' '$T/err'"
echo '{ "plugins": { "cache": { "env_allow": ["PATH", 3] } } }' >bad.json
run_gbx run w.json --config bad.json --enable cache
expect "config: a bad env_allow entry names the key" sh -c "test $rc = 2 && grep -q 'env_allow: entry 2' '$T/err'"

# ---- a cache directory that cannot be made: a warning, the run goes on ---------------------------
: >afile
echo "{ \"plugins\": { \"cache\": { \"dir\": \"$T/afile/cache\" } } }" >nodir.json
: >"$ran"
run_gbx run nc.json --config nodir.json --enable cache --no-progress
expect "no cache dir: the run succeeds with a warning" sh -c "test $rc = 0 && grep -q 'cannot use the cache directory .*disk level is off' '$T/err'"
expect "no cache dir: the tasks ran" test "$(nran)" = 3
run_gbx cache stats --config nodir.json
expect "no cache dir: gearbox cache stats says so, exit 1" sh -c "test $rc = 1 && grep -q 'cannot be used' '$T/err'"

# ---- the stat cache: an old input is not read again -----------------------------------------------
# (files made during this test are too new to be trusted by stat: use an old one)
echo '{ "tasks": [ { "id": "sc", "inputs": ["/bin/sh"], "argv": ["true"] } ] }' >sc.json
run_gbx run sc.json --config cfg.json --enable cache --no-progress --events sc1.jsonl
run_gbx run sc.json --config cfg.json --enable cache --no-progress --events sc2.jsonl
expect "stat cache: the second run hashes nothing ($(grep -o '"hashed_files":[0-9]*,"hashed_bytes":[0-9]*,"stat_hits":[0-9]*' sc2.jsonl))" \
	has '"hashed_files":0,"hashed_bytes":0,"stat_hits":1' sc2.jsonl
conf nosc.json '"stat_cache": false'
run_gbx run sc.json --config nosc.json --enable cache --no-progress --events sc3.jsonl
expect "stat cache off: the input is read" has '"hashed_files":1,.*"stat_hits":0' sc3.jsonl

# ---- policies: cache.has(task), cache.hit_rate() --------------------------------------------------
cat >pre.json <<EOF
{ "tasks": [ { "id": "c1", "argv": ["sh", "-c", "echo c1"] }, { "id": "c2", "argv": ["sh", "-c", "echo c2"] },
             { "id": "r", "argv": ["sh", "-c", "echo r"] } ] }
EOF
run_gbx run pre.json --config cfg.json --enable cache --no-progress
cat >has.json <<EOF
{ "tasks": [ { "id": "n1", "argv": ["sh", "-c", "echo n1"] }, { "id": "n2", "argv": ["sh", "-c", "echo n2"] },
             { "id": "c1", "argv": ["sh", "-c", "echo c1"] }, { "id": "c2", "argv": ["sh", "-c", "echo c2"] } ] }
EOF
cat >has.lua <<'EOF'
-- cached tasks first: they cost nothing
return { key = function(task) if cache.has(task) then return 0 else return 1 end end }
EOF
run_gbx run has.json -j1 --config cfg.json --enable cache --policy scheduling=has.lua --events evh.jsonl --no-progress
order=$(grep '"started"' evh.jsonl | sed 's/.*"id":"\([^"]*\)".*/\1/' | tr '\n' ' ')
expect "cache.has: cached tasks start first ($order)" test "$order" = "c1 c2 n1 n2 "
expect "cache.has: no policy error" sh -c "! grep -q 'has.lua' '$T/err'"
cat >rate.json <<EOF
{ "tasks": [ { "id": "r", "argv": ["sh", "-c", "echo r"] },
             { "id": "d1", "deps": ["r"], "argv": ["sh", "-c", "echo d1"] },
             { "id": "d2", "deps": ["r"], "argv": ["sh", "-c", "echo d2"] } ] }
EOF
cat >rate.lua <<'EOF'
-- d1's key is the hit rate when it becomes ready: 1.0 after r was a hit, so d2 (0.5) goes first
return { key = function(task)
  if task.id == "d1" then return cache.hit_rate() elseif task.id == "d2" then return 0.5 end
  return 0 end }
EOF
run_gbx run rate.json -j1 --config cfg.json --enable cache --policy scheduling=rate.lua --events evr.jsonl --no-progress
order=$(grep '"started"' evr.jsonl | sed 's/.*"id":"\([^"]*\)".*/\1/' | tr '\n' ' ')
expect "cache.hit_rate: 1.0 after one hit, so d2 before d1 ($order)" test "$order" = "r d2 d1 "
expect "cache.hit_rate: no policy error" sh -c "! grep -q 'rate.lua' '$T/err'"
