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
#include <faiss/impl/io.h>
#include <faiss/impl/AuxIndexStructures.h>

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cstring>
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

// ---- distance kernels for the CPU we run on --------------------------
//
// Debian's libfaiss.a is compiled for SSE only, so its distance functions
// use 4-wide vectors even on AVX2 / AVX-512 machines.  Searches (the HNSW
// traversal below and the worker's exact scans) use these instead: the
// same sums, compiled per instruction set with GCC's target attribute and
// picked once at start-up from what the CPU reports (__builtin_cpu_supports).
// SHOAL_SIMD=0 in the environment keeps FAISS's own, SHOAL_SIMD=avx2 skips
// AVX-512 (both for measurements).
// Index builds still use FAISS's distance code (its storage classes are
// what write_index / read_index know how to serialize).

using dist_fn = float (*)(const float*, const float*, size_t);

float l2_plain(const float* a, const float* b, size_t d) {
    float s = 0;
    for (size_t i = 0; i < d; i++) {
        float x = a[i] - b[i];
        s += x * x;
    }
    return s;
}

float ip_plain(const float* a, const float* b, size_t d) {
    float s = 0;
    for (size_t i = 0; i < d; i++)
        s += a[i] * b[i];
    return s;
}

__attribute__((target("avx2,fma"))) float hsum256(__m256 v) {
    __m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    x = _mm_add_ps(x, _mm_movehl_ps(x, x));
    x = _mm_add_ss(x, _mm_shuffle_ps(x, x, 1));
    return _mm_cvtss_f32(x);
}

__attribute__((target("avx2,fma"))) float l2_avx2(const float* a, const float* b, size_t d) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= d; i += 16) {
        __m256 x0 = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
        __m256 x1 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8));
        s0 = _mm256_fmadd_ps(x0, x0, s0);
        s1 = _mm256_fmadd_ps(x1, x1, s1);
    }
    for (; i + 8 <= d; i += 8) {
        __m256 x0 = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
        s0 = _mm256_fmadd_ps(x0, x0, s0);
    }
    float s = hsum256(_mm256_add_ps(s0, s1));
    for (; i < d; i++) {
        float x = a[i] - b[i];
        s += x * x;
    }
    return s;
}

__attribute__((target("avx2,fma"))) float ip_avx2(const float* a, const float* b, size_t d) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= d; i += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
    }
    for (; i + 8 <= d; i += 8)
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    float s = hsum256(_mm256_add_ps(s0, s1));
    for (; i < d; i++)
        s += a[i] * b[i];
    return s;
}

// GCC 12 warns about _mm256_undefined_pd() inside _mm512_reduce_add_ps
// (a false positive: the undefined lanes are masked off).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
__attribute__((target("avx512f"))) float l2_avx512(const float* a, const float* b, size_t d) {
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= d; i += 32) {
        __m512 x0 = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
        __m512 x1 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16));
        s0 = _mm512_fmadd_ps(x0, x0, s0);
        s1 = _mm512_fmadd_ps(x1, x1, s1);
    }
    for (; i + 16 <= d; i += 16) {
        __m512 x0 = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
        s0 = _mm512_fmadd_ps(x0, x0, s0);
    }
    if (i < d) { /* masked tail: no scalar loop */
        __mmask16 m = (__mmask16)((1u << (d - i)) - 1);
        __m512 x0 = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i));
        s1 = _mm512_fmadd_ps(x0, x0, s1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

__attribute__((target("avx512f"))) float ip_avx512(const float* a, const float* b, size_t d) {
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= d; i += 32) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
    }
    for (; i + 16 <= d; i += 16)
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
    if (i < d) {
        __mmask16 m = (__mmask16)((1u << (d - i)) - 1);
        s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), s1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

#pragma GCC diagnostic pop

struct Kernels {
    dist_fn l2, ip; // nullptr: FAISS's own (HNSW search) / plain (exact)
    const char* name;
};

