#include "api/ui.h"

#include <libwebsockets.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "api/apierr.h"
#include "api/caller.h"
#include "api/env.h"
#include "api/opsession.h"
#include "api/ui_assets.h"
#include "api/ws.h"
#include "daemon/log.h"

/* connect-src 'self' covers the page's own ws:// and wss:// origin (CSP 3). */
#define UI_CSP                                                                                               \
	"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src "        \
	"'self'; "                                                                                           \
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

static const char login_needed[] =
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" "
        "content=\"width=device-width\"><title>toolhost approvals: log in</title></head><body>"
        "<h1>Log in to the approval page</h1><p>Run <code>toolhostctl login-url</code> on the daemon's "
        "host as an operator and open the URL it prints. The link works once, for five minutes.</p>"
        "</body></html>\n";
static const char login_refused[] =
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>toolhost approvals: "
        "login refused</title></head><body><h1>This login link is not valid</h1><p>It is unknown, was used "
        "already or has expired. Run <code>toolhostctl login-url</code> again.</p></body></html>\n";
static const char not_found[] = "no such page\n";
static const char bad_host[] = "the Host header does not name this listener\n";
static const char bad_method[] = "the page is read with GET\n";

int
ui_is_page(const char *path)
{
	return strcmp(path, "/ui") == 0 || strncmp(path, "/ui/", 4) == 0;
}

static void
header(struct ui_answer *a, const char *name, const char *value)
{
	if (a->nheaders == UI_MAX_HEADERS)
		return;
	a->headers[a->nheaders].name = name;
	snprintf(a->headers[a->nheaders].value, sizeof a->headers[a->nheaders].value, "%s", value);
	a->nheaders++;
}

static void
answer(struct ui_answer *a, int status, const char *ctype, const char *body, size_t len)
{
	memset(a, 0, sizeof *a);
	a->status = status;
	a->ctype = ctype;
	a->body = body;
	a->len = len;
	header(a, "content-security-policy:", UI_CSP);
	header(a, "x-content-type-options:", "nosniff");
	header(a, "referrer-policy:", "no-referrer"); /* the login URL's token never leaves in a Referer */
	header(a, "cache-control:", "no-store");
}

#define ANSWER_TEXT(a, status, ctype, text) answer(a, status, ctype, text, sizeof(text) - 1)

/* The session the request's cookie names: 0 with its actor, else -1. */
static int
session_of(struct lws *wsi, struct api_env *env, char *actor, size_t actorlen)
{
	char cookie[1024], id[OPSESSION_SECRET_MAX], who[CONFIG_IDENTITY_MAX];

	if (env->opsession == NULL || lws_hdr_copy(wsi, cookie, sizeof cookie, WSI_TOKEN_HTTP_COOKIE) <= 0 ||
	    opsession_cookie(cookie, id) < 0 || opsession_check(env->opsession, id, who) < 0)
		return -1;
	snprintf(actor, actorlen, "%s", who);
	return 0;
}

/* GET /ui/login?token=T */
static void
login(struct lws *wsi, struct api_env *env, struct ui_answer *a)
{
	char arg[OPSESSION_SECRET_MAX + 8], session[OPSESSION_SECRET_MAX], cookie[160];
	/* lws copies "token=VALUE" into arg and points past the "=". */
	const char *token = lws_get_urlarg_by_name(wsi, "token=", arg, (int)sizeof arg);

	if (env->opsession == NULL || token == NULL || opsession_redeem(env->opsession, token, session) < 0) {
		log_info("refused a page login: no live token");
		ANSWER_TEXT(a, 403, "text/html; charset=utf-8", login_refused);
		return;
	}
	ANSWER_TEXT(a, 303, "text/plain; charset=utf-8", "logged in\n");
	header(a, "location:", "/ui/");
	/* No Secure: the listeners are loopback HTTP (a TLS proxy in front may add it). */
	snprintf(cookie, sizeof cookie, "%s=%s; Path=/; HttpOnly; SameSite=Strict; Max-Age=%d",
	         OPSESSION_COOKIE, session, OPSESSION_TTL_S);
	header(a, "set-cookie:", cookie);
	log_info("a page logged in");
}

void
ui_serve(struct lws *wsi, struct api_env *env, const char *path, int method, struct ui_answer *a)
{
	struct ui_asset f;
	char actor[CONFIG_IDENTITY_MAX];

	if (caller_is_tcp(wsi) && !ws_host_is_bound(wsi)) {
		ANSWER_TEXT(a, 403, "text/plain; charset=utf-8", bad_host);
	} else if (method != LWSHUMETH_GET) {
		ANSWER_TEXT(a, 405, "text/plain; charset=utf-8", bad_method);
	} else if (strcmp(path, "/ui/login") == 0) {
		login(wsi, env, a);
	} else if (strcmp(path, "/ui") == 0 || strcmp(path, "/ui/") == 0 ||
	           strcmp(path, "/ui/index.html") == 0) {
		if (session_of(wsi, env, actor, sizeof actor) < 0) {
			ANSWER_TEXT(a, 401, "text/html; charset=utf-8", login_needed);
			return;
		}
		if (ui_asset("index.html", &f) < 0) { /* cannot be: it is compiled in */
			ANSWER_TEXT(a, 404, "text/plain; charset=utf-8", not_found);
			return;
		}
		answer(a, 200, f.ctype, f.data, f.len);
		header(a, "x-frame-options:", "DENY");
	} else if (ui_asset(path + 4, &f) == 0 && strcmp(f.name, "index.html") != 0) {
		answer(a, 200, f.ctype, f.data, f.len);
	} else {
		ANSWER_TEXT(a, 404, "text/plain; charset=utf-8", not_found);
	}
}

/* 1 when Origin is absent, or is http(s):// followed by exactly the request's Host. */
static int
origin_is_own(struct lws *wsi)
{
	char origin[320], host[300];
	const char *rest;

	if (lws_hdr_total_length(wsi, WSI_TOKEN_ORIGIN) == 0)
		return 1;
	if (lws_hdr_copy(wsi, origin, sizeof origin, WSI_TOKEN_ORIGIN) <= 0 ||
	    lws_hdr_copy(wsi, host, sizeof host, WSI_TOKEN_HOST) <= 0)
		return 0;
	if (strncasecmp(origin, "http://", 7) == 0)
		rest = origin + 7;
	else if (strncasecmp(origin, "https://", 8) == 0)
		rest = origin + 8;
	else
		return 0;
	return strcasecmp(rest, host) == 0;
}

int
ui_stream_operator(struct lws *wsi, struct api_env *env, char *actor, size_t actorlen, struct api_error *e)
{
	int tcp = caller_is_tcp(wsi);

	if (tcp && !ws_host_is_bound(wsi))
		return api_error_set(e, 403, "permission_denied", "host_not_allowed", NULL,
		                     "the Host header does not name this listener");
	if (!origin_is_own(wsi))
		return api_error_set(e, 403, "permission_denied", "origin_not_allowed", NULL,
		                     "the approval stream takes no cross-origin connections");
	if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_COOKIE) == 0)
		return 0;
	if (session_of(wsi, env, actor, actorlen) < 0)
		return api_error_set(e, 403, "permission_denied", "session_invalid", NULL,
		                     "no live page session: log in with toolhostctl login-url");
	return 1;
}
