/* test_pgcopy.c -- common/pgcopy.c: COPY framing and value decoders on
 * byte strings built per the documented formats (PostgreSQL's binary COPY
 * and array send formats, pgvector's vector/halfvec send format: int16
 * dim, int16 unused, then big-endian float4 / float2), plus SHA-256 test
 * vectors and a deterministic garbage run over every decoder (for the
 * sanitizers). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pgcopy.h"

/* ---- byte string builder ------------------------------------------------ */

typedef struct bytes {
	uint8_t b[4096];
	size_t n;
} bytes;

static void
put(bytes *x, const void *p, size_t n)
{
	memcpy(x->b + x->n, p, n);
	x->n += n;
}

static void
be16(bytes *x, uint16_t v)
{
	uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};
	put(x, b, 2);
}

static void
be32(bytes *x, uint32_t v)
{
	uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
	put(x, b, 4);
}

static void
be64(bytes *x, uint64_t v)
{
	be32(x, (uint32_t)(v >> 32));
	be32(x, (uint32_t)v);
}

static void
bef32(bytes *x, float f)
{
	uint32_t u;
	memcpy(&u, &f, 4);
	be32(x, u);
}

static void
bef64(bytes *x, double d)
{
	uint64_t u;
	memcpy(&u, &d, 8);
	be64(x, u);
}

/* a one-dimensional array value: ndim 1, flags, element oid, size, lbound 1 */
static void
array_head(bytes *x, uint32_t elem, uint32_t n, bool nulls)
{
	be32(x, 1);
	be32(x, nulls);
	be32(x, elem);
	be32(x, n);
	be32(x, 1);
}

#define U8(s) ((const uint8_t *)(s))

/* ---- framing ------------------------------------------------------------- */

static void
test_bin_header(void **state)
{
	(void)state;
	bytes x = {0};
	shoal_status st;
	size_t used;

	put(&x, "PGCOPY\n\377\r\n\0", 11);
	be32(&x, 0);
	be32(&x, 3);
	put(&x, "abc", 3); /* an extension the reader skips */
	assert_int_equal(pgcopy_bin_header(x.b, x.n, &used, &st), SHOAL_OK);
	assert_int_equal(used, 22);
	/* truncated anywhere */
	for (size_t n = 0; n < x.n; n++)
		assert_int_equal(pgcopy_bin_header(x.b, n, &used, &st), SHOAL_INVALID_ARGUMENT);
	/* wrong signature */
	x.b[0] = 'X';
	assert_int_equal(pgcopy_bin_header(x.b, x.n, &used, &st), SHOAL_INVALID_ARGUMENT);
	assert_non_null(strstr(st.msg, "signature"));
	/* WITH OIDS */
	x.b[0] = 'P';
	x.b[11 + 1] = 1; /* flag bit 16 */
	assert_int_equal(pgcopy_bin_header(x.b, x.n, &used, &st), SHOAL_INVALID_ARGUMENT);
	assert_non_null(strstr(st.msg, "OIDs"));
}

static void
test_bin_tuple(void **state)
{
	(void)state;
	bytes x = {0};
	pgcopy_field f[4];
	size_t nf, used;
	bool trailer;
	shoal_status st;

	be16(&x, 3);
	be32(&x, 8);
	be64(&x, 42);
	be32(&x, (uint32_t)-1); /* NULL */
	be32(&x, 2);
	put(&x, "hi", 2);
	be16(&x, (uint16_t)-1); /* trailer */
	assert_int_equal(pgcopy_bin_tuple(x.b, x.n, f, 4, &nf, &trailer, &used, &st), SHOAL_OK);
	assert_false(trailer);
	assert_int_equal(nf, 3);
	assert_int_equal(used, x.n - 2);
	assert_int_equal(f[0].len, 8);
	assert_int_equal(f[1].len, -1);
	assert_null(f[1].p);
	assert_memory_equal(f[2].p, "hi", 2);
	int64_t v;
	assert_int_equal(pgcopy_int(PGCOPY_INT8, true, f[0].p, 8, &v, &st), SHOAL_OK);
	assert_int_equal(v, 42);
	assert_int_equal(pgcopy_bin_tuple(x.b + used, 2, f, 4, &nf, &trailer, &used, &st),
	    SHOAL_OK);
	assert_true(trailer);

	/* every truncation is an error, never a read past the end */
	for (size_t n = 0; n < x.n - 2; n++)
		assert_int_equal(pgcopy_bin_tuple(x.b, n, f, 4, &nf, &trailer, &used, &st),
		    SHOAL_INVALID_ARGUMENT);
	/* more fields than the caller has room for */
	assert_int_equal(pgcopy_bin_tuple(x.b, x.n, f, 2, &nf, &trailer, &used, &st),
	    SHOAL_INVALID_ARGUMENT);
	/* a length of -2 */
	bytes y = {0};
	be16(&y, 1);
	be32(&y, (uint32_t)-2);
	assert_int_equal(pgcopy_bin_tuple(y.b, y.n, f, 4, &nf, &trailer, &used, &st),
	    SHOAL_INVALID_ARGUMENT);
}

