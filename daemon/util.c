#include "daemon/util.h"

#include <errno.h>
#include <libwebsockets.h>
#include <limits.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

static void
oom(size_t n)
{
	/* stderr directly: the logger may need memory too. */
	fprintf(stderr, "<2>out of memory allocating %zu bytes\n", n);
	abort();
}

void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		oom(n);
	return p;
}

void *
xcalloc(size_t nmemb, size_t size)
{
	void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);

	if (p == NULL)
		oom(nmemb * size);
	return p;
}

void *
xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (q == NULL)
		oom(n);
	return q;
}

char *
xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *
xstrndup(const char *s, size_t n)
{
	char *p;
	size_t len = strnlen(s, n);

	p = xmalloc(len + 1);
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

char *
xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		oom(0);
	return s;
}

void
util_new_id(char *out, size_t outlen, const char *prefix)
{
	static const char hex[] = "0123456789abcdef";
	/* One getrandom per 16 ids instead of one per id (a response takes three). */
	static unsigned char pool[256];
	static size_t pool_used = sizeof pool;
	const unsigned char *rnd;
	size_t i, plen = strlen(prefix);

	if (outlen < plen + 34) {
		if (outlen)
			out[0] = '\0';
		return;
	}
	/* Ids are capabilities (anyone who knows a response id can read it): never predictable. getrandom
	 * returns up to 256 bytes whole once the kernel's pool is seeded, so a failure is fatal rather
	 * than a fallback. */
	if (pool_used == sizeof pool) {
		while (getrandom(pool, sizeof pool, 0) != (ssize_t)sizeof pool) {
			if (errno != EINTR) {
				fprintf(stderr, "<2>getrandom failed: %s\n", strerror(errno));
				abort();
			}
		}
		pool_used = 0;
	}
	rnd = pool + pool_used;
	pool_used += 16;
	memcpy(out, prefix, plen);
	out[plen] = '_';
	for (i = 0; i < 16; i++) {
		out[plen + 1 + 2 * i] = hex[rnd[i] >> 4];
		out[plen + 2 + 2 * i] = hex[rnd[i] & 15];
	}
	out[plen + 33] = '\0';
}

uint64_t
util_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t
util_mono_ms(void)
{
	return util_mono_us() / 1000u;
}

int64_t
util_wall_s(void)
{
	return (int64_t)time(NULL);
}

int64_t
util_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
util_secret_eq(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i;
	unsigned char diff = (unsigned char)(la != lb);

	for (i = 0; i < la; i++)
		diff |= (unsigned char)(a[i] ^ b[i % (lb ? lb : 1)]);
	return diff == 0;
}

char *
util_base64(const void *p, size_t n)
{
	size_t outlen;
	char *out;

	if (n > (size_t)INT_MAX / 2)
		return NULL;
	/* lws wants a little slack past the exact size (it checks room per 4-byte group). */
	outlen = (n + 2) / 3 * 4 + 8;
	out = xmalloc(outlen);
	if (lws_b64_encode_string(p, (int)n, out, (int)outlen) < 0) {
		free(out);
		return NULL;
	}
	return out;
}

/* OpenSSL 3 looks the algorithm up in its provider tables on every EVP_sha256() digest; fetched
 * once, the digest of a short string costs a fraction of that. Kept for the life of the process. */
static EVP_MD *
sha256_md(void)
{
	static EVP_MD *md;

	if (md == NULL)
		md = EVP_MD_fetch(NULL, "SHA256", NULL);
	return md;
}

void
util_sha256_hex(const void *p, size_t n, char out[65])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, i;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	const EVP_MD *alg = sha256_md();

	if (ctx == NULL || alg == NULL || !EVP_DigestInit_ex2(ctx, alg, NULL) ||
	    !EVP_DigestUpdate(ctx, p, n) || !EVP_DigestFinal_ex(ctx, md, &mdlen) || mdlen != 32) {
		fprintf(stderr, "<2>SHA-256 failed\n");
		abort();
	}
	EVP_MD_CTX_free(ctx);
	for (i = 0; i < mdlen; i++) {
		out[(size_t)2 * i] = hex[md[i] >> 4];
		out[(size_t)2 * i + 1] = hex[md[i] & 15];
	}
	out[64] = '\0';
}

void
util_hmac_sha256(const void *key, size_t keylen, const void *p, size_t n, unsigned char out[32])
{
	unsigned int mdlen = 0;

	/* NULL with length 0 is a fine empty message or key for our callers, but libcrypto reads a NULL
	 * key as "keep the previous key": hand it real (empty) buffers instead. */
	if (p == NULL)
		p = "";
	if (keylen > INT_MAX || HMAC(EVP_sha256(), key ? key : "", (int)keylen, p, n, out, &mdlen) == NULL ||
	    mdlen != 32) {
		/* Like SHA-256 above: only a broken libcrypto fails here, and a MAC that is not computed
		 * must never be compared. */
		fprintf(stderr, "<2>HMAC-SHA256 failed\n");
		abort();
	}
}

int
util_http_token(const char *s)
{
	static const char tchars[] =
	        "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

	return s && s[0] != '\0' && s[strspn(s, tchars)] == '\0';
}

char *
util_url_redact(const char *url)
{
	const char *scheme_end = url ? strstr(url, "://") : NULL, *host, *at, *path_end;
	size_t slen;

	if (!scheme_end)
		return xstrdup("");
	slen = (size_t)(scheme_end - url) + 3;
	host = url + slen;
	path_end = host + strcspn(host, "?#");
	at = memchr(host, '@', (size_t)(path_end - host));
	/* Only an '@' before the first '/' is user info. */
	if (at && memchr(host, '/', (size_t)(at - host)) == NULL)
		host = at + 1;
	return xasprintf("%.*s%.*s", (int)slen, url, (int)(path_end - host), host);
}
