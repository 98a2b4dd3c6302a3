/* data.c -- shoal-bench's datasets, exact ground truth and recall.
 *
 * Sources:
 *   --gen N,DIM            uniform in [-1,1)^DIM (common/vecio's generator:
 *                          vector i is a pure function of (seed, i)); the
 *                          hardest case for any graph index, since the
 *                          intrinsic dimension is the full DIM.
 *   --gen-clustered N,DIM  a Gaussian mixture on a low-dimensional latent
 *                          space (R dims, C clusters of uneven size)
 *                          linearly embedded in DIM dims plus a little
 *                          isotropic noise: like real embeddings, most of
 *                          the variance lives in few directions and points
 *                          form clumps.  Also a pure function of (seed, i).
 *   --base/--query[/--gt]  .fvecs or .bvecs vectors, .ivecs ground truth
 *                          (TEXMEX / ann-benchmarks formats, little-endian
 *                          int32 dimension before every record).
 *   --idx / --fashion-mnist  IDX files (unsigned bytes, as MNIST ships;
 *                          read through zlib, so .gz or not).
 * Queries of generated sets come from the same distribution with another
 * seed stream, so they are never copies of base points.
 *
 * Ground truth: exact k-NN of every query, computed when not given with a
 * FAISS flat index (BLAS matrix products: 10,000 x 60,000 x 784 takes
 * seconds) for k + 16 candidates, then re-ranked by the exact double
 * precision distance, which removes the float rounding of the
 * |x|^2 + |y|^2 - 2xy expansion.  For cosine the flat index searches the
 * normalized vectors by inner product.
 *
 * Recall counts a returned id as correct when it is at most as far from
 * the query as the k-th true neighbour (ties at the boundary count, as in
 * ann-benchmarks): data with duplicate points (Fashion-MNIST has some)
 * would otherwise punish a correct answer that picked the other copy.
 *
 * Threading: everything here runs on the main thread, except
 * bench_recall_one / bench_brute_force / bench_distance, which are pure.
 */
#include "bench.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include <faiss/c_api/Index_c.h>
#include <faiss/c_api/error_c.h>
#include <faiss/c_api/index_factory_c.h>

#include "util.h"
#include "vecio.h"
#include "vecmath.h"

#define DATA_MAX_DIM 65536u
#define DEFAULT_GEN_QUERIES 1000

/* ===================================================================
 * Distances, recall, brute force
 * =================================================================== */

double
bench_distance(int metric, const float *a, const float *b, uint32_t dim)
{
	double dot = 0, na = 0, nb = 0, l2 = 0;
	switch (metric) {
	case VECMATH_L2:
		for (uint32_t i = 0; i < dim; i++) {
			double d = (double)a[i] - (double)b[i];
			l2 += d * d;
		}
		return sqrt(l2);
	case VECMATH_IP:
		for (uint32_t i = 0; i < dim; i++)
			dot += (double)a[i] * (double)b[i];
		return -dot;
	default:
		for (uint32_t i = 0; i < dim; i++) {
			dot += (double)a[i] * (double)b[i];
			na += (double)a[i] * (double)a[i];
			nb += (double)b[i] * (double)b[i];
		}
		if (na == 0 || nb == 0)
			return 1.0;
		return 1.0 - dot / (sqrt(na) * sqrt(nb));
	}
}

double
bench_recall_one(int metric, const float *base, size_t n_base, uint32_t dim, const float *q,
    double kth_dist, const int64_t *ids, size_t n_ids, uint32_t k)
{
	double tol = 1e-6 * fabs(kth_dist) + 1e-9;
	uint32_t hits = 0;
	size_t m = n_ids < k ? n_ids : k;
	for (size_t i = 0; i < m; i++) {
		int64_t id = ids[i];
		if (id < 0 || (uint64_t)id >= n_base)
			continue;
		bool dup = false;
		for (size_t j = 0; j < i && !dup; j++)
			dup = ids[j] == id;
		if (dup)
			continue;
		if (bench_distance(metric, q, base + (size_t)id * dim, dim) <= kth_dist + tol)
			hits++;
	}
	return (double)hits / (double)k;
}

typedef struct cand {
	double d;
	int32_t id;
} cand;

