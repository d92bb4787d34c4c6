/* session: see session.h. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/log.h"
#include "daemon/redact.h"
#include "daemon/util.h"
#include "mcpclient/channel.h"
#include "mcpclient/jsonrpc.h"
#include "mcpclient/session.h"

#define PROTOCOL_LATEST    "2025-11-25"
#define PROTOCOL_LEGACY    "2024-11-05"
#define RESUME_ATTEMPTS    3    /* reconnections of one stream without progress */
#define RESUME_DEFAULT_MS  1000 /* when the server gave no retry field */
#define LIST_CHANGED_MS    300  /* debounce of notifications/tools/list_changed */
#define BACKOFF_MIN_MS     1000
#define BACKOFF_MAX_MS     60000
#define STREAM_BACKOFF_MAX 60000
#define ANSWERS_MAX        16   /* answers to server requests in flight; more are dropped */
#define LINGER_MS          2000 /* an answered POST stream still open after this is closed */
#define DELETE_TIMEOUT_MS  2000

enum state {
	ST_IDLE,         /* no session: the next request starts one */
	ST_CONNECTING,   /* legacy transport: waiting for the endpoint event */
	ST_INITIALIZING, /* initialize / notifications/initialized in flight */
	ST_READY,
	ST_PROBING, /* pinging after a long idle before reuse */
	ST_BACKOFF, /* failed; requests fail at once until retry_at */
	ST_CLOSING
};

enum purpose {
	P_REQUEST,     /* POST of a request: its answer, or the stream that carries it */
	P_FIRE,        /* POST of a notification or of an answer to the server: body ignored */
	P_INITIALIZED, /* POST of notifications/initialized */
	P_STREAM,      /* the standalone GET stream */
	P_RESUME,      /* GET with Last-Event-ID for one request */
	P_LEGACY,      /* the legacy transport's GET stream */
	P_DELETE
};

enum internal { REQ_USER, REQ_INIT, REQ_PROBE };

struct schan {
	struct mcp_session *s;
	struct mcp_chan *ch;
	enum purpose p;
	struct mcp_req *req; /* weak: the request whose answer this channel carries */
	char *sent_sid;      /* the session id sent with it */
	uint64_t answered_at;
	struct schan *abort_after; /* P_FIRE of notifications/cancelled: the stream to close once sent */
	int is_answer;             /* P_FIRE answering a server request (counted in answers) */
	int in_done;               /* on_chan_done is running for it */
	int detached;              /* out of the session's list */
	struct schan *prev, *next;
};

struct stored_error {
	enum mcp_errkind kind;
	long http_status;
	int rpc_code;
	char message[512];
	char *resource_metadata;
	char *scope;
};

struct mcp_req {
	struct mcp_session *s;
	struct mcp_req *prev, *next;
	json_int_t id;
	char *method;
	json_t *params;
	int flags;
	enum internal internal;
	mcp_progress_cb progress;
	mcp_reply_cb cb;
	void *ud;
	int sent;
	int retried;
	struct schan *via; /* weak: the channel that should bring the answer */
	char *resume_from; /* last event id of the dropped stream */
	int resume_attempts;
	uint64_t resume_at;            /* loop ms; 0: no resumption pending */
	uint64_t deadline;             /* loop ms */
	struct stored_error *deferred; /* a failure to report from the timer */
	uv_timer_t timer;
};

struct mcp_session {
	struct mcp_session_env env;
	char *url;
	char *log_url; /* url without user info or query, for logs and messages */
	char **headers;
	/* The header values: what this server may echo back in an error, a log line's text. */
	struct redact *secrets;
	enum mcp_transport transport;
	enum mcp_transport tried; /* the transport the current attempt uses */
	int fallback_used;
	char first_error[512]; /* Streamable HTTP's error when the fallback is tried */
	enum state state;
	char *sid;
	char version[32];
	json_t *caps;
	char *endpoint; /* legacy: where messages are POSTed */
	json_int_t next_id;
	struct mcp_req *reqs;
	struct schan *chans;
	struct schan *stream; /* P_STREAM or P_LEGACY */
	int reinit;           /* the next successful initialize replaces a session */
	uint64_t last_used;
	uint64_t backoff_ms;
	uint64_t retry_at;
	struct stored_error last_error;
	int stream_failures;
	char *stream_last_id;
	int answers;
	uv_timer_t debounce; /* list_changed */
	uv_timer_t reopen;   /* standalone GET reconnection */
	int handles_open;
	int finishing;
	void (*close_done)(void *ud);
	void *close_ud;
};

static void start_init(struct mcp_session *s);
static void send_req(struct mcp_session *s, struct mcp_req *r);
static void arm(struct mcp_req *r);
static void session_finish_close(struct mcp_session *s);

static uint64_t
now_ms(const struct mcp_session *s)
{
	return uv_now(s->env.loop);
}

/* The first 8 characters of a session id: enough to tell sessions apart in logs, not to use one. */
static const char *
sid_hint(const char *sid, char *out, size_t n)
{
	snprintf(out, n, "%.8s...", sid ? sid : "");
	return out;
}

static void err_set(struct stored_error *e, enum mcp_errkind kind, long http_status, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

static void
err_set(struct stored_error *e, enum mcp_errkind kind, long http_status, const char *fmt, ...)
{
	va_list ap;

	free(e->resource_metadata);
	free(e->scope);
	memset(e, 0, sizeof *e);
	e->kind = kind;
	e->http_status = http_status;
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof e->message, fmt, ap);
	va_end(ap);
}

static void
err_copy(struct stored_error *dst, const struct stored_error *src)
{
	free(dst->resource_metadata);
	free(dst->scope);
	*dst = *src;
	dst->resource_metadata = src->resource_metadata ? xstrdup(src->resource_metadata) : NULL;
	dst->scope = src->scope ? xstrdup(src->scope) : NULL;
}

static void
err_clear(struct stored_error *e)
{
	free(e->resource_metadata);
	free(e->scope);
	memset(e, 0, sizeof *e);
}

static void
err_view(const struct stored_error *e, struct mcp_error *out)
{
	out->kind = e->kind;
	out->http_status = e->http_status;
	out->rpc_code = e->rpc_code;
	out->message = e->message[0] ? e->message : "MCP error";
	out->resource_metadata = e->resource_metadata;
	out->scope = e->scope;
}

/* ---- requests ---- */

