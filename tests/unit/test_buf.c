/* Unit tests for daemon/buf.c (the capped buffer) and daemon/util.c (ids, secret comparison). */
#include <stdlib.h>
#include <string.h>

#include "daemon/buf.h"
#include "daemon/util.h"
#include "tests/unit/t.h"

static void
test_append_cap(void)
{
	struct buf b;
	char big[600];

	buf_init(&b, 8);
	T(b.data == NULL && b.len == 0);
	T(buf_append(&b, "abc", 3) == 0);
	T(b.len == 3);
	T_STREQ(b.data, "abc");
	T(buf_append_cb("de", 2, &b) == 0);
	T(buf_appends(&b, "fgh") == 0);
	T(b.len == 8);
	T_STREQ(b.data, "abcdefgh");
	/* Past the cap: refused, nothing changes. */
	T(buf_append(&b, "i", 1) == -1);
	T(buf_appends(&b, "ij") == -1);
	T(buf_append_cb("i", 1, &b) == -1);
	T(b.len == 8);
	T_STREQ(b.data, "abcdefgh");
	/* An empty append always fits. */
	T(buf_append(&b, "", 0) == 0);
	T(buf_append(&b, NULL, 0) == 0);
	/* A huge n cannot wrap around the size check. */
	T(buf_append(&b, "x", (size_t)-1) == -1);
	T(b.len == 8);
	buf_reset(&b);
	T(b.len == 0 && b.data != NULL && b.data[0] == '\0');
	T(buf_append(&b, "12345678", 8) == 0);
	buf_free(&b);
	T(b.data == NULL && b.len == 0 && b.max == 8);
	buf_free(&b);

	/* No cap (0): grows as needed; data stays NUL-terminated. */
	buf_init(&b, 0);
	memset(big, 'z', sizeof big);
	T(buf_append(&b, big, sizeof big) == 0);
	T(buf_append(&b, big, sizeof big) == 0);
	T(b.len == 2 * sizeof big);
	T(b.alloc > b.len);
	T(b.data[b.len] == '\0');
	T(strlen(b.data) == b.len);
	buf_free(&b);

	/* Reset on a never-used buffer is harmless. */
	buf_init(&b, 4);
	buf_reset(&b);
	T(b.data == NULL && b.len == 0);
	buf_free(&b);
}

static void
test_printf(void)
{
	struct buf b;
	int i, ok;

	buf_init(&b, 16);
	T(buf_printf(&b, "%d-%s", 42, "ab") == 0);
	T_STREQ(b.data, "42-ab");
	T(b.len == 5);
	T(buf_printf(&b, "%s", "") == 0);
	T(b.len == 5);
	/* Exactly to the cap, then one past it: refused, unchanged. */
	T(buf_printf(&b, "%011d", 7) == 0);
	T(b.len == 16);
	T_STREQ(b.data, "42-ab00000000007");
	T(buf_printf(&b, "%c", 'x') == -1);
	T_STREQ(b.data, "42-ab00000000007");
	buf_free(&b);

	buf_init(&b, 10);
	T(buf_printf(&b, "%s", "this is far too long") == -1);
	T(b.len == 0);
	T(b.data == NULL || b.data[0] == '\0');
	buf_free(&b);

	/* Growing across several reallocations. */
	buf_init(&b, 0);
	for (i = 0, ok = 1; i < 1000; i++)
		ok &= buf_printf(&b, "%03d,", i) == 0;
	T(ok);
	T(b.len == 4000);
	T(strncmp(b.data, "000,001,", 8) == 0);
	T(strcmp(b.data + 3996, "999,") == 0);
	buf_free(&b);
}

static void
test_consume_take(void)
{
	struct buf b;
	char *s;

	buf_init(&b, 0);
	T(buf_appends(&b, "hello world") == 0);
	buf_consume(&b, 6);
	T(b.len == 5);
	T_STREQ(b.data, "world");
	buf_consume(&b, 0);
	T_STREQ(b.data, "world");
	/* More than len is clamped: the buffer is emptied. */
	buf_consume(&b, 100);
	T(b.len == 0);
	T_STREQ(b.data, "");
	T(buf_appends(&b, "abc") == 0);
	buf_consume(&b, 3);
	T(b.len == 0 && b.data[0] == '\0');
	buf_free(&b);
	/* Consuming from a never-used buffer. */
	buf_init(&b, 0);
	buf_consume(&b, 5);
	T(b.len == 0);

	/* take hands over the bytes and leaves an empty buffer with the same cap. */
	buf_init(&b, 32);
	T(buf_appends(&b, "taken") == 0);
	s = buf_take(&b);
	T_STREQ(s, "taken");
	T(b.data == NULL && b.len == 0 && b.alloc == 0 && b.max == 32);
	free(s);
	/* take of an empty buffer is "" (never NULL), owned by the caller. */
	s = buf_take(&b);
	T(s != NULL && s[0] == '\0');
	free(s);
	T(buf_appends(&b, "again") == 0);
	T_STREQ(b.data, "again");
	buf_free(&b);
}

