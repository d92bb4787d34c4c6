/*
 * test_compact: util_hmac_sha256 against RFC 4231, the compaction token (exact format for a known key,
 * round trips, every one-byte change, deletion and insertion refused, wrong key, truncation, tokens
 * that carry a valid MAC over a malformed body, the length cap and its UTF-8 cut), the instruction
 * text and the CompactResource's shape.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "api/compact.h"
#include "daemon/util.h"
#include "tests/unit/t.h"

static unsigned char key[COMPACT_KEY_BYTES];

static void
hex(const unsigned char *p, size_t n, char *out)
{
	size_t i;

	for (i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", p[i]);
}

/* RFC 4231 test cases 1 and 2, and the empty key and message (a Python-computed value). */
static void
test_hmac(void)
{
	unsigned char mac[32], k1[20];
	char h[65];

	util_hmac_sha256("Jefe", 4, "what do ya want for nothing?", 28, mac);
	hex(mac, 32, h);
	T_STREQ(h, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");

	memset(k1, 0x0b, sizeof k1);
	util_hmac_sha256(k1, sizeof k1, "Hi There", 8, mac);
	hex(mac, 32, h);
	T_STREQ(h, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");

	util_hmac_sha256(NULL, 0, NULL, 0, mac);
	hex(mac, 32, h);
	T_STREQ(h, "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
	util_hmac_sha256("", 0, "", 0, mac);
	hex(mac, 32, h);
	T_STREQ(h, "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

static void
test_instruction(void)
{
	const char *p = "Summarize the conversation so far";

	T(strncmp(compact_instruction, p, strlen(p)) == 0);
	T(strstr(compact_instruction, "preamble") != NULL);
	T(strstr(compact_instruction, "tool result") != NULL);
}

/* body + "." + its MAC under key: a token whose MAC is right whatever the body holds. */
static char *
forge(const char *body)
{
	unsigned char mac[32];
	char h[65];

	util_hmac_sha256(key, sizeof key, body, strlen(body), mac);
	hex(mac, 32, h);
	return xasprintf("%s.%s", body, h);
}

static int
opens_to(const char *token, const char *want)
{
	char *got = NULL;
	int ok = compact_open(key, token, &got) == 0 && got && strcmp(got, want) == 0;

	free(got);
	return ok;
}

static int
refused(const char *token)
{
	static char untouched[] = "untouched";
	char *got = untouched;
	int rc = compact_open(key, token, &got);

	if (got != untouched)
		free(got);
	return rc == -1 && got == untouched;
}

static void
test_roundtrip(void)
{
	static const char *const texts[] = {
	        "hello",
	        "",
	        "a",
	        "ab",
	        "abc",
	        "abcd",
	        "h\xc3\xa9llo \xe2\x86\x92 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80",
	        "line\nbreak \"quotes\" and \\ and \x01\x7f"};
	char *tok, *got;
	size_t i;

	/* The exact token for a known key (computed independently with Python's hmac module). */
	tok = compact_seal(key, "hello", 5);
	T_STREQ(tok, "thc1.aGVsbG8=.99c493e84ed591a38ea790f6a109a539fd1f303e3fb636b2ae9112d16f9be211");
	free(tok);

	for (i = 0; i < sizeof texts / sizeof texts[0]; i++) {
		tok = compact_seal(key, texts[i], strlen(texts[i]));
		T(tok != NULL && strncmp(tok, "thc1.", 5) == 0);
		T(opens_to(tok, texts[i]));
		free(tok);
	}

	/* len is honoured, not strlen. */
	tok = compact_seal(key, "hello world", 5);
	T(opens_to(tok, "hello"));
	free(tok);
	/* NULL is the empty summary. */
	tok = compact_seal(key, NULL, 0);
	T(opens_to(tok, ""));
	free(tok);
	/* Text after a NUL cannot come back as a C string, so it is not sealed. */
	tok = compact_seal(key, "ab\0cd", 5);
	T(opens_to(tok, "ab"));
	free(tok);

	/* NULL arguments are refusals. */
	got = NULL;
	T(compact_open(key, NULL, &got) == -1 && got == NULL);
	T(compact_open(key, "thc1.aGVsbG8=.99c493e84ed591a38ea790f6a109a539fd1f303e3fb636b2ae9112d16f9be211",
	               NULL) == -1);
}

/* Every byte of tok replaced by every other byte value, deleted, or followed by an extra byte. */
static void
check_every_change(const char *tok)
{
	size_t n = strlen(tok), i;
	char *m = xmalloc(n + 2);
	int c, bad = 0;

	for (i = 0; i < n; i++) {
		for (c = 0; c < 256; c++) {
			if (c == (unsigned char)tok[i])
				continue;
			memcpy(m, tok, n + 1);
			m[i] = (char)c;
			if (!refused(m)) {
				bad++;
				printf("  accepted: byte %zu set to 0x%02x\n", i, c);
			}
		}
		/* Deletion. */
		memcpy(m, tok, i);
		memcpy(m + i, tok + i + 1, n - i);
		if (!refused(m)) {
			bad++;
			printf("  accepted: byte %zu deleted\n", i);
		}
	}
	for (i = 0; i <= n; i++) {
		memcpy(m, tok, i);
		m[i] = tok[i ? i - 1 : 0]; /* a plausible byte: repeat a neighbour */
		memcpy(m + i + 1, tok + i, n - i + 1);
		if (!refused(m)) {
			bad++;
			printf("  accepted: byte inserted at %zu\n", i);
		}
	}
	T(bad == 0);
	free(m);
}

static void
test_tamper(void)
{
	unsigned char other[COMPACT_KEY_BYTES];
	char *tok, *t2, *got = NULL;
	size_t i, n;

	tok = compact_seal(key, "hello", 5);
	check_every_change(tok);
	T(opens_to(tok, "hello")); /* unchanged after all that */

	/* Truncated at every length. */
	n = strlen(tok);
	for (i = 0; i < n; i++) {
		t2 = xstrndup(tok, i);
		T(refused(t2));
		free(t2);
	}

	/* Another key. */
	memcpy(other, key, sizeof other);
	other[31] ^= 1;
	T(compact_open(other, tok, &got) == -1 && got == NULL);
	free(tok);

	tok = compact_seal(key, "\xe6\x97\xa5\xe6\x9c\xac", 6);
	check_every_change(tok);
	free(tok);
	tok = compact_seal(key, "", 0);
	check_every_change(tok);
	free(tok);

	T(refused(""));
	T(refused("thc1"));
	T(refused("thc1."));
	T(refused("thc1.."));
	T(refused("thc1.aGVsbG8="));
	T(refused("thc1.aGVsbG8=."));
	T(refused("thc2.aGVsbG8=.99c493e84ed591a38ea790f6a109a539fd1f303e3fb636b2ae9112d16f9be211"));
	T(refused("THC1.aGVsbG8=.99c493e84ed591a38ea790f6a109a539fd1f303e3fb636b2ae9112d16f9be211"));
	T(refused("thc1.aGVsbG8=.99C493E84ED591A38EA790F6A109A539FD1F303E3FB636B2AE9112D16F9BE211"));
	T(refused(" thc1.aGVsbG8=.99c493e84ed591a38ea790f6a109a539fd1f303e3fb636b2ae9112d16f9be211"));
	T(refused("thc1.aGVsbG8=.99c493e84ed591a38ea790f6a109a539fd1f303e3fb636b2ae9112d16f9be211 "));
	T(refused("thc1.aGVsbG8=.99c493e84ed591a38ea790f6a109a539fd1f303e3fb636b2ae9112d16f9be2"));
}

/* Tokens whose MAC verifies (as if the key had leaked, or a bug sealed them) but whose body is not what
 * compact_seal writes: still refused. */
static void
test_forged_bodies(void)
{
	static const char *const bodies[] = {
	        "thc1.aGVsbG9=",      /* non-canonical: the padding drops a set bit */
	        "thc1.aGVsbA==x",     /* bytes after the padding */
	        "thc1.aGVsbG8",       /* unpadded */
	        "thc1.aGl",           /* unpadded, and would decode without a NUL */
	        "thc1.a-b_",          /* URL-safe alphabet */
	        "thc1.aGV sbG8",      /* space */
	        "thc1.aGVs=G8=",      /* padding in the middle */
	        "thc1.====",          /* nothing but padding */
	        "thc1.aGVsbG8=.AA==", /* a third field */
	        "thc1.AA==",          /* decodes to a NUL */
	        "thc1.aGkAaGk=",      /* "hi\0hi" */
	};
	char *tok;
	size_t i;

	for (i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
		tok = forge(bodies[i]);
		T(refused(tok));
		if (!refused(tok))
			printf("  accepted forged body %s\n", bodies[i]);
		free(tok);
	}
	/* The forge helper itself makes tokens that open. */
	tok = forge("thc1.aGVsbG8=");
	T(opens_to(tok, "hello"));
	free(tok);
	tok = forge("thc1.");
	T(opens_to(tok, ""));
	free(tok);
}

static void
test_limits(void)
{
	size_t max = COMPACT_MAX_SUMMARY, n, i;
	char *big = xmalloc(max + 16), *tok, *got = NULL, *body, *b64;

	/* ASCII over the cap: cut at exactly the cap. */
	memset(big, 'a', max + 10);
	big[max + 10] = '\0';
	tok = compact_seal(key, big, max + 10);
	T(compact_open(key, tok, &got) == 0);
	T(got && strlen(got) == max && memcmp(got, big, max) == 0);
	free(got);
	got = NULL;
	free(tok);

	/* Exactly the cap: kept whole. */
	tok = compact_seal(key, big, max);
	T(compact_open(key, tok, &got) == 0 && got && strlen(got) == max);
	free(got);
	got = NULL;
	free(tok);

	/* 3-byte characters: the cap falls one byte into a character (262144 = 3 * 87381 + 1). */
	for (i = 0; i + 3 <= max + 6; i += 3)
		memcpy(big + i, "\xe2\x82\xac", 3);
	n = i;
	big[n] = '\0';
	tok = compact_seal(key, big, n);
	T(compact_open(key, tok, &got) == 0);
	T(got && strlen(got) == max / 3 * 3 && memcmp(got, big, max / 3 * 3) == 0);
	free(got);
	got = NULL;
	free(tok);

	/* "a" then 4-byte characters: the cap falls three bytes into one. */
	big[0] = 'a';
	for (i = 1; i + 4 <= max + 9; i += 4)
		memcpy(big + i, "\xf0\x9f\x98\x80", 4);
	n = i;
	big[n] = '\0';
	tok = compact_seal(key, big, n);
	T(compact_open(key, tok, &got) == 0);
	T(got && strlen(got) == max - 3 && memcmp(got, big, max - 3) == 0);
	free(got);
	got = NULL;
	free(tok);

	/* A correctly MAC'd token over a summary one byte past the cap is refused. */
	memset(big, 'b', max + 1);
	b64 = util_base64(big, max + 1);
	body = xasprintf("thc1.%s", b64);
	tok = forge(body);
	T(refused(tok));
	free(tok);
	free(body);
	free(b64);
	free(big);
}

static void
test_resource(void)
{
	json_error_t jerr;
	json_t *ctx = json_loads(
	        "["
	        "{\"type\":\"message\",\"id\":\"msg_1\",\"role\":\"user\",\"status\":\"completed\","
	        "\"content\":[{\"type\":\"input_text\",\"text\":\"first\"}]},"
	        "{\"type\":\"message\",\"id\":\"msg_2\",\"role\":\"assistant\",\"content\":[]},"
	        "{\"type\":\"function_call\",\"id\":\"fc_1\",\"call_id\":\"c\",\"name\":\"f\",\"arguments\":"
	        "\"{}\"},"
	        "{\"type\":\"message\",\"id\":\"msg_3\",\"role\":\"developer\",\"content\":[]},"
	        "{\"role\":\"user\",\"content\":\"untyped\"},"
	        "{\"type\":\"message\",\"id\":\"msg_4\",\"role\":\"system\",\"content\":[]},"
	        "{\"type\":\"message\",\"id\":\"msg_5\",\"role\":\"user\","
	        "\"content\":[{\"type\":\"input_text\",\"text\":\"second\"}]}"
	        "]",
	        0, &jerr);
	json_t *zeros = json_loads("{\"input_tokens\":0,\"output_tokens\":0,\"total_tokens\":0,"
	                           "\"input_tokens_details\":{\"cached_tokens\":0},"
	                           "\"output_tokens_details\":{\"reasoning_tokens\":0}}",
	                           0, &jerr);
	json_t *usage = json_loads("{\"input_tokens\":12,\"output_tokens\":3,\"total_tokens\":15}", 0, &jerr);
	json_t *r, *out, *item;
	const char *cid;

	T(ctx != NULL && zeros != NULL && usage != NULL);
	r = compact_resource("cmp_abc", 1700000000, ctx, "thc1.x.y", NULL);
	T(r != NULL && json_object_size(r) == 5);
	T_STREQ(json_string_value(json_object_get(r, "id")), "cmp_abc");
	T_STREQ(json_string_value(json_object_get(r, "object")), "response.compaction");
	T(json_integer_value(json_object_get(r, "created_at")) == 1700000000);
	T(json_equal(json_object_get(r, "usage"), zeros));
	out = json_object_get(r, "output");
	T(json_array_size(out) == 3);
	/* Copies, equal to the originals, in order. */
	T(json_equal(json_array_get(out, 0), json_array_get(ctx, 0)));
	T(json_array_get(out, 0) != json_array_get(ctx, 0));
	T(json_equal(json_array_get(out, 1), json_array_get(ctx, 6)));
	item = json_array_get(out, 2);
	T(json_object_size(item) == 3);
	T_STREQ(json_string_value(json_object_get(item, "type")), "compaction");
	T_STREQ(json_string_value(json_object_get(item, "encrypted_content")), "thc1.x.y");
	cid = json_string_value(json_object_get(item, "id"));
	T(cid && strncmp(cid, "cmp_", 4) == 0 && strlen(cid) == 36 && strcmp(cid, "cmp_abc") != 0);
	/* Changing the result leaves the context alone. */
	json_object_set_new(json_array_get(out, 0), "id", json_string("changed"));
	T_STREQ(json_string_value(json_object_get(json_array_get(ctx, 0), "id")), "msg_1");
	json_decref(r);

	/* usage given: copied as is. An empty or non-array context: only the compaction item. */
	r = compact_resource("cmp_x", 5, NULL, "tok", usage);
	T(json_equal(json_object_get(r, "usage"), usage));
	T(json_object_get(r, "usage") != usage);
	out = json_object_get(r, "output");
	T(json_array_size(out) == 1);
	T_STREQ(json_string_value(json_object_get(json_array_get(out, 0), "type")), "compaction");
	json_decref(r);

	json_decref(ctx);
	json_decref(zeros);
	json_decref(usage);
}

int
main(void)
{
	size_t i;

	for (i = 0; i < sizeof key; i++)
		key[i] = (unsigned char)i;
	test_hmac();
	test_instruction();
	test_roundtrip();
	test_tamper();
	test_forged_bodies();
	test_limits();
	test_resource();
	return T_DONE();
}
