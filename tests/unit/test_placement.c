/* test_placement.c -- coordinator/placement.c with plain structs: each
 * ordering rule decides on its own, down workers are never picked, and an
 * empty or all-down view fails with UNAVAILABLE; the shards of a shared
 * collection are spread evenly, extras to the least loaded, none on a
 * down worker, and shared shards count as placements. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "placement.h"

#define W(n, u, p, b, t) {.name = (n), .up = (u), .points = (p), .bytes = (b), .tenants = (t)}

static size_t
pick(const placement_worker *v, size_t n)
{
	shoal_status st;
	size_t out = 999;
	shoal_code rv = placement_pick_worker(v, n, &out, &st);
	if (rv != SHOAL_OK)
		fail_msg("placement_pick_worker: %s", st.msg);
	return out;
}

static void
test_fewest_points_wins(void **state)
{
	(void)state;
	/* more bytes and tenants, but fewer points: points decide */
	placement_worker v[] = {
		W("a", true, 500, 10, 1),
		W("b", true, 100, 9999, 50),
		W("c", true, 300, 1, 0),
	};
	assert_int_equal(pick(v, 3), 1);
}

static void
test_bytes_break_point_ties(void **state)
{
	(void)state;
	placement_worker v[] = {
		W("a", true, 100, 700, 0),
		W("b", true, 100, 200, 9),
		W("c", true, 100, 300, 0),
	};
	assert_int_equal(pick(v, 3), 1);
}

static void
test_tenants_break_byte_ties(void **state)
{
	(void)state;
	placement_worker v[] = {
		W("a", true, 0, 0, 3),
		W("b", true, 0, 0, 2),
		W("c", true, 0, 0, 4),
	};
	assert_int_equal(pick(v, 3), 1);
}

static void
test_name_breaks_full_ties(void **state)
{
	(void)state;
	placement_worker v[] = {
		W("w-9", true, 0, 0, 0),
		W("w-10", true, 0, 0, 0),
		W("w-3", true, 0, 0, 0),
	};
	/* strcmp order: "w-10" < "w-3" < "w-9" */
	assert_int_equal(pick(v, 3), 1);
}

static void
test_down_workers_skipped(void **state)
{
	(void)state;
	placement_worker v[] = {
		W("a", false, 0, 0, 0), /* least loaded, but down */
		W("b", true, 50, 0, 0),
		W("c", false, 1, 0, 0),
		W("d", true, 40, 0, 0),
	};
	assert_int_equal(pick(v, 4), 3);
}

static void
test_none_up(void **state)
{
	(void)state;
	placement_worker v[] = {W("a", false, 0, 0, 0), W("b", false, 0, 0, 0)};
	shoal_status st;
	size_t out = 42;

	assert_int_equal(placement_pick_worker(v, 2, &out, &st), SHOAL_UNAVAILABLE);
	assert_int_equal(st.code, SHOAL_UNAVAILABLE);
	assert_non_null(strstr(st.msg, "2 registered workers"));
	assert_int_equal(out, 42); /* untouched on failure */

	assert_int_equal(placement_pick_worker(NULL, 0, &out, &st), SHOAL_UNAVAILABLE);
	assert_non_null(strstr(st.msg, "no worker is registered"));
	assert_int_equal(out, 42);
}

static void
test_compare_is_total_order(void **state)
{
	(void)state;
	placement_worker a = W("a", true, 1, 2, 3), b = W("b", false, 1, 2, 3);
	assert_true(placement_compare(&a, &b) < 0);
	assert_true(placement_compare(&b, &a) > 0);
	assert_int_equal(placement_compare(&a, &a), 0);
	/* `up` is not part of the order */
	placement_worker a2 = W("a", false, 1, 2, 3);
	assert_int_equal(placement_compare(&a, &a2), 0);
	/* a large difference in a later key never beats an earlier key */
	placement_worker x = W("z", true, 1, UINT64_MAX, UINT32_MAX);
	placement_worker y = W("a", true, 2, 0, 0);
	assert_true(placement_compare(&x, &y) < 0);
}

