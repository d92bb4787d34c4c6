/*
 * wsload: a small WebSocket load generator for tests/bench/run.sh, beside loadgen (which speaks
 * HTTP through libcurl; libcurl 7.88 has no WebSocket client).
 *
 *   wsload (--unix PATH | --tcp HOST:PORT) [--header LINE] [--path PATH] --body FILE
 *          [--concurrency N] [--duration S] [--warmup S] [--timeout S]
 *   wsload (--unix PATH | --tcp HOST:PORT) [--header LINE] --hold N [--http] [--body FILE]
 *          [--pending N] [--hold-seconds S] [--timeout S]
 *
 * Each connection does the RFC 6455 opening handshake by hand: GET PATH (default /v1/responses)
 * with Upgrade: websocket, a random Sec-WebSocket-Key and each --header LINE (up to 8, e.g. the
 * bearer of toolhostd's TCP listener); the answer must be 101 with the Sec-WebSocket-Accept that
 * the key gives (base64 of the SHA-1 of key + the RFC's GUID, from libcrypto). Host is "localhost"
 * on the Unix socket, HOST:PORT on TCP (toolhostd refuses any other Host on TCP).
 *
 * Turns mode (the default): N connections (--concurrency), each sending FILE (a whole
 * {"type":"response.create",...} message) as one masked text frame, reading frames until a text
 * message that starts with {"type":"response.completed" (its type key first, as toolhostd writes
 * its events), then sending the next. A turn is an error when a message starts with another
 * terminal or error type (response.failed, response.incomplete, error), on a close frame, a
 * transport failure or --timeout (default 30 s); the connection is then opened anew. Latency: from
 * the frame's write to the end of the response.completed message, monotonic clock. Turns that end
 * inside the measured window (after --warmup, for --duration, default 5 s) are counted. Output, one
 * JSON line on stdout, the fields loadgen prints:
 *   {"requests":R,"errors":E,"seconds":S,"rps":X,"p50_ms":A,"p99_ms":B,"max_ms":C,"connections":K}
 * requests counts the turns (errors included), rps is (requests - errors) / seconds, the latencies
 * are those of the completed turns, connections the handshakes done.
 *
 * Hold mode (--hold N): N connections are opened, at most --pending (256) at a time in their
 * handshake (a Unix-socket connect fails at once on a full listen backlog), each then sending FILE
 * once when --body is given and reading its turn to the end (a generate:false warm-up, say); with
 * --http each sends GET PATH (default /healthz) over plain HTTP/1.1 keep-alive instead of the
 * handshake and reads the answer whole (Content-Length or chunked). When all are open or failed it
 * prints {"open":O,"errors":E,"seconds":S} (seconds to open them), keeps them open for
 * --hold-seconds (default 60) or until SIGTERM/SIGINT, then prints {"closed_by_peer":K} (those the
 * server closed while held) and exits. Every wait is bounded in time.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define IN_CAP      (4u * 1024u * 1024u) /* a peer's message or head beyond this is an error */
#define OUT_CAP     (64u * 1024u)
#define MAX_SAMPLES (16u * 1024u * 1024u)
#define WS_GUID     "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define DONE_PREFIX "{\"type\":\"response.completed\""

enum phase { P_IDLE, P_CONNECTING, P_HEAD, P_TURN, P_HELD, P_HTTP };

struct conn {
	int fd;
	enum phase phase;
	double t0;       /* turn (or handshake) start */
	char accept[32]; /* the Sec-WebSocket-Accept expected */
	unsigned char *in;
	size_t in_len, in_cap;
	unsigned char out[OUT_CAP];
	size_t out_len, out_off;
	unsigned char *msg; /* the message being reassembled from fragments */
	size_t msg_len, msg_cap;
	int in_msg;
};

static struct {
	const char *unix_path, *tcp, *path, *body_file;
	const char *headers[8];
	int n_headers, http;
	long concurrency, hold, pending;
	double duration, warmup, timeout, hold_seconds;
} opt;

static struct sockaddr_storage addr;
static socklen_t addr_len;
static char host_hdr[300];
static char *body;
static size_t body_len;
static int ep;
static double *lat;
static size_t n_lat, cap_lat;
static long turns, errors, handshakes, n_open, n_pending, closed_by_peer;
static int err_msgs;
static volatile sig_atomic_t stop;
static uint64_t rng = 0x9e3779b97f4a7c15u;

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint32_t
rnd(void)
{
	/* xorshift64: masks and keys need no strength here, only variety */
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 32);
}