static void
test_text_row(void **state)
{
	(void)state;
	const char *row = "42\t\\N\ta\\tb\\\\c\\n\t\\x41\\101\\q\t\\\\N\t\n";
	uint8_t out[128];
	pgcopy_field f[8];
	size_t nf;
	shoal_status st;

	assert_int_equal(pgcopy_text_row(U8(row), strlen(row), out, f, 8, &nf, &st), SHOAL_OK);
	assert_int_equal(nf, 6);
	assert_int_equal(f[0].len, 2);
	assert_memory_equal(f[0].p, "42", 2);
	assert_int_equal(f[1].len, -1); /* \N */
	assert_int_equal(f[2].len, 6);
	assert_memory_equal(f[2].p, "a\tb\\c\n", 6);
	assert_int_equal(f[3].len, 3);
	assert_memory_equal(f[3].p, "AAq", 3);
	assert_int_equal(f[4].len, 2); /* \\N is the two characters \N, not NULL */
	assert_memory_equal(f[4].p, "\\N", 2);
	assert_int_equal(f[5].len, 0); /* empty string, not NULL */
	assert_int_equal(pgcopy_text_row(U8(row), strlen(row), out, f, 5, &nf, &st),
	    SHOAL_INVALID_ARGUMENT);
}

/* ---- vectors -------------------------------------------------------------- */

static void
test_pgvector_binary(void **state)
{
	(void)state;
	bytes x = {0};
	float v[8];
	uint32_t dim;
	shoal_status st;

	be16(&x, 3);
	be16(&x, 0);
	bef32(&x, 1.5f);
	bef32(&x, -2.0f);
	bef32(&x, 0.25f);
	assert_int_equal(pgcopy_vector(PGCOPY_VECTOR, true, x.b, x.n, v, 8, &dim, &st), SHOAL_OK);
	assert_int_equal(dim, 3);
	assert_true(v[0] == 1.5f && v[1] == -2.0f && v[2] == 0.25f);
	assert_int_equal(pgcopy_vector(PGCOPY_VECTOR, true, x.b, x.n, v, 2, &dim, &st),
	    SHOAL_INVALID_ARGUMENT); /* more than cap */
	for (size_t n = 0; n < x.n; n++)
		assert_int_equal(pgcopy_vector(PGCOPY_VECTOR, true, x.b, n, v, 8, &dim, &st),
		    SHOAL_INVALID_ARGUMENT);
	x.b[3] = 1; /* unused must be 0 */
	assert_int_equal(pgcopy_vector(PGCOPY_VECTOR, true, x.b, x.n, v, 8, &dim, &st),
	    SHOAL_INVALID_ARGUMENT);
	bytes z = {0};
	be16(&z, 0);
	be16(&z, 0);
	assert_int_equal(pgcopy_vector(PGCOPY_VECTOR, true, z.b, z.n, v, 8, &dim, &st),
	    SHOAL_INVALID_ARGUMENT);
	assert_non_null(strstr(st.msg, "no components"));
}

