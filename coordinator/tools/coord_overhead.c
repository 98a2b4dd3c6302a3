/* coord_overhead.c -- shoal-coord-overhead: what the coordinator costs.
 *
 * Starts a real cluster (tests/integration/harness.c: a coordinator and
 * --workers workers on loopback, from the build's bin/), loads the same
 * generated points twice -- into a dedicated tenant's collection (one
 * shard, one index) and into a shared collection (32 shards over the
 * workers, --keys keys) -- and measures, with k = 10 and the default ef:
 *
 *  1. per-query latency (p50, p99) of a search sent straight to the worker
 *     that holds the dedicated shard (Worker.Search, no coordinator) and
 *     of the same search through the coordinator: the difference is the
 *     coordinator's own overhead (one more hop, routing, validation);
 *  2. queries per second with 1, 2, 4 and 8 concurrent clients, direct
 *     and through the coordinator, for: the dedicated collection, a
 *     key-routed search of the shared collection, and a scatter over its
 *     32 shards;
 *  3. server CPU per query (utime + stime of the coordinator and every
 *     worker, from /proc, over a batch of sequential queries), and
 *     recall@10 against brute force, for one index vs the 32-shard scatter,
 *     at ef_search 16 to 1024 (the scatter searches each shard's shard-
 *     level graph with the per-shard ef of worker/shard_graph.h): "at the
 *     same recall" compares the cheapest ef at which each reaches 0.99.
 *
 * The warm-up waits for the one index's HNSW graph and for every shard's
 * shard-level graph (Worker.Status), so the figures are those of the
 * steady state.
 *
 * It prints a Markdown report.  Timings are measured, never asserted (the
 * smoke run in ctest only checks that it runs).  On a machine with fewer
 * cores than processes the QPS figures are CPU-bound: they say how the
 * paths compare, not what a larger machine would do.
 *
 * Data: --clusters C > 0 (default 100) draws each point around one of C
 * random centres (Gaussian, sigma 0.15 per component), as embeddings are
 * clustered; --clusters 0 draws them uniformly in [-1, 1) (a hard case
 * for HNSW in 64 dimensions).  Queries are drawn the same way.
 *
 *   shoal-coord-overhead [--points N] [--dim D] [--keys K] [--queries Q]
 *                        [--seconds S] [--workers W] [--clusters C]
 *                        [--warmup-s S]   (wait for index builds, default 300)
 */
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "it_common.h"
#include "it_dist.h"
#include "rpc.h"
#include "shoal.pb-c.h"
#include "util.h"

static struct {
	size_t points, queries;
	uint32_t dim, keys, workers, clusters;
	double seconds, warmup_s;
} cfg = {.points = 100000, .dim = 64, .keys = 1000, .queries = 2000, .seconds = 3,
    .workers = 4, .clusters = 100, .warmup_s = 300};

#define K 10
#define SEED 17

static harness_cluster cluster;
static float *queries;     /* cfg.queries x dim */
static float *base;        /* the points, for the brute-force truth */
static char worker_url[128];
static uint64_t dedicated_shard;
static uint64_t shared_first_shard; /* of sdocs' 32 consecutive shard ids */
static uint32_t cur_ef; /* ef_search of every query; 0 = default */
static bool cur_exact;  /* exact (brute force) queries */

/* ---- data -------------------------------------------------------------- */

static uint64_t
rng_next(uint64_t *s)
{
	uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static double
rng_gauss(uint64_t *s)
{
	double u1 = ((double)(rng_next(s) >> 11) + 1) / 9007199254740993.0;
	double u2 = (double)(rng_next(s) >> 11) / 9007199254740992.0;
	return sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2);
}

/* n vectors from stream `stream` (points 0, queries 1) into out. */
static void
gen(int stream, size_t n, float *out)
{
	if (cfg.clusters == 0) {
		vecio_generate(SEED + (uint64_t)stream, 0, n, cfg.dim, out);
		return;
	}
	float *centres = malloc((size_t)cfg.clusters * cfg.dim * sizeof *centres);
	vecio_generate(SEED + 7, 0, cfg.clusters, cfg.dim, centres);
	uint64_t s = SEED * 1000003u + (uint64_t)stream;
	for (size_t i = 0; i < n; i++) {
		const float *c = centres + (rng_next(&s) % cfg.clusters) * cfg.dim;
		for (uint32_t j = 0; j < cfg.dim; j++)
			out[i * cfg.dim + j] = c[j] + (float)(0.15 * rng_gauss(&s));
	}
	free(centres);
}

