#include "api/approvals.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/log.h"
#include "daemon/util.h"
#include "store/store.h"

static const char *const state_names[] = {
        [APPROVAL_PENDING] = "pending", [APPROVAL_APPROVED] = "approved",   [APPROVAL_DENIED] = "denied",
        [APPROVAL_EXPIRED] = "expired", [APPROVAL_ABANDONED] = "abandoned", [APPROVAL_RUNNING] = "running",
        [APPROVAL_DONE] = "done",
};

const char *
approval_state_name(enum approval_state s)
{
	return (unsigned)s < sizeof state_names / sizeof state_names[0] ? state_names[s] : "unknown";
}

enum approval_state
approval_state_of(const char *name)
{
	size_t i;

	for (i = 0; name && i < sizeof state_names / sizeof state_names[0]; i++)
		if (strcmp(name, state_names[i]) == 0)
			return (enum approval_state)i;
	return APPROVAL_STATE_UNKNOWN;
}

static const json_t *
find_typed(const json_t *items, const char *type, const char *key, const char *value)
{
	const json_t *it;
	size_t i;

	json_array_foreach (items, i, it) {
		const char *t = json_string_value(json_object_get(it, "type"));
		const char *v = json_string_value(json_object_get(it, key));

		if (t && v && strcmp(t, type) == 0 && strcmp(v, value) == 0)
			return it;
	}
	return NULL;
}

static int
is_answer(const json_t *item)
{
	const char *type = json_string_value(json_object_get(item, "type"));

	return type && strcmp(type, "mcp_approval_response") == 0;
}

int
approvals_in_input(const json_t *input)
{
	const json_t *it;
	size_t i;

	json_array_foreach (input, i, it) {
		if (is_answer(it))
			return 1;
	}
	return 0;
}

/* A refused answer: 400 with the input index as param. what: the message, %s standing for the id. */
static int
answer_error(struct api_error *err, size_t idx, const char *code, const char *what, const char *id)
{
	char param[64], msg[320];
	const char *at = strstr(what, "%s");

	snprintf(param, sizeof param, "input[%zu].approval_request_id", idx);
	if (at)
		snprintf(msg, sizeof msg, "%.*s%.64s%s", (int)(at - what), what, id, at + 2);
	else
		snprintf(msg, sizeof msg, "%s", what);
	api_error_set(err, 400, "invalid_request", code, param, "%s", msg);
	return -1;
}

