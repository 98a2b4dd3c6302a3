/* it_scatter_fail.c -- a worker killed (SIGKILL) while scatter searches run,
 * on a real cluster of a coordinator and 4 workers.
 *
 *  - Searches in flight when the worker dies, and those after, fail with
 *    UNAVAILABLE naming the dead worker (name and URL), and none waits
 *    out its deadline; no other error appears.
 *  - With allow_partial: OK, complete = false, missing_workers names the
 *    dead worker, k hits, all from shards on live workers.
 *  - The coordinator keeps serving: a dedicated tenant on another worker,
 *    and key-routed searches of keys on live workers, answer completely;
 *    a key whose shard is on the dead worker fails naming it.
 *  - Once the heartbeats have stopped, a scatter fails at once without
 *    calling the dead worker ("is down").
 *  - After the worker restarts, scatter searches are complete again.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

#include "it_dist.h"
#include "shardmap.h"
#include "util.h"

#define N 8000
#define NKEYS 400
#define DIM 8
#define K 10
#define SEED 5
#define NW 4
#define VICTIM 3
#define TIMEOUT_MS 8000

static harness_cluster c;
static char names[NW][64];
static atomic_bool stop_loop;
/* killing: set just before the SIGKILL (a search failing from then on may
 * name the victim); killed: set once it is dead and reaped (a search
 * started from then on must fail) */
static atomic_bool killing, killed;
static atomic_int ok_before, ok_after, unavailable_after, other_errors, slow;
static char bad_msg[640];

static void *
scatter_loop(void *arg)
{
	shoal_client *cl = arg;
	float q[DIM];
	for (int i = 0; !atomic_load(&stop_loop); i++) {
		vecio_generate(SEED + 1, (uint64_t)i, 1, DIM, q);
		shoal_search_params sp = {.k = K};
		shoal_search_result *r;
		shoal_status st;
		bool after = atomic_load(&killed);
		uint64_t t0 = util_mono_ms();
		shoal_code rc = shoal_search_ex(cl, "", "docs", q, DIM, &sp, NULL, &r, &st);
		if (util_mono_ms() - t0 > TIMEOUT_MS / 2)
			atomic_fetch_add(&slow, 1);
		if (rc == SHOAL_OK) {
			atomic_fetch_add(after ? &ok_after : &ok_before, 1);
			shoal_search_result_free(r);
		} else if (atomic_load(&killing) && rc == SHOAL_UNAVAILABLE &&
		    strstr(st.msg, names[VICTIM]) && strstr(st.msg, "worker")) {
			atomic_fetch_add(&unavailable_after, 1);
		} else {
			if (atomic_fetch_add(&other_errors, 1) == 0)
				snprintf(bad_msg, sizeof bad_msg, "%s: %s (after kill: %d)",
				    shoal_code_name(rc), st.msg, after);
		}
	}
	return NULL;
}

