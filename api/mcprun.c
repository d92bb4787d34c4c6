#include "api/mcprun.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/apierr.h"
#include "api/approvals.h"
#include "api/ophub.h"
#include "api/policy.h"
#include "api/request.h"
#include "api/toolmap.h"
#include "api/upstream.h"
#include "daemon/config.h"
#include "daemon/log.h"
#include "daemon/redact.h"
#include "daemon/util.h"
#include "mcpclient/mcpclient.h"
#include "store/store.h"

/* Tools imported from one server; a listing longer than this is cut (a model cannot use more). */
#define MCPRUN_MAX_TOOLS 256
/* Text of one tool result handed to the model and kept in the item. */
#define MCPRUN_MAX_OUTPUT ((size_t)1 << 20)
/* One imported tool (name, description, schema, annotations) as JSON, and all of a server's: each
 * is copied into the listing item, its events, the stored response and every model turn. */
#define MCPRUN_MAX_TOOL_BYTES    ((size_t)64 * 1024)
#define MCPRUN_MAX_LISTING_BYTES ((size_t)1 << 20)
/* An error's content kept in mcp_call.error (the whole result can be large). */
#define MCPRUN_MAX_ERROR_CONTENT ((size_t)64 * 1024)
/* What the operator is shown of a waiting call: its arguments (the hash covers them all), and the
 * model's text before it. */
#define MCPRUN_MAX_SHOWN_ARGS ((size_t)256 * 1024)
#define MCPRUN_MAX_SHOWN_TEXT ((size_t)4096)

struct run_server {
	struct mcp_run *run;
	size_t index;
	struct policy_server ps;
	json_t *tools;     /* imported MCP Tool objects (owned) */
	struct mcp_op *op; /* the listing in flight */
	json_t *list_item; /* the mcp_list_tools item this response emits, or NULL when reused */
	char *shown_url;   /* ps.url without user info or query, for the audit log */
	size_t list_index;
};

/* An mcp_call in flight. */
struct run_call {
	struct run_call *next;
	struct mcp_run *run;
	struct mcp_op *op;
	json_t *item; /* own reference; also in response.output */
	size_t output_index;
	size_t server;
	char *approval_id;       /* or NULL */
	char *decided_by;        /* or NULL */
	int claimed;             /* it holds its approval's claim: the row is running until the call ends */
	struct ophub_wait *wait; /* waiting for an operator's decision, or NULL */
	uint64_t started_ms;
	int64_t audit_id; /* its "in_progress" audit row, 0 when none was written */
};

/* approve_response: this tool runs without asking for the rest of the response. */
struct run_grant {
	size_t server;
	char *tool;
	char *by;
};

/* An approved call waiting for the listing. */
struct run_approved {
	char *approval_id;
	char *decided_by;
	size_t server;
	char *tool;
	char *arguments;
};

struct mcp_run {
	struct mcp_run_env env;
	char *response_id;
	char *identity;
	char *client; /* env->caller_client, copied */
	const struct request *req;
	const json_t *context; /* borrowed: the whole context */
	struct run_server *servers;
	size_t nservers;
	struct toolmap *map;
	json_t *chat_tools;
	json_t *tool_choice; /* Chat Completions tool_choice for {type:"mcp"}, or NULL */
	int64_t budget;      /* -1: none */
	int64_t used;
	int budget_hit;
	struct run_approved *approved;
	size_t napproved;
	struct run_call *calls; /* in flight */
	size_t pending;         /* listings or calls in flight */
	mcp_run_done_fn done;
	void *done_ud;
	int prepared; /* listing finished: the map is built */
	int cancelled;
	struct run_grant *grants;
	size_t ngrants;
	size_t waiting;         /* calls waiting for an operator */
	uint64_t wait_since_ms; /* when waiting last went from 0 to 1 */
	uint64_t wait_ms;       /* waited before that */
};

static void
emit(struct mcp_run *run, json_t *event)
{
	if (run->env.emit)
		run->env.emit(run->env.ud, event);
	else
		json_decref(event);
}

static void
emit_item(struct mcp_run *run, const char *type, size_t index, const json_t *item)
{
	if (run->env.emit == NULL)
		return;
	/* Shared, not copied: the emitter serialises the event before it returns. */
	emit(run, json_pack("{s:s, s:I, s:O}", "type", type, "output_index", (json_int_t)index, "item",
	                    (json_t *)item));
}

static void
emit_mcp(struct mcp_run *run, const char *type, const json_t *item, size_t index)
{
	if (run->env.emit == NULL)
		return;
	emit(run, json_pack("{s:s, s:O, s:I}", "type", type, "item_id", json_object_get(item, "id"),
	                    "output_index", (json_int_t)index));
}

static size_t
output_append(struct mcp_run *run, json_t *item)
{
	json_t *out = json_object_get(run->env.response, "output");
	size_t idx = json_array_size(out);

	json_array_append(out, item);
	return idx;
}

static struct run_server *
server_by_label(struct mcp_run *run, const char *label)
{
	size_t i;

	for (i = 0; label && i < run->nservers; i++)
		if (strcmp(run->servers[i].ps.label, label) == 0)
			return &run->servers[i];
	return NULL;
}

static void
to_mcp_server(const struct run_server *s, struct mcp_server *out)
{
	memset(out, 0, sizeof *out);
	out->url = s->ps.url;
	out->headers = (const char *const *)s->ps.headers;
	out->timeout_ms = s->ps.timeout_ms;
	out->cache_ttl_s = s->ps.cache_ttl_s;
}

/* ---- the audit log ---- */

/* One audit row (and one log line) per MCP call made or refused; shown_url (redacted) may be NULL.
 * With start_id, the row of a call about to be sent: written as "in_progress" and committed before
 * this returns (store_audit_start), its id in *start_id (0 when it could not be written). */
static void
audit_row(struct mcp_run *run, const char *label, const char *shown_url, const char *tool,
          const char *arguments, const char *outcome, const char *error, uint64_t duration_ms,
          const char *approval_id, const char *decided_by, int64_t *start_id)
{
	struct store_audit row;
	char hash[65];

	util_sha256_hex(arguments ? arguments : "", arguments ? strlen(arguments) : 0, hash);
	memset(&row, 0, sizeof row);
	row.at_ms = util_wall_s() * 1000;
	row.response_id = run->response_id;
	row.caller = run->identity;
	row.server_label = label;
	row.server_url = shown_url;
	row.tool = tool;
	row.args_bytes = arguments ? (int64_t)strlen(arguments) : 0;
	row.args_sha256 = hash;
	row.outcome = outcome;
	row.error = error;
	row.duration_ms = (int64_t)duration_ms;
	row.approval_id = approval_id;
	row.decided_by = decided_by;
	if (start_id) {
		*start_id = 0;
		if (run->env.store && store_audit_start(run->env.store, &row, start_id) < 0)
			log_err("%s: could not write the MCP audit row of a call: %s", run->response_id,
			        store_errmsg(run->env.store));
		return;
	}
	if (run->env.store && store_audit_add(run->env.store, &row) < 0)
		log_err("%s: could not write the MCP audit row: %s", run->response_id,
		        store_errmsg(run->env.store));
	/* The audit row is the record; a log line per call would cost more than the call at load. */
	log_debug("%s: mcp %s %s/%s%s%s", run->response_id, outcome, label ? label : "-", tool ? tool : "-",
	          error ? ": " : "", error ? error : "");
}

