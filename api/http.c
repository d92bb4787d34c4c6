#include "api/http.h"

#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api/apierr.h"
#include "api/approvalsapi.h"
#include "api/opstream.h"
#include "api/caller.h"
#include "api/engine.h"
#include "api/env.h"
#include "api/mcpadmin.h"
#include "api/models.h"
#include "api/request.h"
#include "api/ui.h"
#include "api/ws.h"
#include "daemon/buf.h"
#include "daemon/config.h"
#include "daemon/log.h"
#include "daemon/util.h"

/* Output backlog marks: above HIGH the upstream is paused, it resumes once the backlog is written. */
#define HTTP_OUT_HIGH           ((size_t)256 * 1024)
#define HTTP_PATH_MAX           256
#define HTTP_IDLE_KEEP          1024 /* bytes an empty output buffer may keep between writes */
#define HTTP_BODY_TICK_US       ((lws_usec_t)1000 * 1000) /* how often a body in progress is timed */
#define HTTP_BODY_RATE_GRACE_MS 2000                      /* a body's rate is judged from then on */
/* How long and how much of an unread body is read past after an early answer (on_writeable). */
#define HTTP_LINGER_US    ((lws_usec_t)2000 * 1000)
#define HTTP_LINGER_BYTES ((size_t)16 * 1024 * 1024)

enum route {
	ROUTE_NONE,
	ROUTE_CREATE,      /* POST /v1/responses */
	ROUTE_GET,         /* GET /v1/responses/{id} */
	ROUTE_DELETE,      /* DELETE /v1/responses/{id} */
	ROUTE_INPUT_ITEMS, /* GET /v1/responses/{id}/input_items */
	ROUTE_CANCEL,      /* POST /v1/responses/{id}/cancel */
	ROUTE_COMPACT,     /* POST /v1/responses/compact */
	ROUTE_MODELS,      /* GET /v1/models */
	ROUTE_HEALTH,      /* GET /healthz */
	ROUTE_MCP_SERVERS, /* GET /v1/mcp/servers */
	ROUTE_MCP_TOOLS,   /* GET /v1/mcp/servers/{label}/tools */
	ROUTE_METRICS,     /* GET /metrics */
	ROUTE_MCP_AUDIT,   /* GET /v1/mcp/audit */
	ROUTE_APPROVALS,   /* GET /v1/approvals */
	ROUTE_APPROVAL,    /* GET /v1/approvals/{id} */
	ROUTE_DECIDE,      /* POST /v1/approvals/{id} */
	ROUTE_DECIDE_ALL,  /* POST /v1/approvals (one response's pending approvals) */
	ROUTE_RULES,       /* GET /v1/approvals/rules */
	ROUTE_RULE_DELETE, /* DELETE /v1/approvals/rules/{id} */
	ROUTE_LOGIN_URL,   /* POST /v1/approvals/login (the approval page's one-time login URL) */
	ROUTE_PAGE,        /* GET /ui/... (api/ui: no caller check, the page's session instead) */
};

/* One HTTP request/response exchange. */
struct http_txn {
	struct lws *wsi;
	struct http_ctx *ctx;
	enum route route;
	char id[128];      /* the {id} path segment */
	struct caller who; /* the owner of what it stores (api/caller) */
	struct buf body;
	struct engine_job *job;
	struct models_req *models;
	struct mcpadmin_req *mcpadmin;
	const char *ctype;      /* of a non-SSE answer; NULL: application/json */
	struct ui_answer *page; /* a page answer's headers (ROUTE_PAGE), or NULL */
	char retry_after[24];   /* sent as Retry-After when not empty (the engine's on_finish) */

	int status;
	int sse; /* the answer is an SSE stream (chunked) */
	int headers_sent;
	int finished;    /* no more output will be appended */
	int close_after; /* the request body was not consumed: the connection cannot be reused */
	int simple;      /* served without its body (serve_simple): a body it came with is only read past */
	int body_done;   /* BODY_COMPLETION seen: the request is whole (see on_body_completion) */
	int start_due;   /* the body is whole; the work starts at the next WRITEABLE */
	int body_timed;  /* the body clock (on_body_timer) runs */
	uint64_t body_start_ms;
	size_t body_got;                  /* body bytes received, kept or not */
	unsigned long long body_expected; /* the Content-Length of a POST */
	int lingering;                    /* answered before its body was read: reading on (on_linger_*) */
	struct buf out;                   /* bytes not yet handed to lws */
	struct buf wbuf;                  /* LWS_PRE + framing + data for the one lws_write */
};

/* lws per-session data: lws binds the protocol anew for each keep-alive transaction, so this lives
 * for one transaction (BIND_PROTOCOL to DROP_PROTOCOL), not for the whole connection. */
struct http_conn {
	struct http_txn *txn;
	void *ws; /* after an upgrade: api/ws's connection */
	void *op; /* after an upgrade to the approval stream: api/opstream's */
};

static void
txn_release(struct http_conn *conn)
{
	struct http_txn *txn = conn ? conn->txn : NULL;

	if (txn == NULL)
		return;
	conn->txn = NULL;
	txn->ctx->busy--;
	if (txn->job) {
		engine_job_cancel(txn->job);
		txn->job = NULL;
	}
	models_cancel(txn->models);
	mcpadmin_cancel(txn->mcpadmin);
	caller_clear(&txn->who);
	free(txn->page);
	buf_free(&txn->body);
	buf_free(&txn->out);
	buf_free(&txn->wbuf);
	free(txn);
}

