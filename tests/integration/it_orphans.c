/* it_orphans.c -- orphan shards are reclaimed (coordinator/reclaim.h), and
 * nothing else is.
 *
 *  1. A coordinator sweeping every 300 ms with a 3 s grace period, and 2
 *     workers.  Live data: tenant acme (collection docs, 500 points) on
 *     worker 0, a shared collection items (4 shards, 1,000 points), tenant
 *     mover (3,000 points) on worker 0.  Collection acme/tmp is created and
 *     dropped: its shard id is free and below the allocator.
 *  2. Orphans injected the way an interrupted create leaves them: a
 *     CreateShard (plus 50 rows) sent straight to worker 1 with tmp's id,
 *     which no catalog entry names.  And one with an id the catalog never
 *     handed out (1,000,000): to a coordinator it looks like a create in
 *     progress, so it must never be dropped.
 *  3. While this coordinator runs, neither is dropped (tmp's id was handed
 *     out by this process: its create could still be running), for longer
 *     than grace + several sweeps.
 *  4. kill -9 of the coordinator (as in the middle of a create), restart:
 *     a move of mover to worker 1 at a crawl runs during the sweeps.  The
 *     orphan of tmp's id disappears from worker 1, no earlier than the
 *     grace period after the restart; the coordinator's Status counts it
 *     (shoal status prints it) and the log says so.  The id from
 *     the future stays; every live shard, the move (done, all rows) and
 *     every count are untouched.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include "it_dist.h"
#include "util.h"

#define GRACE_MS 3000
#define FUTURE_ID 1000000u

static const char *const coord_args[] = {"--reclaim-interval-ms", "300", "--reclaim-grace-ms",
    "3000", NULL};

/* Creates shard `id` (dim 8) on worker i and writes n rows into it. */
static void
inject(harness_cluster *c, int i, uint64_t id, int n)
{
	rpc_client *w;
	shoal_status st;
	rpc_result res;
	CHECK(rpc_client_open(c->worker_url[i], &shoal__worker__descriptor, NULL, &w, &st) ==
	    SHOAL_OK, "open worker %d: %s", i, st.msg);
	Shoal__ShardSpec spec = SHOAL__SHARD_SPEC__INIT;
	Shoal__CreateShardRequest cr = SHOAL__CREATE_SHARD_REQUEST__INIT;
	spec.shard_id = id;
	spec.dim = 8;
	spec.metric = SHOAL__METRIC__METRIC_L2;
	cr.spec = &spec;
	RPC_INVOKE(shoal__worker__create_shard, rpc_client_service(w), &cr, &res);
	CHECK(res.status.code == SHOAL_OK, "CreateShard %" PRIu64 ": %s", id, res.status.msg);
	rpc_result_free(&res);
	Shoal__Point *pts = calloc((size_t)n, sizeof *pts);
	Shoal__Point **pp = calloc((size_t)n, sizeof *pp);
	float v[8];
	for (int k = 0; k < n; k++) {
		shoal__point__init(&pts[k]);
		pts[k].id = (uint64_t)k + 1;
		pts[k].version = 1;
		for (int d = 0; d < 8; d++)
			v[d] = (float)(k + d + 1);
		pts[k].n_vector = 8;
		pts[k].vector = malloc(sizeof v);
		memcpy(pts[k].vector, v, sizeof v);
		pp[k] = &pts[k];
	}
	Shoal__ShardUpsertRequest up = SHOAL__SHARD_UPSERT_REQUEST__INIT;
	up.shard_id = id;
	up.n_points = (size_t)n;
	up.points = pp;
	RPC_INVOKE(shoal__worker__upsert, rpc_client_service(w), &up, &res);
	CHECK(res.status.code == SHOAL_OK, "Upsert into %" PRIu64 ": %s", id, res.status.msg);
	rpc_result_free(&res);
	for (int k = 0; k < n; k++)
		free(pts[k].vector);
	free(pts);
	free(pp);
	rpc_client_close(w);
}

