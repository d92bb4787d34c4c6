/*
 * env: the runtime every api module gets (http, engine, models, mcpadmin, ws), owned by
 * daemon/main.c. It holds the loop, the store, the transfer and MCP client contexts, and the current
 * config.
 *
 * The config is shared by reference (daemon/config: config_hold / config_release): work that
 * outlives one loop turn (a response, a listing) takes the current one with api_env_config at its
 * start and releases it at its end, so a SIGHUP mid-response changes nothing it sees. main swaps
 * the current config with api_env_set_config; the old one is freed once its last holder lets go.
 * Everything runs on the loop thread.
 */
#ifndef API_ENV_H
#define API_ENV_H

#include <uv.h>

struct config;
struct store;
struct xfer_ctx;
struct mcp_client;
struct ophub;
struct opsession;

struct api_env {
	uv_loop_t *loop;
	struct config *cfg; /* the current config; main swaps it at SIGHUP (api_env_set_config) */
	struct store *store;
	struct xfer_ctx *xfer;
	struct mcp_client *mcp;      /* NULL before start and after shutdown */
	struct ophub *ophub;         /* operator approvals: waits, watchers, decisions (api/ophub) */
	struct opsession *opsession; /* the approval page's logins (api/opsession) */
};

/* The current config with a reference held: a response (or any work that outlives one loop turn)
 * takes one at its start and drops it (config_release) at its end, so a SIGHUP mid-response changes
 * nothing it sees. */
struct config *api_env_config(struct api_env *env);
/* main at SIGHUP: cfg (whose reference env takes over) becomes current; the old one is released
 * (freed once its last holder lets go). */
void api_env_set_config(struct api_env *env, struct config *cfg);

#endif
