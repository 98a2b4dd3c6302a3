/* shoal_client.h -- libshoal, the C client library of shoal.
 *
 * This header is the library's manual.  An application links -lshoal,
 * connects to the coordinator once, and calls the functions below; each
 * call is one synchronous request/reply (a large upsert may be several).
 *
 *     shoal_client *c;
 *     shoal_status st;
 *     if (shoal_connect("tcp://127.0.0.1:7700", NULL, &c, &st) != SHOAL_OK)
 *         errx(1, "%s: %s", shoal_code_name(st.code), st.msg);
 *
 *     shoal_collection_params p = { .dim = 3, .metric = SHOAL_METRIC_L2 };
 *     shoal_tenant_create(c, "acme", NULL, NULL, &st);
 *     shoal_collection_create(c, "acme", "docs", &p, NULL, &st);
 *
 *     uint64_t ids[2] = { 1, 2 };
 *     float vecs[6] = { 0, 0, 1,   1, 0, 0 };
 *     shoal_batch b = { .n = 2, .dim = 3, .ids = ids, .vectors = vecs };
 *     shoal_upsert(c, "acme", "docs", &b, NULL, &st);
 *
 *     shoal_search_result *r;
 *     float q[3] = { 0, 0, 0.9f };
 *     if (shoal_search(c, "acme", "docs", q, 3, NULL, &r, &st) == SHOAL_OK) {
 *         for (size_t i = 0; i < r->n_hits; i++)
 *             printf("%llu %g\n", (unsigned long long)r->hits[i].id,
 *                 r->hits[i].distance);
 *         shoal_search_result_free(r);
 *     }
 *     shoal_close(c);
 *
 * ERRORS.  Every fallible function returns a shoal_code (common/status.h:
 * the gRPC codes, SHOAL_OK == 0) and, when its last argument `st` is not
 * NULL, fills *st with the same code and a human-readable message.  The
 * codes a caller should expect:
 *   INVALID_ARGUMENT   bad input (checked here when obvious, always by the
 *                      server: wrong dimension, NaN/Inf, bad name, k == 0)
 *   NOT_FOUND          unknown tenant or collection
 *   ALREADY_EXISTS     creating a tenant or collection that exists
 *   UNAVAILABLE        the coordinator (or the worker behind it) cannot be
 *                      reached; retrying later may succeed.  A call in
 *                      flight when the connection to the coordinator drops
 *                      (e.g. it crashed) fails at once ("connection lost
 *                      while waiting for the Search reply"), and a call
 *                      made while that connection is down waits at most
 *                      250 ms for it to come back, instead of waiting for
 *                      the timeout
 *   DEADLINE_EXCEEDED  no reply within the timeout (the request may still
 *                      have been applied: writes are idempotent, so resend)
 *   RESOURCE_EXHAUSTED out of memory here, or a request larger than the
 *                      server accepts
 *   FAILED_PRECONDITION, INTERNAL, UNAUTHENTICATED, PERMISSION_DENIED
 *                      as reported by the server
 * On any error, every output argument is left NULL / zero and nothing needs
 * freeing.  A failed write may or may not have been applied (as with any
 * RPC); every write is idempotent, so repeating it is always safe.
 *
 * MEMORY.  Inputs are only read during the call and never retained.  Every
 * result returned through a pointer-to-pointer is allocated by the library
 * and released with the free function named beside it (never free()); all
 * strings and arrays inside a result live exactly as long as the result.
 * The library never aborts on out-of-memory: it returns RESOURCE_EXHAUSTED.
 *
 * THREADS.  One shoal_client may be used by any number of threads at once;
 * each call has its own request context on the shared connection.  Results
 * are plain memory owned by the caller.  shoal_close() must not race with
 * calls on the same client.
 *
 * ABI.  Within one major version (SHOAL_VERSION_MAJOR) functions and
 * structs only gain, never change: a program built against 0.x runs with a
 * later 0.y library.  Structs the caller fills (options, params, batch) are
 * fixed within a major version; zero-initialise them, every zero field
 * means "default".
 */
#ifndef SHOAL_CLIENT_H
#define SHOAL_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h" /* shoal_code, shoal_status, shoal_code_name() */

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define SHOAL_API __attribute__((visibility("default")))
#else
#define SHOAL_API
#endif

#define SHOAL_VERSION_MAJOR 0
#define SHOAL_VERSION_MINOR 1
#define SHOAL_VERSION_PATCH 0
#define SHOAL_VERSION_HEX                                                    \
	((SHOAL_VERSION_MAJOR << 16) | (SHOAL_VERSION_MINOR << 8) |              \
	    SHOAL_VERSION_PATCH)

/* The version of the library actually loaded, as SHOAL_VERSION_HEX and as
 * "MAJOR.MINOR.PATCH" (static storage). */
SHOAL_API unsigned shoal_version(void);
SHOAL_API const char *shoal_version_string(void);

/* Tenant, collection and worker names: 1..63 characters of [A-Za-z0-9_.-],
 * not starting with '.' or '-'.  Name fields in result structs are arrays
 * of SHOAL_NAME_MAX + 1 bytes, always NUL-terminated. */
#define SHOAL_NAME_MAX 63

/* Largest vector dimension the protocol accepts. */
#define SHOAL_MAX_DIM 16000 /* as the servers (and pgvector's vector type) */

