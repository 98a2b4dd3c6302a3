/* wl_rebalance.c -- the rebalance workload: add a worker to a loaded
 * cluster and rebalance it online, the scenario issue 5 compares with
 * Citus (citus_add_node + rebalance_table_shards: 4 workers, a 5th added,
 * 6 shard-group moves, 57 s, 0.8-1.1 s write pause at each cutover, every
 * HNSW index rebuilt on the target).
 *
 * shoal only.  The workload starts its own cluster (cluster.c, daemons
 * from --bin) because it must add a worker to it; the run's main cluster
 * (--local) stays idle meanwhile.
 *   1. --rebalance-workers workers (default 4); a shared collection of
 *      --rebalance-shards shards (default 32, Citus's default shard count)
 *      distributed by the int payload field "key" (point i has key
 *      i % --rebalance-keys, default 128), holding the first P base points
 *      (--rebalance-size, default min(N, 200000): 200,000 x 128 float32 =
 *      102 MB of vectors).  Shards are placed round robin, so each worker
 *      holds S/W of them.  A worker keeps one index per key (partition);
 *      one of more than 1,024 points (PSTATE_EXACT_MAX) is an HNSW graph,
 *      so with 128 keys every partition (~1,560 points) has one: the
 *      graphs a move must carry, like Citus's per-shard HNSW indexes.
 *   2. One key-routed search per key loads every partition; the workload
 *      waits (up to --index-wait) until the workers' index_rebuilds
 *      counters have stopped growing for 5 s: every graph is built.
 *   3. A reader (one search at a time, key-routed to one shard, ef
 *      --migrate-ef, k --k) and a writer (10 points --migrate-writes times
 *      a second, same ids, vectors and keys) run on their own connections
 *      for the whole run.  After --migrate-before seconds a worker is
 *      added (started, then waited for until the coordinator sees it up:
 *      what `shoal node add` does) and a rebalance started through the
 *      public API (shoal_rebalance_start, throttled to the first
 *      --max-mbps value: what `shoal rebalance` calls), polled every 50 ms
 *      with shoal_rebalance_get until it is done.  --migrate-after seconds
 *      later both threads stop.
 *   4. Each planned move's start and end are the polls at which the plan
 *      first showed it running and done (the rebalance counts a move done
 *      at its cutover; the source's drop after its grace period overlaps
 *      the next move, and the run ends once every drop is done).  Its rows,
 *      bytes of rows and of HNSW index bundles, copy rate (both over its
 *      copy pass), write pause (fence_ms) and copy passes come from
 *      shoal_move_get afterwards; what its target did with the shard's
 *      partitions from the target's log at the end (the Status counters
 *      are per worker, and a carried index is installed when the target
 *      first loads the partition, not at the move's end): "carried" = some
 *      installed from the moved index and none built as HNSW nor refused.
 *      (The workers' Status counters sum over the shards a worker holds
 *      now, so they cannot attribute; they only tell when the graphs of
 *      step 2 are built.)
 * Result row "rebalance": wall time (start request to done, and to the
 * last cutover), per-move time / MB/s / write pause / carried, MB/s
 * overall (every MB/s counts rows + index bundles, as --max-mbps does), the largest write pause, the writer's slowest upsert during the
 * rebalance, search p50/p99 before (the --migrate-before seconds before
 * the worker was added) and during (start request to done), failed
 * searches and upserts, answers holding a point twice, index builds and
 * installs on the targets.
 *
 * Other targets: skipped with the reason.
 *
 * Threading: the reader and the writer own their connections and arrays;
 * the main thread polls and reads the arrays after joining them.
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
#define RB_TIMEOUT_S 3600.0
#define INDEX_STABLE_S 5.0
#define POLL_MS 50
/* worker/partition.h PSTATE_EXACT_MAX: partitions up to this many points
 * are scanned exactly and have no graph */
#define PARTITION_EXACT_MAX 1024

/* One planned move as measured. */
typedef struct rb_move_out {
	char id[64], from[64], to[64];
	uint64_t points, bytes_planned;   /* the plan's estimate */
	uint64_t rows, bytes;             /* copied (shoal_move_get); bytes: the rows' */
	uint64_t index_bytes;             /* HNSW index bundles carried (shoal_move_get) */
	double t0, t1;                    /* s from the start request; t1 < 0 = never ended */
	double copy_mbps;                 /* the copy pass's rate, rows + index bundles */
	double fence_ms;                  /* write pause at cutover */
	double write_max_ms;              /* slowest upsert while it ran */
	uint64_t imports, rebuilds;       /* the shard's partitions installed / built on the
	                                   * target (its log, at the end of the run) */
	bool logged;                      /* the target's log was read */
	uint32_t attempts;
	int state;
	char error[256];
} rb_move_out;

/* A worker, for its Status rpc (index counters). */
typedef struct rb_worker_out {
	char name[64], url[128];
} rb_worker_out;

