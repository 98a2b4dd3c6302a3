/* target_pg.c -- the "pgvector" target: PostgreSQL + pgvector via libpq.
 *
 * What a careful pgvector user does, following pgvector's README:
 *   - one table per space: (id bigint PRIMARY KEY, embedding vector(dim)),
 *     so that points are addressable by id as in shoal;
 *   - bulk load with COPY ... FROM STDIN (FORMAT BINARY), then build the
 *     index afterwards ("add any indexes after loading"), with
 *     maintenance_work_mem raised so the graph fits (--pg-maintenance-work-
 *     mem, default 1GB) and the server's max_parallel_maintenance_workers
 *     unless --pg-parallel-workers says otherwise;
 *   - CREATE INDEX ... USING hnsw (embedding vector_<metric>_ops) WITH
 *     (m = M, ef_construction = EFC), the same parameters as the others;
 *   - VACUUM (ANALYZE) and, where allowed, CHECKPOINT after the build, not
 *     timed, so that autovacuum and checkpoints do not run in the middle
 *     of the search sweep;
 *   - search with a prepared statement, binary parameter and result:
 *     SELECT id FROM t ORDER BY embedding <op> $1::vector LIMIT k,
 *     with hnsw.ef_search set per sweep point.  enable_seqscan is off in
 *     search sessions so that the HNSW index is what is measured, also on
 *     small tenant tables where the planner might prefer an exact scan.
 *   The tenant workload gives every tenant its own table and index (the
 *   schema-per-tenant layout of Citus, on one server).
 *   The filter workload adds a bigint column (load_attr) and searches
 *   with WHERE col < X on the same HNSW index scan (filter_view): pgvector
 *   filters the index scan's ef_search candidates afterwards, so a
 *   selective filter returns fewer than k rows, which the workload
 *   reports.  No shared collections here (Citus is not installed): the
 *   scatter workload searches one table.
 *
 * Skipping: open() fails with FAILED_PRECONDITION when the server has no
 * pgvector (or one older than 0.5.0, the first with HNSW), and with
 * UNAVAILABLE when it cannot connect; main.c then skips the target and
 * says why in the output and the report.
 *
 * Wire formats (all big-endian): COPY BINARY is the 11-byte signature,
 * int32 flags, int32 extension length, then per row int16 field count and
 * (int32 length, bytes) per field, and an int16 -1 trailer.  pgvector's
 * binary vector is int16 dim, int16 unused (0), float4[dim].
 *
 * Threading: the target's own connection is used by the loading thread;
 * each search session has its own connection.
 */
#include <ctype.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "bench.h"
#include "util.h"
#include "vecmath.h"

#define PG_COPY_FLUSH (1u << 20)
#define PG_MAX_K 4096

struct bench_target {
	bench_config cfg;
	PGconn *conn;
	char server_version[64];
	char pgvector_version[32];
	int next_coll;
};

struct bench_coll {
	char table[64];
	uint32_t dim;
	int64_t first_id;
	int num;              /* prepared statement "q<num>" */
	char where[96];       /* a filter view: "WHERE ..." of its searches */
	bool view;            /* drop() frees only this handle */
	bool iterative;       /* a filter view searched with hnsw.iterative_scan */
};

struct bench_session {
	bench_target *t;
	PGconn *conn;
	bool *prepared;       /* by coll num */
	int n_prepared;
	unsigned char *param; /* 4 + 4 * dim */
	uint32_t param_dim;
	bool iterative;       /* hnsw.iterative_scan is relaxed_order in this session */
};

char bench_pg_server_version[64];

static void
notice_processor(void *arg, const char *message)
{
	(void)arg;
	/* "extension already exists, skipping" etc. are noise; pgvector's
	 * "graph no longer fits into maintenance_work_mem" is not */
	if (strstr(message, "already exists, skipping") || strstr(message, "does not exist, skipping"))
		return;
	bench_progress_done();
	fprintf(stderr, "[pgvector] server: %s", message);
}

static PGconn *
pg_connect(const char *dsn, shoal_status *st)
{
	PGconn *c = PQconnectdb(dsn);
	if (c == NULL) {
		shoal_status_set(st, SHOAL_RESOURCE_EXHAUSTED, "libpq: out of memory");
		return NULL;
	}
	if (PQstatus(c) != CONNECTION_OK) {
		char msg[400];
		snprintf(msg, sizeof msg, "%s", PQerrorMessage(c));
		msg[strcspn(msg, "\n")] = '\0';
		shoal_status_set(st, SHOAL_UNAVAILABLE, "cannot connect to PostgreSQL (%s): %s", dsn,
		    msg);
		PQfinish(c);
		return NULL;
	}
	PQsetNoticeProcessor(c, notice_processor, NULL);
	return c;
}

