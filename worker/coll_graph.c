/* coll_graph.c -- graphs over several shards of a collection
 * (coll_graph.h): groups, the commit hook, background builds, search.
 *
 * A group is a set of shards asked for together by keyless scatters.  Its
 * installed state (`cgstate`) is a partition state (partition.h) whose
 * point ids are group ids (gids), plus the map (slot, point id) -> gid and
 * gid -> (slot, point id); slot = the shard's index in the state's sorted
 * shard list.  A gid is never reused within a state, so "set gid" and
 * "delete gid" are the partition's own upsert/delete: an overwrite or a
 * delete of a point kills its old label (partition.h), and a search skips
 * dead labels.
 *
 * Invariants:
 *  1. An installed state reflects exactly the committed rows of its
 *     shards: built from one rowstore view of all of them, plus every
 *     write committed since the capture began (captured before the view
 *     was opened, replayed before install), plus every later commit
 *     through coll_graphs_on_commit, which runs under the shard's write
 *     mutex (commit order per shard; shards are independent).
 *  2. A state is only searched for a request naming every shard it covers
 *     (no unrequested shard's label can come back), and is dropped when
 *     one of its shards leaves the worker (coll_graphs_shard_gone), so a
 *     label can never outlive its shard here.
 *  3. If a FAISS add fails, the state is dropped (partition.h: never a
 *     label without its vector); a scatter asks for it again.
 *
 * Capture: the protocol of capture.h (its queue, replay in rounds and
 * writers' backpressure), as shard_index.c uses it, with one source:
 *   1. under mu: capture_begin, bld = the shards -- the hook now queues a
 *      copy of every applied write of those shards in `cq`, tagged with
 *      its shard id (a replayed run of one shard's ops maps ids to gids);
 *   2. open a rowstore view; read every live row of the shards through it;
 *   3. build the state off-lock (searches go on, on the old state if any);
 *   4. capture_replay with this file's limits (CG_ROUNDS, CG_LAST_MAX,
 *      CG_CHUNK; only writers of the shards in bld wait), then the state
 *      is swapped in under rw, holding mu since the last round began.
 *   A shard leaving meanwhile bumps `gen`; the replay checks it before
 *   each round and a build that sees gen moved discards its state.
 *
 * Locks, in order: mu -> rw -> (ixmem's mutex).
 *   lk  the group table (appends only; the hook reads it lock-free
 *       through the atomic count: groups are never freed before destroy)
 *   mu  cq (capture.h), bld, want, and which state is installed; the
 *       hook holds it while applying a batch (so states change in commit
 *       order); searches do not wait for it once a graph is installed
 *   rw  the installed state's content: searches read, the hook writes in
 *       slices of CG_APPLY_SLICE ops (a search waits one slice at most);
 *       writer-preferring
 * The hook runs under a shard's rowstore mutex; nothing here takes that
 * mutex (the build reads through a view, holding no lock of ours).
 */
#include "coll_graph.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "capture.h"
#include "log.h"
#include "partition.h"
#include "util.h"
#include "vecmath.h"

#define CG_MAX_GROUPS 256
#define CG_APPLY_SLICE 64     /* ops per write-locked apply (as shard_index.c) */
#define CG_ROUNDS 8           /* replay rounds before the blocking last one */
#define CG_LAST_MAX 1024      /* pending writes small enough for the last round */
#define CG_CHUNK 256          /* writes replayed between grants to writers */
#define CG_RETRY_MS 60000     /* a failed build is not retried sooner */
#define CG_CANCEL_POLL 4096   /* rows read between looks at *cancel */
#define CG_REBUILD_MIN_STALE 1024 /* rebuild once stale labels pass max(live, this) */

static const capture_limits cg_capture_lim = {CG_ROUNDS, CG_LAST_MAX, CG_CHUNK};

/* ===================================================================
 * (slot, id) -> gid
 * =================================================================== */

typedef struct keymap {
	uint64_t *ids;
	uint32_t *slots;
	uint64_t *gids; /* UINT64_MAX = free */
	size_t cap, n;  /* cap: power of two */
} keymap;

