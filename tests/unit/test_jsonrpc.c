/*
 * Unit tests for mcpclient/jsonrpc.c. The parser is checked against a table of texts: each run records
 * every message the callback saw as one line, and the lines and the return value must match the table;
 * every message must also satisfy the shape promised by jsonrpc.h. The builders' texts are parsed back
 * with jansson and compared field by field with the expected object.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "daemon/buf.h"
#include "mcpclient/jsonrpc.h"
#include "tests/unit/t.h"

struct rec {
	struct buf out;
	int calls;
	int bad;     /* a message broke the shape jsonrpc.h promises */
	int stop_at; /* return stop_val from this call (1-based); 0: never */
	int stop_val;
};

static void
append_json(struct buf *b, const char *tag, json_t *v)
{
	char *s;

	if (!v) {
		buf_printf(b, " %s=-", tag);
		return;
	}
	s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	buf_printf(b, " %s=%s", tag, s ? s : "(undumpable)");
	free(s);
}

/* One record per message: "<kind> id=<json> int=<id_int|-> m=<method> p=<json> r=<json> e=<code:msg>;" */
static int
on_msg(void *ud, const struct jsonrpc_msg *m)
{
	struct rec *r = ud;
	static const char *const kinds[] = {"?", "RESP", "REQ", "NOTE"};

	r->calls++;
	if (m->kind < JSONRPC_RESPONSE || m->kind > JSONRPC_NOTIFICATION) {
		r->bad++;
		return 0;
	}
	/* The shape of each kind, as jsonrpc.h describes it. */
	if (m->id_is_int != (m->id && json_is_integer(m->id)))
		r->bad++;
	if (m->id_is_int && m->id_int != json_integer_value(m->id))
		r->bad++;
	switch (m->kind) {
	case JSONRPC_NOTIFICATION:
		if (m->id || !m->method || m->result || m->error)
			r->bad++;
		break;
	case JSONRPC_REQUEST:
		if (!m->id || json_is_null(m->id) || !m->method || m->result || m->error)
			r->bad++;
		break;
	case JSONRPC_RESPONSE:
		if (!m->id || m->method || !m->result == !m->error || (m->error && !m->error_message))
			r->bad++;
		if (m->result && json_is_null(m->id))
			r->bad++;
		break;
	}
	buf_printf(&r->out, "%s", kinds[m->kind]);
	append_json(&r->out, "id", m->id);
	if (m->id_is_int)
		buf_printf(&r->out, " int=%lld", (long long)m->id_int);
	else
		buf_appends(&r->out, " int=-");
	buf_printf(&r->out, " m=%s", m->method ? m->method : "-");
	append_json(&r->out, "p", m->params);
	append_json(&r->out, "r", m->result);
	if (m->error)
		buf_printf(&r->out, " e=%d:%s", m->error_code,
		           m->error_message ? m->error_message : "(null)");
	else
		buf_appends(&r->out, " e=-");
	buf_appends(&r->out, ";");
	if (r->stop_at && r->calls == r->stop_at)
		return r->stop_val;
	return 0;
}

struct parse_case {
	const char *name;
	const char *in;
	int rc;
	const char *msgs; /* the records, in order */
};

#define REQ1    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}"
#define NOTE1   "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progress\":1}}"
#define RESP1   "{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"result\":{}}"
#define REQ1_R  "REQ id=1 int=1 m=ping p=- r=- e=-;"
#define NOTE1_R "NOTE id=- int=- m=notifications/progress p={\"progress\":1} r=- e=-;"
#define RESP1_R "RESP id=\"a\" int=- m=- p=- r={} e=-;"

