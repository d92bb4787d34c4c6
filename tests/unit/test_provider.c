/*
 * test_provider: api/provider.c. The target and the status mapping directly; the exchange itself
 * against a canned HTTP/1.1 server of our own on 127.0.0.1 port 0, in the same libuv loop: the
 * request path picks the answer, which is written whole and followed by a close. Every wait is
 * bounded by a guard timer.
 */
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "api/provider.h"
#include "daemon/config.h"
#include "daemon/redact.h"
#include "daemon/util.h"
#include "daemon/xfer.h"
#include "tests/unit/t.h"

#define GUARD_MS 5000
#define SECRET   "sk-secret-0123456789"

/* ---- the canned server ---- */

struct canned {
	const char *path;
	const char *answer; /* the whole HTTP answer */
};

static const struct canned canned[] = {
        {"/sse", "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"
                 "data: {\"n\":1}\n\ndata: {\"n\":2}\n\n: a comment\n\ndata: {\"n\":3}\n\ndata: [DONE]\n\n"
                 "data: {\"n\":4}\n\n"},
        {"/sse-cut", "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"
                     "data: {\"n\":1}\n\n"},
        {"/sse-bad", "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"
                     "data: {\"n\":1}\n\ndata: not json\n\ndata: {\"n\":2}\n\n"},
        {"/sse-big",
         "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"
         "data: {\"n\":1,\"pad\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}\n\n"},
        {"/json",
         "HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\nConnection: close\r\n\r\n"
         "{\"object\":\"chat.completion\",\"n\":7}"},
        /* an upstream that labels its JSON as a stream */
        {"/json-as-sse", "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"
                         "{\"data\":[]}"},
        {"/json-bad",
         "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n{\"a\":"},
        {"/401", "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n"
                 "{\"error\":{\"message\":\"key " SECRET " is not valid\"}}"},
        {"/429", "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 7\r\nConnection: close\r\n\r\n"
                 "{\"error\":\"slow down\"}"},
        {"/503-bad-retry",
         "HTTP/1.1 503 Service Unavailable\r\nRetry-After: soon\r\nConnection: close\r\n\r\n"},
};

struct sconn {
	uv_tcp_t tcp;
	char in[4096];
	size_t inlen;
	int answered;
};

static uv_loop_t loop;
static uv_tcp_t listener;
static int port;
static struct xfer_ctx *xctx;
static uv_timer_t guard;
static int guard_fired;

static void
conn_closed(uv_handle_t *h)
{
	free(h->data);
}

static void
on_written(uv_write_t *w, int status)
{
	struct sconn *c = w->data;

	free(w);
	uv_close((uv_handle_t *)&c->tcp, conn_closed);
}

static void
on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	struct sconn *c = h->data;

	b->base = c->in + c->inlen;
	b->len = sizeof c->in - 1 - c->inlen;
}

static void
answer(struct sconn *c)
{
	const char *answer = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
	char *sp = strchr(c->in, ' ');
	size_t i;
	uv_write_t *w = xcalloc(1, sizeof *w);
	uv_buf_t b;

	for (i = 0; sp && i < sizeof canned / sizeof canned[0]; i++) {
		size_t n = strlen(canned[i].path);

		if (strncmp(sp + 1, canned[i].path, n) == 0 && sp[1 + n] == ' ')
			answer = canned[i].answer;
	}
	c->answered = 1;
	uv_read_stop((uv_stream_t *)&c->tcp);
	w->data = c;
	b = uv_buf_init((char *)answer, strlen(answer));
	uv_write(w, (uv_stream_t *)&c->tcp, &b, 1, on_written);
}

static void
on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct sconn *c = s->data;

	if (n < 0 || c->inlen + 1 >= sizeof c->in) {
		uv_close((uv_handle_t *)s, conn_closed);
		return;
	}
	c->inlen += (size_t)n;
	c->in[c->inlen] = '\0';
	if (!c->answered && strstr(c->in, "\r\n\r\n"))
		answer(c);
}

