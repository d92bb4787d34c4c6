/*
 * compact: the summary instruction, the sealed compaction token and the CompactResource. The token
 * is checked before anything in it is decoded, and decoding is strict anyway: a token is either
 * exactly what compact_seal wrote for this key or refused.
 */
#include "api/compact.h"

#include <stdlib.h>
#include <string.h>

#include "daemon/util.h"

#define COMPACT_PREFIX     "thc1."
#define COMPACT_PREFIX_LEN (sizeof COMPACT_PREFIX - 1)
#define COMPACT_MAC_HEX    64
/* The longest base64 text a summary of COMPACT_MAX_SUMMARY bytes encodes to: a longer token is refused
 * before any work is spent on it. */
#define COMPACT_MAX_B64 ((COMPACT_MAX_SUMMARY + 2) / 3 * 4)

const char compact_instruction[] =
        "Summarize the conversation so far. The summary will replace the conversation as the only "
        "record of it, so keep every fact, decision, open task, name, number and tool result needed to "
        "continue the work, and drop the rest. Be concise. Reply with the summary only, without "
        "preamble.";

/* Lowercase hex HMAC-SHA256 of p[0..n) into out (65 bytes). */
static void
mac_hex(const unsigned char key[COMPACT_KEY_BYTES], const char *p, size_t n, char out[COMPACT_MAC_HEX + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char mac[32];
	size_t i;

	util_hmac_sha256(key, COMPACT_KEY_BYTES, p, n, mac);
	for (i = 0; i < sizeof mac; i++) {
		out[2 * i] = hex[mac[i] >> 4];
		out[2 * i + 1] = hex[mac[i] & 15];
	}
	out[COMPACT_MAC_HEX] = '\0';
}

char *
compact_seal(const unsigned char key[COMPACT_KEY_BYTES], const char *summary, size_t len)
{
	char mac[COMPACT_MAC_HEX + 1];
	char *b64, *body, *token;

	if (summary == NULL)
		summary = "";
	/* The summary comes back as a C string: text after a NUL could never be read back, so it is not
	 * sealed (compact_open refuses a NUL rather than hand back a string shorter than the token says). */
	len = strnlen(summary, len);
	if (len > COMPACT_MAX_SUMMARY) {
		len = COMPACT_MAX_SUMMARY;
		/* Back off continuation bytes so the cut does not split a UTF-8 character. */
		while (len > 0 && ((unsigned char)summary[len] & 0xc0) == 0x80)
			len--;
	}
	b64 = util_base64(summary, len);
	/* util_base64 fails only far above COMPACT_MAX_SUMMARY, so this never drops a summary. */
	if (b64 == NULL)
		b64 = xstrdup("");
	body = xasprintf("%s%s", COMPACT_PREFIX, b64);
	free(b64);
	mac_hex(key, body, strlen(body), mac);
	token = xasprintf("%s.%s", body, mac);
	free(body);
	return token;
}

/* The 6-bit value of a base64 character of the standard alphabet, or -1. */
static int
b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/*
 * Decodes standard, padded base64 of exactly n characters into a malloc'd buffer of *outlen bytes (plus
 * a NUL). Strict: whole 4-character groups, '=' only as the last one or two characters, and the unused
 * low bits of the last character zero, so each byte string has exactly one accepted encoding.
 */
static int
b64_decode_strict(const char *in, size_t n, unsigned char **out, size_t *outlen)
{
	unsigned char *buf;
	size_t i, pad = 0, o = 0;
	uint32_t group;
	int v, k;

	if (n % 4 != 0)
		return -1;
	if (n > 0 && in[n - 1] == '=')
		pad = n > 1 && in[n - 2] == '=' ? 2 : 1;
	buf = xmalloc(n / 4 * 3 + 1);
	for (i = 0; i < n; i += 4) {
		group = 0;
		for (k = 0; k < 4; k++) {
			if (i + (size_t)k >= n - pad) {
				v = 0; /* padding, which may only stand in the last group's tail */
			} else {
				v = b64_value((unsigned char)in[i + (size_t)k]);
				if (v < 0)
					goto fail;
			}
			group = group << 6 | (uint32_t)v;
		}
		buf[o++] = (unsigned char)(group >> 16);
		buf[o++] = (unsigned char)(group >> 8);
		buf[o++] = (unsigned char)group;
	}
	/* Non-canonical: bits the padding drops must be zero. */
	if ((pad == 1 && (buf[o - 1] != 0)) || (pad == 2 && (buf[o - 2] != 0 || buf[o - 1] != 0)))
		goto fail;
	o -= pad;
	buf[o] = '\0';
	*out = buf;
	*outlen = o;
	return 0;
fail:
	free(buf);
	return -1;
}

int
compact_open(const unsigned char key[COMPACT_KEY_BYTES], const char *token, char **summary)
{
	char want[COMPACT_MAC_HEX + 1];
	const char *dot, *b64;
	unsigned char *plain = NULL;
	size_t len, b64len, plainlen = 0;

	if (token == NULL || summary == NULL)
		return -1;
	/* Bounded scan: a token longer than the longest we ever seal is refused without reading it all. */
	len = strnlen(token, COMPACT_PREFIX_LEN + COMPACT_MAX_B64 + 1 + COMPACT_MAC_HEX + 1);
	if (len > COMPACT_PREFIX_LEN + COMPACT_MAX_B64 + 1 + COMPACT_MAC_HEX)
		return -1;
	if (len < COMPACT_PREFIX_LEN + 1 + COMPACT_MAC_HEX ||
	    memcmp(token, COMPACT_PREFIX, COMPACT_PREFIX_LEN) != 0)
		return -1;
	dot = token + len - COMPACT_MAC_HEX - 1;
	if (*dot != '.')
		return -1;
	/* util_secret_eq compares in constant time and, since mac_hex writes lowercase, also refuses
	 * uppercase or non-hex characters in the MAC. */
	mac_hex(key, token, (size_t)(dot - token), want);
	if (!util_secret_eq(dot + 1, want))
		return -1;
	b64 = token + COMPACT_PREFIX_LEN;
	b64len = (size_t)(dot - b64);
	if (b64_decode_strict(b64, b64len, &plain, &plainlen) == -1)
		return -1;
	if (plainlen > COMPACT_MAX_SUMMARY || memchr(plain, '\0', plainlen) != NULL) {
		free(plain);
		return -1;
	}
	*summary = (char *)plain;
	return 0;
}

static int
is_user_message(const json_t *item)
{
	const char *type = json_string_value(json_object_get(item, "type"));
	const char *role = json_string_value(json_object_get(item, "role"));

	return type && role && strcmp(type, "message") == 0 && strcmp(role, "user") == 0;
}

static json_t *
zero_usage(void)
{
	return json_pack("{s:i, s:i, s:i, s:{s:i}, s:{s:i}}", "input_tokens", 0, "output_tokens", 0,
	                 "total_tokens", 0, "input_tokens_details", "cached_tokens", 0,
	                 "output_tokens_details", "reasoning_tokens", 0);
}

json_t *
compact_resource(const char *id, int64_t created_at, const json_t *context, const char *encrypted_content,
                 const json_t *usage)
{
	char item_id[40];
	json_t *res, *output, *item, *u = NULL;
	size_t i;

	output = json_array();
	if (json_is_array(context)) {
		for (i = 0; i < json_array_size(context); i++) {
			item = json_array_get(context, i);
			if (is_user_message(item))
				json_array_append_new(output, json_deep_copy(item));
		}
	}
	util_new_id(item_id, sizeof item_id, "cmp");
	item = json_object();
	json_object_set_new(item, "type", json_string("compaction"));
	json_object_set_new(item, "id", json_string(item_id));
	json_object_set_new(item, "encrypted_content",
	                    json_string(encrypted_content ? encrypted_content : ""));
	json_array_append_new(output, item);

	if (json_is_object(usage))
		u = json_deep_copy(usage);
	if (u == NULL)
		u = zero_usage();

	res = json_object();
	json_object_set_new(res, "id", json_string(id ? id : ""));
	json_object_set_new(res, "object", json_string("response.compaction"));
	json_object_set_new(res, "created_at", json_integer((json_int_t)created_at));
	json_object_set_new(res, "output", output);
	json_object_set_new(res, "usage", u);
	return res;
}
