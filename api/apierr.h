/*
 * apierr: the Open Responses error envelope. Every failure the caller sees goes through this:
 * {"error":{"message","type","param","code"}} with a real HTTP status, or an `error` event while
 * streaming. Types (spec "Errors"): invalid_request 400/411/413, authentication_error 401/403,
 * not_found 404, too_many_requests 429, server_error 500/503, model_error 502/504 (upstream).
 */
#ifndef API_APIERR_H
#define API_APIERR_H

#include <jansson.h>

struct api_error {
	int status;      /* HTTP status */
	char type[32];   /* e.g. "invalid_request" */
	char code[64];   /* "" means null */
	char param[128]; /* "" means null */
	char message[512];
};

/* Fills e. code and param may be NULL. Returns -1 so that `return api_error_set(...)` reads well. */
int api_error_set(struct api_error *e, int status, const char *type, const char *code, const char *param,
                  const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* Shorthand: 400 invalid_request with the given param and code. */
int api_error_bad(struct api_error *e, const char *param, const char *code, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
/* {"message","type","param","code"} (new reference). */
json_t *api_error_object(const struct api_error *e);
/* What v is, for an error message that says what was given: "an object", "a string", "null"... */
const char *api_json_type_name(const json_t *v);
/* {"error":{...}} (new reference). */
json_t *api_error_envelope(const struct api_error *e);
/* The envelope of a new error, its status also into *http_status: an endpoint's refusal in one call. */
json_t *api_error_answer(int *http_status, int status, const char *type, const char *code, const char *param,
                         const char *message);

#endif
