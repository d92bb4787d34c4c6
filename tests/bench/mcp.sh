#!/bin/bash
# MCP client benchmark (part of `make bench`; or tests/bench/mcp.sh after building
# build/release/toolhost-mcp).
#
# Against one local MCP server (tests/fakes/mcp-fault.mjs, the SDK's Streamable HTTP transport), side
# by side in one run, `echo` tool calls with 1 and 16 in flight made by:
#   toolhost   mcpclient through build/release/toolhost-mcp: one pooled session
#   sdk-percall an @modelcontextprotocol/sdk client created and connected per call, never closed
#              (what the Node reference server responses.js does)
#   sdk-reused one connected SDK client
# and prints calls/s, p50/p99 latency, HTTP requests per call (from the client's own counter for
# toolhost; from the server's request counter for the SDK) and the ratios. Also the HTTP requests
# a cached tool listing costs (target 0) and a steady-state call costs (target exactly 1).
# Environment: BENCH_MCP_CALLS (2000) calls per toolhost point, BENCH_MCP_SDK_CALLS (400) per SDK
# point (the per-call SDK client is slow). Exit 1 when a target is missed (BENCH_LENIENT=1: 0).
set -euo pipefail
cd "$(dirname "$0")/../.."

CALLS=${BENCH_MCP_CALLS:-2000}
SDK_CALLS=${BENCH_MCP_SDK_CALLS:-400}
CLI=${TOOLHOST_MCP:-build/release/toolhost-mcp}
[ -x "$CLI" ] || { echo "bench-mcp: $CLI not built (make build/release/toolhost-mcp)" >&2; exit 2; }
[ -d tests/node_modules/@modelcontextprotocol/sdk ] || { echo "bench-mcp: npm packages missing (make deps)" >&2; exit 2; }

TMP=$(mktemp -d)
SERVER_PID=
cleanup() {
	[ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true
	rm -rf "$TMP"
}
trap cleanup EXIT

# The server exits when its stdin closes; keep a pipe open for it.
mkfifo "$TMP/stdin"
sleep 3600 >"$TMP/stdin" &
HOLD_PID=$!
node tests/fakes/mcp-fault.mjs --port 0 <"$TMP/stdin" >"$TMP/server.out" 2>&1 &
SERVER_PID=$!
for _ in $(seq 100); do
	grep -q '^listening' "$TMP/server.out" && break
	sleep 0.1
done
PORT=$(awk '/^listening/ {print $2}' "$TMP/server.out")
[ -n "$PORT" ] || { echo "bench-mcp: the MCP server did not start" >&2; cat "$TMP/server.out" >&2; exit 2; }
URL="http://127.0.0.1:$PORT/mcp"
echo "bench-mcp: MCP server $URL (pid $SERVER_PID)"

field() { # json-line name
	sed -nE "s/.*\"$2\":([^,}]*).*/\1/p" <<<"$1" | tr -d '"' | head -n 1
}
misses=0

declare -A R
for c in 1 16; do
	line=$("$CLI" -c echo -a '{"message":"hello"}' -n "$CALLS" -j "$c" "$URL")
	R[toolhost,$c]=$line
	for mode in percall reused; do
		line=$(cd tests && node bench/mcp-sdk-bench.mjs "$URL" --calls "$SDK_CALLS" --concurrency "$c" \
			--modes "$mode" --max-seconds 60 | tail -n 1)
		R[sdk-$mode,$c]=$line
	done
done

# A listing served from the cache: the second list of one client costs no HTTP request.
list_line=$(printf '[{"op":"list"},{"op":"stats"},{"op":"list"},{"op":"stats"}]' | "$CLI" -x - "$URL" |
	awk '/"op":"stats"/' | sed -nE 's/.*"http_requests":([0-9]+).*/\1/p' | paste -sd' ')
read -r before after <<<"$list_line"
cached_requests=$((after - before))

echo
echo "toolhost MCP client bench ($(nproc) CPUs; echo tool on a local SDK server; $CALLS toolhost calls, $SDK_CALLS SDK calls per point)"
printf '%-12s %3s | %9s %8s %8s %10s\n' client c "calls/s" "p50 ms" "p99 ms" "HTTP/call"
for c in 1 16; do
	for who in toolhost sdk-percall sdk-reused; do
		l=${R[$who,$c]}
		printf '%-12s %3s | %9.0f %8.2f %8.2f %10s\n' "$who" "$c" "$(field "$l" calls_per_s)" "$(field "$l" p50_ms)" \
			"$(field "$l" p99_ms)" "$(field "$l" http_requests_per_call)"
	done
done
echo
for c in 1 16; do
	t=$(field "${R[toolhost,$c]}" calls_per_s)
	p=$(field "${R[sdk-percall,$c]}" calls_per_s)
	u=$(field "${R[sdk-reused,$c]}" calls_per_s)
	awk -v c="$c" -v t="$t" -v p="$p" -v u="$u" \
		'BEGIN { printf "c=%-3s toolhost / sdk-percall = %.1fx   toolhost / sdk-reused = %.2fx\n", c, t / p, t / u }'
done
steady=$(field "${R[toolhost,16]}" http_requests_per_call)
errors=$(( $(field "${R[toolhost,1]}" errors) + $(field "${R[toolhost,16]}" errors) ))
printf 'HTTP requests per steady-state call: %s (target exactly 1)\n' "$steady"
printf 'HTTP requests for a cached listing:  %s (target 0)\n' "$cached_requests"
printf 'toolhost call errors: %s\n' "$errors"
[ "$steady" = "1.0" ] || [ "$steady" = "1" ] || misses=$((misses + 1))
[ "$cached_requests" -eq 0 ] || misses=$((misses + 1))
[ "$errors" -eq 0 ] || misses=$((misses + 1))
kill "$HOLD_PID" 2>/dev/null || true
if [ "$misses" -gt 0 ]; then
	echo "bench-mcp: $misses target(s) missed"
	[ "${BENCH_LENIENT:-0}" = 1 ] || exit 1
fi