/* Queues a complete JSON answer (body borrowed), serialised straight into the output buffer. */
static void
txn_answer(struct http_txn *txn, int status, const json_t *body)
{
	txn->status = status;
	txn->sse = 0;
	buf_reset(&txn->out);
	if (json_dump_callback(body, buf_append_cb, &txn->out, JSON_COMPACT) == 0)
		buf_appends(&txn->out, "\n");
	else
		buf_reset(&txn->out);
	txn->finished = 1;
	lws_callback_on_writable(txn->wsi);
}

static void
txn_error(struct http_txn *txn, int status, const char *type, const char *code, const char *param,
          const char *msg)
{
	struct api_error e;
	json_t *env;

	api_error_set(&e, status, type, code, param, "%s", msg);
	env = api_error_envelope(&e);
	txn_answer(txn, status, env);
	json_decref(env);
}

static void serve_body(struct http_txn *txn);

/* ---- engine sink ---- */

static void
sink_stream_start(void *ud)
{
	struct http_txn *txn = ud;

	txn->status = 200;
	txn->sse = 1;
	/* Long-lived from here: the engine's own deadlines apply, not lws' idle timeout. */
	lws_set_timeout(txn->wsi, NO_PENDING_TIMEOUT, 0);
	lws_callback_on_writable(txn->wsi);
}

static int
sink_event(void *ud, const char *data, size_t len)
{
	struct http_txn *txn = ud;

	if (buf_append(&txn->out, data, len) < 0)
		return -1;
	lws_callback_on_writable(txn->wsi);
	return 0;
}

static int
sink_congested(void *ud)
{
	struct http_txn *txn = ud;

	return txn->out.len > HTTP_OUT_HIGH;
}

static void
sink_finish(void *ud, int http_status, const json_t *body, const char *retry_after)
{
	struct http_txn *txn = ud;

	txn->job = NULL;
	if (retry_after)
		snprintf(txn->retry_after, sizeof txn->retry_after, "%s", retry_after);
	if (body) {
		txn_answer(txn, http_status, body);
		return;
	}
	txn->finished = 1;
	lws_callback_on_writable(txn->wsi);
}

static const struct engine_sink http_sink = {
        .framing = EVENTS_SSE,
        .keepalive_event = 0,
        .on_stream_start = sink_stream_start,
        .on_event = sink_event,
        .congested = sink_congested,
        .on_finish = sink_finish,
};

/* ---- writing ---- */

/* The reason phrases of RFC 9110 for every status the daemon sends. lws 4.1 knows 400..417 (some by
 * older names) and 500..505 only, and writes "HTTP/1.1 429 " with none for the others. */
const char *
http_reason_phrase(int status)
{
	static const struct {
		int status;
		const char *reason;
	} table[] = {
	        {200, "OK"},
	        {303, "See Other"},
	        {400, "Bad Request"},
	        {401, "Unauthorized"},
	        {403, "Forbidden"},
	        {404, "Not Found"},
	        {405, "Method Not Allowed"},
	        {408, "Request Timeout"},
	        {409, "Conflict"},
	        {411, "Length Required"},
	        {413, "Content Too Large"},
	        {415, "Unsupported Media Type"},
	        {429, "Too Many Requests"},
	        {431, "Request Header Fields Too Large"},
	        {500, "Internal Server Error"},
	        {501, "Not Implemented"},
	        {502, "Bad Gateway"},
	        {503, "Service Unavailable"},
	        {504, "Gateway Timeout"},
	        {505, "HTTP Version Not Supported"},
	};
	size_t i;

	for (i = 0; i < sizeof table / sizeof table[0]; i++)
		if (table[i].status == status)
			return table[i].reason;
	return status < 500 ? "Bad Request" : "Internal Server Error";
}

/* Rewrites the status line lws wrote at start (up to *p) as "HTTP/1.1 N Reason", keeping what lws
 * put after it. */
static int
fix_status_line(unsigned char *start, unsigned char **p, unsigned char *end, int status)
{
	unsigned char *eol = memmem(start, (size_t)(*p - start), "\r\n", 2);
	char line[96];
	int n;
	size_t rest;

	if (eol == NULL)
		return -1;
	eol += 2;
	n = snprintf(line, sizeof line, "HTTP/1.1 %d %s\r\n", status, http_reason_phrase(status));
	rest = (size_t)(*p - eol);
	if (n <= 0 || start + n + rest > end)
		return -1;
	memmove(start + n, eol, rest);
	memcpy(start, line, (size_t)n);
	*p = start + n + rest;
	return 0;
}

