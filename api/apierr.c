/*
 * apierr: the error envelope. Messages and params often quote what the caller sent (a key, a
 * value), so they may arrive as invalid UTF-8 or get cut in the middle of a sequence by the fixed
 * buffers; json_string() would then return NULL. Every string is therefore repaired when it is
 * stored, so building the JSON can never fail.
 */
#include "api/apierr.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at s[0..n), or 0 when it is invalid or cut short. */
static size_t
utf8_seq_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	size_t len, i;
	unsigned int cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	/* Overlong forms, surrogates and code points past U+10FFFF. */
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/* In place: each invalid byte becomes '?', a sequence cut at the end is dropped. */
static void
utf8_repair(char *str)
{
	unsigned char *s = (unsigned char *)str;
	size_t n = strlen(str), i = 0, k;

	while (i < n) {
		k = utf8_seq_len(s + i, n - i);
		if (k > 0) {
			i += k;
			continue;
		}
		if (s[i] >= 0xc2 && s[i] <= 0xf4 && n - i < 4) {
			/* Possibly a sequence truncated by the buffer: drop the tail. */
			s[i] = '\0';
			return;
		}
		s[i] = '?';
		i++;
	}
}

static void
copy_field(char *dst, size_t dstlen, const char *src)
{
	snprintf(dst, dstlen, "%s", src ? src : "");
	utf8_repair(dst);
}

static int error_vset(struct api_error *e, int status, const char *type, const char *code, const char *param,
                      const char *fmt, va_list ap) __attribute__((format(printf, 6, 0)));

static int
error_vset(struct api_error *e, int status, const char *type, const char *code, const char *param,
           const char *fmt, va_list ap)
{
	if (e == NULL)
		return -1;
	e->status = status;
	copy_field(e->type, sizeof e->type, type);
	copy_field(e->code, sizeof e->code, code);
	copy_field(e->param, sizeof e->param, param);
	vsnprintf(e->message, sizeof e->message, fmt, ap);
	utf8_repair(e->message);
	return -1;
}

int
api_error_set(struct api_error *e, int status, const char *type, const char *code, const char *param,
              const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	error_vset(e, status, type, code, param, fmt, ap);
	va_end(ap);
	return -1;
}

int
api_error_bad(struct api_error *e, const char *param, const char *code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	error_vset(e, 400, "invalid_request", code, param, fmt, ap);
	va_end(ap);
	return -1;
}

/* A JSON string, or null for "" when nullable; never NULL even for a string we failed to repair. */
static json_t *
field_json(const char *s, int nullable)
{
	json_t *v;

	if (nullable && s[0] == '\0')
		return json_null();
	v = json_string(s);
	return v ? v : json_string("?");
}

json_t *
api_error_object(const struct api_error *e)
{
	json_t *o = json_object();

	json_object_set_new(o, "message", field_json(e->message, 0));
	json_object_set_new(o, "type", field_json(e->type[0] ? e->type : "server_error", 0));
	json_object_set_new(o, "param", field_json(e->param, 1));
	json_object_set_new(o, "code", field_json(e->code, 1));
	return o;
}

json_t *
api_error_envelope(const struct api_error *e)
{
	json_t *o = json_object();

	json_object_set_new(o, "error", api_error_object(e));
	return o;
}

const char *
api_json_type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
		return "an integer";
	case JSON_REAL:
		return "a number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	case JSON_NULL:
		return "null";
	}
	return "an unknown value";
}

json_t *
api_error_answer(int *http_status, int status, const char *type, const char *code, const char *param,
                 const char *message)
{
	struct api_error e;

	api_error_set(&e, status, type, code, param, "%s", message);
	*http_status = status;
	return api_error_envelope(&e);
}
