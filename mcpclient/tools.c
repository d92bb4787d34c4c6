/* tools: see tools.h and mcp_result_text in mcpclient.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/buf.h"
#include "daemon/util.h"
#include "mcpclient/mcpclient.h"
#include "mcpclient/tools.h"

#define TOOL_NAME_MAX 128

int
mcp_tool_name_valid(const char *name)
{
	size_t i, n;

	if (!name)
		return 0;
	n = strlen(name);
	if (n == 0 || n > TOOL_NAME_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		char ch = name[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		      ch == '_' || ch == '-' || ch == '.'))
			return 0;
	}
	return 1;
}

int
mcp_tool_callable(json_t *tool, char *why, size_t whylen)
{
	json_t *name = json_object_get(tool, "name");
	json_t *execution = json_object_get(tool, "execution");
	json_t *support = json_object_get(execution, "taskSupport");

	if (!json_is_object(tool)) {
		snprintf(why, whylen, "a listed tool is not an object");
		return 0;
	}
	if (!json_is_string(name) || !mcp_tool_name_valid(json_string_value(name))) {
		snprintf(why, whylen, "tool name %.80s%s is not 1-128 characters of [A-Za-z0-9_.-]",
		         json_is_string(name) ? json_string_value(name) : "(missing)",
		         json_is_string(name) && strlen(json_string_value(name)) > 80 ? "..." : "");
		return 0;
	}
	if (!json_is_object(json_object_get(tool, "inputSchema"))) {
		snprintf(why, whylen, "tool %s has no inputSchema object", json_string_value(name));
		return 0;
	}
	if (json_is_string(support) && strcmp(json_string_value(support), "required") == 0) {
		snprintf(why, whylen, "tool %s requires task augmentation", json_string_value(name));
		return 0;
	}
	return 1;
}

void
mcp_cursor_guard_init(struct mcp_cursor_guard *g, int max_pages)
{
	memset(g, 0, sizeof *g);
	g->max_pages = max_pages > 0 ? max_pages : 100;
}

void
mcp_cursor_guard_free(struct mcp_cursor_guard *g)
{
	int i;

	for (i = 0; i < g->nseen; i++)
		free(g->seen[i]);
	free(g->seen);
	memset(g, 0, sizeof *g);
}

int
mcp_cursor_guard_page(struct mcp_cursor_guard *g, const char *cursor, char *err, size_t errlen)
{
	int i;

	g->pages++;
	if (!cursor)
		return 0;
	for (i = 0; i < g->nseen; i++) {
		if (strcmp(g->seen[i], cursor) == 0) {
			snprintf(err, errlen, "tools/list repeated the cursor \"%.64s\" after %d pages",
			         cursor, g->pages);
			return -1;
		}
	}
	if (g->pages >= g->max_pages) {
		snprintf(err, errlen, "tools/list has more than %d pages", g->max_pages);
		return -1;
	}
	g->seen = xrealloc(g->seen, (size_t)(g->nseen + 1) * sizeof *g->seen);
	g->seen[g->nseen++] = xstrdup(cursor);
	return 1;
}

/* Size of base64 data once decoded, for summaries (padded or not). */
static size_t
b64_decoded_size(const char *s)
{
	size_t n = strlen(s), pad = 0;

	if (n >= 1 && s[n - 1] == '=')
		pad++;
	if (n >= 2 && s[n - 2] == '=')
		pad++;
	return n / 4 * 3 + (n % 4) * 3 / 4 - pad;
}

/* The length of s cut to at most max bytes without splitting a UTF-8 sequence. */
static int
utf8_prefix(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n <= max)
		return (int)n;
	while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
		max--;
	return (int)max;
}

static const char *
str_or(json_t *o, const char *key, const char *dflt)
{
	json_t *v = json_object_get(o, key);

	return json_is_string(v) ? json_string_value(v) : dflt;
}

static void
summarise_block(struct buf *out, json_t *block)
{
	const char *type = str_or(block, "type", "(untyped)");
	json_t *res = json_object_get(block, "resource");

	if (strcmp(type, "image") == 0 || strcmp(type, "audio") == 0) {
		buf_printf(out, "[%s %s, %zu bytes]", type, str_or(block, "mimeType", "of unknown type"),
		           b64_decoded_size(str_or(block, "data", "")));
	} else if (strcmp(type, "resource_link") == 0) {
		buf_printf(out, "[resource link %s: %s]", str_or(block, "name", "(unnamed)"),
		           str_or(block, "uri", "(no uri)"));
	} else if (strcmp(type, "resource") == 0 && json_is_object(res)) {
		/* Embedded text is what the model needs; a blob is only described. */
		if (json_is_string(json_object_get(res, "text")))
			buf_printf(out, "[resource %s]\n%s", str_or(res, "uri", "(no uri)"),
			           str_or(res, "text", ""));
		else
			buf_printf(out, "[resource %s, %s, %zu bytes]", str_or(res, "uri", "(no uri)"),
			           str_or(res, "mimeType", "of unknown type"),
			           b64_decoded_size(str_or(res, "blob", "")));
	} else {
		buf_printf(out, "[%.*s content]", utf8_prefix(type, 64), type);
	}
}

char *
mcp_result_text(json_t *call_result, size_t max_bytes)
{
	static const char cut[] = "...[truncated]";
	struct buf out;
	json_t *content = json_object_get(call_result, "content");
	json_t *structured = json_object_get(call_result, "structuredContent");
	json_t *block;
	size_t i;
	int texts = 0;

	/* Unbounded here; the cap is applied once at the end so that blocks are never cut midway
	 * by a failed append. The input is already bounded by the transport's message cap. */
	buf_init(&out, 0);
	json_array_foreach (content, i, block) {
		if (out.len)
			buf_appends(&out, "\n");
		if (json_is_string(json_object_get(block, "text")) &&
		    strcmp(str_or(block, "type", ""), "text") == 0) {
			buf_appends(&out, str_or(block, "text", ""));
			texts++;
		} else {
			summarise_block(&out, block);
		}
	}
	/* Servers SHOULD mirror structuredContent in a text block; when none did, the model still
	 * needs the data. */
	if (json_is_object(structured) && texts == 0) {
		char *js = json_dumps(structured, JSON_COMPACT);

		if (js) {
			if (out.len)
				buf_appends(&out, "\n");
			buf_appends(&out, js);
			free(js);
		}
	}
	if (max_bytes && out.len > max_bytes) {
		/* The marker only when it fits; the text is cut where no UTF-8 sequence is split. */
		size_t marker = max_bytes >= sizeof cut ? sizeof cut - 1 : 0;
		size_t keep = max_bytes - marker;

		while (keep > 0 && ((unsigned char)out.data[keep] & 0xC0) == 0x80)
			keep--;
		buf_truncate(&out, keep);
		if (marker)
			buf_appends(&out, cut);
	}
	return buf_take(&out);
}
