# t_nodes_slurm.sh - --nodes slurm inside a real allocation (tools/slurm.sh:
# slurmctld and two slurmd on 127.0.0.1, started once here): under salloc and
# under sbatch, the same results as a local run, one agent per node of the
# allocation through srun --overlap, and what Slurm allotted as the slots.
. "$(dirname "$0")/lib.sh"
ROOT=${GBX_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
if ! command -v slurmctld >/dev/null 2>&1 && [ ! -x /usr/sbin/slurmctld ]; then
	fail "slurmctld is installed (tools/deps.sh installs slurm-wlm)"
	exit 0
fi
S="$T/slurm"
if ! line=$(sh "$ROOT/tools/slurm.sh" start "$S"); then
	fail "slurm: tools/slurm.sh starts a cluster"
	exit 0
fi
trap 'sh "$ROOT/tools/slurm.sh" stop "$S"; rm -rf "$T"' EXIT
export SLURM_CONF="$S/slurm.conf"
nnodes=${line##*NODES=}

cat >w.json <<'EOF'
{ "tasks": [
    { "id": "a", "argv": ["sh", "-c", "echo a-out; echo a > a.txt"] },
    { "id": "b", "argv": ["sh", "-c", "test -f a.txt && echo b-saw-a"], "deps": ["a"] },
    { "id": "c", "kind": "sim", "cpu_us": 100, "deps": ["a"] },
    { "id": "d", "sh": "echo d-$((1+2)); cat", "stdin": "d-stdin\n", "deps": ["b", "c"] },
    { "id": "bad", "argv": ["sh", "-c", "exit 3"] },
    { "id": "sig", "argv": ["sh", "-c", "kill -9 $$"] },
    { "id": "slow", "argv": ["sleep", "5"], "timeout_ms": 200 }
  ],
  "matrix": [ { "id": "m{n}", "vars": { "n": [1,2,3,4,5,6,7,8,9,10] }, "argv": ["sh", "-c", "echo m-{n}"] } ] }
EOF
summ() { jq -r '[.id, .status, (.exit|tostring), (.signal|tostring), (.attempts|tostring)] | join(" ")' "$1" | sort; }
run_gbx run w.json -j2 --no-progress --journal local.jn
cp out local.out; rc_local=$rc
rm -f a.txt

# salloc: the command runs here, with the allocation in its environment
salloc -Q -N "$nnodes" -c 2 "$GBX" run w.json --nodes slurm --no-progress --journal sa.jn \
	--events sa.ev >out 2>err </dev/null
rc=$?
expect "salloc: exit status as a local run ($rc_local)" test "$rc" = "$rc_local"
expect "salloc: journal statuses, exits, signals, attempts as a local run" test "$(summ local.jn)" = "$(summ sa.jn)"
expect "salloc: task output as a local run" test "$(sort local.out)" = "$(sort out)"
expect "salloc: one agent per node of the allocation" test "$(grep -c '"event":"node.up"' sa.ev)" = "$nnodes"
expect "salloc: slots are what Slurm allotted (-c 2)" test "$(jq -r 'select(.event=="node.up") | .slots' sa.ev | sort -u)" = 2
expect "salloc: the nodes are the allocation's" test "$(jq -r 'select(.event=="node.up") | .node' sa.ev | sort | tr '\n' ' ')" = "$(scontrol show hostnames "$(sinfo -h -o %N)" | sort | tr '\n' ' ')"
expect "salloc: every node ran tasks" test "$(jq -r 'select(.id) | .node' sa.jn | sort -u | wc -l)" = "$nnodes"

# sbatch: the whole run is a batch job
rm -f a.txt
cat >job.sh <<EOF
#!/bin/sh
"$GBX" run w.json --nodes slurm -j 3 --no-progress --journal sb.jn --events sb.ev
echo "gearbox-exit=\$?"
EOF
sbatch -Q --wait -N "$nnodes" -o sb.out -e sb.err job.sh >/dev/null 2>&1
expect "sbatch: exit status as a local run ($rc_local)" has "gearbox-exit=$rc_local" sb.out
expect "sbatch: journal as a local run" test "$(summ local.jn)" = "$(summ sb.jn)"
expect "sbatch: task output as a local run" test "$(grep -v gearbox-exit sb.out | sort)" = "$(sort local.out)"
expect "sbatch: -j is slots per node" test "$(jq -r 'select(.event=="node.up") | .slots' sb.ev | sort -u)" = 3

# outside an allocation: a clear error, exit 2
env -u SLURM_JOB_NODELIST -u SLURM_NODELIST "$GBX" run w.json --nodes slurm >out 2>err </dev/null
rc=$?
expect "outside an allocation: exit 2 with a clear message" sh -c "[ $rc = 2 ] && grep -q 'not inside a Slurm allocation' '$T/err'"

# kill -9 of the controller inside an allocation: srun's stdin closes, each
# agent kills its tasks and exits, within 2 s
wait_for() {
	n=$(($1 * 50)); shift
	while [ "$n" -gt 0 ]; do
		"$@" && return 0
		sleep 0.02
		n=$((n - 1))
	done
	return 1
}
alive() {
	[ -r "/proc/$1/stat" ] || return 1
	st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)
	[ -n "$st" ] && [ "$st" != Z ]
}
# agents of this test's cluster: "$GBX agent" with our SLURM_CONF
our_agents() {
	for p in $(pgrep -f -- "$GBX agent"); do
		[ "$(tr '\0' '\n' <"/proc/$p/cmdline" 2>/dev/null | head -1)" = "$GBX" ] || continue
		tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "SLURM_CONF=$SLURM_CONF" && echo "$p"
	done
}
kids() { for p in "$@"; do cat /proc/$p/task/*/children 2>/dev/null; done | tr ' ' '\n' | grep . ; }
cat >z.json <<'EOF2'
{ "tasks": [],
  "matrix": [ { "id": "z{n}", "vars": { "n": [1,2,3,4] }, "argv": ["sh", "-c", "sleep 30; echo never"] } ] }
EOF2
salloc -Q -N "$nnodes" -c 2 sh -c "\"$GBX\" run z.json --nodes slurm --no-progress --events z.ev >zout 2>zerr & echo \$! >ctl.pid; wait" </dev/null >/dev/null 2>&1 &
sal=$!
wait_for 10 sh -c "[ \$(cat '$T/z.ev' 2>/dev/null | grep -c '\"started\"') -ge 4 ]"
agents=$(our_agents)
tasks=$(kids $agents)
all="$agents $tasks $(kids $tasks)"
kill -9 "$(cat ctl.pid)"
gone() { for p in $all; do alive "$p" && return 1; done; return 0; }
expect "controller killed in salloc: had $nnodes agents and 4 tasks" test "$(echo $agents | wc -w)-$(echo $tasks | wc -w)" = "$nnodes-4"
expect "controller killed in salloc: agents and tasks gone within 2 s" wait_for 2 gone
wait $sal 2>/dev/null
