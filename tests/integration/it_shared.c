/* it_shared.c -- shared and reference collections on a real cluster: a
 * coordinator and 4 workers on loopback.
 *
 *  1. A shared collection of 32 shards (the default) spreads 8 shards on
 *     each worker; 20,000 points with 1,000 keys (tenants) are loaded.
 *  2. A search without a key is scattered to every shard: in exact mode
 *     it returns exactly the brute-force top 10 over all points; with HNSW
 *     recall@10 >= 0.95.  Each shard is asked for only k_s = 4 of the 10
 *     in the first round (coordinator/search.c "Per-shard k"): explain
 *     says so and counts the candidates.
 *  2c. (run right after 2) The HNSW scatters of 2 asked each worker for a
 *     collection graph over its 8 shards (worker/coll_graph.h); once
 *     built, a keyless scatter is answered by those graphs (explain: "32
 *     shards answered by their workers' collection graphs", no shard asked
 *     again, at most 10 candidates per worker; the workers'
 *     coll_graph_searches count it), exact mode still equals brute force
 *     and HNSW recall@10 >= 0.95.
 *  2a. A key correlated with the vectors: the 40 points nearest a query
 *     all carry one key (so all live in one shard).  The per-shard k_s
 *     alone would return only 4 of them; the refinement round must ask
 *     that shard again, so exact mode is still exactly the brute-force top
 *     10 (explain names the shard asked again) and HNSW returns the 10.
 *  2b. The same points in a 4-shard collection (5,000 per shard, ~250
 *     partitions each): once every shard's shard-level graph has its HNSW
 *     graph (Worker.Status), keyless searches answered by it are exact in
 *     exact mode and reach recall@10 >= 0.95 in HNSW mode -- also after
 *     deletes (each query's 3 nearest points: never returned again) and
 *     updates (a point moved next to each query: found), with the graphs
 *     still holding exactly the shards' live points.
 *  3. A key-routed search touches one shard on one worker: its explain
 *     says so (the shard the documented hash picks, on the worker the
 *     catalog places it), and the workers' own counters agree (only that
 *     worker counted the requests).  Its hits belong to that shard; with
 *     the worker's partitions (issue 3) they are exactly the key's
 *     brute-force top 10 and HNSW returns k rows at recall >= 0.99 --
 *     checked strictly when the exact answer shows the worker searched
 *     only the key's partition, otherwise (a worker that ignores
 *     partitions) the answer must be the shard's brute-force top 10.
 *  4. A collection colocated with it has the same shard map.
 *  5. A reference collection stays readable while a worker is killed and
 *     after it restarts; writes acknowledged while it was down reach its
 *     replica (asked directly) once it is back.
 *  6. After kill -9 and restart of the coordinator every placement is the
 *     same and the data answers as before.
 *  7. The CLI: collection list, search --key --explain.
 */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <time.h>

#include "it_dist.h"
#include "shardmap.h"

#define N 20000
#define NKEYS 1000
#define DIM 16
#define NQ 50
#define K 10
#define SEED 11
#define NW 4

static float *base;

static void
sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static bool
same_ids(const shoal_search_result *r, const uint64_t *truth, size_t n, const float *q)
{
	if (r->n_hits != n)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (r->hits[i].id == truth[i])
			continue;
		/* a tie in distance may order two ids either way */
		float d = vecmath_distance(VECMATH_L2, q, base + truth[i] * DIM, DIM);
		if (fabsf(r->hits[i].distance - d) > 1e-4f * (1 + d))
			return false;
	}
	return true;
}

static shoal_search_result *
search(shoal_client *cl, const char *coll, const float *q, bool exact, const char *key,
    bool explain)
{
	shoal_search_params sp = {.k = K, .exact = exact};
	shoal_search_opts so = {.key = key, .explain = explain};
	shoal_search_result *r;
	shoal_status st;
	shoal_code rc = shoal_search_ex(cl, "", coll, q, DIM, &sp, &so, &r, &st);
	CHECK(rc == SHOAL_OK, "search %s key %s: %s: %s", coll, key ? key : "-",
	    shoal_code_name(rc), st.msg);
	return r;
}

