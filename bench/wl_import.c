/* wl_import.c -- the import workload: shoal's import from PostgreSQL
 * (`shoal import pg`, docs/import.md) against loading the same rows into
 * pgvector.
 *
 * The question it answers: my vectors are in PostgreSQL; how long until
 * they are searchable in shoal, compared with what pgvector needs to make
 * them searchable there (COPY, then CREATE INDEX ... USING hnsw)?
 *
 * shoal target: the base set is written (untimed) into a PostgreSQL table
 * of the --pg server, `<run>_import_src (id bigint PRIMARY KEY, emb
 * real[])` with id = bench id + 1 (the shoal target's id convention), and,
 * when the server has pgvector, into `<run>_import_vec` with a
 * `vector(dim)` column (built from the first by PostgreSQL's cast).  For
 * each table, a collection is created with the run's metric, M and
 * efConstruction, and the import is started through the client API
 * (shoal_import_start, then shoal_import_get every 50 ms until it is no
 * longer running), exactly what `shoal import pg --table T --id-col id
 * --vector-col emb --tenant ... --collection ...` does with its defaults
 * (batch 1000, 4 in flight).  Measured: `seconds` from the start request
 * to the job observed succeeded (the coordinator connected, COPYed,
 * decoded, upserted, every batch acknowledged), and `build_seconds` from
 * then until searchable: every point counted and the last one found by a
 * search, then (>= 2000 points) the HNSW index observed answering, as the
 * ingest workload measures (searchable_exact_s: when the first part was
 * done, i.e. searches answered by an exact scan).  The coordinator connects to the DSN itself,
 * so --pg must be reachable from the coordinator's host (with --local it
 * is the same host).  A job that skips a row or imports fewer rows than
 * the base set fails the result.
 *
 * pgvector target: COPY (FORMAT binary) of the same rows into a table with
 * a vector(dim) column, then CREATE INDEX ... USING hnsw with the same M
 * and efConstruction: the target's own load(), so `seconds` is the COPY
 * and `build_seconds` the index build.  When the ingest workload already
 * measured exactly that in this run (the same base set), its figures are
 * reused instead of building a second index, and the report's notes say
 * so.
 *
 * Other targets (faiss) have nothing to import into: a skipped result
 * says so.  Without --pg the workload is skipped with that reason.
 *
 * Threading: main thread.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "bench.h"
#include "shoal_client.h"
#include "util.h"

#define IMPORT_POLL_MS 50
#define IMPORT_TIMEOUT_S 7200.0

/* A growing byte buffer for the binary COPY stream. */
typedef struct cbuf {
	unsigned char *p;
	size_t len, cap;
} cbuf;

static void
cb_need(cbuf *b, size_t n)
{
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2;
		b->p = xrealloc(b->p, b->cap);
	}
}

static void
cb_be(cbuf *b, uint64_t v, int bytes)
{
	cb_need(b, (size_t)bytes);
	for (int i = bytes - 1; i >= 0; i--)
		b->p[b->len++] = (unsigned char)(v >> (8 * i));
}

static shoal_code
sql_exec(PGconn *c, const char *sql, shoal_status *st)
{
	PGresult *r = PQexec(c, sql);
	ExecStatusType s = PQresultStatus(r);
	PQclear(r);
	if (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK)
		return SHOAL_OK;
	char msg[400];
	snprintf(msg, sizeof msg, "%s", PQerrorMessage(c));
	msg[strcspn(msg, "\n")] = '\0';
	return shoal_status_set(st, SHOAL_INTERNAL, "%s: %.200s", msg, sql);
}

/* COPY of ds's base set into table (id bigint, emb real[]) in the binary
 * format: per row 2 fields, the id (8 bytes) and a one-dimensional float4
 * array (ndim, has-null, element oid 700, length, lower bound 1, then
 * length-prefixed elements). */