static int
cand_cmp(const void *a, const void *b)
{
	const cand *x = a, *y = b;
	if (x->d != y->d)
		return x->d < y->d ? -1 : 1;
	return (x->id > y->id) - (x->id < y->id);
}

void
bench_brute_force(int metric, const float *base, size_t n, uint32_t dim, const float *q,
    uint32_t k, int32_t *out)
{
	size_t kk = n < k ? n : k;
	cand *top = xmalloc((kk + 1) * sizeof *top);
	size_t have = 0;
	for (size_t i = 0; i < n; i++) {
		cand c = {bench_distance(metric, q, base + i * dim, dim), (int32_t)i};
		if (have == kk && cand_cmp(&c, &top[kk - 1]) >= 0)
			continue;
		/* insertion into the sorted top list */
		size_t pos = have < kk ? have++ : kk - 1;
		while (pos > 0 && cand_cmp(&c, &top[pos - 1]) < 0) {
			top[pos] = top[pos - 1];
			pos--;
		}
		top[pos] = c;
	}
	for (size_t i = 0; i < kk; i++)
		out[i] = top[i].id;
	free(top);
}

/* ===================================================================
 * Generators
 * =================================================================== */

static uint64_t
splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* The random stream of item `index` in stream `stream` of `seed`. */
static uint64_t
stream_state(uint64_t seed, uint64_t stream, uint64_t index)
{
	uint64_t s = seed ^ (stream * 0xd1b54a32d192ed03ULL);
	uint64_t mixed = splitmix64(&s) ^ index;
	return splitmix64(&mixed);
}

static double
uniform01(uint64_t *s)
{
	return (double)(splitmix64(s) >> 11) * (1.0 / 9007199254740992.0);
}

static double
gaussian(uint64_t *s)
{
	double u = uniform01(s), v = uniform01(s);
	if (u < 1e-300)
		u = 1e-300;
	return sqrt(-2.0 * log(u)) * cos(2.0 * M_PI * v);
}

enum { STREAM_PROJ = 1, STREAM_CENTER = 2, STREAM_BASE = 3, STREAM_QUERY = 4 };

/* The fixed part of the clustered model: projection and centres. */
typedef struct clustered_model {
	uint32_t dim, r, c;
	double *proj;    /* r x dim */
	double *centers; /* c x r */
} clustered_model;

static void
clustered_model_init(clustered_model *m, uint64_t seed, uint32_t dim, uint32_t r, uint32_t c)
{
	m->dim = dim;
	m->r = r;
	m->c = c;
	m->proj = xmalloc((size_t)r * dim * sizeof *m->proj);
	m->centers = xmalloc((size_t)c * r * sizeof *m->centers);
	for (uint32_t i = 0; i < r; i++) {
		uint64_t s = stream_state(seed, STREAM_PROJ, i);
		for (uint32_t j = 0; j < dim; j++)
			m->proj[(size_t)i * dim + j] = gaussian(&s) / sqrt((double)r);
	}
	for (uint32_t i = 0; i < c; i++) {
		uint64_t s = stream_state(seed, STREAM_CENTER, i);
		for (uint32_t j = 0; j < r; j++)
			m->centers[(size_t)i * r + j] = 2.0 * gaussian(&s);
	}
}

static void
clustered_model_free(clustered_model *m)
{
	free(m->proj);
	free(m->centers);
}

/* Point `index` of stream `stream`: a centre picked with a skew (cluster j
 * has weight ~ 1/sqrt(j+1)-ish via u^2), a Gaussian offset of scale 0.6 in
 * the latent space, the projection, and noise of scale 0.05 per dim. */
static void
clustered_point(const clustered_model *m, uint64_t seed, uint64_t stream, uint64_t index,
    double *z, float *out)
{
	uint64_t s = stream_state(seed, stream, index);
	double u = uniform01(&s);
	uint32_t j = (uint32_t)(u * u * m->c);
	if (j >= m->c)
		j = m->c - 1;
	for (uint32_t i = 0; i < m->r; i++)
		z[i] = m->centers[(size_t)j * m->r + i] + 0.6 * gaussian(&s);
	for (uint32_t d = 0; d < m->dim; d++) {
		double x = 0.05 * gaussian(&s);
		for (uint32_t i = 0; i < m->r; i++)
			x += z[i] * m->proj[(size_t)i * m->dim + d];
		out[d] = (float)x;
	}
}

