/* vecio.h -- vector files and generated vectors.
 *
 * .fvecs (TEXMEX / ann-benchmarks): each vector is an int32 little-endian
 * dimension d followed by d float32 little-endian components.
 *
 * Generated vectors are a pure function of (seed, index): vector i is the
 * same whichever batch produces it, so a test or the bench can regenerate
 * any vector it loaded.  Components are uniform in [-1, 1).
 */
#ifndef SHOAL_VECIO_H
#define SHOAL_VECIO_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

typedef struct vecio_reader vecio_reader;

/* Opens an .fvecs file, checks that every record has the same dimension
 * (from the file size) and returns it in *dim and the count in *count.
 * INVALID_ARGUMENT with a message for a malformed file. */
shoal_code vecio_open_fvecs(const char *path, vecio_reader **out, uint32_t *dim,
    uint64_t *count, shoal_status *st);

/* Reads up to max vectors into buf (max * dim floats); *got = number read,
 * 0 at end of file. */
shoal_code vecio_read(vecio_reader *r, float *buf, size_t max, size_t *got,
    shoal_status *st);

void vecio_close(vecio_reader *r);

/* Writes n vectors of dim floats as an .fvecs file. */
shoal_code vecio_write_fvecs(const char *path, const float *v, uint64_t n,
    uint32_t dim, shoal_status *st);

/* Fills out[n * dim] with generated vectors first_index .. first_index+n-1. */
void vecio_generate(uint64_t seed, uint64_t first_index, size_t n, uint32_t dim,
    float *out);

/* Parses "0.1,0.2,0.3" or "[0.1, 0.2, 0.3]" (pgvector's text form) into a
 * malloc'ed array (*out, caller frees) of *dim floats. */
shoal_code vecio_parse_text(const char *s, float **out, uint32_t *dim, shoal_status *st);

#endif