static void
on_conn(uv_stream_t *l, int status)
{
	struct sconn *c = xcalloc(1, sizeof *c);

	uv_tcp_init(&loop, &c->tcp);
	c->tcp.data = c;
	if (status < 0 || uv_accept(l, (uv_stream_t *)&c->tcp) < 0) {
		uv_close((uv_handle_t *)&c->tcp, conn_closed);
		return;
	}
	uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

static void
on_guard(uv_timer_t *t)
{
	guard_fired = 1;
}

static void
env_init(void)
{
	struct sockaddr_in a;
	struct sockaddr_storage ss;
	int len = sizeof ss;

	T(uv_loop_init(&loop) == 0);
	uv_tcp_init(&loop, &listener);
	uv_ip4_addr("127.0.0.1", 0, &a);
	T(uv_tcp_bind(&listener, (const struct sockaddr *)&a, 0) == 0);
	T(uv_listen((uv_stream_t *)&listener, 16, on_conn) == 0);
	uv_tcp_getsockname(&listener, (struct sockaddr *)&ss, &len);
	port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	xctx = xfer_ctx_new(&loop);
	uv_timer_init(&loop, &guard);
}

static void
env_done(void)
{
	xfer_ctx_free(xctx);
	uv_close((uv_handle_t *)&listener, NULL);
	uv_close((uv_handle_t *)&guard, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	T(uv_loop_close(&loop) == 0);
}

/* Runs the loop until *flag is set or the guard fires; 0 when the flag was set. */
static int
run_until(const int *flag)
{
	guard_fired = 0;
	uv_timer_start(&guard, on_guard, GUARD_MS, 0);
	while (!*flag && !guard_fired)
		uv_run(&loop, UV_RUN_ONCE);
	uv_timer_stop(&guard);
	return *flag ? 0 : -1;
}

/* ---- one exchange as an owner sees it ---- */

enum owner_act {
	ACT_READ,          /* take everything */
	ACT_CANCEL_ANSWER, /* provider_cancel inside on_answer */
	ACT_CANCEL_CHUNK,  /* provider_cancel inside the second on_chunk */
	ACT_STOP_CHUNK,    /* non-zero from the first on_chunk */
	ACT_CONGESTED,     /* congested until a timer resumes, twice */
};

struct owner {
	enum owner_act act;
	struct provider_call *call;
	int answers, chunks, congested_asks, resumes, done;
	long ns[8]; /* the "n" of each chunk, in order */
	int blocked;
	uv_timer_t resume_timer;
	/* copied from the result in on_done */
	struct provider_result r;
	int had_answer;
	long answer_n;
	char answer_object[32];
};

static void
on_answer(void *ud)
{
	struct owner *o = ud;

	o->answers++;
	if (o->act == ACT_CANCEL_ANSWER) {
		provider_cancel(o->call);
		o->call = NULL;
		o->done = 1;
	}
}

static int
on_chunk(void *ud, json_t *chunk)
{
	struct owner *o = ud;

	if (o->chunks < 8)
		o->ns[o->chunks] = (long)json_integer_value(json_object_get(chunk, "n"));
	o->chunks++;
	if (o->act == ACT_CANCEL_CHUNK && o->chunks == 2) {
		provider_cancel(o->call);
		o->call = NULL;
		o->done = 1;
	}
	return o->act == ACT_STOP_CHUNK;
}

static void
on_resume_timer(uv_timer_t *t)
{
	struct owner *o = t->data;

	o->blocked = 0;
	o->resumes++;
	provider_resume(o->call);
}

static int
congested(void *ud)
{
	struct owner *o = ud;

	o->congested_asks++;
	if (o->act != ACT_CONGESTED || o->resumes >= 2)
		return 0;
	if (!o->blocked) {
		o->blocked = 1;
		uv_timer_start(&o->resume_timer, on_resume_timer, 20, 0);
	}
	return 1;
}

static void
on_done(void *ud, const struct provider_result *r)
{
	struct owner *o = ud;

	o->r = *r;
	o->r.answer = NULL;
	o->had_answer = r->answer != NULL;
	if (r->answer) {
		o->answer_n = (long)json_integer_value(json_object_get(r->answer, "n"));
		snprintf(o->answer_object, sizeof o->answer_object, "%s",
		         json_string_value(json_object_get(r->answer, "object")) ?: "");
	}
	o->call = NULL;
	o->done++;
}

static const struct provider_callbacks owner_callbacks = {
        .on_answer = on_answer, .on_chunk = on_chunk, .congested = congested, .on_done = on_done};

/* One exchange with the canned server: GET path. */
static void
exchange(struct owner *o, enum owner_act act, const char *path, int stream, size_t max_answer,
         size_t max_event, struct redact *secrets)
{
	struct config_upstream up = {.name = "canned", .api_key = SECRET};
	struct provider_target t;
	struct provider_request req;
	struct api_error err;
	char base[64];

	memset(o, 0, sizeof *o);
	o->act = act;
	uv_timer_init(&loop, &o->resume_timer);
	o->resume_timer.data = o;
	snprintf(base, sizeof base, "http://127.0.0.1:%d", port);
	up.base_url = base;
	provider_target_init(&t, &up, NULL);
	memset(&req, 0, sizeof req);
	req.target = &t;
	req.method = "GET";
	req.path = path;
	req.stream = stream;
	req.connect_timeout_ms = 2000;
	req.total_timeout_ms = 4000;
	req.max_answer_bytes = max_answer ? max_answer : 4096;
	req.max_event_bytes = max_event ? max_event : 4096;
	req.secrets = secrets;
	o->call = provider_start(xctx, &req, &owner_callbacks, o, &err);
	provider_target_clear(&t); /* read during provider_start only */
	T(o->call != NULL);
	T(run_until(&o->done) == 0);
	/* A cancelled exchange must leave nothing running: xfer releases its handle on the loop. */
	uv_run(&loop, UV_RUN_NOWAIT);
	uv_close((uv_handle_t *)&o->resume_timer, NULL);
	uv_run(&loop, UV_RUN_NOWAIT);
	T(xfer_ctx_active(xctx) == 0);
}

static void
test_exchanges(struct redact *secrets)
{
	struct owner o;

	env_init();

	/* An SSE stream: each event once, in order, comments skipped, nothing after [DONE]. */
	exchange(&o, ACT_READ, "/sse", 1, 0, 0, NULL);
	T(o.done == 1 && o.answers == 1);
	T(o.r.ok && o.r.status == 200 && o.r.streamed && o.r.saw_done && !o.had_answer);
	T(o.chunks == 3 && o.ns[0] == 1 && o.ns[1] == 2 && o.ns[2] == 3);

	/* A stream that ends without [DONE]: ok as a transfer, and the owner can tell. */
	exchange(&o, ACT_READ, "/sse-cut", 1, 0, 0, NULL);
	T(o.r.ok && o.r.streamed && !o.r.saw_done && o.chunks == 1);

	/* An event that is not JSON fails the exchange there. */
	exchange(&o, ACT_READ, "/sse-bad", 1, 0, 0, NULL);
	T(!o.r.ok && o.r.err.status == 502 && o.chunks == 1);
	T_STREQ(o.r.err.code, "upstream_bad_response");

	/* An event over max_event_bytes. */
	exchange(&o, ACT_READ, "/sse-big", 1, 0, 32, NULL);
	T(!o.r.ok && o.chunks == 0);
	T_STREQ(o.r.err.code, "upstream_bad_response");
	T(strstr(o.r.err.message, "exceeds 32 bytes") != NULL);

	/* Asked for a stream, answered with one JSON (by its Content-Type, parameters and all). */
	exchange(&o, ACT_READ, "/json", 1, 0, 0, NULL);
	T(o.r.ok && !o.r.streamed && o.had_answer && o.answer_n == 7 && o.chunks == 0);
	T_STREQ(o.answer_object, "chat.completion");

	/* stream:0 reads JSON whatever the Content-Type says. */
	exchange(&o, ACT_READ, "/json-as-sse", 0, 0, 0, NULL);
	T(o.r.ok && !o.r.streamed && o.had_answer);

	/* A JSON answer over max_answer_bytes, and one that does not parse. */
	exchange(&o, ACT_READ, "/json", 0, 10, 0, NULL);
	T(!o.r.ok && !o.had_answer);
	T(strstr(o.r.err.message, "exceeds 10 bytes") != NULL);
	exchange(&o, ACT_READ, "/json-bad", 0, 0, 0, NULL);
	T(!o.r.ok);
	T(strstr(o.r.err.message, "is not JSON") != NULL);

	/* A non-2xx answer: mapped, its message kept, the secret redacted; no on_answer. */
	exchange(&o, ACT_READ, "/401", 1, 0, 0, secrets);
	T(!o.r.ok && o.r.status == 401 && o.answers == 0 && o.r.err.status == 502);
	T_STREQ(o.r.err.code, "upstream_auth_failed");
	T(strstr(o.r.err.message, "upstream canned answered HTTP 401: key ") != NULL);
	T(strstr(o.r.err.message, SECRET) == NULL);
	exchange(&o, ACT_READ, "/429", 1, 0, 0, NULL);
	T(o.r.err.status == 429);
	T_STREQ(o.r.retry_after, "7");
	T(strstr(o.r.err.message, "slow down") != NULL);
	exchange(&o, ACT_READ, "/503-bad-retry", 1, 0, 0, NULL);
	T(o.r.err.status == 503 && o.r.retry_after[0] == '\0');
	exchange(&o, ACT_READ, "/nowhere", 1, 0, 0, NULL);
	T(o.r.err.status == 404);
	T_STREQ(o.r.err.code, "model_not_found");

	/* The owner stops at the first event: stopped set, no error of provider's own. */
	exchange(&o, ACT_STOP_CHUNK, "/sse", 1, 0, 0, NULL);
	T(o.done == 1 && o.chunks == 1 && o.r.stopped && !o.r.ok && o.r.err.status == 0);

	/* Cancelled inside a callback: no callback after it; ASan's leak check proves the call freed. */
	exchange(&o, ACT_CANCEL_ANSWER, "/sse", 1, 0, 0, NULL);
	T(o.answers == 1 && o.chunks == 0 && o.done == 1);
	exchange(&o, ACT_CANCEL_CHUNK, "/sse", 1, 0, 0, NULL);
	T(o.chunks == 2 && o.done == 1);
	exchange(&o, ACT_CANCEL_CHUNK, "/json", 1, 0, 0, NULL); /* no chunk: runs to its end */
	T(o.done == 1 && o.r.ok);

	/* Congested twice, resumed from a timer each time: every event once, in order. */
	exchange(&o, ACT_CONGESTED, "/sse", 1, 0, 0, NULL);
	T(o.resumes == 2 && o.congested_asks >= 3);
	T(o.r.ok && o.r.saw_done && o.chunks == 3 && o.ns[0] == 1 && o.ns[1] == 2 && o.ns[2] == 3);

	env_done();
}

/* An upstream that nobody listens on. */
static void
test_unreachable(void)
{
	struct owner o;
	struct config_upstream up = {.name = "gone", .base_url = "http://127.0.0.1:1"};
	struct provider_target t;
	struct provider_request req = {.method = "POST",
	                               .path = "/chat/completions",
	                               .body = "{}",
	                               .stream = 1,
	                               .max_answer_bytes = 64,
	                               .max_event_bytes = 64};
	struct api_error err;

	env_init();
	memset(&o, 0, sizeof o);
	provider_target_init(&t, &up, NULL);
	req.target = &t;
	o.call = provider_start(xctx, &req, &owner_callbacks, &o, &err);
	provider_target_clear(&t);
	T(run_until(&o.done) == 0);
	T(!o.r.ok && o.r.status == 0 && o.r.err.status == 502);
	T_STREQ(o.r.err.code, "upstream_unreachable");
	T(strstr(o.r.err.message, "upstream gone failed") != NULL);
	env_done();
}

int
main(void)
{
	struct config_upstream up = {
	        .name = "u", .base_url = "http://127.0.0.1:1", .api_key = "sk-secret-0123456789"};
	struct provider_target t;
	struct api_error err;
	struct redact *r = redact_new();
	const char *body = "{\"error\":{\"message\":\"bad key sk-secret-0123456789\"}}";

	provider_target_init(&t, &up, "caller-tok");
	T_STREQ(t.auth_header, "Authorization: Bearer sk-secret-0123456789");
	provider_target_clear(&t);
	up.forward_caller_auth = 1;
	provider_target_init(&t, &up, "caller-tok");
	T_STREQ(t.auth_header, "Authorization: Bearer caller-tok");
	provider_target_clear(&t);
	provider_target_init(&t, &up, NULL);
	T(t.auth_header == NULL);
	provider_target_clear(&t);

	redact_add(r, "sk-secret-0123456789");
	provider_error_for_status(401, body, strlen(body), "u", r, &err);
	T(err.status == 502);
	T_STREQ(err.code, "upstream_auth_failed");
	T(strstr(err.message, "sk-secret-0123456789") == NULL);
	T(strstr(err.message, "upstream u answered HTTP 401: bad key") != NULL);
	provider_error_for_status(422, NULL, 0, "u", r, &err);
	T(err.status == 400);
	T_STREQ(err.code, "upstream_rejected");
	provider_error_for_status(404, "x", 1, "u", r, &err);
	T_STREQ(err.code, "model_not_found");
	provider_error_for_status(503, NULL, 0, "u", r, &err);
	T(err.status == 503);

	test_exchanges(r);
	test_unreachable();
	redact_free(r);
	return T_DONE();
}
