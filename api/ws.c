#include "api/ws.h"

#include <libwebsockets.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "api/apierr.h"
#include "api/caller.h"
#include "api/engine.h"
#include "api/env.h"
#include "api/events.h"
#include "api/http.h"
#include "api/request.h"
#include "api/wsmsg.h"
#include "daemon/buf.h"
#include "daemon/config.h"
#include "daemon/log.h"
#include "daemon/util.h"

/* Unwritten output above HIGH pauses the upstream; it resumes once the backlog is under LOW. */
#define WS_OUT_HIGH ((size_t)256 * 1024)
#define WS_OUT_LOW  ((size_t)64 * 1024)
/* Bytes handed to lws in one write: frames are written together, not one syscall each. */
#define WS_WRITE_CHUNK ((size_t)64 * 1024)

struct ws_conn;

/* One response.create: parsed at once, run when it reaches the head of the queue. */
struct ws_turn {
	struct ws_turn *next;
	struct ws_conn *conn;
	struct request *req; /* until the engine takes it */
	char *stream_id;
	char *prev_id; /* the previous_response_id it continues, for eviction on failure */
	int warmup;
	struct engine_job *job;
	int paused;    /* the engine was told we are congested */
	int failed;    /* it ended failed: its prev_id is evicted */
	uint64_t sent; /* events of this turn written so far */
};

/* The connection-local cache: a response's whole context (input + output), newest first, kept as
 * compact JSON text: a few times smaller than the jansson tree, which matters for 10,000 idle
 * connections (each keeps its warm-up) and for Codex's contexts of hundreds of thousands of tokens. */
struct ws_cached {
	struct ws_cached *next;
	char id[64];
	char *items; /* a JSON array */
	size_t bytes;
};

struct ws_conn {
	struct lws *wsi;
	struct http_ctx *ctx;
	struct config *cfg; /* held from the upgrade: its limits are this connection's */
	struct caller who;
	uint64_t opened_ms;
	struct ws_idle idle; /* last_rx_ms: the peer's last byte */

	struct buf rx;  /* the message being reassembled */
	int rx_binary;  /* the message being received is binary: dropped, answered at its end */
	size_t rx_seen; /* bytes of the current message, kept or not */
	int rx_dropping;

	/* Frames not yet handed to lws, framed here (server frames are unmasked and, with no extension
	 * negotiated, only a header away from their payload), so that a burst of small events leaves in
	 * one write rather than one syscall each. */
	struct buf out; /* LWS_PRE bytes of lws' headroom, then the frames: written in place */

	struct ws_turn *running;
	struct ws_turn *queue_head, *queue_tail;
	size_t queued;

	struct ws_cached *cache; /* newest first */
	size_t cache_bytes;
	size_t cache_entries;

	int closing; /* close with close_code once the output is written */
	enum lws_close_status close_code;
	enum ws_close_reason close_why;
	int close_asked;    /* our close frame went out (send_close): lingering to the end */
	int logged_unknown; /* the unknown create fields were logged once */
};

static void turn_next(struct ws_conn *c);
static int send_close(struct ws_conn *c);

/* ---- output ---- */

/* Frame bytes waiting in c->out (after lws' headroom). */
static size_t
out_pending(const struct ws_conn *c)
{
	return c->out.len > LWS_PRE ? c->out.len - LWS_PRE : 0;
}

/*
 * How many bytes of buf (our frames, back to back) to hand lws in one write: whole frames only, as
 * many as fit in max, and at least the first one. lws sends its own control frames (a pong, its
 * close) between writes, once what it buffered is out: a cut inside a frame would put them in the
 * middle of ours.
 */
static size_t
whole_frames(const unsigned char *buf, size_t len, size_t max)
{
	size_t at = 0, next, hl, plen, i;

	while (at + 2 <= len) {
		plen = buf[at + 1] & 0x7f;
		hl = 2;
		if (plen == 126) {
			plen = ((size_t)buf[at + 2] << 8) | buf[at + 3];
			hl = 4;
		} else if (plen == 127) {
			for (plen = 0, i = 0; i < 8; i++)
				plen = (plen << 8) | buf[at + 2 + i];
			hl = 10;
		}
		next = at + hl + plen;
		if (at > 0 && next > max)
			break;
		at = next;
	}
	return at < len ? at : len;
}

