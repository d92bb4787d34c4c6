/*
 * loadgen: a small HTTP load generator on the libcurl multi interface, for tests/bench/run.sh.
 *
 *   loadgen [--unix PATH] --url URL --body FILE [--concurrency N] [--duration S | --requests N]
 *           [--warmup S] [--stream] [--hold] [--pending N] [--timeout S]
 *           [--http2] [--cacert FILE] [--recv-buffer N] [--upload-buffer N] [--header LINE]
 *
 * It POSTs FILE (Content-Type: application/json) to URL, over the Unix socket PATH when given (else
 * over TCP), with each --header LINE ("Name: value", up to 8, e.g. the bearer toolhostd's TCP
 * listener wants) added to the request, and
 * keeps N requests in flight. Each latency is taken on the monotonic clock from the moment the
 * request is handed to libcurl to the moment its transfer ends (end of body). Connections are kept
 * alive and reused. Output: one JSON line on stdout,
 *   {"requests":R,"errors":E,"seconds":S,"rps":X,"p50_ms":A,"p99_ms":B,"max_ms":C,
 *    "base_rss_kb":K,"peak_rss_kb":P}
 * where requests counts the measured requests (errors included), rps is (requests - errors) / seconds
 * and the latencies are those of the successful ones. A request is an error on a transport failure,
 * an HTTP status other than 200, or (with --stream) a body that does not end with "data: [DONE]".
 * The first few error reasons go to stderr. base_rss_kb is loadgen's own VmRSS (/proc/self/status)
 * just before the first transfer is added: libcurl initialised and the multi handle made, but no
 * easy handle yet (they are made right after), so that peak_rss_kb - base_rss_kb is all that the
 * transfers cost, their handles included. peak_rss_kb is loadgen's VmHWM at the end of the run.
 * Either is -1 when /proc cannot be read.
 *
 * HTTP: 1.1 by default. --http2 (https:// URLs only, not with --unix) asks for HTTP/2 by TLS ALPN
 * (CURL_HTTP_VERSION_2TLS) with CURLOPT_PIPEWAIT and CURLPIPE_MULTIPLEX on the multi handle, so that
 * the transfers share connections (libcurl puts up to 100 streams on one), as toolhostd does for an
 * "http2" upstream. --cacert FILE trusts the PEM bundle FILE instead of the system's (CURLOPT_CAINFO).
 * --recv-buffer N sets CURLOPT_BUFFERSIZE (1024 and up) and --upload-buffer N
 * CURLOPT_UPLOAD_BUFFERSIZE (16384 and up); without them libcurl's defaults hold.
 *
 * Timed mode (--duration, the default, 5 s): requests run for warmup + duration seconds; those that
 * end inside the measured window are counted, those still in flight at its end are dropped.
 * Counted mode (--requests N): after the warmup, exactly N requests are started and awaited.
 * Hold mode (--hold): N streams (--concurrency) are opened, at most --pending of them still
 * waiting for their response head at any time (so the server's listen backlog is never flooded:
 * a Unix-socket connect fails at once when the backlog is full), and each is held until its body
 * ends. The output adds "peak_open", the
 * largest number of streams open at once (connected and request sent, body not ended), and
 * "peak_streaming", the largest number at once that had their response head and not yet their end.
 * Streams still running after --duration (default 120 s in this mode) count as errors.
 *
 * Every loop is bounded in time: each transfer has a timeout (--timeout, default 30 s), and the run
 * stops at warmup + duration at the latest (counted mode: --duration defaults to 600 s and is only
 * that bound).
 */
#include <curl/curl.h>
#if LIBCURL_VERSION_NUM < 0x075000
#error "loadgen needs libcurl 7.80 or newer (CURLOPT_PREREQFUNCTION)"
#endif
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <time.h>

#define TAIL_MAX     64
#define MAX_SAMPLES  (64u * 1024u * 1024u)
#define MAX_ERR_MSGS 5
#define DONE_MARK    "data: [DONE]"
#define NEVER        1e300 /* a time that never comes */
/* libcurl's largest CURLOPT_UPLOAD_BUFFERSIZE */
#define UPLOAD_MAX (2L * 1024 * 1024)

