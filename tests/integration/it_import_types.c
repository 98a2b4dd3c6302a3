/* it_import_types.c -- `shoal import pg` against a real PostgreSQL: every
 * column type the importer reads, both COPY formats, the id mappings, and
 * bad input.  pgvector's own types are in it_import_pgvector.c (which
 * needs the extension).
 *
 * A real PostgreSQL (pg_harness) and a real one-worker cluster; every
 * import goes through the real CLI.  Vectors are generated
 * (vecio_generate), written into PostgreSQL as text with 9 significant
 * digits (exact for float32) and compared bit for bit after the import.
 * Checked:
 *  - real[], double precision[], numeric[] (an unknown type: read as text),
 *    text '[1,2,3]' vectors; the binary and the text COPY format give the
 *    same points (real[], double precision[] and text vectors each read
 *    both ways);
 *  - payload from text, jsonb (top-level scalars and string arrays; nested
 *    values left out), text[], float8, numeric, boolean, integer, uuid,
 *    timestamptz (as its text); --text-col;
 *  - uuid and text ids map to the documented SHA-256 id (checked against
 *    PostgreSQL's own sha256()) and keep the original in the payload;
 *  - --query; --tenant-col into a shared collection (the value kept as the
 *    distribution key) and, with --dedicated-tenants, a tenant per value;
 *  - --on-error skip counts NULL / NaN / infinite / wrong-dimension /
 *    undecodable vectors and NULL ids by reason, the same in both COPY
 *    formats; abort stops at the first
 *    bad row with the rows before it imported;
 *  - an unreachable DSN, a missing column or table, an unusable id type:
 *    clear errors, exit 1, and the DSN's password appears nowhere.
 */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "it_common.h"
#include "pg_harness.h"
#include "pgcopy.h"

#define DIM 8
#define N 300
#define SEED 7

static harness_cluster cl;
static pg_server pg;
static char out[65536];

/* `shoal import pg --dsn <pg's> ...` (NULL-terminated) into out */
#define import(...) pg_harness_import(&cl, &pg, out, sizeof out, __VA_ARGS__)

static const shoal_field *
field(const shoal_field *f, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(f[i].key, key) == 0)
			return &f[i];
	return NULL;
}

/* Every id 1..N is in tenant/coll with exactly the generated vector. */
static void
check_vectors(shoal_client *c, const char *tenant, const char *coll)
{
	uint64_t ids[N], count = 0;
	float want[DIM];
	shoal_get_result *g;
	for (int i = 0; i < N; i++)
		ids[i] = (uint64_t)i + 1;
	OK(shoal_count(c, tenant, coll, &count, &st_));
	CHECK(count == N, "%s/%s: %" PRIu64 " points, want %d", tenant, coll, count, N);
	OK(shoal_get(c, tenant, coll, ids, N, true, &g, &st_));
	CHECK(g->n_points == N, "%s/%s: get found %zu of %d", tenant, coll, g->n_points, N);
	for (size_t i = 0; i < g->n_points; i++) {
		const shoal_point *p = &g->points[i];
		vecio_generate(SEED, p->id, 1, DIM, want);
		CHECK(p->dim == DIM && memcmp(p->vector, want, sizeof want) == 0,
		    "%s/%s: point %" PRIu64 " has a different vector", tenant, coll, p->id);
	}
	shoal_get_result_free(g);
}

static void
setup_items(PGconn *c)
{
	pg_harness_exec(c,
	    "CREATE TABLE items (id bigint PRIMARY KEY, emb real[], emb8 double precision[], "
	    "embt text, embn numeric[], title text, meta jsonb, tags text[], score double "
	    "precision, n numeric, ok boolean, cnt integer, u uuid, ts timestamptz)");
	size_t cap = (size_t)N * 1024, len = 0;
	char *data = malloc(cap);
	float v[DIM];
	for (int id = 1; id <= N; id++) {
		char a[256], t[256];
		vecio_generate(SEED, (uint64_t)id, 1, DIM, v);
		pg_harness_vec_text(a, sizeof a, v, DIM, '{', '}');
		pg_harness_vec_text(t, sizeof t, v, DIM, '[', ']');
		len += (size_t)snprintf(data + len, cap - len,
		    "%d\t%s\t%s\t%s\t%s\ttitle %d\t{\"lang\": \"%s\", \"year\": %d, \"x\": 0.5, "
		    "\"deep\": {\"a\": 1}, \"list\": [\"p\", \"q\"], \"nums\": [1, 2], \"nil\": "
		    "null, "
		    "\"esc\": \"a\\\\\\\\u00e9\\\\\\\\n\", \"uni\": \"caf\\\\u00e9\"}\t{t%d,\"two "
		    "words\"}\t%g\t%d.25\t%s\t%d\t"
		    "%08x-0000-4000-8000-%012x\t2024-01-%02d 10:00:00+00\n",
		    id, a, a, t, a, id, id % 2 ? "en" : "de", 2000 + id % 20, id % 3, id * 0.25,
		    id / 4, id % 2 == 0 ? "t" : "f", id * 10, (unsigned)id, (unsigned)id,
		    1 + id % 28);
	}
	pg_harness_copy_in(c, "COPY items FROM STDIN", data, len);
	free(data);
	pg_harness_exec(c, "ANALYZE items");
}

