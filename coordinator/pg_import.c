/* pg_import.c -- import from PostgreSQL via COPY, on the coordinator.
 *
 * A job moves rows from PostgreSQL into shoal collections:
 *
 *   PostgreSQL ──COPY (SELECT ...) TO STDOUT (FORMAT binary)──▶ reader thread
 *      decode (common/pgcopy.h) -> skip or abort bad rows -> batch per tenant
 *          │ bounded window of batches (backpressure)
 *          ▼
 *   sender threads (spec.parallel) ──Upsert, in process──▶ router ──▶ worker
 *          │ acknowledged batches commit in stream order
 *          ▼
 *   checkpoint (catalog key "j" id, synced at most every CHECKPOINT_MS)
 *
 * Units.  A job reads one or more units, each one COPY statement: the table
 * or query (--table / --query), or one table per schema (--schemas, one
 * dedicated tenant per schema, in schema-name order).
 *
 * Targets.  --tenant: one dedicated tenant.  --schemas: a dedicated tenant
 * per unit.  --tenant-col: one shared collection (tenant ""), the value
 * written as each point's distribution key; with --dedicated-tenants a
 * dedicated tenant per value instead.  Tenants and collections are created
 * on first use, with the dimension of the first good row.
 *
 * Stream order and checkpoints.  Every unit is read ORDER BY its key: the
 * id column, preceded by the tenant column with --tenant-col (rows of a
 * tenant are then contiguous, so with dedicated tenants only one batch is
 * open at a time and memory stays bounded whatever the number of
 * tenants).  The checkpoint is
 * the key of the last row of the longest fully acknowledged prefix of the
 * stream, together with the counters of that prefix; a resumed run reads
 * `WHERE key > checkpoint`, so it neither skips nor recounts a row:
 *   - NULL keys sort last (ORDER BY's default), so a resumed run also reads
 *     `OR key IS NULL`; such rows are skipped (and counted) but are never a
 *     checkpoint themselves.
 *   - A row after the checkpoint may be sent twice (once before the crash,
 *     once after): upserts are idempotent, the point is the same.
 *   - Duplicate ids in the source are adjacent in the stream; within one
 *     batch the last wins (versions follow batch order), across two
 *     batches in flight at once either may (docs/import.md).
 * Batches complete out of order (several are in flight); a ring of
 * completion flags indexed by batch sequence advances the prefix.
 *
 * Why in-process calls to the router's own service (rpc_dispatch) rather
 * than a private path to the workers: imported points then get exactly the
 * validation, versions, placement and routing of client calls, including
 * whatever the router learns later (shared collections, epochs, moves),
 * at the cost of one extra protobuf pack/unpack per batch (a memcpy-speed
 * step next to the RocksDB write and the HNSW insert on the worker).
 *
 * Threading.
 *  1. imp->mu guards the job table; imp->start_mu serializes StartImport
 *     (rare; it connects to PostgreSQL), so two starts of one job id can
 *     never race.
 *  2. job->mu guards the job's state, counters, checkpoint and queue;
 *     job->cv signals queue space, queue items and commits.
 *  3. job->persist_mu orders checkpoint writes: the record is encoded
 *     inside it, so a later write never carries an older checkpoint.
 *  4. The reader owns the PostgreSQL connection; other threads interrupt
 *     it only through PQcancel on a PGcancel handle kept under job->mu.
 *
 * Security: the DSN's password is never stored, logged or returned; jobs
 * keep the DSN rebuilt without it (dsn_safe).  A resumed run needs the full
 * DSN again, from the client.
 */
#include "pg_import.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "log.h"
#include "pgcopy.h"
#include "rpc.h"
#include "shardmap.h" /* SHARDMAP_KEY_MAX: a shared collection's key limit */
#include "util.h"

#define DEFAULT_BATCH 1000u
#define MAX_BATCH 100000u
#define DEFAULT_PARALLEL 4u
#define MAX_PARALLEL 64u
/* A batch is also cut at this many bytes of vectors + payload, so a wide
 * row cannot make one upsert exceed the message limit. */
#define BATCH_MAX_BYTES (16u << 20)
/* Checkpoints are written at most this often (each is one fsync). */
#define CHECKPOINT_MS 1000u
/* Upserts of a batch are retried this many times on UNAVAILABLE /
 * DEADLINE_EXCEEDED (a worker restarting), with doubling pauses. */
#define SEND_ATTEMPTS 6
#define SEND_TIMEOUT_MS 60000u
/* DDL calls (create tenant / collection) */
#define DDL_TIMEOUT_MS 30000u
#define CONNECT_TIMEOUT_S "10"
#define MAX_JOBS_RUNNING 8
#define MAX_COLS 256

enum { FMT_BINARY = 0, FMT_TEXT = 1 };

/* ===================================================================
 * Skip reasons
 * =================================================================== */

typedef enum skip_reason {
	SK_NULL_ID,
	SK_BAD_ID,
	SK_NULL_TENANT,
	SK_BAD_TENANT,
	SK_NULL_VECTOR,
	SK_BAD_VECTOR,
	SK_NONFINITE,
	SK_DIM,
	SK_BAD_PAYLOAD,
	SK_COUNT
} skip_reason;

static const char *const skip_text[SK_COUNT] = {
    [SK_NULL_ID] = "NULL id",
    [SK_BAD_ID] = "undecodable id",
    [SK_NULL_TENANT] = "NULL tenant",
    [SK_BAD_TENANT] = "unusable tenant value",
    [SK_NULL_VECTOR] = "NULL vector",
    [SK_BAD_VECTOR] = "undecodable vector",
    [SK_NONFINITE] = "NaN or infinite vector component",
    [SK_DIM] = "wrong vector dimension",
    [SK_BAD_PAYLOAD] = "undecodable payload or text",
};

/* Counters of a stretch of the stream. */
typedef struct counts {
	uint64_t rows, imported, skipped;
	uint64_t skip[SK_COUNT];
} counts;

static void
counts_add(counts *a, const counts *b)
{
	a->rows += b->rows;
	a->imported += b->imported;
	a->skipped += b->skipped;
	for (int i = 0; i < SK_COUNT; i++)
		a->skip[i] += b->skip[i];
}

/* ===================================================================
 * Arena: the strings and payload structs of one batch
 * =================================================================== */

typedef struct arena_chunk {
	struct arena_chunk *next;
	size_t used, cap;
	max_align_t data[];
} arena_chunk;

typedef struct arena {
	arena_chunk *head;
	size_t bytes; /* total handed out (batch size accounting) */
} arena;

static void *
arena_alloc(arena *a, size_t n)
{
	n = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
	if (a->head == NULL || a->head->cap - a->head->used < n) {
		size_t cap = n > 65536 ? n : 65536;
		arena_chunk *c = xmalloc(sizeof *c + cap);
		c->next = a->head;
		c->used = 0;
		c->cap = cap;
		a->head = c;
	}
	void *p = (char *)a->head->data + a->head->used;
	a->head->used += n;
	a->bytes += n;
	return p;
}

