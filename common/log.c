/* log.c -- see log.h. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static char log_tag[64] = "shoal";
static log_level log_min = LOG_INFO;
static const char *const level_names[] = {"DEBUG", "INFO ", "WARN ", "ERROR"};
/* Per thread: the id of the rpc request being served (borrowed from the
 * request envelope, which outlives the handler). */
static _Thread_local const char *log_rid;

void
log_set_request_id(const char *rid)
{
	log_rid = rid != NULL && rid[0] != '\0' ? rid : NULL;
}

const char *
log_request_id(void)
{
	return log_rid;
}

void
log_init(const char *tag, log_level min_level)
{
	snprintf(log_tag, sizeof log_tag, "%s", tag);
	log_min = min_level;
}

int
log_level_parse(const char *s)
{
	static const char *const names[] = {"debug", "info", "warn", "error"};
	for (int i = 0; i < 4; i++)
		if (strcmp(s, names[i]) == 0)
			return i;
	return -1;
}

void
log_msg(log_level level, const char *fmt, ...)
{
	char line[2048];
	struct timeval tv;
	struct tm tm;
	va_list ap;
	int n, m;

	if (level < log_min)
		return;
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %s %s: ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
	    tm.tm_sec, (int)(tv.tv_usec / 1000), level_names[level], log_tag);
	if (log_rid != NULL && n > 0 && n < 1900) {
		/* the id comes from the network: printable ASCII only, so it can
		 * never break a line or forge another one */
		memcpy(line + n, "[req ", 5);
		n += 5;
		for (int i = 0; log_rid[i] != '\0' && i < 64; i++) {
			char c = log_rid[i];
			line[n++] = c > 0x20 && c < 0x7f ? c : '?';
		}
		line[n++] = ']';
		line[n++] = ' ';
	}
	if (n < 0 || n >= (int)sizeof line - 1)
		n = (int)sizeof line - 2;
	va_start(ap, fmt);
	m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		m = 0;
	n += m;
	if (n > (int)sizeof line - 2)
		n = (int)sizeof line - 2;
	line[n++] = '\n';
	/* one write: lines from concurrent threads never interleave */
	ssize_t w = write(STDERR_FILENO, line, (size_t)n);
	(void)w;
}