/* The choice does not depend on the order of the view. */
static void
test_order_independent(void **state)
{
	(void)state;
	placement_worker v[] = {
		W("e", true, 10, 5, 1), W("b", true, 10, 5, 1), W("d", false, 0, 0, 0),
		W("a", true, 10, 6, 0), W("c", true, 11, 0, 0),
	};
	enum { N = sizeof v / sizeof v[0] };
	/* rotate the view through every starting point */
	for (size_t r = 0; r < N; r++) {
		placement_worker rot[N];
		for (size_t i = 0; i < N; i++)
			rot[i] = v[(i + r) % N];
		assert_string_equal(rot[pick(rot, N)].name, "b");
	}
}

static void
test_spread_even(void **state)
{
	(void)state;
	placement_worker v[] = {
		W("w1", true, 0, 0, 0), W("w2", true, 0, 0, 0),
		W("w3", true, 0, 0, 0), W("w4", true, 0, 0, 0),
	};
	size_t out[32], count[4] = {0};
	shoal_status st;
	assert_int_equal(placement_spread(v, 4, 32, out, &st), SHOAL_OK);
	for (int i = 0; i < 32; i++) {
		assert_true(out[i] < 4);
		count[out[i]]++;
		/* consecutive shards on different workers */
		if (i > 0)
			assert_true(out[i] != out[i - 1]);
	}
	for (int w = 0; w < 4; w++)
		assert_int_equal(count[w], 8);
}

static void
test_spread_extras_to_least_loaded(void **state)
{
	(void)state;
	/* 10 shards on 4 workers: 3,3,2,2 -- the 3s for the two emptiest */
	placement_worker v[] = {
		W("a", true, 900, 0, 0), W("b", true, 10, 0, 0),
		W("c", true, 500, 0, 0), W("d", true, 20, 0, 0),
	};
	size_t out[10], count[4] = {0};
	shoal_status st;
	assert_int_equal(placement_spread(v, 4, 10, out, &st), SHOAL_OK);
	for (int i = 0; i < 10; i++)
		count[out[i]]++;
	assert_int_equal(count[1], 3); /* b: 10 points */
	assert_int_equal(count[3], 3); /* d: 20 points */
	assert_int_equal(count[2], 2);
	assert_int_equal(count[0], 2);
	assert_int_equal(out[0], 1); /* shard 0 on the least loaded */
}

static void
test_spread_skips_down_and_fails_when_none(void **state)
{
	(void)state;
	placement_worker v[] = {
		W("a", false, 0, 0, 0), W("b", true, 0, 0, 0), W("c", true, 0, 0, 0),
	};
	size_t out[5];
	shoal_status st;
	assert_int_equal(placement_spread(v, 3, 5, out, &st), SHOAL_OK);
	for (int i = 0; i < 5; i++)
		assert_true(out[i] == 1 || out[i] == 2);
	v[1].up = v[2].up = false;
	out[0] = 77;
	assert_int_equal(placement_spread(v, 3, 5, out, &st), SHOAL_UNAVAILABLE);
	assert_non_null(strstr(st.msg, "none of the 3"));
	assert_int_equal(out[0], 77); /* untouched on error */
	assert_int_equal(placement_spread(v, 0, 5, out, &st), SHOAL_UNAVAILABLE);
}

static void
test_shards_count_as_placements(void **state)
{
	(void)state;
	/* equal points and bytes: a worker holding 8 shared shards is more
	 * loaded than one holding 2 tenants */
	placement_worker v[] = {
		{.name = "a", .up = true, .shards = 8},
		{.name = "b", .up = true, .tenants = 2},
	};
	assert_int_equal(pick(v, 2), 1);
	assert_true(placement_compare(&v[0], &v[1]) > 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fewest_points_wins),
		cmocka_unit_test(test_bytes_break_point_ties),
		cmocka_unit_test(test_tenants_break_byte_ties),
		cmocka_unit_test(test_name_breaks_full_ties),
		cmocka_unit_test(test_down_workers_skipped),
		cmocka_unit_test(test_none_up),
		cmocka_unit_test(test_compare_is_total_order),
		cmocka_unit_test(test_order_independent),
		cmocka_unit_test(test_spread_even),
		cmocka_unit_test(test_spread_extras_to_least_loaded),
		cmocka_unit_test(test_spread_skips_down_and_fails_when_none),
		cmocka_unit_test(test_shards_count_as_placements),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
