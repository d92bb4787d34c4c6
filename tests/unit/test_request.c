/*
 * test_request: request_parse() on tables of valid bodies (with checks of the normalised result,
 * written as "path = JSON" pairs against a view of the struct) and of invalid ones (status, param,
 * code), plus the size caps. With TEST_DUMP_DIR set, the normalised results are written there.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/apierr.h"
#include "api/request.h"
#include "tests/unit/t.h"

/* The struct as one JSON object, so that every check is a path lookup. */
static json_t *
view(const struct request *r)
{
	json_t *v = json_object();

#define VSTR(k) json_object_set_new(v, #k, r->k ? json_string(r->k) : json_null())
	VSTR(model);
	VSTR(instructions);
	VSTR(previous_response_id);
	VSTR(reasoning_effort);
	VSTR(reasoning_summary);
	VSTR(verbosity);
	VSTR(truncation);
	VSTR(service_tier);
	VSTR(safety_identifier);
	VSTR(prompt_cache_key);
#undef VSTR
	json_object_set(v, "input", r->input);
	json_object_set(v, "tools", r->tools);
	json_object_set(v, "mcp_tools", r->mcp_tools);
	json_object_set(v, "tool_choice", r->tool_choice);
	json_object_set(v, "text_format", r->text_format);
	json_object_set(v, "metadata", r->metadata);
	json_object_set_new(v, "parallel_tool_calls", json_integer(r->parallel_tool_calls));
	json_object_set_new(v, "max_tool_calls", json_integer(r->max_tool_calls));
	json_object_set_new(v, "max_output_tokens", json_integer(r->max_output_tokens));
	json_object_set_new(v, "temperature", r->has_temperature ? json_real(r->temperature) : json_null());
	json_object_set_new(v, "top_p", r->has_top_p ? json_real(r->top_p) : json_null());
	json_object_set_new(v, "presence_penalty",
	                    r->has_presence_penalty ? json_real(r->presence_penalty) : json_null());
	json_object_set_new(v, "frequency_penalty",
	                    r->has_frequency_penalty ? json_real(r->frequency_penalty) : json_null());
	json_object_set_new(v, "top_logprobs", json_integer(r->top_logprobs));
	json_object_set_new(v, "include", json_integer(r->include));
	json_object_set_new(v, "store", json_integer(r->store));
	json_object_set_new(v, "stream", json_integer(r->stream));
	json_object_set_new(v, "include_obfuscation", json_integer(r->include_obfuscation));
	json_object_set_new(v, "background", json_integer(r->background));
	return v;
}

/* "a.b[2].c" -> the value, or NULL. */
static json_t *
lookup(json_t *root, const char *path)
{
	char key[128];
	const char *p = path;
	json_t *cur = root;
	size_t n;

	while (*p != '\0' && cur != NULL) {
		if (*p == '.') {
			p++;
			continue;
		}
		if (*p == '[') {
			cur = json_array_get(cur, strtoul(p + 1, NULL, 10));
			p = strchr(p, ']');
			if (p == NULL)
				return NULL;
			p++;
			continue;
		}
		n = strcspn(p, ".[");
		if (n >= sizeof key)
			return NULL;
		memcpy(key, p, n);
		key[n] = '\0';
		cur = json_object_get(cur, key);
		p += n;
	}
	return cur;
}

struct check {
	const char *path;
	const char *want; /* JSON text; "?" = present, "-" = absent, "~msg" = a string starting "msg_" */
};

struct valid_case {
	const char *name;
	const char *body;
	struct check checks[12];
};

static const struct valid_case valid_cases[] = {
        {"empty body object",
         "{}",
         {{"model", "null"},
          {"input", "[]"},
          {"tools", "[]"},
          {"tool_choice", "\"auto\""},
          {"text_format", "{\"type\":\"text\"}"},
          {"metadata", "{}"},
          {"parallel_tool_calls", "1"},
          {"store", "1"},
          {"stream", "0"},
          {"truncation", "\"disabled\""},
          {"service_tier", "\"auto\""},
          {"top_logprobs", "-1"}}},
        {"string input",
         "{\"model\":\"m\",\"input\":\"hello\"}",
         {{"model", "\"m\""},
          {"input[0].type", "\"message\""},
          {"input[0].role", "\"user\""},
          {"input[0].status", "\"completed\""},
          {"input[0].id", "~msg"},
          {"input[0].content", "[{\"type\":\"input_text\",\"text\":\"hello\"}]"},
          {"input[1]", "-"}}},
        {"nulls are defaults",
         "{\"model\":null,\"input\":null,\"tools\":null,\"tool_choice\":null,\"temperature\":null,"
         "\"text\":null,\"reasoning\":null,\"metadata\":null,\"stream\":null,\"store\":null,\"user\":null}",
         {{"model", "null"},
          {"input", "[]"},
          {"tool_choice", "\"auto\""},
          {"temperature", "null"},
          {"text_format", "{\"type\":\"text\"}"},
          {"reasoning_effort", "null"},
          {"store", "1"}}},
        {"typeless messages of all roles",
         "{\"input\":[{\"role\":\"system\",\"content\":\"s\"},{\"role\":\"developer\",\"content\":\"d\"},"
         "{\"role\":\"user\",\"content\":\"u\"},{\"role\":\"assistant\",\"content\":\"a\",\"phase\":\"final_"
         "answer\"}]}",
         {{"input[0].type", "\"message\""},
          {"input[0].content", "[{\"type\":\"input_text\",\"text\":\"s\"}]"},
          {"input[1].role", "\"developer\""},
          {"input[2].content[0].type", "\"input_text\""},
          {"input[3].content", "[{\"type\":\"output_text\",\"text\":\"a\",\"annotations\":[]}]"},
          {"input[3].phase", "\"final_answer\""},
          {"input[0].phase", "-"},
          {"input[3].status", "\"completed\""}}},
        {"message ids and status kept",
         "{\"input\":[{\"type\":\"message\",\"id\":\"msg_1\",\"status\":\"incomplete\",\"role\":"
         "\"assistant\","
         "\"content\":[{\"type\":\"output_text\",\"text\":\"x\",\"annotations\":[{\"type\":\"url_citation\","
         "\"start_index\":0,\"end_index\":1,\"url\":\"https://a\",\"title\":\"t\"}],\"logprobs\":[{\"token\":"
         "\"x\",\"logprob\":-0.5,\"bytes\":[120],\"top_logprobs\":[{\"token\":\"y\",\"logprob\":-1,\"bytes\":"
         "[]}]}]},"
         "{\"type\":\"refusal\",\"refusal\":\"no\"}]}]}",
         {{"input[0].id", "\"msg_1\""},
          {"input[0].status", "\"incomplete\""},
          {"input[0].content[0].annotations[0].url", "\"https://a\""},
          {"input[0].content[0].logprobs[0].token", "\"x\""},
          {"input[0].content[0].logprobs[0].top_logprobs[0].token", "\"y\""},
          {"input[0].content[1]", "{\"type\":\"refusal\",\"refusal\":\"no\"}"}}},
        {"images and files",
         "{\"input\":[{\"role\":\"user\",\"content\":[{\"type\":\"input_text\",\"text\":\"what\"},"
         "{\"type\":\"input_image\",\"image_url\":\"https://example.com/a.png\"},"
         "{\"type\":\"input_image\",\"image_url\":\"data:image/png;base64,iVBO\",\"detail\":\"low\"},"
         "{\"type\":\"input_file\",\"filename\":\"a.pdf\",\"file_data\":\"JVBER\"},"
         "{\"type\":\"input_file\",\"file_url\":\"http://example.com/b.pdf\"},"
         "{\"type\":\"input_image\",\"image_url\":\"https://x/y\",\"detail\":null}]}]}",
         {{"input[0].content[1]",
           "{\"type\":\"input_image\",\"image_url\":\"https://example.com/a.png\",\"detail\":\"auto\"}"},
          {"input[0].content[2].detail", "\"low\""},
          {"input[0].content[3]", "{\"type\":\"input_file\",\"filename\":\"a.pdf\",\"file_data\":\"JVBER\"}"},
          {"input[0].content[4]", "{\"type\":\"input_file\",\"file_url\":\"http://example.com/b.pdf\"}"},
          {"input[0].content[5].detail", "\"auto\""}}},
        {"function call and output",
         "{\"input\":[{\"type\":\"function_call\",\"call_id\":\"c1\",\"name\":\"get_w\",\"arguments\":\"{}\"}"
         ","
         "{\"type\":\"function_call_output\",\"call_id\":\"c1\",\"output\":\"sunny\"},"
         "{\"type\":\"function_call_output\",\"id\":\"fco_x\",\"call_id\":\"c1\",\"status\":\"completed\","
         "\"output\":[{\"type\":\"input_text\",\"text\":\"t\"},{\"type\":\"input_image\",\"image_url\":"
         "\"https://i\"},"
         "{\"type\":\"input_video\",\"video_url\":\"https://v\"}]}]}",
         {{"input[0]", "?"},
          {"input[0].id", "?"},
          {"input[0].name", "\"get_w\""},
          {"input[0].arguments", "\"{}\""},
          {"input[0].status", "\"completed\""},
          {"input[1].output", "\"sunny\""},
          {"input[1].call_id", "\"c1\""},
          {"input[2].id", "\"fco_x\""},
          {"input[2].output[1].detail", "\"auto\""},
          {"input[2].output[2].video_url", "\"https://v\""}}},
        {"reasoning items",
         "{\"input\":[{\"type\":\"reasoning\",\"summary\":[]},{\"type\":\"reasoning\",\"id\":\"rs_1\","
         "\"summary\":[{\"type\":\"summary_text\",\"text\":\"s\"}],\"content\":[{\"type\":\"reasoning_text\","
         "\"text\":\"r\"}],\"encrypted_content\":\"enc\"},{\"type\":\"reasoning\",\"summary\":[],\"content\":"
         "null,"
         "\"encrypted_content\":null}]}",
         {{"input[0].summary", "[]"},
          {"input[0].content", "-"},
          {"input[0].encrypted_content", "-"},
          {"input[1].id", "\"rs_1\""},
          {"input[1].content[0].text", "\"r\""},
          {"input[1].encrypted_content", "\"enc\""},
          {"input[2].content", "-"},
          {"input[2].encrypted_content", "-"}}},
        {"item references",
         "{\"previous_response_id\":\"resp_1\",\"input\":[{\"type\":\"item_reference\",\"id\":\"msg_9\"},"
         "{\"type\":null,\"id\":\"fc_9\"},{\"id\":\"rs_9\"}]}",
         {{"previous_response_id", "\"resp_1\""},
          {"input[0]", "{\"type\":\"item_reference\",\"id\":\"msg_9\"}"},
          {"input[1]", "{\"type\":\"item_reference\",\"id\":\"fc_9\"}"},
          {"input[2]", "{\"type\":\"item_reference\",\"id\":\"rs_9\"}"}}},
        {"function tools all keys",
         "{\"tools\":[{\"type\":\"function\",\"name\":\"a\"},{\"type\":\"function\",\"name\":\"b-2_X\","
         "\"description\":\"d\",\"parameters\":{\"type\":\"object\"},\"strict\":true}]}",
         {{"tools[0]",
           "{\"type\":\"function\",\"name\":\"a\",\"description\":null,\"parameters\":null,\"strict\":null}"},
          {"tools[1]", "{\"type\":\"function\",\"name\":\"b-2_X\",\"description\":\"d\","
                       "\"parameters\":{\"type\":\"object\"},\"strict\":true}"}}},
        {"tool_choice none", "{\"tool_choice\":\"none\"}", {{"tool_choice", "\"none\""}}},
        {"tool_choice required",
         "{\"tools\":[{\"type\":\"function\",\"name\":\"f\"}],\"tool_choice\":\"required\"}",
         {{"tool_choice", "\"required\""}}},
        {"tool_choice function",
         "{\"tools\":[{\"type\":\"function\",\"name\":\"f\"}],\"tool_choice\":{\"type\":\"function\","
         "\"name\":\"f\"}}",
         {{"tool_choice", "{\"type\":\"function\",\"name\":\"f\"}"}}},
        {"tool_choice allowed_tools default mode",
         "{\"tools\":[{\"type\":\"function\",\"name\":\"f\"},{\"type\":\"function\",\"name\":\"g\"}],"
         "\"tool_choice\":{\"type\":\"allowed_tools\",\"tools\":[{\"type\":\"function\",\"name\":\"g\"}]}}",
         {{"tool_choice", "{\"type\":\"allowed_tools\",\"tools\":[{\"type\":\"function\",\"name\":\"g\"}],"
                          "\"mode\":\"auto\"}"}}},
        {"tool_choice allowed_tools required",
         "{\"tools\":[{\"type\":\"function\",\"name\":\"f\"}],\"tool_choice\":{\"type\":\"allowed_tools\","
         "\"mode\":\"required\",\"tools\":[{\"type\":\"function\",\"name\":\"f\"}]}}",
         {{"tool_choice.mode", "\"required\""}}},
        {"json_schema format",
         "{\"text\":{\"format\":{\"type\":\"json_schema\",\"name\":\"person\",\"schema\":{\"type\":"
         "\"object\","
         "\"properties\":{\"n\":{\"type\":\"string\"}}},\"strict\":true},\"verbosity\":\"low\"}}",
         {{"text_format",
           "{\"type\":\"json_schema\",\"name\":\"person\",\"description\":null,\"schema\":"
           "{\"type\":\"object\",\"properties\":{\"n\":{\"type\":\"string\"}}},\"strict\":true}"},
          {"verbosity", "\"low\""}}},
        {"json_schema defaults",
         "{\"text\":{\"format\":{\"type\":\"json_schema\",\"name\":\"p\",\"description\":\"x\",\"schema\":{}}"
         "}}",
         {{"text_format.strict", "false"}, {"text_format.description", "\"x\""}}},
        {"json_object and text formats",
         "{\"text\":{\"format\":{\"type\":\"json_object\"}}}",
         {{"text_format", "{\"type\":\"json_object\"}"}}},
        {"sampling and limits",
         "{\"temperature\":0,\"top_p\":1,\"presence_penalty\":-2,\"frequency_penalty\":2.0,\"top_logprobs\":"
         "20,"
         "\"max_output_tokens\":16,\"max_tool_calls\":1,\"parallel_tool_calls\":false}",
         {{"temperature", "0.0"},
          {"top_p", "1.0"},
          {"presence_penalty", "-2.0"},
          {"frequency_penalty", "2.0"},
          {"top_logprobs", "20"},
          {"max_output_tokens", "16"},
          {"max_tool_calls", "1"},
          {"parallel_tool_calls", "0"}}},
        {"integral real accepted as integer",
         "{\"max_output_tokens\":100.0}",
         {{"max_output_tokens", "100"}}},
        {"settings",
         "{\"reasoning\":{\"effort\":\"xhigh\",\"summary\":\"auto\"},\"include\":[\"reasoning.encrypted_"
         "content\","
         "\"message.output_text.logprobs\"],\"store\":false,\"stream\":true,\"stream_options\":"
         "{\"include_obfuscation\":false},\"background\":true,\"truncation\":\"auto\",\"service_tier\":"
         "\"flex\"}",
         {{"reasoning_effort", "\"xhigh\""},
          {"reasoning_summary", "\"auto\""},
          {"include", "3"},
          {"store", "0"},
          {"stream", "1"},
          {"include_obfuscation", "0"},
          {"background", "1"},
          {"truncation", "\"auto\""},
          {"service_tier", "\"flex\""}}},
        {"metadata and identifiers",
         "{\"metadata\":{\"a\":\"1\",\"b\":\"\"},\"safety_identifier\":\"u1\",\"prompt_cache_key\":\"k\","
         "\"instructions\":\"be brief\"}",
         {{"metadata", "{\"a\":\"1\",\"b\":\"\"}"},
          {"safety_identifier", "\"u1\""},
          {"prompt_cache_key", "\"k\""},
          {"instructions", "\"be brief\""}}},
        {"user is an alias", "{\"user\":\"u2\"}", {{"safety_identifier", "\"u2\""}}},
        {"user equal to safety_identifier",
         "{\"user\":\"u3\",\"safety_identifier\":\"u3\"}",
         {{"safety_identifier", "\"u3\""}}},
        {"reasoning empty object",
         "{\"reasoning\":{}}",
         {{"reasoning_effort", "null"}, {"reasoning_summary", "null"}}},
        {"spec allowed_tools example",
         "{\"model\":\"gpt-openresponses-1\",\"input\":[{\"role\":\"user\",\"content\":[{\"type\":\"input_"
         "text\","
         "\"text\":\"Summarize\"}]}],\"tools\":[{\"type\":\"function\",\"name\":\"get_latest_sales_report\","
         "\"description\":\"Fetches\",\"parameters\":{\"type\":\"object\",\"properties\":{\"region\":{"
         "\"type\":"
         "\"string\"}},\"required\":[\"region\"]}},{\"type\":\"function\",\"name\":\"send_email\"}],"
         "\"tool_choice\":{\"type\":\"allowed_tools\",\"tools\":[{\"type\":\"function\",\"name\":"
         "\"get_latest_sales_report\"}]}}",
         {{"input[0].type", "\"message\""}, {"tool_choice.tools[0].name", "\"get_latest_sales_report\""}}},
};

