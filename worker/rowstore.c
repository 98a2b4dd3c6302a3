/* rowstore.c -- durable rows and shard metadata of one worker, in RocksDB.
 *
 * One database, DIR/rows, default column family.  Integers in keys are
 * big-endian so that byte order is numeric order (a shard's rows are one
 * contiguous range, in id order):
 *
 *   "F"                          -> "shoal-rowstore 1"       (format marker)
 *   'S' | shard_id:u64           -> shard spec (below)
 *   'R' | shard_id:u64 | id:u64  -> row value  (below)
 *
 * Shard spec value (big-endian): fmt:u8=1 | dim:u32 | metric:u8 | m:u32 |
 * ef_construction:u32   (14 bytes)
 *
 * Row value:
 *   off 0   fmt:u8 = 1
 *   off 1   flags:u8          bit 0 = tombstone
 *   off 2   reserved:u16 = 0
 *   off 4   dim:u32 BE        0 for tombstones
 *   off 8   version:u64 BE
 *   off 16  f32[dim]          little-endian (the host order; see below);
 *                             offset 16 keeps them 4-byte aligned in the
 *                             malloc'ed buffers rocksdb_get returns
 *   then    text_len:u32 BE | text bytes
 *   then    payload bytes (the rest of the value; opaque here)
 *
 * Invariants:
 *  1. A row's stored version only grows; tombstones keep theirs (rowstore.h).
 *  2. One rowstore_write = one WriteBatch, built only after the whole input
 *     validated, so a write is all-or-nothing.
 *  3. Writes to a shard are serialized by its mutex (version check is
 *     read-then-write); the in-memory counts change under that mutex, only
 *     after the batch committed (readers load them atomically).  Counts are recomputed from the rows at
 *     open, so they cannot drift across restarts.
 *  4. Shard create/drop hold the table write lock across their (synced)
 *     RocksDB write, so the table and the 'S' keys always agree.  Drop also
 *     takes the shard's mutex and marks it dropped: a write either commits
 *     before the range delete or sees `dropped` and fails NOT_FOUND -- no
 *     row can outlive its shard.
 *
 * Durability: the WAL is always on.  Without --sync a committed write is in
 * the OS page cache (survives kill -9 of the worker); with --sync it is
 * fsynced (survives power loss).  Shard create/drop are always synced.
 *
 * Lock order: table lock -> shard mutex.  Row writers never hold the table
 * lock while waiting for a shard mutex.  Shard structs are reference
 * counted so that a drop never frees one under a running write.
 */
#include "rowstore.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rocksdb/c.h>

#include "log.h"
#include "util.h"
#include "vecmath.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "rowstore stores float32 components in host order: little-endian hosts only"
#endif

#define FORMAT_KEY "F"
#define FORMAT_VALUE "shoal-rowstore 1"
#define SPEC_FMT 1
#define SPEC_LEN 14
#define ROW_FMT 1
#define ROW_HDR 16
#define ROW_TOMBSTONE 0x01
#define ROW_KEY_LEN 17
#define SPEC_KEY_LEN 9

typedef struct rs_shard {
	shard_spec spec;
	pthread_mutex_t mu;   /* serializes writes; guards `dropped` and the
	                       * updates of the counters */
	_Atomic uint64_t live;       /* read without mu (a write, index */
	_Atomic uint64_t tombstones; /* update included, may hold it long) */
	bool dropped;
	atomic_int refs;      /* table's reference + one per running call */
} rs_shard;

struct rowstore {
	rocksdb_t *db;
	rocksdb_options_t *opts;
	rocksdb_writeoptions_t *wopts;      /* per --sync */
	rocksdb_writeoptions_t *wopts_sync; /* shard create/drop */
	rocksdb_readoptions_t *ropts;
	pthread_rwlock_t tab_lock;          /* guards shards/nshards */
	rs_shard **shards;                  /* sorted by shard id */
	size_t nshards, cap;
};

struct rowstore_iter {
	rocksdb_iterator_t *it;
	rocksdb_readoptions_t *ropts;
	unsigned char upper[ROW_KEY_LEN + 1]; /* RocksDB keeps a pointer to it */
	bool with_tombstones;
	bool started;
	float *vec;           /* aligned copy of the current row's vector */
	size_t vec_cap;
};

/* ===================================================================
 * Keys and values
 * =================================================================== */

static void
row_key(unsigned char k[ROW_KEY_LEN], uint64_t shard, uint64_t id)
{
	k[0] = 'R';
	util_put_be64(k + 1, shard);
	util_put_be64(k + 9, id);
}

