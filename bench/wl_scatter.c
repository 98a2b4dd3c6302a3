/* wl_scatter.c -- the scatter workload: one search over S shards against
 * one index over the same rows.
 *
 * shoal: a shared collection of --shards S shards (default 32, spread over
 * the workers by the coordinator) distributed by the int payload field
 * "grp", point i having key i % --scatter-keys K (default 1000: many small
 * tenants in one table, Citus's row-based sharding).  Searches name no
 * key, so the coordinator scatters each to every shard (one request per
 * worker) and merges the top k.  The comparison is the target's main
 * collection (a dedicated tenant's collection: one shard, one index) over
 * the same rows with the same queries.  For every client count and every
 * --ef value both are measured one after the other: recall@k against the
 * exact neighbours in the whole base set, QPS, latency, and, with --local,
 * the cluster's server CPU per query (utime + stime of the coordinator and
 * the workers over the point, divided by its searches; client threads
 * excluded).  Results: workload "scatter", layout "dedicated" / "shared".
 * Then, per client count, key-routed searches of the shared collection
 * (layout "shared+key", at --tenant-ef): query q names key hash(q) % K, so
 * it goes to one shard and one partition; recall is against the exact
 * neighbours among that key's points, with rows returned and complete
 * answers as in the filter workload (issue 4: "a tenant-routed search on
 * a shared collection always returns k rows when k exist").
 *
 * The other targets have no shared collections here (Citus, the
 * PostgreSQL extension that would shard the table, is not part of this
 * harness): their scatter rows search their one index (faiss, worker) or
 * one table (pgvector), the baseline a shoal scatter is compared with.
 *
 * --scatter-queries Q (default min(queries, 1000)) bounds the queries per
 * point: a scatter search costs S shard searches.
 *
 * Threading: main thread; bench_run_point runs the clients.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "shoal_client.h"
#include "util.h"

#define KEY_FIELD "grp"

/* One sweep point on coll; fills r (status failed with the reason on
 * error).  Returns false on failure. */
static bool
measure(bench_run *run, const bench_options *o, const bench_target_ops *ops, bench_target *t,
    bench_coll *coll, size_t nq, uint32_t ef, uint32_t clients, const double *kth,
    bench_point_out *po, bench_result *r)
{
	const bench_dataset *ds = run->ds;
	shoal_status st;
	r->k = o->k;
	r->ef_search = ef;
	r->clients = clients;
	bench_progress("[%s] scatter %s ef_search=%u clients=%u ...", ops->name, r->layout, ef,
	    clients);
	bench_point_spec ps = {.ops = ops, .t = t, .colls = &coll, .queries = ds->queries, .nq = nq,
		.dim = ds->dim, .k = o->k, .ef = ef, .clients = clients, .min_time = o->min_time};
	memset(po->n_answer, 0, nq * sizeof *po->n_answer);
	bool server = ops == &bench_shoal_ops;
	double cpu0 = server ? bench_cluster_cpu_ms(o->local) : NAN;
	shoal_code rv = bench_run_point(&ps, po, &st);
	double cpu1 = server ? bench_cluster_cpu_ms(o->local) : NAN;
	bench_progress_done();
	if (rv != SHOAL_OK) {
		char why[600];
		snprintf(why, sizeof why, "%s search failed: %s", r->layout, st.msg);
		bench_result_fail(r, RES_FAILED, why);
		fprintf(stderr, "[%s] scatter: %s\n", ops->name, why);
		return false;
	}
	r->recall = bench_mean_recall(ds, po, kth, nq, o->k, NULL, 0);
	bench_result_set_point(r, po);
	r->server_cpu_ms = po->done ? (cpu1 - cpu0) / (double)po->done : NAN;
	fprintf(stderr,
	    "[%s] scatter %-9s ef_search=%-4u clients=%-2u recall@%u %.4f  %8.1f QPS  p50 %.3f ms  "
	    "p99 %.3f ms",
	    ops->name, r->layout, ef, clients, o->k, r->recall, r->qps, r->p50_ms, r->p99_ms);
	if (isfinite(r->server_cpu_ms))
		fprintf(stderr, "  server CPU %.3f ms/query", r->server_cpu_ms);
	fputc('\n', stderr);
	return true;
}

