/* test_vecmath.c -- distances follow pgvector's operators. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "vecmath.h"

static void
test_distances(void **state)
{
	(void)state;
	float a[3] = {1, 0, 0}, b[3] = {0, 2, 0}, c[3] = {2, 0, 0};
	assert_float_equal(vecmath_distance(VECMATH_L2, a, b, 3), sqrtf(5.0f), 1e-6);
	assert_float_equal(vecmath_distance(VECMATH_COSINE, a, b, 3), 1.0f, 1e-6);
	assert_float_equal(vecmath_distance(VECMATH_COSINE, a, c, 3), 0.0f, 1e-6);
	assert_float_equal(vecmath_distance(VECMATH_IP, a, c, 3), -2.0f, 1e-6);
	float z[3] = {0, 0, 0};
	assert_false(vecmath_normalize(z, 3));
	assert_true(vecmath_normalize(c, 3));
	assert_float_equal(c[0], 1.0f, 1e-6);
}

static void
test_finite_and_names(void **state)
{
	(void)state;
	float v[3] = {1, NAN, 0};
	assert_false(vecmath_all_finite(v, 3));
	v[1] = INFINITY;
	assert_false(vecmath_all_finite(v, 3));
	v[1] = 2;
	assert_true(vecmath_all_finite(v, 3));
	assert_int_equal(vecmath_metric_parse("cosine"), VECMATH_COSINE);
	assert_int_equal(vecmath_metric_parse("l2"), VECMATH_L2);
	assert_int_equal(vecmath_metric_parse("ip"), VECMATH_IP);
	assert_int_equal(vecmath_metric_parse("L2"), 0);
	assert_string_equal(vecmath_metric_name(VECMATH_IP), "ip");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_distances),
		cmocka_unit_test(test_finite_and_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
