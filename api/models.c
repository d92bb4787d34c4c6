#include "api/models.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/apierr.h"
#include "api/env.h"
#include "api/provider.h"
#include "daemon/buf.h"
#include "daemon/config.h"
#include "daemon/log.h"
#include "daemon/redact.h"
#include "daemon/util.h"

#define MODELS_BODY_MAX   ((size_t)1024 * 1024)
#define MODELS_CACHE_MS   60000u
#define MODELS_TIMEOUT_MS 5000L
#define MODELS_MAX        4096 /* entries in the merged list */

/* A fetch copies what it needs of its upstream: a SIGHUP may free the config while it runs. */
struct models_fetch {
	struct models_req *req;
	char *name;
	char *default_model;
	int is_default;
	struct provider_call *call;    /* while it runs */
	json_t *answer;                /* the upstream's 2xx answer */
	char err[512];                 /* why the fetch failed (an api_error message), "" otherwise */
	struct provider_target target; /* the upstream, copied (its Authorization line is a secret) */
};

struct models_req {
	struct api_env *env;
	struct config *cfg; /* held while the fetches run */
	models_done_fn done;
	void *ud;
	struct models_fetch *fetch;
	struct redact *secrets; /* the config's and every forwarded bearer: kept out of errors and lists */
	size_t n, pending;
	int per_caller; /* an upstream was asked with the caller's own token: the listing is not cached */
};

static json_t *cache;
static uint64_t cache_ms;

/* seen indexes the ids already in data, so a huge upstream list costs O(n), not O(n^2). */
static void
add_model(json_t *data, json_t *seen, const char *id, const char *owned_by, json_int_t created)
{
	if (json_array_size(data) >= MODELS_MAX || json_object_get(seen, id) != NULL)
		return;
	json_object_set_new(seen, id, json_true());
	json_array_append_new(data, json_pack("{s:s, s:s, s:I, s:s}", "id", id, "object", "model", "created",
	                                      created, "owned_by", owned_by));
}

/* Adds what one upstream answered; 0 when its answer was usable, else -1 with why in why. */
static int
merge_upstream(json_t *data, json_t *seen, const struct models_fetch *f, char *why, size_t whylen)
{
	json_t *list, *m;
	size_t i;
	int rc = -1;

	if (f->err[0]) {
		snprintf(why, whylen, "%s", f->err);
		return -1;
	}
	list = json_object_get(f->answer, "data");
	if (json_is_array(list)) {
		json_array_foreach (list, i, m) {
			const char *id = json_string_value(json_object_get(m, "id"));
			const char *owner = json_string_value(json_object_get(m, "owned_by"));
			json_int_t created = json_integer_value(json_object_get(m, "created"));
			char *name;

			if (id == NULL || id[0] == '\0' || strlen(id) > 256)
				continue;
			name = f->is_default ? xstrdup(id) : xasprintf("%s:%s", id, f->name);
			add_model(data, seen, name, owner ? owner : f->name, created);
			free(name);
		}
		rc = 0;
	} else {
		snprintf(why, whylen, "did not answer a model list");
	}
	return rc;
}

/*
 * A dead upstream is reported, never hidden: when no upstream listed its models the answer is a 502
 * error envelope naming each upstream and why; when some did, a 200 with their models (and the
 * failed ones' default_model, still routable) plus "upstream_errors": [{"upstream", "message"}]. The
 * openai SDK's models.list() keeps only "object" and "data" of the body (its Page), so the extra
 * field costs its callers nothing, while a person or a script can see which upstream is missing.
 * Only a listing where every upstream answered is cached: a cached failure would hide the upstream
 * for a minute after it is back.
 */
