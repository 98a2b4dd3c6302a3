/* pgcopy.c -- decoders for PostgreSQL COPY output (see pgcopy.h for the
 * formats and the contract: pure functions over bounded buffers).
 *
 * Rules every function keeps, because its input is whatever a database
 * (or a fuzzer) sends:
 *  1. Every read is bounds-checked against n before it happens; lengths
 *     read from the input are checked against what is left, never trusted.
 *  2. No recursion: nested arrays and JSON are walked with counters, so
 *     deep nesting cannot exhaust the stack.
 *  3. Numbers are parsed from a bounded local copy (strtod needs a NUL),
 *     and a token too long to be a number is an error, not a truncation.
 */
#include "pgcopy.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t signature[11] = {'P', 'G', 'C', 'O', 'P', 'Y', '\n', 0xff, '\r', '\n', 0};

/* Longest text we parse as one number ("-1.2345678901234567e-308" and
 * friends fit easily; numeric values with hundreds of digits do not and
 * are rejected rather than silently truncated). */
#define NUM_MAX 400

static inline uint16_t
be16(const uint8_t *p)
{
	return (uint16_t)((uint16_t)p[0] << 8 | p[1]);
}

static inline uint32_t
be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t
be64(const uint8_t *p)
{
	return (uint64_t)be32(p) << 32 | be32(p + 4);
}

/* ===================================================================
 * Types
 * =================================================================== */

pgcopy_type
pgcopy_type_from_oid(uint32_t oid)
{
	switch (oid) {
	case PGCOPY_OID_BOOL: return PGCOPY_BOOL;
	case PGCOPY_OID_INT2: return PGCOPY_INT2;
	case PGCOPY_OID_INT4: return PGCOPY_INT4;
	case PGCOPY_OID_INT8: return PGCOPY_INT8;
	case PGCOPY_OID_FLOAT4: return PGCOPY_FLOAT4;
	case PGCOPY_OID_FLOAT8: return PGCOPY_FLOAT8;
	case PGCOPY_OID_NUMERIC: return PGCOPY_NUMERIC;
	case PGCOPY_OID_TEXT:
	case PGCOPY_OID_VARCHAR:
	case PGCOPY_OID_BPCHAR:
	case PGCOPY_OID_NAME: return PGCOPY_TEXT;
	case PGCOPY_OID_UUID: return PGCOPY_UUID;
	case PGCOPY_OID_JSON: return PGCOPY_JSON;
	case PGCOPY_OID_JSONB: return PGCOPY_JSONB;
	case PGCOPY_OID_TEXT_ARRAY:
	case PGCOPY_OID_VARCHAR_ARRAY:
	case PGCOPY_OID_BPCHAR_ARRAY: return PGCOPY_TEXT_ARRAY;
	case PGCOPY_OID_FLOAT4_ARRAY: return PGCOPY_FLOAT4_ARRAY;
	case PGCOPY_OID_FLOAT8_ARRAY: return PGCOPY_FLOAT8_ARRAY;
	default: return PGCOPY_UNKNOWN;
	}
}

pgcopy_type
pgcopy_type_from_name(const char *typname)
{
	static const struct {
		const char *name;
		pgcopy_type t;
	} names[] = {
	    {"vector", PGCOPY_VECTOR},
	    {"halfvec", PGCOPY_HALFVEC},
	    {"bool", PGCOPY_BOOL},
	    {"int2", PGCOPY_INT2},
	    {"int4", PGCOPY_INT4},
	    {"int8", PGCOPY_INT8},
	    {"float4", PGCOPY_FLOAT4},
	    {"float8", PGCOPY_FLOAT8},
	    {"numeric", PGCOPY_NUMERIC},
	    {"text", PGCOPY_TEXT},
	    {"varchar", PGCOPY_TEXT},
	    {"bpchar", PGCOPY_TEXT},
	    {"name", PGCOPY_TEXT},
	    {"uuid", PGCOPY_UUID},
	    {"json", PGCOPY_JSON},
	    {"jsonb", PGCOPY_JSONB},
	    {"_text", PGCOPY_TEXT_ARRAY},
	    {"_varchar", PGCOPY_TEXT_ARRAY},
	    {"_bpchar", PGCOPY_TEXT_ARRAY},
	    {"_float4", PGCOPY_FLOAT4_ARRAY},
	    {"_float8", PGCOPY_FLOAT8_ARRAY},
	};
	if (typname == NULL)
		return PGCOPY_UNKNOWN;
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (strcmp(typname, names[i].name) == 0)
			return names[i].t;
	return PGCOPY_UNKNOWN;
}

const char *
pgcopy_type_name(pgcopy_type t)
{
	switch (t) {
	case PGCOPY_BOOL: return "boolean";
	case PGCOPY_INT2: return "smallint";
	case PGCOPY_INT4: return "integer";
	case PGCOPY_INT8: return "bigint";
	case PGCOPY_FLOAT4: return "real";
	case PGCOPY_FLOAT8: return "double precision";
	case PGCOPY_NUMERIC: return "numeric";
	case PGCOPY_TEXT: return "text";
	case PGCOPY_UUID: return "uuid";
	case PGCOPY_JSON: return "json";
	case PGCOPY_JSONB: return "jsonb";
	case PGCOPY_TEXT_ARRAY: return "text[]";
	case PGCOPY_FLOAT4_ARRAY: return "real[]";
	case PGCOPY_FLOAT8_ARRAY: return "double precision[]";
	case PGCOPY_VECTOR: return "vector";
	case PGCOPY_HALFVEC: return "halfvec";
	default: return "unknown";
	}
}