/* Appends the response head to txn->wbuf: it goes out in the same write as the first body bytes. */
static int
add_headers(struct http_txn *txn)
{
	unsigned char hdr[2048]; /* a page answer's headers: CSP, cookie... */
	unsigned char *start = hdr, *p = start, *end = hdr + sizeof hdr - 1;
	size_t i;
	struct lws *wsi = txn->wsi;
	const char *ctype = txn->sse ? "text/event-stream" : txn->ctype ? txn->ctype : "application/json";

	if (lws_add_http_header_status(wsi, (unsigned int)txn->status, &p, end) ||
	    fix_status_line(start, &p, end, txn->status) < 0 ||
	    lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE, (const unsigned char *)ctype,
	                                 (int)strlen(ctype), &p, end) ||
	    lws_add_http_header_by_name(wsi, (const unsigned char *)"openresponses-version:",
	                                (const unsigned char *)HTTP_SERVED_VERSION,
	                                (int)strlen(HTTP_SERVED_VERSION), &p, end))
		return -1;
	if (txn->sse) {
		if (lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING,
		                                 (const unsigned char *)"chunked", 7, &p, end) ||
		    lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CACHE_CONTROL,
		                                 (const unsigned char *)"no-cache", 8, &p, end))
			return -1;
	} else if (lws_add_http_header_content_length(wsi, txn->out.len, &p, end)) {
		return -1;
	}
	if (txn->retry_after[0] && lws_add_http_header_by_name(wsi, (const unsigned char *)"retry-after:",
	                                                       (const unsigned char *)txn->retry_after,
	                                                       (int)strlen(txn->retry_after), &p, end))
		return -1;
	for (i = 0; txn->page && i < txn->page->nheaders; i++) {
		const struct ui_header *h = &txn->page->headers[i];

		if (lws_add_http_header_by_name(wsi, (const unsigned char *)h->name,
		                                (const unsigned char *)h->value, (int)strlen(h->value), &p,
		                                end))
			return -1;
	}
	if (txn->close_after && lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION,
	                                                     (const unsigned char *)"close", 5, &p, end))
		return -1;
	if (lws_finalize_http_header(wsi, &p, end))
		return -1;
	buf_append(&txn->wbuf, start, (size_t)(p - start));
	txn->headers_sent = 1;
	return 0;
}

/* One lws_write per WRITEABLE: the head if not sent yet, then the whole backlog (whole events
 * only), framed as one chunk for SSE, with the terminating chunk in the same write at the end.
 * Head and body in one write save a WRITEABLE round (and libuv's epoll_ctl calls for it) per
 * response. Our listeners speak HTTP/1.1 only, where lws sends LWS_WRITE_HTTP_HEADERS as is. */
static int
write_out(struct http_txn *txn, int *done)
{
	static const char headroom[LWS_PRE]; /* lws wants LWS_PRE writable bytes before the data */
	enum lws_write_protocol wp = LWS_WRITE_HTTP;
	int last = txn->finished, head = !txn->headers_sent;
	size_t len;

	*done = 0;
	if (txn->out.len == 0 && !last && !head)
		return 0;
	buf_reset(&txn->wbuf);
	buf_append(&txn->wbuf, headroom, sizeof headroom);
	if (head && add_headers(txn) < 0)
		return -1;
	if (txn->sse) {
		if (txn->out.len)
			buf_printf(&txn->wbuf, "%zx\r\n", txn->out.len);
		buf_append(&txn->wbuf, txn->out.data, txn->out.len);
		if (txn->out.len)
			buf_appends(&txn->wbuf, "\r\n");
		if (last)
			buf_appends(&txn->wbuf, "0\r\n\r\n");
	} else {
		buf_append(&txn->wbuf, txn->out.data, txn->out.len);
	}
	buf_reset(&txn->out);
	if (head)
		wp = LWS_WRITE_HTTP_HEADERS;
	else if (last)
		wp = LWS_WRITE_HTTP_FINAL;
	len = txn->wbuf.len - LWS_PRE;
	if (lws_write(txn->wsi, (unsigned char *)txn->wbuf.data + LWS_PRE, len, wp) < (int)len)
		return -1;
	/* lws keeps any unsent rest itself. A long stream's buffers shrink back to its small events. */
	buf_reset(&txn->wbuf);
	buf_release_idle(&txn->wbuf, HTTP_IDLE_KEEP);
	buf_release_idle(&txn->out, HTTP_IDLE_KEEP);
	*done = last;
	return 0;
}

static int
on_writeable(struct http_conn *conn)
{
	struct http_txn *txn = conn->txn;
	int done = 0;

	if (txn == NULL || txn->lingering)
		return 0;
	if (txn->start_due) {
		/* No request followed this one in the meantime (see on_body_completion): start. */
		txn->start_due = 0;
		serve_body(txn);
		return 0;
	}
	if (txn->status == 0)
		return 0;
	if (write_out(txn, &done) < 0)
		return -1;
	if (!done) {
		if (txn->job)
			engine_job_resume(txn->job);
		return 0;
	}
	{
		int close_after = txn->close_after;
		struct lws *wsi = txn->wsi;

		/*
		 * An answer that leaves before the body it refuses was read (413, 415, ...): a client
		 * still writing that body would get a reset for its next write, and most (undici, so
		 * the openai SDK) report that (EPIPE) instead of the answer they were sent. So the close
		 * is staged (RFC 9112 9.6): nothing more is accepted, the rest of the body is read and
		 * dropped, for HTTP_LINGER_US and HTTP_LINGER_BYTES at most, then the connection closes.
		 */
		if (close_after && !txn->body_done && txn->body_expected > 0 && !txn->body_timed) {
			txn->lingering = 1;
			lws_set_timer_usecs(wsi, HTTP_LINGER_US);
			return 0;
		}
		txn_release(conn);
		if (close_after)
			return -1;
		return lws_http_transaction_completed(wsi) ? -1 : 0;
	}
}

