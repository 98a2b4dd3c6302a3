/* shard_index.c -- one shard's FAISS HNSW index ("HNSW{m},Flat").
 *
 * Metrics: cosine is inner product on normalized copies (the rowstore keeps
 * the user's original vector; only the index copy is normalized), l2 is
 * FAISS L2 (squared; we report sqrt), ip is inner product (we report -ip).
 *
 * Labels.  FAISS HNSW cannot remove vectors, and numbers them 0..ntotal-1
 * in insertion order.  So every upsert appends a vector under the next
 * label, and:
 *   label_id[label]  -> point id               (array)
 *   map: point id    -> its current label, -1 when deleted   (hash)
 *   live bitmap      bit `label` set iff label is the current label of a
 *                    live point
 * An update or delete clears the old label's bit; the stale vector stays in
 * the graph (still useful for navigation) and the search's ID filter (the
 * live bitmap, see faiss_ext.h) keeps it out of results.  When stale labels
 * pass max(live, SHARD_INDEX_REBUILD_MIN_STALE) the index is due for a
 * rebuild, which drops them.
 *
 * Invariants:
 *  1. The index reflects exactly the rows committed in the rowstore: it is
 *     built from a rowstore snapshot, and every later commit reaches it
 *     through the rowstore's on_commit hook, which runs under the shard's
 *     write mutex -- so index updates happen in commit order.
 *  2. nlabels == FAISS ntotal, always.  If a FAISS add fails half-way the
 *     whole state is discarded (cur = NULL) and rebuilt lazily: never a
 *     label without its vector or the reverse.
 *
 * Until the first build, searches are answered exactly from the rowstore
 * and mark the index `wanted`; the worker's maintenance thread then builds
 * it (shard_service_maintain), so no RPC ever waits for a build.
 *
 * Build / rebuild (build-then-swap), serialized by build_mu:
 *   1. under pend_mu: rebuilding = true   -- from now on on_commit also
 *      queues every applied write in `pending` (copies)
 *   2. open a rowstore iterator (snapshot) -- every commit is in the
 *      snapshot, or in pending, or both
 *   3. build a private state from the snapshot (no lock held: searches go
 *      on, on the old state if any)
 *   4. replay pending into it; with pend_mu held for the final round, swap
 *      it in under the write lock and clear `rebuilding`.
 * A write in both the snapshot and pending is replayed after the snapshot
 * state in commit order; writes are "set the id to this", so replaying a
 * suffix of the commit sequence converges to the same state.
 *
 * Locks, in order: pend_mu -> rw.  build_mu is taken only by builders,
 * before pend_mu, and never while holding rw.  Searches take rw for
 * reading; on_commit takes pend_mu, then rw for writing once per slice of
 * APPLY_SLICE rows, so a FAISS add blocks this shard's searches for one
 * slice at a time.  rw prefers writers (no reader ever nests it).
 */
#include "shard_index.h"

#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <faiss/c_api/Index_c.h>
#include <faiss/c_api/error_c.h>
#include <faiss/c_api/index_factory_c.h>

#include "faiss_ext.h"
#include "log.h"
#include "util.h"
#include "vecmath.h"

#define BUILD_CHUNK 4096 /* rows per FAISS add during a build */
#define APPLY_SLICE 64   /* rows per write-locked FAISS add on the write path */
#define MAP_EMPTY INT64_MIN

/* ===================================================================
 * id -> label hash (open addressing, linear probing)
 * =================================================================== */

typedef struct idmap {
	uint64_t *keys;
	int64_t *vals; /* label, -1 = deleted, MAP_EMPTY = free slot */
	size_t cap;    /* power of two */
	size_t n;      /* used slots */
} idmap;

static uint64_t
mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

static int64_t
map_get(const idmap *m, uint64_t id)
{
	if (m->cap == 0)
		return -1;
	for (size_t i = mix64(id) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
		if (m->vals[i] == MAP_EMPTY)
			return -1;
		if (m->keys[i] == id)
			return m->vals[i];
	}
}

static void map_put(idmap *m, uint64_t id, int64_t label);

