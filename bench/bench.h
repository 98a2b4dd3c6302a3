/* bench.h -- shoal-bench internals: datasets, targets, results, output.
 *
 * shoal-bench runs one or more workloads against several targets (raw
 * in-process FAISS, a shoal cluster, PostgreSQL + pgvector) on the same
 * data in one process, and writes a JSON file, a Markdown report and
 * gnuplot plots.  The modules:
 *   data.c      datasets (generated, .fvecs/.bvecs/.ivecs, IDX) and exact
 *               ground truth; recall
 *   target_*.c  one bench_target_ops per target
 *   cluster.c   --local N: a coordinator + N workers in a temp directory
 *   report.c    machine facts, JSON, Markdown, plots
 *   measure.c   one sweep point, recall, waiting for an index, server CPU
 *   wl_*.c      one workload each (scatter, filter, migrate, rebalance,
 *               import)
 *   main.c      options, the run, ingest/search/tenant, progress
 *
 * Ids: every target stores point i of a load under the 0-based id
 * first_id + i and returns those ids from searches (a target whose store
 * cannot hold id 0 shifts ids internally).  Recall compares them with the
 * dataset's ground truth, by distance (see bench_recall).
 *
 * Errors follow the project's convention: shoal_code + shoal_status *st.
 * The harness itself aborts on out-of-memory (xmalloc), like the daemons.
 */
#ifndef SHOAL_BENCH_H
#define SHOAL_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "status.h"

/* ===================================================================
 * Datasets (data.c)
 * =================================================================== */

typedef struct bench_dataset {
	char name[128];       /* e.g. "gen-clustered-100000x128" */
	char source[600];     /* how it was produced (for the report) */
	char gt_source[300];  /* "given: FILE" | "computed exactly (...)" */
	int metric;           /* VECMATH_* */
	uint32_t dim;
	size_t n;             /* base vectors */
	size_t nq;            /* queries */
	float *base;          /* n * dim, owned */
	float *queries;       /* nq * dim, owned */
	uint32_t gt_k;        /* ground-truth neighbours per query (0 = none yet) */
	int32_t *gt;          /* nq * gt_k base indices, closest first, owned */
} bench_dataset;

/* How the data set is specified on the command line. */
typedef struct bench_data_spec {
	enum { DATA_NONE, DATA_GEN, DATA_GEN_CLUSTERED, DATA_FILES, DATA_IDX } kind;
	size_t gen_n;
	uint32_t gen_dim;
	uint64_t seed;
	uint32_t clusters;    /* clustered generator */
	uint32_t intrinsic;   /* clustered generator: latent dimension */
	const char *base_path, *query_path, *gt_path; /* DATA_FILES / DATA_IDX */
	const char *name;     /* display name override (NULL = derived) */
	size_t limit;         /* 0 = all base vectors */
	size_t queries;       /* 0 = all (files) / default (generated) */
	int metric;
} bench_data_spec;

/* Loads or generates the dataset (base, queries, and a given .ivecs ground
 * truth).  On success *ds is filled and owns its arrays (bench_dataset_free).
 * INVALID_ARGUMENT / NOT_FOUND with a message naming the file on bad input. */
shoal_code bench_dataset_load(const bench_data_spec *spec, bench_dataset *ds,
    shoal_status *st);
void bench_dataset_free(bench_dataset *ds);

/* Makes sure ds has exact ground truth for k neighbours: keeps a given one
 * if it has >= k columns, else computes it with FAISS flat search and an
 * exact double-precision re-rank.  Progress on stderr. */
shoal_code bench_ground_truth(bench_dataset *ds, uint32_t k, shoal_status *st);

/* Exact k-NN of nq queries among base[0..n): FAISS flat search (BLAS) for
 * k+16 candidates, re-ranked in double precision.  out: nq * k base
 * indices, closest first, -1 past the n-th.  label: progress lines on
 * stderr (NULL = quiet). */
shoal_code bench_exact_knn(int metric, const float *base, size_t n, uint32_t dim,
    const float *queries, size_t nq, uint32_t k, int32_t *out, const char *label,
    shoal_status *st);

