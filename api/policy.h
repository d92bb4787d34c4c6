/*
 * policy: which MCP servers a request may reach, which of their tools it may import and call, and
 * which calls need approval: the request's mcp tool settings bounded by the operator's config
 * (PEER-LESSONS "Policy"). A caller can narrow what the config allows, never widen it; tool
 * annotations (server claims, untrusted) can only tighten approval, never relax it.
 *
 * Pure functions over the config and JSON; no I/O. Owned by the loop thread.
 */
#ifndef API_POLICY_H
#define API_POLICY_H

#include <stdint.h>
#include <jansson.h>

struct api_error;
struct config;

/* One mcp tool of a request, resolved against the config. */
struct policy_server {
	char *label;
	char *url;        /* the server's URL (config's, or the request's when the allow-list admits it) */
	char **headers;   /* NULL-terminated "Name: value" lines for this server only (secrets) */
	long timeout_ms;  /* 0: the client's default */
	long cache_ttl_s; /* 0: the client's default; < 0: never cached */
	int from_config;  /* named by label alone and filled in from mcp_servers */
	/* The request's settings (normalised by api/request; borrowed from the request). */
	const json_t *allowed_tools;    /* null or {tool_names: [..]|null, read_only: bool|null} */
	const json_t *require_approval; /* "always" | "never" | {always: {..}|null, never: {..}|null} */
	/* The operator's bounds (copied from the config). */
	char **ceiling;          /* NULL: no ceiling; else NULL-terminated tool names that may be imported */
	int floor_always;        /* every call needs approval whatever the request says */
	char **floor_tools;      /* NULL-terminated names that always need approval, or NULL */
	int approve_destructive; /* tools not annotated read-only that may be destructive need approval */
	/* Who decides what needs approval (the config's; a request cannot change it). */
	int by_operator;           /* 1: an operator, while the response waits; 0: the caller */
	unsigned expiry_s;         /* an operator's wait, then the call is denied as expired */
	int no_operator_to_caller; /* no operator watching: 1 asks the caller instead, 0 denies */
};

/*
 * Resolves one normalised request mcp tool (api/request's shape):
 *  - no server_url: server_label must name a config server; its url, headers, timeout, TTL and
 *    policy apply; the request's headers are added for names the config does not set, and its
 *    authorization becomes "Authorization: Bearer <token>" unless the config sets Authorization.
 *  - server_url given: it must be http(s), start with one of mcp_policy.allow_request_urls (none
 *    by default: refused), and its host must not be a link-local (169.254/16, fe80::/10), metadata
 *    (metadata.google.internal, 100.100.100.200, fd00:ec2::254) or unspecified address; the
 *    global policy applies (mcp_policy.approve_destructive). The request's headers and
 *    authorization are used as given.
 * 0, or -1 with *err (400, param "tools[index]..." naming the field). out is zeroed first; free it
 * with policy_server_clear() in both cases.
 */
int policy_resolve(const struct config *cfg, const json_t *mcp_tool, size_t index, struct policy_server *out,
                   struct api_error *err);
void policy_server_clear(struct policy_server *s);

/* 1 when tool (an MCP Tool object: name, inputSchema, annotations...) may be imported and called:
 * within the ceiling and within the request's allowed_tools (names, and read_only: only tools
 * annotated readOnlyHint:true). */
int policy_tool_allowed(const struct policy_server *s, const json_t *tool);
/* 1 when a call to tool needs approval: the request's require_approval ("always" by default; a
 * tool matched by neither filter needs approval; never.read_only does not relax it, see above),
 * raised by the operator's floor (floor_always, floor_tools, approve_destructive for tools whose
 * annotations do not say readOnlyHint:true and do not say destructiveHint:false). */
int policy_needs_approval(const struct policy_server *s, const json_t *tool);
/* Why a call to tool needs approval, for the operator's page ("the server's require_approval floor",
 * ...), or NULL when it does not (exactly when policy_needs_approval is 0). Static text. */
const char *policy_approval_reason(const struct policy_server *s, const json_t *tool);

/* The MCP call budget of one response: min(requested (-1: none), mcp_policy.max_tool_calls). */
int64_t policy_max_tool_calls(const struct config *cfg, int64_t requested);

#endif
