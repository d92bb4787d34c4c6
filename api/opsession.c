#include "api/opsession.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/util.h"

/* A token or a session: the hash of its secret, whom it acts for, until when. */
struct grant {
	char hash[65]; /* "" when the slot is free */
	char actor[CONFIG_IDENTITY_MAX];
	int64_t expires_at;
	uint64_t seq; /* the order of making: the lowest is pushed out first */
};

struct opsession {
	struct grant tokens[OPSESSION_MAX_TOKENS];
	struct grant sessions[OPSESSION_MAX_SESSIONS];
	uint64_t seq;
};

struct opsession *
opsession_new(void)
{
	return xcalloc(1, sizeof(struct opsession));
}

void
opsession_free(struct opsession *s)
{
	if (s == NULL)
		return;
	explicit_bzero(s, sizeof *s);
	free(s);
}

/* A free or expired slot, else the oldest one (pushed out). */
static struct grant *
slot_for_new(struct grant *g, size_t n, int64_t now)
{
	struct grant *oldest = &g[0];
	size_t i;

	for (i = 0; i < n; i++) {
		if (g[i].hash[0] == '\0' || g[i].expires_at <= now)
			return &g[i];
		if (g[i].seq < oldest->seq)
			oldest = &g[i];
	}
	return oldest;
}

/* The live grant whose secret is secret, or NULL. Every slot is compared (in constant time). */
static struct grant *
find(struct grant *g, size_t n, const char *secret, int64_t now)
{
	struct grant *hit = NULL;
	char hash[65];
	size_t i;

	if (secret == NULL || secret[0] == '\0')
		return NULL;
	util_sha256_hex(secret, strlen(secret), hash);
	for (i = 0; i < n; i++)
		if (g[i].hash[0] && util_secret_eq(g[i].hash, hash) && g[i].expires_at > now)
			hit = &g[i];
	return hit;
}

static void
grant(struct opsession *s, struct grant *g, const char *prefix, const char *actor, int64_t ttl_s,
      char secret[OPSESSION_SECRET_MAX])
{
	util_new_id(secret, OPSESSION_SECRET_MAX, prefix);
	util_sha256_hex(secret, strlen(secret), g->hash);
	snprintf(g->actor, sizeof g->actor, "%s", actor);
	g->expires_at = util_wall_s() + ttl_s;
	g->seq = ++s->seq;
}

void
opsession_token_new(struct opsession *s, const char *actor, char token[OPSESSION_SECRET_MAX],
                    int64_t *expires_at)
{
	struct grant *g = slot_for_new(s->tokens, OPSESSION_MAX_TOKENS, util_wall_s());

	grant(s, g, "oplogin", actor, OPSESSION_TOKEN_TTL_S, token);
	*expires_at = g->expires_at;
}

int
opsession_redeem(struct opsession *s, const char *token, char session[OPSESSION_SECRET_MAX])
{
	int64_t now = util_wall_s();
	struct grant *t = find(s->tokens, OPSESSION_MAX_TOKENS, token, now), *g;
	char actor[CONFIG_IDENTITY_MAX];

	if (t == NULL)
		return -1;
	/* "via page": the audit tells a decision on the page from one on the socket. */
	snprintf(actor, sizeof actor, "%.*s via page", (int)(sizeof actor - sizeof " via page"), t->actor);
	memset(t, 0, sizeof *t); /* spent */
	g = slot_for_new(s->sessions, OPSESSION_MAX_SESSIONS, now);
	grant(s, g, "opsess", actor, (int64_t)OPSESSION_TTL_S, session);
	return 0;
}

int
opsession_check(struct opsession *s, const char *session, char actor[CONFIG_IDENTITY_MAX])
{
	struct grant *g = find(s->sessions, OPSESSION_MAX_SESSIONS, session, util_wall_s());

	if (g == NULL)
		return -1;
	snprintf(actor, CONFIG_IDENTITY_MAX, "%s", g->actor);
	return 0;
}

int
opsession_cookie(const char *header, char out[OPSESSION_SECRET_MAX])
{
	static const char name[] = OPSESSION_COOKIE "=";
	const char *p = header, *end;
	size_t n;

	while (p && *p) {
		while (*p == ' ' || *p == ';')
			p++;
		end = strchr(p, ';');
		n = end ? (size_t)(end - p) : strlen(p);
		if (n > sizeof name - 1 && strncmp(p, name, sizeof name - 1) == 0) {
			p += sizeof name - 1;
			n -= sizeof name - 1;
			while (n > 0 && p[n - 1] == ' ')
				n--;
			if (n == 0 || n >= OPSESSION_SECRET_MAX)
				return -1;
			memcpy(out, p, n);
			out[n] = '\0';
			return 0;
		}
		p = end;
	}
	return -1;
}
