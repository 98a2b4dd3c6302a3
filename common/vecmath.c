/* vecmath.c -- see vecmath.h.  Plain loops: gcc vectorizes them at -O2
 * with -ftree-vectorize (on by default at -O3 and RelWithDebInfo's -O2 in
 * gcc 12); these run on the coordinator's validation path and in tests,
 * while the hot search path is FAISS. */
#include "vecmath.h"

#include <math.h>
#include <string.h>

float
vecmath_dot(const float *a, const float *b, size_t dim)
{
	float s = 0.0f;
	for (size_t i = 0; i < dim; i++)
		s += a[i] * b[i];
	return s;
}

float
vecmath_l2sq(const float *a, const float *b, size_t dim)
{
	float s = 0.0f;
	for (size_t i = 0; i < dim; i++) {
		float d = a[i] - b[i];
		s += d * d;
	}
	return s;
}

float
vecmath_norm(const float *a, size_t dim)
{
	return sqrtf(vecmath_dot(a, a, dim));
}

bool
vecmath_normalize(float *v, size_t dim)
{
	float n = vecmath_norm(v, dim);
	if (!(n > 0.0f) || !isfinite(n))
		return false;
	for (size_t i = 0; i < dim; i++)
		v[i] /= n;
	return true;
}

float
vecmath_distance(int metric, const float *a, const float *b, size_t dim)
{
	switch (metric) {
	case VECMATH_L2:
		return sqrtf(vecmath_l2sq(a, b, dim));
	case VECMATH_IP:
		return -vecmath_dot(a, b, dim);
	case VECMATH_COSINE:
	default: {
		float na = vecmath_norm(a, dim), nb = vecmath_norm(b, dim);
		if (na == 0.0f || nb == 0.0f)
			return 1.0f; /* pgvector gives NaN; shoal treats zero vectors as orthogonal */
		return 1.0f - vecmath_dot(a, b, dim) / (na * nb);
	}
	}
}

bool
vecmath_all_finite(const float *v, size_t dim)
{
	for (size_t i = 0; i < dim; i++)
		if (!isfinite(v[i]))
			return false;
	return true;
}

int
vecmath_metric_parse(const char *s)
{
	if (s == NULL)
		return 0;
	if (strcmp(s, "cosine") == 0)
		return VECMATH_COSINE;
	if (strcmp(s, "l2") == 0)
		return VECMATH_L2;
	if (strcmp(s, "ip") == 0)
		return VECMATH_IP;
	return 0;
}

const char *
vecmath_metric_name(int metric)
{
	switch (metric) {
	case VECMATH_COSINE: return "cosine";
	case VECMATH_L2: return "l2";
	case VECMATH_IP: return "ip";
	default: return "unspecified";
	}
}
