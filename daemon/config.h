/*
 * config: the daemon's JSON config file -> struct config, and its checks (`toolhostd -n`).
 *
 * The file (all keys optional unless marked; unknown keys are an error naming the key path):
 * {
 *   "listen": {
 *     "unix": { "path": "/run/toolhost/toolhostd.sock", "mode": "0660",
 *               "allow_uids": [1000], "allow_gids": [1000] },
 *     "tcp":  { "address": "127.0.0.1" | "::1", "port": 8787 }      (absent: no TCP listener)
 *   },
 *   "api_keys": [ { "name": "ci", "key_env": "VAR" | "key_file": "/path" | "key": "literal" } ],
 *   "upstreams": [ { "name": "hf" (required, [A-Za-z0-9_.-]{1,32}), "base_url": "https://.../v1" (required,
 *                    http or https), "api_key_env" | "api_key_file": ..., "default": true,
 *                    "forward_caller_auth": false, "default_model": "org/model",
 *                    "http2": false, "ca_file": "/path/ca.pem" } ],
 *   "store": { "path": "/var/lib/toolhost/toolhostd.db" },
 *   "limits": { "max_body_bytes": 8388608, "max_header_bytes": 16384, "header_timeout_s": 10,
 *               "body_timeout_s": 30, "min_body_rate_bytes_s": 1024, "request_timeout_s": 600,
 * "upstream_connect_timeout_s": 10, "upstream_idle_timeout_s": 120, "keepalive_s": 15, "drain_timeout_s": 10,
 *               "max_upstream_event_bytes": 1048576, "max_output_bytes": 16777216,
 *               "max_connections": 20000 },
 *   "mcp": { "connect_timeout_ms": 5000, "request_timeout_ms": 60000, "idle_evict_s": 300,
 *            "ping_after_idle_s": 60, "cache_ttl_s": 60 (0: no cache), "max_message_bytes": 8388608,
 *            "max_pages": 100 },
 *   "mcp_servers": [ { "label": "docs" (required, [A-Za-z0-9_-]{1,64}, unique), "url": "https://..."
 *                      (required, http or https), "headers": { "X-Name": "value" },
 *                      "bearer_env" | "bearer_file" | "bearer": the token sent as
 *                      "Authorization: Bearer <token>", "timeout_ms": 60000, "cache_ttl_s": 60,
 *                      "allowed_tools": ["name", ...] (a ceiling; absent: every tool),
 *                      "require_approval": "always" | ["name", ...] (a floor; absent: the caller
 *                      decides), "approve_destructive": false,
 *                      "approval": "caller" | "operator", "approval_expiry_s": 900,
 *                      "no_operator": "deny" | "caller" (each absent: mcp_policy's) } ],
 *   "mcp_policy": { "allow_request_urls": ["https://mcp.example.com/", ...] (URL prefixes a request's
 *                   own server_url may start with; absent or empty: none), "max_tool_calls": 64,
 *                   "max_turns": 16, "approve_destructive": false (for servers named by URL),
 *                   "audit_retention_days": 30, "approval": "caller", "approval_expiry_s": 900,
 *                   "no_operator": "deny", "approval_json_wait_s": 540 },
 *   "websocket": { "enabled": true, "max_message_bytes": 33554432, "max_age_s": 3600,
 *                  "idle_timeout_s": 300, "queue_max": 8, "max_output_buffer_bytes": 16777216,
 *                  "cache_max_bytes": 67108864 }   (WebSocket mode on /v1/responses, api/ws.h)
 *   "log_level": "error" | "warning" | "info" | "debug",
 *   "operators": { "uids": [0], "gids": [] }   (absent: no operator)
 * }
 * Rules checked: tcp.address must be a loopback literal (127.0.0.0/8 or ::1), never a name or "0.0.0.0";
 * port 1..65535; mode octal "0600".."0777" string; at least one upstream; exactly one default
 * upstream when there are several (a single one is the default); upstream names unique; key files
 * readable; key env vars set (an unset variable is an error naming it, never its value); numeric
 * limits positive and within sane bounds (max_body_bytes 1 KiB..1 GiB, timeouts 1..86400 s).
 * A request body must be whole within body_timeout_s of the end of its headers, and from 2 s after
 * them on, have come at min_body_rate_bytes_s on average at least (0..1 GiB; 0: no rate floor);
 * otherwise the caller gets a 408 and the request never starts. lws' own idle timeout
 * (header_timeout_s between two reads) only catches a body that stops altogether.
 * With a TCP listener, at least one api key is required.
 *
 * Operators are the Unix socket callers whose uid or primary gid is listed (at most CONFIG_MAX_IDS
 * each): they are let in on the socket (beyond allow_uids / allow_gids) and see and act on every
 * caller's stored responses and audit rows. Nobody else is one: not root, not the daemon's own
 * user, never a TCP key.
 *
 * MCP header names are HTTP tokens and values carry no control characters; "Authorization" in headers
 * and a bearer_* key together are an error.
 *
 * Secrets (api keys, upstream keys, MCP headers and bearer tokens) are read into the struct and must never be
 * logged. Owned by the loop thread; a reload builds a new struct and swaps it in.
 */
