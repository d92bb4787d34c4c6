/*
 * turn: recorded Chat Completions chunk sequences in, Responses items and events out. Every stream is
 * checked twice: against the exact event sequence the test expects, and by a validator of the spec's
 * streaming rules (output_index = place in response.output, content_index = place in item.content,
 * item ids consistent, done texts equal to the concatenated deltas, done items equal to the final
 * items, nothing after an item's done).
 *
 * Test JSON is written with single quotes (no test string contains one): q() turns them into double
 * quotes before parsing.
 */
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "api/apierr.h"
#include "api/request.h"
#include "api/response.h"
#include "api/turn.h"
#include "tests/unit/t.h"

static json_t *
q(const char *s)
{
	char *d = strdup(s), *p;
	json_error_t e;
	json_t *j;

	if (d == NULL)
		abort();
	for (p = d; *p; p++)
		if (*p == '\'')
			*p = '"';
	j = json_loads(d, JSON_DECODE_ANY, &e);
	if (j == NULL) {
		printf("bad test JSON: %s: %s\n", e.text, d);
		abort();
	}
	free(d);
	return j;
}

/* a equals the JSON text b. */
static int
json_eq(const json_t *a, const char *b)
{
	json_t *j = q(b);
	int eq = json_equal(a, j);

	json_decref(j);
	return eq;
}

static int
has_prefix(const char *s, const char *p)
{
	return s && strncmp(s, p, strlen(p)) == 0;
}

/* Only the fields turn.c reads, shaped as request_parse leaves them. */
static struct request *
req_new(const char *tools, const char *tool_choice, int parallel, unsigned include, int top_logprobs)
{
	struct request *r = calloc(1, sizeof *r);

	if (r == NULL)
		abort();
	r->tools = q(tools ? tools : "[]");
	r->tool_choice = q(tool_choice ? tool_choice : "'auto'");
	r->parallel_tool_calls = parallel;
	r->include = include;
	r->top_logprobs = top_logprobs;
	r->max_output_tokens = -1;
	r->max_tool_calls = -1;
	return r;
}

static void
req_del(struct request *r)
{
	json_decref(r->tools);
	json_decref(r->tool_choice);
	free(r);
}

/* A response object as response_new makes it, reduced to what the turn touches. */
static json_t *
resp_new(const char *usage)
{
	return json_pack("{s:s, s:s, s:s, s:[], s:o}", "id", "resp_test", "object", "response", "status",
	                 "in_progress", "output", "usage", usage ? q(usage) : json_null());
}

/* An event shares objects with the response as it is now: keep a copy, as the daemon keeps the
 * serialised text. */
static void
on_event(void *ud, json_t *ev)
{
	json_array_append_new(ud, json_deep_copy(ev));
	json_decref(ev);
}

#define TOOLS_GP                                                                                             \
	"[{'type':'function','name':'get','description':null,'parameters':null,'strict':null},"              \
	"{'type':'function','name':'put','description':null,'parameters':null,'strict':null}]"

/* One streamed chunk with this delta; a final chunk with this finish_reason; a tool_calls delta. */
#define D(x)        "{'id':'c1','object':'chat.completion.chunk','choices':[{'index':0,'delta':" x "}]}"
#define F(x)        "{'choices':[{'index':0,'delta':{},'finish_reason':'" x "'}]}"
#define TC(x)       D("{'tool_calls':[" x "]}")
#define CHUNKS(...) ((const char *const[]){__VA_ARGS__, NULL})

struct run {
	json_t *resp;
	json_t *events;
	int rc; /* -1 when a feed failed */
	size_t failed_at;
	enum turn_end end;
	struct api_error err;
};

/* Feeds the chunks through a new turn, then finishes it, or aborts it when a feed failed. */
static void
run_with(struct run *r, const struct request *req, const char *const *chunks, size_t max_bytes,
         const char *usage, int listen)
{
	struct turn *t;
	size_t i;

	memset(r, 0, sizeof *r);
	r->resp = resp_new(usage);
	r->events = json_array();
	t = turn_new(r->resp, req, max_bytes, listen ? on_event : NULL, r->events);
	for (i = 0; chunks[i]; i++) {
		json_t *c = q(chunks[i]);
		int rc = turn_feed(t, c, &r->err);

		json_decref(c);
		if (rc < 0) {
			r->rc = -1;
			r->failed_at = i;
			break;
		}
	}
	if (r->rc == 0)
		turn_finish(t, &r->end);
	else
		turn_abort(t);
	turn_free(t);
}

/* With a listener: a streaming turn, whose events are collected in r->events. */
static void
run(struct run *r, const struct request *req, const char *const *chunks, size_t max_bytes, const char *usage)
{
	run_with(r, req, chunks, max_bytes, usage, 1);
}

static void
run_free(struct run *r)
{
	json_decref(r->resp);
	json_decref(r->events);
}

/* "output_item.added content_part.added ...": the event types without "response.". */
static const char *
types(const json_t *events)
{
	static char s[4096];
	const json_t *ev;
	size_t i, n = 0;

	s[0] = '\0';
	json_array_foreach (events, i, ev) {
		const char *ty = json_string_value(json_object_get(ev, "type"));

		if (ty && strncmp(ty, "response.", 9) == 0)
			ty += 9;
		n += (size_t)snprintf(s + n, sizeof s - n, "%s%s", n ? " " : "", ty ? ty : "?");
		if (n >= sizeof s)
			break;
	}
	return s;
}

static void
acc_append(json_t *acc, const char *key, const char *s)
{
	const char *old = json_string_value(json_object_get(acc, key));
	size_t n = (old ? strlen(old) : 0) + strlen(s ? s : "") + 1;
	char *buf = malloc(n);

	if (buf == NULL)
		abort();
	snprintf(buf, n, "%s%s", old ? old : "", s ? s : "");
	json_object_set_new(acc, key, json_string(buf));
	free(buf);
}

static int
acc_eq(json_t *acc, const char *key, const json_t *s)
{
	const char *want = json_string_value(json_object_get(acc, key));

	return json_is_string(s) && strcmp(json_string_value(s), want ? want : "") == 0;
}

