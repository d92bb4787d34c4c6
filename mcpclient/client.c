/*
 * client: the API of mcpclient.h: the session pool (one session per url + credential identity, idle
 * eviction), listings through the cache with cursors followed under a guard, calls, and counters.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "daemon/buf.h"
#include "daemon/log.h"
#include "daemon/redact.h"
#include "daemon/util.h"
#include "mcpclient/cache.h"
#include "mcpclient/mcpclient.h"
#include "mcpclient/session.h"
#include "mcpclient/tools.h"

#ifndef TOOLHOST_VERSION
#define TOOLHOST_VERSION "0.1.0"
#endif

#define TICK_MS 1000

struct pool_entry {
	struct mcp_client *c;
	int closing; /* DELETE in flight: not to be reused, freed by on_session_closed */
	char *url;
	char *cred; /* SHA-256 of the headers: the credential identity */
	struct mcp_session *s;
	struct pool_entry *next;
};

struct mcp_op {
	struct mcp_client *c;
	struct mcp_op *prev, *next;
	int is_call;
	int finished;
	char *url, *cred;
	char **headers;
	long timeout_ms;
	long ttl_s;
	struct mcp_req *req;
	mcp_list_cb list_cb;
	mcp_call_cb call_cb;
	mcp_progress_cb progress;
	void *ud;
	/* listing */
	struct mcp_cursor_guard guard;
	json_t *tools;
	int hidden;
	int restarted;
	int from_cache;
	/* call */
	char *name;
	json_t *args;
	uint64_t started_us;
	uv_timer_t defer; /* delivers a cache hit after the call that asked for it has returned */
};

struct mcp_client {
	uv_loop_t *loop;
	struct xfer_ctx *xfer;
	struct mcp_client_config cfg;
	struct mcp_session_env env;
	struct mcp_stats stats;
	struct mcp_cache *cache;
	struct pool_entry *pool;
	struct mcp_op *ops;
	uv_timer_t tick;
	int shutting_down;
	int sessions_closing;
	void (*shutdown_done)(void *ud);
	void *shutdown_ud;
};

static const char *
transport_name(enum mcp_transport t)
{
	return t == MCP_TRANSPORT_SSE ? "sse" : "streamable";
}

static struct pool_entry *
pool_by_session(struct mcp_client *c, const struct mcp_session *s)
{
	struct pool_entry *pe;

	for (pe = c->pool; pe; pe = pe->next)
		if (pe->s == s && !pe->closing)
			return pe;
	return NULL;
}

static struct pool_entry *
pool_find(struct mcp_client *c, const char *url, const char *cred)
{
	struct pool_entry *pe;

	for (pe = c->pool; pe; pe = pe->next)
		if (!pe->closing && strcmp(pe->url, url) == 0 && strcmp(pe->cred, cred) == 0)
			return pe;
	return NULL;
}

static struct pool_entry *
pool_get(struct mcp_client *c, const struct mcp_op *op)
{
	struct pool_entry *pe = pool_find(c, op->url, op->cred);
	enum mcp_transport t = MCP_TRANSPORT_UNKNOWN;
	char *transport = NULL, *version = NULL;

	if (pe) {
		if (mcp_session_ready(pe->s))
			c->stats.sessions_reused++;
		return pe;
	}
	if (mcp_cache_transport_get(c->cache, op->url, &transport, &version) == 0) {
		t = strcmp(transport, "sse") == 0 ? MCP_TRANSPORT_SSE : MCP_TRANSPORT_STREAMABLE;
		free(transport);
		free(version);
	}
	pe = xcalloc(1, sizeof *pe);
	pe->c = c;
	pe->url = xstrdup(op->url);
	pe->cred = xstrdup(op->cred);
	pe->s = mcp_session_new(&c->env, op->url, (const char *const *)op->headers, t);
	pe->next = c->pool;
	c->pool = pe;
	return pe;
}

static void
pool_unlink(struct mcp_client *c, struct pool_entry *pe)
{
	struct pool_entry **pp;

	for (pp = &c->pool; *pp && *pp != pe; pp = &(*pp)->next)
		;
	if (*pp)
		*pp = pe->next;
	free(pe->url);
	free(pe->cred);
	free(pe);
}

static void
shutdown_progress(struct mcp_client *c)
{
	if (c->shutting_down && c->sessions_closing == 0 && c->shutdown_done) {
		void (*done)(void *) = c->shutdown_done;

		c->shutdown_done = NULL;
		done(c->shutdown_ud);
	}
}