struct bench_rebalance_out {
	rb_move_out *moves;
	size_t n_moves;
	rb_worker_out w[BENCH_MAX_WORKERS];
	int nw;
	uint32_t workers_before, shards, keys;
	uint64_t graphs;                  /* HNSW graphs built before the rebalance */
	size_t points;
	double load_s, index_s, add_s, cutover_s;
	char added[64];
};

typedef struct rb_load {
	const bench_dataset *ds;
	const bench_options *o;
	bench_target *t;
	bench_coll *coll;
	const char *url;
	size_t P;
	atomic_bool stop;
	bench_load ld;
} rb_load;

static void *
reader_main(void *arg)
{
	rb_load *L = arg;
	const bench_target_ops *ops = &bench_shoal_ops;
	shoal_status st;
	bench_session *s = NULL;
	if (ops->session_open(L->t, &s, &st) != SHOAL_OK ||
	    ops->set_ef(s, L->o->migrate_ef, &st) != SHOAL_OK) {
		snprintf(L->ld.read_error, sizeof L->ld.read_error, "%.290s", st.msg);
		L->ld.read_errors++;
		if (s)
			ops->session_close(s);
		return NULL;
	}
	int64_t *ids = xmalloc(L->o->k * sizeof *ids);
	for (size_t i = 0; !atomic_load(&L->stop); i++) {
		const float *q = L->ds->queries + (i % L->ds->nq) * L->ds->dim;
		bench_coll *view = NULL;
		size_t n = 0;
		ops->key_view(L->t, L->coll, (int64_t)((i * 7919) % L->o->rebalance_keys), &view, &st);
		double t0 = bench_now_s();
		shoal_code rv = ops->search(s, view, q, L->o->k, ids, &n, &st);
		double t1 = bench_now_s();
		ops->drop(L->t, view);
		bench_load_search(&L->ld, rv, &st, t0, t1, ids, n);
	}
	free(ids);
	ops->session_close(s);
	return NULL;
}

static void *
writer_main(void *arg)
{
	rb_load *L = arg;
	const bench_dataset *ds = L->ds;
	shoal_status st;
	shoal_client *c = bench_load_connect(&L->ld, L->url, L->o->cfg.shoal_timeout_ms);
	if (c == NULL)
		return NULL;
	uint64_t ids[WRITE_BATCH];
	shoal_field f[WRITE_BATCH];
	shoal_payload pl[WRITE_BATCH];
	float *vec = xmalloc(WRITE_BATCH * ds->dim * sizeof *vec);
	double period = 1.0 / L->o->migrate_writes, next = bench_now_s();
	size_t nb = L->P < WRITE_BATCH ? L->P : WRITE_BATCH;
	for (size_t w = 0; !atomic_load(&L->stop); w++) {
		for (size_t j = 0; j < nb; j++) {
			size_t i = (w * 7 * nb + j * 7919) % L->P; /* spread over the shards */
			ids[j] = (uint64_t)i + 1; /* target_shoal.c: shoal id = bench id + 1 */
			f[j] = (shoal_field){.key = "key", .type = SHOAL_VALUE_INT,
				.i = (int64_t)(i % L->o->rebalance_keys)};
			pl[j] = (shoal_payload){.fields = &f[j], .n_fields = 1};
			memcpy(vec + j * ds->dim, ds->base + i * ds->dim, ds->dim * sizeof *vec);
		}
		shoal_batch b = {.n = nb, .dim = ds->dim, .ids = ids, .vectors = vec, .payloads = pl};
		double t0 = bench_now_s();
		shoal_code rv = shoal_upsert(c, "", bench_shoal_collection(L->coll), &b, NULL, &st);
		bench_load_write(&L->ld, rv, &st, t0, bench_now_s());
		bench_load_pace(&next, period);
	}
	free(vec);
	shoal_close(c);
	return NULL;
}

/* Refreshes out->w[] from the cluster's worker list (names, URLs). */
static shoal_code
list_workers(shoal_client *c, bench_rebalance_out *out, shoal_status *st)
{
	shoal_cluster_info *ci = NULL;
	shoal_code rv = shoal_cluster_status(c, &ci, st);
	if (rv != SHOAL_OK)
		return rv;
	for (size_t i = 0; i < ci->n_workers; i++) {
		int k = 0;
		while (k < out->nw && strcmp(out->w[k].name, ci->workers[i].name) != 0)
			k++;
		if (k == out->nw) {
			if (out->nw == BENCH_MAX_WORKERS)
				continue;
			out->nw++;
			memset(&out->w[k], 0, sizeof out->w[k]);
			snprintf(out->w[k].name, sizeof out->w[k].name, "%s", ci->workers[i].name);
		}
		snprintf(out->w[k].url, sizeof out->w[k].url, "%s", ci->workers[i].url);
	}
	shoal_cluster_info_free(ci);
	return SHOAL_OK;
}

