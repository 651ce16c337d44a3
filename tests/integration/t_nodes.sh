# t_nodes.sh - --nodes local:N: the same results as a local run, the node in
# the records, losing an agent mid-run (kill -9), losing the controller
# (kill -9: no agent or task process survives 2 s), label constraints, and
# bad node specs.
. "$(dirname "$0")/nodes_lib.sh"

# ---- the same results as a local run -------------------------------------
nodes_workload 12 ',
    { "id": "sig", "argv": ["sh", "-c", "kill -9 $$"] },
    { "id": "ghost", "argv": ["/no/such/cmd"] },
    { "id": "flaky", "kind": "sim", "fail_after": 1, "retries": 2 },
    { "id": "envy", "argv": ["sh", "-c", "echo env-$FOO"], "env": {"FOO": "bar"} }'
nodes_reference
run_gbx run w.json --nodes local:2 -j2 --no-progress --journal nodes.jn --joblog nodes.jl --events nodes.ev
expect "same results: exit status as a local run ($rc_local)" test "$rc" = "$rc_local"
expect "same results: journal statuses, exits, signals, attempts" test "$(summ local.jn)" = "$(summ nodes.jn)"
expect "same results: task output" test "$(sort local.out)" = "$(sort out)"
expect "same results: summary counts" has "22 tasks: 18 ok, 4 failed, 0 skipped" err
expect "records: every journal line names a node" test "$(jq -r 'select(.status != "skipped") | .node' nodes.jn | grep -c '^local[12]$')" = 22
expect "records: joblog Host column is the node" test "$(awk -F'\t' 'NR > 1 && $2 ~ /^local[12]$/' nodes.jl | wc -l)" = "$(($(wc -l <nodes.jl) - 1))"
expect "records: finished events name the node" test "$(jq -r 'select(.event == "finished") | .node' nodes.ev | grep -c '^local')" = "$(grep -c '"finished"' nodes.ev)"
expect "records: node.up for both nodes" test "$(grep -c '"event":"node.up"' nodes.ev)" = 2
expect "summary: a line per node" sh -c "grep -q '  node local1 (' '$T/err' && grep -q '  node local2 (' '$T/err'"
expect "both nodes ran tasks" test "$(jq -r 'select(.id) | .node' nodes.jn | sort -u | wc -l)" = 2
expect "timeout on an agent is a timeout" sh -c "jq -r 'select(.id==\"slow\" and .event==\"finished\") | .failure' '$T/nodes.ev' | grep -qx timeout"

# ---- kill -9 one agent mid-run: its tasks run again elsewhere ---------------
# 8 tasks of 1 s on 4 slots: the kill lands while the victim runs two of them,
# even on a loaded machine
cat >k.json <<'EOF'
{ "tasks": [],
  "matrix": [ { "id": "k{n}", "vars": { "n": [1,2,3,4,5,6,7,8] },
                "argv": ["sleep", "1"] } ] }
EOF
"$GBX" run k.json --nodes local:2 -j2 --no-progress --journal k.jn --events k.ev >kout 2>kerr </dev/null &
ctl=$!
wait_for 10 sh -c "[ \$(cat '$T/k.ev' 2>/dev/null | grep -c '\"started\"') -ge 4 ]"
agents=$(kids $ctl)
victim=$(echo "$agents" | head -1)
kill -9 "$victim" 2>/dev/null
wait $ctl; rc=$?
expect "agent killed: the run still succeeds" test "$rc" = 0
expect "agent killed: every task ok exactly once in the journal" test "$(jq -r 'select(.status=="ok") | .id' k.jn | sort | uniq -c | awk '$1 == 1' | wc -l)" = 8
expect "agent killed: nothing else in the journal" test "$(grep -c '"id"' k.jn)" = 8
expect "agent killed: its attempts were lost and ran again" test "$(jq -r 'select(.event=="finished" and .failure=="lost") | .id' k.ev | wc -l)" -ge 1
expect "agent killed: node.lost event" has '"event":"node.lost"' k.ev
expect "agent killed: lost attempts did not use retries (no retried event)" sh -c "! grep -q '\"retried\"' '$T/k.ev'"
expect "agent killed: the summary says so" has "lost with their node and run again" kerr
expect "agent killed: relaunched (node.up with relaunch 1)" has '"event":"node.up","node":"local[12]","host":"[^"]*","slots":2,"relaunch":1' k.ev