struct opts {
	const char *unix_path;
	const char *url;
	const char *body_file;
	const char *cacert;
	long concurrency;
	double duration;
	long requests;
	double warmup;
	double timeout;
	long pending;
	long recv_buffer;       /* 0: libcurl's default */
	long upload_buffer;     /* 0: libcurl's default */
	const char *headers[8]; /* --header lines */
	int n_headers;
	int stream;
	int hold;
	int http2;
};

struct xfer {
	CURL *easy;
	double t0;
	int active;  /* added to the multi handle */
	int open;    /* connected, request about to be sent */
	int head;    /* response head seen */
	int counted; /* counted mode: started after the warmup */
	size_t tail_len;
	char tail[TAIL_MAX];
};

struct stats {
	double *lat; /* milliseconds, successful requests only */
	size_t n_lat;
	size_t cap_lat;
	long requests;
	long errors;
	long n_open;
	long peak_open;
	long n_head;
	long peak_head;
	int err_msgs;
};

static struct stats st;
static struct opts opt;

static double
now_s(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) {
		perror("loadgen: clock_gettime");
		exit(2);
	}
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
usage(void)
{
	fprintf(stderr, "usage: loadgen [--unix PATH] --url URL --body FILE [--concurrency N]\n"
	                "               [--duration S | --requests N] [--warmup S] [--stream] [--hold]\n"
	                "               [--pending N] [--timeout S] [--http2] [--cacert FILE]\n"
	                "               [--recv-buffer N] [--upload-buffer N] [--header LINE]\n");
	exit(2);
}

static double
parse_num(const char *name, const char *s, double lo, double hi)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !(v >= lo && v <= hi)) {
		fprintf(stderr, "loadgen: %s: expected a number in [%g, %g], got '%s'\n", name, lo, hi, s);
		exit(2);
	}
	return v;
}

