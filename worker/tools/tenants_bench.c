/* tenants_bench.c -- shoal-tenants-bench: many tenants in one shard under
 * a memory budget, and what a tenant-limited search costs.
 *
 *   shoal-tenants-bench [--tenants T] [--per P] [--dim D] [--budget SIZE_MB]
 *                       [--dir DIR] [--keep]
 *
 * Through the worker's own modules on a real data directory:
 *   1. write T tenants x P vectors (uniform, dim D, cosine) into one shard,
 *      each tenant a partition; a tenant's ids are spread over the whole id
 *      range (id = i * T + tenant), as in a shared collection;
 *   2. cold pass: one tenant-limited search per tenant, in random order,
 *      with the budget: each loads its partition from rows; the budget
 *      evicts least-recently-used ones (snapshotting them first);
 *   3. second pass over all tenants: reloads, now from snapshots;
 *   4. warm: 20 searches on each of 20 tenants (they fit in the budget);
 *   5. the same warm searches on a shard holding only one tenant of P.
 * Reports per-search latency (mean, p50, p99) per phase, the budget, the
 * peak of index memory, loads and evictions, and the process' peak RSS.
 * Exits 1 if the index memory ever exceeded the budget.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ixmem.h"
#include "log.h"
#include "rowstore.h"
#include "shard_index.h"
#include "util.h"
#include "vecio.h"
#include "vecmath.h"

static void
die(const char *what, const shoal_status *st)
{
	fprintf(stderr, "shoal-tenants-bench: %s: %s\n", what, st->msg);
	exit(1);
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void
report(const char *what, uint64_t *us, size_t n)
{
	uint64_t sum = 0;
	qsort(us, n, sizeof *us, cmp_u64);
	for (size_t i = 0; i < n; i++)
		sum += us[i];
	printf("%-46s %7zu searches: mean %8.1f us, p50 %7" PRIu64 " us, p99 %7" PRIu64 " us\n",
	    what, n, (double)sum / (double)n, us[n / 2], us[n * 99 / 100]);
}

static uint64_t
peak_rss_kb(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	uint64_t kb = 0;
	while (f && fgets(line, sizeof line, f))
		if (sscanf(line, "VmHWM: %" SCNu64, &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb;
}

typedef struct shard {
	rowstore *rs;
	shard_index *idx;
	shard_spec spec;
} shard;

static void
open_shard(const char *dir, uint64_t id, uint32_t dim, ixmem *mem, shard *s)
{
	rowstore_opts ro = {0};
	shoal_status st;
	char snap[4200];
	snprintf(snap, sizeof snap, "%s/index", dir);
	shard_index_opts io = {.snap_dir = snap, .mem = mem};
	s->spec = (shard_spec){.shard_id = id, .dim = dim, .metric = VECMATH_COSINE};
	if (rowstore_open(dir, &ro, &s->rs, &st) != SHOAL_OK ||
	    rowstore_create_shard(s->rs, &s->spec, NULL, &st) != SHOAL_OK ||
	    rowstore_shard_spec(s->rs, id, &s->spec, &st) != SHOAL_OK ||
	    shard_index_create(s->rs, &s->spec, &io, &s->idx, &st) != SHOAL_OK)
		die("open", &st);
}

static void
write_tenants(shard *s, uint32_t tenants, uint32_t per, uint32_t dim, bool spread)
{
	const uint32_t tb = 5; /* tenants per batch */
	float *v = malloc((size_t)tb * per * dim * sizeof(float));
	rowstore_row *rows = calloc((size_t)tb * per, sizeof *rows);
	char (*names)[16] = calloc(tb, sizeof *names);
	shoal_status st;

	for (uint32_t t0 = 0; t0 < tenants; t0 += tb) {
		size_t n = 0;
		for (uint32_t t = t0; t < t0 + tb && t < tenants; t++) {
			snprintf(names[t - t0], 16, "t%05u", t);
			for (uint32_t i = 0; i < per; i++, n++) {
				uint64_t id = spread ? (uint64_t)i * tenants + t : (uint64_t)t * per + i;
				vecio_generate(7, id, 1, dim, v + n * dim);
				rows[n] = (rowstore_row){.id = id, .version = 1, .vector = v + n * dim,
				    .dim = dim, .partition = names[t - t0], .partition_len = 6};
			}
		}
		if (shard_index_write(s->idx, rows, n, NULL, NULL, &st) != SHOAL_OK)
			die("write", &st);
		if (t0 % 500 == 0)
			fprintf(stderr, "\rwriting: %u / %u tenants", t0, tenants);
	}
	fprintf(stderr, "\n");
	free(v);
	free(rows);
	free(names);
}