static void
on_session_closed(void *ud)
{
	struct pool_entry *pe = ud;
	struct mcp_client *c = pe->c;

	c->sessions_closing--;
	pool_unlink(c, pe);
	shutdown_progress(c);
}

/* Closes the entry's session (DELETE); the entry stays listed, unusable, until that is done. */
static void
pool_remove(struct mcp_client *c, struct pool_entry *pe)
{
	if (pe->closing)
		return;
	pe->closing = 1;
	c->sessions_closing++;
	mcp_session_close(pe->s, on_session_closed, pe);
}

static void
on_tools_changed(void *ud, struct mcp_session *s)
{
	struct mcp_client *c = ud;
	struct pool_entry *pe = pool_by_session(c, s);

	if (pe) {
		char *u = util_url_redact(pe->url);

		log_info("mcp %s: tool listing changed; cache dropped", u);
		free(u);
		mcp_cache_invalidate(c->cache, pe->url, pe->cred);
	}
}

static void
on_negotiated(void *ud, struct mcp_session *s)
{
	struct mcp_client *c = ud;
	struct pool_entry *pe = pool_by_session(c, s);

	if (pe)
		mcp_cache_transport_put(c->cache, pe->url, transport_name(mcp_session_transport(s)),
		                        mcp_session_version(s), util_wall_s());
}

static void
on_tick(uv_timer_t *t)
{
	struct mcp_client *c = t->data;
	struct pool_entry *pe, *next;
	uint64_t now = uv_now(c->loop);

	for (pe = c->pool; pe; pe = next) {
		next = pe->next;
		if (pe->closing)
			continue;
		mcp_session_tick(pe->s);
		if (mcp_session_pending(pe->s) == 0 &&
		    now - mcp_session_last_used(pe->s) >= (uint64_t)c->cfg.idle_evict_s * 1000) {
			char *u = util_url_redact(pe->url);

			log_debug("mcp %s: idle session evicted", u);
			free(u);
			pool_remove(c, pe);
		}
	}
}

struct mcp_client *
mcp_client_new(uv_loop_t *loop, struct xfer_ctx *xfer, struct store *store,
               const struct mcp_client_config *config)
{
	struct mcp_client *c = xcalloc(1, sizeof *c);

	if (config)
		c->cfg = *config;
	c->cfg.client_name = xstrdup(c->cfg.client_name ? c->cfg.client_name : "toolhostd");
	c->cfg.client_version = xstrdup(c->cfg.client_version ? c->cfg.client_version : TOOLHOST_VERSION);
	if (c->cfg.connect_timeout_ms <= 0)
		c->cfg.connect_timeout_ms = 5000;
	if (c->cfg.request_timeout_ms <= 0)
		c->cfg.request_timeout_ms = 60000;
	if (c->cfg.idle_evict_s <= 0)
		c->cfg.idle_evict_s = 300;
	if (c->cfg.ping_after_idle_s <= 0)
		c->cfg.ping_after_idle_s = 60;
	if (c->cfg.cache_ttl_s == 0)
		c->cfg.cache_ttl_s = 60;
	if (c->cfg.max_message_bytes == 0)
		c->cfg.max_message_bytes = 8u << 20;
	if (c->cfg.max_pages <= 0)
		c->cfg.max_pages = 100;
	c->loop = loop;
	c->xfer = xfer;
	c->cache = mcp_cache_new(store);
	c->env.loop = loop;
	c->env.xfer = xfer;
	c->env.cfg = &c->cfg;
	c->env.stats = &c->stats;
	c->env.on_tools_changed = on_tools_changed;
	c->env.on_negotiated = on_negotiated;
	c->env.ud = c;
	uv_timer_init(loop, &c->tick);
	c->tick.data = c;
	uv_timer_start(&c->tick, on_tick, TICK_MS, TICK_MS);
	uv_unref((uv_handle_t *)&c->tick); /* housekeeping alone must not keep the loop running */
	return c;
}

/* ---- operations ---- */

static void
on_op_closed(uv_handle_t *h)
{
	struct mcp_op *op = h->data;
	int i;

	for (i = 0; op->headers && op->headers[i]; i++)
		free(op->headers[i]);
	free(op->headers);
	free(op->url);
	free(op->cred);
	free(op->name);
	json_decref(op->args);
	json_decref(op->tools);
	mcp_cursor_guard_free(&op->guard);
	free(op);
}