static void
parse_args(int argc, char **argv)
{
	static const struct option longopts[] = {
	        {"unix", required_argument, NULL, 'u'},
	        {"url", required_argument, NULL, 'U'},
	        {"body", required_argument, NULL, 'b'},
	        {"concurrency", required_argument, NULL, 'c'},
	        {"duration", required_argument, NULL, 'd'},
	        {"requests", required_argument, NULL, 'n'},
	        {"warmup", required_argument, NULL, 'w'},
	        {"timeout", required_argument, NULL, 't'},
	        {"pending", required_argument, NULL, 'p'},
	        {"stream", no_argument, NULL, 's'},
	        {"hold", no_argument, NULL, 'H'},
	        {"http2", no_argument, NULL, '2'},
	        {"cacert", required_argument, NULL, 'C'},
	        {"recv-buffer", required_argument, NULL, 'r'},
	        {"upload-buffer", required_argument, NULL, 'B'},
	        {"header", required_argument, NULL, 'A'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	int c;
	int have_duration = 0;
	int have_timeout = 0;

	opt.concurrency = 1;
	opt.duration = 5.0;
	opt.timeout = 30.0;
	opt.pending = 256;
	while ((c = getopt_long(argc, argv, "c:d:n:w:t:p:sHh", longopts, NULL)) != -1) {
		switch (c) {
		case 'u':
			opt.unix_path = optarg;
			break;
		case 'U':
			opt.url = optarg;
			break;
		case 'b':
			opt.body_file = optarg;
			break;
		case 'c':
			opt.concurrency = (long)parse_num("--concurrency", optarg, 1, 1000000);
			break;
		case 'd':
			opt.duration = parse_num("--duration", optarg, 0.01, 86400);
			have_duration = 1;
			break;
		case 'n':
			opt.requests = (long)parse_num("--requests", optarg, 1, 1e9);
			break;
		case 'w':
			opt.warmup = parse_num("--warmup", optarg, 0, 3600);
			break;
		case 't':
			opt.timeout = parse_num("--timeout", optarg, 0.01, 86400);
			have_timeout = 1;
			break;
		case 'p':
			opt.pending = (long)parse_num("--pending", optarg, 1, 1000000);
			break;
		case 's':
			opt.stream = 1;
			break;
		case 'H':
			opt.hold = 1;
			break;
		case '2':
			opt.http2 = 1;
			break;
		case 'C':
			opt.cacert = optarg;
			break;
		case 'r':
			opt.recv_buffer = (long)parse_num("--recv-buffer", optarg, 1024, CURL_MAX_READ_SIZE);
			break;
		case 'B':
			opt.upload_buffer =
			        (long)parse_num("--upload-buffer", optarg, CURL_MAX_WRITE_SIZE, UPLOAD_MAX);
			break;
		case 'A':
			if (opt.n_headers == (int)(sizeof opt.headers / sizeof opt.headers[0])) {
				fprintf(stderr, "loadgen: at most %zu --header options\n",
				        sizeof opt.headers / sizeof opt.headers[0]);
				exit(2);
			}
			opt.headers[opt.n_headers++] = optarg;
			break;
		default:
			usage();
		}
	}
	if (optind < argc && opt.url == NULL)
		opt.url = argv[optind++];
	if (optind != argc || opt.url == NULL || opt.body_file == NULL)
		usage();
	/* HTTP/2 only by TLS ALPN: libcurl 7.88 fails transfers on a reused h2c (prior-knowledge)
	 * connection, and toolhostd offers HTTP/2 on https:// upstreams alone for that reason. */
	if (opt.http2 && (opt.unix_path != NULL || strncasecmp(opt.url, "https://", 8) != 0)) {
		fprintf(stderr,
		        "loadgen: --http2 needs an https:// URL and no --unix (HTTP/2 by TLS ALPN only)\n");
		exit(2);
	}
	if (opt.hold) {
		/* In hold mode --duration bounds the whole run and each stream may take all of it. */
		if (!have_duration)
			opt.duration = 120.0;
		if (!have_timeout)
			opt.timeout = opt.duration;
		opt.warmup = 0;
		opt.requests = 0;
	} else if (opt.requests > 0 && !have_duration) {
		opt.duration = 600.0;
	}
}

static char *
read_file(const char *path, size_t *len)
{
	FILE *f;
	char *buf;
	long size;

	f = fopen(path, "rb");
	if (f == NULL) {
		fprintf(stderr, "loadgen: %s: %s\n", path, strerror(errno));
		exit(2);
	}
	if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
		fprintf(stderr, "loadgen: %s: cannot size the file\n", path);
		exit(2);
	}
	buf = malloc((size_t)size + 1);
	if (buf == NULL) {
		fprintf(stderr, "loadgen: out of memory\n");
		exit(2);
	}
	if (size > 0 && fread(buf, 1, (size_t)size, f) != (size_t)size) {
		fprintf(stderr, "loadgen: %s: short read\n", path);
		exit(2);
	}
	if (fclose(f) != 0) {
		fprintf(stderr, "loadgen: %s: %s\n", path, strerror(errno));
		exit(2);
	}
	buf[size] = '\0';
	*len = (size_t)size;
	return buf;
}

static void
raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
		perror("loadgen: getrlimit");
		return;
	}
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			perror("loadgen: setrlimit");
	}
	if (opt.concurrency + 64 > (long)rl.rlim_cur)
		fprintf(stderr, "loadgen: warning: %ld streams but only %ld file descriptors\n",
		        opt.concurrency, (long)rl.rlim_cur);
}