static void
on_req_closed(uv_handle_t *h)
{
	struct mcp_req *r = h->data;

	if (r->deferred) {
		err_clear(r->deferred);
		free(r->deferred);
	}
	free(r->resume_from);
	free(r->method);
	json_decref(r->params);
	free(r);
}

static void
req_unlink(struct mcp_req *r)
{
	struct mcp_session *s = r->s;

	if (s->reqs == r)
		s->reqs = r->next;
	if (r->prev)
		r->prev->next = r->next;
	if (r->next)
		r->next->prev = r->prev;
	r->prev = r->next = NULL;
	if (r->via && r->via->req == r)
		r->via->req = NULL;
	r->via = NULL;
}

/* Removes the request and frees it once its timer is closed. No callback. */
static void
req_drop(struct mcp_req *r)
{
	req_unlink(r);
	uv_timer_stop(&r->timer);
	uv_close((uv_handle_t *)&r->timer, on_req_closed);
}

static void
req_fail(struct mcp_req *r, const struct stored_error *e)
{
	struct mcp_error view;
	struct mcp_reply reply = {&view, NULL};
	mcp_reply_cb cb = r->cb;
	void *ud = r->ud;
	/* Shallow: the view borrows resource_metadata and scope; only the message is rewritten, since
	 * it may quote the server's JSON-RPC error or HTTP error body (mcpclient.h: never a secret). */
	struct stored_error clean = *e;

	redact_inplace(r->s->secrets, clean.message, sizeof clean.message);
	err_view(&clean, &view);
	req_drop(r); /* first: the callback may close the session */
	if (cb)
		cb(ud, &reply);
}

static void
req_succeed(struct mcp_req *r, json_t *result)
{
	struct mcp_reply reply = {NULL, result};
	mcp_reply_cb cb = r->cb;
	void *ud = r->ud;

	json_incref(result);
	req_drop(r);
	if (cb)
		cb(ud, &reply);
	json_decref(result);
}

static struct mcp_req *
req_find(struct mcp_session *s, json_int_t id)
{
	struct mcp_req *r;

	for (r = s->reqs; r; r = r->next)
		if (r->sent && r->id == id)
			return r;
	return NULL;
}

/* Fails every user request (only_unsent: those not sent yet). Requests that already carry their own
 * deferred failure (made by a callback of this very loop) keep it, unless the session is closing.
 * Restarts from the head after each callback because a callback may cancel or add requests. */
static void
fail_requests(struct mcp_session *s, const struct stored_error *e, int only_unsent)
{
	struct mcp_req *r;

	for (;;) {
		for (r = s->reqs; r; r = r->next)
			if (r->internal == REQ_USER && (!only_unsent || !r->sent) &&
			    (!r->deferred || s->state == ST_CLOSING))
				break;
		if (!r)
			break;
		req_fail(r, e);
	}
}

/* ---- channels ---- */

static void on_chan_message(void *ud, struct mcp_chan *ch, const struct jsonrpc_msg *msg);
static void on_chan_event(void *ud, struct mcp_chan *ch, const char *event, const char *data);
static void on_chan_done(void *ud, struct mcp_chan *ch, const struct mcp_chan_result *res);

/* Takes the channel out of the session's books; its memory stays until schan_free. */
static void
schan_detach(struct schan *sc)
{
	struct mcp_session *s = sc->s;

	if (sc->detached)
		return;
	sc->detached = 1;
	if (s->chans == sc)
		s->chans = sc->next;
	if (sc->prev)
		sc->prev->next = sc->next;
	if (sc->next)
		sc->next->prev = sc->prev;
	sc->prev = sc->next = NULL;
	if (s->stream == sc)
		s->stream = NULL;
	if (sc->req && sc->req->via == sc)
		sc->req->via = NULL;
	if (sc->is_answer && s->answers > 0)
		s->answers--;
	/* Nobody may point at it any more. */
	{
		struct schan *o;

		for (o = s->chans; o; o = o->next)
			if (o->abort_after == sc)
				o->abort_after = NULL;
	}
}

static void
schan_free(struct schan *sc)
{
	free(sc->sent_sid);
	free(sc);
}

/* Stops the exchange. Inside that channel's own on_done the memory is kept for on_chan_done. */
static void
schan_cancel(struct schan *sc)
{
	mcp_chan_cancel(sc->ch);
	schan_detach(sc);
	if (!sc->in_done)
		schan_free(sc);
}

/*
 * Whether curl may send a POST again on a fresh connection when the reused one died before any
 * answer (xfer_request.no_resend). Only for requests that change nothing a second time would undo:
 * ping and tools/list read, and a second initialize makes a second session that the server drops
 * when it expires, whereas failing it would back the whole server off. A tools/call may act, and a
 * notification or an answer to the server must arrive once (a second notifications/cancelled or
 * initialized confuses a server as much as a second call): those are never resent. GET streams and
 * DELETE (idempotent) have no body and keep curl's resend.
 */
static int
resend_safe(const struct mcp_req *req)
{
	static const char *const safe[] = {"initialize", "ping", "tools/list"};
	size_t i;

	for (i = 0; req && i < sizeof safe / sizeof safe[0]; i++) {
		if (strcmp(req->method, safe[i]) == 0)
			return 1;
	}
	return 0;
}

/*
 * Opens one HTTP exchange on behalf of the session: the configured headers plus MCP's own. body NULL
 * means GET (or DELETE). Returns NULL when curl refuses the request.
 */