/* The warm-up's scatters asked every worker holding several shards for a
 * collection graph over them (worker/coll_graph.h), built in the
 * background: waits (warming up again between looks, up to --index-wait)
 * until every local worker has one loaded, so that the sweep measures the
 * steady state. */
static void
wait_coll_graphs(const bench_options *o, const bench_target_ops *ops, bench_point_spec *w,
    bench_point_out *wo)
{
	double t0 = bench_now_s();
	bench_ticker tk = {0};
	shoal_status st;
	int ready = 0, n = o->local->nworkers;

	while (bench_now_s() - t0 < o->index_wait) {
		int off = 0;
		ready = 0;
		for (int i = 0; i < n; i++) {
			uint64_t builds = 0, bytes = 0;
			bool no = false;
			if (bench_worker_coll_graphs(o->local->worker_url[i], &builds, &bytes, &no, &st) ==
			    SHOAL_OK) {
				ready += bytes > 0;
				off += no;
			}
		}
		if (off > 0) { /* --worker-arg=--collection-graphs=false */
			fprintf(stderr, "[%s] scatter: %d of %d workers run without collection graphs: "
			                "not waiting for them\n", ops->name, off, n);
			return;
		}
		if (ready == n)
			break;
		if (bench_ticker_due(&tk))
			bench_progress("[%s] scatter: waiting for the workers' collection graphs "
			               "(%d of %d) %.1f s", ops->name, ready, n, bench_now_s() - t0);
		util_sleep_ms(500);
		if (bench_run_point(w, wo, &st) != SHOAL_OK) /* and ask again (evicted, ...) */
			break;
	}
	bench_progress_done();
	fprintf(stderr, "[%s] scatter: %d of %d workers have a collection graph after %.1f s\n",
	    ops->name, ready, n, bench_now_s() - t0);
}

/* Loads the shared collection; NULL (and a failed result) on error. */
static bench_coll *
load_shared(bench_run *run, const bench_options *o, const bench_target_ops *ops,
    bench_target *t)
{
	const bench_dataset *ds = run->ds;
	shoal_status st;
	int64_t *key = xmalloc((ds->n ? ds->n : 1) * sizeof *key);
	for (size_t i = 0; i < ds->n; i++)
		key[i] = (int64_t)(i % o->scatter_keys);
	bench_progress("[%s] scatter: a shared collection of %u shards, %u keys, %zu vectors",
	    ops->name, o->scatter_shards, o->scatter_keys, ds->n);
	bench_progress_done();
	bench_coll *c = NULL;
	bench_load_times lt = {0};
	bench_ingest_progress ip = {.target = ops->name, .what = "shared collection load",
		.total = ds->n, .t0 = bench_now_s()};
	shoal_code rv = ops->create_shared(t, "scatter", ds->dim, o->scatter_shards, KEY_FIELD, &c,
	    &st);
	if (rv == SHOAL_OK)
		rv = ops->load_attr(t, c, ds->base, key, ds->n, 0, KEY_FIELD, &lt,
		    bench_on_ingest_progress, &ip, &st);
	bench_progress_done();
	free(key);
	/* a key's partition gets an HNSW index of its own beyond ~1,000
	 * points (worker/README.md); smaller ones are always searched exactly,
	 * so there is no index to wait for */
	bool observed = true;
	if (rv == SHOAL_OK && ds->n / o->scatter_keys >= 2000)
		rv = bench_wait_index(run, o, ops, t, c, ds->base, ds->n, "the shared collection",
		    &observed, &st);
	if (rv != SHOAL_OK) {
		char why[600];
		snprintf(why, sizeof why, "shared collection set-up failed: %s", st.msg);
		fprintf(stderr, "[%s] scatter: %s\n", ops->name, why);
		bench_result_fail(bench_result_add(run, ops->name, "scatter"), RES_FAILED, why);
		if (c)
			ops->drop(t, c);
		return NULL;
	}
	fprintf(stderr, "[%s] scatter: shared collection loaded in %.1f s (%.0f vectors/s)\n",
	    ops->name, lt.load_s + lt.build_s, (double)ds->n / (lt.load_s + lt.build_s));
	/* warm-up: every shard's partitions loaded, the first scatter's
	 * connections made */
	bench_point_spec w = {.ops = ops, .t = t, .colls = &c, .queries = ds->queries,
		.nq = ds->nq < o->warmup ? ds->nq : o->warmup, .dim = ds->dim, .k = o->k,
		.ef = o->efs[o->n_efs / 2], .clients = 1};
	bench_point_out wo = {0};
	if (w.nq > 0 && bench_run_point(&w, &wo, &st) != SHOAL_OK)
		fprintf(stderr, "[%s] scatter warm-up failed: %s\n", ops->name, st.msg);
	/* (placement spreads shards evenly: with 2 per worker or more, every
	 * worker builds one) */
	if (ops == &bench_shoal_ops && o->local != NULL && w.nq > 0 &&
	    o->scatter_shards >= 2 * (uint32_t)o->local->nworkers)
		wait_coll_graphs(o, ops, &w, &wo);
	return c;
}