static uint64_t
km_hash(uint32_t slot, uint64_t id)
{
	uint64_t x = id ^ ((uint64_t)slot * 0x9e3779b97f4a7c15ULL);
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* The slot holding (slot, id), or the free slot where it would go. */
static size_t
km_pos(const keymap *m, uint32_t slot, uint64_t id)
{
	size_t i = km_hash(slot, id) & (m->cap - 1);

	while (m->gids[i] != UINT64_MAX && (m->ids[i] != id || m->slots[i] != slot))
		i = (i + 1) & (m->cap - 1);
	return i;
}

static void
km_grow(keymap *m)
{
	keymap o = *m;

	m->cap = o.cap ? o.cap * 2 : 1024;
	m->ids = xmalloc(m->cap * sizeof *m->ids);
	m->slots = xmalloc(m->cap * sizeof *m->slots);
	m->gids = xmalloc(m->cap * sizeof *m->gids);
	memset(m->gids, 0xff, m->cap * sizeof *m->gids);
	for (size_t i = 0; i < o.cap; i++)
		if (o.gids[i] != UINT64_MAX) {
			size_t j = km_pos(m, o.slots[i], o.ids[i]);
			m->ids[j] = o.ids[i];
			m->slots[j] = o.slots[i];
			m->gids[j] = o.gids[i];
		}
	free(o.ids);
	free(o.slots);
	free(o.gids);
}

/* ===================================================================
 * States
 * =================================================================== */

typedef struct cgstate {
	pstate *ps;
	uint64_t *shards;  /* sorted; a shard's index is its slot */
	size_t nshards;
	keymap km;
	uint32_t *gslot;   /* per gid */
	uint64_t *gid_id;  /* per gid */
	size_t ngid, gcap;
} cgstate;

static void
cs_free(cgstate *cs)
{
	if (cs == NULL)
		return;
	pstate_free(cs->ps);
	free(cs->shards);
	free(cs->km.ids);
	free(cs->km.slots);
	free(cs->km.gids);
	free(cs->gslot);
	free(cs->gid_id);
	free(cs);
}

static uint64_t
cs_bytes(const cgstate *cs)
{
	return (cs->ps ? pstate_bytes(cs->ps) : 0) +
	    cs->km.cap * (2 * sizeof(uint64_t) + sizeof(uint32_t)) +
	    cs->gcap * (sizeof(uint32_t) + sizeof(uint64_t)) + sizeof *cs;
}

/* Index of shard in the sorted list ids[n], or -1. */
static ptrdiff_t
ids_find(const uint64_t *ids, size_t n, uint64_t shard)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (ids[mid] < shard)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && ids[lo] == shard ? (ptrdiff_t)lo : -1;
}

/* The gid of (slot, id); a new one when absent and `create`.  Returns
 * false when absent and !create. */
static bool
cs_gid(cgstate *cs, uint32_t slot, uint64_t id, bool create, uint64_t *gid)
{
	size_t i;

	if (cs->km.cap > 0) {
		i = km_pos(&cs->km, slot, id);
		if (cs->km.gids[i] != UINT64_MAX) {
			*gid = cs->km.gids[i];
			return true;
		}
	}
	if (!create)
		return false;
	if ((cs->km.n + 1) * 2 > cs->km.cap)
		km_grow(&cs->km);
	i = km_pos(&cs->km, slot, id);
	if (cs->ngid == cs->gcap) {
		cs->gcap = cs->gcap ? cs->gcap * 2 : 1024;
		cs->gslot = xrealloc(cs->gslot, cs->gcap * sizeof *cs->gslot);
		cs->gid_id = xrealloc(cs->gid_id, cs->gcap * sizeof *cs->gid_id);
	}
	cs->gslot[cs->ngid] = slot;
	cs->gid_id[cs->ngid] = id;
	cs->km.ids[i] = id;
	cs->km.slots[i] = slot;
	cs->km.gids[i] = cs->ngid;
	cs->km.n++;
	*gid = cs->ngid++;
	return true;
}

/* Applies ops (point ids of `shard`) to the state; nothing when the state
 * does not cover the shard.  On error the state must be discarded. */
