/*
 * tools: the pure parts of tools/list and tools/call: which listed tools a non-task client can
 * call, the guard that stops a pagination loop, and the CallToolResult text for a model
 * (mcp_result_text, declared in mcpclient.h). No I/O; unit-tested on their own.
 */
#ifndef MCPCLIENT_TOOLS_H
#define MCPCLIENT_TOOLS_H

#include <jansson.h>
#include <stddef.h>

/* 1 when name is 1..128 characters of [A-Za-z0-9_.-] (the 2025-11-25 tool-name guidance). */
int mcp_tool_name_valid(const char *name);

/* 1 when a listed tool can be offered: an object with a valid name, an object inputSchema, and no
 * execution.taskSupport "required" (we are not a task client). Otherwise 0, with the reason in why. */
int mcp_tool_callable(json_t *tool, char *why, size_t whylen);

/* Follows tools/list cursors: stops at max_pages pages and on a cursor seen before (servers that
 * repeat a constant or an empty cursor would otherwise loop forever). */
struct mcp_cursor_guard {
	char **seen;
	int nseen;
	int pages;
	int max_pages;
};
void mcp_cursor_guard_init(struct mcp_cursor_guard *g, int max_pages);
void mcp_cursor_guard_free(struct mcp_cursor_guard *g);
/* Counts one page received whose nextCursor is cursor (NULL: the last page). Returns 1 to fetch the
 * next page, 0 when the listing is complete, -1 (with err) when the guard stops it. */
int mcp_cursor_guard_page(struct mcp_cursor_guard *g, const char *cursor, char *err, size_t errlen);

#endif
