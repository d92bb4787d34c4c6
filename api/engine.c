#include "api/engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/apierr.h"
#include "api/compact.h"
#include "api/env.h"
#include "api/events.h"
#include "api/mcprun.h"
#include "api/provider.h"
#include "api/request.h"
#include "api/response.h"
#include "api/turn.h"
#include "api/upstream.h"
#include "daemon/buf.h"
#include "daemon/config.h"
#include "daemon/log.h"
#include "daemon/redact.h"
#include "daemon/util.h"
#include "store/store.h"

/* The engine's own state (engine.h): the jobs in flight and the compaction key. */
struct engine {
	struct api_env *env;
	size_t active;                                /* jobs in flight */
	struct engine_job *jobs;                      /* the jobs in flight, for engine_abort_all */
	unsigned char compact_key[COMPACT_KEY_BYTES]; /* read from the store once */
	int have_compact_key;
};

/* The store's name of the key that seals compaction items. */
#define ENGINE_COMPACT_KEY "compaction_hmac"

struct engine_job {
	struct engine_job *next, *prev; /* ctx->jobs */
	struct engine *ctx;
	struct config *cfg; /* held from the start to job_free: a SIGHUP changes nothing here */
	struct request *req;
	const struct engine_sink *sink; /* NULL once cancelled, finished or detached */
	void *ud;

	char id[48];
	char *identity;
	char *client; /* the caller's User-Agent (api/caller), or NULL */
	struct provider_target upstream;
	char *model; /* as sent upstream (routing suffix stripped) */
	/* Every secret this job knows (config, forwarded bearer, its MCP servers' headers): replaced in
	 * the peer text it relays (upstream errors here, MCP results in mcprun). */
	struct redact *secrets;
	unsigned keepalive_s;
	unsigned request_timeout_s;
	unsigned max_turns;
	size_t max_output_bytes;
	size_t max_event_bytes;
	int compact;   /* POST /v1/responses/compact: one turn, then the compaction resource */
	int warmup;    /* generate:false (engine_opts) */
	json_t *chain; /* the chain the transport resolved (engine_opts), or NULL: the store's */
	char *stream_id;
	int detached;   /* background: the caller already has its answer */
	int over;       /* job_finish ran: no timer or callback may act any more */
	int cancelled;  /* POST .../cancel */
	unsigned turns; /* model turns started */
	unsigned char compact_key[COMPACT_KEY_BYTES];
	int have_compact_key;

	json_t *context;    /* the input items of the whole context, stored as input_json */
	json_t *response;   /* the ResponseResource, updated in place */
	json_t *transcript; /* this response's items as the next turn sees them (output + refusals) */
	size_t turn_first;  /* the first output index of the current turn */
	size_t out_seen;    /* output items already in the transcript */
	struct events *events;
	struct turn *turn;
	struct mcp_run *mcp;
	struct provider_call *call; /* the model turn's upstream exchange, while it runs */

	int streaming;  /* SSE headers and response.created are out */
	int stream_cut; /* the upstream's stream ended without data: [DONE] */
	int failed;     /* err holds why */
	struct api_error err;
	char retry_after[24]; /* the upstream's valid Retry-After of a 429/503, in seconds; "": none */

	uv_timer_t tick;     /* keep-alive comments while the upstream is silent */
	uv_timer_t deadline; /* request_timeout_s */
	int open_handles;    /* the job memory goes when both timers are closed */
	uint64_t started_ms;
	uint64_t last_sent_ms;
};

static void job_finish(struct engine_job *job);
static void start_turn(struct engine_job *job);

static void
on_timer_closed(uv_handle_t *h)
{
	struct engine_job *job = h->data;

	if (--job->open_handles == 0)
		free(job);
}

static void
job_free(struct engine_job *job)
{
	provider_cancel(job->call);
	mcp_run_free(job->mcp);
	job->ctx->active--;
	if (job->prev)
		job->prev->next = job->next;
	else
		job->ctx->jobs = job->next;
	if (job->next)
		job->next->prev = job->prev;
	request_free(job->req);
	json_decref(job->chain);
	free(job->stream_id);
	free(job->identity);
	free(job->client);
	provider_target_clear(&job->upstream);
	free(job->model);
	redact_free(job->secrets);
	config_release(job->cfg);
	explicit_bzero(job->compact_key, sizeof job->compact_key);
	json_decref(job->context);
	json_decref(job->response);
	json_decref(job->transcript);
	events_free(job->events);
	turn_free(job->turn);
	/* The job memory goes when libuv is done with both timers. */
	uv_close((uv_handle_t *)&job->tick, on_timer_closed);
	uv_close((uv_handle_t *)&job->deadline, on_timer_closed);
}

/* Splits "model:provider" when provider names a configured upstream (RESPONSES-NOTES 5.6). */
static const struct config_upstream *
route_model(const struct config *cfg, const char *model, char **model_out)
{
	const char *colon = model ? strrchr(model, ':') : NULL;
	const struct config_upstream *up;

	if (colon && colon[1]) {
		up = config_upstream_find(cfg, colon + 1);
		if (up) {
			*model_out = xstrndup(model, (size_t)(colon - model));
			return up;
		}
	}
	up = config_upstream_find(cfg, NULL);
	if (up == NULL)
		return NULL;
	if (model)
		*model_out = xstrdup(model);
	else if (up->default_model)
		*model_out = xstrdup(up->default_model);
	else
		*model_out = NULL;
	return up;
}

/* The owner a store call acts for: the caller's identity, or every owner (NULL) for an operator. A
 * caller without an identity is "-", the owner job_new gives its responses, never "every owner". */
