/*
 * request: CreateResponseBody -> struct request. The parser walks the body once, field by field, and
 * builds fresh normalised objects (input items, tools, tool_choice, text.format) out of what it has
 * checked, instead of patching the caller's objects: whatever reaches the engine has been looked at,
 * and a key we do not know can never slip through. Every error names its param the way the OpenAI
 * API does ("input[2].content[0].image_url") with an OpenAI-style code.
 *
 * JSON null counts as "absent" for every optional field, including the few the schema types as
 * non-nullable (stream, store, background, ...): clients built on pydantic or zod often send null
 * for "not set", and treating it as the default is what they mean.
 */
#include "api/request.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/apierr.h"
#include "daemon/util.h"

/* Schema maxLength of text fields, in code points. */
#define REQ_MAX_TEXT      10485760
#define REQ_MAX_IMAGE_URL 20971520
#define REQ_MAX_FILE_DATA 33554432
/* Caps of our own: the HTTP layer caps the body in bytes, these cap the work per element. */
#define REQ_MAX_ITEMS       10000
#define REQ_MAX_PARTS       1000
#define REQ_MAX_TOOLS       128
#define REQ_MAX_ANNOTATIONS 4096
#define REQ_MAX_LOGPROBS    100000
#define REQ_MAX_TOKEN_BYTES 256
#define REQ_MAX_INCLUDE     16
#define REQ_MAX_DEPTH       64
#define REQ_MAX_ID          256
#define REQ_MAX_MODEL       256
#define REQ_MAX_NAME        64
#define REQ_MAX_METADATA    16
#define REQ_MAX_META_KEY    64
#define REQ_MAX_META_VALUE  512
#define REQ_MAX_SHORT       64 /* safety_identifier, prompt_cache_key, call_id */
/* MCP: a tool's own name, the lists that name tools, and what a caller may hand us to send on. */
#define REQ_MAX_TOOL_NAME    128
#define REQ_MAX_TOOL_NAMES   1024
#define REQ_MAX_LISTED_TOOLS 4096
#define REQ_MAX_URL          2048
#define REQ_MAX_SECRET       8192 /* bytes: a header value or the authorization */
#define REQ_MAX_HEADERS      64
#define REQ_MAX_HEADER_NAME  256
#define REQ_MAX_REASON       65536
#define REQ_MAX_COMPACTION   1048576 /* bytes of encrypted_content */

#define PATH_LEN 128 /* == sizeof ((struct api_error *)0)->param */

static const char *const top_keys[] = {
        "model",
        "input",
        "instructions",
        "previous_response_id",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "max_tool_calls",
        "max_output_tokens",
        "temperature",
        "top_p",
        "presence_penalty",
        "frequency_penalty",
        "top_logprobs",
        "reasoning",
        "text",
        "include",
        "store",
        "stream",
        "stream_options",
        "background",
        "truncation",
        "service_tier",
        "metadata",
        "safety_identifier",
        "prompt_cache_key",
        "user",
        NULL,
};

/* POST /v1/responses/compact takes only these. */
static const char *const compact_keys[] = {
        "model", "input", "previous_response_id", "instructions", "prompt_cache_key", NULL,
};

static const char *const roles[] = {"user", "system", "developer", "assistant", NULL};
static const char *const item_statuses[] = {"in_progress", "completed", "incomplete", NULL};
static const char *const mcp_call_statuses[] = {"in_progress", "completed", "incomplete",
                                                "calling",     "failed",    NULL};
static const char *const phases[] = {"commentary", "final_answer", NULL};
static const char *const details[] = {"low", "high", "auto", NULL};
static const char *const choice_values[] = {"none", "auto", "required", NULL};
static const char *const efforts[] = {"none", "low", "medium", "high", "xhigh", NULL};
static const char *const summaries[] = {"concise", "detailed", "auto", NULL};
static const char *const verbosities[] = {"low", "medium", "high", NULL};
static const char *const truncations[] = {"auto", "disabled", NULL};
static const char *const service_tiers[] = {"auto", "default", "flex", "priority", NULL};
static const char *const includes[] = {"reasoning.encrypted_content", "message.output_text.logprobs", NULL};

/* Content part kinds, so each container can say which ones it takes. */
enum part_kind {
	PART_INPUT_TEXT = 1 << 0,
	PART_INPUT_IMAGE = 1 << 1,
	PART_INPUT_FILE = 1 << 2,
	PART_INPUT_VIDEO = 1 << 3,
	PART_OUTPUT_TEXT = 1 << 4,
	PART_REFUSAL = 1 << 5,
	PART_REASONING_TEXT = 1 << 6,
	PART_SUMMARY_TEXT = 1 << 7,
};

static const struct {
	const char *type;
	unsigned kind;
} part_types[] = {
        {"input_text", PART_INPUT_TEXT},         {"input_image", PART_INPUT_IMAGE},
        {"input_file", PART_INPUT_FILE},         {"input_video", PART_INPUT_VIDEO},
        {"output_text", PART_OUTPUT_TEXT},       {"refusal", PART_REFUSAL},
        {"reasoning_text", PART_REASONING_TEXT}, {"summary_text", PART_SUMMARY_TEXT},
};

#define PARTS_USER      (PART_INPUT_TEXT | PART_INPUT_IMAGE | PART_INPUT_FILE)
#define PARTS_SYSTEM    PART_INPUT_TEXT
#define PARTS_ASSISTANT (PART_OUTPUT_TEXT | PART_REFUSAL)
#define PARTS_TOOL_OUT  (PART_INPUT_TEXT | PART_INPUT_IMAGE | PART_INPUT_FILE | PART_INPUT_VIDEO)
#define PARTS_REASONING (PART_REASONING_TEXT | PART_OUTPUT_TEXT)
#define PARTS_SUMMARY   PART_SUMMARY_TEXT

/* ---- small helpers ---- */

/* Appends s to the string in out, truncating at outlen - 1 bytes: a param path only has to be
 * recognisable, and apierr repairs a cut UTF-8 sequence. (No snprintf: its truncation warnings
 * fire under _FORTIFY_SOURCE for exactly the cut we want.) */
static void
path_append(char *out, size_t outlen, const char *s)
{
	size_t len = strlen(out), n = strlen(s);

	if (len + 1 >= outlen)
		return;
	if (n > outlen - 1 - len)
		n = outlen - 1 - len;
	memcpy(out + len, s, n);
	out[len + n] = '\0';
}

/* out = base.key (or key at the top level). out must not alias base. */
static void
path_key(char *out, size_t outlen, const char *base, const char *key)
{
	out[0] = '\0';
	path_append(out, outlen, base);
	if (base[0] != '\0')
		path_append(out, outlen, ".");
	path_append(out, outlen, key);
}

/* out = base.key[i]. */
static void
path_index(char *out, size_t outlen, const char *base, const char *key, size_t i)
{
	char idx[32];

	path_key(out, outlen, base, key);
	snprintf(idx, sizeof idx, "[%zu]", i);
	path_append(out, outlen, idx);
}

/* out = base[i]. */
static void
path_elem(char *out, size_t outlen, const char *base, size_t i)
{
	char idx[32];

	out[0] = '\0';
	path_append(out, outlen, base);
	snprintf(idx, sizeof idx, "[%zu]", i);
	path_append(out, outlen, idx);
}

/* Code points of a valid UTF-8 string (jansson has validated it). */
static size_t
utf8_count(const char *s, size_t n)
{
	size_t i, count = 0;

	for (i = 0; i < n; i++)
		if (((unsigned char)s[i] & 0xc0) != 0x80)
			count++;
	return count;
}

/* Length in code points, counted only when the byte length could exceed max (the common case
 * costs nothing). */
static size_t
str_len_capped(const json_t *v, size_t max)
{
	size_t n = json_string_length(v);

	return n <= max ? n : utf8_count(json_string_value(v), n);
}

/* These helpers, get_str and parse_function_choice return a literal -1 rather than
 * api_error_bad()'s result: that is always -1 too, but it comes from another file, so the analyzer
 * could not see that they never report success while leaving a required *out NULL or unset. */
static int
err_type(struct api_error *e, const char *path, const char *expected, const json_t *got)
{
	(void)api_error_bad(e, path, "invalid_type",
	                    "Invalid type for '%s': expected %s, but got %s instead.", path, expected,
	                    api_json_type_name(got));
	return -1;
}

static int
err_missing(struct api_error *e, const char *path)
{
	(void)api_error_bad(e, path, "missing_required_parameter", "Missing required parameter: '%s'.", path);
	return -1;
}

static int
err_unknown(struct api_error *e, const char *path)
{
	(void)api_error_bad(e, path, "unknown_parameter", "Unknown parameter: '%s'.", path);
	return -1;
}

/* "'a', 'b' and 'c'" into out. */
static void
list_values(char *out, size_t outlen, const char *const *values)
{
	size_t i, n, used = 0;

	out[0] = '\0';
	for (n = 0; values[n] != NULL; n++)
		;
	for (i = 0; i < n && used < outlen; i++) {
		const char *sep = i == 0 ? "" : (i + 1 == n ? " and " : ", ");
		int w = snprintf(out + used, outlen - used, "%s'%s'", sep, values[i]);

		if (w < 0)
			break;
		used += (size_t)w;
	}
}

static int
err_value(struct api_error *e, const char *path, const char *got, const char *const *values)
{
	char list[256];

	list_values(list, sizeof list, values);
	(void)api_error_bad(e, path, "invalid_value", "Invalid value: '%.64s'. Supported values are: %s.",
	                    got, list);
	return -1;
}

static int
is_one_of(const char *s, const char *const *values)
{
	size_t i;

	for (i = 0; values[i] != NULL; i++)
		if (strcmp(s, values[i]) == 0)
			return 1;
	return 0;
}

/* The member, or NULL when absent or JSON null. */
static json_t *
member(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	return json_is_null(v) ? NULL : v;
}

/* Rejects every key of obj that is not in allowed. */
static int
check_keys(json_t *obj, const char *base, const char *const *allowed, struct api_error *e)
{
	const char *key;
	json_t *v;
	char path[PATH_LEN];

	json_object_foreach (obj, key, v) {
		if (!is_one_of(key, allowed)) {
			path_key(path, sizeof path, base, key);
			return err_unknown(e, path);
		}
	}
	return 0;
}

/* *out: the string (borrowed from obj), or NULL when absent or null. Lengths in code points. */
static int
get_str(json_t *obj, const char *key, const char *base, int required, int nonempty, size_t max,
        const char **out, struct api_error *e)
{
	char path[PATH_LEN];
	json_t *v = member(obj, key);
	size_t n;

	*out = NULL;
	path_key(path, sizeof path, base, key);
	if (v == NULL)
		return required ? err_missing(e, path) : 0;
	if (!json_is_string(v))
		return err_type(e, path, "a string", v);
	if (nonempty && json_string_length(v) == 0) {
		(void)api_error_bad(
		        e, path, "empty_string",
		        "Invalid '%s': empty string. Expected a string with minimum length 1, but got an "
		        "empty string instead.",
		        path);
		return -1;
	}
	n = str_len_capped(v, max);
	if (n > max) {
		(void)api_error_bad(
		        e, path, "string_above_max_length",
		        "Invalid '%s': string too long. Expected a string with maximum length %zu, but "
		        "got a string with length %zu instead.",
		        path, max, n);
		return -1;
	}
	*out = json_string_value(v);
	return 0;
}