static void
audit(struct mcp_run *run, const struct run_server *srv, const char *tool, const char *arguments,
      const char *outcome, const char *error, uint64_t duration_ms, const char *approval_id,
      const char *decided_by)
{
	audit_row(run, srv->ps.label, srv->shown_url, tool, arguments, outcome, error, duration_ms,
	          approval_id, decided_by, NULL);
}

/* The end of a call: completes its started row, or writes the whole row when it has none (a call
 * refused before it was sent, or whose start row could not be written). */
static void
audit_call(struct mcp_run *run, struct run_call *c, const char *outcome, const char *error,
           uint64_t duration_ms)
{
	const char *tool = json_string_value(json_object_get(c->item, "name"));

	if (c->claimed && approvals_finish(run->env.store, c->approval_id) < 0)
		log_err("%s: could not mark approval %s done: %s", run->response_id, c->approval_id,
		        store_errmsg(run->env.store));
	c->claimed = 0;
	if (c->audit_id > 0 && run->env.store) {
		int rc = store_audit_end(run->env.store, c->audit_id, outcome, error, (int64_t)duration_ms);

		if (rc < 0)
			log_err("%s: could not complete the MCP audit row: %s", run->response_id,
			        store_errmsg(run->env.store));
		if (rc <= 0) {
			log_debug("%s: mcp %s %s/%s%s%s", run->response_id, outcome,
			          run->servers[c->server].ps.label, tool ? tool : "-", error ? ": " : "",
			          error ? error : "");
			return;
		}
		/* Its row is no longer open (another process swept it): the outcome gets a row of its own. */
		log_warnx("%s: the MCP audit row of a call was closed before the call ended",
		          run->response_id);
	}
	audit(run, &run->servers[c->server], tool, json_string_value(json_object_get(c->item, "arguments")),
	      outcome, error, duration_ms, c->approval_id, c->decided_by);
}

/* A JSON string of s even when a byte cap cut it inside a UTF-8 sequence (at most 3 bytes of a
 * character left over): s without them, or a fixed text when s is not UTF-8 at all. */
static json_t *
safe_string(const char *s)
{
	size_t n = s ? strlen(s) : 0, drop;
	json_t *v;

	for (drop = 0; drop < 4 && drop <= n; drop++) {
		v = json_stringn(s ? s : "", n - drop);
		if (v)
			return v;
	}
	return json_string("(no readable text)");
}

/* ---- the caller's answers to approval requests (api/approvals) ---- */

static const char *
server_url_of(void *ud, const char *label)
{
	struct run_server *srv = server_by_label(ud, label);

	return srv ? srv->ps.url : NULL;
}

/* Records the answers of the request's input; approved calls wait in run->approved for the listing. */
static int
take_answers(struct mcp_run *run, const json_t *context, struct api_error *err)
{
	struct approval_answer *answers;
	int i, n = approvals_answer(run->env.store, run->identity, run->req->input, context, server_url_of,
	                            run, &answers, err);

	if (n < 0)
		return -1;
	run->approved = xcalloc((size_t)n + 1, sizeof *run->approved);
	for (i = 0; i < n; i++) {
		const struct approval_answer *ans = &answers[i];
		struct run_server *srv = server_by_label(run, ans->server_label);
		struct run_approved *a;

		switch (ans->verdict) {
		case APPROVAL_VERDICT_NONE:
			break;
		case APPROVAL_VERDICT_DENIED:
			/* The label of the request item: this request need not name that server. */
			audit_row(run, ans->server_label, srv ? srv->shown_url : NULL, ans->tool,
			          ans->arguments, "denied", ans->reason, 0, ans->id, run->identity, NULL);
			break;
		case APPROVAL_VERDICT_RUN:
			a = &run->approved[run->napproved++];
			a->approval_id = xstrdup(ans->id);
			a->decided_by = xstrdup(run->identity);
			a->server = srv->index; /* approvals_answer checked that the request names it */
			a->tool = xstrdup(ans->tool);
			a->arguments = xstrdup(ans->arguments);
			break;
		}
	}
	free(answers);
	return 0;
}

/* ---- operator approvals (api/ophub) ---- */

static void
waiting_add(struct mcp_run *run)
{
	if (run->waiting++ == 0)
		run->wait_since_ms = util_mono_ms();
}

static void
waiting_sub(struct mcp_run *run)
{
	if (run->waiting > 0 && --run->waiting == 0)
		run->wait_ms += util_mono_ms() - run->wait_since_ms;
}

size_t
mcp_run_waiting(const struct mcp_run *run)
{
	return run ? run->waiting : 0;
}

uint64_t
mcp_run_wait_ms(const struct mcp_run *run)
{
	if (run == NULL)
		return 0;
	return run->wait_ms + (run->waiting ? util_mono_ms() - run->wait_since_ms : 0);
}

/* The caller went away while c waited: its approval is abandoned and the call never runs. */
static void
abandon(struct mcp_run *run, struct run_call *c)
{
	ophub_wait_abandon(c->wait, "the response was cancelled or its caller went away");
	c->wait = NULL;
	waiting_sub(run);
	audit_call(run, c, "cancelled", "the operator's decision was not waited for", 0);
}

static const struct run_grant *
granted(const struct mcp_run *run, size_t server, const char *tool)
{
	size_t i;

	for (i = 0; i < run->ngrants; i++)
		if (run->grants[i].server == server && strcmp(run->grants[i].tool, tool) == 0)
			return &run->grants[i];
	return NULL;
}

static void
grant_add(struct mcp_run *run, size_t server, const char *tool, const char *by)
{
	if (granted(run, server, tool))
		return;
	run->grants = xrealloc(run->grants, (run->ngrants + 1) * sizeof *run->grants);
	run->grants[run->ngrants].server = server;
	run->grants[run->ngrants].tool = xstrdup(tool);
	run->grants[run->ngrants].by = xstrdup(by);
	run->ngrants++;
}

