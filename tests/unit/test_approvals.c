/*
 * test_approvals: api/approvals.c on an in-memory store: the state names, issuing a request, every
 * check of a caller's answer (and that a refused input changes no row), replays, and the claim.
 */
#include <stdlib.h>
#include <string.h>

#include "api/approvals.h"
#include "store/store.h"
#include "tests/unit/t.h"

#define URL_DOCS  "https://docs.example/mcp"
#define URL_OTHER "https://other.example/mcp"

static const char *
url_of(void *ud, const char *label)
{
	const char *docs_url = ud;

	return strcmp(label, "docs") == 0 ? docs_url : NULL;
}

static json_t *
request_item(const char *id, const char *args)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s}", "type", "mcp_approval_request", "id", id,
	                 "server_label", "docs", "name", "search", "arguments", args);
}

static json_t *
answer_item(const char *id, int approve)
{
	return json_pack("{s:s, s:s, s:b}", "type", "mcp_approval_response", "approval_request_id", id,
	                 "approve", approve);
}

static const char *
status_of(struct store *s, const char *id)
{
	static char status[16];
	struct store_approval row;

	if (store_approval_get(s, id, &row) != 0)
		return "(none)";
	snprintf(status, sizeof status, "%s", row.status);
	store_approval_clear(&row);
	return status;
}

/* The input of the last answer(): the answers borrow from it. */
static json_t *last_input;

/* Answers input (taken) against context as caller uid=1 on the docs server at URL_DOCS. */
static int
answer(struct store *s, json_t *input, json_t *context, struct approval_answer **out, struct api_error *err)
{
	json_decref(last_input);
	last_input = input;
	return approvals_answer(s, "uid=1", input, context, url_of, (void *)URL_DOCS, out, err);
}

static void
test_states(void)
{
	enum approval_state st;

	for (st = APPROVAL_PENDING; st < APPROVAL_STATE_UNKNOWN; st++)
		T(approval_state_of(approval_state_name(st)) == st);
	T_STREQ(approval_state_name(APPROVAL_RUNNING), "running");
	T_STREQ(approval_state_name(APPROVAL_ABANDONED), "abandoned");
	T(approval_state_of("executed") == APPROVAL_STATE_UNKNOWN); /* the name before schema 6 */
	T(approval_state_of(NULL) == APPROVAL_STATE_UNKNOWN);
	T_STREQ(approval_state_name(APPROVAL_STATE_UNKNOWN), "unknown");
}

