# t_nodes_slurm.sh - --nodes slurm inside a real allocation (tools/slurm.sh:
# slurmctld and two slurmd on 127.0.0.1, started once here): under salloc and
# under sbatch, the same results as a local run, one agent per node of the
# allocation through srun --overlap, and what Slurm allotted as the slots.
. "$(dirname "$0")/nodes_lib.sh"
nodes_server slurm
line=$server
export SLURM_CONF="$S/slurm.conf"
nnodes=${line##*NODES=}

nodes_workload 10 ',
    { "id": "sig", "argv": ["sh", "-c", "kill -9 $$"] }'
nodes_reference

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

# docs/nodes.md's sbatch script, as the doc gives it (its -N and -c are
# overridden on the command line: this cluster has fewer nodes and cores)
awk '/^```sh file=pipeline.sbatch/ {on = 1; next} on && /^```/ {exit} on' \
	"$GBX_ROOT/docs/nodes.md" >pipeline.sbatch
cp w.json pipeline.json
mkdir -p docbin
ln -sf "$GBX" docbin/gearbox
rm -f run.journal
PATH="$T/docbin:$PATH" sbatch -Q --wait -N "$nnodes" -c 2 -o doc.out -e doc.err pipeline.sbatch >/dev/null 2>&1
expect "docs/nodes.md's sbatch script: a script was found there" grep -q -- '--nodes slurm' pipeline.sbatch
expect "docs/nodes.md's sbatch script: journal as a local run" test "$(summ local.jn)" = "$(summ run.journal)"

# outside an allocation: a clear error, exit 2
env -u SLURM_JOB_NODELIST -u SLURM_NODELIST "$GBX" run w.json --nodes slurm >out 2>err </dev/null
rc=$?
expect "outside an allocation: exit 2 with a clear message" sh -c "[ $rc = 2 ] && grep -q 'not inside a Slurm allocation' '$T/err'"

# kill -9 of the controller inside an allocation: srun's stdin closes, each
# agent kills its tasks and exits, within 2 s
# agents of this test's cluster: "$GBX agent" with our SLURM_CONF
our_agents() {
	for p in $(pgrep -f -- "$GBX agent"); do
		[ "$(tr '\0' '\n' <"/proc/$p/cmdline" 2>/dev/null | head -1)" = "$GBX" ] || continue
		tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "SLURM_CONF=$SLURM_CONF" && echo "$p"
	done
}
nodes_sleepers 4
salloc -Q -N "$nnodes" -c 2 sh -c "\"$GBX\" run z.json --nodes slurm --no-progress --events z.ev >zout 2>zerr & echo \$! >ctl.pid; wait" </dev/null >/dev/null 2>&1 &
sal=$!
wait_for 10 sh -c "[ \$(cat '$T/z.ev' 2>/dev/null | grep -c '\"started\"') -ge 4 ]"
agents=$(our_agents)
tasks=$(kids $agents)
all="$agents $tasks $(kids $tasks)"
kill -9 "$(cat ctl.pid)"
expect "controller killed in salloc: had $nnodes agents and 4 tasks" test "$(echo $agents | wc -w)-$(echo $tasks | wc -w)" = "$nnodes-4"
expect "controller killed in salloc: agents and tasks gone within 2 s" wait_for 2 gone
wait $sal 2>/dev/null
