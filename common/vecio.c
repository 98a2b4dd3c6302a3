/* vecio.c -- .fvecs files, generated vectors, vector text (see vecio.h).
 *
 * .fvecs validation happens in two places:
 *   open:  the first record's dimension d must be in 1..VECIO_MAX_DIM and
 *          the file size a whole multiple of the record size 4 + 4*d, so a
 *          truncated download or a wrong file type fails before any row
 *          is loaded;
 *   read:  every record's own header must repeat d, and every component
 *          must be finite; the message names the record.
 * Checking every header at open would cost a seek per record (1M seeks for
 * a SIFT base file) for an error that read finds anyway.
 *
 * Generated vectors: vector i is seeded by mixing (seed, i) through
 * splitmix64's finaliser, then its components come from that splitmix64
 * stream; so vector i is the same whichever batch produces it and whatever
 * the batch boundaries are.  A component is the top 24 bits of a draw,
 * u in [0,1) with 2^-24 resolution, mapped to 2u - 1, which is exact in
 * float32 and lies in [-1, 1).
 *
 * Byte order: the format is little-endian; the code decodes headers byte by
 * byte and swaps float words on a big-endian host.
 *
 * Threading: a vecio_reader belongs to one thread; everything else is pure.
 */
#include "vecio.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define VECIO_MAX_DIM 65536u

struct vecio_reader {
	FILE *f;
	char *path;       /* for messages */
	uint32_t dim;
	uint64_t count;   /* records in the file */
	uint64_t next;    /* index of the next record to read */
};

/* ===================================================================
 * Byte order
 * =================================================================== */

static uint32_t
le32_decode(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

static void
le32_encode(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

/* Converts n floats between file (little-endian) and host order in place;
 * a no-op on little-endian hosts. */
static void
floats_le_swap(float *v, size_t n)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	for (size_t i = 0; i < n; i++) {
		uint32_t w;
		memcpy(&w, &v[i], 4);
		w = __builtin_bswap32(w);
		memcpy(&v[i], &w, 4);
	}
#else
	(void)v;
	(void)n;
#endif
}

/* ===================================================================
 * Reading
 * =================================================================== */

shoal_code
vecio_open_fvecs(const char *path, vecio_reader **out, uint32_t *dim,
    uint64_t *count, shoal_status *st)
{
	unsigned char hdr[4];
	struct stat sb;
	vecio_reader *r;
	uint64_t recsz;
	uint32_t d;
	FILE *f;

	*out = NULL;
	if ((f = fopen(path, "rb")) == NULL)
		return shoal_status_set(st,
		    errno == ENOENT ? SHOAL_NOT_FOUND : SHOAL_INVALID_ARGUMENT,
		    "%s: %s", path, strerror(errno));
	if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
		fclose(f);
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "%s: not a regular file", path);
	}
	if (sb.st_size == 0) {
		fclose(f);
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "%s: empty file, expected .fvecs records (int32 dimension, "
		    "then that many float32)", path);
	}
	if (sb.st_size < 4 || fread(hdr, 1, 4, f) != 4) {
		fclose(f);
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "%s: too short for an .fvecs header (%lld bytes)", path,
		    (long long)sb.st_size);
	}
	d = le32_decode(hdr);
	if (d == 0 || d > VECIO_MAX_DIM) {
		fclose(f);
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "%s: first record has dimension %d, expected 1..%u (is this an "
		    ".fvecs file?)", path, (int32_t)d, VECIO_MAX_DIM);
	}
	recsz = 4 + 4 * (uint64_t)d;
	if ((uint64_t)sb.st_size % recsz != 0) {
		fclose(f);
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "%s: size %lld is not a multiple of the record size %llu "
		    "(4 + 4 * dimension %u): truncated or not .fvecs", path,
		    (long long)sb.st_size, (unsigned long long)recsz, d);
	}
	rewind(f);

	if ((r = calloc(1, sizeof *r)) == NULL || (r->path = strdup(path)) == NULL) {
		free(r);
		fclose(f);
		return shoal_status_set(st, SHOAL_RESOURCE_EXHAUSTED, "out of memory");
	}
	r->f = f;
	r->dim = d;
	r->count = (uint64_t)sb.st_size / recsz;
	*out = r;
	if (dim != NULL)
		*dim = d;
	if (count != NULL)
		*count = r->count;
	return SHOAL_OK;
}

shoal_code
vecio_read(vecio_reader *r, float *buf, size_t max, size_t *got, shoal_status *st)
{
	unsigned char hdr[4];
	size_t n = 0;

	*got = 0;
	while (n < max && r->next < r->count) {
		float *v = buf + n * (size_t)r->dim;
		uint32_t d;

		if (fread(hdr, 1, 4, r->f) != 4 ||
		    fread(v, 4, r->dim, r->f) != r->dim)
			return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
			    "%s: read error at record %llu: %s", r->path,
			    (unsigned long long)r->next,
			    ferror(r->f) ? strerror(errno) : "unexpected end of file");
		d = le32_decode(hdr);
		if (d != r->dim)
			return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
			    "%s: record %llu has dimension %d, but the first record "
			    "has %u (every record must have the same dimension)",
			    r->path, (unsigned long long)r->next, (int32_t)d, r->dim);
		floats_le_swap(v, r->dim);
		for (uint32_t j = 0; j < r->dim; j++)
			if (!isfinite(v[j]))
				return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
				    "%s: record %llu component %u is %s (vectors must be "
				    "finite)", r->path, (unsigned long long)r->next, j,
				    isnan(v[j]) ? "NaN" : "infinite");
		r->next++;
		n++;
		*got = n;
	}
	return SHOAL_OK;
}

