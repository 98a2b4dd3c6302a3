/* shard_index.h -- the in-memory indexes of one shard, one per partition.
 *
 * A shard's rows (rowstore.h) are grouped in partitions (the
 * distribution-key values of a shared collection; one partition "" for a
 * dedicated tenant's collection).  Each partition has its own index
 * (partition.h): a search limited to a partition costs what that
 * partition's size costs, whatever else the shard holds; a search without
 * one covers every partition of the shard and merges their top-k -- or,
 * once it is built, is answered by the shard-level graph over all of the
 * shard's points (shard_index.c, "Shard-level graph").
 *
 * Derived from the rowstore, never the other way round: a partition's
 * index is loaded on first use -- from its snapshot file plus the rows
 * written after it, or from its rows -- kept up to date by the rowstore's
 * commit hook while loaded, snapshotted to disk, rebuilt (as HNSW once it
 * outgrows exact search, or to drop stale labels) in the background while
 * searches and writes go on, and unloaded again when the worker's memory
 * budget (ixmem.h) needs the room.  Design, locking and the snapshot
 * protocol: shard_index.c.
 *
 * Distances follow vecmath.h (smaller is closer): cosine 1 - cos, l2
 * Euclidean (not squared), ip -(a.b).
 *
 * Threading: all functions are thread-safe.
 */
#ifndef SHOAL_SHARD_INDEX_H
#define SHOAL_SHARD_INDEX_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coll_graph.h"
#include "ixmem.h"
#include "partition.h"
#include "rowstore.h"
#include "shoal.pb-c.h"
#include "status.h"

/* ef_search 0 means max(k, SHARD_INDEX_DEFAULT_EF). */
#define SHARD_INDEX_DEFAULT_EF PSTATE_DEFAULT_EF
/* Partitions with more live points than this become HNSW; smaller ones are
 * flat (exact search over a few thousand vectors costs about what an HNSW
 * search does, is always exact, and needs no graph memory). */
#define SHARD_INDEX_EXACT_MAX PSTATE_EXACT_MAX
/* A rebuild is due when stale labels exceed max(live, this). */
#define SHARD_INDEX_REBUILD_MIN_STALE 1024
/* Partitions with fewer labels are never snapshotted (reloading them from
 * their rows is as cheap). */
#define SHARD_INDEX_SNAP_MIN_LABELS 256
/* A loaded partition is snapshotted again once this many writes, or an
 * eighth of its labels if more, reached it since the last snapshot: a
 * restart after kill -9 replays at most about that many rows. */
#define SHARD_INDEX_SNAP_MIN_DIRTY 256

typedef struct shard_index shard_index;

typedef struct shard_index_opts {
	const char *snap_dir; /* DIR/index: snapshots in snap_dir/<shard id>/;
	                       * NULL = no snapshots */
	ixmem *mem;           /* the worker's budget; NULL = untracked */
	coll_graphs *cg;      /* the worker's collection graphs, which every
	                       * commit of the shard also reaches (coll_graph.h);
	                       * NULL = none.  Must outlive the index. */
} shard_index_opts;

/* Counters since the index was created (monotonic). */
typedef struct shard_index_counters {
	uint64_t loads_snapshot;  /* partition loads from a snapshot (+ newer rows) */
	uint64_t loads_rows;      /* partition loads from rows */
	uint64_t rows_replayed;   /* rows applied on top of snapshots at load */
	uint64_t snapshots;       /* snapshot files written */
	uint64_t snapshot_bytes;  /* bytes written to them */
	uint64_t rebuilds;        /* background (re)builds: to HNSW, compactions */
	uint64_t evictions;       /* partitions unloaded for the budget */
	uint64_t imports;         /* partitions installed from a moved index
	                           * (shard_index_import) */
	uint64_t graph_builds;    /* HNSW builds of the shard-level graph (of
	                           * rebuilds) */
	uint64_t graph_imports;   /* shard-level graphs installed from a moved
	                           * index (not in imports) */
} shard_index_counters;

typedef struct shard_index_info {
	uint32_t partitions;   /* known (had rows since open, or searched) */
	uint32_t loaded;
	uint32_t hnsw;         /* loaded partitions with an HNSW graph */
	uint64_t labels;       /* vectors in loaded indexes, live + stale */
	uint64_t live;
	uint64_t stale;        /* updated or deleted points still in an index */
	uint64_t bytes;        /* memory of the loaded indexes (the shard-level
	                        * graph's included) */
	shard_index_counters c;
	/* The shard-level graph (not counted in partitions/loaded/labels/live/
	 * stale above). */
	bool graph_loaded, graph_hnsw;
	uint64_t graph_live, graph_labels;
	uint64_t graph_searches;   /* searches of every partition it answered */
	uint64_t graph_fallbacks;  /* ...that went to the partitions instead
	                            * (graph not loaded, or not yet HNSW) */
} shard_index_info;

typedef struct shard_partition_info {
	bool loaded;
	bool hnsw;
	uint64_t labels, live, stale;
	uint64_t applied_seq;  /* the loaded index holds every write <= this */
	uint64_t snap_seq;     /* of the partition's snapshot file (0 = none written) */
	uint64_t dirty;        /* writes applied since that snapshot */
} shard_partition_info;

/* Creates the (unloaded) indexes of shard spec->shard_id, whose rows live
 * in rs.  spec must be normalized and carry the shard's incarnation
 * (rowstore_shard_spec); it is copied.  rs, opts->mem must outlive the
 * index; opts->snap_dir is copied.  Free with shard_index_destroy. */
