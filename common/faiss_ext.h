/* faiss_ext.h -- the HNSW calls that FAISS 1.7.3's C API lacks.
 *
 * Implemented in common/faiss_capi.cc next to the C API functions that
 * Debian's libfaiss.a does not compile (see that file).  Same conventions as
 * the C API: functions return 0 on success, non-zero when FAISS threw, and
 * faiss_get_last_error() then holds the message (valid until the next FAISS
 * call on the same thread).
 *
 * Threading: FAISS indexes are not safe for concurrent add and search; the
 * caller guards each index (worker/shard_index.c uses a rwlock).  Concurrent
 * searches on one index are safe.  Searches run single-threaded in the
 * calling thread (faiss_Index_search with an OpenMP team of 1): the worker
 * already runs one search per RPC thread, and a team per query would
 * oversubscribe the cores and add thread wake-up latency to every query.
 * Adds of >= 1024 vectors (index builds) use OMP_NUM_THREADS threads
 * (default: all cores); smaller adds run on the calling thread.
 */
#ifndef SHOAL_FAISS_EXT_H
#define SHOAL_FAISS_EXT_H

#include <stddef.h>
#include <stdint.h>

#include <faiss/c_api/Index_c.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Label filter for searches: return non-zero to keep `label`.  Called from
 * the searching thread, possibly many times per query: keep it cheap. */
typedef int (*shoal_faiss_filter_fn)(void *arg, int64_t label);

/* Sets efConstruction of an HNSW index (from index_factory "HNSW{m},...").
 * Fails (non-zero) when index is not an IndexHNSW or ef_construction < 1. */
int shoal_faiss_hnsw_set_ef_construction(FaissIndex *index, int ef_construction);

/* k-NN search of n queries x (n * d floats) on an HNSW index with a
 * per-call efSearch (>= 1; raised to k when smaller) and an optional label
 * filter: a label is a candidate result only if (bitmap == NULL or bit
 * `label` of bitmap is set, with labels >= bitmap_nbits rejected) and
 * (filter == NULL or filter(arg, label) != 0).  Filtered-out nodes are
 * still traversed, so the graph stays connected, and do not take beam
 * slots: the beam holds ef accepted nodes (hnswlib's filtered search), so
 * recall holds for selective filters at the price of visiting about
 * ef / (fraction accepted) nodes.  Output: distances/labels,
 * n * k each, best first, as faiss_Index_search (squared L2, or inner
 * product); missing results have label -1.  Safe to run concurrently with
 * other searches on the same index (see faiss_capi.cc for why this does
 * not use IndexHNSW::search). */
int shoal_faiss_hnsw_search(const FaissIndex *index, idx_t n, const float *x, idx_t k,
    int ef_search, const uint8_t *bitmap, size_t bitmap_nbits, shoal_faiss_filter_fn filter,
    void *filter_arg, float *distances, idx_t *labels);

/* Distance kernels compiled for the running CPU (AVX-512F, AVX2+FMA, or
 * plain C when neither; picked once at start-up, SHOAL_SIMD=0 forces the
 * plain / FAISS code): squared L2 and dot product of two d-float vectors.
 * shoal_faiss_hnsw_search uses them too.  Never fail. */
float shoal_faiss_l2sq(const float *a, const float *b, size_t d);
float shoal_faiss_dot(const float *a, const float *b, size_t d);
/* "avx512f", "avx2+fma", or "faiss (...)": for logs and measurements. */
const char *shoal_faiss_simd_name(void);

/* Serializes index (FAISS's own format, faiss::write_index) through fn,
 * called with consecutive pieces; fn returns 0, or non-zero to fail the
 * call.  Reads the index only: safe next to concurrent searches. */
typedef int (*shoal_faiss_write_fn)(void *arg, const void *data, size_t len);
int shoal_faiss_serialize(const FaissIndex *index, shoal_faiss_write_fn fn, void *arg);

/* The inverse: a new index (*out, free with faiss_Index_free) from exactly
 * len bytes of shoal_faiss_serialize output. */
int shoal_faiss_deserialize(const void *data, size_t len, FaissIndex **out);

/* Bytes of memory an HNSW-over-flat or flat index holds (vectors, graph
 * links, levels); an estimate for the memory budget, not an allocator
 * count.  Never fails. */
size_t shoal_faiss_memory_bytes(const FaissIndex *index);

/* Makes long FAISS HNSW adds stop (the add fails with "computation
 * interrupted") once fn(arg) returns non-zero; NULL removes the hook.
 * Process-wide (FAISS's interrupt callback is global): any HNSW add that
 * runs once fn says stop fails too.  The worker sets it once at start with
 * its shutdown flag, so that a build never delays shutdown. */
void shoal_faiss_set_interrupt(int (*fn)(void *arg), void *arg);

/* Releases spare capacity of the index's arrays (std::vector growth
 * leaves up to half unused after an incremental build).  Not safe next to
 * a concurrent search or add. */
int shoal_faiss_shrink(FaissIndex *index);

/* 1 when index is an IndexHNSW, else 0.  Never fails. */
int shoal_faiss_is_hnsw(const FaissIndex *index);

/* The raw vectors of an HNSW index with Flat storage (or of a flat index):
 * *data points at ntotal * d floats, vector of label i at data + i * d.
 * Borrowed from the index: valid until the next add/reset/free, so read it
 * under the same lock as a search.  Fails for other storage types. */
int shoal_faiss_flat_data(const FaissIndex *index, const float **data);

#ifdef __cplusplus
}
#endif
#endif
