/*
 * libFuzzer target for the head check (api/headguard). The first byte chooses the cap (16..4111
 * bytes); the rest is a connection's first bytes. Checked: a whole head ends with CRLF CRLF within
 * the cap and the input; a refusal is a 4xx/5xx with a code; and the verdict is the one the guard
 * would reach peeking at any shorter prefix: every prefix of a whole head shorter than it is
 * partial, and every prefix that is refused keeps the same refusal as the whole input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/apierr.h"
#include "api/headguard.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct api_error e, pe;
	size_t cap, len, head_len = 0, plen, pl;
	const char *in;
	enum headguard_verdict v, pv;

	if (size == 0)
		return 0;
	cap = 16 + (size_t)data[0] * 16;
	in = (const char *)data + 1;
	len = size - 1 < cap ? size - 1 : cap; /* the guard never peeks more than the cap */
	memset(&e, 0, sizeof e);
	v = headguard_check(in, len, cap, &head_len, &e);
	if (v == HEADGUARD_COMPLETE &&
	    (head_len < 4 || head_len > len || memcmp(in + head_len - 4, "\r\n\r\n", 4) != 0))
		abort();
	if (v == HEADGUARD_BAD && (e.status < 400 || e.status > 599 || e.code[0] == '\0'))
		abort();
	if (v == HEADGUARD_PARTIAL && len >= cap)
		abort();
	/* A few prefixes, as the guard may see them while the head arrives. */
	for (plen = 0; plen < len; plen += 1 + len / 8) {
		memset(&pe, 0, sizeof pe);
		pl = 0;
		pv = headguard_check(in, plen, cap, &pl, &pe);
		if (v == HEADGUARD_COMPLETE && plen < head_len && pv != HEADGUARD_PARTIAL)
			abort();
		if (pv == HEADGUARD_BAD &&
		    (v != HEADGUARD_BAD || pe.status != e.status || strcmp(pe.code, e.code) != 0))
			abort();
		if (pv == HEADGUARD_COMPLETE && (v != HEADGUARD_COMPLETE || pl != head_len))
			abort();
	}
	return 0;
}
