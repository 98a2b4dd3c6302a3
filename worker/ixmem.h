/* ixmem.h -- the worker's index memory budget: loaded partitions in LRU
 * order, evicted least-recently-used when their total passes the budget.
 *
 * What counts: the memory of loaded partition indexes (vectors, HNSW
 * links, label maps, payload records; shard_index.c reports it per
 * partition).  RocksDB's own caches and memtables are not counted (they
 * are bounded by RocksDB's options), nor transient buffers of a build or
 * a snapshot write.
 *
 * Policy: before a partition loads, ixmem_make_room evicts from the LRU
 * end until the estimated size of the newcomer fits; after loads (and
 * periodically, as writes grow partitions) ixmem_enforce evicts from the
 * LRU end until the total is within the budget.  Both skip entries whose
 * eviction callback declines (busy: being loaded, built, or snapshotted).
 * enforce never evicts the most recently used entry, so one partition
 * larger than the whole budget still loads (and is logged), rather than
 * failing every search of it.  The budget can thus be passed by the error
 * of a load's size estimate, and by writes until the next enforce.
 *
 * Threading: all functions are thread-safe (one mutex, short holds).  The
 * callbacks are never called with that mutex held, so they may take their
 * own locks and call back into ixmem.
 */
#ifndef SHOAL_IXMEM_H
#define SHOAL_IXMEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ixmem ixmem;
typedef struct ixmem_ent ixmem_ent;

/* What ixmem may do with an entry's owner. */
typedef struct ixmem_ops {
	void (*ref)(ixmem_ent *e);   /* keep the owner alive across evict */
	void (*unref)(ixmem_ent *e);
	/* Unloads the owner (which then calls ixmem_unloaded); returns false
	 * when it cannot now (busy).  Must not block on long work others do. */
	bool (*evict)(ixmem_ent *e);
} ixmem_ops;

/* Embedded in the owner; zero-initialize, then set ops. */
struct ixmem_ent {
	const ixmem_ops *ops;
	ixmem_ent *prev, *next; /* LRU list; guarded by ixmem's mutex */
	uint64_t bytes;
	uint64_t round;         /* enforce round that last skipped it */
	bool linked;
};

typedef struct ixmem_stats {
	uint64_t budget;       /* 0 = unlimited */
	uint64_t bytes;        /* of loaded entries */
	uint64_t peak_bytes;
	uint64_t loaded;       /* entries */
	uint64_t loads;        /* ixmem_loaded calls since start */
	uint64_t evictions;    /* entries evicted by the budget */
} ixmem_stats;

/* budget 0 = unlimited (entries are tracked, never evicted). */
ixmem *ixmem_create(uint64_t budget);
/* No entry may be linked any more.  NULL ok. */
void ixmem_destroy(ixmem *m);

/* e became loaded with `bytes`: linked as most recently used. */
void ixmem_loaded(ixmem *m, ixmem_ent *e, uint64_t bytes);
/* e was used (a search): moves it to the front.  No-op when unlinked. */
void ixmem_touch(ixmem *m, ixmem_ent *e);
/* e's size changed (writes, a rebuild).  No-op when unlinked. */
void ixmem_resize(ixmem *m, ixmem_ent *e, uint64_t bytes);
/* e was unloaded; `evicted` counts it as a budget eviction. */
void ixmem_unloaded(ixmem *m, ixmem_ent *e, bool evicted);

/* True when the loaded total exceeds the budget. */
bool ixmem_over(ixmem *m);

/* Evicts LRU entries until within budget (see the policy above).  Call it
 * holding no lock of any entry.  Returns the number evicted. */
unsigned ixmem_enforce(ixmem *m);

/* Before loading an entry of about `bytes`: evicts LRU entries (any of
 * them) until the loaded total plus `bytes` fits the budget, or nothing
 * more can be evicted.  Keeps the budget from being exceeded while the
 * load runs, as far as the estimate is right.  Same rules as enforce. */
unsigned ixmem_make_room(ixmem *m, uint64_t bytes);

void ixmem_get_stats(ixmem *m, ixmem_stats *out);

#endif
