#include "api/turn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/apierr.h"
#include "api/request.h"
#include "daemon/buf.h"
#include "daemon/log.h"
#include "daemon/redact.h"
#include "daemon/util.h"

/* Distinct tool calls one upstream turn may make; more is a runaway model or a hostile upstream. */
#define TURN_MAX_CALLS 128
/* Longest tool name or call id we take from the upstream (the spec caps both at 64). */
#define TURN_MAX_NAME 256
/* top_logprobs entries per token (the request caps top_logprobs at 20) and bytes per token. */
#define TURN_MAX_TOP_LOGPROBS 20
#define TURN_MAX_LP_BYTES     64
/* When the caller passes max_output_bytes 0: every upstream text still needs a cap. */
#define TURN_DEFAULT_MAX_BYTES (8u << 20)

enum call_state { CALL_PENDING, CALL_OPEN, CALL_SUPPRESSED, CALL_REFUSED, CALL_CLOSED };

/* One upstream tool call, keyed by its `index` in the chunks. */
struct call {
	long long index;
	int retired; /* a later call reused the index with another id: never matches again */
	enum call_state state;
	char *name;    /* NULL until the upstream sent it */
	char *call_id; /* the upstream's id, NULL until sent */
	enum turn_call_kind kind;
	struct buf args; /* everything received so far */
	json_t *item;    /* own reference while open (also held by response.output) */
	size_t output_index;
	char id[48];
};

enum part_kind { PART_NONE, PART_TEXT, PART_REFUSAL, PART_REASONING };

struct turn {
	json_t *response;
	const struct request *req;
	turn_emit_fn emit;
	void *ud;
	const struct redact *secrets; /* for upstream error texts; NULL: none */
	size_t max_bytes, used;
	size_t lp_count;
	int want_logprobs;
	int want_encrypted_reasoning; /* include: reasoning.encrypted_content */

	/* The open reasoning or message item, if any (never at the same time as an open call). */
	json_t *item; /* own reference */
	size_t item_index;
	char item_id[48];
	int item_reasoning;
	/* Its open content part. */
	enum part_kind part;
	json_t *part_json; /* own reference, also in item.content */
	size_t part_index;
	struct buf text;
	json_t *logprobs; /* the output_text part's logprobs array (borrowed from part_json) */

	struct call *calls;
	size_t ncalls;
	size_t nproduced; /* call items (function or MCP) opened this turn */

	turn_classify_fn classify;
	void *classify_ud;
	struct turn_mcp_item *mcp;
	size_t nmcp;
	json_t *refused; /* [{call_id, name, arguments}] */

	char finish[32];
	int finished;
	json_int_t usage_base[5]; /* input, output, total, cached, reasoning: response.usage at turn_new */
};

static void
emit(struct turn *t, json_t *ev)
{
	if (ev == NULL)
		return;
	if (t->emit)
		t->emit(t->ud, ev);
	else
		json_decref(ev);
}

static int
too_big(struct turn *t, struct api_error *err)
{
	return api_error_set(err, 502, "model_error", "upstream_output_too_large", NULL,
	                     "the upstream's output exceeds the limit of %zu bytes", t->max_bytes);
}

static int
malformed(struct api_error *err, const char *what)
{
	return api_error_set(err, 502, "model_error", "upstream_malformed", NULL,
	                     "the upstream sent a malformed chunk: %s", what);
}

/* Counts n bytes of upstream output against the turn's cap. */
static int
charge(struct turn *t, size_t n, struct api_error *err)
{
	if (n > t->max_bytes - t->used)
		return too_big(t, err);
	t->used += n;
	return 0;
}

static json_t *
output_array(struct turn *t)
{
	json_t *out = json_object_get(t->response, "output");

	if (!json_is_array(out)) {
		out = json_array();
		json_object_set_new(t->response, "output", out);
	}
	return out;
}

/* Appends item to response.output, which takes its own reference: the caller's stays with the turn. */
static size_t
output_append(struct turn *t, json_t *item)
{
	json_t *out = output_array(t);
	size_t idx = json_array_size(out);

	json_array_append(out, item);
	return idx;
}

/* Events are only built when someone listens: a non-streaming response would build and drop one
 * for every upstream delta. They share the item or part they show rather than copying it: the
 * emitter (turn_emit_fn) serialises an event before it returns, before anything changes. */
static void
emit_item_event(struct turn *t, const char *type, size_t index, const json_t *item)
{
	if (t->emit == NULL)
		return;
	emit(t, json_pack("{s:s, s:I, s:O}", "type", type, "output_index", (json_int_t)index, "item",
	                  (json_t *)item));
}

/* An event about the open part: {type, item_id, output_index, content_index} + the caller's keys.
 * NULL when nobody listens (non-streaming): callers decorate it only when it exists. */