static struct schan *
open_chan(struct mcp_session *s, enum purpose p, const char *method, const char *url, const char *body,
          const char *last_event_id, struct mcp_req *req)
{
	static const struct mcp_chan_callbacks cb = {on_chan_message, on_chan_event, on_chan_done};
	const char *hdr[64];
	char *owned[4] = {0};
	struct mcp_chan_request cr = {0};
	struct schan *sc = xcalloc(1, sizeof *sc);
	int n = 0, k = 0, i;
	int streamable = s->tried != MCP_TRANSPORT_SSE;

	for (i = 0; s->headers[i] && n < 56; i++)
		hdr[n++] = s->headers[i];
	if (body) {
		hdr[n++] = "Content-Type: application/json";
		hdr[n++] = streamable ? "Accept: application/json, text/event-stream"
		                      : "Accept: application/json";
	} else if (strcmp(method, "GET") == 0) {
		hdr[n++] = "Accept: text/event-stream";
	}
	if (streamable && s->version[0])
		hdr[n++] = owned[k++] = xasprintf("MCP-Protocol-Version: %s", s->version);
	if (streamable && s->sid) {
		hdr[n++] = owned[k++] = xasprintf("Mcp-Session-Id: %s", s->sid);
		sc->sent_sid = xstrdup(s->sid);
	}
	if (last_event_id && *last_event_id)
		hdr[n++] = owned[k++] = xasprintf("Last-Event-ID: %s", last_event_id);
	hdr[n] = NULL;

	cr.method = method;
	cr.url = url;
	cr.headers = hdr;
	cr.body = body;
	cr.body_len = body ? strlen(body) : 0;
	cr.connect_timeout_ms = s->env.cfg->connect_timeout_ms;
	/* Streams have no total timeout (requests have their own deadlines); short POSTs and DELETE do. */
	cr.total_timeout_ms = p == P_DELETE || p == P_FIRE ? DELETE_TIMEOUT_MS
	                      : p == P_INITIALIZED         ? s->env.cfg->request_timeout_ms
	                                                   : 0;
	cr.max_message = s->env.cfg->max_message_bytes;
	cr.discard_body = p == P_FIRE || p == P_INITIALIZED || p == P_DELETE;
	cr.no_resend = body != NULL && !resend_safe(req);
	sc->s = s;
	sc->p = p;
	sc->req = req;
	sc->ch = mcp_chan_open(s->env.xfer, &cr, &cb, sc);
	for (i = 0; i < k; i++)
		free(owned[i]);
	if (!sc->ch) {
		free(sc->sent_sid);
		free(sc);
		return NULL;
	}
	s->env.stats->http_requests++;
	sc->next = s->chans;
	if (s->chans)
		s->chans->prev = sc;
	s->chans = sc;
	if (req)
		req->via = sc;
	return sc;
}

/* Where messages are POSTed: the endpoint of the legacy transport, the URL itself otherwise. */
static const char *
post_url(const struct mcp_session *s)
{
	return s->tried == MCP_TRANSPORT_SSE ? s->endpoint : s->url;
}

/* POSTs a notification or an answer; nothing waits for its reply. */
static struct schan *
fire(struct mcp_session *s, char *body, enum purpose p)
{
	struct schan *sc = open_chan(s, p, "POST", post_url(s), body, NULL, NULL);

	if (!sc)
		log_warnx("mcp %s: could not send a message", s->log_url);
	free(body);
	return sc;
}

/* ---- initialization ---- */

static void
close_stream(struct mcp_session *s)
{
	if (s->stream)
		schan_cancel(s->stream);
	uv_timer_stop(&s->reopen);
	free(s->stream_last_id);
	s->stream_last_id = NULL;
}

/* Forgets the session (after expiry or failure); the next request initializes a new one. */
static void
drop_session(struct mcp_session *s)
{
	close_stream(s);
	free(s->sid);
	s->sid = NULL;
	s->version[0] = '\0';
	json_decref(s->caps);
	s->caps = NULL;
	free(s->endpoint);
	s->endpoint = NULL;
}

static void
init_failed(struct mcp_session *s, const struct stored_error *e)
{
	struct mcp_req *r;
	char sid[16];

	if (e != &s->last_error)
		err_copy(&s->last_error, e);
	if (s->fallback_used && s->first_error[0])
		/* Report the Streamable HTTP error first: the fallback's own failure would hide it. */
		snprintf(s->last_error.message, sizeof s->last_error.message,
		         "%.300s (HTTP+SSE fallback: %.180s)", s->first_error, e->message);
	e = &s->last_error; /* what every waiting request is failed with */
	redact_inplace(s->secrets, s->last_error.message, sizeof s->last_error.message);
	log_warnx("mcp %s: session %s not usable: %s", s->log_url, sid_hint(s->sid, sid, sizeof sid),
	          e->message);
	/* Internal requests (initialize, probe) of this attempt are void now. */
	for (;;) {
		for (r = s->reqs; r && r->internal == REQ_USER; r = r->next)
			;
		if (!r)
			break;
		req_drop(r);
	}
	drop_session(s);
	s->tried = s->transport;
	s->fallback_used = 0;
	s->first_error[0] = '\0';
	s->backoff_ms = s->backoff_ms ? s->backoff_ms * 2 : BACKOFF_MIN_MS;
	if (s->backoff_ms > BACKOFF_MAX_MS)
		s->backoff_ms = BACKOFF_MAX_MS;
	s->retry_at = now_ms(s) + s->backoff_ms;
	s->state = ST_BACKOFF;
	fail_requests(s, e, 0);
}

static void
flush_queue(struct mcp_session *s)
{
	struct mcp_req *r;

	/* send_req may fail a request (callback), so restart from the head each time. */
	for (;;) {
		for (r = s->reqs; r; r = r->next)
			if (!r->sent && r->internal == REQ_USER && !r->deferred)
				break;
		if (!r || s->state != ST_READY)
			break;
		send_req(s, r);
	}
}

static int
tools_list_changed_declared(const struct mcp_session *s)
{
	json_t *lc = json_object_get(json_object_get(s->caps, "tools"), "listChanged");

	return json_is_true(lc);
}

static void
open_stream(struct mcp_session *s)
{
	if (s->stream || s->tried != MCP_TRANSPORT_STREAMABLE || !tools_list_changed_declared(s))
		return;
	s->stream = open_chan(s, P_STREAM, "GET", s->url, NULL, s->stream_last_id, NULL);
}

static void
become_ready(struct mcp_session *s)
{
	int was_reinit = s->reinit;

	s->state = ST_READY;
	s->reinit = 0;
	s->backoff_ms = 0;
	s->transport = s->tried;
	s->last_used = now_ms(s);
	err_clear(&s->last_error);
	s->env.stats->sessions_opened++;
	if (s->env.on_negotiated)
		s->env.on_negotiated(s->env.ud, s);
	if (was_reinit && s->env.on_tools_changed)
		s->env.on_tools_changed(s->env.ud, s);
	open_stream(s);
	flush_queue(s);
}

static int
version_supported(const char *v, enum mcp_transport t)
{
	static const char *const streamable[] = {"2025-11-25", "2025-06-18", "2025-03-26", NULL};
	int i;

	if (t == MCP_TRANSPORT_SSE)
		return strcmp(v, PROTOCOL_LEGACY) == 0 || strcmp(v, "2025-03-26") == 0;
	for (i = 0; streamable[i]; i++)
		if (strcmp(v, streamable[i]) == 0)
			return 1;
	return 0;
}