static void
map_grow(idmap *m)
{
	idmap old = *m;

	m->cap = old.cap ? old.cap * 2 : 1024;
	m->n = 0;
	m->keys = xmalloc(m->cap * sizeof *m->keys);
	m->vals = xmalloc(m->cap * sizeof *m->vals);
	for (size_t i = 0; i < m->cap; i++)
		m->vals[i] = MAP_EMPTY;
	for (size_t i = 0; i < old.cap; i++)
		if (old.vals[i] != MAP_EMPTY)
			map_put(m, old.keys[i], old.vals[i]);
	free(old.keys);
	free(old.vals);
}

static void
map_put(idmap *m, uint64_t id, int64_t label)
{
	if ((m->n + 1) * 2 > m->cap)
		map_grow(m);
	for (size_t i = mix64(id) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
		if (m->vals[i] == MAP_EMPTY) {
			m->keys[i] = id;
			m->vals[i] = label;
			m->n++;
			return;
		}
		if (m->keys[i] == id) {
			m->vals[i] = label;
			return;
		}
	}
}

/* ===================================================================
 * Index state: a FAISS index plus its label bookkeeping
 * =================================================================== */

typedef struct ix_state {
	FaissIndex *fi;
	uint64_t *label_id; /* cap entries */
	uint8_t *live;      /* cap bits */
	size_t nlabels, cap;
	size_t nlive;
	idmap map;
} ix_state;

typedef struct pend_row {
	uint64_t id;
	bool deleted;
	float *vec; /* owned copy; NULL for deletes */
} pend_row;

struct shard_index {
	shard_spec spec;
	rowstore *rs;
	pthread_rwlock_t rw;      /* guards cur and *cur */
	ix_state *cur;            /* NULL = not built */
	pthread_mutex_t build_mu; /* one build at a time */
	pthread_mutex_t pend_mu;  /* guards rebuilding, pending */
	bool rebuilding;
	pend_row *pending;
	size_t npend, pend_cap;
	atomic_bool wanted;       /* a search found it unbuilt */
};

static shoal_code
faiss_fail(shoal_status *st, const char *what, uint64_t shard)
{
	const char *e = faiss_get_last_error();
	shoal_status_set(st, SHOAL_INTERNAL, "shard %" PRIu64 ": FAISS %s failed: %s", shard, what,
	    e ? e : "unknown error");
	log_error("%s", st ? st->msg : what);
	return SHOAL_INTERNAL;
}

static void
state_free(ix_state *s)
{
	if (s == NULL)
		return;
	if (s->fi != NULL)
		faiss_Index_free(s->fi);
	free(s->label_id);
	free(s->live);
	free(s->map.keys);
	free(s->map.vals);
	free(s);
}

static shoal_code
state_new(const shard_spec *spec, ix_state **out, shoal_status *st)
{
	ix_state *s = xcalloc(1, sizeof *s);
	char desc[32];
	FaissMetricType metric = spec->metric == VECMATH_L2 ? METRIC_L2 : METRIC_INNER_PRODUCT;

	*out = NULL;
	snprintf(desc, sizeof desc, "HNSW%u,Flat", spec->m);
	if (faiss_index_factory(&s->fi, (int)spec->dim, desc, metric) != 0) {
		s->fi = NULL;
		state_free(s);
		return faiss_fail(st, "index_factory", spec->shard_id);
	}
	if (shoal_faiss_hnsw_set_ef_construction(s->fi, (int)spec->ef_construction) != 0) {
		state_free(s);
		return faiss_fail(st, "set efConstruction", spec->shard_id);
	}
	*out = s;
	return SHOAL_OK;
}

static void
state_reserve(ix_state *s, size_t need)
{
	size_t cap = s->cap ? s->cap : 1024;

	if (need <= s->cap)
		return;
	while (cap < need)
		cap *= 2;
	s->label_id = xrealloc(s->label_id, cap * sizeof *s->label_id);
	s->live = xrealloc(s->live, cap / 8);
	memset(s->live + s->cap / 8, 0, (cap - s->cap) / 8);
	s->cap = cap;
}

static void
bit_set(uint8_t *b, size_t i, bool on)
{
	if (on)
		b[i >> 3] |= (uint8_t)(1u << (i & 7));
	else
		b[i >> 3] &= (uint8_t)~(1u << (i & 7));
}

