/*
 * toolhostd: the process. Flags and config, the one libuv loop with lws (foreign loop) and curl
 * (daemon/xfer) on it, listeners, signals (TERM/INT drain, HUP reload), systemd notify and watchdog.
 * The only file that includes every module.
 */
#include <dlfcn.h>
#include <errno.h>
#include <getopt.h>
#include <libwebsockets.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>
#include <uv.h>

#include "api/engine.h"
#include "api/env.h"
#include "mcpclient/mcpclient.h"
#include "api/headguard.h"
#include "api/http.h"
#include "api/models.h"
#include "api/ophub.h"
#include "api/opsession.h"
#include "daemon/config.h"
#include "daemon/listen.h"
#include "daemon/log.h"
#include "daemon/util.h"
#include "daemon/xfer.h"
#include "store/store.h"

#define TOOLHOSTD_VERSION "0.1.0"
#define DEFAULT_CONFIG    "/etc/toolhost/toolhostd.json"

struct daemon {
	uv_loop_t loop;
	struct config *cfg;
	const char *config_path;
	const char *flag_socket, *flag_store;
	int flag_verbose;

	struct store *store;
	int store_lock; /* flock'ed "<store>.lock" for the process' life, or -1 */
	struct xfer_ctx *xfer;
	struct api_env env; /* env.cfg is d->cfg: the reference main holds */
	struct ophub *ophub;
	struct engine *engine;
	struct http_ctx http;
	struct lws_context *lws;
	struct lws_vhost *vhost; /* one for every listener: see api/http.h on how callers are told apart */
	struct headguard *guard; /* every accepted socket's first head, before lws */
	struct listen_set *listeners;

	uv_signal_t sig_term, sig_int, sig_hup;
	uv_timer_t drain_timer, watchdog_timer, house_timer, audit_timer;
	uint64_t drain_deadline_ms;
	int draining, aborted, exit_code;
	int mcp_closing, mcp_closed; /* the MCP sessions are being / have been DELETEd */
	struct mcp_client *mcp;
};

static void
usage(FILE *f)
{
	fprintf(f,
	        "usage: toolhostd [-n] [-v] [-c config.json] [-s socket-path] [-S store-path]\n"
	        "  -c FILE         config file (default " DEFAULT_CONFIG ")\n"
	        "  -n              check the config and exit (non-zero with a message naming the bad key)\n"
	        "  -s PATH         Unix socket path (overrides listen.unix.path; missing directories\n"
	        "                  are created)\n"
	        "  -S PATH         SQLite store path (overrides store.path; missing directories are\n"
	        "                  created)\n"
	        "  -v              debug logging (overrides log_level)\n"
	        "  -V, --version   print the version and exit\n"
	        "  -h, --help      print this help and exit\n");
}

/*
 * The store creates the missing directories of its path (store_open); the socket's are created
 * here, so that -s and -S behave alike. Mode 0755 whatever the umask: the socket file's own mode
 * and the SO_PEERCRED rules decide who may connect, and a 0700 directory (umask 0077) would lock
 * out every allowed caller but us. Under systemd the RuntimeDirectory= already exists.
 */
static int
make_parent_dirs(const char *path, char *err, size_t errlen)
{
	char *dir = xstrdup(path), *p;
	struct stat st;
	int result = -1;

	p = strrchr(dir, '/');
	if (p == NULL || p == dir) {
		result = 0;
		goto done;
	}
	*p = '\0';
	for (p = dir + 1;; p++) {
		int last = *p == '\0';

		if (*p != '/' && !last)
			continue;
		*p = '\0';
		if (stat(dir, &st) == 0) {
			if (!S_ISDIR(st.st_mode)) {
				snprintf(err, errlen, "%s is not a directory", dir);
				goto done;
			}
		} else if (errno != ENOENT) {
			snprintf(err, errlen, "%s: %s", dir, strerror(errno));
			goto done;
		} else if (mkdir(dir, 0755) == 0) {
			if (chmod(dir, 0755) < 0) {
				snprintf(err, errlen, "chmod %s: %s", dir, strerror(errno));
				goto done;
			}
		} else if (errno != EEXIST) {
			snprintf(err, errlen, "cannot create directory %s: %s", dir, strerror(errno));
			goto done;
		}
		if (last)
			break;
		*p = '/';
	}
	result = 0;
done:
	free(dir);
	return result;
}