bool
pgcopy_type_has_binary(pgcopy_type t)
{
	return t != PGCOPY_UNKNOWN && t != PGCOPY_NUMERIC;
}

/* ===================================================================
 * Row framing
 * =================================================================== */

shoal_code
pgcopy_bin_header(const uint8_t *p, size_t n, size_t *consumed, shoal_status *st)
{
	*consumed = 0;
	if (n < sizeof signature + 8)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "binary COPY header truncated (%zu of at least %zu bytes)", n,
		    sizeof signature + 8);
	if (memcmp(p, signature, sizeof signature) != 0)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "not binary COPY data (no PGCOPY signature)");
	uint32_t flags = be32(p + 11);
	if (flags & (UINT32_C(1) << 16))
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "binary COPY data includes OIDs (not supported)");
	if (flags & UINT32_C(0xfffe0000))
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "binary COPY header has unknown critical flags 0x%08x", (unsigned)flags);
	uint32_t ext = be32(p + 15);
	if (ext > n - 19)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "binary COPY header extension of %u bytes exceeds the %zu left", (unsigned)ext,
		    n - 19);
	*consumed = 19 + (size_t)ext;
	return SHOAL_OK;
}

shoal_code
pgcopy_bin_tuple(const uint8_t *p, size_t n, pgcopy_field *fields, size_t cap, size_t *nfields,
    bool *trailer, size_t *consumed, shoal_status *st)
{
	*nfields = 0;
	*trailer = false;
	*consumed = 0;
	if (n < 2)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT, "binary COPY tuple truncated");
	int16_t count = (int16_t)be16(p);
	if (count == -1) {
		*trailer = true;
		*consumed = 2;
		return SHOAL_OK;
	}
	if (count < 0 || (size_t)count > cap)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "binary COPY tuple has %d fields, expected at most %zu", (int)count, cap);
	size_t off = 2;
	for (int16_t i = 0; i < count; i++) {
		if (n - off < 4)
			return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
			    "binary COPY tuple truncated in field %d (%zu bytes)", (int)i, n);
		int32_t len = (int32_t)be32(p + off);
		off += 4;
		if (len == -1) {
			fields[i].p = NULL;
			fields[i].len = -1;
			continue;
		}
		if (len < 0 || (size_t)len > n - off)
			return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
			    "binary COPY field %d has a bad length (%zu bytes left)", (int)i,
			    n - off);
		fields[i].p = p + off;
		fields[i].len = len;
		off += (size_t)len;
	}
	*nfields = (size_t)count;
	*consumed = off;
	return SHOAL_OK;
}

static int
hexval(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

shoal_code
pgcopy_text_row(const uint8_t *p, size_t n, uint8_t *out, pgcopy_field *fields, size_t cap,
    size_t *nfields, shoal_status *st)
{
	size_t i = 0, o = 0, nf = 0;

	*nfields = 0;
	if (n > 0 && p[n - 1] == '\n')
		n--;
	if (n > 0 && p[n - 1] == '\r')
		n--;
	for (;;) {
		/* one field: p[i..) up to a TAB or the end */
		size_t start = o, fi = i;
		bool escaped_any = false;
		while (i < n && p[i] != '\t') {
			uint8_t c = p[i++];
			if (c != '\\') {
				out[o++] = c;
				continue;
			}
			escaped_any = true;
			if (i >= n) {
				out[o++] = '\\'; /* a lone trailing backslash: keep it */
				break;
			}
			c = p[i++];
			switch (c) {
			case 'b': out[o++] = '\b'; break;
			case 'f': out[o++] = '\f'; break;
			case 'n': out[o++] = '\n'; break;
			case 'r': out[o++] = '\r'; break;
			case 't': out[o++] = '\t'; break;
			case 'v': out[o++] = '\v'; break;
			case 'x': {
				int v = 0, k = 0;
				while (k < 2 && i < n && hexval(p[i]) >= 0)
					v = v * 16 + hexval(p[i++]), k++;
				if (k == 0)
					out[o++] = 'x'; /* "\x" not followed by hex: a plain x */
				else
					out[o++] = (uint8_t)v;
				break;
			}
			default:
				if (c >= '0' && c <= '7') {
					int v = c - '0', k = 1;
					while (k < 3 && i < n && p[i] >= '0' && p[i] <= '7')
						v = v * 8 + (p[i++] - '0'), k++;
					out[o++] = (uint8_t)v;
				} else {
					out[o++] = c; /* \\ and any other escaped character */
				}
			}
		}
		if (nf == cap)
			return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
			    "text COPY row has more than %zu fields", cap);
		if (escaped_any && i - fi == 2 && p[fi] == '\\' && p[fi + 1] == 'N') {
			fields[nf].p = NULL;
			fields[nf].len = -1;
		} else {
			fields[nf].p = out + start;
			fields[nf].len = (int32_t)(o - start);
		}
		nf++;
		if (i >= n)
			break;
		i++; /* the TAB */
	}
	*nfields = nf;
	return SHOAL_OK;
}

/* ===================================================================
 * Numbers from text
 * =================================================================== */

