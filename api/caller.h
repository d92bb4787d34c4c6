/*
 * caller: who is asking on a connection, read from the socket itself (never from anything the caller
 * sends, such as Host): a Unix socket caller by its SO_PEERCRED (allow_uids / allow_gids, root, the
 * daemon's own user, operators), a TCP caller by its bearer token (api_keys). Shared by the HTTP
 * requests (api/http) and the WebSocket upgrade (api/ws), so both let in exactly the same callers.
 */
#ifndef API_CALLER_H
#define API_CALLER_H

#include <stddef.h>

#include "daemon/config.h"

struct lws;
struct api_error;

/* What is kept of a caller's User-Agent (what the operator is shown as its client). */
#define CALLER_CLIENT_MAX 128

struct caller {
	char identity[CONFIG_IDENTITY_MAX]; /* "uid=1000" or "key=ci" ("-" before the check): the owner */
	int is_operator;                    /* config "operators" (Unix socket only) */
	int tcp;                            /* the connection came in on a TCP listener */
	char *bearer;                       /* the Authorization bearer token, or NULL; secret */
	char client[CALLER_CLIENT_MAX];     /* its User-Agent, printable ASCII, cut; "" when none */
};

/* Fills c from wsi's socket and headers; 0 when the caller may use the daemon, else -1 with the
 * answer in *err: 401 invalid_api_key on TCP, 403 permission_denied on the Unix socket. c is filled
 * either way (free it with caller_clear). */
int caller_check(struct lws *wsi, const struct config *cfg, struct caller *c, struct api_error *err);
/* Wipes and frees the bearer; c may be reused. */
void caller_clear(struct caller *c);
/* 1 when wsi's connection came in on a TCP listener: asked of the socket, not of the request. */
int caller_is_tcp(struct lws *wsi);

#endif