static shoal_code
cs_apply(cgstate *cs, const shard_spec *spec, uint64_t shard, const pstate_op *ops, size_t n,
    shoal_status *st)
{
	ptrdiff_t slot = ids_find(cs->shards, cs->nshards, shard);
	pstate_op *t;
	size_t m = 0;
	shoal_code rv;

	if (slot < 0 || n == 0)
		return SHOAL_OK;
	t = xmalloc(n * sizeof *t);
	for (size_t i = 0; i < n; i++) {
		uint64_t gid;
		if (!cs_gid(cs, (uint32_t)slot, ops[i].id, !ops[i].deleted, &gid))
			continue; /* a delete of a point the state never had */
		t[m] = ops[i];
		t[m++].id = gid;
	}
	rv = pstate_apply(cs->ps, spec, t, m, st);
	free(t);
	return rv;
}

/* ===================================================================
 * Groups
 * =================================================================== */

typedef struct group {
	ixmem_ent mem;            /* first: ixmem callbacks cast back */
	coll_graphs *cg;
	pthread_mutex_t mu;
	pthread_rwlock_t rw;
	cgstate *cs;              /* installed; NULL = none (mu + rw to change) */
	shard_spec spec;          /* of cs (dim, metric, m, ef_construction) */
	capture_queue cq;         /* mu: a build's captured writes (active = building) */
	uint64_t *bld;            /* mu: the shards being built (sorted) */
	size_t nbld;
	uint64_t gen;             /* mu: bumped when a shard leaves */
	uint64_t *want;           /* mu: shards scatters asked for (sorted) */
	size_t nwant;             /* >= 2: a build is wanted */
	uint64_t retry_ms;        /* mu: no new want before this (a failure) */
} group;

struct coll_graphs {
	rowstore *rs;
	ixmem *mem;
	pthread_mutex_t lk;       /* appends to groups */
	group *groups[CG_MAX_GROUPS];
	atomic_size_t ngroups;
	_Atomic uint64_t builds, build_failures, searches, shards_answered, invalidations,
	    evictions;
};

/* Unlinks and frees the installed state.  Caller holds g->mu. */
static void
drop_state_locked(group *g, bool evicted)
{
	cgstate *cs;

	pthread_rwlock_wrlock(&g->rw);
	cs = g->cs;
	g->cs = NULL;
	pthread_rwlock_unlock(&g->rw);
	if (cs == NULL)
		return;
	if (g->cg->mem != NULL)
		ixmem_unloaded(g->cg->mem, &g->mem, evicted);
	cs_free(cs);
}

static void g_ref(ixmem_ent *e) { (void)e; }   /* groups live until destroy */
static void g_unref(ixmem_ent *e) { (void)e; }

static bool
g_evict(ixmem_ent *e)
{
	group *g = (group *)e;

	if (pthread_mutex_trylock(&g->mu) != 0)
		return false; /* a write or an install is running: busy */
	if (g->cq.active) {
		pthread_mutex_unlock(&g->mu);
		return false;
	}
	size_t nshards = g->cs != NULL ? g->cs->nshards : 0;
	drop_state_locked(g, true);
	/* not rebuilt at once: under a budget too small for it, a rebuild per
	 * maintenance pass would only burn CPU */
	g->retry_ms = util_mono_ms() + CG_RETRY_MS;
	pthread_mutex_unlock(&g->mu);
	if (nshards > 0) {
		atomic_fetch_add(&g->cg->evictions, 1);
		log_info("collection graph of %zu shards evicted (index memory budget)", nshards);
	}
	return true;
}

static const ixmem_ops group_mem_ops = {g_ref, g_unref, g_evict};

static bool
ids_intersect(const uint64_t *a, size_t na, const uint64_t *b, size_t nb)
{
	size_t i = 0, j = 0;

	while (i < na && j < nb) {
		if (a[i] == b[j])
			return true;
		if (a[i] < b[j])
			i++;
		else
			j++;
	}
	return false;
}

/* Sorted union of a[na] and b[nb] (both sorted) into a malloc'ed array. */
static uint64_t *
ids_union(const uint64_t *a, size_t na, const uint64_t *b, size_t nb, size_t *n)
{
	uint64_t *out = xmalloc((na + nb ? na + nb : 1) * sizeof *out);
	size_t i = 0, j = 0, m = 0;

	while (i < na || j < nb) {
		if (j == nb || (i < na && a[i] < b[j]))
			out[m++] = a[i++];
		else if (i == na || b[j] < a[i])
			out[m++] = b[j++];
		else {
			out[m++] = a[i++];
			j++;
		}
	}
	*n = m;
	return out;
}