static void
spec_key(unsigned char k[SPEC_KEY_LEN], uint64_t shard)
{
	k[0] = 'S';
	util_put_be64(k + 1, shard);
}

/* [lo, hi) covering every row key of a shard: hi is the largest row key of
 * the shard plus a trailing 0 byte, which sorts after it. */
static void
shard_range(unsigned char lo[ROW_KEY_LEN], unsigned char hi[ROW_KEY_LEN + 1], uint64_t shard)
{
	row_key(lo, shard, 0);
	row_key(hi, shard, UINT64_MAX);
	hi[ROW_KEY_LEN] = 0;
}

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

static void
spec_encode(unsigned char v[SPEC_LEN], const shard_spec *s)
{
	v[0] = SPEC_FMT;
	put_be32(v + 1, s->dim);
	v[5] = (unsigned char)s->metric;
	put_be32(v + 6, s->m);
	put_be32(v + 10, s->ef_construction);
}

static bool
spec_decode(const unsigned char *v, size_t len, uint64_t shard, shard_spec *s)
{
	if (len != SPEC_LEN || v[0] != SPEC_FMT)
		return false;
	s->shard_id = shard;
	s->dim = get_be32(v + 1);
	s->metric = v[5];
	s->m = get_be32(v + 6);
	s->ef_construction = get_be32(v + 10);
	return true;
}

/* Encodes r into *buf (grown as needed); returns the length. */
static size_t
row_encode(const rowstore_row *r, unsigned char **buf, size_t *cap)
{
	uint32_t dim = r->deleted ? 0 : r->dim;
	size_t text_len = r->deleted ? 0 : r->text_len;
	size_t payload_len = r->deleted ? 0 : r->payload_len;
	size_t len = ROW_HDR + (size_t)dim * 4 + (r->deleted ? 0 : 4 + text_len + payload_len);
	unsigned char *p;

	if (len > *cap) {
		*buf = xrealloc(*buf, len);
		*cap = len;
	}
	p = *buf;
	p[0] = ROW_FMT;
	p[1] = r->deleted ? ROW_TOMBSTONE : 0;
	p[2] = p[3] = 0;
	put_be32(p + 4, dim);
	util_put_be64(p + 8, r->version);
	if (r->deleted)
		return len;
	p += ROW_HDR;
	memcpy(p, r->vector, (size_t)dim * 4);
	p += (size_t)dim * 4;
	put_be32(p, (uint32_t)text_len);
	p += 4;
	if (text_len > 0)
		memcpy(p, r->text, text_len);
	p += text_len;
	if (payload_len > 0)
		memcpy(p, r->payload, payload_len);
	return len;
}

/* Decodes the header only: version and tombstone flag. */
static bool
row_decode_header(const unsigned char *v, size_t len, uint64_t *version, bool *deleted)
{
	if (len < ROW_HDR || v[0] != ROW_FMT)
		return false;
	*deleted = (v[1] & ROW_TOMBSTONE) != 0;
	*version = util_get_be64(v + 8);
	return true;
}

/* Decodes a whole value; out's pointers borrow from v (vector: from v at
 * offset 16, so v must be 4-byte aligned -- callers guarantee it). */
static bool
row_decode(const unsigned char *v, size_t len, uint64_t id, rowstore_row *out)
{
	uint32_t dim, text_len;
	size_t off;

	memset(out, 0, sizeof *out);
	out->id = id;
	if (!row_decode_header(v, len, &out->version, &out->deleted))
		return false;
	if (out->deleted)
		return true;
	dim = get_be32(v + 4);
	off = ROW_HDR + (size_t)dim * 4;
	if (off + 4 > len)
		return false;
	text_len = get_be32(v + off);
	if (off + 4 + (size_t)text_len > len)
		return false;
	out->dim = dim;
	out->vector = (const float *)(const void *)(v + ROW_HDR);
	out->text = (const char *)v + off + 4;
	out->text_len = text_len;
	out->payload = v + off + 4 + text_len;
	out->payload_len = len - (off + 4 + text_len);
	return true;
}

static shoal_code
rocks_fail(shoal_status *st, char *err, const char *what)
{
	shoal_status_set(st, SHOAL_INTERNAL, "rowstore: %s: %s", what, err);
	log_error("rowstore: %s: %s", what, err);
	rocksdb_free(err);
	return SHOAL_INTERNAL;
}

/* ===================================================================
 * Shard specs and the shard table
 * =================================================================== */

