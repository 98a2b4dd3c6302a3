/* rowstore.c -- durable rows and shard metadata of one worker, in RocksDB.
 *
 * One database, DIR/rows, default column family.  Integers in keys are
 * big-endian so that byte order is numeric order (a shard's rows are one
 * contiguous range, in id order; so are one partition's membership keys):
 *
 *   "F"                                   -> "shoal-rowstore 2"  (format marker)
 *   'S' | shard_id:u64                    -> shard spec (below)
 *   'R' | shard_id:u64 | id:u64           -> row value  (below)
 *   'P' | shard_id:u64 | plen:u16 | partition | id:u64
 *                                         -> seq:u64 BE   (membership: id is
 *                                            live in that partition)
 *
 * Shard spec value (big-endian): fmt:u8=2 | dim:u32 | metric:u8 | m:u32 |
 * ef_construction:u32 | incarnation:u64   (22 bytes)
 *
 * Row value:
 *   off 0   fmt:u8 = 2
 *   off 1   flags:u8          bit 0 = tombstone
 *   off 2   reserved:u16 = 0
 *   off 4   dim:u32 BE        0 for tombstones
 *   off 8   version:u64 BE
 *   off 16  seq:u64 BE        commit sequence of the batch that wrote it
 *   off 24  f32[dim]          little-endian (the host order; see below);
 *                             offset 24 keeps them aligned in the malloc'ed
 *                             buffers rocksdb_get / multi_get return
 *   then    text_len:u32 BE | text bytes
 *   then    part_len:u16 BE | partition bytes
 *   then    payload bytes (the rest of the value; opaque here)
 * A tombstone is the 24-byte header alone.
 *
 * Format 1 (the walking skeleton's) had no seq, partition or membership
 * keys.  The worker is pre-release: a format-1 database is refused at open
 * with a message saying so, rather than migrated.
 *
 * Invariants:
 *  1. A row's stored version only grows; tombstones keep theirs (rowstore.h).
 *  2. One rowstore_write = one WriteBatch, built only after the whole input
 *     validated, so a write is all-or-nothing.  It carries the rows and the
 *     membership-key changes together: a 'P' key exists iff the row it
 *     names is live in that partition, and its value is the row's seq.
 *  3. Writes to a shard are serialized by its mutex (version check is
 *     read-then-write); the in-memory counters and sequence change under
 *     that mutex, only after the batch committed (readers load them
 *     atomically, partition counts under parts_mu).  All of them are
 *     recomputed from the rows at open, so they cannot drift across
 *     restarts.  A shard's seq is the largest seq in its rows: rows leave
 *     only with their shard, so it never goes backwards.
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
 * Lock order: table lock -> shard mutex -> parts_mu.  Row writers never
 * hold the table lock while waiting for a shard mutex.  Shard structs are
 * reference counted so that a drop never frees one under a running write.
 */
#include "rowstore.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include <rocksdb/c.h>

#include "log.h"
#include "util.h"
#include "vecmath.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "rowstore stores float32 components in host order: little-endian hosts only"
#endif

#define FORMAT_KEY "F"
#define FORMAT_VALUE "shoal-rowstore 2"
#define SPEC_FMT 2
#define SPEC_LEN 22
#define ROW_FMT 2
#define ROW_HDR 24
#define ROW_TOMBSTONE 0x01
#define ROW_KEY_LEN 17
#define SPEC_KEY_LEN 9
#define MEMBER_PREFIX_MAX (1 + 8 + 2 + ROWSTORE_MAX_PARTITION)
#define MEMBER_KEY_MAX (MEMBER_PREFIX_MAX + 8)
#define ITER_BATCH 256 /* rows per multi-get in partition iteration */

typedef struct rs_part {
	char *name; /* NUL-terminated copy */
	size_t len;
	uint64_t live;
} rs_part;

typedef struct rs_shard {
	shard_spec spec;
	pthread_mutex_t mu;   /* serializes writes; guards `dropped` and the
	                       * updates of the counters */
	_Atomic uint64_t live;       /* read without mu (a write, index */
	_Atomic uint64_t tombstones; /* update included, may hold it long) */
	_Atomic uint64_t seq;        /* last commit sequence */
	bool dropped;
	atomic_int refs;      /* table's reference + one per running call */
	pthread_mutex_t parts_mu; /* guards parts/nparts (short holds) */
	rs_part *parts;       /* sorted by (name bytes, length); live > 0 */
	size_t nparts, parts_cap;
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
	char *dir;                          /* for the free-space check */
	uint64_t min_free;                  /* rowstore_opts.min_free_bytes */
};

struct rowstore_view {
	const rocksdb_snapshot_t *snap;
	rocksdb_readoptions_t *ropts;
};