static char *
arena_strndup(arena *a, const char *s, size_t n)
{
	char *p = arena_alloc(a, n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

static void
arena_free(arena *a)
{
	while (a->head != NULL) {
		arena_chunk *n = a->head->next;
		free(a->head);
		a->head = n;
	}
	a->bytes = 0;
}

/* ===================================================================
 * Units, columns, jobs
 * =================================================================== */

/* Column roles, in select order: id, vector, [tenant], [text], payload... */
typedef struct col_plan {
	const char *name; /* borrowed from the spec */
	pgcopy_type type; /* after type-name lookup */
	bool cast_text; /* selected as ::text (binary format cannot decode it) */
	bool binary; /* the COPY delivers it in binary form */
} col_plan;

typedef struct unit_plan {
	char *name; /* schema (--schemas) or "" */
	char *tenant; /* dedicated tenant of the unit, NULL with --tenant-col */
	char *from; /* FROM clause body: relation or (query) AS alias */
	uint64_t est; /* planner's row estimate */
} unit_plan;

typedef struct plan {
	unit_plan *units;
	size_t n_units;
	col_plan cols[MAX_COLS];
	size_t ncols;
	int c_tenant, c_text, c_payload; /* column indexes; -1 = none */
	int format; /* FMT_BINARY / FMT_TEXT */
	char *notice; /* for the reply, or NULL */
} plan;

/* Position in the stream (see the header comment). */
typedef struct position {
	char *unit; /* "" outside --schemas; NULL = nothing yet */
	bool complete; /* the whole unit is done */
	bool has_key;
	char *tenant; /* tenant-column text, NULL without --tenant-col */
	char *id; /* id text */
} position;

static void
position_clear(position *p)
{
	free(p->unit);
	free(p->tenant);
	free(p->id);
	memset(p, 0, sizeof *p);
}

static void
position_copy(position *dst, const position *src)
{
	position_clear(dst);
	dst->unit = src->unit ? xstrdup(src->unit) : NULL;
	dst->complete = src->complete;
	dst->has_key = src->has_key;
	dst->tenant = src->tenant ? xstrdup(src->tenant) : NULL;
	dst->id = src->id ? xstrdup(src->id) : NULL;
}

typedef struct batch {
	uint64_t seq;
	char tenant[CATALOG_NAME_MAX];
	uint32_t dim;
	size_t n, cap;
	Shoal__Point *pts;
	Shoal__Point **pp;
	float *vecs; /* cap * dim */
	arena ar;
	counts full; /* every row of the batch's stretch of the stream */
	counts to_ck; /* rows up to and including the checkpoint row */
	bool has_ck;
	position ck;
	struct batch *next; /* queue link */
} batch;

typedef enum stop_why { STOP_NONE = 0, STOP_ERROR, STOP_CANCEL, STOP_SHUTDOWN } stop_why;

typedef struct job {
	char id[24];
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_mutex_t persist_mu;

	/* durable description and state (guarded by mu) */
	Shoal__ImportSpec *spec; /* deep copy, dsn without password */
	Shoal__ImportState state;
	int32_t err_code;
	char err[SHOAL_STATUS_MSG_MAX];
	char notice[SHOAL_STATUS_MSG_MAX];
	char example[SK_COUNT][200];
	uint32_t runs;
	uint64_t resumed_from;

	/* checkpoint: position and the counters of the stream before it */
	position ck;
	counts ck_counts;

	/* live view of this run */
	counts prefix; /* committed prefix (>= checkpoint) */
	uint64_t rows_read; /* read from PostgreSQL, all runs */
	uint64_t est;
	uint32_t units_total, units_done, tenants, dim;
	char current[192];
	uint64_t run_start_ms, run_end_ms, run_base_rows;

	/* run machinery */
	bool thread_live; /* reader thread started and not yet joined */
	pthread_t reader;
	atomic_int stop; /* stop_why */
	PGcancel *cancel; /* of the running COPY's connection */
	uint64_t last_persist_ms;

	/* the window of batches: [commit_seq, next_seq) are uncommitted */
	uint64_t next_seq, commit_seq;
	batch **ring; /* ring[seq % window]: completed, waiting to commit */
	size_t window;
	batch *q_head, *q_tail; /* queued for the senders */
	bool q_closed;
	unsigned senders_live;
} job;

struct pg_import {
	catalog *cat;
	ProtobufCService *svc;
	pthread_mutex_t mu; /* guards jobs */
	pthread_mutex_t start_mu; /* serializes StartImport */
	job **jobs;
	size_t n_jobs;
};

/* Everything a run needs; owned by the reader thread. */
typedef struct run {
	pg_import *imp;
	job *j;
	PGconn *conn;
	plan pl;
	char *dsn_safe;
	pthread_t *senders;
	unsigned n_senders;
	/* reader state */
	batch *open;
	char cur_tenant[CATALOG_NAME_MAX];
	uint32_t cur_dim; /* 0 until the current tenant's collection is known */
	bool cur_tenant_ready;
	char *tenants_seen_last; /* last tenant counted in j->tenants */
	float *vec; /* PGCOPY_MAX_DIM scratch */
	uint8_t *scratch; /* text-row and json scratch */
	size_t scratch_cap;
	pgcopy_slice *slices;
	size_t slices_cap;
	uint64_t rate_t0, rate_rows;
	uint64_t row_no; /* row number within the current unit, 1-based */
	bool shared; /* --tenant-col into one shared collection */
	char key_field[CATALOG_NAME_MAX]; /* the shared collection's key field */
	char *last_key; /* the last distribution key seen (tenant count) */
	const char *unit_name;
} run;

/* ===================================================================
 * Small helpers
 * =================================================================== */

static bool
str_set(const char *s)
{
	return s != NULL && s[0] != '\0';
}

static const char *
state_name(Shoal__ImportState s)
{
	switch (s) {
	case SHOAL__IMPORT_STATE__IMPORT_RUNNING: return "running";
	case SHOAL__IMPORT_STATE__IMPORT_SUCCEEDED: return "succeeded";
	case SHOAL__IMPORT_STATE__IMPORT_FAILED: return "failed";
	case SHOAL__IMPORT_STATE__IMPORT_INTERRUPTED: return "interrupted";
	case SHOAL__IMPORT_STATE__IMPORT_CANCELLED: return "cancelled";
	default: return "unknown";
	}
}

/* Deep copy of a spec through pack/unpack, with dsn replaced by dsn (if
 * not NULL).  Daemon policy: abort on OOM. */
static Shoal__ImportSpec *
spec_copy(const Shoal__ImportSpec *in, const char *dsn)
{
	Shoal__ImportSpec tmp = *in;
	if (dsn != NULL)
		tmp.dsn = (char *)dsn;
	size_t n = shoal__import_spec__get_packed_size(&tmp);
	uint8_t *buf = xmalloc(n ? n : 1);
	shoal__import_spec__pack(&tmp, buf);
	Shoal__ImportSpec *out = shoal__import_spec__unpack(NULL, n, buf);
	free(buf);
	if (out == NULL)
		abort();
	return out;
}

/* First line of a libpq message, without the trailing newline, into buf. */
static const char *
pg_line(const char *msg, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s", msg ? msg : "");
	char *nl = strchr(buf, '\n');
	if (nl != NULL && nl[1] == '\0')
		*nl = '\0';
	for (char *p = buf; *p; p++)
		if (*p == '\n')
			*p = ' ';
	return buf;
}

/* The primary message (plus detail/hint) of a failed result. */
static const char *
pg_result_msg(const PGresult *r, PGconn *c, char *buf, size_t cap)
{
	const char *prim = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	if (prim == NULL)
		return pg_line(PQerrorMessage(c), buf, cap);
	const char *hint = PQresultErrorField(r, PG_DIAG_MESSAGE_HINT);
	const char *detail = PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL);
	snprintf(buf, cap, "%s%s%s%s%s", prim, detail ? " (" : "", detail ? detail : "",
	    detail ? ")" : "", "");
	if (hint != NULL) {
		size_t l = strlen(buf);
		snprintf(buf + l, cap - l, "; hint: %s", hint);
	}
	return buf;
}

/* ===================================================================
 * In-process calls to the coordinator's own service
 * =================================================================== */

/* Calls `method` of imp->svc with `in`, exactly as a client request would
 * arrive (rpc_dispatch).  On OK and out != NULL, *out is the unpacked
 * reply (free with protobuf_c_message_free_unpacked). */
static shoal_code
local_call(pg_import *imp, const char *method, const ProtobufCMessage *in,
    const ProtobufCMessageDescriptor *out_desc, uint32_t timeout_ms, ProtobufCMessage **out,
    shoal_status *st)
{
	Shoal__RequestEnvelope env = SHOAL__REQUEST_ENVELOPE__INIT;
	size_t in_len = protobuf_c_message_get_packed_size(in);
	uint8_t *in_buf = xmalloc(in_len ? in_len : 1);
	protobuf_c_message_pack(in, in_buf);
	env.method = (char *)method;
	env.timeout_ms = timeout_ms;
	env.payload.data = in_buf;
	env.payload.len = in_len;
	env.request_id = (char *)"import";
	size_t env_len = shoal__request_envelope__get_packed_size(&env);
	uint8_t *env_buf = xmalloc(env_len ? env_len : 1);
	shoal__request_envelope__pack(&env, env_buf);
	free(in_buf);

	uint8_t *rep = NULL;
	size_t rep_len = 0;
	shoal_code rv = rpc_dispatch(imp->svc, NULL, env_buf, env_len, &rep, &rep_len);
	free(env_buf);
	if (rv != SHOAL_OK)
		return shoal_status_set(st, rv, "%s: out of memory", method);
	Shoal__ReplyEnvelope *re = shoal__reply_envelope__unpack(NULL, rep_len, rep);
	free(rep);
	if (re == NULL)
		return shoal_status_set(st, SHOAL_INTERNAL, "%s: undecodable reply", method);
	rv = (shoal_code)re->code;
	if (rv != SHOAL_OK) {
		shoal_status_set(st, rv, "%s", re->message ? re->message : "");
	} else if (out != NULL) {
		*out = protobuf_c_message_unpack(out_desc, NULL, re->payload.len, re->payload.data);
		if (*out == NULL)
			rv = shoal_status_set(st, SHOAL_INTERNAL, "%s: undecodable reply payload",
			    method);
	}
	shoal__reply_envelope__free_unpacked(re, NULL);
	return rv;
}

/* ===================================================================
 * DSN and job id
 * =================================================================== */

static bool
is_secret_keyword(const char *k)
{
	/* password and anything that embeds one; sslpassword too */
	return strcmp(k, "password") == 0 || strcmp(k, "sslpassword") == 0;
}

/* Rebuilds the DSN as key=value pairs without its password (libpq parses
 * both the key=value and the URI form).  Caller frees *out. */
static shoal_code
dsn_redact(const char *dsn, char **out, shoal_status *st)
{
	char *err = NULL;
	PQconninfoOption *opts = PQconninfoParse(dsn, &err);
	if (opts == NULL) {
		char line[256];
		shoal_status_set(st, SHOAL_INVALID_ARGUMENT, "bad --dsn: %s",
		    err ? pg_line(err, line, sizeof line) : "out of memory");
		PQfreemem(err);
		return SHOAL_INVALID_ARGUMENT;
	}
	size_t cap = 256, len = 0;
	char *s = xmalloc(cap);
	s[0] = '\0';
	for (PQconninfoOption *o = opts; o->keyword != NULL; o++) {
		if (o->val == NULL || o->val[0] == '\0' || is_secret_keyword(o->keyword))
			continue;
		/* value quoted as libpq expects: '...' with \\ and \' escaped */
		size_t need = strlen(o->keyword) + 2 * strlen(o->val) + 6;
		while (cap - len < need) {
			cap *= 2;
			s = xrealloc(s, cap);
		}
		len += (size_t)sprintf(s + len, "%s%s='", len ? " " : "", o->keyword);
		for (const char *v = o->val; *v; v++) {
			if (*v == '\\' || *v == '\'')
				s[len++] = '\\';
			s[len++] = *v;
		}
		s[len++] = '\'';
		s[len] = '\0';
	}
	PQconninfoFree(opts);
	*out = s;
	return SHOAL_OK;
}

/* The job id: 16 hex digits of SHA-256 over what identifies the import
 * (source, mapping, target), not over how it runs (batch, parallelism,
 * error policy). */
static void
job_id(const Shoal__ImportSpec *s, const char *dsn_safe, char out[17])
{
	static const char hex[] = "0123456789abcdef";
	const char *parts[] = {"shoal-import-v1", dsn_safe, s->table, s->query, s->schemas,
	    s->id_col, s->vector_col, s->tenant, s->tenant_col, s->text_col, s->collection,
	    s->dedicated_tenants ? "dedicated" : ""};
	size_t cap = 64, len = 0;
	for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
		cap += strlen(parts[i] ? parts[i] : "") + 1;
	for (size_t i = 0; i < s->n_payload_cols; i++)
		cap += strlen(s->payload_cols[i]) + 1;
	char *buf = xmalloc(cap);
	for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
		size_t l = strlen(parts[i] ? parts[i] : "");
		memcpy(buf + len, parts[i] ? parts[i] : "", l);
		len += l;
		buf[len++] = '\0';
	}
	for (size_t i = 0; i < s->n_payload_cols; i++) {
		size_t l = strlen(s->payload_cols[i]);
		memcpy(buf + len, s->payload_cols[i], l);
		len += l;
		buf[len++] = '\x01';
	}
	uint8_t d[32];
	pgcopy_sha256(buf, len, d);
	free(buf);
	for (int i = 0; i < 8; i++) {
		out[2 * i] = hex[d[i] >> 4];
		out[2 * i + 1] = hex[d[i] & 15];
	}
	out[16] = '\0';
}

/* ===================================================================
 * Spec validation
 * =================================================================== */

static shoal_code
check_spec(const Shoal__ImportSpec *s, shoal_status *st)
{
	shoal_code rv;

	if (!str_set(s->dsn))
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT, "--dsn is required");
	if (str_set(s->table) == str_set(s->query))
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "give exactly one of --table and --query");
	if (str_set(s->schemas) && !str_set(s->table))
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "--schemas needs --table (the table to read in each schema)");
	int targets = str_set(s->tenant) + str_set(s->tenant_col) + str_set(s->schemas);
	if (targets != 1)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "give exactly one of --tenant, --tenant-col and --schemas");
	if (s->dedicated_tenants && !str_set(s->tenant_col))
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "--dedicated-tenants goes with --tenant-col");
	if (!str_set(s->id_col))
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT, "--id-col is required");
	if (!str_set(s->vector_col))
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT, "--vector-col is required");
	if (!str_set(s->collection))
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT, "--collection is required");
	if ((rv = util_check_name("collection", s->collection, st)) != SHOAL_OK)
		return rv;
	if (str_set(s->tenant) && (rv = util_check_name("tenant", s->tenant, st)) != SHOAL_OK)
		return rv;
	for (size_t i = 0; i < s->n_payload_cols; i++)
		if (!str_set(s->payload_cols[i]))
			return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
			    "--payload-cols has an empty column name");
	if (4 + s->n_payload_cols > MAX_COLS)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT, "at most %d payload columns",
		    MAX_COLS - 4);
	if (s->metric != SHOAL__METRIC__METRIC_UNSPECIFIED &&
	    s->metric != SHOAL__METRIC__METRIC_COSINE && s->metric != SHOAL__METRIC__METRIC_L2 &&
	    s->metric != SHOAL__METRIC__METRIC_IP)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT, "bad metric %d",
		    (int)s->metric);
	if (s->batch > MAX_BATCH)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT, "--batch must be 1..%u, got %u",
		    MAX_BATCH, s->batch);
	if (s->parallel > MAX_PARALLEL)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "--parallel must be 1..%u, got %u", MAX_PARALLEL, s->parallel);
	if (str_set(s->copy_format) && strcmp(s->copy_format, "auto") != 0 &&
	    strcmp(s->copy_format, "binary") != 0 && strcmp(s->copy_format, "text") != 0)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "--copy-format must be auto, binary or text, got '%s'", s->copy_format);
	return SHOAL_OK;
}

/* ===================================================================
 * PostgreSQL: connect, plan
 * =================================================================== */

static shoal_code
pg_connect(const char *dsn, const char *dsn_safe, PGconn **out, shoal_status *st)
{
	/* connect_timeout first so that the DSN's own value overrides it */
	const char *keys[] = {"connect_timeout", "application_name", "dbname", NULL};
	const char *vals[] = {CONNECT_TIMEOUT_S, "shoal-import", dsn, NULL};
	char line[SHOAL_STATUS_MSG_MAX];
	PGconn *c = PQconnectdbParams(keys, vals, 1);

	*out = NULL;
	if (c == NULL)
		return shoal_status_set(st, SHOAL_RESOURCE_EXHAUSTED, "libpq: out of memory");
	if (PQstatus(c) != CONNECTION_OK) {
		shoal_status_set(st, SHOAL_UNAVAILABLE, "cannot connect to PostgreSQL (%s): %s",
		    dsn_safe, pg_line(PQerrorMessage(c), line, sizeof line));
		PQfinish(c);
		return SHOAL_UNAVAILABLE;
	}
	/* UTF-8 text (protobuf strings), C-locale numbers, no statement
	 * timeout from the role's settings cutting a long COPY short. */
	PGresult *r = PQexec(c,
	    "SET client_encoding = 'UTF8'; SET statement_timeout = 0; "
	    "SET extra_float_digits = 3");
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		shoal_status_set(st, SHOAL_UNAVAILABLE, "PostgreSQL (%s): %s", dsn_safe,
		    pg_result_msg(r, c, line, sizeof line));
		PQclear(r);
		PQfinish(c);
		return SHOAL_UNAVAILABLE;
	}
	PQclear(r);
	*out = c;
	return SHOAL_OK;
}

/* Runs sql with text parameters; on OK *out is a TUPLES_OK result. */
static shoal_code
pg_query(PGconn *c, const char *sql, int n, const char *const *params, PGresult **out,
    shoal_status *st)
{
	char line[SHOAL_STATUS_MSG_MAX];
	PGresult *r = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
	ExecStatusType s = PQresultStatus(r);
	if (s != PGRES_TUPLES_OK && s != PGRES_COMMAND_OK) {
		const char *code = PQresultErrorField(r, PG_DIAG_SQLSTATE);
		/* class 42 = syntax error or access rule violation: the user's
		 * input (a missing column, a bad query); else the server's state */
		shoal_code rc = code && strncmp(code, "42", 2) == 0 ? SHOAL_INVALID_ARGUMENT
		    : PQstatus(c) != CONNECTION_OK                  ? SHOAL_UNAVAILABLE
		                                                    : SHOAL_FAILED_PRECONDITION;
		shoal_status_set(st, rc, "PostgreSQL: %s", pg_result_msg(r, c, line, sizeof line));
		PQclear(r);
		return rc;
	}
	*out = r;
	return SHOAL_OK;
}

static void
plan_free(plan *p)
{
	for (size_t i = 0; i < p->n_units; i++) {
		free(p->units[i].name);
		free(p->units[i].tenant);
		free(p->units[i].from);
	}
	free(p->units);
	free(p->notice);
	memset(p, 0, sizeof *p);
}

static char *
quote_ident(PGconn *c, const char *s)
{
	char *q = PQescapeIdentifier(c, s, strlen(s));
	if (q == NULL)
		abort(); /* only on OOM */
	char *out = xstrdup(q);
	PQfreemem(q);
	return out;
}

static char *
quote_literal(PGconn *c, const char *s)
{
	char *q = PQescapeLiteral(c, s, strlen(s));
	if (q == NULL)
		abort();
	char *out = xstrdup(q);
	PQfreemem(q);
	return out;
}

/* A growing string. */
typedef struct sbuf {
	char *s;
	size_t len, cap;
} sbuf;

static void
sb_add(sbuf *b, const char *fmt, ...)
{
	va_list ap;
	for (;;) {
		size_t room = b->cap - b->len;
		va_start(ap, fmt);
		int n = vsnprintf(b->s ? b->s + b->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n >= 0 && (size_t)n < room) {
			b->len += (size_t)n;
			return;
		}
		b->cap = (b->cap + (size_t)(n > 0 ? n : 64) + 64) * 2;
		b->s = xrealloc(b->s, b->cap);
	}
}

