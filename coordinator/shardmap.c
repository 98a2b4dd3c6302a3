/* shardmap.c -- distribution keys, hash ranges, top-k merge (see
 * shardmap.h for the contract). */
#include "shardmap.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint64_t
shardmap_fnv1a64(const void *data, size_t len)
{
	const unsigned char *p = data;
	uint64_t h = UINT64_C(0xcbf29ce484222325);

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= UINT64_C(0x100000001b3);
	}
	return h;
}

/* MurmurHash3 fmix64. */
static uint64_t
fmix64(uint64_t k)
{
	k ^= k >> 33;
	k *= UINT64_C(0xff51afd7ed558ccd);
	k ^= k >> 33;
	k *= UINT64_C(0xc4ceb9fe1a85ec53);
	k ^= k >> 33;
	return k;
}

uint64_t
shardmap_hash(const char *key, size_t len)
{
	return fmix64(shardmap_fnv1a64(key, len));
}

uint32_t
shardmap_shard_of(uint64_t h, uint32_t nshards)
{
	/* floor(h * S / 2^64) without 128-bit arithmetic: split h in halves. */
	uint64_t hi = (h >> 32) * nshards;
	uint64_t lo = (h & UINT64_C(0xffffffff)) * nshards;
	return (uint32_t)((hi + (lo >> 32)) >> 32);
}

uint32_t
shardmap_key_shard(const char *key, uint32_t nshards)
{
	return shardmap_shard_of(shardmap_hash(key, strlen(key)), nshards);
}

shoal_code
shardmap_check_key(const char *key, shoal_status *st)
{
	size_t n = key ? strlen(key) : 0;

	if (n == 0 || n > SHARDMAP_KEY_MAX)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "a distribution key is 1..%d bytes (got %zu)", SHARDMAP_KEY_MAX, n);
	return SHOAL_OK;
}

shoal_code
shardmap_point_key(const Shoal__Point *p, const char *key_field, const char *what, char *buf,
    size_t cap, const char **key, shoal_status *st)
{
	const Shoal__PayloadValue *v = NULL;

	for (size_t i = 0; i < p->n_payload && v == NULL; i++)
		if (p->payload[i]->key != NULL && strcmp(p->payload[i]->key, key_field) == 0)
			v = p->payload[i]->value;
	if (v == NULL)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "%s: no payload field '%s', the collection's distribution key", what, key_field);
	switch (v->kind_case) {
	case SHOAL__PAYLOAD_VALUE__KIND_S:
		if (shardmap_check_key(v->s, NULL) != SHOAL_OK)
			return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
			    "%s: distribution key '%s' must be 1..%d bytes (got %zu)", what, key_field,
			    SHARDMAP_KEY_MAX, strlen(v->s));
		*key = v->s;
		return SHOAL_OK;
	case SHOAL__PAYLOAD_VALUE__KIND_I:
		snprintf(buf, cap, "%" PRId64, v->i);
		*key = buf;
		return SHOAL_OK;
	default:
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "%s: distribution key '%s' must be a string or an integer", what, key_field);
	}
}

/* ---- merge ------------------------------------------------------------ */

typedef struct cursor {
	Shoal__Hit **hits;
	size_t n, at;
} cursor;

static bool
hit_less(const Shoal__Hit *a, const Shoal__Hit *b)
{
	if (a->distance != b->distance)
		return a->distance < b->distance;
	return a->id < b->id;
}

static int
u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

size_t
shardmap_merge(Shoal__Hit **const *lists, const size_t *lens, size_t nlists, uint32_t k,
    Shoal__Hit **out)
{
	/* k-way merge by repeated minimum: nlists is the number of shards
	 * (<= a few hundred) and k is small next to the candidates, and the
	 * ids taken so far are kept sorted for the duplicate check. */
	cursor *cur = calloc(nlists ? nlists : 1, sizeof *cur);
	uint64_t *taken = malloc((k ? k : 1) * sizeof *taken);
	size_t n = 0;

	if (cur == NULL || taken == NULL) {
		free(cur);
		free(taken);
		return 0;
	}
	for (size_t i = 0; i < nlists; i++) {
		cur[i].hits = lists[i];
		cur[i].n = lists[i] ? lens[i] : 0;
	}
	while (n < k) {
		size_t best = nlists;
		for (size_t i = 0; i < nlists; i++)
			if (cur[i].at < cur[i].n &&
			    (best == nlists || hit_less(cur[i].hits[cur[i].at], cur[best].hits[cur[best].at])))
				best = i;
		if (best == nlists)
			break;
		Shoal__Hit *h = cur[best].hits[cur[best].at++];
		if (n > 0 && bsearch(&h->id, taken, n, sizeof *taken, u64_cmp) != NULL)
			continue; /* the closer copy of this id is already in */
		out[n] = h;
		/* insert h->id into taken, keeping it sorted */
		size_t at = n;
		while (at > 0 && taken[at - 1] > h->id) {
			taken[at] = taken[at - 1];
			at--;
		}
		taken[at] = h->id;
		n++;
	}
	free(cur);
	free(taken);
	return n;
}
