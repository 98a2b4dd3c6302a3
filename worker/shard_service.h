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

typedef struct shard_service_opts {
	const char *snap_dir;   /* index snapshots (DATA/index); NULL = none */
	uint64_t memory_budget; /* bytes of loaded indexes; 0 = unlimited */
	/* no collection graphs (coll_graph.h): every shard of a keyless
	 * scatter is searched on its own, and writes are indexed once */
	bool no_coll_graphs;
} shard_service_opts;

/* Creates the service of worker `name` (copied) over rs (must outlive the
 * service), with one unloaded index per shard already in rs.  opts may be
 * NULL (no snapshots, no budget).  Snapshot files of shards that are no
 * longer in rs are removed.  Free with shard_service_destroy after the RPC
 * server has stopped. */
shoal_code shard_service_create_opts(const char *name, rowstore *rs,
    const shard_service_opts *opts, shard_service **out, shoal_status *st);

/* shard_service_create_opts with opts NULL. */
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

/* Background upkeep, called periodically from one thread: for every
 * shard, shard_index_maintain (HNSW builds of partitions that outgrew
 * exact search, compactions of stale labels, snapshots), then evicts
 * least-recently-used partitions beyond the memory budget.  Searches and
 * writes continue meanwhile.  Returns the number of partitions worked on.
 * Stops early, leaving the current indexes in place, once *stop (may be
 * NULL) is true. */
unsigned shard_service_maintain(shard_service *svc, const atomic_bool *stop);

/* Snapshots every loaded partition with unsaved writes (clean shutdown:
 * the next start then replays nothing).  Returns the number written. */
unsigned shard_service_checkpoint(shard_service *svc);

#endif
