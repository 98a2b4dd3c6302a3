/* test_catalog_import.c -- the catalog's import-job records (catalog.h,
 * "j" keys; owned by coordinator/pg_import.c): stored durably, listed in
 * id order after a reopen, replaced in place, and invisible to the rest of
 * the catalog (a catalog holding them opens, with its counts unchanged). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "log.h"

static char dir[64];

static int
rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static int
setup(void **state)
{
	(void)state;
	log_init("test", LOG_WARN);
	snprintf(dir, sizeof dir, "/tmp/shoal-test-catimport-XXXXXX");
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
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

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_records, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
