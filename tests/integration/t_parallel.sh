#!/bin/sh
# gearbox parallel against GNU parallel (1/3): input sources, replacement
# strings, quoting and injection, -j forms, the command from the input.
. "$(dirname "$0")/lib.sh"
. "$GBX_ROOT/tests/integration/parallel_lib.sh"

I=$T/in
printf 'a\nb\nc\n' >"$I/abc"
printf '1\n2\n' >"$I/12"
printf 'x y\nz\n' >"$I/sp"
printf 'dir/sub/file.tar.gz\n/abs/x.c\nnoext\n.hidden\ndir/\n' >"$I/paths"
printf 'a\0b c\0d\ne\0' >"$I/nul"
printf 'echo one\necho two\n' >"$I/cmds"
: >"$I/empty"

# input sources
pc src-one -s -- echo ::: a b c
pc src-two -s -- echo ::: a b ::: 1 2
pc src-three-k -- -k echo ::: a b ::: 1 2 ::: x y
pc src-link-plus -- -k echo ::: a b c :::+ 1 2 3
pc src-link-wrap -- -k echo ::: a b c d :::+ 1 2
pc src-link-opt -- -k --link echo ::: a b c ::: 1 2 3
pc src-file -- -k echo :::: "$I/abc"
pc src-file-two -- -k echo :::: "$I/abc" "$I/12"
pc src-file-linked -- -k echo :::: "$I/abc" ::::+ "$I/sp"
pc src-file-and-args -- -k echo :::: "$I/12" ::: p q
pc src-stdin -i "$I/abc" -- -k echo
pc src-stdin-dash -i "$I/abc" -- -k echo :::: - ::: z
pc src-argfile -- -k -a "$I/abc" echo
pc src-argfile-two -- -k -a "$I/abc" -a "$I/12" echo
pc src-empty-file -- echo :::: "$I/empty"
pc src-empty-source -- echo ::: a ::: 
pc src-spaces -- -k echo ::: 'a  b' ' lead' 'trail '
pc src-unicode -- -k echo ::: 'héllo' '日本'
pc src-opts-after -- -k echo ::: --colsep -k
pc src-missing-file -- echo :::: "$I/nonexistent"

# replacement strings
pc rpl-plain -- -k echo '{}' ::: a b
pc rpl-ext -- -k echo '{.}' :::: "$I/paths"
pc rpl-base -- -k echo '{/}' :::: "$I/paths"
pc rpl-dir -- -k echo '{//}' :::: "$I/paths"
pc rpl-baseext -- -k echo '{/.}' :::: "$I/paths"
pc rpl-seq -- -k echo '{#}' ::: a b c
pc rpl-slot -- -j1 echo '{%}' ::: a b c
pc rpl-seq-slot-only -- -j1 echo '{#}-{%}' ::: a b
pc rpl-pos -- -k echo '{2}' '{1}' ::: a b ::: 1 2
pc rpl-pos-mod -- -k echo '{1.}' '{2/}' '{1//}' '{2/.}' ::: x/y.c ::: /p/q.tar
pc rpl-twice -- -k echo '{}' '{}' ::: a b
pc rpl-in-word -- -k echo 'pre{}post' ::: a b
pc rpl-all-sources -- -k echo '[{}]' ::: a b ::: 1
pc rpl-I -- -k -I XX echo 'XX-XX' ::: a b
pc rpl-I-brace -- -k -I '{x}' echo '{x}' '{}' ::: a
pc rpl-none-appends -- -k echo pre ::: a b
pc rpl-shell-string -- -k 'echo {} | tr a-z A-Z' ::: ab cd
pc rpl-dq -- -k echo '"{}"' ::: 'a b'
pc rpl-literal-brace -- -k echo '{x}' ::: a

