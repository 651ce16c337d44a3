# t_sdk.sh - the plugin ABI 1.4 and 1.5 host side: config_dir, deferrals,
# per-task state, the stop flag, answered failures' messages, validate_run and
# published counters, with the test plugins in tests/plugins.
. "$(dirname "$0")/lib.sh"
: "${GBX_ROOT:?}"
B=$(cd "$(dirname "$GBX")" && pwd -P)
TP="$B/tests/plugins"
unset GEARBOX_PLUGIN_PATH
TR=$(pwd -P)   # $T with symlinks resolved, as realpath gives it

# config_dir: the absolute directory of the config file, wherever gearbox runs
mkdir -p cfgd/sub run
printf '{"plugin_path": ["%s"], "plugins": {"probe": {"enabled": true}}}\n' "$TP" >cfgd/sub/g.json
echo '{"tasks": [{"id": "a", "argv": ["true"]}]}' >w.json
(cd run && "$GBX" run ../w.json --config ../cfgd/sub/g.json >../out 2>../err)
rc=$?
expect "config_dir: the config file's absolute directory (rc=$rc)" grep -q "plugin probe: config_dir=$TR/cfgd/sub\$" err
(cd run && GEARBOX_PLUGIN_PATH=$TP "$GBX" run ../w.json --enable probe >../out 2>../err)
expect "config_dir: the working directory without a config" grep -q "plugin probe: config_dir=$TR/run\$" err

# A plugin built against ABI 1.3 (its descriptor ends at attempt_sample) loads
# and works under 1.5: deferral, an answer, the summary (ASan: nothing read
# past its descriptor).
cat >w13.json <<'EOW'
{ "tasks": [ { "id": "x", "argv": ["true"] }, { "id": "y", "argv": ["true"] },
             { "id": "z", "argv": ["true"], "deps": ["x"] } ] }
EOW
GEARBOX_PLUGIN_PATH=$TP "$GBX" run w13.json --enable old13 --events ev13.jsonl >out 2>err
rc=$?
expect "ABI 1.3 plugin: loads and runs under 1.5 (rc=$rc: y answered as failed)" \
	sh -c "test $rc = 1 && grep -q 'plugin old13: summary: 3 tasks, 2 ok, 1 failed' err"
expect "ABI 1.3 plugin: its deferral with delay 0 waits a tick, named" \
	grep -q '"event":"deferred","id":"x","plugin":"old13","delay_ms":10,"deferrals":1' ev13.jsonl
GEARBOX_PLUGIN_PATH=$TP "$GBX" plugins >out 2>err
expect "ABI 1.3 plugin: gearbox plugins lists it with ABI 1.3" grep -q "old13.*1\.3" out

# ABI 1.5 published counters (tests/plugins/counters.c): names checked, a
# second set replaces, the table capped at GBX_COUNTERS_MAX, every plugin's
# counters read back sorted (the cache's per level among them)
echo '{"tasks": [{"id": "a", "argv": ["true"], "cache": true}, {"id": "b", "argv": ["false"], "cache": true}]}' >wc.json
printf '{"plugin_path": ["%s"], "plugins": {"counters": {"enabled": true}, "cache": {"enabled": true, "dir": "cc"}}}\n' "$TP" >gc.json
"$GBX" run wc.json --config gc.json >out 2>err
expect "counters: valid names set (0), bad ones refused (-1): upper case, empty, NULL, a space, 64 chars" \
	grep -q 'plugin counters: set: 0 0 0 refused: -1 -1 -1 -1 -1$' err
grep 'plugin counters: counter ' err | sed 's/.*counter \([^=]*\)=.*/\1/' >names.txt
expect "counters: read back sorted by name, each plugin's prefixed with its name" \
	sh -c "sort -c names.txt && grep -qx counters.ended names.txt && grep -qx cache.mem.hits names.txt && grep -qx cache.disk.misses names.txt"
expect "counters: a name set twice keeps the last value; ended counts both tasks" \
	sh -c "grep -q 'counter counters.twice=2\$' err && grep -q 'counter counters.ended=2\$' err"
expect "counters: the cache published in its run_end, read in run_summary (1 store, 2 misses)" \
	sh -c "grep -q 'counter cache.stores=1\$' err && grep -q 'counter cache.misses=2\$' err"
expect "counters: counters() with room for 2 says how many there are (11) and fills from the first" \
	grep -q 'plugin counters: read: 11 (asked 2, first cache.disk.bytes)' err
printf '{"plugin_path": ["%s"], "plugins": {"counters": {"enabled": true, "fill": true}}}\n' "$TP" >gf.json
"$GBX" run wc.json --config gf.json >out 2>err
expect "counters: at most GBX_COUNTERS_MAX (256) names, the rest refused" \
	grep -q 'plugin counters: fill: took 254, refused 12; total 256' err

# docs/plugins.md and plugin.h agree: the threading contract word for word,
# and every ABI version the docs give as this gearbox's is the header's
H="$GBX_ROOT/sdk/include/gearbox/plugin.h"
D="$GBX_ROOT/docs/plugins.md"
sed -n '/^ \* THREADING CONTRACT/,/^ \* Ownership:/p' "$H" | sed '$d' | sed 's/^ \* \{0,1\}//' | sed -e :a -e '/^\n*$/{$d;N;ba' -e '}' >contract.h.txt
awk '/^```$/ && inb { exit } inb { print } /^THREADING CONTRACT/ { inb = 1; print }' "$D" |
	sed -e :a -e '/^\n*$/{$d;N;ba' -e '}' >contract.doc.txt
expect "docs: the threading contract in docs/plugins.md is plugin.h's, line by line" \
	sh -c "test \$(wc -l <contract.h.txt) -gt 20 && cmp -s contract.h.txt contract.doc.txt"
maj=$(sed -n 's/^#define GBX_PLUGIN_ABI_MAJOR \([0-9]*\)/\1/p' "$H")
min=$(sed -n 's/^#define GBX_PLUGIN_ABI_MINOR \([0-9]*\)/\1/p' "$H")
expect "docs: 'ABI $maj.$min in this version' as in plugin.h" grep -q "(ABI $maj\.$min in this version)" "$D"
grep -o 'this gearbox (ABI [0-9.]*)' "$D" | sort -u >vers.txt
expect "docs: every 'this gearbox (ABI X.Y)' is $maj.$min" \
	sh -c "test -s vers.txt && ! grep -v 'ABI $maj\.$min)' vers.txt"
