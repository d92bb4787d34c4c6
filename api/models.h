/*
 * models: GET /v1/models, the models the configured upstreams serve. Each upstream is asked for its
 * /models list (in parallel, short timeouts, capped bodies); the default upstream's ids are listed as
 * they are, another upstream's as "<id>:<upstream name>" (the routing suffix that reaches it, see
 * RESPONSES-NOTES 5.6). A failed upstream is named: 502 with the error envelope when none listed its
 * models; otherwise 200 with the others' models, the failed one's default_model (if any) and
 * "upstream_errors": [{"upstream","message"}]. Only a listing without failures is cached, for a
 * minute; models_cleanup() drops it (at exit and on a config reload). Loop thread only.
 */
#ifndef API_MODELS_H
#define API_MODELS_H

#include <jansson.h>

struct api_env;
struct models_req;

/* body is borrowed for the call: {"object":"list","data":[...]} (http_status 200), or the error
 * envelope (502). */
typedef void (*models_done_fn)(void *ud, int http_status, const json_t *body);

/* Starts a listing. done runs exactly once unless models_cancel is called first; it may run before
 * this returns (cache hit), in which case NULL is returned. bearer: the caller's token, sent only to
 * upstreams with forward_caller_auth. */
struct models_req *models_list(struct api_env *env, const char *bearer, models_done_fn done, void *ud);
/* The caller went away: stop the requests; done is not called. */
void models_cancel(struct models_req *r);
/* Drops the cache (config reload, exit). */
void models_cleanup(void);

#endif