/* ---- reading and routing ---- */

/* Splits the path into a route and the {id} segment; *method_ok is 0 when the path exists but
 * not with this method. */
static enum route
route_path(const char *path, int method, char *id, size_t idlen, int *method_ok)
{
	static const char prefix[] = "/v1/responses/", mcp_prefix[] = "/v1/mcp/servers/",
	                  approvals_prefix[] = "/v1/approvals/", rules_prefix[] = "/v1/approvals/rules/";
	const char *rest, *slash;
	size_t n;

	*method_ok = 1;
	if (strcmp(path, "/healthz") == 0) {
		*method_ok = method == LWSHUMETH_GET;
		return ROUTE_HEALTH;
	}
	if (strcmp(path, "/metrics") == 0) {
		*method_ok = method == LWSHUMETH_GET;
		return ROUTE_METRICS;
	}
	if (strcmp(path, "/v1/mcp/servers") == 0) {
		*method_ok = method == LWSHUMETH_GET;
		return ROUTE_MCP_SERVERS;
	}
	if (strcmp(path, "/v1/mcp/audit") == 0) {
		*method_ok = method == LWSHUMETH_GET;
		return ROUTE_MCP_AUDIT;
	}
	if (strcmp(path, "/v1/approvals") == 0) {
		*method_ok = method == LWSHUMETH_GET || method == LWSHUMETH_POST;
		return method == LWSHUMETH_POST ? ROUTE_DECIDE_ALL : ROUTE_APPROVALS;
	}
	if (strcmp(path, "/v1/approvals/login") == 0) {
		*method_ok = method == LWSHUMETH_POST;
		return ROUTE_LOGIN_URL;
	}
	if (strcmp(path, "/v1/approvals/rules") == 0) {
		*method_ok = method == LWSHUMETH_GET;
		return ROUTE_RULES;
	}
	if (strncmp(path, rules_prefix, sizeof rules_prefix - 1) == 0) {
		rest = path + sizeof rules_prefix - 1;
		n = strlen(rest);
		if (n == 0 || n >= idlen || strchr(rest, '/'))
			return ROUTE_NONE;
		memcpy(id, rest, n + 1);
		*method_ok = method == LWSHUMETH_DELETE;
		return ROUTE_RULE_DELETE;
	}
	if (strncmp(path, approvals_prefix, sizeof approvals_prefix - 1) == 0) {
		rest = path + sizeof approvals_prefix - 1;
		n = strlen(rest);
		/* The stream is a WebSocket upgrade (api/ws), never a plain request. */
		if (n == 0 || n >= idlen || strchr(rest, '/') || strcmp(rest, "stream") == 0)
			return ROUTE_NONE;
		memcpy(id, rest, n + 1);
		*method_ok = method == LWSHUMETH_GET || method == LWSHUMETH_POST;
		return method == LWSHUMETH_POST ? ROUTE_DECIDE : ROUTE_APPROVAL;
	}
	if (strncmp(path, mcp_prefix, sizeof mcp_prefix - 1) == 0) {
		rest = path + sizeof mcp_prefix - 1;
		slash = strchr(rest, '/');
		n = slash ? (size_t)(slash - rest) : 0;
		if (n == 0 || n >= idlen || strcmp(slash, "/tools") != 0)
			return ROUTE_NONE;
		memcpy(id, rest, n);
		id[n] = '\0';
		*method_ok = method == LWSHUMETH_GET;
		return ROUTE_MCP_TOOLS;
	}
	if (strcmp(path, "/v1/models") == 0) {
		*method_ok = method == LWSHUMETH_GET;
		return ROUTE_MODELS;
	}
	if (strcmp(path, "/v1/responses") == 0) {
		*method_ok = method == LWSHUMETH_POST;
		return ROUTE_CREATE;
	}
	if (strcmp(path, "/v1/responses/compact") == 0) {
		*method_ok = method == LWSHUMETH_POST;
		return ROUTE_COMPACT;
	}
	if (strncmp(path, prefix, sizeof prefix - 1) != 0)
		return ROUTE_NONE;
	rest = path + sizeof prefix - 1;
	slash = strchr(rest, '/');
	n = slash ? (size_t)(slash - rest) : strlen(rest);
	if (n == 0 || n >= idlen)
		return ROUTE_NONE;
	memcpy(id, rest, n);
	id[n] = '\0';
	if (slash == NULL) {
		*method_ok = method == LWSHUMETH_GET || method == LWSHUMETH_DELETE;
		return method == LWSHUMETH_DELETE ? ROUTE_DELETE : ROUTE_GET;
	}
	if (strcmp(slash, "/input_items") == 0) {
		*method_ok = method == LWSHUMETH_GET;
		return ROUTE_INPUT_ITEMS;
	}
	if (strcmp(slash, "/cancel") == 0) {
		*method_ok = method == LWSHUMETH_POST;
		return ROUTE_CANCEL;
	}
	return ROUTE_NONE;
}

static const char *
urlarg(struct lws *wsi, const char *name, char *buf, int len)
{
	const char *v = lws_get_urlarg_by_name(wsi, name, buf, len);

	return v ? v : "";
}

static void
on_models(void *ud, int http_status, const json_t *body)
{
	struct http_txn *txn = ud;

	txn->models = NULL;
	txn_answer(txn, http_status, body);
}

