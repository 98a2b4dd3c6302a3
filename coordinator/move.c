/* move.c -- online moves of shard groups: a dedicated tenant's, or a
 * shared shard map's shard i (see move.h for the state machine, the gate
 * and the crash argument).
 *
 * One job per move id (the tenant's name, or "shard:N"), kept in memory
 * for the life of
 * the coordinator and durably in the catalog ("m" records).  A job's
 * thread drives it; rpc handlers only read or flag it.  Worker calls from
 * job threads go through the router's connections with timeouts of their
 * own (no caller deadline).
 *
 * Locking: mgr->mu guards the job table and every job's mutable fields
 * (state, counters, gate).  It is never held across a worker call or a
 * catalog write, except that persisting the record reads the fields under
 * it first.  mgr->cv is broadcast whenever a gate changes (fence up or
 * down, a write left).
 */
#include "move.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bgloop.h"
#include "log.h"
#include "router_int.h"
#include "rpc.h"
#include "util.h"

/* Per-call timeout of a job's worker calls. */
#define MOVE_CALL_MS 30000u
/* Rows per ScanShard batch. */
#define MOVE_BATCH_ROWS 1000u
#define MOVE_PACE_SLICE_MS 500.0 /* pace(): longest nap between looks at a cancel */

typedef struct mjob {
	char id[CATALOG_NAME_MAX]; /* the tenant, or "shard:N" (move_shard_key) */
	char from[CATALOG_NAME_MAX], to[CATALOG_NAME_MAX];
	bool shard;                /* a shared shard group, not a tenant */
	uint64_t group;            /* shard: the shard map */
	uint32_t index;            /* shard: the shard's index in it */
	int state;                 /* Shoal__MoveState */
	catalog_collection *colls; /* the shard group (specs for CreateShard) */
	size_t ncolls;
	uint64_t rows_total, rows_copied, bytes_copied;
	/* Index bundle bytes the target accepted in this copy pass (MoveInfo
	 * index_bytes_copied: a resumed move carries every bundle again and
	 * counts from 0, as rows_copied), and the bytes of the bundle being
	 * carried that are still to come (for the ETA). */
	uint64_t index_bytes_copied, index_pending;
	uint64_t started_ms;       /* wall clock */
	uint64_t copy_t0;          /* util_mono_ms at the copy's start; 0 outside it */
	uint64_t copy_ms;          /* the last copy pass's duration, once it ended */
	uint64_t elapsed_base;     /* elapsed_ms of earlier runs (from the record) */
	uint64_t run_t0;           /* util_mono_ms at this run's start */
	uint64_t fence_ms, epoch;
	double max_mbps;
	uint32_t attempts;
	char error[512];
	bool cancel;
	/* gate */
	bool active;   /* a thread drives it (state not DONE/ABORTED) */
	bool fenced;
	bool dual;
	bool diverged; /* a dual write failed on the target */
	int inflight;
	unsigned gen;          /* write generation (version cut, step_cutover) */
	int inflight_gen[2];   /* writes in flight per generation parity */
	/* thread */
	pthread_t tid;
	bool has_thread;
} mjob;

struct move_mgr {
	router *r;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	mjob **jobs;
	size_t n, cap;
	bool stop;
	unsigned m_scan, m_cksum, m_export, m_import;
};

const char *
move_state_name(int s)
{
	switch (s) {
	case SHOAL__MOVE_STATE__MOVE_CREATING: return "creating";
	case SHOAL__MOVE_STATE__MOVE_COPYING: return "copying";
	case SHOAL__MOVE_STATE__MOVE_CUTOVER: return "cutover";
	case SHOAL__MOVE_STATE__MOVE_CLEANUP: return "cleanup";
	case SHOAL__MOVE_STATE__MOVE_DONE: return "done";
	case SHOAL__MOVE_STATE__MOVE_ABORTED: return "aborted";
	default: return "unknown";
	}
}

static bool
state_active(int s)
{
	return s >= SHOAL__MOVE_STATE__MOVE_CREATING && s <= SHOAL__MOVE_STATE__MOVE_CLEANUP;
}

/* Caller holds mu. */
static mjob *
job_find(move_mgr *m, const char *id)
{
	for (size_t i = 0; i < m->n; i++)
		if (strcmp(m->jobs[i]->id, id) == 0)
			return m->jobs[i];
	return NULL;
}

/* ---- the record ------------------------------------------------------- */

/* Fills info from j (caller holds mu); info's pointers borrow from j and
 * from *shards (malloc'ed, caller frees). */
static void
job_info(const mjob *j, Shoal__MoveInfo *info, uint64_t **shards)
{
	shoal__move_info__init(info);
	info->id = (char *)j->id;
	info->tenant = (char *)(j->shard ? "" : j->id);
	info->from_worker = (char *)j->from;
	info->to_worker = (char *)j->to;
	info->state = (Shoal__MoveState)j->state;
	*shards = xcalloc(j->ncolls ? j->ncolls : 1, sizeof **shards);
	for (size_t i = 0; i < j->ncolls; i++)
		(*shards)[i] = j->colls[i].shard_id;
	info->n_shards = j->ncolls;
	info->shards = *shards;
	info->rows_total = j->rows_total;
	info->rows_copied = j->rows_copied;
	info->bytes_copied = j->bytes_copied;
	info->index_bytes_copied = j->index_bytes_copied;
	info->started_ms = j->started_ms;
	info->elapsed_ms = j->elapsed_base + (j->active ? util_mono_ms() - j->run_t0 : 0);
	bool copying = j->copy_t0 != 0 && j->state == SHOAL__MOVE_STATE__MOVE_COPYING;
	info->copy_ms = copying ? util_mono_ms() - j->copy_t0 : j->copy_ms;
	/* The rate counts what the throttle counts: rows and index bundles. */
	double s = (double)info->copy_ms / 1000.0;
	double bytes = (double)(j->bytes_copied + j->index_bytes_copied);
	if (s > 0) {
		info->mb_per_s = bytes / 1e6 / s;
		info->rows_per_s = (double)j->rows_copied / s;
	}
	/* ETA: the rows left at the pass's row rate (which includes the time
	 * the bundles carried so far took, so later bundles are priced in
	 * proportion), plus the rest of the bundle in flight at the byte rate. */
	if (copying && info->rows_per_s > 0 && j->rows_total > j->rows_copied)
		info->eta_ms =
		    (uint64_t)((double)(j->rows_total - j->rows_copied) / info->rows_per_s * 1000);
	if (copying && bytes > 0 && j->index_pending > 0)
		info->eta_ms += (uint64_t)((double)j->index_pending / (bytes / s) * 1000);
	info->fence_ms = j->fence_ms;
	info->error = (char *)j->error;
	info->max_mbps = j->max_mbps;
	info->epoch = j->epoch;
	info->attempts = j->attempts;
	info->cancel = j->cancel;
}

/* The record as of now (packed, malloc'ed). */
static uint8_t *
job_pack(move_mgr *m, mjob *j, size_t *len)
{
	Shoal__MoveInfo info;
	uint64_t *shards;
	pthread_mutex_lock(&m->mu);
	job_info(j, &info, &shards);
	*len = shoal__move_info__get_packed_size(&info);
	uint8_t *buf = xmalloc(*len ? *len : 1);
	shoal__move_info__pack(&info, buf);
	pthread_mutex_unlock(&m->mu);
	free(shards);
	return buf;
}

/* Sets the state and writes the record durably. */
static shoal_code
job_persist(move_mgr *m, mjob *j, int state, shoal_status *st)
{
	size_t len;
	pthread_mutex_lock(&m->mu);
	j->state = state;
	pthread_mutex_unlock(&m->mu);
	uint8_t *buf = job_pack(m, j, &len);
	shoal_code rv = catalog_put_move(m->r->cat, j->id, buf, len, st);
	free(buf);
	return rv;
}

/* ---- worker calls from job threads ------------------------------------ */

