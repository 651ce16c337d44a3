# t_bench.sh - gearbox bench end to end: on the example workloads the
# verdicts are right (cache, breaker and pool each help on their workload;
# none helps on the light one (the cache judged cold there: warm, it skips
# 200 forks of true), and an A/A baseline is within noise); the
# report in each format; --save/--against (itself: no regression; a doctored
# faster save: a regression and exit 1); the cache measured warm (recommended
# on that) and cold beside it; outputs restored between runs and
# after an interrupt; caches fresh per run; bad input; and `gearbox run
# --stats` / `--set`, which bench is built on.
#
# Margins are generous so the test is not flaky on a loaded machine: the
# example workloads' plugins change wall time 2x to 10x, and the light
# workload is judged with a 10% noise floor.
. "$(dirname "$0")/lib.sh"
: "${GBX_ROOT:?}"
unset GEARBOX_PLUGIN_PATH
export TMPDIR="$T"
EX="$GBX_ROOT/examples/workloads"

# verdict FILE VARIANT: the verdict of VARIANT in a --format json report
jqe() { jq -e "$@" >/dev/null; }
verdict() { jq -r --arg v "$2" '.variants[] | select(.name == $v) | .verdict' "$1"; }

# --- run --stats and --set ---------------------------------------------------
run_gbx run -j2 -q --stats st.json -- sh -c 'test {} != 3' ::: 1 2 3 4
expect "run --stats: exit 1 with a failed task" test "$rc" = 1
expect "run --stats: counts" jqe '.tasks == 4 and .ok == 3 and .failed == 1 and .attempts == 4' st.json
expect "run --stats: latency quantiles ordered" jqe '.latency_ms.p50 > 0 and .latency_ms.p50 <= .latency_ms.p99 and .latency_ms.p99 <= .latency_ms.max' st.json
run_gbx run -q --stats nodir/st.json -- true ::: 1
expect "run --stats into a missing directory: exit 2 before any task" test "$rc" = 2
expect "run --stats error names the file" has "nodir/st.json" "$T/err"
expect "run --stats error leaves no temp file" sh -c '! ls nodir 2>/dev/null'
echo '{ "jobs": 1 }' >jobs1.json
run_gbx run -q --config jobs1.json --set jobs=3 --stats st3.json -- sh -c 'echo {}' ::: a b c
expect "run --set over the config: ok" test "$rc" = 0
run_gbx run -q --set jobs.max=lots -- true ::: 1
expect "run --set with a bad value: exit 2" test "$rc" = 2
expect "run --set error names the key" has "jobs.max: expected an integer" "$T/err"
run_gbx run -q --set nokey -- true ::: 1
expect "run --set without =: exit 2 with the form" has "expected KEY=VALUE" "$T/err"
run_gbx run -q --set plugins.cache=3 -- true ::: 1
expect "run --set plugins.cache=3: exit 2" test "$rc" = 2

# --- the example workloads: each plugin helps where it should ----------------
bench_ex() { # bench_ex WORKLOAD PLUGINS REPEAT: json report in $T/WORKLOAD.json
	(cd "$GBX_ROOT" && "$GBX" bench "examples/workloads/$1.json" --config examples/workloads/gearbox.json \
		-j2 --plugins "$2" --repeat "$3" --format json -q >"$T/$1.json" 2>"$T/$1.err")
	rc=$?
}
bench_ex repeated cache 5
expect "bench repeated.json: exit 0" test "$rc" = 0
expect "bench repeated.json: cache helps" test "$(verdict repeated.json cache)" = helps
expect "bench repeated.json: the cold cache was fresh each run (a miss per distinct step: 4 of 40 ran)" \
	jqe '.variants[] | select(.name == "cache") | .cold.median.wall_s > 0.05 and (.cold.runs | length) == 5' repeated.json
expect "bench repeated.json: the warm cache is faster than the cold one" \
	jqe '.variants[] | select(.name == "cache") | .warm and .median.wall_s < .cold.median.wall_s' repeated.json
expect "bench writes no cache into the workload's directory" test ! -e "$GBX_ROOT/.gearbox/cache"
expect "bench recommends the cache on" jqe '.recommended.plugins.cache.enabled == true' repeated.json

bench_ex failing-target breaker 5
expect "bench failing-target.json: breaker helps" test "$(verdict failing-target.json breaker)" = helps
expect "bench failing-target.json: 12 of 20 calls fail either way (40% succeed)" \
	jqe '[.variants[].median.success] | all(. > 39.9 and . < 40.1)' failing-target.json

if command -v python3 >/dev/null; then
	bench_ex interpreter pool 5
	expect "bench interpreter.json: pool helps" test "$(verdict interpreter.json pool)" = helps
else
	pass "bench interpreter.json: skipped, no python3 (tools/deps.sh installs it)"
fi

# the light workload: no plugin helps, and the baseline against itself is
# within noise (an A/A check); 5 runs, 10% noise floor
(cd "$GBX_ROOT" && "$GBX" bench examples/workloads/light.json --config examples/workloads/gearbox.json \
	-j2 --plugins cache,breaker,telemetry --aa --noise 10 --format json -q >"$T/light.json" 2>"$T/light.err")
