#!/bin/sh
# slurm.sh - a throwaway single-host Slurm cluster for tests: slurmctld and
# slurmd on 127.0.0.1, free ports, state and logs in DIR, AuthType=auth/none
# (no munge needed), no cgroups, no accounting. Two slurmd processes stand in
# for two nodes (n1, n2) when this Slurm was built with multiple-slurmd
# support; otherwise one node named after the short hostname.
#
#   tools/slurm.sh start DIR   starts it; writes DIR/slurm.conf and prints
#                              the line "SLURM_CONF=DIR/slurm.conf NODES=N"
#                              (export SLURM_CONF for srun, salloc, sbatch)
#   tools/slurm.sh stop DIR    kills the PIDs it started, and the slurmstepd
#                              processes of its steps (those with a file open
#                              in DIR: a step whose slurmd is gone lingers)
#
# Needs slurm-wlm (tools/deps.sh). Run as root (slurmd starts steps as
# the job's user). Each node declares 64 CPUs, more than the machine has, so
# that many tiny steps run at once.
set -eu
cmd=${1:-}; dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: tools/slurm.sh start|stop DIR" >&2; exit 2; }

if [ "$cmd" = stop ]; then
	for f in "$dir"/pids/*; do
		[ -f "$f" ] || continue
		kill "$(cat "$f")" 2>/dev/null || true
	done
	# they exit within a second; wait for them so the temp dir can go
	i=0
	while [ $i -lt 100 ]; do
		left=0
		for f in "$dir"/pids/*; do
			[ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null && left=1
		done
		[ $left = 0 ] && break
		sleep 0.05
		i=$((i + 1))
	done
	for f in "$dir"/pids/*; do
		[ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null || true
		rm -f "$f"
	done
	# slurmstepd double-forks away from slurmd: a step still running when its
	# slurmd went (the controller killed in salloc) is found by its log file
	d=$(cd "$dir" 2>/dev/null && pwd -P) || exit 0
	for p in $(pgrep -f '^slurmstepd' 2>/dev/null); do
		ls -l "/proc/$p/fd" 2>/dev/null | grep -q -- "-> $d/" && kill -9 "$p" 2>/dev/null
	done
	exit 0
fi
[ "$cmd" = start ] || { echo "tools/slurm.sh: unknown command $cmd" >&2; exit 2; }
command -v slurmctld >/dev/null 2>&1 || [ -x /usr/sbin/slurmctld ] ||
	{ echo "tools/slurm.sh: slurmctld not found (tools/deps.sh installs slurm-wlm)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "tools/slurm.sh: needs root (slurmd runs steps as their user)" >&2; exit 1; }
PATH=$PATH:/usr/sbin
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
mkdir -p "$dir/state" "$dir/pids" "$dir/log"
host=$(hostname -s)
ports=$(python3 -c '
import socket
ss = [socket.socket() for _ in range(4)]
for s in ss: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))')
set -- $ports
cport=$1; p1=$2; p2=$3

write_conf() { # $1: node lines
	cat >"$dir/slurm.conf" <<EOF
ClusterName=gbxtest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$cport
SlurmdPort=$p1
AuthType=auth/none
CredType=cred/none
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool-%n
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd-%n.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd-%n.log
ProctrackType=proctrack/pgid
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SwitchType=switch/none
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
ReturnToService=2
SlurmdParameters=config_overrides
MaxJobCount=200000
MinJobAge=2
KillWait=1
InactiveLimit=0
MessageTimeout=5
$1
PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
EOF
}

start_daemons() { # $@: node names for slurmd -N (none: one plain slurmd)
	slurmctld -D -i -f "$dir/slurm.conf" </dev/null >"$dir/log/slurmctld.out" 2>&1 &
	echo $! >"$dir/pids/slurmctld"
	if [ $# = 0 ]; then
		slurmd -D -f "$dir/slurm.conf" </dev/null >"$dir/log/slurmd.out" 2>&1 &
		echo $! >"$dir/pids/slurmd"
	else
		for n in "$@"; do
			slurmd -D -N "$n" -f "$dir/slurm.conf" </dev/null >"$dir/log/slurmd-$n.out" 2>&1 &
			echo $! >"$dir/pids/slurmd-$n"
		done
	fi
}

# wait until N nodes are idle (sinfo) or a daemon died
wait_idle() {
	i=0
	while [ $i -lt 200 ]; do
		idle=$(SLURM_CONF="$dir/slurm.conf" sinfo -h -N -t idle -o %N 2>/dev/null | wc -l)
		[ "$idle" -ge "$1" ] && return 0
		for f in "$dir"/pids/*; do
			kill -0 "$(cat "$f")" 2>/dev/null || return 1
		done
		sleep 0.05
		i=$((i + 1))
	done
	return 1
}

# two nodes on this host when slurmd takes -N (multiple-slurmd builds)
write_conf "NodeName=n1 NodeHostname=$host NodeAddr=127.0.0.1 Port=$p1 CPUs=64 RealMemory=4096 State=UNKNOWN
NodeName=n2 NodeHostname=$host NodeAddr=127.0.0.1 Port=$p2 CPUs=64 RealMemory=4096 State=UNKNOWN"
start_daemons n1 n2
if wait_idle 2; then
	echo "SLURM_CONF=$dir/slurm.conf NODES=2"
	exit 0
fi
sh "$0" stop "$dir" >/dev/null 2>&1 || true
mkdir -p "$dir/pids"
rm -rf "$dir/state"/*
write_conf "NodeName=$host NodeAddr=127.0.0.1 CPUs=64 RealMemory=4096 State=UNKNOWN"
start_daemons
if wait_idle 1; then
	echo "SLURM_CONF=$dir/slurm.conf NODES=1"
	exit 0
fi
echo "tools/slurm.sh: the cluster did not come up: $(tail -2 "$dir"/log/*.log 2>/dev/null | tail -4)" >&2
sh "$0" stop "$dir" >/dev/null 2>&1 || true
exit 1