static void
test_halfvec_binary(void **state)
{
	(void)state;
	/* 1, -2, 0.25, 65504 (max), 2^-24 (smallest subnormal), -0, +inf, NaN */
	const uint16_t h[] = {0x3c00, 0xc000, 0x3400, 0x7bff, 0x0001, 0x8000, 0x7c00, 0x7e00};
	bytes x = {0};
	float v[8];
	uint32_t dim;
	shoal_status st;

	be16(&x, 8);
	be16(&x, 0);
	for (int i = 0; i < 8; i++)
		be16(&x, h[i]);
	assert_int_equal(pgcopy_vector(PGCOPY_HALFVEC, true, x.b, x.n, v, 8, &dim, &st), SHOAL_OK);
	assert_int_equal(dim, 8);
	assert_true(v[0] == 1.0f && v[1] == -2.0f && v[2] == 0.25f && v[3] == 65504.0f);
	assert_true(v[4] == ldexpf(1.0f, -24));
	assert_true(v[5] == 0.0f && signbit(v[5]));
	assert_true(isinf(v[6]) && v[6] > 0);
	assert_true(isnan(v[7]));
	assert_int_equal(pgcopy_vector_check(v, 8, &st), SHOAL_INVALID_ARGUMENT);
	assert_string_equal(st.msg, "component 6 is infinite");
	assert_int_equal(pgcopy_vector_check(v, 6, &st), SHOAL_OK);
	/* a halfvec's bytes read as a vector are the wrong size */
	assert_int_equal(pgcopy_vector(PGCOPY_VECTOR, true, x.b, x.n, v, 8, &dim, &st),
	    SHOAL_INVALID_ARGUMENT);
	/* every half converts like the hardware would (sampled exhaustively) */
	for (uint32_t u = 0; u < 0x10000; u++) {
		float f = pgcopy_half_to_float((uint16_t)u);
		uint32_t e = (u >> 10) & 0x1f, m = u & 0x3ff;
		float want = e == 0 ? ldexpf((float)m, -24)
		    : e == 31       ? (m ? NAN : INFINITY)
		                    : ldexpf((float)(m | 0x400), (int)e - 25);
		if (u & 0x8000)
			want = -want;
		if (isnan(want))
			assert_true(isnan(f));
		else
			assert_true(f == want && signbit(f) == signbit(want));
	}
}

static void
test_float_arrays_binary(void **state)
{
	(void)state;
	float v[8];
	uint32_t dim;
	shoal_status st;

	bytes x = {0};
	array_head(&x, PGCOPY_OID_FLOAT4, 3, false);
	for (int i = 0; i < 3; i++) {
		be32(&x, 4);
		bef32(&x, (float)i - 0.5f);
	}
	assert_int_equal(pgcopy_vector(PGCOPY_FLOAT4_ARRAY, true, x.b, x.n, v, 8, &dim, &st),
	    SHOAL_OK);
	assert_int_equal(dim, 3);
	assert_true(v[0] == -0.5f && v[2] == 1.5f);
	for (size_t n = 0; n < x.n; n++)
		assert_int_equal(pgcopy_vector(PGCOPY_FLOAT4_ARRAY, true, x.b, n, v, 8, &dim, &st),
		    SHOAL_INVALID_ARGUMENT);
	/* the element type must match */
	assert_int_equal(pgcopy_vector(PGCOPY_FLOAT8_ARRAY, true, x.b, x.n, v, 8, &dim, &st),
	    SHOAL_INVALID_ARGUMENT);

	bytes d = {0};
	array_head(&d, PGCOPY_OID_FLOAT8, 2, false);
	be32(&d, 8);
	bef64(&d, 0.1);
	be32(&d, 8);
	bef64(&d, -1e300); /* beyond float: infinite, which the check reports */
	assert_int_equal(pgcopy_vector(PGCOPY_FLOAT8_ARRAY, true, d.b, d.n, v, 8, &dim, &st),
	    SHOAL_OK);
	assert_true(v[0] == 0.1f && isinf(v[1]));

	bytes nul = {0};
	array_head(&nul, PGCOPY_OID_FLOAT4, 2, true);
	be32(&nul, 4);
	bef32(&nul, 1);
	be32(&nul, (uint32_t)-1);
	assert_int_equal(pgcopy_vector(PGCOPY_FLOAT4_ARRAY, true, nul.b, nul.n, v, 8, &dim, &st),
	    SHOAL_INVALID_ARGUMENT);
	assert_non_null(strstr(st.msg, "element 1 is NULL"));

	bytes two = {0}; /* '{{1},{2}}' */
	be32(&two, 2);
	be32(&two, 0);
	be32(&two, PGCOPY_OID_FLOAT4);
	be32(&two, 2);
	be32(&two, 1);
	be32(&two, 1);
	be32(&two, 1);
	assert_int_equal(pgcopy_vector(PGCOPY_FLOAT4_ARRAY, true, two.b, two.n, v, 8, &dim, &st),
	    SHOAL_INVALID_ARGUMENT);
	assert_non_null(strstr(st.msg, "2 dimensions"));

	bytes empty = {0}; /* '{}' */
	be32(&empty, 0);
	be32(&empty, 0);
	be32(&empty, PGCOPY_OID_FLOAT4);
	assert_int_equal(pgcopy_vector(PGCOPY_FLOAT4_ARRAY, true, empty.b, empty.n, v, 8, &dim,
	                     &st),
	    SHOAL_INVALID_ARGUMENT);
}