enum gate {
	GATE_RUN,        /* no approval needed, or given already (a grant, an always-rule) */
	GATE_ASK_CALLER, /* an mcp_approval_request */
	GATE_WAIT,       /* wait for an operator */
	GATE_NO_OPERATOR /* operator mode, nobody watching, no_operator "deny" */
};

/* Who decides a call of tool at s. For GATE_RUN by a grant or a rule, *decided_by (malloc'd) names it;
 * count: a rule that matches counts the hit (once per call: not when only classifying). */
static enum gate
gate(struct mcp_run *run, const struct run_server *s, const json_t *tool, int count, char **decided_by)
{
	const char *name = json_string_value(json_object_get(tool, "name"));
	const struct run_grant *g;
	char def_hash[65], target[65], *rule = NULL;

	*decided_by = NULL;
	if (!policy_needs_approval(&s->ps, tool))
		return GATE_RUN;
	if (!s->ps.by_operator)
		return GATE_ASK_CALLER;
	if ((g = granted(run, s->index, name)) != NULL) {
		*decided_by = xstrdup(g->by);
		return GATE_RUN;
	}
	free(approvals_definition(tool, def_hash));
	util_sha256_hex(s->ps.url, strlen(s->ps.url), target);
	if (store_rule_match(run->env.store, target, name, def_hash, util_wall_s(), count, &rule) == 0) {
		*decided_by = xasprintf("rule:%s", rule);
		free(rule);
		return GATE_RUN;
	}
	if (ophub_watchers(run->env.hub) == 0)
		return s->ps.no_operator_to_caller ? GATE_ASK_CALLER : GATE_NO_OPERATOR;
	return GATE_WAIT;
}

/* The model's last text in this response before the call, for the operator (capped), or NULL. */
static json_t *
model_text_before(const struct mcp_run *run)
{
	const json_t *out = json_object_get(run->env.response, "output"), *item, *part;
	size_t i, j;

	for (i = json_array_size(out); i-- > 0;) {
		const char *type;

		item = json_array_get(out, i);
		type = json_string_value(json_object_get(item, "type"));
		if (type == NULL || strcmp(type, "message") != 0)
			continue;
		json_array_foreach (json_object_get(item, "content"), j, part) {
			const char *text = json_string_value(json_object_get(part, "text"));

			if (text && *text) {
				size_t n = strlen(text);
				char *cut = n > MCPRUN_MAX_SHOWN_TEXT
				                    ? xstrdup(text + n - MCPRUN_MAX_SHOWN_TEXT)
				                    : NULL;
				json_t *v = safe_string(cut ? cut : text);

				free(cut);
				return v;
			}
		}
	}
	return NULL;
}

/* What the operator is shown of c (APPROVALS-NOTES 2), as JSON text. */
static char *
operator_detail(struct mcp_run *run, struct run_call *c, const struct run_server *s, const json_t *tool,
                const char *definition, const char *target, const char *def_hash, unsigned expiry_s)
{
	const char *args = json_string_value(json_object_get(c->item, "arguments"));
	const char *name = json_string_value(json_object_get(tool, "name"));
	char *shown = redact_strdup(run->env.secrets, args ? args : ""), *old_rule = NULL, *old_def = NULL;
	json_t *d = json_object(), *v;
	char *text;

	if (strlen(shown) > MCPRUN_MAX_SHOWN_ARGS) {
		shown[MCPRUN_MAX_SHOWN_ARGS] = '\0';
		json_object_set_new(d, "arguments_truncated", json_true());
	}
	json_object_set_new(d, "arguments", safe_string(shown));
	json_object_set_new(d, "arguments_bytes", json_integer(args ? (json_int_t)strlen(args) : 0));
	json_object_set_new(d, "call_id", json_copy(json_object_get(c->item, "id")));
	json_object_set_new(d, "caller", json_string(run->identity));
	if (run->client)
		json_object_set_new(d, "client", safe_string(run->client));
	if (run->env.model)
		json_object_set_new(d, "model", safe_string(run->env.model));
	if (s->shown_url)
		json_object_set_new(d, "server_url", json_string(s->shown_url));
	json_object_set_new(d, "why", json_string(policy_approval_reason(&s->ps, tool)));
	json_object_set_new(d, "expiry_s", json_integer(expiry_s));
	json_object_set_new(d, "definition", json_string(definition));
	if ((v = json_object_get(tool, "title")) && json_is_string(v))
		json_object_set(d, "title", v);
	if ((v = json_object_get(tool, "description")) && json_is_string(v))
		json_object_set(d, "description", v);
	if ((v = json_object_get(tool, "annotations")) && json_is_object(v))
		json_object_set(d, "annotations", v);
	if ((v = model_text_before(run)) != NULL)
		json_object_set_new(d, "model_text", v);
	/* An always-rule made for another definition of this tool: the page shows what changed. */
	if (store_rule_changed(run->env.store, target, name, def_hash, util_wall_s(), &old_rule, &old_def) ==
	    0)
		json_object_set_new(d, "rule_changed",
		                    json_pack("{s:s, s:s}", "rule_id", old_rule, "definition", old_def));
	free(old_rule);
	free(old_def);
	free(shown);
	text = json_dumps(d, JSON_COMPACT);
	json_decref(d);
	return text;
}

static void call_done(struct mcp_run *run, struct run_call *c);
static int call_start(struct mcp_run *run, struct run_call *c);
static void call_refuse(struct mcp_run *run, struct run_call *c, json_t *error, const char *outcome);

/* A call that needs approval and does not get it: the model is told why. */
static void
call_deny(struct mcp_run *run, struct run_call *c, const char *code, const char *outcome, const char *message)
{
	call_refuse(
	        run, c,
	        json_pack("{s:s, s:s, s:s}", "type", "mcp_approval_denied", "code", code, "message", message),
	        outcome);
}

static void
on_operator(void *ud, const struct ophub_result *r)
{
	struct run_call *c = ud;
	struct mcp_run *run = c->run;
	const char *name = json_string_value(json_object_get(c->item, "name"));
	char *msg;

	c->wait = NULL;
	waiting_sub(run);
	if (r->outcome == OPHUB_APPROVED) {
		enum approval_claim claim = approvals_claim(run->env.store, c->approval_id);

		if (r->decision == APPROVAL_APPROVE_RESPONSE)
			grant_add(run, c->server, name, r->by);
		free(c->decided_by);
		c->decided_by = xstrdup(r->by);
		if (claim == APPROVAL_CLAIMED) {
			c->claimed = 1;
			if (call_start(run, c))
				return; /* in flight: still counted in run->pending */
		} else {
			call_deny(run, c, "claim_failed", "refused",
			          "The operator approved this call, but the approval could not be claimed; "
			          "the call "
			          "was not made.");
		}
	} else if (r->outcome == OPHUB_EXPIRED) {
		call_deny(run, c, "expired", "expired",
		          "No operator decided on this tool call before its approval expired; it was not "
		          "made.");
	} else {
		msg = r->message ? xasprintf("The operator (%s) denied this tool call. Their message: %s",
		                             r->by, r->message)
		                 : xasprintf("The operator (%s) denied this tool call.", r->by);
		call_deny(run, c, "denied", "denied", msg);
		free(msg);
	}
	call_done(run, c);
}