/* The expression selecting column i (quoted name, with a ::text cast when
 * the binary COPY cannot decode its type). */
static void
sb_col(sbuf *b, PGconn *c, const plan *p, size_t i, bool with_cast)
{
	char *q = quote_ident(c, p->cols[i].name);
	sb_add(b, "%s%s", q, with_cast && p->cols[i].cast_text ? "::text" : "");
	free(q);
}

/* Fills p->cols names/roles from the spec. */
static void
plan_columns(const Shoal__ImportSpec *s, plan *p)
{
	p->ncols = 0;
	p->cols[p->ncols++].name = s->id_col;
	p->cols[p->ncols++].name = s->vector_col;
	p->c_tenant = p->c_text = -1;
	if (str_set(s->tenant_col)) {
		p->c_tenant = (int)p->ncols;
		p->cols[p->ncols++].name = s->tenant_col;
	}
	if (str_set(s->text_col)) {
		p->c_text = (int)p->ncols;
		p->cols[p->ncols++].name = s->text_col;
	}
	p->c_payload = (int)p->ncols;
	for (size_t i = 0; i < s->n_payload_cols; i++)
		p->cols[p->ncols++].name = s->payload_cols[i];
}

/* Lists the units: one for --table/--query, one per schema for --schemas. */
static shoal_code
plan_units(PGconn *c, const Shoal__ImportSpec *s, plan *p, shoal_status *st)
{
	PGresult *r;
	shoal_code rv;

	if (str_set(s->query)) {
		p->units = xcalloc(1, sizeof *p->units);
		p->n_units = 1;
		p->units[0].name = xstrdup("");
		p->units[0].tenant = str_set(s->tenant) ? xstrdup(s->tenant) : NULL;
		size_t n = strlen(s->query) + 32;
		p->units[0].from = xmalloc(n);
		snprintf(p->units[0].from, n, "(%s) AS _shoal_src", s->query);
		return SHOAL_OK;
	}
	if (!str_set(s->schemas)) {
		const char *params[] = {s->table};
		rv = pg_query(c,
		    "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) "
		    "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
		    "WHERE c.oid = to_regclass($1)",
		    1, params, &r, st);
		if (rv != SHOAL_OK)
			return rv;
		if (PQntuples(r) != 1) {
			PQclear(r);
			return shoal_status_set(st, SHOAL_NOT_FOUND,
			    "PostgreSQL: table '%s' does not exist (or is not visible to this role "
			    "and search_path)",
			    s->table);
		}
		p->units = xcalloc(1, sizeof *p->units);
		p->n_units = 1;
		p->units[0].name = xstrdup("");
		p->units[0].tenant = str_set(s->tenant) ? xstrdup(s->tenant) : NULL;
		p->units[0].from = xstrdup(PQgetvalue(r, 0, 0));
		PQclear(r);
		return SHOAL_OK;
	}
	/* --schemas PATTERN --table NAME: every schema matching the LIKE
	 * pattern that has a relation NAME, in byte order of schema names */
	const char *params[] = {s->schemas, s->table};
	rv = pg_query(c,
	    "SELECT n.nspname, quote_ident(n.nspname) || '.' || quote_ident(c.relname) "
	    "FROM pg_namespace n JOIN pg_class c ON c.relnamespace = n.oid "
	    "WHERE n.nspname LIKE $1 AND c.relname = $2 AND c.relkind IN ('r','p','v','m','f') "
	    "ORDER BY n.nspname COLLATE \"C\"",
	    2, params, &r, st);
	if (rv != SHOAL_OK)
		return rv;
	int n = PQntuples(r);
	if (n == 0) {
		PQclear(r);
		return shoal_status_set(st, SHOAL_NOT_FOUND,
		    "PostgreSQL: no schema matching '%s' has a table '%s'", s->schemas, s->table);
	}
	for (int i = 0; i < n; i++) {
		const char *name = PQgetvalue(r, i, 0);
		if ((rv = util_check_name("tenant", name, st)) != SHOAL_OK) {
			shoal_status_prefix(st, "schema '%s' cannot name a tenant", name);
			PQclear(r);
			return rv;
		}
	}
	p->units = xcalloc((size_t)n, sizeof *p->units);
	p->n_units = (size_t)n;
	for (int i = 0; i < n; i++) {
		p->units[i].name = xstrdup(PQgetvalue(r, i, 0));
		p->units[i].tenant = xstrdup(PQgetvalue(r, i, 0));
		p->units[i].from = xstrdup(PQgetvalue(r, i, 1));
	}
	PQclear(r);
	/* schemas that match but lack the table: said, not silently dropped */
	rv = pg_query(c,
	    "SELECT count(*) FROM pg_namespace n WHERE n.nspname LIKE $1 AND NOT EXISTS "
	    "(SELECT 1 FROM pg_class c WHERE c.relnamespace = n.oid AND c.relname = $2 "
	    "AND c.relkind IN ('r','p','v','m','f'))",
	    2, params, &r, st);
	if (rv != SHOAL_OK)
		return rv;
	long missing = atol(PQgetvalue(r, 0, 0));
	PQclear(r);
	if (missing > 0) {
		char buf[256];
		snprintf(buf, sizeof buf,
		    "%ld schema(s) matching '%s' have no table '%s' and are "
		    "not imported",
		    missing, s->schemas, s->table);
		p->notice = xstrdup(buf);
	}
	return SHOAL_OK;
}

/* Column types of one unit (LIMIT 0 describes the select); checks each
 * against its role.  The first unit's types are the plan's; every other
 * unit (schema) must agree. */
static shoal_code
plan_types(PGconn *c, plan *p, size_t u, shoal_status *st)
{
	sbuf b = {0};
	PGresult *r;
	shoal_code rv;

	sb_add(&b, "SELECT ");
	for (size_t i = 0; i < p->ncols; i++) {
		if (i)
			sb_add(&b, ", ");
		sb_col(&b, c, p, i, false);
	}
	sb_add(&b, " FROM %s LIMIT 0", p->units[u].from);
	rv = pg_query(c, b.s, 0, NULL, &r, st);
	free(b.s);
	if (rv != SHOAL_OK) {
		if (p->units[u].name[0])
			shoal_status_prefix(st, "schema %s", p->units[u].name);
		return rv;
	}
	uint32_t oids[MAX_COLS];
	for (size_t i = 0; i < p->ncols; i++)
		oids[i] = PQftype(r, (int)i);
	PQclear(r);

	for (size_t i = 0; i < p->ncols; i++) {
		pgcopy_type t = pgcopy_type_from_oid(oids[i]);
		char typname[64] = "";
		if (t == PGCOPY_UNKNOWN) {
			char oid[16];
			snprintf(oid, sizeof oid, "%u", oids[i]);
			const char *params[] = {oid};
			rv = pg_query(c, "SELECT typname FROM pg_type WHERE oid = $1::oid", 1,
			    params, &r, st);
			if (rv != SHOAL_OK)
				return rv;
			if (PQntuples(r) == 1)
				snprintf(typname, sizeof typname, "%s", PQgetvalue(r, 0, 0));
			PQclear(r);
			t = pgcopy_type_from_name(typname);
		} else {
			snprintf(typname, sizeof typname, "%s", pgcopy_type_name(t));
		}
		const char *role = i == 0   ? "id"
		    : i == 1                ? "vector"
		    : (int)i == p->c_tenant ? "tenant"
		    : (int)i == p->c_text   ? "text"
		                            : "payload";
		bool ok = true;
		if (i == 0)
			ok = t == PGCOPY_INT2 || t == PGCOPY_INT4 || t == PGCOPY_INT8 ||
			    t == PGCOPY_UUID || t == PGCOPY_TEXT;
		else if (i == 1)
			ok = t == PGCOPY_VECTOR || t == PGCOPY_HALFVEC ||
			    t == PGCOPY_FLOAT4_ARRAY || t == PGCOPY_FLOAT8_ARRAY ||
			    t == PGCOPY_TEXT ||
			    (t == PGCOPY_UNKNOWN && strcmp(typname, "sparsevec") != 0);
		if (!ok) {
			const char *want = i == 0
			    ? "bigint, integer, smallint, uuid or text"
			    : "vector, halfvec, real[], double precision[] or text";
			return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
			    "%s%s%s%s column \"%s\" has type %s; supported: %s",
			    p->units[u].name[0] ? "schema " : "", p->units[u].name,
			    p->units[u].name[0] ? ": " : "", role, p->cols[i].name,
			    typname[0] ? typname : "unknown", want);
		}
		if (u == 0) {
			p->cols[i].type = t;
		} else if (p->cols[i].type != t) {
			return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
			    "schema %s: column \"%s\" has type %s, but %s in schema %s",
			    p->units[u].name, p->cols[i].name, typname,
			    pgcopy_type_name(p->cols[i].type), p->units[0].name);
		}
	}
	return SHOAL_OK;
}

/* The planner's row estimate for one unit ("Plan Rows" of EXPLAIN). */
static uint64_t
plan_estimate(PGconn *c, const char *from)
{
	size_t n = strlen(from) + 64;
	char *sql = xmalloc(n);
	PGresult *r;
	uint64_t est = 0;

	snprintf(sql, n, "EXPLAIN (FORMAT JSON) SELECT 1 FROM %s", from);
	if (pg_query(c, sql, 0, NULL, &r, NULL) == SHOAL_OK) {
		const char *txt = PQntuples(r) > 0 ? PQgetvalue(r, 0, 0) : "";
		const char *at = strstr(txt, "\"Plan Rows\":");
		if (at != NULL)
			est = (uint64_t)strtod(at + 12, NULL);
		PQclear(r);
	}
	free(sql);
	return est;
}

static shoal_code
make_plan(PGconn *c, const Shoal__ImportSpec *s, plan *p, shoal_status *st)
{
	shoal_code rv;

	memset(p, 0, sizeof *p);
	p->format =
	    str_set(s->copy_format) && strcmp(s->copy_format, "text") == 0 ? FMT_TEXT : FMT_BINARY;
	plan_columns(s, p);
	if ((rv = plan_units(c, s, p, st)) != SHOAL_OK)
		return rv;
	for (size_t u = 0; u < p->n_units; u++)
		if ((rv = plan_types(c, p, u, st)) != SHOAL_OK)
			return rv;
	for (size_t i = 0; i < p->ncols; i++) {
		/* Binary COPY of a type we do not decode, or whose binary form
		 * means nothing in this role (a jsonb tenant, a vector payload):
		 * select its text form. */
		pgcopy_type t = p->cols[i].type;
		bool textual = t == PGCOPY_TEXT || t == PGCOPY_INT2 || t == PGCOPY_INT4 ||
		    t == PGCOPY_INT8 || t == PGCOPY_UUID;
		bool want_text = !pgcopy_type_has_binary(t);
		if ((int)i == p->c_tenant)
			want_text = !textual;
		else if ((int)i == p->c_text)
			want_text = t != PGCOPY_TEXT;
		else if ((int)i >= p->c_payload)
			want_text = want_text || t == PGCOPY_VECTOR || t == PGCOPY_HALFVEC ||
			    t == PGCOPY_FLOAT4_ARRAY || t == PGCOPY_FLOAT8_ARRAY;
		p->cols[i].cast_text = p->format == FMT_BINARY && want_text;
		p->cols[i].binary = p->format == FMT_BINARY && !p->cols[i].cast_text;
		if (p->cols[i].cast_text)
			p->cols[i].type = t == PGCOPY_NUMERIC ? PGCOPY_NUMERIC : PGCOPY_UNKNOWN;
		else if (p->format == FMT_TEXT &&
		    ((int)i == p->c_text ||
		        ((int)i >= p->c_payload &&
		            (t == PGCOPY_VECTOR || t == PGCOPY_HALFVEC ||
		                t == PGCOPY_FLOAT4_ARRAY || t == PGCOPY_FLOAT8_ARRAY))))
			p->cols[i].type = PGCOPY_UNKNOWN; /* its text, as in binary mode */
	}
	for (size_t u = 0; u < p->n_units; u++)
		p->units[u].est = plan_estimate(c, p->units[u].from);
	return SHOAL_OK;
}

/* The COPY statement of unit u, resuming after `from` when it has a key. */
static char *
copy_sql(PGconn *c, const plan *p, size_t u, const position *from)
{
	sbuf b = {0};
	sb_add(&b, "COPY (SELECT ");
	for (size_t i = 0; i < p->ncols; i++) {
		if (i)
			sb_add(&b, ", ");
		sb_col(&b, c, p, i, true);
	}
	sb_add(&b, " FROM %s", p->units[u].from);
	char *id = quote_ident(c, p->cols[0].name);
	char *tn = p->c_tenant >= 0 ? quote_ident(c, p->cols[p->c_tenant].name) : NULL;
	const char *tcast = p->c_tenant >= 0 && p->cols[p->c_tenant].cast_text ? "::text" : "";
	if (from != NULL && from->has_key) {
		char *lid = quote_literal(c, from->id);
		if (tn != NULL) {
			char *lt = quote_literal(c, from->tenant ? from->tenant : "");
			sb_add(&b,
			    " WHERE %s%s > %s OR (%s%s = %s AND (%s > %s OR %s IS NULL)) OR %s IS "
			    "NULL",
			    tn, tcast, lt, tn, tcast, lt, id, lid, id, tn);
			free(lt);
		} else {
			sb_add(&b, " WHERE %s > %s OR %s IS NULL", id, lid, id);
		}
		free(lid);
	}
	if (tn != NULL)
		sb_add(&b, " ORDER BY %s%s, %s", tn, tcast, id);
	else
		sb_add(&b, " ORDER BY %s", id);
	sb_add(&b, ") TO STDOUT (FORMAT %s)", p->format == FMT_TEXT ? "text" : "binary");
	free(id);
	free(tn);
	return b.s;
}

