/* obs.h -- observability glue shared by the daemons: rpc metrics fed by
 * the rpc server's observer hook, process metrics, and the /metrics
 * endpoint on the daemon's HTTP server.
 *
 *     metrics_registry *reg = metrics_new();
 *     obs_rpc *orpc = obs_rpc_new(reg, &shoal__worker__descriptor);
 *     rpc_server_opts so = {.observe = obs_rpc_observe, .observe_arg = orpc};
 *     obs_process_register(reg, "worker", VERSION);
 *     httpd_handle(http, "/metrics", obs_metrics_handler, reg, &st);
 *
 * Metric names (docs/operations.md lists them all):
 *   shoal_rpc_requests_total{service,method,code}   counter
 *   shoal_rpc_duration_seconds{service,method}       histogram
 *   shoal_build_info{daemon,version}                 gauge, always 1
 *   process_start_time_seconds, process_cpu_seconds_total,
 *   process_resident_memory_bytes, process_open_fds  (Prometheus' standard)
 */
#ifndef SHOAL_OBS_H
#define SHOAL_OBS_H

#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "httpd.h"
#include "metrics.h"
#include "status.h"

typedef struct obs_rpc obs_rpc;

/* Registers, for every method of desc, one requests counter per status
 * code and one duration histogram, so that observing never allocates.
 * Free with obs_rpc_free after the server has stopped. */
obs_rpc *obs_rpc_new(metrics_registry *reg, const ProtobufCServiceDescriptor *desc);
void obs_rpc_free(obs_rpc *o);

/* The rpc_server_opts.observe hook (rpc.h): arg is the obs_rpc.  method
 * is the method index, or RPC_NO_METHOD for a request that named no valid
 * method (counted under method="_invalid"). */
void obs_rpc_observe(void *arg, unsigned method, const char *name, shoal_code code,
    uint64_t micros);

/* The requests counter of (method name, code), or NULL (tests). */
metrics_counter *obs_rpc_counter(obs_rpc *o, const char *method, shoal_code code);

/* Adds shoal_build_info and the process_* metrics (a collector reading
 * /proc/self). */
void obs_process_register(metrics_registry *reg, const char *daemon, const char *version);

/* httpd handler serving metrics_render(arg) (arg: the registry). */
void obs_metrics_handler(void *arg, const char *path, const char *query, httpd_reply *out);

#endif