/* MultiSearches the workers answered from a collection graph. */
static uint64_t
coll_graph_searches(harness_cluster *c)
{
	uint64_t n = 0;
	for (int w = 0; w < c->nworkers; w++) {
		rpc_result res;
		const Shoal__WorkerStatusReply *r = it_worker_status(c->worker_url[w], &res);
		n += r->coll_graph_searches;
		rpc_result_free(&res);
	}
	return n;
}

/* Keyless searches of `coll` (holding bbase[i] for every i with live[i]):
 * exact mode gives the brute-force distances, HNSW every hit live and
 * k rows; returns the HNSW recall@10. */
static double
keyless_recall(shoal_client *cl, const char *coll, const float *bbase,
    const unsigned char *live, const float *queries)
{
	size_t hit = 0;
	for (int qi = 0; qi < NQ; qi++) {
		const float *q = queries + qi * DIM;
		uint64_t truth[K];
		it_topk(VECMATH_L2, bbase, live, N, DIM, q, K, truth);
		for (int exact = 1; exact >= 0; exact--) {
			shoal_search_result *r = search(cl, coll, q, exact, NULL, false);
			CHECK(r->complete && r->n_hits == K, "%s query %d (%s): %zu rows", coll, qi,
			    exact ? "exact" : "HNSW", r->n_hits);
			for (size_t i = 0; i < r->n_hits; i++) {
				uint64_t id = r->hits[i].id;
				CHECK(id < N && live[id], "%s query %d (%s): deleted id %llu returned", coll,
				    qi, exact ? "exact" : "HNSW", (unsigned long long)id);
				float want = vecmath_distance(VECMATH_L2, q, bbase + truth[i] * DIM, DIM);
				if (exact)
					CHECK(fabsf(r->hits[i].distance - want) <= 1e-4f * (1 + want),
					    "%s query %d: exact hit %zu at %g, brute force %g", coll, qi, i,
					    (double)r->hits[i].distance, (double)want);
				for (int j = 0; j < K && !exact; j++)
					hit += id == truth[j];
			}
			shoal_search_result_free(r);
		}
	}
	return (double)hit / (NQ * K);
}