static bool
is_space(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* Copies p[0..n) without surrounding spaces into buf (NUM_MAX + 1 bytes)
 * as a C string for strtod/strtof and returns its length; 0 when empty,
 * too long, or hex:
 * strtod also reads hex floats ("0x1p3"); PostgreSQL never prints them and
 * accepting them would make "0x..." ids look numeric. */
static size_t
num_text(const uint8_t *p, size_t n, char *buf)
{
	while (n > 0 && is_space(p[0]))
		p++, n--;
	while (n > 0 && is_space(p[n - 1]))
		n--;
	if (n == 0 || n > NUM_MAX)
		return 0;
	memcpy(buf, p, n);
	buf[n] = '\0';
	return memchr(buf, 'x', n) || memchr(buf, 'X', n) ? 0 : n;
}

/* Parses p[0..n) (surrounding spaces allowed) completely as a double. */
static bool
parse_double(const uint8_t *p, size_t n, double *out)
{
	char buf[NUM_MAX + 1], *end;
	size_t len = num_text(p, n, buf);
	if (len == 0)
		return false;
	*out = strtod(buf, &end);
	return end == buf + len;
}

static bool
parse_float(const uint8_t *p, size_t n, float *out)
{
	char buf[NUM_MAX + 1], *end;
	size_t len = num_text(p, n, buf);
	if (len == 0)
		return false;
	/* strtof, as pgvector's own parser: the float nearest the decimal,
	 * not a double rounded twice. */
	*out = strtof(buf, &end);
	return end == buf + len;
}

static bool
parse_int64(const uint8_t *p, size_t n, int64_t *out)
{
	size_t i = 0;
	bool neg = false;
	uint64_t v = 0;

	while (n > 0 && is_space(p[0]))
		p++, n--;
	while (n > 0 && is_space(p[n - 1]))
		n--;
	if (n > 0 && (p[0] == '-' || p[0] == '+')) {
		neg = p[0] == '-';
		i = 1;
	}
	if (i >= n)
		return false;
	for (; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		unsigned d = p[i] - '0';
		if (v > (UINT64_C(9223372036854775808) - d) / 10)
			return false;
		v = v * 10 + d;
	}
	if (!neg && v > INT64_MAX)
		return false;
	*out = neg ? (int64_t)(0 - v) : (int64_t)v;
	return true;
}

/* ===================================================================
 * Vectors
 * =================================================================== */

float
pgcopy_half_to_float(uint16_t h)
{
	uint32_t sign = (uint32_t)(h & 0x8000) << 16;
	uint32_t exp = (h >> 10) & 0x1f;
	uint32_t man = h & 0x3ff;
	uint32_t bits;

	if (exp == 0x1f) {
		bits = sign | 0x7f800000u | (man << 13); /* inf / NaN */
	} else if (exp != 0) {
		bits = sign | ((exp + 112) << 23) | (man << 13);
	} else if (man == 0) {
		bits = sign; /* +-0 */
	} else {
		/* subnormal half: normalise */
		int e = -1;
		do {
			e++;
			man <<= 1;
		} while ((man & 0x400) == 0);
		bits = sign | ((uint32_t)(112 - e) << 23) | ((man & 0x3ff) << 13);
	}
	float f;
	memcpy(&f, &bits, sizeof f);
	return f;
}

static float
be_float(const uint8_t *p)
{
	uint32_t u = be32(p);
	float f;
	memcpy(&f, &u, sizeof f);
	return f;
}

static double
be_double(const uint8_t *p)
{
	uint64_t u = be64(p);
	double d;
	memcpy(&d, &u, sizeof d);
	return d;
}

/* pgvector vector / halfvec binary: uint16 dim, uint16 unused, elements. */
static shoal_code
pgvector_bin(bool half, const uint8_t *p, size_t n, float *out, size_t cap, uint32_t *dim,
    shoal_status *st)
{
	const char *what = half ? "halfvec" : "vector";
	size_t esz = half ? 2 : 4;

	if (n < 4)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "%s value of %zu bytes is too short", what, n);
	size_t d = be16(p);
	if (be16(p + 2) != 0)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "%s value has a non-zero unused field", what);
	if (d == 0)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT, "%s value has no components",
		    what);
	if (d > cap)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "%s has %zu dimensions, more than %zu", what, d, cap);
	if (n != 4 + d * esz)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "%s value of %zu bytes does not hold %zu components", what, n, d);
	for (size_t i = 0; i < d; i++)
		out[i] = half ? pgcopy_half_to_float(be16(p + 4 + 2 * i)) : be_float(p + 4 + 4 * i);
	*dim = (uint32_t)d;
	return SHOAL_OK;
}

/* One-dimensional float4[] / float8[] binary. */
static shoal_code
float_array_bin(bool dbl, const uint8_t *p, size_t n, float *out, size_t cap, uint32_t *dim,
    shoal_status *st)
{
	const char *what = dbl ? "double precision[]" : "real[]";
	uint32_t want = dbl ? PGCOPY_OID_FLOAT8 : PGCOPY_OID_FLOAT4;
	size_t esz = dbl ? 8 : 4;

	if (n < 12)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "%s value of %zu bytes is too short", what, n);
	int32_t ndim = (int32_t)be32(p);
	uint32_t elem = be32(p + 8);
	if (ndim == 0)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT, "%s value is empty", what);
	if (ndim != 1)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "%s value has %d dimensions; a vector needs exactly one", what, (int)ndim);
	if (elem != want)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "%s value has element type oid %u, expected %u", what, (unsigned)elem,
		    (unsigned)want);
	if (n < 20)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "%s value of %zu bytes is too short", what, n);
	int32_t cnt = (int32_t)be32(p + 12);
	if (cnt <= 0)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT, "%s value is empty", what);
	if ((size_t)cnt > cap)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "%s has %zu elements, more than %zu", what, (size_t)cnt, cap);
	size_t off = 20;
	for (int32_t i = 0; i < cnt; i++) {
		if (n - off < 4)
			return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
			    "%s value truncated at element %d", what, (int)i);
		int32_t len = (int32_t)be32(p + off);
		off += 4;
		if (len == -1)
			return shoal_status_set(st, SHOAL_INVALID_ARGUMENT, "%s element %d is NULL",
			    what, (int)i);
		if ((size_t)len != esz || n - off < esz)
			return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
			    "%s element %d has a bad length (%d bytes)", what, (int)i, (int)len);
		out[i] = dbl ? (float)be_double(p + off) : be_float(p + off);
		off += esz;
	}
	if (off != n)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "%s value has %zu trailing bytes", what, n - off);
	*dim = (uint32_t)cnt;
	return SHOAL_OK;
}