/* Writes ds's ground truth as .ivecs. */
shoal_code bench_write_ivecs(const char *path, const int32_t *v, size_t n, uint32_t dim,
    shoal_status *st);

/* Distance in double precision (smaller is closer; vecmath's definitions). */
double bench_distance(int metric, const float *a, const float *b, uint32_t dim);

/* Recall of one answer: the fraction of k for which the i-th returned id
 * (distinct, in [0, n_base)) is at most as far from q as the k-th true
 * neighbour (with a 1e-6 relative tolerance), so ties at the k-th distance
 * count as hits, as in ann-benchmarks.  kth_dist is bench_distance(q,
 * k-th true neighbour). */
double bench_recall_one(int metric, const float *base, size_t n_base, uint32_t dim,
    const float *q, double kth_dist, const int64_t *ids, size_t n_ids, uint32_t k);

/* Exact k-NN of q among base[0..n) by brute force (for small sets, e.g. a
 * tenant's points); out receives min(k, n) indices, closest first. */
void bench_brute_force(int metric, const float *base, size_t n, uint32_t dim,
    const float *q, uint32_t k, int32_t *out);

/* ===================================================================
 * Targets (target_faiss.c, target_shoal.c, target_pg.c)
 * =================================================================== */

/* The knobs every target receives. */
typedef struct bench_config {
	int metric;             /* VECMATH_* */
	uint32_t m;             /* HNSW M */
	uint32_t ef_construction;
	uint32_t batch;         /* vectors per upsert / COPY flush */
	const char *shoal_url;  /* shoal target */
	uint32_t shoal_timeout_ms;
	const char *pg_dsn;     /* pgvector target */
	const char *pg_maintenance_work_mem;
	int pg_parallel_workers;/* max_parallel_maintenance_workers, -1 = server's */
	const char *run_id;     /* unique per run: names tenants/tables */
	bool keep;              /* leave collections/tables behind */
} bench_config;

/* One space of vectors: a collection in a tenant (shoal), a table (pg),
 * an index (faiss).  Opaque to main.c. */
typedef struct bench_coll bench_coll;
typedef struct bench_target bench_target;
typedef struct bench_session bench_session;

/* Timing of a load, filled by load(). */
typedef struct bench_load_times {
	double load_s;    /* sending the vectors (upsert / COPY / add) */
	double build_s;   /* separate index build or catch-up until searchable */
} bench_load_times;