/* *out: the matching entry of values (static storage), or NULL when absent or null. */
static int
get_enum(json_t *obj, const char *key, const char *base, int required, const char *const *values,
         const char **out, struct api_error *e)
{
	char path[PATH_LEN];
	const char *s;
	size_t i;

	*out = NULL;
	if (get_str(obj, key, base, required, 0, REQ_MAX_TEXT, &s, e) < 0)
		return -1;
	if (s == NULL) {
		if (!required)
			return 0;
		/* Unreachable (get_str fails on a missing required member), but the analyzer does not
		 * always follow get_str and would think a required *out could come back NULL. */
		path_key(path, sizeof path, base, key);
		return err_missing(e, path);
	}
	for (i = 0; values[i] != NULL; i++) {
		if (strcmp(s, values[i]) == 0) {
			*out = values[i];
			return 0;
		}
	}
	path_key(path, sizeof path, base, key);
	return err_value(e, path, s, values);
}

/* *out untouched when absent or null. */
static int
get_bool(json_t *obj, const char *key, const char *base, int *out, struct api_error *e)
{
	char path[PATH_LEN];
	json_t *v = member(obj, key);

	if (v == NULL)
		return 0;
	if (!json_is_boolean(v)) {
		path_key(path, sizeof path, base, key);
		return err_type(e, path, "a boolean", v);
	}
	*out = json_is_true(v);
	return 0;
}

/* *has = 0 when absent or null. */
static int
get_num(json_t *obj, const char *key, double min, double max, int *has, double *out, struct api_error *e)
{
	json_t *v = member(obj, key);
	double d;

	*has = 0;
	if (v == NULL)
		return 0;
	if (!json_is_number(v))
		return err_type(e, key, "a number", v);
	d = json_number_value(v);
	if (d < min)
		return api_error_bad(
		        e, key, "decimal_below_min_value",
		        "Invalid '%s': decimal below minimum value. Expected a value >= %g, but got %g "
		        "instead.",
		        key, min, d);
	if (d > max)
		return api_error_bad(
		        e, key, "decimal_above_max_value",
		        "Invalid '%s': decimal above maximum value. Expected a value <= %g, but got %g "
		        "instead.",
		        key, max, d);
	*has = 1;
	*out = d;
	return 0;
}

/* An integer, or a real with an integral value (JavaScript clients cannot tell them apart).
 * *out untouched when absent or null. */
static int
get_int(json_t *obj, const char *key, const char *base, json_int_t min, json_int_t max, json_int_t *out,
        struct api_error *e)
{
	char path[PATH_LEN];
	json_t *v = member(obj, key);
	json_int_t i;

	if (v == NULL)
		return 0;
	path_key(path, sizeof path, base, key);
	if (json_is_integer(v)) {
		i = json_integer_value(v);
	} else if (json_is_real(v) && json_real_value(v) >= -9e18 && json_real_value(v) <= 9e18 &&
	           (double)(json_int_t)json_real_value(v) == json_real_value(v)) {
		i = (json_int_t)json_real_value(v);
	} else {
		return err_type(e, path, "an integer", v);
	}
	if (i < min)
		return api_error_bad(
		        e, path, "integer_below_min_value",
		        "Invalid '%s': integer below minimum value. Expected a value >= %lld, but got "
		        "%lld instead.",
		        path, (long long)min, (long long)i);
	if (i > max)
		return api_error_bad(
		        e, path, "integer_above_max_value",
		        "Invalid '%s': integer above maximum value. Expected a value <= %lld, but got "
		        "%lld instead.",
		        path, (long long)max, (long long)i);
	*out = i;
	return 0;
}

/* *out: the array, or NULL when absent or null; at most max elements. */
static int
get_array(json_t *obj, const char *key, const char *base, int required, size_t max, json_t **out,
          struct api_error *e)
{
	char path[PATH_LEN];
	json_t *v = member(obj, key);

	*out = NULL;
	path_key(path, sizeof path, base, key);
	if (v == NULL)
		return required ? err_missing(e, path) : 0;
	if (!json_is_array(v))
		return err_type(e, path, "an array", v);
	if (json_array_size(v) > max)
		return api_error_bad(
		        e, path, "array_above_max_length",
		        "Invalid '%s': array too long. Expected an array with maximum length %zu, but "
		        "got an array with length %zu instead.",
		        path, max, json_array_size(v));
	*out = v;
	return 0;
}

/* The name pattern of tools, function calls and json_schema formats: ^[a-zA-Z0-9_-]+$, 1-64. */
/* [A-Za-z0-9_-]*: function names and server labels. */
static int
name_chars_ok(const char *s)
{
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
		      *s == '_' || *s == '-'))
			return 0;
	return 1;
}

static int
get_name(json_t *obj, const char *key, const char *base, const char **out, struct api_error *e)
{
	char path[PATH_LEN];
	const char *s;

	if (get_str(obj, key, base, 1, 1, REQ_MAX_NAME, &s, e) < 0)
		return -1;
	*out = s;
	if (name_chars_ok(s))
		return 0;
	path_key(path, sizeof path, base, key);
	return api_error_bad(e, path, "invalid_value",
	                     "Invalid '%s': '%.64s' does not match pattern. Expected a string that matches "
	                     "the pattern '^[a-zA-Z0-9_-]+$'.",
	                     path, s);
}

/* The item's id if it has one, else a new one with the prefix (written into buf). */
static int
get_item_id(json_t *item, const char *base, const char *prefix, char *buf, size_t buflen, const char **out,
            struct api_error *e)
{
	if (get_str(item, "id", base, 0, 1, REQ_MAX_ID, out, e) < 0)
		return -1;
	if (*out == NULL) {
		util_new_id(buf, buflen, prefix);
		*out = buf;
	}
	return 0;
}

/* http(s) with a host; or, when allow_data, a data: URL with its comma. */
static int
url_ok(const char *s, int allow_data)
{
	const char *rest;

	if (strncasecmp(s, "https://", 8) == 0)
		rest = s + 8;
	else if (strncasecmp(s, "http://", 7) == 0)
		rest = s + 7;
	else if (allow_data && strncasecmp(s, "data:", 5) == 0)
		return strchr(s + 5, ',') != NULL;
	else
		return 0;
	if (rest[0] == '\0' || rest[0] == '/')
		return 0;
	for (; *rest != '\0'; rest++)
		if ((unsigned char)*rest <= 0x20 || *rest == 0x7f)
			return 0;
	return 1;
}

static int
depth_ok(json_t *v, int depth)
{
	const char *key;
	json_t *child;
	size_t i;

	if (depth > REQ_MAX_DEPTH)
		return 0;
	if (json_is_object(v)) {
		json_object_foreach (v, key, child) {
			if (!depth_ok(child, depth + 1))
				return 0;
		}
	} else if (json_is_array(v)) {
		json_array_foreach (v, i, child) {
			if (!depth_ok(child, depth + 1))
				return 0;
		}
	}
	return 1;
}

static json_t *
text_part(const char *type, json_t *text)
{
	json_t *p = json_object();

	json_object_set_new(p, "type", json_string(type));
	json_object_set(p, "text", text);
	if (strcmp(type, "output_text") == 0)
		json_object_set_new(p, "annotations", json_array());
	return p;
}

/* ---- content parts ---- */

static int
norm_annotations(json_t *part, const char *base, json_t *out, struct api_error *e)
{
	static const char *const keys[] = {"type", "start_index", "end_index", "url", "title", NULL};
	static const char *const types[] = {"url_citation", NULL};
	char path[PATH_LEN];
	json_t *arr, *a, *n;
	const char *type, *url, *title;
	json_int_t start, end;
	size_t i;

	if (get_array(part, "annotations", base, 0, REQ_MAX_ANNOTATIONS, &arr, e) < 0)
		return -1;
	json_array_foreach (arr, i, a) {
		path_index(path, sizeof path, base, "annotations", i);
		if (!json_is_object(a))
			return err_type(e, path, "an object", a);
		start = end = -1;
		if (check_keys(a, path, keys, e) < 0 || get_enum(a, "type", path, 1, types, &type, e) < 0 ||
		    get_int(a, "start_index", path, 0, INT64_MAX, &start, e) < 0 ||
		    get_int(a, "end_index", path, 0, INT64_MAX, &end, e) < 0 ||
		    get_str(a, "url", path, 1, 0, REQ_MAX_TEXT, &url, e) < 0 ||
		    get_str(a, "title", path, 1, 0, REQ_MAX_TEXT, &title, e) < 0)
			return -1;
		if (start < 0 || end < 0) {
			char p2[PATH_LEN];

			path_key(p2, sizeof p2, path, start < 0 ? "start_index" : "end_index");
			return err_missing(e, p2);
		}
		n = json_object();
		json_object_set_new(n, "type", json_string(type));
		json_object_set_new(n, "start_index", json_integer(start));
		json_object_set_new(n, "end_index", json_integer(end));
		json_object_set_new(n, "url", json_string(url));
		json_object_set_new(n, "title", json_string(title));
		json_array_append_new(out, n);
	}
	return 0;
}

/* One LogProb (with_top) or TopLogProb. */
static int
check_logprob(json_t *lp, const char *path, int with_top, struct api_error *e)
{
	static const char *const keys_top[] = {"token", "logprob", "bytes", "top_logprobs", NULL};
	static const char *const keys[] = {"token", "logprob", "bytes", NULL};
	char p2[PATH_LEN], p3[PATH_LEN];
	const char *token;
	json_t *v, *arr, *b;
	size_t i;
	json_int_t byte;

	if (!json_is_object(lp))
		return err_type(e, path, "an object", lp);
	if (check_keys(lp, path, with_top ? keys_top : keys, e) < 0 ||
	    get_str(lp, "token", path, 1, 0, REQ_MAX_TOKEN_BYTES, &token, e) < 0)
		return -1;
	v = member(lp, "logprob");
	path_key(p2, sizeof p2, path, "logprob");
	if (v == NULL)
		return err_missing(e, p2);
	if (!json_is_number(v))
		return err_type(e, p2, "a number", v);
	if (get_array(lp, "bytes", path, 1, REQ_MAX_TOKEN_BYTES, &arr, e) < 0)
		return -1;
	json_array_foreach (arr, i, b) {
		path_index(p3, sizeof p3, path, "bytes", i);
		if (!json_is_integer(b))
			return err_type(e, p3, "an integer", b);
		byte = json_integer_value(b);
		if (byte < 0 || byte > 255)
			return api_error_bad(e, p3, "invalid_value", "Invalid '%s': a byte must be 0-255.",
			                     p3);
	}
	if (!with_top)
		return 0;
	if (get_array(lp, "top_logprobs", path, 1, 20, &arr, e) < 0)
		return -1;
	json_array_foreach (arr, i, b) {
		path_index(p3, sizeof p3, path, "top_logprobs", i);
		if (check_logprob(b, p3, 0, e) < 0)
			return -1;
	}
	return 0;
}