static bool
bit_get(const uint8_t *b, size_t i)
{
	return (b[i >> 3] >> (i & 7)) & 1;
}

/* Applies committed writes (those with ROWSTORE_APPLIED in outcome; all
 * when outcome is NULL) to s, in order.  On error s must be discarded
 * (invariant 2). */
static shoal_code
state_apply(ix_state *s, const shard_spec *spec, const rowstore_row *rows, size_t n,
    const uint8_t *outcome, shoal_status *st)
{
	size_t nup = 0, j = 0, dim = spec->dim;
	float *buf;
	int rc;

	for (size_t i = 0; i < n; i++)
		if ((outcome == NULL || (outcome[i] & ROWSTORE_APPLIED)) && !rows[i].deleted)
			nup++;
	if (s->nlabels + nup > INT32_MAX) /* FAISS HNSW numbers nodes with int */
		return shoal_status_set(st, SHOAL_RESOURCE_EXHAUSTED,
		    "shard %" PRIu64 ": index is full (2^31 vectors)", spec->shard_id);
	state_reserve(s, s->nlabels + nup);
	buf = nup ? xmalloc(nup * dim * sizeof(float)) : NULL;
	for (size_t i = 0; i < n; i++) {
		const rowstore_row *r = &rows[i];
		int64_t old;

		if (outcome != NULL && !(outcome[i] & ROWSTORE_APPLIED))
			continue;
		old = map_get(&s->map, r->id);
		if (old >= 0) {
			bit_set(s->live, (size_t)old, false);
			s->nlive--;
		}
		if (r->deleted) {
			if (old >= 0)
				map_put(&s->map, r->id, -1);
			continue;
		}
		size_t label = s->nlabels + j;
		float *v = buf + j * dim;
		memcpy(v, r->vector, dim * sizeof(float));
		if (spec->metric == VECMATH_COSINE)
			vecmath_normalize(v, dim); /* rowstore rejected zero vectors */
		s->label_id[label] = r->id;
		bit_set(s->live, label, true);
		s->nlive++;
		map_put(&s->map, r->id, (int64_t)label);
		j++;
	}
	rc = nup ? faiss_Index_add(s->fi, (idx_t)nup, buf) : 0;
	free(buf);
	if (rc != 0)
		return faiss_fail(st, "add", spec->shard_id);
	s->nlabels += nup;
	return SHOAL_OK;
}

/* ===================================================================
 * Create / destroy / commit hook
 * =================================================================== */

shoal_code
shard_index_create(rowstore *rs, const shard_spec *spec, shard_index **out, shoal_status *st)
{
	shard_index *idx = xcalloc(1, sizeof *idx);

	(void)st; /* nothing can fail yet: FAISS objects are made at build */
	idx->spec = *spec;
	idx->rs = rs;
	/* writer-preferring: with searches arriving back to back, glibc's
	 * default (reader-preferring) could starve the commit hook forever.
	 * Safe because no thread ever takes rw for reading twice. */
	pthread_rwlockattr_t attr;
	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&idx->rw, &attr);
	pthread_rwlockattr_destroy(&attr);
	pthread_mutex_init(&idx->build_mu, NULL);
	pthread_mutex_init(&idx->pend_mu, NULL);
	*out = idx;
	return SHOAL_OK;
}

static void
pending_clear(shard_index *idx)
{
	for (size_t i = 0; i < idx->npend; i++)
		free(idx->pending[i].vec);
	idx->npend = 0;
}

void
shard_index_destroy(shard_index *idx)
{
	if (idx == NULL)
		return;
	state_free(idx->cur);
	pending_clear(idx);
	free(idx->pending);
	pthread_rwlock_destroy(&idx->rw);
	pthread_mutex_destroy(&idx->build_mu);
	pthread_mutex_destroy(&idx->pend_mu);
	free(idx);
}