static void
test_caller_mode(void)
{
	char errbuf[256];
	struct store *s = store_open(":memory:", errbuf, sizeof errbuf);
	json_t *context = json_array();
	struct approval_answer *out;
	struct api_error err;
	int n;

	T(s != NULL);
	json_array_append_new(context, request_item("mcpr_a", "{\"q\":1}"));
	json_array_append_new(context, request_item("mcpr_b", "{\"q\":2}"));
	json_array_append_new(context, request_item("mcpr_c", "{\"q\":3}"));
	T(approvals_issue(s, json_array_get(context, 0), "resp_1", URL_DOCS, "uid=1") == 0);
	T(approvals_issue(s, json_array_get(context, 1), "resp_1", URL_DOCS, "uid=1") == 0);
	T(approvals_issue(s, json_array_get(context, 2), "resp_1", URL_OTHER, "uid=1") == 0);
	T_STREQ(status_of(s, "mcpr_a"), "pending");
	/* An id is issued once. */
	T(approvals_issue(s, json_array_get(context, 0), "resp_2", URL_DOCS, "uid=1") < 0);

	/* No answers: nothing to do. */
	T(answer(s, json_pack("[{s:s}]", "type", "message"), context, &out, &err) == 0 && out == NULL);
	T(approvals_in_input(json_array_get(context, 0)) == 0);

	/* One good answer and one refused: the input is refused whole and no row changes. */
	n = answer(s,
	           json_pack("[{s:s}, o, o]", "type", "message", answer_item("mcpr_a", 1),
	                     answer_item("mcpr_zz", 1)),
	           context, &out, &err);
	T(n == -1 && err.status == 400);
	T_STREQ(err.code, "approval_not_found");
	T_STREQ(err.param, "input[2].approval_request_id");
	T_STREQ(status_of(s, "mcpr_a"), "pending");

	/* The same id twice in one input. */
	n = answer(s, json_pack("[o, o]", answer_item("mcpr_a", 1), answer_item("mcpr_a", 0)), context, &out,
	           &err);
	T(n == -1);
	T_STREQ(err.code, "approval_already_decided");
	T_STREQ(err.param, "input[1].approval_request_id");

	/* Another caller. */
	json_decref(last_input);
	last_input = json_pack("[o]", answer_item("mcpr_a", 1));
	n = approvals_answer(s, "uid=2", last_input, context, url_of, (void *)URL_DOCS, &out, &err);
	T(n == -1);
	T_STREQ(err.code, "approval_mismatch");
	T(strstr(err.message, "another caller") != NULL);

	/* Approved against a server at another URL than the one it was issued for, or none. */
	n = answer(s, json_pack("[o]", answer_item("mcpr_c", 1)), context, &out, &err);
	T(n == -1);
	T(strstr(err.message, "another server") != NULL);
	json_decref(last_input);
	last_input = json_pack("[o]", answer_item("mcpr_a", 1));
	n = approvals_answer(s, "uid=1", last_input, context, url_of, NULL, &out, &err);
	T(n == -1);
	T(strstr(err.message, "no mcp tool labelled 'docs'") != NULL);
	T_STREQ(status_of(s, "mcpr_a"), "pending");

	/* Approve a, deny b (with a reason): one input, both recorded. */
	{
		json_t *deny = answer_item("mcpr_b", 0);

		json_object_set_new(deny, "reason", json_string("not now"));
		n = answer(s, json_pack("[o, o]", answer_item("mcpr_a", 1), deny), context, &out, &err);
	}
	T(n == 2);
	T(out[0].verdict == APPROVAL_VERDICT_RUN);
	T_STREQ(out[0].tool, "search");
	T_STREQ(out[0].arguments, "{\"q\":1}");
	T(out[1].verdict == APPROVAL_VERDICT_DENIED);
	T_STREQ(out[1].reason, "not now");
	free(out);
	T_STREQ(status_of(s, "mcpr_a"), "approved");
	T_STREQ(status_of(s, "mcpr_b"), "denied");

	/* A denial again changes nothing; approving the denied one is refused. */
	n = answer(s, json_pack("[o]", answer_item("mcpr_b", 0)), context, &out, &err);
	T(n == 1 && out[0].verdict == APPROVAL_VERDICT_NONE);
	free(out);
	n = answer(s, json_pack("[o]", answer_item("mcpr_b", 1)), context, &out, &err);
	T(n == -1);
	T_STREQ(err.code, "approval_already_decided");

	/* Approved, not run yet (the response that was to run it failed): approving again runs it. */
	n = answer(s, json_pack("[o]", answer_item("mcpr_a", 1)), context, &out, &err);
	T(n == 1 && out[0].verdict == APPROVAL_VERDICT_RUN);
	free(out);

	/* Claimed once: the one run. */
	T(approvals_claim(s, "mcpr_a") == APPROVAL_CLAIMED);
	T(approvals_claim(s, "mcpr_a") == APPROVAL_NOT_CLAIMABLE);
	T(approvals_claim(s, "mcpr_b") == APPROVAL_NOT_CLAIMABLE);
	T(approvals_claim(s, NULL) == APPROVAL_CLAIM_FAILED);
	T_STREQ(status_of(s, "mcpr_a"), "running");

	/* While it runs, an approval again is refused as a second run. */
	n = answer(s, json_pack("[o]", answer_item("mcpr_a", 1)), context, &out, &err);
	T(n == -1);
	T_STREQ(err.code, "approval_already_decided");
	/* The call ended: done, once. */
	T(approvals_finish(s, "mcpr_a") == 0);
	T_STREQ(status_of(s, "mcpr_a"), "done");
	T(approvals_finish(s, "mcpr_a") == -1);
	T(approvals_finish(s, "mcpr_b") == -1);
	T_STREQ(status_of(s, "mcpr_b"), "denied");
	T(approvals_claim(s, "mcpr_a") == APPROVAL_NOT_CLAIMABLE);

	/* Done: a stateless caller resending its history with the mcp_call is a no-op; without
	 * the mcp_call the approval would be a second run, refused. */
	n = answer(s, json_pack("[o]", answer_item("mcpr_a", 1)), context, &out, &err);
	T(n == -1);
	T_STREQ(err.code, "approval_already_decided");
	json_array_append_new(context, json_pack("{s:s, s:s, s:s}", "type", "mcp_call", "id", "mcp_a",
	                                         "approval_request_id", "mcpr_a"));
	n = answer(s, json_pack("[o]", answer_item("mcpr_a", 1)), context, &out, &err);
	T(n == 1 && out[0].verdict == APPROVAL_VERDICT_NONE);
	free(out);

	/* The context's request differs from the one issued (arguments changed), or is missing. */
	json_array_append_new(context, request_item("mcpr_d", "{\"q\":4}"));
	T(approvals_issue(s, json_array_get(context, json_array_size(context) - 1), "resp_1", URL_DOCS,
	                  "uid=1") == 0);
	json_object_set_new(json_array_get(context, json_array_size(context) - 1), "arguments",
	                    json_string("{\"q\":\"rm -rf\"}"));
	n = answer(s, json_pack("[o]", answer_item("mcpr_d", 1)), context, &out, &err);
	T(n == -1);
	T(strstr(err.message, "differs from the one issued") != NULL);
	{
		json_t *empty = json_array();

		n = answer(s, json_pack("[o]", answer_item("mcpr_d", 1)), empty, &out, &err);
		json_decref(empty);
	}
	T(n == -1);
	T(strstr(err.message, "not in this response's context") != NULL);
	T_STREQ(status_of(s, "mcpr_d"), "pending");

	/* No id, and more answers than fit. */
	n = answer(s, json_pack("[{s:s, s:b}]", "type", "mcp_approval_response", "approve", 1), context, &out,
	           &err);
	T(n == -1);
	T_STREQ(err.code, "approval_not_found");
	{
		json_t *many = json_array();
		int i;

		for (i = 0; i <= APPROVALS_MAX_ANSWERS; i++)
			json_array_append_new(many, answer_item("mcpr_d", 1));
		T(approvals_in_input(many));
		n = answer(s, many, context, &out, &err);
		T(n == -1);
		T_STREQ(err.code, "too_many_approvals");
	}

	json_decref(last_input);
	json_decref(context);
	store_close(s);
}

int
main(void)
{
	test_states();
	test_caller_mode();
	return T_DONE();
}
