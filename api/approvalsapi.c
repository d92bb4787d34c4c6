#include "api/approvalsapi.h"

#include <stdlib.h>
#include <string.h>

#include "api/apierr.h"
#include "api/approvals.h"
#include "api/engine.h"
#include "api/env.h"
#include "store/store.h"

static json_t *
fail(int status, const char *type, const char *code, const char *param, const char *msg, int *http_status)
{
	struct api_error e;

	api_error_set(&e, status, type, code, param, "%s", msg);
	*http_status = status;
	return api_error_envelope(&e);
}

static json_t *
not_operator(int *http_status)
{
	return fail(403, "permission_denied", "operator_only", NULL,
	            "Only an operator (config \"operators\") may read approvals.", http_status);
}

json_t *
approvalsapi_list(struct api_env *env, const struct engine_caller *caller, const char *status,
                  const char *response_id, const char *limit_s, int *http_status)
{
	char *text = NULL, *end = NULL;
	long limit = 100;
	json_t *rows, *row;
	size_t i;

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
	if (limit_s && limit_s[0]) {
		limit = strtol(limit_s, &end, 10);
		if (*end != '\0' || limit < 1 || limit > 1000)
			return fail(400, "invalid_request", "invalid_value", "limit",
			            "limit must be an integer from 1 to 1000", http_status);
	}
	if (store_approval_list(env->store, status, response_id && response_id[0] ? response_id : NULL,
	                        (int)limit, &text) < 0)
		return fail(500, "server_error", NULL, NULL, "the approvals could not be read", http_status);
	rows = json_loads(text, 0, NULL);
	free(text);
	if (!json_is_array(rows)) {
		json_decref(rows);
		rows = json_array();
	}
	json_array_foreach (rows, i, row) {
		json_object_set_new(row, "object", json_string("approval"));
	}
	*http_status = 200;
	return json_pack("{s:s, s:o}", "object", "list", "data", rows);
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
	/* The keys of the list's rows. */
	body = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s?, s:s?, s:I, s:I, s:I}", "object",
	                 "approval", "id", a.id, "response_id", a.response_id, "server_label", a.server_label,
	                 "tool", a.tool, "arguments_sha256", a.arguments_sha256, "requested_by",
	                 a.requested_by, "status", a.status, "decided_by", a.decided_by, "reason", a.reason,
	                 "created_at", (json_int_t)a.created_at, "decided_at", (json_int_t)a.decided_at,
	                 "version", (json_int_t)a.version);
	store_approval_clear(&a);
	*http_status = 200;
	return body;
}
