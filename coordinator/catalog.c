/* catalog.c -- the coordinator's durable catalog (see catalog.h for the
 * contract and invariants).
 *
 * Keys (one default column family; integers big-endian):
 *   "F"                      -> u32 format version (CATALOG_FORMAT)
 *   "E"                      -> u64 placement epoch
 *   "S"                      -> u64 next shard id to hand out
 *   "V"                      -> u64 version high-water mark: every version
 *                               handed out so far is < this value
 *   "w" name                 -> worker url (raw bytes)
 *   "t" name                 -> u8 1 | u64 epoch | worker name (raw bytes)
 *   "c" tenant 0x00 name     -> u8 1 | u64 shard_id | u32 dim | u32 metric |
 *                               u32 m | u32 ef_construction
 *   "d" name                 -> cluster-level collection (shared or reference):
 *                               u8 1 | u8 kind | u32 dim | u32 metric | u32 m |
 *                               u32 ef_construction | u64 first_shard |
 *                               u32 nshards | u64 group | u64 epoch |
 *                               u8 len | key_field | u32 nplaces |
 *                               nplaces x (u64 epoch | u8 len | worker)
 *                               (places: reference replicas; 0 for shared)
 *   "g" u64 group            -> shard map: u8 1 | u32 n | n x (u64 epoch |
 *                               u8 len | worker): shard i's placement
 *   "q" worker 0x00 u64 seq  -> queued request: u8 1 | u64 shard_id | u8 len |
 *                               Worker method name | packed request
 *   "j" job id               -> import job record (opaque here: a packed
 *                               shoal.ImportJobRecord owned by pg_import.c;
 *                               not loaded into memory at open)
 * Names never contain 0x00 (util_check_name), so the byte order of the "t"
 * and "c" keys equals strcmp order of (tenant, name): loading in key order
 * yields sorted arrays.  The leading u8 of a record is its encoding version.
 *
 * In memory: three arrays sorted by name / (tenant, name), searched by
 * binary search.  Inserting is a memmove, which is fine for DDL rates.
 *
 * Write path (every mutating function):
 *   lock wmu -> check against memory -> build WriteBatch -> rocksdb_write
 *   (sync) -> wrlock -> apply to memory -> unlock both.
 * Only holders of wmu mutate memory, so a writer may read memory without the
 * rwlock; readers take the read side and copy out.
 */
#include "catalog.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>

#include <rocksdb/c.h>

#include "log.h"
#include "util.h"

/* Format 2 adds the "d", "g" and "q" records; a format-1 catalog is read
 * as is and becomes format 2 with its first such record, so an older
 * coordinator refuses it with a clear message instead of DATA_LOSS. */
#define CATALOG_FORMAT 2u
#define CATALOG_FORMAT_MIN 1u
#define RECORD_V1 1u
#define TENANT_VAL_MIN (1 + 8)
#define COLL_VAL_LEN (1 + 8 + 4 * 4)
#define KEY_VAL_LEN (1 + 32 + 8) /* RECORD_V1, SHA-256 of the key, created */

struct catalog {
	rocksdb_t *db;
	rocksdb_options_t *opts;
	rocksdb_writeoptions_t *wsync;
	rocksdb_readoptions_t *ropts;
	char *path;

	pthread_mutex_t wmu;     /* serializes writers (check, write, apply) */
	pthread_rwlock_t lock;   /* guards everything below up to next_shard */
	catalog_worker *workers; /* sorted by name */
	size_t n_workers, cap_workers;
	catalog_tenant *tenants; /* sorted by name */
	size_t n_tenants, cap_tenants;
	catalog_collection *colls; /* sorted by (tenant, name); worker unused */
	size_t n_colls, cap_colls;
	uint64_t epoch;
	uint64_t next_shard;
	uint32_t format;         /* as stored under "F" */
	catalog_dcoll *dcolls;   /* sorted by name; places owned (reference only) */
	size_t n_dcolls, cap_dcolls;
	struct group_rec *groups; /* sorted by id */
	size_t n_groups, cap_groups;
	catalog_queued *queue;   /* sorted by (worker, seq); payloads owned */
	size_t n_queue, cap_queue;
	uint64_t next_qseq;      /* next queue seq (above every stored one) */
	catalog_tenant_key *keys; /* tenant API keys, unordered (few) */
	size_t n_keys, cap_keys;

	pthread_mutex_t vmu;     /* version allocator */
	uint64_t v_next;         /* next version to hand out */
	uint64_t v_limit;        /* durable high-water mark: v_next <= v_limit */
};

typedef struct group_rec {
	uint64_t id;
	uint32_t n;
	catalog_place *places; /* n, owned */
} group_rec;

static shoal_code load_dist_record(catalog *cat, const char *k, size_t kl,
    const unsigned char *v, size_t vl, shoal_status *st);
static shoal_code check_dist(catalog *cat, shoal_status *st);
static bool dcoll_exists(const catalog *cat, const char *name);
static bool opaque_prefix(char prefix);
static void free_dist(catalog *cat);

/* ===================================================================
 * Encoding
 * =================================================================== */

/* "c" tenant 0x00 name; returns the length (buf holds 2 * CATALOG_NAME_MAX). */
static size_t
coll_key(char *buf, const char *tenant, const char *name)
{
	size_t lt = strlen(tenant), ln = strlen(name);

	buf[0] = 'c';
	memcpy(buf + 1, tenant, lt);
	buf[1 + lt] = '\0';
	memcpy(buf + 2 + lt, name, ln);
	return 2 + lt + ln;
}

static size_t
name_key(char *buf, char prefix, const char *name)
{
	size_t n = strlen(name);

	buf[0] = prefix;
	memcpy(buf + 1, name, n);
	return 1 + n;
}

static void
coll_val(unsigned char *v, const catalog_collection *c)
{
	v[0] = RECORD_V1;
	util_put_be64(v + 1, c->shard_id);
	util_put_be32(v + 9, c->dim);
	util_put_be32(v + 13, c->metric);
	util_put_be32(v + 17, c->m);
	util_put_be32(v + 21, c->ef_construction);
}

static bool
name_ok(const char *s)
{
	return s != NULL && s[0] != '\0' && strlen(s) < CATALOG_NAME_MAX;
}

/* ===================================================================
 * Sorted arrays
 * =================================================================== */

static int
coll_cmp(const char *t1, const char *n1, const char *t2, const char *n2)
{
	int c = strcmp(t1, t2);
	return c != 0 ? c : strcmp(n1, n2);
}

/* First index of a name-sorted array (elements of `size` bytes, each with
 * a char array name at `off`) whose name is >= name; *found when equal. */
static size_t
name_find(const void *arr, size_t n, size_t size, size_t off, const char *name,
    bool *found)
{
	const char *base = arr;
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(base + mid * size + off, name) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = lo < n && strcmp(base + lo * size + off, name) == 0;
	return lo;
}

/* First index whose element is >= key; *found when equal. */
static size_t
worker_find(const catalog *cat, const char *name, bool *found)
{
	return name_find(cat->workers, cat->n_workers, sizeof(*cat->workers),
	    offsetof(catalog_worker, name), name, found);
}

static size_t
tenant_find(const catalog *cat, const char *name, bool *found)
{
	return name_find(cat->tenants, cat->n_tenants, sizeof(*cat->tenants),
	    offsetof(catalog_tenant, name), name, found);
}

static size_t
coll_find(const catalog *cat, const char *tenant, const char *name, bool *found)
{
	size_t lo = 0, hi = cat->n_colls;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (coll_cmp(cat->colls[mid].tenant, cat->colls[mid].name, tenant, name) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = lo < cat->n_colls &&
	    coll_cmp(cat->colls[lo].tenant, cat->colls[lo].name, tenant, name) == 0;
	return lo;
}

/* Inserts elem at index i of a growable array (caller holds the write lock). */
static void *
array_insert(void *base, size_t *n, size_t *cap, size_t size, size_t i, const void *elem)
{
	char *a = base;

	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		a = xrealloc(a, *cap * size);
	}
	memmove(a + (i + 1) * size, a + i * size, (*n - i) * size);
	memcpy(a + i * size, elem, size);
	(*n)++;
	return a;
}

/* A malloc'ed copy of n elements of `size` bytes (NULL when n is 0): how
 * the catalog hands out its arrays, which change once the lock is gone. */
static void *
array_copy(const void *base, size_t n, size_t size)
{
	if (n == 0)
		return NULL;
	void *p = xmalloc(n * size);
	memcpy(p, base, n * size);
	return p;
}

static void
array_remove(void *base, size_t *n, size_t size, size_t i, size_t count)
{
	char *a = base;
	if (count == 0)
		return; /* base may be NULL (an empty array): memmove(NULL, ...) is UB */
	memmove(a + i * size, a + (i + count) * size, (*n - i - count) * size);
	*n -= count;
}

/* ===================================================================
 * RocksDB helpers
 * =================================================================== */

/* Writes batch durably; translates a RocksDB error into INTERNAL. */
static shoal_code
write_batch(catalog *cat, rocksdb_writebatch_t *b, const char *what, shoal_status *st)
{
	char *err = NULL;

	rocksdb_write(cat->db, cat->wsync, b, &err);
	if (err != NULL) {
		log_error("catalog %s: rocksdb write: %s", what, err);
		shoal_status_set(st, SHOAL_INTERNAL, "catalog write failed (%s): %s", what, err);
		rocksdb_free(err);
		return SHOAL_INTERNAL;
	}
	return SHOAL_OK;
}

static void
batch_put_u64(rocksdb_writebatch_t *b, const char *key, uint64_t v)
{
	unsigned char buf[8];
	util_put_be64(buf, v);
	rocksdb_writebatch_put(b, key, strlen(key), (const char *)buf, sizeof buf);
}

/* ===================================================================
 * Open / load / close
 * =================================================================== */

