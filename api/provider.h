/*
 * provider: one HTTP exchange with a configured upstream.
 *
 * What a model turn (api/engine.c) and GET /v1/models (api/models.c) share of an upstream: its target
 * copied from the config (URL, HTTP/2, CA file, the Authorization line with forward_caller_auth
 * honoured), and how a non-2xx answer becomes the caller's error envelope. The transfer itself (xfer,
 * SSE or JSON detection, pause/resume) is still driven by engine.c and models.c.
 */
#ifndef API_PROVIDER_H
#define API_PROVIDER_H

#include <stddef.h>

#include "api/apierr.h"

struct config_upstream;
struct redact;

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

/* The envelope for an upstream's non-2xx answer, keeping its message (redacted, bounded). */
void provider_error_for_status(long status, const char *body, size_t len, const char *upstream_name,
                               struct redact *secrets, struct api_error *err);

#endif
