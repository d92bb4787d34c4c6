/*
 * xfer: outgoing HTTP on the one libuv loop: libcurl's multi_socket API driven by uv_poll_t per
 * curl socket and one uv_timer_t (curl's multi-uv pattern). The only code that drives curl_multi.
 *
 * A transfer reports through three callbacks, always from the loop thread, never from inside an
 * xfer_* call made by the owner except where noted:
 *   on_headers  once, when the response headers are complete (status + Content-Type);
 *   on_data     for each piece of the body; it may return XFER_PAUSE, in which case curl keeps the
 *               bytes and hands the SAME bytes again after xfer_resume() (so the callee must not
 *               keep them), or XFER_ABORT to stop the transfer (on_done then follows with an error);
 *   on_done     exactly once, last, unless the owner called xfer_cancel() first. The xfer is freed
 *               right after on_done returns: the owner must drop its pointer there.
 * xfer_resume() may call on_data synchronously. xfer_cancel() may be called from inside on_headers or
 * on_data; then no further callback runs and the handle is released later on the loop.
 * Redirects are not followed; no signals are used (CURLOPT_NOSIGNAL); connections are pooled by
 * the multi handle and reused (keep-alive).
 */
#ifndef DAEMON_XFER_H
#define DAEMON_XFER_H

#include <stddef.h>
#include <uv.h>

enum { XFER_OK = 0, XFER_PAUSE = 1, XFER_ABORT = 2 };

struct xfer_ctx;
struct xfer;

struct xfer_request {
	const char *method;         /* "GET", "POST", "DELETE"; NULL means GET, or POST if body */
	const char *url;            /* http:// or https:// */
	const char *const *headers; /* NULL-terminated "Name: value" strings; copied; may be NULL */
	const char *body;           /* copied; may be NULL */
	size_t body_len;
	long connect_timeout_ms; /* 0: curl's default */
	long idle_timeout_s;     /* fail (timed_out) when no byte arrives for this long, within a second
	                          * of it; time spent paused (XFER_PAUSE) does not count; 0: none */
	long total_timeout_ms;   /* 0: none (streams use the idle timeout instead) */
	size_t max_header_bytes; /* cap on all response headers together; 0: 64 KiB */
	int http2;               /* https only: HTTP/2 by ALPN, multiplexed with the other http2
	                          * transfers to the same host; 0: HTTP/1.1 */
	const char *ca_file;     /* PEM bundle to trust instead of the system's; copied; may be NULL */
	long recv_buffer_bytes;  /* curl's receive buffer, 1024 and up; 0: curl's default (16 KiB) */
	int no_resend;           /* the request must not reach the server twice (not idempotent): when
	                          * a reused connection dies before any answer, curl would send it
	                          * again on a fresh one; with this set the transfer fails instead */
};

struct xfer_result {
	int ok;            /* 1: the HTTP exchange completed (any status); 0: transport failure */
	long http_status;  /* 0 when no response arrived */
	int timed_out;     /* connect or idle timeout hit */
	int aborted;       /* the owner returned XFER_ABORT */
	const char *error; /* human-readable transport error ("" when ok); valid during on_done only */
};

struct xfer_callbacks {
	/* Return 0 to go on, -1 to abort. content_type may be NULL. */
	int (*on_headers)(void *ud, long http_status, const char *content_type);
	int (*on_data)(void *ud, const char *data, size_t len);
	void (*on_done)(void *ud, const struct xfer_result *result);
};

/* One per loop. Caller owns it. */
struct xfer_ctx *xfer_ctx_new(uv_loop_t *loop);
/* Cancels every transfer still running (no callbacks), closes the uv handles and frees the ctx.
 * The caller must run the loop afterwards so the handle closes complete before uv_loop_close().
 * Not from inside an xfer callback. */
void xfer_ctx_free(struct xfer_ctx *ctx);
/* Number of transfers in flight. */
size_t xfer_ctx_active(const struct xfer_ctx *ctx);

/* Starts a transfer; NULL only when curl refuses the request (bad URL scheme etc.), with no callback. */
struct xfer *xfer_start(struct xfer_ctx *ctx, const struct xfer_request *req, const struct xfer_callbacks *cb,
                        void *ud);
/* The value of response header name (case-insensitive; the first one if repeated), or NULL. Only valid
 * inside on_headers, and until that callback returns. */
const char *xfer_header(struct xfer *x, const char *name);
/* Undoes an XFER_PAUSE: curl delivers the held bytes again (possibly before this returns). */
void xfer_resume(struct xfer *x);
/* Stops the transfer; no callback runs after this. An HTTP/1.1 connection is closed, not reused; an
 * HTTP/2 stream is reset and its connection goes on serving the others. */
void xfer_cancel(struct xfer *x);

#endif
