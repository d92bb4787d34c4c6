#include "api/provider.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "daemon/config.h"
#include "daemon/redact.h"
#include "daemon/util.h"

void
provider_target_init(struct provider_target *t, const struct config_upstream *up, const char *caller_bearer)
{
	const char *key = up->forward_caller_auth ? caller_bearer : up->api_key;

	memset(t, 0, sizeof *t);
	t->name = xstrdup(up->name);
	t->base_url = xstrdup(up->base_url);
	t->http2 = up->http2;
	if (up->ca_file)
		t->ca_file = xstrdup(up->ca_file);
	if (key && key[0])
		t->auth_header = xasprintf("Authorization: Bearer %s", key);
}

void
provider_target_clear(struct provider_target *t)
{
	free(t->name);
	free(t->base_url);
	free(t->ca_file);
	if (t->auth_header) {
		explicit_bzero(t->auth_header, strlen(t->auth_header));
		free(t->auth_header);
	}
	memset(t, 0, sizeof *t);
}

void
provider_error_for_status(long st, const char *body, size_t len, const char *upstream_name,
                          struct redact *secrets, struct api_error *err)
{
	json_t *root = json_loadb(body ? body : "", body ? len : 0, 0, NULL);
	json_t *e = json_object_get(root, "error");
	const char *msg = json_string_value(json_object_get(e, "message"));
	char *clean;
	int status;
	const char *type, *code;

	if (msg == NULL)
		msg = json_string_value(e); /* some servers send "error": "text" */
	if (st == 429) {
		status = 429, type = "too_many_requests", code = "rate_limit_exceeded";
	} else if (st == 503) {
		/* Overloaded or down for a while: a 503 of our own, so that callers retry (with its
		 * Retry-After) rather than take it for a broken upstream (502). */
		status = 503, type = "server_error", code = "upstream_unavailable";
	} else if (st == 400 || st == 404 || st == 413 || st == 422) {
		/* The upstream judged the request (unknown model, context too long): the caller's to fix. */
		status = st == 422 ? 400 : (int)st, type = st == 404 ? "not_found" : "invalid_request";
		code = st == 404 ? "model_not_found" : "upstream_rejected";
	} else if (st == 401 || st == 403) {
		status = 502, type = "model_error", code = "upstream_auth_failed";
	} else {
		status = 502, type = "model_error", code = "upstream_error";
	}
	/* Redacted before the cut: a secret cut in two would no longer be recognised. */
	clean = redact_strdup(secrets, msg);
	api_error_set(err, status, type, code, NULL, "upstream %s answered HTTP %ld%s%.300s", upstream_name,
	              st, clean ? ": " : "", clean ? clean : "");
	free(clean);
	json_decref(root);
}
