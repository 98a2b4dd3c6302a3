/* test_shardmap.c -- coordinator/shardmap.c: the distribution hash, hash
 * ranges, key extraction and the top-k merge, with plain values.
 *
 * The golden values (hashes and shards of fixed keys) were computed by an
 * independent implementation of the documented function (Python: FNV-1a
 * 64, MurmurHash3 fmix64, floor(h * S / 2^64)).  They pin the function:
 * a change to it would move keys between the shards of existing
 * collections, so it must fail here first.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shardmap.h"

static void
test_fnv1a_vectors(void **state)
{
	(void)state;
	/* the reference test vectors of 64-bit FNV-1a */
	assert_true(shardmap_fnv1a64("", 0) == UINT64_C(0xcbf29ce484222325));
	assert_true(shardmap_fnv1a64("a", 1) == UINT64_C(0xaf63dc4c8601ec8c));
	assert_true(shardmap_fnv1a64("foobar", 6) == UINT64_C(0x85944171f73967e8));
}

static void
test_golden_keys(void **state)
{
	static const struct {
		const char *key;
		uint64_t hash;
		uint32_t s32, s7, s1024;
	} g[] = {
	    {"t0", UINT64_C(0xf7224ecd725a544d), 30, 6, 988},
	    {"t1", UINT64_C(0x51bedeb748030edd), 10, 2, 326},
	    {"t42", UINT64_C(0x464165f34750b620), 8, 1, 281},
	    {"acme", UINT64_C(0x3a25b6656ba9cfc6), 7, 1, 232},
	    {"globex", UINT64_C(0x2d5e34dab39d74b1), 5, 1, 181},
	    {"tenant-999", UINT64_C(0x95282d1c8caf35ce), 18, 4, 596},
	};
	(void)state;
	for (size_t i = 0; i < sizeof g / sizeof g[0]; i++) {
		assert_true(shardmap_hash(g[i].key, strlen(g[i].key)) == g[i].hash);
		assert_int_equal(shardmap_key_shard(g[i].key, 32), g[i].s32);
		assert_int_equal(shardmap_key_shard(g[i].key, 7), g[i].s7);
		assert_int_equal(shardmap_key_shard(g[i].key, 1024), g[i].s1024);
		assert_int_equal(shardmap_key_shard(g[i].key, 1), 0);
	}
}

static void
test_ranges(void **state)
{
	(void)state;
	/* shard i owns [i * 2^64 / S, (i+1) * 2^64 / S): the edges */
	for (uint32_t s = 1; s <= 1024; s = s * 2 + 1) {
		assert_int_equal(shardmap_shard_of(0, s), 0);
		assert_int_equal(shardmap_shard_of(UINT64_MAX, s), s - 1);
		uint32_t prev = 0;
		/* monotonic in the hash, every shard reached */
		for (uint64_t h = 0, step = UINT64_MAX / 4099; h < UINT64_MAX - step; h += step) {
			uint32_t x = shardmap_shard_of(h, s);
			assert_true(x >= prev && x < s);
			assert_true(x - prev <= 1);
			prev = x;
		}
		assert_int_equal(prev, s - 1);
	}
	/* exact boundaries for S = 4: quarters */
	assert_int_equal(shardmap_shard_of(UINT64_C(0x3fffffffffffffff), 4), 0);
	assert_int_equal(shardmap_shard_of(UINT64_C(0x4000000000000000), 4), 1);
	assert_int_equal(shardmap_shard_of(UINT64_C(0xbfffffffffffffff), 4), 2);
	assert_int_equal(shardmap_shard_of(UINT64_C(0xc000000000000000), 4), 3);
}

static void
test_spread_of_tenant_keys(void **state)
{
	/* 1,000 tenant-like keys over 32 shards: every shard used, none
	 * heavier than 2x the mean (independent check computed 18..42). */
	uint32_t count[32] = {0};
	char key[32];
	(void)state;
	for (int i = 0; i < 1000; i++) {
		snprintf(key, sizeof key, "t%d", i);
		count[shardmap_key_shard(key, 32)]++;
	}
	for (int s = 0; s < 32; s++) {
		assert_true(count[s] >= 10);
		assert_true(count[s] <= 63);
	}
	assert_int_equal(count[shardmap_key_shard("t42", 32)] > 0, 1);
}

