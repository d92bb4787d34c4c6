#include "daemon/sse.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/buf.h"
#include "daemon/util.h"

static const unsigned char sse_bom[3] = {0xef, 0xbb, 0xbf};

struct sse_parser {
	size_t max_event;
	sse_event_cb cb;
	void *ud;

	struct buf line;  /* the unfinished line carried over between feeds */
	struct buf data;  /* the event's data lines joined with "\n" */
	struct buf event; /* the event type buffer */
	struct buf id;    /* the last event id; persists across events */
	int have_data;    /* a data line was seen: the next one is preceded by "\n" */
	long retry_ms;

	unsigned bom_matched; /* leading bytes that matched the BOM so far */
	int bom_done;         /* past the point where a BOM could start */
	int skip_lf;          /* the last line ended in CR: a following LF belongs to it */
	int failed;
};

struct sse_parser *
sse_parser_new(size_t max_event, sse_event_cb cb, void *ud)
{
	struct sse_parser *p = xcalloc(1, sizeof *p);

	p->max_event = max_event;
	p->cb = cb;
	p->ud = ud;
	/* The buffers' own caps are a backstop (buf treats 0 as "no cap"); the checks below are exact. */
	buf_init(&p->line, max_event ? max_event : 1);
	buf_init(&p->data, max_event ? max_event : 1);
	buf_init(&p->event, max_event ? max_event : 1);
	buf_init(&p->id, max_event ? max_event : 1);
	p->retry_ms = -1;
	return p;
}

void
sse_parser_free(struct sse_parser *p)
{
	if (p == NULL)
		return;
	buf_free(&p->line);
	buf_free(&p->data);
	buf_free(&p->event);
	buf_free(&p->id);
	free(p);
}

long
sse_parser_retry_ms(const struct sse_parser *p)
{
	return p->retry_ms;
}

const char *
sse_parser_last_id(const struct sse_parser *p)
{
	return p->id.data ? p->id.data : "";
}

/*
 * Appends s to b, replacing each NUL byte with U+FFFD: the event type and data are handed out as C
 * strings, so they must not contain NUL. The result must stay within max bytes.
 */
static int
append_clean(struct buf *b, const char *s, size_t n, size_t max)
{
	static const char repl[3] = {(char)0xef, (char)0xbf, (char)0xbd};
	const char *nul;
	size_t span;

	while (n > 0) {
		nul = memchr(s, '\0', n);
		span = nul ? (size_t)(nul - s) : n;
		if (span > max - b->len || buf_append(b, s, span) < 0)
			return -1;
		if (nul == NULL)
			break;
		if (sizeof repl > max - b->len || buf_append(b, repl, sizeof repl) < 0)
			return -1;
		s += span + 1;
		n -= span + 1;
	}
	return 0;
}

/* Returns the callback's value (0 when it was not called). */
static int
dispatch(struct sse_parser *p)
{
	struct sse_event ev;
	int stop = 0;

	if (p->data.len > 0 && p->cb) {
		ev.event = p->event.len ? p->event.data : "message";
		ev.data = p->data.data;
		ev.data_len = p->data.len;
		ev.id = sse_parser_last_id(p);
		stop = p->cb(p->ud, &ev);
	}
	buf_reset(&p->data);
	buf_reset(&p->event);
	p->have_data = 0;
	return stop;
}

static void
set_retry(struct sse_parser *p, const char *v, size_t n)
{
	long ms = 0;
	size_t i;

	if (n == 0)
		return;
	for (i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return;
	}
	/* Digits only, so the value is valid; clamp absurd ones instead of overflowing. */
	for (i = 0; i < n; i++) {
		if (ms > (LONG_MAX - (v[i] - '0')) / 10) {
			ms = LONG_MAX;
			break;
		}
		ms = ms * 10 + (v[i] - '0');
	}
	p->retry_ms = ms;
}

/*
 * One complete line without its terminator. Returns -1 when a cap is hit, else 0 with *stop set to
 * the callback's value (kept apart so that a callback returning -1 does not fail the parser).
 */
static int
process_line(struct sse_parser *p, const char *line, size_t n, int *stop)
{
	const char *colon, *v;
	size_t fn, vn;

	*stop = 0;
	if (n == 0) {
		*stop = dispatch(p);
		return 0;
	}
	if (line[0] == ':')
		return 0;
	colon = memchr(line, ':', n);
	if (colon) {
		fn = (size_t)(colon - line);
		v = colon + 1;
		vn = n - fn - 1;
		if (vn > 0 && v[0] == ' ') {
			v++;
			vn--;
		}
	} else {
		fn = n;
		v = "";
		vn = 0;
	}

	if (fn == 4 && memcmp(line, "data", 4) == 0) {
		if (p->have_data) {
			if (p->data.len >= p->max_event || buf_append(&p->data, "\n", 1) < 0)
				return -1;
		}
		p->have_data = 1;
		return append_clean(&p->data, v, vn, p->max_event);
	}
	if (fn == 5 && memcmp(line, "event", 5) == 0) {
		buf_reset(&p->event);
		return append_clean(&p->event, v, vn, p->max_event);
	}
	if (fn == 2 && memcmp(line, "id", 2) == 0) {
		/* The spec ignores an id containing NUL; vn <= n <= max_event, so this fits. */
		if (memchr(v, '\0', vn) == NULL) {
			buf_reset(&p->id);
			if (buf_append(&p->id, v, vn) < 0)
				return -1;
		}
		return 0;
	}
	if (fn == 5 && memcmp(line, "retry", 5) == 0)
		set_retry(p, v, vn);
	/* Any other field is ignored. */
	return 0;
}