/* '[1,2,3]' (pgvector) or '{1,2,3}' (array), spaces allowed around
 * elements. */
static shoal_code
vector_text(const uint8_t *p, size_t n, float *out, size_t cap, uint32_t *dim, shoal_status *st)
{
	size_t i = 0, d = 0;

	while (i < n && is_space(p[i]))
		i++;
	if (i == n)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT, "empty vector text");
	uint8_t open = p[i], close;
	if (open == '[')
		close = ']';
	else if (open == '{')
		close = '}';
	else
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "vector text must start with '[' or '{', found '%c'",
		    p[i] >= 0x20 && p[i] < 0x7f ? p[i] : '?');
	i++;
	for (;;) {
		while (i < n && is_space(p[i]))
			i++;
		if (i < n && p[i] == close && d == 0) {
			return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
			    "vector has no components");
		}
		if (i < n && (p[i] == '{' || p[i] == '['))
			return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
			    "vector text is multi-dimensional; a vector needs exactly one "
			    "dimension");
		size_t s = i;
		while (i < n && p[i] != ',' && p[i] != close)
			i++;
		if (i == n)
			return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
			    "vector text is not closed with '%c'", close);
		size_t e = i;
		while (e > s && is_space(p[e - 1]))
			e--;
		if (e - s == 4 && (p[s] == 'N' || p[s] == 'n') &&
		    strncasecmp((const char *)p + s, "NULL", 4) == 0)
			return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
			    "vector component %zu is NULL", d);
		if (d == cap)
			return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
			    "vector has more than %zu dimensions", cap);
		float f;
		if (!parse_float(p + s, e - s, &f))
			return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
			    "vector component %zu is not a number: '%.*s'", d,
			    (int)(e - s > 40 ? 40 : e - s), (const char *)p + s);
		out[d++] = f;
		if (p[i] == close) {
			i++;
			break;
		}
		i++; /* ',' */
	}
	while (i < n && is_space(p[i]))
		i++;
	if (i != n)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "vector text has trailing characters after '%c'", close);
	*dim = (uint32_t)d;
	return SHOAL_OK;
}

shoal_code
pgcopy_vector(pgcopy_type t, bool binary, const uint8_t *p, size_t n, float *out, size_t cap,
    uint32_t *dim, shoal_status *st)
{
	*dim = 0;
	if (!binary)
		return vector_text(p, n, out, cap, dim, st);
	switch (t) {
	case PGCOPY_VECTOR: return pgvector_bin(false, p, n, out, cap, dim, st);
	case PGCOPY_HALFVEC: return pgvector_bin(true, p, n, out, cap, dim, st);
	case PGCOPY_FLOAT4_ARRAY: return float_array_bin(false, p, n, out, cap, dim, st);
	case PGCOPY_FLOAT8_ARRAY: return float_array_bin(true, p, n, out, cap, dim, st);
	case PGCOPY_TEXT: return vector_text(p, n, out, cap, dim, st);
	default:
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "a %s value is not a vector (expected vector, halfvec, real[], double "
		    "precision[] or text)",
		    pgcopy_type_name(t));
	}
}

shoal_code
pgcopy_vector_check(const float *v, uint32_t dim, shoal_status *st)
{
	for (uint32_t i = 0; i < dim; i++) {
		if (isnan(v[i]))
			return shoal_status_set(st, SHOAL_INVALID_ARGUMENT, "component %u is NaN",
			    i);
		if (isinf(v[i]))
			return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
			    "component %u is infinite", i);
	}
	return SHOAL_OK;
}

/* ===================================================================
 * Scalars
 * =================================================================== */

shoal_code
pgcopy_int(pgcopy_type t, bool binary, const uint8_t *p, size_t n, int64_t *out, shoal_status *st)
{
	if (!binary || t == PGCOPY_TEXT || t == PGCOPY_NUMERIC || t == PGCOPY_UNKNOWN) {
		if (!parse_int64(p, n, out))
			return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
			    "'%.*s' is not an integer in the int64 range", (int)(n > 40 ? 40 : n),
			    (const char *)p);
		return SHOAL_OK;
	}
	size_t want = t == PGCOPY_INT2 ? 2 : t == PGCOPY_INT4 ? 4 : t == PGCOPY_INT8 ? 8 : 0;
	if (want == 0)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT, "a %s value is not an integer",
		    pgcopy_type_name(t));
	if (n != want)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "%s value of %zu bytes, expected %zu", pgcopy_type_name(t), n, want);
	*out = want == 2 ? (int16_t)be16(p) : want == 4 ? (int32_t)be32(p) : (int64_t)be64(p);
	return SHOAL_OK;
}

