#!/bin/bash
# toolhost benchmark (`make bench`, or tests/bench/run.sh after building build/release/toolhostd).
#
# What it measures, side by side in one run, against a canned local upstream (nginx):
#   * POST /v1/responses through toolhostd's Unix socket, non-streaming and streaming, at
#     concurrency 1, 8 and 64: requests/s, p50 and p99 latency; the same canned answer fetched
#     directly from nginx (TCP loopback) at the same concurrency; the ratio of the two; and the
#     latency toolhostd adds at concurrency 1 (toolhostd p50 - direct p50).
#   * toolhostd's peak RSS (VmHWM) after those runs.
#   * BENCH_STREAMS (10,000) concurrent slow SSE streams through a second toolhostd whose upstream
#     trickles its answer at BENCH_SLOW_RATE bytes/s: errors, peak open streams, peak RSS.
# Targets printed beside the figures: throughput through toolhostd >= 50% of direct at c=64; added
# p50 < 0.3 ms at c=1; 10k streams with 0 errors and peak RSS < 200 MB. The exit status is 1 when a
# target is missed or a request failed (BENCH_LENIENT=1: 0 anyway), 2 when the bench could not run.
#
# Pieces (all in tests/bench/):
#   loadgen.c       libcurl-multi load generator, built here into build/bench/loadgen (see its header)
#   nginx.conf.in   nginx config template; nginx runs as the current user from a temp dir
#   chat.sse        canned Chat Completions SSE answer (POST /v1/chat/completions)
#   chat.json       canned Chat Completions JSON answer (POST /v1/chat/completions-json)
#   chat-slow.sse   long SSE answer for /slow/v1/chat/completions, throttled by limit_rate
#
# Environment: BENCH_SECONDS (5) per point, BENCH_WARMUP (1) s before each point, BENCH_STREAMS
# (10000), BENCH_SLOW_RATE (200) bytes/s, BENCH_NGINX_WORKERS (1), TOOLHOSTD (build/release/toolhostd),
# BENCH_DIRECT_ONLY=1 runs only the nginx + loadgen half (no daemon needed), BENCH_LENIENT=1.
# Raw loadgen lines go to build/bench/results.txt, the logs of the last run to build/bench/logs/.
# Whole run: about 12 x (BENCH_SECONDS + BENCH_WARMUP) + 30 s, under 2 minutes with the defaults.
#
# Notes: nginx sends the first 512 bytes of the slow answer at once (so the response head is not
# held back), then the rest (~2.7 kB) at BENCH_SLOW_RATE: one slow stream lasts ~14 s. loadgen opens
# the streams with at most 256 waiting for their response head, so toolhostd's listen backlog is
# never flooded (a Unix-socket connect fails at once on a full backlog). Each stream costs toolhostd
# two descriptors (client + upstream socket): 10,000 need more than 20,000, and the script warns
# when the hard open-files limit is lower (it is raised to the hard limit; it cannot go beyond).
set -euo pipefail
cd "$(dirname "$0")/../.."

SECS=${BENCH_SECONDS:-5}
WARM=${BENCH_WARMUP:-1}
STREAMS=${BENCH_STREAMS:-10000}
RATE=${BENCH_SLOW_RATE:-200}
WORKERS=${BENCH_NGINX_WORKERS:-1}
DAEMON=${TOOLHOSTD:-build/release/toolhostd}
DIRECT_ONLY=${BENCH_DIRECT_ONLY:-0}
NGINX=/usr/sbin/nginx
LOADGEN=build/bench/loadgen
OUT=build/bench

die() {
	echo "bench: $*" >&2
	exit 2
}