/* Sum of every worker's index_rebuilds. */
static shoal_code
sum_rebuilds(const bench_rebalance_out *out, uint64_t *sum, shoal_status *st)
{
	*sum = 0;
	for (int k = 0; k < out->nw; k++) {
		uint64_t imp, reb;
		shoal_code rv = bench_worker_index_counters(out->w[k].url, &imp, &reb, st);
		if (rv != SHOAL_OK)
			return rv;
		*sum += reb;
	}
	return SHOAL_OK;
}

/* Step 2: one search per key loads every partition; then waits until
 * the workers' graph builds (index_rebuilds) stop growing. */
static shoal_code
wait_graphs(const bench_options *o, bench_target *t, bench_coll *coll, const bench_dataset *ds,
    bench_rebalance_out *out, shoal_status *st)
{
	bench_session *s = NULL;
	int64_t ids[16];
	size_t n;
	shoal_code rv = bench_shoal_ops.session_open(t, &s, st);
	for (uint32_t key = 0; rv == SHOAL_OK && key < out->keys; key++) {
		bench_coll *view = NULL;
		bench_shoal_ops.key_view(t, coll, key, &view, st);
		rv = bench_shoal_ops.search(s, view, ds->queries, 10, ids, &n, st);
		bench_shoal_ops.drop(t, view);
	}
	if (s)
		bench_shoal_ops.session_close(s);
	if (rv != SHOAL_OK)
		return rv;
	/* every partition above the exact-scan size is built once at least */
	uint64_t want = out->points / out->keys > PARTITION_EXACT_MAX ? out->keys : 0;
	double t0 = bench_now_s(), stable = t0;
	uint64_t last = 0;
	bench_ticker tk = {0};
	for (;;) {
		uint64_t sum;
		if ((rv = sum_rebuilds(out, &sum, st)) != SHOAL_OK)
			return rv;
		double now = bench_now_s();
		if (sum != last) {
			last = sum;
			stable = now;
		}
		if (sum >= want && now - stable >= INDEX_STABLE_S) {
			out->graphs = sum;
			return SHOAL_OK;
		}
		if (now - t0 > o->index_wait)
			return shoal_status_set(st, SHOAL_DEADLINE_EXCEEDED,
			    "%llu graphs built after %.0f s, %llu expected (--index-wait)",
			    (unsigned long long)sum, o->index_wait, (unsigned long long)want);
		if (bench_ticker_due(&tk))
			bench_progress("[shoal] rebalance: %llu graphs built (%.0f s)",
			    (unsigned long long)sum, now - t0);
		util_sleep_ms(500);
	}
}

/* Counts, in the target's log, what happened to the partitions of move
 * m's shard (worker/shard_index.c's log lines): installed from the moved
 * index, or built as HNSW on the target (a graph not carried, or a
 * compaction).  The log is the only place that says which shard a graph
 * belongs to; the Status counters are per worker. */
static void
count_log(const bench_cluster *cl, rb_move_out *m)
{
	int wi = -1;
	unsigned long long shard;
	if (sscanf(m->to, "bench-w%d", &wi) != 1 || sscanf(m->id, "shard:%llu", &shard) != 1)
		return;
	char path[400], line[1024], prefix[64];
	snprintf(path, sizeof path, "%s/worker%d.log", cl->dir, wi);
	snprintf(prefix, sizeof prefix, "shard %llu: ", shard);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return;
	m->imports = m->rebuilds = 0;
	while (fgets(line, sizeof line, f)) {
		const char *at = strstr(line, prefix);
		if (at == NULL)
			continue;
		if (strstr(at, "installed from the moved index"))
			m->imports++;
		else if (strstr(at, "rebuilt as HNSW") || strstr(at, "not used"))
			m->rebuilds++;
	}
	fclose(f);
	m->logged = true;
}

/* run_rebalance's poll of the run (bench_poll): ri is the last status,
 * owned here; the first poll keeps the one the start returned. */
typedef struct rb_poll {
	shoal_client *c;
	shoal_rebalance_info *ri;
	bench_rebalance_out *out;
	bool polled;
} rb_poll;

static shoal_code
rb_fetch(void *arg, shoal_status *st)
{
	rb_poll *rp = arg;
	if (!rp->polled) {
		rp->polled = true;
		return SHOAL_OK;
	}
	shoal_rebalance_info_free(rp->ri);
	rp->ri = NULL;
	shoal_code rv = shoal_rebalance_get(rp->c, &rp->ri, st);
	if (rv != SHOAL_OK)
		shoal_status_prefix(st, "rebalance status");
	return rv;
}

/* Each planned move's start and end are the polls at which the plan
 * shows it started and ended. */
