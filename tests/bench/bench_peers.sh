# bench_peers.sh - gearbox against its peers (a section of tests/bench/run.sh,
# sourced with M, GBX, W, REPEAT, median and ratio; BENCH=peers).
#
# 1. Subprocesses at 2-way parallelism: the same argv per task for every tool
#    (the task's number appended), alternated gearbox xargs parallel make ninja,
#    REPEAT rounds, median wall. Every timed run is checked: exit status 0 and
#    exactly the expected lines of output (kept in a file, not /dev/null).
#      3,000 x /bin/true N            pure start-up cost per task
#      1,000 x sh -c 'echo x' N       a shell and one line of output per task
#    make runs a generated Makefile (one phony target per task), ninja a
#    generated build.ninja (one command edge per task; ninja always runs its
#    commands through /bin/sh -c). Ratios are gearbox/tool: below 1, gearbox
#    is faster. Goals: gearbox/xargs <= 1.30, gearbox ahead of GNU parallel
#    and make (< 1.00).
# 2. In-process engines, 2 threads each, 200,000 tasks, no-op and a 1 us
#    busy spin (tests/bench/peers/*.c, built here with cc -O2; a contender
#    whose library is missing is skipped with a line saying so). Per task:
#    the wall from just before the first task is given to just after the
#    last one ends, over N, submission included for every engine. Goal:
#    gearbox (C callbacks) at least as fast as GThreadPool and uv_queue_work
#    (gearbox/other <= 1.00). BENCH_PEERS_N sets the number of tasks.
peers_w=$W/peers
peers_src=tests/bench/peers
mkdir -p "$peers_w"

# peers_workload NAME COUNT RECIPE: the args file, the Makefile and the
# build.ninja of COUNT tasks running "RECIPE N" (RECIPE in sh syntax)
peers_workload() {
	d=$peers_w/$1
	mkdir -p "$d/ninja.d"
	seq 1 "$2" >"$d/args"
	awk -v n="$2" -v c="$3" 'BEGIN {
		printf ".PHONY: all"; for (i = 1; i <= n; i++) printf " t%d", i; print ""
		printf "all:"; for (i = 1; i <= n; i++) printf " t%d", i; print ""
		for (i = 1; i <= n; i++) printf "t%d:\n\t@%s %d\n", i, c, i }' >"$d/Makefile"
	awk -v n="$2" -v c="$3" 'BEGIN {
		print "rule run"; print "  command = $cmd"
		for (i = 1; i <= n; i++) printf "build t%d: run\n  cmd = %s %d\n", i, c, i }' >"$d/ninja.d/build.ninja"
}

peers_have_parallel=0; peers_have_make=0; peers_have_ninja=0
command -v parallel >/dev/null && peers_have_parallel=1
command -v make >/dev/null && peers_have_make=1
command -v ninja >/dev/null && peers_have_ninja=1
peers_ninja_q=""
[ $peers_have_ninja = 1 ] && ninja --help 2>&1 | grep -q -- --quiet && peers_ninja_q=--quiet

# peers_one TOOL EXPECTED CMD...: one measured run of CMD, its output kept;
# appends the measure line to $d/r.TOOL, and a line to $d/r.TOOL.bad when the run
# is bad (status not 0, or not EXPECTED lines of "x")
peers_one() {
	_t=$1; _e=$2; shift 2
	GBX_MEASURE_KEEP=1 "$M" "$@" >"$d/out" 2>/dev/null
	tail -n 1 "$d/out" >>"$d/r.$_t"
	_x=$(grep -c '^x$' "$d/out")
	_s=$(tail -n 1 "$d/out" | awk '{print $5}')
	[ "$_s" = 0 ] && [ "$_x" = "$_e" ] || echo "status $_s, $_x lines of x" >>"$d/r.$_t.bad"
}

# peers_alt NAME EXPECTED CMD...: REPEAT rounds of every tool running CMD N
# for each N of the args file. In a subshell: GNU parallel keeps its files
# and make sees no MAKEFLAGS from `make bench`.
peers_alt() (
	d=$peers_w/$1; _e=$2; shift 2
	export PARALLEL_HOME="$peers_w/parallel-home" TMPDIR="$peers_w"
	unset MAKEFLAGS MFLAGS MAKELEVEL
	for t in gearbox xargs parallel make ninja; do : >"$d/r.$t"; rm -f "$d/r.$t.bad"; done
	for i in $(seq 1 "$REPEAT"); do
		peers_one gearbox "$_e" "$GBX" run -j2 -q --no-progress -a "$d/args" -- "$@"
		peers_one xargs "$_e" xargs -P2 -n1 -a "$d/args" "$@"
		[ $peers_have_parallel = 1 ] && peers_one parallel "$_e" parallel -j2 -q "$@" :::: "$d/args"
		[ $peers_have_make = 1 ] && peers_one make "$_e" make -s -j2 -f "$d/Makefile"
		if [ $peers_have_ninja = 1 ]; then
			rm -f "$d/ninja.d/.ninja_log"
			peers_one ninja "$_e" ninja -C "$d/ninja.d" -j2 $peers_ninja_q
		fi
	done
)

