/* main.c -- shoal-bench: options, the run, the workloads ingest, search
 * and tenant.
 *
 * One run = one data set, several targets, several workloads:
 *
 *   for each target (faiss, shoal, pgvector; those configured):
 *       open (a target that cannot run is skipped, with the reason kept
 *             for the JSON and the report)
 *       ingest/search: create "main", load every base vector (timed:
 *             time to searchable), then the search sweep: for every
 *             client count and every ef_search, C threads with one
 *             session (connection) each send the queries one at a time
 *       tenant: T dedicated tenants of P points (slices of the base set),
 *             queries routed to one tenant each, recall against the exact
 *             neighbours inside that tenant
 *       the workloads in files of their own (FILE_WORKLOADS below:
 *             wl_scatter.c, wl_filter.c, wl_migrate.c, wl_rebalance.c,
 *             wl_import.c), in
 *             that order; scatter also gets "main"
 *       drop what was created (unless --keep), close
 *
 * How one sweep point is measured is in measure.c.  A warm-up pass (not
 * recorded) precedes each target's sweep.
 *
 * Threading: the main thread drives; measure.c runs the search threads.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "shoal_client.h"
#include "util.h"
#include "vecmath.h"

#define BENCH_VERSION "0.1.0"
#define MAX_LIST BENCH_MAX_LIST

/* ===================================================================
 * Progress and clocks
 * =================================================================== */

static bool progress_pending;
static int progress_tty = -1;

double
bench_now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

bool
bench_progress_tty(void)
{
	if (progress_tty < 0)
		progress_tty = isatty(2) ? 1 : 0;
	return progress_tty == 1;
}

void
bench_progress(const char *fmt, ...)
{
	char line[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (bench_progress_tty()) {
		fprintf(stderr, "\r\033[K%s", line);
		progress_pending = true;
	} else {
		fprintf(stderr, "%s\n", line);
	}
	fflush(stderr);
}

void
bench_progress_done(void)
{
	if (progress_pending) {
		fputc('\n', stderr);
		progress_pending = false;
	}
}

/* ===================================================================
 * Options
 * =================================================================== */

typedef bench_options options;

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: shoal-bench DATA [TARGETS] [WORKLOADS] [options]\n"
	    "\n"
	    "Runs the same workloads on the same data against raw FAISS, shoal and\n"
	    "PostgreSQL + pgvector, and writes OUT/PREFIX.json, OUT/PREFIX.md and recall-vs-QPS\n"
	    "plots (gnuplot).  Progress goes to stderr.\n"
	    "\n"
	    "Data (one of):\n"
	    "  --gen N,DIM              N uniform random vectors in [-1,1)^DIM (seeded)\n"
	    "  --gen-clustered N,DIM    N vectors from a Gaussian mixture on a low-dimensional\n"
	    "                           latent space (behaves like real embeddings)\n"
	    "      --clusters C         mixture components (default 64)\n"
	    "      --intrinsic R        latent dimension (default min(16, DIM))\n"
	    "  --base FILE --query FILE [--gt FILE]\n"
	    "                           .fvecs or .bvecs base and queries, .ivecs ground truth\n"
	    "                           (TEXMEX / ann-benchmarks); without --gt it is computed\n"
	    "  --idx BASE,QUERY         IDX files of unsigned bytes (MNIST format, .gz or not)\n"
	    "  --fashion-mnist          Debian's dataset-fashion-mnist: 60,000 train images as\n"
	    "                           base, 10,000 test images as queries, 784 dims, l2\n"
	    "      --fashion-mnist-dir DIR  (default /usr/share/datasets/fashion-mnist)\n"
	    "  --metric l2|cosine|ip    distance (default l2)\n"
	    "  --queries Q              use the first Q queries (generated: make Q; default 1000)\n"
	    "  --limit N                use the first N base vectors of a file\n"
	    "  --seed S                 generator seed (default 42)\n"
	    "  --name NAME              data set name in the outputs\n"
	    "  --save-gt FILE           write the ground truth used as .ivecs (reuse with --gt)\n"
	    "\n"
	    "Targets:\n"
	    "  --targets LIST           any of faiss,shoal,pgvector,worker (default: faiss, plus\n"
	    "                           shoal with --shoal/--local, plus pgvector with --pg);\n"
	    "                           worker = a worker's own search path in this process\n"
	    "                           (its RPC dispatch without the network)\n"
	    "  --shoal URL              a running cluster's coordinator (tcp://host:port)\n"
	    "  --local N                start a coordinator and N workers from --bin on free\n"
	    "                           loopback ports in a temp dir, stop them at the end\n"
	    "  --bin DIR                where shoal-coordinator/shoal-worker are (default: the\n"
	    "                           directory of shoal-bench)\n"
	    "  --worker-arg FLAG        one more flag for every --local worker, e.g.\n"
	    "                           --worker-arg=--collection-graphs=false (repeatable, up\n"
	    "                           to 8)\n"
	    "  --pg DSN                 PostgreSQL with pgvector (libpq conninfo or URI); a\n"
	    "                           server without pgvector is skipped with the reason\n"
	    "  --pg-maintenance-work-mem SIZE  for the HNSW build (default 1GB)\n"
	    "  --pg-parallel-workers N  max_parallel_maintenance_workers for the build\n"
	    "                           (default: the server's)\n"
	    "  --timeout-ms MS          shoal per-call timeout (default 60000)\n"
	    "  --keep                   keep collections/tables and the --local directory\n"
	    "\n"
	    "Index (the same for every target):\n"
	    "  --m M                    HNSW M / pgvector m (default 16)\n"
	    "  --ef-construction E      efConstruction / ef_construction (default 64)\n"
	    "  --batch B                vectors per upsert request / COPY flush (default 1000)\n"
	    "\n"
	    "Workloads:\n"
	    "  --workload LIST          any of ingest,search,tenant,scatter,filter,migrate,\n"
	    "                           rebalance, import, or all (default ingest,search)\n"
	    "      ingest               time to searchable (load, then index build or catch-up)\n"
	    "      search               ef_search sweep: recall@k, QPS, p50/p95/p99\n"
	    "      tenant               many dedicated tenants, tenant-routed queries\n"
	    "      scatter              a shared collection over --shards shards, keyless scatter\n"
	    "                           searches vs one dedicated collection over the same rows\n"
	    "                           (ef_search sweep; server CPU per query with --local);\n"
	    "                           faiss: one index, pgvector: one table\n"
	    "      filter               payload filter 'attr < X' at several selectivities:\n"
	    "                           recall@k against the exact filtered neighbours, QPS,\n"
	    "                           rows returned (pgvector: WHERE, with and without\n"
	    "                           hnsw.iterative_scan)\n"
	    "      migrate              shoal only (needs >= 2 workers): a dedicated tenant moves\n"
	    "                           to another worker while a reader searches and a writer\n"
	    "                           upserts: search p50/p99 before and during, write pause,\n"
	    "                           MB/s, rows/s, and a latency-over-time plot\n"
	    "      rebalance            shoal only: its own cluster (--rebalance-workers, from\n"
	    "                           --bin) with a shared collection; a worker is added and\n"
	    "                           the cluster rebalanced under a reader and a writer:\n"
	    "                           wall time, per-move time, MB/s, write pause, whether\n"
	    "                           each target carried the graph, search p99 before/during\n"
	    "      import               shoal: the base set as a PostgreSQL table (--pg; real[]\n"
	    "                           and, with pgvector, vector) imported by `shoal import pg`\n"
	    "                           (rows/s, then time to searchable); pgvector: COPY into a\n"
	    "                           vector table + CREATE INDEX (reused from ingest if run)\n"
	    "  --k K                    neighbours per query (default 10)\n"
	    "  --ef LIST                ef_search sweep (default 10,20,40,80,160,320)\n"
	    "  --clients LIST           concurrent client threads, e.g. 1,4 (default 1)\n"
	    "  --min-time SEC           minimum time per sweep point (default 2)\n"
	    "  --warmup N               untimed warm-up queries per target (default 200)\n"
	    "  --tenants T              tenant workload: tenants (default 100)\n"
	    "  --tenant-size P          points per tenant (default min(1000, N/T))\n"
	    "  --tenant-ef E            ef_search of tenant queries (default 64)\n"
	    "  --tenant-queries Q       tenant-routed queries (default min(queries, 2000))\n"
	    "  --index-wait SEC         shoal builds its HNSW index in the background and answers\n"
	    "                           exactly until then: after loading, wait up to SEC for\n"
	    "                           the index to answer (default 600); counted as build time\n"
	    "  --settle SEC             pause after the tenant warm-up, which asks every tenant\n"
	    "                           once, for background index builds (default 2)\n"
	    "  --shards S               scatter: shards of the shared collection (default 32)\n"
	    "  --scatter-keys K         scatter: distribution-key values, point i has key i %% K\n"
	    "                           (default 1000)\n"
	    "  --scatter-queries Q      scatter: queries per sweep point (default\n"
	    "                           min(queries, 1000))\n"
	    "  --selectivity LIST       filter: percent of points matching (default\n"
	    "                           50,10,1,0.1; multiples of 0.01)\n"
	    "  --filter-ef E            filter: ef_search (default 64)\n"
	    "  --filter-queries Q       filter: queries (default min(queries, 1000))\n"
	    "  --migrate-size P         migrate: points of the moved tenant (default\n"
	    "                           min(N, 100000))\n"
	    "  --migrate-ef E           migrate: ef_search of the reader (default 64)\n"
	    "  --migrate-writes W       migrate: upserts per second of the writer, 10 points\n"
	    "                           each (default 50; 0 = no writer)\n"
	    "  --migrate-before SEC     migrate: measured before the move starts (default 5)\n"
	    "  --migrate-after SEC      migrate: measured after it ends (default 3)\n"
	    "  --max-mbps LIST          copy throttles in MB/s (default 0 = none): migrate moves\n"
	    "                           once per value, e.g. 0,10; rebalance uses the first\n"
	    "                           (--migrate-max-mbps is the older name)\n"
	    "  --rebalance-workers N    rebalance: workers of its own cluster before one is\n"
	    "                           added (default 4)\n"
	    "  --rebalance-size P       rebalance: points (default min(N, 200000))\n"
	    "  --rebalance-shards S     rebalance: shards of its shared collection (default 32)\n"
	    "  --rebalance-keys K       rebalance: distribution keys, point i has key i %% K\n"
	    "                           (default 128: partitions of > 1,024 points, which have\n"
	    "                           HNSW graphs)\n"
	    "\n"
	    "Output:\n"
	    "  --out DIR                output directory (default bench-out)\n"
	    "  --prefix NAME            file name prefix (default: the data set name)\n"
	    "  --gnuplot PATH           gnuplot to use (default: gnuplot on PATH; without it\n"
	    "                           the report says so and no plot is drawn)\n"
	    "  --help, --version\n"
	    "\n"
	    "Exit status: 0 when every requested target/workload ran or was skipped for a\n"
	    "stated reason, 1 when something failed (the outputs still say what), 2 for bad\n"
	    "options.\n");
}