/* ===================================================================
 * Connection
 * =================================================================== */

typedef struct shoal_client shoal_client;

typedef struct shoal_connect_opts {
	uint32_t timeout_ms;    /* per call (each request of a split upsert);
	                           0 = 30000 */
	const char *auth_token; /* sent with every call; copied; NULL = none */
	/* tls+tcp:// URLs (read at connect, not kept): the PEM CA that signed
	 * the coordinator's certificate (required: the server is always
	 * verified, chain and name), and optionally a client certificate and
	 * its key (both or neither) for a coordinator started with
	 * tls-require-client-cert.  The name checked is tls_server_name, or
	 * NULL for the URL's host.  Ignored for other URLs. */
	const char *tls_ca_file;
	const char *tls_cert_file;
	const char *tls_key_file;
	const char *tls_server_name;
} shoal_connect_opts;

/* Opens a client for the coordinator at url ("tcp://host:port",
 * "tls+tcp://host:port", "ipc:///path").  opts may be NULL for defaults.
 * Connecting happens in the background and is retried, so an unreachable
 * coordinator is reported by the first call (UNAVAILABLE), not here.
 * On success *out is a client to release with shoal_close().
 * Errors: INVALID_ARGUMENT for a malformed url or, for tls+tcp://, a
 * missing CA or a bad certificate/key/CA file (the message names it);
 * RESOURCE_EXHAUSTED.  A failing TLS handshake (wrong CA, wrong name, a
 * required client certificate missing) is UNAVAILABLE on the first call,
 * saying so. */
SHOAL_API shoal_code shoal_connect(const char *url, const shoal_connect_opts *opts,
    shoal_client **out, shoal_status *st);

/* Closes the connection and frees the client.  Calls in progress on other
 * threads must have returned.  NULL is a no-op.  Results already returned
 * stay valid. */
SHOAL_API void shoal_close(shoal_client *c);

/* The url the client was opened with (owned by the client). */
SHOAL_API const char *shoal_client_url(const shoal_client *c);

/* ===================================================================
 * Cluster status
 * =================================================================== */

typedef struct shoal_worker_info {
	const char *name;
	const char *url;
	bool up;                /* heartbeats arriving */
	uint64_t points;
	uint64_t bytes;
	uint32_t shards;
	uint32_t tenants;
	uint64_t last_seen_ms;  /* ms since its last heartbeat */
} shoal_worker_info;

typedef struct shoal_cluster_info {
	const char *version;    /* the coordinator's version string */
	uint64_t epoch;         /* routing epoch; grows on placement changes */
	uint32_t tenants;
	uint32_t collections;
	size_t n_workers;
	shoal_worker_info *workers;
	/* Orphan shards (left on workers by interrupted creates): dropped since
	 * the coordinator started, and found but waiting out the grace period. */
	uint64_t orphans_reclaimed;
	uint32_t orphans_pending;
} shoal_cluster_info;

/* Asks the coordinator for the cluster's state.  On success *out is owned
 * by the caller: release it with shoal_cluster_info_free().  (Named
 * _cluster_status because shoal_status is the status type.) */
SHOAL_API shoal_code shoal_cluster_status(shoal_client *c, shoal_cluster_info **out,
    shoal_status *st);
/* Frees a result of shoal_cluster_status(); NULL is a no-op. */
SHOAL_API void shoal_cluster_info_free(shoal_cluster_info *info);

/* ===================================================================
 * Tenants
 * =================================================================== */

typedef struct shoal_tenant_info {
	char name[SHOAL_NAME_MAX + 1];
	char worker[SHOAL_NAME_MAX + 1]; /* the worker holding its shard group */
	uint32_t collections;
	uint64_t points;
} shoal_tenant_info;

/* Creates tenant `name`, placed by the coordinator or, when on_worker is
 * not NULL, on that worker.  If out is not NULL it receives the new
 * tenant's description (plain value, nothing to free).
 * Errors: INVALID_ARGUMENT (bad name), ALREADY_EXISTS, NOT_FOUND (unknown
 * on_worker), UNAVAILABLE (no worker up). */
SHOAL_API shoal_code shoal_tenant_create(shoal_client *c, const char *name,
    const char *on_worker, shoal_tenant_info *out, shoal_status *st);

/* Lists every tenant.  On success *out is an array of *n entries (NULL
 * when *n == 0), released with shoal_tenant_list_free(). */
SHOAL_API shoal_code shoal_tenant_list(shoal_client *c, shoal_tenant_info **out,
    size_t *n, shoal_status *st);
SHOAL_API void shoal_tenant_list_free(shoal_tenant_info *list);

/* Drops a tenant with all its collections and points.
 * Errors: NOT_FOUND. */
SHOAL_API shoal_code shoal_tenant_drop(shoal_client *c, const char *name,
    shoal_status *st);

/* ---- tenant API keys (docs/security.md; these calls need the admin key) */

/* A tenant API key as listed: its public id, never the key itself. */
typedef struct shoal_tenant_key {
	char tenant[64];
	char id[17];           /* 16 hex digits: names the key in revoke */
	uint64_t created_unix; /* seconds since 1970 */
} shoal_tenant_key;

