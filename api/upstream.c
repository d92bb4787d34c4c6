#include "api/upstream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/apierr.h"
#include "api/request.h"
#include "daemon/buf.h"

/* A failed MCP call's text as the model sees it: enough to react to, and bounded, since it is sent
 * again with every later turn. */
#define UPSTREAM_MAX_ERROR_TEXT ((size_t)64 * 1024)
/* Chat Completions function names: [A-Za-z0-9_-]{1,64}. */
#define UPSTREAM_MAX_NAME 64

/*
 * The translation keeps three pieces of state while it walks the items:
 *  - the assistant message that a following function_call or mcp_call may join (so that a message
 *    and the calls the model made in the same turn, or several parallel calls, become ONE assistant
 *    message with tool_calls, which is what every Chat Completions server expects);
 *  - the tool messages of the current run of mcp_call items: an mcp_call holds both the call and its
 *    result, but the results may only follow the assistant message once every call of the run is in
 *    it, so they wait until an item that is not a call comes;
 *  - the image / file parts of the tool outputs of the current run of tool messages, which Chat
 *    Completions cannot carry in a tool message: they go into one user message after the run.
 * Reasoning, mcp_list_tools and mcp_approval_response items (and approval requests that were not
 * denied) are skipped without breaking any state: they sit between a message and its calls in our
 * own output.
 */
struct conv {
	json_t *messages;       /* the body's messages array (borrowed from the body) */
	json_t *last_assistant; /* borrowed from messages, or NULL */
	json_t *pending;        /* tool messages of the current run of mcp calls (owned) */
	json_t *media;          /* pending user parts from tool outputs (owned) */
	json_t *denied;         /* approval request id -> reason string or null (owned) */
	json_t *called;         /* approval request ids that an mcp_call carries (owned) */
	const struct request *req;
	const struct upstream_extra *extra;
	struct api_error *err;
};