/* rowstore_commit_fn: runs under the shard's write mutex (invariant 1). */
static void
on_commit(void *arg, const rowstore_row *rows, size_t n, const uint8_t *outcome)
{
	shard_index *idx = arg;
	shoal_status st;

	pthread_mutex_lock(&idx->pend_mu);
	if (idx->rebuilding) {
		for (size_t i = 0; i < n; i++) {
			pend_row *p;
			if (!(outcome[i] & ROWSTORE_APPLIED))
				continue;
			if (idx->npend == idx->pend_cap) {
				idx->pend_cap = idx->pend_cap ? idx->pend_cap * 2 : 256;
				idx->pending = xrealloc(idx->pending, idx->pend_cap * sizeof *idx->pending);
			}
			p = &idx->pending[idx->npend++];
			p->id = rows[i].id;
			p->deleted = rows[i].deleted;
			p->vec = NULL;
			if (!p->deleted) {
				p->vec = xmalloc(idx->spec.dim * sizeof(float));
				memcpy(p->vec, rows[i].vector, idx->spec.dim * sizeof(float));
			}
		}
	}
	/* FAISS adds in slices, each under its own write lock: a 1000-point
	 * batch then delays a concurrent search by one slice's add, not by the
	 * whole batch's.  Each slice leaves a consistent state (invariant 2). */
	for (size_t i = 0; i < n; i += APPLY_SLICE) {
		size_t m = n - i < APPLY_SLICE ? n - i : APPLY_SLICE;
		pthread_rwlock_wrlock(&idx->rw);
		if (idx->cur != NULL &&
		    state_apply(idx->cur, &idx->spec, rows + i, m, outcome + i, &st) != SHOAL_OK) {
			/* the rows are committed; the index is only a cache of them */
			log_error("shard %" PRIu64 ": index dropped, will rebuild: %s",
			    idx->spec.shard_id, st.msg);
			state_free(idx->cur);
			idx->cur = NULL;
		}
		pthread_rwlock_unlock(&idx->rw);
	}
	pthread_mutex_unlock(&idx->pend_mu);
}

shoal_code
shard_index_write(shard_index *idx, const rowstore_row *rows, size_t n, uint8_t *outcome,
    uint32_t *napplied, shoal_status *st)
{
	return rowstore_write(idx->rs, idx->spec.shard_id, rows, n, outcome, napplied, on_commit,
	    idx, st);
}

/* ===================================================================
 * Build / rebuild (steps 1-4 of the header comment)
 * =================================================================== */

/* Replays pend (taken out of idx) into s; frees the copies. */
static shoal_code
replay(ix_state *s, const shard_spec *spec, pend_row *pend, size_t n, shoal_status *st)
{
	rowstore_row *rows = xcalloc(n ? n : 1, sizeof *rows);
	shoal_code rv;

	for (size_t i = 0; i < n; i++) {
		rows[i].id = pend[i].id;
		rows[i].deleted = pend[i].deleted;
		rows[i].vector = pend[i].vec;
		rows[i].dim = pend[i].deleted ? 0 : spec->dim;
	}
	rv = state_apply(s, spec, rows, n, NULL, st);
	for (size_t i = 0; i < n; i++)
		free(pend[i].vec);
	free(rows);
	return rv;
}