/* Creates an API key for tenant: one that reads and writes only that
 * tenant's data.  The key (a NUL-terminated string) is written to key,
 * which holds key_cap bytes (SHOAL_TENANT_KEY_MAX is enough); it is shown
 * this once -- the coordinator keeps only its hash.  info may be NULL.
 * Errors: NOT_FOUND (tenant), INVALID_ARGUMENT (key_cap too small). */
#define SHOAL_TENANT_KEY_MAX 80
SHOAL_API shoal_code shoal_tenant_key_create(shoal_client *c, const char *tenant,
    char *key, size_t key_cap, shoal_tenant_key *info, shoal_status *st);

/* The keys of tenant (NULL or "" = every tenant); free *out with free(). */
SHOAL_API shoal_code shoal_tenant_key_list(shoal_client *c, const char *tenant,
    shoal_tenant_key **out, size_t *n, shoal_status *st);

/* Revokes tenant's key `id` (from shoal_tenant_key_list): requests with it
 * are refused from now on.  Errors: NOT_FOUND. */
SHOAL_API shoal_code shoal_tenant_key_revoke(shoal_client *c, const char *tenant,
    const char *id, shoal_status *st);

/* ===================================================================
 * Collections
 * =================================================================== */

/* Distances are "smaller is closer" for every metric:
 *   cosine: 1 - cos(a, b);  l2: Euclidean (not squared);  ip: -(a . b) */
typedef enum shoal_metric {
	SHOAL_METRIC_DEFAULT = 0, /* = cosine */
	SHOAL_METRIC_COSINE = 1,
	SHOAL_METRIC_L2 = 2,
	SHOAL_METRIC_IP = 3,
} shoal_metric;

/* "cosine" | "l2" | "ip"; "unknown" for anything else.  Static storage. */
SHOAL_API const char *shoal_metric_name(shoal_metric m);
/* Parses a metric name; returns false (and leaves *out alone) if unknown. */
SHOAL_API bool shoal_metric_parse(const char *s, shoal_metric *out);

typedef struct shoal_collection_params {
	uint32_t dim;             /* required, 1..SHOAL_MAX_DIM */
	shoal_metric metric;      /* 0 = cosine */
	uint32_t m;               /* HNSW M; 0 = server default (16) */
	uint32_t ef_construction; /* 0 = server default (64) */
} shoal_collection_params;

typedef struct shoal_collection_info {
	char tenant[SHOAL_NAME_MAX + 1];
	char name[SHOAL_NAME_MAX + 1];
	uint32_t dim;
	shoal_metric metric;
	uint32_t m;
	uint32_t ef_construction;
	uint64_t shard_id;
	char worker[SHOAL_NAME_MAX + 1];
	uint64_t points;
} shoal_collection_info;

/* Creates collection `name` in `tenant`.  If out is not NULL it receives
 * the collection's description (plain value, nothing to free).
 * Errors: INVALID_ARGUMENT (bad name, dim 0 or too large, bad metric),
 * NOT_FOUND (tenant), ALREADY_EXISTS. */
SHOAL_API shoal_code shoal_collection_create(shoal_client *c, const char *tenant,
    const char *name, const shoal_collection_params *params,
    shoal_collection_info *out, shoal_status *st);

/* Lists the collections of a tenant (tenant "" or NULL: the shared and
 * reference collections, whose tenant and worker fields are "").  On
 * success *out is an array of *n entries (NULL when *n == 0), released
 * with shoal_collection_list_free().  Errors: NOT_FOUND (tenant). */
SHOAL_API shoal_code shoal_collection_list(shoal_client *c, const char *tenant,
    shoal_collection_info **out, size_t *n, shoal_status *st);
SHOAL_API void shoal_collection_list_free(shoal_collection_info *list);

/* Drops a collection and all its points.  Errors: NOT_FOUND. */
SHOAL_API shoal_code shoal_collection_drop(shoal_client *c, const char *tenant,
    const char *name, shoal_status *st);

/* ===================================================================
 * Payload
 * =================================================================== */

typedef enum shoal_value_type {
	SHOAL_VALUE_STRING = 1,
	SHOAL_VALUE_INT = 2,
	SHOAL_VALUE_DOUBLE = 3,
	SHOAL_VALUE_BOOL = 4,
	SHOAL_VALUE_TAGS = 5, /* list of strings */
} shoal_value_type;

/* One typed payload attribute.  In a batch the caller owns every pointer;
 * in a result the result does. */
typedef struct shoal_field {
	const char *key;
	shoal_value_type type;
	union {
		const char *s;        /* SHOAL_VALUE_STRING */
		int64_t i;            /* SHOAL_VALUE_INT */
		double d;             /* SHOAL_VALUE_DOUBLE */
		bool b;               /* SHOAL_VALUE_BOOL */
		struct {
			const char *const *v;
			size_t n;
		} tags;               /* SHOAL_VALUE_TAGS */
	};
} shoal_field;

typedef struct shoal_payload {
	const shoal_field *fields;
	size_t n_fields;
} shoal_payload;

/* ===================================================================
 * Points
 * =================================================================== */

/* n points to insert or replace, described by parallel arrays. */
typedef struct shoal_batch {
	size_t n;                      /* number of points */
	uint32_t dim;                  /* components per vector */
	const uint64_t *ids;           /* n ids */
	const float *vectors;          /* n * dim floats: point i at vectors[i*dim] */
	const shoal_payload *payloads; /* NULL, or n entries (n_fields may be 0) */
	const char *const *texts;      /* NULL, or n entries (each may be NULL) */
} shoal_batch;

