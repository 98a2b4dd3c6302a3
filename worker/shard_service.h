/* shard_service.h -- the Worker service of proto/shoal.proto.
 *
 * Glue between the RPC layer (rpc.h) and the shards on this worker: one
 * shard_index per shard (each backed by the shared rowstore), looked up by
 * shard id.  Handlers validate input, call rowstore/shard_index and build
 * the replies.  Behaviour per method: shard_service.c.
 *
 * Threading: handlers run concurrently on the RPC server's threads;
 * shard_service_totals and shard_service_maintain may be called from other
 * threads at the same time.
 */
#ifndef SHOAL_SHARD_SERVICE_H
#define SHOAL_SHARD_SERVICE_H

#include <stdatomic.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "rowstore.h"
#include "status.h"

#define SHARD_SERVICE_MAX_K 10000

typedef struct shard_service shard_service;

/* Creates the service of worker `name` (copied) over rs (must outlive the
 * service), with one unbuilt index per shard already in rs.  Free with
 * shard_service_destroy after the RPC server has stopped. */
shoal_code shard_service_create(const char *name, rowstore *rs, shard_service **out,
    shoal_status *st);

/* Frees the service and every index.  No handler may be running. NULL ok. */
void shard_service_destroy(shard_service *svc);

/* The service to give rpc_server_start(); owned by svc. */
ProtobufCService *shard_service_rpc(shard_service *svc);

/* Worker totals for the heartbeat: live points, approximate bytes on
 * disk, shards.  Any pointer may be NULL. */
void shard_service_totals(shard_service *svc, uint64_t *points, uint64_t *bytes,
    uint32_t *shards);

/* Background upkeep, called periodically from one thread: builds the
 * indexes searches asked for, and rebuilds those whose stale labels passed
 * the threshold (shard_index.h), one at a time, while searches and writes
 * continue.  Returns the number of indexes (re)built.  Stops early, leaving
 * the current indexes in place, once *stop (may be NULL) is true. */
unsigned shard_service_maintain(shard_service *svc, const atomic_bool *stop);

#endif