/* Says why the config could not be read, naming the file once (into out). */
static const char *
config_error(const char *path, const char *err, char *out, size_t outlen)
{
	size_t n = strlen(path);

	if (access(path, F_OK) < 0 && errno == ENOENT)
		snprintf(out, outlen, "no config file %s%s", path,
		         strcmp(path, DEFAULT_CONFIG) == 0
		                 ? " (name one with -c FILE; systemd/toolhostd.example.json "
		                   "is an example, scripts/run-local.sh writes one)"
		                 : "");
	/* config_load_file names the file in what it cannot open or read, not in a bad key. */
	else if (strncmp(err, path, n) == 0 && strncmp(err + n, ": ", 2) == 0)
		snprintf(out, outlen, "%s", err);
	else
		snprintf(out, outlen, "%s: %s", path, err);
	return out;
}

/* Loads the config file and applies the flags over it. */
static struct config *
load_config(struct daemon *d, char *err, size_t errlen)
{
	struct config *cfg = xcalloc(1, sizeof *cfg);

	/* config_load_file starts from the defaults itself. */
	if (config_load_file(d->config_path, cfg, err, errlen) < 0) {
		config_free(cfg);
		free(cfg);
		return NULL;
	}
	if (d->flag_socket) {
		free(cfg->unix_path);
		cfg->unix_path = xstrdup(d->flag_socket);
	}
	if (d->flag_store) {
		free(cfg->store_path);
		cfg->store_path = xstrdup(d->flag_store);
	}
	if (d->flag_verbose)
		cfg->log_level = LOG_LVL_DEBUG;
	return cfg;
}

/* A connection whose first head passed the guard: to the one vhost of every listener (api/http
 * tells them apart by the socket itself). */
static void
on_head_ready(void *ud, int fd)
{
	struct daemon *d = ud;

	if (lws_adopt_socket_vhost(d->vhost, fd) == NULL) {
		/* lws closes the fd itself when adoption fails. */
		log_warnx("could not adopt an accepted connection");
	}
}

/* One limit for every connection, whether lws holds it or the guard still does. */
static void
on_accept(void *ud, int fd, enum listen_kind kind)
{
	struct daemon *d = ud;

	if (d->http.connections + headguard_pending(d->guard) >= d->cfg->limits.max_connections) {
		log_warnx("connection limit (%u) reached; refusing a connection",
		          d->cfg->limits.max_connections);
		close(fd);
		return;
	}
	headguard_take(d->guard, fd);
}

static void
close_cb(uv_handle_t *h)
{
	(void)h;
}

/* Everything is drained or aborted: leave uv_run; main() tears down in order. */
static void
shutdown_now(struct daemon *d)
{
	uv_timer_stop(&d->drain_timer);
	uv_close((uv_handle_t *)&d->drain_timer, close_cb);
	uv_close((uv_handle_t *)&d->watchdog_timer, close_cb);
	uv_close((uv_handle_t *)&d->house_timer, close_cb);
	uv_close((uv_handle_t *)&d->audit_timer, close_cb);
	uv_close((uv_handle_t *)&d->sig_term, close_cb);
	uv_close((uv_handle_t *)&d->sig_int, close_cb);
	uv_close((uv_handle_t *)&d->sig_hup, close_cb);
	uv_stop(&d->loop);
}

static void
on_mcp_closed(void *ud)
{
	struct daemon *d = ud;

	d->mcp_closed = 1;
}

