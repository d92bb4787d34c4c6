/*
 * fuzz_wsmsg: libFuzzer target for wsmsg_parse(), the first code to see a WebSocket client
 * message. The pipeline the transport runs is fuzzed end to end: a create's body goes through
 * request_parse (it must never crash; its error must serialise), a steer through the refusal
 * builder, an error through the envelope, whose code must always be a string.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/apierr.h"
#include "api/request.h"
#include "api/wsmsg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
dump(json_t *j)
{
	char *s = json_dumps(j, 0);

	if (s == NULL)
		abort();
	free(s);
	json_decref(j);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wsmsg m;
	struct api_error err;
	struct request *r;
	json_t *env;
	int rc;

	rc = wsmsg_parse((const char *)data, size, 1 << 20, &m);
	if ((rc == 0) != (m.kind != WSMSG_ERROR))
		abort();
	switch (m.kind) {
	case WSMSG_CREATE:
		if (m.body == NULL || strstr(m.body, "\"stream\":true") == NULL)
			abort();
		memset(&err, 0, sizeof err);
		r = request_parse(m.body, m.body_len, &err);
		if (r != NULL) {
			if (r->stream != 1 || r->background != 0)
				abort();
			request_free(r);
		} else {
			dump(wsmsg_error_envelope(&err, m.stream_id));
		}
		break;
	case WSMSG_STEER:
		dump(wsmsg_steer_refusal(m.steer, 0, m.stream_id));
		break;
	case WSMSG_PROCESSED:
		break;
	case WSMSG_ERROR:
		if (m.err.status != 400 && m.err.status != 413)
			abort();
		env = wsmsg_error_envelope(&m.err, m.stream_id);
		if (!json_is_string(json_object_get(json_object_get(env, "error"), "code")))
			abort();
		dump(env);
		break;
	}
	wsmsg_clear(&m);
	return 0;
}