static shoal_code
wcall(move_mgr *m, const char *worker, unsigned method, const ProtobufCMessage *in,
    uint64_t epoch, rpc_result *res, shoal_status *st)
{
	char url[CATALOG_URL_MAX];
	wconn *c;
	bool up;
	shoal_code rv;

	memset(res, 0, sizeof *res);
	if ((rv = router_conn_acquire(m->r, worker, &c, url, &up, st)) != SHOAL_OK)
		return rv;
	rpc_call_opts o = {.timeout_ms = up ? MOVE_CALL_MS : 2000u, .epoch = epoch};
	rv = rpc_client_call_opts(c->client, method, in, &o, res);
	router_conn_release(m->r, c);
	if (rv == SHOAL_OK)
		return SHOAL_OK;
	return router_worker_error(m->r, worker, url, shoal__worker__descriptor.methods[method].name,
	    o.timeout_ms, res, st);
}

/* A call whose reply is not needed. */
static shoal_code
wcall0(move_mgr *m, const char *worker, unsigned method, const ProtobufCMessage *in,
    uint64_t epoch, shoal_status *st)
{
	rpc_result res;
	shoal_code rv = wcall(m, worker, method, in, epoch, &res, st);
	if (rv == SHOAL_OK)
		rpc_result_free(&res);
	return rv;
}

/* Sleeps ms unless the manager stops first; false when it stops.  The
 * other broadcasts on cv (the fence, writes in flight) are slept through. */
static bool
nap(move_mgr *m, uint32_t ms)
{
	return bgloop_nap(&m->mu, &m->cv, &m->stop, ms, false);
}

/* ---- the fence -------------------------------------------------------- */

/* Blocks new writes of j's tenant and waits for those in flight. */
static void
fence_up(move_mgr *m, mjob *j)
{
	pthread_mutex_lock(&m->mu);
	j->fenced = true;
	while (j->inflight > 0)
		pthread_cond_wait(&m->cv, &m->mu);
	pthread_mutex_unlock(&m->mu);
}

static void
fence_down(move_mgr *m, mjob *j)
{
	pthread_mutex_lock(&m->mu);
	j->fenced = false;
	pthread_cond_broadcast(&m->cv);
	pthread_mutex_unlock(&m->mu);
}

void
move_write_enter(move_mgr *m, const char *id, move_write *w)
{
	memset(w, 0, sizeof *w);
	if (m == NULL)
		return;
	pthread_mutex_lock(&m->mu);
	mjob *j = job_find(m, id);
	if (j != NULL && j->active) {
		while (j->fenced)
			pthread_cond_wait(&m->cv, &m->mu);
		j->inflight++;
		w->gen = j->gen & 1u;
		j->inflight_gen[w->gen]++;
		w->gated = true;
		w->dual = j->dual;
		snprintf(w->target, sizeof w->target, "%s", j->to);
		snprintf(w->id, sizeof w->id, "%s", id);
	}
	pthread_mutex_unlock(&m->mu);
}

void
move_write_exit(move_mgr *m, move_write *w, bool target_ok)
{
	if (m == NULL || !w->gated)
		return;
	pthread_mutex_lock(&m->mu);
	mjob *j = job_find(m, w->id);
	if (j != NULL) {
		j->inflight--;
		j->inflight_gen[w->gen]--;
		if (w->dual && !target_ok && j->dual)
			j->diverged = true;
		pthread_cond_broadcast(&m->cv);
	}
	pthread_mutex_unlock(&m->mu);
	w->gated = false;
}

shoal_code
move_check_ddl(move_mgr *m, const char *tenant, shoal_status *st)
{
	if (m == NULL)
		return SHOAL_OK;
	pthread_mutex_lock(&m->mu);
	mjob *j = job_find(m, tenant);
	bool busy = j != NULL && j->active;
	int s = busy ? j->state : 0;
	pthread_mutex_unlock(&m->mu);
	if (busy)
		return shoal_status_set(st, SHOAL_FAILED_PRECONDITION,
		    "tenant '%s' is being moved (%s); its collections cannot change until the move "
		    "ends (shoal move status %s, or shoal move cancel %s)",
		    tenant, move_state_name(s), tenant, tenant);
	return SHOAL_OK;
}

bool
move_worker_busy(move_mgr *m, const char *worker)
{
	bool busy = false;
	if (m == NULL)
		return false;
	pthread_mutex_lock(&m->mu);
	for (size_t i = 0; i < m->n && !busy; i++)
		busy = m->jobs[i]->active &&
		    (strcmp(m->jobs[i]->from, worker) == 0 || strcmp(m->jobs[i]->to, worker) == 0);
	pthread_mutex_unlock(&m->mu);
	return busy;
}

/* ---- the job ---------------------------------------------------------- */

/* Outcome of a step: OK, STOP (shutting down: leave the record as is),
 * or FAIL (abort with j->error). */
enum { STEP_OK, STEP_STOP, STEP_FAIL };

static void
job_error(move_mgr *m, mjob *j, const char *fmt, const char *msg)
{
	/* msg may itself fill a status message: format in full, then cut
	 * explicitly to the record's field (a long error loses its tail) */
	char full[1024];
	snprintf(full, sizeof full, fmt, msg);
	size_t n = strnlen(full, sizeof j->error - 1);
	pthread_mutex_lock(&m->mu);
	memcpy(j->error, full, n);
	j->error[n] = '\0';
	pthread_mutex_unlock(&m->mu);
}

/* Checks for shutdown, cancel and divergence between steps. */
static int
job_check(move_mgr *m, mjob *j)
{
	pthread_mutex_lock(&m->mu);
	int r = m->stop ? STEP_STOP : STEP_OK;
	if (r == STEP_OK && j->cancel) {
		snprintf(j->error, sizeof j->error, "cancelled");
		r = STEP_FAIL;
	} else if (r == STEP_OK && j->diverged) {
		snprintf(j->error, sizeof j->error,
		    "a write could not be applied on the target %s while copying; the move was "
		    "rolled back and %s kept serving", j->to, j->from);
		r = STEP_FAIL;
	}
	pthread_mutex_unlock(&m->mu);
	return r;
}

/* Retries a failing call for up to MOVE_RETRY_MS (workers restarting);
 * *t0 is the time of the first failure in a row (0 = none). */
static int
retry_or_fail(move_mgr *m, mjob *j, uint64_t *t0, const char *what, const shoal_status *st)
{
	uint64_t now = util_mono_ms();
	if (*t0 == 0)
		*t0 = now;
	if (now - *t0 >= MOVE_RETRY_MS) {
		char msg[600];
		snprintf(msg, sizeof msg, "%s: %s", what, st->msg);
		job_error(m, j, "%s (gave up after 60 s of retries)", msg);
		return STEP_FAIL;
	}
	log_warn("move %s: %s: %s; retrying", j->id, what, st->msg);
	if (!nap(m, 500))
		return STEP_STOP;
	int c = job_check(m, j);
	return c == STEP_OK ? -1 : c; /* -1: try again */
}

static int
step_create(move_mgr *m, mjob *j)
{
	for (size_t i = 0; i < j->ncolls; i++) {
		const catalog_collection *c = &j->colls[i];
		Shoal__ShardSpec ss = SHOAL__SHARD_SPEC__INIT;
		Shoal__CreateShardRequest req = SHOAL__CREATE_SHARD_REQUEST__INIT;
		ss.shard_id = c->shard_id;
		ss.dim = c->dim;
		ss.metric = (Shoal__Metric)c->metric;
		ss.m = c->m;
		ss.ef_construction = c->ef_construction;
		req.spec = &ss;
		uint64_t t0 = 0;
		for (;;) {
			shoal_status st;
			if (wcall0(m, j->to, m->r->m_create_shard, &req.base, 0, &st) == SHOAL_OK)
				break;
			int r = retry_or_fail(m, j, &t0, "creating the shards on the target", &st);
			if (r >= 0)
				return r;
		}
	}
	return STEP_OK;
}

/* The --max-mbps throttle: sleeps until the copy pass's bytes so far --
 * rows and index bundles alike, the unit of mb_per_s -- are not ahead of
 * max_mbps since the pass began, so the pass's average never exceeds it
 * (decision 141).  Called after every row batch and bundle chunk.  Naps
 * in slices of at most MOVE_PACE_SLICE_MS so that a cancel or a new rate
 * (a 4 MiB chunk at 0.3 MB/s is a 14 s wait) takes effect promptly.
 * STEP_OK, or job_check's verdict. */
