/*
 * buf: a growable byte buffer with a hard size cap, for everything a peer feeds us.
 * Appending past the cap fails (-1) and leaves the buffer unchanged, so the caller can answer
 * "too big" instead of growing without bound. data is always NUL-terminated (not counted in len).
 * Owned by whoever embeds it; single-threaded like the rest of the loop.
 */
#ifndef DAEMON_BUF_H
#define DAEMON_BUF_H

#include <stddef.h>

struct buf {
	char *data;   /* NULL until the first append */
	size_t len;   /* bytes in use */
	size_t alloc; /* bytes allocated */
	size_t max;   /* cap on len; 0 means no cap (only for buffers we fill ourselves) */
};

void buf_init(struct buf *b, size_t max);
void buf_free(struct buf *b);
/* Empties the buffer but keeps its memory. */
void buf_reset(struct buf *b);
/* An empty buffer holding more than keep bytes frees them: a stream that lives for minutes keeps
 * what its small events need, not the size of its largest one. */
void buf_release_idle(struct buf *b, size_t keep);
int buf_append(struct buf *b, const void *p, size_t n);
int buf_appends(struct buf *b, const char *s);
/* buf_append for writers that take a callback (jansson's json_dump_callback): b is a struct buf. */
int buf_append_cb(const char *p, size_t n, void *b);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Cuts the buffer back to len bytes (no-op when it is shorter): undoes a partial append. */
void buf_truncate(struct buf *b, size_t len);
/* Drops the first n bytes (n is clamped to len). */
void buf_consume(struct buf *b, size_t n);
/* Hands the bytes to the caller (who frees them) and empties the buffer. Never NULL. */
char *buf_take(struct buf *b);

#endif