#ifndef DAEMON_CONFIG_H
#define DAEMON_CONFIG_H

#include <stddef.h>
#include <sys/types.h>

#define CONFIG_MAX_IDS 64
/* An api key's name: 1 to this many of A-Z a-z 0-9 _ . - */
#define CONFIG_MAX_API_KEY_NAME 64
/* Room for a caller identity, "key=<name>" or "uid=<uid>", with its NUL: the identity is the owner
 * of what the caller stores, so it is never truncated. */
#define CONFIG_IDENTITY_MAX (sizeof "key=" + CONFIG_MAX_API_KEY_NAME)

struct config_api_key {
	char *name; /* logged instead of the key */
	char *key;  /* secret */
};

struct config_upstream {
	char *name;
	char *base_url;      /* without trailing '/' */
	char *api_key;       /* secret; NULL when none */
	char *default_model; /* NULL when none */
	int is_default;
	int forward_caller_auth; /* send the caller's bearer instead of api_key */
	int http2;               /* HTTP/2 by ALPN (https only), responses multiplexed */
	char *ca_file;           /* PEM bundle trusted instead of the system's; NULL: the system's */
};

struct config_limits {
	size_t max_body_bytes;
	size_t max_header_bytes;
	unsigned header_timeout_s;
	unsigned body_timeout_s;      /* the whole request body, from the end of the headers */
	size_t min_body_rate_bytes_s; /* average body rate floor, checked from 2 s on; 0: none */
	unsigned request_timeout_s;
	unsigned upstream_connect_timeout_s;
	unsigned upstream_idle_timeout_s;
	unsigned keepalive_s;
	unsigned drain_timeout_s;
	size_t max_upstream_event_bytes;
	size_t max_output_bytes;
	unsigned max_connections;
};

/* How the MCP client behaves (mcpclient.h mcp_client_config); changes apply at the next restart. */
struct config_mcp {
	unsigned connect_timeout_ms;
	unsigned request_timeout_ms;
	unsigned idle_evict_s;
	unsigned ping_after_idle_s;
	unsigned cache_ttl_s; /* 0: listings are not cached */
	size_t max_message_bytes;
	unsigned max_pages;
};

/* Who decides an MCP call that needs approval (APPROVALS-NOTES.md): the caller, with an
 * mcp_approval_request item that ends the response (OpenAI's way), or an operator, while the response
 * waits. A request cannot change it. */
enum config_approval_mode {
	CONFIG_APPROVAL_UNSET,
	CONFIG_APPROVAL_CALLER,
	CONFIG_APPROVAL_OPERATOR,
};
/* Operator mode with no operator watching (no /v1/approvals/stream open): the call is denied, or
 * the caller is asked instead. */
enum config_no_operator {
	CONFIG_NO_OPERATOR_UNSET,
	CONFIG_NO_OPERATOR_DENY,
	CONFIG_NO_OPERATOR_CALLER,
};

/* An MCP server the operator configured. */
struct config_mcp_server {
	char *label;
	char *url;
	char **headers;          /* NULL-terminated "Name: value" lines (secrets), Authorization included */
	unsigned timeout_ms;     /* 0: mcp.request_timeout_ms */
	int cache_ttl_s;         /* 0: mcp.cache_ttl_s; -1: never cached */
	char **allowed_tools;    /* NULL: no ceiling; else NULL-terminated names */
	int approval_always;     /* require_approval "always" */
	char **approval_tools;   /* require_approval list: NULL-terminated names, or NULL */
	int approve_destructive; /* tools that may be destructive (annotations) need approval */
	/* Who decides a call that needs approval; 0 in each: mcp_policy's value. */
	enum config_approval_mode approval;
	unsigned approval_expiry_s;
	enum config_no_operator no_operator;
};