struct invalid_case {
	const char *body;
	int status;
	const char *param; /* NULL: null */
	const char *code;
};

static const struct invalid_case invalid_cases[] = {
        /* the body itself */
        {"", 400, NULL, "invalid_json"},
        {"{", 400, NULL, "invalid_json"},
        {"[]", 400, NULL, "invalid_type"},
        {"\"x\"", 400, NULL, "invalid_type"},
        {"{} x", 400, NULL, "invalid_json"},
        {"{\"model\":\"a\",\"model\":\"b\"}", 400, NULL, "invalid_json"},
        {"{\"foo\":1}", 400, "foo", "unknown_parameter"},
        {"{\"response_format\":{}}", 400, "response_format", "unknown_parameter"},
        {"{\"messages\":[]}", 400, "messages", "unknown_parameter"},
        /* scalars */
        {"{\"model\":1}", 400, "model", "invalid_type"},
        {"{\"model\":\"\"}", 400, "model", "empty_string"},
        {"{\"instructions\":[]}", 400, "instructions", "invalid_type"},
        {"{\"previous_response_id\":5}", 400, "previous_response_id", "invalid_type"},
        {"{\"parallel_tool_calls\":\"yes\"}", 400, "parallel_tool_calls", "invalid_type"},
        {"{\"max_tool_calls\":0}", 400, "max_tool_calls", "integer_below_min_value"},
        {"{\"max_tool_calls\":1.5}", 400, "max_tool_calls", "invalid_type"},
        {"{\"max_output_tokens\":15}", 400, "max_output_tokens", "integer_below_min_value"},
        {"{\"max_output_tokens\":\"100\"}", 400, "max_output_tokens", "invalid_type"},
        {"{\"temperature\":2.01}", 400, "temperature", "decimal_above_max_value"},
        {"{\"temperature\":-0.1}", 400, "temperature", "decimal_below_min_value"},
        {"{\"temperature\":\"1\"}", 400, "temperature", "invalid_type"},
        {"{\"top_p\":1.5}", 400, "top_p", "decimal_above_max_value"},
        {"{\"presence_penalty\":-3}", 400, "presence_penalty", "decimal_below_min_value"},
        {"{\"frequency_penalty\":2.5}", 400, "frequency_penalty", "decimal_above_max_value"},
        {"{\"top_logprobs\":21}", 400, "top_logprobs", "integer_above_max_value"},
        {"{\"top_logprobs\":-1}", 400, "top_logprobs", "integer_below_min_value"},
        {"{\"store\":\"true\"}", 400, "store", "invalid_type"},
        {"{\"stream\":1}", 400, "stream", "invalid_type"},
        {"{\"background\":\"no\"}", 400, "background", "invalid_type"},
        {"{\"truncation\":\"sometimes\"}", 400, "truncation", "invalid_value"},
        {"{\"service_tier\":\"gold\"}", 400, "service_tier", "invalid_value"},
        {"{\"safety_identifier\":\"12345678901234567890123456789012345678901234567890123456789012345\"}", 400,
         "safety_identifier", "string_above_max_length"},
        {"{\"prompt_cache_key\":\"12345678901234567890123456789012345678901234567890123456789012345\"}", 400,
         "prompt_cache_key", "string_above_max_length"},
        {"{\"user\":{}}", 400, "user", "invalid_type"},
        {"{\"user\":\"a\",\"safety_identifier\":\"b\"}", 400, "user", "invalid_value"},
        /* reasoning, text, include, stream_options, metadata */
        {"{\"reasoning\":\"high\"}", 400, "reasoning", "invalid_type"},
        {"{\"reasoning\":{\"effort\":\"max\"}}", 400, "reasoning.effort", "invalid_value"},
        {"{\"reasoning\":{\"summary\":\"short\"}}", 400, "reasoning.summary", "invalid_value"},
        {"{\"reasoning\":{\"budget\":1}}", 400, "reasoning.budget", "unknown_parameter"},
        {"{\"text\":{\"verbosity\":\"loud\"}}", 400, "text.verbosity", "invalid_value"},
        {"{\"text\":{\"format\":{\"type\":\"xml\"}}}", 400, "text.format.type", "invalid_value"},
        {"{\"text\":{\"format\":{}}}", 400, "text.format.type", "missing_required_parameter"},
        {"{\"text\":{\"format\":{\"type\":\"json_schema\",\"schema\":{}}}}", 400, "text.format.name",
         "missing_required_parameter"},
        {"{\"text\":{\"format\":{\"type\":\"json_schema\",\"name\":\"a b\",\"schema\":{}}}}", 400,
         "text.format.name", "invalid_value"},
        {"{\"text\":{\"format\":{\"type\":\"json_schema\",\"name\":\"a\"}}}", 400, "text.format.schema",
         "missing_required_parameter"},
        {"{\"text\":{\"format\":{\"type\":\"json_schema\",\"name\":\"a\",\"schema\":[]}}}", 400,
         "text.format.schema", "invalid_type"},
        {"{\"text\":{\"format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"a\"}}}}", 400,
         "text.format.json_schema", "unknown_parameter"},
        {"{\"text\":{\"format\":{\"type\":\"text\",\"x\":1}}}", 400, "text.format.x", "unknown_parameter"},
        {"{\"include\":[\"file_search_call.results\"]}", 400, "include[0]", "invalid_value"},
        {"{\"include\":\"reasoning.encrypted_content\"}", 400, "include", "invalid_type"},
        {"{\"stream_options\":{\"include_usage\":true}}", 400, "stream_options.include_usage",
         "unknown_parameter"},
        {"{\"stream_options\":{\"include_obfuscation\":1}}", 400, "stream_options.include_obfuscation",
         "invalid_type"},
        {"{\"metadata\":[]}", 400, "metadata", "invalid_type"},
        {"{\"metadata\":{\"a\":1}}", 400, "metadata.a", "invalid_type"},
        {"{\"metadata\":{\"1\":\"\",\"2\":\"\",\"3\":\"\",\"4\":\"\",\"5\":\"\",\"6\":\"\",\"7\":\"\",\"8\":"
         "\"\","
         "\"9\":\"\",\"10\":\"\",\"11\":\"\",\"12\":\"\",\"13\":\"\",\"14\":\"\",\"15\":\"\",\"16\":\"\","
         "\"17\":\"\"}}",
         400, "metadata", "object_above_max_properties"},
        {"{\"metadata\":{\"12345678901234567890123456789012345678901234567890123456789012345\":\"v\"}}", 400,
         "metadata", "string_above_max_length"},
        /* tools */
        {"{\"tools\":{}}", 400, "tools", "invalid_type"},
        {"{\"tools\":[1]}", 400, "tools[0]", "invalid_type"},
        {"{\"tools\":[{\"name\":\"f\"}]}", 400, "tools[0].type", "missing_required_parameter"},
        {"{\"tools\":[{\"type\":\"web_search\"}]}", 400, "tools[0].type", "unsupported_value"},
        {"{\"tools\":[{\"type\":\"function\"}]}", 400, "tools[0].name", "missing_required_parameter"},
        {"{\"tools\":[{\"type\":\"function\",\"name\":\"\"}]}", 400, "tools[0].name", "empty_string"},
        {"{\"tools\":[{\"type\":\"function\",\"name\":\"a.b\"}]}", 400, "tools[0].name", "invalid_value"},
        {"{\"tools\":[{\"type\":\"function\",\"name\":"
         "\"a1234567890123456789012345678901234567890123456789012345678901234\"}]}",
         400, "tools[0].name", "string_above_max_length"},
        {"{\"tools\":[{\"type\":\"function\",\"name\":\"f\"},{\"type\":\"function\",\"name\":\"f\"}]}", 400,
         "tools[1].name", "invalid_value"},
        {"{\"tools\":[{\"type\":\"function\",\"name\":\"f\",\"parameters\":\"{}\"}]}", 400,
         "tools[0].parameters", "invalid_type"},
        {"{\"tools\":[{\"type\":\"function\",\"name\":\"f\",\"strict\":\"yes\"}]}", 400, "tools[0].strict",
         "invalid_type"},
        {"{\"tools\":[{\"type\":\"function\",\"name\":\"f\",\"extra\":1}]}", 400, "tools[0].extra",
         "unknown_parameter"},
        {"{\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}]}", 400, "tools[0].function",
         "unknown_parameter"},
        /* tool_choice */
        {"{\"tool_choice\":\"any\"}", 400, "tool_choice", "invalid_value"},
        {"{\"tool_choice\":\"required\"}", 400, "tool_choice", "invalid_value"},
        {"{\"tool_choice\":5}", 400, "tool_choice", "invalid_type"},
        {"{\"tool_choice\":{\"type\":\"function\",\"name\":\"nope\"}}", 400, "tool_choice.name",
         "invalid_value"},
        {"{\"tools\":[{\"type\":\"function\",\"name\":\"f\"}],\"tool_choice\":{\"type\":\"function\"}}", 400,
         "tool_choice.name", "missing_required_parameter"},
        {"{\"tool_choice\":{\"type\":\"mcp\",\"server_label\":\"x\"}}", 400, "tool_choice.server_label",
         "invalid_value"},
        {"{\"tools\":[{\"type\":\"function\",\"name\":\"f\"}],\"tool_choice\":{\"type\":\"allowed_tools\","
         "\"tools\":[]}}",
         400, "tool_choice.tools", "empty_array"},
        {"{\"tools\":[{\"type\":\"function\",\"name\":\"f\"}],\"tool_choice\":{\"type\":\"allowed_tools\","
         "\"tools\":[{\"type\":\"function\",\"name\":\"g\"}]}}",
         400, "tool_choice.tools[0].name", "invalid_value"},
        {"{\"tools\":[{\"type\":\"function\",\"name\":\"f\"}],\"tool_choice\":{\"type\":\"allowed_tools\","
         "\"tools\":[{\"type\":\"function\",\"name\":\"f\"}],\"mode\":\"sometimes\"}}",
         400, "tool_choice.mode", "invalid_value"},
        {"{\"tools\":[{\"type\":\"function\",\"name\":\"f\"}],\"tool_choice\":{\"type\":\"allowed_tools\"}}",
         400, "tool_choice.tools", "missing_required_parameter"},
        /* input */
        {"{\"input\":5}", 400, "input", "invalid_type"},
        {"{\"input\":{}}", 400, "input", "invalid_type"},
        {"{\"input\":[\"hi\"]}", 400, "input[0]", "invalid_type"},
        {"{\"input\":[{\"content\":\"hi\"}]}", 400, "input[0].type", "missing_required_parameter"},
        {"{\"input\":[{\"type\":7}]}", 400, "input[0].type", "invalid_type"},
        {"{\"input\":[{\"type\":\"web_search_call\"}]}", 400, "input[0].type", "invalid_value"},
        {"{\"input\":[{\"type\":\"message\",\"content\":\"x\"}]}", 400, "input[0].role",
         "missing_required_parameter"},
        {"{\"input\":[{\"role\":\"robot\",\"content\":\"x\"}]}", 400, "input[0].role", "invalid_value"},
        {"{\"input\":[{\"role\":\"tool\",\"content\":\"x\"}]}", 400, "input[0].role", "invalid_value"},
        {"{\"input\":[{\"role\":\"user\"}]}", 400, "input[0].content", "missing_required_parameter"},
        {"{\"input\":[{\"role\":\"user\",\"content\":5}]}", 400, "input[0].content", "invalid_type"},
        {"{\"input\":[{\"role\":\"user\",\"content\":\"x\",\"name\":\"bob\"}]}", 400, "input[0].name",
         "unknown_parameter"},
        {"{\"input\":[{\"role\":\"user\",\"content\":\"x\",\"phase\":\"commentary\"}]}", 400,
         "input[0].phase", "invalid_value"},
        {"{\"input\":[{\"role\":\"assistant\",\"content\":\"x\",\"phase\":\"draft\"}]}", 400,
         "input[0].phase", "invalid_value"},
        {"{\"input\":[{\"role\":\"user\",\"content\":\"x\",\"status\":\"done\"}]}", 400, "input[0].status",
         "invalid_value"},
        {"{\"input\":[{\"role\":\"user\",\"content\":\"x\",\"id\":\"\"}]}", 400, "input[0].id",
         "empty_string"},
        {"{\"input\":[{\"role\":\"user\",\"content\":[\"x\"]}]}", 400, "input[0].content[0]", "invalid_type"},
        {"{\"input\":[{\"role\":\"user\",\"content\":[{\"text\":\"x\"}]}]}", 400, "input[0].content[0].type",
         "missing_required_parameter"},
        {"{\"input\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"x\"}]}]}", 400,
         "input[0].content[0].type", "invalid_value"},
        {"{\"input\":[{\"role\":\"user\",\"content\":[{\"type\":\"input_text\"}]}]}", 400,
         "input[0].content[0].text", "missing_required_parameter"},
        {"{\"input\":[{\"role\":\"user\",\"content\":[{\"type\":\"input_text\",\"text\":1}]}]}", 400,
         "input[0].content[0].text", "invalid_type"},
        {"{\"input\":[{\"role\":\"user\",\"content\":[{\"type\":\"input_text\",\"text\":\"x\",\"y\":1}]}]}",
         400, "input[0].content[0].y", "unknown_parameter"},
        {"{\"input\":[{\"role\":\"user\",\"content\":[{\"type\":\"output_text\",\"text\":\"x\"}]}]}", 400,
         "input[0].content[0].type", "invalid_value"},
        {"{\"input\":[{\"role\":\"system\",\"content\":[{\"type\":\"input_image\",\"image_url\":\"https://"
         "a\"}]}]}",
         400, "input[0].content[0].type", "invalid_value"},
        {"{\"input\":[{\"role\":\"developer\",\"content\":[{\"type\":\"refusal\",\"refusal\":\"x\"}]}]}", 400,
         "input[0].content[0].type", "invalid_value"},
        {"{\"input\":[{\"role\":\"assistant\",\"content\":[{\"type\":\"input_text\",\"text\":\"x\"}]}]}", 400,
         "input[0].content[0].type", "invalid_value"},
        {"{\"input\":[{\"role\":\"user\",\"content\":\"a\"},{\"role\":\"user\",\"content\":[{\"type\":"
         "\"input_text\",\"text\":\"x\"},{\"type\":\"input_text\",\"text\":\"x\"},{\"type\":\"input_image\","
         "\"image_url\":\"ftp://x/y\"}]}]}",
         400, "input[1].content[2].image_url", "invalid_value"},
        {"{\"input\":[{\"role\":\"user\",\"content\":[{\"type\":\"input_image\",\"image_url\":\"https://"
         "\"}]}]}",
         400, "input[0].content[0].image_url", "invalid_value"},
        {"{\"input\":[{\"role\":\"user\",\"content\":[{\"type\":\"input_image\",\"image_url\":\"data:image/"
         "png\"}]}]}",
         400, "input[0].content[0].image_url", "invalid_value"},
        {"{\"input\":[{\"role\":\"user\",\"content\":[{\"type\":\"input_image\"}]}]}", 400,
         "input[0].content[0].image_url", "missing_required_parameter"},
        {"{\"input\":[{\"role\":\"user\",\"content\":[{\"type\":\"input_image\",\"file_id\":\"file_1\"}]}]}",
         400, "input[0].content[0].file_id", "unsupported_value"},
        {"{\"input\":[{\"role\":\"user\",\"content\":[{\"type\":\"input_image\",\"image_url\":\"https://a\","
         "\"detail\":\"ultra\"}]}]}",
         400, "input[0].content[0].detail", "invalid_value"},
        {"{\"input\":[{\"role\":\"user\",\"content\":[{\"type\":\"input_file\",\"filename\":\"a\"}]}]}", 400,
         "input[0].content[0].file_data", "missing_required_parameter"},
        {"{\"input\":[{\"role\":\"user\",\"content\":[{\"type\":\"input_file\",\"file_id\":\"f\"}]}]}", 400,
         "input[0].content[0].file_id", "unsupported_value"},
        {"{\"input\":[{\"role\":\"user\",\"content\":[{\"type\":\"input_file\",\"file_url\":\"file:///etc/"
         "passwd\"}]}]}",
         400, "input[0].content[0].file_url", "invalid_value"},
        {"{\"input\":[{\"role\":\"user\",\"content\":[{\"type\":\"input_video\",\"video_url\":\"https://"
         "v\"}]}]}",
         400, "input[0].content[0].type", "invalid_value"},
        {"{\"input\":[{\"role\":\"assistant\",\"content\":[{\"type\":\"output_text\",\"text\":\"x\","
         "\"annotations\":[{\"type\":\"file_citation\"}]}]}]}",
         400, "input[0].content[0].annotations[0].type", "invalid_value"},
        {"{\"input\":[{\"role\":\"assistant\",\"content\":[{\"type\":\"output_text\",\"text\":\"x\","
         "\"annotations\":[{\"type\":\"url_citation\",\"start_index\":-1,\"end_index\":0,\"url\":\"u\","
         "\"title\":\"t\"}]}]}]}",
         400, "input[0].content[0].annotations[0].start_index", "integer_below_min_value"},
        {"{\"input\":[{\"role\":\"assistant\",\"content\":[{\"type\":\"output_text\",\"text\":\"x\","
         "\"annotations\":[{\"type\":\"url_citation\",\"end_index\":0,\"url\":\"u\",\"title\":\"t\"}]}]}]}",
         400, "input[0].content[0].annotations[0].start_index", "missing_required_parameter"},
        {"{\"input\":[{\"role\":\"assistant\",\"content\":[{\"type\":\"output_text\",\"text\":\"x\","
         "\"logprobs\":[{\"token\":\"x\",\"logprob\":0,\"bytes\":[300],\"top_logprobs\":[]}]}]}]}",
         400, "input[0].content[0].logprobs[0].bytes[0]", "invalid_value"},
        {"{\"input\":[{\"role\":\"assistant\",\"content\":[{\"type\":\"output_text\",\"text\":\"x\","
         "\"logprobs\":[{\"token\":\"x\",\"bytes\":[],\"top_logprobs\":[]}]}]}]}",
         400, "input[0].content[0].logprobs[0].logprob", "missing_required_parameter"},
        {"{\"input\":[{\"role\":\"assistant\",\"content\":[{\"type\":\"refusal\"}]}]}", 400,
         "input[0].content[0].refusal", "missing_required_parameter"},
        {"{\"input\":[{\"role\":\"assistant\",\"content\":\"x\",\"tool_calls\":[]}]}", 400,
         "input[0].tool_calls", "unknown_parameter"},
        {"{\"input\":[{\"type\":\"function_call\",\"name\":\"f\",\"arguments\":\"{}\"}]}", 400,
         "input[0].call_id", "missing_required_parameter"},
        {"{\"input\":[{\"type\":\"function_call\",\"call_id\":\"c\",\"arguments\":\"{}\"}]}", 400,
         "input[0].name", "missing_required_parameter"},
        {"{\"input\":[{\"type\":\"function_call\",\"call_id\":\"c\",\"name\":\"f\"}]}", 400,
         "input[0].arguments", "missing_required_parameter"},
        {"{\"input\":[{\"type\":\"function_call\",\"call_id\":\"c\",\"name\":\"f\",\"arguments\":{}}]}", 400,
         "input[0].arguments", "invalid_type"},
        {"{\"input\":[{\"type\":\"function_call\",\"call_id\":\"c\",\"name\":\"f f\",\"arguments\":\"{}\"}]}",
         400, "input[0].name", "invalid_value"},
        {"{\"input\":[{\"type\":\"function_call\",\"call_id\":"
         "\"12345678901234567890123456789012345678901234567890123456789012345\",\"name\":\"f\",\"arguments\":"
         "\"\"}]}",
         400, "input[0].call_id", "string_above_max_length"},
        {"{\"input\":[{\"type\":\"function_call\",\"call_id\":\"c\",\"name\":\"f\",\"arguments\":\"\","
         "\"status\":\"ok\"}]}",
         400, "input[0].status", "invalid_value"},
        {"{\"input\":[{\"type\":\"function_call_output\",\"call_id\":\"c\"}]}", 400, "input[0].output",
         "missing_required_parameter"},
        {"{\"input\":[{\"type\":\"function_call_output\",\"output\":\"x\"}]}", 400, "input[0].call_id",
         "missing_required_parameter"},
        {"{\"input\":[{\"type\":\"function_call_output\",\"call_id\":\"c\",\"output\":5}]}", 400,
         "input[0].output", "invalid_type"},
        {"{\"input\":[{\"type\":\"function_call_output\",\"call_id\":\"c\",\"output\":[{\"type\":\"refusal\","
         "\"refusal\":\"x\"}]}]}",
         400, "input[0].output[0].type", "invalid_value"},
        {"{\"input\":[{\"type\":\"reasoning\"}]}", 400, "input[0].summary", "missing_required_parameter"},
        {"{\"input\":[{\"type\":\"reasoning\",\"summary\":[{\"type\":\"input_text\",\"text\":\"x\"}]}]}", 400,
         "input[0].summary[0].type", "invalid_value"},
        {"{\"input\":[{\"type\":\"reasoning\",\"summary\":[],\"content\":\"x\"}]}", 400, "input[0].content",
         "invalid_type"},
        {"{\"input\":[{\"type\":\"reasoning\",\"summary\":[],\"encrypted_content\":1}]}", 400,
         "input[0].encrypted_content", "invalid_type"},
        {"{\"input\":[{\"type\":\"item_reference\"}]}", 400, "input[0].id", "missing_required_parameter"},
        {"{\"input\":[{\"type\":\"item_reference\",\"id\":\"x\",\"role\":\"user\"}]}", 400, "input[0].role",
         "unknown_parameter"},
};

