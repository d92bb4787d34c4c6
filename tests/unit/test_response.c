/*
 * test_response: response_new() has exactly the keys of the schema's ResponseResource "required"
 * list, with the defaults of RESPONSES-NOTES 1.4, echoes the normalised request (mcp tools without
 * their secrets), and the status setters. With TEST_DUMP_DIR set, the objects are also written
 * there for a schema validator.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/apierr.h"
#include "api/request.h"
#include "api/response.h"
#include "tests/unit/t.h"

static const char *const required_keys[] = {
        "id",
        "object",
        "created_at",
        "completed_at",
        "status",
        "incomplete_details",
        "model",
        "previous_response_id",
        "instructions",
        "output",
        "error",
        "tools",
        "tool_choice",
        "truncation",
        "parallel_tool_calls",
        "text",
        "top_p",
        "presence_penalty",
        "frequency_penalty",
        "top_logprobs",
        "temperature",
        "reasoning",
        "usage",
        "max_output_tokens",
        "max_tool_calls",
        "store",
        "background",
        "service_tier",
        "metadata",
        "safety_identifier",
        "prompt_cache_key",
        NULL,
};

static struct request *
parse(const char *body)
{
	struct api_error err;
	struct request *r = request_parse(body, strlen(body), &err);

	if (r == NULL)
		printf("  parse failed: %s (%s)\n", err.message, err.param);
	return r;
}

static void
dump(const json_t *resp, const char *name)
{
	const char *dir = getenv("TEST_DUMP_DIR");
	char path[512];

	if (dir == NULL)
		return;
	snprintf(path, sizeof path, "%s/%s.json", dir, name);
	T(json_dump_file(resp, path, JSON_INDENT(1)) == 0);
}

static void
check_keys(json_t *resp)
{
	size_t i, n = 0;

	for (i = 0; required_keys[i] != NULL; i++) {
		if (json_object_get(resp, required_keys[i]) == NULL)
			printf("  missing key %s\n", required_keys[i]);
		T(json_object_get(resp, required_keys[i]) != NULL);
		n++;
	}
	T(json_object_size(resp) == n);
}

static int
is(json_t *resp, const char *key, const char *json)
{
	json_t *want = json_loads(json, JSON_DECODE_ANY, NULL);
	int ok = want != NULL && json_equal(json_object_get(resp, key), want);

	if (!ok) {
		char *s = json_dumps(json_object_get(resp, key), JSON_ENCODE_ANY);

		printf("  %s = %s, want %s\n", key, s ? s : "(absent)", json);
		free(s);
	}
	json_decref(want);
	return ok;
}

static void
test_defaults(void)
{
	struct request *r = parse("{\"model\":\"m1\",\"input\":\"hi\"}");
	json_t *resp;

	T(r != NULL);
	if (r == NULL)
		return;
	resp = response_new(r, "resp_abc", 1700000000);
	check_keys(resp);
	T(is(resp, "id", "\"resp_abc\""));
	T(is(resp, "object", "\"response\""));
	T(is(resp, "created_at", "1700000000"));
	T(is(resp, "completed_at", "null"));
	T(is(resp, "status", "\"in_progress\""));
	T(is(resp, "incomplete_details", "null"));
	T(is(resp, "model", "\"m1\""));
	T(is(resp, "previous_response_id", "null"));
	T(is(resp, "instructions", "null"));
	T(is(resp, "output", "[]"));
	T(is(resp, "error", "null"));
	T(is(resp, "tools", "[]"));
	T(is(resp, "tool_choice", "\"auto\""));
	T(is(resp, "truncation", "\"disabled\""));
	T(is(resp, "parallel_tool_calls", "true"));
	T(is(resp, "text", "{\"format\":{\"type\":\"text\"}}"));
	T(is(resp, "top_p", "1.0"));
	T(is(resp, "presence_penalty", "0.0"));
	T(is(resp, "frequency_penalty", "0.0"));
	T(is(resp, "top_logprobs", "0"));
	T(is(resp, "temperature", "1.0"));
	T(is(resp, "reasoning", "null"));
	T(is(resp, "usage", "null"));
	T(is(resp, "max_output_tokens", "null"));
	T(is(resp, "max_tool_calls", "null"));
	T(is(resp, "store", "true"));
	T(is(resp, "background", "false"));
	T(is(resp, "service_tier", "\"auto\""));
	T(is(resp, "metadata", "{}"));
	T(is(resp, "safety_identifier", "null"));
	T(is(resp, "prompt_cache_key", "null"));
	T(json_is_real(json_object_get(resp, "temperature")));
	dump(resp, "response_defaults");
	json_decref(resp);
	request_free(r);

	/* No model at all: still a string. */
	r = parse("{}");
	T(r != NULL);
	if (r == NULL)
		return;
	resp = response_new(r, "resp_x", 1);
	check_keys(resp);
	T(is(resp, "model", "\"\""));
	json_decref(resp);
	request_free(r);
}