/* Holds c (counted in run->pending) until an operator decides. 0, or -1 when the store failed. */
static int
wait_for_operator(struct mcp_run *run, struct run_call *c, const struct run_server *s, const json_t *tool)
{
	const char *args = json_string_value(json_object_get(c->item, "arguments"));
	char id[48], args_hash[65], target[65], def_hash[65], *definition, *detail;
	unsigned expiry_s = s->ps.expiry_s;
	struct store_approval_new a;
	int64_t now = util_wall_s();

	if (run->env.max_wait_s && expiry_s > run->env.max_wait_s)
		expiry_s = run->env.max_wait_s;
	util_new_id(id, sizeof id, "mcpr");
	util_sha256_hex(args ? args : "", args ? strlen(args) : 0, args_hash);
	util_sha256_hex(s->ps.url, strlen(s->ps.url), target);
	definition = approvals_definition(tool, def_hash);
	detail = operator_detail(run, c, s, tool, definition, target, def_hash, expiry_s);
	memset(&a, 0, sizeof a);
	a.id = id;
	a.response_id = run->response_id;
	a.server_label = s->ps.label;
	a.target_sha256 = target;
	a.tool = json_string_value(json_object_get(tool, "name"));
	a.arguments_sha256 = args_hash;
	a.requested_by = run->identity;
	a.definition_sha256 = def_hash;
	a.detail = detail;
	a.created_at = now;
	a.expires_at = now + expiry_s;
	c->approval_id = xstrdup(id);
	json_object_set_new(c->item, "approval_request_id", json_string(id));
	c->wait = ophub_wait_start(run->env.hub, &a, on_operator, c);
	free(definition);
	free(detail);
	if (c->wait == NULL) {
		log_err("%s: could not write an operator approval: %s", run->response_id,
		        store_errmsg(run->env.store));
		return -1;
	}
	waiting_add(run);
	run->pending++;
	return 0;
}

/* ---- setup ---- */

/* Where the k-th mcp tool sits in the request's own "tools" array, for the param of an error. */
static size_t
body_index(const struct request *req, size_t k)
{
	const json_t *tool;
	size_t i;

	json_array_foreach (json_object_get(req->body, "tools"), i, tool) {
		const char *type = json_string_value(json_object_get(tool, "type"));

		if (type && strcmp(type, "mcp") == 0 && k-- == 0)
			return i;
	}
	return k;
}

int
mcp_run_new(const struct mcp_run_env *env, const struct request *req, const json_t *context,
            struct mcp_run **out, struct api_error *err)
{
	struct mcp_run *run;
	const json_t *tool;
	size_t i;

	*out = NULL;
	if (json_array_size(req->mcp_tools) == 0 && !approvals_in_input(req->input))
		return 0;
	run = xcalloc(1, sizeof *run);
	run->env = *env;
	run->response_id = xstrdup(env->response_id ? env->response_id : "-");
	run->identity = xstrdup(env->identity ? env->identity : "-");
	run->client = env->caller_client ? xstrdup(env->caller_client) : NULL;
	run->req = req;
	run->context = context;
	run->budget = policy_max_tool_calls(env->cfg, req->max_tool_calls);
	run->nservers = json_array_size(req->mcp_tools);
	run->servers = xcalloc(run->nservers + 1, sizeof *run->servers);
	json_array_foreach (req->mcp_tools, i, tool) {
		run->servers[i].run = run;
		run->servers[i].index = i;
		if (policy_resolve(env->cfg, tool, body_index(req, i), &run->servers[i].ps, err) < 0)
			goto fail;
		run->servers[i].shown_url = util_url_redact(run->servers[i].ps.url);
		/* A request's own headers and authorization are secrets of this response only. */
		redact_add_headers(env->secrets, (const char *const *)run->servers[i].ps.headers);
		redact_add_url(env->secrets, run->servers[i].ps.url);
	}
	if (take_answers(run, context, err) < 0)
		goto fail;
	*out = run;
	return 0;
fail:
	mcp_run_free(run);
	return -1;
}

static void
approved_clear(struct mcp_run *run)
{
	size_t i;

	for (i = 0; i < run->napproved; i++) {
		free(run->approved[i].approval_id);
		free(run->approved[i].decided_by);
		free(run->approved[i].tool);
		free(run->approved[i].arguments);
	}
	free(run->approved);
	run->approved = NULL;
	run->napproved = 0;
}

static void
call_free(struct run_call *c)
{
	json_decref(c->item);
	free(c->approval_id);
	free(c->decided_by);
	free(c);
}

void
mcp_run_free(struct mcp_run *run)
{
	size_t i;

	if (run == NULL)
		return;
	run->cancelled = 1;
	while (run->calls) {
		struct run_call *c = run->calls;

		run->calls = c->next;
		if (c->op) {
			mcp_op_cancel(c->op);
			audit_call(run, c, "cancelled", NULL, util_mono_ms() - c->started_ms);
		} else if (c->wait) {
			abandon(run, c);
		}
		call_free(c);
	}
	for (i = 0; i < run->nservers; i++) {
		if (run->servers[i].op)
			mcp_op_cancel(run->servers[i].op);
		policy_server_clear(&run->servers[i].ps);
		free(run->servers[i].shown_url);
		json_decref(run->servers[i].tools);
		json_decref(run->servers[i].list_item);
	}
	approved_clear(run);
	for (i = 0; i < run->ngrants; i++) {
		free(run->grants[i].tool);
		free(run->grants[i].by);
	}
	free(run->grants);
	free(run->servers);
	toolmap_free(run->map);
	json_decref(run->chat_tools);
	json_decref(run->tool_choice);
	free(run->response_id);
	free(run->identity);
	free(run->client);
	free(run);
}

/* ---- listing ---- */

/* An MCP Tool object -> the shape of mcp_list_tools.tools. */
static json_t *
listed_tool(const json_t *tool)
{
	json_t *o = json_object();
	const json_t *schema = json_object_get(tool, "inputSchema");
	const json_t *desc = json_object_get(tool, "description");
	const json_t *ann = json_object_get(tool, "annotations");

	json_object_set(o, "name", json_object_get(tool, "name"));
	json_object_set_new(o, "input_schema",
	                    json_is_object(schema) ? json_deep_copy(schema) : json_object());
	if (json_is_string(desc))
		json_object_set(o, "description", (json_t *)desc);
	if (json_is_object(ann))
		json_object_set_new(o, "annotations", json_deep_copy(ann));
	return o;
}

