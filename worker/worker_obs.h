/* worker_obs.h -- the worker's own metrics: what its Status rpc reports
 * (points, bytes, shards, index memory, storage-engine counters), read at
 * scrape time.  The rpc metrics and process metrics come from common/obs.h.
 */
#ifndef SHOAL_WORKER_OBS_H
#define SHOAL_WORKER_OBS_H

#include "metrics.h"
#include "shard_service.h"

/* Adds a collector to reg that runs the Worker Status handler of svc in
 * process at every scrape and writes its numbers as shoal_worker_*
 * metrics.  Every scalar number of WorkerStatusReply is exported: the
 * known ones under documented names (docs/operations.md), any field added
 * later as shoal_worker_<field> (a gauge), so a new number in the Status
 * reply reaches the dashboards without touching this file.  svc must
 * outlive reg's last render. */
void worker_obs_register(metrics_registry *reg, shard_service *svc);

#endif
