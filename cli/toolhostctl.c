/*
 * toolhostctl: the operator's terminal for toolhostd, over its Unix socket. The daemon decides who is
 * an operator (config "operators": the uid or gid of this process); a caller gets its 403.
 *
 *   toolhostctl [-s SOCKET] [-j] approvals [-S STATE] [-r RESPONSE_ID] [-n LIMIT]
 *   toolhostctl [-s SOCKET] [-j] approval ID
 *   toolhostctl [-s SOCKET] [-j] approve ID [-d approve_once|approve_response|always] [-t TTL_S] [-V VERSION]
 *   toolhostctl [-s SOCKET] [-j] deny ID [-m MESSAGE] [-V VERSION]
 *   toolhostctl [-s SOCKET] [-j] rules
 *   toolhostctl [-s SOCKET] [-j] revoke RULE_ID
 *   toolhostctl [-s SOCKET] [-j] login-url [-b BASE_URL]
 *   toolhostctl [-s SOCKET] [-j] watch [-n COUNT]
 *
 * A decision carries the version of the approval it is about: -V, else the version read just before
 * (so a call that changed in between gets the daemon's 409, never a decision on what was not seen).
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

#include "cli/ctlwatch.h"
#include "daemon/buf.h"
#include "daemon/util.h"

/* 1,000 approvals at well under a kilobyte each. */
#define CTL_MAX_ANSWER ((size_t)8 << 20)
#define CTL_TIMEOUT_MS 30000L

static const char usage[] =
        "usage: toolhostctl [-s SOCKET] [-j] approvals [-S STATE] [-r RESPONSE_ID] [-n LIMIT]\n"
        "       toolhostctl [-s SOCKET] [-j] approval ID\n"
        "       toolhostctl [-s SOCKET] [-j] approve ID [-d DECISION] [-t TTL_S] [-V VERSION]\n"
        "       toolhostctl [-s SOCKET] [-j] deny ID [-m MESSAGE] [-V VERSION]\n"
        "       toolhostctl [-s SOCKET] [-j] rules\n"
        "       toolhostctl [-s SOCKET] [-j] revoke RULE_ID\n"
        "       toolhostctl [-s SOCKET] [-j] login-url [-b BASE_URL]\n"
        "       toolhostctl [-s SOCKET] [-j] watch [-n COUNT]\n"
        "  -s SOCKET  toolhostd's Unix socket (default $TOOLHOST_SOCKET, else /run/toolhost/toolhostd.sock)\n"
        "  -j         print the daemon's JSON\n"
        "  -S STATE   pending (default), approved, denied, running, done, expired, abandoned or all\n"
        "  -r ID      only the approvals of this response\n"
        "  -n LIMIT   at most this many, newest first (1..1000, default 100); watch: stop after COUNT "
        "events\n"
        "  -d DECISION  approve_once (default), approve_response (this tool, the rest of the response)\n"
        "             or always (a rule while the tool's definition stays the same)\n"
        "  -t TTL_S   how long an always-rule lasts (default: until revoked)\n"
        "  -m MESSAGE the operator's message to the model with a denial\n"
        "  -V VERSION the approval's version the decision is about (default: read it now)\n"
        "  -b URL     the page's address as the browser reaches it (default: the TCP listener's)\n";

static size_t
on_body(char *p, size_t size, size_t n, void *ud)
{
	return buf_append(ud, p, size * n) < 0 ? 0 : size * n;
}

/* method path on the socket, with body (JSON) or none: the parsed answer and its status, or NULL (why on
 * stderr). */
