/* Unit tests for daemon/redact.c: secrets in peer text replaced by "[redacted]". */
#include <stdlib.h>
#include <string.h>

#include "daemon/config.h"
#include "daemon/redact.h"
#include "daemon/util.h"
#include "tests/unit/t.h"

/* One table row: the secrets (NULL-terminated), the text, what it must become. */
struct rcase {
	const char *name;
	const char *secrets[4];
	const char *in, *out;
};

static const struct rcase cases[] = {
        {"no secret in text", {"sk-abcdef123", NULL}, "nothing to see here", "nothing to see here"},
        {"whole text", {"sk-abcdef123", NULL}, "sk-abcdef123", "[redacted]"},
        {"at the start", {"sk-abcdef123", NULL}, "sk-abcdef123 was sent", "[redacted] was sent"},
        {"at the end", {"sk-abcdef123", NULL}, "got Bearer sk-abcdef123", "got Bearer [redacted]"},
        {"several times",
         {"sk-abcdef123", NULL},
         "a sk-abcdef123 b sk-abcdef123 c",
         "a [redacted] b [redacted] c"},
        {"adjacent repeats are one mark",
         {"sk-abcdef123", NULL},
         "xsk-abcdef123sk-abcdef123y",
         "x[redacted]y"},
        {"a prefix of the secret is kept",
         {"sk-abcdef123", NULL},
         "sk-abcdef12 and sk-abcdef1234",
         "sk-abcdef12 and [redacted]4"},
        {"two secrets",
         {"token-one-1111", "token-two-2222", NULL},
         "token-two-2222/token-one-1111",
         "[redacted]/[redacted]"},
        /* Overlaps: the union of the matched bytes goes, no tail of either is left. */
        {"overlapping secrets",
         {"AAAAsecretBBBB", "secretBBBBCCCC", NULL},
         "<AAAAsecretBBBBCCCC>",
         "<[redacted]>"},
        {"one secret inside another",
         {"long-secret-value", "secret-v", NULL},
         "x long-secret-value y secret-v z",
         "x [redacted] y [redacted] z"},
        {"self-overlap", {"abababab", NULL}, "abababababab!", "[redacted]!"},
        /* The minimum length: shorter values are not secrets, and do not wreck the text. */
        {"short value ignored", {"1", "abc", "1234567", NULL}, "1 abc 1234567 11", "1 abc 1234567 11"},
        {"exactly the minimum", {"12345678", NULL}, "id 123456789", "id [redacted]9"},
        /* JSON-escaped forms: a peer that returns its request as JSON text. */
        {"json quote",
         {"pa\"ss\\word", NULL},
         "{\"auth\":\"pa\\\"ss\\\\word\"}",
         "{\"auth\":\"[redacted]\"}"},
        {"json slash both ways",
         {"abc/def+ghi=", NULL},
         "a abc/def+ghi= b abc\\/def+ghi= c",
         "a [redacted] b [redacted] c"},
        {"case matters", {"SeCrEt-ToKeN", NULL}, "secret-token", "secret-token"},
};

static struct redact *
set_of(const char *const *secrets)
{
	struct redact *r = redact_new();
	size_t i;

	for (i = 0; secrets[i]; i++)
		redact_add(r, secrets[i]);
	return r;
}

static void
test_table(void)
{
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct rcase *c = &cases[i];
		struct redact *r = set_of(c->secrets);
		char *got = redact_strdup(r, c->in);
		char *t = redact_text(r, c->in, strlen(c->in), NULL);

		if (strcmp(got, c->out) != 0)
			printf("case \"%s\"\n", c->name);
		T_STREQ(got, c->out);
		/* NULL exactly when nothing changed. */
		T((t == NULL) == (strcmp(c->in, c->out) == 0));
		free(got);
		free(t);
		redact_free(r);
	}
}

/* A secret that is the last bytes of a text that is not NUL-terminated: memmem must not read past. */
static void
test_end_of_buffer(void)
{
	struct redact *r = redact_new();
	char *heap = xmalloc(20), *t;
	size_t n = 0;

	redact_add(r, "tail-secret");
	memcpy(heap, "123456789tail-secret", 20); /* no NUL: ASan catches a read past */
	t = redact_text(r, heap, 20, &n);
	T_STREQ(t, "123456789[redacted]");
	T(n == strlen("123456789[redacted]"));
	free(t);
	/* Cut one byte short: the secret is no longer whole. */
	T(redact_text(r, heap, 19, NULL) == NULL);
	free(heap);
	redact_free(r);
}

static void
test_empty_set(void)
{
	struct redact *r = redact_new();
	json_t *v = json_pack("{s:s}", "a", "anything at all");
	char buf[32] = "anything at all";

	T(redact_empty(NULL));
	T(redact_empty(r));
	redact_add(r, "short");
	redact_add(r, NULL);
	redact_add(r, "");
	T(redact_empty(r));
	T(redact_text(r, "anything", 8, NULL) == NULL);
	T(redact_text(NULL, "anything", 8, NULL) == NULL);
	T(redact_inplace(NULL, buf, sizeof buf) == 0);
	T(redact_json(r, v) == v); /* shared, not copied */
	json_decref(v);
	json_decref(v);
	redact_free(r);
	redact_free(NULL);
}