static const struct parse_case parse_cases[] = {
        /* Responses. */
        {"result", "{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"tools\":[]}}", 0,
         "RESP id=7 int=7 m=- p=- r={\"tools\":[]} e=-;"},
        {"result before jsonrpc", "{\"result\":{\"x\":1},\"id\":8,\"jsonrpc\":\"2.0\"}", 0,
         "RESP id=8 int=8 m=- p=- r={\"x\":1} e=-;"},
        {"error",
         "{\"jsonrpc\":\"2.0\",\"id\":3,\"error\":{\"code\":-32601,\"message\":\"Method not found\"}}", 0,
         "RESP id=3 int=3 m=- p=- r=- e=-32601:Method not found;"},
        {"error with data",
         "{\"jsonrpc\":\"2.0\",\"id\":3,\"error\":{\"code\":-32602,\"message\":\"m\",\"data\":[1]}}", 0,
         "RESP id=3 int=3 m=- p=- r=- e=-32602:m;"},
        {"error without message", "{\"jsonrpc\":\"2.0\",\"id\":4,\"error\":{\"code\":-32000}}", 0,
         "RESP id=4 int=4 m=- p=- r=- e=-32000:;"},
        {"error message not a string", "{\"jsonrpc\":\"2.0\",\"id\":4,\"error\":{\"code\":1,\"message\":5}}",
         0, "RESP id=4 int=4 m=- p=- r=- e=1:;"},
        {"error without code", "{\"jsonrpc\":\"2.0\",\"id\":4,\"error\":{\"message\":\"x\"}}", 0,
         "RESP id=4 int=4 m=- p=- r=- e=0:x;"},
        {"error with id null",
         "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32700,\"message\":\"Parse error\"}}", 0,
         "RESP id=null int=- m=- p=- r=- e=-32700:Parse error;"},
        {"string id result", "{\"jsonrpc\":\"2.0\",\"id\":\"req-1\",\"result\":{}}", 0,
         "RESP id=\"req-1\" int=- m=- p=- r={} e=-;"},
        {"numeric string id is a string", "{\"jsonrpc\":\"2.0\",\"id\":\"5\",\"result\":{}}", 0,
         "RESP id=\"5\" int=- m=- p=- r={} e=-;"},
        {"large id", "{\"jsonrpc\":\"2.0\",\"id\":9007199254740993,\"result\":{}}", 0,
         "RESP id=9007199254740993 int=9007199254740993 m=- p=- r={} e=-;"},
        {"negative id", "{\"jsonrpc\":\"2.0\",\"id\":-2,\"result\":{}}", 0,
         "RESP id=-2 int=-2 m=- p=- r={} e=-;"},
        /* Requests: a server's first request id is 0. */
        {"request id 0", "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"ping\"}", 0,
         "REQ id=0 int=0 m=ping p=- r=- e=-;"},
        {"request string id", "{\"jsonrpc\":\"2.0\",\"id\":\"s1\",\"method\":\"roots/list\",\"params\":{}}",
         0, "REQ id=\"s1\" int=- m=roots/list p={} r=- e=-;"},
        {"request empty string id", "{\"jsonrpc\":\"2.0\",\"id\":\"\",\"method\":\"ping\"}", 0,
         "REQ id=\"\" int=- m=ping p=- r=- e=-;"},
        {"request array params", "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"x\",\"params\":[1,2]}", 0,
         "REQ id=2 int=2 m=x p=[1,2] r=- e=-;"},
        /* Notifications. */
        {"notification", NOTE1, 0, NOTE1_R},
        {"notification without params",
         "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/tools/list_changed\"}", 0,
         "NOTE id=- int=- m=notifications/tools/list_changed p=- r=- e=-;"},
        /* Batches: each element in order. */
        {"batch", "[" REQ1 "," NOTE1 "," RESP1 "]", 0, REQ1_R NOTE1_R RESP1_R},
        {"batch of one", "[" RESP1 "]", 0, RESP1_R},
        {"empty batch", "[]", -1, ""},
        {"batch bad middle", "[" REQ1 ",{\"jsonrpc\":\"1.0\",\"id\":1,\"result\":{}}," RESP1 "]", -1, REQ1_R},
        {"batch bad first", "[5," REQ1 "]", -1, ""},
        {"batch bad last", "[" REQ1 "," RESP1 ",\"x\"]", -1, REQ1_R RESP1_R},
        {"nested batch", "[[" REQ1 "]]", -1, ""},
        /* Not JSON-RPC at all. */
        {"empty text", "", -1, ""},
        {"not json", "hello", -1, ""},
        {"truncated json", "{\"jsonrpc\":\"2.0\",\"id\":1,", -1, ""},
        {"trailing garbage", REQ1 "x", -1, ""},
        {"two messages", REQ1 REQ1, -1, ""},
        {"top-level string", "\"x\"", -1, ""},
        {"top-level number", "1", -1, ""},
        {"top-level null", "null", -1, ""},
        {"missing jsonrpc", "{\"id\":1,\"method\":\"ping\"}", -1, ""},
        {"jsonrpc 1.0", "{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"ping\"}", -1, ""},
        {"jsonrpc number", "{\"jsonrpc\":2.0,\"id\":1,\"method\":\"ping\"}", -1, ""},
        {"jsonrpc 2.0 with suffix", "{\"jsonrpc\":\"2.0 \",\"id\":1,\"method\":\"ping\"}", -1, ""},
        {"id float", "{\"jsonrpc\":\"2.0\",\"id\":1.0,\"result\":{}}", -1, ""},
        {"id exponent", "{\"jsonrpc\":\"2.0\",\"id\":1e2,\"method\":\"ping\"}", -1, ""},
        {"id object", "{\"jsonrpc\":\"2.0\",\"id\":{},\"result\":{}}", -1, ""},
        {"id array", "{\"jsonrpc\":\"2.0\",\"id\":[1],\"method\":\"ping\"}", -1, ""},
        {"id true", "{\"jsonrpc\":\"2.0\",\"id\":true,\"result\":{}}", -1, ""},
        {"id false request", "{\"jsonrpc\":\"2.0\",\"id\":false,\"method\":\"ping\"}", -1, ""},
        {"method number", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":1}", -1, ""},
        {"method null", "{\"jsonrpc\":\"2.0\",\"method\":null}", -1, ""},
        {"params string", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"x\",\"params\":\"p\"}", -1, ""},
        {"params number in notification", "{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"params\":3}", -1, ""},
        {"result and error",
         "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{},\"error\":{\"code\":1,\"message\":\"m\"}}", -1, ""},
        {"neither result nor error", "{\"jsonrpc\":\"2.0\",\"id\":1}", -1, ""},
        {"only jsonrpc", "{\"jsonrpc\":\"2.0\"}", -1, ""},
        {"result without id", "{\"jsonrpc\":\"2.0\",\"result\":{}}", -1, ""},
        {"result with null id", "{\"jsonrpc\":\"2.0\",\"id\":null,\"result\":{}}", -1, ""},
        {"request with null id", "{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"ping\"}", -1, ""},
        {"error not an object", "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":\"bad\"}", -1, ""},
        {"duplicate id", "{\"jsonrpc\":\"2.0\",\"id\":1,\"id\":2,\"result\":{}}", -1, ""},
        {"duplicate jsonrpc", "{\"jsonrpc\":\"1.0\",\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}", -1, ""},
        {"duplicate nested key", "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"a\":1,\"a\":2}}", -1, ""},
        {"invalid utf-8", "{\"jsonrpc\":\"2.0\",\"method\":\"\xff\"}", -1, ""},
};

