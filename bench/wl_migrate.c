/* wl_migrate.c -- the migrate workload: search latency while a tenant
 * moves to another worker, with a writer running.
 *
 * shoal only, on a cluster with >= 2 workers up (--local 2 or more):
 *   1. a dedicated tenant "<run>-move" with one collection of the first P
 *      base points (--migrate-size, default min(N, 100000)), loaded and
 *      indexed like the main collection;
 *   2. a reader thread searches it continuously (one query at a time,
 *      --migrate-ef, k from --k; its own connection) and records every
 *      search's time and latency, and the answer's recall@k against the
 *      exact neighbours inside the tenant, and whether it held a point
 *      twice; a writer thread upserts 10 of the tenant's points
 *      --migrate-writes times a second (same ids and vectors, so the
 *      ground truth stays right; its own connection) and records every
 *      upsert's latency;
 *   3. after --migrate-before seconds, `shoal tenant move` through the
 *      public API (shoal_move_start to a worker other than the tenant's),
 *      throttled to the first --max-mbps value, polled with
 *      shoal_move_get every 50 ms until done or aborted (the copy rate is
 *      the one the move reports for its copy pass: rows + HNSW index
 *      bundles, the bytes --max-mbps throttles, over the pass's duration);
 *   4. --migrate-after seconds more; with more --max-mbps values, steps 3
 *      and 4 again for each (the tenant moves back and forth between the
 *      same two workers, each move with its own "before" window), then
 *      both threads stop.
 * One result row "migrate" per throttle (max_mbps, 0 = none): p50/p99 of
 * the searches in the --migrate-before seconds before that move started
 * and while it ran (start to done), recall before/during, the write pause
 * at cutover as the move reports it (fence_ms) and the writer's slowest
 * upsert during the move, the move's MB/s (rows + index bundles) and
 * rows/s, its rows' and index bundles' bytes, errors seen by the
 * reader and the writer (a search or upsert that failed), answers holding
 * a point twice.  The timeline (every search and upsert) goes to
 * run->migrate_tl for the latency-over-time plot (report.c).
 *
 * Other targets: reported "skipped" with the reason (an in-process index
 * has nowhere to move; moving a PostgreSQL table between servers needs
 * Citus's shard moves, which this harness cannot run).
 *
 * Threading: the reader and the writer each own their connection and
 * their arrays; the main thread polls the move and reads the arrays only
 * after joining them.
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "shoal_client.h"
#include "util.h"

#define WRITE_BATCH 10
#define MAX_PHASES 16
#define READER_QUERIES 500
#define MOVE_TIMEOUT_S 3600.0

void
bench_samples_add(bench_samples *s, double t, float ms)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 4096;
		s->t = xrealloc(s->t, s->cap * sizeof *s->t);
		s->ms = xrealloc(s->ms, s->cap * sizeof *s->ms);
	}
	s->t[s->n] = t;
	s->ms[s->n] = ms;
	s->n++;
}

void
bench_samples_free(bench_samples *s)
{
	free(s->t);
	free(s->ms);
}

void
bench_samples_window(const bench_samples *s, const float *vals, double t0, double t1,
    double *p50, double *p99, double *mean_val, double *max)
{
	float *v = xmalloc((s->n ? s->n : 1) * sizeof *v);
	size_t n = 0;
	double sum = 0;
	for (size_t i = 0; i < s->n; i++)
		if (s->t[i] >= t0 && s->t[i] < t1) {
			v[n++] = s->ms[i];
			sum += vals ? vals[i] : 0;
		}
	bench_sort_ms(v, n);
	if (p50)
		*p50 = bench_percentile(v, n, 0.50);
	if (p99)
		*p99 = bench_percentile(v, n, 0.99);
	if (mean_val)
		*mean_val = n ? sum / (double)n : NAN;
	if (max)
		*max = n ? v[n - 1] : 0;
	free(v);
}

bool
bench_load_search(bench_load *l, shoal_code rv, const shoal_status *st, double t0, double t1,
    const int64_t *ids, size_t n)
{
	if (rv != SHOAL_OK) {
		if (l->read_errors++ == 0)
			snprintf(l->read_error, sizeof l->read_error, "%.290s", st->msg);
		util_sleep_ms(10);
		return false;
	}
	for (size_t a = 0; a < n; a++)
		for (size_t b = 0; b < a; b++)
			if (ids[a] == ids[b]) {
				l->dups++;
				a = n;
				break;
			}
	bench_samples_add(&l->reads, t0, (float)((t1 - t0) * 1000.0));
	return true;
}

void
bench_load_write(bench_load *l, shoal_code rv, const shoal_status *st, double t0, double t1)
{
	if (rv != SHOAL_OK && l->write_errors++ == 0)
		snprintf(l->write_error, sizeof l->write_error, "%.290s", st->msg);
	if (rv == SHOAL_OK)
		bench_samples_add(&l->writes, t0, (float)((t1 - t0) * 1000.0));
}

shoal_client *
bench_load_connect(bench_load *l, const char *url, uint32_t timeout_ms)
{
	shoal_status st;
	shoal_client *c = NULL;
	shoal_connect_opts co = {.timeout_ms = timeout_ms};
	if (shoal_connect(url, &co, &c, &st) != SHOAL_OK) {
		snprintf(l->write_error, sizeof l->write_error, "%.290s", st.msg);
		l->write_errors++;
		return NULL;
	}
	return c;
}

void
bench_load_pace(double *next, double period)
{
	*next += period;
	double now = bench_now_s();
	if (*next > now)
		util_sleep_ms((uint32_t)((*next - now) * 1000.0));
	else
		*next = now; /* behind: no burst to catch up */
}