typedef enum path { DIRECT, DEDICATED, KEYED, SCATTER } path;
static const char *path_name[] = {"worker direct (Worker.Search)",
    "coordinator, dedicated tenant", "coordinator, shared + key (1 shard)",
    "coordinator, shared scatter (32 shards)"};

/* ---- one query on a path -------------------------------------------- */

typedef struct conn {
	shoal_client *cl;
	rpc_client *w;
} conn;

static void
conn_open(conn *c)
{
	shoal_status st;
	CHECK(shoal_connect(cluster.coord_url, NULL, &c->cl, &st) == SHOAL_OK, "%s", st.msg);
	CHECK(rpc_client_open(worker_url, &shoal__worker__descriptor, NULL, &c->w, &st) == SHOAL_OK,
	    "%s", st.msg);
}

static void
conn_close(conn *c)
{
	shoal_close(c->cl);
	rpc_client_close(c->w);
}

/* Runs query i on path p; fills ids (K) when not NULL.  Returns hits. */
static size_t
query(conn *c, path p, size_t i, uint64_t *ids)
{
	const float *q = queries + (i % cfg.queries) * cfg.dim;
	size_t n = 0;
	shoal_status st;

	if (p == DIRECT) {
		Shoal__ShardSearchRequest req = SHOAL__SHARD_SEARCH_REQUEST__INIT;
		rpc_result res;
		req.shard_id = dedicated_shard;
		req.vector = (float *)q;
		req.n_vector = cfg.dim;
		req.k = K;
		req.ef_search = cur_ef;
		req.exact = cur_exact;
		RPC_INVOKE(shoal__worker__search, rpc_client_service(c->w), &req, &res);
		CHECK(res.status.code == SHOAL_OK, "direct search: %s", res.status.msg);
		const Shoal__SearchReply *r = (const Shoal__SearchReply *)res.reply;
		n = r->n_hits;
		for (size_t j = 0; ids && j < n; j++)
			ids[j] = r->hits[j]->id;
		rpc_result_free(&res);
		return n;
	}
	shoal_search_params sp = {.k = K, .ef_search = cur_ef, .exact = cur_exact};
	shoal_search_opts so = {0};
	char key[24];
	const char *tenant = p == DEDICATED ? "bench" : "";
	const char *coll = p == DEDICATED ? "docs" : "sdocs";
	if (p == KEYED) {
		snprintf(key, sizeof key, "t%zu", i % cfg.keys);
		so.key = key;
	}
	shoal_search_result *r;
	shoal_code rc = shoal_search_ex(c->cl, tenant, coll, q, cfg.dim, &sp, &so, &r, &st);
	CHECK(rc == SHOAL_OK, "%s: %s", path_name[p], st.msg);
	n = r->n_hits;
	for (size_t j = 0; ids && j < n; j++)
		ids[j] = r->hits[j].id;
	shoal_search_result_free(r);
	return n;
}

/* ---- latency --------------------------------------------------------- */

static int
u64cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void
latency(conn *c, path p, double *p50, double *p99, double *mean)
{
	size_t n = cfg.queries;
	uint64_t *us = malloc(n * sizeof *us), sum = 0;
	for (size_t i = 0; i < n; i++) {
		uint64_t t0 = util_mono_us();
		query(c, p, i, NULL);
		us[i] = util_mono_us() - t0;
		sum += us[i];
	}
	qsort(us, n, sizeof *us, u64cmp);
	*p50 = (double)us[n / 2] / 1000.0;
	*p99 = (double)us[n * 99 / 100] / 1000.0;
	*mean = (double)sum / (double)n / 1000.0;
	free(us);
}

/* ---- throughput ------------------------------------------------------ */

typedef struct tp_arg {
	path p;
	atomic_bool *stop;
	uint64_t done;
	size_t start;
} tp_arg;

static void *
tp_thread(void *arg)
{
	tp_arg *a = arg;
	conn c;
	conn_open(&c);
	for (size_t i = a->start; !atomic_load(a->stop); i++) {
		query(&c, a->p, i, NULL);
		a->done++;
	}
	conn_close(&c);
	return NULL;
}

