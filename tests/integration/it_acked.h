/* it_acked.h -- checks shared by the online-move tests (it_move.c,
 * it_rebalance.c, it_shard_move.c): a writer records the last
 * acknowledged state of each id (0 never written, -1 deleted, g > 0 live
 * with the vector of generation g), and afterwards every answer is held
 * against it. */
#ifndef SHOAL_IT_ACKED_H
#define SHOAL_IT_ACKED_H

#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "it_common.h"

/* The vector of id at generation gen (dim floats). */
typedef void (*it_vec_fn)(uint64_t id, int gen, float *v);

/* What a load's writer and reader threads saw. */
typedef struct it_seen {
	atomic_long writes, searches, dups;
	atomic_int werrors, rerrors;
	char werr[512], rerr[512];
} it_seen;

/* Pairs of hits of one answer with the same id (0 when none). */
static inline long
it_dup_hits(const shoal_search_result *r)
{
	long n = 0;
	for (size_t a = 0; a < r->n_hits; a++)
		for (size_t b = 0; b < a; b++)
			n += r->hits[a].id == r->hits[b].id;
	return n;
}

/* Notes one search of a reader: rc's error (st), or the answer *r's
 * duplicate hits (*r is freed).  r is passed by address because the
 * search that fills it is the rc argument of the same call, and C does
 * not order the evaluation of arguments. */
static inline void
it_note_search(it_seen *s, shoal_code rc, shoal_search_result **r, const shoal_status *st,
    const char *what)
{
	if (rc != SHOAL_OK) {
		snprintf(s->rerr, sizeof s->rerr, "%s: %.400s", what, st->msg);
		atomic_fetch_add(&s->rerrors, 1);
		return;
	}
	atomic_fetch_add(&s->dups, it_dup_hits(*r));
	shoal_search_result_free(*r);
	atomic_fetch_add(&s->searches, 1);
}

/* Fails the test when the load saw a write or search error or an answer
 * holding an id twice. */
static inline void
it_check_seen(it_seen *s, const char *when)
{
	CHECK(atomic_load(&s->werrors) == 0, "%s: the writer saw %d errors, last: %s", when,
	    atomic_load(&s->werrors), s->werr);
	CHECK(atomic_load(&s->rerrors) == 0, "%s: the reader saw %d errors, last: %s", when,
	    atomic_load(&s->rerrors), s->rerr);
	CHECK(atomic_load(&s->dups) == 0, "%s: a search returned an id twice", when);
}

/* g answered a get of ids first..first+n-1 (with vectors): every id in it
 * comes once, is live in state with the vector of its last acknowledged
 * generation, and every id live in state is there.  Fails the test (what
 * names the check) otherwise; returns the number of points. */
static inline uint64_t
it_check_acked(const char *what, const shoal_get_result *g, uint64_t first, size_t n,
    const int *state, uint32_t dim, it_vec_fn vec)
{
	char *seen = calloc(n ? n : 1, 1);
	float *v = malloc(dim * sizeof(float));
	for (size_t k = 0; k < g->n_points; k++) {
		const shoal_point *p = &g->points[k];
		CHECK(p->id >= first && p->id - first < n, "%s: get returned id %" PRIu64, what,
		    p->id);
		size_t i = (size_t)(p->id - first);
		CHECK(!seen[i], "%s: id %" PRIu64 " returned twice", what, p->id);
		seen[i] = 1;
		int s = state[p->id];
		CHECK(s > 0, "%s: id %" PRIu64 " is present but was %s", what, p->id,
		    s < 0 ? "deleted" : "never written");
		vec(p->id, s, v);
		CHECK(p->dim == dim && memcmp(p->vector, v, dim * sizeof(float)) == 0,
		    "%s: id %" PRIu64 " does not hold generation %d", what, p->id, s);
	}
	for (size_t i = 0; i < n; i++)
		CHECK(seen[i] || state[first + i] <= 0,
		    "%s: id %" PRIu64 " (generation %d, acknowledged) is missing", what,
		    first + (uint64_t)i, state[first + i]);
	free(seen);
	free(v);
	return g->n_points;
}

#endif