/* A "kB" field of /proc/self/status (VmRSS, VmHWM), or -1 when it cannot be read. */
static long
status_kb(const char *name)
{
	FILE *f;
	char line[256];
	size_t len = strlen(name);
	long kb = -1;

	f = fopen("/proc/self/status", "r");
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, name, len) == 0 && line[len] == ':') {
			kb = strtol(line + len + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return kb;
}

static size_t
on_body(char *data, size_t size, size_t nmemb, void *ud)
{
	struct xfer *x = ud;
	size_t n = size * nmemb;

	/* Keep only the last TAIL_MAX bytes: enough to check the SSE terminator. */
	if (n >= TAIL_MAX) {
		memcpy(x->tail, data + n - TAIL_MAX, TAIL_MAX);
		x->tail_len = TAIL_MAX;
	} else if (x->tail_len + n <= TAIL_MAX) {
		memcpy(x->tail + x->tail_len, data, n);
		x->tail_len += n;
	} else {
		size_t drop = x->tail_len + n - TAIL_MAX;

		memmove(x->tail, x->tail + drop, x->tail_len - drop);
		memcpy(x->tail + x->tail_len - drop, data, n);
		x->tail_len = TAIL_MAX;
	}
	return n;
}

static size_t
on_header(char *data, size_t size, size_t nmemb, void *ud)
{
	struct xfer *x = ud;
	size_t n = size * nmemb;

	/* The blank line ends the response head: from here the stream is streaming. */
	if (!x->head && n == 2 && data[0] == '\r' && data[1] == '\n') {
		x->head = 1;
		st.n_head++;
		if (st.n_head > st.peak_head)
			st.peak_head = st.n_head;
	}
	return n;
}

/* Called once the connection is up, right before the request goes out. */
static int
on_prereq(void *ud, char *primary_ip, char *local_ip, int primary_port, int local_port)
{
	struct xfer *x = ud;

	(void)primary_ip;
	(void)local_ip;
	(void)primary_port;
	(void)local_port;
	if (!x->open) {
		x->open = 1;
		st.n_open++;
		if (st.n_open > st.peak_open)
			st.peak_open = st.n_open;
	}
	return CURL_PREREQFUNC_OK;
}

static int
ends_with_done(const struct xfer *x)
{
	size_t len = x->tail_len;
	size_t mlen = strlen(DONE_MARK);

	while (len > 0 && (x->tail[len - 1] == '\n' || x->tail[len - 1] == '\r' || x->tail[len - 1] == ' '))
		len--;
	return len >= mlen && memcmp(x->tail + len - mlen, DONE_MARK, mlen) == 0;
}

static void error_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
error_msg(const char *fmt, ...)
{
	va_list ap;

	st.err_msgs++;
	if (st.err_msgs > MAX_ERR_MSGS)
		return;
	fprintf(stderr, "loadgen: error: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
}

static void
record_latency(double ms)
{
	if (st.n_lat == st.cap_lat) {
		size_t cap = st.cap_lat ? st.cap_lat * 2 : 4096;
		double *p;

		if (cap > MAX_SAMPLES)
			return;
		p = realloc(st.lat, cap * sizeof(*p));
		if (p == NULL)
			return;
		st.lat = p;
		st.cap_lat = cap;
	}
	st.lat[st.n_lat++] = ms;
}

static void
xfer_start(CURLM *multi, struct xfer *x, double t, int counted)
{
	CURLMcode mc;

	x->t0 = t;
	x->open = 0;
	x->head = 0;
	x->tail_len = 0;
	x->counted = counted;
	mc = curl_multi_add_handle(multi, x->easy);
	if (mc != CURLM_OK) {
		fprintf(stderr, "loadgen: curl_multi_add_handle: %s\n", curl_multi_strerror(mc));
		exit(2);
	}
	x->active = 1;
}

static void
xfer_stop(CURLM *multi, struct xfer *x)
{
	CURLMcode mc;

	if (!x->active)
		return;
	if (x->open)
		st.n_open--;
	if (x->head)
		st.n_head--;
	x->open = 0;
	x->head = 0;
	mc = curl_multi_remove_handle(multi, x->easy);
	if (mc != CURLM_OK) {
		fprintf(stderr, "loadgen: curl_multi_remove_handle: %s\n", curl_multi_strerror(mc));
		exit(2);
	}
	x->active = 0;
}

/* Classifies one finished transfer and adds it to the figures. */
static void
xfer_account(struct xfer *x, CURLcode res, double t)
{
	long status = 0;

	st.requests++;
	if (res != CURLE_OK) {
		st.errors++;
		error_msg("transport: %s (%ld)", curl_easy_strerror(res), (long)res);
		return;
	}
	if (curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK || status != 200) {
		st.errors++;
		error_msg("HTTP status %ld", status);
		return;
	}
	if (opt.stream && !ends_with_done(x)) {
		st.errors++;
		error_msg("stream did not end with data: [DONE] (%zu tail bytes)", x->tail_len);
		return;
	}
	record_latency((t - x->t0) * 1000.0);
}

static void
easy_setup(struct xfer *x, const char *body, size_t body_len, struct curl_slist *headers)
{
	CURL *e = curl_easy_init();
	int ok = 1;

	if (e == NULL) {
		fprintf(stderr, "loadgen: curl_easy_init failed\n");
		exit(2);
	}
	ok &= curl_easy_setopt(e, CURLOPT_URL, opt.url) == CURLE_OK;
	if (opt.unix_path != NULL)
		ok &= curl_easy_setopt(e, CURLOPT_UNIX_SOCKET_PATH, opt.unix_path) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_PROXY, "") == CURLE_OK; /* ignore *_proxy variables */
	ok &= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) == CURLE_OK;
	if (opt.http2) {
		ok &= curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS) == CURLE_OK;
		/* Wait for a connection being set up rather than open one more beside it. */
		ok &= curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L) == CURLE_OK;
	} else {
		ok &= curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1) == CURLE_OK;
	}
	if (opt.cacert != NULL)
		ok &= curl_easy_setopt(e, CURLOPT_CAINFO, opt.cacert) == CURLE_OK;
	if (opt.recv_buffer > 0)
		ok &= curl_easy_setopt(e, CURLOPT_BUFFERSIZE, opt.recv_buffer) == CURLE_OK;
	if (opt.upload_buffer > 0)
		ok &= curl_easy_setopt(e, CURLOPT_UPLOAD_BUFFERSIZE, opt.upload_buffer) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_POSTFIELDS, body) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_WRITEDATA, x) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_HEADERDATA, x) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, on_prereq) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_PREREQDATA, x) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_PRIVATE, x) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(opt.timeout * 1000.0)) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)(opt.timeout * 1000.0)) == CURLE_OK;
	if (!ok) {
		fprintf(stderr, "loadgen: curl_easy_setopt failed\n");
		exit(2);
	}
	x->easy = e;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a;
	double y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Nearest-rank percentile of the sorted samples. */
