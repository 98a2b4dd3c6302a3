/* it_rebalance_kill9.c -- kill -9 of the SOURCE and of the TARGET worker
 * of the running move of a rebalance, under load (issue 5: "the same test
 * with a kill -9 injected into each role"; the coordinator's kill during
 * a rebalance is in it_shard_move.c).
 *
 *  1. A coordinator and 3 workers; 6 tenants, all on W0, one collection
 *     each (1,500 points of dim 16).
 *  2. A retrying writer (it_load_loop.h: a write refused while a worker is
 *     down is resent until acknowledged) upserts and deletes round robin
 *     over the tenants; a reader searches them.  Searches of a tenant
 *     whose only worker is down fail (no replicas): counted, not failed.
 *  3. TARGET: `rebalance` (throttled, so that each move copies for
 *     seconds); once its current move is copying, kill -9 of that move's
 *     target, then restart it.  The rebalance must end by itself: done
 *     (the move rolled back and the run went on, or resumed) or failed
 *     with the killed move rolled back (aborted) and every later move not
 *     started.  A failed run is started again and must finish.
 *  4. SOURCE: a 4th worker is added and the cluster rebalanced again;
 *     once its current move is copying, kill -9 of that move's source,
 *     then restart it: the copy retries until the source is back, and the
 *     run ends by itself as in 3.
 *  5. After each: every tenant listed on exactly one worker, on the
 *     target of its move when that move is done; every acknowledged write
 *     present once with its last vector, deleted ids absent, counts equal
 *     the live ids; the writer saw no error (all retried to success); no
 *     search answer held an id twice; every worker holds tenants. */
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include "it_load_loop.h"
#include "util.h"

#define DIM 16
#define NT 6
#define NIDS 1800
#define FIRST 1500
#define MBPS 0.1 /* ~1.5 s of copy per tenant */

static int state[NT][NIDS];
static char tn[NT][16];
static it_space sp[NT];

static void
vec(uint64_t id, int gen, float *v)
{
	for (int d = 0; d < DIM; d++)
		v[d] = cosf((float)id * 0.41f + (float)gen * 0.67f + (float)d * 0.37f) + 1.5f;
}

#define LOAD_CFG(cluster) \
	{.c = (cluster), .spaces = sp, .n_spaces = NT, .nids = NIDS, .dim = DIM, .vec = vec, \
	    .seed = 4242, .k = 10, .retry = true}

/* The worker tenant t is listed on (exactly once). */
static void
tenant_on(harness_cluster *c, int t, char *out)
{
	shoal_client *cl = it_connect(c);
	shoal_tenant_info *ti;
	size_t n;
	shoal_status st;
	CHECK(shoal_tenant_list(cl, &ti, &n, &st) == SHOAL_OK, "tenant list: %s", st.msg);
	int seen = 0;
	for (size_t i = 0; i < n; i++)
		if (strcmp(ti[i].name, tn[t]) == 0) {
			snprintf(out, 64, "%s", ti[i].worker);
			seen++;
		}
	shoal_tenant_list_free(ti);
	shoal_close(cl);
	CHECK(seen == 1, "tenant %s listed %d times", tn[t], seen);
}

/* Polls the rebalance until its current move is copying; *victim gets
 * that move's source or target. */
static void
wait_copying(shoal_client *cl, bool source, char *victim, char *move_id)
{
	uint64_t end = util_mono_ms() + 60000;
	for (;;) {
		shoal_rebalance_info *ri;
		shoal_status st;
		CHECK(shoal_rebalance_get(cl, &ri, &st) == SHOAL_OK, "rebalance status: %s", st.msg);
		CHECK(ri->state == 2, "the rebalance is %s before a move copied: %s", ri->state_name,
		    ri->error);
		bool copying = ri->has_move && ri->move.state == 2 && ri->move.rows_copied > 0;
		if (copying) {
			snprintf(victim, 64, "%s", source ? ri->move.from_worker : ri->move.to_worker);
			snprintf(move_id, 64, "%s", ri->move.id);
		}
		shoal_rebalance_info_free(ri);
		if (copying)
			return;
		CHECK(util_mono_ms() < end, "no move of the rebalance started copying");
		usleep(50000);
	}
}

/* Waits (3 minutes at most) until the rebalance ends; returns it. */
static shoal_rebalance_info *
wait_end(shoal_client *cl)
{
	uint64_t end = util_mono_ms() + 180000;
	for (;;) {
		shoal_rebalance_info *ri;
		shoal_status st;
		/* the coordinator may be slow to answer while a worker restarts */
		if (shoal_rebalance_get(cl, &ri, &st) == SHOAL_OK) {
			if (ri->state >= 3)
				return ri;
			shoal_rebalance_info_free(ri);
		}
		CHECK(util_mono_ms() < end, "the rebalance did not end by itself: %s", st.msg);
		usleep(200000);
	}
}

/* Every tenant where the finished plan says: a done move's tenant on its
 * target; every other tenant where it was before (prev). */
static void
check_placement(harness_cluster *c, const shoal_rebalance_info *ri, char prev[NT][64])
{
	for (int t = 0; t < NT; t++) {
		char cur[64];
		tenant_on(c, t, cur);
		const char *want = prev[t];
		for (size_t j = 0; j < ri->n_moves; j++)
			if (strcmp(ri->moves[j].tenant, tn[t]) == 0 && ri->moves[j].state == 5)
				want = ri->moves[j].to_worker;
		CHECK(strcmp(cur, want) == 0, "tenant %s on %s, expected %s", tn[t], cur, want);
	}
}

