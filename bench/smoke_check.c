/* smoke_check.c -- the bench.smoke ctest: run shoal-bench small, check it.
 *
 *   bench-smoke-check SHOAL_BENCH OUT_DIR
 *
 * Runs shoal-bench on small generated data against a --local 2 cluster
 * and raw FAISS (ingest, search with 1 and 2 clients, tenant, scatter over
 * 8 shards, filter at 50%, 1% and 0.1%, migrate), then parses the JSON it wrote with a strict little JSON
 * parser (so malformed output fails too) and checks:
 *   - exit status 0; machine facts (cpu, cores >= 1, faiss, shoal version);
 *   - dataset n/dim/metric/queries as requested;
 *   - per target (faiss, shoal): ingest ok with vectors == N, seconds > 0,
 *     vectors_per_s > 0, seconds >= load_seconds; one ok search result per
 *     (ef_search, clients) with k == 10, recall in [0,1], qps > 0,
 *     0 < p50 <= p95 <= p99, queries >= the query count; recall at the
 *     highest ef_search >= 0.9 and not below the lowest ef's; tenant ok
 *     with 10 tenants and recall >= 0.9;
 *   - scatter: one ok row per (ef_search, clients) and layout (faiss: "one
 *     index"; shoal: "dedicated" and "shared" with shards == 8 and keys ==
 *     20, server_cpu_ms > 0) with the search fields; recall at ef 160
 *     >= 0.9 for every layout; shoal: one "shared+key" row per client
 *     count with recall >= 0.9, every answer complete, no wrong row;
 *     shoal: two ok "scatter_writes" rows each for "graph" and "no graph"
 *     with points, points/s and server CPU per point > 0;
 *   - filter: one ok row per (selectivity, clients) with the search
 *     fields, the filter text "attr < 100p", the measured selectivity
 *     within 5 standard deviations of p%, recall >= 0.9, no wrong rows,
 *     and (both targets filter during the search) every answer complete:
 *     rows_mean == min(k, matching);
 *   - migrate: shoal ok with p50/p99 before and during (0 < p50 <= p99),
 *     write_pause_ms >= 0, mb_per_s > 0, rows_per_s > 0,
 *     index_bytes_moved >= 0, rows_moved >=
 *     the tenant's points, recall during >= 0.9, searches and writes > 0,
 *     none failed and no answer with a point twice; faiss "skipped" with
 *     a reason;
 *   - the Markdown report starts with the machine facts, names both
 *     targets and has the scatter, filter and migrate sections and the
 *     migrate goal; with gnuplot installed, the 1-client recall-vs-QPS PNG
 *     and the migrate latency PNG exist.
 * Prints every violation; exits 1 if any.
 */
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define N 4000
#define DIM 32
#define Q 200
#define TENANTS 10
#define SHARDS 8
#define KEYS 20
#define MIGRATE_SIZE 2000

/* ===================================================================
 * A strict JSON parser (enough for checking our own output)
 * =================================================================== */

typedef enum { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ } jtype;

typedef struct jval {
	jtype t;
	double num;
	bool b;
	char *str;
	struct jval **items;
	char **keys;
	size_t n;
} jval;

typedef struct jparser {
	const char *p;
	const char *err;
} jparser;

static void
ws(jparser *j)
{
	while (*j->p == ' ' || *j->p == '\n' || *j->p == '\t' || *j->p == '\r')
		j->p++;
}

static jval *jparse_value(jparser *j);

