#include "api/events.h"

#include <stdlib.h>
#include <string.h>

#include "daemon/buf.h"
#include "daemon/sse.h"
#include "daemon/util.h"

struct events {
	enum events_framing framing;
	events_sink_fn sink;
	void *ud;
	uint64_t seq;
	int failed;
	char *stream_id;  /* added to every event when set */
	struct buf frame; /* reused for every event: no allocation per event once warm */
};

struct events *
events_new(enum events_framing framing, events_sink_fn sink, void *ud)
{
	struct events *ev = xcalloc(1, sizeof *ev);

	ev->framing = framing;
	ev->sink = sink;
	ev->ud = ud;
	buf_init(&ev->frame, 0);
	return ev;
}

void
events_free(struct events *ev)
{
	if (ev == NULL)
		return;
	buf_free(&ev->frame);
	free(ev->stream_id);
	free(ev);
}

static void
sink(struct events *ev, const char *data, size_t len)
{
	if (ev->failed || ev->sink == NULL)
		return;
	if (ev->sink(ev->ud, data, len) < 0)
		ev->failed = 1;
}

/* The event is serialised straight into the reused frame: no string allocated per event. */
void
events_set_stream_id(struct events *ev, const char *id)
{
	free(ev->stream_id);
	ev->stream_id = id ? xstrdup(id) : NULL;
}

void
events_emit(struct events *ev, json_t *event)
{
	const char *type = json_string_value(json_object_get(event, "type"));
	int rc;

	json_object_set_new(event, "sequence_number", json_integer((json_int_t)ev->seq++));
	if (ev->stream_id)
		json_object_set_new(event, "stream_id", json_string(ev->stream_id));
	if (ev->sink == NULL || ev->failed) {
		json_decref(event);
		return;
	}
	buf_reset(&ev->frame);
	if (ev->framing == EVENTS_WS) {
		rc = json_dump_callback(event, buf_append_cb, &ev->frame, JSON_COMPACT);
	} else {
		/* JSON_COMPACT never emits a raw newline, which SSE framing relies on. */
		rc = sse_write_event_open(&ev->frame, type ? type : "message");
		if (rc == 0)
			rc = json_dump_callback(event, buf_append_cb, &ev->frame, JSON_COMPACT);
		if (rc == 0)
			rc = sse_write_event_close(&ev->frame);
	}
	if (rc == 0)
		sink(ev, ev->frame.data, ev->frame.len);
	/* The response snapshots are large; the deltas that follow for minutes are small. */
	buf_reset(&ev->frame);
	buf_release_idle(&ev->frame, 1024);
	json_decref(event);
}

void
events_emit_response(struct events *ev, const char *type, const json_t *resp)
{
	json_t *event = json_object();

	json_object_set_new(event, "type", json_string(type));
	/* Shared, not copied: events_emit serialises the event and releases it before returning. */
	json_object_set(event, "response", (json_t *)resp);
	events_emit(ev, event);
}

void
events_done(struct events *ev)
{
	if (ev->framing != EVENTS_SSE)
		return;
	buf_reset(&ev->frame);
	if (sse_write_data(&ev->frame, "[DONE]") == 0)
		sink(ev, ev->frame.data, ev->frame.len);
}

int
events_failed(const struct events *ev)
{
	return ev->failed;
}

uint64_t
events_count(const struct events *ev)
{
	return ev->seq;
}
