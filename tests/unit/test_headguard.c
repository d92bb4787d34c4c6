/* Unit tests for api/headguard.c: the head check (table-driven), then the guard on a loop over
 * socket pairs (adopted, refused with an answer, waiting for the rest, stopped). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "api/apierr.h"
#include "api/headguard.h"
#include "tests/unit/t.h"

#define CAP 256

struct check_case {
	const char *name;
	const char *head;
	size_t len; /* 0: strlen(head) */
	enum headguard_verdict verdict;
	int status;
	const char *code;
};

static void
test_check(void)
{
	static const struct check_case cases[] = {
	        {"plain GET", "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n", 0, HEADGUARD_COMPLETE, 0, NULL},
	        {"no headers", "GET / HTTP/1.0\r\n\r\n", 0, HEADGUARD_COMPLETE, 0, NULL},
	        {"HTAB, SP and obs-text in a value", "GET / HTTP/1.1\r\nX-A: a\tb c\xc3\xa9\r\n\r\n", 0,
	         HEADGUARD_COMPLETE, 0, NULL},
	        {"empty value", "GET / HTTP/1.1\r\nX-A:\r\n\r\n", 0, HEADGUARD_COMPLETE, 0, NULL},
	        {"query and escapes", "GET /a%20b?x=1&y=%41 HTTP/1.1\r\n\r\n", 0, HEADGUARD_COMPLETE, 0,
	         NULL},
	        {"a body after the head", "POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}", 0,
	         HEADGUARD_COMPLETE, 0, NULL},
	        {"empty", "", 0, HEADGUARD_PARTIAL, 0, NULL},
	        {"half a request line", "GET /heal", 0, HEADGUARD_PARTIAL, 0, NULL},
	        {"CR at the end", "GET / HTTP/1.1\r\nHost: a\r", 0, HEADGUARD_PARTIAL, 0, NULL},
	        {"no final CRLF yet", "GET / HTTP/1.1\r\nHost: a\r\n", 0, HEADGUARD_PARTIAL, 0, NULL},
	        {"half an escape", "GET /a%4", 0, HEADGUARD_PARTIAL, 0, NULL},
	        {"NUL in a value", "GET / HTTP/1.1\r\nX-A: a\0b\r\n\r\n", 27, HEADGUARD_BAD, 400,
	         "invalid_header"},
	        {"NUL before the rest came", "GET / HTTP/1.1\r\nX-A: \0", 23, HEADGUARD_BAD, 400,
	         "invalid_header"},
	        {"0x01 in a value", "GET / HTTP/1.1\r\nX-A: a\x01\r\n\r\n", 0, HEADGUARD_BAD, 400,
	         "invalid_header"},
	        {"DEL in a value", "GET / HTTP/1.1\r\nX-A: \x7f\r\n\r\n", 0, HEADGUARD_BAD, 400,
	         "invalid_header"},
	        {"GARBAGE", "GARBAGE\r\n\r\n", 0, HEADGUARD_BAD, 400, "invalid_request_line"},
	        {"no version", "GET /\r\n\r\n", 0, HEADGUARD_BAD, 400, "invalid_request_line"},
	        {"two spaces", "GET  / HTTP/1.1\r\n\r\n", 0, HEADGUARD_BAD, 400, "invalid_request_target"},
	        {"a space in the version", "GET / HTTP/1.1 \r\n\r\n", 0, HEADGUARD_BAD, 400,
	         "invalid_request_line"},
	        {"a long version", "GET / HTTP/1.10\r\n\r\n", 0, HEADGUARD_BAD, 400, "invalid_request_line"},
	        {"version 2", "GET / HTTP/2.0\r\n\r\n", 0, HEADGUARD_BAD, 505, "http_version_not_supported"},
	        {"unknown method", "BREW / HTTP/1.1\r\n\r\n", 0, HEADGUARD_BAD, 501,
	         "method_not_implemented"},
	        {"lower-case method", "get / HTTP/1.1\r\n\r\n", 0, HEADGUARD_BAD, 501,
	         "method_not_implemented"},
	        {"leading CRLF", "\r\nGET / HTTP/1.1\r\n\r\n", 0, HEADGUARD_BAD, 400, "invalid_request_line"},
	        {"absolute form", "GET http://a/ HTTP/1.1\r\n\r\n", 0, HEADGUARD_BAD, 400,
	         "invalid_request_target"},
	        {"asterisk form", "OPTIONS * HTTP/1.1\r\n\r\n", 0, HEADGUARD_BAD, 400,
	         "invalid_request_target"},
	        {"bad escape", "GET /%zz HTTP/1.1\r\n\r\n", 0, HEADGUARD_BAD, 400, "invalid_request_target"},
	        {"escaped NUL", "GET /%00 HTTP/1.1\r\n\r\n", 0, HEADGUARD_BAD, 400, "invalid_request_target"},
	        {"escaped DEL", "GET /a?b=%7F HTTP/1.1\r\n\r\n", 0, HEADGUARD_BAD, 400,
	         "invalid_request_target"},
	        {"raw byte >= 0x80 in the target", "GET /\xc3\xa9 HTTP/1.1\r\n\r\n", 0, HEADGUARD_BAD, 400,
	         "invalid_request_target"},
	        {"no colon", "GET / HTTP/1.1\r\nNoColon\r\n\r\n", 0, HEADGUARD_BAD, 400, "invalid_header"},
	        {"space before the colon", "GET / HTTP/1.1\r\nX-A : b\r\n\r\n", 0, HEADGUARD_BAD, 400,
	         "invalid_header"},
	        {"empty name", "GET / HTTP/1.1\r\n: b\r\n\r\n", 0, HEADGUARD_BAD, 400, "invalid_header"},
	        {"obs-fold", "GET / HTTP/1.1\r\nX-A: b\r\n c\r\n\r\n", 0, HEADGUARD_BAD, 400,
	         "invalid_header"},
	        {"bare LF", "GET / HTTP/1.1\nHost: a\n\n", 0, HEADGUARD_BAD, 400, "invalid_request_line"},
	        {"bare LF in a header", "GET / HTTP/1.1\r\nHost: a\n\r\n", 0, HEADGUARD_BAD, 400,
	         "invalid_header"},
	        {"bare CR", "GET / HTTP/1.1\r\nX-A: a\rb\r\n\r\n", 0, HEADGUARD_BAD, 400, "invalid_header"},
	        {"CR without LF at the end", "GET / HTTP/1.1\r\n\rX", 0, HEADGUARD_BAD, 400,
	         "invalid_header"},
	};
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct check_case *c = &cases[i];
		struct api_error e;
		size_t len = c->len ? c->len : strlen(c->head), head_len = 0;
		enum headguard_verdict v;

		memset(&e, 0, sizeof e);
		v = headguard_check(c->head, len, CAP, &head_len, &e);
		if (v != c->verdict || (c->status && (e.status != c->status || strcmp(e.code, c->code) != 0)))
			printf("case \"%s\": verdict %d status %d code %s (%s)\n", c->name, (int)v, e.status,
			       e.code, e.message);
		T(v == c->verdict);
		if (c->status) {
			T(e.status == c->status);
			T_STREQ(e.code, c->code);
			T(strcmp(e.type, "invalid_request") == 0);
		}
	}
	{
		/* The head ends where its CRLF CRLF does; what follows is not looked at. */
		const char *h = "GET / HTTP/1.1\r\n\r\n\x01\x02";
		size_t head_len = 0;
		struct api_error e;

		T(headguard_check(h, strlen(h), CAP, &head_len, &e) == HEADGUARD_COMPLETE);
		T(head_len == strlen(h) - 2);
	}
}