static void
gen_clustered(const bench_data_spec *spec, bench_dataset *ds)
{
	clustered_model m;
	clustered_model_init(&m, spec->seed, ds->dim, spec->intrinsic, spec->clusters);
	double *z = xmalloc(spec->intrinsic * sizeof *z);
	for (size_t i = 0; i < ds->n; i++)
		clustered_point(&m, spec->seed, STREAM_BASE, i, z, ds->base + i * ds->dim);
	for (size_t i = 0; i < ds->nq; i++)
		clustered_point(&m, spec->seed, STREAM_QUERY, i, z, ds->queries + i * ds->dim);
	free(z);
	clustered_model_free(&m);
}

/* ===================================================================
 * .fvecs / .bvecs / .ivecs
 * =================================================================== */

typedef enum { XV_F32, XV_U8, XV_I32 } xvecs_kind;

static bool
ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && strcmp(s + a - b, suffix) == 0;
}

static uint32_t
le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Reads up to `limit` (0 = all) records of an xvecs file.  For F32/U8 the
 * output is floats, for I32 int32s; *out is malloc'ed (caller frees). */
static shoal_code
read_xvecs(const char *path, xvecs_kind kind, size_t limit, void **out, uint32_t *dim_out,
    size_t *count_out, shoal_status *st)
{
	size_t elem = kind == XV_U8 ? 1 : 4;
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return shoal_status_set(st, errno == ENOENT ? SHOAL_NOT_FOUND : SHOAL_INVALID_ARGUMENT,
		    "%s: %s", path, strerror(errno));
	struct stat sb;
	unsigned char hdr[4];
	if (fstat(fileno(f), &sb) != 0 || fread(hdr, 1, 4, f) != 4) {
		fclose(f);
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "%s: empty or unreadable (expected int32 dimension + components per record)",
		    path);
	}
	uint32_t dim = le32(hdr);
	size_t rec = 4 + (size_t)dim * elem;
	if (dim == 0 || dim > DATA_MAX_DIM || (size_t)sb.st_size % rec != 0) {
		fclose(f);
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "%s: first record says dimension %u, but the file size %lld is not a multiple "
		    "of its record size %zu: not a %s file, or truncated",
		    path, dim, (long long)sb.st_size, rec,
		    kind == XV_U8 ? ".bvecs" : kind == XV_I32 ? ".ivecs" : ".fvecs");
	}
	size_t count = (size_t)sb.st_size / rec;
	if (limit > 0 && limit < count)
		count = limit;
	rewind(f);
	unsigned char *buf = xmalloc(rec);
	void *data = xmalloc(count * dim * 4 + 1);
	for (size_t i = 0; i < count; i++) {
		if (fread(buf, 1, rec, f) != rec) {
			free(buf);
			free(data);
			fclose(f);
			return shoal_status_set(st, SHOAL_INVALID_ARGUMENT, "%s: short read at record %zu",
			    path, i);
		}
		if (le32(buf) != dim) {
			uint32_t d = le32(buf);
			free(buf);
			free(data);
			fclose(f);
			return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
			    "%s: record %zu has dimension %u, expected %u like the first", path, i, d, dim);
		}
		if (kind == XV_U8) {
			float *o = (float *)data + i * dim;
			for (uint32_t j = 0; j < dim; j++)
				o[j] = (float)buf[4 + j];
		} else {
			/* little-endian on disk; x86/arm64 hosts are too */
			memcpy((char *)data + i * dim * 4, buf + 4, (size_t)dim * 4);
		}
	}
	free(buf);
	fclose(f);
	if (kind == XV_F32) {
		const float *v = data;
		for (size_t i = 0; i < count * dim; i++)
			if (!isfinite(v[i])) {
				free(data);
				return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
				    "%s: vector %zu component %zu is not finite", path, i / dim, i % dim);
			}
	}
	*out = data;
	*dim_out = dim;
	*count_out = count;
	return SHOAL_OK;
}

static shoal_code
read_vectors_file(const char *path, size_t limit, float **out, uint32_t *dim, size_t *count,
    shoal_status *st)
{
	xvecs_kind kind;
	if (ends_with(path, ".fvecs"))
		kind = XV_F32;
	else if (ends_with(path, ".bvecs"))
		kind = XV_U8;
	else
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "%s: unknown vector file type (expected a name ending in .fvecs or .bvecs)", path);
	return read_xvecs(path, kind, limit, (void **)out, dim, count, st);
}

