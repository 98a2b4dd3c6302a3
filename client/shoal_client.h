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
 *                      reached; retrying later may succeed
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
} shoal_connect_opts;

/* Opens a client for the coordinator at url ("tcp://host:port",
 * "tls+tcp://host:port", "ipc:///path").  opts may be NULL for defaults.
 * Connecting happens in the background and is retried, so an unreachable
 * coordinator is reported by the first call (UNAVAILABLE), not here.
 * On success *out is a client to release with shoal_close().
 * Errors: INVALID_ARGUMENT for a malformed url, RESOURCE_EXHAUSTED. */
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

/* Lists the collections of a tenant.  On success *out is an array of *n
 * entries (NULL when *n == 0), released with shoal_collection_list_free().
 * Errors: NOT_FOUND (tenant). */
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

#ifdef __cplusplus
}
#endif
#endif