static json_t *
part_event(struct turn *t, const char *type)
{
	if (t->emit == NULL)
		return NULL;
	return json_pack("{s:s, s:s, s:I, s:I}", "type", type, "item_id", t->item_id, "output_index",
	                 (json_int_t)t->item_index, "content_index", (json_int_t)t->part_index);
}

/* ---- message and reasoning items ---- */

static void
part_sync(struct turn *t)
{
	const char *key = t->part == PART_REFUSAL ? "refusal" : "text";

	json_object_set_new(t->part_json, key, json_stringn(t->text.data ? t->text.data : "", t->text.len));
}

static void
part_close(struct turn *t)
{
	json_t *ev;

	if (t->part == PART_NONE)
		return;
	part_sync(t);
	if (t->emit) {
		switch (t->part) {
		case PART_TEXT:
			ev = part_event(t, "response.output_text.done");
			json_object_set(ev, "text", json_object_get(t->part_json, "text"));
			json_object_set(ev, "logprobs", t->logprobs);
			break;
		case PART_REFUSAL:
			ev = part_event(t, "response.refusal.done");
			json_object_set(ev, "refusal", json_object_get(t->part_json, "refusal"));
			break;
		default:
			ev = part_event(t, "response.reasoning.done");
			json_object_set(ev, "text", json_object_get(t->part_json, "text"));
			break;
		}
		emit(t, ev);
		ev = part_event(t, "response.content_part.done");
		json_object_set(ev, "part", t->part_json);
		emit(t, ev);
	}
	json_decref(t->part_json);
	t->part_json = NULL;
	t->logprobs = NULL;
	t->part = PART_NONE;
	buf_reset(&t->text);
}

static void
part_open(struct turn *t, enum part_kind kind)
{
	json_t *content = json_object_get(t->item, "content"), *ev;

	switch (kind) {
	case PART_TEXT:
		t->logprobs = json_array();
		t->part_json = json_pack("{s:s, s:s, s:[], s:o}", "type", "output_text", "text", "",
		                         "annotations", "logprobs", t->logprobs);
		break;
	case PART_REFUSAL:
		t->part_json = json_pack("{s:s, s:s}", "type", "refusal", "refusal", "");
		break;
	default:
		t->part_json = json_pack("{s:s, s:s}", "type", "reasoning_text", "text", "");
		break;
	}
	t->part = kind;
	t->part_index = json_array_size(content);
	json_array_append(content, t->part_json);
	buf_reset(&t->text);
	ev = part_event(t, "response.content_part.added");
	if (ev) {
		json_object_set(ev, "part", t->part_json);
		emit(t, ev);
	}
}

/*
 * include: reasoning.encrypted_content. Chat Completions upstreams return reasoning as plain text,
 * which the caller already sees in "content", so there is nothing to keep secret: the value is an
 * opaque, round-trippable token ("thr1." + base64 of the reasoning text) that a stateless caller can
 * send back, as it would to OpenAI.
 */
static void
seal_reasoning(struct turn *t)
{
	struct buf all;
	json_t *part;
	size_t i;
	char *b64;

	buf_init(&all, 0);
	json_array_foreach (json_object_get(t->item, "content"), i, part) {
		const char *s = json_string_value(json_object_get(part, "text"));
		if (s)
			buf_appends(&all, s);
	}
	b64 = util_base64(all.data ? all.data : "", all.len);
	if (b64) {
		json_object_set_new(t->item, "encrypted_content", json_sprintf("thr1.%s", b64));
		free(b64);
	}
	buf_free(&all);
}

static void
item_close(struct turn *t, const char *status)
{
	if (t->item == NULL)
		return;
	part_close(t);
	if (t->item_reasoning && t->want_encrypted_reasoning)
		seal_reasoning(t);
	json_object_set_new(t->item, "status", json_string(status));
	emit_item_event(t, "response.output_item.done", t->item_index, t->item);
	json_decref(t->item);
	t->item = NULL;
}

static void
item_open(struct turn *t, int reasoning)
{
	if (reasoning) {
		util_new_id(t->item_id, sizeof t->item_id, "rs");
		t->item = json_pack("{s:s, s:s, s:s, s:[], s:[]}", "id", t->item_id, "type", "reasoning",
		                    "status", "in_progress", "summary", "content");
	} else {
		util_new_id(t->item_id, sizeof t->item_id, "msg");
		t->item = json_pack("{s:s, s:s, s:s, s:s, s:[]}", "id", t->item_id, "type", "message",
		                    "status", "in_progress", "role", "assistant", "content");
	}
	t->item_reasoning = reasoning;
	t->item_index = output_append(t, t->item);
	emit_item_event(t, "response.output_item.added", t->item_index, t->item);
}

/* ---- function_call items ---- */