static int
norm_logprobs(json_t *part, const char *base, json_t *out, struct api_error *e)
{
	char path[PATH_LEN];
	json_t *arr, *lp;
	size_t i;

	if (get_array(part, "logprobs", base, 0, REQ_MAX_LOGPROBS, &arr, e) < 0)
		return -1;
	if (arr == NULL)
		return 0;
	json_array_foreach (arr, i, lp) {
		path_index(path, sizeof path, base, "logprobs", i);
		if (check_logprob(lp, path, 1, e) < 0)
			return -1;
	}
	json_object_set_new(out, "logprobs", json_deep_copy(arr));
	return 0;
}

static int
norm_image(json_t *part, const char *path, json_t *out, struct api_error *e)
{
	static const char *const keys[] = {"type", "image_url", "detail", "file_id", NULL};
	char p2[PATH_LEN];
	const char *url, *detail;

	if (check_keys(part, path, keys, e) < 0)
		return -1;
	if (member(part, "file_id") != NULL) {
		path_key(p2, sizeof p2, path, "file_id");
		return api_error_bad(
		        e, p2, "unsupported_value",
		        "'file_id' is not supported: this server has no file store. Send the image as "
		        "'image_url' (an http(s) URL or a data: URL).");
	}
	if (get_str(part, "image_url", path, 1, 1, REQ_MAX_IMAGE_URL, &url, e) < 0 ||
	    get_enum(part, "detail", path, 0, details, &detail, e) < 0)
		return -1;
	if (!url_ok(url, 1)) {
		path_key(p2, sizeof p2, path, "image_url");
		return api_error_bad(e, p2, "invalid_value",
		                     "Invalid '%s': expected an http(s) URL or a data: URL.", p2);
	}
	json_object_set(out, "image_url", json_object_get(part, "image_url"));
	json_object_set_new(out, "detail", json_string(detail ? detail : "auto"));
	return 0;
}

static int
norm_file(json_t *part, const char *path, json_t *out, struct api_error *e)
{
	static const char *const keys[] = {"type", "filename", "file_data", "file_url", "file_id", NULL};
	char p2[PATH_LEN];
	const char *filename, *data, *url;

	if (check_keys(part, path, keys, e) < 0)
		return -1;
	if (member(part, "file_id") != NULL) {
		path_key(p2, sizeof p2, path, "file_id");
		return api_error_bad(
		        e, p2, "unsupported_value",
		        "'file_id' is not supported: this server has no file store. Send the file as "
		        "'file_data' (base64) or 'file_url'.");
	}
	if (get_str(part, "filename", path, 0, 0, REQ_MAX_ID, &filename, e) < 0 ||
	    get_str(part, "file_data", path, 0, 0, REQ_MAX_FILE_DATA, &data, e) < 0 ||
	    get_str(part, "file_url", path, 0, 1, REQ_MAX_TEXT, &url, e) < 0)
		return -1;
	if (data == NULL && url == NULL) {
		path_key(p2, sizeof p2, path, "file_data");
		return api_error_bad(e, p2, "missing_required_parameter",
		                     "Missing required parameter: '%s' (an input_file needs 'file_data' or "
		                     "'file_url').",
		                     p2);
	}
	if (url != NULL && !url_ok(url, 0)) {
		path_key(p2, sizeof p2, path, "file_url");
		return api_error_bad(e, p2, "invalid_value", "Invalid '%s': expected an http(s) URL.", p2);
	}
	if (filename != NULL)
		json_object_set(out, "filename", json_object_get(part, "filename"));
	if (data != NULL)
		json_object_set(out, "file_data", json_object_get(part, "file_data"));
	if (url != NULL)
		json_object_set(out, "file_url", json_object_get(part, "file_url"));
	return 0;
}

/* One content part, of a kind in allowed; where names the container for the error message. */
static int
norm_part(json_t *part, const char *path, unsigned allowed, const char *where, json_t **out,
          struct api_error *e)
{
	static const char *const text_keys[] = {"type", "text", NULL};
	static const char *const output_keys[] = {"type", "text", "annotations", "logprobs", NULL};
	static const char *const refusal_keys[] = {"type", "refusal", NULL};
	static const char *const video_keys[] = {"type", "video_url", NULL};
	const char *names[sizeof part_types / sizeof part_types[0] + 1];
	char p2[PATH_LEN];
	const char *type, *s;
	unsigned kind = 0;
	size_t i, n = 0;
	json_t *o = NULL;

	*out = NULL;
	if (!json_is_object(part))
		return err_type(e, path, "an object", part);
	if (get_str(part, "type", path, 1, 0, REQ_MAX_TEXT, &type, e) < 0)
		return -1;
	for (i = 0; i < sizeof part_types / sizeof part_types[0]; i++) {
		if (part_types[i].kind & allowed)
			names[n++] = part_types[i].type;
		if (strcmp(type, part_types[i].type) == 0)
			kind = part_types[i].kind;
	}
	names[n] = NULL;
	if ((kind & allowed) == 0) {
		char list[256];

		path_key(p2, sizeof p2, path, "type");
		list_values(list, sizeof list, names);
		return api_error_bad(e, p2, "invalid_value",
		                     "Invalid value: '%.64s'. Supported values in %s are: %s.", type, where,
		                     list);
	}
	o = json_object();
	json_object_set_new(o, "type", json_string(type));
	switch (kind) {
	case PART_INPUT_TEXT:
	case PART_REASONING_TEXT:
	case PART_SUMMARY_TEXT:
		if (check_keys(part, path, text_keys, e) < 0 ||
		    get_str(part, "text", path, 1, 0, REQ_MAX_TEXT, &s, e) < 0)
			goto fail;
		json_object_set(o, "text", json_object_get(part, "text"));
		break;
	case PART_OUTPUT_TEXT:
		if (check_keys(part, path, output_keys, e) < 0 ||
		    get_str(part, "text", path, 1, 0, REQ_MAX_TEXT, &s, e) < 0)
			goto fail;
		json_object_set(o, "text", json_object_get(part, "text"));
		json_object_set_new(o, "annotations", json_array());
		if (norm_annotations(part, path, json_object_get(o, "annotations"), e) < 0 ||
		    norm_logprobs(part, path, o, e) < 0)
			goto fail;
		break;
	case PART_REFUSAL:
		if (check_keys(part, path, refusal_keys, e) < 0 ||
		    get_str(part, "refusal", path, 1, 0, REQ_MAX_TEXT, &s, e) < 0)
			goto fail;
		json_object_set(o, "refusal", json_object_get(part, "refusal"));
		break;
	case PART_INPUT_IMAGE:
		if (norm_image(part, path, o, e) < 0)
			goto fail;
		break;
	case PART_INPUT_FILE:
		if (norm_file(part, path, o, e) < 0)
			goto fail;
		break;
	case PART_INPUT_VIDEO:
		if (check_keys(part, path, video_keys, e) < 0 ||
		    get_str(part, "video_url", path, 1, 1, REQ_MAX_FILE_DATA, &s, e) < 0)
			goto fail;
		json_object_set(o, "video_url", json_object_get(part, "video_url"));
		break;
	default:
		goto fail;
	}
	*out = o;
	return 0;
fail:
	json_decref(o);
	return -1;
}

/* arr (found at base.key) normalised part by part into a new array *out. */
static int
norm_parts(json_t *arr, const char *base, const char *key, unsigned allowed, const char *where, json_t **out,
           struct api_error *e)
{
	char path[PATH_LEN];
	json_t *res = json_array(), *part, *n;
	size_t i;

	json_array_foreach (arr, i, part) {
		path_index(path, sizeof path, base, key, i);
		if (norm_part(part, path, allowed, where, &n, e) < 0) {
			json_decref(res);
			return -1;
		}
		json_array_append_new(res, n);
	}
	*out = res;
	return 0;
}

/* ---- input items ---- */

static int
norm_message(json_t *item, const char *path, json_t **out, struct api_error *e)
{
	static const char *const keys[] = {"type", "id", "role", "content", "status", "phase", NULL};
	char p2[PATH_LEN], idbuf[48];
	const char *role, *status, *phase, *id, *where;
	json_t *rolev, *content, *parts = NULL, *o;
	unsigned allowed;
	size_t n;

	if (check_keys(item, path, keys, e) < 0)
		return -1;
	rolev = member(item, "role");
	if (json_is_string(rolev) && strcmp(json_string_value(rolev), "tool") == 0) {
		path_key(p2, sizeof p2, path, "role");
		return api_error_bad(
		        e, p2, "invalid_value",
		        "Invalid value: 'tool'. Supported values are: 'user', 'system', 'developer' and "
		        "'assistant'; a tool result is a 'function_call_output' item.");
	}
	if (get_enum(item, "role", path, 1, roles, &role, e) < 0 ||
	    get_item_id(item, path, "msg", idbuf, sizeof idbuf, &id, e) < 0 ||
	    get_enum(item, "status", path, 0, item_statuses, &status, e) < 0 ||
	    get_enum(item, "phase", path, 0, phases, &phase, e) < 0)
		return -1;
	if (phase != NULL && strcmp(role, "assistant") != 0) {
		path_key(p2, sizeof p2, path, "phase");
		return api_error_bad(e, p2, "invalid_value",
		                     "Invalid '%s': 'phase' is only valid on assistant messages.", p2);
	}
	if (strcmp(role, "user") == 0) {
		allowed = PARTS_USER;
		where = "a user message";
	} else if (strcmp(role, "assistant") == 0) {
		allowed = PARTS_ASSISTANT;
		where = "an assistant message";
	} else {
		allowed = PARTS_SYSTEM;
		where = strcmp(role, "system") == 0 ? "a system message" : "a developer message";
	}

	content = member(item, "content");
	path_key(p2, sizeof p2, path, "content");
	if (content == NULL)
		return err_missing(e, p2);
	if (json_is_string(content)) {
		n = str_len_capped(content, REQ_MAX_TEXT);
		if (n > REQ_MAX_TEXT)
			return api_error_bad(
			        e, p2, "string_above_max_length",
			        "Invalid '%s': string too long. Expected a string with maximum length %d, "
			        "but got a string with length %zu instead.",
			        p2, REQ_MAX_TEXT, n);
		parts = json_array();
		json_array_append_new(
		        parts, text_part(allowed == PARTS_ASSISTANT ? "output_text" : "input_text", content));
	} else if (json_is_array(content)) {
		if (get_array(item, "content", path, 1, REQ_MAX_PARTS, &content, e) < 0 ||
		    norm_parts(content, path, "content", allowed, where, &parts, e) < 0)
			return -1;
	} else {
		return err_type(e, p2, "a string or an array of content parts", content);
	}

	o = json_object();
	json_object_set_new(o, "type", json_string("message"));
	json_object_set_new(o, "id", json_string(id));
	json_object_set_new(o, "status", json_string(status ? status : "completed"));
	json_object_set_new(o, "role", json_string(role));
	json_object_set_new(o, "content", parts);
	if (phase != NULL)
		json_object_set_new(o, "phase", json_string(phase));
	*out = o;
	return 0;
}