static int
pace(move_mgr *m, mjob *j)
{
	for (;;) {
		int c = job_check(m, j);
		if (c != STEP_OK)
			return c;
		pthread_mutex_lock(&m->mu);
		double mbps = j->max_mbps;
		uint64_t bytes = j->bytes_copied + j->index_bytes_copied, t0 = j->copy_t0;
		pthread_mutex_unlock(&m->mu);
		if (!(mbps > 0) || t0 == 0)
			return STEP_OK;
		double due_ms = (double)bytes / (mbps * 1e6) * 1000.0;
		double el = (double)(util_mono_ms() - t0);
		if (due_ms <= el)
			return STEP_OK;
		double wait = due_ms - el;
		if (!nap(m, (uint32_t)(wait < MOVE_PACE_SLICE_MS ? wait : MOVE_PACE_SLICE_MS)))
			return STEP_STOP;
	}
}

/* Carries shard's HNSW indexes -- its partitions' and its shard-level
 * graph's -- from the source to the target (worker/index_move.h), chunk by
 * chunk, after its rows: the target
 * installs them and replays only the rows newer than each graph, instead
 * of rebuilding the graphs from the rows.  A cache, so best effort: any
 * failure is logged and the target builds the indexes from the rows as
 * without it.  Returns STEP_OK, or STEP_STOP / STEP_FAIL from job_check. */
static int
carry_index(move_mgr *m, mjob *j, uint64_t shard)
{
	uint64_t off = 0, total = 0, xid = 0, t0 = util_mono_ms();
	uint32_t parts = 0;
	bool x_graph = false;
	shoal_status st;

	for (;;) {
		int c = job_check(m, j);
		if (c != STEP_OK)
			return c;
		Shoal__ExportIndexRequest xq = SHOAL__EXPORT_INDEX_REQUEST__INIT;
		Shoal__ImportIndexRequest iq = SHOAL__IMPORT_INDEX_REQUEST__INIT;
		rpc_result xr, ir;
		xq.shard_id = shard;
		xq.offset = off;
		xq.export_id = xid;
		if (wcall(m, j->from, m->m_export, &xq.base, 0, &xr, &st) != SHOAL_OK) {
			log_warn("move %s: shard %" PRIu64 ": index not carried (export: %s); the "
				 "target builds it from the rows",
			    j->id, shard, st.msg);
			return STEP_OK;
		}
		const Shoal__ExportIndexReply *x = (const Shoal__ExportIndexReply *)xr.reply;
		if (off == 0) {
			total = x->total_bytes;
			xid = x->export_id;
			parts = x->partitions;
			x_graph = x->graph;
		}
		if (parts == 0 || x->data.len == 0 || x->export_id != xid) {
			rpc_result_free(&xr);
			if (parts > 0)
				log_warn("move %s: shard %" PRIu64 ": index export ended at %" PRIu64
					 " of %" PRIu64 " bytes; the target builds it from the rows",
				    j->id, shard, off, total);
			return STEP_OK;
		}
		iq.shard_id = shard;
		iq.offset = off;
		iq.total_bytes = total;
		iq.data = x->data;
		shoal_code rv = wcall(m, j->to, m->m_import, &iq.base, 0, &ir, &st);
		uint64_t x_len = x->data.len;
		off += x_len;
		rpc_result_free(&xr);
		if (rv != SHOAL_OK) {
			log_warn("move %s: shard %" PRIu64 ": index not carried (import: %s); the "
				 "target builds it from the rows",
			    j->id, shard, st.msg);
			return STEP_OK;
		}
		const Shoal__ImportIndexReply *y = (const Shoal__ImportIndexReply *)ir.reply;
		bool complete = y->complete;
		pthread_mutex_lock(&m->mu);
		j->index_bytes_copied += x_len;
		j->index_pending = complete || off >= total ? 0 : total - off;
		pthread_mutex_unlock(&m->mu);
		if (complete) /* `parts` and installed count the shard-level graph too */
			log_info("move %s: shard %" PRIu64 ": index carried: %u of %u indexes "
				 "installed on %s (%u rebuilt from rows; shard-level graph %s), %" PRIu64
				 " bytes in %" PRIu64 " ms",
			    j->id, shard, y->installed, parts, j->to, y->failed,
			    !x_graph ? "not loaded on the source" : y->graph_installed ? "installed"
			                                                               : "rebuilt",
			    total, util_mono_ms() - t0);
		rpc_result_free(&ir);
		int pc = pace(m, j); /* the bundle's bytes count like the rows' */
		if (pc != STEP_OK)
			return pc;
		if (complete || off >= total)
			return STEP_OK;
	}
}

/* Applies one ScanShard reply on the target. */
static shoal_code
apply_batch(move_mgr *m, mjob *j, uint64_t shard, const Shoal__ScanShardReply *b,
    shoal_status *st)
{
	shoal_code rv = SHOAL_OK;
	if (b->n_points > 0) {
		Shoal__ShardUpsertRequest up = SHOAL__SHARD_UPSERT_REQUEST__INIT;
		up.shard_id = shard;
		up.n_points = b->n_points;
		up.points = b->points;
		rv = wcall0(m, j->to, m->r->m_upsert, &up.base, 0, st);
	}
	if (rv == SHOAL_OK && b->n_deleted_ids > 0) {
		Shoal__ShardDeleteRequest del = SHOAL__SHARD_DELETE_REQUEST__INIT;
		del.shard_id = shard;
		del.n_ids = b->n_deleted_ids;
		del.ids = b->deleted_ids;
		del.n_versions = b->n_deleted_versions;
		del.versions = b->deleted_versions;
		rv = wcall0(m, j->to, m->r->m_delete, &del.base, 0, st);
	}
	return rv;
}

/* Sum of the source's rows (live + tombstones), for progress. */
static void
count_rows(move_mgr *m, mjob *j)
{
	Shoal__WorkerStatusRequest req = SHOAL__WORKER_STATUS_REQUEST__INIT;
	rpc_result res;
	shoal_status st;
	uint64_t total = 0;
	if (wcall(m, j->from, m->r->m_status, &req.base, 0, &res, &st) != SHOAL_OK)
		return;
	const Shoal__WorkerStatusReply *rep = (const Shoal__WorkerStatusReply *)res.reply;
	for (size_t i = 0; i < rep->n_shards; i++)
		for (size_t k = 0; k < j->ncolls; k++)
			if (rep->shards[i]->shard_id == j->colls[k].shard_id)
				total += rep->shards[i]->points + rep->shards[i]->tombstones;
	rpc_result_free(&res);
	pthread_mutex_lock(&m->mu);
	j->rows_total = total;
	pthread_mutex_unlock(&m->mu);
}

/* One copy pass: every shard's rows, then its index bundle. */
static int
copy_pass(move_mgr *m, mjob *j)
{
	count_rows(m, j);
	for (size_t i = 0; i < j->ncolls; i++) {
		uint64_t shard = j->colls[i].shard_id, start = 0, t0 = 0;
		for (;;) {
			int c = job_check(m, j);
			if (c != STEP_OK)
				return c;
			Shoal__ScanShardRequest req = SHOAL__SCAN_SHARD_REQUEST__INIT;
			req.shard_id = shard;
			req.start_id = start;
			req.limit = MOVE_BATCH_ROWS;
			rpc_result res;
			shoal_status st;
			shoal_code rv = wcall(m, j->from, m->m_scan, &req.base, 0, &res, &st);
			const Shoal__ScanShardReply *b = rv == SHOAL_OK
			    ? (const Shoal__ScanShardReply *)res.reply : NULL;
			if (rv == SHOAL_OK && (rv = apply_batch(m, j, shard, b, &st)) != SHOAL_OK)
				rpc_result_free(&res);
			if (rv != SHOAL_OK) {
				int r = retry_or_fail(m, j, &t0, "copying", &st);
				if (r >= 0)
					return r;
				continue;
			}
			t0 = 0;
			bool done = b->done;
			uint64_t next = b->next_id, bytes = b->bytes;
			size_t rows = b->n_points + b->n_deleted_ids;
			rpc_result_free(&res);
			pthread_mutex_lock(&m->mu);
			j->rows_copied += rows;
			j->bytes_copied += bytes;
			pthread_mutex_unlock(&m->mu);
			if ((c = pace(m, j)) != STEP_OK)
				return c;
			if (done)
				break;
			start = next;
		}
		int c = carry_index(m, j, shard);
		if (c != STEP_OK)
			return c;
	}
	return STEP_OK;
}

/* The copy pass with its counters: reset at its start (a resume copies
 * everything again), its duration kept at its end (the rate after it). */
