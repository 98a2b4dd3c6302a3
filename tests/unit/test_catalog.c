/* test_catalog.c -- coordinator/catalog.c against a real RocksDB directory.
 *
 * Covers: worker/tenant/collection create-list-drop with the error codes of
 * each guard, durability across close/reopen, durability across a process
 * killed with SIGKILL (a forked child that never closes the catalog), the
 * version allocator's strict increase (in process, across reopen, across
 * kill -9, under concurrent callers), and refusal of a corrupt record.
 * Cluster-level collections: shared (own shard map, colocated on another's,
 * map kept while used), reference (replicas + queued requests in the same
 * write), the one namespace with tenants, shard moves bumping the epoch
 * (a move's record in the same write), the catch-up queue's order, and
 * all of it surviving close/reopen and a kill -9 of a process in the
 * middle of writing them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <rocksdb/c.h>

#include "catalog.h"
#include "log.h"
#include "unit_tmpdir.h"

typedef struct fixture {
	char dir[64];
	char path[96];
} fixture;

static int
setup(void **state)
{
	fixture *f = calloc(1, sizeof *f);
	assert_non_null(unit_tmpdir_make(f->dir, sizeof f->dir, "catalog"));
	snprintf(f->path, sizeof f->path, "%s/catalog", f->dir);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	fixture *f = *state;
	unit_tmpdir_remove(f->dir);
	free(f);
	return 0;
}

static catalog *
open_ok(const fixture *f)
{
	shoal_status st;
	catalog *cat = NULL;
	shoal_code rv = catalog_open(f->path, &cat, &st);
	if (rv != SHOAL_OK)
		fail_msg("catalog_open: %s", st.msg);
	return cat;
}

static catalog_collection
coll(const char *tenant, const char *name, uint64_t shard, uint32_t dim)
{
	catalog_collection c = {0};
	snprintf(c.tenant, sizeof c.tenant, "%s", tenant);
	snprintf(c.name, sizeof c.name, "%s", name);
	c.dim = dim;
	c.metric = 2;
	c.m = 16;
	c.ef_construction = 64;
	c.shard_id = shard;
	return c;
}

/* ---------------------------------------------------------------------- */

static void
test_workers(void **state)
{
	catalog *cat = open_ok(*state);
	shoal_status st;
	catalog_worker w, *ws;
	bool changed;

	assert_int_equal(catalog_get_worker(cat, "w-1", &w, &st), SHOAL_NOT_FOUND);
	assert_int_equal(catalog_put_worker(cat, "w-2", "tcp://127.0.0.1:7702", &changed, &st),
	    SHOAL_OK);
	assert_true(changed);
	assert_int_equal(catalog_put_worker(cat, "w-1", "tcp://127.0.0.1:7701", &changed, &st),
	    SHOAL_OK);
	assert_true(changed);
	/* a heartbeat with the same URL writes nothing */
	assert_int_equal(catalog_put_worker(cat, "w-1", "tcp://127.0.0.1:7701", &changed, &st),
	    SHOAL_OK);
	assert_false(changed);
	assert_int_equal(catalog_put_worker(cat, "w-1", "tcp://127.0.0.1:9999", &changed, &st),
	    SHOAL_OK);
	assert_true(changed);
	assert_int_equal(catalog_get_worker(cat, "w-1", &w, &st), SHOAL_OK);
	assert_string_equal(w.url, "tcp://127.0.0.1:9999");

	char longurl[CATALOG_URL_MAX + 8];
	memset(longurl, 'a', sizeof longurl - 1);
	longurl[sizeof longurl - 1] = '\0';
	assert_int_equal(catalog_put_worker(cat, "w-3", longurl, NULL, &st),
	    SHOAL_INVALID_ARGUMENT);

	size_t n = catalog_list_workers(cat, &ws);
	assert_int_equal(n, 2);
	assert_string_equal(ws[0].name, "w-1"); /* name order */
	assert_string_equal(ws[1].name, "w-2");
	free(ws);
	catalog_close(cat);
}

