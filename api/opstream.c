#include "api/opstream.h"

#include <libwebsockets.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/apierr.h"
#include "api/caller.h"
#include "api/env.h"
#include "api/ophub.h"
#include "api/ui.h"
#include "api/ws.h"
#include "daemon/buf.h"
#include "daemon/config.h"
#include "daemon/log.h"
#include "daemon/util.h"

/* One message waiting to be written, with lws' headroom in front. */
struct out_msg {
	struct out_msg *next;
	size_t len;
	unsigned char data[]; /* LWS_PRE + len */
};

struct opstream {
	struct lws *wsi;
	struct ophub *hub;
	struct ophub_watcher *watcher;
	char actor[CONFIG_IDENTITY_MAX];
	struct out_msg *head, *tail;
	size_t backlog;
	int overrun; /* the backlog cap was hit: close at the next writeable */
	struct buf rx;
	/* The idle clock (websocket.idle_timeout_s, api/ws), so that a vanished page stops counting as
	 * an operator watching. */
	struct ws_idle idle;
	int ping_due;
};

int
opstream_is_stream(struct lws *wsi)
{
	char path[64];

	return lws_hdr_copy(wsi, path, sizeof path, WSI_TOKEN_GET_URI) > 0 &&
	       strcmp(path, OPSTREAM_PATH) == 0;
}

/*
 * Who may watch: a page with a live session cookie (api/ui checks it with its Origin and Host), or an
 * operator on the Unix socket (config "operators"). 0 with the actor, else -1 with *e filled.
 */
static int
stream_actor(struct lws *wsi, struct api_env *env, char actor[CONFIG_IDENTITY_MAX], struct api_error *e)
{
	struct config *cfg = api_env_config(env);
	struct caller who;
	int page, rc = -1;

	memset(&who, 0, sizeof who);
	page = ui_stream_operator(wsi, env, actor, CONFIG_IDENTITY_MAX, e);
	if (page == 1) {
		rc = 0;
	} else if (page == 0 && caller_is_tcp(wsi)) {
		api_error_set(
		        e, 403, "permission_denied", "operator_only", NULL,
		        "the approval stream is for operators: log in on the page (toolhostctl login-url)");
	} else if (page == 0 && caller_check(wsi, cfg, &who, e) == 0) {
		/* (a refused caller_check has filled e) */
		if (who.is_operator)
			rc = 0;
		else
			api_error_set(e, 403, "permission_denied", "operator_only", NULL,
			              "only an operator (config \"operators\") may watch the approvals");
	}
	if (rc == 0 && page != 1)
		snprintf(actor, CONFIG_IDENTITY_MAX, "%s", who.identity);
	caller_clear(&who);
	config_release(cfg);
	return rc;
}

int
opstream_confirm_upgrade(struct lws *wsi, struct http_ctx *ctx, struct api_env *env, const char *upgrade)
{
	char actor[CONFIG_IDENTITY_MAX] = "-";
	struct api_error e;

	if (upgrade == NULL || strcasecmp(upgrade, "websocket") != 0)
		api_error_set(&e, 400, "invalid_request", "unsupported_upgrade", NULL,
		              "only a WebSocket upgrade is served");
	else if (stream_actor(wsi, env, actor, &e) == 0)
		return 0;
	log_info("refused an approval stream (%d %s) for %s", e.status, e.code[0] ? e.code : e.type, actor);
	return ws_refuse_upgrade(wsi, ctx, &e);
}

/* Queues text as one message; past the backlog cap the connection is closed instead. */
static void
queue(struct opstream *o, const char *text, size_t len)
{
	struct out_msg *m;

	if (o->overrun)
		return;
	if (len > OPSTREAM_MAX_BACKLOG - o->backlog) {
		log_warnx("approval stream of %s: %zu bytes unread; closing it", o->actor, o->backlog);
		o->overrun = 1;
		lws_callback_on_writable(o->wsi);
		return;
	}
	m = xmalloc(sizeof *m + LWS_PRE + len);
	m->next = NULL;
	m->len = len;
	memcpy(m->data + LWS_PRE, text, len);
	if (o->tail)
		o->tail->next = m;
	else
		o->head = m;
	o->tail = m;
	o->backlog += len;
	lws_callback_on_writable(o->wsi);
}

static void
on_push(void *ud, const char *json, size_t len)
{
	queue(ud, json, len);
}

static void
queue_json(struct opstream *o, json_t *v)
{
	char *text = json_dumps(v, JSON_COMPACT);

	json_decref(v);
	if (text)
		queue(o, text, strlen(text));
	free(text);
}

static struct opstream *
open_stream(struct lws *wsi, struct api_env *env)
{
	char actor[CONFIG_IDENTITY_MAX];
	struct opstream *o;
	struct api_error e;
	char *snap;

	/* Checked at the upgrade; asked again (the headers are still there), never carried over. */
	if (stream_actor(wsi, env, actor, &e) < 0)
		return NULL;
	o = xcalloc(1, sizeof *o);
	o->wsi = wsi;
	o->hub = env->ophub;
	snprintf(o->actor, sizeof o->actor, "%s", actor);
	{
		struct config *cfg = api_env_config(env);

		ws_idle_start(&o->idle, cfg->websocket.idle_timeout_s, util_mono_ms());
		config_release(cfg);
	}
	lws_set_timer_usecs(wsi, (lws_usec_t)o->idle.idle_ms * 500);
	buf_init(&o->rx, OPSTREAM_MAX_MESSAGE);
	/* Watching first, then the snapshot: an approval requested in between is in both, never in
	 * neither (the page keys items by id). */
	o->watcher = ophub_watch(o->hub, on_push, o);
	snap = ophub_snapshot(o->hub);
	if (snap == NULL)
		snap = xstrdup("{\"type\":\"error\",\"error\":{\"type\":\"server_error\",\"message\":"
		               "\"the pending approvals could not be read\"}}");
	queue(o, snap, strlen(snap));
	free(snap);
	log_info("approval stream opened by %s (%zu watching)", o->actor, ophub_watchers(o->hub));
	return o;
}

