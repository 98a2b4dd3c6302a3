/* test_vecio.c -- .fvecs round trip and validation, generated vectors,
 * vector text parsing (common/vecio.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "status.h"
#include "vecio.h"

static char tmpdir[] = "/tmp/test_vecio.XXXXXX";

static int
setup(void **state)
{
	(void)state;
	return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	char cmd[64];
	(void)state;
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static void
path_in_tmp(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", tmpdir, name);
}

static void
write_raw(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

/* ---- fvecs round trip, read in uneven chunks ---- */

static void
test_fvecs_round_trip(void **state)
{
	enum { N = 37, D = 5 };
	float v[N * D], back[N * D];
	char path[256];
	vecio_reader *r;
	uint32_t dim;
	uint64_t count;
	size_t got, total = 0;
	shoal_status st;
	(void)state;

	vecio_generate(7, 0, N, D, v);
	path_in_tmp(path, sizeof path, "rt.fvecs");
	assert_int_equal(vecio_write_fvecs(path, v, N, D, &st), SHOAL_OK);
	assert_int_equal(vecio_open_fvecs(path, &r, &dim, &count, &st), SHOAL_OK);
	assert_int_equal(dim, D);
	assert_int_equal(count, N);
	/* chunks of 10: 10, 10, 10, 7, then 0 at end of file */
	for (;;) {
		assert_int_equal(vecio_read(r, back + total * D, 10, &got, &st), SHOAL_OK);
		if (got == 0)
			break;
		assert_true(got == 10 || total + got == N);
		total += got;
	}
	assert_int_equal(total, N);
	assert_memory_equal(v, back, sizeof v);
	vecio_close(r);

	/* the on-disk layout is int32 dim then floats, little-endian */
	FILE *f = fopen(path, "rb");
	unsigned char hdr[4];
	assert_non_null(f);
	assert_int_equal(fread(hdr, 1, 4, f), 4);
	assert_int_equal(hdr[0], D);
	assert_int_equal(hdr[1] | hdr[2] | hdr[3], 0);
	fseek(f, 0, SEEK_END);
	assert_int_equal(ftell(f), (long)N * (4 + 4 * D));
	fclose(f);
}

/* ---- malformed files are rejected with a message naming the problem ---- */

static void
expect_open_fails(const char *name, const void *data, size_t len,
    const char *needle)
{
	char path[256];
	vecio_reader *r = (vecio_reader *)1;
	shoal_status st;

	path_in_tmp(path, sizeof path, name);
	write_raw(path, data, len);
	assert_int_equal(vecio_open_fvecs(path, &r, NULL, NULL, &st),
	    SHOAL_INVALID_ARGUMENT);
	assert_null(r);
	if (strstr(st.msg, needle) == NULL)
		fail_msg("message '%s' lacks '%s'", st.msg, needle);
}

static void
test_fvecs_malformed(void **state)
{
	(void)state;
	int32_t rec[1 + 3] = {3, 0, 0, 0};
	unsigned char buf[64];

	expect_open_fails("empty.fvecs", "", 0, "empty");
	expect_open_fails("short.fvecs", "\x03\x00", 2, "too short");

	/* dimension 0, negative, and beyond 65536 */
	int32_t d0[2] = {0, 0};
	expect_open_fails("d0.fvecs", d0, sizeof d0, "dimension 0");
	int32_t dneg[2] = {-4, 0};
	expect_open_fails("dneg.fvecs", dneg, sizeof dneg, "dimension -4");
	int32_t dbig[2] = {65537, 0};
	expect_open_fails("dbig.fvecs", dbig, sizeof dbig, "1..65536");

	/* truncated: one full record plus 6 bytes of the next */
	memcpy(buf, rec, sizeof rec);
	memcpy(buf + sizeof rec, rec, 6);
	expect_open_fails("trunc.fvecs", buf, sizeof rec + 6, "not a multiple");

	/* a missing file is NOT_FOUND */
	vecio_reader *r;
	shoal_status st;
	char path[256];
	path_in_tmp(path, sizeof path, "nope.fvecs");
	assert_int_equal(vecio_open_fvecs(path, &r, NULL, NULL, &st), SHOAL_NOT_FOUND);
}

static void
test_fvecs_bad_records(void **state)
{
	/* sizes agree with d = 2 (record = 12 bytes) but record 1 says d = 1
	 * followed by 2 floats' worth of bytes */
	int32_t mixed[6] = {2, 0, 0, 1, 0, 0};
	/* record 1 holds a NaN */
	float nanrec[6];
	int32_t two = 2;
	char path[256];
	vecio_reader *r;
	float out[4];
	size_t got;
	shoal_status st;
	(void)state;

	path_in_tmp(path, sizeof path, "mixed.fvecs");
	write_raw(path, mixed, sizeof mixed);
	assert_int_equal(vecio_open_fvecs(path, &r, NULL, NULL, &st), SHOAL_OK);
	assert_int_equal(vecio_read(r, out, 2, &got, &st), SHOAL_INVALID_ARGUMENT);
	assert_non_null(strstr(st.msg, "record 1 has dimension 1"));
	vecio_close(r);

	memcpy(&nanrec[0], &two, 4);
	nanrec[1] = 1.0f;
	nanrec[2] = 2.0f;
	memcpy(&nanrec[3], &two, 4);
	nanrec[4] = 3.0f;
	nanrec[5] = NAN;
	path_in_tmp(path, sizeof path, "nan.fvecs");
	write_raw(path, nanrec, sizeof nanrec);
	assert_int_equal(vecio_open_fvecs(path, &r, NULL, NULL, &st), SHOAL_OK);
	/* record 0 alone reads fine; record 1 fails */
	assert_int_equal(vecio_read(r, out, 1, &got, &st), SHOAL_OK);
	assert_int_equal(got, 1);
	assert_true(out[0] == 1.0f && out[1] == 2.0f);
	assert_int_equal(vecio_read(r, out, 1, &got, &st), SHOAL_INVALID_ARGUMENT);
	assert_non_null(strstr(st.msg, "record 1 component 1 is NaN"));
	vecio_close(r);
}

