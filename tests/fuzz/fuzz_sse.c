/*
 * libFuzzer target for the SSE parser. The first byte chooses the piece size (1..64) the rest of the
 * input is fed in; the same bytes are also fed whole, and both runs must dispatch the same events
 * with the same status. Every event, type and id must stay within the cap.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/sse.h"

#define FUZZ_SSE_CAP 256

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fuzz_run {
	uint64_t hash; /* FNV-1a over every event's type, id and data */
	unsigned calls;
};

static void
mix(struct fuzz_run *r, const void *p, size_t n)
{
	const unsigned char *s = p;
	size_t i;

	for (i = 0; i < n; i++) {
		r->hash ^= s[i];
		r->hash *= 1099511628211u;
	}
}

static int
on_event(void *ud, const struct sse_event *ev)
{
	struct fuzz_run *r = ud;

	if (ev->data_len == 0 || ev->data_len > FUZZ_SSE_CAP || strlen(ev->data) != ev->data_len ||
	    strlen(ev->event) > FUZZ_SSE_CAP || strlen(ev->id) > FUZZ_SSE_CAP)
		abort();
	r->calls++;
	mix(r, ev->event, strlen(ev->event) + 1);
	mix(r, ev->id, strlen(ev->id) + 1);
	mix(r, ev->data, ev->data_len + 1);
	return 0;
}

/* Returns the first non-zero feed status, checking that a failed parser stays failed. */
static int
run(const char *in, size_t len, size_t piece, struct fuzz_run *r)
{
	struct sse_parser *p = sse_parser_new(FUZZ_SSE_CAP, on_event, r);
	size_t pos, n;
	int rc, first = 0;

	r->hash = 1469598103934665603u;
	r->calls = 0;
	for (pos = 0; pos < len; pos += n) {
		n = len - pos < piece ? len - pos : piece;
		rc = sse_parser_feed(p, in + pos, n);
		if (first == -1 && rc != -1)
			abort();
		if (first == 0)
			first = rc;
	}
	if (strlen(sse_parser_last_id(p)) > FUZZ_SSE_CAP)
		abort();
	mix(r, sse_parser_last_id(p), strlen(sse_parser_last_id(p)) + 1);
	mix(r, &(long){sse_parser_retry_ms(p)}, sizeof(long));
	sse_parser_free(p);
	return first;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_run a, b;
	size_t piece;
	int rca, rcb;

	if (size == 0)
		return 0;
	piece = (size_t)(data[0] & 63) + 1;
	rca = run((const char *)data + 1, size - 1, piece, &a);
	rcb = run((const char *)data + 1, size - 1, size, &b);
	if (rca != rcb || a.calls != b.calls || a.hash != b.hash)
		abort();
	return 0;
}
