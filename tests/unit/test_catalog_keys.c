/* test_catalog_keys.c -- tenant API key records in the catalog
 * (coordinator/catalog.h): added keys are found by hash and listed, survive
 * a reopen, are refused for a missing tenant or a repeated id/hash, are
 * gone after revoke, and are deleted with their tenant -- also on disk, so
 * a tenant re-created under the same name has none after a reopen. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "catalog.h"

static char dir[] = "/tmp/shoal-test-catkeys-XXXXXX";
static char path[128];

static catalog *
open_cat(void)
{
	catalog *cat = NULL;
	shoal_status st = {0};
	if (catalog_open(path, &cat, &st) != SHOAL_OK)
		fail_msg("open: %s", st.msg);
	return cat;
}

static catalog_tenant_key
key_of(const char *tenant, const char *id, uint8_t fill)
{
	catalog_tenant_key k;
	memset(&k, 0, sizeof k);
	snprintf(k.tenant, sizeof k.tenant, "%s", tenant);
	snprintf(k.id, sizeof k.id, "%s", id);
	memset(k.hash, fill, sizeof k.hash);
	k.created_unix = 1700000000u + fill;
	return k;
}

static void
test_keys(void **state)
{
	(void)state;
	shoal_status st = {0};
	catalog_tenant_key got, *list = NULL;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/catalog", dir);
	catalog *cat = open_cat();
	assert_int_equal(catalog_put_worker(cat, "w1", "tcp://127.0.0.1:1", NULL, &st), SHOAL_OK);
	assert_int_equal(catalog_create_tenant(cat, "acme", "w1", NULL, &st), SHOAL_OK);
	assert_int_equal(catalog_create_tenant(cat, "globex", "w1", NULL, &st), SHOAL_OK);

	catalog_tenant_key a1 = key_of("acme", "00000000000000a1", 1);
	catalog_tenant_key a2 = key_of("acme", "00000000000000a2", 2);
	catalog_tenant_key g1 = key_of("globex", "00000000000000b1", 3);
	catalog_tenant_key bad = key_of("nosuch", "00000000000000c1", 4);
	assert_int_equal(catalog_add_tenant_key(cat, &a1, &st), SHOAL_OK);
	assert_int_equal(catalog_add_tenant_key(cat, &a2, &st), SHOAL_OK);
	assert_int_equal(catalog_add_tenant_key(cat, &g1, &st), SHOAL_OK);
	assert_int_equal(catalog_add_tenant_key(cat, &bad, &st), SHOAL_NOT_FOUND);
	catalog_tenant_key dup = key_of("acme", "00000000000000a3", 1); /* a1's hash */
	assert_int_equal(catalog_add_tenant_key(cat, &dup, &st), SHOAL_ALREADY_EXISTS);
	catalog_tenant_key badid = key_of("acme", "short", 9);
	assert_int_equal(catalog_add_tenant_key(cat, &badid, &st), SHOAL_INVALID_ARGUMENT);

	uint8_t h[32];
	memset(h, 2, sizeof h);
	assert_true(catalog_find_tenant_key(cat, h, &got));
	assert_string_equal(got.tenant, "acme");
	assert_string_equal(got.id, "00000000000000a2");
	memset(h, 7, sizeof h);
	assert_false(catalog_find_tenant_key(cat, h, NULL));
	assert_int_equal(catalog_list_tenant_keys(cat, "acme", &list), 2);
	free(list);
	assert_int_equal(catalog_list_tenant_keys(cat, NULL, &list), 3);
	free(list);

	/* durable: a reopen finds them */
	catalog_close(cat);
	cat = open_cat();
	memset(h, 3, sizeof h);
	assert_true(catalog_find_tenant_key(cat, h, &got));
	assert_string_equal(got.tenant, "globex");
	assert_int_equal(got.created_unix, 1700000003u);

	/* revoke */
	assert_int_equal(catalog_revoke_tenant_key(cat, "acme", "00000000000000a1", &st), SHOAL_OK);
	assert_int_equal(catalog_revoke_tenant_key(cat, "acme", "00000000000000a1", &st),
	    SHOAL_NOT_FOUND);
	assert_int_equal(catalog_revoke_tenant_key(cat, "globex", "00000000000000a2", &st),
	    SHOAL_NOT_FOUND); /* another tenant's id */
	memset(h, 1, sizeof h);
	assert_false(catalog_find_tenant_key(cat, h, NULL));

	/* drop tenant: its keys go, on disk too */
	assert_int_equal(catalog_drop_tenant(cat, "acme", &st), SHOAL_OK);
	memset(h, 2, sizeof h);
	assert_false(catalog_find_tenant_key(cat, h, NULL));
	assert_int_equal(catalog_create_tenant(cat, "acme", "w1", NULL, &st), SHOAL_OK);
	catalog_close(cat);
	cat = open_cat();
	assert_false(catalog_find_tenant_key(cat, h, NULL));
	assert_int_equal(catalog_list_tenant_keys(cat, "acme", &list), 0);
	free(list);
	assert_int_equal(catalog_list_tenant_keys(cat, NULL, &list), 1); /* globex's */
	free(list);
	catalog_close(cat);

	char cmd[160];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_keys),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
