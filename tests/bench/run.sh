#!/bin/bash
# toolhost benchmark (`make bench`, or tests/bench/run.sh after building build/release/toolhostd).
#
# What it measures, side by side in one run, against a canned local upstream (nginx):
#   * POST /v1/responses through toolhostd's Unix socket, non-streaming and streaming, at
#     concurrency 1, 8 and 64: requests/s, p50 and p99 latency; the same canned answer fetched
#     directly from nginx (TCP loopback) at the same concurrency; the same again through a second
#     nginx set up as a plain reverse proxy (kept-alive HTTP/1.1 to the canned nginx, SSE unbuffered):
#     the reference of what a proxy in the middle can reach here; the ratios toolhostd/direct and
#     toolhostd/proxy; and the latency toolhostd adds at concurrency 1 (toolhostd p50 - direct p50).
#   * CPU time per request at c=64 (user + kernel, microseconds) of toolhostd and of the proxy's
#     nginx worker(s): /proc/PID/stat over the whole point, warmup included, divided by the
#     measured rate times the point's length. With 2 CPUs shared by loadgen, the canned nginx and
#     the process in the middle, this is what bounds the throughput ratios.
#   * the streaming point at c=8 again over toolhostd's loopback TCP listener (bearer token),
#     beside the Unix socket's (an info row).
#   * toolhostd's peak RSS (VmHWM) after those runs.
#   * BENCH_STREAMS (10,000) concurrent slow SSE streams through a second toolhostd whose upstream
#     trickles its answer at BENCH_SLOW_RATE bytes/s, over HTTP/2 on TLS ("http2": true and
#     "ca_file" on the upstream, base_url https://127.0.0.1:...: HTTP/2 by ALPN, many streams on one
#     connection): errors, peak open streams, peak RSS, peak descriptors, and RSS per stream (peak
#     VmHWM minus the VmRSS it had before the streams, / BENCH_STREAMS).
#   * "libcurl alone", the floor under that: loadgen itself holding the same number of streams
#     straight to the same slow nginx location, with the libcurl settings toolhostd uses upstream
#     (HTTP/2 by ALPN, PIPEWAIT, multiplexing, CURLOPT_BUFFERSIZE 1024, CURLOPT_UPLOAD_BUFFERSIZE
#     16384) and the body toolhostd sends upstream (chat-request.json): loadgen's errors, peak open,
#     peak RSS and RSS per stream (its VmHWM minus its VmRSS before the first transfer, / streams),
#     and toolhostd's RSS per stream over libcurl's. Run in BENCH_DIRECT_ONLY mode too.
#   * WebSocket (tests/bench/wsload.c): the same streaming turn as one response.create text frame
#     read to response.completed, beside the same turn as a streaming POST on a kept-alive
#     connection, at c=1 and c=64 on the fast daemon: turns/s, p50, p99, added p50 (vs direct), CPU
#     per turn of toolhostd, WS/SSE; then BENCH_WS_CONNS (10,000) idle connections held at once over
#     the Unix socket on a fresh daemon each: plain HTTP keep-alive after one GET /healthz (lws'
#     floor), and WebSocket after the handshake and a generate:false create: RSS per connection
#     above the idle daemon's. Targets: WS CPU per turn <= SSE's at c=64, < 4 kB per idle WebSocket.
# Targets printed beside the figures: throughput through toolhostd >= 50% of direct at c=64; added
# p50 < 0.3 ms at c=1; 10k streams with 0 errors and peak RSS < 200 MB. The proxy's and libcurl
# alone's figures are information only (lines marked "info"), no target. The exit status is 1 when a
# target is missed or a request failed (BENCH_LENIENT=1: 0 anyway), 2 when the bench could not run.
#
# Pieces (all in tests/bench/):
#   loadgen.c       libcurl-multi load generator, built here into build/bench/loadgen (see its header)
#   wsload.c        WebSocket load generator (handshake by hand, SHA-1 from libcrypto), build/bench/wsload
#   nginx.conf.in   canned upstream nginx config template (HTTP/1.1 port, and HTTPS port with HTTP/2);
#                   nginx runs as the current user from a temp dir
#   nginx-proxy.conf.in  the reverse-proxy nginx config template (own pid file and temp paths)
#   chat.sse        canned Chat Completions SSE answer (POST /v1/chat/completions)
#   chat.json       canned Chat Completions JSON answer (POST /v1/chat/completions-json)
#   chat-slow.sse   long SSE answer for /slow/v1/chat/completions, throttled by limit_rate
#   chat-request.json  the Chat Completions body toolhostd sends upstream for the bench's streaming
#                   request (its exact bytes, taken from a listener), for the libcurl-alone streams
#
# Environment: BENCH_SECONDS (5) per point, BENCH_WARMUP (1) s before each point, BENCH_STREAMS
# (10000), BENCH_SLOW_RATE (200) bytes/s, BENCH_NGINX_WORKERS (1, for both nginx instances),
# TOOLHOSTD (build/release/toolhostd), BENCH_DIRECT_ONLY=1 runs only the nginx + loadgen half, direct
# and through the nginx proxy, and the slow streams direct and from libcurl alone (no daemon
# needed), BENCH_WS_ROUNDS (5) rounds of BENCH_WS_SECONDS (3) s per WebSocket and SSE turn point,
# BENCH_LENIENT=1.
# Raw loadgen lines go to build/bench/results.txt, the logs of the last run to build/bench/logs/.
# Needs nginx, curl and the openssl command: the HTTPS port's certificate is made at start, a
# throwaway self-signed one for 127.0.0.1 (EC key, valid 2 days) in the run's temp dir, never kept;
# the slow toolhostd trusts it alone ("ca_file").
# Whole run: about 18 x (BENCH_SECONDS + BENCH_WARMUP) + 45 s (two slow-stream runs of 15-20 s
# each), about 2.5 minutes with the defaults.
#
# Notes: nginx sends the first 512 bytes of the slow answer at once (so the response head is not
# held back), then the rest (~2.7 kB) at BENCH_SLOW_RATE: one slow stream lasts ~14 s. loadgen opens
# the streams with at most 256 waiting for their response head, so toolhostd's listen backlog is
# never flooded (a Unix-socket connect fails at once on a full backlog). Over HTTP/2 each stream
# costs toolhostd about one descriptor (its client socket) plus its share of an upstream connection
# (curl puts up to 100 streams on one, but opens more connections than that needs while the first
# ones are still being set up): 10,000 took 10,177 in a run here. The script warns when the hard
# open-files limit is lower (it is raised to the hard limit; it cannot go beyond). A toolhostd
# that refuses the slow config (-n check: no "http2" or "ca_file" key) stops the bench: exit status 2.
# libcurl alone opens a like number of connections (in runs here: 157 for 10,000 streams, as
# toolhostd; 257 for 2,000, where toolhostd opened 157), and each costs memory beside its
# streams: the figures per stream include that share, so they vary more with fewer streams.
# loadgen makes all its easy handles before the first transfer, but reads its base RSS before
# making them (10,000 of them took 56 MB here), as toolhostd's base is read before its first one.
# Why TLS: libcurl 7.88 (Debian 12) fails every transfer but the first on an h2c (prior-knowledge)
# connection it reuses ("Error in the HTTP2 framing layer"; fixed in curl 8.0), so toolhostd offers
# HTTP/2 only on https:// upstreams, negotiated by ALPN.
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
WSLOAD=build/bench/wsload
WS_CONNS=${BENCH_WS_CONNS:-10000}
WS_ROUNDS=${BENCH_WS_ROUNDS:-5}
WS_SECS=${BENCH_WS_SECONDS:-3}
OUT=build/bench

