/* target_worker.c -- the "worker" target: a shoal worker's own search path
 * in this process, without the network.
 *
 * What it runs is the worker's code exactly as a Search rpc runs it: a
 * real shard_service over a real rowstore (RocksDB in a temp directory) and
 * the worker's maintenance loop on a thread of its own (HNSW builds in the
 * background, as shoal-worker does every second).  Every operation goes
 * through rpc_dispatch(), the function the worker's RPC server calls for a
 * request that arrived on its socket: the request is packed into a
 * RequestEnvelope, decoded, validated, dispatched to the handler
 * (shard lookup, partition lookup, HNSW search, hits), the reply is packed
 * into a ReplyEnvelope, and this file unpacks it as a client would.  What
 * is left out is exactly the transport (nng, TCP, the coordinator hop), so
 * "worker" vs "faiss" at the same ef_search is the cost of the worker's
 * own search path (issue 3: within 20% of raw FAISS), and "shoal" vs
 * "worker" is the cost of the network path.
 *
 * The shard is a dedicated tenant's: one partition (""), l2/ip/cosine as
 * the run's metric, M and efConstruction of the run.  Points carry no
 * payload and searches ask for none (as shoal-bench's shoal target).
 *
 * Threading: sessions may search concurrently (the worker's handlers are
 * thread-safe); load() runs on one thread.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "fsutil.h"
#include "inproc.h"
#include "rowstore.h"
#include "shard_service.h"
#include "shoal.pb-c.h"
#include "util.h"
#include "vecmath.h"

#define WORKER_MAINTAIN_MS 200 /* shoal-worker: 1000; faster here, same work */

struct bench_target {
	bench_config cfg;
	char dir[256];
	rowstore *rs;
	shard_service *svc;
	uint64_t next_shard;
	pthread_t maint;
	bool maint_started;
	atomic_bool stop;
};

struct bench_coll {
	bench_target *t;
	uint64_t shard_id;
	uint32_t dim;
};

struct bench_session {
	bench_target *t;
	uint32_t ef;
};

/* One request through the worker's dispatch, as from the network
 * (worker/inproc.h). */
static shoal_code
wcall(bench_target *t, const char *method, const ProtobufCMessage *in, ProtobufCMessage **out,
    shoal_status *st)
{
	shoal_code rv = inproc_call(shard_service_rpc(t->svc), method, in, out, st);
	if (rv != SHOAL_OK)
		shoal_status_prefix(st, "worker");
	return rv;
}

static void *
maintain_main(void *arg)
{
	bench_target *t = arg;
	while (!atomic_load(&t->stop)) {
		shard_service_maintain(t->svc, &t->stop);
		for (int i = 0; i < WORKER_MAINTAIN_MS / 10 && !atomic_load(&t->stop); i++)
			util_sleep_ms(10);
	}
	return NULL;
}

static void
worker_close(bench_target *t)
{
	if (t == NULL)
		return;
	if (t->maint_started) {
		atomic_store(&t->stop, true);
		pthread_join(t->maint, NULL);
	}
	shard_service_destroy(t->svc);
	rowstore_close(t->rs);
	if (t->dir[0] && !t->cfg.keep) {
		shoal_status st;
		if (fsutil_remove_tree(t->dir, &st) != SHOAL_OK)
			fprintf(stderr, "[worker] cannot remove %s: %s\n", t->dir, st.msg);
	} else if (t->dir[0]) {
		fprintf(stderr, "[worker] data directory kept: %s\n", t->dir);
	}
	free(t);
}

static shoal_code
worker_open(const bench_config *cfg, bench_target **out, shoal_status *st)
{
	bench_target *t = xcalloc(1, sizeof *t);
	const char *tmp = getenv("TMPDIR");
	rowstore_opts ro = {0};
	shard_service_opts so = {0};

	t->cfg = *cfg;
	t->next_shard = 1;
	atomic_init(&t->stop, false);
	snprintf(t->dir, sizeof t->dir, "%s/shoal-bench-worker-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (mkdtemp(t->dir) == NULL) {
		t->dir[0] = '\0';
		shoal_status_set(st, SHOAL_UNAVAILABLE, "worker: cannot create a temp directory");
		worker_close(t);
		return SHOAL_UNAVAILABLE;
	}
	if (rowstore_open(t->dir, &ro, &t->rs, st) != SHOAL_OK ||
	    shard_service_create_opts("bench-in-process", t->rs, &so, &t->svc, st) != SHOAL_OK) {
		shoal_status_prefix(st, "worker in process (%s)", t->dir);
		worker_close(t);
		return SHOAL_UNAVAILABLE;
	}
	if (pthread_create(&t->maint, NULL, maintain_main, t) != 0) {
		worker_close(t);
		return shoal_status_set(st, SHOAL_UNAVAILABLE, "worker: cannot start a thread");
	}
	t->maint_started = true;
	*out = t;
	return SHOAL_OK;
}

static void
worker_versions(bench_target *t, void (*put)(void *, const char *, const char *), void *arg)
{
	(void)t;
	put(arg, "worker", "in process (shoal's Worker.Search dispatch, no network)");
}