static void
test_items(PGconn *pc, shoal_client *c)
{
	int rc;

	/* binary COPY, real[] */
	rc = import("--table", "items", "--id-col", "id", "--vector-col", "emb", "--tenant", "t1",
	    "--collection", "items", "--payload-cols", "title,meta,tags,score,n,ok,cnt,u,ts",
	    "--text-col", "title", NULL);
	CHECK(rc == 0, "import items: exit %d\n%s", rc, out);
	CHECK(strstr(out, "succeeded: 300 rows imported, 0 skipped") != NULL, "summary:\n%s", out);
	CHECK(strstr(out, "(dim 8)") != NULL, "summary without dim:\n%s", out);
	check_vectors(c, "t1", "items");

	uint64_t id5 = 5;
	shoal_get_result *g;
	OK(shoal_get(c, "t1", "items", &id5, 1, false, &g, &st_));
	CHECK(g->n_points == 1, "point 5 missing");
	const shoal_point *p = &g->points[0];
	const shoal_field *f;
	CHECK(p->text && strcmp(p->text, "title 5") == 0, "text of 5: %s", p->text ? p->text : "");
	f = field(p->payload, p->n_payload, "title");
	CHECK(f && f->type == SHOAL_VALUE_STRING && strcmp(f->s, "title 5") == 0, "title");
	f = field(p->payload, p->n_payload, "lang");
	CHECK(f && f->type == SHOAL_VALUE_STRING && strcmp(f->s, "en") == 0, "jsonb lang");
	f = field(p->payload, p->n_payload, "year");
	CHECK(f && f->type == SHOAL_VALUE_INT && f->i == 2005, "jsonb year");
	f = field(p->payload, p->n_payload, "x");
	CHECK(f && f->type == SHOAL_VALUE_DOUBLE && f->d == 0.5, "jsonb x");
	f = field(p->payload, p->n_payload, "list");
	CHECK(f && f->type == SHOAL_VALUE_TAGS && f->tags.n == 2 && strcmp(f->tags.v[1], "q") == 0,
	    "jsonb list");
	f = field(p->payload, p->n_payload, "esc");
	CHECK(f && f->type == SHOAL_VALUE_STRING && strcmp(f->s, "a\\u00e9\\n") == 0,
	    "jsonb escapes: '%s'", f ? f->s : "(none)");
	f = field(p->payload, p->n_payload, "uni");
	CHECK(f && f->type == SHOAL_VALUE_STRING && strcmp(f->s, "caf\xc3\xa9") == 0,
	    "jsonb unicode: '%s'", f ? f->s : "(none)");
	CHECK(!field(p->payload, p->n_payload, "deep") &&
	        !field(p->payload, p->n_payload, "nums") &&
	        !field(p->payload, p->n_payload, "nil") && !field(p->payload, p->n_payload, "meta"),
	    "nested json values must be left out");
	f = field(p->payload, p->n_payload, "tags");
	CHECK(f && f->type == SHOAL_VALUE_TAGS && f->tags.n == 2 &&
	        strcmp(f->tags.v[0], "t2") == 0 && strcmp(f->tags.v[1], "two words") == 0,
	    "text[] tags");
	f = field(p->payload, p->n_payload, "score");
	CHECK(f && f->type == SHOAL_VALUE_DOUBLE && f->d == 1.25, "float8 score");
	f = field(p->payload, p->n_payload, "n");
	CHECK(f && f->type == SHOAL_VALUE_DOUBLE && f->d == 1.25, "numeric n");
	f = field(p->payload, p->n_payload, "ok");
	CHECK(f && f->type == SHOAL_VALUE_BOOL && !f->b, "boolean ok");
	f = field(p->payload, p->n_payload, "cnt");
	CHECK(f && f->type == SHOAL_VALUE_INT && f->i == 50, "integer cnt");
	f = field(p->payload, p->n_payload, "u");
	CHECK(f && f->type == SHOAL_VALUE_STRING &&
	        strcmp(f->s, "00000005-0000-4000-8000-000000000005") == 0,
	    "uuid u");
	f = field(p->payload, p->n_payload, "ts");
	CHECK(f && f->type == SHOAL_VALUE_STRING && strncmp(f->s, "2024-01-06", 10) == 0,
	    "timestamptz as text: %s", f ? f->s : "(none)");
	shoal_get_result_free(g);

	/* the other vector column types */
	rc = import("--table", "items", "--id-col", "id", "--vector-col", "emb8", "--tenant", "t1",
	    "--collection", "items8", NULL);
	CHECK(rc == 0, "import emb8: exit %d\n%s", rc, out);
	check_vectors(c, "t1", "items8");
	rc = import("--table", "public.items", "--id-col", "id", "--vector-col", "embt", "--tenant",
	    "t1", "--collection", "items_txt", NULL);
	CHECK(rc == 0, "import embt: exit %d\n%s", rc, out);
	check_vectors(c, "t1", "items_txt");
	rc = import("--table", "items", "--id-col", "id", "--vector-col", "embn", "--tenant", "t1",
	    "--collection", "items_num", NULL);
	CHECK(rc == 0, "import numeric[]: exit %d\n%s", rc, out);
	check_vectors(c, "t1", "items_num");

	/* the text COPY format gives exactly the same points */
	rc = import("--table", "items", "--id-col", "id", "--vector-col", "emb", "--tenant", "t1",
	    "--collection", "items_tf", "--payload-cols", "title,meta,tags,score,n,ok,cnt,u,ts",
	    "--text-col", "title", "--copy-format", "text", NULL);
	CHECK(rc == 0, "import --copy-format text: exit %d\n%s", rc, out);
	check_vectors(c, "t1", "items_tf");
	rc = import("--table", "items", "--id-col", "id", "--vector-col", "emb8", "--tenant", "t1",
	    "--collection", "items8_tf", "--copy-format", "text", NULL);
	CHECK(rc == 0, "import emb8 --copy-format text: exit %d\n%s", rc, out);
	check_vectors(c, "t1", "items8_tf");
	rc = import("--table", "items", "--id-col", "id", "--vector-col", "embt", "--tenant", "t1",
	    "--collection", "items_txt_tf", "--copy-format", "text", NULL);
	CHECK(rc == 0, "import embt --copy-format text: exit %d\n%s", rc, out);
	check_vectors(c, "t1", "items_txt_tf");
	uint64_t ids[N];
	for (int i = 0; i < N; i++)
		ids[i] = (uint64_t)i + 1;
	shoal_get_result *a, *b;
	OK(shoal_get(c, "t1", "items", ids, N, false, &a, &st_));
	OK(shoal_get(c, "t1", "items_tf", ids, N, false, &b, &st_));
	for (size_t i = 0; i < a->n_points; i++) {
		const shoal_point *pa = &a->points[i], *pb = NULL;
		for (size_t k = 0; k < b->n_points && !pb; k++)
			if (b->points[k].id == pa->id)
				pb = &b->points[k];
		CHECK(pb && pb->n_payload == pa->n_payload,
		    "text format: point %" PRIu64 " has %zu payload fields, binary %zu", pa->id,
		    pb ? pb->n_payload : 0, pa->n_payload);
		CHECK(strcmp(pa->text, pb->text) == 0, "text format: text of %" PRIu64, pa->id);
		for (size_t k = 0; k < pa->n_payload; k++) {
			const shoal_field *x = &pa->payload[k];
			const shoal_field *y = field(pb->payload, pb->n_payload, x->key);
			CHECK(y && y->type == x->type, "text format: field %s of %" PRIu64, x->key,
			    pa->id);
			bool same = x->type == SHOAL_VALUE_STRING ? strcmp(x->s, y->s) == 0
			    : x->type == SHOAL_VALUE_INT          ? x->i == y->i
			    : x->type == SHOAL_VALUE_DOUBLE       ? x->d == y->d
			    : x->type == SHOAL_VALUE_BOOL         ? x->b == y->b
			                                          : x->tags.n == y->tags.n;
			CHECK(same, "text format: field %s of %" PRIu64 " differs", x->key, pa->id);
		}
	}
	shoal_get_result_free(a);
	shoal_get_result_free(b);

	/* --query */
	rc = import("--query", "SELECT id, emb FROM items WHERE id % 3 = 0", "--id-col", "id",
	    "--vector-col", "emb", "--tenant", "t1", "--collection", "items_q", NULL);
	CHECK(rc == 0, "import --query: exit %d\n%s", rc, out);
	uint64_t count;
	OK(shoal_count(c, "t1", "items_q", &count, &st_));
	CHECK(count == N / 3, "--query: %" PRIu64 " points, want %d", count, N / 3);

	/* running the same import again (and --resume of a finished one) adds
	 * nothing */
	rc = import("--table", "items", "--id-col", "id", "--vector-col", "emb", "--tenant", "t1",
	    "--collection", "items", "--payload-cols", "title,meta,tags,score,n,ok,cnt,u,ts",
	    "--text-col", "title", "--resume", NULL);
	CHECK(rc == 0 && strstr(out, "already complete"), "resume of a finished import:\n%s", out);
	rc = import("--table", "items", "--id-col", "id", "--vector-col", "emb", "--tenant", "t1",
	    "--collection", "items", "--payload-cols", "title,meta,tags,score,n,ok,cnt,u,ts",
	    "--text-col", "title", NULL);
	CHECK(rc == 0, "re-import: exit %d\n%s", rc, out);
	check_vectors(c, "t1", "items");
	(void)pc;
}

