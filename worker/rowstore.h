/* rowstore.h -- the durable rows of every shard on one worker (RocksDB).
 *
 * One RocksDB database per worker data dir (DIR/rows).  It is the source
 * of truth: the FAISS indexes (shard_index.h) are derived from it and can
 * always be rebuilt from it.  Key layout and value format: rowstore.c.
 *
 * Write rule (what makes coordinator retries and nng resends idempotent):
 * a write -- upsert or delete -- of point `id` is applied iff its version
 * is greater than the version stored for `id`, live or tombstone.  Deletes
 * leave a versioned tombstone, so an older upsert arriving late can never
 * resurrect a deleted point.  Each rowstore_write() call is one RocksDB
 * WriteBatch, validated completely before anything is written: bad input
 * changes nothing.
 *
 * Partitions.  Every live row belongs to one partition of its shard (the
 * distribution-key value of a shared collection; "" for a dedicated
 * tenant's collection).  Ids are unique per shard, not per partition: an
 * upsert of an id with another partition moves the point.  The rowstore
 * keeps a membership key per (partition, id) so that one partition's rows
 * can be read without scanning the shard, and a live count per partition.
 *
 * Commit sequence.  Every rowstore_write that applies something gets the
 * shard's next sequence number (one per batch), stored in each row it
 * writes and in the membership keys.  Index snapshots record the sequence
 * they include; a restart replays only rows with a larger one
 * (shard_index.c).  The sequence of a shard is the largest stored in its
 * rows, so it never goes backwards (rows leave only with their shard).
 *
 * Threading: every function is thread-safe.  Writes to one shard are
 * serialized by a per-shard mutex (the version check is read-then-write);
 * reads never block on writes.
 */
#ifndef SHOAL_ROWSTORE_H
#define SHOAL_ROWSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h"

#define SHARD_SPEC_DEFAULT_M 16
#define SHARD_SPEC_DEFAULT_EF_CONSTRUCTION 64
#define SHARD_SPEC_MAX_DIM 16000 /* pgvector's vector type limit */
#define ROWSTORE_MAX_PARTITION 1024 /* bytes of a partition name */

/* What a shard is (shoal.ShardSpec).  Immutable once created. */
typedef struct shard_spec {
	uint64_t shard_id;
	uint32_t dim;             /* 1 .. SHARD_SPEC_MAX_DIM */
	int metric;               /* VECMATH_COSINE | VECMATH_L2 | VECMATH_IP */
	uint32_t m;               /* HNSW M, 2 .. 256; 0 = default */
	uint32_t ef_construction; /* 1 .. 65536; 0 = default */
	/* Random, chosen by rowstore_create_shard (ignored on input): tells a
	 * re-created shard of the same id from the old one, so that files
	 * derived from the old one (index snapshots) are never applied to it. */
	uint64_t incarnation;
} shard_spec;

/* Fills defaults (m, ef_construction) and validates spec in place.
 * INVALID_ARGUMENT with a message naming the bad field. */
shoal_code shard_spec_normalize(shard_spec *spec, shoal_status *st);

/* One row.  On write, the caller owns every pointer.  On read (get, iter)
 * the pointers borrow from the buffer/iterator documented there. */
typedef struct rowstore_row {
	uint64_t id;
	uint64_t version;   /* > 0 on write */
	uint64_t seq;       /* on read: commit sequence of the write (ignored on write) */
	bool deleted;       /* tombstone: vector/text/payload/partition are empty */
	const float *vector;/* dim floats (NULL for tombstones) */
	uint32_t dim;
	const char *text;   /* not NUL-terminated on read; text_len bytes */
	size_t text_len;
	const char *partition; /* not NUL-terminated; partition_len bytes (0 = "") */
	size_t partition_len;  /* <= ROWSTORE_MAX_PARTITION */
	const void *payload;/* opaque bytes (the service stores packed protobuf) */
	size_t payload_len;
} rowstore_row;

typedef struct rowstore rowstore;

typedef struct rowstore_opts {
	bool sync; /* fsync the WAL on every write (--sync); else the WAL is
	            * written but not fsynced: survives kill -9, not power loss */
	/* Refuse row writes (RESOURCE_EXHAUSTED) while the data directory's
	 * filesystem has less than this many bytes available (--min-free-space);
	 * 0 = no check. */
	uint64_t min_free_bytes;
} rowstore_opts;