static shoal_code
load_record(catalog *cat, const char *k, size_t kl, const unsigned char *v, size_t vl,
    uint32_t *format, shoal_status *st)
{
	if (kl == 1) {
		switch (k[0]) {
		case 'F':
			if (vl != 4)
				break;
			*format = util_get_be32(v);
			return SHOAL_OK;
		case 'E':
		case 'S':
		case 'V':
			if (vl != 8)
				break;
			if (k[0] == 'E')
				cat->epoch = util_get_be64(v);
			else if (k[0] == 'S')
				cat->next_shard = util_get_be64(v);
			else
				cat->v_limit = util_get_be64(v);
			return SHOAL_OK;
		}
	} else if (opaque_prefix(k[0]) && kl > 1) {
		return SHOAL_OK; /* import jobs, moves, plan: read by catalog_scan_opaque() */
	} else if (k[0] == CATALOG_KEY_PREFIX && vl == KEY_VAL_LEN && v[0] == RECORD_V1) {
		const char *nul = memchr(k + 1, '\0', kl - 1);
		size_t lt = nul ? (size_t)(nul - (k + 1)) : 0, li = nul ? kl - 2 - lt : 0;
		if (nul != NULL && lt > 0 && lt < CATALOG_NAME_MAX && li == CATALOG_KEY_ID_LEN) {
			catalog_tenant_key tk = {0};
			memcpy(tk.tenant, k + 1, lt);
			memcpy(tk.id, nul + 1, li);
			memcpy(tk.hash, v + 1, 32);
			tk.created_unix = util_get_be64(v + 33);
			cat->keys = array_insert(cat->keys, &cat->n_keys, &cat->cap_keys, sizeof tk,
			    cat->n_keys, &tk);
			return SHOAL_OK;
		}
	} else if ((k[0] == 'd' || k[0] == 'g' || k[0] == 'q') && kl > 1) {
		return load_dist_record(cat, k, kl, v, vl, st);
	} else if (k[0] == 'w' && kl - 1 < CATALOG_NAME_MAX && vl > 0 && vl < CATALOG_URL_MAX) {
		catalog_worker w = {0};
		memcpy(w.name, k + 1, kl - 1);
		memcpy(w.url, v, vl);
		cat->workers = array_insert(cat->workers, &cat->n_workers, &cat->cap_workers,
		    sizeof w, cat->n_workers, &w);
		return SHOAL_OK;
	} else if (k[0] == 't' && kl - 1 < CATALOG_NAME_MAX && vl > TENANT_VAL_MIN &&
	    vl - TENANT_VAL_MIN < CATALOG_NAME_MAX && v[0] == RECORD_V1) {
		catalog_tenant t = {0};
		memcpy(t.name, k + 1, kl - 1);
		t.epoch = util_get_be64(v + 1);
		memcpy(t.worker, v + TENANT_VAL_MIN, vl - TENANT_VAL_MIN);
		cat->tenants = array_insert(cat->tenants, &cat->n_tenants, &cat->cap_tenants,
		    sizeof t, cat->n_tenants, &t);
		return SHOAL_OK;
	} else if (k[0] == 'c' && vl == COLL_VAL_LEN && v[0] == RECORD_V1) {
		const char *nul = memchr(k + 1, '\0', kl - 1);
		size_t lt = nul ? (size_t)(nul - (k + 1)) : 0, ln = nul ? kl - 2 - lt : 0;
		if (nul != NULL && lt > 0 && ln > 0 && lt < CATALOG_NAME_MAX &&
		    ln < CATALOG_NAME_MAX) {
			catalog_collection c = {0};
			memcpy(c.tenant, k + 1, lt);
			memcpy(c.name, nul + 1, ln);
			c.shard_id = util_get_be64(v + 1);
			c.dim = util_get_be32(v + 9);
			c.metric = util_get_be32(v + 13);
			c.m = util_get_be32(v + 17);
			c.ef_construction = util_get_be32(v + 21);
			cat->colls = array_insert(cat->colls, &cat->n_colls, &cat->cap_colls,
			    sizeof c, cat->n_colls, &c);
			return SHOAL_OK;
		}
	}
	return shoal_status_set(st, SHOAL_DATA_LOSS,
	    "catalog %s: undecodable record (key '%.*s', %zu key bytes, %zu value bytes)",
	    cat->path, (int)(kl > 64 ? 64 : kl), k, kl, vl);
}

/* "k" tenant NUL id: a tenant API key's record.  buf holds at least
 * 2 + CATALOG_NAME_MAX + CATALOG_KEY_ID_LEN bytes; returns the length. */
static size_t
tkey_key(char *buf, const char *tenant, const char *id)
{
	size_t lt = strlen(tenant), li = strlen(id);
	buf[0] = CATALOG_KEY_PREFIX;
	memcpy(buf + 1, tenant, lt);
	buf[1 + lt] = '\0';
	memcpy(buf + 2 + lt, id, li);
	return 2 + lt + li;
}

/* Loads every record (keys arrive in byte order, which is array order) and
 * checks the cross-record invariants. */
static shoal_code
load(catalog *cat, shoal_status *st)
{
	rocksdb_iterator_t *it = rocksdb_create_iterator(cat->db, cat->ropts);
	shoal_code rv = SHOAL_OK;
	uint32_t format = 0;
	bool empty = true;
	char *err = NULL;

	for (rocksdb_iter_seek_to_first(it); rv == SHOAL_OK && rocksdb_iter_valid(it);
	    rocksdb_iter_next(it)) {
		size_t kl, vl;
		const char *k = rocksdb_iter_key(it, &kl);
		const char *v = rocksdb_iter_value(it, &vl);
		empty = false;
		if (kl == 0)
			rv = shoal_status_set(st, SHOAL_DATA_LOSS, "catalog %s: empty key", cat->path);
		else
			rv = load_record(cat, k, kl, (const unsigned char *)v, vl, &format, st);
	}
	rocksdb_iter_get_error(it, &err);
	rocksdb_iter_destroy(it);
	if (err != NULL) {
		shoal_status_set(st, SHOAL_INTERNAL, "catalog %s: read failed: %s", cat->path, err);
		rocksdb_free(err);
		return SHOAL_INTERNAL;
	}
	if (rv != SHOAL_OK)
		return rv;

	if (empty) {
		/* New catalog: stamp the format and the first epoch. */
		rocksdb_writebatch_t *b = rocksdb_writebatch_create();
		unsigned char f[4];
		util_put_be32(f, CATALOG_FORMAT);
		rocksdb_writebatch_put(b, "F", 1, (const char *)f, sizeof f);
		batch_put_u64(b, "E", 1);
		batch_put_u64(b, "S", 1);
		rv = write_batch(cat, b, "init", st);
		rocksdb_writebatch_destroy(b);
		if (rv != SHOAL_OK)
			return rv;
		cat->epoch = 1;
		cat->next_shard = 1;
		cat->format = CATALOG_FORMAT;
		cat->next_qseq = 1;
		return SHOAL_OK;
	}
	if (format < CATALOG_FORMAT_MIN || format > CATALOG_FORMAT)
		return shoal_status_set(st, SHOAL_FAILED_PRECONDITION,
		    "catalog %s has format %u; this coordinator reads formats %u..%u", cat->path,
		    format, CATALOG_FORMAT_MIN, CATALOG_FORMAT);
	cat->format = format;
	if ((rv = check_dist(cat, st)) != SHOAL_OK)
		return rv;
	for (size_t i = 0; i < cat->n_colls; i++) {
		bool found;
		const catalog_collection *c = &cat->colls[i];
		tenant_find(cat, c->tenant, &found);
		if (!found)
			return shoal_status_set(st, SHOAL_DATA_LOSS,
			    "catalog %s: collection '%s' belongs to missing tenant '%s'", cat->path,
			    c->name, c->tenant);
		if (c->shard_id >= cat->next_shard)
			return shoal_status_set(st, SHOAL_DATA_LOSS,
			    "catalog %s: collection '%s/%s' has shard %llu beyond the allocator (%llu)",
			    cat->path, c->tenant, c->name, (unsigned long long)c->shard_id,
			    (unsigned long long)cat->next_shard);
	}
	return SHOAL_OK;
}

shoal_code
catalog_open(const char *path, catalog **out, shoal_status *st)
{
	catalog *cat = xcalloc(1, sizeof *cat);
	char *err = NULL;
	shoal_code rv;

	*out = NULL;
	cat->path = xstrdup(path);
	pthread_mutex_init(&cat->wmu, NULL);
	pthread_rwlock_init(&cat->lock, NULL);
	pthread_mutex_init(&cat->vmu, NULL);
	cat->opts = rocksdb_options_create();
	rocksdb_options_set_create_if_missing(cat->opts, 1);
	/* The catalog is tiny: keep RocksDB's own footprint small too. */
	rocksdb_options_set_max_open_files(cat->opts, 64);
	rocksdb_options_set_keep_log_file_num(cat->opts, 4);
	cat->wsync = rocksdb_writeoptions_create();
	rocksdb_writeoptions_set_sync(cat->wsync, 1);
	cat->ropts = rocksdb_readoptions_create();

	cat->db = rocksdb_open(cat->opts, path, &err);
	if (err != NULL) {
		shoal_status_set(st, SHOAL_INTERNAL, "cannot open catalog %s: %s", path, err);
		rocksdb_free(err);
		catalog_close(cat);
		return SHOAL_INTERNAL;
	}
	if ((rv = load(cat, st)) != SHOAL_OK) {
		catalog_close(cat);
		return rv;
	}
	/* Everything below the stored mark may have been handed out before a
	 * crash; start above it.  v_limit == v_next forces the first call to
	 * reserve (durably) a new block. */
	cat->v_next = cat->v_limit > 0 ? cat->v_limit : 1;
	cat->v_limit = cat->v_next;
	log_info("catalog %s: %zu workers, %zu tenants, %zu collections, epoch %llu", path,
	    cat->n_workers, cat->n_tenants, cat->n_colls, (unsigned long long)cat->epoch);
	*out = cat;
	return SHOAL_OK;
}

void
catalog_close(catalog *cat)
{
	if (cat == NULL)
		return;
	if (cat->db != NULL)
		rocksdb_close(cat->db);
	if (cat->opts != NULL)
		rocksdb_options_destroy(cat->opts);
	if (cat->wsync != NULL)
		rocksdb_writeoptions_destroy(cat->wsync);
	if (cat->ropts != NULL)
		rocksdb_readoptions_destroy(cat->ropts);
	pthread_mutex_destroy(&cat->wmu);
	pthread_rwlock_destroy(&cat->lock);
	pthread_mutex_destroy(&cat->vmu);
	free(cat->workers);
	free(cat->tenants);
	free(cat->colls);
	free(cat->keys);
	free_dist(cat);
	free(cat->path);
	free(cat);
}