static int
run_parse(const char *in, size_t len, struct rec *r, char *err, size_t errlen)
{
	memset(r, 0, sizeof *r);
	buf_init(&r->out, 0);
	return jsonrpc_parse(in, len, on_msg, r, err, errlen);
}

static void
test_parse_table(void)
{
	size_t i;

	for (i = 0; i < sizeof parse_cases / sizeof parse_cases[0]; i++) {
		const struct parse_case *c = &parse_cases[i];
		struct rec r;
		char err[256] = "";
		int rc = run_parse(c->in, strlen(c->in), &r, err, sizeof err);
		const char *got = r.out.data ? r.out.data : "";

		if (rc != c->rc || strcmp(got, c->msgs) != 0 || r.bad) {
			printf("case \"%s\": rc %d (want %d), bad %d, msgs \"%s\"\n  want \"%s\"\n", c->name,
			       rc, c->rc, r.bad, got, c->msgs);
			T(0);
		} else {
			T(1);
		}
		/* A refusal always says why. */
		if (c->rc == -1 && err[0] == '\0') {
			printf("case \"%s\": no error message\n", c->name);
			T(0);
		}
		buf_free(&r.out);
	}
}

static void
test_parse_len_and_err(void)
{
	static const char two[] = REQ1 "garbage after the message";
	struct rec r;
	char err[8];

	/* Only len bytes are read. */
	T(run_parse(two, strlen(REQ1), &r, NULL, 0) == 0);
	T_STREQ(r.out.data, REQ1_R);
	buf_free(&r.out);
	T(run_parse(REQ1, strlen(REQ1) - 1, &r, NULL, 0) == -1);
	T(r.calls == 0);
	buf_free(&r.out);

	/* A short err buffer is filled and terminated; a NULL one is never written. */
	memset(err, 'x', sizeof err);
	T(run_parse("nope", 4, &r, err, sizeof err) == -1);
	T(memchr(err, '\0', sizeof err) != NULL && strlen(err) == sizeof err - 1);
	buf_free(&r.out);
	T(run_parse("[]", 2, &r, NULL, 0) == -1);
	buf_free(&r.out);
}

