/* measure.c -- shoal-bench's measurement: sweep points, recall, waits.
 *
 * Measurement of one sweep point (bench_run_point): every client thread
 * opens its session and sets ef_search, then all start together
 * (barrier).  Threads take query numbers from one atomic counter and stop
 * once every query was answered at least once AND min_time seconds have
 * passed, so fast targets are timed over enough queries too.  QPS =
 * searches / wall time; latencies are per search, from just before the
 * call to just after it returns (client side, so network and
 * serialisation count); the first answer to every query is kept for
 * recall.  Any failed search fails the point: it is reported with the
 * error, never as a number.
 *
 * Server CPU (bench_cluster_cpu_ms): utime + stime of the coordinator and
 * every worker of a --local cluster, from /proc/PID/stat; the difference
 * over a sweep point divided by its searches is the cluster's CPU per
 * query (client threads excluded).
 *
 * Threading: search threads only touch their own session, their latency
 * buffer and their slots of the answer array; everything else runs on the
 * calling thread.
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "util.h"


bool
bench_ticker_due(bench_ticker *t)
{
	double now = bench_now_s();
	double every = bench_progress_tty() ? 0.2 : 5.0;
	if (now - t->last < every)
		return false;
	t->last = now;
	return true;
}

shoal_code
bench_poll_until(const bench_poll *p, shoal_status *st)
{
	bench_ticker tk = {0};
	char line[300], running[200];
	for (;;) {
		shoal_code rv = p->fetch(p->arg, st);
		if (rv != SHOAL_OK)
			return rv;
		double now = bench_now_s() - p->t0;
		line[0] = running[0] = '\0';
		if (p->sample(p->arg, now, line, sizeof line, running, sizeof running))
			break;
		if (bench_ticker_due(&tk))
			bench_progress("%s, %.1f s", line, now);
		if (now - p->t_begin > p->timeout_s)
			return shoal_status_set(st, SHOAL_DEADLINE_EXCEEDED, "%s after %.0f s", running,
			    now - p->t_begin);
		util_sleep_ms(p->every_ms);
	}
	bench_progress_done();
	return SHOAL_OK;
}


/* ===================================================================
 * Measurement of one sweep point
 * =================================================================== */



typedef struct point_run {
	const bench_point_spec *ps;
	bench_point_out *out;
	pthread_barrier_t ready, go; /* clients connected; clock started */
	atomic_size_t next;
	atomic_bool failed;
	pthread_mutex_t lock;
	shoal_status err;
	double t_start;
} point_run;

typedef struct client_thread {
	pthread_t th;
	point_run *run;
	float *lat;                  /* ms */
	size_t n_lat, cap_lat;
	double t_end;
} client_thread;

static void
point_fail(point_run *run, const shoal_status *st)
{
	pthread_mutex_lock(&run->lock);
	if (!atomic_load(&run->failed)) {
		run->err = *st;
		atomic_store(&run->failed, true);
	}
	pthread_mutex_unlock(&run->lock);
}

static void *
client_main(void *arg)
{
	client_thread *ct = arg;
	point_run *run = ct->run;
	const bench_point_spec *ps = run->ps;
	shoal_status st;
	bench_session *s = NULL;
	bool ok = ps->ops->session_open(ps->t, &s, &st) == SHOAL_OK;
	if (ok && ps->ops->set_ef(s, ps->ef, &st) != SHOAL_OK)
		ok = false;
	if (!ok)
		point_fail(run, &st);
	int64_t *ids = xmalloc(ps->k * sizeof *ids);
	pthread_barrier_wait(&run->ready);
	pthread_barrier_wait(&run->go);
	while (ok && !atomic_load(&run->failed)) {
		size_t i = atomic_fetch_add(&run->next, 1);
		if (i >= ps->nq && bench_now_s() - run->t_start >= ps->min_time)
			break;
		size_t q = i % ps->nq;
		bench_coll *c = ps->colls[ps->coll_of ? ps->coll_of[q] : 0];
		size_t n = 0;
		double t0 = bench_now_s();
		shoal_code rv = ps->ops->search(s, c, ps->queries + q * ps->dim, ps->k, ids, &n, &st);
		double t1 = bench_now_s();
		if (rv != SHOAL_OK) {
			shoal_status_prefix(&st, "query %zu", q);
			point_fail(run, &st);
			break;
		}
		if (ct->n_lat == ct->cap_lat) {
			ct->cap_lat = ct->cap_lat ? 2 * ct->cap_lat : 4096;
			ct->lat = xrealloc(ct->lat, ct->cap_lat * sizeof *ct->lat);
		}
		ct->lat[ct->n_lat++] = (float)((t1 - t0) * 1000.0);
		if (i < ps->nq && run->out->answers) {
			memcpy(run->out->answers + q * ps->k, ids, n * sizeof *ids);
			run->out->n_answer[q] = (uint32_t)n;
		}
	}
	ct->t_end = bench_now_s();
	free(ids);
	if (s)
		ps->ops->session_close(s);
	return NULL;
}

