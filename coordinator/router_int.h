/* router_int.h -- what router.c shares with its sibling modules (dist.c:
 * shared and reference collections; search.c: the search planner and
 * scatter-gather).  Not for use outside coordinator/.
 *
 * The router struct lives here so that the siblings can reach the catalog,
 * the worker method indexes and the worker table; the worker table itself
 * (r->ws) is only touched through the router_* functions below, which take
 * r->mu.
 */
#ifndef SHOAL_COORD_ROUTER_INT_H
#define SHOAL_COORD_ROUTER_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "catalog.h"
#include "pg_import.h"
#include "router.h"
#include "rpc.h"
#include "shoal.pb-c.h"

/* A routing refusal (FAILED_PRECONDITION with an epoch) is re-routed at
 * most this many times per request: each time the placement must have
 * changed, so more would mean placements changing faster than requests. */
#define ROUTER_MAX_REROUTES 3

typedef struct wconn {
	rpc_client *client;
	int refs; /* guarded by router.mu; the wstate holding it counts one */
} wconn;

typedef struct wstate {
	char name[CATALOG_NAME_MAX];
	char url[CATALOG_URL_MAX]; /* the URL conn dials */
	wconn *conn;               /* NULL until first needed */
	uint64_t last_seen;        /* util_mono_ms() of last heartbeat; 0 = none yet */
	uint64_t points, bytes;
	uint32_t shards;
	uint64_t memory_bytes; /* heartbeat: resident memory */
	double rps;            /* heartbeat: requests served per second */
} wstate;

struct router {
	Shoal__Coordinator_Service svc; /* first: handlers cast svc back to router */
	catalog *cat;
	uint32_t worker_timeout_ms;
	char *auth_token;
	const rpc_tls_options *tls; /* router_opts.tls (borrowed) */
	uint64_t started; /* util_mono_ms() at router_create */

	pthread_mutex_t mu; /* guards ws */
	wstate *ws;
	size_t n_ws, cap_ws;

	pthread_mutex_t ddl_mu; /* guards busy; ddl_cv signals releases */
	pthread_cond_t ddl_cv;
	char (*busy)[CATALOG_NAME_MAX];
	size_t n_busy, cap_busy;

	pg_import *imp; /* import jobs (router_set_importer); NULL = none */
	struct move_mgr *mv; /* online moves (move.h); created by router_create */
	struct rb_mgr *rb;   /* rebalance / drain (rebalance.h) */
	struct reclaim *rc;  /* orphan-shard sweeper (reclaim.h) */

	/* Worker method indexes, looked up by name once. */
	unsigned m_create_shard, m_drop_shard, m_upsert, m_search, m_get, m_delete, m_count,
	    m_status, m_multi_search;

	/* dist.c: catch-up of reference replicas (one background thread). */
	pthread_t repair_tid;
	bool repair_started;
	pthread_mutex_t repair_mu;
	pthread_cond_t repair_cv; /* signalled on stop and when work is queued */
	bool repair_stop;
	atomic_uint_fast64_t rr;  /* round robin over reference replicas */
};

/* Health of a worker as the heartbeats tell it. */
typedef struct router_health {
	bool known;          /* registered in the catalog */
	bool up;             /* heartbeat within the worker timeout */
	bool seen;           /* a heartbeat since this coordinator started */
	uint64_t ago_ms;     /* since the last heartbeat (or since start) */
	char url[CATALOG_URL_MAX];
} router_health;

void router_worker_health(router *r, const char *worker, router_health *h);

/* Takes a reference on the connection to `worker` (opened on first use);
 * url receives its URL (CATALOG_URL_MAX bytes), *up its heartbeat state.
 * UNAVAILABLE for a worker the catalog does not know. */
shoal_code router_conn_acquire(router *r, const char *worker, wconn **out, char *url, bool *up,
    shoal_status *st);
void router_conn_release(router *r, wconn *c);

/* The time a downstream call may take within the caller's deadline (cd):
 * the remaining time less a reply margin, capped at cap_ms when non-zero
 * and at 2 s for a worker that is not up.  0 = the deadline has passed.
 * cd NULL (a background thread's call): cap_ms, which must be non-zero. */
uint32_t router_downstream_ms(router *r, void *cd, uint32_t cap_ms, bool up);

