/* it_backup.c -- a backup taken under write load, restored into a new
 * cluster, holds every acknowledged write.
 *
 *  1. A coordinator and 2 workers; tenants acme and globex (one on each
 *     worker), one collection each.
 *  2. A writer thread keeps upserting: new ids in batches (each batch's
 *     vectors are a function of the id), and every 4th round a rewrite of
 *     ids 0..99 with the next generation of vectors.  It counts what was
 *     acknowledged.
 *  3. `shoal backup create` runs while the writer writes.  Before it
 *     starts we note what was acknowledged (B); when it returns, what was
 *     acknowledged by then (A).
 *  4. Bad requests change nothing: an existing directory and a relative
 *     path are refused.
 *  5. The cluster is stopped; `shoal backup restore` lays out a new one,
 *     which is started on new ports.
 *  6. Checks: every id of every batch acknowledged before the backup
 *     started (B) is present with its exact vector; ids 0..99 hold a
 *     generation between B's and A's; nothing the writer started after
 *     the backup returned is there; searches work; a write after the
 *     restore (a new generation for id 0) is applied -- the version
 *     allocator was raised above every restored row. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "it_common.h"

#define DIM 16
#define BATCH 200
#define NUPD 100
#define FIRST_NEW 1000

static const char *const tenants[2] = {"acme", "globex"};

typedef struct writer {
	harness_cluster *c;
	atomic_bool stop;
	atomic_bool backup_done;
	/* per tenant: batches acknowledged, update generation acknowledged */
	atomic_int batches[2];
	atomic_int gen[2];
	/* per tenant: the first batch started after the backup returned */
	int first_after[2];
	char err[256];
} writer;

static uint64_t
seed_new(int t)
{
	return 1000 + (uint64_t)t;
}

static uint64_t
seed_upd(int t, int gen)
{
	return 5000 + (uint64_t)t * 1000 + (uint64_t)gen;
}

static bool
upsert_range(shoal_client *cl, int t, uint64_t seed, uint64_t first, size_t n, char *err)
{
	float v[BATCH * DIM];
	uint64_t ids[BATCH];
	vecio_generate(seed, first, n, DIM, v);
	for (size_t i = 0; i < n; i++)
		ids[i] = first + i;
	shoal_batch b = {.n = n, .dim = DIM, .ids = ids, .vectors = v};
	uint32_t up;
	shoal_status st;
	if (shoal_upsert(cl, tenants[t], "docs", &b, &up, &st) != SHOAL_OK) {
		snprintf(err, 256, "upsert %s: %.200s", tenants[t], st.msg);
		return false;
	}
	return true;
}

static void *
writer_main(void *arg)
{
	writer *w = arg;
	shoal_client *cl;
	shoal_status st;
	if (shoal_connect(w->c->coord_url, NULL, &cl, &st) != SHOAL_OK) {
		snprintf(w->err, sizeof w->err, "connect: %.200s", st.msg);
		return NULL;
	}
	w->first_after[0] = w->first_after[1] = -1;
	for (int round = 0; !atomic_load(&w->stop); round++) {
		bool after = atomic_load(&w->backup_done);
		for (int t = 0; t < 2; t++) {
			int k = atomic_load(&w->batches[t]);
			if (after && w->first_after[t] < 0)
				w->first_after[t] = k;
			if (!upsert_range(cl, t, seed_new(t), FIRST_NEW + (uint64_t)k * BATCH, BATCH,
			        w->err))
				goto out;
			atomic_store(&w->batches[t], k + 1);
			if (round % 4 == 3) {
				int g = atomic_load(&w->gen[t]) + 1;
				if (!upsert_range(cl, t, seed_upd(t, g), 0, NUPD, w->err))
					goto out;
				atomic_store(&w->gen[t], g);
			}
		}
	}
out:
	shoal_close(cl);
	return NULL;
}