/* WebSocket mode (api/ws.h). A connection keeps the config it was opened with. */
struct config_websocket {
	int enabled;                    /* [1]; 0: an upgrade gets 426 */
	size_t max_message_bytes;       /* one client message, fragments reassembled [32 MiB] */
	unsigned max_age_s;             /* a connection takes no new turn after this [3600] */
	unsigned idle_timeout_s;        /* pinged after half of it without traffic, closed after it [300] */
	unsigned queue_max;             /* creates waiting behind the running turn [8] */
	size_t max_output_buffer_bytes; /* events not yet written to a peer that does not read [16 MiB] */
	size_t cache_max_bytes;         /* the connection-local cache of responses [64 MiB] */
};

/* The operator's bounds on every request's MCP use. */
struct config_mcp_policy {
	char **allow_request_urls;     /* NULL-terminated URL prefixes, or NULL: request URLs refused */
	unsigned max_tool_calls;       /* MCP calls per response [64], 1..10000 */
	unsigned max_turns;            /* model turns per response [16], 1..1000 */
	int approve_destructive;       /* for servers a request names by URL */
	unsigned audit_retention_days; /* [30], 1..3650 */
	/* Approval defaults for every server that sets none (and for servers named by URL). */
	enum config_approval_mode approval; /* [caller] */
	unsigned approval_expiry_s;         /* an operator's wait, then the call is denied [900], 10..86400 */
	enum config_no_operator no_operator; /* [deny] */
	/* A caller that waits for the whole JSON answer (no stream, not background) waits at most this
	 * long for an operator [540], 10..86400: HTTP clients give up after 600 s by default. */
	unsigned approval_json_wait_s;
};

struct config {
	char *unix_path; /* never NULL after load: default "$RUNTIME_DIRECTORY/toolhostd.sock" or
	                    "/run/toolhost/toolhostd.sock" */
	unsigned unix_mode;
	uid_t allow_uids[CONFIG_MAX_IDS];
	size_t n_allow_uids;
	gid_t allow_gids[CONFIG_MAX_IDS];
	size_t n_allow_gids;
	uid_t operator_uids[CONFIG_MAX_IDS]; /* operators.uids */
	size_t n_operator_uids;
	gid_t operator_gids[CONFIG_MAX_IDS]; /* operators.gids */
	size_t n_operator_gids;

	char *tcp_address; /* NULL: no TCP listener */
	unsigned tcp_port;

	struct config_api_key *api_keys;
	size_t n_api_keys;

	struct config_upstream *upstreams;
	size_t n_upstreams;

	char *store_path; /* default "/var/lib/toolhost/toolhostd.db"; ":memory:" allowed for tests */
	struct config_limits limits;
	struct config_mcp mcp;
	struct config_mcp_server *mcp_servers;
	size_t n_mcp_servers;
	struct config_mcp_policy mcp_policy;
	struct config_websocket websocket;
	int log_level; /* enum log_level */
	/* Holders of a heap config (config_hold / config_release): main, and every response running
	 * over it. config_defaults sets 1 (the loader's caller). */
	unsigned refs;
};

/* Fills *out with the defaults (no upstreams); config_load_* call it themselves. */
void config_defaults(struct config *out);
/* Loads and checks a file over the defaults. On error returns -1 and writes a message that names
 * the key path (e.g. "upstreams[1].base_url: must start with http:// or https://") to err. */
int config_load_file(const char *path, struct config *out, char *err, size_t errlen);
/* The same from a string (used by tests and the fuzzer). */
int config_load_string(const char *json, size_t len, struct config *out, char *err, size_t errlen);
void config_free(struct config *c);
/* A heap config (xcalloc'ed, loaded) is shared by reference: a SIGHUP swaps main's copy while
 * running responses keep theirs. config_hold adds a holder and returns c; config_release drops one
 * and, at the last, does config_free and frees c itself. NULL is ignored. Loop thread only. */
struct config *config_hold(struct config *c);
void config_release(struct config *c);
/* The upstream called name, or the default one when name is NULL; NULL when none matches. */
const struct config_upstream *config_upstream_find(const struct config *c, const char *name);

/* 1 when a Unix socket caller with this uid and primary gid is an operator. */
int config_is_operator(const struct config *c, uid_t uid, gid_t gid);

/* The configured MCP server with this label, or NULL. */
const struct config_mcp_server *config_mcp_server_find(const struct config *c, const char *label);

#endif
