/*
 * session: one MCP session with one server, over Streamable HTTP or the legacy HTTP+SSE transport:
 * the initialize handshake (and the fallback to HTTP+SSE when initialize gets 400/404/405), JSON-RPC
 * requests with ids routed across every stream of the session, answers to the server's own requests
 * (ping -> {}, anything else -> -32601), the standalone GET stream where the server announces
 * tools.listChanged, resumption with Last-Event-ID after a stream drops, re-initialization when the
 * session expires (404, or a 400 that names the session) with each request retried once, a ping
 * before reuse after a long idle, back-off after failures, notifications/cancelled on cancel and
 * timeout, and DELETE on close.
 *
 * Requests queue while the session is (re)initializing. Reply callbacks run on the loop thread,
 * never from inside mcp_session_request, once per request unless it was cancelled.
 * Owned by the client's pool (client.c); one loop thread.
 */
#ifndef MCPCLIENT_SESSION_H
#define MCPCLIENT_SESSION_H

#include <jansson.h>
#include <stdint.h>
#include <uv.h>

#include "mcpclient/mcpclient.h"

struct xfer_ctx;
struct mcp_session;
struct mcp_req;

enum mcp_transport { MCP_TRANSPORT_UNKNOWN = 0, MCP_TRANSPORT_STREAMABLE, MCP_TRANSPORT_SSE };

struct mcp_session_env {
	uv_loop_t *loop;
	struct xfer_ctx *xfer;
	const struct mcp_client_config *cfg; /* defaults already applied */
	struct mcp_stats *stats;
	/* The server's tool listing may have changed: list_changed (debounced) or a re-initialization. */
	void (*on_tools_changed)(void *ud, struct mcp_session *s);
	/* The transport and version were (re)negotiated. */
	void (*on_negotiated)(void *ud, struct mcp_session *s);
	void *ud;
};

struct mcp_reply {
	const struct mcp_error *error; /* NULL: result holds the JSON-RPC result */
	json_t *result;                /* borrowed */
};
typedef void (*mcp_reply_cb)(void *ud, const struct mcp_reply *r);

enum {
	MCP_REQ_NO_RETRY = 1, /* an expired session fails the request (MCP_ERR_EXPIRED) instead of retrying */
	MCP_REQ_TOOLS = 2     /* needs the tools capability (MCP_ERR_UNSUPPORTED otherwise) */
};

/* headers: NULL-terminated, copied. transport: what is known about the URL (or UNKNOWN). */
struct mcp_session *mcp_session_new(const struct mcp_session_env *env, const char *url,
                                    const char *const *headers, enum mcp_transport transport);
/* Fails every request (MCP_ERR_CLOSED), sends DELETE when a session id is held, and frees the session
 * once that is answered (or at once). done (may be NULL) runs when it is gone. */
void mcp_session_close(struct mcp_session *s, void (*done)(void *ud), void *ud);

/* Drops the session where it stands: no callback, no network (a DELETE in flight is abandoned). */
void mcp_session_free(struct mcp_session *s);

/* Sends (or queues) a request. params borrowed. progress may be NULL; when given, the request carries
 * a progressToken. timeout_ms > 0. Never NULL. */
struct mcp_req *mcp_session_request(struct mcp_session *s, const char *method, json_t *params,
                                    long timeout_ms, int flags, mcp_progress_cb progress, mcp_reply_cb cb,
                                    void *ud);
/* Cancels a request: no callback; notifications/cancelled if it was sent. */
void mcp_session_cancel(struct mcp_req *r, const char *reason);

/* Housekeeping, called every few seconds by the pool: closes POST streams that stay open after
 * their answer arrived (the server should end them; we stop reading if it does not). */
void mcp_session_tick(struct mcp_session *s);

/* 1 while initialized and usable without a handshake. */
int mcp_session_ready(const struct mcp_session *s);
/* Requests not yet answered (queued or sent). */
int mcp_session_pending(const struct mcp_session *s);
/* Loop time (ms) of the last request or answer. */
uint64_t mcp_session_last_used(const struct mcp_session *s);
/* The negotiated protocol version ("" before initialize) and transport. */
const char *mcp_session_version(const struct mcp_session *s);
enum mcp_transport mcp_session_transport(const struct mcp_session *s);

#endif