/* The shape of mcp_list_tools.tools -> an MCP Tool object. */
static json_t *
mcp_tool_of(const json_t *listed)
{
	json_t *o = json_object();
	const json_t *v;

	json_object_set(o, "name", json_object_get(listed, "name"));
	v = json_object_get(listed, "input_schema");
	json_object_set_new(o, "inputSchema", json_is_object(v) ? json_deep_copy(v) : json_object());
	v = json_object_get(listed, "description");
	if (json_is_string(v))
		json_object_set(o, "description", (json_t *)v);
	v = json_object_get(listed, "annotations");
	if (json_is_object(v))
		json_object_set_new(o, "annotations", json_deep_copy(v));
	return o;
}

/* Keeps the tools the policy lets this request import: named, unique, within the count and byte
 * caps (a hostile server's listing must not grow every later model turn without bound). */
static void
import_tools(struct run_server *s, const json_t *mcp_tools)
{
	const json_t *tool;
	size_t i, j, total = 0;

	json_decref(s->tools);
	s->tools = json_array();
	json_array_foreach (mcp_tools, i, tool) {
		const char *name = json_string_value(json_object_get(tool, "name"));
		char *dumped;
		size_t size;
		int dup = 0;

		if (name == NULL || name[0] == '\0' || !policy_tool_allowed(&s->ps, tool))
			continue;
		for (j = 0; j < json_array_size(s->tools) && !dup; j++)
			dup = strcmp(json_string_value(json_object_get(json_array_get(s->tools, j), "name")),
			             name) == 0;
		if (dup)
			continue;
		if (json_array_size(s->tools) >= MCPRUN_MAX_TOOLS) {
			log_warnx("%s: server %s lists more than %d tools; the rest are left out",
			          s->run->response_id, s->ps.label, MCPRUN_MAX_TOOLS);
			break;
		}
		dumped = json_dumps(tool, JSON_COMPACT);
		size = dumped ? strlen(dumped) : SIZE_MAX;
		free(dumped);
		if (size > MCPRUN_MAX_TOOL_BYTES || size > MCPRUN_MAX_LISTING_BYTES - total) {
			log_warnx(
			        "%s: server %s: a tool of %zu bytes is left out (caps: %zu per tool, %zu per "
			        "listing)",
			        s->run->response_id, s->ps.label, size, MCPRUN_MAX_TOOL_BYTES,
			        MCPRUN_MAX_LISTING_BYTES);
			continue;
		}
		total += size;
		json_array_append(s->tools, (json_t *)tool);
	}
}

/* The newest mcp_list_tools item of the context for label that carries no error. */
static const json_t *
listing_in_context(const json_t *context, const char *label)
{
	const json_t *it, *found = NULL;
	size_t i;

	json_array_foreach (context, i, it) {
		const char *type = json_string_value(json_object_get(it, "type"));
		const char *l = json_string_value(json_object_get(it, "server_label"));
		const json_t *e = json_object_get(it, "error");

		if (type && l && strcmp(type, "mcp_list_tools") == 0 && strcmp(l, label) == 0 &&
		    (e == NULL || json_is_null(e)) && json_is_array(json_object_get(it, "tools")))
			found = it;
	}
	return found;
}

static void prepare_step(struct mcp_run *run);

static void
on_list(void *ud, const struct mcp_list_result *r)
{
	struct run_server *s = ud;
	struct mcp_run *run = s->run;
	json_t *listed = json_array();
	const json_t *tool;
	size_t i;

	s->op = NULL;
	if (r->error) {
		char *raw = xasprintf("Error retrieving tool list from MCP server '%s': %s", s->ps.label,
		                      r->error->message);
		char *msg = redact_strdup(run->env.secrets, raw);

		json_object_set_new(s->list_item, "error", safe_string(msg));
		json_decref(s->tools);
		s->tools = json_array();
		log_warnx("%s: %s", run->response_id, msg);
		free(msg);
		free(raw);
	} else {
		json_t *clean;

		import_tools(s, r->tools);
		/* Descriptions and schemas go to the caller and the model. A copy where a secret is
		 * found: the objects are shared with the client's cache. */
		clean = redact_json(run->env.secrets, s->tools);
		json_decref(s->tools);
		s->tools = clean;
		json_array_foreach (s->tools, i, tool) {
			json_array_append_new(listed, listed_tool(tool));
		}
	}
	json_object_set_new(s->list_item, "tools", listed);
	emit_mcp(run, r->error ? "response.mcp_list_tools.failed" : "response.mcp_list_tools.completed",
	         s->list_item, s->list_index);
	emit_item(run, "response.output_item.done", s->list_index, s->list_item);
	run->pending--;
	prepare_step(run);
}

static void
list_start(struct mcp_run *run, struct run_server *s)
{
	struct mcp_server ms;
	char id[48];

	util_new_id(id, sizeof id, "mcpl");
	s->list_item = json_pack("{s:s, s:s, s:s, s:[]}", "id", id, "type", "mcp_list_tools", "server_label",
	                         s->ps.label, "tools");
	s->list_index = output_append(run, s->list_item);
	emit_item(run, "response.output_item.added", s->list_index, s->list_item);
	emit_mcp(run, "response.mcp_list_tools.in_progress", s->list_item, s->list_index);
	to_mcp_server(s, &ms);
	s->op = run->env.client ? mcp_list_tools(run->env.client, &ms, on_list, s) : NULL;
	if (s->op) {
		run->pending++;
		return;
	}
	json_object_set_new(s->list_item, "error",
	                    json_sprintf("Error retrieving tool list from MCP server '%s': the MCP client "
	                                 "is not available",
	                                 s->ps.label));
	emit_mcp(run, "response.mcp_list_tools.failed", s->list_item, s->list_index);
	emit_item(run, "response.output_item.done", s->list_index, s->list_item);
}

static void
build_map(struct mcp_run *run)
{
	const json_t *choice = run->req->tool_choice;
	const char *type = json_string_value(json_object_get(choice, "type"));
	long only = -1;
	size_t i;

	run->map = toolmap_new(run->req->tools);
	for (i = 0; i < run->nservers; i++)
		toolmap_add_server(run->map, i, run->servers[i].ps.label, run->servers[i].tools);
	toolmap_build(run->map);
	if (type && strcmp(type, "mcp") == 0) {
		struct run_server *s =
		        server_by_label(run, json_string_value(json_object_get(choice, "server_label")));
		const char *name = json_string_value(json_object_get(choice, "name"));
		const char *visible = s && name ? toolmap_visible(run->map, s->ps.label, name) : NULL;

		if (s)
			only = (long)s->index;
		if (visible)
			run->tool_choice =
			        json_pack("{s:s, s:{s:s}}", "type", "function", "function", "name", visible);
		else
			run->tool_choice = json_string("required");
	}
	run->chat_tools = toolmap_chat_tools(run->map, only);
}

