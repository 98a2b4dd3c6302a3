/* target_faiss.c -- the "faiss" target: raw FAISS HNSW in this process.
 *
 * The ceiling shoal's search path is measured against: the same FAISS
 * library (through common/faiss_capi.cc, CMake target shoal_faiss), the
 * same index ("HNSW{M},Flat", efConstruction set explicitly) and the same
 * per-query efSearch call (shoal_faiss_hnsw_search) that the worker uses,
 * with no network, no serialisation and no storage.  One query per call,
 * as a client sends them: batching queries would measure something no
 * shoal or pgvector client can do.
 *
 * Metrics: l2 -> METRIC_L2; ip -> METRIC_INNER_PRODUCT; cosine -> inner
 * product on normalized vectors (both the added base vectors and every
 * query), which ranks exactly as 1 - cos does.
 *
 * Filters (the filter workload): load_attr keeps each point's attribute
 * beside the index; a filter view is a bitmap of the matching labels that
 * shoal_faiss_hnsw_search tests during the graph search (pre-filtering,
 * the same glue the worker uses).  No shared collections: create_shared
 * is NULL and the scatter workload searches one index.
 *
 * Threading: load() runs on one thread (FAISS itself uses every core for
 * adds of >= 1024 vectors); any number of sessions may search at once
 * (concurrent HNSW searches are safe; faiss_ext.h runs each in the calling
 * thread).
 */
#include <stdlib.h>
#include <string.h>

#include <faiss/c_api/Index_c.h>
#include <faiss/c_api/error_c.h>
#include <faiss/c_api/index_factory_c.h>

#include "bench.h"
#include "faiss_ext.h"
#include "util.h"
#include "vecmath.h"

#define FAISS_ADD_CHUNK 10000
#define FAISS_MAX_K 4096

struct bench_target {
	bench_config cfg;
};

struct bench_coll {
	FaissIndex *index;    /* a view borrows its collection's */
	uint32_t dim;
	int64_t first_id;
	int64_t *attr;        /* load_attr: attr[label], owned (NULL in a view) */
	size_t n;
	uint8_t *bitmap;      /* a filter view: bit label set = matches, owned */
	bool view;
};

struct bench_session {
	bench_target *t;
	uint32_t ef;
	float *qbuf;       /* normalized query (cosine) */
	uint32_t qcap;
	float dist[FAISS_MAX_K];
	idx_t lab[FAISS_MAX_K];
};

static shoal_code
faiss_open(const bench_config *cfg, bench_target **out, shoal_status *st)
{
	(void)st;
	bench_target *t = xcalloc(1, sizeof *t);
	t->cfg = *cfg;
	*out = t;
	return SHOAL_OK;
}

static void
faiss_versions(bench_target *t, void (*put)(void *, const char *, const char *), void *arg)
{
	(void)t;
	put(arg, "faiss", BENCH_FAISS_VERSION);
}

static shoal_code
faiss_create(bench_target *t, const char *group, const char *name, uint32_t dim,
    bench_coll **out, shoal_status *st)
{
	(void)group;
	(void)name;
	char desc[64];
	snprintf(desc, sizeof desc, "HNSW%u,Flat", t->cfg.m);
	FaissMetricType fm = t->cfg.metric == VECMATH_L2 ? METRIC_L2 : METRIC_INNER_PRODUCT;
	bench_coll *c = xcalloc(1, sizeof *c);
	c->dim = dim;
	if (faiss_index_factory(&c->index, (int)dim, desc, fm) != 0) {
		free(c);
		return shoal_status_set(st, SHOAL_INTERNAL, "faiss index_factory(%s): %s", desc,
		    faiss_get_last_error());
	}
	if (shoal_faiss_hnsw_set_ef_construction(c->index, (int)t->cfg.ef_construction) != 0) {
		shoal_status_set(st, SHOAL_INTERNAL, "faiss efConstruction: %s",
		    faiss_get_last_error());
		faiss_Index_free(c->index);
		free(c);
		return st ? st->code : SHOAL_INTERNAL;
	}
	*out = c;
	return SHOAL_OK;
}

static shoal_code
faiss_load(bench_target *t, bench_coll *c, const float *v, size_t n, int64_t first_id,
    bench_load_times *times, void (*progress)(void *, size_t), void *parg, shoal_status *st)
{
	if (faiss_Index_ntotal(c->index) != 0)
		return shoal_status_set(st, SHOAL_FAILED_PRECONDITION,
		    "faiss target loads each index once");
	c->first_id = first_id;
	bool cosine = t->cfg.metric == VECMATH_COSINE;
	float *tmp = cosine ? xmalloc((size_t)FAISS_ADD_CHUNK * c->dim * sizeof *tmp) : NULL;
	double t0 = bench_now_s();
	shoal_code rv = SHOAL_OK;
	for (size_t i = 0; i < n; i += FAISS_ADD_CHUNK) {
		size_t b = n - i < FAISS_ADD_CHUNK ? n - i : FAISS_ADD_CHUNK;
		const float *src = v + i * c->dim;
		if (cosine) {
			/* normalizing is part of what the target does per vector */
			memcpy(tmp, src, b * c->dim * sizeof *tmp);
			for (size_t j = 0; j < b; j++)
				vecmath_normalize(tmp + j * c->dim, c->dim);
			src = tmp;
		}
		if (faiss_Index_add(c->index, (idx_t)b, src) != 0) {
			rv = shoal_status_set(st, SHOAL_INTERNAL, "faiss add: %s", faiss_get_last_error());
			break;
		}
		if (progress)
			progress(parg, i + b);
	}
	free(tmp);
	/* adding to an HNSW graph is the index build: nothing separate */
	times->load_s = bench_now_s() - t0;
	times->build_s = 0;
	return rv;
}