static char *
jparse_string(jparser *j)
{
	if (*j->p != '"') {
		j->err = "expected string";
		return NULL;
	}
	j->p++;
	size_t cap = 64, n = 0;
	char *s = malloc(cap);
	while (*j->p != '"') {
		char c = *j->p;
		if (c == '\0' || (unsigned char)c < 0x20) {
			j->err = "unterminated string or control character";
			free(s);
			return NULL;
		}
		if (c == '\\') {
			j->p++;
			switch (*j->p) {
			case '"': c = '"'; break;
			case '\\': c = '\\'; break;
			case '/': c = '/'; break;
			case 'n': c = '\n'; break;
			case 't': c = '\t'; break;
			case 'r': c = '\r'; break;
			case 'b': c = '\b'; break;
			case 'f': c = '\f'; break;
			case 'u':
				for (int i = 1; i <= 4; i++)
					if (!strchr("0123456789abcdefABCDEF", j->p[i]) || j->p[i] == '\0') {
						j->err = "bad \\u escape";
						free(s);
						return NULL;
					}
				j->p += 4;
				c = '?';
				break;
			default:
				j->err = "bad escape";
				free(s);
				return NULL;
			}
		}
		if (n + 2 > cap)
			s = realloc(s, cap *= 2);
		s[n++] = c;
		j->p++;
	}
	j->p++;
	s[n] = '\0';
	return s;
}

static jval *
jnew(jtype t)
{
	jval *v = calloc(1, sizeof *v);
	v->t = t;
	return v;
}

static jval *
jparse_value(jparser *j)
{
	ws(j);
	const char *p = j->p;
	if (*p == '{' || *p == '[') {
		bool obj = *p == '{';
		jval *v = jnew(obj ? J_OBJ : J_ARR);
		j->p++;
		ws(j);
		if (*j->p == (obj ? '}' : ']')) {
			j->p++;
			return v;
		}
		for (;;) {
			char *key = NULL;
			if (obj) {
				ws(j);
				if ((key = jparse_string(j)) == NULL)
					return NULL;
				ws(j);
				if (*j->p != ':') {
					j->err = "expected ':'";
					return NULL;
				}
				j->p++;
			}
			jval *item = jparse_value(j);
			if (item == NULL)
				return NULL;
			v->items = realloc(v->items, (v->n + 1) * sizeof *v->items);
			v->keys = realloc(v->keys, (v->n + 1) * sizeof *v->keys);
			v->items[v->n] = item;
			v->keys[v->n] = key;
			v->n++;
			ws(j);
			if (*j->p == ',') {
				j->p++;
				continue;
			}
			if (*j->p == (obj ? '}' : ']')) {
				j->p++;
				return v;
			}
			j->err = obj ? "expected ',' or '}'" : "expected ',' or ']'";
			return NULL;
		}
	}
	if (*p == '"') {
		jval *v = jnew(J_STR);
		if ((v->str = jparse_string(j)) == NULL)
			return NULL;
		return v;
	}
	if (strncmp(p, "true", 4) == 0 || strncmp(p, "false", 5) == 0) {
		jval *v = jnew(J_BOOL);
		v->b = *p == 't';
		j->p += v->b ? 4 : 5;
		return v;
	}
	if (strncmp(p, "null", 4) == 0) {
		j->p += 4;
		return jnew(J_NULL);
	}
	if (*p == '-' || (*p >= '0' && *p <= '9')) {
		char *end;
		jval *v = jnew(J_NUM);
		v->num = strtod(p, &end);
		if (end == p || !isfinite(v->num)) {
			j->err = "bad number";
			return NULL;
		}
		j->p = end;
		return v;
	}
	j->err = "unexpected character";
	return NULL;
}

static void
jfree(jval *v)
{
	if (v == NULL)
		return;
	for (size_t i = 0; i < v->n; i++) {
		jfree(v->items[i]);
		free(v->keys[i]);
	}
	free(v->items);
	free(v->keys);
	free(v->str);
	free(v);
}

static jval *
jget(const jval *o, const char *key)
{
	if (o == NULL || o->t != J_OBJ)
		return NULL;
	for (size_t i = 0; i < o->n; i++)
		if (strcmp(o->keys[i], key) == 0)
			return o->items[i];
	return NULL;
}

