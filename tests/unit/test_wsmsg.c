/*
 * test_wsmsg: every result kind of wsmsg_parse (Codex's and openai-node's creates, steer,
 * processed, unknown types, bad JSON, deep and oversize input), each create body checked to go
 * through request_parse, and the envelopes field by field against WEBSOCKET-NOTES.md §2/§3.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/apierr.h"
#include "api/request.h"
#include "api/wsmsg.h"
#include "tests/unit/t.h"

static int
parse(const char *s, struct wsmsg *m)
{
	return wsmsg_parse(s, strlen(s), 1 << 20, m);
}

static int
dropped_has(const struct wsmsg *m, const char *name)
{
	json_t *v;
	size_t i;

	json_array_foreach (m->dropped, i, v)
		if (strcmp(json_string_value(v), name) == 0)
			return 1;
	return 0;
}

static const char *
sget(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static void
test_codex_create(void)
{
	struct wsmsg m;
	struct api_error e;
	struct request *r;
	json_t *b;

	T(parse("{\"type\":\"response.create\",\"model\":\"m\",\"input\":\"hi\",\"stream\":true,"
	        "\"store\":false,\"client_metadata\":{\"a\":\"b\"},\"prompt_cache_key\":\"k\","
	        "\"include\":[\"reasoning.encrypted_content\"],\"generate\":false,"
	        "\"stream_options\":{\"include_obfuscation\":false},\"background\":true}",
	        &m) == 0);
	T(m.kind == WSMSG_CREATE);
	T(m.warmup == 1);
	T(m.stream_id == NULL);
	T(json_array_size(m.dropped) == 1 && dropped_has(&m, "client_metadata"));
	b = json_loads(m.body, 0, NULL);
	T(json_object_get(b, "type") == NULL && json_object_get(b, "generate") == NULL);
	T(json_object_get(b, "stream_options") == NULL && json_object_get(b, "background") == NULL);
	T(json_is_true(json_object_get(b, "stream")));
	T_STREQ(sget(b, "prompt_cache_key"), "k");
	json_decref(b);
	r = request_parse(m.body, m.body_len, &e);
	T(r != NULL && r->stream == 1 && r->background == 0 && r->store == 0);
	T(r != NULL && (r->include & REQUEST_INCLUDE_REASONING_ENCRYPTED));
	request_free(r);
	wsmsg_clear(&m);

	T(parse("{\"type\":\"response.create\",\"model\":\"m\",\"input\":\"hi\",\"generate\":true}", &m) ==
	  0);
	T(m.kind == WSMSG_CREATE && m.warmup == 0 && json_array_size(m.dropped) == 0);
	wsmsg_clear(&m);
	T(parse("{\"type\":\"response.create\",\"model\":\"m\",\"input\":\"hi\"}", &m) == 0);
	T(m.kind == WSMSG_CREATE && m.warmup == 0);
	wsmsg_clear(&m);
}

static void
test_node_create(void)
{
	struct wsmsg m;
	struct api_error e;
	struct request *r;

	T(parse("{\"type\":\"response.create\",\"model\":\"m\",\"input\":\"hi\",\"stream_id\":\"lane-1\","
	        "\"context_management\":[{\"type\":\"compaction\"}],\"moderation\":{\"x\":1},"
	        "\"prompt_cache_options\":{},\"access_programs\":[]}",
	        &m) == 0);
	T(m.kind == WSMSG_CREATE);
	T_STREQ(m.stream_id, "lane-1");
	T(json_array_size(m.dropped) == 4 && dropped_has(&m, "context_management") &&
	  dropped_has(&m, "moderation") && dropped_has(&m, "prompt_cache_options") &&
	  dropped_has(&m, "access_programs"));
	T(strstr(m.body, "stream_id") == NULL);
	r = request_parse(m.body, m.body_len, &e);
	T(r != NULL);
	request_free(r);
	wsmsg_clear(&m);
}

static void
test_request_is_field(void)
{
	T(request_is_field("model") && request_is_field("previous_response_id") && request_is_field("user"));
	T(!request_is_field("client_metadata") && !request_is_field("generate") && !request_is_field(""));
	T(!request_is_field(NULL));
}

static const struct {
	const char *msg;
	int status;
	const char *code, *param, *stream_id;
} bad[] = {
        {"{\"type\":", 400, "invalid_json", NULL, NULL},
        {"not json", 400, "invalid_json", NULL, NULL},
        {"[1,2]", 400, "invalid_type", NULL, NULL},
        {"\"response.create\"", 400, "invalid_type", NULL, NULL},
        {"{}", 400, "missing_required_parameter", "type", NULL},
        {"{\"type\":7}", 400, "invalid_type", "type", NULL},
        {"{\"type\":\"response.append\",\"stream_id\":\"s9\"}", 400, "unknown_event_type", "type", "s9"},
        {"{\"type\":\"response.cancel\"}", 400, "unknown_event_type", "type", NULL},
        {"{\"type\":\"response.create\",\"generate\":\"no\",\"stream_id\":\"s1\"}", 400, "invalid_type",
         "generate", "s1"},
        {"{\"type\":\"response.create\",\"stream_id\":5}", 400, "invalid_value", "stream_id", NULL},
        {"{\"type\":\"a\",\"type\":\"b\"}", 400, "invalid_json", NULL, NULL},
};

static void
test_bad(void)
{
	struct wsmsg m;
	char big[400];
	size_t i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		T(parse(bad[i].msg, &m) == -1);
		T(m.kind == WSMSG_ERROR && m.err.status == bad[i].status);
		T_STREQ(m.err.code, bad[i].code);
		T_STREQ(m.err.param, bad[i].param ? bad[i].param : "");
		T(bad[i].stream_id ? (m.stream_id && strcmp(m.stream_id, bad[i].stream_id) == 0)
		                   : m.stream_id == NULL);
		wsmsg_clear(&m);
	}
	/* NUL inside the message, and a stream_id over 256 bytes. */
	T(wsmsg_parse("{\"type\":\"x\"}\0", 13, 0, &m) == -1);
	T_STREQ(m.err.code, "invalid_json");
	wsmsg_clear(&m);
	snprintf(big, sizeof big, "{\"type\":\"response.create\",\"stream_id\":\"%0300d\"}", 0);
	T(parse(big, &m) == -1);
	T_STREQ(m.err.param, "stream_id");
	wsmsg_clear(&m);
	T(wsmsg_parse(NULL, 0, 0, &m) == -1);
	T_STREQ(m.err.code, "invalid_json");
	wsmsg_clear(&m);
}

