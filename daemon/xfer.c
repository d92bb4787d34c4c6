/*
 * xfer: libcurl's multi_socket API on the libuv loop.
 *
 * curl tells us which sockets to watch (on_curl_socket: one uv_poll_t per socket, remembered with
 * curl_multi_assign) and when to call it back (on_curl_timer: one uv_timer_t). Every
 * curl_multi_socket_action happens from a uv callback, never from inside a curl callback, and is
 * followed by check_multi_info().
 *
 * Sockets of pooled connections: curl says CURL_POLL_REMOVE when a transfer ends and asks for the
 * same socket again with the next transfer on that connection. Every uv_poll_start costs two
 * epoll_ctl calls (libuv removes the descriptor and adds it back) and a fresh uv_poll_init two more,
 * so a removed socket is "parked" instead: its handle stays as it is, still watching for reading,
 * and the next transfer on the connection finds it ready with no system call. A parked socket that
 * becomes readable (the server closed an idle connection) is simply stopped: curl checks a pooled
 * connection itself before it reuses it. Handles are closed when curl closes the socket
 * (CURLOPT_CLOSESOCKETFUNCTION), found by descriptor in ctx->byfd.
 *
 * Idle deadline (xfer_request.idle_timeout_s): kept by us, not by curl. CURLOPT_LOW_SPEED_TIME
 * judges an average speed over several seconds and so fired about 6 s after the last byte. Each
 * transfer with an idle timeout is on the list of its idle class (ctx->idle_cls: one per distinct
 * timeout, in practice one or two), ordered by last activity: every piece received moves it to the
 * tail, O(1) and no timer call, so with equal timeouts the head's deadline is the class's earliest.
 * One uv timer (ctx->idle_timer) for all transfers is armed at the earliest head deadline; moving a
 * head only makes that deadline later, so a firing may find nothing due and re-arms. 10,000 held
 * streams cost two pointers and a time each, not a uv timer each. A paused transfer is off its
 * list: the owner is not reading, the server is not idle; xfer_resume puts it back with a fresh
 * clock.
 *
 * Lifetime of a transfer: it is linked in ctx->xfers from xfer_start until it is freed. While
 * ctx->depth > 0 we are inside a curl call that may run the owner's callbacks; nothing may be
 * added to or removed from the multi handle then (curl forbids it from its callbacks), so such
 * work is queued on ctx->reapq and done by reap() from a uv idle tick or at the end of
 * check_multi_info().
 */
#include "daemon/xfer.h"

#include <curl/curl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "daemon/log.h"
#include "daemon/util.h"

#define XFER_DEFAULT_MAX_HEADER ((size_t)64 * 1024)
#define XFER_MAX_METHOD         16

struct xsock {
	uv_poll_t poll;
	curl_socket_t fd;
	int events; /* UV_READABLE | UV_WRITABLE the handle watches now; 0: stopped */
	int parked; /* curl does not watch the socket now (the connection is idle in its pool) */
	struct xfer_ctx *ctx;
	struct xsock *prev, *next;
};

/* The transfers that share one idle timeout, least recently active first. */
struct idle_class {
	uint64_t idle_ms;
	struct xfer *head, *tail;
};

/* Easy handles kept for reuse: curl_easy_init + cleanup per transfer cost more than a reset. */
#define XFER_SPARE_EASY 64

struct xfer_ctx {
	uv_loop_t *loop;
	CURLM *multi;
	uv_timer_t *timer;      /* heap: freed by its close callback, after the ctx is gone */
	uv_idle_t *idle;        /* runs reap() when work was deferred */
	uv_timer_t *idle_timer; /* the earliest idle deadline of all transfers; heap, like timer */
	struct idle_class *idle_cls;
	size_t n_idle_cls;
	struct xsock *socks;
	struct xsock **byfd; /* indexed by descriptor, nbyfd entries */
	size_t nbyfd;
	struct xfer *xfers;
	size_t active;      /* transfers whose owner still waits for on_done */
	struct xfer *reapq; /* deferred work, linked by reap_next */
	int depth;          /* > 0 while inside a curl call that may run our curl callbacks */
	int closing;
	CURL *spare[XFER_SPARE_EASY]; /* finished easy handles, reset, for the next transfers */
	size_t nspare;
};