/* ===================================================================
 * The write cost of the collection graphs (docs/decisions.md 129, 140)
 * =================================================================== */

#define WRITES_MAX 20000      /* points upserted per timed pass */

/* Upserts base points [0, m) into c with key i % K, in batches of the
 * run's --batch, from this thread; false (st set) on an error. */
static bool
upsert_keyed(bench_run *run, const bench_options *o, bench_target *t, const bench_coll *c,
    size_t m, shoal_status *st)
{
	const bench_dataset *ds = run->ds;
	uint32_t batch = run->cfg.batch ? run->cfg.batch : 1000;
	uint64_t *ids = xmalloc(batch * sizeof *ids);
	shoal_field *fields = xmalloc(batch * sizeof *fields);
	shoal_payload *payloads = xmalloc(batch * sizeof *payloads);
	bool ok = true;

	for (size_t i = 0; i < m && ok; i += batch) {
		size_t b = m - i < batch ? m - i : batch;
		for (size_t j = 0; j < b; j++) {
			ids[j] = (uint64_t)(i + j) + 1; /* target_shoal.c's ids */
			fields[j] = (shoal_field){.key = KEY_FIELD, .type = SHOAL_VALUE_INT,
				.i = (int64_t)((i + j) % o->scatter_keys)};
			payloads[j] = (shoal_payload){.fields = &fields[j], .n_fields = 1};
		}
		shoal_batch sb = {.n = b, .dim = ds->dim, .ids = ids,
			.vectors = ds->base + i * ds->dim, .payloads = payloads};
		uint32_t done = 0;
		ok = shoal_upsert(bench_shoal_client(t), bench_shoal_tenant(c),
		    bench_shoal_collection(c), &sb, &done, st) == SHOAL_OK;
		if (ok && done != b) {
			shoal_status_set(st, SHOAL_INTERNAL, "%u of %zu points acknowledged", done, b);
			ok = false;
		}
	}
	free(ids);
	free(fields);
	free(payloads);
	return ok;
}

/* Waits (up to 120 s) until the cluster's daemons use under 5% of a core
 * over a second: background graph builds and compactions started by the
 * sweep or by the last pass would otherwise be timed as write cost (a
 * build also slows writers on purpose: decision 125). */