static shoal_code
copy_real_arrays(PGconn *c, const char *table, const bench_dataset *ds, shoal_status *st)
{
	char sql[200];
	snprintf(sql, sizeof sql, "COPY %s (id, emb) FROM STDIN (FORMAT binary)", table);
	PGresult *r = PQexec(c, sql);
	bool ok = PQresultStatus(r) == PGRES_COPY_IN;
	PQclear(r);
	if (!ok)
		return sql_exec(c, sql, st); /* for the message */
	static const unsigned char sig[11] = {'P', 'G', 'C', 'O', 'P', 'Y', '\n', 0xff, '\r', '\n',
		0};
	cbuf b = {0};
	cb_need(&b, 19);
	memcpy(b.p, sig, 11);
	b.len = 11;
	cb_be(&b, 0, 4); /* flags */
	cb_be(&b, 0, 4); /* header extension */
	bench_ticker tk = {0};
	for (size_t i = 0; i < ds->n && ok; i++) {
		const float *v = ds->base + i * ds->dim;
		cb_be(&b, 2, 2);
		cb_be(&b, 8, 4);
		cb_be(&b, (uint64_t)i + 1, 8);
		cb_be(&b, 20 + 8 * (uint64_t)ds->dim, 4);
		cb_be(&b, 1, 4);   /* ndim */
		cb_be(&b, 0, 4);   /* no NULLs */
		cb_be(&b, 700, 4); /* float4 */
		cb_be(&b, ds->dim, 4);
		cb_be(&b, 1, 4); /* lower bound */
		for (uint32_t k = 0; k < ds->dim; k++) {
			uint32_t w;
			memcpy(&w, &v[k], 4);
			cb_be(&b, 4, 4);
			cb_be(&b, w, 4);
		}
		if (b.len >= (1u << 20) || i + 1 == ds->n) {
			if (i + 1 == ds->n)
				cb_be(&b, 0xffff, 2); /* trailer */
			ok = PQputCopyData(c, (const char *)b.p, (int)b.len) == 1;
			b.len = 0;
			if (bench_ticker_due(&tk))
				bench_progress("[shoal] import: writing the source table %s: %zu/%zu rows",
				    table, i + 1, ds->n);
		}
	}
	free(b.p);
	if (PQputCopyEnd(c, ok ? NULL : "shoal-bench: send failed") != 1)
		ok = false;
	r = PQgetResult(c);
	ok = ok && PQresultStatus(r) == PGRES_COMMAND_OK;
	char msg[400];
	snprintf(msg, sizeof msg, "%s", PQresultErrorMessage(r));
	PQclear(r);
	while ((r = PQgetResult(c)) != NULL)
		PQclear(r);
	bench_progress_done();
	if (!ok) {
		msg[strcspn(msg, "\n")] = '\0';
		return shoal_status_set(st, SHOAL_INTERNAL, "COPY into %s: %s", table,
		    msg[0] ? msg : PQerrorMessage(c));
	}
	return SHOAL_OK;
}

/* The source tables: names[0] (real[]) always, names[1] (vector) when the
 * server has pgvector (else names[1] = "" and why says why not). */
static shoal_code
make_sources(PGconn *c, const bench_options *o, const bench_dataset *ds, char names[2][64],
    char *why, size_t why_cap, shoal_status *st)
{
	char run[40], sql[400];
	size_t j = 0;
	for (const char *s = o->cfg.run_id; *s && j + 1 < sizeof run; s++)
		run[j++] = isalnum((unsigned char)*s) ? (char)tolower((unsigned char)*s) : '_';
	run[j] = '\0';
	snprintf(names[0], 64, "%s_import_src", run);
	snprintf(names[1], 64, "%s_import_vec", run);

	bench_progress("[shoal] import: writing the source table %s (%zu rows)", names[0], ds->n);
	snprintf(sql, sizeof sql, "CREATE TABLE %s (id bigint, emb real[])", names[0]);
	shoal_code rv = sql_exec(c, sql, st);
	if (rv == SHOAL_OK)
		rv = copy_real_arrays(c, names[0], ds, st);
	if (rv == SHOAL_OK) {
		/* the key after the load, as a bulk load does */
		snprintf(sql, sizeof sql, "ALTER TABLE %s ADD PRIMARY KEY (id); ANALYZE %s",
		    names[0], names[0]);
		rv = sql_exec(c, sql, st);
	}
	if (rv != SHOAL_OK)
		return rv;

	shoal_status vst;
	if (sql_exec(c, "CREATE EXTENSION IF NOT EXISTS vector", &vst) != SHOAL_OK) {
		snprintf(why, why_cap, "no pgvector on the --pg server (%s)", vst.msg);
		names[1][0] = '\0';
		return SHOAL_OK;
	}
	bench_progress("[shoal] import: writing the source table %s (vector(%u))", names[1],
	    ds->dim);
	snprintf(sql, sizeof sql,
	    "CREATE TABLE %s AS SELECT id, emb::vector(%u) AS emb FROM %s; "
	    "ALTER TABLE %s ADD PRIMARY KEY (id); ANALYZE %s",
	    names[1], ds->dim, names[0], names[1], names[1]);
	rv = sql_exec(c, sql, st);
	bench_progress_done();
	return rv;
}