# peers_row TOOL LABEL GOAL: a line of the table (GOAL: a bound on gearbox/tool, or "")
peers_row() {
	if [ ! -s "$d/r.$1" ]; then
		printf '%-44s not installed (tools/deps.sh bench installs it)\n' "$2"
		return
	fi
	_m=$(med "$d/r.$1" 1)
	_bad=""
	[ -f "$d/r.$1.bad" ] && _bad="   ($(wc -l <"$d/r.$1.bad") of $REPEAT runs FAILED the check: $(head -n 1 "$d/r.$1.bad"))"
	if [ "$1" = gearbox ]; then
		printf '%-44s %8.3f s%s\n' "$2" "$_m" "$_bad"
		return
	fi
	_r=$(ratio "$peers_g" "$_m")
	_goal=""
	if [ -n "$3" ]; then
		_ok=$(awk -v r="$_r" -v g="$3" 'BEGIN {
			split(g, a, " "); print ((a[1] == "<=" ? r <= a[2] : r < a[2]) ? "met" : "NOT met") }')
		_goal="   (goal $3: $_ok)"
	fi
	printf '%-44s %8.3f s   gearbox/%s = %s%s%s\n' "$2" "$_m" "$1" "$_r" "$_goal" "$_bad"
}

peers_table() {
	peers_g=$(med "$d/r.gearbox" 1)
	peers_row gearbox "gearbox run -j2 -q -a args -- $1"
	peers_row xargs "xargs -P2 -n1 -a args $1" "<= 1.30"
	peers_row parallel "parallel -j2 -q $1 :::: args" "< 1.00"
	peers_row make "make -s -j2 (a phony target per task)" "< 1.00"
	peers_row ninja "ninja -j2 (a command edge per task)" ""
}

peers_workload true 3000 /bin/true
peers_alt true 0 /bin/true
d=$peers_w/true
echo
echo "## peers: 3,000 x /bin/true N at 2-way parallelism (median wall of $REPEAT, alternated)"
peers_table /bin/true

peers_workload echo 1000 "sh -c 'echo x'"
peers_alt echo 1000 sh -c 'echo x'
d=$peers_w/echo
echo
echo "## peers: 1,000 x sh -c 'echo x' N at 2-way parallelism, output kept (median wall of $REPEAT, alternated)"
peers_table "sh -c 'echo x'"
rm -rf "$peers_w/true" "$peers_w/echo"

# 2. in-process engines
peers_n=${BENCH_PEERS_N:-200000}
peers_b=$peers_w/bin
mkdir -p "$peers_b"
peers_cflags="-O2 -Wall -Wextra"
# peers_cc PROG SRC [ARGS...]: builds $peers_b/PROG, or says why not
peers_cc() {
	_p=$1; _s=$2; shift 2
	cc $peers_cflags -o "$peers_b/$_p" "$peers_src/$_s" "$@" 2>"$peers_b/$_p.log" && return 0
	peers_skip="$peers_skip${peers_skip:+
}$_p skipped: $_s did not build: $(grep -m 1 -i 'error' "$peers_b/$_p.log" || head -n 1 "$peers_b/$_p.log")"
	return 1
}
peers_list=""
peers_skip=""
peers_iters=""
peers_cc calib calib.c && peers_iters=$("$peers_b/calib")
peers_kinds=noop
[ -n "$peers_iters" ] && peers_kinds="noop spin"
peers_cc gearbox_engine gearbox_engine.c -Isdk/include build/libgearbox.a \
	$(pkg-config --libs lua5.4 jansson) -ldl -lpthread -lm && peers_list="gearbox_fn gearbox_sim"
peers_cc pthread_pool pthread_pool.c -lpthread && peers_list="$peers_list pthread"
if pkg-config --exists glib-2.0; then
	peers_cc glib_pool glib_pool.c $(pkg-config --cflags --libs glib-2.0) && peers_list="$peers_list glib"
else
	peers_skip="$peers_skip${peers_skip:+
}GThreadPool skipped: glib-2.0 not found by pkg-config (tools/deps.sh bench installs libglib2.0-dev)"
fi
if pkg-config --exists libuv; then
	peers_cc uv_pool uv_pool.c $(pkg-config --cflags --libs libuv) && peers_list="$peers_list uv"
else
	peers_skip="$peers_skip${peers_skip:+
}uv_queue_work skipped: libuv not found by pkg-config (tools/deps.sh bench installs libuv1-dev)"
fi

