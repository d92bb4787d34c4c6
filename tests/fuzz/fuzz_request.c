/*
 * fuzz_request: libFuzzer target for request_parse(), the first code to see a caller's body. On
 * success the request also goes through response_new() and a full serialisation, so the normalised
 * objects are exercised too; on failure the error envelope must serialise.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/apierr.h"
#include "api/request.h"
#include "api/response.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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
		json_object_set(j, "input", r->input);
		s = json_dumps(j, 0);
		if (s == NULL)
			abort();
		free(s);
		json_decref(j);
		request_free(r);
	} else {
		if (err.status != 400 && err.status != 413)
			abort();
		j = api_error_envelope(&err);
		s = json_dumps(j, 0);
		if (s == NULL)
			abort();
		free(s);
		json_decref(j);
	}
	return 0;
}