static int
u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

coll_graphs *
coll_graphs_create(rowstore *rs, ixmem *mem)
{
	coll_graphs *cg = xcalloc(1, sizeof *cg);

	cg->rs = rs;
	cg->mem = mem;
	pthread_mutex_init(&cg->lk, NULL);
	atomic_init(&cg->ngroups, 0);
	return cg;
}

void
coll_graphs_destroy(coll_graphs *cg)
{
	if (cg == NULL)
		return;
	for (size_t i = 0; i < atomic_load(&cg->ngroups); i++) {
		group *g = cg->groups[i];
		pthread_mutex_lock(&g->mu);
		drop_state_locked(g, false);
		pthread_mutex_unlock(&g->mu);
		capture_destroy(&g->cq);
		free(g->bld);
		free(g->want);
		pthread_mutex_destroy(&g->mu);
		pthread_rwlock_destroy(&g->rw);
		free(g);
	}
	pthread_mutex_destroy(&cg->lk);
	free(cg);
}

/* ===================================================================
 * The commit hook
 * =================================================================== */

/* After writes: asks for a rebuild over the same shards when the state
 * is flat but has grown past exact-search size, or when stale labels
 * (overwritten and deleted points, which HNSW cannot remove) outnumber
 * max(live, CG_REBUILD_MIN_STALE) -- as a partition's upkeep does.  The
 * state serves until the new one replaces it.  Caller holds g->mu. */
static void
want_rebuild_locked(group *g)
{
	const pstate *ps = g->cs->ps;
	size_t stale = ps->nlabels - ps->nlive;
	size_t bound = ps->nlive > CG_REBUILD_MIN_STALE ? ps->nlive : CG_REBUILD_MIN_STALE;

	if (g->cq.active || g->nwant > 0 || util_mono_ms() < g->retry_ms)
		return;
	if ((!ps->hnsw && ps->nlive > 2 * PSTATE_EXACT_MAX) || stale > bound) {
		g->want = xmalloc(g->cs->nshards * sizeof *g->want);
		memcpy(g->want, g->cs->shards, g->cs->nshards * sizeof *g->want);
		g->nwant = g->cs->nshards;
	}
}

void
coll_graphs_on_commit(coll_graphs *cg, uint64_t shard_id, const rowstore_row *rows, size_t n,
    const rowstore_applied *ap)
{
	size_t ng;
	pstate_op *ops = NULL;
	size_t m = 0;
	uint32_t dim = 0;

	if (cg == NULL || (ng = atomic_load(&cg->ngroups)) == 0)
		return;
	for (size_t gi = 0; gi < ng; gi++) {
		group *g = cg->groups[gi];
		pthread_mutex_lock(&g->mu);
		/* backpressure first: what is installed or captured may change
		 * while this writer waits */
		if (g->cq.active && ids_find(g->bld, g->nbld, shard_id) >= 0)
			capture_wait(&g->cq, &g->mu);
		bool cap = g->cq.active && ids_find(g->bld, g->nbld, shard_id) >= 0;
		bool app = g->cs != NULL && ids_find(g->cs->shards, g->cs->nshards, shard_id) >= 0;
		if (!cap && !app) {
			pthread_mutex_unlock(&g->mu);
			continue;
		}
		if (ops == NULL) {
			/* as the shard-level graph: every applied row, in batch order */
			ops = xmalloc((n ? n : 1) * sizeof *ops);
			for (size_t i = 0; i < n; i++) {
				const rowstore_row *r = &rows[i];
				if (!(ap[i].outcome & ROWSTORE_APPLIED))
					continue;
				if (!r->deleted) {
					ops[m++] = (pstate_op){r->id, false, r->vector, r->payload,
					    r->payload_len};
					dim = r->dim; /* validated: the shard's dim */
				}
				else if (ap[i].outcome & ROWSTORE_WAS_LIVE)
					ops[m++] = (pstate_op){r->id, true, NULL, NULL, 0};
			}
		}
		if (cap && m > 0)
			capture_push(&g->cq, &g->mu, ops, m, dim, shard_id);
		if (app && m > 0) {
			shoal_status st;
			shoal_code rv = SHOAL_OK;
			/* in slices: a search waits for one slice's adds at most */
			for (size_t i = 0; i < m && rv == SHOAL_OK; i += CG_APPLY_SLICE) {
				pthread_rwlock_wrlock(&g->rw);
				rv = cs_apply(g->cs, &g->spec, shard_id, ops + i,
				    m - i < CG_APPLY_SLICE ? m - i : CG_APPLY_SLICE, &st);
				pthread_rwlock_unlock(&g->rw);
			}
			if (rv != SHOAL_OK) {
				log_error("collection graph dropped (shard %" PRIu64 "): %s", shard_id,
				    st.msg);
				drop_state_locked(g, false);
			} else {
				want_rebuild_locked(g);
				if (cg->mem != NULL)
					ixmem_resize(cg->mem, &g->mem, cs_bytes(g->cs));
			}
		}
		pthread_mutex_unlock(&g->mu);
	}
	free(ops);
}

