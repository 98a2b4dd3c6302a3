/* partition.h -- the in-memory index of one partition: a FAISS index
 * (flat, or HNSW over flat storage) plus label bookkeeping and payload
 * records.  A data structure only: no locks, no I/O except through the
 * caller's buffers.  shard_index.c owns the locking, loading, snapshots
 * and memory accounting around it.
 *
 * Labels.  FAISS numbers vectors 0..ntotal-1 in insertion order and HNSW
 * cannot remove any.  Every upsert appends a vector under the next label:
 *   label_id[label] -> point id
 *   map: point id   -> its current label (-1 when deleted here)
 *   live bitmap     bit `label` set iff label is the current label of a
 *                   live point
 *   payload record  of each label (payload.h)
 * An update or delete clears the old label's bit; the stale vector stays
 * (in HNSW, still useful for navigation) and searches skip it.  Stale
 * labels are dropped by a rebuild (pstate_extract + pstate_build).
 *
 * Kinds.  Small partitions are flat (FAISS "Flat": exact search, no graph
 * memory); larger ones are HNSW ("HNSW{m},Flat").  The shard index picks
 * the kind when it (re)builds (PSTATE_EXACT_MAX).
 *
 * Search paths (pstate_search), after the filter is compiled against the
 * partition's payload dictionary:
 *   flat, exact=true, or <= PSTATE_EXACT_MAX live points: exact scan.
 *   a filter matching few points (estimated from a sample of live labels:
 *     < PSTATE_FILTER_EXACT_FRACTION of them or < PSTATE_FILTER_EXACT_MATCHES):
 *     exact scan over the matching points -- HNSW would have to walk
 *     through ~ef/fraction nodes, the scan touches each point once.
 *   otherwise HNSW with the filter applied during the traversal
 *     (faiss_ext.h: the beam holds accepted nodes only); if it returns
 *     fewer than min(k, live) hits, the answer is recomputed exactly.
 * So every answer holds min(k, matching points) hits: `complete` is true.
 *
 * Invariant: nlabels == FAISS ntotal == payload records, always.  If a
 * FAISS add fails half-way the caller must discard the state.
 */
#ifndef SHOAL_PARTITION_H
#define SHOAL_PARTITION_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <faiss/c_api/Index_c.h>

#include "payload.h"
#include "rowstore.h"
#include "shoal.pb-c.h"
#include "status.h"

#define PSTATE_DEFAULT_EF 64
#define PSTATE_EXACT_MAX 1024             /* live points searched exactly */
#define PSTATE_FILTER_EXACT_FRACTION 0.02 /* filtered: exact below this... */
#define PSTATE_FILTER_EXACT_MATCHES 2048  /* ...or below this many matches */
#define PSTATE_FILTER_SAMPLE 1024         /* labels sampled for the estimate */

typedef struct shard_hit {
	uint64_t id;
	float distance;
} shard_hit;

typedef struct idmap {
	uint64_t *keys;
	int64_t *vals; /* label, -1 = deleted, INT64_MIN = free slot */
	size_t cap;    /* power of two */
	size_t n;      /* used slots */
} idmap;

typedef struct pstate {
	FaissIndex *fi;
	bool hnsw;
	uint64_t *label_id; /* cap entries */
	uint8_t *live;      /* cap bits */
	size_t nlabels, cap;
	size_t nlive;
	idmap map;
	pstore pl;
	uint64_t applied_seq; /* every write to this partition with seq <= it is in */
	size_t built_labels;  /* labels added by the last one-shot build (or
	                       * present at load): the rest came in small adds */
} pstate;

/* One write to apply: set `id` to (vector, payload), or delete it. */
typedef struct pstate_op {
	uint64_t id;
	bool deleted;
	const float *vector;  /* spec->dim floats, the user's (not normalized) */
	const void *payload;  /* packed payload (payload.h) */
	size_t payload_len;
} pstate_op;

/* Live content gathered for a build: ids, index-ready vectors (normalized
 * for cosine), payload records. */