uint64_t
catalog_epoch(catalog *cat)
{
	uint64_t e;
	pthread_rwlock_rdlock(&cat->lock);
	e = cat->epoch;
	pthread_rwlock_unlock(&cat->lock);
	return e;
}

/* ===================================================================
 * Workers
 * =================================================================== */

shoal_code
catalog_put_worker(catalog *cat, const char *name, const char *url, bool *changed,
    shoal_status *st)
{
	catalog_worker w = {0};
	char key[1 + CATALOG_NAME_MAX];
	shoal_code rv;
	bool found;
	size_t i;

	if (changed != NULL)
		*changed = false;
	if (!name_ok(name))
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT, "bad worker name");
	if (url == NULL || url[0] == '\0' || strlen(url) >= CATALOG_URL_MAX)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "worker url must be 1..%d characters", CATALOG_URL_MAX - 1);
	snprintf(w.name, sizeof w.name, "%s", name);
	snprintf(w.url, sizeof w.url, "%s", url);

	pthread_mutex_lock(&cat->wmu);
	i = worker_find(cat, name, &found);
	if (found && strcmp(cat->workers[i].url, url) == 0) {
		pthread_mutex_unlock(&cat->wmu);
		return SHOAL_OK; /* heartbeat with nothing new: no write */
	}
	rocksdb_writebatch_t *b = rocksdb_writebatch_create();
	rocksdb_writebatch_put(b, key, name_key(key, 'w', name), url, strlen(url));
	rv = write_batch(cat, b, "put worker", st);
	rocksdb_writebatch_destroy(b);
	if (rv == SHOAL_OK) {
		pthread_rwlock_wrlock(&cat->lock);
		if (found)
			cat->workers[i] = w;
		else
			cat->workers = array_insert(cat->workers, &cat->n_workers,
			    &cat->cap_workers, sizeof w, i, &w);
		pthread_rwlock_unlock(&cat->lock);
		if (changed != NULL)
			*changed = true;
	}
	pthread_mutex_unlock(&cat->wmu);
	return rv;
}

shoal_code
catalog_remove_worker(catalog *cat, const char *name, shoal_status *st)
{
	char key[1 + CATALOG_NAME_MAX];
	shoal_code rv;
	bool found;
	size_t i;

	if (!name_ok(name))
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT, "bad worker name");
	pthread_mutex_lock(&cat->wmu);
	i = worker_find(cat, name, &found);
	if (!found) {
		pthread_mutex_unlock(&cat->wmu);
		return shoal_status_set(st, SHOAL_NOT_FOUND, "worker '%s' is not registered", name);
	}
	rocksdb_writebatch_t *b = rocksdb_writebatch_create();
	rocksdb_writebatch_delete(b, key, name_key(key, 'w', name));
	rv = write_batch(cat, b, "remove worker", st);
	rocksdb_writebatch_destroy(b);
	if (rv == SHOAL_OK) {
		pthread_rwlock_wrlock(&cat->lock);
		array_remove(cat->workers, &cat->n_workers, sizeof *cat->workers, i, 1);
		pthread_rwlock_unlock(&cat->lock);
	}
	pthread_mutex_unlock(&cat->wmu);
	return rv;
}

shoal_code
catalog_get_worker(catalog *cat, const char *name, catalog_worker *out, shoal_status *st)
{
	shoal_code rv = SHOAL_OK;
	bool found;
	size_t i;

	pthread_rwlock_rdlock(&cat->lock);
	i = worker_find(cat, name, &found);
	if (found)
		*out = cat->workers[i];
	else
		rv = shoal_status_set(st, SHOAL_NOT_FOUND, "worker '%s' is not registered", name);
	pthread_rwlock_unlock(&cat->lock);
	return rv;
}

size_t
catalog_list_workers(catalog *cat, catalog_worker **out)
{
	size_t n;

	pthread_rwlock_rdlock(&cat->lock);
	n = cat->n_workers;
	*out = array_copy(cat->workers, n, sizeof **out);
	pthread_rwlock_unlock(&cat->lock);
	return n;
}

/* ===================================================================
 * Tenants
 * =================================================================== */

shoal_code
catalog_create_tenant(catalog *cat, const char *name, const char *worker, catalog_tenant *out,
    shoal_status *st)
{
	catalog_tenant t = {0};
	char key[1 + CATALOG_NAME_MAX];
	unsigned char val[TENANT_VAL_MIN + CATALOG_NAME_MAX];
	size_t i, wl;
	shoal_code rv;
	bool found;

	if (!name_ok(name) || !name_ok(worker))
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT, "bad tenant or worker name");
	snprintf(t.name, sizeof t.name, "%s", name);
	snprintf(t.worker, sizeof t.worker, "%s", worker);
	wl = strlen(worker);

	pthread_mutex_lock(&cat->wmu);
	i = tenant_find(cat, name, &found);
	if (found) {
		pthread_mutex_unlock(&cat->wmu);
		return shoal_status_set(st, SHOAL_ALREADY_EXISTS, "tenant '%s' already exists", name);
	}
	if (dcoll_exists(cat, name)) { /* invariant 6: one namespace */
		pthread_mutex_unlock(&cat->wmu);
		return shoal_status_set(st, SHOAL_ALREADY_EXISTS,
		    "'%s' is the name of a shared or reference collection; tenants and "
		    "cluster-level collections share one namespace", name);
	}
	t.epoch = cat->epoch + 1;
	val[0] = RECORD_V1;
	util_put_be64(val + 1, t.epoch);
	memcpy(val + TENANT_VAL_MIN, worker, wl);
	rocksdb_writebatch_t *b = rocksdb_writebatch_create();
	rocksdb_writebatch_put(b, key, name_key(key, 't', name), (const char *)val,
	    TENANT_VAL_MIN + wl);
	batch_put_u64(b, "E", t.epoch);
	rv = write_batch(cat, b, "create tenant", st);
	rocksdb_writebatch_destroy(b);
	if (rv == SHOAL_OK) {
		pthread_rwlock_wrlock(&cat->lock);
		cat->tenants = array_insert(cat->tenants, &cat->n_tenants, &cat->cap_tenants,
		    sizeof t, i, &t);
		cat->epoch = t.epoch;
		pthread_rwlock_unlock(&cat->lock);
		if (out != NULL)
			*out = t;
	}
	pthread_mutex_unlock(&cat->wmu);
	return rv;
}

shoal_code
catalog_get_tenant(catalog *cat, const char *name, catalog_tenant *out, shoal_status *st)
{
	shoal_code rv = SHOAL_OK;
	bool found;
	size_t i;

	pthread_rwlock_rdlock(&cat->lock);
	i = tenant_find(cat, name, &found);
	if (found)
		*out = cat->tenants[i];
	else
		rv = shoal_status_set(st, SHOAL_NOT_FOUND, "tenant '%s' does not exist", name);
	pthread_rwlock_unlock(&cat->lock);
	return rv;
}

size_t
catalog_list_tenants(catalog *cat, catalog_tenant **out)
{
	size_t n;

	pthread_rwlock_rdlock(&cat->lock);
	n = cat->n_tenants;
	*out = array_copy(cat->tenants, n, sizeof **out);
	pthread_rwlock_unlock(&cat->lock);
	return n;
}

shoal_code
catalog_drop_tenant(catalog *cat, const char *name, shoal_status *st)
{
	char key[2 + 2 * CATALOG_NAME_MAX];
	size_t ti, c0, c1;
	shoal_code rv;
	bool found;

	if (!name_ok(name))
		return shoal_status_set(st, SHOAL_NOT_FOUND, "tenant '%s' does not exist",
		    name ? name : "");
	pthread_mutex_lock(&cat->wmu);
	ti = tenant_find(cat, name, &found);
	if (!found) {
		pthread_mutex_unlock(&cat->wmu);
		return shoal_status_set(st, SHOAL_NOT_FOUND, "tenant '%s' does not exist", name);
	}
	/* The tenant's collections are contiguous: [c0, c1). */
	c0 = coll_find(cat, name, "", &found);
	for (c1 = c0; c1 < cat->n_colls && strcmp(cat->colls[c1].tenant, name) == 0; c1++)
		;
	rocksdb_writebatch_t *b = rocksdb_writebatch_create();
	rocksdb_writebatch_delete(b, key, name_key(key, 't', name));
	for (size_t i = c0; i < c1; i++)
		rocksdb_writebatch_delete(b, key, coll_key(key, name, cat->colls[i].name));
	/* its API keys go with it: a tenant created later under the same
	 * name must not be reachable with them */
	for (size_t i = 0; i < cat->n_keys; i++)
		if (strcmp(cat->keys[i].tenant, name) == 0)
			rocksdb_writebatch_delete(b, key, tkey_key(key, name, cat->keys[i].id));
	batch_put_u64(b, "E", cat->epoch + 1);
	rv = write_batch(cat, b, "drop tenant", st);
	rocksdb_writebatch_destroy(b);
	if (rv == SHOAL_OK) {
		pthread_rwlock_wrlock(&cat->lock);
		for (size_t i = cat->n_keys; i-- > 0;)
			if (strcmp(cat->keys[i].tenant, name) == 0)
				array_remove(cat->keys, &cat->n_keys, sizeof *cat->keys, i, 1);
		array_remove(cat->colls, &cat->n_colls, sizeof *cat->colls, c0, c1 - c0);
		array_remove(cat->tenants, &cat->n_tenants, sizeof *cat->tenants, ti, 1);
		cat->epoch++;
		pthread_rwlock_unlock(&cat->lock);
	}
	pthread_mutex_unlock(&cat->wmu);
	return rv;
}

/* ===================================================================
 * Collections
 * =================================================================== */

uint64_t
catalog_next_shard_id(catalog *cat)
{
	pthread_rwlock_rdlock(&cat->lock);
	uint64_t n = cat->next_shard;
	pthread_rwlock_unlock(&cat->lock);
	return n;
}