void
coll_graphs_shard_gone(coll_graphs *cg, uint64_t shard_id)
{
	size_t ng;

	if (cg == NULL || (ng = atomic_load(&cg->ngroups)) == 0)
		return;
	for (size_t gi = 0; gi < ng; gi++) {
		group *g = cg->groups[gi];
		pthread_mutex_lock(&g->mu);
		if (g->cs != NULL && ids_find(g->cs->shards, g->cs->nshards, shard_id) >= 0) {
			drop_state_locked(g, false);
			atomic_fetch_add(&cg->invalidations, 1);
			log_info("collection graph dropped: shard %" PRIu64 " left the worker",
			    shard_id);
		}
		if (g->cq.active && ids_find(g->bld, g->nbld, shard_id) >= 0)
			g->gen++; /* the build in progress is discarded */
		ptrdiff_t w = ids_find(g->want, g->nwant, shard_id);
		if (w >= 0) {
			memmove(g->want + w, g->want + w + 1,
			    (g->nwant - (size_t)w - 1) * sizeof *g->want);
			g->nwant--;
		}
		pthread_mutex_unlock(&g->mu);
	}
}

/* ===================================================================
 * Search
 * =================================================================== */

static int
chit_cmp(const void *a, const void *b)
{
	const coll_hit *x = a, *y = b;
	if (x->distance != y->distance)
		return x->distance < y->distance ? -1 : 1;
	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	return x->shard_id < y->shard_id ? -1 : x->shard_id > y->shard_id;
}

/* The group whose shards (installed, being built or wanted) meet ids[n],
 * or a new one; NULL when the table is full. */
static group *
group_for(coll_graphs *cg, const uint64_t *ids, size_t n)
{
	size_t ng = atomic_load(&cg->ngroups);
	group *g;

	/* the common case first, without mu (which a write holds while it
	 * applies a batch): a graph over these shards */
	for (size_t gi = 0; gi < ng; gi++) {
		g = cg->groups[gi];
		pthread_rwlock_rdlock(&g->rw);
		bool meets = g->cs != NULL && ids_intersect(g->cs->shards, g->cs->nshards, ids, n);
		pthread_rwlock_unlock(&g->rw);
		if (meets)
			return g;
	}
	for (size_t gi = 0; gi < ng; gi++) {
		g = cg->groups[gi];
		pthread_mutex_lock(&g->mu);
		bool meets = (g->cs != NULL && ids_intersect(g->cs->shards, g->cs->nshards, ids, n)) ||
		    (g->cq.active && ids_intersect(g->bld, g->nbld, ids, n)) ||
		    ids_intersect(g->want, g->nwant, ids, n);
		pthread_mutex_unlock(&g->mu);
		if (meets)
			return g;
	}
	pthread_mutex_lock(&cg->lk);
	ng = atomic_load(&cg->ngroups);
	/* a group whose every shard left is reused */
	for (size_t gi = 0; gi < ng; gi++) {
		g = cg->groups[gi];
		pthread_mutex_lock(&g->mu);
		bool empty = g->cs == NULL && !g->cq.active && g->nwant == 0;
		pthread_mutex_unlock(&g->mu);
		if (empty) {
			pthread_mutex_unlock(&cg->lk);
			return g;
		}
	}
	if (ng == CG_MAX_GROUPS) {
		pthread_mutex_unlock(&cg->lk);
		return NULL;
	}
	g = xcalloc(1, sizeof *g);
	g->mem.ops = &group_mem_ops;
	g->cg = cg;
	pthread_mutex_init(&g->mu, NULL);
	capture_init(&g->cq);
	/* writer-preferring: back-to-back searches cannot starve the hook */
	pthread_rwlockattr_t attr;
	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&g->rw, &attr);
	pthread_rwlockattr_destroy(&attr);
	cg->groups[ng] = g;
	atomic_store(&cg->ngroups, ng + 1); /* published after it is whole */
	pthread_mutex_unlock(&cg->lk);
	return g;
}

