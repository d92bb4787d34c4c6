/*
 * Unit tests for the pure parts of the MCP client: mcpclient/tools.c (tool-name and callability rules,
 * the tools/list cursor guard, mcp_result_text) and the two pure helpers of mcpclient/channel.c
 * (mcp_url_same_origin for the legacy endpoint event, mcp_auth_param for WWW-Authenticate). Mostly
 * tables; mcp_result_text's truncation is also checked at every cap over multi-byte text.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mcpclient/channel.h"
#include "mcpclient/mcpclient.h"
#include "mcpclient/tools.h"
#include "tests/unit/t.h"

/* 1 when s is well-formed UTF-8 (jansson refuses anything else). */
static int
utf8_ok(const char *s)
{
	json_t *j = json_string(s);

	json_decref(j);
	return j != NULL;
}

static json_t *
parse(const char *text)
{
	json_error_t jerr;
	json_t *j = json_loads(text, JSON_DECODE_ANY, &jerr);

	if (!j)
		printf("bad test JSON: %s: %s\n", text, jerr.text);
	return j;
}

static void
test_tool_name(void)
{
	static const struct {
		const char *name;
		int valid;
	} cases[] = {
	        {"echo", 1},
	        {"get_weather", 1},
	        {"a.b-c_D9", 1},
	        {"A", 1},
	        {"0", 1},
	        {"-._", 1},
	        {"", 0},
	        {"a b", 0},
	        {" a", 0},
	        {"a/b", 0},
	        {"a:b", 0},
	        {"a,b", 0},
	        {"a@b", 0},
	        {"a\tb", 0},
	        {"a\nb", 0},
	        {"caf\xc3\xa9", 0},
	        {"\xe2\x82\xac", 0},
	};
	char name[200];
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		if (mcp_tool_name_valid(cases[i].name) != cases[i].valid) {
			printf("name \"%s\": want %d\n", cases[i].name, cases[i].valid);
			T(0);
		} else {
			T(1);
		}
	}
	T(mcp_tool_name_valid(NULL) == 0);
	memset(name, 'x', sizeof name);
	name[128] = '\0';
	T(mcp_tool_name_valid(name) == 1);
	name[128] = 'x';
	name[129] = '\0';
	T(mcp_tool_name_valid(name) == 0);
	/* 127 ASCII bytes then a 2-byte character: 129 bytes and not ASCII either way. */
	memcpy(name + 127, "\xc3\xa9", 3);
	T(mcp_tool_name_valid(name) == 0);
}

static void
test_tool_callable(void)
{
	static const struct {
		const char *tool;
		int callable;
	} cases[] = {
	        {"{\"name\":\"echo\",\"inputSchema\":{\"type\":\"object\"}}", 1},
	        {"{\"name\":\"echo\",\"description\":\"d\",\"inputSchema\":{}}", 1},
	        {"\"echo\"", 0},
	        {"[]", 0},
	        {"null", 0},
	        {"{}", 0},
	        {"{\"inputSchema\":{}}", 0},
	        {"{\"name\":5,\"inputSchema\":{}}", 0},
	        {"{\"name\":null,\"inputSchema\":{}}", 0},
	        {"{\"name\":\"\",\"inputSchema\":{}}", 0},
	        {"{\"name\":\"has space\",\"inputSchema\":{}}", 0},
	        {"{\"name\":\"a/b\",\"inputSchema\":{}}", 0},
	        {"{\"name\":\"echo\"}", 0},
	        {"{\"name\":\"echo\",\"inputSchema\":null}", 0},
	        {"{\"name\":\"echo\",\"inputSchema\":\"object\"}", 0},
	        {"{\"name\":\"echo\",\"inputSchema\":[]}", 0},
	        {"{\"name\":\"echo\",\"inputSchema\":true}", 0},
	        {"{\"name\":\"t\",\"inputSchema\":{},\"execution\":{\"taskSupport\":\"required\"}}", 0},
	        {"{\"name\":\"t\",\"inputSchema\":{},\"execution\":{\"taskSupport\":\"optional\"}}", 1},
	        {"{\"name\":\"t\",\"inputSchema\":{},\"execution\":{\"taskSupport\":\"forbidden\"}}", 1},
	        {"{\"name\":\"t\",\"inputSchema\":{},\"execution\":{}}", 1},
	        {"{\"name\":\"t\",\"inputSchema\":{},\"execution\":null}", 1},
	};
	char why[256];
	size_t i;
	json_t *t;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		t = parse(cases[i].tool);
		why[0] = '\0';
		if (mcp_tool_callable(t, why, sizeof why) != cases[i].callable) {
			printf("tool %s: want %d\n", cases[i].tool, cases[i].callable);
			T(0);
		} else if (!cases[i].callable && why[0] == '\0') {
			printf("tool %s: refused without a reason\n", cases[i].tool);
			T(0);
		} else {
			T(1);
		}
		json_decref(t);
	}
	why[0] = '\0';
	T(mcp_tool_callable(NULL, why, sizeof why) == 0 && why[0] != '\0');

	/* The reason names the tool, and fits a short buffer. */
	t = parse("{\"name\":\"sim\",\"inputSchema\":{},\"execution\":{\"taskSupport\":\"required\"}}");
	T(mcp_tool_callable(t, why, sizeof why) == 0);
	T(strstr(why, "sim") != NULL);
	memset(why, 'x', sizeof why);
	T(mcp_tool_callable(t, why, 8) == 0);
	T(strlen(why) == 7);
	json_decref(t);
}

