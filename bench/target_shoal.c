/* target_shoal.c -- the "shoal" target: a shoal cluster through libshoal.
 *
 * Exactly what an application does: shoal_connect to the coordinator,
 * tenants and collections with the run's M / efConstruction / metric,
 * shoal_upsert in batches, shoal_search with a per-query ef_search.  Each
 * search session (one per client thread) has its own connection, as
 * separate application processes would.
 *
 * Names: the main data set goes to tenant "<run_id>" (collection "main");
 * the tenant workload creates tenants "<run_id>-tNNNN", each a dedicated
 * tenant with one collection.  Every tenant created is dropped at close
 * unless --keep, so repeated runs on a long-lived cluster leave nothing.
 *
 * Payload, filters, shared collections: load_attr stores one int payload
 * field per point; a filter view is the same collection searched with
 * the payload filter "field < X" (shoal_search_params.filter);
 * create_shared makes a cluster-level shared collection "<run_id>-NAME"
 * (tenant "", hash-distributed by an int payload field), whose searches
 * name no key and are therefore scattered to every shard; a key view
 * searches it naming one key (shoal_search_ex with opts.key).
 *
 * Ids: shoal point id = bench id + 1 (the bench's ids are 0-based and 0 is
 * the proto3 default, which a server may treat as "unset").
 *
 * Time to searchable: the upserts, then polling until shoal_count reports
 * every point and a search for the last vector loaded finds it (for l2 and
 * cosine, where a vector is its own nearest neighbour); whatever the
 * cluster does after acknowledging an upsert (index catch-up) is measured
 * as build_s.  A worker answers a shard's searches exactly from its row
 * store until the shard's HNSW index is built in the background (the first
 * search asks for it), so the target sets background_index and main.c
 * goes on to wait until the index is observed answering.
 *
 * Threading: load on one thread; sessions are per thread.
 */
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "shoal_client.h"
#include "util.h"
#include "vecmath.h"

#define SHOAL_SEARCHABLE_TIMEOUT_S 900.0

struct bench_target {
	bench_config cfg;
	shoal_client *c;
	char coord_version[64];
	uint32_t workers_up;
	char (*tenants)[SHOAL_NAME_MAX + 1]; /* created by this run */
	size_t n_tenants, cap_tenants;
};

struct bench_coll {
	char tenant[SHOAL_NAME_MAX + 1]; /* "" = a cluster-level (shared) collection */
	char name[SHOAL_NAME_MAX + 1];
	uint32_t dim;
	char filter[96];      /* a filter view: the payload filter of its searches */
	char key[24];         /* a key view: the distribution key its searches name */
	bool view;            /* drop() frees only this handle */
};

struct bench_session {
	shoal_client *c;
	uint32_t ef;
};

static shoal_code
connect_client(const bench_config *cfg, shoal_client **out, shoal_status *st)
{
	shoal_connect_opts o = {.timeout_ms = cfg->shoal_timeout_ms};
	return shoal_connect(cfg->shoal_url, &o, out, st);
}

static shoal_code
shoal_t_open(const bench_config *cfg, bench_target **out, shoal_status *st)
{
	if (cfg->shoal_url == NULL)
		return shoal_status_set(st, SHOAL_FAILED_PRECONDITION,
		    "no cluster: give --shoal URL or --local N");
	bench_target *t = xcalloc(1, sizeof *t);
	t->cfg = *cfg;
	shoal_code rv = connect_client(cfg, &t->c, st);
	shoal_cluster_info *ci = NULL;
	if (rv == SHOAL_OK)
		rv = shoal_cluster_status(t->c, &ci, st);
	if (rv != SHOAL_OK) {
		shoal_status_prefix(st, "shoal at %s", cfg->shoal_url);
		shoal_close(t->c);
		free(t);
		return rv == SHOAL_INVALID_ARGUMENT ? rv : SHOAL_UNAVAILABLE;
	}
	snprintf(t->coord_version, sizeof t->coord_version, "%s",
	    ci->version ? ci->version : "unknown");
	for (size_t i = 0; i < ci->n_workers; i++)
		t->workers_up += ci->workers[i].up ? 1 : 0;
	shoal_cluster_info_free(ci);
	if (t->workers_up == 0) {
		shoal_close(t->c);
		free(t);
		return shoal_status_set(st, SHOAL_UNAVAILABLE, "shoal at %s has no worker up",
		    cfg->shoal_url);
	}
	*out = t;
	return SHOAL_OK;
}

