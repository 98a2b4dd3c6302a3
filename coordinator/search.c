/* search.c -- the Search handler for every placement model: plan, scatter,
 * gather, merge, explain.
 *
 * Plan.  The request is turned into targets, one per shard to search:
 *   dedicated tenant   1 target: the collection's shard on the tenant's worker
 *   shared + key       1 target: the key's shard (shardmap.h), partition = key
 *   shared, no key     S targets: every shard, partition ""
 *   reference          1 target: a readable replica (dist.c), failing over
 * Each target carries the placement epoch of its shard.
 *
 * Scatter.  Targets are grouped by worker: ONE request per worker carries
 * all of its shards (Worker.MultiSearch; a lone target without --explain
 * goes as a plain Worker.Search, the cheapest path).  All requests are in
 * flight at once (router_call_all: rpc_client_start, no thread per call), each with
 * the caller's remaining deadline less a reply margin.  A worker whose
 * heartbeats stopped is not called at all: its shards fail at once.
 *
 * Gather.  Per shard: hits (closest first), or a failure.  A routing
 * refusal (FAILED_PRECONDITION + epoch) re-reads the placement and sends
 * the shard again where it now lives, in another round (at most
 * ROUTER_MAX_REROUTES); a reference replica that cannot be reached is
 * replaced by the next readable one.  A worker that did not answer
 * (UNAVAILABLE, DEADLINE_EXCEEDED, CANCELLED) makes its shards "missing":
 * without allow_partial the search fails with that worker's error (naming
 * it and its URL); with allow_partial the others' hits are returned with
 * complete = false and missing_workers naming it.  Any other shard error
 * fails the search.
 *
 * Per-shard k.  Hash distribution makes each of S shards a random ~1/S
 * of the points, so the number of the global top k held by one shard is
 * about Binomial(k, 1/S): for k = 10 over 32 shards, 0 or 1 for 96% of the
 * shards, 4 or more with probability 1.7e-4.  A scatter therefore asks
 * each shard in its first round for only k_s <= k hits (search_scatter_k():
 * the smallest k_s with S x P(X >= k_s) <= SCATTER_REFINE_BUDGET, 1%), and
 * the worker sizes the shard's beam from k_s (worker/shard_graph.h): a
 * smaller answer needs a smaller beam and a smaller reply (measured: a
 * modest saving, since a graph walk's descent costs about as much as its
 * beam at these sizes; coordinator/README.md).  Nothing is lost by it:
 * after the merge, every shard that returned k_s hits of which the last
 * is not behind the merged k-th (by (distance, id)), or any full shard
 * when fewer than k were merged, may hold more of the top k, and is asked
 * again for k in one more round (refine_round(); a 1% event when the key
 * is independent of the vectors, frequent when it is not -- then correct
 * and slower).  A shard whose k_s-th hit lies behind the merged k-th has
 * none of the top k beyond what it returned, since the merged k-th can
 * only move closer; so exact mode stays exactly the brute-force top k.
 * explain shows k_s in the plan line and the shards asked again.
 *
 * Joint answers.  A worker may answer a keyless scatter's shards from one
 * graph over all of its shards of the collection (worker/coll_graph.h)
 * instead of one search per shard: those results are marked `joint`, and
 * together hold that worker's top k (not k_s) over all of them, so a shard
 * there can return more than k_s hits, and none of them is asked again --
 * the merged top k cannot hold more of theirs than their joint top k.
 * Exact searches are never answered jointly.  explain's plan line counts
 * the shards answered that way.
 *
 * Merge.  shardmap_merge(): the k closest by (distance, id), each id once.
 * complete = every shard answered and said complete.
 *
 * Explain.  With SearchRequest.explain the reply carries the plan line,
 * every shard (worker, partition, candidates, search time, status, epoch),
 * every worker request (shards, round trip, status), merge and total time,
 * and the number of re-routing rounds.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "router_int.h"
#include "shardmap.h"
#include "util.h"

typedef enum tstate { T_PENDING, T_OK, T_FAILED, T_REROUTE } tstate;

typedef struct target {
	uint32_t index;            /* shard index; replica number for reference */
	uint64_t shard_id;
	char worker[CATALOG_NAME_MAX];
	uint64_t epoch;
	const char *partition;     /* the key, or "" */
	tstate state;
	shoal_status st;           /* T_FAILED / T_REROUTE: why */
	uint64_t reply_epoch;      /* T_REROUTE: the worker's epoch */
	bool unreachable;          /* T_FAILED because the worker did not answer */
	Shoal__Hit **hits;         /* T_OK: points into a kept reply */
	size_t n_hits;
	bool complete;
	bool joint;                /* T_OK: answered by a worker's collection
	                            * graph with its other joint shards ("Joint
	                            * answers" above) */
	uint64_t micros;           /* search time on the worker (or round trip) */
} target;