/* Appends one unfragmented frame (opcode 0x1 text, 0x9 ping) with its payload. */
static int
out_frame(struct ws_conn *c, unsigned opcode, const char *data, size_t len)
{
	unsigned char h[10];
	size_t hl = 2, i;

	h[0] = (unsigned char)(0x80 | opcode);
	if (len < 126) {
		h[1] = (unsigned char)len;
	} else if (len <= 0xffff) {
		h[1] = 126;
		h[2] = (unsigned char)(len >> 8);
		h[3] = (unsigned char)len;
		hl = 4;
	} else {
		h[1] = 127;
		for (i = 0; i < 8; i++)
			h[2 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
		hl = 10;
	}
	if (c->out.len == 0) {
		static const char pre[LWS_PRE];

		buf_append(&c->out, pre, sizeof pre);
	}
	if (buf_append(&c->out, h, hl) < 0 || buf_append(&c->out, data, len) < 0)
		return -1;
	lws_callback_on_writable(c->wsi);
	return 0;
}

static int
out_push(struct ws_conn *c, const char *data, size_t len)
{
	if (c->closing)
		return -1;
	if (out_pending(c) + len + 10 > c->cfg->websocket.max_output_buffer_bytes) {
		/* The peer does not read: nothing it could still receive is worth the memory. */
		log_warnx("websocket %s: closed, over the output cap (%zu bytes unread)", c->who.identity,
		          out_pending(c));
		c->closing = 1;
		c->close_code = LWS_CLOSE_STATUS_POLICY_VIOLATION;
		c->close_why = WS_CLOSE_OUTPUT_CAP;
		/* What it did not read is dropped: the close goes at once, and lws gives up on the
		 * connection when even that is not taken (send_close's timeout). */
		buf_free(&c->out);
		buf_init(&c->out, 0);
		lws_callback_on_writable(c->wsi);
		return -1;
	}
	return out_frame(c, 0x1, data, len);
}

static void
out_json(struct ws_conn *c, const json_t *msg)
{
	char *s = json_dumps(msg, JSON_COMPACT);

	if (s)
		out_push(c, s, strlen(s));
	free(s);
}

/* The error envelope of WEBSOCKET-NOTES 3: integer status, string code, the turn's stream_id. */
static void
send_error(struct ws_conn *c, const struct api_error *e, const char *stream_id)
{
	json_t *env = wsmsg_error_envelope(e, stream_id);

	out_json(c, env);
	json_decref(env);
}

/* One of wsmsg's fixed envelopes (consumed). */
static void
send_fixed(struct ws_conn *c, json_t *env)
{
	out_json(c, env);
	json_decref(env);
}

static void
close_after_output(struct ws_conn *c, enum lws_close_status code, enum ws_close_reason why)
{
	if (c->closing)
		return;
	c->closing = 1;
	c->close_code = code;
	c->close_why = why;
	lws_callback_on_writable(c->wsi);
}

/* ---- the connection-local cache ---- */

/*
 * Responses a connection can continue from without the store, newest first. Codex continues from the
 * latest; a few older ones allow a branch. Without a count, a long connection of small turns kept tens
 * of thousands under cache_max_bytes, and every turn walked them all (put and lookup are linear).
 */
#define WS_CACHE_MAX_ENTRIES 32

static struct ws_cached *
cache_find(struct ws_conn *c, const char *id)
{
	struct ws_cached *e;

	for (e = c->cache; e; e = e->next)
		if (strcmp(e->id, id) == 0)
			return e;
	return NULL;
}

static void
cache_drop(struct ws_conn *c, const char *id)
{
	struct ws_cached **pp, *e;

	for (pp = &c->cache; (e = *pp) != NULL; pp = &e->next) {
		if (strcmp(e->id, id) == 0) {
			*pp = e->next;
			c->cache_bytes -= e->bytes;
			c->cache_entries--;
			free(e->items);
			free(e);
			return;
		}
	}
}

static void
cache_free(struct ws_conn *c)
{
	while (c->cache)
		cache_drop(c, c->cache->id);
}

/* Keeps context + output under the response id; the oldest entries go first past the cap. */
static void
cache_put(struct ws_conn *c, const char *id, const json_t *context, const json_t *output)
{
	struct ws_cached *e, **pp;
	json_t *items;
	char *text;
	size_t bytes;

	if (strlen(id) >= sizeof e->id)
		return;
	/* Serialised at once: the items are shared with the finished job, not copied. */
	items = json_array();
	json_array_extend(items, (json_t *)context);
	json_array_extend(items, (json_t *)output);
	text = json_dumps(items, JSON_COMPACT);
	json_decref(items);
	bytes = text ? strlen(text) : 0;
	if (text == NULL || bytes > c->cfg->websocket.cache_max_bytes) {
		log_info("websocket %s: %s not cached (%zu bytes over websocket.cache_max_bytes)",
		         c->who.identity, id, bytes);
		free(text);
		return;
	}
	cache_drop(c, id);
	e = xcalloc(1, sizeof *e);
	snprintf(e->id, sizeof e->id, "%s", id);
	e->items = text;
	e->bytes = bytes;
	e->next = c->cache;
	c->cache = e;
	c->cache_bytes += bytes;
	c->cache_entries++;
	while (c->cache_bytes > c->cfg->websocket.cache_max_bytes ||
	       c->cache_entries > WS_CACHE_MAX_ENTRIES) {
		for (pp = &c->cache; (*pp)->next; pp = &(*pp)->next)
			;
		cache_drop(c, (*pp)->id);
	}
}

/* ---- the engine sink ---- */

static void
sink_stream_start(void *ud)
{
	(void)ud;
}

static int
sink_event(void *ud, const char *data, size_t len)
{
	struct ws_turn *t = ud;

	t->sent++;
	return out_push(t->conn, data, len);
}

static int
sink_congested(void *ud)
{
	struct ws_turn *t = ud;

	if (out_pending(t->conn) > WS_OUT_HIGH) {
		t->paused = 1;
		return 1;
	}
	return 0;
}

static void
sink_result(void *ud, const json_t *context, const json_t *response)
{
	struct ws_turn *t = ud;
	const char *status = json_string_value(json_object_get(response, "status"));
	const char *id = json_string_value(json_object_get(response, "id"));

	if (status && (strcmp(status, "failed") == 0 || strcmp(status, "cancelled") == 0)) {
		t->failed = 1;
		return;
	}
	if (id)
		cache_put(t->conn, id, context, json_object_get(response, "output"));
}

static void
turn_free(struct ws_turn *t)
{
	request_free(t->req);
	free(t->stream_id);
	free(t->prev_id);
	free(t);
}

/* The engine's HTTP envelope {"error":{...}} as a WebSocket one. */
static void
send_engine_error(struct ws_conn *c, struct ws_turn *t, int status, const json_t *body)
{
	const json_t *e = json_object_get(body, "error");
	struct api_error err;
	const char *code = json_string_value(json_object_get(e, "code"));
	const char *type = json_string_value(json_object_get(e, "type"));
	const char *param = json_string_value(json_object_get(e, "param"));
	const char *msg = json_string_value(json_object_get(e, "message"));

	/* Over HTTP an unknown previous response is a 404; WebSocket clients match the exact 400 envelope
	 * of WEBSOCKET-NOTES 3 (Codex then starts a full create). */
	if (code && strcmp(code, "previous_response_not_found") == 0 && t->prev_id) {
		send_fixed(c, wsmsg_previous_not_found(t->prev_id, t->stream_id));
		return;
	}
	api_error_set(&err, status, type ? type : "server_error", code, param, "%s", msg ? msg : "");
	send_error(c, &err, t->stream_id);
}

static void
sink_finish(void *ud, int http_status, const json_t *body, const char *retry_after)
{
	struct ws_turn *t = ud;
	struct ws_conn *c = t->conn;

	(void)retry_after;
	t->job = NULL;
	if (body && http_status != 200) {
		t->failed = 1;
		send_engine_error(c, t, http_status, body);
	}
	if (t->failed && t->prev_id)
		cache_drop(c, t->prev_id);
	if (c->running == t)
		c->running = NULL;
	turn_free(t);
	/* The next turn starts from the loop, not from inside the engine's call. */
	if (c->queue_head)
		lws_callback_on_writable(c->wsi);
}

static const struct engine_sink ws_sink = {
        .framing = EVENTS_WS,
        .keepalive_event = 1,
        .on_stream_start = sink_stream_start,
        .on_event = sink_event,
        .congested = sink_congested,
        .on_result = sink_result,
        .on_finish = sink_finish,
};

/* ---- turns ---- */

static int
age_reached(const struct ws_conn *c)
{
	return util_mono_ms() - c->opened_ms >= (uint64_t)c->cfg->websocket.max_age_s * 1000u;
}

static void
turn_start(struct ws_conn *c, struct ws_turn *t)
{
	struct engine_opts opts;
	struct engine_caller caller = {c->who.identity, c->who.bearer, c->who.is_operator, c->who.client};
	struct ws_cached *hit = NULL;
	struct request *req = t->req;
	struct engine_job *job;
	json_t *chain = NULL;

	memset(&opts, 0, sizeof opts);
	opts.stream_id = t->stream_id;
	opts.warmup = t->warmup;
	if (req->previous_response_id) {
		t->prev_id = xstrdup(req->previous_response_id);
		hit = cache_find(c, t->prev_id);
		if (hit)
			chain = json_loads(hit->items, 0, NULL);
		opts.chain = chain;
	}
	req->stream = 1;
	req->background = 0;
	t->req = NULL;
	c->running = t;
	c->ctx->ws.turns++;
	/* A turn that ends at once (a bad request, a warm-up) has been freed by sink_finish when this
	 * returns NULL: t is only touched while the job runs. */
	job = engine_job_start(c->ctx->engine, req, &caller, &opts, &ws_sink, t);
	json_decref(chain); /* the job holds its own reference */
	if (job)
		t->job = job;
}

/* Starts the next waiting turn when none runs (and the connection is young enough). */
static void
turn_next(struct ws_conn *c)
{
	struct ws_turn *t;
	struct api_error e;

	while (c->running == NULL && c->queue_head && !c->closing) {
		t = c->queue_head;
		c->queue_head = t->next;
		if (c->queue_head == NULL)
			c->queue_tail = NULL;
		c->queued--;
		t->next = NULL;
		if (age_reached(c)) {
			/* Never cut a running turn: the limit is only looked at between turns (notes 4). */
			send_fixed(c, wsmsg_connection_limit(t->stream_id));
			turn_free(t);
			close_after_output(c, LWS_CLOSE_STATUS_NORMAL, WS_CLOSE_AGE_LIMIT);
			return;
		}
		if (c->ctx->draining) {
			api_error_set(&e, 503, "server_error", "server_shutting_down", NULL,
			              "the server is shutting down");
			send_error(c, &e, t->stream_id);
			turn_free(t);
			continue;
		}
		turn_start(c, t);
	}
}

/* ---- client messages ---- */

static void
on_create(struct ws_conn *c, struct wsmsg *m)
{
	struct api_error e;
	struct request *req;
	struct ws_turn *t;

	if (!c->logged_unknown && json_array_size(m->dropped) > 0) {
		char *names = json_dumps(m->dropped, JSON_COMPACT);

		c->logged_unknown = 1;
		log_info("websocket %s: ignored unknown response.create fields %s", c->who.identity,
		         names ? names : "");
		free(names);
	}
	req = request_parse(m->body, m->body_len, &e);
	if (req == NULL) {
		send_error(c, &e, m->stream_id);
		return;
	}
	if (c->queued >= c->cfg->websocket.queue_max && (c->running || c->queue_head)) {
		request_free(req);
		send_fixed(c, wsmsg_too_many_requests(m->stream_id));
		return;
	}
	t = xcalloc(1, sizeof *t);
	t->conn = c;
	t->req = req;
	t->warmup = m->warmup;
	t->stream_id = m->stream_id ? xstrdup(m->stream_id) : NULL;
	if (c->queue_tail)
		c->queue_tail->next = t;
	else
		c->queue_head = t;
	c->queue_tail = t;
	c->queued++;
	turn_next(c);
}

static void
on_message(struct ws_conn *c, const char *data, size_t len)
{
	struct wsmsg m;
	json_t *ev;

	wsmsg_parse(data, len, 0, &m);
	switch (m.kind) {
	case WSMSG_CREATE:
		on_create(c, &m);
		break;
	case WSMSG_STEER:
		/* Steering is not offered: the running turn goes on, the refusal names what was sent. */
		ev = wsmsg_steer_refusal(m.steer, c->running ? (long long)c->running->sent : 0, m.stream_id);
		out_json(c, ev);
		json_decref(ev);
		break;
	case WSMSG_PROCESSED:
		break;
	case WSMSG_ERROR:
		send_error(c, &m.err, m.stream_id);
		break;
	}
	wsmsg_clear(&m);
}

static int
on_receive(struct ws_conn *c, const char *in, size_t len)
{
	size_t cap = c->cfg->websocket.max_message_bytes;

	if (c->rx_dropping || c->closing)
		return 0; /* nor does it count as life: a closing connection goes on its own clock */
	c->idle.last_rx_ms = util_mono_ms();
	if (lws_is_first_fragment(c->wsi)) {
		buf_reset(&c->rx);
		c->rx_seen = 0;
		c->rx_binary = lws_frame_is_binary(c->wsi);
	}
	c->rx_seen += len;
	if (c->rx_seen > cap) {
		send_fixed(c, wsmsg_too_large(cap));
		buf_free(&c->rx);
		buf_init(&c->rx, cap);
		c->rx_dropping = 1;
		/* Nothing more is read from this peer: the rest of its message would only be dropped. */
		lws_rx_flow_control(c->wsi, 0);
		close_after_output(c, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, WS_CLOSE_TOO_LARGE);
		return 0;
	}
	if (!c->rx_binary && buf_append(&c->rx, in, len) < 0)
		return -1; /* cannot happen below the cap */
	if (!lws_is_final_fragment(c->wsi) || lws_remaining_packet_payload(c->wsi) > 0)
		return 0;
	if (c->rx_binary) {
		send_fixed(c, wsmsg_binary_frame());
	} else {
		on_message(c, c->rx.data ? c->rx.data : "", c->rx.len);
	}
	buf_reset(&c->rx);
	buf_release_idle(&c->rx, 0); /* an idle connection keeps no message buffer */
	c->rx_seen = 0;
	return 0;
}

/* ---- writing ---- */

static int
on_writeable(struct ws_conn *c)
{
	size_t n;

	if (c->close_asked)
		return 0; /* our close frame went out: nothing of ours goes after it */
	if (out_pending(c) > 0 && !lws_send_pipe_choked(c->wsi)) {
		unsigned char *start = (unsigned char *)c->out.data + LWS_PRE;
		size_t rest;

		n = whole_frames(start, out_pending(c), WS_WRITE_CHUNK);
		/* lws keeps what the socket does not take and writes it before the next WRITEABLE. */
		if (lws_write(c->wsi, start, n, LWS_WRITE_RAW) < (int)n)
			return -1;
		rest = out_pending(c) - n;
		if (rest > 0) {
			memmove(start, start + n, rest);
			buf_truncate(&c->out, LWS_PRE + rest);
		} else {
			buf_reset(&c->out);
			/* Kept warm while a turn streams; an idle connection keeps nothing. */
			buf_release_idle(&c->out, c->running ? WS_WRITE_CHUNK : 0);
		}
	}
	if (out_pending(c) > 0) {
		lws_callback_on_writable(c->wsi);
	} else if (c->closing) {
		c->ctx->ws.closes[c->close_why]++;
		c->close_why = WS_CLOSE_N; /* counted */
		return send_close(c);
	}
	if (c->running && c->running->paused && out_pending(c) < WS_OUT_LOW && c->running->job) {
		c->running->paused = 0;
		engine_job_resume(c->running->job);
	}
	turn_next(c);
	return 0;
}

/*
 * Our close frame, written here: lws 4.1 drops the reason given with lws_close_reason when a
 * writeable callback returns -1, and the peer would see 1006. The connection then lingers (input
 * read and dropped) until the peer answers with its own close or a few seconds pass: closing with
 * unread input would reset the connection and could lose the frame (and the envelope before it).
 */
static int
send_close(struct ws_conn *c)
{
	/* FIN + close opcode, 2 payload bytes (a server frame is not masked), the code in network order.
	 * lws_write has no public close type, so the frame goes as raw bytes. */
	unsigned char frame[LWS_PRE + 4];

	frame[LWS_PRE] = 0x88;
	frame[LWS_PRE + 1] = 2;
	frame[LWS_PRE + 2] = (unsigned char)((unsigned)c->close_code >> 8);
	frame[LWS_PRE + 3] = (unsigned char)((unsigned)c->close_code & 0xff);
	c->close_asked = 1;
	if (lws_write(c->wsi, frame + LWS_PRE, 4, LWS_WRITE_RAW) < 4)
		return -1;
	lws_rx_flow_control(c->wsi, 1);
	lws_set_timeout(c->wsi, PENDING_TIMEOUT_CLOSE_ACK, 3);
	return 0;
}

void
ws_idle_start(struct ws_idle *clk, unsigned idle_timeout_s, uint64_t now_ms)
{
	clk->idle_ms = (uint64_t)idle_timeout_s * 1000u;
	clk->last_rx_ms = clk->last_ping_ms = now_ms;
}

enum ws_idle_due
ws_idle_tick(struct ws_idle *clk, uint64_t now_ms, uint64_t *next_ms)
{
	uint64_t half = clk->idle_ms / 2, silent = now_ms - clk->last_rx_ms;
	enum ws_idle_due due = WS_IDLE_NOTHING;

	if (silent >= clk->idle_ms)
		return WS_IDLE_HANGUP;
	if (silent >= half && now_ms - clk->last_ping_ms >= half) {
		clk->last_ping_ms = now_ms;
		due = WS_IDLE_PING;
	}
	/* Next: the ping (half the timeout after the last input) or the hang-up; a little after it. */
	*next_ms = (silent < half ? half - silent : clk->idle_ms - silent) + 10;
	return due;
}

/* The connection's idle clock (ws_idle_tick). */
static int
on_tick(struct ws_conn *c)
{
	uint64_t next = 0;
	enum ws_idle_due due = ws_idle_tick(&c->idle, util_mono_ms(), &next);

	if (due == WS_IDLE_HANGUP) {
		log_info("websocket %s: closed, silent for %u s", c->who.identity,
		         c->cfg->websocket.idle_timeout_s);
		c->ctx->ws.closes[WS_CLOSE_IDLE]++;
		c->close_why = WS_CLOSE_N;
		return -1;
	}
	/* Not empty: lws 4.1 hands an empty pong to nobody, and the peer would look silent. */
	if (due == WS_IDLE_PING && !c->closing)
		out_frame(c, 0x9, WS_PING_PAYLOAD, sizeof WS_PING_PAYLOAD - 1);
	lws_set_timer_usecs(c->wsi, (lws_usec_t)next * 1000);
	return 0;
}

/* ---- connection life ---- */

static struct ws_conn *
conn_new(struct lws *wsi, struct http_ctx *ctx)
{
	struct ws_conn *c = xcalloc(1, sizeof *c);
	struct api_error e;

	c->wsi = wsi;
	c->ctx = ctx;
	c->cfg = api_env_config(ctx->env);
	c->opened_ms = util_mono_ms();
	ws_idle_start(&c->idle, c->cfg->websocket.idle_timeout_s, c->opened_ms);
	c->close_why = WS_CLOSE_CLIENT;
	buf_init(&c->rx, c->cfg->websocket.max_message_bytes);
	if (caller_check(wsi, c->cfg, &c->who, &e) < 0) {
		/* The upgrade checked the same; only a reload in between can get here. */
		caller_clear(&c->who);
		config_release(c->cfg);
		buf_free(&c->rx);
		free(c);
		return NULL;
	}
	ctx->ws.open++;
	ctx->ws.connections++;
	buf_init(&c->out, 0); /* bounded by out_push against max_output_buffer_bytes */
	lws_set_timer_usecs(wsi, (lws_usec_t)c->cfg->websocket.idle_timeout_s * 500 * 1000);
	return c;
}

static void
conn_free(struct ws_conn *c)
{
	struct ws_turn *t;

	if (c->running) {
		/* Closing is cancel: the upstream transfer and the MCP calls are stopped (notes 4). */
		t = c->running;
		c->running = NULL;
		if (t->job)
			engine_job_cancel(t->job);
		turn_free(t);
	}
	while ((t = c->queue_head) != NULL) {
		c->queue_head = t->next;
		turn_free(t);
	}
	buf_free(&c->out);
	if (c->close_why != WS_CLOSE_N)
		c->ctx->ws.closes[c->close_why]++;
	c->ctx->ws.open--;
	cache_free(c);
	buf_free(&c->rx);
	caller_clear(&c->who);
	config_release(c->cfg);
	free(c);
}

int
ws_callback(struct lws *wsi, int reason, void **slot, void *in, size_t len)
{
	struct ws_conn *c = slot ? *slot : NULL;
	struct http_ctx *ctx;

	switch (reason) {
	case LWS_CALLBACK_ESTABLISHED:
		ctx = lws_get_vhost_user(lws_get_vhost(wsi));
		if (slot == NULL || ctx == NULL || (c = conn_new(wsi, ctx)) == NULL)
			return -1;
		*slot = c;
		return 0;
	case LWS_CALLBACK_RECEIVE:
		return c ? on_receive(c, in, len) : -1;
	case LWS_CALLBACK_RECEIVE_PONG:
		if (c)
			c->idle.last_rx_ms = util_mono_ms();
		return 0;
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return c ? on_writeable(c) : 0;
	case LWS_CALLBACK_TIMER:
		return c ? on_tick(c) : 0;
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		/* The answer to our own close frame: hang up rather than let lws echo a second one. */
		if (c && c->close_asked)
			return -1;
		return 0;
	case LWS_CALLBACK_CLOSED:
		if (c) {
			if (c->ctx->draining && c->close_why == WS_CLOSE_CLIENT)
				c->close_why = WS_CLOSE_SHUTDOWN;
			*slot = NULL;
			conn_free(c);
		}
		return 0;
	default:
		return 0;
	}
}

/* ---- the upgrade ---- */

/* A plain HTTP answer with the error envelope, written before lws hangs up. */
int
ws_refuse_upgrade(struct lws *wsi, struct http_ctx *ctx, const struct api_error *e)
{
	json_t *env = api_error_envelope(e);
	char *body = json_dumps(env, JSON_COMPACT);
	struct buf out;
	int rc;

	static const char pre[LWS_PRE];

	buf_init(&out, 0);
	buf_append(&out, pre, sizeof pre); /* lws' room in front of what it writes */
	buf_printf(&out,
	           "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
	           "openresponses-version: " HTTP_SERVED_VERSION "\r\n%s%sConnection: close\r\n\r\n%s",
	           e->status, http_reason_phrase(e->status), (body ? strlen(body) : 0) + 1,
	           e->status == 401 ? "WWW-Authenticate: Bearer\r\n" : "",
	           e->status == 426 ? "Upgrade: websocket\r\n" : "", body ? body : "");
	buf_appends(&out, "\n");
	rc = lws_write(wsi, (unsigned char *)out.data + LWS_PRE, out.len - LWS_PRE, LWS_WRITE_HTTP_HEADERS);
	if (rc < 0)
		log_debug("websocket: the refusal could not be written");
	ctx->ws.refused++;
	buf_free(&out);
	free(body);
	json_decref(env);
	return -1;
}

/* On TCP, the Host must name the address the socket is bound to: a page the operator visits may
 * dial ws://127.0.0.1:PORT, and DNS rebinding may make any name point there. */
int
ws_host_is_bound(struct lws *wsi)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	char host[300], addr[INET6_ADDRSTRLEN], want[INET6_ADDRSTRLEN + 16];
	int fd = lws_get_socket_fd(lws_get_network_wsi(wsi)), port;

	if (lws_hdr_copy(wsi, host, sizeof host, WSI_TOKEN_HOST) <= 0)
		return 0;
	memset(&ss, 0, sizeof ss);
	if (fd < 0 || getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
		return 0;
	if (ss.ss_family == AF_INET) {
		const struct sockaddr_in *in4 = (const struct sockaddr_in *)&ss;

		inet_ntop(AF_INET, &in4->sin_addr, addr, sizeof addr);
		port = ntohs(in4->sin_port);
		snprintf(want, sizeof want, "%s:%d", addr, port);
	} else if (ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&ss;

		inet_ntop(AF_INET6, &in6->sin6_addr, addr, sizeof addr);
		port = ntohs(in6->sin6_port);
		snprintf(want, sizeof want, "[%s]:%d", addr, port);
	} else {
		return 0;
	}
	if (strcasecmp(host, want) == 0)
		return 1;
	snprintf(want, sizeof want, "localhost:%d", port);
	return strcasecmp(host, want) == 0;
}

int
ws_confirm_upgrade(struct lws *wsi, struct http_ctx *ctx, const char *upgrade)
{
	struct config *cfg;
	struct caller who;
	struct api_error e;
	char path[64];
	int rc = -1;

	memset(&who, 0, sizeof who);
	if (ctx == NULL)
		return -1;
	cfg = api_env_config(ctx->env);
	if (upgrade == NULL || strcasecmp(upgrade, "websocket") != 0) {
		api_error_set(&e, 400, "invalid_request", "unsupported_upgrade", NULL,
		              "only a WebSocket upgrade is served");
		goto refused;
	}
	if (lws_hdr_copy(wsi, path, sizeof path, WSI_TOKEN_GET_URI) <= 0 ||
	    strcmp(path, "/v1/responses") != 0) {
		api_error_set(&e, 404, "not_found", NULL, NULL,
		              "WebSocket mode is served on GET /v1/responses");
		goto refused;
	}
	if (caller_check(wsi, cfg, &who, &e) < 0)
		goto refused;
	if (who.tcp && lws_hdr_total_length(wsi, WSI_TOKEN_ORIGIN) > 0) {
		/* Browsers send Origin and no bearer can be set from a page; API clients send none. */
		api_error_set(&e, 403, "permission_denied", "origin_not_allowed", NULL,
		              "a WebSocket upgrade from a browser page (Origin) is refused on this listener");
		goto refused;
	}
	if (who.tcp && !ws_host_is_bound(wsi)) {
		api_error_set(&e, 403, "permission_denied", "host_not_allowed", NULL,
		              "the Host header must name the address this listener is bound to");
		goto refused;
	}
	if (!cfg->websocket.enabled || ctx->draining) {
		/* 426 is the one answer on which Codex falls back to HTTP at once (notes 1). */
		api_error_set(&e, 426, "invalid_request", "websocket_disabled", NULL,
		              ctx->draining
		                      ? "the server is shutting down; use HTTP"
		                      : "WebSocket mode is turned off here; use HTTP POST /v1/responses");
		goto refused;
	}
	rc = 0;
	goto out;
refused:
	log_info("refused a WebSocket upgrade (%d %s) for %s", e.status, e.code[0] ? e.code : e.type,
	         who.identity[0] ? who.identity : "-");
	rc = ws_refuse_upgrade(wsi, ctx, &e);
out:
	caller_clear(&who);
	config_release(cfg);
	return rc;
}

void
ws_metrics(const struct ws_stats *st, struct buf *out)
{
	static const char *const reasons[WS_CLOSE_N] = {
	        "client", "idle", "age_limit", "too_large", "protocol_error", "output_cap", "shutdown"};
	int i;

	buf_printf(out,
	           "# HELP toolhost_ws_connections WebSocket connections open now.\n"
	           "# TYPE toolhost_ws_connections gauge\ntoolhost_ws_connections %llu\n"
	           "# HELP toolhost_ws_connections_total WebSocket upgrades accepted.\n"
	           "# TYPE toolhost_ws_connections_total counter\ntoolhost_ws_connections_total %llu\n"
	           "# HELP toolhost_ws_refused_total WebSocket upgrades refused.\n"
	           "# TYPE toolhost_ws_refused_total counter\ntoolhost_ws_refused_total %llu\n"
	           "# HELP toolhost_ws_turns_total response.create turns started over WebSocket.\n"
	           "# TYPE toolhost_ws_turns_total counter\ntoolhost_ws_turns_total %llu\n"
	           "# HELP toolhost_ws_closes_total WebSocket connections closed, by reason.\n"
	           "# TYPE toolhost_ws_closes_total counter\n",
	           (unsigned long long)st->open, (unsigned long long)st->connections,
	           (unsigned long long)st->refused, (unsigned long long)st->turns);
	for (i = 0; i < WS_CLOSE_N; i++)
		buf_printf(out, "toolhost_ws_closes_total{reason=\"%s\"} %llu\n", reasons[i],
		           (unsigned long long)st->closes[i]);
}