static int
norm_function_call(json_t *item, const char *path, json_t **out, struct api_error *e)
{
	static const char *const keys[] = {"type", "id", "call_id", "name", "arguments", "status", NULL};
	char idbuf[48];
	const char *id, *call_id, *name, *args, *status;
	json_t *o;

	if (check_keys(item, path, keys, e) < 0 ||
	    get_item_id(item, path, "fc", idbuf, sizeof idbuf, &id, e) < 0 ||
	    get_str(item, "call_id", path, 1, 1, REQ_MAX_SHORT, &call_id, e) < 0 ||
	    get_name(item, "name", path, &name, e) < 0 ||
	    get_str(item, "arguments", path, 1, 0, REQ_MAX_TEXT, &args, e) < 0 ||
	    get_enum(item, "status", path, 0, item_statuses, &status, e) < 0)
		return -1;
	o = json_object();
	json_object_set_new(o, "type", json_string("function_call"));
	json_object_set_new(o, "id", json_string(id));
	json_object_set_new(o, "call_id", json_string(call_id));
	json_object_set_new(o, "name", json_string(name));
	json_object_set(o, "arguments", json_object_get(item, "arguments"));
	json_object_set_new(o, "status", json_string(status ? status : "completed"));
	*out = o;
	return 0;
}

static int
norm_function_call_output(json_t *item, const char *path, json_t **out, struct api_error *e)
{
	static const char *const keys[] = {"type", "id", "call_id", "output", "status", NULL};
	char p2[PATH_LEN], idbuf[48];
	const char *id, *call_id, *status, *s;
	json_t *output, *norm = NULL, *o;

	if (check_keys(item, path, keys, e) < 0 ||
	    get_item_id(item, path, "fco", idbuf, sizeof idbuf, &id, e) < 0 ||
	    get_str(item, "call_id", path, 1, 1, REQ_MAX_SHORT, &call_id, e) < 0 ||
	    get_enum(item, "status", path, 0, item_statuses, &status, e) < 0)
		return -1;
	output = member(item, "output");
	path_key(p2, sizeof p2, path, "output");
	if (output == NULL)
		return err_missing(e, p2);
	if (json_is_string(output)) {
		if (get_str(item, "output", path, 1, 0, REQ_MAX_TEXT, &s, e) < 0)
			return -1;
		norm = json_incref(output);
	} else if (json_is_array(output)) {
		if (get_array(item, "output", path, 1, REQ_MAX_PARTS, &output, e) < 0 ||
		    norm_parts(output, path, "output", PARTS_TOOL_OUT, "a function_call_output", &norm, e) <
		            0)
			return -1;
	} else {
		return err_type(e, p2, "a string or an array of content parts", output);
	}
	o = json_object();
	json_object_set_new(o, "type", json_string("function_call_output"));
	json_object_set_new(o, "id", json_string(id));
	json_object_set_new(o, "call_id", json_string(call_id));
	json_object_set_new(o, "output", norm);
	json_object_set_new(o, "status", json_string(status ? status : "completed"));
	*out = o;
	return 0;
}

static int
norm_reasoning(json_t *item, const char *path, json_t **out, struct api_error *e)
{
	static const char *const keys[] = {"type",   "id", "summary", "content", "encrypted_content",
	                                   "status", NULL};
	char idbuf[48];
	const char *id, *enc, *status;
	json_t *summary, *content, *nsum = NULL, *ncontent = NULL, *o;

	if (check_keys(item, path, keys, e) < 0 ||
	    get_item_id(item, path, "rs", idbuf, sizeof idbuf, &id, e) < 0 ||
	    get_array(item, "summary", path, 1, REQ_MAX_PARTS, &summary, e) < 0 ||
	    get_array(item, "content", path, 0, REQ_MAX_PARTS, &content, e) < 0 ||
	    get_str(item, "encrypted_content", path, 0, 0, REQ_MAX_TEXT, &enc, e) < 0 ||
	    get_enum(item, "status", path, 0, item_statuses, &status, e) < 0)
		return -1;
	if (norm_parts(summary, path, "summary", PARTS_SUMMARY, "a reasoning summary", &nsum, e) < 0)
		return -1;
	if (content != NULL &&
	    norm_parts(content, path, "content", PARTS_REASONING, "reasoning content", &ncontent, e) < 0) {
		json_decref(nsum);
		return -1;
	}
	o = json_object();
	json_object_set_new(o, "type", json_string("reasoning"));
	json_object_set_new(o, "id", json_string(id));
	json_object_set_new(o, "summary", nsum);
	/* Optional keys stay absent rather than null (RESPONSES-NOTES 5.3). */
	if (ncontent != NULL)
		json_object_set_new(o, "content", ncontent);
	if (enc != NULL)
		json_object_set(o, "encrypted_content", json_object_get(item, "encrypted_content"));
	if (status != NULL)
		json_object_set_new(o, "status", json_string(status));
	*out = o;
	return 0;
}

static int
norm_item_reference(json_t *item, const char *path, json_t **out, struct api_error *e)
{
	static const char *const keys[] = {"type", "id", NULL};
	const char *id;
	json_t *o;

	if (check_keys(item, path, keys, e) < 0 || get_str(item, "id", path, 1, 1, REQ_MAX_ID, &id, e) < 0)
		return -1;
	o = json_object();
	json_object_set_new(o, "type", json_string("item_reference"));
	json_object_set_new(o, "id", json_string(id));
	*out = o;
	return 0;
}

/* ---- MCP and compaction input items ---- */

/* Server labels inside items only have to be recognisable: the tool's label pattern is enforced
 * where the tool is declared, and an item naming no declared server is plain history. */
static int
get_item_label(json_t *item, const char *path, const char **out, struct api_error *e)
{
	return get_str(item, "server_label", path, 1, 1, REQ_MAX_NAME, out, e);
}

/* One tool of an mcp_list_tools item: {name, input_schema, description?, annotations?}. */
static int
norm_listed_tool(json_t *t, const char *path, json_t **out, struct api_error *e)
{
	static const char *const keys[] = {"name", "input_schema", "description", "annotations", NULL};
	char p2[PATH_LEN];
	const char *name, *desc;
	json_t *schema, *ann, *o;

	if (!json_is_object(t))
		return err_type(e, path, "an object", t);
	if (check_keys(t, path, keys, e) < 0 ||
	    get_str(t, "name", path, 1, 1, REQ_MAX_TOOL_NAME, &name, e) < 0 ||
	    get_str(t, "description", path, 0, 0, REQ_MAX_TEXT, &desc, e) < 0)
		return -1;
	schema = member(t, "input_schema");
	path_key(p2, sizeof p2, path, "input_schema");
	if (schema == NULL)
		return err_missing(e, p2);
	if (!json_is_object(schema))
		return err_type(e, p2, "an object", schema);
	ann = member(t, "annotations");
	if (ann != NULL && !json_is_object(ann)) {
		path_key(p2, sizeof p2, path, "annotations");
		return err_type(e, p2, "an object", ann);
	}
	o = json_object();
	json_object_set_new(o, "name", json_string(name));
	json_object_set_new(o, "input_schema", json_deep_copy(schema));
	if (desc != NULL)
		json_object_set_new(o, "description", json_string(desc));
	if (ann != NULL)
		json_object_set_new(o, "annotations", json_deep_copy(ann));
	*out = o;
	return 0;
}

static int
norm_mcp_list_tools(json_t *item, const char *path, json_t **out, struct api_error *e)
{
	static const char *const keys[] = {"type", "id", "server_label", "tools", "error", NULL};
	char p2[PATH_LEN], idbuf[48];
	const char *id, *label, *error;
	json_t *arr, *t, *tools, *n = NULL, *o;
	size_t i;

	if (check_keys(item, path, keys, e) < 0 ||
	    get_item_id(item, path, "mcpl", idbuf, sizeof idbuf, &id, e) < 0 ||
	    get_item_label(item, path, &label, e) < 0 ||
	    get_array(item, "tools", path, 1, REQ_MAX_LISTED_TOOLS, &arr, e) < 0 ||
	    get_str(item, "error", path, 0, 0, REQ_MAX_TEXT, &error, e) < 0)
		return -1;
	tools = json_array();
	json_array_foreach (arr, i, t) {
		path_index(p2, sizeof p2, path, "tools", i);
		if (norm_listed_tool(t, p2, &n, e) < 0) {
			json_decref(tools);
			return -1;
		}
		json_array_append_new(tools, n);
	}
	o = json_object();
	json_object_set_new(o, "type", json_string("mcp_list_tools"));
	json_object_set_new(o, "id", json_string(id));
	json_object_set_new(o, "server_label", json_string(label));
	json_object_set_new(o, "tools", tools);
	if (error != NULL)
		json_object_set(o, "error", json_object_get(item, "error"));
	*out = o;
	return 0;
}

static int
norm_mcp_call(json_t *item, const char *path, json_t **out, struct api_error *e)
{
	static const char *const keys[] = {"type",   "id",    "server_label",        "name",   "arguments",
	                                   "output", "error", "approval_request_id", "status", NULL};
	char p2[PATH_LEN], idbuf[48];
	const char *id, *label, *name, *args, *output, *approval, *status, *s;
	json_t *error, *o;

	if (check_keys(item, path, keys, e) < 0 ||
	    get_item_id(item, path, "mcp", idbuf, sizeof idbuf, &id, e) < 0 ||
	    get_item_label(item, path, &label, e) < 0 ||
	    get_str(item, "name", path, 1, 1, REQ_MAX_TOOL_NAME, &name, e) < 0 ||
	    get_str(item, "arguments", path, 1, 0, REQ_MAX_TEXT, &args, e) < 0 ||
	    get_str(item, "output", path, 0, 0, REQ_MAX_TEXT, &output, e) < 0 ||
	    get_str(item, "approval_request_id", path, 0, 1, REQ_MAX_ID, &approval, e) < 0 ||
	    get_enum(item, "status", path, 0, mcp_call_statuses, &status, e) < 0)
		return -1;
	/* error was a string in OpenAI's older SDKs and is a typed object in newer ones: both are
	 * history a client may send back. */
	error = member(item, "error");
	if (error != NULL && json_is_string(error) &&
	    get_str(item, "error", path, 1, 0, REQ_MAX_TEXT, &s, e) < 0)
		return -1;
	if (error != NULL && !json_is_string(error) && !json_is_object(error)) {
		path_key(p2, sizeof p2, path, "error");
		return err_type(e, p2, "a string, an object or null", error);
	}
	o = json_object();
	json_object_set_new(o, "type", json_string("mcp_call"));
	json_object_set_new(o, "id", json_string(id));
	json_object_set_new(o, "server_label", json_string(label));
	json_object_set_new(o, "name", json_string(name));
	json_object_set(o, "arguments", json_object_get(item, "arguments"));
	json_object_set_new(o, "output", output ? json_incref(json_object_get(item, "output")) : json_null());
	json_object_set_new(o, "error", error ? json_deep_copy(error) : json_null());
	json_object_set_new(o, "approval_request_id", approval ? json_string(approval) : json_null());
	json_object_set_new(o, "status", json_string(status ? status : error ? "failed" : "completed"));
	*out = o;
	return 0;
}