typedef struct plan {
	const Shoal__SearchRequest *in;
	catalog_kind kind;
	catalog_collection dc;     /* dedicated */
	catalog_dcoll d;           /* shared, reference */
	target *t;
	size_t n;
	/* reference: readable replicas in order of preference */
	size_t *rep_order, n_rep, rep_next;
	/* replies kept until the answer is packed */
	rpc_result *keep;
	size_t n_keep, cap_keep;
	/* explain: one entry per worker request, over all rounds */
	Shoal__WorkerExplain *wx;
	size_t n_wx, cap_wx;
	uint32_t retries;
	uint32_t scatter;          /* shards of a keyless scatter (per-shard ef
	                            * on the workers: worker/shard_graph.h); 0 */
	uint32_t round_k;          /* k each shard is asked for in the next round */
	uint32_t shard_k;          /* a scatter's first-round k per shard (< k:
	                            * "Per-shard k" above); else k */
	uint32_t refined;          /* shards asked again for k */
	char plan_line[400];
} plan;

static bool
is_unreachable(shoal_code c)
{
	return c == SHOAL_UNAVAILABLE || c == SHOAL_DEADLINE_EXCEEDED || c == SHOAL_CANCELLED;
}

static void
keep_reply(plan *p, rpc_result *res)
{
	if (p->n_keep == p->cap_keep) {
		p->cap_keep = p->cap_keep ? p->cap_keep * 2 : 8;
		p->keep = xrealloc(p->keep, p->cap_keep * sizeof *p->keep);
	}
	p->keep[p->n_keep++] = *res;
	res->reply = NULL;
}

static void
plan_free(plan *p)
{
	for (size_t i = 0; i < p->n_keep; i++)
		rpc_result_free(&p->keep[i]);
	free(p->keep);
	for (size_t i = 0; i < p->n_wx; i++) {
		free(p->wx[i].worker);
		free(p->wx[i].url);
		free(p->wx[i].message);
	}
	free(p->wx);
	free(p->t);
	free(p->rep_order);
	catalog_dcoll_clear(&p->d);
}

/* ===================================================================
 * Planning
 * =================================================================== */

static void
target_set(target *t, uint32_t index, uint64_t shard, const catalog_place *pl,
    const char *partition)
{
	memset(t, 0, sizeof *t);
	t->index = index;
	t->shard_id = shard;
	memcpy(t->worker, pl->worker, CATALOG_NAME_MAX);
	t->epoch = pl->epoch;
	t->partition = partition;
	t->state = T_PENDING;
}

#define SCATTER_REFINE_BUDGET 0.01

/* router_int.h */
uint32_t
search_scatter_k(uint32_t k, uint32_t shards)
{
	if (shards <= 1 || k <= 1)
		return k;
	double p = 1.0 / shards, lq = log1p(-p), odds = log(p) - lq;
	double budget = SCATTER_REFINE_BUDGET / shards, cdf = 0, lpmf = k * lq; /* P(X = 0) */
	for (uint32_t c = 0; c + 1 < k; c++) {
		cdf += exp(lpmf); /* P(X <= c) */
		if (1.0 - cdf <= budget)
			return c + 1;
		lpmf += log((double)(k - c) / (c + 1)) + odds; /* P(X = c + 1) */
	}
	return k;
}