static double
throughput(path p, int clients)
{
	atomic_bool stop = false;
	pthread_t t[8];
	tp_arg a[8];
	for (int i = 0; i < clients; i++) {
		a[i] = (tp_arg){.p = p, .stop = &stop, .start = (size_t)i * 997};
		pthread_create(&t[i], NULL, tp_thread, &a[i]);
	}
	util_sleep_ms(300); /* connections up */
	uint64_t n0 = 0, n1 = 0;
	for (int i = 0; i < clients; i++)
		n0 += a[i].done;
	uint64_t t0 = util_mono_us();
	util_sleep_ms((uint32_t)(cfg.seconds * 1000));
	for (int i = 0; i < clients; i++)
		n1 += a[i].done;
	double secs = (double)(util_mono_us() - t0) / 1e6;
	atomic_store(&stop, true);
	for (int i = 0; i < clients; i++)
		pthread_join(t[i], NULL);
	return (double)(n1 - n0) / secs;
}

/* ---- server CPU ------------------------------------------------------ */

static double
proc_cpu_ms(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return 0;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	const char *p = strrchr(buf, ')');
	unsigned long ut = 0, stt = 0;
	/* after ")": state ppid pgrp session tty tpgid flags minflt cminflt
	 * majflt cmajflt utime stime */
	if (p == NULL || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut,
			     &stt) != 2)
		return 0;
	return (double)(ut + stt) * 1000.0 / (double)sysconf(_SC_CLK_TCK);
}

static double
cluster_cpu_ms(void)
{
	double ms = proc_cpu_ms(cluster.coord_pid);
	for (int i = 0; i < cluster.nworkers; i++)
		ms += proc_cpu_ms(cluster.worker_pid[i]);
	return ms;
}

/* CPU of the whole cluster per query, and recall@10, over the queries. */
static void
cpu_and_recall(conn *c, path p, double *cpu_ms, double *recall)
{
	size_t n = cfg.queries, hit = 0;
	uint64_t *got = malloc(n * K * sizeof *got), truth[K];
	double c0 = cluster_cpu_ms();
	for (size_t i = 0; i < n; i++)
		query(c, p, i, got + i * K);
	*cpu_ms = (cluster_cpu_ms() - c0) / (double)n;
	size_t nr = n < 200 ? n : 200; /* recall on the first 200 */
	for (size_t i = 0; i < nr; i++) {
		it_topk(VECMATH_L2, base, NULL, cfg.points, cfg.dim, queries + i * cfg.dim, K, truth);
		for (int a = 0; a < K; a++)
			for (int b = 0; b < K; b++)
				hit += got[i * K + a] == truth[b];
	}
	*recall = (double)hit / (double)(nr * K);
	free(got);
}

static double
mean_ms(conn *c, path p, size_t n)
{
	uint64_t t0 = util_mono_us();
	for (size_t i = 0; i < n; i++)
		query(c, p, i, NULL);
	return (double)(util_mono_us() - t0) / 1000.0 / (double)n;
}

/* The first searches of a shard ask for its index, which is built in the
 * background while searches scan (exact).  Warm every path up, then wait
 * until the one-index path runs at least 2x faster than an exact scan
 * three times in a row (its index is built), at most --warmup-s seconds
 * (a small collection may stay an exact scan for good). */
static void
warm_up(conn *c)
{
	uint64_t t0 = util_mono_ms();
	int fast = 0;
	cur_exact = true;
	double exact = mean_ms(c, DIRECT, 50);
	cur_exact = false;
	while (fast < 3 && util_mono_ms() - t0 < (uint64_t)(cfg.warmup_s * 1000)) {
		for (path p = DEDICATED; p <= SCATTER; p++)
			mean_ms(c, p, 50);
		double now = mean_ms(c, DIRECT, 50);
		/* and every shard's shard-level graph built (keyless searches ask
		 * for them; until then they search the partitions) */
		int graphs = it_graphs_ready(&cluster, shared_first_shard, 32);
		fast = now * 2 < exact && graphs == 32 ? fast + 1 : 0;
		if (fast == 0)
			util_sleep_ms(1000);
	}
	fprintf(stderr, "warm-up: %.0f s; exact scan of the one index %.2f ms/query\n",
	    (double)(util_mono_ms() - t0) / 1000.0, exact);
}

/* ---- set-up ---------------------------------------------------------- */

