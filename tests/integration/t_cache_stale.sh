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
