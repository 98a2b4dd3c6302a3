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
 * still traversed, so the graph stays connected, but they occupy the beam:
 * widen ef when many labels are filtered.  Output: distances/labels,
 * n * k each, best first, as faiss_Index_search (squared L2, or inner
 * product); missing results have label -1.  Safe to run concurrently with
 * other searches on the same index (see faiss_capi.cc for why this does
 * not use IndexHNSW::search). */
int shoal_faiss_hnsw_search(const FaissIndex *index, idx_t n, const float *x, idx_t k,
    int ef_search, const uint8_t *bitmap, size_t bitmap_nbits, shoal_faiss_filter_fn filter,
    void *filter_arg, float *distances, idx_t *labels);

/* The raw vectors of an HNSW index with Flat storage (or of a flat index):
 * *data points at ntotal * d floats, vector of label i at data + i * d.
 * Borrowed from the index: valid until the next add/reset/free, so read it
 * under the same lock as a search.  Fails for other storage types. */
int shoal_faiss_flat_data(const FaissIndex *index, const float **data);

#ifdef __cplusplus
}
#endif
#endif