static bool
rb_sample(void *arg, double now, char *line, size_t line_cap, char *running,
    size_t running_cap)
{
	rb_poll *rp = arg;
	const shoal_rebalance_info *ri = rp->ri;
	bench_rebalance_out *out = rp->out;
	for (size_t j = 0; j < ri->n_moves && j < out->n_moves; j++) {
		rb_move_out *m = &out->moves[j];
		int s = ri->moves[j].state;
		if (m->t0 < 0 && (s != 0 || (ri->state == 2 && ri->current == j)))
			m->t0 = now;
		if (m->t1 < 0 && s >= 5) {
			m->t1 = now;
			m->state = s;
			if (s == 5)
				out->cutover_s = now;
		}
	}
	snprintf(line, line_cap, "[shoal] rebalance: %zu of %zu moves done, %s %s", ri->done,
	    ri->n_moves, ri->has_move ? ri->move.id : "", ri->has_move ? ri->move.state_name : "");
	snprintf(running, running_cap, "rebalance still running");
	return ri->state >= 3;
}

/* Step 3's rebalance: starts it, polls until it ends, fills out->moves. */
static shoal_code
run_rebalance(shoal_client *c, double max_mbps, double t_rb0, bench_rebalance_out *out,
    shoal_rebalance_info **last, shoal_status *st)
{
	shoal_rebalance_info *ri = NULL;
	shoal_code rv = shoal_rebalance_start(c, false, max_mbps, NULL, &ri, st);
	if (rv != SHOAL_OK) {
		shoal_status_prefix(st, "rebalance");
		return rv;
	}
	out->n_moves = ri->n_moves;
	out->moves = xcalloc(ri->n_moves ? ri->n_moves : 1, sizeof *out->moves);
	for (size_t j = 0; j < ri->n_moves; j++) {
		rb_move_out *m = &out->moves[j];
		snprintf(m->id, sizeof m->id, "%s", ri->moves[j].tenant);
		snprintf(m->from, sizeof m->from, "%s", ri->moves[j].from_worker);
		snprintf(m->to, sizeof m->to, "%s", ri->moves[j].to_worker);
		m->points = ri->moves[j].points;
		m->bytes_planned = ri->moves[j].bytes;
		m->t0 = m->t1 = -1;
	}
	fprintf(stderr, "[shoal] rebalance: plan of %zu moves:", ri->n_moves);
	for (size_t j = 0; j < ri->n_moves; j++)
		fprintf(stderr, " %s %s->%s (%.1f MB)", ri->moves[j].tenant, ri->moves[j].from_worker,
		    ri->moves[j].to_worker, (double)ri->moves[j].bytes / 1e6);
	fputc('\n', stderr);
	rb_poll rp = {.c = c, .ri = ri, .out = out};
	bench_poll p = {.arg = &rp, .fetch = rb_fetch, .sample = rb_sample, .t0 = t_rb0,
		.t_begin = 0, .timeout_s = RB_TIMEOUT_S, .every_ms = POLL_MS};
	rv = bench_poll_until(&p, st);
	ri = rp.ri;
	if (rv != SHOAL_OK) {
		shoal_rebalance_info_free(ri);
		return rv;
	}
	*last = ri;
	if (ri->state != 3)
		return shoal_status_set(st, SHOAL_ABORTED, "rebalance ended %s: %s", ri->state_name,
		    ri->error[0] ? ri->error : "(no reason given)");
	return SHOAL_OK;
}

void
bench_rebalance_free(bench_rebalance_out *rb)
{
	if (rb == NULL)
		return;
	free(rb->moves);
	free(rb);
}

/* Whether move m carried its graphs: the target installed some and built
 * none up to the move's end. */
static bool
carried(const rb_move_out *m)
{
	return m->logged && m->imports > 0 && m->rebuilds == 0;
}

/* Move m's MB/s over its wall time (start to done as polled): rows and
 * index bundles, what its --max-mbps throttle counts. */
static double
rb_move_mbps(const rb_move_out *m)
{
	double s = m->t1 - m->t0;
	return s > 0 ? (double)(m->bytes + m->index_bytes) / 1e6 / s : 0.0;
}

/* Graphs installed and built on the targets for the moved shards (the
 * targets' logs).  The workers' Status counters cannot say it: they sum
 * over the shards a worker holds now, so a worker that is also a source
 * loses the counts of the shards it gave away. */
static void
target_counters(const bench_rebalance_out *rb, uint64_t *imports, uint64_t *rebuilds)
{
	*imports = *rebuilds = 0;
	for (size_t j = 0; j < rb->n_moves; j++) {
		*imports += rb->moves[j].imports;
		*rebuilds += rb->moves[j].rebuilds;
	}
}