# quoting: a value never injects
pc inj-semicolon -- 'echo {}' ::: 'x; echo INJECTED'
pc inj-sh-c -- sh -c 'echo {}' ::: 'x; echo INJECTED'
pc inj-subst -- -k echo ::: '$(echo INJECTED)' '`echo INJECTED`' '$HOME'
pc inj-quotes -- -k echo ::: "it's" 'say "hi"' "'" "''"
pc inj-glob -- -k echo ::: '*' '?' '[a]'
pc inj-special -- -k echo ::: 'a&b' 'a|b' 'a>b' 'a<b' 'a\b' '#x' '~x' 'a!b'
pc inj-empty -- -k echo x{}y ::: ''
pc inj-dash -- -k echo ::: -n -e
pc inj-newline -- -k echo ::: 'l1
l2'
pc quote-q -- -k -q printf '%s|\n' ::: 'a b' c
pc quote-q-shell -- -k -q sh -c 'echo "$0"' ::: 'x; echo INJECTED'
pc quote-dry -- -k --dry-run echo ::: 'a b' "it's" 'x;y' '' 'é' 'a*' '-x' 'a{b}'

# -j forms
pc j1-order -- -j1 echo ::: 3 1 2
pc j2 -s -- -j2 echo ::: a b c d
pc j-plus -s -- -j +1 echo ::: a b c
pc j-minus -s -- -j -1 echo ::: a b c
pc j-pct -s -- -j 50% echo ::: a b c
pc j-zero -s -- -j0 echo ::: a b c
pc j-bundled -s -- -kj2 echo ::: a b c
pc j-long -s -- --jobs=2 echo ::: a b c
pc j-P -s -- -P 2 echo ::: a b c

# the input as the commands
pc cmd-from-input -i "$I/cmds" -- -k
pc cmd-from-args -- -k ::: 'echo a' 'echo b'

# -0 and -r
pc null -- -k -0 echo :::: "$I/nul"
pc null-a -- -k --null -a "$I/nul" echo
pc r-blank -i "$I/sp" -- -k -r echo
printf '\n  \nx\n' >"$I/blanks"
pc r-skip -i "$I/blanks" -- -k -r echo got
pc no-r-blank -i "$I/blanks" -- -k echo got
pc_done

# gearbox run's quick form: its own meanings, with these made right
run_gbx run -q --no-progress -n2 -- echo ::: a
expect "run: -n2 named as the unknown option" sh -c "test $rc = 2 && grep -q 'unknown option -n2' $T/err"
run_gbx run -q --no-progress -- echo :::: "$I/abc" ::: z
expect "run: :::: reads the file" sh -c "test $rc = 0 && test \"\$(sort $T/out | tr '\n' ,)\" = 'a z,b z,c z,'"
run_gbx run -j1 -q --no-progress -- echo '{%}' {} ::: a b
expect "run: {%} is the slot" sh -c "test $rc = 0 && test \"\$(sort $T/out | tr '\n' ,)\" = '1 a,1 b,'"
run_gbx run -q --no-progress -a "$I" -- echo
expect "run: -a DIR is an error" sh -c "test $rc = 2 && grep -q 'is a directory' $T/err"
run_gbx run -q --no-progress --timeout 300ms -- sleep ::: 5
expect "run: --timeout 300ms" sh -c "test $rc = 1 && grep -q 'timed out after 300 ms' $T/err"
run_gbx run -q --no-progress --timeout 2x -- sleep ::: 5
expect "run: --timeout without a known unit is refused" sh -c "test $rc = 2 && grep -q -- '--timeout 2x' $T/err"
run_gbx run -q --no-progress -- sh -c 'echo {}' ::: 'x; echo INJECTED'
expect "run: a value in sh -c is quoted" sh -c "test $rc = 0 && test \"\$(cat $T/out)\" = 'x; echo INJECTED'"
run_gbx run -q --no-progress -- echo ::: a :::+ b
expect "run: :::+ refused, naming gearbox parallel" sh -c "test $rc = 2 && grep -q 'gearbox parallel' $T/err"