void
bench_load_note(bench_run *run, const char *what, const bench_load *l)
{
	if (l->read_errors)
		bench_note(run, "%s: %llu searches failed during the run; the first: %s", what,
		    (unsigned long long)l->read_errors, l->read_error);
	if (l->write_errors)
		bench_note(run, "%s: %llu upserts failed during the run; the first: %s", what,
		    (unsigned long long)l->write_errors, l->write_error);
}

void
bench_load_free(bench_load *l)
{
	bench_samples_free(&l->reads);
	bench_samples_free(&l->writes);
}

typedef struct mover {
	const bench_dataset *ds;
	const bench_options *o;
	const bench_target_ops *ops;
	bench_target *t;
	bench_coll *coll;
	size_t P;                 /* points of the tenant */
	size_t nq;                /* reader's queries */
	const double *kth;        /* nq thresholds inside the tenant */
	atomic_bool stop;
	bench_load ld;            /* the reader's and the writer's samples */
	float *recall;            /* per read (the reader's) */
	size_t recall_cap;
} mover;

static void *
reader_main(void *arg)
{
	mover *m = arg;
	const bench_dataset *ds = m->ds;
	shoal_status st;
	bench_session *s = NULL;
	if (m->ops->session_open(m->t, &s, &st) != SHOAL_OK ||
	    m->ops->set_ef(s, m->o->migrate_ef, &st) != SHOAL_OK) {
		snprintf(m->ld.read_error, sizeof m->ld.read_error, "%.290s", st.msg);
		m->ld.read_errors++;
		if (s)
			m->ops->session_close(s);
		return NULL;
	}
	int64_t *ids = xmalloc(m->o->k * sizeof *ids);
	for (size_t i = 0; !atomic_load(&m->stop); i++) {
		size_t q = i % m->nq;
		const float *qv = ds->queries + q * ds->dim;
		size_t n = 0;
		double t0 = bench_now_s();
		shoal_code rv = m->ops->search(s, m->coll, qv, m->o->k, ids, &n, &st);
		if (!bench_load_search(&m->ld, rv, &st, t0, bench_now_s(), ids, n))
			continue;
		if (m->ld.reads.n > m->recall_cap) {
			m->recall_cap = m->ld.reads.cap;
			m->recall = xrealloc(m->recall, m->recall_cap * sizeof *m->recall);
		}
		m->recall[m->ld.reads.n - 1] = (float)bench_recall_one(ds->metric, ds->base, m->P,
		    ds->dim, qv, m->kth[q], ids, n, m->o->k);
	}
	free(ids);
	m->ops->session_close(s);
	return NULL;
}

