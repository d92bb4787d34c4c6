/*
 * fuzz_opsession: libFuzzer target for the approval page's login secrets as a browser sends them: the
 * Cookie header (opsession_cookie) and whatever it yields as a session id or a login token
 * (opsession_check, opsession_redeem). What the cookie parser returns must be a piece of the header
 * that fits its buffer; no forged secret may ever check or redeem; the real ones still do afterwards.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/opsession.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct opsession *s;
static char token[OPSESSION_SECRET_MAX], session[OPSESSION_SECRET_MAX];

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *header = malloc(size + 1), id[OPSESSION_SECRET_MAX], actor[CONFIG_IDENTITY_MAX],
	     out[OPSESSION_SECRET_MAX];
	int64_t exp;

	if (header == NULL)
		return 0;
	memcpy(header, data, size);
	header[size] = '\0';
	if (s == NULL) {
		s = opsession_new();
		opsession_token_new(s, "uid=0", token, &exp);
		if (opsession_redeem(s, token, session) != 0)
			abort();
		opsession_token_new(s, "uid=0", token, &exp); /* a live one, never redeemed below */
	}
	if (opsession_cookie(header, id) == 0) {
		if (strlen(id) == 0 || strlen(id) >= OPSESSION_SECRET_MAX || strstr(header, id) == NULL)
			abort();
		if (strcmp(id, session) != 0 && opsession_check(s, id, actor) == 0)
			abort();
		if (strcmp(id, token) != 0 && opsession_redeem(s, id, out) == 0)
			abort();
	}
	/* The whole input as a secret: forged unless it is one of the real ones. */
	if (strcmp(header, session) != 0 && opsession_check(s, header, actor) == 0)
		abort();
	if (strcmp(header, token) != 0 && opsession_redeem(s, header, out) == 0)
		abort();
	if (opsession_check(s, session, actor) != 0)
		abort();
	free(header);
	return 0;
}
