// faiss_capi.cc -- the FAISS C API functions shoal calls, plus faiss_ext.h.
//
// Debian's libfaiss-dev (1.7.3) installs the C API headers
// (faiss/c_api/*.h) but its libfaiss.a has no compiled faiss_* symbols, so
// the worker (C code) could not link.  This unit implements, extern "C",
// exactly the C API functions shoal uses, with the signatures of those
// headers, and behaves as upstream's c_api does: every C++ exception is
// caught at the boundary and becomes a non-zero return (-2 FAISS exception,
// -4 std exception, -1 anything else) plus a thread-local message for
// faiss_get_last_error().  No exception ever crosses into C.
//
// It is the only C++ file of the project.  CMake builds it (target
// shoal_faiss) only when no libfaiss_c is installed; with a real libfaiss_c
// the faiss_ext.h functions would need a separate unit (they rely only on
// the C++ API, so this file could be split then).
//
// OpenMP: searches run in the calling thread, adds of >= 1024 vectors use
// OMP_NUM_THREADS threads (default: every core); see faiss_ext.h for why.
//
// shoal_faiss_hnsw_search does not go through IndexHNSW::search: in 1.7.3,
// HNSW::search sizes its candidate queue from the index-wide
// hnsw.efSearch member and only the stop test reads
// SearchParametersHNSW::efSearch, so a per-query ef (measured: recall@10
// flat at the efSearch=16 level for every requested ef) would need that
// shared member written -- a race between concurrent searches.  Instead it
// runs the HNSW search itself over the index's public graph arrays
// (hnsw.neighbors / neighbor_range / entry_point / max_level): greedy
// descent through the upper levels, then the level-0 beam search of
// Malkov & Yashunin (alg. 2) with a beam of ef.  Filtered-out nodes are
// expanded like any other (the graph stays connected) but never enter the
// k results -- the same filtering semantics as FAISS's IDSelector.

#include <faiss/Index.h>
#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/impl/DistanceComputer.h>
#include <faiss/impl/FaissException.h>
#include <faiss/impl/HNSW.h>
#include <faiss/index_factory.h>
#include <faiss/index_io.h>

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <exception>
#include <memory>
#include <queue>
#include <string>
#include <utility>
#include <vector>

extern "C" {
#include <faiss/c_api/error_c.h>
#include <faiss/c_api/index_factory_c.h>
#include <faiss/c_api/index_io_c.h>
}

#include "faiss_ext.h"

namespace {

// Like upstream: per thread, so concurrent callers do not see each other's
// errors.  The pointer returned by faiss_get_last_error stays valid until
// the next failing call on this thread.
thread_local std::string last_error;

int fail(int code, const char* what) {
    last_error = what ? what : "unknown error";
    return code;
}

// Wraps a call: 0 on success, upstream's codes on exceptions.
template <typename F>
int guarded(F&& f) {
    try {
        f();
        return 0;
    } catch (const faiss::FaissException& e) {
        return fail(FAISS_EXCEPT, e.what());
    } catch (const std::exception& e) {
        return fail(STD_EXCEPT, e.what());
    } catch (...) {
        return fail(UNKNOWN_EXCEPT, "unknown exception");
    }
}

faiss::Index* cxx(FaissIndex* i) {
    return reinterpret_cast<faiss::Index*>(i);
}
const faiss::Index* cxx(const FaissIndex* i) {
    return reinterpret_cast<const faiss::Index*>(i);
}

constexpr faiss::Index::idx_t kParallelAddMin = 1024;

void search_threads() {
    // nthreads-var is per thread: this only affects the calling thread.
    omp_set_num_threads(1);
}

// The process-wide default, read before any thread changed its own:
// OMP_NUM_THREADS when set, else the number of cores.
const int default_threads = omp_get_max_threads();

void add_threads(faiss::Index::idx_t n) {
    omp_set_num_threads(n >= kParallelAddMin ? default_threads : 1);
}

// The label filter of shoal_faiss_hnsw_search.
struct LabelFilter {
    const uint8_t* bitmap;
    size_t nbits;
    shoal_faiss_filter_fn fn;
    void* arg;

    bool keep(int64_t id) const {
        if (bitmap) {
            if (id < 0 || (size_t)id >= nbits)
                return false;
            if (!(bitmap[id >> 3] & (1u << (id & 7))))
                return false;
        }
        return fn == nullptr || fn(arg, id) != 0;
    }
};

const faiss::IndexHNSW* as_hnsw(const FaissIndex* index) {
    auto* h = dynamic_cast<const faiss::IndexHNSW*>(cxx(index));
    if (!h)
        FAISS_THROW_MSG("index is not an HNSW index");
    return h;
}

// Visited marks, one byte per node, reused across searches on this thread
// (FAISS allocates and zeroes ntotal bytes per search call instead).
// A mark is valid iff it equals the current epoch; epoch 0 is never used.
struct Visited {
    std::vector<uint8_t> mark;
    uint8_t epoch = 0;