static void *
writer_main(void *arg)
{
	mover *m = arg;
	const bench_dataset *ds = m->ds;
	shoal_status st;
	shoal_client *c =
	    bench_load_connect(&m->ld, m->o->cfg.shoal_url, m->o->cfg.shoal_timeout_ms);
	if (c == NULL)
		return NULL;
	const char *tenant = bench_shoal_tenant(m->coll), *coll = bench_shoal_collection(m->coll);
	uint64_t ids[WRITE_BATCH];
	float *vec = xmalloc(WRITE_BATCH * ds->dim * sizeof *vec);
	double period = 1.0 / m->o->migrate_writes, next = bench_now_s();
	size_t nb = m->P < WRITE_BATCH ? m->P : WRITE_BATCH;
	for (size_t w = 0; !atomic_load(&m->stop); w++) {
		for (size_t j = 0; j < nb; j++) {
			size_t i = (w * nb + j) % m->P;
			ids[j] = (uint64_t)i + 1; /* target_shoal.c: shoal id = bench id + 1 */
			memcpy(vec + j * ds->dim, ds->base + i * ds->dim, ds->dim * sizeof *vec);
		}
		shoal_batch b = {.n = nb, .dim = ds->dim, .ids = ids, .vectors = vec};
		double t0 = bench_now_s();
		shoal_code rv = shoal_upsert(c, tenant, coll, &b, NULL, &st);
		bench_load_write(&m->ld, rv, &st, t0, bench_now_s());
		bench_load_pace(&next, period);
	}
	free(vec);
	shoal_close(c);
	return NULL;
}

/* The worker holding tenant, and another worker that is up. */
static shoal_code
pick_workers(shoal_client *c, const char *tenant, char *from, char *to, shoal_status *st)
{
	shoal_tenant_info *tl = NULL;
	size_t n = 0;
	shoal_code rv = shoal_tenant_list(c, &tl, &n, st);
	if (rv != SHOAL_OK)
		return rv;
	from[0] = to[0] = '\0';
	for (size_t i = 0; i < n; i++)
		if (strcmp(tl[i].name, tenant) == 0)
			snprintf(from, 64, "%s", tl[i].worker);
	shoal_tenant_list_free(tl);
	shoal_cluster_info *ci = NULL;
	if ((rv = shoal_cluster_status(c, &ci, st)) != SHOAL_OK)
		return rv;
	for (size_t i = 0; i < ci->n_workers && !to[0]; i++)
		if (ci->workers[i].up && strcmp(ci->workers[i].name, from) != 0)
			snprintf(to, 64, "%s", ci->workers[i].name);
	shoal_cluster_info_free(ci);
	if (!from[0])
		return shoal_status_set(st, SHOAL_NOT_FOUND, "tenant %s is not listed", tenant);
	if (!to[0])
		return shoal_status_set(st, SHOAL_FAILED_PRECONDITION,
		    "no other worker up to move tenant %s to (the migrate workload needs >= 2 "
		    "workers: --local 2)",
		    tenant);
	return SHOAL_OK;
}

/* run_move's poll of the move (bench_poll). */
typedef struct move_poll {
	shoal_client *c;
	shoal_move_info *info;
	bench_timeline *tl;
	double t_start;
	char last[16]; /* the state at the last phase change */
} move_poll;

static shoal_code
move_fetch(void *arg, shoal_status *st)
{
	move_poll *mp = arg;
	shoal_code rv = shoal_move_get(mp->c, mp->info->id, mp->info, st);
	if (rv != SHOAL_OK)
		shoal_status_prefix(st, "move %s status", mp->info->id);
	return rv;
}

static bool
move_sample(void *arg, double now, char *line, size_t line_cap, char *running,
    size_t running_cap)
{
	move_poll *mp = arg;
	const shoal_move_info *info = mp->info;
	bench_timeline *tl = mp->tl;
	if (strcmp(mp->last, info->state_name) != 0 && tl->n_phases < MAX_PHASES) {
		snprintf(mp->last, sizeof mp->last, "%s", info->state_name);
		snprintf(tl->phase[tl->n_phases], sizeof tl->phase[0], "%s", info->state_name);
		tl->phase_t[tl->n_phases++] = now;
	}
	snprintf(line, line_cap, "[shoal] migrate: %s, %llu/%llu rows, %.1f MB rows + %.1f MB index, "
	    "%.1f MB/s", info->state_name, (unsigned long long)info->rows_copied,
	    (unsigned long long)info->rows_total, (double)info->bytes_copied / 1e6,
	    (double)info->index_bytes_copied / 1e6, info->mb_per_s);
	snprintf(running, running_cap, "move %s still %s", info->id, info->state_name);
	return info->state >= 5; /* done or aborted */
}

/* Starts the move and polls it until it ends; phases go to tl (times
 * relative to t_move0).  *mbps / *rows_ps: the rates the move reports at
 * the end, its copy pass's (rows + index bundles, over the pass's own
 * duration, copy_ms: the verify, cutover and cleanup are not in it). */