static shoal_code
faiss_load_attr(bench_target *t, bench_coll *c, const float *v, const int64_t *attr, size_t n,
    int64_t first_id, const char *field, bench_load_times *times,
    void (*progress)(void *, size_t), void *parg, shoal_status *st)
{
	(void)field;
	shoal_code rv = faiss_load(t, c, v, n, first_id, times, progress, parg, st);
	if (rv == SHOAL_OK) {
		c->attr = xmalloc((n ? n : 1) * sizeof *c->attr);
		memcpy(c->attr, attr, n * sizeof *attr);
		c->n = n;
	}
	return rv;
}

/* FAISS's own pre-filter: a bitmap of the labels that match, tested on
 * every candidate during the graph search (faiss_ext.h). */
static shoal_code
faiss_filter_view(bench_target *t, bench_coll *c, const char *field, int64_t below,
    int mode, bench_coll **out, shoal_status *st)
{
	(void)t;
	(void)mode;
	(void)field;
	if (c->attr == NULL)
		return shoal_status_set(st, SHOAL_FAILED_PRECONDITION,
		    "faiss: a filter view needs a collection loaded with load_attr");
	bench_coll *v = xcalloc(1, sizeof *v);
	v->index = c->index;
	v->dim = c->dim;
	v->first_id = c->first_id;
	v->n = c->n;
	v->view = true;
	v->bitmap = xcalloc((c->n + 7) / 8 + 1, 1);
	for (size_t i = 0; i < c->n; i++)
		if (c->attr[i] < below)
			v->bitmap[i / 8] |= (uint8_t)(1u << (i % 8));
	*out = v;
	return SHOAL_OK;
}

static shoal_code
faiss_session_open(bench_target *t, bench_session **out, shoal_status *st)
{
	(void)st;
	bench_session *s = xcalloc(1, sizeof *s);
	s->t = t;
	s->ef = 64;
	*out = s;
	return SHOAL_OK;
}

static void
faiss_session_close(bench_session *s)
{
	if (s == NULL)
		return;
	free(s->qbuf);
	free(s);
}

static shoal_code
faiss_set_ef(bench_session *s, uint32_t ef, shoal_status *st)
{
	(void)st;
	s->ef = ef;
	return SHOAL_OK;
}

static shoal_code
faiss_search(bench_session *s, bench_coll *c, const float *q, uint32_t k, int64_t *ids,
    size_t *n_ids, shoal_status *st)
{
	if (k > FAISS_MAX_K)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT, "k %u > %d", k, FAISS_MAX_K);
	if (s->t->cfg.metric == VECMATH_COSINE) {
		if (s->qcap < c->dim) {
			free(s->qbuf);
			s->qbuf = xmalloc(c->dim * sizeof *s->qbuf);
			s->qcap = c->dim;
		}
		memcpy(s->qbuf, q, c->dim * sizeof *q);
		vecmath_normalize(s->qbuf, c->dim);
		q = s->qbuf;
	}
	if (shoal_faiss_hnsw_search(c->index, 1, q, k, (int)s->ef, c->bitmap, c->bitmap ? c->n : 0,
	        NULL, NULL, s->dist, s->lab) != 0)
		return shoal_status_set(st, SHOAL_INTERNAL, "faiss search: %s", faiss_get_last_error());
	size_t m = 0;
	for (uint32_t i = 0; i < k; i++)
		if (s->lab[i] >= 0)
			ids[m++] = c->first_id + s->lab[i];
	*n_ids = m;
	return SHOAL_OK;
}

static void
faiss_drop(bench_target *t, bench_coll *c)
{
	(void)t;
	if (c == NULL)
		return;
	if (!c->view)
		faiss_Index_free(c->index);
	free(c->attr);
	free(c->bitmap);
	free(c);
}

static void
faiss_close(bench_target *t)
{
	free(t);
}

const bench_target_ops bench_faiss_ops = {
	.name = "faiss",
	.open = faiss_open,
	.versions = faiss_versions,
	.create = faiss_create,
	.load = faiss_load,
	.session_open = faiss_session_open,
	.session_close = faiss_session_close,
	.set_ef = faiss_set_ef,
	.search = faiss_search,
	.drop = faiss_drop,
	.close = faiss_close,
	.load_attr = faiss_load_attr,
	.filter_view = faiss_filter_view,
};