static void
test_vector_text(void **state)
{
	(void)state;
	float v[8];
	uint32_t dim;
	shoal_status st;
	struct {
		const char *s;
		uint32_t dim;
		float first, last;
	} good[] = {
	    {"[1,2.5,-3e2]", 3, 1, -300},
	    {" { 1 , 2 } ", 2, 1, 2},
	    {"[0.1]", 1, 0.1f, 0.1f},
	    {"{NaN,Infinity,-Infinity}", 3, NAN, -INFINITY},
	};
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		assert_int_equal(pgcopy_vector(PGCOPY_TEXT, false, U8(good[i].s), strlen(good[i].s),
		                     v, 8, &dim, &st),
		    SHOAL_OK);
		assert_int_equal(dim, good[i].dim);
		if (!isnan(good[i].first))
			assert_true(v[0] == good[i].first);
		assert_true(v[dim - 1] == good[i].last);
	}
	const char *bad[] = {"", "[]", "{}", "[1,,2]", "[1,2", "1,2", "{{1,2},{3,4}}", "[1,NULL]",
	    "[1,2]x", "[1,0x10]", "[1,2,3,4,5,6,7,8,9]", "[1e]", "[ ]"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(pgcopy_vector(PGCOPY_TEXT, false, U8(bad[i]), strlen(bad[i]), v, 8,
		                     &dim, &st),
		    SHOAL_INVALID_ARGUMENT);
	/* the text is bounded by its length, not by a NUL */
	assert_int_equal(pgcopy_vector(PGCOPY_TEXT, false, U8("[1,2]"), 4, v, 8, &dim, &st),
	    SHOAL_INVALID_ARGUMENT);
}

/* ---- scalars -------------------------------------------------------------- */

