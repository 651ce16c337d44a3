#!/bin/sh
# gearbox parallel -S/--sshlogin against GNU parallel's own -S, both over one
# real sshd (tools/sshd.sh, started once here): N/HOST, : for this machine,
# --sshloginfile, --ssh and $PARALLEL_SSH, the joblog's Host, spilled output
# coming back, exit statuses; the same results as a local run; and bad
# sshlogins named with exit 255.
. "$(dirname "$0")/lib.sh"
. "$GBX_ROOT/tests/integration/parallel_lib.sh"
if ! command -v sshd >/dev/null 2>&1 && [ ! -x /usr/sbin/sshd ]; then
	fail "sshd is installed (tools/deps.sh installs openssh-server)"
	exit 0
fi
S="$T/sshd"
if ! port=$(sh "$GBX_ROOT/tools/sshd.sh" start "$S"); then
	fail "ssh: tools/sshd.sh starts an sshd"
	exit 0
fi
trap 'sh "$GBX_ROOT/tools/sshd.sh" stop "$S"; rm -rf "$T"' EXIT
SSH="ssh -F $S/ssh_config"

# side by side with GNU parallel's -S (commands that do not depend on the
# directory: GNU runs them in the login's home, gearbox's agents in the
# current directory, docs/parallel.md)
pc ssh-k -- --ssh "$SSH" -S 2/hostA,hostB -k 'echo {} $((1+{}))' ::: 1 2 3 4 5 6
pc ssh-tag-local -- --ssh "$SSH" -S 1/:,1/hostA -k --tag echo ::: a 'b c' "d'e"
pc ssh-exit -s -- --ssh "$SSH" -S hostA --joblog jl 'echo {}; exit {}' ::: 0 1 2 3
pc ssh-colon-only -s -- -S : 'echo {}' ::: x y z
pc ssh-big -- --ssh "$SSH" -S hostA -k 'yes {} | head -c 3000000' ::: a b
pc ssh-stderr -s -e -- --ssh "$SSH" -S 1/hostA 'echo {} >&2' ::: e1 e2
printf '# hosts\n2/hostA\n\n1/hostB\n' >"$T/slf"
pc ssh-slf -s -- --ssh "$SSH" --sshloginfile "$T/slf" 'echo {}' ::: 1 2 3 4
pc ssh-n2 -s -- --ssh "$SSH" -S hostA -n2 echo ::: 1 2 3 4 5
pc_done

# the same as a local run
"$GBX" parallel -k --tag 'echo {}; exit {}' ::: 0 1 2 3 >"$T/local.out" 2>/dev/null
lrc=$?
run_gbx parallel --ssh "$SSH" -S 2/hostA,: -k --tag 'echo {}; exit {}' ::: 0 1 2 3
expect "-S: stdout as a local run" cmp -s "$T/local.out" "$T/out"
expect "-S: exit status as a local run ($lrc)" test "$rc" = "$lrc"

# $PARALLEL_SSH stands for --ssh; the joblog's Host names the node
PARALLEL_SSH="$SSH" "$GBX" parallel -S hostB --joblog "$T/jl" echo ::: 1 2 >/dev/null 2>&1
expect "\$PARALLEL_SSH: ran on hostB (joblog Host)" \
	test "$(awk -F'\t' 'NR > 1 {print $2}' "$T/jl" | sort -u)" = hostB
# -j N is per sshlogin; N/ gives that host N
run_gbx parallel --ssh "$SSH" -S 3/hostA,hostB -j1 --joblog "$T/jl2" 'echo {%}' ::: 1 2 3 4 5 6
expect "-S -j1 over two hosts: two slots in all" test "$(sort -u "$T/out" | tr '\n' ' ')" = "1 2 "

# bad sshlogins: exit 255, one line naming it
run_gbx parallel -S 'ssh -p 22 hostA' echo ::: 1
expect "-S with its own ssh command: 255" test "$rc" = 255 -a "$(wc -l <"$T/err")" = 1
expect "-S with its own ssh command: named" has "ssh -p 22 hostA.*--ssh" "$T/err"
run_gbx parallel -S 0/hostA echo ::: 1
expect "-S 0/host: 255, named" sh -c "test $rc = 255 && grep -q '0/hostA' '$T/err'"
run_gbx parallel -S 'host;rm' echo ::: 1
expect "-S not a host name: 255, named" sh -c "test $rc = 255 && grep -q 'host;rm. is not a host name' '$T/err'"
run_gbx parallel --sshloginfile "$T/no-such" echo ::: 1
expect "--sshloginfile missing: 255, named" sh -c "test $rc = 255 && grep -q 'no-such' '$T/err'"
run_gbx parallel --ssh "$SSH -o Port=1" -S nowhere echo ::: 1
expect "-S unreachable: 255" test "$rc" = 255
expect "-S unreachable: names the host and says why" has "nowhere.*Connection refused" "$T/err"
expect "-S unreachable: nothing ran" test ! -s "$T/out"
expect "-S unreachable: said once, in one line" test "$(wc -l <"$T/err")" = 1
run_gbx parallel --ssh "$SSH -o Port=1" -S nowhere,elsewhere echo ::: 1
expect "-S two unreachable: 255, a line per host and one to end, each reason once" sh -c "test $rc = 255 &&
	test \$(wc -l <'$T/err') = 3 && test \$(grep -c 'Connection refused' '$T/err') = 2 &&
	grep -q 'node nowhere cannot start' '$T/err' && grep -q 'node elsewhere cannot start' '$T/err'"
for o in "--transferfile f" "--return f" --cleanup --trc --basefile --workdir; do
	run_gbx parallel --ssh "$SSH" -S hostA $o echo ::: a
	n=${o%% *}
	expect "-S with $n: 255, named" sh -c "test $rc = 255 && grep -q -- '$n' '$T/err' && test ! -s '$T/out'"
done