static void
settle(const bench_options *o)
{
	double t0 = bench_now_s();
	while (bench_now_s() - t0 < 120) {
		double c0 = bench_cluster_cpu_ms(o->local);
		util_sleep_ms(1000);
		if (!(bench_cluster_cpu_ms(o->local) - c0 >= 50))
			break;
	}
	if (bench_now_s() - t0 > 2)
		fprintf(stderr, "[shoal] scatter writes: waited %.0f s for the workers' background "
		                "work\n", bench_now_s() - t0);
}

/* One timed pass: overwrites points [0, m) of c; fills r. */
static bool
timed_writes(bench_run *run, const bench_options *o, bench_target *t, const bench_coll *c,
    size_t m, bench_result *r)
{
	shoal_status st;
	settle(o);
	double cpu0 = bench_cluster_cpu_ms(o->local), t0 = bench_now_s();
	bool ok = upsert_keyed(run, o, t, c, m, &st);
	double secs = bench_now_s() - t0, cpu1 = bench_cluster_cpu_ms(o->local);
	if (!ok) {
		char why[600];
		snprintf(why, sizeof why, "%s writes failed: %s", r->layout, st.msg);
		bench_result_fail(r, RES_FAILED, why);
		fprintf(stderr, "[shoal] scatter: %s\n", why);
		return false;
	}
	r->vectors = m;
	r->seconds = secs;
	r->vectors_per_s = (double)m / secs;
	r->server_cpu_ms = (cpu1 - cpu0) / (double)m;
	fprintf(stderr, "[shoal] scatter writes, %-8s %zu points in %.2f s: %.0f points/s, "
	    "server CPU %.3f ms/point\n", r->layout, m, secs, r->vectors_per_s, r->server_cpu_ms);
	return true;
}

/* After the sweep, with the shared collection's graphs loaded: one client
 * overwrites the same points of it and of a second shared collection of
 * the same shape that no keyless search ever named (so no worker has a
 * graph over it), in that order and again in the other order (the two
 * orders average out drift of the machine).  The difference is what the
 * graphs of a scattered collection cost a write: an insert into its
 * shard's shard-level graph (worker/shard_index.c) and one into the
 * worker's collection graph (decision 129).  Results: workload
 * "scatter_writes", layout "graph" / "no graph"; with workers started
 * --collection-graphs=false (--worker-arg), "shard graph" / "no graph":
 * the shard-level graphs' part alone. */
static bool
graph_write_cost(bench_run *run, const bench_options *o, const bench_target_ops *ops,
    bench_target *t, bench_coll *shared)
{
	const bench_dataset *ds = run->ds;
	size_t m = ds->n < WRITES_MAX ? ds->n : WRITES_MAX;
	shoal_status st;
	bench_coll *plain = NULL;
	uint64_t bytes0 = 0;
	int off = 0;

	for (int i = 0; i < o->local->nworkers; i++) {
		uint64_t builds = 0, bytes = 0;
		bool no = false;
		if (bench_worker_coll_graphs(o->local->worker_url[i], &builds, &bytes, &no, &st) ==
		    SHOAL_OK) {
			bytes0 += bytes;
			off += no;
		}
	}
	if (off > 0 && off < o->local->nworkers) {
		bench_note(run, "scatter writes: not measured, only %d of %d workers run without "
		                "collection graphs", off, o->local->nworkers);
		return true;
	}
	const char *with = off ? "shard graph" : "graph";
	if (bytes0 == 0 && off == 0) {
		bench_note(run, "scatter writes: not measured, no worker had a collection graph "
		                "loaded after the sweep");
		return true;
	}
	bench_progress("[%s] scatter writes: a second shared collection of %zu points, never "
	               "scattered", ops->name, m);
	bench_progress_done();
	if (ops->create_shared(t, "scatter_ng", ds->dim, o->scatter_shards, KEY_FIELD, &plain,
	        &st) != SHOAL_OK ||
	    !upsert_keyed(run, o, t, plain, m, &st)) {
		char why[600];
		snprintf(why, sizeof why, "second shared collection set-up failed: %s", st.msg);
		bench_result_fail(bench_result_add(run, ops->name, "scatter_writes"), RES_FAILED, why);
		if (plain)
			ops->drop(t, plain);
		return false;
	}
	bool ok = true;
	for (int pass = 0; pass < 2 && ok; pass++)
		for (int j = 0; j < 2 && ok; j++) {
			bool graph = (pass + j) % 2 == 0; /* graph, plain; then plain, graph */
			bench_result *r = bench_result_add(run, ops->name, "scatter_writes");
			snprintf(r->layout, sizeof r->layout, "%s", graph ? with : "no graph");
			r->shards = o->scatter_shards;
			r->keys = o->scatter_keys;
			r->clients = 1;
			ok = timed_writes(run, o, t, graph ? shared : plain, m, r);
		}
	ops->drop(t, plain);
	return ok;
}

