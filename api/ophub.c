#include "api/ophub.h"

#include <stdlib.h>
#include <string.h>

#include "api/apierr.h"
#include "daemon/log.h"
#include "daemon/util.h"
#include "store/store.h"

/* An operator's message to the model, and an always-rule's lifetime. */
#define OPHUB_MAX_MESSAGE 4096
#define OPHUB_MAX_TTL_S   ((int64_t)366 * 86400)
/* Approvals one batch may name (a response has at most max_tool_calls calls). */
#define OPHUB_MAX_BATCH 10000

struct ophub_wait {
	struct ophub_wait *next, *prev;
	struct ophub *hub;
	char *id, *response_id, *server_label, *tool;
	uv_timer_t timer; /* the expiry; its close frees the wait */
	ophub_wake_fn wake;
	void *ud;
};

struct ophub_watcher {
	struct ophub_watcher *next, *prev;
	struct ophub *hub;
	ophub_push_fn push;
	void *ud;
};

struct ophub {
	uv_loop_t *loop;
	struct store *store;
	struct ophub_wait *waits;
	struct ophub_watcher *watchers;
	size_t nwatchers;
};

struct ophub *
ophub_new(uv_loop_t *loop, struct store *store)
{
	struct ophub *h = xcalloc(1, sizeof *h);

	h->loop = loop;
	h->store = store;
	return h;
}

static void
wait_freed(uv_handle_t *handle)
{
	struct ophub_wait *w = handle->data;

	free(w->id);
	free(w->response_id);
	free(w->server_label);
	free(w->tool);
	free(w);
}

/* Takes w out of the hub and closes its timer (which frees it). */
static void
wait_drop(struct ophub_wait *w)
{
	struct ophub *h = w->hub;

	if (w->prev)
		w->prev->next = w->next;
	else
		h->waits = w->next;
	if (w->next)
		w->next->prev = w->prev;
	uv_timer_stop(&w->timer);
	uv_close((uv_handle_t *)&w->timer, wait_freed);
}

void
ophub_free(struct ophub *h)
{
	struct ophub_watcher *n;

	if (h == NULL)
		return;
	while (h->waits) {
		log_warnx("approval %s: still waited for at shutdown", h->waits->id);
		wait_drop(h->waits);
	}
	while (h->watchers) {
		n = h->watchers->next;
		free(h->watchers);
		h->watchers = n;
	}
	free(h);
}

/* ---- watchers ---- */

struct ophub_watcher *
ophub_watch(struct ophub *h, ophub_push_fn push, void *ud)
{
	struct ophub_watcher *w = xcalloc(1, sizeof *w);

	w->hub = h;
	w->push = push;
	w->ud = ud;
	w->next = h->watchers;
	if (h->watchers)
		h->watchers->prev = w;
	h->watchers = w;
	h->nwatchers++;
	return w;
}

void
ophub_unwatch(struct ophub_watcher *w)
{
	if (w == NULL)
		return;
	if (w->prev)
		w->prev->next = w->next;
	else
		w->hub->watchers = w->next;
	if (w->next)
		w->next->prev = w->prev;
	w->hub->nwatchers--;
	free(w);
}

size_t
ophub_watchers(const struct ophub *h)
{
	return h ? h->nwatchers : 0;
}

/* Consumes event; every watcher gets the same text. */
static void
broadcast(struct ophub *h, json_t *event)
{
	struct ophub_watcher *w, *next;
	char *text;

	if (h->watchers == NULL) {
		json_decref(event);
		return;
	}
	text = json_dumps(event, JSON_COMPACT);
	json_decref(event);
	if (text == NULL)
		return;
	for (w = h->watchers; w; w = next) {
		next = w->next; /* a push only queues: it never unwatches */
		w->push(w->ud, text, strlen(text));
	}
	free(text);
}

/* The row as the interfaces show it, read again; NULL when it is gone or the store failed. */
static json_t *
row_json(struct ophub *h, const char *id)
{
	struct store_approval a;
	json_t *row;

	if (store_approval_get(h->store, id, &a) != 0)
		return NULL;
	row = approvals_row_json(&a);
	store_approval_clear(&a);
	return row;
}

static void
tell(struct ophub *h, const char *type, const char *id, json_t *extra)
{
	json_t *row = row_json(h, id), *ev;

	if (row == NULL) {
		json_decref(extra);
		return;
	}
	/* at_ms: when the daemon sent it (wall clock), for a watcher to see how late it got it. */
	ev = json_pack("{s:s, s:o, s:I, s:I}", "type", type, "approval", row, "version",
	               json_integer_value(json_object_get(row, "version")), "at_ms",
	               (json_int_t)util_wall_ms());
	if (extra)
		json_object_update(ev, extra);
	json_decref(extra);
	broadcast(h, ev);
}