static void
call_close(struct turn *t, struct call *c, const char *status)
{
	json_object_set_new(c->item, "arguments",
	                    json_stringn(c->args.data ? c->args.data : "", c->args.len));
	if (c->kind == TURN_CALL_MCP_APPROVAL) {
		emit_item_event(t, "response.output_item.done", c->output_index, c->item);
		goto closed;
	}
	if (c->kind == TURN_CALL_MCP) {
		/* The engine runs the call; its item stays open until the result is in. */
		if (strcmp(status, "completed") != 0)
			json_object_set_new(c->item, "status", json_string(status));
		if (t->emit)
			emit(t, json_pack("{s:s, s:s, s:I, s:O}", "type", "response.mcp_call_arguments.done",
			                  "item_id", c->id, "output_index", (json_int_t)c->output_index,
			                  "arguments", json_object_get(c->item, "arguments")));
		goto closed;
	}
	json_object_set_new(c->item, "status", json_string(status));
	if (t->emit)
		emit(t, json_pack("{s:s, s:s, s:I, s:O}", "type", "response.function_call_arguments.done",
		                  "item_id", c->id, "output_index", (json_int_t)c->output_index, "arguments",
		                  json_object_get(c->item, "arguments")));
	emit_item_event(t, "response.output_item.done", c->output_index, c->item);
closed:
	json_decref(c->item);
	c->item = NULL;
	c->state = CALL_CLOSED;
}

/* Closes the open calls in the order they were opened. */
static void
calls_close(struct turn *t, const char *status)
{
	for (;;) {
		struct call *first = NULL;
		size_t i;

		for (i = 0; i < t->ncalls; i++) {
			struct call *c = &t->calls[i];

			if (c->state == CALL_OPEN && (first == NULL || c->output_index < first->output_index))
				first = c;
		}
		if (first == NULL)
			return;
		call_close(t, first, status);
	}
}

static void
close_all(struct turn *t, const char *status)
{
	item_close(t, status);
	calls_close(t, status);
}

static void
emit_args_delta(struct turn *t, struct call *c, const char *s, size_t n)
{
	const char *type = c->kind == TURN_CALL_MCP ? "response.mcp_call_arguments.delta"
	                                            : "response.function_call_arguments.delta";

	/* An approval request carries its arguments whole, in output_item.done. */
	if (t->emit == NULL || c->kind == TURN_CALL_MCP_APPROVAL)
		return;
	emit(t, json_pack("{s:s, s:s, s:I, s:s%}", "type", type, "item_id", c->id, "output_index",
	                  (json_int_t)c->output_index, "delta", s, n));
}

static int
name_in(const json_t *tools, const char *name)
{
	const json_t *tool;
	size_t i;

	json_array_foreach (tools, i, tool) {
		const char *n = json_string_value(json_object_get(tool, "name"));

		if (n && strcmp(n, name) == 0)
			return 1;
	}
	return 0;
}

/* The hard constraints of tool_choice / allowed_tools / parallel_tool_calls (spec 1.8): a call the
 * request does not allow never becomes an item. */
static int
call_allowed(struct turn *t, const char *name)
{
	const struct request *req = t->req;
	const json_t *choice;
	const char *type;

	if (req == NULL)
		return 1;
	choice = req->tool_choice;
	if (json_is_string(choice) && strcmp(json_string_value(choice), "none") == 0)
		return 0;
	type = json_string_value(json_object_get(choice, "type"));
	if (type && strcmp(type, "allowed_tools") == 0) {
		const char *mode = json_string_value(json_object_get(choice, "mode"));

		if (mode && strcmp(mode, "none") == 0)
			return 0;
		if (!name_in(json_object_get(choice, "tools"), name))
			return 0;
	}
	/* A forced function is an allow-list of one. */
	if (type && strcmp(type, "function") == 0) {
		const char *forced = json_string_value(json_object_get(choice, "name"));

		if (forced && strcmp(forced, name) != 0)
			return 0;
	}
	return name_in(req->tools, name);
}

static int
valid_call_id(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 64)
		return 0;
	return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.:") == n;
}

/* The name the upstream chose, safe for one log line. */
static const char *
printable(const char *s, char *out, size_t outlen)
{
	size_t i;

	for (i = 0; s[i] && i + 1 < outlen; i++) {
		out[i] = s[i];
		if (!(s[i] > 0x20 && s[i] < 0x7f))
			out[i] = '?';
	}
	out[i] = '\0';
	return out;
}

/* What the call becomes: the classifier's word (when there is one), within tool_choice and
 * parallel_tool_calls for function calls. */
static enum turn_call_kind
call_kind(struct turn *t, struct call *c, struct turn_mcp_target *target)
{
	enum turn_call_kind kind = TURN_CALL_FUNCTION;

	memset(target, 0, sizeof *target);
	if (t->req && !t->req->parallel_tool_calls && t->nproduced > 0)
		return t->classify ? TURN_CALL_REFUSED : (enum turn_call_kind) - 1;
	if (t->classify)
		kind = t->classify(t->classify_ud, c->name, target);
	if (kind == TURN_CALL_FUNCTION && !call_allowed(t, c->name))
		return t->classify ? TURN_CALL_REFUSED : (enum turn_call_kind) - 1;
	if ((kind == TURN_CALL_MCP || kind == TURN_CALL_MCP_APPROVAL) &&
	    (target->server_label == NULL || target->name == NULL))
		return TURN_CALL_REFUSED;
	return kind;
}