/* ---- generated vectors ---- */

static void
test_generate_deterministic(void **state)
{
	enum { N = 100, D = 17 };
	float all[N * D], parts[N * D], other[N * D];
	(void)state;

	vecio_generate(42, 1000, N, D, all);
	/* same vectors whatever the batch boundaries: 1, 33, 66 */
	vecio_generate(42, 1000, 1, D, parts);
	vecio_generate(42, 1001, 33, D, parts + 1 * D);
	vecio_generate(42, 1034, 66, D, parts + 34 * D);
	assert_memory_equal(all, parts, sizeof all);

	/* in range, and not degenerate */
	double sum = 0;
	for (size_t i = 0; i < N * D; i++) {
		assert_true(all[i] >= -1.0f && all[i] < 1.0f);
		sum += all[i];
	}
	assert_true(fabs(sum / (N * D)) < 0.1);
	assert_true(memcmp(all, all + D, D * sizeof(float)) != 0);

	/* a different seed, or a shifted index, gives different vectors */
	vecio_generate(43, 1000, N, D, other);
	assert_true(memcmp(all, other, sizeof all) != 0);
	vecio_generate(42, 1001, N, D, other);
	assert_memory_equal(all + D, other, (N - 1) * D * sizeof(float));
	assert_true(memcmp(all, other, D * sizeof(float)) != 0);
	/* seed ^ index collisions do not repeat streams */
	vecio_generate(1, 0, 1, D, parts);
	vecio_generate(0, 1, 1, D, other);
	assert_true(memcmp(parts, other, D * sizeof(float)) != 0);
}

/* ---- text parsing ---- */

static void
expect_parse(const char *s, const float *want, uint32_t n)
{
	shoal_status st;
	uint32_t dim;
	float *v;

	if (vecio_parse_text(s, &v, &dim, &st) != SHOAL_OK)
		fail_msg("'%s' rejected: %s", s, st.msg);
	assert_int_equal(dim, n);
	assert_memory_equal(v, want, n * sizeof(float));
	free(v);
}

static void
expect_reject(const char *s, const char *needle)
{
	shoal_status st;
	uint32_t dim = 99;
	float *v = (float *)1;

	assert_int_equal(vecio_parse_text(s, &v, &dim, &st), SHOAL_INVALID_ARGUMENT);
	assert_null(v);
	assert_int_equal(dim, 0);
	if (strstr(st.msg, needle) == NULL)
		fail_msg("'%s': message '%s' lacks '%s'", s, st.msg, needle);
}

static void
test_parse_text(void **state)
{
	static const float a[] = {1, 2, 3};
	static const float b[] = {0.5f, -0.25f, 1e-3f, 2};
	static const float one[] = {-7};
	(void)state;

	expect_parse("1,2,3", a, 3);
	expect_parse("[1,2,3]", a, 3);
	expect_parse("  [ 1 , 2,3 ]  ", a, 3);
	expect_parse("0.5, -0.25, 1e-3, +2", b, 4);
	expect_parse("[-7]", one, 1);

	/* 100 components: past the initial capacity */
	char buf[1024];
	float want[100];
	size_t off = 0;
	for (int i = 0; i < 100; i++) {
		want[i] = (float)i;
		off += (size_t)snprintf(buf + off, sizeof buf - off, "%s%d", i ? "," : "[", i);
	}
	snprintf(buf + off, sizeof buf - off, "]");
	expect_parse(buf, want, 100);

	expect_reject("", "empty");
	expect_reject("   ", "empty");
	expect_reject("[]", "empty");
	expect_reject("[ ]", "empty");
	expect_reject("1,,2", "cannot parse");
	expect_reject("1,2,", "cannot parse");
	expect_reject("1 2", "cannot parse");
	expect_reject("[1,2", "cannot parse");
	expect_reject("1,2]", "cannot parse");
	expect_reject("abc", "cannot parse");
	expect_reject("1,x", "cannot parse");
	expect_reject("1,2;3", "cannot parse");
	expect_reject("nan", "cannot parse");
	expect_reject("1,NaN", "cannot parse");
	expect_reject("inf", "cannot parse");
	expect_reject("-inf,1", "not finite");
	expect_reject("1,1e39", "not finite");
	expect_reject("[1,2]x", "cannot parse");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fvecs_round_trip),
	    cmocka_unit_test(test_fvecs_malformed),
	    cmocka_unit_test(test_fvecs_bad_records),
	    cmocka_unit_test(test_generate_deterministic),
	    cmocka_unit_test(test_parse_text),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