static void
test_cursor_guard(void)
{
	struct mcp_cursor_guard g;
	char err[256];
	int i, rc = 0;
	char cur[16];

	/* No cursor: the listing is complete after one page. */
	mcp_cursor_guard_init(&g, 10);
	T(mcp_cursor_guard_page(&g, NULL, err, sizeof err) == 0);
	mcp_cursor_guard_free(&g);

	/* Distinct cursors, then none. */
	mcp_cursor_guard_init(&g, 10);
	T(mcp_cursor_guard_page(&g, "p2", err, sizeof err) == 1);
	T(mcp_cursor_guard_page(&g, "p3", err, sizeof err) == 1);
	T(mcp_cursor_guard_page(&g, NULL, err, sizeof err) == 0);
	mcp_cursor_guard_free(&g);

	/* A constant cursor stops at its second sight. */
	mcp_cursor_guard_init(&g, 100);
	T(mcp_cursor_guard_page(&g, "same", err, sizeof err) == 1);
	err[0] = '\0';
	T(mcp_cursor_guard_page(&g, "same", err, sizeof err) == -1);
	T(err[0] != '\0');
	mcp_cursor_guard_free(&g);

	/* A cycle of two cursors stops too. */
	mcp_cursor_guard_init(&g, 100);
	T(mcp_cursor_guard_page(&g, "a", err, sizeof err) == 1);
	T(mcp_cursor_guard_page(&g, "b", err, sizeof err) == 1);
	T(mcp_cursor_guard_page(&g, "a", err, sizeof err) == -1);
	mcp_cursor_guard_free(&g);

	/* "" is an opaque cursor like any other: followed once, refused when repeated. */
	mcp_cursor_guard_init(&g, 100);
	T(mcp_cursor_guard_page(&g, "", err, sizeof err) == 1);
	err[0] = '\0';
	T(mcp_cursor_guard_page(&g, "", err, sizeof err) == -1);
	T(err[0] != '\0');
	mcp_cursor_guard_free(&g);

	/* The page cap: with 3 pages, the third page's cursor is refused; ending there is fine. */
	mcp_cursor_guard_init(&g, 3);
	T(mcp_cursor_guard_page(&g, "c1", err, sizeof err) == 1);
	T(mcp_cursor_guard_page(&g, "c2", err, sizeof err) == 1);
	err[0] = '\0';
	T(mcp_cursor_guard_page(&g, "c3", err, sizeof err) == -1);
	T(err[0] != '\0');
	mcp_cursor_guard_free(&g);
	mcp_cursor_guard_init(&g, 3);
	T(mcp_cursor_guard_page(&g, "c1", err, sizeof err) == 1);
	T(mcp_cursor_guard_page(&g, "c2", err, sizeof err) == 1);
	T(mcp_cursor_guard_page(&g, NULL, err, sizeof err) == 0);
	mcp_cursor_guard_free(&g);

	/* max_pages <= 0 means the default of 100 pages. */
	mcp_cursor_guard_init(&g, 0);
	for (i = 1; i <= 100; i++) {
		snprintf(cur, sizeof cur, "c%d", i);
		rc = mcp_cursor_guard_page(&g, cur, err, sizeof err);
		if (rc != 1)
			break;
	}
	T(i == 100 && rc == -1);
	mcp_cursor_guard_free(&g);

	/* Long cursors are kept whole (only the message is cut). */
	{
		char big[5000];

		memset(big, 'k', sizeof big - 1);
		big[sizeof big - 1] = '\0';
		mcp_cursor_guard_init(&g, 10);
		T(mcp_cursor_guard_page(&g, big, err, sizeof err) == 1);
		big[4000] = 'j';
		T(mcp_cursor_guard_page(&g, big, err, sizeof err) == 1);
		T(mcp_cursor_guard_page(&g, big, err, 8) == -1);
		T(strlen(err) == 7);
		mcp_cursor_guard_free(&g);
	}

	/* free is safe on an unused guard and twice. */
	mcp_cursor_guard_init(&g, 5);
	mcp_cursor_guard_free(&g);
	mcp_cursor_guard_free(&g);
	T(g.seen == NULL && g.nseen == 0);
}

