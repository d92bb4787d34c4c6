#!/bin/bash
# MCP response benchmark (part of `make bench`; or tests/bench/mcp-responses.sh after building
# build/release/toolhostd).
#
# One POST /v1/responses with one auto-approved MCP call, so two model turns:
#   {model:"bench", input:"say hi", tools:[{type:"mcp", server_label:"bench", require_approval:"never"}],
#    store:false}
# through toolhostd's Unix socket, against tests/bench/fastpeer.mjs: one Node process that is both the
# upstream (it asks for the MCP tool `echo`, then answers once it sees the tool result) and the MCP
# server (JSON answers, no SSE). At concurrency 8 and 64 it prints responses/s, p50/p99 latency and
# errors; the HTTP requests fastpeer saw per response, to the MCP server (target 1: the tools/call;
# session and tool listing are reused across responses) and to the upstream (expected 2); and the CPU
# of toolhostd, fastpeer and loadgen during the point (all three share this machine: when fastpeer is
# near 100% of a core it, not toolhostd, may be what limits the figure). One more point at c=8 with a
# plain body (no tools, one model turn) against the same fastpeer is the ceiling to compare with.
# Reference: the Node server responses.js, about 120 responses/s (p99 140 ms) at c=8 with 4 MCP
# requests per response; the target is 20 times that at c=8, 2400 responses/s.
#
# Each point: a warm-up of BENCH_WARMUP s (at least 0.5) that also measures the rate, then exactly
# rate x BENCH_SECONDS requests (loadgen's counted mode), so that fastpeer's counters, reset
# between the two, divide exactly by the number of responses.
#
# Environment: BENCH_SECONDS (5) per point, BENCH_WARMUP (1), TOOLHOSTD (build/release/toolhostd),
# BENCH_LENIENT=1. Exit status 1 when a target is missed or a request failed (BENCH_LENIENT=1: 0),
# 2 when the bench could not run. Raw loadgen lines go to build/bench/mcp-responses.txt, the logs of
# the last run to build/bench/logs-mcp-responses/. The figures need an otherwise idle machine: the
# script warns when it was busy before the first point. Whole run: about 3 x (BENCH_SECONDS +
# BENCH_WARMUP) + 3 s, about 20 s with the defaults.
set -euo pipefail
cd "$(dirname "$0")/../.."

SECS=${BENCH_SECONDS:-5}
WARM=${BENCH_WARMUP:-1}
DAEMON=${TOOLHOSTD:-build/release/toolhostd}
OUT=build/bench
REF_RPS=120 REF_P99=140 REF_MCP=4 TARGET_X=20

die() {
	echo "bench-mcp-responses: $*" >&2
	exit 2
}