# ---- a hung agent (SIGSTOP): lost when its heartbeats stop ----------------------
echo '{ "nodes": { "heartbeat_ms": 50, "timeout_ms": 400, "relaunch": 0 } }' >hb.json
"$GBX" run k.json --config hb.json --nodes local:2 -j2 --no-progress --journal h.jn --events h.ev >hout 2>herr </dev/null &
ctl=$!
wait_for 10 sh -c "[ \$(cat '$T/h.ev' 2>/dev/null | grep -c '\"started\"') -ge 4 ]"
victim=$(kids $ctl | head -1)
kill -STOP "$victim" 2>/dev/null
wait $ctl; rc=$?
expect "hung agent: the run succeeds on the other node" test "$rc" = 0
expect "hung agent: lost for its heartbeat" has '"event":"node.lost".*"why":"no heartbeat for' h.ev
expect "hung agent: every task ok exactly once" test "$(jq -r 'select(.status=="ok") | .id' h.jn | sort -u | wc -l)-$(grep -c '"id"' h.jn)" = "8-8"
expect "hung agent: it was killed, not left stopped" wait_for 2 dead "$victim"

# ---- the last node lost: the run halts with a clear message --------------------
echo '{ "nodes": { "relaunch": 0 } }' >nr.json
"$GBX" run k.json --config nr.json --nodes local:1 -j2 --no-progress --events x.ev >xout 2>xerr </dev/null &
ctl=$!
wait_for 10 sh -c "[ \$(cat '$T/x.ev' 2>/dev/null | grep -c '\"started\"') -ge 2 ]"
kill -9 $(kids $ctl | head -1)
wait $ctl; rc=$?
expect "no node left: exit 1" test "$rc" = 1
expect "no node left: a clear message" has "halting: no node is left" xerr

# ---- output past the file-size limit: that task fails, the node and run go on ----
# the big task's stdout (5 MB) is past the spool's 256 KB. The agent alone
# limited (its launcher sets the limit to 1 MB) keeps none of it on disk: it
# sends it in pieces as it reads it (protocol 3), so the task succeeds whole.
# The controller alone limited (its soft limit; the launcher lifts it for the
# agent) spools what the agent sends into $TMPDIR and hits it: EFBIG, not
# SIGXFSZ. -j1 on one node: the small task runs after it on the same agent.
cat >fsz.json <<'EOF'
{ "nodes": { "relaunch": 0, "launchers": {
    "flim": ["sh", "-c", "ulimit -f 2048; exec \"$0\" agent --labels \"$1\"", "{gearbox}", "{node}"],
    "fopen": ["sh", "-c", "ulimit -f unlimited; exec \"$0\" agent --labels \"$1\"", "{gearbox}", "{node}"] } } }
EOF
"$GBX" run --config fsz.json --nodes flim:n1 -j1 --no-progress --events fa.ev \
	-- sh -c 'yes {} | head -c {}' ::: 5000000 10 >fa.out 2>fa.err </dev/null
rc=$?
expect "agent past ulimit -f: exit 0 (it spools nothing)" test "$rc" = 0
expect "agent past ulimit -f: the big task's 5 MB whole" test "$(grep -c -x 5000000 fa.out)" = 625000
expect "agent past ulimit -f: the node was not lost, the next task ran on it" \
	sh -c "! grep -q 'node.lost' '$T/fa.ev' && grep -qx 10 '$T/fa.out' && grep -q '2 tasks: 2 ok, 0 failed' '$T/fa.err'"
