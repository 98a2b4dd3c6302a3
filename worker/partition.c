/* partition.c -- one partition's index state: labels, FAISS index,
 * payload records, search paths, snapshot encoding.  See partition.h.
 *
 * Metrics: cosine is inner product on normalized copies (the rowstore keeps
 * the user's original vector; only the index copy is normalized), l2 is
 * FAISS L2 (squared; we report sqrt), ip is inner product (we report -ip).
 *
 * Snapshot encoding (host order, little-endian hosts only, like the
 * rowstore; every section starts 8-byte aligned):
 *   magic "SHOALSNP" | fmt:u32 = 1 | kind:u32 (0 flat, 1 hnsw)
 *   shard_id:u64 | incarnation:u64 | dim:u32 | metric:u32 | m:u32 | efc:u32
 *   applied_seq:u64 | name_len:u32 | name | pad
 *   nlabels:u64 | nlive:u64 | label_id[nlabels]:u64 | live bitmap | pad
 *   pstore_len:u64 | pstore bytes (payload.c) | pad
 *   faiss_len:u64 | FAISS index (faiss::write_index) | pad
 *   checksum:u64 of every byte before it
 * The checksum is a 4-lane multiply-rotate hash (xxHash64's structure):
 * it catches torn and bit-flipped files at memory speed; it is not a MAC.
 */
#include "partition.h"

#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <faiss/c_api/error_c.h>
#include <faiss/c_api/index_factory_c.h>

#include "faiss_ext.h"
#include "log.h"
#include "util.h"
#include "vecmath.h"

#define MAP_EMPTY INT64_MIN
#define SNAP_MAGIC "SHOALSNP"
#define SNAP_FMT 1