static void
test_scalars(void **state)
{
	(void)state;
	shoal_status st;
	int64_t i;
	double d;
	bool b;
	char u[37];

	uint8_t i2[] = {0xff, 0xfe};
	assert_int_equal(pgcopy_int(PGCOPY_INT2, true, i2, 2, &i, &st), SHOAL_OK);
	assert_int_equal(i, -2);
	uint8_t i4[] = {0x80, 0, 0, 0};
	assert_int_equal(pgcopy_int(PGCOPY_INT4, true, i4, 4, &i, &st), SHOAL_OK);
	assert_true(i == INT32_MIN);
	assert_int_equal(pgcopy_int(PGCOPY_INT4, true, i4, 3, &i, &st), SHOAL_INVALID_ARGUMENT);
	assert_int_equal(pgcopy_int(PGCOPY_INT8, false, U8("-9223372036854775808"), 20, &i, &st),
	    SHOAL_OK);
	assert_true(i == INT64_MIN);
	assert_int_equal(pgcopy_int(PGCOPY_INT8, false, U8("9223372036854775808"), 19, &i, &st),
	    SHOAL_INVALID_ARGUMENT);
	assert_int_equal(pgcopy_int(PGCOPY_INT8, false, U8("12a"), 3, &i, &st),
	    SHOAL_INVALID_ARGUMENT);
	assert_int_equal(pgcopy_int(PGCOPY_INT8, false, U8("-"), 1, &i, &st),
	    SHOAL_INVALID_ARGUMENT);

	bytes x = {0};
	bef64(&x, -0.125);
	assert_int_equal(pgcopy_float(PGCOPY_FLOAT8, true, x.b, 8, &d, &st), SHOAL_OK);
	assert_true(d == -0.125);
	assert_int_equal(pgcopy_float(PGCOPY_NUMERIC, false, U8("1.25000000000000000000"), 22, &d,
	                     &st),
	    SHOAL_OK);
	assert_true(d == 1.25);
	assert_int_equal(pgcopy_float(PGCOPY_NUMERIC, false, U8("NaN"), 3, &d, &st), SHOAL_OK);
	assert_true(isnan(d));
	assert_int_equal(pgcopy_float(PGCOPY_FLOAT8, false, U8("-Infinity"), 9, &d, &st), SHOAL_OK);
	assert_true(isinf(d) && d < 0);
	assert_int_equal(pgcopy_float(PGCOPY_FLOAT8, false, U8("0x10"), 4, &d, &st),
	    SHOAL_INVALID_ARGUMENT);
	assert_int_equal(pgcopy_float(PGCOPY_FLOAT8, false, U8(""), 0, &d, &st),
	    SHOAL_INVALID_ARGUMENT);

	assert_int_equal(pgcopy_bool(true, U8("\1"), 1, &b, &st), SHOAL_OK);
	assert_true(b);
	assert_int_equal(pgcopy_bool(false, U8("f"), 1, &b, &st), SHOAL_OK);
	assert_false(b);
	assert_int_equal(pgcopy_bool(true, U8("\2"), 1, &b, &st), SHOAL_INVALID_ARGUMENT);
	assert_int_equal(pgcopy_bool(false, U8("true"), 4, &b, &st), SHOAL_INVALID_ARGUMENT);

	uint8_t raw[16] = {0xa0, 0xee, 0xbc, 0x99, 0x9c, 0x0b, 0x4e, 0xf8, 0xbb, 0x6d, 0x6b, 0xb9,
	    0xbd, 0x38, 0x0a, 0x11};
	assert_int_equal(pgcopy_uuid(true, raw, 16, u, &st), SHOAL_OK);
	assert_string_equal(u, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
	const char *t = "A0EEBC999C0B4EF8BB6D6BB9BD380A11";
	assert_int_equal(pgcopy_uuid(false, U8(t), strlen(t), u, &st), SHOAL_OK);
	assert_string_equal(u, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
	assert_int_equal(pgcopy_uuid(false, U8("a0eebc99"), 8, u, &st), SHOAL_INVALID_ARGUMENT);
	assert_int_equal(pgcopy_uuid(true, raw, 15, u, &st), SHOAL_INVALID_ARGUMENT);
}

/* ---- text[] --------------------------------------------------------------- */

typedef struct strs {
	char v[16][32];
	int n;
} strs;

static shoal_code
collect(void *arg, const char *s, size_t n, shoal_status *st)
{
	(void)st;
	strs *x = arg;
	if (x->n < 16 && n < 32) {
		memcpy(x->v[x->n], s, n);
		x->v[x->n][n] = '\0';
	}
	x->n++;
	return SHOAL_OK;
}

static void
test_text_array(void **state)
{
	(void)state;
	shoal_status st;
	char scratch[256];
	strs s = {0};

	bytes x = {0}; /* {a,NULL,"b c"} */
	array_head(&x, PGCOPY_OID_TEXT, 3, true);
	be32(&x, 1);
	put(&x, "a", 1);
	be32(&x, (uint32_t)-1);
	be32(&x, 3);
	put(&x, "b c", 3);
	assert_int_equal(pgcopy_text_array(true, x.b, x.n, scratch, collect, &s, &st), SHOAL_OK);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.v[0], "a");
	assert_string_equal(s.v[1], "b c");
	for (size_t n = 1; n < x.n; n++) {
		strs t = {0};
		assert_int_equal(pgcopy_text_array(true, x.b, n, scratch, collect, &t, &st),
		    SHOAL_INVALID_ARGUMENT);
	}

	const char *txt = "{a,\"b c\",NULL,\"x\\\"y\",\"NULL\", d e }";
	memset(&s, 0, sizeof s);
	assert_int_equal(pgcopy_text_array(false, U8(txt), strlen(txt), scratch, collect, &s, &st),
	    SHOAL_OK);
	assert_int_equal(s.n, 5);
	assert_string_equal(s.v[0], "a");
	assert_string_equal(s.v[1], "b c");
	assert_string_equal(s.v[2], "x\"y");
	assert_string_equal(s.v[3], "NULL"); /* quoted: the string, not SQL NULL */
	assert_string_equal(s.v[4], "d e");

	const char *md = "[0:1][1:1]={{a},{b}}";
	memset(&s, 0, sizeof s);
	assert_int_equal(pgcopy_text_array(false, U8(md), strlen(md), scratch, collect, &s, &st),
	    SHOAL_OK);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.v[1], "b");

	const char *bad[] = {"a,b", "{a", "{\"a}", "{a}}", "{a}x"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		memset(&s, 0, sizeof s);
		assert_int_equal(pgcopy_text_array(false, U8(bad[i]), strlen(bad[i]), scratch,
		                     collect, &s, &st),
		    SHOAL_INVALID_ARGUMENT);
	}
}