void
vecio_close(vecio_reader *r)
{
	if (r == NULL)
		return;
	fclose(r->f);
	free(r->path);
	free(r);
}

/* ===================================================================
 * Writing
 * =================================================================== */

shoal_code
vecio_write_fvecs(const char *path, const float *v, uint64_t n, uint32_t dim,
    shoal_status *st)
{
	unsigned char hdr[4];
	float *tmp = NULL;
	FILE *f;

	if (dim == 0 || dim > VECIO_MAX_DIM)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "dimension %u out of range, expected 1..%u", dim, VECIO_MAX_DIM);
	if ((f = fopen(path, "wb")) == NULL)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT, "%s: %s", path,
		    strerror(errno));
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	if ((tmp = malloc((size_t)dim * 4)) == NULL) {
		fclose(f);
		return shoal_status_set(st, SHOAL_RESOURCE_EXHAUSTED, "out of memory");
	}
#endif
	le32_encode(hdr, dim);
	for (uint64_t i = 0; i < n; i++) {
		const float *row = v + i * dim;
		if (tmp != NULL) {
			memcpy(tmp, row, (size_t)dim * 4);
			floats_le_swap(tmp, dim);
			row = tmp;
		}
		if (fwrite(hdr, 1, 4, f) != 4 || fwrite(row, 4, dim, f) != dim)
			break;
	}
	free(tmp);
	if (ferror(f) | (fclose(f) != 0))
		return shoal_status_set(st, SHOAL_INTERNAL, "%s: write failed: %s",
		    path, strerror(errno));
	return SHOAL_OK;
}

/* ===================================================================
 * Generated vectors
 * =================================================================== */

static uint64_t
splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

void
vecio_generate(uint64_t seed, uint64_t first_index, size_t n, uint32_t dim,
    float *out)
{
	for (size_t i = 0; i < n; i++) {
		/* Two rounds so that (seed, index) and (seed', index') with
		 * seed ^ index == seed' ^ index' still get unrelated streams. */
		uint64_t s = seed;
		uint64_t mixed = splitmix64(&s) ^ (first_index + i);
		uint64_t state = splitmix64(&mixed);

		for (uint32_t j = 0; j < dim; j++) {
			uint64_t x = splitmix64(&state);
			float u = (float)(x >> 40) * (1.0f / 16777216.0f);
			out[i * dim + j] = 2.0f * u - 1.0f;
		}
	}
}

/* ===================================================================
 * Text
 * =================================================================== */

static const char *
skip_space(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	return p;
}

shoal_code
vecio_parse_text(const char *s, float **out, uint32_t *dim, shoal_status *st)
{
	const char *p = skip_space(s);
	size_t cap = 16, n = 0;
	bool bracket = false;
	shoal_code rv;
	float *v;

	*out = NULL;
	*dim = 0;
	if (*p == '[') {
		bracket = true;
		p = skip_space(p + 1);
	}
	if (*p == '\0' || (bracket && *p == ']'))
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "empty vector, expected numbers like \"0.1,0.2,0.3\"");
	if ((v = malloc(cap * sizeof *v)) == NULL)
		return shoal_status_set(st, SHOAL_RESOURCE_EXHAUSTED, "out of memory");

	for (;;) {
		char *end;
		float x;

		/* strtof would also take "nan", "inf" and hex; say what is
		 * accepted instead of silently storing a non-finite value. */
		if (*p != '-' && *p != '+' && *p != '.' && (*p < '0' || *p > '9'))
			goto junk;
		x = strtof(p, &end);
		if (end == p)
			goto junk;
		/* overflow gives +-HUGE_VALF; underflow gives a tiny finite
		 * value, accepted as pgvector does */
		if (!isfinite(x)) {
			rv = shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
			    "component %zu \"%.*s\" is %s, vectors must be finite "
			    "float32 values", n, (int)(end - p), p,
			    isnan(x) ? "NaN" : "not finite (out of float range)");
			goto fail;
		}
		if (n == cap) {
			float *nv;
			if (cap >= VECIO_MAX_DIM ||
			    (nv = realloc(v, 2 * cap * sizeof *v)) == NULL) {
				if (cap >= VECIO_MAX_DIM)
					rv = shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
					    "vector has more than %u components", VECIO_MAX_DIM);
				else
					rv = shoal_status_set(st, SHOAL_RESOURCE_EXHAUSTED,
					    "out of memory");
				goto fail;
			}
			v = nv;
			cap *= 2;
		}
		v[n++] = x;
		p = skip_space(end);
		if (*p == ',') {
			p = skip_space(p + 1);
			continue;
		}
		if (bracket) {
			if (*p != ']')
				goto junk;
			p = skip_space(p + 1);
		}
		if (*p != '\0')
			goto junk;
		break;
	}
	*out = v;
	*dim = (uint32_t)n;
	return SHOAL_OK;

junk:
	rv = shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
	    "cannot parse vector at offset %zu (\"%.16s\"): expected "
	    "comma-separated numbers like \"0.1,0.2\" or \"[0.1, 0.2]\"",
	    (size_t)(p - s), *p ? p : "end of text");
fail:
	free(v);
	return rv;
}