static void
die(const char *msg)
{
	fprintf(stderr, "wsload: %s\n", msg);
	exit(2);
}

static void
note(const char *what, const char *detail)
{
	if (err_msgs++ < 5)
		fprintf(stderr, "wsload: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
}

static double
num(const char *name, const char *s, double lo, double hi)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !(v >= lo && v <= hi)) {
		fprintf(stderr, "wsload: %s: expected a number in [%g, %g], got '%s'\n", name, lo, hi, s);
		exit(2);
	}
	return v;
}

static void
usage(void)
{
	fprintf(stderr, "usage: wsload (--unix PATH | --tcp HOST:PORT) [--header LINE] [--path PATH]\n"
	                "              [--body FILE] [--concurrency N] [--duration S] [--warmup S]\n"
	                "              [--timeout S] [--hold N [--http] [--pending N] [--hold-seconds S]]\n");
	exit(2);
}

static void
parse_args(int argc, char **argv)
{
	static const struct option longopts[] = {
	        {"unix", required_argument, NULL, 'u'},
	        {"tcp", required_argument, NULL, 'T'},
	        {"header", required_argument, NULL, 'A'},
	        {"path", required_argument, NULL, 'P'},
	        {"body", required_argument, NULL, 'b'},
	        {"concurrency", required_argument, NULL, 'c'},
	        {"duration", required_argument, NULL, 'd'},
	        {"warmup", required_argument, NULL, 'w'},
	        {"timeout", required_argument, NULL, 't'},
	        {"hold", required_argument, NULL, 'H'},
	        {"http", no_argument, NULL, 'h'},
	        {"pending", required_argument, NULL, 'p'},
	        {"hold-seconds", required_argument, NULL, 's'},
	        {NULL, 0, NULL, 0},
	};
	int c;

	opt.concurrency = 1;
	opt.duration = 5.0;
	opt.timeout = 30.0;
	opt.pending = 256;
	opt.hold_seconds = 60.0;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'u':
			opt.unix_path = optarg;
			break;
		case 'T':
			opt.tcp = optarg;
			break;
		case 'P':
			opt.path = optarg;
			break;
		case 'b':
			opt.body_file = optarg;
			break;
		case 'c':
			opt.concurrency = (long)num("--concurrency", optarg, 1, 100000);
			break;
		case 'd':
			opt.duration = num("--duration", optarg, 0.01, 3600);
			break;
		case 'w':
			opt.warmup = num("--warmup", optarg, 0, 3600);
			break;
		case 't':
			opt.timeout = num("--timeout", optarg, 0.01, 3600);
			break;
		case 'H':
			opt.hold = (long)num("--hold", optarg, 1, 1000000);
			break;
		case 'h':
			opt.http = 1;
			break;
		case 'p':
			opt.pending = (long)num("--pending", optarg, 1, 100000);
			break;
		case 's':
			opt.hold_seconds = num("--hold-seconds", optarg, 0, 3600);
			break;
		case 'A':
			if (opt.n_headers == 8)
				die("at most 8 --header options");
			opt.headers[opt.n_headers++] = optarg;
			break;
		default:
			usage();
		}
	}
	if (optind != argc || (opt.unix_path == NULL) == (opt.tcp == NULL))
		usage();
	if (opt.http && !opt.hold)
		die("--http is a hold mode (--hold N)");
	if (!opt.hold && opt.body_file == NULL)
		die("turns mode needs --body");
	if (opt.path == NULL)
		opt.path = opt.http ? "/healthz" : "/v1/responses";
}

static void
resolve(void)
{
	if (opt.unix_path != NULL) {
		struct sockaddr_un *un = (struct sockaddr_un *)&addr;

		if (strlen(opt.unix_path) >= sizeof un->sun_path)
			die("--unix: path too long");
		un->sun_family = AF_UNIX;
		strcpy(un->sun_path, opt.unix_path);
		addr_len = sizeof *un;
		snprintf(host_hdr, sizeof host_hdr, "localhost");
		return;
	}
	char host[256];
	const char *colon = strrchr(opt.tcp, ':');
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai;

	if (colon == NULL || (size_t)(colon - opt.tcp) >= sizeof host)
		die("--tcp: HOST:PORT expected");
	memcpy(host, opt.tcp, (size_t)(colon - opt.tcp));
	host[colon - opt.tcp] = '\0';
	if (getaddrinfo(host, colon + 1, &hints, &ai) != 0)
		die("--tcp: cannot resolve");
	memcpy(&addr, ai->ai_addr, ai->ai_addrlen);
	addr_len = ai->ai_addrlen;
	freeaddrinfo(ai);
	snprintf(host_hdr, sizeof host_hdr, "%s", opt.tcp);
}

