/*
 * upstream: Responses items -> Chat Completions body. Table-driven: items in, messages out; request
 * settings in, body keys out; bad items -> 400. Covers the peer bugs of PEER-LESSONS.md "History
 * translation", MCP items (calls, approvals), compaction items and the engine's extra tools.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <jansson.h>

#include "api/apierr.h"
#include "api/request.h"
#include "api/upstream.h"
#include "tests/unit/t.h"

/* A request as request_parse normalises it, filled from a small JSON of settings. */
static struct request *
req_new(const char *opts_json)
{
	struct request *r = calloc(1, sizeof *r);
	json_t *o = json_loads(opts_json ? opts_json : "{}", 0, NULL), *v;

	if (r == NULL || o == NULL)
		abort();
	r->body = o;
	r->input = json_array();
	v = json_object_get(o, "tools");
	r->tools = v ? json_incref(v) : json_array();
	r->mcp_tools = json_array();
	v = json_object_get(o, "tool_choice");
	r->tool_choice = v ? json_incref(v) : json_string("auto");
	v = json_object_get(o, "parallel_tool_calls");
	r->parallel_tool_calls = v ? json_is_true(v) : 1;
	r->max_tool_calls = -1;
	v = json_object_get(o, "max_output_tokens");
	r->max_output_tokens = v ? json_integer_value(v) : -1;
	v = json_object_get(o, "temperature");
	r->has_temperature = v != NULL;
	r->temperature = json_number_value(v);
	v = json_object_get(o, "top_p");
	r->has_top_p = v != NULL;
	r->top_p = json_number_value(v);
	v = json_object_get(o, "presence_penalty");
	r->has_presence_penalty = v != NULL;
	r->presence_penalty = json_number_value(v);
	v = json_object_get(o, "frequency_penalty");
	r->has_frequency_penalty = v != NULL;
	r->frequency_penalty = json_number_value(v);
	v = json_object_get(o, "top_logprobs");
	r->top_logprobs = v ? (int)json_integer_value(v) : -1;
	if (json_is_true(json_object_get(o, "include_logprobs")))
		r->include |= REQUEST_INCLUDE_LOGPROBS;
	r->instructions = json_string_value(json_object_get(o, "instructions"));
	r->reasoning_effort = json_string_value(json_object_get(o, "reasoning_effort"));
	v = json_object_get(o, "text_format");
	r->text_format = v ? json_incref(v) : json_pack("{s:s}", "type", "text");
	r->metadata = json_object();
	r->store = 1;
	r->truncation = "disabled";
	r->service_tier = "auto";
	return r;
}

static void
req_del(struct request *r)
{
	json_decref(r->body);
	json_decref(r->input);
	json_decref(r->tools);
	json_decref(r->mcp_tools);
	json_decref(r->tool_choice);
	json_decref(r->text_format);
	json_decref(r->metadata);
	free(r);
}

static json_t *
parse(const char *s)
{
	json_error_t e;
	json_t *j = json_loads(s, 0, &e);

	if (j == NULL) {
		printf("bad test JSON: %s: %s\n", e.text, s);
		abort();
	}
	return j;
}

/* Items -> messages. */
struct msg_case {
	const char *name;
	const char *opts;
	const char *items;
	const char *messages; /* expected, exactly */
};

