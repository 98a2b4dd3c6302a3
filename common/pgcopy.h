/* pgcopy.h -- decoders for PostgreSQL COPY output: the row framing of the
 * binary and text formats, and the values shoal imports (vectors, ids,
 * payload).
 *
 * Every function here is pure: it reads a caller's byte buffer of explicit
 * length (never NUL-terminated input, never past len), writes only into
 * caller-provided outputs, allocates nothing, keeps no state, and reports
 * malformed input as INVALID_ARGUMENT with a message that says what is
 * wrong.  That makes them safe on hostile bytes and directly usable as
 * fuzz targets (tests/fuzz/fuzz_pgcopy.c).
 *
 * Formats (PostgreSQL 15 docs, "COPY", "File Formats"; pgvector src/):
 *  binary COPY   11-byte signature "PGCOPY\n\377\r\n\0", int32 flags,
 *                int32 extension length + extension; then per tuple an
 *                int16 field count (-1 = trailer) and per field an int32
 *                length (-1 = NULL) and that many bytes.  Big-endian.
 *  text COPY     one line per row, fields separated by TAB, \N = NULL,
 *                backslash escapes (\t \n \r \b \f \v \\ \ooo \xHH).
 *  vector        pgvector binary: uint16 dim, uint16 unused (0), dim x
 *                float4; text '[1,2,3]'.
 *  halfvec       pgvector binary: uint16 dim, uint16 unused (0), dim x
 *                float2 (IEEE 754 half); text '[1,2,3]'.
 *  real[] / double precision[]
 *                array binary: int32 ndim, int32 has-nulls, int32 element
 *                type oid, per dimension int32 size + int32 lower bound,
 *                then per element int32 length + value; text '{1,2,3}'.
 *  uuid          16 bytes; text canonical 8-4-4-4-12 hex.
 *  jsonb         binary: u8 version (1) + JSON text; json/text form: JSON.
 * Values of other types come as text (the importer casts them with ::text).
 */
#ifndef SHOAL_PGCOPY_H
#define SHOAL_PGCOPY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h"

/* Largest vector dimension accepted (pgvector's vector and halfvec limit,
 * and shoal's). */
#define PGCOPY_MAX_DIM 16000

/* Well-known type oids (pg_type.dat); pgvector's types have no fixed oid
 * and are recognised by name (pgcopy_type_from_name). */
enum {
	PGCOPY_OID_BOOL = 16,
	PGCOPY_OID_BYTEA = 17,
	PGCOPY_OID_NAME = 19,
	PGCOPY_OID_INT8 = 20,
	PGCOPY_OID_INT2 = 21,
	PGCOPY_OID_INT4 = 23,
	PGCOPY_OID_TEXT = 25,
	PGCOPY_OID_JSON = 114,
	PGCOPY_OID_FLOAT4 = 700,
	PGCOPY_OID_FLOAT8 = 701,
	PGCOPY_OID_BPCHAR_ARRAY = 1014,
	PGCOPY_OID_TEXT_ARRAY = 1009,
	PGCOPY_OID_VARCHAR_ARRAY = 1015,
	PGCOPY_OID_FLOAT4_ARRAY = 1021,
	PGCOPY_OID_FLOAT8_ARRAY = 1022,
	PGCOPY_OID_BPCHAR = 1042,
	PGCOPY_OID_VARCHAR = 1043,
	PGCOPY_OID_NUMERIC = 1700,
	PGCOPY_OID_UUID = 2950,
	PGCOPY_OID_JSONB = 3802,
};