/* Runs a command; fills st with the server's message on failure. */
static shoal_code
pg_exec(PGconn *c, const char *sql, shoal_status *st)
{
	PGresult *r = PQexec(c, sql);
	ExecStatusType s = PQresultStatus(r);
	if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
		char msg[400];
		snprintf(msg, sizeof msg, "%s", PQresultErrorMessage(r));
		msg[strcspn(msg, "\n")] = '\0';
		PQclear(r);
		return shoal_status_set(st, SHOAL_INTERNAL, "%s: %s", sql, msg);
	}
	PQclear(r);
	return SHOAL_OK;
}

/* Runs a long command (CREATE INDEX) asynchronously and shows its
 * progress from pg_stat_progress_create_index, read through a second
 * connection, about once a second. */
static shoal_code
pg_exec_progress(bench_target *t, const char *sql, shoal_status *st)
{
	if (!PQsendQuery(t->conn, sql))
		return shoal_status_set(st, SHOAL_INTERNAL, "%s: %s", sql, PQerrorMessage(t->conn));
	PGconn *mon = PQconnectdb(t->cfg.pg_dsn);
	if (mon && PQstatus(mon) != CONNECTION_OK) {
		PQfinish(mon);
		mon = NULL;
	}
	char q[300];
	snprintf(q, sizeof q,
	    "SELECT phase, tuples_done, tuples_total FROM pg_stat_progress_create_index "
	    "WHERE pid = %d",
	    PQbackendPID(t->conn));
	double t0 = bench_now_s();
	bool ok = true;
	while (ok) {
		if (!PQconsumeInput(t->conn)) {
			ok = false;
			break;
		}
		if (!PQisBusy(t->conn))
			break;
		struct pollfd pfd = {.fd = PQsocket(t->conn), .events = POLLIN};
		poll(&pfd, 1, 1000);
		if (mon) {
			PGresult *r = PQexec(mon, q);
			if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
				bench_progress("[pgvector] CREATE INDEX: %s, %s%s%s tuples (%.0f s)",
				    PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1),
				    strcmp(PQgetvalue(r, 0, 2), "0") ? "/" : "",
				    strcmp(PQgetvalue(r, 0, 2), "0") ? PQgetvalue(r, 0, 2) : "",
				    bench_now_s() - t0);
			else
				bench_progress("[pgvector] CREATE INDEX (%.0f s)", bench_now_s() - t0);
			PQclear(r);
		}
	}
	if (mon)
		PQfinish(mon);
	bench_progress_done();
	shoal_code rv = SHOAL_OK;
	if (!ok)
		rv = shoal_status_set(st, SHOAL_INTERNAL, "%s: %s", sql, PQerrorMessage(t->conn));
	PGresult *r;
	while ((r = PQgetResult(t->conn)) != NULL) {
		if (rv == SHOAL_OK && PQresultStatus(r) != PGRES_COMMAND_OK) {
			char msg[400];
			snprintf(msg, sizeof msg, "%s", PQresultErrorMessage(r));
			msg[strcspn(msg, "\n")] = '\0';
			rv = shoal_status_set(st, SHOAL_INTERNAL, "%s: %s", sql, msg);
		}
		PQclear(r);
	}
	return rv;
}

/* First column of the first row of a query, or "" (no row / error). */
static void
pg_value(PGconn *c, const char *sql, char *out, size_t cap)
{
	PGresult *r = PQexec(c, sql);
	out[0] = '\0';
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0)
		snprintf(out, cap, "%s", PQgetvalue(r, 0, 0));
	PQclear(r);
}

