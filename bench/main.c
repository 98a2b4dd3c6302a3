/* main.c -- shoal-bench: options, workloads, measurement, progress.
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
 *       scatter/filter/migrate/import: reported "not supported by this
 *             build yet" (no numbers)
 *       drop what was created (unless --keep), close
 *
 * Measurement of one sweep point: every client thread opens its session
 * and sets ef_search, then all start together (barrier).  Threads take
 * query numbers from one atomic counter and stop once every query was
 * answered at least once AND --min-time seconds have passed, so fast
 * targets are timed over enough queries too.  QPS = searches / wall time;
 * latencies are per search, from just before the call to just after it
 * returns (client side, so network and serialisation count); recall is
 * the mean over the first answer to every query.  A warm-up pass (not
 * recorded) precedes each target's sweep.  Any failed search fails the
 * point: it is reported with the error, never as a number.
 *
 * Threading: the main thread drives; search threads only touch their own
 * session, their latency buffer and their slots of the answer array.
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
#define MAX_LIST 32

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

/* Rate-limited progress for long loops: prints at most every `every` s,
 * or in place on a terminal every 0.2 s. */
typedef struct ticker {
	double last;
	double t0;
} ticker;

static bool
ticker_due(ticker *t)
{
	double now = bench_now_s();
	double every = bench_progress_tty() ? 0.2 : 5.0;
	if (now - t->last < every)
		return false;
	t->last = now;
	return true;
}

/* ===================================================================
 * Options
 * =================================================================== */

typedef struct options {
	bench_data_spec data;
	bench_config cfg;
	const char *targets;
	const char *workloads;
	int local_workers;
	const char *bin;
	uint32_t k;
	uint32_t efs[MAX_LIST];
	int n_efs;
	uint32_t clients[MAX_LIST];
	int n_clients;
	double min_time;
	uint32_t warmup;
	uint32_t tenants, tenant_size, tenant_ef, tenant_queries;
	double index_wait;   /* s, background_index targets */
	double settle;       /* s after the tenant warm-up */
	const char *out_dir;
	const char *prefix;
	const char *gnuplot;
	const char *save_gt;
} options;

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
	    "  --targets LIST           any of faiss,shoal,pgvector (default: faiss, plus shoal\n"
	    "                           with --shoal/--local, plus pgvector with --pg)\n"
	    "  --shoal URL              a running cluster's coordinator (tcp://host:port)\n"
	    "  --local N                start a coordinator and N workers from --bin on free\n"
	    "                           loopback ports in a temp dir, stop them at the end\n"
	    "  --bin DIR                where shoal-coordinator/shoal-worker are (default: the\n"
	    "                           directory of shoal-bench)\n"
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
	    "                           import, or all (default ingest,search)\n"
	    "      ingest               time to searchable (load, then index build or catch-up)\n"
	    "      search               ef_search sweep: recall@k, QPS, p50/p95/p99\n"
	    "      tenant               many dedicated tenants, tenant-routed queries\n"
	    "      scatter filter migrate import   not supported by this build yet: reported\n"
	    "                           as such, without numbers\n"
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
	O_LOCAL, O_BIN, O_PG, O_PG_MWM, O_PG_PAR, O_TIMEOUT, O_KEEP, O_M, O_EFC, O_BATCH, O_WORKLOAD,
	O_K, O_EF, O_CLIENTS, O_MIN_TIME, O_WARMUP, O_TENANTS, O_TENANT_SIZE, O_TENANT_EF,
	O_TENANT_Q, O_INDEX_WAIT, O_SETTLE, O_OUT, O_PREFIX, O_GNUPLOT, O_HELP, O_VERSION,
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
		{NULL, 0, NULL, 0},
	};
	static const char *const TARGETS[] = {"faiss", "shoal", "pgvector", NULL};
	static const char *const WORKLOADS[] = {"ingest", "search", "tenant", "scatter", "filter",
		"migrate", "import", "all", NULL};
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
				           "tenant, scatter, filter, migrate, import or all)",
				    w);
			o->workloads = list_has(optarg, "all")
			    ? "ingest,search,tenant,scatter,filter,migrate,import"
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
		case O_MIN_TIME:
		case O_INDEX_WAIT:
		case O_SETTLE: {
			char *end;
			errno = 0;
			double v = strtod(optarg, &end);
			if (errno || *end || end == optarg || !(v >= 0) || v > 86400)
				return bad("--%s '%s': expected seconds in 0..86400",
				    c == O_MIN_TIME ? "min-time" : c == O_SETTLE ? "settle" : "index-wait",
				    optarg);
			*(c == O_MIN_TIME ? &o->min_time : c == O_SETTLE ? &o->settle : &o->index_wait) = v;
			break;
		}
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
 * Measurement of one sweep point
 * =================================================================== */