/* Searches g's state for the requested shards req[n] (sorted) if it covers
 * at least two of them and nothing else.  Caller holds nothing. */
static bool
group_search(group *g, const uint64_t *req, const uint64_t *shards, size_t n,
    const coll_query *q, bool *covered, coll_hit *hits, size_t *nhits, bool *need_build)
{
	bool used = false;
	cgstate *cs;

	pthread_rwlock_rdlock(&g->rw);
	cs = g->cs;
	*need_build = cs == NULL;
	if (cs != NULL) {
		bool subset = true;
		for (size_t i = 0; i < cs->nshards && subset; i++)
			subset = ids_find(req, n, cs->shards[i]) >= 0;
		for (size_t i = 0; i < n && !*need_build; i++)
			*need_build = ids_find(cs->shards, cs->nshards, req[i]) < 0;
		used = subset && cs->nshards >= 2 && q->dim == g->spec.dim;
	}
	if (used) {
		float *qv = xmalloc(q->dim * sizeof *qv);
		shard_hit *sh = xmalloc(q->k * sizeof *sh);
		size_t m = 0;
		shoal_status st;

		memcpy(qv, q->vector, q->dim * sizeof *qv);
		for (uint32_t j = 0; j < q->dim && used; j++)
			used = isfinite(qv[j]);
		if (used && g->spec.metric == VECMATH_COSINE)
			used = vecmath_normalize(qv, q->dim);
		pstate_query pq = {qv, q->k, q->ef_search, false, q->filter};
		if (used && pstate_search(cs->ps, &g->spec, &pq, sh, &m, NULL, &st) != SHOAL_OK) {
			log_error("collection graph search failed (per-shard path used): %s", st.msg);
			used = false;
		}
		for (size_t i = 0; used && i < m; i++) {
			uint64_t gid = sh[i].id;
			hits[i].shard_id = cs->shards[cs->gslot[gid]];
			hits[i].id = cs->gid_id[gid];
			hits[i].distance = sh[i].distance;
		}
		*nhits = used ? m : 0;
		for (size_t i = 0; used && i < n; i++)
			covered[i] = ids_find(cs->shards, cs->nshards, shards[i]) >= 0;
		free(sh);
		free(qv);
	}
	pthread_rwlock_unlock(&g->rw);
	if (used && g->cg->mem != NULL)
		ixmem_touch(g->cg->mem, &g->mem);
	return used;
}

bool
coll_graphs_search(coll_graphs *cg, const uint64_t *shards, size_t n, const coll_query *q,
    bool *covered, coll_hit *hits, size_t *nhits)
{
	uint64_t *req;
	group *g;
	bool used = false, need = false;

	*nhits = 0;
	for (size_t i = 0; i < n; i++)
		covered[i] = false;
	if (cg == NULL || n < 2 || q->k == 0)
		return false;
	req = xmalloc(n * sizeof *req);
	memcpy(req, shards, n * sizeof *req);
	qsort(req, n, sizeof *req, u64_cmp);
	for (size_t i = 1; i < n; i++)
		if (req[i] == req[i - 1]) { /* a shard twice: the per-shard path */
			free(req);
			return false;
		}
	if ((g = group_for(cg, req, n)) == NULL) {
		free(req);
		return false;
	}
	used = group_search(g, req, shards, n, q, covered, hits, nhits, &need);
	if (used) {
		size_t nc = 0;
		qsort(hits, *nhits, sizeof *hits, chit_cmp);
		for (size_t i = 0; i < n; i++)
			nc += covered[i];
		atomic_fetch_add(&cg->searches, 1);
		atomic_fetch_add(&cg->shards_answered, nc);
	}
	if (need) {
		pthread_mutex_lock(&g->mu);
		if (util_mono_ms() >= g->retry_ms) {
			size_t nu;
			uint64_t *u = ids_union(g->want, g->nwant, req, n, &nu);
			free(g->want);
			g->want = u;
			g->nwant = nu;
		}
		pthread_mutex_unlock(&g->mu);
	}
	free(req);
	return used;
}