/* One rebalance with a kill -9 of its current move's source or target;
 * a run that failed because of it is started again. */
static void
rebalance_with_kill(harness_cluster *c, bool source)
{
	const char *role = source ? "source" : "target";
	shoal_client *cl = it_connect(c);
	char prev[NT][64], victim[64], mid[64];
	for (int t = 0; t < NT; t++)
		tenant_on(c, t, prev[t]);
	it_traffic L = LOAD_CFG(c);
	it_traffic_start(&L, true, true);
	usleep(300000);

	shoal_rebalance_info *ri;
	shoal_status st;
	CHECK(shoal_rebalance_start(cl, false, MBPS, NULL, &ri, &st) == SHOAL_OK,
	    "rebalance: %s", st.msg);
	CHECK(ri->n_moves >= 1, "the plan has no move");
	shoal_rebalance_info_free(ri);
	wait_copying(cl, source, victim, mid);
	usleep(300000);
	int k = it_harness_worker(c, victim);
	printf("kill -9 of the %s %s during the rebalance's move of %s\n", role, victim, mid);
	harness_signal_worker(c, k, SIGKILL);
	usleep(500000);
	harness_start_worker(c, k);
	CHECK(harness_wait_workers_up(c, c->nworkers, 30000), "workers back");
	ri = wait_end(cl);
	printf("after the %s's kill: rebalance %s, %zu of %zu moves done (%s)\n", role,
	    ri->state_name, ri->done, ri->n_moves, ri->error);
	CHECK(ri->state == 3 || ri->state == 4, "rebalance ended %s", ri->state_name);
	for (size_t j = 0; j < ri->n_moves; j++) {
		printf("  %s %s -> %s: state %d %s\n", ri->moves[j].tenant, ri->moves[j].from_worker,
		    ri->moves[j].to_worker, ri->moves[j].state, ri->moves[j].error);
		/* a failed run: moves before the failure done, the failed one
		 * rolled back, none after it started */
		CHECK(ri->moves[j].state == 5 || (ri->state == 4 && ri->moves[j].state == 6) ||
		        (ri->state == 4 && ri->moves[j].state == 0),
		    "move %s ended in state %d (rebalance %s)", ri->moves[j].tenant,
		    ri->moves[j].state, ri->state_name);
	}
	check_placement(c, ri, prev);
	bool failed = ri->state == 4;
	shoal_rebalance_info_free(ri);
	if (failed) {
		/* the run stopped at the rolled-back move: a new one finishes */
		for (int t = 0; t < NT; t++)
			tenant_on(c, t, prev[t]);
		CHECK(shoal_rebalance_start(cl, false, 0, NULL, &ri, &st) == SHOAL_OK,
		    "rebalance again: %s", st.msg);
		shoal_rebalance_info_free(ri);
		ri = wait_end(cl);
		CHECK(ri->state == 3, "the second rebalance ended %s: %s", ri->state_name, ri->error);
		check_placement(c, ri, prev);
		shoal_rebalance_info_free(ri);
	}
	it_traffic_stop(&L);
	printf("load: %ld write rounds, %ld searches, %d failed searches (a worker down)\n",
	    atomic_load(&L.s.writes), atomic_load(&L.s.searches), atomic_load(&L.s.rerrors));
	CHECK(atomic_load(&L.s.writes) > 20, "the writer did not run");
	CHECK(atomic_load(&L.s.werrors) == 0, "the writer saw %d errors, last: %s",
	    atomic_load(&L.s.werrors), L.s.werr);
	CHECK(atomic_load(&L.s.dups) == 0, "a search returned an id twice");
	char when[64];
	snprintf(when, sizeof when, "after the %s's kill -9", role);
	for (int t = 0; t < NT; t++)
		it_traffic_verify(c, &L, &sp[t], when);
	shoal_close(cl);
}

int
main(void)
{
	harness_cluster c;
	char w[3][64];
	it_spaces_init(sp, tn, NT, "k", "docs", &state[0][0], NIDS);
	it_traffic L0 = LOAD_CFG(&c);
	it_cluster_tenants_on_first(&c, 3, &L0, FIRST, w);
	shoal_client *cl = it_connect(&c);
	shoal_cluster_info *ci;

	/* 3. the target of the running move */
	rebalance_with_kill(&c, false);

	/* 4. a 4th worker, and the source of the running move */
	c.nworkers = 4;
	harness_start_worker(&c, 3);
	CHECK(harness_wait_workers_up(&c, 4, 30000), "the 4th worker is up");
	rebalance_with_kill(&c, true);

	/* every worker holds tenants now */
	OK(shoal_cluster_status(cl, &ci, &st_));
	for (size_t i = 0; i < ci->n_workers; i++) {
		printf("%s: %u tenants\n", ci->workers[i].name, ci->workers[i].tenants);
		CHECK(ci->workers[i].tenants >= 1, "%s holds no tenant", ci->workers[i].name);
	}
	shoal_cluster_info_free(ci);
	shoal_close(cl);
	harness_cluster_stop(&c);
	printf("it_rebalance_kill9: OK\n");
	return 0;
}