/* MCP tools, tool_choice and items. Bodies and expected values in these tables use ' for ". */
#define MCP_MIN "{'type':'mcp','server_label':'docs'}"
#define MCP_NORM_MIN                                                                                         \
	"{'type':'mcp','server_label':'docs','server_url':null,'server_description':null,'headers':null,"    \
	"'authorization':null,'allowed_tools':null,'require_approval':'always'}"

static const struct valid_case mcp_valid_cases[] = {
        {"mcp tool, label only: every key, approval by default",
         "{'tools':[" MCP_MIN "]}",
         {{"mcp_tools", "[" MCP_NORM_MIN "]"}, {"tools", "[]"}, {"tool_choice", "'auto'"}}},
        {"mcp tool, nulls are defaults",
         "{'tools':[{'type':'mcp','server_label':'docs','server_url':null,'server_description':null,"
         "'headers':null,'authorization':null,'allowed_tools':null,'require_approval':null}]}",
         {{"mcp_tools[0]", MCP_NORM_MIN}}},
        {"mcp tool, every field",
         "{'tools':[{'type':'mcp','server_label':'My_srv-2','server_url':'https://mcp.example.com/mcp?x=1',"
         "'server_description':'Docs search','headers':{'X-Api-Key':'k1','Accept-Language':'fr'},"
         "'authorization':'tok-123','allowed_tools':['search','fetch'],'require_approval':'never'}]}",
         {{"mcp_tools[0]",
           "{'type':'mcp','server_label':'My_srv-2','server_url':'https://mcp.example.com/mcp?x=1',"
           "'server_description':'Docs search','headers':{'X-Api-Key':'k1','Accept-Language':'fr'},"
           "'authorization':'tok-123','allowed_tools':{'tool_names':['search','fetch'],'read_only':null},"
           "'require_approval':'never'}"}}},
        {"mcp tool, filters",
         "{'tools':[{'type':'mcp','server_label':'a','server_url':'http://127.0.0.1:9/mcp',"
         "'allowed_tools':{'read_only':true},"
         "'require_approval':{'never':{'tool_names':['search']},'always':{'read_only':false}}},"
         "{'type':'mcp','server_label':'b','allowed_tools':{'tool_names':['x'],'read_only':null},"
         "'require_approval':{'always':null}},"
         "{'type':'mcp','server_label':'c','allowed_tools':[],'headers':{}}]}",
         {{"mcp_tools[0].allowed_tools", "{'tool_names':null,'read_only':true}"},
          {"mcp_tools[0].require_approval",
           "{'always':{'tool_names':null,'read_only':false},'never':{'tool_names':['search'],"
           "'read_only':null}}"},
          {"mcp_tools[1].allowed_tools", "{'tool_names':['x'],'read_only':null}"},
          {"mcp_tools[1].require_approval", "{'always':null,'never':null}"},
          {"mcp_tools[2].allowed_tools", "{'tool_names':[],'read_only':null}"},
          {"mcp_tools[2].headers", "{}"},
          {"mcp_tools[3]", "-"}}},
        {"function and mcp tools are kept apart",
         "{'tools':[{'type':'function','name':'f'}," MCP_MIN ",{'type':'mcp','server_label':'web'}]}",
         {{"tools", "[{'type':'function','name':'f','description':null,'parameters':null,'strict':null}]"},
          {"mcp_tools[0].server_label", "'docs'"},
          {"mcp_tools[1].server_label", "'web'"}}},
        {"tool_choice required with only mcp tools",
         "{'tools':[" MCP_MIN "],'tool_choice':'required'}",
         {{"tool_choice", "'required'"}}},
        {"tool_choice mcp without name",
         "{'tools':[" MCP_MIN "],'tool_choice':{'type':'mcp','server_label':'docs'}}",
         {{"tool_choice", "{'type':'mcp','server_label':'docs','name':null}"}}},
        {"tool_choice mcp with name",
         "{'tools':[{'type':'function','name':'f'}," MCP_MIN
         "],'tool_choice':{'type':'mcp','server_label':'docs','name':'search.v2'}}",
         {{"tool_choice", "{'type':'mcp','server_label':'docs','name':'search.v2'}"}}},
        {"mcp_list_tools item",
         "{'input':[{'type':'mcp_list_tools','server_label':'docs','tools':[{'name':'search',"
         "'input_schema':{'type':'object'},'description':'Find','annotations':{'readOnlyHint':true}},"
         "{'name':'x.y','input_schema':{},'description':null,'annotations':null}]},"
         "{'type':'mcp_list_tools','id':'mcpl_1','server_label':'web','tools':[],'error':'unreachable'}]}",
         {{"input[0].id", "~mcpl"},
          {"input[0].type", "'mcp_list_tools'"},
          {"input[0].server_label", "'docs'"},
          {"input[0].tools",
           "[{'name':'search','input_schema':{'type':'object'},'description':'Find','annotations':"
           "{'readOnlyHint':true}},{'name':'x.y','input_schema':{}}]"},
          {"input[0].error", "-"},
          {"input[1]",
           "{'type':'mcp_list_tools','id':'mcpl_1','server_label':'web','tools':[],'error':'unreachable'}"}}},
        {"mcp_call items",
         "{'input':[{'type':'mcp_call','server_label':'docs','name':'search','arguments':'{\\'q\\':1}'},"
         "{'type':'mcp_call','id':'mcp_2','server_label':'docs','name':'search','arguments':'{}',"
         "'output':'found','error':null,'approval_request_id':'mcpr_1','status':'completed'},"
         "{'type':'mcp_call','server_label':'docs','name':'search','arguments':'{}','output':null,"
         "'error':{'type':'mcp_protocol_error','code':-32602,'message':'bad'}},"
         "{'type':'mcp_call','server_label':'docs','name':'s','arguments':'','error':'old style',"
         "'status':'calling'}]}",
         {{"input[0].id", "~mcp"},
          {"input[0].arguments", "'{\\'q\\':1}'"},
          {"input[0].output", "null"},
          {"input[0].error", "null"},
          {"input[0].approval_request_id", "null"},
          {"input[0].status", "'completed'"},
          {"input[1]",
           "{'type':'mcp_call','id':'mcp_2','server_label':'docs','name':'search','arguments':'{}',"
           "'output':'found','error':null,'approval_request_id':'mcpr_1','status':'completed'}"},
          {"input[2].error", "{'type':'mcp_protocol_error','code':-32602,'message':'bad'}"},
          {"input[2].status", "'failed'"},
          {"input[3].error", "'old style'"},
          {"input[3].status", "'calling'"}}},
        {"approval items",
         "{'input':[{'type':'mcp_approval_request','server_label':'docs','name':'rm','arguments':'{}'},"
         "{'type':'mcp_approval_request','id':'mcpr_7','server_label':'docs','name':'rm','arguments':''},"
         "{'type':'mcp_approval_response','approval_request_id':'mcpr_7','approve':false,'reason':'no'},"
         "{'type':'mcp_approval_response','id':'mcpa_1','approval_request_id':'mcpr_8','approve':true,"
         "'reason':null}]}",
         {{"input[0].id", "~mcpr"},
          {"input[0].name", "'rm'"},
          {"input[1]",
           "{'type':'mcp_approval_request','id':'mcpr_7','server_label':'docs','name':'rm','arguments':''}"},
          {"input[2].id", "~mcpa"},
          {"input[2].approve", "false"},
          {"input[2].reason", "'no'"},
          {"input[3]",
           "{'type':'mcp_approval_response','id':'mcpa_1','approval_request_id':'mcpr_8','approve':true}"}}},
        {"compaction items",
         "{'input':[{'type':'compaction','encrypted_content':'thc1.abc.def'},"
         "{'type':'compaction','id':'cmp_1','encrypted_content':'x'}]}",
         {{"input[0].id", "~cmp"},
          {"input[0].encrypted_content", "'thc1.abc.def'"},
          {"input[1]", "{'type':'compaction','id':'cmp_1','encrypted_content':'x'}"}}},
};