static const char *
get_str(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* Joins the text of the parts seen so far; "\n" between separate text parts so that two parts do
 * not run words together. */
static void
join_text(struct buf *b, const char *s)
{
	if (b->len > 0)
		buf_appends(b, "\n");
	buf_appends(b, s);
}

static void
flush_pending(struct conv *c)
{
	if (json_array_size(c->pending) == 0)
		return;
	json_array_extend(c->messages, c->pending);
	json_array_clear(c->pending);
	c->last_assistant = NULL;
}

static void
flush_media(struct conv *c)
{
	if (json_array_size(c->media) == 0)
		return;
	json_array_append_new(c->messages, json_pack("{s:s, s:O}", "role", "user", "content", c->media));
	json_decref(c->media);
	c->media = json_array();
}

/* input_image / input_file -> a Chat Completions part (new reference), or NULL with err set. */
static json_t *
media_part(struct conv *c, const json_t *part, const char *where)
{
	const char *type = get_str(part, "type");

	if (strcmp(type, "input_image") == 0) {
		const char *url = get_str(part, "image_url");
		const char *detail = get_str(part, "detail");
		json_t *img;

		if (url == NULL || *url == '\0') {
			api_error_bad(c->err, "input", "invalid_value", "%s: input_image needs an image_url",
			              where);
			return NULL;
		}
		img = json_pack("{s:s}", "url", url);
		if (detail)
			json_object_set_new(img, "detail", json_string(detail));
		return json_pack("{s:s, s:o}", "type", "image_url", "image_url", img);
	}
	if (strcmp(type, "input_file") == 0) {
		const char *data = get_str(part, "file_data");
		const char *name = get_str(part, "filename");
		json_t *file;

		if (data == NULL || *data == '\0') {
			api_error_bad(
			        c->err, "input", "unsupported_value",
			        "%s: input_file needs file_data (file_url is not supported by the upstream)",
			        where);
			return NULL;
		}
		file = json_pack("{s:s}", "file_data", data);
		if (name)
			json_object_set_new(file, "filename", json_string(name));
		return json_pack("{s:s, s:o}", "type", "file", "file", file);
	}
	api_error_bad(c->err, "input", "unsupported_value", "%s: content part type '%s' is not supported",
	              where, type);
	return NULL;
}

/* Content of a user, system or developer message. text_only: system/developer take text only. */
static json_t *
input_content(struct conv *c, const json_t *content, int text_only, const char *where)
{
	struct buf text;
	json_t *parts = NULL, *out = NULL, *part;
	size_t i;
	int media = 0;

	if (json_is_string(content))
		return json_deep_copy(content);
	if (!json_is_array(content)) {
		api_error_bad(c->err, "input", "invalid_type", "%s: content must be a string or an array",
		              where);
		return NULL;
	}
	buf_init(&text, 0);
	json_array_foreach (content, i, part) {
		const char *type = get_str(part, "type");

		if (type == NULL) {
			api_error_bad(c->err, "input", "invalid_value", "%s: content part without a type",
			              where);
			goto done;
		}
		if (strcmp(type, "input_text") == 0 || strcmp(type, "text") == 0) {
			if (get_str(part, "text") == NULL) {
				api_error_bad(c->err, "input", "invalid_value", "%s: text part without text",
				              where);
				goto done;
			}
			continue;
		}
		if (text_only) {
			api_error_bad(c->err, "input", "unsupported_value",
			              "%s: only text parts are allowed in system and developer messages",
			              where);
			goto done;
		}
		media = 1;
	}
	if (!media) {
		json_array_foreach (content, i, part) {
			join_text(&text, get_str(part, "text"));
		}
		out = json_string(text.data ? text.data : "");
		goto done;
	}
	parts = json_array();
	json_array_foreach (content, i, part) {
		const char *type = get_str(part, "type");
		json_t *p;

		if (strcmp(type, "input_text") == 0 || strcmp(type, "text") == 0) {
			json_array_append_new(parts, json_pack("{s:s, s:s}", "type", "text", "text",
			                                       get_str(part, "text")));
			continue;
		}
		p = media_part(c, part, where);
		if (p == NULL)
			goto done;
		json_array_append_new(parts, p);
	}
	out = parts;
	parts = NULL;
done:
	json_decref(parts);
	buf_free(&text);
	return out;
}

static int
conv_user(struct conv *c, const json_t *item, const char *role, const char *where)
{
	int sys = strcmp(role, "user") != 0;
	json_t *content = input_content(c, json_object_get(item, "content"), sys, where);

	if (content == NULL)
		return -1;
	json_array_append_new(c->messages,
	                      json_pack("{s:s, s:o}", "role", sys ? "system" : "user", "content", content));
	c->last_assistant = NULL;
	return 0;
}

static int
conv_assistant(struct conv *c, const json_t *item, const char *where)
{
	const json_t *content = json_object_get(item, "content"), *part;
	struct buf text, refusal;
	json_t *msg;
	size_t i;
	int result = -1;

	buf_init(&text, 0);
	buf_init(&refusal, 0);
	if (json_is_string(content)) {
		buf_appends(&text, json_string_value(content));
	} else if (json_is_array(content)) {
		json_array_foreach (content, i, part) {
			const char *type = get_str(part, "type");

			if (type &&
			    (strcmp(type, "output_text") == 0 || strcmp(type, "input_text") == 0 ||
			     strcmp(type, "text") == 0) &&
			    get_str(part, "text")) {
				/* Parts of one answer: no separator, the model wrote them as one text. */
				buf_appends(&text, get_str(part, "text"));
			} else if (type && strcmp(type, "refusal") == 0 && get_str(part, "refusal")) {
				buf_appends(&refusal, get_str(part, "refusal"));
			} else {
				api_error_bad(c->err, "input", "unsupported_value",
				              "%s: assistant content parts must be output_text or refusal",
				              where);
				goto done;
			}
		}
	} else if (!json_is_null(content) && content != NULL) {
		api_error_bad(c->err, "input", "invalid_type", "%s: content must be a string or an array",
		              where);
		goto done;
	}
	msg = json_pack("{s:s, s:s}", "role", "assistant", "content", text.data ? text.data : "");
	if (refusal.len > 0)
		json_object_set_new(msg, "refusal", json_string(refusal.data));
	json_array_append_new(c->messages, msg);
	c->last_assistant = msg;
	result = 0;
done:
	buf_free(&text);
	buf_free(&refusal);
	return result;
}

/* Adds a call to the assistant message of the current run, starting one when there is none. */
static void
add_tool_call(struct conv *c, const char *id, const char *name, const char *args)
{
	json_t *calls;

	if (c->last_assistant == NULL) {
		c->last_assistant = json_pack("{s:s, s:n}", "role", "assistant", "content");
		json_array_append_new(c->messages, c->last_assistant);
	}
	calls = json_object_get(c->last_assistant, "tool_calls");
	if (calls == NULL) {
		calls = json_array();
		json_object_set_new(c->last_assistant, "tool_calls", calls);
	}
	json_array_append_new(calls, json_pack("{s:s, s:s, s:{s:s, s:s}}", "id", id, "type", "function",
	                                       "function", "name", name, "arguments", args ? args : "{}"));
}

static int
conv_function_call(struct conv *c, const json_t *item, const char *where)
{
	const char *call_id = get_str(item, "call_id");
	const char *name = get_str(item, "name");

	if (call_id == NULL || name == NULL) {
		api_error_bad(c->err, "input", "invalid_value", "%s: function_call needs call_id and name",
		              where);
		return -1;
	}
	add_tool_call(c, call_id, name, get_str(item, "arguments"));
	return 0;
}

/* The name the model knows an MCP tool by: the engine's, or for a tool the engine has no name for
 * (a call from an earlier listing) "<label>__<name>" with every character outside [A-Za-z0-9_-]
 * made '_', cut to 64. buf holds the default. */
static const char *
mcp_visible(const struct conv *c, const char *label, const char *name, char buf[UPSTREAM_MAX_NAME + 1])
{
	const char *v = NULL, *parts[3], *p;
	size_t n = 0, k;

	if (c->extra != NULL && c->extra->mcp_name != NULL)
		v = c->extra->mcp_name(c->extra->ud, label, name);
	if (v != NULL)
		return v;
	parts[0] = label;
	parts[1] = "__";
	parts[2] = name;
	for (k = 0; k < 3 && n < UPSTREAM_MAX_NAME; k++) {
		for (p = parts[k]; *p != '\0' && n < UPSTREAM_MAX_NAME; p++) {
			if (((unsigned char)*p & 0xc0) == 0x80)
				continue; /* one '_' per character, not per byte */
			buf[n] = '_';
			if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			    (*p >= '0' && *p <= '9') || *p == '-')
				buf[n] = *p;
			n++;
		}
	}
	buf[n] = '\0';
	return buf;
}