typedef struct bench_target_ops {
	const char *name; /* "faiss" | "shoal" | "pgvector" */
	/* The target answers searches before its ANN index exists (exactly)
	 * and builds the index in the background: main.c then waits, after
	 * load(), until a search is observed to be answered by the index
	 * (an inexact answer at ef_search 1), and counts that as build time. */
	bool background_index;

	/* Connects and checks that the target can run.  UNAVAILABLE or
	 * FAILED_PRECONDITION mean "skip this target" with st->msg as the
	 * reason (e.g. pgvector not installed).  *out owned by close(). */
	shoal_code (*open)(const bench_config *cfg, bench_target **out, shoal_status *st);
	/* Version facts for the report: writes "key=value" pairs to the
	 * callback (e.g. "postgresql", "15.4").  Any may be absent. */
	void (*versions)(bench_target *t, void (*put)(void *arg, const char *k, const char *v),
	    void *arg);
	/* Creates an empty space `name` (unique in the run) for dim vectors;
	 * group names a tenant for targets that have them (NULL = the main
	 * one).  *out owned by the target, released by drop() or close(). */
	shoal_code (*create)(bench_target *t, const char *group, const char *name, uint32_t dim,
	    bench_coll **out, shoal_status *st);
	/* Loads n vectors (ids first_id..first_id+n-1) and makes them
	 * searchable (builds the index where the target separates that).
	 * progress(arg, done) is called now and then from this thread. */
	shoal_code (*load)(bench_target *t, bench_coll *c, const float *v, size_t n,
	    int64_t first_id, bench_load_times *times, void (*progress)(void *arg, size_t done),
	    void *parg, shoal_status *st);
	/* A per-thread search context (connection). */
	shoal_code (*session_open)(bench_target *t, bench_session **out, shoal_status *st);
	void (*session_close)(bench_session *s);
	/* Sets ef_search for the following searches of this session. */
	shoal_code (*set_ef)(bench_session *s, uint32_t ef, shoal_status *st);
	/* k-NN of q in c: *n_ids ids (<= k) into ids, closest first. */
	shoal_code (*search)(bench_session *s, bench_coll *c, const float *q, uint32_t k,
	    int64_t *ids, size_t *n_ids, shoal_status *st);
	/* Removes the space (unless cfg->keep) and frees c; on a view (below)
	 * frees only the view. */
	void (*drop)(bench_target *t, bench_coll *c);
	void (*close)(bench_target *t);

	/* ---- optional: NULL where the target has no such thing ---- */

	/* load() that also stores an int payload field `field` with value
	 * attr[i] for point i (shoal: a payload field; pgvector: a bigint
	 * column; faiss: kept beside the index for filter_view). */
	shoal_code (*load_attr)(bench_target *t, bench_coll *c, const float *v, const int64_t *attr,
	    size_t n, int64_t first_id, const char *field, bench_load_times *times,
	    void (*progress)(void *arg, size_t done), void *parg, shoal_status *st);
	/* A view of c (loaded with load_attr) whose searches return only
	 * points with field < below (shoal: the payload filter "field <
	 * below"; pgvector: WHERE field < below; faiss: an id bitmap), the
	 * target's way number `mode` (an index into filter_modes, 0 when that
	 * is NULL).  *out is released with drop(), which then frees only the
	 * view.  FAILED_PRECONDITION: this server cannot do that mode. */
	shoal_code (*filter_view)(bench_target *t, bench_coll *c, const char *field, int64_t below,
	    int mode, bench_coll **out, shoal_status *st);
	/* A view of a shared collection (create_shared) whose searches name
	 * distribution-key value key: routed to that key's shard and
	 * partition only.  Released with drop() (frees only the view). */
	shoal_code (*key_view)(bench_target *t, bench_coll *c, int64_t key, bench_coll **out,
	    shoal_status *st);
	/* Names of the ways the target can filter (NULL-terminated), when it
	 * has more than one (pgvector: with and without iterative index
	 * scans); NULL = one way. */
	const char *const *filter_modes;
	/* A cluster-level collection hash-distributed over `shards` shards by
	 * the int payload field key_field (shoal's shared collection); load it
	 * with load_attr(field = key_field); a search names no key, so it is
	 * scattered to every shard. */
	shoal_code (*create_shared)(bench_target *t, const char *name, uint32_t dim, uint32_t shards,
	    const char *key_field, bench_coll **out, shoal_status *st);
} bench_target_ops;

extern const bench_target_ops bench_faiss_ops;
extern const bench_target_ops bench_shoal_ops;
extern const bench_target_ops bench_pg_ops;
/* target_worker.c: a worker's own search path in process (no network) */
extern const bench_target_ops bench_worker_ops;
/* The server version seen by the last pgvector open(), also when pgvector
 * itself was missing ("" if never connected): for the machine facts. */
extern char bench_pg_server_version[64];
/* The shoal tenant ("" for a cluster-level collection) and collection
 * name of a shoal target's space (borrowed from c). */
const char *bench_shoal_tenant(const bench_coll *c);
const char *bench_shoal_collection(const bench_coll *c);
/* The shoal target's client (borrowed from t; the loading thread's), for
 * requests the ops do not cover (the import workload's StartImport). */
struct shoal_client *bench_shoal_client(bench_target *t);
/* Waits until c, filled with n vectors v (bench ids first_id..) by any
 * means, counts n points and a search for the last one finds it (the
 * searchable half of the shoal target's load()); DEADLINE_EXCEEDED after
 * 900 s. */
shoal_code bench_shoal_wait_searchable(bench_target *t, bench_coll *c, const float *v, size_t n,
    int64_t first_id, shoal_status *st);

/* ===================================================================
 * Local cluster (cluster.c)
 * =================================================================== */

#define BENCH_MAX_WORKERS 16

