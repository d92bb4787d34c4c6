/*
 * mcpadmin: the operator's view of the MCP servers in the config: GET /v1/mcp/servers (labels and
 * where they point, never their headers), GET /v1/mcp/servers/{label}/tools (the listing through
 * the pooled client and its cache) and GET /metrics (the MCP client's counters in the Prometheus
 * text format). Also how a configured server becomes an mcpclient target. Loop thread only.
 */
#ifndef API_MCPADMIN_H
#define API_MCPADMIN_H

#include <jansson.h>

struct api_env;
struct engine_caller;
struct config_mcp_server;
struct mcp_server;
struct mcpadmin_req;

/* {"object":"list","data":[{"label","url"}...]}: the URL without its query or user info, which may
 * hold credentials. New reference. */
json_t *mcpadmin_servers(struct api_env *env);

/* body is borrowed for the call: the listing, or an error envelope. */
typedef void (*mcpadmin_done_fn)(void *ud, int http_status, const json_t *body);
/* Starts a listing; done runs once, later, unless mcpadmin_cancel comes first. NULL when the label
 * is unknown or there is no MCP client: done has then already run (404 / 503). */
struct mcpadmin_req *mcpadmin_tools(struct api_env *env, const char *label, mcpadmin_done_fn done, void *ud);
void mcpadmin_cancel(struct mcpadmin_req *r);

/* GET /v1/mcp/audit?limit=N (1..1000, default 100): {"object":"list","data":[rows, newest first]}
 * or an error envelope; *http_status set. The rows are the caller's own (its identity is their
 * caller), every caller's for an operator. New reference. */
json_t *mcpadmin_audit(struct api_env *env, const struct engine_caller *caller, const char *limit,
                       int *http_status);

/* The Prometheus text exposition of the counters, with the responses in flight (caller frees). */
char *mcpadmin_metrics(struct api_env *env, size_t responses_active);

/* Fills out (borrowing from s) with how mcpclient reaches a configured server. */
void mcpadmin_target(const struct config_mcp_server *s, struct mcp_server *out);

#endif
