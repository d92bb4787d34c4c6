/*
 * fuzz_jsonrpc: libFuzzer target for jsonrpc_parse(), the first code to see what an MCP server sends.
 * The callback reads every field of each message and checks the shape jsonrpc.h promises; a request's
 * id is echoed through jsonrpc_result/jsonrpc_error and must parse back as a response with the same id.
 * A response has an id unless it is an error (id then NULL, or json null when the server sent one).
 * Each result also goes through mcp_result_text() and mcp_tool_callable(), as a tools/call or
 * tools/list answer would; so does the whole input when it is any JSON at all. Text for a model must
 * be valid UTF-8 and within its cap.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mcpclient/jsonrpc.h"
#include "mcpclient/mcpclient.h"
#include "mcpclient/tools.h"

#define FUZZ_CUT_LEN 14 /* strlen("...[truncated]") */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t fuzz_cap;

static void
check_text_cap(json_t *result, size_t cap)
{
	char *s = mcp_result_text(result, cap);
	size_t n;
	json_t *j;

	if (!s)
		abort();
	n = strlen(s);
	if (cap && n > (cap > FUZZ_CUT_LEN ? cap : FUZZ_CUT_LEN))
		abort();
	j = json_string(s);
	if (!j)
		abort(); /* not valid UTF-8 */
	json_decref(j);
	free(s);
}

static void
check_text(json_t *result)
{
	check_text_cap(result, 0);
	check_text_cap(result, fuzz_cap);
}

static void
check_tools(json_t *result)
{
	json_t *tools = json_object_get(result, "tools"), *tool,
	       *next = json_object_get(result, "nextCursor");
	struct mcp_cursor_guard g;
	char why[256];
	size_t i;

	json_array_foreach (tools, i, tool) {
		why[0] = '\0';
		if (!mcp_tool_callable(tool, why, sizeof why) && why[0] == '\0')
			abort();
	}
	mcp_cursor_guard_init(&g, 3);
	if (mcp_cursor_guard_page(&g, json_is_string(next) ? json_string_value(next) : NULL, why,
	                          sizeof why) == 1) {
		/* The same cursor again is always refused. */
		if (mcp_cursor_guard_page(&g, json_string_value(next), why, sizeof why) != -1)
			abort();
	}
	mcp_cursor_guard_free(&g);
}

/* Parses an echo we built: one response whose id equals want_id. */
static int
on_echo(void *ud, const struct jsonrpc_msg *m)
{
	json_t *want_id = ud;

	if (m->kind != JSONRPC_RESPONSE || !m->id || !json_equal(m->id, want_id))
		abort();
	return 0;
}

static void
echo(json_t *id, const char *text)
{
	if (!text || jsonrpc_parse(text, strlen(text), on_echo, id, NULL, 0) != 0)
		abort();
}

static int
on_msg(void *ud, const struct jsonrpc_msg *m)
{
	unsigned *calls = ud;
	char *s;

	(*calls)++;
	if (m->id_is_int != (m->id != NULL && json_is_integer(m->id)))
		abort();
	if (m->id_is_int && m->id_int != json_integer_value(m->id))
		abort();
	if (m->params && !json_is_object(m->params) && !json_is_array(m->params))
		abort();
	switch (m->kind) {
	case JSONRPC_NOTIFICATION:
		if (m->id || !m->method || m->result || m->error)
			abort();
		s = jsonrpc_notification(m->method, m->params);
		free(s);
		break;
	case JSONRPC_REQUEST:
		if (!m->id || json_is_null(m->id) || !m->method || m->result || m->error)
			abort();
		(void)strlen(m->method);
		s = jsonrpc_result(m->id, m->params);
		echo(m->id, s);
		free(s);
		s = jsonrpc_error(m->id, JSONRPC_METHOD_NOT_FOUND, m->method);
		echo(m->id, s);
		free(s);
		break;
	case JSONRPC_RESPONSE:
		/* An error may come without an id (jsonrpc.c takes it on purpose: a server that could not
		 * read our request has no id to give back); a result never does. */
		if (m->method || !m->result == !m->error || (!m->id && !m->error))
			abort();
		if (m->error) {
			if (!json_is_object(m->error) || !m->error_message)
				abort();
			(void)strlen(m->error_message);
			(void)m->error_code;
		} else {
			if (json_is_null(m->id))
				abort();
			check_text(m->result);
			check_tools(m->result);
		}
		break;
	default:
		abort();
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned calls = 0;
	char err[256];
	json_t *j;
	int rc;

	/* The cap for model text comes from the input's length, so every cap gets tried. */
	fuzz_cap = size % 97;
	err[0] = '\0';
	rc = jsonrpc_parse((const char *)data, size, on_msg, &calls, err, sizeof err);
	if (rc != 0 && rc != -1)
		abort();
	if (rc == -1 && err[0] == '\0')
		abort();

	j = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
	if (j) {
		check_text(j);
		json_decref(j);
	}
	return 0;
}