static int
norm_mcp_approval_request(json_t *item, const char *path, json_t **out, struct api_error *e)
{
	static const char *const keys[] = {"type", "id", "server_label", "name", "arguments", NULL};
	char idbuf[48];
	const char *id, *label, *name, *args;
	json_t *o;

	if (check_keys(item, path, keys, e) < 0 ||
	    get_item_id(item, path, "mcpr", idbuf, sizeof idbuf, &id, e) < 0 ||
	    get_item_label(item, path, &label, e) < 0 ||
	    get_str(item, "name", path, 1, 1, REQ_MAX_TOOL_NAME, &name, e) < 0 ||
	    get_str(item, "arguments", path, 1, 0, REQ_MAX_TEXT, &args, e) < 0)
		return -1;
	o = json_object();
	json_object_set_new(o, "type", json_string("mcp_approval_request"));
	json_object_set_new(o, "id", json_string(id));
	json_object_set_new(o, "server_label", json_string(label));
	json_object_set_new(o, "name", json_string(name));
	json_object_set(o, "arguments", json_object_get(item, "arguments"));
	*out = o;
	return 0;
}

static int
norm_mcp_approval_response(json_t *item, const char *path, json_t **out, struct api_error *e)
{
	static const char *const keys[] = {"type", "id", "approval_request_id", "approve", "reason", NULL};
	char p2[PATH_LEN], idbuf[48];
	const char *id, *approval, *reason;
	json_t *o;
	int approve = -1;

	if (check_keys(item, path, keys, e) < 0 ||
	    get_item_id(item, path, "mcpa", idbuf, sizeof idbuf, &id, e) < 0 ||
	    get_str(item, "approval_request_id", path, 1, 1, REQ_MAX_ID, &approval, e) < 0 ||
	    get_bool(item, "approve", path, &approve, e) < 0 ||
	    get_str(item, "reason", path, 0, 0, REQ_MAX_REASON, &reason, e) < 0)
		return -1;
	if (approve < 0) {
		path_key(p2, sizeof p2, path, "approve");
		return err_missing(e, p2);
	}
	o = json_object();
	json_object_set_new(o, "type", json_string("mcp_approval_response"));
	json_object_set_new(o, "id", json_string(id));
	json_object_set_new(o, "approval_request_id", json_string(approval));
	json_object_set_new(o, "approve", json_boolean(approve));
	if (reason != NULL)
		json_object_set(o, "reason", json_object_get(item, "reason"));
	*out = o;
	return 0;
}

/* encrypted_content is only carried here; whether it verifies is decided when the context is
 * translated for the upstream, where the daemon's key is at hand. */
static int
norm_compaction(json_t *item, const char *path, json_t **out, struct api_error *e)
{
	static const char *const keys[] = {"type", "id", "encrypted_content", NULL};
	char p2[PATH_LEN], idbuf[48];
	const char *id, *enc;
	json_t *o;

	if (check_keys(item, path, keys, e) < 0 ||
	    get_item_id(item, path, "cmp", idbuf, sizeof idbuf, &id, e) < 0 ||
	    get_str(item, "encrypted_content", path, 1, 1, REQ_MAX_COMPACTION, &enc, e) < 0)
		return -1;
	if (json_string_length(json_object_get(item, "encrypted_content")) > REQ_MAX_COMPACTION) {
		/* The cap is in bytes; get_str counted code points. */
		path_key(p2, sizeof p2, path, "encrypted_content");
		return api_error_bad(e, p2, "string_above_max_length",
		                     "Invalid '%s': string too long. Expected at most %d bytes.", p2,
		                     REQ_MAX_COMPACTION);
	}
	o = json_object();
	json_object_set_new(o, "type", json_string("compaction"));
	json_object_set_new(o, "id", json_string(id));
	json_object_set(o, "encrypted_content", json_object_get(item, "encrypted_content"));
	*out = o;
	return 0;
}

static int
norm_item(json_t *item, size_t i, json_t **out, struct api_error *e)
{
	static const char *const types[] = {"message",
	                                    "function_call",
	                                    "function_call_output",
	                                    "reasoning",
	                                    "item_reference",
	                                    "mcp_list_tools",
	                                    "mcp_call",
	                                    "mcp_approval_request",
	                                    "mcp_approval_response",
	                                    "compaction",
	                                    NULL};
	char path[PATH_LEN], p2[PATH_LEN];
	const char *type;
	json_t *t;

	*out = NULL;
	snprintf(path, sizeof path, "input[%zu]", i);
	path_key(p2, sizeof p2, path, "type");
	if (!json_is_object(item))
		return err_type(e, path, "an object", item);
	t = member(item, "type");
	if (t == NULL) {
		/* Clients commonly omit the type of messages; a bare {id} is an item_reference (its type
		 * is nullable in the schema). */
		if (json_object_get(item, "role") != NULL)
			type = "message";
		else if (json_object_get(item, "id") != NULL)
			type = "item_reference";
		else
			return err_missing(e, p2);
	} else if (!json_is_string(t)) {
		return err_type(e, p2, "a string", t);
	} else {
		type = json_string_value(t);
	}

	if (strcmp(type, "message") == 0)
		return norm_message(item, path, out, e);
	if (strcmp(type, "function_call") == 0)
		return norm_function_call(item, path, out, e);
	if (strcmp(type, "function_call_output") == 0)
		return norm_function_call_output(item, path, out, e);
	if (strcmp(type, "reasoning") == 0)
		return norm_reasoning(item, path, out, e);
	if (strcmp(type, "item_reference") == 0)
		return norm_item_reference(item, path, out, e);
	if (strcmp(type, "mcp_list_tools") == 0)
		return norm_mcp_list_tools(item, path, out, e);
	if (strcmp(type, "mcp_call") == 0)
		return norm_mcp_call(item, path, out, e);
	if (strcmp(type, "mcp_approval_request") == 0)
		return norm_mcp_approval_request(item, path, out, e);
	if (strcmp(type, "mcp_approval_response") == 0)
		return norm_mcp_approval_response(item, path, out, e);
	if (strcmp(type, "compaction") == 0)
		return norm_compaction(item, path, out, e);
	return err_value(e, p2, type, types);
}

/* A string input becomes one user message. */
static int
parse_input(struct request *r, struct api_error *e)
{
	json_t *in = member(r->body, "input"), *item, *n, *msg, *content;
	char idbuf[48];
	size_t i, len;

	r->input = json_array();
	if (in == NULL)
		return 0;
	if (json_is_string(in)) {
		len = str_len_capped(in, REQ_MAX_TEXT);
		if (len > REQ_MAX_TEXT)
			return api_error_set(
			        e, 413, "invalid_request", "string_above_max_length", "input",
			        "Invalid 'input': string too long. Expected a string with maximum length "
			        "%d, but got a string with length %zu instead.",
			        REQ_MAX_TEXT, len);
		util_new_id(idbuf, sizeof idbuf, "msg");
		content = json_array();
		json_array_append_new(content, text_part("input_text", in));
		msg = json_object();
		json_object_set_new(msg, "type", json_string("message"));
		json_object_set_new(msg, "id", json_string(idbuf));
		json_object_set_new(msg, "status", json_string("completed"));
		json_object_set_new(msg, "role", json_string("user"));
		json_object_set_new(msg, "content", content);
		json_array_append_new(r->input, msg);
		return 0;
	}
	if (!json_is_array(in))
		return err_type(e, "input", "a string or an array of input items", in);
	if (get_array(r->body, "input", "", 0, REQ_MAX_ITEMS, &in, e) < 0)
		return -1;
	json_array_foreach (in, i, item) {
		if (norm_item(item, i, &n, e) < 0)
			return -1;
		json_array_append_new(r->input, n);
	}
	return 0;
}

/* ---- tools and tool_choice ---- */

/* 1 when one of tools (validated already: key is a string in each) has key == value. */
static int
has_tool_with(const json_t *tools, const char *key, const char *value)
{
	size_t i;
	json_t *t;

	json_array_foreach (tools, i, t) {
		if (strcmp(json_string_value(json_object_get(t, key)), value) == 0)
			return 1;
	}
	return 0;
}

static int
has_tool(const struct request *r, const char *name)
{
	return has_tool_with(r->tools, "name", name);
}

/* ---- mcp tools ---- */

static int
has_mcp_label(const struct request *r, const char *label)
{
	return has_tool_with(r->mcp_tools, "server_label", label);
}

/* server_label: [A-Za-z0-9_-]{1,64}, unique. Every way to miss that is one invalid_value, because the
 * label is what the daemon's configured servers are matched by. */
static int
get_label(struct request *r, json_t *tool, const char *path, const char **out, struct api_error *e)
{
	char p2[PATH_LEN];
	json_t *v = member(tool, "server_label");
	const char *s;

	*out = NULL;
	path_key(p2, sizeof p2, path, "server_label");
	if (v == NULL)
		return err_missing(e, p2);
	if (!json_is_string(v))
		return err_type(e, p2, "a string", v);
	s = json_string_value(v);
	if (json_string_length(v) == 0 || json_string_length(v) > REQ_MAX_NAME || !name_chars_ok(s)) {
		(void)api_error_bad(e, p2, "invalid_value",
		                    "Invalid '%s': expected 1 to %d characters of [A-Za-z0-9_-].", p2,
		                    REQ_MAX_NAME);
		return -1;
	}
	if (has_mcp_label(r, s)) {
		(void)api_error_bad(
		        e, p2, "invalid_value",
		        "Invalid '%s': duplicate server_label '%s'; each mcp tool needs its own label.", p2,
		        s);
		return -1;
	}
	*out = s;
	return 0;
}

/* A header value or the authorization token. Checked without ever quoting it: error messages reach
 * the caller's logs and ours. Control characters (CR/LF above all) would let a value end its header
 * line and start another; NUL never gets here (the JSON parser refuses \u0000). */
