# lib.sh - helpers for the fault corpus (tests/badinput/c_*.sh), sourced by
# run.sh in the directory of one case. A case is a function case_NAME whose
# "{  # text" comment says what it expects; it sets up files in the current
# directory (its own), runs gearbox with gbx, and states what must hold with
# rc, err, out and the other checks below. Each failed check is one line in
# $F_FAIL. Every gbx run also checks, on its own:
#   - it ended within $TMO seconds (a hang is a failure, never a wait);
#   - no process it started is left (each run carries a unique marker in its
#     environment, looked for in /proc/*/environ afterwards);
#   - no file in the case's directory changed, appeared or vanished except
#     the run's own ($OWN: shell patterns, default ran.log), and /dev/null is
#     still a character device.
F_FAIL=${F_FAIL:-fails}
OWN="ran.log"
TMO=30
NRUN=0

no() { echo "$*" >>"$F_FAIL"; }

# the directory's state: type, size and checksum of every file
snap() {
	find . -mindepth 1 \( -name "$F_FAIL" -o -name '.gbx-*' \) -prune -o -print 2>/dev/null | sort |
		while IFS= read -r f; do
			if [ -L "$f" ]; then echo "$f L $(readlink "$f")"
			elif [ -f "$f" ]; then echo "$f F $(cksum <"$f")"
			elif [ -d "$f" ]; then echo "$f D"
			elif [ -p "$f" ]; then echo "$f P"
			else echo "$f O"; fi
		done
}

