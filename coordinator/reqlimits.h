/* reqlimits.h -- per-request limits of the coordinator's client methods
 * (docs/security.md "Limits"; flags --max-batch, --max-k, --max-ef-search,
 * --max-dim).  Checked on the decoded request before its handler runs, so
 * an oversized request costs nothing beyond its decoding and changes
 * nothing.  Requests the coordinator makes to itself in process (imports,
 * the status page) are not checked: they are built by the coordinator. */
#ifndef SHOAL_COORD_REQLIMITS_H
#define SHOAL_COORD_REQLIMITS_H

#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "status.h"

#define REQLIMITS_DEFAULT_MAX_BATCH 100000u    /* points / ids per request */
#define REQLIMITS_DEFAULT_MAX_EF_SEARCH 10000u

typedef struct reqlimits {
	uint32_t max_batch;     /* points in an Upsert, ids in a Get or Delete */
	uint32_t max_k;         /* Search k (<= ROUTER_MAX_K) */
	uint32_t max_ef_search; /* Search ef_search */
	uint32_t max_dim;       /* CreateCollection dim (<= ROUTER_MAX_DIM) */
} reqlimits;

/* OK, or INVALID_ARGUMENT naming the value, the limit and its flag when
 * the request of `method` exceeds one of l's limits. */
shoal_code reqlimits_check(const reqlimits *l, const char *method, const ProtobufCMessage *input,
    shoal_status *st);

#endif /* SHOAL_COORD_REQLIMITS_H */
