# t_plugins.sh - plugins end to end: the SDK installed and the template built
# out of tree against it with pkg-config, then loaded; bad plugins refused
# with exit 2 and a message naming the file and the problem; plugin config
# keys checked; `gearbox plugins`; the hello kind; --disable over the config.
. "$(dirname "$0")/lib.sh"
: "${GBX_ROOT:?}"
B=$(cd "$(dirname "$GBX")" && pwd -P)   # the build dir: B/plugins, B/tests/plugins
TP="$B/tests/plugins"
P="$T/prefix"
unset GEARBOX_PLUGIN_PATH

# run_bin BIN ARGS...: like run_gbx, for another binary (the installed one)
run_bin() {
	bin=$1
	shift
	"$bin" "$@" >"$T/out" 2>"$T/err" </dev/null
	rc=$?
}

# all_in FILE PATTERN...: every pattern is found in FILE
all_in() {
	f=$1
	shift
	for p in "$@"; do grep -q -- "$p" "$f" || return 1; done
}

# with_path DIRS CMD...: runs CMD with GEARBOX_PLUGIN_PATH=DIRS, for this command only
with_path() {
	GEARBOX_PLUGIN_PATH=$1
	export GEARBOX_PLUGIN_PATH
	shift
	"$@"
	unset GEARBOX_PLUGIN_PATH
}

# after_ok ID true|false: the template.after event of task ID says "ok": VALUE
after_ok() {
	grep '"template.after"' "$T/ev.jsonl" | grep -E "\"id\": ?\"$1\"" | grep -qE "\"ok\": ?$2"
}

# count of lines of ev.jsonl with event $1 and task id $2
nev() { grep -E "\"event\": ?\"$1\"" "$T/ev.jsonl" 2>/dev/null | grep -cE "\"id\": ?\"$2\""; }

cat >w.json <<'EOF'
{ "tasks": [
    { "id": "a", "argv": ["true"] },
    { "id": "b", "kind": "sim", "cpu_us": 10, "deps": ["a"] },
    { "id": "c", "argv": ["false"] } ] }
EOF
cat >touch.json <<'EOF'
{ "tasks": [ { "id": "toucher", "argv": ["touch", "ran.txt"] } ] }
EOF
cat >h.json <<'EOF'
{ "tasks": [
    { "id": "h1", "kind": "hello", "greeting": "Bonjour" },
    { "id": "h2", "kind": "hello" } ] }
EOF

# ---- (a) install, build the template out of tree, load it --------------------
san=
case "$B" in */asan) san=1 ;; esac
if make -s -C "$GBX_ROOT" BUILD="$B" SAN="$san" install PREFIX="$P" >"$T/make.out" 2>&1; then
	pass "install: make install PREFIX=..."
else
	fail "install: make install PREFIX=..." "$(tail -20 "$T/make.out")"
fi
expect "install: pkg-config file" test -f "$P/lib/pkgconfig/gearbox-plugin.pc"
expect "install: SDK header" test -f "$P/include/gearbox/plugin.h"
expect "install: bundled plugins in PREFIX/lib/gearbox/plugins" test -f "$P/lib/gearbox/plugins/hello.so"
cf=$(PKG_CONFIG_PATH="$P/lib/pkgconfig" pkg-config --cflags gearbox-plugin 2>&1)
expect "install: pkg-config --cflags gearbox-plugin gives the include dir" test "${cf% }" = "-I$P/include"

cp -r "$GBX_ROOT/sdk/template" "$T/tpl"
rm -f "$T/tpl/template.so"
if PKG_CONFIG_PATH="$P/lib/pkgconfig" make -s -C "$T/tpl" >"$T/make2.out" 2>&1 && [ -f "$T/tpl/template.so" ]; then
	pass "template: builds out of tree with pkg-config only"
else
	fail "template: builds out of tree with pkg-config only" "$(tail -20 "$T/make2.out")"
fi
mkdir -p "$T/nopc"
PKG_CONFIG_LIBDIR="$T/nopc" PKG_CONFIG_PATH= make -s -C "$T/tpl" -B >"$T/make3.out" 2>&1
expect "template: a missing SDK is a clear make error" has "pkg-config cannot find gearbox-plugin" "$T/make3.out"

with_path "$T/tpl" run_bin "$P/bin/gearbox" run w.json --enable template --events ev.jsonl --no-progress
expect "template: run exits 1 (task c fails), not 2" test "$rc" = 1
expect "template: its log lines name the plugin" has "^gearbox: plugin template: " err
ok=1
for id in a b c; do
	[ "$(nev template.before $id)" = 1 ] || ok=0
	[ "$(nev template.after $id)" = 1 ] || ok=0
done
expect "template: one template.before and one template.after per task" test $ok = 1
expect "template: after carries ok:false for the failed task" after_ok c false
expect "template: after carries ok:true for a good task" after_ok a true

rm -f ev.jsonl
with_path "$T/tpl" run_bin "$P/bin/gearbox" run w.json --events ev.jsonl --no-progress
expect "template: not enabled, not loaded: no events" test "$(grep -c 'template\.' ev.jsonl)" = 0