static shoal_code
run_move(shoal_client *c, double max_mbps, const char *tenant, const char *to, double t_move0,
    bench_timeline *tl, shoal_move_info *info, double *mbps, double *rows_ps, shoal_status *st)
{
	*mbps = *rows_ps = 0;
	move_poll mp = {.c = c, .info = info, .tl = tl};
	mp.t_start = bench_now_s() - t_move0;
	shoal_code rv = shoal_move_start(c, tenant, to, max_mbps, info, st);
	if (rv != SHOAL_OK) {
		shoal_status_prefix(st, "move %s to %s", tenant, to);
		return rv;
	}
	bench_poll p = {.arg = &mp, .fetch = move_fetch, .sample = move_sample, .t0 = t_move0,
		.t_begin = mp.t_start, .timeout_s = MOVE_TIMEOUT_S, .every_ms = 50};
	if ((rv = bench_poll_until(&p, st)) != SHOAL_OK)
		return rv;
	*mbps = info->mb_per_s;
	*rows_ps = info->rows_per_s;
	if (info->state != 5)
		return shoal_status_set(st, SHOAL_ABORTED, "move %s aborted: %s", info->id,
		    info->error[0] ? info->error : "(no reason given)");
	return SHOAL_OK;
}

/* Copies the samples into run->migrate_tl, times relative to t0. */
static void
keep_timeline(bench_timeline *tl, const mover *m, double t0)
{
	tl->s_n = tl->s_cap = m->ld.reads.n;
	tl->s_t = xmalloc((m->ld.reads.n ? m->ld.reads.n : 1) * sizeof *tl->s_t);
	tl->s_ms = xmalloc((m->ld.reads.n ? m->ld.reads.n : 1) * sizeof *tl->s_ms);
	for (size_t i = 0; i < m->ld.reads.n; i++) {
		tl->s_t[i] = (float)(m->ld.reads.t[i] - t0);
		tl->s_ms[i] = m->ld.reads.ms[i];
	}
	tl->w_n = tl->w_cap = m->ld.writes.n;
	tl->w_t = xmalloc((m->ld.writes.n ? m->ld.writes.n : 1) * sizeof *tl->w_t);
	tl->w_ms = xmalloc((m->ld.writes.n ? m->ld.writes.n : 1) * sizeof *tl->w_ms);
	for (size_t i = 0; i < m->ld.writes.n; i++) {
		tl->w_t[i] = (float)(m->ld.writes.t[i] - t0);
		tl->w_ms[i] = m->ld.writes.ms[i];
	}
}

void
bench_timeline_free(bench_timeline *tl)
{
	if (tl == NULL)
		return;
	free(tl->s_t);
	free(tl->s_ms);
	free(tl->w_t);
	free(tl->w_ms);
	free(tl);
}