static int
check_secret(json_t *v, const char *path, int nonempty, struct api_error *e)
{
	const char *s;
	size_t i, n;

	if (!json_is_string(v))
		return err_type(e, path, "a string", v);
	n = json_string_length(v);
	s = json_string_value(v);
	if (nonempty && n == 0)
		return api_error_bad(e, path, "empty_string",
		                     "Invalid '%s': empty string. Expected a string with minimum length 1.",
		                     path);
	if (n > REQ_MAX_SECRET)
		return api_error_bad(e, path, "string_above_max_length",
		                     "Invalid '%s': string too long. Expected at most %d bytes (the value "
		                     "is not shown).",
		                     path, REQ_MAX_SECRET);
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return api_error_bad(e, path, "invalid_value",
			                     "Invalid '%s': control characters are not allowed (the value "
			                     "is not shown).",
			                     path);
	return 0;
}

static int
norm_headers(json_t *tool, const char *path, json_t **out, struct api_error *e)
{
	char p2[PATH_LEN], p3[PATH_LEN];
	json_t *v = member(tool, "headers"), *val, *other;
	const char *key, *k2;

	*out = NULL;
	path_key(p2, sizeof p2, path, "headers");
	if (v == NULL) {
		*out = json_null();
		return 0;
	}
	if (!json_is_object(v))
		return err_type(e, p2, "an object", v);
	if (json_object_size(v) > REQ_MAX_HEADERS)
		return api_error_bad(
		        e, p2, "object_above_max_properties",
		        "Invalid '%s': too many properties. Expected an object with at most %d properties, "
		        "but got an object with %zu properties instead.",
		        p2, REQ_MAX_HEADERS, json_object_size(v));
	json_object_foreach (v, key, val) {
		/* The name is not quoted either: a misplaced token would be the likeliest bad name. */
		if (strlen(key) > REQ_MAX_HEADER_NAME || !util_http_token(key))
			return api_error_bad(e, p2, "invalid_value",
			                     "Invalid '%s': header names must be HTTP tokens of 1 to %d "
			                     "characters.",
			                     p2, REQ_MAX_HEADER_NAME);
		/* HTTP names are case-insensitive: "X-A" and "x-a" would both be sent. */
		json_object_foreach (v, k2, other) {
			if (k2 == key)
				break;
			if (strcasecmp(k2, key) == 0)
				return api_error_bad(e, p2, "invalid_value",
				                     "Invalid '%s': header names must be unique (ignoring "
				                     "case).",
				                     p2);
		}
		path_key(p3, sizeof p3, p2, key);
		if (check_secret(val, p3, 0, e) < 0)
			return -1;
	}
	*out = json_deep_copy(v);
	return 0;
}

/* A list of MCP tool names at path into a new array. */
static int
copy_names(json_t *arr, const char *path, json_t **out, struct api_error *e)
{
	char p2[PATH_LEN];
	json_t *names = json_array(), *v;
	size_t i, n;

	json_array_foreach (arr, i, v) {
		path_elem(p2, sizeof p2, path, i);
		if (!json_is_string(v)) {
			json_decref(names);
			return err_type(e, p2, "a string", v);
		}
		n = str_len_capped(v, REQ_MAX_TOOL_NAME);
		if (n == 0 || n > REQ_MAX_TOOL_NAME) {
			json_decref(names);
			(void)api_error_bad(e, p2, n == 0 ? "empty_string" : "string_above_max_length",
			                    "Invalid '%s': a tool name must have 1 to %d characters.", p2,
			                    REQ_MAX_TOOL_NAME);
			return -1;
		}
		json_array_append(names, v);
	}
	*out = names;
	return 0;
}

/* {tool_names?, read_only?} -> {tool_names: [..]|null, read_only: bool|null}. */
static int
norm_filter(json_t *v, const char *path, json_t **out, struct api_error *e)
{
	static const char *const keys[] = {"tool_names", "read_only", NULL};
	char p2[PATH_LEN];
	json_t *arr, *names = NULL, *o;
	int read_only = -1;

	*out = NULL;
	if (!json_is_object(v))
		return err_type(e, path, "an object", v);
	if (check_keys(v, path, keys, e) < 0 ||
	    get_array(v, "tool_names", path, 0, REQ_MAX_TOOL_NAMES, &arr, e) < 0 ||
	    get_bool(v, "read_only", path, &read_only, e) < 0)
		return -1;
	path_key(p2, sizeof p2, path, "tool_names");
	if (arr != NULL && copy_names(arr, p2, &names, e) < 0)
		return -1;
	o = json_object();
	json_object_set_new(o, "tool_names", names ? names : json_null());
	json_object_set_new(o, "read_only", read_only < 0 ? json_null() : json_boolean(read_only));
	*out = o;
	return 0;
}

/* allowed_tools: ["a", ...] or {tool_names, read_only}; the list becomes the object form. */
static int
norm_allowed_tools(json_t *tool, const char *path, json_t **out, struct api_error *e)
{
	char p2[PATH_LEN];
	json_t *v = member(tool, "allowed_tools"), *arr, *names;

	*out = NULL;
	path_key(p2, sizeof p2, path, "allowed_tools");
	if (v == NULL) {
		*out = json_null();
		return 0;
	}
	if (json_is_object(v))
		return norm_filter(v, p2, out, e);
	if (!json_is_array(v))
		return err_type(e, p2, "an array or an object", v);
	if (get_array(tool, "allowed_tools", path, 1, REQ_MAX_TOOL_NAMES, &arr, e) < 0 ||
	    copy_names(arr, p2, &names, e) < 0)
		return -1;
	*out = json_object();
	json_object_set_new(*out, "tool_names", names);
	json_object_set_new(*out, "read_only", json_null());
	return 0;
}

/* require_approval: "always" (the default: nothing leaves for a server unless the caller says so),
 * "never", or {always, never} filters. */
static int
norm_require_approval(json_t *tool, const char *path, json_t **out, struct api_error *e)
{
	static const char *const modes[] = {"always", "never", NULL};
	static const char *const keys[] = {"always", "never", NULL};
	char p2[PATH_LEN], p3[PATH_LEN];
	json_t *v = member(tool, "require_approval"), *o, *f, *n;
	const char *mode;
	size_t i;

	*out = NULL;
	path_key(p2, sizeof p2, path, "require_approval");
	if (v == NULL) {
		*out = json_string("always");
		return 0;
	}
	if (json_is_string(v)) {
		if (get_enum(tool, "require_approval", path, 1, modes, &mode, e) < 0)
			return -1;
		*out = json_string(mode);
		return 0;
	}
	if (!json_is_object(v))
		return err_type(e, p2, "a string or an object", v);
	if (check_keys(v, p2, keys, e) < 0)
		return -1;
	o = json_object();
	for (i = 0; keys[i] != NULL; i++) {
		f = member(v, keys[i]);
		n = NULL;
		path_key(p3, sizeof p3, p2, keys[i]);
		if (f != NULL && norm_filter(f, p3, &n, e) < 0) {
			json_decref(o);
			return -1;
		}
		json_object_set_new(o, keys[i], n ? n : json_null());
	}
	*out = o;
	return 0;
}

static int
parse_mcp_tool(struct request *r, json_t *tool, const char *path, struct api_error *e)
{
	static const char *const keys[] = {"type",    "server_label",  "server_url",    "server_description",
	                                   "headers", "authorization", "allowed_tools", "require_approval",
	                                   NULL};
	static const char *const hosted[] = {"connector_id", "tunnel_id", "defer_loading", "allowed_callers",
	                                     NULL};
	char p2[PATH_LEN];
	const char *label, *url, *desc;
	json_t *auth, *headers = NULL, *allowed = NULL, *approval = NULL, *o;
	size_t i;

	for (i = 0; hosted[i] != NULL; i++) {
		if (member(tool, hosted[i]) == NULL)
			continue;
		path_key(p2, sizeof p2, path, hosted[i]);
		return api_error_bad(e, p2, "unsupported_parameter",
		                     "Unsupported parameter: '%s': hosted connectors are not available on "
		                     "toolhostd; give server_url or a configured server_label.",
		                     p2);
	}
	if (check_keys(tool, path, keys, e) < 0 || get_label(r, tool, path, &label, e) < 0 ||
	    get_str(tool, "server_url", path, 0, 1, REQ_MAX_URL, &url, e) < 0 ||
	    get_str(tool, "server_description", path, 0, 0, REQ_MAX_TEXT, &desc, e) < 0)
		return -1;
	/* The URL itself is not quoted: it may carry credentials in its user info or query. */
	if (url != NULL && !url_ok(url, 0)) {
		path_key(p2, sizeof p2, path, "server_url");
		return api_error_bad(e, p2, "invalid_value",
		                     "Invalid '%s': expected an http:// or https:// URL with a host.", p2);
	}
	auth = member(tool, "authorization");
	path_key(p2, sizeof p2, path, "authorization");
	if (auth != NULL && check_secret(auth, p2, 1, e) < 0)
		return -1;
	if (norm_headers(tool, path, &headers, e) < 0 || norm_allowed_tools(tool, path, &allowed, e) < 0 ||
	    norm_require_approval(tool, path, &approval, e) < 0) {
		json_decref(headers);
		json_decref(allowed);
		return -1;
	}
	o = json_object();
	json_object_set_new(o, "type", json_string("mcp"));
	json_object_set_new(o, "server_label", json_string(label));
	json_object_set_new(o, "server_url", url ? json_string(url) : json_null());
	json_object_set_new(o, "server_description",
	                    desc ? json_incref(member(tool, "server_description")) : json_null());
	json_object_set_new(o, "headers", headers);
	json_object_set_new(o, "authorization", auth ? json_incref(auth) : json_null());
	json_object_set_new(o, "allowed_tools", allowed);
	json_object_set_new(o, "require_approval", approval);
	json_array_append_new(r->mcp_tools, o);
	return 0;
}

static int
parse_tool(struct request *r, json_t *tool, const char *path, struct api_error *e)
{
	static const char *const keys[] = {"type", "name", "description", "parameters", "strict", NULL};
	char p2[PATH_LEN];
	const char *type, *name, *desc;
	json_t *params, *o;
	int strict = -1;

	if (!json_is_object(tool))
		return err_type(e, path, "an object", tool);
	if (get_str(tool, "type", path, 1, 0, REQ_MAX_TEXT, &type, e) < 0)
		return -1;
	if (strcmp(type, "mcp") == 0)
		return parse_mcp_tool(r, tool, path, e);
	if (strcmp(type, "function") != 0) {
		path_key(p2, sizeof p2, path, "type");
		return api_error_bad(e, p2, "unsupported_value",
		                     "unsupported tool type '%.64s'; supported: 'function' and 'mcp'.", type);
	}
	if (json_object_get(tool, "function") != NULL && json_object_get(tool, "name") == NULL) {
		/* The Chat Completions shape; say how the Responses one differs. */
		path_key(p2, sizeof p2, path, "function");
		return api_error_bad(
		        e, p2, "unknown_parameter",
		        "Unknown parameter: '%s'. Responses function tools are flat: "
		        "{\"type\":\"function\",\"name\",\"description\",\"parameters\",\"strict\"}.",
		        p2);
	}
	if (check_keys(tool, path, keys, e) < 0 || get_name(tool, "name", path, &name, e) < 0 ||
	    get_str(tool, "description", path, 0, 0, REQ_MAX_TEXT, &desc, e) < 0 ||
	    get_bool(tool, "strict", path, &strict, e) < 0)
		return -1;
	params = member(tool, "parameters");
	if (params != NULL && !json_is_object(params)) {
		path_key(p2, sizeof p2, path, "parameters");
		return err_type(e, p2, "an object", params);
	}
	if (has_tool(r, name)) {
		path_key(p2, sizeof p2, path, "name");
		return api_error_bad(e, p2, "invalid_value",
		                     "Invalid '%s': duplicate tool name '%s'; tool names must be unique.", p2,
		                     name);
	}
	o = json_object();
	json_object_set_new(o, "type", json_string("function"));
	json_object_set_new(o, "name", json_string(name));
	json_object_set_new(o, "description", desc ? json_string(desc) : json_null());
	json_object_set_new(o, "parameters", params ? json_deep_copy(params) : json_null());
	json_object_set_new(o, "strict", strict < 0 ? json_null() : json_boolean(strict));
	json_array_append_new(r->tools, o);
	return 0;
}