struct rowstore_iter {
	rowstore *rs;
	uint64_t shard;
	rocksdb_iterator_t *it;
	rocksdb_readoptions_t *ropts;  /* ours (upper bound, maybe snapshot) */
	rowstore_view *own_view;       /* partition iteration without a view */
	const rocksdb_readoptions_t *get_opts; /* row reads (the view's) */
	unsigned char upper[MEMBER_KEY_MAX + 1]; /* RocksDB keeps a pointer to it */
	size_t prefix_len;             /* members: key prefix before the id */
	bool with_tombstones;
	bool partition_only;
	bool members_only;
	bool started;
	float *vec;           /* aligned copy of the current row's vector */
	size_t vec_cap;
	/* partition iteration: a batch of rows read by multi-get */
	char *vals[ITER_BATCH];
	size_t vlens[ITER_BATCH];
	uint64_t ids[ITER_BATCH];
	size_t nbatch, ibatch;
	bool members_done;
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

/* The membership key prefix of a partition; returns its length. */
static size_t
member_prefix(unsigned char *k, uint64_t shard, const char *part, size_t len)
{
	k[0] = 'P';
	util_put_be64(k + 1, shard);
	util_put_be16(k + 9, (uint16_t)len);
	if (len > 0)
		memcpy(k + 11, part, len);
	return 11 + len;
}

static size_t
member_key(unsigned char *k, uint64_t shard, const char *part, size_t len, uint64_t id)
{
	size_t n = member_prefix(k, shard, part, len);
	util_put_be64(k + n, id);
	return n + 8;
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

/* [lo, hi) covering every membership key of a shard. */
static void
member_range(unsigned char lo[SPEC_KEY_LEN], unsigned char hi[SPEC_KEY_LEN], size_t *hilen,
    uint64_t shard)
{
	lo[0] = 'P';
	util_put_be64(lo + 1, shard);
	if (shard == UINT64_MAX) {
		hi[0] = 'P' + 1;
		*hilen = 1;
	} else {
		hi[0] = 'P';
		util_put_be64(hi + 1, shard + 1);
		*hilen = SPEC_KEY_LEN;
	}
}

static void
spec_encode(unsigned char v[SPEC_LEN], const shard_spec *s)
{
	v[0] = SPEC_FMT;
	util_put_be32(v + 1, s->dim);
	v[5] = (unsigned char)s->metric;
	util_put_be32(v + 6, s->m);
	util_put_be32(v + 10, s->ef_construction);
	util_put_be64(v + 14, s->incarnation);
}

static bool
spec_decode(const unsigned char *v, size_t len, uint64_t shard, shard_spec *s)
{
	if (len != SPEC_LEN || v[0] != SPEC_FMT)
		return false;
	s->shard_id = shard;
	s->dim = util_get_be32(v + 1);
	s->metric = v[5];
	s->m = util_get_be32(v + 6);
	s->ef_construction = util_get_be32(v + 10);
	s->incarnation = util_get_be64(v + 14);
	return true;
}

/* Encodes r with seq into *buf (grown as needed); returns the length. */
static size_t
row_encode(const rowstore_row *r, uint64_t seq, unsigned char **buf, size_t *cap)
{
	uint32_t dim = r->deleted ? 0 : r->dim;
	size_t text_len = r->deleted ? 0 : r->text_len;
	size_t part_len = r->deleted ? 0 : r->partition_len;
	size_t payload_len = r->deleted ? 0 : r->payload_len;
	size_t len = ROW_HDR + (r->deleted ? 0 : (size_t)dim * 4 + 4 + text_len + 2 + part_len +
	    payload_len);
	unsigned char *p;

	if (len > *cap) {
		*buf = xrealloc(*buf, len);
		*cap = len;
	}
	p = *buf;
	p[0] = ROW_FMT;
	p[1] = r->deleted ? ROW_TOMBSTONE : 0;
	p[2] = p[3] = 0;
	util_put_be32(p + 4, dim);
	util_put_be64(p + 8, r->version);
	util_put_be64(p + 16, seq);
	if (r->deleted)
		return len;
	p += ROW_HDR;
	memcpy(p, r->vector, (size_t)dim * 4);
	p += (size_t)dim * 4;
	util_put_be32(p, (uint32_t)text_len);
	p += 4;
	if (text_len > 0)
		memcpy(p, r->text, text_len);
	p += text_len;
	util_put_be16(p, (uint16_t)part_len);
	p += 2;
	if (part_len > 0)
		memcpy(p, r->partition, part_len);
	p += part_len;
	if (payload_len > 0)
		memcpy(p, r->payload, payload_len);
	return len;
}

/* Decodes the header only: version, seq and tombstone flag. */
static bool
row_decode_header(const unsigned char *v, size_t len, uint64_t *version, uint64_t *seq,
    bool *deleted)
{
	if (len < ROW_HDR || v[0] != ROW_FMT)
		return false;
	*deleted = (v[1] & ROW_TOMBSTONE) != 0;
	*version = util_get_be64(v + 8);
	*seq = util_get_be64(v + 16);
	return true;
}

/* Decodes a whole value; out's pointers borrow from v (vector: from v at
 * offset 24, so v must be 4-byte aligned for it to be used in place --
 * callers copy it otherwise). */
static bool
row_decode(const unsigned char *v, size_t len, uint64_t id, rowstore_row *out)
{
	uint32_t dim, text_len;
	uint16_t part_len;
	size_t off;

	memset(out, 0, sizeof *out);
	out->id = id;
	if (!row_decode_header(v, len, &out->version, &out->seq, &out->deleted))
		return false;
	if (out->deleted)
		return true;
	dim = util_get_be32(v + 4);
	off = ROW_HDR + (size_t)dim * 4;
	if (off + 4 > len)
		return false;
	text_len = util_get_be32(v + off);
	off += 4;
	if (off + (size_t)text_len + 2 > len)
		return false;
	out->text = (const char *)v + off;
	out->text_len = text_len;
	off += text_len;
	part_len = util_get_be16(v + off);
	off += 2;
	if (off + part_len > len)
		return false;
	out->partition = (const char *)v + off;
	out->partition_len = part_len;
	off += part_len;
	out->dim = dim;
	out->vector = (const float *)(const void *)(v + ROW_HDR);
	out->payload = v + off;
	out->payload_len = len - off;
	return true;
}

static shoal_code
rocks_fail(shoal_status *st, char *err, const char *what)
{
	/* a full disk is a shortage the operator can fix, not a bug: say so
	 * (RocksDB reports it as an IO error "No space left on device") */
	shoal_code code = strstr(err, "No space left") != NULL ? SHOAL_RESOURCE_EXHAUSTED :
	    SHOAL_INTERNAL;
	shoal_status_set(st, code, "rowstore: %s: %s", what, err);
	log_error("rowstore: %s: %s", what, err);
	rocksdb_free(err);
	return code;
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

/* Equal as specs: the incarnation does not count (a retried create). */
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
	pthread_mutex_init(&sh->parts_mu, NULL);
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
		for (size_t i = 0; i < sh->nparts; i++)
			free(sh->parts[i].name);
		free(sh->parts);
		pthread_mutex_destroy(&sh->parts_mu);
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

/* ---- per-shard partition counts (caller holds parts_mu) ---- */

static int
part_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t m = alen < blen ? alen : blen;
	int c = m > 0 ? memcmp(a, b, m) : 0; /* a or b may be NULL when empty */
	if (c != 0)
		return c;
	return alen < blen ? -1 : alen > blen;
}

static size_t
part_find(const rs_shard *sh, const char *name, size_t len, bool *found)
{
	size_t lo = 0, hi = sh->nparts;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (part_cmp(sh->parts[mid].name, sh->parts[mid].len, name, len) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = lo < sh->nparts &&
	    part_cmp(sh->parts[lo].name, sh->parts[lo].len, name, len) == 0;
	return lo;
}

/* Adds delta (+1 / -1 in two's complement) to a partition's count,
 * creating it at 0 and removing it when it falls to 0. */
static void
part_add(rs_shard *sh, const char *name, size_t len, int64_t delta)
{
	bool found;
	size_t pos = part_find(sh, name, len, &found);

	if (!found) {
		if (delta <= 0)
			return; /* cannot happen (invariant 3); keep counts sane */
		if (sh->nparts == sh->parts_cap) {
			sh->parts_cap = sh->parts_cap ? sh->parts_cap * 2 : 8;
			sh->parts = xrealloc(sh->parts, sh->parts_cap * sizeof *sh->parts);
		}
		memmove(sh->parts + pos + 1, sh->parts + pos, (sh->nparts - pos) * sizeof *sh->parts);
		sh->parts[pos].name = xmalloc(len + 1);
		if (len > 0)
			memcpy(sh->parts[pos].name, name, len);
		sh->parts[pos].name[len] = '\0';
		sh->parts[pos].len = len;
		sh->parts[pos].live = 0;
		sh->nparts++;
	}
	sh->parts[pos].live += (uint64_t)delta;
	if (sh->parts[pos].live == 0 || (int64_t)sh->parts[pos].live < 0) {
		free(sh->parts[pos].name);
		memmove(sh->parts + pos, sh->parts + pos + 1,
		    (sh->nparts - pos - 1) * sizeof *sh->parts);
		sh->nparts--;
	}
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
			    "rowstore: database has format '%.*s', this worker reads '%s' (no "
			    "migration between pre-release formats: move the data directory away "
			    "and let the worker start empty)",
			    (int)(len < 64 ? len : 64), v, FORMAT_VALUE);
		rocksdb_free(v);
		return ok ? SHOAL_OK : SHOAL_FAILED_PRECONDITION;
	}
	rocksdb_put(rs->db, rs->wopts_sync, FORMAT_KEY, 1, FORMAT_VALUE, strlen(FORMAT_VALUE), &err);
	if (err != NULL)
		return rocks_fail(st, err, "writing the format marker");
	return SHOAL_OK;
}

/* Loads the shard table ('S' keys), then counts rows per shard and
 * partition and finds each shard's sequence. */
static shoal_code
load_shards(rowstore *rs, shoal_status *st)
{
	/* a full scan: do not churn the block cache, read ahead */
	rocksdb_readoptions_t *scan = rocksdb_readoptions_create();
	rocksdb_readoptions_set_fill_cache(scan, 0);
	rocksdb_readoptions_set_readahead_size(scan, 2 << 20);
	rocksdb_iterator_t *it = rocksdb_create_iterator(rs->db, scan);
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
			rocksdb_readoptions_destroy(scan);
			return shoal_status_set(st, SHOAL_DATA_LOSS,
			    "rowstore: corrupt spec of shard %" PRIu64, util_get_be64(k + 1));
		}
		tab_insert(rs, &spec);
	}
	for (rocksdb_iter_seek(it, "R", 1); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
		size_t klen, vlen;
		const unsigned char *k = (const unsigned char *)rocksdb_iter_key(it, &klen);
		const unsigned char *v = (const unsigned char *)rocksdb_iter_value(it, &vlen);
		rowstore_row r;
		uint64_t shard;
		bool found;

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
		if (!row_decode(v, vlen, util_get_be64(k + 9), &r)) {
			rocksdb_iter_destroy(it);
			rocksdb_readoptions_destroy(scan);
			return shoal_status_set(st, SHOAL_DATA_LOSS,
			    "rowstore: corrupt row %" PRIu64 " of shard %" PRIu64,
			    util_get_be64(k + 9), shard);
		}
		if (r.seq > cur->seq)
			cur->seq = r.seq;
		if (r.deleted) {
			cur->tombstones++;
		} else {
			cur->live++;
			part_add(cur, r.partition, r.partition_len, 1);
		}
	}
	rocksdb_iter_get_error(it, &err);
	rocksdb_iter_destroy(it);
	rocksdb_readoptions_destroy(scan);
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
	rs->dir = xstrdup(dir);
	rs->min_free = opts != NULL ? opts->min_free_bytes : 0;
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
	free(rs->dir);
	free(rs);
}

