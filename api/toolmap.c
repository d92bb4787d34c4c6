/*
 * toolmap: visible names for the MCP tools of one response. Tool names come from MCP servers, which
 * are not trusted: they may repeat a name, use any Unicode, be empty or very long. Whatever they
 * send, every visible name is unique, at most 64 of [A-Za-z0-9_-], and the same input gives the
 * same names (a model told about a tool in one turn must find it under that name in the next).
 *
 * The sets of names are jansson objects used as hash tables, so a large listing stays linear.
 */
#include "api/toolmap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/util.h"

#define TOOLMAP_MAX_NAME 64
#define TOOLMAP_CUT      55 /* + "_" + 8 hex digits = 64 */

struct slot {
	struct toolmap_entry e; /* what callers see; its strings point at the fields below */
	char *visible;
	char *label;
	char *name;
	json_t *tool;
	char *s1, *s2; /* the names of steps 1 and 2, while building */
	int step;
};

struct toolmap {
	json_t *functions; /* the function tools' names (a set) */
	struct slot *slots;
	size_t n, cap;
	json_t *by_visible; /* visible name -> slot index, after build */
	int built;
};

/* Every character outside [A-Za-z0-9_-] becomes one '_': a multi-byte UTF-8 character is one
 * character, so "é" gives "_" rather than "__". */
static char *
sanitize(const char *s)
{
	char *out = xmalloc(strlen(s) + 1), *o = out;
	unsigned char c;

	for (; *s; s++) {
		c = (unsigned char)*s;
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
		    c == '-')
			*o++ = (char)c;
		else if ((c & 0xc0) != 0x80)
			*o++ = '_';
	}
	*o = '\0';
	return out;
}

struct toolmap *
toolmap_new(const json_t *function_tools)
{
	struct toolmap *m = xcalloc(1, sizeof *m);
	const json_t *t;
	const char *name;
	size_t i;

	m->functions = json_object();
	m->by_visible = json_object();
	if (m->functions == NULL || m->by_visible == NULL)
		abort();
	json_array_foreach ((json_t *)function_tools, i, t) {
		name = json_string_value(json_object_get(t, "name"));
		if (name)
			json_object_set_new(m->functions, name, json_true());
	}
	return m;
}

void
toolmap_free(struct toolmap *m)
{
	size_t i;

	if (m == NULL)
		return;
	for (i = 0; i < m->n; i++) {
		free(m->slots[i].visible);
		free(m->slots[i].label);
		free(m->slots[i].name);
		free(m->slots[i].s1);
		free(m->slots[i].s2);
		json_decref(m->slots[i].tool);
	}
	free(m->slots);
	json_decref(m->functions);
	json_decref(m->by_visible);
	free(m);
}

/* 1 when (label, name) is already in the map: a server that lists a tool twice gets it once, as
 * both entries would route to the same call. */
static int
have(const struct toolmap *m, const char *label, const char *name)
{
	size_t i;

	for (i = 0; i < m->n; i++) {
		if (strcmp(m->slots[i].label, label) == 0 && strcmp(m->slots[i].name, name) == 0)
			return 1;
	}
	return 0;
}

void
toolmap_add_server(struct toolmap *m, size_t server, const char *label, const json_t *tools)
{
	const json_t *t;
	const char *name;
	struct slot *s;
	size_t i;

	if (m->built)
		return;
	json_array_foreach ((json_t *)tools, i, t) {
		name = json_string_value(json_object_get(t, "name"));
		if (name == NULL || have(m, label, name))
			continue;
		if (m->n == m->cap) {
			m->cap = m->cap ? m->cap * 2 : 16;
			m->slots = xrealloc(m->slots, m->cap * sizeof *m->slots);
		}
		s = &m->slots[m->n++];
		memset(s, 0, sizeof *s);
		s->label = xstrdup(label);
		s->name = xstrdup(name);
		s->tool = json_deep_copy(t);
		if (s->tool == NULL)
			abort();
		s->e.server = server;
		s->e.label = s->label;
		s->e.name = s->name;
		s->e.tool = s->tool;
	}
}

static void
count_in(json_t *counts, const char *key)
{
	json_t *v = json_object_get(counts, key);

	json_object_set_new(counts, key, json_integer(v ? json_integer_value(v) + 1 : 1));
}

static json_int_t
count_of(const json_t *counts, const char *key)
{
	return json_integer_value(json_object_get(counts, key));
}