struct xfer {
	struct xfer_ctx *ctx;
	CURL *easy;
	struct curl_slist *headers;
	struct xfer_callbacks cb;
	void *ud;
	size_t header_bytes;
	size_t max_header_bytes;
	long status;
	int headers_done;
	int added;       /* in the multi handle */
	int pending_add; /* started from inside a curl callback: add on the next tick */
	int queued;      /* on ctx->reapq: add it, or take it out and free it, on the next tick */
	int cancelled;   /* the owner called xfer_cancel: no callback, free when possible */
	int aborted;     /* the owner returned XFER_ABORT or -1 */
	int header_overflow;
	int paused;
	int in_done;
	int idle_expired; /* no byte for idle_ms: finished by us with CURLE_OPERATION_TIMEDOUT */
	uint64_t idle_ms; /* 0: no idle deadline */
	uint64_t last_rx; /* uv_now() of the last byte received (or of the start, or of the resume) */
	struct idle_class *idle_cls; /* the list x is on; NULL when off (paused, done, no deadline) */
	int sends;                   /* times curl was about to send the request (CURLOPT_PREREQFUNCTION) */
	int resend_refused;          /* the second one was refused */
	char errbuf[CURL_ERROR_SIZE];
	struct xfer *prev, *next;
	struct xfer *reap_next;
	struct xfer *idle_prev, *idle_next;
};

static void check_multi_info(struct xfer_ctx *ctx);
static void reap(struct xfer_ctx *ctx);

static void
on_handle_closed(uv_handle_t *h)
{
	free(h);
}

static void
on_sock_closed(uv_handle_t *h)
{
	free(h->data);
}

static struct xsock *
sock_find(const struct xfer_ctx *ctx, curl_socket_t fd)
{
	return fd >= 0 && (size_t)fd < ctx->nbyfd ? ctx->byfd[fd] : NULL;
}

static void
sock_close(struct xfer_ctx *ctx, struct xsock *xs)
{
	if ((size_t)xs->fd < ctx->nbyfd && ctx->byfd[xs->fd] == xs)
		ctx->byfd[xs->fd] = NULL;
	if (ctx->socks == xs)
		ctx->socks = xs->next;
	else
		xs->prev->next = xs->next;
	if (xs->next)
		xs->next->prev = xs->prev;
	uv_close((uv_handle_t *)&xs->poll, on_sock_closed);
}

static void
on_poll(uv_poll_t *h, int status, int events)
{
	struct xsock *xs = h->data;
	struct xfer_ctx *ctx = xs->ctx;
	int flags = 0, running;

	if (xs->parked) {
		uv_poll_stop(&xs->poll);
		xs->events = 0;
		return;
	}
	/* On an error libuv reports no events and stops the handle; let curl read and write so that
	 * it finds the real cause (refused, reset) itself, then it closes the socket. */
	if (status < 0) {
		flags = CURL_CSELECT_ERR | CURL_CSELECT_IN | CURL_CSELECT_OUT;
		xs->events = 0;
	}
	if (events & UV_READABLE)
		flags |= CURL_CSELECT_IN;
	if (events & UV_WRITABLE)
		flags |= CURL_CSELECT_OUT;
	/* xs may be closed by curl during the call: only ctx is used afterwards. */
	ctx->depth++;
	curl_multi_socket_action(ctx->multi, xs->fd, flags, &running);
	ctx->depth--;
	check_multi_info(ctx);
}

static struct xsock *
sock_new(struct xfer_ctx *ctx, curl_socket_t fd)
{
	struct xsock *xs;
	size_t n;
	int rc;

	if (fd < 0)
		return NULL;
	if ((size_t)fd >= ctx->nbyfd) {
		n = ctx->nbyfd ? ctx->nbyfd : 64;
		while (n <= (size_t)fd)
			n *= 2;
		ctx->byfd = xrealloc(ctx->byfd, n * sizeof(struct xsock *));
		memset(ctx->byfd + ctx->nbyfd, 0, (n - ctx->nbyfd) * sizeof(struct xsock *));
		ctx->nbyfd = n;
	}
	xs = xcalloc(1, sizeof *xs);
	xs->fd = fd;
	xs->ctx = ctx;
	rc = uv_poll_init_socket(ctx->loop, &xs->poll, fd);
	if (rc < 0) {
		log_warnx("xfer: cannot poll socket %d: %s", (int)fd, uv_strerror(rc));
		free(xs);
		return NULL;
	}
	xs->poll.data = xs;
	xs->next = ctx->socks;
	if (ctx->socks)
		ctx->socks->prev = xs;
	ctx->socks = xs;
	ctx->byfd[fd] = xs;
	return xs;
}

