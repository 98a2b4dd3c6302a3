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
 *     created or dropped, shard moved).  Every placement (a tenant, a shard
 *     of a shared collection, a reference replica) records the epoch at
 *     which it was made; requests to workers carry it (routing epochs).
 *  6. Tenant names and cluster-level collection names (shared, reference)
 *     are one namespace: a name is at most one of them.
 *  7. A shared collection's shard map (group) exists while any collection
 *     uses it; colocated collections share one group, so their shard i is
 *     always on the same worker.
 *  8. A queued request (catch-up of a reference replica) names a shard of
 *     its worker; they are kept in (worker, seq) order and replayed in it.
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
	uint64_t epoch; /* on reads: the tenant's placement epoch */
} catalog_collection;

/* ---- cluster-level collections: shared and reference ------------------ */

typedef enum catalog_kind {
	CATALOG_DEDICATED = 0, /* a tenant's collection (catalog_collection) */
	CATALOG_SHARED = 1,    /* hash-distributed by key over nshards shards */
	CATALOG_REFERENCE = 2, /* one replica on every worker */
} catalog_kind;

/* Most shards a shared collection may have. */
#define CATALOG_MAX_SHARDS 1024u

typedef struct catalog_place {
	char worker[CATALOG_NAME_MAX];
	uint64_t epoch; /* catalog epoch at which this placement was made */
} catalog_place;

typedef struct catalog_dcoll {
	char name[CATALOG_NAME_MAX];
	catalog_kind kind;           /* SHARED or REFERENCE */
	uint32_t dim, metric, m, ef_construction;
	char key_field[CATALOG_NAME_MAX]; /* SHARED: payload field of the key */
	uint64_t first_shard;  /* SHARED: shard i has id first_shard + i;
	                          REFERENCE: the one shard id of every replica */
	uint32_t nshards;      /* SHARED: S; REFERENCE: 1 */
	uint64_t group;        /* SHARED: its shard map (colocation group) id */
	uint64_t epoch;        /* catalog epoch of its creation */
	/* SHARED: places[i] holds shard i (the group's map, nplaces == S);
	 * REFERENCE: one entry per replica.  On reads a malloc'ed copy: release
	 * with catalog_dcoll_clear(). */
	uint32_t nplaces;
	catalog_place *places;
} catalog_dcoll;

/* A request queued durably for a worker that could not take it (a
 * reference replica that is down): replayed in seq order once it is up. */
typedef struct catalog_queued {
	char worker[CATALOG_NAME_MAX];
	uint64_t seq;          /* assigned by catalog_queue_add / create / drop */
	uint64_t shard_id;
	char method[32];       /* Worker method: CreateShard, Upsert, Delete, DropShard */
	uint8_t *payload;      /* the packed request; on reads a malloc'ed copy */
	size_t len;
} catalog_queued;

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

/* Removes worker `name`'s record (the caller checked that nothing is
 * placed on it).  NOT_FOUND when unknown. */
shoal_code catalog_remove_worker(catalog *cat, const char *name, shoal_status *st);

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

/* The id the next allocation will hand out: every id below it has been
 * handed out (coordinator/reclaim.c: ids below its value at start were
 * allocated by an earlier coordinator process). */
uint64_t catalog_next_shard_id(catalog *cat);

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

/* Numbers of tenants and collections, dedicated and cluster-level (either
 * pointer may be NULL). */
void catalog_counts(catalog *cat, size_t *tenants, size_t *collections);

/* Durably allocates n (1..CATALOG_MAX_SHARDS) consecutive shard ids
 * first..first+n-1 (never reused). */
shoal_code catalog_alloc_shard_ids(catalog *cat, uint32_t n, uint64_t *first, shoal_status *st);

/* Creates cluster-level collection c and bumps the epoch; every placement
 * it makes gets the new epoch.  SHARED: c->group == 0 makes a new shard map
 * (id = c->first_shard) from c->places[0..nshards); a non-zero c->group
 * shares that map (colocation: c->nshards must equal its size; c->places
 * is ignored).  REFERENCE: c->places are the replicas.  The nq requests in
 * q (may be NULL) are queued in the same write (q[i].seq is set).
 * ALREADY_EXISTS when the name is a tenant's or a collection's,
 * NOT_FOUND when the group to share is gone, INVALID_ARGUMENT for shard
 * ids not allocated here or sizes out of range; nothing changes on error. */
