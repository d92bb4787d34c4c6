#include "api/approvalsapi.h"

#include <stdlib.h>
#include <string.h>

#include "api/apierr.h"
#include "api/approvals.h"
#include "api/engine.h"
#include "api/env.h"
#include "api/ophub.h"
#include "api/opsession.h"
#include "daemon/config.h"
#include "daemon/log.h"
#include "daemon/util.h"
#include "store/store.h"

static json_t *
fail(int status, const char *type, const char *code, const char *param, const char *msg, int *http_status)
{
	return api_error_answer(http_status, status, type, code, param, msg);
}

/* {"object":"list","data":[...]} of the store's rows (text, freed here), each marked with object. */
static json_t *
list_of(char *text, const char *object, int *http_status)
{
	json_t *rows = json_loads(text, 0, NULL), *row;
	size_t i;

	free(text);
	if (!json_is_array(rows)) {
		json_decref(rows);
		rows = json_array();
	}
	json_array_foreach (rows, i, row) {
		json_object_set_new(row, "object", json_string(object));
	}
	*http_status = 200;
	return json_pack("{s:s, s:o}", "object", "list", "data", rows);
}

static json_t *
not_operator(int *http_status)
{
	return fail(403, "permission_denied", "operator_only", NULL,
	            "Only an operator (config \"operators\") may read approvals.", http_status);
}

/* limit_s: "" for the default (100), else 1..1000; -1 when it is not one. */
static long
parse_limit(const char *limit_s)
{
	char *end = NULL;
	long limit;

	if (limit_s == NULL || limit_s[0] == '\0')
		return 100;
	limit = strtol(limit_s, &end, 10);
	return *end != '\0' || limit < 1 || limit > 1000 ? -1 : limit;
}

json_t *
approvalsapi_list(struct api_env *env, const struct engine_caller *caller, const char *status,
                  const char *response_id, const char *limit_s, int *http_status)
{
	char *text = NULL;
	long limit;

	if (!caller->is_operator)
		return not_operator(http_status);
	if (status == NULL || status[0] == '\0')
		status = approval_state_name(APPROVAL_PENDING);
	else if (strcmp(status, "all") == 0)
		status = NULL;
	else if (approval_state_of(status) == APPROVAL_STATE_UNKNOWN)
		return fail(
		        400, "invalid_request", "invalid_value", "status",
		        "status must be all, pending, approved, denied, expired, abandoned, running or done",
		        http_status);
	limit = parse_limit(limit_s);
	if (limit < 0)
		return fail(400, "invalid_request", "invalid_value", "limit",
		            "limit must be an integer from 1 to 1000", http_status);
	if (store_approval_list(env->store, status, response_id && response_id[0] ? response_id : NULL,
	                        (int)limit, &text) < 0)
		return fail(500, "server_error", NULL, NULL, "the approvals could not be read", http_status);
	return list_of(text, "approval", http_status);
}

json_t *
approvalsapi_get(struct api_env *env, const struct engine_caller *caller, const char *id, int *http_status)
{
	struct store_approval a;
	json_t *body;
	int rc;

	if (!caller->is_operator)
		return not_operator(http_status);
	rc = store_approval_get(env->store, id, &a);
	if (rc < 0)
		return fail(500, "server_error", NULL, NULL, "the approval could not be read", http_status);
	if (rc == 1)
		return fail(404, "not_found", "approval_not_found", NULL, "No approval with that id.",
		            http_status);
	body = approvals_row_json(&a);
	store_approval_clear(&a);
	*http_status = 200;
	return body;
}

json_t *
approvalsapi_decide(struct api_env *env, const struct engine_caller *caller, const char *id, const char *body,
                    size_t len, int *http_status)
{
	json_error_t jerr;
	json_t *req, *out;

	if (!caller->is_operator)
		return fail(403, "permission_denied", "operator_only", NULL,
		            "Only an operator (config \"operators\") may decide approvals.", http_status);
	req = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(req)) {
		json_decref(req);
		return fail(400, "invalid_request", "invalid_json", NULL, "The body must be a JSON object.",
		            http_status);
	}
	out = id ? ophub_decide(env->ophub, id, req, caller->identity, http_status)
	         : ophub_decide_batch(env->ophub, req, caller->identity, http_status);
	json_decref(req);
	return out;
}

