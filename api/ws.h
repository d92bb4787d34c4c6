/*
 * ws: the WebSocket mode of /v1/responses (../shared/spec/WEBSOCKET-NOTES.md), on the same lws
 * protocol and vhost as api/http: http's callback hands every WebSocket reason to ws_callback.
 *
 * The upgrade (ws_confirm_upgrade, before lws answers 101): only GET /v1/responses; the caller is
 * checked as for HTTP (api/caller: 401 on TCP without a valid bearer, 403 on the Unix socket); 426 +
 * Connection: close when websocket.enabled is false or the daemon drains; on TCP an upgrade that
 * carries Origin, or whose Host is not the bound address, is 403 (cross-site WebSocket hijacking).
 * A refusal is a plain HTTP answer with the JSON error envelope, then the connection closes.
 *
 * Per connection: client messages (reassembled from fragments up to websocket.max_message_bytes;
 * over it a 413 envelope and close 1009) are parsed by api/wsmsg. response.create runs one turn on
 * the engine (the engine_sink here writes one text message per event, no [DONE]); one turn runs at
 * a time, later creates wait FIFO up to websocket.queue_max (then a 429 envelope). A connection-local
 * cache keeps each completed response's whole context (input + output, bounded by
 * websocket.cache_max_bytes) so that previous_response_id works with store:false on this
 * connection; a failed continuation evicts the id it referenced. Stored responses are chained by the
 * engine, for this caller only. After websocket.max_age_s no new turn starts: the next create gets
 * websocket_connection_limit_reached and the connection closes with 1000. Closing the socket
 * cancels the running turn (as an HTTP disconnect does) and drops the queue. Backpressure: above a
 * high-water mark of unwritten output the upstream is paused; past websocket.max_output_buffer_bytes
 * the connection is closed (1008). Loop thread only.
 */
#ifndef API_WS_H
#define API_WS_H

#include <stddef.h>
#include <stdint.h>

struct lws;
struct buf;
struct http_ctx;

/* Counters for /metrics (kept in struct http_ctx). */
enum ws_close_reason {
	WS_CLOSE_CLIENT,         /* the peer closed or went away */
	WS_CLOSE_IDLE,           /* no pong within websocket.idle_timeout_s */
	WS_CLOSE_AGE_LIMIT,      /* websocket.max_age_s */
	WS_CLOSE_TOO_LARGE,      /* a message over websocket.max_message_bytes */
	WS_CLOSE_PROTOCOL_ERROR, /* invalid UTF-8 or a broken frame (lws closes 1007/1002) */
	WS_CLOSE_OUTPUT_CAP,     /* the peer did not read: websocket.max_output_buffer_bytes */
	WS_CLOSE_SHUTDOWN,       /* the daemon stopped */
	WS_CLOSE_N
};

struct ws_stats {
	uint64_t open;        /* connections open now */
	uint64_t connections; /* upgrades accepted */
	uint64_t refused;     /* upgrades refused (401/403/404/426) */
	uint64_t turns;       /* response.create turns started, warm-ups included */
	uint64_t closes[WS_CLOSE_N];
};

/* LWS_CALLBACK_HTTP_CONFIRM_UPGRADE on http's protocol: 0 lets the upgrade go on; -1 after the
 * refusal was written (lws then hangs up). */
int ws_confirm_upgrade(struct lws *wsi, struct http_ctx *ctx, const char *upgrade);
/* Every other WebSocket reason of the protocol; *slot is the per-session pointer kept for ws. */
int ws_callback(struct lws *wsi, int reason, void **slot, void *in, size_t len);
/* Shared with api/opstream, the other WebSocket of the listener: a refused upgrade as a plain HTTP
 * answer with the error envelope (counted in ctx's refusals; returns -1 for lws to hang up), and the
 * Host check of a TCP upgrade (1 when Host names the bound address or localhost:port). */
struct api_error;
/* The payload of the idle clock's pings (api/ws and api/opstream): lws 4.1 gives the protocol no
 * RECEIVE_PONG for an empty pong, so a ping must carry something for its answer to count. */
#define WS_PING_PAYLOAD "toolhost"

/* The idle clock of a WebSocket (api/ws, api/opstream): a ping after half of idle_ms without a byte
 * from the peer, a hang-up after all of it. lws' own ping policy is per vhost and would also judge
 * HTTP streams. */
struct ws_idle {
	uint64_t idle_ms, last_rx_ms, last_ping_ms;
};
enum ws_idle_due {
	WS_IDLE_NOTHING,
	WS_IDLE_PING,   /* send a ping now (last_ping_ms is set) */
	WS_IDLE_HANGUP, /* silent for idle_ms */
};
void ws_idle_start(struct ws_idle *clk, unsigned idle_timeout_s, uint64_t now_ms);
/* At a tick: what is due, and into *next_ms when to tick again (unless HANGUP). The timer is set for
 * the next moment something is due, not for every second: lws keeps its timers in a sorted list, and
 * 10,000 idle connections re-armed each second would keep the loop busy. */
enum ws_idle_due ws_idle_tick(struct ws_idle *clk, uint64_t now_ms, uint64_t *next_ms);

int ws_refuse_upgrade(struct lws *wsi, struct http_ctx *ctx, const struct api_error *e);
int ws_host_is_bound(struct lws *wsi);
/* Appends the toolhost_ws_* lines of the Prometheus text exposition. */
void ws_metrics(const struct ws_stats *st, struct buf *out);

#endif