printf '{ "plugins": { "template": { "enabled": true, "greeting": 5 } } }\n' >tc.json
with_path "$T/tpl" run_bin "$P/bin/gearbox" run w.json --config tc.json --no-progress
expect "template: its own config check stops the run (exit 2)" test "$rc" = 2
expect "template: init message names the plugin and the key" all_in err "plugin template: init failed" "greeting"

# ---- (b) bad plugins: exit 2, a message naming the file and the problem -----
# bad NAME PLUGIN_PATH PATTERN...: run --enable NAME exits 2, stderr matches, no task ran
bad() {
	bname=$1
	bpath=$2
	shift 2
	rm -f ran.txt
	with_path "$bpath" run_gbx run touch.json --enable "$bname" --no-progress
	ok=1
	[ "$rc" = 2 ] || ok=0
	all_in err "$@" || ok=0
	[ ! -e ran.txt ] || ok=0
	if [ $ok = 1 ]; then pass "bad plugin: $bname"; else fail "bad plugin: $bname" "rc=$rc" "stderr: $(cat err)" "ran: $(ls ran.txt 2>&1)"; fi
}
# this gearbox's ABI, from the SDK header
HABI="ABI $(sed -n 's/^#define GBX_PLUGIN_ABI_MAJOR \([0-9]*\)/\1/p' "$GBX_ROOT/sdk/include/gearbox/plugin.h").$(sed -n 's/^#define GBX_PLUGIN_ABI_MINOR \([0-9]*\)/\1/p' "$GBX_ROOT/sdk/include/gearbox/plugin.h")"
bad abi_major "$TP" "$TP/abi_major.so" "plugin ABI 2.0 is not supported" "($HABI)" "rebuild"
bad nodesc "$TP" "$TP/nodesc.so" "not a gearbox plugin" "no symbol gbx_plugin_descriptor"
bad initfail "$TP" "plugin initfail: init failed: cannot reach the license server"
bad wrongname "$TP" "$TP/wrongname.so" '"othername"'
mkdir -p "$T/junk"
printf 'This is not a shared object, only text that happens to be called .so;\nlong enough for the loader to read a whole ELF header out of it.\n' >"$T/junk/notelf.so"
bad notelf "$T/junk" "$T/junk/notelf.so" "cannot load" "invalid ELF header"
bad nosuch "$TP" 'plugin "nosuch" not found' "searched:" "$TP" "$B/plugins"

with_path "$TP" run_gbx check touch.json --enable abi_major
expect "bad plugin: gearbox check refuses it too (exit 2)" test "$rc" = 2
expect "bad plugin: gearbox check names both ABIs" all_in err "ABI 2.0" "$HABI"

# two different files for one name in the user directories
mkdir -p "$T/u1" "$T/u2"
cp "$TP/empty_hooks.so" "$T/u1/"
cp "$TP/empty_hooks.so" "$T/u2/"
with_path "$T/u1:$T/u2" run_gbx run touch.json --enable empty_hooks --no-progress
expect "duplicate: two user dirs holding one name is exit 2 naming both" \
	all_in err "$T/u1/empty_hooks.so" "$T/u2/empty_hooks.so"
expect "duplicate: exit 2" test "$rc" = 2
with_path "$T/u1:$T/u1" run_gbx run touch.json --enable empty_hooks --no-progress
expect "duplicate: one dir listed twice is fine" test "$rc" = 0

# ---- (c) unknown config key for a plugin -------------------------------------
printf '{ "plugins": { "hello": { "enabled": true, "greting": "hi" } } }\n' >badkey.json
run_gbx run h.json --config badkey.json --no-progress
expect "config: unknown plugin key is exit 2" test "$rc" = 2
expect "config: names the file, the plugin, the key, and a did-you-mean" \
	all_in err "badkey.json: plugins.hello: unknown key \"greting\"" 'did you mean "greeting"'
printf '{ "plugins": { "hello": { "enabled": "yes" } } }\n' >badtype.json
run_gbx run h.json --config badtype.json --no-progress
expect "config: enabled must be true or false (exit 2)" test "$rc" = 2
printf '{ "plugins": { "hello": { "enabled": true, "order": "first" } } }\n' >badorder.json
run_gbx run h.json --config badorder.json --no-progress
expect "config: order must be an integer (exit 2)" test "$rc" = 2
expect "config: order error names the key" has "plugins.hello.order" err

# ---- (d) gearbox plugins -------------------------------------------------------
with_path "$T/tpl" run_bin "$P/bin/gearbox" plugins --enable template
expect "plugins: exit 0" test "$rc" = 0
expect "plugins: lists hello and template" all_in out hello template
expect "plugins: version and ABI" all_in out "0.1.0" "1.0"
expect "plugins: where each is loaded from" all_in out "$T/tpl/template.so" "$P/lib/gearbox/plugins/hello.so"
expect "plugins: enabled and why" all_in out "enabled by --enable" "not enabled in the config"

