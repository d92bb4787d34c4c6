/* mcpadmin: see mcpadmin.h. */
#include <stdlib.h>
#include <string.h>

#include "api/apierr.h"
#include "api/engine.h"
#include "api/env.h"
#include "api/mcpadmin.h"
#include "daemon/buf.h"
#include "daemon/config.h"
#include "daemon/redact.h"
#include "daemon/util.h"
#include "mcpclient/mcpclient.h"
#include "store/store.h"

struct mcpadmin_req {
	struct mcp_op *op;
	char *label;
	struct redact *secrets; /* the config's: what the server may echo back */
	mcpadmin_done_fn done;
	void *ud;
};

json_t *
mcpadmin_servers(struct api_env *env)
{
	json_t *data = json_array();
	size_t i;

	for (i = 0; i < env->cfg->n_mcp_servers; i++) {
		const struct config_mcp_server *s = &env->cfg->mcp_servers[i];
		char *u = util_url_redact(s->url);

		json_array_append_new(data, json_pack("{s:s, s:s, s:s}", "object", "mcp.server", "label",
		                                      s->label, "url", u));
		free(u);
	}
	return json_pack("{s:s, s:o}", "object", "list", "data", data);
}

void
mcpadmin_target(const struct config_mcp_server *s, struct mcp_server *out)
{
	memset(out, 0, sizeof *out);
	out->url = s->url;
	out->headers = (const char *const *)s->headers;
	out->timeout_ms = s->timeout_ms;
	out->cache_ttl_s = s->cache_ttl_s;
}

static int
status_of(const struct mcp_error *e)
{
	switch (e->kind) {
	case MCP_ERR_TIMEOUT:
		return 504;
	case MCP_ERR_CLOSED:
	case MCP_ERR_UNAVAILABLE:
		return 503;
	default:
		return 502; /* the MCP server failed us: a bad gateway from the caller's side */
	}
}

static void
on_listed(void *ud, const struct mcp_list_result *r)
{
	struct mcpadmin_req *req = ud;
	json_t *body;

	if (r->error) {
		struct api_error e;

		api_error_set(&e, status_of(r->error), "server_error", "mcp_server_error", NULL,
		              "MCP server %s: %s", req->label, r->error->message);
		redact_inplace(req->secrets, e.message, sizeof e.message);
		body = api_error_envelope(&e);
		req->done(req->ud, e.status, body);
	} else {
		/* A copy only where a secret is found: r->tools is shared with the cache. */
		body = json_pack("{s:s, s:s, s:b, s:s, s:i, s:o}", "object", "list", "server_label",
		                 req->label, "from_cache", r->from_cache, "protocol_version",
		                 r->protocol_version, "hidden", r->hidden, "data",
		                 redact_json(req->secrets, r->tools));
		req->done(req->ud, 200, body);
	}
	json_decref(body);
	redact_free(req->secrets);
	free(req->label);
	free(req);
}

static void
fail_now(mcpadmin_done_fn done, void *ud, int status, const char *code, const char *msg, const char *label)
{
	struct api_error e;
	json_t *body;

	api_error_set(&e, status, status == 404 ? "not_found" : "server_error", code, NULL, "%s%s", msg,
	              label ? label : "");
	body = api_error_envelope(&e);
	done(ud, status, body);
	json_decref(body);
}

struct mcpadmin_req *
mcpadmin_tools(struct api_env *env, const char *label, mcpadmin_done_fn done, void *ud)
{
	const struct config_mcp_server *s = config_mcp_server_find(env->cfg, label);
	struct mcpadmin_req *req;
	struct mcp_server target;

	if (!s) {
		fail_now(done, ud, 404, "mcp_server_not_found", "no MCP server is configured with the label ",
		         label);
		return NULL;
	}
	if (!env->mcp) {
		fail_now(done, ud, 503, "server_shutting_down", "the MCP client is not running", NULL);
		return NULL;
	}
	req = xcalloc(1, sizeof *req);
	req->label = xstrdup(label);
	req->secrets = redact_new();
	redact_add_config(req->secrets, env->cfg);
	req->done = done;
	req->ud = ud;
	mcpadmin_target(s, &target);
	req->op = mcp_list_tools(env->mcp, &target, on_listed, req);
	if (!req->op) {
		redact_free(req->secrets);
		free(req->label);
		free(req);
		fail_now(done, ud, 503, "server_shutting_down", "the MCP client is shutting down", NULL);
		return NULL;
	}
	return req;
}