shoal_code
pgcopy_float(pgcopy_type t, bool binary, const uint8_t *p, size_t n, double *out, shoal_status *st)
{
	if (binary && t == PGCOPY_FLOAT4) {
		if (n != 4)
			return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
			    "real value of %zu bytes, expected 4", n);
		*out = be_float(p);
		return SHOAL_OK;
	}
	if (binary && t == PGCOPY_FLOAT8) {
		if (n != 8)
			return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
			    "double precision value of %zu bytes, expected 8", n);
		*out = be_double(p);
		return SHOAL_OK;
	}
	if (binary && t != PGCOPY_TEXT && t != PGCOPY_NUMERIC && t != PGCOPY_UNKNOWN)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT, "a %s value is not a number",
		    pgcopy_type_name(t));
	if (!parse_double(p, n, out))
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT, "'%.*s' is not a number",
		    (int)(n > 40 ? 40 : n), (const char *)p);
	return SHOAL_OK;
}

shoal_code
pgcopy_bool(bool binary, const uint8_t *p, size_t n, bool *out, shoal_status *st)
{
	if (binary) {
		if (n != 1 || p[0] > 1)
			return shoal_status_set(st, SHOAL_INVALID_ARGUMENT, "bad boolean value");
		*out = p[0] == 1;
		return SHOAL_OK;
	}
	if (n == 1 && (p[0] == 't' || p[0] == 'f')) {
		*out = p[0] == 't';
		return SHOAL_OK;
	}
	return shoal_status_set(st, SHOAL_INVALID_ARGUMENT, "'%.*s' is not a boolean (t or f)",
	    (int)(n > 40 ? 40 : n), (const char *)p);
}

shoal_code
pgcopy_uuid(bool binary, const uint8_t *p, size_t n, char out[37], shoal_status *st)
{
	static const char hex[] = "0123456789abcdef";
	uint8_t b[16];

	if (binary) {
		if (n != 16)
			return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
			    "uuid value of %zu bytes, expected 16", n);
		memcpy(b, p, 16);
	} else {
		size_t k = 0;
		for (size_t i = 0; i < n; i++) {
			if (p[i] == '-' && k > 0 && k < 32 && k % 2 == 0)
				continue;
			int v = hexval(p[i]);
			if (v < 0 || k == 32)
				return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
				    "'%.*s' is not a uuid", (int)(n > 40 ? 40 : n),
				    (const char *)p);
			if (k % 2 == 0)
				b[k / 2] = (uint8_t)(v << 4);
			else
				b[k / 2] |= (uint8_t)v;
			k++;
		}
		if (k != 32)
			return shoal_status_set(st, SHOAL_INVALID_ARGUMENT, "'%.*s' is not a uuid",
			    (int)(n > 40 ? 40 : n), (const char *)p);
	}
	size_t o = 0;
	for (size_t i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex[b[i] >> 4];
		out[o++] = hex[b[i] & 15];
	}
	out[o] = '\0';
	return SHOAL_OK;
}

/* ===================================================================
 * text[]
 * =================================================================== */

static shoal_code
text_array_bin(const uint8_t *p, size_t n, pgcopy_str_fn fn, void *arg, shoal_status *st)
{
	if (n < 12)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "%s value of %zu bytes is too short", "text[]", n);
	int32_t ndim = (int32_t)be32(p);
	if (ndim == 0)
		return SHOAL_OK; /* '{}' */
	if (ndim < 0 || ndim > 6)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "text[] value has %d dimensions", (int)ndim);
	if (n < 12 + 8 * (size_t)ndim)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "%s value of %zu bytes is too short", "text[]", n);
	uint64_t total = 1;
	for (int32_t d = 0; d < ndim; d++) {
		int32_t sz = (int32_t)be32(p + 12 + 8 * d);
		if (sz < 0)
			return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
			    "text[] has a negative size");
		total *= (uint64_t)sz;
		if (total > n)
			return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
			    "text[] claims more elements than its bytes hold");
	}
	size_t off = 12 + 8 * (size_t)ndim;
	shoal_code rv;
	for (uint64_t i = 0; i < total; i++) {
		if (n - off < 4)
			return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
			    "text[] value truncated");
		int32_t len = (int32_t)be32(p + off);
		off += 4;
		if (len == -1)
			continue;
		if (len < 0 || (size_t)len > n - off)
			return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
			    "text[] element has a bad length");
		if ((rv = fn(arg, (const char *)p + off, (size_t)len, st)) != SHOAL_OK)
			return rv;
		off += (size_t)len;
	}
	if (off != n)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "text[] value has trailing bytes");
	return SHOAL_OK;
}

/* Text form: optional "[l:u]..." dimension decoration and '=', then
 * nested braces; elements are unquoted (NULL = SQL NULL) or "quoted" with
 * backslash escapes. */