static void
test_tenants_and_collections(void **state)
{
	catalog *cat = open_ok(*state);
	shoal_status st;
	catalog_tenant t, *ts;
	catalog_collection c, *cs;
	uint64_t s1, s2, s3;
	size_t nt, nc;

	uint64_t e0 = catalog_epoch(cat);
	assert_true(e0 >= 1);
	assert_int_equal(catalog_create_tenant(cat, "acme", "w-1", &t, &st), SHOAL_OK);
	assert_string_equal(t.worker, "w-1");
	assert_true(t.epoch > e0);
	assert_int_equal(catalog_epoch(cat), t.epoch);
	assert_int_equal(catalog_create_tenant(cat, "acme", "w-2", NULL, &st),
	    SHOAL_ALREADY_EXISTS);
	assert_string_equal(st.msg, "tenant 'acme' already exists");
	assert_int_equal(catalog_create_tenant(cat, "beta", "w-2", NULL, &st), SHOAL_OK);

	assert_int_equal(catalog_alloc_shard_id(cat, &s1, &st), SHOAL_OK);
	assert_int_equal(catalog_alloc_shard_id(cat, &s2, &st), SHOAL_OK);
	assert_int_equal(catalog_alloc_shard_id(cat, &s3, &st), SHOAL_OK);
	assert_true(s1 < s2 && s2 < s3);

	c = coll("nobody", "docs", s1, 8);
	assert_int_equal(catalog_create_collection(cat, &c, &st), SHOAL_NOT_FOUND);
	c = coll("acme", "docs", 9999, 8); /* never allocated */
	assert_int_equal(catalog_create_collection(cat, &c, &st), SHOAL_INVALID_ARGUMENT);
	c = coll("acme", "docs", s1, 8);
	assert_int_equal(catalog_create_collection(cat, &c, &st), SHOAL_OK);
	c = coll("acme", "docs", s2, 4);
	assert_int_equal(catalog_create_collection(cat, &c, &st), SHOAL_ALREADY_EXISTS);
	c = coll("acme", "chat", s2, 4);
	assert_int_equal(catalog_create_collection(cat, &c, &st), SHOAL_OK);
	c = coll("beta", "docs", s3, 16);
	assert_int_equal(catalog_create_collection(cat, &c, &st), SHOAL_OK);

	assert_int_equal(catalog_get_collection(cat, "acme", "docs", &c, &st), SHOAL_OK);
	assert_int_equal(c.shard_id, s1);
	assert_int_equal(c.dim, 8);
	assert_string_equal(c.worker, "w-1"); /* filled from the tenant */
	assert_int_equal(catalog_get_collection(cat, "acme", "nope", &c, &st), SHOAL_NOT_FOUND);
	assert_non_null(strstr(st.msg, "collection 'nope'"));
	assert_int_equal(catalog_get_collection(cat, "zeta", "docs", &c, &st), SHOAL_NOT_FOUND);
	assert_non_null(strstr(st.msg, "tenant 'zeta'"));

	nc = catalog_list_collections(cat, "acme", &cs);
	assert_int_equal(nc, 2);
	assert_string_equal(cs[0].name, "chat");
	assert_string_equal(cs[1].name, "docs");
	free(cs);
	nc = catalog_list_collections(cat, NULL, &cs);
	assert_int_equal(nc, 3);
	assert_string_equal(cs[2].tenant, "beta");
	assert_string_equal(cs[2].worker, "w-2");
	free(cs);

	uint64_t e1 = catalog_epoch(cat);
	assert_int_equal(catalog_drop_collection(cat, "acme", "chat", &st), SHOAL_OK);
	assert_true(catalog_epoch(cat) > e1);
	assert_int_equal(catalog_drop_collection(cat, "acme", "chat", &st), SHOAL_NOT_FOUND);

	/* dropping a tenant removes its collections, and only its */
	assert_int_equal(catalog_drop_tenant(cat, "acme", &st), SHOAL_OK);
	assert_int_equal(catalog_drop_tenant(cat, "acme", &st), SHOAL_NOT_FOUND);
	assert_int_equal(catalog_get_collection(cat, "acme", "docs", &c, &st), SHOAL_NOT_FOUND);
	size_t ntc, ncc;
	catalog_counts(cat, &ntc, &ncc);
	assert_int_equal(ntc, 1);
	assert_int_equal(ncc, 1);
	/* a re-created tenant does not inherit the old collections */
	assert_int_equal(catalog_create_tenant(cat, "acme", "w-1", NULL, &st), SHOAL_OK);
	assert_int_equal(catalog_list_collections(cat, "acme", &cs), 0);
	assert_null(cs);

	nt = catalog_list_tenants(cat, &ts);
	assert_int_equal(nt, 2);
	assert_string_equal(ts[0].name, "acme");
	assert_string_equal(ts[1].name, "beta");
	free(ts);
	catalog_close(cat);
}