/* A CallToolResult and what its text must (and must not) contain. want: the exact text, or NULL to
 * check only has[] and hasnt[]. */
struct text_case {
	const char *name;
	const char *result;
	const char *want;
	const char *has[4];
	const char *hasnt[2];
};

#define IMG_PNG "{\"type\":\"image\",\"data\":\"aGVsbG8=\",\"mimeType\":\"image/png\"}"

static const struct text_case text_cases[] = {
        {"one text", "{\"content\":[{\"type\":\"text\",\"text\":\"hello\"}]}", "hello", {0}, {0}},
        {"texts joined",
         "{\"content\":[{\"type\":\"text\",\"text\":\"a\"},{\"type\":\"text\",\"text\":\"b\"},"
         "{\"type\":\"text\",\"text\":\"c\\nd\"}]}",
         "a\nb\nc\nd",
         {0},
         {0}},
        {"empty middle text",
         "{\"content\":[{\"type\":\"text\",\"text\":\"a\"},{\"type\":\"text\",\"text\":\"\"},"
         "{\"type\":\"text\",\"text\":\"c\"}]}",
         "a\n\nc",
         {0},
         {0}},
        {"annotations ignored",
         "{\"content\":[{\"type\":\"text\",\"text\":\"x\",\"annotations\":{\"audience\":[\"user\"]}}],"
         "\"isError\":true}",
         "x",
         {0},
         {0}},
        {"missing content", "{}", "", {0}, {0}},
        {"content null", "{\"content\":null}", "", {0}, {0}},
        {"content not an array", "{\"content\":{\"type\":\"text\",\"text\":\"x\"}}", "", {0}, {0}},
        {"empty content", "{\"content\":[]}", "", {0}, {0}},
        {"result not an object", "[1,2]", "", {0}, {0}},
        /* structuredContent: only when no text block carries the data. */
        {"structured only",
         "{\"content\":[],\"structuredContent\":{\"temp\":21}}",
         "{\"temp\":21}",
         {0},
         {0}},
        {"structured without content", "{\"structuredContent\":{\"a\":[1,2]}}", "{\"a\":[1,2]}", {0}, {0}},
        {"structured mirrored in text",
         "{\"content\":[{\"type\":\"text\",\"text\":\"{\\\"temp\\\": "
         "21}\"}],\"structuredContent\":{\"temp\":21}}",
         "{\"temp\": 21}",
         {0},
         {0}},
        {"structured after an image",
         "{\"content\":[" IMG_PNG "],\"structuredContent\":{\"k\":\"v\"}}",
         NULL,
         {"image/png", "{\"k\":\"v\"}"},
         {"aGVsbG8="}},
        /* Binary blocks: type, MIME type and decoded size, never the bytes. */
        {"image", "{\"content\":[" IMG_PNG "]}", NULL, {"image", "image/png", "5 bytes"}, {"aGVsbG8="}},
        {"audio",
         "{\"content\":[{\"type\":\"audio\",\"data\":\"AAAA\",\"mimeType\":\"audio/wav\"}]}",
         NULL,
         {"audio", "audio/wav", "3 bytes"},
         {"AAAA"}},
        {"audio two pad",
         "{\"content\":[{\"type\":\"audio\",\"data\":\"AAAAAA==\",\"mimeType\":\"audio/mpeg\"}]}",
         NULL,
         {"audio/mpeg", "4 bytes"},
         {"AAAAAA=="}},
        {"image without data",
         "{\"content\":[{\"type\":\"image\",\"mimeType\":\"image/gif\"}]}",
         NULL,
         {"image/gif", "0 bytes"},
         {0}},
        {"text then image then text",
         "{\"content\":[{\"type\":\"text\",\"text\":\"before\"}," IMG_PNG
         ",{\"type\":\"text\",\"text\":\"after\"}]}",
         NULL,
         {"before\n[", "]\nafter", "image/png"},
         {0}},
        /* Resources. */
        {"resource link",
         "{\"content\":[{\"type\":\"resource_link\",\"uri\":\"file:///r/a.txt\",\"name\":\"a.txt\","
         "\"mimeType\":\"text/plain\"}]}",
         NULL,
         {"a.txt", "file:///r/a.txt"},
         {0}},
        {"embedded text resource",
         "{\"content\":[{\"type\":\"resource\",\"resource\":{\"uri\":\"test://static/1\","
         "\"mimeType\":\"text/plain\",\"text\":\"Resource 1 body\"}}]}",
         NULL,
         {"test://static/1", "Resource 1 body"},
         {0}},
        {"embedded blob resource",
         "{\"content\":[{\"type\":\"resource\",\"resource\":{\"uri\":\"test://static/2\","
         "\"mimeType\":\"application/octet-stream\",\"blob\":\"aGVsbG8=\"}}]}",
         NULL,
         {"test://static/2", "application/octet-stream", "5 bytes"},
         {"aGVsbG8="}},
        {"resource not an object",
         "{\"content\":[{\"type\":\"resource\",\"resource\":\"x\"}]}",
         NULL,
         {"resource"},
         {0}},
        /* Unknown and malformed blocks are named, not dropped, not fatal. */
        {"unknown block",
         "{\"content\":[{\"type\":\"hologram\",\"data\":\"zzz\"}]}",
         NULL,
         {"hologram"},
         {"zzz"}},
        {"untyped block", "{\"content\":[{\"text\":\"t\"}]}", NULL, {"["}, {0}},
        {"text with non-string text", "{\"content\":[{\"type\":\"text\",\"text\":5}]}", NULL, {"text"}, {0}},
        {"non-object blocks", "{\"content\":[1,\"s\",null,[]]}", NULL, {"["}, {0}},
        /* A long type name is cut: the cut must not split a UTF-8 sequence (see test_result_text). */
        {"long multi-byte type",
         "{\"content\":[{\"type\":"
         "\"ttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttt\xc3\xa9\xc3\xa9\"}]}",
         NULL,
         {"ttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttt"},
         {0}},
};