static shoal_code
text_array_text(const uint8_t *p, size_t n, char *scratch, pgcopy_str_fn fn, void *arg,
    shoal_status *st)
{
	size_t i = 0;
	int depth = 0;
	shoal_code rv;

	while (i < n && is_space(p[i]))
		i++;
	if (i < n && p[i] == '[') {
		while (i < n && p[i] != '=')
			i++;
		if (i == n)
			return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
			    "text[] dimension decoration without '='");
		i++;
	}
	while (i < n && is_space(p[i]))
		i++;
	if (i == n || p[i] != '{')
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "text[] text must start with '{'");
	while (i < n) {
		uint8_t c = p[i];
		if (c == '{') {
			depth++;
			i++;
			continue;
		}
		if (c == '}') {
			if (--depth == 0) {
				i++;
				break;
			}
			i++;
			continue;
		}
		if (c == ',' || is_space(c)) {
			i++;
			continue;
		}
		if (depth == 0)
			break;
		size_t o = 0;
		bool quoted = c == '"';
		if (quoted) {
			i++;
			while (i < n && p[i] != '"') {
				if (p[i] == '\\' && i + 1 < n)
					i++;
				scratch[o++] = (char)p[i++];
			}
			if (i == n)
				return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
				    "text[] has an unterminated quoted element");
			i++;
		} else {
			while (i < n && p[i] != ',' && p[i] != '}' && p[i] != '{') {
				if (p[i] == '\\' && i + 1 < n)
					i++;
				scratch[o++] = (char)p[i++];
			}
			while (o > 0 && is_space((uint8_t)scratch[o - 1]))
				o--;
			if (o == 4 && strncasecmp(scratch, "NULL", 4) == 0)
				continue;
		}
		if ((rv = fn(arg, scratch, o, st)) != SHOAL_OK)
			return rv;
	}
	if (depth != 0)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "text[] text has unbalanced braces");
	while (i < n && is_space(p[i]))
		i++;
	if (i != n)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "text[] text has trailing characters");
	return SHOAL_OK;
}

shoal_code
pgcopy_text_array(bool binary, const uint8_t *p, size_t n, char *scratch, pgcopy_str_fn fn,
    void *arg, shoal_status *st)
{
	return binary ? text_array_bin(p, n, fn, arg, st)
	              : text_array_text(p, n, scratch, fn, arg, st);
}

/* ===================================================================
 * JSON (RFC 8259), top level only
 * =================================================================== */

typedef struct jscan {
	const uint8_t *p;
	size_t n, i;
	char *scratch; /* unescaped strings go here, appended */
	size_t so; /* scratch used */
} jscan;

static void
jws(jscan *j)
{
	while (j->i < j->n &&
	    (j->p[j->i] == ' ' || j->p[j->i] == '\t' || j->p[j->i] == '\n' || j->p[j->i] == '\r'))
		j->i++;
}

static size_t
utf8_put(char *o, uint32_t cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xc0 | cp >> 6);
		o[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xe0 | cp >> 12);
		o[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | cp >> 18);
	o[1] = (char)(0x80 | (cp >> 12 & 0x3f));
	o[2] = (char)(0x80 | (cp >> 6 & 0x3f));
	o[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

static bool
hex4(jscan *j, uint32_t *out)
{
	uint32_t v = 0;
	if (j->n - j->i < 4)
		return false;
	for (int k = 0; k < 4; k++) {
		int h = hexval(j->p[j->i + k]);
		if (h < 0)
			return false;
		v = v << 4 | (uint32_t)h;
	}
	j->i += 4;
	*out = v;
	return true;
}

/* A string at j->i (the opening quote), unescaped into scratch when
 * `keep` (else only validated).  The scratch never overflows: an escape
 * sequence is never shorter than what it decodes to. */
static shoal_code
jstring(jscan *j, bool keep, pgcopy_slice *out, shoal_status *st)
{
	size_t start = j->so;
	j->i++; /* '"' */
	while (j->i < j->n) {
		uint8_t c = j->p[j->i++];
		if (c == '"') {
			if (keep) {
				out->p = j->scratch + start;
				out->n = j->so - start;
			} else {
				j->so = start;
			}
			return SHOAL_OK;
		}
		if (c < 0x20)
			return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
			    "JSON string has a raw control character");
		if (c != '\\') {
			if (keep)
				j->scratch[j->so++] = (char)c;
			continue;
		}
		if (j->i >= j->n)
			break;
		c = j->p[j->i++];
		char ch;
		switch (c) {
		case '"': ch = '"'; break;
		case '\\': ch = '\\'; break;
		case '/': ch = '/'; break;
		case 'b': ch = '\b'; break;
		case 'f': ch = '\f'; break;
		case 'n': ch = '\n'; break;
		case 'r': ch = '\r'; break;
		case 't': ch = '\t'; break;
		case 'u': {
			uint32_t cp, lo;
			if (!hex4(j, &cp))
				return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
				    "JSON string has a bad \\u escape");
			if (cp >= 0xd800 && cp < 0xdc00 && j->n - j->i >= 6 && j->p[j->i] == '\\' &&
			    j->p[j->i + 1] == 'u') {
				size_t save = j->i;
				j->i += 2;
				if (hex4(j, &lo) && lo >= 0xdc00 && lo < 0xe000)
					cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				else
					j->i = save;
			}
			if (cp >= 0xd800 && cp < 0xe000)
				cp = 0xfffd; /* lone surrogate: replacement character */
			if (cp == 0)
				return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
				    "JSON string contains \\u0000");
			if (keep)
				j->so += utf8_put(j->scratch + j->so, cp);
			continue;
		}
		default:
			return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
			    "JSON string has a bad escape '\\%c'", c >= 0x20 && c < 0x7f ? c : '?');
		}
		if (keep)
			j->scratch[j->so++] = ch;
	}
	return shoal_status_set(st, SHOAL_INVALID_ARGUMENT, "JSON string is not terminated");
}