static const char *
caller_owner(const struct engine_caller *caller)
{
	if (caller->is_operator)
		return NULL;
	return caller->identity ? caller->identity : "-";
}

/* Loads prev.input + prev.output for previous_response_id into *history. The previous response must
 * be the caller's: its input already holds its own chain, which its owner was allowed to read when
 * it was made, so checking this one hop checks every hop. */
static int
load_chain(struct engine_job *job, const struct engine_caller *caller, json_t **history)
{
	const char *prev = job->req->previous_response_id;
	char *resp_text = NULL, *input_text = NULL;
	json_t *resp = NULL, *input = NULL, *output;
	const char *status;
	int rc;

	if (job->chain) {
		/* Resolved by the transport (its connection-local cache) for this caller already;
		 * build_context copies it into the job's context. */
		*history = json_incref(job->chain);
		return 0;
	}
	*history = json_array();
	if (prev == NULL)
		return 0;
	rc = store_response_get(job->ctx->env->store, prev, caller_owner(caller), &resp_text, &input_text);
	if (rc == 1)
		return api_error_set(&job->err, 404, "not_found", "previous_response_not_found",
		                     "previous_response_id", "Previous response with id '%.64s' not found.",
		                     prev);
	if (rc < 0)
		return api_error_set(&job->err, 500, "server_error", NULL, NULL, "the response store failed");
	resp = json_loads(resp_text, 0, NULL);
	input = json_loads(input_text, 0, NULL);
	free(resp_text);
	free(input_text);
	output = json_object_get(resp, "output");
	status = json_string_value(json_object_get(resp, "status"));
	if (!json_is_array(input) || !json_is_array(output) || status == NULL) {
		json_decref(resp);
		json_decref(input);
		return api_error_set(&job->err, 500, "server_error", NULL, NULL,
		                     "stored response %.64s is damaged", prev);
	}
	if (strcmp(status, "queued") == 0 || strcmp(status, "in_progress") == 0) {
		json_decref(resp);
		json_decref(input);
		return api_error_bad(&job->err, "previous_response_id", "previous_response_in_progress",
		                     "Previous response '%.64s' has not finished yet.", prev);
	}
	json_array_extend(*history, input);
	json_array_extend(*history, output);
	json_decref(resp);
	json_decref(input);
	return 0;
}

static json_t *
find_item(const json_t *items, const char *id)
{
	size_t i;
	json_t *it;

	json_array_foreach (items, i, it) {
		const char *iid = json_string_value(json_object_get(it, "id"));
		if (iid && strcmp(iid, id) == 0)
			return it;
	}
	return NULL;
}

/* context = history + the request's input, with item_reference items replaced by what they name. */
static int
build_context(struct engine_job *job, json_t *history)
{
	size_t i;
	json_t *it;

	job->context = json_deep_copy(history);
	json_array_foreach (job->req->input, i, it) {
		const char *type = json_string_value(json_object_get(it, "type"));
		if (type && strcmp(type, "item_reference") == 0) {
			const char *id = json_string_value(json_object_get(it, "id"));
			json_t *found = id ? find_item(history, id) : NULL;
			char param[48];

			if (found == NULL) {
				snprintf(param, sizeof param, "input[%zu].id", i);
				return api_error_set(
				        &job->err, 404, "not_found", "item_not_found", param,
				        "Item with id '%.64s' not found in the previous_response_id chain.",
				        id ? id : "");
			}
			json_array_append_new(job->context, json_deep_copy(found));
		} else {
			json_array_append(job->context, it);
		}
	}
	return 0;
}

/* A function_call_output of the request must answer a function_call of its context (the chain, or
 * the input before it), as OpenAI requires: an orphan output is the caller's mistake, and the
 * upstream would get a tool message no tool call asked for. */
static int
check_tool_outputs(struct engine_job *job)
{
	size_t base = json_array_size(job->context) - json_array_size(job->req->input), i, j;
	const json_t *it, *prev;

	json_array_foreach (job->req->input, i, it) {
		const char *type = json_string_value(json_object_get(it, "type"));
		const char *call_id = json_string_value(json_object_get(it, "call_id"));
		int found = 0;
		char param[48];

		if (type == NULL || strcmp(type, "function_call_output") != 0 || call_id == NULL)
			continue;
		for (j = 0; j < base + i && !found; j++) {
			const char *pt, *pid;

			prev = json_array_get(job->context, j);
			pt = json_string_value(json_object_get(prev, "type"));
			pid = json_string_value(json_object_get(prev, "call_id"));
			found = pt && pid && strcmp(pt, "function_call") == 0 && strcmp(pid, call_id) == 0;
		}
		if (!found) {
			snprintf(param, sizeof param, "input[%zu].call_id", i);
			return api_error_bad(
			        &job->err, param, "invalid_value",
			        "No tool call found for function call output with call_id '%.64s'.", call_id);
		}
	}
	return 0;
}

/* Every compaction item of the context must carry a token this daemon sealed: checked before
 * anything starts, so that a tampered one is a 400 even for a stream. */
static int
check_compactions(struct engine_job *job)
{
	const json_t *it;
	size_t i;

	json_array_foreach (job->context, i, it) {
		const char *type = json_string_value(json_object_get(it, "type"));
		const char *token = json_string_value(json_object_get(it, "encrypted_content"));
		char *summary = NULL;

		if (type == NULL || strcmp(type, "compaction") != 0)
			continue;
		if (!job->have_compact_key || token == NULL ||
		    compact_open(job->compact_key, token, &summary) < 0)
			return api_error_bad(
			        &job->err, "input", "invalid_encrypted_content",
			        "A compaction item's encrypted_content was not issued by this server "
			        "or was altered.");
		free(summary);
	}
	return 0;
}

