/*
 * fuzz_request: libFuzzer target for request_parse() and request_parse_compact(), the first code
 * to see a caller's body. On success the request also goes through response_new() and a full
 * serialisation, so the normalised objects are exercised too, and the echoed mcp tools must hold no
 * secret (no authorization, every header value "[redacted]"); on failure the error envelope must
 * serialise.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/apierr.h"
#include "api/request.h"
#include "api/response.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_error(const struct api_error *err)
{
	json_t *j;
	char *s;

	if (err->status != 400 && err->status != 413)
		abort();
	j = api_error_envelope(err);
	s = json_dumps(j, 0);
	if (s == NULL)
		abort();
	free(s);
	json_decref(j);
}

static void
check_echo(json_t *tools)
{
	json_t *t, *h, *v;
	const char *key;
	size_t i;

	json_array_foreach (tools, i, t) {
		if (json_object_get(t, "authorization") != NULL)
			abort();
		h = json_object_get(t, "headers");
		json_object_foreach (h, key, v) {
			if (!json_is_string(v) || strcmp(json_string_value(v), "[redacted]") != 0)
				abort();
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct api_error err;
	struct request *r;
	json_t *j;
	char *s;

	memset(&err, 0, sizeof err);
	r = request_parse((const char *)data, size, &err);
	if (r != NULL) {
		j = response_new(r, "resp_fuzz", 1);
		check_echo(json_object_get(j, "tools"));
		json_object_set(j, "input", r->input);
		s = json_dumps(j, 0);
		if (s == NULL)
			abort();
		free(s);
		json_decref(j);
		request_free(r);
	} else {
		check_error(&err);
	}

	memset(&err, 0, sizeof err);
	r = request_parse_compact((const char *)data, size, &err);
	if (r != NULL) {
		if (r->model == NULL || json_array_size(r->tools) != 0 || json_array_size(r->mcp_tools) != 0)
			abort();
		s = json_dumps(r->input, 0);
		if (s == NULL)
			abort();
		free(s);
		request_free(r);
	} else {
		check_error(&err);
	}
	return 0;
}