for v in "$SECS" "$WARM"; do
	[[ $v =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "not a number: '$v'"
done
command -v curl >/dev/null || die "curl not found"
command -v node >/dev/null || die "node not found"
[ -x "$DAEMON" ] || die "$DAEMON is missing: build it first (make bench does)"

mkdir -p "$OUT"
TMP=$(mktemp -d /tmp/toolhost-bench-mcpr.XXXXXX)
PEER_PID="" DAEMON_PID="" LOADGEN_PID=""

# shellcheck source=tests/bench/lib.sh
. tests/bench/lib.sh

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
	stop_pid "$LOADGEN_PID"
	stop_pid "$DAEMON_PID"
	stop_pid "$PEER_PID"
	rm -rf "$OUT/logs-mcp-responses"
	mkdir -p "$OUT/logs-mcp-responses"
	cp "$TMP"/*.log "$OUT/logs-mcp-responses/" 2>/dev/null || true
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
trap 'echo "bench-mcp-responses: unexpected failure at line $LINENO" >&2; exit 2' ERR

# Built in the temp dir so that a concurrent run.sh never sees a half-written binary.
LOADGEN=$TMP/loadgen
# shellcheck disable=SC2046
cc -O2 -std=c11 -D_GNU_SOURCE tests/bench/loadgen.c $(pkg-config --cflags --libs libcurl) -o "$LOADGEN" ||
	die "cannot build loadgen"

# ---- fastpeer and toolhostd --------------------------------------------------------------------

: >"$TMP/fastpeer.out" # before the background job opens it, so that head never misses it
node tests/bench/fastpeer.mjs --port 0 >"$TMP/fastpeer.out" 2>"$TMP/fastpeer.log" &
PEER_PID=$!
UP=""
for ((i = 0; i < 100; i++)); do
	UP=$(head -n 1 "$TMP/fastpeer.out") || true
	[ -n "$UP" ] && break
	kill -0 "$PEER_PID" 2>/dev/null || break
	sleep 0.1
done
[ -n "$UP" ] || {
	cat "$TMP/fastpeer.log" >&2
	die "fastpeer did not start"
}

SOCK=$TMP/toolhostd.sock
cat >"$TMP/toolhostd.json" <<EOF
{"listen":{"unix":{"path":"$SOCK"}},
 "upstreams":[{"name":"fastpeer","base_url":"$UP/v1","default":true}],
 "mcp_servers":[{"label":"bench","url":"$UP/mcp"}],
 "store":{"path":"$TMP/store.db"},
 "log_level":"warning",
 "limits":{"max_connections":20000}}
EOF
"$DAEMON" -c "$TMP/toolhostd.json" >"$TMP/toolhostd.log" 2>&1 &
DAEMON_PID=$!
for ((i = 0; i < 100; i++)); do
	curl -sf --noproxy '*' --max-time 2 --unix-socket "$SOCK" -o /dev/null http://localhost/healthz && break
	kill -0 "$DAEMON_PID" 2>/dev/null || i=100
	sleep 0.1
done
if ((i >= 100)); then
	tail -n 20 "$TMP/toolhostd.log" >&2
	die "toolhostd did not answer GET /healthz on $SOCK within 10 s"
fi
echo "bench-mcp-responses: fastpeer $UP (pid $PEER_PID), toolhostd pid $DAEMON_PID"

printf '%s' '{"model":"bench","input":"say hi","tools":[{"type":"mcp","server_label":"bench","require_approval":"never"}],"store":false}' >"$TMP/req-mcp.json"
printf '%s' '{"model":"bench","input":"say hi","store":false}' >"$TMP/req-plain.json"

peer() { # method path -> body
	curl -sf --noproxy '*' --max-time 5 -X "$1" "$UP$2" || die "fastpeer $1 $2 failed"
}

# fastpeer's /_stats as STATS="mcp_http chat_http tools_call method:n,method:n...".
STATS_JS='let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const j=JSON.parse(s);let m=0,c=0;
for(const[k,v]of Object.entries(j.paths)){if(k.endsWith(" /mcp"))m+=v;if(k==="POST /v1/chat/completions")c+=v}
const l=Object.entries(j.mcp).map(([k,v])=>k+":"+v).join(",")||"-";
console.log(m,c,j.mcp["tools/call"]||0,l)})'
peer_stats() {
	local s
	s=$(peer GET /_stats)
	STATS=$(node -e "$STATS_JS" <<<"$s")
}

# One response before timing anything: a broken path shows up as its answer, not as a column of
# figures that measure error pages.
CHECK_JS='let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const bad=m=>{console.log(m);process.exit(1)};
let r;try{r=JSON.parse(s)}catch{bad("the answer is not JSON")}
if(r.status!=="completed")bad("status "+JSON.stringify(r.status)+", not completed");
const o=Array.isArray(r.output)?r.output:[];const c=o.find(i=>i&&i.type==="mcp_call");
if(!c)bad("no mcp_call item in output");
if(c.status!=="completed"||c.error||c.output!=="hi")bad("mcp_call not completed with output \"hi\": "+JSON.stringify(c));
const last=o[o.length-1];if(!last||last.type!=="message"||o.indexOf(c)>o.indexOf(last))bad("no final message after the mcp_call");
console.log("ok "+o.map(i=>i.type).join(","))})'
peer POST /_reset >/dev/null
got=$(curl -s --noproxy '*' --max-time 10 --unix-socket "$SOCK" -w '\n%{http_code}' \
	-H 'Content-Type: application/json' --data-binary @"$TMP/req-mcp.json" http://localhost/v1/responses) || true
code=${got##*$'\n'} body=${got%$'\n'*}
checked=$(node -e "$CHECK_JS" <<<"$body") || true
if [ "$code" != 200 ] || [[ $checked != ok* ]]; then
	echo "$body" | head -c 2000 >&2
	echo >&2
	die "the MCP response through toolhostd did not complete with an mcp_call item and a final message (HTTP $code: $checked)"
fi
peer_stats
read -r cold_mcp _ _ cold_methods <<<"$STATS"
echo "bench-mcp-responses: check ok (output ${checked#ok }); the first response cost $cold_mcp MCP HTTP requests ($cold_methods)"
got=$(curl -s --noproxy '*' --max-time 10 --unix-socket "$SOCK" -o /dev/null -w '%{http_code}' \
	-H 'Content-Type: application/json' --data-binary @"$TMP/req-plain.json" http://localhost/v1/responses) || true
[ "$got" = 200 ] || die "the plain POST /v1/responses through toolhostd answered $got"

# ---- measuring ---------------------------------------------------------------------------------

HZ=$(getconf CLK_TCK)
NCPU=$(nproc)
cpu_ticks() { # pid -> utime + stime
	sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}
child_cpu() { # -> CHILD: seconds of user + system time of this shell's reaped children
	# `times` in this shell, not in a $(...) subshell, whose children are not loadgen.
	times >"$TMP/times"
	CHILD=$(tail -n 1 "$TMP/times" | awk '{ s = 0; for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); s += a[1] * 60 + a[2] } print s }')
}
machine() { # -> "busy total" jiffies of all CPUs from /proc/stat (softirq, the loopback's cost, included)
	awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9; exit }' /proc/stat
}
field() { # json-line name
	sed -n "s/.*\"$2\":\([-0-9.]*\).*/\1/p" <<<"$1"
}
calc() { # awk expression
	awk "BEGIN { printf \"%s\", ($1) }"
}

# Runs loadgen in the background and waits for it, so that a signal is handled at once; its JSON
# line lands in LINE.
loadgen() { # what args...
	local what=$1
	shift
	"$LOADGEN" "$@" --unix "$SOCK" --url http://localhost/v1/responses >"$TMP/loadgen.out" 2>>"$TMP/loadgen.log" &
	LOADGEN_PID=$!
	wait "$LOADGEN_PID" || die "loadgen failed ($what; see $OUT/logs-mcp-responses/loadgen.log)"
	LOADGEN_PID=""
	LINE=$(cat "$TMP/loadgen.out")
	if ! kill -0 "$DAEMON_PID" 2>/dev/null; then
		wait "$DAEMON_PID" 2>/dev/null && rc=0 || rc=$?
		DAEMON_PID=""
		die "toolhostd died during $what (exit status $rc; see $OUT/logs-mcp-responses)"
	fi
}

declare -A R # R[point,field]
: >"$OUT/mcp-responses.txt"
run_point() { # name body c
	local p=$1 body=$2 c=$3 warm n t0 t1 d0 d1 f0 f1 l0 l1 m0 m1 mt0 mt1 wall mcp chat calls methods
	warm=$(calc "$WARM < 0.5 ? 0.5 : $WARM")
	loadgen "$p warm-up" --body "$body" --concurrency "$c" --duration "$warm"
	n=$(calc "int($(field "$LINE" rps) * $SECS)")
	[ "$n" -ge $((10 * c)) ] || n=$((10 * c))
	peer POST /_reset >/dev/null
	child_cpu
	read -r m0 mt0 <<<"$(machine)"
	d0=$(cpu_ticks "$DAEMON_PID") f0=$(cpu_ticks "$PEER_PID") l0=$CHILD t0=$(date +%s%N)
	loadgen "$p" --body "$body" --concurrency "$c" --requests "$n" --duration "$(calc "$SECS * 4 + 10")"
	t1=$(date +%s%N)
	read -r m1 mt1 <<<"$(machine)"
	child_cpu
	l1=$CHILD
	d1=$(cpu_ticks "$DAEMON_PID") f1=$(cpu_ticks "$PEER_PID")
	peer_stats
	read -r mcp chat calls methods <<<"$STATS"
	echo "$p $LINE fastpeer $mcp $chat $calls $methods" >>"$OUT/mcp-responses.txt"
	wall=$(calc "($t1 - $t0) / 1e9")
	for f in requests errors rps p50_ms p99_ms; do
		R[$p,$f]=$(field "$LINE" "$f")
	done
	R[$p,mcp]=$(calc "sprintf(\"%.2f\", $mcp / $n)")
	R[$p,up]=$(calc "sprintf(\"%.2f\", $chat / $n)")
	R[$p,calls]=$(calc "sprintf(\"%.2f\", $calls / $n)")
	R[$p,methods]=$methods
	R[$p,cpu_d]=$(calc "sprintf(\"%.0f\", 100 * ($d1 - $d0) / $HZ / $wall)")
	R[$p,cpu_f]=$(calc "sprintf(\"%.0f\", 100 * ($f1 - $f0) / $HZ / $wall)")
	R[$p,cpu_l]=$(calc "sprintf(\"%.0f\", 100 * ($l1 - $l0) / $wall)")
	# Busy share of the whole machine, and what the three processes do not explain: the kernel's
	# softirq work for loopback TCP, and any other load (a busy neighbour lowers every figure).
	R[$p,busy]=$(calc "sprintf(\"%.0f\", 100 * ($m1 - $m0) / ($mt1 - $mt0 + 1e-9))")
	R[$p,rest]=$(calc "sprintf(\"%.0f\", 100 * $NCPU * ($m1 - $m0) / ($mt1 - $mt0 + 1e-9) - ${R[$p,cpu_d]} - ${R[$p,cpu_f]} - ${R[$p,cpu_l]})")
	printf '  %-6s c=%-3s %8s resp/s  p50 %s ms  p99 %s ms  errors %s  MCP HTTP/resp %s  upstream/resp %s\n' \
		"${p%%-*}" "$c" "${R[$p,rps]}" "${R[$p,p50_ms]}" "${R[$p,p99_ms]}" "${R[$p,errors]}" "${R[$p,mcp]}" "${R[$p,up]}"
}

# Load already on the machine (another build, a fuzzer) lowers every figure: say so up front.
read -r m0 mt0 <<<"$(machine)"
sleep 0.5
read -r m1 mt1 <<<"$(machine)"
PRE_BUSY=$(calc "sprintf(\"%.0f\", 100 * $NCPU * ($m1 - $m0) / ($mt1 - $mt0 + 1e-9))")
if [ "$PRE_BUSY" -ge 20 ]; then
	echo "bench-mcp-responses: warning: the machine was busy before the bench ($PRE_BUSY% of one core" \
		"of $NCPU): the figures below are lower than on an idle machine"
fi
echo "bench-mcp-responses: $SECS s per point after a warm-up of $WARM s"
run_point mcp-8 "$TMP/req-mcp.json" 8
run_point mcp-64 "$TMP/req-mcp.json" 64
run_point plain-8 "$TMP/req-plain.json" 8

# ---- report ------------------------------------------------------------------------------------

MISSED=0 FAILED=0
verdict() { # awk-condition -> V=met | missed (counts misses; not in a subshell, for MISSED)
	V=met
	if [ "$(calc "($1) ? 1 : 0")" != 1 ]; then
		V=missed
		MISSED=$((MISSED + 1))
	fi
}

echo
echo "toolhost MCP response bench ($(nproc) CPUs shared by toolhostd, fastpeer and loadgen; $SECS s per point;" \
	"raw lines in $OUT/mcp-responses.txt)"
printf '%-6s %3s | %8s %8s %8s %6s | %8s %7s | %9s %8s %7s %5s | %5s\n' body c "resp/s" "p50 ms" "p99 ms" errors \
	"MCP/resp" "up/resp" "toolhostd" fastpeer loadgen rest busy
for p in mcp-8 mcp-64 plain-8; do
	printf '%-6s %3s | %8s %8s %8s %6s | %8s %7s | %8s%% %7s%% %6s%% %4s%% | %4s%%\n' "${p%%-*}" "${p##*-}" \
		"${R[$p,rps]}" "${R[$p,p50_ms]}" "${R[$p,p99_ms]}" "${R[$p,errors]}" "${R[$p,mcp]}" "${R[$p,up]}" \
		"${R[$p,cpu_d]}" "${R[$p,cpu_f]}" "${R[$p,cpu_l]}" "${R[$p,rest]}" "${R[$p,busy]}"
	[ "${R[$p,errors]}" = 0 ] || FAILED=$((FAILED + 1))
done
echo "(resp/s = successful responses per second; MCP/resp and up/resp = HTTP requests fastpeer saw per response" \
	"as MCP server and as upstream; CPU in % of one core during the point, rest = kernel softirq and other" \
	"processes; busy = the whole machine's busy share)"
echo
for p in mcp-8 mcp-64; do
	verdict "${R[$p,mcp]} == 1"
	echo "MCP requests per response at c=${p#*-}: ${R[$p,mcp]} (${R[$p,methods]}); target 1 (the tools/call): $V"
	# Each response must have run its tool once and asked the model twice, or loadgen's 200s count
	# answers that did not do the work.
	if [ "${R[$p,calls]}" != 1.00 ] || [ "${R[$p,up]}" != 2.00 ]; then
		echo "  but tools/call per response ${R[$p,calls]} and upstream requests per response ${R[$p,up]} (expected 1 and 2)"
		FAILED=$((FAILED + 1))
	fi
done
x=$(calc "sprintf(\"%.1f\", ${R[mcp-8,rps]} / $REF_RPS)")
verdict "${R[mcp-8,rps]} >= $((REF_RPS * TARGET_X))"
echo "throughput at c=8: ${R[mcp-8,rps]} responses/s = ${x}x responses.js ($REF_RPS/s, p99 $REF_P99 ms, $REF_MCP MCP" \
	"requests per response); target ${TARGET_X}x ($((REF_RPS * TARGET_X))/s): $V"
echo "p99 at c=8: ${R[mcp-8,p99_ms]} ms (responses.js: $REF_P99 ms)"
echo "ceiling: a plain one-turn response at c=8 runs at ${R[plain-8,rps]}/s; the MCP response (two turns and a tool call)" \
	"at $(calc "sprintf(\"%.2f\", ${R[mcp-8,rps]} / (${R[plain-8,rps]} + 1e-9))") of that"
for p in mcp-8 mcp-64 plain-8; do
	if [ "${R[$p,cpu_f]}" -ge 90 ]; then
		echo "note: fastpeer used ${R[$p,cpu_f]}% of a core during ${p%%-*} c=${p#*-}: it is single-threaded and near" \
			"its limit, so that figure may measure fastpeer rather than toolhostd"
	fi
done
for p in mcp-8 mcp-64 plain-8; do
	if [ "${R[$p,cpu_d]}" -ge 90 ]; then
		echo "note: toolhostd used ${R[$p,cpu_d]}% of a core during ${p%%-*} c=${p#*-}: its loop thread is the limit there"
	fi
	if [ "${R[$p,busy]}" -ge 90 ]; then
		echo "note: the machine was ${R[$p,busy]}% busy during ${p%%-*} c=${p#*-} (toolhostd ${R[$p,cpu_d]}%," \
			"fastpeer ${R[$p,cpu_f]}%, loadgen ${R[$p,cpu_l]}%, rest ${R[$p,rest]}% of one core): CPU-bound as a whole"
	fi
done

[ "$FAILED" = 0 ] || echo "bench-mcp-responses: $FAILED point(s) had failed requests or wrong counts (see $OUT/logs-mcp-responses)"
[ "$MISSED" = 0 ] || echo "bench-mcp-responses: $MISSED target(s) missed"
if [ "$FAILED" != 0 ] || [ "$MISSED" != 0 ]; then
	[ "${BENCH_LENIENT:-0}" = 1 ] || exit 1
fi
exit 0
