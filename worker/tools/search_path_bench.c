/* search_path_bench.c -- shoal-search-path-bench: the worker's own search
 * path against raw in-process FAISS on the same data (issue 3: within 20%),
 * and what the RPC transport adds on top.
 *
 *   shoal-search-path-bench [--n N] [--dim D] [--queries Q] [--k K]
 *       [--m M] [--ef-construction E] [--ef LIST] [--rounds R] [--uniform]
 *       [--no-rpc] [--dir DIR] [--keep]
 *
 * Builds, on N generated vectors (toolgen.h: embeddings-like clusters, or
 * uniform), with the same M and efConstruction:
 *   faiss   raw FAISS "HNSW{M},Flat" in this process, searched one query per
 *           call with shoal_faiss_hnsw_search (what shoal-bench's faiss
 *           target does);
 *   worker  a real shard_service over a real rowstore in DIR, loaded with
 *           Upsert requests, its HNSW graph built by the worker's own
 *           maintenance (shard_service_maintain), searched with Search
 *           requests through rpc_dispatch (worker/inproc.h): envelope and
 *           payload decode, shard and partition lookup, the worker's HNSW
 *           search, hits, reply encode, and the client-side decode -- the
 *           code a Search rpc runs, without the network;
 *   rpc     (unless --no-rpc) the same worker behind its RPC server on a
 *           loopback port (inline dispatch, as shoal-worker runs it) and
 *           an rpc_client: one tcp:// round trip per search.
 * Ground truth: exact k-NN by FAISS flat search.  Exit status 1 when the
 * worker's recall@k at the last ef is below 0.9 (wrong answers, not a
 * timing), 2 for bad options.
 *
 * Measurement.  faiss and worker run interleaved on the same thread, query
 * by query (alternating which goes first), R rounds over the Q queries, so
 * both see the same machine load; cost is the thread's CPU time
 * (CLOCK_THREAD_CPUTIME_ID), which other processes on a busy machine do not
 * inflate, and "QPS" is 1 / CPU time per query (one core).  The rpc rows
 * give the process's CPU time (getrusage: client, server and their threads)
 * and the wall time per search.  Recall@k counts returned ids among the true
 * k (from the first round).  Prints a Markdown report; progress on stderr.
 * Timings are never asserted.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include <faiss/c_api/Index_c.h>
#include <faiss/c_api/error_c.h>
#include <faiss/c_api/index_factory_c.h>

#include "faiss_ext.h"
#include "fsutil.h"
#include "inproc.h"
#include "log.h"
#include "rowstore.h"
#include "rpc.h"
#include "shard_service.h"
#include "shoal.pb-c.h"
#include "toolgen.h"
#include "util.h"

#define BATCH 1000
#define MAX_EF 64

static struct {
	uint64_t n;
	uint32_t dim, queries, k, m, efc, rounds;
	uint32_t ef[MAX_EF];
	int n_ef;
	bool uniform, no_rpc, keep;
	char dir[4096];
} cfg = {.n = 100000, .dim = 128, .queries = 1000, .k = 10, .m = 16, .efc = 64, .rounds = 3};

static void
die(const char *what, const shoal_status *st)
{
	fprintf(stderr, "shoal-search-path-bench: %s: %s\n", what, st->msg);
	exit(1);
}

static void
die_faiss(const char *what)
{
	fprintf(stderr, "shoal-search-path-bench: faiss %s: %s\n", what, faiss_get_last_error());
	exit(1);
}

static uint64_t
thread_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t
process_cpu_us(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000u +
	    (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

/* |found ∩ truth| for one query */
static unsigned
overlap(const int64_t *found, size_t n, const idx_t *truth, uint32_t k)
{
	unsigned hit = 0;
	for (size_t a = 0; a < n; a++)
		for (uint32_t b = 0; b < k; b++)
			if (found[a] == truth[b]) {
				hit++;
				break;
			}
	return hit;
}

/* One Search through the worker's dispatch (svc) or through an RPC
 * client (cl); ids receive up to k hits. */
