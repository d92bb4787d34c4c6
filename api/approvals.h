/*
 * approvals: the approval protocol of MCP calls, apart from running them (api/mcprun runs them).
 *
 * Every approval is one row in the store (store_approval_*) in one state of a small machine; each
 * step is a single conditional UPDATE, so that two racing steps cannot both succeed:
 *
 *   pending --decide--> approved --claim--> running --finish--> done   (runs once, after the claim)
 *           \--decide--> denied                                        (never runs)
 *           \--expire--> expired, \--abandon--> abandoned               (an operator's wait)
 *
 * Every step adds one to the row's version. A row left running by a daemon that stopped is done at the
 * next start (store_approval_settle_running): its call may have reached the server, so it never runs
 * again.
 *
 * Caller mode (OpenAI's): a call that needs approval leaves the response as an mcp_approval_request
 * item and a pending row (approvals_issue); the caller answers in a later request with
 * mcp_approval_response items, which approvals_answer checks against the row and the context (the
 * same server, tool and arguments; the caller that was asked; not decided otherwise before), all of
 * them before any is recorded. A row of operator mode is never the caller's to answer.
 *
 * Operator mode (api/ophub): the response waits on a pending "operator" row until an operator decides
 * (approvals_decision), it expires, or the caller goes away.
 */
#ifndef API_APPROVALS_H
#define API_APPROVALS_H

#include <jansson.h>

#include "api/apierr.h"

struct store;

/* mcp_approval_response items one request may carry (each is a store read and context scans). */
#define APPROVALS_MAX_ANSWERS 256

enum approval_state {
	APPROVAL_PENDING,
	APPROVAL_APPROVED,
	APPROVAL_DENIED,
	APPROVAL_EXPIRED,
	APPROVAL_ABANDONED,
	APPROVAL_RUNNING,
	APPROVAL_DONE,
	APPROVAL_STATE_UNKNOWN, /* a status this build does not know */
};

/* The store's name of a state ("pending"...), and back (APPROVAL_STATE_UNKNOWN for NULL or other). */
const char *approval_state_name(enum approval_state s);
enum approval_state approval_state_of(const char *name);

/* What one checked and recorded answer of the caller asks of the run. */
enum approval_verdict {
	APPROVAL_VERDICT_RUN,    /* approved (now, or before with the call not run yet): claim it, then run */
	APPROVAL_VERDICT_DENIED, /* denied now: audit it; the call never runs */
	APPROVAL_VERDICT_NONE,   /* a replay that changes nothing: denied again, or claimed already and
	                          * its mcp_call is in the context */
};

struct approval_answer {
	enum approval_verdict verdict;
	const char *id; /* the rest borrowed from the request's input and the context */
	const char *server_label;
	const char *tool;
	const char *arguments;
	const char *reason; /* the caller's, or NULL */
};

/* The URL the request names for a server label, or NULL when it names none: an approved call runs only
 * against the server it was approved for. */
typedef const char *(*approval_server_url_fn)(void *ud, const char *label);

/* Whether input carries any mcp_approval_response. */
int approvals_in_input(const json_t *input);

/*
 * Checks every mcp_approval_response of input (the request's own items) against its row and against
 * context (the items the model would see: the chain and input), then records each decision by
 * identity. Returns the number of answers with *out (free() it; NULL when 0), or -1 with err: a check
 * that fails changes no row (400, param input[i].approval_request_id), a store failure is a 500.
 */
int approvals_answer(struct store *s, const char *identity, const json_t *input, const json_t *context,
                     approval_server_url_fn url_of, void *ud, struct approval_answer **out,
                     struct api_error *err);

/* Writes the pending row of an mcp_approval_request item (its id, server_label, name, arguments) that
 * response_id issues to identity for the server at server_url. 0, or -1 (store_errmsg says why). */
int approvals_issue(struct store *s, const json_t *request_item, const char *response_id,
                    const char *server_url, const char *identity);

enum approval_claim {
	APPROVAL_CLAIMED,       /* approved -> running: run the call now, and only here */
	APPROVAL_NOT_CLAIMABLE, /* claimed already (another response ran it first), or not approved */
	APPROVAL_CLAIM_FAILED,  /* the store failed: do not run it */
};

/* Claims an approved call just before it runs. */
enum approval_claim approvals_claim(struct store *s, const char *id);
/* running -> done, once the claimed call has ended; only its claimer calls this. 0, or -1 when the row
 * was not running (logged: the machine was broken) or the store failed. */
int approvals_finish(struct store *s, const char *id);

/* An operator's decisions (APPROVALS-NOTES 4). */
enum approval_decision {
	APPROVAL_APPROVE_ONCE,     /* this call */
	APPROVAL_APPROVE_RESPONSE, /* this tool, for the rest of this response */
	APPROVAL_ALWAYS,           /* a rule: this tool at this server while its definition stays the same */
	APPROVAL_DENY,             /* with an optional message to the model */
};
/* "approve_once"..., and back: 0, or -1 for an unknown name. */
const char *approval_decision_name(enum approval_decision d);
int approval_decision_of(const char *name, enum approval_decision *out);

/* The canonical JSON of an MCP Tool's definition (name, title, description, inputSchema, annotations;
 * sorted keys), malloc'd, and its SHA-256 in hash: what an always-rule is bound to. */
char *approvals_definition(const json_t *tool, char hash[65]);

struct store_approval;
/* One approval as the operator's interfaces show it (the keys of store_approval_list's rows, with
 * "object":"approval" and detail as an object). New reference. */
json_t *approvals_row_json(const struct store_approval *a);

#endif