/* Inserts or replaces the batch's points (an existing id is overwritten:
 * vector, payload and text).  The batch is checked here first (ids and
 * vectors present, dim in range, every component finite, payload fields
 * typed) and nothing is sent if any point is bad.  Large batches are sent
 * as several requests of at most ~8 MiB, in order; if one fails, the
 * earlier ones stay applied, *upserted counts them, and re-sending the
 * whole batch is safe (idempotent).  n == 0 is OK and sends nothing.
 * *upserted (if not NULL) = points acknowledged.
 * Errors: INVALID_ARGUMENT (e.g. dim differs from the collection's),
 * NOT_FOUND (tenant/collection), UNAVAILABLE, DEADLINE_EXCEEDED. */
SHOAL_API shoal_code shoal_upsert(shoal_client *c, const char *tenant,
    const char *collection, const shoal_batch *batch, uint32_t *upserted,
    shoal_status *st);

/* Deletes the points with the given ids; ids that do not exist are
 * ignored.  *deleted (if not NULL) = how many existed and are now gone.
 * Errors: NOT_FOUND (tenant/collection). */
SHOAL_API shoal_code shoal_delete(shoal_client *c, const char *tenant,
    const char *collection, const uint64_t *ids, size_t n, uint32_t *deleted,
    shoal_status *st);

/* Number of live points in a collection. */
SHOAL_API shoal_code shoal_count(shoal_client *c, const char *tenant,
    const char *collection, uint64_t *count, shoal_status *st);

/* A stored point as returned by shoal_get(). */
typedef struct shoal_point {
	uint64_t id;
	uint32_t dim;             /* 0 when the vector was not requested */
	const float *vector;      /* dim floats, or NULL */
	size_t n_payload;
	const shoal_field *payload;
	const char *text;         /* NULL when the point has none */
} shoal_point;

typedef struct shoal_get_result {
	size_t n_points;
	shoal_point *points;      /* the ids that exist, in no promised order */
} shoal_get_result;

/* Reads points back by id; ids that do not exist are absent from the
 * result (not an error).  with_vector asks for the vectors too.
 * On success *out is released with shoal_get_result_free(). */
SHOAL_API shoal_code shoal_get(shoal_client *c, const char *tenant,
    const char *collection, const uint64_t *ids, size_t n, bool with_vector,
    shoal_get_result **out, shoal_status *st);
SHOAL_API void shoal_get_result_free(shoal_get_result *r);

/* ===================================================================
 * Search
 * =================================================================== */

typedef struct shoal_search_params {
	uint32_t k;          /* hits wanted; 0 = 10 */
	uint32_t ef_search;  /* HNSW beam width; 0 = collection default */
	bool exact;          /* brute force over the live rows (ground truth) */
	bool with_payload;   /* fill hits[i].payload and .text */
	bool with_vector;    /* fill hits[i].vector */
	/* Payload filter in the text syntax, NULL = none, e.g.
	 *   lang = "en" AND (year >= 2020 OR tags HAS "news") AND NOT draft = true
	 *   cat IN ("a", "b")
	 * (=, !=, <, <=, >, >=, HAS, [NOT] IN, AND, OR, NOT, parentheses; the
	 * grammar and semantics are in docs/filters.md).  Parsed here, before
	 * anything is sent: a syntax error is INVALID_ARGUMENT with
	 * "filter: ... at position N".  Hits then hold min(k, matching points):
	 * a selective filter never makes an answer silently short. */
	const char *filter;
} shoal_search_params;

typedef struct shoal_hit {
	uint64_t id;
	float distance;           /* smaller is closer, see shoal_metric */
	uint32_t dim;             /* 0 unless with_vector */
	const float *vector;
	size_t n_payload;         /* 0 unless with_payload */
	const shoal_field *payload;
	const char *text;         /* NULL unless with_payload and present */
} shoal_hit;

typedef struct shoal_search_result {
	size_t n_hits;
	shoal_hit *hits;          /* closest first */
	/* true when hits holds min(k, live points): false means part of the
	 * data could not be searched (e.g. a worker is down) and the answer
	 * may miss closer points.  A short answer is never silent. */
	bool complete;
	/* Since 0.1 + shared collections (filled by every search): the
	 * workers that did not answer a search made with allow_partial
	 * (complete is false then), and the explanation asked for with
	 * shoal_search_opts.explain (NULL otherwise). */
	size_t n_missing;
	const char *const *missing_workers;
	const struct shoal_explain *explain;
} shoal_search_result;

/* k-nearest-neighbour search of `vector` (dim floats) in a collection.
 * params may be NULL for the defaults above.  On success *out is released
 * with shoal_search_result_free().
 * Errors: INVALID_ARGUMENT (dim differs from the collection's, NaN/Inf,
 * k too large), NOT_FOUND (tenant/collection), UNAVAILABLE. */
SHOAL_API shoal_code shoal_search(shoal_client *c, const char *tenant,
    const char *collection, const float *vector, uint32_t dim,
    const shoal_search_params *params, shoal_search_result **out,
    shoal_status *st);
SHOAL_API void shoal_search_result_free(shoal_search_result *r);