static void
test_huge_deep(void)
{
	struct wsmsg m;
	size_t n = 100000, i;
	char *s = malloc(2 * n + 1);

	/* Past jansson's depth limit: an error, not a stack overflow. */
	for (i = 0; i < n; i++) {
		s[i] = '[';
		s[n + i] = ']';
	}
	s[2 * n] = '\0';
	T(wsmsg_parse(s, 2 * n, 0, &m) == -1);
	T_STREQ(m.err.code, "invalid_json");
	wsmsg_clear(&m);
	/* Over the cap: 413 before any parsing. */
	T(wsmsg_parse(s, 2 * n, 1000, &m) == -1);
	T(m.err.status == 413);
	T_STREQ(m.err.code, "request_too_large");
	wsmsg_clear(&m);
	free(s);
}

static void
test_steer_processed(void)
{
	struct wsmsg m;
	json_t *ev, *st, *er;

	T(parse("{\"type\":\"response.steer\",\"previous_response_id\":\"resp_1\",\"input\":[{\"x\":1}],"
	        "\"stream_id\":\"s2\"}",
	        &m) == 0);
	T(m.kind == WSMSG_STEER);
	ev = wsmsg_steer_refusal(m.steer, 7, m.stream_id);
	T_STREQ(sget(ev, "type"), "response.steer.failed");
	T(json_integer_value(json_object_get(ev, "sequence_number")) == 7);
	T_STREQ(sget(ev, "stream_id"), "s2");
	st = json_object_get(ev, "steer");
	T_STREQ(sget(st, "previous_response_id"), "resp_1");
	T(json_is_array(json_object_get(st, "input")));
	er = json_object_get(ev, "error");
	T_STREQ(sget(er, "type"), "invalid_request_error");
	T_STREQ(sget(er, "code"), "steering_not_supported");
	T(json_is_string(json_object_get(er, "message")));
	json_decref(ev);
	wsmsg_clear(&m);

	T(parse("{\"type\":\"response.processed\",\"response_id\":\"resp_2\"}", &m) == 0);
	T(m.kind == WSMSG_PROCESSED);
	T_STREQ(m.response_id, "resp_2");
	wsmsg_clear(&m);
}

/* Compares an envelope with the notes' example, parsed, field by field. */
static int
same(json_t *got, const char *want)
{
	json_t *w = json_loads(want, 0, NULL);
	int eq = w != NULL && json_equal(got, w);

	if (!eq) {
		char *s = json_dumps(got, JSON_SORT_KEYS);
		printf("got %s\n", s);
		free(s);
	}
	json_decref(w);
	json_decref(got);
	return eq;
}

static void
test_envelopes(void)
{
	struct api_error e;

	T(same(wsmsg_connection_limit(NULL),
	       "{\"type\":\"error\",\"status\":400,\"error\":{\"type\":\"invalid_request_error\",\"code\":"
	       "\"websocket_connection_limit_reached\",\"message\":\"Responses websocket connection limit "
	       "reached (60 minutes). Create a new websocket connection to continue.\",\"param\":null}}"));
	T(same(wsmsg_previous_not_found("resp_abc", "s3"),
	       "{\"type\":\"error\",\"status\":400,\"stream_id\":\"s3\",\"error\":{\"type\":"
	       "\"invalid_request_error\",\"code\":\"previous_response_not_found\",\"message\":\"Previous "
	       "response with id 'resp_abc' not found.\",\"param\":\"previous_response_id\"}}"));
	api_error_set(&e, 500, "server_error", NULL, NULL, "boom");
	T(same(wsmsg_error_envelope(&e, NULL),
	       "{\"type\":\"error\",\"status\":500,\"error\":{\"type\":\"server_error\",\"code\":"
	       "\"server_error\",\"message\":\"boom\",\"param\":null}}"));
	{
		json_t *j = wsmsg_binary_frame();
		T(json_integer_value(json_object_get(j, "status")) == 400);
		T_STREQ(sget(json_object_get(j, "error"), "code"), "binary_frame_not_supported");
		json_decref(j);
		j = wsmsg_too_large(32);
		T(json_integer_value(json_object_get(j, "status")) == 413);
		T_STREQ(sget(json_object_get(j, "error"), "code"), "request_too_large");
		json_decref(j);
		j = wsmsg_too_many_requests("s4");
		T(json_integer_value(json_object_get(j, "status")) == 429);
		T_STREQ(sget(json_object_get(j, "error"), "code"), "too_many_requests");
		T_STREQ(sget(j, "stream_id"), "s4");
		json_decref(j);
	}
}

int
main(void)
{
	test_request_is_field();
	test_codex_create();
	test_node_create();
	test_bad();
	test_huge_deep();
	test_steer_processed();
	test_envelopes();
	return T_DONE();
}