for v in "$SECS" "$WARM"; do
	[[ $v =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "not a number: '$v'"
done
for v in "$STREAMS" "$RATE" "$WORKERS"; do
	[[ $v =~ ^[1-9][0-9]*$ ]] || die "not a positive integer: '$v'"
done
[ -x "$NGINX" ] || die "$NGINX not found (apt-get install nginx-light, or make deps)"
command -v curl >/dev/null || die "curl not found"
if [ "$DIRECT_ONLY" != 1 ] && [ ! -x "$DAEMON" ]; then
	die "$DAEMON is missing: build it first (make bench does), or run with BENCH_DIRECT_ONLY=1 to measure only the upstream half"
fi

# ---- setup ------------------------------------------------------------------------------------

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NOFILE=$(ulimit -n)
[ "$NOFILE" = unlimited ] && NOFILE=1048576

mkdir -p "$OUT"
TMP=$(mktemp -d /tmp/toolhost-bench.XXXXXX)
NGINX_PID="" DAEMON_PID="" SAMPLER_PID="" LOADGEN_PID=""

# shellcheck source=tests/bench/lib.sh
. tests/bench/lib.sh

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
	stop_pid "$LOADGEN_PID"
	stop_pid "$SAMPLER_PID"
	stop_pid "$DAEMON_PID"
	stop_pid "$NGINX_PID"
	rm -rf "$OUT/logs"
	mkdir -p "$OUT/logs"
	cp "$TMP"/*.log "$OUT/logs/" 2>/dev/null || true
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "bench: building $LOADGEN"
# shellcheck disable=SC2046
cc -O2 -std=c11 -D_GNU_SOURCE tests/bench/loadgen.c $(pkg-config --cflags --libs libcurl) -o "$LOADGEN" ||
	die "cannot build loadgen"

# nginx on a free loopback port below the ephemeral range (the 10k upstream connections use that).
mkdir -p "$TMP/www"
cp tests/bench/chat.sse tests/bench/chat.json tests/bench/chat-slow.sse "$TMP/www/"
USER_LINE=""
[ "$(id -u)" = 0 ] && USER_LINE="user $(id -un);" # else nginx would switch its workers to nobody
CONNS=$((NOFILE - 64))
[ "$CONNS" -gt 100000 ] && CONNS=100000
start_nginx() {
	local try i
	for ((try = 0; try < 10; try++)); do
		PORT=$((20000 + RANDOM % 12000))
		if ss -Htln "sport = :$PORT" 2>/dev/null | grep -q .; then
			continue
		fi
		sed -e "s|@USER_LINE@|$USER_LINE|" -e "s|@WORKERS@|$WORKERS|" -e "s|@NOFILE@|$NOFILE|" \
			-e "s|@CONNS@|$CONNS|" -e "s|@DIR@|$TMP|g" -e "s|@WWW@|$TMP/www|" -e "s|@PORT@|$PORT|" \
			-e "s|@RATE@|$RATE|g" tests/bench/nginx.conf.in >"$TMP/nginx.conf"
		"$NGINX" -p "$TMP" -c "$TMP/nginx.conf" -g 'daemon off;' 2>>"$TMP/nginx-error.log" &
		NGINX_PID=$!
		for ((i = 0; i < 50; i++)); do
			if curl -s --noproxy '*' -o /dev/null "http://127.0.0.1:$PORT/" 2>/dev/null; then
				return 0
			fi
			kill -0 "$NGINX_PID" 2>/dev/null || break
			sleep 0.1
		done
		stop_pid "$NGINX_PID"
		NGINX_PID=""
	done
	tail -n 5 "$TMP/nginx-error.log" >&2
	die "nginx did not start"
}
start_nginx
UP="http://127.0.0.1:$PORT"
echo "bench: nginx on $UP (pid $NGINX_PID, $WORKERS worker(s))"

# The canned answers must come back whole, with status 200, for a POST.
check_canned() { # path suffix
	local got
	got=$(curl -s --noproxy '*' --max-time 10 -w '\n%{http_code}' -H 'Content-Type: application/json' \
		-d '{"model":"m"}' "$UP$1") || die "curl $UP$1 failed"
	[ "${got##*$'\n'}" = 200 ] || die "$UP$1 answered ${got##*$'\n'}"
	[[ $got == *"$2"* ]] || die "$UP$1: unexpected body"
}
check_canned /v1/chat/completions 'data: [DONE]'
check_canned /v1/chat/completions-json '"chat.completion"'

printf '{"model":"m","input":"hi","store":false}' >"$TMP/req.json"
printf '{"model":"m","input":"hi","store":false,"stream":true}' >"$TMP/req-stream.json"
: >"$OUT/results.txt"

# ---- toolhostd ---------------------------------------------------------------------------------

start_daemon() { # name base_url
	local name=$1 i
	SOCK="$TMP/$name.sock"
	cat >"$TMP/$name.json" <<EOF
{"listen":{"unix":{"path":"$SOCK"}},
 "upstreams":[{"name":"nginx","base_url":"$2","default":true}],
 "store":{"path":"$TMP/$name.db"},
 "log_level":"warning",
 "limits":{"max_connections":20000}}
EOF
	"$DAEMON" -c "$TMP/$name.json" >"$TMP/toolhostd-$name.log" 2>&1 &
	DAEMON_PID=$!
	for ((i = 0; i < 100; i++)); do
		if curl -sf --noproxy '*' --max-time 2 --unix-socket "$SOCK" -o /dev/null http://localhost/healthz; then
			echo "bench: toolhostd ($name) up, pid $DAEMON_PID, upstream $2"
			return 0
		fi
		kill -0 "$DAEMON_PID" 2>/dev/null || break
		sleep 0.1
	done
	tail -n 20 "$TMP/toolhostd-$name.log" >&2
	die "toolhostd ($name) did not answer GET /healthz on $SOCK within 10 s"
}

# One request of each kind through the daemon before timing anything, so a broken path shows up
# as its answer rather than as a column of errors.
check_daemon() {
	local got
	got=$(curl -s --noproxy '*' --max-time 10 --unix-socket "$SOCK" -w '\n%{http_code}' \
		-H 'Content-Type: application/json' --data-binary @"$TMP/req.json" http://localhost/v1/responses) || true
	if [ "${got##*$'\n'}" != 200 ]; then
		echo "$got" | head -c 1000 >&2
		echo >&2
		die "non-streaming POST /v1/responses through toolhostd failed"
	fi
	got=$(curl -sN --noproxy '*' --max-time 10 --unix-socket "$SOCK" -w '\n%{http_code}' \
		-H 'Content-Type: application/json' --data-binary @"$TMP/req-stream.json" \
		http://localhost/v1/responses) || true
	if [ "${got##*$'\n'}" != 200 ] || [[ $got != *'data: [DONE]'* ]]; then
		echo "$got" | tail -c 1000 >&2
		echo >&2
		die "streaming POST /v1/responses through toolhostd failed (or did not end with data: [DONE])"
	fi
}

vm_kb() { # pid field -> kB
	sed -n "s/^$2:[[:space:]]*\([0-9]*\) kB/\1/p" "/proc/$1/status" 2>/dev/null || true
}

# ---- measuring ---------------------------------------------------------------------------------

declare -A R # R[target,mode,c,field]

field() { # json-line name
	sed -n "s/.*\"$2\":\([-0-9.]*\).*/\1/p" <<<"$1"
}

run_point() { # target mode c
	local target=$1 mode=$2 c=$3 f rc
	local args=(--body "$TMP/req.json" --concurrency "$c" --duration "$SECS" --warmup "$WARM")
	[ "$mode" = stream ] && args=(--body "$TMP/req-stream.json" --stream --concurrency "$c" --duration "$SECS"
		--warmup "$WARM")
	if [ "$target" = toolhostd ]; then
		args+=(--unix "$SOCK" --url http://localhost/v1/responses)
	elif [ "$mode" = stream ]; then
		args+=(--url "$UP/v1/chat/completions")
	else
		args+=(--url "$UP/v1/chat/completions-json")
	fi
	loadgen "$target $mode c=$c" "${args[@]}"
	if [ "$target" = toolhostd ] && ! kill -0 "$DAEMON_PID" 2>/dev/null; then
		wait "$DAEMON_PID" 2>/dev/null && rc=0 || rc=$?
		DAEMON_PID=""
		echo
		die "toolhostd died during the $mode c=$c point (exit status $rc; see $OUT/logs)"
	fi
	echo "$target $mode c=$c $LINE" >>"$OUT/results.txt"
	for f in requests errors rps p50_ms p99_ms; do
		R[$target,$mode,$c,$f]=$(field "$LINE" "$f")
	done
}

# Runs loadgen in the background and waits for it, so that a signal is handled at once; its JSON
# line lands in LINE.
loadgen() { # what args...
	local what=$1
	shift
	"$LOADGEN" "$@" >"$TMP/loadgen.out" 2>>"$TMP/loadgen.log" &
	LOADGEN_PID=$!
	wait "$LOADGEN_PID" || die "loadgen failed ($what; see $OUT/logs/loadgen.log)"
	LOADGEN_PID=""
	LINE=$(cat "$TMP/loadgen.out")
}

calc() { # awk expression
	awk "BEGIN { printf \"%s\", ($1) }"
}

MISSED=0 FAILED=0
row() { # target measured awk-condition: prints one line of the targets table, counts misses
	local v=PASS
	if [ "$(calc "($3) ? 1 : 0")" != 1 ]; then
		v=MISS
		MISSED=$((MISSED + 1))
	fi
	printf '%-46s %-28s %s\n' "$1" "$2" "$v"
}

TARGETS=(toolhostd direct)
[ "$DIRECT_ONLY" = 1 ] && TARGETS=(direct)
if [ "$DIRECT_ONLY" != 1 ]; then
	start_daemon fast "$UP/v1"
	check_daemon
fi
echo "bench: $SECS s per point after $WARM s of warmup"
for mode in json stream; do
	for c in 1 8 64; do
		for target in "${TARGETS[@]}"; do
			printf '  %-9s %-6s c=%-3s ' "$target" "$mode" "$c"
			run_point "$target" "$mode" "$c"
			printf '%10s req/s  p50 %s ms  p99 %s ms  errors %s\n' "${R[$target,$mode,$c,rps]}" \
				"${R[$target,$mode,$c,p50_ms]}" "${R[$target,$mode,$c,p99_ms]}" \
				"${R[$target,$mode,$c,errors]}"
			[ "${R[$target,$mode,$c,errors]}" = 0 ] || FAILED=$((FAILED + 1))
		done
	done
done
HWM_FAST=""
if [ "$DIRECT_ONLY" != 1 ]; then
	HWM_FAST=$(vm_kb "$DAEMON_PID" VmHWM)
	kill -0 "$DAEMON_PID" 2>/dev/null || die "toolhostd exited during the bench (see $OUT/logs)"
	stop_pid "$DAEMON_PID"
	DAEMON_PID=""
fi

# ---- slow streams ------------------------------------------------------------------------------

hold() { # target -> sets HOLD line
	local args=(--hold --stream --concurrency "$STREAMS" --duration 120 --pending 256 --body "$TMP/req-stream.json")
	if [ "$1" = toolhostd ]; then
		args+=(--unix "$SOCK" --url http://localhost/v1/responses)
	else
		args+=(--url "$UP/slow/v1/chat/completions")
	fi
	loadgen "$1 hold" "${args[@]}"
	HOLD=$LINE
	echo "$1 hold n=$STREAMS $HOLD" >>"$OUT/results.txt"
}

HWM_SLOW="" FDS_PEAK=""
if [ "$DIRECT_ONLY" = 1 ]; then
	echo "bench: $STREAMS slow streams directly from nginx ($RATE bytes/s after the first 512 bytes)"
	hold direct
else
	need=$((2 * STREAMS + 64))
	if [ "$NOFILE" -lt "$need" ]; then
		echo "bench: warning: the open-files limit is $NOFILE (hard); $STREAMS streams need about $need" \
			"descriptors in toolhostd (a client and an upstream socket each)" >&2
	fi
	start_daemon slow "$UP/slow/v1"
	echo "bench: $STREAMS slow streams through toolhostd ($RATE bytes/s upstream after the first 512 bytes)"
	# Samples toolhostd's descriptor count once a second while the streams run (at most 150 s).
	(
		for ((i = 0; i < 150; i++)); do
			[ -d "/proc/$DAEMON_PID/fd" ] || break
			find "/proc/$DAEMON_PID/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l
			sleep 1
		done
	) >"$TMP/fds.txt" &
	SAMPLER_PID=$!
	hold toolhostd
	HWM_SLOW=$(vm_kb "$DAEMON_PID" VmHWM)
	kill -0 "$DAEMON_PID" 2>/dev/null || die "toolhostd exited during the slow-stream run (see $OUT/logs)"
	stop_pid "$SAMPLER_PID"
	SAMPLER_PID=""
	FDS_PEAK=$(sort -n "$TMP/fds.txt" | tail -n 1)
	stop_pid "$DAEMON_PID"
	DAEMON_PID=""
fi
H_ERR=$(field "$HOLD" errors)
H_PEAK=$(field "$HOLD" peak_open)
H_SECS=$(field "$HOLD" seconds)
H_P50=$(field "$HOLD" p50_ms)
H_MAX=$(field "$HOLD" max_ms)

# ---- report ------------------------------------------------------------------------------------

echo
echo "toolhost bench ($(nproc) CPUs, nginx $WORKERS worker(s), $SECS s per point; raw lines in $OUT/results.txt)"
if [ "$DIRECT_ONLY" = 1 ]; then
	printf '%-7s %4s | %10s %9s %9s %6s\n' mode c "direct r/s" "p50 ms" "p99 ms" errors
	for mode in json stream; do
		for c in 1 8 64; do
			printf '%-7s %4s | %10s %9s %9s %6s\n' "$mode" "$c" "${R[direct,$mode,$c,rps]}" \
				"${R[direct,$mode,$c,p50_ms]}" "${R[direct,$mode,$c,p99_ms]}" "${R[direct,$mode,$c,errors]}"
		done
	done
	echo
	echo "slow streams (direct): $STREAMS, errors $H_ERR, peak open $H_PEAK, $H_SECS s, one stream p50 $H_P50 ms, max $H_MAX ms"
	echo "(BENCH_DIRECT_ONLY=1: no toolhostd figures, no targets checked)"
	[ "$FAILED" = 0 ] && [ "$H_ERR" = 0 ] || exit 1
	exit 0
fi

printf '%-7s %4s | %10s %9s %9s %5s | %10s %9s %9s %5s | %6s\n' mode c "toolhostd" "p50 ms" "p99 ms" err \
	"direct" "p50 ms" "p99 ms" err ratio
for mode in json stream; do
	for c in 1 8 64; do
		t="toolhostd,$mode,$c" d="direct,$mode,$c"
		printf '%-7s %4s | %10s %9s %9s %5s | %10s %9s %9s %5s | %6s\n' "$mode" "$c" \
			"${R[$t,rps]}" "${R[$t,p50_ms]}" "${R[$t,p99_ms]}" "${R[$t,errors]}" \
			"${R[$d,rps]}" "${R[$d,p50_ms]}" "${R[$d,p99_ms]}" "${R[$d,errors]}" \
			"$(calc "${R[$d,rps]} > 0 ? sprintf(\"%.2f\", ${R[$t,rps]} / ${R[$d,rps]}) : \"-\"")"
	done
done
echo "(r/s = successful requests per second; ratio = toolhostd r/s / direct r/s)"
echo
printf '%-46s %-28s %s\n' target measured verdict
for mode in json stream; do
	ratio=$(calc "sprintf(\"%.2f\", ${R[toolhostd,$mode,64,rps]} / (${R[direct,$mode,64,rps]} + 1e-9))")
	row "$mode: throughput at c=64 >= 50% of direct" "$ratio of direct" "$ratio >= 0.5"
done
for mode in json stream; do
	added=$(calc "sprintf(\"%.3f\", ${R[toolhostd,$mode,1,p50_ms]} - ${R[direct,$mode,1,p50_ms]})")
	row "$mode: added p50 at c=1 < 0.3 ms" "$added ms" "$added < 0.3"
done
printf '%-46s %-28s %s\n' "peak RSS after the c=1..64 runs" \
	"$(calc "sprintf(\"%.1f MB\", ${HWM_FAST:-0} / 1024)") (VmHWM)" "-"
row "$STREAMS slow streams: 0 errors" "$H_ERR errors" "$H_ERR == 0"
row "$STREAMS slow streams: all open at once" "peak $H_PEAK open" "$H_PEAK >= $STREAMS"
row "$STREAMS slow streams: peak RSS < 200 MB" "$(calc "sprintf(\"%.1f MB\", ${HWM_SLOW:-0} / 1024)") (VmHWM)" \
	"${HWM_SLOW:-0} > 0 && ${HWM_SLOW:-0} < 200 * 1024"
echo "(slow streams: $H_SECS s in all; one stream p50 $H_P50 ms, max $H_MAX ms (about $(calc "int(($(wc -c <tests/bench/chat-slow.sse) - 512) / $RATE)") s unhindered);" \
	"toolhostd peak descriptors ${FDS_PEAK:-?} of $NOFILE)"

[ "$FAILED" = 0 ] || echo "bench: $FAILED point(s) had failed requests (see $OUT/logs/loadgen.log)"
[ "$MISSED" = 0 ] || echo "bench: $MISSED target(s) missed"
if [ "$FAILED" != 0 ] || [ "$MISSED" != 0 ]; then
	[ "${BENCH_LENIENT:-0}" = 1 ] || exit 1
fi
exit 0