static void
test_parse_stop(void)
{
	static const char batch[] = "[" REQ1 "," NOTE1 "," RESP1 "]";
	struct rec r;
	int rc;

	/* A non-zero return stops at once and is returned. */
	memset(&r, 0, sizeof r);
	buf_init(&r.out, 0);
	r.stop_at = 2;
	r.stop_val = 5;
	rc = jsonrpc_parse(batch, strlen(batch), on_msg, &r, NULL, 0);
	T(rc == 5);
	T(r.calls == 2);
	T_STREQ(r.out.data, REQ1_R NOTE1_R);
	buf_free(&r.out);

	/* The first element, and -1 from the callback, work the same. */
	memset(&r, 0, sizeof r);
	buf_init(&r.out, 0);
	r.stop_at = 1;
	r.stop_val = -1;
	T(jsonrpc_parse(batch, strlen(batch), on_msg, &r, NULL, 0) == -1);
	T(r.calls == 1);
	buf_free(&r.out);

	/* A single message: the callback's value is the result. */
	memset(&r, 0, sizeof r);
	buf_init(&r.out, 0);
	r.stop_at = 1;
	r.stop_val = 42;
	T(jsonrpc_parse(RESP1, strlen(RESP1), on_msg, &r, NULL, 0) == 42);
	T(r.calls == 1);
	buf_free(&r.out);
}

/* s must be one compact JSON object equal to want (consumed). */
static int
same_json(const char *s, json_t *want)
{
	json_error_t jerr;
	json_t *got;
	int ok;

	if (!s || !want) {
		json_decref(want);
		return 0;
	}
	got = json_loads(s, JSON_REJECT_DUPLICATES, &jerr);
	ok = got && json_equal(got, want) && !strchr(s, '\n') && !strstr(s, ", ") && !strstr(s, ": ");
	if (!ok) {
		char *w = json_dumps(want, JSON_COMPACT);

		printf("  got  %s\n  want %s\n", s, w ? w : "?");
		free(w);
	}
	json_decref(got);
	json_decref(want);
	return ok;
}