static void
close_stream(struct opstream *o)
{
	struct out_msg *m;

	ophub_unwatch(o->watcher);
	while ((m = o->head) != NULL) {
		o->head = m->next;
		free(m);
	}
	buf_free(&o->rx);
	log_info("approval stream of %s closed", o->actor);
	free(o);
}

static int
on_writeable(struct opstream *o)
{
	struct out_msg *m = o->head;

	if (o->overrun) {
		lws_close_reason(o->wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION, NULL, 0);
		return -1;
	}
	if (o->ping_due) {
		unsigned char ping[LWS_PRE + sizeof WS_PING_PAYLOAD];

		o->ping_due = 0;
		memcpy(ping + LWS_PRE, WS_PING_PAYLOAD, sizeof WS_PING_PAYLOAD - 1);
		if (lws_write(o->wsi, ping + LWS_PRE, sizeof WS_PING_PAYLOAD - 1, LWS_WRITE_PING) < 0)
			return -1;
		if (m)
			lws_callback_on_writable(o->wsi);
		return 0;
	}
	if (m == NULL)
		return 0;
	/* lws keeps what the socket does not take and asks for more only once it is out. */
	if (lws_write(o->wsi, m->data + LWS_PRE, m->len, LWS_WRITE_TEXT) < (int)m->len)
		return -1;
	o->head = m->next;
	if (o->head == NULL)
		o->tail = NULL;
	o->backlog -= m->len;
	free(m);
	if (o->head)
		lws_callback_on_writable(o->wsi);
	return 0;
}

static json_t *
error_result(const char *code, const char *message)
{
	struct api_error e;

	api_error_set(&e, 400, "invalid_request", code, NULL, "%s", message);
	return api_error_envelope(&e);
}

/* One whole client message. */
static void
on_message(struct opstream *o)
{
	json_error_t jerr;
	json_t *msg = json_loadb(o->rx.data ? o->rx.data : "", o->rx.len, JSON_REJECT_DUPLICATES, &jerr);
	const char *type = json_string_value(json_object_get(msg, "type"));
	json_t *result;
	int status = 400;

	if (!json_is_object(msg) || type == NULL)
		result = error_result("invalid_json", "a message must be a JSON object with a type");
	else if (strcmp(type, "approval.decide") == 0)
		result = ophub_decide(o->hub, json_string_value(json_object_get(msg, "id")), msg, o->actor,
		                      &status);
	else if (strcmp(type, "approval.decide_batch") == 0)
		result = ophub_decide_batch(o->hub, msg, o->actor, &status);
	else
		result = error_result("unknown_message_type",
		                      "type must be approval.decide or approval.decide_batch");
	queue_json(o, json_pack("{s:s, s:O?, s:i, s:o}", "type", "approval.decision", "request_id",
	                        json_object_get(msg, "request_id"), "status", status, "result", result));
	json_decref(msg);
}

/* The idle clock's tick (ws_idle_tick): hang up, or ask for a ping. -1 closes. */
static int
on_tick(struct opstream *o)
{
	uint64_t next = 0;
	enum ws_idle_due due = ws_idle_tick(&o->idle, util_mono_ms(), &next);

	if (due == WS_IDLE_HANGUP) {
		log_info("approval stream of %s: closed, silent for %llu s", o->actor,
		         (unsigned long long)(o->idle.idle_ms / 1000));
		return -1;
	}
	if (due == WS_IDLE_PING) {
		o->ping_due = 1;
		lws_callback_on_writable(o->wsi);
	}
	lws_set_timer_usecs(o->wsi, (lws_usec_t)next * 1000);
	return 0;
}

static int
on_receive(struct opstream *o, const void *in, size_t len)
{
	if (lws_is_first_fragment(o->wsi))
		buf_reset(&o->rx);
	if (lws_frame_is_binary(o->wsi) || buf_append(&o->rx, in, len) < 0) {
		lws_close_reason(o->wsi,
		                 lws_frame_is_binary(o->wsi) ? LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE
		                                             : LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE,
		                 NULL, 0);
		return -1;
	}
	if (!lws_is_final_fragment(o->wsi) || lws_remaining_packet_payload(o->wsi) > 0)
		return 0;
	on_message(o);
	buf_reset(&o->rx);
	return 0;
}

int
opstream_callback(struct lws *wsi, int reason, void **slot, struct api_env *env, void *in, size_t len)
{
	struct opstream *o = slot ? *slot : NULL;

	switch (reason) {
	case LWS_CALLBACK_ESTABLISHED:
		if (slot == NULL || (o = open_stream(wsi, env)) == NULL)
			return -1;
		*slot = o;
		return 0;
	case LWS_CALLBACK_RECEIVE:
		if (o)
			o->idle.last_rx_ms = util_mono_ms();
		return o ? on_receive(o, in, len) : -1;
	case LWS_CALLBACK_RECEIVE_PONG:
		if (o)
			o->idle.last_rx_ms = util_mono_ms();
		return 0;
	case LWS_CALLBACK_TIMER:
		return o ? on_tick(o) : 0;
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return o ? on_writeable(o) : 0;
	case LWS_CALLBACK_CLOSED:
		if (o) {
			*slot = NULL;
			close_stream(o);
		}
		return 0;
	default:
		return 0;
	}
}
