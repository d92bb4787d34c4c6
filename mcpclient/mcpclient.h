/*
 * mcpclient: the MCP client toolhostd calls remote tools with. Streamable HTTP (2025-11-25 sent;
 * 2025-06-18 and 2025-03-26 accepted) with a fallback to the deprecated HTTP+SSE transport
 * (2024-11-05), on libcurl through daemon/xfer, on the one loop.
 *
 * Sessions are pooled per (url, credential identity): a server's session is initialized once and
 * reused by every later list and call, with several calls in flight on it; an expired session is
 * re-initialized once and the request retried once; idle sessions are pinged before reuse and
 * DELETEd when evicted; a server that fails is backed off instead of hammered. Tool listings are
 * cached in memory and in the store (when one is given), keyed by (url, credential hash, protocol
 * version), never shared across credentials, and invalidated by notifications/tools/list_changed,
 * by re-initialization, by TTL and by mcp_client_invalidate().
 *
 * Every callback runs on the loop thread, later than the call that asked for it, exactly once,
 * unless the operation was cancelled first. Everything borrowed by a call (server, arguments) is
 * copied before it returns. Owned by one loop thread; no locking.
 */
#ifndef MCPCLIENT_MCPCLIENT_H
#define MCPCLIENT_MCPCLIENT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct xfer_ctx;
struct store;
struct mcp_client;
struct mcp_op;

/* Why an operation failed. */
enum mcp_errkind {
	MCP_ERR_NONE = 0,
	MCP_ERR_TRANSPORT,   /* no connection, connection lost, unreadable answer */
	MCP_ERR_HTTP,        /* an HTTP error status from the server */
	MCP_ERR_AUTH,        /* 401 or 403: see resource_metadata and scope */
	MCP_ERR_PROTOCOL,    /* the server broke MCP: bad JSON-RPC, unsupported version, over a byte cap */
	MCP_ERR_RPC,         /* the server answered with a JSON-RPC error (rpc_code) */
	MCP_ERR_TIMEOUT,     /* no answer within the timeout; notifications/cancelled was sent */
	MCP_ERR_UNAVAILABLE, /* the server failed recently and is being backed off */
	MCP_ERR_EXPIRED,     /* the session expired again right after re-initialization */
	MCP_ERR_UNSUPPORTED, /* the server does not declare the capability asked for */
	MCP_ERR_CLOSED       /* the client is shutting down */
};

struct mcp_error {
	enum mcp_errkind kind;
	long http_status;              /* 0 when no HTTP status applies */
	int rpc_code;                  /* MCP_ERR_RPC */
	const char *message;           /* human-readable, never empty, never holds a secret */
	const char *resource_metadata; /* MCP_ERR_AUTH: from WWW-Authenticate, or NULL */
	const char *scope;             /* MCP_ERR_AUTH: from WWW-Authenticate, or NULL */
};

/* Defaults in brackets apply to zero fields. */
struct mcp_client_config {
	const char *client_name;    /* clientInfo.name ["toolhostd"] */
	const char *client_version; /* clientInfo.version [the build's version] */
	long connect_timeout_ms;    /* [5000] */
	long request_timeout_ms;    /* per request when the server sets none [60000] */
	long idle_evict_s;          /* an unused session is DELETEd after this long [300] */
	long ping_after_idle_s;     /* a session unused this long is pinged before reuse [60] */
	long cache_ttl_s;           /* tool-listing lifetime [60]; < 0 disables the cache */
	size_t max_message_bytes;   /* cap on one JSON-RPC message / SSE event [8 MiB] */
	int max_pages;              /* tools/list pages followed before giving up [100] */
};

/* How to reach one server. Copied by every call that takes it. */
struct mcp_server {
	const char *url;
	const char *const *headers; /* NULL-terminated "Name: value" (Authorization included), or NULL */
	long timeout_ms;            /* per request; 0: the client's request_timeout_ms */
	long cache_ttl_s;           /* 0: the client's cache_ttl_s; < 0: never cache this server */
};