/* What a column holds, as far as the decoders care. */
typedef enum pgcopy_type {
	PGCOPY_UNKNOWN = 0, /* anything else: import as its text form */
	PGCOPY_BOOL,
	PGCOPY_INT2,
	PGCOPY_INT4,
	PGCOPY_INT8,
	PGCOPY_FLOAT4,
	PGCOPY_FLOAT8,
	PGCOPY_NUMERIC, /* decoded from text only */
	PGCOPY_TEXT, /* text, varchar, bpchar, name */
	PGCOPY_UUID,
	PGCOPY_JSON,
	PGCOPY_JSONB,
	PGCOPY_TEXT_ARRAY, /* text[], varchar[], bpchar[] */
	PGCOPY_FLOAT4_ARRAY,
	PGCOPY_FLOAT8_ARRAY,
	PGCOPY_VECTOR, /* pgvector vector */
	PGCOPY_HALFVEC, /* pgvector halfvec */
} pgcopy_type;

/* The type of a built-in oid; PGCOPY_UNKNOWN for others. */
pgcopy_type pgcopy_type_from_oid(uint32_t oid);
/* The type for a pg_type.typname ("vector", "halfvec", or a built-in's
 * name); PGCOPY_UNKNOWN for others. */
pgcopy_type pgcopy_type_from_name(const char *typname);
/* Short name for messages ("vector", "real[]", ...). Static storage. */
const char *pgcopy_type_name(pgcopy_type t);
/* Whether the binary decoders below read type t (NUMERIC and UNKNOWN are
 * read from their text form). */
bool pgcopy_type_has_binary(pgcopy_type t);

/* One field of a row: len < 0 means SQL NULL (p is then NULL). */
typedef struct pgcopy_field {
	const uint8_t *p;
	int32_t len;
} pgcopy_field;

/* ===================================================================
 * Row framing
 * =================================================================== */

/* Binary COPY header at p[0..n): on OK *consumed is its size (signature,
 * flags, extension).  INVALID_ARGUMENT: wrong signature, a truncated
 * header, OIDs included (flag bit 16) or unknown critical flags. */
shoal_code pgcopy_bin_header(const uint8_t *p, size_t n, size_t *consumed, shoal_status *st);

/* One binary tuple at p[0..n).  On OK either *trailer is true (the int16
 * -1 end marker; *consumed = 2) or fields[0..*nfields) point into p and
 * *consumed is the tuple's size.  More than cap fields, a negative length
 * other than -1 or a field past n: INVALID_ARGUMENT. */
shoal_code pgcopy_bin_tuple(const uint8_t *p, size_t n, pgcopy_field *fields, size_t cap,
    size_t *nfields, bool *trailer, size_t *consumed, shoal_status *st);

/* One text-format row p[0..n) (a trailing "\n" or "\r\n" is ignored):
 * splits it at TABs and removes the backslash escapes into out (which must
 * have room for n bytes; fields point into it).  A field that is exactly
 * \N is NULL.  More than cap fields: INVALID_ARGUMENT. */
shoal_code pgcopy_text_row(const uint8_t *p, size_t n, uint8_t *out, pgcopy_field *fields,
    size_t cap, size_t *nfields, shoal_status *st);

/* ===================================================================
 * Values.  `binary` says which form p[0..n) is in: the type's binary
 * (send) form, or its text (output) form.
 * =================================================================== */

/* A vector of type t (VECTOR, HALFVEC, FLOAT4_ARRAY, FLOAT8_ARRAY; or, in
 * text form, any type whose text is '[1,2,3]' or '{1,2,3}') into out[0..cap).
 * *dim is the number of components.  Non-finite components are decoded as
 * they are (check them with pgcopy_vector_check).  Errors: empty vector, a
 * NULL element, a multi-dimensional array, more than cap components, bad
 * numbers, trailing garbage. */
shoal_code pgcopy_vector(pgcopy_type t, bool binary, const uint8_t *p, size_t n, float *out,
    size_t cap, uint32_t *dim, shoal_status *st);

/* INVALID_ARGUMENT naming the first NaN or infinite component. */
shoal_code pgcopy_vector_check(const float *v, uint32_t dim, shoal_status *st);

/* IEEE 754 binary16 -> float (exact; NaN and infinities preserved). */
float pgcopy_half_to_float(uint16_t h);