/* Cuts b to at most max bytes without splitting a UTF-8 sequence. */
static void
cut_utf8(struct buf *b, size_t max)
{
	size_t n = max;

	if (b->len <= max)
		return;
	while (n > 0 && ((unsigned char)b->data[n] & 0xc0) == 0x80)
		n--;
	buf_truncate(b, n);
}

static void
append_json(struct buf *b, const json_t *v)
{
	char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

	if (s != NULL)
		buf_appends(b, s);
	free(s);
}

/* "Error: " + what went wrong: the message of a protocol or HTTP error (a string error as is), or
 * the text blocks of a tool execution error's content (its JSON when it has none). */
static void
error_text(const json_t *error, struct buf *out)
{
	const json_t *content, *block;
	const char *type, *text;
	size_t i;
	int found = 0;

	buf_appends(out, "Error: ");
	type = get_str(error, "type");
	content = json_object_get(error, "content");
	if (json_is_string(error)) {
		buf_appends(out, json_string_value(error));
	} else if (type != NULL && strcmp(type, "mcp_tool_execution_error") == 0 && content != NULL) {
		if (json_is_string(content)) {
			buf_appends(out, json_string_value(content));
			found = 1;
		}
		json_array_foreach (content, i, block) {
			text = get_str(block, "text");
			if (text == NULL || get_str(block, "type") == NULL ||
			    strcmp(get_str(block, "type"), "text") != 0)
				continue;
			if (found)
				buf_appends(out, "\n");
			buf_appends(out, text);
			found = 1;
			if (out->len > UPSTREAM_MAX_ERROR_TEXT)
				break;
		}
		if (!found)
			append_json(out, content);
	} else if (get_str(error, "message") != NULL) {
		buf_appends(out, get_str(error, "message"));
	} else {
		append_json(out, error);
	}
	cut_utf8(out, UPSTREAM_MAX_ERROR_TEXT);
}