static int
step_copy(move_mgr *m, mjob *j)
{
	pthread_mutex_lock(&m->mu);
	j->rows_copied = j->bytes_copied = j->index_bytes_copied = j->index_pending = 0;
	j->copy_ms = 0;
	j->copy_t0 = util_mono_ms();
	pthread_mutex_unlock(&m->mu);
	int r = copy_pass(m, j);
	pthread_mutex_lock(&m->mu);
	j->copy_ms = util_mono_ms() - j->copy_t0;
	j->copy_t0 = 0;
	j->index_pending = 0;
	pthread_mutex_unlock(&m->mu);
	return r;
}

/* Runs req on the source (res[0]) and the target (res[1]) at the same
 * time: the two scans overlap.  On OK both res hold ShardChecksumReply
 * (rpc_result_free each); on error neither does. */
static shoal_code
checksum_pair(move_mgr *m, mjob *j, const Shoal__ShardChecksumRequest *req, rpc_result res[2],
    shoal_status *st)
{
	const char *w[2] = {j->from, j->to};
	char url[2][CATALOG_URL_MAX];
	wconn *c[2] = {NULL, NULL};
	rpc_pending *p[2] = {NULL, NULL};
	shoal_code rv = SHOAL_OK, r[2] = {SHOAL_INTERNAL, SHOAL_INTERNAL};
	bool up;

	for (int i = 0; i < 2 && rv == SHOAL_OK; i++) {
		rv = router_conn_acquire(m->r, w[i], &c[i], url[i], &up, st);
		if (rv == SHOAL_OK) {
			rpc_call_opts o = {.timeout_ms = MOVE_CALL_MS};
			p[i] = rpc_client_start(c[i]->client, m->m_cksum, &req->base, &o);
		}
	}
	for (int i = 0; i < 2; i++) {
		if (p[i] == NULL)
			continue;
		r[i] = rpc_pending_finish(p[i], &res[i]);
		if (r[i] != SHOAL_OK && rv == SHOAL_OK)
			rv = router_worker_error(m->r, w[i], url[i], "ShardChecksum", MOVE_CALL_MS,
			    &res[i], st);
		else if (r[i] != SHOAL_OK)
			rpc_result_free(&res[i]);
	}
	for (int i = 0; i < 2; i++) {
		if (rv != SHOAL_OK && r[i] == SHOAL_OK)
			rpc_result_free(&res[i]);
		if (c[i] != NULL)
			router_conn_release(m->r, c[i]);
	}
	return rv;
}

/* Longest list of ids changed during the pre-check that the fence
 * re-checks one by one; beyond it the fence checksums whole shards. */
#define MOVE_RECHECK_MAX 20000u

/* Outside the fence: compares every row of shard whose version is at most
 * the cut V on both sides (all writes at or below V have been applied to
 * both); ids with a newer version on either side go to *u (malloc'ed, *nu)
 * for the fence.  STEP_FAIL with j->error on a real mismatch. */
static int
precheck(move_mgr *m, mjob *j, uint64_t shard, uint64_t V, uint64_t **u, size_t *nu)
{
	Shoal__ShardChecksumRequest req = SHOAL__SHARD_CHECKSUM_REQUEST__INIT;
	rpc_result res[2];
	shoal_status st;
	req.shard_id = shard;
	req.with_rows = true;
	*u = NULL;
	*nu = 0;
	if (checksum_pair(m, j, &req, res, &st) != SHOAL_OK) {
		job_error(m, j, "verifying the copy: %s", st.msg);
		return STEP_FAIL;
	}
	const Shoal__ShardChecksumReply *a = (const Shoal__ShardChecksumReply *)res[0].reply;
	const Shoal__ShardChecksumReply *b = (const Shoal__ShardChecksumReply *)res[1].reply;
	size_t i = 0, k = 0, cap = 0;
	int rv = STEP_OK;
	char msg[300] = "";
	while ((i < a->n_row_ids || k < b->n_row_ids) && rv == STEP_OK) {
		uint64_t id;
		bool in_a = i < a->n_row_ids, in_b = k < b->n_row_ids;
		if (in_a && in_b && a->row_ids[i] == b->row_ids[k]) {
			id = a->row_ids[i];
			if (a->row_versions[i] > V || b->row_versions[k] > V)
				goto changed;
			if (a->row_versions[i] != b->row_versions[k] || a->row_hashes[i] != b->row_hashes[k])
				snprintf(msg, sizeof msg, "point %" PRIu64 ": version %" PRIu64 " on %s, %" PRIu64
				    " on %s, or different vectors", id, a->row_versions[i], j->from,
				    b->row_versions[k], j->to);
			i++;
			k++;
		} else if (in_a && (!in_b || a->row_ids[i] < b->row_ids[k])) {
			id = a->row_ids[i];
			if (a->row_versions[i] > V)
				goto changed;
			snprintf(msg, sizeof msg, "point %" PRIu64 " (version %" PRIu64 ") is on %s, not on %s",
			    id, a->row_versions[i], j->from, j->to);
			i++;
		} else {
			id = b->row_ids[k];
			if (b->row_versions[k] > V)
				goto changed;
			snprintf(msg, sizeof msg, "point %" PRIu64 " (version %" PRIu64 ") is on %s, not on %s",
			    id, b->row_versions[k], j->to, j->from);
			k++;
		}
		if (msg[0] != '\0') {
			job_error(m, j, "verification failed: %s; the move was rolled back", msg);
			rv = STEP_FAIL;
		}
		continue;
changed:
		if (*nu == cap) {
			cap = cap ? 2 * cap : 256;
			*u = xrealloc(*u, cap * sizeof **u);
		}
		(*u)[(*nu)++] = id;
		/* skip this id on whichever side(s) hold it */
		if (i < a->n_row_ids && a->row_ids[i] == id)
			i++;
		if (k < b->n_row_ids && b->row_ids[k] == id)
			k++;
	}
	rpc_result_free(&res[0]);
	rpc_result_free(&res[1]);
	if (rv != STEP_OK) {
		free(*u);
		*u = NULL;
		*nu = 0;
	}
	return rv;
}

/* Inside the fence: the ids changed since the pre-check (and the shard's
 * counters) must agree exactly; with u NULL, whole-shard checksums. */
static int
fence_check(move_mgr *m, mjob *j, uint64_t shard, const uint64_t *u, size_t nu)
{
	Shoal__ShardChecksumRequest req = SHOAL__SHARD_CHECKSUM_REQUEST__INIT;
	rpc_result res[2];
	shoal_status st;
	uint64_t zero = 0;
	req.shard_id = shard;
	if (u != NULL) {
		/* at least one id, so that the reply is the counters, not a scan */
		req.n_ids = nu ? nu : 1;
		req.ids = nu ? (uint64_t *)u : &zero;
	}
	if (checksum_pair(m, j, &req, res, &st) != SHOAL_OK) {
		job_error(m, j, "verifying the copy: %s", st.msg);
		return STEP_FAIL;
	}
	const Shoal__ShardChecksumReply *a = (const Shoal__ShardChecksumReply *)res[0].reply;
	const Shoal__ShardChecksumReply *b = (const Shoal__ShardChecksumReply *)res[1].reply;
	char msg[400] = "";
	if (a->live != b->live || a->tombstones != b->tombstones || a->checksum != b->checksum)
		snprintf(msg, sizeof msg,
		    "shard %" PRIu64 ": source %s has %" PRIu64 " points, %" PRIu64
		    " tombstones, checksum %016" PRIx64 "; target %s has %" PRIu64 ", %" PRIu64
		    ", %016" PRIx64,
		    shard, j->from, a->live, a->tombstones, a->checksum, j->to, b->live, b->tombstones,
		    b->checksum);
	for (size_t i = 0; msg[0] == '\0' && i < a->n_row_ids && i < b->n_row_ids; i++)
		if (a->row_versions[i] != b->row_versions[i] || a->row_hashes[i] != b->row_hashes[i])
			snprintf(msg, sizeof msg, "shard %" PRIu64 " point %" PRIu64 ": version %" PRIu64
			    " on %s, %" PRIu64 " on %s, or different vectors", shard, a->row_ids[i],
			    a->row_versions[i], j->from, b->row_versions[i], j->to);
	rpc_result_free(&res[0]);
	rpc_result_free(&res[1]);
	if (msg[0] != '\0') {
		job_error(m, j, "verification failed: %s; the move was rolled back", msg);
		return STEP_FAIL;
	}
	return STEP_OK;
}