/* ---- calls ---- */

static json_t *error_object_of(const struct mcp_error *e);

static void
finish_item(struct mcp_run *run, struct run_call *c, const char *event)
{
	emit_mcp(run, event, c->item, c->output_index);
	emit_item(run, "response.output_item.done", c->output_index, c->item);
}

static void
unlink_call(struct mcp_run *run, struct run_call *c)
{
	struct run_call **pp;

	for (pp = &run->calls; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			return;
		}
}

/* The text of a CallToolResult's content blocks, for mcp_tool_execution_error (capped). */
static json_t *
error_content(json_t *result)
{
	json_t *content = json_object_get(result, "content");
	char *dumped = json_dumps(content, JSON_COMPACT);
	json_t *out;

	if (dumped && strlen(dumped) <= MCPRUN_MAX_ERROR_CONTENT) {
		out = json_deep_copy(content);
	} else {
		char *text = mcp_result_text(result, MCPRUN_MAX_ERROR_CONTENT);

		out = json_pack("[{s:s, s:s}]", "type", "text", "text", text);
		free(text);
	}
	free(dumped);
	return out ? out : json_array();
}

static json_t *
error_object(const struct mcp_error *e)
{
	json_t *o = error_object_of(e);

	/* A message cut inside a UTF-8 sequence would make json_pack fail: say something instead. */
	if (o == NULL)
		o = json_pack("{s:s, s:i, s:o}", "type", "http_error", "code", 502, "message",
		              safe_string(e->message));
	return o;
}

static json_t *
error_object_of(const struct mcp_error *e)
{
	switch (e->kind) {
	case MCP_ERR_RPC:
		return json_pack("{s:s, s:i, s:s}", "type", "mcp_protocol_error", "code", e->rpc_code,
		                 "message", e->message);
	case MCP_ERR_PROTOCOL:
	case MCP_ERR_UNSUPPORTED:
	case MCP_ERR_EXPIRED:
		/* JSON-RPC "internal error": the server broke the protocol, it sent no code of its own. */
		return json_pack("{s:s, s:i, s:s}", "type", "mcp_protocol_error", "code", -32603, "message",
		                 e->message);
	case MCP_ERR_TIMEOUT:
		return json_pack("{s:s, s:i, s:s}", "type", "http_error", "code", 504, "message", e->message);
	case MCP_ERR_HTTP:
	case MCP_ERR_AUTH:
		return json_pack("{s:s, s:i, s:s}", "type", "http_error", "code", (int)e->http_status,
		                 "message", e->message);
	default:
		/* No HTTP answer at all (unreachable, backed off, shutting down): a gateway's 502. */
		return json_pack("{s:s, s:i, s:s}", "type", "http_error", "code",
		                 e->kind == MCP_ERR_CLOSED ? 503 : 502, "message", e->message);
	}
}

static void call_done(struct mcp_run *run, struct run_call *c);

static void
on_call(void *ud, const struct mcp_call_result *r)
{
	struct run_call *c = ud;
	struct mcp_run *run = c->run;
	uint64_t ms = util_mono_ms() - c->started_ms;
	const char *outcome;
	char *text;

	c->op = NULL;
	if (r->error) {
		json_object_set_new(c->item, "error", error_object(r->error));
		json_object_set_new(c->item, "status", json_string("failed"));
		outcome = "error";
	} else if (r->is_error) {
		json_object_set_new(c->item, "error",
		                    json_pack("{s:s, s:o}", "type", "mcp_tool_execution_error", "content",
		                              error_content(r->result)));
		json_object_set_new(c->item, "status", json_string("failed"));
		outcome = "tool_error";
	} else {
		/* The client converted it already; only a text over the cap is converted again, cut. */
		text = r->text && strlen(r->text) <= MCPRUN_MAX_OUTPUT
		               ? NULL
		               : mcp_result_text(r->result, MCPRUN_MAX_OUTPUT);
		json_object_set_new(c->item, "output", safe_string(text ? text : r->text));
		json_object_set_new(c->item, "status", json_string("completed"));
		free(text);
		outcome = "ok";
	}
	/* What the server sent (a result, its error text, a JSON-RPC message, an HTTP error body) may
	 * echo the credentials it got: rewritten before the caller, the model, the store, the audit
	 * row or the log see it. */
	redact_json_member(run->env.secrets, c->item, "output");
	redact_json_member(run->env.secrets, c->item, "error");
	audit_call(run, c, outcome,
	           r->error ? json_string_value(json_object_get(json_object_get(c->item, "error"), "message"))
	                    : NULL,
	           ms);
	finish_item(run, c,
	            strcmp(outcome, "ok") == 0 ? "response.mcp_call.completed" : "response.mcp_call.failed");
	call_done(run, c);
}

/* A call that ends before reaching the server (bad arguments, not allowed, no client). */
static void
call_refuse(struct mcp_run *run, struct run_call *c, json_t *error, const char *outcome)
{
	json_object_set_new(c->item, "error", error);
	json_object_set_new(c->item, "status", json_string("failed"));
	audit_call(run, c, outcome, json_string_value(json_object_get(error, "message")), 0);
	finish_item(run, c, "response.mcp_call.failed");
}

/* Starts c; 1 when it is in flight, 0 when it already ended. */
static int
call_start(struct mcp_run *run, struct run_call *c)
{
	struct run_server *s = &run->servers[c->server];
	const char *name = json_string_value(json_object_get(c->item, "name"));
	const char *args = json_string_value(json_object_get(c->item, "arguments"));
	const json_t *tool = NULL, *t;
	json_t *jargs;
	struct mcp_server ms;
	json_error_t jerr;
	size_t i;

	json_array_foreach (s->tools, i, t) {
		if (strcmp(json_string_value(json_object_get(t, "name")), name) == 0)
			tool = t;
	}
	/* allowed_tools is enforced at call time, every time (PEER-LESSONS "Policy"). */
	if (tool == NULL || !policy_tool_allowed(&s->ps, tool)) {
		call_refuse(run, c,
		            json_pack("{s:s, s:i, s:s}", "type", "mcp_protocol_error", "code", -32602,
		                      "message", "this tool is not allowed for this request"),
		            "refused");
		return 0;
	}
	jargs = json_loads(args && args[0] ? args : "{}", JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(jargs)) {
		json_decref(jargs);
		call_refuse(run, c,
		            json_pack("{s:s, s:i, s:s}", "type", "mcp_protocol_error", "code", -32602,
		                      "message", "the arguments are not a JSON object"),
		            "refused");
		return 0;
	}
	to_mcp_server(s, &ms);
	c->started_ms = util_mono_ms();
	/* Committed before the request can leave: a crash from here on keeps a record of the call. */
	audit_row(run, s->ps.label, s->shown_url, name, args, NULL, NULL, 0, c->approval_id, c->decided_by,
	          &c->audit_id);
	c->op = run->env.client ? mcp_call_tool(run->env.client, &ms, name, jargs, NULL, on_call, c) : NULL;
	json_decref(jargs);
	if (c->op == NULL) {
		call_refuse(run, c,
		            json_pack("{s:s, s:i, s:s}", "type", "http_error", "code", 503, "message",
		                      "the MCP client is not available"),
		            "error");
		return 0;
	}
	json_object_set_new(c->item, "status", json_string("calling"));
	return 1;
}

