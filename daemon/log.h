/*
 * log: one line per message on stderr with an sd-daemon "<N>" priority prefix, which journald
 * turns into the entry's priority (sd-daemon(3)). A terminal gets the lines without it: stderr is a
 * tty and not the stream JOURNAL_STREAM names. Pipes and files keep it (a supervisor's log reader
 * may want it). log_warn() appends strerror(errno); log_warnx() does not.
 * Never pass secrets (Authorization, API keys, MCP headers, full session ids) or request bodies.
 */
#ifndef DAEMON_LOG_H
#define DAEMON_LOG_H

enum log_level { LOG_LVL_ERR = 3, LOG_LVL_WARNING = 4, LOG_LVL_INFO = 6, LOG_LVL_DEBUG = 7 };

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* "error", "warning", "info", "debug" -> level; -1 when unknown. */
int log_level_parse(const char *name);

void log_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* For lws_set_log_level(): maps lws levels to ours. */
void log_lws_emit(int lws_level, const char *line);

#endif