#define CHECK(cond)                                                                                          \
	do {                                                                                                 \
		if (!(cond)) {                                                                               \
			printf("  event %zu (%s): %s\n", i, type ? type : "?", #cond);                       \
			bad = 1;                                                                             \
		}                                                                                            \
	} while (0)

/* The spec's streaming rules, for any event sequence. complete: every item must have been closed. */
static void
validate(const json_t *events, const json_t *resp, int complete)
{
	const json_t *output = json_object_get(resp, "output"), *ev;
	json_t *ids = json_array(), *parts = json_array(), *done = json_array(), *acc = json_object();
	size_t i;
	int bad = 0;

	json_array_foreach (events, i, ev) {
		const char *type = json_string_value(json_object_get(ev, "type"));
		json_int_t oi = json_integer_value(json_object_get(ev, "output_index"));
		json_int_t ci = json_integer_value(json_object_get(ev, "content_index"));
		const char *item_id = json_string_value(json_object_get(ev, "item_id"));
		const json_t *item = json_object_get(ev, "item"), *part = json_object_get(ev, "part");
		const json_t *final_item = json_array_get(output, (size_t)oi);
		char key[64];

		CHECK(type != NULL);
		CHECK(json_object_get(ev, "sequence_number") == NULL);
		CHECK(json_is_integer(json_object_get(ev, "output_index")));
		if (type == NULL)
			continue;
		if (strcmp(type, "response.output_item.added") == 0) {
			const char *it = json_string_value(json_object_get(item, "type"));
			const char *id = json_string_value(json_object_get(item, "id"));

			CHECK((size_t)oi == json_array_size(ids));
			CHECK(json_eq(json_object_get(item, "status"), "'in_progress'"));
			CHECK(id != NULL);
			if (it && strcmp(it, "message") == 0) {
				CHECK(has_prefix(id, "msg_"));
				CHECK(json_eq(json_object_get(item, "role"), "'assistant'"));
				CHECK(json_eq(json_object_get(item, "content"), "[]"));
			} else if (it && strcmp(it, "reasoning") == 0) {
				CHECK(has_prefix(id, "rs_"));
				CHECK(json_eq(json_object_get(item, "summary"), "[]"));
				CHECK(json_eq(json_object_get(item, "content"), "[]"));
			} else if (it && strcmp(it, "function_call") == 0) {
				CHECK(has_prefix(id, "fc_"));
				CHECK(json_string_length(json_object_get(item, "name")) > 0);
				CHECK(json_string_length(json_object_get(item, "call_id")) > 0);
				CHECK(json_eq(json_object_get(item, "arguments"), "''"));
			} else {
				CHECK(0);
			}
			json_array_append_new(ids, json_string(id ? id : ""));
			json_array_append_new(parts, json_integer(0));
			json_array_append_new(done, json_false());
			continue;
		}
		CHECK(oi >= 0 && (size_t)oi < json_array_size(ids));
		if (oi < 0 || (size_t)oi >= json_array_size(ids))
			continue;
		CHECK(!json_is_true(json_array_get(done, (size_t)oi)));
		if (strcmp(type, "response.output_item.done") == 0) {
			CHECK(json_equal(item, final_item));
			CHECK(json_equal(json_object_get(item, "id"), json_array_get(ids, (size_t)oi)));
			json_array_set_new(done, (size_t)oi, json_true());
			continue;
		}
		CHECK(item_id && strcmp(item_id, json_string_value(json_array_get(ids, (size_t)oi))) == 0);
		snprintf(key, sizeof key, "%lld:args", (long long)oi);
		if (strcmp(type, "response.function_call_arguments.delta") == 0) {
			acc_append(acc, key, json_string_value(json_object_get(ev, "delta")));
			continue;
		}
		if (strcmp(type, "response.function_call_arguments.done") == 0) {
			CHECK(acc_eq(acc, key, json_object_get(ev, "arguments")));
			CHECK(json_equal(json_object_get(ev, "arguments"),
			                 json_object_get(final_item, "arguments")));
			continue;
		}
		snprintf(key, sizeof key, "%lld:%lld", (long long)oi, (long long)ci);
		CHECK(json_is_integer(json_object_get(ev, "content_index")));
		if (strcmp(type, "response.content_part.added") == 0) {
			json_int_t n = json_integer_value(json_array_get(parts, (size_t)oi));
			const char *pt = json_string_value(json_object_get(part, "type"));

			CHECK(ci == n);
			json_array_set_new(parts, (size_t)oi, json_integer(n + 1));
			if (pt && strcmp(pt, "output_text") == 0)
				CHECK(json_eq(
				        part,
				        "{'type':'output_text','text':'','annotations':[],'logprobs':[]}"));
			else if (pt && strcmp(pt, "refusal") == 0)
				CHECK(json_eq(part, "{'type':'refusal','refusal':''}"));
			else if (pt && strcmp(pt, "reasoning_text") == 0)
				CHECK(json_eq(part, "{'type':'reasoning_text','text':''}"));
			else
				CHECK(0);
			continue;
		}
		CHECK(ci >= 0 && ci < json_integer_value(json_array_get(parts, (size_t)oi)));
		if (strcmp(type, "response.output_text.delta") == 0 ||
		    strcmp(type, "response.refusal.delta") == 0 ||
		    strcmp(type, "response.reasoning.delta") == 0) {
			acc_append(acc, key, json_string_value(json_object_get(ev, "delta")));
			if (strcmp(type, "response.output_text.delta") == 0)
				CHECK(json_is_array(json_object_get(ev, "logprobs")));
		} else if (strcmp(type, "response.output_text.done") == 0 ||
		           strcmp(type, "response.reasoning.done") == 0) {
			CHECK(acc_eq(acc, key, json_object_get(ev, "text")));
		} else if (strcmp(type, "response.refusal.done") == 0) {
			CHECK(acc_eq(acc, key, json_object_get(ev, "refusal")));
		} else if (strcmp(type, "response.content_part.done") == 0) {
			const json_t *txt = json_object_get(part, "text");

			CHECK(acc_eq(acc, key, txt ? txt : json_object_get(part, "refusal")));
			CHECK(json_equal(part,
			                 json_array_get(json_object_get(final_item, "content"), (size_t)ci)));
		} else {
			CHECK(0);
		}
	}
	T(json_array_size(ids) == json_array_size(output));
	if (complete) {
		for (i = 0; i < json_array_size(done); i++)
			T(json_is_true(json_array_get(done, i)));
	}
	T(!bad);
	json_decref(ids);
	json_decref(parts);
	json_decref(done);
	json_decref(acc);
}

/* A value of o by a dotted path ("output.0.content.1.text"). */
static const json_t *
at(const json_t *o, const char *path)
{
	char buf[256], *tok, *save;
	const json_t *v = o;

	snprintf(buf, sizeof buf, "%s", path);
	for (tok = strtok_r(buf, ".", &save); tok && v; tok = strtok_r(NULL, ".", &save)) {
		if (json_is_array(v))
			v = json_array_get(v, (size_t)atoi(tok));
		else
			v = json_object_get(v, tok);
	}
	return v;
}

static const char *
str_at(const json_t *o, const char *path)
{
	return json_string_value(at(o, path));
}

static json_int_t
int_at(const json_t *o, const char *path)
{
	const json_t *v = at(o, path);

	return json_is_integer(v) ? json_integer_value(v) : -12345;
}

static const json_t *
ev_at(const struct run *r, size_t i)
{
	return json_array_get(r->events, i);
}

static const char *const TEXT_EVENTS =
        "output_item.added content_part.added output_text.delta "
        "output_text.delta output_text.done content_part.done output_item.done";

static void
test_text(void)
{
	struct request *req = req_new(NULL, NULL, 1, 0, -1);
	struct run r;

	run(&r, req,
	    CHUNKS(D("{'role':'assistant','content':''}"), D("{'content':'Hel'}"),
	           D("{'content':'lo','refusal':null}"), F("stop"),
	           "{'choices':[],'usage':{'prompt_tokens':7,'completion_tokens':2,'total_tokens':9,"
	           "'prompt_tokens_details':{'cached_tokens':3},"
	           "'completion_tokens_details':{'reasoning_tokens':0}}}"),
	    0, NULL);
	T(r.rc == 0);
	T(r.end == TURN_END_STOP);
	T_STREQ(types(r.events), TEXT_EVENTS);
	validate(r.events, r.resp, 1);
	T(json_eq(at(r.resp, "output.0.content"),
	          "[{'type':'output_text','text':'Hello','annotations':[],'logprobs':[]}]"));
	T_STREQ(str_at(r.resp, "output.0.type"), "message");
	T_STREQ(str_at(r.resp, "output.0.role"), "assistant");
	T_STREQ(str_at(r.resp, "output.0.status"), "completed");
	T(json_eq(at(r.resp, "usage"), "{'input_tokens':7,'output_tokens':2,'total_tokens':9,"
	                               "'input_tokens_details':{'cached_tokens':3},"
	                               "'output_tokens_details':{'reasoning_tokens':0}}"));
	/* Delta and done events carry logprobs [] for the 2026-01-15 schema. */
	T(json_eq(at(ev_at(&r, 2), "logprobs"), "[]"));
	T(json_eq(at(ev_at(&r, 4), "logprobs"), "[]"));
	T_STREQ(str_at(ev_at(&r, 4), "text"), "Hello");
	run_free(&r);
	req_del(req);
}

static void
test_reasoning_then_text(void)
{
	struct request *req = req_new(NULL, NULL, 1, 0, -1);
	struct run r;

	/* Both field names seen in the wild; a server sending both at once must not double the text. */
	run(&r, req,
	    CHUNKS(D("{'role':'assistant','reasoning_content':'Think'}"), D("{'reasoning':' more'}"),
	           D("{'reasoning_content':'.','reasoning':'.'}"), D("{'content':'Ans'}"), F("stop")),
	    0, NULL);
	T(r.rc == 0);
	T_STREQ(types(r.events), "output_item.added content_part.added reasoning.delta reasoning.delta "
	                         "reasoning.delta reasoning.done content_part.done output_item.done "
	                         "output_item.added content_part.added output_text.delta output_text.done "
	                         "content_part.done output_item.done");
	validate(r.events, r.resp, 1);
	T(json_eq(at(r.resp, "output.0.content"), "[{'type':'reasoning_text','text':'Think more.'}]"));
	T_STREQ(str_at(r.resp, "output.0.type"), "reasoning");
	T(json_eq(at(r.resp, "output.0.summary"), "[]"));
	T(at(r.resp, "output.0.encrypted_content") == NULL);
	T_STREQ(str_at(r.resp, "output.1.content.0.text"), "Ans");
	T(int_at(ev_at(&r, 8), "output_index") == 1);
	run_free(&r);

	/* Reasoning again after text: a second reasoning item. */
	run(&r, req, CHUNKS(D("{'reasoning':'a'}"), D("{'content':'b'}"), D("{'reasoning':'c'}"), F("stop")),
	    0, NULL);
	validate(r.events, r.resp, 1);
	T(json_array_size(at(r.resp, "output")) == 3);
	T_STREQ(str_at(r.resp, "output.2.type"), "reasoning");
	run_free(&r);
	req_del(req);
}

static void
test_refusal(void)
{
	struct request *req = req_new(NULL, NULL, 1, 0, -1);
	struct run r;

	run(&r, req, CHUNKS(D("{'refusal':'I can'}"), D("{'refusal':'not.'}"), F("stop")), 0, NULL);
	T(r.rc == 0);
	T_STREQ(types(r.events),
	        "output_item.added content_part.added refusal.delta refusal.delta refusal.done "
	        "content_part.done output_item.done");
	validate(r.events, r.resp, 1);
	T(json_eq(at(r.resp, "output.0.content"), "[{'type':'refusal','refusal':'I cannot.'}]"));
	run_free(&r);

	/* Text then refusal: two parts of one message. */
	run(&r, req, CHUNKS(D("{'content':'Sure'}"), D("{'refusal':'no'}"), F("stop")), 0, NULL);
	T_STREQ(types(r.events), "output_item.added content_part.added output_text.delta output_text.done "
	                         "content_part.done content_part.added refusal.delta refusal.done "
	                         "content_part.done output_item.done");
	validate(r.events, r.resp, 1);
	T(int_at(ev_at(&r, 5), "content_index") == 1);
	T_STREQ(str_at(r.resp, "output.0.content.1.refusal"), "no");
	run_free(&r);
	req_del(req);
}

static void
test_parallel_calls(void)
{
	struct request *req = req_new(TOOLS_GP, NULL, 1, 0, -1);
	struct run r;

	/* Two calls, argument deltas interleaved. */
	run(&r, req,
	    CHUNKS(D("{'role':'assistant','content':null}"),
	           TC("{'index':0,'id':'call_a','type':'function','function':{'name':'get','arguments':''}}"),
	           TC("{'index':1,'id':'call_b','type':'function','function':{'name':'put','arguments':'{\\'"
	              "x\\''}}"),
	           TC("{'index':0,'function':{'arguments':'{\\'c\\':'}}"),
	           TC("{'index':1,'function':{'arguments':':1}'}}"),
	           TC("{'index':0,'function':{'arguments':'\\'P\\'}'}}"), F("tool_calls")),
	    0, NULL);
	T(r.rc == 0);
	T(r.end == TURN_END_TOOL_CALLS);
	T_STREQ(types(r.events),
	        "output_item.added output_item.added function_call_arguments.delta "
	        "function_call_arguments.delta function_call_arguments.delta "
	        "function_call_arguments.delta function_call_arguments.done output_item.done "
	        "function_call_arguments.done output_item.done");
	validate(r.events, r.resp, 1);
	T_STREQ(str_at(r.resp, "output.0.type"), "function_call");
	T_STREQ(str_at(r.resp, "output.0.status"), "completed");
	T_STREQ(str_at(r.resp, "output.0.call_id"), "call_a");
	T_STREQ(str_at(r.resp, "output.0.name"), "get");
	T_STREQ(str_at(r.resp, "output.0.arguments"), "{\"c\":\"P\"}");
	T_STREQ(str_at(r.resp, "output.1.call_id"), "call_b");
	T_STREQ(str_at(r.resp, "output.1.arguments"), "{\"x\":1}");
	T(int_at(ev_at(&r, 2), "output_index") == 1);
	T(int_at(ev_at(&r, 3), "output_index") == 0);
	run_free(&r);

	/* Name and whole arguments in one chunk without an id: a call id is made up. A second call whose
	 * (empty) id and arguments come before its name: buffered until the item can open. */
	run(&r, req,
	    CHUNKS(TC("{'index':0,'function':{'name':'get','arguments':'{}'}}"),
	           TC("{'index':1,'id':'','type':'function'}"),
	           TC("{'index':1,'function':{'arguments':'{\\'a\\''}}"),
	           TC("{'index':1,'function':{'name':'put','arguments':':2}'}}"), F("tool_calls")),
	    0, NULL);
	T(r.rc == 0);
	T_STREQ(types(r.events), "output_item.added function_call_arguments.delta output_item.added "
	                         "function_call_arguments.delta function_call_arguments.delta "
	                         "function_call_arguments.done output_item.done function_call_arguments.done "
	                         "output_item.done");
	validate(r.events, r.resp, 1);
	T(has_prefix(str_at(r.resp, "output.0.call_id"), "call_"));
	T(strlen(str_at(r.resp, "output.0.call_id")) > 5);
	T(has_prefix(str_at(r.resp, "output.1.call_id"), "call_"));
	T(strcmp(str_at(r.resp, "output.0.call_id"), str_at(r.resp, "output.1.call_id")) != 0);
	T_STREQ(str_at(r.resp, "output.0.arguments"), "{}");
	T_STREQ(str_at(r.resp, "output.1.arguments"), "{\"a\":2}");
	run_free(&r);

	/* Servers that number every call 0 but give each its own id; arguments as an object; an id over
	 * 64 characters is replaced. */
	run(&r, req,
	    CHUNKS(TC("{'index':0,'id':'functions.get:0','function':{'name':'get','arguments':'{}'}}"),
	           TC("{'index':0,'id':'functions.put:1','function':{'name':'put','arguments':{'k':1}}}"),
	           TC("{'index':0,'id':'"
	              "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	              "',"
	              "'function':{'name':'get','arguments':'{}'}}"),
	           F("tool_calls")),
	    0, NULL);
	T(r.rc == 0);
	validate(r.events, r.resp, 1);
	T(json_array_size(at(r.resp, "output")) == 3);
	T_STREQ(str_at(r.resp, "output.0.call_id"), "functions.get:0");
	T_STREQ(str_at(r.resp, "output.1.call_id"), "functions.put:1");
	T_STREQ(str_at(r.resp, "output.1.arguments"), "{\"k\":1}");
	T(has_prefix(str_at(r.resp, "output.2.call_id"), "call_"));
	run_free(&r);

	/* Text before the calls: the message closes, the calls take output indexes 1 and 2. */
	run(&r, req,
	    CHUNKS(D("{'content':'Checking.'}"),
	           TC("{'index':0,'id':'a','function':{'name':'get','arguments':'{}'}},"
	              "{'index':1,'id':'b','function':{'name':'put','arguments':'{}'}}"),
	           F("tool_calls")),
	    0, NULL);
	T(r.rc == 0);
	T(r.end == TURN_END_TOOL_CALLS);
	validate(r.events, r.resp, 1);
	T_STREQ(str_at(r.resp, "output.0.type"), "message");
	T_STREQ(str_at(r.resp, "output.2.call_id"), "b");
	run_free(&r);

	/* Arguments for a call that text already closed: an error, not silently wrong arguments. */
	run(&r, req,
	    CHUNKS(TC("{'index':0,'id':'a','function':{'name':'get','arguments':'{'}}"), D("{'content':'x'}"),
	           TC("{'index':0,'function':{'arguments':'}'}}")),
	    0, NULL);
	T(r.rc == -1 && r.failed_at == 2);
	T(r.err.status == 502);
	T_STREQ(r.err.type, "model_error");
	run_free(&r);
	req_del(req);
}

static void
test_suppression(void)
{
	const char *const *three =
	        CHUNKS(TC("{'index':0,'id':'a','function':{'name':'get','arguments':'{}'}}"),
	               TC("{'index':1,'id':'b','function':{'name':'put','arguments':'{}'}}"),
	               TC("{'index':2,'id':'c','function':{'name':'rm','arguments':'{}'}}"), F("tool_calls"));
	static const struct {
		const char *choice;
		int parallel;
		const char *names; /* the calls that become items */
	} cases[] = {
	        {"'none'", 1, ""},
	        {"{'type':'allowed_tools','tools':[{'type':'function','name':'get'}],'mode':'auto'}", 1,
	         "get"},
	        {"{'type':'allowed_tools','tools':[{'type':'function','name':'put'}],'mode':'required'}", 1,
	         "put"},
	        {"{'type':'allowed_tools','tools':[{'type':'function','name':'get'}],'mode':'none'}", 1, ""},
	        {"{'type':'function','name':'put'}", 1, "put"},
	        {"'auto'", 1, "get put"}, /* rm is not a declared tool */
	        {"'required'", 0, "get"}, /* parallel_tool_calls false: the first call only */
	};
	size_t i, j;
	struct run r;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct request *req = req_new(TOOLS_GP, cases[i].choice, cases[i].parallel, 0, -1);
		char names[64] = "";

		run(&r, req, three, 0, NULL);
		T(r.rc == 0);
		validate(r.events, r.resp, 1);
		for (j = 0; j < json_array_size(at(r.resp, "output")); j++) {
			const json_t *it = json_array_get(at(r.resp, "output"), j);
			size_t n = strlen(names);

			snprintf(names + n, sizeof names - n, "%s%s", n ? " " : "", str_at(it, "name"));
		}
		T_STREQ(names, cases[i].names);
		T(r.end == (cases[i].names[0] ? TURN_END_TOOL_CALLS : TURN_END_STOP));
		if (!cases[i].names[0])
			T(json_array_size(r.events) == 0);
		run_free(&r);
		req_del(req);
	}
}