static int
on_curl_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct xfer_ctx *ctx = userp;
	struct xsock *xs = socketp;
	int events = 0, rc;

	if (what == CURL_POLL_REMOVE) {
		/* curl forgets the assignment itself. Parked while it keeps the connection: only a
		 * watch for reading stays on, since an idle socket is always writable. */
		if (xs) {
			xs->parked = 1;
			if (xs->events & UV_WRITABLE) {
				uv_poll_stop(&xs->poll);
				xs->events = 0;
			}
		}
		return 0;
	}
	if (ctx->closing)
		return 0;
	if (!xs) {
		xs = sock_find(ctx, fd);
		if (xs == NULL && (xs = sock_new(ctx, fd)) == NULL)
			return -1;
		curl_multi_assign(ctx->multi, fd, xs);
	}
	xs->parked = 0;
	if (what & CURL_POLL_IN)
		events |= UV_READABLE;
	if (what & CURL_POLL_OUT)
		events |= UV_WRITABLE;
	if (events == xs->events)
		return 0;
	if (events == 0) {
		uv_poll_stop(&xs->poll);
		xs->events = 0;
		return 0;
	}
	rc = uv_poll_start(&xs->poll, events, on_poll);
	if (rc < 0) {
		log_warnx("xfer: cannot poll socket %d: %s", (int)fd, uv_strerror(rc));
		xs->events = 0;
		return -1;
	}
	xs->events = events;
	return 0;
}

/* curl closes a socket: its handle goes first, so that libuv never watches a closed descriptor
 * (nor one that the next socket() reuses). */
static int
on_curl_close_socket(void *clientp, curl_socket_t fd)
{
	struct xfer_ctx *ctx = clientp;
	struct xsock *xs = sock_find(ctx, fd);

	if (xs)
		sock_close(ctx, xs);
	return close(fd);
}

static void
on_uv_timer(uv_timer_t *t)
{
	struct xfer_ctx *ctx = t->data;
	int running;

	ctx->depth++;
	curl_multi_socket_action(ctx->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	ctx->depth--;
	check_multi_info(ctx);
}

/* Only arms the uv timer: calling curl_multi_socket_action from here is forbidden. */
static int
on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
	struct xfer_ctx *ctx = userp;

	if (timeout_ms < 0 || ctx->closing) {
		uv_timer_stop(ctx->timer);
		return 0;
	}
	return uv_timer_start(ctx->timer, on_uv_timer, (uint64_t)timeout_ms, 0) < 0 ? -1 : 0;
}

static void
on_idle(uv_idle_t *h)
{
	struct xfer_ctx *ctx = h->data;

	uv_idle_stop(h);
	reap(ctx);
}

static void
schedule_reap(struct xfer_ctx *ctx)
{
	if (!ctx->closing)
		uv_idle_start(ctx->idle, on_idle);
}

static void
queue_reap(struct xfer_ctx *ctx, struct xfer *x)
{
	if (!x->queued) {
		x->queued = 1;
		x->reap_next = ctx->reapq;
		ctx->reapq = x;
	}
	schedule_reap(ctx);
}

static void
dequeue_reap(struct xfer_ctx *ctx, struct xfer *x)
{
	struct xfer **pp;

	if (!x->queued)
		return;
	for (pp = &ctx->reapq; *pp; pp = &(*pp)->reap_next) {
		if (*pp == x) {
			*pp = x->reap_next;
			break;
		}
	}
	x->queued = 0;
	x->reap_next = NULL;
}

/* ---- idle deadlines ---- */

static void
idle_off(struct xfer *x)
{
	struct idle_class *c = x->idle_cls;

	if (c == NULL)
		return;
	if (x->idle_prev)
		x->idle_prev->idle_next = x->idle_next;
	else
		c->head = x->idle_next;
	if (x->idle_next)
		x->idle_next->idle_prev = x->idle_prev;
	else
		c->tail = x->idle_prev;
	x->idle_prev = x->idle_next = NULL;
	x->idle_cls = NULL;
}

static void on_idle_timer(uv_timer_t *t);

/* Arms the idle timer at the earliest head deadline, or stops it when no transfer has one. */
static void
idle_arm(struct xfer_ctx *ctx)
{
	uint64_t now = uv_now(ctx->loop), due = UINT64_MAX, d;
	size_t i;

	for (i = 0; i < ctx->n_idle_cls; i++) {
		if (ctx->idle_cls[i].head == NULL)
			continue;
		d = ctx->idle_cls[i].head->last_rx + ctx->idle_cls[i].idle_ms;
		if (d < due)
			due = d;
	}
	if (due == UINT64_MAX || ctx->closing) {
		uv_timer_stop(ctx->idle_timer);
		return;
	}
	uv_timer_start(ctx->idle_timer, on_idle_timer, due > now ? due - now : 0, 0);
}

