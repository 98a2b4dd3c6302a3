/* auth.c -- the shared cluster secret (auth.h). */
#include "auth.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util.h"

shoal_code
auth_read_secret_file(const char *path, const char *what, char **out, bool *loose_mode,
    shoal_status *st)
{
	char *text = NULL;
	size_t len = 0;
	struct stat sb;

	*out = NULL;
	if (loose_mode != NULL)
		*loose_mode = false;
	if (stat(path, &sb) != 0) {
		return shoal_status_set(st, errno == ENOENT ? SHOAL_NOT_FOUND :
		    errno == EACCES ? SHOAL_PERMISSION_DENIED : SHOAL_INTERNAL,
		    "%s file %s: %s", what, path, strerror(errno));
	}
	if (!S_ISREG(sb.st_mode))
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "%s file %s is not a regular file", what, path);
	if ((size_t)sb.st_size > AUTH_SECRET_MAX + 2)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "%s file %s: more than %u bytes (a secret is one line)", what, path,
		    AUTH_SECRET_MAX);
	if (loose_mode != NULL)
		*loose_mode = (sb.st_mode & (S_IRWXG | S_IRWXO)) != 0;
	if (util_read_file(path, &text, &len, st) != SHOAL_OK)
		return st->code;
	while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' '))
		text[--len] = '\0';
	if (len < AUTH_SECRET_MIN || len > AUTH_SECRET_MAX || memchr(text, '\0', len) != NULL) {
		free(text);
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "%s file %s: the secret must be one line of %u to %u bytes "
		    "without NUL (e.g. openssl rand -hex 32 > FILE)",
		    what, path, AUTH_SECRET_MIN, AUTH_SECRET_MAX);
	}
	*out = text;
	return SHOAL_OK;
}

bool
auth_equal(const char *a, const char *b)
{
	size_t la, lb, i;
	unsigned char diff;

	if (a == NULL)
		a = "";
	if (b == NULL)
		b = "";
	la = strlen(a);
	lb = strlen(b);
	/* walk the whole of b whatever a holds: time depends on lengths only */
	diff = (unsigned char)(la != lb);
	for (i = 0; i < lb; i++) {
		unsigned char ca = i < la ? (unsigned char)a[i] : 0;
		diff |= (unsigned char)(ca ^ (unsigned char)b[i]);
	}
	/* keep the compiler from short-cutting the loop */
	return *(volatile unsigned char *)&diff == 0;
}

shoal_code
auth_require_secret(void *arg, const char *method, const char *token, shoal_status *st)
{
	const char *secret = arg;

	if (secret == NULL || auth_equal(token, secret))
		return SHOAL_OK;
	return shoal_status_set(st, SHOAL_UNAUTHENTICATED,
	    "%s refused: %s cluster secret (this node requires --cluster-secret-file; "
	    "docs/security.md)", method, token == NULL || token[0] == '\0' ? "no" : "wrong");
}
