/* status.c -- names and formatting for shoal_status (see status.h). */
#include "status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const code_names[] = {
	"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
	"NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
	"FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED",
	"INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
};

const char *
shoal_code_name(shoal_code code)
{
	if ((unsigned)code < sizeof code_names / sizeof code_names[0])
		return code_names[code];
	return "UNKNOWN";
}

shoal_code
shoal_status_set(shoal_status *st, shoal_code code, const char *fmt, ...)
{
	va_list ap;

	if (st == NULL)
		return code;
	st->code = code;
	va_start(ap, fmt);
	vsnprintf(st->msg, sizeof st->msg, fmt, ap);
	va_end(ap);
	return code;
}

void
shoal_status_clear(shoal_status *st)
{
	if (st == NULL)
		return;
	st->code = SHOAL_OK;
	st->msg[0] = '\0';
}

void
shoal_status_prefix(shoal_status *st, const char *fmt, ...)
{
	char prefix[SHOAL_STATUS_MSG_MAX], old[SHOAL_STATUS_MSG_MAX];
	int n;
	va_list ap;

	if (st == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof prefix, fmt, ap);
	va_end(ap);
	memcpy(old, st->msg, sizeof old);
	/* truncation is fine: the message is for people */
	n = snprintf(st->msg, sizeof st->msg, "%s: ", prefix);
	if (n >= 0 && (size_t)n < sizeof st->msg)
		snprintf(st->msg + n, sizeof st->msg - (size_t)n, "%s", old);
}
