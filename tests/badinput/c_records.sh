# c_records.sh - the records a run writes: never into what is not its own,
# never blocking, every write checked, nothing recorded as done that did not
# run and nothing done lost.

case_rec_journal_fifo() {  # --journal FIFO with no reader: exit 2 at once, no hang
	wl w.json
	mkfifo j
	TMO=30 gbx run w.json --journal j
	rc 2
	err '--journal j' 'FIFO'
	check test ! -e ran.log
}
case_rec_journal_is_workload() {  # --journal on the workload itself: refused, the file untouched
	wl w.json
	gbx run w.json --journal w.json
	rc 2
	err '--journal w\.json' 'not a gearbox journal'
	check test ! -e ran.log
}
case_rec_journal_binary() {  # a binary file as the journal: one clear error, not appended to
	wl w.json
	head -c 5000 /dev/urandom >j.bin
	gbx run w.json --journal j.bin --resume
	rc 2
	err 'j\.bin' 'not a gearbox journal'
	lines_at_most 2
}
case_rec_journal_text() {  # a text file with no newline at its end as the journal: its last line is not cut
	wl w.json
	printf 'my notes\nkeep this line' >notes.txt
	gbx run w.json --journal notes.txt
	rc 2
	err 'notes\.txt'
}
case_rec_journal_dir() {  # a directory as the journal
	wl w.json
	mkdir j
	gbx run w.json --journal j
	rc 2
	err '--journal j' 'directory'
}
case_rec_journal_devnull() {  # a character device (a copy of /dev/null) as the journal: refused, left a device
	wl w.json
	devnode null null || return 0
	gbx run w.json --journal null
	rc 2
	err '--journal null' 'character device'
	check test -c null
}
case_rec_journal_header() {  # a new journal starts with its header line; records follow
	wl w.json
	OWN="ran.log j.jsonl"
	gbx run w.json --journal j.jsonl
	rc 0
	check test "$(head -1 j.jsonl)" = '{"gearbox":"journal","version":1}'
	journal_honest j.jsonl
}
case_rec_journal_legacy() {  # a journal written before the header existed is still resumed
	wl w.json
	printf '{"id":"t1","status":"ok","attempts":1}\n' >j.jsonl
	OWN="ran.log j.jsonl"
	gbx run w.json --journal j.jsonl --resume
	rc 0
	check test "$(cat ran.log)" = t2
}
case_rec_journal_locked() {  # two runs on one journal: the second gets a clear error
	printf '{ "tasks": [ { "id": "t1", "sh": "sleep 1; echo t1 >>ran.log" } ] }' >w.json
	printf '{ "tasks": [ { "id": "t1", "sh": "echo t1 >>ran.log" } ] }' >w2.json
	OWN="ran.log j.jsonl"
	# the first run's history writes would show up in the second (refused)
	# run's before/after snapshot: this case is about the journal lock only
	GBX_BG=1 gbx run w.json --journal j.jsonl --set history=false
	first=$BGPID
	i=0
	while [ ! -s j.jsonl ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
	MARKB=$MARK
	gbx run w2.json --journal j.jsonl --resume --set history=false
	rc 2
	err 'j\.jsonl' 'in use by another gearbox run'
	BGPID=$first
	MARK=$MARKB
	gbx_wait
	rc 0
	check test "$(cat ran.log)" = t1
}
case_rec_journal_torn() {  # a torn last record is cut, and resume runs that task again
	wl w.json 3
	OWN="ran.log j.jsonl"
	printf '{"gearbox":"journal","version":1}\n{"id":"t1","status":"ok","attempts":1}\n{"id":"t2","sta' >j.jsonl
	gbx run w.json --journal j.jsonl --resume
	rc 0
	err 'torn'
	check test "$(sort ran.log | tr '\n' ' ')" = "t2 t3 "
	check jq -e . j.jsonl
}
case_rec_journal_kill9() {  # kill -9 mid-run: resume runs each task once in all; the joblog kept its rows
	printf '{ "tasks": [' >w.json
	i=1
	while [ $i -le 30 ]; do
		printf '{ "id": "t%d", "sh": "echo t%d >>ran.log; sleep 0.05" }%s' $i $i "$([ $i -lt 30 ] && echo ,)" >>w.json
		i=$((i + 1))
	done
	printf '] }' >>w.json
	OWN="ran.log j.jsonl jl"
	GBX_BG=1 gbx run w.json -j 2 --journal j.jsonl --joblog jl
	i=0
	# a missing journal counts 0 (grep prints nothing then, and the test
	# `[ "" -lt 6 ]` would end the wait before gearbox opened its joblog)
	while [ "$(cat j.jsonl 2>/dev/null | grep -c '"ok"')" -lt 6 ] && [ $i -lt 200 ]; do sleep 0.02; i=$((i + 1)); done
	pkill -9 -f "GBX_FAULT_MARK=$MARK" 2>/dev/null
	for p in $(grep -l "GBX_FAULT_MARK=$MARK" /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3); do
		tr '\0' '\n' <"/proc/$p/cmdline" 2>/dev/null | head -1 | grep -q gearbox && kill -9 "$p"
	done
	wait "$BGPID"
	check test "$(head -1 jl | cut -f1)" = Seq
	nrows=$(($(wc -l <jl) - 1))
	nok=$(grep -c '"ok"' j.jsonl)
	check test "$nrows" -ge "$nok"
	gbx run w.json -j 2 --journal j.jsonl --resume
	rc 0
	check test "$(sort -u ran.log | wc -l)" = 30
	# a task killed mid-run may run again; a task recorded done never does
	jq -r 'select(.status == "ok") | .id' j.jsonl | sort -u >.gbx-jok
	extra=$(sort -u ran.log | comm -13 - .gbx-jok | head -3)
	[ -z "$extra" ] || no "recorded done but never ran: $extra"
	for t in $(jq -r 'select(.status == "ok") | .id' j.jsonl | sort | uniq -d); do no "recorded twice: $t"; done
}
case_rec_stats_devnull() {  # --stats on a character device (a copy of /dev/null) leaves it a device
	wl w.json
	devnode null null || return 0
	gbx run w.json --stats null
	rc 0
	check test -c null
}
case_rec_stats_symlink() {  # --stats through a symlink: written through, the link stays a link
	wl w.json
	: >real.json
	ln -s real.json link.json
	OWN="ran.log real.json"
	gbx run w.json --stats link.json
	rc 0
	check test -L link.json
	check jq -e .tasks real.json
}
case_rec_stats_dir() {  # --stats DIR: exit 2 before anything runs
	wl w.json
	mkdir s
	gbx run w.json --stats s
	rc 2
	err '--stats s' 'directory'
	check test ! -e ran.log
}
case_rec_stats_fifo() {  # --stats FIFO with no reader: exit 2, no hang
	wl w.json
	mkfifo s
	TMO=30 gbx run w.json --stats s
	rc 2
	err '--stats s' 'no reader'
}
case_rec_stats_full() {  # --stats on a full disk (a copy of /dev/full): an error, exit 1
	wl w.json
	devnode full full || return 0
	gbx run w.json --stats full
	rc 1
	err '--stats full' 'record was lost|records were lost|write failed'
	check test -c full
}
case_rec_stats_no_tmp_left() {  # --stats: no temporary file left beside it
	wl w.json
	OWN="ran.log s.json"
	gbx run w.json --stats s.json
	rc 0
	check jq -e .tasks s.json
}
case_rec_joblog_fifo() {  # --joblog FIFO with no reader: exit 2, no hang
	wl w.json
	mkfifo jl
	TMO=30 gbx run w.json --joblog jl
	rc 2
	err '--joblog jl' 'no reader'
}
case_rec_joblog_full() {  # --joblog on a full disk (a copy of /dev/full): exit 2 before running
	wl w.json
	devnode full full || return 0
	gbx run w.json --joblog full
	rc 2
	err '--joblog full'
	check test -c full
	check test ! -e ran.log
}
case_rec_joblog_dir() {  # --joblog DIR
	wl w.json
	mkdir jl
	gbx run w.json --joblog jl
	rc 2
	err '--joblog jl'
}
case_rec_joblog_newline() {  # a newline in argv does not split a joblog row (NUL, as GNU parallel)
	OWN="ran.log jl"
	IN=/dev/null gbx run --joblog jl -- echo "a
b" ::: x
	rc 0
	check test "$(wc -l <jl)" = 2
	check test "$(tail -1 jl | tr '\000' '|' | cut -f9)" = "echo a|b x"
}
case_rec_joblog_devnull() {  # --joblog on a character device (a copy of /dev/null) is fine and it stays a device
	wl w.json
	devnode null null || return 0
	gbx run w.json --joblog null
	rc 0
	check test -c null
}
case_rec_events_fifo() {  # --events FIFO with no reader: exit 2, no hang
	wl w.json
	mkfifo ev
	TMO=30 gbx run w.json --events ev
	rc 2
	err '--events ev' 'no reader'
}
case_rec_events_full() {  # --events on a full disk (a copy of /dev/full): the loss is said, exit 1
	wl w.json
	devnode full full || return 0
	gbx run w.json --events full
	rc 1
	err '--events full' 'lost'
	check test -c full
}
case_rec_events_fifo_reader() {  # --events FIFO with a reader: written through
	wl w.json
	mkfifo ev
	OWN="ran.log got"
	cat ev >got &
	cat_pid=$!
	gbx run w.json --events ev
	wait $cat_pid
	rc 0
	check grep -q '"finished"' got
}
case_rec_outdir_long_id() {  # --output-dir: two 250-byte ids that differ at the end are saved apart, not lost
	long=$(printf 'x%.0s' $(seq 249))
	printf '{ "tasks": [ { "id": "%sa", "sh": "echo one" }, { "id": "%sb", "sh": "echo two" } ] }' "$long" "$long" >w.json
	OWN="out"
	gbx run w.json --output-dir out
	rc 0
	check test "$(ls out | grep -c '~[0-9a-f]\{16\}\.stdout$')" = 2
	check test "$(cat out/*.stdout | sort | tr '\n' ' ')" = "one two "
}
case_rec_outdir_unicode_id() {  # --output-dir: 120 non-ASCII characters in an id are saved, not lost
	id=$(printf 'é%.0s' $(seq 120))
	printf '{ "tasks": [ { "id": "%s", "sh": "echo hi" } ] }' "$id" >w.json
	OWN="out"
	gbx run w.json --output-dir out
	rc 0
	check grep -q hi out/*.stdout
}
case_rec_outdir_full() {  # --output-dir on a full disk: errors said, lost records counted, exit 1
	printf '{ "tasks": [ { "id": "a", "sh": "echo hi" } ] }' >w.json
	mkdir out
	devnode full full || return 0
	ln -s "$PWD/full" out/a.stdout
	OWN="out/a.stderr"
	gbx run w.json --output-dir out
	rc 1
	err 'out/a\.stdout' 'lost'
	check test -L out/a.stdout
}
case_rec_outdir_is_file() {  # --output-dir naming a file: exit 2
	wl w.json
	: >out
	gbx run w.json --output-dir out
	rc 2
	err '--output-dir out'
	check test ! -e ran.log
}
case_rec_outdir_entry_dir() {  # --output-dir entry that is a directory: not replaced, counted lost
	printf '{ "tasks": [ { "id": "a", "sh": "echo hi" } ] }' >w.json
	mkdir -p out/a.stdout
	OWN="out/a.stderr"
	gbx run w.json --output-dir out
	rc 1
	check test -d out/a.stdout
}
case_rec_outdir_fifo_entry() {  # --output-dir entry that is a FIFO with no reader: lost, no hang, not replaced
	printf '{ "tasks": [ { "id": "a", "sh": "echo hi" } ] }' >w.json
	mkdir out
	mkfifo out/a.stdout
	OWN="out/a.stderr"
	TMO=30 gbx run w.json --output-dir out
	rc 1
	check test -p out/a.stdout
}
case_rec_quick_resume_by_content() {  # quick-form --resume matches tasks by content: a changed argument list skips nothing new
	OWN="ran.log j.jsonl"
	gbx run --journal j.jsonl -- sh -c 'echo $0 >>ran.log' {} ::: a b c
	rc 0
	: >ran.log
	gbx run --journal j.jsonl --resume -- sh -c 'echo $0 >>ran.log' {} ::: x a b c
	rc 0
	check test "$(cat ran.log)" = x
}
case_rec_quick_resume_duplicates() {  # quick form: a command given twice and done once runs once more on --resume
	OWN="ran.log j.jsonl"
	gbx run --journal j.jsonl -- sh -c 'echo $0 >>ran.log' {} ::: a
	: >ran.log
	gbx run --journal j.jsonl --resume -- sh -c 'echo $0 >>ran.log' {} ::: a a
	rc 0
	check test "$(cat ran.log)" = a
}
