#include "daemon/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static enum log_level current = LOG_LVL_INFO;
static int prefix = -1; /* "<N>" before each line: 1 yes, 0 no, -1 not decided yet */

/* systemd.exec(5): JOURNAL_STREAM is "DEV:INODE" of the stream it connected to the journal; an
 * inherited one that names another file (a shell started from a service) does not count. */
static int
stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	char *end;

	if (js == NULL || fstat(STDERR_FILENO, &st) < 0)
		return 0;
	errno = 0;
	dev = strtoull(js, &end, 10);
	if (end == js || *end != ':' || errno != 0)
		return 0;
	js = end + 1;
	ino = strtoull(js, &end, 10);
	if (end == js || *end != '\0' || errno != 0)
		return 0;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

/* Decided once, at the first line: stderr does not change under a running daemon. */
static int
want_prefix(void)
{
	if (prefix < 0) {
		int saved = errno; /* a caller may still read it after logging */

		prefix = stderr_is_journal() || !isatty(STDERR_FILENO);
		errno = saved;
	}
	return prefix;
}

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
	if (!want_prefix())
		fprintf(stderr, "%s%s%s\n", line, errstr ? ": " : "", errstr ? errstr : "");
	else if (errstr)
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
	if (level > current)
		return;
	if (want_prefix())
		fprintf(stderr, "<%d>lws: %.*s\n", (int)level, (int)n, line);
	else
		fprintf(stderr, "lws: %.*s\n", (int)n, line);
}