static int
bad(const char *fmt, ...)
{
	va_list ap;
	fputs("shoal-bench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\n(see shoal-bench --help)\n", stderr);
	return 2;
}

static bool
parse_n_dim(const char *s, size_t *n, uint32_t *dim)
{
	char buf[64];
	snprintf(buf, sizeof buf, "%s", s);
	char *comma = strchr(buf, ',');
	uint64_t nn;
	if (comma == NULL)
		return false;
	*comma = '\0';
	return util_parse_u64(buf, &nn) && nn > 0 && util_parse_u32(comma + 1, dim) && *dim > 0 &&
	    (*n = (size_t)nn, true);
}

static bool
parse_list(const char *s, uint32_t *out, int *n, uint32_t min)
{
	char buf[512];
	snprintf(buf, sizeof buf, "%s", s);
	*n = 0;
	for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		uint32_t v;
		if (*n == MAX_LIST || !util_parse_u32(t, &v) || v < min)
			return false;
		out[(*n)++] = v;
	}
	return *n > 0;
}

/* A comma-separated list of numbers, each accepted by ok(). */
static bool
parse_double_list(const char *s, double *out, int *n, bool (*ok)(double v))
{
	char buf[512];
	snprintf(buf, sizeof buf, "%s", s);
	*n = 0;
	for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		char *end;
		errno = 0;
		double v = strtod(t, &end);
		if (*n == MAX_LIST || errno || *end || end == t || !ok(v))
			return false;
		out[(*n)++] = v;
	}
	return *n > 0;
}

/* A percentage in (0, 100], a multiple of 0.01 (the filter workload's
 * payload values have that resolution). */
static bool
pct_ok(double v)
{
	return v > 0 && v <= 100 && fabs(v * 100 - round(v * 100)) <= 1e-6;
}

static bool
parse_pct_list(const char *s, double *out, int *n)
{
	return parse_double_list(s, out, n, pct_ok);
}

/* A copy throttle in MB/s in [0, 100000] (0 = none). */
static bool
mbps_ok(double v)
{
	return v >= 0 && v <= 100000;
}

static bool
list_has(const char *list, const char *word)
{
	size_t w = strlen(word);
	for (const char *p = list; p && *p;) {
		const char *e = strchr(p, ',');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		if (len == w && strncmp(p, word, w) == 0)
			return true;
		p = e ? e + 1 : NULL;
	}
	return false;
}

static bool
list_only(const char *list, const char *const *allowed, char *badword, size_t cap)
{
	char buf[256];
	snprintf(buf, sizeof buf, "%s", list);
	for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		bool ok = false;
		for (int i = 0; allowed[i]; i++)
			ok |= strcmp(allowed[i], t) == 0;
		if (!ok) {
			snprintf(badword, cap, "%s", t);
			return false;
		}
	}
	return true;
}

enum {
	O_GEN = 256, O_GEN_CL, O_CLUSTERS, O_INTRINSIC, O_BASE, O_QUERY, O_GT, O_IDX, O_FMNIST,
	O_FMNIST_DIR, O_METRIC, O_QUERIES, O_LIMIT, O_SEED, O_NAME, O_SAVE_GT, O_TARGETS, O_SHOAL,
	O_LOCAL, O_BIN, O_WORKER_ARG, O_PG, O_PG_MWM, O_PG_PAR, O_TIMEOUT, O_KEEP, O_M, O_EFC, O_BATCH, O_WORKLOAD,
	O_K, O_EF, O_CLIENTS, O_MIN_TIME, O_WARMUP, O_TENANTS, O_TENANT_SIZE, O_TENANT_EF,
	O_TENANT_Q, O_INDEX_WAIT, O_SETTLE, O_OUT, O_PREFIX, O_GNUPLOT, O_HELP, O_VERSION,
	O_SHARDS, O_SCATTER_KEYS, O_SCATTER_Q, O_SELECTIVITY, O_FILTER_EF, O_FILTER_Q, O_MIGRATE_SIZE,
	O_MIGRATE_EF, O_MIGRATE_WRITES, O_MIGRATE_BEFORE, O_MIGRATE_AFTER, O_MIGRATE_MBPS,
	O_RB_WORKERS, O_RB_SIZE, O_RB_SHARDS, O_RB_KEYS,
};