/* RESOURCE_EXHAUSTED when the filesystem of rs->dir has less than
 * rs->min_free bytes available.  Why: RocksDB 7.8 (Debian's, built with
 * assertions) aborts the process on a write after a WAL write hit ENOSPC;
 * refusing writes before the disk is full keeps the worker up, serving
 * reads, with everything acknowledged intact (tests/integration/
 * it_disk_full).  One statvfs per write batch: about a microsecond. */
static shoal_code
check_free_space(rowstore *rs, shoal_status *st)
{
	struct statvfs sv;

	if (rs->min_free == 0 || statvfs(rs->dir, &sv) != 0)
		return SHOAL_OK;
	uint64_t avail = (uint64_t)sv.f_bavail * (uint64_t)sv.f_frsize;
	if (avail >= rs->min_free)
		return SHOAL_OK;
	return shoal_status_set(st, SHOAL_RESOURCE_EXHAUSTED,
	    "rowstore: the filesystem of %s has %" PRIu64 " KiB free, below the reserve of "
	    "%" PRIu64 " KiB (--min-free-space): writes are refused until space is freed",
	    rs->dir, avail >> 10, rs->min_free >> 10);
}

/* ===================================================================
 * Shards
 * =================================================================== */

static uint64_t
random_u64(void)
{
	char hex[17];
	uint64_t v = 0;

	util_random_hex(hex, 8);
	for (int i = 0; i < 16; i++)
		v = v << 4 | (uint64_t)(hex[i] <= '9' ? hex[i] - '0' : hex[i] - 'a' + 10);
	return v;
}

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
	spec.incarnation = random_u64();
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
	unsigned char plo[SPEC_KEY_LEN], phi[SPEC_KEY_LEN];
	rocksdb_writebatch_t *b;
	char *err = NULL;
	rs_shard *sh;
	size_t pos, philen;
	bool found;

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
	member_range(plo, phi, &philen, shard_id);
	b = rocksdb_writebatch_create();
	rocksdb_writebatch_delete(b, (const char *)k, sizeof k);
	rocksdb_writebatch_delete_range(b, (const char *)lo, sizeof lo, (const char *)hi, sizeof hi);
	rocksdb_writebatch_delete_range(b, (const char *)plo, sizeof plo, (const char *)phi, philen);
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