static void
test_builders(void)
{
	json_t *params = json_pack("{s:s, s:{}}", "name", "echo", "arguments");
	json_t *arr = json_pack("[i,s]", 1, "x");
	json_t *sid = json_string("srv-7"), *iid = json_integer(0), *res = json_pack("{s:[]}", "roots");
	char *s;

	s = jsonrpc_request(1, "tools/call", params);
	T(same_json(s, json_pack("{s:s, s:i, s:s, s:O}", "jsonrpc", "2.0", "id", 1, "method", "tools/call",
	                         "params", params)));
	free(s);
	s = jsonrpc_request(0, "initialize", NULL);
	T(same_json(s, json_pack("{s:s, s:i, s:s}", "jsonrpc", "2.0", "id", 0, "method", "initialize")));
	free(s);
	s = jsonrpc_request((json_int_t)9007199254740993LL, "x", arr);
	T(same_json(s, json_pack("{s:s, s:I, s:s, s:O}", "jsonrpc", "2.0", "id",
	                         (json_int_t)9007199254740993LL, "method", "x", "params", arr)));
	free(s);

	s = jsonrpc_notification("notifications/initialized", NULL);
	T(same_json(s, json_pack("{s:s, s:s}", "jsonrpc", "2.0", "method", "notifications/initialized")));
	free(s);
	s = jsonrpc_notification("notifications/cancelled", params);
	T(same_json(s, json_pack("{s:s, s:s, s:O}", "jsonrpc", "2.0", "method", "notifications/cancelled",
	                         "params", params)));
	free(s);

	/* A server's id is echoed as it came: strings stay strings, 0 stays 0. */
	s = jsonrpc_result(sid, res);
	T(same_json(s, json_pack("{s:s, s:s, s:O}", "jsonrpc", "2.0", "id", "srv-7", "result", res)));
	free(s);
	s = jsonrpc_result(iid, NULL);
	T(same_json(s, json_pack("{s:s, s:i, s:{}}", "jsonrpc", "2.0", "id", 0, "result")));
	free(s);
	s = jsonrpc_result(NULL, NULL);
	T(same_json(s, json_pack("{s:s, s:n, s:{}}", "jsonrpc", "2.0", "id", "result")));
	free(s);

	s = jsonrpc_error(sid, JSONRPC_METHOD_NOT_FOUND, "Method not found");
	T(same_json(s, json_pack("{s:s, s:s, s:{s:i, s:s}}", "jsonrpc", "2.0", "id", "srv-7", "error", "code",
	                         -32601, "message", "Method not found")));
	free(s);
	s = jsonrpc_error(iid, JSONRPC_INVALID_PARAMS, "caf\xc3\xa9 \"quoted\"");
	T(same_json(s, json_pack("{s:s, s:i, s:{s:i, s:s}}", "jsonrpc", "2.0", "id", 0, "error", "code",
	                         -32602, "message", "caf\xc3\xa9 \"quoted\"")));
	free(s);
	s = jsonrpc_error(NULL, JSONRPC_PARSE_ERROR, "");
	T(same_json(s, json_pack("{s:s, s:n, s:{s:i, s:s}}", "jsonrpc", "2.0", "id", "error", "code", -32700,
	                         "message", "")));
	free(s);

	/* Borrowed arguments are left as they were. */
	T(params->refcount == 1 && sid->refcount == 1 && res->refcount == 1 && arr->refcount == 1);
	json_decref(params);
	json_decref(arr);
	json_decref(sid);
	json_decref(iid);
	json_decref(res);
}

/* What we build, we parse back as the same message. */
static void
test_round_trip(void)
{
	json_t *params = json_pack("{s:i}", "progress", 3), *id = json_string("abc");
	struct rec r;
	char *s;

	s = jsonrpc_request(12, "tools/list", params);
	T(run_parse(s, strlen(s), &r, NULL, 0) == 0);
	T_STREQ(r.out.data, "REQ id=12 int=12 m=tools/list p={\"progress\":3} r=- e=-;");
	T(r.bad == 0);
	buf_free(&r.out);
	free(s);

	s = jsonrpc_notification("notifications/progress", params);
	T(run_parse(s, strlen(s), &r, NULL, 0) == 0);
	T_STREQ(r.out.data, "NOTE id=- int=- m=notifications/progress p={\"progress\":3} r=- e=-;");
	buf_free(&r.out);
	free(s);

	s = jsonrpc_result(id, NULL);
	T(run_parse(s, strlen(s), &r, NULL, 0) == 0);
	T_STREQ(r.out.data, "RESP id=\"abc\" int=- m=- p=- r={} e=-;");
	buf_free(&r.out);
	free(s);

	s = jsonrpc_error(id, JSONRPC_INTERNAL_ERROR, "boom");
	T(run_parse(s, strlen(s), &r, NULL, 0) == 0);
	T_STREQ(r.out.data, "RESP id=\"abc\" int=- m=- p=- r=- e=-32603:boom;");
	buf_free(&r.out);
	free(s);

	json_decref(params);
	json_decref(id);
}

int
main(void)
{
	test_parse_table();
	test_parse_len_and_err();
	test_parse_stop();
	test_builders();
	test_round_trip();
	return T_DONE();
}