/* Keeps len bytes of an unfinished line for the next feed. */
static int
carry(struct sse_parser *p, const char *s, size_t len)
{
	if (len > p->max_event - p->line.len || buf_append(&p->line, s, len) < 0)
		return -1;
	return 0;
}

int
sse_parser_feed(struct sse_parser *p, const char *data, size_t len)
{
	const char *line;
	size_t i = 0, j, n;
	int result, stop;

	if (p->failed)
		return -1;

	/* A BOM is skipped only at the very start of the stream, and it may arrive split. */
	while (!p->bom_done && i < len) {
		if ((unsigned char)data[i] == sse_bom[p->bom_matched]) {
			i++;
			if (++p->bom_matched == sizeof sse_bom)
				p->bom_done = 1;
			continue;
		}
		p->bom_done = 1;
		/* Not a BOM after all: the bytes held back start the first line. */
		if (carry(p, (const char *)sse_bom, p->bom_matched) < 0)
			goto fail;
	}

	while (i < len) {
		if (p->skip_lf) {
			p->skip_lf = 0;
			if (data[i] == '\n') {
				i++;
				continue;
			}
		}
		for (j = i; j < len && data[j] != '\n' && data[j] != '\r'; j++)
			;
		if (j == len) {
			if (carry(p, data + i, len - i) < 0)
				goto fail;
			return 0;
		}
		/* A whole line; use it in place unless part of it came in an earlier feed. */
		if (p->line.len == 0) {
			line = data + i;
			n = j - i;
			if (n > p->max_event)
				goto fail;
		} else {
			if (carry(p, data + i, j - i) < 0)
				goto fail;
			line = p->line.data;
			n = p->line.len;
		}
		p->skip_lf = data[j] == '\r';
		i = j + 1;
		result = process_line(p, line, n, &stop);
		buf_reset(&p->line);
		if (result < 0)
			goto fail;
		if (stop != 0)
			return stop;
	}
	return 0;

fail:
	p->failed = 1;
	buf_free(&p->line);
	buf_free(&p->data);
	buf_free(&p->event);
	return -1;
}

/*
 * Writes text as one or more lines "<prefix><line>\n" (a line break inside text would otherwise end
 * the field early), then the blank line that ends the event. On failure out is left as it was.
 */
static int
write_lines(struct buf *out, const char *prefix, const char *text)
{
	size_t start = out->len, n;

	for (;;) {
		n = strcspn(text, "\r\n");
		if (buf_appends(out, prefix) < 0 || buf_append(out, text, n) < 0 ||
		    buf_append(out, "\n", 1) < 0)
			goto fail;
		text += n;
		if (*text == '\0')
			break;
		text += (text[0] == '\r' && text[1] == '\n') ? 2 : 1;
	}
	if (buf_append(out, "\n", 1) < 0)
		goto fail;
	return 0;

fail:
	buf_truncate(out, start);
	return -1;
}

int
sse_write_event_open(struct buf *out, const char *type)
{
	size_t start = out->len;

	if (strpbrk(type, "\r\n"))
		return -1;
	if (buf_appends(out, "event: ") < 0 || buf_appends(out, type) < 0 ||
	    buf_appends(out, "\ndata: ") < 0) {
		buf_truncate(out, start);
		return -1;
	}
	return 0;
}

int
sse_write_event_close(struct buf *out)
{
	return buf_append(out, "\n\n", 2);
}

int
sse_write_event(struct buf *out, const char *type, const char *json, size_t json_len)
{
	size_t start = out->len;

	if (json_len > 0 && (memchr(json, '\n', json_len) || memchr(json, '\r', json_len)))
		return -1;
	if (sse_write_event_open(out, type) < 0)
		return -1;
	if (buf_append(out, json, json_len) < 0 || sse_write_event_close(out) < 0) {
		buf_truncate(out, start);
		return -1;
	}
	return 0;
}

int
sse_write_data(struct buf *out, const char *data)
{
	return write_lines(out, "data: ", data);
}

int
sse_write_comment(struct buf *out, const char *text)
{
	return write_lines(out, ": ", text);
}
