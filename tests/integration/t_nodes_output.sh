# t_nodes_output.sh - a task's output from an agent travels in pieces ("out"
# messages of at most 64 KiB before the "done", docs/nodes.md "The
# protocol") and goes straight into the attempt's spool (core/spool.h): 300 MB
# through an agent is byte-identical to the command's own output while the
# controller's and the agent's peak RSS stay small; stdout and stderr,
# interleaved in pieces, keep their split and their order, grouped and into
# --output-dir, and through gearbox parallel -S; a plugin's big answer on an
# agent arrives whole; an output past 1 GiB (once one message over the
# protocol's limit, which lost the node) arrives whole. (Output past ulimit -f,
# of the agent or of the controller: t_nodes.sh.)
. "$(dirname "$0")/nodes_lib.sh"

rss() { # rss CMD...: peak RSS in kB of CMD and its waited-for children (the agents too)
	/usr/bin/env python3 - "$@" <<'PY'
import resource, subprocess, sys
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
PY
}
# AddressSanitizer keeps freed memory in quarantine (256 MB by default): the
# sanitizer build is held to a bound that still fails a whole 300 MB copy
lim=32768 asan=0
ldd "$GBX" 2>/dev/null | grep -q libasan && lim=131072 asan=1

# ---- 300 MB through an agent ------------------------------------------------------
big='yes 0123456789abcdefghijklmnopqrstuvwxyz | head -c 300000000'
want=$(sh -c "$big" | cksum)
r=$(rss sh -c "\"\$0\" run -q --no-progress --nodes local:1 -- sh -c '$big' ::: 1 | cksum >'$T/sum'" "$GBX")
expect "300 MB through an agent: peak RSS ${r} kB <= $lim" test "$r" -le $lim
expect "300 MB through an agent: byte-identical to the command's own output" test "$(cat "$T/sum")" = "$want"

# ---- stdout and stderr in pieces, interleaved ---------------------------------------
# 40 rounds of 100,000 bytes to stdout then 70,000 to stderr: pieces of both
# streams alternate on the wire; and a small task whose output rides in its done
cat >mix.json <<'EOF'
{ "tasks": [
    { "id": "mix", "sh": "i=0; while [ $i -lt 40 ]; do yes out$i | head -c 100000; yes err$i | head -c 70000 >&2; i=$((i+1)); done" },
    { "id": "small", "sh": "echo o1; echo e1 >&2; echo o2; echo e2 >&2" } ] }
EOF
"$GBX" run mix.json -j1 -q --no-progress >loc.out 2>loc.err
"$GBX" run mix.json -j1 -q --no-progress --output-dir loc >/dev/null 2>&1
expect "interleaved: the local run's stdout and stderr (4 MB, 2.8 MB)" \
	test "$(wc -c <loc.out) $(wc -c <loc.err)" = "4000006 2800006"
run_gbx run mix.json -j1 -q --no-progress --nodes local:1
expect "interleaved: exit 0" test "$rc" = 0
expect "interleaved: stdout byte-identical to a local run" cmp -s loc.out out
expect "interleaved: stderr byte-identical to a local run" cmp -s loc.err err
run_gbx run mix.json -j1 -q --no-progress --nodes local:1 --output-dir nod
expect "interleaved: --output-dir files identical to a local run's" \
	sh -c 'for f in mix.stdout mix.stderr small.stdout small.stderr; do cmp -s loc/$f nod/$f || exit 1; done'

# gearbox parallel -S (its output through the sink after the agent's pieces)
run_gbx parallel -S 1/: -k 'yes {} | head -c 3000000; yes e{} | head -c 300000 >&2' ::: a b
expect "parallel -S: exit 0" test "$rc" = 0
expect "parallel -S: stdout whole, in order" \
	test "$(uniq -c <out | awk '{print $1, $2}' | tr '\n' ' ')" = "1500000 a 1500000 b "
expect "parallel -S: stderr whole" test "$(uniq -c <err | awk '{print $1, $2}' | tr '\n' ' ')" = "100000 ea 100000 eb "

# ---- a plugin's answer on an agent, past one piece ----------------------------------
cat >worker.py <<'EOF'
import json, sys
for line in sys.stdin:
    req = json.loads(line)
    print(json.dumps({"exitCode": 0, "output": "x" * 200000, "requestId": req.get("requestId", 0)}), flush=True)
EOF
cat >pool.json <<'EOF'
{ "plugins": { "pool": { "enabled": true, "pools": { "py": { "command": ["python3", "worker.py"], "match": "pooled" } } } },
  "nodes": { "agent_plugins": ["pool"] } }
EOF
echo '{ "tasks": [ { "id": "p1", "argv": ["pooled"] } ] }' >pooled.json
run_gbx run pooled.json --config pool.json --nodes local:1 -q --no-progress --events pe.jsonl
expect "plugin on an agent: exit 0" test "$rc" = 0
expect "plugin on an agent: its 200,000-byte answer whole" test "$(tr -d x <out | wc -c)-$(wc -c <out)" = 0-200000
expect "plugin on an agent: answered by pool" has '"label":"pool"' pe.jsonl

# ---- past 1 GiB: once more than one message could hold --------------------------------
n=1074000000 # just past 2^30 bytes
if [ $asan = 1 ]; then
	echo "ok - past 1 GiB through an agent # SKIP in the sanitizer build: 5 s more on the path the 300 MB check covers; the plain build runs it"
else
	{ "$GBX" run -q --no-progress --nodes local:1 -- sh -c "yes 0123456789abcdefghijklmnopqrstuvwxyz | head -c $n" ::: 1 \
		2>"$T/gib.err"; echo $? >"$T/gib.rc"; } | wc -c >"$T/gib.n"
	expect "past 1 GiB through an agent: exit 0" test "$(cat "$T/gib.rc")" = 0
	expect "past 1 GiB through an agent: every byte arrives" test "$(cat "$T/gib.n")" = $n
	expect "past 1 GiB through an agent: the node is not lost" sh -c "! grep -q 'node .* lost' '$T/gib.err'"
fi