json_t *
approvalsapi_rules(struct api_env *env, const struct engine_caller *caller, const char *limit_s,
                   int *http_status)
{
	long limit = parse_limit(limit_s);
	char *text = NULL;

	if (!caller->is_operator)
		return not_operator(http_status);
	if (limit < 0)
		return fail(400, "invalid_request", "invalid_value", "limit",
		            "limit must be an integer from 1 to 1000", http_status);
	if (store_rule_list(env->store, (int)limit, &text) < 0)
		return fail(500, "server_error", NULL, NULL, "the rules could not be read", http_status);
	return list_of(text, "approval_rule", http_status);
}

json_t *
approvalsapi_rule_delete(struct api_env *env, const struct engine_caller *caller, const char *id,
                         int *http_status)
{
	int rc;

	if (!caller->is_operator)
		return not_operator(http_status);
	rc = store_rule_delete(env->store, id);
	if (rc < 0)
		return fail(500, "server_error", NULL, NULL, "the rule could not be deleted", http_status);
	if (rc == 1)
		return fail(404, "not_found", "rule_not_found", NULL, "No rule with that id.", http_status);
	*http_status = 200;
	return json_pack("{s:s, s:s, s:b}", "id", id, "object", "approval_rule", "deleted", 1);
}

/* The page's base URL: base_url given (http(s)://authority[/path], no query or fragment), else the
 * TCP listener's. NULL when there is neither (msg says why). */
static char *
login_base(const struct config *cfg, const json_t *given, const char **msg)
{
	const char *b = json_string_value(given);
	size_t n;

	if (given && !json_is_null(given)) {
		n = b ? strlen(b) : 0;
		if (n == 0 || n > 200 || (strncmp(b, "http://", 7) != 0 && strncmp(b, "https://", 8) != 0) ||
		    strpbrk(b, "?#\"\\<> \t\r\n") != NULL) {
			*msg = "base_url must be an http:// or https:// URL of at most 200 characters, "
			       "without a query";
			return NULL;
		}
		while (n > 0 && b[n - 1] == '/')
			n--;
		return xstrndup(b, n);
	}
	if (cfg->tcp_address == NULL) {
		*msg = "there is no TCP listener to serve the page on: configure listen.tcp or give base_url";
		return NULL;
	}
	return strchr(cfg->tcp_address, ':') ? xasprintf("http://[%s]:%u", cfg->tcp_address, cfg->tcp_port)
	                                     : xasprintf("http://%s:%u", cfg->tcp_address, cfg->tcp_port);
}

json_t *
approvalsapi_login(struct api_env *env, const struct engine_caller *caller, const char *body, size_t len,
                   int *http_status)
{
	struct config *cfg;
	char token[OPSESSION_SECRET_MAX], *base;
	const char *msg = NULL;
	int64_t expires_at;
	json_error_t jerr;
	json_t *req, *out;

	if (!caller->is_operator)
		return fail(403, "permission_denied", "operator_only", NULL,
		            "Only an operator (config \"operators\") may log in to the approval page.",
		            http_status);
	req = len ? json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr) : json_object();
	if (!json_is_object(req)) {
		json_decref(req);
		return fail(400, "invalid_request", "invalid_json", NULL, "The body must be a JSON object.",
		            http_status);
	}
	cfg = api_env_config(env);
	base = login_base(cfg, json_object_get(req, "base_url"), &msg);
	config_release(cfg);
	json_decref(req);
	if (base == NULL)
		return fail(400, "invalid_request", "invalid_value", "base_url", msg, http_status);
	opsession_token_new(env->opsession, caller->identity, token, &expires_at);
	out = json_pack("{s:s, s:s++, s:I}", "object", "login_url", "url", base, "/ui/login?token=", token,
	                "expires_at", (json_int_t)expires_at);
	explicit_bzero(token, sizeof token);
	free(base);
	log_info("login URL for the approval page made for %s", caller->identity);
	*http_status = 200;
	return out;
}
