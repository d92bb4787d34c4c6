#include "daemon/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static enum log_level current = LOG_LVL_INFO;

void
log_set_level(enum log_level level)
{
	current = level;
}

enum log_level
log_get_level(void)
{
	return current;
}

int
log_level_parse(const char *name)
{
	if (strcmp(name, "error") == 0)
		return LOG_LVL_ERR;
	if (strcmp(name, "warning") == 0)
		return LOG_LVL_WARNING;
	if (strcmp(name, "info") == 0)
		return LOG_LVL_INFO;
	if (strcmp(name, "debug") == 0)
		return LOG_LVL_DEBUG;
	return -1;
}

static void vlog(enum log_level level, const char *errstr, const char *fmt, va_list ap)
        __attribute__((format(printf, 3, 0)));

static void
vlog(enum log_level level, const char *errstr, const char *fmt, va_list ap)
{
	char line[2048];
	int n;

	if (level > current)
		return;
	n = vsnprintf(line, sizeof line, fmt, ap);
	if (n < 0)
		return;
	/* One fprintf per line so concurrent writers (none today) and journald see whole lines. */
	if (errstr)
		fprintf(stderr, "<%d>%s: %s\n", (int)level, line, errstr);
	else
		fprintf(stderr, "<%d>%s\n", (int)level, line);
}

#define LOG_FN(name, level, with_errno)                                                                      \
	void name(const char *fmt, ...)                                                                      \
	{                                                                                                    \
		va_list ap;                                                                                  \
		const char *e = (with_errno) ? strerror(errno) : NULL;                                       \
		va_start(ap, fmt);                                                                           \
		vlog(level, e, fmt, ap);                                                                     \
		va_end(ap);                                                                                  \
	}

LOG_FN(log_err, LOG_LVL_ERR, 0)
LOG_FN(log_warn, LOG_LVL_WARNING, 1)
LOG_FN(log_warnx, LOG_LVL_WARNING, 0)
LOG_FN(log_info, LOG_LVL_INFO, 0)
LOG_FN(log_debug, LOG_LVL_DEBUG, 0)

void
log_lws_emit(int lws_level, const char *line)
{
	/* lws levels: LLL_ERR = 1, LLL_WARN = 2, LLL_NOTICE = 4, LLL_INFO = 8; lines end in '\n'. */
	enum log_level level = lws_level == 1   ? LOG_LVL_ERR
	                       : lws_level == 2 ? LOG_LVL_WARNING
	                                        : LOG_LVL_DEBUG;
	size_t n = strlen(line);

	while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		n--;
	if (level <= current)
		fprintf(stderr, "<%d>lws: %.*s\n", (int)level, (int)n, line);
}