/* An mcp_call: a call in the current run, its result a tool message that waits for the run's end. */
static int
conv_mcp_call(struct conv *c, const json_t *item, const char *where)
{
	const char *id = get_str(item, "id");
	const char *label = get_str(item, "server_label");
	const char *name = get_str(item, "name");
	const json_t *error = json_object_get(item, "error");
	char vbuf[UPSTREAM_MAX_NAME + 1];
	struct buf text;

	if (id == NULL || label == NULL || name == NULL) {
		api_error_bad(c->err, "input", "invalid_value",
		              "%s: mcp_call needs id, server_label and name", where);
		return -1;
	}
	add_tool_call(c, id, mcp_visible(c, label, name, vbuf), get_str(item, "arguments"));
	buf_init(&text, 0);
	if (error != NULL && !json_is_null(error))
		error_text(error, &text);
	else if (get_str(item, "output") != NULL)
		buf_appends(&text, get_str(item, "output"));
	json_array_append_new(c->pending, json_pack("{s:s, s:s, s:s}", "role", "tool", "tool_call_id", id,
	                                            "content", text.data ? text.data : ""));
	buf_free(&text);
	return 0;
}

/* A denied approval request: the model asked, the user said no. The model sees its call answered
 * with the refusal, so it neither waits for a result nor asks again as if nothing happened. */
static int
conv_denied(struct conv *c, const json_t *item, const char *where)
{
	const char *id = get_str(item, "id");
	const char *label = get_str(item, "server_label");
	const char *name = get_str(item, "name");
	const json_t *reason = json_object_get(c->denied, id);
	char vbuf[UPSTREAM_MAX_NAME + 1];
	struct buf text;

	if (label == NULL || name == NULL) {
		api_error_bad(c->err, "input", "invalid_value",
		              "%s: mcp_approval_request needs server_label and name", where);
		return -1;
	}
	add_tool_call(c, id, mcp_visible(c, label, name, vbuf), get_str(item, "arguments"));
	buf_init(&text, 0);
	buf_appends(&text, "The user denied this tool call.");
	if (json_is_string(reason) && json_string_length(reason) > 0) {
		buf_appends(&text, " Reason: ");
		buf_appends(&text, json_string_value(reason));
	}
	json_array_append_new(c->pending, json_pack("{s:s, s:s, s:s}", "role", "tool", "tool_call_id", id,
	                                            "content", text.data));
	buf_free(&text);
	return 0;
}

/* Sent only when denied and not carried out anyway: a pending request is still the caller's to
 * decide, and an approved one is in the context as its mcp_call. */
static int
approval_denied(const struct conv *c, const json_t *item)
{
	const char *id = get_str(item, "id");

	return id != NULL && json_object_get(c->denied, id) != NULL && json_object_get(c->called, id) == NULL;
}

/* Which approval requests were denied, and which ones an mcp_call carried out, anywhere in items:
 * the answer may come after the request, and in one pass per request the whole context would be
 * walked again for each. */
static void
scan_approvals(struct conv *c, const json_t *items)
{
	const json_t *item, *reason;
	const char *type, *id;
	size_t i;

	json_array_foreach (items, i, item) {
		type = get_str(item, "type");
		id = get_str(item, "approval_request_id");
		if (type == NULL || id == NULL)
			continue;
		if (strcmp(type, "mcp_approval_response") == 0 &&
		    json_is_false(json_object_get(item, "approve"))) {
			reason = json_object_get(item, "reason");
			/* The first reason given wins; a later denial without one does not erase it. */
			if (!json_is_string(json_object_get(c->denied, id)))
				json_object_set_new(c->denied, id,
				                    json_is_string(reason) ? json_deep_copy(reason)
				                                           : json_null());
		} else if (strcmp(type, "mcp_call") == 0) {
			json_object_set_new(c->called, id, json_true());
		}
	}
}

/* "input[i]" when item is one of the request's own input items, else "input" (it came from the
 * previous_response_id chain). */
static void
input_param(const struct conv *c, const json_t *item, char *out, size_t outlen)
{
	const json_t *in;
	size_t i;

	snprintf(out, outlen, "input");
	json_array_foreach (c->req->input, i, in) {
		if (in == item) {
			snprintf(out, outlen, "input[%zu]", i);
			return;
		}
	}
	json_array_foreach (c->req->input, i, in) {
		if (json_equal(in, item)) {
			snprintf(out, outlen, "input[%zu]", i);
			return;
		}
	}
}

/* A compaction item stands for the conversation it summarised; the summary goes to the model as
 * the user turn that opens what is left. */