shoal_code shard_index_create(rowstore *rs, const shard_spec *spec, const shard_index_opts *opts,
    shard_index **out, shoal_status *st);

/* Frees the indexes (unloading them).  No call on idx may be running.
 * NULL ok. */
void shard_index_destroy(shard_index *idx);

/* The shard was dropped: shard_index_destroy also removes its snapshot
 * files (then, when no call can be writing one any more). */
void shard_index_mark_dropped(shard_index *idx);

/* The one write path: rowstore_write() on this shard with the index's
 * commit hook, so loaded indexes see every committed write in commit
 * order.  Arguments and errors as rowstore_write. */
shoal_code shard_index_write(shard_index *idx, const rowstore_row *rows, size_t n,
    uint8_t *outcome, uint32_t *napplied, shoal_status *st);

typedef struct shard_query {
	const float *vector;
	uint32_t dim;
	uint32_t k;
	uint32_t ef_search;          /* 0 = default (above) */
	bool exact;                  /* brute force over the matching points */
	const Shoal__Filter *filter; /* validated (filter_validate), or NULL */
	bool one_partition;          /* search only `partition`... */
	const char *partition;       /* ...(partition_len bytes) */
	size_t partition_len;
	uint32_t graph_ef;           /* a search of every partition answered by
	                              * the shard-level graph: its ef (0 =
	                              * ef_search); the per-partition fallback
	                              * always uses ef_search */
} shard_query;

/* k nearest live points to q->vector that match q->filter, in one
 * partition or all of them.  hits must hold k entries; *nhits receives the
 * count, hits sorted by distance (then id); *complete is true when
 * nhits == min(k, matching points) -- always, on OK (partition.h).
 * Unloaded partitions are loaded first (this can take a moment for a
 * partition without a snapshot).  INVALID_ARGUMENT for a wrong dimension,
 * a non-finite component, a zero query on a cosine shard, or k == 0;
 * NOT_FOUND if the shard was dropped; INTERNAL on a FAISS error. */
shoal_code shard_index_search(shard_index *idx, const shard_query *q, shard_hit *hits,
    size_t *nhits, bool *complete, shoal_status *st);

/* Background upkeep of this shard's loaded partitions, one step each:
 * builds HNSW for partitions that outgrew exact search, rebuilds those
 * whose stale labels passed the threshold, snapshots those with enough
 * writes since their last snapshot.  Also loads the shard-level graph when
 * a keyless search asked for it, and gives it the same upkeep.  Searches and writes go on meanwhile.
 * Stops early once *cancel (may be NULL) is true.  Returns the number of
 * partitions worked on. */
unsigned shard_index_maintain(shard_index *idx, const atomic_bool *cancel);

/* Snapshots every loaded partition with writes since its last snapshot
 * (at shutdown, so that the next start replays nothing).  Returns the
 * number written. */
unsigned shard_index_checkpoint(shard_index *idx, const atomic_bool *cancel);

/* Loads a partition now (normally a search does).  OK when loaded. */
shoal_code shard_index_load(shard_index *idx, const char *partition, size_t len,
    shoal_status *st);

/* Unloads every loaded partition (snapshotting those that need it),
 * waiting for busy ones.  For tests and shutdown. */
void shard_index_unload_all(shard_index *idx);

void shard_index_get_info(shard_index *idx, shard_index_info *out);

/* One partition; false when the shard index does not know it. */
bool shard_index_partition_info(shard_index *idx, const char *partition, size_t len,
    shard_partition_info *out);

/* The spec the index was created with. */
const shard_spec *shard_index_spec(const shard_index *idx);

/* A move carries the index (coordinator/move.c): every loaded HNSW
 * partition's state, and the shard-level graph's when it is loaded and
 * HNSW, serialized with the versions of the rows each holds, into one
 * malloc'ed bundle (*out, *len; *nparts entries, the graph included;
 * *graph (may be NULL) true when the graph is in it; see "Moves" in
 * shard_index.c).  Reads only; writes and searches go on.  An entry that
 * fails to serialize is left out (logged): the target builds it. */
shoal_code shard_index_export(shard_index *idx, uint8_t **out, size_t *len, uint32_t *nparts,
    bool *graph, shoal_status *st);

/* The target side: installs each entry of a bundle made by
 * shard_index_export on the same shard of another worker, as if loaded
 * from its own snapshot (kept labels whose row here has the version the
 * bundle lists; every other row applied), and writes it as this shard's
 * snapshot.  An entry that cannot be used (already loaded here, another
 * spec, damaged) is skipped and logged, and loads from rows as without a
 * bundle: *installed / *failed count entries (the graph included), *graph
 * (may be NULL) says whether the shard-level graph was installed.
 * INVALID_ARGUMENT for bytes that are not a bundle of this format or a
 * truncated entry (entries before it stay installed).  b is only read. */
shoal_code shard_index_import(shard_index *idx, const uint8_t *b, size_t len,
    uint32_t *installed, uint32_t *failed, bool *graph, shoal_status *st);

/* Deletes the snapshot directories under snap_dir of shards not in specs
 * (dropped while a snapshot was being written, or while the worker was
 * down) and leftover temporary files.  A snapshot of an older incarnation
 * of a shard is recognised (and deleted) when the partition loads.  Logs
 * what it removes. */
void shard_index_clean_snapshots(const char *snap_dir, const shard_spec *specs, size_t n);

#endif
