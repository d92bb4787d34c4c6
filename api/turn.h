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

/* Consumes (steals) event. */
typedef void (*turn_emit_fn)(void *ud, json_t *event);

enum turn_end {
	TURN_END_STOP,           /* finish_reason "stop" (or "end_turn"/"eos" and friends) */
	TURN_END_TOOL_CALLS,     /* at least one function_call item was produced */
	TURN_END_LENGTH,         /* finish_reason "length" */
	TURN_END_CONTENT_FILTER, /* finish_reason "content_filter" */
	TURN_END_NO_FINISH,      /* the stream ended without any finish_reason */
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
/* For failures and cancellation: open items get status "incomplete" in the response, no events. */
void turn_abort(struct turn *t);

#endif