static void
test_headers(void)
{
	static const char *const lines[] = {"Authorization: Bearer tok-0123456789",
	                                    "X-Api-Key:   key-abcdefgh", "X-Short: 1", NULL};
	struct redact *r = redact_new();
	char *got;

	redact_add_headers(r, lines);
	got = redact_strdup(r, "auth=Bearer tok-0123456789; bare tok-0123456789; k=key-abcdefgh; s=1");
	T_STREQ(got, "auth=[redacted]; bare [redacted]; k=[redacted]; s=1");
	free(got);
	/* Duplicates are kept once. */
	redact_add_headers(r, lines);
	got = redact_strdup(r, "tok-0123456789");
	T_STREQ(got, "[redacted]");
	free(got);
	redact_free(r);
}

/* The credentials a URL carries: user info and query values, raw and percent-decoded; short values,
 * the host, the path and the query's names are not secrets. */
static void
test_urls(void)
{
	static const struct {
		const char *url, *text, *want;
	} url_cases[] = {
	        {"https://h.example/mcp?token=s3cr3t-token-1&x=1", "echo s3cr3t-token-1 x=1 h.example/mcp",
	         "echo [redacted] x=1 h.example/mcp"},
	        {"https://h/mcp?a=one-two%2Bthree&b=four+five+six#frag",
	         "one-two%2Bthree one-two+three four five six", "[redacted] [redacted] [redacted]"},
	        {"https://alice:pass-word-99@h/mcp", "user alice:pass-word-99, or pass-word-99 alone",
	         "user [redacted], or [redacted] alone"},
	        {"https://h/mcp?short=abc&empty=&novalue", "abc short empty novalue", NULL},
	        {"https://h/mcp?t=%zzbad-escape%4", "%zzbad-escape%4", "[redacted]"},
	        {"no scheme?token=abcdefghijkl", "abcdefghijkl", NULL},
	};
	size_t i;

	for (i = 0; i < sizeof url_cases / sizeof url_cases[0]; i++) {
		struct redact *r = redact_new();
		char *got;

		redact_add_url(r, url_cases[i].url);
		got = redact_text(r, url_cases[i].text, strlen(url_cases[i].text), NULL);
		if (url_cases[i].want == NULL)
			T(got == NULL);
		else
			T_STREQ(got ? got : "(nothing redacted)", url_cases[i].want);
		free(got);
		redact_free(r);
	}
	redact_add_url(NULL, "https://h/?t=abcdefghijkl");
}

static void
test_config(void)
{
	struct config cfg;
	struct config_api_key key = {"ci", "apikey-0000-1111"};
	struct config_upstream up = {0};
	char *hdrs[] = {"Authorization: Bearer mcp-bearer-2222", NULL};
	struct config_mcp_server srv = {0};
	struct redact *r = redact_new();
	char *got;

	memset(&cfg, 0, sizeof cfg);
	up.name = "hf";
	up.api_key = "upstream-key-3333";
	srv.label = "docs";
	srv.headers = hdrs;
	cfg.api_keys = &key;
	cfg.n_api_keys = 1;
	cfg.upstreams = &up;
	cfg.n_upstreams = 1;
	cfg.mcp_servers = &srv;
	cfg.n_mcp_servers = 1;
	redact_add_config(r, &cfg);
	got = redact_strdup(r, "apikey-0000-1111 upstream-key-3333 mcp-bearer-2222");
	T_STREQ(got, "[redacted] [redacted] [redacted]");
	free(got);
	redact_free(r);
}

static void
test_inplace(void)
{
	struct redact *r = redact_new();
	char buf[24];

	redact_add(r, "12345678");
	/* Grows: "12345678" (8) becomes "[redacted]" (10); cut to the buffer. */
	strcpy(buf, "a12345678b12345678c");
	T(redact_inplace(r, buf, 23) == 2);
	T_STREQ(buf, "a[redacted]b[redacted]");
	/* The cut never splits a UTF-8 character. */
	strcpy(buf, "12345678 \xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9");
	T(redact_inplace(r, buf, 19) == 1);
	T_STREQ(buf, "[redacted] \xc3\xa9\xc3\xa9\xc3\xa9");
	strcpy(buf, "nothing here");
	T(redact_inplace(r, buf, sizeof buf) == 0);
	T_STREQ(buf, "nothing here");
	redact_free(r);
}