bool
bench_wl_rebalance(bench_run *run, const bench_options *o, const bench_target_ops *ops,
    bench_target *t_main, bench_coll *main_coll, const double *kth)
{
	(void)t_main;
	(void)main_coll;
	(void)kth;
	const bench_dataset *ds = run->ds;
	if (ops != &bench_shoal_ops) {
		bench_result_fail(bench_result_add(run, ops->name, "rebalance"), RES_SKIPPED,
		    ops == &bench_pg_ops
		        ? "an online rebalance of PostgreSQL needs Citus (citus_add_node + "
		          "rebalance_table_shards), which this harness cannot run; issue 5 quotes "
		          "57 s for this scenario"
		        : "an in-process index has no cluster to rebalance (measured on the shoal "
		          "target)");
		return true;
	}
	size_t ri_idx = run->n_results;
	bench_result_add(run, ops->name, "rebalance");
#define R (&run->results[ri_idx])
	size_t P = o->rebalance_size ? o->rebalance_size : 200000;
	if (P > ds->n)
		P = ds->n;
	bench_rebalance_out *rb = xcalloc(1, sizeof *rb);
	rb->workers_before = o->rebalance_workers;
	rb->shards = o->rebalance_shards;
	rb->keys = o->rebalance_keys;
	rb->points = P;
	bench_rebalance_free(run->rebalance);
	run->rebalance = rb;
	double max_mbps = o->n_max_mbps > 0 ? o->max_mbps[0] : 0;

	shoal_status st;
	char why[700];
	bench_cluster cl = {0};
	bench_target *t = NULL;
	bench_coll *coll = NULL;
	shoal_client *c = NULL;
	int64_t *attr = NULL;
	bench_progress("[shoal] rebalance: starting its own cluster of %u workers from %s",
	    o->rebalance_workers, o->bin);
	shoal_code rv = bench_cluster_start(&cl, o->bin, (int)o->rebalance_workers, o->worker_args,
	    &st);
	bench_progress_done();
	bench_config cfg = o->cfg;
	cfg.shoal_url = cl.url;
	if (rv == SHOAL_OK)
		rv = ops->open(&cfg, &t, &st);
	shoal_connect_opts co = {.timeout_ms = o->cfg.shoal_timeout_ms};
	if (rv == SHOAL_OK)
		rv = shoal_connect(cl.url, &co, &c, &st);

	/* 1. the shared collection */
	if (rv == SHOAL_OK)
		rv = ops->create_shared(t, "rebalance", ds->dim, rb->shards, "key", &coll, &st);
	if (rv == SHOAL_OK) {
		attr = xmalloc(P * sizeof *attr);
		for (size_t i = 0; i < P; i++)
			attr[i] = (int64_t)(i % rb->keys);
		bench_ingest_progress ip = {.target = ops->name, .what = "rebalance load", .total = P,
			.t0 = bench_now_s()};
		bench_load_times lt = {0};
		rv = ops->load_attr(t, coll, ds->base, attr, P, 0, "key", &lt,
		    bench_on_ingest_progress, &ip, &st);
		bench_progress_done();
		rb->load_s = lt.load_s + lt.build_s;
	}
	/* 2. every shard's graph */
	double t_idx = bench_now_s();
	if (rv == SHOAL_OK)
		rv = list_workers(c, rb, &st);
	if (rv == SHOAL_OK)
		rv = wait_graphs(o, t, coll, ds, rb, &st);
	bench_progress_done();
	rb->index_s = bench_now_s() - t_idx;
	if (rv != SHOAL_OK) {
		snprintf(why, sizeof why, "rebalance set-up failed: %s", st.msg);
		bench_result_fail(R, RES_FAILED, why);
		fprintf(stderr, "[shoal] %s\n", why);
		goto out;
	}
	fprintf(stderr,
	    "[shoal] rebalance: %zu points (%.1f MB of vectors) in %u shards (%u keys) on %u "
	    "workers, loaded in %.1f s, %llu HNSW graphs built in %.1f s\n",
	    P, (double)P * ds->dim * 4 / 1e6, rb->shards, rb->keys, rb->workers_before,
	    rb->load_s, (unsigned long long)rb->graphs, rb->index_s);

	/* 3. load, add a worker, rebalance */
	rb_load L = {.ds = ds, .o = o, .t = t, .coll = coll, .url = cl.url, .P = P};
	atomic_init(&L.stop, false);
	pthread_t rth, wth;
	bool writer = o->migrate_writes > 0;
	pthread_create(&rth, NULL, reader_main, &L);
	if (writer)
		pthread_create(&wth, NULL, writer_main, &L);
	util_sleep_ms((uint32_t)(o->migrate_before * 1000));
	double t_add = bench_now_s();
	shoal_rebalance_info *last = NULL;
	rv = bench_cluster_add_worker(&cl, &st);
	rb->add_s = bench_now_s() - t_add;
	snprintf(rb->added, sizeof rb->added, "bench-w%d", cl.nworkers - 1);
	double t_rb0 = bench_now_s(), t_rb1 = t_rb0;
	if (rv == SHOAL_OK) {
		rv = run_rebalance(c, max_mbps, t_rb0, rb, &last, &st);
		t_rb1 = bench_now_s();
	}
	if (rv == SHOAL_OK)
		util_sleep_ms((uint32_t)(o->migrate_after * 1000));
	atomic_store(&L.stop, true);
	pthread_join(rth, NULL);
	if (writer)
		pthread_join(wth, NULL);

	/* 4. per-move figures, counters at the end */
	for (size_t j = 0; rv == SHOAL_OK && j < rb->n_moves; j++) {
		rb_move_out *m = &rb->moves[j];
		shoal_move_info mi;
		if (shoal_move_get(c, m->id, &mi, &st) == SHOAL_OK) {
			m->rows = mi.rows_copied;
			m->bytes = mi.bytes_copied;
			m->index_bytes = mi.index_bytes_copied;
			m->copy_mbps = mi.mb_per_s;
			m->fence_ms = (double)mi.fence_ms;
			m->attempts = mi.attempts;
			snprintf(m->error, sizeof m->error, "%.250s", mi.error);
		}
		if (m->t0 >= 0 && m->t1 >= 0)
			bench_samples_window(&L.ld.writes, NULL, t_rb0 + m->t0, t_rb0 + m->t1, NULL, NULL, NULL,
			    &m->write_max_ms);
		count_log(&cl, m);
	}
	if (rv != SHOAL_OK) {
		snprintf(why, sizeof why, "%s", st.msg);
		bench_result_fail(R, RES_FAILED, why);
		fprintf(stderr, "[shoal] rebalance: %s\n", why);
	} else {
		bench_result *x = R;
		x->vectors = P;
		x->shards = rb->shards;
		x->keys = rb->keys;
		x->k = o->k;
		x->ef_search = o->migrate_ef;
		x->clients = 1;
		x->max_mbps = max_mbps;
		x->move_seconds = t_rb1 - t_rb0;
		uint64_t bytes = 0, ibytes = 0, rows = 0;
		double pause = 0;
		for (size_t j = 0; j < rb->n_moves; j++) {
			bytes += rb->moves[j].bytes;
			ibytes += rb->moves[j].index_bytes;
			rows += rb->moves[j].rows;
			if (rb->moves[j].fence_ms > pause)
				pause = rb->moves[j].fence_ms;
		}
		x->bytes_moved = bytes;
		x->index_bytes_moved = ibytes;
		x->rows_moved = rows;
		x->write_pause_ms = pause;
		x->mb_per_s =
		    x->move_seconds > 0 ? (double)(bytes + ibytes) / 1e6 / x->move_seconds : 0;
		x->rows_per_s = x->move_seconds > 0 ? (double)rows / x->move_seconds : 0;
		bench_samples_window(&L.ld.reads, NULL, t_add - o->migrate_before, t_add, &x->p50_before,
		    &x->p99_before, NULL, NULL);
		bench_samples_window(&L.ld.reads, NULL, t_rb0, t_rb1, &x->p50_during, &x->p99_during,
		    NULL, NULL);
		bench_samples_window(&L.ld.writes, NULL, t_rb0, t_rb1, NULL, NULL, NULL,
		    &x->write_max_ms);
		x->searches = L.ld.reads.n;
		x->writes = L.ld.writes.n;
		x->search_errors = L.ld.read_errors;
		x->write_errors = L.ld.write_errors;
		x->duplicate_hits = L.ld.dups;
		snprintf(x->move_from, sizeof x->move_from, "%u workers", rb->workers_before);
		snprintf(x->move_to, sizeof x->move_to, "%s", rb->added);
		uint64_t imp, reb;
		target_counters(rb, &imp, &reb);
		fprintf(stderr,
		    "[shoal] rebalance: %zu moves, %.1f MB rows + %.1f MB index / %llu rows in %.1f s "
		    "(last cutover at %.1f s; %.1f MB/s); largest write pause %.0f ms, slowest upsert %.1f ms; search "
		    "p99 %.3f -> %.3f ms; targets installed %llu graphs and built %llu; %llu searches "
		    "(%llu failed, %llu with a duplicate), %llu upserts (%llu failed)\n",
		    rb->n_moves, (double)bytes / 1e6, (double)ibytes / 1e6, (unsigned long long)rows,
		    x->move_seconds,
		    rb->cutover_s, x->mb_per_s, pause, x->write_max_ms, x->p99_before, x->p99_during,
		    (unsigned long long)imp, (unsigned long long)reb, (unsigned long long)x->searches,
		    (unsigned long long)x->search_errors, (unsigned long long)x->duplicate_hits,
		    (unsigned long long)x->writes, (unsigned long long)x->write_errors);
		for (size_t j = 0; j < rb->n_moves; j++) {
			const rb_move_out *m = &rb->moves[j];
			fprintf(stderr,
			    "[shoal] rebalance:   %s %s -> %s: %.1f MB rows + %.1f MB index, %llu rows, "
			    "%.2f s (%.1f -> %.1f), copy %.1f MB/s, pause %.0f ms, target installed %llu / "
			    "built %llu graphs\n",
			    m->id, m->from, m->to, (double)m->bytes / 1e6, (double)m->index_bytes / 1e6,
			    (unsigned long long)m->rows,
			    m->t1 - m->t0, m->t0, m->t1, m->copy_mbps, m->fence_ms,
			    (unsigned long long)m->imports, (unsigned long long)m->rebuilds);
		}
		bench_load_note(run, "rebalance", &L.ld);
	}
	shoal_rebalance_info_free(last);
	bench_load_free(&L.ld);
out:
	free(attr);
	if (coll)
		ops->drop(t, coll);
	if (t)
		ops->close(t);
	shoal_close(c);
	bench_progress("[shoal] rebalance: stopping its cluster");
	bench_cluster_stop(&cl, o->cfg.keep);
	bench_progress_done();
	return R->status == RES_OK;
#undef R
}

