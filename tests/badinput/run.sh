#!/bin/sh
# run.sh - runs the fault corpus: every case_NAME in tests/badinput/c_*.sh,
# each in a directory of its own, several at once; prints one line per case
# ("ok - fault NAME: what it expects" or "not ok - ..." with the reasons)
# and a total. GBX is the gearbox under test. FAULTS=PATTERN runs only the
# cases whose names match (grep -E).
set -u
: "${GBX:?GBX must point at the gearbox binary}"
here=$(cd "$(dirname "$0")" && pwd)

if [ "${1:-}" = --one ]; then
	name=$2
	dir=$3
	F_FAIL=$dir/$name.fails
	export F_FAIL
	mkdir "$dir/$name" && cd "$dir/$name" || exit 1
	: >"$F_FAIL"
	. "$here/lib.sh"
	for f in "$here"/c_*.sh; do . "$f"; done
	"case_$name" >"$dir/$name.log" 2>&1
	desc=$(grep -h "^case_$name()" "$here"/c_*.sh | sed 's/^[^#]*# *//')
	if [ -s "$F_FAIL" ]; then
		echo "not ok - fault $name: $desc"
		sed 's/^/#   /' "$F_FAIL"
	else
		echo "ok - fault $name: $desc"
	fi
	cd "$dir" && rm -rf "${dir:?}/$name"
	exit 0
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/gbx-faults.XXXXXX")
trap 'rm -rf "$T"' EXIT
names=$(grep -ho '^case_[a-z0-9_]*()' "$here"/c_*.sh | sed 's/^case_//; s/()$//' |
	grep -E -- "${FAULTS:-.}")
dups=$(printf '%s\n' $names | sort | uniq -d)
[ -z "$dups" ] || echo "not ok - fault corpus: duplicate case names: $dups"
t0=$(date +%s)
printf '%s\n' $names | xargs -P "${FAULT_JOBS:-4}" -I{} sh -c \
	'sh "$1" --one "$2" "$3" >"$3/$2.result" 2>&1' _ "$here/run.sh" {} "$T"
n=0
bad=0
for c in $names; do
	n=$((n + 1))
	if [ -f "$T/$c.result" ] && grep -q '^ok - ' "$T/$c.result"; then
		cat "$T/$c.result"
	else
		bad=$((bad + 1))
		if [ -s "$T/$c.result" ]; then cat "$T/$c.result"; else echo "not ok - fault $c: no result"; fi
	fi
done
echo "# faults: $n cases, $((n - bad)) ok, $bad failed, $(($(date +%s) - t0)) s"
[ "$bad" = 0 ]
