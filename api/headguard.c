/*
 * headguard: see the header for what is checked and why. Each held connection is in one of two
 * FIFO queues, oldest first: waiting for its head (deadline = accept + timeout) or lingering after
 * an answer (deadline = answer + HEADGUARD_LINGER_MS). Both durations are fixed, so each queue is
 * ordered by deadline and one timer, set to the earlier head of the two, serves every deadline.
 */
#include "api/headguard.h"

#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "api/apierr.h"
#include "api/http.h"
#include "daemon/log.h"
#include "daemon/util.h"

#define HEADGUARD_LWS_DATA_MAX 65535u /* lws' max_http_header_data is an unsigned short */
/* lws stores a header it has no name for as 8 bytes + name + ':' + value, where the raw line has
 * name + ':' + OWS + value + OWS + CRLF: at most 6 bytes more per line. 8 per field, plus slack
 * for the terminators of the request line, covers every head of HEADGUARD_MAX_FIELDS fields. */
#define HEADGUARD_LWS_ROOM   (8u * HEADGUARD_MAX_FIELDS + 64u)
#define HEADGUARD_METHOD_MAX 16
#define HEADGUARD_EVENTS     64

enum conn_state { CONN_HEAD, CONN_LINGER };

struct guard_conn {
	struct guard_conn *prev, *next;
	int fd;
	enum conn_state state;
	uint64_t deadline_ms;
	size_t drained; /* bytes read past while lingering */
};

struct conn_queue {
	struct guard_conn *head, *tail;
};

struct headguard {
	uv_loop_t *loop;
	int epfd;
	uv_poll_t poll; /* on epfd */
	uv_timer_t timer;
	int handles_open, stopped, free_due;
	size_t cap;
	uint64_t timeout_ms;
	headguard_adopt_fn adopt;
	void *ud;
	char *buf; /* cap bytes, shared by every look */
	struct conn_queue heads, lingers;
	size_t pending;
};

/* ---- the check ---- */

static int
is_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static int
hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* The methods lws 4.1.6 parses (with LWS_WITH_HTTP_UNCOMMON_HEADERS, as Debian builds it). */
static int
known_method(const unsigned char *m, size_t n)
{
	static const char *const methods[] = {"GET",    "POST",    "PUT",  "PATCH",
	                                      "DELETE", "OPTIONS", "HEAD", "CONNECT"};
	size_t i;

	for (i = 0; i < sizeof methods / sizeof methods[0]; i++)
		if (strlen(methods[i]) == n && memcmp(methods[i], m, n) == 0)
			return 1;
	return 0;
}

static enum headguard_verdict
refuse(struct api_error *err, int status, const char *code, const char *msg)
{
	api_error_set(err, status, "invalid_request", code, NULL, "%s", msg);
	return HEADGUARD_BAD;
}

/* A byte where a line may not have it: the message names what was wrong. */
static enum headguard_verdict
refuse_byte(struct api_error *err, const char *code, unsigned char c, const char *otherwise)
{
	if (c == '\n')
		return refuse(err, 400, code, "a bare LF in the request head: its lines must end with CRLF");
	if (c == '\0')
		return refuse(err, 400, code, "a NUL byte in the request head");
	return refuse(err, 400, code, otherwise);
}

static enum headguard_verdict
too_many_fields(struct api_error *err)
{
	api_error_set(err, 431, "invalid_request", "header_too_large", NULL,
	              "the request head has more than %d fields (header lines and query arguments)",
	              HEADGUARD_MAX_FIELDS);
	return HEADGUARD_BAD;
}

enum head_state { S_METHOD, S_TARGET, S_PCT1, S_PCT2, S_VERSION, S_LF, S_LINE, S_NAME, S_VALUE, S_END_LF };