/* Step 3: s2 cut to 55 characters, "_", 8 hex digits of SHA-256(label "\0" name). salt > 0 (only
 * after a clash of those 8 digits, which a hostile server could seek) adds "\0" salt to the hash
 * input. */
static char *
hashed(const struct slot *s, unsigned salt)
{
	char hex[65], *in;
	size_t ll = strlen(s->label), nl = strlen(s->name), n;

	in = xmalloc(ll + nl + 16);
	memcpy(in, s->label, ll + 1);
	memcpy(in + ll + 1, s->name, nl);
	n = ll + 1 + nl;
	if (salt > 0) {
		in[n] = '\0';
		n += (size_t)snprintf(in + n + 1, 14, "%u", salt) + 1;
	}
	util_sha256_hex(in, n, hex);
	free(in);
	return xasprintf("%.*s_%.8s", TOOLMAP_CUT, s->s2, hex);
}

/*
 * The prefix every generated name of a label starts with: sanitize(label) "__", cut at 55 like a
 * step-3 name. Every step-2 name ("<label>__<name>") and every step-3 name (its first 55 characters
 * and a digest) of that label starts with it. A literal name that starts with it would squat a name
 * the map may generate for another tool (a server listing "fault__echo" would take the name of the
 * "fault" server's "echo", and the model's calls to it would go to the wrong server), so such a
 * literal is never kept as it is: it is renamed like a clash. This holds for the tool's own label
 * too, which keeps the rule simple: no kept literal ever looks like any label's generated form.
 * A set of prefixes (jansson object), one per distinct label.
 */
static json_t *
label_prefixes(const struct toolmap *m)
{
	json_t *set = json_object();
	char *tmp, *san;
	size_t i;

	if (set == NULL)
		abort();
	for (i = 0; i < m->n; i++) {
		tmp = xasprintf("%s__", m->slots[i].label);
		san = sanitize(tmp);
		if (strlen(san) > TOOLMAP_CUT)
			san[TOOLMAP_CUT] = '\0';
		json_object_set_new(set, san, json_true());
		free(san);
		free(tmp);
	}
	return set;
}

/* 1 when name starts with one of the prefixes (labels are few: a request names a handful). */
static int
looks_generated(const json_t *prefixes, const char *name)
{
	const char *p;
	json_t *v;

	json_object_foreach ((json_t *)prefixes, p, v) {
		if (strncmp(name, p, strlen(p)) == 0)
			return 1;
	}
	return 0;
}

void
toolmap_build(struct toolmap *m)
{
	json_t *count1, *count2, *kept, *taken, *prefixes;
	struct slot *s;
	char *cand, *tmp;
	unsigned salt;
	size_t i;

	if (m->built)
		return;
	m->built = 1;
	count1 = json_object();
	count2 = json_object();
	kept = json_object();
	taken = json_deep_copy(m->functions);
	if (!count1 || !count2 || !kept || !taken)
		abort();

	/* Step 1 for everyone; a name that is empty, too long, a function's, shared, or in the form
	 * generated for a label of the request goes to step 2. */
	for (i = 0; i < m->n; i++) {
		m->slots[i].s1 = sanitize(m->slots[i].name);
		count_in(count1, m->slots[i].s1);
	}
	prefixes = label_prefixes(m);
	for (i = 0; i < m->n; i++) {
		s = &m->slots[i];
		s->step = (s->s1[0] == '\0' || strlen(s->s1) > TOOLMAP_MAX_NAME ||
		           json_object_get(m->functions, s->s1) || count_of(count1, s->s1) > 1 ||
		           looks_generated(prefixes, s->s1))
		                  ? 2
		                  : 1;
		if (s->step == 1)
			json_object_set_new(kept, s->s1, json_true());
	}
	/* Step 2 names; a clash among them, or with a name kept at step 1 or a function's, goes to step 3. */
	for (i = 0; i < m->n; i++) {
		tmp = xasprintf("%s__%s", m->slots[i].label, m->slots[i].name);
		m->slots[i].s2 = sanitize(tmp);
		free(tmp);
		if (m->slots[i].step == 2)
			count_in(count2, m->slots[i].s2);
	}
	for (i = 0; i < m->n; i++) {
		s = &m->slots[i];
		if (s->step == 2 &&
		    (strlen(s->s2) > TOOLMAP_MAX_NAME || json_object_get(m->functions, s->s2) ||
		     json_object_get(kept, s->s2) || count_of(count2, s->s2) > 1))
			s->step = 3;
	}
	/* Assign in order; a name already taken moves the tool on to the next step. */
	for (i = 0; i < m->n; i++) {
		s = &m->slots[i];
		cand = NULL;
		if (s->step == 1) {
			if (!json_object_get(taken, s->s1))
				cand = xstrdup(s->s1);
			else
				s->step = 2;
		}
		if (cand == NULL && s->step == 2) {
			if (strlen(s->s2) <= TOOLMAP_MAX_NAME && !json_object_get(taken, s->s2))
				cand = xstrdup(s->s2);
			else
				s->step = 3;
		}
		for (salt = 0; cand == NULL; salt++) {
			cand = hashed(s, salt);
			if (json_object_get(taken, cand)) {
				free(cand);
				cand = NULL;
			}
		}
		json_object_set_new(taken, cand, json_true());
		json_object_set_new(m->by_visible, cand, json_integer((json_int_t)i));
		s->visible = cand;
		s->e.visible = cand;
	}
	for (i = 0; i < m->n; i++) {
		free(m->slots[i].s1);
		free(m->slots[i].s2);
		m->slots[i].s1 = m->slots[i].s2 = NULL;
	}
	json_decref(count1);
	json_decref(count2);
	json_decref(kept);
	json_decref(taken);
	json_decref(prefixes);
}

