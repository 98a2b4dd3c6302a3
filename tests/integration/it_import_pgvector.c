/* it_import_pgvector.c -- `shoal import pg` of pgvector `vector` and
 * `halfvec` columns, end to end, against a real PostgreSQL with the
 * pgvector extension.
 *
 * pgvector is not packaged for every distribution (Debian 12 has none), so
 * this test runs only where `CREATE EXTENSION vector` succeeds on the
 * harness's PostgreSQL; elsewhere it prints why and exits 77, which ctest
 * reports as skipped (never as passed).  The column types that need no
 * extension (real[], double precision[], text '[1,2,3]') are covered by
 * it_import_types.
 *
 * Checked, with a real one-worker cluster and the real CLI:
 *  - vector and halfvec columns in the binary COPY format, in the text
 *    format (--copy-format text), and through --query casting the column
 *    to text (`embedding::text`): every row's vector in shoal equals, bit
 *    for bit, what PostgreSQL holds -- read back by this test in
 *    PostgreSQL's binary send format and decoded here, independently of
 *    the importer's decoders.  For halfvec the expected float is the exact
 *    value of the stored half, and it must also equal PostgreSQL's own
 *    halfvec -> vector cast; edge values (largest half, subnormals,
 *    negative zero, values that round) are included;
 *  - a 1536-dimension table (the common embedding width) both ways;
 *  - a vector column as payload (kept as its text form);
 *  - NULL vectors and wrong dimensions (an unconstrained `vector` column
 *    holds any dimension): counted skips by reason with --on-error skip,
 *    a failure after the rows before it with the default abort;
 *  - NaN and infinity: pgvector refuses them in both types (checked, so the
 *    day it accepts them this test says so), and a NaN that reaches the
 *    importer through --query text is a counted skip.
 */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "it_common.h"
#include "pg_harness.h"
#include "pgcopy.h"
#include "util.h"

#define DIM 16
#define N 500
#define WIDE_DIM 1536
#define WIDE_N 40
#define SEED 11

static harness_cluster cl;
static pg_server pg;
static char out[65536];

/* `shoal import pg --dsn <pg's> ...` (NULL-terminated) into out */
#define import(...) pg_harness_import(&cl, &pg, out, sizeof out, __VA_ARGS__)

/* IEEE 754 binary16 -> float, written from the definition (not from the
 * importer's table): every half is exactly representable as a float. */
static float
half_value(uint16_t h)
{
	int sign = h >> 15, exp = (h >> 10) & 0x1f, frac = h & 0x3ff;
	float v;
	if (exp == 0)
		v = ldexpf((float)frac, -24); /* subnormal (or zero) */
	else if (exp == 31)
		v = frac ? NAN : INFINITY;
	else
		v = ldexpf((float)(frac | 0x400), exp - 25);
	return sign ? -v : v;
}

/* pgvector's send format: int16 dim, int16 unused, dim x (float4|half). */
static uint32_t
decode_pgvector(const unsigned char *p, int len, bool half, float *v, uint32_t cap)
{
	CHECK(len >= 4, "pgvector value of %d bytes", len);
	uint32_t dim = util_get_be16(p);
	CHECK(dim <= cap && (size_t)len == 4 + (size_t)dim * (half ? 2 : 4),
	    "pgvector value: %u dimensions in %d bytes", dim, len);
	for (uint32_t i = 0; i < dim; i++) {
		if (half) {
			v[i] = half_value(util_get_be16(p + 4 + 2 * i));
		} else {
			uint32_t u = util_get_be32(p + 4 + 4 * i);
			memcpy(&v[i], &u, 4);
		}
	}
	return dim;
}

/* Every non-NULL `col` of `table` (an id bigint column `id`) is in
 * tenant/coll with exactly the vector PostgreSQL holds, and coll has
 * exactly those points.  For a halfvec column the halves decoded here must
 * also equal PostgreSQL's own halfvec -> vector cast. */
