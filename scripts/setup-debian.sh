#!/bin/sh
# Installs every Debian package the build, the tests and the benchmarks need, then the pinned npm test
# clients. Idempotent: a second run on a set-up machine only checks. Run as root (CI and dev machines are).
set -eu
cd "$(dirname "$0")/.."

PKGS="build-essential pkg-config libwebsockets-dev libwebsockets-evlib-uv libuv1-dev libcurl4-openssl-dev
libjansson-dev libsqlite3-dev libssl-dev sqlite3 libsystemd-dev clang libclang-rt-14-dev valgrind cppcheck clang-tidy
clang-format python3 curl nginx-light systemd iproute2 openssl"

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
	SUDO=""
	[ "$(id -u)" = 0 ] || SUDO=sudo
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
fi

command -v npm >/dev/null || { echo "setup: node and npm are needed (Debian: apt-get install nodejs npm)" >&2; exit 1; }

# The pinned test clients and MCP servers (package-lock.json); reinstall only when the lock changed.
if [ -f tests/package-lock.json ]; then
	stamp=tests/node_modules/.lock-stamp
	if [ ! -f "$stamp" ] || ! cmp -s tests/package-lock.json "$stamp"; then
		(cd tests && npm ci --no-audit --no-fund --loglevel=error)
		cp tests/package-lock.json "$stamp"
	fi
fi