/* ---- output ------------------------------------------------------------ */

void
bench_rebalance_json(FILE *f, const bench_run *r, const bench_result *x)
{
	const bench_rebalance_out *rb = r->rebalance;
	uint64_t imp = 0, reb = 0;
	if (rb)
		target_counters(rb, &imp, &reb);
	fprintf(f,
	    ", \"vectors\": %llu, \"shards\": %u, \"keys\": %u, \"workers_before\": %u, "
	    "\"added_worker\": \"%s\", \"max_mbps\": %.1f, \"moves\": %zu, \"seconds\": %.3f, "
	    "\"seconds_to_last_cutover\": %.3f, \"bytes_moved\": %llu, \"index_bytes_moved\": "
	    "%llu, \"rows_moved\": %llu, "
	    "\"mb_per_s\": %.2f, \"rows_per_s\": %.1f, \"write_pause_ms\": %.0f, "
	    "\"write_max_ms\": %.1f, \"k\": %u, \"ef_search\": %u, "
	    "\"index_imports_on_targets\": %llu, \"index_rebuilds_on_targets\": %llu, "
	    "\"searches\": %llu, \"search_errors\": %llu, \"duplicate_hits\": %llu, "
	    "\"writes\": %llu, \"write_errors\": %llu",
	    (unsigned long long)x->vectors, x->shards, x->keys, rb ? rb->workers_before : 0,
	    x->move_to, x->max_mbps, rb ? rb->n_moves : 0, x->move_seconds,
	    rb ? rb->cutover_s : 0.0, (unsigned long long)x->bytes_moved,
	    (unsigned long long)x->index_bytes_moved, (unsigned long long)x->rows_moved, x->mb_per_s, x->rows_per_s, x->write_pause_ms,
	    x->write_max_ms, x->k, x->ef_search, (unsigned long long)imp, (unsigned long long)reb,
	    (unsigned long long)x->searches, (unsigned long long)x->search_errors,
	    (unsigned long long)x->duplicate_hits, (unsigned long long)x->writes,
	    (unsigned long long)x->write_errors);
	/* NAN without samples (JSON has no NaN): null */
	const char *pk[4] = {"p50_ms_before", "p99_ms_before", "p50_ms_during", "p99_ms_during"};
	double pv[4] = {x->p50_before, x->p99_before, x->p50_during, x->p99_during};
	for (int i = 0; i < 4; i++)
		fprintf(f, isfinite(pv[i]) ? ", \"%s\": %.3f" : ", \"%s\": null", pk[i], pv[i]);
	if (rb == NULL)
		return;
	fputs(", \"move_list\": [", f);
	for (size_t j = 0; j < rb->n_moves; j++) {
		const rb_move_out *m = &rb->moves[j];
		double s = m->t1 - m->t0;
		/* ids are "shard:N" or tenant names (the catalog's name rules: no
		 * quote or backslash) */
		fprintf(f,
		    "%s{\"id\": \"%s\", \"from\": \"%s\", \"to\": \"%s\", \"rows\": %llu, \"bytes\": "
		    "%llu, \"index_bytes\": %llu, \"start_s\": %.3f, \"seconds\": %.3f, \"mb_per_s\": %.2f, "
		    "\"copy_mb_per_s\": %.2f, \"write_pause_ms\": %.0f, \"write_max_ms\": %.1f, "
		    "\"index_imports\": %llu, \"index_rebuilds\": %llu, \"carried\": %s, "
		    "\"attempts\": %u}",
		    j ? ", " : "", m->id, m->from, m->to, (unsigned long long)m->rows,
		    (unsigned long long)m->bytes, (unsigned long long)m->index_bytes, m->t0, s,
		    rb_move_mbps(m), m->copy_mbps, m->fence_ms, m->write_max_ms,
		    (unsigned long long)m->imports, (unsigned long long)m->rebuilds,
		    carried(m) ? "true" : "false", m->attempts);
	}
	fputc(']', f);
}