rc=$?
expect "bench light.json: exit 0" test "$rc" = 0
expect "bench light.json: baseline, three plugins and the A/A baseline" \
	jqe '[.variants[].name] == ["baseline", "cache", "breaker", "telemetry", "baseline (A/A)"]' light.json
for p in cache breaker telemetry; do
	v=$(verdict light.json "$p")
	# the cold cache: warm, it replays 200 `true`s without a fork, and may help
	[ "$p" = cache ] && v=$(jq -r '.variants[] | select(.name == "cache") | .cold.verdict' light.json)
	expect "bench light.json: $p hurts or is within noise ($v; the cache cold)" test "$v" = hurts -o "$v" = "within noise"
done
expect "bench light.json: the A/A baseline is within noise" test "$(verdict light.json "baseline (A/A)")" = "within noise"
expect "bench light.json: 5 runs per variant, each with every metric" \
	jqe '([.variants[].runs | length == 5] | all) and ([.variants[].runs[] | keys | length == 7] | all)' light.json
expect "bench light.json: each ratio has an interval" \
	jqe '[.variants[1:][] | .wall_ratio > 0 and .wall_ratio_ci95[0] <= .wall_ratio_ci95[1]] | all' light.json

# --- warm and cold: 6 distinct tasks of 50 ms, where only a warm cache helps -----
# 4 runs against 4 reach p 0.029 at best, hence --alpha 0.05
echo '{ "matrix": [ { "id": "d{n}", "argv": ["sh", "-c", "sleep 0.05; echo {n}"], "vars": { "n": [1, 2, 3, 4, 5, 6] } } ] }' >distinct.json
run_gbx bench distinct.json -j2 --plugins cache --repeat 4 --alpha 0.05 --save warm.json
expect "bench warm/cold: exit 0" test "$rc" = 0
expect "bench warm/cold: the cache row and its cold row beside it" \
	sh -c "grep -A1 '^cache  ' out | tail -1 | grep -q '^cache (cold)  .*within noise\|^cache (cold)  .*hurts'"
expect "bench warm/cold: recommends the cache, on the warm figure" \
	sh -c "grep -A1 '^recommended config' out | tail -1 | jq -e '.plugins.cache.enabled == true' >/dev/null"
expect "bench warm/cold: one unmeasured run fills the cache first" \
	sh -c "grep -q '^bench: run 1/13: cache (filling its cache): ' err && test \$(grep -c '^bench: run' err) = 13"
expect "bench warm/cold: saved with the cold figures as extra fields" \
	jqe '.variants[1] | .name == "cache" and .warm and .verdict == "helps" and (.runs | length) == 4 and .cold.verdict != "helps" and (.cold.runs | length) == 4 and .cold.median.wall_s > 0.15 and .median.wall_s < .cold.median.wall_s' warm.json
run_gbx bench distinct.json -j2 --plugins cache --repeat 2 --against warm.json --threshold 10000
expect "bench warm/cold --against: the cold runs compared with the saved cold ones" \
	sh -c "test $rc = 0 && grep -q '^  cache (cold)   wall ' out"
run_gbx bench distinct.json -j2 --plugins cache --repeat 2 --warm --format json
expect "bench --warm: the cache measured warm only" jqe '[.variants[].name] == ["baseline", "cache"] and .variants[1].warm and .variants[1].cold == null' out