shoal_code
rowstore_shard_seq(rowstore *rs, uint64_t shard_id, uint64_t *seq, shoal_status *st)
{
	rs_shard *sh = shard_ref(rs, shard_id, st);

	if (sh == NULL)
		return SHOAL_NOT_FOUND;
	*seq = atomic_load(&sh->seq);
	shard_unref(sh);
	return SHOAL_OK;
}

uint64_t
rowstore_partition_count(rowstore *rs, uint64_t shard_id, const char *name, size_t len)
{
	rs_shard *sh = shard_ref(rs, shard_id, NULL);
	uint64_t n = 0;
	bool found;
	size_t pos;

	if (sh == NULL)
		return 0;
	pthread_mutex_lock(&sh->parts_mu);
	pos = part_find(sh, name, len, &found);
	if (found)
		n = sh->parts[pos].live;
	pthread_mutex_unlock(&sh->parts_mu);
	shard_unref(sh);
	return n;
}

size_t
rowstore_list_partitions(rowstore *rs, uint64_t shard_id, rowstore_partition **out)
{
	rs_shard *sh = shard_ref(rs, shard_id, NULL);
	size_t n;

	*out = NULL;
	if (sh == NULL)
		return 0;
	pthread_mutex_lock(&sh->parts_mu);
	n = sh->nparts;
	if (n > 0) {
		*out = xmalloc(n * sizeof **out);
		for (size_t i = 0; i < n; i++) {
			(*out)[i].name = xmalloc(sh->parts[i].len + 1);
			memcpy((*out)[i].name, sh->parts[i].name, sh->parts[i].len + 1);
			(*out)[i].len = sh->parts[i].len;
			(*out)[i].live = sh->parts[i].live;
		}
	}
	pthread_mutex_unlock(&sh->parts_mu);
	shard_unref(sh);
	return n;
}

