/* it_move.c -- online move of a dedicated tenant under load, its refusals,
 * its cancel (roll back), and a kill -9 of the coordinator mid-move.
 *
 *  1. A coordinator and 3 workers; tenant acme with two collections (docs:
 *     4,000 points of dim 16; notes: 300 of dim 8): a shard group of two.
 *  2. A writer thread upserts (new generations of ids 0..4999, some new
 *     ids) and deletes at a steady rate, recording what was acknowledged;
 *     it must see no error.  A reader thread searches docs continuously:
 *     no error, and never the same id twice in one answer.
 *  3. Refusals change nothing: unknown tenant, unknown worker, the worker
 *     it is already on.
 *  4. `shoal tenant move acme --to W2` (throttled) while both run; it
 *     prints progress and ends "done" with the write pause.
 *  5. A second move to W3 at a crawl (--no-wait): DDL on the tenant is
 *     refused meanwhile; `shoal move cancel` rolls it back: the tenant
 *     stays on W2 with its data.
 *  6. kill -9 of the coordinator during a third move (W2 -> W3), restart:
 *     the move resumes by itself and finishes.
 *  7. After each step: every acknowledged write is there with its last
 *     vector, deleted ids are absent, counts match, the tenant lists on
 *     the expected worker.
 *  8. A move carries the index (worker/index_move.h): after the move under
 *     load the target installed the docs graph from the source (its
 *     index_imports counter) and a search for each sampled live point's
 *     exact vector finds it first (so the writes replayed on the moved
 *     graph are in it, and the overwritten ones are not); a last move
 *     without load: the same queries at the same ef return the same hits
 *     (ids and distances) as on the source before, and the target built
 *     no graph (index_rebuilds unchanged) and installed one.  The move
 *     under load reports the bundle (index_bytes_copied > 0), its MB/s
 *     over its copy time is rows + index bytes, and the CLI prints both. */
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <unistd.h>

#include "it_load_loop.h"
#include "util.h"

#define DIM 16
#define NDIM 8
#define NIDS 5000
#define FIRST_LOAD 4000
#define NNOTES 300

/* Last acknowledged state of docs ids: 0 = never written, -1 = deleted,
 * g > 0 = live with vector vec(id, g).  Written by the load's writer. */
static int state[NIDS];

static void
vec(uint64_t id, int gen, float *v)
{
	for (int d = 0; d < DIM; d++)
		v[d] = sinf((float)id * 0.37f + (float)gen * 1.3f + (float)d * 0.71f) + 1.5f;
}

static const it_space DOCS = {"acme", "docs", state};
/* the load's configuration: docs ids 0..NIDS-1 */
#define LOAD_CFG(cluster) \
	{.c = (cluster), .spaces = &DOCS, .n_spaces = 1, .nids = NIDS, .dim = DIM, .vec = vec}

/* Every acknowledged write present with its last vector, deletes absent,
 * counts match. */
static void
verify(harness_cluster *c, const char *when)
{
	it_traffic L = LOAD_CFG(c);
	uint64_t live = it_traffic_verify(c, &L, &DOCS, when);
	shoal_client *cl = it_connect(c);
	uint64_t n;
	shoal_status st;
	CHECK(shoal_count(cl, "acme", "notes", &n, &st) == SHOAL_OK && n == NNOTES,
	    "%s: notes count %" PRIu64, when, n);
	shoal_close(cl);
	printf("%s: %" PRIu64 " live points verified\n", when, live);
}

static void
tenant_worker(harness_cluster *c, char *out)
{
	shoal_client *cl = it_connect(c);
	shoal_tenant_info *t;
	size_t n;
	shoal_status st;
	CHECK(shoal_tenant_list(cl, &t, &n, &st) == SHOAL_OK && n == 1, "tenant list");
	snprintf(out, 64, "%s", t[0].worker);
	shoal_tenant_list_free(t);
	shoal_close(cl);
}

