/*
 * wsmsg: one WebSocket client message to a typed result. OpenAI tolerates fields it does not know
 * in response.create and Codex sends several (client_metadata, generate...), while request_parse
 * rejects every unknown field; so this module is the tolerant edge: it removes what the WebSocket
 * mode ignores or handles itself, drops the unknown names (asking request_parse's own table, so the
 * two cannot disagree), and leaves every field request_parse knows for it to validate as over HTTP.
 * JSON depth and size are bounded by jansson's parser depth limit and by max_bytes.
 */
#include "api/wsmsg.h"

#include <stdlib.h>
#include <string.h>

#include "api/request.h"
#include "daemon/util.h"

/* Fields the WebSocket mode ignores (RESPONSES-NOTES §5.4): the socket always streams, never
 * runs in the background. */
static const char *const ignored_keys[] = {"stream", "stream_options", "background", NULL};

static int
fail(struct wsmsg *out)
{
	out->kind = WSMSG_ERROR;
	return -1;
}

/* stream_id first, so that even a bad message's envelope can echo it. */
static int
take_stream_id(json_t *root, struct wsmsg *out)
{
	json_t *v = json_object_get(root, "stream_id");

	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v) || json_string_length(v) > WSMSG_STREAM_ID_MAX ||
	    memchr(json_string_value(v), '\0', json_string_length(v)) != NULL)
		return api_error_bad(&out->err, "stream_id", "invalid_value",
		                     "Invalid 'stream_id': expected a string of at most %d bytes.",
		                     WSMSG_STREAM_ID_MAX);
	out->stream_id = xstrdup(json_string_value(v));
	return 0;
}

static int
parse_create(json_t *root, struct wsmsg *out)
{
	json_t *gen, *v, *body;
	const char *key;
	void *tmp;
	size_t i;

	gen = json_object_get(root, "generate");
	if (gen != NULL && !json_is_boolean(gen))
		return api_error_bad(&out->err, "generate", "invalid_type",
		                     "Invalid type for 'generate': expected a boolean, but got %s instead.",
		                     api_json_type_name(gen));
	out->warmup = json_is_false(gen);

	body = json_copy(root);
	json_object_del(body, "type");
	json_object_del(body, "generate");
	json_object_del(body, "stream_id");
	for (i = 0; ignored_keys[i] != NULL; i++)
		json_object_del(body, ignored_keys[i]);
	out->dropped = json_array();
	json_object_foreach_safe (body, tmp, key, v) {
		if (request_is_field(key))
			continue;
		json_array_append_new(out->dropped, json_string(key));
		json_object_del(body, key);
	}
	json_object_set_new(body, "stream", json_true());
	out->body = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	if (out->body == NULL)
		return api_error_set(&out->err, 500, "server_error", "server_error", NULL,
		                     "The message could not be re-serialised.");
	out->body_len = strlen(out->body);
	out->kind = WSMSG_CREATE;
	return 0;
}

int
wsmsg_parse(const char *data, size_t len, size_t max_bytes, struct wsmsg *out)
{
	json_error_t jerr;
	json_t *root = NULL, *t;
	const char *type;
	int result = -1;

	memset(out, 0, sizeof *out);
	if (max_bytes > 0 && len > max_bytes) {
		api_error_set(&out->err, 413, "invalid_request", "request_too_large", NULL,
		              "The message is %zu bytes; the limit is %zu bytes.", len, max_bytes);
		return fail(out);
	}
	if (data == NULL || len == 0) {
		api_error_bad(&out->err, NULL, "invalid_json",
		              "The message is empty; expected a JSON object.");
		return fail(out);
	}
	/* jansson stops at a NUL inside the buffer only with JSON_ALLOW_NUL unset: say so plainly. */
	if (memchr(data, '\0', len) != NULL) {
		api_error_bad(&out->err, NULL, "invalid_json", "The message contains a NUL byte.");
		return fail(out);
	}
	root = json_loadb(data, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		api_error_bad(&out->err, NULL, "invalid_json",
		              "We could not parse the JSON of your message: %s (line %d, column %d).",
		              jerr.text, jerr.line, jerr.column);
		return fail(out);
	}
	if (!json_is_object(root)) {
		api_error_bad(&out->err, NULL, "invalid_type",
		              "The message must be a JSON object, but got %s.", api_json_type_name(root));
		goto done;
	}
	if (take_stream_id(root, out) < 0)
		goto done;
	t = json_object_get(root, "type");
	if (t == NULL || json_is_null(t)) {
		api_error_bad(&out->err, "type", "missing_required_parameter",
		              "Missing required parameter: 'type'.");
		goto done;
	}
	if (!json_is_string(t)) {
		api_error_bad(&out->err, "type", "invalid_type",
		              "Invalid type for 'type': expected a string, but got %s instead.",
		              api_json_type_name(t));
		goto done;
	}
	type = json_string_value(t);
	if (strcmp(type, "response.create") == 0) {
		result = parse_create(root, out);
	} else if (strcmp(type, "response.steer") == 0) {
		out->steer = json_object();
		json_object_set_new(out->steer, "previous_response_id",
		                    json_deep_copy(json_object_get(root, "previous_response_id")
		                                           ? json_object_get(root, "previous_response_id")
		                                           : json_null()));
		json_object_set_new(out->steer, "input",
		                    json_deep_copy(json_object_get(root, "input")
		                                           ? json_object_get(root, "input")
		                                           : json_null()));
		out->kind = WSMSG_STEER;
		result = 0;
	} else if (strcmp(type, "response.processed") == 0) {
		t = json_object_get(root, "response_id");
		if (json_is_string(t))
			out->response_id = xstrdup(json_string_value(t));
		out->kind = WSMSG_PROCESSED;
		result = 0;
	} else {
		api_error_bad(&out->err, "type", "unknown_event_type", "Unknown event type: '%.64s'.", type);
	}
done:
	json_decref(root);
	if (result < 0)
		return fail(out);
	return 0;
}