static int
conv_compaction(struct conv *c, const json_t *item)
{
	char *summary = NULL, param[48];
	json_t *content = NULL;
	struct buf text;

	if (c->extra != NULL && c->extra->compaction_text != NULL)
		summary = c->extra->compaction_text(c->extra->ud, item);
	if (summary != NULL) {
		buf_init(&text, 0);
		buf_appends(&text, "Summary of the earlier conversation:\n");
		buf_appends(&text, summary);
		/* NULL for text that is not UTF-8, which no summary we sealed can be. */
		content = json_string(text.data);
		buf_free(&text);
		free(summary);
	}
	if (content == NULL) {
		input_param(c, item, param, sizeof param);
		return api_error_bad(c->err, param, "invalid_encrypted_content",
		                     "The encrypted_content of this compaction item could not be verified; "
		                     "pass it back exactly as POST /v1/responses/compact returned it.");
	}
	json_array_append_new(c->messages, json_pack("{s:s, s:o}", "role", "user", "content", content));
	c->last_assistant = NULL;
	return 0;
}

static int
conv_function_output(struct conv *c, const json_t *item, const char *where)
{
	const char *call_id = get_str(item, "call_id");
	const json_t *output = json_object_get(item, "output"), *part;
	struct buf text;
	size_t i;
	int result = -1;

	buf_init(&text, 0);
	if (call_id == NULL) {
		api_error_bad(c->err, "input", "invalid_value", "%s: function_call_output needs call_id",
		              where);
		goto done;
	}
	if (json_is_string(output)) {
		buf_appends(&text, json_string_value(output));
	} else if (json_is_array(output)) {
		json_array_foreach (output, i, part) {
			const char *type = get_str(part, "type");
			json_t *p;

			if (type == NULL) {
				api_error_bad(c->err, "input", "invalid_value",
				              "%s: output part without a type", where);
				goto done;
			}
			if (strcmp(type, "input_text") == 0 || strcmp(type, "text") == 0 ||
			    strcmp(type, "output_text") == 0) {
				if (get_str(part, "text"))
					join_text(&text, get_str(part, "text"));
				continue;
			}
			p = media_part(c, part, where);
			if (p == NULL)
				goto done;
			json_array_append_new(c->media, p);
		}
	} else {
		api_error_bad(c->err, "input", "invalid_type", "%s: output must be a string or an array",
		              where);
		goto done;
	}
	json_array_append_new(c->messages, json_pack("{s:s, s:s, s:s}", "role", "tool", "tool_call_id",
	                                             call_id, "content", text.data ? text.data : ""));
	c->last_assistant = NULL;
	result = 0;
done:
	buf_free(&text);
	return result;
}

static int
conv_item(struct conv *c, const json_t *item, size_t idx)
{
	const char *type = get_str(item, "type");
	const char *role = get_str(item, "role");
	char where[64];

	snprintf(where, sizeof where, "item %zu", idx);
	if (!json_is_object(item))
		return api_error_bad(c->err, "input", "invalid_type", "%s: not an object", where);
	if (type == NULL && role != NULL)
		type = "message";
	if (type == NULL)
		return api_error_bad(c->err, "input", "invalid_value", "%s: item without a type", where);

	if (strcmp(type, "reasoning") == 0 || strcmp(type, "mcp_list_tools") == 0 ||
	    strcmp(type, "mcp_approval_response") == 0 ||
	    (strcmp(type, "mcp_approval_request") == 0 && !approval_denied(c, item)))
		return 0;
	if (strcmp(type, "function_call_output") == 0) {
		flush_pending(c);
		return conv_function_output(c, item, where);
	}
	flush_media(c);
	if (strcmp(type, "function_call") == 0)
		return conv_function_call(c, item, where);
	if (strcmp(type, "mcp_call") == 0)
		return conv_mcp_call(c, item, where);
	if (strcmp(type, "mcp_approval_request") == 0)
		return conv_denied(c, item, where);
	flush_pending(c);
	if (strcmp(type, "message") == 0) {
		if (role == NULL)
			return api_error_bad(c->err, "input", "invalid_value", "%s: message without a role",
			                     where);
		if (strcmp(role, "assistant") == 0)
			return conv_assistant(c, item, where);
		if (strcmp(role, "user") == 0 || strcmp(role, "system") == 0 ||
		    strcmp(role, "developer") == 0)
			return conv_user(c, item, role, where);
		return api_error_bad(c->err, "input", "invalid_value", "%s: unknown message role '%s'", where,
		                     role);
	}
	if (strcmp(type, "item_reference") == 0)
		return api_error_bad(c->err, "input", "invalid_value",
		                     "%s: item_reference '%s' was not resolved", where,
		                     get_str(item, "id") ? get_str(item, "id") : "");
	if (strcmp(type, "compaction") == 0)
		return conv_compaction(c, item);
	return api_error_bad(c->err, "input", "unsupported_value", "%s: item type '%s' is not supported",
	                     where, type);
}