static json_t *
request(const char *sock, const char *method, const char *path, const json_t *send, long *status)
{
	struct curl_slist *hdrs = NULL;
	char *payload = send ? json_dumps(send, JSON_COMPACT) : NULL;
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
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	if (payload) {
		hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, payload);
	}
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
	curl_slist_free_all(hdrs);
	buf_free(&body);
	free(url);
	free(payload);
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
print_rules(const json_t *list)
{
	const json_t *r;
	size_t i;
	char created[32], expires[32];

	printf("%-37s %-30s %-14s %5s %-20s %-20s %s\n", "ID", "SERVER/TOOL", "DEFINITION", "HITS", "CREATED",
	       "EXPIRES", "BY");
	json_array_foreach (json_object_get(list, "data"), i, r) {
		char tool[128];

		snprintf(tool, sizeof tool, "%s/%s", str(r, "server_label"), str(r, "tool"));
		utc(r, "created_at", created, sizeof created);
		utc(r, "expires_at", expires, sizeof expires);
		printf("%-37s %-30s %-14.12s %5lld %-20s %-20s %s\n", str(r, "id"), tool,
		       str(r, "definition_sha256"), (long long)json_integer_value(json_object_get(r, "hits")),
		       created, json_integer_value(json_object_get(r, "expires_at")) ? expires : "never",
		       str(r, "created_by"));
	}
}

