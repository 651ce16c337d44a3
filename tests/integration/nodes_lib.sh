# nodes_lib.sh - what the t_nodes*.sh scripts share, sourced after lib.sh's
# place: process helpers (wait_for, alive, dead, kids, below, gone), the
# server a script needs (tools/sshd.sh or tools/slurm.sh, started once,
# stopped by its PIDs on exit), the common workload with its local reference
# run, and the sleepers a kill -9 of the controller leaves behind.
. "$(dirname "$0")/lib.sh"
ROOT=${GBX_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}

# wait_for SECONDS CMD...: polls CMD every 20 ms until it succeeds
wait_for() {
	n=$(($1 * 50)); shift
	while [ "$n" -gt 0 ]; do
		"$@" && return 0
		sleep 0.02
		n=$((n - 1))
	done
	return 1
}
# alive PID: the process exists and is not a zombie
alive() {
	[ -r "/proc/$1/stat" ] || return 1
	st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)
	[ -n "$st" ] && [ "$st" != Z ]
}
dead() { ! alive "$1"; }
# kids PID...: their children
kids() { for p in "$@"; do cat /proc/$p/task/*/children 2>/dev/null; done | tr ' ' '\n' | grep . ; }
# below PID: every process below PID (not PID itself)
below() {
	for c in $(cat /proc/$1/task/*/children 2>/dev/null); do
		echo "$c"
		below "$c"
	done
}
# gone: none of the PIDs in $all is alive
gone() { for p in $all; do alive "$p" && return 1; done; return 0; }

# nodes_server sshd|slurm: starts tools/NAME.sh in $S=$T/NAME, stopped when
# the script exits; its line of output in $server. A missing server is a
# failure (tools/deps.sh installs it), and the script ends there.
nodes_server() {
	case $1 in
	sshd) bin=sshd pkg=openssh-server ;;
	slurm) bin=slurmctld pkg=slurm-wlm ;;
	esac
	if ! command -v $bin >/dev/null 2>&1 && [ ! -x /usr/sbin/$bin ]; then
		fail "$bin is installed (tools/deps.sh installs $pkg)"
		exit 0
	fi
	S="$T/$1"
	if ! server=$(sh "$ROOT/tools/$1.sh" start "$S"); then
		fail "$1: tools/$1.sh starts"
		exit 0
	fi
	trap 'sh "$ROOT/tools/'"$1"'.sh" stop "$S"; rm -rf "$T"' EXIT
}

# nodes_workload MATRIX_SIZE [EXTRA_TASKS]: w.json, the workload every
# t_nodes*.sh runs locally and on nodes: a DAG over files, a sim task,
# stdin, stderr, a failure, a timeout, EXTRA_TASKS (JSON objects, each with
# a leading comma), and m1..mMATRIX_SIZE.
nodes_workload() {
	cat >w.json <<EOF
{ "tasks": [
    { "id": "a", "argv": ["sh", "-c", "echo a-out; echo a-err >&2; echo a > a.txt"] },
    { "id": "b", "argv": ["sh", "-c", "test -f a.txt && echo b-saw-a"], "deps": ["a"] },
    { "id": "c", "kind": "sim", "cpu_us": 100, "deps": ["a"] },
    { "id": "d", "sh": "echo d-\$((1+2)); cat", "stdin": "d-stdin\n", "deps": ["b", "c"] },
    { "id": "bad", "argv": ["sh", "-c", "echo oops >&2; exit 3"] },
    { "id": "slow", "argv": ["sleep", "5"], "timeout_ms": 200 }${2:-}
  ],
  "matrix": [ { "id": "m{n}", "vars": { "n": [$(seq -s, 1 "$1")] }, "argv": ["sh", "-c", "echo m-{n}"] } ] }
EOF
}

# summ JOURNAL: id, status, exit, signal, attempts of each task, sorted
summ() { jq -r '[.id, .status, (.exit|tostring), (.signal|tostring), (.attempts|tostring)] | join(" ")' "$1" | sort; }

# nodes_reference: w.json run locally at -j2: local.jn, local.out, $rc_local
nodes_reference() {
	run_gbx run w.json -j2 --no-progress --journal local.jn
	cp out local.out
	rc_local=$rc
	rm -f a.txt
}

# nodes_sleepers N: z.json, N tasks that sleep 30 s (for kill -9 of the controller)
nodes_sleepers() {
	cat >z.json <<EOF
{ "tasks": [],
  "matrix": [ { "id": "z{n}", "vars": { "n": [$(seq -s, 1 "$1")] }, "argv": ["sh", "-c", "sleep 30; echo never"] } ] }
EOF
}