static const char *
jstr(const jval *o, const char *key)
{
	jval *v = jget(o, key);
	return v && v->t == J_STR ? v->str : NULL;
}

static bool
jnum(const jval *o, const char *key, double *out)
{
	jval *v = jget(o, key);
	if (v == NULL || v->t != J_NUM)
		return false;
	*out = v->num;
	return true;
}

/* ===================================================================
 * Checks
 * =================================================================== */

static int failures;

static void
fail(const char *fmt, ...)
{
	va_list ap;
	fputs("CHECK FAILED: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	failures++;
}

static char *
slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	rewind(f);
	char *s = malloc((size_t)n + 1);
	size_t got = fread(s, 1, (size_t)n, f);
	fclose(f);
	s[got] = '\0';
	return s;
}

static const double EFS[] = {10, 40, 160};
static const double CLIENTS[] = {1, 2};
static const double SELECTIVITY[] = {50, 1, 0.1};

/* The search fields every search-like row carries; false (and a failure)
 * when one is missing or out of range. */
static bool
check_search_fields(const jval *r, const char *what, double *ef, double *cl, double *rec)
{
	double k, qps, p50, p95, p99, nq;
	if (!jnum(r, "k", &k) || !jnum(r, "ef_search", ef) || !jnum(r, "clients", cl) ||
	    !jnum(r, "recall", rec) || !jnum(r, "qps", &qps) || !jnum(r, "p50_ms", &p50) ||
	    !jnum(r, "p95_ms", &p95) || !jnum(r, "p99_ms", &p99) || !jnum(r, "queries", &nq)) {
		fail("%s lacks a search field of the schema", what);
		return false;
	}
	bool ok = true;
	if (k != 10)
		ok = false, fail("%s: k = %g, expected 10", what, k);
	if (!(*rec >= 0 && *rec <= 1))
		ok = false, fail("%s: recall %g outside [0,1]", what, *rec);
	if (!(qps > 0))
		ok = false, fail("%s: qps %g not > 0", what, qps);
	if (!(p50 > 0 && p50 <= p95 && p95 <= p99))
		ok = false, fail("%s: latencies not 0 < p50 <= p95 <= p99 (%g %g %g)", what, p50, p95, p99);
	if (!(nq > 0))
		ok = false, fail("%s: no queries timed", what);
	return ok;
}

static int
index_of(const double *v, int n, double x)
{
	for (int i = 0; i < n; i++)
		if (fabs(v[i] - x) < 1e-9)
			return i;
	return -1;
}