static void
shoal_t_versions(bench_target *t, void (*put)(void *, const char *, const char *), void *arg)
{
	char w[32];
	put(arg, "shoal", t->coord_version);
	put(arg, "libshoal", shoal_version_string());
	snprintf(w, sizeof w, "%u", t->workers_up);
	put(arg, "shoal_workers", w);
}

static shoal_code
ensure_tenant(bench_target *t, const char *tenant, shoal_status *st)
{
	for (size_t i = 0; i < t->n_tenants; i++)
		if (strcmp(t->tenants[i], tenant) == 0)
			return SHOAL_OK;
	shoal_code rv = shoal_tenant_create(t->c, tenant, NULL, NULL, st);
	if (rv != SHOAL_OK) {
		shoal_status_prefix(st, "create tenant %s", tenant);
		return rv;
	}
	if (t->n_tenants == t->cap_tenants) {
		t->cap_tenants = t->cap_tenants ? 2 * t->cap_tenants : 16;
		t->tenants = xrealloc(t->tenants, t->cap_tenants * sizeof *t->tenants);
	}
	snprintf(t->tenants[t->n_tenants++], SHOAL_NAME_MAX + 1, "%s", tenant);
	return SHOAL_OK;
}

/* The run's index parameters for a collection of dim. */
static shoal_collection_params
coll_params(const bench_target *t, uint32_t dim)
{
	return (shoal_collection_params){
		.dim = dim,
		.metric = t->cfg.metric == VECMATH_L2 ? SHOAL_METRIC_L2
		    : t->cfg.metric == VECMATH_IP     ? SHOAL_METRIC_IP
		                                      : SHOAL_METRIC_COSINE,
		.m = t->cfg.m,
		.ef_construction = t->cfg.ef_construction,
	};
}

static shoal_code
shoal_t_create(bench_target *t, const char *group, const char *name, uint32_t dim,
    bench_coll **out, shoal_status *st)
{
	bench_coll *c = xcalloc(1, sizeof *c);
	if (group)
		snprintf(c->tenant, sizeof c->tenant, "%s-%s", t->cfg.run_id, group);
	else
		snprintf(c->tenant, sizeof c->tenant, "%s", t->cfg.run_id);
	snprintf(c->name, sizeof c->name, "%s", name);
	c->dim = dim;
	shoal_collection_params p = coll_params(t, dim);
	shoal_code rv = ensure_tenant(t, c->tenant, st);
	if (rv == SHOAL_OK && (rv = shoal_collection_create(t->c, c->tenant, c->name, &p, NULL, st)) !=
	                          SHOAL_OK)
		shoal_status_prefix(st, "create collection %s/%s", c->tenant, c->name);
	if (rv != SHOAL_OK) {
		free(c);
		return rv;
	}
	*out = c;
	return SHOAL_OK;
}

/* True once the last vector loaded is findable by an approximate search. */
static bool
probe_searchable(bench_target *t, bench_coll *c, const float *v, uint64_t id)
{
	if (t->cfg.metric == VECMATH_IP)
		return true; /* a vector need not be its own top hit under ip */
	shoal_search_params sp = {.k = 10};
	shoal_search_result *r = NULL;
	if (shoal_search(t->c, c->tenant, c->name, v, c->dim, &sp, &r, NULL) != SHOAL_OK)
		return false;
	bool found = false;
	for (size_t i = 0; i < r->n_hits && !found; i++)
		found = r->hits[i].id == id;
	shoal_search_result_free(r);
	return found;
}