shoal_code
bench_write_ivecs(const char *path, const int32_t *v, size_t n, uint32_t dim, shoal_status *st)
{
	FILE *f = fopen(path, "wb");
	if (f == NULL)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT, "%s: %s", path, strerror(errno));
	bool ok = true;
	for (size_t i = 0; i < n && ok; i++) {
		int32_t d = (int32_t)dim;
		ok = fwrite(&d, 4, 1, f) == 1 && fwrite(v + i * dim, 4, dim, f) == dim;
	}
	if (fclose(f) != 0)
		ok = false;
	if (!ok)
		return shoal_status_set(st, SHOAL_INTERNAL, "%s: write failed: %s", path,
		    strerror(errno));
	return SHOAL_OK;
}

/* ===================================================================
 * IDX (MNIST format), through zlib
 * =================================================================== */

/* Reads an IDX file of unsigned bytes: magic 00 00 08 NDIMS, NDIMS
 * big-endian uint32 sizes, then the data.  Item i is the product of the
 * sizes after the first.  limit 0 = all. */
static shoal_code
read_idx(const char *path, size_t limit, float **out, uint32_t *dim_out, size_t *count_out,
    shoal_status *st)
{
	gzFile g = gzopen(path, "rb");
	if (g == NULL)
		return shoal_status_set(st, errno == ENOENT ? SHOAL_NOT_FOUND : SHOAL_INVALID_ARGUMENT,
		    "%s: %s", path, errno ? strerror(errno) : "cannot open");
	unsigned char hdr[4];
	if (gzread(g, hdr, 4) != 4 || hdr[0] != 0 || hdr[1] != 0 || hdr[3] < 2) {
		gzclose(g);
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "%s: not an IDX file (expected magic 00 00 <type> <ndims>=2..)", path);
	}
	if (hdr[2] != 0x08) {
		gzclose(g);
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "%s: IDX element type 0x%02x not supported (expected 0x08, unsigned byte)", path,
		    hdr[2]);
	}
	uint32_t sizes[8] = {0};
	int nd = hdr[3];
	if (nd > 8) {
		gzclose(g);
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT, "%s: %d dimensions is too many",
		    path, nd);
	}
	uint64_t dim = 1;
	for (int i = 0; i < nd; i++) {
		unsigned char b[4];
		if (gzread(g, b, 4) != 4) {
			gzclose(g);
			return shoal_status_set(st, SHOAL_INVALID_ARGUMENT, "%s: truncated header", path);
		}
		sizes[i] = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
		if (i > 0)
			dim *= sizes[i];
	}
	if (dim == 0 || dim > DATA_MAX_DIM || sizes[0] == 0) {
		gzclose(g);
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "%s: %u items of %llu bytes: expected >= 1 item of 1..%u bytes", path, sizes[0],
		    (unsigned long long)dim, DATA_MAX_DIM);
	}
	size_t count = sizes[0];
	if (limit > 0 && limit < count)
		count = limit;
	unsigned char *bytes = xmalloc((size_t)dim);
	float *data = xmalloc(count * dim * sizeof *data);
	for (size_t i = 0; i < count; i++) {
		if (gzread(g, bytes, (unsigned)dim) != (int)dim) {
			free(bytes);
			free(data);
			gzclose(g);
			return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
			    "%s: truncated at item %zu of %u", path, i, sizes[0]);
		}
		for (uint64_t j = 0; j < dim; j++)
			data[i * dim + j] = (float)bytes[j];
	}
	free(bytes);
	gzclose(g);
	*out = data;
	*dim_out = (uint32_t)dim;
	*count_out = count;
	return SHOAL_OK;
}

static const char *
base_name(const char *path)
{
	const char *s = strrchr(path, '/');
	return s ? s + 1 : path;
}

/* ===================================================================
 * Loading
 * =================================================================== */

void
bench_dataset_free(bench_dataset *ds)
{
	free(ds->base);
	free(ds->queries);
	free(ds->gt);
	memset(ds, 0, sizeof *ds);
}

