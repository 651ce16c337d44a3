#!/bin/sh
# run.sh - the whole test command: builds gearbox plain and with
# AddressSanitizer + UndefinedBehaviorSanitizer, runs the unit tests and the
# integration tests against each build, and ends with "N passed, N failed".
set -u
cd "$(dirname "$0")/.." || exit 2
root=$(pwd)
log=$(mktemp -d "${TMPDIR:-/tmp}/gbx-run.XXXXXX")
trap '[ -n "${KEEP_LOG:-}" ] && echo "logs in $log" >&2 || rm -rf "$log"' EXIT
jobs=$(nproc 2>/dev/null || echo 2)

# one suite: $1 build dir, $2 label, $3 SAN value
suite() {
	if ! make -s -j"$jobs" BUILD="$1" SAN="$3" all >"$log/build-$2" 2>&1; then
		cat "$log/build-$2"
		echo "not ok - $2: build failed"
		return
	fi
	for t in "$1"/tests/test_*; do
		[ -x "$t" ] || continue
		"$t" >"$log/unit-$2-$(basename "$t")" 2>&1 ||
			echo "not ok - $2 $(basename "$t") exited non-zero" >>"$log/unit-$2-$(basename "$t")"
		sed "s/^\(not ok\|ok\) - /\1 - $2 $(basename "$t"): /" "$log/unit-$2-$(basename "$t")"
	done
	ls tests/integration/t_*.sh | xargs -P "$jobs" -I{} sh -c \
		'GBX="$1/$2/gearbox" GBX_ROOT="$1" sh "$3" >"$4/int-$5-$(basename "$3")" 2>&1 ||
		 echo "not ok - $(basename "$3") exited non-zero" >>"$4/int-$5-$(basename "$3")"' \
		_ "$root" "$1" {} "$log" "$2"
	for f in "$log"/int-"$2"-*; do
		sed "s/^\(not ok\|ok\) - /\1 - $2 $(basename "$f" | sed "s/^int-$2-//"): /" "$f"
	done
}

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=86
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
{ suite build plain ""; suite build/asan asan 1; } >"$log/all" 2>&1
grep -v '^ok - ' "$log/all" | grep -v '^$' || true
p=$(grep -c '^ok - ' "$log/all")
f=$(grep -c '^not ok - ' "$log/all")
echo "$p passed, $f failed"
[ "$f" -eq 0 ]
