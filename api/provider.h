/*
 * provider: one HTTP exchange with a configured upstream.
 *
 * The upstream part of a model turn (api/engine.c) and of GET /v1/models (api/models.c): the target
 * (URL, HTTP/2, CA file, the Authorization line), the request, and the answer read as SSE events, a
 * capped JSON body or a capped error body, ending in one result with an api_error for any failure.
 * So far only the target and the status mapping are implemented; provider_start, provider_resume and
 * provider_cancel are declared for the next step and not defined yet.
 */
#ifndef API_PROVIDER_H
#define API_PROVIDER_H

#include <stddef.h>

#include "api/apierr.h"

struct config_upstream;
struct redact;
struct xfer_ctx;
struct provider;

/* Copied from the config: a SIGHUP may free it while an exchange runs. */
struct provider_target {
	char *name;
	char *base_url;
	int http2;
	char *ca_file;     /* NULL: the system's trust store */
	char *auth_header; /* "Authorization: Bearer ...", or NULL; secret: wiped by clear */
};

/* The upstream's api_key, or the caller's bearer (NULL ok) when forward_caller_auth is set. */
void provider_target_init(struct provider_target *t, const struct config_upstream *up,
                          const char *caller_bearer);
void provider_target_clear(struct provider_target *t);

struct provider_request {
	const char *method; /* "GET" or "POST" */
	const char *path;   /* appended to base_url, e.g. "/chat/completions" */
	const char *body;   /* NULL: none */
	size_t body_len;
	long connect_timeout_ms;
	long idle_timeout_s;
	long total_timeout_ms;
	size_t max_body_bytes;  /* cap on a JSON answer */
	size_t max_event_bytes; /* cap on one SSE event */
	size_t max_error_bytes; /* kept of an error body */
	long recv_buffer_bytes;
	struct redact *secrets; /* replaced in the upstream's texts that reach an api_error */
};

struct provider_result {
	int ok;
	long http_status;
	int saw_done;     /* an SSE answer ended with data: [DONE] */
	const char *body; /* the JSON answer, or the error body; valid during on_done only */
	size_t body_len;
	const char *retry_after; /* a checked Retry-After of a 429/503 in seconds, or "" */
	struct api_error err;    /* filled when !ok */
};

struct provider_callbacks {
	void (*on_open)(void *ud, int is_sse); /* a 2xx arrived */
	/* Each SSE data event but [DONE]; nonzero stops the exchange (the callee set its own error). */
	int (*on_sse_event)(void *ud, const char *data, size_t len);
	int (*congested)(void *ud); /* nonzero: hold the bytes until provider_resume */
	void (*on_done)(void *ud, const struct provider_result *r);
};

/* NULL when the exchange cannot start (curl refused it); then no callback runs. */
struct provider *provider_start(struct xfer_ctx *x, const struct provider_target *t,
                                const struct provider_request *req, const struct provider_callbacks *cb,
                                void *ud);
void provider_resume(struct provider *p);
void provider_cancel(struct provider *p);

/* The envelope for an upstream's non-2xx answer, keeping its message (redacted, bounded). */
void provider_error_for_status(long status, const char *body, size_t len, const char *upstream_name,
                               struct redact *secrets, struct api_error *err);

#endif
