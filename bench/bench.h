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
 *   main.c      options, workloads, measurement, progress
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
	/* Removes the space (unless cfg->keep) and frees c. */
	void (*drop)(bench_target *t, bench_coll *c);
	void (*close)(bench_target *t);
} bench_target_ops;

extern const bench_target_ops bench_faiss_ops;
extern const bench_target_ops bench_shoal_ops;
extern const bench_target_ops bench_pg_ops;
/* The server version seen by the last pgvector open(), also when pgvector
 * itself was missing ("" if never connected): for the machine facts. */
extern char bench_pg_server_version[64];

/* ===================================================================
 * Local cluster (cluster.c)
 * =================================================================== */

#define BENCH_MAX_WORKERS 16

typedef struct bench_cluster {
	char dir[256];        /* temp directory with data, logs, ready files */
	char bin[512];        /* where shoal-coordinator / shoal-worker live */
	char url[64];         /* coordinator URL */
	int nworkers;
	int coord_pid;
	int worker_pid[BENCH_MAX_WORKERS];
} bench_cluster;

/* Starts a coordinator and n workers from bin on free loopback ports in a
 * new temp directory, and waits until all n workers are up.  On failure
 * everything started is stopped and st says why (with the log's tail). */
shoal_code bench_cluster_start(bench_cluster *c, const char *bin, int n, shoal_status *st);
/* Stops the daemons by pid (SIGTERM, SIGKILL after 10 s) and removes the
 * directory unless keep.  Safe on a half-started cluster. */
void bench_cluster_stop(bench_cluster *c, bool keep);

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
} bench_result;

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