char *
ophub_snapshot(struct ophub *h)
{
	char *rows = NULL, *out;
	int64_t pending = 0;

	if (store_approval_pending_operator(h->store, OPHUB_SNAPSHOT_MAX, OPHUB_SNAPSHOT_MAX_BYTES, &rows,
	                                    &pending) < 0)
		return NULL;
	out = xasprintf("{\"type\":\"approvals.snapshot\",\"at\":%lld,\"pending\":%lld,\"approvals\":%s}",
	                (long long)util_wall_s(), (long long)pending, rows);
	free(rows);
	return out;
}

/* ---- waits ---- */

static struct ophub_wait *
wait_find(struct ophub *h, const char *id)
{
	struct ophub_wait *w;

	for (w = h->waits; w; w = w->next)
		if (strcmp(w->id, id) == 0)
			return w;
	return NULL;
}

/* One audit row of a decision (expiry and abandonment included). */
static void
audit_decision(struct ophub *h, const struct store_approval *a, const char *decision, const char *actor,
               const char *message, const char *status)
{
	struct store_decision d = {
	        .approval_id = a->id,
	        .response_id = a->response_id,
	        .decision = decision,
	        .actor = actor,
	        .arguments_sha256 = a->arguments_sha256,
	        .definition_sha256 = a->definition_sha256,
	        .message = message,
	        .status = status,
	        .at = util_wall_s(),
	};

	if (store_decision_add(h->store, &d) < 0)
		log_err("approval %s: could not write the audit row of its decision: %s", a->id,
		        store_errmsg(h->store));
}

static void
on_expiry(uv_timer_t *t)
{
	struct ophub_wait *w = t->data;
	struct ophub *h = w->hub;
	struct store_approval a;
	struct store_resolution r = {"expired", "expire", "daemon", "nobody decided before it expired",
	                             util_wall_s()};
	struct ophub_result res = {OPHUB_EXPIRED, APPROVAL_DENY, "daemon", NULL};
	ophub_wake_fn wake = w->wake;
	void *ud = w->ud;
	char *id = xstrdup(w->id);
	int rc = -1;

	if (store_approval_get(h->store, id, &a) == 0) {
		rc = store_approval_resolve(h->store, id, a.version, &r);
		if (rc == 0)
			audit_decision(h, &a, "expire", "daemon", NULL, "expired");
		store_approval_clear(&a);
	}
	if (rc < 0)
		log_err("approval %s: could not mark it expired: %s", id, store_errmsg(h->store));
	/* Whatever the store said, this wait is over: the call does not run. */
	wait_drop(w);
	wake(ud, &res);
	if (rc == 0)
		tell(h, "approval.expired", id, NULL);
	free(id);
}

struct ophub_wait *
ophub_wait_start(struct ophub *h, const struct store_approval_new *a, ophub_wake_fn wake, void *ud)
{
	struct ophub_wait *w;
	int64_t left_s;

	if (store_approval_open(h->store, a) < 0)
		return NULL;
	w = xcalloc(1, sizeof *w);
	w->hub = h;
	w->id = xstrdup(a->id);
	w->response_id = xstrdup(a->response_id);
	w->server_label = xstrdup(a->server_label);
	w->tool = xstrdup(a->tool);
	w->wake = wake;
	w->ud = ud;
	uv_timer_init(h->loop, &w->timer);
	w->timer.data = w;
	left_s = a->expires_at - util_wall_s();
	uv_timer_start(&w->timer, on_expiry, left_s > 0 ? (uint64_t)left_s * 1000 : 0, 0);
	w->next = h->waits;
	if (h->waits)
		h->waits->prev = w;
	h->waits = w;
	tell(h, "approval.requested", a->id, NULL);
	return w;
}

void
ophub_wait_abandon(struct ophub_wait *w, const char *reason)
{
	struct ophub *h;
	struct store_approval a;
	struct store_resolution r = {"abandoned", "abandon", "daemon", reason, util_wall_s()};
	char *id;
	int rc = -1;

	if (w == NULL)
		return;
	h = w->hub;
	id = xstrdup(w->id);
	wait_drop(w);
	if (store_approval_get(h->store, id, &a) == 0) {
		rc = store_approval_resolve(h->store, id, a.version, &r);
		if (rc == 0)
			audit_decision(h, &a, "abandon", "daemon", reason, "abandoned");
		store_approval_clear(&a);
	}
	if (rc < 0)
		log_err("approval %s: could not mark it abandoned: %s", id, store_errmsg(h->store));
	if (rc == 0)
		tell(h, "approval.abandoned", id, json_pack("{s:s}", "reason", reason ? reason : ""));
	free(id);
}