#define BENCH_MAX_WORKER_ARGS 8
typedef struct bench_cluster {
	char dir[256];        /* temp directory with data, logs, ready files */
	char bin[512];        /* where shoal-coordinator / shoal-worker live */
	char url[64];         /* coordinator URL */
	int nworkers;
	int coord_pid;
	int worker_pid[BENCH_MAX_WORKERS];
	char worker_url[BENCH_MAX_WORKERS][128]; /* each worker's own URL */
	/* --worker-arg: extra flags for every worker (NULL-ended, borrowed
	 * from the caller of bench_cluster_start) */
	const char *const *worker_args;
} bench_cluster;

/* Starts a coordinator and n workers from bin on free loopback ports in a
 * new temp directory, and waits until all n workers are up; each worker
 * also gets worker_args (NULL-ended, at most BENCH_MAX_WORKER_ARGS; may be
 * NULL; borrowed while c runs).  On failure everything started is stopped
 * and st says why (with the log's tail). */
shoal_code bench_cluster_start(bench_cluster *c, const char *bin, int n,
    const char *const *worker_args, shoal_status *st);
/* Stops the daemons by pid (SIGTERM, SIGKILL after 10 s) and removes the
 * directory unless keep.  Safe on a half-started cluster. */
void bench_cluster_stop(bench_cluster *c, bool keep);
/* Starts one more worker ("bench-wN") and waits until the coordinator
 * reports it up (what `shoal node add URL` waits for).  On failure the
 * worker may be counted in c->nworkers (bench_cluster_stop stops it). */
shoal_code bench_cluster_add_worker(bench_cluster *c, shoal_status *st);
/* A worker's HNSW counters from its Status rpc at url: *imports = indexes
 * installed from a move (carried graphs), *rebuilds = graphs built or
 * compacted by the worker itself.  st non-NULL. */
shoal_code bench_worker_index_counters(const char *url, uint64_t *imports, uint64_t *rebuilds,
    shoal_status *st);
/* Its collection graphs (worker/coll_graph.h): *builds installed since its
 * start, *bytes of them loaded now, *off (may be NULL) when it runs with
 * --collection-graphs=false.  st non-NULL. */
shoal_code bench_worker_coll_graphs(const char *url, uint64_t *builds, uint64_t *bytes,
    bool *off, shoal_status *st);

/* ===================================================================
 * Results and output (report.c)
 * =================================================================== */

typedef enum bench_result_status {
	RES_OK = 0,
	RES_SKIPPED,      /* target unavailable (e.g. pgvector not installed) */
	RES_UNSUPPORTED,  /* workload not supported by this build */
	RES_FAILED,       /* ran and failed: reason says why */
} bench_result_status;

typedef struct bench_result {
	char target[16];
	char workload[16];
	bench_result_status status;
	char reason[600];
	/* search / tenant */
	uint32_t k, ef_search, clients;
	double recall, qps, p50_ms, p95_ms, p99_ms, mean_ms;
	uint64_t queries;     /* searches timed */
	/* ingest / tenant set-up */
	uint64_t vectors;
	double seconds, vectors_per_s, load_seconds, build_seconds;
	/* background_index targets: searchable by exact scan after
	 * searchable_exact_s; index_observed false = the wait timed out */
	bool index_wait;
	bool index_observed;
	double searchable_exact_s;
	/* tenant */
	uint32_t tenants, points_per_tenant;
	/* scatter: what was searched ("dedicated" = one collection of a
	 * dedicated tenant, "shared" = keyless scatter over a shared
	 * collection, "one index", "one table"); server CPU per query (every
	 * daemon of a --local cluster, from /proc; NAN = not measured) */
	char layout[24];
	uint32_t shards, keys;
	double server_cpu_ms;
	/* filter: "field < below" matching `selectivity` of the points; mean
	 * rows returned, the fraction of answers with min(k, matching) rows,
	 * rows returned that do not match (wrong answers) */
	char filter[64];
	char filter_mode[48]; /* the target's filter_modes entry ("" = its only way) */
	double selectivity;
	double rows_mean, complete_frac;
	uint64_t wrong_rows;
	/* migrate */
	double p50_before, p99_before, p50_during, p99_during, recall_before, recall_during;
	double write_pause_ms;    /* the move's fence at cutover */
	double write_max_ms;      /* the writer's slowest upsert during the move */
	double mb_per_s, rows_per_s, move_seconds; /* mb_per_s: rows + index bundles */
	uint64_t rows_moved, bytes_moved, searches, writes, search_errors, write_errors,
	    duplicate_hits;
	uint64_t index_bytes_moved; /* HNSW index bundles carried (bytes_moved: the rows) */
	char move_from[64], move_to[64];
	double max_mbps;          /* migrate, rebalance: the copy throttle (0 = none) */
	/* import (vectors = rows): seconds = the import (shoal) or COPY
	 * (pgvector) to completion, rows_per_s = vectors / seconds,
	 * build_seconds = from then until searchable (shoal: every point
	 * counted and found, then the HNSW index observed answering; pgvector:
	 * CREATE INDEX); source = the PostgreSQL column type read */
	char source[16];
} bench_result;

