/* restart_bench.c -- shoal-restart-bench: what a worker restart costs with
 * index snapshots, against rebuilding the HNSW graph from the rows.
 *
 *   shoal-restart-bench [--n N] [--dim D] [--m M] [--ef-construction E]
 *                       [--updates U] [--uniform] [--dir DIR] [--keep]
 *
 * Steps, all through the worker's own modules (rowstore, shard_index) on a
 * real data directory:
 *   1. write N generated vectors (embeddings-like: clusters in a 16-dim
 *      latent space embedded in D; or uniform in [-1,1)^D with --uniform;
 *      l2) as rows;
 *   2. load the partition and build its HNSW graph from the rows (what a
 *      restart without snapshots costs), which writes its snapshot;
 *   3. write U more rows (updates of existing ids) after the snapshot, then
 *      close without a checkpoint (as after kill -9: nothing flushed but
 *      the WAL);
 *   4. reopen: rowstore open (it scans the rows), first search (snapshot
 *      load + replay of the U newer rows), and recall@10 of the reloaded
 *      index against exact search on 100 queries (also measured on the
 *      index before the restart: they must agree).
 * Prints one line per step with its time and a summary; exit 0, or 1 on a
 * failure (with the message).  Progress goes to stderr.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ixmem.h"
#include "log.h"
#include "rowstore.h"
#include "shard_index.h"
#include "toolgen.h"
#include "util.h"
#include "vecio.h"
#include "vecmath.h"

#define BATCH 5000

static bool uniform; /* --uniform: uniform in [-1,1)^D, else embeddings-like */

/* the vectors (toolgen.h): embeddings-like, or uniform with --uniform */
static void
gen(uint64_t seed, uint64_t first, size_t n, uint32_t dim, float *out)
{
	toolgen_vectors(seed, first, n, dim, uniform, out);
}

static void
die(const char *what, const shoal_status *st)
{
	fprintf(stderr, "shoal-restart-bench: %s: %s\n", what, st->msg);
	exit(1);
}

static double
secs(uint64_t ms)
{
	return (double)ms / 1000.0;
}

/* recall@10 of idx's HNSW answers against its exact ones, 100 queries,
 * at ef_search ef; *us receives the mean HNSW query time. */
static double
recall(shard_index *idx, uint32_t dim, uint32_t ef, double *us)
{
	float *q = malloc(dim * sizeof *q);
	shard_hit hits[10], want[10];
	size_t nh, nw;
	bool complete;
	shoal_status st;
	uint64_t found = 0, total = 0, t_q = 0;
	shard_query sq = {.vector = q, .dim = dim, .k = 10, .ef_search = ef};

	for (int i = 0; i < 100; i++) {
		gen(99, (uint64_t)i, 1, dim, q);
		sq.exact = true;
		if (shard_index_search(idx, &sq, want, &nw, &complete, &st) != SHOAL_OK)
			die("search", &st);
		sq.exact = false;
		uint64_t tq = util_mono_us();
		if (shard_index_search(idx, &sq, hits, &nh, &complete, &st) != SHOAL_OK)
			die("search", &st);
		t_q += util_mono_us() - tq;
		for (size_t a = 0; a < nh; a++)
			for (size_t b = 0; b < nw; b++)
				found += hits[a].id == want[b].id;
		total += nw;
	}
	free(q);
	*us = (double)t_q / 100.0;
	return (double)found / (double)total;
}

static void
usage(FILE *f)
{
	fprintf(f, "usage: shoal-restart-bench [--n N] [--dim D] [--m M] [--ef-construction E]\n"
		   "                           [--updates U] [--uniform] [--dir DIR] [--keep]\n"
		   "Measures a worker restart with index snapshots against a rebuild from rows\n"
		   "(defaults: --n 200000 --dim 128 --m 16 --ef-construction 64 --updates 1000;\n"
		   "--dir: a new directory under /tmp, removed at the end unless --keep).\n");
}

