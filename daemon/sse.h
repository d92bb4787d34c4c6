/*
 * sse: an incremental Server-Sent Events parser (for upstream Chat Completions streams and, later,
 * MCP streams) and the writer for our own SSE output.
 *
 * Parser: feed bytes as they arrive, in pieces of any size (a line or a UTF-8 sequence may be split
 * across feeds). It follows the WHATWG "event stream interpretation": lines end in CRLF, LF or CR;
 * "field: value" with one optional space removed; "data" lines joined with "\n"; a blank line
 * dispatches the event; lines starting with ':' are comments; a leading UTF-8 BOM is skipped;
 * "retry" with only digits sets the reconnection time; "id" without NUL sets the last event id
 * (which persists across events); an event whose data is empty is not dispatched.
 * Every buffer has a cap: a line or an event's data longer than max_event bytes makes feed return
 * -1 and the parser stays failed (the transfer should be aborted).
 * Owned by one loop thread; no locking.
 */
#ifndef DAEMON_SSE_H
#define DAEMON_SSE_H

#include <stddef.h>

struct buf;

struct sse_event {
	const char *event; /* "message" when no event field was given */
	const char *data;  /* NUL-terminated, data_len bytes (may contain no NUL itself) */
	size_t data_len;
	const char *id; /* last event id seen so far; "" when none */
};

/* Return 0 to continue, non-zero to stop: sse_parser_feed then returns that value at once and drops
 * the rest of that piece (the parser is not failed). The callback must not free the parser. */
typedef int (*sse_event_cb)(void *ud, const struct sse_event *ev);

struct sse_parser;

/* Caller owns the parser. max_event caps one line and one event's joined data. */
struct sse_parser *sse_parser_new(size_t max_event, sse_event_cb cb, void *ud);
void sse_parser_free(struct sse_parser *p);
/* 0 ok; -1 over the cap (or previously failed); otherwise the callback's non-zero return. */
int sse_parser_feed(struct sse_parser *p, const char *data, size_t len);
/* Reconnection time in ms from the last valid "retry" field, or -1 if none was seen. */
long sse_parser_retry_ms(const struct sse_parser *p);
/* Last event id ("" when none). */
const char *sse_parser_last_id(const struct sse_parser *p);

/* Writer. Appends "event: <type>\ndata: <json>\n\n" to out. json must not contain '\n' or '\r'
 * (compact jansson output never does); returns -1 if it does or if out's cap is hit. */
int sse_write_event(struct buf *out, const char *type, const char *json, size_t json_len);
/* The same event in two steps, for a payload written straight into out in between (one line, no
 * '\n' or '\r'): appends "event: <type>\ndata: ", then "\n\n". -1 on a bad type or out's cap. */
int sse_write_event_open(struct buf *out, const char *type);
int sse_write_event_close(struct buf *out);
/* Appends "data: <data>\n\n" (e.g. "[DONE]"). */
int sse_write_data(struct buf *out, const char *data);
/* Appends ": <text>\n\n", a comment used as a keep-alive. */
int sse_write_comment(struct buf *out, const char *text);

#endif