static uint64_t
search_tenant(shard *s, uint32_t t, const float *q, uint32_t dim)
{
	char name[16];
	shard_hit hits[10];
	size_t n;
	bool complete;
	shoal_status st;
	snprintf(name, sizeof name, "t%05u", t);
	shard_query sq = {.vector = q, .dim = dim, .k = 10, .one_partition = true,
	    .partition = name, .partition_len = 6};
	uint64_t t0 = util_mono_us();
	if (shard_index_search(s->idx, &sq, hits, &n, &complete, &st) != SHOAL_OK)
		die("search", &st);
	uint64_t us = util_mono_us() - t0;
	if (n != 10 || !complete)
		die("search", &(shoal_status){SHOAL_INTERNAL, "short answer"});
	return us;
}

int
main(int argc, char **argv)
{
	static const struct option lo[] = {{"tenants", required_argument, NULL, 't'},
	    {"per", required_argument, NULL, 'p'}, {"dim", required_argument, NULL, 'd'},
	    {"budget", required_argument, NULL, 'b'}, {"dir", required_argument, NULL, 'D'},
	    {"keep", no_argument, NULL, 'k'}, {"help", no_argument, NULL, 'h'}, {0}};
	uint32_t tenants = 10000, per = 1000, dim = 128, budget_mb = 1024;
	char dir[4096] = "", dir1[4200];
	bool keep = false;
	int c;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		bool ok = true;
		switch (c) {
		case 't': ok = util_parse_u32(optarg, &tenants) && tenants >= 60; break;
		case 'p': ok = util_parse_u32(optarg, &per) && per >= 10; break;
		case 'd': ok = util_parse_u32(optarg, &dim) && dim > 0 && dim <= 4096; break;
		case 'b': ok = util_parse_u32(optarg, &budget_mb) && budget_mb > 0; break;
		case 'D': snprintf(dir, sizeof dir, "%s", optarg); break;
		case 'k': keep = true; break;
		case 'h':
			printf("usage: shoal-tenants-bench [--tenants T (>= 60)] [--per P] [--dim D] "
			       "[--budget MB] [--dir DIR] [--keep]\n"
			       "defaults: 10000 tenants x 1000 vectors, dim 128, budget 1024 MB\n");
			return 0;
		default: return 2;
		}
		if (!ok) {
			fprintf(stderr, "shoal-tenants-bench: bad value '%s'\n", optarg);
			return 2;
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	log_init("tenants-bench", LOG_WARN);
	if (dir[0] == '\0') {
		strcpy(dir, "/tmp/shoal-tenants-bench-XXXXXX");
		if (mkdtemp(dir) == NULL) {
			perror("mkdtemp");
			return 1;
		}
	}
	mkdir(dir, 0755);
	snprintf(dir1, sizeof dir1, "%s/one", dir);
	mkdir(dir1, 0755);

	uint64_t budget = (uint64_t)budget_mb << 20;
	ixmem *mem = ixmem_create(budget);
	ixmem_stats ms;
	shard big, one;
	float *q = malloc(dim * sizeof *q);
	uint32_t *order = malloc(tenants * sizeof *order);
	uint64_t *lat = malloc(((size_t)tenants + 1000) * sizeof *lat), t0;
	int fail = 0;

	printf("shoal-tenants-bench: %u tenants x %u vectors (dim %u, cosine) in one shard, "
	       "index memory budget %u MiB, in %s\n",
	    tenants, per, dim, budget_mb, dir);
	open_shard(dir, 1, dim, mem, &big);
	t0 = util_mono_ms();
	write_tenants(&big, tenants, per, dim, true);
	printf("1. wrote %" PRIu64 " rows in %.1f s; rows on disk %.0f MiB\n",
	    (uint64_t)tenants * per, (double)(util_mono_ms() - t0) / 1000,
	    (double)rowstore_bytes(big.rs) / 1048576.0);

	for (uint32_t i = 0; i < tenants; i++)
		order[i] = i;
	for (uint32_t i = tenants - 1; i > 0; i--) { /* deterministic shuffle */
		uint32_t j = (uint32_t)((i * 2654435761u) % (i + 1));
		uint32_t tmp = order[i];
		order[i] = order[j];
		order[j] = tmp;
	}
	for (int pass = 0; pass < 2; pass++) {
		t0 = util_mono_ms();
		for (uint32_t i = 0; i < tenants; i++) {
			vecio_generate(99, i, 1, dim, q);
			lat[i] = search_tenant(&big, order[(i + (uint32_t)pass * 7919) % tenants], q, dim);
			ixmem_get_stats(mem, &ms);
			if (ms.bytes > budget)
				fail = 1;
			if (i % 500 == 0)
				fprintf(stderr, "\rpass %d: %u / %u tenants", pass + 1, i, tenants);
		}
		fprintf(stderr, "\n");
		ixmem_get_stats(mem, &ms);
		shard_index_info info;
		shard_index_get_info(big.idx, &info);
		printf("%d. %s pass over every tenant: %.1f s; loaded %" PRIu64 ", loads %" PRIu64
		       ", evictions %" PRIu64 ", snapshot loads %" PRIu64 "\n",
		    pass + 2, pass ? "second" : "cold", (double)(util_mono_ms() - t0) / 1000,
		    ms.loaded, ms.loads, ms.evictions, info.c.loads_snapshot);
		report(pass ? "   search incl. reload from snapshot" : "   search incl. load from rows",
		    lat, tenants);
	}
	/* warm: 50 tenants x 20 searches */
	size_t n = 0;
	for (int r = 0; r < 20; r++)
		for (uint32_t t = 0; t < 20; t++) {
			vecio_generate(98, (uint64_t)r * 20 + t, 1, dim, q);
			lat[n++] = search_tenant(&big, t, q, dim);
		}
	n = 0;
	for (int r = 0; r < 20; r++)
		for (uint32_t t = 0; t < 20; t++) {
			vecio_generate(98, (uint64_t)r * 20 + t, 1, dim, q);
			lat[n++] = search_tenant(&big, t, q, dim);
		}
	report("4. warm, tenant-limited, shard of all tenants", lat, n);
	ixmem_get_stats(mem, &ms);
	printf("   index memory: budget %.0f MiB, peak %.1f MiB, now %.1f MiB in %" PRIu64
	       " partitions%s\n",
	    (double)budget / 1048576.0, (double)ms.peak_bytes / 1048576.0,
	    (double)ms.bytes / 1048576.0, ms.loaded, fail ? "  ** EXCEEDED **" : "");

	/* the same tenant alone in a shard */
	open_shard(dir1, 2, dim, NULL, &one);
	write_tenants(&one, 1, per, dim, false);
	n = 0;
	for (int r = 0; r < 40; r++)
		for (uint32_t t = 0; t < 20; t++) {
			vecio_generate(98, (uint64_t)r * 20 + t, 1, dim, q);
			if (r >= 20) /* the first 20 rounds warm it up */
				lat[n++] = search_tenant(&one, 0, q, dim);
			else
				search_tenant(&one, 0, q, dim);
		}
	report("5. warm, the same search, shard of one tenant", lat, n);
	printf("   process peak RSS %.0f MiB (index memory + RocksDB caches + the rest)\n",
	    (double)peak_rss_kb() / 1024.0);

	shard_index_destroy(big.idx);
	rowstore_close(big.rs);
	shard_index_destroy(one.idx);
	rowstore_close(one.rs);
	ixmem_destroy(mem);
	free(q);
	free(order);
	free(lat);
	if (!keep) {
		char cmd[4200];
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", dir);
	}
	return fail;
}