static void
on_drain_tick(uv_timer_t *t)
{
	struct daemon *d = t->data;
	uint64_t now = util_mono_ms();

	/* Done when no response runs and every answer has been written out; then the MCP sessions are
	 * DELETEd (bounded by the client itself) before the loop stops. */
	if (engine_active(d->engine) == 0 && d->http.busy == 0) {
		if (d->mcp_closed) {
			shutdown_now(d);
			return;
		}
		if (!d->mcp_closing) {
			d->mcp_closing = 1;
			d->env.mcp = NULL;
			mcp_client_shutdown(d->mcp, on_mcp_closed, d);
		}
	}
	if (now < d->drain_deadline_ms)
		return;
	if (!d->aborted) {
		log_warnx("drain deadline reached with %zu response(s) in flight; failing them",
		          engine_active(d->engine));
		d->aborted = 1;
		engine_abort_all(d->engine, "the server is shutting down");
		/* A short grace for the failure events to reach the callers. */
		d->drain_deadline_ms = now + 300;
		return;
	}
	/* Past the grace as well: a caller that does not read loses the rest. */
	shutdown_now(d);
}

static void
start_drain(struct daemon *d)
{
	if (d->draining)
		return;
	d->draining = 1;
	sd_notify(0, "STOPPING=1");
	log_info("draining: %zu response(s) in flight, deadline %u s", engine_active(d->engine),
	         d->cfg->limits.drain_timeout_s);
	listen_stop(d->listeners);
	d->http.draining = 1;
	d->drain_deadline_ms = util_mono_ms() + (uint64_t)d->cfg->limits.drain_timeout_s * 1000u;
	uv_timer_start(&d->drain_timer, on_drain_tick, 0, 50);
}

static void
on_term(uv_signal_t *s, int signum)
{
	struct daemon *d = s->data;

	log_info("signal %d: shutting down", signum);
	start_drain(d);
}

static void
on_hup(uv_signal_t *s, int signum)
{
	struct daemon *d = s->data;
	struct config *cfg;
	char err[512];

	(void)signum;
	sd_notify(0, "RELOADING=1");
	cfg = load_config(d, err, sizeof err);
	if (cfg == NULL) {
		char msg[1024];

		log_err("reload: %s; keeping the running config",
		        config_error(d->config_path, err, msg, sizeof msg));
		sd_notify(0, "READY=1");
		return;
	}
	if (strcmp(cfg->unix_path, d->cfg->unix_path) != 0 ||
	    (cfg->tcp_address == NULL) != (d->cfg->tcp_address == NULL) || cfg->tcp_port != d->cfg->tcp_port)
		log_warnx("reload: listener changes take effect at the next restart");
	if (strcmp(cfg->store_path, d->cfg->store_path) != 0)
		log_warnx("reload: store.path changes take effect at the next restart");
	/* Whoever holds the old config (a WebSocket connection) keeps it; it goes with the last. */
	api_env_set_config(&d->env, cfg);
	d->cfg = cfg;
	models_cleanup();
	/* Servers, credentials or TTLs may have changed: no listing survives a config change. */
	if (d->mcp)
		mcp_client_invalidate(d->mcp, NULL);
	log_set_level((enum log_level)cfg->log_level);
	log_info("reload: config %s applied (%zu upstream(s))", d->config_path, cfg->n_upstreams);
	sd_notify(0, "READY=1");
}

static void
on_watchdog(uv_timer_t *t)
{
	(void)t;
	sd_notify(0, "WATCHDOG=1");
}

/* The audit log keeps mcp_policy.audit_retention_days; older rows go at start and every hour. */
static void
on_house(uv_timer_t *t)
{
	struct daemon *d = t->data;
	int64_t keep_ms = (int64_t)d->cfg->mcp_policy.audit_retention_days * 86400 * 1000;
	int64_t n = store_audit_purge(d->store, util_wall_s() * 1000 - keep_ms);

	if (n < 0)
		log_warnx("could not purge the MCP audit log: %s", store_errmsg(d->store));
	else if (n > 0)
		log_info("purged %lld MCP audit row(s) older than %u day(s)", (long long)n,
		         d->cfg->mcp_policy.audit_retention_days);
}

