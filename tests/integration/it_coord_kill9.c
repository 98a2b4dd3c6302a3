/* it_coord_kill9.c -- kill -9 of the coordinator (docs/security.md, "Faults
 * the tests inject").
 *
 * Part 1, during scatter searches.  Two workers hold a dedicated tenant's
 * collection and an 8-shard shared collection; the answers of a fixed set
 * of searches (scatter over every shard, and the tenant's) are recorded.
 * Two client threads then search in a loop while the coordinator is killed
 * with SIGKILL.  Asserted: every answer before the kill equals the
 * recorded one; every failure is UNAVAILABLE, arrives well within the
 * call's timeout (no hang: < 5 s of a 20 s timeout), and at least one
 * names a connection lost while waiting for the reply (a search was in
 * flight).  After a restart every search returns exactly the recorded
 * answers, through a fresh client and through the clients that saw the
 * crash (they reconnect by themselves).
 *
 * Part 2, during catalog changes.  In each round a thread runs DDL in a
 * loop -- create tenant, create its collection, upsert 20 points, create a
 * shared collection, drop the previous collection, tenant and shared
 * collection -- and the coordinator is SIGKILLed at a random moment, then
 * restarted.  A model records each change as acknowledged, failed, or
 * unknown (the one in flight at the kill: its reply was lost).  Asserted
 * after each restart: the failure at the kill is UNAVAILABLE and fast;
 * every acknowledged create is listed and every acknowledged drop is not;
 * an unknown change is either fully there or fully absent: a listed
 * collection has every shard on the worker the catalog names (Worker
 * Status), takes upserts, gets, searches and counts (its 20 points when
 * their upsert was acknowledged); a name that is absent can be created
 * again (no leftover blocks it) and dropped.  Shards on a worker that no
 * catalog entry names are allowed only from creates the kill cut (at most
 * 1, or 4 for a shared collection, each: unused space the design accepts,
 * decision 64): the shards of a cut drop must disappear within 15 s of the
 * restart (the catch-up thread replays the queued drops, decision 63).
 *
 * SHOAL_KILL_ROUNDS sets the rounds of part 2 (default 6); SHOAL_KILL_SEED
 * the random kill moments (default: time; printed).
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

#include "it_dist.h"

#define DIM 16
#define SEED 41
#define NQ 16
#define K 10
#define NSHARED 4000
#define NTENANT 2000
#define CALL_TIMEOUT_MS 20000
#define FAST_MS 5000

static harness_cluster c;

static shoal_client *
connect_client(void)
{
	shoal_connect_opts o = {.timeout_ms = CALL_TIMEOUT_MS};
	shoal_client *cl = NULL;
	shoal_status st;
	CHECK(shoal_connect(c.coord_url, &o, &cl, &st) == SHOAL_OK, "connect: %s", st.msg);
	return cl;
}

/* ===================================================================
 * Part 1: scatter searches
 * =================================================================== */

typedef struct answer {
	size_t n;
	uint64_t ids[K];
	float d[K];
} answer;

static float queries[NQ][DIM];
static answer ref[2][NQ]; /* [0] shared scatter, [1] the tenant's */

static shoal_code
run_search(shoal_client *cl, int which, int q, answer *out, shoal_status *st)
{
	shoal_search_params sp = {.k = K};
	shoal_search_result *r = NULL;
	shoal_code rc = which == 0
	    ? shoal_search_ex(cl, "", "sh", queries[q], DIM, &sp, NULL, &r, st)
	    : shoal_search(cl, "acme", "docs", queries[q], DIM, &sp, &r, st);
	if (rc != SHOAL_OK)
		return rc;
	out->n = r->n_hits;
	for (size_t i = 0; i < r->n_hits && i < K; i++) {
		out->ids[i] = r->hits[i].id;
		out->d[i] = r->hits[i].distance;
	}
	shoal_search_result_free(r);
	return SHOAL_OK;
}

static bool
same(const answer *a, const answer *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (a->ids[i] != b->ids[i] || a->d[i] != b->d[i])
			return false;
	return true;
}