static void
fall_back(struct mcp_session *s, const struct stored_error *e)
{
	snprintf(s->first_error, sizeof s->first_error, "%s", e->message);
	s->fallback_used = 1;
	s->tried = MCP_TRANSPORT_SSE;
	log_info("mcp %s: initialize got HTTP %ld; trying the HTTP+SSE transport", s->log_url,
	         e->http_status);
	start_init(s);
}

static void
on_init_reply(void *ud, const struct mcp_reply *reply)
{
	struct mcp_session *s = ud;
	struct stored_error e = {0};
	json_t *v;
	char *body;

	if (reply->error) {
		long st = reply->error->http_status;

		if (s->tried == MCP_TRANSPORT_STREAMABLE && !s->fallback_used &&
		    reply->error->kind == MCP_ERR_HTTP && (st == 400 || st == 404 || st == 405)) {
			err_set(&e, reply->error->kind, st, "%s", reply->error->message);
			fall_back(s, &e);
			err_clear(&e);
			return;
		}
		err_set(&e, reply->error->kind, reply->error->http_status, "%s", reply->error->message);
		e.rpc_code = reply->error->rpc_code;
		if (reply->error->resource_metadata)
			e.resource_metadata = xstrdup(reply->error->resource_metadata);
		if (reply->error->scope)
			e.scope = xstrdup(reply->error->scope);
		init_failed(s, &e);
		err_clear(&e);
		return;
	}
	v = json_object_get(reply->result, "protocolVersion");
	if (!json_is_string(v) || !version_supported(json_string_value(v), s->tried)) {
		err_set(&e, MCP_ERR_PROTOCOL, 0,
		        "the MCP server chose protocol version %.40s, which this client does not speak",
		        json_is_string(v) ? json_string_value(v) : "(none)");
		init_failed(s, &e);
		err_clear(&e);
		return;
	}
	if (!json_is_object(json_object_get(reply->result, "capabilities"))) {
		err_set(&e, MCP_ERR_PROTOCOL, 0, "the MCP server's initialize result has no capabilities");
		init_failed(s, &e);
		err_clear(&e);
		return;
	}
	snprintf(s->version, sizeof s->version, "%s", json_string_value(v));
	json_decref(s->caps);
	s->caps = json_incref(json_object_get(reply->result, "capabilities"));
	body = jsonrpc_notification("notifications/initialized", NULL);
	fire(s, body, P_INITIALIZED);
}

static void
send_initialize(struct mcp_session *s)
{
	const struct mcp_client_config *cfg = s->env.cfg;
	json_t *params =
	        json_pack("{s:s, s:{}, s:{s:s, s:s}}", "protocolVersion",
	                  s->tried == MCP_TRANSPORT_SSE ? PROTOCOL_LEGACY : PROTOCOL_LATEST, "capabilities",
	                  "clientInfo", "name", cfg->client_name, "version", cfg->client_version);
	struct mcp_req *r;

	s->state = ST_INITIALIZING;
	r = mcp_session_request(s, "initialize", params, cfg->request_timeout_ms, 0, NULL, on_init_reply, s);
	json_decref(params);
	r->internal = REQ_INIT;
	send_req(s, r);
}

static void
start_init(struct mcp_session *s)
{
	struct stored_error e = {0};

	free(s->sid);
	s->sid = NULL;
	s->version[0] = '\0';
	if (s->tried == MCP_TRANSPORT_UNKNOWN)
		s->tried = MCP_TRANSPORT_STREAMABLE;
	if (s->tried == MCP_TRANSPORT_SSE) {
		s->state = ST_CONNECTING;
		s->stream = open_chan(s, P_LEGACY, "GET", s->url, NULL, NULL, NULL);
		if (!s->stream) {
			err_set(&e, MCP_ERR_TRANSPORT, 0, "cannot open the HTTP+SSE stream of %s",
			        s->log_url);
			init_failed(s, &e);
			err_clear(&e);
		}
		return;
	}
	send_initialize(s);
}

/* ---- the protocol ---- */

static void
session_expired(struct mcp_session *s, struct mcp_req *r, const struct schan *sc)
{
	struct stored_error e = {0};
	char sid[16];

	if (sc->sent_sid && s->sid && strcmp(sc->sent_sid, s->sid) == 0) {
		log_info("mcp %s: session %s expired; initializing a new one", s->log_url,
		         sid_hint(s->sid, sid, sizeof sid));
		s->env.stats->sessions_expired++;
		drop_session(s);
		s->state = ST_IDLE;
		s->reinit = 1;
	}
	if (!r)
		return;
	if (r->internal == REQ_PROBE) {
		req_drop(r);
	} else if (r->retried || (r->flags & MCP_REQ_NO_RETRY)) {
		err_set(&e, MCP_ERR_EXPIRED, 404, "the MCP session expired during %s", r->method);
		req_fail(r, &e);
		err_clear(&e);
	} else {
		r->retried = 1;
		r->sent = 0;
	}
	if (s->state == ST_IDLE && s->reqs)
		start_init(s);
}

static void
answer_server_request(struct mcp_session *s, const struct jsonrpc_msg *msg)
{
	struct schan *sc;
	char *body;

	if (s->answers >= ANSWERS_MAX) {
		char method[65];

		snprintf(method, sizeof method, "%s", msg->method);
		redact_inplace(s->secrets, method, sizeof method);
		log_warnx("mcp %s: too many server requests in flight; %s dropped", s->log_url, method);
		return;
	}
	if (strcmp(msg->method, "ping") == 0)
		body = jsonrpc_result(msg->id, NULL);
	else
		body = jsonrpc_error(msg->id, JSONRPC_METHOD_NOT_FOUND,
		                     "Method not found: this client declares no such capability");
	sc = fire(s, body, P_FIRE);
	if (sc) {
		sc->is_answer = 1;
		s->answers++;
	}
}

static void
on_debounce(uv_timer_t *t)
{
	struct mcp_session *s = t->data;

	if (s->env.on_tools_changed)
		s->env.on_tools_changed(s->env.ud, s);
}

