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