shoal_code
catalog_alloc_shard_id(catalog *cat, uint64_t *out, shoal_status *st)
{
	shoal_code rv;

	pthread_mutex_lock(&cat->wmu);
	rocksdb_writebatch_t *b = rocksdb_writebatch_create();
	batch_put_u64(b, "S", cat->next_shard + 1);
	rv = write_batch(cat, b, "allocate shard id", st);
	rocksdb_writebatch_destroy(b);
	if (rv == SHOAL_OK) {
		pthread_rwlock_wrlock(&cat->lock);
		*out = cat->next_shard++;
		pthread_rwlock_unlock(&cat->lock);
	}
	pthread_mutex_unlock(&cat->wmu);
	return rv;
}

shoal_code
catalog_create_collection(catalog *cat, const catalog_collection *c, shoal_status *st)
{
	char key[2 + 2 * CATALOG_NAME_MAX];
	unsigned char val[COLL_VAL_LEN];
	catalog_collection rec;
	shoal_code rv;
	bool found;
	size_t i;

	if (!name_ok(c->tenant) || !name_ok(c->name))
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT, "bad tenant or collection name");
	rec = *c;
	rec.worker[0] = '\0';

	pthread_mutex_lock(&cat->wmu);
	tenant_find(cat, c->tenant, &found);
	if (!found) {
		pthread_mutex_unlock(&cat->wmu);
		return shoal_status_set(st, SHOAL_NOT_FOUND, "tenant '%s' does not exist", c->tenant);
	}
	if (c->shard_id == 0 || c->shard_id >= cat->next_shard) {
		pthread_mutex_unlock(&cat->wmu);
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "shard id %llu was not allocated by this catalog",
		    (unsigned long long)c->shard_id);
	}
	i = coll_find(cat, c->tenant, c->name, &found);
	if (found) {
		pthread_mutex_unlock(&cat->wmu);
		return shoal_status_set(st, SHOAL_ALREADY_EXISTS,
		    "collection '%s' already exists in tenant '%s'", c->name, c->tenant);
	}
	coll_val(val, c);
	rocksdb_writebatch_t *b = rocksdb_writebatch_create();
	rocksdb_writebatch_put(b, key, coll_key(key, c->tenant, c->name), (const char *)val,
	    sizeof val);
	batch_put_u64(b, "E", cat->epoch + 1);
	rv = write_batch(cat, b, "create collection", st);
	rocksdb_writebatch_destroy(b);
	if (rv == SHOAL_OK) {
		pthread_rwlock_wrlock(&cat->lock);
		cat->colls = array_insert(cat->colls, &cat->n_colls, &cat->cap_colls, sizeof rec, i,
		    &rec);
		cat->epoch++;
		pthread_rwlock_unlock(&cat->lock);
	}
	pthread_mutex_unlock(&cat->wmu);
	return rv;
}

/* Caller holds the read lock (or wmu).  Fills out's worker from the tenant. */
static shoal_code
get_collection_locked(catalog *cat, const char *tenant, const char *name,
    catalog_collection *out, shoal_status *st)
{
	bool found;
	size_t ti = tenant_find(cat, tenant, &found), ci;

	if (!found)
		return shoal_status_set(st, SHOAL_NOT_FOUND, "tenant '%s' does not exist", tenant);
	ci = coll_find(cat, tenant, name, &found);
	if (!found)
		return shoal_status_set(st, SHOAL_NOT_FOUND,
		    "collection '%s' does not exist in tenant '%s'", name, tenant);
	*out = cat->colls[ci];
	memcpy(out->worker, cat->tenants[ti].worker, sizeof out->worker);
	out->epoch = cat->tenants[ti].epoch;
	return SHOAL_OK;
}

shoal_code
catalog_get_collection(catalog *cat, const char *tenant, const char *name,
    catalog_collection *out, shoal_status *st)
{
	shoal_code rv;

	pthread_rwlock_rdlock(&cat->lock);
	rv = get_collection_locked(cat, tenant, name, out, st);
	pthread_rwlock_unlock(&cat->lock);
	return rv;
}

size_t
catalog_list_collections(catalog *cat, const char *tenant, catalog_collection **out)
{
	size_t c0 = 0, c1, n;
	bool found;

	*out = NULL;
	pthread_rwlock_rdlock(&cat->lock);
	c1 = cat->n_colls;
	if (tenant != NULL) {
		c0 = coll_find(cat, tenant, "", &found);
		for (c1 = c0; c1 < cat->n_colls && strcmp(cat->colls[c1].tenant, tenant) == 0; c1++)
			;
	}
	n = c1 - c0;
	if (n > 0) {
		*out = xmalloc(n * sizeof **out);
		for (size_t i = 0; i < n; i++) {
			const catalog_collection *c = &cat->colls[c0 + i];
			size_t ti = tenant_find(cat, c->tenant, &found);
			(*out)[i] = *c;
			/* invariant 2: the tenant exists */
			memcpy((*out)[i].worker, cat->tenants[ti].worker, CATALOG_NAME_MAX);
			(*out)[i].epoch = cat->tenants[ti].epoch;
		}
	}
	pthread_rwlock_unlock(&cat->lock);
	return n;
}

shoal_code
catalog_drop_collection(catalog *cat, const char *tenant, const char *name, shoal_status *st)
{
	char key[2 + 2 * CATALOG_NAME_MAX];
	catalog_collection c;
	shoal_code rv;
	bool found;
	size_t i;

	if (!name_ok(tenant) || !name_ok(name))
		return shoal_status_set(st, SHOAL_NOT_FOUND, "collection '%s' does not exist",
		    name ? name : "");
	pthread_mutex_lock(&cat->wmu);
	if ((rv = get_collection_locked(cat, tenant, name, &c, st)) != SHOAL_OK) {
		pthread_mutex_unlock(&cat->wmu);
		return rv;
	}
	i = coll_find(cat, tenant, name, &found);
	rocksdb_writebatch_t *b = rocksdb_writebatch_create();
	rocksdb_writebatch_delete(b, key, coll_key(key, tenant, name));
	batch_put_u64(b, "E", cat->epoch + 1);
	rv = write_batch(cat, b, "drop collection", st);
	rocksdb_writebatch_destroy(b);
	if (rv == SHOAL_OK) {
		pthread_rwlock_wrlock(&cat->lock);
		array_remove(cat->colls, &cat->n_colls, sizeof *cat->colls, i, 1);
		cat->epoch++;
		pthread_rwlock_unlock(&cat->lock);
	}
	pthread_mutex_unlock(&cat->wmu);
	return rv;
}

void
catalog_counts(catalog *cat, size_t *tenants, size_t *collections)
{
	pthread_rwlock_rdlock(&cat->lock);
	if (tenants != NULL)
		*tenants = cat->n_tenants;
	if (collections != NULL)
		*collections = cat->n_colls + cat->n_dcolls;
	pthread_rwlock_unlock(&cat->lock);
}

/* ===================================================================
 * Versions
 * =================================================================== */

shoal_code
catalog_next_versions(catalog *cat, uint64_t n, uint64_t *first, shoal_status *st)
{
	shoal_code rv = SHOAL_OK;

	if (n == 0)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT, "asked for 0 versions");
	pthread_mutex_lock(&cat->vmu);
	if (n > UINT64_MAX - CATALOG_VERSION_BLOCK - cat->v_next) {
		pthread_mutex_unlock(&cat->vmu);
		return shoal_status_set(st, SHOAL_RESOURCE_EXHAUSTED, "version space exhausted");
	}
	if (cat->v_limit - cat->v_next < n) {
		/* Reserve a new block durably BEFORE handing out from it: after a
		 * crash the next process starts at this mark, above anything we
		 * hand out now. */
		uint64_t limit = cat->v_next + n + CATALOG_VERSION_BLOCK;
		rocksdb_writebatch_t *b = rocksdb_writebatch_create();
		batch_put_u64(b, "V", limit);
		rv = write_batch(cat, b, "reserve versions", st);
		rocksdb_writebatch_destroy(b);
		if (rv == SHOAL_OK)
			cat->v_limit = limit;
	}
	if (rv == SHOAL_OK) {
		*first = cat->v_next;
		cat->v_next += n;
	}
	pthread_mutex_unlock(&cat->vmu);
	return rv;
}

/* ===================================================================
 * Opaque records under a one-byte prefix: import jobs ("j", pg_import.c),
 * moves ("m", move.c), the rebalance plan ("r", rebalance.c).  Written
 * durably, not loaded into memory at open (their owner scans them at
 * start).  Independent of the in-memory catalog: no lock beyond RocksDB's
 * own.
 * =================================================================== */

static bool
opaque_prefix(char prefix)
{
	return prefix == CATALOG_IMPORT_PREFIX || prefix == CATALOG_MOVE_PREFIX ||
	    prefix == CATALOG_REBALANCE_PREFIX;
}

static shoal_code
opaque_key(char prefix, char *buf, size_t cap, const char *id, size_t *kl, shoal_status *st)
{
	size_t n = id ? strlen(id) : 0;
	if (!opaque_prefix(prefix))
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "catalog: '%c' is not a prefix of opaque records", prefix);
	if (n == 0 || n + 1 > cap)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT, "bad record id (1..%d bytes)",
		    CATALOG_NAME_MAX - 1);
	buf[0] = prefix;
	memcpy(buf + 1, id, n);
	*kl = n + 1;
	return SHOAL_OK;
}

shoal_code
catalog_put_opaque(catalog *cat, char prefix, const char *id, const void *val, size_t len,
    shoal_status *st)
{
	char key[CATALOG_NAME_MAX + 1];
	size_t kl = 0;
	shoal_code rv;

	if ((rv = opaque_key(prefix, key, sizeof key, id, &kl, st)) != SHOAL_OK)
		return rv;
	rocksdb_writebatch_t *b = rocksdb_writebatch_create();
	if (val != NULL)
		rocksdb_writebatch_put(b, key, kl, val, len);
	else
		rocksdb_writebatch_delete(b, key, kl);
	rv = write_batch(cat, b, "record", st);
	rocksdb_writebatch_destroy(b);
	return rv;
}

