/* redact: see redact.h. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "daemon/config.h"
#include "daemon/redact.h"
#include "daemon/util.h"

#define MARK_LEN (sizeof REDACT_MARK - 1)
/* Needles whose search state fits on the stack; more (rare) take one allocation per scan. */
#define STACK_NEEDLES 32
#define NONE          ((size_t)-1)

struct needle {
	char *s;
	size_t len;
	size_t period; /* the smallest p with s[i] == s[i + p] for all i: len when s has no border */
};

struct redact {
	struct needle *v;
	size_t n, alloc;
};

struct redact *
redact_new(void)
{
	return xcalloc(1, sizeof(struct redact));
}

void
redact_free(struct redact *r)
{
	size_t i;

	if (r == NULL)
		return;
	for (i = 0; i < r->n; i++) {
		explicit_bzero(r->v[i].s, r->v[i].len);
		free(r->v[i].s);
	}
	free(r->v);
	free(r);
}

int
redact_empty(const struct redact *r)
{
	return r == NULL || r->n == 0;
}

/* len minus the longest proper border of s (KMP's failure function), once per secret. */
static size_t
period_of(const char *s, size_t len)
{
	size_t *fail = xmalloc(len * sizeof *fail);
	size_t i, k = 0, p;

	fail[0] = 0;
	for (i = 1; i < len; i++) {
		while (k > 0 && s[i] != s[k])
			k = fail[k - 1];
		if (s[i] == s[k])
			k++;
		fail[i] = k;
	}
	p = len - fail[len - 1];
	free(fail);
	return p;
}

static void
add_needle(struct redact *r, const char *s, size_t len)
{
	size_t i;

	if (len < REDACT_MIN_LEN)
		return;
	for (i = 0; i < r->n; i++)
		if (r->v[i].len == len && memcmp(r->v[i].s, s, len) == 0)
			return;
	if (r->n == r->alloc) {
		r->alloc = r->alloc ? r->alloc * 2 : 4;
		r->v = xrealloc(r->v, r->alloc * sizeof *r->v);
	}
	r->v[r->n].s = xstrndup(s, len);
	r->v[r->n].len = len;
	r->v[r->n].period = period_of(s, len);
	r->n++;
}

/* The body of s's JSON string literal (jansson's escaping, flags adding JSON_ESCAPE_SLASH or not). */
static void
add_json_form(struct redact *r, const char *s, size_t flags)
{
	json_t *str = json_string(s);
	char *lit = str ? json_dumps(str, JSON_ENCODE_ANY | flags) : NULL;
	size_t n = lit ? strlen(lit) : 0;

	if (n >= 2 && (n - 2 != strlen(s) || memcmp(lit + 1, s, n - 2) != 0))
		add_needle(r, lit + 1, n - 2);
	if (lit) {
		explicit_bzero(lit, n);
		free(lit);
	}
	json_decref(str);
}

void
redact_add(struct redact *r, const char *secret)
{
	if (r == NULL || secret == NULL || strlen(secret) < REDACT_MIN_LEN)
		return;
	add_needle(r, secret, strlen(secret));
	add_json_form(r, secret, 0);
	add_json_form(r, secret, JSON_ESCAPE_SLASH);
}

void
redact_add_header(struct redact *r, const char *line)
{
	const char *colon = line ? strchr(line, ':') : NULL;
	const char *v, *sp;
	size_t namelen;

	if (r == NULL || colon == NULL)
		return;
	namelen = (size_t)(colon - line);
	v = colon + 1;
	v += strspn(v, " \t");
	redact_add(r, v);
	if ((namelen == 13 && strncasecmp(line, "Authorization", 13) == 0) ||
	    (namelen == 19 && strncasecmp(line, "Proxy-Authorization", 19) == 0)) {
		sp = strchr(v, ' ');
		if (sp)
			redact_add(r, sp + strspn(sp, " "));
	}
}

void
redact_add_headers(struct redact *r, const char *const *lines)
{
	size_t i;

	for (i = 0; lines && lines[i]; i++)
		redact_add_header(r, lines[i]);
}

/* s[0..n) as a secret, and its percent-decoded form when that differs (a server may echo either). */
static void
add_url_part(struct redact *r, const char *s, size_t n)
{
	char *raw = xstrndup(s, n), *dec = xmalloc(n + 1);
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		if (s[i] == '%' && i + 2 < n && isxdigit((unsigned char)s[i + 1]) &&
		    isxdigit((unsigned char)s[i + 2])) {
			char hex[3] = {s[i + 1], s[i + 2], '\0'};

			dec[o++] = (char)strtol(hex, NULL, 16);
			i += 2;
		} else if (s[i] == '+') {
			dec[o++] = ' ';
		} else {
			dec[o++] = s[i];
		}
	}
	dec[o] = '\0';
	redact_add(r, raw);
	if (strlen(dec) == o && strcmp(dec, raw) != 0)
		redact_add(r, dec);
	free(raw);
	free(dec);
}

