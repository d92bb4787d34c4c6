/*
 * store: the daemon's SQLite database (WAL, synchronous=NORMAL, prepared statements), the only
 * place that includes sqlite3.h. Schema versioned with PRAGMA user_version and migrated forward on
 * open. It holds stored responses, the MCP tool-list cache, the transport each MCP server URL was
 * last reached with, MCP approvals, the MCP audit log and the daemon's own keys.
 *
 * Values cross this API as JSON text so the store does not depend on the item model; the store
 * checks only that what it is given is well-formed enough to keep (non-NULL, NUL-terminated).
 * Calls are short and run inline on the loop thread. Not thread-safe: one struct store per thread.
 */
#ifndef STORE_STORE_H
#define STORE_STORE_H

#include <stddef.h>
#include <stdint.h>

struct store;

/* Opens (creating if needed, with parent directory mode 0700 if missing) and migrates. path may be
 * ":memory:". NULL on failure with a message in err. Caller owns the store. */
struct store *store_open(const char *path, char *err, size_t errlen);
/* Closes the database (checkpointing the WAL); NULL is a no-op. */
void store_close(struct store *s);

/*
 * A stored response:
 *   id            "resp_..." (the primary key)
 *   response_json the full ResponseResource as returned to the caller
 *   input_json    JSON array of the input items of its whole context (the previous_response_id chain's
 *                 input and output items, then this request's own input), each with an "id"
 *   created_at    seconds since the epoch
 *   owner         the caller identity that created it ("uid=1000", "key=ci"); rows from before
 *                 owners existed have STORE_OWNER_LEGACY, which no caller identity is
 * put replaces a row with the same id and owner (a response is written when it ends, and again if
 * it is cancelled later on); a row of another owner is left alone and put fails: ownership never
 * moves.
 *
 * get and delete take the owner to act for: a row of another owner is "not found", exactly like a
 * missing one, so that ids cannot be probed. owner NULL acts for every owner: only for an operator.
 */
#define STORE_OWNER_LEGACY "legacy:"
int store_response_put(struct store *s, const char *id, const char *owner, const char *response_json,
                       const char *input_json, int64_t created_at);
/* 0 found (*response_json and *input_json are malloc'd; either out-pointer may be NULL to skip it),
 * 1 not found (or not owner's), -1 error. */
int store_response_get(struct store *s, const char *id, const char *owner, char **response_json,
                       char **input_json);
/* 0 deleted, 1 not found (or not owner's), -1 error. */
int store_response_delete(struct store *s, const char *id, const char *owner);
/* Marks every stored response still "queued" or "in_progress" (a background response the daemon
 * was stopped in the middle of) "failed" with error {code, message}: the number changed, or -1. */
int64_t store_response_fail_unfinished(struct store *s, const char *code, const char *message);
/* Number of stored responses, or -1 on error. */
int64_t store_response_count(struct store *s);

/*
 * The MCP tool-list cache, one row per (url, credential hash, protocol version), so that a listing
 * fetched with one credential or protocol version is never served for another:
 *   url              the MCP server's URL, kept with its user info and query replaced by their SHA-256
 *                    (they may hold a credential); callers pass and compare the URL as it is
 *   cred_hash        identifies the credential the listing was fetched with: a hash, never the
 *                    credential itself, because the database file is not a secret store
 *   protocol_version the MCP protocol version the listing was fetched under
 *   tools_json       the listing as the MCP client keeps it (a JSON array)
 *   fetched_at, expires_at  seconds since the epoch
 * Every string may be empty and is compared byte for byte. put replaces the row with the same key.
 */
int store_toolcache_put(struct store *s, const char *url, const char *cred_hash, const char *protocol_version,
                        const char *tools_json, int64_t fetched_at, int64_t expires_at);
/* 0 found and fresh (expires_at > now; *tools_json is malloc'd; the expires_at out-pointer may be NULL
 * to skip it), 1 not found or expired, -1 error. The out-pointers are written only on 0. */