/* Builds a new state and swaps it in.  Caller holds build_mu. */
static shoal_code
build_locked(shard_index *idx, const atomic_bool *cancel, shoal_status *st)
{
	const size_t dim = idx->spec.dim;
	uint64_t t0 = util_mono_ms();
	rowstore_iter *it = NULL;
	ix_state *s = NULL, *old;
	rowstore_row *chunk = xmalloc(BUILD_CHUNK * sizeof *chunk);
	float *vecs = xmalloc(BUILD_CHUNK * dim * sizeof(float));
	size_t nchunk = 0, nreplayed = 0;
	shoal_code rv;
	bool done = false;

	pthread_mutex_lock(&idx->pend_mu);
	idx->rebuilding = true; /* step 1 */
	pthread_mutex_unlock(&idx->pend_mu);

	rv = rowstore_iter_open(idx->rs, idx->spec.shard_id, false, &it, st); /* step 2 */
	if (rv == SHOAL_OK)
		rv = state_new(&idx->spec, &s, st);
	while (rv == SHOAL_OK && !done) { /* step 3 */
		rowstore_row r;
		if ((rv = rowstore_iter_next(it, &r, &done, st)) != SHOAL_OK)
			break;
		if (!done) {
			memcpy(vecs + nchunk * dim, r.vector, dim * sizeof(float));
			r.vector = vecs + nchunk * dim;
			chunk[nchunk++] = r;
		}
		if (nchunk == BUILD_CHUNK || (done && nchunk > 0)) {
			rv = state_apply(s, &idx->spec, chunk, nchunk, NULL, st);
			nchunk = 0;
			if (rv == SHOAL_OK && cancel != NULL && atomic_load(cancel))
				rv = shoal_status_set(st, SHOAL_CANCELLED,
				    "index build of shard %" PRIu64 " cancelled", idx->spec.shard_id);
		}
	}
	rowstore_iter_close(it);
	free(chunk);
	free(vecs);

	for (;;) { /* step 4 */
		pend_row *pend;
		size_t npend;

		pthread_mutex_lock(&idx->pend_mu);
		if (rv != SHOAL_OK || idx->npend == 0)
			break; /* pend_mu stays held */
		pend = idx->pending;
		npend = idx->npend;
		idx->pending = NULL;
		idx->npend = idx->pend_cap = 0;
		pthread_mutex_unlock(&idx->pend_mu);
		nreplayed += npend;
		rv = replay(s, &idx->spec, pend, npend, st);
		free(pend);
	}
	old = NULL;
	if (rv == SHOAL_OK) {
		pthread_rwlock_wrlock(&idx->rw);
		old = idx->cur;
		idx->cur = s;
		pthread_rwlock_unlock(&idx->rw);
		log_info("shard %" PRIu64 ": index built: %zu live points in %" PRIu64
			 " ms (%zu writes made meanwhile replayed)",
		    idx->spec.shard_id, s->nlive, util_mono_ms() - t0, nreplayed);
		s = NULL;
	}
	idx->rebuilding = false;
	pending_clear(idx);
	pthread_mutex_unlock(&idx->pend_mu);
	state_free(old);
	state_free(s);
	return rv;
}

shoal_code
shard_index_build(shard_index *idx, const atomic_bool *cancel, shoal_status *st)
{
	shoal_code rv = SHOAL_OK;
	bool built;

	pthread_mutex_lock(&idx->build_mu);
	pthread_rwlock_rdlock(&idx->rw);
	built = idx->cur != NULL;
	pthread_rwlock_unlock(&idx->rw);
	if (!built)
		rv = build_locked(idx, cancel, st);
	pthread_mutex_unlock(&idx->build_mu);
	return rv;
}

bool
shard_index_wants_build(shard_index *idx)
{
	bool built;

	if (!atomic_load(&idx->wanted))
		return false;
	pthread_rwlock_rdlock(&idx->rw);
	built = idx->cur != NULL;
	pthread_rwlock_unlock(&idx->rw);
	return !built;
}

bool
shard_index_needs_rebuild(shard_index *idx)
{
	bool due = false;

	pthread_rwlock_rdlock(&idx->rw);
	if (idx->cur != NULL) {
		size_t stale = idx->cur->nlabels - idx->cur->nlive;
		size_t limit = idx->cur->nlive > SHARD_INDEX_REBUILD_MIN_STALE
		    ? idx->cur->nlive
		    : SHARD_INDEX_REBUILD_MIN_STALE;
		due = stale > limit;
	}
	pthread_rwlock_unlock(&idx->rw);
	return due;
}

shoal_code
shard_index_rebuild(shard_index *idx, const atomic_bool *cancel, shoal_status *st)
{
	shoal_code rv = SHOAL_OK;
	bool built;

	pthread_mutex_lock(&idx->build_mu);
	pthread_rwlock_rdlock(&idx->rw);
	built = idx->cur != NULL;
	pthread_rwlock_unlock(&idx->rw);
	if (built)
		rv = build_locked(idx, cancel, st);
	pthread_mutex_unlock(&idx->build_mu);
	return rv;
}

void
shard_index_get_info(shard_index *idx, shard_index_info *out)
{
	memset(out, 0, sizeof *out);
	pthread_rwlock_rdlock(&idx->rw);
	if (idx->cur != NULL) {
		out->built = true;
		out->labels = idx->cur->nlabels;
		out->live = idx->cur->nlive;
		out->stale = idx->cur->nlabels - idx->cur->nlive;
	}
	pthread_rwlock_unlock(&idx->rw);
}