static void
test_reopen_durability(void **state)
{
	fixture *f = *state;
	catalog *cat = open_ok(f);
	shoal_status st;
	catalog_collection c;
	catalog_tenant t;
	catalog_worker w;
	uint64_t s1, s2;

	assert_int_equal(catalog_put_worker(cat, "w-1", "tcp://127.0.0.1:7701", NULL, &st), SHOAL_OK);
	assert_int_equal(catalog_create_tenant(cat, "acme", "w-1", NULL, &st), SHOAL_OK);
	assert_int_equal(catalog_create_tenant(cat, "gone", "w-1", NULL, &st), SHOAL_OK);
	assert_int_equal(catalog_alloc_shard_id(cat, &s1, &st), SHOAL_OK);
	c = coll("acme", "docs", s1, 128);
	c.metric = 3;
	c.m = 32;
	c.ef_construction = 200;
	assert_int_equal(catalog_create_collection(cat, &c, &st), SHOAL_OK);
	assert_int_equal(catalog_drop_tenant(cat, "gone", &st), SHOAL_OK);
	uint64_t epoch = catalog_epoch(cat);
	catalog_close(cat);

	cat = open_ok(f);
	assert_int_equal(catalog_epoch(cat), epoch);
	assert_int_equal(catalog_get_worker(cat, "w-1", &w, &st), SHOAL_OK);
	assert_string_equal(w.url, "tcp://127.0.0.1:7701");
	assert_int_equal(catalog_get_tenant(cat, "acme", &t, &st), SHOAL_OK);
	assert_string_equal(t.worker, "w-1");
	assert_int_equal(catalog_get_tenant(cat, "gone", &t, &st), SHOAL_NOT_FOUND);
	assert_int_equal(catalog_get_collection(cat, "acme", "docs", &c, &st), SHOAL_OK);
	assert_int_equal(c.shard_id, s1);
	assert_int_equal(c.dim, 128);
	assert_int_equal(c.metric, 3);
	assert_int_equal(c.m, 32);
	assert_int_equal(c.ef_construction, 200);
	/* shard ids are never reused */
	assert_int_equal(catalog_alloc_shard_id(cat, &s2, &st), SHOAL_OK);
	assert_true(s2 > s1);
	catalog_close(cat);
}

static void
test_versions_increase(void **state)
{
	fixture *f = *state;
	catalog *cat = open_ok(f);
	shoal_status st;
	uint64_t a, b, c, d, last;

	assert_int_equal(catalog_next_versions(cat, 0, &a, &st), SHOAL_INVALID_ARGUMENT);
	assert_int_equal(catalog_next_versions(cat, 1, &a, &st), SHOAL_OK);
	assert_true(a >= 1);
	assert_int_equal(catalog_next_versions(cat, 10, &b, &st), SHOAL_OK);
	assert_int_equal(b, a + 1);
	/* a request larger than a whole block */
	assert_int_equal(catalog_next_versions(cat, CATALOG_VERSION_BLOCK + 5, &c, &st), SHOAL_OK);
	assert_int_equal(c, b + 10);
	assert_int_equal(catalog_next_versions(cat, 3, &d, &st), SHOAL_OK);
	assert_int_equal(d, c + CATALOG_VERSION_BLOCK + 5);
	last = d + 2;
	catalog_close(cat);

	for (int round = 0; round < 3; round++) {
		cat = open_ok(f);
		assert_int_equal(catalog_next_versions(cat, 1, &a, &st), SHOAL_OK);
		assert_true(a > last);
		last = a;
		catalog_close(cat);
	}
}

/* The child opens the catalog, hands out versions, reports the largest
 * through a pipe and dies by SIGKILL without closing anything. */