enum headguard_verdict
headguard_check(const char *data, size_t len, size_t cap, size_t *head_len, struct api_error *err)
{
	const unsigned char *s = (const unsigned char *)data;
	enum head_state st = S_METHOD;
	size_t i, mark = 0, fields = 2; /* the path and the version are lws fragments too */
	int in_query = 0, pct = 0;
	char msg[128];

	for (i = 0; i < len && i < cap; i++) {
		unsigned char c = s[i];

		switch (st) {
		case S_METHOD:
			if (c == ' ' && i > 0) {
				if (!known_method(s, i))
					return refuse(err, 501, "method_not_implemented",
					              "the request method is not one this server implements");
				st = S_TARGET;
				mark = i + 1;
			} else if (!is_tchar(c) || i >= HEADGUARD_METHOD_MAX) {
				return refuse_byte(err, "invalid_request_line", c,
				                   "the request line is not \"METHOD /path HTTP/1.1\"");
			}
			break;
		case S_TARGET:
			if (i == mark && c != '/')
				return refuse_byte(err, "invalid_request_target", c,
				                   "the request target must be a path starting with \"/\"");
			if (c == ' ') {
				st = S_VERSION;
				mark = i + 1;
			} else if (c == '\r') {
				return refuse(err, 400, "invalid_request_line",
				              "the request line is not \"METHOD /path HTTP/1.1\"");
			} else if (c < 0x21 || c > 0x7e) {
				return refuse_byte(
				        err, "invalid_request_target", c,
				        "the request target has a byte that is not printable ASCII");
			} else if (c == '%') {
				st = S_PCT1;
			} else if ((c == '?' && !in_query) || (in_query && (c == '&' || c == ';'))) {
				/* lws keeps the query, and each of its arguments, as a fragment */
				in_query = 1;
				if (++fields > HEADGUARD_MAX_FIELDS)
					return too_many_fields(err);
			}
			break;
		case S_PCT1:
		case S_PCT2:
			if (hexval(c) < 0)
				return refuse(
				        err, 400, "invalid_request_target",
				        "a \"%\" in the request target is not followed by two hex digits");
			pct = pct * 16 + hexval(c);
			if (st == S_PCT1) {
				st = S_PCT2;
				break;
			}
			if (pct < 0x20 || pct == 0x7f)
				return refuse(err, 400, "invalid_request_target",
				              "the request target encodes a control character");
			pct = 0;
			st = S_TARGET;
			break;
		case S_VERSION:
			if (c == '\r') {
				const unsigned char *v = s + mark;
				size_t vlen = i - mark;

				if (vlen != 8 || memcmp(v, "HTTP/", 5) != 0 || v[6] != '.' || v[5] < '0' ||
				    v[5] > '9' || v[7] < '0' || v[7] > '9')
					return refuse(err, 400, "invalid_request_line",
					              "the request line is not \"METHOD /path HTTP/1.1\"");
				if (v[5] != '1')
					return refuse(err, 505, "http_version_not_supported",
					              "only HTTP/1.0 and HTTP/1.1 are served");
				st = S_LF;
			} else if (c < 0x21 || c > 0x7e || i - mark >= 8) {
				return refuse_byte(err, "invalid_request_line", c,
				                   "the request line is not \"METHOD /path HTTP/1.1\"");
			}
			break;
		case S_LF:
			if (c != '\n')
				return refuse(err, 400, "invalid_header", "a bare CR in the request head");
			st = S_LINE;
			break;
		case S_LINE:
			if (c == '\r') {
				st = S_END_LF;
				break;
			}
			if (c == ' ' || c == '\t')
				return refuse(
				        err, 400, "invalid_header",
				        "obsolete line folding (a header line starting with whitespace)");
			if (!is_tchar(c))
				return refuse_byte(err, "invalid_header", c,
				                   "a header line must be \"name: value\" with a token name");
			if (++fields > HEADGUARD_MAX_FIELDS)
				return too_many_fields(err);
			st = S_NAME;
			break;
		case S_NAME:
			if (c == ':')
				st = S_VALUE;
			else if (c == ' ' || c == '\t')
				return refuse(err, 400, "invalid_header",
				              "whitespace between a header name and its colon");
			else if (c == '\r')
				return refuse(err, 400, "invalid_header", "a header line without a colon");
			else if (!is_tchar(c))
				return refuse_byte(err, "invalid_header", c,
				                   "a header name with a byte that is not a token character");
			break;
		case S_VALUE:
			if (c == '\r') {
				st = S_LF;
			} else if (c != '\t' && (c < 0x20 || c == 0x7f)) {
				snprintf(msg, sizeof msg, "a control character (0x%02x) in a header value",
				         c);
				return refuse_byte(err, "invalid_header", c, msg);
			}
			break;
		case S_END_LF:
			if (c != '\n')
				return refuse(err, 400, "invalid_header", "a bare CR in the request head");
			*head_len = i + 1;
			return HEADGUARD_COMPLETE;
		}
	}
	if (len >= cap) {
		snprintf(msg, sizeof msg, "the request head exceeds %zu bytes", cap);
		return refuse(err, 431, "header_too_large", msg);
	}
	return HEADGUARD_PARTIAL;
}

