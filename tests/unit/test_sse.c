/* Unit tests for daemon/sse.c: the parser is checked against a table of streams, each fed whole, byte
 * by byte, split at every point and in random chunks; all must give the same events and status. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/buf.h"
#include "daemon/sse.h"
#include "tests/unit/t.h"

/* The events a run produced, serialized as "<event>|<id>|<data>" records ended by '#'. */
struct rec {
	struct buf out;
	int calls;
	int stop_at; /* return stop_val from this call (1-based); 0: never */
	int stop_val;
};

static int
on_event(void *ud, const struct sse_event *ev)
{
	struct rec *r = ud;

	r->calls++;
	/* data must be NUL-terminated and hold no NUL. */
	if (ev->data[ev->data_len] != '\0' || strlen(ev->data) != ev->data_len)
		buf_appends(&r->out, "!BADLEN!");
	buf_printf(&r->out, "%s|%s|%s#", ev->event, ev->id, ev->data);
	if (r->stop_at && r->calls == r->stop_at)
		return r->stop_val;
	return 0;
}

struct run {
	char events[4096];
	int rc;    /* first non-zero feed result, else 0 */
	int after; /* result of one more feed after the input */
	char id[256];
	long retry;
};

/* Feeds in[0..len) in pieces whose ends are cuts[0..ncuts) (ascending), then one more "\n\n". */
static void
run_cuts(const char *in, size_t len, size_t max_event, const size_t *cuts, size_t ncuts, struct run *out)
{
	struct rec r;
	struct sse_parser *p;
	size_t pos = 0, k, end;
	int rc;

	memset(&r, 0, sizeof r);
	buf_init(&r.out, 0);
	p = sse_parser_new(max_event, on_event, &r);
	out->rc = 0;
	for (k = 0; k <= ncuts; k++) {
		end = k < ncuts ? cuts[k] : len;
		rc = sse_parser_feed(p, in + pos, end - pos);
		if (rc != 0 && out->rc == 0)
			out->rc = rc;
		if (rc == 0 && out->rc == -1)
			out->rc = 99; /* recovered after failing: never allowed */
		pos = end;
	}
	snprintf(out->events, sizeof out->events, "%s", r.out.data ? r.out.data : "");
	snprintf(out->id, sizeof out->id, "%s", sse_parser_last_id(p));
	out->retry = sse_parser_retry_ms(p);
	/* Compared across runs: a failed parser must stay failed and dispatch nothing more. */
	out->after = sse_parser_feed(p, "data: more\n\n", 12);
	if (out->after == 0 && r.calls > 0 && strstr(r.out.data, "more") == NULL)
		out->after = 98;
	sse_parser_free(p);
	buf_free(&r.out);
}

static int
run_same(const struct run *a, const struct run *b)
{
	return strcmp(a->events, b->events) == 0 && a->rc == b->rc && a->after == b->after &&
	       strcmp(a->id, b->id) == 0 && a->retry == b->retry;
}

struct sse_case {
	const char *name;
	const char *in;
	size_t len; /* 0: strlen(in) */
	size_t max_event;
	const char *events;
	int rc;
	const char *last_id;
	long retry;
};

#define STREAM                                                                                               \
	"data: {\"id\":\"c1\",\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n"                          \
	"data: {\"id\":\"c1\",\"choices\":[{\"delta\":{\"content\":\"lo\"}}]}\n\n"                           \
	": keep-alive\n\n"                                                                                   \
	"data: [DONE]\n\n"

#define STREAM_EVENTS                                                                                        \
	"message||{\"id\":\"c1\",\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}#"                          \
	"message||{\"id\":\"c1\",\"choices\":[{\"delta\":{\"content\":\"lo\"}}]}#"                           \
	"message||[DONE]#"