/* ===================================================================
 * Job records and info
 * =================================================================== */

/* Fills m from j (caller holds j->mu).  Strings point into j and into
 * `skips` (n = SK_COUNT entries), valid while j->mu is held. */
static void
job_info(job *j, Shoal__ImportJob *m, Shoal__ImportSkip *skips, Shoal__ImportSkip **skp,
    bool durable)
{
	const counts *c = durable ? &j->ck_counts : &j->prefix;
	shoal__import_job__init(m);
	m->id = j->id;
	m->state = j->state;
	m->spec = j->spec;
	m->rows_estimated = j->est;
	m->rows_done = c->rows;
	m->rows_imported = c->imported;
	m->rows_skipped = c->skipped;
	size_t ns = 0;
	for (int i = 0; i < SK_COUNT; i++) {
		if (c->skip[i] == 0)
			continue;
		shoal__import_skip__init(&skips[ns]);
		skips[ns].reason = (char *)skip_text[i];
		skips[ns].rows = c->skip[i];
		skips[ns].example = j->example[i];
		skp[ns] = &skips[ns];
		ns++;
	}
	m->n_skips = ns;
	m->skips = skp;
	m->rows_read = durable ? c->rows : j->rows_read;
	uint64_t end = j->run_end_ms ? j->run_end_ms : util_mono_ms();
	uint64_t el = j->run_start_ms && end > j->run_start_ms ? end - j->run_start_ms : 0;
	m->elapsed_ms = durable ? 0 : el;
	m->rows_per_sec = !durable && el > 0 && c->rows >= j->run_base_rows
	    ? (double)(c->rows - j->run_base_rows) * 1000.0 / (double)el
	    : 0;
	m->error_code = j->err_code;
	m->error = j->err;
	m->units_total = j->units_total;
	m->units_done = j->units_done;
	m->current = j->current;
	m->resumed_from = j->resumed_from;
	m->runs = j->runs;
	m->tenants = j->tenants;
	m->dim = j->dim;
	m->notice = j->notice;
}

/* Writes j's record (state and checkpoint) durably. */
static shoal_code
job_persist(pg_import *imp, job *j, shoal_status *st)
{
	Shoal__ImportSkip skips[SK_COUNT];
	Shoal__ImportSkip *skp[SK_COUNT];
	Shoal__ImportJob m;
	Shoal__ImportJobRecord rec = SHOAL__IMPORT_JOB_RECORD__INIT;
	shoal_code rv;

	pthread_mutex_lock(&j->persist_mu);
	pthread_mutex_lock(&j->mu);
	job_info(j, &m, skips, skp, true);
	rec.job = &m;
	rec.ck_unit = j->ck.unit ? j->ck.unit : (char *)"";
	rec.ck_has_key = j->ck.has_key;
	rec.ck_tenant = j->ck.tenant ? j->ck.tenant : (char *)"";
	rec.ck_id = j->ck.id ? j->ck.id : (char *)"";
	rec.ck_unit_done = j->ck.complete;
	size_t n = shoal__import_job_record__get_packed_size(&rec);
	uint8_t *buf = xmalloc(n ? n : 1);
	shoal__import_job_record__pack(&rec, buf);
	j->last_persist_ms = util_mono_ms();
	pthread_mutex_unlock(&j->mu);
	rv = catalog_put_import(imp->cat, j->id, buf, n, st);
	pthread_mutex_unlock(&j->persist_mu);
	free(buf);
	if (rv != SHOAL_OK)
		log_error("import %s: cannot write its checkpoint: %s", j->id, st ? st->msg : "");
	return rv;
}

static job *
job_new(const char *id)
{
	job *j = xcalloc(1, sizeof *j);
	snprintf(j->id, sizeof j->id, "%s", id);
	pthread_mutex_init(&j->mu, NULL);
	pthread_cond_init(&j->cv, NULL);
	pthread_mutex_init(&j->persist_mu, NULL);
	atomic_init(&j->stop, STOP_NONE);
	return j;
}

static void
job_free(job *j)
{
	if (j == NULL)
		return;
	if (j->spec)
		shoal__import_spec__free_unpacked(j->spec, NULL);
	position_clear(&j->ck);
	free(j->ring);
	pthread_mutex_destroy(&j->mu);
	pthread_cond_destroy(&j->cv);
	pthread_mutex_destroy(&j->persist_mu);
	free(j);
}

static void
counts_from_msg(counts *c, const Shoal__ImportJob *m, job *j)
{
	memset(c, 0, sizeof *c);
	c->rows = m->rows_done;
	c->imported = m->rows_imported;
	c->skipped = m->rows_skipped;
	for (size_t i = 0; i < m->n_skips; i++)
		for (int k = 0; k < SK_COUNT; k++)
			if (m->skips[i]->reason && strcmp(m->skips[i]->reason, skip_text[k]) == 0) {
				c->skip[k] = m->skips[i]->rows;
				if (j != NULL)
					snprintf(j->example[k], sizeof j->example[k], "%s",
					    m->skips[i]->example ? m->skips[i]->example : "");
			}
}

/* catalog_scan_imports callback: one record -> one job. */
static shoal_code
load_one(void *arg, const char *id, const void *val, size_t len, shoal_status *st)
{
	pg_import *imp = arg;
	Shoal__ImportJobRecord *rec = shoal__import_job_record__unpack(NULL, len, val);
	if (rec == NULL || rec->job == NULL || rec->job->spec == NULL)
		return shoal_status_set(st, SHOAL_DATA_LOSS,
		    "catalog: import job %s has an undecodable record", id);
	job *j = job_new(id);
	const Shoal__ImportJob *m = rec->job;
	j->spec = spec_copy(m->spec, NULL);
	j->state = m->state;
	j->err_code = m->error_code;
	snprintf(j->err, sizeof j->err, "%s", m->error ? m->error : "");
	snprintf(j->notice, sizeof j->notice, "%s", m->notice ? m->notice : "");
	j->runs = m->runs;
	j->resumed_from = m->resumed_from;
	j->est = m->rows_estimated;
	j->units_total = m->units_total;
	j->units_done = m->units_done;
	j->tenants = m->tenants;
	j->dim = m->dim;
	counts_from_msg(&j->ck_counts, m, j);
	j->prefix = j->ck_counts;
	j->rows_read = j->ck_counts.rows;
	if (rec->ck_unit_done || rec->ck_has_key) {
		j->ck.unit = xstrdup(rec->ck_unit ? rec->ck_unit : "");
		j->ck.has_key = rec->ck_has_key;
		j->ck.complete = rec->ck_unit_done;
		if (rec->ck_has_key) {
			j->ck.id = xstrdup(rec->ck_id);
			if (str_set(j->spec->tenant_col))
				j->ck.tenant = xstrdup(rec->ck_tenant ? rec->ck_tenant : "");
		}
	}
	shoal__import_job_record__free_unpacked(rec, NULL);
	imp->jobs = xrealloc(imp->jobs, (imp->n_jobs + 1) * sizeof *imp->jobs);
	imp->jobs[imp->n_jobs++] = j;
	return SHOAL_OK;
}

/* ===================================================================
 * Batches, the window, commits
 * =================================================================== */

static batch *
batch_new(void)
{
	return xcalloc(1, sizeof(batch));
}

static void
batch_free(batch *b)
{
	if (b == NULL)
		return;
	free(b->pts);
	free(b->pp);
	free(b->vecs);
	arena_free(&b->ar);
	position_clear(&b->ck);
	free(b);
}

/* Replaces *dst with s[0..n) (reusing its memory where possible). */
static void
str_assign(char **dst, const char *s, size_t n)
{
	*dst = xrealloc(*dst, n + 1);
	memcpy(*dst, s, n);
	(*dst)[n] = '\0';
}

/* Commits completed batches in stream order (caller holds j->mu). */
static void
commit_locked(job *j)
{
	bool any = false;
	while (j->commit_seq < j->next_seq) {
		batch *b = j->ring[j->commit_seq % j->window];
		if (b == NULL)
			break;
		j->ring[j->commit_seq % j->window] = NULL;
		counts before = j->prefix;
		counts_add(&j->prefix, &b->full);
		if (b->has_ck) {
			j->ck_counts = before;
			counts_add(&j->ck_counts, &b->to_ck);
			position_copy(&j->ck, &b->ck);
			if (b->ck.complete)
				j->units_done++;
		}
		j->commit_seq++;
		batch_free(b);
		any = true;
	}
	if (any)
		pthread_cond_broadcast(&j->cv);
}

/* Asks the run to stop (first reason wins); interrupts a running COPY.
 * Caller holds j->mu. */
static void
stop_locked(job *j, stop_why why, shoal_code code, const char *msg)
{
	int none = STOP_NONE;
	if (!atomic_compare_exchange_strong(&j->stop, &none, (int)why))
		return;
	if (why == STOP_ERROR) {
		j->err_code = (int32_t)code;
		size_t l = strlen(msg);
		if (l >= sizeof j->err)
			l = sizeof j->err - 1; /* long messages are cut, never overflow */
		memcpy(j->err, msg, l);
		j->err[l] = '\0';
	}
	if (j->cancel != NULL) {
		char err[256];
		PQcancel(j->cancel, err, sizeof err);
	}
	pthread_cond_broadcast(&j->cv);
}

static bool
stopping(job *j)
{
	return atomic_load(&j->stop) != STOP_NONE;
}