static void
test_versions_survive_kill9(void **state)
{
	fixture *f = *state;
	uint64_t reported = 0, first;
	int fds[2], status;
	shoal_status st;

	assert_int_equal(pipe(fds), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		catalog *cat = NULL;
		uint64_t v = 0;
		close(fds[0]);
		if (catalog_open(f->path, &cat, &st) != SHOAL_OK)
			_exit(3);
		if (catalog_create_tenant(cat, "acme", "w-1", NULL, &st) != SHOAL_OK)
			_exit(4);
		for (int i = 0; i < 100; i++)
			if (catalog_next_versions(cat, 1000, &v, &st) != SHOAL_OK)
				_exit(5);
		v += 999;
		if (write(fds[1], &v, sizeof v) != (ssize_t)sizeof v)
			_exit(6);
		raise(SIGKILL);
		_exit(7);
	}
	close(fds[1]);
	assert_int_equal(read(fds[0], &reported, sizeof reported), sizeof reported);
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

	catalog *cat = open_ok(f);
	catalog_tenant t;
	assert_int_equal(catalog_get_tenant(cat, "acme", &t, &st), SHOAL_OK);
	assert_int_equal(catalog_next_versions(cat, 1, &first, &st), SHOAL_OK);
	assert_true(first > reported);
	catalog_close(cat);
}

typedef struct vrange {
	uint64_t first;
	uint64_t n;
} vrange;

typedef struct vthread {
	catalog *cat;
	vrange *out;
	int count;
} vthread;

static void *
alloc_many(void *arg)
{
	vthread *t = arg;
	shoal_status st;
	for (int i = 0; i < t->count; i++) {
		t->out[i].n = (uint64_t)(i % 7) + 1;
		if (catalog_next_versions(t->cat, t->out[i].n, &t->out[i].first, &st) != SHOAL_OK)
			t->out[i].n = 0;
	}
	return NULL;
}

static int
vrange_cmp(const void *a, const void *b)
{
	const vrange *x = a, *y = b;
	return x->first < y->first ? -1 : x->first > y->first;
}

static void
test_versions_concurrent(void **state)
{
	enum { THREADS = 4, PER = 20000 };
	catalog *cat = open_ok(*state);
	vrange *all = calloc(THREADS * PER, sizeof *all);
	pthread_t th[THREADS];
	vthread vt[THREADS];

	for (int i = 0; i < THREADS; i++) {
		vt[i] = (vthread){cat, all + i * PER, PER};
		pthread_create(&th[i], NULL, alloc_many, &vt[i]);
	}
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	qsort(all, THREADS * PER, sizeof *all, vrange_cmp);
	for (size_t i = 0; i < THREADS * PER; i++) {
		assert_true(all[i].n > 0);
		if (i > 0) /* no two callers got overlapping ranges */
			assert_true(all[i].first >= all[i - 1].first + all[i - 1].n);
	}
	free(all);
	catalog_close(cat);
}

static void
test_corrupt_record_refused(void **state)
{
	fixture *f = *state;
	catalog *cat = open_ok(f);
	shoal_status st;
	catalog_close(cat);

	/* a tenant record with a truncated value */
	char *err = NULL;
	rocksdb_options_t *o = rocksdb_options_create();
	rocksdb_t *db = rocksdb_open(o, f->path, &err);
	assert_null(err);
	rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
	rocksdb_put(db, wo, "tacme", 5, "\x01\x00", 2, &err);
	assert_null(err);
	rocksdb_writeoptions_destroy(wo);
	rocksdb_close(db);
	rocksdb_options_destroy(o);

	cat = NULL;
	assert_int_equal(catalog_open(f->path, &cat, &st), SHOAL_DATA_LOSS);
	assert_null(cat);
	assert_non_null(strstr(st.msg, "undecodable"));
}

static void
test_second_open_refused(void **state)
{
	catalog *cat = open_ok(*state), *other = NULL;
	shoal_status st;
	/* RocksDB's LOCK keeps a second coordinator off the same catalog */
	assert_int_equal(catalog_open(((fixture *)*state)->path, &other, &st), SHOAL_INTERNAL);
	assert_null(other);
	catalog_close(cat);
}

/* ---- cluster-level collections ---------------------------------------- */

/* A shared collection spec of nshards on workers w-0..w-(nw-1), round
 * robin; shard ids from the allocator.  places is the caller's. */