shoal_code
catalog_scan_opaque(catalog *cat, char prefix, catalog_import_fn fn, void *arg,
    shoal_status *st)
{
	if (!opaque_prefix(prefix))
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "catalog: '%c' is not a prefix of opaque records", prefix);
	rocksdb_iterator_t *it = rocksdb_create_iterator(cat->db, cat->ropts);
	shoal_code rv = SHOAL_OK;
	char *err = NULL;

	for (rocksdb_iter_seek(it, &prefix, 1); rv == SHOAL_OK && rocksdb_iter_valid(it);
	    rocksdb_iter_next(it)) {
		size_t kl, vl;
		const char *k = rocksdb_iter_key(it, &kl);
		const char *v = rocksdb_iter_value(it, &vl);
		if (kl < 2 || k[0] != prefix)
			break;
		char id[CATALOG_NAME_MAX];
		if (kl - 1 >= sizeof id) {
			rv = shoal_status_set(st, SHOAL_DATA_LOSS,
			    "catalog %s: '%c' record key of %zu bytes", cat->path, prefix, kl);
			break;
		}
		memcpy(id, k + 1, kl - 1);
		id[kl - 1] = '\0';
		rv = fn(arg, id, v, vl, st);
	}
	rocksdb_iter_get_error(it, &err);
	rocksdb_iter_destroy(it);
	if (err != NULL) {
		shoal_status_set(st, SHOAL_INTERNAL, "catalog %s: read failed: %s", cat->path, err);
		rocksdb_free(err);
		return SHOAL_INTERNAL;
	}
	return rv;
}

shoal_code
catalog_put_import(catalog *cat, const char *id, const void *val, size_t len, shoal_status *st)
{
	return catalog_put_opaque(cat, CATALOG_IMPORT_PREFIX, id, val ? val : "", len, st);
}

shoal_code
catalog_scan_imports(catalog *cat, catalog_import_fn fn, void *arg, shoal_status *st)
{
	return catalog_scan_opaque(cat, CATALOG_IMPORT_PREFIX, fn, arg, st);
}

shoal_code
catalog_put_move(catalog *cat, const char *id, const void *val, size_t len, shoal_status *st)
{
	return catalog_put_opaque(cat, CATALOG_MOVE_PREFIX, id, val ? val : "", len, st);
}

shoal_code
catalog_scan_moves(catalog *cat, catalog_import_fn fn, void *arg, shoal_status *st)
{
	return catalog_scan_opaque(cat, CATALOG_MOVE_PREFIX, fn, arg, st);
}

shoal_code
catalog_move_tenant(catalog *cat, const char *name, const char *worker, const char *move_id,
    const void *val, size_t len, uint64_t *epoch, shoal_status *st)
{
	char key[1 + CATALOG_NAME_MAX], mkey[CATALOG_NAME_MAX + 1];
	unsigned char tval[TENANT_VAL_MIN + CATALOG_NAME_MAX];
	size_t i, wl, mkl = 0;
	shoal_code rv;
	bool found;

	if (!name_ok(name) || !name_ok(worker))
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT, "bad tenant or worker name");
	if (move_id != NULL &&
	    (rv = opaque_key(CATALOG_MOVE_PREFIX, mkey, sizeof mkey, move_id, &mkl, st)) != SHOAL_OK)
		return rv;
	wl = strlen(worker);
	pthread_mutex_lock(&cat->wmu);
	i = tenant_find(cat, name, &found);
	if (!found) {
		pthread_mutex_unlock(&cat->wmu);
		return shoal_status_set(st, SHOAL_NOT_FOUND, "tenant '%s' does not exist", name);
	}
	uint64_t e = cat->epoch + 1;
	tval[0] = RECORD_V1;
	util_put_be64(tval + 1, e);
	memcpy(tval + TENANT_VAL_MIN, worker, wl);
	rocksdb_writebatch_t *b = rocksdb_writebatch_create();
	rocksdb_writebatch_put(b, key, name_key(key, 't', name), (const char *)tval,
	    TENANT_VAL_MIN + wl);
	if (move_id != NULL)
		rocksdb_writebatch_put(b, mkey, mkl, val, len);
	batch_put_u64(b, "E", e);
	rv = write_batch(cat, b, "move tenant", st);
	rocksdb_writebatch_destroy(b);
	if (rv == SHOAL_OK) {
		pthread_rwlock_wrlock(&cat->lock);
		snprintf(cat->tenants[i].worker, sizeof cat->tenants[i].worker, "%s", worker);
		cat->tenants[i].epoch = e;
		cat->epoch = e;
		pthread_rwlock_unlock(&cat->lock);
		if (epoch != NULL)
			*epoch = e;
	}
	pthread_mutex_unlock(&cat->wmu);
	return rv;
}

/* ===================================================================
 * Cluster-level collections (shared, reference), shard maps, queue
 *
 * Same write path as above (wmu -> check -> batch -> sync write -> wrlock
 * -> apply).  Sizes are bounded (names < 64 bytes, at most
 * CATALOG_MAX_SHARDS places), so encoders use buffers sized by
 * PLACE_ENC_MAX.
 * =================================================================== */

#define PLACE_ENC_MAX (8 + 1 + CATALOG_NAME_MAX)
#define DCOLL_FIXED (1 + 1 + 4 * 4 + 8 + 4 + 8 + 8)

static size_t
dcoll_find(const catalog *cat, const char *name, bool *found)
{
	return name_find(cat->dcolls, cat->n_dcolls, sizeof(*cat->dcolls),
	    offsetof(catalog_dcoll, name), name, found);
}

static bool
dcoll_exists(const catalog *cat, const char *name)
{
	bool found;
	dcoll_find(cat, name, &found);
	return found;
}