/* Unlinks the operation and frees it once its timer is closed; the caller reports first or never. */
static void
op_release(struct mcp_op *op)
{
	struct mcp_client *c = op->c;

	op->finished = 1;
	if (c->ops == op)
		c->ops = op->next;
	if (op->prev)
		op->prev->next = op->next;
	if (op->next)
		op->next->prev = op->prev;
	uv_timer_stop(&op->defer);
	uv_close((uv_handle_t *)&op->defer, on_op_closed);
}

static void
list_finish(struct mcp_op *op, const struct mcp_error *err, const char *version)
{
	struct mcp_list_result r = {0};
	mcp_list_cb cb = op->list_cb;
	void *ud = op->ud;

	r.error = err;
	r.tools = err ? NULL : op->tools;
	r.from_cache = op->from_cache;
	r.protocol_version = version ? version : "";
	r.hidden = op->hidden;
	json_incref(r.tools); /* op_release drops the op's reference */
	op_release(op);
	cb(ud, &r);
	json_decref(r.tools);
}

static void
call_finish(struct mcp_op *op, const struct mcp_error *err, json_t *result)
{
	struct mcp_call_result r = {0};
	struct mcp_client *c = op->c;
	mcp_call_cb cb = op->call_cb;
	void *ud = op->ud;
	char *text = NULL;

	r.duration_us = util_mono_us() - op->started_us;
	c->stats.calls++;
	c->stats.call_us_total += r.duration_us;
	if (r.duration_us > c->stats.call_us_max)
		c->stats.call_us_max = r.duration_us;
	if (err) {
		c->stats.call_errors++;
		r.error = err;
	} else {
		r.result = result;
		r.is_error = json_is_true(json_object_get(result, "isError"));
		text = mcp_result_text(result, 0);
		r.text = text;
	}
	op_release(op);
	cb(ud, &r);
	free(text);
}

static void list_page(struct mcp_op *op, const char *cursor);

static void
on_list_reply(void *ud, const struct mcp_reply *reply)
{
	struct mcp_op *op = ud;
	struct mcp_client *c = op->c;
	struct mcp_error perr = {MCP_ERR_PROTOCOL, 0, 0, NULL, NULL, NULL};
	struct pool_entry *pe = pool_find(c, op->url, op->cred);
	const char *version = pe ? mcp_session_version(pe->s) : "";
	json_t *tools, *next, *tool;
	char why[200], err[200];
	size_t i;
	int more;

	op->req = NULL;
	if (reply->error) {
		if (reply->error->kind == MCP_ERR_EXPIRED && !op->restarted) {
			/* Cursors belong to the session that gave them: list again from the first page. */
			op->restarted = 1;
			json_array_clear(op->tools);
			op->hidden = 0;
			mcp_cursor_guard_free(&op->guard);
			mcp_cursor_guard_init(&op->guard, c->cfg.max_pages);
			list_page(op, NULL);
			return;
		}
		if (reply->error->kind == MCP_ERR_UNSUPPORTED) {
			list_finish(op, NULL, version);
			return;
		}
		list_finish(op, reply->error, version);
		return;
	}
	tools = json_object_get(reply->result, "tools");
	next = json_object_get(reply->result, "nextCursor");
	if (!json_is_array(tools) || (next && !json_is_string(next) && !json_is_null(next))) {
		perr.message = "the MCP server's tools/list result is malformed";
		list_finish(op, &perr, version);
		return;
	}
	json_array_foreach (tools, i, tool) {
		if (mcp_tool_callable(tool, why, sizeof why)) {
			json_array_append(op->tools, tool);
		} else {
			op->hidden++;
			char *u = util_url_redact(op->url);
			struct redact *rs = redact_new();

			/* why names the tool: a server's text, which may echo what it was sent. */
			redact_add_headers(rs, (const char *const *)op->headers);
			redact_inplace(rs, why, sizeof why);
			log_debug("mcp %s: %s: left out", u, why);
			redact_free(rs);
			free(u);
		}
	}
	more = mcp_cursor_guard_page(&op->guard, json_is_string(next) ? json_string_value(next) : NULL, err,
	                             sizeof err);
	if (more < 0) {
		perr.message = err;
		list_finish(op, &perr, version);
		return;
	}
	if (more > 0) {
		list_page(op, json_string_value(next));
		return;
	}
	if (op->headers[0]) {
		/* The listing is kept (memory, the store) and handed out: without the credentials the
		 * server may have quoted in it. Shared, not copied, when it quotes none. */
		struct redact *rs = redact_new();
		json_t *clean;

		redact_add_headers(rs, (const char *const *)op->headers);
		clean = redact_json(rs, op->tools);
		json_decref(op->tools);
		op->tools = clean;
		redact_free(rs);
	}
	if (op->ttl_s > 0 && version[0])
		mcp_cache_put(c->cache, op->url, op->cred, version, op->tools, util_wall_s(), op->ttl_s);
	list_finish(op, NULL, version);
}