/* Stops the run with an error (unless it is already stopping). */
static void fail_run(job *j, shoal_code code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static void
fail_run(job *j, shoal_code code, const char *fmt, ...)
{
	char msg[2 * SHOAL_STATUS_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&j->mu);
	stop_locked(j, STOP_ERROR, code, msg);
	pthread_mutex_unlock(&j->mu);
}

/* Writes the checkpoint when the last write is CHECKPOINT_MS old. */
static void
maybe_persist(run *R)
{
	job *j = R->j;
	pthread_mutex_lock(&j->mu);
	bool due = util_mono_ms() - j->last_persist_ms >= CHECKPOINT_MS;
	pthread_mutex_unlock(&j->mu);
	if (due)
		job_persist(R->imp, j, NULL);
}

/* Hands b to the senders (or, without points, straight to the commit),
 * waiting while the window is full.  Returns false (b freed) when the run
 * is stopping. */
static bool
submit(run *R, batch *b)
{
	job *j = R->j;

	pthread_mutex_lock(&j->mu);
	while (!stopping(j) && j->next_seq - j->commit_seq >= j->window)
		pthread_cond_wait(&j->cv, &j->mu);
	if (stopping(j)) {
		pthread_mutex_unlock(&j->mu);
		batch_free(b);
		return false;
	}
	b->seq = j->next_seq++;
	if (b->n == 0) {
		j->ring[b->seq % j->window] = b;
		commit_locked(j);
	} else {
		b->next = NULL;
		if (j->q_tail)
			j->q_tail->next = b;
		else
			j->q_head = b;
		j->q_tail = b;
		pthread_cond_broadcast(&j->cv);
	}
	pthread_mutex_unlock(&j->mu);
	maybe_persist(R);
	return true;
}

/* One Upsert of b through the router, retried while the target is
 * temporarily unavailable. */
static shoal_code
send_batch(run *R, batch *b, shoal_status *st)
{
	Shoal__UpsertRequest req = SHOAL__UPSERT_REQUEST__INIT;
	shoal_code rv = SHOAL_OK;

	req.tenant = b->tenant;
	req.collection = R->j->spec->collection;
	req.n_points = b->n;
	req.points = b->pp;
	for (int attempt = 0; attempt < SEND_ATTEMPTS; attempt++) {
		ProtobufCMessage *out = NULL;
		rv = local_call(R->imp, "Upsert", &req.base, &shoal__upsert_reply__descriptor,
		    SEND_TIMEOUT_MS, &out, st);
		if (rv == SHOAL_OK) {
			protobuf_c_message_free_unpacked(out, NULL);
			return SHOAL_OK;
		}
		if ((rv != SHOAL_UNAVAILABLE && rv != SHOAL_DEADLINE_EXCEEDED) || stopping(R->j))
			break;
		log_warn("import %s: upsert of %zu points into %s/%s failed (%s: %s); retrying",
		    R->j->id, b->n, b->tenant, req.collection, shoal_code_name(rv), st->msg);
		for (uint32_t slept = 0; slept < (200u << attempt) && !stopping(R->j); slept += 50)
			util_sleep_ms(50);
	}
	shoal_status_prefix(st, "upserting %zu points into %s/%s", b->n, b->tenant, req.collection);
	return rv;
}

static void *
sender_main(void *arg)
{
	run *R = arg;
	job *j = R->j;
	shoal_status st;

	for (;;) {
		pthread_mutex_lock(&j->mu);
		while (j->q_head == NULL && !j->q_closed && !stopping(j))
			pthread_cond_wait(&j->cv, &j->mu);
		if (stopping(j) || j->q_head == NULL) {
			pthread_mutex_unlock(&j->mu);
			break;
		}
		batch *b = j->q_head;
		j->q_head = b->next;
		if (j->q_head == NULL)
			j->q_tail = NULL;
		pthread_mutex_unlock(&j->mu);

		shoal_code rv = send_batch(R, b, &st);
		pthread_mutex_lock(&j->mu);
		if (rv == SHOAL_OK) {
			j->ring[b->seq % j->window] = b;
			commit_locked(j);
		} else {
			stop_locked(j, STOP_ERROR, rv, st.msg);
			batch_free(b);
		}
		pthread_mutex_unlock(&j->mu);
		if (rv == SHOAL_OK)
			maybe_persist(R);
	}
	pthread_mutex_lock(&j->mu);
	j->senders_live--;
	pthread_cond_broadcast(&j->cv);
	pthread_mutex_unlock(&j->mu);
	return NULL;
}

/* ===================================================================
 * Targets: tenant and collection, created when missing
 * =================================================================== */

/* The CreateCollection spec of the job's collection in tenant ("": a
 * cluster-level one), dimension want; strings point into the job's spec. */
static Shoal__CollectionSpec
target_spec(const Shoal__ImportSpec *s, const char *tenant, uint32_t want)
{
	Shoal__CollectionSpec cs = SHOAL__COLLECTION_SPEC__INIT;
	cs.tenant = (char *)tenant;
	cs.name = s->collection;
	cs.dim = want;
	cs.metric = s->metric != SHOAL__METRIC__METRIC_UNSPECIFIED ? s->metric
	                                                           : SHOAL__METRIC__METRIC_COSINE;
	cs.m = s->m;
	cs.ef_construction = s->ef_construction;
	return cs;
}

/* The existing collection of the job's name in tenant, by ListCollections:
 * *spec (NULL when there is none) points into *out, which the caller
 * frees (protobuf_c_message_free_unpacked) when OK. */
static shoal_code
existing_spec(run *R, const char *tenant, ProtobufCMessage **out,
    const Shoal__CollectionSpec **spec, shoal_status *st)
{
	Shoal__ListCollectionsRequest lc = SHOAL__LIST_COLLECTIONS_REQUEST__INIT;
	lc.tenant = (char *)tenant;
	*spec = NULL;
	shoal_code rv = local_call(R->imp, "ListCollections", &lc.base,
	    &shoal__list_collections_reply__descriptor, DDL_TIMEOUT_MS, out, st);
	if (rv != SHOAL_OK)
		return rv;
	const Shoal__ListCollectionsReply *l = (const Shoal__ListCollectionsReply *)*out;
	for (size_t i = 0; i < l->n_collections; i++)
		if (l->collections[i]->spec &&
		    strcmp(l->collections[i]->spec->name, R->j->spec->collection) == 0)
			*spec = l->collections[i]->spec;
	return SHOAL_OK;
}

/* Makes sure tenant and its collection exist; *dim is the collection's
 * dimension (an existing one's, or `want` for one created here). */
static shoal_code
ensure_target(run *R, const char *tenant, uint32_t want, uint32_t *dim, bool *created,
    shoal_status *st)
{
	const Shoal__ImportSpec *s = R->j->spec;
	ProtobufCMessage *out = NULL;
	shoal_code rv;

	*created = false;
	Shoal__CreateTenantRequest ct = SHOAL__CREATE_TENANT_REQUEST__INIT;
	ct.name = (char *)tenant;
	rv = local_call(R->imp, "CreateTenant", &ct.base, &shoal__tenant_info__descriptor,
	    DDL_TIMEOUT_MS, &out, st);
	if (rv == SHOAL_OK) {
		log_info("import %s: created tenant %s on worker %s", R->j->id, tenant,
		    ((Shoal__TenantInfo *)out)->worker);
		protobuf_c_message_free_unpacked(out, NULL);
	} else if (rv != SHOAL_ALREADY_EXISTS) {
		shoal_status_prefix(st, "creating tenant '%s'", tenant);
		return rv;
	}

	Shoal__CollectionSpec cs = target_spec(s, tenant, want);
	rv = local_call(R->imp, "CreateCollection", &cs.base, &shoal__collection_info__descriptor,
	    DDL_TIMEOUT_MS, &out, st);
	if (rv == SHOAL_OK) {
		protobuf_c_message_free_unpacked(out, NULL);
		*dim = want;
		*created = true;
		return SHOAL_OK;
	}
	if (rv != SHOAL_ALREADY_EXISTS) {
		shoal_status_prefix(st, "creating collection '%s' in tenant '%s'", s->collection,
		    tenant);
		return rv;
	}
	const Shoal__CollectionSpec *e;
	if ((rv = existing_spec(R, tenant, &out, &e, st)) != SHOAL_OK)
		return rv;
	if (e != NULL) {
		*dim = e->dim;
		shoal_status_clear(st);
	} else {
		rv = shoal_status_set(st, SHOAL_NOT_FOUND, "collection '%s' of tenant '%s' vanished",
		    s->collection, tenant);
	}
	protobuf_c_message_free_unpacked(out, NULL);
	return rv;
}

/* The shared collection of a --tenant-col import (tenant ""), created
 * with dim `want` and key_field = the tenant column's name when missing;
 * *dim and R->key_field are the existing collection's otherwise. */
static shoal_code
ensure_shared(run *R, uint32_t want, uint32_t *dim, shoal_status *st)
{
	const Shoal__ImportSpec *s = R->j->spec;
	ProtobufCMessage *out = NULL;
	shoal_code rv;

	Shoal__CollectionSpec cs = target_spec(s, "", want);
	cs.placement = SHOAL__PLACEMENT__PLACEMENT_SHARED;
	cs.key_field = s->tenant_col;
	rv = local_call(R->imp, "CreateCollection", &cs.base, &shoal__collection_info__descriptor,
	    DDL_TIMEOUT_MS, &out, st);
	if (rv == SHOAL_OK) {
		protobuf_c_message_free_unpacked(out, NULL);
		snprintf(R->key_field, sizeof R->key_field, "%s", s->tenant_col);
		*dim = want;
		log_info("import %s: created shared collection %s (dim %u, distributed by %s)",
		    R->j->id, s->collection, want, s->tenant_col);
		return SHOAL_OK;
	}
	if (rv != SHOAL_ALREADY_EXISTS) {
		shoal_status_prefix(st, "creating shared collection '%s'", s->collection);
		return rv;
	}
	shoal_status create_st = *st;
	const Shoal__CollectionSpec *e;
	if ((rv = existing_spec(R, "", &out, &e, st)) != SHOAL_OK)
		return rv;
	*st = create_st; /* when there is none: e.g. "a tenant has that name" */
	rv = create_st.code;
	if (e != NULL && e->placement != SHOAL__PLACEMENT__PLACEMENT_SHARED) {
		rv = shoal_status_set(st, SHOAL_FAILED_PRECONDITION,
		    "collection '%s' exists and is not a shared collection; --tenant-col "
		    "imports into a shared one (or a tenant per value with "
		    "--dedicated-tenants)",
		    s->collection);
	} else if (e != NULL) {
		*dim = e->dim;
		snprintf(R->key_field, sizeof R->key_field, "%s",
		    e->key_field && e->key_field[0] ? e->key_field : "tenant");
		rv = SHOAL_OK;
		shoal_status_clear(st);
	}
	protobuf_c_message_free_unpacked(out, NULL);
	return rv;
}

/* ===================================================================
 * Reader: rows -> points
 * =================================================================== */

/* Flushes the open batch (if any) to the senders. */
static bool
flush_open(run *R)
{
	batch *b = R->open;
	R->open = NULL;
	if (b == NULL)
		return true;
	pthread_mutex_lock(&R->j->mu);
	R->j->rows_read += b->full.rows;
	pthread_mutex_unlock(&R->j->mu);
	return submit(R, b);
}

static batch *
open_batch(run *R)
{
	if (R->open == NULL) {
		R->open = batch_new();
		snprintf(R->open->tenant, sizeof R->open->tenant, "%s", R->cur_tenant);
	}
	return R->open;
}

/* The row's key (for the checkpoint), once it is fully decoded. */
typedef struct rowkey {
	bool valid;
	const char *tenant; /* NUL-terminated */
	size_t tenant_len;
	char id[64]; /* ints and uuids */
	const char *id_text; /* text ids: points into the row */
	size_t id_len;
} rowkey;

static void
mark_key(run *R, batch *b, const rowkey *k)
{
	if (!k->valid)
		return;
	b->has_ck = true;
	b->to_ck = b->full;
	str_assign(&b->ck.unit, R->unit_name, strlen(R->unit_name));
	b->ck.complete = false;
	b->ck.has_key = true;
	if (k->tenant != NULL)
		str_assign(&b->ck.tenant, k->tenant, k->tenant_len);
	str_assign(&b->ck.id, k->id_text, k->id_len);
}

/* Skips the current row (counting it in the open batch) or, without
 * --on-error skip, stops the run with the row's error.  Returns false when
 * the run must stop. */
static bool
skip_row(run *R, skip_reason why, const rowkey *k, const char *detail)
{
	job *j = R->j;
	char where[160];

	if (k->id_text != NULL)
		snprintf(where, sizeof where, "id %.*s", (int)(k->id_len > 80 ? 80 : k->id_len),
		    k->id_text);
	else
		snprintf(where, sizeof where, "row %" PRIu64 "%s%s", R->row_no,
		    R->unit_name[0] ? " of schema " : "", R->unit_name);
	if (!j->spec->skip_bad_rows) {
		/* the rows before this one are sent and acknowledged first, so
		 * that "imported up to the bad row" is exactly true */
		if (flush_open(R)) {
			pthread_mutex_lock(&j->mu);
			while (!stopping(j) && j->commit_seq < j->next_seq)
				pthread_cond_wait(&j->cv, &j->mu);
			pthread_mutex_unlock(&j->mu);
		}
		fail_run(j, SHOAL_INVALID_ARGUMENT,
		    "%s%s%s: %s%s%s; the rows before it are imported, "
		    "use --on-error skip to skip such rows",
		    where, R->unit_name[0] && k->id_text ? " in schema " : "",
		    R->unit_name[0] && k->id_text ? R->unit_name : "", skip_text[why],
		    detail ? ": " : "", detail ? detail : "");
		return false;
	}
	batch *b = open_batch(R);
	b->full.rows++;
	b->full.skipped++;
	b->full.skip[why]++;
	mark_key(R, b, k);
	if (j->example[why][0] == '\0') {
		pthread_mutex_lock(&j->mu);
		snprintf(j->example[why], sizeof j->example[why], "%s%s%s", where,
		    detail ? ": " : "", detail ? detail : "");
		pthread_mutex_unlock(&j->mu);
	}
	return true;
}

/* ---- payload ----------------------------------------------------------- */

typedef struct pfields {
	Shoal__PayloadField **v;
	size_t n, cap;
	arena *ar;
} pfields;

static bool
pf_has(const pfields *pf, const char *key, size_t kl)
{
	for (size_t i = 0; i < pf->n; i++)
		if (strlen(pf->v[i]->key) == kl && memcmp(pf->v[i]->key, key, kl) == 0)
			return true;
	return false;
}

/* A new field `key` (unless the row already has one: the first wins). */
static Shoal__PayloadValue *
pf_add(pfields *pf, const char *key, size_t kl)
{
	if (kl == 0 || pf_has(pf, key, kl))
		return NULL;
	if (pf->n == pf->cap) {
		pf->cap = pf->cap ? pf->cap * 2 : 16;
		pf->v = xrealloc(pf->v, pf->cap * sizeof *pf->v);
	}
	Shoal__PayloadField *f = arena_alloc(pf->ar, sizeof *f);
	Shoal__PayloadValue *v = arena_alloc(pf->ar, sizeof *v);
	shoal__payload_field__init(f);
	shoal__payload_value__init(v);
	f->key = arena_strndup(pf->ar, key, kl);
	f->value = v;
	pf->v[pf->n++] = f;
	return v;
}

typedef struct tag_acc {
	arena *ar;
	char **v;
	size_t n, cap;
} tag_acc;

static shoal_code
tag_add(void *arg, const char *s, size_t n, shoal_status *st)
{
	(void)st;
	tag_acc *t = arg;
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 8;
		char **nv = arena_alloc(t->ar, cap * sizeof *nv);
		if (t->n)
			memcpy(nv, t->v, t->n * sizeof *nv);
		t->v = nv;
		t->cap = cap;
	}
	t->v[t->n++] = arena_strndup(t->ar, s, n);
	return SHOAL_OK;
}

static void
set_tags(Shoal__PayloadValue *v, arena *ar, char **tags, size_t n)
{
	Shoal__StringList *l = arena_alloc(ar, sizeof *l);
	shoal__string_list__init(l);
	l->values = tags;
	l->n_values = n;
	v->kind_case = SHOAL__PAYLOAD_VALUE__KIND_TAGS;
	v->tags = l;
}

/* Sets v from a decoded value: a JSON field's, or a typed column's
 * (payload_col) in the same form, so each kind is converted in one place.
 * Strings and lists are copied into ar. */
static void
pv_set(Shoal__PayloadValue *v, arena *ar, const pgcopy_jvalue *jv)
{
	switch (jv->type) {
	case PGCOPY_J_STRING:
		v->kind_case = SHOAL__PAYLOAD_VALUE__KIND_S;
		v->s = arena_strndup(ar, jv->s.p, jv->s.n);
		break;
	case PGCOPY_J_INT:
		v->kind_case = SHOAL__PAYLOAD_VALUE__KIND_I;
		v->i = jv->i;
		break;
	case PGCOPY_J_DOUBLE:
		v->kind_case = SHOAL__PAYLOAD_VALUE__KIND_D;
		v->d = jv->d;
		break;
	case PGCOPY_J_BOOL:
		v->kind_case = SHOAL__PAYLOAD_VALUE__KIND_B;
		v->b = jv->b;
		break;
	case PGCOPY_J_TAGS: {
		char **tags = arena_alloc(ar, (jv->n_tags ? jv->n_tags : 1) * sizeof *tags);
		for (size_t i = 0; i < jv->n_tags; i++)
			tags[i] = arena_strndup(ar, jv->tags[i].p, jv->tags[i].n);
		set_tags(v, ar, tags, jv->n_tags);
		break;
	}
	}
}