static void
mcp_item_open(struct turn *t, struct call *c, const struct turn_mcp_target *target)
{
	struct turn_mcp_item *m;

	if (c->kind == TURN_CALL_MCP) {
		util_new_id(c->id, sizeof c->id, "mcp");
		c->item = json_pack("{s:s, s:s, s:s, s:s, s:s, s:n, s:n, s:n, s:s}", "id", c->id, "type",
		                    "mcp_call", "server_label", target->server_label, "name", target->name,
		                    "arguments", "", "output", "error", "approval_request_id", "status",
		                    "in_progress");
	} else {
		util_new_id(c->id, sizeof c->id, "mcpr");
		c->item = json_pack("{s:s, s:s, s:s, s:s, s:s}", "id", c->id, "type", "mcp_approval_request",
		                    "server_label", target->server_label, "name", target->name, "arguments",
		                    "");
	}
	c->output_index = output_append(t, c->item);
	t->mcp = xrealloc(t->mcp, (t->nmcp + 1) * sizeof *t->mcp);
	m = &t->mcp[t->nmcp++];
	m->item = json_incref(c->item);
	m->output_index = c->output_index;
	m->approval = c->kind == TURN_CALL_MCP_APPROVAL;
	emit_item_event(t, "response.output_item.added", c->output_index, c->item);
	if (c->kind == TURN_CALL_MCP && t->emit)
		emit(t, json_pack("{s:s, s:s, s:I}", "type", "response.mcp_call.in_progress", "item_id",
		                  c->id, "output_index", (json_int_t)c->output_index));
}

static void
call_open(struct turn *t, struct call *c)
{
	char gen[48];
	const char *call_id = c->call_id;
	struct turn_mcp_target target;
	enum turn_call_kind kind = call_kind(t, c, &target);

	if (kind == (enum turn_call_kind) - 1 || kind == TURN_CALL_REFUSED) {
		log_info("turn: refused a call to tool '%s' that the request does not allow",
		         printable(c->name, gen, sizeof gen));
		/* Without a classifier nobody tells the model: the arguments are not needed. */
		c->state = kind == TURN_CALL_REFUSED ? CALL_REFUSED : CALL_SUPPRESSED;
		if (c->state == CALL_SUPPRESSED)
			buf_free(&c->args);
		return;
	}
	item_close(t, "completed");
	c->kind = kind;
	c->state = CALL_OPEN;
	t->nproduced++;
	if (kind != TURN_CALL_FUNCTION) {
		mcp_item_open(t, c, &target);
	} else {
		/* The call id goes back to the upstream in the next turn's history; one we cannot
		 * carry (missing, empty, over the spec's 64 characters) is replaced by our own. */
		if (call_id == NULL || !valid_call_id(call_id)) {
			util_new_id(gen, sizeof gen, "call");
			call_id = gen;
		}
		util_new_id(c->id, sizeof c->id, "fc");
		c->item = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "id", c->id, "type", "function_call",
		                    "status", "in_progress", "call_id", call_id, "name", c->name, "arguments",
		                    "");
		c->output_index = output_append(t, c->item);
		emit_item_event(t, "response.output_item.added", c->output_index, c->item);
	}
	if (c->args.len > 0)
		emit_args_delta(t, c, c->args.data, c->args.len);
}

static struct call *
call_find(struct turn *t, long long index)
{
	size_t i;

	for (i = 0; i < t->ncalls; i++)
		if (!t->calls[i].retired && t->calls[i].index == index)
			return &t->calls[i];
	return NULL;
}

static struct call *
call_new(struct turn *t, long long index)
{
	struct call *c;

	t->calls = xrealloc(t->calls, (t->ncalls + 1) * sizeof *t->calls);
	c = &t->calls[t->ncalls++];
	memset(c, 0, sizeof *c);
	c->index = index;
	c->state = CALL_PENDING;
	buf_init(&c->args, 0);
	return c;
}

/* A string field of the upstream (NULL when absent or null); -1 when of another type. */
static int
opt_string(const json_t *o, const char *key, const char **s, size_t *n)
{
	const json_t *v = json_object_get(o, key);

	*s = NULL;
	*n = 0;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return -1;
	*s = json_string_value(v);
	*n = json_string_length(v);
	return 0;
}

