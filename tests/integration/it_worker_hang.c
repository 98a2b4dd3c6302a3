/* it_worker_hang.c -- a worker that hangs (SIGSTOP), on a real cluster of a
 * coordinator and two workers, tenants acme and globex on different
 * workers:
 *  - while acme's worker is stopped, requests for acme fail with
 *    DEADLINE_EXCEEDED or UNAVAILABLE once the client's deadline (2 s)
 *    has passed -- none hangs: each returns within the deadline plus a
 *    generous margin;
 *  - meanwhile globex, on the other worker, is served normally, also
 *    while acme's requests are stuck, from other threads;
 *  - after SIGCONT acme is served again, with all its data.
 */
#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

#include "it_dist.h"

#define DIM 8
#define DEADLINE_MS 2000

static uint64_t
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* True once every thread of pid is stopped (/proc/PID/task/TID/stat state
 * T): kill(SIGSTOP) returns before the last thread has stopped, and a
 * request that thread is completing could still be answered. */
static bool
all_threads_stopped(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
	DIR *d = opendir(path);
	if (d == NULL)
		return false;
	bool all = true;
	struct dirent *e;
	while ((e = readdir(d)) != NULL && all) {
		if (e->d_name[0] == '.')
			continue;
		char sp[400], buf[512];
		snprintf(sp, sizeof sp, "%s/%s/stat", path, e->d_name);
		FILE *f = fopen(sp, "r");
		if (f == NULL)
			continue;
		size_t n = fread(buf, 1, sizeof buf - 1, f);
		fclose(f);
		buf[n] = '\0';
		const char *rp = strrchr(buf, ')'); /* state follows "(comm) " */
		if (rp == NULL || (rp[2] != 'T' && rp[2] != 't'))
			all = false;
	}
	closedir(d);
	return all;
}

static const char *coord_url;
static atomic_bool stop_bg;
static atomic_int bg_ok, bg_fail;

/* Counts globex in a loop while acme is stuck. */
static void *
globex_loop(void *arg)
{
	(void)arg;
	shoal_connect_opts o = {.timeout_ms = DEADLINE_MS};
	shoal_client *cl;
	shoal_status st;
	if (shoal_connect(coord_url, &o, &cl, &st) != SHOAL_OK)
		return NULL;
	while (!atomic_load(&stop_bg)) {
		uint64_t n = 0;
		if (shoal_count(cl, "globex", "docs", &n, &st) == SHOAL_OK && n == 300)
			atomic_fetch_add(&bg_ok, 1);
		else
			atomic_fetch_add(&bg_fail, 1);
	}
	shoal_close(cl);
	return NULL;
}

int
main(void)
{
	harness_cluster c;
	shoal_status st;
	harness_cluster_start(&c, 2);
	coord_url = c.coord_url;
	shoal_connect_opts o = {.timeout_ms = DEADLINE_MS};
	shoal_client *cl;
	CHECK(shoal_connect(c.coord_url, &o, &cl, &st) == SHOAL_OK, "connect: %s", st.msg);
	char names[2][64];
	for (int i = 0; i < 2; i++)
		it_worker_name(&c, cl, i, names[i], sizeof names[i]);

	shoal_tenant_info ta, tb;
	OK(shoal_tenant_create(cl, "acme", NULL, &ta, &st_));
	OK(shoal_tenant_create(cl, "globex", NULL, &tb, &st_));
	CHECK(strcmp(ta.worker, tb.worker) != 0, "both tenants on %s", ta.worker);
	int wa = strcmp(names[0], ta.worker) == 0 ? 0 : 1;
	shoal_collection_params p = {.dim = DIM, .metric = SHOAL_METRIC_L2};
	OK(shoal_collection_create(cl, "acme", "docs", &p, NULL, &st_));
	OK(shoal_collection_create(cl, "globex", "docs", &p, NULL, &st_));
	it_load(cl, "acme", "docs", 1, 0, 200, DIM);
	it_load(cl, "globex", "docs", 2, 0, 300, DIM);

	/* ---- hang acme's worker */
	pid_t wpid = c.worker_pid[wa];
	harness_signal_worker(&c, wa, SIGSTOP);
	for (int i = 0; i < 500 && !all_threads_stopped(wpid); i++) {
		struct timespec ts = {0, 10000000};
		nanosleep(&ts, NULL);
	}
	CHECK(all_threads_stopped(wpid), "worker %d did not stop", wa);
	/* a request the worker had just answered may still be on its way:
	 * settle before asserting that nothing is answered any more */
	struct timespec settle = {0, 200000000};
	nanosleep(&settle, NULL);
	printf("  worker %s (acme) stopped\n", ta.worker);
	pthread_t bg;
	pthread_create(&bg, NULL, globex_loop, NULL);
	float q[DIM];
	vecio_generate(1, 5, 1, DIM, q);
	for (int i = 0; i < 3; i++) {
		uint64_t t0 = now_ms(), n = 0;
		shoal_code rc = shoal_count(cl, "acme", "docs", &n, &st);
		uint64_t took = now_ms() - t0;
		CHECK(rc == SHOAL_DEADLINE_EXCEEDED || rc == SHOAL_UNAVAILABLE,
		    "acme count with its worker stopped: %s (%s)", shoal_code_name(rc), st.msg);
		CHECK(took < DEADLINE_MS + 5000, "acme count took %llu ms (deadline %d ms)",
		    (unsigned long long)took, DEADLINE_MS);
		printf("  acme count while stopped -> %s after %llu ms: %s\n", shoal_code_name(rc),
		    (unsigned long long)took, st.msg);
		shoal_search_result *r = NULL;
		t0 = now_ms();
		rc = shoal_search(cl, "acme", "docs", q, DIM, NULL, &r, &st);
		took = now_ms() - t0;
		CHECK(rc == SHOAL_DEADLINE_EXCEEDED || rc == SHOAL_UNAVAILABLE,
		    "acme search with its worker stopped: %s (%s)", shoal_code_name(rc), st.msg);
		CHECK(took < DEADLINE_MS + 5000, "acme search took %llu ms", (unsigned long long)took);
	}
	atomic_store(&stop_bg, true);
	pthread_join(bg, NULL);
	printf("  globex meanwhile: %d counts OK, %d failed\n", atomic_load(&bg_ok),
	    atomic_load(&bg_fail));
	CHECK(atomic_load(&bg_ok) > 0 && atomic_load(&bg_fail) == 0,
	    "globex not served while acme's worker hung: %d ok, %d failed", atomic_load(&bg_ok),
	    atomic_load(&bg_fail));

	/* ---- resume: acme is served again, with its data */
	harness_signal_worker(&c, wa, SIGCONT);
	uint64_t n = 0, t0 = now_ms();
	shoal_code rc;
	do {
		rc = shoal_count(cl, "acme", "docs", &n, &st);
	} while (rc != SHOAL_OK && now_ms() - t0 < 20000);
	CHECK(rc == SHOAL_OK && n == 200, "acme after SIGCONT: %s (%s), count %llu",
	    shoal_code_name(rc), st.msg, (unsigned long long)n);
	shoal_search_result *r = NULL;
	OK(shoal_search(cl, "acme", "docs", q, DIM, NULL, &r, &st_));
	CHECK(r->n_hits > 0 && r->hits[0].id == 5, "acme search after SIGCONT");
	shoal_search_result_free(r);
	printf("  acme served again %llu ms after SIGCONT\n", (unsigned long long)(now_ms() - t0));

	shoal_close(cl);
	harness_cluster_stop(&c);
	printf("it_worker_hang: OK\n");
	return 0;
}