/* scatter, filter and migrate rows of one target. */
static void
check_workloads(const jval *results, const char *target)
{
	bool shoal = strcmp(target, "shoal") == 0;
	int scatter[3][2][2] = {{{0}}}; /* ef, clients, layout (single, shared) */
	int keyed[2] = {0};             /* clients */
	int writes[2] = {0};            /* scatter_writes: no graph, graph */
	int filter[3][2] = {{0}};
	bool migrate = false;
	char what[160];
	for (size_t i = 0; i < results->n; i++) {
		const jval *r = results->items[i];
		const char *t = jstr(r, "target"), *w = jstr(r, "workload"), *s = jstr(r, "status");
		if (t == NULL || w == NULL || s == NULL || strcmp(t, target) != 0)
			continue;
		double ef, cl, rec, v;
		if (strcmp(w, "scatter") == 0) {
			const char *layout = jstr(r, "layout");
			snprintf(what, sizeof what, "%s scatter %s", t, layout ? layout : "(no layout)");
			if (strcmp(s, "ok") != 0) {
				fail("%s: status %s: %s", what, s, jstr(r, "reason"));
				continue;
			}
			if (!check_search_fields(r, what, &ef, &cl, &rec))
				continue;
			int ei = index_of(EFS, 3, ef), ci = index_of(CLIENTS, 2, cl);
			if (layout && strcmp(layout, "shared+key") == 0 && shoal && ci >= 0) {
				double rows, complete, wrong;
				keyed[ci]++;
				if (rec < 0.9)
					fail("%s: recall %.4f < 0.9", what, rec);
				if (!jnum(r, "rows_mean", &rows) || !jnum(r, "complete_frac", &complete) ||
				    !jnum(r, "wrong_rows", &wrong) || complete != 1 || wrong != 0 || rows != 10)
					fail("%s: answers not complete (rows_mean, complete_frac, wrong_rows)",
					    what);
				continue;
			}
			bool shared = layout && strcmp(layout, "shared") == 0;
			const char *single = shoal ? "dedicated" : "one index";
			if (ei < 0 || ci < 0 || layout == NULL ||
			    (!shared && strcmp(layout, single) != 0) || (shared && !shoal)) {
				fail("%s: unexpected row (ef %g, clients %g)", what, ef, cl);
				continue;
			}
			scatter[ei][ci][shared]++;
			if (ei == 2 && rec < 0.9)
				fail("%s: recall %.4f at ef 160 < 0.9", what, rec);
			if (shared && (!jnum(r, "shards", &v) || v != SHARDS))
				fail("%s: shards != %d", what, SHARDS);
			if (shared && (!jnum(r, "keys", &v) || v != KEYS))
				fail("%s: keys != %d", what, KEYS);
			if (shoal && (!jnum(r, "server_cpu_ms", &v) || !(v > 0)))
				fail("%s: server_cpu_ms missing or not > 0 (a --local cluster)", what);
		} else if (strcmp(w, "scatter_writes") == 0) {
			const char *layout = jstr(r, "layout");
			double pts, rate, cpu;
			snprintf(what, sizeof what, "%s scatter_writes %s", t, layout ? layout : "(none)");
			if (strcmp(s, "ok") != 0) {
				fail("%s: status %s: %s", what, s, jstr(r, "reason"));
				continue;
			}
			bool graph = layout && strcmp(layout, "graph") == 0;
			if (!shoal || layout == NULL || (!graph && strcmp(layout, "no graph") != 0)) {
				fail("%s: unexpected row", what);
				continue;
			}
			writes[graph]++;
			if (!jnum(r, "vectors", &pts) || !(pts > 0) || !jnum(r, "vectors_per_s", &rate) ||
			    !(rate > 0) || !jnum(r, "server_cpu_ms_per_point", &cpu) || !(cpu > 0))
				fail("%s: vectors, vectors_per_s or server_cpu_ms_per_point missing or not > 0",
				    what);
		} else if (strcmp(w, "filter") == 0) {
			snprintf(what, sizeof what, "%s filter %s", t,
			    jstr(r, "filter") ? jstr(r, "filter") : "(no filter)");
			if (strcmp(s, "ok") != 0) {
				fail("%s: status %s: %s", what, s, jstr(r, "reason"));
				continue;
			}
			if (!check_search_fields(r, what, &ef, &cl, &rec))
				continue;
			double sel, rows, complete, wrong;
			if (jstr(r, "filter") == NULL || !jnum(r, "selectivity", &sel) ||
			    !jnum(r, "rows_mean", &rows) || !jnum(r, "complete_frac", &complete) ||
			    !jnum(r, "wrong_rows", &wrong)) {
				fail("%s: lacks filter, selectivity, rows_mean, complete_frac or wrong_rows",
				    what);
				continue;
			}
			int si = -1;
			for (int j = 0; j < 3; j++) {
				char want[32];
				snprintf(want, sizeof want, "attr < %.0f", SELECTIVITY[j] * 100);
				if (strcmp(jstr(r, "filter"), want) == 0)
					si = j;
			}
			int ci = index_of(CLIENTS, 2, cl);
			if (si < 0 || ci < 0) {
				fail("%s: unexpected filter or clients %g", what, cl);
				continue;
			}
			double p = SELECTIVITY[si] / 100;
			if (fabs(sel - p) > 5 * sqrt(p * (1 - p) / N))
				fail("%s: %.4f of the points match, expected about %.4f", what, sel, p);
			filter[si][ci]++;
			double expect = sel * N < 10 ? round(sel * N) : 10;
			if (rec < 0.9)
				fail("%s: recall %.4f < 0.9", what, rec);
			if (wrong != 0)
				fail("%s: %g rows that do not match the filter", what, wrong);
			if (complete != 1 || fabs(rows - expect) > 1e-9)
				fail("%s: answers not complete (rows_mean %g of %g, complete %g)", what, rows,
				    expect, complete);
		} else if (strcmp(w, "migrate") == 0) {
			migrate = true;
			snprintf(what, sizeof what, "%s migrate", t);
			if (!shoal) {
				if (strcmp(s, "skipped") != 0 || jstr(r, "reason") == NULL)
					fail("%s: expected skipped with a reason, got %s", what, s);
				if (jget(r, "p99_ms_before"))
					fail("%s: a skipped row must carry no numbers", what);
				continue;
			}
			if (strcmp(s, "ok") != 0) {
				fail("%s: status %s: %s", what, s, jstr(r, "reason"));
				continue;
			}
			double p50b, p99b, p50d, p99d, pause, mbps, rows_s, moved, recd, nsearch, nwrite,
			    serr, werr, dups, ibytes;
			if (!jnum(r, "p50_ms_before", &p50b) || !jnum(r, "p99_ms_before", &p99b) ||
			    !jnum(r, "p50_ms_during", &p50d) || !jnum(r, "p99_ms_during", &p99d) ||
			    !jnum(r, "write_pause_ms", &pause) || !jnum(r, "mb_per_s", &mbps) ||
			    !jnum(r, "rows_per_s", &rows_s) || !jnum(r, "rows_moved", &moved) ||
			    !jnum(r, "recall_during", &recd) || !jnum(r, "searches", &nsearch) ||
			    !jnum(r, "writes", &nwrite) || !jnum(r, "search_errors", &serr) ||
			    !jnum(r, "write_errors", &werr) || !jnum(r, "duplicate_hits", &dups) ||
			    !jnum(r, "index_bytes_moved", &ibytes)) {
				fail("%s: lacks a field (p50/p99_ms_before/during, write_pause_ms, mb_per_s, "
				     "rows_per_s, rows_moved, recall_during, searches, writes, errors, "
				     "duplicate_hits, index_bytes_moved)",
				    what);
				continue;
			}
			if (!(p50b > 0 && p50b <= p99b && p50d > 0 && p50d <= p99d))
				fail("%s: latencies not 0 < p50 <= p99 (before %g %g, during %g %g)", what,
				    p50b, p99b, p50d, p99d);
			if (!(pause >= 0) || !(mbps > 0) || !(rows_s > 0) || !(ibytes >= 0))
				fail("%s: write_pause_ms %g, mb_per_s %g, rows_per_s %g, index_bytes_moved %g",
				    what, pause, mbps, rows_s, ibytes);
			if (moved < MIGRATE_SIZE)
				fail("%s: %g rows moved, the tenant has %d", what, moved, MIGRATE_SIZE);
			if (recd < 0.9)
				fail("%s: recall during the move %.4f < 0.9", what, recd);
			if (!(nsearch > 0) || !(nwrite > 0))
				fail("%s: %g searches, %g writes", what, nsearch, nwrite);
			if (serr != 0 || werr != 0 || dups != 0)
				fail("%s: %g searches and %g upserts failed, %g answers held a point twice",
				    what, serr, werr, dups);
		}
	}
	for (int e = 0; e < 3; e++)
		for (int c = 0; c < 2; c++)
			for (int l = 0; l < (shoal ? 2 : 1); l++)
				if (scatter[e][c][l] != 1)
					fail("%s: %d scatter rows for ef %g clients %g layout %s, expected 1",
					    target, scatter[e][c][l], EFS[e], CLIENTS[c], l ? "shared" : "single");
	/* the graph write cost: two timed passes over each collection */
	if (shoal && (writes[0] != 2 || writes[1] != 2))
		fail("%s: %d + %d scatter_writes rows (no graph + graph), expected 2 + 2", target,
		    writes[0], writes[1]);
	for (int c = 0; c < 2 && shoal; c++)
		if (keyed[c] != 1)
			fail("%s: %d shared+key scatter rows for clients %g, expected 1", target, keyed[c],
			    CLIENTS[c]);
	for (int si = 0; si < 3; si++)
		for (int c = 0; c < 2; c++)
			if (filter[si][c] != 1)
				fail("%s: %d filter rows for %g%% clients %g, expected 1", target, filter[si][c],
				    SELECTIVITY[si], CLIENTS[c]);
	if (!migrate)
		fail("%s: no migrate row", target);
}