static void
read_body(void)
{
	FILE *f;
	long n;

	if (opt.body_file == NULL)
		return;
	f = fopen(opt.body_file, "rb");
	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
		die("cannot read --body");
	if ((size_t)n + 14 > OUT_CAP)
		die("--body is larger than the client's frame buffer");
	body = malloc((size_t)n + 1);
	if (body == NULL || fread(body, 1, (size_t)n, f) != (size_t)n)
		die("cannot read --body");
	body_len = (size_t)n;
	fclose(f);
}

static void
record(double ms)
{
	if (n_lat == cap_lat) {
		size_t cap = cap_lat ? cap_lat * 2 : 4096;

		if (cap > MAX_SAMPLES)
			return; /* a bounded sample set; the counters still count */
		double *p = realloc(lat, cap * sizeof *p);
		if (p == NULL)
			die("out of memory");
		lat = p;
		cap_lat = cap;
	}
	lat[n_lat++] = ms;
}

static int
queue_out(struct conn *c, const void *data, size_t len)
{
	if (c->out_len + len > OUT_CAP)
		return -1;
	memcpy(c->out + c->out_len, data, len);
	c->out_len += len;
	return 0;
}

/* One masked client frame (RFC 6455 §5.2) with the payload len bytes at p. */
static int
queue_frame(struct conn *c, int opcode, const unsigned char *p, size_t len)
{
	unsigned char h[14];
	size_t n = 0;
	uint32_t m = rnd();
	unsigned char mask[4] = {(unsigned char)m, (unsigned char)(m >> 8), (unsigned char)(m >> 16),
	                         (unsigned char)(m >> 24)};

	h[n++] = (unsigned char)(0x80 | opcode);
	if (len < 126) {
		h[n++] = (unsigned char)(0x80 | len);
	} else if (len < 65536) {
		h[n++] = 0x80 | 126;
		h[n++] = (unsigned char)(len >> 8);
		h[n++] = (unsigned char)len;
	} else {
		return -1; /* the bench's messages are small */
	}
	memcpy(h + n, mask, 4);
	n += 4;
	if (c->out_len + n + len > OUT_CAP)
		return -1;
	memcpy(c->out + c->out_len, h, n);
	for (size_t i = 0; i < len; i++)
		c->out[c->out_len + n + i] = p[i] ^ mask[i & 3];
	c->out_len += n + len;
	return 0;
}

static int
flush_out(struct conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);

		if (w < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			return -1;
		}
		c->out_off += (size_t)w;
	}
	if (c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
	struct epoll_event ev = {.events = EPOLLIN | (c->out_len ? EPOLLOUT : 0), .data.ptr = c};
	return epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static void
close_conn(struct conn *c)
{
	if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
	}
	if (c->phase == P_CONNECTING || c->phase == P_HEAD || c->phase == P_HTTP)
		n_pending--;
	if (c->phase != P_IDLE && c->phase != P_CONNECTING && c->phase != P_HEAD && c->phase != P_HTTP)
		n_open--;
	c->phase = P_IDLE;
	c->in_len = c->out_len = c->out_off = c->msg_len = 0;
	c->in_msg = 0;
}

static void
send_request(struct conn *c)
{
	char req[2048];
	int n;

	if (opt.http) {
		n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: %s\r\n", opt.path, host_hdr);
	} else {
		unsigned char key[16], sha[SHA_DIGEST_LENGTH], b64[32];
		char cat[96];

		for (int i = 0; i < 16; i += 4) {
			uint32_t r = rnd();
			memcpy(key + i, &r, 4);
		}
		EVP_EncodeBlock(b64, key, 16);
		snprintf(cat, sizeof cat, "%s%s", (char *)b64, WS_GUID);
		SHA1((unsigned char *)cat, strlen(cat), sha);
		EVP_EncodeBlock((unsigned char *)c->accept, sha, SHA_DIGEST_LENGTH);
		n = snprintf(req, sizeof req,
		             "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
		             "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n",
		             opt.path, host_hdr, (char *)b64);
	}
	for (int i = 0; i < opt.n_headers && n > 0 && (size_t)n < sizeof req; i++)
		n += snprintf(req + n, sizeof req - (size_t)n, "%s\r\n", opt.headers[i]);
	if (n > 0 && (size_t)n < sizeof req)
		n += snprintf(req + n, sizeof req - (size_t)n, "\r\n");
	if (n <= 0 || (size_t)n >= sizeof req)
		die("request head too long");
	queue_out(c, req, (size_t)n);
	c->phase = opt.http ? P_HTTP : P_HEAD;
}