/* Whether worker i holds shard id (its Status, asked directly). */
static bool
holds(harness_cluster *c, int i, uint64_t id)
{
	rpc_result res;
	const Shoal__WorkerStatusReply *r = it_worker_status(c->worker_url[i], &res);
	bool found = false;
	for (size_t k = 0; k < r->n_shards; k++)
		found = found || r->shards[k]->shard_id == id;
	rpc_result_free(&res);
	return found;
}

static uint64_t
count(shoal_client *cl, const char *tenant, const char *coll)
{
	uint64_t n = 0;
	shoal_status st;
	CHECK(shoal_count(cl, tenant, coll, &n, &st) == SHOAL_OK, "count %s/%s: %s", tenant, coll,
	    st.msg);
	return n;
}

/* Every live shard is on its worker and every count is whole. */
static void
live_intact(harness_cluster *c, shoal_client *cl, char names[2][64], const char *when)
{
	shoal_collection_desc *d;
	shoal_status st;
	CHECK(count(cl, "acme", "docs") == 500, "%s: acme/docs count", when);
	CHECK(count(cl, "", "items") == 1000, "%s: items count", when);
	CHECK(count(cl, "mover", "vecs") == 3000, "%s: mover/vecs count", when);
	CHECK(shoal_collection_describe(cl, "", "items", &d, &st) == SHOAL_OK, "describe: %s",
	    st.msg);
	for (size_t i = 0; i < d->n_placements; i++) {
		int w = strcmp(d->placements[i].worker, names[0]) == 0 ? 0 : 1;
		CHECK(holds(c, w, d->placements[i].shard_id), "%s: items shard %" PRIu64
		    " is not on %s", when, d->placements[i].shard_id, names[w]);
	}
	shoal_collection_desc_free(d);
	CHECK(shoal_collection_describe(cl, "acme", "docs", &d, &st) == SHOAL_OK, "describe: %s",
	    st.msg);
	CHECK(holds(c, 0, d->info.shard_id), "%s: acme/docs's shard is gone", when);
	shoal_collection_desc_free(d);
	CHECK(shoal_collection_describe(cl, "mover", "vecs", &d, &st) == SHOAL_OK, "describe: %s",
	    st.msg);
	CHECK(holds(c, 1, d->info.shard_id), "%s: mover/vecs's shard is not on %s", when,
	    names[1]);
	shoal_collection_desc_free(d);
}

static bool
log_has(harness_cluster *c, const char *needle)
{
	char path[512], line[2048];
	snprintf(path, sizeof path, "%s/coordinator.log", c->dir);
	FILE *f = fopen(path, "r");
	bool found = false;
	if (f == NULL)
		return false;
	while (!found && fgets(line, sizeof line, f) != NULL)
		found = strstr(line, needle) != NULL;
	fclose(f);
	return found;
}

