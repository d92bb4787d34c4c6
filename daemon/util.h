/*
 * util: allocation that never returns NULL, ids, clocks. Used by every module; uses none.
 * Out of memory is not a condition this daemon recovers from: x*alloc log and abort().
 */
#ifndef DAEMON_UTIL_H
#define DAEMON_UTIL_H

#include <stddef.h>
#include <stdint.h>

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* Caller owns the result. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Writes prefix + "_" + 32 random hex characters (from getrandom) into out; out must hold
 * strlen(prefix) + 34 bytes. Example: util_new_id(buf, sizeof buf, "resp"). */
void util_new_id(char *out, size_t outlen, const char *prefix);

/* Monotonic milliseconds / microseconds, and wall-clock seconds / milliseconds since the epoch. */
uint64_t util_mono_ms(void);
uint64_t util_mono_us(void);
int64_t util_wall_s(void);
int64_t util_wall_ms(void);

/* Standard base64 of p[0..n) (lws' encoder); caller frees. NULL when n is too large to encode. */
char *util_base64(const void *p, size_t n);

/* Lowercase hex SHA-256 (OpenSSL's) of p[0..n) into out, which must hold 65 bytes. */
void util_sha256_hex(const void *p, size_t n, char out[65]);

/* HMAC-SHA256 (OpenSSL's) of p[0..n) under key[0..keylen) into out (32 bytes). */
void util_hmac_sha256(const void *key, size_t keylen, const void *p, size_t n, unsigned char out[32]);

/* scheme://host[:port]/path of url, without user info, query or fragment, which may hold
 * credentials: the form of a URL fit for logs and answers. Caller frees. */
char *util_url_redact(const char *url);

/* 1 when s is a non-empty token of RFC 9110 (the characters an HTTP header name may hold). */
int util_http_token(const char *s);

/* Constant-time comparison of two NUL-terminated secrets: 1 when equal. */
int util_secret_eq(const char *a, const char *b);

#endif
