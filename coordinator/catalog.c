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
#include <string.h>

#include <rocksdb/c.h>

#include "log.h"
#include "util.h"

#define CATALOG_FORMAT 1u
#define RECORD_V1 1u
#define TENANT_VAL_MIN (1 + 8)
#define COLL_VAL_LEN (1 + 8 + 4 * 4)

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

	pthread_mutex_t vmu;     /* version allocator */
	uint64_t v_next;         /* next version to hand out */
	uint64_t v_limit;        /* durable high-water mark: v_next <= v_limit */
};

/* ===================================================================
 * Encoding
 * =================================================================== */

static void
put_be32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static uint32_t
get_be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

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
	put_be32(v + 9, c->dim);
	put_be32(v + 13, c->metric);
	put_be32(v + 17, c->m);
	put_be32(v + 21, c->ef_construction);
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

/* First index whose element is >= key; *found when equal. */
static size_t
worker_find(const catalog *cat, const char *name, bool *found)
{
	size_t lo = 0, hi = cat->n_workers;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(cat->workers[mid].name, name) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = lo < cat->n_workers && strcmp(cat->workers[lo].name, name) == 0;
	return lo;
}

static size_t
tenant_find(const catalog *cat, const char *name, bool *found)
{
	size_t lo = 0, hi = cat->n_tenants;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(cat->tenants[mid].name, name) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = lo < cat->n_tenants && strcmp(cat->tenants[lo].name, name) == 0;
	return lo;
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

static void
array_remove(void *base, size_t *n, size_t size, size_t i, size_t count)
{
	char *a = base;
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
			*format = get_be32(v);
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
			c.dim = get_be32(v + 9);
			c.metric = get_be32(v + 13);
			c.m = get_be32(v + 17);
			c.ef_construction = get_be32(v + 21);
			cat->colls = array_insert(cat->colls, &cat->n_colls, &cat->cap_colls,
			    sizeof c, cat->n_colls, &c);
			return SHOAL_OK;
		}
	}
	return shoal_status_set(st, SHOAL_DATA_LOSS,
	    "catalog %s: undecodable record (key '%.*s', %zu key bytes, %zu value bytes)",
	    cat->path, (int)(kl > 64 ? 64 : kl), k, kl, vl);
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
		put_be32(f, CATALOG_FORMAT);
		rocksdb_writebatch_put(b, "F", 1, (const char *)f, sizeof f);
		batch_put_u64(b, "E", 1);
		batch_put_u64(b, "S", 1);
		rv = write_batch(cat, b, "init", st);
		rocksdb_writebatch_destroy(b);
		if (rv != SHOAL_OK)
			return rv;
		cat->epoch = 1;
		cat->next_shard = 1;
		return SHOAL_OK;
	}
	if (format != CATALOG_FORMAT)
		return shoal_status_set(st, SHOAL_FAILED_PRECONDITION,
		    "catalog %s has format %u; this coordinator reads format %u", cat->path,
		    format, CATALOG_FORMAT);
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
	*out = NULL;
	if (n > 0) {
		*out = xmalloc(n * sizeof **out);
		memcpy(*out, cat->workers, n * sizeof **out);
	}
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
	*out = NULL;
	if (n > 0) {
		*out = xmalloc(n * sizeof **out);
		memcpy(*out, cat->tenants, n * sizeof **out);
	}
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
	batch_put_u64(b, "E", cat->epoch + 1);
	rv = write_batch(cat, b, "drop tenant", st);
	rocksdb_writebatch_destroy(b);
	if (rv == SHOAL_OK) {
		pthread_rwlock_wrlock(&cat->lock);
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
		*collections = cat->n_colls;
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