(ulimit -S -f 2048; "$GBX" run --config fsz.json --nodes fopen:n1 -j1 --no-progress --events fc.ev \
	-- sh -c 'yes {} | head -c {}' ::: 5000000 10 2>fc.err </dev/null; echo $? >fc.rc) | grep -c -x 10 >fc.out
expect "controller past ulimit -f: exit 1, not a crash" test "$(cat fc.rc)" = 1
expect "controller past ulimit -f: the big task fails, naming the stream and why" \
	sh -c "grep 'FAILED 1:' '$T/fc.err' | grep -q 'its stdout could not be kept: writing to .*File too large'"
expect "controller past ulimit -f: the node was not lost, the next task ran on it" \
	sh -c "! grep -q 'node.lost' '$T/fc.ev' && [ \$(cat '$T/fc.out') = 3 ] && grep -q '2 tasks: 1 ok, 1 failed' '$T/fc.err'"

# ---- kill -9 the controller: no agent, no task process survives 2 s ----------
nodes_sleepers 4
"$GBX" run z.json --nodes local:2 -j2 --no-progress --events z.ev >zout 2>zerr </dev/null &
ctl=$!
wait_for 10 sh -c "[ \$(cat '$T/z.ev' 2>/dev/null | grep -c '\"started\"') -ge 4 ]"
agents=$(kids $ctl)
wait_for 5 sh -c "[ \$(for a in $(echo $agents); do cat /proc/\$a/task/*/children; done | wc -w) -ge 4 ]"
tasks=$(kids $agents)
all=$(echo $agents $tasks $(kids $tasks))
kill -9 $ctl
wait $ctl 2>/dev/null
expect "controller killed: had 2 agents and 4 tasks to watch" test "$(echo "$agents" | wc -w)-$(echo "$tasks" | wc -w)" = "2-4"
expect "controller killed: every agent and task process gone within 2 s" wait_for 2 gone

# ---- label constraints --------------------------------------------------------
cat >l.json <<'EOF'
{ "tasks": [
    { "id": "on2", "argv": ["true"], "node": ["local2"] },
    { "id": "gpu", "argv": ["true"], "node": ["gpu"] },
    { "id": "any", "argv": ["true"] } ],
  "matrix": [ { "id": "p{n}", "vars": { "n": [1,2,3,4,5,6] }, "argv": ["true"], "node": ["local2"] } ] }
EOF
echo '{ "nodes": { "labels": { "local1": ["gpu"] } } }' >lab.json
run_gbx run l.json --nodes local:2 --config lab.json --no-progress --journal l.jn
expect "labels: run ok" test "$rc" = 0
expect "labels: tasks needing local2 ran there" test "$(jq -r 'select((.id // "") | test("^(on2|p)")) | .node' l.jn | sort -u)" = local2
expect "labels: a config label is honoured" test "$(jq -r 'select(.id == "gpu") | .node' l.jn)" = local1
echo '{ "tasks": [ { "id": "t1", "argv": ["true"] }, { "id": "needy", "argv": ["true"], "node": ["tpu"] } ] }' >n.json
run_gbx run n.json --nodes local:2 --no-progress
expect "labels: a task no node can take is an error at start (exit 2)" test "$rc" = 2
expect "labels: the message names the task and the labels" has "task needy needs a node with labels tpu" err
expect "labels: nothing ran" test ! -s out

# ---- bad input ------------------------------------------------------------------
run_gbx run n.json --nodes bogus
expect "bad spec: exit 2" test "$rc" = 2
expect "bad spec: one line naming it" sh -c "grep -q 'nodes bogus: unknown node spec' '$T/err' && [ \$(wc -l <'$T/err') -le 2 ]"
run_gbx run n.json --nodes local:0
expect "local:0: exit 2" test "$rc" = 2
run_gbx run n.json --nodes zz:h1
expect "unknown launcher: exit 2 naming it" sh -c "[ $rc = 2 ] && grep -q 'unknown launcher \"zz\"' '$T/err'"
cat >fake.json <<'EOF'
{ "nodes": { "launchers": {
    "dead": ["false", "{node}"],
    "old": ["sh", "-c", "read l; echo '{\"v\":9,\"op\":\"hello\"}'; cat >/dev/null", "{node}"],
    "nocwd": ["sh", "-c", "read l; echo '{\"v\":3,\"op\":\"hello\",\"cores\":1,\"cwd_ok\":false}'; cat >/dev/null", "{node}"] } } }