static void
print_one(const json_t *a)
{
	static const char *const keys[] = {"id",           "status", "version",      "response_id",
	                                   "server_label", "tool",   "requested_by", "arguments_sha256",
	                                   "decided_by",   "reason", "mode",         "decision"};
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

/* The daemon's refusal on stderr: 1. */
static int
refused(const json_t *answer, long status)
{
	const char *msg = json_string_value(json_object_get(json_object_get(answer, "error"), "message"));

	fprintf(stderr, "toolhostctl: HTTP %ld: %s\n", status, msg ? msg : "(no message)");
	return 1;
}

/* The version of approval path now, or -1 (why on stderr; *rc set). */
static long long
current_version(const char *sock, const char *path, int *rc)
{
	long status = 0;
	json_t *a = request(sock, "GET", path, NULL, &status);
	long long v = -1;

	if (a == NULL)
		*rc = 2;
	else if (status != 200)
		*rc = refused(a, status);
	else
		v = (long long)json_integer_value(json_object_get(a, "version"));
	json_decref(a);
	return v;
}

int
main(int argc, char **argv)
{
	const char *sock = getenv("TOOLHOST_SOCKET"), *state = NULL, *response = NULL, *limit = NULL, *cmd;
	const char *decision = NULL, *ttl = NULL, *message = NULL, *version = NULL, *base = NULL;
	int opt, raw = 0, rc = 2, nargs;
	json_t *answer = NULL, *send = NULL;
	const char *method = "GET";
	long status = 0;
	char *path = NULL;
	CURL *esc;

	if (sock == NULL || sock[0] == '\0')
		sock = "/run/toolhost/toolhostd.sock";
	/* "+": options end at the command, then the command's own options are read (below). */
	while ((opt = getopt(argc, argv, "+s:jh")) != -1) {
		switch (opt) {
		case 's':
			sock = optarg;
			break;
		case 'j':
			raw = 1;
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
	/* The command's options may come before or after its argument. */
	argv += optind;
	argc -= optind;
	optind = 0; /* glibc: start again (argv[0] is now the command) */
	nargs = 0;
	{
		char *pos[4];

		for (;;) {
			while ((opt = getopt(argc, argv, "+jS:r:n:d:t:m:V:b:")) != -1) {
				switch (opt) {
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
				case 'd':
					decision = optarg;
					break;
				case 't':
					ttl = optarg;
					break;
				case 'm':
					message = optarg;
					break;
				case 'V':
					version = optarg;
					break;
				case 'b':
					base = optarg;
					break;
				default:
					fputs(usage, stderr);
					return 2;
				}
			}
			if (optind >= argc)
				break;
			if (nargs == 4) {
				fputs(usage, stderr);
				return 2;
			}
			pos[nargs++] = argv[optind++];
		}
		for (opt = 0; opt < nargs; opt++)
			argv[opt] = pos[opt];
	}
	if (strcmp(cmd, "watch") == 0 && nargs == 0) {
		char *end = NULL;
		long count = limit ? strtol(limit, &end, 10) : 0;

		if (limit && (*end != '\0' || count < 1)) {
			fputs("toolhostctl: watch -n takes a positive count of events\n", stderr);
			return 2;
		}
		return ctlwatch_run(sock, raw, count);
	}
	esc = curl_easy_init();
	if (strcmp(cmd, "approvals") == 0 && nargs == 0) {
		char *st = arg(esc, "status", state), *r = arg(esc, "response_id", response),
		     *n = arg(esc, "limit", limit);
		char *q = xasprintf("%s%s%s", st, r, n);

		/* q is "" or "&a=b...": its first '&' becomes the '?'. */
		path = xasprintf("/v1/approvals%s%s", q[0] ? "?" : "", q[0] ? q + 1 : "");
		free(q);
		free(st);
		free(r);
		free(n);
	} else if ((strcmp(cmd, "approval") == 0 || strcmp(cmd, "approve") == 0 ||
	            strcmp(cmd, "deny") == 0) &&
	           nargs == 1) {
		char *id = curl_easy_escape(esc, argv[0], 0);

		path = xasprintf("/v1/approvals/%s", id ? id : "");
		curl_free(id);
	} else if (strcmp(cmd, "rules") == 0 && nargs == 0) {
		path = xstrdup("/v1/approvals/rules");
	} else if (strcmp(cmd, "login-url") == 0 && nargs == 0) {
		path = xstrdup("/v1/approvals/login");
		method = "POST";
		send = base ? json_pack("{s:s}", "base_url", base) : json_object();
	} else if (strcmp(cmd, "revoke") == 0 && nargs == 1) {
		char *id = curl_easy_escape(esc, argv[0], 0);

		path = xasprintf("/v1/approvals/rules/%s", id ? id : "");
		method = "DELETE";
		curl_free(id);
	} else {
		fputs(usage, stderr);
		goto out;
	}
	if (strcmp(cmd, "approve") == 0 || strcmp(cmd, "deny") == 0) {
		int deny = strcmp(cmd, "deny") == 0;
		long long v;
		char *end = NULL;

		if (version) {
			v = strtoll(version, &end, 10);
			if (*end != '\0' || v < 1) {
				fputs("toolhostctl: -V takes the approval's version, a positive integer\n",
				      stderr);
				goto out;
			}
		} else if ((v = current_version(sock, path, &rc)) < 0) {
			goto out;
		}
		send = json_pack("{s:s, s:I}", "decision",
		                 deny       ? "deny"
		                 : decision ? decision
		                            : "approve_once",
		                 "version", (json_int_t)v);
		if (deny && message)
			json_object_set_new(send, "message", json_string(message));
		if (!deny && ttl) {
			long long t = strtoll(ttl, &end, 10);

			if (*end != '\0' || t < 1) {
				fputs("toolhostctl: -t takes seconds, a positive integer\n", stderr);
				goto out;
			}
			json_object_set_new(send, "ttl_s", json_integer(t));
		}
		method = "POST";
	}
	answer = request(sock, method, path, send, &status);
	if (answer == NULL)
		goto out;
	if (status != 200) {
		rc = refused(answer, status);
		goto out;
	}
	if (raw) {
		json_dumpf(answer, stdout, JSON_INDENT(2));
		putchar('\n');
	} else if (strcmp(cmd, "approvals") == 0) {
		print_table(answer);
	} else if (strcmp(cmd, "rules") == 0) {
		print_rules(answer);
	} else if (strcmp(cmd, "revoke") == 0) {
		printf("revoked %s\n", str(answer, "id"));
	} else if (strcmp(cmd, "login-url") == 0) {
		/* The URL alone on stdout (for a script to open); it works once, for five minutes. */
		printf("%s\n", str(answer, "url"));
	} else {
		print_one(answer);
	}
	rc = 0;
out:
	json_decref(answer);
	json_decref(send);
	free(path);
	curl_easy_cleanup(esc);
	curl_global_cleanup();
	return rc;
}