typedef struct json_ctx {
	pfields *pf;
	const char *col;
} json_ctx;

static shoal_code
json_field(void *arg, pgcopy_slice key, const pgcopy_jvalue *jv, shoal_status *st)
{
	(void)st;
	json_ctx *c = arg;
	const char *k = key.p ? key.p : c->col;
	size_t kl = key.p ? key.n : strlen(c->col);
	if (kl > 0 && memchr(k, '\0', kl) != NULL)
		return SHOAL_OK; /* a key with a NUL cannot be a payload key */
	Shoal__PayloadValue *v = pf_add(c->pf, k, kl);
	if (v != NULL)
		pv_set(v, c->pf->ar, jv);
	return SHOAL_OK;
}

/* Makes the scratch buffers hold at least n bytes of input. */
static void
scratch_reserve(run *R, size_t n)
{
	if (R->scratch_cap < n + 1) {
		R->scratch_cap = n + 1 > 2 * R->scratch_cap ? n + 1 : 2 * R->scratch_cap;
		R->scratch = xrealloc(R->scratch, R->scratch_cap);
	}
	if (R->slices_cap < n / 2 + 1) {
		R->slices_cap = n / 2 + 1 > 2 * R->slices_cap ? n / 2 + 1 : 2 * R->slices_cap;
		R->slices = xrealloc(R->slices, R->slices_cap * sizeof *R->slices);
	}
}

/* Decodes payload column i into pf. */
static shoal_code
payload_col(run *R, size_t i, const pgcopy_field *f, pfields *pf, shoal_status *st)
{
	const col_plan *cp = &R->pl.cols[i];
	const char *key = cp->name;
	arena *ar = pf->ar;
	shoal_code rv = SHOAL_OK;

	if (f->len < 0)
		return SHOAL_OK; /* NULL: the point has no such field */
	const uint8_t *p = f->p;
	size_t n = (size_t)f->len;
	bool bin = cp->binary;

	if (cp->type == PGCOPY_JSON || cp->type == PGCOPY_JSONB) {
		scratch_reserve(R, n);
		json_ctx c = {pf, key};
		rv = pgcopy_json_fields(cp->type, bin, p, n, (char *)R->scratch, R->slices,
		    json_field, &c, st);
		return rv;
	}
	Shoal__PayloadValue *v = pf_add(pf, key, strlen(key));
	if (v == NULL)
		return SHOAL_OK;
	/* decoded into the JSON value form, converted by pv_set */
	pgcopy_jvalue jv = {0};
	char u[37];
	switch (cp->type) {
	case PGCOPY_BOOL:
		jv.type = PGCOPY_J_BOOL;
		rv = pgcopy_bool(bin, p, n, &jv.b, st);
		break;
	case PGCOPY_INT2:
	case PGCOPY_INT4:
	case PGCOPY_INT8:
		jv.type = PGCOPY_J_INT;
		rv = pgcopy_int(cp->type, bin, p, n, &jv.i, st);
		break;
	case PGCOPY_FLOAT4:
	case PGCOPY_FLOAT8:
	case PGCOPY_NUMERIC:
		jv.type = PGCOPY_J_DOUBLE;
		rv = pgcopy_float(cp->type, bin, p, n, &jv.d, st);
		break;
	case PGCOPY_UUID:
		jv.type = PGCOPY_J_STRING;
		jv.s = (pgcopy_slice){u, 36};
		rv = pgcopy_uuid(bin, p, n, u, st);
		break;
	case PGCOPY_TEXT_ARRAY: {
		scratch_reserve(R, n);
		tag_acc t = {.ar = ar};
		if ((rv = pgcopy_text_array(bin, p, n, (char *)R->scratch, tag_add, &t, st)) ==
		    SHOAL_OK)
			set_tags(v, ar, t.v, t.n);
		break;
	}
	default: /* text and the text form of anything else */
		jv.type = PGCOPY_J_STRING;
		jv.s = (pgcopy_slice){(const char *)p, n};
		if (memchr(p, '\0', n) != NULL)
			rv = shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
			    "text contains a NUL byte");
		break;
	}
	if (rv == SHOAL_OK && jv.type != 0) /* 0: a text array, set above */
		pv_set(v, ar, &jv);
	if (rv != SHOAL_OK)
		shoal_status_prefix(st, "column \"%s\"", key);
	return rv;
}

/* ---- one row ------------------------------------------------------------ */

static bool
handle_row(run *R, const pgcopy_field *f, size_t nf)
{
	job *j = R->j;
	const plan *pl = &R->pl;
	shoal_status st;
	rowkey k = {0};
	char tenant_buf[SHARDMAP_KEY_MAX + 2];
	char uuid[37];

	R->row_no++;
	if (nf != pl->ncols) {
		fail_run(j, SHOAL_INTERNAL, "PostgreSQL sent %zu columns, expected %zu", nf,
		    pl->ncols);
		return false;
	}

	/* ---- key: id, then tenant */
	const col_plan *idc = &pl->cols[0];
	bool key_ok = true;
	uint64_t id = 0;
	bool id_hashed = false;
	if (f[0].len < 0) {
		key_ok = false;
	} else if (idc->type == PGCOPY_UUID) {
		if (pgcopy_uuid(idc->binary, f[0].p, (size_t)f[0].len, uuid, &st) != SHOAL_OK)
			return skip_row(R, SK_BAD_ID, &k, st.msg);
		k.id_text = uuid;
		k.id_len = 36;
		id = pgcopy_id_hash(uuid, 36);
		id_hashed = true;
	} else if (idc->type == PGCOPY_TEXT) {
		k.id_text = (const char *)f[0].p;
		k.id_len = (size_t)f[0].len;
		id = pgcopy_id_hash(f[0].p, (size_t)f[0].len);
		id_hashed = true;
	} else {
		int64_t v;
		if (pgcopy_int(idc->type, idc->binary, f[0].p, (size_t)f[0].len, &v, &st) !=
		    SHOAL_OK)
			return skip_row(R, SK_BAD_ID, &k, st.msg);
		snprintf(k.id, sizeof k.id, "%" PRId64, v);
		k.id_text = k.id;
		k.id_len = strlen(k.id);
		id = (uint64_t)v;
	}
	const char *tenant = R->cur_tenant;
	if (pl->c_tenant >= 0) {
		const pgcopy_field *tf = &f[pl->c_tenant];
		const col_plan *tc = &pl->cols[pl->c_tenant];
		if (tf->len < 0) {
			key_ok = false;
			tenant = NULL;
		} else {
			size_t tl = (size_t)tf->len;
			if (tc->type == PGCOPY_INT2 || tc->type == PGCOPY_INT4 ||
			    tc->type == PGCOPY_INT8) {
				int64_t v;
				if (pgcopy_int(tc->type, tc->binary, tf->p, tl, &v, &st) !=
				    SHOAL_OK)
					return skip_row(R, SK_BAD_TENANT, &k, st.msg);
				snprintf(tenant_buf, sizeof tenant_buf, "%" PRId64, v);
			} else if (tc->type == PGCOPY_UUID) {
				if (pgcopy_uuid(tc->binary, tf->p, tl, tenant_buf, &st) != SHOAL_OK)
					return skip_row(R, SK_BAD_TENANT, &k, st.msg);
			} else {
				if (tl >= sizeof tenant_buf)
					tl =
					    sizeof tenant_buf - 1; /* too long: the checks say so */
				memcpy(tenant_buf, tf->p, tl);
				tenant_buf[tl] = '\0';
				if (memchr(tf->p, '\0', (size_t)tf->len) != NULL)
					tenant_buf[0] = '\0';
			}
			tenant = tenant_buf;
			k.tenant = tenant_buf;
			k.tenant_len = strlen(tenant_buf);
		}
	}
	k.valid = key_ok;
	if (f[0].len < 0)
		return skip_row(R, SK_NULL_ID, &k, NULL);
	if (tenant == NULL)
		return skip_row(R, SK_NULL_TENANT, &k, NULL);
	if (R->shared) {
		/* the value is the point's distribution key */
		size_t tl = strlen(tenant);
		if (tl == 0 || tl > SHARDMAP_KEY_MAX) {
			char d[96];
			snprintf(d, sizeof d, "a distribution key is 1..%d bytes, this one %s%zu",
			    SHARDMAP_KEY_MAX, tl > SHARDMAP_KEY_MAX ? "over " : "", tl);
			return skip_row(R, SK_BAD_TENANT, &k, d);
		}
		if (R->last_key == NULL || strcmp(R->last_key, tenant) != 0) {
			str_assign(&R->last_key, tenant, tl);
			pthread_mutex_lock(&j->mu);
			j->tenants++;
			pthread_mutex_unlock(&j->mu);
		}
	} else if (pl->c_tenant >= 0 && util_check_name("tenant", tenant, &st) != SHOAL_OK) {
		return skip_row(R, SK_BAD_TENANT, &k, st.msg);
	}

	/* ---- a new tenant starts a new batch (rows come grouped by tenant) */
	if (!R->shared && strcmp(tenant, R->cur_tenant) != 0) {
		if (!flush_open(R))
			return false;
		/* a valid tenant name (checked above) fits */
		memcpy(R->cur_tenant, tenant, strlen(tenant) + 1);
		R->cur_tenant_ready = false;
		R->cur_dim = 0;
	}

	/* ---- vector */
	const col_plan *vc = &pl->cols[1];
	uint32_t dim = 0;
	if (f[1].len < 0)
		return skip_row(R, SK_NULL_VECTOR, &k, NULL);
	pgcopy_type vt = vc->binary ? vc->type : PGCOPY_TEXT;
	if (pgcopy_vector(vt, vc->binary, f[1].p, (size_t)f[1].len, R->vec, PGCOPY_MAX_DIM, &dim,
	        &st) != SHOAL_OK)
		return skip_row(R, SK_BAD_VECTOR, &k, st.msg);
	if (pgcopy_vector_check(R->vec, dim, &st) != SHOAL_OK)
		return skip_row(R, SK_NONFINITE, &k, st.msg);

	/* ---- the tenant's collection, created with the first good row's dim */
	if (!R->cur_tenant_ready) {
		bool created;
		shoal_code erv = R->shared
		    ? ensure_shared(R, dim, &R->cur_dim, &st)
		    : ensure_target(R, R->cur_tenant, dim, &R->cur_dim, &created, &st);
		if (erv != SHOAL_OK) {
			pthread_mutex_lock(&j->mu);
			stop_locked(j, STOP_ERROR, st.code, st.msg);
			pthread_mutex_unlock(&j->mu);
			return false;
		}
		R->cur_tenant_ready = true;
		pthread_mutex_lock(&j->mu);
		if (!R->shared)
			j->tenants++;
		if (j->dim == 0)
			j->dim = R->cur_dim;
		pthread_mutex_unlock(&j->mu);
		if (R->open != NULL)
			snprintf(R->open->tenant, sizeof R->open->tenant, "%s", R->cur_tenant);
	}
	if (dim != R->cur_dim) {
		char d[128];
		if (R->shared)
			snprintf(d, sizeof d, "%u dimensions, shared collection '%s' has %u", dim,
			    j->spec->collection, R->cur_dim);
		else
			snprintf(d, sizeof d,
			    "%u dimensions, collection '%s' of tenant '%s' has %u", dim,
			    j->spec->collection, R->cur_tenant, R->cur_dim);
		return skip_row(R, SK_DIM, &k, d);
	}

	/* ---- the point */
	batch *b = open_batch(R);
	if (b->cap == 0) {
		b->cap = j->spec->batch ? j->spec->batch : DEFAULT_BATCH;
		b->dim = R->cur_dim;
		b->pts = xmalloc(b->cap * sizeof *b->pts);
		b->pp = xmalloc(b->cap * sizeof *b->pp);
		b->vecs = xmalloc((size_t)b->cap * b->dim * sizeof(float));
	}
	pfields pf = {.ar = &b->ar};
	Shoal__Point *pt = &b->pts[b->n];
	shoal__point__init(pt);
	pt->id = id;
	pt->n_vector = dim;
	pt->vector = b->vecs + b->n * b->dim;
	memcpy(pt->vector, R->vec, dim * sizeof(float));
	if (R->shared) {
		/* the distribution key first: a payload column of the same name
		 * cannot override it */
		Shoal__PayloadValue *v = pf_add(&pf, R->key_field, strlen(R->key_field));
		v->kind_case = SHOAL__PAYLOAD_VALUE__KIND_S;
		v->s = arena_strndup(&b->ar, tenant, strlen(tenant));
	}
	if (id_hashed) {
		/* the original id, kept in the payload under the id column's name */
		Shoal__PayloadValue *v = pf_add(&pf, idc->name, strlen(idc->name));
		v->kind_case = SHOAL__PAYLOAD_VALUE__KIND_S;
		v->s = arena_strndup(&b->ar, k.id_text, k.id_len);
	}
	/* named columns first, then the fields of json columns: a key named
	 * by a column wins over the same key inside a json value */
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = (size_t)pl->c_payload; i < pl->ncols; i++) {
			bool json =
			    pl->cols[i].type == PGCOPY_JSON || pl->cols[i].type == PGCOPY_JSONB;
			if (json != (pass == 1))
				continue;
			if (payload_col(R, i, &f[i], &pf, &st) != SHOAL_OK) {
				free(pf.v);
				return skip_row(R, SK_BAD_PAYLOAD, &k, st.msg);
			}
		}
	}
	if (pl->c_text >= 0 && f[pl->c_text].len >= 0) {
		const pgcopy_field *tf = &f[pl->c_text];
		if (memchr(tf->p, '\0', (size_t)tf->len) != NULL) {
			free(pf.v);
			return skip_row(R, SK_BAD_PAYLOAD, &k, "text contains a NUL byte");
		}
		pt->text = arena_strndup(&b->ar, (const char *)tf->p, (size_t)tf->len);
	}
	if (pf.n > 0) {
		pt->payload = arena_alloc(&b->ar, pf.n * sizeof *pt->payload);
		memcpy(pt->payload, pf.v, pf.n * sizeof *pt->payload);
		pt->n_payload = pf.n;
	}
	free(pf.v);
	b->pp[b->n] = pt;
	b->n++;
	b->full.rows++;
	b->full.imported++;
	mark_key(R, b, &k);
	if (b->n == b->cap || b->ar.bytes + b->n * b->dim * sizeof(float) >= BATCH_MAX_BYTES)
		return flush_open(R);
	return true;
}