static void
load(shoal_client *cl)
{
	shoal_status st;
	shoal_tenant_info ti;
	shoal_collection_info ci;
	shoal_collection_params p = {.dim = cfg.dim, .metric = SHOAL_METRIC_L2};

	CHECK(shoal_tenant_create(cl, "bench", NULL, &ti, &st) == SHOAL_OK, "%s", st.msg);
	CHECK(shoal_collection_create(cl, "bench", "docs", &p, &ci, &st) == SHOAL_OK, "%s", st.msg);
	dedicated_shard = ci.shard_id;
	shoal_distribution d = {.placement = SHOAL_PLACEMENT_SHARED};
	shoal_collection_info si;
	CHECK(shoal_collection_create_distributed(cl, "sdocs", &p, &d, &si, &st) == SHOAL_OK,
	    "%s", st.msg);
	shared_first_shard = si.shard_id;

	shoal_cluster_info *info;
	CHECK(shoal_cluster_status(cl, &info, &st) == SHOAL_OK, "%s", st.msg);
	for (size_t i = 0; i < info->n_workers; i++)
		if (strcmp(info->workers[i].name, ti.worker) == 0)
			snprintf(worker_url, sizeof worker_url, "%s", info->workers[i].url);
	shoal_cluster_info_free(info);

	const size_t batch = 1000;
	uint64_t *ids = malloc(batch * sizeof *ids);
	char (*keys)[24] = malloc(batch * sizeof *keys);
	shoal_field *f = malloc(batch * sizeof *f);
	shoal_payload *pl = malloc(batch * sizeof *pl);
	uint64_t t0 = util_mono_ms();
	for (size_t done = 0; done < cfg.points; done += batch) {
		size_t m = cfg.points - done < batch ? cfg.points - done : batch;
		for (size_t i = 0; i < m; i++) {
			ids[i] = done + i;
			snprintf(keys[i], sizeof keys[i], "t%zu", (done + i) % cfg.keys);
			f[i] = (shoal_field){.key = "tenant", .type = SHOAL_VALUE_STRING, .s = keys[i]};
			pl[i] = (shoal_payload){.fields = &f[i], .n_fields = 1};
		}
		shoal_batch b = {.n = m, .dim = cfg.dim, .ids = ids,
		    .vectors = base + done * cfg.dim, .payloads = pl};
		CHECK(shoal_upsert(cl, "bench", "docs", &b, NULL, &st) == SHOAL_OK, "%s", st.msg);
		CHECK(shoal_upsert(cl, "", "sdocs", &b, NULL, &st) == SHOAL_OK, "%s", st.msg);
		if ((done / batch) % 20 == 0)
			fprintf(stderr, "\rloading %zu/%zu", done + m, cfg.points);
	}
	fprintf(stderr, "\rloaded %zu points twice in %.1f s\n", cfg.points,
	    (double)(util_mono_ms() - t0) / 1000.0);
	free(ids);
	free(keys);
	free(f);
	free(pl);
}