/* ===================================================================
 * Shared and reference collections
 *
 * Besides a dedicated tenant's collections (above: every collection of a
 * tenant lives on that tenant's worker) a cluster has cluster-level
 * collections, which belong to no tenant:
 *   SHARED     hash-distributed over S shards (default 32) spread over the
 *              workers.  Each point carries its distribution key in a
 *              payload field (key_field, default "tenant"; a string, or an
 *              integer used as its decimal text).  A search that names a
 *              key goes to the one shard (and partition) of that key; one
 *              without a key is scattered to every shard and the top k
 *              merged.  colocate_with makes two shared collections share
 *              one shard map (same S, shard i on the same worker, moved
 *              together).
 *   REFERENCE  small, replicated to every worker: writes go to every
 *              replica (a replica that is down catches up when it
 *              returns), reads to any up-to-date one.
 * Every function taking (tenant, collection) addresses a cluster-level
 * collection with tenant "" (the empty string).  Their names and tenant
 * names are one namespace.
 * =================================================================== */

typedef enum shoal_placement {
	SHOAL_PLACEMENT_DEDICATED = 0, /* a tenant's collection */
	SHOAL_PLACEMENT_SHARED = 1,
	SHOAL_PLACEMENT_REFERENCE = 2,
} shoal_placement;

/* "dedicated" | "shared" | "reference" | "unknown"; static storage. */
SHOAL_API const char *shoal_placement_name(shoal_placement p);

/* How a cluster-level collection is distributed.  Zero-initialise. */
typedef struct shoal_distribution {
	shoal_placement placement;     /* SHARED or REFERENCE */
	uint32_t shards;               /* SHARED: 1..1024; 0 = 32 (or the
	                                  colocated collection's) */
	const char *key_field;         /* SHARED: NULL = "tenant" */
	const char *colocate_with;     /* SHARED: NULL = a shard map of its own */
	const char *const *on_workers; /* SHARED: spread the shards over these
	                                  workers only; NULL = every up worker */
	size_t n_on_workers;
} shoal_distribution;

/* Creates cluster-level collection `name`.  out (may be NULL) receives its
 * description; out->tenant and out->worker are "", out->shard_id is the
 * first shard's id.
 * Errors: INVALID_ARGUMENT (bad name or params, options that do not fit
 * the placement), ALREADY_EXISTS (a collection or tenant of that name),
 * NOT_FOUND (colocate_with), UNAVAILABLE (no / not enough workers up). */
SHOAL_API shoal_code shoal_collection_create_distributed(shoal_client *c, const char *name,
    const shoal_collection_params *params, const shoal_distribution *dist,
    shoal_collection_info *out, shoal_status *st);

/* Where one shard of a collection (or one replica of a reference
 * collection) lives. */
typedef struct shoal_shard_placement {
	uint32_t index;           /* shard index; replica number for reference */
	uint64_t shard_id;
	char worker[SHOAL_NAME_MAX + 1];
	uint64_t epoch;           /* placement epoch (grows when it moves) */
	uint64_t points;          /* as the worker reported it (0 if it did not) */
	bool current;             /* reference: no catch-up pending */
} shoal_shard_placement;

typedef struct shoal_collection_desc {
	shoal_collection_info info;  /* tenant "" for a cluster-level collection */
	shoal_placement placement;
	uint32_t shards;             /* 1 for dedicated and reference */
	char key_field[SHOAL_NAME_MAX + 1];  /* shared */
	uint64_t colocation;         /* shared: shard map id (equal = colocated) */
	size_t n_placements;
	shoal_shard_placement *placements;
} shoal_collection_desc;

/* Describes collection (tenant, name), tenant "" for a cluster-level one,
 * with the placement of every shard.  On success *out is released with
 * shoal_collection_desc_free().  Errors: NOT_FOUND. */
SHOAL_API shoal_code shoal_collection_describe(shoal_client *c, const char *tenant,
    const char *name, shoal_collection_desc **out, shoal_status *st);
SHOAL_API void shoal_collection_desc_free(shoal_collection_desc *d);

/* Routing and diagnostics of one search.  Zero-initialise. */
typedef struct shoal_search_opts {
	const char *key;     /* shared: the distribution-key value to search
	                        (one shard); NULL = every shard */
	bool allow_partial;  /* a worker that does not answer leaves its shards
	                        out (result: complete = false, missing_workers)
	                        instead of failing the search with UNAVAILABLE */
	bool explain;        /* fill result->explain */
} shoal_search_opts;

typedef struct shoal_explain_shard {
	uint64_t shard_id;
	uint32_t index;           /* shard index in the collection */
	const char *worker;
	const char *partition;    /* the key searched inside the shard; "" = all */
	uint32_t candidates;      /* hits the shard gave the merge */
	uint64_t micros;          /* search time on the worker */
	shoal_code code;          /* OK, or why this shard has no candidates */
	const char *message;
	uint64_t epoch;           /* placement epoch the request carried */
} shoal_explain_shard;

typedef struct shoal_explain_worker {
	const char *worker;
	const char *url;
	uint32_t shards;          /* shards carried by its one request */
	uint64_t micros;          /* round trip seen by the coordinator */
	shoal_code code;
	const char *message;
} shoal_explain_worker;