/* ---- decisions ---- */

static json_t *
fail(int status, const char *type, const char *code, const char *param, const char *msg, int *http_status)
{
	return api_error_answer(http_status, status, type, code, param, msg);
}

/* 409 with the approval as it is now. */
static json_t *
conflict(const struct store_approval *a, int *http_status)
{
	enum approval_state st = approval_state_of(a->status);
	const char *code = st == APPROVAL_EXPIRED     ? "expired"
	                   : st == APPROVAL_ABANDONED ? "abandoned"
	                                              : "already_resolved";
	json_t *env = fail(409, "invalid_request", code, "version",
	                   st == APPROVAL_PENDING     ? "The approval changed since that version was seen."
	                   : st == APPROVAL_EXPIRED   ? "The approval expired before this decision."
	                   : st == APPROVAL_ABANDONED ? "The response that asked went away; nothing will run."
	                                              : "The approval was already decided.",
	                   http_status);

	json_object_set_new(env, "approval", approvals_row_json(a));
	return env;
}

/* A decision as the body gives it. */
struct decision {
	enum approval_decision kind;
	const char *message; /* deny only */
	int64_t ttl_s;       /* always only; 0: no expiry */
};

/* 0, or -1 with *env set (400). */
static int
parse_decision(const json_t *body, struct decision *d, json_t **env, int *http_status)
{
	const json_t *v;

	memset(d, 0, sizeof *d);
	if (!json_is_object(body)) {
		*env = fail(400, "invalid_request", "invalid_json", NULL, "The body must be a JSON object.",
		            http_status);
		return -1;
	}
	if (approval_decision_of(json_string_value(json_object_get(body, "decision")), &d->kind) < 0) {
		*env = fail(400, "invalid_request", "invalid_value", "decision",
		            "decision must be approve_once, approve_response, always or deny", http_status);
		return -1;
	}
	v = json_object_get(body, "message");
	if (v && !json_is_null(v)) {
		if (!json_is_string(v) || json_string_length(v) > OPHUB_MAX_MESSAGE) {
			*env = fail(400, "invalid_request", "invalid_value", "message",
			            "message must be a string of at most 4096 bytes", http_status);
			return -1;
		}
		if (d->kind == APPROVAL_DENY && json_string_length(v) > 0)
			d->message = json_string_value(v);
	}
	v = json_object_get(body, "ttl_s");
	if (v && !json_is_null(v)) {
		if (!json_is_integer(v) || json_integer_value(v) < 1 ||
		    json_integer_value(v) > OPHUB_MAX_TTL_S) {
			*env = fail(400, "invalid_request", "invalid_value", "ttl_s",
			            "ttl_s must be an integer from 1 to 31622400 (366 days)", http_status);
			return -1;
		}
		if (d->kind == APPROVAL_ALWAYS)
			d->ttl_s = json_integer_value(v);
	}
	return 0;
}

static int
read_version(const json_t *v, int64_t *out)
{
	if (!json_is_integer(v) || json_integer_value(v) < 1)
		return -1;
	*out = json_integer_value(v);
	return 0;
}

/* The always-rule of approval a (its definition is in the detail the operator saw). */
static void
put_rule(struct ophub *h, const struct store_approval *a, const char *actor, int64_t ttl_s)
{
	json_t *detail = a->detail ? json_loads(a->detail, 0, NULL) : NULL;
	const char *def = json_string_value(json_object_get(detail, "definition"));
	char id[48];
	struct store_rule_new r;
	int64_t now = util_wall_s();

	util_new_id(id, sizeof id, "rule");
	memset(&r, 0, sizeof r);
	r.id = id;
	r.server_label = a->server_label;
	r.target_sha256 = a->target_sha256;
	r.tool = a->tool;
	r.definition_sha256 = a->definition_sha256 ? a->definition_sha256 : "";
	r.definition = def ? def : "{}";
	r.created_by = actor;
	r.from_approval = a->id;
	r.created_at = now;
	r.expires_at = ttl_s > 0 ? now + ttl_s : 0;
	if (a->definition_sha256 == NULL || store_rule_put(h->store, &r) < 0)
		log_err("approval %s: the always-rule could not be written: %s", a->id,
		        store_errmsg(h->store));
	json_decref(detail);
}