/* Opens (creating if needed) the database in dir/rows; dir must exist.
 * Loads the shard table and recomputes per-shard and per-partition counts
 * and sequences (a full scan).  FAILED_PRECONDITION for a database of
 * another format (including format 1 of the pre-release worker: there is
 * no migration, the data dir must be re-created), INTERNAL for a RocksDB
 * error (message included).  *out is freed by rowstore_close. */
shoal_code rowstore_open(const char *dir, const rowstore_opts *opts, rowstore **out,
    shoal_status *st);

/* Closes the database cleanly.  No call may be running.  NULL ok. */
void rowstore_close(rowstore *rs);

/* ---- shards ---- */

/* Creates shard spec->shard_id (spec is normalized first; durable, synced,
 * on return) with a fresh incarnation.  Idempotent: an identical spec
 * (incarnation aside) is OK with *created = false.  ALREADY_EXISTS when
 * the shard exists with a different spec; INVALID_ARGUMENT for a bad spec.
 * created may be NULL. */
shoal_code rowstore_create_shard(rowstore *rs, const shard_spec *spec, bool *created,
    shoal_status *st);

/* Drops a shard: its spec and every row (one batch: spec delete + range
 * delete), synced.  NOT_FOUND when absent.  Writes racing with the drop
 * either complete before it or fail with NOT_FOUND. */
shoal_code rowstore_drop_shard(rowstore *rs, uint64_t shard_id, shoal_status *st);

/* The spec of a shard; NOT_FOUND when absent. */
shoal_code rowstore_shard_spec(rowstore *rs, uint64_t shard_id, shard_spec *out,
    shoal_status *st);

/* All shard specs, sorted by id, in a malloc'ed array (*out, caller frees;
 * NULL when none).  Returns the count. */
size_t rowstore_list_shards(rowstore *rs, shard_spec **out);

/* Live points and tombstones of a shard (in-memory counters). NOT_FOUND. */
shoal_code rowstore_count(rowstore *rs, uint64_t shard_id, uint64_t *live,
    uint64_t *tombstones, shoal_status *st);

/* The shard's commit sequence: the sequence of its last applied write (0
 * before the first).  NOT_FOUND. */
shoal_code rowstore_shard_seq(rowstore *rs, uint64_t shard_id, uint64_t *seq,
    shoal_status *st);

/* Live points of one partition (0 for an unknown one or shard). */
uint64_t rowstore_partition_count(rowstore *rs, uint64_t shard_id, const char *name,
    size_t len);

/* The partitions of a shard that hold live points, with their counts. */
typedef struct rowstore_partition {
	char *name;      /* malloc'ed, NUL-terminated (names hold no NUL) */
	size_t len;
	uint64_t live;
} rowstore_partition;

/* Lists them (sorted by name) into a malloc'ed array (*out; free with
 * rowstore_partitions_free).  Returns the count; 0 (and *out NULL) for an
 * unknown shard. */
size_t rowstore_list_partitions(rowstore *rs, uint64_t shard_id, rowstore_partition **out);
void rowstore_partitions_free(rowstore_partition *p, size_t n);

/* Live points and shards of the whole worker. */
void rowstore_totals(rowstore *rs, uint64_t *points, uint32_t *shards);

/* Approximate bytes used by the database (SST files + memtables). */
uint64_t rowstore_bytes(rowstore *rs);

/* ---- rows ---- */

enum {
	ROWSTORE_APPLIED = 1,  /* version was newer: the write took effect */
	ROWSTORE_WAS_LIVE = 2, /* the id had a live row before this write */
};

/* What the commit hook learns about each row of a batch. */
typedef struct rowstore_applied {
	uint8_t outcome;           /* ROWSTORE_* flags; 0 = not applied */
	/* With ROWSTORE_WAS_LIVE: the partition the id was live in before this
	 * write (borrowed, valid during the hook only). */
	const char *old_partition;
	size_t old_partition_len;
} rowstore_applied;