/* Puts x at the tail of its class's list, its clock at now; arms the timer if the list was empty
 * (otherwise the timer is already due at or before an earlier head's deadline). */
static void
idle_on(struct xfer_ctx *ctx, struct xfer *x)
{
	struct idle_class *c = NULL;
	size_t i;
	int was_empty;

	if (x->idle_ms == 0 || ctx->closing)
		return;
	x->last_rx = uv_now(ctx->loop);
	if (x->idle_cls && x->idle_cls->tail == x)
		return;
	idle_off(x);
	for (i = 0; i < ctx->n_idle_cls && c == NULL; i++)
		if (ctx->idle_cls[i].idle_ms == x->idle_ms)
			c = &ctx->idle_cls[i];
	for (i = 0; i < ctx->n_idle_cls && c == NULL; i++)
		if (ctx->idle_cls[i].head == NULL) {
			c = &ctx->idle_cls[i]; /* an empty class of an old timeout (config reload) */
			c->idle_ms = x->idle_ms;
		}
	if (c == NULL) {
		/* Pointers into the array are kept by the transfers: move them with it. */
		struct idle_class *old = ctx->idle_cls, *nc;
		struct xfer *y;

		nc = xcalloc(ctx->n_idle_cls + 1, sizeof *nc);
		if (ctx->n_idle_cls)
			memcpy(nc, old, ctx->n_idle_cls * sizeof *nc);
		for (i = 0; i < ctx->n_idle_cls; i++)
			for (y = nc[i].head; y; y = y->idle_next)
				y->idle_cls = &nc[i];
		free(old);
		ctx->idle_cls = nc;
		c = &nc[ctx->n_idle_cls++];
		c->idle_ms = x->idle_ms;
	}
	was_empty = c->head == NULL;
	x->idle_cls = c;
	x->idle_prev = c->tail;
	x->idle_next = NULL;
	if (c->tail)
		c->tail->idle_next = x;
	else
		c->head = x;
	c->tail = x;
	if (was_empty)
		idle_arm(ctx);
}

static void xfer_finish(struct xfer_ctx *ctx, struct xfer *x, CURLcode code);

/* Fails every transfer whose server has been quiet for its idle time, then re-arms. */
static void
on_idle_timer(uv_timer_t *t)
{
	struct xfer_ctx *ctx = t->data;
	uint64_t now = uv_now(ctx->loop);
	struct xfer *x;
	size_t i;

	/* One at a time from the heads: on_done may start, cancel or finish other transfers. */
	for (i = 0; i < ctx->n_idle_cls; i++) {
		while ((x = ctx->idle_cls[i].head) != NULL && now - x->last_rx >= ctx->idle_cls[i].idle_ms) {
			idle_off(x);
			x->idle_expired = 1;
			snprintf(x->errbuf, sizeof x->errbuf, "no data from the server for %llu s",
			         (unsigned long long)(x->idle_ms / 1000));
			if (ctx->depth > 0 || x->queued) {
				queue_reap(ctx, x); /* not expected from a uv timer; reap() finishes it */
				continue;
			}
			xfer_finish(ctx, x, CURLE_OPERATION_TIMEDOUT);
		}
	}
	idle_arm(ctx);
	reap(ctx);
}

static void
xfer_unlink(struct xfer_ctx *ctx, struct xfer *x)
{
	if (ctx->xfers == x)
		ctx->xfers = x->next;
	else
		x->prev->next = x->next;
	if (x->next)
		x->next->prev = x->prev;
	x->prev = x->next = NULL;
	dequeue_reap(ctx, x);
	idle_off(x);
}

static CURL *
easy_get(struct xfer_ctx *ctx)
{
	return ctx->nspare > 0 ? ctx->spare[--ctx->nspare] : curl_easy_init();
}

/* Back to the spares (reset: no option, header list or private pointer of the old transfer
 * survives) or freed. The handle must be out of the multi handle. */
static void
easy_put(struct xfer_ctx *ctx, CURL *easy)
{
	if (easy == NULL)
		return;
	if (ctx->closing || ctx->nspare >= XFER_SPARE_EASY) {
		curl_easy_cleanup(easy);
		return;
	}
	curl_easy_reset(easy);
	ctx->spare[ctx->nspare++] = easy;
}

/* Unlinks, takes the handle out of the multi handle and frees. No callback. */
static void
xfer_destroy(struct xfer_ctx *ctx, struct xfer *x)
{
	if (x->added)
		curl_multi_remove_handle(ctx->multi, x->easy);
	easy_put(ctx, x->easy);
	curl_slist_free_all(x->headers);
	xfer_unlink(ctx, x);
	free(x);
}

