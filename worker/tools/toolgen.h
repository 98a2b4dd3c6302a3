/* toolgen.h -- generated vectors for the worker's measurement tools.
 *
 * By default shaped like real embeddings: 64 clusters of uneven spread in
 * a 16-dimensional latent space, linearly embedded in D dimensions plus a
 * little noise (low intrinsic dimension, which is what HNSW is built for);
 * with uniform, uniform in [-1,1)^D (intrinsic dimension D: the hardest
 * case for any graph index).  A pure function of (seed, index), so a tool
 * can regenerate any vector instead of keeping it.
 */
#ifndef SHOAL_TOOLGEN_H
#define SHOAL_TOOLGEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Writes vectors first..first+n-1 of stream `seed` (dim <= 4096) to out
 * (n * dim floats, caller's).  Not thread-safe on first use (it builds the
 * embedding matrix once per process; one dim per process). */
void toolgen_vectors(uint64_t seed, uint64_t first, size_t n, uint32_t dim, bool uniform,
    float *out);

#endif
