/*
 * listen: the daemon's listening sockets, opened by us rather than by lws so that we decide exactly
 * what is bound (never a non-loopback address; lws 4.1 binds every interface for "127.0.0.1" with
 * IPv6 on), can stop accepting during a drain, and serve systemd socket activation the same way.
 *
 *  - Unix socket: a lock file "<path>.lock" (flock) is taken first so a second instance fails
 *    instead of unlinking and stealing the live socket; then the stale path is removed, the socket
 *    bound under a restrictive umask and chmod'ed to the configured mode.
 *  - TCP: only a loopback literal (127.0.0.0/8 or ::1; IPV6_V6ONLY set), checked again here.
 *  - LISTEN_FDS (socket activation): each passed listening socket is used as is, by family; a TCP
 *    one that is not bound to loopback is refused.
 * Accepted sockets (non-blocking, close-on-exec; TCP ones with TCP_NODELAY) are handed to the accept
 * callback with their kind.
 * Owned by the loop thread.
 */
#ifndef DAEMON_LISTEN_H
#define DAEMON_LISTEN_H

#include <stddef.h>
#include <uv.h>

struct config;
struct listen_set;

enum listen_kind { LISTEN_UNIX, LISTEN_TCP };

/* The callback owns fd (it must close or adopt it). */
typedef void (*listen_accept_fn)(void *ud, int fd, enum listen_kind kind);

/* Opens every listener the config (or LISTEN_FDS) names. NULL with a message in err on failure. */
struct listen_set *listen_open(uv_loop_t *loop, const struct config *cfg, listen_accept_fn cb, void *ud,
                               char *err, size_t errlen);
/* Stops accepting: closes the listening sockets (and removes the socket path we created). */
void listen_stop(struct listen_set *ls);
/* Stops if needed, releases the lock and frees (after the loop has run the closes). NULL: no-op. */
void listen_free(struct listen_set *ls);
/* The address a TCP listener is bound to, as "ip:port" / "[ip]:port" ("" if none), for logs/tests. */
const char *listen_tcp_address(const struct listen_set *ls);

#endif