static int
float_cmp(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;
	return (x > y) - (x < y);
}

void
bench_sort_ms(float *v, size_t n)
{
	qsort(v, n, sizeof *v, float_cmp);
}

double
bench_percentile(const float *sorted, size_t n, double p)
{
	if (n == 0)
		return NAN;
	size_t i = (size_t)ceil(p * (double)n) - 1;
	if (i >= n)
		i = n - 1;
	return sorted[i];
}

/* Runs one sweep point; out->answers/n_answer (if not NULL) receive the
 * first answer to every query. */
shoal_code
bench_run_point(const bench_point_spec *ps, bench_point_out *out, shoal_status *st)
{
	point_run run = {.ps = ps, .out = out};
	atomic_init(&run.next, 0);
	atomic_init(&run.failed, false);
	pthread_mutex_init(&run.lock, NULL);
	pthread_barrier_init(&run.ready, NULL, ps->clients + 1);
	pthread_barrier_init(&run.go, NULL, ps->clients + 1);
	client_thread *ct = xcalloc(ps->clients, sizeof *ct);
	uint32_t started = 0;
	for (; started < ps->clients; started++) {
		ct[started].run = &run;
		if (pthread_create(&ct[started].th, NULL, client_main, &ct[started]) != 0)
			break;
	}
	if (started < ps->clients) {
		/* cannot happen short of resource exhaustion; the barrier would
		 * never open, so give up loudly */
		fprintf(stderr, "shoal-bench: pthread_create failed\n");
		exit(1);
	}
	/* every client connects and sets ef_search first; then the clock
	 * starts and all are released together (the barrier orders t_start
	 * before the clients' reads of it) */
	pthread_barrier_wait(&run.ready);
	run.t_start = bench_now_s();
	pthread_barrier_wait(&run.go);
	double t_end = run.t_start;
	size_t total = 0;
	for (uint32_t i = 0; i < ps->clients; i++) {
		pthread_join(ct[i].th, NULL);
		if (ct[i].t_end > t_end)
			t_end = ct[i].t_end;
		total += ct[i].n_lat;
	}
	shoal_code rv = SHOAL_OK;
	if (atomic_load(&run.failed)) {
		if (st)
			*st = run.err;
		rv = run.err.code ? run.err.code : SHOAL_INTERNAL;
	} else {
		float *all = xmalloc((total ? total : 1) * sizeof *all);
		size_t m = 0;
		double sum = 0;
		for (uint32_t i = 0; i < ps->clients; i++) {
			memcpy(all + m, ct[i].lat, ct[i].n_lat * sizeof *all);
			m += ct[i].n_lat;
		}
		for (size_t i = 0; i < m; i++)
			sum += all[i];
		bench_sort_ms(all, m);
		out->done = m;
		out->qps = t_end > run.t_start ? (double)m / (t_end - run.t_start) : NAN;
		out->p50 = bench_percentile(all, m, 0.50);
		out->p95 = bench_percentile(all, m, 0.95);
		out->p99 = bench_percentile(all, m, 0.99);
		out->mean = m ? sum / (double)m : NAN;
		free(all);
	}
	for (uint32_t i = 0; i < ps->clients; i++)
		free(ct[i].lat);
	free(ct);
	pthread_barrier_destroy(&run.ready);
	pthread_barrier_destroy(&run.go);
	pthread_mutex_destroy(&run.lock);
	return rv;
}



void
bench_on_ingest_progress(void *arg, size_t done)
{
	bench_ingest_progress *p = arg;
	if (!bench_ticker_due(&p->tk) && done != p->total)
		return;
	double el = bench_now_s() - p->t0;
	bench_progress("[%s] %s %zu/%zu vectors (%.0f vectors/s, %.1f s)", p->target, p->what, done,
	    p->total, el > 0 ? (double)done / el : 0.0, el);
}

void
bench_result_set_point(bench_result *r, const bench_point_out *po)
{
	r->qps = po->qps;
	r->p50_ms = po->p50;
	r->p95_ms = po->p95;
	r->p99_ms = po->p99;
	r->mean_ms = po->mean;
	r->queries = po->done;
}

void
bench_result_fail(bench_result *res, bench_result_status s, const char *reason)
{
	res->status = s;
	snprintf(res->reason, sizeof res->reason, "%s", reason);
}