/* Turns a failed worker call (res, method name, timeout used) into st with
 * context: an unreachable worker is named with its URL, a worker's own
 * error passes through.  Frees res.  Returns the code. */
shoal_code router_worker_error(router *r, const char *worker, const char *url,
    const char *mname, uint32_t timeout_ms, rpc_result *res, shoal_status *st);

/* Calls `method` on `worker` with routing epoch `epoch` (0 = none) within
 * cd's deadline (capped at cap_ms when non-zero; cd NULL: cap_ms).  On OK res->reply is the
 * reply (rpc_result_free); on error st says why, res->reply is NULL and
 * res->epoch keeps the epoch of a routing refusal. */
shoal_code router_worker_call(router *r, void *cd, const char *worker, unsigned method,
    const ProtobufCMessage *in, uint32_t cap_ms, uint64_t epoch, rpc_result *res,
    shoal_status *st);

/* True for a worker's routing refusal: FAILED_PRECONDITION with an epoch. */
static inline bool
router_is_reroute(shoal_code code, uint64_t reply_epoch)
{
	return code == SHOAL_FAILED_PRECONDITION && reply_epoch != 0;
}

/* Per-name DDL lock (tenants and cluster-level collections share it). */
void router_ddl_lock(router *r, const char *name);
void router_ddl_unlock(router *r, const char *name);

/* Fails the call with st. */
void router_fail(void *cd, const shoal_status *st);

/* The placement view of every registered worker (placement.h): *cw and
 * *view malloc'ed, view[i].name points into (*cw)[i]; *last_seen (may be
 * NULL) the heartbeat time of each (0 = none since start).  Caller frees
 * all three.  Returns the count. */
struct placement_worker;
size_t router_placement_view(router *r, catalog_worker **cw, struct placement_worker **view,
    uint64_t **last_seen);

/* OK when worker `name` is registered and up; NOT_FOUND / UNAVAILABLE
 * (saying since when it is down) otherwise. */
shoal_code router_check_worker_up(router *r, const char *name, shoal_status *st);

/* Point counts per shard, from the workers' Status (listings). */
typedef struct shard_points {
	uint64_t shard;
	uint64_t points;
} shard_points;

/* Asks each distinct up worker among workers[0..n) for its shards' counts
 * (at most 2 s each; one that cannot answer counts 0): *out malloc'ed,
 * sorted by shard; returns the count.  router_points_of looks one up. */
size_t router_shard_points(router *r, void *cd, const char (*workers)[CATALOG_NAME_MAX],
    size_t n, shard_points **out);
uint64_t router_points_of(const shard_points *sp, size_t n, uint64_t shard);

/* Validates a collection spec's common part (name, dim, metric, m,
 * ef_construction; the tenant unless it is "") into *c. */
shoal_code router_check_spec(const Shoal__CollectionSpec *in, catalog_collection *c,
    shoal_status *st);

/* Checks of client input shared by the data paths (router.c). */
shoal_code router_check_vector(const float *v, size_t n, uint32_t dim, const char *coll,
    const char *what, shoal_status *st);
shoal_code router_check_point(const Shoal__Point *p, size_t idx, uint32_t dim, const char *coll,
    shoal_status *st);

/* Parallel calls to workers (dist.c).  Fill worker, epoch, method and in;
 * router_call_all starts every call, then waits for all, so n calls take
 * about as long as the slowest. */
typedef struct router_call {
	char worker[CATALOG_NAME_MAX];
	uint64_t epoch;              /* routing epoch sent (0 = none) */
	unsigned method;
	const ProtobufCMessage *in;
	/* results */
	shoal_code rv;
	shoal_status st;             /* with context, as router_worker_call */
	rpc_result res;              /* OK: the reply (rpc_result_free);
	                                refusal: res.epoch */
	char url[CATALOG_URL_MAX];
	uint64_t micros;             /* round trip */
	bool skipped;                /* not called: the worker is down */
	/* private */
	wconn *conn_;
	rpc_pending *p_;
	uint32_t timeout_;
} router_call;

/* Runs calls[0..n) in parallel within cd's deadline (capped at cap_ms when
 * non-zero).  With fail_fast_down, a worker whose heartbeats stopped is
 * not called: its call fails at once with UNAVAILABLE "worker W (URL) is
 * down: last heartbeat N ms ago" (skipped = true). */