/* load_attr, and load with attr NULL (no payload). */
static shoal_code
load_points(bench_target *t, bench_coll *c, const float *v, const int64_t *attr, size_t n,
    int64_t first_id, const char *field, bench_load_times *times,
    void (*progress)(void *, size_t), void *parg, shoal_status *st)
{
	uint32_t batch = t->cfg.batch ? t->cfg.batch : 1000;
	uint64_t *ids = xmalloc(batch * sizeof *ids);
	shoal_field *fields = attr ? xmalloc(batch * sizeof *fields) : NULL;
	shoal_payload *payloads = attr ? xmalloc(batch * sizeof *payloads) : NULL;
	double t0 = bench_now_s();
	shoal_code rv = SHOAL_OK;
	for (size_t i = 0; i < n && rv == SHOAL_OK; i += batch) {
		size_t b = n - i < batch ? n - i : batch;
		for (size_t j = 0; j < b; j++)
			ids[j] = (uint64_t)(first_id + (int64_t)(i + j)) + 1;
		for (size_t j = 0; attr && j < b; j++) {
			fields[j] = (shoal_field){.key = field, .type = SHOAL_VALUE_INT, .i = attr[i + j]};
			payloads[j] = (shoal_payload){.fields = &fields[j], .n_fields = 1};
		}
		shoal_batch sb = {.n = b, .dim = c->dim, .ids = ids, .vectors = v + i * c->dim,
			.payloads = payloads};
		uint32_t done = 0;
		rv = shoal_upsert(t->c, c->tenant, c->name, &sb, &done, st);
		if (rv != SHOAL_OK)
			shoal_status_prefix(st, "upsert %s/%s points %zu..%zu", c->tenant, c->name, i,
			    i + b - 1);
		else if (done != b)
			rv = shoal_status_set(st, SHOAL_INTERNAL,
			    "upsert %s/%s: %u of %zu points acknowledged", c->tenant, c->name, done, b);
		if (rv == SHOAL_OK && progress)
			progress(parg, i + b);
	}
	free(ids);
	free(fields);
	free(payloads);
	double t1 = bench_now_s();
	times->load_s = t1 - t0;
	if (rv != SHOAL_OK)
		return rv;

	rv = bench_shoal_wait_searchable(t, c, v, n, first_id, st);
	times->build_s = bench_now_s() - t1;
	return rv;
}

shoal_code
bench_shoal_wait_searchable(bench_target *t, bench_coll *c, const float *v, size_t n,
    int64_t first_id, shoal_status *st)
{
	double t1 = bench_now_s();
	uint64_t last_id = (uint64_t)(first_id + (int64_t)n - 1) + 1;
	for (;;) {
		uint64_t cnt = 0;
		shoal_code crv = shoal_count(t->c, c->tenant, c->name, &cnt, st);
		if (crv != SHOAL_OK) {
			shoal_status_prefix(st, "count %s/%s", c->tenant, c->name);
			return crv;
		}
		if (cnt == n && (n == 0 || probe_searchable(t, c, v + (n - 1) * c->dim, last_id)))
			return SHOAL_OK;
		if (cnt > n)
			return shoal_status_set(st, SHOAL_INTERNAL,
			    "%s/%s counts %llu points after loading %zu", c->tenant, c->name,
			    (unsigned long long)cnt, n);
		if (bench_now_s() - t1 > SHOAL_SEARCHABLE_TIMEOUT_S)
			return shoal_status_set(st, SHOAL_DEADLINE_EXCEEDED,
			    "%s/%s not searchable %.0f s after loading: count %llu of %zu", c->tenant,
			    c->name, SHOAL_SEARCHABLE_TIMEOUT_S, (unsigned long long)cnt, n);
		util_sleep_ms(5);
	}
}

shoal_client *
bench_shoal_client(bench_target *t)
{
	return t->c;
}

static shoal_code
shoal_t_load(bench_target *t, bench_coll *c, const float *v, size_t n, int64_t first_id,
    bench_load_times *times, void (*progress)(void *, size_t), void *parg, shoal_status *st)
{
	return load_points(t, c, v, NULL, n, first_id, NULL, times, progress, parg, st);
}

static shoal_code
shoal_t_filter_view(bench_target *t, bench_coll *c, const char *field, int64_t below,
    int mode, bench_coll **out, shoal_status *st)
{
	(void)t;
	(void)mode;
	(void)st;
	bench_coll *v = xmalloc(sizeof *v);
	*v = *c;
	v->view = true;
	snprintf(v->filter, sizeof v->filter, "%s < %lld", field, (long long)below);
	*out = v;
	return SHOAL_OK;
}

static shoal_code
shoal_t_key_view(bench_target *t, bench_coll *c, int64_t key, bench_coll **out,
    shoal_status *st)
{
	(void)t;
	(void)st;
	bench_coll *v = xmalloc(sizeof *v);
	*v = *c;
	v->view = true;
	/* an int key is addressed by its decimal text (shoal_client.h) */
	snprintf(v->key, sizeof v->key, "%lld", (long long)key);
	*out = v;
	return SHOAL_OK;
}