/* ---- JSON ----------------------------------------------------------------- */

typedef struct jfield {
	char key[32];
	pgcopy_jvalue v;
	char s[64];
	int n_tags;
	char tags[4][16];
} jfield;

typedef struct jout {
	jfield f[16];
	int n;
} jout;

static shoal_code
jcollect(void *arg, pgcopy_slice key, const pgcopy_jvalue *v, shoal_status *st)
{
	(void)st;
	jout *o = arg;
	jfield *f = &o->f[o->n++];
	memset(f, 0, sizeof *f);
	if (key.p)
		memcpy(f->key, key.p, key.n < 31 ? key.n : 31);
	else
		strcpy(f->key, "(top)");
	f->v = *v;
	if (v->type == PGCOPY_J_STRING)
		memcpy(f->s, v->s.p, v->s.n < 63 ? v->s.n : 63);
	if (v->type == PGCOPY_J_TAGS) {
		f->n_tags = (int)v->n_tags;
		for (size_t i = 0; i < v->n_tags && i < 4; i++)
			memcpy(f->tags[i], v->tags[i].p, v->tags[i].n < 15 ? v->tags[i].n : 15);
	}
	return SHOAL_OK;
}

static shoal_code
json(const char *s, pgcopy_type t, bool binary, jout *o, shoal_status *st)
{
	size_t n = strlen(s);
	char *scratch = malloc(n + 1);
	pgcopy_slice *slices = malloc((n / 2 + 1) * sizeof *slices);
	memset(o, 0, sizeof *o);
	shoal_code rv = pgcopy_json_fields(t, binary, U8(s), n, scratch, slices, jcollect, o, st);
	free(scratch);
	free(slices);
	return rv;
}