static const struct sse_case cases[] = {
        {"chat stream", STREAM, 0, 4096, STREAM_EVENTS, 0, "", -1},
        {"crlf", "data: a\r\n\r\ndata: b\r\n\r\n", 0, 64, "message||a#message||b#", 0, "", -1},
        {"cr only", "data: a\r\rdata: b\r\r", 0, 64, "message||a#message||b#", 0, "", -1},
        {"mixed endings", "data: a\r\ndata: b\ndata: c\r\r\n", 0, 64, "message||a\nb\nc#", 0, "", -1},
        {"cr then lf is one break", "data: a\r\n\ndata: b\r\n", 0, 64, "message||a#", 0, "", -1},
        {"bom skipped",
         "\xEF\xBB\xBF"
         "data: x\n\n",
         0, 64, "message||x#", 0, "", -1},
        {"bom only once",
         "\xEF\xBB\xBF\xEF\xBB\xBF"
         "data: x\n\ndata: y\n\n",
         0, 64, "message||y#", 0, "", -1},
        {"partial bom is data",
         "\xEF\xBB"
         "data: x\n\ndata: y\n\n",
         0, 64, "message||y#", 0, "", -1},
        {"bom then blank", "\xEF\xBB\xBF\ndata: x\n\n", 0, 64, "message||x#", 0, "", -1},
        {"comments", ": hi\n\ndata: x\n: mid\ndata: y\n\n:\n\n", 0, 64, "message||x\ny#", 0, "", -1},
        {"multi-line data", "data: a\ndata:b\ndata:  c\ndata\n\n", 0, 64, "message||a\nb\n c\n#", 0, "", -1},
        {"empty data not dispatched", "data:\n\ndata\n\n", 0, 64, "", 0, "", -1},
        {"two empty data lines", "data\ndata\n\n", 0, 64, "message||\n#", 0, "", -1},
        {"no final blank line", "data: x\n", 0, 64, "", 0, "", -1},
        {"no final newline", "data: x", 0, 64, "", 0, "", -1},
        {"event type resets", "event: delta\ndata: 1\n\ndata: 2\n\n", 0, 64, "delta||1#message||2#", 0, "",
         -1},
        {"event reset when nothing sent", "event: x\n\ndata: 1\n\n", 0, 64, "message||1#", 0, "", -1},
        {"empty event type", "event:\ndata: 1\n\n", 0, 64, "message||1#", 0, "", -1},
        {"one space removed", "event:  e\ndata:  d\n\n", 0, 64, " e|| d#", 0, "", -1},
        {"field names case-sensitive", "Data: x\n\nDATA: y\n\n", 0, 64, "", 0, "", -1},
        {"unknown field ignored", "foo: bar\ndata: x\nfoo\n\n", 0, 64, "message||x#", 0, "", -1},
        {"id persists", "id: 1\ndata: a\n\ndata: b\n\nid: 2\n\ndata: c\n\n", 0, 64,
         "message|1|a#message|1|b#message|2|c#", 0, "2", -1},
        {"empty id clears", "id: 1\ndata: a\n\nid\ndata: b\n\n", 0, 64, "message|1|a#message||b#", 0, "", -1},
        {"id with NUL ignored", "id: 7\n\nid: a\0b\ndata: x\n\n", 24, 64, "message|7|x#", 0, "7", -1},
        {"id without data", "id: abc\n\n", 0, 64, "", 0, "abc", -1},
        {"NUL in data replaced", "data: a\0b\n\n", 11, 64,
         "message||a\xEF\xBF\xBD"
         "b#",
         0, "", -1},
        {"retry", "retry: 3000\ndata: x\n\n", 0, 64, "message||x#", 0, "", 3000},
        {"retry last valid wins", "retry: 10\nretry: 2x\nretry:\nretry: -5\n", 0, 64, "", 0, "", 10},
        {"retry clamps", "retry: 99999999999999999999999999\n", 0, 64, "", 0, "", LONG_MAX},
        {"retry zero", "retry: 0\n", 0, 64, "", 0, "", 0},
        /* Caps: max_event 16 bytes for a line and for an event's joined data. */
        {"line at cap", "data: 0123456789\n\n", 0, 16, "message||0123456789#", 0, "", -1},
        {"line over cap", "data: x\n\ndata: 0123456789a\n\n", 0, 16, "message||x#", -1, "", -1},
        {"comment over cap", ": 0123456789abcdefghij\ndata: x\n\n", 0, 16, "", -1, "", -1},
        {"unterminated line over cap", "data: 0123456789abcdef", 0, 16, "", -1, "", -1},
        {"event data at cap", "data: 01234567\ndata: 0123456\n\n", 0, 16, "message||01234567\n0123456#", 0,
         "", -1},
        {"event data over cap", "data: 01234567\ndata: 01234567\n\n", 0, 16, "", -1, "", -1},
        {"many empty data lines over cap", "data\ndata\ndata\ndata\ndata\ndata\n\n", 0, 4, "", -1, "", -1},
        {"cap zero", "\n\ndata: x\n\n", 0, 0, "", -1, "", -1},
};