static void
test_finish_reasons(void)
{
	struct request *req = req_new(TOOLS_GP, NULL, 1, 0, -1);
	struct run r;

	run(&r, req, CHUNKS(D("{'content':'Once upon'}"), F("length")), 0, NULL);
	T(r.end == TURN_END_LENGTH);
	validate(r.events, r.resp, 1);
	T_STREQ(str_at(r.resp, "output.0.status"), "incomplete");
	run_free(&r);

	run(&r, req, CHUNKS(D("{'content':'x'}"), F("content_filter")), 0, NULL);
	T(r.end == TURN_END_CONTENT_FILTER);
	run_free(&r);

	run(&r, req, CHUNKS(D("{'content':'x'}"), F("end_turn")), 0, NULL);
	T(r.end == TURN_END_STOP);
	T_STREQ(str_at(r.resp, "output.0.status"), "completed");
	run_free(&r);

	run(&r, req, CHUNKS(D("{'content':'x'}")), 0, NULL);
	T(r.end == TURN_END_NO_FINISH);
	run_free(&r);

	/* finish_reason "stop" with a call (Ollama does that): the call still counts. */
	run(&r, req, CHUNKS(TC("{'index':0,'id':'a','function':{'name':'get','arguments':'{}'}}"), F("stop")),
	    0, NULL);
	T(r.end == TURN_END_TOOL_CALLS);
	run_free(&r);

	/* Length while a call is open: the call is incomplete, the turn is LENGTH. */
	run(&r, req,
	    CHUNKS(TC("{'index':0,'id':'a','function':{'name':'get','arguments':'{'}}"), F("length")), 0,
	    NULL);
	T(r.end == TURN_END_LENGTH);
	T_STREQ(str_at(r.resp, "output.0.status"), "incomplete");
	run_free(&r);

	/* A call whose name never comes is dropped. */
	run(&r, req, CHUNKS(TC("{'index':0,'id':'a','function':{'arguments':'{}'}}"), F("tool_calls")), 0,
	    NULL);
	T(r.end == TURN_END_STOP);
	T(json_array_size(r.events) == 0);
	run_free(&r);
	req_del(req);
}

