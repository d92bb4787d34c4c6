/* channel: see channel.h. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "daemon/buf.h"
#include "daemon/sse.h"
#include "daemon/util.h"
#include "daemon/xfer.h"
#include "mcpclient/channel.h"
#include "mcpclient/jsonrpc.h"

#define CHAN_ERROR_BODY_MAX ((size_t)64 * 1024)
#define CHAN_HEADER_MAX     ((size_t)64 * 1024)

enum body_kind {
	BODY_NONE,  /* no answer yet */
	BODY_JSON,  /* application/json: one message (or a batch), parsed at the end */
	BODY_SSE,   /* text/event-stream: parsed as it comes */
	BODY_EMPTY, /* 202 / 204: nothing expected, anything sent is skipped */
	BODY_ERROR  /* an HTTP error: kept (capped) for its JSON-RPC error message */
};

struct mcp_chan {
	struct xfer *x; /* NULL once the transfer ended or was cancelled */
	struct mcp_chan_callbacks cb;
	void *ud;
	size_t max_message;
	long status;
	enum body_kind kind;
	char *session_id;
	char *resource_metadata;
	char *scope;
	struct sse_parser *sse;
	struct buf body;
	char error[256]; /* the first protocol error; "" when none */
	int discard_body;
	int depth; /* > 0 while an owner callback may be on the stack */
	int cancelled;
};

static void
chan_free(struct mcp_chan *ch)
{
	sse_parser_free(ch->sse);
	buf_free(&ch->body);
	free(ch->session_id);
	free(ch->resource_metadata);
	free(ch->scope);
	free(ch);
}

/* Leaves an owner-callback frame; 1 when the channel was cancelled meanwhile and is now freed. */
static int
leave(struct mcp_chan *ch)
{
	if (--ch->depth == 0 && ch->cancelled) {
		chan_free(ch);
		return 1;
	}
	return 0;
}

static void
protocol_error(struct mcp_chan *ch, const char *msg)
{
	if (!ch->error[0])
		snprintf(ch->error, sizeof ch->error, "%s", msg);
}

static int
on_rpc_message(void *ud, const struct jsonrpc_msg *msg)
{
	struct mcp_chan *ch = ud;

	if (ch->cancelled)
		return 1;
	if (ch->cb.on_message)
		ch->cb.on_message(ch->ud, ch, msg);
	return ch->cancelled ? 1 : 0;
}

static int
deliver(struct mcp_chan *ch, const char *data, size_t len)
{
	char err[200];
	int rc = jsonrpc_parse(data, len, on_rpc_message, ch, err, sizeof err);

	if (rc < 0) {
		char msg[256];

		snprintf(msg, sizeof msg, "invalid message from the MCP server: %s", err);
		protocol_error(ch, msg);
		return -1;
	}
	return rc;
}

static int
on_sse_event(void *ud, const struct sse_event *ev)
{
	struct mcp_chan *ch = ud;

	if (strcmp(ev->event, "message") == 0)
		return deliver(ch, ev->data, ev->data_len) != 0;
	if (ch->cb.on_event)
		ch->cb.on_event(ch->ud, ch, ev->event, ev->data);
	return ch->cancelled;
}

