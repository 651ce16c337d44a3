#!/bin/sh
# Starts and stops a throwaway redis-server for tests and benchmarks: a unix
# socket in a temporary directory, no TCP port, persistence off.
#
#   tools/redis.sh start DIR   starts it with its socket at DIR/redis.sock and
#                              prints "PID SOCKET"; returns once it answers
#   tools/redis.sh stop PID    stops that server (and only that one) and waits
#
# A test keeps the PID it was given and stops exactly that process on EXIT.
set -eu
cmd=${1:-}
case "$cmd" in
start)
	dir=${2:?usage: tools/redis.sh start DIR}
	command -v redis-server >/dev/null 2>&1 || {
		echo "tools/redis.sh: redis-server is not installed (run tools/deps.sh)" >&2
		exit 1
	}
	mkdir -p "$dir"
	sock="$dir/redis.sock"
	rm -f "$sock"
	redis-server --port 0 --unixsocket "$sock" --unixsocketperm 700 \
		--save '' --appendonly no --dir "$dir" --logfile "$dir/redis.log" \
		--daemonize no </dev/null >/dev/null 2>&1 &
	pid=$!
	i=0
	while ! redis-cli -s "$sock" ping >/dev/null 2>&1; do
		i=$((i + 1))
		if [ "$i" -gt 500 ] || ! kill -0 "$pid" 2>/dev/null; then
			echo "tools/redis.sh: redis-server did not start (see $dir/redis.log)" >&2
			kill "$pid" 2>/dev/null || :
			exit 1
		fi
		sleep 0.01
	done
	echo "$pid $sock"
	;;
stop)
	pid=${2:?usage: tools/redis.sh stop PID}
	kill "$pid" 2>/dev/null || exit 0
	i=0
	while kill -0 "$pid" 2>/dev/null && [ "$i" -lt 500 ]; do
		i=$((i + 1))
		sleep 0.01
	done
	kill -9 "$pid" 2>/dev/null || :
	;;
*)
	echo "usage: tools/redis.sh start DIR | stop PID" >&2
	exit 2
	;;
esac
