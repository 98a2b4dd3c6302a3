/* payload.h -- a partition's payloads in memory, compactly, for filtering.
 *
 * A filtered search tests the filter on every graph node it accepts (and,
 * for selective filters, on every point of the partition).  Reading the
 * payload from RocksDB per candidate would cost a random read each, so each
 * loaded partition keeps its payloads here: one record per index label,
 * appended in label order, strings (keys, string values, tags) interned
 * once per partition in a dictionary.  A record with three small fields
 * takes ~10-20 bytes plus the distinct strings.
 *
 * Record layout (bytes, varints are LEB128):
 *   nfields:varint, then per field: key:varint (string id) | type:u8 |
 *   value -- S: string id varint; I: int64 LE (8); D: double LE (8);
 *   B: u8; T: count varint + string ids
 * The first occurrence of a key counts (as in filter_match).
 *
 * Filters are compiled against one store (pfilter_compile): keys and
 * string values become ids, and a key or value the store has never seen
 * makes its leaf constant-false, so evaluation never compares strings.
 * A compiled filter is valid for the store as it was when compiled plus
 * later appends (strings interned later were absent from every earlier
 * record), which is exactly what a search holding the partition's read
 * lock sees.
 *
 * Not thread-safe: callers hold the partition's lock (shard_index.c).
 */
#ifndef SHOAL_PAYLOAD_H
#define SHOAL_PAYLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shoal.pb-c.h"

typedef struct pstore {
	/* dictionary */
	char *chars;         /* interned strings, back to back */
	size_t nchars, chars_cap;
	uint64_t *str_off;   /* per string id: offset in chars */
	uint32_t *str_len;
	size_t nstr, str_cap;
	uint32_t *hash;      /* string ids + 1; 0 = empty slot */
	size_t hash_cap;     /* power of two */
	/* records */
	uint8_t *recs;
	size_t nrecs_bytes, recs_cap;
	uint64_t *rec_off;   /* nlabels + 1 offsets into recs */
	size_t nlabels, off_cap;
} pstore;

void pstore_init(pstore *p);
void pstore_free(pstore *p);

/* Appends the record of the next label from a stored payload (a packed
 * shoal.Point holding only `payload`, as shard_service stores it; len 0 =
 * no fields).  Returns false (and appends an empty record) when the bytes
 * do not decode. */
bool pstore_append_packed(pstore *p, const void *packed, size_t len);

/* Appends a copy of record `label` of src (re-interned in p). */
void pstore_append_copy(pstore *p, const pstore *src, size_t label);

/* Memory held, in bytes (allocated capacity). */
size_t pstore_bytes(const pstore *p);

/* Serialization (index snapshots): the exact byte size, the bytes (out
 * must hold pstore_serial_size), and the inverse, which checks every
 * offset and id and returns false on malformed input (p is then empty). */
size_t pstore_serial_size(const pstore *p);
void pstore_serialize(const pstore *p, uint8_t *out);
bool pstore_deserialize(pstore *p, const uint8_t *in, size_t len);

/* ---- compiled filters ---- */

typedef struct pfilter pfilter;

/* Compiles a validated filter against p.  Never fails (aborts on OOM). */
pfilter *pfilter_compile(const Shoal__Filter *f, const pstore *p);
void pfilter_free(pfilter *cf);

/* True when record `label` matches. */
bool pfilter_match(const pfilter *cf, const pstore *p, size_t label);

/* True when the filter can match nothing in this store whatever the
 * records say (e.g. `lang = "xx"` where "xx" was never seen). */
bool pfilter_never(const pfilter *cf);

#endif
