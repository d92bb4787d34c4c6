/*
 * wsmsg: the WebSocket client-message parser and the server's error envelopes (issue 12,
 * WEBSOCKET-NOTES.md §2 and §3). Pure: no lws, no loop. The transport (api/ws.c) hands it ONE
 * complete text message (reassembled, UTF-8 already checked by lws) and gets a typed result:
 *  - WSMSG_CREATE: response.create, its body made ready for request_parse: `type`, `stream`,
 *    `stream_options`, `background`, `generate` and `stream_id` taken out, every top-level field
 *    request_parse does not know dropped (names reported), then "stream": true set;
 *  - WSMSG_STEER: response.steer (refused by the transport with wsmsg_steer_refusal);
 *  - WSMSG_PROCESSED: response.processed (Codex's ack; nothing is sent back);
 *  - WSMSG_ERROR: one 400 (or 413) envelope to send, the socket stays open.
 * Owned by whoever calls it (the loop thread); a struct wsmsg is released with wsmsg_clear.
 */
#ifndef API_WSMSG_H
#define API_WSMSG_H

#include <stddef.h>
#include <jansson.h>

#include "api/apierr.h"

#define WSMSG_STREAM_ID_MAX 256 /* bytes */

enum wsmsg_kind {
	WSMSG_ERROR = 0,
	WSMSG_CREATE,
	WSMSG_STEER,
	WSMSG_PROCESSED,
};

struct wsmsg {
	enum wsmsg_kind kind;
	struct api_error err; /* WSMSG_ERROR */
	char *stream_id;      /* owned; NULL when absent (also set on an error, to echo it) */
	char *body;           /* WSMSG_CREATE: serialised body for request_parse (owned) */
	size_t body_len;
	int warmup;        /* WSMSG_CREATE: generate:false */
	json_t *dropped;   /* WSMSG_CREATE: array of the unknown field names dropped (owned) */
	json_t *steer;     /* WSMSG_STEER: {previous_response_id, input} as given (owned) */
	char *response_id; /* WSMSG_PROCESSED: response_id when a string, else NULL (owned) */
};

/* Parses data[0..len). Always fills *out (call wsmsg_clear after); returns 0 unless the result is
 * WSMSG_ERROR (-1). A message over max_bytes (0: no cap) is a 413 request_too_large. */
int wsmsg_parse(const char *data, size_t len, size_t max_bytes, struct wsmsg *out);
/* Frees what out owns and zeroes it; a zeroed struct is fine. */
void wsmsg_clear(struct wsmsg *out);

/* {"type":"error","status":N,"error":{"type","code","message","param"},"stream_id"?}: the error
 * object holds apierr's fields, with code always a string and "invalid_request" spelt
 * "invalid_request_error" as OpenAI's WebSocket envelopes are. stream_id may be NULL. New reference. */
json_t *wsmsg_error_envelope(const struct api_error *e, const char *stream_id);
/* {"type":"response.steer.failed","sequence_number":seq,"steer":{previous_response_id, input},
 * "error":{type,code:"steering_not_supported",message},"stream_id"?}. steer borrowed (may be NULL).
 * New reference. */
json_t *wsmsg_steer_refusal(const json_t *steer, long long seq, const char *stream_id);

/* The fixed envelopes of the notes. Each a new reference; stream_id may be NULL. */
json_t *wsmsg_connection_limit(const char *stream_id);
json_t *wsmsg_previous_not_found(const char *previous_response_id, const char *stream_id);
json_t *wsmsg_binary_frame(void);
json_t *wsmsg_too_large(size_t max_bytes);
json_t *wsmsg_too_many_requests(const char *stream_id);

#endif