static int
feed_tool_call(struct turn *t, const json_t *tc, size_t pos, struct api_error *err)
{
	const json_t *fn = json_object_get(tc, "function"), *jargs;
	const char *id, *name, *args = NULL;
	size_t idlen, namelen, argslen = 0;
	char *dumped = NULL;
	long long index = (long long)pos;
	struct call *c;
	int result = -1;

	if (!json_is_object(tc))
		return malformed(err, "a tool call is not an object");
	if (json_is_integer(json_object_get(tc, "index")))
		index = json_integer_value(json_object_get(tc, "index"));
	if (fn != NULL && !json_is_object(fn) && !json_is_null(fn))
		return malformed(err, "tool call function is not an object");
	if (opt_string(tc, "id", &id, &idlen) < 0 || opt_string(fn, "name", &name, &namelen) < 0)
		return malformed(err, "tool call id or name is not a string");
	if (idlen == 0)
		id = NULL;
	if (namelen == 0)
		name = NULL;
	if (idlen > TURN_MAX_NAME || namelen > TURN_MAX_NAME || (id && strlen(id) != idlen) ||
	    (name && strlen(name) != namelen))
		return malformed(err, "tool call id or name too long");
	jargs = json_object_get(fn, "arguments");
	if (json_is_string(jargs)) {
		args = json_string_value(jargs);
		argslen = json_string_length(jargs);
	} else if (json_is_object(jargs)) {
		/* Some servers hand the arguments over as an object instead of a JSON string. */
		dumped = json_dumps(jargs, JSON_COMPACT);
		args = dumped;
		argslen = dumped ? strlen(dumped) : 0;
	} else if (jargs != NULL && !json_is_null(jargs)) {
		return malformed(err, "tool call arguments are not a string");
	}

	c = call_find(t, index);
	/* A server that numbers every call 0 (or omits the index) still gives each call its own id. */
	if (c && id && c->call_id && strcmp(c->call_id, id) != 0 && c->name) {
		c->retired = 1;
		c = NULL;
	}
	if (c == NULL) {
		if (t->ncalls >= TURN_MAX_CALLS) {
			api_error_set(err, 502, "model_error", "upstream_output_too_large", NULL,
			              "the upstream made more than %d tool calls in one turn",
			              TURN_MAX_CALLS);
			goto done;
		}
		c = call_new(t, index);
	}
	if (id && c->call_id == NULL) {
		if (charge(t, idlen, err) < 0)
			goto done;
		c->call_id = xstrdup(id);
	}
	if (name && c->name == NULL) {
		if (charge(t, namelen, err) < 0)
			goto done;
		c->name = xstrdup(name);
	}
	if (c->state == CALL_PENDING && c->name)
		call_open(t, c);
	if (argslen > 0) {
		if (charge(t, argslen, err) < 0)
			goto done;
		switch (c->state) {
		case CALL_CLOSED:
			malformed(err, "tool call arguments after the call ended");
			goto done;
		case CALL_SUPPRESSED:
			break;
		case CALL_REFUSED:
			buf_append(&c->args, args, argslen);
			break;
		case CALL_OPEN:
			buf_append(&c->args, args, argslen);
			emit_args_delta(t, c, args, argslen);
			break;
		case CALL_PENDING:
			buf_append(&c->args, args, argslen);
			break;
		}
	}
	result = 0;
done:
	free(dumped);
	return result;
}

/* ---- text, refusal, reasoning ---- */

/* One upstream logprob entry -> a LogProb (new reference), or NULL when it is not one. */
static json_t *
map_logprob(const json_t *in, int with_top)
{
	const json_t *token = json_object_get(in, "token"), *lp = json_object_get(in, "logprob");
	const json_t *bytes = json_object_get(in, "bytes"), *top = json_object_get(in, "top_logprobs"), *v;
	json_t *out, *ob;
	size_t i;

	if (!json_is_string(token) || !json_is_number(lp))
		return NULL;
	ob = json_array();
	json_array_foreach (bytes, i, v) {
		if (i >= TURN_MAX_LP_BYTES || !json_is_integer(v))
			break;
		json_array_append_new(ob, json_integer(json_integer_value(v) & 0xff));
	}
	out = json_pack("{s:O, s:f, s:o}", "token", token, "logprob", json_number_value(lp), "bytes", ob);
	if (with_top) {
		json_t *tops = json_array();

		json_array_foreach (top, i, v) {
			json_t *e;

			if (i >= TURN_MAX_TOP_LOGPROBS)
				break;
			e = map_logprob(v, 0);
			if (e)
				json_array_append_new(tops, e);
		}
		json_object_set_new(out, "top_logprobs", tops);
	}
	return out;
}

