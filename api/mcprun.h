/*
 * mcprun: the MCP side of one response. It resolves the request's mcp tools against the operator's
 * policy (api/policy), checks the caller's approval responses against the approval rows, lists the
 * servers' tools (reusing an mcp_list_tools item already in the context, else the shared MCP
 * client and its cache), names the tools for the model (api/toolmap), tells the turn what each
 * call the model makes becomes, runs calls concurrently, fills the mcp_* output items with their
 * streaming events (RESPONSES-NOTES 3.4), writes approval rows and one audit row per call. A call
 * that needs approval goes to the caller (an mcp_approval_request) or, in operator mode, waits in
 * api/ophub with its mcp_call item open until an operator decides.
 *
 * The engine drives it: mcp_run_new at the start (400s come from here), mcp_run_prepare (listing,
 * then the approved calls) before the first model turn, mcp_run_upstream_extra for each turn's
 * Chat Completions body, mcp_run_classify as the turn's classifier, mcp_run_calls after each turn.
 * Done callbacks run later than the call that asked for them, on the loop thread, at most once.
 */
#ifndef API_MCPRUN_H
#define API_MCPRUN_H

#include <stdint.h>
#include <jansson.h>

#include "api/turn.h"

struct api_error;
struct config;
struct mcp_client;
struct redact;
struct request;
struct store;
struct upstream_extra;
struct mcp_run;

/* Borrowed for the life of the run, except the strings, which are copied. */
struct mcp_run_env {
	struct mcp_client *client; /* NULL: every MCP operation fails ("unavailable") */
	struct store *store;
	const struct config *cfg;
	const char *response_id;
	const char *identity;      /* the caller, for approval decisions and the audit log */
	const char *caller_client; /* the caller's User-Agent, or NULL: shown to operators */
	json_t *response;          /* output items are appended to response.output */
	/* The job's secrets: mcp_run_new adds every server's header values; every text a server sends
	 * (results, errors, listings) is rewritten with it before it goes anywhere. NULL: none. */
	struct redact *secrets;
	/* Streaming only (else NULL); consumes event, which shares objects with the response:
	 * serialise it before returning (as turn_emit_fn). */
	void (*emit)(void *ud, json_t *event);
	void *ud;
	/* Operator mode (api/ophub): where calls wait for an operator; NULL: there is none, so every
	 * operator-mode call gets no_operator. */
	struct ophub *hub;
	const char *model;   /* shown to the operator */
	unsigned max_wait_s; /* an operator's wait is cut to this (a caller waiting for JSON); 0: none */
};

typedef void (*mcp_run_done_fn)(void *ud);

/*
 * 0 with *out set when the request has mcp tools or approval responses to act on, 0 with *out NULL
 * when it has neither, -1 with *err (400, or 500 when the store fails) otherwise. context: the
 * whole context (chain + input, references resolved), borrowed for the life of the run. Approval
 * responses are decided here (in the store), so a refused request leaves no row changed.
 */
int mcp_run_new(const struct mcp_run_env *env, const struct request *req, const json_t *context,
                struct mcp_run **out, struct api_error *err);
/* Cancels what is in flight (the servers get notifications/cancelled; no callback runs). NULL ok. */
void mcp_run_free(struct mcp_run *run);

/* Lists tools, then runs the approved calls. 1: done will be called; 0: nothing was left to wait
 * for (done is not called). */
int mcp_run_prepare(struct mcp_run *run, mcp_run_done_fn done, void *ud);
/* Fills extra->tools and extra->tool_choice for the next model turn; valid until the run is freed. */
void mcp_run_upstream_extra(struct mcp_run *run, struct upstream_extra *extra);
/* The name the model knows (label, name) by in this response, or NULL (for upstream_extra.mcp_name). */
const char *mcp_run_visible_name(const struct mcp_run *run, const char *server_label, const char *name);
/* A turn_classify_fn; ud is the run. */
enum turn_call_kind mcp_run_classify(void *ud, const char *name, struct turn_mcp_target *target);

/* After turn_finish: runs the turn's mcp_call items and stores its approval requests. Return as
 * mcp_run_prepare. Items left "incomplete" by the turn are closed without running. */
int mcp_run_calls(struct mcp_run *run, struct turn *turn, mcp_run_done_fn done, void *ud);
/* After a turn cut off by length or content_filter: its mcp_call items end "incomplete" (with
 * output_item.done) without running, and its approval requests are not stored. */
void mcp_run_close(struct mcp_run *run, struct turn *turn);
/* 1 when the model asked for a call past max_tool_calls (the call was refused), or an approved
 * call found no room. */
int mcp_run_budget_hit(const struct mcp_run *run);
/* Stops everything in flight: open items end "incomplete", audit rows say "cancelled", operator
 * approvals waited for are abandoned. No done callback runs afterwards. */
void mcp_run_cancel(struct mcp_run *run);
/* Calls waiting for an operator now, and the milliseconds waited so far (the waits' union: time in
 * which at least one call waited). Neither is charged to the response's own timeout. */
size_t mcp_run_waiting(const struct mcp_run *run);
uint64_t mcp_run_wait_ms(const struct mcp_run *run);

#endif