static void
open_conn(struct conn *c)
{
	c->fd = socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		note("socket", strerror(errno));
		errors++;
		return;
	}
	if (addr.ss_family != AF_UNIX) {
		int one = 1;
		setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	}
	n_pending++;
	c->phase = P_CONNECTING;
	c->t0 = now_s();
	if (connect(c->fd, (struct sockaddr *)&addr, addr_len) != 0 && errno != EINPROGRESS) {
		note("connect", strerror(errno));
		errors++;
		close_conn(c);
		return;
	}
	struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
	if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) != 0)
		die("epoll_ctl");
	send_request(c);
}

static void
start_turn(struct conn *c)
{
	c->t0 = now_s();
	c->phase = P_TURN;
	if (queue_frame(c, 1, (unsigned char *)body, body_len) != 0 || flush_out(c) != 0) {
		note("send", strerror(errno));
		errors++;
		close_conn(c);
	}
}

static void
became_open(struct conn *c)
{
	n_pending--;
	n_open++;
	handshakes++;
	if (body != NULL)
		start_turn(c);
	else
		c->phase = P_HELD;
}

/* Case-insensitive search for header name in the head [h, h+n); value into v. */
static int
header(const char *h, size_t n, const char *name, char *v, size_t vcap)
{
	size_t nl = strlen(name);

	for (const char *p = h; p + nl + 1 < h + n; p++) {
		if ((p == h || p[-1] == '\n') && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
			const char *s = p + nl + 1, *e;
			while (*s == ' ' || *s == '\t')
				s++;
			e = s;
			while (e < h + n && *e != '\r' && *e != '\n')
				e++;
			if ((size_t)(e - s) >= vcap)
				return -1;
			memcpy(v, s, (size_t)(e - s));
			v[e - s] = '\0';
			return 0;
		}
	}
	return -1;
}

/* The head ended at in[0..hl): 0 when it is what the mode wants. */
static int
check_head(struct conn *c, size_t hl, size_t *body_need, int *chunked)
{
	const char *h = (const char *)c->in;
	char v[64];

	if (opt.http) {
		if (hl < 12 || strncmp(h + 9, "200", 3) != 0)
			return -1;
		*chunked =
		        header(h, hl, "Transfer-Encoding", v, sizeof v) == 0 && strcasecmp(v, "chunked") == 0;
		*body_need = header(h, hl, "Content-Length", v, sizeof v) == 0 ? strtoul(v, NULL, 10) : 0;
		return 0;
	}
	if (hl < 12 || strncmp(h + 9, "101", 3) != 0)
		return -1;
	if (header(h, hl, "Sec-WebSocket-Accept", v, sizeof v) != 0 || strcmp(v, c->accept) != 0)
		return -2;
	return 0;
}

static int
starts(const unsigned char *m, size_t n, const char *prefix)
{
	size_t k = strlen(prefix);
	return n >= k && memcmp(m, prefix, k) == 0;
}

/* A whole text message: the end of the turn or not. */
static void
on_message(struct conn *c, const unsigned char *m, size_t n)
{
	double t = now_s();

	if (c->phase != P_TURN)
		return;
	if (starts(m, n, DONE_PREFIX)) {
		if (opt.hold) {
			c->phase = P_HELD;
			return;
		}
		if (t >= opt.warmup) {
			turns++;
			record((t - c->t0) * 1e3);
		}
		if (t < opt.warmup + opt.duration)
			start_turn(c);
		else
			c->phase = P_HELD;
		return;
	}
	if (starts(m, n, "{\"type\":\"error\"") || starts(m, n, "{\"type\":\"response.failed\"") ||
	    starts(m, n, "{\"type\":\"response.incomplete\"")) {
		char s[121];
		size_t k = n < 120 ? n : 120;
		memcpy(s, m, k);
		s[k] = '\0';
		note("turn ended without response.completed", s);
		if (t >= opt.warmup || opt.hold) {
			turns++;
			errors++;
		}
		if (opt.hold)
			c->phase = P_HELD;
		else if (t < opt.warmup + opt.duration)
			start_turn(c);
		else
			c->phase = P_HELD;
	}
}