static catalog_dcoll
shared_spec(catalog *cat, const char *name, uint32_t nshards, uint32_t nw, catalog_place *places)
{
	catalog_dcoll c;
	shoal_status st;
	memset(&c, 0, sizeof c);
	snprintf(c.name, sizeof c.name, "%s", name);
	c.kind = CATALOG_SHARED;
	c.dim = 8;
	c.metric = 2;
	c.m = 16;
	c.ef_construction = 64;
	snprintf(c.key_field, sizeof c.key_field, "tenant");
	c.nshards = nshards;
	assert_int_equal(catalog_alloc_shard_ids(cat, nshards, &c.first_shard, &st), SHOAL_OK);
	for (uint32_t i = 0; i < nshards; i++) {
		memset(&places[i], 0, sizeof places[i]);
		snprintf(places[i].worker, sizeof places[i].worker, "w-%u", i % nw);
	}
	c.nplaces = nshards;
	c.places = places;
	return c;
}

/* Move records seen by catalog_scan_moves. */
typedef struct move_recs {
	int n;
	char last[64];
} move_recs;

static shoal_code
count_move(void *arg, const char *id, const void *val, size_t len, shoal_status *st)
{
	move_recs *m = arg;
	(void)val;
	(void)len;
	(void)st;
	m->n++;
	snprintf(m->last, sizeof m->last, "%s", id);
	return SHOAL_OK;
}

static void
test_shared_and_colocated(void **state)
{
	fixture *f = *state;
	catalog *cat = open_ok(f);
	catalog_place places[32];
	catalog_dcoll c, got, co;
	shoal_status st;

	uint64_t e0 = catalog_epoch(cat);
	c = shared_spec(cat, "docs", 32, 4, places);
	assert_int_equal(catalog_create_dcoll(cat, &c, NULL, 0, &st), SHOAL_OK);
	assert_true(catalog_epoch(cat) == e0 + 1);
	assert_int_equal(catalog_create_dcoll(cat, &c, NULL, 0, &st), SHOAL_ALREADY_EXISTS);

	assert_int_equal(catalog_get_dcoll(cat, "docs", &got, &st), SHOAL_OK);
	assert_int_equal(got.kind, CATALOG_SHARED);
	assert_int_equal(got.nshards, 32);
	assert_int_equal(got.nplaces, 32);
	assert_true(got.group == c.first_shard); /* a new map is named by its first shard */
	assert_string_equal(got.key_field, "tenant");
	for (uint32_t i = 0; i < 32; i++) {
		assert_string_equal(got.places[i].worker, places[i].worker);
		assert_true(got.places[i].epoch == e0 + 1); /* placed at the new epoch */
	}

	/* colocated: same map (places ignored), own shard ids */
	catalog_place none[1];
	co = shared_spec(cat, "chunks", 32, 1, places);
	co.group = got.group;
	co.places = none;
	co.nplaces = 0;
	assert_int_equal(catalog_create_dcoll(cat, &co, NULL, 0, &st), SHOAL_OK);
	catalog_dcoll gc;
	assert_int_equal(catalog_get_dcoll(cat, "chunks", &gc, &st), SHOAL_OK);
	assert_true(gc.group == got.group);
	assert_true(gc.first_shard != got.first_shard);
	for (uint32_t i = 0; i < 32; i++)
		assert_string_equal(gc.places[i].worker, got.places[i].worker);
	catalog_dcoll_clear(&gc);
	/* a colocation needs the same shard count */
	catalog_dcoll bad = shared_spec(cat, "bad", 16, 1, places);
	bad.group = got.group;
	assert_int_equal(catalog_create_dcoll(cat, &bad, NULL, 0, &st), SHOAL_INVALID_ARGUMENT);
	bad.group = 999999;
	bad.nshards = 16;
	assert_int_equal(catalog_create_dcoll(cat, &bad, NULL, 0, &st), SHOAL_NOT_FOUND);

	/* a move changes the map for both collections, with a new epoch */
	uint64_t e1 = catalog_epoch(cat), ne = 0;
	assert_int_equal(catalog_move_shard(cat, got.group, 5, "w-9", &ne, &st), SHOAL_OK);
	assert_true(ne == e1 + 1 && catalog_epoch(cat) == ne);
	assert_int_equal(catalog_move_shard(cat, got.group, 32, "w-9", NULL, &st),
	    SHOAL_INVALID_ARGUMENT);
	assert_int_equal(catalog_move_shard(cat, 424242, 0, "w-9", NULL, &st), SHOAL_NOT_FOUND);
	assert_int_equal(catalog_get_dcoll(cat, "chunks", &gc, &st), SHOAL_OK);
	assert_string_equal(gc.places[5].worker, "w-9");
	assert_true(gc.places[5].epoch == ne);
	assert_true(gc.places[4].epoch == e0 + 1);
	catalog_dcoll_clear(&gc);
	/* a shard move's cutover: the flip and the move's record in one write;
	 * a refused flip writes no record either */
	assert_int_equal(catalog_move_shard_rec(cat, got.group, 6, "w-8", "shard:x", "rec", 3, &ne,
	                     &st), SHOAL_OK);
	assert_int_equal(catalog_move_shard_rec(cat, got.group, 99, "w-8", "shard:y", "no", 2, NULL,
	                     &st), SHOAL_INVALID_ARGUMENT);
	move_recs mr = {0};
	assert_int_equal(catalog_scan_moves(cat, count_move, &mr, &st), SHOAL_OK);
	assert_int_equal(mr.n, 1);
	assert_string_equal(mr.last, "shard:x");
	assert_int_equal(catalog_get_dcoll(cat, "chunks", &gc, &st), SHOAL_OK);
	assert_string_equal(gc.places[6].worker, "w-8");
	assert_true(gc.places[6].epoch == ne);
	catalog_dcoll_clear(&gc);

	/* dropping the map's first collection keeps the map for the other */
	assert_int_equal(catalog_drop_dcoll(cat, "docs", NULL, 0, &st), SHOAL_OK);
	assert_int_equal(catalog_get_dcoll(cat, "docs", &gc, &st), SHOAL_NOT_FOUND);
	catalog_close(cat);
	cat = open_ok(f); /* ...and across a reopen */
	assert_int_equal(catalog_get_dcoll(cat, "chunks", &gc, &st), SHOAL_OK);
	assert_string_equal(gc.places[5].worker, "w-9");
	assert_int_equal(gc.nplaces, 32);
	catalog_dcoll_clear(&gc);
	assert_int_equal(catalog_drop_dcoll(cat, "chunks", NULL, 0, &st), SHOAL_OK);
	/* the map is gone with its last collection: colocating on it fails */
	catalog_dcoll late = shared_spec(cat, "late", 32, 1, places);
	late.group = got.group;
	assert_int_equal(catalog_create_dcoll(cat, &late, NULL, 0, &st), SHOAL_NOT_FOUND);
	catalog_dcoll_clear(&got);
	size_t nt, nc;
	catalog_counts(cat, &nt, &nc);
	assert_int_equal(nc, 0);
	catalog_close(cat);
}