/* After a's row moved by d: its rule, its audit row, the waiting call, the watchers. */
static void
settled(struct ophub *h, const struct store_approval *a, const struct decision *d, const char *actor)
{
	int approve = d->kind != APPROVAL_DENY;
	struct ophub_wait *w = wait_find(h, a->id);
	struct ophub_result res = {approve ? OPHUB_APPROVED : OPHUB_DENIED, d->kind, actor, d->message};

	if (d->kind == APPROVAL_ALWAYS)
		put_rule(h, a, actor, d->ttl_s);
	audit_decision(h, a, approval_decision_name(d->kind), actor, d->message,
	               approve ? "approved" : "denied");
	if (w) {
		ophub_wake_fn wake = w->wake;
		void *ud = w->ud;

		wait_drop(w);
		wake(ud, &res); /* an approved call is claimed (running) from here */
	}
	tell(h, "approval.resolved", a->id,
	     json_pack("{s:s, s:s, s:I, s:s?}", "by", actor, "decision", approval_decision_name(d->kind),
	               "at", (json_int_t)util_wall_s(), "message", d->message));
}

/* Moves one pending row at version by d. 0 moved, else *env set. */
static int
apply(struct ophub *h, const struct store_approval *a, int64_t version, const struct decision *d,
      const char *actor, json_t **env, int *http_status)
{
	struct store_resolution r = {d->kind == APPROVAL_DENY ? "denied" : "approved",
	                             approval_decision_name(d->kind), actor, d->message, util_wall_s()};
	struct store_approval now;
	int rc;

	if (approval_state_of(a->status) != APPROVAL_PENDING || a->version != version) {
		*env = conflict(a, http_status);
		return -1;
	}
	rc = store_approval_resolve(h->store, a->id, version, &r);
	if (rc < 0) {
		*env = fail(500, "server_error", NULL, NULL, "the approval store failed", http_status);
		return -1;
	}
	if (rc == 2) {
		/* Moved between the read and the update: show how it stands. */
		if (store_approval_get(h->store, a->id, &now) == 0) {
			*env = conflict(&now, http_status);
			store_approval_clear(&now);
		} else {
			*env = fail(500, "server_error", NULL, NULL, "the approval store failed",
			            http_status);
		}
		return -1;
	}
	return 0;
}

/* approve_response: the response's other pending calls of the same tool are approved with it. */
static void
approve_siblings(struct ophub *h, const struct store_approval *first, const char *actor)
{
	struct decision d = {APPROVAL_APPROVE_RESPONSE, NULL, 0};
	struct ophub_wait *w;
	int found;

	do {
		found = 0;
		for (w = h->waits; w; w = w->next) {
			struct store_approval a;
			json_t *env = NULL;
			int st;

			if (strcmp(w->response_id, first->response_id) != 0 ||
			    strcmp(w->server_label, first->server_label) != 0 ||
			    strcmp(w->tool, first->tool) != 0)
				continue;
			if (store_approval_get(h->store, w->id, &a) != 0)
				continue;
			if (apply(h, &a, a.version, &d, actor, &env, &st) == 0) {
				settled(h, &a, &d, actor); /* drops w: the walk starts again */
				found = 1;
			}
			json_decref(env);
			store_approval_clear(&a);
			if (found)
				break;
		}
	} while (found);
}

json_t *
ophub_decide(struct ophub *h, const char *id, const json_t *body, const char *actor, int *http_status)
{
	struct store_approval a;
	struct decision d;
	json_t *env = NULL, *out;
	int64_t version;
	int rc;

	if (parse_decision(body, &d, &env, http_status) < 0)
		return env;
	if (read_version(json_object_get(body, "version"), &version) < 0)
		return fail(400, "invalid_request", "invalid_value", "version",
		            "version (the approval's version that was seen) must be a positive integer",
		            http_status);
	rc = id ? store_approval_get(h->store, id, &a) : 1;
	if (rc < 0)
		return fail(500, "server_error", NULL, NULL, "the approval could not be read", http_status);
	if (rc == 1)
		return fail(404, "not_found", "approval_not_found", NULL, "No approval with that id.",
		            http_status);
	if (a.mode == NULL || strcmp(a.mode, "operator") != 0) {
		store_approval_clear(&a);
		return fail(400, "invalid_request", "approval_caller_mode", NULL,
		            "This approval was asked of the caller (mcp_approval_request); the caller "
		            "answers it.",
		            http_status);
	}
	if (apply(h, &a, version, &d, actor, &env, http_status) < 0) {
		store_approval_clear(&a);
		return env;
	}
	settled(h, &a, &d, actor);
	if (d.kind == APPROVAL_APPROVE_RESPONSE)
		approve_siblings(h, &a, actor);
	out = row_json(h, a.id);
	store_approval_clear(&a);
	*http_status = out ? 200 : 500;
	return out ? out
	           : fail(500, "server_error", NULL, NULL, "the approval could not be read", http_status);
}