static shoal_code
pg_open(const bench_config *cfg, bench_target **out, shoal_status *st)
{
	if (cfg->pg_dsn == NULL)
		return shoal_status_set(st, SHOAL_FAILED_PRECONDITION,
		    "no PostgreSQL: give --pg DSN (e.g. \"host=127.0.0.1 dbname=bench\")");
	PGconn *c = pg_connect(cfg->pg_dsn, st);
	if (c == NULL)
		return SHOAL_UNAVAILABLE;
	bench_target *t = xcalloc(1, sizeof *t);
	t->cfg = *cfg;
	t->conn = c;
	pg_value(c, "SHOW server_version", t->server_version, sizeof t->server_version);
	char *sp = strchr(t->server_version, ' ');
	if (sp)
		*sp = '\0';
	snprintf(bench_pg_server_version, sizeof bench_pg_server_version, "%s", t->server_version);

	shoal_status est;
	if (pg_exec(c, "CREATE EXTENSION IF NOT EXISTS vector", &est) != SHOAL_OK) {
		char avail[32];
		pg_value(c, "SELECT default_version FROM pg_available_extensions WHERE name = 'vector'",
		    avail, sizeof avail);
		if (avail[0] == '\0')
			shoal_status_set(st, SHOAL_FAILED_PRECONDITION,
			    "pgvector is not installed on this PostgreSQL %s server (CREATE EXTENSION "
			    "vector: extension not available); install your distribution's package, "
			    "e.g. postgresql-%.2s-pgvector, see bench/README.md",
			    t->server_version, t->server_version);
		else
			shoal_status_set(st, SHOAL_FAILED_PRECONDITION,
			    "pgvector %s is installed but CREATE EXTENSION failed: %s", avail, est.msg);
		PQfinish(c);
		free(t);
		return SHOAL_FAILED_PRECONDITION;
	}
	pg_value(c, "SELECT extversion FROM pg_extension WHERE extname = 'vector'",
	    t->pgvector_version, sizeof t->pgvector_version);
	int maj = 0, min = 0;
	if (sscanf(t->pgvector_version, "%d.%d", &maj, &min) != 2 || (maj == 0 && min < 5)) {
		shoal_status_set(st, SHOAL_FAILED_PRECONDITION,
		    "pgvector %s has no HNSW index (0.5.0 or later needed)", t->pgvector_version);
		PQfinish(c);
		free(t);
		return SHOAL_FAILED_PRECONDITION;
	}
	*out = t;
	return SHOAL_OK;
}

static void
pg_versions(bench_target *t, void (*put)(void *, const char *, const char *), void *arg)
{
	put(arg, "postgresql", t->server_version);
	put(arg, "pgvector", t->pgvector_version);
	char v[64];
	pg_value(t->conn, "SHOW max_parallel_maintenance_workers", v, sizeof v);
	put(arg, "pg_max_parallel_maintenance_workers", v);
	pg_value(t->conn, "SHOW shared_buffers", v, sizeof v);
	put(arg, "pg_shared_buffers", v);
}

static const char *
ops_class(int metric)
{
	return metric == VECMATH_L2 ? "vector_l2_ops" : metric == VECMATH_IP ? "vector_ip_ops"
	                                                                     : "vector_cosine_ops";
}

static const char *
operator(int metric)
{
	return metric == VECMATH_L2 ? "<->" : metric == VECMATH_IP ? "<#>" : "<=>";
}

/* Lower-case letters, digits and '_' only: safe unquoted identifiers. */
static void
ident_part(char *out, size_t cap, const char *s)
{
	size_t j = 0;
	for (; *s && j + 1 < cap; s++)
		out[j++] = isalnum((unsigned char)*s) ? (char)tolower((unsigned char)*s) : '_';
	out[j] = '\0';
}

static shoal_code
pg_create(bench_target *t, const char *group, const char *name, uint32_t dim, bench_coll **out,
    shoal_status *st)
{
	char run[24], g[24], n[24], sql[300];
	ident_part(run, sizeof run, t->cfg.run_id);
	ident_part(g, sizeof g, group ? group : "main");
	ident_part(n, sizeof n, name);
	bench_coll *c = xcalloc(1, sizeof *c);
	snprintf(c->table, sizeof c->table, "%.20s_%.20s_%.20s", run, g, n);
	c->dim = dim;
	c->num = t->next_coll++;
	snprintf(sql, sizeof sql, "CREATE TABLE %s (id bigint PRIMARY KEY, embedding vector(%u))",
	    c->table, dim);
	shoal_code rv = pg_exec(t->conn, sql, st);
	if (rv != SHOAL_OK) {
		free(c);
		return rv;
	}
	*out = c;
	return SHOAL_OK;
}

static void
put_vector(unsigned char *p, const float *v, uint32_t dim)
{
	util_put_be16(p, (uint16_t)dim);
	util_put_be16(p + 2, 0);
	for (uint32_t i = 0; i < dim; i++) {
		uint32_t w;
		memcpy(&w, &v[i], 4);
		util_put_be32(p + 4 + 4 * (size_t)i, w);
	}
}