static catalog_queued
queued(const char *worker, uint64_t shard, const char *method, const char *payload)
{
	catalog_queued q;
	memset(&q, 0, sizeof q);
	snprintf(q.worker, sizeof q.worker, "%s", worker);
	snprintf(q.method, sizeof q.method, "%s", method);
	q.shard_id = shard;
	q.payload = (uint8_t *)payload;
	q.len = strlen(payload);
	return q;
}

static void
test_reference_and_queue(void **state)
{
	fixture *f = *state;
	catalog *cat = open_ok(f);
	catalog_place places[3];
	catalog_dcoll c, got;
	shoal_status st;

	memset(&c, 0, sizeof c);
	memset(places, 0, sizeof places);
	snprintf(c.name, sizeof c.name, "countries");
	c.kind = CATALOG_REFERENCE;
	c.dim = 4;
	c.metric = 2;
	c.m = 16;
	c.ef_construction = 64;
	c.nshards = 1;
	assert_int_equal(catalog_alloc_shard_ids(cat, 1, &c.first_shard, &st), SHOAL_OK);
	for (int i = 0; i < 3; i++)
		snprintf(places[i].worker, sizeof places[i].worker, "w-%d", i);
	c.nplaces = 3;
	c.places = places;
	/* w-2 was down: its CreateShard is queued in the same write */
	catalog_queued q1 = queued("w-2", c.first_shard, "CreateShard", "spec");
	assert_int_equal(catalog_create_dcoll(cat, &c, &q1, 1, &st), SHOAL_OK);
	assert_true(q1.seq > 0);
	assert_int_equal(catalog_queue_count(cat, "w-2", c.first_shard), 1);
	assert_int_equal(catalog_queue_count(cat, "w-1", 0), 0);

	/* two more writes queued for w-2, one for w-1 */
	catalog_queued q[3] = {queued("w-2", c.first_shard, "Upsert", "u1"),
	    queued("w-1", c.first_shard, "Upsert", "u1"),
	    queued("w-2", c.first_shard, "Delete", "d1")};
	assert_int_equal(catalog_queue_add(cat, q, 3, &st), SHOAL_OK);
	assert_true(q[0].seq < q[1].seq && q[1].seq < q[2].seq && q1.seq < q[0].seq);
	assert_int_equal(catalog_queue_count(cat, NULL, 0), 4);
	catalog_close(cat);

	cat = open_ok(f);
	assert_int_equal(catalog_get_dcoll(cat, "countries", &got, &st), SHOAL_OK);
	assert_int_equal(got.kind, CATALOG_REFERENCE);
	assert_int_equal(got.nplaces, 3);
	assert_string_equal(got.places[2].worker, "w-2");
	assert_string_equal(got.key_field, "");
	catalog_dcoll_clear(&got);
	/* w-2's queue, in order, payloads intact */
	catalog_queued *l;
	size_t n = catalog_queue_list(cat, "w-2", 10, &l);
	assert_int_equal(n, 3);
	assert_string_equal(l[0].method, "CreateShard");
	assert_string_equal(l[1].method, "Upsert");
	assert_string_equal(l[2].method, "Delete");
	assert_int_equal(l[2].len, 2);
	assert_memory_equal(l[2].payload, "d1", 2);
	uint64_t seqs[2] = {l[0].seq, l[1].seq};
	catalog_queued_free(l, n);
	n = catalog_queue_list(cat, "w-2", 1, &l); /* at most max */
	assert_int_equal(n, 1);
	catalog_queued_free(l, n);
	assert_int_equal(catalog_queue_remove(cat, "w-2", seqs, 2, &st), SHOAL_OK);
	assert_int_equal(catalog_queue_count(cat, "w-2", 0), 1);
	catalog_close(cat);

	cat = open_ok(f);
	assert_int_equal(catalog_queue_count(cat, "w-2", 0), 1);
	/* a new seq stays above every stored one after a reopen */
	catalog_queued q4 = queued("w-0", c.first_shard, "Upsert", "u2");
	assert_int_equal(catalog_queue_add(cat, &q4, 1, &st), SHOAL_OK);
	assert_true(q4.seq > q[2].seq);
	/* the drop removes the collection's queue and queues a DropShard */
	catalog_queued qd = queued("w-1", c.first_shard, "DropShard", "x");
	assert_int_equal(catalog_drop_dcoll(cat, "countries", &qd, 1, &st), SHOAL_OK);
	assert_int_equal(catalog_queue_count(cat, NULL, 0), 1);
	n = catalog_queue_list(cat, "w-1", 10, &l);
	assert_int_equal(n, 1);
	assert_string_equal(l[0].method, "DropShard");
	catalog_queued_free(l, n);
	catalog_close(cat);
}

