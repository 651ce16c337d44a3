# bench_runout.sh - the cost of streaming gearbox run's output (core/spool.h)
# on many tiny outputs (sourced by tests/bench/run.sh; BENCH=runout).
#
# 3,000 tasks at -j2, each `echo ARG` (one short line: never spilled):
# shown grouped, and kept with --output-dir.
# With GBX_BASE set to a gearbox built before the change
# (e.g. a checkout of the commit before it), the two run in alternation,
# REPEAT rounds, and the ratio is printed; without, only this build's times.
# Goal: within noise of the build before (ratio about 1.0).
seq 1 3000 >"$W/ro-args"
base=${GBX_BASE:-}
: >"$W/rog"; : >"$W/rob"; : >"$W/rodg"; : >"$W/rodb"
# the order flips every round (this, before; before, this): whoever runs
# right after the other's 6,000 files were removed pays for ext4's work
one() { # one BIN OUT [ARGS...]
	b=$1; o=$2; shift 2
	rm -rf "$W/rod"
	"$M" "$b" run -j2 -q --no-progress "$@" -a "$W/ro-args" -- echo >>"$o"
}
for i in $(seq 1 "$REPEAT"); do
	if [ -z "$base" ] || [ $((i % 2)) = 1 ]; then
		one "$GBX" "$W/rog"
		[ -n "$base" ] && one "$base" "$W/rob"
		one "$GBX" "$W/rodg" --output-dir "$W/rod"
		[ -n "$base" ] && one "$base" "$W/rodb" --output-dir "$W/rod"
	else
		one "$base" "$W/rob"
		one "$GBX" "$W/rog"
		one "$base" "$W/rodb" --output-dir "$W/rod"
		one "$GBX" "$W/rodg" --output-dir "$W/rod"
	fi
done
rm -rf "$W/rod"
g=$(med "$W/rog" 1); dg=$(med "$W/rodg" 1)
echo
echo "## gearbox run: 3,000 x echo at -j2, tiny outputs (wall seconds, median of $REPEAT)"
if [ -n "$base" ]; then
	b=$(med "$W/rob" 1); db=$(med "$W/rodb" 1)
	echo "grouped        this build $g   before $b   this/before = $(ratio "$g" "$b")"
	echo "--output-dir   this build $dg   before $db   this/before = $(ratio "$dg" "$db")"
else
	echo "grouped        $g"
	echo "--output-dir   $dg"
	echo "(set GBX_BASE=path/to/gearbox built before, for the ratio)"
fi

# one task writing 300 MB, grouped: wall and peak RSS (measure's maxrss is
# the largest of gearbox and its children: the child here is small)
"$M" "$GBX" run -q --no-progress -- sh -c 'head -c 300000000 /dev/zero' ::: 1 >"$W/robig"
echo "300 MB from one task, grouped: this build $(awk '{print $1 " s, peak RSS " $4 " kB"}' "$W/robig")"
if [ -n "$base" ]; then
	"$M" "$base" run -q --no-progress -- sh -c 'head -c 300000000 /dev/zero' ::: 1 >"$W/robigb"
	echo "                               before     $(awk '{print $1 " s, peak RSS " $4 " kB"}' "$W/robigb")"
fi
