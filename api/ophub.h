/*
 * ophub: the live side of operator approvals (../shared/spec/APPROVALS-NOTES.md). It keeps
 *  - the waits: MCP calls held until an operator decides (api/mcprun starts them), each with its
 *    expiry timer;
 *  - the watchers: the operators' streams (/v1/approvals/stream: the page, toolhostctl watch), told
 *    of every approval that is requested, resolved, expired or abandoned;
 *  - the one decision path of every interface (POST /v1/approvals/{id}, the batch POST, the stream):
 *    it moves the row (a conditional UPDATE on its version: two decisions cannot both win), writes
 *    the rule of an "always" and one audit row per decision, wakes the waiting call, and tells every
 *    watcher.
 * Decisions answer with the approval as it stands after them, or an error envelope: 404 unknown id,
 * 400 a bad decision or a caller-mode row, 409 {error: {code: already_resolved | expired | abandoned},
 * approval} when the row is not pending at the version the operator saw.
 * Loop thread only.
 */
#ifndef API_OPHUB_H
#define API_OPHUB_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <uv.h>

#include "api/approvals.h"

struct store;
struct store_approval_new;
struct ophub;
struct ophub_wait;
struct ophub_watcher;

/* The snapshot a new watcher gets holds at most this many pending approvals, oldest first, and at
 * most about this many bytes (well under api/opstream's backlog cap: however large the approvals an
 * MCP server's tools make, an operator can always connect); "pending" says how many there are. */
#define OPHUB_SNAPSHOT_MAX       10000
#define OPHUB_SNAPSHOT_MAX_BYTES ((size_t)16 * 1024 * 1024)

struct ophub *ophub_new(uv_loop_t *loop, struct store *store);
/* Stops every expiry timer (the waits' owners must have let go: see ophub_wait_abandon); the memory
 * goes once the loop has run the handles' close callbacks. NULL ok. */
void ophub_free(struct ophub *h);

/* ---- watchers ---- */

/* Takes one event (a JSON text, not NUL-terminated); copies what it keeps. */
typedef void (*ophub_push_fn)(void *ud, const char *json, size_t len);
struct ophub_watcher *ophub_watch(struct ophub *h, ophub_push_fn push, void *ud);
void ophub_unwatch(struct ophub_watcher *w);
/* Operators watching now: no_operator applies at 0. */
size_t ophub_watchers(const struct ophub *h);
/* {"type":"approvals.snapshot","at":...,"pending":N,"approvals":[...]}: the pending operator approvals,
 * oldest first, as many as the caps above let in (fewer than N when they do not all fit). malloc'd,
 * or NULL when the store failed. */
char *ophub_snapshot(struct ophub *h);

/* ---- waits ---- */

enum ophub_outcome {
	OPHUB_APPROVED, /* run it, once (the row is approved: claim it) */
	OPHUB_DENIED,   /* message: the operator's, or NULL */
	OPHUB_EXPIRED,  /* nobody decided in time */
};
struct ophub_result {
	enum ophub_outcome outcome;
	enum approval_decision decision; /* for APPROVED and DENIED */
	const char *by;                  /* who decided ("daemon" for an expiry) */
	const char *message;             /* or NULL */
};
/* Called once, for the end of a wait; the wait is gone when it returns. */
typedef void (*ophub_wake_fn)(void *ud, const struct ophub_result *r);

/* Writes the pending operator row a describes, tells the watchers, and arms its expiry (a->expires_at).
 * NULL when the store failed (nothing written, wake never called). */
struct ophub_wait *ophub_wait_start(struct ophub *h, const struct store_approval_new *a, ophub_wake_fn wake,
                                    void *ud);
/* The waiting response went away (disconnect, cancel, shutdown): pending -> abandoned with reason, the
 * watchers are told, and a later decision gets 409. wake is not called. NULL ok. */
void ophub_wait_abandon(struct ophub_wait *w, const char *reason);

/* ---- decisions ---- */

/* POST /v1/approvals/{id} (body: {decision, version, message?, ttl_s?}) and the stream's
 * approval.decide; actor: the operator ("uid=0", "operator:name"). *http_status set. New reference. */
json_t *ophub_decide(struct ophub *h, const char *id, const json_t *body, const char *actor,
                     int *http_status);
/* POST /v1/approvals (body: {response_id, decision, approvals: [{id, version}], message?, ttl_s?}): the
 * same decision for every pending approval of one response, all or none. The list must be exactly the
 * response's pending approvals at their versions, else 409 approvals_changed with the current ones. */
json_t *ophub_decide_batch(struct ophub *h, const json_t *body, const char *actor, int *http_status);

#endif