static void
usage(void)
{
	fprintf(stderr, "usage: shoal-coord-overhead [--points N] [--dim D] [--keys K] "
			"[--queries Q] [--seconds S] [--workers W] [--clusters C] "
			"[--warmup-s S]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (i + 1 >= argc)
			usage();
		const char *o = argv[i], *v = argv[++i];
		if (!strcmp(o, "--points"))
			cfg.points = strtoull(v, NULL, 10);
		else if (!strcmp(o, "--dim"))
			cfg.dim = (uint32_t)strtoul(v, NULL, 10);
		else if (!strcmp(o, "--keys"))
			cfg.keys = (uint32_t)strtoul(v, NULL, 10);
		else if (!strcmp(o, "--queries"))
			cfg.queries = strtoull(v, NULL, 10);
		else if (!strcmp(o, "--seconds"))
			cfg.seconds = atof(v);
		else if (!strcmp(o, "--workers"))
			cfg.workers = (uint32_t)strtoul(v, NULL, 10);
		else if (!strcmp(o, "--clusters"))
			cfg.clusters = (uint32_t)strtoul(v, NULL, 10);
		else if (!strcmp(o, "--warmup-s"))
			cfg.warmup_s = atof(v);
		else
			usage();
	}
	if (cfg.points < 100 || cfg.dim == 0 || cfg.keys == 0 || cfg.queries < 10 ||
	    cfg.workers < 1 || cfg.workers > HARNESS_MAX_WORKERS || cfg.seconds <= 0)
		usage();

	base = malloc(cfg.points * cfg.dim * sizeof *base);
	queries = malloc(cfg.queries * cfg.dim * sizeof *queries);
	gen(0, cfg.points, base);
	gen(1, cfg.queries, queries);
	harness_cluster_start(&cluster, (int)cfg.workers);
	shoal_client *cl;
	shoal_status st;
	CHECK(shoal_connect(cluster.coord_url, NULL, &cl, &st) == SHOAL_OK, "%s", st.msg);
	load(cl);

	conn c;
	conn_open(&c);
	warm_up(&c);
	double load[3] = {0};
	FILE *la = fopen("/proc/loadavg", "r");
	if (la != NULL) {
		if (fscanf(la, "%lf %lf %lf", &load[0], &load[1], &load[2]) != 3)
			load[0] = 0;
		fclose(la);
	}

	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	printf("## Coordinator overhead\n\n");
	printf("%zu points (%s), dim %u, l2, k = %d, default ef; shared collection: 32 shards "
	       "on %u workers, %u keys; %ld CPUs for the coordinator, %u workers and the clients; "
	       "%zu queries per latency figure, %.0f s per QPS figure; load average before "
	       "measuring %.1f.\n\n",
	    cfg.points, cfg.clusters ? "clustered" : "uniform", cfg.dim, K, cfg.workers, cfg.keys,
	    ncpu, cfg.workers, cfg.queries, cfg.seconds, load[0]);

	printf("| path | p50 ms | p99 ms | mean ms |\n|---|---:|---:|---:|\n");
	double p50[4], p99[4], mean[4];
	for (path p = DIRECT; p <= SCATTER; p++) {
		latency(&c, p, &p50[p], &p99[p], &mean[p]);
		printf("| %s | %.3f | %.3f | %.3f |\n", path_name[p], p50[p], p99[p], mean[p]);
	}
	printf("\nCoordinator overhead per query (dedicated minus direct): p50 %+.3f ms, mean "
	       "%+.3f ms.\n\n", p50[DEDICATED] - p50[DIRECT], mean[DEDICATED] - mean[DIRECT]);

	printf("| path | 1 client | 2 clients | 4 clients | 8 clients |\n"
	       "|---|---:|---:|---:|---:|\n");
	static const int clients[] = {1, 2, 4, 8};
	for (path p = DIRECT; p <= SCATTER; p++) {
		printf("| %s (QPS)", path_name[p]);
		for (int i = 0; i < 4; i++)
			printf(" | %.0f", throughput(p, clients[i]));
		printf(" |\n");
		fflush(stdout);
	}

	static const uint32_t efs[] = {16, 32, 64, 128, 256, 512, 1024};
	enum { NEF = sizeof efs / sizeof efs[0] };
	double cpu_one[NEF], rec_one[NEF], cpu_sc[NEF], rec_sc[NEF];
	printf("\n| ef_search | one index: server CPU ms/query | recall@10 | scatter over 32 "
	       "shards: server CPU ms/query | recall@10 |\n|---:|---:|---:|---:|---:|\n");
	for (int i = 0; i < NEF; i++) {
		cur_ef = efs[i];
		cpu_and_recall(&c, DEDICATED, &cpu_one[i], &rec_one[i]);
		cpu_and_recall(&c, SCATTER, &cpu_sc[i], &rec_sc[i]);
		printf("| %u | %.3f | %.4f | %.3f | %.4f |\n", efs[i], cpu_one[i], rec_one[i],
		    cpu_sc[i], rec_sc[i]);
		fflush(stdout);
	}
	cur_ef = 0;
	/* at the same recall: the cheapest ef at which each reaches 0.99 */
	int b1 = -1, bs = -1;
	for (int i = NEF - 1; i >= 0; i--) {
		b1 = rec_one[i] >= 0.99 ? i : b1;
		bs = rec_sc[i] >= 0.99 ? i : bs;
	}
	if (b1 >= 0 && bs >= 0)
		printf("\nAt recall@10 >= 0.99: scatter (ef %u) %.3f ms CPU vs one index (ef %u) "
		       "%.3f ms: %.2fx.\n", efs[bs], cpu_sc[bs], efs[b1], cpu_one[b1],
		    cpu_sc[bs] / cpu_one[b1]);
	else
		printf("\nRecall@10 0.99 is not reached by ef 1024 (one index %.4f, scatter %.4f).\n",
		    rec_one[NEF - 1], rec_sc[NEF - 1]);

	conn_close(&c);
	shoal_close(cl);
	harness_cluster_stop(&cluster);
	free(base);
	free(queries);
	return 0;
}