static void
test_usage(void)
{
	struct request *req = req_new(NULL, NULL, 1, 0, -1);
	struct run r;

	/* Usage on the finish chunk, then again (a running total) in a chunk without choices: the turn's
	 * last usage counts once, added to the usage of earlier turns. */
	run(&r, req,
	    CHUNKS(D("{'content':'x'}"),
	           "{'choices':[{'index':0,'delta':{},'finish_reason':'stop'}],"
	           "'usage':{'prompt_tokens':5,'completion_tokens':1,'total_tokens':6}}",
	           "{'usage':{'prompt_tokens':5,'completion_tokens':2,'completion_tokens_details':{'"
	           "reasoning_tokens':1}}}"),
	    0,
	    "{'input_tokens':100,'output_tokens':10,'total_tokens':110,'input_tokens_details':{'cached_"
	    "tokens':50},"
	    "'output_tokens_details':{'reasoning_tokens':4}}");
	T(r.rc == 0);
	T(json_eq(at(r.resp, "usage"), "{'input_tokens':105,'output_tokens':12,'total_tokens':117,"
	                               "'input_tokens_details':{'cached_tokens':50},"
	                               "'output_tokens_details':{'reasoning_tokens':5}}"));
	run_free(&r);

	/* choices null next to usage is a usage chunk too. */
	run(&r, req, CHUNKS("{'choices':null,'usage':{'prompt_tokens':1,'completion_tokens':1}}"), 0, NULL);
	T(r.rc == 0);
	T(int_at(r.resp, "usage.total_tokens") == 2);
	run_free(&r);

	/* Hostile counts neither go negative nor overflow. */
	run(&r, req,
	    CHUNKS("{'choices':[],'usage':{'prompt_tokens':-5,'completion_tokens':9223372036854775807}}"), 0,
	    NULL);
	T(r.rc == 0);
	T(int_at(r.resp, "usage.input_tokens") == 0);
	T(int_at(r.resp, "usage.output_tokens") == 0);
	run_free(&r);
	req_del(req);
}

