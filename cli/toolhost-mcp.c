/*
 * toolhost-mcp: a small MCP client built on mcpclient, for operators (list a server's tools, call
 * one), for the MCP conformance tool (the server URL is the last argument; MCP_CONFORMANCE_SCENARIO
 * picks what to do), for the integration tests (a JSON script of steps run on one pooled client)
 * and for the benchmark (N calls with C in flight). Prints one JSON object per line.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/log.h"
#include "daemon/util.h"
#include "daemon/xfer.h"
#include "mcpclient/mcpclient.h"
#include "store/store.h"

#define MAX_HEADERS 32

static const char usage[] =
        "usage: toolhost-mcp [options] URL\n"
        "  -H 'Name: value'  header sent to the server (repeatable), e.g. Authorization\n"
        "  -c NAME           call the tool NAME (default: list the tools)\n"
        "  -a JSON           arguments of the call (default {})\n"
        "  -n N -j C         call N times with C calls in flight and print throughput and latency\n"
        "  -x FILE           run a JSON script of steps (- for stdin)\n"
        "  -s PATH           SQLite file for the tool-listing cache\n"
        "  -t SECONDS        cache TTL (default 60; -1 disables)\n"
        "  -T MS             request timeout (default 60000)\n"
        "  -e SECONDS        idle eviction of sessions (default 300)\n"
        "  -P SECONDS        ping before reusing a session idle this long (default 60)\n"
        "  -S                print the client's counters at the end\n"
        "  -v                debug logs on stderr\n"
        "Script steps: {\"op\":\"list\"} {\"op\":\"call\",\"name\":..,\"args\":{..},\"progress\":true,\n"
        "  \"cancel_after_ms\":N} {\"op\":\"sleep\",\"ms\":N} {\"op\":\"parallel\",\"steps\":[..]}\n"
        "  {\"op\":\"stats\"} {\"op\":\"invalidate\"}\n";

struct run;

/* One step in flight; a parallel group waits for its children. */
struct task {
	struct run *run;
	struct task *parent;
	int pending; /* parallel: children not finished */
	int index;
	json_t *step;
	struct mcp_op *op;
	uv_timer_t timer;
	int timer_used;
};

struct run {
	uv_loop_t *loop;
	struct xfer_ctx *xfer;
	struct mcp_client *client;
	struct store *store;
	struct mcp_server server;
	json_t *script;
	size_t next;
	int failures;
	int done;
	/* bench */
	long bench_n, bench_c, bench_started, bench_finished, bench_errors;
	const char *bench_name;
	json_t *bench_args;
	uint64_t *lat_us;
	uint64_t bench_t0;
	uint64_t http_before;
};

static void run_next(struct run *r);
static void task_start(struct run *r, struct task *parent, json_t *step, int index);

static void
print_json(json_t *o)
{
	char *s = json_dumps(o, JSON_COMPACT);

	printf("%s\n", s ? s : "{}");
	fflush(stdout);
	free(s);
	json_decref(o);
}

static const char *
kind_name(enum mcp_errkind k)
{
	static const char *const names[] = {"none",     "transport",   "http",    "auth",
	                                    "protocol", "rpc",         "timeout", "unavailable",
	                                    "expired",  "unsupported", "closed"};

	return (unsigned)k < sizeof names / sizeof names[0] ? names[k] : "unknown";
}

static json_t *
error_json(const struct mcp_error *e)
{
	json_t *o = json_pack("{s:s, s:s, s:I, s:i}", "kind", kind_name(e->kind), "message", e->message,
	                      "http_status", (json_int_t)e->http_status, "rpc_code", e->rpc_code);

	if (e->resource_metadata)
		json_object_set_new(o, "resource_metadata", json_string(e->resource_metadata));
	if (e->scope)
		json_object_set_new(o, "scope", json_string(e->scope));
	return o;
}

static json_t *
stats_json(struct mcp_client *c)
{
	struct mcp_stats st;

	mcp_client_stats(c, &st);
	return json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "op", "stats",
	                 "sessions_opened", (json_int_t)st.sessions_opened, "sessions_reused",
	                 (json_int_t)st.sessions_reused, "sessions_expired", (json_int_t)st.sessions_expired,
	                 "sessions_closed", (json_int_t)st.sessions_closed, "cache_hits",
	                 (json_int_t)st.cache_hits, "cache_misses", (json_int_t)st.cache_misses, "calls",
	                 (json_int_t)st.calls, "call_errors", (json_int_t)st.call_errors, "call_us_total",
	                 (json_int_t)st.call_us_total, "call_us_max", (json_int_t)st.call_us_max,
	                 "http_requests", (json_int_t)st.http_requests);
}

static void
on_task_closed(uv_handle_t *h)
{
	free(h->data);
}