/* Runs the shoal CLI with args (NULL-terminated, no --coordinator). */
static int
run_cli(char *const argv[])
{
	pid_t pid = fork();
	if (pid == 0) {
		execv(argv[0], argv);
		_exit(127);
	}
	int status;
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static bool
same_vec(const float *a, const float *b)
{
	return memcmp(a, b, DIM * sizeof(float)) == 0;
}

int
main(void)
{
	harness_cluster c;
	shoal_status st;
	char bkroot[] = "/tmp/shoal-backup-XXXXXX";
	char bk[300], newdir[300];

	CHECK(mkdtemp(bkroot) != NULL, "mkdtemp");
	snprintf(bk, sizeof bk, "%s/bk", bkroot);
	snprintf(newdir, sizeof newdir, "%s/new", bkroot);

	harness_cluster_start(&c, 2);
	shoal_client *cl = it_connect(&c);
	shoal_tenant_info ti[2];
	for (int t = 0; t < 2; t++) {
		OK(shoal_tenant_create(cl, tenants[t], NULL, &ti[t], &st_));
		shoal_collection_params p = {.dim = DIM, .metric = SHOAL_METRIC_L2};
		shoal_collection_info ci;
		OK(shoal_collection_create(cl, tenants[t], "docs", &p, &ci, &st_));
		/* generation 0 of the rewritten ids */
		char err[256];
		CHECK(upsert_range(cl, t, seed_upd(t, 0), 0, NUPD, err), "%s", err);
	}
	CHECK(strcmp(ti[0].worker, ti[1].worker) != 0, "both tenants on %s", ti[0].worker);

	/* ---- the writer runs; the backup is taken under its load */
	writer w = {.c = &c};
	pthread_t wt;
	pthread_create(&wt, NULL, writer_main, &w);
	while (atomic_load(&w.batches[0]) < 20 || atomic_load(&w.batches[1]) < 20) {
		CHECK(w.err[0] == '\0', "writer: %s", w.err);
		usleep(10000);
	}
	int b_batches[2], b_gen[2], a_batches[2], a_gen[2];
	for (int t = 0; t < 2; t++) {
		b_batches[t] = atomic_load(&w.batches[t]);
		b_gen[t] = atomic_load(&w.gen[t]);
	}
	shoal_backup_info *bi;
	OK(shoal_backup_create(cl, bk, 0, &bi, &st_));
	for (int t = 0; t < 2; t++) {
		a_batches[t] = atomic_load(&w.batches[t]);
		a_gen[t] = atomic_load(&w.gen[t]);
	}
	atomic_store(&w.backup_done, true);
	CHECK(bi->n_workers == 2 && bi->tenants == 2 && bi->collections == 2,
	    "backup info: %zu workers, %u tenants, %u collections", bi->n_workers, bi->tenants,
	    bi->collections);
	CHECK(bi->version_floor > 0, "no version floor");
	printf("backup of %d+%d batches (gen %d/%d) while writing, in %.3f s; writer was at "
	       "%d+%d when it returned\n",
	    b_batches[0], b_batches[1], b_gen[0], b_gen[1], (double)bi->micros / 1e6, a_batches[0],
	    a_batches[1]);
	shoal_backup_info_free(bi);

	/* bad requests: refused, nothing changes */
	CHECK(shoal_backup_create(cl, bk, 0, &bi, &st) == SHOAL_FAILED_PRECONDITION,
	    "a backup into an existing directory: %s", st.msg);
	CHECK(shoal_backup_create(cl, "relative/dir", 0, &bi, &st) == SHOAL_INVALID_ARGUMENT,
	    "a relative backup directory: %s", st.msg);
	char mf[400];
	snprintf(mf, sizeof mf, "%s/MANIFEST", bk);
	CHECK(access(mf, R_OK) == 0, "the first backup's MANIFEST is gone");

	/* let the writer go on a little after the backup, then stop it */
	int target = atomic_load(&w.batches[0]) + 5;
	while (atomic_load(&w.batches[0]) < target && w.err[0] == '\0')
		usleep(10000);
	atomic_store(&w.stop, true);
	pthread_join(wt, NULL);
	CHECK(w.err[0] == '\0', "writer: %s", w.err);
	shoal_close(cl);
	harness_cluster_stop(&c);

	/* ---- restore into a new cluster */
	char *rargv[] = {SHOAL_BIN_DIR "/shoal", "backup", "restore", bk, "--data", newdir, NULL};
	CHECK(run_cli(rargv) == 0, "shoal backup restore failed");
	char *again[] = {SHOAL_BIN_DIR "/shoal", "backup", "restore", bk, "--data", newdir, NULL};
	CHECK(run_cli(again) == 1, "a second restore into the same directory was not refused");
	/* harness layout: DIR/coordinator, DIR/worker0, DIR/worker1 */
	for (int t = 0; t < 2; t++) {
		char from[400], to[400];
		snprintf(from, sizeof from, "%s/workers/%s", newdir, ti[t].worker);
		snprintf(to, sizeof to, "%s/worker%d", newdir, t);
		CHECK(rename(from, to) == 0, "rename %s: %s", from, strerror(errno));
	}
	harness_cluster c2;
	harness_cluster_start_existing(&c2, newdir, 2);
	cl = it_connect(&c2);

	/* ---- every acknowledged write from before the backup is there */
	float *want = malloc((size_t)BATCH * DIM * sizeof(float));
	for (int t = 0; t < 2; t++) {
		uint64_t count;
		OK(shoal_count(cl, tenants[t], "docs", &count, &st_));
		CHECK(count >= (uint64_t)b_batches[t] * BATCH + NUPD, "%s: %llu points < %d", tenants[t],
		    (unsigned long long)count, b_batches[t] * BATCH + NUPD);
		for (int k = 0; k < b_batches[t]; k++) {
			uint64_t ids[BATCH];
			for (int i = 0; i < BATCH; i++)
				ids[i] = FIRST_NEW + (uint64_t)k * BATCH + (uint64_t)i;
			shoal_get_result *g;
			OK(shoal_get(cl, tenants[t], "docs", ids, BATCH, true, &g, &st_));
			CHECK(g->n_points == BATCH, "%s batch %d: %zu of %d points restored", tenants[t], k,
			    g->n_points, BATCH);
			vecio_generate(seed_new(t), ids[0], BATCH, DIM, want);
			for (size_t i = 0; i < g->n_points; i++) {
				uint64_t off = g->points[i].id - ids[0];
				CHECK(g->points[i].dim == DIM && same_vec(g->points[i].vector, want + off * DIM),
				    "%s id %llu: wrong vector", tenants[t],
				    (unsigned long long)g->points[i].id);
			}
			shoal_get_result_free(g);
		}
		/* nothing the writer began after the backup returned */
		if (w.first_after[t] >= 0) {
			uint64_t id = FIRST_NEW + (uint64_t)w.first_after[t] * BATCH;
			shoal_get_result *g;
			OK(shoal_get(cl, tenants[t], "docs", &id, 1, false, &g, &st_));
			CHECK(g->n_points == 0, "%s: id %llu, written after the backup, was restored",
			    tenants[t], (unsigned long long)id);
			shoal_get_result_free(g);
		}
		/* the rewritten ids: a generation acknowledged between B and A */
		uint64_t uids[NUPD];
		for (int i = 0; i < NUPD; i++)
			uids[i] = (uint64_t)i;
		shoal_get_result *g;
		OK(shoal_get(cl, tenants[t], "docs", uids, NUPD, true, &g, &st_));
		CHECK(g->n_points == NUPD, "%s: %zu of %d rewritten ids", tenants[t], g->n_points, NUPD);
		int found_gen = -1;
		for (int gen = b_gen[t]; gen <= a_gen[t] + 1 && found_gen < 0; gen++) {
			float v[DIM];
			vecio_generate(seed_upd(t, gen), g->points[0].id, 1, DIM, v);
			if (same_vec(g->points[0].vector, v))
				found_gen = gen;
		}
		CHECK(found_gen >= 0, "%s: id %llu holds no generation in %d..%d", tenants[t],
		    (unsigned long long)g->points[0].id, b_gen[t], a_gen[t] + 1);
		for (size_t i = 0; i < g->n_points; i++) {
			float v[DIM];
			vecio_generate(seed_upd(t, found_gen), g->points[i].id, 1, DIM, v);
			CHECK(same_vec(g->points[i].vector, v), "%s: ids 0..99 mix generations",
			    tenants[t]);
		}
		shoal_get_result_free(g);

		/* search works on the restored data */
		float q[DIM];
		vecio_generate(seed_new(t), FIRST_NEW + 7, 1, DIM, q);
		shoal_search_params sp = {.k = 3, .exact = true};
		shoal_search_result *r;
		OK(shoal_search(cl, tenants[t], "docs", q, DIM, &sp, &r, &st_));
		CHECK(r->n_hits == 3 && r->hits[0].id == FIRST_NEW + 7, "%s: search after restore",
		    tenants[t]);
		shoal_search_result_free(r);

		/* a write after the restore is applied (versions above the rows') */
		char err[256];
		CHECK(upsert_range(cl, t, seed_upd(t, 999), 0, 1, err), "%s", err);
		uint64_t id0 = 0;
		OK(shoal_get(cl, tenants[t], "docs", &id0, 1, true, &g, &st_));
		float v999[DIM];
		vecio_generate(seed_upd(t, 999), 0, 1, DIM, v999);
		CHECK(g->n_points == 1 && same_vec(g->points[0].vector, v999),
		    "%s: an update after the restore was not applied", tenants[t]);
		shoal_get_result_free(g);
	}
	free(want);
	shoal_close(cl);
	harness_cluster_stop(&c2); /* removes newdir */
	char cmd[400];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", bkroot);
	CHECK(system(cmd) == 0, "cleanup");
	printf("it_backup: OK\n");
	return 0;
}