int store_toolcache_get(struct store *s, const char *url, const char *cred_hash, const char *protocol_version,
                        int64_t now, char **tools_json, int64_t *expires_at);
/* Deletes the rows of url (every protocol version) for cred_hash, or for every credential when cred_hash
 * is NULL; url NULL deletes every row, whatever cred_hash is (a configuration change). Returns the number
 * of rows deleted, or -1 on error. */
int64_t store_toolcache_delete(struct store *s, const char *url, const char *cred_hash);
/* Deletes the rows whose expires_at <= now: the number deleted, or -1 on error. */
int64_t store_toolcache_purge(struct store *s, int64_t now);

/* The transport last found to work for url (kept like the tool cache's url) ("streamable" or "sse"; the store
 * keeps whatever text it is given) and the protocol version negotiated over it, at updated_at (seconds since
 * the epoch). put replaces the row of the same url. */
int store_mcp_transport_put(struct store *s, const char *url, const char *transport,
                            const char *protocol_version, int64_t updated_at);
/* 0 found (*transport and *protocol_version are malloc'd; neither out-pointer may be NULL), 1 not found,
 * -1 error. The out-pointers are written only on 0. */
int store_mcp_transport_get(struct store *s, const char *url, char **transport, char **protocol_version);

/*
 * MCP approvals (caller mode). A row is written when a response asks for approval and decided once:
 *   id               "mcpr_..." (the mcp_approval_request item's id; primary key)
 *   response_id      the response that asked
 *   server_label, tool  what would be called
 *   target_sha256    lowercase hex SHA-256 of the server's URL: an approval runs only against it
 *   arguments_sha256 lowercase hex SHA-256 of the arguments string exactly as the item carries it
 *   requested_by     the caller identity of the response that asked: only it may decide
 *   status           "pending" -> "approved" -> "running" (claimed by the one run) -> "done", or
 *                    "denied"; "expired" and "abandoned" (an operator's wait that nobody decided) are
 *                    written by the operator's path (api/approvals.h draws the machine)
 *   decided_by, reason  who decided (a caller identity such as "uid=1000") and their reason, or NULL
 *   created_at, decided_at  seconds since the epoch (decided_at 0 while pending)
 *   version          1 when written, one more at each step: a decision names the version it saw
 */
struct store_approval {
	char *id, *response_id, *server_label, *target_sha256, *tool, *arguments_sha256, *requested_by;
	char *status, *decided_by, *reason;
	int64_t created_at, decided_at;
	int64_t version;
	/* Schema 7: mode "caller" | "operator"; an operator's wait ends at expires_at (0 for the caller's);
	 * decision: "approve_once" | "approve_response" | "always" | "deny" | "expire" | "abandon" (or
	 * NULL); the tool definition's hash and the operator's view (JSON object text), each or NULL. */
	char *mode, *decision, *definition_sha256, *detail;
	int64_t expires_at;
};
int store_approval_put(struct store *s, const char *id, const char *response_id, const char *server_label,
                       const char *target_sha256, const char *tool, const char *arguments_sha256,
                       const char *requested_by, int64_t created_at);
/* 0 found (*out filled; release with store_approval_clear), 1 not found, -1 error. */
int store_approval_get(struct store *s, const char *id, struct store_approval *out);
void store_approval_clear(struct store_approval *a);
/* pending -> approved (approve 1) or denied, atomically: 0 done, 1 not found, 2 not pending (decided
 * before: a replay), -1 error. reason may be NULL. */
int store_approval_decide(struct store *s, const char *id, int approve, const char *decided_by,
                          const char *reason, int64_t now);
/* approved -> running, atomically, just before the approved call runs: 0 claimed (run it), 2 not
 * approved (claimed already, or never approved), -1 error. */