static size_t
group_find(const catalog *cat, uint64_t id, bool *found)
{
	size_t lo = 0, hi = cat->n_groups;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (cat->groups[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = lo < cat->n_groups && cat->groups[lo].id == id;
	return lo;
}

static int
queue_cmp(const char *w1, uint64_t s1, const char *w2, uint64_t s2)
{
	int c = strcmp(w1, w2);
	return c != 0 ? c : (s1 < s2 ? -1 : s1 > s2);
}

static size_t
queue_find(const catalog *cat, const char *worker, uint64_t seq, bool *found)
{
	size_t lo = 0, hi = cat->n_queue;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (queue_cmp(cat->queue[mid].worker, cat->queue[mid].seq, worker, seq) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = lo < cat->n_queue && cat->queue[lo].seq == seq &&
	    strcmp(cat->queue[lo].worker, worker) == 0;
	return lo;
}

/* ---- encoding -------------------------------------------------------- */

static size_t
place_enc(unsigned char *p, const catalog_place *pl)
{
	size_t n = strlen(pl->worker);
	util_put_be64(p, pl->epoch);
	p[8] = (unsigned char)n;
	memcpy(p + 9, pl->worker, n);
	return 9 + n;
}

/* Decodes one place at *pos of v[0..vl); false when malformed. */
static bool
place_dec(const unsigned char *v, size_t vl, size_t *pos, catalog_place *pl)
{
	size_t n;
	if (*pos + 9 > vl)
		return false;
	n = v[*pos + 8];
	if (n == 0 || n >= CATALOG_NAME_MAX || *pos + 9 + n > vl)
		return false;
	memset(pl, 0, sizeof *pl);
	pl->epoch = util_get_be64(v + *pos);
	memcpy(pl->worker, v + *pos + 9, n);
	*pos += 9 + n;
	return true;
}

static size_t
group_key(char *buf, uint64_t id)
{
	buf[0] = 'g';
	util_put_be64((unsigned char *)buf + 1, id);
	return 9;
}

/* malloc'ed value of group g (*len). */
static unsigned char *
group_val(const group_rec *g, size_t *len)
{
	unsigned char *v = xmalloc(5 + (size_t)g->n * PLACE_ENC_MAX);
	size_t n = 5;
	v[0] = RECORD_V1;
	util_put_be32(v + 1, g->n);
	for (uint32_t i = 0; i < g->n; i++)
		n += place_enc(v + n, &g->places[i]);
	*len = n;
	return v;
}

/* malloc'ed value of c (*len); places encoded for REFERENCE only. */
static unsigned char *
dcoll_val(const catalog_dcoll *c, size_t *len)
{
	uint32_t np = c->kind == CATALOG_REFERENCE ? c->nplaces : 0;
	size_t kl = strlen(c->key_field);
	unsigned char *v = xmalloc(DCOLL_FIXED + 1 + kl + 4 + (size_t)np * PLACE_ENC_MAX);
	size_t n;

	v[0] = RECORD_V1;
	v[1] = (unsigned char)c->kind;
	util_put_be32(v + 2, c->dim);
	util_put_be32(v + 6, c->metric);
	util_put_be32(v + 10, c->m);
	util_put_be32(v + 14, c->ef_construction);
	util_put_be64(v + 18, c->first_shard);
	util_put_be32(v + 26, c->nshards);
	util_put_be64(v + 30, c->group);
	util_put_be64(v + 38, c->epoch);
	n = DCOLL_FIXED;
	v[n++] = (unsigned char)kl;
	memcpy(v + n, c->key_field, kl);
	n += kl;
	util_put_be32(v + n, np);
	n += 4;
	for (uint32_t i = 0; i < np; i++)
		n += place_enc(v + n, &c->places[i]);
	*len = n;
	return v;
}

static size_t
queue_key(char *buf, const char *worker, uint64_t seq)
{
	size_t n = strlen(worker);
	buf[0] = 'q';
	memcpy(buf + 1, worker, n);
	buf[1 + n] = '\0';
	util_put_be64((unsigned char *)buf + 2 + n, seq);
	return 10 + n;
}

static unsigned char *
queue_val(const catalog_queued *q, size_t *len)
{
	size_t ml = strlen(q->method);
	unsigned char *v = xmalloc(1 + 8 + 1 + ml + q->len + 1);
	v[0] = RECORD_V1;
	util_put_be64(v + 1, q->shard_id);
	v[9] = (unsigned char)ml;
	memcpy(v + 10, q->method, ml);
	if (q->len > 0)
		memcpy(v + 10 + ml, q->payload, q->len);
	*len = 10 + ml + q->len;
	return v;
}

/* Adds the format-2 marker to b when the catalog is still format 1. */
static void
batch_upgrade_format(catalog *cat, rocksdb_writebatch_t *b)
{
	if (cat->format < CATALOG_FORMAT) {
		unsigned char f[4];
		util_put_be32(f, CATALOG_FORMAT);
		rocksdb_writebatch_put(b, "F", 1, (const char *)f, sizeof f);
	}
}

/* ---- load ------------------------------------------------------------ */

static shoal_code
load_dist_record(catalog *cat, const char *k, size_t kl, const unsigned char *v, size_t vl,
    shoal_status *st)
{
	size_t pos;

	if (k[0] == 'g' && kl == 9 && vl >= 5 && v[0] == RECORD_V1) {
		group_rec g = {.id = util_get_be64((const unsigned char *)k + 1), .n = util_get_be32(v + 1)};
		if (g.n >= 1 && g.n <= CATALOG_MAX_SHARDS) {
			bool ok = true;
			g.places = xcalloc(g.n, sizeof *g.places);
			pos = 5;
			for (uint32_t i = 0; i < g.n && ok; i++)
				ok = place_dec(v, vl, &pos, &g.places[i]);
			if (ok && pos == vl) {
				cat->groups = array_insert(cat->groups, &cat->n_groups, &cat->cap_groups,
				    sizeof g, cat->n_groups, &g);
				return SHOAL_OK;
			}
			free(g.places);
		}
	} else if (k[0] == 'd' && kl - 1 < CATALOG_NAME_MAX && vl > DCOLL_FIXED &&
	    v[0] == RECORD_V1 && (v[1] == CATALOG_SHARED || v[1] == CATALOG_REFERENCE)) {
		catalog_dcoll c;
		size_t klen = v[DCOLL_FIXED];
		memset(&c, 0, sizeof c);
		memcpy(c.name, k + 1, kl - 1);
		c.kind = (catalog_kind)v[1];
		c.dim = util_get_be32(v + 2);
		c.metric = util_get_be32(v + 6);
		c.m = util_get_be32(v + 10);
		c.ef_construction = util_get_be32(v + 14);
		c.first_shard = util_get_be64(v + 18);
		c.nshards = util_get_be32(v + 26);
		c.group = util_get_be64(v + 30);
		c.epoch = util_get_be64(v + 38);
		pos = DCOLL_FIXED + 1 + klen;
		if (klen < CATALOG_NAME_MAX && pos + 4 <= vl) {
			memcpy(c.key_field, v + DCOLL_FIXED + 1, klen);
			c.nplaces = util_get_be32(v + pos);
			pos += 4;
			bool ok = c.nplaces <= CATALOG_MAX_SHARDS;
			if (ok && c.nplaces > 0)
				c.places = xcalloc(c.nplaces, sizeof *c.places);
			for (uint32_t i = 0; i < c.nplaces && ok; i++)
				ok = place_dec(v, vl, &pos, &c.places[i]);
			if (ok && pos == vl) {
				cat->dcolls = array_insert(cat->dcolls, &cat->n_dcolls, &cat->cap_dcolls,
				    sizeof c, cat->n_dcolls, &c);
				return SHOAL_OK;
			}
			free(c.places);
		}
	} else if (k[0] == 'q' && vl >= 10 && v[0] == RECORD_V1) {
		const char *nul = memchr(k + 1, '\0', kl - 1);
		size_t wl = nul ? (size_t)(nul - (k + 1)) : 0;
		size_t ml = v[9];
		if (nul != NULL && wl > 0 && wl < CATALOG_NAME_MAX && kl == 10 + wl && ml > 0 &&
		    ml < sizeof ((catalog_queued *)0)->method && 10 + ml <= vl) {
			catalog_queued q;
			memset(&q, 0, sizeof q);
			memcpy(q.worker, k + 1, wl);
			q.seq = util_get_be64((const unsigned char *)nul + 1);
			q.shard_id = util_get_be64(v + 1);
			memcpy(q.method, v + 10, ml);
			q.len = vl - 10 - ml;
			q.payload = xmalloc(q.len ? q.len : 1);
			memcpy(q.payload, v + 10 + ml, q.len);
			cat->queue = array_insert(cat->queue, &cat->n_queue, &cat->cap_queue, sizeof q,
			    cat->n_queue, &q);
			if (q.seq >= cat->next_qseq)
				cat->next_qseq = q.seq + 1;
			return SHOAL_OK;
		}
	}
	return shoal_status_set(st, SHOAL_DATA_LOSS,
	    "catalog %s: undecodable record (key '%.*s', %zu key bytes, %zu value bytes)",
	    cat->path, (int)(kl > 64 ? 64 : kl), k, kl, vl);
}

/* Cross-record invariants of the cluster-level records (after load). */
static shoal_code
check_dist(catalog *cat, shoal_status *st)
{
	if (cat->next_qseq == 0)
		cat->next_qseq = 1;
	for (size_t i = 0; i < cat->n_dcolls; i++) {
		const catalog_dcoll *c = &cat->dcolls[i];
		bool found;
		tenant_find(cat, c->name, &found);
		if (found)
			return shoal_status_set(st, SHOAL_DATA_LOSS,
			    "catalog %s: '%s' is both a tenant and a collection", cat->path, c->name);
		if (c->first_shard == 0 || c->first_shard + c->nshards > cat->next_shard ||
		    c->nshards == 0)
			return shoal_status_set(st, SHOAL_DATA_LOSS,
			    "catalog %s: collection '%s' has shards beyond the allocator", cat->path,
			    c->name);
		if (c->kind == CATALOG_SHARED) {
			size_t gi = group_find(cat, c->group, &found);
			if (!found || cat->groups[gi].n != c->nshards)
				return shoal_status_set(st, SHOAL_DATA_LOSS,
				    "catalog %s: shared collection '%s' has no shard map of %u shards",
				    cat->path, c->name, c->nshards);
		}
	}
	return SHOAL_OK;
}

static void
free_dist(catalog *cat)
{
	for (size_t i = 0; i < cat->n_dcolls; i++)
		free(cat->dcolls[i].places);
	free(cat->dcolls);
	for (size_t i = 0; i < cat->n_groups; i++)
		free(cat->groups[i].places);
	free(cat->groups);
	for (size_t i = 0; i < cat->n_queue; i++)
		free(cat->queue[i].payload);
	free(cat->queue);
}

/* ---- shard ids ------------------------------------------------------- */

shoal_code
catalog_alloc_shard_ids(catalog *cat, uint32_t n, uint64_t *first, shoal_status *st)
{
	shoal_code rv;

	if (n == 0 || n > CATALOG_MAX_SHARDS)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "asked for %u shard ids (1..%u)", n, CATALOG_MAX_SHARDS);
	pthread_mutex_lock(&cat->wmu);
	rocksdb_writebatch_t *b = rocksdb_writebatch_create();
	batch_put_u64(b, "S", cat->next_shard + n);
	rv = write_batch(cat, b, "allocate shard ids", st);
	rocksdb_writebatch_destroy(b);
	if (rv == SHOAL_OK) {
		pthread_rwlock_wrlock(&cat->lock);
		*first = cat->next_shard;
		cat->next_shard += n;
		pthread_rwlock_unlock(&cat->lock);
	}
	pthread_mutex_unlock(&cat->wmu);
	return rv;
}

/* ---- queue helpers (caller holds wmu) -------------------------------- */

/* Puts q[0..n) into b with fresh seqs (from *seq, advanced). */
static shoal_code
batch_queue(rocksdb_writebatch_t *b, catalog_queued *q, size_t n, uint64_t *seq,
    shoal_status *st)
{
	char key[2 + CATALOG_NAME_MAX + 8];
	for (size_t i = 0; i < n; i++) {
		size_t len;
		if (!name_ok(q[i].worker) || q[i].method[0] == '\0' ||
		    memchr(q[i].method, '\0', sizeof q[i].method) == NULL)
			return shoal_status_set(st, SHOAL_INVALID_ARGUMENT, "bad queued request");
		q[i].seq = (*seq)++;
		unsigned char *v = queue_val(&q[i], &len);
		rocksdb_writebatch_put(b, key, queue_key(key, q[i].worker, q[i].seq),
		    (const char *)v, len);
		free(v);
	}
	return SHOAL_OK;
}

/* Applies queued q[0..n) to memory (copies payloads).  Caller holds the
 * write lock. */
static void
apply_queue(catalog *cat, const catalog_queued *q, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		catalog_queued c = q[i];
		bool found;
		c.payload = xmalloc(c.len ? c.len : 1);
		if (c.len)
			memcpy(c.payload, q[i].payload, c.len);
		size_t at = queue_find(cat, c.worker, c.seq, &found);
		cat->queue = array_insert(cat->queue, &cat->n_queue, &cat->cap_queue, sizeof c, at,
		    &c);
	}
}

/* ---- create / read / drop -------------------------------------------- */

static bool
places_ok(const catalog_place *p, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		if (!name_ok(p[i].worker))
			return false;
	return n > 0 && p != NULL;
}

shoal_code
catalog_create_dcoll(catalog *cat, const catalog_dcoll *c, catalog_queued *q, size_t nq,
    shoal_status *st)
{
	char key[2 + CATALOG_NAME_MAX + 8];
	catalog_dcoll rec;
	group_rec g = {0};
	bool found, new_group = false;
	shoal_code rv;
	size_t len, at;

	if (!name_ok(c->name))
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT, "bad collection name");
	if (c->kind != CATALOG_SHARED && c->kind != CATALOG_REFERENCE)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "a cluster-level collection is shared or reference");
	if (c->nshards == 0 || c->nshards > CATALOG_MAX_SHARDS ||
	    (c->kind == CATALOG_REFERENCE && c->nshards != 1))
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT, "bad shard count %u", c->nshards);
	if (c->kind == CATALOG_SHARED && c->group == 0 && (c->nplaces != c->nshards ||
	    !places_ok(c->places, c->nplaces)))
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "a new shard map needs one worker per shard");
	if (c->kind == CATALOG_REFERENCE && !places_ok(c->places, c->nplaces))
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "a reference collection needs at least one replica");

	pthread_mutex_lock(&cat->wmu);
	uint64_t epoch = cat->epoch + 1, seq = cat->next_qseq;
	rv = SHOAL_OK;
	tenant_find(cat, c->name, &found);
	if (found)
		rv = shoal_status_set(st, SHOAL_ALREADY_EXISTS,
		    "'%s' is the name of a tenant; tenants and cluster-level collections share "
		    "one namespace", c->name);
	at = dcoll_find(cat, c->name, &found);
	if (rv == SHOAL_OK && found)
		rv = shoal_status_set(st, SHOAL_ALREADY_EXISTS, "collection '%s' already exists",
		    c->name);
	if (rv == SHOAL_OK && (c->first_shard == 0 || c->first_shard + c->nshards > cat->next_shard))
		rv = shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "shard ids %llu.. were not allocated by this catalog",
		    (unsigned long long)c->first_shard);
	if (rv == SHOAL_OK && c->kind == CATALOG_SHARED && c->group != 0) {
		size_t gi = group_find(cat, c->group, &found);
		if (!found)
			rv = shoal_status_set(st, SHOAL_NOT_FOUND,
			    "the shard map to colocate with is gone (its collections were dropped)");
		else if (cat->groups[gi].n != c->nshards)
			rv = shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
			    "colocated collections need the same shard count (%u, not %u)",
			    cat->groups[gi].n, c->nshards);
	}
	if (rv != SHOAL_OK) {
		pthread_mutex_unlock(&cat->wmu);
		return rv;
	}

	rec = *c;
	rec.epoch = epoch;
	rec.places = NULL;
	rec.nplaces = 0;
	if (c->kind == CATALOG_SHARED && c->group == 0) {
		new_group = true;
		g.id = c->first_shard;
		g.n = c->nshards;
		g.places = xcalloc(g.n, sizeof *g.places);
		for (uint32_t i = 0; i < g.n; i++) {
			g.places[i] = c->places[i];
			g.places[i].epoch = epoch;
		}
		rec.group = g.id;
	} else if (c->kind == CATALOG_REFERENCE) {
		rec.group = 0;
		rec.nplaces = c->nplaces;
		rec.places = xcalloc(rec.nplaces, sizeof *rec.places);
		for (uint32_t i = 0; i < rec.nplaces; i++) {
			rec.places[i] = c->places[i];
			rec.places[i].epoch = epoch;
		}
	}
	if (rec.kind == CATALOG_REFERENCE)
		rec.key_field[0] = '\0';

	rocksdb_writebatch_t *b = rocksdb_writebatch_create();
	batch_upgrade_format(cat, b);
	unsigned char *v = dcoll_val(&rec, &len);
	rocksdb_writebatch_put(b, key, name_key(key, 'd', rec.name), (const char *)v, len);
	free(v);
	if (new_group) {
		v = group_val(&g, &len);
		rocksdb_writebatch_put(b, key, group_key(key, g.id), (const char *)v, len);
		free(v);
	}
	rv = batch_queue(b, q, nq, &seq, st);
	batch_put_u64(b, "E", epoch);
	if (rv == SHOAL_OK)
		rv = write_batch(cat, b, "create collection", st);
	rocksdb_writebatch_destroy(b);
	if (rv != SHOAL_OK) {
		free(g.places);
		free(rec.places);
		pthread_mutex_unlock(&cat->wmu);
		return rv;
	}
	pthread_rwlock_wrlock(&cat->lock);
	cat->format = CATALOG_FORMAT;
	cat->dcolls = array_insert(cat->dcolls, &cat->n_dcolls, &cat->cap_dcolls, sizeof rec, at,
	    &rec);
	if (new_group) {
		size_t gi = group_find(cat, g.id, &found);
		cat->groups = array_insert(cat->groups, &cat->n_groups, &cat->cap_groups, sizeof g,
		    gi, &g);
	}
	apply_queue(cat, q, nq);
	cat->next_qseq = seq;
	cat->epoch = epoch;
	pthread_rwlock_unlock(&cat->lock);
	pthread_mutex_unlock(&cat->wmu);
	return SHOAL_OK;
}

