#!/bin/sh
# gearbox parallel against GNU parallel (2/3): order and tags, argument
# grouping, --dry-run, progress options, output modes, --results, -q,
# --shuf, --env.
. "$(dirname "$0")/lib.sh"
. "$GBX_ROOT/tests/integration/parallel_lib.sh"

I=$T/in
printf 'a\tb\tc\nd\te\tf\n' >"$I/tsv"
printf 'x,1\ny,2\nz,3\n' >"$I/csv"
printf 'a b  c\n' >"$I/spaced"
seq 1 7 >"$I/seven"

# order and tags
pc k-order -- -k 'sleep 0.$((3 - {})); echo {}' ::: 1 2 3
pc k-multiline -- -k 'printf "%s-1\n%s-2\n" {} {}' ::: a b c
pc k-no-output -- -k 'test {} = b && echo {}' ::: a b c
pc k-failures -- -k 'echo {}; test {} != b' ::: a b c
pc k-stderr-merged -- -k 'echo out{}; echo err{} >&2' ::: a b 2>&1
pc tag -s -- --tag echo ::: a b
pc tag-k -- -k --tag echo ::: a b ::: 1 2
pc tag-multiline -- -k --tag 'printf "1\n2\n"' ::: x
pc tag-no-newline -- -k --tag printf '%s' ::: x y
pc tagstring -- -k --tagstring '<{}>' echo ::: a b
pc tagstring-pos -- -k --tagstring '{2}:{1}' echo ::: a b ::: 1
pc tagstring-seq -- -k --tagstring 'job{#}' echo ::: a b
pc tag-colsep -- -k --tag --colsep '\t' echo '{2}' :::: "$I/tsv"

# argument grouping
pc n2 -- -k -n2 echo ::: a b c d e
pc n3-rpl -- -k -n3 echo '[{}]' ::: a b c d
pc N2-pos -- -k -N2 echo '{2}-{1}' ::: a b c d
pc N2-missing -- -k -N2 echo '{1}' '{2}' ::: a b c
pc N3-file -- -k -N3 echo :::: "$I/seven"
pc n1 -- -k -n1 echo ::: a b
pc m-j1 -- -j1 -m echo ::: a b c d
pc m-j2 -- -k -j2 -m echo ::: a b c d e
pc m-word -- -j1 -m echo 'pre{}post' ::: a b c
pc X-j1 -- -j1 -X echo 'pre{}post' ::: a b c
pc X-j2 -- -k -j2 -X echo '<{}>' ::: a b c d e
pc X-mixed -- -j1 -X echo '{#}' 'a{}b' ::: x y
pc colsep-tab -- -k --colsep '\t' echo '{3}' '{1}' :::: "$I/tsv"
pc colsep-comma -- -k --colsep , echo '{2}={1}' :::: "$I/csv"
pc colsep-regex -- -k --colsep ' +' echo '{3}{2}{1}' :::: "$I/spaced"
pc colsep-all -- -k --colsep , echo :::: "$I/csv"
pc colsep-C -- -k -C , echo '{1}' :::: "$I/csv"

# --dry-run (without -k, GNU prints the jobs in the order they happen to be
# dispatched, so that case is compared sorted)
pc dry -s -- --dry-run echo ::: a b
pc dry-k -- -k --dry-run 'echo {} > {}.txt' ::: a b
pc dry-n -- -k --dry-run -n2 cp '{}' dest ::: a b c
pc dry-seq -- -k --dry-run echo '{#}' ::: x y z
pc dry-nothing-runs -- --dry-run touch made ::: a

# progress on stderr: stdout and status unchanged
pc bar -s -- --bar echo ::: a b c
pc eta -s -- --eta echo ::: a b c
pc progress -s -- --progress echo ::: a b c
pc bar-fail -s -- --bar 'echo {}; exit {}' ::: 0 1 2

# output modes
pc group-whole -s -- -j2 'for i in 1 2 3; do echo {}$i; sleep 0.05; done' ::: a b
pc group-explicit -s -- --group -j2 'echo {}; sleep 0.1; echo {}' ::: a b
pc line-buffer -s -- --line-buffer -j2 'echo {}1; sleep 0.1; echo {}2' ::: a b
pc line-buffer-tag -s -- --lb --tag 'echo 1; echo 2' ::: a b
pc line-buffer-partial -s -- --line-buffer printf '%s' ::: ab
pc ungroup-j1 -- -u -j1 'echo {}; echo {}' ::: a b
pc ungroup-long -- --ungroup -j1 echo ::: a b
pc results -- -k --results out echo ::: a b
pc results-two -- -k --results out echo ::: a/b 'c d' ::: x
pc results-stderr -- -k --res out 'echo o{}; echo e{} >&2' ::: 1
pc results-fail -- -k --results out 'echo {}; exit 1' ::: a

# quoting the command
pc q-keeps-word -- -k -q echo 'a  b' ::: c
pc q-perl-like -- -k -q awk '{print "<"$0">"}' ::: 'v w'
pc no-q-splits -- -k echo 'a  b' ::: c

# --shuf, --env
pc shuf -s -- --shuf echo ::: a b c d e
pc shuf-k -s -- --shuf -k echo ::: 1 2 3
pc env -s -- --env FOO 'echo $FOO' ::: a
pc env-underscore -s -- --env _ 'echo {}' ::: a
pc_done
