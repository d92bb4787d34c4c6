/*
 * compact: the pieces of POST /v1/responses/compact that need no network: the instruction that asks
 * the model for a summary, the sealed `compaction` item (encrypted_content), and the
 * CompactResource. The engine runs the model turn.
 *
 * encrypted_content is opaque and tamper-evident, not secret (the caller supplied the context it
 * summarises): "thc1." + base64(summary) + "." + hex HMAC-SHA256(key, everything before the last
 * "."), with a 32-byte key the daemon keeps in its store. A token that does not verify is refused.
 * Pure functions; owned by the loop thread.
 */
#ifndef API_COMPACT_H
#define API_COMPACT_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#define COMPACT_KEY_BYTES 32
/* A summary longer than this is cut (it becomes context for every later turn). */
#define COMPACT_MAX_SUMMARY ((size_t)256 * 1024)

/* The user message appended to the context to ask for the summary. */
extern const char compact_instruction[];

/* Caller frees. Never NULL. */
char *compact_seal(const unsigned char key[COMPACT_KEY_BYTES], const char *summary, size_t len);
/* 0 with *summary (malloc'd, NUL-terminated) when token verifies; -1 when it is malformed or was
 * altered. */
int compact_open(const unsigned char key[COMPACT_KEY_BYTES], const char *token, char **summary);
/* {id, object:"response.compaction", created_at, output, usage}: output is every user message
 * item of context (copied, in order) followed by {type:"compaction", id:"cmp_...",
 * encrypted_content}. usage may be NULL (zeros). New reference. */
json_t *compact_resource(const char *id, int64_t created_at, const json_t *context,
                         const char *encrypted_content, const json_t *usage);

#endif