EOF
echo '{ "tasks": [ { "id": "t1", "argv": ["true"] } ] }' >one.json
run_gbx run one.json --config fake.json --nodes dead:h1,h2
expect "launcher exits at once: exit 2" test "$rc" = 2
expect "launcher exits at once: each node named" sh -c "grep -q 'node h1 cannot start' '$T/err' && grep -q 'node h2 cannot start' '$T/err'"
expect "launcher exits at once: each node's reason once, and one line to end" \
	test "$(wc -l <err)-$(grep -c 'connection closed' err)" = 3-2
run_gbx run one.json --config fake.json --nodes old:h1
expect "other protocol version: exit 2 naming both versions" sh -c "[ $rc = 2 ] && grep -q 'node h1.*protocol version 9, this controller speaks 3' '$T/err'"
expect "other protocol version: said once, in one line" test "$(wc -l <err)" = 1
run_gbx run one.json --config fake.json --nodes nocwd:h1
expect "no shared cwd: exit 2 naming the node and the directory" sh -c "[ $rc = 2 ] && grep -q \"node h1: the run's directory $T does not exist there\" '$T/err'"
expect "no shared cwd: said once, in one line" test "$(wc -l <err)" = 1
echo '{ "nodes": { "launchers": { "x": ["true"] } } }' >nonode.json
run_gbx run one.json --config nonode.json --nodes x:h1
expect "a launcher without {node}: exit 2 naming the config" sh -c "[ $rc = 2 ] && grep -q 'nodes.launchers.x: no {node}' '$T/err'"
run_gbx run one.json --config fake.json --nodes dead:h1,local:2
expect "a host list with a bad host name: exit 2" test "$rc" = 2

# ---- placement policies ------------------------------------------------------------
cat >chain.json <<'EOF2'
{ "tasks": [ { "id": "c1", "argv": ["true"] }, { "id": "c2", "argv": ["true"], "deps": ["c1"] },
             { "id": "c3", "argv": ["true"], "deps": ["c2"] }, { "id": "c4", "argv": ["true"], "deps": ["c3"] },
             { "id": "c5", "argv": ["true"], "deps": ["c4"] }, { "id": "c6", "argv": ["true"], "deps": ["c5"] },
             { "id": "big1", "argv": ["true"], "node": ["big"] }, { "id": "big2", "argv": ["true"], "node": ["big"] },
             { "id": "big3", "argv": ["true"], "node": ["big"] }, { "id": "big4", "argv": ["true"], "node": ["big"] } ] }
