# c_plugins.sh - plugins and their files: broken ones are listed with the
# reason, hostile cache entries are misses.

case_plug_symlink_loop() {  # a plugin path that is a symlink loop is listed with the reason
	mkdir pl
	ln -s loop.so pl/loop.so
	printf '{ "plugin_path": ["pl"] }' >cfg.json
	gbx plugins --config cfg.json
	rc 0
	out 'loop' 'symlink loop|Too many levels'
}
case_plug_dangling() {  # a dangling plugin symlink is listed with the reason
	mkdir pl
	ln -s nowhere.so pl/gone.so
	printf '{ "plugin_path": ["pl"] }' >cfg.json
	gbx plugins --config cfg.json
	rc 0
	out 'gone' 'No such file|dangling'
}
case_plug_not_elf() {  # a text file named .so: listed as broken, --enable of it exit 2
	mkdir pl
	echo 'not a shared object' >pl/junk.so
	printf '{ "plugin_path": ["pl"] }' >cfg.json
	wl w.json
	gbx run w.json --config cfg.json --enable junk
	rc 2
	err 'junk\.so'
	check test ! -e ran.log
}
case_plug_dir_so() {  # a directory named x.so in the plugin path is listed, not loaded
	mkdir -p pl/dir.so
	printf '{ "plugin_path": ["pl"] }' >cfg.json
	gbx plugins --config cfg.json
	rc 0
	out 'dir' 'directory'
}
case_plug_unknown_config_key() {  # a plugin config key with a typo
	wl w.json
	printf '{ "plugins": { "cache": { "enabled": true, "dri": "x" } } }' >cfg.json
	gbx run w.json --config cfg.json
	rc 2
	err 'cfg\.json' 'dri'
}
case_plug_telemetry_no_output() {  # --enable telemetry with no output configured says so
	wl w.json
	gbx run w.json --enable telemetry
	rc 0
	err 'telemetry'
}
case_plug_telemetry_alert_shown() {  # a telemetry alert that fires is shown on the terminal
	printf '{ "tasks": [ { "id": "t1", "sh": "exit 1" }, { "id": "t2", "sh": "true" } ] }' >w.json
	printf '{ "plugins": { "telemetry": { "summary": "s.json", "alerts": { "min_success_rate": 0.9 } } } }' >cfg.json
	OWN="s.json"
	gbx run w.json --config cfg.json --enable telemetry
	rc 1
	err 'alert min_success_rate fired'
}

# a cacheable task, run once with the cache on so its entry exists
cache_once() {
	printf '{ "tasks": [ { "id": "t1", "sh": "echo t1 >>ran.log; echo out" } ] }' >w.json
	printf '{ "plugins": { "cache": { "dir": "c" } } }' >cfg.json
	OWN="ran.log c"
	gbx run w.json --config cfg.json --enable cache
	rc 0
}
case_plug_cache_fifo_entry() {  # a FIFO in place of a cache entry: a miss with a warning, no hang
	cache_once
	e=$(find c -path '*packs*' -name '*.pack' -type f | head -1) # (t1's entry, in its pack)
	check test -n "$e"
	rm -f "$e"
	mkfifo "$e"
	TMO=30 gbx run w.json --config cfg.json --enable cache
	rc 0
	err 'not a regular file'
	check test "$(wc -l <ran.log)" = 2
}
case_plug_cache_dev_zero_entry() {  # a cache entry symlinked to /dev/zero: refused, a miss, not 4 GiB read
	cache_once
	e=$(find c -path '*packs*' -name '*.pack' -type f | head -1) # (t1's entry, in its pack)
	check test -n "$e"
	rm -f "$e"
	ln -s /dev/zero "$e"
	LIMIT="$(vlimit 2000000)" TMO=30 gbx run w.json --config cfg.json --enable cache
	rc 0
	err 'not a regular file'
	check test "$(wc -l <ran.log)" = 2
}
case_plug_statcache_dev_zero() {  # the stat cache symlinked to /dev/zero: refused with a warning, not read
	printf '{ "tasks": [ { "id": "t1", "sh": "echo t1 >>ran.log", "inputs": ["in.txt"] } ] }' >w.json
	echo data >in.txt
	printf '{ "plugins": { "cache": { "dir": "c" } } }' >cfg.json
	mkdir -p c/v1
	ln -s /dev/zero c/v1/statcache
	OWN="ran.log c"
	LIMIT="$(vlimit 2000000)" TMO=30 gbx run w.json --config cfg.json --enable cache
	rc 0
	err 'statcache is not a regular file'
}
case_plug_pool_worker_dies_child_holds_stdout() {  # a pool worker exits while its child holds stdout: "died", no hang
	printf '#!/bin/sh\nread line\nsleep 60 &\nexit 0\n' >worker.sh
	printf '{ "plugins": { "pool": { "pools": { "p": { "command": ["sh", "%s/worker.sh"], "max": 1 } } } } }' "$PWD" >cfg.json
	printf '{ "tasks": [ { "id": "t1", "pool": "p", "argv": ["anything"] } ] }' >w.json
	TMO=30 gbx run w.json --config cfg.json --enable pool
	rc 1
	err 'exited with status 0 while running task t1'
	noerr 'timed out|timeout'
}
case_plug_pool_worker_dies_with_timeout() {  # the same with a timeout_ms: reported as "died", not as a timeout
	printf '#!/bin/sh\nread line\nsleep 60 &\nexit 0\n' >worker.sh
	printf '{ "plugins": { "pool": { "pools": { "p": { "command": ["sh", "%s/worker.sh"], "max": 1 } } } } }' "$PWD" >cfg.json
	printf '{ "tasks": [ { "id": "t1", "pool": "p", "argv": ["anything"], "timeout_ms": 5000 } ] }' >w.json
	TMO=30 gbx run w.json --config cfg.json --enable pool
	rc 1
	err 'exited with status 0 while running task t1'
	noerr 'timed out'
}
case_plug_trace_no_overlap() {  # the Chrome trace: integer microseconds, no two slices of a track overlap
	printf '{ "tasks": [], "matrix": [ { "id": "s{i}", "kind": "sim", "cpu_us": 3, "vars": { "i": [%s] } } ] }' "$(seq -s, 1 3000)" >w.json
	printf '{ "plugins": { "telemetry": { "trace": "t.json" } } }' >cfg.json
	OWN="t.json"
	gbx run w.json -j 2 --config cfg.json --enable telemetry
	rc 0
	check jq -e '[.traceEvents[] | select(.ph == "X")] | all((.ts | floor) == .ts and (.dur | floor) == .dur)' t.json
	check jq -e '[.traceEvents[] | select(.ph == "X")] | group_by(.tid) | map(sort_by(.ts) | [range(1; length) as $i | .[$i].ts >= .[$i - 1].ts + .[$i - 1].dur] | all) | all' t.json
}
