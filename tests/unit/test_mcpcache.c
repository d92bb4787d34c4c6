/*
 * Unit tests for mcpclient/cache.c: the tool-listing cache and the per-URL transport memory. The same
 * contract checks run memory-only (store NULL) and over a real store in a mkdtemp directory; the store
 * runs add what only a store can show: a second cache (and a reopened database) finds the rows, a
 * damaged row is dropped rather than served, a stored transport other than streamable/sse is ignored.
 */
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "daemon/util.h"
#include "mcpclient/cache.h"
#include "store/store.h"
#include "tests/unit/t.h"

#define U1 "http://127.0.0.1:3000/mcp"
#define U2 "https://mcp.example.com/mcp"
#define V1 "2025-11-25"
#define V2 "2025-06-18"
#define T0 ((int64_t)1700000000)

static char tmpdir[] = "/tmp/test_mcpcache.XXXXXX";
static char *dbpath;

static int
rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

/* A listing with one tool of the given name. */
static json_t *
listing(const char *name)
{
	return json_pack("[{s:s, s:{s:s}}]", "name", name, "inputSchema", "type", "object");
}

/* get returns a listing equal to want (NULL: no listing). */
static int
got(struct mcp_cache *c, const char *url, const char *cred, const char *version, int64_t now, json_t *want)
{
	json_t *j = mcp_cache_get(c, url, cred, version, now);

	return want ? j != NULL && json_equal(j, want) : j == NULL;
}

/* The store holds a fresh row for the key. */
static int
in_store(struct store *s, const char *url, const char *cred, const char *version, int64_t now)
{
	char *text = NULL;
	int rc = store_toolcache_get(s, url, cred, version, now, &text, NULL);

	free(text);
	return rc == 0;
}

static void
test_fresh_and_expiry(struct store *s)
{
	struct mcp_cache *c = mcp_cache_new(s);
	json_t *a = listing("alpha"), *b = listing("beta");

	T(got(c, U1, "A", V1, T0, NULL));
	mcp_cache_put(c, U1, "A", V1, a, T0, 60);
	T(got(c, U1, "A", V1, T0, a));
	T(got(c, U1, "A", V1, T0 + 59, a));
	/* Expired at now >= expires. */
	T(got(c, U1, "A", V1, T0 + 60, NULL));
	T(got(c, U1, "A", V1, T0 + 61, NULL));

	/* put replaces the listing of the same key. */
	mcp_cache_put(c, U1, "A", V1, a, T0, 60);
	mcp_cache_put(c, U1, "A", V1, b, T0 + 10, 60);
	T(got(c, U1, "A", V1, T0 + 11, b));
	T(got(c, U1, "A", V1, T0 + 69, b));
	T(got(c, U1, "A", V1, T0 + 70, NULL));

	/* ttl_s <= 0 stores nothing. */
	mcp_cache_put(c, U2, "A", V1, a, T0, 0);
	T(got(c, U2, "A", V1, T0 - 1, NULL)); /* the wall clock may step back */
	T(got(c, U2, "A", V1, T0, NULL));
	mcp_cache_put(c, U2, "A", V1, a, T0, -5);
	T(got(c, U2, "A", V1, T0, NULL));
	if (s)
		T(!in_store(s, U2, "A", V1, T0));

	mcp_cache_free(c);
	mcp_cache_free(NULL);
	json_decref(a);
	json_decref(b);
}

/* Credentials and protocol versions never share a listing. */
static void
test_keys(struct store *s)
{
	struct mcp_cache *c = mcp_cache_new(s);
	json_t *a = listing("for_a"), *b = listing("for_b"), *v2 = listing("v2"), *anon = listing("anon");

	mcp_cache_put(c, U1, "A", V1, a, T0, 60);
	T(got(c, U1, "B", V1, T0, NULL));
	T(got(c, U1, "", V1, T0, NULL));
	T(got(c, U1, "A", V2, T0, NULL));
	T(got(c, U2, "A", V1, T0, NULL));
	T(got(c, U1 "x", "A", V1, T0, NULL));

	mcp_cache_put(c, U1, "B", V1, b, T0, 60);
	mcp_cache_put(c, U1, "A", V2, v2, T0, 60);
	mcp_cache_put(c, U1, "", V1, anon, T0, 60);
	T(got(c, U1, "A", V1, T0, a));
	T(got(c, U1, "B", V1, T0, b));
	T(got(c, U1, "A", V2, T0, v2));
	T(got(c, U1, "", V1, T0, anon));

	mcp_cache_free(c);
	json_decref(a);
	json_decref(b);
	json_decref(v2);
	json_decref(anon);
}