static void
test_errors(void)
{
	static const struct {
		const char *chunk;
		const char *code;
	} cases[] = {
	        {"{'error':{'message':'overloaded','type':'server_error'}}", "upstream_error"},
	        {"{'object':'error','message':'bad','type':'BadRequestError','code':400}", "upstream_error"},
	        {"{'error':'plain string'}", "upstream_error"},
	        {"[1,2]", "upstream_malformed"},
	        {"'data'", "upstream_malformed"},
	        {"{'choices':'x'}", "upstream_malformed"},
	        {"{'id':'x'}", "upstream_malformed"},
	        {"{'choices':[42]}", "upstream_malformed"},
	        {D("{'content':5}"), "upstream_malformed"},
	        {D("'text'"), "upstream_malformed"},
	        {D("{'refusal':{}}"), "upstream_malformed"},
	        {D("{'tool_calls':{}}"), "upstream_malformed"},
	        {D("{'tool_calls':[7]}"), "upstream_malformed"},
	        {TC("{'index':0,'function':{'name':5}}"), "upstream_malformed"},
	        {TC("{'index':0,'function':'get'}"), "upstream_malformed"},
	        {TC("{'index':0,'function':{'name':'get','arguments':[1]}}"), "upstream_malformed"},
	};
	struct request *req = req_new(TOOLS_GP, NULL, 1, 0, -1);
	struct run r;
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		run(&r, req, CHUNKS(D("{'content':'ok'}"), cases[i].chunk), 0, NULL);
		if (r.rc != -1)
			printf("error case %zu did not fail\n", i);
		T(r.rc == -1 && r.failed_at == 1);
		T(r.err.status == 502);
		T_STREQ(r.err.type, "model_error");
		T_STREQ(r.err.code, cases[i].code);
		/* Aborted: the open message is incomplete with the text so far; no done events. */
		T_STREQ(types(r.events), "output_item.added content_part.added output_text.delta");
		T_STREQ(str_at(r.resp, "output.0.status"), "incomplete");
		T_STREQ(str_at(r.resp, "output.0.content.0.text"), "ok");
		run_free(&r);
	}
	run(&r, req, CHUNKS("{'error':{'message':'overloaded'}}"), 0, NULL);
	T(strstr(r.err.message, "overloaded") != NULL);
	run_free(&r);

	/* Abort with an open call: incomplete with its arguments so far. */
	run(&r, req,
	    CHUNKS(TC("{'index':0,'id':'a','function':{'name':'get','arguments':'{\\'a'}}"), "{'error':'x'}"),
	    0, NULL);
	T_STREQ(str_at(r.resp, "output.0.status"), "incomplete");
	T_STREQ(str_at(r.resp, "output.0.arguments"), "{\"a");
	run_free(&r);
	req_del(req);
}