static void
task_end(struct task *t)
{
	struct run *r = t->run;
	struct task *parent = t->parent;

	uv_close((uv_handle_t *)&t->timer, on_task_closed);
	if (parent) {
		if (--parent->pending == 0)
			task_end(parent);
		return;
	}
	run_next(r);
}

static void
on_list(void *ud, const struct mcp_list_result *res)
{
	struct task *t = ud;
	json_t *o = json_pack("{s:s, s:i}", "op", "list", "step", t->index);

	t->op = NULL;
	if (res->error) {
		t->run->failures++;
		json_object_set_new(o, "ok", json_false());
		json_object_set_new(o, "error", error_json(res->error));
	} else {
		json_t *names = json_array(), *tool;
		size_t i;

		json_array_foreach (res->tools, i, tool) {
			json_array_append(names, json_object_get(tool, "name"));
		}
		json_object_set_new(o, "ok", json_true());
		json_object_set_new(o, "names", names);
		json_object_set(o, "tools", res->tools);
		json_object_set_new(o, "from_cache", json_boolean(res->from_cache));
		json_object_set_new(o, "hidden", json_integer(res->hidden));
		json_object_set_new(o, "protocol_version", json_string(res->protocol_version));
	}
	print_json(o);
	task_end(t);
}

static void
on_progress(void *ud, double progress, double total, const char *message)
{
	struct task *t = ud;

	print_json(json_pack("{s:s, s:i, s:f, s:f, s:s?}", "op", "progress", "step", t->index, "progress",
	                     progress, "total", total, "message", message));
}

static void
on_call(void *ud, const struct mcp_call_result *res)
{
	struct task *t = ud;
	json_t *o = json_pack("{s:s, s:i, s:I}", "op", "call", "step", t->index, "duration_us",
	                      (json_int_t)res->duration_us);

	t->op = NULL;
	if (t->timer_used)
		uv_timer_stop(&t->timer);
	if (res->error) {
		t->run->failures++;
		json_object_set_new(o, "ok", json_false());
		json_object_set_new(o, "error", error_json(res->error));
	} else {
		json_object_set_new(o, "ok", json_true());
		json_object_set_new(o, "is_error", json_boolean(res->is_error));
		json_object_set_new(o, "text", json_string(res->text));
		json_object_set(o, "result", res->result);
	}
	print_json(o);
	task_end(t);
}

static void
on_task_timer(uv_timer_t *h)
{
	struct task *t = h->data;
	const char *op = json_string_value(json_object_get(t->step, "op"));

	if (strcmp(op, "sleep") == 0) {
		task_end(t);
		return;
	}
	/* cancel_after_ms: the caller went away. */
	mcp_op_cancel(t->op);
	t->op = NULL;
	print_json(json_pack("{s:s, s:i, s:b}", "op", "call", "step", t->index, "cancelled", 1));
	task_end(t);
}

static void
task_start(struct run *r, struct task *parent, json_t *step, int index)
{
	struct task *t = xcalloc(1, sizeof *t);
	const char *op = json_string_value(json_object_get(step, "op"));
	json_t *v;
	size_t i;

	t->run = r;
	t->parent = parent;
	t->index = index;
	t->step = step;
	uv_timer_init(r->loop, &t->timer);
	t->timer.data = t;
	if (!op)
		op = "";
	if (strcmp(op, "list") == 0) {
		t->op = mcp_list_tools(r->client, &r->server, on_list, t);
	} else if (strcmp(op, "call") == 0) {
		const char *name = json_string_value(json_object_get(step, "name"));

		t->op = mcp_call_tool(r->client, &r->server, name ? name : "", json_object_get(step, "args"),
		                      json_is_true(json_object_get(step, "progress")) ? on_progress : NULL,
		                      on_call, t);
		v = json_object_get(step, "cancel_after_ms");
		if (t->op && json_is_integer(v)) {
			t->timer_used = 1;
			uv_timer_start(&t->timer, on_task_timer, (uint64_t)json_integer_value(v), 0);
		}
	} else if (strcmp(op, "sleep") == 0) {
		t->timer_used = 1;
		uv_timer_start(&t->timer, on_task_timer,
		               (uint64_t)json_integer_value(json_object_get(step, "ms")), 0);
		return;
	} else if (strcmp(op, "parallel") == 0) {
		json_t *steps = json_object_get(step, "steps");

		t->pending = (int)json_array_size(steps) + 1; /* held until every child has started */
		json_array_foreach (steps, i, v) {
			task_start(r, t, v, index);
		}
		if (--t->pending == 0)
			task_end(t);
		return;
	} else if (strcmp(op, "stats") == 0) {
		json_t *o = stats_json(r->client);

		json_object_set_new(o, "step", json_integer(index));
		print_json(o);
		task_end(t);
		return;
	} else if (strcmp(op, "invalidate") == 0) {
		mcp_client_invalidate(r->client, r->server.url);
		task_end(t);
		return;
	} else {
		fprintf(stderr, "toolhost-mcp: step %d: unknown op \"%s\"\n", index, op);
		r->failures++;
		task_end(t);
		return;
	}
	if (!t->op) {
		fprintf(stderr, "toolhost-mcp: step %d: refused (bad URL, header or arguments)\n", index);
		r->failures++;
		task_end(t);
	}
}