/* Search and write latencies over time during the migrate workload, for
 * its plot: times in seconds from the start of the move. */
typedef struct bench_timeline {
	float *s_t, *s_ms;        /* searches */
	size_t s_n, s_cap;
	float *w_t, *w_ms;        /* upserts */
	size_t w_n, w_cap;
	char phase[16][16];       /* move states as first seen, and when */
	double phase_t[16];
	int n_phases;
} bench_timeline;

void bench_timeline_free(bench_timeline *tl);

typedef struct bench_fact {
	char key[32];
	char value[256];
} bench_fact;

typedef struct bench_run {
	/* machine facts, in order: cpu, cores, memory, os, kernel, versions */
	bench_fact facts[32];
	int n_facts;
	const bench_dataset *ds;
	bench_config cfg;
	uint32_t k;
	char command[2048];
	char started[40];     /* UTC ISO-8601 */
	char notes[8][400];   /* lines for the report (e.g. skipped targets) */
	int n_notes;
	bench_result *results;
	size_t n_results, cap_results;
	bench_timeline *migrate_tl; /* owned; NULL = no migrate run */
	struct bench_rebalance_out *rebalance; /* owned (wl_rebalance.c); NULL = not run */
} bench_run;

/* Sets (or replaces) a machine fact. */
void bench_fact_set(bench_run *r, const char *key, const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 3, 4)))
#endif
	;
const char *bench_fact_get(const bench_run *r, const char *key);

/* Fills cpu, cores, memory, os, kernel, faiss and shoal library version. */
void bench_machine_facts(bench_run *r);

/* Appends a zeroed result for target/workload and returns it (owned by r). */
bench_result *bench_result_add(bench_run *r, const char *target, const char *workload);

/* Adds a line to the report's notes. */
void bench_note(bench_run *r, const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 2, 3)))
#endif
	;

/* Writes DIR/PREFIX.json, DIR/PREFIX.md and, with gnuplot, the plots
 * DIR/PREFIX-recall-qps-cN.png (+ their .dat/.gp).  Tells on stderr what
 * was written and whether gnuplot was missing. */
shoal_code bench_write_outputs(bench_run *r, const char *dir, const char *prefix,
    const char *gnuplot, shoal_status *st);

/* ===================================================================
 * Options (parsed in main.c, read by every workload)
 * =================================================================== */

#define BENCH_MAX_LIST 32