static void
test_byte_cap(void)
{
	struct request *req = req_new(TOOLS_GP, NULL, 1, 0, -1);
	struct run r;

	run(&r, req, CHUNKS(D("{'content':'12345'}"), D("{'reasoning':'6789'}"), F("stop")), 10, NULL);
	T(r.rc == 0);
	run_free(&r);

	/* Text, reasoning, names and arguments share one budget over the turn. */
	run(&r, req,
	    CHUNKS(D("{'content':'12345'}"), D("{'reasoning':'67'}"),
	           TC("{'index':0,'id':'a','function':{'name':'get','arguments':'{}'}}")),
	    10, NULL);
	T(r.rc == -1);
	T(r.failed_at == 2);
	T_STREQ(r.err.code, "upstream_output_too_large");
	run_free(&r);

	/* One piece over the cap: nothing is emitted for it. */
	run(&r, req, CHUNKS(D("{'content':'12345678901'}")), 10, NULL);
	T(r.rc == -1);
	T(json_array_size(r.events) == 0);
	run_free(&r);
	req_del(req);
}

static void
test_logprobs(void)
{
	const char *const *chunks =
	        CHUNKS("{'choices':[{'index':0,'delta':{'content':'Hi'},'logprobs':{'content':[{'token':'Hi',"
	               "'logprob':-0.5,'bytes':[72,105],'top_logprobs':[{'token':'Hi','logprob':-0.5,'bytes':"
	               "[72,105]},"
	               "{'token':'Hey','logprob':-1.5,'bytes':null}]}]}}]}",
	               "{'choices':[{'index':0,'delta':{'content':'!'},'logprobs':{'content':[{'token':'!',"
	               "'logprob':-0.25,'bytes':[33],'top_logprobs':[]}]}}]}",
	               F("stop"));
	struct request *req = req_new(NULL, NULL, 1, REQUEST_INCLUDE_LOGPROBS, -1);
	struct run r;

	run(&r, req, chunks, 0, NULL);
	T(r.rc == 0);
	validate(r.events, r.resp, 1);
	T(json_eq(at(ev_at(&r, 2), "logprobs"),
	          "[{'token':'Hi','logprob':-0.5,'bytes':[72,105],'top_logprobs':["
	          "{'token':'Hi','logprob':-0.5,'bytes':[72,105]},{'token':'Hey','logprob':-1.5,'bytes':[]}]}"
	          "]"));
	T(json_eq(at(ev_at(&r, 3), "logprobs"),
	          "[{'token':'!','logprob':-0.25,'bytes':[33],'top_logprobs':[]}]"));
	T(json_array_size(at(r.resp, "output.0.content.0.logprobs")) == 2);
	T_STREQ(str_at(r.resp, "output.0.content.0.logprobs.1.token"), "!");
	T(json_array_size(at(ev_at(&r, 4), "logprobs")) == 2);
	run_free(&r);
	req_del(req);

	/* Not asked for: dropped, the arrays stay empty. */
	req = req_new(NULL, NULL, 1, 0, -1);
	run(&r, req, chunks, 0, NULL);
	T(json_eq(at(ev_at(&r, 2), "logprobs"), "[]"));
	T(json_eq(at(r.resp, "output.0.content.0.logprobs"), "[]"));
	run_free(&r);
	req_del(req);

	/* top_logprobs alone asks for them too. */
	req = req_new(NULL, NULL, 1, 0, 2);
	run(&r, req, chunks, 0, NULL);
	T(json_array_size(at(ev_at(&r, 2), "logprobs")) == 1);
	run_free(&r);
	req_del(req);
}

static void
test_other_choices_ignored(void)
{
	struct request *req = req_new(NULL, NULL, 1, 0, -1);
	struct run r;

	run(&r, req,
	    CHUNKS("{'choices':[{'index':1,'delta':{'content':'B'}},{'index':0,'delta':{'content':'A'}}]}",
	           "{'choices':[{'index':1,'delta':{},'finish_reason':'length'}]}", F("stop")),
	    0, NULL);
	T(r.rc == 0);
	T(r.end == TURN_END_STOP);
	T_STREQ(str_at(r.resp, "output.0.content.0.text"), "A");
	run_free(&r);
	req_del(req);
}

/* Mistral-style content parts: thinking then text. */
static void
test_content_parts(void)
{
	struct request *req = req_new(NULL, NULL, 1, 0, -1);
	struct run r;

	run(&r, req,
	    CHUNKS(D("{'content':[{'type':'thinking','thinking':[{'type':'text','text':'t1'}]}]}"),
	           D("{'content':[{'type':'text','text':'out'}]}"), F("stop")),
	    0, NULL);
	T(r.rc == 0);
	validate(r.events, r.resp, 1);
	T_STREQ(str_at(r.resp, "output.0.content.0.text"), "t1");
	T_STREQ(str_at(r.resp, "output.1.content.0.text"), "out");
	run_free(&r);
	req_del(req);
}

static void
test_completion(void)
{
	struct request *req = req_new(TOOLS_GP, NULL, 1, 0, -1);
	json_t *resp = resp_new(NULL), *events = json_array();
	json_t *c =
	        q("{'id':'x','object':'chat.completion','choices':[{'index':0,'message':{'role':'assistant',"
	          "'reasoning_content':'hmm','content':'Calling.','tool_calls':["
	          "{'id':'a','type':'function','function':{'name':'get','arguments':'{}'}},"
	          "{'id':'b','type':'function','function':{'name':'put','arguments':'{\\'v\\':1}'}}]},"
	          "'finish_reason':'tool_calls'}],'usage':{'prompt_tokens':3,'completion_tokens':4,'total_"
	          "tokens':7}}");
	struct turn *t = turn_new(resp, req, 0, on_event, events);
	struct api_error err;
	enum turn_end end;

	T(turn_feed_completion(t, c, &err) == 0);
	turn_finish(t, &end);
	T(end == TURN_END_TOOL_CALLS);
	T_STREQ(types(events), "output_item.added content_part.added reasoning.delta reasoning.done "
	                       "content_part.done output_item.done output_item.added content_part.added "
	                       "output_text.delta output_text.done content_part.done output_item.done "
	                       "output_item.added function_call_arguments.delta output_item.added "
	                       "function_call_arguments.delta function_call_arguments.done output_item.done "
	                       "function_call_arguments.done output_item.done");
	validate(events, resp, 1);
	T(json_array_size(at(resp, "output")) == 4);
	T_STREQ(str_at(resp, "output.0.content.0.text"), "hmm");
	T_STREQ(str_at(resp, "output.1.content.0.text"), "Calling.");
	T_STREQ(str_at(resp, "output.2.call_id"), "a");
	T_STREQ(str_at(resp, "output.3.arguments"), "{\"v\":1}");
	T(int_at(resp, "usage.total_tokens") == 7);
	turn_free(t);
	json_decref(c);
	json_decref(resp);
	json_decref(events);

	/* emit NULL (non-streaming), message.reasoning, finish length: the last item is incomplete. */
	resp = resp_new(NULL);
	c = q("{'choices':[{'message':{'reasoning':'r','content':'long'},'finish_reason':'length'}]}");
	t = turn_new(resp, req, 0, NULL, NULL);
	T(turn_feed_completion(t, c, &err) == 0);
	turn_finish(t, &end);
	T(end == TURN_END_LENGTH);
	T_STREQ(str_at(resp, "output.0.content.0.text"), "r");
	T_STREQ(str_at(resp, "output.0.status"), "completed");
	T_STREQ(str_at(resp, "output.1.content.0.text"), "long");
	T_STREQ(str_at(resp, "output.1.status"), "incomplete");
	turn_free(t);
	json_decref(c);
	json_decref(resp);

	/* An error body. */
	resp = resp_new(NULL);
	c = q("{'error':{'message':'model not found'}}");
	t = turn_new(resp, req, 0, NULL, NULL);
	T(turn_feed_completion(t, c, &err) == -1);
	T(err.status == 502);
	turn_free(t);
	json_decref(c);
	json_decref(resp);
	req_del(req);
}