static void
test_point_key(void **state)
{
	Shoal__PayloadValue vs = SHOAL__PAYLOAD_VALUE__INIT, vi = SHOAL__PAYLOAD_VALUE__INIT,
			    vd = SHOAL__PAYLOAD_VALUE__INIT, ve = SHOAL__PAYLOAD_VALUE__INIT;
	Shoal__PayloadField fs = SHOAL__PAYLOAD_FIELD__INIT, fi = SHOAL__PAYLOAD_FIELD__INIT,
			    fd = SHOAL__PAYLOAD_FIELD__INIT, fe = SHOAL__PAYLOAD_FIELD__INIT;
	Shoal__PayloadField *pf[1];
	Shoal__Point p = SHOAL__POINT__INIT;
	char buf[SHARDMAP_KEY_MAX + 1];
	const char *key = NULL;
	shoal_status st;
	(void)state;

	vs.kind_case = SHOAL__PAYLOAD_VALUE__KIND_S;
	vs.s = "acme";
	fs.key = "tenant";
	fs.value = &vs;
	vi.kind_case = SHOAL__PAYLOAD_VALUE__KIND_I;
	vi.i = -42;
	fi.key = "org";
	fi.value = &vi;
	vd.kind_case = SHOAL__PAYLOAD_VALUE__KIND_D;
	vd.d = 1.5;
	fd.key = "tenant";
	fd.value = &vd;
	ve.kind_case = SHOAL__PAYLOAD_VALUE__KIND_S;
	ve.s = "";
	fe.key = "tenant";
	fe.value = &ve;
	p.n_payload = 1;
	p.payload = pf;

	pf[0] = &fs;
	assert_int_equal(shardmap_point_key(&p, "tenant", "point 0", buf, sizeof buf, &key, &st),
	    SHOAL_OK);
	assert_string_equal(key, "acme");
	/* an integer key is its decimal text */
	pf[0] = &fi;
	assert_int_equal(shardmap_point_key(&p, "org", "point 1", buf, sizeof buf, &key, &st),
	    SHOAL_OK);
	assert_string_equal(key, "-42");
	/* missing, wrong type, empty: errors that name the point and field */
	assert_int_equal(shardmap_point_key(&p, "tenant", "point 2", buf, sizeof buf, &key, &st),
	    SHOAL_INVALID_ARGUMENT);
	assert_non_null(strstr(st.msg, "point 2"));
	assert_non_null(strstr(st.msg, "'tenant'"));
	pf[0] = &fd;
	assert_int_equal(shardmap_point_key(&p, "tenant", "point 3", buf, sizeof buf, &key, &st),
	    SHOAL_INVALID_ARGUMENT);
	assert_non_null(strstr(st.msg, "string or an integer"));
	pf[0] = &fe;
	assert_int_equal(shardmap_point_key(&p, "tenant", "point 4", buf, sizeof buf, &key, &st),
	    SHOAL_INVALID_ARGUMENT);
	assert_int_equal(shardmap_check_key("", &st), SHOAL_INVALID_ARGUMENT);
	assert_int_equal(shardmap_check_key("x", &st), SHOAL_OK);
	char longkey[SHARDMAP_KEY_MAX + 2];
	memset(longkey, 'k', sizeof longkey - 1);
	longkey[sizeof longkey - 1] = '\0';
	assert_int_equal(shardmap_check_key(longkey, &st), SHOAL_INVALID_ARGUMENT);
}

static Shoal__Hit *
mkhit(uint64_t id, float d)
{
	Shoal__Hit *h = calloc(1, sizeof *h);
	shoal__hit__init(h);
	h->id = id;
	h->distance = d;
	return h;
}

static void
test_merge(void **state)
{
	/* three shards' lists, closest first; id 7 appears twice (a client
	 * reusing an id under two keys): the closer copy wins, once */
	Shoal__Hit *a[] = {mkhit(1, 0.1f), mkhit(2, 0.4f), mkhit(7, 0.9f)};
	Shoal__Hit *b[] = {mkhit(3, 0.2f), mkhit(7, 0.3f)};
	Shoal__Hit *c[] = {mkhit(5, 0.2f), mkhit(6, 0.5f)};
	Shoal__Hit **lists[] = {a, b, NULL, c};
	size_t lens[] = {3, 2, 5, 2}; /* the NULL list counts as empty */
	Shoal__Hit *out[10];
	(void)state;

	size_t n = shardmap_merge(lists, lens, 4, 10, out);
	uint64_t want[] = {1, 3, 5, 7, 2, 6}; /* ties (0.2) by id */
	assert_int_equal(n, 6);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(out[i]->id, want[i]);
	assert_true(out[3]->distance == 0.3f);

	n = shardmap_merge(lists, lens, 4, 3, out);
	assert_int_equal(n, 3);
	assert_int_equal(out[2]->id, 5);
	assert_int_equal(shardmap_merge(lists, lens, 0, 3, out), 0);

	for (size_t i = 0; i < 3; i++)
		free(a[i]);
	for (size_t i = 0; i < 2; i++) {
		free(b[i]);
		free(c[i]);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fnv1a_vectors),
	    cmocka_unit_test(test_golden_keys),
	    cmocka_unit_test(test_ranges),
	    cmocka_unit_test(test_spread_of_tenant_keys),
	    cmocka_unit_test(test_point_key),
	    cmocka_unit_test(test_merge),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