int
main(void)
{
	harness_cluster c;
	shoal_status st;
	char names[NW][64];
	harness_cluster_start(&c, NW);
	shoal_client *cl = it_connect(&c);
	for (int i = 0; i < NW; i++)
		it_worker_name(&c, cl, i, names[i], sizeof names[i]);

	/* ---- 1. create and load */
	shoal_collection_params p = {.dim = DIM, .metric = SHOAL_METRIC_L2};
	shoal_distribution d = {.placement = SHOAL_PLACEMENT_SHARED};
	shoal_collection_info ci;
	OK(shoal_collection_create_distributed(cl, "docs", &p, &d, &ci, &st_));
	CHECK(ci.tenant[0] == '\0' && ci.worker[0] == '\0', "a shared collection has no tenant");
	shoal_collection_desc *desc;
	OK(shoal_collection_describe(cl, "", "docs", &desc, &st_));
	CHECK(desc->placement == SHOAL_PLACEMENT_SHARED && desc->shards == 32 &&
	    desc->n_placements == 32, "docs: %s, %u shards, %zu placements",
	    shoal_placement_name(desc->placement), desc->shards, desc->n_placements);
	CHECK(strcmp(desc->key_field, "tenant") == 0, "key field %s", desc->key_field);
	int per_worker[NW] = {0};
	for (size_t i = 0; i < 32; i++) {
		int w = it_worker_index((const char(*)[64])names, NW, desc->placements[i].worker);
		CHECK(w >= 0, "shard %zu on unknown worker %s", i, desc->placements[i].worker);
		per_worker[w]++;
		CHECK(desc->placements[i].shard_id == ci.shard_id + i, "shard ids not consecutive");
	}
	for (int w = 0; w < NW; w++)
		CHECK(per_worker[w] == 8, "worker %s holds %d shards, want 8", names[w], per_worker[w]);
	/* a shared collection's name is not a tenant's */
	CHECK(shoal_tenant_create(cl, "docs", NULL, NULL, &st) == SHOAL_ALREADY_EXISTS,
	    "tenant named like a shared collection: %s", st.msg);

	it_load_keyed(cl, "docs", SEED, 0, N, DIM, "tenant", NKEYS);
	uint64_t count = 0;
	OK(shoal_count(cl, "", "docs", &count, &st_));
	CHECK(count == N, "count %llu, want %d", (unsigned long long)count, N);
	base = malloc((size_t)N * DIM * sizeof(float));
	vecio_generate(SEED, 0, N, DIM, base);
	float *queries = malloc((size_t)NQ * DIM * sizeof(float));
	vecio_generate(SEED + 1, 0, NQ, DIM, queries);

	/* ---- 2. scatter: exact == brute force; HNSW recall */
	size_t hit = 0;
	for (int qi = 0; qi < NQ; qi++) {
		const float *q = queries + qi * DIM;
		uint64_t truth[K];
		it_topk(VECMATH_L2, base, NULL, N, DIM, q, K, truth);
		shoal_search_result *r = search(cl, "docs", q, true, NULL, qi == 0);
		CHECK(r->complete, "query %d: exact scatter not complete", qi);
		CHECK(same_ids(r, truth, K, q), "query %d: exact scatter differs from brute force "
		    "(first hit %llu, want %llu)", qi, (unsigned long long)r->hits[0].id,
		    (unsigned long long)truth[0]);
		if (qi == 0) {
			CHECK(r->explain && r->explain->n_shards == 32, "scatter explain: shards");
			size_t distinct = 0;
			for (size_t i = 0; i < r->explain->n_workers; i++) {
				bool dup = false;
				for (size_t j = 0; j < i; j++)
					dup |= strcmp(r->explain->workers[i].worker,
					    r->explain->workers[j].worker) == 0;
				distinct += !dup;
				CHECK(r->explain->workers[i].shards == 8, "one request carries 8 shards");
			}
			CHECK(distinct == NW && r->explain->n_workers == NW,
			    "scatter: %zu requests to %zu workers, want one per worker",
			    r->explain->n_workers, distinct);
			/* k_s = 4 per shard (Binomial(10, 1/32) >= 4 for 1.7e-4 of
			 * the shards); a shard asked again gives up to K */
			CHECK(strstr(r->explain->plan, "top 4 per shard") != NULL, "plan: %s",
			    r->explain->plan);
			CHECK(r->explain->candidates >= 32 * 4 && r->explain->candidates < 32 * K,
			    "candidates %u", r->explain->candidates);
		}
		shoal_search_result_free(r);
		r = search(cl, "docs", q, false, NULL, false);
		CHECK(r->complete && r->n_hits == K, "query %d: HNSW scatter %zu hits", qi,
		    r->n_hits);
		for (size_t i = 0; i < r->n_hits; i++)
			for (int j = 0; j < K; j++)
				hit += r->hits[i].id == truth[j];
		shoal_search_result_free(r);
	}
	double recall = (double)hit / (NQ * K);
	printf("scatter over 32 shards: exact == brute force on %d queries; HNSW recall@10 = "
	       "%.4f\n", NQ, recall);
	CHECK(recall >= 0.95, "HNSW scatter recall@10 %.4f < 0.95", recall);

	/* ---- 2c. the workers' collection graphs answer the scatter */
	{
		bool joint = false;
		for (int t = 0; t < 300 && !joint; t++) {
			shoal_search_result *r = search(cl, "docs", queries, false, NULL, true);
			joint = r->explain != NULL && strstr(r->explain->plan,
			    "32 shards answered by their workers' collection graphs") != NULL;
			if (joint) {
				CHECK(strstr(r->explain->plan, "asked again") == NULL,
				    "joint answers asked again: %s", r->explain->plan);
				CHECK(r->explain->candidates <= NW * K, "joint candidates %u",
				    r->explain->candidates);
				printf("collection graphs: %s\n", r->explain->plan);
			}
			shoal_search_result_free(r);
			if (!joint)
				sleep_ms(200);
		}
		CHECK(joint, "no scatter answered by the workers' collection graphs in 60 s");
		unsigned char *live = malloc(N);
		memset(live, 1, N);
		uint64_t before = coll_graph_searches(&c);
		double r2 = keyless_recall(cl, "docs", base, live, queries);
		uint64_t used = coll_graph_searches(&c) - before;
		printf("scatter answered by the collection graphs: exact == brute force, HNSW "
		       "recall@10 = %.4f (%llu worker graph searches)\n", r2,
		    (unsigned long long)used);
		CHECK(r2 >= 0.95, "collection graph recall@10 %.4f < 0.95", r2);
		CHECK(used >= (uint64_t)NQ * NW, "workers counted %llu collection graph searches "
		    "for %d scatters", (unsigned long long)used, NQ);
		free(live);
	}

	/* ---- 2a. a key correlated with the vectors: the refinement round */
	{
		enum { NH = 40, NB = 4000 };
		shoal_collection_info hci;
		OK(shoal_collection_create_distributed(cl, "hot", &p, &d, &hci, &st_));
		it_load_keyed(cl, "hot", SEED + 5, 0, NB, DIM, "tenant", 400);
		float *hb = malloc((size_t)(NB + NH) * DIM * sizeof(float));
		vecio_generate(SEED + 5, 0, NB, DIM, hb);
		const float *q = queries; /* query 0 */
		uint64_t ids[NH];
		shoal_field f[NH];
		shoal_payload pl[NH];
		for (int j = 0; j < NH; j++) {
			float *v = hb + (size_t)(NB + j) * DIM;
			memcpy(v, q, DIM * sizeof(float));
			v[j % DIM] += 0.002f * (float)(j + 1); /* distinct distances */
			ids[j] = NB + (uint64_t)j;
			f[j] = (shoal_field){.key = "tenant", .type = SHOAL_VALUE_STRING, .s = "hot"};
			pl[j] = (shoal_payload){.fields = &f[j], .n_fields = 1};
		}
		shoal_batch b = {.n = NH, .dim = DIM, .ids = ids,
			.vectors = hb + (size_t)NB * DIM, .payloads = pl};
		OK(shoal_upsert(cl, "", "hot", &b, NULL, &st_));
		uint64_t truth[K];
		it_topk(VECMATH_L2, hb, NULL, NB + NH, DIM, q, K, truth);
		for (int j = 0; j < K; j++)
			CHECK(truth[j] >= NB, "set-up: brute-force hit %d is not a hot point", j);
		shoal_search_result *r = search(cl, "hot", q, true, NULL, true);
		CHECK(r->n_hits == K, "hot exact: %zu hits", r->n_hits);
		for (int j = 0; j < K; j++)
			CHECK(r->hits[j].id == truth[j], "hot exact hit %d: %llu, brute force %llu", j,
			    (unsigned long long)r->hits[j].id, (unsigned long long)truth[j]);
		CHECK(r->explain && strstr(r->explain->plan, "1 shard asked again") != NULL,
		    "hot exact: plan %s", r->explain ? r->explain->plan : "(none)");
		printf("correlated key: exact == brute force after the refinement round (%s)\n",
		    r->explain->plan);
		shoal_search_result_free(r);
		r = search(cl, "hot", q, false, NULL, false);
		size_t hot = 0;
		for (size_t i = 0; i < r->n_hits; i++)
			for (int j = 0; j < K; j++)
				hot += r->hits[i].id == truth[j];
		CHECK(r->n_hits == K && hot >= K - 1, "hot HNSW: %zu hits, %zu of the top %d",
		    r->n_hits, hot, K);
		shoal_search_result_free(r);
		free(hb);
	}

	/* ---- 2b. keyless searches on the shard-level graphs */
	{
		shoal_distribution d4 = {.placement = SHOAL_PLACEMENT_SHARED, .shards = 4};
		shoal_collection_info bi;
		OK(shoal_collection_create_distributed(cl, "big", &p, &d4, &bi, &st_));
		it_load_keyed(cl, "big", SEED, 0, N, DIM, "tenant", NKEYS);
		float *bbase = malloc((size_t)N * DIM * sizeof(float));
		memcpy(bbase, base, (size_t)N * DIM * sizeof(float));
		unsigned char *live = malloc(N);
		memset(live, 1, N);
		/* the first keyless searches find no graph: they search the
		 * partitions and ask for one, which the maintenance thread loads
		 * and builds (5,000 points: HNSW) */
		int ready = 0;
		for (int t = 0; t < 300 && (ready = it_graphs_ready(&c, bi.shard_id, 4)) < 4; t++) {
			shoal_search_result_free(search(cl, "big", queries, false, NULL, false));
			sleep_ms(200);
		}
		CHECK(ready == 4, "%d of 4 shard-level graphs built in 60 s", ready);
		double r0 = keyless_recall(cl, "big", bbase, live, queries);
		printf("4 shards with shard-level HNSW graphs: keyless exact == brute force, HNSW "
		       "recall@10 = %.4f\n", r0);
		CHECK(r0 >= 0.95, "keyless HNSW recall@10 on the shard graphs %.4f < 0.95", r0);

		/* deletes: each query's 3 nearest; updates: a point next to each query */
		uint64_t *del = malloc(NQ * 3 * sizeof *del);
		size_t ndel = 0;
		for (int qi = 0; qi < NQ; qi++) {
			uint64_t t3[3];
			it_topk(VECMATH_L2, bbase, live, N, DIM, queries + qi * DIM, 3, t3);
			for (int j = 0; j < 3; j++) {
				del[ndel++] = t3[j];
				live[t3[j]] = 0;
			}
		}
		uint32_t ndeleted = 0;
		OK(shoal_delete(cl, "", "big", del, ndel, &ndeleted, &st_));
		CHECK(ndeleted == ndel, "deleted %u of %zu", ndeleted, ndel);
		uint64_t uid[NQ];
		char ukey[NQ][24];
		shoal_field uf[NQ];
		shoal_payload upl[NQ];
		size_t nup = 0;
		for (int qi = 0; qi < NQ; qi++) {
			uint64_t u = ((uint64_t)qi * 389 + 7) % N;
			if (!live[u])
				continue;
			for (int j = 0; j < DIM; j++)
				bbase[u * DIM + j] = queries[qi * DIM + j] + 0.001f;
			uid[nup] = u;
			it_key(u, NKEYS, ukey[nup], sizeof ukey[nup]);
			uf[nup] = (shoal_field){.key = "tenant", .type = SHOAL_VALUE_STRING, .s = ukey[nup]};
			upl[nup] = (shoal_payload){.fields = &uf[nup], .n_fields = 1};
			nup++;
		}
		float *uv = malloc(nup * DIM * sizeof *uv);
		for (size_t i = 0; i < nup; i++)
			memcpy(uv + i * DIM, bbase + uid[i] * DIM, DIM * sizeof *uv);
		shoal_batch ub = {.n = nup, .dim = DIM, .ids = uid, .vectors = uv, .payloads = upl};
		OK(shoal_upsert(cl, "", "big", &ub, NULL, &st_));
		ready = it_graphs_ready(&c, bi.shard_id, 4);
		CHECK(ready == 4, "after deletes and updates: %d of 4 graphs hold the shard's points",
		    ready);
		double r1 = keyless_recall(cl, "big", bbase, live, queries);
		printf("after %zu deletes and %zu updates: no deleted id returned, HNSW recall@10 = "
		       "%.4f\n", ndel, nup, r1);
		CHECK(r1 >= 0.95, "keyless HNSW recall@10 after deletes/updates %.4f < 0.95", r1);
		free(uv);
		free(del);
		free(live);
		free(bbase);
	}

	/* ---- 3. key-routed */
	int partitioned = -1; /* unknown until the first exact answer */
	size_t khit = 0, kq = 0;
	for (int t = 0; t < 20; t++) {
		char key[24];
		snprintf(key, sizeof key, "t%d", t * 37 % NKEYS);
		const float *q = queries + t * DIM;
		uint32_t s = shardmap_key_shard(key, 32);
		const char *owner = desc->placements[s].worker;
		int wi = it_worker_index((const char(*)[64])names, NW, owner);
		uint64_t req0[NW], ss0[NW], req1[NW], ss1[NW];
		for (int w = 0; w < NW; w++)
			it_worker_counters(c.worker_url[w], &req0[w], &ss0[w]);

		shoal_search_result *r = search(cl, "docs", q, true, key, true);
		const shoal_explain *x = r->explain;
		CHECK(x && x->n_shards == 1 && x->n_workers == 1, "key %s: %zu shards, %zu workers",
		    key, x ? x->n_shards : 0, x ? x->n_workers : 0);
		CHECK(x->shards[0].index == s && x->shards[0].shard_id == ci.shard_id + s,
		    "key %s: shard %u, want %u", key, x->shards[0].index, s);
		CHECK(strcmp(x->shards[0].worker, owner) == 0 && strcmp(x->workers[0].worker, owner) == 0,
		    "key %s: worker %s, catalog places shard %u on %s", key, x->shards[0].worker, s,
		    owner);
		CHECK(strcmp(x->shards[0].partition, key) == 0, "key %s: partition %s", key,
		    x->shards[0].partition);
		/* every hit is a point of that shard, whatever the worker does
		 * inside it */
		for (size_t i = 0; i < r->n_hits; i++) {
			char kb[24];
			it_key(r->hits[i].id, NKEYS, kb, sizeof kb);
			CHECK(shardmap_key_shard(kb, 32) == s, "key %s: hit %llu (key %s) is on "
			    "another shard", key, (unsigned long long)r->hits[i].id, kb);
		}
		uint64_t tkey[K], tshard[K];
		size_t nk = it_topk_where(VECMATH_L2, base, N, DIM, q, K, NKEYS, key, -1, 32,
		    shardmap_key_shard, tkey);
		size_t ns = it_topk_where(VECMATH_L2, base, N, DIM, q, K, NKEYS, NULL, (int)s, 32,
		    shardmap_key_shard, tshard);
		bool by_key = same_ids(r, tkey, nk, q), by_shard = same_ids(r, tshard, ns, q);
		CHECK(by_key || by_shard, "key %s: exact answer is neither the key's nor the "
		    "shard's brute-force top %d", key, K);
		if (partitioned < 0) {
			partitioned = by_key;
			printf("key-routed search: the workers search %s\n",
			    partitioned ? "the key's partition only (issue 3 partitions)"
			                : "the whole shard (no partitions yet)");
		}
		CHECK(partitioned ? by_key : by_shard, "key %s: partition behaviour changed", key);
		shoal_search_result_free(r);

		/* HNSW, no explain: the plain single-shard path */
		for (int rep = 0; rep < 5; rep++) {
			r = search(cl, "docs", q, false, key, false);
			if (partitioned) {
				CHECK(r->n_hits == nk, "key %s: %zu rows, %zu exist", key, r->n_hits, nk);
				for (size_t i = 0; i < r->n_hits && rep == 0; i++)
					for (size_t j = 0; j < nk; j++)
						khit += r->hits[i].id == tkey[j];
				kq += rep == 0;
			}
			shoal_search_result_free(r);
		}
		/* only the owner counted the 6 requests (and 6 shard searches) */
		for (int w = 0; w < NW; w++) {
			it_worker_counters(c.worker_url[w], &req1[w], &ss1[w]);
			uint64_t want = w == wi ? 6 : 0;
			CHECK(req1[w] - req0[w] == want && ss1[w] - ss0[w] == want,
			    "key %s: worker %s counted %llu requests / %llu shard searches, want %llu",
			    key, names[w], (unsigned long long)(req1[w] - req0[w]),
			    (unsigned long long)(ss1[w] - ss0[w]), (unsigned long long)want);
		}
	}
	if (partitioned) {
		double kr = (double)khit / (double)(kq * K);
		printf("key-routed HNSW: k rows every time, recall@10 = %.4f\n", kr);
		CHECK(kr >= 0.99, "key-routed recall@10 %.4f < 0.99", kr);
	}

	/* get/delete by key and by scatter */
	uint64_t gid[2] = {42, 43};
	shoal_get_result *g;
	OK(shoal_get_ex(cl, "", "docs", "t42", gid, 2, false, &g, &st_));
	CHECK(g->n_points == 1 && g->points[0].id == 42, "get by key t42: %zu points", g->n_points);
	shoal_get_result_free(g);
	OK(shoal_get(cl, "", "docs", gid, 2, false, &g, &st_));
	CHECK(g->n_points == 2, "get without key: %zu points", g->n_points);
	shoal_get_result_free(g);

	/* ---- 4. colocation */
	shoal_distribution dc = {.placement = SHOAL_PLACEMENT_SHARED, .colocate_with = "docs"};
	OK(shoal_collection_create_distributed(cl, "chunks", &p, &dc, NULL, &st_));
	shoal_collection_desc *cdesc;
	OK(shoal_collection_describe(cl, "", "chunks", &cdesc, &st_));
	CHECK(cdesc->colocation == desc->colocation && cdesc->n_placements == 32,
	    "chunks: map %llu vs %llu", (unsigned long long)cdesc->colocation,
	    (unsigned long long)desc->colocation);
	for (size_t i = 0; i < 32; i++)
		CHECK(strcmp(cdesc->placements[i].worker, desc->placements[i].worker) == 0,
		    "colocated shard %zu on %s, docs' on %s", i, cdesc->placements[i].worker,
		    desc->placements[i].worker);
	shoal_collection_desc_free(cdesc);
	shoal_distribution bad = {.placement = SHOAL_PLACEMENT_SHARED, .colocate_with = "docs",
	    .shards = 16};
	CHECK(shoal_collection_create_distributed(cl, "x", &p, &bad, NULL, &st) ==
	    SHOAL_INVALID_ARGUMENT, "colocation with another shard count accepted");

	/* ---- 5. reference collection through a worker's death */
	shoal_distribution dr = {.placement = SHOAL_PLACEMENT_REFERENCE};
	shoal_collection_params rp = {.dim = 4, .metric = SHOAL_METRIC_L2};
	OK(shoal_collection_create_distributed(cl, "countries", &rp, &dr, NULL, &st_));
	shoal_collection_desc *rdesc;
	OK(shoal_collection_describe(cl, "", "countries", &rdesc, &st_));
	CHECK(rdesc->n_placements == NW, "reference: %zu replicas", rdesc->n_placements);
	uint64_t ref_shard = rdesc->placements[0].shard_id;
	shoal_collection_desc_free(rdesc);
	it_load(cl, "", "countries", 5, 0, 200, 4);
	const int victim = 2;
	harness_signal_worker(&c, victim, SIGKILL);
	/* acknowledged while the victim is dead */
	it_load(cl, "", "countries", 5, 200, 100, 4);
	OK(shoal_count(cl, "", "countries", &count, &st_));
	CHECK(count == 300, "reference count with a worker down: %llu",
	    (unsigned long long)count);
	float rq[4];
	vecio_generate(5, 250, 1, 4, rq);
	{ /* a get reads one live replica: the points asked that exist, vectors intact */
		uint64_t rids[3] = {7, 250, 100000};
		shoal_get_result *g;
		OK(shoal_get(cl, "", "countries", rids, 3, true, &g, &st_));
		CHECK(g->n_points == 2, "reference get with a worker down: %zu of 2 points",
		    g->n_points);
		for (size_t j = 0; j < g->n_points; j++) {
			float want[4];
			const shoal_point *gp = &g->points[j];
			CHECK(gp->id == 7 || gp->id == 250, "reference get: id %llu not asked",
			    (unsigned long long)gp->id);
			vecio_generate(5, gp->id, 1, 4, want);
			CHECK(gp->dim == 4 && memcmp(gp->vector, want, sizeof want) == 0,
			    "reference get: point %llu's vector differs", (unsigned long long)gp->id);
		}
		shoal_get_result_free(g);
	}
	for (int i = 0; i < 8; i++) { /* whichever replica: the point is found */
		shoal_search_params sp = {.k = 1, .exact = true};
		shoal_search_result *r;
		OK(shoal_search(cl, "", "countries", rq, 4, &sp, &r, &st_));
		CHECK(r->n_hits == 1 && r->hits[0].id == 250, "reference search with a worker down");
		shoal_search_result_free(r);
	}
	harness_start_worker(&c, victim);
	it_wait_worker_state(cl, names[victim], true, 20000);
	bool current = false;
	for (int i = 0; i < 200 && !current; i++) {
		OK(shoal_collection_describe(cl, "", "countries", &rdesc, &st_));
		current = true;
		for (size_t j = 0; j < rdesc->n_placements; j++)
			current = current && rdesc->placements[j].current;
		shoal_collection_desc_free(rdesc);
		if (!current)
			sleep_ms(100);
	}
	CHECK(current, "the restarted replica did not catch up");
	/* the victim's own replica holds all 300 (asked directly) */
	{
		rpc_client *w;
		rpc_result res;
		CHECK(rpc_client_open(c.worker_url[victim], &shoal__worker__descriptor, NULL, &w,
			  &st) == SHOAL_OK, "open: %s", st.msg);
		Shoal__ShardCountRequest req = SHOAL__SHARD_COUNT_REQUEST__INIT;
		req.shard_id = ref_shard;
		RPC_INVOKE(shoal__worker__count, rpc_client_service(w), &req, &res);
		CHECK(res.status.code == SHOAL_OK, "replica count: %s", res.status.msg);
		uint64_t rc = ((Shoal__CountReply *)res.reply)->count;
		CHECK(rc == 300, "the restarted replica holds %llu of 300", (unsigned long long)rc);
		rpc_result_free(&res);
		rpc_client_close(w);
	}
	OK(shoal_count(cl, "", "countries", &count, &st_));
	CHECK(count == 300, "reference count after the restart: %llu", (unsigned long long)count);

	/* ---- 6. kill -9 the coordinator: same placements, same answers */
	uint64_t epoch_before;
	{
		shoal_cluster_info *info;
		OK(shoal_cluster_status(cl, &info, &st_));
		epoch_before = info->epoch;
		shoal_cluster_info_free(info);
	}
	shoal_close(cl);
	harness_signal_coordinator(&c, SIGKILL);
	harness_start_coordinator(&c);
	CHECK(harness_wait_workers_up(&c, NW, 20000), "workers not back after the restart");
	cl = it_connect(&c);
	shoal_collection_desc *after;
	OK(shoal_collection_describe(cl, "", "docs", &after, &st_));
	CHECK(after->n_placements == 32 && after->info.shard_id == desc->info.shard_id &&
	    after->colocation == desc->colocation, "docs changed over the restart");
	for (size_t i = 0; i < 32; i++)
		CHECK(strcmp(after->placements[i].worker, desc->placements[i].worker) == 0 &&
		    after->placements[i].epoch == desc->placements[i].epoch,
		    "shard %zu: %s@%llu, was %s@%llu", i, after->placements[i].worker,
		    (unsigned long long)after->placements[i].epoch, desc->placements[i].worker,
		    (unsigned long long)desc->placements[i].epoch);
	shoal_collection_desc_free(after);
	{
		shoal_cluster_info *info;
		OK(shoal_cluster_status(cl, &info, &st_));
		CHECK(info->epoch == epoch_before, "epoch %llu after restart, was %llu",
		    (unsigned long long)info->epoch, (unsigned long long)epoch_before);
		shoal_cluster_info_free(info);
	}
	OK(shoal_count(cl, "", "docs", &count, &st_));
	CHECK(count == N, "count after the restart: %llu", (unsigned long long)count);
	for (int qi = 0; qi < 5; qi++) {
		uint64_t truth[K];
		it_topk(VECMATH_L2, base, NULL, N, DIM, queries + qi * DIM, K, truth);
		shoal_search_result *r = search(cl, "docs", queries + qi * DIM, true, NULL, false);
		CHECK(same_ids(r, truth, K, queries + qi * DIM), "after the restart: query %d", qi);
		shoal_search_result_free(r);
	}

	/* ---- 7. the CLI */
	char out[16384];
	int rc = harness_run_cli(&c, out, sizeof out, "collection", "list", NULL);
	CHECK(rc == 0 && strstr(out, "docs") && strstr(out, "shared") && strstr(out, "reference"),
	    "collection list: %s", out);
	rc = harness_run_cli(&c, out, sizeof out, "search", "docs", "--gen-seed", "11",
	    "--gen-index", "7", "--key", "t7", "--explain", NULL);
	CHECK(rc == 0 && strstr(out, "1 shard on 1 worker contacted") && strstr(out, "  7 "),
	    "search --key --explain: %s", out);
	rc = harness_run_cli(&c, out, sizeof out, "load", "docs", "--gen", "10", NULL);
	CHECK(rc == 2 && strstr(out, "--keys"), "load without --keys: %s", out);

	shoal_collection_desc_free(desc);
	free(base);
	free(queries);
	shoal_close(cl);
	harness_cluster_stop(&c);
	printf("it_shared: OK\n");
	return 0;
}