EOF2
cat >third.lua <<'EOF2'
-- prefers local3 whenever it is offered, else the last node offered
return { place = function(task, nodes)
  for _, n in ipairs(nodes) do if n.name == "local3" then return "local3" end end
  return nodes[#nodes].name
end }
EOF2
echo '{ "nodes": { "labels": { "local1": ["big"], "local2": ["big"] } } }' >big.json
run_gbx run chain.json --nodes local:3 --config big.json --policy placement=third.lua --no-progress --journal pc.jn
expect "placement: the run succeeds" test "$rc" = 0
expect "placement: the policy's choice is followed" test "$(jq -r 'select((.id // "") | test("^c")) | .node' pc.jn | sort -u)" = local3
expect "placement: a label constraint is honoured over the policy" test "$(jq -r 'select((.id // "") | test("^big")) | .node' pc.jn | grep -c local3)" = 0
run_gbx run chain.json --nodes local:3 --config big.json --no-progress --journal pd.jn
expect "placement: without the policy the chain spreads (least_loaded)" test "$(jq -r 'select((.id // "") | test("^c")) | .node' pd.jn | sort -u | wc -l)" -gt 1
echo 'return { place = function(task, nodes) return "nowhere" end }' >bad.lua
run_gbx run chain.json --nodes local:3 --config big.json --policy placement=bad.lua --no-progress
expect "placement: a policy naming no offered node falls back, the run goes on" test "$rc" = 0
expect "placement: ... and is reported once with file and line" test "$(grep -c 'bad.lua:1: place: returned "nowhere", which is not one of the nodes' err)" = 1
for p in least_loaded round_robin weighted history; do
	run_gbx run chain.json --nodes local:2 --config big.json --policy placement=$p --no-progress --journal "p-$p.jn"
	expect "placement: bundled $p runs every task once" test "$rc-$(jq -r 'select(.id) | .id' "p-$p.jn" | sort -u | wc -l)" = "0-10"
done

# ---- plugins on the agents: a plugin's kind, and pool's workers ----------------
# the worker says whether its parent is an agent; "die" and "sleep" misbehave
cat >worker.py <<'EOF2'
import json, os, sys, time
pp = open("/proc/%d/cmdline" % os.getppid()).read().split("\0")
where = "agent" if len(pp) > 1 and pp[1] == "agent" else "controller"
for line in sys.stdin:
    req = json.loads(line)
    arg = req.get("arguments", [""])[-1]
    if arg == "die":
        os._exit(1)
    if arg == "sleep":
        time.sleep(30)
    print(json.dumps({"exitCode": 0, "output": "%s %s\n" % (arg, where), "requestId": req.get("requestId", 0)}), flush=True)
EOF2
cat >plug.json <<'EOF2'
{ "plugins": { "pool": { "enabled": true, "pools": { "py": { "command": ["python3", "worker.py"],
                  "match": "python3", "max": 1, "startup_timeout_ms": 1000 } } },
               "hello": { "enabled": true, "greeting": "Howdy" } },
  "nodes": { "agent_plugins": ["pool"] } }
EOF2
cat >plugw.json <<'EOF2'
{ "tasks": [ { "id": "h1", "kind": "hello" }, { "id": "h2", "kind": "hello", "greeting": "Hi" } ],
  "matrix": [ { "id": "sq{n}", "argv": ["python3", "-c", "{n}"], "vars": { "n": [1, 2, 3, 4, 5, 6] } } ] }
EOF2
run_gbx run plugw.json --config plug.json --nodes local:2 --no-progress --journal pl.jn --events pl.ev
expect "plugins on agents: the run succeeds" test "$rc" = 0
expect "plugins on agents: a plugin's kind runs with its config and the task's fields" sh -c "grep -qx 'Howdy, h1' '$T/out' && grep -qx 'Hi, h2' '$T/out'"
expect "plugins on agents: a plugin's kind runs on a node" test "$(jq -r 'select((.id // "") | test("^h")) | .node' pl.jn | grep -c '^local[12]$')" = 2
expect "plugins on agents: pool answered every task" test "$(jq -r 'select(.event=="finished" and .label=="pool") | .id' pl.ev | wc -l)" = 6
expect "plugins on agents: pool's workers are the agents' children" test "$(grep -c '^[1-6] agent$' out)" = 6
expect "plugins on agents: both nodes ran pool tasks" test "$(jq -r 'select((.id // "") | test("^sq")) | .node' pl.jn | sort -u | wc -l)" = 2
# the same workload without agent_plugins: pool stays in the controller
jq 'del(.nodes)' plug.json >plugc.json
run_gbx run plugw.json --config plugc.json --nodes local:2 --no-progress
expect "plugins: without agent_plugins pool's workers are the controller's" test "$(grep -c '^[1-6] controller$' out)" = 6
# a task's timeout and a worker's death, as in a local run, with the events of the agent's plugin
cat >plugt.json <<'EOF2'
{ "tasks": [ { "id": "slow", "argv": ["python3", "-c", "sleep"], "timeout_ms": 300 },
             { "id": "die", "argv": ["python3", "-c", "die"] } ] }
EOF2
run_gbx run plugt.json --config plug.json --nodes local:2 --no-progress --events pt.ev
expect "plugins on agents: a pool task's timeout is a timeout" test "$(jq -r 'select(.event=="finished" and .id=="slow") | .failure' pt.ev)" = timeout
expect "plugins on agents: a dead worker fails its task" test "$(jq -r 'select(.event=="finished" and .id=="die") | .failure' pt.ev)" = error
expect "plugins on agents: the plugin's events reach --events with the node" test "$(jq -r 'select(.event=="pool.replaced") | .node + " " + .id' pt.ev | grep -c '^local[12] \(slow\|die\)$')" = 2
expect "plugins on agents: its log lines name the node" has "node local[12]: plugin pool: warning: pool py: worker" err
# kill -9 of the controller while pool tasks run: the workers go with the agents
cat >plugz.json <<'EOF2'
{ "matrix": [ { "id": "z{n}", "argv": ["python3", "-c", "sleep"], "vars": { "n": [1, 2] } } ] }
EOF2
"$GBX" run plugz.json --config plug.json --nodes local:2 --no-progress --events pz.ev >pzout 2>pzerr </dev/null &
ctl=$!
wait_for 10 sh -c "[ \$(cat '$T/pz.ev' 2>/dev/null | grep -c '\"started\"') -ge 2 ]"
agents=$(kids $ctl)
wait_for 10 sh -c "[ \$(for a in $(echo $agents); do cat /proc/\$a/task/*/children; done | wc -w) -ge 2 ]"
workers=$(kids $agents)
kill -9 $ctl
wait $ctl 2>/dev/null
all="$agents $workers"
expect "plugins on agents: controller killed: had 2 agents and 2 pool workers" test "$(echo $agents | wc -w)-$(echo $workers | wc -w)" = "2-2"
expect "plugins on agents: controller killed: agents and pool workers gone within 2 s" wait_for 2 gone
# a node without the plugin's file: named at start, exit 2
mkdir -p plugdir && cp "$(dirname "$GBX")/plugins/pool.so" plugdir/
cat >nofile.json <<EOF2
{ "plugin_path": ["$T/plugdir"],
  "plugins": { "pool": { "enabled": true, "pools": { "py": { "command": ["python3", "worker.py"], "match": "python3" } } } },
  "nodes": { "agent_plugins": ["pool"],
             "launchers": { "local": ["sh", "-c", "rm -f '$T/plugdir/pool.so'; exec \"\$0\" agent", "{gearbox}"] } } }
EOF2
jq 'del(.tasks)' plugw.json >plugp.json
run_gbx run plugp.json --config nofile.json --nodes local:2 --no-progress
expect "plugins on agents: a node without the plugin: exit 2" test "$rc" = 2
expect "plugins on agents: ... naming the node, the plugin and its file" has "node local1 cannot start: its agent says: plugin pool: $T/plugdir/pool.so: No such file" err
expect "plugins on agents: ... and nothing ran" test ! -s out
jq '.nodes.agent_plugins = ["nosuch"]' plug.json >unk.json
run_gbx run plugw.json --config unk.json --nodes local:2 --no-progress
expect "plugins on agents: agent_plugins naming a plugin that is not enabled: exit 2" sh -c "[ $rc = 2 ] && grep -q 'nodes.agent_plugins: plugin \"nosuch\" is not enabled' '$T/err'"

# ---- resources per node: each node's capacity, from its handshake or the config ----
cat >nres.json <<'EOF2'
{ "nodes": { "resources": { "local1": { "cpu": 1, "mem_mb": 300 }, "local2": { "cpu": 2, "mem_mb": 1000 } } } }
EOF2
cat >nresw.json <<'EOF2'
{ "tasks": [],
  "matrix": [ { "id": "s{n}", "argv": ["sleep", "0.2"], "resources": { "cpu": 1, "mem_mb": 300 }, "vars": { "n": [1,2,3,4,5,6,7,8] } },
              { "id": "m{n}", "argv": ["sleep", "0.2"], "resources": { "cpu": 0.5, "mem_mb": 600 }, "vars": { "n": [1,2,3,4] } },
              { "id": "c{n}", "argv": ["sleep", "0.2"], "resources": { "cpu": 2 }, "vars": { "n": [1,2] } } ] }
EOF2
# the most each node had in use at once, rebuilt from --events: each
# attempt's time on its node (finished: node, start_ms, ms) with its needs
# (started: needs); "NODE CPU MEM" per node
peak_use() {
	jq -s -r '(map(select(.event == "started")) | map({key: .id, value: .needs}) | from_entries) as $need
	  | [ .[] | select(.event == "finished" and .node) | {node, s: .start_ms, e: (.start_ms + .ms), n: $need[.id]} ] as $iv
	  | [ $iv[] as $a | { node: $a.node,
	        cpu: ([ $iv[] | select(.node == $a.node and .s <= $a.s and .e > $a.s + 0.002) | .n.cpu // 0 ] | add),
	        mem: ([ $iv[] | select(.node == $a.node and .s <= $a.s and .e > $a.s + 0.002) | .n.mem_mb // 0 ] | add) } ]
	  | group_by(.node) | .[] | "\(.[0].node) \(map(.cpu) | max) \(map(.mem) | max)"' "$1"
}
run_gbx run nresw.json --config nres.json --nodes local:2 -j4 --no-progress --events nres.ev --journal nres.jn
expect "resources per node: the run succeeds" test "$rc-$(grep -c '"status":"ok"' nres.jn)" = "0-14"
peak_use nres.ev >nres.peak
expect "resources per node: local1 never ran more than its cpu 1, mem_mb 300" awk '$1 == "local1" { exit !($2 <= 1 && $3 <= 300) }' nres.peak
expect "resources per node: local2 never ran more than its cpu 2, mem_mb 1000" awk '$1 == "local2" { exit !($2 <= 2 && $3 <= 1000) }' nres.peak
expect "resources per node: tasks too big for local1 ran on local2 only" test "$(jq -r 'select((.id // "") | test("^[mc]")) | .node' nres.jn | sort -u)" = local2
# with the handshake's capacities (its cores), -j far above them, all on
# local1: the cluster has 2 x cores, local1 only its own
cores=$(nproc)
jq -n --argjson n $((cores * 3)) '{ tasks: [], matrix: [ { id: "h{n}", argv: ["sleep", "0.1"], node: ["local1"], resources: { cpu: 1 }, vars: { n: [range(1; $n + 1)] } } ] }' >nresh.json
run_gbx run nresh.json --nodes local:2 -j8 --no-progress --events nresh.ev
peak_use nresh.ev >nresh.peak
expect "resources per node: without config a node holds its cores ($cores cpu)" sh -c "[ $rc = 0 ] && awk -v c=$cores '{ if (\$2 > c) bad = 1 } END { exit bad || NR != 1 }' '$T/nresh.peak'"
echo '{ "tasks": [ { "id": "huge", "argv": ["true"], "resources": { "cpu": 3 } } ] }' >nresbig.json
run_gbx run nresbig.json --config nres.json --nodes local:2 --no-progress
expect "resources per node: a task no node can hold is exit 2 at start, naming it and the nodes" sh -c "[ $rc = 2 ] && grep -q 'task \"huge\" needs 3 cpu, and no node has that much (local1: cpu 1; local2: cpu 2' '$T/err' && [ ! -s '$T/out' ]"
echo '{ "nodes": { "resources": { "local1": { "cpu": -1 } } } }' >nresbad.json
run_gbx run nresbig.json --config nresbad.json --nodes local:2 --no-progress
expect "resources per node: a bad capacity is exit 2 naming the key" sh -c "[ $rc = 2 ] && grep -q 'nodes.resources.local1.cpu: expected a number' '$T/err'"
