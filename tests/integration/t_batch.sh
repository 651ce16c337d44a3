# t_batch.sh - batches of short tasks (docs/ARCHITECTURE.md, "Batches"): a
# worker takes up to 8 ready tasks in one pass under the lock once its
# attempts are short and plain. What a user relies on must not change: a task
# claimed behind a long one is taken by an idle worker, a halt or an interrupt
# starts nothing more and leaves the unstarted ones for --resume, and nothing
# runs twice.
. "$(dirname "$0")/lib.sh"

jqe() { jq "$@" >/dev/null; }

# tiny N [EXTRA_JSON_TASK POS]: N no-op sim tasks t0..t(N-1), with one more
# task given as JSON put before t(POS)
tiny() {
	awk -v n="$1" -v extra="${2:-}" -v pos="${3:--1}" 'BEGIN {
		printf "{ \"tasks\": [\n"
		for (i = 0; i < n; i++) {
			if (i == pos) printf "%s,\n", extra
			printf "{\"id\":\"t%d\",\"kind\":\"sim\"}%s\n", i, i < n - 1 ? "," : ""
		}
		printf "] }\n" }'
}

# a long task among short ones: the short ones claimed with it in a batch are
# taken by the other worker, not left waiting until it ends. Eight runs put it
# at each place a batch of 8 can have.
bad=""
for pos in 40 41 42 43 44 45 46 47; do
	tiny 400 '{"id":"long","kind":"sim","io_ms":250}' $pos >long.json
	run_gbx run long.json -j2 --joblog jl.txt --no-progress
	[ "$rc" = 0 ] || bad="$bad $pos:exit$rc"
	awk -F'\t' '
		NR == 1 { next }
		{ end = $3 + $4 }
		$9 == "sim:long" { long = end; next }
		{ if (end > last) last = end }
		END { exit !(long > 0 && last + 0.1 < long) }' jl.txt || bad="$bad $pos"
done
expect "long among short: every short task ended before the long one (bad:$bad)" test -z "$bad"

# --halt soon: after the failure nothing new starts, the tasks a worker had
# claimed are not started, and --resume runs each of them exactly once
tiny 3000 '{"id":"bad","kind":"sim","fail_after":1}' 1000 >halt.json
run_gbx run halt.json -j2 --halt soon,fail=1 --journal hj.jsonl --stats hs1.json --no-progress
expect "halt soon: exit 1" test "$rc" = 1
expect "halt soon: stopped part way, counts add up" jqe -e \
	'.not_started > 0 and .ok + .failed + .not_started == 3001 and .failed == 1' hs1.json
expect "halt soon: journal has one record per finished task" sh -c \
	"test \$(jq -s 'map(select(.id)) | length' $T/hj.jsonl) = \$(jq '.ok + .failed' $T/hs1.json)"
run_gbx run halt.json -j2 --journal hj.jsonl --resume --stats hs2.json --no-progress
expect "halt soon, resumed: only the failed task fails" sh -c "test $rc = 1 && jq -e '.failed == 1' $T/hs2.json >/dev/null"
expect "halt soon, resumed: every other task succeeded exactly once over both runs" jqe -s -e '
	[.[] | select(.status == "ok") | .id] | (length == 3000) and (unique | length == 3000)' hj.jsonl

# --halt now: the tasks claimed with others are not started either (a started
# one sees the stop and fails, killed: so at most the one the other worker
# is running then, besides the bad one)
run_gbx run halt.json -j2 --halt now,fail=1 --stats hn.json --no-progress
expect "halt now: exit 1, the bad task and at most one killed, the rest ok or not started" jqe -e \
	'.failed >= 1 and .failed <= 2 and .not_started > 0 and .ok + .failed + .not_started == 3001' hn.json

# SIGINT while workers are in batches: exit 130, nothing runs twice, --resume
# finishes the rest
# (the task that sends SIGINT may itself be stopped by it and run again on
# --resume: it sends it only once)
tiny 40000 '{"id":"int","argv":["sh","-c","[ -e int.sent ] || { : >int.sent; kill -INT $PPID; }"]}' 4000 >int.json
run_gbx run int.json -j2 --journal ij.jsonl --stats is1.json --no-progress
expect "interrupt: exit 130" test "$rc" = 130
expect "interrupt: stopped part way" jqe -e '.interrupted and .not_started > 0' is1.json
run_gbx run int.json -j2 --journal ij.jsonl --resume --no-progress
expect "interrupt, resumed: exit 0" test "$rc" = 0
expect "interrupt, resumed: every task succeeded exactly once over both runs" jqe -s -e '
	[.[] | select(.status == "ok") | .id] | (length == 40001) and (unique | length == 40001)' ij.jsonl

