/*
 * turn: one upstream Chat Completions turn (a stream of chat.completion.chunk objects, or one
 * non-streamed chat.completion) turned into Responses output items, in place in the response object,
 * and the semantic streaming events that describe each step (spec 1.6 order):
 *   reasoning (delta.reasoning_content or delta.reasoning) -> a "reasoning" item with
 *     content [{type:"reasoning_text", text}] and response.reasoning.delta / .done events;
 *   content -> a "message" item (role assistant, status, content [output_text{text, annotations:[],
 *     logprobs?}]) with output_item.added, content_part.added, output_text.delta xN, output_text.done,
 *     content_part.done, output_item.done;
 *   refusal -> a refusal part with response.refusal.delta / .done;
 *   tool_calls (by index; several interleaved calls in one turn each get their own item) -> a
 *     "function_call" item {id:"fc_...", call_id, name, arguments, status} with
 *     function_call_arguments.delta / .done.
 *   Calls to a tool the request does not allow (tool_choice "none", outside allowed_tools, another
 *   tool than a forced {type:"function"}, not a declared tool, or a second call when
 *   parallel_tool_calls is false) are suppressed: no item.
 *   With a classifier (turn_set_classifier, for requests with MCP tools), each call is what the
 *   classifier says: a function_call as above; an "mcp_call" item {id:"mcp_...", server_label,
 *   name, arguments, output:null, error:null, approval_request_id:null, status:"in_progress"} with
 *   output_item.added, response.mcp_call.in_progress, response.mcp_call_arguments.delta / .done
 *   (the engine runs it and sends the rest); an "mcp_approval_request" item {id:"mcpr_...",
 *   server_label, name, arguments} with only output_item.added / .done; or refused: no item, but
 *   the call is kept (turn_refused) so that the model can be told. Suppressed function calls are
 *   refused the same way then.
 *   usage chunks add to response.usage (accumulated over turns).
 * Items are opened lazily and closed (done events, status "completed") when the next kind starts
 * or at turn_finish (status "incomplete" for the items still open when the turn ended by length or
 * content_filter: spec "Items are state machines"). Every event passed to emit lacks sequence_number
 * (the events module adds it), and carries item_id / output_index / content_index as the spec requires.
 * Every string and count fed by the upstream is capped (max_output_bytes over all text of the turn;
 * 0 means the built-in default of 8 MiB).
 * Owned by the loop thread.
 */
#ifndef API_TURN_H
#define API_TURN_H

#include <stddef.h>
#include <jansson.h>

struct api_error;
struct request;
struct turn;
struct redact;

/* Consumes (steals) event. The event shares objects with the response (items, parts) that change
 * as the turn goes on: serialise or copy it before returning, never keep it or change it. */
typedef void (*turn_emit_fn)(void *ud, json_t *event);

enum turn_end {
	TURN_END_STOP,           /* finish_reason "stop" (or "end_turn"/"eos" and friends) */
	TURN_END_TOOL_CALLS,     /* at least one function_call item was produced */
	TURN_END_LENGTH,         /* finish_reason "length" */
	TURN_END_CONTENT_FILTER, /* finish_reason "content_filter" */
	TURN_END_NO_FINISH,      /* the stream ended without any finish_reason */
};

/* What a call the model made becomes (decided by the engine's classifier). */
enum turn_call_kind {
	TURN_CALL_FUNCTION,     /* a function_call for the caller (tool_choice rules still apply) */
	TURN_CALL_MCP,          /* an mcp_call the engine runs */
	TURN_CALL_MCP_APPROVAL, /* an mcp_approval_request: the caller must approve first */
	TURN_CALL_REFUSED,      /* not run; the model is told */
};
/* For the MCP kinds: which server and tool (borrowed from the classifier; copied by the turn). */
struct turn_mcp_target {
	const char *server_label;
	const char *name;
};
typedef enum turn_call_kind (*turn_classify_fn)(void *ud, const char *name, struct turn_mcp_target *target);

/* An MCP item the turn produced (borrowed; the item is also in response.output). */
struct turn_mcp_item {
	json_t *item;
	size_t output_index;
	int approval; /* an mcp_approval_request, else an mcp_call */
};

/* response and req are borrowed and must outlive the turn. emit may be NULL (non-streaming). */
struct turn *turn_new(json_t *response, const struct request *req, size_t max_output_bytes, turn_emit_fn emit,
                      void *ud);
void turn_free(struct turn *t);
/* One parsed chunk. An {"error":...} object from the upstream, a malformed chunk or a cap overrun
 * gives -1 with *err set (model_error, 502). */
int turn_feed(struct turn *t, const json_t *chunk, struct api_error *err);
/* A whole non-streamed chat.completion (an upstream that ignored stream:true). */
int turn_feed_completion(struct turn *t, const json_t *completion, struct api_error *err);
/* Closes every open item (emitting their done events) and reports why the turn ended. */
void turn_finish(struct turn *t, enum turn_end *end);
/* Before the first feed. */
void turn_set_classifier(struct turn *t, turn_classify_fn fn, void *ud);
/* Before the first feed: the secrets an upstream error text is redacted with before it is cut into
 * an error message (borrowed; must outlive the turn). */
void turn_set_secrets(struct turn *t, const struct redact *secrets);
/* After turn_finish: the MCP items of this turn, in output order. */
size_t turn_mcp_count(const struct turn *t);
const struct turn_mcp_item *turn_mcp_at(const struct turn *t, size_t i);
/* After turn_finish: the refused calls, [{call_id, name, arguments}] (borrowed; empty without a
 * classifier). */
const json_t *turn_refused(const struct turn *t);
/* For failures and cancellation: open items get status "incomplete" in the response, no events. */
void turn_abort(struct turn *t);

#endif