# --- formats, --save and --against, on a small sim workload -------------------
echo '{ "matrix": [ { "id": "s{i}-{j}", "kind": "sim", "cpu_us": 2000, "vars": { "i": [1,2,3,4,5,6,7,8,9,10], "j": [1,2,3,4,5,6,7,8,9,10] } } ] }' >sim.json
echo '{ "plugins": { "telemetry": { "enabled": false } } }' >tel.json
run_gbx bench sim.json --config tel.json --repeat 5 -j2 --save saved.json
expect "bench table: exit 0" test "$rc" = 0
expect "bench table: header and both variants" sh -c "grep -q 'wall s (min-max)' out && grep -q '^baseline ' out && grep -q '^telemetry ' out"
expect "bench table: a recommended config that parses" sh -c "grep -A1 '^recommended config' out | tail -1 | jq -e '.plugins.telemetry.enabled | type == \"boolean\"' >/dev/null"
expect "bench table: progress on stderr" has "bench: run 10/10: " "$T/err"
expect "bench --save: a JSON report" jqe '.gearbox_bench == 1 and (.variants | length) == 2 and .tasks == 100 and (.variants[0].runs | length) == 5' saved.json
# runs made at different times are not interleaved, and a loaded machine can
# move a run's speed several-fold between them: the checks use big margins
run_gbx bench sim.json --config tel.json --repeat 5 -j2 --against saved.json --threshold 300
expect "bench --against itself (threshold 300%): exit 0, no regression" test "$rc" = 0
expect "bench --against itself: says so" has "^0 regressions" "$T/out"
jq '.variants[].runs[].wall_s *= 10 | .variants[].runs[].cpu_s *= 10' saved.json >slower.json
run_gbx bench sim.json --config tel.json --repeat 5 -j2 --against slower.json
expect "bench --against a 10x slower save: an improvement is no regression (exit 0)" test "$rc" = 0
jq '.variants[].runs[].wall_s /= 10 | .variants[].runs[].cpu_s /= 10' saved.json >faster.json
run_gbx bench sim.json --config tel.json --repeat 5 -j2 --against faster.json
expect "bench --against a 10x faster save: exit 1" test "$rc" = 1
expect "bench --against a 10x faster save: flags the regression" has "REGRESSION" "$T/out"
run_gbx bench sim.json --config tel.json --repeat 5 -j2 --against faster.json --threshold 10000
expect "bench --threshold 10000: a 10x regression is under it (a loaded machine moved ASan runs 5x here, so the margin is wide)" test "$rc" = 0
run_gbx bench sim.json --config tel.json --repeat 2 --format html -o report.html
expect "bench --format html: exit 0, nothing on stdout" sh -c "test $rc = 0 && test ! -s out"
expect "bench html: charts with error bars" sh -c "test \$(grep -c '<svg' report.html) -ge 5 && grep -q '<line' report.html"
expect "bench html: self-contained (no script, link, src or url())" sh -c "! grep -Eq '<script|<link|src=|url\\(' report.html"
run_gbx bench sim.json --config tel.json --repeat 2 --format json
expect "bench --format json on stdout parses" jqe '.variants[0].name == "baseline"' out

# --- outputs restored before each run and at the end ---------------------------
echo orig >result.txt
cat >outw.json <<'EOF'
{ "tasks": [ { "id": "w", "argv": ["sh", "-c", "test \"$(cat result.txt)\" = orig && echo run >>result.txt && mkdir -p made && echo x >made/f"],
               "outputs": ["result.txt", "made"] } ] }
EOF
run_gbx bench outw.json --config tel.json --repeat 3 --format json
expect "bench outputs: every run found result.txt as it was (100% success)" jqe '[.variants[].runs[].success == 100] | all' out
expect "bench outputs: result.txt restored at the end" test "$(cat result.txt)" = orig
expect "bench outputs: an output that did not exist is gone" test ! -e made

# --- interrupted: exit 130, outputs restored, nothing saved ---------------------
snooze=7.$$ # unique to this test process: pgrep must not see another test's
cat >slow.json <<EOF
{ "tasks": [ { "id": "w", "argv": ["sh", "-c", "echo run >>result.txt; touch started; sleep $snooze"], "outputs": ["result.txt"] } ] }
EOF
"$GBX" bench slow.json --config tel.json --repeat 2 --save int.json >/dev/null 2>int.err &
bp=$!
for _ in $(seq 1 200); do [ -e started ] && break; sleep 0.05; done
kill -INT "$bp"
wait "$bp"
rc=$?
expect "bench interrupted: exit 130" test "$rc" = 130
expect "bench interrupted: outputs restored" test "$(cat result.txt)" = orig
expect "bench interrupted: nothing saved" test ! -e int.json
expect "bench interrupted: says so" has "interrupted" int.err
expect "bench leaves no scratch directory behind" sh -c "! ls -d '$T'/gearbox-bench.* 2>/dev/null"
# the task's group got SIGTERM; its sleep may take a moment to go
for _ in $(seq 1 100); do pgrep -f "slee[p] $snooze" >/dev/null || break; sleep 0.05; done
expect "bench interrupted: no task left running" sh -c "! pgrep -f 'slee[p] $snooze' >/dev/null"

# --- bad input -----------------------------------------------------------------
run_gbx bench nosuch.json
expect "bench missing workload: exit 2 naming it" sh -c "test $rc = 2 && grep -q nosuch.json err"
run_gbx bench sim.json --plugins cahce
expect "bench --plugins typo: did you mean" sh -c "test $rc = 2 && grep -q 'did you mean \"cache\"' err"
run_gbx bench sim.json --format xml
expect "bench --format xml: exit 2" sh -c "test $rc = 2 && grep -q 'table, json or html' err"
run_gbx bench sim.json --repeat 0
expect "bench --repeat 0: exit 2" test "$rc" = 2
echo 'not json' >bad.json
run_gbx bench sim.json --config tel.json --repeat 1 --against bad.json
expect "bench --against a bad file: exit 2 naming it" sh -c "test $rc = 2 && grep -q 'bad.json:1:' err"
run_gbx bench sim.json --config tel.json --repeat 1 --policy scheduling=nosuch.lua
expect "bench: a run that cannot start stops the bench with its message" \
	sh -c "test $rc = 2 && grep -q 'nosuch.lua' err"
run_gbx bench
expect "bench without a workload: usage" sh -c "test $rc = 2 && grep -q 'no workload given' err"
run_gbx bench --help
expect "bench --help" sh -c "test $rc = 0 && grep -q 'usage: gearbox bench' out"
