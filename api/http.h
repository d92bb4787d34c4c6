/*
 * http: the HTTP side of the API on libwebsockets: one lws protocol serving every endpoint of
 * ARCHITECTURE.md that exists so far, for connections adopted from daemon/listen into one vhost
 * whose user pointer is the struct http_ctx. How a caller is checked depends on the socket it came
 * in on, read from the socket itself (never from anything the caller sends, such as Host, which lws
 * uses to pick among vhosts): Unix socket -> SO_PEERCRED rules; loopback TCP -> bearer token.
 *
 * Per request it checks the caller, routes, enforces the body rules (Content-Length required,
 * chunked request bodies 411, over max_body_bytes 413, JSON only), hands POST /v1/responses to the
 * engine and writes what comes back: JSON with Content-Length, or SSE as hand-framed chunked
 * transfer encoding (lws 4.1 does not chunk for us) so the connection stays reusable. Each event
 * leaves in one write; the output backlog has a high-water mark that pauses the upstream.
 * Per-transaction state is released in one idempotent function (request end, protocol drop, close).
 * Owned by the loop thread.
 */
#ifndef API_HTTP_H
#define API_HTTP_H

#include <stddef.h>

#include "api/ws.h"

struct engine;
struct api_env;
struct lws_protocols;

/* Shared by both vhosts; owned by main. */
struct http_ctx {
	struct api_env *env;
	struct engine *engine;
	int draining;       /* set at SIGTERM: new POSTs get 503 */
	size_t connections; /* connections lws holds, from adoption to close, silent and idle ones too
	                     * (those still in api/headguard are counted there) */
	size_t busy;        /* requests not yet fully written (a drain waits for 0) */
	struct ws_stats ws; /* api/ws: WebSocket connections, turns, closes */
};

/* The Open Responses version every answer names (openresponses-version). */
#define HTTP_SERVED_VERSION "2026-04-24"

/* The protocol list for lws_context_creation_info.protocols (NULL-terminated, static). */
const struct lws_protocols *http_protocols(void);
/* The RFC 9110 reason phrase of every status the daemon sends (static; a generic one otherwise). */
const char *http_reason_phrase(int status);

#endif