#define T0  "{'tools':[{'type':'mcp','server_label':'docs',"
#define IN0 "{'input':[{'type':"

static const struct invalid_case mcp_invalid_cases[] = {
        /* server_label */
        {"{'tools':[{'type':'mcp'}]}", 400, "tools[0].server_label", "missing_required_parameter"},
        {"{'tools':[{'type':'mcp','server_label':7}]}", 400, "tools[0].server_label", "invalid_type"},
        {"{'tools':[{'type':'mcp','server_label':''}]}", 400, "tools[0].server_label", "invalid_value"},
        {"{'tools':[{'type':'mcp','server_label':'a.b'}]}", 400, "tools[0].server_label", "invalid_value"},
        {"{'tools':[{'type':'mcp','server_label':'a b'}]}", 400, "tools[0].server_label", "invalid_value"},
        {"{'tools':[{'type':'mcp','server_label':"
         "'a1234567890123456789012345678901234567890123456789012345678901234'}]}",
         400, "tools[0].server_label", "invalid_value"},
        {"{'tools':[" MCP_MIN ",{'type':'function','name':'docs'}," MCP_MIN "]}", 400,
         "tools[2].server_label", "invalid_value"},
        /* server_url and description */
        {T0 "'server_url':'ftp://x/mcp'}]}", 400, "tools[0].server_url", "invalid_value"},
        {T0 "'server_url':'https://'}]}", 400, "tools[0].server_url", "invalid_value"},
        {T0 "'server_url':'https://a b/'}]}", 400, "tools[0].server_url", "invalid_value"},
        {T0 "'server_url':''}]}", 400, "tools[0].server_url", "empty_string"},
        {T0 "'server_url':5}]}", 400, "tools[0].server_url", "invalid_type"},
        {T0 "'server_description':{}}]}", 400, "tools[0].server_description", "invalid_type"},
        /* headers */
        {T0 "'headers':[]}]}", 400, "tools[0].headers", "invalid_type"},
        {T0 "'headers':{'X':5}}]}", 400, "tools[0].headers.X", "invalid_type"},
        {T0 "'headers':{'bad name':'v'}}]}", 400, "tools[0].headers", "invalid_value"},
        {T0 "'headers':{'':'v'}}]}", 400, "tools[0].headers", "invalid_value"},
        {T0 "'headers':{'X:Y':'v'}}]}", 400, "tools[0].headers", "invalid_value"},
        {T0 "'headers':{'X':'a\\r\\nEvil: 1'}}]}", 400, "tools[0].headers.X", "invalid_value"},
        {T0 "'headers':{'X':'\\u007f'}}]}", 400, "tools[0].headers.X", "invalid_value"},
        {T0 "'headers':{'X-A':'1','x-a':'2'}}]}", 400, "tools[0].headers", "invalid_value"},
        /* authorization */
        {T0 "'authorization':5}]}", 400, "tools[0].authorization", "invalid_type"},
        {T0 "'authorization':''}]}", 400, "tools[0].authorization", "empty_string"},
        {T0 "'authorization':'tok\\n'}]}", 400, "tools[0].authorization", "invalid_value"},
        /* allowed_tools */
        {T0 "'allowed_tools':'search'}]}", 400, "tools[0].allowed_tools", "invalid_type"},
        {T0 "'allowed_tools':['']}]}", 400, "tools[0].allowed_tools[0]", "empty_string"},
        {T0 "'allowed_tools':['a',5]}]}", 400, "tools[0].allowed_tools[1]", "invalid_type"},
        {T0 "'allowed_tools':{'tool_names':'a'}}]}", 400, "tools[0].allowed_tools.tool_names",
         "invalid_type"},
        {T0 "'allowed_tools':{'tool_names':[null]}}]}", 400, "tools[0].allowed_tools.tool_names[0]",
         "invalid_type"},
        {T0 "'allowed_tools':{'read_only':'yes'}}]}", 400, "tools[0].allowed_tools.read_only",
         "invalid_type"},
        {T0 "'allowed_tools':{'names':[]}}]}", 400, "tools[0].allowed_tools.names", "unknown_parameter"},
        /* require_approval */
        {T0 "'require_approval':'sometimes'}]}", 400, "tools[0].require_approval", "invalid_value"},
        {T0 "'require_approval':true}]}", 400, "tools[0].require_approval", "invalid_type"},
        {T0 "'require_approval':{'always':'a'}}]}", 400, "tools[0].require_approval.always", "invalid_type"},
        {T0 "'require_approval':{'maybe':{}}}]}", 400, "tools[0].require_approval.maybe",
         "unknown_parameter"},
        {T0 "'require_approval':{'never':{'tool_names':[1]}}}]}", 400,
         "tools[0].require_approval.never.tool_names[0]", "invalid_type"},
        {T0 "'require_approval':{'never':{'read_only':true,'x':1}}}]}", 400,
         "tools[0].require_approval.never.x", "unknown_parameter"},
        /* hosted and unknown forms */
        {"{'tools':[{'type':'mcp','server_label':'d','connector_id':'connector_gmail'}]}", 400,
         "tools[0].connector_id", "unsupported_parameter"},
        {T0 "'tunnel_id':'t1'}]}", 400, "tools[0].tunnel_id", "unsupported_parameter"},
        {T0 "'defer_loading':true}]}", 400, "tools[0].defer_loading", "unsupported_parameter"},
        {T0 "'allowed_callers':['x']}]}", 400, "tools[0].allowed_callers", "unsupported_parameter"},
        {"{'tools':[{'type':'mcp','connector_id':'connector_gmail'}]}", 400, "tools[0].connector_id",
         "unsupported_parameter"},
        {T0 "'server_labels':'x'}]}", 400, "tools[0].server_labels", "unknown_parameter"},
        {"{'tools':[{'type':'hosted_mcp','server_label':'d'}]}", 400, "tools[0].type", "unsupported_value"},
        /* tool_choice */
        {"{'tools':[" MCP_MIN "],'tool_choice':{'type':'mcp','server_label':'web'}}", 400,
         "tool_choice.server_label", "invalid_value"},
        {"{'tools':[" MCP_MIN "],'tool_choice':{'type':'mcp'}}", 400, "tool_choice.server_label",
         "missing_required_parameter"},
        {"{'tools':[" MCP_MIN "],'tool_choice':{'type':'mcp','server_label':'docs','name':''}}", 400,
         "tool_choice.name", "empty_string"},
        {"{'tools':[" MCP_MIN "],'tool_choice':{'type':'mcp','server_label':'docs','mode':'x'}}", 400,
         "tool_choice.mode", "unknown_parameter"},
        {"{'tools':[{'type':'function','name':'docs'}],'tool_choice':{'type':'mcp','server_label':'docs'}}",
         400, "tool_choice.server_label", "invalid_value"},
        /* mcp_list_tools */
        {IN0 "'mcp_list_tools','tools':[]}]}", 400, "input[0].server_label", "missing_required_parameter"},
        {IN0 "'mcp_list_tools','server_label':'d'}]}", 400, "input[0].tools", "missing_required_parameter"},
        {IN0 "'mcp_list_tools','server_label':'d','tools':{}}]}", 400, "input[0].tools", "invalid_type"},
        {IN0 "'mcp_list_tools','server_label':'d','tools':[{'name':'a'}]}]}", 400,
         "input[0].tools[0].input_schema", "missing_required_parameter"},
        {IN0 "'mcp_list_tools','server_label':'d','tools':[{'name':'a','input_schema':'{}'}]}]}", 400,
         "input[0].tools[0].input_schema", "invalid_type"},
        {IN0 "'mcp_list_tools','server_label':'d','tools':[{'input_schema':{}}]}]}", 400,
         "input[0].tools[0].name", "missing_required_parameter"},
        {IN0 "'mcp_list_tools','server_label':'d','tools':[{'name':'a','input_schema':{},'title':'t'}]}]}",
         400, "input[0].tools[0].title", "unknown_parameter"},
        {IN0
         "'mcp_list_tools','server_label':'d','tools':[{'name':'a','input_schema':{},'annotations':1}]}]}",
         400, "input[0].tools[0].annotations", "invalid_type"},
        {IN0 "'mcp_list_tools','server_label':'d','tools':[],'error':{}}]}", 400, "input[0].error",
         "invalid_type"},
        {IN0 "'mcp_list_tools','server_label':'','tools':[]}]}", 400, "input[0].server_label",
         "empty_string"},
        /* mcp_call */
        {IN0 "'mcp_call','server_label':'d','arguments':'{}'}]}", 400, "input[0].name",
         "missing_required_parameter"},
        {IN0 "'mcp_call','server_label':'d','name':'a'}]}", 400, "input[0].arguments",
         "missing_required_parameter"},
        {IN0 "'mcp_call','server_label':'d','name':'a','arguments':{}}]}", 400, "input[0].arguments",
         "invalid_type"},
        {IN0 "'mcp_call','server_label':'d','name':'a','arguments':'{}','output':5}]}", 400,
         "input[0].output", "invalid_type"},
        {IN0 "'mcp_call','server_label':'d','name':'a','arguments':'{}','error':5}]}", 400, "input[0].error",
         "invalid_type"},
        {IN0 "'mcp_call','server_label':'d','name':'a','arguments':'{}','error':[]}]}", 400, "input[0].error",
         "invalid_type"},
        {IN0 "'mcp_call','server_label':'d','name':'a','arguments':'{}','status':'done'}]}", 400,
         "input[0].status", "invalid_value"},
        {IN0 "'mcp_call','server_label':'d','name':'a','arguments':'{}','approval_request_id':''}]}", 400,
         "input[0].approval_request_id", "empty_string"},
        {IN0 "'mcp_call','server_label':'d','name':'a','arguments':'{}','call_id':'c'}]}", 400,
         "input[0].call_id", "unknown_parameter"},
        {IN0 "'mcp_call','server_label':'d','name':'','arguments':'{}'}]}", 400, "input[0].name",
         "empty_string"},
        /* approvals */
        {IN0 "'mcp_approval_request','server_label':'d','name':'a'}]}", 400, "input[0].arguments",
         "missing_required_parameter"},
        {IN0 "'mcp_approval_request','server_label':'d','name':'a','arguments':'{}','status':'x'}]}", 400,
         "input[0].status", "unknown_parameter"},
        {IN0 "'mcp_approval_response','approval_request_id':'mcpr_1'}]}", 400, "input[0].approve",
         "missing_required_parameter"},
        {IN0 "'mcp_approval_response','approval_request_id':'mcpr_1','approve':null}]}", 400,
         "input[0].approve", "missing_required_parameter"},
        {IN0 "'mcp_approval_response','approval_request_id':'mcpr_1','approve':'yes'}]}", 400,
         "input[0].approve", "invalid_type"},
        {IN0 "'mcp_approval_response','approve':true}]}", 400, "input[0].approval_request_id",
         "missing_required_parameter"},
        {IN0 "'mcp_approval_response','approval_request_id':'mcpr_1','approve':true,'reason':5}]}", 400,
         "input[0].reason", "invalid_type"},
        /* compaction */
        {IN0 "'compaction'}]}", 400, "input[0].encrypted_content", "missing_required_parameter"},
        {IN0 "'compaction','encrypted_content':5}]}", 400, "input[0].encrypted_content", "invalid_type"},
        {IN0 "'compaction','encrypted_content':''}]}", 400, "input[0].encrypted_content", "empty_string"},
        {IN0 "'compaction','encrypted_content':'x','created_by':'me'}]}", 400, "input[0].created_by",
         "unknown_parameter"},
};

