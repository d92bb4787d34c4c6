/*
 * redact: a set of secret strings (upstream keys, API keys, MCP bearer tokens and header values, a
 * request's own MCP headers and authorization, a forwarded caller bearer) and the functions that
 * replace every occurrence of any of them by REDACT_MARK in text a peer sent us, before that text
 * reaches a caller, the model, the store or the log. A peer (an upstream's 401 page, an MCP server
 * that echoes its request) can only quote what it was sent; this is what keeps the quote from
 * travelling further.
 *
 * What counts as a secret:
 *  - A value shorter than REDACT_MIN_LEN bytes is not added: a header value "1" or "yes" would turn
 *    every "1" of a tool result into the mark while protecting nothing (so short a value is not a
 *    credential anyone can rely on).
 *  - Each secret is matched as its bytes and as the body of its JSON string literal (with and without
 *    "\/" for "/"), when those differ: peers that echo a request usually build JSON from it (a debug
 *    tool returning its headers as JSON text, an error body quoting them), so a secret with '"', '\'
 *    or '/' (base64 tokens have '/') shows up escaped inside text that we only see as a string.
 *    Percent-encoding and base64 of a secret are not matched: we never send secrets in URLs, and a peer
 *    has to encode on purpose to produce them, and a peer that does so can as well use an encoding no
 *    filter knows. Matching is exact (case-sensitive), like the secrets themselves.
 *  - An "Authorization: <scheme> <credentials>" header adds both "<scheme> <credentials>" and the
 *    credentials alone.
 *
 * Overlapping or adjacent occurrences (of one secret or several) become one mark: the union of the
 * matched bytes is replaced, so no tail of a secret is left beside the mark.
 *
 * Cost: an empty set (or NULL) costs one pointer test per call. Otherwise each secret scans the text
 * once with memmem (glibc's is linear in the haystack), its search resuming after its last match, and
 * self-overlapping copies of a secret are followed by its period: a text of n bytes costs
 * O(secrets x n), never secrets x n x restarts. (A text made so that the overlaps of two different
 * secrets alternate can cost up to a secret's length more per byte of the run; secrets are at most
 * 4 KiB.) Strings that hold no secret are not copied (redact_json shares them).
 *
 * A set is filled once (per job, per admin request, per MCP session), then only read. Owned by
 * whoever made it; loop thread.
 */
#ifndef DAEMON_REDACT_H
#define DAEMON_REDACT_H

#include <stddef.h>
#include <jansson.h>

#define REDACT_MARK    "[redacted]"
#define REDACT_MIN_LEN 8

struct config;
struct redact;

struct redact *redact_new(void);
/* Wipes the secrets and frees the set. NULL is a no-op. */
void redact_free(struct redact *r);

/* Adds secret (copied) and its JSON-escaped forms; too short (REDACT_MIN_LEN), NULL or already
 * present: nothing happens. */
void redact_add(struct redact *r, const char *secret);
/* A "Name: value" header line: the value and, for Authorization (or Proxy-Authorization), the
 * credentials after the scheme. */
void redact_add_header(struct redact *r, const char *line);
/* A NULL-terminated array of header lines; NULL is a no-op. */
void redact_add_headers(struct redact *r, const char *const *lines);
/* The credentials a URL may carry: its user info (whole, and the password), and each query value,
 * as written and percent-decoded (values under REDACT_MIN_LEN are left, like any short secret). */
void redact_add_url(struct redact *r, const char *url);
/* Every secret of the config: api_keys, upstream api keys, the MCP servers' headers. */
void redact_add_config(struct redact *r, const struct config *cfg);
/* 1 when r is NULL or holds nothing to look for. */
int redact_empty(const struct redact *r);

/* s[0..len): NULL when it holds no secret (keep s); else the rewritten text (caller frees, NUL
 * terminated, length in *out_len when out_len is not NULL). */
char *redact_text(const struct redact *r, const char *s, size_t len, size_t *out_len);
/* Rewrites the NUL-terminated s, held in a buffer of cap bytes, in place; a result longer than
 * cap - 1 is cut at a UTF-8 character boundary. Returns the number of marks written. */
size_t redact_inplace(const struct redact *r, char *s, size_t cap);
/* Always a new string (caller frees): s rewritten, or a copy of it. s NULL gives NULL. */
char *redact_strdup(const struct redact *r, const char *s);
/* A new reference: v itself when no string or object key in it holds a secret, else a copy in which
 * every such string and key is rewritten (v is not modified: it may be shared, e.g. by a cache).
 * NULL gives NULL. */
json_t *redact_json(const struct redact *r, json_t *v);
/* Replaces obj[key] (when present) by redact_json of it: for items that others hold references to. */
void redact_json_member(const struct redact *r, json_t *obj, const char *key);

#endif
