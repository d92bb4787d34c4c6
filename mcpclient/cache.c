/* cache: see cache.h. */
#include <stdlib.h>
#include <string.h>

#include "daemon/log.h"
#include "daemon/util.h"
#include "mcpclient/cache.h"
#include "store/store.h"

/* Memory entries beyond this evict the oldest: callers may name many servers and credentials. */
#define CACHE_MAX_ENTRIES 1024

struct entry {
	char *url, *cred, *version;
	json_t *tools;
	int64_t expires_at;
	struct entry *next;
};

struct transport {
	char *url, *transport, *version;
	struct transport *next;
};

struct mcp_cache {
	struct store *store;
	struct entry *entries; /* newest first */
	int nentries;
	struct transport *transports;
	int ntransports;
};

struct mcp_cache *
mcp_cache_new(struct store *store)
{
	struct mcp_cache *c = xcalloc(1, sizeof *c);

	c->store = store;
	return c;
}

static void
entry_free(struct entry *e)
{
	free(e->url);
	free(e->cred);
	free(e->version);
	json_decref(e->tools);
	free(e);
}

static void
transport_free(struct transport *t)
{
	free(t->url);
	free(t->transport);
	free(t->version);
	free(t);
}

void
mcp_cache_free(struct mcp_cache *c)
{
	struct entry *e;
	struct transport *t;

	if (!c)
		return;
	while ((e = c->entries)) {
		c->entries = e->next;
		entry_free(e);
	}
	while ((t = c->transports)) {
		c->transports = t->next;
		transport_free(t);
	}
	free(c);
}

static struct entry **
find(struct mcp_cache *c, const char *url, const char *cred, const char *version)
{
	struct entry **pp;

	for (pp = &c->entries; *pp; pp = &(*pp)->next)
		if (strcmp((*pp)->url, url) == 0 && strcmp((*pp)->cred, cred) == 0 &&
		    strcmp((*pp)->version, version) == 0)
			return pp;
	return NULL;
}

static void
remember(struct mcp_cache *c, const char *url, const char *cred, const char *version, json_t *tools,
         int64_t expires_at)
{
	struct entry **pp = find(c, url, cred, version), *e;

	if (pp) {
		e = *pp;
		*pp = e->next;
		c->nentries--;
		entry_free(e);
	}
	e = xcalloc(1, sizeof *e);
	e->url = xstrdup(url);
	e->cred = xstrdup(cred);
	e->version = xstrdup(version);
	e->tools = json_incref(tools);
	e->expires_at = expires_at;
	e->next = c->entries;
	c->entries = e;
	if (++c->nentries > CACHE_MAX_ENTRIES) {
		for (pp = &c->entries; (*pp)->next; pp = &(*pp)->next)
			;
		entry_free(*pp);
		*pp = NULL;
		c->nentries--;
	}
}

json_t *
mcp_cache_get(struct mcp_cache *c, const char *url, const char *cred, const char *version, int64_t now)
{
	struct entry **pp = find(c, url, cred, version);
	char *text = NULL;
	int64_t expires_at = 0;
	json_t *tools;

	if (pp && (*pp)->expires_at > now)
		return (*pp)->tools;
	if (pp) {
		struct entry *e = *pp;

		*pp = e->next;
		c->nentries--;
		entry_free(e);
	}
	if (!c->store || store_toolcache_get(c->store, url, cred, version, now, &text, &expires_at) != 0)
		return NULL;
	tools = json_loads(text, 0, NULL);
	free(text);
	if (!json_is_array(tools)) {
		/* Not written by us, or damaged: forget it rather than trust it. */
		json_decref(tools);
		store_toolcache_delete(c->store, url, cred);
		return NULL;
	}
	remember(c, url, cred, version, tools, expires_at);
	json_decref(tools);
	return c->entries->tools;
}

void
mcp_cache_put(struct mcp_cache *c, const char *url, const char *cred, const char *version, json_t *tools,
              int64_t now, long ttl_s)
{
	char *text;

	if (ttl_s <= 0)
		return;
	remember(c, url, cred, version, tools, now + ttl_s);
	if (!c->store)
		return;
	text = json_dumps(tools, JSON_COMPACT);
	if (!text || store_toolcache_put(c->store, url, cred, version, text, now, now + ttl_s) != 0) {
		char *u = util_url_redact(url);

		log_warnx("mcp cache: cannot store the listing of %s: %s", u, store_errmsg(c->store));
		free(u);
	}
	free(text);
	store_toolcache_purge(c->store, now);
}

void
mcp_cache_invalidate(struct mcp_cache *c, const char *url, const char *cred)
{
	struct entry **pp = &c->entries, *e;

	while ((e = *pp)) {
		if (!url || (strcmp(e->url, url) == 0 && (!cred || strcmp(e->cred, cred) == 0))) {
			*pp = e->next;
			c->nentries--;
			entry_free(e);
		} else {
			pp = &e->next;
		}
	}
	if (c->store && store_toolcache_delete(c->store, url, url ? cred : NULL) < 0)
		log_warnx("mcp cache: cannot drop listings: %s", store_errmsg(c->store));
}

int
mcp_cache_transport_get(struct mcp_cache *c, const char *url, char **transport, char **version)
{
	struct transport *t;

	for (t = c->transports; t; t = t->next) {
		if (strcmp(t->url, url) == 0) {
			*transport = xstrdup(t->transport);
			*version = xstrdup(t->version);
			return 0;
		}
	}
	if (c->store && store_mcp_transport_get(c->store, url, transport, version) == 0) {
		if (strcmp(*transport, "streamable") == 0 || strcmp(*transport, "sse") == 0)
			return 0;
		free(*transport);
		free(*version);
	}
	*transport = *version = NULL;
	return 1;
}

void
mcp_cache_transport_put(struct mcp_cache *c, const char *url, const char *transport, const char *version,
                        int64_t now)
{
	struct transport *t;

	for (t = c->transports; t; t = t->next)
		if (strcmp(t->url, url) == 0)
			break;
	if (t && strcmp(t->transport, transport) == 0 && strcmp(t->version, version) == 0)
		return; /* nothing new: spare the store a write */
	if (!t) {
		t = xcalloc(1, sizeof *t);
		t->url = xstrdup(url);
		t->next = c->transports;
		c->transports = t;
		c->ntransports++;
	}
	free(t->transport);
	free(t->version);
	t->transport = xstrdup(transport);
	t->version = xstrdup(version);
	if (c->store && store_mcp_transport_put(c->store, url, transport, version, now) != 0) {
		char *u = util_url_redact(url);

		log_warnx("mcp cache: cannot remember the transport of %s: %s", u, store_errmsg(c->store));
		free(u);
	}
}