/* Resolves the collection, validates the request and makes the targets. */
static shoal_code
plan_make(router *r, plan *p, shoal_status *st)
{
	const Shoal__SearchRequest *in = p->in;
	bool has_key = in->key != NULL && in->key[0] != '\0';
	shoal_code rv;

	if (in->tenant != NULL && in->tenant[0] != '\0') {
		p->kind = CATALOG_DEDICATED;
		if ((rv = util_check_name("tenant", in->tenant, st)) != SHOAL_OK ||
		    (rv = util_check_name("collection", in->collection, st)) != SHOAL_OK ||
		    (rv = catalog_get_collection(r->cat, in->tenant, in->collection, &p->dc, st)) !=
			SHOAL_OK)
			return rv;
	} else {
		if ((rv = util_check_name("collection", in->collection, st)) != SHOAL_OK ||
		    (rv = catalog_get_dcoll(r->cat, in->collection, &p->d, st)) != SHOAL_OK)
			return rv;
		p->kind = p->d.kind;
		if (p->kind == CATALOG_SHARED && p->d.nplaces != p->d.nshards)
			return shoal_status_set(st, SHOAL_INTERNAL,
			    "catalog: shared collection '%s' has %u shards but a map of %u",
			    p->d.name, p->d.nshards, p->d.nplaces);
	}
	if (in->k < 1 || in->k > ROUTER_MAX_K)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "k must be between 1 and %u, got %u", ROUTER_MAX_K, in->k);
	uint32_t dim = p->kind == CATALOG_DEDICATED ? p->dc.dim : p->d.dim;
	const char *name = p->kind == CATALOG_DEDICATED ? p->dc.name : p->d.name;
	if ((rv = router_check_vector(in->vector, in->n_vector, dim, name, "query", st)) !=
	    SHOAL_OK)
		return rv;
	if (has_key && p->kind != CATALOG_SHARED)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "a key applies to shared collections; '%s' is a %s collection", name,
		    p->kind == CATALOG_DEDICATED ? "tenant's" : "reference");
	if (has_key && (rv = shardmap_check_key(in->key, st)) != SHOAL_OK)
		return rv;

	p->shard_k = p->round_k = in->k;
	switch (p->kind) {
	case CATALOG_DEDICATED: {
		catalog_place pl;
		memcpy(pl.worker, p->dc.worker, CATALOG_NAME_MAX);
		pl.epoch = p->dc.epoch;
		p->n = 1;
		p->t = xcalloc(1, sizeof *p->t);
		target_set(&p->t[0], 0, p->dc.shard_id, &pl, "");
		snprintf(p->plan_line, sizeof p->plan_line,
		    "dedicated tenant '%s': shard %" PRIu64 " on worker %s", p->dc.tenant,
		    p->dc.shard_id, p->dc.worker);
		break;
	}
	case CATALOG_SHARED:
		if (has_key) {
			uint64_t h = shardmap_hash(in->key, strlen(in->key));
			uint32_t s = shardmap_shard_of(h, p->d.nshards);
			p->n = 1;
			p->t = xcalloc(1, sizeof *p->t);
			target_set(&p->t[0], s, p->d.first_shard + s, &p->d.places[s], in->key);
			snprintf(p->plan_line, sizeof p->plan_line,
			    "key '%.64s' (hash %016" PRIx64 ") -> shard %u of %u (id %" PRIu64
			    ") on worker %s, partition of the key", in->key, h, s, p->d.nshards,
			    p->d.first_shard + s, p->d.places[s].worker);
		} else {
			size_t nw = 0;
			p->n = p->d.nshards;
			p->scatter = p->d.nshards;
			p->t = xcalloc(p->n, sizeof *p->t);
			for (uint32_t s = 0; s < p->d.nshards; s++) {
				bool dup = false;
				target_set(&p->t[s], s, p->d.first_shard + s, &p->d.places[s], "");
				for (uint32_t j = 0; j < s && !dup; j++)
					dup = strcmp(p->d.places[j].worker, p->d.places[s].worker) == 0;
				nw += !dup;
			}
			p->shard_k = p->round_k = search_scatter_k(in->k, p->d.nshards);
			snprintf(p->plan_line, sizeof p->plan_line,
			    "no key: scatter to all %u shards on %zu worker%s, one request per worker, "
			    "top %u per shard, top %u merged by distance", p->d.nshards, nw,
			    nw == 1 ? "" : "s", p->shard_k, in->k);
		}
		break;
	case CATALOG_REFERENCE:
		p->rep_order = xcalloc(p->d.nplaces ? p->d.nplaces : 1, sizeof *p->rep_order);
		p->n_rep = dist_readable_replicas(r, &p->d, p->rep_order);
		if (p->n_rep == 0) {
			/* no_replica() lives in dist.c; say it here the same way */
			return shoal_status_set(st, SHOAL_UNAVAILABLE,
			    "no up-to-date replica of reference collection '%s' can be read (%u "
			    "replicas: down or catching up)", p->d.name, p->d.nplaces);
		}
		p->n = 1;
		p->t = xcalloc(1, sizeof *p->t);
		p->rep_next = 1;
		target_set(&p->t[0], (uint32_t)p->rep_order[0], p->d.first_shard,
		    &p->d.places[p->rep_order[0]], "");
		snprintf(p->plan_line, sizeof p->plan_line,
		    "reference: one replica, on worker %s (%zu of %u replicas readable)",
		    p->t[0].worker, p->n_rep, p->d.nplaces);
		break;
	}
	return SHOAL_OK;
}

