# t_nodes_ssh.sh - --nodes ssh:...: agents started over a real sshd
# (tools/sshd.sh, started once here): the same results as a local run, N/HOST
# slots, an unreachable host named, and kill -9 of the controller leaves no
# agent or task behind on the "remote" side.
. "$(dirname "$0")/nodes_lib.sh"
nodes_server sshd
port=$server
sshd_pid=$(cat "$S/sshd.pid")

cat >ssh.json <<EOF
{ "nodes": { "launchers": {
    "ssh": ["ssh", "-F", "$S/ssh_config", "-T", "{node}", "{gearbox}", "agent"],
    "sshbad": ["ssh", "-F", "$S/ssh_config", "-o", "Port=1", "-T", "{node}", "{gearbox}", "agent"] } } }
EOF
nodes_workload 8
nodes_reference
run_gbx run w.json --config ssh.json --nodes ssh:3/hostA,hostB -j2 --no-progress --journal ssh.jn --events ssh.ev
expect "ssh: exit status as a local run ($rc_local)" test "$rc" = "$rc_local"
expect "ssh: journal statuses, exits, signals, attempts as a local run" test "$(summ local.jn)" = "$(summ ssh.jn)"
expect "ssh: task output as a local run" test "$(sort local.out)" = "$(sort out)"
expect "ssh: stderr of a task comes back" has "oops" err
expect "ssh: both hosts ran tasks" test "$(jq -r 'select(.id) | .node' ssh.jn | sort -u | tr '\n' ' ')" = "hostA hostB "
expect "ssh: -j is slots per node" has '"event":"node.up","node":"hostB","host":"[^"]*","slots":2' ssh.ev
run_gbx run w.json --config ssh.json --nodes ssh:3/hostA,hostB --no-progress --events ssh2.ev
expect "ssh: N/HOST gives N slots" has '"event":"node.up","node":"hostA","host":"[^"]*","slots":3' ssh2.ev

# an unreachable host: named, with ssh's own words; exit 2 when no node starts
run_gbx run w.json --config ssh.json --nodes sshbad:nowhere --no-progress
expect "ssh: unreachable host: exit 2" test "$rc" = 2
expect "ssh: unreachable host: the message names it and says why" has "node nowhere cannot start.*Connection refused" err
expect "ssh: unreachable host: nothing ran" test ! -s out

# kill -9 of the controller: everything the agents started over ssh is gone in 2 s
nodes_sleepers 4
"$GBX" run z.json --config ssh.json --nodes ssh:hostA,hostB -j2 --no-progress --events z.ev >zout 2>zerr </dev/null &
ctl=$!
wait_for 10 sh -c "[ \$(cat '$T/z.ev' 2>/dev/null | grep -c '\"started\"') -ge 4 ]"
wait_for 5 sh -c "[ \$(pgrep -f -- 'sleep 30' | wc -l) -ge 4 ]"
remote=$(below "$sshd_pid")
nsleep=0
for p in $remote; do grep -q "sleep" /proc/$p/cmdline 2>/dev/null && nsleep=$((nsleep + 1)); done
kill -9 $ctl
wait $ctl 2>/dev/null
all=$remote
expect "ssh: controller killed: the 4 tasks ran below sshd" test "$nsleep" -ge 4
expect "ssh: controller killed: agents, tasks and their sessions gone within 2 s" wait_for 2 gone