typedef struct searcher {
	shoal_client *cl;
	atomic_bool *stop;
	int ok, mismatches, failures, not_unavailable, lost_in_flight;
	long slowest_failure_ms;
	char first_failure[SHOAL_STATUS_MSG_MAX + 32];
	char slowest_failure[SHOAL_STATUS_MSG_MAX + 32];
} searcher;

static void *
search_loop(void *arg)
{
	searcher *s = arg;
	for (int i = 0; !atomic_load(s->stop); i++) {
		int which = i % 2, q = (i / 2) % NQ;
		answer a;
		shoal_status st;
		long t0 = it_now_ms();
		shoal_code rc = run_search(s->cl, which, q, &a, &st);
		long took = it_now_ms() - t0;
		if (rc == SHOAL_OK) {
			s->ok++;
			s->mismatches += !same(&a, &ref[which][q]);
			continue;
		}
		if (s->failures++ == 0)
			snprintf(s->first_failure, sizeof s->first_failure, "%s: %s",
			    shoal_code_name(rc), st.msg);
		s->not_unavailable += rc != SHOAL_UNAVAILABLE;
		s->lost_in_flight += strstr(st.msg, "connection lost while waiting") != NULL;
		if (took > s->slowest_failure_ms) {
			s->slowest_failure_ms = took;
			snprintf(s->slowest_failure, sizeof s->slowest_failure, "%s: %s",
			    shoal_code_name(rc), st.msg);
		}
		it_sleep_ms(20); /* a client retrying against a dead coordinator */
	}
	return NULL;
}

static void
check_all_answers(shoal_client *cl, const char *who)
{
	for (int which = 0; which < 2; which++)
		for (int q = 0; q < NQ; q++) {
			answer a;
			shoal_status st;
			shoal_code rc = SHOAL_UNAVAILABLE;
			/* a client that saw the crash reconnects in the background */
			for (int tries = 0; tries < 100 && rc == SHOAL_UNAVAILABLE; tries++) {
				rc = run_search(cl, which, q, &a, &st);
				if (rc == SHOAL_UNAVAILABLE)
					it_sleep_ms(50);
			}
			CHECK(rc == SHOAL_OK, "%s: search %d/%d after the restart: %s: %s", who, which, q,
			    shoal_code_name(rc), st.msg);
			CHECK(same(&a, &ref[which][q]),
			    "%s: search %d/%d after the restart differs from before the kill", who, which,
			    q);
		}
}

static void
part_scatter(shoal_client *adm)
{
	shoal_collection_params p = {.dim = DIM, .metric = SHOAL_METRIC_L2};
	shoal_distribution d = {.placement = SHOAL_PLACEMENT_SHARED, .shards = 8};
	OK(shoal_collection_create_distributed(adm, "sh", &p, &d, NULL, &st_));
	it_load_keyed(adm, "sh", SEED, 0, NSHARED, DIM, "tenant", 50);
	OK(shoal_tenant_create(adm, "acme", NULL, NULL, &st_));
	OK(shoal_collection_create(adm, "acme", "docs", &p, NULL, &st_));
	it_load(adm, "acme", "docs", SEED + 1, 0, NTENANT, DIM);
	vecio_generate(SEED + 2, 0, NQ, DIM, &queries[0][0]);
	for (int which = 0; which < 2; which++)
		for (int q = 0; q < NQ; q++) {
			shoal_status st;
			shoal_code rc = run_search(adm, which, q, &ref[which][q], &st);
			CHECK(rc == SHOAL_OK && ref[which][q].n == K, "reference search: %s",
			    st.msg);
		}

	atomic_bool stop = false;
	searcher s[2] = {{.stop = &stop}, {.stop = &stop}};
	pthread_t th[2];
	for (int i = 0; i < 2; i++) {
		s[i].cl = connect_client();
		pthread_create(&th[i], NULL, search_loop, &s[i]);
	}
	it_sleep_ms(1500);
	CHECK(s[0].ok > 0 && s[1].ok > 0, "no search answered before the kill");
	harness_signal_coordinator(&c, SIGKILL);
	long killed = it_now_ms();
	it_sleep_ms(1500); /* the clients keep calling a dead coordinator */
	atomic_store(&stop, true);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	long joined = it_now_ms() - killed;
	int lost = 0;
	for (int i = 0; i < 2; i++) {
		printf("  searcher %d: %d answers, %d failures after the kill (slowest %ld ms); "
		       "first: %s\n",
		    i, s[i].ok, s[i].failures, s[i].slowest_failure_ms, s[i].first_failure);
		CHECK(s[i].mismatches == 0, "searcher %d: %d answers differ from the reference", i,
		    s[i].mismatches);
		CHECK(s[i].failures > 0, "searcher %d saw no failure after the kill", i);
		CHECK(s[i].not_unavailable == 0, "searcher %d: a failure was not UNAVAILABLE (%s)",
		    i, s[i].first_failure);
		CHECK(s[i].slowest_failure_ms < FAST_MS,
		    "searcher %d: a failure took %ld ms (a hang; timeout %d ms): %s", i,
		    s[i].slowest_failure_ms, CALL_TIMEOUT_MS, s[i].slowest_failure);
		lost += s[i].lost_in_flight;
	}
	CHECK(joined < 1500 + FAST_MS, "the searchers took %ld ms to stop", joined);
	CHECK(lost > 0, "no search was in flight at the kill (no 'connection lost')");

	harness_start_coordinator(&c);
	CHECK(harness_wait_workers_up(&c, 2, 20000), "workers not up after the restart");
	shoal_client *fresh = connect_client();
	check_all_answers(fresh, "fresh client");
	shoal_close(fresh);
	for (int i = 0; i < 2; i++) {
		check_all_answers(s[i].cl, "client that saw the crash");
		shoal_close(s[i].cl);
	}
	printf("  after the restart: all %d searches answer as before the kill\n", 2 * NQ);
}