/* POST /v1/responses/compact. */
static const struct valid_case compact_valid_cases[] = {
        {"compact: model only",
         "{'model':'m'}",
         {{"model", "'m'"},
          {"input", "[]"},
          {"tools", "[]"},
          {"mcp_tools", "[]"},
          {"tool_choice", "'auto'"},
          {"text_format", "{'type':'text'}"},
          {"metadata", "{}"},
          {"store", "1"},
          {"stream", "0"},
          {"truncation", "'disabled'"},
          {"service_tier", "'auto'"},
          {"max_output_tokens", "-1"}}},
        {"compact: every key",
         "{'model':'m','input':'hello','previous_response_id':'resp_1','instructions':'sys',"
         "'prompt_cache_key':'k'}",
         {{"input[0].role", "'user'"},
          {"input[0].content", "[{'type':'input_text','text':'hello'}]"},
          {"previous_response_id", "'resp_1'"},
          {"instructions", "'sys'"},
          {"prompt_cache_key", "'k'"}}},
        {"compact: items of every kind",
         "{'model':'m','input':[{'role':'user','content':'q'},{'type':'compaction','encrypted_content':'e'},"
         "{'type':'mcp_call','server_label':'d','name':'a','arguments':'{}'}],'instructions':null}",
         {{"input[1].type", "'compaction'"}, {"input[2].id", "~mcp"}, {"instructions", "null"}}},
};