static int
media_is(const char *ct, const char *essence)
{
	size_t n = strlen(essence);

	while (ct && (*ct == ' ' || *ct == '\t'))
		ct++;
	return ct && strncasecmp(ct, essence, n) == 0 && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

static int
on_headers(void *ud, long status, const char *content_type)
{
	struct mcp_chan *ch = ud;
	const char *sid = xfer_header(ch->x, "Mcp-Session-Id");
	const char *auth = xfer_header(ch->x, "WWW-Authenticate");

	ch->status = status;
	if (sid && *sid && strlen(sid) < 1024)
		ch->session_id = xstrdup(sid);
	if (auth) {
		ch->resource_metadata = mcp_auth_param(auth, "resource_metadata");
		ch->scope = mcp_auth_param(auth, "scope");
	}
	if (status >= 300) {
		ch->kind = BODY_ERROR;
		buf_init(&ch->body, CHAN_ERROR_BODY_MAX);
	} else if (status == 202 || status == 204 || ch->discard_body) {
		/* Nothing is expected; some servers still send a JSON body, which is skipped. */
		ch->kind = BODY_EMPTY;
	} else if (media_is(content_type, "text/event-stream")) {
		ch->kind = BODY_SSE;
		ch->sse = sse_parser_new(ch->max_message, on_sse_event, ch);
	} else if (media_is(content_type, "application/json")) {
		ch->kind = BODY_JSON;
		buf_init(&ch->body, ch->max_message);
	} else {
		char msg[200];

		snprintf(msg, sizeof msg, "the MCP server answered HTTP %ld with Content-Type %.80s", status,
		         content_type ? content_type : "(none)");
		protocol_error(ch, msg);
		return -1;
	}
	return 0;
}

static int
on_data(void *ud, const char *data, size_t len)
{
	struct mcp_chan *ch = ud;
	int rc = XFER_OK;

	switch (ch->kind) {
	case BODY_SSE:
		ch->depth++;
		if (sse_parser_feed(ch->sse, data, len) == -1) {
			char msg[120];

			snprintf(msg, sizeof msg, "an SSE event from the MCP server is larger than %zu bytes",
			         ch->max_message);
			protocol_error(ch, msg);
		}
		if (leave(ch))
			return XFER_ABORT; /* ignored: the transfer was cancelled with the channel */
		if (ch->cancelled || ch->error[0])
			rc = XFER_ABORT;
		break;
	case BODY_JSON:
		if (buf_append(&ch->body, data, len) == -1) {
			char msg[120];

			snprintf(msg, sizeof msg, "an answer from the MCP server is larger than %zu bytes",
			         ch->max_message);
			protocol_error(ch, msg);
			rc = XFER_ABORT;
		}
		break;
	case BODY_ERROR:
		/* Only the start of an error body is kept; the rest is skipped, not refused. */
		if (ch->body.len < CHAN_ERROR_BODY_MAX)
			buf_append(&ch->body, data,
			           len < CHAN_ERROR_BODY_MAX - ch->body.len
			                   ? len
			                   : CHAN_ERROR_BODY_MAX - ch->body.len);
		break;
	default:
		break;
	}
	return rc;
}

static int
find_error_message(void *ud, const struct jsonrpc_msg *msg)
{
	const char **out = ud;

	if (msg->kind == JSONRPC_RESPONSE && msg->error && !*out)
		*out = xstrdup(msg->error_message);
	return 0;
}

static void
on_done(void *ud, const struct xfer_result *xr)
{
	struct mcp_chan *ch = ud;
	struct mcp_chan_result r = {0};
	char err[120], msg[300];
	const char *rpc_error = NULL;

	ch->x = NULL; /* freed by xfer after this returns */
	ch->depth++;
	if (xr->ok && ch->kind == BODY_JSON && ch->status < 300 && !ch->error[0]) {
		if (ch->body.len == 0)
			protocol_error(ch, "the MCP server answered with an empty JSON body");
		else
			deliver(ch, ch->body.data, ch->body.len);
	}
	if (ch->kind == BODY_ERROR && ch->body.len)
		jsonrpc_parse(ch->body.data, ch->body.len, find_error_message, &rpc_error, err, sizeof err);
	if (!ch->cancelled && ch->cb.on_done) {
		r.status = ch->status;
		r.timed_out = xr->timed_out;
		r.rpc_error = rpc_error;
		if (ch->error[0]) {
			r.error = ch->error;
			r.protocol_error = 1;
		} else if (!xr->ok) {
			snprintf(msg, sizeof msg, "MCP server: %s", xr->error);
			r.error = msg;
		} else {
			r.ok = 1;
			r.error = "";
		}
		ch->cb.on_done(ch->ud, ch, &r);
	}
	free((char *)rpc_error);
	chan_free(ch); /* on_done is last, cancelled or not */
}

struct mcp_chan *
mcp_chan_open(struct xfer_ctx *xfer, const struct mcp_chan_request *req, const struct mcp_chan_callbacks *cb,
              void *ud)
{
	static const struct xfer_callbacks xcb = {on_headers, on_data, on_done};
	struct mcp_chan *ch = xcalloc(1, sizeof *ch);
	struct xfer_request xr = {
	        .method = req->method,
	        .url = req->url,
	        .headers = req->headers,
	        .body = req->body,
	        .body_len = req->body_len,
	        .connect_timeout_ms = req->connect_timeout_ms,
	        .total_timeout_ms = req->total_timeout_ms,
	        .max_header_bytes = CHAN_HEADER_MAX,
	        .no_resend = req->no_resend,
	};

	ch->cb = *cb;
	ch->ud = ud;
	ch->max_message = req->max_message ? req->max_message : (size_t)8 << 20;
	ch->discard_body = req->discard_body;
	ch->x = xfer_start(xfer, &xr, &xcb, ch);
	if (!ch->x) {
		free(ch);
		return NULL;
	}
	return ch;
}

void
mcp_chan_cancel(struct mcp_chan *ch)
{
	if (!ch || ch->cancelled)
		return;
	ch->cancelled = 1;
	if (ch->x) {
		xfer_cancel(ch->x);
		ch->x = NULL;
	}
	if (ch->depth == 0)
		chan_free(ch);
}

long
mcp_chan_status(const struct mcp_chan *ch)
{
	return ch->status;
}

int
mcp_chan_is_sse(const struct mcp_chan *ch)
{
	return ch->kind == BODY_SSE;
}

const char *
mcp_chan_session_id(const struct mcp_chan *ch)
{
	return ch->session_id;
}

const char *
mcp_chan_auth_resource_metadata(const struct mcp_chan *ch)
{
	return ch->resource_metadata;
}

const char *
mcp_chan_auth_scope(const struct mcp_chan *ch)
{
	return ch->scope;
}

const char *
mcp_chan_last_event_id(const struct mcp_chan *ch)
{
	return ch->sse ? sse_parser_last_id(ch->sse) : "";
}

long
mcp_chan_retry_ms(const struct mcp_chan *ch)
{
	return ch->sse ? sse_parser_retry_ms(ch->sse) : -1;
}

static char *
url_part(CURLU *u, CURLUPart what)
{
	char *v = NULL, *copy;

	if (curl_url_get(u, what, &v, what == CURLUPART_PORT ? CURLU_DEFAULT_PORT : 0) != CURLUE_OK)
		return NULL;
	copy = xstrdup(v);
	curl_free(v);
	return copy;
}

char *
mcp_url_same_origin(const char *base, const char *ref)
{
	CURLU *b = curl_url(), *r = curl_url();
	char *out = NULL, *parts[6] = {0};
	int i;

	if (!b || !r || !base || !ref)
		goto done;
	if (curl_url_set(b, CURLUPART_URL, base, 0) != CURLUE_OK)
		goto done;
	/* Setting a relative URL on a handle that holds the base resolves it (RFC 3986). */
	if (curl_url_set(r, CURLUPART_URL, base, 0) != CURLUE_OK ||
	    curl_url_set(r, CURLUPART_URL, ref, 0) != CURLUE_OK)
		goto done;
	parts[0] = url_part(b, CURLUPART_SCHEME);
	parts[1] = url_part(b, CURLUPART_HOST);
	parts[2] = url_part(b, CURLUPART_PORT);
	parts[3] = url_part(r, CURLUPART_SCHEME);
	parts[4] = url_part(r, CURLUPART_HOST);
	parts[5] = url_part(r, CURLUPART_PORT);
	for (i = 0; i < 6; i++)
		if (!parts[i])
			goto done;
	if (strcasecmp(parts[0], parts[3]) != 0 || strcasecmp(parts[1], parts[4]) != 0 ||
	    strcmp(parts[2], parts[5]) != 0)
		goto done;
	out = url_part(r, CURLUPART_URL);
done:
	for (i = 0; i < 6; i++)
		free(parts[i]);
	curl_url_cleanup(b);
	curl_url_cleanup(r);
	return out;
}

/* Reads a quoted-string (at the opening quote) or a token and advances *pp. NULL for an empty token
 * or an unterminated quoted-string. */
static char *
auth_value(const char **pp)
{
	const char *p = *pp;
	struct buf v;

	buf_init(&v, 4096);
	if (*p == '"') {
		for (p++; *p && *p != '"'; p++) {
			if (*p == '\\' && p[1])
				p++;
			buf_append(&v, p, 1);
		}
		if (*p != '"') {
			*pp = p;
			buf_free(&v);
			return NULL;
		}
		*pp = p + 1;
		return buf_take(&v);
	}
	*pp = p + strcspn(p, " \t,");
	if (*pp == p) {
		buf_free(&v);
		return NULL;
	}
	buf_append(&v, p, (size_t)(*pp - p));
	return buf_take(&v);
}

char *
mcp_auth_param(const char *h, const char *name)
{
	const char *p = h;

	/* Challenges are "scheme name=value, name="quoted, value", ...": walk them item by item so that
	 * a name inside another parameter's quoted value is never taken for a parameter. */
	while (p && *p) {
		const char *tok;
		size_t n;
		char *value;

		p += strspn(p, " \t,");
		tok = p;
		p += strcspn(p, " \t,=");
		n = (size_t)(p - tok);
		p += strspn(p, " \t");
		if (*p != '=') {
			if (n == 0 && *p)
				p++; /* a stray character: step over it */
			continue;    /* an auth scheme, or a token68 */
		}
		p++;
		p += strspn(p, " \t");
		value = auth_value(&p);
		if (n == strlen(name) && strncasecmp(tok, name, n) == 0)
			return value;
		free(value);
	}
	return NULL;
}
