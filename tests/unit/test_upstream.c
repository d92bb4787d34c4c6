/*
 * upstream: Responses items -> Chat Completions body. Table-driven: items in, messages out; request
 * settings in, body keys out; bad items -> 400. Covers the peer bugs of PEER-LESSONS.md "History
 * translation".
 */
#include <stdlib.h>
#include <string.h>
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
		body = upstream_chat_body(r, "m", items, &err);
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
		body = upstream_chat_body(r, "m", items, &err);
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
		body = upstream_chat_body(r, "m", items, &err);
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

	body = upstream_chat_body(r, NULL, items, &err);
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
	b = upstream_chat_body(r, r->model, r->input, &err);
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

int
main(void)
{
	test_messages();
	test_body();
	test_bad();
	test_no_model();
	test_through_request_parse();
	return T_DONE();
}