static const struct invalid_case compact_invalid_cases[] = {
        {"{}", 400, "model", "missing_required_parameter"},
        {"{'model':null}", 400, "model", "missing_required_parameter"},
        {"{'model':''}", 400, "model", "empty_string"},
        {"{'input':'x'}", 400, "model", "missing_required_parameter"},
        {"{'model':'m','tools':[]}", 400, "tools", "unknown_parameter"},
        {"{'model':'m','stream':true}", 400, "stream", "unknown_parameter"},
        {"{'model':'m','store':false}", 400, "store", "unknown_parameter"},
        {"{'model':'m','input':[{'type':'compaction'}]}", 400, "input[0].encrypted_content",
         "missing_required_parameter"},
        {"{'model':'m','input':5}", 400, "input", "invalid_type"},
        {"{'model':'m','instructions':1}", 400, "instructions", "invalid_type"},
        {"{'model':'m','prompt_cache_key':1}", 400, "prompt_cache_key", "invalid_type"},
        {"[]", 400, NULL, "invalid_type"},
        {"{", 400, NULL, "invalid_json"},
};

static void
check_json(json_t *root, const struct check *c, const char *name)
{
	json_t *got = lookup(root, c->path), *want;
	json_error_t jerr;
	int ok;

	if (strcmp(c->want, "?") == 0) {
		ok = got != NULL;
	} else if (strcmp(c->want, "-") == 0) {
		ok = got == NULL;
	} else if (c->want[0] == '~') {
		ok = json_is_string(got) &&
		     strncmp(json_string_value(got), c->want + 1, strlen(c->want + 1)) == 0 &&
		     json_string_value(got)[strlen(c->want + 1)] == '_' &&
		     strlen(json_string_value(got)) > 20;
	} else {
		want = json_loads(c->want, JSON_DECODE_ANY, &jerr);
		ok = want != NULL && got != NULL && json_equal(got, want);
		if (!ok) {
			char *s = got ? json_dumps(got, JSON_ENCODE_ANY) : NULL;

			printf("  %s: %s = %s, want %s\n", name, c->path, s ? s : "(absent)", c->want);
			free(s);
		}
		json_decref(want);
	}
	if (!ok)
		printf("  in case '%s', path '%s'\n", name, c->path);
	T(ok);
}

/* With TEST_DUMP_DIR set, each valid case's normalised view goes there for a schema validator. */
static void
dump(const json_t *v, size_t i)
{
	const char *dir = getenv("TEST_DUMP_DIR");
	char path[512];

	if (dir == NULL)
		return;
	snprintf(path, sizeof path, "%s/request_%02zu.json", dir, i);
	T(json_dump_file(v, path, JSON_INDENT(1)) == 0);
}