static int
parse_options(int argc, char **argv, options *o)
{
	static const struct option opts[] = {
		{"gen", required_argument, NULL, O_GEN},
		{"gen-clustered", required_argument, NULL, O_GEN_CL},
		{"clusters", required_argument, NULL, O_CLUSTERS},
		{"intrinsic", required_argument, NULL, O_INTRINSIC},
		{"base", required_argument, NULL, O_BASE},
		{"query", required_argument, NULL, O_QUERY},
		{"gt", required_argument, NULL, O_GT},
		{"idx", required_argument, NULL, O_IDX},
		{"fashion-mnist", no_argument, NULL, O_FMNIST},
		{"fashion-mnist-dir", required_argument, NULL, O_FMNIST_DIR},
		{"metric", required_argument, NULL, O_METRIC},
		{"queries", required_argument, NULL, O_QUERIES},
		{"limit", required_argument, NULL, O_LIMIT},
		{"seed", required_argument, NULL, O_SEED},
		{"name", required_argument, NULL, O_NAME},
		{"save-gt", required_argument, NULL, O_SAVE_GT},
		{"targets", required_argument, NULL, O_TARGETS},
		{"shoal", required_argument, NULL, O_SHOAL},
		{"local", required_argument, NULL, O_LOCAL},
		{"bin", required_argument, NULL, O_BIN},
		{"worker-arg", required_argument, NULL, O_WORKER_ARG},
		{"pg", required_argument, NULL, O_PG},
		{"pg-maintenance-work-mem", required_argument, NULL, O_PG_MWM},
		{"pg-parallel-workers", required_argument, NULL, O_PG_PAR},
		{"timeout-ms", required_argument, NULL, O_TIMEOUT},
		{"keep", no_argument, NULL, O_KEEP},
		{"m", required_argument, NULL, O_M},
		{"ef-construction", required_argument, NULL, O_EFC},
		{"batch", required_argument, NULL, O_BATCH},
		{"workload", required_argument, NULL, O_WORKLOAD},
		{"workloads", required_argument, NULL, O_WORKLOAD},
		{"k", required_argument, NULL, O_K},
		{"ef", required_argument, NULL, O_EF},
		{"clients", required_argument, NULL, O_CLIENTS},
		{"min-time", required_argument, NULL, O_MIN_TIME},
		{"warmup", required_argument, NULL, O_WARMUP},
		{"tenants", required_argument, NULL, O_TENANTS},
		{"tenant-size", required_argument, NULL, O_TENANT_SIZE},
		{"tenant-ef", required_argument, NULL, O_TENANT_EF},
		{"tenant-queries", required_argument, NULL, O_TENANT_Q},
		{"index-wait", required_argument, NULL, O_INDEX_WAIT},
		{"settle", required_argument, NULL, O_SETTLE},
		{"out", required_argument, NULL, O_OUT},
		{"prefix", required_argument, NULL, O_PREFIX},
		{"gnuplot", required_argument, NULL, O_GNUPLOT},
		{"help", no_argument, NULL, O_HELP},
		{"version", no_argument, NULL, O_VERSION},
		{"shards", required_argument, NULL, O_SHARDS},
		{"scatter-keys", required_argument, NULL, O_SCATTER_KEYS},
		{"scatter-queries", required_argument, NULL, O_SCATTER_Q},
		{"selectivity", required_argument, NULL, O_SELECTIVITY},
		{"filter-ef", required_argument, NULL, O_FILTER_EF},
		{"filter-queries", required_argument, NULL, O_FILTER_Q},
		{"migrate-size", required_argument, NULL, O_MIGRATE_SIZE},
		{"migrate-ef", required_argument, NULL, O_MIGRATE_EF},
		{"migrate-writes", required_argument, NULL, O_MIGRATE_WRITES},
		{"migrate-before", required_argument, NULL, O_MIGRATE_BEFORE},
		{"migrate-after", required_argument, NULL, O_MIGRATE_AFTER},
		{"max-mbps", required_argument, NULL, O_MIGRATE_MBPS},
		{"migrate-max-mbps", required_argument, NULL, O_MIGRATE_MBPS}, /* older name */
		{"rebalance-workers", required_argument, NULL, O_RB_WORKERS},
		{"rebalance-size", required_argument, NULL, O_RB_SIZE},
		{"rebalance-shards", required_argument, NULL, O_RB_SHARDS},
		{"rebalance-keys", required_argument, NULL, O_RB_KEYS},
		{NULL, 0, NULL, 0},
	};
	static const char *const TARGETS[] = {"faiss", "shoal", "pgvector", "worker", NULL};
	static const char *const WORKLOADS[] = {"ingest", "search", "tenant", "scatter", "filter",
		"migrate", "rebalance", "import", "all", NULL};
	const char *fmnist_dir = "/usr/share/datasets/fashion-mnist";
	bool fmnist = false;
	static char idx_base[600], idx_query[600];
	uint64_t u64;
	uint32_t u32;
	int c;

	memset(o, 0, sizeof *o);
	o->data.seed = 42;
	o->data.clusters = 64;
	o->data.metric = VECMATH_L2;
	o->cfg.m = 16;
	o->cfg.ef_construction = 64;
	o->cfg.batch = 1000;
	o->cfg.shoal_timeout_ms = 60000;
	o->cfg.pg_maintenance_work_mem = "1GB";
	o->cfg.pg_parallel_workers = -1;
	o->workloads = "ingest,search";
	o->k = 10;
	o->min_time = 2.0;
	o->warmup = 200;
	o->tenants = 100;
	o->tenant_ef = 64;
	o->index_wait = 600;
	o->settle = 2;
	o->out_dir = "bench-out";
	o->scatter_shards = 32;
	o->scatter_keys = 1000;
	parse_pct_list("50,10,1,0.1", o->selectivity, &o->n_selectivity);
	o->filter_ef = 64;
	o->migrate_ef = 64;
	o->migrate_writes = 50;
	o->migrate_before = 5;
	o->migrate_after = 3;
	o->n_max_mbps = 1; /* max_mbps[0] = 0: unthrottled */
	o->rebalance_workers = 4;
	o->rebalance_shards = 32;
	o->rebalance_keys = 128;
	parse_list("10,20,40,80,160,320", o->efs, &o->n_efs, 1);
	parse_list("1", o->clients, &o->n_clients, 1);

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case O_GEN:
		case O_GEN_CL:
			if (o->data.kind != DATA_NONE)
				return bad("give only one data source");
			if (!parse_n_dim(optarg, &o->data.gen_n, &o->data.gen_dim))
				return bad("--%s '%s': expected N,DIM (e.g. 100000,128)",
				    c == O_GEN ? "gen" : "gen-clustered", optarg);
			o->data.kind = c == O_GEN ? DATA_GEN : DATA_GEN_CLUSTERED;
			break;
		case O_CLUSTERS:
			if (!util_parse_u32(optarg, &o->data.clusters) || o->data.clusters == 0)
				return bad("--clusters '%s': expected a positive number", optarg);
			break;
		case O_INTRINSIC:
			if (!util_parse_u32(optarg, &o->data.intrinsic) || o->data.intrinsic == 0)
				return bad("--intrinsic '%s': expected a positive number", optarg);
			break;
		case O_BASE:
			o->data.base_path = optarg;
			break;
		case O_QUERY:
			o->data.query_path = optarg;
			break;
		case O_GT:
			o->data.gt_path = optarg;
			break;
		case O_IDX: {
			if (o->data.kind != DATA_NONE)
				return bad("give only one data source");
			const char *comma = strchr(optarg, ',');
			if (comma == NULL || comma == optarg || comma[1] == '\0')
				return bad("--idx '%s': expected BASE_FILE,QUERY_FILE", optarg);
			snprintf(idx_base, sizeof idx_base, "%.*s", (int)(comma - optarg), optarg);
			snprintf(idx_query, sizeof idx_query, "%s", comma + 1);
			o->data.kind = DATA_IDX;
			o->data.base_path = idx_base;
			o->data.query_path = idx_query;
			break;
		}
		case O_FMNIST:
			if (o->data.kind != DATA_NONE)
				return bad("give only one data source");
			fmnist = true;
			o->data.kind = DATA_IDX;
			break;
		case O_FMNIST_DIR:
			fmnist_dir = optarg;
			break;
		case O_METRIC:
			if ((o->data.metric = vecmath_metric_parse(optarg)) == 0)
				return bad("--metric '%s': expected l2, cosine or ip", optarg);
			break;
		case O_QUERIES:
			if (!util_parse_u64(optarg, &u64) || u64 == 0)
				return bad("--queries '%s': expected a positive number", optarg);
			o->data.queries = (size_t)u64;
			break;
		case O_LIMIT:
			if (!util_parse_u64(optarg, &u64) || u64 == 0)
				return bad("--limit '%s': expected a positive number", optarg);
			o->data.limit = (size_t)u64;
			break;
		case O_SEED:
			if (!util_parse_u64(optarg, &o->data.seed))
				return bad("--seed '%s': expected a number", optarg);
			break;
		case O_NAME:
			o->data.name = optarg;
			break;
		case O_SAVE_GT:
			o->save_gt = optarg;
			break;
		case O_TARGETS: {
			char w[64];
			if (!list_only(optarg, TARGETS, w, sizeof w))
				return bad("--targets: unknown target '%s' (expected faiss, shoal, pgvector)",
				    w);
			o->targets = optarg;
			break;
		}
		case O_SHOAL:
			o->cfg.shoal_url = optarg;
			break;
		case O_LOCAL:
			if (!util_parse_u32(optarg, &u32) || u32 == 0 || u32 > BENCH_MAX_WORKERS)
				return bad("--local '%s': expected 1..%d workers", optarg, BENCH_MAX_WORKERS);
			o->local_workers = (int)u32;
			break;
		case O_BIN:
			o->bin = optarg;
			break;
		case O_WORKER_ARG:
			if (o->n_worker_args == BENCH_MAX_WORKER_ARGS)
				return bad("--worker-arg: at most %d", BENCH_MAX_WORKER_ARGS);
			o->worker_args[o->n_worker_args++] = optarg;
			break;
		case O_PG:
			o->cfg.pg_dsn = optarg;
			break;
		case O_PG_MWM:
			o->cfg.pg_maintenance_work_mem = *optarg ? optarg : NULL;
			if (optarg[strspn(optarg, "0123456789kMGTBb ")] != '\0')
				return bad("--pg-maintenance-work-mem '%s': expected a size like 1GB", optarg);
			break;
		case O_PG_PAR:
			if (!util_parse_u32(optarg, &u32) || u32 > 1024)
				return bad("--pg-parallel-workers '%s': expected 0..1024", optarg);
			o->cfg.pg_parallel_workers = (int)u32;
			break;
		case O_TIMEOUT:
			if (!util_parse_u32(optarg, &o->cfg.shoal_timeout_ms) || !o->cfg.shoal_timeout_ms)
				return bad("--timeout-ms '%s': expected a positive number", optarg);
			break;
		case O_KEEP:
			o->cfg.keep = true;
			break;
		case O_M:
			if (!util_parse_u32(optarg, &o->cfg.m) || o->cfg.m < 2 || o->cfg.m > 100)
				return bad("--m '%s': expected 2..100 (pgvector's range)", optarg);
			break;
		case O_EFC:
			if (!util_parse_u32(optarg, &o->cfg.ef_construction) ||
			    o->cfg.ef_construction < 4 || o->cfg.ef_construction > 1000)
				return bad("--ef-construction '%s': expected 4..1000 (pgvector's range)",
				    optarg);
			break;
		case O_BATCH:
			if (!util_parse_u32(optarg, &o->cfg.batch) || o->cfg.batch == 0 ||
			    o->cfg.batch > 100000)
				return bad("--batch '%s': expected 1..100000", optarg);
			break;
		case O_WORKLOAD: {
			char w[64];
			if (!list_only(optarg, WORKLOADS, w, sizeof w))
				return bad("--workload: unknown workload '%s' (expected ingest, search, "
				           "tenant, scatter, filter, migrate, rebalance, import or all)",
				    w);
			o->workloads = list_has(optarg, "all")
			    ? "ingest,search,tenant,scatter,filter,migrate,rebalance,import"
			    : optarg;
			break;
		}
		case O_K:
			if (!util_parse_u32(optarg, &o->k) || o->k == 0 || o->k > 1000)
				return bad("--k '%s': expected 1..1000", optarg);
			break;
		case O_EF:
			if (!parse_list(optarg, o->efs, &o->n_efs, 1))
				return bad("--ef '%s': expected a list of positive numbers, e.g. 10,40,160",
				    optarg);
			break;
		case O_CLIENTS:
			if (!parse_list(optarg, o->clients, &o->n_clients, 1))
				return bad("--clients '%s': expected a list of positive numbers, e.g. 1,4",
				    optarg);
			for (int i = 0; i < o->n_clients; i++)
				if (o->clients[i] > 256)
					return bad("--clients: %u is more than 256", o->clients[i]);
			break;
		case O_MIGRATE_MBPS:
			if (!parse_double_list(optarg, o->max_mbps, &o->n_max_mbps, mbps_ok))
				return bad("--max-mbps '%s': expected a list of MB/s in 0..100000 (0 = no "
				           "throttle), e.g. 0,40",
				    optarg);
			break;
		case O_RB_WORKERS:
			if (!util_parse_u32(optarg, &o->rebalance_workers) || o->rebalance_workers < 1 ||
			    o->rebalance_workers >= BENCH_MAX_WORKERS)
				return bad("--rebalance-workers '%s': expected 1..%d", optarg,
				    BENCH_MAX_WORKERS - 1);
			break;
		case O_RB_SIZE:
			if (!util_parse_u64(optarg, &u64) || u64 == 0)
				return bad("--rebalance-size '%s': expected a positive number", optarg);
			o->rebalance_size = (size_t)u64;
			break;
		case O_RB_SHARDS:
			if (!util_parse_u32(optarg, &o->rebalance_shards) || o->rebalance_shards == 0 ||
			    o->rebalance_shards > 1024)
				return bad("--rebalance-shards '%s': expected 1..1024", optarg);
			break;
		case O_RB_KEYS:
			if (!util_parse_u32(optarg, &o->rebalance_keys) || o->rebalance_keys == 0)
				return bad("--rebalance-keys '%s': expected a positive number", optarg);
			break;
		case O_MIN_TIME:
		case O_INDEX_WAIT:
		case O_SETTLE:
		case O_MIGRATE_BEFORE:
		case O_MIGRATE_AFTER: {
			const char *name = c == O_MIN_TIME ? "min-time"
			    : c == O_SETTLE               ? "settle"
			    : c == O_INDEX_WAIT           ? "index-wait"
			    : c == O_MIGRATE_BEFORE       ? "migrate-before"
			                                  : "migrate-after";
			char *end;
			errno = 0;
			double v = strtod(optarg, &end);
			if (errno || *end || end == optarg || !(v >= 0) || v > 86400)
				return bad("--%s '%s': expected a number in 0..86400", name, optarg);
			*(c == O_MIN_TIME        ? &o->min_time
			    : c == O_SETTLE         ? &o->settle
			    : c == O_INDEX_WAIT     ? &o->index_wait
			    : c == O_MIGRATE_BEFORE ? &o->migrate_before
			                            : &o->migrate_after) = v;
			break;
		}
		case O_SHARDS:
			if (!util_parse_u32(optarg, &o->scatter_shards) || o->scatter_shards == 0 ||
			    o->scatter_shards > 1024)
				return bad("--shards '%s': expected 1..1024", optarg);
			break;
		case O_SCATTER_KEYS:
			if (!util_parse_u32(optarg, &o->scatter_keys) || o->scatter_keys == 0)
				return bad("--scatter-keys '%s': expected a positive number", optarg);
			break;
		case O_SELECTIVITY:
			if (!parse_pct_list(optarg, o->selectivity, &o->n_selectivity))
				return bad("--selectivity '%s': expected percentages in (0, 100] with at "
				           "most two decimals, e.g. 50,10,1,0.1",
				    optarg);
			break;
		case O_SCATTER_Q:
		case O_FILTER_EF:
		case O_FILTER_Q:
		case O_MIGRATE_SIZE:
		case O_MIGRATE_EF:
			if (!util_parse_u32(optarg, &u32) || u32 == 0)
				return bad("--%s '%s': expected a positive number",
				    c == O_SCATTER_Q          ? "scatter-queries"
				        : c == O_FILTER_EF    ? "filter-ef"
				        : c == O_FILTER_Q     ? "filter-queries"
				        : c == O_MIGRATE_SIZE ? "migrate-size"
				                              : "migrate-ef",
				    optarg);
			*(c == O_SCATTER_Q      ? &o->scatter_queries
			    : c == O_FILTER_EF    ? &o->filter_ef
			    : c == O_FILTER_Q     ? &o->filter_queries
			    : c == O_MIGRATE_SIZE ? &o->migrate_size
			                          : &o->migrate_ef) = u32;
			break;
		case O_MIGRATE_WRITES:
			if (!util_parse_u32(optarg, &o->migrate_writes) || o->migrate_writes > 10000)
				return bad("--migrate-writes '%s': expected 0..10000 upserts per second",
				    optarg);
			break;
		case O_WARMUP:
			if (!util_parse_u32(optarg, &o->warmup))
				return bad("--warmup '%s': expected a number", optarg);
			break;
		case O_TENANTS:
			if (!util_parse_u32(optarg, &o->tenants) || o->tenants == 0 || o->tenants > 100000)
				return bad("--tenants '%s': expected 1..100000", optarg);
			break;
		case O_TENANT_SIZE:
			if (!util_parse_u32(optarg, &o->tenant_size) || o->tenant_size == 0)
				return bad("--tenant-size '%s': expected a positive number", optarg);
			break;
		case O_TENANT_EF:
			if (!util_parse_u32(optarg, &o->tenant_ef) || o->tenant_ef == 0)
				return bad("--tenant-ef '%s': expected a positive number", optarg);
			break;
		case O_TENANT_Q:
			if (!util_parse_u32(optarg, &o->tenant_queries) || o->tenant_queries == 0)
				return bad("--tenant-queries '%s': expected a positive number", optarg);
			break;
		case O_OUT:
			o->out_dir = optarg;
			break;
		case O_PREFIX:
			o->prefix = optarg;
			break;
		case O_GNUPLOT:
			o->gnuplot = optarg;
			break;
		case 'h':
		case O_HELP:
			usage(stdout);
			exit(0);
		case O_VERSION:
			printf("shoal-bench %s (libshoal %s, FAISS %s)\n", BENCH_VERSION,
			    shoal_version_string(), BENCH_FAISS_VERSION);
			exit(0);
		default:
			return bad("unknown option");
		}
	}
	if (optind < argc)
		return bad("unexpected argument '%s'", argv[optind]);

	if (o->data.base_path && o->data.kind == DATA_NONE) {
		if (o->data.query_path == NULL)
			return bad("--base needs --query");
		o->data.kind = DATA_FILES;
	} else if (o->data.kind == DATA_NONE) {
		return bad("no data: give --gen N,DIM, --gen-clustered N,DIM, --base/--query, --idx "
		           "or --fashion-mnist");
	} else if (o->data.kind != DATA_IDX && (o->data.base_path || o->data.query_path)) {
		return bad("give only one data source");
	}
	if (o->data.gt_path && o->data.kind != DATA_FILES && o->data.kind != DATA_IDX)
		return bad("--gt goes with --base/--query or --idx files");
	if (fmnist) {
		snprintf(idx_base, sizeof idx_base, "%s/train-images-idx3-ubyte.gz", fmnist_dir);
		snprintf(idx_query, sizeof idx_query, "%s/t10k-images-idx3-ubyte.gz", fmnist_dir);
		if (access(idx_base, R_OK) != 0) /* an unpacked copy */
			snprintf(idx_base, sizeof idx_base, "%s/train-images-idx3-ubyte", fmnist_dir);
		if (access(idx_query, R_OK) != 0)
			snprintf(idx_query, sizeof idx_query, "%s/t10k-images-idx3-ubyte", fmnist_dir);
		if (access(idx_base, R_OK) != 0)
			return bad("--fashion-mnist: no train-images-idx3-ubyte(.gz) in %s (install "
			           "Debian's dataset-fashion-mnist package, or give "
			           "--fashion-mnist-dir)",
			    fmnist_dir);
		o->data.base_path = idx_base;
		o->data.query_path = idx_query;
		if (o->data.name == NULL && o->data.limit == 0)
			o->data.name = o->data.metric == VECMATH_L2 ? "fashion-mnist-784-euclidean"
			                                            : "fashion-mnist-784";
	}
	if (o->data.kind == DATA_GEN_CLUSTERED && o->data.intrinsic == 0)
		o->data.intrinsic = o->data.gen_dim < 16 ? o->data.gen_dim : 16;
	if (o->cfg.shoal_url && o->local_workers)
		return bad("give either --shoal URL or --local N, not both");
	if (o->targets == NULL) {
		static char deflt[64];
		snprintf(deflt, sizeof deflt, "faiss%s%s",
		    (o->cfg.shoal_url || o->local_workers) ? ",shoal" : "",
		    o->cfg.pg_dsn ? ",pgvector" : "");
		o->targets = deflt;
	}
	if (list_has(o->targets, "shoal") && !o->cfg.shoal_url && !o->local_workers)
		return bad("target shoal needs --shoal URL or --local N");
	if (list_has(o->targets, "pgvector") && !o->cfg.pg_dsn)
		return bad("target pgvector needs --pg DSN");
	for (int i = 0; i < o->n_efs; i++)
		if (o->efs[i] > 100000)
			return bad("--ef: %u is too large", o->efs[i]);
	return 0;
}