/* uuid and text ids: the documented hash, computed by PostgreSQL too. */
static void
test_hashed_ids(PGconn *pc, shoal_client *c)
{
	pg_harness_exec(pc,
	    "CREATE TABLE docs_u (id uuid PRIMARY KEY, emb real[]);"
	    "INSERT INTO docs_u SELECT md5(i::text)::uuid, ARRAY[i, 1, 2]::real[] "
	    "FROM generate_series(1, 50) i;"
	    "CREATE TABLE docs_t (key text PRIMARY KEY, emb real[]);"
	    "INSERT INTO docs_t SELECT 'doc-' || i, ARRAY[i, 1, 2]::real[] "
	    "FROM generate_series(1, 49) i;"
	    "INSERT INTO docs_t VALUES ('d\u00f6k \u00fc\t\"x\"', '{7,7,7}')");
	int rc = import("--table", "docs_u", "--id-col", "id", "--vector-col", "emb", "--tenant",
	    "t1", "--collection", "docs_u", NULL);
	CHECK(rc == 0, "import uuid ids: exit %d\n%s", rc, out);
	rc = import("--table", "docs_t", "--id-col", "key", "--vector-col", "emb", "--tenant", "t1",
	    "--collection", "docs_t", "--copy-format", "text", NULL);
	CHECK(rc == 0, "import text ids: exit %d\n%s", rc, out);

	const char *sql[2] =
	    {"SELECT id::text, ('x' || left(encode(sha256(convert_to(id::text, 'UTF8')), 'hex'), "
	     "16))::bit(64)::bigint FROM docs_u",
	        "SELECT key, ('x' || left(encode(sha256(convert_to(key, 'UTF8')), 'hex'), "
	        "16))::bit(64)::bigint FROM docs_t"};
	const char *coll[2] = {"docs_u", "docs_t"};
	const char *key[2] = {"id", "key"};
	for (int t = 0; t < 2; t++) {
		PGresult *r = PQexec(pc, sql[t]);
		CHECK(PQresultStatus(r) == PGRES_TUPLES_OK, "%s", PQerrorMessage(pc));
		int n = PQntuples(r);
		CHECK(n == 50, "%s rows: %d", coll[t], n);
		for (int i = 0; i < n; i++) {
			const char *orig = PQgetvalue(r, i, 0);
			uint64_t id = pgcopy_id_hash(orig, strlen(orig));
			int64_t sql_id = strtoll(PQgetvalue(r, i, 1), NULL, 10);
			CHECK((int64_t)id == sql_id,
			    "%s: id of '%s' is %" PRIu64 " but the documented SQL gives %" PRId64,
			    coll[t], orig, id, sql_id);
			shoal_get_result *g;
			OK(shoal_get(c, "t1", coll[t], &id, 1, false, &g, &st_));
			CHECK(g->n_points == 1, "%s: '%s' (id %" PRIu64 ") not imported", coll[t],
			    orig, id);
			const shoal_field *f =
			    field(g->points[0].payload, g->points[0].n_payload, key[t]);
			CHECK(f && f->type == SHOAL_VALUE_STRING && strcmp(f->s, orig) == 0,
			    "%s: original id '%s' not kept in the payload", coll[t], orig);
			shoal_get_result_free(g);
		}
		PQclear(r);
	}
}

