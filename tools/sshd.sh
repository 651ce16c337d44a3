#!/bin/sh
# sshd.sh - a throwaway sshd for tests: on 127.0.0.1, a free port, a host key
# and a client key made for it, logins as the current user with that key only.
#
#   tools/sshd.sh start DIR   starts it; writes DIR/ssh_config (use: ssh -F
#                             DIR/ssh_config HOST, HOST any name: it goes to
#                             127.0.0.1) and DIR/sshd.pid; prints the port
#   tools/sshd.sh stop DIR    kills the PID it started (and nothing else)
#
# Needs openssh-server (tools/deps.sh ssh). DIR must be an empty or new
# directory the caller removes.
set -eu
cmd=${1:-}; dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: tools/sshd.sh start|stop DIR" >&2; exit 2; }

if [ "$cmd" = stop ]; then
	[ -f "$dir/sshd.pid" ] || exit 0
	pid=$(cat "$dir/sshd.pid")
	kill "$pid" 2>/dev/null || true
	rm -f "$dir/sshd.pid"
	exit 0
fi
[ "$cmd" = start ] || { echo "tools/sshd.sh: unknown command $cmd" >&2; exit 2; }
SSHD=$(command -v sshd || echo /usr/sbin/sshd)
[ -x "$SSHD" ] || { echo "tools/sshd.sh: sshd not found (tools/deps.sh installs openssh-server)" >&2; exit 1; }
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
chmod 700 "$dir"
ssh-keygen -q -t ed25519 -N '' -f "$dir/host_key" >/dev/null
ssh-keygen -q -t ed25519 -N '' -f "$dir/client_key" >/dev/null
cp "$dir/client_key.pub" "$dir/authorized_keys"
chmod 600 "$dir/authorized_keys"
mkdir -p /run/sshd 2>/dev/null || true
user=$(id -un)

# a free port: ask the kernel for one, then start; retry if someone took it
for try in 1 2 3 4 5; do
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	cat >"$dir/sshd_config" <<EOF
ListenAddress 127.0.0.1
Port $port
HostKey $dir/host_key
PidFile $dir/sshd.pid
AuthorizedKeysFile $dir/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
AllowUsers $user
StrictModes no
UsePAM no
PrintMotd no
MaxSessions 100
MaxStartups 100
LogLevel ERROR
EOF
	rm -f "$dir/sshd.pid"
	# -D in the background so that $! is sshd itself; -e logs to stderr
	"$SSHD" -D -e -f "$dir/sshd_config" </dev/null >/dev/null 2>"$dir/sshd.log" &
	pid=$!
	echo "$pid" >"$dir/sshd.pid"
	cat >"$dir/ssh_config" <<EOF
Host *
	HostName 127.0.0.1
	Port $port
	User $user
	IdentityFile $dir/client_key
	IdentitiesOnly yes
	StrictHostKeyChecking no
	UserKnownHostsFile /dev/null
	BatchMode yes
	LogLevel ERROR
EOF
	i=0
	while [ $i -lt 100 ]; do
		if ssh -F "$dir/ssh_config" probe true 2>/dev/null; then
			echo "$port"
			exit 0
		fi
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
		i=$((i + 1))
	done
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
done
echo "tools/sshd.sh: sshd did not start: $(tail -3 "$dir/sshd.log" 2>/dev/null)" >&2
exit 1