/* ===================================================================
 * Workloads
 * =================================================================== */

static void
put_fact(void *arg, const char *k, const char *v)
{
	bench_fact_set(arg, k, "%s", v && *v ? v : "unknown");
}

typedef struct workload_flags {
	bool ingest, search, tenant;
} workload_flags;

/* ingest + search on the main collection of one target.  With keep, the
 * loaded collection is left to the caller in *keep (NULL when the load
 * failed) instead of being dropped. */
static bool
run_main(bench_run *run, const options *o, const bench_target_ops *ops, bench_target *t,
    workload_flags wf, const double *kth, bench_coll **keep)
{
	const bench_dataset *ds = run->ds;
	bool ok = true;
	shoal_status st;
	bench_coll *coll = NULL;
	bench_result *ing = wf.ingest ? bench_result_add(run, ops->name, "ingest") : NULL;

	bench_progress("[%s] creating the collection and loading %zu vectors", ops->name, ds->n);
	bench_ingest_progress ip = {.target = ops->name, .what = "ingest", .total = ds->n,
		.t0 = bench_now_s()};
	bench_load_times lt = {0};
	shoal_code rv = ops->create(t, NULL, "main", ds->dim, &coll, &st);
	double t0 = bench_now_s();
	if (rv == SHOAL_OK)
		rv = ops->load(t, coll, ds->base, ds->n, 0, &lt, bench_on_ingest_progress, &ip, &st);
	double exact_secs = bench_now_s() - t0;
	bool observed = false;
	/* below ~2000 points a graph search is as good as exact and an exact
	 * scan costs about what the index does: nothing to wait for */
	bool wait_index = ops->background_index && ds->n >= 2000;
	if (rv == SHOAL_OK && wait_index) {
		double w0 = bench_now_s();
		rv = bench_wait_index(run, o, ops, t, coll, ds->base, ds->n, "the main collection",
		    &observed, &st);
		lt.build_s += bench_now_s() - w0;
	}
	double secs = bench_now_s() - t0;
	bench_progress_done();
	if (rv != SHOAL_OK) {
		fprintf(stderr, "[%s] ingest failed: %s\n", ops->name, st.msg);
		char why[600];
		snprintf(why, sizeof why, "ingest failed: %s", st.msg);
		if (ing)
			bench_result_fail(ing, RES_FAILED, why);
		if (wf.search) {
			bench_result *r = bench_result_add(run, ops->name, "search");
			bench_result_fail(r, RES_FAILED, why);
		}
		if (coll)
			ops->drop(t, coll);
		return false;
	}
	fprintf(stderr, "[%s] ingest: %zu vectors searchable after %.2f s (load %.2f s + build %.2f s"
	                ", %.0f vectors/s)\n",
	    ops->name, ds->n, secs, lt.load_s, lt.build_s, (double)ds->n / secs);
	if (wait_index) {
		fprintf(stderr, "[%s] searchable by exact scan after %.2f s; HNSW index answering after "
		                "%.2f s\n",
		    ops->name, exact_secs, secs);
		bench_note(run,
		    "%s: %zu points searchable by exact scan %.2f s after the load began (upserts "
		    "acknowledged); the HNSW index, built in the background, %s %.2f s; the ingest "
		    "time to searchable counts the latter",
		    ops->name, ds->n, exact_secs, observed ? "answered after" : "not seen within",
		    secs);
	}
	if (ing) {
		ing->index_wait = wait_index;
		ing->index_observed = observed;
		ing->searchable_exact_s = exact_secs;
		ing->vectors = ds->n;
		ing->seconds = secs;
		ing->vectors_per_s = (double)ds->n / secs;
		ing->load_seconds = lt.load_s;
		ing->build_seconds = lt.build_s;
	}

	if (wf.search) {
		bench_point_out po = {0};
		po.answers = xmalloc(ds->nq * o->k * sizeof *po.answers);
		po.n_answer = xcalloc(ds->nq, sizeof *po.n_answer);
		/* warm-up: caches, connections, lazily loaded indexes */
		if (o->warmup > 0) {
			bench_point_spec w = {.ops = ops, .t = t, .colls = &coll, .queries = ds->queries,
				.nq = ds->nq < o->warmup ? ds->nq : o->warmup, .dim = ds->dim, .k = o->k,
				.ef = o->efs[o->n_efs / 2], .clients = 1, .min_time = 0};
			bench_point_out wo = {0};
			bench_progress("[%s] warm-up: %zu queries", ops->name, w.nq);
			if (bench_run_point(&w, &wo, &st) != SHOAL_OK) {
				bench_progress_done();
				fprintf(stderr, "[%s] warm-up failed: %s\n", ops->name, st.msg);
			}
		}
		for (int c = 0; c < o->n_clients; c++) {
			for (int e = 0; e < o->n_efs; e++) {
				bench_result *r = bench_result_add(run, ops->name, "search");
				r->k = o->k;
				r->ef_search = o->efs[e];
				r->clients = o->clients[c];
				bench_progress("[%s] search ef_search=%u clients=%u ...", ops->name, o->efs[e],
				    o->clients[c]);
				bench_point_spec ps = {.ops = ops, .t = t, .colls = &coll, .queries = ds->queries,
					.nq = ds->nq, .dim = ds->dim, .k = o->k, .ef = o->efs[e],
					.clients = o->clients[c], .min_time = o->min_time};
				memset(po.n_answer, 0, ds->nq * sizeof *po.n_answer);
				rv = bench_run_point(&ps, &po, &st);
				bench_progress_done();
				if (rv != SHOAL_OK) {
					char why[600];
					snprintf(why, sizeof why, "search failed: %s", st.msg);
					bench_result_fail(r, RES_FAILED, why);
					fprintf(stderr, "[%s] ef_search=%u clients=%u: %s\n", ops->name, o->efs[e],
					    o->clients[c], why);
					ok = false;
					continue;
				}
				r->recall = bench_mean_recall(ds, &po, kth, ds->nq, o->k, NULL, 0);
				bench_result_set_point(r, &po);
				fprintf(stderr,
				    "[%s] ef_search=%-4u clients=%-3u recall@%u %.4f  %9.1f QPS  p50 %.3f ms  "
				    "p95 %.3f ms  p99 %.3f ms\n",
				    ops->name, o->efs[e], o->clients[c], o->k, r->recall, r->qps, r->p50_ms,
				    r->p95_ms, r->p99_ms);
			}
		}
		free(po.answers);
		free(po.n_answer);
	}
	if (keep)
		*keep = coll;
	else
		ops->drop(t, coll);
	return ok;
}