static shoal_code
copy_fail(PGconn *conn, const char *what, shoal_status *st)
{
	char msg[400];
	snprintf(msg, sizeof msg, "%s", PQerrorMessage(conn));
	msg[strcspn(msg, "\n")] = '\0';
	return shoal_status_set(st, SHOAL_INTERNAL, "COPY %s: %s", what, msg);
}

/* load_attr, and load with attr NULL: (id, embedding) only, else also the
 * bigint column `field` (added to the empty table first). */
static shoal_code
copy_points(bench_target *t, bench_coll *c, const float *v, const int64_t *attr, size_t n,
    int64_t first_id, const char *field, bench_load_times *times,
    void (*progress)(void *, size_t), void *parg, shoal_status *st)
{
	char sql[400], fld[40] = "";
	c->first_id = first_id;
	if (attr) {
		ident_part(fld, sizeof fld, field);
		snprintf(sql, sizeof sql, "ALTER TABLE %s ADD COLUMN %s bigint", c->table, fld);
		shoal_code rv = pg_exec(t->conn, sql, st);
		if (rv != SHOAL_OK)
			return rv;
	}
	double t0 = bench_now_s();
	snprintf(sql, sizeof sql, "COPY %s (id, embedding%s%s) FROM STDIN WITH (FORMAT BINARY)",
	    c->table, attr ? ", " : "", fld);
	PGresult *r = PQexec(t->conn, sql);
	if (PQresultStatus(r) != PGRES_COPY_IN) {
		PQclear(r);
		return copy_fail(t->conn, c->table, st);
	}
	PQclear(r);

	size_t row = 2 + 4 + 8 + 4 + 4 + 4 * (size_t)c->dim + (attr ? 4 + 8 : 0);
	size_t cap = PG_COPY_FLUSH + row + 32;
	unsigned char *buf = xmalloc(cap);
	size_t len = 0;
	static const unsigned char sig[11] = {'P', 'G', 'C', 'O', 'P', 'Y', '\n', 0xff, '\r', '\n', 0};
	memcpy(buf, sig, 11);
	util_put_be32(buf + 11, 0);
	util_put_be32(buf + 15, 0);
	len = 19;
	bool ok = true;
	size_t last_progress = 0;
	for (size_t i = 0; i < n && ok; i++) {
		unsigned char *p = buf + len;
		util_put_be16(p, attr ? 3 : 2);
		util_put_be32(p + 2, 8);
		uint64_t id = (uint64_t)(first_id + (int64_t)i);
		util_put_be32(p + 6, (uint32_t)(id >> 32));
		util_put_be32(p + 10, (uint32_t)id);
		util_put_be32(p + 14, 4 + 4 * c->dim);
		put_vector(p + 18, v + i * c->dim, c->dim);
		if (attr) {
			unsigned char *a = p + 18 + 4 + 4 * (size_t)c->dim;
			util_put_be32(a, 8);
			util_put_be32(a + 4, (uint32_t)((uint64_t)attr[i] >> 32));
			util_put_be32(a + 8, (uint32_t)(uint64_t)attr[i]);
		}
		len += row;
		if (len >= PG_COPY_FLUSH) {
			ok = PQputCopyData(t->conn, (const char *)buf, (int)len) == 1;
			len = 0;
			if (progress && i + 1 - last_progress >= 5000) {
				progress(parg, i + 1);
				last_progress = i + 1;
			}
		}
	}
	if (ok) {
		util_put_be16(buf + len, 0xffff);
		len += 2;
		ok = PQputCopyData(t->conn, (const char *)buf, (int)len) == 1;
	}
	free(buf);
	if (PQputCopyEnd(t->conn, ok ? NULL : "shoal-bench: send failed") != 1)
		ok = false;
	r = PQgetResult(t->conn);
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		ok = false;
	char msg[400];
	snprintf(msg, sizeof msg, "%s", PQresultErrorMessage(r));
	PQclear(r);
	while ((r = PQgetResult(t->conn)) != NULL)
		PQclear(r);
	if (!ok) {
		msg[strcspn(msg, "\n")] = '\0';
		return shoal_status_set(st, SHOAL_INTERNAL, "COPY into %s: %s", c->table,
		    msg[0] ? msg : PQerrorMessage(t->conn));
	}
	if (progress)
		progress(parg, n);
	double t1 = bench_now_s();
	times->load_s = t1 - t0;

	shoal_code rv = SHOAL_OK;
	if (t->cfg.pg_maintenance_work_mem) {
		snprintf(sql, sizeof sql, "SET maintenance_work_mem = '%s'",
		    t->cfg.pg_maintenance_work_mem);
		rv = pg_exec(t->conn, sql, st);
	}
	if (rv == SHOAL_OK && t->cfg.pg_parallel_workers >= 0) {
		snprintf(sql, sizeof sql, "SET max_parallel_maintenance_workers = %d",
		    t->cfg.pg_parallel_workers);
		rv = pg_exec(t->conn, sql, st);
	}
	if (rv == SHOAL_OK) {
		snprintf(sql, sizeof sql,
		    "CREATE INDEX ON %s USING hnsw (embedding %s) WITH (m = %u, ef_construction = %u)",
		    c->table, ops_class(t->cfg.metric), t->cfg.m, t->cfg.ef_construction);
		rv = progress ? pg_exec_progress(t, sql, st) : pg_exec(t->conn, sql, st);
	}
	times->build_s = bench_now_s() - t1;
	/* Housekeeping outside the timed ingest: the table is searchable now,
	 * but autovacuum would soon vacuum and analyze the freshly loaded
	 * table in the middle of the search sweep; do it first.  A checkpoint
	 * (allowed for superusers and pg_checkpoint) flushes the load's dirty
	 * pages for the same reason; without the right it is skipped. */
	if (rv == SHOAL_OK) {
		snprintf(sql, sizeof sql, "VACUUM (ANALYZE) %s", c->table);
		rv = pg_exec(t->conn, sql, st);
		if (rv == SHOAL_OK && progress)
			pg_exec(t->conn, "CHECKPOINT", NULL);
	}
	return rv;
}