typedef struct bench_options {
	const char *worker_args[BENCH_MAX_WORKER_ARGS + 1]; /* --worker-arg, NULL-ended */
	int n_worker_args;
	bench_data_spec data;
	bench_config cfg;
	const char *targets;
	const char *workloads;
	int local_workers;
	const char *bin;
	uint32_t k;
	uint32_t efs[BENCH_MAX_LIST];
	int n_efs;
	uint32_t clients[BENCH_MAX_LIST];
	int n_clients;
	double min_time;
	uint32_t warmup;
	uint32_t tenants, tenant_size, tenant_ef, tenant_queries;
	double index_wait;   /* s, background_index targets */
	double settle;       /* s after the tenant warm-up */
	const char *out_dir;
	const char *prefix;
	const char *gnuplot;
	const char *save_gt;
	/* scatter */
	uint32_t scatter_shards, scatter_keys, scatter_queries;
	/* filter: selectivities in percent */
	double selectivity[BENCH_MAX_LIST];
	int n_selectivity;
	uint32_t filter_ef, filter_queries;
	/* migrate */
	uint32_t migrate_size, migrate_ef, migrate_writes;
	double migrate_before, migrate_after;
	/* migrate and rebalance: copy throttles in MB/s (0 = none), one move
	 * (or rebalance) per value, in order */
	double max_mbps[BENCH_MAX_LIST];
	int n_max_mbps;
	/* rebalance: its own cluster of rebalance_workers workers (+1 added),
	 * rebalance_size points in a shared collection of rebalance_shards
	 * shards (rebalance_keys distribution keys) */
	uint32_t rebalance_workers, rebalance_shards, rebalance_keys;
	size_t rebalance_size;
	/* set by main.c: the --local cluster (its daemons' pids, for server
	 * CPU), NULL for --shoal URL */
	const bench_cluster *local;
} bench_options;

/* ===================================================================
 * Measurement (measure.c)
 * =================================================================== */

/* Rate-limited progress for long loops: due at most every 5 s, or every
 * 0.2 s in place on a terminal. */
typedef struct bench_ticker {
	double last;
	double t0;
} bench_ticker;
bool bench_ticker_due(bench_ticker *t);

/* A long operation polled until it ends (a tenant move in wl_migrate.c,
 * a rebalance in wl_rebalance.c): bench_poll_until calls fetch, then
 * sample at now = bench_now_s() - t0, until sample says it is over;
 * between polls it shows a progress line now and then (bench_ticker:
 * sample's text and ", <now> s") and sleeps every_ms.  Once now - t_begin
 * passes timeout_s it fails (DEADLINE_EXCEEDED, "<running> after <s> s").
 * fetch's error is returned as it is; what fetch holds stays with the
 * caller (arg) in every case.  The progress line is ended
 * (bench_progress_done) when the operation ends. */
typedef struct bench_poll {
	void *arg;
	/* The operation's status anew (the first call may keep what its start
	 * returned). */
	shoal_code (*fetch)(void *arg, shoal_status *st);
	/* Records the fetched status at now; true once the operation is over.
	 * Writes the progress text to line and, for the time-out error, how it
	 * stands to running ("move m1 still copying"). */
	bool (*sample)(void *arg, double now, char *line, size_t line_cap, char *running,
	    size_t running_cap);
	double t0, t_begin, timeout_s;
	uint32_t every_ms;
} bench_poll;
shoal_code bench_poll_until(const bench_poll *p, shoal_status *st);

/* One sweep point: `clients` threads with a session each search the
 * queries (query q in colls[coll_of[q]], or colls[0]) at ef, until every
 * query was answered once and min_time passed. */
typedef struct bench_point_spec {
	const bench_target_ops *ops;
	bench_target *t;
	bench_coll **colls;          /* by tenant (or just [0]) */
	const uint32_t *coll_of;     /* query -> colls index; NULL = colls[0] */
	const float *queries;        /* nq * dim */
	size_t nq;
	uint32_t dim, k, ef, clients;
	double min_time;
} bench_point_spec;

typedef struct bench_point_out {
	int64_t *answers;            /* nq * k, caller's (NULL = not kept) */
	uint32_t *n_answer;          /* nq, caller's */
	double qps, p50, p95, p99, mean;
	uint64_t done;
} bench_point_out;

/* Runs one sweep point; out->answers/n_answer (if not NULL) receive the
 * first answer to every query.  Any failed search fails the point (st). */
shoal_code bench_run_point(const bench_point_spec *ps, bench_point_out *out, shoal_status *st);

/* Progress callback for load(): arg is a bench_ingest_progress. */
typedef struct bench_ingest_progress {
	const char *target;
	const char *what;
	size_t total;
	double t0;
	bench_ticker tk;
} bench_ingest_progress;
void bench_on_ingest_progress(void *arg, size_t done);

/* Sorts latencies ascending; the p-quantile (0 < p <= 1) of sorted ones
 * (nearest rank; NAN when n == 0). */