owned() {
	# the run history beside the workload (history.c, on by default) is a
	# run's own file, but a run refused for bad input (exit 2) writes none
	case "${1#./}" in .gearbox-history.db*) [ "$rc" != 2 ] && return 0 ;; esac
	for p in $OWN; do
		case "${1#./}" in $p | $p/*) return 0 ;; esac
	done
	return 1
}

# gbx ARGS...: runs gearbox with stdin from $IN (default /dev/null); rc, and
# .gbx-out / .gbx-err. LIMIT="ulimit -v N" (any shell commands) runs first. GBX_BG=1: in the background, pid in $BGPID (finish
# with gbx_wait).
gbx() {
	NRUN=$((NRUN + 1))
	MARK="gbxfault-$$-$NRUN-$(date +%s%N)"
	snap >.gbx-before
	if [ "${GBX_BG:-0}" = 1 ]; then
		GBX_FAULT_MARK=$MARK timeout -s KILL "$TMO" "$GBX" "$@" <"${IN:-/dev/null}" >.gbx-out 2>.gbx-err &
		BGPID=$!
		return 0
	fi
	# LIMIT: shell commands run first, e.g. LIMIT="ulimit -n 256"
	GBX_FAULT_MARK=$MARK timeout -s KILL "$TMO" sh -c "${LIMIT:-:}; exec \"\$0\" \"\$@\"" "$GBX" "$@" \
		<"${IN:-/dev/null}" >.gbx-out 2>.gbx-err
	rc=$?
	after_run "$*"
}

# gbx_kill SIG: sends SIG to the background gearbox itself (not to timeout,
# which forwards only the first signal)
gbx_kill() {
	i=0
	while [ -z "$(pgrep -P "$BGPID")" ] && [ $i -lt 100 ]; do sleep 0.02; i=$((i + 1)); done
	kill "-$1" $(pgrep -P "$BGPID") 2>/dev/null
}

gbx_wait() {
	wait "$BGPID"
	rc=$?
	after_run "(background run)"
}

after_run() {
	[ "$rc" = 137 ] && no "hung: killed after ${TMO}s: gearbox $1"
	[ "$rc" = 86 ] && no "sanitizer report: $(grep -m1 -E 'ERROR|runtime error' .gbx-err)"
	grep -q 'runtime error:' .gbx-err && no "UBSan: $(grep -m1 'runtime error:' .gbx-err)"
	# a process SIGKILLed just before gearbox exited may still be dying:
	# look again for up to 2 s (polling for a state, not waiting for luck)
	i=0
	while :; do
		left=$(grep -l "GBX_FAULT_MARK=$MARK" /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3 | grep -v "^$$\$" | tr '\n' ' ')
		[ -z "$left" ] || [ $i -ge 20 ] && break
		i=$((i + 1))
		sleep 0.1
	done
	if [ -n "$left" ]; then
		no "processes left behind: $left($(for p in $left; do tr '\0' ' ' </proc/$p/cmdline 2>/dev/null; echo ';'; done))"
		for p in $left; do kill -9 "$p" 2>/dev/null; done
	fi
	[ -c /dev/null ] || no "/dev/null is no longer a character device"
	snap >.gbx-after
	diff .gbx-before .gbx-after | grep '^[<>]' | while IFS= read -r l; do
		f=${l#[<>] }
		f=${f%% [LFDPO]*}
		owned "$f" || echo "file outside the run's own changed: $l"
	done | sort -u >>"$F_FAIL"
}

# vlimit KB: a LIMIT for ulimit -v, or nothing under ASan (it reserves
# terabytes of address space for its shadow memory and cannot start under one)
vlimit() {
	case "$GBX" in *asan*) echo ":" ;; *) echo "ulimit -v $1" ;; esac
}
asan() { case "$GBX" in *asan*) return 0 ;; esac; return 1; }

# devnode NAME null|full: a private character device like /dev/null or
# /dev/full in the case's directory, so that a gearbox that replaces a device
# (the fault these cases look for) damages only its own copy, never the
# machine's. Needs root (mknod); without it the case is skipped.
devnode() {
	case "$2" in null) mn=3 ;; full) mn=7 ;; esac
	mknod -m 666 "$1" c 1 "$mn" 2>/dev/null
}

# rc N [N...]: the exit status is one of these
rc() {
	for want in "$@"; do [ "$rc" = "$want" ] && return 0; done
	no "exit status $rc, expected $*; stderr: $(head -c 300 .gbx-err | tr '\n' '|')"
}

# err PATTERN...: stderr matches each (grep -E); out: the same for stdout
err() {
	for p in "$@"; do
		grep -qE -- "$p" .gbx-err || no "stderr lacks /$p/: $(head -c 300 .gbx-err | tr '\n' '|')"
	done
}
out() {
	for p in "$@"; do
		grep -qE -- "$p" .gbx-out || no "stdout lacks /$p/: $(head -c 300 .gbx-out | tr '\n' '|')"
	done
}
noerr() {
	for p in "$@"; do
		grep -qE -- "$p" .gbx-err && no "stderr has /$p/: $(grep -m1 -E -- "$p" .gbx-err)"
	done
	return 0
}
# lines_at_most N: stderr has at most N lines (no flood of warnings)
lines_at_most() {
	n=$(wc -l <.gbx-err)
	[ "$n" -le "$1" ] || no "stderr has $n lines, expected at most $1"
}
# check COND...: a free condition, named by itself when false
check() { "$@" || no "failed: $*"; }

# A workload of N tasks t1..tN (default 2) that each append their id to
# ran.log, so what ran can be compared with what a journal says.
wl() {
	n=${2:-2}
	{
		printf '{ "tasks": [\n'
		i=1
		while [ $i -le "$n" ]; do
			printf '  { "id": "t%d", "sh": "echo t%d >>ran.log" }%s\n' $i $i "$([ $i -lt "$n" ] && echo ,)"
			i=$((i + 1))
		done
		printf '] }\n'
	} >"$1"
}

# journal_honest J: nothing the journal records as ok did not run, and every
# task that ran to its end is recorded (each id once in ran.log)
journal_honest() {
	jq -r 'select(.status == "ok") | .id' "$1" 2>/dev/null | sort -u >.gbx-jok
	sort -u ran.log 2>/dev/null >.gbx-ran
	extra=$(comm -23 .gbx-jok .gbx-ran | head -3 | tr '\n' ' ')
	[ -z "$extra" ] || no "the journal records as done what did not run: $extra"
	dup=$(sort ran.log 2>/dev/null | uniq -d | head -3 | tr '\n' ' ')
	[ -z "$dup" ] || no "tasks ran twice: $dup"
}