/* Polls move acme until it reaches state `want` (or fails the test). */
static void
wait_move(harness_cluster *c, int want, int timeout_ms, shoal_move_info *m)
{
	shoal_client *cl = it_connect(c);
	uint64_t end = util_mono_ms() + (uint64_t)timeout_ms;
	shoal_status st;
	for (;;) {
		shoal_code rc = shoal_move_get(cl, "acme", m, &st);
		if (rc == SHOAL_OK && m->state == want)
			break;
		CHECK(rc != SHOAL_OK || m->state != 6 || want == 6, "move aborted: %s", m->error);
		CHECK(util_mono_ms() < end, "move did not reach state %d (now %d %s)", want,
		    rc == SHOAL_OK ? m->state : -1, rc == SHOAL_OK ? m->state_name : st.msg);
		usleep(100000);
	}
	shoal_close(cl);
}

/* index_imports and index_rebuilds of the worker called name. */
static void
worker_counters(harness_cluster *c, const char *name, uint64_t *imports, uint64_t *rebuilds)
{
	CHECK(harness_worker_index_counters(c, it_harness_worker(c, name), imports, rebuilds),
	    "status of worker %s", name);
}

/* A move carries HNSW graphs only: waits (at most 20 s) for the upkeep of
 * worker `name` to build one (its index_rebuilds passing `base`). */
static void
wait_graph(harness_cluster *c, const char *name, uint64_t base)
{
	uint64_t imp, reb = base;
	for (uint64_t end = util_mono_ms() + 20000; reb <= base && util_mono_ms() < end;) {
		usleep(100000);
		worker_counters(c, name, &imp, &reb);
	}
}

/* Every sampled live docs point is found by a search for its own vector
 * (the moved, replayed graph holds the last version of each; ids can
 * share a vector across generations, so among the first hits), and a
 * search for its previous generation's vector does not find it (no
 * overwritten version survived in the graph). */
static void
check_self_search(harness_cluster *c, const char *when)
{
	shoal_client *cl = it_connect(c);
	int checked = 0;
	for (uint64_t id = 0; id < NIDS; id += 41) {
		int g = state[id];
		if (g <= 0)
			continue;
		for (int old = 0; old < (g > 1 ? 2 : 1); old++) {
			float q[DIM];
			vec(id, g - old, q);
			shoal_search_params p = {.k = 10, .ef_search = 64};
			shoal_search_result *r;
			shoal_status st;
			CHECK(shoal_search(cl, "acme", "docs", q, DIM, &p, &r, &st) == SHOAL_OK,
			    "%s: search: %s", when, st.msg);
			bool found = false;
			for (size_t h = 0; h < r->n_hits; h++)
				found = found || (r->hits[h].id == id && r->hits[h].distance < 1e-3f);
			CHECK(found == !old, "%s: the search for id %" PRIu64 "'s %s vector %s", when, id,
			    old ? "overwritten" : "current", old ? "found it" : "did not find it");
			shoal_search_result_free(r);
		}
		checked++;
	}
	shoal_close(cl);
	printf("%s: %d ids found by their vector, not by their previous one\n", when, checked);
}