void
rowstore_partitions_free(rowstore_partition *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(p[i].name);
	free(p);
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
	if (r->partition_len > ROWSTORE_MAX_PARTITION)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "point %" PRIu64 ": partition (distribution key value) is %zu bytes, at most "
		    "%d are allowed",
		    r->id, r->partition_len, ROWSTORE_MAX_PARTITION);
	if (r->partition_len > 0 && memchr(r->partition, '\0', r->partition_len) != NULL)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "point %" PRIu64 ": partition (distribution key value) contains a NUL byte",
		    r->id);
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

/* A change of a partition's live count, applied after the commit. */
typedef struct part_delta {
	const char *name;
	size_t len;
	int delta;
} part_delta;

shoal_code
rowstore_write(rowstore *rs, uint64_t shard_id, const rowstore_row *rows, size_t n,
    uint8_t *outcome, uint32_t *napplied, rowstore_commit_fn on_commit, void *arg,
    shoal_status *st)
{
	order_ent *ord = NULL;
	char **keys = NULL, **vals = NULL, **errs = NULL, *err = NULL;
	size_t *klens = NULL, *vlens = NULL, nuniq = 0, bufcap = 0, ndeltas = 0;
	unsigned char *keybuf = NULL, *buf = NULL, mkey[MEMBER_KEY_MAX], seqv[8];
	rowstore_applied *ap = NULL;
	part_delta *deltas = NULL;
	rocksdb_writebatch_t *b = NULL;
	int64_t dlive = 0, dtomb = 0;
	uint32_t applied = 0;
	uint64_t seq = 0;
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
	ap = xcalloc(n, sizeof *ap);
	deltas = xmalloc(2 * n * sizeof *deltas);

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
	seq = atomic_load(&sh->seq) + 1; /* this batch's, if it applies anything */
	util_put_be64(seqv, seq);
	/* Read under the mutex: no other write to this shard can commit
	 * between this read and our batch. */
	rocksdb_multi_get(rs->db, rs->ropts, nuniq, (const char *const *)keys, klens, vals, vlens,
	    errs);
	for (size_t u = 0, i = 0; u < nuniq; u++) {
		uint64_t cur_version = 0;
		bool exists = false, live = false;
		const char *cur_part = NULL;
		size_t cur_part_len = 0;

		if (errs[u] != NULL) {
			rv = shoal_status_set(st, SHOAL_INTERNAL, "rowstore: reading versions: %s",
			    errs[u]);
			goto unlock;
		}
		if (vals[u] != NULL) {
			rowstore_row old;
			if (!row_decode((unsigned char *)vals[u], vlens[u], ord[i].id, &old)) {
				rv = shoal_status_set(st, SHOAL_DATA_LOSS,
				    "rowstore: corrupt row %" PRIu64 " of shard %" PRIu64, ord[i].id,
				    shard_id);
				goto unlock;
			}
			exists = true;
			live = !old.deleted;
			cur_version = old.version;
			cur_part = old.partition;
			cur_part_len = old.partition_len;
		}
		for (; i < n && ord[i].id == util_get_be64((unsigned char *)keys[u] + 9); i++) {
			const rowstore_row *r = &rows[ord[i].pos];
			rowstore_applied *a = &ap[ord[i].pos];
			size_t len, klen;

			if (r->version <= cur_version)
				continue;
			a->outcome = ROWSTORE_APPLIED | (live ? ROWSTORE_WAS_LIVE : 0);
			applied++;
			/* counters: leave the old state, enter the new one */
			if (exists && live) {
				dlive--;
				a->old_partition = cur_part;
				a->old_partition_len = cur_part_len;
				deltas[ndeltas++] = (part_delta){cur_part, cur_part_len, -1};
				/* the old membership goes (a put below may re-create it) */
				klen = member_key(mkey, shard_id, cur_part, cur_part_len, r->id);
				rocksdb_writebatch_delete(b, (const char *)mkey, klen);
			} else if (exists) {
				dtomb--;
			}
			if (r->deleted) {
				dtomb++;
			} else {
				dlive++;
				deltas[ndeltas++] =
				    (part_delta){r->partition, r->partition_len, +1};
				klen = member_key(mkey, shard_id, r->partition, r->partition_len, r->id);
				rocksdb_writebatch_put(b, (const char *)mkey, klen, (const char *)seqv,
				    sizeof seqv);
			}
			exists = true;
			live = !r->deleted;
			cur_version = r->version;
			cur_part = r->deleted ? NULL : r->partition;
			cur_part_len = r->deleted ? 0 : r->partition_len;
			len = row_encode(r, seq, &buf, &bufcap);
			rocksdb_writebatch_put(b, keys[u], klens[u], (const char *)buf, len);
		}
	}
	if (applied > 0 && (rv = check_free_space(rs, st)) != SHOAL_OK)
		goto unlock;
	if (applied > 0) {
		rocksdb_write(rs->db, rs->wopts, b, &err);
		if (err != NULL) {
			rv = rocks_fail(st, err, "writing rows");
			goto unlock;
		}
		atomic_fetch_add(&sh->live, (uint64_t)dlive); /* two's complement: adds negatives */
		atomic_fetch_add(&sh->tombstones, (uint64_t)dtomb);
		atomic_store(&sh->seq, seq);
		pthread_mutex_lock(&sh->parts_mu);
		for (size_t d = 0; d < ndeltas; d++)
			part_add(sh, deltas[d].name, deltas[d].len, deltas[d].delta);
		pthread_mutex_unlock(&sh->parts_mu);
		if (on_commit != NULL)
			on_commit(arg, seq, rows, n, ap);
	}
	if (napplied != NULL)
		*napplied = applied;
unlock:
	pthread_mutex_unlock(&sh->mu);
	if (outcome != NULL)
		for (size_t i = 0; i < n; i++)
			outcome[i] = rv == SHOAL_OK ? ap[i].outcome : 0;
	for (size_t u = 0; u < nuniq; u++) {
		rocksdb_free(vals[u]);
		rocksdb_free(errs[u]);
	}
	rocksdb_writebatch_destroy(b);
	free(ap);
	free(deltas);
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
	return rowstore_get_view(rs, NULL, shard_id, id, out, buf, st);
}

