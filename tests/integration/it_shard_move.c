/* it_shard_move.c -- online move of a shared collection's shard group
 * (issue 5: `shoal shard move`) under load, its refusals, DDL refused
 * during it, a kill -9 of the coordinator mid-move, and a kill -9 of the
 * target mid-copy.
 *
 *  1. A coordinator and 3 workers; shared collection items (4 shards, dim
 *     16, key field "tenant", 40 keys) and tags colocated with it (dim 8):
 *     shard i of both is one shard group.
 *  2. A writer thread upserts (new generations of ids 0..2999, with their
 *     keys) and deletes by key at a steady rate, recording what was
 *     acknowledged; it must see no error.  A reader thread searches items
 *     continuously, scattered and by key: no error, never the same id
 *     twice in one answer.
 *  3. Refusals change nothing: an unknown shard, a tenant's shard, the
 *     worker it is already on, shard id 0 (usage error).
 *  4. `shoal shard move ID --to W` (throttled) while both run: it prints
 *     progress and ends "done" with the write pause; afterwards shard 0
 *     of items AND of tags is on W with a new epoch (moved together).
 *  5. A second move (of group 1, named by tags' shard) at a crawl: its id
 *     is the canonical "shard:N" of items' shard; dropping tags and
 *     creating a collection colocated with items are refused meanwhile;
 *     kill -9 of the coordinator, restart: the move resumes and finishes.
 *  6. kill -9 of the target during a third move's copy, under the writer:
 *     the move finishes or rolls back; nothing acknowledged is lost.  The
 *     same with a kill -9 of the source (the copy retries until it is
 *     back); the whole group is where the move's outcome says.
 *  7. `node drain` of the worker with the most shard groups: the plan
 *     moves shard groups; kill -9 of the coordinator during its first
 *     move; the stored plan resumes after the restart and empties the
 *     worker ('rebalance --status' says it resumed).
 *  8. After each step: every acknowledged write is there exactly once
 *     with its last vector, deleted ids are absent, counts match. */
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <unistd.h>

#include "it_dist.h"
#include "it_load_loop.h"
#include "util.h"

#define DIM 16
#define TDIM 8
#define NIDS 3000
#define FIRST_LOAD 2400
#define NTAGS 200
#define NKEYS 40
#define NSHARDS 4

/* Last acknowledged state of items ids: 0 = never written, -1 = deleted,
 * g > 0 = live with vector vec(id, g).  Written by the load's writer. */
static int state[NIDS];

static void
vec(uint64_t id, int gen, float *v)
{
	for (int d = 0; d < DIM; d++)
		v[d] = sinf((float)id * 0.37f + (float)gen * 1.3f + (float)d * 0.71f) + 1.5f;
}

static const it_space ITEMS = {"", "items", state};
/* the load's configuration: items ids 0..NIDS-1, keyed by "tenant" */
#define LOAD_CFG(cluster)                                                                 \
	{.c = (cluster), .spaces = &ITEMS, .n_spaces = 1, .nids = NIDS, .dim = DIM, .vec = vec, \
	    .key_field = "tenant", .nkeys = NKEYS, .seed = 777}

/* Every acknowledged write present once with its last vector, deletes
 * absent, counts match. */
static void
verify(harness_cluster *c, const char *when)
{
	it_traffic L = LOAD_CFG(c);
	uint64_t live = it_traffic_verify(c, &L, &ITEMS, when);
	shoal_client *cl = it_connect(c);
	uint64_t n;
	shoal_status st;
	CHECK(shoal_count(cl, "", "tags", &n, &st) == SHOAL_OK && n == NTAGS,
	    "%s: tags count %" PRIu64 " (%s)", when, n, st.msg);
	shoal_close(cl);
	printf("%s: %" PRIu64 " live points verified\n", when, live);
}

/* Shard `index` of collection name: its id, worker, epoch. */
static void
placement(harness_cluster *c, const char *name, uint32_t index, uint64_t *id, char *worker,
    uint64_t *epoch)
{
	shoal_client *cl = it_connect(c);
	shoal_collection_desc *d;
	shoal_status st;
	CHECK(shoal_collection_describe(cl, "", name, &d, &st) == SHOAL_OK, "describe %s: %s",
	    name, st.msg);
	CHECK(index < d->n_placements, "%s has %zu placements", name, d->n_placements);
	*id = d->placements[index].shard_id;
	snprintf(worker, 64, "%s", d->placements[index].worker);
	if (epoch != NULL)
		*epoch = d->placements[index].epoch;
	shoal_collection_desc_free(d);
	shoal_close(cl);
}

/* Polls move id until it reaches state `want`; with any_end, until done
 * or aborted. */
