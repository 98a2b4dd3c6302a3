/* test_catalog_import.c -- the catalog's import-job records (catalog.h,
 * "j" keys; owned by coordinator/pg_import.c): stored durably, listed in
 * id order after a reopen, replaced in place, and invisible to the rest of
 * the catalog (a catalog holding them opens, with its counts unchanged);
 * the opaque-record helper they share with moves and the rebalance plan. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "log.h"
#include "unit_tmpdir.h"

static char dir[64];

static int
setup(void **state)
{
	(void)state;
	log_init("test", LOG_WARN);
	assert_non_null(unit_tmpdir_make(dir, sizeof dir, "catimport"));
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	unit_tmpdir_remove(dir);
	return 0;
}

typedef struct seen {
	char id[4][32];
	char val[4][32];
	int n;
} seen;

static shoal_code
collect(void *arg, const char *id, const void *val, size_t len, shoal_status *st)
{
	(void)st;
	seen *s = arg;
	if (s->n < 4) {
		snprintf(s->id[s->n], sizeof s->id[0], "%s", id);
		snprintf(s->val[s->n], sizeof s->val[0], "%.*s", (int)len, (const char *)val);
	}
	s->n++;
	return SHOAL_OK;
}

static shoal_code
stop_at_first(void *arg, const char *id, const void *val, size_t len, shoal_status *st)
{
	(void)arg;
	(void)id;
	(void)val;
	(void)len;
	return shoal_status_set(st, SHOAL_DATA_LOSS, "stop");
}

static void
test_records(void **state)
{
	(void)state;
	char path[128];
	catalog *cat;
	shoal_status st;
	seen s = {0};
	size_t nt, nc;

	snprintf(path, sizeof path, "%s/catalog", dir);
	assert_int_equal(catalog_open(path, &cat, &st), SHOAL_OK);
	assert_int_equal(catalog_create_tenant(cat, "acme", "w-1", NULL, &st), SHOAL_OK);
	assert_int_equal(catalog_put_import(cat, "bbbb", "two", 3, &st), SHOAL_OK);
	assert_int_equal(catalog_put_import(cat, "aaaa", "one", 3, &st), SHOAL_OK);
	assert_int_equal(catalog_put_import(cat, "aaaa", "one again", 9, &st), SHOAL_OK);
	assert_int_equal(catalog_put_import(cat, "", "x", 1, &st), SHOAL_INVALID_ARGUMENT);
	catalog_close(cat);

	/* reopened: the records are there, in id order, the rest untouched */
	assert_int_equal(catalog_open(path, &cat, &st), SHOAL_OK);
	catalog_counts(cat, &nt, &nc);
	assert_int_equal(nt, 1);
	assert_int_equal(nc, 0);
	assert_int_equal(catalog_scan_imports(cat, collect, &s, &st), SHOAL_OK);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.id[0], "aaaa");
	assert_string_equal(s.val[0], "one again");
	assert_string_equal(s.id[1], "bbbb");
	assert_string_equal(s.val[1], "two");
	/* a callback's error stops the scan and is returned */
	assert_int_equal(catalog_scan_imports(cat, stop_at_first, NULL, &st), SHOAL_DATA_LOSS);
	catalog_close(cat);
}

/* The one helper behind import jobs, moves and the rebalance plan:
 * prefixes are kept apart (a scan of one never yields another's records),
 * a NULL value deletes, a prefix of the catalog's own records is refused
 * and writes nothing, and the catalog opens unchanged over them. */
static void
test_opaque_prefixes(void **state)
{
	(void)state;
	char path[128];
	catalog *cat;
	shoal_status st;
	size_t nt, nc;

	snprintf(path, sizeof path, "%s/catalog", dir);
	assert_int_equal(catalog_open(path, &cat, &st), SHOAL_OK);
	assert_int_equal(catalog_create_tenant(cat, "acme", "w-1", NULL, &st), SHOAL_OK);
	assert_int_equal(catalog_put_opaque(cat, CATALOG_REBALANCE_PREFIX, "plan", "p1", 2, &st),
	    SHOAL_OK);
	assert_int_equal(catalog_put_move(cat, "acme", "m1", 2, &st), SHOAL_OK);
	assert_int_equal(catalog_put_move(cat, "shard:17", "m2", 2, &st), SHOAL_OK);
	assert_int_equal(catalog_put_import(cat, "job", "j1", 2, &st), SHOAL_OK);
	/* 't' holds tenants: not an opaque prefix */
	assert_int_equal(catalog_put_opaque(cat, 't', "acme", "x", 1, &st), SHOAL_INVALID_ARGUMENT);
	assert_int_equal(catalog_scan_opaque(cat, 't', collect, NULL, &st), SHOAL_INVALID_ARGUMENT);
	catalog_close(cat);

	assert_int_equal(catalog_open(path, &cat, &st), SHOAL_OK);
	catalog_counts(cat, &nt, &nc);
	assert_int_equal(nt, 1);
	catalog_tenant t;
	assert_int_equal(catalog_get_tenant(cat, "acme", &t, &st), SHOAL_OK);
	assert_string_equal(t.worker, "w-1");
	seen r = {0}, m = {0}, j = {0};
	assert_int_equal(catalog_scan_opaque(cat, CATALOG_REBALANCE_PREFIX, collect, &r, &st),
	    SHOAL_OK);
	assert_int_equal(catalog_scan_moves(cat, collect, &m, &st), SHOAL_OK);
	assert_int_equal(catalog_scan_imports(cat, collect, &j, &st), SHOAL_OK);
	assert_int_equal(r.n, 1);
	assert_string_equal(r.val[0], "p1");
	assert_int_equal(m.n, 2);
	assert_string_equal(m.id[0], "acme");
	assert_string_equal(m.id[1], "shard:17");
	assert_int_equal(j.n, 1);
	/* NULL deletes */
	assert_int_equal(catalog_put_opaque(cat, CATALOG_REBALANCE_PREFIX, "plan", NULL, 0, &st),
	    SHOAL_OK);
	seen r2 = {0};
	assert_int_equal(catalog_scan_opaque(cat, CATALOG_REBALANCE_PREFIX, collect, &r2, &st),
	    SHOAL_OK);
	assert_int_equal(r2.n, 0);
	catalog_close(cat);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_records, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_opaque_prefixes, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