static void
on_mcpadmin(void *ud, int status, const json_t *body)
{
	struct http_txn *txn = ud;

	txn->mcpadmin = NULL;
	txn_answer(txn, status, body);
}

/* Who asks, as the engine sees it (borrowing from txn). */
static struct engine_caller
txn_caller(const struct http_txn *txn)
{
	struct engine_caller caller = {txn->who.identity, txn->who.bearer, txn->who.is_operator,
	                               txn->who.client};

	return caller;
}

/* Requests without a body. */
static void
serve_simple(struct http_txn *txn, struct lws *wsi)
{
	struct engine *eng = txn->ctx->engine;
	struct api_env *env = txn->ctx->env;
	struct engine_caller caller = txn_caller(txn);
	json_t *body = NULL;
	int status = 200;
	char a[160], b[160], c[160], d[160];

	switch (txn->route) {
	case ROUTE_HEALTH:
		body = json_pack("{s:s, s:I, s:b}", "status", txn->ctx->draining ? "draining" : "ok",
		                 "active", (json_int_t)engine_active(eng), "draining", txn->ctx->draining);
		break;
	case ROUTE_MODELS:
		txn->models = models_list(env, txn->who.bearer, on_models, txn);
		return;
	case ROUTE_MCP_SERVERS:
		body = mcpadmin_servers(env);
		break;
	case ROUTE_MCP_TOOLS:
		txn->mcpadmin = mcpadmin_tools(env, txn->id, on_mcpadmin, txn);
		return;
	case ROUTE_MCP_AUDIT:
		body = mcpadmin_audit(env, &caller, urlarg(wsi, "limit=", a, sizeof a), &status);
		break;
	case ROUTE_APPROVALS:
		body = approvalsapi_list(env, &caller, urlarg(wsi, "status=", a, sizeof a),
		                         urlarg(wsi, "response_id=", b, sizeof b),
		                         urlarg(wsi, "limit=", c, sizeof c), &status);
		break;
	case ROUTE_APPROVAL:
		body = approvalsapi_get(env, &caller, txn->id, &status);
		break;
	case ROUTE_RULES:
		body = approvalsapi_rules(env, &caller, urlarg(wsi, "limit=", a, sizeof a), &status);
		break;
	case ROUTE_RULE_DELETE:
		body = approvalsapi_rule_delete(env, &caller, txn->id, &status);
		break;
	case ROUTE_METRICS: {
		char *text = mcpadmin_metrics(env, engine_active(eng));

		txn->status = 200;
		txn->ctype = "text/plain; version=0.0.4";
		buf_reset(&txn->out);
		buf_appends(&txn->out, text);
		ws_metrics(&txn->ctx->ws, &txn->out);
		free(text);
		txn->finished = 1;
		lws_callback_on_writable(txn->wsi);
		return;
	}
	case ROUTE_GET:
		body = engine_get_response(eng, &caller, txn->id, &status);
		break;
	case ROUTE_DELETE:
		body = engine_delete_response(eng, &caller, txn->id, &status);
		break;
	case ROUTE_INPUT_ITEMS:
		body = engine_input_items(eng, &caller, txn->id, urlarg(wsi, "limit=", a, sizeof a),
		                          urlarg(wsi, "order=", b, sizeof b),
		                          urlarg(wsi, "after=", c, sizeof c),
		                          urlarg(wsi, "before=", d, sizeof d), &status);
		break;
	default:
		txn_error(txn, 500, "server_error", NULL, NULL, "unrouted request");
		return;
	}
	txn_answer(txn, status, body);
	json_decref(body);
}

/* POST bodies: after the whole body is in. */
static void
serve_body(struct http_txn *txn)
{
	struct api_error err;
	struct request *req;
	struct engine_caller caller = txn_caller(txn);
	json_t *body;
	int status;

	switch (txn->route) {
	case ROUTE_CREATE:
	case ROUTE_COMPACT:
		break;
	case ROUTE_CANCEL:
		body = engine_cancel_response(txn->ctx->engine, &caller, txn->id, &status);
		txn_answer(txn, status, body);
		json_decref(body);
		return;
	case ROUTE_LOGIN_URL:
		body = approvalsapi_login(txn->ctx->env, &caller, txn->body.data ? txn->body.data : "",
		                          txn->body.len, &status);
		txn_answer(txn, status, body);
		json_decref(body);
		return;
	case ROUTE_DECIDE:
	case ROUTE_DECIDE_ALL:
		body = approvalsapi_decide(txn->ctx->env, &caller,
		                           txn->route == ROUTE_DECIDE ? txn->id : NULL,
		                           txn->body.data ? txn->body.data : "", txn->body.len, &status);
		txn_answer(txn, status, body);
		json_decref(body);
		return;
	default:
		txn_error(txn, 500, "server_error", NULL, NULL, "unrouted request");
		return;
	}
	if (txn->ctx->draining) {
		txn_error(txn, 503, "server_error", "server_shutting_down", NULL,
		          "the server is shutting down");
		return;
	}
	if (txn->route == ROUTE_COMPACT)
		req = request_parse_compact(txn->body.data ? txn->body.data : "", txn->body.len, &err);
	else
		req = request_parse(txn->body.data ? txn->body.data : "", txn->body.len, &err);
	if (req == NULL) {
		json_t *env = api_error_envelope(&err);
		txn_answer(txn, err.status, env);
		json_decref(env);
		return;
	}
	buf_free(&txn->body);
	if (txn->route == ROUTE_COMPACT)
		txn->job = engine_compact_start(txn->ctx->engine, req, &caller, &http_sink, txn);
	else
		txn->job = engine_job_start(txn->ctx->engine, req, &caller, NULL, &http_sink, txn);
}

