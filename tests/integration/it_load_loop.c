/* it_load_loop.c -- the online-move tests' writer and reader threads and
 * the check of what they acknowledged (see it_load_loop.h). */
#include "it_load_loop.h"

#include <inttypes.h>
#include <stdio.h>
#include <unistd.h>

#include "it_dist.h"
#include "util.h"

#define BATCH 8
#define RETRY_LIMIT_MS 120000 /* a retried write gives up (an error) after this */

shoal_code
it_traffic_put(shoal_client *cl, const it_traffic *L, const it_space *sp, const uint64_t *ids,
    size_t n, int g, shoal_status *st)
{
	float *v = malloc((n ? n : 1) * L->dim * sizeof *v);
	char(*keys)[24] = malloc((n ? n : 1) * sizeof *keys);
	shoal_field *f = malloc((n ? n : 1) * sizeof *f);
	shoal_payload *pl = malloc((n ? n : 1) * sizeof *pl);
	bool shared = sp->tenant[0] == '\0';
	for (size_t i = 0; i < n; i++) {
		L->vec(ids[i], g, v + i * L->dim);
		if (shared) {
			it_key(ids[i], L->nkeys, keys[i], sizeof keys[i]);
			f[i] = (shoal_field){.key = L->key_field, .type = SHOAL_VALUE_STRING, .s = keys[i]};
			pl[i] = (shoal_payload){.fields = &f[i], .n_fields = 1};
		}
	}
	shoal_batch b = {.n = n, .dim = L->dim, .ids = ids, .vectors = v,
		.payloads = shared ? pl : NULL};
	uint32_t up;
	shoal_code rc = shoal_upsert(cl, sp->tenant, sp->coll, &b, &up, st);
	free(v);
	free(keys);
	free(f);
	free(pl);
	return rc;
}

static shoal_code
del(shoal_client *cl, const it_traffic *L, const it_space *sp, uint64_t id, shoal_status *st)
{
	char key[24];
	uint32_t nd;
	if (sp->tenant[0] == '\0') {
		it_key(id, L->nkeys, key, sizeof key);
		return shoal_delete_ex(cl, "", sp->coll, key, &id, 1, &nd, st);
	}
	return shoal_delete(cl, sp->tenant, sp->coll, &id, 1, &nd, st);
}

/* Runs one write (put or del) until it is acknowledged (with retry) or
 * once; records a failure in L->s.  Returns whether it was acknowledged. */
static bool
write_once(it_traffic *L, shoal_client *cl, const it_space *sp, const uint64_t *ids, size_t n,
    int g, const char *what)
{
	shoal_status st;
	uint64_t end = util_mono_ms() + RETRY_LIMIT_MS;
	for (;;) {
		shoal_code rc = g ? it_traffic_put(cl, L, sp, ids, n, g, &st) : del(cl, L, sp, ids[0], &st);
		if (rc == SHOAL_OK)
			return true;
		if (!L->retry || util_mono_ms() > end) {
			snprintf(L->s.werr, sizeof L->s.werr, "%s %s/%s: %.400s", what, sp->tenant,
			    sp->coll, st.msg);
			atomic_fetch_add(&L->s.werrors, 1);
			return false;
		}
		usleep(50000);
	}
}

static void *
writer(void *arg)
{
	it_traffic *L = arg;
	shoal_client *cl = it_connect(L->c);
	unsigned seed = L->seed ? L->seed : 12345;
	int gen = 100;
	for (size_t round = 0; !atomic_load(&L->stop); round++) {
		const it_space *sp = &L->spaces[round % L->n_spaces];
		uint64_t ids[BATCH];
		size_t n = 0;
		int g = ++gen;
		for (int i = 0; i < BATCH; i++) {
			uint64_t id = (uint64_t)rand_r(&seed) % L->nids;
			bool dup = false;
			for (size_t k = 0; k < n; k++)
				dup = dup || ids[k] == id;
			if (!dup)
				ids[n++] = id;
		}
		if (write_once(L, cl, sp, ids, n, g, "upsert")) {
			pthread_mutex_lock(&L->mu);
			for (size_t i = 0; i < n; i++)
				sp->state[ids[i]] = g;
			pthread_mutex_unlock(&L->mu);
		}
		if (gen % 3 == 0) {
			uint64_t d = (uint64_t)rand_r(&seed) % L->nids;
			if (write_once(L, cl, sp, &d, 1, 0, "delete")) {
				pthread_mutex_lock(&L->mu);
				sp->state[d] = -1;
				pthread_mutex_unlock(&L->mu);
			}
		}
		atomic_fetch_add(&L->s.writes, 1);
		usleep(3000);
	}
	shoal_close(cl);
	return NULL;
}

static void *
reader(void *arg)
{
	it_traffic *L = arg;
	shoal_client *cl = it_connect(L->c);
	float *q = malloc(L->dim * sizeof *q);
	for (int i = 0; !atomic_load(&L->stop); i++) {
		const it_space *sp = &L->spaces[(size_t)i % L->n_spaces];
		char key[24];
		L->vec((uint64_t)(i * 7919) % L->nids, i, q);
		it_key((uint64_t)i, L->nkeys ? L->nkeys : 1, key, sizeof key);
		shoal_search_params p = {.k = L->k ? L->k : 20};
		shoal_search_opts o = {.key = sp->tenant[0] == '\0' && i % 2 ? key : NULL};
		shoal_search_result *r;
		shoal_status st;
		int before = atomic_load(&L->s.rerrors);
		it_note_search(&L->s,
		    shoal_search_ex(cl, sp->tenant, sp->coll, q, L->dim, &p, &o, &r, &st), &r, &st,
		    sp->coll);
		if (atomic_load(&L->s.rerrors) != before)
			usleep(10000); /* a worker down: do not spin */
	}
	free(q);
	shoal_close(cl);
	return NULL;
}

