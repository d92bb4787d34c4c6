/*
 * store: the daemon's SQLite database (WAL, synchronous=NORMAL, prepared statements), the only
 * place that includes sqlite3.h. Schema versioned with PRAGMA user_version and migrated forward on
 * open. This first version holds stored responses; the tool-list cache, approvals and the audit log
 * come with the MCP work.
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
 * put replaces a row with the same id (a response is written when it ends, and again if it is
 * cancelled later on).
 */
int store_response_put(struct store *s, const char *id, const char *response_json, const char *input_json,
                       int64_t created_at);
/* 0 found (*response_json and *input_json are malloc'd; either out-pointer may be NULL to skip it),
 * 1 not found, -1 error. */
int store_response_get(struct store *s, const char *id, char **response_json, char **input_json);
/* 0 deleted, 1 not found, -1 error. */
int store_response_delete(struct store *s, const char *id);
/* Number of stored responses, or -1 on error. */
int64_t store_response_count(struct store *s);

/* The last error message of this connection, for logs. */
const char *store_errmsg(struct store *s);

#endif