static struct run_call *
call_new(struct mcp_run *run, json_t *item, size_t output_index, size_t server)
{
	struct run_call *c = xcalloc(1, sizeof *c);

	c->run = run;
	c->item = json_incref(item);
	c->output_index = output_index;
	c->server = server;
	c->next = run->calls;
	run->calls = c;
	return c;
}

/* Starts c or ends it at once; counts it in run->pending while in flight. */
static void
call_launch(struct mcp_run *run, struct run_call *c)
{
	if (call_start(run, c)) {
		run->pending++;
		return;
	}
	unlink_call(run, c);
	call_free(c);
}

/* A call the model made: run now, wait for an operator, or denied (api/ophub, its gate). */
static void
call_gate(struct mcp_run *run, struct run_call *c)
{
	const struct run_server *s = &run->servers[c->server];
	const char *name = json_string_value(json_object_get(c->item, "name"));
	const json_t *tool = NULL, *t;
	char *by = NULL;
	size_t i;

	json_array_foreach (s->tools, i, t) {
		if (strcmp(json_string_value(json_object_get(t, "name")), name) == 0)
			tool = t;
	}
	switch (tool ? gate(run, s, tool, 1, &by) : GATE_RUN) {
	case GATE_RUN:
		c->decided_by = by;  /* a grant or a rule, or NULL */
		call_launch(run, c); /* refuses a tool that is not there */
		return;
	case GATE_WAIT:
		if (wait_for_operator(run, c, s, tool) == 0)
			return;
		call_deny(run, c, "store_failed", "refused",
		          "The approval could not be recorded; the call was not made.");
		break;
	case GATE_ASK_CALLER:
	case GATE_NO_OPERATOR:
		call_deny(
		        run, c, "no_operator", "denied",
		        "This tool call needs an operator's approval and no operator is watching; it was not "
		        "made.");
		break;
	}
	unlink_call(run, c);
	call_free(c);
}

static void
call_done(struct mcp_run *run, struct run_call *c)
{
	mcp_run_done_fn done = run->done;

	unlink_call(run, c);
	call_free(c);
	if (--run->pending > 0 || run->cancelled)
		return;
	if (!run->prepared) {
		prepare_step(run);
		return;
	}
	run->done = NULL;
	if (done)
		done(run->done_ud);
}

static void
run_approved(struct mcp_run *run)
{
	size_t i;

	for (i = 0; i < run->napproved; i++) {
		struct run_approved *a = &run->approved[i];
		const char *suffix =
		        strncmp(a->approval_id, "mcpr_", 5) == 0 ? a->approval_id + 5 : a->approval_id;
		json_t *item = json_pack("{s:s, s:s, s:s, s:s, s:s, s:n, s:n, s:s, s:s}", "id", "", "type",
		                         "mcp_call", "server_label", run->servers[a->server].ps.label, "name",
		                         a->tool, "arguments", a->arguments, "output", "error",
		                         "approval_request_id", a->approval_id, "status", "in_progress");
		struct run_call *c;
		size_t idx;

		int room = run->budget < 0 || run->used < run->budget;
		enum approval_claim claim =
		        room ? approvals_claim(run->env.store, a->approval_id) : APPROVAL_NOT_CLAIMABLE;
		int claimed = claim == APPROVAL_CLAIMED;
		char fresh[48];

		/* The call that runs takes the approval's id (mcpr_X -> mcp_X), as OpenAI and responses.js
		 * do; one that does not run gets its own, so that a later run of it is not a second X. */
		if (claimed) {
			json_object_set_new(item, "id", json_sprintf("mcp_%s", suffix));
		} else {
			util_new_id(fresh, sizeof fresh, "mcp");
			json_object_set_new(item, "id", json_string(fresh));
		}
		idx = output_append(run, item);
		c = call_new(run, item, idx, a->server);
		c->approval_id = xstrdup(a->approval_id);
		c->decided_by = xstrdup(a->decided_by);
		c->claimed = claimed;
		emit_item(run, "response.output_item.added", idx, item);
		emit_mcp(run, "response.mcp_call.in_progress", item, idx);
		if (run->env.emit)
			emit(run,
			     json_pack("{s:s, s:O, s:I, s:s}", "type", "response.mcp_call_arguments.done",
			               "item_id", json_object_get(item, "id"), "output_index",
			               (json_int_t)idx, "arguments", a->arguments));
		json_decref(item);
		if (!room) {
			/* The approval stays "approved": a later response with room may run it. */
			run->budget_hit = 1;
			call_refuse(run, c,
			            json_pack("{s:s, s:i, s:s}", "type", "mcp_protocol_error", "code", -32600,
			                      "message",
			                      "max_tool_calls reached; the approved call was not made"),
			            "refused");
			unlink_call(run, c);
			call_free(c);
			continue;
		}
		if (!claimed) {
			/* Another response ran it first (a race between two approvals of one request), or
			 * the store could not say that this one may: not run either way. */
			call_refuse(
			        run, c,
			        json_pack(
			                "{s:s, s:i, s:s}", "type", "mcp_protocol_error", "code", -32600,
			                "message",
			                claim == APPROVAL_CLAIM_FAILED
			                        ? "the approval store failed; the approved call was not made"
			                        : "this approved call was already executed"),
			        "refused");
			unlink_call(run, c);
			call_free(c);
			continue;
		}
		run->used++;
		call_launch(run, c);
	}
	approved_clear(run);
}

/* Runs after each listing or approved call that ends during the prepare phase. */
static void
prepare_step(struct mcp_run *run)
{
	mcp_run_done_fn done;

	if (run->pending > 0 || run->cancelled)
		return;
	if (run->map == NULL) {
		build_map(run);
		run_approved(run);
		if (run->pending > 0)
			return;
	}
	run->prepared = 1;
	done = run->done;
	run->done = NULL;
	if (done)
		done(run->done_ud);
}