static void
check_against_pg(PGconn *pc, shoal_client *c, const char *table, const char *col, bool half,
    const char *coll)
{
	char sql[512];
	/* the rows of the first row's dimension (the others are skipped) */
	snprintf(sql, sizeof sql,
	    "SELECT id, %s, %s::vector FROM %s WHERE %s IS NOT NULL AND vector_dims(%s) = "
	    "(SELECT vector_dims(%s) FROM %s WHERE %s IS NOT NULL ORDER BY id LIMIT 1) "
	    "ORDER BY id",
	    col, col, table, col, col, col, table, col);
	PGresult *r = PQexecParams(pc, sql, 0, NULL, NULL, NULL, NULL, 1);
	CHECK(PQresultStatus(r) == PGRES_TUPLES_OK, "%s: %s", sql, PQerrorMessage(pc));
	int n = PQntuples(r);
	CHECK(n > 0, "%s: no rows", sql);

	uint64_t count = 0;
	OK(shoal_count(c, "tv", coll, &count, &st_));
	CHECK(count == (uint64_t)n, "%s (from %s.%s): %" PRIu64 " points, PostgreSQL has %d", coll,
	    table, col, count, n);

	float *want = malloc(PGCOPY_MAX_DIM * sizeof(float));
	float *cast = malloc(PGCOPY_MAX_DIM * sizeof(float));
	for (int i = 0; i < n; i++) {
		CHECK(PQgetlength(r, i, 0) == 8, "id is not a bigint");
		const unsigned char *ip = (const unsigned char *)PQgetvalue(r, i, 0);
		uint64_t id = (uint64_t)util_get_be32(ip) << 32 | util_get_be32(ip + 4);
		uint32_t dim = decode_pgvector((const unsigned char *)PQgetvalue(r, i, 1),
		    PQgetlength(r, i, 1), half, want, PGCOPY_MAX_DIM);
		if (half) {
			uint32_t d2 = decode_pgvector((const unsigned char *)PQgetvalue(r, i, 2),
			    PQgetlength(r, i, 2), false, cast, PGCOPY_MAX_DIM);
			CHECK(d2 == dim && memcmp(cast, want, dim * sizeof(float)) == 0,
			    "%s.%s id %" PRIu64 ": the halves decoded here differ from "
			    "PostgreSQL's halfvec::vector",
			    table, col, id);
		}
		shoal_get_result *g;
		OK(shoal_get(c, "tv", coll, &id, 1, true, &g, &st_));
		CHECK(g->n_points == 1, "%s: id %" PRIu64 " not imported", coll, id);
		const shoal_point *p = &g->points[0];
		CHECK(p->dim == dim, "%s: id %" PRIu64 " has %u dimensions, PostgreSQL %u", coll, id,
		    p->dim, dim);
		for (uint32_t k = 0; k < dim; k++)
			CHECK(memcmp(&p->vector[k], &want[k], sizeof(float)) == 0,
			    "%s: id %" PRIu64 " component %u is %.9g, PostgreSQL holds %.9g", coll,
			    id, k, p->vector[k], want[k]);
		shoal_get_result_free(g);
	}
	free(want);
	free(cast);
	PQclear(r);
}

/* Rows 1..n of dim generated components into table(id, emb, half); the
 * halfvec gets the same text (PostgreSQL rounds it to half).  Row 1 holds
 * edge values when dim >= 8. */
static void
fill(PGconn *pc, const char *table, int n, uint32_t dim)
{
	size_t rowcap = (size_t)dim * 40 + 64, cap = (size_t)n * rowcap, len = 0;
	char *data = malloc(cap), *t = malloc(rowcap);
	float *v = malloc(dim * sizeof(float));
	for (int id = 1; id <= n; id++) {
		vecio_generate(SEED, (uint64_t)id, 1, dim, v);
		if (id == 1 && dim >= 8) {
			/* largest half, smallest subnormal half, a subnormal that
			 * rounds, -0, a tie, 1/3 (rounds), a large value that
			 * rounds to even, just below the largest half */
			const float edge[8] = {65504.0f, 5.9604645e-8f, 1.0e-6f, -0.0f,
			    1.00048828125f, 1.0f / 3.0f, 2049.0f, -65519.0f};
			memcpy(v, edge, sizeof edge);
		}
		pg_harness_vec_text(t, rowcap, v, dim, '[', ']');
		len += (size_t)snprintf(data + len, cap - len, "%d\t%s\t%s\n", id, t, t);
	}
	char copy[128];
	snprintf(copy, sizeof copy, "COPY %s (id, emb, half) FROM STDIN", table);
	pg_harness_copy_in(pc, copy, data, len);
	free(data);
	free(t);
	free(v);
	snprintf(copy, sizeof copy, "ANALYZE %s", table);
	pg_harness_exec(pc, copy);
}