static int
is_lower_hex(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	}
	return 1;
}

static void
test_new_id(void)
{
	char a[64], b[64], small[38];

	util_new_id(a, sizeof a, "resp");
	T(strlen(a) == 4 + 1 + 32);
	T(strncmp(a, "resp_", 5) == 0);
	T(is_lower_hex(a + 5, 32));
	util_new_id(b, sizeof b, "resp");
	T(strcmp(a, b) != 0);

	/* The documented size, strlen(prefix) + 34, is enough; one less is not and gives "". */
	util_new_id(small, 4 + 34, "resp");
	T(strlen(small) == 37);
	memset(small, 'x', sizeof small);
	util_new_id(small, 4 + 33, "resp");
	T(small[0] == '\0');
	/* With no room at all, nothing is written. */
	small[0] = 'x';
	util_new_id(small, 0, "resp");
	T(small[0] == 'x');

	util_new_id(a, sizeof a, "");
	T(a[0] == '_' && strlen(a) == 33 && is_lower_hex(a + 1, 32));
}

static void
test_secret_eq(void)
{
	T(util_secret_eq("sk-abc", "sk-abc") == 1);
	T(util_secret_eq("", "") == 1);
	T(util_secret_eq("sk-abc", "sk-abd") == 0);
	T(util_secret_eq("sk-abc", "sk-ab") == 0);
	T(util_secret_eq("sk-ab", "sk-abc") == 0);
	T(util_secret_eq("", "x") == 0);
	T(util_secret_eq("x", "") == 0);
	T(util_secret_eq("abcabc", "abc") == 0);
	T(util_secret_eq("Key", "key") == 0);
}

static void
test_alloc(void)
{
	char *s = xstrndup("abcdef", 3), *t;

	T_STREQ(s, "abc");
	free(s);
	s = xstrndup("ab", 10);
	T_STREQ(s, "ab");
	free(s);
	t = xasprintf("%s-%d", "n", 5);
	T_STREQ(t, "n-5");
	free(t);
	s = xstrdup("");
	T_STREQ(s, "");
	free(s);
	T(util_mono_ms() <= util_mono_us() / 1000 + 1);
	T(util_wall_s() > 1600000000);
}

static void
test_truncate(void)
{
	struct buf b;

	buf_init(&b, 0);
	buf_truncate(&b, 0); /* empty: no-op */
	T(b.len == 0);
	buf_appends(&b, "abcdef");
	buf_truncate(&b, 10); /* longer than len: no-op */
	T_STREQ(b.data, "abcdef");
	buf_truncate(&b, 3);
	T(b.len == 3);
	T_STREQ(b.data, "abc");
	buf_free(&b);
}

static void
test_release_idle(void)
{
	struct buf b;

	buf_init(&b, 0);
	T(buf_appends(&b, "0123456789abcdef0123456789abcdef") == 0);
	/* Not empty: kept whatever its size. */
	buf_release_idle(&b, 8);
	T(b.data != NULL && b.len == 32);
	buf_reset(&b);
	/* Empty but within keep: kept for the next append. */
	buf_release_idle(&b, 4096);
	T(b.data != NULL && b.alloc > 0);
	buf_release_idle(&b, 8);
	T(b.data == NULL && b.alloc == 0 && b.len == 0);
	T(buf_appends(&b, "again") == 0);
	T_STREQ(b.data, "again");
	buf_free(&b);
}

static void
test_base64(void)
{
	static const struct {
		const char *in, *out;
	} cases[] = {{"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"}, {"Think", "VGhpbms="}};
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *b = util_base64(cases[i].in, strlen(cases[i].in));
		T_STREQ(b, cases[i].out);
		free(b);
	}
}

int
main(void)
{
	test_append_cap();
	test_printf();
	test_consume_take();
	test_new_id();
	test_secret_eq();
	test_alloc();
	test_base64();
	test_truncate();
	test_release_idle();
	return T_DONE();
}
