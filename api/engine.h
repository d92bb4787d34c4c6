/*
 * engine: runs one response from a parsed request to its end: routes the model to an upstream,
 * loads the previous_response_id chain from the store, resolves item references, translates the
 * context for the upstream (api/upstream), streams the upstream turn (api/provider) into
 * output items and events (api/turn + api/events), stores the result, and reports it to the
 * transport through a sink.
 *
 * With MCP tools (api/mcprun) the job is the agentic loop: list the servers' tools, run approved
 * calls, then model turns and the MCP calls each turn asks for, until the model answers, a function
 * call or an approval request goes back to the caller, or a ceiling (max_tool_calls, max_turns)
 * ends it "incomplete". background:true answers "queued" at once and runs detached (polled with
 * GET, stopped with cancel).
 *
 * Failures before the upstream has answered with a 2xx (routing, unknown previous response,
 * translation, upstream refused / timed out / 4xx / 5xx) end the job with a real HTTP status and the
 * error envelope, even for stream:true requests (SSE headers and response.created are sent only once
 * the upstream has accepted; with MCP tools, before the listing). Failures after that are an `error`
 * event followed by response.failed. Everything runs on the loop thread.
 */
#ifndef API_ENGINE_H
#define API_ENGINE_H

#include <stddef.h>
#include <jansson.h>
#include <uv.h>

#include "api/events.h"

struct api_env;
struct config;
struct request;
struct store;
struct xfer_ctx;
struct mcp_client;
struct engine_job;

/* The engine's state (jobs in flight, the compaction key) is its own; it runs against the api_env
 * (api/env.h) main made: each job takes the current config at its start and keeps it to its end. */
struct engine *engine_new(struct api_env *env);
void engine_free(struct engine *eng);
/* Jobs in flight (read by the drain logic and /healthz). */
size_t engine_active(const struct engine *eng);

/* How a job talks back to its transport: one interface, two implementations (api/http: SSE over
 * chunked HTTP; api/ws: one WebSocket text message per event). Borrowed; ud is the transport's
 * per-request state. */
struct engine_sink {
	/* EVENTS_SSE ("event:/data:" + a final [DONE]) or EVENTS_WS (one compact JSON object per
	 * on_event call, no [DONE]). */
	enum events_framing framing;
	/* 1: while nothing went out for keepalive_s, the job re-sends response.in_progress (a full
	 * snapshot, the next sequence_number): a real event, as Codex drops a stream after 300 s
	 * without one; 0: an SSE comment ": keep-alive". */
	int keepalive_event;
	/* Streaming only: the stream starts (send 200 + SSE headers). */
	void (*on_stream_start)(void *ud);
	/* Streaming only: one framed event. Return -1 if the transport is gone or over its cap. */
	int (*on_event)(void *ud, const char *data, size_t len);
	/* 1 while the transport's output backlog is above its high-water mark: the job then pauses the
	 * upstream until engine_job_resume(). */
	int (*congested)(void *ud);
	/* May be NULL. Called once, just before on_finish, when the response ended (completed,
	 * incomplete, failed or cancelled; a warm-up too) and the transport has it: context = the
	 * whole input the response ran over (chain + its own input, references resolved: what is stored
	 * as input_json), response = the final ResponseResource; both borrowed for the call. Not called
	 * when the job failed with an error envelope (on_finish's body). */
	void (*on_result)(void *ud, const json_t *context, const json_t *response);
	/* Last call for the job. body is NULL after a stream (already fully sent through on_event);
	 * otherwise it is the JSON to send with http_status (the response, or an error envelope);
	 * borrowed for the call. retry_after: with a 429 or 503 from the upstream that said when to
	 * retry, that many seconds as a string ("7"), to send as Retry-After; else NULL. Borrowed for
	 * the call. The job is freed right after this returns. */
	void (*on_finish)(void *ud, int http_status, const json_t *body, const char *retry_after);
};

