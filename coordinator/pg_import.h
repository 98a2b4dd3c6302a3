/* pg_import.h -- import from PostgreSQL via COPY, run on the coordinator.
 *
 * A job reads `COPY (SELECT ...) TO STDOUT` from PostgreSQL with libpq,
 * decodes each row (common/pgcopy.h), and upserts batches through the
 * coordinator's own Coordinator service (in process, through
 * rpc_dispatch), so imported points take exactly the path of client
 * upserts: validation, versions, routing to the owning worker.  The job
 * state and its last durable checkpoint live in the catalog (key "j" id),
 * so an interrupted job continues with `--resume`.  docs/import.md is the
 * user's manual; pg_import.c has the design.
 *
 * Threading: the rpc entry points are called from the rpc server's
 * threads, concurrently; every job runs on its own threads (one reader,
 * `parallel` senders).
 */
#ifndef SHOAL_COORD_PG_IMPORT_H
#define SHOAL_COORD_PG_IMPORT_H

#include <protobuf-c/protobuf-c.h>

#include "catalog.h"
#include "shoal.pb-c.h"
#include "status.h"

typedef struct pg_import pg_import;

/* Creates the import manager over cat (borrowed) and svc, the
 * coordinator's own service (borrowed; the router's, see router_service),
 * which jobs call in process.  Loads the job records from the catalog; a
 * job recorded as running was cut short by a stop or crash of the
 * coordinator and becomes INTERRUPTED (resumable).  Jobs never restart by
 * themselves: the password is not stored, and the operator decides.
 * Fails with DATA_LOSS when a record does not decode. */
shoal_code pg_import_create(catalog *cat, ProtobufCService *svc, pg_import **out, shoal_status *st);

/* Stops every running job (each keeps its last durable checkpoint and is
 * recorded as INTERRUPTED) and frees imp.  No rpc entry point may be
 * running (stop the server first); svc and cat must still be alive.
 * NULL ok. */
void pg_import_destroy(pg_import *imp);

/* The Coordinator rpcs StartImport, GetImport, ListImports, CancelImport;
 * called by router.c's handlers with their closure and closure data (an
 * rpc_call), and reply exactly once. */
void pg_import_rpc_start(pg_import *imp, const Shoal__ImportSpec *in, Shoal__ImportJob_Closure done,
    void *cd);
void pg_import_rpc_get(pg_import *imp, const Shoal__ImportJobRequest *in,
    Shoal__ImportJob_Closure done, void *cd);
void pg_import_rpc_list(pg_import *imp, const Shoal__ListImportsRequest *in,
    Shoal__ListImportsReply_Closure done, void *cd);
void pg_import_rpc_cancel(pg_import *imp, const Shoal__ImportJobRequest *in,
    Shoal__ImportJob_Closure done, void *cd);

#endif
