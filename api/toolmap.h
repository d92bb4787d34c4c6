/*
 * toolmap: the MCP tools of one response as the model sees them. Each imported MCP tool becomes a
 * Chat Completions function tool whose name is unique across the request (PEER-LESSONS: two servers
 * with the same tool name must not both reach the model, and a call must map back to exactly one
 * (server, tool)).
 *
 * Naming, deterministic for a given request (servers in request order, tools in listing order):
 *  1. the tool's name with every character outside [A-Za-z0-9_-] replaced by '_';
 *  2. when that is empty, longer than 64, or equal to a function tool's name or to the name of any
 *     other MCP tool of the request (after step 1), every tool in that clash is named
 *     "<label>__<name>" instead (sanitised the same way); so is a tool whose name already has the
 *     form generated for a label of the request ("<label>__..."): a literal name never takes a
 *     name generated for another server's tool;
 *  3. when that is still over 64 characters or still clashes, it is cut to 55 characters and
 *     "_" + the first 8 hex digits of SHA-256(label "\0" name) is appended.
 * Names are never reused: a later tool that would collide with an earlier entry moves on to the
 * next step.
 * Owned by the loop thread.
 */
#ifndef API_TOOLMAP_H
#define API_TOOLMAP_H

#include <stddef.h>
#include <jansson.h>

struct toolmap;

struct toolmap_entry {
	const char *visible; /* the name the model sees and calls */
	size_t server;       /* the index the caller gave with toolmap_add_server */
	const char *label;   /* the server's label */
	const char *name;    /* the tool's own name on that server */
	const json_t *tool;  /* the MCP Tool object (borrowed from the map) */
};

/* function_tools: the request's normalised function tools (their names are taken). */
struct toolmap *toolmap_new(const json_t *function_tools);
void toolmap_free(struct toolmap *m);
/* Adds a server's imported tools (a JSON array of MCP Tool objects; copied). Call before build. */
void toolmap_add_server(struct toolmap *m, size_t server, const char *label, const json_t *tools);
/* Assigns the visible names; after this the map is read-only. */
void toolmap_build(struct toolmap *m);

size_t toolmap_count(const struct toolmap *m);
const struct toolmap_entry *toolmap_at(const struct toolmap *m, size_t i);
/* The entry the model called by visible name, or NULL. */
const struct toolmap_entry *toolmap_find(const struct toolmap *m, const char *visible);
/* The visible name of (label, name), or NULL when the map has no such tool. */
const char *toolmap_visible(const struct toolmap *m, const char *label, const char *name);
/* Chat Completions tools for the entries (of every server, or of server only when only_server is
 * >= 0): [{type:"function", function:{name: visible, description, parameters: inputSchema}}].
 * The description is the tool's description (or title), prefixed with "[<label>] ". New reference. */
json_t *toolmap_chat_tools(const struct toolmap *m, long only_server);

#endif
