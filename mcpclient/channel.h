/*
 * channel: one HTTP exchange with an MCP endpoint (a POST of one message, a GET stream, a DELETE),
 * decoding the answer into JSON-RPC messages whether it comes as one JSON body or as an SSE stream.
 * It keeps what the session needs from the answer: status, Content-Type, Mcp-Session-Id, the
 * WWW-Authenticate parameters, the stream's last event id and retry time. Every byte fed by the
 * server is capped: one message / event at max_message bytes, an error body at 64 KiB.
 *
 * Callbacks run on the loop thread, never from inside mcp_chan_open. mcp_chan_cancel may be called
 * from inside any of them; no callback runs after it. on_done runs once, last, and the channel is
 * freed right after it returns.
 */
#ifndef MCPCLIENT_CHANNEL_H
#define MCPCLIENT_CHANNEL_H

#include <stddef.h>

struct xfer_ctx;
struct jsonrpc_msg;
struct mcp_chan;

struct mcp_chan_request {
	const char *method; /* "POST", "GET", "DELETE" */
	const char *url;
	const char *const *headers; /* NULL-terminated, copied */
	const char *body;           /* POST only; copied */
	size_t body_len;
	long connect_timeout_ms;
	long total_timeout_ms; /* 0: none (streams) */
	size_t max_message;    /* cap on one message or SSE event */
	int discard_body;      /* a 2xx body is skipped unread (answers to our notifications) */
	int no_resend;         /* never sent twice (xfer_request.no_resend): a tools/call, a notification */
};

struct mcp_chan_result {
	int ok;            /* the exchange completed and its body was well-formed */
	long status;       /* 0 when no answer came */
	const char *error; /* why not ok ("" when ok); valid during on_done only */
	int timed_out;
	int protocol_error;    /* the server broke MCP (bad message, over a cap): retrying would not help */
	const char *rpc_error; /* an HTTP error answer's JSON-RPC error message, or NULL */
};

struct mcp_chan_callbacks {
	/* Each JSON-RPC message of the answer. */
	void (*on_message)(void *ud, struct mcp_chan *ch, const struct jsonrpc_msg *msg);
	/* SSE events named other than "message" (the legacy transport's "endpoint"); may be NULL. */
	void (*on_event)(void *ud, struct mcp_chan *ch, const char *event, const char *data);
	void (*on_done)(void *ud, struct mcp_chan *ch, const struct mcp_chan_result *r);
};

/* NULL when the request cannot be started (bad URL); no callback then. */
struct mcp_chan *mcp_chan_open(struct xfer_ctx *xfer, const struct mcp_chan_request *req,
                               const struct mcp_chan_callbacks *cb, void *ud);
void mcp_chan_cancel(struct mcp_chan *ch);

/* What the answer said so far. Strings are owned by the channel; NULL when absent. */
long mcp_chan_status(const struct mcp_chan *ch);
int mcp_chan_is_sse(const struct mcp_chan *ch);
const char *mcp_chan_session_id(const struct mcp_chan *ch);
const char *mcp_chan_auth_resource_metadata(const struct mcp_chan *ch);
const char *mcp_chan_auth_scope(const struct mcp_chan *ch);
/* The last SSE event id seen ("" when none) and the retry field in ms (-1 when none). */
const char *mcp_chan_last_event_id(const struct mcp_chan *ch);
long mcp_chan_retry_ms(const struct mcp_chan *ch);

/* Resolves ref (absolute or relative) against base and requires the same scheme, host and port.
 * Returns the absolute URL (caller frees) or NULL. For the legacy transport's endpoint event. */
char *mcp_url_same_origin(const char *base, const char *ref);

/* Extracts a quoted or token parameter (e.g. resource_metadata) from a WWW-Authenticate value. */
char *mcp_auth_param(const char *www_authenticate, const char *name);

#endif