/* An mcp_list_tools item in the context saves the network (RESPONSES-NOTES 3.3); the policy is
 * applied to it again, since this request may allow less than the one that listed. */
static int
reuse_listing(struct mcp_run *run, struct run_server *s)
{
	const json_t *listing = listing_in_context(run->context, s->ps.label), *t;
	json_t *tools;
	size_t i;

	/* An item in the context is the caller's word: its annotations must not relax an operator's
	 * approve_destructive floor, so such a server is listed by the client (its cache, usually). */
	if (listing == NULL || s->ps.approve_destructive)
		return 0;
	tools = json_array();
	json_array_foreach (json_object_get(listing, "tools"), i, t) {
		json_array_append_new(tools, mcp_tool_of(t));
	}
	import_tools(s, tools);
	json_decref(tools);
	return 1;
}

int
mcp_run_prepare(struct mcp_run *run, mcp_run_done_fn done, void *ud)
{
	size_t i;

	run->done = done;
	run->done_ud = ud;
	for (i = 0; i < run->nservers; i++)
		if (!reuse_listing(run, &run->servers[i]))
			list_start(run, &run->servers[i]);
	if (run->pending > 0)
		return 1;
	build_map(run);
	run_approved(run);
	if (run->pending > 0)
		return 1;
	run->prepared = 1;
	run->done = NULL;
	return 0;
}

void
mcp_run_upstream_extra(struct mcp_run *run, struct upstream_extra *extra)
{
	extra->tools = run->chat_tools;
	extra->tool_choice = run->tool_choice;
}

const char *
mcp_run_visible_name(const struct mcp_run *run, const char *server_label, const char *name)
{
	return run->map ? toolmap_visible(run->map, server_label, name) : NULL;
}

enum turn_call_kind
mcp_run_classify(void *ud, const char *name, struct turn_mcp_target *target)
{
	struct mcp_run *run = ud;
	const json_t *choice = run->req->tool_choice;
	const char *ctype = json_string_value(json_object_get(choice, "type"));
	const struct toolmap_entry *e = run->map ? toolmap_find(run->map, name) : NULL;
	const struct run_server *s;

	if (json_is_string(choice) && strcmp(json_string_value(choice), "none") == 0)
		return TURN_CALL_REFUSED;
	if (e == NULL) {
		if (ctype && strcmp(ctype, "mcp") == 0)
			return TURN_CALL_REFUSED;
		return TURN_CALL_FUNCTION; /* the turn checks function names and tool_choice */
	}
	s = &run->servers[e->server];
	if (ctype && (strcmp(ctype, "function") == 0 || strcmp(ctype, "allowed_tools") == 0)) {
		audit(run, s, e->name, NULL, "refused", "tool_choice does not allow this tool", 0, NULL,
		      NULL);
		return TURN_CALL_REFUSED;
	}
	if (ctype && strcmp(ctype, "mcp") == 0) {
		const char *label = json_string_value(json_object_get(choice, "server_label"));
		const char *forced = json_string_value(json_object_get(choice, "name"));

		if (label == NULL || strcmp(label, e->label) != 0 ||
		    (forced && strcmp(forced, e->name) != 0)) {
			audit(run, s, e->name, NULL, "refused", "tool_choice does not allow this tool", 0,
			      NULL, NULL);
			return TURN_CALL_REFUSED;
		}
	}
	target->server_label = e->label;
	target->name = e->name;
	{
		char *by;
		enum gate g = gate(run, s, e->tool, 0, &by);

		free(by);
		if (g == GATE_ASK_CALLER)
			return TURN_CALL_MCP_APPROVAL;
	}
	if (run->budget >= 0 && run->used >= run->budget) {
		run->budget_hit = 1;
		audit(run, s, e->name, NULL, "refused", "max_tool_calls reached", 0, NULL, NULL);
		return TURN_CALL_REFUSED;
	}
	run->used++;
	return TURN_CALL_MCP;
}

int
mcp_run_calls(struct mcp_run *run, struct turn *turn, mcp_run_done_fn done, void *ud)
{
	size_t i, n = turn_mcp_count(turn);

	run->done = done;
	run->done_ud = ud;
	for (i = 0; i < n; i++) {
		const struct turn_mcp_item *m = turn_mcp_at(turn, i);
		const char *label = json_string_value(json_object_get(m->item, "server_label"));
		const char *status = json_string_value(json_object_get(m->item, "status"));
		struct run_server *s = server_by_label(run, label);

		if (s == NULL)
			continue;
		if (m->approval) {
			if (approvals_issue(run->env.store, m->item, run->response_id, s->ps.url,
			                    run->identity) < 0)
				log_err("%s: could not store an approval request: %s", run->response_id,
				        store_errmsg(run->env.store));
			continue;
		}
		if (status && strcmp(status, "in_progress") != 0) {
			/* Cut off with the model's turn: never run. */
			emit_item(run, "response.output_item.done", m->output_index, m->item);
			continue;
		}
		call_gate(run, call_new(run, m->item, m->output_index, s->index));
	}
	if (run->pending > 0)
		return 1;
	run->done = NULL;
	return 0;
}

void
mcp_run_close(struct mcp_run *run, struct turn *turn)
{
	size_t i, n = turn_mcp_count(turn);

	for (i = 0; i < n; i++) {
		const struct turn_mcp_item *m = turn_mcp_at(turn, i);

		if (m->approval)
			continue;
		json_object_set_new(m->item, "status", json_string("incomplete"));
		emit_item(run, "response.output_item.done", m->output_index, m->item);
	}
}

int
mcp_run_budget_hit(const struct mcp_run *run)
{
	return run->budget_hit;
}

void
mcp_run_cancel(struct mcp_run *run)
{
	size_t i;

	if (run == NULL || run->cancelled)
		return;
	run->cancelled = 1;
	run->done = NULL;
	while (run->calls) {
		struct run_call *c = run->calls;

		run->calls = c->next;
		if (c->op) {
			mcp_op_cancel(c->op);
			json_object_set_new(c->item, "status", json_string("incomplete"));
			audit_call(run, c, "cancelled", NULL, util_mono_ms() - c->started_ms);
		} else if (c->wait) {
			json_object_set_new(c->item, "status", json_string("incomplete"));
			abandon(run, c);
		}
		call_free(c);
	}
	for (i = 0; i < run->nservers; i++) {
		struct run_server *s = &run->servers[i];

		if (s->op) {
			mcp_op_cancel(s->op);
			s->op = NULL;
			json_object_set_new(s->list_item, "error", json_string("cancelled"));
		}
	}
	run->pending = 0;
}
