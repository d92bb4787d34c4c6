/*
 * policy: the request's mcp tools bounded by the operator's config. Everything here fails closed:
 * a filter of a shape we do not know admits nothing and a tool without a name needs approval, so a
 * bug upstream of this file (a parser letting something odd through) cannot widen what a caller may
 * do.
 *
 * The URL checks are on the text of the URL only: this module does no DNS. A name that resolves to
 * a metadata address is stopped by the allow-list, which is why request URLs are refused unless the
 * operator lists prefixes.
 */
#include "api/policy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/apierr.h"
#include "daemon/config.h"
#include "daemon/util.h"

#define POLICY_MAX_URL         2048
#define POLICY_MAX_HOST        255
#define POLICY_MAX_HEADERS     64 /* request headers of one mcp tool */
#define POLICY_MAX_HEADER_NAME 128
#define POLICY_MAX_SECRET      8192 /* one header value or authorization token */

/* ---- URLs ---- */

struct url_host {
	char host[POLICY_MAX_HOST + 1]; /* without brackets */
	int bracketed;                  /* an IPv6 literal */
};

/*
 * The host of an http(s) URL, for the checks below and nothing else (the MCP client does its own
 * parsing). Anything two parsers could read differently is refused rather than guessed at: a
 * backslash or several '@' in the authority, percent-encoding or odd characters in the host.
 * 0, or -1 when the URL is not one we accept.
 */