size_t
headguard_cap(size_t max_header_bytes)
{
	size_t most = HEADGUARD_LWS_DATA_MAX - HEADGUARD_LWS_ROOM;

	return max_header_bytes < most ? max_header_bytes : most;
}

unsigned short
headguard_lws_header_data(size_t cap)
{
	return (unsigned short)(headguard_cap(cap) + HEADGUARD_LWS_ROOM);
}

/* ---- the queues ---- */

static void
queue_add(struct conn_queue *q, struct guard_conn *c)
{
	c->next = NULL;
	c->prev = q->tail;
	if (q->tail)
		q->tail->next = c;
	else
		q->head = c;
	q->tail = c;
}

static void
queue_remove(struct conn_queue *q, struct guard_conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		q->head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		q->tail = c->prev;
	c->prev = c->next = NULL;
}

static struct conn_queue *
queue_of(struct headguard *g, const struct guard_conn *c)
{
	return c->state == CONN_HEAD ? &g->heads : &g->lingers;
}

static void on_timer(uv_timer_t *t);

/* The timer is due at the earlier deadline of the two queue heads. */
static void
rearm(struct headguard *g)
{
	uint64_t due = UINT64_MAX, now = util_mono_ms();

	if (g->stopped)
		return;
	if (g->heads.head)
		due = g->heads.head->deadline_ms;
	if (g->lingers.head && g->lingers.head->deadline_ms < due)
		due = g->lingers.head->deadline_ms;
	if (due == UINT64_MAX) {
		uv_timer_stop(&g->timer);
		return;
	}
	uv_timer_start(&g->timer, on_timer, due > now ? due - now : 0, 0);
}

