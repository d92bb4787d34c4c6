/*
 * response: builds the ResponseResource with every key of the schema's "required" list, in the order
 * OpenAI returns them. Containers copied from the request (tools, tool_choice, text.format,
 * metadata) are deep copies, because the response is updated in place and outlives the request;
 * tools come from request_tools_echo(), without the mcp tools' authorization and header values.
 */
#include "api/response.h"

#include <string.h>

#include "api/request.h"
#include "daemon/util.h"

/* json_string() that cannot hand back NULL (it does on invalid UTF-8). */
static json_t *
str_or(const char *s, const char *fallback)
{
	json_t *v = s ? json_string(s) : NULL;

	return v ? v : json_string(fallback);
}

static json_t *
str_or_null(const char *s)
{
	json_t *v = s ? json_string(s) : NULL;

	return v ? v : json_null();
}

static json_t *
copy_or(const json_t *v, json_t *fallback)
{
	json_t *c = v ? json_deep_copy(v) : NULL;

	if (c == NULL)
		return fallback;
	json_decref(fallback);
	return c;
}

json_t *
response_new(const struct request *req, const char *id, int64_t created_at)
{
	json_t *r = json_object(), *text, *reasoning;

	json_object_set_new(r, "id", str_or(id, ""));
	json_object_set_new(r, "object", json_string("response"));
	json_object_set_new(r, "created_at", json_integer(created_at));
	json_object_set_new(r, "completed_at", json_null());
	json_object_set_new(r, "status", json_string("in_progress"));
	json_object_set_new(r, "incomplete_details", json_null());
	/* model is a non-null string in the schema; the engine fills in its default when none was sent. */
	json_object_set_new(r, "model", str_or(req->model, ""));
	json_object_set_new(r, "previous_response_id", str_or_null(req->previous_response_id));
	json_object_set_new(r, "instructions", str_or_null(req->instructions));
	json_object_set_new(r, "output", json_array());
	json_object_set_new(r, "error", json_null());
	/* Never the request's own tools: mcp tools carry secrets that must not be echoed or stored. */
	json_object_set_new(r, "tools", request_tools_echo(req));
	json_object_set_new(r, "tool_choice", copy_or(req->tool_choice, json_string("auto")));
	json_object_set_new(r, "truncation", str_or(req->truncation, "disabled"));
	json_object_set_new(r, "parallel_tool_calls", json_boolean(req->parallel_tool_calls));

	text = json_object();
	json_object_set_new(text, "format", copy_or(req->text_format, json_pack("{s:s}", "type", "text")));
	if (req->verbosity != NULL)
		json_object_set_new(text, "verbosity", json_string(req->verbosity));
	json_object_set_new(r, "text", text);

	json_object_set_new(r, "top_p", json_real(req->has_top_p ? req->top_p : 1.0));
	json_object_set_new(r, "presence_penalty",
	                    json_real(req->has_presence_penalty ? req->presence_penalty : 0.0));
	json_object_set_new(r, "frequency_penalty",
	                    json_real(req->has_frequency_penalty ? req->frequency_penalty : 0.0));
	json_object_set_new(r, "top_logprobs", json_integer(req->top_logprobs >= 0 ? req->top_logprobs : 0));
	json_object_set_new(r, "temperature", json_real(req->has_temperature ? req->temperature : 1.0));

	if (req->reasoning_effort != NULL || req->reasoning_summary != NULL) {
		reasoning = json_object();
		json_object_set_new(reasoning, "effort", str_or_null(req->reasoning_effort));
		json_object_set_new(reasoning, "summary", str_or_null(req->reasoning_summary));
	} else {
		reasoning = json_null();
	}
	json_object_set_new(r, "reasoning", reasoning);

	json_object_set_new(r, "usage", json_null());
	json_object_set_new(r, "max_output_tokens",
	                    req->max_output_tokens >= 0 ? json_integer(req->max_output_tokens) : json_null());
	json_object_set_new(r, "max_tool_calls",
	                    req->max_tool_calls >= 0 ? json_integer(req->max_tool_calls) : json_null());
	json_object_set_new(r, "store", json_boolean(req->store));
	json_object_set_new(r, "background", json_boolean(req->background));
	json_object_set_new(r, "service_tier", str_or(req->service_tier, "auto"));
	json_object_set_new(r, "metadata", copy_or(req->metadata, json_object()));
	json_object_set_new(r, "safety_identifier", str_or_null(req->safety_identifier));
	json_object_set_new(r, "prompt_cache_key", str_or_null(req->prompt_cache_key));
	return r;
}

static int
status_is_terminal(const char *status)
{
	return strcmp(status, "completed") == 0 || strcmp(status, "incomplete") == 0 ||
	       strcmp(status, "failed") == 0 || strcmp(status, "cancelled") == 0;
}

void
response_set_status(json_t *resp, const char *status)
{
	if (resp == NULL || status == NULL)
		return;
	json_object_set_new(resp, "status", str_or(status, "failed"));
	if (status_is_terminal(status))
		json_object_set_new(resp, "completed_at", json_integer(util_wall_s()));
	else
		json_object_set_new(resp, "completed_at", json_null());
}

void
response_set_incomplete(json_t *resp, const char *reason)
{
	if (resp == NULL)
		return;
	response_set_status(resp, "incomplete");
	json_object_set_new(resp, "incomplete_details",
	                    json_pack("{s:o}", "reason", str_or(reason, "unknown")));
}

void
response_set_failed(json_t *resp, const char *code, const char *message)
{
	if (resp == NULL)
		return;
	response_set_status(resp, "failed");
	/* Error.code and Error.message are both required strings. */
	json_object_set_new(resp, "error",
	                    json_pack("{s:o, s:o}", "code", str_or(code, "server_error"), "message",
	                              str_or(message, "")));
}