/* Parses the frames in c->in; -1 on a protocol error or a close frame. */
static int
parse_frames(struct conn *c)
{
	size_t off = 0;

	for (;;) {
		unsigned char *p = c->in + off;
		size_t avail = c->in_len - off, hl = 2;
		uint64_t len;

		if (avail < 2)
			break;
		int fin = p[0] & 0x80, op = p[0] & 0x0f;
		if (p[1] & 0x80)
			return -1; /* a server never masks */
		len = p[1] & 0x7f;
		if (len == 126) {
			if (avail < 4)
				break;
			len = ((uint64_t)p[2] << 8) | p[3];
			hl = 4;
		} else if (len == 127) {
			if (avail < 10)
				break;
			len = 0;
			for (int i = 0; i < 8; i++)
				len = (len << 8) | p[2 + i];
			hl = 10;
		}
		if (len > IN_CAP)
			return -1;
		if (avail < hl + len)
			break;
		const unsigned char *pl = p + hl;
		off += hl + (size_t)len;
		if (op == 8) {
			note("close frame from the server", NULL);
			return -1;
		}
		if (op == 9) {
			if (queue_frame(c, 10, pl, (size_t)len) != 0 || flush_out(c) != 0)
				return -1;
			continue;
		}
		if (op == 10)
			continue;
		if (op == 1 && fin && !c->in_msg) {
			on_message(c, pl, (size_t)len);
			continue;
		}
		if (op == 1 || op == 0) {
			if ((op == 1) == c->in_msg || c->msg_len + len > IN_CAP)
				return -1;
			if (c->msg_len + len > c->msg_cap) {
				size_t cap = c->msg_len + (size_t)len;
				unsigned char *q = realloc(c->msg, cap);
				if (q == NULL)
					die("out of memory");
				c->msg = q;
				c->msg_cap = cap;
			}
			memcpy(c->msg + c->msg_len, pl, (size_t)len);
			c->msg_len += (size_t)len;
			c->in_msg = !fin;
			if (fin) {
				on_message(c, c->msg, c->msg_len);
				c->msg_len = 0;
			}
			continue;
		}
		note("binary or unknown frame from the server", NULL);
		return -1;
	}
	memmove(c->in, c->in + off, c->in_len - off);
	c->in_len -= off;
	return 0;
}

static void
fail(struct conn *c, const char *why)
{
	note(why, NULL);
	/* turns mode: a failed handshake or turn inside the window is one failed turn */
	if (opt.hold) {
		errors++;
	} else if (now_s() >= opt.warmup) {
		turns++;
		errors++;
	}
	close_conn(c);
}

static void
on_readable(struct conn *c)
{
	for (;;) {
		if (c->in_cap - c->in_len < 4096) {
			if (c->in_cap >= IN_CAP + 16) {
				fail(c, "peer data over the client's cap");
				return;
			}
			size_t cap = c->in_cap ? c->in_cap * 2 : 4096;
			unsigned char *q = realloc(c->in, cap);
			if (q == NULL)
				die("out of memory");
			c->in = q;
			c->in_cap = cap;
		}
		ssize_t r = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
		if (r == 0) {
			if (c->phase == P_HELD && opt.hold) {
				closed_by_peer++;
				close_conn(c);
				return;
			}
			fail(c, "connection closed by the server");
			return;
		}
		if (r < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			fail(c, strerror(errno));
			return;
		}
		c->in_len += (size_t)r;
	}
	if (c->phase == P_HEAD || c->phase == P_HTTP) {
		unsigned char *e = memmem(c->in, c->in_len, "\r\n\r\n", 4);
		size_t need = 0;
		int chunked = 0, rc;

		if (e == NULL)
			return;
		size_t hl = (size_t)(e - c->in) + 4;
		if ((rc = check_head(c, hl, &need, &chunked)) != 0) {
			char s[80];
			size_t k = hl < 79 ? hl : 79;
			memcpy(s, c->in, k);
			s[k] = '\0';
			for (char *q = s; *q; q++)
				if (*q == '\r' || *q == '\n')
					*q = ' ';
			fail(c, rc == -2 ? "wrong Sec-WebSocket-Accept" : s);
			return;
		}
		if (c->phase == P_HTTP) {
			if (chunked ? memmem(c->in + hl, c->in_len - hl, "0\r\n\r\n", 5) == NULL
			            : c->in_len - hl < need)
				return;
			c->in_len = 0;
			n_pending--;
			n_open++;
			handshakes++;
			c->phase = P_HELD;
			return;
		}
		memmove(c->in, c->in + hl, c->in_len - hl);
		c->in_len -= hl;
		became_open(c);
		if (c->fd < 0)
			return;
	}
	if (c->phase == P_TURN || c->phase == P_HELD) {
		if (opt.http && c->in_len > 0) {
			fail(c, "unexpected bytes on a held HTTP connection");
			return;
		}
		if (!opt.http && parse_frames(c) != 0)
			fail(c, "bad frame from the server");
	}
}