/* The transfer is over (code from curl, or forced by us): report it unless cancelled, then free. */
static void
xfer_finish(struct xfer_ctx *ctx, struct xfer *x, CURLcode code)
{
	struct xfer_result r;
	char msg[128];

	xfer_unlink(ctx, x);
	if (x->added) {
		curl_multi_remove_handle(ctx->multi, x->easy);
		x->added = 0;
	}
	if (!x->cancelled) {
		ctx->active--;
		memset(&r, 0, sizeof r);
		r.http_status = x->headers_done ? x->status : 0;
		r.aborted = x->aborted;
		r.timed_out = code == CURLE_OPERATION_TIMEDOUT;
		r.ok = code == CURLE_OK && !x->aborted && !x->header_overflow;
		if (r.ok) {
			r.error = "";
		} else if (x->header_overflow) {
			snprintf(msg, sizeof msg, "response headers larger than %zu bytes",
			         x->max_header_bytes);
			r.error = msg;
		} else if (x->resend_refused) {
			r.error = "the connection closed before any answer; the request was not sent again, "
			          "as it may have reached the server";
		} else if (x->aborted) {
			r.error = "transfer aborted by its owner";
		} else if (x->errbuf[0]) {
			r.error = x->errbuf;
		} else {
			r.error = curl_easy_strerror(code);
		}
		if (!r.ok)
			log_debug("xfer: transfer failed: %s", r.error);
		x->in_done = 1;
		if (x->cb.on_done)
			x->cb.on_done(x->ud, &r);
	}
	easy_put(ctx, x->easy);
	curl_slist_free_all(x->headers);
	free(x);
}

/* Adds transfers started from inside a callback; takes out and frees (or finishes) the ones
 * cancelled or aborted from inside a callback. Runs only outside curl calls. */
static void
reap(struct xfer_ctx *ctx)
{
	struct xfer *x;
	CURLMcode mc;

	if (ctx->depth > 0 || ctx->closing) {
		if (ctx->reapq)
			schedule_reap(ctx);
		return;
	}
	/* Pop before acting: finishing runs on_done, which may queue or cancel others. */
	while (ctx->reapq) {
		x = ctx->reapq;
		ctx->reapq = x->reap_next;
		x->reap_next = NULL;
		x->queued = 0;
		if (x->idle_expired && !x->cancelled) {
			xfer_finish(ctx, x, CURLE_OPERATION_TIMEDOUT);
		} else if (x->pending_add && !x->cancelled) {
			x->pending_add = 0;
			mc = curl_multi_add_handle(ctx->multi, x->easy);
			if (mc == CURLM_OK) {
				x->added = 1;
				continue;
			}
			snprintf(x->errbuf, sizeof x->errbuf, "%s", curl_multi_strerror(mc));
			xfer_finish(ctx, x, CURLE_FAILED_INIT);
		} else if (x->cancelled) {
			xfer_destroy(ctx, x);
		} else {
			xfer_finish(ctx, x, CURLE_WRITE_ERROR);
		}
	}
}

static void
check_multi_info(struct xfer_ctx *ctx)
{
	CURLMsg *msg;
	CURLcode code;
	char *priv;
	int left;

	for (;;) {
		msg = curl_multi_info_read(ctx->multi, &left);
		if (!msg)
			break;
		if (msg->msg != CURLMSG_DONE)
			continue;
		/* The message dies with curl_multi_remove_handle: copy what we need first. */
		code = msg->data.result;
		priv = NULL;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
		if (priv)
			xfer_finish(ctx, (struct xfer *)(void *)priv, code);
	}
	reap(ctx);
}

static size_t
on_curl_header(char *ptr, size_t size, size_t nitems, void *userdata)
{
	struct xfer *x = userdata;
	size_t len = size * nitems;
	const char *ct = NULL;
	long code = 0;
	int rc = 0;

	if (x->cancelled || x->aborted || x->header_overflow)
		return 0;
	idle_on(x->ctx, x);
	if (len > x->max_header_bytes - x->header_bytes) {
		x->header_overflow = 1;
		return 0;
	}
	x->header_bytes += len;
	if (x->headers_done || len > 2 || (ptr[0] != '\r' && ptr[0] != '\n'))
		return len;
	/* The blank line ends one response's headers. 1xx answers are interim: wait for the next. */
	curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
	if (code >= 100 && code < 200)
		return len;
	x->headers_done = 1;
	x->status = code;
	curl_easy_getinfo(x->easy, CURLINFO_CONTENT_TYPE, &ct);
	if (x->cb.on_headers)
		rc = x->cb.on_headers(x->ud, code, ct);
	if (x->cancelled)
		return 0;
	if (rc != 0) {
		x->aborted = 1;
		return 0;
	}
	return len;
}