/* Registers fd in a new entry. NULL (fd untouched) when epoll refuses it. */
static struct guard_conn *
conn_add(struct headguard *g, int fd, enum conn_state state)
{
	struct guard_conn *c = xcalloc(1, sizeof *c);
	struct epoll_event ev;

	c->fd = fd;
	c->state = state;
	c->deadline_ms = util_mono_ms() + (state == CONN_HEAD ? g->timeout_ms : HEADGUARD_LINGER_MS);
	memset(&ev, 0, sizeof ev);
	/* Edge-triggered: a peeked socket stays readable; only new bytes (or the end) wake us. */
	ev.events = EPOLLIN | EPOLLRDHUP | EPOLLET;
	ev.data.ptr = c;
	if (epoll_ctl(g->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		log_warn("headguard: epoll_ctl");
		free(c);
		return NULL;
	}
	queue_add(queue_of(g, c), c);
	g->pending++;
	rearm(g);
	return c;
}

/* Forgets an entry; its fd stays open (the caller closes it or hands it on). */
static void
conn_drop(struct headguard *g, struct guard_conn *c)
{
	epoll_ctl(g->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	queue_remove(queue_of(g, c), c);
	g->pending--;
	free(c);
}

/* ---- answers ---- */

/* Writes the answer in one non-blocking send: 0 when it all went (it is small; if the socket
 * buffer cannot take it, the peer is not reading and the connection is just closed). */
static int
send_answer(int fd, const struct api_error *e)
{
	json_t *env = api_error_envelope(e);
	char *body = json_dumps(env, JSON_COMPACT);
	char head[256];
	struct iovec iov[3];
	struct msghdr mh;
	size_t blen = body ? strlen(body) : 0;
	ssize_t n;
	int len;

	json_decref(env);
	len = snprintf(head, sizeof head,
	               "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nopenresponses-version: %s\r\n"
	               "Content-Length: %zu\r\nConnection: close\r\n\r\n",
	               e->status, http_reason_phrase(e->status), HTTP_SERVED_VERSION, blen + 1);
	iov[0].iov_base = head;
	iov[0].iov_len = (size_t)len;
	iov[1].iov_base = body ? body : "";
	iov[1].iov_len = blen;
	iov[2].iov_base = "\n";
	iov[2].iov_len = 1;
	memset(&mh, 0, sizeof mh);
	mh.msg_iov = iov;
	mh.msg_iovlen = 3;
	n = sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	free(body);
	return n == (ssize_t)((size_t)len + blen + 1) ? 0 : -1;
}

/* Reads past what a refused peer still sends; closes at its end, at the byte cap or on error. */
static void
linger_read(struct headguard *g, struct guard_conn *c)
{
	for (;;) {
		ssize_t n = recv(c->fd, g->buf, g->cap, MSG_DONTWAIT);

		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n < 0 && errno == EINTR)
			continue;
		if (n > 0 && (c->drained += (size_t)n) <= HEADGUARD_LINGER_BYTES)
			continue;
		break;
	}
	{
		int fd = c->fd;

		conn_drop(g, c);
		close(fd);
		rearm(g);
	}
}

/* Answers err on fd, then lingers (c: its entry when it has one). */
static void
answer(struct headguard *g, int fd, struct guard_conn *c, const struct api_error *err)
{
	log_info("refused a request head with a %d: %s", err->status, err->message);
	if (send_answer(fd, err) < 0) {
		if (c)
			conn_drop(g, c);
		close(fd);
		rearm(g);
		return;
	}
	/* FIN after the answer: the peer reads it, then its end; ours waits for that. */
	shutdown(fd, SHUT_WR);
	if (c) {
		queue_remove(&g->heads, c);
		c->state = CONN_LINGER;
		c->deadline_ms = util_mono_ms() + HEADGUARD_LINGER_MS;
		queue_add(&g->lingers, c);
		rearm(g);
	} else {
		c = conn_add(g, fd, CONN_LINGER);
		if (c == NULL) {
			close(fd);
			return;
		}
	}
	/* The bytes already there were signalled (or peeked) before: read them now. */
	linger_read(g, c);
}

/* ---- looking at a head ---- */

/* What becomes of fd now (c: its entry, NULL straight from accept; peer_done: the peer's end or an
 * error was signalled). */
static void
examine(struct headguard *g, int fd, struct guard_conn *c, int peer_done)
{
	struct api_error err;
	size_t head_len = 0;
	ssize_t n = recv(fd, g->buf, g->cap, MSG_PEEK | MSG_DONTWAIT);
	enum headguard_verdict v = HEADGUARD_PARTIAL;

	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
		peer_done = 1;
	else if (n > 0)
		v = headguard_check(g->buf, (size_t)n, g->cap, &head_len, &err);
	if (v == HEADGUARD_COMPLETE) {
		if (c) {
			conn_drop(g, c);
			rearm(g);
		}
		g->adopt(g->ud, fd);
		return;
	}
	if (v == HEADGUARD_BAD) {
		answer(g, fd, c, &err);
		return;
	}
	if (peer_done) {
		/* A head that can never be whole: nobody to answer. */
		if (c) {
			conn_drop(g, c);
			rearm(g);
		}
		close(fd);
		return;
	}
	if (c == NULL && conn_add(g, fd, CONN_HEAD) == NULL)
		close(fd);
}

static void
on_events(uv_poll_t *p, int status, int events)
{
	struct headguard *g = p->data;
	struct epoll_event ev[HEADGUARD_EVENTS];
	int i, n;

	(void)status;
	(void)events;
	n = epoll_wait(g->epfd, ev, HEADGUARD_EVENTS, 0);
	/* More than a batch: the set stays readable and the loop calls again. */
	for (i = 0; i < n; i++) {
		struct guard_conn *c = ev[i].data.ptr;

		if (c->state == CONN_HEAD)
			examine(g, c->fd, c, (ev[i].events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0);
		else
			linger_read(g, c);
	}
}

static void
on_timer(uv_timer_t *t)
{
	struct headguard *g = t->data;
	uint64_t now = util_mono_ms();
	struct guard_conn *c;

	/* Each turn takes a queue's head off it (conn_drop, or answer() moving it to the lingering
	 * queue); the analyzer cannot follow that through the list. */
	/* NOLINTNEXTLINE(clang-analyzer-unix.Malloc) */
	while ((c = g->heads.head) != NULL && c->deadline_ms <= now) {
		int avail = 0;

		/* Part of a head came: say why it is dropped. Nothing came: just close. */
		if (ioctl(c->fd, FIONREAD, &avail) == 0 && avail > 0) {
			struct api_error err;

			api_error_set(&err, 408, "invalid_request", "header_timeout", NULL,
			              "the request head did not arrive whole within %u s",
			              (unsigned)(g->timeout_ms / 1000));
			answer(g, c->fd, c, &err);
		} else {
			int fd = c->fd;

			conn_drop(g, c);
			close(fd);
		}
	}
	/* NOLINTNEXTLINE(clang-analyzer-unix.Malloc) */
	while ((c = g->lingers.head) != NULL && c->deadline_ms <= now) {
		int fd = c->fd;

		conn_drop(g, c);
		close(fd);
	}
	rearm(g);
}

/* ---- lifetime ---- */

struct headguard *
headguard_new(uv_loop_t *loop, size_t cap, unsigned timeout_s, headguard_adopt_fn adopt, void *ud, char *err,
              size_t errlen)
{
	struct headguard *g = xcalloc(1, sizeof *g);

	g->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (g->epfd < 0) {
		snprintf(err, errlen, "headguard: epoll_create1: %s", strerror(errno));
		free(g);
		return NULL;
	}
	g->loop = loop;
	g->cap = headguard_cap(cap);
	g->timeout_ms = (uint64_t)timeout_s * 1000;
	g->adopt = adopt;
	g->ud = ud;
	g->buf = xmalloc(g->cap);
	uv_poll_init(loop, &g->poll, g->epfd);
	uv_timer_init(loop, &g->timer);
	g->poll.data = g->timer.data = g;
	g->handles_open = 2;
	uv_poll_start(&g->poll, UV_READABLE, on_events);
	return g;
}

void
headguard_take(struct headguard *g, int fd)
{
	if (g->stopped) {
		close(fd);
		return;
	}
	examine(g, fd, NULL, 0);
}

size_t
headguard_pending(const struct headguard *g)
{
	return g ? g->pending : 0;
}

static void
really_free(struct headguard *g)
{
	close(g->epfd);
	free(g->buf);
	free(g);
}

static void
on_closed(uv_handle_t *h)
{
	struct headguard *g = h->data;

	if (--g->handles_open == 0 && g->free_due)
		really_free(g);
}

void
headguard_stop(struct headguard *g)
{
	struct conn_queue *queues[2];
	struct guard_conn *c, *next;
	int k;

	if (g == NULL || g->stopped)
		return;
	g->stopped = 1;
	queues[0] = &g->heads;
	queues[1] = &g->lingers;
	for (k = 0; k < 2; k++) {
		for (c = queues[k]->head; c != NULL; c = next) {
			/* next was read before c went; the analyzer cannot see that c != next. */
			int fd = c->fd; /* NOLINT(clang-analyzer-unix.Malloc) */

			next = c->next;
			conn_drop(g, c);
			close(fd);
		}
	}
	uv_timer_stop(&g->timer);
	uv_close((uv_handle_t *)&g->timer, on_closed);
	uv_close((uv_handle_t *)&g->poll, on_closed);
}

void
headguard_free(struct headguard *g)
{
	if (g == NULL)
		return;
	headguard_stop(g);
	if (g->handles_open == 0)
		really_free(g);
	else
		g->free_due = 1;
}