/* ===================================================================
 * Part 2: catalog changes
 * =================================================================== */

enum { ABSENT = 0, PRESENT = 1, UNKNOWN = 2 };

#define MAXN 16384 /* a quiet machine acknowledges ~400 changes a round */
typedef struct entity {
	char tenant[32]; /* dedicated: tenant; shared: "" */
	char name[32];   /* tenant: ""; collection name */
	int state;
	int points;      /* a collection's points; -1: 0 or 20 (upsert unknown) */
} entity;

static entity ents[MAXN];
static int nents;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

static entity *
ent(const char *tenant, const char *name)
{
	for (int i = 0; i < nents; i++)
		if (strcmp(ents[i].tenant, tenant) == 0 && strcmp(ents[i].name, name) == 0)
			return &ents[i];
	CHECK(nents < MAXN, "too many entities");
	entity *e = &ents[nents++];
	snprintf(e->tenant, sizeof e->tenant, "%s", tenant);
	snprintf(e->name, sizeof e->name, "%s", name);
	return e;
}

typedef struct ddl_run {
	int round;
	shoal_client *cl;
	int ops_acked;
	shoal_code last_rc;
	char last_msg[SHOAL_STATUS_MSG_MAX];
	char last_op[96];
	long last_ms;
} ddl_run;

/* Applies one change's outcome to the model; false = stop (the kill). */
static bool
outcome(ddl_run *run, shoal_code rc, const shoal_status *st, long took, entity *e,
    int if_ok, const char *op)
{
	pthread_mutex_lock(&mu);
	if (rc == SHOAL_OK) {
		if (e != NULL)
			e->state = if_ok;
		run->ops_acked++;
	} else {
		if (e != NULL)
			e->state = UNKNOWN;
		run->last_rc = rc;
		snprintf(run->last_msg, sizeof run->last_msg, "%s", st->msg);
		snprintf(run->last_op, sizeof run->last_op, "%s", op);
		run->last_ms = took;
	}
	pthread_mutex_unlock(&mu);
	return rc == SHOAL_OK;
}