/* choices[0].logprobs.content -> a new array of LogProb, or NULL when logprobs were not asked for. */
static json_t *
map_logprobs(struct turn *t, const json_t *choice, struct api_error *err, int *fail)
{
	const json_t *content = json_object_get(json_object_get(choice, "logprobs"), "content"), *v;
	json_t *out;
	size_t i;

	*fail = 0;
	if (!t->want_logprobs || !json_is_array(content))
		return NULL;
	out = json_array();
	json_array_foreach (content, i, v) {
		json_t *e = map_logprob(v, 1);

		if (e == NULL)
			continue;
		/* Each entry is at least a token: the same budget as the text bounds their number. */
		if (t->lp_count >= t->max_bytes) {
			json_decref(e);
			json_decref(out);
			*fail = 1;
			too_big(t, err);
			return NULL;
		}
		t->lp_count++;
		json_array_append_new(out, e);
	}
	return out;
}

/* Text (PART_TEXT, with the chunk's logprobs) or refusal text. */
static int
add_message_text(struct turn *t, enum part_kind kind, const char *s, size_t n, const json_t *lp,
                 struct api_error *err)
{
	json_t *ev;

	if (n == 0)
		return 0;
	if (charge(t, n, err) < 0)
		return -1;
	if (t->item == NULL || t->item_reasoning) {
		close_all(t, "completed");
		item_open(t, 0);
	}
	if (t->part != kind) {
		part_close(t);
		part_open(t, kind);
	}
	buf_append(&t->text, s, n);
	if (kind == PART_REFUSAL) {
		ev = part_event(t, "response.refusal.delta");
		if (ev) {
			json_object_set_new(ev, "delta", json_stringn(s, n));
			emit(t, ev);
		}
		return 0;
	}
	if (lp)
		json_array_extend(t->logprobs, (json_t *)lp);
	ev = part_event(t, "response.output_text.delta");
	if (ev) {
		json_object_set_new(ev, "delta", json_stringn(s, n));
		json_object_set_new(ev, "logprobs", lp ? json_incref((json_t *)lp) : json_array());
		emit(t, ev);
	}
	return 0;
}

static int
add_reasoning(struct turn *t, const char *s, size_t n, struct api_error *err)
{
	json_t *ev;

	if (n == 0)
		return 0;
	if (charge(t, n, err) < 0)
		return -1;
	if (t->item == NULL || !t->item_reasoning) {
		close_all(t, "completed");
		item_open(t, 1);
		part_open(t, PART_REASONING);
	}
	buf_append(&t->text, s, n);
	ev = part_event(t, "response.reasoning.delta");
	if (ev) {
		json_object_set_new(ev, "delta", json_stringn(s, n));
		emit(t, ev);
	}
	return 0;
}

/* Content given as parts (Mistral's {type:"text"} / {type:"thinking"} arrays). */
static int
add_content_parts(struct turn *t, const json_t *parts, const json_t *logprobs, struct api_error *err)
{
	const json_t *p, *v, *sub, *lp = logprobs;
	size_t i, j;

	json_array_foreach (parts, i, p) {
		const char *type = json_string_value(json_object_get(p, "type"));

		if (type == NULL)
			continue;
		v = json_object_get(p, strcmp(type, "thinking") == 0 ? "thinking" : "text");
		if (strcmp(type, "text") == 0 && json_is_string(v)) {
			if (add_message_text(t, PART_TEXT, json_string_value(v), json_string_length(v), lp,
			                     err) < 0)
				return -1;
			lp = NULL;
		} else if (strcmp(type, "thinking") == 0) {
			if (json_is_string(v) &&
			    add_reasoning(t, json_string_value(v), json_string_length(v), err) < 0)
				return -1;
			json_array_foreach (v, j, sub) {
				const json_t *s = json_object_get(sub, "text");

				if (json_is_string(s) &&
				    add_reasoning(t, json_string_value(s), json_string_length(s), err) < 0)
					return -1;
			}
		}
	}
	return 0;
}

/* One choice: its delta (streaming) or message (whole completion). */
static int
feed_choice(struct turn *t, const json_t *choice, const char *key, struct api_error *err)
{
	const json_t *delta = json_object_get(choice, key), *content, *tcs, *tc;
	const char *s, *finish;
	size_t n, i;
	json_t *lp = NULL;
	int result = -1, fail;

	if (!json_is_object(choice))
		return malformed(err, "a choice is not an object");
	if (delta != NULL && !json_is_object(delta) && !json_is_null(delta))
		return malformed(err, "delta is not an object");

	/* Reasoning first: servers that send both fields in one chunk send the same text twice. */
	if (opt_string(delta, "reasoning_content", &s, &n) < 0 || n == 0)
		opt_string(delta, "reasoning", &s, &n);
	if (add_reasoning(t, s, n, err) < 0)
		goto done;

	lp = map_logprobs(t, choice, err, &fail);
	if (fail)
		goto done;
	content = json_object_get(delta, "content");
	if (json_is_array(content)) {
		if (add_content_parts(t, content, lp, err) < 0)
			goto done;
	} else if (opt_string(delta, "content", &s, &n) < 0) {
		malformed(err, "content is not a string");
		goto done;
	} else if (add_message_text(t, PART_TEXT, s, n, lp, err) < 0) {
		goto done;
	}
	if (opt_string(delta, "refusal", &s, &n) < 0) {
		malformed(err, "refusal is not a string");
		goto done;
	}
	if (add_message_text(t, PART_REFUSAL, s, n, NULL, err) < 0)
		goto done;

	tcs = json_object_get(delta, "tool_calls");
	if (tcs != NULL && !json_is_array(tcs) && !json_is_null(tcs)) {
		malformed(err, "tool_calls is not an array");
		goto done;
	}
	json_array_foreach (tcs, i, tc) {
		if (feed_tool_call(t, tc, i, err) < 0)
			goto done;
	}

	finish = json_string_value(json_object_get(choice, "finish_reason"));
	if (finish && *finish) {
		snprintf(t->finish, sizeof t->finish, "%s", finish);
		t->finished = 1;
	}
	result = 0;
done:
	json_decref(lp);
	return result;
}