/* ===================================================================
 * id -> label hash (open addressing, linear probing)
 * =================================================================== */

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
map_grow(idmap *m, size_t want)
{
	idmap old = *m;

	m->cap = old.cap ? old.cap : 64;
	while (m->cap < want)
		m->cap *= 2;
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
		map_grow(m, (m->n + 1) * 2);
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
 * State
 * =================================================================== */

static shoal_code
faiss_fail(shoal_status *st, const char *what, uint64_t shard)
{
	const char *e = faiss_get_last_error();
	shoal_status_set(st, SHOAL_INTERNAL, "shard %" PRIu64 ": FAISS %s failed: %s", shard, what,
	    e ? e : "unknown error");
	log_error("%s", st ? st->msg : what);
	return SHOAL_INTERNAL;
}

void
pstate_free(pstate *s)
{
	if (s == NULL)
		return;
	if (s->fi != NULL)
		faiss_Index_free(s->fi);
	free(s->label_id);
	free(s->live);
	free(s->map.keys);
	free(s->map.vals);
	pstore_free(&s->pl);
	free(s);
}

static shoal_code
make_faiss(const shard_spec *spec, bool hnsw, FaissIndex **out, shoal_status *st)
{
	char desc[32];
	FaissMetricType metric = spec->metric == VECMATH_L2 ? METRIC_L2 : METRIC_INNER_PRODUCT;

	*out = NULL;
	if (hnsw)
		snprintf(desc, sizeof desc, "HNSW%u,Flat", spec->m);
	else
		snprintf(desc, sizeof desc, "Flat");
	if (faiss_index_factory(out, (int)spec->dim, desc, metric) != 0) {
		*out = NULL;
		return faiss_fail(st, "index_factory", spec->shard_id);
	}
	if (hnsw && shoal_faiss_hnsw_set_ef_construction(*out, (int)spec->ef_construction) != 0) {
		faiss_Index_free(*out);
		*out = NULL;
		return faiss_fail(st, "set efConstruction", spec->shard_id);
	}
	return SHOAL_OK;
}

shoal_code
pstate_new(const shard_spec *spec, bool hnsw, pstate **out, shoal_status *st)
{
	pstate *s = xcalloc(1, sizeof *s);
	shoal_code rv;

	*out = NULL;
	pstore_init(&s->pl);
	s->hnsw = hnsw;
	if ((rv = make_faiss(spec, hnsw, &s->fi, st)) != SHOAL_OK) {
		pstate_free(s);
		return rv;
	}
	*out = s;
	return SHOAL_OK;
}

static void
state_reserve(pstate *s, size_t need)
{
	size_t cap = s->cap ? s->cap : 64;

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

int64_t
pstate_label_of(const pstate *s, uint64_t id)
{
	return map_get(&s->map, id);
}

bool
pstate_label_live(const pstate *s, size_t label)
{
	return label < s->nlabels && bit_get(s->live, label);
}

void
pstate_kill_label(pstate *s, size_t label)
{
	if (label >= s->nlabels || !bit_get(s->live, label))
		return;
	bit_set(s->live, label, false);
	s->nlive--;
	if (map_get(&s->map, s->label_id[label]) == (int64_t)label)
		map_put(&s->map, s->label_id[label], -1);
}

shoal_code
pstate_apply(pstate *s, const shard_spec *spec, const pstate_op *ops, size_t n, shoal_status *st)
{
	size_t nup = 0, j = 0, dim = spec->dim;
	float *buf;
	int rc;

	for (size_t i = 0; i < n; i++)
		nup += !ops[i].deleted;
	if (s->nlabels + nup > INT32_MAX) /* FAISS HNSW numbers nodes with int */
		return shoal_status_set(st, SHOAL_RESOURCE_EXHAUSTED,
		    "shard %" PRIu64 ": partition index is full (2^31 vectors)", spec->shard_id);
	state_reserve(s, s->nlabels + nup);
	buf = nup ? xmalloc(nup * dim * sizeof(float)) : NULL;
	for (size_t i = 0; i < n; i++) {
		const pstate_op *o = &ops[i];
		int64_t old = map_get(&s->map, o->id);

		if (old >= 0) {
			bit_set(s->live, (size_t)old, false);
			s->nlive--;
		}
		if (o->deleted) {
			if (old >= 0)
				map_put(&s->map, o->id, -1);
			continue;
		}
		size_t label = s->nlabels + j;
		float *v = buf + j * dim;
		memcpy(v, o->vector, dim * sizeof(float));
		if (spec->metric == VECMATH_COSINE)
			vecmath_normalize(v, dim); /* the rowstore rejected zero vectors */
		s->label_id[label] = o->id;
		bit_set(s->live, label, true);
		s->nlive++;
		map_put(&s->map, o->id, (int64_t)label);
		pstore_append_packed(&s->pl, o->payload, o->payload_len);
		j++;
	}
	rc = nup ? faiss_Index_add(s->fi, (idx_t)nup, buf) : 0;
	free(buf);
	if (rc != 0)
		return faiss_fail(st, "add", spec->shard_id);
	s->nlabels += nup;
	return SHOAL_OK;
}

uint64_t
pstate_bytes(const pstate *s)
{
	return shoal_faiss_memory_bytes(s->fi) + s->cap * sizeof *s->label_id + s->cap / 8 +
	    s->map.cap * (sizeof *s->map.keys + sizeof *s->map.vals) + pstore_bytes(&s->pl) +
	    sizeof *s;
}

/* ===================================================================
 * Building
 * =================================================================== */

void
pstate_src_init(pstate_src *src)
{
	memset(src, 0, sizeof *src);
	pstore_init(&src->pl);
}

void
pstate_src_free(pstate_src *src)
{
	free(src->ids);
	free(src->vecs);
	pstore_free(&src->pl);
	memset(src, 0, sizeof *src);
}

static void
src_reserve(pstate_src *src, size_t dim, size_t need)
{
	size_t cap = src->cap ? src->cap : 256;

	if (need <= src->cap)
		return;
	while (cap < need)
		cap *= 2;
	src->ids = xrealloc(src->ids, cap * sizeof *src->ids);
	src->vecs = xrealloc(src->vecs, cap * dim * sizeof *src->vecs);
	src->cap = cap;
}

void
pstate_src_add(pstate_src *src, const shard_spec *spec, uint64_t id, const float *vector,
    const void *payload, size_t payload_len)
{
	float *v;

	src_reserve(src, spec->dim, src->n + 1);
	v = src->vecs + src->n * spec->dim;
	memcpy(v, vector, spec->dim * sizeof(float));
	if (spec->metric == VECMATH_COSINE)
		vecmath_normalize(v, spec->dim);
	src->ids[src->n++] = id;
	pstore_append_packed(&src->pl, payload, payload_len);
}

void
pstate_extract(const pstate *s, const shard_spec *spec, pstate_src *src)
{
	const float *data = NULL;
	size_t dim = spec->dim;

	pstate_src_init(src);
	src->applied_seq = s->applied_seq;
	src_reserve(src, dim, s->nlive);
	shoal_faiss_flat_data(s->fi, &data); /* HNSW-over-flat or flat: cannot fail */
	for (size_t l = 0; l < s->nlabels; l++) {
		if (!bit_get(s->live, l))
			continue;
		memcpy(src->vecs + src->n * dim, data + l * dim, dim * sizeof(float));
		src->ids[src->n++] = s->label_id[l];
		pstore_append_copy(&src->pl, &s->pl, l);
	}
}

shoal_code
pstate_build(pstate_src *src, const shard_spec *spec, bool hnsw, const atomic_bool *cancel,
    pstate **out, shoal_status *st)
{
	pstate *s;
	shoal_code rv;

	*out = NULL;
	if (src->n > INT32_MAX)
		return shoal_status_set(st, SHOAL_RESOURCE_EXHAUSTED,
		    "shard %" PRIu64 ": partition index is full (2^31 vectors)", spec->shard_id);
	if ((rv = pstate_new(spec, hnsw, &s, st)) != SHOAL_OK)
		return rv;
	state_reserve(s, src->n);
	map_grow(&s->map, src->n * 2 + 2);
	for (size_t i = 0; i < src->n; i++) {
		s->label_id[i] = src->ids[i];
		int64_t old = map_get(&s->map, src->ids[i]);
		if (old >= 0) { /* cannot happen for live content; stay consistent */
			bit_set(s->live, (size_t)old, false);
			s->nlive--;
		}
		map_put(&s->map, src->ids[i], (int64_t)i);
		bit_set(s->live, i, true);
		s->nlive++;
	}
	pstore_free(&s->pl);
	s->pl = src->pl; /* moved */
	pstore_init(&src->pl);
	s->applied_seq = src->applied_seq;
	/* One add for the whole set, not chunks: FAISS 1.7.3 builds a markedly
	 * worse graph when the same points arrive in several adds (measured on
	 * 100,000 x 128 embeddings-like vectors: recall@10 1.000 at ef 64 from
	 * one add, 0.96 from two adds of 50,000, not improving with ef).  A
	 * worker shutdown interrupts it through shoal_faiss_set_interrupt. */
	if (cancel != NULL && atomic_load(cancel)) {
		pstate_free(s);
		return shoal_status_set(st, SHOAL_CANCELLED,
		    "index build of shard %" PRIu64 " cancelled", spec->shard_id);
	}
	if (src->n > 0 && faiss_Index_add(s->fi, (idx_t)src->n, src->vecs) != 0) {
		if (cancel != NULL && atomic_load(cancel))
			rv = shoal_status_set(st, SHOAL_CANCELLED,
			    "index build of shard %" PRIu64 " cancelled", spec->shard_id);
		else
			rv = faiss_fail(st, "add", spec->shard_id);
		pstate_free(s);
		return rv;
	}
	s->nlabels = src->n;
	s->built_labels = src->n;
	shoal_faiss_shrink(s->fi); /* private still: no search can run */
	*out = s;
	return SHOAL_OK;
}

/* ===================================================================
 * Search
 * =================================================================== */

static bool
hit_less(const shard_hit *a, const shard_hit *b)
{
	return a->distance < b->distance || (a->distance == b->distance && a->id < b->id);
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
heap_offer(shard_hit *h, size_t *n, size_t k, shard_hit x)
{
	if (*n < k) {
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
	} else if (hit_less(&x, &h[0])) {
		h[0] = x;
		heap_sift_down(h, *n, 0);
	}
}

float
pstate_distance(int metric, const float *q, const float *v, size_t dim)
{
	switch (metric) { /* the CPU's widest kernels (faiss_ext.h) */
	case VECMATH_L2:
		return sqrtf(shoal_faiss_l2sq(q, v, dim));
	case VECMATH_IP:
		return -shoal_faiss_dot(q, v, dim);
	default: /* cosine: both sides are unit vectors */
		return 1.0f - shoal_faiss_dot(q, v, dim);
	}
}

/* Exact top-k over the live labels that match cf (NULL = all). */
static void
search_exact(const pstate *s, const shard_spec *spec, const float *q, uint32_t k,
    const pfilter *cf, shard_hit *hits, size_t *nhits)
{
	const float *data = NULL;
	size_t n = 0, dim = spec->dim;

	shoal_faiss_flat_data(s->fi, &data); /* flat storage: cannot fail */
	for (size_t l = 0; l < s->nlabels; l++) {
		if (!bit_get(s->live, l))
			continue;
		if (cf != NULL && !pfilter_match(cf, &s->pl, l))
			continue;
		shard_hit h = {s->label_id[l], pstate_distance(spec->metric, q, data + l * dim, dim)};
		heap_offer(hits, &n, k, h);
	}
	*nhits = n;
}

typedef struct filter_arg {
	const pstate *s;
	const pfilter *cf;
} filter_arg;

static int
filter_fn(void *arg, int64_t label)
{
	const filter_arg *a = arg;
	return pfilter_match(a->cf, &a->s->pl, (size_t)label);
}

/* HNSW top-k; *nhits may come out short of k. */
static shoal_code
search_hnsw(const pstate *s, const shard_spec *spec, const pstate_query *q, const pfilter *cf,
    shard_hit *hits, size_t *nhits, shoal_status *st)
{
	size_t k = q->k;
	float *D = xmalloc(k * sizeof *D);
	idx_t *I = xmalloc(k * sizeof *I);
	uint64_t ef = q->ef_search ? q->ef_search
	                           : (q->k > PSTATE_DEFAULT_EF ? q->k : PSTATE_DEFAULT_EF);
	filter_arg fa = {s, cf};
	size_t n = 0;
	int rc;

	if (ef < k)
		ef = k;
	if (ef > INT_MAX)
		ef = INT_MAX;
	rc = shoal_faiss_hnsw_search(s->fi, 1, q->q, (idx_t)k, (int)ef, s->live, s->nlabels,
	    cf ? filter_fn : NULL, cf ? &fa : NULL, D, I);
	if (rc != 0) {
		free(D);
		free(I);
		return faiss_fail(st, "search", spec->shard_id);
	}
	for (size_t i = 0; i < k; i++) {
		if (I[i] < 0 || (size_t)I[i] >= s->nlabels)
			continue;
		hits[n].id = s->label_id[I[i]];
		switch (spec->metric) {
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

/* Estimated fraction of live labels matching cf, from a fixed
 * pseudo-random sample (deterministic: the same query takes the same path). */
static double
estimate_fraction(const pstate *s, const pfilter *cf)
{
	size_t sampled = 0, matched = 0;

	for (uint64_t i = 0; i < PSTATE_FILTER_SAMPLE * 4 && sampled < PSTATE_FILTER_SAMPLE; i++) {
		size_t l = (size_t)(mix64(i + 0x9e3779b97f4a7c15ULL) % s->nlabels);
		if (!bit_get(s->live, l))
			continue;
		sampled++;
		matched += pfilter_match(cf, &s->pl, l);
	}
	return sampled ? (double)matched / (double)sampled : 0.0;
}

shoal_code
pstate_search(const pstate *s, const shard_spec *spec, const pstate_query *q, shard_hit *hits,
    size_t *nhits, pstate_trace *trace, shoal_status *st)
{
	pstate_trace tr = {0};
	pfilter *cf = NULL;
	size_t want;
	bool exact;
	shoal_code rv = SHOAL_OK;

	*nhits = 0;
	if (s->nlive == 0 || q->k == 0)
		goto out;
	if (q->filter != NULL) {
		cf = pfilter_compile(q->filter, &s->pl);
		if (pfilter_never(cf))
			goto out;
	}
	want = s->nlive < q->k ? s->nlive : q->k;
	exact = q->exact || !s->hnsw || s->nlive <= PSTATE_EXACT_MAX;
	if (!exact && cf != NULL) {
		double frac = estimate_fraction(s, cf);
		if (frac < PSTATE_FILTER_EXACT_FRACTION ||
		    frac * (double)s->nlive < PSTATE_FILTER_EXACT_MATCHES) {
			exact = true;
			tr.filter_exact = true;
		}
	}
	if (!exact) {
		tr.used_hnsw = true;
		rv = search_hnsw(s, spec, q, cf, hits, nhits, st);
		if (rv == SHOAL_OK && *nhits < want) {
			/* short: the graph could not reach k matching points (or
			 * fewer exist); the exact scan says which */
			tr.fell_back = true;
			exact = true;
		}
	}
	if (exact && rv == SHOAL_OK)
		search_exact(s, spec, q->q, q->k, cf, hits, nhits);
out:
	pfilter_free(cf);
	if (trace != NULL)
		*trace = tr;
	return rv;
}

size_t
pstate_count_matching(const pstate *s, const Shoal__Filter *filter)
{
	pfilter *cf = filter ? pfilter_compile(filter, &s->pl) : NULL;
	size_t n = 0;

	for (size_t l = 0; l < s->nlabels; l++)
		n += bit_get(s->live, l) && (cf == NULL || pfilter_match(cf, &s->pl, l));
	pfilter_free(cf);
	return n;
}

/* ===================================================================
 * Snapshot encoding
 * =================================================================== */

static uint64_t
rotl(uint64_t x, int r)
{
	return (x << r) | (x >> (64 - r));
}

#define P1 0x9E3779B185EBCA87ULL
#define P2 0xC2B2AE3D27D4EB4FULL
#define P3 0x165667B19E3779F9ULL

static uint64_t
checksum(const uint8_t *p, size_t len)
{
	uint64_t v[4] = {P1 + P2, P2, 0, (uint64_t)0 - P1}, h, w;
	size_t i = 0;

	for (; i + 32 <= len; i += 32)
		for (int l = 0; l < 4; l++) {
			memcpy(&w, p + i + 8 * l, 8);
			v[l] = rotl(v[l] + w * P2, 31) * P1;
		}
	h = rotl(v[0], 1) + rotl(v[1], 7) + rotl(v[2], 12) + rotl(v[3], 18) + (uint64_t)len;
	for (; i + 8 <= len; i += 8) {
		memcpy(&w, p + i, 8);
		h = rotl(h ^ (rotl(w * P2, 31) * P1), 27) * P1 + P3;
	}
	for (; i < len; i++)
		h = rotl(h ^ (p[i] * P3), 11) * P1;
	h ^= h >> 33;
	h *= P2;
	h ^= h >> 29;
	h *= P3;
	h ^= h >> 32;
	return h;
}

typedef struct wbuf {
	uint8_t *b;
	size_t n, cap;
} wbuf;

static void
wb_put(wbuf *w, const void *p, size_t n)
{
	if (w->n + n > w->cap) {
		size_t c = w->cap ? w->cap : 4096;
		while (c < w->n + n)
			c *= 2;
		w->b = xrealloc(w->b, c);
		w->cap = c;
	}
	if (n > 0 && p != NULL) /* p NULL: reserve only */
		memcpy(w->b + w->n, p, n);
	w->n += n;
}

static void
wb_u32(wbuf *w, uint32_t v)
{
	wb_put(w, &v, 4);
}

static void
wb_u64(wbuf *w, uint64_t v)
{
	wb_put(w, &v, 8);
}

static void
wb_pad(wbuf *w)
{
	static const uint8_t zero[8];
	if (w->n % 8)
		wb_put(w, zero, 8 - w->n % 8);
}

static int
faiss_writer(void *arg, const void *data, size_t len)
{
	wb_put(arg, data, len);
	return 0;
}

shoal_code
pstate_serialize(const pstate *s, const shard_spec *spec, const char *name, size_t name_len,
    uint8_t **out, size_t *len, shoal_status *st)
{
	wbuf w = {0};
	size_t at, pl_len, bm = (s->nlabels + 7) / 8;
	uint64_t flen;

	*out = NULL;
	*len = 0;
	wb_put(&w, SNAP_MAGIC, 8);
	wb_u32(&w, SNAP_FMT);
	wb_u32(&w, s->hnsw ? 1 : 0);
	wb_u64(&w, spec->shard_id);
	wb_u64(&w, spec->incarnation);
	wb_u32(&w, spec->dim);
	wb_u32(&w, (uint32_t)spec->metric);
	wb_u32(&w, spec->m);
	wb_u32(&w, spec->ef_construction);
	wb_u64(&w, s->applied_seq);
	wb_u32(&w, (uint32_t)name_len);
	wb_put(&w, name, name_len);
	wb_pad(&w);
	wb_u64(&w, s->nlabels);
	wb_u64(&w, s->nlive);
	wb_put(&w, s->label_id, s->nlabels * sizeof *s->label_id);
	wb_put(&w, s->live, bm);
	wb_pad(&w);
	pl_len = pstore_serial_size(&s->pl);
	wb_u64(&w, pl_len);
	at = w.n;
	wb_put(&w, NULL, pl_len); /* reserve, then fill in place */
	pstore_serialize(&s->pl, w.b + at);
	wb_pad(&w);
	at = w.n;
	wb_u64(&w, 0); /* faiss_len, patched below */
	if (shoal_faiss_serialize(s->fi, faiss_writer, &w) != 0) {
		free(w.b);
		return faiss_fail(st, "serialize", spec->shard_id);
	}
	flen = w.n - at - 8;
	memcpy(w.b + at, &flen, 8);
	wb_pad(&w);
	wb_u64(&w, checksum(w.b, w.n));
	*out = w.b;
	*len = w.n;
	return SHOAL_OK;
}

typedef struct rbuf {
	const uint8_t *p, *end;
	bool bad;
} rbuf;

static const uint8_t *
rb_take(rbuf *r, size_t n)
{
	const uint8_t *p = r->p;
	if (r->bad || (size_t)(r->end - r->p) < n) {
		r->bad = true;
		return NULL;
	}
	r->p += n;
	return p;
}

static uint32_t
rb_u32(rbuf *r)
{
	uint32_t v = 0;
	const uint8_t *p = rb_take(r, 4);
	if (p)
		memcpy(&v, p, 4);
	return v;
}

static uint64_t
rb_u64(rbuf *r)
{
	uint64_t v = 0;
	const uint8_t *p = rb_take(r, 8);
	if (p)
		memcpy(&v, p, 8);
	return v;
}

static void
rb_pad(rbuf *r, const uint8_t *base)
{
	size_t off = (size_t)(r->p - base);
	if (off % 8)
		rb_take(r, 8 - off % 8);
}

shoal_code
pstate_deserialize(const uint8_t *data, size_t len, const shard_spec *spec, const char *name,
    size_t name_len, pstate **out, shoal_status *st)
{
	rbuf r = {data, data + (len >= 8 ? len - 8 : 0), false};
	uint64_t sum, shard, inc, seq, nlabels, nlive, pl_len, flen;
	uint32_t fmt, kind, dim, metric, m, efc, nlen;
	const uint8_t *nm, *ids, *bits, *pl, *fb;
	pstate *s = NULL;
	shoal_code rv;

	*out = NULL;
	if (len < 16 || len % 8 != 0 || memcmp(data, SNAP_MAGIC, 8) != 0)
		return shoal_status_set(st, SHOAL_DATA_LOSS, "snapshot: not a shoal index snapshot");
	memcpy(&sum, data + len - 8, 8);
	if (checksum(data, len - 8) != sum)
		return shoal_status_set(st, SHOAL_DATA_LOSS, "snapshot: checksum mismatch");
	rb_take(&r, 8);
	fmt = rb_u32(&r);
	kind = rb_u32(&r);
	shard = rb_u64(&r);
	inc = rb_u64(&r);
	dim = rb_u32(&r);
	metric = rb_u32(&r);
	m = rb_u32(&r);
	efc = rb_u32(&r);
	seq = rb_u64(&r);
	nlen = rb_u32(&r);
	nm = rb_take(&r, nlen);
	rb_pad(&r, data);
	if (r.bad || fmt != SNAP_FMT || kind > 1)
		return shoal_status_set(st, SHOAL_DATA_LOSS, "snapshot: unknown format %u", fmt);
	if (shard != spec->shard_id || inc != spec->incarnation || dim != spec->dim ||
	    (int)metric != spec->metric || m != spec->m || efc != spec->ef_construction)
		return shoal_status_set(st, SHOAL_FAILED_PRECONDITION,
		    "snapshot: made for another shard incarnation or spec");
	if (nlen != name_len || (nlen > 0 && memcmp(nm, name, nlen) != 0))
		return shoal_status_set(st, SHOAL_FAILED_PRECONDITION,
		    "snapshot: made for another partition");
	nlabels = rb_u64(&r);
	nlive = rb_u64(&r);
	if (nlabels > INT32_MAX || nlive > nlabels)
		return shoal_status_set(st, SHOAL_DATA_LOSS, "snapshot: bad label counts");
	ids = rb_take(&r, nlabels * 8);
	bits = rb_take(&r, (nlabels + 7) / 8);
	rb_pad(&r, data);
	pl_len = rb_u64(&r);
	pl = rb_take(&r, pl_len);
	rb_pad(&r, data);
	flen = rb_u64(&r);
	fb = rb_take(&r, flen);
	rb_pad(&r, data);
	if (r.bad || r.p != r.end)
		return shoal_status_set(st, SHOAL_DATA_LOSS, "snapshot: truncated or malformed");

	s = xcalloc(1, sizeof *s);
	s->hnsw = kind == 1;
	s->applied_seq = seq;
	if (!pstore_deserialize(&s->pl, pl, pl_len) || s->pl.nlabels != nlabels) {
		rv = shoal_status_set(st, SHOAL_DATA_LOSS, "snapshot: bad payload records");
		goto fail;
	}
	if (shoal_faiss_deserialize(fb, flen, &s->fi) != 0) {
		const char *e = faiss_get_last_error();
		s->fi = NULL;
		rv = shoal_status_set(st, SHOAL_DATA_LOSS, "snapshot: FAISS index does not load: %s",
		    e ? e : "unknown error");
		goto fail;
	}
	if ((uint64_t)faiss_Index_ntotal(s->fi) != nlabels ||
	    faiss_Index_d(s->fi) != (int)spec->dim ||
	    (shoal_faiss_is_hnsw(s->fi) != 0) != s->hnsw ||
	    faiss_Index_metric_type(s->fi) !=
	        (spec->metric == VECMATH_L2 ? METRIC_L2 : METRIC_INNER_PRODUCT)) {
		rv = shoal_status_set(st, SHOAL_DATA_LOSS, "snapshot: FAISS index does not match");
		goto fail;
	}
	state_reserve(s, nlabels);
	if (nlabels > 0) {
		memcpy(s->label_id, ids, nlabels * 8);
		memcpy(s->live, bits, (nlabels + 7) / 8);
	}
	s->nlabels = nlabels;
	s->built_labels = nlabels; /* a snapshot is written right after builds */
	map_grow(&s->map, (size_t)nlive * 2 + 2); /* one allocation, no rehashing */
	for (size_t l = 0; l < nlabels; l++) {
		if (!bit_get(s->live, l))
			continue;
		if (map_get(&s->map, s->label_id[l]) >= 0) {
			rv = shoal_status_set(st, SHOAL_DATA_LOSS, "snapshot: point %" PRIu64
			    " is live twice", s->label_id[l]);
			goto fail;
		}
		map_put(&s->map, s->label_id[l], (int64_t)l);
		s->nlive++;
	}
	if (s->nlive != nlive) {
		rv = shoal_status_set(st, SHOAL_DATA_LOSS, "snapshot: live count mismatch");
		goto fail;
	}
	*out = s;
	return SHOAL_OK;
fail:
	pstate_free(s);
	return rv;
}