/* ---- sink plumbing ---- */

static int
on_events_bytes(void *ud, const char *data, size_t len)
{
	struct engine_job *job = ud;

	if (job->sink == NULL)
		return -1;
	job->last_sent_ms = util_mono_ms();
	return job->sink->on_event(job->ud, data, len);
}

static void
on_job_event(void *ud, json_t *event)
{
	struct engine_job *job = ud;

	events_emit(job->events, event);
}

static void
start_stream(struct engine_job *job)
{
	if (job->streaming || !job->req->stream || job->sink == NULL)
		return;
	job->streaming = 1;
	job->sink->on_stream_start(job->ud);
	events_emit_response(job->events, "response.created", job->response);
	if (!job->warmup)
		events_emit_response(job->events, "response.in_progress", job->response);
}

/* ---- the model turn's upstream exchange (api/provider) ---- */

static void
on_upstream_answer(void *ud)
{
	start_stream(ud);
}

static int
on_upstream_chunk(void *ud, json_t *chunk)
{
	struct engine_job *job = ud;

	if (turn_feed(job->turn, chunk, &job->err) < 0) {
		job->failed = 1;
		return 1;
	}
	return 0;
}

static int
upstream_congested(void *ud)
{
	struct engine_job *job = ud;

	return job->sink && job->streaming && job->sink->congested(job->ud);
}

/* ---- the agentic loop ---- */

/* 1 when the items of the current turn hold one of type. */
static int
turn_has(struct engine_job *job, const char *type)
{
	const json_t *out = json_object_get(job->response, "output"), *it;
	size_t i;

	for (i = job->turn_first; i < json_array_size(out); i++) {
		it = json_array_get(out, i);
		if (strcmp(json_string_value(json_object_get(it, "type")), type) == 0)
			return 1;
	}
	return 0;
}

/* Output items made since the last call (listings, calls, the model's items) join the transcript
 * (by reference: a call's result filled in later is seen). */
static void
transcript_sync(struct engine_job *job)
{
	const json_t *out = json_object_get(job->response, "output");

	for (; job->out_seen < json_array_size(out); job->out_seen++)
		json_array_append(job->transcript, json_array_get(out, job->out_seen));
}

/* The turn's items join the transcript, followed by one function_call + function_call_output pair
 * per refused call, so that the next turn tells the model the call was not made. */
static void
transcript_add_turn(struct engine_job *job)
{
	const json_t *r;
	const json_t *refused = job->turn ? turn_refused(job->turn) : NULL;
	int budget = job->mcp && mcp_run_budget_hit(job->mcp);
	size_t i;

	transcript_sync(job);
	json_array_foreach (refused, i, r) {
		const char *name = json_string_value(json_object_get(r, "name"));
		char id[48];

		util_new_id(id, sizeof id, "fc");
		json_array_append_new(
		        job->transcript,
		        json_pack("{s:s, s:s, s:s, s:O, s:O, s:O}", "type", "function_call", "status",
		                  "completed", "id", id, "call_id", json_object_get(r, "call_id"), "name",
		                  json_object_get(r, "name"), "arguments", json_object_get(r, "arguments")));
		json_array_append_new(
		        job->transcript,
		        json_pack(
		                "{s:s, s:O, s:o}", "type", "function_call_output", "call_id",
		                json_object_get(r, "call_id"), "output",
		                budget ? json_string("The tool call limit of this response was reached; the "
		                                     "call was not made.")
		                       : json_sprintf("Tool '%s' is not available in this response; the "
		                                      "call was not made.",
		                                      name ? name : "")));
	}
}

/* After a model turn and the MCP calls it asked for: another turn, or the end. */
static void
after_calls(struct engine_job *job)
{
	size_t nrefused = job->turn ? json_array_size(turn_refused(job->turn)) : 0;
	size_t nmcp = job->turn ? turn_mcp_count(job->turn) : 0;

	transcript_add_turn(job);
	if (job->failed || job->cancelled) {
		job_finish(job);
		return;
	}
	/* A function call goes back to the caller; an approval request waits for the caller. */
	if (turn_has(job, "function_call") || turn_has(job, "mcp_approval_request")) {
		job_finish(job);
		return;
	}
	if (job->mcp && mcp_run_budget_hit(job->mcp)) {
		response_set_incomplete(job->response, "max_tool_calls");
		job_finish(job);
		return;
	}
	if (nmcp == 0 && nrefused == 0) {
		job_finish(job);
		return;
	}
	if (job->turns >= job->max_turns) {
		response_set_incomplete(job->response, "max_turns");
		job_finish(job);
		return;
	}
	start_turn(job);
}

static void
on_calls_done(void *ud)
{
	after_calls(ud);
}

/* The upstream turn ended (well or not). */
static void
turn_done(struct engine_job *job)
{
	enum turn_end end = TURN_END_NO_FINISH;

	if (job->failed || job->cancelled) {
		job_finish(job);
		return;
	}
	turn_finish(job->turn, &end);
	if (end == TURN_END_NO_FINISH && job->stream_cut) {
		api_error_set(&job->err, 502, "model_error", "upstream_stream_cut", NULL,
		              "the upstream stream ended before the answer was complete");
		job->failed = 1;
		job_finish(job);
		return;
	}
	if (end == TURN_END_LENGTH)
		response_set_incomplete(job->response, "max_output_tokens");
	else if (end == TURN_END_CONTENT_FILTER)
		response_set_incomplete(job->response, "content_filter");
	if (job->mcp == NULL || end == TURN_END_LENGTH || end == TURN_END_CONTENT_FILTER) {
		/* Calls cut off with the model's turn are closed without running. */
		if (job->mcp)
			mcp_run_close(job->mcp, job->turn);
		job_finish(job);
		return;
	}
	if (mcp_run_calls(job->mcp, job->turn, on_calls_done, job) == 0)
		after_calls(job);
}