size_t
toolmap_count(const struct toolmap *m)
{
	return m->n;
}

const struct toolmap_entry *
toolmap_at(const struct toolmap *m, size_t i)
{
	return i < m->n ? &m->slots[i].e : NULL;
}

const struct toolmap_entry *
toolmap_find(const struct toolmap *m, const char *visible)
{
	json_t *v;

	if (visible == NULL)
		return NULL;
	v = json_object_get(m->by_visible, visible);
	return v ? &m->slots[json_integer_value(v)].e : NULL;
}

const char *
toolmap_visible(const struct toolmap *m, const char *label, const char *name)
{
	size_t i;

	for (i = 0; label && name && i < m->n; i++) {
		if (strcmp(m->slots[i].label, label) == 0 && strcmp(m->slots[i].name, name) == 0)
			return m->slots[i].visible;
	}
	return NULL;
}

/* The tool's description, else its title (MCP 2025-06-18 on, or the older annotations.title). */
static const char *
describe(const json_t *tool)
{
	const char *d = json_string_value(json_object_get(tool, "description"));

	if (d == NULL || d[0] == '\0')
		d = json_string_value(json_object_get(tool, "title"));
	if (d == NULL || d[0] == '\0')
		d = json_string_value(json_object_get(json_object_get(tool, "annotations"), "title"));
	return d && d[0] ? d : NULL;
}

/* A JSON string that cannot fail on bad UTF-8 from a peer: the caller then gets fallback. */
static json_t *
string_or(const char *s, const char *fallback)
{
	json_t *v = json_string(s);

	if (v == NULL)
		v = json_string(fallback);
	if (v == NULL)
		abort();
	return v;
}

json_t *
toolmap_chat_tools(const struct toolmap *m, long only_server)
{
	json_t *out = json_array(), *fn, *f, *params;
	const struct slot *s;
	const char *d;
	char *desc;
	size_t i;

	if (out == NULL)
		abort();
	for (i = 0; i < m->n; i++) {
		s = &m->slots[i];
		if (s->visible == NULL || (only_server >= 0 && s->e.server != (size_t)only_server))
			continue;
		d = describe(s->tool);
		desc = d ? xasprintf("[%s] %s", s->label, d) : xasprintf("[%s]", s->label);
		params = json_object_get(s->tool, "inputSchema");
		if (json_is_object(params)) {
			params = json_deep_copy(params);
		} else {
			params = json_object();
			json_object_set_new(params, "type", json_string("object"));
			json_object_set_new(params, "properties", json_object());
		}
		f = json_object();
		fn = json_object();
		if (params == NULL || f == NULL || fn == NULL)
			abort();
		json_object_set_new(f, "name", string_or(s->visible, "_"));
		json_object_set_new(f, "description", string_or(desc, ""));
		json_object_set_new(f, "parameters", params);
		json_object_set_new(fn, "type", json_string("function"));
		json_object_set_new(fn, "function", f);
		free(desc);
		json_array_append_new(out, fn);
	}
	return out;
}