shoal_code
shard_spec_normalize(shard_spec *s, shoal_status *st)
{
	if (s->dim < 1 || s->dim > SHARD_SPEC_MAX_DIM)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "shard %" PRIu64 ": dim %u is out of range (expected 1..%u)", s->shard_id,
		    s->dim, SHARD_SPEC_MAX_DIM);
	if (s->metric != VECMATH_COSINE && s->metric != VECMATH_L2 && s->metric != VECMATH_IP)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "shard %" PRIu64 ": metric %d is not valid (expected cosine, l2 or ip)",
		    s->shard_id, s->metric);
	if (s->m == 0)
		s->m = SHARD_SPEC_DEFAULT_M;
	if (s->ef_construction == 0)
		s->ef_construction = SHARD_SPEC_DEFAULT_EF_CONSTRUCTION;
	if (s->m < 2 || s->m > 256)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "shard %" PRIu64 ": HNSW m %u is out of range (expected 2..256)", s->shard_id,
		    s->m);
	if (s->ef_construction > 65536)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "shard %" PRIu64 ": ef_construction %u is out of range (expected 1..65536)",
		    s->shard_id, s->ef_construction);
	return SHOAL_OK;
}

static bool
spec_equal(const shard_spec *a, const shard_spec *b)
{
	return a->shard_id == b->shard_id && a->dim == b->dim && a->metric == b->metric &&
	    a->m == b->m && a->ef_construction == b->ef_construction;
}

/* Index of shard in the sorted table, or where it would go (*found false).
 * Caller holds tab_lock. */
static size_t
tab_find(const rowstore *rs, uint64_t shard, bool *found)
{
	size_t lo = 0, hi = rs->nshards;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (rs->shards[mid]->spec.shard_id < shard)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = lo < rs->nshards && rs->shards[lo]->spec.shard_id == shard;
	return lo;
}

/* Caller holds tab_lock for writing. */
static rs_shard *
tab_insert(rowstore *rs, const shard_spec *spec)
{
	bool found;
	size_t pos = tab_find(rs, spec->shard_id, &found);
	rs_shard *sh = xcalloc(1, sizeof *sh);

	sh->spec = *spec;
	pthread_mutex_init(&sh->mu, NULL);
	atomic_init(&sh->refs, 1);
	if (rs->nshards == rs->cap) {
		rs->cap = rs->cap ? rs->cap * 2 : 16;
		rs->shards = xrealloc(rs->shards, rs->cap * sizeof *rs->shards);
	}
	memmove(rs->shards + pos + 1, rs->shards + pos, (rs->nshards - pos) * sizeof *rs->shards);
	rs->shards[pos] = sh;
	rs->nshards++;
	return sh;
}

static void
shard_unref(rs_shard *sh)
{
	if (atomic_fetch_sub(&sh->refs, 1) == 1) {
		pthread_mutex_destroy(&sh->mu);
		free(sh);
	}
}

/* A counted reference to a shard (release with shard_unref), or NULL with
 * NOT_FOUND in st. */
static rs_shard *
shard_ref(rowstore *rs, uint64_t shard, shoal_status *st)
{
	rs_shard *sh = NULL;
	bool found;
	size_t pos;

	pthread_rwlock_rdlock(&rs->tab_lock);
	pos = tab_find(rs, shard, &found);
	if (found) {
		sh = rs->shards[pos];
		atomic_fetch_add(&sh->refs, 1);
	}
	pthread_rwlock_unlock(&rs->tab_lock);
	if (sh == NULL)
		shoal_status_set(st, SHOAL_NOT_FOUND, "shard %" PRIu64 " does not exist", shard);
	return sh;
}

/* ===================================================================
 * Open / close
 * =================================================================== */

static shoal_code
check_format(rowstore *rs, shoal_status *st)
{
	char *err = NULL, *v;
	size_t len;

	v = rocksdb_get(rs->db, rs->ropts, FORMAT_KEY, 1, &len, &err);
	if (err != NULL)
		return rocks_fail(st, err, "reading the format marker");
	if (v != NULL) {
		bool ok = len == strlen(FORMAT_VALUE) && memcmp(v, FORMAT_VALUE, len) == 0;
		if (!ok)
			shoal_status_set(st, SHOAL_FAILED_PRECONDITION,
			    "rowstore: database has format '%.*s', this worker reads '%s'",
			    (int)(len < 64 ? len : 64), v, FORMAT_VALUE);
		rocksdb_free(v);
		return ok ? SHOAL_OK : SHOAL_FAILED_PRECONDITION;
	}
	rocksdb_put(rs->db, rs->wopts_sync, FORMAT_KEY, 1, FORMAT_VALUE, strlen(FORMAT_VALUE), &err);
	if (err != NULL)
		return rocks_fail(st, err, "writing the format marker");
	return SHOAL_OK;
}