/* One shoal import of `table` (column type `source`) into a new collection:
 * fills res. */
static shoal_code
shoal_import_one(bench_run *run, const bench_options *o, const bench_target_ops *ops,
    bench_target *t, const char *table, const char *source, bench_result *res, shoal_status *st)
{
	const bench_dataset *ds = run->ds;
	shoal_client *cl = bench_shoal_client(t);
	bench_coll *coll = NULL;
	char cname[64];
	snprintf(cname, sizeof cname, "import-%s", strcmp(source, "vector") == 0 ? "vector" : "real");
	shoal_code rv = ops->create(t, NULL, cname, ds->dim, &coll, st);
	if (rv != SHOAL_OK)
		return rv;

	shoal_import_spec spec = {
		.dsn = o->cfg.pg_dsn,
		.table = table,
		.id_col = "id",
		.vector_col = "emb",
		.tenant = bench_shoal_tenant(coll),
		.collection = bench_shoal_collection(coll),
	};
	shoal_import_info *info = NULL;
	double t0 = bench_now_s();
	rv = shoal_import_start(cl, &spec, &info, st);
	if (rv != SHOAL_OK) {
		shoal_status_prefix(st, "StartImport of %s", table);
		ops->drop(t, coll);
		return rv;
	}
	char id[SHOAL_NAME_MAX + 1];
	snprintf(id, sizeof id, "%s", info->id);
	bench_ticker tk = {0};
	while (info->state == SHOAL_IMPORT_RUNNING && rv == SHOAL_OK) {
		double el = bench_now_s() - t0;
		if (bench_ticker_due(&tk))
			bench_progress("[shoal] import from %s: %llu of ~%llu rows (%.0f rows/s, %.1f s)",
			    source, (unsigned long long)info->rows_done,
			    (unsigned long long)info->rows_estimated, info->rows_per_sec, el);
		if (el > IMPORT_TIMEOUT_S) {
			rv = shoal_status_set(st, SHOAL_DEADLINE_EXCEEDED,
			    "import %s still running after %.0f s", id, el);
			shoal_import_cancel(cl, id, NULL, NULL);
			break;
		}
		util_sleep_ms(IMPORT_POLL_MS);
		shoal_import_info_free(info);
		info = NULL;
		rv = shoal_import_get(cl, id, &info, st);
	}
	double t1 = bench_now_s();
	bench_progress_done();
	if (rv == SHOAL_OK && info->state != SHOAL_IMPORT_SUCCEEDED)
		rv = shoal_status_set(st, info->error_code ? info->error_code : SHOAL_INTERNAL,
		    "import %s %s: %s", id, shoal_import_state_name(info->state), info->error);
	if (rv == SHOAL_OK && (info->rows_imported != ds->n || info->rows_skipped != 0))
		rv = shoal_status_set(st, SHOAL_INTERNAL,
		    "import %s imported %llu rows and skipped %llu; the table has %zu", id,
		    (unsigned long long)info->rows_imported, (unsigned long long)info->rows_skipped,
		    ds->n);
	shoal_import_info_free(info);

	bool observed = false;
	if (rv == SHOAL_OK) {
		bench_progress("[shoal] import from %s done in %.2f s; waiting until searchable",
		    source, t1 - t0);
		rv = bench_shoal_wait_searchable(t, coll, ds->base, ds->n, 0, st);
		bench_progress_done();
	}
	double t_exact = bench_now_s();
	/* as the ingest workload: below ~2000 points there is no index to wait for */
	if (rv == SHOAL_OK && ds->n >= 2000)
		rv = bench_wait_index(run, o, ops, t, coll, ds->base, ds->n, "the imported collection",
		    &observed, st);
	double t2 = bench_now_s();
	ops->drop(t, coll);
	if (rv != SHOAL_OK)
		return rv;
	res->vectors = ds->n;
	res->seconds = t1 - t0;
	res->rows_per_s = (double)ds->n / res->seconds;
	res->build_seconds = t2 - t1;
	res->index_wait = ds->n >= 2000;
	res->index_observed = observed;
	res->searchable_exact_s = t_exact - t0;
	fprintf(stderr,
	    "[shoal] import from PostgreSQL (%s): %zu rows in %.2f s (%.0f rows/s), searchable "
	    "after %.2f s\n",
	    source, ds->n, res->seconds, res->rows_per_s, t2 - t0);
	return SHOAL_OK;
}