static void
on_notification(struct mcp_session *s, const struct jsonrpc_msg *msg)
{
	if (strcmp(msg->method, "notifications/tools/list_changed") == 0) {
		uv_timer_start(&s->debounce, on_debounce, LIST_CHANGED_MS, 0);
	} else if (strcmp(msg->method, "notifications/progress") == 0) {
		json_t *tok = json_object_get(msg->params, "progressToken");
		json_t *p = json_object_get(msg->params, "progress");
		json_t *total = json_object_get(msg->params, "total");
		json_t *m = json_object_get(msg->params, "message");
		struct mcp_req *r;

		if (!json_is_integer(tok) || !json_is_number(p))
			return;
		r = req_find(s, json_integer_value(tok));
		if (r && r->progress)
			r->progress(r->ud, json_number_value(p),
			            json_is_number(total) ? json_number_value(total) : -1,
			            json_is_string(m) ? json_string_value(m) : NULL);
	}
	/* logging, resources, cancelled (we run no server requests that take long): ignored. */
}

static void
on_chan_message(void *ud, struct mcp_chan *ch, const struct jsonrpc_msg *msg)
{
	struct schan *sc = ud;
	struct mcp_session *s = sc->s;
	struct mcp_req *r = NULL;
	struct stored_error e = {0};

	s->last_used = now_ms(s);
	if (sc->p == P_STREAM)
		s->stream_failures = 0;
	if (msg->kind == JSONRPC_REQUEST) {
		answer_server_request(s, msg);
		return;
	}
	if (msg->kind == JSONRPC_NOTIFICATION) {
		on_notification(s, msg);
		return;
	}
	if (msg->id_is_int)
		r = req_find(s, msg->id_int);
	else if ((!msg->id || json_is_null(msg->id)) && sc->req)
		r = sc->req; /* an error the server could not tie to a request: this POST's own */
	if (!r)
		return; /* late answer to a cancelled or timed-out request */
	if (r->internal == REQ_INIT && sc->p == P_REQUEST) {
		const char *sid = mcp_chan_session_id(ch);
		size_t i;

		/* Taken only from the answer that carries InitializeResult, and only if it is visible
		 * ASCII: it goes back in a header. */
		free(s->sid);
		s->sid = NULL;
		for (i = 0; sid && sid[i]; i++)
			if (sid[i] < 0x21 || sid[i] > 0x7e)
				break;
		if (sid && !sid[i] && msg->result)
			s->sid = xstrdup(sid);
	}
	if (sc->req == r)
		sc->answered_at = now_ms(s);
	if (sc->p == P_RESUME && sc->req == r) {
		/* The awaited answer came: this GET has done its job. */
		sc->req = NULL;
		r->via = NULL;
		schan_cancel(sc);
	}
	if (msg->error) {
		/* Redacted before the cut: a secret cut in two would no longer be recognised. */
		char *text = redact_strdup(s->secrets, msg->error_message);

		/* Servers often put "MCP error <code>:" in the message already. */
		if (strncmp(text, "MCP error", 9) == 0)
			err_set(&e, MCP_ERR_RPC, 0, "%.450s", text);
		else
			err_set(&e, MCP_ERR_RPC, 0, "MCP error %d: %.400s", msg->error_code, text);
		free(text);
		e.rpc_code = msg->error_code;
		req_fail(r, &e);
		err_clear(&e);
	} else {
		req_succeed(r, msg->result);
	}
}

static void
on_chan_event(void *ud, struct mcp_chan *ch, const char *event, const char *data)
{
	struct schan *sc = ud;
	struct mcp_session *s = sc->s;
	struct stored_error e = {0};

	if (sc->p != P_LEGACY || strcmp(event, "endpoint") != 0 || s->state != ST_CONNECTING)
		return;
	free(s->endpoint);
	s->endpoint = mcp_url_same_origin(s->url, data);
	if (!s->endpoint) {
		err_set(&e, MCP_ERR_PROTOCOL, 0, "the HTTP+SSE endpoint is not on the server's origin");
		init_failed(s, &e);
		err_clear(&e);
		return;
	}
	send_initialize(s);
}

static void
schedule_resume(struct mcp_req *r, const char *last_id, long retry_ms)
{
	struct mcp_session *s = r->s;

	char *from = xstrdup(last_id); /* last_id may be r->resume_from itself */

	if (!r->resume_from || strcmp(r->resume_from, from) != 0)
		r->resume_attempts = 0; /* progress: the cursor moved */
	free(r->resume_from);
	r->resume_from = from;
	r->resume_attempts++;
	r->resume_at = now_ms(s) + (uint64_t)(retry_ms >= 0 ? retry_ms : RESUME_DEFAULT_MS);
	arm(r);
}

/* The error body the server sent is redacted with secrets before it is cut into the message: a
 * secret cut in two would no longer be recognised. */
static void
http_error(struct stored_error *e, const struct mcp_chan_result *res, struct mcp_chan *ch, const char *what,
           const struct redact *secrets)
{
	char *body;

	if (res->status == 401 || res->status == 403) {
		const char *rm = mcp_chan_auth_resource_metadata(ch), *scope = mcp_chan_auth_scope(ch);

		err_set(e, MCP_ERR_AUTH, res->status,
		        "the MCP server refused the credentials (HTTP %ld)%s%s%s%s", res->status,
		        rm ? "; resource_metadata " : "", rm ? rm : "", scope ? "; scope " : "",
		        scope ? scope : "");
		e->resource_metadata = rm ? xstrdup(rm) : NULL;
		e->scope = scope ? xstrdup(scope) : NULL;
		return;
	}
	body = redact_strdup(secrets, res->rpc_error);
	err_set(e, MCP_ERR_HTTP, res->status, "the MCP server answered %s with HTTP %ld%s%.300s", what,
	        res->status, body ? ": " : "", body ? body : "");
	free(body);
}

