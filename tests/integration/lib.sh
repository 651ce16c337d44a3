# lib.sh - helpers for integration tests: each test prints "ok - NAME" or
# "not ok - NAME" with the reason; tests/run.sh counts the lines.
# GBX is the gearbox binary under test; each script gets a fresh $T temp dir.
set -u
: "${GBX:?GBX must point at the gearbox binary}"
T=$(mktemp -d "${TMPDIR:-/tmp}/gbx-test.XXXXXX")
trap 'rm -rf "$T"' EXIT
cd "$T" || exit 1

pass() { echo "ok - $1"; }
fail() { echo "not ok - $1"; shift; for l in "$@"; do echo "#   $l"; done; }

# run_gbx ARGS...: runs gearbox, leaves exit code in $rc, stdout in $T/out, stderr in $T/err
run_gbx() {
	"$GBX" "$@" >"$T/out" 2>"$T/err" </dev/null
	rc=$?
}

# expect NAME COND-COMMAND...: passes when the command succeeds
expect() {
	name=$1; shift
	if "$@"; then pass "$name"; else fail "$name" "failed: $*" "rc=${rc:-?}" "stdout: $(head -c 600 "$T/out" 2>/dev/null)" "stderr: $(head -c 600 "$T/err" 2>/dev/null)"; fi
}

has() { grep -q -- "$1" "$2"; }
