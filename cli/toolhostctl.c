/*
 * toolhostctl: the operator's terminal for toolhostd, over its Unix socket. The daemon decides who is
 * an operator (config "operators": the uid or gid of this process); a caller gets its 403.
 *
 *   toolhostctl [-s SOCKET] [-j] approvals [-S STATE] [-r RESPONSE_ID] [-n LIMIT]
 *   toolhostctl [-s SOCKET] [-j] approval ID
 *
 * The socket is -s, else $TOOLHOST_SOCKET, else /run/toolhost/toolhostd.sock. -j prints the daemon's
 * JSON as it came; without it, a table (approvals) or one field per line (approval). Exit status 0;
 * 1 when the daemon refused (its error message on stderr); 2 for a usage error, a daemon that cannot
 * be reached or an answer that is not JSON.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include "daemon/buf.h"
#include "daemon/util.h"

/* 1,000 approvals at well under a kilobyte each. */
#define CTL_MAX_ANSWER ((size_t)8 << 20)
#define CTL_TIMEOUT_MS 30000L

static const char usage[] =
        "usage: toolhostctl [-s SOCKET] [-j] approvals [-S STATE] [-r RESPONSE_ID] [-n LIMIT]\n"
        "       toolhostctl [-s SOCKET] [-j] approval ID\n"
        "  -s SOCKET  toolhostd's Unix socket (default $TOOLHOST_SOCKET, else /run/toolhost/toolhostd.sock)\n"
        "  -j         print the daemon's JSON\n"
        "  -S STATE   pending (default), approved, denied, running, done, expired, abandoned or all\n"
        "  -r ID      only the approvals of this response\n"
        "  -n LIMIT   at most this many, newest first (1..1000, default 100)\n";

static size_t
on_body(char *p, size_t size, size_t n, void *ud)
{
	return buf_append(ud, p, size * n) < 0 ? 0 : size * n;
}

/* GET path on the socket: the parsed answer and its status, or NULL (why on stderr). */
static json_t *
get(const char *sock, const char *path, long *status)
{
	CURL *h = curl_easy_init();
	struct buf body;
	char *url = xasprintf("http://localhost%s", path);
	json_t *answer = NULL;
	json_error_t jerr;
	CURLcode rc;

	buf_init(&body, CTL_MAX_ANSWER);
	if (h == NULL) {
		fprintf(stderr, "toolhostctl: curl could not start\n");
		goto out;
	}
	curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, sock);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, CTL_TIMEOUT_MS);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	rc = curl_easy_perform(h);
	if (rc != CURLE_OK) {
		fprintf(stderr, "toolhostctl: %s: %s\n", sock, curl_easy_strerror(rc));
		goto out;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
	answer = json_loadb(body.data ? body.data : "", body.len, 0, &jerr);
	if (answer == NULL)
		fprintf(stderr, "toolhostctl: the daemon's answer (HTTP %ld) is not JSON: %s\n", *status,
		        jerr.text);
out:
	curl_easy_cleanup(h);
	buf_free(&body);
	free(url);
	return answer;
}

static const char *
str(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "-";
}

static void
utc(const json_t *o, const char *key, char *out, size_t len)
{
	time_t t = (time_t)json_integer_value(json_object_get(o, key));
	struct tm tm;

	if (t <= 0 || gmtime_r(&t, &tm) == NULL || strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, len, "-");
}

static void
print_table(const json_t *list)
{
	const json_t *a;
	size_t i;
	char created[32];

	printf("%-37s %-9s %3s %-20s %-30s %-34s %s\n", "ID", "STATE", "V", "CALLER", "SERVER/TOOL",
	       "RESPONSE", "CREATED");
	json_array_foreach (json_object_get(list, "data"), i, a) {
		char tool[128];

		snprintf(tool, sizeof tool, "%s/%s", str(a, "server_label"), str(a, "tool"));
		utc(a, "created_at", created, sizeof created);
		printf("%-37s %-9s %3lld %-20s %-30s %-34s %s\n", str(a, "id"), str(a, "status"),
		       (long long)json_integer_value(json_object_get(a, "version")), str(a, "requested_by"),
		       tool, str(a, "response_id"), created);
	}
}