static void
test_echo(void)
{
	struct request *r = parse(
	        "{\"model\":\"m2\",\"instructions\":\"be brief\",\"previous_response_id\":\"resp_prev\","
	        "\"tools\":[{\"type\":\"function\",\"name\":\"f\",\"parameters\":{\"type\":\"object\"}}],"
	        "\"tool_choice\":{\"type\":\"allowed_tools\",\"tools\":[{\"type\":\"function\",\"name\":"
	        "\"f\"}]},"
	        "\"parallel_tool_calls\":false,\"max_tool_calls\":3,\"max_output_tokens\":256,"
	        "\"temperature\":0.5,"
	        "\"top_p\":0.9,\"presence_penalty\":0.1,\"frequency_penalty\":-0.1,\"top_logprobs\":5,"
	        "\"reasoning\":{\"effort\":\"high\"},\"text\":{\"format\":{\"type\":\"json_schema\",\"name\":"
	        "\"out\","
	        "\"schema\":{\"type\":\"object\"},\"strict\":true},\"verbosity\":\"high\"},\"store\":false,"
	        "\"background\":true,\"truncation\":\"auto\",\"service_tier\":\"priority\",\"metadata\":{"
	        "\"k\":\"v\"},"
	        "\"user\":\"u\",\"prompt_cache_key\":\"pk\"}");
	json_t *resp;

	T(r != NULL);
	if (r == NULL)
		return;
	resp = response_new(r, "resp_echo", 1700000001);
	check_keys(resp);
	T(is(resp, "instructions", "\"be brief\""));
	T(is(resp, "previous_response_id", "\"resp_prev\""));
	T(is(resp, "tools",
	     "[{\"type\":\"function\",\"name\":\"f\",\"description\":null,"
	     "\"parameters\":{\"type\":\"object\"},\"strict\":null}]"));
	T(is(resp, "tool_choice",
	     "{\"type\":\"allowed_tools\",\"tools\":[{\"type\":\"function\",\"name\":\"f\"}],\"mode\":"
	     "\"auto\"}"));
	T(is(resp, "parallel_tool_calls", "false"));
	T(is(resp, "max_tool_calls", "3"));
	T(is(resp, "max_output_tokens", "256"));
	T(is(resp, "temperature", "0.5"));
	T(is(resp, "top_p", "0.9"));
	T(is(resp, "presence_penalty", "0.1"));
	T(is(resp, "frequency_penalty", "-0.1"));
	T(is(resp, "top_logprobs", "5"));
	T(is(resp, "reasoning", "{\"effort\":\"high\",\"summary\":null}"));
	T(is(resp, "text",
	     "{\"format\":{\"type\":\"json_schema\",\"name\":\"out\",\"description\":null,"
	     "\"schema\":{\"type\":\"object\"},\"strict\":true},\"verbosity\":\"high\"}"));
	T(is(resp, "store", "false"));
	T(is(resp, "background", "true"));
	T(is(resp, "truncation", "\"auto\""));
	T(is(resp, "service_tier", "\"priority\""));
	T(is(resp, "metadata", "{\"k\":\"v\"}"));
	T(is(resp, "safety_identifier", "\"u\""));
	T(is(resp, "prompt_cache_key", "\"pk\""));
	/* Deep copies: changing the response leaves the request alone. */
	json_object_set_new(json_object_get(resp, "metadata"), "added", json_string("x"));
	T(json_object_get(r->metadata, "added") == NULL);
	dump(resp, "response_echo");
	json_decref(resp);
	request_free(r);

	r = parse(
	        "{\"reasoning\":{\"summary\":\"concise\"},\"text\":{\"format\":{\"type\":\"json_object\"}}}");
	T(r != NULL);
	if (r == NULL)
		return;
	resp = response_new(r, "resp_r", 2);
	T(is(resp, "reasoning", "{\"effort\":null,\"summary\":\"concise\"}"));
	T(is(resp, "text", "{\"format\":{\"type\":\"json_object\"}}"));
	dump(resp, "response_json_object");
	json_decref(resp);
	request_free(r);
}