void
bench_scatter_writes_json(FILE *f, const bench_result *x)
{
	/* layout is one of two literals: no escaping needed */
	fprintf(f, ", \"layout\": \"%s\", \"shards\": %u, \"keys\": %u, \"clients\": %u, "
	           "\"vectors\": %llu, \"seconds\": %.4f, \"vectors_per_s\": %.1f",
	    x->layout, x->shards, x->keys, x->clients, (unsigned long long)x->vectors, x->seconds,
	    x->vectors_per_s);
	if (isfinite(x->server_cpu_ms))
		fprintf(f, ", \"server_cpu_ms_per_point\": %.5f", x->server_cpu_ms);
}

void
bench_scatter_writes_markdown(FILE *f, const bench_run *r)
{
	/* means per layout: "no graph", "graph", "shard graph" */
	static const char *const layouts[3] = {"no graph", "graph", "shard graph"};
	double rate[3] = {0}, cpu[3] = {0};
	int n[3] = {0}, ncpu[3] = {0};
	bool any = false;

	for (size_t i = 0; i < r->n_results; i++) {
		const bench_result *x = &r->results[i];
		if (strcmp(x->workload, "scatter_writes") != 0)
			continue;
		if (!any)
			fputs("## Scatter writes (what the graphs of a scattered collection cost a write)\n\n"
			      "One client overwrites the same points, in batches, of the scatter's shared "
			      "collection (graph: its shard-level and collection graphs loaded; shard "
			      "graph: workers run with --collection-graphs=false) and of a second shared "
			      "collection of the same shards and keys that no keyless search named (no "
			      "graph), alternating (docs/decisions.md 140). Server CPU: coordinator and "
			      "workers, per point.\n\n"
			      "| target | layout | shards | keys | points | seconds | points/s | server "
			      "CPU ms/point |\n|---|---|---:|---:|---:|---:|---:|---:|\n",
			    f);
		any = true;
		if (x->status != RES_OK) {
			fprintf(f, "| %s | failed: %s | | | | | | |\n", x->target, x->reason);
			continue;
		}
		int g = 0;
		while (g < 2 && strcmp(x->layout, layouts[g]) != 0)
			g++;
		rate[g] += x->vectors_per_s;
		n[g]++;
		if (isfinite(x->server_cpu_ms)) {
			cpu[g] += x->server_cpu_ms;
			ncpu[g]++;
		}
		fprintf(f, "| %s | %s | %u | %u | %llu | %.2f | %.0f | %.4f |\n", x->target, x->layout,
		    x->shards, x->keys, (unsigned long long)x->vectors, x->seconds, x->vectors_per_s,
		    x->server_cpu_ms);
	}
	if (!any)
		return;
	for (int g = 1; g < 3; g++) {
		if (n[0] == 0 || n[g] == 0)
			continue;
		fprintf(f, "\nWith layout \"%s\" a write runs at %.3fx the points/s of \"no graph\"",
		    layouts[g], (rate[g] / n[g]) / (rate[0] / n[0]));
		if (ncpu[0] && ncpu[g])
			fprintf(f, " and costs %.1fx its server CPU", (cpu[g] / ncpu[g]) / (cpu[0] / ncpu[0]));
		fputs(".\n", f);
	}
	fputs("\n", f);
}

