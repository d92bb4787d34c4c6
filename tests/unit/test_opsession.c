/*
 * test_opsession: the approval page's logins: a token works once and makes a session that names its
 * operator "via page"; unknown, forged and spent secrets get nothing; the oldest token and session are
 * pushed out past the caps; the cookie is found among others and refused when too long. (Expiry
 * reads the wall clock: the integration test's refusals cover it only as "unknown".)
 */
#include <stdio.h>
#include <string.h>

#include "api/opsession.h"
#include "tests/unit/t.h"

static void
test_once(void)
{
	struct opsession *s = opsession_new();
	char token[OPSESSION_SECRET_MAX], session[OPSESSION_SECRET_MAX], again[OPSESSION_SECRET_MAX];
	char actor[CONFIG_IDENTITY_MAX] = "";
	int64_t exp = 0;

	opsession_token_new(s, "uid=0", token, &exp);
	T(strncmp(token, "oplogin_", 8) == 0 && strlen(token) == 8 + 32);
	T(exp > 0);
	T(opsession_check(s, token, actor) < 0); /* a token is no session */
	T(opsession_redeem(s, token, session) == 0);
	T(strncmp(session, "opsess_", 7) == 0);
	T(opsession_redeem(s, token, again) < 0); /* spent */
	T(opsession_check(s, session, actor) == 0);
	T_STREQ(actor, "uid=0 via page");
	T(opsession_redeem(s, session, again) < 0); /* a session is no token */
	session[10] ^= 1;
	T(opsession_check(s, session, actor) < 0);
	T(opsession_check(s, "", actor) < 0);
	T(opsession_check(s, NULL, actor) < 0);
	T(opsession_redeem(s, "oplogin_00000000000000000000000000000000", again) < 0);
	opsession_free(s);
}

static void
test_caps(void)
{
	struct opsession *s = opsession_new();
	char tokens[OPSESSION_MAX_TOKENS + 1][OPSESSION_SECRET_MAX], session[OPSESSION_SECRET_MAX];
	char sessions[OPSESSION_MAX_SESSIONS + 2][OPSESSION_SECRET_MAX], actor[CONFIG_IDENTITY_MAX];
	int64_t exp;
	int i, live = 0;

	for (i = 0; i <= OPSESSION_MAX_TOKENS; i++)
		opsession_token_new(s, "uid=0", tokens[i], &exp);
	/* The first was pushed out by the last; the second is still good. */
	T(opsession_redeem(s, tokens[0], session) < 0);
	T(opsession_redeem(s, tokens[1], session) == 0);
	T(opsession_redeem(s, tokens[OPSESSION_MAX_TOKENS], session) == 0);
	for (i = 0; i < OPSESSION_MAX_SESSIONS + 2; i++) {
		char t[OPSESSION_SECRET_MAX];

		opsession_token_new(s, "uid=1000", t, &exp);
		T(opsession_redeem(s, t, sessions[i]) == 0);
	}
	for (i = 0; i < OPSESSION_MAX_SESSIONS + 2; i++)
		live += opsession_check(s, sessions[i], actor) == 0;
	T(live == OPSESSION_MAX_SESSIONS);
	T(opsession_check(s, sessions[0], actor) < 0);
	T(opsession_check(s, sessions[1], actor) < 0);
	T(opsession_check(s, sessions[OPSESSION_MAX_SESSIONS + 1], actor) == 0);
	opsession_free(s);
}

static void
test_cookie(void)
{
	char out[OPSESSION_SECRET_MAX], big[200];

	T(opsession_cookie("toolhost_operator=opsess_abc", out) == 0);
	T_STREQ(out, "opsess_abc");
	T(opsession_cookie("a=1; toolhost_operator=opsess_x; b=2", out) == 0);
	T_STREQ(out, "opsess_x");
	T(opsession_cookie("xtoolhost_operator=1; toolhost_operator_old=2", out) < 0);
	T(opsession_cookie("toolhost_operator=", out) < 0);
	T(opsession_cookie("", out) < 0);
	T(opsession_cookie(NULL, out) < 0);
	snprintf(big, sizeof big, "toolhost_operator=%0150d", 7);
	T(opsession_cookie(big, out) < 0);
}

int
main(void)
{
	test_once();
	test_caps();
	test_cookie();
	return T_DONE();
}