static void
print_one(const json_t *a)
{
	static const char *const keys[] = {"id",           "status", "version",      "response_id",
	                                   "server_label", "tool",   "requested_by", "arguments_sha256",
	                                   "decided_by",   "reason"};
	char when[32];
	size_t i;

	for (i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		const json_t *v = json_object_get(a, keys[i]);

		if (json_is_integer(v))
			printf("%-17s %lld\n", keys[i], (long long)json_integer_value(v));
		else
			printf("%-17s %s\n", keys[i], str(a, keys[i]));
	}
	utc(a, "created_at", when, sizeof when);
	printf("%-17s %s\n", "created_at", when);
	utc(a, "decided_at", when, sizeof when);
	printf("%-17s %s\n", "decided_at", when);
}

/* "&name=value", escaped; "" when value is NULL. */
static char *
arg(CURL *h, const char *name, const char *value)
{
	char *e, *s;

	if (value == NULL)
		return xstrdup("");
	e = curl_easy_escape(h, value, 0);
	s = xasprintf("&%s=%s", name, e ? e : "");
	curl_free(e);
	return s;
}

int
main(int argc, char **argv)
{
	const char *sock = getenv("TOOLHOST_SOCKET"), *state = NULL, *response = NULL, *limit = NULL, *cmd;
	int opt, raw = 0, rc = 2;
	json_t *answer = NULL;
	long status = 0;
	char *path = NULL;
	CURL *esc;

	if (sock == NULL || sock[0] == '\0')
		sock = "/run/toolhost/toolhostd.sock";
	while ((opt = getopt(argc, argv, "s:jS:r:n:h")) != -1) {
		switch (opt) {
		case 's':
			sock = optarg;
			break;
		case 'j':
			raw = 1;
			break;
		case 'S':
			state = optarg;
			break;
		case 'r':
			response = optarg;
			break;
		case 'n':
			limit = optarg;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			fputs(usage, stderr);
			return 2;
		}
	}
	cmd = optind < argc ? argv[optind] : NULL;
	if (cmd == NULL || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fputs(usage, stderr);
		return 2;
	}
	esc = curl_easy_init();
	if (strcmp(cmd, "approvals") == 0 && optind + 1 == argc) {
		char *s = arg(esc, "status", state), *r = arg(esc, "response_id", response),
		     *n = arg(esc, "limit", limit);
		char *q = xasprintf("%s%s%s", s, r, n);

		/* q is "" or "&a=b...": its first '&' becomes the '?'. */
		path = xasprintf("/v1/approvals%s%s", q[0] ? "?" : "", q[0] ? q + 1 : "");
		free(q);
		free(s);
		free(r);
		free(n);
	} else if (strcmp(cmd, "approval") == 0 && optind + 2 == argc && !state && !response && !limit) {
		char *id = curl_easy_escape(esc, argv[optind + 1], 0);

		path = xasprintf("/v1/approvals/%s", id ? id : "");
		curl_free(id);
	} else {
		fputs(usage, stderr);
		goto out;
	}
	answer = get(sock, path, &status);
	if (answer == NULL)
		goto out;
	if (status != 200) {
		const char *msg =
		        json_string_value(json_object_get(json_object_get(answer, "error"), "message"));

		fprintf(stderr, "toolhostctl: HTTP %ld: %s\n", status, msg ? msg : "(no message)");
		rc = 1;
		goto out;
	}
	if (raw) {
		json_dumpf(answer, stdout, JSON_INDENT(2));
		putchar('\n');
	} else if (strcmp(cmd, "approvals") == 0) {
		print_table(answer);
	} else {
		print_one(answer);
	}
	rc = 0;
out:
	json_decref(answer);
	free(path);
	curl_easy_cleanup(esc);
	curl_global_cleanup();
	return rc;
}
