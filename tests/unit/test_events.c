/* events: numbering, SSE and WebSocket framing, one sink call per event, failure latch. */
#include <stdlib.h>
#include <string.h>

#include "api/events.h"
#include "daemon/buf.h"
#include "t.h"

struct capture {
	struct buf all;
	int calls;
	int fail_after; /* -1: never */
};

static int
sink(void *ud, const char *data, size_t len)
{
	struct capture *c = ud;

	if (c->fail_after >= 0 && c->calls >= c->fail_after)
		return -1;
	c->calls++;
	buf_append(&c->all, data, len);
	buf_append(&c->all, "|", 1); /* marks the call boundary */
	return 0;
}

static json_t *
event(const char *type)
{
	return json_pack("{s:s, s:s}", "type", type, "delta", "a\nb");
}

static void
test_sse(void)
{
	struct capture c = {.fail_after = -1};
	struct events *ev;
	json_t *resp = json_pack("{s:s, s:s}", "id", "resp_1", "status", "in_progress");

	buf_init(&c.all, 0);
	ev = events_new(EVENTS_SSE, sink, &c);
	events_emit_response(ev, "response.created", resp);
	events_emit(ev, event("response.output_text.delta"));
	events_done(ev);
	T(c.calls == 3);
	T(events_count(ev) == 2);
	T(strstr(c.all.data,
	         "event: response.created\ndata: {\"type\":\"response.created\",\"response\":"
	         "{\"id\":\"resp_1\",\"status\":\"in_progress\"},\"sequence_number\":0}\n\n|") == c.all.data);
	/* The newline inside a value stays escaped: one data line per event. */
	T(strstr(c.all.data,
	         "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\","
	         "\"delta\":\"a\\nb\",\"sequence_number\":1}\n\n|") != NULL);
	T(strstr(c.all.data, "data: [DONE]\n\n|") != NULL);
	T(!events_failed(ev));
	/* The snapshot is a copy: later changes to the response do not leak into sent events. */
	json_object_set_new(resp, "status", json_string("completed"));
	T(strstr(c.all.data, "completed") == NULL);
	events_free(ev);
	json_decref(resp);
	buf_free(&c.all);
}

static void
test_ws(void)
{
	struct capture c = {.fail_after = -1};
	struct events *ev;

	buf_init(&c.all, 0);
	ev = events_new(EVENTS_WS, sink, &c);
	events_emit(ev, event("response.output_text.delta"));
	events_done(ev); /* no [DONE] on a WebSocket */
	T(c.calls == 1);
	T_STREQ(c.all.data,
	        "{\"type\":\"response.output_text.delta\",\"delta\":\"a\\nb\",\"sequence_number\":0}|");
	events_free(ev);
	buf_free(&c.all);
}

static void
test_failure_latches(void)
{
	struct capture c = {.fail_after = 1};
	struct events *ev;

	buf_init(&c.all, 0);
	ev = events_new(EVENTS_SSE, sink, &c);
	events_emit(ev, event("a"));
	T(!events_failed(ev));
	events_emit(ev, event("b"));
	T(events_failed(ev));
	c.fail_after = -1; /* even if the sink would take more now, nothing is sent after a failure */
	events_emit(ev, event("c"));
	events_done(ev);
	T(c.calls == 1);
	T(events_count(ev) == 3); /* numbering goes on, so a later reader sees no reuse */
	events_free(ev);
	buf_free(&c.all);
}

static void
test_no_sink(void)
{
	struct events *ev = events_new(EVENTS_SSE, NULL, NULL);

	events_emit(ev, event("a"));
	events_done(ev);
	T(events_count(ev) == 1);
	T(!events_failed(ev));
	events_free(ev);
	events_free(NULL);
}

int
main(void)
{
	test_sse();
	test_ws();
	test_failure_latches();
	test_no_sink();
	return T_DONE();
}