static void
request_chan_done(struct schan *sc, const struct mcp_chan_result *res)
{
	struct mcp_session *s = sc->s;
	struct mcp_req *r = sc->req;
	struct stored_error e = {0};
	int expired_400;

	if (!r || r->via != sc)
		return; /* answered already */
	r->via = NULL;
	expired_400 = res->status == 400 && res->rpc_error && strcasestr(res->rpc_error, "session");
	if (s->tried == MCP_TRANSPORT_STREAMABLE && sc->sent_sid && (res->status == 404 || expired_400)) {
		session_expired(s, r, sc);
		return;
	}
	if (res->status >= 300) {
		http_error(&e, res, sc->ch, r->method, r->s->secrets);
		req_fail(r, &e);
		/* A refused credential fails every request: back off instead of retrying. */
		if (e.kind == MCP_ERR_AUTH && s->state == ST_READY)
			init_failed(s, &e);
		err_clear(&e);
		return;
	}
	if (s->tried == MCP_TRANSPORT_SSE && res->ok)
		return; /* legacy: the answer comes on the GET stream */
	if (mcp_chan_is_sse(sc->ch) && mcp_chan_last_event_id(sc->ch)[0] && r->internal == REQ_USER &&
	    !res->protocol_error && r->resume_attempts < RESUME_ATTEMPTS) {
		schedule_resume(r, mcp_chan_last_event_id(sc->ch), mcp_chan_retry_ms(sc->ch));
		return;
	}
	if (!res->ok)
		err_set(&e, res->protocol_error ? MCP_ERR_PROTOCOL : MCP_ERR_TRANSPORT, 0, "%s", res->error);
	else
		err_set(&e, MCP_ERR_PROTOCOL, res->status,
		        "the MCP server ended its answer to %s without a response", r->method);
	req_fail(r, &e);
	err_clear(&e);
}

static void
resume_chan_done(struct schan *sc, const struct mcp_chan_result *res)
{
	struct mcp_req *r = sc->req;
	struct stored_error e = {0};
	const char *last = mcp_chan_last_event_id(sc->ch);

	if (!r || r->via != sc)
		return;
	r->via = NULL;
	if (res->status >= 300) {
		http_error(&e, res, sc->ch, "a resumption", r->s->secrets);
	} else if (res->protocol_error) {
		err_set(&e, MCP_ERR_PROTOCOL, 0, "%s", res->error);
	} else if (r->resume_attempts < RESUME_ATTEMPTS || (last[0] && strcmp(last, r->resume_from) != 0)) {
		schedule_resume(r, last[0] ? last : r->resume_from, mcp_chan_retry_ms(sc->ch));
		return;
	} else {
		err_set(&e, MCP_ERR_TRANSPORT, 0,
		        "the MCP server's stream for %s ended %d times without an answer", r->method,
		        r->resume_attempts);
	}
	req_fail(r, &e);
	err_clear(&e);
}

static void
on_reopen(uv_timer_t *t)
{
	struct mcp_session *s = t->data;

	if (s->state == ST_READY)
		open_stream(s);
}

static void
stream_done(struct schan *sc, const struct mcp_chan_result *res)
{
	struct mcp_session *s = sc->s;
	const char *last = mcp_chan_last_event_id(sc->ch);
	uint64_t delay;
	long retry = mcp_chan_retry_ms(sc->ch);

	s->stream = NULL;
	/* 405: no stream offered; 409: one is open already; other 4xx: stateless or test servers. */
	if (res->status != 200 || s->state != ST_READY)
		return;
	if (last[0]) {
		free(s->stream_last_id);
		s->stream_last_id = xstrdup(last);
	}
	s->stream_failures++;
	/* The server's retry is honoured for a stream that delivered something; one that keeps closing
	 * without a message is backed off whatever retry says, so a server cannot make us spin. */
	delay = (uint64_t)BACKOFF_MIN_MS << (s->stream_failures < 7 ? s->stream_failures - 1 : 6);
	if (retry >= 0 && (s->stream_failures == 1 || (uint64_t)retry > delay))
		delay = (uint64_t)retry;
	if (delay > STREAM_BACKOFF_MAX)
		delay = STREAM_BACKOFF_MAX;
	uv_timer_start(&s->reopen, on_reopen, delay, 0);
}

static void
legacy_done(struct schan *sc, const struct mcp_chan_result *res)
{
	struct mcp_session *s = sc->s;
	struct stored_error e = {0};
	struct mcp_req *r;

	s->stream = NULL;
	if (s->state == ST_CONNECTING || s->state == ST_INITIALIZING) {
		if (res->status >= 300)
			http_error(&e, res, sc->ch, "the HTTP+SSE stream", s->secrets);
		else
			err_set(&e, MCP_ERR_TRANSPORT, res->status, "the HTTP+SSE stream ended: %s",
			        res->error[0] ? res->error : "closed by the server");
		init_failed(s, &e);
		err_clear(&e);
		return;
	}
	if (s->state != ST_READY && s->state != ST_PROBING)
		return;
	/* The legacy transport has no resumption: the session is gone with its stream. */
	s->env.stats->sessions_expired++;
	drop_session(s);
	s->state = ST_IDLE;
	s->reinit = 1;
	for (;;) {
		for (r = s->reqs; r && !(r->sent && r->internal == REQ_USER); r = r->next)
			;
		if (!r)
			break;
		if (r->retried || (r->flags & MCP_REQ_NO_RETRY)) {
			err_set(&e, MCP_ERR_EXPIRED, 0, "the HTTP+SSE stream ended during %s", r->method);
			req_fail(r, &e);
			err_clear(&e);
		} else {
			r->retried = 1;
			r->sent = 0;
		}
	}
	for (r = s->reqs; r; r = r->next)
		if (r->internal != REQ_USER)
			break;
	if (s->reqs)
		start_init(s);
}

static void
on_chan_done(void *ud, struct mcp_chan *ch, const struct mcp_chan_result *res)
{
	struct schan *sc = ud;
	struct mcp_session *s = sc->s;
	struct stored_error e = {0};

	sc->in_done = 1;
	switch (sc->p) {
	case P_REQUEST:
		request_chan_done(sc, res);
		break;
	case P_RESUME:
		resume_chan_done(sc, res);
		break;
	case P_STREAM:
		stream_done(sc, res);
		break;
	case P_LEGACY:
		legacy_done(sc, res);
		break;
	case P_INITIALIZED:
		if (s->state != ST_INITIALIZING)
			break;
		if (res->ok && res->status >= 200 && res->status < 300) {
			become_ready(s);
		} else {
			if (res->status >= 300)
				http_error(&e, res, ch, "notifications/initialized", s->secrets);
			else
				err_set(&e, MCP_ERR_TRANSPORT, 0, "%s", res->error);
			init_failed(s, &e);
			err_clear(&e);
		}
		break;
	case P_FIRE:
		if (sc->abort_after) {
			struct schan *target = sc->abort_after;

			sc->abort_after = NULL;
			schan_cancel(target);
		}
		if (!res->ok || res->status >= 300)
			log_debug("mcp %s: a notification got HTTP %ld %s", s->log_url, res->status,
			          res->error);
		break;
	case P_DELETE:
		break;
	}
	schan_detach(sc);
	schan_free(sc);
	if (s->state == ST_CLOSING && !s->chans)
		session_finish_close(s);
}