/* --tenant-col: a tenant per value; NULL / invalid tenants and NULL ids
 * are counted skips. */
static void
test_tenant_col(PGconn *pc, shoal_client *c)
{
	pg_harness_exec(pc,
	    "CREATE TABLE multi (id integer, tenant text, emb real[]);"
	    "INSERT INTO multi SELECT i, (ARRAY['acme','globex','initech'])[1 + i % 3], "
	    "ARRAY[i, 0, 1]::real[] FROM generate_series(1, 90) i;"
	    "INSERT INTO multi VALUES (1000, NULL, '{1,2,3}'), (1001, NULL, '{1,2,3}'), "
	    "(1002, 'bad name!', '{1,2,3}'), (NULL, 'acme', '{1,2,3}')");
	/* the default: one shared collection distributed by the column; any
	 * non-empty value is a key ('bad name!' too) */
	int rc = import("--table", "multi", "--id-col", "id", "--vector-col", "emb", "--tenant-col",
	    "tenant", "--collection", "mshared", "--on-error", "skip", NULL);
	CHECK(rc == 0, "import --tenant-col (shared): exit %d\n%s", rc, out);
	CHECK(strstr(out, "91 rows imported, 3 skipped") != NULL &&
	        strstr(out,
	            "into shared collection 'mshared', distributed by tenant (4 tenant values)"),
	    "shared summary:\n%s", out);
	uint64_t total = 0;
	OK(shoal_count(c, "", "mshared", &total, &st_));
	CHECK(total == 91, "shared collection: %" PRIu64 " points, want 91", total);
	uint64_t ids[3] = {3, 1, 1002};
	const char *keys[3] = {"acme", "globex", "bad name!"};
	shoal_get_result *g;
	OK(shoal_get(c, "", "mshared", ids, 3, false, &g, &st_));
	CHECK(g->n_points == 3, "shared get: %zu of 3", g->n_points);
	for (size_t i = 0; i < g->n_points; i++) {
		const char *want = NULL;
		for (int k = 0; k < 3; k++)
			if (ids[k] == g->points[i].id)
				want = keys[k];
		const shoal_field *f =
		    field(g->points[i].payload, g->points[i].n_payload, "tenant");
		CHECK(want && f && f->type == SHOAL_VALUE_STRING && strcmp(f->s, want) == 0,
		    "shared: point %" PRIu64 " has no distribution key '%s'", g->points[i].id,
		    want ? want : "?");
	}
	shoal_get_result_free(g);

	/* --dedicated-tenants: a tenant per value, named after it */
	rc = import("--table", "multi", "--id-col", "id", "--vector-col", "emb", "--tenant-col",
	    "tenant", "--dedicated-tenants", "--collection", "m", "--on-error", "skip", NULL);
	CHECK(rc == 0, "import --tenant-col --dedicated-tenants: exit %d\n%s", rc, out);
	CHECK(strstr(out, "90 rows imported, 4 skipped") != NULL, "summary:\n%s", out);
	CHECK(strstr(out, "skipped 2 rows: NULL tenant") != NULL, "NULL tenant count:\n%s", out);
	CHECK(strstr(out, "skipped 1 rows: unusable tenant value") != NULL, "bad tenant count:\n%s",
	    out);
	CHECK(strstr(out, "skipped 1 rows: NULL id") != NULL, "NULL id count:\n%s", out);
	const char *tenants[] = {"acme", "globex", "initech"};
	for (int i = 0; i < 3; i++) {
		uint64_t count = 0;
		OK(shoal_count(c, tenants[i], "m", &count, &st_));
		CHECK(count == 30, "tenant %s: %" PRIu64 " points, want 30", tenants[i], count);
	}
}