/* Copies dcolls[i] with its places.  Caller holds a lock. */
static void
dcoll_copy(const catalog *cat, size_t i, catalog_dcoll *out)
{
	const catalog_dcoll *c = &cat->dcolls[i];
	const catalog_place *src = c->places;
	uint32_t n = c->nplaces;
	bool found;

	*out = *c;
	if (c->kind == CATALOG_SHARED) {
		size_t gi = group_find(cat, c->group, &found);
		src = found ? cat->groups[gi].places : NULL; /* found: check_dist / create */
		n = found ? cat->groups[gi].n : 0;
	}
	out->nplaces = n;
	out->places = array_copy(src, n, sizeof *out->places);
}

shoal_code
catalog_get_dcoll(catalog *cat, const char *name, catalog_dcoll *out, shoal_status *st)
{
	shoal_code rv = SHOAL_OK;
	bool found;
	size_t i;

	memset(out, 0, sizeof *out);
	pthread_rwlock_rdlock(&cat->lock);
	i = dcoll_find(cat, name, &found);
	if (found)
		dcoll_copy(cat, i, out);
	else
		rv = shoal_status_set(st, SHOAL_NOT_FOUND,
		    "there is no shared or reference collection '%s'", name);
	pthread_rwlock_unlock(&cat->lock);
	return rv;
}

size_t
catalog_list_dcolls(catalog *cat, catalog_dcoll **out)
{
	size_t n;

	pthread_rwlock_rdlock(&cat->lock);
	n = cat->n_dcolls;
	*out = NULL;
	if (n > 0) {
		*out = xcalloc(n, sizeof **out);
		for (size_t i = 0; i < n; i++)
			dcoll_copy(cat, i, &(*out)[i]);
	}
	pthread_rwlock_unlock(&cat->lock);
	return n;
}

void
catalog_dcoll_clear(catalog_dcoll *c)
{
	if (c == NULL)
		return;
	free(c->places);
	c->places = NULL;
	c->nplaces = 0;
}

void
catalog_dcolls_free(catalog_dcoll *list, size_t n)
{
	for (size_t i = 0; list != NULL && i < n; i++)
		free(list[i].places);
	free(list);
}

/* Whether the queued request belongs to shards [first, first + n). */
static bool
queued_for(const catalog_queued *q, uint64_t first, uint32_t n)
{
	return q->shard_id >= first && q->shard_id < first + n;
}

shoal_code
catalog_drop_dcoll(catalog *cat, const char *name, catalog_queued *q, size_t nq,
    shoal_status *st)
{
	char key[2 + CATALOG_NAME_MAX + 8];
	bool found, drop_group = false;
	shoal_code rv;
	size_t i;

	if (!name_ok(name))
		return shoal_status_set(st, SHOAL_NOT_FOUND,
		    "there is no shared or reference collection '%s'", name ? name : "");
	pthread_mutex_lock(&cat->wmu);
	i = dcoll_find(cat, name, &found);
	if (!found) {
		pthread_mutex_unlock(&cat->wmu);
		return shoal_status_set(st, SHOAL_NOT_FOUND,
		    "there is no shared or reference collection '%s'", name);
	}
	const catalog_dcoll *c = &cat->dcolls[i];
	uint64_t seq = cat->next_qseq;
	if (c->kind == CATALOG_SHARED) {
		drop_group = true;
		for (size_t j = 0; j < cat->n_dcolls && drop_group; j++)
			drop_group = j == i || cat->dcolls[j].kind != CATALOG_SHARED ||
			    cat->dcolls[j].group != c->group;
	}
	rocksdb_writebatch_t *b = rocksdb_writebatch_create();
	rocksdb_writebatch_delete(b, key, name_key(key, 'd', name));
	if (drop_group)
		rocksdb_writebatch_delete(b, key, group_key(key, c->group));
	for (size_t j = 0; j < cat->n_queue; j++)
		if (queued_for(&cat->queue[j], c->first_shard, c->nshards))
			rocksdb_writebatch_delete(b, key,
			    queue_key(key, cat->queue[j].worker, cat->queue[j].seq));
	rv = batch_queue(b, q, nq, &seq, st);
	batch_put_u64(b, "E", cat->epoch + 1);
	if (rv == SHOAL_OK)
		rv = write_batch(cat, b, "drop collection", st);
	rocksdb_writebatch_destroy(b);
	if (rv == SHOAL_OK) {
		pthread_rwlock_wrlock(&cat->lock);
		uint64_t first = c->first_shard, group = c->group;
		uint32_t ns = c->nshards;
		free(cat->dcolls[i].places);
		array_remove(cat->dcolls, &cat->n_dcolls, sizeof *cat->dcolls, i, 1);
		if (drop_group) {
			size_t gi = group_find(cat, group, &found);
			if (found) {
				free(cat->groups[gi].places);
				array_remove(cat->groups, &cat->n_groups, sizeof *cat->groups, gi, 1);
			}
		}
		size_t w = 0;
		for (size_t j = 0; j < cat->n_queue; j++) {
			if (queued_for(&cat->queue[j], first, ns))
				free(cat->queue[j].payload);
			else
				cat->queue[w++] = cat->queue[j];
		}
		cat->n_queue = w;
		apply_queue(cat, q, nq);
		cat->next_qseq = seq;
		cat->epoch++;
		pthread_rwlock_unlock(&cat->lock);
	}
	pthread_mutex_unlock(&cat->wmu);
	return rv;
}

shoal_code
catalog_move_shard(catalog *cat, uint64_t group, uint32_t index, const char *worker,
    uint64_t *epoch, shoal_status *st)
{
	return catalog_move_shard_rec(cat, group, index, worker, NULL, NULL, 0, epoch, st);
}

shoal_code
catalog_move_shard_rec(catalog *cat, uint64_t group, uint32_t index, const char *worker,
    const char *move_id, const void *val, size_t len_rec, uint64_t *epoch, shoal_status *st)
{
	char key[2 + CATALOG_NAME_MAX + 8], mkey[CATALOG_NAME_MAX + 1];
	shoal_code rv;
	bool found;
	size_t gi, len, mkl = 0;

	if (!name_ok(worker))
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT, "bad worker name");
	if (move_id != NULL &&
	    (rv = opaque_key(CATALOG_MOVE_PREFIX, mkey, sizeof mkey, move_id, &mkl, st)) != SHOAL_OK)
		return rv;
	pthread_mutex_lock(&cat->wmu);
	gi = group_find(cat, group, &found);
	if (!found || index >= cat->groups[gi].n) {
		pthread_mutex_unlock(&cat->wmu);
		return shoal_status_set(st, found ? SHOAL_INVALID_ARGUMENT : SHOAL_NOT_FOUND,
		    "shard map %llu has no shard %u", (unsigned long long)group, index);
	}
	group_rec g = cat->groups[gi];
	catalog_place *places = xmalloc(g.n * sizeof *places);
	memcpy(places, g.places, g.n * sizeof *places);
	snprintf(places[index].worker, sizeof places[index].worker, "%s", worker);
	places[index].epoch = cat->epoch + 1;
	g.places = places;
	unsigned char *v = group_val(&g, &len);
	rocksdb_writebatch_t *b = rocksdb_writebatch_create();
	rocksdb_writebatch_put(b, key, group_key(key, group), (const char *)v, len);
	if (move_id != NULL)
		rocksdb_writebatch_put(b, mkey, mkl, val, len_rec);
	batch_put_u64(b, "E", cat->epoch + 1);
	rv = write_batch(cat, b, "move shard", st);
	rocksdb_writebatch_destroy(b);
	free(v);
	if (rv == SHOAL_OK) {
		pthread_rwlock_wrlock(&cat->lock);
		free(cat->groups[gi].places);
		cat->groups[gi].places = places;
		cat->epoch++;
		if (epoch != NULL)
			*epoch = cat->epoch;
		pthread_rwlock_unlock(&cat->lock);
	} else {
		free(places);
	}
	pthread_mutex_unlock(&cat->wmu);
	return rv;
}