/* Sleeps as needed to keep this run under spec.max_rate rows/s. */
static void
throttle(run *R)
{
	uint32_t rate = R->j->spec->max_rate;
	if (rate == 0)
		return;
	R->rate_rows++;
	uint64_t due = R->rate_t0 + R->rate_rows * 1000 / rate;
	uint64_t now = util_mono_ms();
	while (due > now + 2 && !stopping(R->j)) {
		uint64_t d = due - now;
		util_sleep_ms((uint32_t)(d > 100 ? 100 : d));
		now = util_mono_ms();
	}
}

/* Streams unit u (from `from` when resuming inside it). */
static void
read_unit(run *R, size_t u, const position *from)
{
	job *j = R->j;
	const plan *pl = &R->pl;
	char line[SHOAL_STATUS_MSG_MAX];
	pgcopy_field fields[MAX_COLS];
	char *sql = copy_sql(R->conn, pl, u, from);
	bool header = pl->format == FMT_BINARY;

	log_debug("import %s: %s", j->id, sql);
	PGcancel *cancel = PQgetCancel(R->conn);
	pthread_mutex_lock(&j->mu);
	j->cancel = cancel;
	bool stop_now = stopping(j);
	pthread_mutex_unlock(&j->mu);
	PGresult *r = stop_now ? NULL : PQexec(R->conn, sql);
	free(sql);
	if (r != NULL && PQresultStatus(r) != PGRES_COPY_OUT) {
		fail_run(j, SHOAL_UNAVAILABLE, "PostgreSQL: COPY of %s failed: %s",
		    pl->units[u].name[0] ? pl->units[u].name : "the source",
		    pg_result_msg(r, R->conn, line, sizeof line));
	}
	PQclear(r);
	while (r != NULL && !stopping(j)) {
		char *buf = NULL;
		int n = PQgetCopyData(R->conn, &buf, 0);
		if (n == -1)
			break; /* end of the COPY */
		if (n < 0) {
			if (!stopping(j)) {
				fail_run(j, SHOAL_UNAVAILABLE,
				    "PostgreSQL: reading the COPY failed: %s",
				    pg_line(PQerrorMessage(R->conn), line, sizeof line));
			}
			break;
		}
		const uint8_t *p = (const uint8_t *)buf;
		size_t len = (size_t)n, off = 0;
		shoal_status st;
		bool ok = true;
		if (pl->format == FMT_TEXT) {
			scratch_reserve(R, len);
			size_t nf;
			if (pgcopy_text_row(p, len, R->scratch, fields, MAX_COLS, &nf, &st) !=
			    SHOAL_OK) {
				ok = false;
			} else {
				/* the row's fields live in R->scratch, which the json
				 * decoder also uses: give them their own copy */
				uint8_t *row = xmalloc(len + 1);
				memcpy(row, R->scratch, len);
				for (size_t i = 0; i < nf; i++)
					if (fields[i].p)
						fields[i].p = row + (fields[i].p - R->scratch);
				ok = handle_row(R, fields, nf);
				free(row);
				if (!ok) {
					PQfreemem(buf);
					break;
				}
				throttle(R);
			}
		} else {
			while (ok && off < len) {
				size_t used, nf;
				bool trailer;
				if (header) {
					if (pgcopy_bin_header(p, len, &used, &st) != SHOAL_OK) {
						ok = false;
						break;
					}
					header = false;
					off += used;
					continue;
				}
				if (pgcopy_bin_tuple(p + off, len - off, fields, MAX_COLS, &nf,
				        &trailer, &used, &st) != SHOAL_OK) {
					ok = false;
					break;
				}
				off += used;
				if (trailer)
					continue;
				if (!handle_row(R, fields, nf)) {
					off = len;
					st.code = SHOAL_OK;
					break;
				}
				throttle(R);
			}
			if (!ok || stopping(j)) {
				if (!ok && !stopping(j)) {
					fail_run(j, SHOAL_INTERNAL,
					    "PostgreSQL sent undecodable COPY data: %s", st.msg);
				}
				PQfreemem(buf);
				break;
			}
		}
		if (!ok && pl->format == FMT_TEXT && !stopping(j)) {
			fail_run(j, SHOAL_INTERNAL, "PostgreSQL sent an undecodable COPY row: %s",
			    st.msg);
		}
		PQfreemem(buf);
		if (!ok)
			break;
	}
	pthread_mutex_lock(&j->mu);
	j->cancel = NULL;
	pthread_mutex_unlock(&j->mu);
	PQfreeCancel(cancel);
	/* The COPY's final result (an error here fails the unit).  A run that
	 * stops in the middle of a COPY abandons the connection instead: libpq
	 * answers PQgetResult with COPY_OUT again until the stream is drained,
	 * and the run closes the connection anyway. */
	if (stopping(j))
		return;
	while ((r = PQgetResult(R->conn)) != NULL) {
		ExecStatusType rs = PQresultStatus(r);
		if (rs != PGRES_COMMAND_OK)
			fail_run(j, SHOAL_UNAVAILABLE, "PostgreSQL: COPY failed: %s",
			    pg_result_msg(r, R->conn, line, sizeof line));
		PQclear(r);
		if (rs == PGRES_COPY_OUT || PQstatus(R->conn) != CONNECTION_OK)
			break;
	}
}

/* ===================================================================
 * A run: the reader thread
 * =================================================================== */

static void
run_free(run *R)
{
	if (R == NULL)
		return;
	if (R->conn)
		PQfinish(R->conn);
	plan_free(&R->pl);
	batch_free(R->open);
	free(R->senders);
	free(R->vec);
	free(R->scratch);
	free(R->slices);
	free(R->last_key);
	free(R->dsn_safe);
	free(R);
}

static void *
reader_main(void *arg)
{
	run *R = arg;
	job *j = R->j;
	const plan *pl = &R->pl;
	position from = {0};

	pthread_mutex_lock(&j->mu);
	position_copy(&from, &j->ck);
	pthread_mutex_unlock(&j->mu);

	R->vec = xmalloc(PGCOPY_MAX_DIM * sizeof(float));
	R->rate_t0 = util_mono_ms();
	R->shared = str_set(j->spec->tenant_col) && !j->spec->dedicated_tenants;
	R->n_senders = j->spec->parallel ? j->spec->parallel : DEFAULT_PARALLEL;
	R->senders = xcalloc(R->n_senders, sizeof *R->senders);
	unsigned started = 0;
	for (; started < R->n_senders; started++) {
		pthread_mutex_lock(&j->mu);
		j->senders_live++;
		pthread_mutex_unlock(&j->mu);
		if (pthread_create(&R->senders[started], NULL, sender_main, R) != 0) {
			pthread_mutex_lock(&j->mu);
			j->senders_live--;
			stop_locked(j, STOP_ERROR, SHOAL_RESOURCE_EXHAUSTED,
			    "cannot start a thread");
			pthread_mutex_unlock(&j->mu);
			break;
		}
	}

	for (size_t u = 0; u < pl->n_units && !stopping(j); u++) {
		const unit_plan *up = &pl->units[u];
		const position *resume_at = NULL;
		if (from.unit != NULL) {
			int c = strcmp(up->name, from.unit);
			if (c < 0 || (c == 0 && from.complete)) {
				pthread_mutex_lock(&j->mu);
				j->units_done++;
				pthread_mutex_unlock(&j->mu);
				continue;
			}
			if (c == 0)
				resume_at = &from;
		}
		R->unit_name = up->name;
		R->row_no = 0;
		snprintf(R->cur_tenant, sizeof R->cur_tenant, "%s", up->tenant ? up->tenant : "");
		R->cur_tenant_ready = false;
		R->cur_dim = 0;
		pthread_mutex_lock(&j->mu);
		snprintf(j->current, sizeof j->current, "%s%s", up->name[0] ? "schema " : "",
		    up->name[0] ? up->name : (str_set(j->spec->table) ? j->spec->table : "query"));
		pthread_mutex_unlock(&j->mu);
		read_unit(R, u, resume_at);
		if (stopping(j))
			break;
		/* the unit's last rows, then its completion mark */
		if (!flush_open(R))
			break;
		batch *mark = batch_new();
		mark->has_ck = true;
		mark->ck.unit = xstrdup(up->name);
		mark->ck.complete = true;
		if (!submit(R, mark))
			break;
		R->cur_tenant[0] = '\0';
	}

	/* drain: the senders finish what is queued, then the window commits */
	pthread_mutex_lock(&j->mu);
	j->q_closed = true;
	pthread_cond_broadcast(&j->cv);
	pthread_mutex_unlock(&j->mu);
	for (unsigned i = 0; i < started; i++)
		pthread_join(R->senders[i], NULL);

	pthread_mutex_lock(&j->mu);
	int why = atomic_load(&j->stop);
	/* whatever is left was not acknowledged in order: dropped (it is after
	 * the checkpoint, so a resumed run reads it again) */
	while (j->q_head != NULL) {
		batch *b = j->q_head;
		j->q_head = b->next;
		batch_free(b);
	}
	j->q_tail = NULL;
	for (size_t i = 0; i < j->window; i++) {
		batch_free(j->ring[i]);
		j->ring[i] = NULL;
	}
	if (why == STOP_NONE) {
		j->state = SHOAL__IMPORT_STATE__IMPORT_SUCCEEDED;
		/* every row is committed: the prefix is the job */
		j->ck_counts = j->prefix;
	} else if (why == STOP_ERROR) {
		j->state = SHOAL__IMPORT_STATE__IMPORT_FAILED;
	} else if (why == STOP_CANCEL) {
		j->state = SHOAL__IMPORT_STATE__IMPORT_CANCELLED;
	} else {
		j->state = SHOAL__IMPORT_STATE__IMPORT_INTERRUPTED;
		snprintf(j->notice, sizeof j->notice,
		    "the coordinator stopped during the import; --resume continues it");
	}
	/* the live counters fall back to the durable ones: what a resumed run
	 * starts from */
	if (why != STOP_NONE) {
		j->prefix = j->ck_counts;
		j->rows_read = j->ck_counts.rows;
	}
	j->run_end_ms = util_mono_ms();
	j->current[0] = '\0';
	uint64_t done = j->prefix.rows, imported = j->prefix.imported, skipped = j->prefix.skipped;
	Shoal__ImportState state = j->state;
	char err[SHOAL_STATUS_MSG_MAX];
	snprintf(err, sizeof err, "%s", j->err);
	pthread_mutex_unlock(&j->mu);
	job_persist(R->imp, j, NULL);
	if (state == SHOAL__IMPORT_STATE__IMPORT_FAILED)
		log_warn("import %s failed after %" PRIu64 " rows (%" PRIu64 " imported, %" PRIu64
		         " skipped): %s",
		    j->id, done, imported, skipped, err);
	else
		log_info("import %s %s: %" PRIu64 " rows (%" PRIu64 " imported, %" PRIu64
		         " skipped)",
		    j->id, state_name(state), done, imported, skipped);
	position_clear(&from);
	run_free(R);
	return NULL;
}

/* ===================================================================
 * RPC handlers
 * =================================================================== */

static void
fail_rpc(void *cd, const shoal_status *st)
{
	rpc_call_fail(cd, st->code, "%s", st->msg);
}

/* Finds a job by id or by a unique prefix of at least 4 characters.
 * Caller holds imp->mu. */
static job *
find_job(pg_import *imp, const char *id, shoal_status *st)
{
	job *hit = NULL;
	size_t n = id ? strlen(id) : 0, matches = 0;
	if (n == 0) {
		shoal_status_set(st, SHOAL_INVALID_ARGUMENT, "no import job id given");
		return NULL;
	}
	for (size_t i = 0; i < imp->n_jobs; i++) {
		if (strcmp(imp->jobs[i]->id, id) == 0)
			return imp->jobs[i];
		if (n >= 4 && strncmp(imp->jobs[i]->id, id, n) == 0) {
			hit = imp->jobs[i];
			matches++;
		}
	}
	if (matches == 1)
		return hit;
	shoal_status_set(st, matches ? SHOAL_INVALID_ARGUMENT : SHOAL_NOT_FOUND,
	    matches ? "import job id '%s' is ambiguous" : "no import job '%s'", id);
	return NULL;
}

static void
reply_job(job *j, Shoal__ImportJob_Closure done, void *cd)
{
	Shoal__ImportSkip skips[SK_COUNT];
	Shoal__ImportSkip *skp[SK_COUNT];
	Shoal__ImportJob m;

	pthread_mutex_lock(&j->mu);
	job_info(j, &m, skips, skp, false);
	done(&m, cd);
	pthread_mutex_unlock(&j->mu);
}

/* Joins j's reader if it has finished (or must finish: call after a stop).
 * No lock held by the caller. */
