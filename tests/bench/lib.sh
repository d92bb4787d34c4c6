# shellcheck shell=bash
# Shell helpers shared by the bench scripts (sourced, not run).

# shellcheck disable=SC2317 # called from the scripts' cleanup traps
stop_pid() { # pid: TERM, wait up to 15 s, then KILL
	local pid=$1 i
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	for ((i = 0; i < 150; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}