/* The audit log is written in batches (store.h): commit what has gathered a few times a second. */
static void
on_audit_flush(uv_timer_t *t)
{
	struct daemon *d = t->data;

	if (store_audit_flush(d->store) < 0)
		log_warnx("could not commit MCP audit rows: %s", store_errmsg(d->store));
}

static struct lws_vhost *
make_vhost(struct daemon *d)
{
	struct lws_context_creation_info info;

	memset(&info, 0, sizeof info);
	info.vhost_name = "toolhostd";
	info.port = CONTEXT_PORT_NO_LISTEN_SERVER;
	info.protocols = http_protocols();
	info.user = &d->http;
	info.keepalive_timeout = 60;
	info.timeout_secs = d->cfg->limits.header_timeout_s;
	return lws_create_vhost(d->lws, &info);
}

/*
 * One daemon per store: the start-up sweeps below mark what the last run left unfinished, which would
 * be the running calls and responses of another daemon on the same file (started by hand, or with
 * another socket). The socket's own lock does not cover that, so the store gets one: "<path>.lock",
 * held until the process ends. toolhost-mcp opens the store too, but never sweeps it.
 */
static int
lock_store(struct daemon *d)
{
	char *path;

	d->store_lock = -1;
	if (strcmp(d->cfg->store_path, ":memory:") == 0)
		return 0;
	path = xasprintf("%s.lock", d->cfg->store_path);
	d->store_lock = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (d->store_lock < 0) {
		log_warn("store lock %s", path);
		free(path);
		return -1;
	}
	if (flock(d->store_lock, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK)
			log_err("store %s is in use by another toolhostd (%s is locked)", d->cfg->store_path,
			        path);
		else
			log_warn("store lock %s", path);
		free(path);
		return -1;
	}
	free(path);
	return 0;
}

