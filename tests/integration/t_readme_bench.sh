# t_readme_bench.sh - the README's `gearbox bench` samples show what gearbox
# bench prints now. The samples are plain ``` blocks (t_docs.sh runs only
# ```sh test blocks, and their figures depend on the machine), so this checks
# their form against one real run, kept short: gearbox bench on light.json
# with the README's config and --repeat 2. All four samples use that config,
# so each must have its table header and its variants in the same order (the
# cache's "(cold)" row included); the light sample must also have the same
# text around the table, once numbers, verdicts in the recommended config, the
# machine line and the note on too few runs (a --repeat 2 thing) are set aside.
. "$(dirname "$0")/lib.sh"
: "${GBX_ROOT:?}"

# norm: numbers become N, true and false B, runs of spaces one space; the
# machine line goes, and so does the note on too few runs
norm() { grep -v '^machine: ' | sed 's/ With this few runs.*//; s/[0-9][0-9.]*/N/g; s/true\|false/B/g; s/  */ /g; s/ $//'; }
# the text outside the table: the lines that are not variant rows
text() { awk 'NR == 1 || !/^[a-z][a-z ()]*  +[0-9]/' | norm; }
variants() { awk '/^variant  /{t = 1; next} t && /^$/{exit} t {sub(/  .*/, ""); print}'; }

(cd "$GBX_ROOT" && "$GBX" bench examples/workloads/light.json --config examples/workloads/gearbox.json \
	-j2 --repeat 2 -q >"$T/now" 2>"$T/now.err")
expect "bench light.json --repeat 2: exit 0" test $? = 0
for w in repeated failing-target interpreter light; do
	awk -v w="$w" '
		$0 ~ "^\\$ gearbox bench examples/workloads/" w ".json" { on = 1; next }
		on && /^```/ { exit }
		on { print }' "$GBX_ROOT/README.md" >"$w.readme"
	if [ ! -s "$w.readme" ]; then
		fail "README: a gearbox bench sample for $w.json"
		continue
	fi
	expect "README $w.json: the table header is what bench prints" \
		test "$(grep '^variant  ' "$w.readme")" = "$(grep '^variant  ' now)"
	expect "README $w.json: the same variants, in the same order ($(variants <now | tr '\n' ','))" \
		test "$(variants <"$w.readme")" = "$(variants <now)"
done
text <light.readme | sed 's#examples/workloads/light.json#W#' >light.rt
text <now | sed 's#examples/workloads/light.json#W#' >light.nt
expect "README light.json: the same text around the table ($(diff light.rt light.nt | head -6 | tr '\n' ' '))" \
	cmp -s light.rt light.nt