# peers_prog CONTENDER: its program and mode (run as PROG N ITERS 2 MODE)
peers_prog() {
	case $1 in
	gearbox_fn) echo "$peers_b/gearbox_engine fn" ;;
	gearbox_sim) echo "$peers_b/gearbox_engine sim" ;;
	pthread) echo "$peers_b/pthread_pool -" ;;
	glib) echo "$peers_b/glib_pool -" ;;
	uv) echo "$peers_b/uv_pool -" ;;
	esac
}
for c in $peers_list; do for k in noop spin; do : >"$peers_b/$c.$k"; rm -f "$peers_b/$c.$k.bad"; done; done
for k in $peers_kinds; do
	it=0
	[ $k = spin ] && it=$peers_iters
	for i in $(seq 1 "$REPEAT"); do
		for c in $peers_list; do
			set -- $(peers_prog $c)
			UV_THREADPOOL_SIZE=2 "$1" "$peers_n" "$it" 2 "$2" >>"$peers_b/$c.$k" \
				2>>"$peers_b/$c.$k.bad" || echo "exit status $?" >>"$peers_b/$c.$k.bad"
		done
	done
done

# peers_cell CONTENDER KIND: one column of the table, 34 wide
peers_cell() {
	f=$peers_b/$1.$2
	if [ ! -s "$f" ]; then
		printf '%-34s' "     -"
	elif [ "$1" = gearbox_fn ] || [ "$1" = gearbox_sim ]; then
		printf '%-34s' "$(awk -v t="$(med "$f" 1)" -v s="$(med "$f" 2)" 'BEGIN {
			printf "%7.0f  (%.0f submit + %.0f run)", t, s, t - s }')"
	else
		_r=-
		[ -s "$peers_b/gearbox_fn.$2" ] && _r=$(ratio "$(med "$peers_b/gearbox_fn.$2" 1)" "$(med "$f" 1)")
		printf '%-34s' "$(printf '%7.0f  %6s' "$(med "$f" 1)" "$_r")"
	fi
}
echo
echo "## peers: in-process engines, $peers_n tasks on 2 threads each (median of $REPEAT runs, alternated)"
echo "ns/task: the wall from just before the first task is given to just after the last one has ended,"
echo "over $peers_n: submission included for every engine (gearbox's tasks only start in gbx_engine_run,"
echo "the \"run\" part; the others run tasks while more are being given). The 1 us task is a spin of"
echo "${peers_iters:-?} iterations, calibrated here, the same code in every engine but gearbox's sim tasks"
echo "(sim.c's own loop, cpu_us 1). Ratios are gearbox (C callbacks)/this: above 1, gearbox is slower."
[ -n "$peers_skip" ] && echo "$peers_skip"
printf '%-36s %-34s %s\n' "" "no-op task" "1 us task"
printf '%-36s %-34s %s\n' "engine" "ns/task   ratio" "ns/task   ratio"
for c in $peers_list; do
	case $c in
	gearbox_fn) l="gearbox, C callbacks (submit_fn)" ;;
	gearbox_sim) l="gearbox, sim tasks as JSON" ;;
	pthread) l="plain pthread pool (mutex+condvar)" ;;
	glib) l="GLib GThreadPool" ;;
	uv) l="libuv uv_queue_work" ;;
	esac
	printf '%-36s %s %s\n' "$l" "$(peers_cell $c noop)" "$(peers_cell $c spin | sed 's/ *$//')"
	for k in noop spin; do
		[ -s "$peers_b/$c.$k.bad" ] && echo "  FAILED ($c, $k): $(sort -u "$peers_b/$c.$k.bad" | head -n 3 | tr '\n' ' ')"
	done
done
for c in glib uv; do
	name=GThreadPool
	[ $c = uv ] && name=uv_queue_work
	for k in $peers_kinds; do
		[ -s "$peers_b/gearbox_fn.$k" ] && [ -s "$peers_b/$c.$k" ] || continue
		r=$(ratio "$(med "$peers_b/gearbox_fn.$k" 1)" "$(med "$peers_b/$c.$k" 1)")
		what="no-op task"
		[ $k = spin ] && what="1 us task"
		echo "gearbox (C callbacks)/$name per $what = $r (goal <= 1.00): $(awk -v r="$r" 'BEGIN {print r <= 1 ? "met" : "NOT met"}')"
	done
done
for c in gearbox_fn gearbox_sim; do
	[ -s "$peers_b/$c.noop" ] || continue
	what="C callback tasks"
	[ $c = gearbox_sim ] && what="sim tasks as JSON"
	echo "gearbox peak RSS, $peers_n no-op $what: $(awk -v k="$(med "$peers_b/$c.noop" 3)" 'BEGIN {printf "%.0f MB", k / 1024}') (median)"
done
rm -rf "$peers_w"