static void
test_result_text(void)
{
	size_t i, k;

	for (i = 0; i < sizeof text_cases / sizeof text_cases[0]; i++) {
		const struct text_case *c = &text_cases[i];
		json_t *j = parse(c->result);
		char *s = mcp_result_text(j, 0);
		int ok = s != NULL;

		if (ok && c->want && strcmp(s, c->want) != 0)
			ok = 0;
		for (k = 0; ok && k < 4 && c->has[k]; k++)
			if (!strstr(s, c->has[k]))
				ok = 0;
		for (k = 0; ok && k < 2 && c->hasnt[k]; k++)
			if (strstr(s, c->hasnt[k]))
				ok = 0;
		/* The text goes into JSON for a model: it must stay valid UTF-8. */
		if (ok && !utf8_ok(s))
			ok = 0;
		if (!ok)
			printf("result text \"%s\": got \"%s\"\n", c->name, s ? s : "(null)");
		T(ok);
		free(s);
		json_decref(j);
	}
}

static void
test_result_text_null(void)
{
	char *s = mcp_result_text(NULL, 0);

	T(s != NULL && s[0] == '\0');
	free(s);
	s = mcp_result_text(NULL, 10);
	T(s != NULL && s[0] == '\0');
	free(s);
}

/* Cuts at every cap, over ASCII and over 2-, 3- and 4-byte characters. */
static void
test_result_truncation(void)
{
	static const char cut[] = "...[truncated]";
	static const char *const texts[] = {
	        "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz",
	        "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3"
	        "\xa9"
	        "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9",
	        "\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82"
	        "\xac"
	        "\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac",
	        "\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98"
	        "\x80"
	        "\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80",
	        "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"
	        "b\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"
	        "c\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"
	        "d\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80",
	};
	size_t t, max, len, cutlen = sizeof cut - 1;

	for (t = 0; t < sizeof texts / sizeof texts[0]; t++) {
		json_t *j = json_pack("{s:[{s:s, s:s}]}", "content", "type", "text", "text", texts[t]);
		int ok = 1;

		len = strlen(texts[t]);
		for (max = cutlen + 1; max <= len + 2 && ok; max++) {
			char *s = mcp_result_text(j, max);
			size_t n = s ? strlen(s) : 0;

			if (!s) {
				ok = 0;
			} else if (max >= len) {
				ok = strcmp(s, texts[t]) == 0; /* fits: unchanged */
			} else {
				/* Cut: within the cap, ends with the marker, the rest a prefix of the text,
				 * and no character split. */
				ok = n <= max && n >= cutlen && strcmp(s + n - cutlen, cut) == 0 &&
				     strncmp(s, texts[t], n - cutlen) == 0 && utf8_ok(s) && n + 4 > max;
			}
			if (!ok)
				printf("truncation of text %zu at %zu: \"%s\"\n", t, max, s ? s : "(null)");
			free(s);
		}
		T(ok);
		json_decref(j);
	}

	/* A summary and structuredContent are cut the same way. */
	{
		json_t *j = parse("{\"content\":[],\"structuredContent\":{\"k\":"
		                  "\"0123456789012345678901234567890123456789\"}}");
		char *s = mcp_result_text(j, 30);

		T(s && strlen(s) <= 30 && strstr(s, cut) && strncmp(s, "{\"k\":", 5) == 0);
		free(s);
		json_decref(j);
	}
}