static int
parse_tools(struct request *r, struct api_error *e)
{
	char path[PATH_LEN];
	json_t *arr, *tool;
	size_t i;

	r->tools = json_array();
	r->mcp_tools = json_array();
	if (get_array(r->body, "tools", "", 0, REQ_MAX_TOOLS, &arr, e) < 0)
		return -1;
	json_array_foreach (arr, i, tool) {
		snprintf(path, sizeof path, "tools[%zu]", i);
		if (parse_tool(r, tool, path, e) < 0)
			return -1;
	}
	return 0;
}

/* {type:"function", name} naming a declared tool; *out the normalised copy. */
static int
parse_function_choice(struct request *r, json_t *v, const char *path, json_t **out, struct api_error *e)
{
	static const char *const keys[] = {"type", "name", NULL};
	char p2[PATH_LEN];
	const char *type, *name;
	json_t *o;

	if (!json_is_object(v))
		return err_type(e, path, "an object", v);
	if (get_str(v, "type", path, 1, 0, REQ_MAX_TEXT, &type, e) < 0)
		return -1;
	if (strcmp(type, "function") != 0) {
		path_key(p2, sizeof p2, path, "type");
		(void)api_error_bad(e, p2, "unsupported_value",
		                    "unsupported tool type '%.64s' in '%s'; supported: 'function'.", type,
		                    path);
		return -1; /* literal: callers use *out whenever this is not < 0 */
	}
	if (check_keys(v, path, keys, e) < 0 || get_str(v, "name", path, 1, 1, REQ_MAX_NAME, &name, e) < 0)
		return -1;
	if (!has_tool(r, name)) {
		path_key(p2, sizeof p2, path, "name");
		(void)api_error_bad(e, p2, "invalid_value",
		                    "Invalid '%s': no function tool named '%s' is in 'tools'.", p2, name);
		return -1;
	}
	o = json_object();
	json_object_set_new(o, "type", json_string("function"));
	json_object_set_new(o, "name", json_string(name));
	*out = o;
	return 0;
}

/* {type:"mcp", server_label, name?}: forces a call to that server's tools (to the named one when
 * name is given). The name is the tool's own name on the server; whether the server has it is
 * known only after listing. */
static int
parse_mcp_choice(struct request *r, json_t *v, struct api_error *e)
{
	static const char *const keys[] = {"type", "server_label", "name", NULL};
	const char *label, *name;

	if (check_keys(v, "tool_choice", keys, e) < 0 ||
	    get_str(v, "server_label", "tool_choice", 1, 1, REQ_MAX_NAME, &label, e) < 0 ||
	    get_str(v, "name", "tool_choice", 0, 1, REQ_MAX_TOOL_NAME, &name, e) < 0)
		return -1;
	if (!has_mcp_label(r, label))
		return api_error_bad(e, "tool_choice.server_label", "invalid_value",
		                     "Invalid 'tool_choice.server_label': no mcp tool with server_label "
		                     "'%s' is in 'tools'.",
		                     label);
	r->tool_choice = json_object();
	json_object_set_new(r->tool_choice, "type", json_string("mcp"));
	json_object_set_new(r->tool_choice, "server_label", json_string(label));
	json_object_set_new(r->tool_choice, "name", name ? json_string(name) : json_null());
	return 0;
}

static int
parse_tool_choice(struct request *r, struct api_error *e)
{
	static const char *const allowed_keys[] = {"type", "tools", "mode", NULL};
	char path[PATH_LEN];
	json_t *v = member(r->body, "tool_choice"), *arr, *t, *list, *n;
	const char *type, *mode, *s;
	size_t i;

	if (v == NULL) {
		r->tool_choice = json_string("auto");
		return 0;
	}
	if (json_is_string(v)) {
		if (get_enum(r->body, "tool_choice", "", 1, choice_values, &s, e) < 0)
			return -1;
		if (strcmp(s, "required") == 0 &&
		    json_array_size(r->tools) + json_array_size(r->mcp_tools) == 0)
			return api_error_bad(
			        e, "tool_choice", "invalid_value",
			        "Tool choice 'required' must be specified with 'tools' parameter.");
		r->tool_choice = json_string(s);
		return 0;
	}
	if (!json_is_object(v))
		return err_type(e, "tool_choice", "a string or an object", v);
	if (get_str(v, "type", "tool_choice", 1, 0, REQ_MAX_TEXT, &type, e) < 0)
		return -1;
	if (strcmp(type, "function") == 0)
		return parse_function_choice(r, v, "tool_choice", &r->tool_choice, e);
	if (strcmp(type, "mcp") == 0)
		return parse_mcp_choice(r, v, e);
	if (strcmp(type, "allowed_tools") != 0)
		return api_error_bad(e, "tool_choice.type", "unsupported_value",
		                     "unsupported tool_choice type '%.64s'; supported: 'function', "
		                     "'allowed_tools' and 'mcp'.",
		                     type);
	if (check_keys(v, "tool_choice", allowed_keys, e) < 0 ||
	    get_array(v, "tools", "tool_choice", 1, REQ_MAX_TOOLS, &arr, e) < 0 ||
	    get_enum(v, "mode", "tool_choice", 0, choice_values, &mode, e) < 0)
		return -1;
	if (json_array_size(arr) == 0)
		return api_error_bad(
		        e, "tool_choice.tools", "empty_array",
		        "Invalid 'tool_choice.tools': empty array. Expected an array with minimum length "
		        "1, but got an empty array instead.");
	list = json_array();
	json_array_foreach (arr, i, t) {
		snprintf(path, sizeof path, "tool_choice.tools[%zu]", i);
		if (parse_function_choice(r, t, path, &n, e) < 0) {
			json_decref(list);
			return -1;
		}
		json_array_append_new(list, n);
	}
	r->tool_choice = json_object();
	json_object_set_new(r->tool_choice, "type", json_string("allowed_tools"));
	json_object_set_new(r->tool_choice, "tools", list);
	json_object_set_new(r->tool_choice, "mode", json_string(mode ? mode : "auto"));
	return 0;
}

/* ---- reasoning, text, include, stream_options, metadata ---- */

static int
parse_reasoning(struct request *r, struct api_error *e)
{
	static const char *const keys[] = {"effort", "summary", NULL};
	json_t *v = member(r->body, "reasoning");

	if (v == NULL)
		return 0;
	if (!json_is_object(v))
		return err_type(e, "reasoning", "an object", v);
	if (check_keys(v, "reasoning", keys, e) < 0 ||
	    get_enum(v, "effort", "reasoning", 0, efforts, &r->reasoning_effort, e) < 0 ||
	    get_enum(v, "summary", "reasoning", 0, summaries, &r->reasoning_summary, e) < 0)
		return -1;
	return 0;
}

static int
parse_format(struct request *r, json_t *f, struct api_error *e)
{
	static const char *const types[] = {"text", "json_schema", "json_object", NULL};
	static const char *const plain_keys[] = {"type", NULL};
	static const char *const schema_keys[] = {"type", "name", "schema", "description", "strict", NULL};
	const char *type, *name, *desc;
	json_t *schema, *o;
	int strict = 0;

	if (!json_is_object(f))
		return err_type(e, "text.format", "an object", f);
	if (get_enum(f, "type", "text.format", 1, types, &type, e) < 0)
		return -1;
	if (strcmp(type, "json_schema") != 0) {
		/* json_object is not in the request schema but OpenAI takes it and the response's TextField
		 * has it; the upstream maps it to response_format json_object. */
		if (check_keys(f, "text.format", plain_keys, e) < 0)
			return -1;
		r->text_format = json_object();
		json_object_set_new(r->text_format, "type", json_string(type));
		return 0;
	}
	if (json_object_get(f, "json_schema") != NULL && json_object_get(f, "schema") == NULL)
		return api_error_bad(
		        e, "text.format.json_schema", "unknown_parameter",
		        "Unknown parameter: 'text.format.json_schema'. In the Responses API the "
		        "format is flat: {\"type\":\"json_schema\",\"name\",\"schema\",\"strict\"}.");
	if (check_keys(f, "text.format", schema_keys, e) < 0 ||
	    get_name(f, "name", "text.format", &name, e) < 0 ||
	    get_str(f, "description", "text.format", 0, 0, REQ_MAX_TEXT, &desc, e) < 0 ||
	    get_bool(f, "strict", "text.format", &strict, e) < 0)
		return -1;
	schema = member(f, "schema");
	if (schema == NULL)
		return err_missing(e, "text.format.schema");
	if (!json_is_object(schema))
		return err_type(e, "text.format.schema", "an object", schema);
	o = json_object();
	json_object_set_new(o, "type", json_string("json_schema"));
	json_object_set_new(o, "name", json_string(name));
	json_object_set_new(o, "description", desc ? json_string(desc) : json_null());
	json_object_set_new(o, "schema", json_deep_copy(schema));
	json_object_set_new(o, "strict", json_boolean(strict));
	r->text_format = o;
	return 0;
}

static int
parse_text(struct request *r, struct api_error *e)
{
	static const char *const keys[] = {"format", "verbosity", NULL};
	json_t *v = member(r->body, "text"), *f;

	if (v != NULL) {
		if (!json_is_object(v))
			return err_type(e, "text", "an object", v);
		if (check_keys(v, "text", keys, e) < 0 ||
		    get_enum(v, "verbosity", "text", 0, verbosities, &r->verbosity, e) < 0)
			return -1;
		f = member(v, "format");
		if (f != NULL && parse_format(r, f, e) < 0)
			return -1;
	}
	if (r->text_format == NULL) {
		r->text_format = json_object();
		json_object_set_new(r->text_format, "type", json_string("text"));
	}
	return 0;
}

