/* fuzz_pgcopy.c -- libFuzzer entry point for the COPY decoders
 * (common/pgcopy.h).
 *
 * The first input byte picks the decoder and its form; the rest is the
 * value.  Every decoder must return (OK or INVALID_ARGUMENT) without
 * reading or writing out of bounds, whatever the bytes.  The input is
 * copied into a buffer of exactly its size so that ASan sees its end.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Icommon \
 *       tests/fuzz/fuzz_pgcopy.c common/pgcopy.c common/status.c -o fuzz_pgcopy
 *   ./fuzz_pgcopy -max_len=4096
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pgcopy.h"

static shoal_code
str_sink(void *arg, const char *s, size_t n, shoal_status *st)
{
	(void)arg;
	(void)st;
	volatile char c = n ? s[0] ^ s[n - 1] : 0;
	(void)c;
	return SHOAL_OK;
}

static shoal_code
json_sink(void *arg, pgcopy_slice key, const pgcopy_jvalue *v, shoal_status *st)
{
	(void)arg;
	(void)st;
	volatile size_t x = key.n;
	if (v->type == PGCOPY_J_STRING && v->s.n)
		x += (unsigned char)v->s.p[v->s.n - 1];
	if (v->type == PGCOPY_J_TAGS)
		for (size_t i = 0; i < v->n_tags; i++)
			x += v->tags[i].n ? (unsigned char)v->tags[i].p[0] : 0;
	(void)x;
	return SHOAL_OK;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t sel = data[0];
	size_t n = size - 1;
	uint8_t *p = malloc(n ? n : 1);
	uint8_t *out = malloc(n + 1);
	char *scratch = malloc(n + 1);
	pgcopy_slice *slices = malloc((n / 2 + 1) * sizeof *slices);
	float *v = malloc(PGCOPY_MAX_DIM * sizeof *v);
	pgcopy_field f[64];
	shoal_status st;
	size_t used, nf;
	bool trailer, b;
	uint32_t dim;
	int64_t i64;
	double d;
	char u[37];

	memcpy(p, data + 1, n);
	bool binary = sel & 0x80;
	pgcopy_type t = (pgcopy_type)((sel >> 3) % (PGCOPY_HALFVEC + 1));
	switch (sel & 7) {
	case 0:
		if (pgcopy_bin_header(p, n, &used, &st) == SHOAL_OK) {
			/* then tuples until the data ends or is bad */
			size_t step;
			while (used < n &&
			    pgcopy_bin_tuple(p + used, n - used, f, 64, &nf, &trailer, &step,
			        &st) == SHOAL_OK)
				used += step;
		}
		break;
	case 1: pgcopy_text_row(p, n, out, f, 64, &nf, &st); break;
	case 2:
		if (pgcopy_vector(t, binary, p, n, v, PGCOPY_MAX_DIM, &dim, &st) == SHOAL_OK)
			pgcopy_vector_check(v, dim, &st);
		break;
	case 3:
		pgcopy_int(t, binary, p, n, &i64, &st);
		pgcopy_float(t, binary, p, n, &d, &st);
		pgcopy_bool(binary, p, n, &b, &st);
		break;
	case 4: pgcopy_uuid(binary, p, n, u, &st); break;
	case 5: pgcopy_text_array(binary, p, n, scratch, str_sink, NULL, &st); break;
	case 6:
		pgcopy_json_fields(binary ? PGCOPY_JSONB : PGCOPY_JSON, binary, p, n, scratch,
		    slices, json_sink, NULL, &st);
		break;
	default: (void)pgcopy_id_hash(p, n); break;
	}
	free(p);
	free(out);
	free(scratch);
	free(slices);
	free(v);
	return 0;
}