void router_call_all(router *r, void *cd, router_call *calls, size_t n, uint32_t cap_ms,
    bool fail_fast_down);
/* Frees the replies of calls[0..n). */
void router_calls_free(router_call *calls, size_t n);

/* ---- dist.c ------------------------------------------------------------ */

/* Handlers for cluster-level collections (tenant == ""), called by the
 * Coordinator handlers in router.c; each replies through done. */
void dist_create_collection(router *r, const Shoal__CollectionSpec *in,
    Shoal__CollectionInfo_Closure done, void *cd);
void dist_list_collections(router *r, Shoal__ListCollectionsReply_Closure done, void *cd);
void dist_drop_collection(router *r, const Shoal__DropCollectionRequest *in,
    Shoal__Empty_Closure done, void *cd);
void dist_upsert(router *r, const Shoal__UpsertRequest *in, Shoal__UpsertReply_Closure done,
    void *cd);
void dist_get(router *r, const Shoal__GetRequest *in, Shoal__GetReply_Closure done, void *cd);
void dist_delete(router *r, const Shoal__DeleteRequest *in, Shoal__DeleteReply_Closure done,
    void *cd);
void dist_count(router *r, const Shoal__CountRequest *in, Shoal__CountReply_Closure done,
    void *cd);

/* Checks that a spec naming a tenant (a dedicated collection) uses none of
 * the cluster-level options.  INVALID_ARGUMENT otherwise. */
shoal_code dist_check_dedicated_spec(const Shoal__CollectionSpec *in, shoal_status *st);

/* Placements of shared shards and reference replicas per worker (for
 * Status and placement).  *shards / *replicas may be NULL. */
void dist_worker_placements(router *r, const char *worker, uint32_t *shards,
    uint32_t *replicas);

/* Reference replicas that may serve reads now: worker up (or not yet seen
 * since start) and nothing queued for its shard.  Fills out (nplaces
 * entries) with indexes into c->places, best first; returns how many. */
size_t dist_readable_replicas(router *r, const catalog_dcoll *c, size_t *out);

/* Crash-safe drops of dedicated collections (dist.c, decision 63): queues
 * a DropShard of each of shards[0..n) on worker durably (*out: the entries
 * with their seqs, for dist_drops_done) -- BEFORE the catalog commit that
 * removes them.  The catch-up thread discards a queued DropShard whose
 * shard the catalog still places on that worker (the commit did not
 * happen) and replays the others. */
shoal_code dist_queue_drops(router *r, const char *worker, const uint64_t *shards, size_t n,
    catalog_queued **out, shoal_status *st);
/* After the drop: dequeues q[i] when applied[i] (sent and acknowledged,
 * or the commit failed: nothing to drop); the others stay queued (and are
 * queued again when requeue: the catch-up thread may have discarded them
 * before the commit) and the catch-up thread is woken.  Frees q. */
void dist_drops_done(router *r, catalog_queued *q, const bool *applied, size_t n, bool requeue);

/* The catch-up thread (queued requests to reference replicas). */
void dist_start(router *r);
void dist_stop(router *r);
void dist_kick(router *r);

/* ---- search.c ---------------------------------------------------------- */

/* The Search handler for every placement model. */
void search_handle(router *r, const Shoal__SearchRequest *in, Shoal__SearchReply_Closure done,
    void *cd);

/* The per-shard k of a scatter of k over `shards` shards (search.c,
 * "Per-shard k"): the smallest k_s in 1..k with shards x P(X >= k_s) <=
 * 1%, X ~ Binomial(k, 1/shards) the number of the top k in one shard.
 * k for shards <= 1 or k <= 1.  Pure. */
uint32_t search_scatter_k(uint32_t k, uint32_t shards);

/* keys.c: the tenant API key handlers (access rules: keys.h). */
void h_create_tenant_key(Shoal__Coordinator_Service *svc, const Shoal__TenantKeyRequest *in,
    Shoal__TenantKeyInfo_Closure done, void *cd);
void h_list_tenant_keys(Shoal__Coordinator_Service *svc, const Shoal__TenantKeyRequest *in,
    Shoal__ListTenantKeysReply_Closure done, void *cd);
void h_revoke_tenant_key(Shoal__Coordinator_Service *svc, const Shoal__TenantKeyRequest *in,
    Shoal__Empty_Closure done, void *cd);

#endif