/* Shard moves: the shared collections on j's shard map must still be the
 * ones whose shards were copied (a collection created on the map, or
 * dropped from it, since the move started would be left behind or
 * missing on the target).  DDL refuses both during a move
 * (move_check_group); this closes the window before the move was
 * registered.  False with j->error set. */
static bool
group_unchanged(move_mgr *m, mjob *j)
{
	catalog_dcoll *dc;
	size_t n = catalog_list_dcolls(m->r->cat, &dc), same = 0;
	bool ok = true;
	for (size_t i = 0; i < n && ok; i++) {
		if (dc[i].kind != CATALOG_SHARED || dc[i].group != j->group)
			continue;
		bool found = false;
		for (size_t k = 0; k < j->ncolls && !found; k++)
			found = j->colls[k].shard_id == dc[i].first_shard + j->index;
		ok = found;
		same++;
	}
	catalog_dcolls_free(dc, n);
	if (!ok || same != j->ncolls) {
		job_error(m, j, "%s", "the collections on the shard map changed during the move; it "
		    "was rolled back (start it again)");
		return false;
	}
	return true;
}

/* Verify, then flip under the fence.  STEP_OK = flipped.
 *
 * The expensive comparison runs before the fence: a version cut V is
 * taken, the writes that may carry a version <= V are waited for (they
 * entered the gate before the cut; new ones keep flowing), and both sides'
 * rows are compared for every id at or below V.  Ids written after the cut
 * (on either side) are re-checked one by one inside the fence, with the
 * shards' counters, so the fence costs O(writes during the pre-check),
 * not O(rows).  Beyond MOVE_RECHECK_MAX such ids, the fence checksums the
 * whole shards instead. */
static int
step_cutover(move_mgr *m, mjob *j)
{
	shoal_status st;
	uint64_t V;
	uint64_t **u = xcalloc(j->ncolls ? j->ncolls : 1, sizeof *u);
	size_t *nu = xcalloc(j->ncolls ? j->ncolls : 1, sizeof *nu);
	int r = STEP_OK;

	if (catalog_next_versions(m->r->cat, 1, &V, &st) != SHOAL_OK) {
		job_error(m, j, "taking a version cut: %s", st.msg);
		r = STEP_FAIL;
	}
	if (r == STEP_OK) {
		pthread_mutex_lock(&m->mu);
		unsigned old = j->gen & 1u;
		j->gen++;
		while (j->inflight_gen[old] > 0)
			pthread_cond_wait(&m->cv, &m->mu);
		pthread_mutex_unlock(&m->mu);
		r = job_check(m, j);
	}
	for (size_t i = 0; r == STEP_OK && i < j->ncolls; i++)
		r = precheck(m, j, j->colls[i].shard_id, V, &u[i], &nu[i]);

	uint64_t t0 = util_mono_ms();
	if (r == STEP_OK) {
		fence_up(m, j);
		r = job_check(m, j);
		if (r == STEP_OK && j->shard && !group_unchanged(m, j))
			r = STEP_FAIL;
		for (size_t i = 0; r == STEP_OK && i < j->ncolls; i++) {
			bool whole = nu[i] > MOVE_RECHECK_MAX;
			uint64_t none = 0;
			r = fence_check(m, j, j->colls[i].shard_id,
			    whole ? NULL : (u[i] ? u[i] : &none), whole ? 0 : nu[i]);
		}
		if (r != STEP_OK)
			fence_down(m, j);
	}
	for (size_t i = 0; i < j->ncolls; i++)
		free(u[i]);
	free(u);
	free(nu);
	if (r != STEP_OK)
		return r;
	/* The flip and the CLEANUP state in one durable write. */
	size_t len;
	pthread_mutex_lock(&m->mu);
	j->state = SHOAL__MOVE_STATE__MOVE_CLEANUP;
	pthread_mutex_unlock(&m->mu);
	uint8_t *buf = job_pack(m, j, &len);
	uint64_t epoch = 0;
	shoal_code rv = j->shard
	    ? catalog_move_shard_rec(m->r->cat, j->group, j->index, j->to, j->id, buf, len, &epoch,
		  &st)
	    : catalog_move_tenant(m->r->cat, j->id, j->to, j->id, buf, len, &epoch, &st);
	free(buf);
	if (rv != SHOAL_OK) {
		pthread_mutex_lock(&m->mu);
		j->state = SHOAL__MOVE_STATE__MOVE_CUTOVER;
		pthread_mutex_unlock(&m->mu);
		fence_down(m, j);
		job_error(m, j, "flipping the placement: %s", st.msg);
		return STEP_FAIL;
	}
	pthread_mutex_lock(&m->mu);
	j->dual = false;
	j->epoch = epoch;
	j->fence_ms = util_mono_ms() - t0;
	pthread_mutex_unlock(&m->mu);
	fence_down(m, j);
	log_info("move %s: cut over from %s to %s at epoch %" PRIu64 "; writes paused %" PRIu64
		 " ms", j->id, j->from, j->to, epoch, j->fence_ms);
	return STEP_OK;
}

static void
step_cleanup(move_mgr *m, mjob *j)
{
	uint64_t epoch;
	pthread_mutex_lock(&m->mu);
	epoch = j->epoch ? j->epoch : catalog_epoch(m->r->cat);
	pthread_mutex_unlock(&m->mu);
	/* Raise the source's shards to the new epoch: requests planned before
	 * the flip are refused there and re-routed to the target. */
	for (size_t i = 0; i < j->ncolls; i++) {
		Shoal__ShardCountRequest req = SHOAL__SHARD_COUNT_REQUEST__INIT;
		shoal_status st;
		req.shard_id = j->colls[i].shard_id;
		(void)wcall0(m, j->from, m->r->m_count, &req.base, epoch, &st);
	}
	if (!nap(m, MOVE_GRACE_MS))
		return;
	for (size_t i = 0; i < j->ncolls; i++) {
		Shoal__DropShardRequest req = SHOAL__DROP_SHARD_REQUEST__INIT;
		req.shard_id = j->colls[i].shard_id;
		for (;;) {
			shoal_status st;
			shoal_code rv = wcall0(m, j->from, m->r->m_drop_shard, &req.base, 0, &st);
			if (rv == SHOAL_OK || rv == SHOAL_NOT_FOUND)
				break;
			/* The source keeps a copy nobody reads until it is back. */
			log_warn("move %s: dropping shard %" PRIu64 " on %s: %s; retrying", j->id,
			    req.shard_id, j->from, st.msg);
			if (!nap(m, 1000))
				return;
		}
	}
	shoal_status st;
	if (job_persist(m, j, SHOAL__MOVE_STATE__MOVE_DONE, &st) != SHOAL_OK)
		log_error("move %s: recording DONE: %s (it will finish again at restart)", j->id,
		    st.msg);
}

static void
job_abort(move_mgr *m, mjob *j)
{
	pthread_mutex_lock(&m->mu);
	j->dual = false; /* writes in flight may still reach the target: harmless */
	pthread_mutex_unlock(&m->mu);
	log_warn("move %s: aborting: %s", j->id, j->error);
	for (size_t i = 0; i < j->ncolls; i++) {
		Shoal__DropShardRequest req = SHOAL__DROP_SHARD_REQUEST__INIT;
		shoal_status st;
		req.shard_id = j->colls[i].shard_id;
		shoal_code rv = wcall0(m, j->to, m->r->m_drop_shard, &req.base, 0, &st);
		if (rv != SHOAL_OK && rv != SHOAL_NOT_FOUND)
			log_warn("move %s: dropping the copy of shard %" PRIu64 " on %s: %s (an unused "
				 "shard stays there)", j->id, req.shard_id, j->to, st.msg);
	}
	shoal_status st;
	if (job_persist(m, j, SHOAL__MOVE_STATE__MOVE_ABORTED, &st) != SHOAL_OK)
		log_error("move %s: recording ABORTED: %s", j->id, st.msg);
}