/* ---- sending ---- */

static void
send_req(struct mcp_session *s, struct mcp_req *r)
{
	struct stored_error e = {0};
	json_t *params = r->params;
	char *body;

	if ((r->flags & MCP_REQ_TOOLS) && !json_is_object(json_object_get(s->caps, "tools"))) {
		err_set(&e, MCP_ERR_UNSUPPORTED, 0, "the MCP server does not offer tools");
		req_fail(r, &e);
		err_clear(&e);
		return;
	}
	r->id = s->next_id++;
	if (r->progress) {
		/* The request id doubles as the progress token: unique among our active requests. */
		json_t *meta;

		params = params ? json_deep_copy(params) : json_object();
		meta = json_object_get(params, "_meta");
		if (!json_is_object(meta)) {
			meta = json_object();
			json_object_set_new(params, "_meta", meta);
		}
		json_object_set_new(meta, "progressToken", json_integer(r->id));
	}
	body = jsonrpc_request(r->id, r->method, params);
	if (params != r->params)
		json_decref(params);
	r->sent = 1;
	s->last_used = now_ms(s);
	if (!open_chan(s, P_REQUEST, "POST", post_url(s), body, NULL, r)) {
		err_set(&e, MCP_ERR_TRANSPORT, 0, "cannot send %s to %s", r->method, s->log_url);
		if (r->internal == REQ_USER)
			req_fail(r, &e);
		else
			init_failed(s, &e);
		err_clear(&e);
	}
	free(body);
}

/*
 * Tells the server a request is cancelled, then closes the stream that would carry its answer, in
 * that order (a dropped stream alone is not a cancellation, and closing it first could let the
 * server miss which request went away). The request itself is forgotten by the caller.
 */
static void
send_cancelled(struct mcp_session *s, struct mcp_req *r, const char *reason)
{
	struct schan *via = r->via, *note = NULL;
	json_t *params;

	r->via = NULL;
	if (via && via->req == r)
		via->req = NULL;
	if (r->sent && r->internal != REQ_INIT && s->version[0]) {
		params = json_pack("{s:I, s:s}", "requestId", r->id, "reason", reason ? reason : "cancelled");
		note = fire(s, jsonrpc_notification("notifications/cancelled", params), P_FIRE);
		json_decref(params);
	}
	if (!via || (via->p != P_REQUEST && via->p != P_RESUME))
		return;
	if (note && s->tried == MCP_TRANSPORT_STREAMABLE)
		note->abort_after = via;
	else
		schan_cancel(via);
}

static void
on_probe_reply(void *ud, const struct mcp_reply *reply)
{
	struct mcp_session *s = ud;
	struct stored_error e = {0};

	if (s->state != ST_PROBING)
		return;
	if (!reply->error || reply->error->kind == MCP_ERR_RPC) {
		/* Any JSON-RPC answer, even an error, proves the session alive. */
		s->state = ST_READY;
		flush_queue(s);
		return;
	}
	err_set(&e, reply->error->kind, reply->error->http_status, "%s", reply->error->message);
	init_failed(s, &e);
	err_clear(&e);
}

static void
on_req_timer(uv_timer_t *t)
{
	struct mcp_req *r = t->data;
	struct mcp_session *s = r->s;
	struct stored_error e = {0};
	uint64_t now = now_ms(s);

	if (r->deferred) {
		err_copy(&e, r->deferred);
		req_fail(r, &e);
		err_clear(&e);
		return;
	}
	if (now < r->deadline && r->resume_at && now >= r->resume_at) {
		const char *from = r->resume_from;

		r->resume_at = 0;
		log_debug("mcp %s: resuming the answer to %s (attempt %d)", s->log_url, r->method,
		          r->resume_attempts);
		if (!open_chan(s, P_RESUME, "GET", s->url, NULL, from, r)) {
			err_set(&e, MCP_ERR_TRANSPORT, 0, "cannot resume the answer to %s", r->method);
			req_fail(r, &e);
			err_clear(&e);
			return;
		}
		arm(r);
		return;
	}
	if (now < r->deadline) {
		arm(r);
		return;
	}
	err_set(&e, MCP_ERR_TIMEOUT, 0, "the MCP server did not answer %s in time", r->method);
	if (r->internal == REQ_USER) {
		send_cancelled(s, r, "timeout");
		req_fail(r, &e);
	} else {
		/* initialize must not be cancelled; a probe that times out means the server is gone. */
		init_failed(s, &e);
	}
	err_clear(&e);
}

static void
arm(struct mcp_req *r)
{
	uint64_t now = now_ms(r->s), next = r->deadline;

	if (r->resume_at && r->resume_at < next)
		next = r->resume_at;
	uv_timer_start(&r->timer, on_req_timer, next > now ? next - now : 0, 0);
}

struct mcp_req *
mcp_session_request(struct mcp_session *s, const char *method, json_t *params, long timeout_ms, int flags,
                    mcp_progress_cb progress, mcp_reply_cb cb, void *ud)
{
	struct mcp_req *r = xcalloc(1, sizeof *r);
	uint64_t now = now_ms(s);

	r->s = s;
	r->method = xstrdup(method);
	r->params = params ? json_deep_copy(params) : NULL;
	r->flags = flags;
	r->progress = progress;
	r->cb = cb;
	r->ud = ud;
	r->deadline = now + (uint64_t)(timeout_ms > 0 ? timeout_ms : 60000);
	uv_timer_init(s->env.loop, &r->timer);
	r->timer.data = r;
	r->next = s->reqs;
	if (s->reqs)
		s->reqs->prev = r;
	s->reqs = r;
	arm(r);
	/* Internal requests (initialize, probe) are sent by their caller. */
	if (strcmp(method, "initialize") == 0 || strcmp(method, "ping") == 0)
		return r;

	if (s->state == ST_CLOSING) {
		r->deferred = xcalloc(1, sizeof *r->deferred);
		err_set(r->deferred, MCP_ERR_CLOSED, 0, "the MCP client is shutting down");
		uv_timer_start(&r->timer, on_req_timer, 0, 0);
		return r;
	}
	if (s->state == ST_BACKOFF) {
		if (now < s->retry_at) {
			r->deferred = xcalloc(1, sizeof *r->deferred);
			err_copy(r->deferred, &s->last_error);
			snprintf(r->deferred->message, sizeof r->deferred->message,
			         "the MCP server failed %.1f s ago and is backed off for %.1f s more: %.400s",
			         (double)(now + s->backoff_ms - s->retry_at) / 1000.0,
			         (double)(s->retry_at - now) / 1000.0, s->last_error.message);
			if (r->deferred->kind != MCP_ERR_AUTH)
				r->deferred->kind = MCP_ERR_UNAVAILABLE;
			uv_timer_start(&r->timer, on_req_timer, 0, 0);
			return r;
		}
		s->state = ST_IDLE;
	}
	if (s->state == ST_READY && now - s->last_used >= (uint64_t)s->env.cfg->ping_after_idle_s * 1000) {
		struct mcp_req *probe;

		s->state = ST_PROBING;
		probe = mcp_session_request(s, "ping", NULL, s->env.cfg->connect_timeout_ms + 5000, 0, NULL,
		                            on_probe_reply, s);
		probe->internal = REQ_PROBE;
		send_req(s, probe);
		return r;
	}
	if (s->state == ST_READY)
		send_req(s, r);
	else if (s->state == ST_IDLE)
		start_init(s);
	return r;
}