static void
put3(struct mcp_cache *c, json_t *l)
{
	mcp_cache_put(c, U1, "A", V1, l, T0, 60);
	mcp_cache_put(c, U1, "B", V1, l, T0, 60);
	mcp_cache_put(c, U2, "A", V1, l, T0, 60);
}

static void
test_invalidate(struct store *s)
{
	struct mcp_cache *c = mcp_cache_new(s);
	json_t *l = listing("x");

	/* url + cred: only that credential's listings of that url (every version). */
	put3(c, l);
	mcp_cache_put(c, U1, "A", V2, l, T0, 60);
	mcp_cache_invalidate(c, U1, "A");
	T(got(c, U1, "A", V1, T0, NULL));
	T(got(c, U1, "A", V2, T0, NULL));
	T(got(c, U1, "B", V1, T0, l));
	T(got(c, U2, "A", V1, T0, l));
	if (s) {
		T(!in_store(s, U1, "A", V1, T0) && !in_store(s, U1, "A", V2, T0));
		T(in_store(s, U1, "B", V1, T0) && in_store(s, U2, "A", V1, T0));
	}

	/* url + NULL: every credential of that url. */
	put3(c, l);
	mcp_cache_invalidate(c, U1, NULL);
	T(got(c, U1, "A", V1, T0, NULL));
	T(got(c, U1, "B", V1, T0, NULL));
	T(got(c, U2, "A", V1, T0, l));
	if (s)
		T(!in_store(s, U1, "B", V1, T0) && in_store(s, U2, "A", V1, T0));

	/* NULL url: everything. */
	put3(c, l);
	mcp_cache_invalidate(c, NULL, NULL);
	T(got(c, U1, "A", V1, T0, NULL));
	T(got(c, U1, "B", V1, T0, NULL));
	T(got(c, U2, "A", V1, T0, NULL));
	if (s)
		T(!in_store(s, U2, "A", V1, T0));

	/* NULL url drops everything whatever cred is (cache.h), as the store does. */
	put3(c, l);
	mcp_cache_invalidate(c, NULL, "A");
	T(got(c, U1, "A", V1, T0, NULL));
	T(got(c, U2, "A", V1, T0, NULL));
	T(got(c, U1, "B", V1, T0, NULL));

	/* Invalidating what is not there is harmless. */
	mcp_cache_invalidate(c, "http://nowhere/", "Z");
	mcp_cache_invalidate(c, NULL, NULL);

	mcp_cache_free(c);
	json_decref(l);
}

static void
test_transport(struct store *s)
{
	struct mcp_cache *c = mcp_cache_new(s);
	char *t = NULL, *v = NULL;

	T(mcp_cache_transport_get(c, U1, &t, &v) == 1);
	mcp_cache_transport_put(c, U1, "streamable", V1, T0);
	T(mcp_cache_transport_get(c, U1, &t, &v) == 0);
	T_STREQ(t, "streamable");
	T_STREQ(v, V1);
	free(t);
	free(v);
	T(mcp_cache_transport_get(c, U2, &t, &v) == 1);

	/* A later negotiation replaces the earlier one. */
	mcp_cache_transport_put(c, U1, "sse", "2024-11-05", T0 + 1);
	T(mcp_cache_transport_get(c, U1, &t, &v) == 0);
	T_STREQ(t, "sse");
	T_STREQ(v, "2024-11-05");
	free(t);
	free(v);
	mcp_cache_free(c);
}

/* Many listings: with a store, none is lost to the memory bound; without one, the newest stay. */
static void
test_many(struct store *s)
{
	struct mcp_cache *c = mcp_cache_new(s);
	json_t *l = listing("many");
	char url[64];
	int i, found_first, found_last;

	for (i = 0; i < 1100; i++) {
		snprintf(url, sizeof url, "http://h%d.example/mcp", i);
		mcp_cache_put(c, url, "A", V1, l, T0, 60);
	}
	found_first = got(c, "http://h0.example/mcp", "A", V1, T0, l);
	found_last = got(c, "http://h1099.example/mcp", "A", V1, T0, l);
	T(found_last);
	if (s)
		T(found_first);
	mcp_cache_free(c);
	json_decref(l);
}

static void
run_contract(struct store *s)
{
	test_fresh_and_expiry(s);
	test_keys(s);
	test_invalidate(s);
	test_transport(s);
	test_many(s);
}