/* ===================================================================
 * One round: one request per worker for the pending targets
 * =================================================================== */

typedef struct wreq {
	char worker[CATALOG_NAME_MAX];
	size_t *tix;               /* indexes into p->t */
	size_t nt;
	Shoal__ShardSearchRequest single;
	Shoal__MultiSearchRequest multi;
	Shoal__ShardTarget *st;
	Shoal__ShardTarget **stp;
	bool is_multi;
} wreq;

static void
add_worker_explain(plan *p, const router_call *c, size_t nshards)
{
	if (p->n_wx == p->cap_wx) {
		p->cap_wx = p->cap_wx ? p->cap_wx * 2 : 8;
		p->wx = xrealloc(p->wx, p->cap_wx * sizeof *p->wx);
	}
	Shoal__WorkerExplain *w = &p->wx[p->n_wx++];
	shoal__worker_explain__init(w);
	w->worker = xstrdup(c->worker);
	w->url = xstrdup(c->url);
	w->shards = (uint32_t)nshards;
	w->micros = c->micros;
	w->code = (int32_t)c->rv;
	w->message = xstrdup(c->rv == SHOAL_OK ? "" : c->st.msg);
}

static void
run_round(router *r, void *cd, plan *p, bool explain)
{
	const Shoal__SearchRequest *in = p->in;
	wreq *w = xcalloc(p->n, sizeof *w);
	size_t nw = 0;

	/* group the pending targets by worker */
	for (size_t i = 0; i < p->n; i++) {
		if (p->t[i].state != T_PENDING)
			continue;
		size_t j;
		for (j = 0; j < nw && strcmp(w[j].worker, p->t[i].worker) != 0; j++)
			;
		if (j == nw) {
			memcpy(w[nw].worker, p->t[i].worker, CATALOG_NAME_MAX);
			w[nw].tix = xcalloc(p->n, sizeof *w[nw].tix);
			nw++;
		}
		w[j].tix[w[j].nt++] = i;
	}
	router_call *calls = xcalloc(nw ? nw : 1, sizeof *calls);
	for (size_t j = 0; j < nw; j++) {
		wreq *q = &w[j];
		memcpy(calls[j].worker, q->worker, CATALOG_NAME_MAX);
		if (q->nt == 1 && !explain) {
			const target *t = &p->t[q->tix[0]];
			Shoal__ShardSearchRequest *s = &q->single;
			shoal__shard_search_request__init(s);
			s->shard_id = t->shard_id;
			s->n_vector = in->n_vector;
			s->vector = in->vector;
			s->k = p->round_k;
			s->ef_search = in->ef_search;
			s->with_payload = in->with_payload;
			s->with_vector = in->with_vector;
			s->exact = in->exact;
			s->filter = in->filter;
			s->partition = (char *)t->partition;
			s->scatter_shards = p->scatter;
			s->scatter_k = p->scatter ? in->k : 0;
			calls[j].method = r->m_search;
			calls[j].in = &s->base;
			calls[j].epoch = t->epoch;
		} else {
			Shoal__MultiSearchRequest *m = &q->multi;
			q->is_multi = true;
			q->st = xcalloc(q->nt, sizeof *q->st);
			q->stp = xcalloc(q->nt, sizeof *q->stp);
			for (size_t k = 0; k < q->nt; k++) {
				const target *t = &p->t[q->tix[k]];
				shoal__shard_target__init(&q->st[k]);
				q->st[k].shard_id = t->shard_id;
				q->st[k].epoch = t->epoch;
				q->st[k].partition = (char *)t->partition;
				q->stp[k] = &q->st[k];
			}
			shoal__multi_search_request__init(m);
			m->n_shards = q->nt;
			m->shards = q->stp;
			m->n_vector = in->n_vector;
			m->vector = in->vector;
			m->k = p->round_k;
			m->ef_search = in->ef_search;
			m->with_payload = in->with_payload;
			m->with_vector = in->with_vector;
			m->exact = in->exact;
			m->filter = in->filter;
			m->scatter_shards = p->scatter;
			m->scatter_k = p->scatter ? in->k : 0;
			calls[j].method = r->m_multi_search;
			calls[j].in = &m->base;
		}
	}
	router_call_all(r, cd, calls, nw, 0, true);

	for (size_t j = 0; j < nw; j++) {
		wreq *q = &w[j];
		router_call *c = &calls[j];
		if (explain)
			add_worker_explain(p, c, q->nt);
		if (c->rv != SHOAL_OK) {
			/* the whole request failed: each of its shards did */
			for (size_t k = 0; k < q->nt; k++) {
				target *t = &p->t[q->tix[k]];
				t->st = c->st;
				t->micros = c->micros;
				if (!q->is_multi && router_is_reroute(c->rv, c->res.epoch)) {
					t->state = T_REROUTE;
					t->reply_epoch = c->res.epoch;
				} else {
					t->state = T_FAILED;
					t->unreachable = is_unreachable(c->rv);
				}
			}
			continue;
		}
		if (!q->is_multi) {
			const Shoal__SearchReply *sr = (const Shoal__SearchReply *)c->res.reply;
			target *t = &p->t[q->tix[0]];
			t->state = T_OK;
			t->hits = sr->hits;
			t->n_hits = sr->n_hits;
			t->complete = sr->complete;
			t->joint = false;
			t->micros = c->micros;
			keep_reply(p, &c->res);
			continue;
		}
		const Shoal__MultiSearchReply *mr = (const Shoal__MultiSearchReply *)c->res.reply;
		for (size_t k = 0; k < q->nt; k++) {
			target *t = &p->t[q->tix[k]];
			const Shoal__ShardSearchResult *sr = k < mr->n_results ? mr->results[k] : NULL;
			if (sr == NULL || sr->shard_id != t->shard_id) {
				t->state = T_FAILED;
				shoal_status_set(&t->st, SHOAL_INTERNAL,
				    "worker %s answered MultiSearch without shard %" PRIu64, q->worker,
				    t->shard_id);
				continue;
			}
			t->micros = sr->micros;
			if (sr->code == SHOAL_OK) {
				t->state = T_OK;
				t->hits = sr->hits;
				t->n_hits = sr->n_hits;
				t->complete = sr->complete;
				t->joint = sr->joint;
			} else {
				shoal_code code = sr->code > 0 && sr->code <= SHOAL_UNAUTHENTICATED
				    ? (shoal_code)sr->code : SHOAL_UNKNOWN;
				shoal_status_set(&t->st, code, "%s", sr->message ? sr->message : "");
				if (router_is_reroute(code, sr->epoch)) {
					t->state = T_REROUTE;
					t->reply_epoch = sr->epoch;
				} else {
					t->state = T_FAILED;
				}
			}
		}
		keep_reply(p, &c->res);
	}
	router_calls_free(calls, nw);
	free(calls);
	for (size_t j = 0; j < nw; j++) {
		free(w[j].tix);
		free(w[j].st);
		free(w[j].stp);
	}
	free(w);
}

