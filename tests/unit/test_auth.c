/* test_auth.c -- the cluster secret (common/auth.c): constant-time equality
 * on every kind of mismatch, the secret file's rules (trailing newline
 * dropped, too short / too long / NUL / missing / directory refused, loose
 * permissions reported) and the authorize hook. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "auth.h"

static void
test_equal(void **state)
{
	(void)state;
	assert_true(auth_equal("abc", "abc"));
	assert_true(auth_equal("", ""));
	assert_true(auth_equal(NULL, ""));
	assert_true(auth_equal(NULL, NULL));
	assert_false(auth_equal("abc", "abd"));
	assert_false(auth_equal("xbc", "abc"));
	assert_false(auth_equal("ab", "abc"));  /* prefix */
	assert_false(auth_equal("abc", "ab"));
	assert_false(auth_equal("abcd", "abc"));
	assert_false(auth_equal("", "abc"));
	assert_false(auth_equal(NULL, "abc"));
	assert_false(auth_equal("abc", NULL));
}

static char dir[] = "/tmp/shoal-test-auth-XXXXXX";

static const char *
put(const char *name, const char *content, size_t len, mode_t mode)
{
	static char path[128];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(content, 1, len, f), len);
	fclose(f);
	chmod(path, mode);
	return path;
}

static void
read_err(const char *path, shoal_code want)
{
	char *s = (char *)1;
	shoal_status st = {0};
	assert_int_equal(auth_read_secret_file(path, "cluster secret", &s, NULL, &st), want);
	assert_null(s);
	assert_true(strlen(st.msg) > 0);
}

static void
test_file(void **state)
{
	(void)state;
	char *s = NULL;
	bool loose = true;
	shoal_status st = {0};
	const char *p;

	assert_non_null(mkdtemp(dir));
	p = put("ok", "0123456789abcdef0123\r\n", 22, 0600);
	assert_int_equal(auth_read_secret_file(p, "cluster secret", &s, &loose, &st), SHOAL_OK);
	assert_string_equal(s, "0123456789abcdef0123");
	assert_false(loose);
	free(s);

	p = put("loose", "0123456789abcdef", 16, 0644);
	assert_int_equal(auth_read_secret_file(p, "cluster secret", &s, &loose, &st), SHOAL_OK);
	assert_true(loose);
	free(s);

	p = put("short", "0123456789abcde\n", 16, 0600);
	read_err(p, SHOAL_INVALID_ARGUMENT);
	p = put("nul", "0123456789\0abcdefgh", 19, 0600);
	read_err(p, SHOAL_INVALID_ARGUMENT);
	p = put("empty", "", 0, 0600);
	read_err(p, SHOAL_INVALID_ARGUMENT);
	char *big = malloc(AUTH_SECRET_MAX + 10);
	memset(big, 'a', AUTH_SECRET_MAX + 10);
	p = put("big", big, AUTH_SECRET_MAX + 10, 0600);
	free(big);
	read_err(p, SHOAL_INVALID_ARGUMENT);
	char missing[128];
	snprintf(missing, sizeof missing, "%s/missing", dir);
	read_err(missing, SHOAL_NOT_FOUND);
	read_err(dir, SHOAL_INVALID_ARGUMENT);

	/* the message never holds the content */
	p = put("short2", "SECRETSECRET", 12, 0600);
	assert_int_not_equal(auth_read_secret_file(p, "cluster secret", &s, NULL, &st), SHOAL_OK);
	assert_null(strstr(st.msg, "SECRETSECRET"));

	char cmd[160];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

static void
test_hook(void **state)
{
	(void)state;
	shoal_status st = {0};
	char secret[] = "0123456789abcdef";
	assert_int_equal(auth_require_secret(NULL, "Search", "", &st), SHOAL_OK);
	assert_int_equal(auth_require_secret(secret, "Search", secret, &st), SHOAL_OK);
	assert_int_equal(auth_require_secret(secret, "Search", "", &st), SHOAL_UNAUTHENTICATED);
	assert_non_null(strstr(st.msg, "Search"));
	assert_null(strstr(st.msg, secret));
	assert_int_equal(auth_require_secret(secret, "Search", "0123456789abcdeX", &st),
	    SHOAL_UNAUTHENTICATED);
	assert_int_equal(auth_require_secret(secret, "Search", NULL, &st), SHOAL_UNAUTHENTICATED);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_equal),
	    cmocka_unit_test(test_file),
	    cmocka_unit_test(test_hook),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