static void *
ddl_loop(void *arg)
{
	ddl_run *run = arg;
	shoal_collection_params p = {.dim = DIM, .metric = SHOAL_METRIC_L2};
	shoal_distribution d = {.placement = SHOAL_PLACEMENT_SHARED, .shards = 4};
	char t[32], prev_t[32] = "", prev2_t[32] = "", s[32], prev_s[32] = "", op[96];
	shoal_status st;
	shoal_code rc;
	long t0;

#define STEP(call, e, if_ok)                                                  \
	do {                                                                  \
		t0 = it_now_ms();                                                \
		rc = (call);                                                  \
		if (!outcome(run, rc, &st, it_now_ms() - t0, (e), (if_ok), op)) \
			return NULL;                                          \
	} while (0)

	for (int i = 0;; i++) {
		snprintf(t, sizeof t, "r%dt%d", run->round, i);
		snprintf(s, sizeof s, "r%ds%d", run->round, i);
		snprintf(op, sizeof op, "create tenant %s", t);
		STEP(shoal_tenant_create(run->cl, t, NULL, NULL, &st), ent(t, ""), PRESENT);
		snprintf(op, sizeof op, "create collection %s/docs", t);
		STEP(shoal_collection_create(run->cl, t, "docs", &p, NULL, &st), ent(t, "docs"),
		    PRESENT);
		snprintf(op, sizeof op, "upsert into %s/docs", t);
		{
			float v[20 * DIM];
			uint64_t ids[20];
			vecio_generate(SEED + 3, 0, 20, DIM, v);
			for (int j = 0; j < 20; j++)
				ids[j] = (uint64_t)j;
			shoal_batch b = {.n = 20, .dim = DIM, .ids = ids, .vectors = v};
			entity *e = ent(t, "docs");
			t0 = it_now_ms();
			rc = shoal_upsert(run->cl, t, "docs", &b, NULL, &st);
			pthread_mutex_lock(&mu);
			e->points = rc == SHOAL_OK ? 20 : -1;
			pthread_mutex_unlock(&mu);
			if (!outcome(run, rc, &st, it_now_ms() - t0, NULL, 0, op))
				return NULL;
		}
		snprintf(op, sizeof op, "create shared collection %s", s);
		STEP(shoal_collection_create_distributed(run->cl, s, &p, &d, NULL, &st), ent("", s),
		    PRESENT);
		if (prev_t[0] != '\0') {
			snprintf(op, sizeof op, "drop collection %s/docs", prev_t);
			STEP(shoal_collection_drop(run->cl, prev_t, "docs", &st), ent(prev_t, "docs"),
			    ABSENT);
		}
		if (prev2_t[0] != '\0') {
			snprintf(op, sizeof op, "drop tenant %s", prev2_t);
			STEP(shoal_tenant_drop(run->cl, prev2_t, &st), ent(prev2_t, ""), ABSENT);
		}
		if (prev_s[0] != '\0') {
			snprintf(op, sizeof op, "drop shared collection %s", prev_s);
			STEP(shoal_collection_drop(run->cl, "", prev_s, &st), ent("", prev_s), ABSENT);
		}
		snprintf(prev2_t, sizeof prev2_t, "%s", prev_t);
		snprintf(prev_t, sizeof prev_t, "%s", t);
		snprintf(prev_s, sizeof prev_s, "%s", s);
	}
#undef STEP
}

/* Shard ids each worker holds (Worker.Status). */
static size_t
worker_shards(int w, uint64_t *out, size_t cap)
{
	rpc_client *rc;
	shoal_status st;
	rpc_result res;
	CHECK(rpc_client_open(c.worker_url[w], &shoal__worker__descriptor, NULL, &rc, &st) ==
	    SHOAL_OK, "open worker %d: %s", w, st.msg);
	Shoal__WorkerStatusRequest req = SHOAL__WORKER_STATUS_REQUEST__INIT;
	RPC_INVOKE(shoal__worker__status, rpc_client_service(rc), &req, &res);
	CHECK(res.status.code == SHOAL_OK, "worker %d status: %s", w, res.status.msg);
	const Shoal__WorkerStatusReply *r = (const Shoal__WorkerStatusReply *)res.reply;
	size_t n = 0;
	for (size_t i = 0; i < r->n_shards && n < cap; i++)
		out[n++] = r->shards[i]->shard_id;
	rpc_result_free(&res);
	rpc_client_close(rc);
	return n;
}