static double
percentile(double q)
{
	size_t rank;

	if (st.n_lat == 0)
		return 0;
	rank = (size_t)(q * (double)st.n_lat);
	if ((double)rank < q * (double)st.n_lat)
		rank++;
	if (rank < 1)
		rank = 1;
	if (rank > st.n_lat)
		rank = st.n_lat;
	return st.lat[rank - 1];
}

int
main(int argc, char **argv)
{
	struct curl_slist *headers = NULL;
	struct xfer *xs;
	CURLM *multi;
	CURLMcode mc;
	char *body;
	size_t body_len;
	double t_start, t_warm, t_end, t_hard, t_last = 0, seconds;
	long i, started = 0, to_start, waiting, base_rss;

	parse_args(argc, argv);
	raise_nofile();
	body = read_file(opt.body_file, &body_len);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "loadgen: curl_global_init failed\n");
		return 2;
	}
	headers = curl_slist_append(headers, "Content-Type: application/json");
	if (headers != NULL)
		headers = curl_slist_append(headers, "Expect:");
	if (headers != NULL && opt.stream)
		headers = curl_slist_append(headers, "Accept: text/event-stream");
	for (i = 0; headers != NULL && i < opt.n_headers; i++)
		headers = curl_slist_append(headers, opt.headers[i]);
	if (headers == NULL) {
		fprintf(stderr, "loadgen: out of memory\n");
		return 2;
	}
	multi = curl_multi_init();
	if (multi == NULL) {
		fprintf(stderr, "loadgen: curl_multi_init failed\n");
		return 2;
	}
	if (curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, opt.concurrency + 16) != CURLM_OK ||
	    (opt.http2 &&
	     curl_multi_setopt(multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX) != CURLM_OK)) {
		fprintf(stderr, "loadgen: curl_multi_setopt failed\n");
		return 2;
	}
	xs = calloc((size_t)opt.concurrency, sizeof(*xs));
	if (xs == NULL) {
		fprintf(stderr, "loadgen: out of memory\n");
		return 2;
	}
	/* Before the easy handles too: they are part of what each transfer costs. */
	base_rss = status_kb("VmRSS");
	for (i = 0; i < opt.concurrency; i++)
		easy_setup(&xs[i], body, body_len, headers);

	t_start = now_s();
	t_warm = t_start + opt.warmup;
	/* Counted mode has no measuring window, but --duration still bounds it (default 600 s). */
	t_end = opt.requests > 0 ? NEVER : t_warm + opt.duration;
	t_hard = opt.requests > 0 ? t_warm + opt.duration : t_end;
	to_start = opt.requests;

	if (!opt.hold) {
		for (i = 0; i < opt.concurrency; i++) {
			int counted = opt.requests > 0 && opt.warmup == 0 && to_start > 0;

			if (opt.requests > 0 && opt.warmup == 0 && to_start == 0)
				break;
			if (counted)
				to_start--;
			xfer_start(multi, &xs[i], now_s(), counted);
		}
	}

	/* The loop ends when nothing is in flight and nothing is left to start, or at t_hard. */
	for (;;) {
		int running = 0, left = 0, active = 0;
		CURLMsg *msg;
		double t;

		if (opt.hold) {
			/* Open more streams while few enough are still waiting for their head. */
			waiting = 0;
			for (i = 0; i < started; i++)
				if (xs[i].active && !xs[i].head)
					waiting++;
			while (started < opt.concurrency && waiting < opt.pending) {
				xfer_start(multi, &xs[started], now_s(), 1);
				started++;
				waiting++;
			}
		}
		mc = curl_multi_perform(multi, &running);
		if (mc != CURLM_OK) {
			fprintf(stderr, "loadgen: curl_multi_perform: %s\n", curl_multi_strerror(mc));
			return 2;
		}
		while ((msg = curl_multi_info_read(multi, &left)) != NULL) {
			struct xfer *x = NULL;

			if (msg->msg != CURLMSG_DONE)
				continue;
			if (curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x) != CURLE_OK ||
			    x == NULL) {
				fprintf(stderr, "loadgen: lost a transfer\n");
				return 2;
			}
			t = now_s();
			if (opt.hold || (opt.requests > 0 ? x->counted : (t >= t_warm && t <= t_end))) {
				xfer_account(x, msg->data.result, t);
				t_last = t;
			}
			xfer_stop(multi, x);
			if (opt.hold)
				continue;
			if (opt.requests > 0) {
				if (t < t_warm) {
					xfer_start(multi, x, t, 0);
				} else if (to_start > 0) {
					to_start--;
					xfer_start(multi, x, t, 1);
				}
			} else if (t < t_end) {
				xfer_start(multi, x, t, 0);
			}
		}
		for (i = 0; i < opt.concurrency; i++)
			active += xs[i].active;
		t = now_s();
		if (active == 0 && (!opt.hold || started == opt.concurrency))
			break;
		if (!opt.hold && opt.requests == 0 && t >= t_end)
			break; /* drop what is still in flight */
		if (t >= t_hard)
			break;
		mc = curl_multi_poll(multi, NULL, 0, 50, NULL);
		if (mc != CURLM_OK) {
			fprintf(stderr, "loadgen: curl_multi_poll: %s\n", curl_multi_strerror(mc));
			return 2;
		}
	}

	if (opt.hold) {
		/* Streams still running (or never started) at the deadline are errors. */
		long unfinished = 0;

		for (i = 0; i < opt.concurrency; i++)
			if (xs[i].active || i >= started)
				unfinished++;
		if (unfinished > 0) {
			fprintf(stderr, "loadgen: error: %ld streams unfinished at the deadline\n",
			        unfinished);
			st.requests += unfinished;
			st.errors += unfinished;
		}
	}
	if (opt.requests > 0 || opt.hold)
		seconds = (t_last > 0 ? t_last : now_s()) - (opt.hold ? t_start : t_warm);
	else
		seconds = opt.duration;
	if (seconds <= 0)
		seconds = 1e-9;
	if (st.err_msgs > MAX_ERR_MSGS)
		fprintf(stderr, "loadgen: %d more errors not shown\n", st.err_msgs - MAX_ERR_MSGS);

	qsort(st.lat, st.n_lat, sizeof(*st.lat), cmp_double);
	printf("{\"requests\":%ld,\"errors\":%ld,\"seconds\":%.3f,\"rps\":%.1f,\"p50_ms\":%.3f,"
	       "\"p99_ms\":%.3f,\"max_ms\":%.3f",
	       st.requests, st.errors, seconds, (double)(st.requests - st.errors) / seconds, percentile(0.50),
	       percentile(0.99), st.n_lat ? st.lat[st.n_lat - 1] : 0.0);
	if (opt.hold)
		printf(",\"peak_open\":%ld,\"peak_streaming\":%ld", st.peak_open, st.peak_head);
	printf(",\"base_rss_kb\":%ld,\"peak_rss_kb\":%ld}\n", base_rss, status_kb("VmHWM"));
	if (fflush(stdout) != 0)
		return 2;

	for (i = 0; i < opt.concurrency; i++) {
		xfer_stop(multi, &xs[i]);
		curl_easy_cleanup(xs[i].easy);
	}
	curl_multi_cleanup(multi);
	curl_slist_free_all(headers);
	curl_global_cleanup();
	free(xs);
	free(st.lat);
	free(body);
	return 0;
}
