# c_cli.sh - hostile command lines and configs: exit 2 and a message naming
# the option or the file; help texts.

case_cli_run_help() {  # run --help prints [%] as such, not [%%]
	gbx run --help
	rc 0
	out 'fail=N\[%\]'
	grep -q '%%' .gbx-out && no "run --help prints %%"
}
case_cli_plugins_help() {  # plugins --help prints the plugins usage, not run's
	gbx plugins --help
	rc 0
	out 'usage: gearbox plugins'
	grep -q 'usage: gearbox run' .gbx-out && no "plugins --help prints the run help"
}
case_cli_unknown_option() {  # an unknown option is named
	wl w.json
	gbx run w.json --frobnicate
	rc 2
	err 'frobnicate'
}
case_cli_missing_arg() {  # an option without its argument
	wl w.json
	gbx run w.json --journal
	rc 2
	err 'journal'
}
case_cli_jobs_abc() {  # -j abc
	wl w.json
	gbx run w.json -j abc
	rc 2
	err '-j abc'
}
case_cli_jobs_zero() {  # -j 0
	wl w.json
	gbx run w.json -j 0
	rc 2
	err '-j 0'
}
case_cli_jobs_huge() {  # -j 99999999999999999999
	wl w.json
	gbx run w.json -j 99999999999999999999
	rc 2
	err '-j'
}
case_cli_jobs_file_abc() {  # -j FILE holding abc: an error at start, nothing run
	wl w.json
	echo abc >jobs
	gbx run w.json -j jobs
	rc 2
	err '-j jobs' 'abc'
	check test ! -e ran.log
}
case_cli_jobs_file_zero() {  # -j FILE holding 0
	wl w.json
	echo 0 >jobs
	gbx run w.json -j jobs
	rc 2
	err '-j jobs'
}
case_cli_jobs_file_negative() {  # -j FILE holding -3
	wl w.json
	echo -3 >jobs
	gbx run w.json -j jobs
	rc 2
	err '-j jobs'
}
case_cli_jobs_file_empty() {  # -j FILE that is empty
	wl w.json
	: >jobs
	gbx run w.json -j jobs
	rc 2
	err '-j jobs'
}
case_cli_jobs_file_goes_bad() {  # -j FILE turning bad during the run: a warning, the last good value kept
	printf '{ "tasks": [ { "id": "w", "sh": "echo abc >jobs; sleep 0.5; echo w >>ran.log" }, { "id": "x", "sh": "echo x >>ran.log", "deps": ["w"] } ] }' >w.json
	echo 2 >jobs
	OWN="ran.log jobs" gbx run w.json -j jobs
	rc 0
	err '-j jobs' 'keeping -j 2'
}
case_cli_jobs_fd_limit() {  # -j 1000 under ulimit -n 256: capped with one notice, nothing fails
	wl w.json 40
	LIMIT="ulimit -n 256" gbx run w.json -j 1000
	rc 0
	err 'open files limit'
	noerr 'Too many open files'
	check test "$(wc -l <ran.log)" = 40
}
case_cli_arg_file_dir() {  # -a DIR is exit 2, not "has no tasks"
	mkdir args
	gbx run -a args -- echo {}
	rc 2
	err '-a args' 'directory'
}
case_cli_arg_file_missing() {  # -a of a missing file
	gbx run -a nope -- echo {}
	rc 2
	err 'nope'
}
case_cli_halt_bad() {  # --halt with a bad value
	wl w.json
	gbx run w.json --halt sometimes
	rc 2
	err '--halt sometimes'
}
case_cli_halt_pct() {  # --halt soon,fail=200%
	wl w.json
	gbx run w.json --halt soon,fail=200%
	rc 2
	err '--halt'
}
case_cli_timeout_bad() {  # --timeout abc in the quick form
	gbx run --timeout abc -- true ::: 1
	rc 2
	err '--timeout abc'
}
case_cli_retries_bad() {  # --retries -1 in the quick form
	gbx run --retries -1 -- true ::: 1
	rc 2
	err '--retries'
}
case_cli_resume_no_journal() {  # --resume without --journal
	wl w.json
	gbx run w.json --resume
	rc 2
	err '--resume'
	check test ! -e ran.log
}
case_cli_quick_no_command() {  # -- with nothing after it
	gbx run --
	rc 2
	err 'no command'
}
case_cli_workload_and_quick() {  # a workload and a quick-form command at once
	wl w.json
	gbx run w.json -- echo {} ::: a
	rc 2
	err 'not both'
}
case_cli_no_workload() {  # run with nothing to run
	gbx run
	rc 2
	err 'no workload'
}
case_cli_enable_typo() {  # --enable telemtry: did-you-mean
	wl w.json
	gbx run w.json --enable telemtry
	rc 2
	err '--enable telemtry' 'did you mean "telemetry"'
}
case_cli_disable_typo() {  # --disable cahce is an error, not silently accepted
	wl w.json
	gbx run w.json --disable cahce
	rc 2
	err '--disable cahce' 'did you mean "cache"'
	check test ! -e ran.log
}
case_cli_enable_bad_name() {  # --enable ../x is not a plugin name
	wl w.json
	gbx run w.json --enable ../x
	rc 2
	err '\.\./x'
}
case_cli_policy_unknown_bundled() {  # --policy scheduling=edff lists the bundled names
	wl w.json
	gbx run w.json --policy scheduling=edff
	rc 2
	err 'edff' 'did you mean "edf"' 'bundled: .*edf'
}
case_cli_policy_bad_kind() {  # --policy sched=edf: the kinds are listed
	wl w.json
	gbx run w.json --policy sched=edf
	rc 2
	err 'scheduling, retry'
}
case_cli_policy_missing_file() {  # --policy of a missing .lua path
	wl w.json
	gbx run w.json --policy retry=./nope.lua
	rc 2
	err 'nope\.lua'
}
case_cli_config_dir() {  # --config DIR says "is a directory"
	wl w.json
	mkdir cfg
	gbx run w.json --config cfg
	rc 2
	err 'cfg' 'is a directory'
}
case_cli_config_missing() {  # --config of a missing file
	wl w.json
	gbx run w.json --config nope.json
	rc 2
	err 'nope\.json'
}
case_cli_config_syntax() {  # a config with a syntax error: file:line
	wl w.json
	printf '{\n "jobs": 2,,\n}' >cfg.json
	gbx run w.json --config cfg.json
	rc 2
	err 'cfg\.json:2'
}
case_cli_config_unknown_key() {  # a config key with a typo: did-you-mean
	wl w.json
	printf '{ "jbos": 2 }' >cfg.json
	gbx run w.json --config cfg.json
	rc 2
	err 'cfg\.json' 'jbos'
}
case_cli_config_fifo() {  # a FIFO as the config: refused, no hang
	wl w.json
	mkfifo cfg.json
	TMO=30 gbx run w.json --config cfg.json
	rc 2
	err 'cfg\.json'
}
case_cli_config_garbage() {  # binary garbage as the config
	wl w.json
	head -c 2000 /dev/urandom >cfg.json
	gbx run w.json --config cfg.json
	rc 2
	err 'cfg\.json'
}
case_cli_profile_unknown() {  # --profile that the config does not have
	wl w.json
	printf '{ "profiles": { "ci": { } } }' >cfg.json
	gbx run w.json --config cfg.json --profile cj
	rc 2
	err 'cj'
}
case_cli_set_bad() {  # --set without =
	wl w.json
	gbx run w.json --set jobs
	rc 2
	err 'jobs'
}
case_cli_plugin_command_unknown() {  # an unknown command
	gbx frobnicate
	rc 2
	err 'frobnicate'
}
case_cli_closed_stdout() {  # stdout closed: output lost to nobody, the run ends
	wl w.json
	"$GBX" run w.json --journal j.jsonl >&- 2>.gbx-err
	check test "$(wc -l <ran.log)" = 2
	check test "$(jq -s 'map(select(.id)) | length' j.jsonl)" = 2
}
case_cli_policy_cpu_ms_bad() {  # policy_limits.cpu_ms of 0 is refused naming the key
	wl w.json
	printf '{ "policy_limits": { "cpu_ms": 0 } }' >cfg.json
	gbx run w.json --config cfg.json
	rc 2
	err 'cfg\.json' 'policy_limits.cpu_ms'
}