static void *
job_thread(void *arg)
{
	void **a = arg;
	move_mgr *m = a[0];
	mjob *j = a[1];
	free(a);
	shoal_status st;
	int r = STEP_OK;

	if (j->state != SHOAL__MOVE_STATE__MOVE_CLEANUP) {
		pthread_mutex_lock(&m->mu);
		j->attempts++;
		j->diverged = false;
		j->error[0] = '\0';
		pthread_mutex_unlock(&m->mu);
		if (job_persist(m, j, SHOAL__MOVE_STATE__MOVE_CREATING, &st) != SHOAL_OK) {
			job_error(m, j, "recording the move: %s", st.msg);
			r = STEP_FAIL;
		}
		if (r == STEP_OK)
			r = step_create(m, j);
		if (r == STEP_OK) {
			/* Dual writes on under a fence: no write that skipped the
			 * target is in flight once the copy starts. */
			fence_up(m, j);
			pthread_mutex_lock(&m->mu);
			j->dual = true;
			j->diverged = false;
			pthread_mutex_unlock(&m->mu);
			fence_down(m, j);
			if (job_persist(m, j, SHOAL__MOVE_STATE__MOVE_COPYING, &st) != SHOAL_OK) {
				job_error(m, j, "recording the move: %s", st.msg);
				r = STEP_FAIL;
			}
		}
		if (r == STEP_OK)
			r = step_copy(m, j);
		if (r == STEP_OK && job_persist(m, j, SHOAL__MOVE_STATE__MOVE_CUTOVER, &st) !=
		    SHOAL_OK) {
			job_error(m, j, "recording the move: %s", st.msg);
			r = STEP_FAIL;
		}
		if (r == STEP_OK)
			r = step_cutover(m, j);
	}
	if (r == STEP_OK)
		step_cleanup(m, j);
	else if (r == STEP_FAIL)
		job_abort(m, j);
	/* STEP_STOP: shutting down; the record resumes the move at restart. */
	pthread_mutex_lock(&m->mu);
	if (!m->stop) {
		j->elapsed_base += util_mono_ms() - j->run_t0;
		j->active = false;
		j->dual = false;
		pthread_cond_broadcast(&m->cv);
	}
	pthread_mutex_unlock(&m->mu);
	if (r != STEP_STOP)
		log_info("move %s: %s", j->id, move_state_name(j->state));
	return NULL;
}

/* Starts j's thread.  Caller holds mu. */
static void
job_launch(move_mgr *m, mjob *j)
{
	void **a = xmalloc(2 * sizeof *a);
	a[0] = m;
	a[1] = j;
	if (j->has_thread)
		pthread_join(j->tid, NULL); /* the previous run has finished */
	j->active = true;
	j->run_t0 = util_mono_ms();
	if (pthread_create(&j->tid, NULL, job_thread, a) != 0) {
		log_error("move %s: cannot start a thread", j->id);
		free(a);
		j->active = false;
		j->has_thread = false;
		return;
	}
	j->has_thread = true;
}

/* ---- loading and lifecycle -------------------------------------------- */

static void
job_free(mjob *j)
{
	free(j->colls);
	free(j);
}

/* Shard `index` of shared collection c as a catalog_collection (the spec
 * CreateShard needs; tenant ""). */
static void
dcoll_shard(const catalog_dcoll *c, uint32_t index, catalog_collection *out)
{
	memset(out, 0, sizeof *out);
	snprintf(out->name, sizeof out->name, "%s", c->name);
	out->dim = c->dim;
	out->metric = c->metric;
	out->m = c->m;
	out->ef_construction = c->ef_construction;
	out->shard_id = c->first_shard + index;
	if (index < c->nplaces) {
		snprintf(out->worker, sizeof out->worker, "%s", c->places[index].worker);
		out->epoch = c->places[index].epoch;
	}
}

/* The job of a record: the collections (or shared collections' shards)
 * whose shards are in it (a resume must move exactly the recorded
 * group). */
static mjob *
job_from_record(move_mgr *m, const Shoal__MoveInfo *in)
{
	mjob *j = xcalloc(1, sizeof *j);
	snprintf(j->id, sizeof j->id, "%s", in->id);
	snprintf(j->from, sizeof j->from, "%s", in->from_worker);
	snprintf(j->to, sizeof j->to, "%s", in->to_worker);
	snprintf(j->error, sizeof j->error, "%s", in->error ? in->error : "");
	j->state = (int)in->state;
	j->rows_total = in->rows_total;
	j->rows_copied = in->rows_copied;
	j->bytes_copied = in->bytes_copied;
	j->index_bytes_copied = in->index_bytes_copied;
	j->copy_ms = in->copy_ms;
	j->started_ms = in->started_ms;
	j->elapsed_base = in->elapsed_ms;
	j->fence_ms = in->fence_ms;
	j->max_mbps = in->max_mbps;
	j->epoch = in->epoch;
	j->attempts = in->attempts;
	j->cancel = in->cancel;
	j->colls = xcalloc(in->n_shards ? in->n_shards : 1, sizeof *j->colls);
	if (strncmp(j->id, MOVE_SHARD_PREFIX, strlen(MOVE_SHARD_PREFIX)) == 0) {
		catalog_dcoll *dc;
		size_t nd = catalog_list_dcolls(m->r->cat, &dc);
		j->shard = true;
		for (size_t k = 0; k < in->n_shards; k++)
			for (size_t i = 0; i < nd; i++)
				if (dc[i].kind == CATALOG_SHARED && in->shards[k] >= dc[i].first_shard &&
				    in->shards[k] < dc[i].first_shard + dc[i].nshards) {
					j->group = dc[i].group;
					j->index = (uint32_t)(in->shards[k] - dc[i].first_shard);
					dcoll_shard(&dc[i], j->index, &j->colls[j->ncolls++]);
				}
		catalog_dcolls_free(dc, nd);
		return j;
	}
	catalog_collection *cc;
	size_t nc = catalog_list_collections(m->r->cat, j->id, &cc);
	for (size_t k = 0; k < in->n_shards; k++) {
		for (size_t i = 0; i < nc; i++)
			if (cc[i].shard_id == in->shards[k])
				j->colls[j->ncolls++] = cc[i];
	}
	free(cc);
	return j;
}

static shoal_code
load_one(void *arg, const char *id, const void *val, size_t len, shoal_status *st)
{
	move_mgr *m = arg;
	Shoal__MoveInfo *in = shoal__move_info__unpack(NULL, len, val);
	if (in == NULL)
		return shoal_status_set(st, SHOAL_DATA_LOSS, "move record '%s' does not decode", id);
	mjob *j = job_from_record(m, in);
	shoal__move_info__free_unpacked(in, NULL);
	if (m->n == m->cap) {
		m->cap = m->cap ? 2 * m->cap : 8;
		m->jobs = xrealloc(m->jobs, m->cap * sizeof *m->jobs);
	}
	m->jobs[m->n++] = j;
	return SHOAL_OK;
}

static unsigned
worker_method(const char *name)
{
	const ProtobufCMethodDescriptor *d =
	    protobuf_c_service_descriptor_get_method_by_name(&shoal__worker__descriptor, name);
	return d ? (unsigned)(d - shoal__worker__descriptor.methods) : 0;
}

shoal_code
move_create(router *r, move_mgr **out, shoal_status *st)
{
	move_mgr *m = xcalloc(1, sizeof *m);
	m->r = r;
	pthread_mutex_init(&m->mu, NULL);
	pthread_cond_init(&m->cv, NULL);
	m->m_scan = worker_method("ScanShard");
	m->m_cksum = worker_method("ShardChecksum");
	m->m_export = worker_method("ExportIndex");
	m->m_import = worker_method("ImportIndex");
	shoal_code rv = catalog_scan_moves(r->cat, load_one, m, st);
	if (rv != SHOAL_OK) {
		move_destroy(m);
		*out = NULL;
		return rv;
	}
	pthread_mutex_lock(&m->mu);
	for (size_t i = 0; i < m->n; i++) {
		mjob *j = m->jobs[i];
		if (state_active(j->state)) {
			log_info("move %s (%s -> %s) was %s at shutdown; resuming", j->id, j->from, j->to,
			    move_state_name(j->state));
			job_launch(m, j);
		}
	}
	pthread_mutex_unlock(&m->mu);
	*out = m;
	return SHOAL_OK;
}