static const bench_result *
find_rebalance(const bench_run *r)
{
	for (size_t i = 0; i < r->n_results; i++)
		if (r->results[i].status == RES_OK && strcmp(r->results[i].workload, "rebalance") == 0)
			return &r->results[i];
	return NULL;
}

bool
bench_rebalance_goal(FILE *f, const bench_run *r)
{
	const bench_result *x = find_rebalance(r);
	const bench_rebalance_out *rb = r->rebalance;
	if (x == NULL || rb == NULL)
		return false;
	uint64_t imp, reb;
	target_counters(rb, &imp, &reb);
	const double goal_s = 57.0 / 3;
	fprintf(f,
	    "- Rebalance (issue 5) after adding a worker to %u: %zu moves of %.1f MB rows + %.1f MB "
	    "index in %.1f s; goal <= %.0f s (3x faster than Citus's 57 s): **%s**",
	    rb->workers_before, rb->n_moves, (double)x->bytes_moved / 1e6,
	    (double)x->index_bytes_moved / 1e6, x->move_seconds, goal_s,
	    x->move_seconds <= goal_s ? "met" : "missed");
	if (x->move_seconds > goal_s)
		fprintf(f, " (%.1f s over)", x->move_seconds - goal_s);
	fprintf(f, "; largest write pause %.0f ms, goal <= 100 ms: **%s**", x->write_pause_ms,
	    x->write_pause_ms <= 100 ? "met" : "missed");
	fprintf(f,
	    "; graphs built on the targets: %llu (%llu installed from the moves), goal none: "
	    "**%s**; search p99 %.3f ms during vs %.3f ms before (%.2fx)\n",
	    (unsigned long long)reb, (unsigned long long)imp, reb == 0 ? "met" : "missed",
	    x->p99_during, x->p99_before, x->p99_during / x->p99_before);
	return true;
}

