/* vecmath.h -- distances and checks on float32 vectors.
 *
 * Metric numbers are those of shoal.Metric in proto/shoal.proto.  Every
 * distance is "smaller is closer" so that merging results from shards,
 * and comparing with pgvector, is uniform:
 *   cosine: 1 - cos(a, b)            (pgvector <=>)
 *   l2:     Euclidean distance        (pgvector <->; not squared)
 *   ip:     -(a . b)                 (pgvector <#>)
 */
#ifndef SHOAL_VECMATH_H
#define SHOAL_VECMATH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
	VECMATH_COSINE = 1,
	VECMATH_L2 = 2,
	VECMATH_IP = 3,
};

float vecmath_dot(const float *a, const float *b, size_t dim);
float vecmath_l2sq(const float *a, const float *b, size_t dim);
float vecmath_norm(const float *a, size_t dim);

/* Scales v to unit length in place; returns false (v unchanged) when its
 * norm is zero. */
bool vecmath_normalize(float *v, size_t dim);

/* Distance under metric (see above); for cosine, neither input needs to be
 * normalized. */
float vecmath_distance(int metric, const float *a, const float *b, size_t dim);

/* True when every component is finite (no NaN, no Inf). */
bool vecmath_all_finite(const float *v, size_t dim);

/* "cosine" | "l2" | "ip" -> metric number, 0 when unknown; and back. */
int vecmath_metric_parse(const char *s);
const char *vecmath_metric_name(int metric);

#endif