void
move_destroy(move_mgr *m)
{
	if (m == NULL)
		return;
	pthread_mutex_lock(&m->mu);
	m->stop = true;
	pthread_cond_broadcast(&m->cv);
	/* Writers waiting at a fence: the fence lifts on stop (the move
	 * thread leaves fence_down on its way out). */
	pthread_mutex_unlock(&m->mu);
	for (size_t i = 0; i < m->n; i++)
		if (m->jobs[i]->has_thread)
			pthread_join(m->jobs[i]->tid, NULL);
	for (size_t i = 0; i < m->n; i++)
		job_free(m->jobs[i]);
	free(m->jobs);
	pthread_mutex_destroy(&m->mu);
	pthread_cond_destroy(&m->cv);
	free(m);
}

/* ---- rpc handlers ----------------------------------------------------- */

/* Replies with move id's current info (NOT_FOUND when unknown). */
static void
reply_job(move_mgr *m, const char *id_in, Shoal__MoveInfo_Closure done, void *cd)
{
	Shoal__MoveInfo info;
	uint64_t *shards;
	char id[CATALOG_NAME_MAX], from[CATALOG_NAME_MAX], to[CATALOG_NAME_MAX], err[512];
	pthread_mutex_lock(&m->mu);
	mjob *j = job_find(m, id_in);
	if (j == NULL) {
		pthread_mutex_unlock(&m->mu);
		rpc_call_fail(cd, SHOAL_NOT_FOUND, "no move '%s'", id_in);
		done(NULL, cd);
		return;
	}
	job_info(j, &info, &shards);
	/* copies: the job's fields may change once mu is released */
	snprintf(id, sizeof id, "%s", j->id);
	snprintf(from, sizeof from, "%s", j->from);
	snprintf(to, sizeof to, "%s", j->to);
	snprintf(err, sizeof err, "%s", j->error);
	pthread_mutex_unlock(&m->mu);
	info.id = id;
	info.tenant = info.tenant[0] ? id : (char *)"";
	info.from_worker = from;
	info.to_worker = to;
	info.error = err;
	done(&info, cd);
	free(shards);
}

/* Names nj (id, from, to, max_mbps), records it (the record first: once it
 * is durable, a crash resumes the move), puts it in the table in place of
 * a finished move with its id, and starts its thread.  ALREADY_EXISTS when
 * a move with its id is active.  Takes nj (freed on error).  Caller holds
 * the DDL lock of id. */
static shoal_code
job_register(move_mgr *m, mjob *nj, const char *id, const char *from, const char *to,
    double max_mbps, shoal_status *st)
{
	snprintf(nj->id, sizeof nj->id, "%s", id);
	snprintf(nj->from, sizeof nj->from, "%s", from);
	snprintf(nj->to, sizeof nj->to, "%s", to);
	nj->max_mbps = max_mbps;
	pthread_mutex_lock(&m->mu);
	mjob *j = job_find(m, nj->id);
	if (j != NULL && j->active) {
		shoal_status_set(st, SHOAL_ALREADY_EXISTS, "%s '%s' is already moving (%s -> %s, %s)",
		    nj->shard ? "shard group" : "tenant", nj->id, j->from, j->to,
		    move_state_name(j->state));
		pthread_mutex_unlock(&m->mu);
		job_free(nj);
		return SHOAL_ALREADY_EXISTS;
	}
	pthread_mutex_unlock(&m->mu);
	nj->state = SHOAL__MOVE_STATE__MOVE_CREATING;
	nj->started_ms = util_now_ms();
	size_t len;
	uint8_t *buf = job_pack(m, nj, &len);
	shoal_code rv = catalog_put_move(m->r->cat, nj->id, buf, len, st);
	free(buf);
	if (rv != SHOAL_OK) {
		job_free(nj);
		return rv;
	}
	pthread_mutex_lock(&m->mu);
	mjob *old = job_find(m, nj->id);
	if (old != NULL) { /* a finished earlier move with this id: replaced */
		if (old->has_thread)
			pthread_join(old->tid, NULL);
		for (size_t i = 0; i < m->n; i++)
			if (m->jobs[i] == old)
				m->jobs[i] = nj;
		job_free(old);
	} else {
		if (m->n == m->cap) {
			m->cap = m->cap ? 2 * m->cap : 8;
			m->jobs = xrealloc(m->jobs, m->cap * sizeof *m->jobs);
		}
		m->jobs[m->n++] = nj;
	}
	job_launch(m, nj);
	log_info("move %s: %s -> %s started (%zu shards, max %.1f MB/s)", nj->id, nj->from, nj->to,
	    nj->ncolls, nj->max_mbps);
	pthread_mutex_unlock(&m->mu);
	return SHOAL_OK;
}

static shoal_code
check_target(move_mgr *m, const char *to, double max_mbps, shoal_status *st)
{
	shoal_code rv;
	if ((rv = util_check_name("worker", to, st)) != SHOAL_OK)
		return rv;
	if (!(max_mbps >= 0) || max_mbps > 1e6)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "max_mbps must be between 0 (unlimited) and 1000000, got %g", max_mbps);
	return router_check_worker_up(m->r, to, st);
}

shoal_code
move_start(move_mgr *m, const char *tenant, const char *to, double max_mbps, shoal_status *st)
{
	router *r = m->r;
	catalog_tenant t;
	shoal_code rv;

	if ((rv = util_check_name("tenant", tenant, st)) != SHOAL_OK)
		return rv;
	router_ddl_lock(r, tenant);
	if ((rv = catalog_get_tenant(r->cat, tenant, &t, st)) != SHOAL_OK ||
	    (rv = check_target(m, to, max_mbps, st)) != SHOAL_OK)
		goto out;
	if (strcmp(t.worker, to) == 0) {
		rv = shoal_status_set(st, SHOAL_FAILED_PRECONDITION,
		    "tenant '%s' is already on worker %s", t.name, t.worker);
		goto out;
	}
	mjob *nj = xcalloc(1, sizeof *nj);
	nj->ncolls = catalog_list_collections(r->cat, t.name, &nj->colls);
	rv = job_register(m, nj, t.name, t.worker, to, max_mbps, st);
out:
	router_ddl_unlock(r, tenant);
	return rv;
}

void
move_shard_key(char *buf, size_t cap, uint64_t group, uint32_t index)
{
	snprintf(buf, cap, MOVE_SHARD_PREFIX "%" PRIu64, group + index);
}

shoal_code
move_start_shard(move_mgr *m, uint64_t shard_id, const char *to, double max_mbps, char *id,
    size_t cap, shoal_status *st)
{
	router *r = m->r;
	catalog_dcoll *dc;
	size_t nd = catalog_list_dcolls(r->cat, &dc), at = nd;
	shoal_code rv;

	for (size_t i = 0; i < nd && at == nd; i++)
		if (shard_id >= dc[i].first_shard && shard_id < dc[i].first_shard + dc[i].nshards)
			at = i;
	if (at == nd || dc[at].kind != CATALOG_SHARED) {
		rv = shoal_status_set(st, at == nd ? SHOAL_NOT_FOUND : SHOAL_FAILED_PRECONDITION,
		    at == nd ? "shard %" PRIu64 " is not a shard of a shared collection (a "
			       "tenant's shards move with 'shoal tenant move')"
			     : "shard %" PRIu64 " is a reference collection's replica; replicas do not "
			       "move", shard_id);
		catalog_dcolls_free(dc, nd);
		return rv;
	}
	uint64_t group = dc[at].group;
	uint32_t index = (uint32_t)(shard_id - dc[at].first_shard);
	move_shard_key(id, cap, group, index);
	catalog_dcolls_free(dc, nd);

	router_ddl_lock(r, id);
	if ((rv = check_target(m, to, max_mbps, st)) != SHOAL_OK)
		goto out;
	/* Re-read under the lock: every shared collection on the map, its
	 * shard `index` (they move together). */
	nd = catalog_list_dcolls(r->cat, &dc);
	mjob *nj = xcalloc(1, sizeof *nj);
	nj->colls = xcalloc(nd ? nd : 1, sizeof *nj->colls);
	for (size_t i = 0; i < nd; i++)
		if (dc[i].kind == CATALOG_SHARED && dc[i].group == group && index < dc[i].nplaces)
			dcoll_shard(&dc[i], index, &nj->colls[nj->ncolls++]);
	catalog_dcolls_free(dc, nd);
	if (nj->ncolls == 0) {
		job_free(nj);
		rv = shoal_status_set(st, SHOAL_NOT_FOUND, "shard %" PRIu64 " was dropped", shard_id);
		goto out;
	}
	if (strcmp(nj->colls[0].worker, to) == 0) {
		rv = shoal_status_set(st, SHOAL_FAILED_PRECONDITION,
		    "shard %" PRIu64 " (shard group %s) is already on worker %s", shard_id, id, to);
		job_free(nj);
		goto out;
	}
	nj->shard = true;
	nj->group = group;
	nj->index = index;
	rv = job_register(m, nj, id, nj->colls[0].worker, to, max_mbps, st);
out:
	router_ddl_unlock(r, id);
	return rv;
}