static void
on_upstream_done(void *ud, const struct provider_result *r)
{
	struct engine_job *job = ud;

	job->call = NULL; /* freed by provider after this returns */
	memcpy(job->retry_after, r->retry_after, sizeof job->retry_after);
	if (job->failed) {
		/* already explained by whoever set it */
	} else if (!r->ok) {
		job->err = r->err;
		job->failed = 1;
	} else if (r->answer && turn_feed_completion(job->turn, r->answer, &job->err) < 0) {
		job->failed = 1;
	}
	job->stream_cut = r->streamed && !r->saw_done;
	turn_done(job);
}

static const struct provider_callbacks upstream_callbacks = {
        .on_answer = on_upstream_answer,
        .on_chunk = on_upstream_chunk,
        .congested = upstream_congested,
        .on_done = on_upstream_done,
};

static const char *
visible_name(void *ud, const char *server_label, const char *name)
{
	struct engine_job *job = ud;

	return job->mcp ? mcp_run_visible_name(job->mcp, server_label, name) : NULL;
}

static char *
compaction_text(void *ud, const json_t *item)
{
	struct engine_job *job = ud;
	const char *token = json_string_value(json_object_get(item, "encrypted_content"));
	char *summary = NULL;

	if (!job->have_compact_key || token == NULL || compact_open(job->compact_key, token, &summary) < 0)
		return NULL;
	return summary;
}

/* The items the next turn samples over: the context, what this response made so far, and for a
 * compaction the request for a summary. */
static json_t *
turn_items(struct engine_job *job)
{
	json_t *items = json_array();

	json_array_extend(items, job->context);
	json_array_extend(items, job->transcript);
	if (job->compact)
		json_array_append_new(items, json_pack("{s:s, s:s, s:s, s:[{s:s, s:s}]}", "type", "message",
		                                       "role", "user", "status", "completed", "content",
		                                       "type", "input_text", "text", compact_instruction));
	return items;
}

static void
start_turn(struct engine_job *job)
{
	const struct config *cfg = job->cfg;
	const json_t *choice = job->req->tool_choice;
	const char *cs = json_string_value(choice);
	json_t *later_choice = NULL;
	struct upstream_extra extra;
	json_t *items, *chat;
	char *body;
	struct provider_request pr;

	transcript_sync(job);
	memset(&extra, 0, sizeof extra);
	extra.mcp_name = visible_name;
	extra.compaction_text = compaction_text;
	extra.ud = job;
	if (job->mcp)
		mcp_run_upstream_extra(job->mcp, &extra);
	/* A forced or required tool_choice holds for the first turn only: forced again after the tool
	 * ran, a model could never answer. */
	if (job->mcp && job->turns > 0 && !(cs && (strcmp(cs, "auto") == 0 || strcmp(cs, "none") == 0))) {
		later_choice = json_string("auto");
		extra.tool_choice = later_choice;
	}
	items = turn_items(job);
	chat = upstream_chat_body(job->req, job->model, items, &extra, &job->err);
	json_decref(items);
	json_decref(later_choice);
	if (chat == NULL) {
		job->failed = 1;
		job_finish(job);
		return;
	}
	turn_free(job->turn);
	job->turn = turn_new(job->response, job->req, job->max_output_bytes,
	                     job->req->stream ? on_job_event : NULL, job);
	turn_set_secrets(job->turn, job->secrets);
	if (job->mcp)
		turn_set_classifier(job->turn, mcp_run_classify, job->mcp);
	job->turn_first = json_array_size(json_object_get(job->response, "output"));
	job->turns++;
	job->retry_after[0] = '\0';
	job->stream_cut = 0;

	body = json_dumps(chat, JSON_COMPACT);
	json_decref(chat);
	memset(&pr, 0, sizeof pr);
	pr.target = &job->upstream;
	pr.method = "POST";
	pr.path = "/chat/completions";
	pr.body = body;
	pr.stream = 1;
	pr.connect_timeout_ms = (long)cfg->limits.upstream_connect_timeout_s * 1000;
	pr.idle_timeout_s = (long)cfg->limits.upstream_idle_timeout_s;
	pr.max_answer_bytes = job->max_output_bytes;
	pr.max_event_bytes = job->max_event_bytes;
	/* A stream may be held open for minutes while the model trickles a few hundred bytes at a time;
	 * curl keeps its receive buffer all along. 1 KiB instead of 16 holds such a chunk and saved
	 * about 3 kB of RSS per held stream (tests/bench, 2,000 slow streams). */
	pr.recv_buffer_bytes = 1024;
	pr.secrets = job->secrets;
	job->call = provider_start(job->ctx->env->xfer, &pr, &upstream_callbacks, job, &job->err);
	free(body);
	if (job->call == NULL) {
		job->failed = 1;
		job_finish(job);
	}
}

static void
on_prepared(void *ud)
{
	struct engine_job *job = ud;

	if (job->cancelled || job->over)
		return;
	if (mcp_run_budget_hit(job->mcp)) {
		response_set_incomplete(job->response, "max_tool_calls");
		job_finish(job);
		return;
	}
	start_turn(job);
}

/* ---- the end of a job ---- */