typedef struct request *(*parse_fn)(const char *body, size_t len, struct api_error *err);

/* s with every ' turned into ", so that the MCP tables below read as JSON (caller frees). A literal
 * quote inside a JSON string is then written \\' in C. */
static char *
dq(const char *s)
{
	char *out = strdup(s), *p;

	if (out == NULL)
		abort();
	for (p = out; *p != '\0'; p++)
		if (*p == '\'')
			*p = '"';
	return out;
}

static void
run_valid(const struct valid_case *cases, size_t n, int quoted, parse_fn parse, size_t dump_base)
{
	size_t i, k;

	for (i = 0; i < n; i++) {
		const struct valid_case *vc = &cases[i];
		char *body = quoted ? dq(vc->body) : strdup(vc->body);
		struct api_error err;
		struct request *r;
		json_t *v;

		memset(&err, 0, sizeof err);
		r = parse(body, strlen(body), &err);
		if (r == NULL)
			printf("  valid case '%s' rejected: %d %s %s: %s\n", vc->name, err.status, err.param,
			       err.code, err.message);
		T(r != NULL);
		free(body);
		if (r == NULL)
			continue;
		v = view(r);
		dump(v, dump_base + i);
		for (k = 0; k < sizeof vc->checks / sizeof vc->checks[0] && vc->checks[k].path; k++) {
			struct check c = vc->checks[k];
			char *want = quoted ? dq(c.want) : NULL;

			if (want != NULL)
				c.want = want;
			check_json(v, &c, vc->name);
			free(want);
		}
		json_decref(v);
		request_free(r);
	}
}

static void
run_invalid(const struct invalid_case *cases, size_t n, int quoted, parse_fn parse)
{
	size_t i;

	for (i = 0; i < n; i++) {
		const struct invalid_case *ic = &cases[i];
		char *body = quoted ? dq(ic->body) : strdup(ic->body);
		struct api_error err;
		struct request *r;
		int ok;

		memset(&err, 0, sizeof err);
		r = parse(body, strlen(body), &err);
		ok = r == NULL && err.status == ic->status && strcmp(err.code, ic->code) == 0 &&
		     strcmp(err.param, ic->param ? ic->param : "") == 0 &&
		     strcmp(err.type, "invalid_request") == 0 && err.message[0] != '\0';
		if (!ok)
			printf("  invalid case %s: got %s %d param='%s' code='%s' msg='%s'; want %d '%s' "
			       "'%s'\n",
			       body, r ? "ACCEPTED" : "rejected", err.status, err.param, err.code,
			       err.message, ic->status, ic->param ? ic->param : "", ic->code);
		T(ok);
		free(body);
		request_free(r);
	}
}

static void
test_valid(void)
{
	run_valid(valid_cases, sizeof valid_cases / sizeof valid_cases[0], 0, request_parse, 0);
	run_valid(mcp_valid_cases, sizeof mcp_valid_cases / sizeof mcp_valid_cases[0], 1, request_parse, 100);
	run_valid(compact_valid_cases, sizeof compact_valid_cases / sizeof compact_valid_cases[0], 1,
	          request_parse_compact, 200);
}

static void
test_invalid(void)
{
	run_invalid(invalid_cases, sizeof invalid_cases / sizeof invalid_cases[0], 0, request_parse);
	run_invalid(mcp_invalid_cases, sizeof mcp_invalid_cases / sizeof mcp_invalid_cases[0], 1,
	            request_parse);
	run_invalid(compact_invalid_cases, sizeof compact_invalid_cases / sizeof compact_invalid_cases[0], 1,
	            request_parse_compact);
}

/* A body of `prefix` + n copies of `unit` (separated by sep) + `suffix`. */
static char *
repeat_body(const char *prefix, const char *unit, const char *sep, size_t n, const char *suffix, size_t *len)
{
	size_t ul = strlen(unit), sl = strlen(sep), pl = strlen(prefix), xl = strlen(suffix), i;
	char *b = malloc(pl + n * (ul + sl) + xl + 1), *p = b;

	memcpy(p, prefix, pl);
	p += pl;
	for (i = 0; i < n; i++) {
		if (i > 0) {
			memcpy(p, sep, sl);
			p += sl;
		}
		memcpy(p, unit, ul);
		p += ul;
	}
	memcpy(p, suffix, xl);
	p += xl;
	*p = '\0';
	*len = (size_t)(p - b);
	return b;
}

static void
test_caps(void)
{
	struct api_error err;
	struct request *r;
	char *b;
	size_t len;

	/* input string: exactly 10 MiB is fine, one more code point is 413. */
	b = repeat_body("{\"input\":\"", "a", "", 10485760, "\"}", &len);
	r = request_parse(b, len, &err);
	T(r != NULL);
	request_free(r);
	free(b);
	b = repeat_body("{\"input\":\"", "a", "", 10485761, "\"}", &len);
	r = request_parse(b, len, &err);
	T(r == NULL && err.status == 413);
	T_STREQ(err.param, "input");
	T_STREQ(err.code, "string_above_max_length");
	free(b);
	/* Multi-byte characters count once: 4 MiB of 3-byte characters is 12 MiB of bytes. */
	b = repeat_body("{\"input\":\"", "\xe2\x82\xac", "", 4 * 1024 * 1024, "\"}", &len);
	r = request_parse(b, len, &err);
	T(r != NULL);
	request_free(r);
	free(b);

	/* 10000 items pass, 10001 do not. */
	b = repeat_body("{\"input\":[", "{\"role\":\"user\",\"content\":\"x\"}", ",", 10000, "]}", &len);
	r = request_parse(b, len, &err);
	T(r != NULL && json_array_size(r->input) == 10000);
	request_free(r);
	free(b);
	b = repeat_body("{\"input\":[", "{\"role\":\"user\",\"content\":\"x\"}", ",", 10001, "]}", &len);
	r = request_parse(b, len, &err);
	T(r == NULL);
	T_STREQ(err.param, "input");
	T_STREQ(err.code, "array_above_max_length");
	free(b);

	/* 129 tools. */
	b = repeat_body("{\"tools\":[", "{\"type\":\"function\",\"name\":\"f\"}", ",", 129, "]}", &len);
	r = request_parse(b, len, &err);
	T(r == NULL);
	T_STREQ(err.param, "tools");
	T_STREQ(err.code, "array_above_max_length");
	free(b);

	/* Deep nesting inside a json_schema. */
	{
		char *deep = repeat_body(
		        "{\"metadata\":{},\"text\":{\"format\":{\"type\":\"json_schema\",\"name\":"
		        "\"n\",\"schema\":",
		        "{\"a\":", "", 100, "1", &len);
		char *full = repeat_body(deep, "}", "", 100 + 3, "", &len);

		r = request_parse(full, len, &err);
		T(r == NULL);
		T_STREQ(err.code, "nesting_too_deep");
		free(deep);
		free(full);
	}
	/* Far deeper than jansson's own limit: a parse error, not a crash. */
	b = repeat_body("", "[", "", 100000, "", &len);
	r = request_parse(b, len, &err);
	T(r == NULL && err.status == 400);
	T_STREQ(err.code, "invalid_json");
	free(b);
}

/* Parses body (written with ' for ") and returns the request, or NULL with *err. */
static struct request *
parse_q(const char *body, struct api_error *err)
{
	char *b = dq(body);
	struct request *r;

	memset(err, 0, sizeof *err);
	r = request_parse(b, strlen(b), err);
	free(b);
	return r;
}

/* 1 when prefix + n copies of unit + suffix parses, else 0 with *err. */
static int
parses_repeated(const char *prefix, const char *unit, const char *sep, size_t n, const char *suffix,
                struct api_error *err)
{
	size_t len;
	char *b = repeat_body(prefix, unit, sep, n, suffix, &len);
	struct request *r;

	memset(err, 0, sizeof *err);
	r = request_parse(b, len, err);
	free(b);
	request_free(r);
	return r != NULL;
}

/* The caps on what an mcp tool or item may hold: the limit itself passes, one more does not. */
static void
test_mcp_caps(void)
{
	static const struct {
		const char *prefix, *unit, *sep, *suffix;
		size_t max;
		const char *param, *code;
	} caps[] = {
	        {"{\"tools\":[{\"type\":\"mcp\",\"server_label\":\"d\",\"authorization\":\"", "a", "",
	         "\"}]}", 8192, "tools[0].authorization", "string_above_max_length"},
	        {"{\"tools\":[{\"type\":\"mcp\",\"server_label\":\"d\",\"headers\":{\"X\":\"", "a", "",
	         "\"}}]}", 8192, "tools[0].headers.X", "string_above_max_length"},
	        /* a 2-byte character: the secret caps count bytes */
	        {"{\"tools\":[{\"type\":\"mcp\",\"server_label\":\"d\",\"authorization\":\"", "\xc3\xa9", "",
	         "\"}]}", 4096, "tools[0].authorization", "string_above_max_length"},
	        {"{\"tools\":[{\"type\":\"mcp\",\"server_label\":\"d\",\"server_url\":\"https://h/", "a", "",
	         "\"}]}", 2048 - 10, "tools[0].server_url", "string_above_max_length"},
	        {"{\"tools\":[{\"type\":\"mcp\",\"server_label\":\"d\",\"allowed_tools\":[\"", "a", "",
	         "\"]}]}", 128, "tools[0].allowed_tools[0]", "string_above_max_length"},
	        {"{\"tools\":[{\"type\":\"mcp\",\"server_label\":\"d\",\"allowed_tools\":[", "\"a\"", ",",
	         "]}]}", 1024, "tools[0].allowed_tools", "array_above_max_length"},
	        {"{\"input\":[{\"type\":\"compaction\",\"encrypted_content\":\"", "a", "", "\"}]}", 1048576,
	         "input[0].encrypted_content", "string_above_max_length"},
	        {"{\"input\":[{\"type\":\"compaction\",\"encrypted_content\":\"", "\xe2\x82\xac", "", "\"}]}",
	         1048576 / 3, "input[0].encrypted_content", "string_above_max_length"},
	        {"{\"input\":[{\"type\":\"mcp_call\",\"server_label\":\"d\",\"arguments\":\"\",\"name\":\"",
	         "a", "", "\"}]}", 128, "input[0].name", "string_above_max_length"},
	};
	struct api_error err;
	size_t i;
	char unit[80];
	int ok;

	for (i = 0; i < sizeof caps / sizeof caps[0]; i++) {
		ok = parses_repeated(caps[i].prefix, caps[i].unit, caps[i].sep, caps[i].max, caps[i].suffix,
		                     &err);
		if (!ok)
			printf("  cap %zu: the limit was refused: %s\n", i, err.message);
		T(ok);
		ok = !parses_repeated(caps[i].prefix, caps[i].unit, caps[i].sep, caps[i].max + 1,
		                      caps[i].suffix, &err) &&
		     strcmp(err.param, caps[i].param) == 0 && strcmp(err.code, caps[i].code) == 0;
		if (!ok)
			printf("  cap %zu: one over the limit: param '%s' code '%s'\n", i, err.param,
			       err.code);
		T(ok);
	}

	/* 64 headers, then 65. */
	for (i = 64; i <= 65; i++) {
		json_t *h = json_object(), *body;
		size_t k;
		char *s;

		for (k = 0; k < i; k++) {
			snprintf(unit, sizeof unit, "X-H%zu", k);
			json_object_set_new(h, unit, json_string("v"));
		}
		body = json_pack("{s:[{s:s, s:s, s:o}]}", "tools", "type", "mcp", "server_label", "d",
		                 "headers", h);
		s = json_dumps(body, 0);
		{
			struct request *r = request_parse(s, strlen(s), &err);

			if (i == 64) {
				T(r != NULL && json_object_size(json_object_get(
				                       json_array_get(r->mcp_tools, 0), "headers")) == 64);
			} else {
				T(r == NULL);
				T_STREQ(err.param, "tools[0].headers");
				T_STREQ(err.code, "object_above_max_properties");
			}
			request_free(r);
		}
		free(s);
		json_decref(body);
	}
}