/* ---- queue ----------------------------------------------------------- */

shoal_code
catalog_queue_add(catalog *cat, catalog_queued *q, size_t n, shoal_status *st)
{
	shoal_code rv;

	if (n == 0)
		return SHOAL_OK;
	pthread_mutex_lock(&cat->wmu);
	uint64_t seq = cat->next_qseq;
	rocksdb_writebatch_t *b = rocksdb_writebatch_create();
	batch_upgrade_format(cat, b);
	rv = batch_queue(b, q, n, &seq, st);
	if (rv == SHOAL_OK)
		rv = write_batch(cat, b, "queue requests", st);
	rocksdb_writebatch_destroy(b);
	if (rv == SHOAL_OK) {
		pthread_rwlock_wrlock(&cat->lock);
		cat->format = CATALOG_FORMAT;
		apply_queue(cat, q, n);
		cat->next_qseq = seq;
		pthread_rwlock_unlock(&cat->lock);
	}
	pthread_mutex_unlock(&cat->wmu);
	return rv;
}

size_t
catalog_queue_list(catalog *cat, const char *worker, size_t max, catalog_queued **out)
{
	size_t i, n = 0;
	bool found;

	*out = NULL;
	pthread_rwlock_rdlock(&cat->lock);
	i = queue_find(cat, worker, 0, &found);
	size_t end = i;
	while (end < cat->n_queue && end - i < max && strcmp(cat->queue[end].worker, worker) == 0)
		end++;
	n = end - i;
	if (n > 0) {
		*out = xcalloc(n, sizeof **out);
		for (size_t j = 0; j < n; j++) {
			(*out)[j] = cat->queue[i + j];
			(*out)[j].payload = xmalloc((*out)[j].len ? (*out)[j].len : 1);
			memcpy((*out)[j].payload, cat->queue[i + j].payload, (*out)[j].len);
		}
	}
	pthread_rwlock_unlock(&cat->lock);
	return n;
}

void
catalog_queued_free(catalog_queued *q, size_t n)
{
	for (size_t i = 0; q != NULL && i < n; i++)
		free(q[i].payload);
	free(q);
}

shoal_code
catalog_queue_remove(catalog *cat, const char *worker, const uint64_t *seqs, size_t n,
    shoal_status *st)
{
	char key[2 + CATALOG_NAME_MAX + 8];
	shoal_code rv;

	if (n == 0)
		return SHOAL_OK;
	if (!name_ok(worker))
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT, "bad worker name");
	pthread_mutex_lock(&cat->wmu);
	rocksdb_writebatch_t *b = rocksdb_writebatch_create();
	for (size_t i = 0; i < n; i++)
		rocksdb_writebatch_delete(b, key, queue_key(key, worker, seqs[i]));
	rv = write_batch(cat, b, "dequeue requests", st);
	rocksdb_writebatch_destroy(b);
	if (rv == SHOAL_OK) {
		pthread_rwlock_wrlock(&cat->lock);
		for (size_t i = 0; i < n; i++) {
			bool found;
			size_t at = queue_find(cat, worker, seqs[i], &found);
			if (found) {
				free(cat->queue[at].payload);
				array_remove(cat->queue, &cat->n_queue, sizeof *cat->queue, at, 1);
			}
		}
		pthread_rwlock_unlock(&cat->lock);
	}
	pthread_mutex_unlock(&cat->wmu);
	return rv;
}

size_t
catalog_queue_count(catalog *cat, const char *worker, uint64_t shard_id)
{
	size_t n = 0;

	pthread_rwlock_rdlock(&cat->lock);
	for (size_t i = 0; i < cat->n_queue; i++)
		if ((worker == NULL || strcmp(cat->queue[i].worker, worker) == 0) &&
		    (shard_id == 0 || cat->queue[i].shard_id == shard_id))
			n++;
	pthread_rwlock_unlock(&cat->lock);
	return n;
}

/* ===================================================================
 * Checkpoint (backups: coordinator/backup.c)
 * =================================================================== */

shoal_code
catalog_checkpoint(catalog *cat, const char *dir, shoal_status *st)
{
	char *err = NULL;
	rocksdb_checkpoint_t *cp = rocksdb_checkpoint_object_create(cat->db, &err);

	if (err != NULL) {
		shoal_status_set(st, SHOAL_INTERNAL, "catalog checkpoint: %s", err);
		rocksdb_free(err);
		return SHOAL_INTERNAL;
	}
	rocksdb_checkpoint_create(cp, dir, 0, &err);
	rocksdb_checkpoint_object_destroy(cp);
	if (err != NULL) {
		shoal_status_set(st, SHOAL_INTERNAL, "catalog checkpoint into %s: %s", dir, err);
		rocksdb_free(err);
		return SHOAL_INTERNAL;
	}
	return SHOAL_OK;
}

/* ===================================================================
 * Tenant API keys (docs/security.md): only hashes are stored.
 * =================================================================== */

shoal_code
catalog_add_tenant_key(catalog *cat, const catalog_tenant_key *k, shoal_status *st)
{
	char key[2 + CATALOG_NAME_MAX + CATALOG_KEY_ID_LEN + 1];
	unsigned char val[KEY_VAL_LEN];
	bool found;
	shoal_code rv;

	if (!name_ok(k->tenant) || strlen(k->id) != CATALOG_KEY_ID_LEN)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT, "bad tenant key record");
	pthread_mutex_lock(&cat->wmu);
	tenant_find(cat, k->tenant, &found);
	if (!found) {
		pthread_mutex_unlock(&cat->wmu);
		return shoal_status_set(st, SHOAL_NOT_FOUND, "tenant '%s' does not exist", k->tenant);
	}
	for (size_t i = 0; i < cat->n_keys; i++)
		if (strcmp(cat->keys[i].id, k->id) == 0 ||
		    memcmp(cat->keys[i].hash, k->hash, 32) == 0) {
			pthread_mutex_unlock(&cat->wmu);
			return shoal_status_set(st, SHOAL_ALREADY_EXISTS, "tenant key %s exists", k->id);
		}
	val[0] = RECORD_V1;
	memcpy(val + 1, k->hash, 32);
	util_put_be64(val + 33, k->created_unix);
	rocksdb_writebatch_t *b = rocksdb_writebatch_create();
	size_t kl = tkey_key(key, k->tenant, k->id);
	rocksdb_writebatch_put(b, key, kl, (const char *)val, sizeof val);
	rv = write_batch(cat, b, "tenant key", st);
	rocksdb_writebatch_destroy(b);
	if (rv == SHOAL_OK) {
		pthread_rwlock_wrlock(&cat->lock);
		cat->keys = array_insert(cat->keys, &cat->n_keys, &cat->cap_keys, sizeof *k,
		    cat->n_keys, k);
		pthread_rwlock_unlock(&cat->lock);
	}
	pthread_mutex_unlock(&cat->wmu);
	return rv;
}

shoal_code
catalog_revoke_tenant_key(catalog *cat, const char *tenant, const char *id, shoal_status *st)
{
	char key[2 + CATALOG_NAME_MAX + CATALOG_KEY_ID_LEN + 1];
	shoal_code rv;
	size_t i;

	pthread_mutex_lock(&cat->wmu);
	for (i = 0; i < cat->n_keys; i++)
		if (strcmp(cat->keys[i].tenant, tenant) == 0 && strcmp(cat->keys[i].id, id) == 0)
			break;
	if (i == cat->n_keys) {
		pthread_mutex_unlock(&cat->wmu);
		return shoal_status_set(st, SHOAL_NOT_FOUND, "tenant '%s' has no key '%.32s'", tenant,
		    id);
	}
	rocksdb_writebatch_t *b = rocksdb_writebatch_create();
	size_t kl = tkey_key(key, tenant, id);
	rocksdb_writebatch_delete(b, key, kl);
	rv = write_batch(cat, b, "revoke tenant key", st);
	rocksdb_writebatch_destroy(b);
	if (rv == SHOAL_OK) {
		pthread_rwlock_wrlock(&cat->lock);
		array_remove(cat->keys, &cat->n_keys, sizeof *cat->keys, i, 1);
		pthread_rwlock_unlock(&cat->lock);
	}
	pthread_mutex_unlock(&cat->wmu);
	return rv;
}

size_t
catalog_list_tenant_keys(catalog *cat, const char *tenant, catalog_tenant_key **out)
{
	size_t n = 0;

	pthread_rwlock_rdlock(&cat->lock);
	*out = xmalloc((cat->n_keys + 1) * sizeof **out);
	for (size_t i = 0; i < cat->n_keys; i++)
		if (tenant == NULL || strcmp(cat->keys[i].tenant, tenant) == 0)
			(*out)[n++] = cat->keys[i];
	pthread_rwlock_unlock(&cat->lock);
	return n;
}

bool
catalog_find_tenant_key(catalog *cat, const uint8_t hash[32], catalog_tenant_key *out)
{
	bool found = false;

	pthread_rwlock_rdlock(&cat->lock);
	for (size_t i = 0; i < cat->n_keys && !found; i++)
		if (memcmp(cat->keys[i].hash, hash, 32) == 0) {
			if (out != NULL)
				*out = cat->keys[i];
			found = true;
		}
	pthread_rwlock_unlock(&cat->lock);
	return found;
}