/* Loads the shard table ('S' keys), then counts rows per shard. */
static shoal_code
load_shards(rowstore *rs, shoal_status *st)
{
	rocksdb_iterator_t *it = rocksdb_create_iterator(rs->db, rs->ropts);
	rs_shard *cur = NULL;
	uint64_t orphans = 0;
	char *err = NULL;

	for (rocksdb_iter_seek(it, "S", 1); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
		size_t klen, vlen;
		const unsigned char *k = (const unsigned char *)rocksdb_iter_key(it, &klen);
		const unsigned char *v = (const unsigned char *)rocksdb_iter_value(it, &vlen);
		shard_spec spec;

		if (klen != SPEC_KEY_LEN || k[0] != 'S')
			break;
		if (!spec_decode(v, vlen, util_get_be64(k + 1), &spec)) {
			rocksdb_iter_destroy(it);
			return shoal_status_set(st, SHOAL_DATA_LOSS,
			    "rowstore: corrupt spec of shard %" PRIu64, util_get_be64(k + 1));
		}
		tab_insert(rs, &spec);
	}
	for (rocksdb_iter_seek(it, "R", 1); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
		size_t klen, vlen;
		const unsigned char *k = (const unsigned char *)rocksdb_iter_key(it, &klen);
		const unsigned char *v = (const unsigned char *)rocksdb_iter_value(it, &vlen);
		uint64_t shard, version;
		bool deleted, found;

		if (klen != ROW_KEY_LEN || k[0] != 'R')
			break;
		shard = util_get_be64(k + 1);
		if (cur == NULL || cur->spec.shard_id != shard) {
			size_t pos = tab_find(rs, shard, &found);
			cur = found ? rs->shards[pos] : NULL;
		}
		if (cur == NULL) {
			orphans++;
			continue;
		}
		if (!row_decode_header(v, vlen, &version, &deleted)) {
			rocksdb_iter_destroy(it);
			return shoal_status_set(st, SHOAL_DATA_LOSS,
			    "rowstore: corrupt row %" PRIu64 " of shard %" PRIu64,
			    util_get_be64(k + 9), shard);
		}
		if (deleted)
			cur->tombstones++;
		else
			cur->live++;
	}
	rocksdb_iter_get_error(it, &err);
	rocksdb_iter_destroy(it);
	if (err != NULL)
		return rocks_fail(st, err, "scanning rows at open");
	if (orphans > 0) /* cannot happen (invariant 4); say so if it does */
		log_warn("rowstore: %" PRIu64 " rows belong to no shard; ignored", orphans);
	return SHOAL_OK;
}

shoal_code
rowstore_open(const char *dir, const rowstore_opts *opts, rowstore **out, shoal_status *st)
{
	rowstore *rs = xcalloc(1, sizeof *rs);
	char path[4096], *err = NULL;
	shoal_code rv;

	*out = NULL;
	if ((size_t)snprintf(path, sizeof path, "%s/rows", dir) >= sizeof path) {
		free(rs);
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT, "data dir path too long");
	}
	pthread_rwlock_init(&rs->tab_lock, NULL);
	rs->opts = rocksdb_options_create();
	rocksdb_options_set_create_if_missing(rs->opts, 1);
	rocksdb_options_increase_parallelism(rs->opts, 2);
	rs->wopts = rocksdb_writeoptions_create();
	rocksdb_writeoptions_set_sync(rs->wopts, opts != NULL && opts->sync);
	rs->wopts_sync = rocksdb_writeoptions_create();
	rocksdb_writeoptions_set_sync(rs->wopts_sync, 1);
	rs->ropts = rocksdb_readoptions_create();

	rs->db = rocksdb_open(rs->opts, path, &err);
	if (err != NULL) {
		shoal_status_set(st, SHOAL_INTERNAL, "rowstore: cannot open %s: %s", path, err);
		rocksdb_free(err);
		rowstore_close(rs);
		return SHOAL_INTERNAL;
	}
	if ((rv = check_format(rs, st)) != SHOAL_OK || (rv = load_shards(rs, st)) != SHOAL_OK) {
		rowstore_close(rs);
		return rv;
	}
	*out = rs;
	return SHOAL_OK;
}