typedef struct pstate_src {
	size_t n, cap;
	uint64_t *ids;
	float *vecs;
	pstore pl;
	uint64_t applied_seq;
} pstate_src;

/* An empty state of the given kind.  INTERNAL on a FAISS error. */
shoal_code pstate_new(const shard_spec *spec, bool hnsw, pstate **out, shoal_status *st);
void pstate_free(pstate *s);

/* Applies ops in order.  INTERNAL (FAISS) or RESOURCE_EXHAUSTED (2^31
 * labels): the state must then be discarded. */
shoal_code pstate_apply(pstate *s, const shard_spec *spec, const pstate_op *ops, size_t n,
    shoal_status *st);

/* Memory held (ixmem.h). */
uint64_t pstate_bytes(const pstate *s);

/* The label of id, -1 when absent or deleted. */
int64_t pstate_label_of(const pstate *s, uint64_t id);

/* Marks label dead (reconciliation of a snapshot). */
void pstate_kill_label(pstate *s, size_t label);

bool pstate_label_live(const pstate *s, size_t label);

/* ---- building ---- */

void pstate_src_init(pstate_src *src);
void pstate_src_free(pstate_src *src);
/* Adds one point (vector as stored; normalized here for cosine). */
void pstate_src_add(pstate_src *src, const shard_spec *spec, uint64_t id, const float *vector,
    const void *payload, size_t payload_len);
/* Copies s's live points into src (for a rebuild: drops stale labels). */
void pstate_extract(const pstate *s, const shard_spec *spec, pstate_src *src);
/* A new state of the given kind holding src (src's payloads are moved,
 * src is emptied).  Adds in chunks, polling *cancel between them
 * (CANCELLED).  INTERNAL on FAISS errors. */
shoal_code pstate_build(pstate_src *src, const shard_spec *spec, bool hnsw,
    const atomic_bool *cancel, pstate **out, shoal_status *st);

/* ---- search ---- */

typedef struct pstate_query {
	const float *q;         /* index-ready query (normalized for cosine) */
	uint32_t k;
	uint32_t ef_search;     /* 0 = max(k, PSTATE_DEFAULT_EF) */
	bool exact;
	const Shoal__Filter *filter; /* validated, or NULL */
} pstate_query;

/* Counters of what the search did (for tests and metrics). */
typedef struct pstate_trace {
	bool used_hnsw;
	bool filter_exact;      /* filtered search answered by the exact scan */
	bool fell_back;         /* HNSW came back short: answered exactly */
} pstate_trace;

/* Top-k of the partition into hits (k entries; unsorted), *nhits the
 * count = min(k, matching live points).  trace may be NULL.  INTERNAL on a
 * FAISS error. */
shoal_code pstate_search(const pstate *s, const shard_spec *spec, const pstate_query *q,
    shard_hit *hits, size_t *nhits, pstate_trace *trace, shoal_status *st);

/* Number of live points matching filter (exact; for tests). */
size_t pstate_count_matching(const pstate *s, const Shoal__Filter *filter);

/* ---- snapshots ---- */

/* Serializes the whole state, with a header naming (spec, partition) and
 * a trailing checksum, into a malloc'ed buffer (*out, *len).  Reads s
 * only.  INTERNAL on a FAISS error. */
shoal_code pstate_serialize(const pstate *s, const shard_spec *spec, const char *name,
    size_t name_len, uint8_t **out, size_t *len, shoal_status *st);

/* The inverse.  DATA_LOSS when the bytes are damaged (checksum, bounds),
 * FAILED_PRECONDITION when they are intact but belong to another shard
 * incarnation, spec or partition (the caller then rebuilds from rows). */
shoal_code pstate_deserialize(const uint8_t *data, size_t len, const shard_spec *spec,
    const char *name, size_t name_len, pstate **out, shoal_status *st);

/* Distance (vecmath.h convention) from an index-ready query to an
 * index-ready vector. */
float pstate_distance(int metric, const float *q, const float *v, size_t dim);

#endif