static void
on_event(struct conn *c, uint32_t events)
{
	if (events & EPOLLOUT) {
		if (c->phase == P_CONNECTING)
			c->phase = opt.http ? P_HTTP : P_HEAD;
		if (flush_out(c) != 0) {
			fail(c, strerror(errno));
			return;
		}
	}
	if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
		on_readable(c);
}

static void
on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double
percentile(double q)
{
	if (n_lat == 0)
		return 0.0;
	size_t i = (size_t)(q * (double)n_lat + 0.999999);
	return lat[(i ? i : 1) - 1];
}

static void
loop_once(int timeout_ms)
{
	struct epoll_event evs[256];
	int n = epoll_wait(ep, evs, 256, timeout_ms);

	for (int i = 0; i < n; i++)
		on_event(evs[i].data.ptr, evs[i].events);
}

int
main(int argc, char **argv)
{
	struct rlimit rl;
	long n;
	struct conn *conns;
	double t_start, t;

	parse_args(argc, argv);
	resolve();
	read_body();
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	rng ^= (uint64_t)getpid() << 17 ^ (uint64_t)(now_s() * 1e6);
	n = opt.hold ? opt.hold : opt.concurrency;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		if (rl.rlim_cur != RLIM_INFINITY && (rlim_t)n + 16 > rl.rlim_cur)
			fprintf(stderr, "wsload: warning: %ld connections, open-files limit %ld\n", n,
			        (long)rl.rlim_cur);
	}
	conns = calloc((size_t)n, sizeof *conns);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (conns == NULL || ep < 0)
		die("cannot start");
	for (long i = 0; i < n; i++)
		conns[i].fd = -1;
	t_start = now_s();
	opt.warmup += t_start;

	if (opt.hold) {
		long next = 0;
		double end =
		        t_start + opt.timeout + (double)n / 100.0; /* bounded: 100 handshakes/s at worst */

		while (!stop && (t = now_s()) < end) {
			while (next < n && n_pending < opt.pending)
				open_conn(&conns[next++]);
			if (next == n && n_pending == 0) {
				int busy = 0;
				for (long i = 0; i < n && !busy; i++)
					busy = conns[i].phase == P_TURN;
				if (!busy)
					break;
			}
			/* a handshake stuck past --timeout is an error */
			for (long i = 0; i < next; i++) {
				struct conn *c = &conns[i];
				if (c->fd >= 0 && c->phase != P_HELD && t - c->t0 > opt.timeout)
					fail(c, "timed out");
			}
			loop_once(100);
		}
		printf("{\"open\":%ld,\"errors\":%ld,\"seconds\":%.3f}\n", n_open, errors, now_s() - t_start);
		fflush(stdout);
		long before = closed_by_peer;
		end = now_s() + opt.hold_seconds;
		while (!stop && now_s() < end)
			loop_once(200);
		printf("{\"closed_by_peer\":%ld}\n", closed_by_peer - before);
		return 0;
	}

	double end = opt.warmup + opt.duration;
	for (long i = 0; i < n; i++)
		open_conn(&conns[i]);
	while (!stop && (t = now_s()) < end) {
		for (long i = 0; i < n; i++) {
			struct conn *c = &conns[i];
			if (c->fd >= 0 && t - c->t0 > opt.timeout)
				fail(c, "timed out");
			if (c->fd < 0 && t < end)
				open_conn(c);
		}
		loop_once(20);
	}
	double secs = opt.duration;
	qsort(lat, n_lat, sizeof *lat, cmp_double);
	printf("{\"requests\":%ld,\"errors\":%ld,\"seconds\":%.3f,\"rps\":%.1f,\"p50_ms\":%.3f,\"p99_ms\":%."
	       "3f,"
	       "\"max_ms\":%.3f,\"connections\":%ld}\n",
	       turns, errors, secs, (double)(turns - errors) / secs, percentile(0.50), percentile(0.99),
	       n_lat ? lat[n_lat - 1] : 0.0, handshakes);
	return 0;
}