struct mcp_list_result {
	const struct mcp_error *error; /* NULL on success */
	json_t *tools;                 /* borrowed JSON array of MCP Tool objects (callable ones only) */
	int from_cache;                /* 1: served from the cache without network */
	const char *protocol_version;  /* negotiated with the server ("" when from a cache row) */
	int hidden;                    /* tools left out: task-only or with an invalid name */
};
typedef void (*mcp_list_cb)(void *ud, const struct mcp_list_result *r);

struct mcp_call_result {
	const struct mcp_error *error; /* NULL when the server returned a CallToolResult */
	int is_error;                  /* the CallToolResult's isError */
	json_t *result;                /* borrowed: the CallToolResult as the server sent it */
	const char *text;              /* the result converted for a model (see mcp_result_text) */
	uint64_t duration_us;
};
typedef void (*mcp_call_cb)(void *ud, const struct mcp_call_result *r);
/* total < 0 when the server gave none; message may be NULL. */
typedef void (*mcp_progress_cb)(void *ud, double progress, double total, const char *message);

struct mcp_stats {
	uint64_t sessions_opened;  /* initialize handshakes completed */
	uint64_t sessions_reused;  /* operations that found a live, initialized session */
	uint64_t sessions_expired; /* 404 (or "session" 400) answers that forced a re-initialize */
	uint64_t sessions_closed;  /* DELETEs sent (eviction, shutdown) */
	uint64_t cache_hits, cache_misses;
	uint64_t calls, call_errors; /* call_errors: any call that did not return a CallToolResult */
	uint64_t call_us_total;      /* sum of call latencies */
	uint64_t call_us_max;
	uint64_t http_requests; /* every HTTP request sent to an MCP server */
};

/* loop and xfer are borrowed and must outlive the client; store may be NULL (memory cache only). */
struct mcp_client *mcp_client_new(uv_loop_t *loop, struct xfer_ctx *xfer, struct store *store,
                                  const struct mcp_client_config *config);
/* Ends every operation (their callbacks run with MCP_ERR_CLOSED), DELETEs every session, and calls
 * done once the DELETEs have been answered or have failed (bounded by the connect timeout plus 2 s).
 * The client accepts no new operation afterwards. */
void mcp_client_shutdown(struct mcp_client *c, void (*done)(void *ud), void *ud);
/* Frees the client and whatever is left (no callback, no network). NULL is a no-op. */
void mcp_client_free(struct mcp_client *c);

/* Lists the server's tools, from the cache when fresh. NULL only when c is shutting down or the
 * server has no http(s) url (no callback then). */
struct mcp_op *mcp_list_tools(struct mcp_client *c, const struct mcp_server *server, mcp_list_cb cb,
                              void *ud);
/* Calls a tool; arguments (an object, or NULL for {}) is borrowed. progress may be NULL. */
struct mcp_op *mcp_call_tool(struct mcp_client *c, const struct mcp_server *server, const char *name,
                             json_t *arguments, mcp_progress_cb progress, mcp_call_cb cb, void *ud);
/* Stops an operation; its callback does not run. A call already sent gets notifications/cancelled
 * and its HTTP stream is closed. Not from inside that operation's own callback. */
void mcp_op_cancel(struct mcp_op *op);

/* Drops cached listings of url (all credentials), or of every server when url is NULL. */
void mcp_client_invalidate(struct mcp_client *c, const char *url);
void mcp_client_stats(const struct mcp_client *c, struct mcp_stats *out);

/*
 * The CallToolResult as text for a model: text blocks joined by newlines; structuredContent as its
 * JSON when no text block carries it; images, audio and resources summarised by type, MIME type,
 * size and URI (their bytes are not repeated); unknown blocks named by type. Caller frees. Never
 * NULL. max_bytes caps the text (0: no cap); a cut text ends with "...[truncated]".
 */
char *mcp_result_text(json_t *call_result, size_t max_bytes);

#endif