printf '{ "plugins": { "hello": { "enabled": true } } }\n' >en.json
run_gbx plugins --config en.json
expect "plugins: enabled by the config" all_in out "hello" "enabled by the config" "$B/plugins/hello.so"
with_path "$TP" run_gbx plugins
expect "plugins: a bad plugin is listed, not fatal (exit 0)" test "$rc" = 0
expect "plugins: the bad ones say why" all_in out abi_major "ABI 2.0" nodesc "gbx_plugin_descriptor"

# ---- (e) the hello kind --------------------------------------------------------
run_gbx run h.json --enable hello --no-progress
expect "hello: runs, exit 0" test "$rc" = 0
expect "hello: prints the task's greeting" has "Bonjour, h1" out
expect "hello: default greeting" has "Hello, h2" out
printf '{ "plugins": { "hello": { "enabled": true, "greeting": "Ahoy" } } }\n' >ahoy.json
run_gbx run h.json --config ahoy.json --no-progress
expect "hello: config greeting is the default" all_in out "Ahoy, h2" "Bonjour, h1"
printf '{ "tasks": [ { "id": "h2", "kind": "hello" } ] }\n' >h2.json
run_gbx run h2.json --no-progress
expect "hello: without the plugin the kind is unknown (exit 2)" test "$rc" = 2
expect "hello: the message names the kind" has '"hello"' err
printf '{ "tasks": [ { "id": "h3", "kind": "hello", "greeting": 42 } ] }\n' >h3.json
run_gbx run h3.json --enable hello --no-progress
expect "hello: a non-string greeting is exit 2" test "$rc" = 2
expect "hello: naming the task and the field" all_in err "h3" "greeting"
run_bin "$P/bin/gearbox" run h.json --enable hello --no-progress
expect "hello: the installed gearbox finds it in PREFIX/lib/gearbox/plugins" has "Bonjour, h1" out

# ---- (f) --disable beats the config; profiles --------------------------------
run_gbx run h.json --config en.json --no-progress
expect "toggle: enabled by the config runs" has "Bonjour, h1" out
run_gbx run h.json --config en.json --disable hello --no-progress
expect "toggle: --disable beats the config (hello kind unknown, exit 2)" test "$rc" = 2
run_gbx plugins --config en.json --disable hello
expect "toggle: plugins says disabled by --disable" has "disabled by --disable" out
run_gbx run h.json --enable hello --disable hello --no-progress
expect "toggle: --disable wins over --enable" test "$rc" = 2
cat >prof.json <<'EOF'
{ "plugins": { "hello": { "enabled": false } },
  "profiles": { "greet": { "plugins": { "hello": { "enabled": true } } } } }
EOF
run_gbx run h.json --config prof.json --profile greet --no-progress
expect "toggle: a profile enables it over the base config" has "Bonjour, h1" out
run_gbx run h.json --config prof.json --no-progress
expect "toggle: without the profile it stays off" test "$rc" = 2

printf '{ "plugins": { "template": { "enabled": true } } }\n' >tpl-on.json
rm -f ev.jsonl
with_path "$T/tpl" run_bin "$P/bin/gearbox" run w.json --config tpl-on.json --disable template --events ev.jsonl --no-progress
expect "toggle: --disable template: its hooks never run" test "$(grep -c 'template\.' ev.jsonl)" = 0
expect "toggle: and the run is otherwise the same (exit 1)" test "$rc" = 1

# ---- a plugin's Lua function, called by a policy, changes the order ------------
cat >len.json <<'EOF2'
{ "tasks": [
    { "id": "longest-id", "kind": "sim" },
    { "id": "mid-id", "kind": "sim" },
    { "id": "id", "kind": "sim" } ] }
EOF2
cat >bylen.lua <<'EOF2'
-- shortest id first, measured by the hello plugin's function
return { key = function(task) return hello.greeting_length(task.id) end }
EOF2
run_gbx run len.json -j1 --enable hello --policy scheduling=bylen.lua --events lev.jsonl
order=$(grep '"started"' lev.jsonl | sed 's/.*"id":"\([^"]*\)".*/\1/' | tr '\n' ' ')
expect "lua fn: a policy calls the plugin's function (order $order)" test "$order" = "id mid-id longest-id "
expect "lua fn: no policy error" sh -c "! grep -q 'bylen.lua' $T/err"

# ---- a plugin event from inside a policy call does not deadlock -----------------
cat >ping.lua <<'EOF2'
return { key = function(task) evfn.ping(); return 0 end }
EOF2
GEARBOX_PLUGIN_PATH="$TP" timeout 20 "$GBX" run len.json --enable evfn --policy scheduling=ping.lua --events pev.jsonl >pout 2>perr
rc=$?
expect "evfn: a Lua function's event under the policy lock completes (rc=$rc)" test "$rc" = 0
expect "evfn: its events are written" test "$(grep -c '"evfn.ping"' pev.jsonl)" -ge 3