typedef struct point_spec {
	const bench_target_ops *ops;
	bench_target *t;
	bench_coll **colls;          /* by tenant (or just [0]) */
	const uint32_t *coll_of;     /* query -> colls index; NULL = colls[0] */
	const float *queries;        /* nq * dim */
	size_t nq;
	uint32_t dim, k, ef, clients;
	double min_time;
} point_spec;

typedef struct point_out {
	int64_t *answers;            /* nq * k */
	uint32_t *n_answer;          /* nq */
	double qps, p50, p95, p99, mean;
	uint64_t done;
} point_out;

typedef struct point_run {
	const point_spec *ps;
	point_out *out;
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
	const point_spec *ps = run->ps;
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

static double
percentile(const float *sorted, size_t n, double p)
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
static shoal_code
run_point(const point_spec *ps, point_out *out, shoal_status *st)
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
		qsort(all, m, sizeof *all, float_cmp);
		out->done = m;
		out->qps = t_end > run.t_start ? (double)m / (t_end - run.t_start) : NAN;
		out->p50 = percentile(all, m, 0.50);
		out->p95 = percentile(all, m, 0.95);
		out->p99 = percentile(all, m, 0.99);
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

/* ===================================================================
 * Workloads
 * =================================================================== */

typedef struct ingest_progress {
	const char *target;
	const char *what;
	size_t total;
	double t0;
	ticker tk;
} ingest_progress;

static void
on_ingest_progress(void *arg, size_t done)
{
	ingest_progress *p = arg;
	if (!ticker_due(&p->tk) && done != p->total)
		return;
	double el = bench_now_s() - p->t0;
	bench_progress("[%s] %s %zu/%zu vectors (%.0f vectors/s, %.1f s)", p->target, p->what, done,
	    p->total, el > 0 ? (double)done / el : 0.0, el);
}

static void
result_fail(bench_result *res, bench_result_status s, const char *reason)
{
	res->status = s;
	snprintf(res->reason, sizeof res->reason, "%s", reason);
}

static void
put_fact(void *arg, const char *k, const char *v)
{
	bench_fact_set(arg, k, "%s", v && *v ? v : "unknown");
}

typedef struct workload_flags {
	bool ingest, search, tenant;
} workload_flags;

/* Recall of a point's answers against thresholds kth[q]; base/offsets per
 * query (tenant slices) or the whole base set. */
static double
mean_recall(const bench_dataset *ds, const point_out *po, const double *kth, size_t nq,
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
static shoal_code
wait_indexed(const bench_target_ops *ops, bench_target *t, bench_coll *coll,
    const bench_dataset *ds, double timeout_s, bool *observed, shoal_status *st)
{
	const uint32_t k = 1;
	double *nn = xmalloc(ds->nq * sizeof *nn);
	for (size_t q = 0; q < ds->nq; q++)
		nn[q] = bench_distance(ds->metric, ds->queries + q * ds->dim,
		    ds->base + (size_t)ds->gt[q * ds->gt_k] * ds->dim, ds->dim);
	bench_session *s = NULL;
	shoal_code rv = ops->session_open(t, &s, st);
	if (rv == SHOAL_OK)
		rv = ops->set_ef(s, 1, st);
	int64_t ids[1];
	double t0 = bench_now_s();
	size_t q = 0;
	ticker tk = {0};
	*observed = false;
	while (rv == SHOAL_OK && !*observed) {
		double r0 = bench_now_s();
		for (int j = 0; j < 16 && !*observed; j++, q = (q + 1) % ds->nq) {
			size_t n = 0;
			if ((rv = ops->search(s, coll, ds->queries + q * ds->dim, k, ids, &n, st)) != SHOAL_OK)
				break;
			*observed = bench_recall_one(ds->metric, ds->base, ds->n, ds->dim,
			                ds->queries + q * ds->dim, nn[q], ids, n, k) < 1.0;
		}
		double now = bench_now_s();
		if (rv != SHOAL_OK || *observed || now - t0 > timeout_s)
			break;
		if (ticker_due(&tk))
			bench_progress("[%s] waiting for the HNSW index (answers are exact until it is "
			               "built) %.1f s",
			    ops->name, now - t0);
		double pause = 4 * (now - r0);
		util_sleep_ms((uint32_t)(1000 * (pause < 0.1 ? 0.1 : pause > 2 ? 2 : pause)));
	}
	bench_progress_done();
	free(nn);
	if (s)
		ops->session_close(s);
	return rv;
}

/* ingest + search on the main collection of one target. */
static bool
run_main(bench_run *run, const options *o, const bench_target_ops *ops, bench_target *t,
    workload_flags wf, const double *kth)
{
	const bench_dataset *ds = run->ds;
	bool ok = true;
	shoal_status st;
	bench_coll *coll = NULL;
	bench_result *ing = wf.ingest ? bench_result_add(run, ops->name, "ingest") : NULL;

	bench_progress("[%s] creating the collection and loading %zu vectors", ops->name, ds->n);
	ingest_progress ip = {.target = ops->name, .what = "ingest", .total = ds->n,
		.t0 = bench_now_s()};
	bench_load_times lt = {0};
	shoal_code rv = ops->create(t, NULL, "main", ds->dim, &coll, &st);
	double t0 = bench_now_s();
	if (rv == SHOAL_OK)
		rv = ops->load(t, coll, ds->base, ds->n, 0, &lt, on_ingest_progress, &ip, &st);
	double exact_secs = bench_now_s() - t0;
	bool observed = false;
	/* below ~2000 points a graph search is as good as exact and an exact
	 * scan costs about what the index does: nothing to wait for */
	bool wait_index = ops->background_index && ds->n >= 2000;
	if (rv == SHOAL_OK && wait_index) {
		double w0 = bench_now_s();
		rv = wait_indexed(ops, t, coll, ds, o->index_wait, &observed, &st);
		lt.build_s += bench_now_s() - w0;
		if (rv == SHOAL_OK && !observed) {
			fprintf(stderr,
			    "[%s] warning: no search was answered by the HNSW index within --index-wait "
			    "%.0f s; searches may be exact scans\n",
			    ops->name, o->index_wait);
			bench_note(run,
			    "%s: no search was observed to be answered by the HNSW index within %.0f s "
			    "after loading; its search numbers may be exact scans",
			    ops->name, o->index_wait);
		}
	}
	double secs = bench_now_s() - t0;
	bench_progress_done();
	if (rv != SHOAL_OK) {
		fprintf(stderr, "[%s] ingest failed: %s\n", ops->name, st.msg);
		char why[600];
		snprintf(why, sizeof why, "ingest failed: %s", st.msg);
		if (ing)
			result_fail(ing, RES_FAILED, why);
		if (wf.search) {
			bench_result *r = bench_result_add(run, ops->name, "search");
			result_fail(r, RES_FAILED, why);
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
		point_out po = {0};
		po.answers = xmalloc(ds->nq * o->k * sizeof *po.answers);
		po.n_answer = xcalloc(ds->nq, sizeof *po.n_answer);
		/* warm-up: caches, connections, lazily loaded indexes */
		if (o->warmup > 0) {
			point_spec w = {.ops = ops, .t = t, .colls = &coll, .queries = ds->queries,
				.nq = ds->nq < o->warmup ? ds->nq : o->warmup, .dim = ds->dim, .k = o->k,
				.ef = o->efs[o->n_efs / 2], .clients = 1, .min_time = 0};
			point_out wo = {0};
			bench_progress("[%s] warm-up: %zu queries", ops->name, w.nq);
			if (run_point(&w, &wo, &st) != SHOAL_OK) {
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
				point_spec ps = {.ops = ops, .t = t, .colls = &coll, .queries = ds->queries,
					.nq = ds->nq, .dim = ds->dim, .k = o->k, .ef = o->efs[e],
					.clients = o->clients[c], .min_time = o->min_time};
				memset(po.n_answer, 0, ds->nq * sizeof *po.n_answer);
				rv = run_point(&ps, &po, &st);
				bench_progress_done();
				if (rv != SHOAL_OK) {
					char why[600];
					snprintf(why, sizeof why, "search failed: %s", st.msg);
					result_fail(r, RES_FAILED, why);
					fprintf(stderr, "[%s] ef_search=%u clients=%u: %s\n", ops->name, o->efs[e],
					    o->clients[c], why);
					ok = false;
					continue;
				}
				r->recall = mean_recall(ds, &po, kth, ds->nq, o->k, NULL, 0);
				r->qps = po.qps;
				r->p50_ms = po.p50;
				r->p95_ms = po.p95;
				r->p99_ms = po.p99;
				r->mean_ms = po.mean;
				r->queries = po.done;
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
		result_fail(r, RES_FAILED, why);
		return false;
	}
	bench_coll **colls = xcalloc(T, sizeof *colls);
	bool ok = true;
	double t0 = bench_now_s();
	bench_load_times sum = {0};
	ingest_progress ip = {.target = ops->name, .what = "tenant set-up", .total = (size_t)T * P,
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
		on_ingest_progress(&ip, (size_t)(i + 1) * P);
	}
	double setup = bench_now_s() - t0;
	bench_progress_done();

	if (ok) {
		/* route queries: query q goes to tenant hash(q) % T */
		uint32_t *coll_of = xmalloc(nq * sizeof *coll_of);
		double *kth = xmalloc(nq * sizeof *kth);
		int32_t *nn = xmalloc(o->k * sizeof *nn);
		ticker tk = {0};
		for (size_t q = 0; q < nq; q++) {
			uint64_t h = (uint64_t)q * 0x9e3779b97f4a7c15ULL;
			coll_of[q] = (uint32_t)((h >> 32) % T);
			const float *slice = ds->base + (size_t)coll_of[q] * P * ds->dim;
			bench_brute_force(ds->metric, slice, P, ds->dim, ds->queries + q * ds->dim, o->k, nn);
			kth[q] = bench_distance(ds->metric, ds->queries + q * ds->dim,
			    slice + (size_t)nn[o->k - 1] * ds->dim, ds->dim);
			if (ticker_due(&tk))
				bench_progress("[%s] tenant ground truth %zu/%zu", ops->name, q + 1, nq);
		}
		bench_progress_done();
		free(nn);
		point_out po = {0};
		po.answers = xmalloc(nq * o->k * sizeof *po.answers);
		po.n_answer = xcalloc(nq, sizeof *po.n_answer);
		/* warm-up: one query to every tenant (a lazily indexing target
		 * starts its builds), then the usual pass, then --settle */
		{
			uint32_t *every = xmalloc(T * sizeof *every);
			for (uint32_t i = 0; i < T; i++)
				every[i] = i;
			point_spec w = {.ops = ops, .t = t, .colls = colls, .coll_of = every,
				.queries = ds->queries, .nq = T < ds->nq ? T : ds->nq, .dim = ds->dim,
				.k = o->k, .ef = o->tenant_ef, .clients = 1, .min_time = 0};
			point_out wo = {0};
			bench_progress("[%s] tenant warm-up", ops->name);
			if (run_point(&w, &wo, &st) != SHOAL_OK)
				fprintf(stderr, "[%s] tenant warm-up failed: %s\n", ops->name, st.msg);
			/* queries beyond the query count wrap around; cover the rest */
			for (uint32_t i = (uint32_t)w.nq; i < T; i += (uint32_t)w.nq) {
				w.coll_of = every + i;
				w.nq = T - i < ds->nq ? T - i : ds->nq;
				if (run_point(&w, &wo, &st) != SHOAL_OK)
					break;
			}
			free(every);
			w.coll_of = coll_of;
			w.nq = nq < o->warmup ? nq : o->warmup;
			if (o->warmup > 0 && run_point(&w, &wo, &st) != SHOAL_OK)
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
			point_spec ps = {.ops = ops, .t = t, .colls = colls, .coll_of = coll_of,
				.queries = ds->queries, .nq = nq, .dim = ds->dim, .k = o->k,
				.ef = o->tenant_ef, .clients = o->clients[c], .min_time = o->min_time};
			memset(po.n_answer, 0, nq * sizeof *po.n_answer);
			shoal_code rv = run_point(&ps, &po, &st);
			bench_progress_done();
			if (rv != SHOAL_OK) {
				snprintf(why, sizeof why, "tenant search failed: %s", st.msg);
				result_fail(r, RES_FAILED, why);
				fprintf(stderr, "[%s] %s\n", ops->name, why);
				ok = false;
				continue;
			}
			r->recall = mean_recall(ds, &po, kth, nq, o->k, coll_of, P);
			r->qps = po.qps;
			r->p50_ms = po.p50;
			r->p95_ms = po.p95;
			r->p99_ms = po.p99;
			r->mean_ms = po.mean;
			r->queries = po.done;
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
		result_fail(r, RES_FAILED, why);
		fprintf(stderr, "[%s] %s\n", ops->name, why);
	}
	for (uint32_t i = 0; i < T; i++)
		if (colls[i])
			ops->drop(t, colls[i]);
	free(colls);
	return ok;
}

static const char *
unsupported_reason(const char *workload)
{
	if (strcmp(workload, "scatter") == 0)
		return "not supported by this build yet: shoal has no shared (hash-distributed) "
		       "collections to scatter over";
	if (strcmp(workload, "filter") == 0)
		return "not supported by this build yet: shoal's search has no payload filters";
	if (strcmp(workload, "migrate") == 0)
		return "not supported by this build yet: shoal cannot move a tenant between workers";
	return "not supported by this build yet: shoal has no PostgreSQL COPY import";
}

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
	if (wf.search || wf.ingest || o.save_gt) {
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

	/* local cluster */
	bench_cluster cluster;
	memset(&cluster, 0, sizeof cluster);
	bool cluster_up = false;
	char shoal_skip[600] = "";
	if (list_has(o.targets, "shoal") && o.local_workers > 0) {
		char bin[512];
		if (o.bin)
			snprintf(bin, sizeof bin, "%s", o.bin);
		else
			self_bin_dir(bin, sizeof bin);
		bench_progress("starting a local shoal cluster: coordinator + %d workers from %s",
		    o.local_workers, bin);
		active_cluster = &cluster;
		signal(SIGINT, on_signal);
		signal(SIGTERM, on_signal);
		if (bench_cluster_start(&cluster, bin, o.local_workers, &st) != SHOAL_OK) {
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

	static const bench_target_ops *const ALL[] = {&bench_faiss_ops, &bench_shoal_ops,
		&bench_pg_ops};
	static const char *const OTHER[] = {"scatter", "filter", "migrate", "import"};
	bool failed = false;
	for (int ti = 0; ti < 3; ti++) {
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
					result_fail(bench_result_add(&run, ops->name, req[w]), skip_status, skip);
			if (skip_status == RES_FAILED)
				failed = true;
		} else {
			ops->versions(t, put_fact, &run);
			if (wf.ingest || wf.search)
				failed |= !run_main(&run, &o, ops, t, wf, kth);
			if (wf.tenant)
				failed |= !run_tenant(&run, &o, ops, t);
			ops->close(t);
		}
		for (int w = 0; w < 4; w++)
			if (list_has(o.workloads, OTHER[w]))
				result_fail(bench_result_add(&run, ops->name, OTHER[w]), RES_UNSUPPORTED,
				    unsupported_reason(OTHER[w]));
	}
	for (int w = 0; w < 4; w++)
		if (list_has(o.workloads, OTHER[w]))
			fprintf(stderr, "shoal-bench: workload %s: %s\n", OTHER[w],
			    unsupported_reason(OTHER[w]));

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
	free(run.results);
	bench_dataset_free(&ds);
	return wrv != SHOAL_OK || failed ? 1 : 0;
}