static void
on_shutdown(void *ud)
{
	struct run *r = ud;

	r->done = 1;
}

static void
run_next(struct run *r)
{
	if (r->next < json_array_size(r->script)) {
		size_t i = r->next++;

		task_start(r, NULL, json_array_get(r->script, i), (int)i);
		return;
	}
	mcp_client_shutdown(r->client, on_shutdown, r);
}

/* ---- bench ---- */

static void bench_launch(struct run *r);

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void
bench_report(struct run *r)
{
	struct mcp_stats st;
	double secs = (double)(util_mono_us() - r->bench_t0) / 1e6;
	long n = r->bench_finished;
	size_t p50 = (size_t)n / 2, p99 = (size_t)n * 99 / 100;

	mcp_client_stats(r->client, &st);
	qsort(r->lat_us, (size_t)n, sizeof *r->lat_us, cmp_u64);
	print_json(json_pack("{s:s, s:s, s:i, s:i, s:i, s:f, s:f, s:f, s:f, s:f, s:I}", "op", "bench", "tool",
	                     r->bench_name, "calls", (int)n, "concurrency", (int)r->bench_c, "errors",
	                     (int)r->bench_errors, "seconds", secs, "calls_per_s", (double)n / secs, "p50_ms",
	                     n ? (double)r->lat_us[p50] / 1000.0 : 0.0, "p99_ms",
	                     n ? (double)r->lat_us[p99 < (size_t)n ? p99 : (size_t)n - 1] / 1000.0 : 0.0,
	                     "http_requests_per_call",
	                     n ? (double)(st.http_requests - r->http_before) / (double)n : 0.0,
	                     "sessions_opened", (json_int_t)st.sessions_opened));
	mcp_client_shutdown(r->client, on_shutdown, r);
}

static void
on_bench_call(void *ud, const struct mcp_call_result *res)
{
	struct run *r = ud;

	if (res->error || res->is_error)
		r->bench_errors++;
	r->lat_us[r->bench_finished++] = res->duration_us;
	if (r->bench_finished == r->bench_n) {
		bench_report(r);
		return;
	}
	bench_launch(r);
}

static void
bench_launch(struct run *r)
{
	while (r->bench_started < r->bench_n && r->bench_started - r->bench_finished < r->bench_c) {
		r->bench_started++;
		if (!mcp_call_tool(r->client, &r->server, r->bench_name, r->bench_args, NULL, on_bench_call,
		                   r)) {
			fprintf(stderr, "toolhost-mcp: the call was refused\n");
			exit(2);
		}
	}
}

static void
on_warmup(void *ud, const struct mcp_call_result *res)
{
	struct run *r = ud;
	struct mcp_stats st;

	if (res->error) {
		print_json(json_pack("{s:s, s:b, s:o}", "op", "bench", "ok", 0, "error",
		                     error_json(res->error)));
		r->failures++;
		mcp_client_shutdown(r->client, on_shutdown, r);
		return;
	}
	/* Steady state from here: the session is initialized, so every further request is a call's. */
	mcp_client_stats(r->client, &st);
	r->http_before = st.http_requests;
	r->bench_t0 = util_mono_us();
	bench_launch(r);
}

/* ---- main ---- */

/* A whole decimal number in [min, max], or exits with usage status 2. */
static long
number_arg(int opt, const char *s, long min, long max)
{
	char *end = NULL;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || !end || *end || end == s || v < min || v > max) {
		fprintf(stderr, "toolhost-mcp: -%c needs a number from %ld to %ld\n", opt, min, max);
		exit(2);
	}
	return v;
}

static json_t *
conformance_script(const char *scenario)
{
	if (strcmp(scenario, "tools_call") == 0)
		return json_pack("[{s:s}, {s:s, s:s, s:{s:i, s:i}}]", "op", "list", "op", "call", "name",
		                 "add_numbers", "args", "a", 5, "b", 3);
	if (strcmp(scenario, "sse-retry") == 0)
		return json_pack("[{s:s}, {s:s, s:s, s:{}}]", "op", "list", "op", "call", "name",
		                 "test_reconnection", "args");
	return json_pack("[{s:s}]", "op", "list");
}

