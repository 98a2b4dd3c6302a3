/* overview.h -- the cluster overview an operator looks at: the status web
 * page (/ and /status), its JSON (/status.json) and the coordinator's
 * cluster metrics (workers up/down, per-worker load, per-tenant sizes,
 * import progress) on /metrics.
 *
 * Everything is read through the Coordinator service itself (Status,
 * ListTenants, ListImports run in process with rpc_call_local), so the
 * page, the metrics and `shoal status` / `shoal tenant list` always show
 * the same numbers, computed in one place (router.c).  A snapshot is taken
 * per HTTP request; nothing is cached.
 *
 * The page is static HTML with a little JavaScript that fetches
 * /status.json every 2 s and redraws; it has no external resources (no
 * CDN), so it works on an isolated management network.
 */
#ifndef SHOAL_COORD_OVERVIEW_H
#define SHOAL_COORD_OVERVIEW_H

#include <protobuf-c/protobuf-c.h>

#include "httpd.h"
#include "metrics.h"
#include "status.h"

typedef struct overview overview;

/* svc: the Coordinator service (router_service), borrowed; it must
 * outlive the overview. */
overview *overview_new(ProtobufCService *svc);
void overview_free(overview *ov);

/* Adds the cluster collector (shoal_cluster_*, shoal_tenant_*,
 * shoal_import_*) to reg. */
void overview_register_metrics(overview *ov, metrics_registry *reg);

/* Registers /, /status and /status.json on h (before httpd_start). */
shoal_code overview_register_http(overview *ov, httpd *h, shoal_status *st);

/* The JSON document of /status.json (malloc'ed, NUL-terminated; caller
 * frees).  Exposed for tests. */
char *overview_json(overview *ov, size_t *len);

#endif
