# t_cache_stale.sh - no silent stale hits, and hits that leave outputs alone:
# the quick form hashes arguments that name files (`wc -l {} ::: d` misses
# after d changes); a hit whose outputs already hold the recorded content
# rewrites nothing (same mtime, same inode); one that differs is restored.
. "$(dirname "$0")/lib.sh"

echo '{ "plugins": { "cache": { "dir": "cc" } } }' >cfg.json

# ---- the quick form: file arguments are inputs ---------------------------------------
printf 'a\nb\n' >d
run_gbx run --config cfg.json --enable cache --no-progress -- wc -l {} ::: d
expect "wc -l d: counts 2" test "$(cat "$T/out")" = "2 d"
echo c >>d
run_gbx run --config cfg.json --enable cache --no-progress --events ev.jsonl -- wc -l {} ::: d
expect "wc -l d after d changed: a miss, counts 3" test "$(cat "$T/out")" = "3 d"
expect "wc -l d after d changed: not labelled cached" sh -c "! grep -q '\"label\":\"cached\"' ev.jsonl"
run_gbx run --config cfg.json --enable cache --no-progress --events ev2.jsonl -- wc -l {} ::: d
expect "wc -l d unchanged: a hit" grep -q '"label":"cached"' ev2.jsonl

# ---- a hit leaves outputs that are already right alone -------------------------------
cat >w.json <<'EOF2'
{ "tasks": [
  { "id": "gen", "sh": "echo gen >>ran; mkdir -p o; cp src.txt o/a.txt; yes big | head -c 9000 >o/big.txt; ln -sf a.txt o/link; echo made",
    "inputs": ["src.txt"], "outputs": ["o/a.txt", "o/big.txt", "o/link"] } ] }
EOF2
echo hello >src.txt
run_gbx run w.json --config cfg.json --enable cache --no-progress
before=$(stat -c '%i %y' o/a.txt o/big.txt; stat -c '%i %y' o/link)
run_gbx run w.json --config cfg.json --enable cache --no-progress --events hit.jsonl
after=$(stat -c '%i %y' o/a.txt o/big.txt; stat -c '%i %y' o/link)
expect "a hit with outputs in place: cached" grep -q '"label":"cached"' hit.jsonl
expect "a hit with outputs in place: ran once" test "$(wc -l <ran)" = 1
expect "a hit with outputs in place: no rewrite, same inode and mtime" test "$before" = "$after"
echo tampered >o/a.txt
rm o/big.txt
run_gbx run w.json --config cfg.json --enable cache --no-progress
expect "a hit with a changed and a missing output: both restored" sh -c 'test "$(cat o/a.txt)" = hello && test "$(wc -c <o/big.txt)" = 9000'
expect "... and it still did not run" test "$(wc -l <ran)" = 1

# ---- depfile: the headers a compile reports join its key ------------------------------
mkdir -p proj/inc
cat >proj/main.c <<'EOF2'
#include "inc/hdr.h"
int main(void) { return VALUE; }
EOF2
echo '#define VALUE 3' >proj/inc/hdr.h
cat >proj/w.json <<'EOF2'
{ "tasks": [
  { "id": "cc", "sh": "echo cc >>ran; cc -MMD -MF main.d -c main.c -o main.o",
    "inputs": ["main.c"], "outputs": ["main.o"], "depfile": "main.d" },
  { "id": "nodep", "sh": "echo nodep >>ran; echo x >nodep.out", "outputs": ["nodep.out"], "depfile": "never.d" } ] }
EOF2
echo '{ "plugins": { "cache": { "enabled": true, "dir": "cc" } } }' >proj/gearbox.json
cd proj
run_gbx run w.json --no-progress
expect "depfile: the first run compiles" test "$(grep -c cc ran)" = 1
expect "depfile: a task whose depfile was not written is not cached, with a warning" grep -q 'depfile never.d was not written' "$T/err"
run_gbx run w.json --no-progress --events ev.jsonl
expect "depfile: unchanged, a hit" test "$(grep -c cc ran)" = 1
expect "depfile: the task without its depfile ran again" test "$(grep -c nodep ran)" = 2
echo '#define VALUE 4' >inc/hdr.h
run_gbx run w.json --no-progress
expect "depfile: a changed header it lists reruns the compile" test "$(grep -c cc ran)" = 2
run_gbx run w.json --no-progress
expect "depfile: and then hits again" test "$(grep -c cc ran)" = 2
cd "$T"