static int
header_contains(struct lws *wsi, enum lws_token_indexes h, const char *needle)
{
	char v[256];

	if (lws_hdr_total_length(wsi, h) <= 0 || lws_hdr_copy(wsi, v, sizeof v, h) < 0)
		return 0;
	return strcasestr(v, needle) != NULL;
}

/*
 * A request refused before its body (401, 403, 404, 405) that announces one: the connection is not
 * kept for a next request, and the close is staged like a 413's (bounded in time and bytes). Kept
 * alive, lws would read the announced body past for as long as the peer trickles it, with nobody
 * authenticated on the other end.
 */
static void
refuse_body(struct http_txn *txn, struct lws *wsi)
{
	char cl[32];
	int n = lws_hdr_copy(wsi, cl, sizeof cl, WSI_TOKEN_HTTP_CONTENT_LENGTH);

	int chunked = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0;

	if (!chunked && n > 0 && strspn(cl, "0123456789") == (size_t)n) {
		txn->body_expected = strtoull(cl, NULL, 10);
		txn->close_after = txn->body_expected > 0;
	} else if (chunked || lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0) {
		/* a chunked body, or a Content-Length we cannot read: its end is unknown */
		txn->close_after = 1;
	}
}

/* GET /ui/...: the page's answer, whatever the body (a GET has none: one sent is read past). */
static void
serve_page(struct http_txn *txn, struct lws *wsi, const char *path)
{
	char *uri = NULL;
	int uri_len = 0, method = lws_http_get_uri_and_method(wsi, &uri, &uri_len);

	refuse_body(txn, wsi);
	txn->route = ROUTE_PAGE;
	txn->simple = 1;
	txn->page = xcalloc(1, sizeof *txn->page);
	ui_serve(wsi, txn->ctx->env, path, method, txn->page);
	txn->status = txn->page->status;
	txn->ctype = txn->page->ctype;
	buf_reset(&txn->out);
	buf_append(&txn->out, txn->page->body, txn->page->len);
	txn->finished = 1;
	lws_callback_on_writable(wsi);
}

static int
on_http(struct http_conn *conn, struct lws *wsi, const char *path)
{
	struct http_ctx *ctx = lws_get_vhost_user(lws_get_vhost(wsi));
	const struct config *cfg = ctx->env->cfg;
	struct http_txn *txn;
	char *uri = NULL;
	int uri_len = 0, method, method_ok, cl_len;
	char clbuf[32];
	unsigned long long content_length = 0;
	struct api_error refusal;

	txn_release(conn);
	txn = xcalloc(1, sizeof *txn);
	conn->txn = txn;
	txn->wsi = wsi;
	txn->ctx = ctx;
	ctx->busy++;
	buf_init(&txn->body, cfg->limits.max_body_bytes);
	buf_init(&txn->out, 0); /* fed by us; bounded by the high-water pause */
	buf_init(&txn->wbuf, 0);
	if (strlen(path) < HTTP_PATH_MAX && ui_is_page(path)) {
		serve_page(txn, wsi, path);
		return 0;
	}
	if (caller_check(wsi, cfg, &txn->who, &refusal) < 0) {
		refuse_body(txn, wsi);
		txn_error(txn, refusal.status, refusal.type, refusal.code, NULL, refusal.message);
		return 0;
	}

	method = lws_http_get_uri_and_method(wsi, &uri, &uri_len);
	if (strlen(path) >= HTTP_PATH_MAX) {
		refuse_body(txn, wsi);
		txn_error(txn, 404, "not_found", NULL, NULL, "no such endpoint");
		return 0;
	}
	txn->route = route_path(path, method, txn->id, sizeof txn->id, &method_ok);
	if (txn->route == ROUTE_NONE) {
		refuse_body(txn, wsi);
		txn_error(txn, 404, "not_found", NULL, NULL, "no such endpoint");
		return 0;
	}
	if (!method_ok) {
		refuse_body(txn, wsi);
		txn_error(txn, 405, "invalid_request", "method_not_allowed", NULL,
		          "method not allowed on this endpoint");
		return 0;
	}
	if (method != LWSHUMETH_POST) {
		txn->simple = 1;
		serve_simple(txn, wsi);
		return 0;
	}

	/* A POST: the body rules. lws reads a body only with Content-Length; a chunked body would be
	 * parsed as the next request, so it is refused and the connection closed. */
	if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0) {
		txn->close_after = 1;
		txn_error(txn, 411, "invalid_request", "length_required", NULL,
		          "chunked request bodies are not accepted: send Content-Length");
		return 0;
	}
	cl_len = lws_hdr_copy(wsi, clbuf, sizeof clbuf, WSI_TOKEN_HTTP_CONTENT_LENGTH);
	if (cl_len <= 0) {
		if (txn->route == ROUTE_CANCEL) {
			serve_body(txn);
			return 0;
		}
		txn->close_after = 1;
		txn_error(txn, 411, "invalid_request", "length_required", NULL, "Content-Length is required");
		return 0;
	}
	/* Digits only, one value: "12abc" or two Content-Length headers (lws joins them with ",")
	 * would frame the body differently from what the caller meant (RFC 9112 6.3). */
	if (cl_len != lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH) ||
	    strspn(clbuf, "0123456789") != (size_t)cl_len || cl_len > 19) {
		txn->close_after = 1;
		txn_error(txn, 400, "invalid_request", "invalid_content_length", NULL,
		          "Content-Length must be one decimal number");
		return 0;
	}
	content_length = strtoull(clbuf, NULL, 10);
	txn->body_expected = content_length;
	if (content_length > cfg->limits.max_body_bytes) {
		char msg[128];
		txn->close_after = 1;
		snprintf(msg, sizeof msg, "the request body exceeds %zu bytes", cfg->limits.max_body_bytes);
		txn_error(txn, 413, "invalid_request", "request_too_large", NULL, msg);
		return 0;
	}
	if ((txn->route == ROUTE_CREATE || txn->route == ROUTE_COMPACT || txn->route == ROUTE_DECIDE ||
	     txn->route == ROUTE_DECIDE_ALL || txn->route == ROUTE_LOGIN_URL) &&
	    !header_contains(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE, "json")) {
		txn->close_after = 1;
		txn_error(txn, 415, "invalid_request", "unsupported_media_type", NULL,
		          "the request body must be application/json");
		return 0;
	}
	/* The body follows in LWS_CALLBACK_HTTP_BODY; BODY_COMPLETION serves it. lws' own timeout
	 * restarts at every read, so a body trickling in is timed here (on_body_timer). */
	if (content_length > 0) {
		txn->body_timed = 1;
		txn->body_start_ms = util_mono_ms();
		lws_set_timer_usecs(wsi, HTTP_BODY_TICK_US);
	}
	return 0;
}