static void
check_target(const jval *results, const char *target)
{
	bool ingest = false, tenant = false;
	double recall_lo[2] = {-1, -1}, recall_hi[2] = {-1, -1};
	int seen[3][2] = {{0}};
	for (size_t i = 0; i < results->n; i++) {
		const jval *r = results->items[i];
		const char *t = jstr(r, "target"), *w = jstr(r, "workload"), *s = jstr(r, "status");
		if (t == NULL || w == NULL || s == NULL) {
			fail("result %zu lacks target/workload/status", i);
			continue;
		}
		if (strcmp(t, target) != 0)
			continue;
		double v, v2, v3;
		if (strcmp(w, "ingest") == 0) {
			ingest = true;
			if (strcmp(s, "ok") != 0) {
				fail("%s ingest status %s: %s", t, s, jstr(r, "reason"));
				continue;
			}
			if (!jnum(r, "vectors", &v) || v != N)
				fail("%s ingest vectors != %d", t, N);
			if (!jnum(r, "seconds", &v) || !(v > 0))
				fail("%s ingest seconds not > 0", t);
			if (!jnum(r, "vectors_per_s", &v2) || !(v2 > 0))
				fail("%s ingest vectors_per_s not > 0", t);
			if (!jnum(r, "load_seconds", &v3) || v3 < 0 || v3 > v + 1e-6)
				fail("%s ingest load_seconds missing or > seconds", t);
			if (!jnum(r, "build_seconds", &v3) || v3 < 0)
				fail("%s ingest build_seconds missing or negative", t);
		} else if (strcmp(w, "search") == 0) {
			if (strcmp(s, "ok") != 0) {
				fail("%s search status %s: %s", t, s, jstr(r, "reason"));
				continue;
			}
			double k, ef, cl, rec, qps, p50, p95, p99, nq;
			if (!jnum(r, "k", &k) || !jnum(r, "ef_search", &ef) || !jnum(r, "clients", &cl) ||
			    !jnum(r, "recall", &rec) || !jnum(r, "qps", &qps) || !jnum(r, "p50_ms", &p50) ||
			    !jnum(r, "p95_ms", &p95) || !jnum(r, "p99_ms", &p99) ||
			    !jnum(r, "queries", &nq)) {
				fail("%s search result %zu lacks a field of the schema", t, i);
				continue;
			}
			if (k != 10)
				fail("%s search k = %g, expected 10", t, k);
			if (!(rec >= 0 && rec <= 1))
				fail("%s ef %g: recall %g outside [0,1]", t, ef, rec);
			if (!(qps > 0))
				fail("%s ef %g: qps %g not > 0", t, ef, qps);
			if (!(p50 > 0 && p50 <= p95 && p95 <= p99))
				fail("%s ef %g: latencies not 0 < p50 <= p95 <= p99 (%g %g %g)", t, ef, p50,
				    p95, p99);
			if (nq < Q)
				fail("%s ef %g: %g queries timed, expected >= %d", t, ef, nq, Q);
			int ei = -1, ci = -1;
			for (int e = 0; e < 3; e++)
				if (EFS[e] == ef)
					ei = e;
			for (int c = 0; c < 2; c++)
				if (CLIENTS[c] == cl)
					ci = c;
			if (ei < 0 || ci < 0) {
				fail("%s: unexpected ef %g / clients %g", t, ef, cl);
				continue;
			}
			seen[ei][ci]++;
			if (ei == 0)
				recall_lo[ci] = rec;
			if (ei == 2)
				recall_hi[ci] = rec;
		} else if (strcmp(w, "tenant") == 0) {
			tenant = true;
			double nt, rec, qps;
			if (strcmp(s, "ok") != 0) {
				fail("%s tenant status %s: %s", t, s, jstr(r, "reason"));
				continue;
			}
			if (!jnum(r, "tenants", &nt) || nt != TENANTS)
				fail("%s tenant: tenants != %d", t, TENANTS);
			if (!jnum(r, "recall", &rec) || !(rec >= 0.9 && rec <= 1))
				fail("%s tenant: recall %g not in [0.9, 1]", t, rec);
			if (!jnum(r, "qps", &qps) || !(qps > 0))
				fail("%s tenant: qps not > 0", t);
		}
	}
	if (!ingest)
		fail("%s: no ingest result", target);
	if (!tenant)
		fail("%s: no tenant result", target);
	check_workloads(results, target);
	for (int e = 0; e < 3; e++)
		for (int c = 0; c < 2; c++)
			if (seen[e][c] != 1)
				fail("%s: %d search results for ef %g clients %g, expected 1", target,
				    seen[e][c], EFS[e], CLIENTS[c]);
	for (int c = 0; c < 2; c++) {
		if (recall_hi[c] >= 0 && recall_hi[c] < 0.9)
			fail("%s: recall at ef 160, %g clients is %.4f < 0.9", target, CLIENTS[c],
			    recall_hi[c]);
		if (recall_hi[c] >= 0 && recall_lo[c] >= 0 && recall_hi[c] + 0.02 < recall_lo[c])
			fail("%s: recall falls from %.4f (ef 10) to %.4f (ef 160)", target, recall_lo[c],
			    recall_hi[c]);
	}
}

