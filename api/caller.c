#include "api/caller.h"

#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api/apierr.h"
#include "daemon/log.h"
#include "daemon/util.h"

int
caller_is_tcp(struct lws *wsi)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	int fd = lws_get_socket_fd(lws_get_network_wsi(wsi));

	memset(&ss, 0, sizeof ss);
	if (fd < 0 || getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return 1; /* unknown: the stricter rule (bearer token) */
	return ss.ss_family != AF_UNIX;
}

/* An operator is let in too: listing one is a grant beyond allow_uids / allow_gids. */
static int
allowed_unix(struct lws *wsi, const struct config *cfg, struct caller *c)
{
	struct ucred cred;
	socklen_t len = sizeof cred;
	int fd = lws_get_socket_fd(lws_get_network_wsi(wsi));
	size_t i;

	if (fd < 0 || getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return 0;
	snprintf(c->identity, sizeof c->identity, "uid=%u", (unsigned)cred.uid);
	c->is_operator = config_is_operator(cfg, cred.uid, cred.gid);
	if (c->is_operator || cred.uid == 0 || cred.uid == geteuid())
		return 1;
	for (i = 0; i < cfg->n_allow_uids; i++)
		if (cfg->allow_uids[i] == cred.uid)
			return 1;
	for (i = 0; i < cfg->n_allow_gids; i++)
		if (cfg->allow_gids[i] == cred.gid)
			return 1;
	return 0;
}

/* The bearer token of the Authorization header, if any (malloc'd). */
static char *
copy_bearer(struct lws *wsi)
{
	int len = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_AUTHORIZATION);
	char *v, *tok = NULL;

	if (len <= 0 || len > 8192)
		return NULL;
	v = xmalloc((size_t)len + 1);
	if (lws_hdr_copy(wsi, v, len + 1, WSI_TOKEN_HTTP_AUTHORIZATION) > 0 &&
	    strncasecmp(v, "Bearer ", 7) == 0) {
		const char *t = v + 7;
		while (*t == ' ')
			t++;
		if (*t)
			tok = xstrdup(t);
	}
	explicit_bzero(v, (size_t)len);
	free(v);
	return tok;
}

static int
allowed_tcp(const struct config *cfg, struct caller *c)
{
	size_t i;

	if (c->bearer == NULL)
		return 0;
	for (i = 0; i < cfg->n_api_keys; i++) {
		if (util_secret_eq(c->bearer, cfg->api_keys[i].key)) {
			snprintf(c->identity, sizeof c->identity, "key=%s", cfg->api_keys[i].name);
			return 1;
		}
	}
	return 0;
}

/* The User-Agent into out, cut to fit, anything but printable ASCII as '?': it reaches logs and pages. */
static void
copy_client(struct lws *wsi, char out[CALLER_CLIENT_MAX])
{
	char ua[512];
	int n = lws_hdr_copy(wsi, ua, sizeof ua, WSI_TOKEN_HTTP_USER_AGENT), i;

	out[0] = '\0';
	if (n <= 0) {
		/* lws copies nothing of one longer than ua: say so rather than show nothing */
		if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_USER_AGENT) > 0)
			snprintf(out, CALLER_CLIENT_MAX, "(a User-Agent of over %zu bytes)", sizeof ua - 1);
		return;
	}
	for (i = 0; i < n && i < CALLER_CLIENT_MAX - 1; i++) {
		unsigned char ch = (unsigned char)ua[i];

		if (ch >= 0x20 && ch < 0x7f)
			out[i] = ua[i];
		else
			out[i] = '?';
	}
	out[i] = '\0';
}

int
caller_check(struct lws *wsi, const struct config *cfg, struct caller *c, struct api_error *err)
{
	caller_clear(c);
	snprintf(c->identity, sizeof c->identity, "-");
	c->is_operator = 0;
	c->bearer = copy_bearer(wsi);
	copy_client(wsi, c->client);
	c->tcp = caller_is_tcp(wsi);
	if (c->tcp) {
		if (allowed_tcp(cfg, c))
			return 0;
		api_error_set(err, 401, "authentication_error", "invalid_api_key", NULL,
		              "a valid bearer token is required on this listener");
		return -1;
	}
	if (allowed_unix(wsi, cfg, c))
		return 0;
	log_warnx("refused a caller on the Unix socket (%s)", c->identity);
	api_error_set(err, 403, "permission_denied", "permission_denied", NULL,
	              "this user may not use toolhostd (see listen.unix.allow_uids / allow_gids)");
	return -1;
}

void
caller_clear(struct caller *c)
{
	if (c->bearer) {
		explicit_bzero(c->bearer, strlen(c->bearer));
		free(c->bearer);
		c->bearer = NULL;
	}
}