static int
start(struct daemon *d)
{
	struct lws_context_creation_info info;
	void *foreign[1];
	char err[512];
	/* The guard's cap and lws' header space are one number's (see api/headguard.h). */
	size_t head_cap = headguard_cap(d->cfg->limits.max_header_bytes);

	d->store = store_open(d->cfg->store_path, err, sizeof err);
	if (d->store == NULL) {
		log_err("store %s: %s", d->cfg->store_path, err);
		return -1;
	}
	if (lock_store(d) < 0)
		return -1;
	/* A background response the last run was stopped in the middle of will never finish. */
	if (store_response_fail_unfinished(d->store, "server_restarted",
	                                   "toolhostd stopped before this response finished") > 0)
		log_warnx("marked the responses left unfinished by the last run failed");
	/* Nor will an MCP call that was in flight: its row says so rather than staying open forever. */
	if (store_audit_interrupt_open(d->store, "toolhostd stopped before the call ended") > 0)
		log_warnx("marked the MCP calls left in flight by the last run interrupted");
	/* Their approvals are spent: such a call may have reached its server, it never runs again. */
	if (store_approval_settle_running(d->store) > 0)
		log_warnx("marked the approved MCP calls left running by the last run done");
	/* The responses that waited for an operator are gone: their approvals can never be acted on. */
	if (store_approval_settle_waiting(d->store, "restart", util_wall_s()) > 0)
		log_warnx("marked the operator approvals left pending by the last run abandoned");
	d->xfer = xfer_ctx_new(&d->loop);
	d->mcp = mcp_client_new(
	        &d->loop, d->xfer, d->store,
	        &(struct mcp_client_config){
	                .client_name = "toolhostd",
	                .client_version = TOOLHOSTD_VERSION,
	                .connect_timeout_ms = d->cfg->mcp.connect_timeout_ms,
	                .request_timeout_ms = d->cfg->mcp.request_timeout_ms,
	                .idle_evict_s = d->cfg->mcp.idle_evict_s,
	                .ping_after_idle_s = d->cfg->mcp.ping_after_idle_s,
	                .cache_ttl_s = d->cfg->mcp.cache_ttl_s ? (long)d->cfg->mcp.cache_ttl_s : -1,
	                .max_message_bytes = d->cfg->mcp.max_message_bytes,
	                .max_pages = (int)d->cfg->mcp.max_pages,
	        });
	d->env.loop = &d->loop;
	d->env.store = d->store;
	d->env.xfer = d->xfer;
	d->env.mcp = d->mcp;
	d->ophub = ophub_new(&d->loop, d->store);
	d->env.ophub = d->ophub;
	d->env.opsession = opsession_new();
	d->http.env = &d->env;
	d->engine = engine_new(&d->env);
	d->http.engine = d->engine;

	lws_set_log_level(LLL_ERR | LLL_WARN, log_lws_emit);
	memset(&info, 0, sizeof info);
	foreign[0] = &d->loop;
	/* VALIDATE_UTF8: a WebSocket text message that is not UTF-8 is closed with 1007 (RFC 6455 8.1). */
	info.options =
	        LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_EXPLICIT_VHOSTS | LWS_SERVER_OPTION_VALIDATE_UTF8;
	info.foreign_loops = foreign;
	info.pcontext = &d->lws;
	info.max_http_header_data = headguard_lws_header_data(head_cap);
	info.max_http_header_pool = 1024;
	info.fd_limit_per_thread = d->cfg->limits.max_connections + 256;
	info.timeout_secs = d->cfg->limits.header_timeout_s;
	d->lws = lws_create_context(&info);
	if (d->lws == NULL) {
		log_err("lws_create_context failed (is libwebsockets-evlib-uv installed?)");
		return -1;
	}
	/* lws dlopen()s its libuv glue and dlclose()s it in the last lws_context_destroy(), while libuv
	 * may still hold close callbacks that point into it (a crash at exit, seen here): pin it. */
	if (dlopen(LWS_INSTALL_LIBDIR "/libwebsockets-evlib_uv.so", RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE) ==
	    NULL)
		log_warnx("could not pin the lws libuv plugin: %s", dlerror());
	d->vhost = make_vhost(d);
	if (d->vhost == NULL) {
		log_err("lws_create_vhost failed");
		return -1;
	}
	d->guard = headguard_new(&d->loop, head_cap, d->cfg->limits.header_timeout_s, on_head_ready, d, err,
	                         sizeof err);
	if (d->guard == NULL) {
		log_err("%s", err);
		return -1;
	}
	if (sd_listen_fds(0) <= 0 && make_parent_dirs(d->cfg->unix_path, err, sizeof err) < 0) {
		log_err("socket %s: %s", d->cfg->unix_path, err);
		return -1;
	}
	d->listeners = listen_open(&d->loop, d->cfg, on_accept, d, err, sizeof err);
	if (d->listeners == NULL) {
		log_err("%s", err);
		return -1;
	}

	uv_signal_init(&d->loop, &d->sig_term);
	uv_signal_init(&d->loop, &d->sig_int);
	uv_signal_init(&d->loop, &d->sig_hup);
	d->sig_term.data = d->sig_int.data = d->sig_hup.data = d;
	uv_signal_start(&d->sig_term, on_term, SIGTERM);
	uv_signal_start(&d->sig_int, on_term, SIGINT);
	uv_signal_start(&d->sig_hup, on_hup, SIGHUP);
	uv_timer_init(&d->loop, &d->drain_timer);
	d->drain_timer.data = d;
	uv_timer_init(&d->loop, &d->watchdog_timer);
	uv_timer_init(&d->loop, &d->house_timer);
	d->house_timer.data = d;
	uv_timer_start(&d->house_timer, on_house, 0, (uint64_t)3600 * 1000);
	uv_unref((uv_handle_t *)&d->house_timer);
	uv_timer_init(&d->loop, &d->audit_timer);
	d->audit_timer.data = d;
	uv_timer_start(&d->audit_timer, on_audit_flush, 250, 250);
	uv_unref((uv_handle_t *)&d->audit_timer);
	{
		uint64_t usec = 0;
		if (sd_watchdog_enabled(0, &usec) > 0 && usec >= 2000)
			uv_timer_start(&d->watchdog_timer, on_watchdog, usec / 2000, usec / 2000);
	}
	sd_notify(0, "READY=1");
	log_info("toolhostd " TOOLHOSTD_VERSION " ready (%zu upstream(s), store %s)", d->cfg->n_upstreams,
	         d->cfg->store_path);
	return 0;
}