    void begin(size_t n) {
        if (mark.size() < n)
            mark.resize(n, 0);
        if (++epoch == 0) {
            std::fill(mark.begin(), mark.end(), 0);
            epoch = 1;
        }
    }
    bool test_and_set(size_t i) {
        bool seen = mark[i] == epoch;
        mark[i] = epoch;
        return seen;
    }
};
thread_local Visited visited;

using Node = std::pair<float, faiss::HNSW::storage_idx_t>; // (distance, node)

// Distances as the graph was built with: squared L2, or -ip for inner
// product (FAISS's IndexHNSW negates the same way), so smaller is closer.
struct QueryDistance {
    std::unique_ptr<faiss::DistanceComputer> dc;
    bool negate;
    float operator()(faiss::HNSW::storage_idx_t i) {
        float d = (*dc)(i);
        return negate ? -d : d;
    }
};

// One query: results into D/I (k slots, best first, -1 padded), distances
// in faiss_Index_search's convention (squared L2, or inner product).
void hnsw_search_one(
        const faiss::IndexHNSW& h,
        QueryDistance& qd,
        int64_t k,
        int ef,
        const LabelFilter* filter,
        float* D,
        faiss::Index::idx_t* I) {
    const faiss::HNSW& g = h.hnsw;
    std::vector<Node> res; // max-heap of the best k accepted nodes

    if (g.entry_point >= 0) {
        visited.begin((size_t)h.ntotal);
        faiss::HNSW::storage_idx_t ep = g.entry_point;
        float d_ep = qd(ep);

        // greedy descent through the upper levels (unfiltered)
        for (int level = g.max_level; level >= 1; level--) {
            for (bool moved = true; moved;) {
                moved = false;
                size_t b, e;
                g.neighbor_range(ep, level, &b, &e);
                for (size_t j = b; j < e; j++) {
                    faiss::HNSW::storage_idx_t v = g.neighbors[j];
                    if (v < 0)
                        break;
                    float d = qd(v);
                    if (d < d_ep) {
                        ep = v;
                        d_ep = d;
                        moved = true;
                    }
                }
            }
        }

        // level 0: beam search with a beam of ef
        std::priority_queue<Node, std::vector<Node>, std::greater<Node>> cand;
        std::priority_queue<Node> beam; // max-heap, at most ef entries
        auto offer = [&](faiss::HNSW::storage_idx_t v, float d) {
            if (!filter || filter->keep(v)) {
                if ((int64_t)res.size() < k) {
                    res.emplace_back(d, v);
                    std::push_heap(res.begin(), res.end());
                } else if (d < res.front().first) {
                    std::pop_heap(res.begin(), res.end());
                    res.back() = Node(d, v);
                    std::push_heap(res.begin(), res.end());
                }
            }
        };
        visited.test_and_set((size_t)ep);
        cand.emplace(d_ep, ep);
        beam.emplace(d_ep, ep);
        offer(ep, d_ep);
        while (!cand.empty()) {
            Node c = cand.top();
            if ((int)beam.size() >= ef && c.first > beam.top().first)
                break; // every candidate left is farther than the beam
            cand.pop();
            size_t b, e;
            g.neighbor_range(c.second, 0, &b, &e);
            for (size_t j = b; j < e; j++) {
                faiss::HNSW::storage_idx_t v = g.neighbors[j];
                if (v < 0)
                    break;
                if (visited.test_and_set((size_t)v))
                    continue;
                float d = qd(v);
                if ((int)beam.size() < ef || d < beam.top().first) {
                    cand.emplace(d, v);
                    beam.emplace(d, v);
                    if ((int)beam.size() > ef)
                        beam.pop();
                    offer(v, d);
                }
            }
        }
    }
    std::sort_heap(res.begin(), res.end()); // ascending distance
    for (int64_t i = 0; i < k; i++) {
        if (i < (int64_t)res.size()) {
            D[i] = qd.negate ? -res[i].first : res[i].first;
            I[i] = res[i].second;
        } else {
            D[i] = qd.negate ? -HUGE_VALF : HUGE_VALF;
            I[i] = -1;
        }
    }
}

} // namespace