void
mcpadmin_cancel(struct mcpadmin_req *r)
{
	if (!r)
		return;
	mcp_op_cancel(r->op);
	redact_free(r->secrets);
	free(r->label);
	free(r);
}

char *
mcpadmin_metrics(struct api_env *env, size_t responses_active)
{
	static const struct {
		const char *name, *help;
		size_t off;
	} counters[] = {
	        {"sessions_opened", "MCP initialize handshakes completed",
	         offsetof(struct mcp_stats, sessions_opened)},
	        {"sessions_reused", "MCP operations that found a live session",
	         offsetof(struct mcp_stats, sessions_reused)},
	        {"sessions_expired", "MCP sessions the server expired",
	         offsetof(struct mcp_stats, sessions_expired)},
	        {"sessions_closed", "MCP sessions deleted", offsetof(struct mcp_stats, sessions_closed)},
	        {"cache_hits", "MCP tool listings served from the cache",
	         offsetof(struct mcp_stats, cache_hits)},
	        {"cache_misses", "MCP tool listings fetched from the server",
	         offsetof(struct mcp_stats, cache_misses)},
	        {"calls", "MCP tool calls", offsetof(struct mcp_stats, calls)},
	        {"call_errors", "MCP tool calls without a result", offsetof(struct mcp_stats, call_errors)},
	        {"http_requests", "HTTP requests sent to MCP servers",
	         offsetof(struct mcp_stats, http_requests)},
	};
	struct mcp_stats st = {0};
	struct buf out;
	size_t i;

	if (env->mcp)
		mcp_client_stats(env->mcp, &st);
	buf_init(&out, 0);
	for (i = 0; i < sizeof counters / sizeof counters[0]; i++) {
		uint64_t v = *(const uint64_t *)(const void *)((const char *)&st + counters[i].off);

		buf_printf(&out,
		           "# HELP toolhost_mcp_%s_total %s.\n# TYPE toolhost_mcp_%s_total "
		           "counter\ntoolhost_mcp_%s_total %llu\n",
		           counters[i].name, counters[i].help, counters[i].name, counters[i].name,
		           (unsigned long long)v);
	}
	buf_printf(&out,
	           "# HELP toolhost_mcp_call_seconds_sum Time spent in MCP tool calls.\n"
	           "# TYPE toolhost_mcp_call_seconds_sum counter\ntoolhost_mcp_call_seconds_sum %.6f\n"
	           "# HELP toolhost_mcp_call_seconds_max The slowest MCP tool call.\n"
	           "# TYPE toolhost_mcp_call_seconds_max gauge\ntoolhost_mcp_call_seconds_max %.6f\n"
	           "# HELP toolhost_responses_active Responses in flight.\n"
	           "# TYPE toolhost_responses_active gauge\ntoolhost_responses_active %zu\n",
	           (double)st.call_us_total / 1e6, (double)st.call_us_max / 1e6, responses_active);
	return buf_take(&out);
}

json_t *
mcpadmin_audit(struct api_env *env, const struct engine_caller *caller, const char *limit_s, int *http_status)
{
	/* Like the responses: a caller without an identity is "-", never every caller. */
	const char *who = caller->is_operator ? NULL : caller->identity ? caller->identity : "-";
	struct api_error e;
	char *text = NULL, *end = NULL;
	long limit = 100;
	json_t *rows;

	if (limit_s && limit_s[0]) {
		limit = strtol(limit_s, &end, 10);
		if (*end != '\0' || limit < 1 || limit > 1000) {
			*http_status = 400;
			api_error_bad(&e, "limit", "invalid_value",
			              "limit must be an integer from 1 to 1000");
			return api_error_envelope(&e);
		}
	}
	if (store_audit_list(env->store, who, (int)limit, &text) < 0) {
		*http_status = 500;
		api_error_set(&e, 500, "server_error", NULL, NULL, "the audit log could not be read");
		return api_error_envelope(&e);
	}
	rows = json_loads(text, 0, NULL);
	free(text);
	if (!json_is_array(rows)) {
		json_decref(rows);
		rows = json_array();
	}
	*http_status = 200;
	return json_pack("{s:s, s:o}", "object", "list", "data", rows);
}