/* What the row allows this answer to do, before anything is recorded. */
static int
check_answer(struct store *s, const char *identity, const json_t *context, approval_server_url_fn url_of,
             void *ud, size_t idx, struct approval_answer *a, struct api_error *err)
{
	int approve = a->verdict == APPROVAL_VERDICT_RUN;
	const json_t *request_item;
	struct store_approval row;
	enum approval_state state;
	char hash[65];
	int rc, result = -1;

	if (a->id == NULL)
		return answer_error(err, idx, "approval_not_found", "approval_request_id is missing", "");
	rc = store_approval_get(s, a->id, &row);
	if (rc < 0)
		return api_error_set(err, 500, "server_error", NULL, NULL, "the approval store failed");
	if (rc == 1)
		return answer_error(err, idx, "approval_not_found",
		                    "No MCP approval request with id '%s' was issued.", a->id);
	/* An operator's approval is never the caller's to give, whatever items the caller sends. */
	if (row.mode && strcmp(row.mode, "operator") == 0) {
		answer_error(err, idx, "approval_operator_only",
		             "The approval request '%s' is decided by an operator, not by the caller.",
		             a->id);
		goto out;
	}
	state = approval_state_of(row.status);
	/* Claimed already, and its mcp_call is in this context (a stateless caller resending its
	 * history): nothing to do. An mcp_call of a call that was refused (no room left) does not count:
	 * the row is still "approved" then. */
	if (approve && (state == APPROVAL_RUNNING || state == APPROVAL_DONE) &&
	    find_typed(context, "mcp_call", "approval_request_id", a->id)) {
		a->verdict = APPROVAL_VERDICT_NONE;
		store_approval_clear(&row);
		return 0;
	}
	request_item = find_typed(context, "mcp_approval_request", "id", a->id);
	a->server_label = json_string_value(json_object_get(request_item, "server_label"));
	a->tool = json_string_value(json_object_get(request_item, "name"));
	a->arguments = json_string_value(json_object_get(request_item, "arguments"));
	if (request_item == NULL || a->server_label == NULL || a->tool == NULL || a->arguments == NULL) {
		answer_error(err, idx, "approval_mismatch",
		             "The approval request '%s' is not in this response's context.", a->id);
		goto out;
	}
	util_sha256_hex(a->arguments, strlen(a->arguments), hash);
	if (strcmp(a->server_label, row.server_label) != 0 || strcmp(a->tool, row.tool) != 0 ||
	    strcmp(hash, row.arguments_sha256) != 0) {
		answer_error(err, idx, "approval_mismatch",
		             "The approval request '%s' in the context differs from the one issued "
		             "(server, tool or arguments).",
		             a->id);
		goto out;
	}
	/* In caller mode the caller that was asked decides, nobody else. */
	if (strcmp(row.requested_by, identity) != 0) {
		answer_error(err, idx, "approval_mismatch",
		             "The approval request '%s' was issued to another caller.", a->id);
		goto out;
	}
	/* Resending a denial changes nothing. An approval whose call never ran (the response that was to
	 * run it failed or was cancelled first) may be given again: the call is claimed when it runs, so
	 * it still runs once. Anything else would run a call twice or run a denied one. */
	if (!(state == APPROVAL_PENDING || (!approve && state == APPROVAL_DENIED) ||
	      (approve && state == APPROVAL_APPROVED))) {
		answer_error(err, idx, "approval_already_decided",
		             "The approval request '%s' was already decided.", a->id);
		goto out;
	}
	if (approve) {
		const char *url = url_of(ud, a->server_label);

		if (url == NULL) {
			answer_error(err, idx, "approval_mismatch",
			             "The request has no mcp tool labelled '%s' to run the approved call on.",
			             a->server_label);
			goto out;
		}
		util_sha256_hex(url, strlen(url), hash);
		if (strcmp(hash, row.target_sha256) != 0) {
			answer_error(
			        err, idx, "approval_mismatch",
			        "The approval request '%s' was issued for another server than the one this "
			        "request names.",
			        a->id);
			goto out;
		}
	}
	result = 0;
out:
	store_approval_clear(&row);
	return result;
}

/* pending -> approved | denied; a replay of the same decision is no step. */
static int
record_answer(struct store *s, const char *identity, struct approval_answer *a, struct api_error *err)
{
	int approve = a->verdict == APPROVAL_VERDICT_RUN;
	int rc;

	if (a->verdict == APPROVAL_VERDICT_NONE)
		return 0;
	rc = store_approval_decide(s, a->id, approve, identity, a->reason, util_wall_s());
	/* 2: not pending. Checked above, that is a denial given again (nothing to do) or an approval whose
	 * call has not run yet (it runs now; the claim settles a race with another response). */
	if (rc == 2 && !approve)
		a->verdict = APPROVAL_VERDICT_NONE;
	else if (rc < 0 || rc == 1)
		return api_error_set(err, 500, "server_error", NULL, NULL, "the approval store failed");
	return 0;
}

int
approvals_answer(struct store *s, const char *identity, const json_t *input, const json_t *context,
                 approval_server_url_fn url_of, void *ud, struct approval_answer **out, struct api_error *err)
{
	struct approval_answer *answers;
	size_t *where; /* each answer's index in input */
	json_t *seen;
	const json_t *it;
	size_t i, n = 0, k;
	int result = -1;

	*out = NULL;
	json_array_foreach (input, i, it) {
		if (is_answer(it))
			n++;
	}
	if (n == 0)
		return 0;
	/* Each answer costs a store read and scans of the context: their number is capped. */
	if (n > APPROVALS_MAX_ANSWERS)
		return api_error_bad(err, "input", "too_many_approvals",
		                     "At most %d mcp_approval_response items fit in one request.",
		                     APPROVALS_MAX_ANSWERS);
	answers = xcalloc(n, sizeof *answers);
	where = xcalloc(n, sizeof *where);
	seen = json_object();
	k = 0;
	json_array_foreach (input, i, it) {
		if (!is_answer(it))
			continue;
		answers[k].id = json_string_value(json_object_get(it, "approval_request_id"));
		answers[k].reason = json_string_value(json_object_get(it, "reason"));
		answers[k].verdict = json_is_true(json_object_get(it, "approve")) ? APPROVAL_VERDICT_RUN
		                                                                  : APPROVAL_VERDICT_DENIED;
		where[k++] = i;
	}
	/* Check all before recording any, so that a refused request changes no row. */
	for (k = 0; k < n; k++) {
		const char *id = answers[k].id;

		if (id && json_object_get(seen, id)) {
			answer_error(err, where[k], "approval_already_decided",
			             "The approval request '%s' is answered twice in this input.", id);
			goto out;
		}
		if (id)
			json_object_set_new(seen, id, json_true());
		if (check_answer(s, identity, context, url_of, ud, where[k], &answers[k], err) < 0)
			goto out;
	}
	for (k = 0; k < n; k++)
		if (record_answer(s, identity, &answers[k], err) < 0)
			goto out;
	*out = answers;
	answers = NULL;
	result = (int)n;
out:
	free(answers);
	free(where);
	json_decref(seen);
	return result;
}