static void
test_json(void)
{
	struct redact *r = redact_new();
	json_t *v, *got, *same;
	char *s;

	redact_add(r, "sk-live-abcdef");
	v = json_pack("{s:s, s:[s, i, {s:s}], s:s, s:s}", "keep", "plain", "list", "x", 1, "inner",
	              "Bearer sk-live-abcdef", "sk-live-abcdef", "as key", "last", "also sk-live-abcdef");
	got = redact_json(r, v);
	T(got != v);
	s = json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS);
	T_STREQ(s, "{\"[redacted]\":\"as key\",\"keep\":\"plain\",\"last\":\"also [redacted]\","
	           "\"list\":[\"x\",1,{\"inner\":\"Bearer [redacted]\"}]}");
	free(s);
	/* The original is untouched (a cache may hold it) and unchanged parts are shared. */
	T_STREQ(json_string_value(json_object_get(json_array_get(json_object_get(v, "list"), 2), "inner")),
	        "Bearer sk-live-abcdef");
	T(json_object_get(got, "keep") == json_object_get(v, "keep"));
	json_decref(got);
	/* Nothing to do: the same reference back. */
	same = json_pack("[s, {s:s}]", "a", "b", "c");
	got = redact_json(r, same);
	T(got == same);
	json_decref(got);
	json_decref(same);
	/* A member of an item others hold, replaced in place. */
	redact_json_member(r, v, "last");
	T_STREQ(json_string_value(json_object_get(v, "last")), "also [redacted]");
	json_decref(v);
	redact_free(r);
}

/* A long text with many secrets and many near misses: each needle reads the text about once, so
 * this finishes at once; a scan that restarted per match would still be correct, so the count of
 * marks is what is checked (the speed is the comment's claim, not the test's). */
static void
test_long_text(void)
{
	struct redact *r = redact_new();
	size_t n = 1 << 20, i, marks = 0;
	char *text = xmalloc(n + 1), *got;
	const char *p;

	redact_add(r, "secret-AAAA");
	redact_add(r, "secret-BBBB");
	for (i = 0; i + 32 <= n; i += 32)
		memcpy(text + i,
		       (i / 32) % 3 == 0 ? "xx secret-AAAA xx secret-AAAB yy"
		                         : "zz secret-BBBB zz secret-ZZZZ ww",
		       32);
	text[i] = '\0';
	got = redact_strdup(r, text);
	for (p = got; (p = strstr(p, "[redacted]")) != NULL; p++)
		marks++;
	T(marks == i / 32);
	T(strstr(got, "secret-AAAA") == NULL && strstr(got, "secret-BBBB") == NULL);
	T(strstr(got, "secret-AAAB") != NULL);
	free(got);
	free(text);
	redact_free(r);
}

/* The reference: every byte covered by an occurrence of a secret (found at every offset, the slow
 * way), each maximal covered or touching run one mark. */
static char *
naive(const char *const *secrets, const char *in)
{
	size_t n = strlen(in), i, j, k, len;
	unsigned char *cov = calloc(n + 1, 1), *starts = calloc(n + 1, 1);
	char *out = calloc(n * 10 + 1, 1), *o = out;

	for (k = 0; secrets[k]; k++) {
		len = strlen(secrets[k]);
		for (i = 0; i + len <= n; i++)
			if (memcmp(in + i, secrets[k], len) == 0) {
				starts[i] = 1;
				for (j = i; j < i + len; j++)
					cov[j] = 1;
			}
	}
	for (i = 0; i < n;) {
		if (!cov[i]) {
			*o++ = in[i++];
			continue;
		}
		/* A run: covered bytes, and occurrences that start right where it ends. */
		while (i < n && cov[i])
			i++;
		while (i < n && starts[i] && cov[i])
			while (i < n && cov[i])
				i++;
		o += sprintf(o, "[redacted]");
	}
	free(cov);
	free(starts);
	return out;
}

/* Random texts over a two-letter alphabet, where secrets overlap themselves and each other all the
 * time, against the reference (the period shortcut and the run merging must agree with it). */
static void
test_against_reference(void)
{
	static const char *const sets[][4] = {
	        {"aaaaaaaa", NULL},
	        {"abababab", "babababa", NULL},
	        {"aabaaaba", NULL},
	        {"aabaabaa", "baabaaba", NULL},
	        {"abbaabba", "aaaaaaaaa", "abaababa", NULL},
	};
	unsigned seed = 12345;
	char text[200];
	size_t s, t, i, fails = 0;

	for (s = 0; s < sizeof sets / sizeof sets[0]; s++) {
		struct redact *r = set_of(sets[s]);

		for (t = 0; t < 300; t++) {
			size_t n = 1 + (seed = seed * 1103515245u + 12345u) % (sizeof text - 1);
			char *want, *got;

			for (i = 0; i < n; i++) {
				seed = seed * 1103515245u + 12345u;
				/* Mostly one letter, so long self-overlapping runs are common. */
				text[i] = (seed >> 16) % 5 == 0 ? 'b' : 'a';
			}
			text[n] = '\0';
			want = naive(sets[s], text);
			got = redact_strdup(r, text);
			if (strcmp(want, got) != 0 && fails++ < 3)
				printf("set %zu text %s\n want %s\n got  %s\n", s, text, want, got);
			free(want);
			free(got);
		}
		redact_free(r);
	}
	T(fails == 0);
}

int
main(void)
{
	test_table();
	test_end_of_buffer();
	test_empty_set();
	test_headers();
	test_config();
	test_urls();
	test_inplace();
	test_json();
	test_long_text();
	test_against_reference();
	return T_DONE();
}