/* After a round: re-route refused targets (placement re-read), and move a
 * failed reference read to the next replica.  Returns true when another
 * round is needed. */
static bool
reroute(router *r, plan *p)
{
	bool again = false, refused = false;

	for (size_t i = 0; i < p->n; i++)
		refused |= p->t[i].state == T_REROUTE;
	if (refused && p->kind == CATALOG_DEDICATED) {
		catalog_collection fresh;
		target *t = &p->t[0];
		if (catalog_get_collection(r->cat, p->dc.tenant, p->dc.name, &fresh, NULL) ==
			SHOAL_OK &&
		    fresh.shard_id == t->shard_id &&
		    (strcmp(fresh.worker, t->worker) != 0 || fresh.epoch != t->epoch)) {
			log_info("%s/%s: shard %" PRIu64 " moved from %s to %s (epoch %" PRIu64
				 "); re-routing", fresh.tenant, fresh.name, fresh.shard_id, t->worker,
			    fresh.worker, fresh.epoch);
			memcpy(t->worker, fresh.worker, CATALOG_NAME_MAX);
			t->epoch = fresh.epoch;
			t->state = T_PENDING;
			p->dc = fresh;
			again = true;
		}
	} else if (refused && p->kind == CATALOG_SHARED) {
		catalog_dcoll fresh;
		if (catalog_get_dcoll(r->cat, p->d.name, &fresh, NULL) == SHOAL_OK &&
		    fresh.first_shard == p->d.first_shard) {
			for (size_t i = 0; i < p->n; i++) {
				target *t = &p->t[i];
				const catalog_place *pl = &fresh.places[t->index];
				if (t->state != T_REROUTE ||
				    (strcmp(pl->worker, t->worker) == 0 && pl->epoch == t->epoch))
					continue;
				log_info("%s: shard %u moved from %s to %s (epoch %" PRIu64
					 "); re-routing", fresh.name, t->index, t->worker, pl->worker,
				    pl->epoch);
				memcpy(t->worker, pl->worker, CATALOG_NAME_MAX);
				t->epoch = pl->epoch;
				t->state = T_PENDING;
				again = true;
			}
			catalog_dcoll_clear(&p->d);
			p->d = fresh;
		} else {
			catalog_dcoll_clear(&fresh);
		}
	}
	if (p->kind == CATALOG_REFERENCE) {
		target *t = &p->t[0];
		if ((t->state == T_REROUTE || (t->state == T_FAILED && t->unreachable)) &&
		    p->rep_next < p->n_rep) {
			size_t j = p->rep_order[p->rep_next++];
			log_info("reference collection %s: replica on %s failed (%s); reading from %s",
			    p->d.name, t->worker, t->st.msg, p->d.places[j].worker);
			target_set(t, (uint32_t)j, p->d.first_shard, &p->d.places[j], "");
			again = true;
		}
	}
	/* a refusal that could not be re-routed is a failure */
	for (size_t i = 0; i < p->n; i++)
		if (p->t[i].state == T_REROUTE)
			p->t[i].state = T_FAILED;
	return again;
}

