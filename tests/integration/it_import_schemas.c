/* it_import_schemas.c -- a schema-per-tenant layout (as Citus's
 * citus_schema_distribute leaves it) imported as one dedicated tenant per
 * schema, cancelled halfway and resumed.
 *
 *  - 20 schemas tenant_00..tenant_19, each with a table documents(id,
 *    emb real[16], title) of 200 + 10 * i rows; a schema tenant_nodocs that
 *    matches the pattern but has no such table (reported, not an error);
 *    a schema other with the table (does not match: not imported).
 *  - `shoal import pg --schemas 'tenant_%' --table documents --detach`,
 *    throttled; `shoal import cancel` once some schemas are done; then
 *    `--resume` finishes it, skipping the schemas already complete.
 *  - Afterwards: exactly 20 new tenants named after the schemas, each
 *    placed on a registered worker by the placement policy, each with its
 *    schema's exact rows and vectors; the job counts 5,900 rows in 2 runs.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "it_common.h"
#include "pg_harness.h"

#define SCHEMAS 20
#define DIM 16

static harness_cluster cl;
static pg_server pg;
static char out[65536];

static int
rows_of(int i)
{
	return 200 + 10 * i;
}

static void
sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static void
load_schema(PGconn *c, const char *schema, int seed, int n)
{
	char sql[256];
	snprintf(sql, sizeof sql,
	    "CREATE SCHEMA %s; CREATE TABLE %s.documents (id bigint PRIMARY KEY, emb real[], "
	    "title text)",
	    schema, schema);
	pg_harness_exec(c, sql);
	snprintf(sql, sizeof sql, "COPY %s.documents FROM STDIN", schema);
	PGresult *r = PQexec(c, sql);
	CHECK(PQresultStatus(r) == PGRES_COPY_IN, "COPY: %s", PQerrorMessage(c));
	PQclear(r);
	char line[DIM * 16 + 64];
	float v[DIM];
	for (int id = 1; id <= n; id++) {
		size_t len = (size_t)sprintf(line, "%d\t{", id);
		vecio_generate((uint64_t)seed, (uint64_t)id, 1, DIM, v);
		for (int d = 0; d < DIM; d++)
			len += (size_t)sprintf(line + len, "%s%.9g", d ? "," : "", v[d]);
		len += (size_t)sprintf(line + len, "}\tdoc %d of %s\n", id, schema);
		CHECK(PQputCopyData(c, line, (int)len) == 1, "COPY: %s", PQerrorMessage(c));
	}
	CHECK(PQputCopyEnd(c, NULL) == 1, "COPY end: %s", PQerrorMessage(c));
	r = PQgetResult(c);
	CHECK(PQresultStatus(r) == PGRES_COMMAND_OK, "COPY: %s", PQerrorMessage(c));
	PQclear(r);
}

int
main(void)
{
	pg_harness_start(&pg);
	harness_cluster_start(&cl, 2);
	PGconn *pc = pg_harness_connect(&pg);
	int total = 0;
	for (int i = 0; i < SCHEMAS; i++) {
		char s[32];
		snprintf(s, sizeof s, "tenant_%02d", i);
		load_schema(pc, s, 100 + i, rows_of(i));
		total += rows_of(i);
	}
	load_schema(pc, "other", 99, 10);
	pg_harness_exec(pc,
	    "CREATE SCHEMA tenant_nodocs; CREATE TABLE tenant_nodocs.notes (x int);"
	    "ANALYZE");
	shoal_client *c = it_connect(&cl);

	/* start, throttled, and cancel once a few schemas are complete */
	int rc = harness_run_cli(&cl, out, sizeof out, "import", "pg", "--dsn", pg.dsn, "--schemas",
	    "tenant_%", "--table", "documents", "--id-col", "id", "--vector-col", "emb",
	    "--payload-cols", "title", "--collection", "documents", "--max-rate", "2500", "--batch",
	    "100", "--detach", NULL);
	CHECK(rc == 0, "start: exit %d\n%s", rc, out);
	/* "import ID started: ..." on stderr, ID alone on stdout */
	char id[64] = "";
	const char *p = strstr(out, "import ");
	CHECK(p != NULL && sscanf(p, "import %63s", id) == 1, "no job id in:\n%s", out);
	shoal_import_info *in = NULL;
	shoal_status st;
	CHECK(shoal_import_get(c, id, &in, &st) == SHOAL_OK, "get %s: %s", id, st.msg);
	CHECK(in->units_total == SCHEMAS, "%u schemas planned, want %d", in->units_total, SCHEMAS);
	CHECK(strstr(in->notice, "1 schema(s) matching 'tenant_%' have no table 'documents'") !=
	        NULL,
	    "notice: %s", in->notice);
	for (int i = 0; i < 400; i++) {
		uint32_t done = in->units_done;
		shoal_import_info_free(in);
		in = NULL;
		if (done >= 5)
			break;
		sleep_ms(50);
		CHECK(shoal_import_get(c, id, &in, &st) == SHOAL_OK, "get: %s", st.msg);
		CHECK(in->state == SHOAL_IMPORT_RUNNING, "import ended early: %s",
		    shoal_import_state_name(in->state));
	}
	CHECK(in == NULL, "five schemas were not done within 20 s");
	rc = harness_run_cli(&cl, out, sizeof out, "import", "cancel", id, NULL);
	CHECK(rc == 1 && strstr(out, "cancelled"), "cancel: exit %d\n%s", rc, out);
	CHECK(shoal_import_get(c, id, &in, &st) == SHOAL_OK, "get: %s", st.msg);
	uint64_t ck = in->rows_done;
	CHECK(in->state == SHOAL_IMPORT_CANCELLED && ck > 0 && ck < (uint64_t)total,
	    "after cancel: %s at %" PRIu64, shoal_import_state_name(in->state), ck);
	printf("cancelled after %u schemas, checkpoint at %" PRIu64 " rows\n", in->units_done, ck);
	shoal_import_info_free(in);

	/* resume: the complete schemas are skipped, the rest imported */
	rc = harness_run_cli(&cl, out, sizeof out, "import", "pg", "--dsn", pg.dsn, "--schemas",
	    "tenant_%", "--table", "documents", "--id-col", "id", "--vector-col", "emb",
	    "--payload-cols", "title", "--collection", "documents", "--resume", NULL);
	CHECK(rc == 0, "resume: exit %d\n%s", rc, out);
	CHECK(shoal_import_get(c, id, &in, &st) == SHOAL_OK, "get: %s", st.msg);
	CHECK(in->state == SHOAL_IMPORT_SUCCEEDED && in->rows_imported == (uint64_t)total &&
	        in->rows_done == (uint64_t)total && in->units_done == SCHEMAS && in->runs == 2 &&
	        in->resumed_from == ck,
	    "after resume: %s, %" PRIu64 " of %d rows, %u schemas, %u runs, resumed at %" PRIu64,
	    shoal_import_state_name(in->state), in->rows_imported, total, in->units_done, in->runs,
	    in->resumed_from);
	shoal_import_info_free(in);

	/* the tenants: one per schema, exact rows and vectors */
	shoal_tenant_info *tl;
	size_t nt;
	OK(shoal_tenant_list(c, &tl, &nt, &st_));
	CHECK(nt == SCHEMAS,
	    "%zu tenants, want %d (one per schema; 'other' and "
	    "'tenant_nodocs' must not be imported)",
	    nt, SCHEMAS);
	shoal_cluster_info *ci;
	OK(shoal_cluster_status(c, &ci, &st_));
	int per_worker[2] = {0, 0};
	for (size_t t = 0; t < nt; t++) {
		int i = -1;
		CHECK(sscanf(tl[t].name, "tenant_%d", &i) == 1 && i >= 0 && i < SCHEMAS,
		    "unexpected tenant %s", tl[t].name);
		int w = -1;
		for (size_t k = 0; k < ci->n_workers && k < 2; k++)
			if (strcmp(ci->workers[k].name, tl[t].worker) == 0)
				w = (int)k;
		CHECK(w >= 0, "tenant %s is on unknown worker %s", tl[t].name, tl[t].worker);
		per_worker[w]++;
		int n = rows_of(i);
		uint64_t count = 0;
		OK(shoal_count(c, tl[t].name, "documents", &count, &st_));
		CHECK(count == (uint64_t)n, "%s: %" PRIu64 " points, want %d", tl[t].name, count,
		    n);
		uint64_t *ids = malloc((size_t)n * sizeof *ids);
		for (int k = 0; k < n; k++)
			ids[k] = (uint64_t)k + 1;
		shoal_get_result *g;
		OK(shoal_get(c, tl[t].name, "documents", ids, (size_t)n, true, &g, &st_));
		CHECK(g->n_points == (size_t)n, "%s: get found %zu of %d", tl[t].name, g->n_points,
		    n);
		for (size_t k = 0; k < g->n_points; k++) {
			float want[DIM];
			vecio_generate((uint64_t)(100 + i), g->points[k].id, 1, DIM, want);
			CHECK(memcmp(g->points[k].vector, want, sizeof want) == 0,
			    "%s: point %" PRIu64 " has another vector", tl[t].name,
			    g->points[k].id);
		}
		shoal_get_result_free(g);
		free(ids);
	}
	printf("20 tenants placed: %d on %s, %d on %s\n", per_worker[0], ci->workers[0].name,
	    per_worker[1], ci->n_workers > 1 ? ci->workers[1].name : "-");
	shoal_cluster_info_free(ci);
	shoal_tenant_list_free(tl);

	shoal_close(c);
	PQfinish(pc);
	harness_cluster_stop(&cl);
	pg_harness_stop(&pg);
	printf("it_import_schemas: OK\n");
	return 0;
}