shoal_code catalog_create_dcoll(catalog *cat, const catalog_dcoll *c, catalog_queued *q,
    size_t nq, shoal_status *st);

/* Copies cluster-level collection `name` into *out (release with
 * catalog_dcoll_clear).  NOT_FOUND when unknown. */
shoal_code catalog_get_dcoll(catalog *cat, const char *name, catalog_dcoll *out,
    shoal_status *st);

/* All cluster-level collections in name order: *out malloc'ed (release
 * with catalog_dcolls_free(*out, n); NULL when none).  Returns the count. */
size_t catalog_list_dcolls(catalog *cat, catalog_dcoll **out);

/* Frees what a read put in c (c itself is the caller's). NULL ok. */
void catalog_dcoll_clear(catalog_dcoll *c);
void catalog_dcolls_free(catalog_dcoll *list, size_t n);

/* Removes cluster-level collection `name` (and its shard map when no other
 * collection uses it), drops the queued requests for its shards, queues
 * the nq requests in q (e.g. DropShard for a replica that is down), and
 * bumps the epoch, in one write.  NOT_FOUND when unknown. */
shoal_code catalog_drop_dcoll(catalog *cat, const char *name, catalog_queued *q, size_t nq,
    shoal_status *st);

/* Moves shard `index` of shard map `group` to `worker` with a new epoch
 * (*epoch, may be NULL): every collection colocated on the map moves with
 * it.  Only the placement changes; copying the data is the caller's (the
 * migration's) business.  NOT_FOUND for an unknown group, INVALID_ARGUMENT
 * for an index out of range or a bad worker name. */
shoal_code catalog_move_shard(catalog *cat, uint64_t group, uint32_t index, const char *worker,
    uint64_t *epoch, shoal_status *st);
/* The same, storing move move_id's record (val, len) in the same durable
 * write when move_id is not NULL (a shard-group move's cutover: the flip
 * and the record's state change together or not at all). */
shoal_code catalog_move_shard_rec(catalog *cat, uint64_t group, uint32_t index,
    const char *worker, const char *move_id, const void *val, size_t len, uint64_t *epoch,
    shoal_status *st);

/* ---- queued requests (catch-up of reference replicas) ----------------- */

/* Queues n requests durably in one write; sets q[i].seq. */
shoal_code catalog_queue_add(catalog *cat, catalog_queued *q, size_t n, shoal_status *st);

/* Up to max of worker's queued requests, oldest first: *out malloc'ed
 * (release with catalog_queued_free(*out, n)).  Returns the count. */
size_t catalog_queue_list(catalog *cat, const char *worker, size_t max, catalog_queued **out);
void catalog_queued_free(catalog_queued *q, size_t n);

/* Removes worker's queued requests with the given seqs, in one write. */
shoal_code catalog_queue_remove(catalog *cat, const char *worker, const uint64_t *seqs,
    size_t n, shoal_status *st);

/* Queued requests for worker (NULL = all workers) and shard (0 = any). */
size_t catalog_queue_count(catalog *cat, const char *worker, uint64_t shard_id);

/* ---- versions --------------------------------------------------------- */

/* Hands out n (>= 1) consecutive versions first..first+n-1, all larger than
 * any version handed out before by this catalog, in this process or an
 * earlier one.  Reserves CATALOG_VERSION_BLOCK versions at a time and makes
 * the reservation durable before handing out from it, so a crash skips at
 * most the rest of one block.  INVALID_ARGUMENT for n == 0; INTERNAL when
 * the reservation cannot be written (nothing handed out then). */
shoal_code catalog_next_versions(catalog *cat, uint64_t n, uint64_t *first, shoal_status *st);

/* ---- opaque records under a prefix ----------------------------------- */

/* Import jobs ('j'), moves ('m') and the rebalance plan ('r') are opaque
 * bytes owned by their module, stored under key prefix id, written durably
 * (sync) but not loaded into memory at open: the owner scans them at
 * start.  Ids are 1..CATALOG_NAME_MAX-1 bytes. */
#define CATALOG_REBALANCE_PREFIX 'r'

typedef shoal_code (*catalog_import_fn)(void *arg, const char *id, const void *val, size_t len,
    shoal_status *st);

/* Stores (replaces) record prefix id; val NULL deletes it.
 * INVALID_ARGUMENT for a prefix not listed above or a bad id, INTERNAL
 * when the write fails. */