static void
store_result(struct engine_job *job)
{
	char *resp, *input;

	if (!job->req->store || job->compact)
		return;
	resp = json_dumps(job->response, JSON_COMPACT);
	input = json_dumps(job->context, JSON_COMPACT);
	if (resp == NULL || input == NULL ||
	    store_response_put(job->ctx->env->store, job->id, job->identity, resp, input,
	                       json_integer_value(json_object_get(job->response, "created_at"))) < 0)
		log_err("%s: could not store the response: %s", job->id, store_errmsg(job->ctx->env->store));
	free(resp);
	free(input);
}

static void
emit_error_event(struct engine_job *job)
{
	json_t *event = json_object();

	json_object_set_new(event, "type", json_string("error"));
	json_object_set_new(event, "error", api_error_object(&job->err));
	events_emit(job->events, event);
}

/* The assistant text of the response: the summary a compaction asked for. */
static char *
response_text(const json_t *response)
{
	struct buf text;
	const json_t *it, *part;
	size_t i, j;
	char *out;

	buf_init(&text, 0);
	json_array_foreach (json_object_get(response, "output"), i, it) {
		const char *type = json_string_value(json_object_get(it, "type"));

		if (type == NULL || strcmp(type, "message") != 0)
			continue;
		json_array_foreach (json_object_get(it, "content"), j, part) {
			const char *s = json_string_value(json_object_get(part, "text"));

			if (s)
				buf_appends(&text, s);
		}
	}
	out = xstrndup(text.data ? text.data : "", text.len);
	buf_free(&text);
	return out;
}

/* A compaction's answer: the CompactResource, or a failure when the model said nothing. */
static json_t *
compaction_result(struct engine_job *job)
{
	char *summary = response_text(job->response), *token;
	char id[48];
	json_t *res;

	if (summary[0] == '\0') {
		free(summary);
		api_error_set(&job->err, 502, "model_error", "empty_summary", NULL,
		              "upstream %s returned no summary", job->upstream.name);
		job->failed = 1;
		return NULL;
	}
	token = compact_seal(job->compact_key, summary, strlen(summary));
	util_new_id(id, sizeof id, "cmp");
	res = compact_resource(id, json_integer_value(json_object_get(job->response, "created_at")),
	                       job->context, token, json_object_get(job->response, "usage"));
	free(token);
	free(summary);
	return res;
}

static void
job_finish(struct engine_job *job)
{
	const struct engine_sink *sink = job->sink;
	const char *terminal = "response.completed";
	const char *status = json_string_value(json_object_get(job->response, "status"));
	json_t *compacted = NULL;

	if (job->over)
		return;
	job->over = 1;
	uv_timer_stop(&job->tick);
	uv_timer_stop(&job->deadline);
	provider_cancel(job->call);
	job->call = NULL;
	if (job->mcp)
		mcp_run_cancel(job->mcp);
	if (job->compact && !job->failed)
		compacted = compaction_result(job);
	if (job->failed || job->cancelled) {
		if (job->turn)
			turn_abort(job->turn);
	}
	if (job->failed) {
		/* The message may quote an upstream's error body (a 401 page quoting our Authorization):
		 * one place, before the log, the caller, the event and the store see it. */
		redact_inplace(job->secrets, job->err.message, sizeof job->err.message);
		log_warnx("%s: failed (%d %s): %s", job->id, job->err.status, job->err.code,
		          job->err.message);
		if (!job->streaming && !job->detached) {
			/* Nothing went out yet: a real HTTP status with the envelope. */
			json_t *env = api_error_envelope(&job->err);
			int retry = job->retry_after[0] && (job->err.status == 429 || job->err.status == 503);

			job->sink = NULL;
			if (sink)
				sink->on_finish(job->ud, job->err.status, env,
				                retry ? job->retry_after : NULL);
			json_decref(env);
			job_free(job);
			return;
		}
		response_set_failed(job->response, job->err.code[0] ? job->err.code : job->err.type,
		                    job->err.message);
		terminal = "response.failed";
	} else if (job->cancelled) {
		response_set_status(job->response, "cancelled");
		terminal = "response.failed";
	} else if (status && strcmp(status, "incomplete") == 0) {
		terminal = "response.incomplete";
	} else {
		response_set_status(job->response, "completed");
	}
	store_result(job);
	log_info("%s: %s via %s in %llu ms, %u turn(s) (%s)", job->id,
	         json_string_value(json_object_get(job->response, "status")), job->upstream.name,
	         (unsigned long long)(util_mono_ms() - job->started_ms), job->turns, job->identity);
	if (sink && sink->on_result)
		sink->on_result(job->ud, job->context, job->response);
	if (job->streaming) {
		if (job->failed)
			emit_error_event(job);
		events_emit_response(job->events, terminal, job->response);
		events_done(job->events);
		job->sink = NULL;
		if (sink)
			sink->on_finish(job->ud, 0, NULL, NULL);
	} else if (sink) {
		job->sink = NULL;
		sink->on_finish(job->ud, 200, compacted ? compacted : job->response, NULL);
	}
	json_decref(compacted);
	job_free(job);
}

static void
on_deadline(uv_timer_t *t)
{
	struct engine_job *job = t->data;

	uint64_t limit_ms = (uint64_t)job->request_timeout_s * 1000u, ran_ms;

	if (job->over)
		return;
	/* Time spent waiting for an operator is not the response's own: the clock runs on after it. */
	ran_ms = util_mono_ms() - job->started_ms - mcp_run_wait_ms(job->mcp);
	if (ran_ms < limit_ms) {
		uv_timer_start(&job->deadline, on_deadline, limit_ms - ran_ms, 0);
		return;
	}
	api_error_set(&job->err, 504, "server_error", "request_timeout", NULL,
	              "the response took longer than %u s", job->request_timeout_s);
	job->failed = 1;
	job_finish(job);
}

