/*
 * request: parses and validates a `POST /v1/responses` body (CreateResponseBody of the Open Responses
 * 2026-04-24 schema) into a struct request. Every field of the spec is either implemented or rejected
 * with a clear 400 naming the param; unknown fields are rejected ("unknown_parameter"); nothing is
 * silently ignored.
 *
 * Normalisation done here, so later stages see one shape:
 *  - input: a string becomes one user message; items without "type" but with "role" become
 *    type "message"; message content given as a string becomes one part (input_text for
 *    user/system/developer, output_text with annotations [] for assistant); every item gets an "id"
 *    (kept if given, else generated: msg_, fc_, fco_, rs_ prefixes) and messages a "status"
 *    "completed". item_reference items are kept as {type:"item_reference", id} for the engine to
 *    resolve against the previous_response_id chain.
 *  - tools: each function tool gets all keys: type, name, description|null, parameters|null,
 *    strict|null, and goes to `tools`. Each mcp tool goes to `mcp_tools` as
 *    {type:"mcp", server_label, server_url|null, server_description|null, headers: {..}|null,
 *     authorization: string|null, allowed_tools: null | {tool_names: [..]|null, read_only: bool|null},
 *     require_approval: "always" | "never" | {always: {tool_names|null, read_only|null}|null,
 *                                              never: {tool_names|null, read_only|null}|null}}
 *    (a list allowed_tools becomes {tool_names, read_only:null}; require_approval defaults to
 *    "always"); server labels are unique; connector_id, tunnel_id and other hosted forms: 400.
 *  - input items of type mcp_list_tools, mcp_call, mcp_approval_request, mcp_approval_response and
 *    compaction are checked and kept (ids generated when absent: mcpl_, mcp_, mcpr_, mcpa_, cmp_).
 *  - tool_choice: "none"|"auto"|"required"|{type:"function",name}|{type:"allowed_tools",tools,mode}
 *    |{type:"mcp", server_label, name|null} checked against the tools present (a forced or allowed
 *    name, or the server label, must exist).
 *  - text.format: {type:"text"} | {type:"json_schema",name,schema,description|null,strict} |
 *    {type:"json_object"}.
 * Owned by the loop thread; a request is immutable after parse.
 */
#ifndef API_REQUEST_H
#define API_REQUEST_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

struct api_error;

enum request_include {
	REQUEST_INCLUDE_REASONING_ENCRYPTED = 1 << 0, /* "reasoning.encrypted_content" */
	REQUEST_INCLUDE_LOGPROBS = 1 << 1,            /* "message.output_text.logprobs" */
};

struct request {
	json_t *body; /* the parsed body (owned); the pointers below borrow from it or from the fields */

	const char *model;                /* NULL when absent */
	json_t *input;                    /* normalised item array (owned), possibly empty */
	const char *instructions;         /* NULL when absent or null */
	const char *previous_response_id; /* NULL when absent or null */
	json_t *tools;                    /* normalised function tools (owned), possibly empty */
	json_t *mcp_tools;                /* normalised mcp tools (owned), possibly empty */
	json_t *tool_choice;              /* normalised (owned); "auto" when absent */
	int parallel_tool_calls;          /* default 1 */
	int64_t max_tool_calls;           /* -1: null */
	int64_t max_output_tokens;        /* -1: null */

	/* Sampling: has_* is 0 when absent or null (the response then echoes the default). */
	int has_temperature, has_top_p, has_presence_penalty, has_frequency_penalty;
	double temperature, top_p, presence_penalty, frequency_penalty;
	int top_logprobs; /* -1: null */

	const char *reasoning_effort;  /* none|low|medium|high|xhigh, NULL when absent */
	const char *reasoning_summary; /* concise|detailed|auto, NULL when absent */

	json_t *text_format;   /* normalised (owned); {type:"text"} when absent */
	const char *verbosity; /* low|medium|high, NULL when absent */
	unsigned include;      /* enum request_include bits */

	int store;                /* default 1 */
	int stream;               /* default 0 */
	int include_obfuscation;  /* stream_options.include_obfuscation, default 1 */
	int background;           /* default 0 */
	const char *truncation;   /* "disabled" (default) | "auto" */
	const char *service_tier; /* default "auto" */
	json_t *metadata;         /* object (owned), {} when absent; <= 16 pairs, key <= 64, value <= 512 */
	const char *safety_identifier; /* NULL when absent; "user" is accepted as its alias */
	const char *prompt_cache_key;  /* NULL when absent */
};

/* Parses body[0..len). On success returns a new request (caller frees); on failure NULL and *err
 * filled (400, or 413 for an `input` string over 10 MiB). */
struct request *request_parse(const char *body, size_t len, struct api_error *err);
/* 1 when name is a top-level field request_parse accepts (answered from the table it checks
 * against), else 0. Lets a transport drop fields it tolerates but the strict parser would 400. */
int request_is_field(const char *name);
/* POST /v1/responses/compact: {model (required), input, previous_response_id, instructions,
 * prompt_cache_key}, parsed and normalised as above; every other field keeps its default. */
struct request *request_parse_compact(const char *body, size_t len, struct api_error *err);
/* request tools for echoing in a response: function tools, then mcp tools without authorization,
 * with every header value replaced by "[redacted]" and server_url without user info or query.
 * New reference. */
json_t *request_tools_echo(const struct request *r);
void request_free(struct request *r);

#endif