/* A number at j->i: INT when integral and in range, else DOUBLE. */
static shoal_code
jnumber(jscan *j, pgcopy_jvalue *v, shoal_status *st)
{
	size_t s = j->i;
	bool integral = true;
	if (j->i < j->n && j->p[j->i] == '-')
		j->i++;
	size_t digits = j->i;
	while (j->i < j->n && j->p[j->i] >= '0' && j->p[j->i] <= '9')
		j->i++;
	if (j->i == digits)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT, "bad JSON number");
	if (j->i - digits > 1 && j->p[digits] == '0')
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "bad JSON number (leading zero)");
	if (j->i < j->n && j->p[j->i] == '.') {
		integral = false;
		size_t f = ++j->i;
		while (j->i < j->n && j->p[j->i] >= '0' && j->p[j->i] <= '9')
			j->i++;
		if (j->i == f)
			return shoal_status_set(st, SHOAL_INVALID_ARGUMENT, "bad JSON number");
	}
	if (j->i < j->n && (j->p[j->i] == 'e' || j->p[j->i] == 'E')) {
		integral = false;
		j->i++;
		if (j->i < j->n && (j->p[j->i] == '+' || j->p[j->i] == '-'))
			j->i++;
		size_t e = j->i;
		while (j->i < j->n && j->p[j->i] >= '0' && j->p[j->i] <= '9')
			j->i++;
		if (j->i == e)
			return shoal_status_set(st, SHOAL_INVALID_ARGUMENT, "bad JSON number");
	}
	if (integral && parse_int64(j->p + s, j->i - s, &v->i)) {
		v->type = PGCOPY_J_INT;
		return SHOAL_OK;
	}
	if (!parse_double(j->p + s, j->i - s, &v->d))
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "JSON number of %zu characters is too long", j->i - s);
	v->type = PGCOPY_J_DOUBLE;
	return SHOAL_OK;
}

static bool
jlit(jscan *j, const char *lit)
{
	size_t l = strlen(lit);
	if (j->n - j->i < l || memcmp(j->p + j->i, lit, l) != 0)
		return false;
	j->i += l;
	return true;
}

/* Skips any value at j->i without recursion (validating its syntax
 * loosely: strings are checked, brackets balanced). */
static shoal_code
jskip(jscan *j, shoal_status *st)
{
	size_t depth = 0;
	pgcopy_slice dummy;
	pgcopy_jvalue v;
	shoal_code rv;

	do {
		jws(j);
		if (j->i >= j->n)
			return shoal_status_set(st, SHOAL_INVALID_ARGUMENT, "JSON value truncated");
		uint8_t c = j->p[j->i];
		if (c == '{' || c == '[') {
			depth++;
			j->i++;
		} else if (c == '}' || c == ']') {
			if (depth == 0)
				return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
				    "unbalanced JSON");
			depth--;
			j->i++;
		} else if (c == ',' || c == ':') {
			if (depth == 0)
				return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
				    "unexpected '%c' in JSON", c);
			j->i++;
		} else if (c == '"') {
			if ((rv = jstring(j, false, &dummy, st)) != SHOAL_OK)
				return rv;
		} else if (c == '-' || (c >= '0' && c <= '9')) {
			if ((rv = jnumber(j, &v, st)) != SHOAL_OK)
				return rv;
		} else if (!jlit(j, "true") && !jlit(j, "false") && !jlit(j, "null")) {
			return shoal_status_set(st, SHOAL_INVALID_ARGUMENT, "bad JSON value");
		}
	} while (depth > 0);
	return SHOAL_OK;
}

/* Parses a value at j->i.  *usable says whether it is a scalar or an
 * array of strings (filled into v); null and other values are skipped. */
static shoal_code
jvalue(jscan *j, pgcopy_slice *slices, pgcopy_jvalue *v, bool *usable, shoal_status *st)
{
	shoal_code rv;

	*usable = false;
	jws(j);
	if (j->i >= j->n)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT, "JSON value truncated");
	uint8_t c = j->p[j->i];
	memset(v, 0, sizeof *v);
	if (c == '"') {
		if ((rv = jstring(j, true, &v->s, st)) != SHOAL_OK)
			return rv;
		v->type = PGCOPY_J_STRING;
		*usable = true;
	} else if (c == '-' || (c >= '0' && c <= '9')) {
		if ((rv = jnumber(j, v, st)) != SHOAL_OK)
			return rv;
		*usable = true;
	} else if (jlit(j, "true") || jlit(j, "false")) {
		v->type = PGCOPY_J_BOOL;
		v->b = j->p[j->i - 1] == 'e' && j->p[j->i - 2] == 'u';
		*usable = true;
	} else if (jlit(j, "null")) {
		/* nothing */
	} else if (c == '[') {
		/* an array of strings becomes tags; anything else is skipped */
		size_t save_i = j->i, save_so = j->so, nt = 0;
		bool all_strings = true;
		j->i++;
		jws(j);
		if (j->i < j->n && j->p[j->i] == ']') {
			j->i++;
		} else {
			for (;;) {
				jws(j);
				if (j->i >= j->n || j->p[j->i] != '"') {
					all_strings = false;
					break;
				}
				if ((rv = jstring(j, true, &slices[nt], st)) != SHOAL_OK)
					return rv;
				nt++;
				jws(j);
				if (j->i < j->n && j->p[j->i] == ',') {
					j->i++;
					continue;
				}
				if (j->i < j->n && j->p[j->i] == ']') {
					j->i++;
					break;
				}
				return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
				    "bad JSON array");
			}
		}
		if (all_strings) {
			v->type = PGCOPY_J_TAGS;
			v->tags = slices;
			v->n_tags = nt;
			*usable = true;
		} else {
			j->i = save_i;
			j->so = save_so;
			if ((rv = jskip(j, st)) != SHOAL_OK)
				return rv;
		}
	} else if (c == '{') {
		if ((rv = jskip(j, st)) != SHOAL_OK)
			return rv;
	} else {
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT, "bad JSON value");
	}
	return SHOAL_OK;
}