int
main(void)
{
	shoal_status st;
	harness_cluster_start(&c, NW);
	shoal_connect_opts co = {.timeout_ms = TIMEOUT_MS};
	shoal_client *cl;
	CHECK(shoal_connect(c.coord_url, &co, &cl, &st) == SHOAL_OK, "connect: %s", st.msg);
	for (int i = 0; i < NW; i++)
		it_worker_name(&c, cl, i, names[i], sizeof names[i]);

	shoal_collection_params p = {.dim = DIM, .metric = SHOAL_METRIC_L2};
	shoal_distribution d = {.placement = SHOAL_PLACEMENT_SHARED};
	OK(shoal_collection_create_distributed(cl, "docs", &p, &d, NULL, &st_));
	it_load_keyed(cl, "docs", SEED, 0, N, DIM, "tenant", NKEYS);
	shoal_collection_desc *desc;
	OK(shoal_collection_describe(cl, "", "docs", &desc, &st_));
	/* a dedicated tenant on a worker that stays up */
	shoal_tenant_info ti;
	OK(shoal_tenant_create(cl, "solo", names[0], &ti, &st_));
	OK(shoal_collection_create(cl, "solo", "notes", &p, NULL, &st_));
	it_load(cl, "solo", "notes", SEED, 0, 500, DIM);
	/* keys on a live worker, and one on the victim */
	char live_key[24] = "", dead_key[24] = "";
	for (int i = 0; i < NKEYS && (!live_key[0] || !dead_key[0]); i++) {
		char k[24];
		snprintf(k, sizeof k, "t%d", i);
		const char *w = desc->placements[shardmap_key_shard(k, 32)].worker;
		if (strcmp(w, names[VICTIM]) == 0 && !dead_key[0])
			snprintf(dead_key, sizeof dead_key, "%s", k);
		else if (strcmp(w, names[VICTIM]) != 0 && !live_key[0])
			snprintf(live_key, sizeof live_key, "%s", k);
	}
	CHECK(live_key[0] && dead_key[0], "no keys found on both kinds of worker");

	/* ---- kill the victim while a thread scatters searches */
	pthread_t tid;
	pthread_create(&tid, NULL, scatter_loop, cl);
	for (int i = 0; i < 200 && atomic_load(&ok_before) < 20; i++)
		util_sleep_ms(10);
	CHECK(atomic_load(&ok_before) >= 20, "scatter searches did not run before the kill");
	atomic_store(&killing, true);
	harness_signal_worker(&c, VICTIM, SIGKILL);
	atomic_store(&killed, true);
	util_sleep_ms(1500);
	atomic_store(&stop_loop, true);
	pthread_join(tid, NULL);
	printf("before the kill: %d OK; from the kill on: %d UNAVAILABLE naming %s, %d OK "
	       "(started after the worker died), %d other errors, %d slow\n", atomic_load(&ok_before),
	    atomic_load(&unavailable_after), names[VICTIM], atomic_load(&ok_after),
	    atomic_load(&other_errors), atomic_load(&slow));
	CHECK(atomic_load(&other_errors) == 0, "unexpected error: %s", bad_msg);
	CHECK(atomic_load(&unavailable_after) >= 1, "no UNAVAILABLE naming the dead worker");
	CHECK(atomic_load(&ok_after) == 0, "%d complete scatters after the kill",
	    atomic_load(&ok_after));
	CHECK(atomic_load(&slow) == 0, "%d searches waited out half their deadline",
	    atomic_load(&slow));

	/* ---- partial answers */
	float q[DIM];
	vecio_generate(SEED + 2, 0, 1, DIM, q);
	shoal_search_params sp = {.k = K};
	shoal_search_opts so = {.allow_partial = true};
	shoal_search_result *r;
	OK(shoal_search_ex(cl, "", "docs", q, DIM, &sp, &so, &r, &st_));
	CHECK(!r->complete && r->n_hits == K, "partial: complete=%d, %zu hits", r->complete,
	    r->n_hits);
	CHECK(r->n_missing == 1 && strcmp(r->missing_workers[0], names[VICTIM]) == 0,
	    "partial: missing %zu (%s)", r->n_missing, r->n_missing ? r->missing_workers[0] : "");
	for (size_t i = 0; i < r->n_hits; i++) {
		char k[24];
		it_key(r->hits[i].id, NKEYS, k, sizeof k);
		const char *w = desc->placements[shardmap_key_shard(k, 32)].worker;
		CHECK(strcmp(w, names[VICTIM]) != 0, "partial answer has hit %llu from the dead "
		    "worker's shard", (unsigned long long)r->hits[i].id);
	}
	shoal_search_result_free(r);

	/* ---- the rest keeps serving */
	OK(shoal_search(cl, "solo", "notes", q, DIM, &sp, &r, &st_));
	CHECK(r->complete && r->n_hits == K, "dedicated tenant: %zu hits", r->n_hits);
	shoal_search_result_free(r);
	shoal_search_opts live = {.key = live_key};
	OK(shoal_search_ex(cl, "", "docs", q, DIM, &sp, &live, &r, &st_));
	CHECK(r->complete, "key %s on a live worker: not complete", live_key);
	shoal_search_result_free(r);
	shoal_search_opts dead = {.key = dead_key};
	shoal_code rc = shoal_search_ex(cl, "", "docs", q, DIM, &sp, &dead, &r, &st);
	CHECK(rc == SHOAL_UNAVAILABLE && strstr(st.msg, names[VICTIM]),
	    "key %s on the dead worker: %s: %s", dead_key, shoal_code_name(rc), st.msg);

	/* ---- heartbeats stopped: fails at once, without calling it */
	it_wait_worker_state(cl, names[VICTIM], false, 20000);
	uint64_t t0 = util_mono_ms();
	rc = shoal_search_ex(cl, "", "docs", q, DIM, &sp, NULL, &r, &st);
	uint64_t took = util_mono_ms() - t0;
	CHECK(rc == SHOAL_UNAVAILABLE && strstr(st.msg, names[VICTIM]) && strstr(st.msg, "is down"),
	    "scatter with a down worker: %s: %s", shoal_code_name(rc), st.msg);
	printf("scatter with a known-down worker failed in %llu ms: %s\n",
	    (unsigned long long)took, st.msg);
	CHECK(took < 2000, "failing a scatter on a known-down worker took %llu ms",
	    (unsigned long long)took);

	/* ---- back: complete again */
	harness_start_worker(&c, VICTIM);
	it_wait_worker_state(cl, names[VICTIM], true, 20000);
	rc = SHOAL_UNAVAILABLE;
	for (int i = 0; i < 50 && rc != SHOAL_OK; i++) {
		rc = shoal_search_ex(cl, "", "docs", q, DIM, &sp, NULL, &r, &st);
		if (rc != SHOAL_OK)
			util_sleep_ms(100);
	}
	CHECK(rc == SHOAL_OK && r->complete && r->n_hits == K, "after the restart: %s: %s",
	    shoal_code_name(rc), st.msg);
	shoal_search_result_free(r);

	shoal_collection_desc_free(desc);
	shoal_close(cl);
	harness_cluster_stop(&c);
	printf("it_scatter_fail: OK\n");
	return 0;
}