static shoal_code
worker_create(bench_target *t, const char *group, const char *name, uint32_t dim,
    bench_coll **out, shoal_status *st)
{
	(void)group;
	(void)name;
	Shoal__ShardSpec spec = SHOAL__SHARD_SPEC__INIT;
	Shoal__CreateShardRequest req = SHOAL__CREATE_SHARD_REQUEST__INIT;
	spec.shard_id = t->next_shard++;
	spec.dim = dim;
	spec.metric = t->cfg.metric == VECMATH_L2 ? SHOAL__METRIC__METRIC_L2
	    : t->cfg.metric == VECMATH_IP        ? SHOAL__METRIC__METRIC_IP
	                                         : SHOAL__METRIC__METRIC_COSINE;
	spec.m = t->cfg.m;
	spec.ef_construction = t->cfg.ef_construction;
	req.spec = &spec;
	ProtobufCMessage *rep = NULL;
	if (wcall(t, "CreateShard", &req.base, &rep, st) != SHOAL_OK)
		return st->code;
	protobuf_c_message_free_unpacked(rep, NULL);
	bench_coll *c = xcalloc(1, sizeof *c);
	c->t = t;
	c->shard_id = spec.shard_id;
	c->dim = dim;
	*out = c;
	return SHOAL_OK;
}

static shoal_code
worker_load(bench_target *t, bench_coll *c, const float *v, size_t n, int64_t first_id,
    bench_load_times *times, void (*progress)(void *, size_t), void *parg, shoal_status *st)
{
	size_t batch = t->cfg.batch ? t->cfg.batch : 1000;
	Shoal__Point *pv = xcalloc(batch, sizeof *pv);
	Shoal__Point **pp = xcalloc(batch, sizeof *pp);
	double t0 = bench_now_s();
	shoal_code rv = SHOAL_OK;

	for (size_t i = 0; i < n && rv == SHOAL_OK; i += batch) {
		size_t b = n - i < batch ? n - i : batch;
		for (size_t j = 0; j < b; j++) {
			pv[j] = (Shoal__Point)SHOAL__POINT__INIT;
			pv[j].id = (uint64_t)(first_id + (int64_t)(i + j));
			pv[j].version = 1;
			pv[j].n_vector = c->dim;
			pv[j].vector = (float *)(v + (i + j) * c->dim);
			pp[j] = &pv[j];
		}
		Shoal__ShardUpsertRequest req = SHOAL__SHARD_UPSERT_REQUEST__INIT;
		req.shard_id = c->shard_id;
		req.n_points = b;
		req.points = pp;
		ProtobufCMessage *rep = NULL;
		if ((rv = wcall(t, "Upsert", &req.base, &rep, st)) == SHOAL_OK)
			protobuf_c_message_free_unpacked(rep, NULL);
		if (progress)
			progress(parg, i + b);
	}
	free(pv);
	free(pp);
	/* the HNSW graph is built by the maintenance thread: main.c waits for
	 * it (background_index) and counts that as build time */
	times->load_s = bench_now_s() - t0;
	times->build_s = 0;
	return rv;
}

static shoal_code
worker_session_open(bench_target *t, bench_session **out, shoal_status *st)
{
	(void)st;
	bench_session *s = xcalloc(1, sizeof *s);
	s->t = t;
	*out = s;
	return SHOAL_OK;
}

static void
worker_session_close(bench_session *s)
{
	free(s);
}

static shoal_code
worker_set_ef(bench_session *s, uint32_t ef, shoal_status *st)
{
	(void)st;
	s->ef = ef;
	return SHOAL_OK;
}

static shoal_code
worker_search(bench_session *s, bench_coll *c, const float *q, uint32_t k, int64_t *ids,
    size_t *n_ids, shoal_status *st)
{
	Shoal__ShardSearchRequest req = SHOAL__SHARD_SEARCH_REQUEST__INIT;
	req.shard_id = c->shard_id;
	req.vector = (float *)q;
	req.n_vector = c->dim;
	req.k = k;
	req.ef_search = s->ef;
	ProtobufCMessage *m = NULL;
	if (wcall(s->t, "Search", &req.base, &m, st) != SHOAL_OK)
		return st->code;
	const Shoal__SearchReply *rep = (const Shoal__SearchReply *)m;
	size_t n = rep->n_hits < k ? rep->n_hits : k;
	for (size_t i = 0; i < n; i++)
		ids[i] = (int64_t)rep->hits[i]->id;
	*n_ids = n;
	protobuf_c_message_free_unpacked(m, NULL);
	return SHOAL_OK;
}

static void
worker_drop(bench_target *t, bench_coll *c)
{
	if (c == NULL)
		return;
	if (!t->cfg.keep) {
		Shoal__DropShardRequest req = SHOAL__DROP_SHARD_REQUEST__INIT;
		req.shard_id = c->shard_id;
		shoal_status st;
		ProtobufCMessage *rep = NULL;
		if (wcall(t, "DropShard", &req.base, &rep, &st) == SHOAL_OK)
			protobuf_c_message_free_unpacked(rep, NULL);
	}
	free(c);
}

const bench_target_ops bench_worker_ops = {
	.name = "worker",
	.background_index = true,
	.open = worker_open,
	.versions = worker_versions,
	.create = worker_create,
	.load = worker_load,
	.session_open = worker_session_open,
	.session_close = worker_session_close,
	.set_ef = worker_set_ef,
	.search = worker_search,
	.drop = worker_drop,
	.close = worker_close,
};