/* Rounds until no target is pending: the first, then one per re-routing
 * (or replica failover). */
static void
run_rounds(router *r, void *cd, plan *p, bool explain)
{
	size_t max_rounds = ROUTER_MAX_REROUTES + 1 + p->n_rep;
	for (size_t round = 0; round < max_rounds; round++) {
		run_round(r, cd, p, explain);
		if (!reroute(r, p))
			break;
		p->retries++;
	}
}

/* After a scatter's first rounds with k_s < k: marks pending every shard
 * that may hold more of the top k than the k_s it returned ("Per-shard k"
 * above) and sets the next rounds' k to k.  Returns how many. */
static uint32_t
refine_round(plan *p)
{
	uint32_t k = p->in->k, n_again = 0;
	Shoal__Hit ***lists = xcalloc(p->n, sizeof *lists);
	size_t *lens = xcalloc(p->n, sizeof *lens);
	Shoal__Hit **top = xcalloc(k, sizeof *top);

	for (size_t i = 0; i < p->n; i++)
		if (p->t[i].state == T_OK) {
			lists[i] = p->t[i].hits;
			lens[i] = p->t[i].n_hits;
		}
	size_t n = shardmap_merge(lists, lens, p->n, k, top);
	const Shoal__Hit *kth = n == k ? top[k - 1] : NULL;
	for (size_t i = 0; i < p->n; i++) {
		target *t = &p->t[i];
		if (t->state != T_OK || (t->n_hits < p->shard_k && t->complete) || t->joint)
			continue; /* failed, it returned all it has, or its worker's top k */
		/* (an incomplete shard dropped a hit deleted while its answer was
		 * filled: it may have more even when short) */
		const Shoal__Hit *last = t->n_hits > 0 ? t->hits[t->n_hits - 1] : NULL;
		if (kth == NULL || last == NULL || last->distance < kth->distance ||
		    (last->distance == kth->distance && last->id <= kth->id)) {
			t->state = T_PENDING;
			n_again++;
		}
	}
	free(top);
	free(lens);
	free(lists);
	p->round_k = k;
	return n_again;
}