static void
test_one_namespace(void **state)
{
	fixture *f = *state;
	catalog *cat = open_ok(f);
	catalog_place places[4];
	shoal_status st;

	assert_int_equal(catalog_create_tenant(cat, "acme", "w-0", NULL, &st), SHOAL_OK);
	catalog_dcoll c = shared_spec(cat, "acme", 4, 2, places);
	assert_int_equal(catalog_create_dcoll(cat, &c, NULL, 0, &st), SHOAL_ALREADY_EXISTS);
	assert_non_null(strstr(st.msg, "tenant"));
	c = shared_spec(cat, "docs", 4, 2, places);
	assert_int_equal(catalog_create_dcoll(cat, &c, NULL, 0, &st), SHOAL_OK);
	assert_int_equal(catalog_create_tenant(cat, "docs", "w-0", NULL, &st),
	    SHOAL_ALREADY_EXISTS);
	/* bad input changes nothing */
	catalog_dcoll bad = shared_spec(cat, "x", 4, 2, places);
	bad.nplaces = 3;
	assert_int_equal(catalog_create_dcoll(cat, &bad, NULL, 0, &st), SHOAL_INVALID_ARGUMENT);
	bad = shared_spec(cat, "y", 4, 2, places);
	bad.first_shard = 1u << 30; /* not allocated */
	assert_int_equal(catalog_create_dcoll(cat, &bad, NULL, 0, &st), SHOAL_INVALID_ARGUMENT);
	catalog_dcoll *l;
	size_t n = catalog_list_dcolls(cat, &l);
	assert_int_equal(n, 1);
	assert_string_equal(l[0].name, "docs");
	catalog_dcolls_free(l, n);
	assert_int_equal(catalog_drop_dcoll(cat, "nope", NULL, 0, &st), SHOAL_NOT_FOUND);
	catalog_close(cat);
}