int
approvals_issue(struct store *s, const json_t *request_item, const char *response_id, const char *server_url,
                const char *identity)
{
	const char *args = json_string_value(json_object_get(request_item, "arguments"));
	char args_hash[65], target[65];

	util_sha256_hex(args ? args : "", args ? strlen(args) : 0, args_hash);
	util_sha256_hex(server_url, strlen(server_url), target);
	return store_approval_put(s, json_string_value(json_object_get(request_item, "id")), response_id,
	                          json_string_value(json_object_get(request_item, "server_label")), target,
	                          json_string_value(json_object_get(request_item, "name")), args_hash,
	                          identity, util_wall_s());
}

enum approval_claim
approvals_claim(struct store *s, const char *id)
{
	int rc = store_approval_claim(s, id);

	if (rc == 0)
		return APPROVAL_CLAIMED;
	return rc < 0 ? APPROVAL_CLAIM_FAILED : APPROVAL_NOT_CLAIMABLE;
}

int
approvals_finish(struct store *s, const char *id)
{
	int rc = store_approval_finish(s, id);

	if (rc == 2)
		log_warnx("approval %s ended a call but was not running", id);
	return rc == 0 ? 0 : -1;
}

static const char *const decision_names[] = {
        [APPROVAL_APPROVE_ONCE] = "approve_once",
        [APPROVAL_APPROVE_RESPONSE] = "approve_response",
        [APPROVAL_ALWAYS] = "always",
        [APPROVAL_DENY] = "deny",
};

const char *
approval_decision_name(enum approval_decision d)
{
	return (unsigned)d < sizeof decision_names / sizeof decision_names[0] ? decision_names[d] : "unknown";
}

int
approval_decision_of(const char *name, enum approval_decision *out)
{
	size_t i;

	for (i = 0; name && i < sizeof decision_names / sizeof decision_names[0]; i++)
		if (strcmp(name, decision_names[i]) == 0) {
			*out = (enum approval_decision)i;
			return 0;
		}
	return -1;
}

char *
approvals_definition(const json_t *tool, char hash[65])
{
	json_t *def = json_object();
	char *text;
	static const char *const keys[] = {"name", "title", "description", "inputSchema", "annotations"};
	size_t i;

	for (i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		json_t *v = json_object_get(tool, keys[i]);

		if (v)
			json_object_set(def, keys[i], v);
	}
	/* Sorted keys, no spaces: the same definition always hashes the same, whatever its key order. */
	text = json_dumps(def, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
	json_decref(def);
	if (text == NULL)
		text = xstrdup("{}");
	util_sha256_hex(text, strlen(text), hash);
	return text;
}

json_t *
approvals_row_json(const struct store_approval *a)
{
	json_t *detail = a->detail ? json_loads(a->detail, 0, NULL) : NULL;

	if (!json_is_object(detail)) {
		json_decref(detail);
		detail = json_object();
	}
	/* The keys of store_approval_list's rows, so that one approval reads the same everywhere. */
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s?, s:s?, s:I, s:I, s:I, s:s, s:I, s:s?,"
	                 " s:s?, s:o}",
	                 "object", "approval", "id", a->id, "response_id", a->response_id, "server_label",
	                 a->server_label, "tool", a->tool, "arguments_sha256", a->arguments_sha256,
	                 "requested_by", a->requested_by, "status", a->status, "decided_by", a->decided_by,
	                 "reason", a->reason, "created_at", (json_int_t)a->created_at, "decided_at",
	                 (json_int_t)a->decided_at, "version", (json_int_t)a->version, "mode",
	                 a->mode ? a->mode : "caller", "expires_at", (json_int_t)a->expires_at, "decision",
	                 a->decision, "definition_sha256", a->definition_sha256, "detail", detail);
}