void
rowstore_close(rowstore *rs)
{
	if (rs == NULL)
		return;
	if (rs->db != NULL)
		rocksdb_close(rs->db); /* WAL is on: nothing to flush for durability */
	for (size_t i = 0; i < rs->nshards; i++)
		shard_unref(rs->shards[i]);
	free(rs->shards);
	rocksdb_readoptions_destroy(rs->ropts);
	rocksdb_writeoptions_destroy(rs->wopts);
	rocksdb_writeoptions_destroy(rs->wopts_sync);
	rocksdb_options_destroy(rs->opts);
	pthread_rwlock_destroy(&rs->tab_lock);
	free(rs);
}

/* ===================================================================
 * Shards
 * =================================================================== */

shoal_code
rowstore_create_shard(rowstore *rs, const shard_spec *spec_in, bool *created, shoal_status *st)
{
	shard_spec spec = *spec_in;
	unsigned char k[SPEC_KEY_LEN], v[SPEC_LEN];
	char *err = NULL;
	shoal_code rv;
	bool found;
	size_t pos;

	if (created != NULL)
		*created = false;
	if ((rv = shard_spec_normalize(&spec, st)) != SHOAL_OK)
		return rv;
	pthread_rwlock_wrlock(&rs->tab_lock);
	pos = tab_find(rs, spec.shard_id, &found);
	if (found) {
		const shard_spec *o = &rs->shards[pos]->spec;
		rv = SHOAL_OK;
		if (!spec_equal(o, &spec))
			rv = shoal_status_set(st, SHOAL_ALREADY_EXISTS,
			    "shard %" PRIu64 " already exists with a different spec "
			    "(dim %u %s m %u ef_construction %u; requested dim %u %s m %u "
			    "ef_construction %u)",
			    spec.shard_id, o->dim, vecmath_metric_name(o->metric), o->m,
			    o->ef_construction, spec.dim, vecmath_metric_name(spec.metric), spec.m,
			    spec.ef_construction);
		pthread_rwlock_unlock(&rs->tab_lock);
		return rv;
	}
	spec_key(k, spec.shard_id);
	spec_encode(v, &spec);
	rocksdb_put(rs->db, rs->wopts_sync, (const char *)k, sizeof k, (const char *)v, sizeof v,
	    &err);
	if (err == NULL)
		tab_insert(rs, &spec);
	pthread_rwlock_unlock(&rs->tab_lock);
	if (err != NULL)
		return rocks_fail(st, err, "writing a shard spec");
	if (created != NULL)
		*created = true;
	return SHOAL_OK;
}

shoal_code
rowstore_drop_shard(rowstore *rs, uint64_t shard_id, shoal_status *st)
{
	unsigned char k[SPEC_KEY_LEN], lo[ROW_KEY_LEN], hi[ROW_KEY_LEN + 1];
	rocksdb_writebatch_t *b;
	char *err = NULL;
	rs_shard *sh;
	bool found;
	size_t pos;

	pthread_rwlock_wrlock(&rs->tab_lock);
	pos = tab_find(rs, shard_id, &found);
	if (!found) {
		pthread_rwlock_unlock(&rs->tab_lock);
		return shoal_status_set(st, SHOAL_NOT_FOUND, "shard %" PRIu64 " does not exist",
		    shard_id);
	}
	sh = rs->shards[pos];
	pthread_mutex_lock(&sh->mu); /* waits for a running write to commit */
	spec_key(k, shard_id);
	shard_range(lo, hi, shard_id);
	b = rocksdb_writebatch_create();
	rocksdb_writebatch_delete(b, (const char *)k, sizeof k);
	rocksdb_writebatch_delete_range(b, (const char *)lo, sizeof lo, (const char *)hi, sizeof hi);
	rocksdb_write(rs->db, rs->wopts_sync, b, &err);
	rocksdb_writebatch_destroy(b);
	if (err == NULL) {
		sh->dropped = true;
		memmove(rs->shards + pos, rs->shards + pos + 1,
		    (rs->nshards - pos - 1) * sizeof *rs->shards);
		rs->nshards--;
	}
	pthread_mutex_unlock(&sh->mu);
	pthread_rwlock_unlock(&rs->tab_lock);
	if (err != NULL)
		return rocks_fail(st, err, "dropping a shard");
	shard_unref(sh); /* the table's reference */
	return SHOAL_OK;
}

shoal_code
rowstore_shard_spec(rowstore *rs, uint64_t shard_id, shard_spec *out, shoal_status *st)
{
	rs_shard *sh = shard_ref(rs, shard_id, st);

	if (sh == NULL)
		return SHOAL_NOT_FOUND;
	*out = sh->spec; /* immutable */
	shard_unref(sh);
	return SHOAL_OK;
}