static size_t
worker_search(ProtobufCService *svc, rpc_client *cl, unsigned m_search, const float *q,
    uint32_t ef, int64_t *ids)
{
	Shoal__ShardSearchRequest req = SHOAL__SHARD_SEARCH_REQUEST__INIT;
	ProtobufCMessage *out = NULL;
	shoal_status st;
	req.shard_id = 1;
	req.vector = (float *)q;
	req.n_vector = cfg.dim;
	req.k = cfg.k;
	req.ef_search = ef;
	if (cl != NULL) {
		rpc_result res;
		if (rpc_client_call(cl, m_search, &req.base, &res) != SHOAL_OK)
			die("search over rpc", &res.status);
		out = res.reply;
	} else if (inproc_call(svc, "Search", &req.base, &out, &st) != SHOAL_OK) {
		die("search", &st);
	}
	const Shoal__SearchReply *r = (const Shoal__SearchReply *)out;
	size_t n = r->n_hits < cfg.k ? r->n_hits : cfg.k;
	for (size_t i = 0; i < n; i++)
		ids[i] = (int64_t)r->hits[i]->id;
	protobuf_c_message_free_unpacked(out, NULL);
	return n;
}

static size_t
faiss_search(FaissIndex *ix, const float *q, uint32_t ef, int64_t *ids)
{
	float dist[cfg.k];
	idx_t lab[cfg.k];
	if (shoal_faiss_hnsw_search(ix, 1, q, cfg.k, (int)ef, NULL, 0, NULL, NULL, dist, lab) != 0)
		die_faiss("search");
	size_t n = 0;
	for (uint32_t i = 0; i < cfg.k; i++)
		if (lab[i] >= 0)
			ids[n++] = lab[i];
	return n;
}

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: shoal-search-path-bench [--n N] [--dim D] [--queries Q] [--k K] [--m M]\n"
	    "           [--ef-construction E] [--ef LIST] [--rounds R] [--uniform] [--no-rpc]\n"
	    "           [--dir DIR] [--keep]\n"
	    "Measures the worker's own search path (Search requests through the worker's RPC\n"
	    "dispatch, in process) against raw FAISS HNSW on the same data, interleaved, in\n"
	    "thread CPU time per query; then the same searches over a tcp:// loopback round\n"
	    "trip.  Defaults: --n 100000 --dim 128 --queries 1000 --k 10 --m 16\n"
	    "--ef-construction 64 --ef 16,32,64,128,256 --rounds 3; embeddings-like clustered\n"
	    "data (--uniform: uniform in [-1,1)^D); --dir DIR: a directory to create for the\n"
	    "worker's data (default: a new one under /tmp), removed at the end unless --keep.\n"
	    "Prints a Markdown report on stdout.\n");
}

static bool
parse_ef_list(const char *s)
{
	cfg.n_ef = 0;
	while (*s) {
		char *end;
		unsigned long v = strtoul(s, &end, 10);
		if (end == s || v == 0 || v > 100000 || cfg.n_ef == MAX_EF)
			return false;
		cfg.ef[cfg.n_ef++] = (uint32_t)v;
		s = end;
		if (*s == ',')
			s++;
		else if (*s != '\0')
			return false;
	}
	return cfg.n_ef > 0;
}

static void
parse_args(int argc, char **argv)
{
	static const struct option lo[] = {{"n", required_argument, NULL, 'n'},
	    {"dim", required_argument, NULL, 'd'}, {"queries", required_argument, NULL, 'q'},
	    {"k", required_argument, NULL, 'K'}, {"m", required_argument, NULL, 'm'},
	    {"ef-construction", required_argument, NULL, 'e'},
	    {"ef", required_argument, NULL, 'E'}, {"rounds", required_argument, NULL, 'r'},
	    {"uniform", no_argument, NULL, 'U'}, {"no-rpc", no_argument, NULL, 'R'},
	    {"dir", required_argument, NULL, 'D'}, {"keep", no_argument, NULL, 'k'},
	    {"help", no_argument, NULL, 'h'}, {0}};
	int c, li = 0;

	parse_ef_list("16,32,64,128,256");
	while ((c = getopt_long(argc, argv, "", lo, &li)) != -1) {
		bool ok = true;
		switch (c) {
		case 'n': ok = util_parse_u64(optarg, &cfg.n) && cfg.n > 0; break;
		case 'd': ok = util_parse_u32(optarg, &cfg.dim) && cfg.dim > 0 && cfg.dim <= 4096; break;
		case 'q': ok = util_parse_u32(optarg, &cfg.queries) && cfg.queries > 0; break;
		case 'K': ok = util_parse_u32(optarg, &cfg.k) && cfg.k > 0 && cfg.k <= 1000; break;
		case 'm': ok = util_parse_u32(optarg, &cfg.m) && cfg.m >= 2 && cfg.m <= 256; break;
		case 'e': ok = util_parse_u32(optarg, &cfg.efc) && cfg.efc > 0; break;
		case 'E': ok = parse_ef_list(optarg); break;
		case 'r': ok = util_parse_u32(optarg, &cfg.rounds) && cfg.rounds > 0; break;
		case 'U': cfg.uniform = true; break;
		case 'R': cfg.no_rpc = true; break;
		case 'D': snprintf(cfg.dir, sizeof cfg.dir, "%s", optarg); break;
		case 'k': cfg.keep = true; break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); exit(2);
		}
		if (!ok) {
			fprintf(stderr, "shoal-search-path-bench: bad value for --%s: %s\n", lo[li].name,
			    optarg);
			usage(stderr);
			exit(2);
		}
	}
	if (optind < argc) {
		fprintf(stderr, "shoal-search-path-bench: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		exit(2);
	}
	if (cfg.k > cfg.n) {
		fprintf(stderr, "shoal-search-path-bench: --k %u exceeds --n %" PRIu64 "\n", cfg.k,
		    cfg.n);
		exit(2);
	}
}

