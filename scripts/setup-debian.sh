#!/bin/sh
# Installs every Debian package the build, the tests and the benchmarks need, then the pinned npm test
# clients. Idempotent: a second run on a set-up machine only checks. Run as root (CI and dev machines are).
# Another apt (unattended-upgrades, a second engineer's setup) holding its lock is waited for, up to
# APT_LOCK_WAIT seconds (default 300), checking every APT_LOCK_POLL seconds (default 5).
set -eu
cd "$(dirname "$0")/.."

PKGS="build-essential pkg-config libwebsockets-dev libwebsockets-evlib-uv libuv1-dev libcurl4-openssl-dev
libjansson-dev libsqlite3-dev libssl-dev sqlite3 libsystemd-dev libseccomp-dev clang libclang-rt-14-dev valgrind
cppcheck clang-tidy clang-format python3 curl nginx-light systemd iproute2 openssl chromium"
APT_LOCK_WAIT=${APT_LOCK_WAIT:-300}
APT_LOCK_POLL=${APT_LOCK_POLL:-5}

# Runs an apt-get command again while it fails only because another apt holds a lock, until
# APT_LOCK_WAIT has passed. apt-get install waits by itself (DPkg::Lock::Timeout covers dpkg's lock),
# but apt-get update takes the lists lock, which that option does not cover, and fails at once; so
# does install on the archives lock. Any other failure is reported as it is.
apt_locked_retry() {
	deadline=$(($(date +%s) + APT_LOCK_WAIT))
	log=$(mktemp)
	while :; do
		if "$@" 2>"$log"; then
			cat "$log" >&2
			rm -f "$log"
			return 0
		fi
		if ! grep -qE 'Could not get lock|Unable to lock|Unable to acquire the dpkg frontend lock' "$log"; then
			cat "$log" >&2
			rm -f "$log"
			return 1
		fi
		if [ "$(date +%s)" -ge "$deadline" ]; then
			cat "$log" >&2
			rm -f "$log"
			echo "setup: another apt still holds its lock after ${APT_LOCK_WAIT}s; try again when it is done" >&2
			return 1
		fi
		echo "setup: another apt holds its lock; waiting (up to ${APT_LOCK_WAIT}s)" >&2
		sleep "$APT_LOCK_POLL"
	done
}

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
	SUDO=""
	[ "$(id -u)" = 0 ] || SUDO=sudo
	apt_locked_retry $SUDO apt-get update -qq
	apt_locked_retry $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		-o DPkg::Lock::Timeout="$APT_LOCK_WAIT" $missing
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