/*
 * The body clock, once a second while a body comes in: past limits.body_timeout_s since the end
 * of the headers, or (from HTTP_BODY_RATE_GRACE_MS on) slower on average than
 * limits.min_body_rate_bytes_s, the caller gets a 408 and the connection is closed after it; the
 * request never starts (its body is not complete, so BODY_COMPLETION never serves it).
 */
static int
on_body_timer(struct http_conn *conn, struct lws *wsi)
{
	struct http_txn *txn = conn ? conn->txn : NULL;
	const struct config_limits *lim;
	uint64_t elapsed;
	char msg[160];

	if (txn && txn->lingering)
		return -1; /* read past an unread body long enough: close */
	if (txn == NULL || !txn->body_timed || txn->body_done || txn->status != 0)
		return 0;
	lim = &txn->ctx->env->cfg->limits;
	elapsed = util_mono_ms() - txn->body_start_ms;
	if (elapsed >= (uint64_t)lim->body_timeout_s * 1000) {
		snprintf(msg, sizeof msg, "the request body did not arrive within %u s", lim->body_timeout_s);
	} else if (lim->min_body_rate_bytes_s > 0 && elapsed >= HTTP_BODY_RATE_GRACE_MS &&
	           (double)txn->body_got * 1000.0 / (double)elapsed < (double)lim->min_body_rate_bytes_s) {
		snprintf(msg, sizeof msg, "the request body came slower than %zu bytes/s",
		         lim->min_body_rate_bytes_s);
	} else {
		lws_set_timer_usecs(wsi, HTTP_BODY_TICK_US);
		return 0;
	}
	log_info("%s: refused with a 408", msg);
	/* body_timed stays set: a caller this slow is not waited for after the answer either. */
	txn->close_after = 1;
	txn_error(txn, 408, "invalid_request", "request_body_timeout", NULL, msg);
	return 0;
}

/*
 * Pipelining after a request body. lws 4.1 keeps an h1 connection in LRS_BODY from the end of a
 * body until lws_http_transaction_completed(). Input that arrives meanwhile (the next pipelined
 * request, or what lws still holds of the buffer the request came in) stays on the connection's
 * buffer list, and lws_service_do_ripe_rxflow() offers it to lws_read_h1() again on every turn of
 * the loop; in LRS_BODY with no body left, lws_read_h1() goes straight to BODY_COMPLETION and
 * consumes nothing, so the same bytes come back at once: the loop spins inside lws and never gets
 * to write the answer. Pausing reading (lws_rx_flow_control) stops the spin but in 4.1 also stops
 * the connection's POLLOUT service, so that answer could never be written either.
 *
 * So a second BODY_COMPLETION in one transaction means more input is waiting, and this connection
 * cannot be served on. The answer already decided (an error, or a refusal) is written at once,
 * with Connection: close; a request whose work had not started gets a 400 instead of being run
 * for nobody; then the connection is closed. The work of a POST starts only at the WRITEABLE
 * after its body (start_due), which comes after lws has offered the buffered rest of the same
 * read, so bytes sent together with a POST never let it start. GET requests have no body phase
 * and lws 4.1 answers pipelined GETs in order.
 */