static void
finish(struct models_req *r)
{
	json_t *data = json_array(), *seen = json_object(), *errors = json_array(), *body, *clean;
	struct api_error e;
	struct buf names;
	char why[512];
	size_t i, nfailed = 0;
	int status = 200;

	buf_init(&names, 0);
	for (i = 0; i < r->n; i++) {
		struct models_fetch *f = &r->fetch[i];

		why[0] = '\0';
		if (merge_upstream(data, seen, f, why, sizeof why) == 0)
			continue;
		log_warnx("models: upstream %s did not list its models: %s", f->name, why);
		nfailed++;
		json_array_append_new(errors, json_pack("{s:s, s:s}", "upstream", f->name, "message", why));
		buf_printf(&names, "%s%s: %s", nfailed > 1 ? "; " : "", f->name, why);
		if (f->default_model)
			add_model(data, seen, f->default_model, f->name, 0);
	}
	json_decref(seen);
	/* The list is an upstream's text, cached and shown to other callers. */
	clean = redact_json(r->secrets, data);
	json_decref(data);
	data = clean;
	if (r->n > 0 && nfailed == r->n) {
		status = 502;
		api_error_set(&e, 502, "model_error", "upstream_unreachable", NULL,
		              "no upstream listed its models (%.400s)", names.data ? names.data : "");
		body = api_error_envelope(&e);
		json_decref(data);
	} else {
		body = json_pack("{s:s, s:o}", "object", "list", "data", data);
		if (nfailed > 0) {
			json_object_set(body, "upstream_errors", errors);
		} else if (!r->per_caller) {
			json_decref(cache);
			cache = json_incref(body);
			cache_ms = util_mono_ms();
		}
	}
	json_decref(errors);
	buf_free(&names);
	r->done(r->ud, status, body);
	json_decref(body);
	models_cancel(r);
}

static void
on_fetched(void *ud, const struct provider_result *result)
{
	struct models_fetch *f = ud;

	f->call = NULL;
	if (result->ok)
		f->answer = json_incref(result->answer);
	else
		snprintf(f->err, sizeof f->err, "%s", result->err.message);
	if (--f->req->pending == 0)
		finish(f->req);
}

static const struct provider_callbacks models_callbacks = {.on_done = on_fetched};

/* 1 when an upstream is asked with the caller's token (forward_caller_auth): what it lists is that
 * caller's view, so one caller's listing must never answer another caller. */
static int
models_per_caller(const struct config *cfg)
{
	size_t i;

	for (i = 0; i < cfg->n_upstreams; i++)
		if (cfg->upstreams[i].forward_caller_auth)
			return 1;
	return 0;
}

struct models_req *
models_list(struct api_env *env, const char *bearer, models_done_fn done, void *ud)
{
	const struct config *cfg = env->cfg;
	struct models_req *r;
	size_t i;

	if (cache && !models_per_caller(cfg) && util_mono_ms() - cache_ms < MODELS_CACHE_MS) {
		done(ud, 200, cache);
		return NULL;
	}
	r = xcalloc(1, sizeof *r);
	r->env = env;
	r->cfg = api_env_config(env);
	r->done = done;
	r->ud = ud;
	r->n = cfg->n_upstreams;
	r->per_caller = models_per_caller(cfg);
	r->fetch = xcalloc(r->n ? r->n : 1, sizeof *r->fetch);
	r->secrets = redact_new();
	redact_add_config(r->secrets, cfg);
	for (i = 0; i < r->n; i++) {
		struct models_fetch *f = &r->fetch[i];
		const struct config_upstream *up = &cfg->upstreams[i];
		struct provider_request pr;
		struct api_error e;

		f->req = r;
		f->name = xstrdup(up->name);
		f->default_model = up->default_model ? xstrdup(up->default_model) : NULL;
		f->is_default = up->is_default || cfg->n_upstreams == 1;
		provider_target_init(&f->target, up, bearer);
		redact_add_header(r->secrets, f->target.auth_header); /* a forwarded bearer may be echoed */
		memset(&pr, 0, sizeof pr);
		pr.target = &f->target;
		pr.method = "GET";
		pr.path = "/models";
		pr.connect_timeout_ms = MODELS_TIMEOUT_MS;
		pr.total_timeout_ms = MODELS_TIMEOUT_MS;
		pr.max_answer_bytes = MODELS_BODY_MAX;
		pr.secrets = r->secrets;
		f->call = provider_start(env->xfer, &pr, &models_callbacks, f, &e);
		if (f->call)
			r->pending++;
		else
			snprintf(f->err, sizeof f->err, "%s", e.message);
	}
	if (r->pending == 0) {
		finish(r);
		return NULL;
	}
	return r;
}

void
models_cancel(struct models_req *r)
{
	size_t i;

	if (r == NULL)
		return;
	for (i = 0; i < r->n; i++) {
		struct models_fetch *f = &r->fetch[i];
		provider_cancel(f->call);
		json_decref(f->answer);
		free(f->name);
		free(f->default_model);
		provider_target_clear(&f->target);
	}
	free(r->fetch);
	redact_free(r->secrets);
	config_release(r->cfg);
	free(r);
}

void
models_cleanup(void)
{
	json_decref(cache);
	cache = NULL;
}