/* Loads the base set into a new shard 1 of svc and lets the worker's own
 * maintenance build its HNSW graph; returns the seconds of each step. */
static void
load_worker(shard_service *ss, const float *base, double *load_s, double *build_s)
{
	ProtobufCService *svc = shard_service_rpc(ss);
	shoal_status st;
	Shoal__ShardSpec spec = SHOAL__SHARD_SPEC__INIT;
	Shoal__CreateShardRequest cr = SHOAL__CREATE_SHARD_REQUEST__INIT;
	ProtobufCMessage *out = NULL;
	spec.shard_id = 1;
	spec.dim = cfg.dim;
	spec.metric = SHOAL__METRIC__METRIC_L2;
	spec.m = cfg.m;
	spec.ef_construction = cfg.efc;
	cr.spec = &spec;
	if (inproc_call(svc, "CreateShard", &cr.base, &out, &st) != SHOAL_OK)
		die("create shard", &st);
	protobuf_c_message_free_unpacked(out, NULL);

	Shoal__Point *pv = xcalloc(BATCH, sizeof *pv);
	Shoal__Point **pp = xcalloc(BATCH, sizeof *pp);
	uint64_t t0 = util_mono_us();
	for (uint64_t lo = 0; lo < cfg.n; lo += BATCH) {
		size_t b = cfg.n - lo < BATCH ? (size_t)(cfg.n - lo) : BATCH;
		for (size_t j = 0; j < b; j++) {
			pv[j] = (Shoal__Point)SHOAL__POINT__INIT;
			pv[j].id = lo + j;
			pv[j].version = 1;
			pv[j].n_vector = cfg.dim;
			pv[j].vector = (float *)(base + (lo + j) * cfg.dim);
			pp[j] = &pv[j];
		}
		Shoal__ShardUpsertRequest ur = SHOAL__SHARD_UPSERT_REQUEST__INIT;
		ur.shard_id = 1;
		ur.n_points = b;
		ur.points = pp;
		if (inproc_call(svc, "Upsert", &ur.base, &out, &st) != SHOAL_OK)
			die("upsert", &st);
		protobuf_c_message_free_unpacked(out, NULL);
	}
	free(pv);
	free(pp);
	*load_s = (double)(util_mono_us() - t0) / 1e6;

	/* a first search loads the partition; maintenance then builds its graph */
	int64_t ids[cfg.k];
	t0 = util_mono_us();
	worker_search(svc, NULL, 0, base, 64, ids);
	while (shard_service_maintain(ss, NULL) > 0)
		;
	*build_s = (double)(util_mono_us() - t0) / 1e6;
}