static void
job_join(job *j)
{
	pthread_mutex_lock(&j->mu);
	bool live = j->thread_live;
	j->thread_live = false;
	pthread_t t = j->reader;
	pthread_mutex_unlock(&j->mu);
	if (live)
		pthread_join(t, NULL);
}

void
pg_import_rpc_start(pg_import *imp, const Shoal__ImportSpec *in, Shoal__ImportJob_Closure done,
    void *cd)
{
	shoal_status st;
	char *dsn_safe = NULL;
	char id[17];
	PGconn *conn = NULL;
	plan pl = {0};
	job *j = NULL;

	if (check_spec(in, &st) != SHOAL_OK || dsn_redact(in->dsn, &dsn_safe, &st) != SHOAL_OK) {
		fail_rpc(cd, &st);
		done(NULL, cd);
		return;
	}
	Shoal__ImportSpec *spec = spec_copy(in, dsn_safe);
	job_id(spec, dsn_safe, id);

	pthread_mutex_lock(&imp->start_mu);
	pthread_mutex_lock(&imp->mu);
	for (size_t i = 0; i < imp->n_jobs; i++)
		if (strcmp(imp->jobs[i]->id, id) == 0)
			j = imp->jobs[i];
	size_t running = 0;
	for (size_t i = 0; i < imp->n_jobs; i++)
		running += imp->jobs[i]->state == SHOAL__IMPORT_STATE__IMPORT_RUNNING;
	pthread_mutex_unlock(&imp->mu);

	if (j != NULL) {
		pthread_mutex_lock(&j->mu);
		Shoal__ImportState s = j->state;
		uint64_t done_rows = j->prefix.rows;
		pthread_mutex_unlock(&j->mu);
		if (s == SHOAL__IMPORT_STATE__IMPORT_RUNNING) {
			if (in->resume) {
				/* the same import is running (its client went away):
				 * follow it */
				reply_job(j, done, cd);
				goto out;
			}
			shoal_status_set(&st, SHOAL_ALREADY_EXISTS,
			    "import %s (same source and target) is running, %" PRIu64 " rows done; "
			    "follow it with --resume or stop it with 'shoal import cancel %s'",
			    id, done_rows, id);
			goto out_fail;
		}
		job_join(j);
		if (s == SHOAL__IMPORT_STATE__IMPORT_SUCCEEDED && in->resume) {
			pthread_mutex_lock(&j->mu);
			snprintf(j->notice, sizeof j->notice,
			    "already complete: nothing to resume (run without --resume to import "
			    "again)");
			pthread_mutex_unlock(&j->mu);
			reply_job(j, done, cd);
			goto out;
		}
	}
	if (running >= MAX_JOBS_RUNNING) {
		shoal_status_set(&st, SHOAL_RESOURCE_EXHAUSTED,
		    "%zu imports are running (at most %d at a time)", running, MAX_JOBS_RUNNING);
		goto out_fail;
	}

	/* connect and plan: every error about the source comes back now */
	if (pg_connect(in->dsn, dsn_safe, &conn, &st) != SHOAL_OK)
		goto out_fail;
	if (make_plan(conn, spec, &pl, &st) != SHOAL_OK)
		goto out_fail;

	bool fresh = j == NULL;
	if (fresh) {
		j = job_new(id);
		pthread_mutex_lock(&imp->mu);
		imp->jobs = xrealloc(imp->jobs, (imp->n_jobs + 1) * sizeof *imp->jobs);
		imp->jobs[imp->n_jobs++] = j;
		pthread_mutex_unlock(&imp->mu);
	}
	pthread_mutex_lock(&j->mu);
	Shoal__ImportState prev = j->state;
	uint64_t prev_rows = j->ck_counts.rows;
	if (j->spec)
		shoal__import_spec__free_unpacked(j->spec, NULL);
	j->spec = spec;
	spec = NULL;
	j->notice[0] = '\0';
	if (in->resume && !fresh) {
		/* continue from the checkpoint with its counters */
		j->resumed_from = j->ck_counts.rows;
		snprintf(j->notice, sizeof j->notice,
		    "resumed at row %" PRIu64 " (the last checkpoint)", j->ck_counts.rows);
	} else {
		position_clear(&j->ck);
		memset(&j->ck_counts, 0, sizeof j->ck_counts);
		memset(j->example, 0, sizeof j->example);
		j->resumed_from = 0;
		if (in->resume)
			snprintf(j->notice, sizeof j->notice,
			    "nothing to resume: started from the beginning");
		else if (!fresh && prev != SHOAL__IMPORT_STATE__IMPORT_SUCCEEDED && prev_rows > 0)
			snprintf(j->notice, sizeof j->notice,
			    "an unfinished earlier run (%" PRIu64
			    " rows) was started over; --resume "
			    "would have continued it",
			    prev_rows);
	}
	if (pl.notice != NULL) {
		size_t l = strlen(j->notice);
		snprintf(j->notice + l, sizeof j->notice - l, "%s%s", l ? "; " : "", pl.notice);
	}
	j->prefix = j->ck_counts;
	j->rows_read = j->ck_counts.rows;
	j->state = SHOAL__IMPORT_STATE__IMPORT_RUNNING;
	j->err_code = 0;
	j->err[0] = '\0';
	j->runs++;
	j->est = 0;
	for (size_t u = 0; u < pl.n_units; u++)
		j->est += pl.units[u].est;
	j->units_total = (uint32_t)pl.n_units;
	j->units_done = 0;
	j->tenants = 0;
	j->dim = 0;
	j->current[0] = '\0';
	j->run_start_ms = util_mono_ms();
	j->run_end_ms = 0;
	j->run_base_rows = j->prefix.rows;
	atomic_store(&j->stop, STOP_NONE);
	uint32_t par = j->spec->parallel ? j->spec->parallel : DEFAULT_PARALLEL;
	j->window = 2 * (size_t)par + 2;
	free(j->ring);
	j->ring = xcalloc(j->window, sizeof *j->ring);
	j->next_seq = j->commit_seq = 0;
	j->q_head = j->q_tail = NULL;
	j->q_closed = false;
	j->senders_live = 0;
	pthread_mutex_unlock(&j->mu);

	if (job_persist(imp, j, &st) != SHOAL_OK) {
		pthread_mutex_lock(&j->mu);
		j->state = SHOAL__IMPORT_STATE__IMPORT_FAILED;
		j->err_code = st.code;
		snprintf(j->err, sizeof j->err, "%s", st.msg);
		pthread_mutex_unlock(&j->mu);
		goto out_fail;
	}

	run *R = xcalloc(1, sizeof *R);
	R->imp = imp;
	R->j = j;
	R->conn = conn;
	R->pl = pl;
	R->dsn_safe = xstrdup(dsn_safe);
	conn = NULL;
	memset(&pl, 0, sizeof pl);
	pthread_mutex_lock(&j->mu);
	int prv = pthread_create(&j->reader, NULL, reader_main, R);
	j->thread_live = prv == 0;
	if (prv != 0) {
		j->state = SHOAL__IMPORT_STATE__IMPORT_FAILED;
		j->err_code = SHOAL_RESOURCE_EXHAUSTED;
		snprintf(j->err, sizeof j->err, "cannot start the import thread");
	}
	pthread_mutex_unlock(&j->mu);
	if (prv != 0) {
		run_free(R);
		job_persist(imp, j, NULL);
		shoal_status_set(&st, SHOAL_RESOURCE_EXHAUSTED, "cannot start the import thread");
		goto out_fail;
	}
	log_info("import %s started (run %u%s): %s %s from %s into collection %s (%s)", id, j->runs,
	    in->resume && !fresh ? ", resumed" : "", str_set(in->table) ? "table" : "query",
	    str_set(in->table) ? in->table : "(SELECT ...)", dsn_safe, in->collection,
	    str_set(in->schemas)           ? "a tenant per schema"
	        : !str_set(in->tenant_col) ? in->tenant
	        : in->dedicated_tenants    ? "a tenant per tenant-column value"
	                                   : "shared, distributed by the tenant column");
	reply_job(j, done, cd);
	goto out;

out_fail:
	fail_rpc(cd, &st);
	done(NULL, cd);
out:
	pthread_mutex_unlock(&imp->start_mu);
	if (conn)
		PQfinish(conn);
	plan_free(&pl);
	if (spec)
		shoal__import_spec__free_unpacked(spec, NULL);
	free(dsn_safe);
}

void
pg_import_rpc_get(pg_import *imp, const Shoal__ImportJobRequest *in, Shoal__ImportJob_Closure done,
    void *cd)
{
	shoal_status st;
	pthread_mutex_lock(&imp->mu);
	job *j = find_job(imp, in->id, &st);
	if (j != NULL)
		reply_job(j, done, cd);
	pthread_mutex_unlock(&imp->mu);
	if (j == NULL) {
		fail_rpc(cd, &st);
		done(NULL, cd);
	}
}

void
pg_import_rpc_list(pg_import *imp, const Shoal__ListImportsRequest *in,
    Shoal__ListImportsReply_Closure done, void *cd)
{
	(void)in;
	pthread_mutex_lock(&imp->mu);
	size_t n = imp->n_jobs;
	Shoal__ImportJob *m = xcalloc(n ? n : 1, sizeof *m);
	Shoal__ImportJob **mp = xcalloc(n ? n : 1, sizeof *mp);
	Shoal__ImportSkip(*skips)[SK_COUNT] = xcalloc(n ? n : 1, sizeof *skips);
	Shoal__ImportSkip *(*skp)[SK_COUNT] = xcalloc(n ? n : 1, sizeof *skp);
	for (size_t i = 0; i < n; i++) {
		pthread_mutex_lock(&imp->jobs[i]->mu);
		job_info(imp->jobs[i], &m[i], skips[i], skp[i], false);
		mp[i] = &m[i];
	}
	Shoal__ListImportsReply out = SHOAL__LIST_IMPORTS_REPLY__INIT;
	out.n_jobs = n;
	out.jobs = mp;
	done(&out, cd);
	for (size_t i = 0; i < n; i++)
		pthread_mutex_unlock(&imp->jobs[i]->mu);
	pthread_mutex_unlock(&imp->mu);
	free(m);
	free(mp);
	free(skips);
	free(skp);
}

void
pg_import_rpc_cancel(pg_import *imp, const Shoal__ImportJobRequest *in,
    Shoal__ImportJob_Closure done, void *cd)
{
	shoal_status st;
	pthread_mutex_lock(&imp->start_mu);
	pthread_mutex_lock(&imp->mu);
	job *j = find_job(imp, in->id, &st);
	pthread_mutex_unlock(&imp->mu);
	if (j != NULL) {
		pthread_mutex_lock(&j->mu);
		if (j->state != SHOAL__IMPORT_STATE__IMPORT_RUNNING) {
			shoal_status_set(&st, SHOAL_FAILED_PRECONDITION,
			    "import %s is not running (%s)", j->id, state_name(j->state));
			pthread_mutex_unlock(&j->mu);
			j = NULL;
		} else {
			stop_locked(j, STOP_CANCEL, SHOAL_CANCELLED, "cancelled");
			pthread_mutex_unlock(&j->mu);
			job_join(j); /* the reader records the final state */
			log_info("import %s cancelled", j->id);
		}
	}
	if (j != NULL)
		reply_job(j, done, cd);
	pthread_mutex_unlock(&imp->start_mu);
	if (j == NULL) {
		fail_rpc(cd, &st);
		done(NULL, cd);
	}
}

/* ===================================================================
 * Lifecycle
 * =================================================================== */

shoal_code
pg_import_create(catalog *cat, ProtobufCService *svc, pg_import **out, shoal_status *st)
{
	pg_import *imp = xcalloc(1, sizeof *imp);
	shoal_code rv;

	*out = NULL;
	imp->cat = cat;
	imp->svc = svc;
	pthread_mutex_init(&imp->mu, NULL);
	pthread_mutex_init(&imp->start_mu, NULL);
	if ((rv = catalog_scan_imports(cat, load_one, imp, st)) != SHOAL_OK) {
		pg_import_destroy(imp);
		return rv;
	}
	for (size_t i = 0; i < imp->n_jobs; i++) {
		job *j = imp->jobs[i];
		if (j->state != SHOAL__IMPORT_STATE__IMPORT_RUNNING)
			continue;
		/* cut short by a crash of this coordinator */
		j->state = SHOAL__IMPORT_STATE__IMPORT_INTERRUPTED;
		snprintf(j->notice, sizeof j->notice,
		    "the coordinator stopped during the import; --resume continues it at row "
		    "%" PRIu64,
		    j->ck_counts.rows);
		if ((rv = job_persist(imp, j, st)) != SHOAL_OK) {
			pg_import_destroy(imp);
			return rv;
		}
		log_info("import %s was interrupted at row %" PRIu64 " (checkpoint); --resume "
		         "continues it",
		    j->id, j->ck_counts.rows);
	}
	*out = imp;
	return SHOAL_OK;
}

void
pg_import_destroy(pg_import *imp)
{
	if (imp == NULL)
		return;
	for (size_t i = 0; i < imp->n_jobs; i++) {
		job *j = imp->jobs[i];
		pthread_mutex_lock(&j->mu);
		if (j->thread_live)
			stop_locked(j, STOP_SHUTDOWN, SHOAL_UNAVAILABLE,
			    "the coordinator is stopping");
		pthread_mutex_unlock(&j->mu);
	}
	for (size_t i = 0; i < imp->n_jobs; i++) {
		job_join(imp->jobs[i]);
		job_free(imp->jobs[i]);
	}
	free(imp->jobs);
	pthread_mutex_destroy(&imp->mu);
	pthread_mutex_destroy(&imp->start_mu);
	free(imp);
}