# a before hook that defers tasks in the middle of batches (the breaker in
# "hold" mode, its target failing until it has opened): the batch goes on,
# every task ends ok exactly once, and the run ends
awk 'BEGIN { printf "{ \"tasks\": ["
	for (i = 0; i < 2000; i++) {
		if (i % 10 == 5) printf "%s{\"id\":\"b%d\",\"kind\":\"sim\",\"target\":\"bad\",\"fail_after\":1,\"retries\":3}", (i ? "," : ""), i
		else printf "%s{\"id\":\"g%d\",\"kind\":\"sim\",\"target\":\"good\"}", (i ? "," : ""), i
	}
	print "] }" }' >hold.json
echo '{ "retry": { "base_ms": 1, "cap_ms": 5 }, "plugins": { "breaker": { "minimum_calls": 4,
  "sliding_window_size": 4, "on_open": "hold", "wait_open_ms": 20, "permitted_calls_half_open": 2 } } }' >hold-c.json
GBX_RC=0
timeout 60 "$GBX" run hold.json -j2 --config hold-c.json --enable breaker --journal hold-j.jsonl \
	--stats hold-s.json -q --no-progress >hold.out 2>hold.err </dev/null || GBX_RC=$?
rc=$GBX_RC
expect "deferred inside batches: exit 0 (no hang, no lost task)" test "$rc" = 0
expect "deferred inside batches: 2000 ok, each once, every bad one retried" jqe -e \
	'.ok == 2000 and .failed == 0 and .retried >= 200' hold-s.json
expect "deferred inside batches: the journal has each task once" jqe -s -e \
	'[.[] | select(.status == "ok") | .id] | (length == 2000) and (unique | length == 2000)' hold-j.jsonl

# a task that finished before a long batch-mate releases its dependants
# then, not when the long one ends (16 tasks around the long one each have a
# 1 s dependant; -j20 leaves room for all of them beside it)
bad=""
for pos in 40 44 47; do
	awk -v n=400 -v pos=$pos 'BEGIN {
		printf "{ \"tasks\": [\n"
		for (i = 0; i < n; i++) {
			if (i == pos) printf "{\"id\":\"L\",\"kind\":\"sim\",\"io_ms\":1000},\n"
			printf "{\"id\":\"t%d\",\"kind\":\"sim\"},\n", i
		}
		for (i = pos - 8; i < pos + 8; i++)
			printf "{\"id\":\"d%d\",\"kind\":\"sim\",\"io_ms\":1000,\"deps\":[\"t%d\"]}%s\n", i, i, i < pos + 7 ? "," : ""
		printf "] }\n" }' >dep.json
	run_gbx run dep.json -j20 --joblog djl.txt --no-progress
	[ "$rc" = 0 ] || bad="$bad $pos:exit$rc"
	awk -F'\t' 'NR == 1 { next }
		$9 == "sim:L" { lend = $3 + $4 }
		$9 ~ /^sim:d/ { if ($3 > last) last = $3 }
		END { exit !(lend > 0 && last > 0 && last + 0.5 < lend) }' djl.txt || bad="$bad $pos"
done
expect "dependants of tasks batched with a long one start beside it, not after it (bad:$bad)" test -z "$bad"

# priorities: a task more urgent than the queue's next does not wait in a
# batch behind a long task (A: 1 s, priority 90; B: no-op, priority 80; then
# 200 fillers at priority 0)
awk 'BEGIN { printf "{ \"tasks\": [\n"
	printf "{\"id\":\"w0\",\"kind\":\"sim\",\"priority\":100},{\"id\":\"w1\",\"kind\":\"sim\",\"priority\":100},\n"
	printf "{\"id\":\"A\",\"kind\":\"sim\",\"io_ms\":1000,\"priority\":90},{\"id\":\"B\",\"kind\":\"sim\",\"priority\":80},\n"
	for (i = 0; i < 200; i++) printf "%s{\"id\":\"f%d\",\"kind\":\"sim\",\"io_ms\":5}", i ? "," : "", i
	print "] }" }' >prio.json
run_gbx run prio.json -j2 --joblog pjl.txt --no-progress
expect "priorities: B starts before the long A ends, not after the fillers" awk -F'\t' 'NR == 1 { next }
	$9 == "sim:A" { aend = $3 + $4 }
	$9 == "sim:B" { b = $3 }
	END { exit !(aend > 0 && b > 0 && b + 0.5 < aend) }' pjl.txt
