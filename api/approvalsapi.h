/*
 * approvalsapi: the operator's HTTP view of the approvals (api/approvals, the rows in the store):
 * GET /v1/approvals, GET /v1/approvals/{id}, the decisions (POST /v1/approvals/{id}, and POST
 * /v1/approvals for all of one response's, through api/ophub) and the always-rules (GET
 * /v1/approvals/rules, DELETE /v1/approvals/rules/{id}). Operators only (config "operators"): a caller's
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

/* POST /v1/approvals/{id} (id) or POST /v1/approvals (id NULL: the batch), body as received: the
 * approval(s) after the decision, or an error envelope (400, 403, 404, 409: api/ophub.h). */
json_t *approvalsapi_decide(struct api_env *env, const struct engine_caller *caller, const char *id,
                            const char *body, size_t len, int *http_status);

/* GET /v1/approvals/rules?limit=N: {"object":"list","data":[rule...]}, newest first. */
json_t *approvalsapi_rules(struct api_env *env, const struct engine_caller *caller, const char *limit,
                           int *http_status);
/* DELETE /v1/approvals/rules/{id}: {"id", "object":"approval_rule", "deleted":true}, or 404. */
json_t *approvalsapi_rule_delete(struct api_env *env, const struct engine_caller *caller, const char *id,
                                 int *http_status);

/* POST /v1/approvals/login (body {} or {"base_url": "https://approvals.example"}): a one-time login URL
 * for the approval page (api/opsession, api/ui), {"object":"login_url","url":...,"expires_at":...}. The
 * URL is base_url's, else the TCP listener's; 400 when there is neither. */
json_t *approvalsapi_login(struct api_env *env, const struct engine_caller *caller, const char *body,
                           size_t len, int *http_status);

#endif