/* Teardown in the order EVENT-LOOP.md 1.5 #8 found: lws (staged) before curl, loop last. */
static void
stop(struct daemon *d)
{
	int i;

	listen_free(d->listeners);
	d->listeners = NULL;
	/* Connections still waiting for their head are closed; their handles close with the loop. */
	headguard_stop(d->guard);
	if (d->lws)
		lws_context_destroy(d->lws);
	for (i = 0; d->lws && i < 10; i++) {
		uv_run(&d->loop, UV_RUN_NOWAIT);
		if (d->lws)
			lws_context_destroy(d->lws);
	}
	d->env.mcp = NULL;
	mcp_client_free(d->mcp);
	d->mcp = NULL;
	if (d->xfer)
		xfer_ctx_free(d->xfer);
	uv_run(&d->loop, UV_RUN_DEFAULT);
	headguard_free(d->guard);
	d->guard = NULL;
	models_cleanup();
	engine_free(d->engine);
	d->engine = NULL;
	/* Every response is over, so every wait was abandoned; the timers' closes run here. */
	ophub_free(d->ophub);
	d->ophub = d->env.ophub = NULL;
	opsession_free(d->env.opsession);
	d->env.opsession = NULL;
	uv_run(&d->loop, UV_RUN_NOWAIT);
	store_close(d->store);
	if (d->store_lock >= 0)
		close(d->store_lock); /* last: the store is closed, another daemon may take it */
	if (uv_loop_close(&d->loop) != 0)
		log_warnx("the event loop still had open handles at exit");
}

static const struct option long_options[] = {
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
};

int
main(int argc, char **argv)
{
	struct daemon d;
	char err[512];
	int opt, check_only = 0;

	memset(&d, 0, sizeof d);
	d.store_lock = -1;
	d.config_path = DEFAULT_CONFIG;
	while ((opt = getopt_long(argc, argv, "c:ns:S:vVh", long_options, NULL)) != -1) {
		switch (opt) {
		case 'c':
			d.config_path = optarg;
			break;
		case 'n':
			check_only = 1;
			break;
		case 's':
			d.flag_socket = optarg;
			break;
		case 'S':
			d.flag_store = optarg;
			break;
		case 'v':
			d.flag_verbose = 1;
			break;
		case 'V':
			printf("toolhostd %s\n", TOOLHOSTD_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	d.cfg = load_config(&d, err, sizeof err);
	if (d.cfg == NULL) {
		char msg[1024];

		log_err("%s", config_error(d.config_path, err, msg, sizeof msg));
		return 1;
	}
	d.env.cfg = d.cfg;
	if (check_only) {
		printf("%s: configuration OK\n", d.config_path);
		api_env_set_config(&d.env, NULL);
		return 0;
	}
	log_set_level((enum log_level)d.cfg->log_level);
	signal(SIGPIPE, SIG_IGN);
	uv_loop_init(&d.loop);
	if (start(&d) == 0) {
		uv_run(&d.loop, UV_RUN_DEFAULT);
	} else {
		d.exit_code = 1;
		if (!uv_is_closing((uv_handle_t *)&d.drain_timer) && d.drain_timer.loop)
			shutdown_now(&d);
	}
	stop(&d);
	api_env_set_config(&d.env, NULL);
	log_info("toolhostd stopped");
	return d.exit_code;
}
