/*
 * cache: tool listings, in memory in front of the store (which may be absent). A listing is keyed by
 * (url, credential hash, protocol version): two credentials never share a row, because a server may
 * show each caller different tools. Also remembers per URL the transport and protocol version last
 * negotiated, so that a restarted daemon finds a fresh row without touching the network.
 * Times are wall-clock seconds (rows outlive the process). Owned by the client; one loop thread.
 */
#ifndef MCPCLIENT_CACHE_H
#define MCPCLIENT_CACHE_H

#include <jansson.h>
#include <stdint.h>

struct store;
struct mcp_cache;

struct mcp_cache *mcp_cache_new(struct store *store);
void mcp_cache_free(struct mcp_cache *c);

/* The fresh listing (borrowed, valid until the next cache call) or NULL. */
json_t *mcp_cache_get(struct mcp_cache *c, const char *url, const char *cred, const char *version,
                      int64_t now);
/* Stores a listing (tools borrowed) that expires ttl_s seconds after now. */
void mcp_cache_put(struct mcp_cache *c, const char *url, const char *cred, const char *version, json_t *tools,
                   int64_t now, long ttl_s);
/* Drops the listings of url for cred (NULL: every credential); url NULL drops everything. */
void mcp_cache_invalidate(struct mcp_cache *c, const char *url, const char *cred);

/* The transport ("streamable" / "sse") and version last negotiated with url: 0 found (both malloc'd),
 * 1 unknown. */
int mcp_cache_transport_get(struct mcp_cache *c, const char *url, char **transport, char **version);
void mcp_cache_transport_put(struct mcp_cache *c, const char *url, const char *transport, const char *version,
                             int64_t now);

#endif