int store_approval_claim(struct store *s, const char *id);
/* running -> done, when the claimed call has ended (whatever its outcome): 0, 2 not running, -1 error. */
int store_approval_finish(struct store *s, const char *id);
/* Every running row -> done: for the daemon's start, when no call can still be under way (it may have
 * reached its server: never claimable again). The number of rows, or -1. */
int64_t store_approval_settle_running(struct store *s);
/*
 * Operator approvals. open writes a pending "operator" row (definition_sha256 and detail may be NULL).
 * resolve moves a pending row at exactly version to r->status ("approved" | "denied" | "expired" |
 * "abandoned") in one conditional UPDATE: 0 done, 2 not pending at that version (or missing), -1
 * error. resolve_all does it to n rows in one transaction, all or none: 0, 2 (nothing changed), -1.
 */
struct store_approval_new {
	const char *id, *response_id, *server_label, *target_sha256, *tool, *arguments_sha256, *requested_by;
	const char *definition_sha256, *detail;
	int64_t created_at, expires_at;
};
struct store_resolution {
	const char *status, *decision, *decided_by, *reason; /* decided_by and reason may be NULL */
	int64_t at;
};
int store_approval_open(struct store *s, const struct store_approval_new *a);
int store_approval_resolve(struct store *s, const char *id, int64_t version,
                           const struct store_resolution *r);
int store_approval_resolve_all(struct store *s, const char *const *ids, const int64_t *versions, size_t n,
                               const struct store_resolution *r);
/* Every pending operator row -> abandoned (decided_by "daemon", reason): for the daemon's start, when
 * the responses that waited are gone. The number of rows, or -1. */
int64_t store_approval_settle_waiting(struct store *s, const char *reason, int64_t now);
/* The pending operator rows, oldest first: at most limit, and as many as fit max_bytes (each row counted
 * as its detail and 1 KiB), as a JSON array text of objects with store_approval_list's keys and
 * "object":"approval" (detail the object it holds); *pending: how many are pending in all. 0 or -1. */
int store_approval_pending_operator(struct store *s, int limit, size_t max_bytes, char **json_out,
                                    int64_t *pending);

/*
 * Always-rules: a call to tool at the server whose URL hashes to target_sha256 runs without asking
 * while the tool's definition hashes to definition_sha256 and the rule has not expired (expires_at 0:
 * never). definition is the definition's canonical JSON, kept to show what changed.
 */
struct store_rule_new {
	const char *id, *server_label, *target_sha256, *tool, *definition_sha256, *definition, *created_by;
	const char *from_approval; /* or NULL */
	int64_t created_at, expires_at;
};
int store_rule_put(struct store *s, const struct store_rule_new *r);
/* 0 a rule matches (*rule_id malloc'd; with count, its hits and last_used_at are counted), 1 none,
 * -1 error. */
int store_rule_match(struct store *s, const char *target_sha256, const char *tool,
                     const char *definition_sha256, int64_t now, int count, char **rule_id);
/* A live rule for the tool made for another definition: 0 (*rule_id, *definition malloc'd), 1 none, -1. */
int store_rule_changed(struct store *s, const char *target_sha256, const char *tool,
                       const char *definition_sha256, int64_t now, char **rule_id, char **definition);
/* Newest first, at most limit: id, server_label, tool, definition_sha256, definition, created_by,
 * created_at, expires_at, from_approval, hits, last_used_at. 0 or -1. */
int store_rule_list(struct store *s, int limit, char **json_out);
/* 0 deleted, 1 not found, -1 error. */
int store_rule_delete(struct store *s, const char *id);

/* The audit of operator decisions: one row per decision (and per expiry or abandonment). */
struct store_decision {
	const char *approval_id, *response_id, *decision, *actor, *arguments_sha256;
	const char *definition_sha256, *message; /* or NULL */
	const char *status;                      /* the approval's state after it */
	int64_t at;
};
int store_decision_add(struct store *s, const struct store_decision *d);
/* The rows of one approval, oldest first (with "id" and the keys above). 0 or -1. */
int store_decision_list(struct store *s, const char *approval_id, char **json_out);