size_t
rowstore_list_shards(rowstore *rs, shard_spec **out)
{
	size_t n;

	pthread_rwlock_rdlock(&rs->tab_lock);
	n = rs->nshards;
	*out = n ? xmalloc(n * sizeof **out) : NULL;
	for (size_t i = 0; i < n; i++)
		(*out)[i] = rs->shards[i]->spec;
	pthread_rwlock_unlock(&rs->tab_lock);
	return n;
}

shoal_code
rowstore_count(rowstore *rs, uint64_t shard_id, uint64_t *live, uint64_t *tombstones,
    shoal_status *st)
{
	rs_shard *sh = shard_ref(rs, shard_id, st);

	if (sh == NULL)
		return SHOAL_NOT_FOUND;
	if (live != NULL)
		*live = atomic_load(&sh->live);
	if (tombstones != NULL)
		*tombstones = atomic_load(&sh->tombstones);
	shard_unref(sh);
	return SHOAL_OK;
}

void
rowstore_totals(rowstore *rs, uint64_t *points, uint32_t *shards)
{
	uint64_t p = 0;

	pthread_rwlock_rdlock(&rs->tab_lock);
	for (size_t i = 0; i < rs->nshards; i++)
		p += atomic_load(&rs->shards[i]->live);
	if (shards != NULL)
		*shards = (uint32_t)rs->nshards;
	pthread_rwlock_unlock(&rs->tab_lock);
	if (points != NULL)
		*points = p;
}

uint64_t
rowstore_bytes(rowstore *rs)
{
	uint64_t sst = 0, mem = 0;

	/* both return -1 (value untouched) on failure: then 0 is reported */
	rocksdb_property_int(rs->db, "rocksdb.total-sst-files-size", &sst);
	rocksdb_property_int(rs->db, "rocksdb.cur-size-all-mem-tables", &mem);
	return sst + mem;
}

/* ===================================================================
 * Write path
 * =================================================================== */

static shoal_code
validate_row(const shard_spec *spec, const rowstore_row *r, shoal_status *st)
{
	if (r->version == 0)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "point %" PRIu64 ": version 0 is not valid (versions are assigned by the "
		    "coordinator and start at 1)",
		    r->id);
	if (r->deleted)
		return SHOAL_OK;
	if (r->dim != spec->dim)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "point %" PRIu64 ": vector has %u dimensions, collection expects %u", r->id,
		    r->dim, spec->dim);
	for (uint32_t j = 0; j < r->dim; j++) {
		float x = r->vector[j];
		if (!isfinite(x))
			return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
			    "point %" PRIu64 ": vector component %u is %s (components must be finite)",
			    r->id, j, isnan(x) ? "NaN" : "infinite");
	}
	if (spec->metric == VECMATH_COSINE && vecmath_norm(r->vector, r->dim) == 0.0f)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "point %" PRIu64 ": zero vector has no direction (collection metric is cosine)",
		    r->id);
	if (r->text_len > UINT32_MAX)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "point %" PRIu64 ": text is too long", r->id);
	return SHOAL_OK;
}

typedef struct order_ent {
	uint64_t id;
	size_t pos;
} order_ent;

static int
order_cmp(const void *a, const void *b)
{
	const order_ent *x = a, *y = b;
	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	return x->pos < y->pos ? -1 : x->pos > y->pos;
}

