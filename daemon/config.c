#include "daemon/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon/log.h"
#include "daemon/util.h"

#define CONFIG_DEFAULT_SOCK     "/run/toolhost/toolhostd.sock"
#define CONFIG_DEFAULT_STORE    "/var/lib/toolhost/toolhostd.db"
#define CONFIG_DEFAULT_TCP_ADDR "127.0.0.1"
#define CONFIG_DEFAULT_TCP_PORT 8787
#define CONFIG_MAX_FILE         (1024 * 1024) /* the config file itself */
#define CONFIG_MAX_KEY          4096          /* one secret, from a file, the environment or the JSON */
#define CONFIG_MAX_API_KEYS     1024
#define CONFIG_MAX_UPSTREAMS    256
#define CONFIG_MAX_URL          2048
#define CONFIG_MAX_MODEL        256
#define CONFIG_MAX_NAME         32
#define CONFIG_MAX_MCP_SERVERS  256
#define CONFIG_MAX_MCP_HEADERS  32
#define CONFIG_MAX_MCP_LABEL    64
#define CONFIG_MAX_TOOL_NAMES   1024 /* one allowed_tools / require_approval list */
#define CONFIG_MAX_TOOL_NAME    256
#define CONFIG_MAX_REQUEST_URLS 64
#define CONFIG_MAX_SUN_PATH     (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)

/* Where error messages go; every message starts with the key path it is about. */
struct cfgctx {
	char *err;
	size_t errlen;
};

static void cerr(struct cfgctx *cx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
cerr(struct cfgctx *cx, const char *fmt, ...)
{
	va_list ap;

	if (cx->err == NULL || cx->errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(cx->err, cx->errlen, fmt, ap);
	va_end(ap);
}

/* A key from the file, made safe to print: bounded, control characters replaced. */
static const char *
printable(char *dst, size_t dstlen, const char *s)
{
	size_t i;

	for (i = 0; i + 1 < dstlen && s[i]; i++) {
		dst[i] = s[i];
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			dst[i] = '?';
	}
	dst[i] = '\0';
	return dst;
}

static int
has_ctl(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 1;
	}
	return 0;
}

/* Every key of obj must be in keys (NULL-terminated). base is the object's path, "" at the top. */
static int
check_keys(struct cfgctx *cx, json_t *obj, const char *base, const char *const *keys)
{
	const char *key;
	json_t *v;
	size_t i;
	char safe[80];

	if (!json_is_object(obj)) {
		cerr(cx, "%s: must be an object", base[0] ? base : "(top level)");
		return -1;
	}
	json_object_foreach (obj, key, v) {
		for (i = 0; keys[i]; i++) {
			if (strcmp(key, keys[i]) == 0)
				break;
		}
		if (keys[i] == NULL) {
			cerr(cx, "%s%s%s: unknown key", base, base[0] ? "." : "",
			     printable(safe, sizeof safe, key));
			return -1;
		}
	}
	return 0;
}

/* *out is the string at obj[key] (borrowed) or NULL when absent; -1 when not a string. */
static int
get_string(struct cfgctx *cx, json_t *obj, const char *base, const char *key, const char **out)
{
	json_t *v = json_object_get(obj, key);

	*out = NULL;
	if (v == NULL)
		return 0;
	if (!json_is_string(v)) {
		cerr(cx, "%s.%s: must be a string", base, key);
		return -1;
	}
	*out = json_string_value(v);
	return 0;
}

/* A string that, when present, must be non-empty, without control characters, at most max bytes. */
static int
get_text(struct cfgctx *cx, json_t *obj, const char *base, const char *key, size_t max, const char **out)
{
	size_t n;

	if (get_string(cx, obj, base, key, out) < 0)
		return -1;
	if (*out == NULL)
		return 0;
	n = strlen(*out);
	if (n == 0) {
		cerr(cx, "%s.%s: must not be empty", base, key);
		return -1;
	}
	if (n > max) {
		cerr(cx, "%s.%s: longer than %zu bytes", base, key, max);
		return -1;
	}
	if (has_ctl(*out, n)) {
		cerr(cx, "%s.%s: must not contain control characters", base, key);
		return -1;
	}
	return 0;
}

/* *out is left alone when the key is absent. */
static int
get_bool(struct cfgctx *cx, json_t *obj, const char *base, const char *key, int *out)
{
	json_t *v = json_object_get(obj, key);

	if (v == NULL)
		return 0;
	if (!json_is_boolean(v)) {
		cerr(cx, "%s.%s: must be true or false", base, key);
		return -1;
	}
	*out = json_is_true(v);
	return 0;
}

/* An integer in min..max. path is the whole key path. */
static int
int_in_range(struct cfgctx *cx, json_t *v, const char *path, json_int_t min, json_int_t max, json_int_t *out)
{
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
		cerr(cx, "%s: must be an integer from %lld to %lld", path, (long long)min, (long long)max);
		return -1;
	}
	*out = json_integer_value(v);
	return 0;
}

static int
valid_name(const char *s, size_t max)
{
	size_t n = strlen(s);

	return n >= 1 && n <= max &&
	       strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") == n;
}

static int
is_loopback(const char *s)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (inet_pton(AF_INET, s, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, s, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6);
	return 0;
}

static void
secret_free(char *s)
{
	if (s == NULL)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}

/*
 * A secret must be usable in an Authorization header: non-empty, bounded, no control characters
 * (a line break would let a key inject header lines). where says where it came from, for the message,
 * and never contains the value.
 */
static int
secret_check(struct cfgctx *cx, const char *path, const char *where, const char *s, size_t n)
{
	if (n == 0) {
		cerr(cx, "%s: %s is empty", path, where);
		return -1;
	}
	if (n > CONFIG_MAX_KEY) {
		cerr(cx, "%s: %s is longer than %d bytes", path, where, CONFIG_MAX_KEY);
		return -1;
	}
	if (has_ctl(s, n)) {
		cerr(cx, "%s: %s contains control characters", path, where);
		return -1;
	}
	return 0;
}