shoal_code
rowstore_get_view(rowstore *rs, rowstore_view *view, uint64_t shard_id, uint64_t id,
    rowstore_row *out, void **buf, shoal_status *st)
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
	v = rocksdb_get(rs->db, view != NULL ? view->ropts : rs->ropts, (const char *)k, sizeof k,
	    &len, &err);
	if (err != NULL)
		return rocks_fail(st, err, "reading a row");
	if (v == NULL)
		return shoal_status_set(st, SHOAL_NOT_FOUND,
		    "point %" PRIu64 " does not exist in shard %" PRIu64, id, shard_id);
	/* rocksdb_get's buffer is malloc'ed: aligned, so the vector at offset
	 * 24 is too. */
	if (!row_decode((unsigned char *)v, len, id, out)) {
		rocksdb_free(v);
		return shoal_status_set(st, SHOAL_DATA_LOSS,
		    "rowstore: corrupt row %" PRIu64 " of shard %" PRIu64, id, shard_id);
	}
	*buf = v;
	return SHOAL_OK;
}

rowstore_view *
rowstore_view_open(rowstore *rs)
{
	rowstore_view *v = xcalloc(1, sizeof *v);

	v->snap = rocksdb_create_snapshot(rs->db);
	v->ropts = rocksdb_readoptions_create();
	rocksdb_readoptions_set_snapshot(v->ropts, v->snap);
	return v;
}