/* The rows as a JSON array in *json_out (caller frees), newest first, at most limit (1..1000): those in
 * state status and/or of response_id (each NULL: any). Each row: id, response_id, server_label, tool,
 * arguments_sha256, requested_by, status, decided_by, reason, created_at, decided_at, version (NULLs as
 * null). 0 or -1. */
int store_approval_list(struct store *s, const char *status, const char *response_id, int limit,
                        char **json_out);

/*
 * The MCP audit log: one row per MCP tool call the daemon made or refused. Strings may be NULL
 * (stored as NULL). Never given a secret: server_url is already redacted, arguments only as size
 * and hash.
 */
struct store_audit {
	int64_t at_ms;           /* wall clock, milliseconds since the epoch */
	const char *response_id; /* "resp_..." */
	const char *caller;      /* "uid=1000" | "key=ci" */
	const char *server_label;
	const char *server_url; /* redacted (no user info, no query) */
	const char *tool;
	int64_t args_bytes;
	const char *args_sha256;
	const char *outcome;     /* "ok" | "tool_error" | "error" | "denied" | "expired" (an operator did not
	                          * decide in time) | "refused" | "cancelled",
	                          * "in_progress" (started, not ended) | "interrupted" (the daemon
	                          * stopped while the call was in flight) */
	const char *error;       /* short message, or NULL */
	int64_t duration_ms;     /* 0 when not executed */
	const char *approval_id; /* or NULL */
	const char *decided_by;  /* or NULL */
};
int store_audit_add(struct store *s, const struct store_audit *row);
/* Audit rows are committed in batches: by store_audit_flush (the daemon calls it a few times a
 * second), by any other write of this store, when 256 are waiting, and at store_close. A process
 * killed outright loses the rows of the open batch, never a response or an approval. Reads through
 * this struct store see the rows at once. 0 or -1. */
int store_audit_flush(struct store *s);
/*
 * A call that goes to a server has its row written when it starts and completed when it ends, so that a
 * crash in between still leaves a record of a call that may have run. store_audit_start writes row as
 * "in_progress" (its outcome, error and duration are ignored) and commits it, with the open batch, before
 * it returns: the caller sends the request after this, so a process killed at any later point keeps the
 * row. *id_out is the row's id once it is committed, else 0. 0 or -1 (the caller may still make the call,
 * having logged the failure).
 */
int store_audit_start(struct store *s, const struct store_audit *row, int64_t *id_out);
/* Completes a started row (outcome, error or NULL, duration): batched like store_audit_add. 0 done, 1 no
 * such open row (completed or swept already), -1 error. */
int store_audit_end(struct store *s, int64_t id, const char *outcome, const char *error, int64_t duration_ms);
/* Marks every row still "in_progress" "interrupted" with error message: for the daemon's start, when no
 * call of a previous run can still be in flight. The number marked, or -1. */
int64_t store_audit_interrupt_open(struct store *s, const char *message);
/* Deletes rows with at_ms < before_ms: the number deleted, or -1 on error. */
int64_t store_audit_purge(struct store *s, int64_t before_ms);
/* The newest rows of caller (compared byte for byte; NULL: every caller's, for an operator) first,
 * at most limit (1..1000), as a malloc'd JSON array of objects with the keys of struct store_audit
 * (plus "id"); 0 or -1 on error. */
int store_audit_list(struct store *s, const char *caller, int limit, char **json_out);

/* A named random secret of len bytes (<= 64), created from getrandom on first use and kept in the
 * database (whose directory is 0700): the same bytes for the life of the database. 0 or -1. */
int store_secret(struct store *s, const char *name, unsigned char *out, size_t len);

/* The last error message of this connection, for logs. */
const char *store_errmsg(struct store *s);

#endif
