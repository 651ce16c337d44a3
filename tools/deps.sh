#!/bin/sh
# Installs what gearbox needs to build and test on Debian, when it is missing.
# Usage: tools/deps.sh [bench]   (bench also installs the peers' libraries).
# The tests start real servers, so their packages are always installed:
# redis-server (t_cache_remote), openssh-server and slurm-wlm (t_nodes_ssh,
# t_nodes_slurm; munge comes along, Slurm runs with auth/none in tests),
# GNU parallel (t_parallel*.sh compare gearbox parallel with it case by
# case), ninja and bear (t_import.sh). `nodes` is still accepted and does
# nothing more.
set -e
need=""
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
for p in pkg-config liblua5.4-dev libjansson-dev libxxhash-dev jq procps bsdutils python3 redis-server libhiredis-dev libsqlite3-dev sqlite3 parallel ninja-build bear openssh-server openssh-client slurm-wlm munge; do
	have_pkg "$p" || need="$need $p"
done
if [ "${1:-}" = bench ]; then
	for p in ninja-build libglib2.0-dev libuv1-dev; do
		have_pkg "$p" || need="$need $p"
	done
fi
[ -z "$need" ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "gearbox: missing packages:$need (run as root, or: sudo apt-get install$need)" >&2
	exit 1
fi
echo "gearbox: installing$need" >&2
apt-get update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need >/dev/null