/* Recall of a point's answers against thresholds kth[q]; base/offsets per
 * query (tenant slices) or the whole base set. */
double
bench_mean_recall(const bench_dataset *ds, const bench_point_out *po, const double *kth, size_t nq,
    uint32_t k, const uint32_t *coll_of, size_t slice)
{
	double sum = 0;
	int64_t *rel = xmalloc(k * sizeof *rel);
	for (size_t q = 0; q < nq; q++) {
		const float *base = ds->base;
		size_t n_base = ds->n;
		int64_t off = 0;
		if (coll_of) {
			off = (int64_t)coll_of[q] * (int64_t)slice;
			base = ds->base + (size_t)off * ds->dim;
			n_base = slice;
		}
		uint32_t n = po->n_answer[q];
		for (uint32_t i = 0; i < n; i++)
			rel[i] = po->answers[q * k + i] - off;
		sum += bench_recall_one(ds->metric, base, n_base, ds->dim, ds->queries + q * ds->dim,
		    kth[q], rel, n, k);
	}
	free(rel);
	return nq ? sum / (double)nq : NAN;
}

/* For background_index targets: after the load, greedy searches (k = 1,
 * ef_search 1: the weakest search an HNSW graph does) in rounds of 16
 * queries until one answer is not the true nearest neighbour, which only
 * the approximate index can produce (the exact scan is always right; ties
 * count as right).  Rounds are spaced so that probing takes at most ~20% of
 * one core from the build.  *observed = false after timeout_s. */
shoal_code
bench_wait_indexed(const bench_target_ops *ops, bench_target *t, bench_coll *coll, int metric,
    const float *base, size_t n_base, uint32_t dim, const float *queries, size_t nq,
    const double *nn, double timeout_s, bool *observed, shoal_status *st)
{
	const uint32_t k = 1;
	bench_session *s = NULL;
	shoal_code rv = ops->session_open(t, &s, st);
	if (rv == SHOAL_OK)
		rv = ops->set_ef(s, 1, st);
	int64_t ids[1];
	double t0 = bench_now_s();
	size_t q = 0;
	bench_ticker tk = {0};
	*observed = false;
	while (rv == SHOAL_OK && !*observed) {
		double r0 = bench_now_s();
		for (int j = 0; j < 16 && !*observed; j++, q = (q + 1) % nq) {
			size_t n = 0;
			if ((rv = ops->search(s, coll, queries + q * dim, k, ids, &n, st)) != SHOAL_OK)
				break;
			*observed = bench_recall_one(metric, base, n_base, dim, queries + q * dim, nn[q], ids,
			                n, k) < 1.0;
		}
		double now = bench_now_s();
		if (rv != SHOAL_OK || *observed || now - t0 > timeout_s)
			break;
		if (bench_ticker_due(&tk))
			bench_progress("[%s] waiting for the HNSW index (answers are exact until it is "
			               "built) %.1f s",
			    ops->name, now - t0);
		double pause = 4 * (now - r0);
		util_sleep_ms((uint32_t)(1000 * (pause < 0.1 ? 0.1 : pause > 2 ? 2 : pause)));
	}
	bench_progress_done();
	if (s)
		ops->session_close(s);
	return rv;
}

/* ===================================================================
 * Server CPU
 * =================================================================== */

/* utime + stime of one process in ms; NAN when unreadable. */
static double
pid_cpu_ms(int pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%d/stat", pid);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return NAN;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* fields 14 and 15 (utime, stime) count from after the ")" that ends
	 * the command name, which may itself hold spaces */
	const char *p = strrchr(buf, ')');
	unsigned long long v[13];
	if (p == NULL || sscanf(p + 1, " %*c %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu",
	                     &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9],
	                     &v[10], &v[11]) != 12)
		return NAN;
	return (double)(v[10] + v[11]) * 1000.0 / (double)sysconf(_SC_CLK_TCK);
}

double
bench_cluster_cpu_ms(const bench_cluster *c)
{
	if (c == NULL || c->coord_pid <= 0)
		return NAN;
	double ms = pid_cpu_ms(c->coord_pid);
	for (int i = 0; i < c->nworkers; i++)
		ms += pid_cpu_ms(c->worker_pid[i]);
	return ms;
}

/* ===================================================================
 * Waiting for a background index
 * =================================================================== */

