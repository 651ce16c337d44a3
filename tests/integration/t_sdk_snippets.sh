# t_sdk_snippets.sh - every C example in the docs compiles, so none can rot:
# each block fenced as ```c (indented ones too, as in a list) in README.md,
# docs/*.md, docs/plugins/*.md and the SDK's READMEs is a whole translation
# unit. It is built as a plugin from the in-tree headers with -Wall -Wextra
# (no -Werror, as a plugin author builds; any warning fails the test), and a
# block that declares a descriptor is loaded by gearbox and runs a task.
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