static shoal_code
pg_load(bench_target *t, bench_coll *c, const float *v, size_t n, int64_t first_id,
    bench_load_times *times, void (*progress)(void *, size_t), void *parg, shoal_status *st)
{
	return copy_points(t, c, v, NULL, n, first_id, NULL, times, progress, parg, st);
}

/* The ways pgvector filters: mode 0 is WHERE on the HNSW index scan with
 * pgvector's defaults (iterative scans off): the scan yields ef_search
 * candidates and the WHERE is applied to them (post-filtering), so an
 * answer may hold fewer than k rows.  Mode 1 (pgvector >= 0.8.0) sets
 * hnsw.iterative_scan = relaxed_order, which resumes the index scan until
 * k rows pass the filter (up to hnsw.max_scan_tuples, default 20,000). */
static const char *const PG_FILTER_MODES[] = {"post-filter (iterative_scan off)",
	"iterative_scan relaxed_order", NULL};

static shoal_code
pg_filter_view(bench_target *t, bench_coll *c, const char *field, int64_t below, int mode,
    bench_coll **out, shoal_status *st)
{
	int maj = 0, min = 0;
	sscanf(t->pgvector_version, "%d.%d", &maj, &min);
	if (mode == 1 && maj == 0 && min < 8)
		return shoal_status_set(st, SHOAL_FAILED_PRECONDITION,
		    "pgvector %s has no iterative index scans (0.8.0 or later)", t->pgvector_version);
	char fld[40];
	ident_part(fld, sizeof fld, field);
	bench_coll *v = xmalloc(sizeof *v);
	*v = *c;
	v->num = t->next_coll++;
	v->view = true;
	v->iterative = mode == 1;
	snprintf(v->where, sizeof v->where, "WHERE %s < %lld", fld, (long long)below);
	*out = v;
	return SHOAL_OK;
}

static shoal_code
pg_session_open(bench_target *t, bench_session **out, shoal_status *st)
{
	PGconn *c = pg_connect(t->cfg.pg_dsn, st);
	if (c == NULL)
		return SHOAL_UNAVAILABLE;
	shoal_code rv = pg_exec(c, "SET enable_seqscan = off", st);
	if (rv != SHOAL_OK) {
		PQfinish(c);
		return rv;
	}
	bench_session *s = xcalloc(1, sizeof *s);
	s->t = t;
	s->conn = c;
	*out = s;
	return SHOAL_OK;
}

static void
pg_session_close(bench_session *s)
{
	if (s == NULL)
		return;
	PQfinish(s->conn);
	free(s->prepared);
	free(s->param);
	free(s);
}

static shoal_code
pg_set_ef(bench_session *s, uint32_t ef, shoal_status *st)
{
	char sql[64];
	snprintf(sql, sizeof sql, "SET hnsw.ef_search = %u", ef);
	return pg_exec(s->conn, sql, st);
}