void
rowstore_view_close(rowstore *rs, rowstore_view *v)
{
	if (v == NULL)
		return;
	rocksdb_readoptions_destroy(v->ropts);
	rocksdb_release_snapshot(rs->db, v->snap);
	free(v);
}

shoal_code
rowstore_iter_open(rowstore *rs, uint64_t shard_id, const rowstore_iter_opts *opts,
    rowstore_iter **out, shoal_status *st)
{
	static const rowstore_iter_opts defaults = {0};
	unsigned char lo[MEMBER_KEY_MAX];
	size_t lolen;
	rowstore_iter *it;
	rs_shard *sh;

	*out = NULL;
	if (opts == NULL)
		opts = &defaults;
	if (opts->partition_only && opts->partition_len > ROWSTORE_MAX_PARTITION)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "partition name is %zu bytes, at most %d are allowed", opts->partition_len,
		    ROWSTORE_MAX_PARTITION);
	if ((sh = shard_ref(rs, shard_id, st)) == NULL)
		return SHOAL_NOT_FOUND;
	shard_unref(sh);
	it = xcalloc(1, sizeof *it);
	it->rs = rs;
	it->shard = shard_id;
	it->with_tombstones = opts->with_tombstones && !opts->partition_only;
	it->partition_only = opts->partition_only;
	it->members_only = opts->partition_only && opts->members_only;
	if (opts->partition_only) {
		lolen = member_key(lo, shard_id, opts->partition, opts->partition_len, 0);
		it->prefix_len = lolen - 8;
		member_key(it->upper, shard_id, opts->partition, opts->partition_len, UINT64_MAX);
		it->upper[lolen] = 0; /* sorts after the largest id's key */
	} else {
		unsigned char hi[ROW_KEY_LEN + 1];
		shard_range(lo, hi, shard_id);
		row_key(lo, shard_id, opts->start_id);
		memcpy(it->upper, hi, sizeof hi);
		lolen = ROW_KEY_LEN;
	}
	if (opts->partition_only && opts->view == NULL && !it->members_only)
		it->own_view = rowstore_view_open(rs); /* members and rows agree */
	it->ropts = rocksdb_readoptions_create();
	rocksdb_readoptions_set_fill_cache(it->ropts, 0); /* full scans: keep the cache hot */
	if (opts->view != NULL)
		rocksdb_readoptions_set_snapshot(it->ropts, opts->view->snap);
	else if (it->own_view != NULL)
		rocksdb_readoptions_set_snapshot(it->ropts, it->own_view->snap);
	it->get_opts = opts->view != NULL ? opts->view->ropts
	    : it->own_view != NULL        ? it->own_view->ropts
	                                  : rs->ropts;
	/* the C API stores a Slice over our buffer, not a copy: it->upper */
	rocksdb_readoptions_set_iterate_upper_bound(it->ropts, (const char *)it->upper,
	    opts->partition_only ? it->prefix_len + 9 : ROW_KEY_LEN + 1);
	it->it = rocksdb_create_iterator(rs->db, it->ropts);
	rocksdb_iter_seek(it->it, (const char *)lo, lolen);
	*out = it;
	return SHOAL_OK;
}

static void
iter_batch_free(rowstore_iter *it)
{
	for (size_t i = 0; i < it->nbatch; i++)
		rocksdb_free(it->vals[i]);
	it->nbatch = it->ibatch = 0;
}

/* Steps the underlying RocksDB iterator: its next entry in *k / *v
 * (valid until the next step), or *done at the end. */
static shoal_code
iter_step(rowstore_iter *it, const unsigned char **k, size_t *klen, const unsigned char **v,
    size_t *vlen, bool *done, shoal_status *st)
{
	char *err = NULL;

	if (it->started)
		rocksdb_iter_next(it->it);
	it->started = true;
	*done = !rocksdb_iter_valid(it->it);
	if (*done) {
		rocksdb_iter_get_error(it->it, &err);
		return err != NULL ? rocks_fail(st, err, "iterating rows") : SHOAL_OK;
	}
	*k = (const unsigned char *)rocksdb_iter_key(it->it, klen);
	*v = (const unsigned char *)rocksdb_iter_value(it->it, vlen);
	return SHOAL_OK;
}