static void
test_bad_rows(PGconn *pc, shoal_client *c)
{
	pg_harness_exec(pc,
	    "CREATE TABLE bad (id bigint, emb real[], embt text);"
	    "INSERT INTO bad VALUES (1, '{1,2,3}', '[1,2,3]'), (2, NULL, '[1,2,3]'), "
	    "(3, '{1,2,3}', '[1,x,3]'), (4, '{1,NaN,3}', '[1,2,3]'), "
	    "(5, '{1,Infinity,3}', '[1,2,3]'), (6, '{1,2,3,4}', '[1,2]'), (7, '{1,2,3}', NULL), "
	    "(NULL, '{1,2,3}', '[1,2,3]'), (8, '{1,2,3}', '[4,5,6]')");
	uint64_t count = 0;

	/* skip: every bad row counted by reason */
	int rc = import("--table", "bad", "--id-col", "id", "--vector-col", "emb", "--tenant", "t2",
	    "--collection", "bad", "--on-error", "skip", NULL);
	CHECK(rc == 0, "skip: exit %d\n%s", rc, out);
	CHECK(strstr(out, "4 rows imported, 5 skipped (9 rows read)") != NULL, "skip:\n%s", out);
	CHECK(strstr(out, "skipped 1 rows: NULL vector (first: id 2)") != NULL, "NULL:\n%s", out);
	CHECK(strstr(out,
	          "skipped 2 rows: NaN or infinite vector component (first: id 4: "
	          "component 1 is NaN)") != NULL,
	    "NaN:\n%s", out);
	CHECK(strstr(out, "skipped 1 rows: wrong vector dimension (first: id 6: 4 dimensions") !=
	        NULL,
	    "dim:\n%s", out);
	CHECK(strstr(out, "skipped 1 rows: NULL id") != NULL, "NULL id:\n%s", out);
	OK(shoal_count(c, "t2", "bad", &count, &st_));
	CHECK(count == 4, "skip: %" PRIu64 " points, want 4", count);

	/* the text COPY format skips the same rows for the same reasons */
	rc = import("--table", "bad", "--id-col", "id", "--vector-col", "emb", "--tenant", "t2",
	    "--collection", "bad_tf", "--on-error", "skip", "--copy-format", "text", NULL);
	CHECK(rc == 0, "skip, text format: exit %d\n%s", rc, out);
	CHECK(strstr(out, "4 rows imported, 5 skipped (9 rows read)") &&
	        strstr(out, "skipped 1 rows: NULL vector (first: id 2)") &&
	        strstr(out,
	            "skipped 2 rows: NaN or infinite vector component (first: id 4: "
	            "component 1 is NaN)") &&
	        strstr(out, "skipped 1 rows: wrong vector dimension (first: id 6: 4 dimensions") &&
	        strstr(out, "skipped 1 rows: NULL id"),
	    "skip, text format:\n%s", out);
	OK(shoal_count(c, "t2", "bad_tf", &count, &st_));
	CHECK(count == 4, "skip, text format: %" PRIu64 " points, want 4", count);

	rc = import("--table", "bad", "--id-col", "id", "--vector-col", "embt", "--tenant", "t2",
	    "--collection", "badt", "--on-error", "skip", NULL);
	CHECK(rc == 0, "skip text: exit %d\n%s", rc, out);
	CHECK(strstr(out,
	          "skipped 1 rows: undecodable vector (first: id 3: vector component 1 is "
	          "not a number: 'x')") != NULL,
	    "undecodable:\n%s", out);

	/* abort (the default): stops at id 2, id 1 stays imported */
	rc = import("--table", "bad", "--id-col", "id", "--vector-col", "emb", "--tenant", "t2",
	    "--collection", "bad_abort", NULL);
	CHECK(rc == 1, "abort: exit %d\n%s", rc, out);
	CHECK(strstr(out, "shoal: error: INVALID_ARGUMENT") && strstr(out, "id 2: NULL vector") &&
	        strstr(out, "--on-error skip"),
	    "abort message:\n%s", out);
	OK(shoal_count(c, "t2", "bad_abort", &count, &st_));
	CHECK(count == 1, "abort: %" PRIu64 " points, want the 1 before the bad row", count);
}