static void
test_same_origin(void)
{
	static const struct {
		const char *base, *ref, *want; /* want NULL: refused */
	} cases[] = {
	        {"http://127.0.0.1:3000/sse", "/message?sessionId=x",
	         "http://127.0.0.1:3000/message?sessionId=x"},
	        {"http://127.0.0.1:3000/sse", "message?sessionId=y",
	         "http://127.0.0.1:3000/message?sessionId=y"},
	        {"http://127.0.0.1:3000/a/sse", "../m", "http://127.0.0.1:3000/m"},
	        {"http://127.0.0.1:3000/sse", "http://127.0.0.1:3000/m?s=1", "http://127.0.0.1:3000/m?s=1"},
	        {"https://mcp.example.com/sse", "/messages/?session_id=ab",
	         "https://mcp.example.com/messages/?session_id=ab"},
	        {"http://Example.COM/sse", "http://example.com/x", "http://example.com/x"},
	        {"http://127.0.0.1:3000/sse", "http://evil.example:3000/m", NULL},
	        {"http://127.0.0.1:3000/sse", "http://localhost:3000/m", NULL},
	        {"http://127.0.0.1:3000/sse", "http://127.0.0.1:3001/m", NULL},
	        {"http://127.0.0.1:3000/sse", "http://127.0.0.1/m", NULL},
	        {"http://127.0.0.1:3000/sse", "https://127.0.0.1:3000/m", NULL},
	        {"https://h.example/sse", "http://h.example/m", NULL},
	        {"http://127.0.0.1:3000/sse", "//evil.example/m", NULL},
	        {"http://127.0.0.1:3000/sse", "http://127.0.0.1:3000@evil.example/m", NULL},
	        {"http://127.0.0.1:3000/sse", "file:///etc/passwd", NULL},
	        {"http://127.0.0.1:3000/sse", "javascript:alert(1)", NULL},
	        {"not a url", "/m", NULL},
	        {"", "/m", NULL},
	        {"http://127.0.0.1:3000/sse", "http://[::1", NULL},
	};
	size_t i;
	char *s;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		s = mcp_url_same_origin(cases[i].base, cases[i].ref);
		if (cases[i].want ? !s || strcmp(s, cases[i].want) != 0 : s != NULL) {
			printf("same origin (%s, %s): got %s, want %s\n", cases[i].base, cases[i].ref,
			       s ? s : "NULL", cases[i].want ? cases[i].want : "NULL");
			T(0);
		} else {
			T(1);
		}
		free(s);
	}
	/* The default port is the same origin whether written or not. */
	s = mcp_url_same_origin("http://h.example/", "http://h.example:80/x");
	T(s != NULL && strncmp(s, "http://h.example", 16) == 0 && strstr(s, "/x"));
	free(s);
	s = mcp_url_same_origin("http://h.example:80/sse", "http://h.example/x");
	T(s != NULL && strstr(s, "/x"));
	free(s);
	s = mcp_url_same_origin("https://h.example/sse", "https://h.example:443/x");
	T(s != NULL && strstr(s, "/x"));
	free(s);
	s = mcp_url_same_origin("https://h.example/sse", "https://h.example:80/x");
	T(s == NULL);
	free(s);
	T(mcp_url_same_origin(NULL, "/m") == NULL);
	T(mcp_url_same_origin("http://h.example/", NULL) == NULL);
	T(mcp_url_same_origin(NULL, NULL) == NULL);
}

