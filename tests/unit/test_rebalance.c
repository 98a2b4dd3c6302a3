/* test_rebalance.c -- the rebalance/drain planner (coordinator/rebalance.c)
 * with plain structs: a balanced cluster plans nothing; a new empty worker
 * gets load with few moves and the result is within tolerance; moves only
 * narrow the gap (the plan's max load never exceeds the start's); each
 * tenant moves at most once; a drain empties the worker onto the others,
 * largest first to the least loaded, never onto a worker that is not a
 * target; a drain with no target fails and plans nothing; rb_items makes
 * one item per tenant and per shared shard group. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "rebalance.h"

static size_t
plan(rb_worker *w, size_t nw, const rb_item *it, size_t ni, size_t drain, rb_move *out)
{
	shoal_status st;
	size_t n = 999;
	shoal_code rv = rb_plan(w, nw, it, ni, drain, RB_TOLERANCE_PCT, out, &n, &st);
	if (rv != SHOAL_OK)
		fail_msg("rb_plan: %s", st.msg);
	return n;
}

static uint64_t
max_load(const rb_worker *w, size_t n)
{
	uint64_t m = 0;
	for (size_t i = 0; i < n; i++)
		if (w[i].target && w[i].load > m)
			m = w[i].load;
	return m;
}

static void
test_balanced_plans_nothing(void **s)
{
	(void)s;
	rb_worker w[3] = {{"a", true, 0}, {"b", true, 0}, {"c", true, 0}};
	rb_item it[3] = {{"t1", 0, 100, 1}, {"t2", 1, 105, 1}, {"t3", 2, 98, 1}};
	rb_move out[3];
	assert_int_equal(plan(w, 3, it, 3, (size_t)-1, out), 0);
	assert_int_equal(w[0].load, 100);
}

static void
test_new_worker_gets_load(void **s)
{
	(void)s;
	/* 4 workers with 6 equal tenants each + an empty 5th */
	rb_worker w[5] = {{"a", true, 0}, {"b", true, 0}, {"c", true, 0}, {"d", true, 0},
	    {"e", true, 0}};
	rb_item it[24];
	char names[24][8];
	for (int i = 0; i < 24; i++) {
		snprintf(names[i], sizeof names[i], "t%02d", i);
		it[i] = (rb_item){names[i], (size_t)(i % 4), 1000, 10};
	}
	rb_move out[24];
	size_t n = plan(w, 5, it, 24, (size_t)-1, out);
	/* 24 items / 5 workers: 4.8 each; the minimum is 4 moves to e
	 * (a..d keep 5 each = 5000, e gets 4 = 4000; mean 4800, max 5000 is
	 * within 10%) */
	assert_int_equal(n, 4);
	for (size_t k = 0; k < n; k++) {
		assert_int_equal(out[k].to, 4);
		for (size_t j = 0; j < k; j++)
			assert_int_not_equal(out[k].item, out[j].item);
	}
	assert_int_equal(w[4].load, 4000);
	assert_true(max_load(w, 5) <= 4800 + 480);
}

static void
test_moves_only_narrow(void **s)
{
	(void)s;
	/* a: 10300, b: 50.  Every move must lower the larger of its two ends,
	 * no tenant moves twice, and the result is no worse than the start. */
	rb_worker w[2] = {{"a", true, 0}, {"b", true, 0}};
	rb_item it[4] = {{"big", 0, 10000, 1}, {"s1", 0, 100, 1}, {"s2", 0, 200, 1},
	    {"s3", 1, 50, 1}};
	rb_move out[4];
	size_t n = plan(w, 2, it, 4, (size_t)-1, out);
	assert_true(n >= 1 && n <= 4);
	uint64_t load[2] = {10300, 50};
	for (size_t k = 0; k < n; k++) {
		uint64_t before = load[out[k].from] > load[out[k].to] ? load[out[k].from]
		                                                      : load[out[k].to];
		load[out[k].from] -= it[out[k].item].load;
		load[out[k].to] += it[out[k].item].load;
		uint64_t after = load[out[k].from] > load[out[k].to] ? load[out[k].from]
		                                                     : load[out[k].to];
		assert_true(after < before);
		for (size_t j = 0; j < k; j++)
			assert_int_not_equal(out[k].item, out[j].item);
	}
	assert_int_equal(w[0].load, load[0]);
	assert_int_equal(w[1].load, load[1]);
	assert_true(max_load(w, 2) <= 10050);
}

static void
test_picks_item_closest_to_half_gap(void **s)
{
	(void)s;
	rb_worker w[2] = {{"a", true, 0}, {"b", true, 0}};
	/* gap 1000: the 500 item evens it out in one move */
	rb_item it[3] = {{"x", 0, 300, 1}, {"y", 0, 500, 1}, {"z", 0, 200, 1}};
	rb_move out[3];
	size_t n = plan(w, 2, it, 3, (size_t)-1, out);
	assert_int_equal(n, 1);
	assert_string_equal(it[out[0].item].name, "y");
	assert_int_equal(w[0].load, 500);
	assert_int_equal(w[1].load, 500);
}

static void
test_not_a_target_gets_nothing(void **s)
{
	(void)s;
	rb_worker w[3] = {{"a", true, 0}, {"down", false, 0}, {"c", true, 0}};
	rb_item it[2] = {{"x", 0, 500, 1}, {"y", 0, 500, 1}};
	rb_move out[2];
	size_t n = plan(w, 3, it, 2, (size_t)-1, out);
	assert_int_equal(n, 1);
	assert_int_equal(out[0].to, 2);
	assert_int_equal(w[1].load, 0);
}

