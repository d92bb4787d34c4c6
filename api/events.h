/*
 * events: the streaming event emitter of one response. It numbers events (sequence_number from 0,
 * +1 per event), serialises each event as compact JSON and frames it for the transport: SSE
 * ("event: <type>\ndata: <json>\n\n") or one WebSocket text message. Each event is handed to the
 * sink in ONE call so the transport can send it in one write.
 */
#ifndef API_EVENTS_H
#define API_EVENTS_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

enum events_framing { EVENTS_SSE, EVENTS_WS };

/* The bytes are borrowed for the call; the sink copies what it keeps. Returns 0, or -1 when the
 * transport cannot take more (the emitter then stops sending, see events_failed). */
typedef int (*events_sink_fn)(void *ud, const char *data, size_t len);

struct events;

struct events *events_new(enum events_framing framing, events_sink_fn sink, void *ud);
void events_free(struct events *ev);
/* Every later event also gets "stream_id": id (copied; NULL: none). */
void events_set_stream_id(struct events *ev, const char *id);
/* Adds "sequence_number" to event (stolen), serialises and sinks it. */
void events_emit(struct events *ev, json_t *event);
/* {type, response: resp} for response.created/in_progress/completed/...; resp is only read. */
void events_emit_response(struct events *ev, const char *type, const json_t *resp);
/* SSE only: the final "data: [DONE]". */
void events_done(struct events *ev);
/* 1 when a sink call failed (the caller went away or its buffer cap was hit). */
int events_failed(const struct events *ev);
uint64_t events_count(const struct events *ev);

#endif