static bool
run_shoal(bench_run *run, const bench_options *o, const bench_target_ops *ops, bench_target *t)
{
	const bench_dataset *ds = run->ds;
	shoal_status st;
	char names[2][64] = {"", ""}, why[600] = "";
	PGconn *c = PQconnectdb(o->cfg.pg_dsn);
	shoal_code rv = SHOAL_OK;
	if (PQstatus(c) != CONNECTION_OK) {
		rv = shoal_status_set(&st, SHOAL_UNAVAILABLE, "cannot connect to --pg: %s",
		    PQerrorMessage(c));
		st.msg[strcspn(st.msg, "\n")] = '\0';
	} else {
		PQclear(PQexec(c, "SET client_min_messages = warning"));
		rv = make_sources(c, o, ds, names, why, sizeof why, &st);
	}
	bool ok = true;
	if (rv != SHOAL_OK) {
		char reason[600];
		snprintf(reason, sizeof reason, "writing the source table: %s", st.msg);
		fprintf(stderr, "[shoal] import failed: %s\n", reason);
		bench_result_fail(bench_result_add(run, ops->name, "import"), RES_FAILED, reason);
		ok = false;
	}
	const char *sources[2] = {"real[]", "vector"};
	for (int i = 0; i < 2 && rv == SHOAL_OK; i++) {
		bench_result *res = bench_result_add(run, ops->name, "import");
		snprintf(res->source, sizeof res->source, "%s", sources[i]);
		if (names[i][0] == '\0') {
			bench_result_fail(res, RES_SKIPPED, why);
			bench_note(run, "import from a vector column: skipped: %s", why);
			continue;
		}
		shoal_status ist;
		if (shoal_import_one(run, o, ops, t, names[i], sources[i], res, &ist) != SHOAL_OK) {
			fprintf(stderr, "[shoal] import from %s failed: %s\n", sources[i], ist.msg);
			bench_result_fail(res, RES_FAILED, ist.msg);
			ok = false;
		}
	}
	if (!o->cfg.keep && PQstatus(c) == CONNECTION_OK) {
		for (int i = 0; i < 2; i++) {
			char sql[200];
			if (names[i][0] == '\0')
				continue;
			snprintf(sql, sizeof sql, "DROP TABLE IF EXISTS %s", names[i]);
			sql_exec(c, sql, NULL);
		}
	}
	PQfinish(c);
	return ok;
}

static bool
run_pgvector(bench_run *run, const bench_target_ops *ops, bench_target *t)
{
	const bench_dataset *ds = run->ds;
	bench_result *res = bench_result_add(run, ops->name, "import");
	snprintf(res->source, sizeof res->source, "vector");
	/* the ingest workload of this run measured this very thing */
	for (size_t i = 0; i < run->n_results; i++) {
		const bench_result *x = &run->results[i];
		if (x->status == RES_OK && strcmp(x->target, ops->name) == 0 &&
		    strcmp(x->workload, "ingest") == 0 && x->vectors == ds->n) {
			res->vectors = x->vectors;
			res->seconds = x->load_seconds;
			res->build_seconds = x->build_seconds;
			res->rows_per_s = (double)x->vectors / x->load_seconds;
			bench_note(run,
			    "import, pgvector: the COPY + CREATE INDEX figures are those of this run's "
			    "ingest workload (the same rows and index)");
			return true;
		}
	}
	shoal_status st;
	bench_coll *coll = NULL;
	bench_load_times lt = {0};
	bench_ingest_progress ip = {.target = ops->name, .what = "import (COPY + CREATE INDEX)",
		.total = ds->n, .t0 = bench_now_s()};
	shoal_code rv = ops->create(t, NULL, "import", ds->dim, &coll, &st);
	if (rv == SHOAL_OK)
		rv = ops->load(t, coll, ds->base, ds->n, 0, &lt, bench_on_ingest_progress, &ip, &st);
	bench_progress_done();
	if (coll)
		ops->drop(t, coll);
	if (rv != SHOAL_OK) {
		fprintf(stderr, "[%s] import failed: %s\n", ops->name, st.msg);
		bench_result_fail(res, RES_FAILED, st.msg);
		return false;
	}
	res->vectors = ds->n;
	res->seconds = lt.load_s;
	res->rows_per_s = (double)ds->n / lt.load_s;
	res->build_seconds = lt.build_s;
	fprintf(stderr, "[%s] import: COPY %zu rows %.2f s (%.0f rows/s) + CREATE INDEX %.2f s\n",
	    ops->name, ds->n, lt.load_s, res->rows_per_s, lt.build_s);
	return true;
}