/* The response's pending approvals as the list's rows (a JSON array), or NULL. */
static json_t *
pending_of(struct ophub *h, const char *response_id)
{
	char *text = NULL;
	json_t *rows;

	if (store_approval_list(h->store, "pending", response_id, 1000, &text) < 0)
		return NULL;
	rows = json_loads(text, 0, NULL);
	free(text);
	return rows;
}

json_t *
ophub_decide_batch(struct ophub *h, const json_t *body, const char *actor, int *http_status)
{
	const char *response_id = json_string_value(json_object_get(body, "response_id"));
	const json_t *named = json_object_get(body, "approvals"), *it, *row;
	struct decision d;
	json_t *env = NULL, *rows, *done;
	const char **ids = NULL;
	int64_t *versions = NULL;
	size_t i, j, n;
	int rc, match;

	if (parse_decision(body, &d, &env, http_status) < 0)
		return env;
	if (response_id == NULL)
		return fail(400, "invalid_request", "invalid_value", "response_id",
		            "response_id must name the response whose pending approvals are decided",
		            http_status);
	if (!json_is_array(named) || json_array_size(named) == 0 || json_array_size(named) > OPHUB_MAX_BATCH)
		return fail(400, "invalid_request", "invalid_value", "approvals",
		            "approvals must be a non-empty array of {id, version}", http_status);
	rows = pending_of(h, response_id);
	if (!json_is_array(rows)) {
		json_decref(rows);
		return fail(500, "server_error", NULL, NULL, "the approvals could not be read", http_status);
	}
	/* Only operator rows of the response are the operator's to decide. */
	for (i = json_array_size(rows); i-- > 0;) {
		const char *mode = json_string_value(json_object_get(json_array_get(rows, i), "mode"));

		if (mode == NULL || strcmp(mode, "operator") != 0)
			json_array_remove(rows, i);
	}
	n = json_array_size(named);
	match = n == json_array_size(rows);
	ids = xcalloc(n + 1, sizeof *ids);
	versions = xcalloc(n + 1, sizeof *versions);
	json_array_foreach (named, i, it) {
		ids[i] = json_string_value(json_object_get(it, "id"));
		if (ids[i] == NULL || read_version(json_object_get(it, "version"), &versions[i]) < 0) {
			env = fail(400, "invalid_request", "invalid_value", "approvals",
			           "each of approvals must be {id, version}", http_status);
			goto out;
		}
		for (j = 0; j < i; j++)
			if (strcmp(ids[j], ids[i]) == 0)
				match = 0;
		json_array_foreach (rows, j, row) {
			if (strcmp(json_string_value(json_object_get(row, "id")), ids[i]) == 0 &&
			    json_integer_value(json_object_get(row, "version")) == versions[i])
				break;
		}
		if (j == json_array_size(rows))
			match = 0;
	}
	if (!match) {
		env = fail(409, "invalid_request", "approvals_changed", "approvals",
		           "The list is not the response's pending approvals at those versions; nothing was "
		           "decided.",
		           http_status);
		json_object_set(env, "approvals", rows);
		goto out;
	}
	{
		struct store_resolution r = {d.kind == APPROVAL_DENY ? "denied" : "approved",
		                             approval_decision_name(d.kind), actor, d.message, util_wall_s()};

		rc = store_approval_resolve_all(h->store, ids, versions, n, &r);
	}
	if (rc != 0) {
		env = rc < 0 ? fail(500, "server_error", NULL, NULL, "the approval store failed", http_status)
		             : fail(409, "invalid_request", "approvals_changed", "approvals",
		                    "An approval changed meanwhile; nothing was decided.", http_status);
		goto out;
	}
	done = json_array();
	for (i = 0; i < n; i++) {
		struct store_approval a;
		json_t *now;

		if (store_approval_get(h->store, ids[i], &a) != 0)
			continue;
		/* Read before the step's effects, as the single decision reads it: the version it had. */
		a.version = versions[i];
		settled(h, &a, &d, actor);
		store_approval_clear(&a);
		now = row_json(h, ids[i]);
		if (now)
			json_array_append_new(done, now);
	}
	*http_status = 200;
	env = json_pack("{s:s, s:o}", "object", "list", "data", done);
out:
	json_decref(rows);
	free(ids);
	free(versions);
	return env;
}