# ---- glob inputs ----------------------------------------------------------------------------
mkdir -p g/src/a/b g/src/c
echo 1 >g/src/a/b/x.h; echo 2 >g/src/c/y.h; echo 3 >g/src/top.h; echo no >g/src/a/z.c
cat >g/w.json <<'EOF2'
{ "tasks": [ { "id": "gl", "sh": "echo gl >>ran; cat src/a/b/x.h", "inputs": ["src/**/*.h"] } ] }
EOF2
cd g
run_gbx run w.json --config ../cfg.json --enable cache --no-progress
run_gbx run w.json --config ../cfg.json --enable cache --no-progress
expect "glob input: unchanged, a hit" test "$(wc -l <ran)" = 1
echo changed >src/a/b/x.h
run_gbx run w.json --config ../cfg.json --enable cache --no-progress
expect "glob input: a deep match changed, a miss" test "$(wc -l <ran)" = 2
echo 1 >src/new.h
run_gbx run w.json --config ../cfg.json --enable cache --no-progress
expect "glob input: a new match, a miss" test "$(wc -l <ran)" = 3
echo changed >src/a/z.c
run_gbx run w.json --config ../cfg.json --enable cache --no-progress
expect "glob input: a file it does not match changed, a hit" test "$(wc -l <ran)" = 3
echo 5 >src/top.h
run_gbx run w.json --config ../cfg.json --enable cache --no-progress
expect "glob input: ** matches no folder too (src/top.h)" test "$(wc -l <ran)" = 4
cd "$T"

# ---- a depfile with continuations, escaped spaces and -MP's empty rules ------------------------
mkdir -p mp
printf 'int x;\n' >"mp/a b.h"
printf 'int y;\n' >mp/c.h
printf 'out.o: src.c a\\ b.h \\\n  c.h\na\\ b.h:\nc.h:\n' >mp/out.d
cat >mp/w.json <<'EOF2'
{ "tasks": [ { "id": "mp", "sh": "echo mp >>ran; test -e out.d", "depfile": "out.d" } ] }
EOF2
cd mp
: >src.c
run_gbx run w.json --config ../cfg.json --enable cache --no-progress
run_gbx run w.json --config ../cfg.json --enable cache --no-progress
expect "depfile parse: unchanged, a hit" test "$(wc -l <ran)" = 1
echo 'int z;' >>"a b.h"
run_gbx run w.json --config ../cfg.json --enable cache --no-progress
expect "depfile parse: an escaped-space name it lists changed, a miss" test "$(wc -l <ran)" = 2
echo 'int z;' >>c.h
run_gbx run w.json --config ../cfg.json --enable cache --no-progress
expect "depfile parse: a name after a continuation changed, a miss" test "$(wc -l <ran)" = 3
cd "$T"

# ---- the summary counts cached tasks; -v marks them --------------------------------------
mkdir -p sm && cd sm
printf 'a\n' >f
run_gbx run --config ../cfg.json --enable cache --no-progress -v -- wc -l {} ::: f
run_gbx run --config ../cfg.json --enable cache --no-progress -v -- wc -l {} ::: f
expect "summary: counts the cached task" grep -q '1 ok (1 cached), 0 failed' "$T/err"
expect "-v: marks it cached" grep -q 'gearbox: ok 1 (cached,' "$T/err"
cd "$T"

# ---- gearbox cache explain ------------------------------------------------------------------
mkdir -p ex && cd ex
echo a >in.txt; echo b >other.txt
echo '{ "tasks": [ { "id": "t1", "sh": "cat in.txt other.txt", "inputs": ["in.txt", "other.txt"] } ] }' >w.json
echo '{ "plugins": { "cache": { "enabled": true, "dir": "c" } } }' >gearbox.json
run_gbx run w.json --no-progress
run_gbx run w.json --no-progress
run_gbx cache explain t1
expect "explain: a hit, with its components" sh -c "grep -q 'last looked up: hit' '$T/out' && grep -q 'input in.txt' '$T/out' && grep -q 'command' '$T/out'"
echo changed >>in.txt
run_gbx run w.json --no-progress
run_gbx cache explain t1
expect "explain: a miss names the input that changed, and only it" sh -c "grep -q 'input in.txt .*changed since the last entry' '$T/out' && test \$(grep -c 'changed since' '$T/out') = 1"
run_gbx cache explain nosuch
expect "explain: an unknown id exits 1 with a message" sh -c "test $rc = 1 && grep -q \"no task with id 'nosuch'\" '$T/out'"
run_gbx cache explain
expect "explain without an id: exit 2" test "$rc" = 2
cd "$T"