/* Too many distinct calls in one turn. */
static void
test_call_cap(void)
{
	struct request *req = req_new(TOOLS_GP, NULL, 1, 0, -1);
	static char bufs[200][256];
	const char *chunks[201];
	struct run r;
	int i;

	for (i = 0; i < 200; i++) {
		snprintf(bufs[i], sizeof bufs[i], TC("{'index':%d,'id':'c%d','function':{'name':'get'}}"), i,
		         i);
		chunks[i] = bufs[i];
	}
	chunks[200] = NULL;
	run(&r, req, chunks, 0, NULL);
	T(r.rc == -1);
	T(r.failed_at == 128);
	T(json_array_size(at(r.resp, "output")) == 128);
	run_free(&r);
	req_del(req);
}

/* With the real request and response objects. */
static void
test_real_objects(void)
{
	static const char body[] = "{\"model\":\"m\",\"input\":\"hi\",\"tools\":[{\"type\":\"function\","
	                           "\"name\":\"get\"}],\"parallel_tool_calls\":false}";
	struct api_error err;
	struct request *req = request_parse(body, sizeof body - 1, &err);
	json_t *resp, *events = json_array(), *c;
	struct turn *t;
	enum turn_end end;
	size_t i;
	const char *const *chunks =
	        CHUNKS(D("{'content':'On it.'}"),
	               TC("{'index':0,'id':'a','function':{'name':'get','arguments':'{}'}}"),
	               TC("{'index':1,'id':'b','function':{'name':'get','arguments':'{}'}}"), F("tool_calls"),
	               "{'choices':[],'usage':{'prompt_tokens':4,'completion_tokens':6,'total_tokens':10}}");

	T(req != NULL);
	if (req == NULL) {
		json_decref(events);
		return;
	}
	resp = response_new(req, "resp_1", 1);
	t = turn_new(resp, req, 1 << 20, on_event, events);
	for (i = 0; chunks[i]; i++) {
		c = q(chunks[i]);
		T(turn_feed(t, c, &err) == 0);
		json_decref(c);
	}
	turn_finish(t, &end);
	turn_free(t);
	T(end == TURN_END_TOOL_CALLS);
	validate(events, resp, 1);
	T(json_array_size(at(resp, "output")) == 2); /* parallel_tool_calls false: one call */
	T_STREQ(str_at(resp, "output.1.call_id"), "a");
	T(int_at(resp, "usage.total_tokens") == 10);
	T(int_at(resp, "usage.input_tokens_details.cached_tokens") == 0);
	json_decref(resp);
	json_decref(events);
	request_free(req);
}

/* A non-streaming turn builds no events, yet must end with exactly the response a streaming one does
 * (item ids are random, so they are blanked before comparing). */
static void
blank_ids(json_t *resp)
{
	json_t *it;
	size_t i;

	json_array_foreach (json_object_get(resp, "output"), i, it)
		json_object_set_new(it, "id", json_string("x"));
}

static void
test_quiet_turn_same_response(void)
{
	const char *const *const sequences[] = {
	        CHUNKS(D("{'reasoning_content':'Think'}"), D("{'content':'Hi'}"), D("{'content':'!'}"),
	               F("stop")),
	        CHUNKS(D("{'refusal':'No'}"), D("{'refusal':'pe'}"), F("stop")),
	        CHUNKS("{'choices':[{'index':0,'delta':{'content':'Hi'},'logprobs':{'content':[{'token':'Hi',"
	               "'logprob':-0.5,'bytes':[72,105],'top_logprobs':[]}]}}]}",
	               F("length")),
	        CHUNKS(TC("{'index':0,'id':'call_a','function':{'name':'get','arguments':'{\\'a'}}"),
	               TC("{'index':1,'id':'call_b','function':{'name':'put','arguments':'{}'}}"),
	               TC("{'index':0,'function':{'arguments':'\\':1}'}}"), F("tool_calls")),
	};
	struct request *req = req_new(TOOLS_GP, NULL, 1,
	                              REQUEST_INCLUDE_LOGPROBS | REQUEST_INCLUDE_REASONING_ENCRYPTED, -1);
	size_t i;

	for (i = 0; i < sizeof sequences / sizeof sequences[0]; i++) {
		struct run loud, quiet;

		run(&loud, req, sequences[i], 0, NULL);
		run_with(&quiet, req, sequences[i], 0, NULL, 0);
		T(loud.rc == 0 && quiet.rc == 0);
		T(loud.end == quiet.end);
		T(json_array_size(loud.events) > 0);
		T(json_array_size(quiet.events) == 0);
		T(json_array_size(json_object_get(loud.resp, "output")) > 0);
		blank_ids(loud.resp);
		blank_ids(quiet.resp);
		T(json_equal(loud.resp, quiet.resp));
		run_free(&loud);
		run_free(&quiet);
	}
	req_del(req);
}

/* include: reasoning.encrypted_content gives each reasoning item an opaque token of its text. */
static void
test_encrypted_reasoning(void)
{
	struct request *req = req_new(NULL, NULL, 1, REQUEST_INCLUDE_REASONING_ENCRYPTED, -1);
	struct run r;

	run(&r, req,
	    CHUNKS(D("{'reasoning_content':'Thi'}"), D("{'reasoning_content':'nk'}"), D("{'content':'A'}"),
	           F("stop")),
	    0, NULL);
	T(r.rc == 0);
	validate(r.events, r.resp, 1);
	/* base64("Think") == "VGhpbms=" */
	T_STREQ(str_at(r.resp, "output.0.encrypted_content"), "thr1.VGhpbms=");
	T(at(r.resp, "output.1.encrypted_content") == NULL); /* messages never get one */
	run_free(&r);
	req_del(req);
}

/* The classifier of requests with MCP tools: 'ask' needs approval, 'calc' runs, 'get' is a
 * function, anything else is refused. */