static size_t
on_curl_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct xfer *x = userdata;
	size_t len = size * nmemb;
	int rc = XFER_OK;

	if (x->cancelled || x->aborted)
		return 0;
	if (len == 0)
		return 0;
	idle_on(x->ctx, x);
	if (x->cb.on_data)
		rc = x->cb.on_data(x->ud, ptr, len);
	if (x->cancelled)
		return 0;
	if (rc == XFER_PAUSE) {
		x->paused = 1;
		idle_off(x);
		return CURL_WRITEFUNC_PAUSE;
	}
	if (rc != XFER_OK) {
		x->aborted = 1;
		return 0;
	}
	return len;
}

/*
 * curl calls this each time it is about to send the request, on a new or reused connection. When a
 * reused connection dies before any byte of the answer, curl 7.88 sends the request again on a
 * fresh one (Curl_retry_request): right for a GET, wrong for a POST that the server may already
 * have acted on (an MCP tools/call would run twice). A second call for a no_resend transfer is such
 * a resend, and aborting it fails the transfer instead. Unlike refusing a rewind of the body, this
 * also holds for a body sent with the headers (CURLOPT_COPYPOSTFIELDS, one send per request), which
 * curl resends without asking.
 */
static int
on_curl_prereq(void *clientp, char *primary_ip, char *local_ip, int primary_port, int local_port)
{
	struct xfer *x = clientp;

	if (++x->sends > 1) {
		x->resend_refused = 1;
		return CURL_PREREQFUNC_ABORT;
	}
	return CURL_PREREQFUNC_OK;
}

