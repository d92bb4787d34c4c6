#include "cli/ctlwatch.h"

#include <jansson.h>
#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon/buf.h"
#include "daemon/util.h"

/* The snapshot of many large pending approvals is one message: the daemon's own backlog cap. */
#define WATCH_MAX_MESSAGE ((size_t)64 * 1024 * 1024)

struct watch {
	int raw;
	long max_events, events;
	int done, rc, established;
	struct buf rx;
};

static const char *
str(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "-";
}

/* One approval as a line: what, id, server/tool, caller, response, and the state's details. */
static void
print_approval(const char *what, const json_t *a, const char *extra)
{
	time_t t = (time_t)json_integer_value(json_object_get(a, "expires_at"));
	char when[32] = "-";
	struct tm tm;

	if (t > 0 && gmtime_r(&t, &tm))
		strftime(when, sizeof when, "%H:%M:%SZ", &tm);
	printf("%-9s %s %s/%s caller=%s response=%s version=%lld", what, str(a, "id"), str(a, "server_label"),
	       str(a, "tool"), str(json_object_get(a, "detail"), "caller"), str(a, "response_id"),
	       (long long)json_integer_value(json_object_get(a, "version")));
	if (strcmp(what, "pending") == 0 || strcmp(what, "requested") == 0)
		printf(" expires=%s", when);
	if (extra)
		printf(" %s", extra);
	putchar('\n');
}

/* One whole message; 1 when it was an event that counts toward max_events. */
static int
on_message(struct watch *w)
{
	json_error_t jerr;
	json_t *m = json_loadb(w->rx.data ? w->rx.data : "", w->rx.len, 0, &jerr), *v;
	const char *type = json_string_value(json_object_get(m, "type"));
	char extra[600];
	size_t i;
	int event = 1;

	if (type == NULL) {
		fprintf(stderr, "toolhostctl: the daemon sent what is not an event: %s\n", jerr.text);
		w->rc = 2;
		json_decref(m);
		return -1;
	}
	if (w->raw) {
		fwrite(w->rx.data, 1, w->rx.len, stdout);
		putchar('\n');
		event = strcmp(type, "approvals.snapshot") != 0;
	} else if (strcmp(type, "approvals.snapshot") == 0) {
		json_array_foreach (json_object_get(m, "approvals"), i, v) {
			print_approval("pending", v, NULL);
		}
		event = 0;
	} else if (strcmp(type, "approval.requested") == 0) {
		print_approval("requested", json_object_get(m, "approval"), NULL);
	} else if (strcmp(type, "approval.resolved") == 0) {
		v = json_object_get(m, "approval");
		snprintf(extra, sizeof extra, "decision=%s by=%s%s%s", str(m, "decision"),
		         str(v, "decided_by"),
		         json_string_value(json_object_get(v, "reason")) ? " reason=" : "",
		         json_string_value(json_object_get(v, "reason")) ? str(v, "reason") : "");
		print_approval("resolved", v, extra);
	} else if (strcmp(type, "approval.expired") == 0) {
		print_approval("expired", json_object_get(m, "approval"), NULL);
	} else if (strcmp(type, "approval.abandoned") == 0) {
		snprintf(extra, sizeof extra, "reason=%s", str(m, "reason"));
		print_approval("abandoned", json_object_get(m, "approval"), extra);
	} else {
		printf("%s\n", type);
	}
	fflush(stdout);
	json_decref(m);
	return event;
}

static int
callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	struct watch *w = lws_context_user(lws_get_context(wsi));
	int n;

	switch (reason) {
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		/* lws tells a refused upgrade from an unreachable socket only in its text. */
		fprintf(stderr, "toolhostctl: the approval stream: %s\n",
		        in ? (const char *)in : "connection failed");
		w->rc = in && strstr((const char *)in, "101") ? 1 : 2;
		w->done = 1;
		break;
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		w->established = 1;
		break;
	case LWS_CALLBACK_CLIENT_RECEIVE:
		if (lws_is_first_fragment(wsi))
			buf_reset(&w->rx);
		if (buf_append(&w->rx, in, len) < 0) {
			fprintf(stderr, "toolhostctl: a message over %zu bytes\n", WATCH_MAX_MESSAGE);
			w->rc = 2;
			w->done = 1;
			return -1;
		}
		if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi) > 0)
			break;
		n = on_message(w);
		buf_reset(&w->rx);
		if (n < 0) {
			w->done = 1;
			return -1;
		}
		if (n == 1 && w->max_events > 0 && ++w->events >= w->max_events) {
			w->done = 1;
			return -1;
		}
		break;
	case LWS_CALLBACK_CLIENT_CLOSED:
		w->done = 1;
		break;
	default:
		break;
	}
	return 0;
}

int
ctlwatch_run(const char *sock, int raw, long max_events)
{
	static const struct lws_protocols protocols[] = {{"toolhostctl-watch", callback, 0, 0, 0, NULL, 0},
	                                                 {NULL, NULL, 0, 0, 0, NULL, 0}};
	struct lws_context_creation_info info;
	struct lws_client_connect_info ci;
	struct lws_context *ctx;
	struct watch w;
	char *address = xasprintf("+%s", sock); /* lws: a leading '+' is a Unix socket path */

	memset(&w, 0, sizeof w);
	w.raw = raw;
	w.max_events = max_events;
	buf_init(&w.rx, WATCH_MAX_MESSAGE);
	lws_set_log_level(0, NULL);
	memset(&info, 0, sizeof info);
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = protocols;
	info.user = &w;
	ctx = lws_create_context(&info);
	if (ctx == NULL) {
		fprintf(stderr, "toolhostctl: could not start a WebSocket client\n");
		free(address);
		buf_free(&w.rx);
		return 2;
	}
	memset(&ci, 0, sizeof ci);
	ci.context = ctx;
	ci.address = address;
	ci.port = 0;
	ci.path = "/v1/approvals/stream";
	ci.host = "localhost";
	ci.local_protocol_name = "toolhostctl-watch";
	if (lws_client_connect_via_info(&ci) == NULL) {
		fprintf(stderr, "toolhostctl: %s: cannot connect\n", sock);
		w.rc = 2;
		w.done = 1;
	}
	while (!w.done && lws_service(ctx, 0) >= 0)
		;
	lws_context_destroy(ctx);
	free(address);
	buf_free(&w.rx);
	return w.rc;
}
