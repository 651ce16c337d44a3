# c_policy.sh - hostile policies: the run goes on with the built-in decision,
# the problem is reported once with file and line, nothing hangs.

# pol_key BODY: a scheduling policy whose key runs BODY, on two tasks
pol_key() {
	printf 'return { key = function(t)\n%s\nend }\n' "$1" >p.lua
	wl w.json
}
pol_ran() {
	rc 0
	check test "$(wc -l <ran.log)" = 2
}

case_pol_rep_empty() {  # string.rep("", 1e15) returns at once: no hang
	pol_key 'local s = string.rep("", 1e15); return #s'
	TMO=30 gbx run w.json --policy scheduling=./p.lua
	pol_ran
}
case_pol_rep_sep() {  # string.rep("", 1e15, "") is the same
	pol_key 'return #string.rep("", 1e15, "")'
	TMO=30 gbx run w.json --policy scheduling=./p.lua
	pol_ran
}
case_pol_rep_huge() {  # string.rep("x", 1e15): the memory cap, reported
	pol_key 'return #string.rep("x", 1e15)'
	TMO=30 gbx run w.json --policy scheduling=./p.lua
	pol_ran
	err 'p\.lua'
}
case_pol_find_bomb() {  # a pattern bomb in string.find is stopped by the step budget, naming the pattern
	pol_key 'local s = string.rep("a", 3000); return s:find("a*a*a*a*a*b") and 1 or 0'
	TMO=30 gbx run w.json --policy scheduling=./p.lua
	pol_ran
	err 'p\.lua:2' 'string.find: pattern "a\*a\*a\*a\*a\*b" took more than [0-9]+ steps on a subject of 3000 bytes'
}
case_pol_match_bomb() {  # a pattern bomb in string.match
	pol_key 'return #(string.rep("ab", 2000):match("(.-)(.-)(.-)(.-)x") or "")'
	TMO=30 gbx run w.json --policy scheduling=./p.lua
	pol_ran
	err 'string.match: pattern .* took more than'
}
case_pol_gsub_bomb() {  # a pattern bomb in string.gsub
	pol_key 'local s = string.rep("a", 3000):gsub("a-a-a-a-b", "x"); return #s'
	TMO=30 gbx run w.json --policy scheduling=./p.lua
	pol_ran
	err 'string.gsub: pattern .* took more than'
}
case_pol_gmatch_bomb() {  # a pattern bomb in string.gmatch
	pol_key 'local n = 0; for x in string.rep("a", 3000):gmatch("a*a*a*b") do n = n + 1 end; return n'
	TMO=30 gbx run w.json --policy scheduling=./p.lua
	pol_ran
	err 'string.gmatch: pattern .* took more than'
}
case_pol_method_bomb() {  # the bomb through the string metatable (s:find)
	pol_key 'local s = ("a"):rep(3000); return s:find(".-.-.-.-b") and 1 or 0'
	TMO=30 gbx run w.json --policy scheduling=./p.lua
	pol_ran
	err 'string.find'
}
case_pol_patterns_ok() {  # ordinary patterns still work and give Lua's results
	pol_key 'local a, b = ("job-42"):match("^(%a+)-(%d+)$"); assert(a == "job" and b == "42")
	assert(("x  y"):gsub("%s+", " ") == "x y"); assert(("a.b"):find(".", 1, true) == 2)
	local n = 0; for w in ("a b c"):gmatch("%a") do n = n + 1 end; assert(n == 3)
	assert(("ab"):rep(3, ",") == "ab,ab,ab"); assert(#table.move({1, 2, 3}, 1, 3, 1, {}) == 3)
	return 0'
	gbx run w.json --policy scheduling=./p.lua
	pol_ran
	noerr 'p\.lua'
}
case_pol_gsub_large() {  # gsub("%s+") on a 2 MB subject works (no estimate refuses it)
	pol_key 'local s = string.rep("word \t ", 300000); local r, n = s:gsub("%s+", " ")
	assert(n == 300000 and #r == 1500000 and r:find("word word", 1, true) == 1); return 0'
	gbx run w.json --policy scheduling=./p.lua
	pol_ran
	noerr 'p\.lua'
}
case_pol_pattern_sigterm() {  # SIGTERM stops a long pattern match (steps and CPU time unlimited)
	printf '{ "tasks": [ { "id": "t1", "sh": "echo t1 >>ran.log" }, { "id": "t2", "sh": "echo t2 >>ran.log", "deps": ["t1"] } ] }' >w.json
	printf 'return { key = function(t) return string.rep("a", 5000):find("a*a*a*a*a*a*b") and 1 or 0 end }\n' >p.lua
	printf '{ "policy_limits": { "pattern_steps": 1000000000000000, "cpu_ms": 3600000 } }' >cfg.json
	GBX_BG=1 gbx run w.json --config cfg.json --policy scheduling=./p.lua --journal j.jsonl
	sleep 1.3
	gbx_kill TERM
	OWN="ran.log j.jsonl" gbx_wait
	rc 143
	journal_honest j.jsonl
}
case_pol_pattern_cpu() {  # a long match stops at the call's CPU time, then the policy is off
	pol_key 'return string.rep("a", 5000):find("a*a*a*a*a*a*b") and 1 or 0'
	printf '{ "policy_limits": { "pattern_steps": 1000000000000000, "cpu_ms": 300 } }' >cfg.json
	TMO=30 gbx run w.json --config cfg.json --policy scheduling=./p.lua
	pol_ran
	err 'p\.lua:2' 'took longer than 300 ms' 'not called again'
}
case_pol_pattern_steps_bad() {  # policy_limits.pattern_steps out of range: exit 2, named
	pol_key 'return 0'
	printf '{ "policy_limits": { "pattern_steps": 5 } }' >cfg.json
	gbx run w.json --config cfg.json --policy scheduling=./p.lua
	rc 2
	err 'cfg\.json' 'policy_limits\.pattern_steps'
	check test ! -e ran.log
}
case_pol_move_bomb() {  # table.move({}, 1, 1e15, 2): refused, no hang
	pol_key 'table.move({}, 1, 1e15, 2); return 0'
	TMO=30 gbx run w.json --policy scheduling=./p.lua
	pol_ran
	err 'table.move'
}
case_pol_loop() {  # an endless Lua loop: the instruction budget, once reported
	pol_key 'while true do end'
	gbx run w.json --policy scheduling=./p.lua
	pol_ran
	err 'p\.lua:2' 'instruction budget'
	check test "$(grep -c 'instruction budget' .gbx-err)" = 1
}
case_pol_pcall_loop() {  # catching the budget error with pcall does not help
	pol_key 'while true do pcall(function() while true do end end) end'
	gbx run w.json --policy scheduling=./p.lua
	pol_ran
	err 'instruction budget'
}
case_pol_slow_c() {  # slow C calls under the budget: the CPU limit per call (here 300 ms), then off
	# the limit is CPU time: on a loaded machine (or under ASan) it takes
	# many times as long in wall time, hence the generous timeout
	pol_key 'while true do local s = string.rep("x", 1e5) end'
	printf '{ "policy_limits": { "instructions": 2000000000, "cpu_ms": 300 } }' >cfg.json
	TMO=40 gbx run w.json --config cfg.json --policy scheduling=./p.lua
	pol_ran
	err 'p\.lua:2' 'took longer than 300 ms' 'not called again'
}
case_pol_memory() {  # a memory bomb: the memory cap, reported
	pol_key 'local t = {}; for i = 1, 1e9 do t[i] = ("x"):rep(1000) .. i end'
	printf '{ "policy_limits": { "memory_mb": 8, "instructions": 100000000 } }' >cfg.json
	TMO=30 gbx run w.json --config cfg.json --policy scheduling=./p.lua
	pol_ran
	err 'memory'
}
case_pol_syntax() {  # a policy with a syntax error: file and line, the run goes on
	printf 'return { key = function(t)\n  return 1 +\nend }\n' >p.lua
	wl w.json
	gbx run w.json --policy scheduling=./p.lua
	pol_ran
	err 'p\.lua:3'
}
case_pol_syntax_check() {  # gearbox check: the same policy is exit 2
	printf 'return { key = function(t)\n  return 1 +\nend }\n' >p.lua
	wl w.json
	gbx check w.json --policy scheduling=./p.lua
	rc 2
	err 'p\.lua:3'
}
case_pol_nan() {  # key returns NaN
	pol_key 'return 0/0'
	gbx run w.json --policy scheduling=./p.lua
	pol_ran
	err 'NaN'
}
case_pol_no_function() {  # a file that returns no key function
	printf 'return { kee = function(t) return 1 end }\n' >p.lua
	wl w.json
	gbx run w.json --policy scheduling=./p.lua
	pol_ran
	err 'p\.lua' 'key'
}
case_pol_os_exit() {  # os.exit is not reachable from the sandbox
	pol_key 'os.exit(3)'
	gbx run w.json --policy scheduling=./p.lua
	pol_ran
	err 'p\.lua'
}
case_pol_io() {  # io is not reachable from the sandbox
	pol_key 'io.open("stolen", "w"):write("x"); return 0'
	gbx run w.json --policy scheduling=./p.lua
	pol_ran
	check test ! -e stolen
}
case_pol_binary() {  # a binary file as the policy
	head -c 3000 /dev/urandom >p.lua
	wl w.json
	gbx check w.json --policy scheduling=./p.lua
	rc 2
	err 'p\.lua'
}
case_pol_sigterm() {  # SIGTERM during a policy that loops: stops, exit 143
	printf '{ "tasks": [ { "id": "t1", "sh": "sleep 5; echo t1 >>ran.log" }, { "id": "t2", "sh": "sleep 5; echo t2 >>ran.log", "deps": ["t1"] } ] }' >w.json
	printf 'return { key = function(t) while true do end end }\n' >p.lua
	printf '{ "policy_limits": { "instructions": 2000000000 } }' >cfg.json
	GBX_BG=1 gbx run w.json --config cfg.json --policy scheduling=./p.lua --journal j.jsonl
	sleep 1.3
	gbx_kill TERM
	OWN="ran.log j.jsonl" gbx_wait
	rc 143
	journal_honest j.jsonl
}