static json_t *
conv_tools(const json_t *tools)
{
	json_t *out = json_array(), *tool;
	size_t i;

	json_array_foreach (tools, i, tool) {
		json_t *fn = json_pack("{s:s}", "name", get_str(tool, "name") ? get_str(tool, "name") : "");
		json_t *v;

		v = json_object_get(tool, "description");
		if (json_is_string(v))
			json_object_set(fn, "description", v);
		v = json_object_get(tool, "parameters");
		if (json_is_object(v))
			json_object_set(fn, "parameters", v);
		v = json_object_get(tool, "strict");
		if (json_is_boolean(v))
			json_object_set(fn, "strict", v);
		json_array_append_new(out, json_pack("{s:s, s:o}", "type", "function", "function", fn));
	}
	return out;
}

static json_t *
conv_tool_choice(const struct conv *c, const json_t *choice, struct api_error *err)
{
	const char *type, *mode, *label, *name;
	char vbuf[UPSTREAM_MAX_NAME + 1];

	if (choice == NULL || json_is_null(choice))
		return json_string("auto");
	if (json_is_string(choice))
		return json_deep_copy(choice);
	type = get_str(choice, "type");
	if (type && strcmp(type, "function") == 0 && get_str(choice, "name"))
		return json_pack("{s:s, s:{s:s}}", "type", "function", "function", "name",
		                 get_str(choice, "name"));
	if (type && strcmp(type, "allowed_tools") == 0) {
		/* Every tool stays visible to the model (keeps its prompt cache); the turn suppresses calls
		 * to tools outside the list. */
		mode = get_str(choice, "mode");
		return json_string(mode ? mode : "auto");
	}
	label = get_str(choice, "server_label");
	if (type && strcmp(type, "mcp") == 0 && label != NULL) {
		/* The engine, which knows the server's tools, normally replaces this (extra->tool_choice);
		 * on its own the best Chat Completions can say is "call that tool" or "call a tool". */
		name = get_str(choice, "name");
		if (name == NULL)
			return json_string("required");
		return json_pack("{s:s, s:{s:s}}", "type", "function", "function", "name",
		                 mcp_visible(c, label, name, vbuf));
	}
	api_error_bad(err, "tool_choice", "invalid_value", "tool_choice of this form is not supported");
	return NULL;
}

static json_t *
conv_format(const json_t *format, struct api_error *err, int *ok)
{
	const char *type = get_str(format, "type");
	json_t *schema, *v;

	*ok = 1;
	if (format == NULL || type == NULL || strcmp(type, "text") == 0)
		return NULL;
	if (strcmp(type, "json_object") == 0)
		return json_pack("{s:s}", "type", "json_object");
	if (strcmp(type, "json_schema") == 0 && get_str(format, "name")) {
		schema = json_pack("{s:s, s:O, s:b}", "name", get_str(format, "name"), "schema",
		                   json_object_get(format, "schema") ? json_object_get(format, "schema")
		                                                     : json_null(),
		                   "strict", json_is_true(json_object_get(format, "strict")));
		v = json_object_get(format, "description");
		if (json_is_string(v))
			json_object_set(schema, "description", v);
		return json_pack("{s:s, s:o}", "type", "json_schema", "json_schema", schema);
	}
	*ok = 0;
	api_error_bad(err, "text.format", "invalid_value", "text.format of type '%s' is not supported", type);
	return NULL;
}

