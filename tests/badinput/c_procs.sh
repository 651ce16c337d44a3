# c_procs.sh - processes and signals: nothing left running, exit statuses,
# nothing recorded done that did not run.

case_proc_background_child() {  # a task's background child is killed when the task ends
	printf '{ "tasks": [ { "id": "t1", "sh": "sleep 60 & echo t1 >>ran.log" } ] }' >w.json
	gbx run w.json
	rc 0
}
case_proc_background_holding_stdout() {  # a background child holding stdout open: the task ends, the child with it
	printf '{ "tasks": [ { "id": "t1", "sh": "(sleep 60; echo late) & echo t1 >>ran.log" } ] }' >w.json
	gbx run w.json
	rc 0
	check test "$(cat ran.log)" = t1
}
case_proc_setsid_escape() {  # a child ignoring SIGTERM is SIGKILLed with its group
	printf '{ "tasks": [ { "id": "t1", "sh": "trap \\"\\" TERM; sleep 60 >/dev/null & echo t1 >>ran.log" } ] }' >w.json
	gbx run w.json
	rc 0
}
case_proc_keep_children() {  # keep_children: a deliberate daemon survives its task (and is ours to stop)
	printf '{ "tasks": [ { "id": "t1", "keep_children": true, "sh": "sleep 30 >/dev/null 2>&1 & echo $! >pid; echo t1 >>ran.log" } ] }' >w.json
	OWN="ran.log pid"
	gbx run w.json 2>/dev/null
	rc 0
	# after_run found it (it carries the marker) and said so: take that back
	if [ -s pid ] && grep -q "processes left behind: $(cat pid)" "$F_FAIL"; then
		sed -i "/processes left behind/d" "$F_FAIL"
	else
		no "the keep_children daemon did not survive"
	fi
}
case_proc_keep_children_bad() {  # keep_children must be a boolean
	printf '{ "tasks": [ { "id": "t1", "keep_children": "yes", "sh": "true" } ] }' >w.json
	gbx run w.json
	rc 2
	err 'w\.json' 'keep_children'
}
case_proc_timeout_group() {  # a timeout kills the task's whole group, also what ignores SIGTERM
	printf '{ "tasks": [ { "id": "t1", "timeout_ms": 200, "sh": "trap \\"\\" TERM; sleep 60 & sleep 60" } ] }' >w.json
	printf '{ "kill_grace_ms": 100 }' >cfg.json
	gbx run w.json --config cfg.json
	rc 1
	err 'timed out'
}
case_proc_sigterm_143() {  # SIGTERM exits 143; the interrupted task is not journaled as done
	printf '{ "tasks": [ { "id": "t1", "sh": "echo t1 >>ran.log" }, { "id": "t2", "sh": "sleep 30; echo t2 >>ran.log", "deps": ["t1"] } ] }' >w.json
	OWN="ran.log j.jsonl"
	GBX_BG=1 gbx run w.json --journal j.jsonl
	i=0
	while ! grep -q t1 ran.log 2>/dev/null && [ $i -lt 200 ]; do sleep 0.02; i=$((i + 1)); done
	sleep 0.2
	gbx_kill TERM
	gbx_wait
	rc 143
	err 'Terminated'
	journal_honest j.jsonl
	check test "$(jq -r 'select(.id == "t2") | .status' j.jsonl)" = ""
}
case_proc_sigint_130() {  # SIGINT exits 130, resume runs the rest
	printf '{ "tasks": [ { "id": "t1", "sh": "echo t1 >>ran.log" }, { "id": "t2", "sh": "sleep 30; echo t2 >>ran.log", "deps": ["t1"] } ] }' >w.json
	OWN="ran.log j.jsonl"
	GBX_BG=1 gbx run w.json --journal j.jsonl
	i=0
	while ! grep -q t1 ran.log 2>/dev/null && [ $i -lt 200 ]; do sleep 0.02; i=$((i + 1)); done
	sleep 0.2
	gbx_kill INT
	gbx_wait
	rc 130
	journal_honest j.jsonl
}
case_proc_double_signal() {  # a second SIGTERM exits at once, killing what runs
	printf '{ "tasks": [ { "id": "t1", "sh": "trap \\"\\" TERM; echo t1 >>ran.log; sleep 30" } ] }' >w.json
	printf '{ "kill_grace_ms": 20000 }' >cfg.json
	GBX_BG=1 gbx run w.json --config cfg.json
	i=0
	while ! grep -q t1 ran.log 2>/dev/null && [ $i -lt 200 ]; do sleep 0.02; i=$((i + 1)); done
	gbx_kill TERM
	# the second signal only after gearbox said it took the first: two
	# signals sent at once are one pending signal
	i=0
	while ! grep -q 'stopping' .gbx-err 2>/dev/null && [ $i -lt 500 ]; do sleep 0.02; i=$((i + 1)); done
	gbx_kill TERM
	gbx_wait
	rc 143
	err 'again'
}
case_proc_spawn_missing() {  # a program that does not exist: the task fails with spawn, the run goes on
	printf '{ "tasks": [ { "id": "t1", "argv": ["/nonexistent/prog"] }, { "id": "t2", "sh": "echo t2 >>ran.log" } ] }' >w.json
	gbx run w.json
	rc 1
	err 't1' 'nonexistent|No such file'
	check test "$(cat ran.log)" = t2
}
case_proc_cwd_missing() {  # a cwd that does not exist: the task fails naming it
	printf '{ "tasks": [ { "id": "t1", "sh": "true", "cwd": "/nonexistent-dir" } ] }' >w.json
	gbx run w.json
	rc 1 2
	err 'nonexistent-dir'
}
case_proc_output_flood() {  # 20 MB of output from one task: the run survives
	printf '{ "tasks": [ { "id": "t1", "sh": "head -c 20000000 /dev/zero; echo t1 >>ran.log" } ] }' >w.json
	gbx run w.json
	rc 0
	check test "$(cat ran.log)" = t1
}
case_proc_stdin_closed() {  # stdin closed (0<&-): fds 0-2 are held, the journal gets no task output
	wl w.json
	OWN="ran.log j.jsonl"
	"$GBX" run w.json --journal j.jsonl <&- >/dev/null 2>&1
	check test "$(jq -s 'map(select(.id)) | length' j.jsonl)" = 2
}
case_proc_sigchld_ignored() {  # started with SIGCHLD ignored: tasks still get their exit status
	printf '{ "tasks": [ { "id": "t1", "sh": "exit 3" } ] }' >w.json
	MARK=none
	perl -e '$SIG{CHLD} = "IGNORE"; exec @ARGV' "$GBX" run w.json >.gbx-out 2>.gbx-err
	rc=$?
	rc 1
	err 'exit 3'
}
case_proc_output_oom() {  # output larger than memory allows (ulimit -v): spilled to a file, the task ok, all bytes out
	asan && return 0 # ASan cannot run under ulimit -v
	printf '{ "tasks": [ { "id": "big", "sh": "head -c 400000000 /dev/zero" }, { "id": "t2", "sh": "echo t2 >>ran.log" } ] }' >w.json
	LIMIT="ulimit -v 300000" gbx run w.json
	rc 0
	check test "$(wc -c <.gbx-out)" = 400000000
	check test "$(cat ran.log)" = t2
}