Kernels pick_kernels() {
    const char* env = getenv("SHOAL_SIMD");
    if (env && strcmp(env, "0") == 0)
        return {nullptr, nullptr, "faiss (SHOAL_SIMD=0)"};
    __builtin_cpu_init();
    bool want_avx2 = env && strcmp(env, "avx2") == 0; /* measurements */
    if (!want_avx2 && __builtin_cpu_supports("avx512f"))
        return {l2_avx512, ip_avx512, "avx512f"};
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return {l2_avx2, ip_avx2, "avx2+fma"};
    return {nullptr, nullptr, "faiss (no avx2)"};
}

const Kernels kernels = pick_kernels();

// Distances as the graph was built with: squared L2, or -ip for inner
// product (FAISS's IndexHNSW negates the same way), so smaller is closer.
// With a kernel above: computed on the flat storage's vectors directly;
// otherwise through FAISS's DistanceComputer.
struct QueryDistance {
    std::unique_ptr<faiss::DistanceComputer> dc;
    bool negate;
    dist_fn fn = nullptr;      // kernel for this metric, or nullptr
    const float* xb = nullptr; // storage vectors
    size_t d = 0;
    const float* q = nullptr;
    void set_query(const float* x) {
        q = x;
        if (!fn)
            dc->set_query(x);
    }
    float operator()(faiss::HNSW::storage_idx_t i) {
        float v = fn ? fn(q, xb + (size_t)i * d, d) : (*dc)(i);
        return negate ? -v : v;
    }
};

// One query: results into D/I (k slots, best first, -1 padded), distances
// in faiss_Index_search's convention (squared L2, or inner product).
//
// Level 0 follows hnswlib's filtered search (searchBaseLayerST with an
// isIdAllowed filter), not FAISS 1.7.3's: the beam `top` holds only
// *accepted* nodes, and the search stops only once it holds ef of them and
// the nearest unexpanded candidate is farther than the worst of them.
// Rejected nodes (stale labels, filtered-out points) are still expanded
// while they are closer than that bound or the beam is not full, so the
// search walks through them to reach accepted points: with a filter that
// keeps a fraction p of the points it explores about ef/p nodes and keeps
// its recall, where FAISS's (the beam full of rejected nodes ends the
// search early) would return few or poor results.  Without a filter the
// two are the same algorithm.
void hnsw_search_one(
        const faiss::IndexHNSW& h,
        QueryDistance& qd,
        int64_t k,
        int ef,
        const LabelFilter* filter,
        float* D,
        faiss::Index::idx_t* I) {
    const faiss::HNSW& g = h.hnsw;
    std::vector<Node> res;

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

        // level 0
        std::priority_queue<Node, std::vector<Node>, std::greater<Node>> cand;
        std::priority_queue<Node> top; // max-heap of accepted nodes, <= ef
        float bound = HUGE_VALF;       // worst distance in a full `top`
        auto accept = [&](faiss::HNSW::storage_idx_t v, float d) {
            if (filter && !filter->keep(v))
                return;
            top.emplace(d, v);
            if ((int)top.size() > ef)
                top.pop();
            if ((int)top.size() == ef)
                bound = top.top().first;
        };
        visited.test_and_set((size_t)ep);
        cand.emplace(d_ep, ep);
        accept(ep, d_ep);
        while (!cand.empty()) {
            Node c = cand.top();
            if (c.first > bound)
                break; // top is full and every candidate left is farther
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
                if (d < bound) {
                    cand.emplace(d, v);
                    accept(v, d);
                }
            }
        }
        res.reserve(top.size());
        while (!top.empty()) {
            res.push_back(top.top());
            top.pop();
        }
        std::reverse(res.begin(), res.end()); // ascending distance
    }
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

// faiss::IOWriter / IOReader over the C callbacks of faiss_ext.h.
struct CallbackWriter : faiss::IOWriter {
    shoal_faiss_write_fn fn;
    void* arg;
    size_t operator()(const void* ptr, size_t size, size_t nitems) override {
        if (size == 0 || nitems == 0)
            return nitems;
        if (fn(arg, ptr, size * nitems) != 0)
            FAISS_THROW_MSG("snapshot write failed");
        return nitems;
    }
};