struct xfer_ctx *
xfer_ctx_new(uv_loop_t *loop)
{
	struct xfer_ctx *ctx;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		log_err("xfer: curl_global_init failed");
		abort();
	}
	ctx = xcalloc(1, sizeof *ctx);
	ctx->loop = loop;
	ctx->multi = curl_multi_init();
	if (!ctx->multi) {
		log_err("xfer: curl_multi_init failed");
		abort();
	}
	ctx->timer = xmalloc(sizeof *ctx->timer);
	uv_timer_init(loop, ctx->timer);
	ctx->timer->data = ctx;
	ctx->idle = xmalloc(sizeof *ctx->idle);
	uv_idle_init(loop, ctx->idle);
	ctx->idle->data = ctx;
	ctx->idle_timer = xmalloc(sizeof *ctx->idle_timer);
	uv_timer_init(loop, ctx->idle_timer);
	ctx->idle_timer->data = ctx;
	curl_multi_setopt(ctx->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
	curl_multi_setopt(ctx->multi, CURLMOPT_SOCKETDATA, ctx);
	curl_multi_setopt(ctx->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
	curl_multi_setopt(ctx->multi, CURLMOPT_TIMERDATA, ctx);
	/* Only transfers that ask for HTTP/2 share a connection (xfer_request.http2). */
	curl_multi_setopt(ctx->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
	return ctx;
}

void
xfer_ctx_free(struct xfer_ctx *ctx)
{
	struct xsock *xs;

	if (!ctx)
		return;
	ctx->closing = 1;
	/* Stop watching before curl closes the sockets under libuv. */
	for (xs = ctx->socks; xs; xs = xs->next)
		uv_poll_stop(&xs->poll);
	while (ctx->xfers)
		xfer_destroy(ctx, ctx->xfers);
	while (ctx->nspare > 0)
		curl_easy_cleanup(ctx->spare[--ctx->nspare]);
	curl_multi_cleanup(ctx->multi);
	while (ctx->socks)
		sock_close(ctx, ctx->socks);
	free(ctx->byfd);
	free(ctx->idle_cls);
	uv_close((uv_handle_t *)ctx->idle_timer, on_handle_closed);
	uv_close((uv_handle_t *)ctx->timer, on_handle_closed);
	uv_close((uv_handle_t *)ctx->idle, on_handle_closed);
	free(ctx);
	curl_global_cleanup();
}

size_t
xfer_ctx_active(const struct xfer_ctx *ctx)
{
	return ctx ? ctx->active : 0;
}

/* An upper-case token, so that nothing odd reaches the request line. */
static int
method_ok(const char *m)
{
	size_t i, n = strlen(m);

	if (n == 0 || n > XFER_MAX_METHOD)
		return 0;
	for (i = 0; i < n; i++)
		if (m[i] < 'A' || m[i] > 'Z')
			return 0;
	return 1;
}

/* The scheme only: curl parses the rest (and CURLOPT_PROTOCOLS_STR holds it to http and https
 * whatever a redirect says); parsing the URL a second time here cost 2% of an MCP response. */
static int
url_ok(const char *url)
{
	return url && (strncasecmp(url, "http://", 7) == 0 || strncasecmp(url, "https://", 8) == 0);
}

/* Copies the caller's headers; refuses CR or LF (header injection). */
static int
build_headers(struct xfer *x, const char *const *headers, int has_body)
{
	struct curl_slist *l;
	int has_expect = 0;
	size_t i;

	for (i = 0; headers && headers[i]; i++) {
		if (strpbrk(headers[i], "\r\n"))
			return -1;
		if (strncasecmp(headers[i], "Expect:", 7) == 0)
			has_expect = 1;
		l = curl_slist_append(x->headers, headers[i]);
		if (!l)
			return -1;
		x->headers = l;
	}
	/* curl would otherwise send "Expect: 100-continue" for larger bodies and stall up to a second
	 * on servers that ignore it. */
	if (has_body && !has_expect) {
		l = curl_slist_append(x->headers, "Expect:");
		if (!l)
			return -1;
		x->headers = l;
	}
	return 0;
}

static int
setup_easy(struct xfer *x, const struct xfer_request *req)
{
	CURL *e = x->easy;
	const char *method = req->method;
	int has_body = req->body != NULL;
	CURLcode result = CURLE_OK;

	if (!method)
		method = has_body ? "POST" : "GET";
	if (!method_ok(method) || !url_ok(req->url))
		return -1;
	if (build_headers(x, req->headers, has_body) < 0)
		return -1;

#define SET(opt, val)                                                                                        \
	do {                                                                                                 \
		if (result == CURLE_OK)                                                                      \
			result = curl_easy_setopt(e, opt, val);                                              \
	} while (0)
	SET(CURLOPT_PRIVATE, (void *)x);
	SET(CURLOPT_URL, req->url);
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	SET(CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
	/* Its minimum: curl allocates this upload buffer (64 KiB by default) for every HTTP/2 POST,
	 * and a stream held open for minutes would keep it. */
	SET(CURLOPT_UPLOAD_BUFFERSIZE, 16384L);
	/* Kept by the handle for the whole transfer, like the upload buffer. A reset handle from the
	 * spares is back at curl's default, so only a non-default size needs setting. */
	if (req->recv_buffer_bytes > 0)
		SET(CURLOPT_BUFFERSIZE, req->recv_buffer_bytes);
	SET(CURLOPT_CLOSESOCKETFUNCTION, on_curl_close_socket);
	SET(CURLOPT_CLOSESOCKETDATA, (void *)x->ctx);
	/* HTTP/2 over TLS only: without TLS (prior knowledge) libcurl 7.88 fails on reused connections. */
	if (req->http2 && strncasecmp(req->url, "https:", 6) == 0) {
		SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
		/* Wait for a connection that is being set up rather than open one more beside it. */
		SET(CURLOPT_PIPEWAIT, 1L);
	} else {
		SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	}
	if (req->ca_file)
		SET(CURLOPT_CAINFO, req->ca_file);
	/* No CURLOPT_ACCEPT_ENCODING: we relay the bytes as they come, so ask for no compression. */
	SET(CURLOPT_TCP_KEEPALIVE, 1L);
	SET(CURLOPT_TCP_KEEPIDLE, 30L);
	SET(CURLOPT_TCP_KEEPINTVL, 15L);
	SET(CURLOPT_ERRORBUFFER, x->errbuf);
	SET(CURLOPT_HEADERFUNCTION, on_curl_header);
	SET(CURLOPT_HEADERDATA, (void *)x);
	SET(CURLOPT_WRITEFUNCTION, on_curl_write);
	SET(CURLOPT_WRITEDATA, (void *)x);
	if (x->headers)
		SET(CURLOPT_HTTPHEADER, x->headers);
	if (req->no_resend) {
		SET(CURLOPT_PREREQFUNCTION, on_curl_prereq);
		SET(CURLOPT_PREREQDATA, (void *)x);
	}
	if (req->connect_timeout_ms > 0)
		SET(CURLOPT_CONNECTTIMEOUT_MS, req->connect_timeout_ms);
	if (req->total_timeout_ms > 0)
		SET(CURLOPT_TIMEOUT_MS, req->total_timeout_ms);
	/* idle_timeout_s is ours (idle_on), not CURLOPT_LOW_SPEED_TIME: see the top of the file. */
	if (strcmp(method, "HEAD") == 0) {
		SET(CURLOPT_NOBODY, 1L);
	} else if (has_body) {
		/* Size first: COPYPOSTFIELDS copies that many bytes, so the body may hold NULs. */
		SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
		SET(CURLOPT_COPYPOSTFIELDS, req->body);
		if (strcmp(method, "POST") != 0)
			SET(CURLOPT_CUSTOMREQUEST, method);
	} else if (strcmp(method, "POST") == 0) {
		SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
		SET(CURLOPT_POSTFIELDS, "");
	} else if (strcmp(method, "GET") != 0) {
		SET(CURLOPT_CUSTOMREQUEST, method);
	}
#undef SET
	if (result != CURLE_OK) {
		log_warnx("xfer: curl refused an option: %s", curl_easy_strerror(result));
		return -1;
	}
	return 0;
}

struct xfer *
xfer_start(struct xfer_ctx *ctx, const struct xfer_request *req, const struct xfer_callbacks *cb, void *ud)
{
	struct xfer *x;
	CURLMcode mc;

	if (!ctx || ctx->closing || !req || !cb)
		return NULL;
	x = xcalloc(1, sizeof *x);
	x->ctx = ctx;
	x->cb = *cb;
	x->ud = ud;
	x->max_header_bytes = req->max_header_bytes ? req->max_header_bytes : XFER_DEFAULT_MAX_HEADER;
	x->easy = easy_get(ctx);
	if (!x->easy)
		goto fail;
	if (setup_easy(x, req) < 0)
		goto fail;
	x->next = ctx->xfers;
	if (ctx->xfers)
		ctx->xfers->prev = x;
	ctx->xfers = x;
	ctx->active++;
	if (req->idle_timeout_s > 0) {
		x->idle_ms = (uint64_t)req->idle_timeout_s * 1000;
		idle_on(ctx, x);
	}
	/* curl refuses curl_multi_add_handle from inside its callbacks (CURLM_RECURSIVE_API_CALL). */
	if (ctx->depth > 0) {
		x->pending_add = 1;
		queue_reap(ctx, x);
		return x;
	}
	mc = curl_multi_add_handle(ctx->multi, x->easy);
	if (mc != CURLM_OK) {
		log_warnx("xfer: curl_multi_add_handle: %s", curl_multi_strerror(mc));
		ctx->active--;
		xfer_unlink(ctx, x);
		goto fail;
	}
	x->added = 1;
	return x;

fail:
	easy_put(ctx, x->easy);
	curl_slist_free_all(x->headers);
	free(x);
	return NULL;
}

const char *
xfer_header(struct xfer *x, const char *name)
{
	struct curl_header *h = NULL;

	if (!x || !x->easy || !name)
		return NULL;
	/* request -1: the last response's headers (after any 1xx). */
	if (curl_easy_header(x->easy, name, 0, CURLH_HEADER, -1, &h) != CURLHE_OK || !h)
		return NULL;
	return h->value;
}

void
xfer_resume(struct xfer *x)
{
	struct xfer_ctx *ctx;

	if (!x || !x->paused || x->cancelled || !x->added)
		return;
	ctx = x->ctx;
	x->paused = 0;
	/* The clock starts again: while paused, the server could not be heard. */
	idle_on(ctx, x);
	/* May run on_data synchronously with the held bytes; it may pause again. */
	ctx->depth++;
	curl_easy_pause(x->easy, CURLPAUSE_CONT);
	ctx->depth--;
	/* An abort during the replay makes curl_easy_pause fail without ending the transfer, which
	 * then may sit on a quiet socket: finish it ourselves on the next tick. */
	if (!x->cancelled && (x->aborted || x->header_overflow))
		queue_reap(ctx, x);
}

void
xfer_cancel(struct xfer *x)
{
	struct xfer_ctx *ctx;

	if (!x || x->cancelled || x->in_done)
		return;
	ctx = x->ctx;
	x->cancelled = 1;
	ctx->active--;
	idle_off(x);
	if (ctx->depth == 0 || !x->added) {
		xfer_destroy(ctx, x);
		return;
	}
	/* Inside a curl callback: the write/header callback now fails the transfer, and reap()
	 * (or the DONE message, whichever comes first) releases it. */
	queue_reap(ctx, x);
}