shoal_code catalog_put_opaque(catalog *cat, char prefix, const char *id, const void *val,
    size_t len, shoal_status *st);
/* Calls fn for each record under prefix in id order; val is valid during
 * the call only.  Stops at, and returns, fn's first non-OK code. */
shoal_code catalog_scan_opaque(catalog *cat, char prefix, catalog_import_fn fn, void *arg,
    shoal_status *st);

/* ---- import jobs (coordinator/pg_import.c) ---------------------------- */

/* Records under key "j" id hold import jobs: opaque bytes owned by
 * pg_import.c, written durably (sync) but not loaded into memory at open.
 * Ids are 1..CATALOG_NAME_MAX-1 bytes. */
#define CATALOG_IMPORT_PREFIX 'j'

/* Stores (replaces) job id's record.  INTERNAL when the write fails. */
shoal_code catalog_put_import(catalog *cat, const char *id, const void *val, size_t len,
    shoal_status *st);

/* Calls fn for each job record in id order; val is valid during the call
 * only.  Stops at, and returns, fn's first non-OK code. */
shoal_code catalog_scan_imports(catalog *cat, catalog_import_fn fn, void *arg, shoal_status *st);

/* ---- moves (coordinator/move.c) -------------------------------------- */

/* Records under key "m" id hold moves: opaque bytes owned by move.c (a
 * packed shoal.MoveInfo), written durably, not loaded at open. */
#define CATALOG_MOVE_PREFIX 'm'

/* Stores (replaces) move id's record.  INTERNAL when the write fails. */
shoal_code catalog_put_move(catalog *cat, const char *id, const void *val, size_t len,
    shoal_status *st);

/* Calls fn for each move record in id order (as catalog_scan_imports). */
shoal_code catalog_scan_moves(catalog *cat, catalog_import_fn fn, void *arg, shoal_status *st);

/* Places tenant `name` on `worker` with a new epoch (*epoch, may be NULL)
 * and, when move_id is not NULL, stores that move's record (val, len) in
 * the same durable write: a move's cutover and its record change
 * together or not at all.  Only the placement changes; the shards must
 * already be on `worker`.  NOT_FOUND for an unknown tenant. */
shoal_code catalog_move_tenant(catalog *cat, const char *name, const char *worker,
    const char *move_id, const void *val, size_t len, uint64_t *epoch, shoal_status *st);

/* ---- backups (coordinator/backup.c) ---------------------------------- */

/* Writes a consistent copy of the catalog database (a RocksDB checkpoint)
 * into dir, which must not exist; it opens with catalog_open.  Changes
 * continue meanwhile.  INTERNAL with RocksDB's message on failure. */
shoal_code catalog_checkpoint(catalog *cat, const char *dir, shoal_status *st);

/* ---- tenant API keys (docs/security.md) ------------------------------ */

/* Records under key "k" tenant NUL id hold a tenant's API key: its
 * SHA-256 (never the key) and creation time.  Loaded into memory at open;
 * dropping the tenant drops its keys in the same write. */
#define CATALOG_KEY_PREFIX 'k'
#define CATALOG_KEY_ID_LEN 16 /* hex digits */

typedef struct catalog_tenant_key {
	char tenant[CATALOG_NAME_MAX];
	char id[CATALOG_KEY_ID_LEN + 1]; /* public: names the key in list/revoke */
	uint8_t hash[32];                /* SHA-256 of the key */
	uint64_t created_unix;
} catalog_tenant_key;

/* Stores a new key durably.  NOT_FOUND when the tenant does not exist,
 * ALREADY_EXISTS for a repeated id or hash, INVALID_ARGUMENT for a bad
 * record, INTERNAL when the write fails. */
shoal_code catalog_add_tenant_key(catalog *cat, const catalog_tenant_key *k, shoal_status *st);

/* Removes tenant's key `id` durably.  NOT_FOUND when there is none. */
shoal_code catalog_revoke_tenant_key(catalog *cat, const char *tenant, const char *id,
    shoal_status *st);

/* Copies the keys of tenant (NULL = every tenant) into *out (caller
 * frees, also when 0 is returned); returns their number. */
size_t catalog_list_tenant_keys(catalog *cat, const char *tenant, catalog_tenant_key **out);

/* True when a stored key has this SHA-256; *out (may be NULL) is a copy. */
bool catalog_find_tenant_key(catalog *cat, const uint8_t hash[32], catalog_tenant_key *out);

#endif