static void
list_page(struct mcp_op *op, const char *cursor)
{
	struct mcp_client *c = op->c;
	struct pool_entry *pe = pool_get(c, op);
	json_t *params = cursor ? json_pack("{s:s}", "cursor", cursor) : NULL;

	/* A continuation must not be retried on a new session: its cursor would mean nothing there. */
	op->req =
	        mcp_session_request(pe->s, "tools/list", params, op->timeout_ms,
	                            MCP_REQ_TOOLS | (cursor ? MCP_REQ_NO_RETRY : 0), NULL, on_list_reply, op);
	json_decref(params);
}

static void
on_defer(uv_timer_t *t)
{
	struct mcp_op *op = t->data;
	struct pool_entry *pe = pool_find(op->c, op->url, op->cred);

	list_finish(op, NULL, pe ? mcp_session_version(pe->s) : "");
}

static int
header_ok(const char *h)
{
	const char *colon = strchr(h, ':');

	return colon && colon != h && !strpbrk(h, "\r\n");
}

static struct mcp_op *
op_new(struct mcp_client *c, const struct mcp_server *server)
{
	struct mcp_op *op;
	struct buf ident;
	char hash[65];
	int n = 0, i;

	if (!c || c->shutting_down || !server || !server->url ||
	    (strncasecmp(server->url, "http://", 7) != 0 && strncasecmp(server->url, "https://", 8) != 0))
		return NULL;
	while (server->headers && server->headers[n]) {
		if (!header_ok(server->headers[n]))
			return NULL;
		n++;
	}
	op = xcalloc(1, sizeof *op);
	op->c = c;
	op->url = xstrdup(server->url);
	op->headers = xcalloc((size_t)n + 1, sizeof *op->headers);
	/* The credential identity: every header the server gets, since any of them may authenticate. */
	buf_init(&ident, 0);
	for (i = 0; i < n; i++) {
		op->headers[i] = xstrdup(server->headers[i]);
		buf_appends(&ident, server->headers[i]);
		buf_appends(&ident, "\n");
	}
	util_sha256_hex(ident.data ? ident.data : "", ident.len, hash);
	buf_free(&ident);
	op->cred = xstrdup(hash);
	op->timeout_ms = server->timeout_ms > 0 ? server->timeout_ms : c->cfg.request_timeout_ms;
	op->ttl_s = server->cache_ttl_s ? server->cache_ttl_s : c->cfg.cache_ttl_s;
	mcp_cursor_guard_init(&op->guard, c->cfg.max_pages);
	uv_timer_init(c->loop, &op->defer);
	op->defer.data = op;
	op->next = c->ops;
	if (c->ops)
		c->ops->prev = op;
	c->ops = op;
	return op;
}

struct mcp_op *
mcp_list_tools(struct mcp_client *c, const struct mcp_server *server, mcp_list_cb cb, void *ud)
{
	struct mcp_op *op = op_new(c, server);
	struct pool_entry *pe;
	char *transport = NULL, *version = NULL;
	json_t *cached = NULL;

	if (!op)
		return NULL;
	op->list_cb = cb;
	op->ud = ud;
	op->tools = json_array();
	if (op->ttl_s > 0) {
		/* The key's version: the live session's, else the one last negotiated with this URL. */
		pe = pool_find(c, op->url, op->cred);
		if (pe && mcp_session_ready(pe->s)) {
			cached = mcp_cache_get(c->cache, op->url, op->cred, mcp_session_version(pe->s),
			                       util_wall_s());
		} else if (mcp_cache_transport_get(c->cache, op->url, &transport, &version) == 0) {
			cached = mcp_cache_get(c->cache, op->url, op->cred, version, util_wall_s());
			free(transport);
			free(version);
		}
	}
	if (cached) {
		c->stats.cache_hits++;
		json_array_extend(op->tools, cached);
		op->from_cache = 1;
		uv_timer_start(&op->defer, on_defer, 0, 0);
		return op;
	}
	c->stats.cache_misses++;
	list_page(op, NULL);
	return op;
}