static void
on_tick(uv_timer_t *t)
{
	struct engine_job *job = t->data;
	uint64_t now = util_mono_ms(), every = (uint64_t)job->keepalive_s * 1000u;

	if (job->over || job->sink == NULL)
		return;
	/* The clock ticks four times per keepalive_s, and sends when the next tick would be late: no
	 * silence ever reaches keepalive_s (a client that drops a stream after that much never sees it). */
	if (job->streaming && now - job->last_sent_ms + every / 4 >= every) {
		/* An SSE comment keeps proxies and clients from timing out while the model thinks; a
		 * WebSocket client counts only events (WEBSOCKET-NOTES 4): the snapshot again. */
		static const char keepalive[] = ": keep-alive\n\n";
		job->last_sent_ms = now;
		/* While a call waits for an operator, an SSE client too gets a real event: a client that
		 * counts only parsed events (Codex) would drop a wait of minutes (APPROVALS-NOTES 7). */
		if (job->sink->keepalive_event || mcp_run_waiting(job->mcp) > 0)
			events_emit_response(job->events, "response.in_progress", job->response);
		else
			job->sink->on_event(job->ud, keepalive, sizeof keepalive - 1);
	}
}

static int
prepare(struct engine_job *job, const struct engine_caller *caller)
{
	const struct config *cfg = job->cfg;
	const struct config_upstream *up;
	struct mcp_run_env env;
	json_t *history = NULL;
	int rc = -1;

	if (job->req->background && !job->req->store) {
		api_error_bad(&job->err, "background", "invalid_value",
		              "background responses must be stored: store cannot be false.");
		goto out;
	}
	if (job->req->background && job->req->stream) {
		api_error_bad(&job->err, "stream", "unsupported_value",
		              "background responses are not streamed here; poll GET /v1/responses/{id}.");
		goto out;
	}
	up = route_model(cfg, job->req->model, &job->model);
	if (up == NULL) {
		api_error_set(&job->err, 500, "server_error", NULL, NULL, "no upstream is configured");
		goto out;
	}
	if (job->model == NULL || job->model[0] == '\0') {
		api_error_bad(&job->err, "model", "missing_required_parameter", "model is required");
		goto out;
	}
	provider_target_init(&job->upstream, up, caller->bearer);
	job->secrets = redact_new();
	redact_add_config(job->secrets, cfg);
	redact_add(job->secrets, caller->bearer);
	if (!job->ctx->have_compact_key)
		job->ctx->have_compact_key =
		        store_secret(job->ctx->env->store, ENGINE_COMPACT_KEY, job->ctx->compact_key,
		                     sizeof job->ctx->compact_key) == 0;
	job->have_compact_key = job->ctx->have_compact_key;
	memcpy(job->compact_key, job->ctx->compact_key, sizeof job->compact_key);
	if (load_chain(job, caller, &history) < 0 || build_context(job, history) < 0 ||
	    check_tool_outputs(job) < 0 || check_compactions(job) < 0)
		goto out;
	if (job->compact && !job->have_compact_key) {
		api_error_set(&job->err, 500, "server_error", NULL, NULL,
		              "the compaction key is not available");
		goto out;
	}
	job->response = response_new(job->req, job->id, util_wall_s());
	memset(&env, 0, sizeof env);
	env.client = job->ctx->env->mcp;
	env.store = job->ctx->env->store;
	env.cfg = cfg;
	env.response_id = job->id;
	env.identity = job->identity;
	env.caller_client = job->client;
	env.response = job->response;
	/* A warm-up lists the servers without showing it: no item, no event. */
	env.emit = job->req->stream && !job->warmup ? on_job_event : NULL;
	env.ud = job;
	env.secrets = job->secrets;
	env.hub = job->ctx->env->ophub;
	env.model = job->model;
	/* A caller that waits for the whole JSON answer gives up on its own clock (10 min in the OpenAI
	 * SDKs): an operator's wait is cut below it (APPROVALS-NOTES 7). */
	if (!job->req->stream && !job->req->background)
		env.max_wait_s = cfg->mcp_policy.approval_json_wait_s;
	if (!job->compact && mcp_run_new(&env, job->req, job->context, &job->mcp, &job->err) < 0)
		goto out;
	rc = 0;
out:
	json_decref(history);
	return rc;
}

static struct engine_job *
job_new(struct engine *ctx, struct request *req, const struct engine_caller *caller,
        const struct engine_sink *sink, void *ud)
{
	struct engine_job *job = xcalloc(1, sizeof *job);
	const struct config *cfg;

	job->ctx = ctx;
	job->cfg = api_env_config(ctx->env);
	cfg = job->cfg;
	job->req = req;
	job->sink = sink;
	job->ud = ud;
	job->identity = xstrdup(caller->identity ? caller->identity : "-");
	job->client = caller->client && caller->client[0] ? xstrdup(caller->client) : NULL;
	job->keepalive_s = cfg->limits.keepalive_s;
	job->request_timeout_s = cfg->limits.request_timeout_s;
	job->max_turns = cfg->mcp_policy.max_turns ? cfg->mcp_policy.max_turns : 16;
	job->max_output_bytes = cfg->limits.max_output_bytes;
	job->max_event_bytes = cfg->limits.max_upstream_event_bytes;
	job->started_ms = job->last_sent_ms = util_mono_ms();
	job->transcript = json_array();
	util_new_id(job->id, sizeof job->id, "resp");
	uv_timer_init(ctx->env->loop, &job->tick);
	uv_timer_init(ctx->env->loop, &job->deadline);
	job->tick.data = job->deadline.data = job;
	job->open_handles = 2;
	ctx->active++;
	job->next = ctx->jobs;
	if (ctx->jobs)
		ctx->jobs->prev = job;
	ctx->jobs = job;
	return job;
}