void
wsmsg_clear(struct wsmsg *out)
{
	if (out == NULL)
		return;
	free(out->stream_id);
	free(out->body);
	free(out->response_id);
	json_decref(out->dropped);
	json_decref(out->steer);
	memset(out, 0, sizeof *out);
}

json_t *
wsmsg_error_envelope(const struct api_error *e, const char *stream_id)
{
	json_t *env = json_object(), *o = api_error_object(e);
	const char *type = json_string_value(json_object_get(o, "type"));

	/* apierr's HTTP type "invalid_request" is "invalid_request_error" on the socket (notes §3). */
	if (type != NULL && strcmp(type, "invalid_request") == 0)
		json_object_set_new(o, "type", json_string("invalid_request_error"));
	/* code is always a string here (RESPONSES-NOTES §1.7): fall back to the type. */
	if (!json_is_string(json_object_get(o, "code")))
		json_object_set(o, "code", json_object_get(o, "type"));
	json_object_set_new(env, "type", json_string("error"));
	json_object_set_new(env, "status", json_integer(e->status));
	json_object_set_new(env, "error", o);
	if (stream_id != NULL)
		json_object_set_new(env, "stream_id", json_string(stream_id));
	return env;
}

json_t *
wsmsg_steer_refusal(const json_t *steer, long long seq, const char *stream_id)
{
	json_t *ev = json_object(), *s = json_object(), *err = json_object();
	json_t *p = steer ? json_object_get(steer, "previous_response_id") : NULL;
	json_t *in = steer ? json_object_get(steer, "input") : NULL;

	json_object_set_new(s, "previous_response_id", p ? json_deep_copy(p) : json_null());
	json_object_set_new(s, "input", in ? json_deep_copy(in) : json_null());
	json_object_set_new(err, "type", json_string("invalid_request_error"));
	json_object_set_new(err, "code", json_string("steering_not_supported"));
	json_object_set_new(err, "message",
	                    json_string("Steering a running response is not supported; the running response "
	                                "goes on. Send a new response.create after it completes."));
	json_object_set_new(ev, "type", json_string("response.steer.failed"));
	json_object_set_new(ev, "sequence_number", json_integer(seq));
	json_object_set_new(ev, "steer", s);
	json_object_set_new(ev, "error", err);
	if (stream_id != NULL)
		json_object_set_new(ev, "stream_id", json_string(stream_id));
	return ev;
}

json_t *
wsmsg_connection_limit(const char *stream_id)
{
	struct api_error e;

	api_error_bad(&e, NULL, "websocket_connection_limit_reached",
	              "Responses websocket connection limit reached (60 minutes). Create a new websocket "
	              "connection to continue.");
	return wsmsg_error_envelope(&e, stream_id);
}

json_t *
wsmsg_previous_not_found(const char *previous_response_id, const char *stream_id)
{
	struct api_error e;

	api_error_bad(&e, "previous_response_id", "previous_response_not_found",
	              "Previous response with id '%s' not found.",
	              previous_response_id ? previous_response_id : "");
	return wsmsg_error_envelope(&e, stream_id);
}

json_t *
wsmsg_binary_frame(void)
{
	struct api_error e;

	api_error_bad(&e, NULL, "binary_frame_not_supported",
	              "Binary frames are not supported; send each message as a JSON text frame.");
	return wsmsg_error_envelope(&e, NULL);
}

json_t *
wsmsg_too_large(size_t max_bytes)
{
	struct api_error e;

	api_error_set(&e, 413, "invalid_request", "request_too_large", NULL,
	              "The message is over the limit of %zu bytes.", max_bytes);
	return wsmsg_error_envelope(&e, NULL);
}

json_t *
wsmsg_too_many_requests(const char *stream_id)
{
	struct api_error e;

	api_error_set(&e, 429, "too_many_requests", "too_many_requests", NULL,
	              "Too many response.create messages are queued on this connection; wait for the "
	              "running ones to complete.");
	return wsmsg_error_envelope(&e, stream_id);
}