static uint64_t wshards[2][4096];
static size_t nwshards[2];
static unsigned char wused[2][4096];
static char wname[2][64];

/* Marks shard `id` as named by the catalog on worker `worker`; fails the
 * test when that worker does not hold it. */
static void
expect_shard(const char *worker, uint64_t id, const char *what)
{
	int w = it_worker_index((const char (*)[64])wname, 2, worker);
	CHECK(w >= 0, "%s: shard %llu on unknown worker '%s'", what, (unsigned long long)id,
	    worker);
	for (size_t i = 0; i < nwshards[w]; i++)
		if (wshards[w][i] == id) {
			wused[w][i] = 1;
			return;
		}
	CHECK(false, "%s: the catalog places shard %llu on %s, which does not hold it", what,
	    (unsigned long long)id, worker);
}

/* A listed collection works: upsert, get, search, count. */
static void
exercise(shoal_client *cl, entity *e)
{
	const char *tenant = e->tenant, *name = e->name;
	uint64_t before = 0, after = 0;
	OK(shoal_count(cl, tenant, name, &before, &st_));
	if (e->points >= 0)
		CHECK(before == (uint64_t)e->points, "%s/%s: %llu points, %d were acknowledged",
		    tenant, name, (unsigned long long)before, e->points);
	else
		CHECK(before == 0 || before == 20, "%s/%s: %llu points, want 0 or 20", tenant, name,
		    (unsigned long long)before);
	float v[3 * DIM];
	uint64_t ids[3] = {1000 + before, 1001 + before, 1002 + before};
	shoal_field f[3];
	shoal_payload pl[3];
	vecio_generate(SEED + 4, before, 3, DIM, v);
	for (int i = 0; i < 3; i++) {
		f[i] = (shoal_field){.key = "tenant", .type = SHOAL_VALUE_STRING, .s = "k1"};
		pl[i] = (shoal_payload){.fields = &f[i], .n_fields = 1};
	}
	shoal_batch b = {.n = 3, .dim = DIM, .ids = ids, .vectors = v, .payloads = pl};
	shoal_status st;
	shoal_code rc = shoal_upsert(cl, tenant, name, &b, NULL, &st);
	CHECK(rc == SHOAL_OK, "%s/%s: upsert after the restart: %s: %s", tenant, name,
	    shoal_code_name(rc), st.msg);
	shoal_get_result *g = NULL;
	OK(shoal_get(cl, tenant, name, ids, 3, false, &g, &st_));
	CHECK(g->n_points == 3, "%s/%s: get found %zu of 3", tenant, name, g->n_points);
	shoal_get_result_free(g);
	shoal_search_result *r = NULL;
	OK(shoal_search_ex(cl, tenant, name, v + DIM, DIM, NULL, NULL, &r, &st_));
	CHECK(r->n_hits > 0 && r->hits[0].id == ids[1], "%s/%s: search after the restart",
	    tenant, name);
	shoal_search_result_free(r);
	OK(shoal_count(cl, tenant, name, &after, &st_));
	CHECK(after == before + 3, "%s/%s: count %llu after 3 new points, was %llu", tenant, name,
	    (unsigned long long)after, (unsigned long long)before);
	e->points = (int)after;
}

static bool
listed_tenant(const shoal_tenant_info *ts, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(ts[i].name, name) == 0)
			return true;
	return false;
}

static bool
listed_coll(const shoal_collection_info *cs, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(cs[i].name, name) == 0)
			return true;
	return false;
}

/* Every listed collection's shards are on the workers the catalog names
 * (fails the test otherwise); returns the shards the workers hold that
 * no catalog entry names. */