static shoal_code
shoal_t_create_shared(bench_target *t, const char *name, uint32_t dim, uint32_t shards,
    const char *key_field, bench_coll **out, shoal_status *st)
{
	bench_coll *c = xcalloc(1, sizeof *c);
	/* one namespace with the tenants: the run id keeps it unique */
	snprintf(c->name, sizeof c->name, "%s-%s", t->cfg.run_id, name);
	c->dim = dim;
	shoal_collection_params p = coll_params(t, dim);
	shoal_distribution d = {.placement = SHOAL_PLACEMENT_SHARED, .shards = shards,
		.key_field = key_field};
	shoal_code rv = shoal_collection_create_distributed(t->c, c->name, &p, &d, NULL, st);
	if (rv != SHOAL_OK) {
		shoal_status_prefix(st, "create shared collection %s", c->name);
		free(c);
		return rv;
	}
	*out = c;
	return SHOAL_OK;
}

const char *
bench_shoal_tenant(const bench_coll *c)
{
	return c->tenant;
}

const char *
bench_shoal_collection(const bench_coll *c)
{
	return c->name;
}

static shoal_code
shoal_t_session_open(bench_target *t, bench_session **out, shoal_status *st)
{
	bench_session *s = xcalloc(1, sizeof *s);
	shoal_code rv = connect_client(&t->cfg, &s->c, st);
	/* libshoal dials in the background: one call now, so that the timed
	 * searches do not include connection set-up */
	shoal_cluster_info *ci = NULL;
	if (rv == SHOAL_OK && (rv = shoal_cluster_status(s->c, &ci, st)) == SHOAL_OK)
		shoal_cluster_info_free(ci);
	if (rv != SHOAL_OK) {
		shoal_close(s->c);
		free(s);
		return rv;
	}
	*out = s;
	return SHOAL_OK;
}

static void
shoal_t_session_close(bench_session *s)
{
	if (s == NULL)
		return;
	shoal_close(s->c);
	free(s);
}

static shoal_code
shoal_t_set_ef(bench_session *s, uint32_t ef, shoal_status *st)
{
	(void)st;
	s->ef = ef;
	return SHOAL_OK;
}

static shoal_code
shoal_t_search(bench_session *s, bench_coll *c, const float *q, uint32_t k, int64_t *ids,
    size_t *n_ids, shoal_status *st)
{
	shoal_search_params sp = {.k = k, .ef_search = s->ef, .filter = c->filter[0] ? c->filter : NULL};
	shoal_search_result *r = NULL;
	shoal_search_opts so = {.key = c->key[0] ? c->key : NULL};
	shoal_code rv = shoal_search_ex(s->c, c->tenant, c->name, q, c->dim, &sp, &so, &r, st);
	if (rv != SHOAL_OK)
		return rv;
	size_t m = r->n_hits < k ? r->n_hits : k;
	for (size_t i = 0; i < m; i++)
		ids[i] = (int64_t)r->hits[i].id - 1;
	*n_ids = m;
	bool complete = r->complete;
	shoal_search_result_free(r);
	if (!complete)
		return shoal_status_set(st, SHOAL_UNAVAILABLE,
		    "search of %s/%s answered incomplete (part of the data unreachable)", c->tenant,
		    c->name);
	return SHOAL_OK;
}

static void
shoal_t_drop(bench_target *t, bench_coll *c)
{
	if (c == NULL)
		return;
	if (!t->cfg.keep && !c->view) {
		shoal_status st;
		if (shoal_collection_drop(t->c, c->tenant, c->name, &st) != SHOAL_OK)
			fprintf(stderr, "shoal-bench: warning: drop %s/%s: %s\n", c->tenant, c->name,
			    st.msg);
	}
	free(c);
}

static void
shoal_t_close(bench_target *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->n_tenants && !t->cfg.keep; i++) {
		shoal_status st;
		if (shoal_tenant_drop(t->c, t->tenants[i], &st) != SHOAL_OK)
			fprintf(stderr, "shoal-bench: warning: drop tenant %s: %s\n", t->tenants[i],
			    st.msg);
	}
	free(t->tenants);
	shoal_close(t->c);
	free(t);
}

const bench_target_ops bench_shoal_ops = {
	.name = "shoal",
	.background_index = true,
	.open = shoal_t_open,
	.versions = shoal_t_versions,
	.create = shoal_t_create,
	.load = shoal_t_load,
	.session_open = shoal_t_session_open,
	.session_close = shoal_t_session_close,
	.set_ef = shoal_t_set_ef,
	.search = shoal_t_search,
	.drop = shoal_t_drop,
	.close = shoal_t_close,
	.load_attr = load_points,
	.filter_view = shoal_t_filter_view,
	.create_shared = shoal_t_create_shared,
	.key_view = shoal_t_key_view,
};
