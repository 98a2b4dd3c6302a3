/* toolgen.c -- generated vectors for the worker's tools (toolgen.h). */
#include <stdlib.h>

#include "toolgen.h"
#include "util.h"
#include "vecio.h"

#define LATENT 16
static float *embed; /* LATENT x D, fixed */

void
toolgen_vectors(uint64_t seed, uint64_t first, size_t n, uint32_t dim, bool uniform, float *out)
{
	float z[LATENT], c[LATENT], noise[4096];

	if (uniform) {
		vecio_generate(seed, first, n, dim, out);
		return;
	}
	if (embed == NULL) {
		embed = xmalloc((size_t)LATENT * dim * sizeof *embed);
		vecio_generate(1000003, 0, LATENT, dim, embed);
	}
	for (size_t i = 0; i < n; i++) {
		uint64_t id = first + i;
		uint64_t cl = (id * 0x9E3779B97F4A7C15ULL) >> 58; /* 64 clusters */
		vecio_generate(1000004, cl, 1, LATENT, c);
		vecio_generate(seed, id, 1, LATENT, z);
		vecio_generate(seed + 7777, id, 1, dim, noise);
		float spread = 0.1f + 0.3f * (float)(cl % 4) / 3.0f;
		for (uint32_t j = 0; j < dim; j++) {
			float x = 0;
			for (int l = 0; l < LATENT; l++)
				x += (2.0f * c[l] + spread * z[l]) * embed[l * dim + j];
			out[i * dim + j] = x + 0.02f * noise[j];
		}
	}
}