/* What a transport may add to a request; NULL means all defaults (HTTP). */
struct engine_opts {
	/* The items before req->input when the transport resolved req->previous_response_id itself
	 * (the WebSocket connection-local cache: prev.input + prev.output in order). The job keeps a
	 * reference and only reads it: the caller must not change it afterwards. NULL: the chain is
	 * loaded from the store, for the caller. */
	const json_t *chain;
	/* Echoed as "stream_id" in every event of this response (WebSocket lanes). NULL: none. */
	const char *stream_id;
	/* generate:false, a warm-up: response.created then response.completed, output [], usage of
	 * 0 tokens, no upstream request; the request's MCP servers are listed (into the cache, their
	 * pooled sessions opened) without any item in the response. Stored when req->store, chainable. */
	int warmup;
};

/* Who is asking: for logs, upstream credential forwarding and ownership. Copied. The identity owns
 * the responses it creates; every call below that reads, chains, cancels or deletes one acts only for
 * its owner (another caller's response is a 404, like an unknown id), unless is_operator. */
struct engine_caller {
	const char *identity; /* "uid=1000" or "key=ci"; never a secret */
	const char *bearer;   /* the caller's bearer token, or NULL; forwarded only where configured */
	int is_operator;      /* an operator (config "operators"): acts on every caller's responses */
	const char *client;   /* its User-Agent as api/caller keeps it, or NULL: shown to operators */
};

/* Starts a job for req (consumed). Never NULL: even an immediate failure is reported through
 * sink->on_finish, possibly before this returns. Returns the job only while it is still running,
 * else NULL. */
struct engine_job *engine_job_start(struct engine *ctx, struct request *req,
                                    const struct engine_caller *caller, const struct engine_opts *opts,
                                    const struct engine_sink *sink, void *ud);
/* POST /v1/responses/compact: req from request_parse_compact (consumed). The sink gets the
 * CompactResource (200) or an error envelope; never streamed. Returns as engine_job_start. */
struct engine_job *engine_compact_start(struct engine *ctx, struct request *req,
                                        const struct engine_caller *caller, const struct engine_sink *sink,
                                        void *ud);
/* The transport drained its backlog below the low-water mark. */
void engine_job_resume(struct engine_job *job);
/* The caller went away: stop the upstream transfer and free the job; no sink call after this. */
void engine_job_cancel(struct engine_job *job);
/* Shutdown past the drain deadline: end the job now with a server error, through the sink. */
void engine_job_abort(struct engine_job *job, const char *why);

/* Past the drain deadline: engine_job_abort for every job in flight. */
void engine_abort_all(struct engine *ctx, const char *why);

/* GET /v1/responses/{id}: 200 with the stored response, or 404. New reference (body). */
json_t *engine_get_response(struct engine *ctx, const struct engine_caller *caller, const char *id,
                            int *http_status);
/* POST /v1/responses/{id}/cancel: a running response (background or not) stops: its upstream turn
 * and MCP calls are cancelled (the servers get notifications/cancelled), its status becomes
 * "cancelled", it is stored, and its own caller gets it; 200 with it. 404 unknown, 400 when it has
 * already ended. */
json_t *engine_cancel_response(struct engine *ctx, const struct engine_caller *caller, const char *id,
                               int *http_status);
/* DELETE /v1/responses/{id}: {"id","object":"response.deleted","deleted":true} or 404. */
json_t *engine_delete_response(struct engine *ctx, const struct engine_caller *caller, const char *id,
                               int *http_status);
/* GET /v1/responses/{id}/input_items with query args (limit 1..100 default 20, order asc|desc
 * default desc, after, before): a list object, or 404 / 400. */
json_t *engine_input_items(struct engine *ctx, const struct engine_caller *caller, const char *id,
                           const char *limit, const char *order, const char *after, const char *before,
                           int *http_status);

#endif