/* What a search did (EXPLAIN ANALYZE for shoal).  Strings never NULL. */
typedef struct shoal_explain {
	const char *placement;    /* "dedicated" | "shared" | "reference" */
	const char *plan;         /* one line: how the request was routed */
	uint64_t epoch;           /* catalog epoch when it ran */
	uint32_t retries;         /* rounds re-routed after a placement change */
	uint32_t candidates;      /* hits merged */
	uint64_t merge_micros;
	uint64_t total_micros;    /* inside the coordinator */
	size_t n_shards;
	const shoal_explain_shard *shards;
	size_t n_workers;         /* worker requests, over all rounds */
	const shoal_explain_worker *workers;
} shoal_explain;

/* shoal_search() with routing options (opts may be NULL = none).
 * Errors as shoal_search(), and INVALID_ARGUMENT for a key on a
 * collection that is not shared; UNAVAILABLE naming the worker that did
 * not answer (without allow_partial). */
SHOAL_API shoal_code shoal_search_ex(shoal_client *c, const char *tenant,
    const char *collection, const float *vector, uint32_t dim,
    const shoal_search_params *params, const shoal_search_opts *opts,
    shoal_search_result **out, shoal_status *st);

/* shoal_get() / shoal_delete() for a shared collection's points of one
 * key (key NULL = look in every shard): an id that lives under another
 * key is not returned / not deleted (and not counted in *deleted). */
SHOAL_API shoal_code shoal_get_ex(shoal_client *c, const char *tenant,
    const char *collection, const char *key, const uint64_t *ids, size_t n,
    bool with_vector, shoal_get_result **out, shoal_status *st);
SHOAL_API shoal_code shoal_delete_ex(shoal_client *c, const char *tenant,
    const char *collection, const char *key, const uint64_t *ids, size_t n,
    uint32_t *deleted, shoal_status *st);

/* ===================================================================
 * Import from PostgreSQL (docs/import.md)
 *
 * The coordinator runs the import: it connects to PostgreSQL with the DSN,
 * reads COPY (SELECT ...) TO STDOUT and upserts the rows in batches.
 * shoal_import_start() checks everything it can up front (the DSN
 * connects, the table and columns exist and have usable types) and returns
 * once the job runs; poll it with shoal_import_get() until its state is no
 * longer SHOAL_IMPORT_RUNNING.  The job survives this client going away,
 * and a job cut short (coordinator restart, failure, cancel) continues
 * from its durable checkpoint when started again with resume = true.
 * =================================================================== */

typedef enum shoal_import_state {
	SHOAL_IMPORT_RUNNING = 1,
	SHOAL_IMPORT_SUCCEEDED = 2,
	SHOAL_IMPORT_FAILED = 3,      /* error_code / error say why */
	SHOAL_IMPORT_INTERRUPTED = 4, /* the coordinator stopped; resume continues */
	SHOAL_IMPORT_CANCELLED = 5,
} shoal_import_state;

/* "running", "succeeded", ...; static storage. */
SHOAL_API const char *shoal_import_state_name(shoal_import_state s);

/* What to import.  Zero-initialise; NULL / 0 fields take the defaults. */
typedef struct shoal_import_spec {
	const char *dsn;          /* libpq "host=... dbname=..." or postgresql:// URI */
	const char *table;        /* [schema.]table, or */
	const char *query;        /* a SELECT (exactly one of table and query) */
	const char *schemas;      /* LIKE pattern: a dedicated tenant per schema
	                             holding `table` (Citus schema-based layout) */
	const char *id_col;       /* bigint/integer/smallint, or uuid/text (hashed) */
	const char *vector_col;   /* vector, halfvec, real[], double precision[], text */
	const char *tenant;       /* one dedicated tenant, or */
	const char *tenant_col;   /* the column with each row's tenant: rows go to
	                             one shared collection distributed by it, or
	                             to a tenant per value (dedicated_tenants) */
	const char *const *payload_cols;
	size_t n_payload_cols;
	const char *text_col;     /* NULL = none */
	const char *collection;   /* created when missing, dim from the data */
	shoal_metric metric;      /* for a created collection; 0 = cosine */
	uint32_t m;               /* for a created collection; 0 = default */
	uint32_t ef_construction; /* for a created collection; 0 = default */
	bool skip_bad_rows;       /* count bad rows and go on (else stop at the first) */
	bool resume;              /* continue the same import from its checkpoint */
	uint32_t batch;           /* rows per upsert; 0 = 1000 */
	uint32_t parallel;        /* upserts in flight; 0 = 4 */
	uint32_t max_rate;        /* rows per second; 0 = unlimited */
	const char *copy_format;  /* "auto" (NULL) | "binary" | "text" */
	bool dedicated_tenants;   /* with tenant_col: a dedicated tenant per value */
} shoal_import_spec;

typedef struct shoal_import_skip {
	const char *reason;       /* "NULL vector", ... */
	uint64_t rows;
	const char *example;      /* the first such row and what was wrong */
} shoal_import_skip;

/* A job as the coordinator reports it.  Strings are never NULL ("" when
 * unset) and live as long as the info. */
