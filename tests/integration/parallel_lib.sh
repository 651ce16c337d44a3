# parallel_lib.sh - the compatibility suite's helper: each case runs the same
# arguments through GNU parallel and through `gearbox parallel`, side by side
# in two fresh directories, and compares stdout, the exit status and the files
# each left behind. Sourced after lib.sh by t_parallel*.sh.
#
#   pc NAME [-s] [-i FILE] [-n] [-e] -- ARGS...
#     -s       sort stdout before comparing (GNU's own order is not fixed)
#     -i FILE  stdin (default /dev/null)
#     -e       compare stderr too
#     -r       compare the exit status only (GNU prints its usage on stdout)
#   A file named jl (a joblog) is compared without its time columns.
#
# GNU parallel wants a citation notice acknowledged: HOME is the test's temp
# dir, with ~/.parallel/will-cite in it.
if ! command -v parallel >/dev/null 2>&1 || ! parallel --version 2>/dev/null | grep -q 'GNU parallel'; then
	echo "not ok - GNU parallel is not installed (tools/deps.sh installs it)"
	exit 0
fi
export HOME="$T/home"
mkdir -p "$HOME/.parallel" "$T/in"
touch "$HOME/.parallel/will-cite"
export SHELL=/bin/sh
unset PARALLEL PARALLEL_SHELL 2>/dev/null

# the state a case leaves: every file's path and content (a joblog's
# seq, exit value, signal and command only, sorted)
snapshot() {
	(cd "$1" && find . -mindepth 1 | LC_ALL=C sort | while IFS= read -r f; do
		if [ -d "$f" ]; then
			echo "dir $f"
		elif [ "$(basename "$f")" = jl ]; then
			echo "joblog $f:"
			awk -F'\t' 'NR > 1 {print $1 "\t" $7 "\t" $8 "\t" $9}' "$f" | LC_ALL=C sort -n
		else
			echo "file $f:"
			cat "$f"
			echo "<eof>"
		fi
	done)
}

# pc runs up to PC_JOBS cases at once (GNU parallel mostly waits in its
# own polling loop); pc_done waits for the last ones and prints every result
# in the order the cases were given.
PC_JOBS=${PC_JOBS:-6}
_pc_n=0
_pc_list=""
pc() {
	_pc_list="$_pc_list $1"
	_pc_n=$((_pc_n + 1))
	pc_one "$@" >"$T/c/.r-$1" 2>&1 &
	if [ $((_pc_n % PC_JOBS)) = 0 ]; then
		wait
	fi
}
pc_done() {
	wait
	for _c in $_pc_list; do
		cat "$T/c/.r-$_c"
	done
}
mkdir -p "$T/c"

pc_one() {
	_n=$1; shift
	_sort=0; _in=/dev/null; _err=0; _rconly=0
	while [ $# -gt 0 ]; do
		case $1 in
		-s) _sort=1; shift ;;
		-i) _in=$2; shift 2 ;;
		-e) _err=1; shift ;;
		-r) _rconly=1; shift ;;
		--) shift; break ;;
		*) echo "pc: bad flag $1" >&2; return ;;
		esac
	done
	_d=$T/c/$_n
	mkdir -p "$_d/p" "$_d/g"
	if [ -n "${SETUP:-}" ]; then
		(cd "$_d/p" && eval "$SETUP")
		(cd "$_d/g" && eval "$SETUP")
	fi
	(cd "$_d/p" && parallel "$@" <"$_in" >"$_d/p.out" 2>"$_d/p.err"; echo $? >"$_d/p.rc") &
	(cd "$_d/g" && "$GBX" parallel "$@" <"$_in" >"$_d/g.out" 2>"$_d/g.err"; echo $? >"$_d/g.rc") &
	wait
	if [ $_sort = 1 ]; then
		LC_ALL=C sort "$_d/p.out" >"$_d/p.o"
		LC_ALL=C sort "$_d/g.out" >"$_d/g.o"
	else
		cp "$_d/p.out" "$_d/p.o"
		cp "$_d/g.out" "$_d/g.o"
	fi
	snapshot "$_d/p" >"$_d/p.files"
	snapshot "$_d/g" >"$_d/g.files"
	_why=""
	[ $_rconly = 1 ] || cmp -s "$_d/p.o" "$_d/g.o" || _why="stdout differs"
	[ "$(cat "$_d/p.rc")" = "$(cat "$_d/g.rc")" ] || _why="$_why exit $(cat "$_d/p.rc") (GNU) vs $(cat "$_d/g.rc")"
	cmp -s "$_d/p.files" "$_d/g.files" || _why="$_why files differ"
	[ $_err = 1 ] && ! cmp -s "$_d/p.err" "$_d/g.err" && _why="$_why stderr differs"
	if [ -z "$_why" ]; then
		pass "$_n"
	else
		fail "$_n" "$_why" "args: $*" \
			"GNU stdout: $(head -c 300 "$_d/p.out" | od -c | head -5)" \
			"gbx stdout: $(head -c 300 "$_d/g.out" | od -c | head -5)" \
			"GNU stderr: $(head -c 300 "$_d/p.err")" "gbx stderr: $(head -c 300 "$_d/g.err")" \
			"files: $(diff "$_d/p.files" "$_d/g.files" | head -8)"
	fi
}