/* A background response: the caller gets it queued now, and polls (RESPONSES-NOTES 1.8). */
static void
detach(struct engine_job *job)
{
	const struct engine_sink *sink = job->sink;

	response_set_status(job->response, "queued");
	store_result(job);
	job->sink = NULL;
	job->detached = 1;
	sink->on_finish(job->ud, 200, job->response, NULL);
	response_set_status(job->response, "in_progress");
}

/* generate:false: the servers are listed (cached, sessions open); the response says nothing. */
static void
on_warmed(void *ud)
{
	struct engine_job *job = ud;

	if (job->cancelled || job->over)
		return;
	json_array_clear(json_object_get(job->response, "output"));
	json_object_set_new(job->response, "usage",
	                    json_pack("{s:i, s:{s:i}, s:i, s:{s:i}, s:i}", "input_tokens", 0,
	                              "input_tokens_details", "cached_tokens", 0, "output_tokens", 0,
	                              "output_tokens_details", "reasoning_tokens", 0, "total_tokens", 0));
	job_finish(job);
}

static struct engine_job *
job_run(struct engine_job *job, const struct engine_caller *caller)
{
	const struct config *cfg = job->cfg;

	if (prepare(job, caller) < 0) {
		job->failed = 1;
		job_finish(job);
		return NULL;
	}
	job->events = events_new(job->sink ? job->sink->framing : EVENTS_SSE,
	                         job->req->stream ? on_events_bytes : NULL, job);
	if (job->stream_id)
		events_set_stream_id(job->events, job->stream_id);
	log_debug("%s: model %s via %s for %s", job->id, job->model, job->upstream.name, job->identity);
	uv_timer_start(&job->tick, on_tick, (uint64_t)job->keepalive_s * 250u,
	               (uint64_t)job->keepalive_s * 250u);
	uv_timer_start(&job->deadline, on_deadline, (uint64_t)cfg->limits.request_timeout_s * 1000u, 0);
	if (job->req->background)
		detach(job);
	if (job->warmup) {
		start_stream(job);
		if (job->mcp == NULL || mcp_run_prepare(job->mcp, on_warmed, job) == 0)
			on_warmed(job);
	} else if (job->mcp) {
		/* The MCP items come before the model's first word: the stream must be open for them. */
		start_stream(job);
		if (mcp_run_prepare(job->mcp, on_prepared, job) == 0)
			on_prepared(job);
	} else {
		start_turn(job);
	}
	return job->over ? NULL : job;
}

struct engine_job *
engine_job_start(struct engine *ctx, struct request *req, const struct engine_caller *caller,
                 const struct engine_opts *opts, const struct engine_sink *sink, void *ud)
{
	struct engine_job *job = job_new(ctx, req, caller, sink, ud);

	if (opts) {
		job->warmup = opts->warmup;
		job->chain = json_incref((json_t *)opts->chain); /* read only: see engine_opts */
		job->stream_id = opts->stream_id ? xstrdup(opts->stream_id) : NULL;
	}
	job = job_run(job, caller);
	/* A detached job belongs to nobody: the transport must not hold on to it. */
	return job && !job->detached ? job : NULL;
}

struct engine_job *
engine_compact_start(struct engine *ctx, struct request *req, const struct engine_caller *caller,
                     const struct engine_sink *sink, void *ud)
{
	struct engine_job *job = job_new(ctx, req, caller, sink, ud);

	job->compact = 1;
	return job_run(job, caller);
}

void
engine_job_resume(struct engine_job *job)
{
	provider_resume(job->call);
}

void
engine_job_cancel(struct engine_job *job)
{
	if (job == NULL)
		return;
	log_info("%s: cancelled: the caller went away", job->id);
	job->sink = NULL;
	job->over = 1;
	if (job->mcp)
		mcp_run_cancel(job->mcp);
	job_free(job);
}

void
engine_job_abort(struct engine_job *job, const char *why)
{
	api_error_set(&job->err, 503, "server_error", "server_shutting_down", NULL, "%s", why);
	job->failed = 1;
	job_finish(job);
}

void
engine_abort_all(struct engine *ctx, const char *why)
{
	/* job_finish unlinks the job, so always take the head. */
	while (ctx->jobs)
		engine_job_abort(ctx->jobs, why);
}

/* The running job id, when it is the caller's (or the caller is an operator). */
static struct engine_job *
job_find(struct engine *ctx, const struct engine_caller *caller, const char *id)
{
	const char *owner = caller_owner(caller);
	struct engine_job *job;

	for (job = ctx->jobs; job; job = job->next)
		if (!job->over && strcmp(job->id, id) == 0)
			return owner == NULL || strcmp(job->identity, owner) == 0 ? job : NULL;
	return NULL;
}

/* ---- stored responses ---- */

static json_t *
not_found(const char *id, int *http_status)
{
	struct api_error e;

	*http_status = 404;
	api_error_set(&e, 404, "not_found", "response_not_found", NULL, "Response with id '%.64s' not found.",
	              id);
	return api_error_envelope(&e);
}