/* ===================================================================
 * The handler
 * =================================================================== */

static void
fill_explain(router *r, plan *p, Shoal__SearchExplain *ex, Shoal__ShardExplain *sx,
    Shoal__ShardExplain **sxp, Shoal__WorkerExplain **wxp, uint64_t merge_us, uint64_t t0,
    size_t candidates)
{
	shoal__search_explain__init(ex);
	ex->placement = (char *)(p->kind == CATALOG_SHARED ? "shared"
	    : p->kind == CATALOG_REFERENCE ? "reference" : "dedicated");
	ex->plan = p->plan_line;
	for (size_t i = 0; i < p->n; i++) {
		const target *t = &p->t[i];
		shoal__shard_explain__init(&sx[i]);
		sx[i].shard_id = t->shard_id;
		sx[i].index = t->index;
		sx[i].worker = (char *)t->worker;
		sx[i].partition = (char *)t->partition;
		sx[i].candidates = t->state == T_OK ? (uint32_t)t->n_hits : 0;
		sx[i].micros = t->micros;
		sx[i].code = t->state == T_OK ? SHOAL_OK : (int32_t)t->st.code;
		sx[i].message = (char *)(t->state == T_OK ? "" : t->st.msg);
		sx[i].epoch = t->epoch;
		sxp[i] = &sx[i];
	}
	ex->n_shards = p->n;
	ex->shards = sxp;
	for (size_t i = 0; i < p->n_wx; i++)
		wxp[i] = &p->wx[i];
	ex->n_workers = p->n_wx;
	ex->workers = wxp;
	ex->merge_micros = merge_us;
	ex->total_micros = util_mono_us() - t0;
	ex->retries = p->retries;
	ex->epoch = catalog_epoch(r->cat);
	ex->candidates = (uint32_t)candidates;
}

