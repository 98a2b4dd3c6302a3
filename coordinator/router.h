/* router.h -- the Coordinator service: request validation, placement and
 * routing of every client call to the worker that owns the data.
 *
 * The router owns (a) the in-memory heartbeat state of the workers, (b)
 * one rpc_client per worker and (c) the catch-up thread of reference
 * replicas (dist.c), started by router_create and stopped by
 * router_destroy.  Everything durable lives in the catalog, which the
 * router borrows.  See router.c for the threading model and the order of
 * steps in each DDL operation, dist.c and search.c for shared and
 * reference collections and scatter-gather (coordinator/README.md).
 */
#ifndef SHOAL_COORD_ROUTER_H
#define SHOAL_COORD_ROUTER_H

#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "catalog.h"
#include "rpc.h"
#include "status.h"

#define ROUTER_DEFAULT_WORKER_TIMEOUT_MS 6000u

/* Limits enforced on client input (also in coordinator/README.md). */
#define ROUTER_MAX_DIM 16000u
#define ROUTER_MAX_K 10000u
#define ROUTER_DEFAULT_M 16u
#define ROUTER_MIN_M 2u
#define ROUTER_MAX_M 100u
#define ROUTER_DEFAULT_EF_CONSTRUCTION 64u
#define ROUTER_MAX_EF_CONSTRUCTION 4096u

typedef struct router router;

typedef struct router_opts {
	/* A worker is "up" when its last heartbeat is at most this old.
	 * 0 = ROUTER_DEFAULT_WORKER_TIMEOUT_MS. */
	uint32_t worker_timeout_ms;
	/* Token sent on calls to workers (copied); NULL = none. */
	const char *auth_token;
	/* TLS for workers at tls+tcp:// URLs (CA to verify them; cert and key
	 * to present to workers that require client certificates).  Borrowed:
	 * must outlive the router.  NULL = none (tls+tcp workers then fail
	 * with INVALID_ARGUMENT naming tls-ca). */
	const rpc_tls_options *tls;
	/* Orphan shards (coordinator/reclaim.h): sweep interval (0 = never
	 * reclaim) and grace period. */
	uint32_t reclaim_interval_ms;
	uint32_t reclaim_grace_ms;
} router_opts;

/* Creates a router over cat (borrowed: it must outlive the router).  opts
 * may be NULL.  Fails with INTERNAL only if the generated Worker service
 * lacks a method the router calls (a build mismatch). */
shoal_code router_create(catalog *cat, const router_opts *opts, router **out, shoal_status *st);

/* The Coordinator service to hand to rpc_server_start(); owned by r and
 * valid until router_destroy(). */
ProtobufCService *router_service(router *r);

/* Hands the import rpcs (StartImport, ...) to imp (coordinator/pg_import.h;
 * borrowed, NULL = answer them UNIMPLEMENTED).  Call before the server
 * starts; imp must be destroyed before r. */
struct pg_import;
void router_set_importer(router *r, struct pg_import *imp);

/* Closes the worker connections and frees r.  The server using
 * router_service(r) must be stopped first.  NULL ok. */
void router_destroy(router *r);

#endif