int
main(void)
{
	harness_cluster c;
	char out[16384], w[3][64], cur[64];
	harness_cluster_start(&c, 3);
	shoal_client *cl = it_connect(&c);
	shoal_status st;

	shoal_tenant_info ti;
	OK(shoal_tenant_create(cl, "acme", NULL, &ti, &st_));
	snprintf(w[0], sizeof w[0], "%s", ti.worker);
	shoal_cluster_info *ci;
	OK(shoal_cluster_status(cl, &ci, &st_));
	CHECK(ci->n_workers == 3, "3 workers");
	for (size_t i = 0, k = 1; i < 3; i++)
		if (strcmp(ci->workers[i].name, w[0]) != 0)
			snprintf(w[k++], sizeof w[0], "%s", ci->workers[i].name);
	shoal_cluster_info_free(ci);
	shoal_collection_params p = {.dim = DIM, .metric = SHOAL_METRIC_L2};
	OK(shoal_collection_create(cl, "acme", "docs", &p, NULL, &st_));
	shoal_collection_params pn = {.dim = NDIM, .metric = SHOAL_METRIC_COSINE};
	OK(shoal_collection_create(cl, "acme", "notes", &pn, NULL, &st_));
	{
		float *v = malloc((size_t)FIRST_LOAD * DIM * sizeof(float));
		uint64_t *ids = malloc(FIRST_LOAD * sizeof(uint64_t));
		for (int i = 0; i < FIRST_LOAD; i++) {
			ids[i] = (uint64_t)i;
			vec((uint64_t)i, 1, v + (size_t)i * DIM);
			state[i] = 1;
		}
		shoal_batch b = {.n = FIRST_LOAD, .dim = DIM, .ids = ids, .vectors = v};
		OK(shoal_upsert(cl, "acme", "docs", &b, NULL, &st_));
		free(v);
		free(ids);
	}
	it_load(cl, "acme", "notes", 7, 0, NNOTES, NDIM);

	/* 3. refusals */
	shoal_move_info m;
	CHECK(shoal_move_start(cl, "nobody", w[1], 0, &m, &st) == SHOAL_NOT_FOUND,
	    "unknown tenant: %s", st.msg);
	CHECK(shoal_move_start(cl, "acme", "no-such-worker", 0, &m, &st) == SHOAL_NOT_FOUND,
	    "unknown worker: %s", st.msg);
	CHECK(shoal_move_start(cl, "acme", w[0], 0, &m, &st) == SHOAL_FAILED_PRECONDITION,
	    "same worker: %s", st.msg);
	CHECK(shoal_move_get(cl, "acme", &m, &st) == SHOAL_NOT_FOUND, "no move yet");
	CHECK(harness_run_cli(&c, out, sizeof out, "tenant", "move", "acme", NULL) == 2,
	    "--to is required: %s", out);

	/* 4. the move under load */
	it_traffic L = LOAD_CFG(&c);
	it_traffic_start(&L, true, true);
	usleep(500000);
	wait_graph(&c, w[0], 0); /* the reader's searches loaded docs */
	long w0 = atomic_load(&L.s.writes), s0 = atomic_load(&L.s.searches);
	int rc = harness_run_cli(&c, out, sizeof out, "tenant", "move", "acme", "--to", w[1],
	    "--max-mbps", "0.3", NULL);
	printf("%s", out);
	CHECK(rc == 0, "tenant move failed (%d): %s", rc, out);
	CHECK(strstr(out, "copying") != NULL && strstr(out, "done") != NULL &&
	        strstr(out, "write pause") != NULL,
	    "move output lacks progress: %s", out);
	long w1 = atomic_load(&L.s.writes), s1 = atomic_load(&L.s.searches);
	usleep(500000);
	it_traffic_stop(&L);
	printf("during the move: %ld write rounds, %ld searches\n", w1 - w0, s1 - s0);
	CHECK(w1 - w0 > 50 && s1 - s0 > 50, "the load did not run during the move");
	it_check_seen(&L.s, "the move");
	tenant_worker(&c, cur);
	CHECK(strcmp(cur, w[1]) == 0, "tenant on %s, expected %s", cur, w[1]);
	OK(shoal_move_get(cl, "acme", &m, &st_));
	CHECK(m.state == 5 && m.shards == 2 && m.rows_copied >= FIRST_LOAD, "move info: %s %" PRIu64,
	    m.state_name, m.rows_copied);
	printf("move: %" PRIu64 " rows, %.2f MB, write pause %" PRIu64 " ms\n", m.rows_copied,
	    (double)m.bytes_copied / 1e6, m.fence_ms);
	verify(&c, "after the move");

	{
		uint64_t imports, rebuilds;
		worker_counters(&c, w[1], &imports, &rebuilds);
		printf("target after the move under load: %" PRIu64 " index imports, %" PRIu64
		       " rebuilds\n",
		    imports, rebuilds);
		CHECK(imports >= 1, "the move under load did not carry the docs index");
		check_self_search(&c, "after the move under load");
		/* what it reports it copied: rows + the carried bundle (decision 141) */
		it_check_move_bytes(&m, true, "the move under load");
		/* the throttle paces rows and bundles as one stream: the pass's
		 * average is not above --max-mbps 0.3 (2% for the naps' rounding) */
		CHECK(m.mb_per_s <= 0.3 * 1.02, "the move throttled to 0.3 MB/s copied at %.3f MB/s",
		    m.mb_per_s);
		CHECK(strstr(out, " MB index copied at ") != NULL, "move output lacks the index MB: %s",
		    out);
	}

	/* 5. a crawling move: DDL refused, then cancelled and rolled back */
	CHECK(shoal_move_start(cl, "acme", w[2], 0.02, &m, &st) == SHOAL_OK, "start: %s", st.msg);
	CHECK(shoal_move_start(cl, "acme", w[2], 0, &m, &st) == SHOAL_ALREADY_EXISTS,
	    "second concurrent move: %s", st.msg);
	wait_move(&c, 2, 20000, &m);
	CHECK(shoal_collection_create(cl, "acme", "more", &p, NULL, &st) ==
	        SHOAL_FAILED_PRECONDITION,
	    "DDL during a move: %s", st.msg);
	CHECK(harness_run_cli(&c, out, sizeof out, "move", "cancel", "acme", NULL) == 0,
	    "cancel: %s", out);
	wait_move(&c, 6, 20000, &m);
	CHECK(strstr(m.error, "cancelled") != NULL, "abort reason: %s", m.error);
	tenant_worker(&c, cur);
	CHECK(strcmp(cur, w[1]) == 0, "after cancel the tenant is on %s", cur);
	verify(&c, "after the cancelled move");

	/* 6. kill -9 of the coordinator mid-move: it resumes by itself */
	CHECK(shoal_move_start(cl, "acme", w[2], 0.1, &m, &st) == SHOAL_OK, "start: %s", st.msg);
	wait_move(&c, 2, 20000, &m);
	usleep(500000);
	shoal_close(cl);
	harness_signal_coordinator(&c, SIGKILL);
	harness_start_coordinator(&c);
	CHECK(harness_wait_workers_up(&c, 3, 20000), "workers back");
	wait_move(&c, 5, 120000, &m);
	CHECK(m.attempts >= 2, "the move did not restart its copy (attempts %u)", m.attempts);
	tenant_worker(&c, cur);
	CHECK(strcmp(cur, w[2]) == 0, "after the resumed move the tenant is on %s", cur);
	verify(&c, "after the resumed move");
	CHECK(harness_run_cli(&c, out, sizeof out, "move", "list", NULL) == 0 &&
	        strstr(out, "done") != NULL,
	    "move list: %s", out);

	/* 7. kill -9 of the TARGET mid-copy, under the writer: the target
	 * misses dual writes, so the move must roll back (or, if the kill
	 * fell between batches with no write, finish); either way nothing
	 * acknowledged is lost. */
	cl = it_connect(&c);
	it_traffic L2 = LOAD_CFG(&c);
	it_traffic_start(&L2, true, false);
	CHECK(shoal_move_start(cl, "acme", w[0], 0.1, &m, &st) == SHOAL_OK, "start: %s", st.msg);
	wait_move(&c, 2, 20000, &m);
	usleep(300000);
	int tix = it_harness_worker(&c, w[0]);
	harness_signal_worker(&c, tix, SIGKILL);
	usleep(300000);
	harness_start_worker(&c, tix);
	shoal_move_info m2;
	for (uint64_t end = util_mono_ms() + 120000;;) {
		CHECK(shoal_move_get(cl, "acme", &m2, &st) == SHOAL_OK, "get: %s", st.msg);
		if (m2.state == 5 || m2.state == 6)
			break;
		CHECK(util_mono_ms() < end, "move stuck in %s after the target's kill", m2.state_name);
		usleep(100000);
	}
	it_traffic_stop(&L2);
	printf("kill -9 of the target mid-copy: move %s (%s); %ld write rounds, %d errors\n",
	    m2.state_name, m2.error, atomic_load(&L2.s.writes), atomic_load(&L2.s.werrors));
	CHECK(atomic_load(&L2.s.werrors) == 0, "writer errors with the target killed: %s", L2.s.werr);
	tenant_worker(&c, cur);
	CHECK(strcmp(cur, m2.state == 5 ? w[0] : w[2]) == 0, "tenant on %s after %s", cur,
	    m2.state_name);
	verify(&c, "after the target's kill -9");

	/* 8. kill -9 of the SOURCE mid-copy (no writer: writes fail while
	 * the worker serving them is down): the copy retries, then resumes. */
	char src[64], dst[64];
	tenant_worker(&c, src);
	snprintf(dst, sizeof dst, "%s", strcmp(src, w[1]) == 0 ? w[2] : w[1]);
	CHECK(shoal_move_start(cl, "acme", dst, 0.1, &m, &st) == SHOAL_OK, "start: %s", st.msg);
	wait_move(&c, 2, 20000, &m);
	usleep(300000);
	int si = it_harness_worker(&c, src);
	harness_signal_worker(&c, si, SIGKILL);
	usleep(500000);
	harness_start_worker(&c, si);
	wait_move(&c, 5, 120000, &m);
	tenant_worker(&c, cur);
	CHECK(strcmp(cur, dst) == 0, "after the source's kill the tenant is on %s", cur);
	verify(&c, "after the source's kill -9");

	/* 9. the moved index answers as the source did, and was not rebuilt */
	{
		enum { NQ = 20, K = 10 };
		uint64_t ids0[NQ][K];
		float d0[NQ][K];
		size_t n0[NQ];
		uint64_t simp, sreb0;
		tenant_worker(&c, src);
		snprintf(dst, sizeof dst, "%s", strcmp(src, w[0]) == 0 ? w[1] : w[0]);
		worker_counters(&c, src, &simp, &sreb0);
		for (int pass = 0; pass < 2; pass++) {
			if (pass == 1) {
				/* the source restarted in step 8: the searches above
				 * loaded docs from rows */
				wait_graph(&c, src, sreb0);
				uint64_t imp0, reb0, imp1, reb1;
				worker_counters(&c, dst, &imp0, &reb0);
				CHECK(shoal_move_start(cl, "acme", dst, 0, &m, &st) == SHOAL_OK, "start: %s",
				    st.msg);
				wait_move(&c, 5, 120000, &m);
				for (int i = 0; i < 3; i++) /* searches load; upkeep would build */
					check_self_search(&c, "after the last move");
				usleep(1500000);
				worker_counters(&c, dst, &imp1, &reb1);
				printf("last move: target %s installed %" PRIu64 " indexes, rebuilt %" PRIu64
				       "\n",
				    dst, imp1 - imp0, reb1 - reb0);
				CHECK(imp1 > imp0, "the last move carried no index");
				CHECK(reb1 == reb0, "the target built %" PRIu64 " graphs after the move",
				    reb1 - reb0);
			}
			for (int i = 0; i < NQ; i++) {
				float q[DIM];
				vec((uint64_t)(7919 * i + 13), 97, q);
				shoal_search_params p = {.k = K, .ef_search = 32};
				shoal_search_result *r;
				CHECK(shoal_search(cl, "acme", "docs", q, DIM, &p, &r, &st) == SHOAL_OK,
				    "search: %s", st.msg);
				if (pass == 0) {
					n0[i] = r->n_hits;
					for (size_t h = 0; h < r->n_hits && h < K; h++) {
						ids0[i][h] = r->hits[h].id;
						d0[i][h] = r->hits[h].distance;
					}
				} else {
					CHECK(r->n_hits == n0[i], "query %d: %zu hits, %zu before", i, r->n_hits,
					    n0[i]);
					for (size_t h = 0; h < r->n_hits && h < K; h++)
						CHECK(r->hits[h].id == ids0[i][h] && r->hits[h].distance == d0[i][h],
						    "query %d hit %zu: %" PRIu64 " at %g, before %" PRIu64 " at %g", i,
						    h, r->hits[h].id, (double)r->hits[h].distance, ids0[i][h],
						    (double)d0[i][h]);
				}
				shoal_search_result_free(r);
			}
		}
		printf("the moved index answers %d queries exactly as the source did\n", NQ);
	}
	shoal_close(cl);

	harness_cluster_stop(&c);
	printf("it_move: OK\n");
	return 0;
}