/* The tenant workload on one target. */
static bool
run_tenant(bench_run *run, const options *o, const bench_target_ops *ops, bench_target *t)
{
	const bench_dataset *ds = run->ds;
	uint32_t T = o->tenants;
	size_t P = o->tenant_size ? o->tenant_size : (ds->n / T < 1000 ? ds->n / T : 1000);
	size_t nq = o->tenant_queries ? o->tenant_queries : (ds->nq < 2000 ? ds->nq : 2000);
	if (nq > ds->nq)
		nq = ds->nq;
	shoal_status st;
	char why[600];
	if (P < o->k || (size_t)T * P > ds->n) {
		bench_result *r = bench_result_add(run, ops->name, "tenant");
		snprintf(why, sizeof why,
		    "%u tenants of %zu points need %zu base vectors (have %zu) and >= k=%u points each",
		    T, P, (size_t)T * P, ds->n, o->k);
		bench_result_fail(r, RES_FAILED, why);
		return false;
	}
	bench_coll **colls = xcalloc(T, sizeof *colls);
	bool ok = true;
	double t0 = bench_now_s();
	bench_load_times sum = {0};
	bench_ingest_progress ip = {.target = ops->name, .what = "tenant set-up", .total = (size_t)T * P,
		.t0 = t0};
	for (uint32_t i = 0; i < T && ok; i++) {
		char group[16];
		snprintf(group, sizeof group, "t%04u", i);
		bench_load_times lt = {0};
		shoal_code rv = ops->create(t, group, "docs", ds->dim, &colls[i], &st);
		if (rv == SHOAL_OK)
			rv = ops->load(t, colls[i], ds->base + (size_t)i * P * ds->dim, P,
			    (int64_t)((size_t)i * P), &lt, NULL, NULL, &st);
		if (rv != SHOAL_OK) {
			snprintf(why, sizeof why, "tenant %u set-up failed: %s", i, st.msg);
			ok = false;
			break;
		}
		sum.load_s += lt.load_s;
		sum.build_s += lt.build_s;
		bench_on_ingest_progress(&ip, (size_t)(i + 1) * P);
	}
	double setup = bench_now_s() - t0;
	bench_progress_done();

	if (ok) {
		/* route queries: query q goes to tenant hash(q) % T */
		uint32_t *coll_of = xmalloc(nq * sizeof *coll_of);
		double *kth = xmalloc(nq * sizeof *kth);
		int32_t *nn = xmalloc(o->k * sizeof *nn);
		bench_ticker tk = {0};
		for (size_t q = 0; q < nq; q++) {
			uint64_t h = (uint64_t)q * 0x9e3779b97f4a7c15ULL;
			coll_of[q] = (uint32_t)((h >> 32) % T);
			const float *slice = ds->base + (size_t)coll_of[q] * P * ds->dim;
			bench_brute_force(ds->metric, slice, P, ds->dim, ds->queries + q * ds->dim, o->k, nn);
			kth[q] = bench_distance(ds->metric, ds->queries + q * ds->dim,
			    slice + (size_t)nn[o->k - 1] * ds->dim, ds->dim);
			if (bench_ticker_due(&tk))
				bench_progress("[%s] tenant ground truth %zu/%zu", ops->name, q + 1, nq);
		}
		bench_progress_done();
		free(nn);
		bench_point_out po = {0};
		po.answers = xmalloc(nq * o->k * sizeof *po.answers);
		po.n_answer = xcalloc(nq, sizeof *po.n_answer);
		/* warm-up: one query to every tenant (a lazily indexing target
		 * starts its builds), then the usual pass, then --settle */
		{
			uint32_t *every = xmalloc(T * sizeof *every);
			for (uint32_t i = 0; i < T; i++)
				every[i] = i;
			bench_point_spec w = {.ops = ops, .t = t, .colls = colls, .coll_of = every,
				.queries = ds->queries, .nq = T < ds->nq ? T : ds->nq, .dim = ds->dim,
				.k = o->k, .ef = o->tenant_ef, .clients = 1, .min_time = 0};
			bench_point_out wo = {0};
			bench_progress("[%s] tenant warm-up", ops->name);
			if (bench_run_point(&w, &wo, &st) != SHOAL_OK)
				fprintf(stderr, "[%s] tenant warm-up failed: %s\n", ops->name, st.msg);
			/* queries beyond the query count wrap around; cover the rest */
			for (uint32_t i = (uint32_t)w.nq; i < T; i += (uint32_t)w.nq) {
				w.coll_of = every + i;
				w.nq = T - i < ds->nq ? T - i : ds->nq;
				if (bench_run_point(&w, &wo, &st) != SHOAL_OK)
					break;
			}
			free(every);
			w.coll_of = coll_of;
			w.nq = nq < o->warmup ? nq : o->warmup;
			if (o->warmup > 0 && bench_run_point(&w, &wo, &st) != SHOAL_OK)
				fprintf(stderr, "[%s] tenant warm-up failed: %s\n", ops->name, st.msg);
			util_sleep_ms((uint32_t)(o->settle * 1000));
			bench_progress_done();
		}
		for (int c = 0; c < o->n_clients; c++) {
			bench_result *r = bench_result_add(run, ops->name, "tenant");
			r->tenants = T;
			r->points_per_tenant = (uint32_t)P;
			r->vectors = (uint64_t)T * P;
			r->seconds = setup;
			r->vectors_per_s = (double)r->vectors / setup;
			r->load_seconds = sum.load_s;
			r->build_seconds = sum.build_s;
			r->k = o->k;
			r->ef_search = o->tenant_ef;
			r->clients = o->clients[c];
			bench_progress("[%s] tenant search: %u tenants, clients=%u ...", ops->name, T,
			    o->clients[c]);
			bench_point_spec ps = {.ops = ops, .t = t, .colls = colls, .coll_of = coll_of,
				.queries = ds->queries, .nq = nq, .dim = ds->dim, .k = o->k,
				.ef = o->tenant_ef, .clients = o->clients[c], .min_time = o->min_time};
			memset(po.n_answer, 0, nq * sizeof *po.n_answer);
			shoal_code rv = bench_run_point(&ps, &po, &st);
			bench_progress_done();
			if (rv != SHOAL_OK) {
				snprintf(why, sizeof why, "tenant search failed: %s", st.msg);
				bench_result_fail(r, RES_FAILED, why);
				fprintf(stderr, "[%s] %s\n", ops->name, why);
				ok = false;
				continue;
			}
			r->recall = bench_mean_recall(ds, &po, kth, nq, o->k, coll_of, P);
			bench_result_set_point(r, &po);
			fprintf(stderr,
			    "[%s] tenant: %u tenants x %zu points set up in %.2f s; clients=%u "
			    "ef_search=%u recall@%u %.4f  %.1f QPS  p50 %.3f ms  p99 %.3f ms\n",
			    ops->name, T, P, setup, o->clients[c], o->tenant_ef, o->k, r->recall, r->qps,
			    r->p50_ms, r->p99_ms);
		}
		free(po.answers);
		free(po.n_answer);
		free(coll_of);
		free(kth);
	} else {
		bench_result *r = bench_result_add(run, ops->name, "tenant");
		bench_result_fail(r, RES_FAILED, why);
		fprintf(stderr, "[%s] %s\n", ops->name, why);
	}
	for (uint32_t i = 0; i < T; i++)
		if (colls[i])
			ops->drop(t, colls[i]);
	free(colls);
	return ok;
}