int
main(int argc, char **argv)
{
	static const struct option lo[] = {{"n", required_argument, NULL, 'n'},
	    {"dim", required_argument, NULL, 'd'}, {"m", required_argument, NULL, 'm'},
	    {"ef-construction", required_argument, NULL, 'e'},
	    {"updates", required_argument, NULL, 'u'}, {"dir", required_argument, NULL, 'D'},
	    {"keep", no_argument, NULL, 'k'}, {"uniform", no_argument, NULL, 'U'},
	    {"help", no_argument, NULL, 'h'}, {0}};
	uint64_t n = 200000, updates = 1000;
	uint32_t dim = 128, m = 16, efc = 64;
	char dir[4096] = "", snap[4200];
	bool keep = false;
	int c;

	int li = 0;
	while ((c = getopt_long(argc, argv, "", lo, &li)) != -1) {
		bool ok = true;
		switch (c) {
		case 'n': ok = util_parse_u64(optarg, &n) && n > 0; break;
		case 'd': ok = util_parse_u32(optarg, &dim) && dim > 0 && dim <= 4096; break;
		case 'm': ok = util_parse_u32(optarg, &m); break;
		case 'e': ok = util_parse_u32(optarg, &efc); break;
		case 'u': ok = util_parse_u64(optarg, &updates); break;
		case 'D': snprintf(dir, sizeof dir, "%s", optarg); break;
		case 'k': keep = true; break;
		case 'U': uniform = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
		if (!ok) {
			fprintf(stderr, "shoal-restart-bench: bad value for --%s: %s\n", lo[li].name,
			    optarg);
			usage(stderr);
			return 2;
		}
	}
	if (updates > n)
		updates = n;
	setvbuf(stdout, NULL, _IOLBF, 0); /* progress lines as they come */
	log_init("restart-bench", LOG_INFO); /* slow partition loads say why */
	if (dir[0] == '\0') {
		strcpy(dir, "/tmp/shoal-restart-bench-XXXXXX");
		if (mkdtemp(dir) == NULL) {
			perror("mkdtemp");
			return 1;
		}
	} else {
		mkdir(dir, 0755);
	}
	snprintf(snap, sizeof snap, "%s/index", dir);

	shoal_status st;
	rowstore_opts ro = {0};
	rowstore *rs;
	shard_index *idx;
	shard_spec spec = {.shard_id = 1, .dim = dim, .metric = VECMATH_L2, .m = m,
	    .ef_construction = efc};
	ixmem *mem = ixmem_create(0);
	shard_index_opts io = {.snap_dir = snap, .mem = mem};
	float *v = malloc((size_t)BATCH * dim * sizeof(float));
	rowstore_row *rows = calloc(BATCH, sizeof *rows);
	uint64_t t0, t_rows, t_build, t_open, t_first, version = 1;

	printf("shoal-restart-bench: %" PRIu64 " vectors, dim %u, l2, HNSW m %u ef_construction %u, "
	       "%" PRIu64 " writes after the snapshot, in %s\n",
	    n, dim, m, efc, updates, dir);
	if (rowstore_open(dir, &ro, &rs, &st) != SHOAL_OK)
		die("rowstore_open", &st);
	if (rowstore_create_shard(rs, &spec, NULL, &st) != SHOAL_OK ||
	    rowstore_shard_spec(rs, 1, &spec, &st) != SHOAL_OK)
		die("create shard", &st);
	if (shard_index_create(rs, &spec, &io, &idx, &st) != SHOAL_OK)
		die("shard_index_create", &st);

	/* 1. rows */
	t0 = util_mono_ms();
	for (uint64_t lo = 0; lo < n; lo += BATCH) {
		size_t b = n - lo < BATCH ? (size_t)(n - lo) : BATCH;
		gen(42, lo, b, dim, v);
		for (size_t i = 0; i < b; i++)
			rows[i] = (rowstore_row){.id = lo + i, .version = version, .vector = v + i * dim,
			    .dim = dim};
		if (shard_index_write(idx, rows, b, NULL, NULL, &st) != SHOAL_OK)
			die("write", &st);
		if ((lo / BATCH) % 20 == 0)
			fprintf(stderr, "\rrows: %" PRIu64 " / %" PRIu64, lo + b, n);
	}
	t_rows = util_mono_ms() - t0;
	fprintf(stderr, "\n");
	printf("1. write %" PRIu64 " rows:                      %8.1f s\n", n, secs(t_rows));

	/* 2. load + HNSW build from rows (+ its snapshot) */
	t0 = util_mono_ms();
	if (shard_index_load(idx, "", 0, &st) != SHOAL_OK)
		die("load", &st);
	uint64_t t_load_rows = util_mono_ms() - t0;
	fprintf(stderr, "building HNSW (this is the slow part)...\n");
	while (shard_index_maintain(idx, NULL) > 0)
		;
	t_build = util_mono_ms() - t0;
	shard_index_info info;
	shard_index_get_info(idx, &info);
	if (info.hnsw != 1)
		die("build", &(shoal_status){SHOAL_INTERNAL, "the partition did not become HNSW"});
	printf("2. restart without snapshot: load rows        %8.1f s\n", secs(t_load_rows));
	printf("   + HNSW build from rows + snapshot write    %8.1f s  (total %.1f s)\n",
	    secs(t_build - t_load_rows), secs(t_build));
	printf("   index memory %.1f MiB (%.0f B/vector), snapshot file %.1f MiB, rows %.1f MiB "
	       "(RocksDB SST + memtables; %.0f B/vector)\n",
	    (double)info.bytes / 1048576.0, (double)info.bytes / (double)n,
	    (double)info.c.snapshot_bytes / 1048576.0, (double)rowstore_bytes(rs) / 1048576.0,
	    (double)rowstore_bytes(rs) / (double)n);

	double us64, us256, r64 = recall(idx, dim, 64, &us64), r256 = recall(idx, dim, 256, &us256);
	printf("   built index: recall@10 %.3f at ef 64 (%.0f us/query), %.3f at ef 256 (%.0f "
	       "us/query)\n",
	    r64, us64, r256, us256);

	/* 3. writes after the snapshot, then a stop without checkpoint */
	version++;
	for (uint64_t lo = 0; lo < updates; lo += BATCH) {
		size_t b = updates - lo < BATCH ? (size_t)(updates - lo) : BATCH;
		gen(43, lo, b, dim, v);
		for (size_t i = 0; i < b; i++)
			rows[i] = (rowstore_row){.id = (lo + i) * (n / updates), .version = version,
			    .vector = v + i * dim, .dim = dim};
		if (shard_index_write(idx, rows, b, NULL, NULL, &st) != SHOAL_OK)
			die("write", &st);
	}
	shard_index_destroy(idx);
	rowstore_close(rs);
	printf("3. %" PRIu64 " updates after the snapshot; stopped without a checkpoint\n", updates);

	/* 4. restart with the snapshot */
	t0 = util_mono_ms();
	if (rowstore_open(dir, &ro, &rs, &st) != SHOAL_OK)
		die("rowstore_open", &st);
	if (rowstore_shard_spec(rs, 1, &spec, &st) != SHOAL_OK ||
	    shard_index_create(rs, &spec, &io, &idx, &st) != SHOAL_OK)
		die("reopen", &st);
	t_open = util_mono_ms() - t0;
	float *q = malloc(dim * sizeof *q);
	shard_hit hits[10];
	size_t nh;
	bool complete;
	gen(99, 0, 1, dim, q);
	shard_query sq = {.vector = q, .dim = dim, .k = 10};
	t0 = util_mono_ms();
	if (shard_index_search(idx, &sq, hits, &nh, &complete, &st) != SHOAL_OK)
		die("first search", &st);
	t_first = util_mono_ms() - t0;
	shard_index_get_info(idx, &info);
	printf("4. restart with the snapshot: rowstore open   %8.2f s\n", secs(t_open));
	printf("   first search (snapshot load + replay of %" PRIu64 " rows) %8.2f s\n",
	    info.c.rows_replayed, secs(t_first));
	printf("   restart total                              %8.2f s  (vs %.1f s rebuilding: "
	       "%.0fx)\n",
	    secs(t_open + t_first), secs(t_build + t_open),
	    (double)(t_build + t_open) / (double)(t_open + t_first ? t_open + t_first : 1));
	if (info.c.loads_snapshot != 1 || info.hnsw != 1)
		die("restart", &(shoal_status){SHOAL_INTERNAL, "did not load from the snapshot"});

	/* recall of the reloaded index (against exact search of the rows) */
	r64 = recall(idx, dim, 64, &us64);
	r256 = recall(idx, dim, 256, &us256);
	printf("   reloaded index: recall@10 %.3f at ef 64 (%.0f us/query), %.3f at ef 256 (%.0f "
	       "us/query)\n",
	    r64, us64, r256, us256);
	shard_index_destroy(idx);
	rowstore_close(rs);
	ixmem_destroy(mem);
	free(q);
	free(v);
	free(rows);
	if (!keep) {
		char cmd[4200];
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", dir);
	}
	return 0;
}