typedef struct shoal_import_info {
	char id[SHOAL_NAME_MAX + 1]; /* stable: derived from source and target */
	shoal_import_state state;
	const char *dsn;          /* without its password */
	const char *table, *query, *schemas, *tenant, *tenant_col, *collection;
	uint64_t rows_estimated;  /* the planner's estimate for the source */
	uint64_t rows_done;       /* imported + skipped, acknowledged */
	uint64_t rows_imported;
	uint64_t rows_skipped;
	uint64_t rows_read;       /* read from PostgreSQL so far */
	size_t n_skips;
	const shoal_import_skip *skips;
	double rows_per_sec;      /* of the current (or last) run */
	uint64_t elapsed_ms;      /* of the current (or last) run */
	shoal_code error_code;    /* SHOAL_OK unless FAILED */
	const char *error;
	uint32_t units_total;     /* sources: 1, or the number of schemas */
	uint32_t units_done;
	const char *current;      /* the source being read */
	uint64_t resumed_from;    /* rows_done when this run started */
	uint32_t runs;
	uint32_t tenants;         /* tenants written to by this run */
	uint32_t dim;
	const char *notice;       /* e.g. "resumed at row 50000" */
	bool dedicated_tenants;   /* tenant_col mode (see shoal_import_spec) */
} shoal_import_info;

/* Starts (or with resume, continues or follows) an import.  On success
 * *out describes the job (release with shoal_import_info_free()).
 * Errors: INVALID_ARGUMENT (bad spec, missing column, unusable type),
 * NOT_FOUND (table, schemas), UNAVAILABLE (PostgreSQL unreachable),
 * ALREADY_EXISTS (the same import is running and resume is false),
 * RESOURCE_EXHAUSTED (too many imports running). */
SHOAL_API shoal_code shoal_import_start(shoal_client *c, const shoal_import_spec *spec,
    shoal_import_info **out, shoal_status *st);

/* The job `id` (or a unique prefix of at least 4 characters).
 * Errors: NOT_FOUND. */
SHOAL_API shoal_code shoal_import_get(shoal_client *c, const char *id,
    shoal_import_info **out, shoal_status *st);

/* Stops a running job; it keeps its checkpoint (resume continues it) and
 * *out (may be NULL) is its final state.  Errors: NOT_FOUND,
 * FAILED_PRECONDITION (not running). */
SHOAL_API shoal_code shoal_import_cancel(shoal_client *c, const char *id,
    shoal_import_info **out, shoal_status *st);

SHOAL_API void shoal_import_info_free(shoal_import_info *info);

/* Every job the coordinator knows: *out is an array of *n infos released
 * with shoal_import_list_free(). */
SHOAL_API shoal_code shoal_import_list(shoal_client *c, shoal_import_info **out, size_t *n,
    shoal_status *st);
SHOAL_API void shoal_import_list_free(shoal_import_info *list);

/* ===================================================================
 * Backups (docs/operations.md)
 * =================================================================== */

typedef struct shoal_backup_worker {
	const char *name;
	const char *dir;        /* relative to the backup directory */
	uint64_t points;        /* live points when its copy was taken */
	uint32_t shards;
	uint64_t bytes;
	uint64_t micros;
} shoal_backup_worker;

typedef struct shoal_backup_info {
	const char *dir;
	uint64_t created_ms;    /* wall clock when it started */
	uint64_t epoch;         /* catalog epoch when it started */
	uint64_t version_floor; /* what a restore raises the version allocator to */
	uint32_t tenants;
	uint32_t collections;
	uint64_t micros;        /* how long it took */
	size_t n_workers;
	shoal_backup_worker *workers;
} shoal_backup_info;

/* Takes a consistent backup of the catalog and every worker into dir
 * while the cluster keeps serving (every write acknowledged before the
 * call is in it).  dir must be an absolute path that does not exist; it
 * is resolved on the coordinator's host, and each worker writes its part
 * to dir/workers/<name> on its own host (shared storage for multi-host
 * clusters).  timeout_ms bounds the whole backup (0 = one hour).  On OK
 * *out is released with shoal_backup_info_free().
 * Errors: INVALID_ARGUMENT (relative path), FAILED_PRECONDITION (dir
 * exists, another backup running), UNAVAILABLE (a worker did not write
 * its part; nothing is kept). */
SHOAL_API shoal_code shoal_backup_create(shoal_client *c, const char *dir, uint32_t timeout_ms,
    shoal_backup_info **out, shoal_status *st);
SHOAL_API void shoal_backup_info_free(shoal_backup_info *info);

/* ===================================================================
 * Online moves (docs/operations.md, coordinator/move.h)
 * =================================================================== */

typedef struct shoal_move_info {
	char id[64];            /* the move's id: the tenant's name, or "shard:N" */
	char tenant[64];
	char from_worker[64];
	char to_worker[64];
	int state;              /* shoal.MoveState: 1 creating .. 5 done, 6 aborted */
	char state_name[16];    /* "creating" "copying" "cutover" "cleanup" "done" "aborted" */
	uint32_t shards;
	uint64_t rows_total;    /* on the source when the copy started (rows + tombstones) */
	uint64_t rows_copied;
	uint64_t bytes_copied;  /* the rows' bytes; index bundles: index_bytes_copied */
	uint64_t elapsed_ms;
	uint64_t eta_ms;        /* while copying; 0 = unknown */
	double mb_per_s;        /* copy rate, rows + index bundles (what max_mbps
	                           throttles): so far while copying, then the
	                           copy's average; 0 before it */
	double rows_per_s;
	double max_mbps;        /* throttle; 0 = none */
	uint64_t fence_ms;      /* write pause at cutover */
	uint64_t epoch;         /* placement epoch after the cutover */
	uint32_t attempts;      /* copy passes (a resume after a restart adds one) */
	char error[512];        /* aborted: why */
	uint64_t index_bytes_copied; /* HNSW index bundle bytes carried to the
	                           target by this copy pass (a resume restarts
	                           at 0, as rows_copied) */
	uint64_t copy_ms;       /* the copy's duration (rows + bundles) so far */
} shoal_move_info;