static int
unused_shards(shoal_client *cl)
{
	for (int w = 0; w < 2; w++) {
		nwshards[w] = worker_shards(w, wshards[w], 4096);
		memset(wused[w], 0, sizeof wused[w]);
	}
	for (int i = 0; i < nents + 2; i++) {
		/* the model's collections, then part 1's */
		const char *tenant = i < nents ? ents[i].tenant : i == nents ? "" : "acme";
		const char *name = i < nents ? ents[i].name : i == nents ? "sh" : "docs";
		if (i < nents && (ents[i].name[0] == '\0' || ents[i].state != PRESENT))
			continue;
		shoal_collection_desc *dsc = NULL;
		OK(shoal_collection_describe(cl, tenant, name, &dsc, &st_));
		for (size_t j = 0; j < dsc->n_placements; j++)
			expect_shard(dsc->placements[j].worker, dsc->placements[j].shard_id, name);
		shoal_collection_desc_free(dsc);
	}
	int unused = 0;
	for (int w = 0; w < 2; w++)
		for (size_t i = 0; i < nwshards[w]; i++)
			unused += !wused[w][i];
	return unused;
}

/* Checks the catalog against the model and the workers; resolves unknown
 * entities to PRESENT or ABSENT. */
static void
verify(shoal_client *cl, int *orphans)
{
	shoal_tenant_info *ts = NULL;
	size_t nt = 0;
	OK(shoal_tenant_list(cl, &ts, &nt, &st_));
	shoal_collection_info *sc = NULL;
	size_t nsc = 0;
	OK(shoal_collection_list(cl, "", &sc, &nsc, &st_));
	for (int i = 0; i < nents; i++) {
		entity *e = &ents[i];
		bool is_tenant = e->name[0] == '\0', shared = e->tenant[0] == '\0';
		bool tenant_there = shared || listed_tenant(ts, nt, e->tenant);
		bool there;
		if (is_tenant) {
			there = tenant_there;
		} else if (shared) {
			there = listed_coll(sc, nsc, e->name);
		} else if (!tenant_there) {
			there = false;
		} else {
			shoal_collection_info *cs = NULL;
			size_t nc = 0;
			OK(shoal_collection_list(cl, e->tenant, &cs, &nc, &st_));
			there = listed_coll(cs, nc, e->name);
			shoal_collection_list_free(cs);
		}
		/* a collection of a dropped tenant went with it */
		int want = e->state;
		if (!is_tenant && !shared && ent(e->tenant, "")->state == ABSENT)
			want = ABSENT;
		CHECK(want == UNKNOWN || there == (want == PRESENT),
		    "%s%s%s: acknowledged as %s but %s after the restart", e->tenant,
		    shared || is_tenant ? "" : "/", e->name, want == PRESENT ? "created" : "dropped",
		    there ? "listed" : "not listed");
		e->state = there ? PRESENT : ABSENT;
	}
	/* every listed collection: its shards on their workers, and usable */
	*orphans = unused_shards(cl);
	for (int i = 0; i < nents; i++)
		if (ents[i].name[0] != '\0' && ents[i].state == PRESENT)
			exercise(cl, &ents[i]);
	shoal_tenant_list_free(ts);
	shoal_collection_list_free(sc);
}

/* An entity found absent after an unknown change: nothing blocks its name. */
static void
recreate_absent(shoal_client *cl, const entity *e)
{
	shoal_collection_params p = {.dim = DIM, .metric = SHOAL_METRIC_L2};
	shoal_status st;
	shoal_code rc;
	if (e->name[0] == '\0') {
		rc = shoal_tenant_create(cl, e->tenant, NULL, NULL, &st);
		CHECK(rc == SHOAL_OK, "re-create tenant %s: %s: %s", e->tenant, shoal_code_name(rc),
		    st.msg);
		OK(shoal_tenant_drop(cl, e->tenant, &st_));
	} else if (e->tenant[0] == '\0') {
		shoal_distribution d = {.placement = SHOAL_PLACEMENT_SHARED, .shards = 4};
		rc = shoal_collection_create_distributed(cl, e->name, &p, &d, NULL, &st);
		CHECK(rc == SHOAL_OK, "re-create shared %s: %s: %s", e->name, shoal_code_name(rc),
		    st.msg);
		OK(shoal_collection_drop(cl, "", e->name, &st_));
	} else if (ent(e->tenant, "")->state == PRESENT) {
		rc = shoal_collection_create(cl, e->tenant, e->name, &p, NULL, &st);
		CHECK(rc == SHOAL_OK, "re-create %s/%s: %s: %s", e->tenant, e->name,
		    shoal_code_name(rc), st.msg);
		OK(shoal_collection_drop(cl, e->tenant, e->name, &st_));
	}
}