static void
test_types(PGconn *pc, shoal_client *c)
{
	int rc;
	char dimq[64];

	pg_harness_exec(pc,
	    "CREATE TABLE pv (id bigint PRIMARY KEY, emb vector(16), half halfvec(16));"
	    "CREATE TABLE wide (id bigint PRIMARY KEY, emb vector(1536), half halfvec(1536))");
	fill(pc, "pv", N, DIM);
	fill(pc, "wide", WIDE_N, WIDE_DIM);
	/* the edge values really are halves now (else the test means less) */
	pg_harness_value(pc, "SELECT half::text FROM pv WHERE id = 1", dimq, sizeof dimq);
	CHECK(strncmp(dimq, "[65504,", 7) == 0, "edge values in halfvec: %s", dimq);

	/* binary COPY (the default) */
	rc = import("--table", "pv", "--id-col", "id", "--vector-col", "emb", "--tenant", "tv",
	    "--collection", "emb", "--payload-cols", "half", NULL);
	CHECK(rc == 0 && strstr(out, "succeeded: 500 rows imported, 0 skipped") &&
	        strstr(out, "(dim 16)"),
	    "import vector: exit %d\n%s", rc, out);
	check_against_pg(pc, c, "pv", "emb", false, "emb");
	rc = import("--table", "pv", "--id-col", "id", "--vector-col", "half", "--tenant", "tv",
	    "--collection", "half", NULL);
	CHECK(rc == 0 && strstr(out, "succeeded: 500 rows imported, 0 skipped"),
	    "import halfvec: exit %d\n%s", rc, out);
	check_against_pg(pc, c, "pv", "half", true, "half");

	/* a halfvec payload column is kept as its text form */
	uint64_t id1 = 1;
	shoal_get_result *g;
	OK(shoal_get(c, "tv", "emb", &id1, 1, false, &g, &st_));
	CHECK(g->n_points == 1 && g->points[0].n_payload == 1, "payload of id 1");
	char want[8192];
	pg_harness_value(pc, "SELECT half::text FROM pv WHERE id = 1", want, sizeof want);
	const shoal_field *f = &g->points[0].payload[0];
	CHECK(strcmp(f->key, "half") == 0 && f->type == SHOAL_VALUE_STRING &&
	        strcmp(f->s, want) == 0,
	    "halfvec payload: '%s', PostgreSQL '%s'", f->type == SHOAL_VALUE_STRING ? f->s : "?",
	    want);
	shoal_get_result_free(g);

	/* the text COPY format: the same points */
	rc = import("--table", "pv", "--id-col", "id", "--vector-col", "emb", "--tenant", "tv",
	    "--collection", "emb_tf", "--copy-format", "text", NULL);
	CHECK(rc == 0, "import vector, text format: exit %d\n%s", rc, out);
	check_against_pg(pc, c, "pv", "emb", false, "emb_tf");
	rc = import("--table", "pv", "--id-col", "id", "--vector-col", "half", "--tenant", "tv",
	    "--collection", "half_tf", "--copy-format", "text", NULL);
	CHECK(rc == 0, "import halfvec, text format: exit %d\n%s", rc, out);
	check_against_pg(pc, c, "pv", "half", true, "half_tf");

	/* --query casting the column to text: pgvector's text form, read
	 * back exactly */
	rc = import("--query", "SELECT id, emb::text AS e FROM pv", "--id-col", "id",
	    "--vector-col", "e", "--tenant", "tv", "--collection", "emb_q", NULL);
	CHECK(rc == 0, "import --query emb::text: exit %d\n%s", rc, out);
	check_against_pg(pc, c, "pv", "emb", false, "emb_q");
	rc = import("--query", "SELECT id, half::text AS h FROM pv", "--id-col", "id",
	    "--vector-col", "h", "--tenant", "tv", "--collection", "half_q", NULL);
	CHECK(rc == 0, "import --query half::text: exit %d\n%s", rc, out);
	check_against_pg(pc, c, "pv", "half", true, "half_q");

	/* 1536 dimensions, both formats */
	rc = import("--table", "wide", "--id-col", "id", "--vector-col", "emb", "--tenant", "tv",
	    "--collection", "wide", NULL);
	CHECK(rc == 0 && strstr(out, "(dim 1536)"), "import wide vector: exit %d\n%s", rc, out);
	check_against_pg(pc, c, "wide", "emb", false, "wide");
	rc = import("--table", "wide", "--id-col", "id", "--vector-col", "half", "--tenant", "tv",
	    "--collection", "wide_half_tf", "--copy-format", "text", NULL);
	CHECK(rc == 0, "import wide halfvec, text format: exit %d\n%s", rc, out);
	check_against_pg(pc, c, "wide", "half", true, "wide_half_tf");
}

/* An INSERT pgvector must refuse (NaN / infinity / out of range). */
static void
refused(PGconn *pc, const char *sql, const char *what)
{
	PGresult *r = PQexec(pc, sql);
	CHECK(PQresultStatus(r) == PGRES_FATAL_ERROR,
	    "pgvector accepted %s (%s): the importer's checks for it now matter, extend this test",
	    what, sql);
	PQclear(r);
}