/* Starts moving dedicated tenant `tenant` to worker `to` while it serves
 * (max_mbps: copy throttle in MB/s, 0 = none); returns once the move is
 * recorded (poll shoal_move_get).  Errors: NOT_FOUND (tenant, worker),
 * UNAVAILABLE (worker down), FAILED_PRECONDITION (already there),
 * ALREADY_EXISTS (already moving). */
SHOAL_API shoal_code shoal_move_start(shoal_client *c, const char *tenant, const char *to,
    double max_mbps, shoal_move_info *out, shoal_status *st);
/* Starts moving the shard group of shared shard `shard_id` (shard i of
 * its collection and of every collection colocated with it) to worker
 * `to`, as shoal_move_start; out->id is the move's id ("shard:N").
 * Errors: NOT_FOUND (not a shared collection's shard, unknown worker),
 * FAILED_PRECONDITION (already there, a reference replica),
 * ALREADY_EXISTS (already moving). */
SHOAL_API shoal_code shoal_shard_move_start(shoal_client *c, uint64_t shard_id, const char *to,
    double max_mbps, shoal_move_info *out, shoal_status *st);
/* The move's state and progress.  NOT_FOUND for an unknown id. */
SHOAL_API shoal_code shoal_move_get(shoal_client *c, const char *id, shoal_move_info *out,
    shoal_status *st);
/* Asks the move to roll back (before its cutover; FAILED_PRECONDITION
 * after).  It aborts at its next step; poll shoal_move_get. */
SHOAL_API shoal_code shoal_move_cancel(shoal_client *c, const char *id, shoal_move_info *out,
    shoal_status *st);
/* Every move this coordinator knows (running and finished): *out is
 * malloc'ed (free()), *n entries. */
SHOAL_API shoal_code shoal_move_list(shoal_client *c, shoal_move_info **out, size_t *n,
    shoal_status *st);

/* ---- rebalance, drain, remove a worker ---- */

typedef struct shoal_planned_move {
	char tenant[64];        /* the tenant, or "shard:N" (a shared shard group) */
	char from_worker[64];
	char to_worker[64];
	uint64_t points;
	uint64_t bytes;         /* estimated: points x (4 x dim + 32) */
	int state;              /* as shoal_move_info.state; 0 = not started */
	char error[512];
} shoal_planned_move;

typedef struct shoal_worker_load {
	char name[64];
	uint64_t bytes_before;  /* estimated load when planned */
	uint64_t bytes_after;   /* as planned after every move */
} shoal_worker_load;

typedef struct shoal_rebalance_info {
	int state;              /* 0 none, 1 planned (dry run), 2 running, 3 done,
	                           4 failed, 5 cancelled */
	char state_name[16];
	char drain[64];         /* the worker drained, "" for a rebalance */
	char error[512];
	uint64_t elapsed_ms;
	size_t current;         /* index of the running move */
	size_t done;            /* moves finished */
	size_t n_moves;
	shoal_planned_move *moves;
	size_t n_workers;
	shoal_worker_load *workers;
	bool has_move;          /* running: the current move's progress */
	shoal_move_info move;
	uint32_t restarts;      /* times the run resumed after a coordinator restart */
} shoal_rebalance_info;

/* Plans moves of tenants that even out the load (drain NULL) or empty
 * worker `drain`, and (unless dry_run) starts executing them one by one
 * (max_mbps per move; 0 = unlimited).  *out: the plan (free with
 * shoal_rebalance_info_free).  ALREADY_EXISTS when one is running,
 * NOT_FOUND for an unknown drain worker, FAILED_PRECONDITION when a drain
 * has nowhere to go. */
SHOAL_API shoal_code shoal_rebalance_start(shoal_client *c, bool dry_run, double max_mbps,
    const char *drain, shoal_rebalance_info **out, shoal_status *st);
/* The last (or running) rebalance. */
SHOAL_API shoal_code shoal_rebalance_get(shoal_client *c, shoal_rebalance_info **out,
    shoal_status *st);
/* Stops the running rebalance: its current move rolls back (if before its
 * cutover), the rest is not started.  FAILED_PRECONDITION when none runs. */
SHOAL_API shoal_code shoal_rebalance_cancel(shoal_client *c, shoal_rebalance_info **out,
    shoal_status *st);
SHOAL_API void shoal_rebalance_info_free(shoal_rebalance_info *info);

/* Removes a worker that is down and holds nothing from the catalog.
 * FAILED_PRECONDITION (names what it holds, or that it is up), NOT_FOUND. */
SHOAL_API shoal_code shoal_worker_remove(shoal_client *c, const char *name, shoal_status *st);

#ifdef __cplusplus
}
#endif
#endif