void bench_sort_ms(float *v, size_t n);
double bench_percentile(const float *sorted, size_t n, double p);

/* Copies a point's QPS, latencies and search count into r. */
void bench_result_set_point(bench_result *r, const bench_point_out *po);

/* Marks res as not ok with reason. */
void bench_result_fail(bench_result *res, bench_result_status s, const char *reason);

/* Mean recall of a point's answers against thresholds kth[q]; answers
 * relative to the base set, or (coll_of) to tenant slices of `slice`
 * points each. */
double bench_mean_recall(const bench_dataset *ds, const bench_point_out *po, const double *kth,
    size_t nq, uint32_t k, const uint32_t *coll_of, size_t slice);

/* For background_index targets: waits until a search of coll (holding
 * base[0..n_base)) is observed to be answered by the approximate index,
 * i.e. greedy k = 1, ef 1 searches of queries until one answer is not the
 * true nearest neighbour (nn[q]: distance of query q's nearest neighbour
 * in base).  *observed = false after timeout_s. */
shoal_code bench_wait_indexed(const bench_target_ops *ops, bench_target *t, bench_coll *coll,
    int metric, const float *base, size_t n_base, uint32_t dim, const float *queries, size_t nq,
    const double *nn, double timeout_s, bool *observed, shoal_status *st);

/* bench_wait_indexed for coll holding base[0..n_base) (the whole base set:
 * nearest neighbours from the ground truth; a subset: computed for 32
 * queries), up to o->index_wait; when the index is not seen answering,
 * says so on stderr and in the report's notes (what names coll). */
shoal_code bench_wait_index(bench_run *run, const bench_options *o, const bench_target_ops *ops,
    bench_target *t, bench_coll *coll, const float *base, size_t n_base, const char *what,
    bool *observed, shoal_status *st);

/* Answers restricted to a subset of the base set (a filter, a key).
 * bench_subset_kth: kth[j] = distance from query qs[j] (qs NULL: query j)
 * to its min(k, m)-th exact neighbour among base points members[0..m)
 * (INFINITY when m == 0).  bench_score_subset: match(arg, q, id) says
 * whether base point id belongs to query q's subset, expect[q] =
 * min(k, its size), kth[q] as above; sets r's recall (matching rows at
 * most as far as kth, without duplicates, over expect; ties count),
 * rows_mean, complete_frac (answers with expect rows) and wrong_rows
 * (rows outside the subset, never hits). */
shoal_code bench_subset_kth(const bench_dataset *ds, const size_t *members, size_t m,
    const size_t *qs, size_t nq, uint32_t k, double *kth, shoal_status *st);
void bench_score_subset(const bench_dataset *ds, const bench_point_out *po, size_t nq, uint32_t k,
    const double *kth, const uint32_t *expect,
    bool (*match)(const void *arg, size_t q, int64_t id), const void *arg, bench_result *r);

/* CPU time (user + system) in ms used so far by the daemons of a --local
 * cluster (from /proc/PID/stat); NAN when c is NULL or /proc unreadable. */
double bench_cluster_cpu_ms(const bench_cluster *c);

/* ===================================================================
 * Workloads in files of their own (wl_*.c), called by main.c for each
 * open target.  main_coll is the target's main collection with the whole
 * base set loaded (ids 0..n-1) when the workload needs it (see main.c's
 * table), else NULL; kth[q] is the distance of query q's k-th true
 * neighbour in the base set (NULL unless ground truth was computed).
 * Each adds its results (also failed or skipped ones, with the reason)
 * and returns false when something failed.
 * =================================================================== */

typedef bool (*bench_workload_fn)(bench_run *run, const bench_options *o,
    const bench_target_ops *ops, bench_target *t, bench_coll *main_coll, const double *kth);

bool bench_wl_scatter(bench_run *run, const bench_options *o, const bench_target_ops *ops,
    bench_target *t, bench_coll *main_coll, const double *kth);
bool bench_wl_filter(bench_run *run, const bench_options *o, const bench_target_ops *ops,
    bench_target *t, bench_coll *main_coll, const double *kth);