typedef struct keyed_gt {
	uint32_t keys;
	const uint32_t *key_of;   /* query -> key */
} keyed_gt;

static bool
in_key(const void *arg, size_t q, int64_t id)
{
	const keyed_gt *g = arg;
	return (uint64_t)id % g->keys == g->key_of[q];
}

/* Key-routed searches of the shared collection: query q names key
 * hash(q) % K (one shard, one partition); recall against the exact
 * neighbours among that key's points, and whether every answer holds
 * min(k, key's points) rows (issue 4). */
static bool
keyed(bench_run *run, const bench_options *o, const bench_target_ops *ops, bench_target *t,
    bench_coll *shared, size_t nq, bench_point_out *po)
{
	const bench_dataset *ds = run->ds;
	uint32_t K = o->scatter_keys;
	shoal_status st;
	shoal_code rv = SHOAL_OK;
	uint32_t *key_of = xmalloc(nq * sizeof *key_of);
	uint32_t *expect = xmalloc(nq * sizeof *expect);
	double *kth = xmalloc(nq * sizeof *kth), *kbuf = xmalloc(nq * sizeof *kbuf);
	size_t *qs = xmalloc(nq * sizeof *qs);
	size_t *members = xmalloc((ds->n / K + 1) * sizeof *members);
	bench_coll **views = xcalloc(K, sizeof *views);
	for (size_t q = 0; q < nq; q++)
		key_of[q] = (uint32_t)((((uint64_t)q * 0x9e3779b97f4a7c15ULL) >> 32) % K);
	bench_progress("[%s] scatter: exact neighbours inside each key", ops->name);
	for (uint32_t key = 0; key < K && rv == SHOAL_OK; key++) {
		size_t nqk = 0, m = 0;
		for (size_t q = 0; q < nq; q++)
			if (key_of[q] == key)
				qs[nqk++] = q;
		if (nqk == 0)
			continue;
		for (size_t i = key; i < ds->n; i += K)
			members[m++] = i;
		rv = bench_subset_kth(ds, members, m, qs, nqk, o->k, kbuf, &st);
		for (size_t j = 0; j < nqk; j++) {
			kth[qs[j]] = kbuf[j];
			expect[qs[j]] = m < o->k ? (uint32_t)m : o->k;
		}
		if (rv == SHOAL_OK)
			rv = ops->key_view(t, shared, key, &views[key], &st);
	}
	bench_progress_done();
	keyed_gt g = {.keys = K, .key_of = key_of};
	bool ok = true;
	for (int c = 0; c < o->n_clients; c++) {
		bench_result *r = bench_result_add(run, ops->name, "scatter");
		snprintf(r->layout, sizeof r->layout, "shared+key");
		r->shards = 1;
		r->keys = K;
		r->k = o->k;
		r->ef_search = o->tenant_ef;
		r->clients = o->clients[c];
		if (rv == SHOAL_OK) {
			bench_progress("[%s] scatter shared+key clients=%u ...", ops->name, r->clients);
			bench_point_spec ps = {.ops = ops, .t = t, .colls = views, .coll_of = key_of,
				.queries = ds->queries, .nq = nq, .dim = ds->dim, .k = o->k, .ef = o->tenant_ef,
				.clients = r->clients, .min_time = o->min_time};
			memset(po->n_answer, 0, nq * sizeof *po->n_answer);
			double cpu0 = bench_cluster_cpu_ms(o->local);
			rv = bench_run_point(&ps, po, &st);
			double cpu1 = bench_cluster_cpu_ms(o->local);
			bench_progress_done();
			r->server_cpu_ms = po->done ? (cpu1 - cpu0) / (double)po->done : NAN;
		}
		if (rv != SHOAL_OK) {
			char why[600];
			snprintf(why, sizeof why, "key-routed search failed: %.500s", st.msg);
			bench_result_fail(r, RES_FAILED, why);
			fprintf(stderr, "[%s] scatter: %s\n", ops->name, why);
			ok = false;
			continue;
		}
		bench_score_subset(ds, po, nq, o->k, kth, expect, in_key, &g, r);
		bench_result_set_point(r, po);
		fprintf(stderr,
		    "[%s] scatter shared+key ef_search=%-4u clients=%-2u recall@%u %.4f  rows %.2f "
		    "(complete %.1f%%, wrong %llu)  %8.1f QPS  p50 %.3f ms  p99 %.3f ms",
		    ops->name, r->ef_search, r->clients, o->k, r->recall, r->rows_mean,
		    100 * r->complete_frac, (unsigned long long)r->wrong_rows, r->qps, r->p50_ms,
		    r->p99_ms);
		if (isfinite(r->server_cpu_ms))
			fprintf(stderr, "  server CPU %.3f ms/query", r->server_cpu_ms);
		fputc('\n', stderr);
	}
	for (uint32_t key = 0; key < K; key++)
		if (views[key])
			ops->drop(t, views[key]);
	free(views);
	free(members);
	free(qs);
	free(kbuf);
	free(kth);
	free(expect);
	free(key_of);
	return ok;
}

