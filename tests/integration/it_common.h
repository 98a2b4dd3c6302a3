/* it_common.h -- small helpers shared by the integration tests: a client
 * that CHECKs every call, generated data and a brute-force oracle. */
#ifndef SHOAL_IT_COMMON_H
#define SHOAL_IT_COMMON_H

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"
#include "shoal_client.h"
#include "vecio.h"
#include "vecmath.h"

#define OK(call)                                                             \
	do {                                                                 \
		shoal_status st_;                                            \
		shoal_code rc_ = (call);                                     \
		(void)st_;                                                   \
		CHECK(rc_ == SHOAL_OK, "%s failed: %s", #call, shoal_code_name(rc_)); \
	} while (0)

/* Monotonic milliseconds, and a sleep of ms milliseconds. */
static inline long
it_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static inline void
it_sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* Connects to the cluster's coordinator. */
static inline shoal_client *
it_connect(harness_cluster *c)
{
	shoal_client *cl;
	shoal_status st;
	CHECK(shoal_connect(c->coord_url, NULL, &cl, &st) == SHOAL_OK, "connect: %s", st.msg);
	return cl;
}

/* Upserts generated vectors first..first+n-1 (id = index) in batches. */
static inline void
it_load(shoal_client *cl, const char *tenant, const char *coll, uint64_t seed, uint64_t first,
    size_t n, uint32_t dim)
{
	const size_t batch = 1000;
	float *v = malloc(batch * dim * sizeof(float));
	uint64_t *ids = malloc(batch * sizeof(uint64_t));
	for (size_t done = 0; done < n;) {
		size_t m = n - done < batch ? n - done : batch;
		vecio_generate(seed, first + done, m, dim, v);
		for (size_t i = 0; i < m; i++)
			ids[i] = first + done + i;
		shoal_batch b = {.n = m, .dim = dim, .ids = ids, .vectors = v};
		uint32_t up = 0;
		shoal_status st;
		shoal_code rc = shoal_upsert(cl, tenant, coll, &b, &up, &st);
		CHECK(rc == SHOAL_OK, "upsert at %zu: %s: %s", done, shoal_code_name(rc), st.msg);
		CHECK(up == m, "upsert acknowledged %u of %zu", up, m);
		done += m;
	}
	free(v);
	free(ids);
}

/* What a finished move reports it copied: its mb_per_s over its copy_ms
 * must be exactly its rows' bytes plus its index bundles' bytes (both
 * what --max-mbps throttles; decision 141), and index_bytes_copied > 0
 * when `carried` (a graph went with the rows), == 0 when not. */
static inline void
it_check_move_bytes(const shoal_move_info *m, bool carried, const char *what)
{
	double total = (double)(m->bytes_copied + m->index_bytes_copied);
	double reported = m->mb_per_s * 1e6 * ((double)m->copy_ms / 1000.0);
	printf("%s: %.3f MB rows + %.3f MB index in %" PRIu64 " ms of copy, %.3f MB/s\n", what,
	    (double)m->bytes_copied / 1e6, (double)m->index_bytes_copied / 1e6, m->copy_ms,
	    m->mb_per_s);
	CHECK(m->copy_ms > 0 && m->bytes_copied > 0, "%s: copy_ms %" PRIu64 ", %" PRIu64
	    " row bytes", what, m->copy_ms, m->bytes_copied);
	CHECK(carried ? m->index_bytes_copied > 0 : m->index_bytes_copied == 0,
	    "%s: index_bytes_copied %" PRIu64 " (an index was%s carried)", what,
	    m->index_bytes_copied, carried ? "" : " not");
	CHECK(reported >= total * (1 - 1e-9) && reported <= total * (1 + 1e-9),
	    "%s: mb_per_s %.6f over %" PRIu64 " ms is %.0f bytes, copied %.0f (%" PRIu64
	    " rows + %" PRIu64 " index)",
	    what, m->mb_per_s, m->copy_ms, reported, total, m->bytes_copied, m->index_bytes_copied);
}

typedef struct it_pair {
	float d;
	uint64_t id;
} it_pair;

static inline int
it_pair_cmp(const void *a, const void *b)
{
	const it_pair *x = a, *y = b;
	if (x->d != y->d)
		return x->d < y->d ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

/* Brute-force top-k ids of q among base[n*dim] whose live[i] is nonzero
 * (live may be NULL); ids are the row indexes.  out has k entries. */
static inline void
it_topk(int metric, const float *base, const unsigned char *live, size_t n, uint32_t dim,
    const float *q, size_t k, uint64_t *out)
{
	it_pair *p = malloc(n * sizeof *p);
	size_t m = 0;
	for (size_t i = 0; i < n; i++) {
		if (live && !live[i])
			continue;
		p[m].d = vecmath_distance(metric, q, base + i * dim, dim);
		p[m].id = i;
		m++;
	}
	qsort(p, m, sizeof *p, it_pair_cmp);
	for (size_t i = 0; i < k; i++)
		out[i] = i < m ? p[i].id : UINT64_MAX;
	free(p);
}

#endif