static int
parse_include(struct request *r, struct api_error *e)
{
	char path[PATH_LEN];
	json_t *arr, *v;
	size_t i;

	if (get_array(r->body, "include", "", 0, REQ_MAX_INCLUDE, &arr, e) < 0)
		return -1;
	json_array_foreach (arr, i, v) {
		snprintf(path, sizeof path, "include[%zu]", i);
		if (!json_is_string(v))
			return err_type(e, path, "a string", v);
		if (strcmp(json_string_value(v), includes[0]) == 0)
			r->include |= REQUEST_INCLUDE_REASONING_ENCRYPTED;
		else if (strcmp(json_string_value(v), includes[1]) == 0)
			r->include |= REQUEST_INCLUDE_LOGPROBS;
		else
			return err_value(e, path, json_string_value(v), includes);
	}
	return 0;
}

static int
parse_stream_options(struct request *r, struct api_error *e)
{
	static const char *const keys[] = {"include_obfuscation", NULL};
	json_t *v = member(r->body, "stream_options");

	if (v == NULL)
		return 0;
	if (!json_is_object(v))
		return err_type(e, "stream_options", "an object", v);
	if (check_keys(v, "stream_options", keys, e) < 0 ||
	    get_bool(v, "include_obfuscation", "stream_options", &r->include_obfuscation, e) < 0)
		return -1;
	return 0;
}

static int
parse_metadata(struct request *r, struct api_error *e)
{
	char path[PATH_LEN];
	json_t *v = member(r->body, "metadata"), *val;
	const char *key;
	size_t n;

	if (v == NULL) {
		r->metadata = json_object();
		return 0;
	}
	if (!json_is_object(v))
		return err_type(e, "metadata", "an object", v);
	if (json_object_size(v) > REQ_MAX_METADATA)
		return api_error_bad(
		        e, "metadata", "object_above_max_properties",
		        "Invalid 'metadata': too many properties. Expected an object with at most %d "
		        "properties, but got an object with %zu properties instead.",
		        REQ_MAX_METADATA, json_object_size(v));
	json_object_foreach (v, key, val) {
		path_key(path, sizeof path, "metadata", key);
		n = utf8_count(key, strlen(key));
		if (n > REQ_MAX_META_KEY)
			return api_error_bad(
			        e, "metadata", "string_above_max_length",
			        "Invalid 'metadata': key '%.64s...' is longer than %d characters.", key,
			        REQ_MAX_META_KEY);
		if (!json_is_string(val))
			return err_type(e, path, "a string", val);
		n = str_len_capped(val, REQ_MAX_META_VALUE);
		if (n > REQ_MAX_META_VALUE)
			return api_error_bad(
			        e, path, "string_above_max_length",
			        "Invalid '%s': string too long. Expected a string with maximum length %d, "
			        "but got a string with length %zu instead.",
			        path, REQ_MAX_META_VALUE, n);
	}
	r->metadata = json_deep_copy(v);
	return 0;
}

/* ---- the body ---- */

static int
parse_body(struct request *r, struct api_error *e)
{
	json_t *b = r->body;
	json_int_t max_tool_calls = -1, max_output_tokens = -1, top_logprobs = -1;
	const char *user;

	if (check_keys(b, "", top_keys, e) < 0)
		return -1;
	if (!depth_ok(b, 0))
		return api_error_bad(e, NULL, "nesting_too_deep",
		                     "The request body is nested too deeply (more than %d levels).",
		                     REQ_MAX_DEPTH);
	if (get_str(b, "model", "", 0, 1, REQ_MAX_MODEL, &r->model, e) < 0 || parse_input(r, e) < 0 ||
	    get_str(b, "instructions", "", 0, 0, REQ_MAX_TEXT, &r->instructions, e) < 0 ||
	    get_str(b, "previous_response_id", "", 0, 1, REQ_MAX_ID, &r->previous_response_id, e) < 0 ||
	    parse_tools(r, e) < 0 || parse_tool_choice(r, e) < 0 ||
	    get_bool(b, "parallel_tool_calls", "", &r->parallel_tool_calls, e) < 0 ||
	    get_int(b, "max_tool_calls", "", 1, INT64_MAX, &max_tool_calls, e) < 0 ||
	    get_int(b, "max_output_tokens", "", 16, INT64_MAX, &max_output_tokens, e) < 0)
		return -1;
	r->max_tool_calls = max_tool_calls;
	r->max_output_tokens = max_output_tokens;

	if (get_num(b, "temperature", 0, 2, &r->has_temperature, &r->temperature, e) < 0 ||
	    get_num(b, "top_p", 0, 1, &r->has_top_p, &r->top_p, e) < 0 ||
	    get_num(b, "presence_penalty", -2, 2, &r->has_presence_penalty, &r->presence_penalty, e) < 0 ||
	    get_num(b, "frequency_penalty", -2, 2, &r->has_frequency_penalty, &r->frequency_penalty, e) < 0 ||
	    get_int(b, "top_logprobs", "", 0, 20, &top_logprobs, e) < 0)
		return -1;
	r->top_logprobs = (int)top_logprobs;

	if (parse_reasoning(r, e) < 0 || parse_text(r, e) < 0 || parse_include(r, e) < 0 ||
	    get_bool(b, "store", "", &r->store, e) < 0 || get_bool(b, "stream", "", &r->stream, e) < 0 ||
	    parse_stream_options(r, e) < 0 || get_bool(b, "background", "", &r->background, e) < 0 ||
	    get_enum(b, "truncation", "", 0, truncations, &r->truncation, e) < 0 ||
	    get_enum(b, "service_tier", "", 0, service_tiers, &r->service_tier, e) < 0 ||
	    parse_metadata(r, e) < 0 ||
	    get_str(b, "safety_identifier", "", 0, 0, REQ_MAX_SHORT, &r->safety_identifier, e) < 0 ||
	    get_str(b, "user", "", 0, 0, REQ_MAX_SHORT, &user, e) < 0 ||
	    get_str(b, "prompt_cache_key", "", 0, 0, REQ_MAX_SHORT, &r->prompt_cache_key, e) < 0)
		return -1;
	if (r->truncation == NULL)
		r->truncation = "disabled";
	if (r->service_tier == NULL)
		r->service_tier = "auto";
	/* "user" is OpenAI's older name for safety_identifier. */
	if (user != NULL && r->safety_identifier != NULL && strcmp(user, r->safety_identifier) != 0)
		return api_error_bad(e, "user", "invalid_value",
		                     "'user' is an alias of 'safety_identifier'; the two must not differ.");
	if (r->safety_identifier == NULL)
		r->safety_identifier = user;
	return 0;
}

/* The JSON object of body, in a request holding the defaults of every field; NULL with *err. */
static struct request *
request_load(const char *body, size_t len, struct api_error *err)
{
	struct request *r;
	json_error_t jerr;
	json_t *root;

	if (body == NULL || len == 0) {
		api_error_bad(err, NULL, "invalid_json",
		              "The request body is empty; expected a JSON object.");
		return NULL;
	}
	root = json_loadb(body, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		api_error_bad(err, NULL, "invalid_json",
		              "We could not parse the JSON body of your request: %s (line %d, column %d).",
		              jerr.text, jerr.line, jerr.column);
		return NULL;
	}
	if (!json_is_object(root)) {
		api_error_bad(err, NULL, "invalid_type",
		              "The request body must be a JSON object, but got %s.",
		              api_json_type_name(root));
		json_decref(root);
		return NULL;
	}
	r = xcalloc(1, sizeof *r);
	r->body = root;
	r->parallel_tool_calls = 1;
	r->max_tool_calls = -1;
	r->max_output_tokens = -1;
	r->top_logprobs = -1;
	r->store = 1;
	r->include_obfuscation = 1;
	return r;
}

int
request_is_field(const char *name)
{
	return name != NULL && is_one_of(name, top_keys);
}

struct request *
request_parse(const char *body, size_t len, struct api_error *err)
{
	struct request *r = request_load(body, len, err);

	if (r != NULL && parse_body(r, err) < 0) {
		request_free(r);
		return NULL;
	}
	return r;
}

/* The fields compact does not take still go through their parsers (absent), so that the request
 * looks exactly like one request_parse made from the same keys. */
static int
parse_compact_body(struct request *r, struct api_error *e)
{
	json_t *b = r->body;

	if (check_keys(b, "", compact_keys, e) < 0)
		return -1;
	if (!depth_ok(b, 0))
		return api_error_bad(e, NULL, "nesting_too_deep",
		                     "The request body is nested too deeply (more than %d levels).",
		                     REQ_MAX_DEPTH);
	if (get_str(b, "model", "", 1, 1, REQ_MAX_MODEL, &r->model, e) < 0 || parse_input(r, e) < 0 ||
	    get_str(b, "instructions", "", 0, 0, REQ_MAX_TEXT, &r->instructions, e) < 0 ||
	    get_str(b, "previous_response_id", "", 0, 1, REQ_MAX_ID, &r->previous_response_id, e) < 0 ||
	    get_str(b, "prompt_cache_key", "", 0, 0, REQ_MAX_SHORT, &r->prompt_cache_key, e) < 0 ||
	    parse_tools(r, e) < 0 || parse_tool_choice(r, e) < 0 || parse_text(r, e) < 0 ||
	    parse_metadata(r, e) < 0)
		return -1;
	r->truncation = "disabled";
	r->service_tier = "auto";
	return 0;
}

struct request *
request_parse_compact(const char *body, size_t len, struct api_error *err)
{
	struct request *r = request_load(body, len, err);

	if (r != NULL && parse_compact_body(r, err) < 0) {
		request_free(r);
		return NULL;
	}
	return r;
}

/* Secrets stay in the request, which lives only as long as the job: a copy of a tool that leaves
 * (response JSON, stored row, events) has no authorization and no header values. */
json_t *
request_tools_echo(const struct request *r)
{
	json_t *out = json_array(), *t, *v, *copy, *h, *hv;
	const char *key, *hkey;
	size_t i;

	json_array_foreach (r->tools, i, t) {
		json_array_append_new(out, json_deep_copy(t));
	}
	json_array_foreach (r->mcp_tools, i, t) {
		copy = json_object();
		json_object_foreach (t, key, v) {
			if (strcmp(key, "authorization") == 0)
				continue;
			if (strcmp(key, "headers") == 0 && json_is_object(v)) {
				h = json_object();
				json_object_foreach (v, hkey, hv) {
					json_object_set_new(h, hkey, json_string("[redacted]"));
				}
				json_object_set_new(copy, key, h);
				continue;
			}
			/* User info or a query in the URL may be a credential. */
			if (strcmp(key, "server_url") == 0 && json_is_string(v)) {
				char *shown = util_url_redact(json_string_value(v));

				json_object_set_new(copy, key, json_string(shown));
				free(shown);
				continue;
			}
			json_object_set_new(copy, key, json_deep_copy(v));
		}
		json_array_append_new(out, copy);
	}
	return out;
}

void
request_free(struct request *r)
{
	if (r == NULL)
		return;
	json_decref(r->input);
	json_decref(r->tools);
	json_decref(r->mcp_tools);
	json_decref(r->tool_choice);
	json_decref(r->text_format);
	json_decref(r->metadata);
	json_decref(r->body);
	free(r);
}