json_t *
upstream_chat_body(const struct request *req, const char *model, const json_t *items,
                   const struct upstream_extra *extra, struct api_error *err)
{
	struct conv c;
	json_t *body = json_object(), *v, *tools, *result = NULL;
	const json_t *item;
	size_t i, ntools;
	int ok;

	c.messages = json_array();
	c.last_assistant = NULL;
	c.pending = json_array();
	c.media = json_array();
	c.denied = json_object();
	c.called = json_object();
	c.req = req;
	c.extra = extra;
	c.err = err;

	if (model)
		json_object_set_new(body, "model", json_string(model));
	json_object_set_new(body, "messages", c.messages);
	if (req->instructions)
		json_array_append_new(
		        c.messages, json_pack("{s:s, s:s}", "role", "system", "content", req->instructions));
	scan_approvals(&c, items);
	json_array_foreach (items, i, item) {
		if (conv_item(&c, item, i) < 0)
			goto done;
	}
	flush_pending(&c);
	flush_media(&c);

	ntools = json_array_size(req->tools) + (extra != NULL ? json_array_size(extra->tools) : 0);
	if (ntools > 0) {
		tools = conv_tools(req->tools);
		if (extra != NULL) {
			json_array_foreach (extra->tools, i, item) {
				json_array_append_new(tools, json_deep_copy(item));
			}
		}
		json_object_set_new(body, "tools", tools);
		if (extra != NULL && extra->tool_choice != NULL)
			v = json_deep_copy(extra->tool_choice);
		else
			v = conv_tool_choice(&c, req->tool_choice, err);
		if (v == NULL)
			goto done;
		json_object_set_new(body, "tool_choice", v);
		if (!req->parallel_tool_calls)
			json_object_set_new(body, "parallel_tool_calls", json_false());
	}
	v = conv_format(req->text_format, err, &ok);
	if (!ok)
		goto done;
	if (v)
		json_object_set_new(body, "response_format", v);

	if (req->reasoning_effort)
		json_object_set_new(body, "reasoning_effort", json_string(req->reasoning_effort));
	if (req->max_output_tokens >= 0)
		json_object_set_new(body, "max_tokens", json_integer(req->max_output_tokens));
	if (req->has_temperature)
		json_object_set_new(body, "temperature", json_real(req->temperature));
	if (req->has_top_p)
		json_object_set_new(body, "top_p", json_real(req->top_p));
	if (req->has_presence_penalty)
		json_object_set_new(body, "presence_penalty", json_real(req->presence_penalty));
	if (req->has_frequency_penalty)
		json_object_set_new(body, "frequency_penalty", json_real(req->frequency_penalty));
	if ((req->include & REQUEST_INCLUDE_LOGPROBS) || req->top_logprobs > 0) {
		json_object_set_new(body, "logprobs", json_true());
		if (req->top_logprobs > 0)
			json_object_set_new(body, "top_logprobs", json_integer(req->top_logprobs));
	}
	json_object_set_new(body, "stream", json_true());
	json_object_set_new(body, "stream_options", json_pack("{s:b}", "include_usage", 1));
	result = body;
	body = NULL;
done:
	json_decref(c.pending);
	json_decref(c.media);
	json_decref(c.denied);
	json_decref(c.called);
	json_decref(body);
	return result;
}

/* Dates are converted to seconds rather than passed on as they came: one form for the caller to
 * read, and the same bound for both. The daemon and its callers share the host's clock. strptime's
 * day and month names are the C locale's: toolhostd never calls setlocale. */
long
upstream_retry_after(const char *value, time_t now)
{
	static const char *const formats[] = {
	        "%a, %d %b %Y %H:%M:%S GMT", /* IMF-fixdate */
	        "%A, %d-%b-%y %H:%M:%S GMT", /* RFC 850 */
	        "%a %b %e %H:%M:%S %Y",      /* asctime */
	};
	const char *p, *end;
	struct tm tm;
	time_t when;
	long secs = 0;
	size_t i;

	if (value == NULL)
		return -1;
	while (*value == ' ' || *value == '\t')
		value++;
	if (*value >= '0' && *value <= '9') {
		for (p = value; *p >= '0' && *p <= '9'; p++) {
			secs = secs * 10 + (*p - '0');
			if (secs > UPSTREAM_RETRY_AFTER_MAX)
				return -1;
		}
		while (*p == ' ' || *p == '\t')
			p++;
		return *p == '\0' ? secs : -1;
	}
	for (i = 0; i < sizeof formats / sizeof formats[0]; i++) {
		memset(&tm, 0, sizeof tm);
		end = strptime(value, formats[i], &tm);
		if (end == NULL)
			continue;
		while (*end == ' ' || *end == '\t')
			end++;
		if (*end != '\0')
			continue;
		when = timegm(&tm);
		if (when == (time_t)-1)
			return -1;
		if (when <= now)
			return 0;
		return when - now > UPSTREAM_RETRY_AFTER_MAX ? -1 : (long)(when - now);
	}
	return -1;
}
