# t_sdk_snippets.sh - every C and Lua example in the docs is checked, so none
# can rot. C:
# each block fenced as ```c (indented ones too, as in a list) in README.md,
# docs/*.md, docs/plugins/*.md and the SDK's READMEs is a whole translation
# unit. It is built as a plugin from the in-tree headers with -Wall -Wextra
# (no -Werror, as a plugin author builds; any warning fails the test), and a
# block that declares a descriptor is loaded by gearbox and runs a task.
# Lua: each ```lua block passes `gearbox check` as some policy kind.
. "$(dirname "$0")/lib.sh"
: "${GBX_ROOT:?}"
CC=${CC:-cc}
unset GEARBOX_PLUGIN_PATH
n=0
for doc in "$GBX_ROOT"/README.md "$GBX_ROOT"/docs/*.md "$GBX_ROOT"/docs/plugins/*.md \
	"$GBX_ROOT"/sdk/template/README.md "$GBX_ROOT"/sdk/examples/*/README.md; do
	[ -f "$doc" ] || continue
	rel=${doc#"$GBX_ROOT"/}
	d="$T/$(echo "$rel" | tr / -)"
	mkdir -p "$d"
	# NNN.c per block, with its first line number in NNN.line; the fence's
	# indentation is taken off every line of the block
	awk -v dir="$d" '
		inblk && $0 ~ "^" ind "```" { inblk = 0; close(out); next }
		!inblk && /^ *```c *$/ { n++; ind = $0; sub(/```.*/, "", ind); out = sprintf("%s/%03d.c", dir, n);
			printf "%d\n", NR + 1 > sprintf("%s/%03d.line", dir, n); close(sprintf("%s/%03d.line", dir, n));
			inblk = 1; printf "" > out; next }
		inblk { l = $0; if (substr(l, 1, length(ind)) == ind) l = substr(l, length(ind) + 1); print l > out }
	' "$doc"
	for c in "$d"/*.c; do
		[ -f "$c" ] || continue
		n=$((n + 1))
		where="$rel:$(cat "${c%.c}.line")"
		so="${c%.c}.so"
		if "$CC" -std=c11 -Wall -Wextra -fPIC -shared -fvisibility=hidden \
			-I"$GBX_ROOT/sdk/include" -o "$so" "$c" >"$c.log" 2>&1 && ! [ -s "$c.log" ]; then
			pass "snippet $where compiles cleanly with -Wall -Wextra"
		else
			fail "snippet $where compiles cleanly with -Wall -Wextra" "$(head -20 "$c.log")"
			continue
		fi
		# a plugin: load it under its descriptor's name and run a task
		name=$(sed -n 's/^[[:space:]]*\.name = "\([a-z0-9_]*\)".*/\1/p' "$c" | head -1)
		grep -q GBX_PLUGIN_EXPORT "$c" && [ -n "$name" ] || continue
		mkdir -p "$d/p" && cp "$so" "$d/p/$name.so"
		GEARBOX_PLUGIN_PATH="$d/p" "$GBX" run --config '' --enable "$name" -- true ::: 1 >"$c.out" 2>&1
		rc=$?
		expect "snippet $where loads as plugin $name and runs a task (rc=$rc)" test "$rc" = 0
	done
done
expect "snippets: the docs have C examples ($n found)" test "$n" -ge 3

# Every ```lua block is a policy that `gearbox check` accepts as one of the
# policy kinds (it loads it and checks the fields it reads), with the plugins
# whose tables the examples call (breaker, telemetry) enabled.
echo '{ "tasks": [ { "id": "a", "argv": ["true"], "target": "db" } ] }' >lw.json
nl=0
for doc in "$GBX_ROOT"/README.md "$GBX_ROOT"/docs/*.md "$GBX_ROOT"/docs/plugins/*.md \
	"$GBX_ROOT"/sdk/template/README.md "$GBX_ROOT"/sdk/examples/*/README.md; do
	[ -f "$doc" ] || continue
	rel=${doc#"$GBX_ROOT"/}
	d="$T/lua-$(echo "$rel" | tr / -)"
	mkdir -p "$d"
	awk -v dir="$d" '
		inblk && /^ *```/ { inblk = 0; close(out); next }
		!inblk && /^ *```lua *$/ { n++; out = sprintf("%s/%03d.lua", dir, n);
			printf "%d\n", NR + 1 > sprintf("%s/%03d.line", dir, n); close(sprintf("%s/%03d.line", dir, n));
			inblk = 1; printf "" > out; next }
		inblk { print > out }
	' "$doc"
	for f in "$d"/*.lua; do
		[ -f "$f" ] || continue
		nl=$((nl + 1))
		where="$rel:$(cat "${f%.lua}.line")"
		ok=
		for kind in scheduling retry scaling placement; do
			if "$GBX" check lw.json --config '' --enable breaker --enable telemetry \
				--policy "$kind=$f" >"$f.$kind.out" 2>&1; then
				ok=$kind
				break
			fi
		done
		expect "snippet $where: gearbox check accepts it as a ${ok:-(no)} policy" test -n "$ok"
		[ -n "$ok" ] || sed 's/^/#   /' "$f".*.out | head -8
	done
done
expect "snippets: the docs have Lua examples ($nl found)" test "$nl" -ge 5