static json_t *
store_failed(int *http_status)
{
	struct api_error e;

	*http_status = 500;
	api_error_set(&e, 500, "server_error", NULL, NULL, "the response store failed");
	return api_error_envelope(&e);
}

json_t *
engine_get_response(struct engine *ctx, const struct engine_caller *caller, const char *id, int *http_status)
{
	char *text = NULL;
	json_t *resp;
	struct engine_job *job = job_find(ctx, caller, id);
	int rc;

	/* A response still running is seen as it is now (a background one is polled this way). */
	if (job && job->response && job->req->store) {
		*http_status = 200;
		return json_deep_copy(job->response);
	}
	rc = store_response_get(ctx->env->store, id, caller_owner(caller), &text, NULL);

	if (rc == 1)
		return not_found(id, http_status);
	if (rc < 0)
		return store_failed(http_status);
	resp = json_loads(text, 0, NULL);
	free(text);
	if (resp == NULL)
		return store_failed(http_status);
	*http_status = 200;
	return resp;
}

json_t *
engine_delete_response(struct engine *ctx, const struct engine_caller *caller, const char *id,
                       int *http_status)
{
	int rc = store_response_delete(ctx->env->store, id, caller_owner(caller));

	if (rc == 1)
		return not_found(id, http_status);
	if (rc < 0)
		return store_failed(http_status);
	*http_status = 200;
	return json_pack("{s:s, s:s, s:b}", "id", id, "object", "response.deleted", "deleted", 1);
}

json_t *
engine_input_items(struct engine *ctx, const struct engine_caller *caller, const char *id,
                   const char *limit_s, const char *order, const char *after, const char *before,
                   int *http_status)
{
	char *text = NULL, *end = NULL;
	json_t *items, *data, *it, *out;
	long limit = 20;
	int desc = 1, started, rc;
	size_t n, k;
	struct api_error e;

	if (limit_s && limit_s[0]) {
		limit = strtol(limit_s, &end, 10);
		if (*end != '\0' || limit < 1 || limit > 100) {
			*http_status = 400;
			api_error_bad(&e, "limit", "invalid_value", "limit must be an integer from 1 to 100");
			return api_error_envelope(&e);
		}
	}
	if (order && order[0]) {
		if (strcmp(order, "asc") != 0 && strcmp(order, "desc") != 0) {
			*http_status = 400;
			api_error_bad(&e, "order", "invalid_value", "order must be asc or desc");
			return api_error_envelope(&e);
		}
		desc = strcmp(order, "desc") == 0;
	}
	rc = store_response_get(ctx->env->store, id, caller_owner(caller), NULL, &text);
	if (rc == 1)
		return not_found(id, http_status);
	if (rc < 0)
		return store_failed(http_status);
	items = json_loads(text, 0, NULL);
	free(text);
	if (!json_is_array(items)) {
		json_decref(items);
		return store_failed(http_status);
	}
	data = json_array();
	n = json_array_size(items);
	started = after == NULL || after[0] == '\0';
	for (k = 0; k < n && json_array_size(data) <= (size_t)limit; k++) {
		const char *iid;

		it = json_array_get(items, desc ? n - 1 - k : k);
		iid = json_string_value(json_object_get(it, "id"));
		if (!started) {
			started = iid && strcmp(iid, after) == 0;
			continue;
		}
		if (before && before[0] && iid && strcmp(iid, before) == 0)
			break;
		json_array_append(data, it);
	}
	out = json_object();
	json_object_set_new(out, "object", json_string("list"));
	json_object_set_new(out, "has_more", json_boolean(json_array_size(data) > (size_t)limit));
	if (json_array_size(data) > (size_t)limit)
		json_array_remove(data, json_array_size(data) - 1);
	json_object_set_new(out, "first_id",
	                    json_array_size(data) ? json_copy(json_object_get(json_array_get(data, 0), "id"))
	                                          : json_null());
	json_object_set_new(
	        out, "last_id",
	        json_array_size(data)
	                ? json_copy(json_object_get(json_array_get(data, json_array_size(data) - 1), "id"))
	                : json_null());
	json_object_set_new(out, "data", data);
	json_decref(items);
	*http_status = 200;
	return out;
}

json_t *
engine_cancel_response(struct engine *ctx, const struct engine_caller *caller, const char *id,
                       int *http_status)
{
	struct engine_job *job = job_find(ctx, caller, id);
	struct api_error e;
	json_t *resp;
	int rc;

	if (job && job->response) {
		log_info("%s: cancelled by POST /v1/responses/%s/cancel (%s)", job->id, job->id,
		         caller->identity ? caller->identity : "-");
		job->cancelled = 1;
		/* The final object, as stored and as the job's own caller gets it. */
		resp = json_incref(job->response);
		job_finish(job);
		*http_status = 200;
		return resp;
	}
	rc = store_response_get(ctx->env->store, id, caller_owner(caller), NULL, NULL);
	if (rc == 1)
		return not_found(id, http_status);
	if (rc < 0)
		return store_failed(http_status);
	*http_status = 400;
	api_error_set(&e, 400, "invalid_request", "response_not_cancellable", NULL,
	              "Response '%.64s' is not running: only a response in progress can be cancelled.", id);
	return api_error_envelope(&e);
}

struct engine *
engine_new(struct api_env *env)
{
	struct engine *eng = xcalloc(1, sizeof *eng);

	eng->env = env;
	return eng;
}

void
engine_free(struct engine *eng)
{
	if (eng == NULL)
		return;
	explicit_bzero(eng->compact_key, sizeof eng->compact_key);
	free(eng);
}

size_t
engine_active(const struct engine *eng)
{
	return eng->active;
}