static const struct msg_case msg_cases[] = {
        {"instructions first, user string", "{\"instructions\":\"Be brief.\"}",
         "[{\"type\":\"message\",\"role\":\"user\",\"content\":[{\"type\":\"input_text\",\"text\":\"hi\"}]}]",
         "[{\"role\":\"system\",\"content\":\"Be brief.\"},{\"role\":\"user\",\"content\":\"hi\"}]"},
        {"text parts joined into a string", NULL,
         "[{\"type\":\"message\",\"role\":\"user\",\"content\":[{\"type\":\"input_text\",\"text\":\"a\"},"
         "{\"type\":\"input_text\",\"text\":\"b\"}]}]",
         "[{\"role\":\"user\",\"content\":\"a\\nb\"}]"},
        {"message without type", NULL, "[{\"role\":\"user\",\"content\":\"x\"}]",
         "[{\"role\":\"user\",\"content\":\"x\"}]"},
        {"developer and system -> system", NULL,
         "[{\"type\":\"message\",\"role\":\"developer\",\"content\":[{\"type\":\"input_text\",\"text\":\"d\"}"
         "]},"
         "{\"type\":\"message\",\"role\":\"system\",\"content\":\"s\"}]",
         "[{\"role\":\"system\",\"content\":\"d\"},{\"role\":\"system\",\"content\":\"s\"}]"},
        {"image parts", NULL,
         "[{\"type\":\"message\",\"role\":\"user\",\"content\":[{\"type\":\"input_text\",\"text\":\"what?\"},"
         "{\"type\":\"input_image\",\"image_url\":\"data:image/png;base64,AAAA\",\"detail\":\"low\"},"
         "{\"type\":\"input_image\",\"image_url\":\"https://x/y.png\"}]}]",
         "[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"what?\"},"
         "{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/png;base64,AAAA\",\"detail\":\"low\"}},"
         "{\"type\":\"image_url\",\"image_url\":{\"url\":\"https://x/y.png\"}}]}]"},
        {"file with file_data", NULL,
         "[{\"type\":\"message\",\"role\":\"user\",\"content\":[{\"type\":\"input_file\",\"filename\":\"a."
         "pdf\","
         "\"file_data\":\"data:application/pdf;base64,QQ==\"}]}]",
         "[{\"role\":\"user\",\"content\":[{\"type\":\"file\",\"file\":{\"file_data\":"
         "\"data:application/pdf;base64,QQ==\",\"filename\":\"a.pdf\"}}]}]"},
        {"assistant output_text joined, refusal", NULL,
         "[{\"type\":\"message\",\"role\":\"assistant\",\"content\":[{\"type\":\"output_text\",\"text\":"
         "\"Hel\","
         "\"annotations\":[]},{\"type\":\"output_text\",\"text\":\"lo\",\"annotations\":[]},"
         "{\"type\":\"refusal\",\"refusal\":\"no\"}]}]",
         "[{\"role\":\"assistant\",\"content\":\"Hello\",\"refusal\":\"no\"}]"},
        {"function_call -> assistant tool_calls, output -> tool", NULL,
         "[{\"type\":\"message\",\"role\":\"user\",\"content\":\"weather?\"},"
         "{\"type\":\"function_call\",\"id\":\"fc_1\",\"call_id\":\"call_1\",\"name\":\"get\","
         "\"arguments\":\"{\\\"c\\\":\\\"Paris\\\"}\",\"status\":\"completed\"},"
         "{\"type\":\"function_call_output\",\"call_id\":\"call_1\",\"output\":\"sunny\"}]",
         "[{\"role\":\"user\",\"content\":\"weather?\"},"
         "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"call_1\",\"type\":\"function\","
         "\"function\":{\"name\":\"get\",\"arguments\":\"{\\\"c\\\":\\\"Paris\\\"}\"}}]},"
         "{\"role\":\"tool\",\"tool_call_id\":\"call_1\",\"content\":\"sunny\"}]"},
        {"parallel calls merged into one assistant message after its text", NULL,
         "[{\"type\":\"message\",\"role\":\"assistant\",\"content\":\"Let me check.\"},"
         "{\"type\":\"reasoning\",\"id\":\"rs_1\",\"summary\":[]},"
         "{\"type\":\"function_call\",\"call_id\":\"a\",\"name\":\"f\",\"arguments\":\"{}\"},"
         "{\"type\":\"function_call\",\"call_id\":\"b\",\"name\":\"g\",\"arguments\":\"{\\\"x\\\":1}\"},"
         "{\"type\":\"function_call_output\",\"call_id\":\"a\",\"output\":\"A\"},"
         "{\"type\":\"function_call_output\",\"call_id\":\"b\",\"output\":[{\"type\":\"input_text\",\"text\":"
         "\"B1\"},"
         "{\"type\":\"input_text\",\"text\":\"B2\"}]},"
         "{\"type\":\"function_call\",\"call_id\":\"c\",\"name\":\"f\",\"arguments\":\"{}\"}]",
         "[{\"role\":\"assistant\",\"content\":\"Let me check.\",\"tool_calls\":["
         "{\"id\":\"a\",\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}},"
         "{\"id\":\"b\",\"type\":\"function\",\"function\":{\"name\":\"g\",\"arguments\":\"{\\\"x\\\":1}\"}}]"
         "},"
         "{\"role\":\"tool\",\"tool_call_id\":\"a\",\"content\":\"A\"},"
         "{\"role\":\"tool\",\"tool_call_id\":\"b\",\"content\":\"B1\\nB2\"},"
         "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":["
         "{\"id\":\"c\",\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]}]"},
        {"tool output images go into a user message after the run", NULL,
         "[{\"type\":\"function_call\",\"call_id\":\"a\",\"name\":\"shot\",\"arguments\":\"{}\"},"
         "{\"type\":\"function_call\",\"call_id\":\"b\",\"name\":\"shot\",\"arguments\":\"{}\"},"
         "{\"type\":\"function_call_output\",\"call_id\":\"a\",\"output\":[{\"type\":\"input_text\",\"text\":"
         "\"ok\"},"
         "{\"type\":\"input_image\",\"image_url\":\"https://i/1.png\"}]},"
         "{\"type\":\"function_call_output\",\"call_id\":\"b\",\"output\":[{\"type\":\"input_file\","
         "\"file_data\":\"Zg==\"}]},"
         "{\"type\":\"message\",\"role\":\"user\",\"content\":\"next\"}]",
         "[{\"role\":\"assistant\",\"content\":null,\"tool_calls\":["
         "{\"id\":\"a\",\"type\":\"function\",\"function\":{\"name\":\"shot\",\"arguments\":\"{}\"}},"
         "{\"id\":\"b\",\"type\":\"function\",\"function\":{\"name\":\"shot\",\"arguments\":\"{}\"}}]},"
         "{\"role\":\"tool\",\"tool_call_id\":\"a\",\"content\":\"ok\"},"
         "{\"role\":\"tool\",\"tool_call_id\":\"b\",\"content\":\"\"},"
         "{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{\"url\":\"https://i/"
         "1.png\"}},"
         "{\"type\":\"file\",\"file\":{\"file_data\":\"Zg==\"}}]},"
         "{\"role\":\"user\",\"content\":\"next\"}]"},
        {"tool output media flushed at the end", NULL,
         "[{\"type\":\"function_call\",\"call_id\":\"a\",\"name\":\"shot\",\"arguments\":\"{}\"},"
         "{\"type\":\"function_call_output\",\"call_id\":\"a\",\"output\":[{\"type\":\"input_image\","
         "\"image_url\":\"https://i/1.png\",\"detail\":\"high\"}]}]",
         "[{\"role\":\"assistant\",\"content\":null,\"tool_calls\":["
         "{\"id\":\"a\",\"type\":\"function\",\"function\":{\"name\":\"shot\",\"arguments\":\"{}\"}}]},"
         "{\"role\":\"tool\",\"tool_call_id\":\"a\",\"content\":\"\"},"
         "{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{\"url\":\"https://i/1.png\","
         "\"detail\":\"high\"}}]}]"},
        {"reasoning items accepted and not sent", NULL,
         "[{\"type\":\"reasoning\",\"id\":\"rs_1\",\"summary\":[{\"type\":\"summary_text\",\"text\":\"t\"}],"
         "\"encrypted_content\":\"xyz\"},{\"type\":\"message\",\"role\":\"user\",\"content\":\"q\"}]",
         "[{\"role\":\"user\",\"content\":\"q\"}]"},
        {"call after a user message starts a new assistant message", NULL,
         "[{\"type\":\"message\",\"role\":\"assistant\",\"content\":\"a\"},"
         "{\"type\":\"message\",\"role\":\"user\",\"content\":\"u\"},"
         "{\"type\":\"function_call\",\"call_id\":\"c\",\"name\":\"f\",\"arguments\":\"{}\"}]",
         "[{\"role\":\"assistant\",\"content\":\"a\"},{\"role\":\"user\",\"content\":\"u\"},"
         "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":["
         "{\"id\":\"c\",\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]}]"},
        {"empty input", NULL, "[]", "[]"},
};

/* Request settings -> body keys. */
struct body_case {
	const char *name;
	const char *opts;
	const char *expect; /* these keys with these values */
	const char *absent; /* space-separated keys that must not be there */
};

#define TOOLS                                                                                                \
	"\"tools\":[{\"type\":\"function\",\"name\":\"get\",\"description\":\"Get "                          \
	"it\",\"parameters\":{\"type\":"                                                                     \
	"\"object\"},\"strict\":true},{\"type\":\"function\",\"name\":\"put\",\"description\":null,"         \
	"\"parameters\":null,\"strict\":null}]"
#define CHAT_TOOLS                                                                                           \
	"\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get\",\"description\":\"Get it\","       \
	"\"parameters\":{\"type\":\"object\"},\"strict\":true}},{\"type\":\"function\",\"function\":"        \
	"{\"name\":\"put\"}}]"

static const struct body_case body_cases[] = {
        {"defaults", NULL, "{\"model\":\"m\",\"stream\":true,\"stream_options\":{\"include_usage\":true}}",
         "tools tool_choice response_format max_tokens temperature top_p presence_penalty frequency_penalty "
         "logprobs top_logprobs reasoning_effort parallel_tool_calls"},
        {"tools and auto", "{" TOOLS "}", "{" CHAT_TOOLS ",\"tool_choice\":\"auto\"}", "parallel_tool_calls"},
        {"tool_choice none", "{" TOOLS ",\"tool_choice\":\"none\"}", "{\"tool_choice\":\"none\"}", NULL},
        {"tool_choice required", "{" TOOLS ",\"tool_choice\":\"required\"}", "{\"tool_choice\":\"required\"}",
         NULL},
        {"tool_choice function", "{" TOOLS ",\"tool_choice\":{\"type\":\"function\",\"name\":\"get\"}}",
         "{\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"get\"}}}", NULL},
        {"allowed_tools: mode, all tools sent",
         "{" TOOLS ",\"tool_choice\":{\"type\":\"allowed_tools\",\"tools\":[{\"type\":\"function\",\"name\":"
         "\"get\"}],\"mode\":\"required\"}}",
         "{" CHAT_TOOLS ",\"tool_choice\":\"required\"}", NULL},
        {"allowed_tools default mode",
         "{" TOOLS ",\"tool_choice\":{\"type\":\"allowed_tools\",\"tools\":[{\"type\":\"function\",\"name\":"
         "\"get\"}]}}",
         "{\"tool_choice\":\"auto\"}", NULL},
        {"parallel_tool_calls false with tools", "{" TOOLS ",\"parallel_tool_calls\":false}",
         "{\"parallel_tool_calls\":false}", NULL},
        {"parallel_tool_calls false without tools", "{\"parallel_tool_calls\":false}", "{}",
         "parallel_tool_calls tools tool_choice"},
        {"json_schema",
         "{\"text_format\":{\"type\":\"json_schema\",\"name\":\"pt\",\"schema\":{\"type\":\"object\"},"
         "\"description\":null,\"strict\":true}}",
         "{\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"pt\",\"schema\":{"
         "\"type\":"
         "\"object\"},\"strict\":true}}}",
         NULL},
        {"json_schema with description, strict default",
         "{\"text_format\":{\"type\":\"json_schema\",\"name\":\"pt\",\"schema\":{},\"description\":\"d\"}}",
         "{\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"pt\",\"schema\":{},"
         "\"strict\":false,\"description\":\"d\"}}}",
         NULL},
        {"json_object", "{\"text_format\":{\"type\":\"json_object\"}}",
         "{\"response_format\":{\"type\":\"json_object\"}}", NULL},
        {"sampling",
         "{\"temperature\":0.5,\"top_p\":0.25,\"presence_penalty\":1.5,\"frequency_penalty\":-0.5}",
         "{\"temperature\":0.5,\"top_p\":0.25,\"presence_penalty\":1.5,\"frequency_penalty\":-0.5}", NULL},
        {"max_output_tokens and effort", "{\"max_output_tokens\":256,\"reasoning_effort\":\"high\"}",
         "{\"max_tokens\":256,\"reasoning_effort\":\"high\"}", NULL},
        {"include logprobs", "{\"include_logprobs\":true,\"top_logprobs\":0}", "{\"logprobs\":true}",
         "top_logprobs"},
        {"top_logprobs", "{\"top_logprobs\":3}", "{\"logprobs\":true,\"top_logprobs\":3}", NULL},
};

/* Bad items -> 400 naming the param. */
struct bad_case {
	const char *name;
	const char *opts;
	const char *items;
	const char *param;
};

static const struct bad_case bad_cases[] = {
        {"file_url only", NULL,
         "[{\"type\":\"message\",\"role\":\"user\",\"content\":[{\"type\":\"input_file\",\"file_url\":"
         "\"https://x/a.pdf\"}]}]",
         "input"},
        {"tool output file_url only", NULL,
         "[{\"type\":\"function_call_output\",\"call_id\":\"a\",\"output\":[{\"type\":\"input_file\","
         "\"file_url\":\"https://x/a.pdf\"}]}]",
         "input"},
        {"unresolved item_reference", NULL, "[{\"type\":\"item_reference\",\"id\":\"msg_1\"}]", "input"},
        {"compaction", NULL, "[{\"type\":\"compaction\",\"encrypted_content\":\"x\"}]", "input"},
        {"unknown item type", NULL, "[{\"type\":\"web_search_call\",\"id\":\"ws_1\"}]", "input"},
        {"unknown role", NULL, "[{\"type\":\"message\",\"role\":\"critic\",\"content\":\"x\"}]", "input"},
        {"image in a system message", NULL,
         "[{\"type\":\"message\",\"role\":\"system\",\"content\":[{\"type\":\"input_image\",\"image_url\":"
         "\"https://x\"}]}]",
         "input"},
        {"video in a tool output", NULL,
         "[{\"type\":\"function_call_output\",\"call_id\":\"a\",\"output\":[{\"type\":\"input_video\","
         "\"video_url\":\"https://x\"}]}]",
         "input"},
        {"not an object", NULL, "[42]", "input"},
        {"item without type or role", NULL, "[{\"content\":\"x\"}]", "input"},
        {"function_call without call_id", NULL, "[{\"type\":\"function_call\",\"name\":\"f\"}]", "input"},
        {"bad text.format", "{\"text_format\":{\"type\":\"grammar\"}}", "[]", "text.format"},
        {"bad tool_choice", "{" TOOLS ",\"tool_choice\":{\"type\":\"mcp\"}}", "[]", "tool_choice"},
};

static void
test_messages(void)
{
	size_t i;

	for (i = 0; i < sizeof msg_cases / sizeof msg_cases[0]; i++) {
		const struct msg_case *c = &msg_cases[i];
		struct request *r = req_new(c->opts);
		json_t *items = parse(c->items), *want = parse(c->messages), *body;
		struct api_error err;

		memset(&err, 0, sizeof err);
		body = upstream_chat_body(r, "m", items, NULL, &err);
		T(body != NULL);
		if (body && !json_equal(json_object_get(body, "messages"), want)) {
			char *got = json_dumps(json_object_get(body, "messages"), JSON_COMPACT);

			printf("case '%s': got %s\n", c->name, got);
			free(got);
			T(0);
		}
		json_decref(body);
		json_decref(items);
		json_decref(want);
		req_del(r);
	}
}

static void
test_body(void)
{
	size_t i;

	for (i = 0; i < sizeof body_cases / sizeof body_cases[0]; i++) {
		const struct body_case *c = &body_cases[i];
		struct request *r = req_new(c->opts);
		json_t *items = parse("[{\"role\":\"user\",\"content\":\"hi\"}]"), *want = parse(c->expect),
		       *body, *v;
		struct api_error err;
		const char *key;
		char absent[512], *tok, *save;

		memset(&err, 0, sizeof err);
		body = upstream_chat_body(r, "m", items, NULL, &err);
		T(body != NULL);
		if (body == NULL)
			goto next;
		json_object_foreach (want, key, v) {
			if (!json_equal(json_object_get(body, key), v)) {
				char *got = json_dumps(json_object_get(body, key),
				                       JSON_COMPACT | JSON_ENCODE_ANY);

				printf("case '%s': key %s: got %s\n", c->name, key, got ? got : "(absent)");
				free(got);
				T(0);
			}
		}
		snprintf(absent, sizeof absent, "%s", c->absent ? c->absent : "");
		for (tok = strtok_r(absent, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
			if (json_object_get(body, tok) != NULL) {
				printf("case '%s': key %s should be absent\n", c->name, tok);
				T(0);
			}
		}
	next:
		json_decref(body);
		json_decref(items);
		json_decref(want);
		req_del(r);
	}
}

static void
test_bad(void)
{
	size_t i;

	for (i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
		const struct bad_case *c = &bad_cases[i];
		struct request *r = req_new(c->opts);
		json_t *items = parse(c->items), *body;
		struct api_error err;

		memset(&err, 0, sizeof err);
		body = upstream_chat_body(r, "m", items, NULL, &err);
		if (body != NULL) {
			printf("case '%s': expected a 400\n", c->name);
			T(0);
			json_decref(body);
		} else {
			T(err.status == 400);
			T_STREQ(err.param, c->param);
			T(err.message[0] != '\0');
		}
		json_decref(items);
		req_del(r);
	}
}

/* No model: the key is left out for servers that serve one model. */
static void
test_no_model(void)
{
	struct request *r = req_new(NULL);
	json_t *items = parse("[]"), *body;
	struct api_error err;

	body = upstream_chat_body(r, NULL, items, NULL, &err);
	T(body != NULL && json_object_get(body, "model") == NULL);
	json_decref(body);
	json_decref(items);
	req_del(r);
}

/* The same translation through the real parser: what request_parse normalises is what upstream
 * reads (string input, role-only items, string content of assistant messages, tool defaults). */
static void
test_through_request_parse(void)
{
	static const char body[] =
	        "{\"model\":\"m\",\"instructions\":\"sys\",\"input\":["
	        "{\"role\":\"developer\",\"content\":\"dev\"},"
	        "{\"role\":\"user\",\"content\":\"weather?\"},"
	        "{\"role\":\"assistant\",\"content\":\"Checking.\"},"
	        "{\"type\":\"function_call\",\"call_id\":\"c1\",\"name\":\"get\",\"arguments\":\"{}\"},"
	        "{\"type\":\"function_call_output\",\"call_id\":\"c1\",\"output\":\"sunny\"}],"
	        "\"tools\":[{\"type\":\"function\",\"name\":\"get\"},{\"type\":\"function\",\"name\":\"put\"}"
	        "],"
	        "\"tool_choice\":{\"type\":\"allowed_tools\",\"tools\":[{\"type\":\"function\",\"name\":"
	        "\"get\"}]},"
	        "\"text\":{\"format\":{\"type\":\"json_schema\",\"name\":\"w\",\"schema\":{\"type\":"
	        "\"object\"}}},"
	        "\"max_output_tokens\":100,\"include\":[\"message.output_text.logprobs\"]}";
	static const char want[] =
	        "[{\"role\":\"system\",\"content\":\"sys\"},{\"role\":\"system\",\"content\":\"dev\"},"
	        "{\"role\":\"user\",\"content\":\"weather?\"},"
	        "{\"role\":\"assistant\",\"content\":\"Checking.\",\"tool_calls\":[{\"id\":\"c1\","
	        "\"type\":\"function\",\"function\":{\"name\":\"get\",\"arguments\":\"{}\"}}]},"
	        "{\"role\":\"tool\",\"tool_call_id\":\"c1\",\"content\":\"sunny\"}]";
	struct api_error err;
	struct request *r;
	json_t *b, *w;

	memset(&err, 0, sizeof err);
	r = request_parse(body, sizeof body - 1, &err);
	T(r != NULL);
	if (r == NULL) {
		printf("request_parse: %s\n", err.message);
		return;
	}
	b = upstream_chat_body(r, r->model, r->input, NULL, &err);
	T(b != NULL);
	w = parse(want);
	T(json_equal(json_object_get(b, "messages"), w));
	json_decref(w);
	T(json_array_size(json_object_get(b, "tools")) == 2);
	T_STREQ(json_string_value(json_object_get(b, "tool_choice")), "auto");
	T_STREQ(json_string_value(json_object_get(json_object_get(b, "response_format"), "type")),
	        "json_schema");
	T(json_integer_value(json_object_get(b, "max_tokens")) == 100);
	T(json_is_true(json_object_get(b, "logprobs")));
	json_decref(b);
	request_free(r);
}

/* ---- MCP items, approvals, compaction and the engine's extras ---- */

/* s with every ' turned into ", so that the tables below read as JSON (caller frees); a quote
 * inside a JSON string is written \\' in C. */
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

static json_t *
parse_q(const char *s)
{
	char *d = dq(s);
	json_t *j = parse(d);

	free(d);
	return j;
}

/* The engine's names for two tools of "docs"; every other tool gets the default. */
static const char *
stub_mcp_name(void *ud, const char *label, const char *name)
{
	(void)ud;
	if (strcmp(label, "docs") == 0 && strcmp(name, "search") == 0)
		return "search";
	if (strcmp(label, "docs") == 0 && strcmp(name, "fetch") == 0)
		return "docs__fetch";
	return NULL;
}

/* Verifies what starts with "ok:" (the summary is the rest) and "not-utf8" (a summary that is not
 * text). */
static char *
stub_compaction_text(void *ud, const json_t *item)
{
	const char *enc = json_string_value(json_object_get(item, "encrypted_content"));

	(*(int *)ud)++;
	if (enc != NULL && strcmp(enc, "not-utf8") == 0)
		return strdup("\xff\xfe");
	if (enc == NULL || strncmp(enc, "ok:", 3) != 0)
		return NULL;
	return strdup(enc + 3);
}

struct mcp_case {
	const char *name;
	const char *items;
	const char *messages; /* expected, exactly */
};

/* One item or message per line; ' stands for ". */
#define USER_Q "{'type':'message','role':'user','content':'q'}"

static const struct mcp_case mcp_cases[] = {
        {"mcp_call joins the assistant message before it; list items are not sent",
         "[{'type':'message','role':'user','content':'q'},"
         "{'type':'mcp_list_tools','id':'mcpl_1','server_label':'docs','tools':[]},"
         "{'type':'message','role':'assistant','content':'Searching.'},"
         "{'type':'mcp_call','id':'mcp_1','server_label':'docs','name':'search','arguments':'{\\'q\\':1}',"
         "'output':'found x','error':null,'approval_request_id':null,'status':'completed'},"
         "{'type':'message','role':'assistant','content':'Here it is.'}]",
         "[{'role':'user','content':'q'},"
         "{'role':'assistant','content':'Searching.','tool_calls':[{'id':'mcp_1','type':'function',"
         "'function':{'name':'search','arguments':'{\\'q\\':1}'}}]},"
         "{'role':'tool','tool_call_id':'mcp_1','content':'found x'},"
         "{'role':'assistant','content':'Here it is.'}]"},
        {"parallel mcp calls: one assistant message, then every result in order",
         "[{'type':'message','role':'user','content':'q'},"
         "{'type':'mcp_call','id':'mcp_a','server_label':'docs','name':'search','arguments':'{}',"
         "'output':'A'},"
         "{'type':'reasoning','id':'rs_1','summary':[]},"
         "{'type':'mcp_call','id':'mcp_b','server_label':'docs','name':'fetch','arguments':'{}',"
         "'output':null,'error':{'type':'mcp_protocol_error','code':-32602,'message':'bad args'}},"
         "{'type':'mcp_list_tools','server_label':'docs','tools':[]},"
         "{'type':'mcp_call','id':'mcp_c','server_label':'other','name':'x.y','arguments':'{}',"
         "'error':{'type':'http_error','code':503,'message':'HTTP 503'}}]",
         "[{'role':'user','content':'q'},"
         "{'role':'assistant','content':null,'tool_calls':[{'id':'mcp_a','type':'function',"
         "'function':{'name':'search','arguments':'{}'}},{'id':'mcp_b','type':'function',"
         "'function':{'name':'docs__fetch','arguments':'{}'}},{'id':'mcp_c','type':'function',"
         "'function':{'name':'other__x_y','arguments':'{}'}}]},"
         "{'role':'tool','tool_call_id':'mcp_a','content':'A'},"
         "{'role':'tool','tool_call_id':'mcp_b','content':'Error: bad args'},"
         "{'role':'tool','tool_call_id':'mcp_c','content':'Error: HTTP 503'}]"},
        {"error texts: text blocks, content JSON, string, none, no message, string content",
         "[{'type':'mcp_call','id':'m1','server_label':'docs','name':'search','arguments':'{}',"
         "'output':'partial','error':{'type':'mcp_tool_execution_error','content':[{'type':'text',"
         "'text':'line1'},{'type':'image','data':'xx'},{'type':'text','text':'line2'}]}},"
         "{'type':'mcp_call','id':'m2','server_label':'docs','name':'search','arguments':'{}',"
         "'error':{'type':'mcp_tool_execution_error','content':[{'type':'image','data':'xx'}]}},"
         "{'type':'mcp_call','id':'m3','server_label':'docs','name':'search','arguments':'{}',"
         "'error':'old style'},"
         "{'type':'mcp_call','id':'m4','server_label':'docs','name':'search','arguments':'{}',"
         "'output':null},"
         "{'type':'mcp_call','id':'m5','server_label':'docs','name':'search','arguments':'{}',"
         "'error':{'type':'mcp_protocol_error','code':-1}},"
         "{'type':'mcp_call','id':'m6','server_label':'docs','name':'search','arguments':'{}',"
         "'error':{'type':'mcp_tool_execution_error','content':'plain'}}]",
         "[{'role':'assistant','content':null,'tool_calls':[{'id':'m1','type':'function',"
         "'function':{'name':'search','arguments':'{}'}},{'id':'m2','type':'function',"
         "'function':{'name':'search','arguments':'{}'}},{'id':'m3','type':'function',"
         "'function':{'name':'search','arguments':'{}'}},{'id':'m4','type':'function',"
         "'function':{'name':'search','arguments':'{}'}},{'id':'m5','type':'function',"
         "'function':{'name':'search','arguments':'{}'}},{'id':'m6','type':'function',"
         "'function':{'name':'search','arguments':'{}'}}]},"
         "{'role':'tool','tool_call_id':'m1','content':'Error: line1\\nline2'},"
         "{'role':'tool','tool_call_id':'m2','content':'Error: [{\\'type\\':\\'image\\',"
         "\\'data\\':\\'xx\\'}]'},"
         "{'role':'tool','tool_call_id':'m3','content':'Error: old style'},"
         "{'role':'tool','tool_call_id':'m4','content':''},"
         "{'role':'tool','tool_call_id':'m5','content':'Error: {\\'type\\':\\'mcp_protocol_error\\',"
         "\\'code\\':-1}'},"
         "{'role':'tool','tool_call_id':'m6','content':'Error: plain'}]"},
        {"default names: sanitised label__name, cut to 64, one _ per character",
         "[{'type':'mcp_call','id':'m1','server_label':'my.srv','name':'get it/now','arguments':'{}',"
         "'output':'1'},"
         "{'type':'mcp_call','id':'m2','server_label':'LLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLL',"
         "'name':'nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn','arguments':'{}','output':'2'},"
         "{'type':'mcp_call','id':'m3','server_label':'docs','name':'caf\\u00e9','arguments':'{}',"
         "'output':'3'}]",
         "[{'role':'assistant','content':null,'tool_calls':[{'id':'m1','type':'function',"
         "'function':{'name':'my_srv__get_it_now','arguments':'{}'}},{'id':'m2','type':'function',"
         "'function':{'name':'LLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLL__nnnnnnnnnnnnnnnnnnnnnn',"
         "'arguments':'{}'}},{'id':'m3','type':'function','function':{'name':'docs__caf_',"
         "'arguments':'{}'}}]},"
         "{'role':'tool','tool_call_id':'m1','content':'1'},"
         "{'role':'tool','tool_call_id':'m2','content':'2'},"
         "{'role':'tool','tool_call_id':'m3','content':'3'}]"},
        {"a function_call and an mcp_call of one turn share the assistant message",
         "[{'type':'message','role':'user','content':'q'},"
         "{'type':'function_call','call_id':'call_1','name':'f','arguments':'{}'},"
         "{'type':'mcp_call','id':'mcp_1','server_label':'docs','name':'search','arguments':'{}',"
         "'output':'S'},"
         "{'type':'function_call_output','call_id':'call_1','output':'F'},"
         "{'type':'message','role':'assistant','content':'done'}]",
         "[{'role':'user','content':'q'},"
         "{'role':'assistant','content':null,'tool_calls':[{'id':'call_1','type':'function',"
         "'function':{'name':'f','arguments':'{}'}},{'id':'mcp_1','type':'function',"
         "'function':{'name':'search','arguments':'{}'}}]},"
         "{'role':'tool','tool_call_id':'mcp_1','content':'S'},"
         "{'role':'tool','tool_call_id':'call_1','content':'F'},"
         "{'role':'assistant','content':'done'}]"},
        {"an mcp_call after a tool output starts a new assistant message, after the output's media",
         "[{'type':'function_call','call_id':'c1','name':'shot','arguments':'{}'},"
         "{'type':'function_call_output','call_id':'c1','output':[{'type':'input_image',"
         "'image_url':'https://i/1'}]},"
         "{'type':'mcp_call','id':'m1','server_label':'docs','name':'search','arguments':'{}',"
         "'output':'S'},"
         "{'type':'message','role':'user','content':'q'}]",
         "[{'role':'assistant','content':null,'tool_calls':[{'id':'c1','type':'function',"
         "'function':{'name':'shot','arguments':'{}'}}]},"
         "{'role':'tool','tool_call_id':'c1','content':''},"
         "{'role':'user','content':[{'type':'image_url','image_url':{'url':'https://i/1'}}]},"
         "{'role':'assistant','content':null,'tool_calls':[{'id':'m1','type':'function',"
         "'function':{'name':'search','arguments':'{}'}}]},"
         "{'role':'tool','tool_call_id':'m1','content':'S'},"
         "{'role':'user','content':'q'}]"},
        {"a pending approval request is not sent",
         "[{'type':'message','role':'user','content':'q'},"
         "{'type':'mcp_approval_request','id':'mcpr_1','server_label':'docs','name':'search',"
         "'arguments':'{}'}]",
         "[{'role':'user','content':'q'}]"},
        {"a denied request: its call answered with the denial and the reason",
         "[{'type':'message','role':'user','content':'q'},"
         "{'type':'mcp_approval_request','id':'mcpr_1','server_label':'docs','name':'search',"
         "'arguments':'{}'},"
         "{'type':'mcp_approval_response','id':'mcpa_mcpr_1','approval_request_id':'mcpr_1',"
         "'approve':false,'reason':'too risky'}]",
         "[{'role':'user','content':'q'},"
         "{'role':'assistant','content':null,'tool_calls':[{'id':'mcpr_1','type':'function',"
         "'function':{'name':'search','arguments':'{}'}}]},"
         "{'role':'tool','tool_call_id':'mcpr_1',"
         "'content':'The user denied this tool call. Reason: too risky'}]"},
        {"a denial that comes first still counts",
         "[{'type':'mcp_approval_response','id':'mcpa_mcpr_1','approval_request_id':'mcpr_1',"
         "'approve':false,'reason':'no'},"
         "{'type':'message','role':'user','content':'q'},"
         "{'type':'mcp_approval_request','id':'mcpr_1','server_label':'docs','name':'search',"
         "'arguments':'{}'}]",
         "[{'role':'user','content':'q'},"
         "{'role':'assistant','content':null,'tool_calls':[{'id':'mcpr_1','type':'function',"
         "'function':{'name':'search','arguments':'{}'}}]},"
         "{'role':'tool','tool_call_id':'mcpr_1','content':'The user denied this tool call. Reason: no'}]"},
        {"a denied request next to a call of the same turn, no reason",
         "[{'type':'message','role':'user','content':'q'},"
         "{'type':'mcp_call','id':'mcp_a','server_label':'docs','name':'search','arguments':'{}',"
         "'output':'A'},"
         "{'type':'mcp_approval_request','id':'mcpr_2','server_label':'docs','name':'fetch',"
         "'arguments':'{}'},"
         "{'type':'mcp_approval_response','id':'mcpa_mcpr_2','approval_request_id':'mcpr_2',"
         "'approve':false}]",
         "[{'role':'user','content':'q'},"
         "{'role':'assistant','content':null,'tool_calls':[{'id':'mcp_a','type':'function',"
         "'function':{'name':'search','arguments':'{}'}},{'id':'mcpr_2','type':'function',"
         "'function':{'name':'docs__fetch','arguments':'{}'}}]},"
         "{'role':'tool','tool_call_id':'mcp_a','content':'A'},"
         "{'role':'tool','tool_call_id':'mcpr_2','content':'The user denied this tool call.'}]"},
        {"an approved request is sent as its mcp_call only",
         "[{'type':'message','role':'user','content':'q'},"
         "{'type':'mcp_approval_request','id':'mcpr_3','server_label':'docs','name':'search',"
         "'arguments':'{}'},"
         "{'type':'mcp_approval_response','approval_request_id':'mcpr_3','approve':true},"
         "{'type':'mcp_call','id':'mcp_3','server_label':'docs','name':'search','arguments':'{}',"
         "'output':'R','approval_request_id':'mcpr_3'}]",
         "[{'role':'user','content':'q'},"
         "{'role':'assistant','content':null,'tool_calls':[{'id':'mcp_3','type':'function',"
         "'function':{'name':'search','arguments':'{}'}}]},"
         "{'role':'tool','tool_call_id':'mcp_3','content':'R'}]"},
        {"an approved request not run yet is not sent",
         "[{'type':'message','role':'user','content':'q'},"
         "{'type':'mcp_approval_request','id':'mcpr_5','server_label':'docs','name':'search',"
         "'arguments':'{}'},"
         "{'type':'mcp_approval_response','approval_request_id':'mcpr_5','approve':true}]",
         "[{'role':'user','content':'q'}]"},
        {"a denial the call was made for anyway: only the call",
         "[{'type':'mcp_approval_request','id':'mcpr_4','server_label':'docs','name':'search',"
         "'arguments':'{}'},"
         "{'type':'mcp_approval_response','id':'mcpa_mcpr_4','approval_request_id':'mcpr_4',"
         "'approve':false},"
         "{'type':'mcp_call','id':'mcp_4','server_label':'docs','name':'search','arguments':'{}',"
         "'output':'R','approval_request_id':'mcpr_4'}]",
         "[{'role':'assistant','content':null,'tool_calls':[{'id':'mcp_4','type':'function',"
         "'function':{'name':'search','arguments':'{}'}}]},"
         "{'role':'tool','tool_call_id':'mcp_4','content':'R'}]"},
        {"compaction: the summary as a user message",
         "[{'type':'compaction','id':'cmp_1','encrypted_content':'ok:We said hi.'},"
         "{'type':'message','role':'assistant','content':'Hi again.'},"
         "{'type':'mcp_call','id':'m1','server_label':'docs','name':'search','arguments':'{}',"
         "'output':'S'}]",
         "[{'role':'user','content':'Summary of the earlier conversation:\\nWe said hi.'},"
         "{'role':'assistant','content':'Hi again.','tool_calls':[{'id':'m1','type':'function',"
         "'function':{'name':'search','arguments':'{}'}}]},"
         "{'role':'tool','tool_call_id':'m1','content':'S'}]"},
};

static void
test_mcp_messages(void)
{
	size_t i;
	int calls = 0;
	struct upstream_extra extra = {NULL, NULL, stub_mcp_name, stub_compaction_text, &calls};

	for (i = 0; i < sizeof mcp_cases / sizeof mcp_cases[0]; i++) {
		const struct mcp_case *c = &mcp_cases[i];
		struct request *r = req_new(NULL);
		json_t *items = parse_q(c->items), *want = parse_q(c->messages), *body;
		struct api_error err;

		memset(&err, 0, sizeof err);
		body = upstream_chat_body(r, "m", items, &extra, &err);
		if (body == NULL)
			printf("case '%s': %s\n", c->name, err.message);
		T(body != NULL);
		if (body && !json_equal(json_object_get(body, "messages"), want)) {
			char *got = json_dumps(json_object_get(body, "messages"), JSON_COMPACT);

			printf("case '%s': got %s\n", c->name, got);
			free(got);
			T(0);
		}
		json_decref(body);
		json_decref(items);
		json_decref(want);
		req_del(r);
	}
	T(calls == 1);
}

/* A compaction item that does not verify, or no way to verify it: 400 naming the input item. */
static void
test_compaction_refused(void)
{
	struct request *r = req_new("{\"instructions\":\"sys\"}");
	int calls = 0;
	struct upstream_extra extra = {NULL, NULL, NULL, stub_compaction_text, &calls};
	struct upstream_extra none = {NULL, NULL, NULL, NULL, NULL};
	json_t *history = parse_q("[{'type':'compaction','encrypted_content':'tampered'}]"), *body;
	struct api_error err;

	json_decref(r->input);
	r->input = parse_q("[" USER_Q ",{'type':'compaction','id':'cmp_1','encrypted_content':'bad'}]");

	/* The items are the request's own input: param input[1]. */
	memset(&err, 0, sizeof err);
	body = upstream_chat_body(r, "m", r->input, &extra, &err);
	T(body == NULL);
	T(err.status == 400);
	T_STREQ(err.code, "invalid_encrypted_content");
	T_STREQ(err.param, "input[1]");
	T(calls == 1);
	/* A copy equal to an input item (as a context may hold) still names it. */
	{
		json_t *copy = json_deep_copy(r->input);

		memset(&err, 0, sizeof err);
		body = upstream_chat_body(r, "m", copy, &extra, &err);
		T(body == NULL);
		T_STREQ(err.param, "input[1]");
		json_decref(copy);
	}
	/* From the previous_response_id chain: param input. */
	memset(&err, 0, sizeof err);
	body = upstream_chat_body(r, "m", history, &extra, &err);
	T(body == NULL);
	T_STREQ(err.code, "invalid_encrypted_content");
	T_STREQ(err.param, "input");
	/* No verifier, or no extra at all: refused, never sent unverified. */
	memset(&err, 0, sizeof err);
	body = upstream_chat_body(r, "m", r->input, &none, &err);
	T(body == NULL);
	T_STREQ(err.code, "invalid_encrypted_content");
	memset(&err, 0, sizeof err);
	body = upstream_chat_body(r, "m", r->input, NULL, &err);
	T(body == NULL);
	T_STREQ(err.code, "invalid_encrypted_content");
	T_STREQ(err.param, "input[1]");
	T(strstr(err.message, "bad") == NULL);
	/* A summary that is not text is refused too, rather than dropped. */
	json_decref(history);
	history = parse_q("[{'type':'compaction','encrypted_content':'not-utf8'}]");
	memset(&err, 0, sizeof err);
	body = upstream_chat_body(r, "m", history, &extra, &err);
	T(body == NULL);
	T_STREQ(err.code, "invalid_encrypted_content");
	json_decref(history);
	req_del(r);
}

/* The engine's tools and tool_choice, and a request's mcp tool_choice without them. */
struct extra_case {
	const char *name;
	const char *opts;
	const char *tools;  /* extra->tools, or NULL */
	const char *choice; /* extra->tool_choice, or NULL */
	const char *expect; /* these keys with these values */
	const char *absent; /* space-separated keys that must not be there */
};

#define XTOOL "{'type':'function','function':{'name':'search','parameters':{'type':'object'}}}"

static const struct extra_case extra_cases[] = {
        {"extra tools after the function tools, extra tool_choice wins",
         "{" TOOLS ",\"tool_choice\":\"none\"}", "[" XTOOL "]", "'required'",
         "{'tools':[{'type':'function','function':{'name':'get','description':'Get it','parameters':"
         "{'type':'object'},'strict':true}},{'type':'function','function':{'name':'put'}}," XTOOL "],"
         "'tool_choice':'required'}",
         "parallel_tool_calls"},
        {"only extra tools: the request's choice, parallel_tool_calls false",
         "{\"parallel_tool_calls\":false}", "[" XTOOL "]", NULL,
         "{'tools':[" XTOOL "],'tool_choice':'auto','parallel_tool_calls':false}", NULL},
        {"extra function choice", "{" TOOLS "}", "[" XTOOL "]",
         "{'type':'function','function':{'name':'search'}}",
         "{'tool_choice':{'type':'function','function':{'name':'search'}}}", NULL},
        {"no tools anywhere: no tool keys", "{\"parallel_tool_calls\":false}", "[]", "'required'", "{}",
         "tools tool_choice parallel_tool_calls"},
        {"mcp choice with a name the engine knows",
         "{\"tool_choice\":{\"type\":\"mcp\",\"server_label\":\"docs\",\"name\":\"search\"}}", "[" XTOOL "]",
         NULL, "{'tool_choice':{'type':'function','function':{'name':'search'}}}", NULL},
        {"mcp choice with a name the engine does not know",
         "{\"tool_choice\":{\"type\":\"mcp\",\"server_label\":\"docs\",\"name\":\"z.z\"}}", "[" XTOOL "]",
         NULL, "{'tool_choice':{'type':'function','function':{'name':'docs__z_z'}}}", NULL},
        {"mcp choice without a name",
         "{\"tool_choice\":{\"type\":\"mcp\",\"server_label\":\"docs\",\"name\":null}}", "[" XTOOL "]", NULL,
         "{'tool_choice':'required'}", NULL},
};

static void
test_extra(void)
{
	size_t i;

	for (i = 0; i < sizeof extra_cases / sizeof extra_cases[0]; i++) {
		const struct extra_case *c = &extra_cases[i];
		struct request *r = req_new(c->opts);
		json_t *items = parse("[{\"role\":\"user\",\"content\":\"hi\"}]"), *want = parse_q(c->expect),
		       *v;
		json_t *tools = c->tools ? parse_q(c->tools) : NULL;
		char *cs = c->choice ? dq(c->choice) : NULL;
		json_t *choice = cs ? json_loads(cs, JSON_DECODE_ANY, NULL) : NULL, *body;
		struct upstream_extra extra = {tools, choice, stub_mcp_name, NULL, NULL};
		struct api_error err;
		const char *key;
		char absent[512], *tok, *save;

		memset(&err, 0, sizeof err);
		body = upstream_chat_body(r, "m", items, &extra, &err);
		T(body != NULL);
		if (body == NULL) {
			printf("case '%s': %s\n", c->name, err.message);
			goto next;
		}
		json_object_foreach (want, key, v) {
			if (!json_equal(json_object_get(body, key), v)) {
				char *got = json_dumps(json_object_get(body, key),
				                       JSON_COMPACT | JSON_ENCODE_ANY);

				printf("case '%s': key %s: got %s\n", c->name, key, got ? got : "(absent)");
				free(got);
				T(0);
			}
		}
		snprintf(absent, sizeof absent, "%s", c->absent ? c->absent : "");
		for (tok = strtok_r(absent, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
			if (json_object_get(body, tok) != NULL) {
				printf("case '%s': key %s should be absent\n", c->name, tok);
				T(0);
			}
		}
		/* The body holds copies: the engine's objects are untouched. */
		if (tools != NULL && json_array_size(tools) > 0) {
			json_object_set_new(
			        json_array_get(json_object_get(body, "tools"),
			                       json_array_size(json_object_get(body, "tools")) - 1),
			        "changed", json_true());
			T(json_object_get(json_array_get(tools, 0), "changed") == NULL);
		}
	next:
		json_decref(body);
		json_decref(items);
		json_decref(want);
		json_decref(tools);
		json_decref(choice);
		free(cs);
		req_del(r);
	}
}

/* Error texts are capped at 64 KiB, cut on a character boundary. */
static void
test_error_cap(void)
{
	struct request *r = req_new(NULL);
	size_t n = 100000, i, len;
	char *msg = malloc(n * 2 + 1);
	json_t *items, *blocks = json_array(), *body, *tool;
	const char *content;
	struct api_error err;

	if (msg == NULL)
		abort();
	/* "Error: " is 7 bytes, then 2-byte characters: 64 KiB falls inside one of them. */
	for (i = 0; i < n; i++)
		memcpy(msg + 2 * i, "\xc3\xa9", 2);
	msg[2 * n] = '\0';
	for (i = 0; i < 40; i++)
		json_array_append_new(blocks,
		                      json_pack("{s:s, s:s}", "type", "text", "text", msg + 2 * (n - 2000)));
	items = json_pack(
	        "[{s:s, s:s, s:s, s:s, s:s, s:{s:s, s:i, s:s}}, {s:s, s:s, s:s, s:s, s:s, s:{s:s, s:o}}]",
	        "type", "mcp_call", "id", "m1", "server_label", "docs", "name", "search", "arguments", "{}",
	        "error", "type", "http_error", "code", 500, "message", msg, "type", "mcp_call", "id", "m2",
	        "server_label", "docs", "name", "search", "arguments", "{}", "error", "type",
	        "mcp_tool_execution_error", "content", blocks);
	T(items != NULL);
	memset(&err, 0, sizeof err);
	body = upstream_chat_body(r, "m", items, NULL, &err);
	T(body != NULL);
	for (i = 1; i <= 2; i++) {
		tool = json_array_get(json_object_get(body, "messages"), i);
		content = json_string_value(json_object_get(tool, "content"));
		T(content != NULL);
		if (content == NULL)
			continue;
		len = strlen(content);
		T(len <= 65536 && len >= 65536 - 1);
		T(strncmp(content, "Error: \xc3\xa9", 9) == 0);
		/* Ends on a whole character. */
		T(strcmp(content + len - 2, "\xc3\xa9") == 0);
	}
	json_decref(body);
	json_decref(items);
	free(msg);
	req_del(r);
}

/* MCP items through the real parser: ids generated there are the tool_call ids here. */
static void
test_mcp_through_request_parse(void)
{
	static const char body[] =
	        "{'model':'m','tools':[{'type':'mcp','server_label':'docs','authorization':'sekrit'}],"
	        "'input':[{'role':'user','content':'q'},"
	        "{'type':'mcp_list_tools','server_label':'docs','tools':[{'name':'search','input_schema':{}}]"
	        "},"
	        "{'type':'mcp_call','server_label':'docs','name':'search','arguments':'{}','output':'S'},"
	        "{'type':'mcp_approval_request','id':'mcpr_1','server_label':'docs','name':'rm','arguments':'"
	        "{}'},"
	        "{'type':'mcp_approval_response','approval_request_id':'mcpr_1','approve':false},"
	        "{'type':'compaction','encrypted_content':'ok:earlier'}]}";
	int calls = 0;
	struct upstream_extra extra = {NULL, NULL, stub_mcp_name, stub_compaction_text, &calls};
	struct api_error err;
	struct request *r;
	char *b = dq(body), *s, wbuf[1024];
	json_t *out, *msgs, *want;
	const char *id;

	memset(&err, 0, sizeof err);
	r = request_parse(b, strlen(b), &err);
	free(b);
	T(r != NULL);
	if (r == NULL) {
		printf("request_parse: %s\n", err.message);
		return;
	}
	out = upstream_chat_body(r, r->model, r->input, &extra, &err);
	T(out != NULL);
	msgs = json_object_get(out, "messages");
	id = json_string_value(json_object_get(json_array_get(r->input, 2), "id"));
	T(id != NULL && strncmp(id, "mcp_", 4) == 0);
	snprintf(wbuf, sizeof wbuf,
	         "[{'role':'user','content':'q'},{'role':'assistant','content':null,'tool_calls':["
	         "{'id':'%s','type':'function','function':{'name':'search','arguments':'{}'}},"
	         "{'id':'mcpr_1','type':'function','function':{'name':'docs__rm','arguments':'{}'}}]},"
	         "{'role':'tool','tool_call_id':'%s','content':'S'},"
	         "{'role':'tool','tool_call_id':'mcpr_1','content':'The user denied this tool call.'},"
	         "{'role':'user','content':'Summary of the earlier conversation:\\nearlier'}]",
	         id, id);
	want = parse_q(wbuf);
	if (!json_equal(msgs, want)) {
		char *got = json_dumps(msgs, JSON_COMPACT);

		printf("through request_parse: got %s\n", got);
		free(got);
		T(0);
	}
	/* Only the engine's extra tools go upstream for MCP; the mcp tool itself is not a function. */
	T(json_object_get(out, "tools") == NULL);
	s = json_dumps(out, 0);
	T(strstr(s, "sekrit") == NULL);
	free(s);
	json_decref(want);
	json_decref(out);
	request_free(r);
}

/* Retry-After: only a valid, bounded value is passed on (as seconds). now is a fixed instant. */
static void
test_retry_after(void)
{
	static const struct {
		const char *in;
		long want;
	} cases[] = {
	        {"7", 7},
	        {"0", 0},
	        {" 120 ", 120},
	        {"3600", 3600},
	        {"3601", -1},
	        {"99999999999999999999999", -1},
	        {"-1", -1},
	        {"1.5", -1},
	        {"7s", -1},
	        {"soon", -1},
	        {"", -1},
	        {NULL, -1},
	        {"Wed, 02 Dec 2026 17:00:30 GMT", 30},
	        {"Wednesday, 02-Dec-26 17:01:00 GMT", 60},
	        {"Wed Dec  2 17:00:10 2026", 10},
	        {"Wed, 02 Dec 2026 16:00:00 GMT", 0},  /* in the past: now */
	        {"Wed, 02 Dec 2026 19:00:00 GMT", -1}, /* two hours: beyond the bound */
	        {"Wed, 02 Dec 2026 17:00:30 CET", -1},
	        {"Wed, 02 Dec 2026 17:00:30 GMT junk", -1},
	        {"Wed, 32 Dec 2026 17:00:30 GMT", -1},
	};
	struct tm tm;
	time_t now;
	size_t i;

	memset(&tm, 0, sizeof tm);
	tm.tm_year = 2026 - 1900, tm.tm_mon = 11, tm.tm_mday = 2, tm.tm_hour = 17;
	now = timegm(&tm);
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		long got = upstream_retry_after(cases[i].in, now);

		if (got != cases[i].want)
			printf("retry-after \"%s\": got %ld, want %ld\n",
			       cases[i].in ? cases[i].in : "(null)", got, cases[i].want);
		T(got == cases[i].want);
	}
}

int
main(void)
{
	test_messages();
	test_body();
	test_bad();
	test_no_model();
	test_through_request_parse();
	test_mcp_messages();
	test_compaction_refused();
	test_extra();
	test_error_cap();
	test_mcp_through_request_parse();
	test_retry_after();
	return T_DONE();
}