int
main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: bench-smoke-check SHOAL_BENCH OUT_DIR\n");
		return 2;
	}
	const char *bench = argv[1], *out = argv[2];
	char n_dim[32], q[16], tenants[16], shards[16], keys[16], msize[16];
	snprintf(n_dim, sizeof n_dim, "%d,%d", N, DIM);
	snprintf(q, sizeof q, "%d", Q);
	snprintf(tenants, sizeof tenants, "%d", TENANTS);
	snprintf(shards, sizeof shards, "%d", SHARDS);
	snprintf(keys, sizeof keys, "%d", KEYS);
	snprintf(msize, sizeof msize, "%d", MIGRATE_SIZE);
	char *args[] = {(char *)bench, "--gen-clustered", n_dim, "--queries", q, "--local", "2",
	    "--targets", "faiss,shoal", "--workload", "ingest,search,tenant,scatter,filter,migrate",
	    "--ef", "10,40,160", "--clients",
	    "1,2", "--min-time", "0.3", "--warmup", "50", "--tenants", tenants, "--tenant-size", "200",
	    "--shards", shards, "--scatter-keys", keys, "--selectivity", "50,1,0.1",
	    "--filter-queries", "100", "--migrate-size", msize, "--migrate-before", "1",
	    "--migrate-after", "0.5", "--out", (char *)out, "--prefix", "smoke", NULL};
	fprintf(stderr, "running:");
	for (int i = 0; args[i]; i++)
		fprintf(stderr, " %s", args[i]);
	fputc('\n', stderr);
	pid_t pid = fork();
	if (pid == 0) {
		execv(bench, args);
		perror(bench);
		_exit(127);
	}
	int status;
	if (pid < 0 || waitpid(pid, &status, 0) < 0) {
		perror("fork/wait");
		return 1;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail("shoal-bench exited with status %d", WIFEXITED(status) ? WEXITSTATUS(status) : -1);

	char path[600];
	snprintf(path, sizeof path, "%s/smoke.json", out);
	char *text = slurp(path);
	if (text == NULL) {
		fail("%s was not written", path);
		return 1;
	}
	jparser jp = {.p = text};
	jval *root = jparse_value(&jp);
	if (root) {
		ws(&jp);
		if (*jp.p != '\0') {
			jfree(root);
			root = NULL;
			jp.err = "trailing characters";
		}
	}
	if (root == NULL || root->t != J_OBJ) {
		fail("%s is not valid JSON: %s at offset %ld", path, jp.err ? jp.err : "not an object",
		    (long)(jp.p - text));
		free(text);
		return 1;
	}
	const jval *m = jget(root, "machine"), *ds = jget(root, "dataset"),
	           *res = jget(root, "results");
	double v;
	if (m == NULL || jstr(m, "cpu") == NULL || !jnum(m, "cores", &v) || v < 1 ||
	    jstr(m, "faiss") == NULL || jstr(m, "shoal") == NULL || jstr(m, "memory") == NULL)
		fail("machine facts incomplete (cpu, cores, memory, faiss, shoal)");
	else if (strcmp(jstr(m, "shoal"), "not measured") == 0)
		fail("machine.shoal: the cluster's version was not recorded");
	if (ds == NULL || !jnum(ds, "n", &v) || v != N || !jnum(ds, "dim", &v) || v != DIM ||
	    !jnum(ds, "queries", &v) || v != Q || jstr(ds, "metric") == NULL ||
	    strcmp(jstr(ds, "metric"), "l2") != 0 || jstr(ds, "name") == NULL)
		fail("dataset block wrong (expected n %d, dim %d, queries %d, metric l2)", N, DIM, Q);
	if (res == NULL || res->t != J_ARR) {
		fail("no results array");
	} else {
		check_target(res, "faiss");
		check_target(res, "shoal");
	}

	snprintf(path, sizeof path, "%s/smoke.md", out);
	char *md = slurp(path);
	if (md == NULL)
		fail("%s was not written", path);
	else if (strstr(md, "## Machine") == NULL || strstr(md, "## Machine") > strstr(md, "## Search") ||
	         strstr(md, "| cpu |") == NULL || strstr(md, "| faiss |") == NULL ||
	         strstr(md, "| shoal |") == NULL)
		fail("%s does not start with the machine facts and name both targets", path);
	else if (strstr(md, "## Scatter") == NULL || strstr(md, "## Filter") == NULL ||
	         strstr(md, "## Migrate") == NULL || strstr(md, "Tenant move (issue 5)") == NULL)
		fail("%s lacks the scatter, filter or migrate section or the migrate goal", path);
	const char *gp = m ? jstr(m, "gnuplot") : NULL;
	if (gp && strcmp(gp, "not found") != 0) {
		const char *pngs[] = {"smoke-recall-qps-c1.png", "smoke-migrate-latency.png"};
		for (int i = 0; i < 2; i++) {
			struct stat sb;
			snprintf(path, sizeof path, "%s/%s", out, pngs[i]);
			if (stat(path, &sb) != 0 || sb.st_size < 1000)
				fail("gnuplot is installed (%s) but %s is missing or empty", gp, path);
		}
	}
	free(md);
	jfree(root);
	free(text);
	if (failures) {
		fprintf(stderr, "bench smoke: %d check(s) failed\n", failures);
		return 1;
	}
	printf("bench smoke: all checks passed (%s)\n", out);
	return 0;
}
