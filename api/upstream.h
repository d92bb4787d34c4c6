/*
 * upstream: Responses items -> a Chat Completions request body (the "history translation" of
 * PEER-LESSONS.md), for any OpenAI-compatible upstream (HF router, vLLM, llama.cpp, Ollama, OpenAI).
 *
 * Rules:
 *  - instructions -> a first {role:"system"} message.
 *  - message items: user -> user; system and developer -> system; content made of text parts only
 *    becomes a plain string (older servers reject arrays), otherwise parts: input_text -> {type:"text"},
 *    input_image -> {type:"image_url", image_url:{url, detail?}}, input_file with file_data ->
 *    {type:"file", file:{filename?, file_data}}; input_file with only file_url: 400.
 *    assistant -> {role:"assistant", content: joined output_text} (+ "refusal" for refusal parts).
 *  - function_call items -> ONE assistant message with tool_calls [{id: call_id, type:"function",
 *    function:{name, arguments}}] for each run of consecutive calls, merged into a directly preceding
 *    assistant message; function_call_output -> {role:"tool", tool_call_id, content: text}; image or
 *    file parts of a tool output go into a user message that follows the run of tool messages.
 *  - reasoning items are accepted and not sent (upstreams differ in how they take them back).
 *  - mcp_call items are tool calls like function_call (merged the same way): an assistant tool_call
 *    {id: the item's id, function:{name: extra->mcp_name(label, name) or "<label>__<name>"
 *    sanitised to [A-Za-z0-9_-]{1,64}, arguments}} followed by a tool message with the output, or
 *    "Error: " + the error's message (or its content as text) when the call failed.
 *  - mcp_list_tools and mcp_approval_response items are not sent; an mcp_approval_request is sent
 *    only when an mcp_approval_response in items denies it and no mcp_call carries its id: then as
 *    an assistant tool_call {id: the request's id} plus a tool message saying the user denied it
 *    (with the reason when one was given), at the request's position.
 *  - compaction items -> a user message "Summary of the earlier conversation:\n" + the text that
 *    extra->compaction_text returns; NULL from it (or no extra): 400 invalid_encrypted_content.
 *  - item_reference must have been resolved before; unknown item types: 400.
 *  - tools -> [{type:"function", function:{name, description?, parameters?, strict?}}];
 *    tool_choice -> "none"|"auto"|"required"|{type:"function",function:{name}}; allowed_tools -> its
 *    mode ("auto" default), all tools still sent (the turn suppresses calls outside the list).
 *    extra->tools (Chat Completions tools for MCP) are appended to the function tools;
 *    extra->tool_choice, when set, is sent as the tool_choice instead of the translated one.
 *  - text.format json_schema -> response_format {type:"json_schema", json_schema:{name, schema,
 *    strict, description?}}; json_object -> {type:"json_object"}; text -> nothing.
 *  - reasoning.effort -> reasoning_effort; max_output_tokens -> max_tokens; temperature, top_p,
 *    presence_penalty, frequency_penalty when given; parallel_tool_calls:false when false and there
 *    are tools; logprobs/top_logprobs when include has message.output_text.logprobs or top_logprobs>0.
 *  - always stream:true with stream_options {include_usage:true}.
 */
#ifndef API_UPSTREAM_H
#define API_UPSTREAM_H

#include <jansson.h>
#include <time.h>

/* The longest Retry-After passed on to a caller: an upstream that asks for more is not believed. */
#define UPSTREAM_RETRY_AFTER_MAX 3600

struct api_error;
struct request;

/* What the engine adds to a request's own tools; every member may be NULL. Borrowed. */
struct upstream_extra {
	const json_t *tools;       /* extra Chat Completions tools */
	const json_t *tool_choice; /* a Chat Completions tool_choice that replaces the translated one */
	/* The model-visible name of MCP tool (label, name), or NULL for the default. */
	const char *(*mcp_name)(void *ud, const char *server_label, const char *name);
	/* The summary inside a compaction item when it verifies (malloc'd), else NULL. */
	char *(*compaction_text)(void *ud, const json_t *item);
	void *ud;
};

/* items: the whole context (chain + input, references resolved), borrowed. model: the model name
 * to send (routing suffix already stripped). extra may be NULL. New reference, or NULL with *err
 * (400) set. */
json_t *upstream_chat_body(const struct request *req, const char *model, const json_t *items,
                           const struct upstream_extra *extra, struct api_error *err);

/* An upstream's Retry-After value (may be NULL) as delta-seconds from now: delta-seconds (digits
 * only) or an HTTP date (IMF-fixdate, or the obsolete RFC 850 and asctime forms; one in the past is
 * 0). -1 when absent, malformed or above UPSTREAM_RETRY_AFTER_MAX. */
long upstream_retry_after(const char *value, time_t now);

#endif
