/*
 * opstream: the operators' WebSocket, GET /v1/approvals/stream (APPROVALS-NOTES 4), on the listener's
 * lws protocol beside api/ws (http hands it the connections whose path is the stream's).
 *
 * The upgrade: operators only: on the Unix socket by uid/gid (config "operators"), or a browser with
 * the page's session cookie (api/ui: a live session, an Origin of its own Host, a bound Host on TCP).
 * Anyone else gets 403 as a plain HTTP answer, and so does a foreign Origin even with a session.
 * On connect the operator gets {"type":"approvals.snapshot","approvals":[...]} (every pending operator
 * approval), then every approval.requested / approval.resolved / approval.expired / approval.abandoned
 * as api/ophub tells them. Decisions may be sent on it:
 *   {"type":"approval.decide","request_id":"r1","id":"mcpr_...","version":1,"decision":"deny",
 *    "message":"..."}     and     {"type":"approval.decide_batch","request_id":..., "response_id":...,
 *    "decision":..., "approvals":[{id, version}]}
 * each answered with {"type":"approval.decision","request_id":...,"status":200|4xx,"result":...}: the
 * same rules and bodies as POST /v1/approvals/{id} and POST /v1/approvals. A client message over
 * OPSTREAM_MAX_MESSAGE closes the connection (1009); an operator who does not read and lets
 * OPSTREAM_MAX_BACKLOG bytes pile up is closed (1008). Silent for half of websocket.idle_timeout_s, the
 * operator is pinged; silent for all of it (no pong either), the stream is closed and stops counting
 * as watching. Loop thread only.
 */
#ifndef API_OPSTREAM_H
#define API_OPSTREAM_H

#include <stddef.h>

struct lws;
struct http_ctx;
struct api_env;

#define OPSTREAM_PATH        "/v1/approvals/stream"
#define OPSTREAM_MAX_MESSAGE ((size_t)64 * 1024)
#define OPSTREAM_MAX_BACKLOG ((size_t)64 * 1024 * 1024)

/* LWS_CALLBACK_HTTP_CONFIRM_UPGRADE for OPSTREAM_PATH: 0 lets it go on, -1 after the refusal. */
int opstream_confirm_upgrade(struct lws *wsi, struct http_ctx *ctx, struct api_env *env, const char *upgrade);
/* Every later WebSocket reason of such a connection; *slot is its per-session pointer. */
int opstream_callback(struct lws *wsi, int reason, void **slot, struct api_env *env, void *in, size_t len);
/* 1 when wsi's request is for OPSTREAM_PATH (its headers are still there: upgrade and ESTABLISHED). */
int opstream_is_stream(struct lws *wsi);

#endif