shoal_code
rowstore_write(rowstore *rs, uint64_t shard_id, const rowstore_row *rows, size_t n,
    uint8_t *outcome, uint32_t *napplied, rowstore_commit_fn on_commit, void *arg,
    shoal_status *st)
{
	order_ent *ord = NULL;
	char **keys = NULL, **vals = NULL, **errs = NULL, *err = NULL;
	size_t *klens = NULL, *vlens = NULL, nuniq = 0, bufcap = 0;
	unsigned char *keybuf = NULL, *buf = NULL;
	uint8_t *oc = outcome;
	rocksdb_writebatch_t *b = NULL;
	int64_t dlive = 0, dtomb = 0;
	uint32_t applied = 0;
	shoal_code rv = SHOAL_OK;
	rs_shard *sh;

	if (napplied != NULL)
		*napplied = 0;
	if ((sh = shard_ref(rs, shard_id, st)) == NULL)
		return SHOAL_NOT_FOUND;
	for (size_t i = 0; i < n; i++)
		if ((rv = validate_row(&sh->spec, &rows[i], st)) != SHOAL_OK) {
			shard_unref(sh);
			return rv;
		}
	if (n == 0) {
		shard_unref(sh);
		return SHOAL_OK;
	}
	if (oc == NULL)
		oc = xmalloc(n);
	memset(oc, 0, n);

	/* Sort by (id, position): one MultiGet per distinct id, and the writes
	 * to one id are then checked in array order against the state left by
	 * the previous ones. */
	ord = xmalloc(n * sizeof *ord);
	for (size_t i = 0; i < n; i++)
		ord[i] = (order_ent){rows[i].id, i};
	qsort(ord, n, sizeof *ord, order_cmp);
	keybuf = xmalloc(n * ROW_KEY_LEN);
	keys = xmalloc(n * sizeof *keys);
	klens = xmalloc(n * sizeof *klens);
	for (size_t i = 0; i < n; i++) {
		if (i > 0 && ord[i].id == ord[i - 1].id)
			continue;
		row_key(keybuf + nuniq * ROW_KEY_LEN, shard_id, ord[i].id);
		keys[nuniq] = (char *)keybuf + nuniq * ROW_KEY_LEN;
		klens[nuniq] = ROW_KEY_LEN;
		nuniq++;
	}
	vals = xcalloc(nuniq, sizeof *vals);
	vlens = xcalloc(nuniq, sizeof *vlens);
	errs = xcalloc(nuniq, sizeof *errs);
	b = rocksdb_writebatch_create();

	pthread_mutex_lock(&sh->mu);
	if (sh->dropped) {
		rv = shoal_status_set(st, SHOAL_NOT_FOUND, "shard %" PRIu64 " does not exist",
		    shard_id);
		goto unlock;
	}
	/* Read under the mutex: no other write to this shard can commit
	 * between this read and our batch. */
	rocksdb_multi_get(rs->db, rs->ropts, nuniq, (const char *const *)keys, klens, vals, vlens,
	    errs);
	for (size_t u = 0, i = 0; u < nuniq; u++) {
		uint64_t cur_version = 0;
		bool exists = false, live = false;

		if (errs[u] != NULL) {
			rv = shoal_status_set(st, SHOAL_INTERNAL, "rowstore: reading versions: %s",
			    errs[u]);
			goto unlock;
		}
		if (vals[u] != NULL) {
			bool deleted;
			if (!row_decode_header((unsigned char *)vals[u], vlens[u], &cur_version,
				&deleted)) {
				rv = shoal_status_set(st, SHOAL_DATA_LOSS,
				    "rowstore: corrupt row %" PRIu64 " of shard %" PRIu64, ord[i].id,
				    shard_id);
				goto unlock;
			}
			exists = true;
			live = !deleted;
		}
		for (; i < n && ord[i].id == util_get_be64((unsigned char *)keys[u] + 9); i++) {
			const rowstore_row *r = &rows[ord[i].pos];
			size_t len;

			if (r->version <= cur_version)
				continue;
			oc[ord[i].pos] = ROWSTORE_APPLIED | (live ? ROWSTORE_WAS_LIVE : 0);
			applied++;
			/* counters: leave the old state, enter the new one */
			if (exists && live)
				dlive--;
			else if (exists)
				dtomb--;
			if (r->deleted)
				dtomb++;
			else
				dlive++;
			exists = true;
			live = !r->deleted;
			cur_version = r->version;
			len = row_encode(r, &buf, &bufcap);
			rocksdb_writebatch_put(b, keys[u], klens[u], (const char *)buf, len);
		}
	}
	if (applied > 0) {
		rocksdb_write(rs->db, rs->wopts, b, &err);
		if (err != NULL) {
			rv = rocks_fail(st, err, "writing rows");
			goto unlock;
		}
		atomic_fetch_add(&sh->live, (uint64_t)dlive); /* two's complement: adds negatives */
		atomic_fetch_add(&sh->tombstones, (uint64_t)dtomb);
		if (on_commit != NULL)
			on_commit(arg, rows, n, oc);
	}
	if (napplied != NULL)
		*napplied = applied;
unlock:
	pthread_mutex_unlock(&sh->mu);
	if (rv != SHOAL_OK)
		memset(oc, 0, n);
	for (size_t u = 0; u < nuniq; u++) {
		rocksdb_free(vals[u]);
		rocksdb_free(errs[u]);
	}
	rocksdb_writebatch_destroy(b);
	if (oc != outcome)
		free(oc);
	free(ord);
	free(keybuf);
	free(keys);
	free(klens);
	free(vals);
	free(vlens);
	free(errs);
	free(buf);
	shard_unref(sh);
	return rv;
}