void
search_handle(router *r, const Shoal__SearchRequest *in, Shoal__SearchReply_Closure done,
    void *cd)
{
	uint64_t t0 = util_mono_us();
	plan p;
	shoal_status st;
	bool explain = in->explain;

	memset(&p, 0, sizeof p);
	p.in = in;
	if (plan_make(r, &p, &st) != SHOAL_OK)
		goto out_fail;

	run_rounds(r, cd, &p, explain);
	if (p.shard_k < in->k && (p.refined = refine_round(&p)) > 0) {
		size_t len = strlen(p.plan_line);
		snprintf(p.plan_line + len, sizeof p.plan_line - len,
		    "; %u shard%s asked again for %u (their top %u reached the merged top %u)",
		    p.refined, p.refined == 1 ? "" : "s", in->k, p.shard_k, in->k);
		run_rounds(r, cd, &p, explain);
	}
	uint32_t njoint = 0;
	for (size_t i = 0; i < p.n; i++)
		njoint += p.t[i].state == T_OK && p.t[i].joint;
	if (njoint > 0) {
		size_t len = strlen(p.plan_line);
		snprintf(p.plan_line + len, sizeof p.plan_line - len,
		    "; %u shard%s answered by their workers' collection graphs", njoint,
		    njoint == 1 ? "" : "s");
	}

	/* classify: missing workers (did not answer) vs other failures */
	size_t answered = 0, missing = 0;
	const target *first_missing = NULL, *first_error = NULL;
	for (size_t i = 0; i < p.n; i++) {
		const target *t = &p.t[i];
		if (t->state == T_OK)
			answered++;
		else if (t->unreachable && (missing++, first_missing == NULL))
			first_missing = t;
		else if (!t->unreachable && first_error == NULL)
			first_error = t;
	}
	if (first_error != NULL) {
		st = first_error->st;
		if (p.kind == CATALOG_SHARED)
			shoal_status_prefix(&st, "shard %u of '%s' on worker %s", first_error->index,
			    p.d.name, first_error->worker);
		goto out_fail;
	}
	/* unique names of the workers that did not answer */
	char **mw = xcalloc(p.n ? p.n : 1, sizeof *mw);
	size_t nmw = 0;
	for (size_t i = 0; i < p.n; i++) {
		bool dup = false;
		if (p.t[i].state == T_OK || !p.t[i].unreachable)
			continue;
		for (size_t j = 0; j < nmw && !dup; j++)
			dup = strcmp(mw[j], p.t[i].worker) == 0;
		if (!dup)
			mw[nmw++] = p.t[i].worker;
	}
	if (missing > 0 && (!in->allow_partial || answered == 0)) {
		st = first_missing->st;
		if (p.n > 1) {
			char more[160] = "";
			if (nmw > 1)
				snprintf(more, sizeof more, "; %zu workers did not answer", nmw);
			size_t len = strlen(st.msg);
			snprintf(st.msg + len, sizeof st.msg - len,
			    " (%zu of %zu shards answered%s%s)", answered, p.n, more,
			    in->allow_partial ? "" : "; allow_partial returns their hits marked "
						     "incomplete");
		}
		free(mw);
		goto out_fail;
	}

	/* merge */
	uint64_t m0 = util_mono_us();
	Shoal__Hit ***lists = xcalloc(p.n, sizeof *lists);
	size_t *lens = xcalloc(p.n, sizeof *lens), candidates = 0;
	bool complete = missing == 0;
	for (size_t i = 0; i < p.n; i++) {
		if (p.t[i].state != T_OK)
			continue;
		lists[i] = p.t[i].hits;
		lens[i] = p.t[i].n_hits;
		candidates += p.t[i].n_hits;
		complete = complete && p.t[i].complete;
	}
	Shoal__Hit **hits = xcalloc(in->k, sizeof *hits);
	size_t nhits = shardmap_merge(lists, lens, p.n, in->k, hits);
	uint64_t merge_us = util_mono_us() - m0;

	Shoal__SearchReply out = SHOAL__SEARCH_REPLY__INIT;
	out.n_hits = nhits;
	out.hits = hits;
	out.complete = complete;
	out.n_missing_workers = nmw;
	out.missing_workers = mw;
	Shoal__SearchExplain ex;
	Shoal__ShardExplain *sx = NULL, **sxp = NULL;
	Shoal__WorkerExplain **wxp = NULL;
	if (explain) {
		sx = xcalloc(p.n, sizeof *sx);
		sxp = xcalloc(p.n, sizeof *sxp);
		wxp = xcalloc(p.n_wx ? p.n_wx : 1, sizeof *wxp);
		fill_explain(r, &p, &ex, sx, sxp, wxp, merge_us, t0, candidates);
		out.explain = &ex;
	}
	if (missing > 0)
		log_warn("search %s%s%s: partial answer, %zu of %zu shards (missing worker %s)",
		    in->tenant && in->tenant[0] ? in->tenant : "", in->tenant && in->tenant[0] ? "/"
		    : "", in->collection, answered, p.n, mw[0]);
	done(&out, cd);
	free(sx);
	free(sxp);
	free(wxp);
	free(hits);
	free(lists);
	free(lens);
	free(mw);
	plan_free(&p);
	return;
out_fail:
	plan_free(&p);
	router_fail(cd, &st);
	done(NULL, cd);
}
