/* worker_obs.c -- see worker_obs.h.
 *
 * The numbers come from the Status handler run in process
 * (rpc_call_local), so /metrics and `Worker.Status` can never disagree and
 * there is one place that computes them (shard_service.c).  The reply is
 * walked with protobuf-c's reflection: every top-level scalar number is
 * written; repeated and message fields are skipped except `shards` (their
 * count and tombstone sum).  Latency histograms in the reply are skipped:
 * shoal_rpc_duration_seconds{method=...} already measures every handler.
 */
#include "worker_obs.h"

#include <stdio.h>
#include <string.h>

#include "log.h"
#include "rpc.h"
#include "shoal.pb-c.h"

typedef struct known {
	const char *field, *metric, *type, *help;
} known;

static const known knowns[] = {
    {"points", "shoal_worker_points", "gauge", "Live points stored on this worker."},
    {"bytes", "shoal_worker_bytes", "gauge",
        "Approximate bytes of this worker's row store on disk (SST files and memtables)."},
    {"search_requests", "shoal_worker_search_requests_total", "counter",
        "Search and MultiSearch requests served since start."},
    {"shard_searches", "shoal_worker_shard_searches_total", "counter",
        "Shard searches run since start (a MultiSearch runs several)."},
    {"index_bytes", "shoal_worker_index_bytes", "gauge",
        "Memory held by the loaded partition indexes."},
    {"index_bytes_peak", "shoal_worker_index_bytes_peak", "gauge",
        "Highest index memory since start."},
    {"memory_budget", "shoal_worker_memory_budget_bytes", "gauge",
        "The --memory-budget for loaded indexes (0 = unlimited)."},
    {"partitions", "shoal_worker_partitions", "gauge", "Partitions on this worker."},
    {"partitions_loaded", "shoal_worker_partitions_loaded", "gauge",
        "Partitions whose index is in memory."},
    {"partition_loads", "shoal_worker_partition_loads_total", "counter",
        "Partition index loads (from snapshots or rows) since start."},
    {"partition_evictions", "shoal_worker_partition_evictions_total", "counter",
        "Partition indexes unloaded to stay within the memory budget since start."},
    {"snapshots_written", "shoal_worker_snapshots_written_total", "counter",
        "Index snapshots written since start."},
    {"snapshot_bytes", "shoal_worker_snapshot_bytes_total", "counter",
        "Bytes written to index snapshots since start."},
    {"rows_replayed", "shoal_worker_rows_replayed_total", "counter",
        "Rows applied on top of index snapshots at load since start."},
    {"index_rebuilds", "shoal_worker_index_rebuilds_total", "counter",
        "HNSW index builds and compactions since start."},
    {"index_imports", "shoal_worker_index_imports_total", "counter",
        "Partition indexes installed from a moved shard's index (no rebuild) since start."},
    {"graph_builds", "shoal_worker_graph_builds_total", "counter",
        "HNSW builds of shard-level graphs (keyless searches) since start."},
    {"graph_imports", "shoal_worker_graph_imports_total", "counter",
        "Shard-level graphs installed from a moved shard's index (no build) since start."},
    {"coll_graph_searches", "shoal_worker_coll_graph_searches_total", "counter",
        "Keyless scatters (MultiSearch) answered from a collection graph since start."},
    {"coll_graph_shards", "shoal_worker_coll_graph_shards_total", "counter",
        "Shard searches replaced by collection graph searches since start."},
    {"coll_graph_builds", "shoal_worker_coll_graph_builds_total", "counter",
        "Collection graphs (one graph over several shards) built since start."},
    {"coll_graph_bytes", "shoal_worker_coll_graph_bytes", "gauge",
        "Memory of the loaded collection graphs (in the index memory budget)."},
    {"points_upserted", "shoal_worker_points_upserted_total", "counter",
        "Upserts applied (newer version) since start."},
    {"points_deleted", "shoal_worker_points_deleted_total", "counter",
        "Deletes applied since start."},
    {"uptime_ms", NULL, NULL, NULL}, /* process_start_time_seconds says it */
    {"name", NULL, NULL, NULL},
};

static bool
scalar_value(const ProtobufCFieldDescriptor *f, const void *msg, double *out)
{
	const char *p = (const char *)msg + f->offset;
	if (f->label == PROTOBUF_C_LABEL_REPEATED)
		return false;
	switch (f->type) {
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64: *out = (double)*(const uint64_t *)p; return true;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64: *out = (double)*(const int64_t *)p; return true;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32: *out = (double)*(const uint32_t *)p; return true;
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32: *out = (double)*(const int32_t *)p; return true;
	case PROTOBUF_C_TYPE_DOUBLE: *out = *(const double *)p; return true;
	case PROTOBUF_C_TYPE_FLOAT: *out = (double)*(const float *)p; return true;
	case PROTOBUF_C_TYPE_BOOL: *out = *(const protobuf_c_boolean *)p ? 1 : 0; return true;
	default: return false;
	}
}

static void
collect(void *arg, metrics_writer *w)
{
	shard_service *svc = arg;
	ProtobufCService *rpc = shard_service_rpc(svc);
	const ProtobufCMethodDescriptor *m =
	    protobuf_c_service_descriptor_get_method_by_name(rpc->descriptor, "Status");
	Shoal__WorkerStatusRequest req = SHOAL__WORKER_STATUS_REQUEST__INIT;
	rpc_result res;

	if (m == NULL)
		return;
	if (rpc_call_local(rpc, (unsigned)(m - rpc->descriptor->methods), &req.base, NULL, NULL,
	        &res) != SHOAL_OK) {
		log_warn("metrics: worker status: %s", res.status.msg);
		return;
	}
	const Shoal__WorkerStatusReply *rep = (const Shoal__WorkerStatusReply *)res.reply;
	const ProtobufCMessageDescriptor *d = rep->base.descriptor;
	uint64_t tomb = 0;

	for (size_t i = 0; i < rep->n_shards; i++)
		tomb += rep->shards[i]->tombstones;
	metrics_write(w, "shoal_worker_shards", "gauge", "Shards stored on this worker.", NULL,
	    (double)rep->n_shards);
	metrics_write(w, "shoal_worker_tombstones", "gauge",
	    "Deleted or replaced points kept as versioned tombstones.", NULL, (double)tomb);
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		const known *k = NULL;
		double v;
		char name[128], help[160];

		for (size_t j = 0; j < sizeof knowns / sizeof knowns[0] && k == NULL; j++)
			if (strcmp(knowns[j].field, f->name) == 0)
				k = &knowns[j];
		if ((k != NULL && k->metric == NULL) || !scalar_value(f, rep, &v))
			continue;
		if (k != NULL) {
			metrics_write(w, k->metric, k->type, k->help, NULL, v);
		} else {
			snprintf(name, sizeof name, "shoal_worker_%s", f->name);
			snprintf(help, sizeof help, "WorkerStatusReply.%s (proto/shoal.proto).", f->name);
			metrics_write(w, name, "gauge", help, NULL, v);
		}
	}
	rpc_result_free(&res);
}

void
worker_obs_register(metrics_registry *reg, shard_service *svc)
{
	metrics_add_collector(reg, collect, svc);
}