/* ===================================================================
 * Building
 * =================================================================== */

/* Reads the live rows of the state's shards through one view into src.
 * *spec receives the first shard's spec; FAILED_PRECONDITION when the
 * shards' specs differ, NOT_FOUND when one is gone, CANCELLED. */
static shoal_code
read_rows(coll_graphs *cg, cgstate *cs, pstate_src *src, shard_spec *spec,
    const atomic_bool *cancel, shoal_status *st)
{
	rowstore_view *view = rowstore_view_open(cg->rs);
	shoal_code rv = SHOAL_OK;
	uint64_t nrows = 0;

	for (size_t s = 0; s < cs->nshards && rv == SHOAL_OK; s++) {
		shard_spec sp;
		rowstore_iter *it;
		rowstore_row row;
		bool done = false;

		if ((rv = rowstore_shard_spec(cg->rs, cs->shards[s], &sp, st)) != SHOAL_OK)
			break;
		if (s == 0) {
			*spec = sp;
		} else if (sp.dim != spec->dim || sp.metric != spec->metric || sp.m != spec->m ||
		    sp.ef_construction != spec->ef_construction) {
			rv = shoal_status_set(st, SHOAL_FAILED_PRECONDITION,
			    "shards %" PRIu64 " and %" PRIu64 " have different index specs",
			    cs->shards[0], cs->shards[s]);
			break;
		}
		rowstore_iter_opts io = {.view = view};
		if ((rv = rowstore_iter_open(cg->rs, cs->shards[s], &io, &it, st)) != SHOAL_OK)
			break;
		while (rv == SHOAL_OK && (rv = rowstore_iter_next(it, &row, &done, st)) == SHOAL_OK &&
		    !done) {
			uint64_t gid;
			if (row.deleted)
				continue;
			cs_gid(cs, (uint32_t)s, row.id, true, &gid);
			pstate_src_add(src, spec, gid, row.vector, row.payload, row.payload_len);
			if (++nrows % CG_CANCEL_POLL == 0 && cancel != NULL && atomic_load(cancel))
				rv = shoal_status_set(st, SHOAL_CANCELLED, "cancelled");
		}
		rowstore_iter_close(it);
	}
	rowstore_view_close(cg->rs, view);
	return rv;
}

/* The replay of step 4 (capture.h): the state being built, and the
 * group generation it was started at. */
typedef struct replay_ctx {
	group *g;
	cgstate *cs;
	const shard_spec *spec;
	uint64_t gen0;
} replay_ctx;

/* capture_apply_fn: applies captured writes to the new state in order,
 * one shard's run at a time (a tag is a shard id). */
static shoal_code
replay_apply(void *arg, const pstate_op *ops, const uint64_t *tags, size_t n, bool round_end,
    shoal_status *st)
{
	replay_ctx *c = arg;
	shoal_code rv = SHOAL_OK;

	(void)round_end;
	for (size_t i = 0, j; i < n && rv == SHOAL_OK; i = j) {
		for (j = i; j < n && tags[j] == tags[i]; j++)
			;
		rv = cs_apply(c->cs, c->spec, tags[i], ops + i, j - i, st);
	}
	return rv;
}

/* capture_check_fn (under mu): a shard of the build left the worker. */
static shoal_code
replay_check(void *arg, shoal_status *st)
{
	replay_ctx *c = arg;

	if (c->g->gen != c->gen0)
		return shoal_status_set(st, SHOAL_ABORTED, "a shard left the worker");
	return SHOAL_OK;
}

/* One build of g over its wanted shards (the capture protocol of the
 * header comment).  Returns true when a state was installed. */