static void
wait_move(harness_cluster *c, const char *id, int want, bool any_end, int timeout_ms,
    shoal_move_info *m)
{
	shoal_client *cl = it_connect(c);
	uint64_t end = util_mono_ms() + (uint64_t)timeout_ms;
	shoal_status st;
	for (;;) {
		shoal_code rc = shoal_move_get(cl, id, m, &st);
		if (rc == SHOAL_OK && (m->state == want || (any_end && m->state >= 5)))
			break;
		CHECK(rc != SHOAL_OK || m->state != 6 || any_end, "move aborted: %s", m->error);
		CHECK(util_mono_ms() < end, "move %s did not reach state %d (now %d %s)", id, want,
		    rc == SHOAL_OK ? m->state : -1, rc == SHOAL_OK ? m->state_name : st.msg);
		usleep(100000);
	}
	shoal_close(cl);
}

/* A worker other than `a` and `b` (b may be NULL). */
static void
other_worker(char names[3][64], const char *a, const char *b, char *out)
{
	for (int i = 0; i < 3; i++)
		if (strcmp(names[i], a) != 0 && (b == NULL || strcmp(names[i], b) != 0)) {
			snprintf(out, 64, "%s", names[i]);
			return;
		}
	CHECK(false, "no other worker");
}

/* Moves shard group `index` to another worker under the retrying writer
 * and kills its target (or its source) with -9 during the copy, then
 * restarts it.  The move finishes (a source back within the retries) or
 * rolls back (a target that missed dual writes); either way the whole group
 * is where the outcome says and nothing acknowledged is lost. */
static void
kill_mid_copy(harness_cluster *c, shoal_client *cl, char names[3][64], uint32_t index,
    bool source)
{
	char from[64], to[64], cur[64], mid[64], what[96];
	uint64_t sid;
	shoal_move_info m;
	shoal_status st;
	placement(c, "items", index, &sid, from, NULL);
	other_worker(names, from, NULL, to);
	it_traffic L = LOAD_CFG(c);
	L.retry = true;
	it_traffic_start(&L, true, false);
	CHECK(shoal_shard_move_start(cl, sid, to, 0.02, &m, &st) == SHOAL_OK, "start: %s", st.msg);
	snprintf(mid, sizeof mid, "%s", m.id);
	wait_move(c, mid, 2, false, 20000, &m);
	usleep(300000);
	int k = -1;
	for (int i = 0; i < 3; i++)
		if (strcmp(names[i], source ? from : to) == 0)
			k = i;
	harness_signal_worker(c, k, SIGKILL);
	usleep(400000);
	harness_start_worker(c, k);
	wait_move(c, mid, 5, true, 120000, &m);
	it_traffic_stop(&L);
	printf("kill -9 of the %s mid-copy: move %s (%s); %ld write rounds\n",
	    source ? "source" : "target", m.state_name, m.error, atomic_load(&L.s.writes));
	const char *want = m.state == 5 ? to : from;
	placement(c, "items", index, &sid, cur, NULL);
	CHECK(strcmp(cur, want) == 0, "items shard %u on %s after %s", index, cur, m.state_name);
	placement(c, "tags", index, &sid, cur, NULL);
	CHECK(strcmp(cur, want) == 0, "tags shard %u on %s after %s", index, cur, m.state_name);
	snprintf(what, sizeof what, "after the %s's kill -9", source ? "source" : "target");
	verify(c, what);
}