void
redact_add_url(struct redact *r, const char *url)
{
	const char *auth, *end, *at, *colon, *q, *p, *amp, *eq;

	if (r == NULL || url == NULL || (auth = strstr(url, "://")) == NULL)
		return;
	auth += 3;
	end = auth + strcspn(auth, "/?#");
	at = memchr(auth, '@', (size_t)(end - auth));
	if (at) {
		add_url_part(r, auth, (size_t)(at - auth));
		colon = memchr(auth, ':', (size_t)(at - auth));
		if (colon)
			add_url_part(r, colon + 1, (size_t)(at - colon - 1));
	}
	q = strchr(end, '?');
	if (q == NULL)
		return;
	end = q + 1 + strcspn(q + 1, "#");
	for (p = q + 1; p < end; p = amp + 1) {
		amp = memchr(p, '&', (size_t)(end - p));
		if (amp == NULL)
			amp = end;
		eq = memchr(p, '=', (size_t)(amp - p));
		if (eq)
			add_url_part(r, eq + 1, (size_t)(amp - eq - 1));
		if (amp == end)
			break;
	}
}

void
redact_add_config(struct redact *r, const struct config *cfg)
{
	size_t i;

	if (cfg == NULL)
		return;
	for (i = 0; i < cfg->n_api_keys; i++)
		redact_add(r, cfg->api_keys[i].key);
	for (i = 0; i < cfg->n_upstreams; i++)
		redact_add(r, cfg->upstreams[i].api_key);
	for (i = 0; i < cfg->n_upstreams; i++)
		redact_add_url(r, cfg->upstreams[i].base_url);
	for (i = 0; i < cfg->n_mcp_servers; i++) {
		redact_add_headers(r, (const char *const *)cfg->mcp_servers[i].headers);
		redact_add_url(r, cfg->mcp_servers[i].url);
	}
}

/* The next occurrence of needle k in s[from..n), or NONE. */
static size_t
find(const struct needle *k, const char *s, size_t n, size_t from)
{
	const char *p;

	if (from > n || n - from < k->len)
		return NONE;
	p = memmem(s + from, n - from, k->s, k->len);
	return p ? (size_t)(p - s) : NONE;
}

struct buf_out {
	char *p;
	size_t len, alloc;
};

static void
out_put(struct buf_out *o, const char *p, size_t n)
{
	if (o->len + n + 1 > o->alloc) {
		while (o->len + n + 1 > o->alloc)
			o->alloc = o->alloc ? o->alloc * 2 : 64;
		o->p = xrealloc(o->p, o->alloc);
	}
	memcpy(o->p + o->len, p, n);
	o->len += n;
	o->p[o->len] = '\0';
}

/*
 * The scan: next[i] is the next occurrence of needle i at or after the cursor. The leftmost one
 * opens a run; every occurrence that starts inside or right at the end of the run extends it, until
 * none does; the run becomes one mark. A needle's search only ever moves forward and resumes where an
 * occurrence could still reach past the run's end, so each needle reads the text about once; a run
 * of self-overlapping copies of one needle ("aaaa..." for a secret of a's) is followed a period at a
 * time with memcmp instead of one memmem per byte.
 */
static int
scan(const struct redact *r, const char *s, size_t n, struct buf_out *out)
{
	size_t stack[STACK_NEEDLES];
	size_t *next = r->n <= STACK_NEEDLES ? stack : xmalloc(r->n * sizeof *next);
	size_t cur = 0, i, m, end;
	int marks = 0, grew;

	for (i = 0; i < r->n; i++)
		next[i] = find(&r->v[i], s, n, 0);
	for (;;) {
		m = NONE;
		for (i = 0; i < r->n; i++)
			if (next[i] < m)
				m = next[i];
		if (m == NONE)
			break;
		end = m;
		do {
			grew = 0;
			for (i = 0; i < r->n; i++) {
				const struct needle *k = &r->v[i];

				while (next[i] != NONE && next[i] <= end) {
					size_t e = next[i] + k->len, from;

					if (e > end) {
						end = e;
						grew = 1;
					}
					if (e == end) {
						/* This needle ends the run: the occurrence one period on
						 * holds iff the next period bytes continue the needle
						 * (O(period) for each, so a repetitive text costs O(n), not n
						 * x len). */
						while (end + k->period <= n &&
						       memcmp(s + end, k->s + k->len - k->period,
						              k->period) == 0) {
							end += k->period;
							grew = 1;
						}
						/* A shift shorter than the period cannot match; longer ones
						 * may. */
						from = end - k->len + k->period + 1;
					} else {
						/* Occurrences that end inside the run add nothing: skip them.
						 */
						from = next[i] + 1;
						if (end + 1 > k->len && end + 1 - k->len > from)
							from = end + 1 - k->len;
					}
					next[i] = find(k, s, n, from);
				}
			}
		} while (grew);
		out_put(out, s + cur, m - cur);
		out_put(out, REDACT_MARK, MARK_LEN);
		marks++;
		cur = end;
	}
	if (marks)
		out_put(out, s + cur, n - cur);
	if (next != stack)
		free(next);
	return marks;
}

