# bench_parallel.sh - gearbox parallel against GNU parallel and xargs
# (sourced by tests/bench/run.sh; BENCH=parallel).
#
# 3,000 arguments at -j2, `true ARG` each: gearbox parallel, GNU parallel and
# xargs -P2 -n1, in alternation, REPEAT rounds; then the same with -k --tag
# (xargs has neither: the same xargs line is the reference). Goals:
# gearbox <= 0.2x GNU parallel's wall and <= 0.9x xargs -P2's.
seq 1 3000 >"$W/par-args"
export HOME="$W/home"
mkdir -p "$HOME/.parallel" && touch "$HOME/.parallel/will-cite"
have_gnu=0
parallel --version 2>/dev/null | grep -q 'GNU parallel' && have_gnu=1
: >"$W/pg"; : >"$W/pgk"; : >"$W/pp"; : >"$W/ppk"; : >"$W/px"
for i in $(seq 1 "$REPEAT"); do
	"$M" "$GBX" parallel -j2 true :::: "$W/par-args" >>"$W/pg"
	"$M" "$GBX" parallel -j2 -k --tag true :::: "$W/par-args" >>"$W/pgk"
	"$M" xargs -P2 -n1 -a "$W/par-args" true >>"$W/px"
	if [ $have_gnu = 1 ]; then
		"$M" parallel -j2 true :::: "$W/par-args" >>"$W/pp"
		"$M" parallel -j2 -k --tag true :::: "$W/par-args" >>"$W/ppk"
	fi
done
g=$(med "$W/pg" 1); gk=$(med "$W/pgk" 1); x=$(med "$W/px" 1)
echo
echo "## gearbox parallel: 3,000 x true at -j2 (wall seconds, median of $REPEAT)"
echo "xargs -P2 -n1 true                         $x"
if [ $have_gnu = 1 ]; then
	p=$(med "$W/pp" 1); pk=$(med "$W/ppk" 1)
	echo "parallel -j2 true :::: args               $p"
	echo "parallel -j2 -k --tag true :::: args      $pk"
	echo "gearbox parallel -j2 true :::: args       $g   gearbox/GNU = $(ratio "$g" "$p") (goal <= 0.2), gearbox/xargs = $(ratio "$g" "$x") (goal <= 0.9)"
	echo "gearbox parallel -j2 -k --tag ...         $gk   gearbox/GNU = $(ratio "$gk" "$pk") (goal <= 0.2), gearbox/xargs = $(ratio "$gk" "$x") (goal <= 0.9)"
else
	echo "gearbox parallel -j2 true :::: args       $g   gearbox/xargs = $(ratio "$g" "$x") (goal <= 0.9)"
	echo "gearbox parallel -j2 -k --tag ...         $gk   gearbox/xargs = $(ratio "$gk" "$x") (goal <= 0.9)"
	echo "parallel: not installed (tools/deps.sh installs it)"
fi
