/* test_status.c -- shoal_status formatting and code names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "status.h"
#include "util.h"

static void
test_set_and_prefix(void **state)
{
	(void)state;
	shoal_status st;
	shoal_status_clear(&st);
	assert_int_equal(st.code, SHOAL_OK);
	assert_string_equal(st.msg, "");
	assert_int_equal(shoal_status_set(&st, SHOAL_NOT_FOUND, "tenant '%s' does not exist", "x"),
	    SHOAL_NOT_FOUND);
	assert_string_equal(st.msg, "tenant 'x' does not exist");
	shoal_status_prefix(&st, "worker %d", 3);
	assert_string_equal(st.msg, "worker 3: tenant 'x' does not exist");
	/* NULL status is allowed and only returns the code */
	assert_int_equal(shoal_status_set(NULL, SHOAL_INTERNAL, "x"), SHOAL_INTERNAL);
}

static void
test_code_names(void **state)
{
	(void)state;
	assert_string_equal(shoal_code_name(SHOAL_OK), "OK");
	assert_string_equal(shoal_code_name(SHOAL_INVALID_ARGUMENT), "INVALID_ARGUMENT");
	assert_string_equal(shoal_code_name(SHOAL_UNAUTHENTICATED), "UNAUTHENTICATED");
	assert_string_equal(shoal_code_name((shoal_code)99), "UNKNOWN");
}

static void
test_check_name(void **state)
{
	(void)state;
	shoal_status st;
	assert_int_equal(util_check_name("tenant", "acme-01.prod_x", &st), SHOAL_OK);
	assert_int_equal(util_check_name("tenant", "", &st), SHOAL_INVALID_ARGUMENT);
	assert_int_equal(util_check_name("tenant", "a b", &st), SHOAL_INVALID_ARGUMENT);
	assert_non_null(strstr(st.msg, "position 2"));
	assert_int_equal(util_check_name("tenant", "-x", &st), SHOAL_INVALID_ARGUMENT);
	char longname[80];
	memset(longname, 'a', 64);
	longname[64] = '\0';
	assert_int_equal(util_check_name("tenant", longname, &st), SHOAL_INVALID_ARGUMENT);
	longname[63] = '\0';
	assert_int_equal(util_check_name("tenant", longname, &st), SHOAL_OK);
}

static void
test_parse(void **state)
{
	(void)state;
	uint64_t v;
	uint32_t u;
	int i;
	assert_true(util_parse_u64("18446744073709551615", &v));
	assert_true(v == UINT64_MAX);
	assert_false(util_parse_u64("18446744073709551616", &v));
	assert_false(util_parse_u64("", &v));
	assert_false(util_parse_u64("12x", &v));
	assert_false(util_parse_u64("-1", &v));
	assert_false(util_parse_u32("4294967296", &u));
	assert_true(util_parse_int("-42", &i));
	assert_int_equal(i, -42);
	unsigned char b[8];
	util_put_be64(b, 0x0102030405060708ull);
	assert_int_equal(b[0], 1);
	assert_int_equal(b[7], 8);
	assert_true(util_get_be64(b) == 0x0102030405060708ull);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_set_and_prefix),
		cmocka_unit_test(test_code_names),
		cmocka_unit_test(test_check_name),
		cmocka_unit_test(test_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