struct BufferReader : faiss::IOReader {
    const uint8_t* p;
    size_t left;
    size_t operator()(void* ptr, size_t size, size_t nitems) override {
        if (size == 0)
            return nitems;
        size_t n = std::min(nitems, left / size);
        memcpy(ptr, p, n * size);
        p += n * size;
        left -= n * size;
        return n;
    }
};

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
        if (auto* flat = dynamic_cast<const faiss::IndexFlat*>(h->storage)) {
            qd.fn = h->metric_type == faiss::METRIC_INNER_PRODUCT ? kernels.ip : kernels.l2;
            qd.xb = flat->get_xb();
            qd.d = (size_t)h->d;
        }
        int ef = std::max<int64_t>(ef_search, k) > INT32_MAX
                ? INT32_MAX
                : (int)std::max<int64_t>(ef_search, k);
        for (idx_t i = 0; i < n; i++) {
            qd.set_query(x + i * h->d);
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

float shoal_faiss_l2sq(const float* a, const float* b, size_t d) {
    return kernels.l2 ? kernels.l2(a, b, d) : l2_plain(a, b, d);
}

float shoal_faiss_dot(const float* a, const float* b, size_t d) {
    return kernels.ip ? kernels.ip(a, b, d) : ip_plain(a, b, d);
}

const char* shoal_faiss_simd_name(void) {
    return kernels.name;
}

int shoal_faiss_serialize(const FaissIndex* index, shoal_faiss_write_fn fn, void* arg) {
    return guarded([&] {
        CallbackWriter w;
        w.fn = fn;
        w.arg = arg;
        faiss::write_index(cxx(index), &w);
    });
}

int shoal_faiss_deserialize(const void* data, size_t len, FaissIndex** out) {
    return guarded([&] {
        BufferReader r;
        r.p = static_cast<const uint8_t*>(data);
        r.left = len;
        std::unique_ptr<faiss::Index> idx(faiss::read_index(&r));
        FAISS_THROW_IF_NOT_MSG(r.left == 0, "trailing bytes after the index");
        *out = reinterpret_cast<FaissIndex*>(idx.release());
    });
}

size_t shoal_faiss_memory_bytes(const FaissIndex* index) {
    const faiss::Index* i = cxx(index);
    size_t bytes = 0;
    if (auto* h = dynamic_cast<const faiss::IndexHNSW*>(i)) {
        const faiss::HNSW& g = h->hnsw;
        bytes += g.neighbors.capacity() * sizeof(g.neighbors[0]) +
                g.offsets.capacity() * sizeof(g.offsets[0]) +
                g.levels.capacity() * sizeof(g.levels[0]) +
                g.assign_probas.capacity() * sizeof(g.assign_probas[0]) +
                g.cum_nneighbor_per_level.capacity() * sizeof(int);
        i = h->storage;
    }
    if (auto* f = dynamic_cast<const faiss::IndexFlatCodes*>(i))
        bytes += f->codes.capacity();
    return bytes + sizeof(faiss::IndexHNSW);
}

namespace {
// FAISS polls its (process-wide) InterruptCallback during long HNSW adds.
struct StopCallback : faiss::InterruptCallback {
    int (*fn)(void*);
    void* arg;
    bool want_interrupt() override {
        return fn(arg) != 0;
    }
};
} // namespace

void shoal_faiss_set_interrupt(int (*fn)(void* arg), void* arg) {
    std::lock_guard<std::mutex> g(faiss::InterruptCallback::lock);
    if (fn == nullptr) {
        faiss::InterruptCallback::instance.reset();
        return;
    }
    auto* cb = new StopCallback();
    cb->fn = fn;
    cb->arg = arg;
    faiss::InterruptCallback::instance.reset(cb);
}

int shoal_faiss_shrink(FaissIndex* index) {
    return guarded([&] {
        faiss::Index* i = cxx(index);
        if (auto* h = dynamic_cast<faiss::IndexHNSW*>(i)) {
            h->hnsw.neighbors.shrink_to_fit();
            h->hnsw.offsets.shrink_to_fit();
            h->hnsw.levels.shrink_to_fit();
            i = h->storage;
        }
        if (auto* f = dynamic_cast<faiss::IndexFlatCodes*>(i))
            f->codes.shrink_to_fit();
    });
}

int shoal_faiss_is_hnsw(const FaissIndex* index) {
    return dynamic_cast<const faiss::IndexHNSW*>(cxx(index)) != nullptr;
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