/* No error message quotes a header value or the authorization, whatever is wrong with them. */
static void
test_secrets_not_quoted(void)
{
	static const char *const bodies[] = {
	        "{'tools':[{'type':'mcp','server_label':'d','authorization':'SECRET1\\n'}]}",
	        "{'tools':[{'type':'mcp','server_label':'d','authorization':'SECRET1\\u0001'}]}",
	        "{'tools':[{'type':'mcp','server_label':'d','headers':{'X':'SECRET1\\r\\n'}}]}",
	        "{'tools':[{'type':'mcp','server_label':'d','headers':{'SECRET1 x':'v'}}]}",
	        "{'tools':[{'type':'mcp','server_label':'d','headers':{'Authorization':'Bearer SECRET1','a "
	        "b':'x'}}]}",
	        "{'tools':[{'type':'mcp','server_label':'d','server_url':'ftp://u:SECRET1@h/'}]}",
	        "{'tools':[{'type':'mcp','server_label':'d','server_url':'https://u:SECRET1@h /'}]}",
	        "{'tools':[{'type':'mcp','server_label':'d','authorization':'SECRET1','tunnel_id':'t'}]}",
	        "{'tools':[{'type':'mcp','server_label':'d','authorization':'SECRET1','x':1}]}",
	};
	struct api_error err;
	struct request *r;
	size_t i;
	char *big;

	for (i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
		r = parse_q(bodies[i], &err);
		T(r == NULL && err.status == 400);
		if (strstr(err.message, "SECRET1") != NULL || strstr(err.param, "SECRET1") != NULL)
			printf("  secret quoted for %s: %s\n", bodies[i], err.message);
		T(strstr(err.message, "SECRET1") == NULL && strstr(err.param, "SECRET1") == NULL);
		request_free(r);
	}
	/* Too long: still not quoted, not even its start. */
	{
		static const char head[] =
		        "{'tools':[{'type':'mcp','server_label':'d','authorization':'SECRET1";
		size_t n = sizeof head - 1;

		big = malloc(n + 9000 + sizeof "'}]}");
		if (big == NULL)
			abort();
		memcpy(big, head, n);
		memset(big + n, 'a', 9000);
		memcpy(big + n + 9000, "'}]}", sizeof "'}]}");
	}
	r = parse_q(big, &err);
	T(r == NULL);
	T_STREQ(err.code, "string_above_max_length");
	T(strstr(err.message, "SECRET1") == NULL);
	free(big);
}

/* request_tools_echo: function tools first, then mcp tools without their secrets; the request keeps
 * them; the echo is a copy. */
static void
test_tools_echo(void)
{
	static const char body[] =
	        "{'tools':[{'type':'mcp','server_label':'a','server_url':'https://h/mcp',"
	        "'headers':{'X-Key':'hv1','Y':'hv2'},'authorization':'tok1','allowed_tools':['s']},"
	        "{'type':'function','name':'f'},{'type':'mcp','server_label':'b'}]}";
	static const char want[] =
	        "[{'type':'function','name':'f','description':null,'parameters':null,'strict':null},"
	        "{'type':'mcp','server_label':'a','server_url':'https://h/mcp','server_description':null,"
	        "'headers':{'X-Key':'[redacted]','Y':'[redacted]'},'allowed_tools':{'tool_names':['s'],"
	        "'read_only':null},'require_approval':'always'},"
	        "{'type':'mcp','server_label':'b','server_url':null,'server_description':null,'headers':null,"
	        "'allowed_tools':null,'require_approval':'always'}]";
	struct api_error err;
	struct request *r = parse_q(body, &err);
	json_t *echo, *w;
	char *ws, *s;

	T(r != NULL);
	if (r == NULL)
		return;
	echo = request_tools_echo(r);
	ws = dq(want);
	w = json_loads(ws, 0, NULL);
	T(w != NULL && json_equal(echo, w));
	if (!json_equal(echo, w)) {
		s = json_dumps(echo, JSON_COMPACT);
		printf("  echo: %s\n", s);
		free(s);
	}
	s = json_dumps(echo, 0);
	T(strstr(s, "tok1") == NULL && strstr(s, "hv1") == NULL && strstr(s, "hv2") == NULL);
	free(s);
	/* The request still has what the MCP client needs. */
	T_STREQ(json_string_value(json_object_get(json_array_get(r->mcp_tools, 0), "authorization")), "tok1");
	T_STREQ(json_string_value(json_object_get(json_object_get(json_array_get(r->mcp_tools, 0), "headers"),
	                                          "X-Key")),
	        "hv1");
	/* A copy: changing it leaves the request alone. */
	json_object_set_new(json_array_get(echo, 0), "name", json_string("changed"));
	json_object_set_new(json_array_get(echo, 1), "server_label", json_string("changed"));
	T_STREQ(json_string_value(json_object_get(json_array_get(r->tools, 0), "name")), "f");
	T_STREQ(json_string_value(json_object_get(json_array_get(r->mcp_tools, 0), "server_label")), "a");
	json_decref(echo);
	json_decref(w);
	free(ws);
	request_free(r);

	/* No tools at all: an empty array. */
	r = parse_q("{}", &err);
	echo = request_tools_echo(r);
	T(json_is_array(echo) && json_array_size(echo) == 0);
	json_decref(echo);
	request_free(r);
}

static void
test_misc(void)
{
	struct api_error err;
	struct request *r;
	json_t *env, *o;
	const char *body;
	char *s;

	/* Generated ids have the right prefixes and differ. */
	body = "{\"input\":[{\"role\":\"user\",\"content\":\"a\"},{\"role\":\"user\",\"content\":\"b\"},"
	       "{\"type\":\"function_call\",\"call_id\":\"c\",\"name\":\"f\",\"arguments\":\"\"},"
	       "{\"type\":\"function_call_output\",\"call_id\":\"c\",\"output\":\"\"},"
	       "{\"type\":\"reasoning\",\"summary\":[]}]}";
	r = request_parse(body, strlen(body), &err);
	T(r != NULL);
	if (r != NULL) {
		const char *a = json_string_value(json_object_get(json_array_get(r->input, 0), "id"));
		const char *b = json_string_value(json_object_get(json_array_get(r->input, 1), "id"));

		T(a && b && strcmp(a, b) != 0 && strncmp(a, "msg_", 4) == 0);
		T(strncmp(json_string_value(json_object_get(json_array_get(r->input, 2), "id")), "fc_", 3) ==
		  0);
		T(strncmp(json_string_value(json_object_get(json_array_get(r->input, 3), "id")), "fco_", 4) ==
		  0);
		T(strncmp(json_string_value(json_object_get(json_array_get(r->input, 4), "id")), "rs_", 3) ==
		  0);
		request_free(r);
	}

	/* The error envelope: null param and code when empty, and a hostile key cannot break the JSON. */
	body = "{\"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
	       "\xc3\xa9\xc3"
	       "\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
	       "\xc3\xa9\xc3"
	       "\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
	       "\xc3\xa9\xc3"
	       "\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
	       "\xc3\xa9\xc3"
	       "\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
	       "\xc3\xa9\xc3"
	       "\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9x\":1}";
	r = request_parse(body, strlen(body), &err);
	T(r == NULL);
	T_STREQ(err.code, "unknown_parameter");
	env = api_error_envelope(&err);
	s = json_dumps(env, 0);
	T(s != NULL);
	o = json_object_get(env, "error");
	T(json_is_string(json_object_get(o, "param")));
	T(json_is_string(json_object_get(o, "message")));
	T_STREQ(json_string_value(json_object_get(o, "type")), "invalid_request");
	free(s);
	json_decref(env);

	r = request_parse("{", 1, &err);
	T(r == NULL);
	env = api_error_envelope(&err);
	o = json_object_get(env, "error");
	T(json_is_null(json_object_get(o, "param")));
	T_STREQ(json_string_value(json_object_get(o, "code")), "invalid_json");
	json_decref(env);

	/* api_error_set with an invalid UTF-8 argument still yields valid JSON. */
	api_error_set(&err, 502, "model_error", NULL, NULL, "upstream said %s", "\xff\xfe bad \xe2\x82");
	env = api_error_object(&err);
	T(json_is_string(json_object_get(env, "message")));
	T(json_is_null(json_object_get(env, "code")));
	T(err.status == 502);
	json_decref(env);

	/* Not NUL-terminated input is read only within len. */
	{
		char buf[8] = {'{', '}', 'x', 'x', 'x', 'x', 'x', 'x'};

		r = request_parse(buf, 2, &err);
		T(r != NULL);
		request_free(r);
	}
	request_free(NULL);
}

int
main(void)
{
	test_valid();
	test_invalid();
	test_caps();
	test_mcp_caps();
	test_secrets_not_quoted();
	test_tools_echo();
	test_misc();
	return T_DONE();
}