const shard_spec *
shard_index_spec(const shard_index *idx)
{
	return &idx->spec;
}

/* ===================================================================
 * Search
 * =================================================================== */

static bool
hit_less(const shard_hit *a, const shard_hit *b)
{
	return a->distance < b->distance || (a->distance == b->distance && a->id < b->id);
}

static int
hit_cmp(const void *a, const void *b)
{
	const shard_hit *x = a, *y = b;
	return hit_less(x, y) ? -1 : hit_less(y, x) ? 1 : 0;
}

/* Max-heap on (distance, id): the root is the worst of the best k. */
static void
heap_sift_down(shard_hit *h, size_t n, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < n && hit_less(&h[m], &h[l]))
			m = l;
		if (r < n && hit_less(&h[m], &h[r]))
			m = r;
		if (m == i)
			return;
		shard_hit t = h[i];
		h[i] = h[m];
		h[m] = t;
		i = m;
	}
}

static void
heap_push(shard_hit *h, size_t *n, shard_hit x)
{
	size_t i = (*n)++;
	h[i] = x;
	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (!hit_less(&h[p], &h[i]))
			break;
		shard_hit t = h[i];
		h[i] = h[p];
		h[p] = t;
		i = p;
	}
}

/* Distance from q (normalized for cosine) to an index vector. */
static float
index_distance(int metric, const float *q, const float *v, size_t dim)
{
	switch (metric) {
	case VECMATH_L2:
		return sqrtf(vecmath_l2sq(q, v, dim));
	case VECMATH_IP:
		return -vecmath_dot(q, v, dim);
	default: /* cosine: both sides are unit vectors */
		return 1.0f - vecmath_dot(q, v, dim);
	}
}

/* Exact top-want over the live labels.  Caller holds rw (read). */
static shoal_code
search_exact(shard_index *idx, const ix_state *s, const float *q, size_t want, shard_hit *hits,
    size_t *nhits, shoal_status *st)
{
	const float *data;
	size_t n = 0, dim = idx->spec.dim;

	if (shoal_faiss_flat_data(s->fi, &data) != 0)
		return faiss_fail(st, "flat data", idx->spec.shard_id);
	for (size_t l = 0; l < s->nlabels; l++) {
		shard_hit h;
		if (!bit_get(s->live, l))
			continue;
		h.id = s->label_id[l];
		h.distance = index_distance(idx->spec.metric, q, data + l * dim, dim);
		if (n < want) {
			heap_push(hits, &n, h);
		} else if (hit_less(&h, &hits[0])) {
			hits[0] = h;
			heap_sift_down(hits, n, 0);
		}
	}
	*nhits = n;
	return SHOAL_OK;
}

/* HNSW top-want; *nhits may come out short of want.  Caller holds rw. */
static shoal_code
search_hnsw(shard_index *idx, const ix_state *s, const float *q, size_t want, uint32_t k,
    uint32_t ef_search, shard_hit *hits, size_t *nhits, shoal_status *st)
{
	float *D = xmalloc(want * sizeof *D);
	idx_t *I = xmalloc(want * sizeof *I);
	uint64_t ef = ef_search ? ef_search : (k > SHARD_INDEX_DEFAULT_EF ? k : SHARD_INDEX_DEFAULT_EF);
	size_t n = 0;
	int rc;

	if (ef < want)
		ef = want;
	/* Stale labels take candidate slots without becoming results: widen
	 * the beam by the stale ratio (bounded by the rebuild threshold). */
	if (s->nlabels > s->nlive)
		ef = ef * s->nlabels / s->nlive;
	if (ef > s->nlabels)
		ef = s->nlabels;
	if (ef > INT_MAX)
		ef = INT_MAX;
	rc = shoal_faiss_hnsw_search(s->fi, 1, q, (idx_t)want, (int)ef, s->live, s->nlabels, NULL,
	    NULL, D, I);
	if (rc != 0) {
		free(D);
		free(I);
		return faiss_fail(st, "search", idx->spec.shard_id);
	}
	for (size_t i = 0; i < want; i++) {
		if (I[i] < 0 || (size_t)I[i] >= s->nlabels)
			continue;
		hits[n].id = s->label_id[I[i]];
		switch (idx->spec.metric) {
		case VECMATH_L2:
			hits[n].distance = sqrtf(D[i] > 0.0f ? D[i] : 0.0f);
			break;
		case VECMATH_IP:
			hits[n].distance = -D[i];
			break;
		default:
			hits[n].distance = 1.0f - D[i];
		}
		n++;
	}
	free(D);
	free(I);
	*nhits = n;
	return SHOAL_OK;
}