static enum turn_call_kind
classify(void *ud, const char *name, struct turn_mcp_target *target)
{
	(void)ud;
	target->server_label = "srv";
	target->name = name;
	if (strcmp(name, "calc") == 0)
		return TURN_CALL_MCP;
	if (strcmp(name, "ask") == 0)
		return TURN_CALL_MCP_APPROVAL;
	if (strcmp(name, "get") == 0)
		return TURN_CALL_FUNCTION;
	return TURN_CALL_REFUSED;
}

static void
test_mcp_classifier(void)
{
	struct request *req = req_new(TOOLS_GP, NULL, 1, 0, 0);
	json_t *resp = resp_new(NULL), *events = json_array(), *ev, *out;
	struct turn *t = turn_new(resp, req, 0, on_event, events);
	const char *const *c;
	const struct turn_mcp_item *m;
	const json_t *refused;
	struct api_error err;
	enum turn_end end;
	size_t i, n_added = 0, n_done = 0, n_mcp_delta = 0, n_fc_delta = 0, n_in_progress = 0,
	          n_args_done = 0;

	turn_set_classifier(t, classify, NULL);
	for (c = CHUNKS(TC("{'index':0,'id':'a','function':{'name':'calc','arguments':'{\\'x\\''}}"),
	                TC("{'index':1,'id':'b','function':{'name':'ask','arguments':'{}'}}"),
	                TC("{'index':2,'id':'c','function':{'name':'nope','arguments':'{\\'q\\':'}}"),
	                TC("{'index':2,'function':{'arguments':'1}'}}"),
	                TC("{'index':3,'id':'d','function':{'name':'get','arguments':'{}'}}"),
	                TC("{'index':0,'function':{'arguments':':1}'}}"), F("tool_calls"));
	     *c; c++) {
		json_t *chunk = q(*c);

		T(turn_feed(t, chunk, &err) == 0);
		json_decref(chunk);
	}
	turn_finish(t, &end);
	T(end == TURN_END_TOOL_CALLS);
	out = json_object_get(resp, "output");
	T(json_array_size(out) == 3);
	{
		json_t *copy = json_deep_copy(json_array_get(out, 0));

		json_object_del(copy, "id");
		T(json_eq(copy,
		          "{'type':'mcp_call','server_label':'srv','name':'calc','arguments':'{\\'x\\':1}',"
		          "'output':null,'error':null,'approval_request_id':null,'status':'in_progress'}"));
		json_decref(copy);
	}
	T_STREQ(json_string_value(json_object_get(json_array_get(out, 0), "type")), "mcp_call");
	T_STREQ(json_string_value(json_object_get(json_array_get(out, 0), "arguments")), "{\"x\":1}");
	T_STREQ(json_string_value(json_object_get(json_array_get(out, 0), "status")), "in_progress");
	T(json_is_null(json_object_get(json_array_get(out, 0), "output")));
	T(has_prefix(json_string_value(json_object_get(json_array_get(out, 0), "id")), "mcp_"));
	T_STREQ(json_string_value(json_object_get(json_array_get(out, 1), "type")), "mcp_approval_request");
	T(has_prefix(json_string_value(json_object_get(json_array_get(out, 1), "id")), "mcpr_"));
	T_STREQ(json_string_value(json_object_get(json_array_get(out, 1), "arguments")), "{}");
	T(json_object_get(json_array_get(out, 1), "status") == NULL);
	T_STREQ(json_string_value(json_object_get(json_array_get(out, 2), "type")), "function_call");

	T(turn_mcp_count(t) == 2);
	m = turn_mcp_at(t, 0);
	T(m && !m->approval && m->output_index == 0 && m->item == json_array_get(out, 0));
	m = turn_mcp_at(t, 1);
	T(m && m->approval && m->output_index == 1);
	T(turn_mcp_at(t, 2) == NULL);
	refused = turn_refused(t);
	T(json_array_size(refused) == 1);
	T(json_eq(json_array_get(refused, 0), "{'call_id':'c','name':'nope','arguments':'{\\'q\\':1}'}"));

	json_array_foreach (events, i, ev) {
		const char *type = json_string_value(json_object_get(ev, "type"));
		const char *item_type =
		        json_string_value(json_object_get(json_object_get(ev, "item"), "type"));

		if (strcmp(type, "response.output_item.added") == 0)
			n_added++;
		else if (strcmp(type, "response.output_item.done") == 0) {
			n_done++;
			/* The mcp_call is still to run: only the approval request and the function end. */
			T(item_type && strcmp(item_type, "mcp_call") != 0);
		} else if (strcmp(type, "response.mcp_call_arguments.delta") == 0) {
			n_mcp_delta++;
			T(json_integer_value(json_object_get(ev, "output_index")) == 0);
			T(json_object_get(ev, "item_id") != NULL);
		} else if (strcmp(type, "response.function_call_arguments.delta") == 0) {
			n_fc_delta++;
			T(json_integer_value(json_object_get(ev, "output_index")) == 2);
		} else if (strcmp(type, "response.mcp_call.in_progress") == 0) {
			n_in_progress++;
		} else if (strcmp(type, "response.mcp_call_arguments.done") == 0) {
			n_args_done++;
			T_STREQ(json_string_value(json_object_get(ev, "arguments")), "{\"x\":1}");
		}
		/* Nothing is said about the refused call. */
		T(item_type == NULL || strcmp(item_type, "function_call") != 0 ||
		  strcmp(json_string_value(json_object_get(json_object_get(ev, "item"), "name")), "nope") !=
		          0);
	}
	T(n_added == 3);
	T(n_done == 2);
	T(n_mcp_delta == 2);
	T(n_fc_delta == 1);
	T(n_in_progress == 1);
	T(n_args_done == 1);
	turn_free(t);
	json_decref(resp);
	json_decref(events);
	req_del(req);
}

/* Without a classifier a call outside the request is dropped silently, as before MCP. */
static void
test_no_classifier_no_refusals(void)
{
	struct request *req = req_new(TOOLS_GP, NULL, 1, 0, 0);
	struct run r;

	run(&r, req,
	    CHUNKS(TC("{'index':0,'id':'c','function':{'name':'nope','arguments':'{}'}}"), F("tool_calls")),
	    0, NULL);
	T(json_array_size(json_object_get(r.resp, "output")) == 0);
	run_free(&r);
	req_del(req);
}

int
main(void)
{
	test_text();
	test_reasoning_then_text();
	test_encrypted_reasoning();
	test_quiet_turn_same_response();
	test_refusal();
	test_parallel_calls();
	test_suppression();
	test_finish_reasons();
	test_usage();
	test_errors();
	test_byte_cap();
	test_logprobs();
	test_other_choices_ignored();
	test_content_parts();
	test_completion();
	test_call_cap();
	test_real_objects();
	test_mcp_classifier();
	test_no_classifier_no_refusals();
	return T_DONE();
}