shoal_code
bench_wait_index(bench_run *run, const bench_options *o, const bench_target_ops *ops,
    bench_target *t, bench_coll *coll, const float *base, size_t n_base, const char *what,
    bool *observed, shoal_status *st)
{
	const bench_dataset *ds = run->ds;
	size_t nq = ds->nq;
	double *nn = xmalloc(nq * sizeof *nn);
	if (base == ds->base && n_base == ds->n && ds->gt_k > 0) {
		for (size_t q = 0; q < nq; q++)
			nn[q] = bench_distance(ds->metric, ds->queries + q * ds->dim,
			    ds->base + (size_t)ds->gt[q * ds->gt_k] * ds->dim, ds->dim);
	} else {
		/* a subset: the true nearest neighbour of a few queries */
		nq = nq < 32 ? nq : 32;
		for (size_t q = 0; q < nq; q++) {
			int32_t i;
			bench_brute_force(ds->metric, base, n_base, ds->dim, ds->queries + q * ds->dim, 1,
			    &i);
			nn[q] = bench_distance(ds->metric, ds->queries + q * ds->dim,
			    base + (size_t)i * ds->dim, ds->dim);
		}
	}
	shoal_code rv = bench_wait_indexed(ops, t, coll, ds->metric, base, n_base, ds->dim,
	    ds->queries, nq, nn, o->index_wait, observed, st);
	free(nn);
	if (rv == SHOAL_OK && !*observed) {
		fprintf(stderr,
		    "[%s] warning: no search of %s was answered by the HNSW index within --index-wait "
		    "%.0f s; searches may be exact scans\n",
		    ops->name, what, o->index_wait);
		bench_note(run,
		    "%s: no search of %s was observed to be answered by the HNSW index within %.0f s "
		    "after loading; its search numbers may be exact scans",
		    ops->name, what, o->index_wait);
	}
	return rv;
}

/* ===================================================================
 * Answers against a subset of the base set (filters, keys)
 * =================================================================== */

shoal_code
bench_subset_kth(const bench_dataset *ds, const size_t *members, size_t m, const size_t *qs,
    size_t nq, uint32_t k, double *kth, shoal_status *st)
{
	uint32_t expect = m < k ? (uint32_t)m : k;
	if (expect == 0 || nq == 0) {
		for (size_t j = 0; j < nq; j++)
			kth[j] = INFINITY;
		return SHOAL_OK;
	}
	float *sub = xmalloc(m * ds->dim * sizeof *sub);
	for (size_t j = 0; j < m; j++)
		memcpy(sub + j * ds->dim, ds->base + members[j] * ds->dim, ds->dim * sizeof *sub);
	const float *queries = ds->queries;
	float *qbuf = NULL;
	if (qs) {
		queries = qbuf = xmalloc(nq * ds->dim * sizeof *qbuf);
		for (size_t j = 0; j < nq; j++)
			memcpy(qbuf + j * ds->dim, ds->queries + qs[j] * ds->dim, ds->dim * sizeof *qbuf);
	}
	int32_t *nn = xmalloc(nq * k * sizeof *nn);
	shoal_code rv = bench_exact_knn(ds->metric, sub, m, ds->dim, queries, nq, k, nn, NULL, st);
	for (size_t j = 0; rv == SHOAL_OK && j < nq; j++)
		kth[j] = bench_distance(ds->metric, queries + j * ds->dim,
		    sub + (size_t)nn[j * k + expect - 1] * ds->dim, ds->dim);
	free(nn);
	free(qbuf);
	free(sub);
	return rv;
}

void
bench_score_subset(const bench_dataset *ds, const bench_point_out *po, size_t nq, uint32_t k,
    const double *kth, const uint32_t *expect, bool (*match)(const void *arg, size_t q, int64_t id),
    const void *arg, bench_result *r)
{
	double recall = 0, rows = 0;
	size_t complete = 0;
	uint64_t wrong = 0;
	for (size_t q = 0; q < nq; q++) {
		const int64_t *ids = po->answers + q * k;
		uint32_t n = po->n_answer[q], hits = 0;
		const float *qv = ds->queries + q * ds->dim;
		double tol = 1e-6 * fabs(kth[q]) + 1e-9;
		for (uint32_t i = 0; i < n; i++) {
			int64_t id = ids[i];
			if (id < 0 || (uint64_t)id >= ds->n || !match(arg, q, id)) {
				wrong++;
				continue;
			}
			bool dup = false;
			for (uint32_t j = 0; j < i && !dup; j++)
				dup = ids[j] == id;
			if (!dup && bench_distance(ds->metric, qv, ds->base + (size_t)id * ds->dim,
			                ds->dim) <= kth[q] + tol)
				hits++;
		}
		recall += expect[q] ? (double)(hits < expect[q] ? hits : expect[q]) / expect[q] : 1.0;
		rows += n;
		complete += n == expect[q];
	}
	r->recall = nq ? recall / (double)nq : NAN;
	r->rows_mean = nq ? rows / (double)nq : NAN;
	r->complete_frac = nq ? (double)complete / (double)nq : NAN;
	r->wrong_rows = wrong;
}