static void
test_status(void)
{
	struct request *r = parse("{\"model\":\"m\"}");
	json_t *resp;

	T(r != NULL);
	if (r == NULL)
		return;
	resp = response_new(r, "resp_s", 3);
	response_set_status(resp, "queued");
	T(is(resp, "status", "\"queued\""));
	T(is(resp, "completed_at", "null"));
	response_set_status(resp, "completed");
	T(is(resp, "status", "\"completed\""));
	T(json_is_integer(json_object_get(resp, "completed_at")) &&
	  json_integer_value(json_object_get(resp, "completed_at")) > 1600000000);
	check_keys(resp);
	dump(resp, "response_completed");
	json_decref(resp);

	resp = response_new(r, "resp_i", 3);
	response_set_incomplete(resp, "max_output_tokens");
	T(is(resp, "status", "\"incomplete\""));
	T(is(resp, "incomplete_details", "{\"reason\":\"max_output_tokens\"}"));
	T(json_is_integer(json_object_get(resp, "completed_at")));
	check_keys(resp);
	dump(resp, "response_incomplete");
	json_decref(resp);

	resp = response_new(r, "resp_f", 3);
	response_set_failed(resp, "model_error", "upstream went away");
	T(is(resp, "status", "\"failed\""));
	T(is(resp, "error", "{\"code\":\"model_error\",\"message\":\"upstream went away\"}"));
	response_set_failed(resp, NULL, NULL);
	T(is(resp, "error", "{\"code\":\"server_error\",\"message\":\"\"}"));
	/* Invalid UTF-8 from a peer must not leave a hole in the object. */
	response_set_failed(resp, "x", "bad \xff bytes");
	T(json_is_string(json_object_get(json_object_get(resp, "error"), "message")));
	check_keys(resp);
	dump(resp, "response_failed");
	json_decref(resp);

	response_set_status(NULL, "completed");
	response_set_incomplete(NULL, "x");
	response_set_failed(NULL, "x", "y");
	request_free(r);
}

/* mcp tools are echoed without their secrets: no authorization, header values "[redacted]", and
 * neither secret anywhere in the serialised response; tool_choice mcp is echoed as normalised. */
static void
test_mcp_redaction(void)
{
	struct request *r = parse(
	        "{\"model\":\"m\",\"tools\":[{\"type\":\"function\",\"name\":\"f\"},"
	        "{\"type\":\"mcp\",\"server_label\":\"docs\",\"server_url\":\"https://mcp.example/mcp\","
	        "\"headers\":{\"X-Api-Key\":\"hdr-secret-1\"},\"authorization\":\"auth-secret-2\","
	        "\"require_approval\":\"never\"},{\"type\":\"mcp\",\"server_label\":\"cfg\"}],"
	        "\"tool_choice\":{\"type\":\"mcp\",\"server_label\":\"docs\",\"name\":\"search\"}}");
	json_t *resp;
	char *s;

	T(r != NULL);
	if (r == NULL)
		return;
	resp = response_new(r, "resp_mcp", 5);
	check_keys(resp);
	T(is(resp, "tools",
	     "[{\"type\":\"function\",\"name\":\"f\",\"description\":null,\"parameters\":null,\"strict\":"
	     "null},"
	     "{\"type\":\"mcp\",\"server_label\":\"docs\",\"server_url\":\"https://mcp.example/mcp\","
	     "\"server_description\":null,\"headers\":{\"X-Api-Key\":\"[redacted]\"},\"allowed_tools\":null,"
	     "\"require_approval\":\"never\"},"
	     "{\"type\":\"mcp\",\"server_label\":\"cfg\",\"server_url\":null,\"server_description\":null,"
	     "\"headers\":null,\"allowed_tools\":null,\"require_approval\":\"always\"}]"));
	T(is(resp, "tool_choice", "{\"type\":\"mcp\",\"server_label\":\"docs\",\"name\":\"search\"}"));
	s = json_dumps(resp, 0);
	T(s != NULL && strstr(s, "hdr-secret-1") == NULL && strstr(s, "auth-secret-2") == NULL &&
	  strstr(s, "authorization") == NULL);
	free(s);
	/* The response's copy is its own: redacting it did not touch the request. */
	T_STREQ(json_string_value(json_object_get(json_array_get(r->mcp_tools, 0), "authorization")),
	        "auth-secret-2");
	dump(resp, "response_mcp");
	json_decref(resp);
	request_free(r);
}

int
main(void)
{
	test_defaults();
	test_echo();
	test_status();
	test_mcp_redaction();
	return T_DONE();
}