static void
check_case(const struct sse_case *c)
{
	size_t len = c->len ? c->len : strlen(c->in), i, k, cuts[4096];
	struct run whole, other;
	int same_all = 1, iter;

	run_cuts(c->in, len, c->max_event, NULL, 0, &whole);
	if (strcmp(whole.events, c->events) != 0 || whole.rc != c->rc || strcmp(whole.id, c->last_id) != 0 ||
	    whole.retry != c->retry) {
		printf("case \"%s\": events \"%s\" rc %d id \"%s\" retry %ld\n", c->name, whole.events,
		       whole.rc, whole.id, whole.retry);
		T(0);
		return;
	}
	T(1);
	/* A failed parser stays failed; otherwise it goes on parsing. */
	T(whole.after == (c->rc == -1 ? -1 : 0));

	/* Byte by byte. */
	for (i = 1; i < len && i <= sizeof cuts / sizeof cuts[0]; i++)
		cuts[i - 1] = i;
	run_cuts(c->in, len, c->max_event, cuts, len - 1, &other);
	if (!run_same(&whole, &other)) {
		printf("case \"%s\" byte by byte: events \"%s\" rc %d\n", c->name, other.events, other.rc);
		same_all = 0;
	}
	/* Every split into two pieces, including empty ones. */
	for (i = 0; i <= len; i++) {
		cuts[0] = i;
		run_cuts(c->in, len, c->max_event, cuts, 1, &other);
		if (!run_same(&whole, &other)) {
			printf("case \"%s\" split at %zu: events \"%s\" rc %d\n", c->name, i, other.events,
			       other.rc);
			same_all = 0;
		}
	}
	/* Random chunk sizes (1..17 bytes), reproducible. */
	srand(12345);
	for (iter = 0; iter < 200; iter++) {
		for (k = 0, i = 0;;) {
			i += 1 + (size_t)(rand() % 17);
			if (i >= len)
				break;
			cuts[k++] = i;
		}
		run_cuts(c->in, len, c->max_event, cuts, k, &other);
		if (!run_same(&whole, &other)) {
			printf("case \"%s\" random chunks (iter %d): events \"%s\" rc %d\n", c->name, iter,
			       other.events, other.rc);
			same_all = 0;
			break;
		}
	}
	T(same_all);
}

/* Every way to cut the sample stream into three pieces gives the same events. */
static void
test_three_way_splits(void)
{
	size_t len = strlen(STREAM), a, b, cuts[2];
	struct run whole, other;
	int same = 1;

	run_cuts(STREAM, len, 4096, NULL, 0, &whole);
	T_STREQ(whole.events, STREAM_EVENTS);
	for (a = 0; a <= len && same; a++) {
		for (b = a; b <= len && same; b++) {
			cuts[0] = a;
			cuts[1] = b;
			run_cuts(STREAM, len, 4096, cuts, 2, &other);
			same = run_same(&whole, &other);
		}
	}
	T(same);
}

static void
test_callback_stop(void)
{
	struct rec r;
	struct sse_parser *p;

	memset(&r, 0, sizeof r);
	buf_init(&r.out, 0);
	r.stop_at = 2;
	r.stop_val = 7;
	p = sse_parser_new(4096, on_event, &r);
	/* Stops at once: the third event in the same piece is not delivered. */
	T(sse_parser_feed(p, STREAM, strlen(STREAM)) == 7);
	T(r.calls == 2);
	/* Not a failure: the parser takes more input. */
	T(sse_parser_feed(p, "data: z\n\n", 9) == 0);
	T(r.calls == 3);
	T(strstr(r.out.data, "message||z#") != NULL);

	/* A callback returning -1 is passed through but does not fail the parser. */
	r.stop_at = 4;
	r.stop_val = -1;
	T(sse_parser_feed(p, "data: a\n\n", 9) == -1);
	T(sse_parser_feed(p, "data: b\n\n", 9) == 0);
	T(r.calls == 5);
	sse_parser_free(p);
	buf_free(&r.out);

	/* Without a callback events are parsed and dropped; the id is still tracked. */
	p = sse_parser_new(64, NULL, NULL);
	T(sse_parser_feed(p, "id: 5\ndata: x\n\n", 15) == 0);
	T_STREQ(sse_parser_last_id(p), "5");
	sse_parser_free(p);
	sse_parser_free(NULL);
}

static void
test_failed_keeps_id(void)
{
	struct rec r;
	struct sse_parser *p;

	memset(&r, 0, sizeof r);
	buf_init(&r.out, 0);
	p = sse_parser_new(8, on_event, &r);
	T(sse_parser_feed(p, "id: 42\n\n", 8) == 0);
	T(sse_parser_feed(p, "data: 123", 9) == -1);
	T(sse_parser_feed(p, "\n\n", 2) == -1);
	T(sse_parser_feed(p, "", 0) == -1);
	T_STREQ(sse_parser_last_id(p), "42");
	T(r.calls == 0);
	sse_parser_free(p);
	buf_free(&r.out);
}