void
bench_rebalance_markdown(FILE *f, const bench_run *r)
{
	const bench_result *x = find_rebalance(r);
	const bench_rebalance_out *rb = r->rebalance;
	if (x == NULL || rb == NULL)
		return;
	char thr[32];
	snprintf(thr, sizeof thr, x->max_mbps > 0 ? "%.0f MB/s" : "none", x->max_mbps);
	fprintf(f,
	    "## Rebalance (a worker added to %u, rebalanced under load)\n\n"
	    "%llu points (%.1f MB of vectors) in a shared collection of %u shards (%u keys) on "
	    "%u workers; worker %s added (%.1f s until up), then `rebalance` (throttle: %s). "
	    "Wall time %.1f s from the start request to done (last cutover at %.1f s), %.1f MB "
	    "of rows + %.1f MB of HNSW index bundles and %llu rows moved (%.1f MB/s overall, "
	    "rows + index; MB/s below: the same per move, copy MB/s: over its copy pass only). "
	    "Search p50/p99 %.3f / %.3f ms before, "
	    "%.3f / %.3f ms during; slowest upsert during %.1f ms; %llu searches (%llu failed, "
	    "%llu with a duplicate), %llu upserts (%llu failed).\n\n"
	    "| move | from -> to | rows | MB rows + index | start s | seconds | MB/s | copy MB/s | write pause "
	    "ms | slowest upsert ms | graphs installed / built on the target | carried |\n"
	    "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---|\n",
	    rb->workers_before, (unsigned long long)x->vectors,
	    (double)x->vectors * r->ds->dim * 4 / 1e6, rb->shards, rb->keys, rb->workers_before,
	    rb->added, rb->add_s, thr, x->move_seconds, rb->cutover_s,
	    (double)x->bytes_moved / 1e6, (double)x->index_bytes_moved / 1e6,
	    (unsigned long long)x->rows_moved, x->mb_per_s, x->p50_before, x->p99_before, x->p50_during, x->p99_during, x->write_max_ms,
	    (unsigned long long)x->searches, (unsigned long long)x->search_errors,
	    (unsigned long long)x->duplicate_hits, (unsigned long long)x->writes,
	    (unsigned long long)x->write_errors);
	for (size_t j = 0; j < rb->n_moves; j++) {
		const rb_move_out *m = &rb->moves[j];
		double s = m->t1 - m->t0;
		fprintf(f,
		    "| %s | %s -> %s | %llu | %.1f + %.1f | %.1f | %.2f | %.1f | %.1f | %.0f | %.1f | "
		    "%llu / %llu | %s |\n",
		    m->id, m->from, m->to, (unsigned long long)m->rows, (double)m->bytes / 1e6,
		    (double)m->index_bytes / 1e6, m->t0, s, rb_move_mbps(m), m->copy_mbps, m->fence_ms,
		    m->write_max_ms, (unsigned long long)m->imports, (unsigned long long)m->rebuilds,
		    carried(m) ? "yes" : "no");
	}
	fputs("\n", f);
}