/* ===================================================================
 * Read path
 * =================================================================== */

shoal_code
rowstore_get(rowstore *rs, uint64_t shard_id, uint64_t id, rowstore_row *out, void **buf,
    shoal_status *st)
{
	unsigned char k[ROW_KEY_LEN];
	char *err = NULL, *v;
	size_t len;
	rs_shard *sh;

	*buf = NULL;
	if ((sh = shard_ref(rs, shard_id, st)) == NULL)
		return SHOAL_NOT_FOUND;
	shard_unref(sh);
	row_key(k, shard_id, id);
	v = rocksdb_get(rs->db, rs->ropts, (const char *)k, sizeof k, &len, &err);
	if (err != NULL)
		return rocks_fail(st, err, "reading a row");
	if (v == NULL)
		return shoal_status_set(st, SHOAL_NOT_FOUND,
		    "point %" PRIu64 " does not exist in shard %" PRIu64, id, shard_id);
	/* rocksdb_get's buffer is malloc'ed: aligned, so the vector at offset
	 * 16 is too. */
	if (!row_decode((unsigned char *)v, len, id, out)) {
		rocksdb_free(v);
		return shoal_status_set(st, SHOAL_DATA_LOSS,
		    "rowstore: corrupt row %" PRIu64 " of shard %" PRIu64, id, shard_id);
	}
	*buf = v;
	return SHOAL_OK;
}

shoal_code
rowstore_iter_open(rowstore *rs, uint64_t shard_id, bool with_tombstones, rowstore_iter **out,
    shoal_status *st)
{
	unsigned char lo[ROW_KEY_LEN];
	rowstore_iter *it;
	rs_shard *sh;

	*out = NULL;
	if ((sh = shard_ref(rs, shard_id, st)) == NULL)
		return SHOAL_NOT_FOUND;
	shard_unref(sh);
	it = xcalloc(1, sizeof *it);
	shard_range(lo, it->upper, shard_id);
	it->ropts = rocksdb_readoptions_create();
	rocksdb_readoptions_set_fill_cache(it->ropts, 0); /* full scans: keep the cache hot */
	/* the C API stores a Slice over our buffer, not a copy: it->upper */
	rocksdb_readoptions_set_iterate_upper_bound(it->ropts, (const char *)it->upper,
	    sizeof it->upper);
	it->it = rocksdb_create_iterator(rs->db, it->ropts);
	rocksdb_iter_seek(it->it, (const char *)lo, sizeof lo);
	it->with_tombstones = with_tombstones;
	*out = it;
	return SHOAL_OK;
}

shoal_code
rowstore_iter_next(rowstore_iter *it, rowstore_row *row, bool *done, shoal_status *st)
{
	char *err = NULL;

	*done = false;
	for (;;) {
		const unsigned char *k, *v;
		size_t klen, vlen;

		if (it->started)
			rocksdb_iter_next(it->it);
		it->started = true;
		if (!rocksdb_iter_valid(it->it)) {
			rocksdb_iter_get_error(it->it, &err);
			if (err != NULL)
				return rocks_fail(st, err, "iterating rows");
			*done = true;
			return SHOAL_OK;
		}
		k = (const unsigned char *)rocksdb_iter_key(it->it, &klen);
		v = (const unsigned char *)rocksdb_iter_value(it->it, &vlen);
		if (klen != ROW_KEY_LEN || !row_decode(v, vlen, util_get_be64(k + 9), row))
			return shoal_status_set(st, SHOAL_DATA_LOSS,
			    "rowstore: corrupt row %" PRIu64 " of shard %" PRIu64,
			    klen == ROW_KEY_LEN ? util_get_be64(k + 9) : 0, util_get_be64(k + 1));
		if (row->deleted && !it->with_tombstones)
			continue;
		/* the iterator's value may be unaligned: copy the vector */
		if (row->dim > 0) {
			if (row->dim > it->vec_cap) {
				free(it->vec);
				it->vec = xmalloc((size_t)row->dim * sizeof(float));
				it->vec_cap = row->dim;
			}
			memcpy(it->vec, row->vector, (size_t)row->dim * sizeof(float));
			row->vector = it->vec;
		}
		return SHOAL_OK;
	}
}

void
rowstore_iter_close(rowstore_iter *it)
{
	if (it == NULL)
		return;
	rocksdb_iter_destroy(it->it);
	rocksdb_readoptions_destroy(it->ropts);
	free(it->vec);
	free(it);
}
