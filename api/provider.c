#include "api/provider.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>

#include "api/upstream.h"
#include "daemon/buf.h"
#include "daemon/config.h"
#include "daemon/redact.h"
#include "daemon/sse.h"
#include "daemon/util.h"
#include "daemon/xfer.h"

/* An error body is only read for its message; keep a little of it. */
#define PROVIDER_ERRBODY_MAX ((size_t)16 * 1024)
/* The answer's headers together; a sane upstream sends a few hundred bytes. */
#define PROVIDER_HEADERS_MAX ((size_t)64 * 1024)

enum answer_mode { MODE_WAITING, MODE_SSE, MODE_JSON, MODE_ERROR };

struct provider_call {
	const struct provider_callbacks *cb;
	void *ud;
	struct xfer *xfer;
	char *name; /* the upstream's, for messages */
	struct redact *secrets;
	int want_stream;
	size_t max_answer_bytes;
	size_t max_event_bytes;

	enum answer_mode mode;
	struct sse_parser *sse;
	struct buf body; /* the error body or the JSON answer, capped */
	int in_callback; /* an owner's callback runs: provider_cancel must not free the call */
	int cancelled;
	struct provider_result r;
};

void
provider_target_init(struct provider_target *t, const struct config_upstream *up, const char *caller_bearer)
{
	const char *key = up->forward_caller_auth ? caller_bearer : up->api_key;

	memset(t, 0, sizeof *t);
	t->name = xstrdup(up->name);
	t->base_url = xstrdup(up->base_url);
	t->http2 = up->http2;
	if (up->ca_file)
		t->ca_file = xstrdup(up->ca_file);
	if (key && key[0])
		t->auth_header = xasprintf("Authorization: Bearer %s", key);
}

void
provider_target_clear(struct provider_target *t)
{
	free(t->name);
	free(t->base_url);
	free(t->ca_file);
	if (t->auth_header) {
		explicit_bzero(t->auth_header, strlen(t->auth_header));
		free(t->auth_header);
	}
	memset(t, 0, sizeof *t);
}

void
provider_error_for_status(long st, const char *body, size_t len, const char *upstream_name,
                          struct redact *secrets, struct api_error *err)
{
	json_t *root = json_loadb(body ? body : "", body ? len : 0, 0, NULL);
	json_t *e = json_object_get(root, "error");
	const char *msg = json_string_value(json_object_get(e, "message"));
	char *clean;
	int status;
	const char *type, *code;

	if (msg == NULL)
		msg = json_string_value(e); /* some servers send "error": "text" */
	if (st == 429) {
		status = 429, type = "too_many_requests", code = "rate_limit_exceeded";
	} else if (st == 503) {
		/* Overloaded or down for a while: a 503 of our own, so that callers retry (with its
		 * Retry-After) rather than take it for a broken upstream (502). */
		status = 503, type = "server_error", code = "upstream_unavailable";
	} else if (st == 400 || st == 404 || st == 413 || st == 422) {
		/* The upstream judged the request (unknown model, context too long): the caller's to fix. */
		status = st == 422 ? 400 : (int)st, type = st == 404 ? "not_found" : "invalid_request";
		code = st == 404 ? "model_not_found" : "upstream_rejected";
	} else if (st == 401 || st == 403) {
		status = 502, type = "model_error", code = "upstream_auth_failed";
	} else {
		status = 502, type = "model_error", code = "upstream_error";
	}
	/* Redacted before the cut: a secret cut in two would no longer be recognised. */
	clean = redact_strdup(secrets, msg);
	api_error_set(err, status, type, code, NULL, "upstream %s answered HTTP %ld%s%.300s", upstream_name,
	              st, clean ? ": " : "", clean ? clean : "");
	free(clean);
	json_decref(root);
}

static void
call_free(struct provider_call *c)
{
	sse_parser_free(c->sse);
	buf_free(&c->body);
	free(c->name);
	free(c);
}