int
main(int argc, char **argv)
{
	const char *headers[MAX_HEADERS + 1] = {0};
	const char *call = NULL, *args = NULL, *script_path = NULL, *store_path = NULL;
	const char *scenario = getenv("MCP_CONFORMANCE_SCENARIO");
	struct mcp_client_config cfg = {0};
	struct run r = {0};
	json_error_t jerr;
	uv_loop_t loop;
	int nh = 0, opt, print_stats = 0, status;
	char err[256];

	while ((opt = getopt(argc, argv, "H:c:a:n:j:x:s:t:T:e:P:Svh")) != -1) {
		switch (opt) {
		case 'H':
			if (nh == MAX_HEADERS) {
				fprintf(stderr, "toolhost-mcp: at most %d headers\n", MAX_HEADERS);
				return 2;
			}
			headers[nh++] = optarg;
			break;
		case 'c':
			call = optarg;
			break;
		case 'a':
			args = optarg;
			break;
		case 'n':
			r.bench_n = number_arg(opt, optarg, 1, 100000000);
			break;
		case 'j':
			r.bench_c = number_arg(opt, optarg, 1, 100000);
			break;
		case 'x':
			script_path = optarg;
			break;
		case 's':
			store_path = optarg;
			break;
		case 't':
			cfg.cache_ttl_s = number_arg(opt, optarg, -1, 86400);
			break;
		case 'T':
			cfg.request_timeout_ms = number_arg(opt, optarg, 1, 86400000);
			break;
		case 'e':
			cfg.idle_evict_s = number_arg(opt, optarg, 1, 86400);
			break;
		case 'P':
			cfg.ping_after_idle_s = number_arg(opt, optarg, 1, 86400);
			break;
		case 'S':
			print_stats = 1;
			break;
		case 'v':
			log_set_level(LOG_LVL_DEBUG);
			break;
		default:
			fputs(usage, opt == 'h' ? stdout : stderr);
			return opt == 'h' ? 0 : 2;
		}
	}
	if (optind != argc - 1) {
		fputs(usage, stderr);
		return 2;
	}
	r.server.url = argv[optind];
	r.server.headers = headers;
	cfg.client_name = "toolhost-mcp";

	if (script_path) {
		r.script = strcmp(script_path, "-") == 0 ? json_loadf(stdin, 0, &jerr)
		                                         : json_load_file(script_path, 0, &jerr);
		if (!json_is_array(r.script)) {
			fprintf(stderr, "toolhost-mcp: the script must be a JSON array of steps (%s)\n",
			        jerr.text);
			return 2;
		}
	} else if (call) {
		json_t *a = args ? json_loads(args, 0, &jerr) : json_object();

		if (!json_is_object(a)) {
			fprintf(stderr, "toolhost-mcp: -a needs a JSON object\n");
			return 2;
		}
		if (r.bench_n > 0) {
			r.bench_name = call;
			r.bench_args = a;
			if (r.bench_c <= 0)
				r.bench_c = 1;
			r.lat_us = xcalloc((size_t)r.bench_n, sizeof *r.lat_us);
		} else {
			r.script = json_pack("[{s:s, s:s, s:o}]", "op", "call", "name", call, "args", a);
		}
	} else if (scenario) {
		r.script = conformance_script(scenario);
	} else {
		r.script = json_pack("[{s:s}]", "op", "list");
	}

	if (store_path) {
		r.store = store_open(store_path, err, sizeof err);
		if (!r.store) {
			fprintf(stderr, "toolhost-mcp: %s\n", err);
			return 1;
		}
	}
	uv_loop_init(&loop);
	r.loop = &loop;
	r.xfer = xfer_ctx_new(&loop);
	r.client = mcp_client_new(&loop, r.xfer, r.store, &cfg);
	if (r.bench_name) {
		if (!mcp_call_tool(r.client, &r.server, r.bench_name, r.bench_args, NULL, on_warmup, &r)) {
			fprintf(stderr, "toolhost-mcp: the call was refused (bad URL or header)\n");
			return 2;
		}
	} else {
		run_next(&r);
	}
	while (!r.done && uv_run(&loop, UV_RUN_ONCE))
		;
	if (print_stats)
		print_json(stats_json(r.client));
	mcp_client_free(r.client);
	xfer_ctx_free(r.xfer);
	uv_run(&loop, UV_RUN_DEFAULT);
	status = uv_loop_close(&loop);
	if (status != 0)
		fprintf(stderr, "toolhost-mcp: handles left open at exit\n");
	store_close(r.store);
	json_decref(r.script);
	json_decref(r.bench_args);
	free(r.lat_us);
	return r.failures || r.bench_errors ? 1 : 0;
}
