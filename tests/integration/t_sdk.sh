# t_sdk.sh - the plugin ABI 1.4 host side: config_dir, deferrals, per-task
# state, the stop flag, answered failures' messages and validate_run, with the
# test plugins in tests/plugins.
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
# and works under 1.4: deferral, an answer, the summary (ASan: nothing read
# past its descriptor).
cat >w13.json <<'EOW'
{ "tasks": [ { "id": "x", "argv": ["true"] }, { "id": "y", "argv": ["true"] },
             { "id": "z", "argv": ["true"], "deps": ["x"] } ] }
EOW
GEARBOX_PLUGIN_PATH=$TP "$GBX" run w13.json --enable old13 --events ev13.jsonl >out 2>err
rc=$?
expect "ABI 1.3 plugin: loads and runs under 1.4 (rc=$rc: y answered as failed)" \
	sh -c "test $rc = 1 && grep -q 'plugin old13: summary: 3 tasks, 2 ok, 1 failed' err"
expect "ABI 1.3 plugin: its deferral with delay 0 waits a tick, named" \
	grep -q '"event":"deferred","id":"x","plugin":"old13","delay_ms":10,"deferrals":1' ev13.jsonl
GEARBOX_PLUGIN_PATH=$TP "$GBX" plugins >out 2>err
expect "ABI 1.3 plugin: gearbox plugins lists it with ABI 1.3" grep -q "old13.*1\.3" out

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