/* int2/int4/int8 (binary), or decimal text with an optional '-'. */
shoal_code pgcopy_int(pgcopy_type t, bool binary, const uint8_t *p, size_t n, int64_t *out,
    shoal_status *st);

/* float4/float8 (binary), or text accepted by strtod (numeric, NaN,
 * Infinity, -Infinity). */
shoal_code pgcopy_float(pgcopy_type t, bool binary, const uint8_t *p, size_t n, double *out,
    shoal_status *st);

/* bool: one byte 0/1 (binary) or "t"/"f" (text). */
shoal_code pgcopy_bool(bool binary, const uint8_t *p, size_t n, bool *out, shoal_status *st);

/* uuid: 16 bytes (binary) or 32 hex digits with optional hyphens (text)
 * into out as canonical lower-case 8-4-4-4-12 text plus NUL. */
shoal_code pgcopy_uuid(bool binary, const uint8_t *p, size_t n, char out[37], shoal_status *st);

/* Called once per string: s[0..n) (not NUL-terminated; valid during the
 * call only).  A non-OK return stops the decoder and is returned. */
typedef shoal_code (*pgcopy_str_fn)(void *arg, const char *s, size_t n, shoal_status *st);

/* Elements of a text[] (binary or text form, any number of dimensions,
 * flattened in order); NULL elements are left out.  scratch must have
 * room for n bytes (text form: unquoted elements are written there). */
shoal_code pgcopy_text_array(bool binary, const uint8_t *p, size_t n, char *scratch,
    pgcopy_str_fn fn, void *arg, shoal_status *st);

/* A JSON value handed to pgcopy_json_fn. */
typedef enum pgcopy_jtype {
	PGCOPY_J_STRING = 1,
	PGCOPY_J_INT, /* an integral number that fits int64 */
	PGCOPY_J_DOUBLE, /* any other number */
	PGCOPY_J_BOOL,
	PGCOPY_J_TAGS, /* an array whose elements are all strings (or empty) */
} pgcopy_jtype;

typedef struct pgcopy_slice {
	const char *p;
	size_t n;
} pgcopy_slice;

typedef struct pgcopy_jvalue {
	pgcopy_jtype type;
	pgcopy_slice s; /* STRING (unescaped UTF-8) */
	int64_t i; /* INT */
	double d; /* DOUBLE */
	bool b; /* BOOL */
	const pgcopy_slice *tags; /* TAGS: n_tags strings */
	size_t n_tags;
} pgcopy_jvalue;

/* Called per usable JSON value: for a top-level object once per key whose
 * value is a scalar or an array of strings (null, nested objects and
 * other arrays are left out); for a top-level scalar or array of strings
 * once with key.p == NULL.  Everything points into scratch/slices or p. */
typedef shoal_code (
    *pgcopy_json_fn)(void *arg, pgcopy_slice key, const pgcopy_jvalue *v, shoal_status *st);

/* Top-level fields of a json or jsonb value p[0..n) (binary jsonb starts
 * with its version byte 1).  scratch must have room for n bytes and
 * slices for n / 2 + 1 entries.  Malformed JSON: INVALID_ARGUMENT. */
shoal_code pgcopy_json_fields(pgcopy_type t, bool binary, const uint8_t *p, size_t n, char *scratch,
    pgcopy_slice *slices, pgcopy_json_fn fn, void *arg, shoal_status *st);

/* ===================================================================
 * Ids
 * =================================================================== */

/* The point id of a uuid or text id: the first 8 bytes of SHA-256 of its
 * UTF-8 text (a uuid in canonical lower-case form), read big-endian.
 * In SQL:  ('x' || left(encode(sha256(convert_to(ID::text, 'UTF8')), 'hex'),
 *          16))::bit(64)::bigint   (as a signed bigint).
 * Stable across versions and platforms: docs/import.md. */
uint64_t pgcopy_id_hash(const void *p, size_t n);

/* SHA-256 of p[0..n) into out (FIPS 180-4). */
void pgcopy_sha256(const void *p, size_t n, uint8_t out[32]);

#endif
