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
 *  - item_reference must have been resolved before; compaction and unknown item types: 400.
 *  - tools -> [{type:"function", function:{name, description?, parameters?, strict?}}];
 *    tool_choice -> "none"|"auto"|"required"|{type:"function",function:{name}}; allowed_tools -> its
 *    mode ("auto" default), all tools still sent (the turn suppresses calls outside the list).
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

struct api_error;
struct request;

/* items: the whole context (chain + input, references resolved), borrowed. model: the model name
 * to send (routing suffix already stripped). New reference, or NULL with *err (400) set. */
json_t *upstream_chat_body(const struct request *req, const char *model, const json_t *items,
                           struct api_error *err);

#endif