static void
test_cap(void)
{
	char head[CAP + 64], line[CAP * 2];
	struct api_error e;
	size_t head_len = 0, n;
	int i;

	/* Exactly the cap, final CRLF included: whole. One byte more: 431 as soon as the cap is there. */
	n = (size_t)snprintf(head, sizeof head, "GET / HTTP/1.1\r\nX-A: ");
	memset(head + n, 'v', CAP - n - 4);
	memcpy(head + CAP - 4, "\r\n\r\n", 4);
	T(headguard_check(head, CAP, CAP, &head_len, &e) == HEADGUARD_COMPLETE);
	T(head_len == CAP);
	memset(head + CAP - 4, 'v', 4);
	T(headguard_check(head, CAP, CAP, &head_len, &e) == HEADGUARD_BAD);
	T(e.status == 431);
	T_STREQ(e.code, "header_too_large");
	/* Under the cap and not whole: wait. */
	T(headguard_check(head, CAP - 1, CAP, &head_len, &e) == HEADGUARD_PARTIAL);

	/* HEADGUARD_MAX_FIELDS: the path and the version are two, so 88 header lines fit, 89 do not. */
	for (i = 88; i <= 89; i++) {
		size_t off = (size_t)snprintf(line, sizeof line, "GET / HTTP/1.1\r\n");
		int k;

		for (k = 0; k < i && off + 8 < sizeof line; k++)
			off += (size_t)snprintf(line + off, sizeof line - off, "A:\r\n");
		off += (size_t)snprintf(line + off, sizeof line - off, "\r\n");
		T(headguard_check(line, off, sizeof line, &head_len, &e) ==
		  (i == 88 ? HEADGUARD_COMPLETE : HEADGUARD_BAD));
		if (i == 89)
			T(e.status == 431);
	}
	/* Query arguments count too (lws keeps each as a fragment). */
	{
		size_t off = (size_t)snprintf(line, sizeof line, "GET /?a");

		for (i = 0; i < HEADGUARD_MAX_FIELDS; i++)
			off += (size_t)snprintf(line + off, sizeof line - off, "&a");
		off += (size_t)snprintf(line + off, sizeof line - off, " HTTP/1.1\r\n\r\n");
		T(headguard_check(line, off, sizeof line, &head_len, &e) == HEADGUARD_BAD);
		T(e.status == 431);
	}

	/* The cap and lws' header space come from one number; lws gets the room it needs more. */
	T(headguard_cap(16384) == 16384);
	T(headguard_lws_header_data(16384) > 16384 + 6 * HEADGUARD_MAX_FIELDS);
	T(headguard_cap((size_t)1 << 20) + 6 * HEADGUARD_MAX_FIELDS < 65535);
	T(headguard_lws_header_data(headguard_cap((size_t)1 << 20)) <= 65535);
	T(headguard_lws_header_data(headguard_cap((size_t)1 << 20)) > headguard_cap((size_t)1 << 20));
}