/* ---- usage ---- */

static json_int_t
usage_int(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);
	json_int_t n = 0;

	if (json_is_integer(v))
		n = json_integer_value(v);
	else if (json_is_real(v) && json_real_value(v) >= 0 && json_real_value(v) < 1e15)
		n = (json_int_t)json_real_value(v);
	/* A hostile count must not overflow the sums. */
	if (n < 0 || n > 1000000000000000LL)
		n = 0;
	return n;
}

/* The turn's usage replaces any earlier usage of the same turn (some servers repeat a running total
 * on every chunk) and adds to what earlier turns of the response used. */
static void
apply_usage(struct turn *t, const json_t *u)
{
	json_int_t in = usage_int(u, "prompt_tokens"), out = usage_int(u, "completion_tokens");
	json_int_t total = usage_int(u, "total_tokens");
	json_int_t cached = usage_int(json_object_get(u, "prompt_tokens_details"), "cached_tokens");
	json_int_t reasoning = usage_int(json_object_get(u, "completion_tokens_details"), "reasoning_tokens");
	const json_int_t *b = t->usage_base;

	if (total == 0)
		total = in + out;
	json_object_set_new(t->response, "usage",
	                    json_pack("{s:I, s:I, s:I, s:{s:I}, s:{s:I}}", "input_tokens", b[0] + in,
	                              "output_tokens", b[1] + out, "total_tokens", b[2] + total,
	                              "input_tokens_details", "cached_tokens", b[3] + cached,
	                              "output_tokens_details", "reasoning_tokens", b[4] + reasoning));
}

/* ---- the API ---- */

struct turn *
turn_new(json_t *response, const struct request *req, size_t max_output_bytes, turn_emit_fn emit_fn, void *ud)
{
	struct turn *t = xcalloc(1, sizeof *t);
	const json_t *u = json_object_get(response, "usage");

	t->response = response;
	t->req = req;
	t->emit = emit_fn;
	t->ud = ud;
	t->max_bytes = max_output_bytes ? max_output_bytes : TURN_DEFAULT_MAX_BYTES;
	t->want_logprobs = req && ((req->include & REQUEST_INCLUDE_LOGPROBS) || req->top_logprobs > 0);
	t->want_encrypted_reasoning = req && (req->include & REQUEST_INCLUDE_REASONING_ENCRYPTED);
	buf_init(&t->text, 0);
	t->refused = json_array();
	t->usage_base[0] = usage_int(u, "input_tokens");
	t->usage_base[1] = usage_int(u, "output_tokens");
	t->usage_base[2] = usage_int(u, "total_tokens");
	t->usage_base[3] = usage_int(json_object_get(u, "input_tokens_details"), "cached_tokens");
	t->usage_base[4] = usage_int(json_object_get(u, "output_tokens_details"), "reasoning_tokens");
	return t;
}

void
turn_free(struct turn *t)
{
	size_t i;

	if (t == NULL)
		return;
	json_decref(t->part_json);
	json_decref(t->item);
	buf_free(&t->text);
	for (i = 0; i < t->ncalls; i++) {
		json_decref(t->calls[i].item);
		free(t->calls[i].name);
		free(t->calls[i].call_id);
		buf_free(&t->calls[i].args);
	}
	free(t->calls);
	for (i = 0; i < t->nmcp; i++)
		json_decref(t->mcp[i].item);
	free(t->mcp);
	json_decref(t->refused);
	free(t);
}

void
turn_set_classifier(struct turn *t, turn_classify_fn fn, void *ud)
{
	t->classify = fn;
	t->classify_ud = ud;
}

void
turn_set_secrets(struct turn *t, const struct redact *secrets)
{
	t->secrets = secrets;
}

size_t
turn_mcp_count(const struct turn *t)
{
	return t->nmcp;
}

const struct turn_mcp_item *
turn_mcp_at(const struct turn *t, size_t i)
{
	return i < t->nmcp ? &t->mcp[i] : NULL;
}

const json_t *
turn_refused(const struct turn *t)
{
	return t->refused;
}