shoal_code
bench_dataset_load(const bench_data_spec *spec, bench_dataset *ds, shoal_status *st)
{
	memset(ds, 0, sizeof *ds);
	ds->metric = spec->metric;
	shoal_code rv = SHOAL_OK;

	switch (spec->kind) {
	case DATA_GEN:
	case DATA_GEN_CLUSTERED: {
		if (spec->gen_n == 0 || spec->gen_dim == 0 || spec->gen_dim > DATA_MAX_DIM)
			return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
			    "generated data needs N >= 1 and 1 <= DIM <= %u (got %zu,%u)", DATA_MAX_DIM,
			    spec->gen_n, spec->gen_dim);
		ds->n = spec->gen_n;
		ds->dim = spec->gen_dim;
		ds->nq = spec->queries ? spec->queries : DEFAULT_GEN_QUERIES;
		ds->base = xmalloc(ds->n * ds->dim * sizeof(float));
		ds->queries = xmalloc(ds->nq * ds->dim * sizeof(float));
		if (spec->kind == DATA_GEN) {
			vecio_generate(spec->seed, 0, ds->n, ds->dim, ds->base);
			/* queries: another seed, same distribution */
			vecio_generate(spec->seed ^ 0x5155455259ULL, 0, ds->nq, ds->dim, ds->queries);
			snprintf(ds->name, sizeof ds->name, "gen-uniform-%zux%u", ds->n, ds->dim);
			snprintf(ds->source, sizeof ds->source,
			    "generated: uniform in [-1,1)^%u, seed %llu (queries from another seed)",
			    ds->dim, (unsigned long long)spec->seed);
		} else {
			if (spec->intrinsic == 0 || spec->intrinsic > ds->dim || spec->clusters == 0)
				return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
				    "clustered data needs 1 <= --intrinsic <= DIM (got %u, DIM %u) and "
				    "--clusters >= 1",
				    spec->intrinsic, ds->dim);
			gen_clustered(spec, ds);
			snprintf(ds->name, sizeof ds->name, "gen-clustered-%zux%u", ds->n, ds->dim);
			snprintf(ds->source, sizeof ds->source,
			    "generated: %u Gaussian clusters of uneven size in a %u-dim latent space, "
			    "linearly embedded in %u dims + noise 0.05/dim, seed %llu (queries from "
			    "another stream of the same model)",
			    spec->clusters, spec->intrinsic, ds->dim, (unsigned long long)spec->seed);
		}
		break;
	}
	case DATA_FILES: {
		uint32_t qdim;
		if ((rv = read_vectors_file(spec->base_path, spec->limit, &ds->base, &ds->dim, &ds->n,
		         st)) != SHOAL_OK)
			return rv;
		if ((rv = read_vectors_file(spec->query_path, spec->queries, &ds->queries, &qdim,
		         &ds->nq, st)) != SHOAL_OK) {
			bench_dataset_free(ds);
			return rv;
		}
		if (qdim != ds->dim) {
			bench_dataset_free(ds);
			return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
			    "%s has dimension %u but %s has %u: base and queries must match",
			    spec->base_path, ds->dim, spec->query_path, qdim);
		}
		snprintf(ds->name, sizeof ds->name, "%s", base_name(spec->base_path));
		char *dot = strrchr(ds->name, '.');
		if (dot)
			*dot = '\0';
		snprintf(ds->source, sizeof ds->source, "files: base %s%s, queries %s",
		    spec->base_path, spec->limit ? " (first --limit vectors)" : "", spec->query_path);
		break;
	}
	case DATA_IDX: {
		uint32_t qdim;
		if ((rv = read_idx(spec->base_path, spec->limit, &ds->base, &ds->dim, &ds->n, st)) !=
		    SHOAL_OK)
			return rv;
		if ((rv = read_idx(spec->query_path, spec->queries, &ds->queries, &qdim, &ds->nq,
		         st)) != SHOAL_OK) {
			bench_dataset_free(ds);
			return rv;
		}
		if (qdim != ds->dim) {
			bench_dataset_free(ds);
			return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
			    "%s has %u values per item but %s has %u: base and queries must match",
			    spec->base_path, ds->dim, spec->query_path, qdim);
		}
		snprintf(ds->name, sizeof ds->name, "idx-%zux%u", ds->n, ds->dim);
		snprintf(ds->source, sizeof ds->source,
		    "IDX files: base %s%s, queries %s (pixel bytes as floats 0..255)", spec->base_path,
		    spec->limit ? " (first --limit items)" : "", spec->query_path);
		break;
	}
	default:
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "no data: give --gen N,DIM, --gen-clustered N,DIM, --base/--query files, "
		    "--idx BASE,QUERY or --fashion-mnist");
	}
	if (spec->name)
		snprintf(ds->name, sizeof ds->name, "%s", spec->name);

	if (spec->gt_path) {
		void *gt;
		uint32_t gk;
		size_t gn;
		if (spec->limit > 0) {
			/* the file's neighbours index the full base set */
			snprintf(ds->gt_source, sizeof ds->gt_source,
			    "given %s ignored: it refers to the full base set, not the first --limit "
			    "vectors",
			    spec->gt_path);
			return SHOAL_OK;
		}
		if (!ends_with(spec->gt_path, ".ivecs")) {
			bench_dataset_free(ds);
			return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
			    "%s: ground truth must be an .ivecs file (int32 neighbour indices)",
			    spec->gt_path);
		}
		if ((rv = read_xvecs(spec->gt_path, XV_I32, ds->nq, &gt, &gk, &gn, st)) != SHOAL_OK) {
			bench_dataset_free(ds);
			return rv;
		}
		if (gn < ds->nq) {
			free(gt);
			size_t nq = ds->nq;
			bench_dataset_free(ds);
			return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
			    "%s has ground truth for %zu queries, fewer than the %zu queries", spec->gt_path,
			    gn, nq);
		}
		const int32_t *g = gt;
		for (size_t i = 0; i < gn * gk; i++)
			if (g[i] < 0 || (size_t)g[i] >= ds->n) {
				int32_t bad = g[i];
				size_t n = ds->n;
				free(gt);
				bench_dataset_free(ds);
				return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
				    "%s: query %zu neighbour %zu is %d, outside the base set (0..%zu)",
				    spec->gt_path, i / gk, i % gk, bad, n - 1);
			}
		ds->gt = gt;
		ds->gt_k = gk;
		snprintf(ds->gt_source, sizeof ds->gt_source, "given: %s (%u neighbours per query)",
		    spec->gt_path, gk);
	}
	return SHOAL_OK;
}

