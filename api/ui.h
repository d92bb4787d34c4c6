/*
 * ui: the operators' approval page, GET /ui/ (APPROVALS-NOTES 5). Its files (ui/index.html, app.js,
 * app.css) are compiled into the binary (api/ui_assets.c), so the page is always the daemon's own.
 *
 *   GET /ui/login?token=T  trades a one-time login token (api/opsession) for the session cookie and
 *                          sends the browser on to /ui/ (303); a bad token gets 403 and no cookie
 *   GET /ui/, /ui          the page, for a live session; without one a 401 page that says how to log in
 *   GET /ui/app.js, .css   the page's code (no data: served to anyone who may reach the page)
 *
 * The page gets its data and sends its decisions over the operators' stream (api/opstream), never
 * through a cookie-authenticated POST, so there is no form to forge. Every answer carries a strict
 * Content-Security-Policy (scripts and styles of this origin only, no framing, no inline code), no
 * CORS header, nosniff and no-store. On TCP the Host must name the bound address (no DNS rebinding).
 * These requests bypass the callers' check: the browser has no api key; the session is its key.
 */
#ifndef API_UI_H
#define API_UI_H

#include <stddef.h>

struct lws;
struct api_env;
struct api_error;

#define UI_MAX_HEADERS 8

struct ui_header {
	const char *name; /* with its colon: "set-cookie:" */
	char value[192];
};

/* One answer of the page, for api/http to send. */
struct ui_answer {
	int status;
	const char *ctype;
	const char *body; /* static: the compiled-in files and pages */
	size_t len;
	struct ui_header headers[UI_MAX_HEADERS];
	size_t nheaders;
};

/* 1 when path is the page's: "/ui" or under "/ui/". */
int ui_is_page(const char *path);
/* The answer to a request for page path (method: lws' LWSHUMETH_*); fills *a. */
void ui_serve(struct lws *wsi, struct api_env *env, const char *path, int method, struct ui_answer *a);
/* The stream's check of a browser: a live session cookie, an Origin of the request's own Host, and
 * on TCP a Host that names the bound address. 1 with the session's actor in actor; 0 when the
 * request has no session cookie at all (not a page's); -1 with *e filled (403) when refused. */
int ui_stream_operator(struct lws *wsi, struct api_env *env, char *actor, size_t actorlen,
                       struct api_error *e);

#endif