/* A new cache over the same store (a restarted daemon) finds what the first one stored. */
static void
test_restart(struct store *s)
{
	struct mcp_cache *c = mcp_cache_new(s);
	json_t *a = listing("kept"), *b = listing("other_cred");
	char *t = NULL, *v = NULL, err[256] = "";

	mcp_cache_put(c, U1, "A", V1, a, T0, 60);
	mcp_cache_put(c, U1, "B", V1, b, T0, 60);
	mcp_cache_transport_put(c, U1, "sse", "2024-11-05", T0);
	mcp_cache_transport_put(c, U2, "streamable", V2, T0);
	mcp_cache_free(c);

	c = mcp_cache_new(s);
	T(got(c, U1, "A", V1, T0 + 30, a));
	T(got(c, U1, "B", V1, T0 + 30, b));
	T(got(c, U1, "A", V2, T0 + 30, NULL));
	T(mcp_cache_transport_get(c, U1, &t, &v) == 0);
	T_STREQ(t, "sse");
	T_STREQ(v, "2024-11-05");
	free(t);
	free(v);
	mcp_cache_free(c);

	/* Past the TTL, the row is not served. */
	c = mcp_cache_new(s);
	T(got(c, U1, "A", V1, T0 + 60, NULL));
	mcp_cache_free(c);

	/* Through a closed and reopened database too. */
	store_close(s);
	s = store_open(dbpath, err, sizeof err);
	T(s != NULL);
	if (!s) {
		printf("store_open: %s\n", err);
		json_decref(a);
		json_decref(b);
		return;
	}
	c = mcp_cache_new(s);
	T(got(c, U1, "B", V1, T0 + 59, b));
	T(mcp_cache_transport_get(c, U2, &t, &v) == 0);
	T_STREQ(t, "streamable");
	T_STREQ(v, V2);
	free(t);
	free(v);
	mcp_cache_free(c);
	store_close(s);
	json_decref(a);
	json_decref(b);
}

/* What the store holds was not necessarily written by us: anything but an array is dropped. */
static void
test_damaged(struct store *s)
{
	static const char *const bad[] = {
	        "{\"not\":\"an array\"}", "garbage", "", "\"tools\"", "[1,", "null"};
	struct mcp_cache *c;
	size_t i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		T(store_toolcache_put(s, U2, "D", V1, bad[i], T0, T0 + 60) == 0);
		c = mcp_cache_new(s);
		if (!got(c, U2, "D", V1, T0 + 1, NULL) || in_store(s, U2, "D", V1, T0 + 1)) {
			printf("damaged row \"%s\" was served or kept\n", bad[i]);
			T(0);
		} else {
			T(1);
		}
		mcp_cache_free(c);
	}

	/* A hand-written array is served like ours. */
	T(store_toolcache_put(s, U2, "D", V1, "[{\"name\":\"hand\",\"inputSchema\":{}}]", T0, T0 + 60) == 0);
	c = mcp_cache_new(s);
	{
		json_t *want = json_pack("[{s:s, s:{}}]", "name", "hand", "inputSchema");

		T(got(c, U2, "D", V1, T0 + 1, want));
		json_decref(want);
	}
	mcp_cache_free(c);
}

static void
test_bad_transport(struct store *s)
{
	static const char *const bad[] = {"websocket", "", "STREAMABLE", "sse "};
	struct mcp_cache *c;
	char *t, *v;
	size_t i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		T(store_mcp_transport_put(s, U2, bad[i], V1, T0) == 0);
		c = mcp_cache_new(s);
		t = v = NULL;
		if (mcp_cache_transport_get(c, U2, &t, &v) != 1) {
			printf("stored transport \"%s\" was accepted\n", bad[i]);
			T(0);
			free(t);
			free(v);
		} else {
			T(1);
		}
		mcp_cache_free(c);
	}
	T(store_mcp_transport_put(s, U2, "streamable", V1, T0) == 0);
	c = mcp_cache_new(s);
	t = v = NULL;
	T(mcp_cache_transport_get(c, U2, &t, &v) == 0);
	T_STREQ(t, "streamable");
	free(t);
	free(v);
	mcp_cache_free(c);
}