static int
on_body_completion(struct http_conn *conn, struct lws *wsi)
{
	struct http_txn *txn = conn->txn;
	int done;

	if (txn == NULL)
		return 0;
	if (txn->lingering)
		return -1; /* the refused body is read past whole: close */
	if (!txn->body_done) {
		txn->body_done = 1;
		if (txn->body_timed) {
			txn->body_timed = 0;
			lws_set_timer_usecs(wsi, LWS_SET_TIMER_USEC_CANCEL);
		}
		if (txn->status != 0 || txn->simple)
			return 0; /* refused already, or served without it: lws only read the body past */
		/* The headers are no longer needed: free the header table for other connections. */
		lws_http_headers_detach(wsi);
		txn->start_due = 1;
		lws_callback_on_writable(wsi);
		return 0;
	}
	log_info("a request followed another before its answer: closing the connection");
	txn->close_after = 1;
	if (txn->headers_sent)
		return -1; /* a stream under way: it ends here; txn_release cancels its work */
	if (txn->job) {
		engine_job_cancel(txn->job);
		txn->job = NULL;
	}
	models_cancel(txn->models);
	txn->models = NULL;
	mcpadmin_cancel(txn->mcpadmin);
	txn->mcpadmin = NULL;
	if (txn->status == 0 || !txn->finished) {
		txn->start_due = 0;
		txn_error(txn, 400, "invalid_request", "pipelined_request", NULL,
		          "a request arrived before the answer to the previous one; send it after the "
		          "answer (or on another connection)");
	}
	/* Written from here: this connection gets no WRITEABLE it could use any more. */
	write_out(txn, &done);
	return -1;
}

static struct http_ctx *
vhost_ctx(struct lws *wsi)
{
	struct lws_vhost *vh = lws_get_vhost(wsi);

	return vh ? lws_get_vhost_user(vh) : NULL;
}

static int
http_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	struct http_conn *conn = user;
	struct http_ctx *ctx;

	switch (reason) {
	case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
		/* An upgrade never reaches LWS_CALLBACK_HTTP, where callers are checked: api/ws (or
		 * api/opstream for the operators' stream) checks it here, the same way, before lws answers
		 * 101. */
		ctx = vhost_ctx(wsi);
		if (ctx && opstream_is_stream(wsi))
			return opstream_confirm_upgrade(wsi, ctx, ctx->env, in);
		return ws_confirm_upgrade(wsi, ctx, in);
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
		return 0; /* confirmed just before */
	case LWS_CALLBACK_ESTABLISHED:
		ctx = vhost_ctx(wsi);
		if (conn && ctx && opstream_is_stream(wsi))
			return opstream_callback(wsi, (int)reason, &conn->op, ctx->env, in, len);
		return ws_callback(wsi, (int)reason, conn ? &conn->ws : NULL, in, len);
	case LWS_CALLBACK_RECEIVE:
	case LWS_CALLBACK_RECEIVE_PONG:
	case LWS_CALLBACK_SERVER_WRITEABLE:
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
	case LWS_CALLBACK_CLOSED:
		if (conn && conn->op)
			return opstream_callback(wsi, (int)reason, &conn->op, NULL, in, len);
		return ws_callback(wsi, (int)reason, conn ? &conn->ws : NULL, in, len);
	case LWS_CALLBACK_WSI_CREATE:
		/* Once per adopted socket, and WSI_DESTROY once when it is closed: the count covers a
		 * connection from adoption to close, also before its first request is served (the
		 * protocol binds, and the per-session data exists, only once a request arrives). Before
		 * adoption api/headguard counts it; adoption moves it from one count to the other within
		 * one call, so none is missed in between. */
		if ((ctx = vhost_ctx(wsi)) != NULL)
			ctx->connections++;
		break;
	case LWS_CALLBACK_WSI_DESTROY:
		if ((ctx = vhost_ctx(wsi)) != NULL && ctx->connections > 0)
			ctx->connections--;
		break;
	case LWS_CALLBACK_HTTP:
		return on_http(conn, wsi, in ? (const char *)in : "/");
	case LWS_CALLBACK_TIMER:
		if (conn && conn->op)
			return opstream_callback(wsi, (int)reason, &conn->op, NULL, in, len);
		if (conn && conn->ws)
			return ws_callback(wsi, (int)reason, &conn->ws, in, len);
		return on_body_timer(conn, wsi);
	case LWS_CALLBACK_HTTP_BODY:
		if (conn->txn)
			conn->txn->body_got += len;
		if (conn->txn && conn->txn->lingering && conn->txn->body_got > HTTP_LINGER_BYTES)
			return -1;
		if (conn->txn && conn->txn->status == 0 && buf_append(&conn->txn->body, in, len) < 0) {
			conn->txn->close_after = 1;
			txn_error(conn->txn, 413, "invalid_request", "request_too_large", NULL,
			          "the request body is too large");
		}
		return 0;
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		return on_body_completion(conn, wsi);
	case LWS_CALLBACK_HTTP_WRITEABLE:
		return on_writeable(conn);
	case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
	case LWS_CALLBACK_CLOSED_HTTP:
		txn_release(conn);
		break;
	default:
		break;
	}
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static const struct lws_protocols protocols[] = {
        /* rx_buffer_size: lws allocates it (+LWS_PRE) for every WebSocket connection at its upgrade;
         * 1 KiB pieces keep an idle connection small (a message is reassembled in api/ws anyway). */
        {"http", http_cb, sizeof(struct http_conn), 1024, 0, NULL, 0},
        {NULL, NULL, 0, 0, 0, NULL, 0},
};

const struct lws_protocols *
http_protocols(void)
{
	return protocols;
}