static void
test_drain_empties_worker(void **s)
{
	(void)s;
	rb_worker w[3] = {{"a", true, 0}, {"b", true, 0}, {"c", true, 0}};
	rb_item it[5] = {{"t1", 0, 300, 1}, {"t2", 0, 200, 1}, {"t3", 0, 100, 1},
	    {"t4", 1, 250, 1}, {"t5", 2, 0, 0}};
	rb_move out[5];
	size_t n = plan(w, 3, it, 5, 0, out);
	assert_int_equal(n, 3);
	assert_int_equal(w[0].load, 0);
	/* largest first, to the least loaded as planned so far */
	assert_string_equal(it[out[0].item].name, "t1");
	assert_int_equal(out[0].to, 2); /* c: 0 */
	assert_string_equal(it[out[1].item].name, "t2");
	assert_int_equal(out[1].to, 1); /* b: 250 < c: 300 */
	assert_string_equal(it[out[2].item].name, "t3");
	assert_int_equal(out[2].to, 2); /* c: 300 < b: 450 */
	for (size_t k = 0; k < n; k++)
		assert_int_equal(out[k].from, 0);
}

static void
test_drain_without_target_fails(void **s)
{
	(void)s;
	rb_worker w[2] = {{"a", true, 0}, {"b", false, 0}};
	rb_item it[1] = {{"t1", 0, 300, 1}};
	rb_move out[1];
	shoal_status st;
	size_t n = 7;
	assert_int_equal(rb_plan(w, 2, it, 1, 0, RB_TOLERANCE_PCT, out, &n, &st),
	    SHOAL_FAILED_PRECONDITION);
	assert_int_equal(n, 0);
	assert_non_null(strstr(st.msg, "no other worker"));
}

static void
test_drain_of_empty_worker_plans_nothing(void **s)
{
	(void)s;
	rb_worker w[2] = {{"a", true, 0}, {"b", true, 0}};
	rb_item it[1] = {{"t1", 1, 300, 1}};
	rb_move out[1];
	assert_int_equal(plan(w, 2, it, 1, 0, out), 0);
}

/* Points of shard s: 10 x s (a recognisable function of the id). */
static uint64_t
pts(void *arg, uint64_t s)
{
	(void)arg;
	return 10 * s;
}

/* rb_items: one item per tenant (its collections' load) and one per shard
 * group of each shard map, counted once however many collections are
 * colocated on it, with the load of shard i of every one of them, named
 * as its move ("shard:" map id + i); reference collections and items on
 * unknown workers are left out. */
static void
test_items_tenants_and_shard_groups(void **state)
{
	(void)state;
	const char *workers[2] = {"w-a", "w-b"};
	catalog_tenant ct[2] = {{.name = "acme", .worker = "w-b"}, {.name = "lost", .worker = "w-x"}};
	catalog_collection cc[2] = {
	    {.tenant = "acme", .name = "d1", .dim = 4, .shard_id = 1},
	    {.tenant = "acme", .name = "d2", .dim = 8, .shard_id = 2}};
	catalog_place pa[2] = {{.worker = "w-a"}, {.worker = "w-b"}};
	catalog_place pr[1] = {{.worker = "w-a"}};
	catalog_dcoll dc[3] = {
	    {.name = "items", .kind = CATALOG_SHARED, .dim = 4, .first_shard = 100, .nshards = 2,
	        .group = 100, .nplaces = 2, .places = pa},
	    {.name = "ref", .kind = CATALOG_REFERENCE, .dim = 4, .first_shard = 300, .nshards = 1,
	        .nplaces = 1, .places = pr},
	    {.name = "tags", .kind = CATALOG_SHARED, .dim = 2, .first_shard = 200, .nshards = 2,
	        .group = 100, .nplaces = 2, .places = pa}};
	rb_item items[8];
	char names[8][CATALOG_NAME_MAX];
	size_t n = rb_items(workers, 2, ct, 2, cc, 2, dc, 3, pts, NULL, items, names);
	assert_int_equal(n, 3);
	assert_string_equal(items[0].name, "acme");
	assert_int_equal(items[0].worker, 1);
	assert_int_equal(items[0].points, 10 + 20);
	assert_int_equal(items[0].load, 10 * (16 + 32) + 20 * (32 + 32));
	assert_string_equal(items[1].name, "shard:100");
	assert_int_equal(items[1].worker, 0);
	assert_int_equal(items[1].points, 1000 + 2000);
	assert_int_equal(items[1].load, 1000 * (16 + 32) + 2000 * (8 + 32));
	assert_string_equal(items[2].name, "shard:101");
	assert_int_equal(items[2].worker, 1);
	assert_int_equal(items[2].points, 1010 + 2010);
	/* the plan moves shard groups like tenants: a drain of w-a sends its
	 * shard group to w-b */
	rb_worker w[2] = {{.name = "w-a", .target = true}, {.name = "w-b", .target = true}};
	rb_move out[3];
	size_t nm = plan(w, 2, items, n, 0, out);
	assert_int_equal(nm, 1);
	assert_string_equal(items[out[0].item].name, "shard:100");
	assert_int_equal(out[0].to, 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_balanced_plans_nothing),
		cmocka_unit_test(test_new_worker_gets_load),
		cmocka_unit_test(test_moves_only_narrow),
		cmocka_unit_test(test_picks_item_closest_to_half_gap),
		cmocka_unit_test(test_not_a_target_gets_nothing),
		cmocka_unit_test(test_drain_empties_worker),
		cmocka_unit_test(test_drain_without_target_fails),
		cmocka_unit_test(test_drain_of_empty_worker_plans_nothing),
		cmocka_unit_test(test_items_tenants_and_shard_groups),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
