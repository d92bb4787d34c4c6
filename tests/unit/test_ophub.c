/*
 * test_ophub: the operators' hub on a real store and a libuv loop. A wait tells every watcher and
 * is in the snapshot; a decision wakes its call once and tells the watchers; a stale or second
 * decision is a 409 with the approval as it is; caller-mode rows and bad bodies are 400s; expiry and
 * abandonment end a wait (the call is woken for the first, never for the second); approve_response
 * takes the response's other waiting calls of the same tool; a batch is all or none; always writes a
 * rule; every decision leaves an audit row.
 */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <uv.h>

#include "api/ophub.h"
#include "daemon/util.h"
#include "store/store.h"
#include "tests/unit/t.h"

static char tmpdir[] = "/tmp/test_ophub.XXXXXX";

/* What a watcher was told: the types, in order. */
struct seen {
	char types[64][32];
	size_t n;
	json_t *last;
};

static void
on_push(void *ud, const char *json, size_t len)
{
	struct seen *s = ud;
	json_t *ev = json_loadb(json, len, 0, NULL);

	if (s->n < 64)
		snprintf(s->types[s->n++], sizeof s->types[0], "%s",
		         json_string_value(json_object_get(ev, "type")));
	json_decref(s->last);
	s->last = ev;
}

/* What a waiting call was woken with. */
struct woken {
	int count;
	enum ophub_outcome outcome;
	char by[64], message[128];
};

static void
on_wake(void *ud, const struct ophub_result *r)
{
	struct woken *w = ud;

	w->count++;
	w->outcome = r->outcome;
	snprintf(w->by, sizeof w->by, "%s", r->by ? r->by : "");
	snprintf(w->message, sizeof w->message, "%s", r->message ? r->message : "");
}

static struct ophub_wait *
start(struct ophub *h, const char *id, const char *response_id, const char *tool, int64_t expiry_s,
      struct woken *w)
{
	int64_t now = util_wall_s();
	struct store_approval_new a = {
	        .id = id,
	        .response_id = response_id,
	        .server_label = "ops",
	        .target_sha256 = "tgt",
	        .tool = tool,
	        .arguments_sha256 = "args",
	        .requested_by = "key=ci",
	        .definition_sha256 = "def1",
	        .detail = "{\"definition\":\"{\\\"name\\\":\\\"deploy\\\"}\"}",
	        .created_at = now,
	        .expires_at = now + expiry_s,
	};

	return ophub_wait_start(h, &a, on_wake, w);
}

static json_t *
decide(struct ophub *h, const char *id, const char *body, int *status)
{
	json_t *b = json_loads(body, 0, NULL), *out;

	out = ophub_decide(h, id, b, "uid=0", status);
	json_decref(b);
	return out;
}

static const char *
err_code(const json_t *env)
{
	return json_string_value(json_object_get(json_object_get(env, "error"), "code"));
}

static int
decisions(struct store *s, const char *id)
{
	char *text = NULL;
	json_t *rows;
	int n;

	if (store_decision_list(s, id, &text) < 0)
		return -1;
	rows = json_loads(text, 0, NULL);
	n = (int)json_array_size(rows);
	json_decref(rows);
	free(text);
	return n;
}

