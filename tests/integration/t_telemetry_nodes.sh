# t_telemetry_nodes.sh - what telemetry learns through plugin ABI 1.5:
# (a) a --nodes run's trace has a process per node and a track per slot in
#     it, each slice on the node the journal names (issue 14);
# (b) an exec attempt's peak memory and CPU time are in its slice, and per
#     kind in the summary and the Prometheus file (issue 16);
# (c) the cache's hits, misses and bytes per level, published with
#     host->counter_set, are in the summary and the Prometheus file (issue 15).
. "$(dirname "$0")/lib.sh"
: "${GBX_ROOT:?}"
unset GEARBOX_PLUGIN_PATH
jqe() { jq -e "$@" >/dev/null 2>&1; }

# ---- (a) a track per node and slot ---------------------------------------------
cat >wn.json <<'EOW'
{ "tasks": [
  { "id": "n1", "argv": ["sleep", "0.05"] }, { "id": "n2", "argv": ["sleep", "0.05"] },
  { "id": "n3", "argv": ["sleep", "0.05"] }, { "id": "n4", "argv": ["sleep", "0.05"] },
  { "id": "n5", "argv": ["sleep", "0.05"] }, { "id": "n6", "argv": ["sleep", "0.05"] },
  { "id": "n7", "argv": ["sleep", "0.05"] }, { "id": "n8", "argv": ["sleep", "0.05"] } ] }
EOW
echo '{ "plugins": { "telemetry": { "enabled": true, "trace": "tn.json" } } }' >gn.json
run_gbx run wn.json --config gn.json --nodes local:2 -j2 --journal jn.jsonl -q
expect "nodes: the run succeeds (rc=$rc)" test "$rc" = 0
expect "nodes: the trace parses" jqe '.traceEvents | length > 0' tn.json
# pid -> process name; every slice's process is "node X" with X the journal's node for its id
jq -r '([.traceEvents[] | select(.ph == "M" and .name == "process_name") | {key: (.pid | tostring), value: .args.name}] | from_entries) as $p
	| .traceEvents[] | select(.ph == "X") | "\(.name) \($p[.pid | tostring] // "unnamed")"' tn.json | sort >slices.txt
jq -r 'select(.id) | "\(.id) node \(.node)"' jn.jsonl 2>/dev/null | sort >journal.txt
expect "nodes: each slice is in the process of the node the journal names ($(wc -l <slices.txt) slices)" \
	sh -c "test \$(wc -l <slices.txt) = 8 && cmp -s slices.txt journal.txt"
expect "nodes: both nodes have a process of their own, none is pid 1" \
	jqe '([.traceEvents[] | select(.ph == "X") | .pid] | unique) as $u | ($u | length) == 2 and ($u | all(. > 1))' tn.json
expect "nodes: every (node, slot) track is named, and slices on a track never overlap" jqe '
	([.traceEvents[] | select(.ph == "M" and .name == "thread_name") | "\(.pid)/\(.tid)"] | unique) as $named
	| ([.traceEvents[] | select(.ph == "X") | "\(.pid)/\(.tid)"] | unique) as $used
	| ($used - $named | length) == 0 and ($named - $used | length) == 0
	  and ([.traceEvents[] | select(.ph == "X")] | group_by("\(.pid)/\(.tid)") | all(sort_by(.ts) | [range(1; length) as $i | .[$i].ts >= .[$i-1].ts + .[$i-1].dur] | all))' tn.json
# a local run keeps everything in pid 1, as before
run_gbx run wn.json --config gn.json -j2 -q
expect "local: every slice in pid 1, no node process" \
	jqe '([.traceEvents[] | select(.ph == "X") | .pid] | unique) == [1] and ([.traceEvents[] | select(.name == "process_name")] | length) == 1' tn.json

# ---- (b) peak memory and CPU time ---------------------------------------------------
cat >wr.json <<'EOW'
{ "tasks": [
  { "id": "mem", "sh": "x=$(head -c 30000000 /dev/zero | tr '\\0' a); echo ${#x}" },
  { "id": "cpu", "sh": "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done" },
  { "id": "s", "kind": "sim", "io_ms": 1 } ] }
EOW
echo '{ "plugins": { "telemetry": { "enabled": true, "trace": "tr.json", "summary": "sr.json", "prometheus": "mr.prom" } } }' >gr.json
run_gbx run wr.json --config gr.json --journal jr.jsonl -q
jpeak=$(jq -r 'select(.id == "mem") | .peak_kb' jr.jsonl)
tpeak=$(jq -r '.traceEvents[] | select(.ph == "X" and .name == "mem") | .args.peak_kb' tr.json)
expect "resources: the slice's peak_kb is the journal's ($tpeak = $jpeak KB, >= 29000)" \
	sh -c "[ -n '$jpeak' ] && [ '$tpeak' = '$jpeak' ] && [ '$jpeak' -ge 29000 ]"
