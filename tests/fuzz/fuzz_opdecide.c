/*
 * fuzz_opdecide: libFuzzer target for an operator's decision as it arrives (POST /v1/approvals/{id},
 * POST /v1/approvals, the stream's approval.decide and approval.decide_batch): any JSON body against a
 * hub with a waiting call. Every answer must be a status the API documents, with an error envelope
 * whose code is a string or null, or the approval(s); a waiting call is woken at most once.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <uv.h>

#include "api/ophub.h"
#include "daemon/util.h"
#include "store/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct store *st;
static struct ophub *hub;
static int woken, waits;

static void
on_wake(void *ud, const struct ophub_result *r)
{
	(void)ud;
	(void)r;
	woken++;
}

/* A waiting call of response resp_f, id mcpr_f<N>: the bodies name mcpr_f1 and resp_f most often. */
static void
new_wait(void)
{
	char id[32];
	int64_t now = util_wall_s();
	struct store_approval_new a = {.response_id = "resp_f",
	                               .server_label = "ops",
	                               .target_sha256 = "tgt",
	                               .tool = "deploy",
	                               .arguments_sha256 = "args",
	                               .requested_by = "key=ci",
	                               .definition_sha256 = "def",
	                               .detail = "{\"definition\":\"{}\"}",
	                               .created_at = now,
	                               .expires_at = now + 3600};

	snprintf(id, sizeof id, "mcpr_f%d", ++waits);
	a.id = id;
	if (ophub_wait_start(hub, &a, on_wake, NULL) == NULL)
		abort();
}

static void
check(json_t *out, int status)
{
	json_t *err = json_object_get(out, "error");
	char *text;

	if (out == NULL ||
	    (status != 200 && status != 400 && status != 404 && status != 409 && status != 500))
		abort();
	if (status != 200 &&
	    (!json_is_object(err) || !json_is_string(json_object_get(err, "message")) ||
	     !(json_is_string(json_object_get(err, "code")) || json_is_null(json_object_get(err, "code")))))
		abort();
	text = json_dumps(out, 0);
	if (text == NULL)
		abort();
	free(text);
	json_decref(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *body = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
	int status = 0;
	const char *id;

	if (st == NULL) {
		char path[] = "/tmp/fuzz_opdecide.XXXXXX", err[256];
		char *db;

		if (mkdtemp(path) == NULL)
			abort();
		db = xasprintf("%s/db.sqlite", path);
		st = store_open(db, err, sizeof err);
		free(db);
		if (st == NULL)
			abort();
		hub = ophub_new(uv_default_loop(), st);
		new_wait();
	}
	if (body == NULL)
		return 0;
	id = json_string_value(json_object_get(body, "id"));
	check(ophub_decide(hub, id ? id : "mcpr_f1", body, "uid=0", &status), status);
	check(ophub_decide_batch(hub, body, "uid=0", &status), status);
	json_decref(body);
	if (woken > waits) /* a wait woken twice */
		abort();
	/* Keep one call waiting for the next input; the closed timers' memory goes with the loop turn. */
	if (woken > 0 && woken >= waits)
		new_wait();
	uv_run(uv_default_loop(), UV_RUN_NOWAIT);
	return 0;
}