/* Latency samples of a load thread over time (wl_migrate.c, used by
 * wl_rebalance.c too): t absolute bench_now_s(), ms the latency. */
typedef struct bench_samples {
	double *t;
	float *ms;
	size_t n, cap;
} bench_samples;
void bench_samples_add(bench_samples *s, double t, float ms);
void bench_samples_free(bench_samples *s);
/* p50 / p99 / largest of the samples with t in [t0, t1) and the mean of
 * vals[i] over them (vals parallel to the samples, may be NULL); each
 * output may be NULL; NAN (max: 0) when there are none. */
void bench_samples_window(const bench_samples *s, const float *vals, double t0, double t1,
    double *p50, double *p99, double *mean_val, double *max);
/* What a workload's reader and writer threads saw (each thread writes its
 * half; read after joining them). */
typedef struct bench_load {
	bench_samples reads, writes;
	uint64_t read_errors, write_errors, dups; /* dups: answers holding an id twice */
	char read_error[300], write_error[300];    /* the first of each */
} bench_load;
/* Records one search that ran from t0 to t1 (bench_now_s): its error
 * (then sleeps 10 ms: a failing server is not hammered), or its sample and
 * whether ids[0..n) hold an id twice.  Returns rv == SHOAL_OK. */
bool bench_load_search(bench_load *l, shoal_code rv, const shoal_status *st, double t0,
    double t1, const int64_t *ids, size_t n);
/* Records one upsert: its sample, or its error. */
void bench_load_write(bench_load *l, shoal_code rv, const shoal_status *st, double t0,
    double t1);
/* The writer's connection to url, or NULL with the error recorded as a
 * failed upsert. */
struct shoal_client *bench_load_connect(bench_load *l, const char *url, uint32_t timeout_ms);
/* Sleeps until *next and advances it by period (no burst to catch up
 * when behind). */
void bench_load_pace(double *next, double period);
/* Notes in the report how many searches / upserts failed and the first
 * error of each (nothing for zero); frees the samples. */
void bench_load_note(bench_run *run, const char *what, const bench_load *l);
void bench_load_free(bench_load *l);
bool bench_wl_migrate(bench_run *run, const bench_options *o, const bench_target_ops *ops,
    bench_target *t, bench_coll *main_coll, const double *kth);
bool bench_wl_import(bench_run *run, const bench_options *o, const bench_target_ops *ops,
    bench_target *t, bench_coll *main_coll, const double *kth);
typedef struct bench_rebalance_out bench_rebalance_out;
bool bench_wl_rebalance(bench_run *run, const bench_options *o, const bench_target_ops *ops,
    bench_target *t, bench_coll *main_coll, const double *kth);
/* The rebalance workload's fields of an ok result x, its goal line (false
 * when it was not run ok) and its section of the Markdown report, and
 * freeing run->rebalance. */
void bench_rebalance_json(FILE *f, const bench_run *r, const bench_result *x);
bool bench_rebalance_goal(FILE *f, const bench_run *r);
void bench_rebalance_markdown(FILE *f, const bench_run *r);
void bench_rebalance_free(struct bench_rebalance_out *rb);
/* The import workload's fields of an ok result x (after "status") and its
 * section of the Markdown report (nothing when it was not run). */
void bench_import_json(FILE *f, const bench_result *x);
void bench_import_markdown(FILE *f, const bench_run *r);
/* The scatter workload's "scatter_writes" rows (wl_scatter.c): fields of
 * an ok result x (after "status"), and their Markdown section (nothing
 * when there are none). */
void bench_scatter_writes_json(FILE *f, const bench_result *x);
void bench_scatter_writes_markdown(FILE *f, const bench_run *r);

/* ===================================================================
 * Small helpers (main.c)
 * =================================================================== */

double bench_now_s(void);                 /* monotonic seconds */
bool bench_progress_tty(void);            /* stderr is a terminal */
/* Progress line on stderr: rewritten in place on a terminal, one line per
 * call otherwise (callers rate-limit). */
void bench_progress(const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 1, 2)))
#endif
	;
void bench_progress_done(void);           /* ends an in-place line */

#endif