char *
redact_text(const struct redact *r, const char *s, size_t len, size_t *out_len)
{
	struct buf_out o = {0};

	if (redact_empty(r) || s == NULL || len < REDACT_MIN_LEN)
		return NULL;
	if (scan(r, s, len, &o) == 0)
		return NULL;
	if (out_len)
		*out_len = o.len;
	return o.p;
}

size_t
redact_inplace(const struct redact *r, char *s, size_t cap)
{
	struct buf_out o = {0};
	size_t marks, n;

	if (redact_empty(r) || s == NULL || cap == 0)
		return 0;
	marks = (size_t)scan(r, s, strlen(s), &o);
	if (marks == 0)
		return 0;
	n = o.len;
	if (n > cap - 1) {
		n = cap - 1;
		/* Back off to the start of a character: a cut sequence would not be valid JSON text. */
		while (n > 0 && ((unsigned char)o.p[n] & 0xC0) == 0x80)
			n--;
	}
	memcpy(s, o.p, n);
	s[n] = '\0';
	free(o.p);
	return marks;
}

char *
redact_strdup(const struct redact *r, const char *s)
{
	char *t;

	if (s == NULL)
		return NULL;
	t = redact_text(r, s, strlen(s), NULL);
	return t ? t : xstrdup(s);
}

static json_t *
string_of(const char *t, size_t n)
{
	json_t *v = json_stringn(t, n);

	/* A secret that ends inside a UTF-8 sequence leaves invalid text: say only the mark then. */
	return v ? v : json_string(REDACT_MARK);
}

/* A new object with the first n members of v (shared). */
static json_t *
object_prefix(json_t *v, size_t n)
{
	json_t *copy = json_object();
	void *it = json_object_iter(v);
	size_t j;

	for (j = 0; j < n && it; j++, it = json_object_iter_next(v, it))
		json_object_set(copy, json_object_iter_key(it), json_object_iter_value(it));
	return copy;
}

json_t *
redact_json(const struct redact *r, json_t *v)
{
	json_t *copy = NULL, *elem, *nv;
	const char *key;
	size_t i, n;
	char *t;

	if (v == NULL)
		return NULL;
	if (redact_empty(r))
		return json_incref(v);
	switch (json_typeof(v)) {
	case JSON_STRING:
		t = redact_text(r, json_string_value(v), json_string_length(v), &n);
		if (t == NULL)
			return json_incref(v);
		nv = string_of(t, n);
		free(t);
		return nv;
	case JSON_ARRAY:
		json_array_foreach (v, i, elem) {
			nv = redact_json(r, elem);
			if (nv != elem && copy == NULL) {
				size_t j;

				copy = json_array();
				for (j = 0; j < i; j++)
					json_array_append(copy, json_array_get(v, j));
			}
			if (copy)
				json_array_append_new(copy, nv);
			else
				json_decref(nv);
		}
		return copy ? copy : json_incref(v);
	case JSON_OBJECT: {
		size_t idx = 0;

		/* Built lazily, as for arrays: the common case (nothing found) builds nothing. */
		json_object_foreach (v, key, elem) {
			char *k = redact_text(r, key, strlen(key), NULL);

			nv = redact_json(r, elem);
			if ((nv != elem || k) && copy == NULL)
				copy = object_prefix(v, idx);
			if (copy)
				json_object_set_new(copy, k ? k : key, nv);
			else
				json_decref(nv);
			free(k);
			idx++;
		}
		return copy ? copy : json_incref(v);
	}
	default:
		return json_incref(v);
	}
}

void
redact_json_member(const struct redact *r, json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key), *nv;

	if (v == NULL || redact_empty(r))
		return;
	nv = redact_json(r, v);
	if (nv != v)
		json_object_set_new(obj, key, nv);
	else
		json_decref(nv);
}
