/* it_disk_full.c -- a worker whose data directory fills up (a 16 MiB tmpfs
 * mounted by the test, the worker with --min-free-space 4M; skipped, exit
 * 77, where mounting is not permitted):
 *  - upserts stream until the reserve is reached: the failing write is
 *    refused with RESOURCE_EXHAUSTED naming the reserve, and the worker
 *    stays up and answers reads (without the reserve, Debian's RocksDB
 *    aborts the process on ENOSPC: see rowstore.c check_free_space);
 *  - every acknowledged point is still there (count and get);
 *  - after space returns (the tmpfs is grown), writes succeed again
 *    without a restart; and after a kill -9 and restart every acknowledged
 *    point is there.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "it_common.h"

#define DIM 256
#define BATCH 500

int
main(void)
{
	char mnt[] = "/tmp/shoal-full-XXXXXX";
	CHECK(mkdtemp(mnt) != NULL, "mkdtemp");
	if (mount("tmpfs", mnt, "tmpfs", 0, "size=16m") != 0) {
		printf("SKIP: cannot mount a tmpfs on %s: %s (needs CAP_SYS_ADMIN)\n", mnt,
		    strerror(errno));
		rmdir(mnt);
		return 77;
	}
	char data[300];
	snprintf(data, sizeof data, "%s/worker", mnt);
	const char *const wargs[] = {"--data", data, "--min-free-space", "4M", NULL};
	harness_worker_extra_args = wargs;
	harness_cluster c;
	shoal_status st;
	harness_cluster_start(&c, 1);
	shoal_client *cl = it_connect(&c);
	OK(shoal_tenant_create(cl, "acme", NULL, NULL, &st_));
	shoal_collection_params p = {.dim = DIM, .metric = SHOAL_METRIC_L2};
	OK(shoal_collection_create(cl, "acme", "docs", &p, NULL, &st_));

	/* ---- fill the disk */
	float *v = malloc((size_t)BATCH * DIM * sizeof(float));
	uint64_t ids[BATCH], acked = 0;
	shoal_code rc = SHOAL_OK;
	for (int round = 0; round < 200 && rc == SHOAL_OK; round++) {
		vecio_generate(11, acked, BATCH, DIM, v);
		for (int i = 0; i < BATCH; i++)
			ids[i] = acked + (uint64_t)i;
		shoal_batch b = {.n = BATCH, .dim = DIM, .ids = ids, .vectors = v};
		uint32_t up = 0;
		rc = shoal_upsert(cl, "acme", "docs", &b, &up, &st);
		if (rc == SHOAL_OK)
			acked += BATCH;
	}
	CHECK(rc != SHOAL_OK, "16 MiB never filled up");
	printf("  %llu points acknowledged, then %s: %s\n", (unsigned long long)acked,
	    shoal_code_name(rc), st.msg);
	CHECK(rc == SHOAL_RESOURCE_EXHAUSTED, "a full disk answered %s (%s), want "
	    "RESOURCE_EXHAUSTED", shoal_code_name(rc), st.msg);
	CHECK(strstr(st.msg, "min-free-space") != NULL, "message does not say why: %s", st.msg);
	CHECK(harness_pid_alive(c.worker_pid[0]), "the worker died on a full disk");
	uint64_t count = 0;
	OK(shoal_count(cl, "acme", "docs", &count, &st_));
	CHECK(count >= acked && count <= acked + BATCH, "count %llu with %llu acknowledged",
	    (unsigned long long)count, (unsigned long long)acked);
	shoal_get_result *g = NULL;
	OK(shoal_get(cl, "acme", "docs", ids, 1, false, &g, &st_));
	shoal_get_result_free(g);

	/* ---- space returns; the worker restarts and has everything */
	CHECK(mount("tmpfs", mnt, "tmpfs", MS_REMOUNT, "size=256m") == 0, "remount: %s",
	    strerror(errno));
	it_load(cl, "acme", "docs", 13, acked + BATCH, 500, DIM); /* no restart needed */
	harness_signal_worker(&c, 0, SIGKILL);
	harness_start_worker(&c, 0);
	CHECK(harness_wait_workers_up(&c, 1, 20000), "worker not up after the restart");
	rc = SHOAL_UNAVAILABLE;
	for (int i = 0; i < 100 && rc != SHOAL_OK; i++) {
		rc = shoal_count(cl, "acme", "docs", &count, &st);
		if (rc != SHOAL_OK)
			usleep(100000);
	}
	CHECK(rc == SHOAL_OK && count >= acked, "after restart: %s, count %llu of %llu acked",
	    shoal_code_name(rc), (unsigned long long)count, (unsigned long long)acked);
	for (uint64_t first = 0; first < acked; first += BATCH) {
		uint64_t gids[BATCH];
		for (int i = 0; i < BATCH; i++)
			gids[i] = first + (uint64_t)i;
		OK(shoal_get(cl, "acme", "docs", gids, BATCH, false, &g, &st_));
		CHECK(g->n_points == BATCH, "%zu of %d acknowledged points from %llu back",
		    g->n_points, BATCH, (unsigned long long)first);
		shoal_get_result_free(g);
	}
	it_load(cl, "acme", "docs", 12, acked + BATCH + 500, 1000, DIM);
	printf("  space back: writes succeed; after kill -9 and restart all %llu acknowledged "
	       "points are there\n", (unsigned long long)acked);
	free(v);
	shoal_close(cl);
	harness_cluster_stop(&c);
	umount2(mnt, MNT_DETACH);
	rmdir(mnt);
	printf("it_disk_full: OK\n");
	return 0;
}
