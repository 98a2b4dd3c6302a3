/* log.h -- levelled, one-line-per-event logging to stderr.
 *
 * Line format:  2026-11-29T00:00:00.123Z INFO  worker[w-1a2b]: message
 * While a thread serves an rpc request, its lines name the request:
 *                2026-11-29T00:00:00.123Z WARN  coordinator: [req c-1a2b-7] message
 * The id comes from the request envelope; the coordinator passes it on to
 * the workers it calls, so one client request can be followed (grep the id)
 * through every daemon's log.  common/rpc.c sets and clears it around each
 * dispatch (log_set_request_id).
 * The process tag is set once at start (log_init).  Lines are written with
 * a single write(2) so concurrent threads never interleave within a line.
 */
#ifndef SHOAL_LOG_H
#define SHOAL_LOG_H

typedef enum log_level {
	LOG_DEBUG = 0,
	LOG_INFO = 1,
	LOG_WARN = 2,
	LOG_ERROR = 3,
} log_level;

/* tag: e.g. "coordinator" or "worker[w-1a2b]"; copied. */
void log_init(const char *tag, log_level min_level);

/* Parses "debug|info|warn|error"; returns -1 when unknown. */
int log_level_parse(const char *s);

void log_msg(log_level level, const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 2, 3)))
#endif
	;

/* The calling thread's current request id (borrowed; valid while the
 * request is being served), NULL when none.  rid "" or NULL clears it. */
void log_set_request_id(const char *rid);
const char *log_request_id(void);

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