shoal_code
pgcopy_json_fields(pgcopy_type t, bool binary, const uint8_t *p, size_t n, char *scratch,
    pgcopy_slice *slices, pgcopy_json_fn fn, void *arg, shoal_status *st)
{
	jscan j = {.p = p, .n = n, .scratch = scratch};
	pgcopy_slice none = {NULL, 0};
	pgcopy_jvalue v;
	bool usable;
	shoal_code rv;

	if (binary && t == PGCOPY_JSONB) {
		if (n < 1 || p[0] != 1)
			return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
			    "jsonb value has an unknown format version");
		j.i = 1;
	}
	jws(&j);
	if (j.i < j.n && j.p[j.i] == '{') {
		j.i++;
		jws(&j);
		if (j.i < j.n && j.p[j.i] == '}') {
			j.i++;
		} else {
			for (;;) {
				pgcopy_slice key;
				jws(&j);
				if (j.i >= j.n || j.p[j.i] != '"')
					return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
					    "JSON object key expected");
				/* every key and value is appended to the scratch, so
				 * earlier slices stay valid for the callbacks */
				if ((rv = jstring(&j, true, &key, st)) != SHOAL_OK)
					return rv;
				jws(&j);
				if (j.i >= j.n || j.p[j.i] != ':')
					return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
					    "':' expected after a JSON object key");
				j.i++;
				if ((rv = jvalue(&j, slices, &v, &usable, st)) != SHOAL_OK)
					return rv;
				if (usable && (rv = fn(arg, key, &v, st)) != SHOAL_OK)
					return rv;
				jws(&j);
				if (j.i < j.n && j.p[j.i] == ',') {
					j.i++;
					continue;
				}
				if (j.i < j.n && j.p[j.i] == '}') {
					j.i++;
					break;
				}
				return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
				    "',' or '}' expected in a JSON object");
			}
		}
	} else {
		if ((rv = jvalue(&j, slices, &v, &usable, st)) != SHOAL_OK)
			return rv;
		if (usable && (rv = fn(arg, none, &v, st)) != SHOAL_OK)
			return rv;
	}
	jws(&j);
	if (j.i != j.n)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "JSON value has trailing characters");
	return SHOAL_OK;
}

/* ===================================================================
 * SHA-256 (FIPS 180-4) and the id hash
 * =================================================================== */

static const uint32_t K256[64] = {0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b,
    0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74,
    0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
    0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3,
    0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354,
    0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
    0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3,
    0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa,
    0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

#define ROR(x, n) ((x) >> (n) | (x) << (32 - (n)))

static void
sha256_block(uint32_t h[8], const uint8_t *b)
{
	uint32_t w[64], a[8];
	for (int i = 0; i < 16; i++)
		w[i] = be32(b + 4 * i);
	for (int i = 16; i < 64; i++) {
		uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
		uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
		w[i] = w[i - 16] + s0 + w[i - 7] + s1;
	}
	memcpy(a, h, sizeof a);
	for (int i = 0; i < 64; i++) {
		uint32_t S1 = ROR(a[4], 6) ^ ROR(a[4], 11) ^ ROR(a[4], 25);
		uint32_t ch = (a[4] & a[5]) ^ (~a[4] & a[6]);
		uint32_t t1 = a[7] + S1 + ch + K256[i] + w[i];
		uint32_t S0 = ROR(a[0], 2) ^ ROR(a[0], 13) ^ ROR(a[0], 22);
		uint32_t maj = (a[0] & a[1]) ^ (a[0] & a[2]) ^ (a[1] & a[2]);
		uint32_t t2 = S0 + maj;
		memmove(a + 1, a, 7 * sizeof a[0]);
		a[4] += t1;
		a[0] = t1 + t2;
	}
	for (int i = 0; i < 8; i++)
		h[i] += a[i];
}

void
pgcopy_sha256(const void *data, size_t n, uint8_t out[32])
{
	uint32_t h[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c,
	    0x1f83d9ab, 0x5be0cd19};
	const uint8_t *p = data;
	uint8_t tail[128];
	size_t full = n / 64 * 64, rest = n - full;

	for (size_t i = 0; i < full; i += 64)
		sha256_block(h, p + i);
	memset(tail, 0, sizeof tail);
	if (rest)
		memcpy(tail, p + full, rest);
	tail[rest] = 0x80;
	size_t tl = rest + 9 <= 64 ? 64 : 128;
	uint64_t bits = (uint64_t)n * 8;
	for (int i = 0; i < 8; i++)
		tail[tl - 1 - i] = (uint8_t)(bits >> (8 * i));
	sha256_block(h, tail);
	if (tl == 128)
		sha256_block(h, tail + 64);
	for (int i = 0; i < 8; i++) {
		out[4 * i] = (uint8_t)(h[i] >> 24);
		out[4 * i + 1] = (uint8_t)(h[i] >> 16);
		out[4 * i + 2] = (uint8_t)(h[i] >> 8);
		out[4 * i + 3] = (uint8_t)h[i];
	}
}

uint64_t
pgcopy_id_hash(const void *p, size_t n)
{
	uint8_t d[32];
	pgcopy_sha256(p, n, d);
	return be64(d);
}