static void
test_json(void **state)
{
	(void)state;
	shoal_status st;
	jout o;

	const char *doc =
	    "{\"s\": \"caf\\u00e9 \\\"q\\\"\", \"i\": -42, \"big\": 12345678901234567890, "
	    "\"d\": 1.5e3, \"t\": true, \"f\": false, \"n\": null, "
	    "\"obj\": {\"x\": [1, {\"y\": 2}]}, \"tags\": [\"a\", \"b\\n\"], "
	    "\"mixed\": [\"a\", 1], \"empty\": [], \"emoji\": \"\\ud83d\\ude00\"}";
	assert_int_equal(json(doc, PGCOPY_JSON, false, &o, &st), SHOAL_OK);
	assert_int_equal(o.n, 9); /* n, obj and mixed are left out */
	assert_string_equal(o.f[0].key, "s");
	assert_string_equal(o.f[0].s, "caf\xc3\xa9 \"q\"");
	assert_int_equal(o.f[1].v.type, PGCOPY_J_INT);
	assert_true(o.f[1].v.i == -42);
	assert_int_equal(o.f[2].v.type, PGCOPY_J_DOUBLE); /* beyond int64 */
	assert_true(o.f[2].v.d == 12345678901234567890.0);
	assert_int_equal(o.f[3].v.type, PGCOPY_J_DOUBLE);
	assert_true(o.f[3].v.d == 1500);
	assert_true(o.f[4].v.type == PGCOPY_J_BOOL && o.f[4].v.b);
	assert_true(o.f[5].v.type == PGCOPY_J_BOOL && !o.f[5].v.b);
	assert_string_equal(o.f[6].key, "tags");
	assert_int_equal(o.f[6].n_tags, 2);
	assert_string_equal(o.f[6].tags[1], "b\n");
	assert_string_equal(o.f[7].key, "empty");
	assert_int_equal(o.f[7].n_tags, 0);
	assert_string_equal(o.f[8].s, "\xf0\x9f\x98\x80");

	/* jsonb binary: version byte 1, then the text */
	char jb[] = "\1{\"a\": 1}";
	assert_int_equal(json(jb, PGCOPY_JSONB, true, &o, &st), SHOAL_OK);
	assert_int_equal(o.n, 1);
	char jb2[] = "\2{\"a\": 1}";
	assert_int_equal(json(jb2, PGCOPY_JSONB, true, &o, &st), SHOAL_INVALID_ARGUMENT);

	/* a top-level scalar or string array goes under the column's name */
	assert_int_equal(json("\"x\"", PGCOPY_JSON, false, &o, &st), SHOAL_OK);
	assert_true(o.n == 1 && strcmp(o.f[0].key, "(top)") == 0);
	assert_int_equal(json(" [\"a\"] ", PGCOPY_JSON, false, &o, &st), SHOAL_OK);
	assert_true(o.n == 1 && o.f[0].n_tags == 1);
	assert_int_equal(json("[1, [2]]", PGCOPY_JSON, false, &o, &st), SHOAL_OK);
	assert_int_equal(o.n, 0);

	const char *bad[] = {"", "{", "{\"a\"}", "{\"a\": }", "{\"a\": 1,}", "{a: 1}", "[1,",
	    "\"\\x\"", "\"\\u12\"", "\"a\\u0000b\"", "01", "1.", "-", "{\"a\": 1} x", "tru",
	    "{\"a\": [1, {]}", "\"raw\x01\"", "{\"a\": 1e}"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(json(bad[i], PGCOPY_JSON, false, &o, &st), SHOAL_INVALID_ARGUMENT);

	/* deep nesting is walked without recursion */
	size_t depth = 100000;
	char *deep = malloc(2 * depth + 16);
	size_t k = 0;
	k += (size_t)sprintf(deep, "{\"d\": ");
	for (size_t i = 0; i < depth; i++)
		deep[k++] = '[';
	for (size_t i = 0; i < depth; i++)
		deep[k++] = ']';
	deep[k++] = '}';
	deep[k] = '\0';
	assert_int_equal(json(deep, PGCOPY_JSON, false, &o, &st), SHOAL_OK);
	assert_int_equal(o.n, 0);
	free(deep);
}

/* ---- ids ------------------------------------------------------------------ */

static void
hex(const uint8_t *d, char *out)
{
	for (int i = 0; i < 32; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
}

static void
test_sha256_and_ids(void **state)
{
	(void)state;
	uint8_t d[32];
	char h[65];
	struct {
		const char *in;
		const char *out;
	} v[] = {
	    {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
	    {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
	    {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
	        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
	    {"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmno"
	     "p"
	     "qrlmnopqrsmnopqrstnopqrstu",
	        "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"},
	};
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		pgcopy_sha256(v[i].in, strlen(v[i].in), d);
		hex(d, h);
		assert_string_equal(h, v[i].out);
	}
	char *a = malloc(1000000);
	memset(a, 'a', 1000000);
	pgcopy_sha256(a, 1000000, d);
	hex(d, h);
	assert_string_equal(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
	free(a);
	/* every tail length around the block boundary (55/56/63/64) is exercised above;
	 * the id is the first 8 digest bytes, big-endian */
	assert_true(pgcopy_id_hash("abc", 3) == UINT64_C(0xba7816bf8f01cfea));
	assert_true(pgcopy_id_hash("", 0) == UINT64_C(0xe3b0c44298fc1c14));
}

/* ---- garbage ---------------------------------------------------------------- */

static shoal_code
sink(void *arg, const char *s, size_t n, shoal_status *st)
{
	(void)arg;
	(void)st;
	volatile char c = n ? s[n - 1] : 0;
	(void)c;
	return SHOAL_OK;
}

static shoal_code
jsink(void *arg, pgcopy_slice key, const pgcopy_jvalue *v, shoal_status *st)
{
	(void)arg;
	(void)key;
	(void)v;
	(void)st;
	return SHOAL_OK;
}

/* Every decoder on random and mutated inputs: must return, never read or
 * write out of bounds (run under ASan in CI). */
static void
test_garbage(void **state)
{
	(void)state;
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	uint8_t in[256], out[256];
	char scratch[256];
	pgcopy_slice slices[129];
	pgcopy_field f[8];
	float v[64];
	shoal_status st;
	const char *alphabet = "[]{},\"\\:0123456789.eE-+ NnUuLlaxtf\t\n";

	for (int it = 0; it < 50000; it++) {
		seed ^= seed << 13;
		seed ^= seed >> 7;
		seed ^= seed << 17;
		size_t n = seed % sizeof in;
		uint64_t s = seed;
		for (size_t i = 0; i < n; i++) {
			s = s * 6364136223846793005ull + 1442695040888963407ull;
			/* half the runs from a JSON/array-ish alphabet */
			in[i] = it & 1 ? (uint8_t)alphabet[(s >> 33) % strlen(alphabet)]
			               : (uint8_t)(s >> 56);
		}
		/* heap copies so ASan sees the exact end */
		uint8_t *p = malloc(n ? n : 1);
		memcpy(p, in, n);
		size_t used, nf;
		bool trailer, b;
		uint32_t dim;
		int64_t i64;
		double d;
		char u[37];
		pgcopy_bin_header(p, n, &used, &st);
		pgcopy_bin_tuple(p, n, f, 8, &nf, &trailer, &used, &st);
		pgcopy_text_row(p, n, out, f, 8, &nf, &st);
		for (pgcopy_type t = PGCOPY_UNKNOWN; t <= PGCOPY_HALFVEC; t++) {
			pgcopy_vector(t, true, p, n, v, 64, &dim, &st);
			pgcopy_int(t, true, p, n, &i64, &st);
			pgcopy_float(t, true, p, n, &d, &st);
		}
		pgcopy_vector(PGCOPY_TEXT, false, p, n, v, 64, &dim, &st);
		pgcopy_bool(true, p, n, &b, &st);
		pgcopy_uuid(false, p, n, u, &st);
		pgcopy_text_array(true, p, n, scratch, sink, NULL, &st);
		pgcopy_text_array(false, p, n, scratch, sink, NULL, &st);
		pgcopy_json_fields(PGCOPY_JSON, false, p, n, scratch, slices, jsink, NULL, &st);
		pgcopy_json_fields(PGCOPY_JSONB, true, p, n, scratch, slices, jsink, NULL, &st);
		free(p);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bin_header),
	    cmocka_unit_test(test_bin_tuple),
	    cmocka_unit_test(test_text_row),
	    cmocka_unit_test(test_pgvector_binary),
	    cmocka_unit_test(test_halfvec_binary),
	    cmocka_unit_test(test_float_arrays_binary),
	    cmocka_unit_test(test_vector_text),
	    cmocka_unit_test(test_scalars),
	    cmocka_unit_test(test_text_array),
	    cmocka_unit_test(test_json),
	    cmocka_unit_test(test_sha256_and_ids),
	    cmocka_unit_test(test_garbage),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
