/*
 * opsession: the operators' logins for the approval page (APPROVALS-NOTES 5). A browser cannot show
 * a uid, so an operator on the Unix socket asks for a one-time login URL (toolhostctl login-url,
 * POST /v1/approvals/login); opening it trades the token for a session cookie (HttpOnly,
 * SameSite=Strict) that the page and its stream present. The session acts for the operator who asked
 * for the URL ("uid=0 via page"), which is the identity the audit rows name.
 *
 * Both kinds of secret are 128 random bits; only their SHA-256 is kept, compared in constant time.
 * They live in memory: a restart logs every page out (a new login URL logs in again). A token is good
 * once, for OPSESSION_TOKEN_TTL_S; a session for OPSESSION_TTL_S. At most OPSESSION_MAX_TOKENS and
 * OPSESSION_MAX_SESSIONS exist: a new one pushes out the oldest. Loop thread only.
 */
#ifndef API_OPSESSION_H
#define API_OPSESSION_H

#include <stddef.h>
#include <stdint.h>

#include "daemon/config.h"

#define OPSESSION_TOKEN_TTL_S  300
#define OPSESSION_TTL_S        43200 /* 12 hours */
#define OPSESSION_MAX_TOKENS   16
#define OPSESSION_MAX_SESSIONS 64
#define OPSESSION_COOKIE       "toolhost_operator"
/* A token or a session id: "oplogin_" or "opsess_" and 32 hex characters, NUL. */
#define OPSESSION_SECRET_MAX 48

struct opsession;

struct opsession *opsession_new(void);
void opsession_free(struct opsession *s); /* NULL ok */

/* A new one-time login token for operator actor into token; its expiry (wall seconds) into *expires_at. */
void opsession_token_new(struct opsession *s, const char *actor, char token[OPSESSION_SECRET_MAX],
                         int64_t *expires_at);
/* Trades a live token (spent by this call) for a new session: its id into session; 0, or -1 when the
 * token is unknown, spent or expired. */
int opsession_redeem(struct opsession *s, const char *token, char session[OPSESSION_SECRET_MAX]);
/* The actor a live session acts for into actor ("uid=0 via page"): 0, or -1 when unknown or expired. */
int opsession_check(struct opsession *s, const char *session, char actor[CONFIG_IDENTITY_MAX]);
/* The value of cookie OPSESSION_COOKIE in a Cookie header (name=value; ...) into out: 0, or -1 when
 * it is not there or longer than out. */
int opsession_cookie(const char *header, char out[OPSESSION_SECRET_MAX]);

#endif