void
mcp_session_cancel(struct mcp_req *r, const char *reason)
{
	struct mcp_session *s;

	if (!r)
		return;
	s = r->s;
	send_cancelled(s, r, reason);
	req_drop(r);
}

/* ---- lifetime ---- */

struct mcp_session *
mcp_session_new(const struct mcp_session_env *env, const char *url, const char *const *headers,
                enum mcp_transport transport)
{
	struct mcp_session *s = xcalloc(1, sizeof *s);
	int n = 0, i;

	s->env = *env;
	s->url = xstrdup(url);
	s->log_url = util_url_redact(url);
	while (headers && headers[n])
		n++;
	s->headers = xcalloc((size_t)n + 1, sizeof *s->headers);
	for (i = 0; i < n; i++)
		s->headers[i] = xstrdup(headers[i]);
	s->secrets = redact_new();
	redact_add_headers(s->secrets, (const char *const *)s->headers);
	redact_add_url(s->secrets, s->url);
	s->transport = transport;
	s->tried = transport;
	s->next_id = 1;
	s->last_used = now_ms(s);
	uv_timer_init(env->loop, &s->debounce);
	uv_timer_init(env->loop, &s->reopen);
	s->debounce.data = s;
	s->reopen.data = s;
	s->handles_open = 2;
	return s;
}

static void
on_session_handle_closed(uv_handle_t *h)
{
	struct mcp_session *s = h->data;
	int i;

	if (--s->handles_open > 0)
		return;
	if (s->close_done)
		s->close_done(s->close_ud);
	for (i = 0; s->headers[i]; i++)
		free(s->headers[i]);
	free(s->headers);
	redact_free(s->secrets);
	free(s->url);
	free(s->log_url);
	free(s->sid);
	free(s->endpoint);
	free(s->stream_last_id);
	json_decref(s->caps);
	err_clear(&s->last_error);
	free(s);
}

static void
session_finish_close(struct mcp_session *s)
{
	if (s->finishing)
		return;
	s->finishing = 1;
	uv_close((uv_handle_t *)&s->debounce, on_session_handle_closed);
	uv_close((uv_handle_t *)&s->reopen, on_session_handle_closed);
}

void
mcp_session_close(struct mcp_session *s, void (*done)(void *ud), void *ud)
{
	struct stored_error e = {0};
	struct mcp_req *r;
	char sid[16];

	if (!s || s->state == ST_CLOSING)
		return;
	s->close_done = done;
	s->close_ud = ud;
	err_set(&e, MCP_ERR_CLOSED, 0, "the MCP session was closed");
	s->state = ST_CLOSING;
	fail_requests(s, &e, 0);
	err_clear(&e);
	while ((r = s->reqs))
		req_drop(r);
	/* Streams go; notifications already on their way (a cancellation) are let through, bounded
	 * by their own timeout, and close the stream they name when they are answered. */
	for (;;) {
		struct schan *sc;

		/* schan_cancel unlinks what it frees; the analyzer cannot see that through `detached`. */
		/* NOLINTNEXTLINE(clang-analyzer-unix.Malloc) */
		for (sc = s->chans; sc && sc->p == P_FIRE; sc = sc->next)
			;
		if (!sc)
			break;
		schan_cancel(sc);
	}
	uv_timer_stop(&s->debounce);
	uv_timer_stop(&s->reopen);
	if (s->sid && s->tried == MCP_TRANSPORT_STREAMABLE) {
		log_debug("mcp %s: deleting session %s", s->log_url, sid_hint(s->sid, sid, sizeof sid));
		s->env.stats->sessions_closed++;
		open_chan(s, P_DELETE, "DELETE", s->url, NULL, NULL, NULL);
	}
	if (!s->chans)
		session_finish_close(s); /* otherwise on_chan_done does, after the last one */
}

void
mcp_session_free(struct mcp_session *s)
{
	struct mcp_req *r;

	if (!s)
		return;
	s->close_done = NULL;
	s->state = ST_CLOSING;
	while ((r = s->reqs))
		req_drop(r);
	/* schan_cancel takes the head off the list (the analyzer cannot see it through `detached`). */
	while (s->chans)
		schan_cancel(s->chans); /* NOLINT(clang-analyzer-unix.Malloc) */
	session_finish_close(s);
}

void
mcp_session_tick(struct mcp_session *s)
{
	uint64_t now = now_ms(s);
	struct schan *sc, *next;

	for (sc = s->chans; sc; sc = next) {
		next = sc->next;
		if (sc->p == P_REQUEST && sc->answered_at && now - sc->answered_at > LINGER_MS)
			schan_cancel(sc);
	}
}

int
mcp_session_ready(const struct mcp_session *s)
{
	return s->state == ST_READY || s->state == ST_PROBING;
}

int
mcp_session_pending(const struct mcp_session *s)
{
	const struct mcp_req *r;
	int n = 0;

	for (r = s->reqs; r; r = r->next)
		if (r->internal == REQ_USER)
			n++;
	return n;
}

uint64_t
mcp_session_last_used(const struct mcp_session *s)
{
	return s->last_used;
}

const char *
mcp_session_version(const struct mcp_session *s)
{
	return s->version;
}

enum mcp_transport
mcp_session_transport(const struct mcp_session *s)
{
	return s->transport;
}