/* A large event near a large cap, fed in odd-sized pieces. */
static void
test_large_event(void)
{
	struct rec r;
	struct sse_parser *p;
	size_t n = 100000, i;
	char *in = malloc(n + 10);

	memcpy(in, "data: ", 6);
	memset(in + 6, 'x', n - 6);
	memcpy(in + n, "\n\n", 2);
	memset(&r, 0, sizeof r);
	buf_init(&r.out, 0);
	p = sse_parser_new(n, on_event, &r);
	for (i = 0; i < n + 2; i += 997)
		T(sse_parser_feed(p, in + i, (n + 2 - i) < 997 ? n + 2 - i : 997) == 0);
	T(r.calls == 1);
	T(r.out.len == strlen("message||#") + n - 6);
	sse_parser_free(p);
	buf_free(&r.out);
	free(in);
}

static void
test_writer(void)
{
	struct buf out;
	struct rec r;
	struct sse_parser *p;
	static const char json[] = "{\"type\":\"response.created\"}";

	buf_init(&out, 0);
	T(sse_write_event(&out, "response.created", json, strlen(json)) == 0);
	T_STREQ(out.data, "event: response.created\ndata: {\"type\":\"response.created\"}\n\n");
	T(sse_write_data(&out, "[DONE]") == 0);
	T(sse_write_comment(&out, "keep-alive") == 0);
	T_STREQ(out.data, "event: response.created\ndata: {\"type\":\"response.created\"}\n\n"
	                  "data: [DONE]\n\n: keep-alive\n\n");
	buf_reset(&out);

	/* A line break in the JSON or the type would end the field early: refused, out unchanged. */
	T(sse_write_data(&out, "x") == 0);
	T(sse_write_event(&out, "t", "{\n}", 3) == -1);
	T(sse_write_event(&out, "t", "{\r}", 3) == -1);
	T(sse_write_event(&out, "a\nb", "{}", 2) == -1);
	T_STREQ(out.data, "data: x\n\n");
	/* Only json_len bytes are written. */
	T(sse_write_event(&out, "t", "{}garbage", 2) == 0);
	T_STREQ(out.data, "data: x\n\nevent: t\ndata: {}\n\n");
	/* In two steps, the payload written in between: the same bytes; a bad type leaves out as is. */
	buf_reset(&out);
	T(sse_write_event_open(&out, "a\rb") == -1);
	T(out.len == 0);
	T(sse_write_event_open(&out, "response.created") == 0);
	T(buf_appends(&out, json) == 0);
	T(sse_write_event_close(&out) == 0);
	T_STREQ(out.data, "event: response.created\ndata: {\"type\":\"response.created\"}\n\n");
	buf_free(&out);

	/* Multi-line data and comments become several lines, which the parser joins back. */
	buf_init(&out, 0);
	T(sse_write_data(&out, "a\nb\r\nc\rd\n") == 0);
	T_STREQ(out.data, "data: a\ndata: b\ndata: c\ndata: d\ndata: \n\n");
	T(sse_write_comment(&out, "x\ny") == 0);
	memset(&r, 0, sizeof r);
	buf_init(&r.out, 0);
	p = sse_parser_new(1024, on_event, &r);
	T(sse_parser_feed(p, out.data, out.len) == 0);
	T_STREQ(r.out.data, "message||a\nb\nc\nd\n#");
	sse_parser_free(p);
	buf_free(&r.out);
	buf_free(&out);

	/* The cap: a write that does not fit fails and leaves out as it was. */
	buf_init(&out, 32);
	T(sse_write_data(&out, "12345") == 0);
	T(sse_write_event(&out, "response.output_text.delta", json, strlen(json)) == -1);
	T(sse_write_data(&out, "0123456789012345678901234567890") == -1);
	T(sse_write_comment(&out, "0123456789012345678901234567890") == -1);
	T_STREQ(out.data, "data: 12345\n\n");
	T(out.len == 13);
	buf_free(&out);

	/* Round trip: what we write, the parser reads back. */
	buf_init(&out, 0);
	T(sse_write_event(&out, "response.completed", json, strlen(json)) == 0);
	memset(&r, 0, sizeof r);
	buf_init(&r.out, 0);
	p = sse_parser_new(1024, on_event, &r);
	T(sse_parser_feed(p, out.data, out.len) == 0);
	T_STREQ(r.out.data, "response.completed||{\"type\":\"response.created\"}#");
	sse_parser_free(p);
	buf_free(&r.out);
	buf_free(&out);
}

int
main(void)
{
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++)
		check_case(&cases[i]);
	test_three_way_splits();
	test_callback_stop();
	test_failed_keeps_id();
	test_large_event();
	test_writer();
	return T_DONE();
}
