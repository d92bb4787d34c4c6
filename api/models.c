#include "api/models.h"

#include <stdlib.h>
#include <string.h>

#include "api/engine.h"
#include "daemon/buf.h"
#include "daemon/config.h"
#include "daemon/log.h"
#include "daemon/redact.h"
#include "daemon/util.h"
#include "daemon/xfer.h"

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
	struct xfer *xfer;
	long status;
	struct buf body;
	char *auth; /* secret */
};

struct models_req {
	struct engine_ctx *ctx;
	models_done_fn done;
	void *ud;
	struct models_fetch *fetch;
	size_t n, pending;
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

/* Adds what one upstream answered; 0 when its answer was usable. */
static int
merge_upstream(json_t *data, json_t *seen, const struct models_fetch *f)
{
	json_t *root, *list, *m;
	size_t i;
	int rc = -1;

	if (f->status != 200)
		return -1;
	root = json_loadb(f->body.data ? f->body.data : "", f->body.len, 0, NULL);
	list = json_object_get(root, "data");
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
	}
	json_decref(root);
	return rc;
}

static void
finish(struct models_req *r)
{
	json_t *data = json_array(), *seen = json_object(), *list, *clean;
	struct redact *secrets = redact_new();
	size_t i;

	redact_add_config(secrets, r->ctx->cfg);
	for (i = 0; i < r->n; i++) {
		struct models_fetch *f = &r->fetch[i];

		redact_add_header(secrets, f->auth); /* a forwarded caller bearer */
		if (merge_upstream(data, seen, f) < 0) {
			log_warnx("models: upstream %s did not list its models (HTTP %ld)", f->name,
			          f->status);
			if (f->default_model)
				add_model(data, seen, f->default_model, f->name, 0);
		}
	}
	json_decref(seen);
	/* The list is an upstream's text, cached and shown to every caller. */
	clean = redact_json(secrets, data);
	json_decref(data);
	redact_free(secrets);
	list = json_pack("{s:s, s:o}", "object", "list", "data", clean);
	json_decref(cache);
	cache = json_incref(list);
	cache_ms = util_mono_ms();
	r->done(r->ud, list);
	json_decref(list);
	models_cancel(r);
}

static int
on_headers(void *ud, long status, const char *content_type)
{
	struct models_fetch *f = ud;

	f->status = status;
	return 0;
}

static int
on_data(void *ud, const char *data, size_t len)
{
	struct models_fetch *f = ud;

	return buf_append(&f->body, data, len) < 0 ? XFER_ABORT : XFER_OK;
}

static void
on_done(void *ud, const struct xfer_result *result)
{
	struct models_fetch *f = ud;

	f->xfer = NULL;
	if (!result->ok)
		f->status = 0;
	if (--f->req->pending == 0)
		finish(f->req);
}

static const struct xfer_callbacks models_callbacks = {on_headers, on_data, on_done};

struct models_req *
models_list(struct engine_ctx *ctx, const char *bearer, models_done_fn done, void *ud)
{
	const struct config *cfg = ctx->cfg;
	struct models_req *r;
	size_t i;

	if (cache && util_mono_ms() - cache_ms < MODELS_CACHE_MS) {
		done(ud, cache);
		return NULL;
	}
	r = xcalloc(1, sizeof *r);
	r->ctx = ctx;
	r->done = done;
	r->ud = ud;
	r->n = cfg->n_upstreams;
	r->fetch = xcalloc(r->n ? r->n : 1, sizeof *r->fetch);
	for (i = 0; i < r->n; i++) {
		struct models_fetch *f = &r->fetch[i];
		const struct config_upstream *up = &cfg->upstreams[i];
		const char *key;
		const char *headers[3] = {"Accept: application/json", NULL, NULL};
		struct xfer_request xr;
		char *url;

		f->req = r;
		f->name = xstrdup(up->name);
		f->default_model = up->default_model ? xstrdup(up->default_model) : NULL;
		f->is_default = up->is_default || cfg->n_upstreams == 1;
		buf_init(&f->body, MODELS_BODY_MAX);
		key = up->forward_caller_auth ? bearer : up->api_key;
		if (key && key[0]) {
			f->auth = xasprintf("Authorization: Bearer %s", key);
			headers[1] = f->auth;
		}
		url = xasprintf("%s/models", up->base_url);
		memset(&xr, 0, sizeof xr);
		xr.method = "GET";
		xr.url = url;
		xr.headers = headers;
		xr.http2 = up->http2;
		xr.ca_file = up->ca_file;
		xr.connect_timeout_ms = MODELS_TIMEOUT_MS;
		xr.total_timeout_ms = MODELS_TIMEOUT_MS;
		f->xfer = xfer_start(ctx->xfer, &xr, &models_callbacks, f);
		free(url);
		if (f->xfer)
			r->pending++;
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
		if (f->xfer)
			xfer_cancel(f->xfer);
		buf_free(&f->body);
		free(f->name);
		free(f->default_model);
		if (f->auth) {
			explicit_bzero(f->auth, strlen(f->auth));
			free(f->auth);
		}
	}
	free(r->fetch);
	free(r);
}

void
models_cleanup(void)
{
	json_decref(cache);
	cache = NULL;
}
