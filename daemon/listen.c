#include "daemon/listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "daemon/config.h"
#include "daemon/log.h"
#include "daemon/util.h"

#define LISTEN_MAX 8

struct listener {
	struct listen_set *set;
	int fd;
	enum listen_kind kind;
	uv_poll_t poll;
	int polling;
};

struct listen_set {
	listen_accept_fn cb;
	void *ud;
	struct listener *l[LISTEN_MAX];
	size_t n;
	int lock_fd;
	char *unix_path; /* set when we created the socket file (removed on stop) */
	char tcp_addr[64];
	int stopped;
	/* Out of descriptors: the listening sockets stay readable, so polling them would spin. Accepting
	 * pauses and resumes from this timer instead. */
	uv_timer_t retry;
	int paused;
};

#define LISTEN_RETRY_MS 250

static int
is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
	}
	return 0;
}

static void
describe(const struct sockaddr *sa, char *out, size_t outlen)
{
	char ip[INET6_ADDRSTRLEN] = "";

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &in->sin_addr, ip, sizeof ip);
		snprintf(out, outlen, "%s:%u", ip, ntohs(in->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof ip);
		snprintf(out, outlen, "[%s]:%u", ip, ntohs(in6->sin6_port));
	}
}

/*
 * An SSE answer leaves as several small writes (the head and first events, then one per event);
 * with Nagle on, each small write after the first waits for the ACK of the one before, which a
 * peer delays by up to 40 ms: about 40 ms per streamed response on loopback TCP. Every write here
 * is already a whole event, so nothing is gained by coalescing. Set on each accepted socket, so
 * that it holds as well for the listeners socket activation hands over, whatever their options.
 */
static void
set_nodelay(int fd)
{
	int one = 1;

	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0)
		log_warn("setsockopt TCP_NODELAY");
}

static void on_readable(uv_poll_t *p, int status, int events);

static void
on_retry(uv_timer_t *t)
{
	struct listen_set *ls = t->data;
	size_t i;

	ls->paused = 0;
	for (i = 0; i < ls->n; i++)
		uv_poll_start(&ls->l[i]->poll, UV_READABLE, on_readable);
}

static void
pause_accepting(struct listen_set *ls)
{
	size_t i;

	if (ls->paused || ls->stopped)
		return;
	log_warn("accept: pausing new connections for %d ms", LISTEN_RETRY_MS);
	ls->paused = 1;
	for (i = 0; i < ls->n; i++)
		uv_poll_stop(&ls->l[i]->poll);
	uv_timer_start(&ls->retry, on_retry, LISTEN_RETRY_MS, 0);
}

static void
on_readable(uv_poll_t *p, int status, int events)
{
	struct listener *l = p->data;
	int fd, i;

	if (status < 0)
		return;
	/* Bounded so one busy listener cannot starve the rest of the loop. */
	for (i = 0; i < 64; i++) {
		fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
				pause_accepting(l->set);
			else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
			         errno != ECONNABORTED)
				log_warn("accept");
			return;
		}
		if (l->kind == LISTEN_TCP)
			set_nodelay(fd);
		l->set->cb(l->set->ud, fd, l->kind);
	}
}

static int
add_listener(struct listen_set *ls, uv_loop_t *loop, int fd, enum listen_kind kind, char *err, size_t errlen)
{
	struct listener *l;

	if (ls->n == LISTEN_MAX) {
		snprintf(err, errlen, "too many listening sockets");
		return -1;
	}
	l = xcalloc(1, sizeof *l);
	l->set = ls;
	l->fd = fd;
	l->kind = kind;
	if (uv_poll_init(loop, &l->poll, fd) != 0) {
		snprintf(err, errlen, "cannot poll listening socket %d", fd);
		free(l);
		return -1;
	}
	l->poll.data = l;
	uv_poll_start(&l->poll, UV_READABLE, on_readable);
	l->polling = 1;
	ls->l[ls->n++] = l;
	return 0;
}

