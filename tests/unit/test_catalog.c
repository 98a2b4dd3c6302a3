/* test_catalog.c -- coordinator/catalog.c against a real RocksDB directory.
 *
 * Covers: worker/tenant/collection create-list-drop with the error codes of
 * each guard, durability across close/reopen, durability across a process
 * killed with SIGKILL (a forked child that never closes the catalog), the
 * version allocator's strict increase (in process, across reopen, across
 * kill -9, under concurrent callers), and refusal of a corrupt record.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ftw.h>
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

typedef struct fixture {
	char dir[64];
	char path[96];
} fixture;

static int
rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb, (void)flag, (void)ftw;
	return remove(p);
}

static int
setup(void **state)
{
	fixture *f = calloc(1, sizeof *f);
	snprintf(f->dir, sizeof f->dir, "/tmp/shoal-test-catalog-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof f->path, "%s/catalog", f->dir);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	fixture *f = *state;
	nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
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
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