static int
url_parse_host(const char *url, struct url_host *out)
{
	const char *auth, *at, *h, *end, *p;
	struct in6_addr a6;
	size_t alen, hlen;

	memset(out, 0, sizeof *out);
	if (strncasecmp(url, "http://", 7) == 0)
		auth = url + 7;
	else if (strncasecmp(url, "https://", 8) == 0)
		auth = url + 8;
	else
		return -1;
	alen = strcspn(auth, "/?#");
	if (memchr(auth, '\\', alen))
		return -1;
	h = auth;
	at = memchr(auth, '@', alen);
	if (at) {
		if (memchr(at + 1, '@', alen - (size_t)(at + 1 - auth)))
			return -1;
		h = at + 1;
	}
	end = auth + alen;
	if (h < end && *h == '[') {
		p = memchr(h, ']', (size_t)(end - h));
		if (p == NULL)
			return -1;
		hlen = (size_t)(p - h) - 1;
		if (hlen == 0 || hlen > POLICY_MAX_HOST || strspn(h + 1, "0123456789abcdefABCDEF:.") < hlen)
			return -1;
		memcpy(out->host, h + 1, hlen);
		if (inet_pton(AF_INET6, out->host, &a6) != 1)
			return -1;
		out->bracketed = 1;
		p++;
	} else {
		hlen = strcspn(h, ":/?#");
		if (h + hlen > end)
			hlen = (size_t)(end - h);
		if (hlen == 0 || hlen > POLICY_MAX_HOST ||
		    strspn(h, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-_") < hlen)
			return -1;
		memcpy(out->host, h, hlen);
		p = h + hlen;
	}
	/* What follows the host: nothing, or ':' and a port of digits (possibly empty, as curl allows). */
	if (p < end) {
		if (*p != ':' || strspn(p + 1, "0123456789") != (size_t)(end - p - 1) || end - p - 1 > 5 ||
		    strtol(p + 1, NULL, 10) > 65535)
			return -1;
	}
	return 0;
}

static int
v4_blocked(const struct in_addr *a)
{
	uint32_t ip = ntohl(a->s_addr);

	return (ip >> 24) == 0 ||      /* 0.0.0.0/8: "this host"; 0.0.0.0 reaches local services */
	       (ip >> 16) == 0xa9fe || /* 169.254.0.0/16 link-local, the usual metadata address */
	       ip == 0x646464c8;       /* 100.100.100.200 (Alibaba Cloud metadata) */
}

static int
v6_blocked(const struct in6_addr *a)
{
	static const unsigned char ec2[16] = {0xfd, 0x00, 0x0e, 0xc2, 0, 0, 0,    0,
	                                      0,    0,    0,    0,    0, 0, 0x02, 0x54};
	static const unsigned char nat64[12] = {0x00, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
	struct in_addr v4;

	if (IN6_IS_ADDR_UNSPECIFIED(a) || IN6_IS_ADDR_LINKLOCAL(a) || memcmp(a->s6_addr, ec2, 16) == 0)
		return 1;
	/* An IPv4 address in IPv6 clothing reaches the same place: ::ffff:a.b.c.d, ::a.b.c.d, 64:ff9b::/96.
	 */
	if (IN6_IS_ADDR_V4MAPPED(a) || IN6_IS_ADDR_V4COMPAT(a) || memcmp(a->s6_addr, nat64, 12) == 0) {
		memcpy(&v4.s_addr, a->s6_addr + 12, 4);
		return v4_blocked(&v4);
	}
	return 0;
}

/* A host name whose last label is a number is an IPv4 address to getaddrinfo() (inet_aton()). */
static int
looks_numeric(const char *host)
{
	const char *last = strrchr(host, '.');

	last = last ? last + 1 : host;
	if (last[0] == '0' && (last[1] == 'x' || last[1] == 'X'))
		return 1;
	return last[0] != '\0' && strspn(last, "0123456789") == strlen(last);
}

/*
 * 1 when the host is one a request may never name: link-local, cloud metadata, unspecified; -1
 * when it is a number that is no address. IPv4 is read the way the resolver reads it, so
 * "2852039166", "0xa9.0xfe.0xa9.0xfe" or "169.254.169.254." cannot slip past inet_pton().
 */
static int
host_check(const struct url_host *u)
{
	char h[POLICY_MAX_HOST + 1];
	struct in6_addr a6;
	struct in_addr a4;
	size_t n, i;

	if (u->bracketed)
		return inet_pton(AF_INET6, u->host, &a6) == 1 ? v6_blocked(&a6) : -1;
	n = strlen(u->host);
	memcpy(h, u->host, n + 1);
	if (n > 0 && h[n - 1] == '.')
		h[--n] = '\0';
	for (i = 0; i < n; i++)
		h[i] = (char)((h[i] >= 'A' && h[i] <= 'Z') ? h[i] + 32 : h[i]);
	if (n == 0)
		return -1;
	if (strcmp(h, "metadata") == 0 || strcmp(h, "metadata.google.internal") == 0)
		return 1;
	if (inet_pton(AF_INET, h, &a4) == 1)
		return v4_blocked(&a4);
	if (looks_numeric(h))
		return inet_aton(h, &a4) == 0 ? -1 : v4_blocked(&a4);
	return 0;
}

/* The length of a prefix's "scheme://authority" part, compared without regard to case. */
static size_t
authority_len(const char *url)
{
	const char *p = strstr(url, "://");

	if (p == NULL)
		return 0;
	p += 3;
	return (size_t)(p - url) + strcspn(p, "/?#");
}

/*
 * 1 when url starts with one of prefixes (config checked that each ends its host). The host is
 * compared once more after parsing both, as text alone would let "http://127.0.0.1:x@evil.example/"
 * pass for the prefix "http://127.0.0.1:".
 */
static int
url_allowed(const char *url, const struct url_host *u, char *const *prefixes)
{
	struct url_host ph;
	size_t n, alen;

	for (; prefixes && *prefixes; prefixes++) {
		n = strlen(*prefixes);
		alen = authority_len(*prefixes);
		if (strlen(url) < n || strncasecmp(url, *prefixes, alen) != 0 ||
		    strncmp(url + alen, *prefixes + alen, n - alen) != 0)
			continue;
		if (url_parse_host(*prefixes, &ph) < 0 || ph.bracketed != u->bracketed ||
		    strcasecmp(ph.host, u->host) != 0)
			continue;
		return 1;
	}
	return 0;
}

static int
has_ctl(const char *s)
{
	for (; *s; s++) {
		if (((unsigned char)*s < 0x20 && *s != '\t') || *s == 0x7f)
			return 1;
	}
	return 0;
}

/* Checks server_url and, when it is admitted, stores it. Messages show the URL redacted. */
static int
resolve_url(const struct config *cfg, const char *url, size_t index, struct policy_server *out,
            struct api_error *err)
{
	struct url_host u;
	char param[64];
	char *shown;
	int result = -1;

	snprintf(param, sizeof param, "tools[%zu].server_url", index);
	shown = util_url_redact(url);
	if (strlen(url) > POLICY_MAX_URL || strpbrk(url, " \t") || has_ctl(url) ||
	    url_parse_host(url, &u) < 0 || host_check(&u) < 0) {
		api_error_bad(
		        err, param, "mcp_server_not_allowed",
		        "MCP server URL '%.200s' is not a valid http:// or https:// URL with a plain host.",
		        shown);
		goto done;
	}
	if (host_check(&u) == 1) {
		api_error_bad(
		        err, param, "mcp_server_not_allowed",
		        "MCP server URL '%.200s' names a link-local, cloud metadata or unspecified address, "
		        "which is never allowed.",
		        shown);
		goto done;
	}
	if (!url_allowed(url, &u, cfg->mcp_policy.allow_request_urls)) {
		api_error_bad(
		        err, param, "mcp_server_not_allowed",
		        "MCP server URL '%.200s' is not allowed by this server's policy; name a configured "
		        "server by server_label alone, or ask the operator to allow the URL.",
		        shown);
		goto done;
	}
	out->url = xstrdup(url);
	result = 0;
done:
	free(shown);
	return result;
}

/* ---- headers ---- */

/* Names the MCP transport sets itself; a caller's value would break it or steer it elsewhere. */
static int
header_reserved(const char *name)
{
	static const char *const names[] = {"host",
	                                    "content-length",
	                                    "transfer-encoding",
	                                    "connection",
	                                    "upgrade",
	                                    "te",
	                                    "content-type",
	                                    "accept",
	                                    "mcp-session-id",
	                                    "mcp-protocol-version",
	                                    "last-event-id",
	                                    NULL};
	size_t i;

	for (i = 0; names[i]; i++) {
		if (strcasecmp(name, names[i]) == 0)
			return 1;
	}
	return 0;
}

/* 1 when one of the "Name: value" lines is called name (any case). */
static int
lines_have(char *const *lines, const char *name)
{
	size_t n = strlen(name);

	for (; lines && *lines; lines++) {
		if (strncasecmp(*lines, name, n) == 0 && (*lines)[n] == ':')
			return 1;
	}
	return 0;
}

/* Validates the request's headers object and authorization; values are never quoted. */
static int
check_request_headers(const json_t *headers, const json_t *auth, size_t index, struct api_error *err)
{
	char param[64];
	const char *name;
	json_t *v;

	snprintf(param, sizeof param, "tools[%zu].headers", index);
	if (headers && !json_is_null(headers)) {
		if (!json_is_object(headers) || json_object_size(headers) > POLICY_MAX_HEADERS)
			return api_error_bad(err, param, "invalid_value",
			                     "headers must be an object of at most %d string values.",
			                     POLICY_MAX_HEADERS);
		json_object_foreach ((json_t *)headers, name, v) {
			if (strlen(name) > POLICY_MAX_HEADER_NAME || !util_http_token(name))
				return api_error_bad(err, param, "invalid_value",
				                     "a header name is not a valid HTTP header name.");
			if (header_reserved(name))
				return api_error_bad(
				        err, param, "invalid_value",
				        "header '%s' is set by the MCP client and cannot be given.", name);
			/* The request parser checks this too; a line break here would inject header lines. */
			if (!json_is_string(v) || json_string_length(v) > POLICY_MAX_SECRET ||
			    strlen(json_string_value(v)) != json_string_length(v) ||
			    has_ctl(json_string_value(v)))
				return api_error_bad(
				        err, param, "invalid_value",
				        "the value of header '%s' must be a string of at most %d bytes "
				        "without control characters.",
				        name, POLICY_MAX_SECRET);
		}
	}
	snprintf(param, sizeof param, "tools[%zu].authorization", index);
	if (auth && !json_is_null(auth)) {
		if (!json_is_string(auth) || json_string_length(auth) == 0 ||
		    json_string_length(auth) > POLICY_MAX_SECRET ||
		    strlen(json_string_value(auth)) != json_string_length(auth) ||
		    has_ctl(json_string_value(auth)))
			return api_error_bad(
			        err, param, "invalid_value",
			        "authorization must be a non-empty string of at most %d bytes without "
			        "control characters.",
			        POLICY_MAX_SECRET);
	}
	return 0;
}

/*
 * The header lines for one server: base (the config's, or none), then the request's headers whose
 * names base does not set, then the request's authorization as a bearer token unless base sets
 * Authorization. With an authorization given, a request header called Authorization is dropped:
 * the dedicated field wins, and two Authorization lines would leave the choice to the server.
 */
static char **
build_headers(char *const *base, const json_t *headers, const json_t *auth)
{
	const char *name, *token = json_is_string(auth) ? json_string_value(auth) : NULL;
	size_t nbase = 0, n = 0;
	char **out;
	json_t *v;

	while (base && base[nbase])
		nbase++;
	out = xcalloc(nbase + (json_is_object(headers) ? json_object_size(headers) : 0) + 2, sizeof *out);
	for (; base && n < nbase; n++)
		out[n] = xstrdup(base[n]);
	if (json_is_object(headers)) {
		json_object_foreach ((json_t *)headers, name, v) {
			if (lines_have(base, name) || (token && strcasecmp(name, "Authorization") == 0))
				continue;
			out[n++] = xasprintf("%s: %s", name, json_string_value(v));
		}
	}
	if (token && !lines_have(base, "Authorization"))
		out[n++] = xasprintf("Authorization: Bearer %s", token);
	return out;
}

static char **
names_dup(char *const *names)
{
	size_t n = 0, i;
	char **out;

	if (names == NULL)
		return NULL;
	while (names[n])
		n++;
	out = xcalloc(n + 1, sizeof *out);
	for (i = 0; i < n; i++)
		out[i] = xstrdup(names[i]);
	return out;
}

static void
names_free(char **names, int secret)
{
	char **p;

	for (p = names; p && *p; p++) {
		if (secret)
			explicit_bzero(*p, strlen(*p));
		free(*p);
	}
	free(names);
}

/* The approval mode of a config server (srv), or of a server named by URL (srv NULL): its own
 * settings over mcp_policy's. */
static void
set_approval_mode(const struct config *cfg, const struct config_mcp_server *srv, struct policy_server *out)
{
	const struct config_mcp_policy *p = &cfg->mcp_policy;
	enum config_approval_mode mode = srv && srv->approval ? srv->approval : p->approval;
	enum config_no_operator no_op = srv && srv->no_operator ? srv->no_operator : p->no_operator;

	out->by_operator = mode == CONFIG_APPROVAL_OPERATOR;
	out->expiry_s = srv && srv->approval_expiry_s ? srv->approval_expiry_s : p->approval_expiry_s;
	out->no_operator_to_caller = no_op == CONFIG_NO_OPERATOR_CALLER;
}

int
policy_resolve(const struct config *cfg, const json_t *mcp_tool, size_t index, struct policy_server *out,
               struct api_error *err)
{
	const struct config_mcp_server *srv;
	const json_t *headers, *auth, *urlv;
	const char *label;
	char param[64];

	memset(out, 0, sizeof *out);
	snprintf(param, sizeof param, "tools[%zu].server_label", index);
	label = json_string_value(json_object_get(mcp_tool, "server_label"));
	if (label == NULL || label[0] == '\0')
		return api_error_bad(err, param, "invalid_value", "server_label must be a non-empty string.");
	urlv = json_object_get(mcp_tool, "server_url");
	headers = json_object_get(mcp_tool, "headers");
	auth = json_object_get(mcp_tool, "authorization");
	if (urlv && !json_is_null(urlv) && !json_is_string(urlv)) {
		snprintf(param, sizeof param, "tools[%zu].server_url", index);
		return api_error_bad(err, param, "invalid_value", "server_url must be a string.");
	}
	if (check_request_headers(headers, auth, index, err) < 0)
		return -1;
	out->label = xstrdup(label);
	out->allowed_tools = json_object_get(mcp_tool, "allowed_tools");
	out->require_approval = json_object_get(mcp_tool, "require_approval");

	if (!json_is_string(urlv)) {
		srv = config_mcp_server_find(cfg, label);
		if (srv == NULL)
			return api_error_bad(
			        err, param, "invalid_value",
			        "no MCP server labelled '%s' is configured, and no server_url was given",
			        label);
		out->from_config = 1;
		out->url = xstrdup(srv->url);
		out->headers = build_headers(srv->headers, headers, auth);
		out->timeout_ms = srv->timeout_ms;
		out->cache_ttl_s = srv->cache_ttl_s;
		out->ceiling = names_dup(srv->allowed_tools);
		out->floor_always = srv->approval_always;
		out->floor_tools = names_dup(srv->approval_tools);
		out->approve_destructive = srv->approve_destructive;
		set_approval_mode(cfg, srv, out);
		return 0;
	}
	if (resolve_url(cfg, json_string_value(urlv), index, out, err) < 0)
		return -1;
	out->headers = build_headers(NULL, headers, auth);
	out->approve_destructive = cfg->mcp_policy.approve_destructive;
	set_approval_mode(cfg, NULL, out);
	return 0;
}

void
policy_server_clear(struct policy_server *s)
{
	if (s == NULL)
		return;
	free(s->label);
	free(s->url);
	names_free(s->headers, 1);
	names_free(s->ceiling, 0);
	names_free(s->floor_tools, 0);
	memset(s, 0, sizeof *s);
}

/* ---- tools ---- */

static const char *
tool_name(const json_t *tool)
{
	return json_string_value(json_object_get(tool, "name"));
}

/* MCP 2025-11-25 ToolAnnotations: readOnlyHint defaults to false, destructiveHint to true. */
static int
read_only(const json_t *tool)
{
	return json_is_true(json_object_get(json_object_get(tool, "annotations"), "readOnlyHint"));
}

static int
may_destroy(const json_t *tool)
{
	return !read_only(tool) &&
	       !json_is_false(json_object_get(json_object_get(tool, "annotations"), "destructiveHint"));
}

static int
list_has(char *const *names, const char *name)
{
	for (; names && *names; names++) {
		if (strcmp(*names, name) == 0)
			return 1;
	}
	return 0;
}

static int
json_names_have(const json_t *arr, const char *name)
{
	const json_t *v;
	size_t i;

	json_array_foreach ((json_t *)arr, i, v) {
		if (json_is_string(v) && strcmp(json_string_value(v), name) == 0)
			return 1;
	}
	return 0;
}

/*
 * A tool filter: a list of names, or {tool_names: [..]|null, read_only: bool|null}. *names is the
 * list or NULL (no name condition), *ro is 1 when read_only is true (false is no condition: it does
 * not mean "only tools that write"). -1 for any other shape.
 */
static int
filter_parse(const json_t *f, const json_t **names, int *ro)
{
	const json_t *tn, *r;

	*names = NULL;
	*ro = 0;
	if (json_is_array(f)) {
		*names = f;
		return 0;
	}
	if (!json_is_object(f))
		return -1;
	tn = json_object_get(f, "tool_names");
	r = json_object_get(f, "read_only");
	if ((tn && !json_is_null(tn) && !json_is_array(tn)) || (r && !json_is_null(r) && !json_is_boolean(r)))
		return -1;
	*names = json_is_array(tn) ? tn : NULL;
	*ro = json_is_true(r);
	return 0;
}

int
policy_tool_allowed(const struct policy_server *s, const json_t *tool)
{
	const char *name = tool_name(tool);
	const json_t *names;
	int ro;

	if (name == NULL)
		return 0;
	if (s->ceiling && !list_has(s->ceiling, name))
		return 0;
	if (s->allowed_tools == NULL || json_is_null(s->allowed_tools))
		return 1;
	if (filter_parse(s->allowed_tools, &names, &ro) < 0)
		return 0;
	if (names && !json_names_have(names, name))
		return 0;
	return !ro || read_only(tool);
}

/* require_approval.always: a name in the list, or (read_only: true) a tool that says it is
 * read-only. Over-matching here only asks for more approvals, so annotations may count. */
static int
always_matches(const json_t *f, const json_t *tool, const char *name)
{
	const json_t *names;
	int ro;

	if (f == NULL || json_is_null(f))
		return 0;
	if (filter_parse(f, &names, &ro) < 0)
		return 1;
	return (names && json_names_have(names, name)) || (ro && read_only(tool));
}

/* require_approval.never: only by name. read_only may narrow the list (a named tool must also say
 * it is read-only) but never stands alone: a server's claim must not waive approval. */
static int
never_matches(const json_t *f, const json_t *tool, const char *name)
{
	const json_t *names;
	int ro;

	if (f == NULL || json_is_null(f) || filter_parse(f, &names, &ro) < 0 || names == NULL)
		return 0;
	return json_names_have(names, name) && (!ro || read_only(tool));
}

int
policy_needs_approval(const struct policy_server *s, const json_t *tool)
{
	return policy_approval_reason(s, tool) != NULL;
}

const char *
policy_approval_reason(const struct policy_server *s, const json_t *tool)
{
	static const char by_request[] = "the request's require_approval";
	const char *name = tool_name(tool);
	const json_t *ra = s->require_approval;

	if (name == NULL)
		return "a tool without a name";
	if (s->floor_always)
		return "the server's require_approval floor (always)";
	if (list_has(s->floor_tools, name))
		return "the server's require_approval floor (this tool)";
	if (s->approve_destructive && may_destroy(tool))
		return "approve_destructive (the tool may be destructive)";
	if (json_is_string(ra))
		return strcmp(json_string_value(ra), "never") != 0 ? by_request : NULL;
	if (!json_is_object(ra) || always_matches(json_object_get(ra, "always"), tool, name))
		return by_request;
	return never_matches(json_object_get(ra, "never"), tool, name) ? NULL : by_request;
}

int64_t
policy_max_tool_calls(const struct config *cfg, int64_t requested)
{
	int64_t cap = cfg->mcp_policy.max_tool_calls;

	return requested < 0 || requested > cap ? cap : requested;
}