bool
bench_wl_migrate(bench_run *run, const bench_options *o, const bench_target_ops *ops,
    bench_target *t, bench_coll *main_coll, const double *kth_unused)
{
	(void)main_coll;
	(void)kth_unused;
	const bench_dataset *ds = run->ds;
	char why[700];
	if (ops != &bench_shoal_ops) {
		bench_result_fail(bench_result_add(run, ops->name, "migrate"), RES_SKIPPED,
		    ops == &bench_pg_ops
		        ? "moving a table to another server needs Citus shard moves "
		          "(citus_move_shard_placement), which this harness cannot run"
		        : "an in-process index has no placement to move (moves are measured on the "
		          "shoal target)");
		return true;
	}
	bench_result *r = bench_result_add(run, ops->name, "migrate");
	size_t P = o->migrate_size ? o->migrate_size : 100000;
	if (P > ds->n)
		P = ds->n;
	shoal_status st;
	shoal_client *c = NULL;
	shoal_connect_opts co = {.timeout_ms = o->cfg.shoal_timeout_ms};
	bench_coll *coll = NULL;
	mover m = {.ds = ds, .o = o, .ops = ops, .t = t, .P = P};
	double *kth = NULL;
	char from[64], to[64];
	shoal_code rv = shoal_connect(o->cfg.shoal_url, &co, &c, &st);

	/* 1. the tenant */
	bench_progress("[shoal] migrate: loading a dedicated tenant of %zu vectors", P);
	bench_ingest_progress ip = {.target = ops->name, .what = "migrate tenant load", .total = P,
		.t0 = bench_now_s()};
	bench_load_times lt = {0};
	if (rv == SHOAL_OK)
		rv = ops->create(t, "move", "docs", ds->dim, &coll, &st);
	if (rv == SHOAL_OK)
		rv = ops->load(t, coll, ds->base, P, 0, &lt, bench_on_ingest_progress, &ip, &st);
	bench_progress_done();
	bool observed = true;
	if (rv == SHOAL_OK && P >= 2000)
		rv = bench_wait_index(run, o, ops, t, coll, ds->base, P, "the migrate tenant",
		    &observed, &st);
	if (rv == SHOAL_OK)
		rv = pick_workers(c, bench_shoal_tenant(coll), from, to, &st);
	/* the reader's ground truth, inside the tenant */
	m.nq = ds->nq < READER_QUERIES ? ds->nq : READER_QUERIES;
	if (rv == SHOAL_OK) {
		int32_t *nn = xmalloc(m.nq * o->k * sizeof *nn);
		kth = xmalloc(m.nq * sizeof *kth);
		rv = bench_exact_knn(ds->metric, ds->base, P, ds->dim, ds->queries, m.nq, o->k, nn, NULL,
		    &st);
		for (size_t q = 0; rv == SHOAL_OK && q < m.nq; q++)
			kth[q] = bench_distance(ds->metric, ds->queries + q * ds->dim,
			    ds->base + (size_t)nn[q * o->k + (P < o->k ? P : o->k) - 1] * ds->dim, ds->dim);
		free(nn);
		m.kth = kth;
	}
	if (rv != SHOAL_OK) {
		snprintf(why, sizeof why, "migrate set-up failed: %s", st.msg);
		bench_result_fail(r, rv == SHOAL_FAILED_PRECONDITION ? RES_SKIPPED : RES_FAILED, why);
		fprintf(stderr, "[shoal] %s\n", why);
		if (coll)
			ops->drop(t, coll);
		shoal_close(c);
		free(kth);
		return rv == SHOAL_FAILED_PRECONDITION;
	}
	m.coll = coll;

	/* 2-4. reader and writer around the moves */
	fprintf(stderr,
	    "[shoal] migrate: tenant %s (%zu points) on %s; reader at ef_search %u, writer %u x %d "
	    "points/s; %d move(s) between %s and %s, %.0f s apart\n",
	    bench_shoal_tenant(coll), P, from, o->migrate_ef, o->migrate_writes, WRITE_BATCH,
	    o->n_max_mbps, from, to, o->migrate_before + o->migrate_after);
	atomic_init(&m.stop, false);
	pthread_t rth, wth;
	bool writer = o->migrate_writes > 0;
	pthread_create(&rth, NULL, reader_main, &m);
	if (writer)
		pthread_create(&wth, NULL, writer_main, &m);
	bench_timeline *tl = xcalloc(1, sizeof *tl);
	shoal_move_info info[BENCH_MAX_LIST];
	double t_move[BENCH_MAX_LIST][2], mbps[BENCH_MAX_LIST], rows_ps[BENCH_MAX_LIST];
	/* indices: bench_result_add may move run->results */
	size_t ri[BENCH_MAX_LIST];
	memset(info, 0, sizeof info);
	ri[0] = (size_t)(r - run->results);
	int nm = 0;
	bool ok = true;
	double t0 = 0;
	for (int k = 0; k < o->n_max_mbps && ok; k++, nm++) {
		if (k > 0)
			ri[k] = (size_t)(bench_result_add(run, ops->name, "migrate") - run->results);
		bench_result *x = &run->results[ri[k]];
		x->max_mbps = o->max_mbps[k];
		const char *src = k % 2 ? to : from, *dst = k % 2 ? from : to;
		snprintf(x->move_from, sizeof x->move_from, "%s", src);
		snprintf(x->move_to, sizeof x->move_to, "%s", dst);
		util_sleep_ms((uint32_t)(o->migrate_before * 1000));
		t_move[k][0] = bench_now_s();
		if (k == 0)
			t0 = t_move[0][0];
		/* the timeline's phases: every move's, times from the first move */
		rv = run_move(c, o->max_mbps[k], bench_shoal_tenant(coll), dst, t0, tl, &info[k],
		    &mbps[k], &rows_ps[k], &st);
		t_move[k][1] = bench_now_s();
		char now_on[64] = "", other[64];
		if (rv == SHOAL_OK &&
		    pick_workers(c, bench_shoal_tenant(coll), now_on, other, &st) != SHOAL_OK)
			snprintf(now_on, sizeof now_on, "?");
		if (rv != SHOAL_OK) {
			snprintf(why, sizeof why, "the move failed: %s", st.msg);
			ok = false;
		} else if (strcmp(now_on, dst) != 0) {
			snprintf(why, sizeof why, "the move reported done but tenant %s is on %s, not %s",
			    bench_shoal_tenant(coll), now_on, dst);
			ok = false;
		} else {
			util_sleep_ms((uint32_t)(o->migrate_after * 1000));
		}
		if (!ok) {
			bench_result_fail(x, RES_FAILED, why);
			fprintf(stderr, "[shoal] migrate: %s\n", why);
		}
	}
	atomic_store(&m.stop, true);
	pthread_join(rth, NULL);
	if (writer)
		pthread_join(wth, NULL);
	keep_timeline(tl, &m, t0);
	bench_timeline_free(run->migrate_tl);
	run->migrate_tl = tl;

	for (int k = 0; k < nm; k++) {
		bench_result *x = &run->results[ri[k]];
		if (x->status != RES_OK)
			continue;
		double m0 = t_move[k][0], m1 = t_move[k][1];
		x->k = o->k;
		x->ef_search = o->migrate_ef;
		x->clients = 1;
		x->vectors = P;
		bench_samples_window(&m.ld.reads, m.recall, m0 - o->migrate_before, m0, &x->p50_before,
		    &x->p99_before, &x->recall_before, NULL);
		bench_samples_window(&m.ld.reads, m.recall, m0, m1, &x->p50_during, &x->p99_during,
		    &x->recall_during, NULL);
		double wmax = 0;
		uint64_t ns = 0, nw = 0;
		for (size_t i = 0; i < m.ld.writes.n; i++)
			if (m.ld.writes.t[i] >= m0 && m.ld.writes.t[i] < m1 && m.ld.writes.ms[i] > wmax)
				wmax = m.ld.writes.ms[i];
		/* searches and upserts from this move's before window to the next's */
		double w0 = m0 - o->migrate_before,
		       w1 = k + 1 < nm ? t_move[k + 1][0] - o->migrate_before : INFINITY;
		for (size_t i = 0; i < m.ld.reads.n; i++)
			ns += m.ld.reads.t[i] >= w0 && m.ld.reads.t[i] < w1;
		for (size_t i = 0; i < m.ld.writes.n; i++)
			nw += m.ld.writes.t[i] >= w0 && m.ld.writes.t[i] < w1;
		x->write_max_ms = writer ? wmax : NAN;
		x->write_pause_ms = (double)info[k].fence_ms;
		x->mb_per_s = mbps[k];
		x->rows_per_s = rows_ps[k];
		x->rows_moved = info[k].rows_copied;
		x->bytes_moved = info[k].bytes_copied;
		x->index_bytes_moved = info[k].index_bytes_copied;
		x->move_seconds = m1 - m0;
		x->searches = ns;
		x->writes = nw;
		/* failures and duplicates are counted over the whole run */
		x->search_errors = m.ld.read_errors;
		x->write_errors = m.ld.write_errors;
		x->duplicate_hits = m.ld.dups;
		fprintf(stderr,
		    "[shoal] migrate (throttle %s%.0f MB/s): %zu points %s -> %s in %.1f s (%.1f MB rows "
		    "+ %.1f MB index at %.1f MB/s, %.0f rows/s); search p50 %.3f -> %.3f ms, p99 %.3f -> %.3f ms (before -> during, "
		    "%.2fx), recall %.4f -> %.4f; write pause at cutover %.0f ms, slowest upsert during "
		    "the move %.1f ms; %llu searches (%llu failed, %llu with a duplicate), %llu upserts "
		    "(%llu failed)\n",
		    x->max_mbps > 0 ? "" : "none, ", x->max_mbps, P, x->move_from, x->move_to,
		    x->move_seconds, (double)x->bytes_moved / 1e6, (double)x->index_bytes_moved / 1e6,
		    x->mb_per_s, x->rows_per_s, x->p50_before, x->p50_during,
		    x->p99_before, x->p99_during, x->p99_during / x->p99_before, x->recall_before,
		    x->recall_during, x->write_pause_ms, x->write_max_ms,
		    (unsigned long long)x->searches, (unsigned long long)x->search_errors,
		    (unsigned long long)x->duplicate_hits, (unsigned long long)x->writes,
		    (unsigned long long)x->write_errors);
	}
	bench_load_note(run, "migrate", &m.ld);
	bench_load_free(&m.ld);
	free(m.recall);
	free(kth);
	ops->drop(t, coll);
	shoal_close(c);
	return ok;
}
