/*
 * approvalsapi: the operator's HTTP view of the approvals (api/approvals, the rows in the store):
 * GET /v1/approvals and GET /v1/approvals/{id}. Operators only (config "operators"): a caller's
 * credentials never make it one, and a caller's own approvals reach it as mcp_approval_request items.
 * Loop thread only.
 */
#ifndef API_APPROVALSAPI_H
#define API_APPROVALSAPI_H

#include <jansson.h>

struct api_env;
struct engine_caller;

/* GET /v1/approvals?status=S&response_id=R&limit=N: {"object":"list","data":[approval...]}, newest first.
 * status: a state of api/approvals.h (default "pending") or "all"; limit 1..1000 (default 100); "" for
 * an argument not given. Or an error envelope (400 for a bad argument, 403 for a non-operator). *http_status
 * set. New reference. */
json_t *approvalsapi_list(struct api_env *env, const struct engine_caller *caller, const char *status,
                          const char *response_id, const char *limit, int *http_status);

/* GET /v1/approvals/{id}: one approval, or a 404 / 403 envelope. New reference. */
json_t *approvalsapi_get(struct api_env *env, const struct engine_caller *caller, const char *id,
                         int *http_status);

#endif