int
main(void)
{
	harness_cluster c;
	char out[16384], names[3][64], from[64], to[64], cur[64];
	uint64_t sid, tid, e0, e1, te;
	harness_cluster_start(&c, 3);
	shoal_client *cl = it_connect(&c);
	shoal_status st;
	shoal_move_info m;

	for (int i = 0; i < 3; i++)
		it_worker_name(&c, cl, i, names[i], sizeof names[i]);
	shoal_collection_params p = {.dim = DIM, .metric = SHOAL_METRIC_L2};
	shoal_distribution dist = {.placement = SHOAL_PLACEMENT_SHARED, .shards = NSHARDS};
	OK(shoal_collection_create_distributed(cl, "items", &p, &dist, NULL, &st_));
	shoal_collection_params pt = {.dim = TDIM, .metric = SHOAL_METRIC_COSINE};
	shoal_distribution dt = {.placement = SHOAL_PLACEMENT_SHARED, .colocate_with = "items"};
	OK(shoal_collection_create_distributed(cl, "tags", &pt, &dt, NULL, &st_));
	for (int i = 0; i < FIRST_LOAD; i += 50) {
		uint64_t ids[50];
		for (int k = 0; k < 50; k++) {
			ids[k] = (uint64_t)(i + k);
			state[i + k] = 1;
		}
		it_traffic Lc = LOAD_CFG(&c);
		OK(it_traffic_put(cl, &Lc, &ITEMS, ids, 50, 1, &st_));
	}
	it_load_keyed(cl, "tags", 5, 0, NTAGS, TDIM, "tenant", NKEYS);
	/* a tenant, for the refusal of a dedicated shard */
	shoal_tenant_info ti;
	OK(shoal_tenant_create(cl, "solo", NULL, &ti, &st_));
	shoal_collection_info dci;
	OK(shoal_collection_create(cl, "solo", "d", &p, &dci, &st_));

	/* 3. refusals */
	placement(&c, "items", 0, &sid, from, &e0);
	CHECK(shoal_shard_move_start(cl, 999999, names[0], 0, &m, &st) == SHOAL_NOT_FOUND,
	    "unknown shard: %s", st.msg);
	CHECK(shoal_shard_move_start(cl, dci.shard_id, names[0], 0, &m, &st) == SHOAL_NOT_FOUND &&
	        strstr(st.msg, "tenant move") != NULL,
	    "a tenant's shard: %s", st.msg);
	CHECK(shoal_shard_move_start(cl, sid, from, 0, &m, &st) == SHOAL_FAILED_PRECONDITION,
	    "same worker: %s", st.msg);
	CHECK(shoal_shard_move_start(cl, sid, "no-such-worker", 0, &m, &st) == SHOAL_NOT_FOUND,
	    "unknown worker: %s", st.msg);
	CHECK(harness_run_cli(&c, out, sizeof out, "shard", "move", "0", "--to", from, NULL) == 2,
	    "shard 0 is a usage error: %s", out);
	CHECK(harness_run_cli(&c, out, sizeof out, "shard", "move", "1", NULL) == 2,
	    "--to is required: %s", out);
	verify(&c, "after the refusals");

	/* 4. the move under load */
	other_worker(names, from, NULL, to);
	it_traffic L = LOAD_CFG(&c);
	it_traffic_start(&L, true, true);
	usleep(500000);
	long w0 = atomic_load(&L.s.writes), s0 = atomic_load(&L.s.searches);
	char sids[24];
	snprintf(sids, sizeof sids, "%" PRIu64, sid);
	int rc = harness_run_cli(&c, out, sizeof out, "shard", "move", sids, "--to", to,
	    "--max-mbps", "0.05", NULL);
	printf("%s", out);
	CHECK(rc == 0, "shard move failed (%d): %s", rc, out);
	CHECK(strstr(out, "copying") != NULL && strstr(out, "done") != NULL &&
	        strstr(out, "write pause") != NULL,
	    "move output lacks progress: %s", out);
	long w1 = atomic_load(&L.s.writes), s1 = atomic_load(&L.s.searches);
	usleep(500000);
	it_traffic_stop(&L);
	printf("during the move: %ld write rounds, %ld searches\n", w1 - w0, s1 - s0);
	CHECK(w1 - w0 > 20 && s1 - s0 > 20, "the load did not run during the move");
	it_check_seen(&L.s, "the shard move");
	placement(&c, "items", 0, &sid, cur, &e1);
	CHECK(strcmp(cur, to) == 0 && e1 > e0, "items shard 0 on %s (epoch %" PRIu64 "), want %s",
	    cur, e1, to);
	placement(&c, "tags", 0, &tid, cur, &te);
	CHECK(strcmp(cur, to) == 0 && te == e1, "tags shard 0 on %s, want %s (colocated)", cur, to);
	char mid[64];
	snprintf(mid, sizeof mid, "shard:%" PRIu64, sid);
	OK(shoal_move_get(cl, mid, &m, &st_));
	CHECK(m.state == 5 && m.shards == 2 && m.tenant[0] == '\0', "move info: %s %u shards",
	    m.state_name, m.shards);
	printf("shard move: %" PRIu64 " rows, %.3f MB, write pause %" PRIu64 " ms\n", m.rows_copied,
	    (double)m.bytes_copied / 1e6, m.fence_ms);
	verify(&c, "after the shard move");

	/* 5. group 1 named by tags' shard: canonical id; DDL refused; kill -9
	 * of the coordinator mid-move: it resumes by itself */
	uint64_t sid1;
	placement(&c, "items", 1, &sid1, from, NULL);
	placement(&c, "tags", 1, &tid, cur, NULL);
	other_worker(names, from, NULL, to);
	CHECK(shoal_shard_move_start(cl, tid, to, 0.01, &m, &st) == SHOAL_OK, "start: %s", st.msg);
	snprintf(mid, sizeof mid, "shard:%" PRIu64, sid1);
	CHECK(strcmp(m.id, mid) == 0, "move id %s, want %s", m.id, mid);
	CHECK(shoal_shard_move_start(cl, sid1, to, 0, &m, &st) == SHOAL_ALREADY_EXISTS,
	    "a second move of the group: %s", st.msg);
	wait_move(&c, mid, 2, false, 20000, &m);
	CHECK(shoal_collection_drop(cl, "", "tags", &st) == SHOAL_FAILED_PRECONDITION,
	    "drop of a colocated collection during its move: %s", st.msg);
	shoal_distribution dm = {.placement = SHOAL_PLACEMENT_SHARED, .colocate_with = "items"};
	CHECK(shoal_collection_create_distributed(cl, "more", &pt, &dm, NULL, &st) ==
	        SHOAL_FAILED_PRECONDITION,
	    "create colocated during a move: %s", st.msg);
	usleep(300000);
	shoal_close(cl);
	harness_signal_coordinator(&c, SIGKILL);
	harness_start_coordinator(&c);
	CHECK(harness_wait_workers_up(&c, 3, 20000), "workers back");
	wait_move(&c, mid, 5, false, 120000, &m);
	CHECK(m.attempts >= 2, "the move did not restart its copy (attempts %u)", m.attempts);
	placement(&c, "items", 1, &sid1, cur, NULL);
	CHECK(strcmp(cur, to) == 0, "after the resumed move items shard 1 is on %s", cur);
	placement(&c, "tags", 1, &tid, cur, NULL);
	CHECK(strcmp(cur, to) == 0, "after the resumed move tags shard 1 is on %s", cur);
	verify(&c, "after the resumed shard move");

	/* 6. kill -9 of the target, then of the source, mid-copy under the
	 * (retrying) writer */
	cl = it_connect(&c);
	kill_mid_copy(&c, cl, names, 2, false);
	kill_mid_copy(&c, cl, names, 3, true);

	/* 7. drain the worker holding the most shard groups (and maybe the
	 * tenant): the plan moves shard groups; kill -9 of the coordinator
	 * during its first move; after the restart the stored plan resumes
	 * and empties the worker */
	int most = 0, cnt[3] = {0};
	for (uint32_t i = 0; i < NSHARDS; i++) {
		placement(&c, "items", i, &sid, cur, NULL);
		for (int k = 0; k < 3; k++)
			cnt[k] += strcmp(names[k], cur) == 0;
	}
	for (int k = 1; k < 3; k++)
		if (cnt[k] > cnt[most])
			most = k;
	shoal_rebalance_info *ri;
	CHECK(shoal_rebalance_start(cl, false, 0.02, names[most], &ri, &st) == SHOAL_OK,
	    "drain: %s", st.msg);
	size_t planned = ri->n_moves;
	CHECK(planned >= (size_t)cnt[most] && strncmp(ri->moves[0].tenant, "shard:", 6) == 0,
	    "drain of %s plans %zu moves (%d shard groups there), first %s", names[most], planned,
	    cnt[most], planned ? ri->moves[0].tenant : "-");
	char first_move[64];
	snprintf(first_move, sizeof first_move, "%s", ri->moves[0].tenant);
	shoal_rebalance_info_free(ri);
	wait_move(&c, first_move, 2, false, 20000, &m);
	usleep(300000);
	shoal_close(cl);
	harness_signal_coordinator(&c, SIGKILL);
	harness_start_coordinator(&c);
	CHECK(harness_wait_workers_up(&c, 3, 20000), "workers back");
	cl = it_connect(&c);
	for (uint64_t end = util_mono_ms() + 180000;;) {
		CHECK(shoal_rebalance_get(cl, &ri, &st) == SHOAL_OK, "rebalance status: %s", st.msg);
		int rs = ri->state;
		uint32_t restarts = ri->restarts;
		size_t done = ri->done, n = ri->n_moves;
		char err[512];
		snprintf(err, sizeof err, "%s", ri->error);
		shoal_rebalance_info_free(ri);
		CHECK(rs == 2 || rs == 3, "the drain did not resume after the restart (state %d: %s)",
		    rs, err);
		if (rs == 3) {
			CHECK(restarts == 1 && done == planned && n == planned,
			    "resumed drain: %u restarts, %zu of %zu done", restarts, done, n);
			break;
		}
		CHECK(util_mono_ms() < end, "the resumed drain did not finish (%zu of %zu)", done, n);
		usleep(200000);
	}
	CHECK(harness_run_cli(&c, out, sizeof out, "rebalance", "--status", NULL) == 0 &&
	        strstr(out, "resumed after 1 coordinator restart") != NULL,
	    "rebalance --status: %s", out);
	for (uint32_t i = 0; i < NSHARDS; i++) {
		placement(&c, "items", i, &sid, cur, NULL);
		CHECK(strcmp(cur, names[most]) != 0, "items shard %u still on the drained %s", i, cur);
		placement(&c, "tags", i, &sid, cur, NULL);
		CHECK(strcmp(cur, names[most]) != 0, "tags shard %u still on the drained %s", i, cur);
	}
	verify(&c, "after the drain resumed by a restarted coordinator");
	shoal_close(cl);

	harness_cluster_stop(&c);
	printf("it_shard_move: OK\n");
	return 0;
}