/* Applies n writes (rows[i].deleted = delete) to a shard in one batch,
 * in array order (the same id may appear twice: each write is checked
 * against the state left by the previous ones).  outcome (n entries, may be
 * NULL) receives ROWSTORE_* flags per row; *napplied (may be NULL) the
 * number applied.  Validates everything first -- version > 0, partition
 * length, and for upserts dim == spec.dim, finite components, non-zero
 * vector for cosine -- and fails with INVALID_ARGUMENT naming the point,
 * having written nothing.  NOT_FOUND for an unknown shard, INTERNAL on
 * RocksDB errors (nothing applied).  `on_commit`, when not NULL, is called
 * once the batch is committed (with its sequence number), still under the
 * shard's write mutex, i.e. before the next write to the shard can commit:
 * callers use it to keep derived state (the FAISS indexes) in commit order.
 * It must not call back into the rowstore's write functions. */
typedef void (*rowstore_commit_fn)(void *arg, uint64_t seq, const rowstore_row *rows, size_t n,
    const rowstore_applied *applied);
shoal_code rowstore_write(rowstore *rs, uint64_t shard_id, const rowstore_row *rows, size_t n,
    uint8_t *outcome, uint32_t *napplied, rowstore_commit_fn on_commit, void *arg,
    shoal_status *st);

/* Reads the row of id, live or tombstone (out->deleted tells).  On OK,
 * *buf is a malloc'ed buffer that out's pointers borrow from; free it with
 * free().  NOT_FOUND when the shard or the id has no row. */
shoal_code rowstore_get(rowstore *rs, uint64_t shard_id, uint64_t id, rowstore_row *out,
    void **buf, shoal_status *st);

/* A consistent read view of the whole database (RocksDB snapshot): reads
 * through it see exactly the writes committed before rowstore_view_open.
 * Free with rowstore_view_close before the rowstore is closed. */
typedef struct rowstore_view rowstore_view;
rowstore_view *rowstore_view_open(rowstore *rs);
void rowstore_view_close(rowstore *rs, rowstore_view *v);

/* rowstore_get through a view (NULL = the latest state). */
shoal_code rowstore_get_view(rowstore *rs, rowstore_view *view, uint64_t shard_id, uint64_t id,
    rowstore_row *out, void **buf, shoal_status *st);

/* Iteration over rows, as of the moment of rowstore_iter_open (or of
 * opts->view): later writes are not seen. */
typedef struct rowstore_iter rowstore_iter;

typedef struct rowstore_iter_opts {
	bool with_tombstones;    /* whole-shard iteration only */
	bool partition_only;     /* iterate the live rows of one partition... */
	const char *partition;   /* ...this one (len bytes), in id order */
	size_t partition_len;
	bool members_only;       /* with partition_only: yield id and seq only
	                          * (no row read; vector etc. empty) */
	rowstore_view *view;     /* NULL = an implicit view taken at open */
	uint64_t start_id;       /* whole-shard iteration: first id to yield
	                          * (0 = from the start; migrate.c resumes
	                          * a scan with it) */
} rowstore_iter_opts;

/* Whole shard in id order (tombstones per opts), or one partition's live
 * rows.  opts may be NULL (whole shard, no tombstones).  NOT_FOUND for an
 * unknown shard.  *out is freed by rowstore_iter_close. */
shoal_code rowstore_iter_open(rowstore *rs, uint64_t shard_id, const rowstore_iter_opts *opts,
    rowstore_iter **out, shoal_status *st);

/* Next row into *row (pointers valid until the next call or close); *done
 * is set at the end.  INTERNAL on a read error, DATA_LOSS on a corrupt
 * value. */
shoal_code rowstore_iter_next(rowstore_iter *it, rowstore_row *row, bool *done,
    shoal_status *st);

void rowstore_iter_close(rowstore_iter *it);

/* Writes a consistent copy of the whole database (a RocksDB checkpoint:
 * every write committed before the call, nothing after) into dir, which
 * must not exist; dir then opens as a rowstore data dir's "rows".  Files
 * are hard-linked when dir is on the same file system, else copied.
 * Writes continue meanwhile.  INTERNAL with RocksDB's message on failure
 * (dir exists, no space, ...). */
shoal_code rowstore_checkpoint(rowstore *rs, const char *dir, shoal_status *st);

#endif