static int
open_unix(struct listen_set *ls, uv_loop_t *loop, const struct config *cfg, char *err, size_t errlen)
{
	struct sockaddr_un sun;
	char *lock_path;
	mode_t old_mask;
	int fd = -1;

	if (strlen(cfg->unix_path) >= sizeof sun.sun_path) {
		snprintf(err, errlen, "listen.unix.path: longer than %zu bytes", sizeof sun.sun_path - 1);
		return -1;
	}
	lock_path = xasprintf("%s.lock", cfg->unix_path);
	ls->lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (ls->lock_fd < 0) {
		snprintf(err, errlen, "cannot open lock file %s: %s", lock_path, strerror(errno));
		free(lock_path);
		return -1;
	}
	if (flock(ls->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		snprintf(err, errlen, "another toolhostd holds %s (lock %s)", cfg->unix_path, lock_path);
		free(lock_path);
		return -1;
	}
	free(lock_path);
	/* We hold the lock, so a file at the path is a leftover of a dead instance. */
	unlink(cfg->unix_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, cfg->unix_path, strlen(cfg->unix_path));
	old_mask = umask(0177); /* never wider than 0600 between bind and chmod */
	if (bind(fd, (struct sockaddr *)&sun, sizeof sun) < 0) {
		umask(old_mask);
		snprintf(err, errlen, "bind %s: %s", cfg->unix_path, strerror(errno));
		close(fd);
		return -1;
	}
	umask(old_mask);
	ls->unix_path = xstrdup(cfg->unix_path);
	if (chmod(cfg->unix_path, cfg->unix_mode) < 0 || listen(fd, 512) < 0) {
		snprintf(err, errlen, "chmod/listen %s: %s", cfg->unix_path, strerror(errno));
		close(fd);
		return -1;
	}
	return add_listener(ls, loop, fd, LISTEN_UNIX, err, errlen);
}

static int
open_tcp(struct listen_set *ls, uv_loop_t *loop, const struct config *cfg, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int fd, one = 1;

	memset(&ss, 0, sizeof ss);
	if (inet_pton(AF_INET, cfg->tcp_address, &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
		ss.ss_family = AF_INET;
		((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)cfg->tcp_port);
		sl = sizeof(struct sockaddr_in);
	} else if (inet_pton(AF_INET6, cfg->tcp_address, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
		ss.ss_family = AF_INET6;
		((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)cfg->tcp_port);
		sl = sizeof(struct sockaddr_in6);
	} else {
		snprintf(err, errlen, "listen.tcp.address: not an IP literal");
		return -1;
	}
	if (!is_loopback((struct sockaddr *)&ss)) {
		snprintf(err, errlen, "listen.tcp.address: %s is not a loopback address", cfg->tcp_address);
		return -1;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, 512) < 0) {
		snprintf(err, errlen, "bind %s port %u: %s", cfg->tcp_address, cfg->tcp_port,
		         strerror(errno));
		close(fd);
		return -1;
	}
	sl = sizeof ss;
	getsockname(fd, (struct sockaddr *)&ss, &sl);
	describe((struct sockaddr *)&ss, ls->tcp_addr, sizeof ls->tcp_addr);
	return add_listener(ls, loop, fd, LISTEN_TCP, err, errlen);
}

static int
open_activated(struct listen_set *ls, uv_loop_t *loop, int n, char *err, size_t errlen)
{
	int i;

	for (i = 0; i < n; i++) {
		int fd = SD_LISTEN_FDS_START + i;
		struct sockaddr_storage ss;
		socklen_t sl = sizeof ss;

		memset(&ss, 0, sizeof ss);
		if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0 ||
		    sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, 1) <= 0) {
			snprintf(err, errlen, "LISTEN_FDS: fd %d is not a listening stream socket", fd);
			return -1;
		}
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
		fcntl(fd, F_SETFD, FD_CLOEXEC);
		if (ss.ss_family == AF_UNIX) {
			if (add_listener(ls, loop, fd, LISTEN_UNIX, err, errlen) < 0)
				return -1;
		} else if (is_loopback((struct sockaddr *)&ss)) {
			describe((struct sockaddr *)&ss, ls->tcp_addr, sizeof ls->tcp_addr);
			if (add_listener(ls, loop, fd, LISTEN_TCP, err, errlen) < 0)
				return -1;
		} else {
			snprintf(err, errlen, "LISTEN_FDS: fd %d is bound to a non-loopback address; refused",
			         fd);
			return -1;
		}
	}
	return 0;
}

struct listen_set *
listen_open(uv_loop_t *loop, const struct config *cfg, listen_accept_fn cb, void *ud, char *err,
            size_t errlen)
{
	struct listen_set *ls = xcalloc(1, sizeof *ls);
	int n = sd_listen_fds(1);

	ls->cb = cb;
	ls->ud = ud;
	ls->lock_fd = -1;
	uv_timer_init(loop, &ls->retry);
	ls->retry.data = ls;
	if (n > 0) {
		if (open_activated(ls, loop, n, err, errlen) < 0)
			goto fail;
		log_info("listening on %d socket(s) passed by systemd", n);
		return ls;
	}
	if (open_unix(ls, loop, cfg, err, errlen) < 0)
		goto fail;
	log_info("listening on %s (mode %04o)", cfg->unix_path, cfg->unix_mode);
	if (cfg->tcp_address) {
		if (open_tcp(ls, loop, cfg, err, errlen) < 0)
			goto fail;
		log_info("listening on %s (bearer token required)", ls->tcp_addr);
	}
	return ls;
fail:
	listen_free(ls);
	return NULL;
}

static void
on_listener_closed(uv_handle_t *h)
{
	struct listener *l = h->data;

	close(l->fd);
	free(l);
}

void
listen_stop(struct listen_set *ls)
{
	size_t i;

	if (ls == NULL || ls->stopped)
		return;
	ls->stopped = 1;
	uv_timer_stop(&ls->retry);
	for (i = 0; i < ls->n; i++) {
		uv_poll_stop(&ls->l[i]->poll);
		uv_close((uv_handle_t *)&ls->l[i]->poll, on_listener_closed);
	}
	ls->n = 0;
	if (ls->unix_path) {
		unlink(ls->unix_path);
		free(ls->unix_path);
		ls->unix_path = NULL;
	}
}

static void
on_retry_closed(uv_handle_t *h)
{
	free(h->data);
}

void
listen_free(struct listen_set *ls)
{
	if (ls == NULL)
		return;
	listen_stop(ls);
	if (ls->lock_fd >= 0)
		close(ls->lock_fd);
	/* The set goes when libuv is done with its timer. */
	uv_close((uv_handle_t *)&ls->retry, on_retry_closed);
}

const char *
listen_tcp_address(const struct listen_set *ls)
{
	return ls->tcp_addr;
}