static void
on_call_reply(void *ud, const struct mcp_reply *reply)
{
	struct mcp_op *op = ud;
	struct mcp_error perr = {
	        MCP_ERR_PROTOCOL, 0, 0, "the MCP server's CallToolResult has no content array", NULL, NULL};

	op->req = NULL;
	if (reply->error) {
		call_finish(op, reply->error, NULL);
		return;
	}
	if (!json_is_array(json_object_get(reply->result, "content"))) {
		call_finish(op, &perr, NULL);
		return;
	}
	call_finish(op, NULL, reply->result);
}

static void
on_call_progress(void *ud, double progress, double total, const char *message)
{
	struct mcp_op *op = ud;

	if (op->progress)
		op->progress(op->ud, progress, total, message);
}

struct mcp_op *
mcp_call_tool(struct mcp_client *c, const struct mcp_server *server, const char *name, json_t *arguments,
              mcp_progress_cb progress, mcp_call_cb cb, void *ud)
{
	struct mcp_op *op;
	struct pool_entry *pe;
	json_t *params;

	if (!name || (arguments && !json_is_object(arguments)))
		return NULL;
	op = op_new(c, server);
	if (!op)
		return NULL;
	op->is_call = 1;
	op->call_cb = cb;
	op->progress = progress;
	op->ud = ud;
	op->name = xstrdup(name);
	op->started_us = util_mono_us();
	pe = pool_get(c, op);
	params = json_pack("{s:s, s:O}", "name", name, "arguments", arguments ? arguments : json_object());
	if (!arguments)
		json_decref(json_object_get(params, "arguments")); /* s:O took a second reference */
	op->req = mcp_session_request(pe->s, "tools/call", params, op->timeout_ms, MCP_REQ_TOOLS,
	                              progress ? on_call_progress : NULL, on_call_reply, op);
	json_decref(params);
	return op;
}

void
mcp_op_cancel(struct mcp_op *op)
{
	if (!op || op->finished)
		return;
	if (op->req)
		mcp_session_cancel(op->req, "cancelled by the caller");
	op->req = NULL;
	op_release(op);
}

/* ---- the client ---- */

void
mcp_client_invalidate(struct mcp_client *c, const char *url)
{
	mcp_cache_invalidate(c->cache, url, NULL);
}

void
mcp_client_stats(const struct mcp_client *c, struct mcp_stats *out)
{
	*out = c->stats;
}

static void
end_all_ops(struct mcp_client *c)
{
	struct mcp_error closed = {MCP_ERR_CLOSED, 0, 0, "the MCP client is shutting down", NULL, NULL};
	struct mcp_op *op;

	/* A callback may cancel other operations: take the head each time. */
	while ((op = c->ops)) {
		if (op->req)
			mcp_session_cancel(op->req, "shutting down");
		op->req = NULL;
		if (op->is_call)
			call_finish(op, &closed, NULL);
		else
			list_finish(op, &closed, NULL);
	}
}

void
mcp_client_shutdown(struct mcp_client *c, void (*done)(void *ud), void *ud)
{
	struct pool_entry *pe;

	if (!c || c->shutting_down)
		return;
	c->shutting_down = 1;
	c->shutdown_done = done;
	c->shutdown_ud = ud;
	end_all_ops(c);
	uv_timer_stop(&c->tick);
	c->sessions_closing++; /* held until every session has been asked to close */
	for (;;) {
		for (pe = c->pool; pe && pe->closing; pe = pe->next)
			;
		if (!pe)
			break;
		pool_remove(c, pe);
	}
	c->sessions_closing--;
	shutdown_progress(c);
}

static void
on_client_tick_closed(uv_handle_t *h)
{
	free(h->data);
}

void
mcp_client_free(struct mcp_client *c)
{
	struct mcp_op *op;

	if (!c)
		return;
	while ((op = c->ops)) {
		if (op->req)
			mcp_session_cancel(op->req, "shutting down");
		op->req = NULL;
		op_release(op);
	}
	/* No network from here: sessions (even those still DELETEing) are dropped where they stand. */
	while (c->pool) {
		mcp_session_free(c->pool->s);
		pool_unlink(c, c->pool);
	}
	mcp_cache_free(c->cache);
	free((char *)c->cfg.client_name);
	free((char *)c->cfg.client_version);
	/* The client is freed by the tick timer's close callback, after the loop has let go of it. */
	uv_close((uv_handle_t *)&c->tick, on_client_tick_closed);
}