/* ===================================================================
 * Ground truth
 * =================================================================== */

static float *
normalized_copy(const float *v, size_t n, uint32_t dim)
{
	float *c = xmalloc(n * dim * sizeof *c);
	memcpy(c, v, n * dim * sizeof *c);
	for (size_t i = 0; i < n; i++)
		vecmath_normalize(c + i * dim, dim);
	return c;
}

shoal_code
bench_exact_knn(int metric, const float *base_in, size_t n, uint32_t dim, const float *queries_in,
    size_t nq_in, uint32_t k, int32_t *out, const char *label, shoal_status *st)
{
	double t0 = bench_now_s();
	size_t kk = n < (size_t)k + 16 ? n : (size_t)k + 16;
	FaissIndex *idx = NULL;
	FaissMetricType fm = metric == VECMATH_L2 ? METRIC_L2 : METRIC_INNER_PRODUCT;
	if (faiss_index_factory(&idx, (int)dim, "Flat", fm) != 0)
		return shoal_status_set(st, SHOAL_INTERNAL, "exact k-NN: faiss flat index: %s",
		    faiss_get_last_error());
	const float *base = base_in, *queries = queries_in;
	float *nbase = NULL, *nq = NULL;
	if (metric == VECMATH_COSINE) {
		base = nbase = normalized_copy(base_in, n, dim);
		queries = nq = normalized_copy(queries_in, nq_in, dim);
	}
	shoal_code rv = SHOAL_OK;
	if (n > 0 && faiss_Index_add(idx, (idx_t)n, base) != 0) {
		rv = shoal_status_set(st, SHOAL_INTERNAL, "exact k-NN: faiss add: %s",
		    faiss_get_last_error());
		goto out;
	}
	free(nbase);
	nbase = NULL;

	const size_t block = 1000;
	float *dist = xmalloc(block * (kk ? kk : 1) * sizeof *dist);
	idx_t *lab = xmalloc(block * (kk ? kk : 1) * sizeof *lab);
	cand *c = xmalloc((kk ? kk : 1) * sizeof *c);
	for (size_t q0 = 0; q0 < nq_in; q0 += block) {
		size_t b = nq_in - q0 < block ? nq_in - q0 : block;
		if (kk > 0 && faiss_Index_search(idx, (idx_t)b, queries + q0 * dim, (idx_t)kk, dist,
		                  lab) != 0) {
			rv = shoal_status_set(st, SHOAL_INTERNAL, "exact k-NN: faiss search: %s",
			    faiss_get_last_error());
			break;
		}
		for (size_t i = 0; i < b; i++) {
			const float *q = queries_in + (q0 + i) * dim;
			size_t m = 0;
			for (size_t j = 0; j < kk; j++) {
				idx_t l = lab[i * kk + j];
				if (l < 0)
					continue;
				c[m].id = (int32_t)l;
				c[m].d = bench_distance(metric, q, base_in + (size_t)l * dim, dim);
				m++;
			}
			qsort(c, m, sizeof *c, cand_cmp);
			for (uint32_t j = 0; j < k; j++)
				out[(q0 + i) * k + j] = j < m ? c[j].id : -1;
		}
		if (label)
			bench_progress("%s: %zu/%zu queries (%.1f s)", label, q0 + b, nq_in,
			    bench_now_s() - t0);
	}
	if (label)
		bench_progress_done();
	free(dist);
	free(lab);
	free(c);
out:
	free(nbase);
	free(nq);
	faiss_Index_free(idx);
	return rv;
}