static int
on_sse_event(void *ud, const struct sse_event *ev)
{
	struct provider_call *c = ud;
	json_t *chunk;
	json_error_t jerr;
	int rc;

	if (c->r.saw_done)
		return 0;
	if (ev->data_len == 6 && memcmp(ev->data, "[DONE]", 6) == 0) {
		c->r.saw_done = 1;
		return 0;
	}
	chunk = json_loadb(ev->data, ev->data_len, 0, &jerr);
	if (chunk == NULL) {
		api_error_set(&c->r.err, 502, "model_error", "upstream_bad_response", NULL,
		              "the upstream sent a stream event that is not JSON (%.100s)", jerr.text);
		return 1;
	}
	rc = c->cb->on_chunk(c->ud, chunk);
	json_decref(chunk);
	if (rc != 0 || c->cancelled) {
		c->r.stopped = 1;
		return 1;
	}
	return 0;
}

/* The end of each xfer callback: a call the owner cancelled inside it goes now (xfer calls nothing
 * more on a cancelled transfer). */
static int
leave_callback(struct provider_call *c, int rc)
{
	c->in_callback = 0;
	if (!c->cancelled)
		return rc;
	call_free(c);
	return XFER_ABORT;
}

static int
on_headers(void *ud, long status, const char *content_type)
{
	struct provider_call *c = ud;

	c->r.status = status;
	if (status == 429 || status == 503) {
		/* Passed on so that the caller's SDK waits as long as the upstream asked; checked and
		 * bounded first (upstream_retry_after), a bad value is dropped. */
		long secs = upstream_retry_after(xfer_header(c->xfer, "Retry-After"), time(NULL));

		if (secs >= 0)
			snprintf(c->r.retry_after, sizeof c->r.retry_after, "%ld", secs);
	}
	if (status < 200 || status > 299) {
		c->mode = MODE_ERROR;
		buf_init(&c->body, PROVIDER_ERRBODY_MAX);
		return 0;
	}
	if (!c->want_stream || (content_type && strncasecmp(content_type, "application/json", 16) == 0)) {
		/* Asked for a stream, an upstream that ignored stream:true answers one chat.completion. */
		c->mode = MODE_JSON;
		buf_init(&c->body, c->max_answer_bytes);
	} else {
		c->mode = MODE_SSE;
		c->r.streamed = 1;
		c->sse = sse_parser_new(c->max_event_bytes, on_sse_event, c);
	}
	if (c->cb->on_answer) {
		c->in_callback = 1;
		c->cb->on_answer(c->ud);
	}
	return leave_callback(c, 0) == 0 ? 0 : -1;
}

static int
on_data(void *ud, const char *data, size_t len)
{
	struct provider_call *c = ud;
	int rc;

	c->in_callback = 1;
	if (c->cb->congested && c->mode != MODE_ERROR && c->cb->congested(c->ud))
		return leave_callback(c, XFER_PAUSE);
	switch (c->mode) {
	case MODE_SSE:
		rc = sse_parser_feed(c->sse, data, len);
		if (rc < 0)
			api_error_set(&c->r.err, 502, "model_error", "upstream_bad_response", NULL,
			              "an upstream stream event exceeds %zu bytes", c->max_event_bytes);
		return leave_callback(c, rc != 0 ? XFER_ABORT : XFER_OK);
	case MODE_ERROR:
		/* Past the cap the rest of an error body is not needed. */
		buf_append(&c->body, data, len);
		break;
	case MODE_JSON:
		if (buf_append(&c->body, data, len) < 0) {
			api_error_set(&c->r.err, 502, "model_error", "upstream_bad_response", NULL,
			              "the upstream answer exceeds %zu bytes", c->max_answer_bytes);
			return leave_callback(c, XFER_ABORT);
		}
		break;
	case MODE_WAITING:
		return leave_callback(c, XFER_ABORT);
	}
	return leave_callback(c, XFER_OK);
}