static void
test_hub(struct store *st, uv_loop_t *loop)
{
	struct ophub *h = ophub_new(loop, st);
	struct seen s1 = {0}, s2 = {0};
	struct ophub_watcher *w1 = ophub_watch(h, on_push, &s1), *w2 = ophub_watch(h, on_push, &s2);
	struct woken a = {0}, b = {0}, c = {0}, d = {0}, e = {0}, x = {0};
	json_t *out, *snap;
	char *text, *rule = NULL;
	int status = 0;

	T(ophub_watchers(h) == 2);

	/* Requested: both watchers hear of it; the snapshot holds it. */
	T(start(h, "mcpr_a", "resp_1", "deploy", 900, &a) != NULL);
	T(s1.n == 1 && strcmp(s1.types[0], "approval.requested") == 0);
	T(s2.n == 1);
	T(json_integer_value(json_object_get(s1.last, "version")) == 1);
	T(json_integer_value(json_object_get(s1.last, "at_ms")) > 0);
	text = ophub_snapshot(h);
	snap = json_loads(text ? text : "", 0, NULL);
	T(json_array_size(json_object_get(snap, "approvals")) == 1);
	T(json_integer_value(json_object_get(snap, "pending")) == 1);
	json_decref(snap);
	free(text);

	/* Bad bodies and unknown ids; nothing moves. */
	json_decref(decide(h, "mcpr_a", "{\"decision\":\"maybe\",\"version\":1}", &status));
	T(status == 400);
	json_decref(decide(h, "mcpr_a", "{\"decision\":\"deny\"}", &status));
	T(status == 400);
	json_decref(decide(h, "mcpr_none", "{\"decision\":\"deny\",\"version\":1}", &status));
	T(status == 404);
	out = decide(h, "mcpr_a", "{\"decision\":\"deny\",\"version\":2}", &status);
	T(status == 409);
	T(json_integer_value(json_object_get(json_object_get(out, "approval"), "version")) == 1);
	json_decref(out);
	T(a.count == 0);

	/* A denial with a message: woken once, told to all; a second decision is 409 already_resolved. */
	out = decide(h, "mcpr_a", "{\"decision\":\"deny\",\"version\":1,\"message\":\"not now\"}", &status);
	T(status == 200);
	T_STREQ(json_string_value(json_object_get(out, "status")), "denied");
	json_decref(out);
	T(a.count == 1 && a.outcome == OPHUB_DENIED);
	T_STREQ(a.by, "uid=0");
	T_STREQ(a.message, "not now");
	T(s2.n == 2 && strcmp(s2.types[1], "approval.resolved") == 0);
	T(json_integer_value(json_object_get(s2.last, "version")) == 2);
	out = decide(h, "mcpr_a", "{\"decision\":\"approve_once\",\"version\":2}", &status);
	T(status == 409);
	T_STREQ(err_code(out), "already_resolved");
	json_decref(out);
	T(a.count == 1);
	T(decisions(st, "mcpr_a") == 1);

	/* A caller's approval is not the operator's. */
	T(store_approval_put(st, "mcpr_c", "resp_9", "ops", "tgt", "deploy", "args", "key=ci", 1) == 0);
	out = decide(h, "mcpr_c", "{\"decision\":\"deny\",\"version\":1}", &status);
	T(status == 400);
	T_STREQ(err_code(out), "approval_caller_mode");
	json_decref(out);

	/* approve_response: the response's other waiting call of the tool goes with it, not another tool's.
	 */
	T(start(h, "mcpr_b", "resp_2", "deploy", 900, &b) != NULL);
	T(start(h, "mcpr_b2", "resp_2", "deploy", 900, &c) != NULL);
	T(start(h, "mcpr_b3", "resp_2", "status", 900, &d) != NULL);
	json_decref(decide(h, "mcpr_b", "{\"decision\":\"approve_response\",\"version\":1}", &status));
	T(status == 200);
	T(b.count == 1 && b.outcome == OPHUB_APPROVED);
	T(c.count == 1 && c.outcome == OPHUB_APPROVED);
	T(d.count == 0);

	/* A batch naming only part of the response's pending calls changes nothing; all of them, all. */
	T(start(h, "mcpr_b4", "resp_2", "status", 900, &e) != NULL);
	{
		json_t *part = json_pack("{s:s, s:s, s:[{s:s, s:i}]}", "response_id", "resp_2", "decision",
		                         "deny", "approvals", "id", "mcpr_b3", "version", 1);

		out = ophub_decide_batch(h, part, "uid=0", &status);
		json_decref(part);
	}
	T(status == 409);
	T_STREQ(err_code(out), "approvals_changed");
	T(json_array_size(json_object_get(out, "approvals")) == 2);
	json_decref(out);
	T(d.count == 0 && e.count == 0);
	{
		json_t *body = json_pack("{s:s, s:s, s:[{s:s, s:i}, {s:s, s:i}]}", "response_id", "resp_2",
		                         "decision", "deny", "approvals", "id", "mcpr_b3", "version", 1, "id",
		                         "mcpr_b4", "version", 1);

		out = ophub_decide_batch(h, body, "uid=0", &status);
		json_decref(body);
	}
	T(status == 200);
	T(json_array_size(json_object_get(out, "data")) == 2);
	json_decref(out);
	T(d.count == 1 && d.outcome == OPHUB_DENIED);
	T(e.count == 1);

	/* always: a rule for the definition the operator saw. */
	T(start(h, "mcpr_r", "resp_3", "deploy", 900, &x) != NULL);
	json_decref(decide(h, "mcpr_r", "{\"decision\":\"always\",\"version\":1,\"ttl_s\":60}", &status));
	T(status == 200);
	T(store_rule_match(st, "tgt", "deploy", "def1", util_wall_s(), 0, &rule) == 0);
	free(rule);
	rule = NULL;
	json_decref(decide(h, "mcpr_r", "{\"decision\":\"always\",\"version\":1,\"ttl_s\":0}", &status));
	T(status == 400); /* ttl_s 0 is not a TTL (absent is: no expiry) */

	/* Abandoned: the watchers hear of it, the call is never woken, a late decision is 409 abandoned. */
	{
		struct woken g = {0};
		size_t before = s1.n;
		struct ophub_wait *w = start(h, "mcpr_g", "resp_4", "deploy", 900, &g);

		ophub_wait_abandon(w, "gone");
		T(g.count == 0);
		T(s1.n == before + 2 && strcmp(s1.types[before + 1], "approval.abandoned") == 0);
		out = decide(h, "mcpr_g", "{\"decision\":\"approve_once\",\"version\":1}", &status);
		T(status == 409);
		T_STREQ(err_code(out), "abandoned");
		json_decref(out);
	}

	/* Expired: the timer ends the wait; the call is woken with EXPIRED; a late decision is 409 expired.
	 */
	{
		struct woken g = {0};
		size_t before = s1.n;

		T(start(h, "mcpr_x", "resp_5", "deploy", 0, &g) != NULL);
		uv_run(loop, UV_RUN_ONCE);
		T(g.count == 1 && g.outcome == OPHUB_EXPIRED);
		T(s1.n == before + 2 && strcmp(s1.types[before + 1], "approval.expired") == 0);
		out = decide(h, "mcpr_x", "{\"decision\":\"approve_once\",\"version\":1}", &status);
		T(status == 409);
		T_STREQ(err_code(out), "expired");
		json_decref(out);
		T(decisions(st, "mcpr_x") == 1);
	}

	ophub_unwatch(w2);
	T(ophub_watchers(h) == 1);
	ophub_unwatch(w1);
	ophub_free(h);
	uv_run(loop, UV_RUN_DEFAULT); /* the timers' close callbacks free the waits */
	json_decref(s1.last);
	json_decref(s2.last);
}

static int
rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int
main(void)
{
	char err[256] = "", *path;
	struct store *st;
	uv_loop_t loop;

	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	path = xasprintf("%s/ophub.sqlite", tmpdir);
	st = store_open(path, err, sizeof err);
	T(st != NULL);
	if (st) {
		uv_loop_init(&loop);
		test_hub(st, &loop);
		uv_loop_close(&loop);
		store_close(st);
	} else {
		printf("open: %s\n", err);
	}
	free(path);
	nftw(tmpdir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	return T_DONE();
}