static void
test_bad_rows(PGconn *pc, shoal_client *c)
{
	uint64_t count = 0;
	int rc;

	pg_harness_exec(pc,
	    "CREATE TABLE pbad (id bigint, emb vector, half halfvec);"
	    "INSERT INTO pbad VALUES (1, '[1,2,3]', '[1,2,3]'), (2, NULL, NULL), "
	    "(3, '[4,5,6]', '[4,5,6]'), (4, '[1,2,3,4]', '[1,2,3,4]'), (5, '[1,2]', '[1,2]'), "
	    "(6, '[7,8,9]', '[7,8,9]'), (7, NULL, NULL)");
	refused(pc, "INSERT INTO pbad (id, emb) VALUES (100, '[1,NaN,3]')", "NaN in a vector");
	refused(pc, "INSERT INTO pbad (id, emb) VALUES (100, '[1,Infinity,3]')",
	    "infinity in a vector");
	refused(pc, "INSERT INTO pbad (id, half) VALUES (100, '[1,NaN,3]')", "NaN in a halfvec");
	refused(pc, "INSERT INTO pbad (id, half) VALUES (100, '[1,-Infinity,3]')",
	    "infinity in a halfvec");
	refused(pc, "INSERT INTO pbad (id, half) VALUES (100, '[70000]')",
	    "70000 (beyond the largest half) in a halfvec");

	const char *cols[2] = {"emb", "half"};
	const char *fmts[2] = {"binary", "text"};
	for (int ci = 0; ci < 2; ci++) {
		for (int fi = 0; fi < 2; fi++) {
			char coll[32];
			snprintf(coll, sizeof coll, "bad_%s_%s", cols[ci], fmts[fi]);
			rc = import("--table", "pbad", "--id-col", "id", "--vector-col", cols[ci],
			    "--tenant", "tv", "--collection", coll, "--on-error", "skip",
			    "--copy-format", fmts[fi], NULL);
			CHECK(rc == 0, "%s: exit %d\n%s", coll, rc, out);
			CHECK(strstr(out, "3 rows imported, 4 skipped (7 rows read)") &&
			        strstr(out, "skipped 2 rows: NULL vector (first: id 2)") &&
			        strstr(out,
			            "skipped 2 rows: wrong vector dimension (first: id 4: 4 "
			            "dimensions"),
			    "%s:\n%s", coll, out);
			check_against_pg(pc, c, "pbad", cols[ci], ci == 1, coll);
		}
	}

	/* abort (the default) stops at id 2; id 1 stays imported */
	rc = import("--table", "pbad", "--id-col", "id", "--vector-col", "half", "--tenant", "tv",
	    "--collection", "bad_abort", NULL);
	CHECK(rc == 1 && strstr(out, "INVALID_ARGUMENT") && strstr(out, "id 2: NULL vector"),
	    "abort: exit %d\n%s", rc, out);
	OK(shoal_count(c, "tv", "bad_abort", &count, &st_));
	CHECK(count == 1, "abort: %" PRIu64 " points, want the 1 before the bad row", count);

	/* a NaN can reach the importer only as text (pgvector refuses it):
	 * counted like any other */
	rc = import("--query",
	    "SELECT id, CASE id WHEN 3 THEN '[1,NaN,3]' ELSE emb::text END AS e FROM pbad",
	    "--id-col", "id", "--vector-col", "e", "--tenant", "tv", "--collection", "bad_nan",
	    "--on-error", "skip", NULL);
	CHECK(rc == 0 && strstr(out, "2 rows imported, 5 skipped") &&
	        strstr(out,
	            "skipped 1 rows: NaN or infinite vector component (first: id 3: component 1 "
	            "is NaN)"),
	    "NaN through --query: exit %d\n%s", rc, out);
	OK(shoal_count(c, "tv", "bad_nan", &count, &st_));
	CHECK(count == 2, "NaN through --query: %" PRIu64 " points, want 2", count);
}

int
main(void)
{
	pg_harness_start(&pg);
	PGconn *pc = pg_harness_connect(&pg);
	PGresult *r = PQexec(pc, "CREATE EXTENSION IF NOT EXISTS vector");
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		/* ctest shows this line with the skip (SKIP_RETURN_CODE 77) */
		char why[512];
		snprintf(why, sizeof why, "%s", PQerrorMessage(pc));
		why[strcspn(why, "\n")] = '\0';
		fprintf(stderr,
		    "SKIP: CREATE EXTENSION vector failed on the PostgreSQL in %s (%s); pgvector "
		    "is needed for this test, see bench/README.md to install it\n",
		    pg.bindir, why);
		PQclear(r);
		PQfinish(pc);
		pg_harness_stop(&pg);
		return 77;
	}
	PQclear(r);
	char ver[64];
	pg_harness_value(pc, "SELECT extversion FROM pg_extension WHERE extname = 'vector'", ver,
	    sizeof ver);
	printf("pgvector %s\n", ver);

	harness_cluster_start(&cl, 1);
	shoal_client *c = it_connect(&cl);
	test_types(pc, c);
	test_bad_rows(pc, c);
	shoal_close(c);
	PQfinish(pc);
	harness_cluster_stop(&cl);
	pg_harness_stop(&pg);
	printf("it_import_pgvector: OK (pgvector %s)\n", ver);
	return 0;
}