/* ---- the guard on a loop ---- */

static int adopted_fd = -1, adopted_count;

static void
on_adopt(void *ud, int fd)
{
	(void)ud;
	adopted_fd = fd;
	adopted_count++;
}

/* Runs the loop until cond or about 2 s (bounded). */
#define RUN_UNTIL(loop, cond)                                                                                \
	do {                                                                                                 \
		int n_;                                                                                      \
		for (n_ = 0; n_ < 200 && !(cond); n_++) {                                                    \
			uv_run((loop), UV_RUN_NOWAIT);                                                       \
			if (!(cond))                                                                         \
				usleep(10000);                                                               \
		}                                                                                            \
	} while (0)

static ssize_t
read_all(int fd, char *buf, size_t n)
{
	size_t got = 0;
	int tries;

	for (tries = 0; tries < 200 && got < n; tries++) {
		ssize_t k = recv(fd, buf + got, n - got, MSG_DONTWAIT);

		if (k == 0)
			break;
		if (k < 0) {
			if (errno != EAGAIN)
				break;
			usleep(10000);
			continue;
		}
		got += (size_t)k;
	}
	buf[got < n ? got : n - 1] = '\0';
	return (ssize_t)got;
}

static void
test_guard(void)
{
	uv_loop_t loop;
	struct headguard *g;
	char err[128], buf[2048];
	int sv[2];
	const char *ok = "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n";

	uv_loop_init(&loop);
	g = headguard_new(&loop, CAP, 1, on_adopt, NULL, err, sizeof err);
	T(g != NULL);

	/* Whole and well-formed at accept: adopted at once, the bytes still in the socket. */
	T(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0);
	T(write(sv[1], ok, strlen(ok)) == (ssize_t)strlen(ok));
	headguard_take(g, sv[0]);
	T(adopted_fd == sv[0] && adopted_count == 1);
	T(headguard_pending(g) == 0);
	T(recv(sv[0], buf, sizeof buf, MSG_DONTWAIT) == (ssize_t)strlen(ok));
	close(sv[0]);
	close(sv[1]);

	/* In two pieces: held (and counted) until the rest comes, then adopted. */
	adopted_fd = -1;
	T(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0);
	T(write(sv[1], ok, 10) == 10);
	headguard_take(g, sv[0]);
	T(adopted_fd == -1);
	T(headguard_pending(g) == 1);
	uv_run(&loop, UV_RUN_NOWAIT);
	T(adopted_fd == -1);
	T(write(sv[1], ok + 10, strlen(ok) - 10) == (ssize_t)(strlen(ok) - 10));
	RUN_UNTIL(&loop, adopted_fd == sv[0]);
	T(adopted_fd == sv[0]);
	T(headguard_pending(g) == 0);
	close(sv[0]);
	close(sv[1]);

	/* Refused: the JSON answer, Connection: close, then the end of the stream. */
	adopted_fd = -1;
	T(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0);
	T(write(sv[1], "GET / HTTP/1.1\r\nX-A: \x01\r\n\r\n", 27) == 27);
	headguard_take(g, sv[0]);
	T(adopted_fd == -1);
	read_all(sv[1], buf, sizeof buf);
	T(strncmp(buf, "HTTP/1.1 400 Bad Request\r\n", 26) == 0);
	T(strstr(buf, "\r\nConnection: close\r\n") != NULL);
	T(strstr(buf, "\"code\":\"invalid_header\"") != NULL);
	close(sv[1]); /* the peer's end: the lingering entry goes */
	RUN_UNTIL(&loop, headguard_pending(g) == 0);
	T(headguard_pending(g) == 0);

	/* A peer that ends in the middle of its head: closed, nothing adopted. */
	T(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0);
	T(write(sv[1], ok, 10) == 10);
	headguard_take(g, sv[0]);
	T(headguard_pending(g) == 1);
	shutdown(sv[1], SHUT_WR);
	RUN_UNTIL(&loop, headguard_pending(g) == 0);
	T(headguard_pending(g) == 0 && adopted_fd == -1);
	T(read_all(sv[1], buf, sizeof buf) == 0);
	close(sv[1]);

	/* Part of a head, then nothing: a 408 after the timeout (1 s here). */
	T(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0);
	T(write(sv[1], ok, 10) == 10);
	headguard_take(g, sv[0]);
	RUN_UNTIL(&loop, recv(sv[1], buf, 1, MSG_PEEK | MSG_DONTWAIT) > 0);
	read_all(sv[1], buf, sizeof buf);
	T(strncmp(buf, "HTTP/1.1 408 Request Timeout\r\n", 30) == 0);
	close(sv[1]);
	RUN_UNTIL(&loop, headguard_pending(g) == 0);

	/* Stopped with a connection still waiting: it is closed; what comes after is closed too. */
	T(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0);
	headguard_take(g, sv[0]);
	T(headguard_pending(g) == 1);
	headguard_stop(g);
	T(headguard_pending(g) == 0);
	T(read_all(sv[1], buf, sizeof buf) == 0);
	close(sv[1]);
	T(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0);
	headguard_take(g, sv[0]);
	T(headguard_pending(g) == 0 && adopted_fd == -1);
	close(sv[1]);
	headguard_free(g);
	uv_run(&loop, UV_RUN_DEFAULT);
	T(uv_loop_close(&loop) == 0);
}

int
main(void)
{
	test_check();
	test_cap();
	test_guard();
	return T_DONE();
}
