/* shardmap.h -- distribution keys of shared collections and the merge of
 * per-shard results: pure functions, no I/O, no locks (unit-tested with
 * plain values in tests/unit/test_shardmap.c).
 *
 * KEY.  A point of a shared collection carries its distribution key in
 * the payload field named at the collection's creation (key_field,
 * default "tenant"): a string value is the key as is, an int64 value is
 * its decimal text ("42"), so that a search's `key` (always a string)
 * names either.  Keys are 1..SHARDMAP_KEY_MAX bytes.
 *
 * HASH (part of the on-disk contract: changing it moves keys between
 * shards):  h = fmix64(fnv1a64(key bytes)), where fnv1a64 is 64-bit FNV-1a
 * (offset basis 0xcbf29ce484222325, prime 0x100000001b3) and fmix64 is
 * MurmurHash3's 64-bit finalizer, which spreads short, similar keys ("t1",
 * "t2", ...) over the high bits that pick the shard.
 *
 * SHARD:  shard = floor(h * S / 2^64), i.e. shard i owns the hash range
 * [i * 2^64 / S, (i + 1) * 2^64 / S) (Citus-style ranges rather than
 * h mod S: splitting shard i later divides only its own range).
 *
 * MERGE.  Each shard returns its hits closest first; the merge keeps the
 * k closest by (distance, id) over all shards, each id once (ids are
 * unique in a collection; should a client have reused one under two keys,
 * the closer copy wins).
 */
#ifndef SHOAL_COORD_SHARDMAP_H
#define SHOAL_COORD_SHARDMAP_H

#include <stddef.h>
#include <stdint.h>

#include "shoal.pb-c.h"
#include "status.h"

#define SHARDMAP_KEY_MAX 256
#define SHARDMAP_DEFAULT_SHARDS 32u
#define SHARDMAP_DEFAULT_KEY_FIELD "tenant"

/* 64-bit FNV-1a of data[0..len). */
uint64_t shardmap_fnv1a64(const void *data, size_t len);

/* The distribution hash of a key (see header). */
uint64_t shardmap_hash(const char *key, size_t len);

/* The shard (0..nshards-1) owning hash h; nshards >= 1. */
uint32_t shardmap_shard_of(uint64_t h, uint32_t nshards);

/* shardmap_shard_of(shardmap_hash(key, strlen(key)), nshards). */
uint32_t shardmap_key_shard(const char *key, uint32_t nshards);

/* Checks a key given by a client (search/get/delete): 1..SHARDMAP_KEY_MAX
 * bytes.  INVALID_ARGUMENT otherwise. */
shoal_code shardmap_check_key(const char *key, shoal_status *st);

/* The distribution key of point p: the value of payload field key_field
 * as text, written into buf (cap >= SHARDMAP_KEY_MAX + 1) and pointed to
 * by *key.  `what` names the point in errors ("point 7").  Fails with
 * INVALID_ARGUMENT when the field is missing, not a string or int64, or
 * its text is empty or longer than SHARDMAP_KEY_MAX. */
shoal_code shardmap_point_key(const Shoal__Point *p, const char *key_field, const char *what,
    char *buf, size_t cap, const char **key, shoal_status *st);

/* Merges nlists hit lists (lists[i][0..lens[i]), each closest first) into
 * out[0..k): the k closest by (distance, id), each id once.  out holds k
 * pointers (into the lists, not copied).  Returns the number written. */
size_t shardmap_merge(Shoal__Hit **const *lists, const size_t *lens, size_t nlists, uint32_t k,
    Shoal__Hit **out);

#endif