shoal_code
move_check_group(move_mgr *m, uint64_t group, shoal_status *st)
{
	if (m == NULL || group == 0)
		return SHOAL_OK;
	pthread_mutex_lock(&m->mu);
	mjob *j = NULL;
	for (size_t i = 0; i < m->n && j == NULL; i++)
		if (m->jobs[i]->active && m->jobs[i]->shard && m->jobs[i]->group == group)
			j = m->jobs[i];
	char id[CATALOG_NAME_MAX] = "";
	int s = 0;
	if (j != NULL) {
		snprintf(id, sizeof id, "%s", j->id);
		s = j->state;
	}
	pthread_mutex_unlock(&m->mu);
	if (id[0] != '\0')
		return shoal_status_set(st, SHOAL_FAILED_PRECONDITION,
		    "shard group %s of this shard map is being moved (%s); collections on the map "
		    "cannot be created or dropped until the move ends (shoal move status %s, or "
		    "shoal move cancel %s)", id, move_state_name(s), id, id);
	return SHOAL_OK;
}

bool
move_write_dual(router *r, void *cd, const move_write *mw, unsigned method,
    const ProtobufCMessage *in)
{
	rpc_result res;
	shoal_status st;

	if (!mw->dual)
		return true;
	if (router_worker_call(r, cd, mw->target, method, in, 0, 0, &res, &st) != SHOAL_OK) {
		log_warn("move %s: dual write to %s failed: %s", mw->id, mw->target, st.msg);
		return false;
	}
	rpc_result_free(&res);
	return true;
}

void
move_rpc_start(move_mgr *m, const Shoal__StartMoveRequest *in, Shoal__MoveInfo_Closure done,
    void *cd)
{
	shoal_status st;
	char id[CATALOG_NAME_MAX];
	shoal_code rv;
	if (in->shard_id != 0 && in->tenant != NULL && in->tenant[0] != '\0')
		rv = shoal_status_set(&st, SHOAL_INVALID_ARGUMENT,
		    "a move names a tenant or a shard, not both");
	else if (in->shard_id != 0)
		rv = move_start_shard(m, in->shard_id, in->to_worker, in->max_mbps, id, sizeof id, &st);
	else {
		rv = move_start(m, in->tenant, in->to_worker, in->max_mbps, &st);
		snprintf(id, sizeof id, "%s", in->tenant ? in->tenant : "");
	}
	if (rv != SHOAL_OK) {
		router_fail(cd, &st);
		done(NULL, cd);
		return;
	}
	reply_job(m, id, done, cd);
}

bool
move_snapshot(move_mgr *m, const char *id, Shoal__MoveInfo *out, char *strs, size_t cap)
{
	uint64_t *shards;
	pthread_mutex_lock(&m->mu);
	mjob *j = job_find(m, id);
	if (j == NULL) {
		pthread_mutex_unlock(&m->mu);
		return false;
	}
	job_info(j, out, &shards);
	free(shards);
	out->n_shards = 0;
	out->shards = NULL;
	/* strings into strs: id, from, to, error */
	size_t q = cap / 4;
	snprintf(strs, q, "%s", j->id);
	snprintf(strs + q, q, "%s", j->from);
	snprintf(strs + 2 * q, q, "%s", j->to);
	snprintf(strs + 3 * q, q, "%s", j->error);
	pthread_mutex_unlock(&m->mu);
	out->tenant = out->tenant[0] ? strs : (char *)"";
	out->id = strs;
	out->from_worker = strs + q;
	out->to_worker = strs + 2 * q;
	out->error = strs + 3 * q;
	return true;
}

bool
move_item_worker(move_mgr *m, const char *id, char *worker)
{
	size_t pl = strlen(MOVE_SHARD_PREFIX);
	worker[0] = '\0';
	if (strncmp(id, MOVE_SHARD_PREFIX, pl) != 0) {
		catalog_tenant t;
		if (catalog_get_tenant(m->r->cat, id, &t, NULL) != SHOAL_OK)
			return false;
		snprintf(worker, CATALOG_NAME_MAX, "%s", t.worker);
		return true;
	}
	uint64_t sid = strtoull(id + pl, NULL, 10);
	catalog_dcoll *dc;
	size_t nd = catalog_list_dcolls(m->r->cat, &dc);
	for (size_t i = 0; i < nd && worker[0] == '\0'; i++)
		if (dc[i].kind == CATALOG_SHARED && sid >= dc[i].first_shard &&
		    sid - dc[i].first_shard < dc[i].nplaces)
			snprintf(worker, CATALOG_NAME_MAX, "%s", dc[i].places[sid - dc[i].first_shard].worker);
	catalog_dcolls_free(dc, nd);
	return worker[0] != '\0';
}

void
move_cancel(move_mgr *m, const char *id)
{
	pthread_mutex_lock(&m->mu);
	mjob *j = job_find(m, id);
	if (j != NULL && j->active && j->state != SHOAL__MOVE_STATE__MOVE_CLEANUP) {
		j->cancel = true;
		pthread_cond_broadcast(&m->cv);
	}
	pthread_mutex_unlock(&m->mu);
}

void
move_rpc_get(move_mgr *m, const Shoal__MoveRequest *in, Shoal__MoveInfo_Closure done, void *cd)
{
	reply_job(m, in->id ? in->id : "", done, cd);
}

void
move_rpc_list(move_mgr *m, Shoal__ListMovesReply_Closure done, void *cd)
{
	pthread_mutex_lock(&m->mu);
	size_t n = m->n;
	Shoal__MoveInfo *infos = xcalloc(n ? n : 1, sizeof *infos);
	Shoal__MoveInfo **pp = xcalloc(n ? n : 1, sizeof *pp);
	uint64_t **shards = xcalloc(n ? n : 1, sizeof *shards);
	char **strs = xcalloc(n ? 4 * n : 1, sizeof *strs);
	for (size_t i = 0; i < n; i++) {
		job_info(m->jobs[i], &infos[i], &shards[i]);
		strs[4 * i] = xstrdup(m->jobs[i]->id);
		strs[4 * i + 1] = xstrdup(m->jobs[i]->from);
		strs[4 * i + 2] = xstrdup(m->jobs[i]->to);
		strs[4 * i + 3] = xstrdup(m->jobs[i]->error);
		infos[i].tenant = infos[i].tenant[0] ? strs[4 * i] : (char *)"";
		infos[i].id = strs[4 * i];
		infos[i].from_worker = strs[4 * i + 1];
		infos[i].to_worker = strs[4 * i + 2];
		infos[i].error = strs[4 * i + 3];
		pp[i] = &infos[i];
	}
	pthread_mutex_unlock(&m->mu);
	Shoal__ListMovesReply out = SHOAL__LIST_MOVES_REPLY__INIT;
	out.n_moves = n;
	out.moves = pp;
	done(&out, cd);
	for (size_t i = 0; i < n; i++)
		free(shards[i]);
	for (size_t i = 0; i < 4 * n; i++)
		free(strs[i]);
	free(strs);
	free(shards);
	free(pp);
	free(infos);
}

void
move_rpc_cancel(move_mgr *m, const Shoal__MoveRequest *in, Shoal__MoveInfo_Closure done,
    void *cd)
{
	pthread_mutex_lock(&m->mu);
	mjob *j = job_find(m, in->id ? in->id : "");
	bool late = false;
	if (j != NULL && j->active) {
		if (j->state == SHOAL__MOVE_STATE__MOVE_CLEANUP)
			late = true;
		else
			j->cancel = true;
		pthread_cond_broadcast(&m->cv);
	}
	pthread_mutex_unlock(&m->mu);
	if (late) {
		rpc_call_fail(cd, SHOAL_FAILED_PRECONDITION,
		    "move '%s' has already cut over; it can only finish", in->id);
		done(NULL, cd);
		return;
	}
	reply_job(m, in->id ? in->id : "", done, cd);
}
