/* catalog.h -- the coordinator's durable catalog: workers, tenants,
 * collections and the counters that hand out shard ids, epochs and write
 * versions.
 *
 * Storage: one RocksDB database (DATA/catalog).  Every logical change is one
 * WriteBatch written with sync=true, so a change that returned OK survives
 * kill -9 and power loss, and a change that failed changed nothing.  The key
 * layout is in catalog.c and coordinator/README.md.
 *
 * Memory: the whole catalog is loaded at open and kept in memory; reads never
 * touch RocksDB.  Readers get COPIES (plain structs, or malloc'ed arrays the
 * caller frees with free()); no pointer into the catalog ever escapes, so
 * there is no read lock for callers to hold.
 *
 * Threading: every function is thread-safe.  Writers are serialized by a
 * mutex and take the rwlock's write side only to apply the change in memory
 * after RocksDB acknowledged it, so readers never wait for an fsync.  The
 * version allocator has its own mutex: the data path never waits for DDL.
 *
 * Invariants:
 *  1. Memory == disk: a change is applied in memory only after its batch
 *     was durably written.
 *  2. Every collection's tenant exists (drop tenant removes its collections
 *     in the same batch).
 *  3. Shard ids are never reused: the next id is persisted before an id is
 *     returned, even if the collection that asked for it is never created.
 *  4. Versions from catalog_next_versions() strictly increase over the life
 *     of the catalog, across restarts and crashes.
 *  5. The epoch increases with every placement change (tenant or collection
 *     created or dropped).
 */
#ifndef SHOAL_COORD_CATALOG_H
#define SHOAL_COORD_CATALOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h"

/* util_check_name allows at most 63 characters, plus the NUL. */
#define CATALOG_NAME_MAX 64
/* Longest worker URL (ipc:// paths are the long ones), plus the NUL. */
#define CATALOG_URL_MAX 512
/* Versions reserved durably at a time by catalog_next_versions(). */
#define CATALOG_VERSION_BLOCK (UINT64_C(1) << 20)

typedef struct catalog catalog;

typedef struct catalog_worker {
	char name[CATALOG_NAME_MAX];
	char url[CATALOG_URL_MAX];
} catalog_worker;

typedef struct catalog_tenant {
	char name[CATALOG_NAME_MAX];
	char worker[CATALOG_NAME_MAX]; /* holds the tenant's shard group */
	uint64_t epoch;                /* catalog epoch of its placement */
} catalog_tenant;

typedef struct catalog_collection {
	char tenant[CATALOG_NAME_MAX];
	char name[CATALOG_NAME_MAX];
	uint32_t dim;
	uint32_t metric;          /* shoal.Metric wire value (1 cosine, 2 l2, 3 ip) */
	uint32_t m;               /* HNSW M, defaults already applied */
	uint32_t ef_construction; /* defaults already applied */
	uint64_t shard_id;
	/* Filled on reads from the tenant's record (the tenant's worker);
	 * ignored by catalog_create_collection. */
	char worker[CATALOG_NAME_MAX];
} catalog_collection;

/* Opens (creating if missing) the catalog database in directory `path` and
 * loads it.  On OK *out is the catalog (close with catalog_close).  Fails
 * with INTERNAL when RocksDB cannot open it (e.g. another coordinator holds
 * its lock) and DATA_LOSS when a record does not decode. */
shoal_code catalog_open(const char *path, catalog **out, shoal_status *st);

/* Closes the database and frees everything.  NULL ok.  No call may be in
 * progress on cat. */
void catalog_close(catalog *cat);

/* Current placement epoch (starts at 1 for a new catalog). */
uint64_t catalog_epoch(catalog *cat);

/* ---- workers ---------------------------------------------------------- */

/* Inserts or updates worker name -> url.  Writes only when something
 * changed; *changed (may be NULL) says whether it did.  Names must have
 * passed util_check_name; INVALID_ARGUMENT when url is too long. */
shoal_code catalog_put_worker(catalog *cat, const char *name, const char *url, bool *changed,
    shoal_status *st);

/* Copies worker `name` into *out; NOT_FOUND when unknown. */
shoal_code catalog_get_worker(catalog *cat, const char *name, catalog_worker *out,
    shoal_status *st);

/* All workers in name order: *out is malloc'ed (caller frees; NULL when
 * none).  Returns the count. */
size_t catalog_list_workers(catalog *cat, catalog_worker **out);

/* ---- tenants ---------------------------------------------------------- */

/* Creates tenant `name` placed on `worker` and bumps the epoch.  On OK
 * *out (may be NULL) is the new record.  ALREADY_EXISTS when the name is
 * taken; nothing changes on any error. */
shoal_code catalog_create_tenant(catalog *cat, const char *name, const char *worker,
    catalog_tenant *out, shoal_status *st);

/* Copies tenant `name` into *out; NOT_FOUND when unknown. */
shoal_code catalog_get_tenant(catalog *cat, const char *name, catalog_tenant *out,
    shoal_status *st);

/* All tenants in name order: *out malloc'ed (caller frees; NULL when none).
 * Returns the count. */
size_t catalog_list_tenants(catalog *cat, catalog_tenant **out);

/* Removes tenant `name` and all its collections in one batch and bumps the
 * epoch.  NOT_FOUND when unknown. */
shoal_code catalog_drop_tenant(catalog *cat, const char *name, shoal_status *st);

/* ---- collections ------------------------------------------------------ */

/* Durably allocates a new shard id (ids start at 1, never reused). */
shoal_code catalog_alloc_shard_id(catalog *cat, uint64_t *out, shoal_status *st);

/* Creates collection c (tenant, name, spec and a shard id from
 * catalog_alloc_shard_id) and bumps the epoch.  NOT_FOUND when the tenant
 * does not exist, ALREADY_EXISTS when the name is taken in that tenant. */
shoal_code catalog_create_collection(catalog *cat, const catalog_collection *c,
    shoal_status *st);

/* Copies collection (tenant, name) into *out, including the tenant's worker.
 * NOT_FOUND (message names what is missing: tenant or collection). */
shoal_code catalog_get_collection(catalog *cat, const char *tenant, const char *name,
    catalog_collection *out, shoal_status *st);

/* Collections of `tenant` (NULL = all), ordered by (tenant, name): *out
 * malloc'ed (caller frees; NULL when none).  Returns the count. */
size_t catalog_list_collections(catalog *cat, const char *tenant, catalog_collection **out);

/* Removes collection (tenant, name) and bumps the epoch.  NOT_FOUND when
 * unknown. */
shoal_code catalog_drop_collection(catalog *cat, const char *tenant, const char *name,
    shoal_status *st);

/* Numbers of tenants and collections (either pointer may be NULL). */
void catalog_counts(catalog *cat, size_t *tenants, size_t *collections);

/* ---- versions --------------------------------------------------------- */

/* Hands out n (>= 1) consecutive versions first..first+n-1, all larger than
 * any version handed out before by this catalog, in this process or an
 * earlier one.  Reserves CATALOG_VERSION_BLOCK versions at a time and makes
 * the reservation durable before handing out from it, so a crash skips at
 * most the rest of one block.  INVALID_ARGUMENT for n == 0; INTERNAL when
 * the reservation cannot be written (nothing handed out then). */
shoal_code catalog_next_versions(catalog *cat, uint64_t n, uint64_t *first, shoal_status *st);

#endif