static void
test_errors(void)
{
	char dsn[256];
	int rc;

	/* nobody listens there; the password must not show anywhere */
	snprintf(dsn, sizeof dsn,
	    "host=127.0.0.1 port=1 user=postgres password=hunter2 "
	    "dbname=postgres connect_timeout=3");
	rc = harness_run_cli(&cl, out, sizeof out, "import", "pg", "--dsn", dsn, "--table", "items",
	    "--id-col", "id", "--vector-col", "emb", "--tenant", "t3", "--collection", "x", NULL);
	CHECK(rc == 1 && strstr(out, "UNAVAILABLE") && strstr(out, "cannot connect to PostgreSQL"),
	    "unreachable DSN: exit %d\n%s", rc, out);
	CHECK(strstr(out, "hunter2") == NULL, "the password leaked:\n%s", out);

	rc = import("--table", "items", "--id-col", "id", "--vector-col", "nope", "--tenant", "t3",
	    "--collection", "x", NULL);
	CHECK(rc == 1 && strstr(out, "INVALID_ARGUMENT") &&
	        strstr(out, "column \"nope\" does not exist"),
	    "missing column: exit %d\n%s", rc, out);
	rc = import("--table", "nosuch", "--id-col", "id", "--vector-col", "emb", "--tenant", "t3",
	    "--collection", "x", NULL);
	CHECK(rc == 1 && strstr(out, "NOT_FOUND") && strstr(out, "'nosuch' does not exist"),
	    "missing table: exit %d\n%s", rc, out);
	rc = import("--table", "items", "--id-col", "score", "--vector-col", "emb", "--tenant",
	    "t3", "--collection", "x", NULL);
	CHECK(rc == 1 && strstr(out, "id column \"score\" has type double precision"),
	    "unusable id type: exit %d\n%s", rc, out);
	rc = import("--table", "items", "--id-col", "id", "--vector-col", "title", "--tenant", "t3",
	    "--collection", "x", NULL);
	CHECK(rc == 1 && strstr(out, "id 1: undecodable vector"),
	    "text that is not a vector: exit %d\n%s", rc, out);
	rc = import("--table", "items", "--id-col", "id", "--vector-col", "emb", "--tenant", "t3",
	    NULL);
	CHECK(rc == 2 && strstr(out, "--collection is required"), "usage: exit %d\n%s", rc, out);
	rc = import("--table", "items", "--id-col", "id", "--vector-col", "emb", "--tenant", "t3",
	    "--collection", "x", "--on-error", "ignore", NULL);
	CHECK(rc == 2 && strstr(out, "bad --on-error 'ignore'"), "usage: exit %d\n%s", rc, out);

	/* the jobs are listed, and each can be looked at */
	rc = harness_run_cli(&cl, out, sizeof out, "import", "list", NULL);
	CHECK(rc == 0 && strstr(out, "succeeded") && strstr(out, "failed") &&
	        strstr(out, "table items -> items8"),
	    "import list: exit %d\n%s", rc, out);
	rc = harness_run_cli(&cl, out, sizeof out, "import", "status", "nosuchjob", NULL);
	CHECK(rc == 1 && strstr(out, "NOT_FOUND"), "status of an unknown job: exit %d\n%s", rc,
	    out);

	/* the failed imports created nothing */
	shoal_client *c = it_connect(&cl);
	shoal_tenant_info *tl;
	size_t nt;
	OK(shoal_tenant_list(c, &tl, &nt, &st_));
	for (size_t i = 0; i < nt; i++)
		CHECK(strcmp(tl[i].name, "t3") != 0, "a failed import created tenant t3");
	shoal_tenant_list_free(tl);
	shoal_close(c);

	char path[512];
	snprintf(path, sizeof path, "%s/coordinator.log", cl.dir);
	FILE *f = fopen(path, "r");
	CHECK(f != NULL, "no coordinator log");
	char line[4096];
	while (fgets(line, sizeof line, f) != NULL)
		CHECK(strstr(line, "hunter2") == NULL, "the password is in the log: %s", line);
	fclose(f);
}

int
main(void)
{
	pg_harness_start(&pg);
	harness_cluster_start(&cl, 1);
	PGconn *pc = pg_harness_connect(&pg);
	shoal_client *c = it_connect(&cl);

	setup_items(pc);
	test_items(pc, c);
	test_hashed_ids(pc, c);
	test_tenant_col(pc, c);
	test_bad_rows(pc, c);
	test_errors();

	shoal_close(c);
	PQfinish(pc);
	harness_cluster_stop(&cl);
	pg_harness_stop(&pg);
	printf("it_import_types: OK\n");
	return 0;
}
