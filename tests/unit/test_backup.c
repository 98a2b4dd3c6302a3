/* test_backup.c -- the coordinator side of backups (coordinator/backup.c)
 * over a real catalog: the restore raises the version allocator to the
 * manifest's floor (the guard against restored rows silently winning over
 * new writes), refuses damaged or incomplete backups and occupied data
 * directories, and a backup with an unreachable worker fails, names the
 * worker and leaves nothing behind.  The end-to-end path (workers, CLI,
 * write load) is tests/integration/it_backup.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "backup.h"
#include "catalog.h"
#include "fsutil.h"
#include "util.h"

static char root[64];

static int
setup(void **state)
{
	(void)state;
	snprintf(root, sizeof root, "/tmp/shoal-test-backup-XXXXXX");
	return mkdtemp(root) != NULL ? 0 : -1;
}

static int
teardown(void **state)
{
	(void)state;
	shoal_status st;
	return fsutil_remove_tree(root, &st) == SHOAL_OK ? 0 : -1;
}

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* A catalog with one tenant, checkpointed into bk/catalog. */
static void
make_backup_dir(const char *bk, uint64_t *next_version)
{
	char path[256];
	catalog *cat;
	shoal_status st;
	bool changed;

	snprintf(path, sizeof path, "%s-live", bk);
	assert_int_equal(catalog_open(path, &cat, &st), SHOAL_OK);
	assert_int_equal(catalog_put_worker(cat, "w-1", "tcp://127.0.0.1:1", &changed, &st),
	    SHOAL_OK);
	assert_int_equal(catalog_create_tenant(cat, "acme", "w-1", NULL, &st), SHOAL_OK);
	assert_int_equal(catalog_next_versions(cat, 10, next_version, &st), SHOAL_OK);
	*next_version += 10;
	assert_int_equal(util_mkdir_p(bk, &st), SHOAL_OK);
	snprintf(path, sizeof path, "%s/catalog", bk);
	assert_int_equal(catalog_checkpoint(cat, path, &st), SHOAL_OK);
	/* the checkpoint refuses an existing directory */
	assert_int_not_equal(catalog_checkpoint(cat, path, &st), SHOAL_OK);
	catalog_close(cat);
}

static void
test_restore_raises_version_floor(void **state)
{
	(void)state;
	char bk[128], data[128], path[256];
	uint64_t next, v;
	shoal_status st;
	Shoal__BackupInfo bi;
	catalog *cat;

	snprintf(bk, sizeof bk, "%s/bk", root);
	snprintf(data, sizeof data, "%s/restored", root);
	make_backup_dir(bk, &next);

	/* no MANIFEST yet: an incomplete backup */
	assert_int_equal(backup_restore_coordinator(bk, data, NULL, &st), SHOAL_FAILED_PRECONDITION);
	assert_non_null(strstr(st.msg, "not a complete shoal backup"));
	assert_false(fsutil_exists(data));

	/* a floor far above anything the catalog handed out */
	snprintf(path, sizeof path, "%s/MANIFEST", bk);
	write_file(path, "format = 1\nversion = \"0.1.0\"\ncreated_ms = 1\nepoch = 2\n"
	                 "version_floor = 50000000\ntenants = 1\ncollections = 0\n"
	                 "[worker.w-1]\nurl = \"tcp://127.0.0.1:1\"\ndir = \"workers/w-1\"\n"
	                 "points = 0\nshards = 0\n");
	assert_int_equal(backup_restore_coordinator(bk, data, &bi, &st), SHOAL_OK);
	assert_int_equal(bi.version_floor, 50000000);
	assert_int_equal(bi.n_workers, 1);
	assert_string_equal(bi.workers[0]->name, "w-1");
	assert_string_equal(bi.workers[0]->dir, "workers/w-1");
	backup_info_clear(&bi);

	snprintf(path, sizeof path, "%s/catalog", data);
	assert_int_equal(catalog_open(path, &cat, &st), SHOAL_OK);
	catalog_tenant t;
	assert_int_equal(catalog_get_tenant(cat, "acme", &t, &st), SHOAL_OK);
	assert_string_equal(t.worker, "w-1");
	assert_int_equal(catalog_next_versions(cat, 1, &v, &st), SHOAL_OK);
	assert_true(v >= 50000000);
	catalog_close(cat);

	/* a second restore into the same place is refused, the first intact */
	assert_int_equal(backup_restore_coordinator(bk, data, NULL, &st), SHOAL_FAILED_PRECONDITION);
	assert_non_null(strstr(st.msg, "already exists"));
	assert_int_equal(catalog_open(path, &cat, &st), SHOAL_OK);
	catalog_close(cat);
}

static void
test_damaged_manifests(void **state)
{
	(void)state;
	char bk[128], data[128], path[256];
	uint64_t next;
	shoal_status st;

	snprintf(bk, sizeof bk, "%s/bk2", root);
	snprintf(data, sizeof data, "%s/restored2", root);
	make_backup_dir(bk, &next);
	snprintf(path, sizeof path, "%s/MANIFEST", bk);

	static const char *const bad[] = {
	    "format = 2\nversion_floor = 5\n",                          /* future format */
	    "format = 1\n",                                              /* no floor */
	    "format = 1\nversion_floor = 5\n[worker.w-1]\ndir = \"../../etc\"\n", /* escapes */
	    "format = 1\nversion_floor = 5\n[worker.w-1]\ndir = \"/abs\"\n",
	    "format = 1\nversion_floor = 5\n[worker.bad name]\n",        /* syntax */
	    "format = 1\nversion_floor = 5\n[worker.w-1]\nurl = \"x\"\n", /* no dir */
	    "\x01\x02 binary\n",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		write_file(path, bad[i]);
		shoal_code rc = backup_restore_coordinator(bk, data, NULL, &st);
		if (rc == SHOAL_OK)
			fail_msg("accepted manifest %zu", i);
		char dcat[300];
		snprintf(dcat, sizeof dcat, "%s/catalog", data);
		assert_false(fsutil_exists(dcat)); /* nothing restored */
	}
}

static void
test_backup_with_unreachable_worker(void **state)
{
	(void)state;
	char cpath[128], bk[128];
	catalog *cat;
	shoal_status st;
	bool changed;
	Shoal__BackupInfo bi;

	snprintf(cpath, sizeof cpath, "%s/live3", root);
	snprintf(bk, sizeof bk, "%s/bk3", root);
	assert_int_equal(catalog_open(cpath, &cat, &st), SHOAL_OK);
	/* port 1 on loopback: nobody listens there */
	assert_int_equal(catalog_put_worker(cat, "w-dead", "tcp://127.0.0.1:1", &changed, &st),
	    SHOAL_OK);

	assert_int_equal(backup_run(cat, NULL, NULL, "relative", 10000, &bi, &st), SHOAL_INVALID_ARGUMENT);
	assert_int_equal(backup_run(cat, NULL, NULL, bk, 10000, &bi, &st), SHOAL_UNAVAILABLE);
	assert_non_null(strstr(st.msg, "w-dead"));
	assert_false(fsutil_exists(bk)); /* nothing kept */
	catalog_close(cat);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_restore_raises_version_floor),
	    cmocka_unit_test(test_damaged_manifests),
	    cmocka_unit_test(test_backup_with_unreachable_worker),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