void
it_traffic_start(it_traffic *L, bool write, bool read)
{
	atomic_init(&L->stop, false);
	pthread_mutex_init(&L->mu, NULL);
	L->writing = write;
	L->reading = read;
	if (write)
		pthread_create(&L->tw, NULL, writer, L);
	if (read)
		pthread_create(&L->tr, NULL, reader, L);
}

void
it_traffic_stop(it_traffic *L)
{
	atomic_store(&L->stop, true);
	if (L->writing)
		pthread_join(L->tw, NULL);
	if (L->reading)
		pthread_join(L->tr, NULL);
	L->writing = L->reading = false;
	pthread_mutex_destroy(&L->mu);
}

uint64_t
it_traffic_verify(harness_cluster *c, const it_traffic *L, const it_space *sp, const char *when)
{
	shoal_client *cl = it_connect(c);
	char what[200];
	snprintf(what, sizeof what, "%s (%s/%s)", when, sp->tenant, sp->coll);
	uint64_t live = 0;
	for (uint64_t first = 0; first < L->nids; first += 500) {
		size_t n = L->nids - first < 500 ? L->nids - first : 500;
		uint64_t ids[500];
		for (size_t i = 0; i < n; i++)
			ids[i] = first + (uint64_t)i;
		shoal_get_result *g;
		shoal_status st;
		CHECK(shoal_get(cl, sp->tenant, sp->coll, ids, n, true, &g, &st) == SHOAL_OK,
		    "%s: get: %s", what, st.msg);
		live += it_check_acked(what, g, first, n, sp->state, L->dim, L->vec);
		shoal_get_result_free(g);
	}
	uint64_t n;
	shoal_status st;
	CHECK(shoal_count(cl, sp->tenant, sp->coll, &n, &st) == SHOAL_OK, "%s: count: %s", what,
	    st.msg);
	CHECK(n == live, "%s: count %" PRIu64 " != %" PRIu64 " live", what, n, live);
	shoal_close(cl);
	return live;
}

int
it_harness_worker(harness_cluster *c, const char *name)
{
	shoal_client *cl = it_connect(c);
	shoal_cluster_info *ci;
	shoal_status st;
	CHECK(shoal_cluster_status(cl, &ci, &st) == SHOAL_OK, "status: %s", st.msg);
	int idx = -1;
	for (size_t i = 0; i < ci->n_workers; i++)
		if (strcmp(ci->workers[i].name, name) == 0)
			for (int k = 0; k < c->nworkers; k++)
				if (strcmp(c->worker_url[k], ci->workers[i].url) == 0)
					idx = k;
	shoal_cluster_info_free(ci);
	shoal_close(cl);
	CHECK(idx >= 0, "no harness worker for %s", name);
	return idx;
}

void
it_spaces_init(it_space *sp, char names[][16], size_t n, const char *prefix, const char *coll,
    int *state, size_t nids)
{
	for (size_t t = 0; t < n; t++) {
		int k = snprintf(names[t], 16, "%s%zu", prefix, t);
		CHECK(k > 0 && k < 16, "tenant name %s%zu: too long", prefix, t);
		sp[t] = (it_space){names[t], coll, state + t * nids};
	}
}

void
it_cluster_tenants_on_first(harness_cluster *c, int nworkers, const it_traffic *L,
    size_t first, char workers[][64])
{
	harness_cluster_start(c, nworkers);
	shoal_client *cl = it_connect(c);
	shoal_cluster_info *ci;
	OK(shoal_cluster_status(cl, &ci, &st_));
	CHECK(ci->n_workers >= (size_t)nworkers, "the coordinator lists %zu of %d workers",
	    ci->n_workers, nworkers);
	for (int i = 0; i < nworkers; i++)
		snprintf(workers[i], 64, "%s", ci->workers[i].name);
	shoal_cluster_info_free(ci);

	shoal_collection_params p = {.dim = L->dim, .metric = SHOAL_METRIC_L2};
	uint64_t *ids = malloc((first ? first : 1) * sizeof *ids);
	for (size_t i = 0; i < first; i++)
		ids[i] = (uint64_t)i;
	for (size_t t = 0; t < L->n_spaces; t++) {
		const it_space *sp = &L->spaces[t];
		CHECK(sp->tenant[0] != '\0' && first <= L->nids, "bad set-up of space %zu", t);
		OK(shoal_tenant_create(cl, sp->tenant, workers[0], NULL, &st_));
		OK(shoal_collection_create(cl, sp->tenant, sp->coll, &p, NULL, &st_));
		OK(it_traffic_put(cl, L, sp, ids, first, 1, &st_));
		for (size_t i = 0; i < first; i++)
			sp->state[i] = 1;
	}
	free(ids);
	shoal_close(cl);
}