/* Members: the next (id, seq) of the partition. */
static shoal_code
member_next(rowstore_iter *it, uint64_t *id, uint64_t *seq, bool *done, shoal_status *st)
{
	const unsigned char *k, *v;
	size_t klen, vlen;
	shoal_code rv;

	if ((rv = iter_step(it, &k, &klen, &v, &vlen, done, st)) != SHOAL_OK || *done)
		return rv;
	if (klen != it->prefix_len + 8 || vlen != 8)
		return shoal_status_set(st, SHOAL_DATA_LOSS,
		    "rowstore: corrupt membership key in shard %" PRIu64, it->shard);
	*id = util_get_be64(k + it->prefix_len);
	*seq = util_get_be64(v);
	return SHOAL_OK;
}

/* Partition rows: refills the batch from the next ITER_BATCH members. */
static shoal_code
partition_fill(rowstore_iter *it, shoal_status *st)
{
	unsigned char keys[ITER_BATCH][ROW_KEY_LEN];
	const char *kp[ITER_BATCH];
	size_t kl[ITER_BATCH];
	char *errs[ITER_BATCH];
	size_t n = 0;
	shoal_code rv = SHOAL_OK;

	iter_batch_free(it);
	while (n < ITER_BATCH && !it->members_done) {
		uint64_t id, seq;
		bool done;
		if ((rv = member_next(it, &id, &seq, &done, st)) != SHOAL_OK)
			return rv;
		if (done) {
			it->members_done = true;
			break;
		}
		it->ids[n] = id;
		row_key(keys[n], it->shard, id);
		kp[n] = (const char *)keys[n];
		kl[n] = ROW_KEY_LEN;
		n++;
	}
	if (n == 0)
		return SHOAL_OK;
	memset(errs, 0, sizeof errs);
	rocksdb_multi_get(it->rs->db, it->get_opts, n, kp, kl, it->vals, it->vlens, errs);
	it->nbatch = n;
	for (size_t i = 0; i < n; i++)
		if (errs[i] != NULL) {
			if (rv == SHOAL_OK)
				rv = shoal_status_set(st, SHOAL_INTERNAL, "rowstore: reading rows: %s",
				    errs[i]);
			rocksdb_free(errs[i]);
		}
	return rv;
}

shoal_code
rowstore_iter_next(rowstore_iter *it, rowstore_row *row, bool *done, shoal_status *st)
{
	shoal_code rv;

	*done = false;
	if (it->members_only) {
		memset(row, 0, sizeof *row);
		return member_next(it, &row->id, &row->seq, done, st);
	}
	if (it->partition_only) {
		for (;;) {
			size_t i;
			if (it->ibatch == it->nbatch) {
				if ((rv = partition_fill(it, st)) != SHOAL_OK)
					return rv;
				if (it->nbatch == 0) {
					*done = true;
					return SHOAL_OK;
				}
			}
			i = it->ibatch++;
			if (it->vals[i] == NULL)
				continue; /* cannot happen under one view (invariant 2) */
			/* multi-get values are malloc'ed: the vector is aligned */
			if (!row_decode((unsigned char *)it->vals[i], it->vlens[i], it->ids[i], row))
				return shoal_status_set(st, SHOAL_DATA_LOSS,
				    "rowstore: corrupt row %" PRIu64 " of shard %" PRIu64, it->ids[i],
				    it->shard);
			if (row->deleted)
				continue;
			return SHOAL_OK;
		}
	}
	for (;;) {
		const unsigned char *k, *v;
		size_t klen, vlen;

		if ((rv = iter_step(it, &k, &klen, &v, &vlen, done, st)) != SHOAL_OK || *done)
			return rv;
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
	iter_batch_free(it);
	rocksdb_iter_destroy(it->it);
	rocksdb_readoptions_destroy(it->ropts);
	rowstore_view_close(it->rs, it->own_view);
	free(it->vec);
	free(it);
}

/* ===================================================================
 * Checkpoint (backups: worker/worker_backup.c)
 * =================================================================== */

shoal_code
rowstore_checkpoint(rowstore *rs, const char *dir, shoal_status *st)
{
	char *err = NULL;
	rocksdb_checkpoint_t *cp = rocksdb_checkpoint_object_create(rs->db, &err);

	if (err != NULL) {
		shoal_status_set(st, SHOAL_INTERNAL, "rowstore checkpoint: %s", err);
		rocksdb_free(err);
		return SHOAL_INTERNAL;
	}
	/* log_size_for_flush 0: flush the memtables first, so the copy holds
	 * every committed write in its SST files */
	rocksdb_checkpoint_create(cp, dir, 0, &err);
	rocksdb_checkpoint_object_destroy(cp);
	if (err != NULL) {
		shoal_status_set(st, SHOAL_INTERNAL, "rowstore checkpoint into %s: %s", dir, err);
		rocksdb_free(err);
		return SHOAL_INTERNAL;
	}
	return SHOAL_OK;
}
