# t_faults.sh - the fault corpus (tests/badinput/): hostile inputs and
# faults, one line per case and a total; see tests/badinput/run.sh.
. "$(dirname "$0")/lib.sh"
sh "${GBX_ROOT:-$(dirname "$0")/../..}/tests/badinput/run.sh"