static void
part_catalog(int rounds, unsigned seed)
{
	srand(seed);
	int kills_mid = 0, allowed = 0;
	for (int round = 0; round < rounds; round++) {
		ddl_run run = {.round = round, .cl = connect_client()};
		int unknown_before[MAXN];
		pthread_t th;
		pthread_create(&th, NULL, ddl_loop, &run);
		long delay = 30 + rand() % 700;
		it_sleep_ms(delay);
		harness_signal_coordinator(&c, SIGKILL);
		pthread_join(th, NULL);
		shoal_close(run.cl);
		printf("  round %d: killed after %ld ms, %d changes acknowledged; in flight: %s -> "
		       "%s in %ld ms (%s)\n",
		    round, delay, run.ops_acked, run.last_op, shoal_code_name(run.last_rc),
		    run.last_ms, run.last_msg);
		CHECK(run.last_rc == SHOAL_UNAVAILABLE, "round %d: '%s' failed with %s: %s", round,
		    run.last_op, shoal_code_name(run.last_rc), run.last_msg);
		CHECK(run.last_ms < FAST_MS, "round %d: '%s' took %ld ms to fail (a hang)", round,
		    run.last_op, run.last_ms);
		kills_mid += strstr(run.last_msg, "connection lost while waiting") != NULL;

		harness_start_coordinator(&c);
		CHECK(harness_wait_workers_up(&c, 2, 20000), "workers not up after the restart");
		shoal_client *cl = connect_client();
		for (int i = 0; i < nents; i++)
			unknown_before[i] = ents[i].state == UNKNOWN;
		int orphans = 0;
		verify(cl, &orphans);
		/* shards no catalog entry names may only come from creates cut by
		 * a kill (at most one shard, or 4 for a shared collection); a cut
		 * drop's shards are dropped by the catch-up thread soon after the
		 * restart */
		if (strncmp(run.last_op, "create collection", 17) == 0)
			allowed += 1;
		else if (strncmp(run.last_op, "create shared", 13) == 0)
			allowed += 4;
		int settled = orphans;
		for (long t0 = it_now_ms(); (settled > allowed || it_now_ms() - t0 < 2000) &&
		     it_now_ms() - t0 < 15000;) {
			it_sleep_ms(200);
			settled = unused_shards(cl);
		}
		CHECK(settled <= allowed, "round %d: workers hold %d shards no catalog entry names "
		    "(at most %d expected from cut creates)", round, settled, allowed);
		for (int i = 0; i < nents; i++)
			if (unknown_before[i]) {
				printf("    unknown: %s%s%s -> %s\n", ents[i].tenant,
				    ents[i].name[0] && ents[i].tenant[0] ? "/" : "", ents[i].name,
				    ents[i].state == PRESENT ? "present" : "absent");
				if (ents[i].state == ABSENT)
					recreate_absent(cl, &ents[i]);
			}
		printf("    catalog consistent: %d entities checked; shards no catalog entry names: "
		       "%d after the restart, %d once queued drops ran (cut creates allow %d)\n",
		    nents, orphans, settled, allowed);
		shoal_close(cl);
	}
	printf("  %d of %d kills cut a change in flight\n", kills_mid, rounds);
}

int
main(void)
{
	const char *e = getenv("SHOAL_KILL_ROUNDS");
	int rounds = e ? atoi(e) : 6;
	e = getenv("SHOAL_KILL_SEED");
	unsigned seed = e ? (unsigned)strtoul(e, NULL, 10) : (unsigned)time(NULL);
	printf("it_coord_kill9: %d rounds, SHOAL_KILL_SEED=%u\n", rounds, seed);

	harness_cluster_start(&c, 2);
	shoal_client *adm = connect_client();
	for (int w = 0; w < 2; w++)
		it_worker_name(&c, adm, w, wname[w], sizeof wname[w]);
	part_scatter(adm);
	shoal_close(adm);
	part_catalog(rounds, seed);
	harness_cluster_stop(&c);
	printf("it_coord_kill9: OK\n");
	return 0;
}
