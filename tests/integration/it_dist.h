/* it_dist.h -- helpers of the shared/reference collection integration tests
 * (it_shared.c, it_scatter_fail.c): keyed loads, worker names, a worker's
 * own counters (its Status, asked directly over the Worker service). */
#ifndef SHOAL_IT_DIST_H
#define SHOAL_IT_DIST_H

#include <stdio.h>

#include "it_common.h"
#include "rpc.h"
#include "shoal.pb-c.h"

/* Key of point id: "t<id mod nkeys>" (as 'shoal load --keys'). */
static inline void
it_key(uint64_t id, uint64_t nkeys, char *buf, size_t cap)
{
	snprintf(buf, cap, "t%llu", (unsigned long long)(id % nkeys));
}

/* Upserts generated vectors first..first+n-1 (id = index) of a shared
 * collection, each with payload field `field` = its key. */
static inline void
it_load_keyed(shoal_client *cl, const char *coll, uint64_t seed, uint64_t first, size_t n,
    uint32_t dim, const char *field, uint64_t nkeys)
{
	const size_t batch = 1000;
	float *v = malloc(batch * dim * sizeof(float));
	uint64_t *ids = malloc(batch * sizeof(uint64_t));
	char (*keys)[24] = malloc(batch * sizeof *keys);
	shoal_field *f = malloc(batch * sizeof *f);
	shoal_payload *pl = malloc(batch * sizeof *pl);
	for (size_t done = 0; done < n;) {
		size_t m = n - done < batch ? n - done : batch;
		vecio_generate(seed, first + done, m, dim, v);
		for (size_t i = 0; i < m; i++) {
			ids[i] = first + done + i;
			it_key(ids[i], nkeys, keys[i], sizeof keys[i]);
			f[i] = (shoal_field){.key = field, .type = SHOAL_VALUE_STRING, .s = keys[i]};
			pl[i] = (shoal_payload){.fields = &f[i], .n_fields = 1};
		}
		shoal_batch b = {.n = m, .dim = dim, .ids = ids, .vectors = v, .payloads = pl};
		uint32_t up = 0;
		shoal_status st;
		shoal_code rc = shoal_upsert(cl, "", coll, &b, &up, &st);
		CHECK(rc == SHOAL_OK, "upsert at %zu: %s: %s", done, shoal_code_name(rc), st.msg);
		CHECK(up == m, "upsert acknowledged %u of %zu", up, m);
		done += m;
	}
	free(v);
	free(ids);
	free(keys);
	free(f);
	free(pl);
}

/* The name the coordinator knows worker i by (matched by its URL). */
static inline void
it_worker_name(harness_cluster *c, shoal_client *cl, int i, char *out, size_t cap)
{
	shoal_cluster_info *ci;
	shoal_status st;
	out[0] = '\0';
	for (int tries = 0; tries < 100 && out[0] == '\0'; tries++) {
		CHECK(shoal_cluster_status(cl, &ci, &st) == SHOAL_OK, "status: %s", st.msg);
		for (size_t j = 0; j < ci->n_workers; j++)
			if (strcmp(ci->workers[j].url, c->worker_url[i]) == 0)
				snprintf(out, cap, "%s", ci->workers[j].name);
		shoal_cluster_info_free(ci);
		if (out[0] == '\0') {
			struct timespec ts = {0, 50000000};
			nanosleep(&ts, NULL);
		}
	}
	CHECK(out[0] != '\0', "worker %d (%s) is not known to the coordinator", i,
	    c->worker_url[i]);
}

/* Index of the worker named `name`, or -1. */
static inline int
it_worker_index(const char names[][64], int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (strcmp(names[i], name) == 0)
			return i;
	return -1;
}

