/*
 * response: the ResponseResource object (spec 1.4: ALL keys present, nullable ones as null).
 * A response is kept as one jansson object that the engine and turn update in place; snapshots for
 * events are deep copies of it.
 */
#ifndef API_RESPONSE_H
#define API_RESPONSE_H

#include <stdint.h>
#include <jansson.h>

struct request;

/* A new response for req: id, object "response", created_at, completed_at null, status
 * "in_progress", incomplete_details null, model (as the caller sent it), previous_response_id,
 * instructions, output [], error null, tools, tool_choice, parallel_tool_calls, truncation, text
 * {format, verbosity?}, top_p/temperature/presence_penalty/frequency_penalty as numbers (defaults
 * 1, 1, 0, 0), top_logprobs (default 0), reasoning {effort, summary} or null, max_output_tokens,
 * max_tool_calls, store, background, service_tier, metadata, safety_identifier, prompt_cache_key,
 * usage null. New reference. */
json_t *response_new(const struct request *req, const char *id, int64_t created_at);

/* Sets status (and completed_at = now for completed/incomplete/failed/cancelled). */
void response_set_status(json_t *resp, const char *status);
/* status "incomplete" with incomplete_details {reason}. */
void response_set_incomplete(json_t *resp, const char *reason);
/* status "failed" with error {code, message}. */
void response_set_failed(json_t *resp, const char *code, const char *message);

#endif