static void
finish_answer(struct provider_call *c)
{
	json_error_t jerr;

	if (c->mode == MODE_ERROR) {
		provider_error_for_status(c->r.status, c->body.data, c->body.len, c->name, c->secrets,
		                          &c->r.err);
		return;
	}
	if (c->mode == MODE_JSON) {
		c->r.answer = json_loadb(c->body.data ? c->body.data : "", c->body.len, 0, &jerr);
		if (c->r.answer == NULL) {
			api_error_set(&c->r.err, 502, "model_error", "upstream_bad_response", NULL,
			              "the upstream answer is not JSON (%.100s)", jerr.text);
			return;
		}
	}
	c->r.ok = 1;
}

static void
on_done(void *ud, const struct xfer_result *xr)
{
	struct provider_call *c = ud;

	c->xfer = NULL; /* freed by xfer after this returns */
	if (c->r.err.status || c->r.stopped) {
		/* already explained: by us (a cap, a bad event) or by the owner */
	} else if (!xr->ok) {
		if (xr->timed_out)
			api_error_set(&c->r.err, 504, "model_error", "upstream_timeout", NULL,
			              "upstream %s timed out", c->name);
		else
			api_error_set(&c->r.err, 502, "model_error", "upstream_unreachable", NULL,
			              "upstream %s failed: %.200s", c->name, xr->error);
	} else {
		finish_answer(c);
	}
	c->in_callback = 1;
	c->cb->on_done(c->ud, &c->r);
	json_decref(c->r.answer);
	c->r.answer = NULL;
	call_free(c);
}

static const struct xfer_callbacks provider_xfer_callbacks = {
        .on_headers = on_headers,
        .on_data = on_data,
        .on_done = on_done,
};

struct provider_call *
provider_start(struct xfer_ctx *xfer, const struct provider_request *req, const struct provider_callbacks *cb,
               void *ud, struct api_error *err)
{
	const struct provider_target *t = req->target;
	struct provider_call *c = xcalloc(1, sizeof *c);
	const char *headers[4];
	struct xfer_request xr;
	size_t nh = 0;
	char *url;

	c->cb = cb;
	c->ud = ud;
	c->name = xstrdup(t->name);
	c->secrets = req->secrets;
	c->want_stream = req->stream;
	c->max_answer_bytes = req->max_answer_bytes;
	c->max_event_bytes = req->max_event_bytes;
	if (req->body)
		headers[nh++] = "Content-Type: application/json";
	headers[nh++] = req->stream ? "Accept: text/event-stream" : "Accept: application/json";
	if (t->auth_header)
		headers[nh++] = t->auth_header;
	headers[nh] = NULL;
	url = xasprintf("%s%s", t->base_url, req->path);
	memset(&xr, 0, sizeof xr);
	xr.method = req->method;
	xr.url = url;
	xr.headers = headers;
	xr.body = req->body;
	xr.body_len = req->body ? strlen(req->body) : 0;
	xr.connect_timeout_ms = req->connect_timeout_ms;
	xr.idle_timeout_s = req->idle_timeout_s;
	xr.total_timeout_ms = req->total_timeout_ms;
	xr.max_header_bytes = PROVIDER_HEADERS_MAX;
	xr.http2 = t->http2;
	xr.ca_file = t->ca_file;
	xr.recv_buffer_bytes = req->recv_buffer_bytes;
	c->xfer = xfer_start(xfer, &xr, &provider_xfer_callbacks, c);
	free(url);
	if (c->xfer == NULL) {
		api_error_set(err, 502, "model_error", "upstream_unreachable", NULL,
		              "upstream %s could not be started", t->name);
		call_free(c);
		return NULL;
	}
	return c;
}

void
provider_resume(struct provider_call *c)
{
	if (c && c->xfer && !c->cancelled)
		xfer_resume(c->xfer);
}

void
provider_cancel(struct provider_call *c)
{
	if (c == NULL || c->cancelled)
		return;
	c->cancelled = 1;
	if (c->xfer)
		xfer_cancel(c->xfer);
	c->xfer = NULL;
	/* From inside a callback, the callback's end frees it. */
	if (!c->in_callback)
		call_free(c);
}