int
main(void)
{
	harness_cluster c;
	char names[2][64], out[8192], needle[160];
	shoal_collection_info tmp;
	shoal_move_info m;
	shoal_status st;

	harness_coord_extra_args = coord_args;
	harness_cluster_start(&c, 2);
	shoal_client *cl = it_connect(&c);
	for (int i = 0; i < 2; i++)
		it_worker_name(&c, cl, i, names[i], sizeof names[i]);

	/* 1. live data */
	shoal_collection_params p = {.dim = 8, .metric = SHOAL_METRIC_L2};
	OK(shoal_tenant_create(cl, "acme", names[0], NULL, &st_));
	OK(shoal_collection_create(cl, "acme", "docs", &p, NULL, &st_));
	it_load(cl, "acme", "docs", 1, 0, 500, 8);
	shoal_distribution dist = {.placement = SHOAL_PLACEMENT_SHARED, .shards = 4};
	OK(shoal_collection_create_distributed(cl, "items", &p, &dist, NULL, &st_));
	it_load_keyed(cl, "items", 2, 0, 1000, 8, "tenant", 50);
	OK(shoal_tenant_create(cl, "mover", names[0], NULL, &st_));
	OK(shoal_collection_create(cl, "mover", "vecs", &p, NULL, &st_));
	it_load(cl, "mover", "vecs", 3, 0, 3000, 8);
	OK(shoal_collection_create(cl, "acme", "tmp", &p, &tmp, &st_));
	OK(shoal_collection_drop(cl, "acme", "tmp", &st_));
	uint64_t orphan = tmp.shard_id;

	/* 2. the orphans an interrupted create leaves */
	inject(&c, 1, orphan, 50);
	inject(&c, 0, FUTURE_ID, 10);
	CHECK(holds(&c, 1, orphan) && holds(&c, 0, FUTURE_ID), "injection failed");

	/* 3. ids of this process's allocations are never dropped by it */
	it_sleep_ms(GRACE_MS + 2000);
	CHECK(holds(&c, 1, orphan), "shard %" PRIu64 " dropped by the coordinator that handed "
	    "its id out (its create could still have been running)", orphan);
	CHECK(holds(&c, 0, FUTURE_ID), "shard %u (an id never handed out) was dropped", FUTURE_ID);

	/* 4. the coordinator dies as in the middle of a create; its successor
	 * reclaims the orphan, under a move in progress */
	harness_signal_coordinator(&c, SIGKILL);
	shoal_close(cl);
	long t_restart = it_now_ms();
	harness_start_coordinator(&c);
	CHECK(harness_wait_workers_up(&c, 2, 20000), "workers not back up");
	cl = it_connect(&c);
	CHECK(shoal_move_start(cl, "mover", names[1], 0.05, &m, &st) == SHOAL_OK, "move: %s",
	    st.msg);
	long end = it_now_ms() + 60000;
	while (holds(&c, 1, orphan)) {
		CHECK(it_now_ms() < end, "orphan shard %" PRIu64 " never reclaimed", orphan);
		it_sleep_ms(100);
	}
	long took = it_now_ms() - t_restart;
	printf("orphan shard %" PRIu64 " reclaimed %ld ms after the coordinator's restart "
	       "(grace %d ms)\n", orphan, took, GRACE_MS);
	CHECK(took >= GRACE_MS, "reclaimed after %ld ms, before the grace period (%d ms)", took,
	    GRACE_MS);
	shoal_cluster_info *ci;
	CHECK(shoal_cluster_status(cl, &ci, &st) == SHOAL_OK, "status: %s", st.msg);
	CHECK(ci->orphans_reclaimed == 1, "status: %" PRIu64 " orphans reclaimed (want 1)",
	    ci->orphans_reclaimed);
	CHECK(ci->orphans_pending == 0, "status: %u orphans pending (want 0)", ci->orphans_pending);
	shoal_cluster_info_free(ci);
	CHECK(harness_run_cli(&c, out, sizeof out, "status", NULL) == 0, "shoal status: %s", out);
	CHECK(strstr(out, "1 orphan shards reclaimed") != NULL, "shoal status says:\n%s", out);
	snprintf(needle, sizeof needle, "orphan shard %" PRIu64 " on worker %s reclaimed", orphan,
	    names[1]);
	CHECK(log_has(&c, needle), "the coordinator's log lacks '%s'", needle);

	/* the move in progress, the id from the future and the live data */
	end = it_now_ms() + 120000;
	for (;;) {
		CHECK(shoal_move_get(cl, "mover", &m, &st) == SHOAL_OK, "move get: %s", st.msg);
		if (m.state >= 5)
			break;
		CHECK(it_now_ms() < end, "move stuck in %s", m.state_name);
		it_sleep_ms(100);
	}
	CHECK(m.state == 5, "move %s: %s", m.state_name, m.error);
	CHECK(holds(&c, 0, FUTURE_ID), "shard %u (an id never handed out) was dropped", FUTURE_ID);
	it_sleep_ms(1000); /* more sweeps after the move */
	live_intact(&c, cl, names, "after the reclaim and the move");
	CHECK(shoal_cluster_status(cl, &ci, &st) == SHOAL_OK, "status: %s", st.msg);
	CHECK(ci->orphans_reclaimed == 1, "status: %" PRIu64 " orphans reclaimed at the end",
	    ci->orphans_reclaimed);
	shoal_cluster_info_free(ci);

	shoal_close(cl);
	harness_cluster_stop(&c);
	printf("it_orphans: OK\n");
	return 0;
}