static bool
build_group(coll_graphs *cg, group *g, const atomic_bool *cancel)
{
	cgstate *cs, *old;
	pstate_src src;
	shard_spec spec;
	shoal_status st = {0};
	shoal_code rv;
	uint64_t gen0, t0 = util_mono_ms();
	bool ok;

	pthread_mutex_lock(&g->mu);
	if (g->cq.active || g->nwant < 2) {
		pthread_mutex_unlock(&g->mu);
		return false;
	}
	cs = xcalloc(1, sizeof *cs);
	cs->shards = g->want;
	cs->nshards = g->nwant;
	g->want = NULL;
	g->nwant = 0;
	capture_begin(&g->cq);
	g->bld = xmalloc(cs->nshards * sizeof *g->bld);
	memcpy(g->bld, cs->shards, cs->nshards * sizeof *g->bld);
	g->nbld = cs->nshards;
	gen0 = g->gen;
	pthread_mutex_unlock(&g->mu);

	pstate_src_init(&src);
	rv = read_rows(cg, cs, &src, &spec, cancel, &st);
	if (rv == SHOAL_OK)
		rv = pstate_build(&src, &spec, src.n > PSTATE_EXACT_MAX, cancel, &cs->ps, &st);
	pstate_src_free(&src);
	pthread_mutex_lock(&g->mu);
	if (rv == SHOAL_OK) { /* step 4 */
		replay_ctx c = {g, cs, &spec, gen0};
		rv = capture_replay(&g->cq, &g->mu, &cg_capture_lim, replay_apply, replay_check, &c,
		    NULL, &st);
	}
	ok = rv == SHOAL_OK;
	capture_end(&g->cq);
	free(g->bld);
	g->bld = NULL;
	g->nbld = 0;
	if (!ok) {
		g->retry_ms = util_mono_ms() + (rv == SHOAL_CANCELLED ? 0 : CG_RETRY_MS);
		pthread_mutex_unlock(&g->mu);
		if (rv != SHOAL_CANCELLED)
			log_warn("collection graph over %zu shards not built: %s", cs->nshards,
			    st.msg);
		cs_free(cs);
		atomic_fetch_add(&cg->build_failures, 1);
		return false;
	}
	pthread_rwlock_wrlock(&g->rw);
	old = g->cs;
	g->cs = cs;
	g->spec = spec;
	pthread_rwlock_unlock(&g->rw);
	if (cg->mem != NULL) {
		if (old != NULL)
			ixmem_resize(cg->mem, &g->mem, cs_bytes(cs));
		else
			ixmem_loaded(cg->mem, &g->mem, cs_bytes(cs));
	}
	pthread_mutex_unlock(&g->mu);
	log_info("collection graph built: %zu shards, %zu points, %s, %" PRIu64 " ms",
	    cs->nshards, cs->ps->nlive, cs->ps->hnsw ? "hnsw" : "flat", util_mono_ms() - t0);
	cs_free(old);
	atomic_fetch_add(&cg->builds, 1);
	if (cg->mem != NULL && ixmem_over(cg->mem))
		ixmem_enforce(cg->mem);
	return true;
}

unsigned
coll_graphs_maintain(coll_graphs *cg, const atomic_bool *cancel)
{
	unsigned built = 0;
	size_t ng;

	if (cg == NULL)
		return 0;
	ng = atomic_load(&cg->ngroups);
	for (size_t gi = 0; gi < ng; gi++) {
		if (cancel != NULL && atomic_load(cancel))
			break;
		built += build_group(cg, cg->groups[gi], cancel);
	}
	return built;
}

void
coll_graphs_get_stats(coll_graphs *cg, coll_graphs_stats *out)
{
	size_t ng;

	memset(out, 0, sizeof *out);
	if (cg == NULL)
		return;
	ng = atomic_load(&cg->ngroups);
	out->groups = ng;
	for (size_t gi = 0; gi < ng; gi++) {
		group *g = cg->groups[gi];
		pthread_rwlock_rdlock(&g->rw);
		if (g->cs != NULL) {
			out->ready++;
			out->points += g->cs->ps->nlive;
			out->bytes += cs_bytes(g->cs);
		}
		pthread_rwlock_unlock(&g->rw);
	}
	out->builds = atomic_load(&cg->builds);
	out->build_failures = atomic_load(&cg->build_failures);
	out->searches = atomic_load(&cg->searches);
	out->shards_answered = atomic_load(&cg->shards_answered);
	out->invalidations = atomic_load(&cg->invalidations);
	out->evictions = atomic_load(&cg->evictions);
}
