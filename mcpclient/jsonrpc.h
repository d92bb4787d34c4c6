/*
 * jsonrpc: JSON-RPC 2.0 framing for the MCP client: building the messages we send and classifying
 * the ones a server sends. Pure functions, no I/O; owned by whoever calls them.
 *
 * Our own request ids are integers (one counter per session, never reused). A server's request id
 * may be a string or an integer, 0 included; we echo it back untouched. A 2025-03-26 server may send
 * a batch (a JSON array): jsonrpc_parse hands each element to the callback in order.
 */
#ifndef MCPCLIENT_JSONRPC_H
#define MCPCLIENT_JSONRPC_H

#include <jansson.h>
#include <stddef.h>

enum jsonrpc_kind {
	JSONRPC_RESPONSE = 1, /* id + result or error */
	JSONRPC_REQUEST,      /* id + method */
	JSONRPC_NOTIFICATION  /* method, no id */
};

struct jsonrpc_msg {
	enum jsonrpc_kind kind;
	json_t *id;    /* borrowed; NULL for notifications, json null for an error without id */
	int id_is_int; /* id is an integer: id_int holds it */
	json_int_t id_int;
	const char *method;        /* requests and notifications */
	json_t *params;            /* borrowed; may be NULL */
	json_t *result;            /* responses: borrowed, NULL when error is set */
	json_t *error;             /* responses: the error object, borrowed */
	int error_code;            /* error.code (0 when absent) */
	const char *error_message; /* error.message ("" when absent) */
};

/* Called for each message; return 0 to go on, non-zero to stop (jsonrpc_parse returns it). */
typedef int (*jsonrpc_msg_cb)(void *ud, const struct jsonrpc_msg *msg);

/* Parses one JSON-RPC message or a batch. -1 with a message in err when the text is not JSON, not an
 * object (or array of objects), lacks "jsonrpc":"2.0", or matches no message shape; messages of a
 * batch before a bad element have already been delivered. The msg fields live only during the
 * callback. */
int jsonrpc_parse(const char *data, size_t len, jsonrpc_msg_cb cb, void *ud, char *err, size_t errlen);

/* The texts we send (compact JSON; caller frees). params / result are borrowed and may be NULL. */
char *jsonrpc_request(json_int_t id, const char *method, json_t *params);
char *jsonrpc_notification(const char *method, json_t *params);
char *jsonrpc_result(json_t *id, json_t *result);
char *jsonrpc_error(json_t *id, int code, const char *message);

/* JSON-RPC error codes used here. */
enum {
	JSONRPC_PARSE_ERROR = -32700,
	JSONRPC_INVALID_REQUEST = -32600,
	JSONRPC_METHOD_NOT_FOUND = -32601,
	JSONRPC_INVALID_PARAMS = -32602,
	JSONRPC_INTERNAL_ERROR = -32603
};

#endif
