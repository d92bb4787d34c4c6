/* jsonrpc: see jsonrpc.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/util.h"
#include "mcpclient/jsonrpc.h"

static int
classify(json_t *o, struct jsonrpc_msg *m, char *err, size_t errlen)
{
	json_t *v = json_object_get(o, "jsonrpc");
	json_t *method, *code, *message;

	memset(m, 0, sizeof *m);
	if (!json_is_object(o)) {
		snprintf(err, errlen, "JSON-RPC message is not an object");
		return -1;
	}
	if (!json_is_string(v) || strcmp(json_string_value(v), "2.0") != 0) {
		snprintf(err, errlen, "JSON-RPC message without \"jsonrpc\": \"2.0\"");
		return -1;
	}
	m->id = json_object_get(o, "id");
	if (m->id && !json_is_string(m->id) && !json_is_integer(m->id) && !json_is_null(m->id)) {
		snprintf(err, errlen, "JSON-RPC id is neither a string nor an integer");
		return -1;
	}
	if (json_is_integer(m->id)) {
		m->id_is_int = 1;
		m->id_int = json_integer_value(m->id);
	}
	method = json_object_get(o, "method");
	if (method) {
		if (!json_is_string(method)) {
			snprintf(err, errlen, "JSON-RPC method is not a string");
			return -1;
		}
		m->method = json_string_value(method);
		m->params = json_object_get(o, "params");
		if (m->params && !json_is_object(m->params) && !json_is_array(m->params)) {
			snprintf(err, errlen, "JSON-RPC params of %.64s is neither an object nor an array",
			         m->method);
			return -1;
		}
		if (!m->id) {
			m->kind = JSONRPC_NOTIFICATION;
			return 0;
		}
		if (json_is_null(m->id)) {
			snprintf(err, errlen, "JSON-RPC request %.64s with a null id", m->method);
			return -1;
		}
		m->kind = JSONRPC_REQUEST;
		return 0;
	}
	m->result = json_object_get(o, "result");
	m->error = json_object_get(o, "error");
	/* An error may come without an id when the server could not read the request. */
	if ((!m->id && !m->error) || (!!m->result == !!m->error)) {
		snprintf(err, errlen, "JSON-RPC message is neither a request, a notification nor a response");
		return -1;
	}
	if (m->error) {
		if (!json_is_object(m->error)) {
			snprintf(err, errlen, "JSON-RPC error is not an object");
			return -1;
		}
		code = json_object_get(m->error, "code");
		message = json_object_get(m->error, "message");
		m->error_code = json_is_integer(code) ? (int)json_integer_value(code) : 0;
		m->error_message = json_is_string(message) ? json_string_value(message) : "";
	} else if (json_is_null(m->id)) {
		snprintf(err, errlen, "JSON-RPC result with a null id");
		return -1;
	}
	m->kind = JSONRPC_RESPONSE;
	return 0;
}

int
jsonrpc_parse(const char *data, size_t len, jsonrpc_msg_cb cb, void *ud, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
	struct jsonrpc_msg m;
	size_t i, n = 1;
	int result = 0;

	if (!root) {
		snprintf(err, errlen, "JSON-RPC message is not JSON: %s", jerr.text);
		return -1;
	}
	if (json_is_array(root)) {
		n = json_array_size(root);
		if (n == 0) {
			snprintf(err, errlen, "JSON-RPC batch is empty");
			result = -1;
		}
	}
	for (i = 0; i < n && result == 0; i++) {
		json_t *o = json_is_array(root) ? json_array_get(root, i) : root;

		if (classify(o, &m, err, errlen) < 0) {
			result = -1;
			break;
		}
		result = cb(ud, &m);
	}
	json_decref(root);
	return result;
}

static char *
dump(json_t *o)
{
	char *s = json_dumps(o, JSON_COMPACT);

	json_decref(o);
	if (!s)
		abort(); /* only allocation fails here: the values are ours and valid */
	return s;
}

char *
jsonrpc_request(json_int_t id, const char *method, json_t *params)
{
	json_t *o = json_pack("{s:s, s:I, s:s}", "jsonrpc", "2.0", "id", id, "method", method);

	if (params)
		json_object_set(o, "params", params);
	return dump(o);
}

char *
jsonrpc_notification(const char *method, json_t *params)
{
	json_t *o = json_pack("{s:s, s:s}", "jsonrpc", "2.0", "method", method);

	if (params)
		json_object_set(o, "params", params);
	return dump(o);
}

char *
jsonrpc_result(json_t *id, json_t *result)
{
	json_t *o = json_pack("{s:s}", "jsonrpc", "2.0");

	json_object_set(o, "id", id ? id : json_null());
	json_object_set_new(o, "result", result ? json_incref(result) : json_object());
	return dump(o);
}

char *
jsonrpc_error(json_t *id, int code, const char *message)
{
	json_t *o =
	        json_pack("{s:s, s:{s:i, s:s}}", "jsonrpc", "2.0", "error", "code", code, "message", message);

	json_object_set(o, "id", id ? id : json_null());
	return dump(o);
}