static int
secret_from_file(struct cfgctx *cx, const char *path, const char *file, char **out)
{
	char tmp[CONFIG_MAX_KEY + 1];
	struct stat st;
	size_t n = 0;
	ssize_t r;
	int fd, result = -1;

	/* O_NONBLOCK so that naming a FIFO cannot hang the daemon; only regular files are read. */
	fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		cerr(cx, "%s: cannot open %s: %s", path, file, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		cerr(cx, "%s: %s is not a regular file", path, file);
		goto done;
	}
	while (n < sizeof tmp) {
		r = read(fd, tmp + n, sizeof tmp - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			cerr(cx, "%s: cannot read %s: %s", path, file, strerror(errno));
			goto done;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (n > CONFIG_MAX_KEY) {
		cerr(cx, "%s: %s is larger than %d bytes", path, file, CONFIG_MAX_KEY);
		goto done;
	}
	while (n > 0 && (tmp[n - 1] == '\n' || tmp[n - 1] == '\r'))
		n--;
	if (secret_check(cx, path, file, tmp, n) < 0)
		goto done;
	*out = xstrndup(tmp, n);
	result = 0;
done:
	explicit_bzero(tmp, sizeof tmp);
	close(fd);
	return result;
}

/*
 * Reads the secret named by whichever of env_key, file_key, lit_key (NULL: not allowed) obj has.
 * *out stays NULL when none is given. Messages name the variable or file, never the value.
 */
static int
secret_load(struct cfgctx *cx, json_t *obj, const char *base, const char *env_key, const char *file_key,
            const char *lit_key, char **out)
{
	const char *env = NULL, *file = NULL, *lit = NULL, *val;
	char path[128], where[160];
	json_t *v;
	int given;

	*out = NULL;
	if (get_text(cx, obj, base, env_key, 256, &env) < 0 ||
	    get_text(cx, obj, base, file_key, 4096, &file) < 0)
		return -1;
	if (lit_key && get_string(cx, obj, base, lit_key, &lit) < 0)
		return -1;
	given = (env != NULL) + (file != NULL) + (lit != NULL);
	if (given > 1) {
		cerr(cx, "%s: give only one of %s, %s%s%s", base, env_key, file_key, lit_key ? ", " : "",
		     lit_key ? lit_key : "");
		return -1;
	}
	if (env) {
		snprintf(path, sizeof path, "%s.%s", base, env_key);
		val = getenv(env);
		if (val == NULL) {
			cerr(cx, "%s: environment variable %s is not set", path, env);
			return -1;
		}
		snprintf(where, sizeof where, "environment variable %s", env);
		if (secret_check(cx, path, where, val, strlen(val)) < 0)
			return -1;
		*out = xstrdup(val);
	} else if (file) {
		snprintf(path, sizeof path, "%s.%s", base, file_key);
		return secret_from_file(cx, path, file, out);
	} else if (lit) {
		snprintf(path, sizeof path, "%s.%s", base, lit_key);
		v = json_object_get(obj, lit_key);
		if (secret_check(cx, path, "the key", lit, json_string_length(v)) < 0)
			return -1;
		*out = xstrdup(lit);
		/* Best effort: wipe jansson's copy too. The string is jansson's own malloc'd buffer. */
		explicit_bzero((char *)lit, json_string_length(v));
	}
	return 0;
}

static int
load_ids(struct cfgctx *cx, json_t *arr, const char *path, unsigned *ids, size_t *n)
{
	char p[96];
	json_int_t id;
	json_t *v;
	size_t i;

	if (!json_is_array(arr)) {
		cerr(cx, "%s: must be an array of integers", path);
		return -1;
	}
	if (json_array_size(arr) > CONFIG_MAX_IDS) {
		cerr(cx, "%s: at most %d entries", path, CONFIG_MAX_IDS);
		return -1;
	}
	json_array_foreach (arr, i, v) {
		snprintf(p, sizeof p, "%s[%zu]", path, i);
		/* (uid_t)-1 means "no change" to chown() and never names a real user. */
		if (int_in_range(cx, v, p, 0, 4294967294LL, &id) < 0)
			return -1;
		ids[i] = (unsigned)id;
	}
	*n = json_array_size(arr);
	return 0;
}

static int
load_unix(struct cfgctx *cx, json_t *o, struct config *c)
{
	static const char *const keys[] = {"path", "mode", "allow_uids", "allow_gids", NULL};
	static const char base[] = "listen.unix";
	unsigned ids[CONFIG_MAX_IDS] = {0};
	const char *s;
	json_t *v;
	size_t i;

	if (check_keys(cx, o, base, keys) < 0 || get_text(cx, o, base, "path", 4096, &s) < 0)
		return -1;
	if (s) {
		free(c->unix_path);
		c->unix_path = xstrdup(s);
	}
	if (get_string(cx, o, base, "mode", &s) < 0)
		return -1;
	if (s) {
		if (strlen(s) != 4 || s[0] != '0' || strspn(s, "01234567") != 4 ||
		    strtoul(s, NULL, 8) < 0600) {
			cerr(cx, "%s.mode: must be an octal string from \"0600\" to \"0777\"", base);
			return -1;
		}
		c->unix_mode = (unsigned)strtoul(s, NULL, 8);
	}
	v = json_object_get(o, "allow_uids");
	if (v) {
		if (load_ids(cx, v, "listen.unix.allow_uids", ids, &c->n_allow_uids) < 0)
			return -1;
		for (i = 0; i < c->n_allow_uids; i++)
			c->allow_uids[i] = (uid_t)ids[i];
	}
	v = json_object_get(o, "allow_gids");
	if (v) {
		if (load_ids(cx, v, "listen.unix.allow_gids", ids, &c->n_allow_gids) < 0)
			return -1;
		for (i = 0; i < c->n_allow_gids; i++)
			c->allow_gids[i] = (gid_t)ids[i];
	}
	return 0;
}

static int
load_tcp(struct cfgctx *cx, json_t *o, struct config *c)
{
	static const char *const keys[] = {"address", "port", NULL};
	static const char base[] = "listen.tcp";
	const char *addr;
	json_int_t port = CONFIG_DEFAULT_TCP_PORT;
	json_t *v;

	if (check_keys(cx, o, base, keys) < 0 || get_text(cx, o, base, "address", 64, &addr) < 0)
		return -1;
	if (addr == NULL)
		addr = CONFIG_DEFAULT_TCP_ADDR;
	/* A literal only: a name could resolve to a public address; the TCP listener is for local tools. */
	if (!is_loopback(addr)) {
		cerr(cx, "%s.address: must be a loopback address literal (127.0.0.0/8 or ::1)", base);
		return -1;
	}
	v = json_object_get(o, "port");
	if (v && int_in_range(cx, v, "listen.tcp.port", 1, 65535, &port) < 0)
		return -1;
	c->tcp_address = xstrdup(addr);
	c->tcp_port = (unsigned)port;
	return 0;
}

static int
load_listen(struct cfgctx *cx, json_t *root, struct config *c)
{
	static const char *const keys[] = {"unix", "tcp", NULL};
	json_t *o = json_object_get(root, "listen"), *v;

	if (o == NULL)
		return 0;
	if (check_keys(cx, o, "listen", keys) < 0)
		return -1;
	v = json_object_get(o, "unix");
	if (v && load_unix(cx, v, c) < 0)
		return -1;
	v = json_object_get(o, "tcp");
	if (v && load_tcp(cx, v, c) < 0)
		return -1;
	return 0;
}

/* Operators are listed, never implied: not root, not the daemon's own user, never a TCP key. */
static int
load_operators(struct cfgctx *cx, json_t *root, struct config *c)
{
	static const char *const keys[] = {"uids", "gids", NULL};
	unsigned ids[CONFIG_MAX_IDS] = {0};
	json_t *o = json_object_get(root, "operators"), *v;
	size_t i;

	if (o == NULL)
		return 0;
	if (!json_is_object(o)) {
		cerr(cx, "operators: must be an object");
		return -1;
	}
	if (check_keys(cx, o, "operators", keys) < 0)
		return -1;
	v = json_object_get(o, "uids");
	if (v) {
		if (load_ids(cx, v, "operators.uids", ids, &c->n_operator_uids) < 0)
			return -1;
		for (i = 0; i < c->n_operator_uids; i++)
			c->operator_uids[i] = (uid_t)ids[i];
	}
	v = json_object_get(o, "gids");
	if (v) {
		if (load_ids(cx, v, "operators.gids", ids, &c->n_operator_gids) < 0)
			return -1;
		for (i = 0; i < c->n_operator_gids; i++)
			c->operator_gids[i] = (gid_t)ids[i];
	}
	return 0;
}

static int
load_api_keys(struct cfgctx *cx, json_t *root, struct config *c)
{
	static const char *const keys[] = {"name", "key_env", "key_file", "key", NULL};
	json_t *arr = json_object_get(root, "api_keys"), *o;
	struct config_api_key *k;
	const char *name;
	char base[48];
	size_t i, j;

	if (arr == NULL)
		return 0;
	if (!json_is_array(arr)) {
		cerr(cx, "api_keys: must be an array");
		return -1;
	}
	if (json_array_size(arr) > CONFIG_MAX_API_KEYS) {
		cerr(cx, "api_keys: at most %d entries", CONFIG_MAX_API_KEYS);
		return -1;
	}
	c->api_keys = xcalloc(json_array_size(arr), sizeof *c->api_keys);
	json_array_foreach (arr, i, o) {
		snprintf(base, sizeof base, "api_keys[%zu]", i);
		k = &c->api_keys[i];
		if (check_keys(cx, o, base, keys) < 0 || get_string(cx, o, base, "name", &name) < 0)
			return -1;
		if (name == NULL || !valid_name(name, CONFIG_MAX_API_KEY_NAME)) {
			cerr(cx, "%s.name: required, 1 to %d of A-Z a-z 0-9 _ . -", base,
			     CONFIG_MAX_API_KEY_NAME);
			return -1;
		}
		k->name = xstrdup(name);
		c->n_api_keys = i + 1;
		if (secret_load(cx, o, base, "key_env", "key_file", "key", &k->key) < 0)
			return -1;
		if (k->key == NULL) {
			cerr(cx, "%s: one of key_env, key_file or key is required", base);
			return -1;
		}
		/* Which caller made a request is logged by key name: two names for one key would lie. And
		 * the name is the caller identity that owns responses ("key=NAME"): two keys of one name
		 * would reach each other's responses. */
		for (j = 0; j < i; j++) {
			if (strcmp(c->api_keys[j].key, k->key) == 0) {
				cerr(cx, "%s: the same key as api_keys[%zu]", base, j);
				return -1;
			}
			if (strcmp(c->api_keys[j].name, k->name) == 0) {
				cerr(cx, "%s.name: the same name as api_keys[%zu] (a name is one caller)",
				     base, j);
				return -1;
			}
		}
	}
	return 0;
}

/* Checks an http(s) URL with a host, bounded, without spaces or control characters. The URL may
 * hold credentials, so messages do not quote it. */
static int
check_url(struct cfgctx *cx, const char *path, const char *url)
{
	const char *rest;
	size_t n = strlen(url);

	if (strncasecmp(url, "http://", 7) == 0)
		rest = url + 7;
	else if (strncasecmp(url, "https://", 8) == 0)
		rest = url + 8;
	else {
		cerr(cx, "%s: must start with http:// or https://", path);
		return -1;
	}
	if (rest[0] == '\0' || rest[0] == '/') {
		cerr(cx, "%s: has no host", path);
		return -1;
	}
	if (n > CONFIG_MAX_URL) {
		cerr(cx, "%s: longer than %d bytes", path, CONFIG_MAX_URL);
		return -1;
	}
	if (strpbrk(url, " ") || has_ctl(url, n)) {
		cerr(cx, "%s: must not contain spaces or control characters", path);
		return -1;
	}
	return 0;
}

static int
load_upstream(struct cfgctx *cx, json_t *o, const char *base, struct config_upstream *u)
{
	static const char *const keys[] = {"name",          "base_url",
	                                   "api_key_env",   "api_key_file",
	                                   "default",       "forward_caller_auth",
	                                   "default_model", "http2",
	                                   "ca_file",       NULL};
	const char *name, *url, *model, *ca;
	char path[96];
	size_t n;

	if (check_keys(cx, o, base, keys) < 0 || get_string(cx, o, base, "name", &name) < 0)
		return -1;
	if (name == NULL || !valid_name(name, CONFIG_MAX_NAME)) {
		cerr(cx, "%s.name: required, 1 to %d of A-Z a-z 0-9 _ . -", base, CONFIG_MAX_NAME);
		return -1;
	}
	u->name = xstrdup(name);

	if (get_string(cx, o, base, "base_url", &url) < 0)
		return -1;
	if (url == NULL) {
		cerr(cx, "%s.base_url: required", base);
		return -1;
	}
	snprintf(path, sizeof path, "%s.base_url", base);
	if (check_url(cx, path, url) < 0)
		return -1;
	n = strlen(url);
	while (n > 0 && url[n - 1] == '/')
		n--;
	u->base_url = xstrndup(url, n);

	if (secret_load(cx, o, base, "api_key_env", "api_key_file", NULL, &u->api_key) < 0)
		return -1;
	if (get_bool(cx, o, base, "default", &u->is_default) < 0 ||
	    get_bool(cx, o, base, "forward_caller_auth", &u->forward_caller_auth) < 0 ||
	    get_bool(cx, o, base, "http2", &u->http2) < 0 ||
	    get_text(cx, o, base, "default_model", CONFIG_MAX_MODEL, &model) < 0)
		return -1;
	if (model)
		u->default_model = xstrdup(model);
	/* HTTP/2 without TLS (prior knowledge) fails on every reused connection with Debian 12's
	 * libcurl 7.88 (fixed in curl 8.0), so it is offered over https only. */
	if (u->http2 && strncasecmp(u->base_url, "https://", 8) != 0) {
		cerr(cx, "%s.http2: needs an https:// base_url (HTTP/2 is negotiated by TLS ALPN)", base);
		return -1;
	}
	if (get_text(cx, o, base, "ca_file", 4096, &ca) < 0)
		return -1;
	if (ca) {
		if (access(ca, R_OK) != 0) {
			cerr(cx, "%s.ca_file: cannot read %s: %s", base, ca, strerror(errno));
			return -1;
		}
		u->ca_file = xstrdup(ca);
	}
	return 0;
}

static int
load_upstreams(struct cfgctx *cx, json_t *root, struct config *c)
{
	json_t *arr = json_object_get(root, "upstreams"), *o;
	size_t i, j, def = 0, ndef = 0;
	char base[48];

	if (arr == NULL || (json_is_array(arr) && json_array_size(arr) == 0)) {
		cerr(cx, "upstreams: at least one upstream is required");
		return -1;
	}
	if (!json_is_array(arr)) {
		cerr(cx, "upstreams: must be an array");
		return -1;
	}
	if (json_array_size(arr) > CONFIG_MAX_UPSTREAMS) {
		cerr(cx, "upstreams: at most %d entries", CONFIG_MAX_UPSTREAMS);
		return -1;
	}
	c->upstreams = xcalloc(json_array_size(arr), sizeof *c->upstreams);
	json_array_foreach (arr, i, o) {
		snprintf(base, sizeof base, "upstreams[%zu]", i);
		c->n_upstreams = i + 1;
		if (load_upstream(cx, o, base, &c->upstreams[i]) < 0)
			return -1;
		for (j = 0; j < i; j++) {
			if (strcmp(c->upstreams[j].name, c->upstreams[i].name) == 0) {
				cerr(cx, "%s.name: \"%s\" is already the name of upstreams[%zu]", base,
				     c->upstreams[i].name, j);
				return -1;
			}
		}
		if (c->upstreams[i].is_default) {
			if (ndef++ > 0) {
				cerr(cx, "%s.default: upstreams[%zu] is already the default; only one may be",
				     base, def);
				return -1;
			}
			def = i;
		}
	}
	if (c->n_upstreams == 1) {
		c->upstreams[0].is_default = 1;
	} else if (ndef == 0) {
		cerr(cx, "upstreams: with several upstreams exactly one must have \"default\": true");
		return -1;
	}
	return 0;
}

/* The limits, as a table: key, where it goes, its bounds. */
struct limit_spec {
	const char *key;
	size_t off;
	int is_size; /* size_t; otherwise unsigned */
	json_int_t min, max;
};

#define LIM_SZ(k, lo, hi)                                                                                    \
	{                                                                                                    \
#k, offsetof(struct config_limits, k), 1, lo, hi                                             \
	}
#define LIM_U(k, lo, hi)                                                                                     \
	{                                                                                                    \
#k, offsetof(struct config_limits, k), 0, lo, hi                                             \
	}
#define KIB 1024LL
#define MIB (1024LL * 1024)
#define GIB (1024LL * 1024 * 1024)
#define DAY 86400

static const struct limit_spec limit_specs[] = {
        LIM_SZ(max_body_bytes, KIB, GIB),
        LIM_SZ(max_header_bytes, KIB, MIB),
        LIM_U(header_timeout_s, 1, DAY),
        LIM_U(body_timeout_s, 1, DAY),
        LIM_SZ(min_body_rate_bytes_s, 0, GIB),
        LIM_U(request_timeout_s, 1, DAY),
        LIM_U(upstream_connect_timeout_s, 1, DAY),
        LIM_U(upstream_idle_timeout_s, 1, DAY),
        LIM_U(keepalive_s, 1, DAY),
        LIM_U(drain_timeout_s, 1, DAY),
        LIM_SZ(max_upstream_event_bytes, KIB, GIB),
        LIM_SZ(max_output_bytes, KIB, GIB),
        LIM_U(max_connections, 1, 1000000),
};

#define N_LIMITS (sizeof limit_specs / sizeof limit_specs[0])

/* Stores the numbers of o (the object at section) into dst by its table; keys are checked by the caller. */
static int
numbers_from(struct cfgctx *cx, json_t *o, const char *section, const struct limit_spec *specs, size_t n,
             void *dst)
{
	char path[64];
	json_int_t val;
	char *field;
	json_t *v;
	size_t i;

	for (i = 0; i < n; i++) {
		v = json_object_get(o, specs[i].key);
		if (v == NULL)
			continue;
		snprintf(path, sizeof path, "%s.%s", section, specs[i].key);
		if (int_in_range(cx, v, path, specs[i].min, specs[i].max, &val) < 0)
			return -1;
		field = (char *)dst + specs[i].off;
		if (specs[i].is_size)
			*(size_t *)(void *)field = (size_t)val;
		else
			*(unsigned *)(void *)field = (unsigned)val;
	}
	return 0;
}

/* Loads the numbers of section (an object of root, optional) into dst by its table. */
static int
load_numbers(struct cfgctx *cx, json_t *root, const char *section, const struct limit_spec *specs, size_t n,
             void *dst)
{
	const char *keys[16];
	json_t *o = json_object_get(root, section);
	size_t i;

	if (o == NULL)
		return 0;
	for (i = 0; i < n && i < sizeof keys / sizeof keys[0] - 1; i++)
		keys[i] = specs[i].key;
	keys[i] = NULL;
	if (check_keys(cx, o, section, keys) < 0)
		return -1;
	return numbers_from(cx, o, section, specs, n, dst);
}

static int
load_limits(struct cfgctx *cx, json_t *root, struct config *c)
{
	return load_numbers(cx, root, "limits", limit_specs, N_LIMITS, &c->limits);
}

/* The MCP client settings, as a table like the limits. */
#define MCP_SZ(k, lo, hi)                                                                                    \
	{                                                                                                    \
#k, offsetof(struct config_mcp, k), 1, lo, hi                                                \
	}
#define MCP_U(k, lo, hi)                                                                                     \
	{                                                                                                    \
#k, offsetof(struct config_mcp, k), 0, lo, hi                                                \
	}

static const struct limit_spec mcp_specs[] = {
        MCP_U(connect_timeout_ms, 100, 600000),
        MCP_U(request_timeout_ms, 100, (json_int_t)DAY * 1000),
        MCP_U(idle_evict_s, 1, DAY),
        MCP_U(ping_after_idle_s, 1, DAY),
        MCP_U(cache_ttl_s, 0, DAY),
        MCP_SZ(max_message_bytes, KIB, GIB),
        MCP_U(max_pages, 1, 10000),
};

#define N_MCP_SPECS (sizeof mcp_specs / sizeof mcp_specs[0])

/* The WebSocket mode's numbers, as a table like the limits ("enabled" is read apart). */
#define WS_SZ(k, lo, hi)                                                                                     \
	{                                                                                                    \
#k, offsetof(struct config_websocket, k), 1, lo, hi                                          \
	}
#define WS_U(k, lo, hi)                                                                                      \
	{                                                                                                    \
#k, offsetof(struct config_websocket, k), 0, lo, hi                                          \
	}

static const struct limit_spec ws_specs[] = {
        WS_SZ(max_message_bytes, KIB, GIB),
        WS_U(max_age_s, 1, (json_int_t)7 * DAY),
        WS_U(idle_timeout_s, 2, DAY),
        WS_U(queue_max, 0, 1024),
        WS_SZ(max_output_buffer_bytes, KIB, GIB),
        WS_SZ(cache_max_bytes, 0, GIB),
};

#define N_WS_SPECS (sizeof ws_specs / sizeof ws_specs[0])

static int
load_websocket(struct cfgctx *cx, json_t *root, struct config *c)
{
	static const char *const keys[] = {
	        "enabled",   "max_message_bytes",       "max_age_s",       "idle_timeout_s",
	        "queue_max", "max_output_buffer_bytes", "cache_max_bytes", NULL};
	json_t *o = json_object_get(root, "websocket"), *v;

	if (o == NULL)
		return 0;
	if (!json_is_object(o)) {
		cerr(cx, "websocket: must be an object");
		return -1;
	}
	if (check_keys(cx, o, "websocket", keys) < 0)
		return -1;
	v = json_object_get(o, "enabled");
	if (v && !json_is_boolean(v)) {
		cerr(cx, "websocket.enabled: must be true or false");
		return -1;
	}
	if (v)
		c->websocket.enabled = json_is_true(v);
	return numbers_from(cx, o, "websocket", ws_specs, N_WS_SPECS, &c->websocket);
}
_Static_assert(N_LIMITS < 16 && N_MCP_SPECS < 16, "load_numbers holds at most 15 keys");

static int
load_mcp(struct cfgctx *cx, json_t *root, struct config *c)
{
	return load_numbers(cx, root, "mcp", mcp_specs, N_MCP_SPECS, &c->mcp);
}

/* An HTTP header name: a token of RFC 9110. */
static int
header_name_ok(const char *s)
{
	return strlen(s) <= 128 && util_http_token(s);
}

static void
names_free(char **names)
{
	char **p;

	for (p = names; p && *p; p++)
		free(*p);
	free(names);
}

/*
 * A list of MCP tool names at path: an array of distinct non-empty strings. *out becomes a
 * NULL-terminated copy, non-NULL even when the list is empty (an empty ceiling admits no tool, which
 * is not the same as no ceiling). On error *out holds what was copied so far, for config_free().
 */
static int
load_names(struct cfgctx *cx, json_t *arr, const char *path, char ***out)
{
	char p[192], safe[80];
	const char *s;
	json_t *v;
	size_t i, j, n;

	if (!json_is_array(arr) || json_array_size(arr) > CONFIG_MAX_TOOL_NAMES) {
		cerr(cx, "%s: must be an array of at most %d tool names", path, CONFIG_MAX_TOOL_NAMES);
		return -1;
	}
	*out = xcalloc(json_array_size(arr) + 1, sizeof **out);
	json_array_foreach (arr, i, v) {
		snprintf(p, sizeof p, "%s[%zu]", path, i);
		if (!json_is_string(v) || json_string_length(v) == 0) {
			cerr(cx, "%s: must be a non-empty string", p);
			return -1;
		}
		s = json_string_value(v);
		n = json_string_length(v);
		if (n > CONFIG_MAX_TOOL_NAME) {
			cerr(cx, "%s: longer than %d bytes", p, CONFIG_MAX_TOOL_NAME);
			return -1;
		}
		if (has_ctl(s, n)) {
			cerr(cx, "%s: must not contain control characters", p);
			return -1;
		}
		for (j = 0; j < i; j++) {
			if (strcmp((*out)[j], s) == 0) {
				cerr(cx, "%s: \"%s\" is already listed at [%zu]", p,
				     printable(safe, sizeof safe, s), j);
				return -1;
			}
		}
		(*out)[i] = xstrdup(s);
	}
	return 0;
}

/* "approval", "no_operator" and "approval_expiry_s" of o (a server or mcp_policy); absent keys leave
 * their out-values as they are. */
static int
load_approval_mode(struct cfgctx *cx, json_t *o, const char *base, enum config_approval_mode *mode,
                   enum config_no_operator *no_op, unsigned *expiry_s)
{
	const char *s;
	char path[160];
	json_int_t val;
	json_t *v;

	if (get_string(cx, o, base, "approval", &s) < 0)
		return -1;
	if (s && strcmp(s, "caller") == 0) {
		*mode = CONFIG_APPROVAL_CALLER;
	} else if (s && strcmp(s, "operator") == 0) {
		*mode = CONFIG_APPROVAL_OPERATOR;
	} else if (s) {
		cerr(cx, "%s.approval: must be \"caller\" or \"operator\"", base);
		return -1;
	}
	if (get_string(cx, o, base, "no_operator", &s) < 0)
		return -1;
	if (s && strcmp(s, "deny") == 0) {
		*no_op = CONFIG_NO_OPERATOR_DENY;
	} else if (s && strcmp(s, "caller") == 0) {
		*no_op = CONFIG_NO_OPERATOR_CALLER;
	} else if (s) {
		cerr(cx, "%s.no_operator: must be \"deny\" or \"caller\"", base);
		return -1;
	}
	if ((v = json_object_get(o, "approval_expiry_s")) != NULL) {
		snprintf(path, sizeof path, "%s.approval_expiry_s", base);
		if (int_in_range(cx, v, path, 10, DAY, &val) < 0)
			return -1;
		*expiry_s = (unsigned)val;
	}
	return 0;
}

/* The operator's bounds on one server's tools: allowed_tools, require_approval, approve_destructive. */
static int
load_tool_policy(struct cfgctx *cx, json_t *o, const char *base, struct config_mcp_server *m)
{
	char path[160];
	json_t *v;

	if ((v = json_object_get(o, "allowed_tools")) != NULL) {
		snprintf(path, sizeof path, "%s.allowed_tools", base);
		if (load_names(cx, v, path, &m->allowed_tools) < 0)
			return -1;
	}
	if ((v = json_object_get(o, "require_approval")) != NULL) {
		snprintf(path, sizeof path, "%s.require_approval", base);
		if (json_is_array(v)) {
			if (load_names(cx, v, path, &m->approval_tools) < 0)
				return -1;
		} else if (json_is_string(v) && strcmp(json_string_value(v), "always") == 0) {
			m->approval_always = 1;
		} else {
			/* "never" has no meaning for a floor: leaving the key out lets the caller decide. */
			cerr(cx, "%s: must be \"always\" or an array of tool names", path);
			return -1;
		}
	}
	if (get_bool(cx, o, base, "approve_destructive", &m->approve_destructive) < 0)
		return -1;
	return load_approval_mode(cx, o, base, &m->approval, &m->no_operator, &m->approval_expiry_s);
}

static int
load_mcp_server(struct cfgctx *cx, json_t *o, const char *base, struct config_mcp_server *m)
{
	static const char *const keys[] = {"label",
	                                   "url",
	                                   "headers",
	                                   "bearer_env",
	                                   "bearer_file",
	                                   "bearer",
	                                   "timeout_ms",
	                                   "cache_ttl_s",
	                                   "allowed_tools",
	                                   "require_approval",
	                                   "approve_destructive",
	                                   "approval",
	                                   "approval_expiry_s",
	                                   "no_operator",
	                                   NULL};
	json_t *hdrs, *v;
	const char *label, *url, *name;
	char *bearer = NULL, path[160];
	json_int_t val;
	size_t n = 0;

	if (check_keys(cx, o, base, keys) < 0 || get_string(cx, o, base, "label", &label) < 0)
		return -1;
	if (label == NULL || strlen(label) > CONFIG_MAX_MCP_LABEL || strchr(label, '.') ||
	    !valid_name(label, 64)) {
		cerr(cx, "%s.label: required, 1 to %d of A-Z a-z 0-9 _ -", base, CONFIG_MAX_MCP_LABEL);
		return -1;
	}
	m->label = xstrdup(label);
	if (get_string(cx, o, base, "url", &url) < 0)
		return -1;
	snprintf(path, sizeof path, "%s.url", base);
	if (url == NULL) {
		cerr(cx, "%s: required", path);
		return -1;
	}
	if (check_url(cx, path, url) < 0)
		return -1;
	m->url = xstrdup(url);
	hdrs = json_object_get(o, "headers");
	if (hdrs && (!json_is_object(hdrs) || json_object_size(hdrs) > CONFIG_MAX_MCP_HEADERS)) {
		cerr(cx, "%s.headers: must be an object of at most %d string values", base,
		     CONFIG_MAX_MCP_HEADERS);
		return -1;
	}
	m->headers = xcalloc(json_object_size(hdrs) + 2, sizeof *m->headers);
	json_object_foreach (hdrs, name, v) {
		char safe[80];

		snprintf(path, sizeof path, "%s.headers.%s", base, printable(safe, sizeof safe, name));
		if (!header_name_ok(name)) {
			cerr(cx, "%s: not a valid header name", path);
			return -1;
		}
		if (!json_is_string(v) ||
		    secret_check(cx, path, "the value", json_string_value(v), json_string_length(v)) < 0) {
			if (!json_is_string(v))
				cerr(cx, "%s: must be a string", path);
			return -1;
		}
		m->headers[n++] = xasprintf("%s: %s", name, json_string_value(v));
	}
	if (secret_load(cx, o, base, "bearer_env", "bearer_file", "bearer", &bearer) < 0)
		return -1;
	if (bearer) {
		size_t i;

		for (i = 0; i < n; i++) {
			if (strncasecmp(m->headers[i], "Authorization:", 14) == 0) {
				cerr(cx,
				     "%s: give the token either as a bearer_* key or as "
				     "headers.Authorization",
				     base);
				secret_free(bearer);
				return -1;
			}
		}
		m->headers[n++] = xasprintf("Authorization: Bearer %s", bearer);
		secret_free(bearer);
	}
	if ((v = json_object_get(o, "timeout_ms")) != NULL) {
		snprintf(path, sizeof path, "%s.timeout_ms", base);
		if (int_in_range(cx, v, path, 100, (json_int_t)DAY * 1000, &val) < 0)
			return -1;
		m->timeout_ms = (unsigned)val;
	}
	if ((v = json_object_get(o, "cache_ttl_s")) != NULL) {
		snprintf(path, sizeof path, "%s.cache_ttl_s", base);
		if (int_in_range(cx, v, path, 0, DAY, &val) < 0)
			return -1;
		m->cache_ttl_s = val == 0 ? -1 : (int)val;
	}
	return load_tool_policy(cx, o, base, m);
}

static int
load_mcp_servers(struct cfgctx *cx, json_t *root, struct config *c)
{
	json_t *arr = json_object_get(root, "mcp_servers"), *o;
	char base[48];
	size_t i, j;

	if (arr == NULL)
		return 0;
	if (!json_is_array(arr) || json_array_size(arr) > CONFIG_MAX_MCP_SERVERS) {
		cerr(cx, "mcp_servers: must be an array of at most %d servers", CONFIG_MAX_MCP_SERVERS);
		return -1;
	}
	c->mcp_servers = xcalloc(json_array_size(arr), sizeof *c->mcp_servers);
	json_array_foreach (arr, i, o) {
		snprintf(base, sizeof base, "mcp_servers[%zu]", i);
		c->n_mcp_servers = i + 1;
		if (load_mcp_server(cx, o, base, &c->mcp_servers[i]) < 0)
			return -1;
		for (j = 0; j < i; j++) {
			if (strcmp(c->mcp_servers[j].label, c->mcp_servers[i].label) == 0) {
				cerr(cx, "%s.label: \"%s\" is already the label of mcp_servers[%zu]", base,
				     c->mcp_servers[i].label, j);
				return -1;
			}
		}
	}
	return 0;
}

/*
 * A request's server_url is admitted when it starts with an allow_request_urls prefix. A prefix that
 * stops inside the host ("https://a.example") would also admit "https://a.example.evil.test/", one
 * with a partial port ("http://h:80") port 8080, and one with user info is a credential in the wrong
 * place. So the host must be complete: followed by "/", or by ":" alone (any port), or by ":port/".
 * check_url() has run, so the scheme and a host are there.
 */
static int
check_url_prefix(struct cfgctx *cx, const char *path, const char *url)
{
	const char *p = strstr(url, "://") + 3, *end;
	size_t n;

	if (memchr(p, '@', strcspn(p, "/?#"))) {
		cerr(cx, "%s: must not hold user info", path);
		return -1;
	}
	if (*p == '[') {
		end = strchr(p, ']');
		n = end ? (size_t)(end - p) + 1 : 0;
	} else {
		n = strcspn(p, ":/?#");
	}
	if (n == 0)
		goto bad;
	p += n;
	if (*p == '/')
		return 0;
	if (*p == ':') {
		p++;
		if (*p == '\0')
			return 0;
		n = strspn(p, "0123456789");
		if (n >= 1 && n <= 5 && p[n] == '/')
			return 0;
	}
bad:
	cerr(cx,
	     "%s: must end its host with \"/\", or with \":\" for any port, and a port with \"/\" "
	     "(e.g. \"https://mcp.example.com/\" or \"http://127.0.0.1:\")",
	     path);
	return -1;
}

/* The numbers of "mcp_policy", as a table like the limits. */
#define POL_U(k, lo, hi)                                                                                     \
	{                                                                                                    \
#k, offsetof(struct config_mcp_policy, k), 0, lo, hi                                         \
	}

static const struct limit_spec policy_specs[] = {
        POL_U(max_tool_calls, 1, 10000),
        POL_U(max_turns, 1, 1000),
        POL_U(audit_retention_days, 1, 3650),
        POL_U(approval_json_wait_s, 10, DAY),
};

#define N_POLICY_SPECS (sizeof policy_specs / sizeof policy_specs[0])

static int
load_mcp_policy(struct cfgctx *cx, json_t *root, struct config *c)
{
	static const char *const keys[] = {"allow_request_urls",
	                                   "max_tool_calls",
	                                   "max_turns",
	                                   "approve_destructive",
	                                   "audit_retention_days",
	                                   "approval",
	                                   "approval_expiry_s",
	                                   "no_operator",
	                                   "approval_json_wait_s",
	                                   NULL};
	static const char base[] = "mcp_policy";
	json_t *o = json_object_get(root, base), *arr, *v;
	char **urls;
	char path[64];
	size_t i;

	if (o == NULL)
		return 0;
	if (check_keys(cx, o, base, keys) < 0 ||
	    numbers_from(cx, o, base, policy_specs, N_POLICY_SPECS, &c->mcp_policy) < 0 ||
	    get_bool(cx, o, base, "approve_destructive", &c->mcp_policy.approve_destructive) < 0 ||
	    load_approval_mode(cx, o, base, &c->mcp_policy.approval, &c->mcp_policy.no_operator,
	                       &c->mcp_policy.approval_expiry_s) < 0)
		return -1;
	arr = json_object_get(o, "allow_request_urls");
	if (arr == NULL)
		return 0;
	if (!json_is_array(arr) || json_array_size(arr) > CONFIG_MAX_REQUEST_URLS) {
		cerr(cx, "%s.allow_request_urls: must be an array of at most %d URL prefixes", base,
		     CONFIG_MAX_REQUEST_URLS);
		return -1;
	}
	/* Empty is the same as absent: request URLs are refused. */
	if (json_array_size(arr) == 0)
		return 0;
	urls = xcalloc(json_array_size(arr) + 1, sizeof *urls);
	c->mcp_policy.allow_request_urls = urls;
	json_array_foreach (arr, i, v) {
		snprintf(path, sizeof path, "%s.allow_request_urls[%zu]", base, i);
		if (!json_is_string(v)) {
			cerr(cx, "%s: must be a string", path);
			return -1;
		}
		if (check_url(cx, path, json_string_value(v)) < 0 ||
		    check_url_prefix(cx, path, json_string_value(v)) < 0)
			return -1;
		urls[i] = xstrdup(json_string_value(v));
	}
	return 0;
}

static int
load_store(struct cfgctx *cx, json_t *root, struct config *c)
{
	static const char *const keys[] = {"path", NULL};
	json_t *o = json_object_get(root, "store");
	const char *s;

	if (o == NULL)
		return 0;
	if (check_keys(cx, o, "store", keys) < 0 || get_text(cx, o, "store", "path", 4096, &s) < 0)
		return -1;
	if (s) {
		free(c->store_path);
		c->store_path = xstrdup(s);
	}
	return 0;
}

static int
load_log_level(struct cfgctx *cx, json_t *root, struct config *c)
{
	json_t *v = json_object_get(root, "log_level");
	int level;

	if (v == NULL)
		return 0;
	level = json_is_string(v) ? log_level_parse(json_string_value(v)) : -1;
	if (level < 0) {
		cerr(cx, "log_level: must be one of \"error\", \"warning\", \"info\", \"debug\"");
		return -1;
	}
	c->log_level = level;
	return 0;
}

void
config_defaults(struct config *out)
{
	const char *rd = getenv("RUNTIME_DIRECTORY");
	size_t n;

	memset(out, 0, sizeof *out);
	out->refs = 1;
	/* systemd joins several RuntimeDirectory= entries with ':'; the socket goes in the first. */
	n = rd ? strcspn(rd, ":") : 0;
	if (n > 0)
		out->unix_path = xasprintf("%.*s/toolhostd.sock", (int)n, rd);
	else
		out->unix_path = xstrdup(CONFIG_DEFAULT_SOCK);
	out->unix_mode = 0660;
	out->store_path = xstrdup(CONFIG_DEFAULT_STORE);
	out->limits.max_body_bytes = (size_t)8 * 1024 * 1024;
	out->limits.max_header_bytes = 16384;
	out->limits.header_timeout_s = 10;
	out->limits.body_timeout_s = 30;
	out->limits.min_body_rate_bytes_s = 1024;
	out->limits.request_timeout_s = 600;
	out->limits.upstream_connect_timeout_s = 10;
	out->limits.upstream_idle_timeout_s = 120;
	out->limits.keepalive_s = 15;
	out->limits.drain_timeout_s = 10;
	out->limits.max_upstream_event_bytes = (size_t)1024 * 1024;
	out->limits.max_output_bytes = (size_t)16 * 1024 * 1024;
	out->limits.max_connections = 20000;
	out->mcp.connect_timeout_ms = 5000;
	out->mcp.request_timeout_ms = 60000;
	out->mcp.idle_evict_s = 300;
	out->mcp.ping_after_idle_s = 60;
	out->mcp.cache_ttl_s = 60;
	out->mcp.max_message_bytes = (size_t)8 * 1024 * 1024;
	out->mcp.max_pages = 100;
	out->mcp_policy.max_tool_calls = 64;
	out->mcp_policy.max_turns = 16;
	out->mcp_policy.audit_retention_days = 30;
	out->mcp_policy.approval = CONFIG_APPROVAL_CALLER;
	out->mcp_policy.approval_expiry_s = 900;
	out->mcp_policy.no_operator = CONFIG_NO_OPERATOR_DENY;
	out->mcp_policy.approval_json_wait_s = 540;
	out->websocket.enabled = 1;
	out->websocket.max_message_bytes = (size_t)32 * 1024 * 1024;
	out->websocket.max_age_s = 3600;
	out->websocket.idle_timeout_s = 300;
	out->websocket.queue_max = 8;
	out->websocket.max_output_buffer_bytes = (size_t)16 * 1024 * 1024;
	out->websocket.cache_max_bytes = (size_t)64 * 1024 * 1024;
	out->log_level = LOG_LVL_INFO;
}

/*
 * jansson's message without its " near '...'" part, which could quote a secret from the file; only
 * for a duplicate key is it kept, as it names the key.
 */
static void
json_err(struct cfgctx *cx, const json_error_t *je)
{
	char text[JSON_ERROR_TEXT_LENGTH];
	char *near;

	printable(text, sizeof text, je->text);
	near = strstr(text, " near ");
	if (near && strncmp(text, "duplicate object key", 20) != 0)
		*near = '\0';
	cerr(cx, "(json) line %d column %d: %s", je->line, je->column, text);
}

int
config_load_string(const char *json, size_t len, struct config *out, char *err, size_t errlen)
{
	static const char *const keys[] = {"listen",    "api_keys",  "upstreams",   "store",
	                                   "limits",    "mcp",       "mcp_servers", "mcp_policy",
	                                   "log_level", "operators", "websocket",   NULL};
	struct cfgctx cx = {err, errlen};
	struct config c;
	json_error_t je;
	json_t *root;
	int result = -1;

	if (err && errlen)
		err[0] = '\0';
	config_defaults(&c);
	root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
	if (root == NULL) {
		json_err(&cx, &je);
		goto done;
	}
	if (check_keys(&cx, root, "", keys) < 0 || load_listen(&cx, root, &c) < 0 ||
	    load_api_keys(&cx, root, &c) < 0 || load_upstreams(&cx, root, &c) < 0 ||
	    load_store(&cx, root, &c) < 0 || load_limits(&cx, root, &c) < 0 || load_mcp(&cx, root, &c) < 0 ||
	    load_mcp_servers(&cx, root, &c) < 0 || load_mcp_policy(&cx, root, &c) < 0 ||
	    load_log_level(&cx, root, &c) < 0 || load_operators(&cx, root, &c) < 0 ||
	    load_websocket(&cx, root, &c) < 0)
		goto done;
	if (strlen(c.unix_path) > CONFIG_MAX_SUN_PATH) {
		cerr(&cx, "listen.unix.path: longer than %zu bytes (a socket path limit)%s",
		     CONFIG_MAX_SUN_PATH,
		     json_object_get(json_object_get(json_object_get(root, "listen"), "unix"), "path")
		             ? ""
		             : "; the default comes from RUNTIME_DIRECTORY");
		goto done;
	}
	if (c.tcp_address && c.n_api_keys == 0) {
		cerr(&cx, "api_keys: at least one key is required when listen.tcp is set");
		goto done;
	}
	result = 0;
done:
	json_decref(root);
	if (result == 0) {
		*out = c;
	} else {
		config_free(&c);
		memset(out, 0, sizeof *out);
	}
	return result;
}

int
config_load_file(const char *path, struct config *out, char *err, size_t errlen)
{
	struct cfgctx cx = {err, errlen};
	struct stat st;
	char *text = NULL;
	size_t n = 0;
	ssize_t r;
	int fd, result = -1;

	memset(out, 0, sizeof *out);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		cerr(&cx, "%s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		cerr(&cx, "%s: not a regular file", path);
		goto done;
	}
	text = xmalloc(CONFIG_MAX_FILE + 1);
	while (n < CONFIG_MAX_FILE + 1) {
		r = read(fd, text + n, CONFIG_MAX_FILE + 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			cerr(&cx, "%s: cannot read: %s", path, strerror(errno));
			goto done;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (n > (size_t)CONFIG_MAX_FILE) {
		cerr(&cx, "%s: larger than %d bytes", path, CONFIG_MAX_FILE);
		goto done;
	}
	result = config_load_string(text, n, out, err, errlen);
done:
	if (text) {
		/* The file may hold literal keys. */
		explicit_bzero(text, n);
		free(text);
	}
	close(fd);
	return result;
}

struct config *
config_hold(struct config *c)
{
	if (c)
		c->refs++;
	return c;
}

void
config_release(struct config *c)
{
	if (c == NULL || --c->refs > 0)
		return;
	config_free(c);
	free(c);
}

void
config_free(struct config *c)
{
	size_t i;

	if (c == NULL)
		return;
	free(c->unix_path);
	free(c->tcp_address);
	for (i = 0; i < c->n_api_keys; i++) {
		free(c->api_keys[i].name);
		secret_free(c->api_keys[i].key);
	}
	free(c->api_keys);
	for (i = 0; i < c->n_upstreams; i++) {
		free(c->upstreams[i].name);
		free(c->upstreams[i].base_url);
		secret_free(c->upstreams[i].api_key);
		free(c->upstreams[i].default_model);
		free(c->upstreams[i].ca_file);
	}
	free(c->upstreams);
	for (i = 0; i < c->n_mcp_servers; i++) {
		char **h;

		free(c->mcp_servers[i].label);
		free(c->mcp_servers[i].url);
		for (h = c->mcp_servers[i].headers; h && *h; h++)
			secret_free(*h);
		free(c->mcp_servers[i].headers);
		names_free(c->mcp_servers[i].allowed_tools);
		names_free(c->mcp_servers[i].approval_tools);
	}
	free(c->mcp_servers);
	names_free(c->mcp_policy.allow_request_urls);
	free(c->store_path);
	/* A second config_free() is then harmless. */
	memset(c, 0, sizeof *c);
}

const struct config_upstream *
config_upstream_find(const struct config *c, const char *name)
{
	size_t i;

	for (i = 0; i < c->n_upstreams; i++) {
		if (name ? strcmp(c->upstreams[i].name, name) == 0 : c->upstreams[i].is_default)
			return &c->upstreams[i];
	}
	return NULL;
}

const struct config_mcp_server *
config_mcp_server_find(const struct config *c, const char *label)
{
	size_t i;

	for (i = 0; label && i < c->n_mcp_servers; i++)
		if (strcmp(c->mcp_servers[i].label, label) == 0)
			return &c->mcp_servers[i];
	return NULL;
}

int
config_is_operator(const struct config *c, uid_t uid, gid_t gid)
{
	size_t i;

	for (i = 0; i < c->n_operator_uids; i++)
		if (c->operator_uids[i] == uid)
			return 1;
	for (i = 0; i < c->n_operator_gids; i++)
		if (c->operator_gids[i] == gid)
			return 1;
	return 0;
}
