# c_workload.sh - hostile workload files: exit 2, a message naming the file
# and the place, nothing run, no journal written (it is not among the run's
# own files here, so creating it fails the case).

# bad_wl CONTENT PATTERN...: gearbox run on it refuses it
bad_wl() {
	printf '%s' "$1" >w.json
	shift
	gbx run w.json --journal j.jsonl --no-progress
	rc 2
	err 'w\.json' "$@"
	check test ! -e ran.log
}

case_wl_syntax() {  # malformed JSON: file:line:column
	bad_wl '{ "tasks": [
  { "id": "a", "sh": "echo a >>ran.log" }
  { "id": "b", "sh": "true" } ] }' 'w\.json:3:[0-9]+'
}
case_wl_nan() {  # NaN is not JSON: refused with the place
	bad_wl '{ "tasks": [ { "id": "a", "sh": "true", "priority": NaN } ] }' 'w\.json:1'
}
case_wl_1e309() {  # 1e309 overflows a double: refused, not infinity
	bad_wl '{ "tasks": [ { "id": "a", "sh": "true", "timeout_ms": 1e309 } ] }' 'w\.json'
}
case_wl_nul_byte() {  # a NUL byte inside a string
	printf '{ "tasks": [ { "id": "a\\u0000b", "sh": "true" } ] }' >w.json
	gbx run w.json --journal j.jsonl
	rc 2
	err 'w\.json'
}
case_wl_raw_nul() {  # a raw NUL byte in the file
	printf '{ "tasks": [ { "id": "a\000", "sh": "true" } ] }' >w.json
	gbx run w.json --journal j.jsonl
	rc 2
	err 'w\.json'
}
case_wl_deep_nesting() {  # JSON nested 100k deep: refused, no stack overflow
	awk 'BEGIN { for (i = 0; i < 100000; i++) printf "["; for (i = 0; i < 100000; i++) printf "]" }' >w.json
	gbx run w.json --journal j.jsonl
	rc 2
	err 'w\.json'
}
case_wl_cycle_long() {  # a 20k-task cycle is found and named, fast
	awk 'BEGIN { n = 20000; printf "{\"tasks\":["; for (i = 0; i < n; i++) printf "%s{\"id\":\"c%d\",\"sh\":\"true\",\"deps\":[\"c%d\"]}", i ? "," : "", i, (i + 1) % n; printf "]}" }' >w.json
	gbx run w.json --journal j.jsonl
	rc 2
	err 'w\.json' 'cycle'
}
case_wl_self_dep() {  # a task that depends on itself
	bad_wl '{ "tasks": [ { "id": "me", "sh": "true", "deps": ["me"] } ] }' 'cycle' 'me -> me'
}
case_wl_missing_dep() {  # a dependency that does not exist is named
	bad_wl '{ "tasks": [ { "id": "p", "sh": "true", "deps": ["fetch"] } ] }' '"fetch"' 'does not exist'
}
case_wl_dup_id() {  # duplicate ids: both places named
	bad_wl '{ "tasks": [ { "id": "a", "sh": "true" }, { "id": "a", "sh": "true" } ] }' 'duplicate' 'tasks\[1\]'
}
case_wl_unknown_field() {  # unknown task field with did-you-mean
	bad_wl '{ "tasks": [ { "id": "a", "sh": "true", "dpes": [] } ] }' 'unknown field "dpes"' 'did you mean "deps"'
}
case_wl_unknown_top() {  # unknown top-level field with did-you-mean
	bad_wl '{ "taks": [] }' 'taks' 'did you mean "tasks"'
}
case_wl_not_object() {  # a JSON array at the top
	bad_wl '[1, 2, 3]' 'object'
}
case_wl_tasks_not_array() {  # tasks is a string
	bad_wl '{ "tasks": "all of them" }' 'tasks'
}
case_wl_empty_argv() {  # argv is empty
	bad_wl '{ "tasks": [ { "id": "e", "argv": [] } ] }' 'tasks\[0\]' 'argv'
}
case_wl_argv_not_strings() {  # argv holds a number
	bad_wl '{ "tasks": [ { "id": "e", "argv": ["echo", 3] } ] }' 'argv'
}
case_wl_negative_timeout() {  # a negative timeout is named with its task
	bad_wl '{ "tasks": [ { "id": "n", "sh": "true", "timeout_ms": -5 } ] }' '"n"' 'timeout_ms'
}
case_wl_absurd_retries() {  # retries of a million
	bad_wl '{ "tasks": [ { "id": "n", "sh": "true", "retries": 1000000 } ] }' 'retries'
}
case_wl_retries_fraction() {  # retries of 1.5
	bad_wl '{ "tasks": [ { "id": "n", "sh": "true", "retries": 1.5 } ] }' 'retries'
}
case_wl_priority_string() {  # priority as a string
	bad_wl '{ "tasks": [ { "id": "n", "sh": "true", "priority": "high" } ] }' 'priority'
}
case_wl_fail_rate() {  # sim fail_rate out of range
	bad_wl '{ "tasks": [ { "id": "s", "kind": "sim", "fail_rate": 1.5 } ] }' 'fail_rate'
}
case_wl_unknown_kind() {  # an unknown kind is named
	bad_wl '{ "tasks": [ { "id": "k", "kind": "teleport" } ] }' 'teleport'
}
case_wl_no_command() {  # a task with nothing to run
	bad_wl '{ "tasks": [ { "id": "k" } ] }' '"k"'
}
case_wl_both_sh_argv() {  # sh and argv together
	bad_wl '{ "tasks": [ { "id": "k", "sh": "true", "argv": ["true"] } ] }' '"k"'
}
case_wl_empty_id() {  # an empty id
	bad_wl '{ "tasks": [ { "id": "", "sh": "true" } ] }' 'id'
}
case_wl_id_number() {  # an id that is a number
	bad_wl '{ "tasks": [ { "id": 7, "sh": "true" } ] }' 'id'
}
case_wl_deps_not_array() {  # deps as a string
	bad_wl '{ "tasks": [ { "id": "a", "sh": "true", "deps": "b" } ] }' 'deps'
}
case_wl_trailing_garbage() {  # text after the JSON value
	bad_wl '{ "tasks": [] } trailing' 'w\.json'
}
case_wl_bad_utf8() {  # invalid UTF-8 in a string
	printf '{ "tasks": [ { "id": "\377\376", "sh": "true" } ] }' >w.json
	gbx run w.json --journal j.jsonl
	rc 2
	err 'w\.json'
}
case_wl_garbage() {  # 4 KiB of binary garbage
	head -c 4096 /dev/urandom >w.json
	gbx run w.json --journal j.jsonl
	rc 2
	err 'w\.json'
	lines_at_most 3
}
case_wl_empty_file() {  # an empty workload file
	: >w.json
	gbx run w.json --journal j.jsonl
	rc 2
	err 'w\.json'
}
case_wl_directory() {  # a directory given as the workload
	mkdir w.json
	gbx run w.json --journal j.jsonl
	rc 2
	err 'w\.json'
}
case_wl_missing() {  # a workload that does not exist
	gbx run nope.json --journal j.jsonl
	rc 2
	err 'nope\.json'
}
case_wl_fifo() {  # a FIFO given as the workload, with no writer: refused or read, never a hang
	mkfifo w.json
	TMO=30 gbx run w.json --journal j.jsonl
	rc 2
	err 'w\.json'
}
case_wl_dev_zero() {  # /dev/zero as the workload: an error, not 4 GiB read
	LIMIT="$(vlimit 1000000)" TMO=30 gbx run /dev/zero --journal j.jsonl
	rc 2
	err '/dev/zero'
}
case_wl_matrix_empty_var() {  # a matrix variable with no values
	bad_wl '{ "tasks": [], "matrix": [ { "id": "m-{x}", "sh": "true", "vars": { "x": [] } } ] }' 'matrix'
}
case_wl_matrix_dup_ids() {  # a matrix whose ids collide
	bad_wl '{ "tasks": [], "matrix": [ { "id": "m", "sh": "echo {x}", "vars": { "x": [1, 2] } } ] }' 'duplicate|m'
}
case_wl_matrix_oom() {  # a huge matrix under ulimit -v: exit 2 naming the file and the matrix entry, no abort
	asan && return 0 # ASan cannot run under ulimit -v
	awk 'BEGIN { printf "{\"tasks\":[],\"matrix\":[{\"id\":\"a-long-task-name-to-fill-the-arena-{a}-{b}\",\"sh\":\"echo {a} {b} and a long argument string to fill memory\",\"vars\":{"; for (v = 0; v < 2; v++) { printf "%s\"%c\":[", v ? "," : "", 97 + v; for (i = 0; i < 2000; i++) printf "%s%d", i ? "," : "", i; printf "]" } printf "}}]}" }' >w.json
	LIMIT="ulimit -v 400000" gbx run w.json --journal j.jsonl
	rc 2
	err 'w\.json: matrix\[0\] \("a-long-task-name' 'out of memory'
}
# the other allocations of the loader under ulimit -v (the limits sit in the
# middle of the ranges where each one fails on this machine; the checks hold
# whichever fails)
wl_oom_strings() {  # 4M tasks with long ids and commands
	awk 'BEGIN { printf "{\"tasks\":[],\"matrix\":[{\"id\":\"a-long-task-name-to-fill-the-arena-{a}-{b}\",\"sh\":\"echo {a} {b} and a long argument string to fill memory\",\"vars\":{"; for (v = 0; v < 2; v++) { printf "%s\"%c\":[", v ? "," : "", 97 + v; for (i = 0; i < 2000; i++) printf "%s%d", i ? "," : "", i; printf "]" } printf "}}]}" }' >w.json
}
wl_oom_lists() {  # 1M tasks with templated argv, env and tags, each a dependant of root
	awk 'BEGIN { printf "{\"tasks\":[{\"id\":\"root\",\"sh\":\"true\"}],\"matrix\":[{\"id\":\"t-{a}-{b}\",\"argv\":[\"echo\",\"{a}\",\"{b}\",\"x{a}y{b}\"],\"env\":{\"A\":\"{a}\",\"B\":\"{b}\"},\"tags\":[\"t{a}\",\"u{b}\"],\"deps\":[\"root\"],\"meta\":{\"k\":\"v\"},\"vars\":{"; for (v = 0; v < 2; v++) { printf "%s\"%c\":[", v ? "," : "", 97 + v; for (i = 0; i < 1000; i++) printf "%s%d", i ? "," : "", i; printf "]" } printf "}}]}" }' >w.json
}
wl_oom_deps() {  # 1M sim tasks, each a dependant of the same 20 tasks: 20M edges
	awk 'BEGIN { printf "{\"tasks\":["; for (i = 0; i < 20; i++) printf "%s{\"id\":\"r%d\",\"kind\":\"sim\"}", i ? "," : "", i; printf "],\"matrix\":[{\"id\":\"t-{a}-{b}\",\"kind\":\"sim\",\"deps\":["; for (i = 0; i < 20; i++) printf "%s\"r%d\"", i ? "," : "", i; printf "],\"vars\":{"; for (v = 0; v < 2; v++) { printf "%s\"%c\":[", v ? "," : "", 97 + v; for (i = 0; i < 1000; i++) printf "%s%d", i ? "," : "", i; printf "]" } printf "}}]}" }' >w.json
}
case_wl_matrix_oom_tasks() {  # a huge matrix, little memory: the task array fails, exit 2 naming the file and the entry
	asan && return 0 # ASan cannot run under ulimit -v
	wl_oom_strings
	LIMIT="ulimit -v 150000" gbx run w.json --journal j.jsonl
	rc 2
	err 'w\.json: matrix\[0\] \("a-long-task-name[^"]*"\): out of memory' '4000000 tasks'
}
case_wl_matrix_oom_lists() {  # templated argv, env and tags under ulimit -v: exit 2 naming the entry (was abort, 134)
	asan && return 0 # ASan cannot run under ulimit -v
	wl_oom_lists
	LIMIT="ulimit -v 120000" gbx run w.json --journal j.jsonl
	rc 2
	err 'w\.json: matrix\[0\] \("t-\{a\}-\{b\}"\): out of memory'
}
case_wl_matrix_oom_lists_late() {  # the same matrix with more memory: a later allocation fails, the same message
	asan && return 0 # ASan cannot run under ulimit -v
	wl_oom_lists
	LIMIT="ulimit -v 300000" gbx run w.json --journal j.jsonl
	rc 2
	err 'w\.json: matrix\[0\] \("t-\{a\}-\{b\}"\): out of memory'
}
case_wl_matrix_oom_index() {  # 20M edges, little memory: the id index fails, exit 2 naming the entry
	asan && return 0 # ASan cannot run under ulimit -v
	wl_oom_deps
	LIMIT="ulimit -v 100000" gbx run w.json --journal j.jsonl
	rc 2
	err 'w\.json: matrix\[0\] \("t-\{a\}-\{b\}"\): out of memory' '1000020 tasks in all, 1000000 from this entry'
}
case_wl_matrix_oom_dag() {  # 20M edges, more memory: the dependency graph fails, exit 2 naming the entry
	asan && return 0 # ASan cannot run under ulimit -v
	wl_oom_deps
	LIMIT="ulimit -v 200000" gbx run w.json --journal j.jsonl
	rc 2
	err 'w\.json: matrix\[0\] \("t-\{a\}-\{b\}"\): out of memory' '1000020 tasks in all, 1000000 from this entry'
}
case_wl_defaults_bad() {  # defaults with a wrong type
	bad_wl '{ "defaults": { "timeout_ms": "soon" }, "tasks": [ { "id": "a", "sh": "true" } ] }' 'timeout_ms'
}
case_wl_env_bad() {  # env as an array
	bad_wl '{ "tasks": [ { "id": "a", "sh": "true", "env": ["X=1"] } ] }' 'env'
}
case_wl_duplicate_key() {  # the same key twice in one object
	bad_wl '{ "tasks": [ { "id": "a", "id": "b", "sh": "true" } ] }' 'w\.json'
}
case_wl_check_same() {  # gearbox check refuses what run refuses
	printf '{ "tasks": [ { "id": "a", "sh": "true", "deps": ["zz"] } ] }' >w.json
	gbx check w.json
	rc 2
	err 'w\.json' '"zz"'
}