tcpu=$(jq -r '.traceEvents[] | select(.ph == "X" and .name == "cpu") | .args.cpu_ms' tr.json)
tdur=$(jq -r '.traceEvents[] | select(.ph == "X" and .name == "cpu") | .dur' tr.json)
expect "resources: a busy task's slice has its CPU time ($tcpu ms, run $tdur us)" \
	awk -v c="$tcpu" -v d="$tdur" 'BEGIN { exit !(c + 0 >= 20 && c * 1000 <= d * 1.05 + 5000) }'
expect "resources: a sim slice has neither" \
	jqe '.traceEvents[] | select(.ph == "X" and .name == "s") | .args | has("peak_kb") or has("cpu_ms") | not' tr.json
expect "resources: the summary's exec kind has 2 attempts, their CPU and the largest peak" \
	jqe --argjson p "${jpeak:-0}" '.kinds.exec.resources | .attempts == 2 and .cpu_ms >= 20 and .peak_kb_max == $p' sr.json
expect "resources: no resources for the sim kind" jqe '.kinds.sim | has("resources") | not' sr.json
pcpu=$(sed -n 's/^gearbox_cpu_seconds_total{kind="exec"} //p' mr.prom)
ppeak=$(sed -n 's/^gearbox_peak_memory_bytes{kind="exec"} //p' mr.prom)
expect "resources: Prometheus has gearbox_cpu_seconds_total ($pcpu) and gearbox_peak_memory_bytes ($ppeak)" \
	awk -v c="$pcpu" -v p="$ppeak" -v j="${jpeak:-0}" 'BEGIN { exit !(c + 0 >= 0.02 && p + 0 == j * 1024) }'

# folded attempts (sample 0.01: most come as one call per run of successes)
# carry their CPU time (summed) and peak memory (the largest): all 200 counted
{ printf '{ "tasks": ['; i=0; while [ $i -lt 199 ]; do printf '{"id": "t%d", "argv": ["true"]},' $i; i=$((i + 1)); done
  printf '{"id": "t199", "argv": ["true"]}]}\n'; } >wf.json
echo '{ "plugins": { "telemetry": { "enabled": true, "sample": 0.01, "summary": "sf.json" } } }' >gf.json
run_gbx run wf.json --config gf.json -j2 -q
expect "resources: with sampling, folded attempts count too (200 of 200, CPU and peak kept)" \
	jqe '.kinds.exec.resources | .attempts == 200 and .cpu_ms > 0 and .peak_kb_max > 0' sf.json

# ---- (c) the cache's counters per level ---------------------------------------------
cat >wc.json <<'EOW'
{ "tasks": [
  { "id": "a", "argv": ["sh", "-c", "echo aaaa"], "cache": true },
  { "id": "b", "argv": ["sh", "-c", "echo bbbbbbbb"], "cache": true } ] }
EOW
echo '{ "plugins": { "cache": { "enabled": true, "dir": "cc" }, "telemetry": { "enabled": true, "summary": "sc.json", "prometheus": "mc.prom" } } }' >gc.json
run_gbx run wc.json --config gc.json -q
expect "cache: a cold run: 2 misses at every level, 2 stores, no hit" \
	jqe '.plugin_counters | ."cache.misses" == 2 and ."cache.stores" == 2 and ."cache.mem.misses" == 2 and ."cache.disk.misses" == 2 and ."cache.mem.hits" == 0 and ."cache.disk.hits" == 0' sc.json
run_gbx run wc.json --config gc.json -q
expect "cache: a warm run (new process): 2 disk hits replaying their bytes, memory missed, nothing stored or filled" \
	jqe '.plugin_counters | ."cache.disk.hits" == 2 and ."cache.mem.misses" == 2 and ."cache.misses" == 0 and ."cache.disk.bytes" > 0 and ."cache.stores" == 0 and ."cache.fills" == 0' sc.json
expect "cache: no remote counters without a remote" jqe '.plugin_counters | has("cache.remote.hits") | not' sc.json
expect "cache: Prometheus has the counters by name" \
	grep -q '^gearbox_plugin_counter{name="cache.disk.hits"} 2$' mc.prom
echo '{ "plugins": { "telemetry": { "enabled": true, "summary": "sc.json" } } }' >gt.json
run_gbx run wc.json --config gt.json -q
expect "cache off: the summary's plugin_counters is empty" jqe '.plugin_counters == {}' sc.json
