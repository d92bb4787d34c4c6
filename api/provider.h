/*
 * provider: one HTTP exchange with a configured upstream.
 *
 * Everything a model turn (api/engine.c) and GET /v1/models (api/models.c) need of an upstream: its
 * target copied from the config (URL, HTTP/2, CA file, the Authorization line with forward_caller_auth
 * honoured), the transfer on xfer, an SSE stream or one JSON answer told apart by the Content-Type,
 * every body capped, pause/resume for a caller who does not read, and how a non-2xx answer or a failed
 * transfer becomes the caller's error envelope. Callers see JSON values, never bytes.
 */
#ifndef API_PROVIDER_H
#define API_PROVIDER_H

#include <stddef.h>

#include <jansson.h>

#include "api/apierr.h"

struct config_upstream;
struct redact;
struct xfer_ctx;

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

struct provider_request {
	const struct provider_target *target; /* read during provider_start only */
	const char *method;                   /* "GET" or "POST" */
	const char *path;                     /* appended to base_url: "/chat/completions" */
	const char *body;                     /* JSON text, or NULL */
	int stream;              /* 1: ask for SSE (the answer may still be one JSON, by its Content-Type);
	                          * 0: the answer is one JSON whatever its Content-Type says */
	long connect_timeout_ms; /* 0: curl's default */
	long idle_timeout_s;     /* 0: none */
	long total_timeout_ms;   /* 0: none */
	size_t max_answer_bytes; /* a JSON answer longer than this fails the exchange */
	size_t max_event_bytes;  /* one SSE event longer than this fails the exchange */
	long recv_buffer_bytes;  /* curl's receive buffer; 0: its default */
	struct redact *secrets;  /* replaced in the upstream's error text; NULL ok; must outlive the call */
};

struct provider_result {
	int ok;               /* a 2xx answer, read whole and parsed */
	long status;          /* the HTTP status, 0 when none came */
	struct api_error err; /* why, when !ok: the status mapped, a timeout, a cap, a bad answer */
	json_t *answer;       /* the one JSON answer, or NULL (streamed, or !ok); borrowed for on_done */
	int streamed;         /* the answer was an SSE stream */
	int saw_done;         /* ... and it ended with data: [DONE] */
	int stopped;          /* the owner's on_chunk stopped it (the owner knows why) */
	char retry_after[24]; /* a 429/503's valid Retry-After, in seconds; "": none or invalid */
};

struct provider_callbacks {
	/* A 2xx status came: the answer begins (stream or JSON). NULL ok. */
	void (*on_answer)(void *ud);
	/* One SSE event's JSON (borrowed). Non-zero stops the exchange (on_done has stopped set). */
	int (*on_chunk)(void *ud, json_t *chunk);
	/* 1: the owner cannot take more now; the transfer is paused until provider_resume. NULL ok. */
	int (*congested)(void *ud);
	/* The exchange is over; the call is freed when this returns (a new one may be started in it). */
	void (*on_done)(void *ud, const struct provider_result *r);
};

struct provider_call;

/* Starts the exchange; NULL (no callback) when it cannot start, with why in err. */
struct provider_call *provider_start(struct xfer_ctx *xfer, const struct provider_request *req,
                                     const struct provider_callbacks *cb, void *ud, struct api_error *err);
/* Undoes a pause asked for by congested. */
void provider_resume(struct provider_call *c);
/* Drops the exchange; no callback runs after this (safe from inside one). NULL ok. */
void provider_cancel(struct provider_call *c);

#endif
