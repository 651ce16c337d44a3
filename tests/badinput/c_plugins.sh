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