bool
bench_wl_import(bench_run *run, const bench_options *o, const bench_target_ops *ops,
    bench_target *t, bench_coll *main_coll, const double *kth)
{
	(void)main_coll;
	(void)kth;
	if (ops == &bench_pg_ops)
		return run_pgvector(run, ops, t);
	if (ops != &bench_shoal_ops) {
		bench_result_fail(bench_result_add(run, ops->name, "import"), RES_SKIPPED,
		    "not applicable: the import workload compares shoal's PostgreSQL import with "
		    "pgvector's COPY + CREATE INDEX");
		return true;
	}
	if (o->cfg.pg_dsn == NULL) {
		bench_result_fail(bench_result_add(run, ops->name, "import"), RES_SKIPPED,
		    "no PostgreSQL to import from: give --pg DSN (reachable from the coordinator)");
		return true;
	}
	return run_shoal(run, o, ops, t);
}

/* ===================================================================
 * Output (called by report.c)
 * =================================================================== */

void
bench_import_json(FILE *f, const bench_result *x)
{
	double total = x->seconds + x->build_seconds;
	fprintf(f,
	    ", \"source\": \"%s\", \"rows\": %llu, \"seconds\": %.3f, \"rows_per_s\": %.1f, "
	    "\"build_seconds\": %.3f, \"searchable_seconds\": %.3f, \"searchable_rows_per_s\": "
	    "%.1f",
	    x->source, (unsigned long long)x->vectors, x->seconds, x->rows_per_s, x->build_seconds,
	    total, total > 0 ? (double)x->vectors / total : 0.0);
	if (x->index_wait)
		fprintf(f, ", \"searchable_exact_seconds\": %.3f, \"index_observed\": %s",
		    x->searchable_exact_s, x->index_observed ? "true" : "false");
}

void
bench_import_markdown(FILE *f, const bench_run *r)
{
	bool any = false;
	for (size_t i = 0; i < r->n_results; i++)
		any |= strcmp(r->results[i].workload, "import") == 0 &&
		    r->results[i].status == RES_OK;
	if (!any)
		return;
	fputs("## Import from PostgreSQL (time to searchable)\n\n"
	      "shoal: `shoal import pg` of the base set from a PostgreSQL table (start request to "
	      "job succeeded), then until searchable (index observed). pgvector: COPY of the same "
	      "rows into a vector table, then CREATE INDEX ... USING hnsw.\n\n"
	      "| target | source column | rows | import / COPY s | rows/s | searchable by exact "
	      "scan after s | index build / catch-up s | to searchable s | searchable rows/s |\n"
	      "|---|---|---:|---:|---:|---:|---:|---:|---:|\n",
	    f);
	for (size_t i = 0; i < r->n_results; i++) {
		const bench_result *x = &r->results[i];
		if (strcmp(x->workload, "import") != 0 || x->status != RES_OK)
			continue;
		double total = x->seconds + x->build_seconds;
		char exact[32] = "-";
		if (x->index_wait)
			snprintf(exact, sizeof exact, "%.2f", x->searchable_exact_s);
		fprintf(f, "| %s | %s | %llu | %.2f | %.0f | %s | %.2f%s | %.2f | %.0f |\n", x->target,
		    x->source, (unsigned long long)x->vectors, x->seconds, x->rows_per_s, exact,
		    x->build_seconds, x->index_wait && !x->index_observed ? " (index not observed)" : "",
		    total, total > 0 ? (double)x->vectors / total : 0.0);
	}
	fputs("\n", f);
}