bool
bench_wl_scatter(bench_run *run, const bench_options *o, const bench_target_ops *ops,
    bench_target *t, bench_coll *main_coll, const double *kth)
{
	const bench_dataset *ds = run->ds;
	size_t nq = o->scatter_queries ? o->scatter_queries : 1000;
	if (nq > ds->nq)
		nq = ds->nq;
	bench_coll *shared = NULL;
	if (ops->create_shared && ops->load_attr) {
		if ((shared = load_shared(run, o, ops, t)) == NULL)
			return false;
	} else {
		bench_note(run,
		    "scatter: %s has no shared (hash-distributed) collections in this harness; its "
		    "scatter rows search %s over all rows%s",
		    ops->name, ops == &bench_pg_ops ? "one table" : "one index",
		    ops == &bench_pg_ops ? " (the Citus equivalent, a distributed table over 32 shards, "
		                           "cannot be run here)"
		                         : "");
	}
	const char *single = ops == &bench_shoal_ops ? "dedicated"
	    : ops == &bench_pg_ops                   ? "one table"
	                                             : "one index";
	bool ok = true;
	bench_point_out po = {0};
	po.answers = xmalloc(nq * o->k * sizeof *po.answers);
	po.n_answer = xcalloc(nq, sizeof *po.n_answer);
	for (int c = 0; c < o->n_clients; c++) {
		for (int e = 0; e < o->n_efs; e++) {
			bench_result *r = bench_result_add(run, ops->name, "scatter");
			snprintf(r->layout, sizeof r->layout, "%s", single);
			r->shards = 1;
			ok &= measure(run, o, ops, t, main_coll, nq, o->efs[e], o->clients[c], kth, &po, r);
			if (shared == NULL)
				continue;
			r = bench_result_add(run, ops->name, "scatter");
			snprintf(r->layout, sizeof r->layout, "shared");
			r->shards = o->scatter_shards;
			r->keys = o->scatter_keys;
			ok &= measure(run, o, ops, t, shared, nq, o->efs[e], o->clients[c], kth, &po, r);
		}
	}
	if (shared && ops->key_view)
		ok &= keyed(run, o, ops, t, shared, nq, &po);
	if (shared && ops == &bench_shoal_ops && o->local != NULL)
		ok &= graph_write_cost(run, o, ops, t, shared);
	free(po.answers);
	free(po.n_answer);
	if (shared)
		ops->drop(t, shared);
	return ok;
}