extern "C" {

// ------------------------------------------------------------ error_c.h

const char* faiss_get_last_error() {
    return last_error.empty() ? nullptr : last_error.c_str();
}

// ------------------------------------------------------------ Index_c.h

void faiss_Index_free(FaissIndex* obj) {
    delete cxx(obj);
}

int faiss_Index_d(const FaissIndex* index) {
    return cxx(index)->d;
}

idx_t faiss_Index_ntotal(const FaissIndex* index) {
    return cxx(index)->ntotal;
}

int faiss_Index_is_trained(const FaissIndex* index) {
    return cxx(index)->is_trained;
}

FaissMetricType faiss_Index_metric_type(const FaissIndex* index) {
    return static_cast<FaissMetricType>(cxx(index)->metric_type);
}

int faiss_Index_add(FaissIndex* index, idx_t n, const float* x) {
    return guarded([&] {
        add_threads(n);
        cxx(index)->add(n, x);
    });
}

int faiss_Index_search(
        const FaissIndex* index,
        idx_t n,
        const float* x,
        idx_t k,
        float* distances,
        idx_t* labels) {
    return guarded([&] {
        search_threads();
        cxx(index)->search(n, x, k, distances, labels);
    });
}

int faiss_Index_reset(FaissIndex* index) {
    return guarded([&] { cxx(index)->reset(); });
}

// ------------------------------------------------------------ index_factory_c.h

int faiss_index_factory(
        FaissIndex** p_index,
        int d,
        const char* description,
        FaissMetricType metric) {
    return guarded([&] {
        *p_index = reinterpret_cast<FaissIndex*>(faiss::index_factory(
                d, description, static_cast<faiss::MetricType>(metric)));
    });
}

// ------------------------------------------------------------ index_io_c.h

int faiss_write_index_fname(const FaissIndex* idx, const char* fname) {
    return guarded([&] { faiss::write_index(cxx(idx), fname); });
}

int faiss_read_index_fname(const char* fname, int io_flags, FaissIndex** p_out) {
    return guarded([&] {
        *p_out = reinterpret_cast<FaissIndex*>(faiss::read_index(fname, io_flags));
    });
}

// ------------------------------------------------------------ faiss_ext.h

int shoal_faiss_hnsw_set_ef_construction(FaissIndex* index, int ef_construction) {
    return guarded([&] {
        FAISS_THROW_IF_NOT_MSG(ef_construction >= 1, "efConstruction must be >= 1");
        auto* h = dynamic_cast<faiss::IndexHNSW*>(cxx(index));
        FAISS_THROW_IF_NOT_MSG(h, "index is not an HNSW index");
        h->hnsw.efConstruction = ef_construction;
    });
}

int shoal_faiss_hnsw_search(
        const FaissIndex* index,
        idx_t n,
        const float* x,
        idx_t k,
        int ef_search,
        const uint8_t* bitmap,
        size_t bitmap_nbits,
        shoal_faiss_filter_fn filter,
        void* filter_arg,
        float* distances,
        idx_t* labels) {
    return guarded([&] {
        FAISS_THROW_IF_NOT_MSG(ef_search >= 1, "efSearch must be >= 1");
        FAISS_THROW_IF_NOT_MSG(k >= 1, "k must be >= 1");
        const faiss::IndexHNSW* h = as_hnsw(index);
        FAISS_THROW_IF_NOT_MSG(h->storage, "HNSW index without storage");
        LabelFilter sel{bitmap, bitmap_nbits, filter, filter_arg};
        QueryDistance qd{
                std::unique_ptr<faiss::DistanceComputer>(
                        h->storage->get_distance_computer()),
                h->metric_type == faiss::METRIC_INNER_PRODUCT};
        int ef = std::max<int64_t>(ef_search, k) > INT32_MAX
                ? INT32_MAX
                : (int)std::max<int64_t>(ef_search, k);
        for (idx_t i = 0; i < n; i++) {
            qd.dc->set_query(x + i * h->d);
            hnsw_search_one(
                    *h,
                    qd,
                    k,
                    ef,
                    (bitmap || filter) ? &sel : nullptr,
                    distances + i * k,
                    labels + i * k);
        }
    });
}

int shoal_faiss_flat_data(const FaissIndex* index, const float** data) {
    return guarded([&] {
        const faiss::Index* i = cxx(index);
        if (auto* h = dynamic_cast<const faiss::IndexHNSW*>(i))
            i = h->storage;
        auto* flat = dynamic_cast<const faiss::IndexFlat*>(i);
        FAISS_THROW_IF_NOT_MSG(flat, "index has no flat float storage");
        *data = flat->get_xb();
    });
}

} // extern "C"