/* A child creates cluster-level collections, queues requests and moves a
 * shard, reports the epoch it reached, and dies by SIGKILL. */
static void
test_dist_survives_kill9(void **state)
{
	fixture *f = *state;
	uint64_t reported = 0;
	int fds[2], status;
	shoal_status st;

	assert_int_equal(pipe(fds), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		catalog *cat = NULL;
		catalog_place places[8];
		close(fds[0]);
		if (catalog_open(f->path, &cat, &st) != SHOAL_OK)
			_exit(3);
		for (int i = 0; i < 20; i++) {
			char name[16];
			catalog_dcoll c;
			memset(&c, 0, sizeof c);
			snprintf(name, sizeof name, "coll%d", i);
			snprintf(c.name, sizeof c.name, "%s", name);
			c.kind = CATALOG_SHARED;
			c.dim = 8;
			c.metric = 1;
			c.nshards = 8;
			snprintf(c.key_field, sizeof c.key_field, "k");
			if (catalog_alloc_shard_ids(cat, 8, &c.first_shard, &st) != SHOAL_OK)
				_exit(4);
			memset(places, 0, sizeof places);
			for (int j = 0; j < 8; j++)
				snprintf(places[j].worker, sizeof places[j].worker, "w-%d", j % 3);
			c.places = places;
			c.nplaces = 8;
			if (catalog_create_dcoll(cat, &c, NULL, 0, &st) != SHOAL_OK)
				_exit(5);
			catalog_queued q = queued("w-1", c.first_shard, "Upsert", "p");
			if (catalog_queue_add(cat, &q, 1, &st) != SHOAL_OK)
				_exit(6);
		}
		catalog_dcoll c;
		if (catalog_get_dcoll(cat, "coll7", &c, &st) != SHOAL_OK ||
		    catalog_move_shard(cat, c.group, 3, "w-2", NULL, &st) != SHOAL_OK)
			_exit(7);
		catalog_dcoll_clear(&c);
		uint64_t e = catalog_epoch(cat);
		if (write(fds[1], &e, sizeof e) != (ssize_t)sizeof e)
			_exit(8);
		raise(SIGKILL);
		_exit(9);
	}
	close(fds[1]);
	assert_int_equal(read(fds[0], &reported, sizeof reported), sizeof reported);
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

	catalog *cat = open_ok(f);
	assert_true(catalog_epoch(cat) == reported);
	catalog_dcoll *l;
	size_t n = catalog_list_dcolls(cat, &l);
	assert_int_equal(n, 20);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(l[i].nplaces, 8);
		if (strcmp(l[i].name, "coll7") == 0) {
			assert_string_equal(l[i].places[3].worker, "w-2");
			assert_true(l[i].places[3].epoch == reported);
		}
	}
	catalog_dcolls_free(l, n);
	assert_int_equal(catalog_queue_count(cat, "w-1", 0), 20);
	catalog_close(cat);
}

int
main(void)
{
	log_init("test_catalog", LOG_WARN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_workers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tenants_and_collections, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen_durability, setup, teardown),
		cmocka_unit_test_setup_teardown(test_versions_increase, setup, teardown),
		cmocka_unit_test_setup_teardown(test_versions_survive_kill9, setup, teardown),
		cmocka_unit_test_setup_teardown(test_versions_concurrent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_record_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_second_open_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shared_and_colocated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reference_and_queue, setup, teardown),
		cmocka_unit_test_setup_teardown(test_one_namespace, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dist_survives_kill9, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