/* 1 when the file at path holds needle anywhere (the database file, after a checkpointing close). */
static int
file_has(const char *path, const char *needle)
{
	FILE *f = fopen(path, "rb");
	size_t n = 0, cap = 0, k, nl = strlen(needle);
	char *buf = NULL;
	int found = 0;

	if (f == NULL)
		return 0;
	for (;;) {
		if (n == cap)
			buf = xrealloc(buf, cap = cap ? cap * 2 : 65536);
		k = fread(buf + n, 1, cap - n, f);
		if (k == 0)
			break;
		n += k;
	}
	fclose(f);
	for (k = 0; !found && k + nl <= n; k++)
		found = memcmp(buf + k, needle, nl) == 0;
	free(buf);
	return found;
}

/*
 * Issue 11, 9: a credential in a URL's query (or user info) never reaches the database file, yet the
 * rows of two queries stay apart and a restarted daemon finds its own. Closes s.
 */
static void
test_query_secret(struct store *s)
{
#define UQ1 "https://mcp.example.com/mcp?token=s3cr3t-one&x=1"
#define UQ2 "https://mcp.example.com/mcp?token=s3cr3t-two&x=1"
#define UUI "https://alice:pw-s3cr3t-three@mcp.example.com/mcp"
	struct mcp_cache *c = mcp_cache_new(s);
	json_t *a = listing("one"), *b = listing("two"), *u = listing("three");
	char *t = NULL, *v = NULL, err[256] = "";

	mcp_cache_put(c, UQ1, "A", V1, a, T0, 60);
	mcp_cache_put(c, UQ2, "A", V1, b, T0, 60);
	mcp_cache_put(c, UUI, "A", V1, u, T0, 60);
	mcp_cache_transport_put(c, UQ1, "sse", "2024-11-05", T0);
	mcp_cache_transport_put(c, UUI, "streamable", V2, T0);
	mcp_cache_free(c);
	T(in_store(s, UQ1, "A", V1, T0 + 1));
	T(in_store(s, UQ2, "A", V1, T0 + 1));
	T(!in_store(s, "https://mcp.example.com/mcp", "A", V1, T0 + 1));
	T(!in_store(s, "https://mcp.example.com/mcp?token=s3cr3t-one", "A", V1, T0 + 1));
	T(!in_store(s, "https://mcp.example.com/mcp?sha256=x", "A", V1, T0 + 1));
	store_close(s);
	T(!file_has(dbpath, "s3cr3t"));
	T(!file_has(dbpath, "token="));
	T(!file_has(dbpath, "alice"));

	s = store_open(dbpath, err, sizeof err);
	T(s != NULL);
	if (s == NULL) {
		printf("store_open: %s\n", err);
		goto out;
	}
	c = mcp_cache_new(s);
	T(got(c, UQ1, "A", V1, T0 + 30, a));
	T(got(c, UQ2, "A", V1, T0 + 30, b));
	T(got(c, UUI, "A", V1, T0 + 30, u));
	T(mcp_cache_transport_get(c, UQ1, &t, &v) == 0);
	T_STREQ(t, "sse");
	free(t);
	free(v);
	T(mcp_cache_transport_get(c, UQ2, &t, &v) == 1);
	T(mcp_cache_transport_get(c, UUI, &t, &v) == 0);
	T_STREQ(t, "streamable");
	free(t);
	free(v);
	/* Invalidation by URL finds the rows of that query only. */
	mcp_cache_invalidate(c, UQ1, NULL);
	T(!in_store(s, UQ1, "A", V1, T0 + 1));
	T(in_store(s, UQ2, "A", V1, T0 + 1));
	mcp_cache_free(c);
	store_close(s);
out:
	json_decref(a);
	json_decref(b);
	json_decref(u);
#undef UQ1
#undef UQ2
#undef UUI
}

static struct store *
open_store(const char *name)
{
	char err[256] = "";
	struct store *s;

	free(dbpath);
	dbpath = xasprintf("%s/%s", tmpdir, name);
	s = store_open(dbpath, err, sizeof err);
	if (!s)
		printf("store_open %s: %s\n", dbpath, err);
	T(s != NULL);
	return s;
}

int
main(void)
{
	struct store *s;

	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}

	/* Memory only. */
	run_contract(NULL);

	/* Over a store. */
	s = open_store("contract.db");
	if (s) {
		run_contract(s);
		store_close(s);
	}
	s = open_store("restart.db");
	if (s)
		test_restart(s); /* closes s */
	s = open_store("query.db");
	if (s)
		test_query_secret(s); /* closes s */
	s = open_store("damaged.db");
	if (s) {
		test_damaged(s);
		test_bad_transport(s);
		store_close(s);
	}

	free(dbpath);
	nftw(tmpdir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	return T_DONE();
}