die() {
	echo "bench: $*" >&2
	exit 2
}

for v in "$SECS" "$WARM"; do
	[[ $v =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "not a number: '$v'"
done
for v in "$STREAMS" "$RATE" "$WORKERS" "$WS_CONNS"; do
	[[ $v =~ ^[1-9][0-9]*$ ]] || die "not a positive integer: '$v'"
done
[ -x "$NGINX" ] || die "$NGINX not found (apt-get install nginx-light, or make deps)"
command -v curl >/dev/null || die "curl not found"
command -v openssl >/dev/null || die "openssl not found (apt-get install openssl)"
if [ "$DIRECT_ONLY" != 1 ] && [ ! -x "$DAEMON" ]; then
	die "$DAEMON is missing: build it first (make bench does), or run with BENCH_DIRECT_ONLY=1 to measure only the upstream half"
fi

# ---- setup ------------------------------------------------------------------------------------

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NOFILE=$(ulimit -n)
[ "$NOFILE" = unlimited ] && NOFILE=1048576

mkdir -p "$OUT"
TMP=$(mktemp -d /tmp/toolhost-bench.XXXXXX)
NGINX_PID="" PROXY_PID="" STARTED="" DAEMON_PID="" SAMPLER_PID="" LOADGEN_PID=""

# shellcheck source=tests/bench/lib.sh
. tests/bench/lib.sh

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
	stop_pid "$LOADGEN_PID"
	stop_pid "$SAMPLER_PID"
	stop_pid "$DAEMON_PID"
	stop_pid "$STARTED"
	stop_pid "$PROXY_PID"
	stop_pid "$NGINX_PID"
	rm -rf "$OUT/logs"
	mkdir -p "$OUT/logs"
	cp "$TMP"/*.log "$OUT/logs/" 2>/dev/null || true
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The HTTPS port's certificate: self-signed for IP 127.0.0.1, for this run only.
CERT=$TMP/cert.pem KEY=$TMP/key.pem
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
	-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 -keyout "$KEY" -out "$CERT" \
	>"$TMP/openssl.log" 2>&1 || die "openssl could not make a certificate: $(tail -n 1 "$TMP/openssl.log")"

echo "bench: building $LOADGEN"
# shellcheck disable=SC2046
cc -O2 -std=c11 -D_GNU_SOURCE tests/bench/loadgen.c $(pkg-config --cflags --libs libcurl) -o "$LOADGEN" ||
	die "cannot build loadgen"
# shellcheck disable=SC2046
cc -O2 -std=c11 -D_GNU_SOURCE tests/bench/wsload.c $(pkg-config --cflags --libs libcrypto) -o "$WSLOAD" ||
	die "cannot build wsload"

# Both nginx instances on free loopback ports below the ephemeral range (the 10k upstream
# connections of an HTTP/1.1 run use that).
mkdir -p "$TMP/www" "$TMP/proxy"
cp tests/bench/chat.sse tests/bench/chat.json tests/bench/chat-slow.sse "$TMP/www/"
USER_LINE=""
[ "$(id -u)" = 0 ] && USER_LINE="user $(id -un);" # else nginx would switch its workers to nobody
CONNS=$((NOFILE - 64))
[ "$CONNS" -gt 100000 ] && CONNS=100000
TAKEN=" "
free_port() { # -> FREE: a port nothing listens on, not handed out before in this run
	local i p
	for ((i = 0; i < 100; i++)); do
		p=$((20000 + RANDOM % 12000))
		[[ $TAKEN == *" $p "* ]] && continue
		ss -Htln "sport = :$p" 2>/dev/null | grep -q . && continue
		TAKEN+="$p "
		FREE=$p
		return 0
	done
	die "no free loopback port found"
}

# Starts nginx on config $1 with prefix directory $2 (its stderr appended to $3) and waits up to
# 5 s for $4 to answer: STARTED holds its pid meanwhile (the caller takes it over); returns 1, nginx
# stopped again, when it did not answer (a port taken in between, say).
launch_nginx() { # conf prefix-dir log url
	local i
	"$NGINX" -p "$2" -c "$1" -g 'daemon off;' 2>>"$3" &
	STARTED=$!
	for ((i = 0; i < 50; i++)); do
		if curl -s --noproxy '*' -o /dev/null "$4" 2>/dev/null; then
			return 0
		fi
		kill -0 "$STARTED" 2>/dev/null || break
		sleep 0.1
	done
	stop_pid "$STARTED"
	STARTED=""
	return 1
}

# The canned upstream: HTTP/1.1 on PORT, HTTPS with HTTP/2 on PORT2.
start_nginx() {
	local try
	for ((try = 0; try < 10; try++)); do
		free_port
		PORT=$FREE
		free_port
		PORT2=$FREE
		sed -e "s|@USER_LINE@|$USER_LINE|" -e "s|@WORKERS@|$WORKERS|" -e "s|@NOFILE@|$NOFILE|" \
			-e "s|@CONNS@|$CONNS|" -e "s|@DIR@|$TMP|g" -e "s|@WWW@|$TMP/www|" -e "s|@PORT@|$PORT|g" \
			-e "s|@PORT2@|$PORT2|g" -e "s|@RATE@|$RATE|g" -e "s|@CERT@|$CERT|g" -e "s|@KEY@|$KEY|g" \
			tests/bench/nginx.conf.in >"$TMP/nginx.conf"
		if launch_nginx "$TMP/nginx.conf" "$TMP" "$TMP/nginx-error.log" "http://127.0.0.1:$PORT/"; then
			NGINX_PID=$STARTED STARTED=""
			return 0
		fi
	done
	tail -n 5 "$TMP/nginx-error.log" >&2
	die "nginx did not start"
}

# The reverse proxy in front of it, on PPORT (own prefix directory, pid file and temp paths).
start_proxy() {
	local try
	for ((try = 0; try < 10; try++)); do
		free_port
		PPORT=$FREE
		sed -e "s|@USER_LINE@|$USER_LINE|" -e "s|@WORKERS@|$WORKERS|" -e "s|@NOFILE@|$NOFILE|" \
			-e "s|@CONNS@|$CONNS|" -e "s|@DIR@|$TMP/proxy|g" -e "s|@LOG@|$TMP/nginx-proxy-error.log|" \
			-e "s|@PORT@|$PPORT|g" -e "s|@UPPORT@|$PORT|g" tests/bench/nginx-proxy.conf.in >"$TMP/proxy/nginx.conf"
		if launch_nginx "$TMP/proxy/nginx.conf" "$TMP/proxy" "$TMP/nginx-proxy-error.log" \
			"http://127.0.0.1:$PPORT/"; then
			PROXY_PID=$STARTED STARTED=""
			return 0
		fi
	done
	tail -n 5 "$TMP/nginx-proxy-error.log" >&2
	die "the proxy nginx did not start"
}
start_nginx
UP="http://127.0.0.1:$PORT"
UP2="https://127.0.0.1:$PORT2"
echo "bench: nginx on $UP, HTTP/2 on $UP2 (pid $NGINX_PID, $WORKERS worker(s))"
start_proxy
PROXY="http://127.0.0.1:$PPORT"
echo "bench: nginx reverse proxy on $PROXY to $UP (pid $PROXY_PID, $WORKERS worker(s))"

# The canned answers must come back whole, with status 200 and the HTTP version asked for, for a POST.
check_canned() { # base-url path suffix http-version [curl options]
	local got status
	got=$(curl -s --noproxy '*' --max-time 10 -w '\n%{http_code} %{http_version}' "${@:5}" \
		-H 'Content-Type: application/json' -d '{"model":"m"}' "$1$2") || die "curl $1$2 failed"
	status=${got##*$'\n'}
	[ "$status" = "200 $4" ] || die "$1$2 answered $status (status, HTTP version; 200 $4 expected)"
	[[ $got == *"$3"* ]] || die "$1$2: unexpected body"
}
for base in "$UP" "$PROXY"; do
	check_canned "$base" /v1/chat/completions 'data: [DONE]' 1.1
	check_canned "$base" /v1/chat/completions-json '"chat.completion"' 1.1
done
check_canned "$UP2" /v1/chat/completions-json '"chat.completion"' 2 --http2 --cacert "$CERT"
check_canned "$UP2" /v1/chat/completions 'data: [DONE]' 2 --http2 --cacert "$CERT"

printf '{"model":"m","input":"hi","store":false}' >"$TMP/req.json"
printf '{"model":"m","input":"hi","store":false,"stream":true}' >"$TMP/req-stream.json"
# The same turn as one WebSocket message, and the warm-up create of the idle connections.
printf '{"type":"response.create","model":"m","input":"hi","store":false}' >"$TMP/req-ws.json"
printf '{"type":"response.create","model":"m","input":"hi","store":false,"generate":false}' >"$TMP/req-ws-warm.json"
: >"$OUT/results.txt"

# ---- toolhostd ---------------------------------------------------------------------------------

# With TCP_PORT set the daemon listens on 127.0.0.1:TCP_PORT as well (bearer TCP_KEY).
TCP_KEY=bench-tcp-key-0123456789
TCP_PORT=""
write_config() { # name base_url [more keys of the upstream, each after a comma]
	local tcp="" keys=""
	SOCK="$TMP/$1.sock"
	if [ -n "$TCP_PORT" ]; then
		tcp=",\"tcp\":{\"address\":\"127.0.0.1\",\"port\":$TCP_PORT}"
		keys="\"api_keys\":[{\"name\":\"bench\",\"key\":\"$TCP_KEY\"}],"
	fi
	cat >"$TMP/$1.json" <<EOF
{"listen":{"unix":{"path":"$SOCK"}$tcp},$keys
 "upstreams":[{"name":"nginx","base_url":"$2","default":true${3:-}}],
 "store":{"path":"$TMP/$1.db"},
 "log_level":"warning",
 "limits":{"max_connections":20000}}
EOF
}

start_daemon() { # name base_url [more keys of the upstream]
	local name=$1 i
	write_config "$@"
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

# CPU time (user and kernel, in clock ticks) of the processes in $@ so far: "user sys".
cpu_ticks() { # pid...
	local pid u=0 k=0 st
	for pid in "$@"; do
		# Fields after the ")" that ends the command name: utime and stime are the 12th and 13th.
		st=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null) || continue
		read -r -a st <<<"$st"
		u=$((u + st[11])) k=$((k + st[12]))
	done
	echo "$u $k"
}
TICK=$(getconf CLK_TCK)

# The process(es) whose CPU a point measures: toolhostd itself, the proxy's nginx workers.
measured_pids() { # target
	case $1 in
	toolhostd | toolhostd-tcp | sse | ws) echo "$DAEMON_PID" ;;
	proxy) pgrep -P "$PROXY_PID" || true ;;
	esac
}

run_point() { # target mode c
	local target=$1 mode=$2 c=$3 f rc pids before after
	local args=(--body "$TMP/req.json" --concurrency "$c" --duration "$SECS" --warmup "$WARM")
	[ "$mode" = stream ] && args=(--body "$TMP/req-stream.json" --stream --concurrency "$c" --duration "$SECS"
		--warmup "$WARM")
	local base=$UP prog=$LOADGEN
	[ "$target" = proxy ] && base=$PROXY
	if [ "$target" = ws ]; then
		prog=$WSLOAD
		args=(--unix "$SOCK" --body "$TMP/req-ws.json" --concurrency "$c" --duration "$SECS" --warmup "$WARM")
	elif [ "$target" = toolhostd ] || [ "$target" = sse ]; then
		args+=(--unix "$SOCK" --url http://localhost/v1/responses)
	elif [ "$target" = toolhostd-tcp ]; then
		args+=(--url "http://127.0.0.1:$FAST_TCP_PORT/v1/responses" --header "Authorization: Bearer $TCP_KEY")
	elif [ "$mode" = stream ]; then
		args+=(--url "$base/v1/chat/completions")
	else
		args+=(--url "$base/v1/chat/completions-json")
	fi
	read -r -a pids <<<"$(measured_pids "$target" | tr '\n' ' ')"
	read -r -a before <<<"$(cpu_ticks "${pids[@]}")"
	PROG=$prog loadgen "$target $mode c=$c" "${args[@]}"
	read -r -a after <<<"$(cpu_ticks "${pids[@]}")"
	if [[ $target == toolhostd* ]] && ! kill -0 "$DAEMON_PID" 2>/dev/null; then
		wait "$DAEMON_PID" 2>/dev/null && rc=0 || rc=$?
		DAEMON_PID=""
		echo
		die "toolhostd died during the $mode c=$c point (exit status $rc; see $OUT/logs)"
	fi
	echo "$target $mode c=$c $LINE" >>"$OUT/results.txt"
	for f in requests errors rps p50_ms p99_ms; do
		R[$target,$mode,$c,$f]=$(field "$LINE" "$f")
	done
	# CPU per request, user and kernel: the whole point (warmup included) over the requests it
	# served at the measured rate.
	if [ "${#pids[@]}" -gt 0 ]; then
		R[$target,$mode,$c,cpu]=$(calc "${R[$target,$mode,$c,rps]:-0} > 0 ? sprintf(\"%.0f + %.0f\", \
			($((after[0] - before[0]))) * 1e6 / $TICK / (${R[$target,$mode,$c,rps]} * ($SECS + $WARM)), \
			($((after[1] - before[1]))) * 1e6 / $TICK / (${R[$target,$mode,$c,rps]} * ($SECS + $WARM))) : \"-\"")
	fi
}

# Runs loadgen in the background and waits for it, so that a signal is handled at once; its JSON
# line lands in LINE.
loadgen() { # what args...
	local what=$1
	shift
	"${PROG:-$LOADGEN}" "$@" >"$TMP/loadgen.out" 2>>"$TMP/loadgen.log" &
	LOADGEN_PID=$!
	wait "$LOADGEN_PID" || die "loadgen failed ($what; see $OUT/logs/loadgen.log)"
	LOADGEN_PID=""
	LINE=$(cat "$TMP/loadgen.out")
}

calc() { # awk expression
	awk "BEGIN { printf \"%s\", ($1) }"
}

ratio() { # mode c target-a target-b -> r/s of a / r/s of b, 2 decimals ("-" when b has none)
	local a=${R[$3,$1,$2,rps]} b=${R[$4,$1,$2,rps]}
	calc "$b > 0 ? sprintf(\"%.2f\", $a / $b) : \"-\""
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

TARGETS=(toolhostd direct proxy)
[ "$DIRECT_ONLY" = 1 ] && TARGETS=(direct proxy)
if [ "$DIRECT_ONLY" != 1 ]; then
	free_port
	TCP_PORT=$FREE
	FAST_TCP_PORT=$FREE # the fast daemon's; TCP_PORT is cleared so that later daemons get no TCP listener
	start_daemon fast "$UP/v1"
	TCP_PORT=""
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
# The streaming point at c=8 once more over the loopback TCP listener, beside the Unix socket's:
# SSE over TCP used to stall about 40 ms per response (Nagle + delayed ACK, before TCP_NODELAY).
if [ "$DIRECT_ONLY" != 1 ]; then
	printf '  %-9s %-6s c=%-3s ' "tcp" stream 8
	run_point toolhostd-tcp stream 8
	printf '%10s req/s  p50 %s ms  p99 %s ms  errors %s\n' "${R[toolhostd-tcp,stream,8,rps]}" \
		"${R[toolhostd-tcp,stream,8,p50_ms]}" "${R[toolhostd-tcp,stream,8,p99_ms]}" \
		"${R[toolhostd-tcp,stream,8,errors]}"
	[ "${R[toolhostd-tcp,stream,8,errors]}" = 0 ] || FAILED=$((FAILED + 1))
fi
# ---- WebSocket turns -------------------------------------------------------------------------------

# The same turn over a WebSocket (wsload) and over HTTP/SSE on a kept-alive connection (loadgen,
# target "sse"), point after point on the same daemon: c=1 then c=64. One handshake first: a daemon
# that refuses the upgrade gets its WebSocket rows printed as "-" and a missed target.
WS_OK=0 WS_WHY=""
if [ "$DIRECT_ONLY" != 1 ]; then
	if "$WSLOAD" --unix "$SOCK" --hold 1 --hold-seconds 0 --timeout 5 >"$TMP/ws-probe.out" 2>"$TMP/ws-probe.log" &&
		[ "$(field "$(head -n 1 "$TMP/ws-probe.out")" open)" = 1 ]; then
		WS_OK=1
	else
		WS_WHY=$(head -n 1 "$TMP/ws-probe.log")
		echo "bench: no WebSocket on $SOCK (${WS_WHY:-wsload failed}): WebSocket rows skipped"
	fi
fi
# One point of each is at the mercy of this shared machine (a WS/SSE CPU ratio of one pair ranged from
# 0.94 to 1.14 between runs): WS_ROUNDS pairs instead, the order swapped every round so that a drift
# favours neither, and the table shows each figure's median over the rounds and the median of the
# rounds' WS/SSE ratios.
median() { # numbers... -> their median
	printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2];
		else printf "%.3f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
declare -A WSR=()
if [ "$WS_OK" = 1 ]; then
	for c in 1 64; do
		for ((round = 1; round <= WS_ROUNDS; round++)); do
			order="sse ws"
			[ $((round % 2)) = 0 ] && order="ws sse"
			for target in $order; do
				printf '  %-9s %-6s c=%-3s round %s ' "$target" turn "$c" "$round"
				SECS=$WS_SECS WARM=0 run_point "$target" stream "$c"
				printf '%10s turns/s  p50 %s ms  p99 %s ms  CPU %s us  errors %s\n' "${R[$target,stream,$c,rps]}" \
					"${R[$target,stream,$c,p50_ms]}" "${R[$target,stream,$c,p99_ms]}" \
					"${R[$target,stream,$c,cpu]:--}" "${R[$target,stream,$c,errors]}"
				[ "${R[$target,stream,$c,errors]}" = 0 ] || FAILED=$((FAILED + 1))
				for f in rps p50_ms p99_ms; do
					WSR[$target,$c,$f]+="${R[$target,stream,$c,$f]} "
				done
				read -r u _ k <<<"${R[$target,stream,$c,cpu]:-0 + 0}"
				WSR[$target,$c,user]+="$u " WSR[$target,$c,kernel]+="$k " WSR[$target,$c,cpu$round]=$((u + k))
				WSR[$target,$c,errors]=$((${WSR[$target,$c,errors]:-0} + ${R[$target,stream,$c,errors]:-0}))
			done
			WSR[ratio,$c]+="$(calc "sprintf(\"%.3f\", ${R[ws,stream,$c,rps]:-0} / (${R[sse,stream,$c,rps]:-0} + 1e-9))") "
			WSR[cpuratio,$c]+="$(calc "sprintf(\"%.3f\", ${WSR[ws,$c,cpu$round]} / (${WSR[sse,$c,cpu$round]} + 1e-9))") "
		done
		for target in sse ws; do
			for f in rps p50_ms p99_ms; do
				# shellcheck disable=SC2086 # the list is numbers split on purpose
				R[$target,stream,$c,$f]=$(median ${WSR[$target,$c,$f]})
			done
			# shellcheck disable=SC2086
			R[$target,stream,$c,cpu]="$(median ${WSR[$target,$c,user]}) + $(median ${WSR[$target,$c,kernel]})"
			R[$target,stream,$c,errors]=${WSR[$target,$c,errors]}
		done
		# shellcheck disable=SC2086
		WSR[ratio,$c]=$(calc "sprintf(\"%.2f\", $(median ${WSR[ratio,$c]}))")
		# shellcheck disable=SC2086
		WSR[cpuratio,$c]=$(calc "sprintf(\"%.2f\", $(median ${WSR[cpuratio,$c]}))")
	done
fi

HWM_FAST=""
if [ "$DIRECT_ONLY" != 1 ]; then
	HWM_FAST=$(vm_kb "$DAEMON_PID" VmHWM)
	kill -0 "$DAEMON_PID" 2>/dev/null || die "toolhostd exited during the bench (see $OUT/logs)"
	stop_pid "$DAEMON_PID"
	DAEMON_PID=""
fi

# ---- idle connections ----------------------------------------------------------------------------

# WS_CONNS idle connections held at once over the Unix socket by one wsload, each on a fresh daemon:
# plain HTTP keep-alive after one GET /healthz (what lws itself costs per connection), then
# WebSocket after the handshake and one generate:false create (no upstream call). RSS per
# connection = (VmRSS while held - VmRSS before) / WS_CONNS. lws closes an idle keep-alive
# connection after 60 s (toolhostd's keepalive_timeout): the RSS is read as soon as all are open.
declare -A IDLE # IDLE[kind,field]
hold_idle() { # kind (http | ws)
	local kind=$1 i line args
	start_daemon "idle-$kind" "$UP/v1" # sets SOCK
	args=(--unix "$SOCK" --hold "$WS_CONNS" --pending 256 --hold-seconds 50 --timeout 30)
	[ "$kind" = http ] && args+=(--http)
	[ "$kind" = ws ] && args+=(--body "$TMP/req-ws-warm.json")
	IDLE[$kind,base]=$(vm_kb "$DAEMON_PID" VmRSS)
	"$WSLOAD" "${args[@]}" >"$TMP/idle-$kind.out" 2>>"$TMP/wsload.log" &
	LOADGEN_PID=$!
	line=""
	for ((i = 0; i < 1200; i++)); do # the first line comes once all are open or failed: 120 s at most
		line=$(head -n 1 "$TMP/idle-$kind.out")
		[ -n "$line" ] && break
		kill -0 "$LOADGEN_PID" 2>/dev/null || break
		sleep 0.1
	done
	IDLE[$kind,held]=$(vm_kb "$DAEMON_PID" VmRSS)
	IDLE[$kind,fds]=$(find "/proc/$DAEMON_PID/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
	stop_pid "$LOADGEN_PID"
	LOADGEN_PID=""
	IDLE[$kind,open]=$(field "$line" open)
	IDLE[$kind,errors]=$(field "$line" errors)
	IDLE[$kind,secs]=$(field "$line" seconds)
	IDLE[$kind,per]=$(calc "${IDLE[$kind,open]:-0} > 0 && ${IDLE[$kind,held]:-0} > 0 ? \
		sprintf(\"%.2f\", (${IDLE[$kind,held]:-0} - ${IDLE[$kind,base]:-0}) / ${IDLE[$kind,open]:-1}) : \"-\"")
	echo "$kind idle n=$WS_CONNS $line base_rss_kb=${IDLE[$kind,base]} held_rss_kb=${IDLE[$kind,held]}" >>"$OUT/results.txt"
	kill -0 "$DAEMON_PID" 2>/dev/null || die "toolhostd exited while holding $WS_CONNS idle $kind connections"
	stop_pid "$DAEMON_PID"
	DAEMON_PID=""
}
if [ "$DIRECT_ONLY" != 1 ]; then
	if [ "$NOFILE" -lt $((WS_CONNS + 64)) ]; then
		echo "bench: warning: the open-files limit is $NOFILE; $WS_CONNS idle connections need" \
			"$WS_CONNS descriptors in wsload and as many in toolhostd" >&2
	fi
	echo "bench: $WS_CONNS idle HTTP keep-alive connections (after one GET /healthz) held on a fresh toolhostd"
	hold_idle http
	if [ "$WS_OK" = 1 ]; then
		echo "bench: $WS_CONNS idle WebSocket connections (after the handshake and a generate:false create)" \
			"held on a fresh toolhostd"
		hold_idle ws
	fi
fi

# ---- slow streams ------------------------------------------------------------------------------

hold() { # target -> its JSON line in LINE
	local args=(--hold --stream --concurrency "$STREAMS" --duration 120 --pending 256)
	case $1 in
	toolhostd) args+=(--body "$TMP/req-stream.json" --unix "$SOCK" --url http://localhost/v1/responses) ;;
	# What toolhostd's upstream transfers are, without toolhostd: its body, its curl settings.
	libcurl) args+=(--body tests/bench/chat-request.json --url "$UP2/slow/v1/chat/completions" --http2
		--cacert "$CERT" --recv-buffer 1024 --upload-buffer 16384) ;;
	*) args+=(--body "$TMP/req-stream.json" --url "$UP/slow/v1/chat/completions") ;;
	esac
	loadgen "$1 hold" "${args[@]}"
	echo "$1 hold n=$STREAMS $LINE" >>"$OUT/results.txt"
}

HWM_SLOW="" RSS_SLOW="" FDS_PEAK="" SLOW_PROTO="HTTP/1.1"
if [ "$DIRECT_ONLY" = 1 ]; then
	echo "bench: $STREAMS slow streams directly from nginx ($RATE bytes/s after the first 512 bytes)"
	hold direct
	HOLD=$LINE
else
	# HTTP/2 over TLS to the upstream, trusting the run's certificate alone.
	SLOW_URL="$UP2/slow/v1" SLOW_KEYS=",\"http2\":true,\"ca_file\":\"$CERT\""
	write_config slow "$SLOW_URL" "$SLOW_KEYS"
	if ! "$DAEMON" -n -c "$TMP/slow.json" >"$TMP/toolhostd-check.log" 2>&1; then
		die "$DAEMON refuses the slow-stream config (upstream \"http2\": true, \"ca_file\"):" \
			"$(tail -n 1 "$TMP/toolhostd-check.log")"
	fi
	SLOW_PROTO="HTTP/2 over TLS"
	need=$((STREAMS + (STREAMS + 99) / 100 + 64))
	if [ "$NOFILE" -lt "$need" ]; then
		echo "bench: warning: the open-files limit is $NOFILE (hard); $STREAMS streams need about $need" \
			"descriptors in toolhostd (a client socket each, an upstream connection per 100)" >&2
	fi
	start_daemon slow "$SLOW_URL" "$SLOW_KEYS"
	RSS_SLOW=$(vm_kb "$DAEMON_PID" VmRSS) # before the streams: the base of its RSS per stream
	echo "bench: $STREAMS slow streams through toolhostd ($RATE bytes/s upstream after the first 512 bytes," \
		"upstream over $SLOW_PROTO)"
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
	HOLD=$LINE
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

# The floor: the same streams held by libcurl alone (loadgen, toolhostd stopped by now).
echo "bench: $STREAMS slow streams from libcurl alone (loadgen --http2 straight to nginx, HTTP/2 over TLS," \
	"toolhostd's upstream body and curl settings)"
hold libcurl
C_ERR=$(field "$LINE" errors)
C_PEAK=$(field "$LINE" peak_open)
C_BASE=$(field "$LINE" base_rss_kb)
C_HWM=$(field "$LINE" peak_rss_kb)
[ "$C_ERR" = 0 ] || FAILED=$((FAILED + 1))
per_stream() { # base-kB peak-kB -> kB of RSS per slow stream, 1 decimal ("-" when unknown)
	calc "${1:--1} >= 0 && ${2:-0} > ${1:--1} ? sprintf(\"%.1f\", (${2:-0} - ${1:--1}) / $STREAMS) : \"-\""
}
C_PER=$(per_stream "$C_BASE" "$C_HWM")
T_PER=$(per_stream "$RSS_SLOW" "$HWM_SLOW")
T_RATIO=-
if [ "$T_PER" != - ] && [ "$C_PER" != - ]; then
	T_RATIO=$(calc "sprintf(\"%.2f\", ($HWM_SLOW - $RSS_SLOW) / ($C_HWM - $C_BASE))")
fi

# ---- report ------------------------------------------------------------------------------------

echo
echo "toolhost bench ($(nproc) CPUs, nginx $WORKERS worker(s), $SECS s per point; raw lines in $OUT/results.txt)"
if [ "$DIRECT_ONLY" = 1 ]; then
	printf '%-6s %3s | %10s %7s %7s %4s | %11s %7s %7s %4s | %5s\n' mode c "direct r/s" "p50 ms" "p99 ms" \
		err "nginx proxy" "p50 ms" "p99 ms" err "p/dir"
	for mode in json stream; do
		for c in 1 8 64; do
			d="direct,$mode,$c" p="proxy,$mode,$c"
			printf '%-6s %3s | %10s %7s %7s %4s | %11s %7s %7s %4s | %5s\n' "$mode" "$c" \
				"${R[$d,rps]}" "${R[$d,p50_ms]}" "${R[$d,p99_ms]}" "${R[$d,errors]}" \
				"${R[$p,rps]}" "${R[$p,p50_ms]}" "${R[$p,p99_ms]}" "${R[$p,errors]}" "$(ratio "$mode" "$c" proxy direct)"
		done
	done
	echo "(r/s = successful requests per second; p/dir = nginx proxy r/s / direct r/s)"
	for mode in json stream; do
		echo "info: $mode: nginx proxy at c=64: $(ratio "$mode" 64 proxy direct) of direct"
	done
	echo
	echo "slow streams (direct): $STREAMS, errors $H_ERR, peak open $H_PEAK, $H_SECS s, one stream p50 $H_P50 ms, max $H_MAX ms"
	echo "info: slow streams, libcurl alone (HTTP/2 over TLS): $STREAMS, errors $C_ERR, peak open $C_PEAK," \
		"peak RSS $(calc "sprintf(\"%.1f MB\", ${C_HWM:-0} / 1024)"), $C_PER kB per stream"
	echo "(BENCH_DIRECT_ONLY=1: no toolhostd figures, no targets checked)"
	[ "$FAILED" = 0 ] && [ "$H_ERR" = 0 ] || exit 1
	exit 0
fi

TABLE='%-6s %3s | %9s %7s %7s %4s | %9s %7s %7s %4s | %11s %7s %7s %4s | %5s %5s\n'
# shellcheck disable=SC2059 # the format is the table's, in one place
printf "$TABLE" mode c toolhostd "p50 ms" "p99 ms" err direct "p50 ms" "p99 ms" err "nginx proxy" "p50 ms" \
	"p99 ms" err t/dir t/prx
for mode in json stream; do
	for c in 1 8 64; do
		t="toolhostd,$mode,$c" d="direct,$mode,$c" p="proxy,$mode,$c"
		# shellcheck disable=SC2059
		printf "$TABLE" "$mode" "$c" \
			"${R[$t,rps]}" "${R[$t,p50_ms]}" "${R[$t,p99_ms]}" "${R[$t,errors]}" \
			"${R[$d,rps]}" "${R[$d,p50_ms]}" "${R[$d,p99_ms]}" "${R[$d,errors]}" \
			"${R[$p,rps]}" "${R[$p,p50_ms]}" "${R[$p,p99_ms]}" "${R[$p,errors]}" \
			"$(ratio "$mode" "$c" toolhostd direct)" "$(ratio "$mode" "$c" toolhostd proxy)"
	done
done
echo "(r/s = successful requests per second; t/dir = toolhostd r/s / direct r/s; t/prx = toolhostd r/s /"
echo " nginx proxy r/s; nginx proxy = a second nginx proxying to the canned one over kept-alive HTTP/1.1)"
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
for mode in json stream; do
	printf '%-46s %-28s %s\n' "$mode: nginx proxy at c=64" "$(ratio "$mode" 64 proxy direct) of direct" info
	printf '%-46s %-28s %s\n' "$mode: toolhostd at c=64" "$(ratio "$mode" 64 toolhostd proxy) of nginx proxy" info
	printf '%-46s %-28s %s\n' "$mode: CPU us/request at c=64, toolhostd" "${R[toolhostd,$mode,64,cpu]:-?} (user + kernel)" info
	printf '%-46s %-28s %s\n' "$mode: CPU us/request at c=64, nginx proxy" "${R[proxy,$mode,64,cpu]:-?} (user + kernel)" info
done
printf '%-46s %-28s %s\n' "stream: c=8 over loopback TCP (r/s, p50)" \
	"${R[toolhostd-tcp,stream,8,rps]}, ${R[toolhostd-tcp,stream,8,p50_ms]} ms (Unix ${R[toolhostd,stream,8,rps]})" info
printf '%-46s %-28s %s\n' "peak RSS after the c=1..64 runs" \
	"$(calc "sprintf(\"%.1f MB\", ${HWM_FAST:-0} / 1024)") (VmHWM)" "-"
row "$STREAMS slow streams: 0 errors" "$H_ERR errors" "$H_ERR == 0"
row "$STREAMS slow streams: all open at once" "peak $H_PEAK open" "$H_PEAK >= $STREAMS"
row "$STREAMS slow streams: peak RSS < 200 MB" "$(calc "sprintf(\"%.1f MB\", ${HWM_SLOW:-0} / 1024)") (VmHWM)" \
	"${HWM_SLOW:-0} > 0 && ${HWM_SLOW:-0} < 200 * 1024"
printf '%-46s %-28s %s\n' "slow streams: toolhostd RSS per stream" "$T_PER kB" info
printf '%-46s %-28s %s\n' "slow streams: libcurl alone, peak RSS" \
	"$(calc "sprintf(\"%.1f MB\", ${C_HWM:-0} / 1024)") (VmHWM)" info
printf '%-46s %-28s %s\n' "slow streams: libcurl alone, RSS per stream" "$C_PER kB" info
printf '%-46s %-28s %s\n' "slow streams: libcurl alone, errors, peak open" "$C_ERR errors, peak $C_PEAK open" info
printf '%-46s %-28s %s\n' "slow streams: toolhostd / libcurl, per stream" "$T_RATIO" info
echo "(slow streams: $H_SECS s in all; one stream p50 $H_P50 ms, max $H_MAX ms (about $(calc "int(($(wc -c <tests/bench/chat-slow.sse) - 512) / $RATE)") s unhindered);" \
	"toolhostd peak descriptors ${FDS_PEAK:-?} of $NOFILE; upstream over $SLOW_PROTO)"
echo "(RSS per stream = (peak VmHWM - VmRSS before the streams) / $STREAMS; libcurl alone = loadgen holding the"
echo " same streams straight to nginx with toolhostd's upstream body and curl settings, toolhostd stopped)"
echo "(info rows: not targets, not counted)"

echo
echo "WebSocket: the same turn as one response.create message and as a streaming POST on a kept-alive connection"
WSTABLE='%-9s %3s | %9s %7s %7s %4s %9s | %13s | %s\n'
# shellcheck disable=SC2059
printf "$WSTABLE" transport c "turns/s" "p50 ms" "p99 ms" err "added ms" "CPU us/turn" "WS/SSE turns/s, CPU"
for c in 1 64; do
	for target in sse ws; do
		k="$target,stream,$c" added=- vs=""
		[ -n "${R[$k,p50_ms]:-}" ] && added=$(calc "sprintf(\"%.3f\", ${R[$k,p50_ms]} - ${R[direct,stream,$c,p50_ms]:-0})")
		if [ "$target" = ws ] && [ -n "${R[$k,rps]:-}" ]; then
			vs="${WSR[ratio,$c]:--}, ${WSR[cpuratio,$c]:--}"
		fi
		# shellcheck disable=SC2059
		printf "$WSTABLE" "$target" "$c" "${R[$k,rps]:--}" "${R[$k,p50_ms]:--}" "${R[$k,p99_ms]:--}" \
			"${R[$k,errors]:--}" "$added" "${R[$k,cpu]:--}" "$vs"
	done
done
echo "(medians over $WS_ROUNDS rounds of $WS_SECS s per point, the order swapped each round; WS/SSE = the median of the"
echo " rounds' ratios; added = p50 - the direct nginx streaming p50 at the same c; CPU = toolhostd user + kernel"
echo " per turn over the point; sse = loadgen's streaming POST, ws = wsload's response.create, store:false, same daemon)"
printf '%-46s %-28s %s\n' "idle HTTP keep-alive x $WS_CONNS: lws' floor" \
	"${IDLE[http,per]:--} kB/conn" info
printf '%-46s %-28s %s\n' "idle HTTP keep-alive: open, errors, RSS" \
	"${IDLE[http,open]:--}, ${IDLE[http,errors]:--}, ${IDLE[http,base]:--} -> ${IDLE[http,held]:--} kB" info
if [ "$WS_OK" = 1 ]; then
	ws_cpu=${WSR[cpuratio,64]:-99}
	row "WebSocket: CPU per turn <= SSE's (c=64)" "$ws_cpu of SSE" "$ws_cpu <= 1"
	row "idle WebSocket x $WS_CONNS: all open" "${IDLE[ws,open]:-0} open, ${IDLE[ws,errors]:-?} errors" \
		"${IDLE[ws,open]:-0} >= $WS_CONNS"
	row "idle WebSocket: RSS < 4 kB/conn above idle" "${IDLE[ws,per]:--} kB/conn" \
		"\"${IDLE[ws,per]:--}\" != \"-\" && ${IDLE[ws,per]:-99} < 4"
	printf '%-46s %-28s %s\n' "idle WebSocket: RSS, over lws' HTTP floor" \
		"${IDLE[ws,base]:--} -> ${IDLE[ws,held]:--} kB, +$(calc "\"${IDLE[ws,per]:--}\" != \"-\" && \"${IDLE[http,per]:--}\" != \"-\" ? \
			sprintf(\"%.2f\", ${IDLE[ws,per]:-0} - ${IDLE[http,per]:-0}) : \"-\"") kB/conn" info
else
	row "WebSocket rows: toolhostd accepts the upgrade" "${WS_WHY:-no}" 0
fi

[ "$FAILED" = 0 ] || echo "bench: $FAILED point(s) had failed requests (see $OUT/logs/loadgen.log)"
[ "$MISSED" = 0 ] || echo "bench: $MISSED target(s) missed"
if [ "$FAILED" != 0 ] || [ "$MISSED" != 0 ]; then
	[ "${BENCH_LENIENT:-0}" = 1 ] || exit 1
fi
exit 0