int
main(int argc, char **argv)
{
	shoal_status st;

	parse_args(argc, argv);
	setvbuf(stdout, NULL, _IOLBF, 0);
	log_init("search-path-bench", LOG_WARN);
	if (cfg.dir[0] == '\0') {
		strcpy(cfg.dir, "/tmp/shoal-search-path-bench-XXXXXX");
		if (mkdtemp(cfg.dir) == NULL) {
			perror("mkdtemp");
			return 1;
		}
	} else if (mkdir(cfg.dir, 0755) != 0) {
		/* a directory of an earlier run would mix its rows into this one */
		fprintf(stderr, "shoal-search-path-bench: cannot create --dir %s: %s (give a new "
		                "directory)\n", cfg.dir, strerror(errno));
		return 2;
	}

	/* data and exact ground truth */
	float *base = xmalloc((size_t)cfg.n * cfg.dim * sizeof *base);
	float *qs = xmalloc((size_t)cfg.queries * cfg.dim * sizeof *qs);
	toolgen_vectors(42, 0, cfg.n, cfg.dim, cfg.uniform, base);
	toolgen_vectors(4242, 0, cfg.queries, cfg.dim, cfg.uniform, qs);
	idx_t *truth = xmalloc((size_t)cfg.queries * cfg.k * sizeof *truth);
	float *tdist = xmalloc((size_t)cfg.queries * cfg.k * sizeof *tdist);
	FaissIndex *flat = NULL;
	fprintf(stderr, "ground truth (exact, FAISS flat) ...\n");
	if (faiss_index_factory(&flat, (int)cfg.dim, "Flat", METRIC_L2) != 0 ||
	    faiss_Index_add(flat, (idx_t)cfg.n, base) != 0 ||
	    faiss_Index_search(flat, cfg.queries, qs, cfg.k, tdist, truth) != 0)
		die_faiss("flat search");
	faiss_Index_free(flat);
	free(tdist);

	/* raw FAISS */
	char desc[64];
	FaissIndex *hnsw = NULL;
	snprintf(desc, sizeof desc, "HNSW%u,Flat", cfg.m);
	fprintf(stderr, "raw FAISS %s build ...\n", desc);
	uint64_t t0 = util_mono_us();
	if (faiss_index_factory(&hnsw, (int)cfg.dim, desc, METRIC_L2) != 0 ||
	    shoal_faiss_hnsw_set_ef_construction(hnsw, (int)cfg.efc) != 0 ||
	    faiss_Index_add(hnsw, (idx_t)cfg.n, base) != 0)
		die_faiss("build");
	double faiss_build_s = (double)(util_mono_us() - t0) / 1e6;

	/* the worker */
	rowstore_opts ro = {0};
	rowstore *rs = NULL;
	shard_service *ss = NULL;
	if (rowstore_open(cfg.dir, &ro, &rs, &st) != SHOAL_OK ||
	    shard_service_create("search-path-bench", rs, &ss, &st) != SHOAL_OK)
		die("worker", &st);
	ProtobufCService *svc = shard_service_rpc(ss);
	double w_load_s, w_build_s;
	fprintf(stderr, "worker: Upsert + HNSW build by its maintenance ...\n");
	load_worker(ss, base, &w_load_s, &w_build_s);

	printf("# shoal-search-path-bench\n\n"
	       "%" PRIu64 " x %u %s vectors, %u queries, k %u, HNSW M %u, efConstruction %u, "
	       "%u rounds; l2.\n"
	       "Build: raw FAISS add %.1f s; worker Upsert %.1f s + HNSW build by its maintenance "
	       "%.1f s.\n\n",
	    cfg.n, cfg.dim, cfg.uniform ? "uniform" : "clustered (embeddings-like)", cfg.queries,
	    cfg.k, cfg.m, cfg.efc, cfg.rounds, faiss_build_s, w_load_s, w_build_s);
	printf("In process, interleaved, thread CPU time per query (QPS = 1 / CPU time, one "
	       "core):\n\n"
	       "| ef_search | faiss recall@%u | worker recall@%u | faiss us/query | worker us/query "
	       "| worker / faiss | faiss QPS | worker QPS |\n"
	       "|---:|---:|---:|---:|---:|---:|---:|---:|\n",
	    cfg.k, cfg.k);

	int64_t ids[cfg.k];
	double w_us_at[MAX_EF], w_recall_last = 0;
	for (int e = 0; e < cfg.n_ef; e++) {
		uint32_t ef = cfg.ef[e];
		uint64_t f_ns = 0, w_ns = 0, f_hit = 0, w_hit = 0;
		for (uint32_t r = 0; r < cfg.rounds; r++) {
			for (uint32_t i = 0; i < cfg.queries; i++) {
				const float *q = qs + (size_t)i * cfg.dim;
				const idx_t *tr = truth + (size_t)i * cfg.k;
				for (int side = 0; side < 2; side++) {
					bool worker_turn = (side ^ (int)((i + r) & 1)) != 0;
					uint64_t c0 = thread_cpu_ns();
					size_t n = worker_turn ? worker_search(svc, NULL, 0, q, ef, ids)
					                       : faiss_search(hnsw, q, ef, ids);
					uint64_t dc = thread_cpu_ns() - c0;
					if (worker_turn) {
						w_ns += dc;
						w_hit += r == 0 ? overlap(ids, n, tr, cfg.k) : 0;
					} else {
						f_ns += dc;
						f_hit += r == 0 ? overlap(ids, n, tr, cfg.k) : 0;
					}
				}
			}
		}
		double nq = (double)cfg.queries * cfg.rounds;
		double f_us = (double)f_ns / 1e3 / nq, w_us = (double)w_ns / 1e3 / nq;
		w_us_at[e] = w_us;
		double tot = (double)cfg.queries * cfg.k;
		w_recall_last = (double)w_hit / tot;
		printf("| %u | %.4f | %.4f | %.1f | %.1f | %.2f | %.0f | %.0f |\n", ef,
		    (double)f_hit / tot, (double)w_hit / tot, f_us, w_us, w_us / f_us, 1e6 / f_us,
		    1e6 / w_us);
		fprintf(stderr, "ef %u done\n", ef);
	}

	if (!cfg.no_rpc) {
		/* the same worker behind its RPC server, as shoal-worker runs it */
		rpc_server_opts so = {.inline_dispatch = true};
		rpc_server *srv = NULL;
		rpc_client *cl = NULL;
		char url[64];
		if (rpc_server_start("tcp://127.0.0.1:0", svc, &so, &srv, &st) != SHOAL_OK)
			die("rpc server", &st);
		snprintf(url, sizeof url, "tcp://127.0.0.1:%d", rpc_server_port(srv));
		if (rpc_client_open(url, &shoal__worker__descriptor, NULL, &cl, &st) != SHOAL_OK)
			die("rpc client", &st);
		unsigned m_search = (unsigned)(protobuf_c_service_descriptor_get_method_by_name(
		    &shoal__worker__descriptor, "Search") - shoal__worker__descriptor.methods);
		printf("\nOver one tcp:// loopback round trip (worker RPC server + rpc_client, one "
		       "search at a time): process CPU per search (client, server and their "
		       "threads) and wall time per search:\n\n"
		       "| ef_search | in-process worker us CPU | over RPC us CPU | RPC adds us CPU | "
		       "over RPC us wall | QPS (1 client) |\n|---:|---:|---:|---:|---:|---:|\n");
		for (uint32_t i = 0; i < 100 && i < cfg.queries; i++) /* connect, warm up */
			worker_search(NULL, cl, m_search, qs + (size_t)i * cfg.dim, cfg.ef[0], ids);
		for (int e = 0; e < cfg.n_ef; e++) {
			uint64_t c0 = process_cpu_us(), w0 = util_mono_us();
			for (uint32_t r = 0; r < cfg.rounds; r++)
				for (uint32_t i = 0; i < cfg.queries; i++)
					worker_search(NULL, cl, m_search, qs + (size_t)i * cfg.dim, cfg.ef[e],
					    ids);
			double nq = (double)cfg.queries * cfg.rounds;
			double c_us = (double)(process_cpu_us() - c0) / nq;
			double w_us = (double)(util_mono_us() - w0) / nq;
			printf("| %u | %.1f | %.1f | %.1f | %.1f | %.0f |\n", cfg.ef[e], w_us_at[e], c_us,
			    c_us - w_us_at[e], w_us, 1e6 / w_us);
		}
		rpc_client_close(cl);
		rpc_server_stop(srv);
	}

	shard_service_destroy(ss);
	rowstore_close(rs);
	faiss_Index_free(hnsw);
	free(truth);
	free(base);
	free(qs);
	if (!cfg.keep && fsutil_remove_tree(cfg.dir, &st) != SHOAL_OK)
		fprintf(stderr, "shoal-search-path-bench: cannot remove %s: %s\n", cfg.dir, st.msg);
	/* not a timing: a worker whose answers are mostly wrong is a failure */
	if (w_recall_last < 0.9) {
		fprintf(stderr,
		    "shoal-search-path-bench: the worker's recall@%u at ef_search %u is %.3f (< 0.9): "
		    "its search path returns wrong answers\n",
		    cfg.k, cfg.ef[cfg.n_ef - 1], w_recall_last);
		return 1;
	}
	return 0;
}
