# t_resources_history.sh - the run history in SQLite (docs/resources.md,
# "History"): estimates converge after two runs and reach the scheduling
# policy as est_ms; two runs writing one history at once lose nothing; a
# corrupt history is a warning and a fresh store, never a failed run.
. "$(dirname "$0")/lib.sh"

cat >h.json <<'J'
{"tasks": [{"id": "slow", "kind": "sim", "io_ms": 80},
           {"id": "mid",  "kind": "sim", "io_ms": 40},
           {"id": "fast", "kind": "sim", "io_ms": 10}]}
J
echo '{"history": true}' >hc.json
run_gbx check h.json --config hc.json --estimates
expect "no history yet: check --estimates says so and creates nothing" \
	sh -c "[ '$rc' = 0 ] && grep -q '^estimates: no history at .gearbox-history.db yet' '$T/out' && [ ! -e .gearbox-history.db ]"
run_gbx run h.json --config hc.json -q
run_gbx run h.json --config hc.json -q
run_gbx check h.json --config hc.json --estimates
est() { sed -n "s/^  $1: est_ms \([0-9]*\), 2 samples$/\1/p" "$T/out"; }
s=$(est slow); m=$(est mid); f=$(est fast)
# with two samples the p90 is the larger one: compare with the rows the store holds
want=$(sqlite3 .gearbox-history.db "select cast(max(ms) + 0.5 as int) from attempts group by task order by task" | tr '\n' ' ')
expect "after two runs: each estimate is the p90 of its two samples (fast mid slow: $f $m $s; store: $want)" \
	sh -c "[ -n '$s' ] && [ -n '$m' ] && [ -n '$f' ] && [ '$f $m $s ' = '$want' ]"
run_gbx run h.json --config hc.json -j1 --policy scheduling=sjf --events ev.jsonl -q
order=$(jq -s -r '[.[] | select(.event == "started") | .id] | join(" ")' ev.jsonl)
# the order the estimates give (ties keep the file's order: slow, mid, fast)
worder=$(printf '%s slow 0\n%s mid 1\n%s fast 2\n' "$s" "$m" "$f" | sort -n -k1,1 -k3,3 | cut -d' ' -f2 | tr '\n' ' ' | sed 's/ $//')
expect "sjf orders by the history's est_ms (given none): $order (estimates: $worder)" test "$order" = "$worder"
run_gbx run h.json -j1 --policy scheduling=sjf --events ev0.jsonl -q
order0=$(jq -s -r '[.[] | select(.event == "started") | .id] | join(" ")' ev0.jsonl)
expect "without history sjf keeps the file's order: $order0" test "$order0" = "slow mid fast"

# two runs at once, 300 attempts each, into one file: all 600 rows arrive
echo "{\"matrix\": [{\"id\": \"a{i}\", \"kind\": \"sim\", \"vars\": {\"i\": [$(seq -s, 1 300)]}}]}" >a.json
echo "{\"matrix\": [{\"id\": \"b{i}\", \"kind\": \"sim\", \"vars\": {\"i\": [$(seq -s, 1 300)]}}]}" >b.json
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
echo '{"history": 5}' >badc.json
run_gbx run h.json --config badc.json -q
expect "a bad history value is exit 2" sh -c "[ '$rc' = 2 ] && grep -q 'history: expected true' '$T/err'"