static shoal_code
pg_search(bench_session *s, bench_coll *c, const float *q, uint32_t k, int64_t *ids,
    size_t *n_ids, shoal_status *st)
{
	char name[16];
	snprintf(name, sizeof name, "q%d", c->num);
	if (c->num >= s->n_prepared) {
		int n = c->num + 16;
		s->prepared = xrealloc(s->prepared, (size_t)n * sizeof *s->prepared);
		memset(s->prepared + s->n_prepared, 0, (size_t)(n - s->n_prepared) * sizeof(bool));
		s->n_prepared = n;
	}
	if (c->iterative != s->iterative) {
		/* once per session and view: a session searches one view */
		shoal_code rv = pg_exec(s->conn,
		    c->iterative ? "SET hnsw.iterative_scan = relaxed_order"
		                 : "SET hnsw.iterative_scan = off",
		    st);
		if (rv != SHOAL_OK)
			return rv;
		s->iterative = c->iterative;
	}
	if (!s->prepared[c->num]) {
		char sql[300];
		snprintf(sql, sizeof sql,
		    "SELECT id FROM %s %s ORDER BY embedding %s $1::vector LIMIT $2", c->table,
		    c->where, operator(s->t->cfg.metric));
		PGresult *r = PQprepare(s->conn, name, sql, 2, NULL);
		if (PQresultStatus(r) != PGRES_COMMAND_OK) {
			char msg[400];
			snprintf(msg, sizeof msg, "%s", PQresultErrorMessage(r));
			msg[strcspn(msg, "\n")] = '\0';
			PQclear(r);
			return shoal_status_set(st, SHOAL_INTERNAL, "prepare %s: %s", sql, msg);
		}
		PQclear(r);
		s->prepared[c->num] = true;
	}
	if (s->param_dim < c->dim) {
		free(s->param);
		s->param = xmalloc(4 + 4 * (size_t)c->dim);
		s->param_dim = c->dim;
	}
	put_vector(s->param, q, c->dim);
	unsigned char kbuf[8];
	util_put_be32(kbuf, 0);
	util_put_be32(kbuf + 4, k);
	const char *values[2] = {(const char *)s->param, (const char *)kbuf};
	int lengths[2] = {(int)(4 + 4 * c->dim), 8};
	int formats[2] = {1, 1};
	PGresult *r = PQexecPrepared(s->conn, name, 2, values, lengths, formats, 1);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		char msg[400];
		snprintf(msg, sizeof msg, "%s", PQresultErrorMessage(r));
		msg[strcspn(msg, "\n")] = '\0';
		PQclear(r);
		return shoal_status_set(st, SHOAL_INTERNAL, "search %s: %s", c->table, msg);
	}
	int nt = PQntuples(r);
	size_t m = 0;
	for (int i = 0; i < nt && m < k; i++) {
		if (PQgetlength(r, i, 0) != 8)
			continue;
		const unsigned char *p = (const unsigned char *)PQgetvalue(r, i, 0);
		uint64_t v = 0;
		for (int j = 0; j < 8; j++)
			v = v << 8 | p[j];
		ids[m++] = (int64_t)v;
	}
	PQclear(r);
	*n_ids = m;
	return SHOAL_OK;
}

static void
pg_drop(bench_target *t, bench_coll *c)
{
	if (c == NULL)
		return;
	if (!t->cfg.keep && !c->view) {
		char sql[128];
		shoal_status st;
		snprintf(sql, sizeof sql, "DROP TABLE IF EXISTS %s", c->table);
		if (pg_exec(t->conn, sql, &st) != SHOAL_OK)
			fprintf(stderr, "shoal-bench: warning: %s\n", st.msg);
	}
	free(c);
}

static void
pg_close(bench_target *t)
{
	if (t == NULL)
		return;
	PQfinish(t->conn);
	free(t);
}

const bench_target_ops bench_pg_ops = {
	.name = "pgvector",
	.open = pg_open,
	.versions = pg_versions,
	.create = pg_create,
	.load = pg_load,
	.session_open = pg_session_open,
	.session_close = pg_session_close,
	.set_ef = pg_set_ef,
	.search = pg_search,
	.drop = pg_drop,
	.close = pg_close,
	.load_attr = copy_points,
	.filter_view = pg_filter_view,
	.filter_modes = PG_FILTER_MODES,
};