/* Workloads in files of their own (bench.h, "Workloads"), run in this
 * order on every open target after ingest/search/tenant.  needs_main: the
 * workload gets the target's main collection with the whole base set (and
 * the ground truth's kth); it is loaded for it even when neither ingest
 * nor search was asked for.  A workload that shoal does not support yet
 * has fn == NULL and a reason instead: it is reported as "unsupported"
 * for every target.  To add one: write wl_NAME.c with a bench_workload_fn,
 * declare it in bench.h, add a row here, and add NAME to WORKLOADS in
 * parse_options and to the --help text. */
static const struct {
	const char *name;
	bench_workload_fn fn;
	bool needs_main;
	const char *unsupported;
} FILE_WORKLOADS[] = {
	{"scatter", bench_wl_scatter, true, NULL},
	{"filter", bench_wl_filter, false, NULL},
	{"migrate", bench_wl_migrate, false, NULL},
	{"rebalance", bench_wl_rebalance, false, NULL},
	{"import", bench_wl_import, false, NULL},
};
#define N_FILE_WORKLOADS (sizeof FILE_WORKLOADS / sizeof FILE_WORKLOADS[0])

/* ===================================================================
 * main
 * =================================================================== */

static bench_cluster *active_cluster;

static void
on_signal(int sig)
{
	/* stop the daemons we started (by pid), then die of the signal */
	if (active_cluster) {
		for (int i = 0; i < active_cluster->nworkers; i++)
			if (active_cluster->worker_pid[i] > 0)
				kill(active_cluster->worker_pid[i], SIGTERM);
		if (active_cluster->coord_pid > 0)
			kill(active_cluster->coord_pid, SIGTERM);
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

static void
self_bin_dir(char *out, size_t cap)
{
	char exe[512];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n <= 0) {
		snprintf(out, cap, ".");
		return;
	}
	exe[n] = '\0';
	char *slash = strrchr(exe, '/');
	if (slash)
		*slash = '\0';
	snprintf(out, cap, "%s", exe);
}

static void
command_line(bench_run *run, int argc, char **argv)
{
	size_t len = 0;
	run->command[0] = '\0';
	for (int i = 0; i < argc && len + 4 < sizeof run->command; i++) {
		const char *a = i == 0 ? "shoal-bench" : argv[i];
		bool quote = a[strcspn(a, " \t\"'$")] != '\0' || *a == '\0';
		len += (size_t)snprintf(run->command + len, sizeof run->command - len,
		    quote ? "%s'%s'" : "%s%s", i ? " " : "", a);
	}
}

int
main(int argc, char **argv)
{
	options o;
	int prc = parse_options(argc, argv, &o);
	if (prc != 0)
		return prc;
	signal(SIGPIPE, SIG_IGN);

	workload_flags wf = {
		.ingest = list_has(o.workloads, "ingest"),
		.search = list_has(o.workloads, "search"),
		.tenant = list_has(o.workloads, "tenant"),
	};
	o.cfg.metric = o.data.metric;
	bool needs_main = wf.ingest || wf.search;
	for (size_t w = 0; w < N_FILE_WORKLOADS; w++)
		needs_main |= FILE_WORKLOADS[w].needs_main && FILE_WORKLOADS[w].fn &&
		    list_has(o.workloads, FILE_WORKLOADS[w].name);

	bench_run run;
	memset(&run, 0, sizeof run);
	command_line(&run, argc, argv);
	time_t now = time(NULL);
	strftime(run.started, sizeof run.started, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
	bench_machine_facts(&run);
	run.k = o.k;

	/* data */
	bench_dataset ds;
	shoal_status st;
	double t0 = bench_now_s();
	bench_progress("loading data ...");
	if (bench_dataset_load(&o.data, &ds, &st) != SHOAL_OK) {
		bench_progress_done();
		fprintf(stderr, "shoal-bench: %s\n", st.msg);
		return 2;
	}
	bench_progress("data: %s, %zu x %u, %zu queries, metric %s (%.1f s)", ds.name, ds.n, ds.dim,
	    ds.nq, vecmath_metric_name(ds.metric), bench_now_s() - t0);
	bench_progress_done();
	if (ds.n < o.k) {
		fprintf(stderr, "shoal-bench: k = %u but only %zu base vectors\n", o.k, ds.n);
		bench_dataset_free(&ds);
		return 2;
	}
	run.ds = &ds;
	double *kth = NULL;
	/* ground truth also serves ingest: it tells when shoal's index answers */
	if (needs_main || o.save_gt) {
		if (bench_ground_truth(&ds, o.k, &st) != SHOAL_OK) {
			fprintf(stderr, "shoal-bench: %s\n", st.msg);
			bench_dataset_free(&ds);
			return 1;
		}
		kth = xmalloc(ds.nq * sizeof *kth);
		for (size_t q = 0; q < ds.nq; q++)
			kth[q] = bench_distance(ds.metric, ds.queries + q * ds.dim,
			    ds.base + (size_t)ds.gt[q * ds.gt_k + o.k - 1] * ds.dim, ds.dim);
		if (o.save_gt) {
			/* exactly k columns: the ones used */
			int32_t *g = xmalloc(ds.nq * o.k * sizeof *g);
			for (size_t q = 0; q < ds.nq; q++)
				memcpy(g + q * o.k, ds.gt + q * ds.gt_k, o.k * sizeof *g);
			if (bench_write_ivecs(o.save_gt, g, ds.nq, o.k, &st) != SHOAL_OK)
				fprintf(stderr, "shoal-bench: --save-gt: %s\n", st.msg);
			else
				fprintf(stderr, "shoal-bench: ground truth written to %s\n", o.save_gt);
			free(g);
		}
	}

	/* run id: names tenants and tables so runs never collide */
	char hex[8], run_id[32];
	util_random_hex(hex, 3);
	snprintf(run_id, sizeof run_id, "bench-%s", hex);
	o.cfg.run_id = run_id;
	run.cfg = o.cfg;

	/* where the daemons are: --local and the rebalance workload's cluster */
	static char bin[512];
	if (o.bin)
		snprintf(bin, sizeof bin, "%s", o.bin);
	else
		self_bin_dir(bin, sizeof bin);
	o.bin = bin;

	/* local cluster */
	bench_cluster cluster;
	memset(&cluster, 0, sizeof cluster);
	bool cluster_up = false;
	char shoal_skip[600] = "";
	if (list_has(o.targets, "shoal") && o.local_workers > 0) {
		bench_progress("starting a local shoal cluster: coordinator + %d workers from %s",
		    o.local_workers, bin);
		active_cluster = &cluster;
		signal(SIGINT, on_signal);
		signal(SIGTERM, on_signal);
		if (bench_cluster_start(&cluster, bin, o.local_workers, o.worker_args, &st) != SHOAL_OK) {
			bench_progress_done();
			fprintf(stderr, "shoal-bench: %s\n", st.msg);
			snprintf(shoal_skip, sizeof shoal_skip, "local cluster failed: %s", st.msg);
		} else {
			bench_progress_done();
			cluster_up = true;
			fprintf(stderr, "shoal-bench: local cluster up at %s (%d workers, dir %s)\n",
			    cluster.url, o.local_workers, cluster.dir);
			o.cfg.shoal_url = cluster.url;
			run.cfg.shoal_url = cluster.url;
			o.local = &cluster;
			bench_note(&run,
			    "shoal: a local cluster started by the harness (--local %d: coordinator + "
			    "%d workers on loopback, on this machine)",
			    o.local_workers, o.local_workers);
		}
	} else if (o.cfg.shoal_url) {
		bench_note(&run, "shoal: the cluster at %s", o.cfg.shoal_url);
	}
	if (list_has(o.targets, "faiss"))
		bench_note(&run, "faiss: in-process FAISS %s IndexHNSWFlat, one query per call, "
		                 "single-threaded per query (the worker's search path without the "
		                 "network)",
		    BENCH_FAISS_VERSION);

	static const bench_target_ops *const ALL[] = {&bench_faiss_ops, &bench_worker_ops,
		&bench_shoal_ops, &bench_pg_ops};
	bool failed = false;
	for (int ti = 0; ti < (int)(sizeof ALL / sizeof ALL[0]); ti++) {
		const bench_target_ops *ops = ALL[ti];
		if (!list_has(o.targets, ops->name))
			continue;
		bench_target *t = NULL;
		char skip[700] = "";
		bench_result_status skip_status = RES_SKIPPED;
		if (ops == &bench_shoal_ops && shoal_skip[0]) {
			snprintf(skip, sizeof skip, "%s", shoal_skip);
			skip_status = RES_FAILED;
		} else {
			bench_progress("[%s] connecting ...", ops->name);
			shoal_code rv = ops->open(&o.cfg, &t, &st);
			bench_progress_done();
			if (rv != SHOAL_OK) {
				snprintf(skip, sizeof skip, "%s", st.msg);
				/* an unreachable shoal cluster is a failure; a missing pgvector
				 * is a reason to skip */
				skip_status = ops == &bench_pg_ops ? RES_SKIPPED : RES_FAILED;
				if (ops == &bench_pg_ops) {
					bench_fact_set(&run, "pgvector", "%s",
					    rv == SHOAL_FAILED_PRECONDITION ? "not available (see notes)"
					                                    : "not measured (no connection)");
					if (bench_pg_server_version[0])
						bench_fact_set(&run, "postgresql", "%s", bench_pg_server_version);
				}
			}
		}
		if (skip[0]) {
			fprintf(stderr, "[%s] %s: %s\n", ops->name,
			    skip_status == RES_SKIPPED ? "SKIPPED" : "FAILED", skip);
			bench_note(&run, "%s %s: %s", ops->name,
			    skip_status == RES_SKIPPED ? "skipped" : "failed", skip);
			const char *req[] = {"ingest", "search", "tenant"};
			for (int w = 0; w < 3; w++)
				if (list_has(o.workloads, req[w]))
					bench_result_fail(bench_result_add(&run, ops->name, req[w]), skip_status, skip);
			for (size_t w = 0; w < N_FILE_WORKLOADS; w++)
				if (FILE_WORKLOADS[w].fn && list_has(o.workloads, FILE_WORKLOADS[w].name))
					bench_result_fail(bench_result_add(&run, ops->name, FILE_WORKLOADS[w].name),
					    skip_status, skip);
			if (skip_status == RES_FAILED)
				failed = true;
		} else {
			ops->versions(t, put_fact, &run);
			bench_coll *main_coll = NULL;
			if (needs_main)
				failed |= !run_main(&run, &o, ops, t, wf, kth, &main_coll);
			if (wf.tenant)
				failed |= !run_tenant(&run, &o, ops, t);
			for (size_t w = 0; w < N_FILE_WORKLOADS; w++) {
				if (!FILE_WORKLOADS[w].fn || !list_has(o.workloads, FILE_WORKLOADS[w].name))
					continue;
				if (FILE_WORKLOADS[w].needs_main && main_coll == NULL) {
					bench_result_fail(bench_result_add(&run, ops->name, FILE_WORKLOADS[w].name),
					    RES_FAILED, "the main collection could not be loaded (see ingest)");
					failed = true;
					continue;
				}
				failed |= !FILE_WORKLOADS[w].fn(&run, &o, ops, t,
				    FILE_WORKLOADS[w].needs_main ? main_coll : NULL, kth);
			}
			if (main_coll)
				ops->drop(t, main_coll);
			ops->close(t);
		}
		for (size_t w = 0; w < N_FILE_WORKLOADS; w++)
			if (!FILE_WORKLOADS[w].fn && list_has(o.workloads, FILE_WORKLOADS[w].name))
				bench_result_fail(bench_result_add(&run, ops->name, FILE_WORKLOADS[w].name),
				    RES_UNSUPPORTED, FILE_WORKLOADS[w].unsupported);
	}
	for (size_t w = 0; w < N_FILE_WORKLOADS; w++)
		if (!FILE_WORKLOADS[w].fn && list_has(o.workloads, FILE_WORKLOADS[w].name))
			fprintf(stderr, "shoal-bench: workload %s: %s\n", FILE_WORKLOADS[w].name,
			    FILE_WORKLOADS[w].unsupported);

	if (cluster_up || cluster.dir[0]) {
		bench_progress("stopping the local cluster");
		bench_cluster_stop(&cluster, o.cfg.keep);
		bench_progress_done();
	}
	active_cluster = NULL;

	const char *prefix = o.prefix ? o.prefix : ds.name;
	shoal_code wrv = bench_write_outputs(&run, o.out_dir, prefix, o.gnuplot, &st);
	if (wrv != SHOAL_OK)
		fprintf(stderr, "shoal-bench: writing the outputs: %s\n", st.msg);
	free(kth);
	bench_timeline_free(run.migrate_tl);
	bench_rebalance_free(run.rebalance);
	free(run.results);
	bench_dataset_free(&ds);
	return wrv != SHOAL_OK || failed ? 1 : 0;
}
