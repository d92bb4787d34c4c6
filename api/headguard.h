/*
 * headguard: the first request head of every accepted connection is checked here, before the
 * connection is adopted into lws. lws 4.1.6 (Debian's) answers some bad heads badly: a NUL or
 * another control byte in a header value, or a header line without a colon, gets no answer at all
 * (the connection hangs until a timeout); a head over its header space gets a reset; an
 * unparseable request line gets lws' own "HTTP/1.0 403 Forbidden" HTML page. Here each gets the
 * API's JSON error envelope with the right status (400, 431, 501, 505, 408), a status line with its
 * reason phrase and Connection: close, and then the connection is closed.
 *
 * How: the head is looked at with recv(MSG_PEEK), so its bytes stay in the socket and lws reads
 * them itself once the head is whole and well-formed (the fast path: one peek, no allocation).
 * A head that is not whole yet waits. A peeked socket stays readable, and libuv's polls are
 * level-triggered, so a waiting connection sits in an edge-triggered epoll set of our own (one fd,
 * polled by the loop through one uv_poll): it is looked at again only when new bytes (or the
 * peer's end) arrive. Per waiting connection the guard holds a fixed small entry; the bytes are
 * peeked into one buffer shared by all. A refused connection lingers after its answer (its write
 * side shut down, what it still sends read and dropped, for HEADGUARD_LINGER_MS and
 * HEADGUARD_LINGER_BYTES at most) so that a peer still writing sees the answer, not a reset.
 *
 * Accepted (RFC 9112, strictly): request line METHOD SP origin-form-target SP HTTP/1.x CRLF, the
 * method one lws knows (GET POST PUT PATCH DELETE OPTIONS HEAD CONNECT; any other token: 501), a
 * target of printable ASCII starting with "/" whose %-escapes are two hex digits and decode to no
 * control byte, a major version 1 (another: 505); header lines "name: value" with a token name
 * directly followed by the colon, values of HTAB, SP, VCHAR and obs-text (no NUL, no other control
 * byte, no DEL); every line ends with CRLF (a bare LF or a bare CR is a 400: one line-ending rule
 * keeps the guard and lws agreeing on where the head ends); no obsolete line folding; the whole
 * head, final CRLF included, within the cap (else 431), with at most HEADGUARD_MAX_FIELDS fields
 * (header lines, plus the path, the version and each query argument: lws 4.1.6 holds 94 such
 * fragments and resets the connection past them; more: 431).
 * A head not whole within the timeout (measured from accept, not between reads) gets a 408 when
 * some of it came, and is closed without an answer when nothing came.
 *
 * Known limit, by design: only the FIRST request of a connection passes the guard. The requests
 * that follow on a kept-alive connection are lws' alone (the guard costs one extra recv(MSG_PEEK)
 * per connection, never per request), so the defects above remain for a second request on the same
 * connection.
 *
 * The cap and the timeout are fixed at start (a reload does not change them), like lws' header
 * space and its timeouts: headguard_cap() turns limits.max_header_bytes
 * into the guard's cap and headguard_lws_header_data() into the lws context's
 * max_http_header_data, with the room lws needs beyond the raw head (it stores each header whose
 * name it does not know with 8 bytes of bookkeeping), so that a head the guard lets through is
 * one lws can hold.
 * Owned by the loop thread.
 */
#ifndef API_HEADGUARD_H
#define API_HEADGUARD_H

#include <stddef.h>
#include <uv.h>

struct api_error;
struct headguard;

#define HEADGUARD_MAX_FIELDS   90                         /* lws 4.1.6 holds 94 */
#define HEADGUARD_LINGER_MS    2000                       /* after an answer, at most */
#define HEADGUARD_LINGER_BYTES ((size_t)16 * 1024 * 1024) /* read past after an answer, at most */

enum headguard_verdict {
	HEADGUARD_PARTIAL,  /* well-formed so far, not whole yet */
	HEADGUARD_COMPLETE, /* whole and well-formed: *head_len bytes */
	HEADGUARD_BAD,      /* refused: err says how (status, code, message) */
};

/*
 * Checks the first len bytes of a connection (the head and maybe more) against the rules above,
 * cap being the largest head accepted (final CRLF included). Pure: no I/O. A definite error is
 * found as soon as its byte is there, before the head is whole.
 */
enum headguard_verdict headguard_check(const char *data, size_t len, size_t cap, size_t *head_len,
                                       struct api_error *err);

/* The guard's cap for limits.max_header_bytes: that number, lowered to what lws can be given. */
size_t headguard_cap(size_t max_header_bytes);
/* The lws context's max_http_header_data for a guard cap (at most 65535). */
unsigned short headguard_lws_header_data(size_t cap);

/* Called with a connection whose first head is whole and well-formed; it owns fd from then on. */
typedef void (*headguard_adopt_fn)(void *ud, int fd);

/* A guard on loop. NULL with a message in err when the epoll set cannot be made. */
struct headguard *headguard_new(uv_loop_t *loop, size_t cap, unsigned timeout_s, headguard_adopt_fn adopt,
                                void *ud, char *err, size_t errlen);
/* Takes an accepted, non-blocking socket (consumed): adopted, refused or kept waiting. */
void headguard_take(struct headguard *g, int fd);
/* Connections held by the guard (waiting for their head or lingering): they count as connections. */
size_t headguard_pending(const struct headguard *g);
/* Closes every held connection and the guard's handles; what is taken afterwards is closed. */
void headguard_stop(struct headguard *g);
/* Stops if needed and frees once the loop has run the handles' closes. NULL: no-op. */
void headguard_free(struct headguard *g);

#endif