static void
test_auth_param(void)
{
	static const struct {
		const char *header, *name, *want; /* want NULL: absent */
	} cases[] = {
	        {"Bearer resource_metadata=\"https://mcp.example.com/.well-known/oauth-protected-resource\"",
	         "resource_metadata", "https://mcp.example.com/.well-known/oauth-protected-resource"},
	        {"Bearer realm=\"mcp\", scope=\"files:read files:write\"", "scope", "files:read files:write"},
	        {"Bearer realm=\"mcp\", scope=\"files:read files:write\"", "realm", "mcp"},
	        {"Bearer error=insufficient_scope, scope=read", "scope", "read"},
	        {"Bearer error=insufficient_scope, scope=read", "error", "insufficient_scope"},
	        {"Bearer scope=read,realm=x", "scope", "read"},
	        {"Bearer scope = \"spaced\"", "scope", "spaced"},
	        {"Bearer realm=x,\tscope=tabbed", "scope", "tabbed"},
	        {"Bearer scope=\"\"", "scope", ""},
	        /* Names are case-insensitive. */
	        {"Bearer SCOPE=\"upper\"", "scope", "upper"},
	        {"bearer Resource_Metadata=\"u\"", "resource_metadata", "u"},
	        /* A name that ends or starts another name does not match it. */
	        {"Bearer xscope=\"bad\", scope=\"good\"", "scope", "good"},
	        {"Bearer xscope=\"bad\"", "scope", NULL},
	        {"Bearer scope_hint=\"bad\"", "scope", NULL},
	        {"Bearer scopes=\"bad\", scope=\"good\"", "scope", "good"},
	        {"Bearer my_resource_metadata=\"bad\"", "resource_metadata", NULL},
	        /* Absent, empty or unterminated. */
	        {"Bearer realm=\"mcp\"", "scope", NULL},
	        {"Bearer", "scope", NULL},
	        {"", "scope", NULL},
	        {"Bearer scope", "scope", NULL},
	        {"Bearer scope=", "scope", NULL},
	        {"Bearer scope=\"unterminated", "scope", NULL},
	        /* A name inside another parameter's quoted value is not a parameter (RFC 9110 11.2). */
	        {"Bearer error=\"insufficient_scope\", error_description=\"needs scope=admin\", "
	         "scope=\"files:read\"",
	         "scope", "files:read"},
	        {"Bearer error_description=\"see resource_metadata=http://evil/\"", "resource_metadata",
	         NULL},
	        /* A quoted-pair stands for the character it escapes. */
	        {"Bearer scope=\"a\\\"b\"", "scope", "a\"b"},
	};
	size_t i;
	char *s;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		s = mcp_auth_param(cases[i].header, cases[i].name);
		if (cases[i].want ? !s || strcmp(s, cases[i].want) != 0 : s != NULL) {
			printf("auth param %s in [%s]: got %s, want %s\n", cases[i].name, cases[i].header,
			       s ? s : "NULL", cases[i].want ? cases[i].want : "NULL");
			T(0);
		} else {
			T(1);
		}
		free(s);
	}
	T(mcp_auth_param(NULL, "scope") == NULL);
}

int
main(void)
{
	test_tool_name();
	test_tool_callable();
	test_cursor_guard();
	test_result_text();
	test_result_text_null();
	test_result_truncation();
	test_same_origin();
	test_auth_param();
	return T_DONE();
}