/* Exact top-want over the rowstore (the index is not built): original
 * vectors, vecmath distances.  Allocates nothing per row. */
static shoal_code
search_rows(shard_index *idx, const float *query, uint32_t k, shard_hit *hits, size_t *nhits,
    shoal_status *st)
{
	rowstore_iter *it;
	rowstore_row r;
	size_t n = 0;
	bool done = false;
	shoal_code rv;

	if ((rv = rowstore_iter_open(idx->rs, idx->spec.shard_id, false, &it, st)) != SHOAL_OK)
		return rv;
	while ((rv = rowstore_iter_next(it, &r, &done, st)) == SHOAL_OK && !done) {
		shard_hit h = {r.id, vecmath_distance(idx->spec.metric, query, r.vector, r.dim)};
		if (n < k) {
			heap_push(hits, &n, h);
		} else if (hit_less(&h, &hits[0])) {
			hits[0] = h;
			heap_sift_down(hits, n, 0);
		}
	}
	rowstore_iter_close(it);
	*nhits = n;
	return rv;
}

shoal_code
shard_index_search(shard_index *idx, const float *query, uint32_t dim, uint32_t k,
    uint32_t ef_search, bool exact, shard_hit *hits, size_t *nhits, bool *complete,
    shoal_status *st)
{
	const shard_spec *spec = &idx->spec;
	float *q;
	size_t want;
	shoal_code rv = SHOAL_OK;

	*nhits = 0;
	*complete = false;
	if (k == 0)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT, "k must be at least 1");
	if (dim != spec->dim)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "vector has %u dimensions, collection expects %u", dim, spec->dim);
	for (uint32_t j = 0; j < dim; j++)
		if (!isfinite(query[j]))
			return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
			    "query vector component %u is %s (components must be finite)", j,
			    isnan(query[j]) ? "NaN" : "infinite");
	q = xmalloc(dim * sizeof *q);
	memcpy(q, query, dim * sizeof *q);
	if (spec->metric == VECMATH_COSINE && !vecmath_normalize(q, dim)) {
		free(q);
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "query vector is zero: it has no direction (collection metric is cosine)");
	}

	pthread_rwlock_rdlock(&idx->rw);
	if (idx->cur == NULL) {
		/* not built: answer from the rows, and ask for a build */
		pthread_rwlock_unlock(&idx->rw);
		free(q);
		atomic_store(&idx->wanted, true);
		if ((rv = search_rows(idx, query, k, hits, nhits, st)) != SHOAL_OK) {
			*nhits = 0;
			return rv;
		}
		qsort(hits, *nhits, sizeof *hits, hit_cmp);
		*complete = true; /* every live row was looked at */
		return SHOAL_OK;
	}
	/* holding rw (read) */
	want = idx->cur->nlive < k ? idx->cur->nlive : k;
	if (want > 0 && !exact && idx->cur->nlive > SHARD_INDEX_EXACT_MAX) {
		rv = search_hnsw(idx, idx->cur, q, want, k, ef_search, hits, nhits, st);
		if (rv == SHOAL_OK && *nhits < want) {
			log_debug("shard %" PRIu64 ": HNSW found %zu of %zu, answering exactly",
			    spec->shard_id, *nhits, want);
			rv = search_exact(idx, idx->cur, q, want, hits, nhits, st);
		}
	} else if (want > 0) {
		rv = search_exact(idx, idx->cur, q, want, hits, nhits, st);
	}
	pthread_rwlock_unlock(&idx->rw);
	free(q);
	if (rv != SHOAL_OK) {
		*nhits = 0;
		return rv;
	}
	qsort(hits, *nhits, sizeof *hits, hit_cmp);
	*complete = *nhits == want;
	return SHOAL_OK;
}