shoal_code
bench_ground_truth(bench_dataset *ds, uint32_t k, shoal_status *st)
{
	if (ds->gt && ds->gt_k >= k)
		return SHOAL_OK;
	if (ds->gt) {
		bench_progress("ground truth: the given file has %u neighbours per query, k is %u: "
		               "computing it instead", ds->gt_k, k);
		bench_progress_done();
		free(ds->gt);
		ds->gt = NULL;
	}
	if (ds->n < k)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "k = %u but the base set has only %zu vectors", k, ds->n);

	double t0 = bench_now_s();
	ds->gt = xmalloc(ds->nq * k * sizeof *ds->gt);
	ds->gt_k = k;
	shoal_code rv = bench_exact_knn(ds->metric, ds->base, ds->n, ds->dim, ds->queries, ds->nq, k,
	    ds->gt, "ground truth", st);
	if (rv != SHOAL_OK) {
		shoal_status_prefix(st, "ground truth");
		free(ds->gt);
		ds->gt = NULL;
		ds->gt_k = 0;
		return rv;
	}
	/* self-check against plain brute force on a few queries: a wrong
	 * ground truth would silently skew every recall number */
	if (rv == SHOAL_OK) {
		int32_t *bf = xmalloc(k * sizeof *bf);
		size_t step = ds->nq > 8 ? ds->nq / 8 : 1;
		for (size_t q = 0; q < ds->nq && rv == SHOAL_OK; q += step) {
			const float *qv = ds->queries + q * ds->dim;
			bench_brute_force(ds->metric, ds->base, ds->n, ds->dim, qv, k, bf);
			double want = bench_distance(ds->metric, qv, ds->base + (size_t)bf[k - 1] * ds->dim,
			    ds->dim);
			int32_t g = ds->gt[q * k + k - 1];
			double got = g < 0 ? INFINITY
			                   : bench_distance(ds->metric, qv, ds->base + (size_t)g * ds->dim,
			                         ds->dim);
			if (fabs(got - want) > 1e-9 * (1 + fabs(want)))
				rv = shoal_status_set(st, SHOAL_INTERNAL,
				    "ground truth self-check failed for query %zu: k-th distance %.9g, brute "
				    "force says %.9g",
				    q, got, want);
		}
		free(bf);
		if (rv != SHOAL_OK) {
			free(ds->gt);
			ds->gt = NULL;
			ds->gt_k = 0;
			return rv;
		}
	}
	char prev[sizeof ds->gt_source];
	snprintf(prev, sizeof prev, "%s", ds->gt_source);
	snprintf(ds->gt_source, sizeof ds->gt_source,
	    "computed exactly by the harness (FAISS flat search, re-ranked in double precision) "
	    "in %.1f s%s%.150s",
	    bench_now_s() - t0, prev[0] ? "; " : "", prev);
	return SHOAL_OK;
}