/* Waits until the coordinator sees worker `name` as up (want) or down. */
static inline void
it_wait_worker_state(shoal_client *cl, const char *name, bool want, int timeout_ms)
{
	shoal_status st;
	for (int waited = 0; waited < timeout_ms; waited += 50) {
		shoal_cluster_info *ci;
		bool up = false;
		CHECK(shoal_cluster_status(cl, &ci, &st) == SHOAL_OK, "status: %s", st.msg);
		for (size_t j = 0; j < ci->n_workers; j++)
			if (strcmp(ci->workers[j].name, name) == 0)
				up = ci->workers[j].up;
		shoal_cluster_info_free(ci);
		if (up == want)
			return;
		struct timespec ts = {0, 50000000};
		nanosleep(&ts, NULL);
	}
	CHECK(false, "worker %s did not become %s in %d ms", name, want ? "up" : "down",
	    timeout_ms);
}

/* The Status reply of the worker at url, asked directly over the Worker
 * service; *res holds it (rpc_result_free). */
static inline const Shoal__WorkerStatusReply *
it_worker_status(const char *url, rpc_result *res)
{
	rpc_client *w;
	shoal_status st;
	CHECK(rpc_client_open(url, &shoal__worker__descriptor, NULL, &w, &st) == SHOAL_OK,
	    "open %s: %s", url, st.msg);
	Shoal__WorkerStatusRequest req = SHOAL__WORKER_STATUS_REQUEST__INIT;
	RPC_INVOKE(shoal__worker__status, rpc_client_service(w), &req, res);
	rpc_client_close(w);
	CHECK(res->status.code == SHOAL_OK, "worker status %s: %s", url, res->status.msg);
	return (const Shoal__WorkerStatusReply *)res->reply;
}

/* A worker's own search counters (Worker.Status, asked directly). */
static inline void
it_worker_counters(const char *url, uint64_t *requests, uint64_t *shard_searches)
{
	rpc_result res;
	const Shoal__WorkerStatusReply *r = it_worker_status(url, &res);
	*requests = r->search_requests;
	*shard_searches = r->shard_searches;
	rpc_result_free(&res);
}

/* Shards among [first, first + n) whose keyless searches are answered by
 * their shard-level graph (every worker's Worker.Status, asked directly):
 * the graph holds exactly the shard's live points and has its HNSW graph,
 * or the shard is small enough (<= 1,024 points, SHARD_INDEX_EXACT_MAX)
 * for one exact scan of it.  A shard of one partition needs no graph (that
 * partition is the shard) and counts too; an empty one does not. */
static inline int
it_graphs_ready(harness_cluster *c, uint64_t first, uint32_t n)
{
	int ready = 0;
	for (int w = 0; w < c->nworkers; w++) {
		rpc_result res;
		const Shoal__WorkerStatusReply *r = it_worker_status(c->worker_url[w], &res);
		for (size_t i = 0; i < r->n_shards; i++) {
			const Shoal__ShardStats *x = r->shards[i];
			bool graph = x->graph_points == x->points && (x->graph_hnsw || x->points <= 1024);
			ready += x->shard_id >= first && x->shard_id < first + n && x->points > 0 &&
			    (graph || x->partitions == 1);
		}
		rpc_result_free(&res);
	}
	return ready;
}

/* Brute-force top-k ids among base[0..n) restricted to the points whose
 * key hashes to shard `shard` of nshards (shard < 0: no restriction) or,
 * with key != NULL, whose key is `key`. */
static inline size_t
it_topk_where(int metric, const float *base, size_t n, uint32_t dim, const float *q, size_t k,
    uint64_t nkeys, const char *key, int shard, uint32_t nshards,
    uint32_t (*shard_of)(const char *, uint32_t), uint64_t *out)
{
	it_pair *p = malloc(n * sizeof *p);
	size_t m = 0;
	char kb[24];
	for (size_t i = 0; i < n; i++) {
		it_key(i, nkeys, kb, sizeof kb);
		if (key != NULL && strcmp(kb, key) != 0)
			continue;
		if (shard >= 0 && (int)shard_of(kb, nshards) != shard)
			continue;
		p[m].d = vecmath_distance(metric, q, base + i * dim, dim);
		p[m].id = i;
		m++;
	}
	qsort(p, m, sizeof *p, it_pair_cmp);
	size_t got = m < k ? m : k;
	for (size_t i = 0; i < got; i++)
		out[i] = p[i].id;
	free(p);
	return got;
}

#endif