/* {"error": ...} or vLLM's {"object":"error", "message": ...}. */
static int
upstream_error(const struct turn *t, const json_t *chunk, struct api_error *err)
{
	const json_t *e = json_object_get(chunk, "error");
	const char *msg = NULL;
	char *clean;
	int rc;

	if (e == NULL)
		e = chunk;
	if (json_is_string(e))
		msg = json_string_value(e);
	else
		msg = json_string_value(json_object_get(e, "message"));
	/* Redacted before the cut: a secret cut in two would no longer be recognised. */
	clean = redact_strdup(t->secrets, msg);
	rc = api_error_set(err, 502, "model_error", "upstream_error", NULL, "upstream error: %.300s",
	                   clean ? clean : "(no message)");
	free(clean);
	return rc;
}

static int
feed_object(struct turn *t, const json_t *obj, const char *key, struct api_error *err)
{
	const json_t *choices, *choice, *usage, *idx;
	const char *object;
	size_t i;

	if (!json_is_object(obj))
		return malformed(err, "not a JSON object");
	object = json_string_value(json_object_get(obj, "object"));
	if ((json_object_get(obj, "error") && !json_is_null(json_object_get(obj, "error"))) ||
	    (object && strcmp(object, "error") == 0))
		return upstream_error(t, obj, err);
	usage = json_object_get(obj, "usage");
	if (json_is_object(usage))
		apply_usage(t, usage);
	choices = json_object_get(obj, "choices");
	if ((choices == NULL || json_is_null(choices)) && json_is_object(usage))
		return 0;
	if (!json_is_array(choices))
		return malformed(err, "choices is not an array");
	json_array_foreach (choices, i, choice) {
		idx = json_object_get(choice, "index");
		/* n > 1 is never requested; other choices are not ours to show. */
		if (json_is_integer(idx) && json_integer_value(idx) != 0)
			continue;
		if (idx == NULL && i > 0)
			continue;
		if (feed_choice(t, choice, key, err) < 0)
			return -1;
	}
	return 0;
}

int
turn_feed(struct turn *t, const json_t *chunk, struct api_error *err)
{
	return feed_object(t, chunk, "delta", err);
}

int
turn_feed_completion(struct turn *t, const json_t *completion, struct api_error *err)
{
	return feed_object(t, completion, "message", err);
}

void
turn_finish(struct turn *t, enum turn_end *end)
{
	const char *status = "completed";
	size_t i;

	if (!t->finished)
		*end = TURN_END_NO_FINISH;
	else if (strcmp(t->finish, "length") == 0)
		*end = TURN_END_LENGTH;
	else if (strcmp(t->finish, "content_filter") == 0)
		*end = TURN_END_CONTENT_FILTER;
	else if (t->nproduced > 0)
		*end = TURN_END_TOOL_CALLS;
	else
		*end = TURN_END_STOP;
	/* Spec "Items are state machines": an item cut by the token budget ends incomplete. */
	if (*end == TURN_END_LENGTH || *end == TURN_END_CONTENT_FILTER)
		status = "incomplete";
	close_all(t, status);
	for (i = 0; i < t->ncalls; i++) {
		struct call *c = &t->calls[i];
		char gen[48];

		if (c->state == CALL_PENDING) {
			log_warnx("turn: dropped a tool call that never got a name");
			c->state = CALL_SUPPRESSED;
		} else if (c->state == CALL_REFUSED) {
			const char *id = c->call_id;

			/* The id goes back to the upstream with the refusal: one it can take. */
			if (id == NULL || !valid_call_id(id)) {
				util_new_id(gen, sizeof gen, "call");
				id = gen;
			}
			json_array_append_new(t->refused,
			                      json_pack("{s:s, s:s, s:s%}", "call_id", id, "name", c->name,
			                                "arguments", c->args.data ? c->args.data : "",
			                                c->args.len));
			c->state = CALL_SUPPRESSED;
		}
	}
}

void
turn_abort(struct turn *t)
{
	size_t i;

	if (t->item) {
		if (t->part != PART_NONE)
			part_sync(t);
		json_object_set_new(t->item, "status", json_string("incomplete"));
		json_decref(t->part_json);
		t->part_json = NULL;
		t->logprobs = NULL;
		t->part = PART_NONE;
		json_decref(t->item);
		t->item = NULL;
	}
	for (i = 0; i < t->ncalls; i++) {
		struct call *c = &t->calls[i];

		if (c->state != CALL_OPEN)
			continue;
		json_object_set_new(c->item, "arguments",
		                    json_stringn(c->args.data ? c->args.data : "", c->args.len));
		if (c->kind != TURN_CALL_MCP_APPROVAL)
			json_object_set_new(c->item, "status", json_string("incomplete"));
		json_decref(c->item);
		c->item = NULL;
		c->state = CALL_CLOSED;
	}
}
