/* shard_index.c -- a shard's partition indexes: loading, the commit hook,
 * background builds, snapshots, eviction, search and merge.
 *
 * Each partition (`part`) has a state (partition.h) that is NULL while not
 * loaded.  The rowstore is the truth; a state is a cache of the
 * partition's rows that follows every commit.
 *
 * Invariants:
 *  1. A loaded state reflects exactly the rows committed to its partition:
 *     it was made from a consistent view of the rowstore (directly, or a
 *     snapshot reconciled against that view) plus every write committed
 *     since (captured, see below), and every later commit reaches it
 *     through the commit hook, which runs under the shard's write mutex --
 *     so states change in commit order.
 *  2. state->applied_seq: every write to the partition with a commit
 *     sequence <= it is in the state.  It only moves when a whole batch
 *     has been applied, so a snapshot taken between two slices of a batch
 *     records the previous batch's sequence and the restart re-applies the
 *     whole batch (re-applying "set id to this" is harmless).
 *  3. If a FAISS add fails half-way, the state is dropped (unloaded): never
 *     a label without its vector.  The next search reloads it.
 *
 * Capture (how a load or rebuild misses no write).  A load or rebuild
 * builds a private state off-lock from a snapshot of the truth while
 * writes go on, by the capture protocol of capture.h (the queue, its
 * replay in rounds and the writers' backpressure live there): step 1
 * (capture_start) under pend_mu; step 2 takes the source -- a rowstore
 * view (load) or a copy of the live points of the current state under
 * its read lock (rebuild); step 3 builds the private state with no lock
 * held (searches go on, on the old state if any); step 4 (capture_finish)
 * replays the queue with this file's limits (CAPTURE_ROUNDS,
 * CAPTURE_LAST_MAX, CAPTURE_CHUNK) and swaps the state in under the
 * write lock, holding pend_mu since the last round began.  Each queued
 * op's tag is its batch's commit seq: a round's end sets applied_seq to
 * the largest (invariant 2: only whole batches count).
 *
 * Snapshots.  A file snap_dir/<shard id>/<hash of the name>.snap holds a
 * serialized state (partition.c: header with shard incarnation, spec and
 * partition name, labels, payload records, FAISS index, checksum) and the
 * applied_seq S it includes.  It is written whole to a temporary file
 * and renamed: a crash leaves the old file or the new one (not fsynced:
 * see write_snapshot_file).  Loading one:
 *   - read and verify it (a damaged file, or one of another incarnation /
 *     spec / partition, is deleted and the partition loads from rows);
 *   - reconcile it with the rowstore view: the membership keys of the
 *     partition give every live id with the seq of its last write.  An id
 *     live in the snapshot with seq <= S is current; every other live
 *     label of the snapshot is killed (deleted, moved away or updated
 *     since); every member with seq > S (or missing from the snapshot) is
 *     read and applied.
 * So a restart costs reading the file plus a key scan plus the rows
 * written since the snapshot -- not an HNSW build of the whole partition.
 * Snapshots are written by the maintenance thread when enough writes
 * accumulated (SHARD_INDEX_SNAP_MIN_DIRTY), after each background build,
 * before evicting a partition with unsaved writes, and at clean shutdown.
 *
 * Shard-level graph.  Besides its partitions, a shard keeps one more
 * `part` (idx->whole, flagged `whole`, never in the partition table) over
 * every live point of the shard, for searches without a partition (the
 * keyless searches a scatter sends): one HNSW walk instead of a scan of
 * every partition.  It is a partition in all but membership -- the same
 * states, commit hook (whole_on_commit: every applied row; a move between
 * partitions is just "set id"), capture, background HNSW build and
 * compaction (part_work), snapshots (snap_dir/<shard>/shard.snap; its
 * reconcile reads every live row's seq, as it has no membership keys of
 * its own), and ixmem entry: it counts in the memory budget and is evicted
 * LRU like any partition (snapshotted first).  It is built lazily: a
 * keyless search of a shard of several partitions that finds it not ready
 * searches the partitions (the old path: correct, slower) and sets
 * whole_wanted; the next shard_index_maintain loads it (flat, from its
 * snapshot or the rows) and, above SHARD_INDEX_EXACT_MAX live points,
 * builds its HNSW graph.  "Ready" = loaded and HNSW, or small enough for
 * one exact scan of the shard (exact queries: loaded).  A shard with a
 * snapshot of it asks for it at open.  A shard of one partition never
 * loads it (that partition already is the whole shard).  A move carries
 * it to the target like a loaded HNSW partition ("Moves", below), so the
 * target need not build it again.  Every commit also reaches the worker's
 * collection graphs (coll_graph.h: one graph over several shards of a
 * collection), after the shard's own states, under the same mutex.
 *
 * Locks, in order: load_mu -> pend_mu -> rw -> (ixmem's mutex).
 *   load_mu  one load / rebuild / snapshot / eviction of the partition at
 *            a time (long holds; searches and writes never take it)
 *   pend_mu  guards the capture queue (`cq`, capture.h), and *which*
 *            state is installed: the hook holds it for a whole batch of
 *            the partition, so a capture starts between batches
 *   rw       guards the state's content: searches read, the hook writes
 *            in slices of APPLY_SLICE ops (a FAISS add blocks this
 *            partition's searches for one slice at a time); writer-
 *            preferring, so back-to-back searches cannot starve the hook
 * The hook runs under the shard's rowstore mutex, which nothing here
 * takes while holding any of these.  tab_lock (the partition table) is
 * only held for lookups.  ixmem_enforce is called holding none of them.
 */
#include "shard_index.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "capture.h"
#include "log.h"
#include "util.h"
#include "vecmath.h"

#define APPLY_SLICE 64 /* ops per write-locked FAISS add on the write path */
#define CAPTURE_ROUNDS 16     /* replay rounds before the blocking last one */
#define CAPTURE_LAST_MAX 1024 /* pending writes small enough for the last round */
#define CAPTURE_CHUNK 256     /* writes replayed between grants to writers */

static const capture_limits capture_lim = {CAPTURE_ROUNDS, CAPTURE_LAST_MAX, CAPTURE_CHUNK};

typedef struct part part;

struct part {
	ixmem_ent mem;            /* first: ixmem callbacks cast back */
	char *name;               /* NUL-terminated copy */
	size_t len;
	shard_index *owner;       /* valid until `dead` */
	atomic_int refs;          /* table's reference + one per user */
	pthread_mutex_t load_mu;
	pthread_mutex_t pend_mu;
	capture_queue cq;         /* pend_mu: writes during a load / rebuild */
	pthread_rwlock_t rw;
	pstate *st;               /* NULL = not loaded; swapped under pend_mu + rw */
	bool dead;                /* load_mu: the shard index is gone */
	_Atomic uint64_t writes;  /* ops applied to loaded states, ever */
	uint64_t snap_writes;     /* `writes` at the last snapshot / load; load_mu */
	uint64_t snap_seq;        /* applied_seq of the snapshot file; load_mu */
	bool has_snap_file;       /* load_mu */
	bool whole;               /* the shard-level graph (see "Shard-level
	                           * graph"); never in the partition table */
};

struct shard_index {
	shard_spec spec;
	rowstore *rs;
	ixmem *mem;
	char *snap_dir;           /* snap_dir/<shard id>, or NULL */
	atomic_bool dropped;      /* remove snap_dir at destroy */
	pthread_rwlock_t tab_lock;
	part **parts;             /* sorted by (name bytes, length) */
	size_t nparts, cap;
	struct {
		_Atomic uint64_t loads_snapshot, loads_rows, rows_replayed, snapshots,
		    snapshot_bytes, rebuilds, evictions, imports, graph_builds, graph_imports;
	} c;
	part *whole;              /* the shard-level graph's part */
	coll_graphs *cg;          /* opts->cg: collection graphs (coll_graph.h) */
	atomic_bool whole_wanted; /* a keyless search found it not ready */
	_Atomic uint64_t whole_searches, whole_fallbacks;
};

static const ixmem_ops part_mem_ops;
static int rm_tree(const char *path);
static uint64_t part_estimate(shard_index *idx, part *p);

/* ===================================================================
 * Partition table
 * =================================================================== */

static int
name_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t m = alen < blen ? alen : blen;
	int c = m > 0 ? memcmp(a, b, m) : 0; /* a or b may be NULL when empty */
	if (c != 0)
		return c;
	return alen < blen ? -1 : alen > blen;
}

/* Caller holds tab_lock. */
static size_t
tab_find(const shard_index *idx, const char *name, size_t len, bool *found)
{
	size_t lo = 0, hi = idx->nparts;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (name_cmp(idx->parts[mid]->name, idx->parts[mid]->len, name, len) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = lo < idx->nparts &&
	    name_cmp(idx->parts[lo]->name, idx->parts[lo]->len, name, len) == 0;
	return lo;
}

static void
part_unref(part *p)
{
	if (atomic_fetch_sub(&p->refs, 1) == 1) {
		pstate_free(p->st);
		capture_destroy(&p->cq);
		free(p->name);
		pthread_rwlock_destroy(&p->rw);
		pthread_mutex_destroy(&p->load_mu);
		pthread_mutex_destroy(&p->pend_mu);
		free(p);
	}
}

static part *
part_new(shard_index *idx, const char *name, size_t len)
{
	part *p = xcalloc(1, sizeof *p);
	pthread_rwlockattr_t attr;

	p->mem.ops = &part_mem_ops;
	p->name = xmalloc(len + 1);
	if (len > 0)
		memcpy(p->name, name, len);
	p->name[len] = '\0';
	p->len = len;
	p->owner = idx;
	atomic_init(&p->refs, 1);
	pthread_mutex_init(&p->load_mu, NULL);
	pthread_mutex_init(&p->pend_mu, NULL);
	capture_init(&p->cq);
	/* writer-preferring: with searches arriving back to back, glibc's
	 * default (reader-preferring) could starve the commit hook forever.
	 * Safe because no thread ever takes rw for reading twice. */
	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&p->rw, &attr);
	pthread_rwlockattr_destroy(&attr);
	return p;
}

/* A counted reference to partition `name` (part_unref), created when
 * absent if `create`; NULL otherwise. */
static part *
part_get(shard_index *idx, const char *name, size_t len, bool create)
{
	part *p = NULL;
	bool found;
	size_t pos;

	pthread_rwlock_rdlock(&idx->tab_lock);
	pos = tab_find(idx, name, len, &found);
	if (found) {
		p = idx->parts[pos];
		atomic_fetch_add(&p->refs, 1);
	}
	pthread_rwlock_unlock(&idx->tab_lock);
	if (p != NULL || !create)
		return p;
	pthread_rwlock_wrlock(&idx->tab_lock);
	pos = tab_find(idx, name, len, &found);
	if (found) {
		p = idx->parts[pos];
	} else {
		p = part_new(idx, name, len);
		if (idx->nparts == idx->cap) {
			idx->cap = idx->cap ? idx->cap * 2 : 8;
			idx->parts = xrealloc(idx->parts, idx->cap * sizeof *idx->parts);
		}
		memmove(idx->parts + pos + 1, idx->parts + pos,
		    (idx->nparts - pos) * sizeof *idx->parts);
		idx->parts[pos] = p;
		idx->nparts++;
	}
	atomic_fetch_add(&p->refs, 1);
	pthread_rwlock_unlock(&idx->tab_lock);
	return p;
}

/* References to every partition and the shard-level graph (last), for
 * iteration without the table lock. */
static size_t
part_all(shard_index *idx, part ***out)
{
	size_t n;

	pthread_rwlock_rdlock(&idx->tab_lock);
	n = idx->nparts;
	*out = xmalloc((n + 1) * sizeof **out);
	for (size_t i = 0; i < n; i++) {
		(*out)[i] = idx->parts[i];
		atomic_fetch_add(&idx->parts[i]->refs, 1);
	}
	pthread_rwlock_unlock(&idx->tab_lock);
	(*out)[n++] = idx->whole; /* last, so its upkeep follows the partitions' */
	atomic_fetch_add(&idx->whole->refs, 1);
	return n;
}

/* ===================================================================
 * Snapshot files
 * =================================================================== */

static uint64_t
name_hash(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ULL;
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ULL;
	}
	return h;
}

static void
snap_path(const shard_index *idx, const part *p, char *out, size_t cap)
{
	if (p->whole) /* a name no hash can produce: no partition shares it */
		snprintf(out, cap, "%s/shard.snap", idx->snap_dir);
	else
		snprintf(out, cap, "%s/%016" PRIx64 ".snap", idx->snap_dir, name_hash(p->name, p->len));
}

/* Writes a snapshot file: a temporary file, then rename.  No fsync: a
 * snapshot is a cache of the rows (the rows are durable on their own), a
 * process crash keeps the page cache, and a file torn by a power loss
 * fails its checksum at load and the partition reloads from its rows.
 * Paying an fsync per snapshot would make every eviction of a partition
 * with unsaved writes wait for the disk. */
static shoal_code
write_snapshot_file(const char *path, const void *data, size_t len, shoal_status *st)
{
	char tmp[4300];
	const char *p = data;
	int fd;

	snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0)
		return shoal_status_set(st, SHOAL_INTERNAL, "cannot create %s: %s", tmp,
		    strerror(errno));
	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			int e = errno;
			close(fd);
			unlink(tmp);
			return shoal_status_set(st, e == ENOSPC ? SHOAL_RESOURCE_EXHAUSTED : SHOAL_INTERNAL,
			    "cannot write %s: %s", tmp, strerror(e));
		}
		p += w;
		len -= (size_t)w;
	}
	if (close(fd) != 0 || rename(tmp, path) != 0) {
		int e = errno;
		unlink(tmp);
		return shoal_status_set(st, SHOAL_INTERNAL, "cannot write %s: %s", path, strerror(e));
	}
	return SHOAL_OK;
}

/* Writes p's state to its snapshot file.  Caller holds load_mu; the state
 * is read under rw (read) only while it is serialized. */
static shoal_code
part_snapshot(shard_index *idx, part *p, shoal_status *st)
{
	char path[4200];
	uint8_t *buf = NULL;
	size_t len = 0;
	uint64_t seq = 0, writes = 0, t0 = util_mono_ms();
	shoal_code rv;

	if (idx->snap_dir == NULL)
		return SHOAL_OK;
	pthread_rwlock_rdlock(&p->rw);
	if (p->st == NULL) {
		pthread_rwlock_unlock(&p->rw);
		return SHOAL_OK;
	}
	writes = atomic_load(&p->writes);
	seq = p->st->applied_seq;
	rv = pstate_serialize(p->st, &idx->spec, p->name, p->len, &buf, &len, st);
	pthread_rwlock_unlock(&p->rw);
	if (rv != SHOAL_OK)
		return rv;
	if ((rv = util_mkdir_p(idx->snap_dir, st)) == SHOAL_OK) {
		snap_path(idx, p, path, sizeof path);
		rv = write_snapshot_file(path, buf, len, st);
	}
	free(buf);
	if (rv != SHOAL_OK) {
		log_warn("shard %" PRIu64 ": snapshot of partition '%s' not written: %s",
		    idx->spec.shard_id, p->name, st ? st->msg : "");
		return rv;
	}
	p->snap_seq = seq;
	p->snap_writes = writes;
	p->has_snap_file = true;
	atomic_fetch_add(&idx->c.snapshots, 1);
	atomic_fetch_add(&idx->c.snapshot_bytes, len);
	log_debug("shard %" PRIu64 ": partition '%s' snapshotted: %zu bytes, seq %" PRIu64
		  ", %" PRIu64 " ms",
	    idx->spec.shard_id, p->name, len, seq, util_mono_ms() - t0);
	return SHOAL_OK;
}

/* Maps p's snapshot file.  NOT_FOUND when there is none. */
static shoal_code
snap_map(const char *path, void **data, size_t *len, shoal_status *st)
{
	struct stat sb;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	*data = NULL;
	*len = 0;
	if (fd < 0)
		return errno == ENOENT ? SHOAL_NOT_FOUND
		                       : shoal_status_set(st, SHOAL_INTERNAL, "cannot open %s: %s", path,
		                             strerror(errno));
	if (fstat(fd, &sb) != 0 || sb.st_size <= 0) {
		close(fd);
		return shoal_status_set(st, SHOAL_DATA_LOSS, "snapshot %s is empty", path);
	}
	*data = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (*data == MAP_FAILED) {
		*data = NULL;
		return shoal_status_set(st, SHOAL_INTERNAL, "cannot map %s: %s", path,
		    strerror(errno));
	}
	madvise(*data, (size_t)sb.st_size, MADV_SEQUENTIAL);
	*len = (size_t)sb.st_size;
	return SHOAL_OK;
}

/* ===================================================================
 * Applying writes, capture and install
 * =================================================================== */

/* Applies ops to p's state (caller holds pend_mu), slice by slice under
 * the write lock; drops the state on failure (invariant 3). */
static void
apply_locked(shard_index *idx, part *p, const pstate_op *ops, size_t n, uint64_t seq)
{
	shoal_status st;

	for (size_t i = 0; i < n && p->st != NULL; i += APPLY_SLICE) {
		size_t m = n - i < APPLY_SLICE ? n - i : APPLY_SLICE;
		pthread_rwlock_wrlock(&p->rw);
		if (pstate_apply(p->st, &idx->spec, ops + i, m, &st) != SHOAL_OK) {
			/* the rows are committed; the index is only a cache of them */
			log_error("shard %" PRIu64 ": partition '%s' unloaded, will reload: %s",
			    idx->spec.shard_id, p->name, st.msg);
			pstate_free(p->st);
			p->st = NULL;
			pthread_rwlock_unlock(&p->rw);
			if (idx->mem)
				ixmem_unloaded(idx->mem, &p->mem, false);
			return;
		}
		if (i + m == n && seq > p->st->applied_seq)
			p->st->applied_seq = seq; /* invariant 2: whole batch in */
		pthread_rwlock_unlock(&p->rw);
	}
	if (p->st != NULL) {
		atomic_fetch_add(&p->writes, n);
		if (idx->mem)
			ixmem_resize(idx->mem, &p->mem, pstate_bytes(p->st));
	}
}

/* capture_apply_fn of step 4: replays a chunk of the queue into the new
 * state; at a round's end, every batch up to the largest seq seen is in
 * (invariant 2). */
typedef struct replay_ctx {
	const shard_spec *spec;
	pstate *s;
	uint64_t seq;             /* largest tag (commit seq) of this round so far */
} replay_ctx;

static shoal_code
replay_apply(void *arg, const pstate_op *ops, const uint64_t *tags, size_t n, bool round_end,
    shoal_status *st)
{
	replay_ctx *c = arg;
	shoal_code rv = pstate_apply(c->s, c->spec, ops, n, st);

	for (size_t i = 0; i < n; i++)
		if (tags[i] > c->seq)
			c->seq = tags[i];
	if (round_end) {
		if (rv == SHOAL_OK && c->seq > c->s->applied_seq)
			c->s->applied_seq = c->seq;
		c->seq = 0;
	}
	return rv;
}

static void
capture_start(part *p)
{
	pthread_mutex_lock(&p->pend_mu);
	capture_begin(&p->cq);
	pthread_mutex_unlock(&p->pend_mu);
}

/* Step 4: replays what was captured into s (capture_replay) and installs
 * it (s == NULL or an error: capture just ends, the old state stays).
 * Returns the number of replayed writes.  Caller holds load_mu. */
static size_t
capture_finish(shard_index *idx, part *p, pstate **sp, shoal_code *rv, shoal_status *st)
{
	pstate *s = *sp, *old = NULL;
	replay_ctx c = {&idx->spec, s, 0};
	size_t nreplayed = 0;

	pthread_mutex_lock(&p->pend_mu);
	if (*rv == SHOAL_OK && s != NULL)
		*rv = capture_replay(&p->cq, &p->pend_mu, &capture_lim, replay_apply, NULL, &c,
		    &nreplayed, st);
	if (*rv == SHOAL_OK && s != NULL) {
		pthread_rwlock_wrlock(&p->rw);
		old = p->st;
		p->st = s;
		pthread_rwlock_unlock(&p->rw);
		if (idx->mem)
			ixmem_loaded(idx->mem, &p->mem, pstate_bytes(s));
		*sp = NULL;
	}
	capture_end(&p->cq);
	pthread_mutex_unlock(&p->pend_mu);
	pstate_free(old);
	return nreplayed;
}

/* rowstore_commit_fn: runs under the shard's write mutex (invariant 1). */
typedef struct hook_op {
	part *p;
	size_t order;
	pstate_op op;
} hook_op;

static int
hook_cmp(const void *a, const void *b)
{
	const hook_op *x = a, *y = b;
	if (x->p != y->p)
		return (uintptr_t)x->p < (uintptr_t)y->p ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

/* The shard-level graph's share of a commit: every applied row, in batch
 * order (a move between partitions is just "set id" here). */
static void
whole_on_commit(shard_index *idx, uint64_t seq, const rowstore_row *rows, size_t n,
    const rowstore_applied *ap)
{
	part *p = idx->whole;
	pstate_op *po;
	size_t m = 0;

	pthread_mutex_lock(&p->pend_mu);
	if (!p->cq.active && p->st == NULL) {
		pthread_mutex_unlock(&p->pend_mu);
		return;
	}
	po = xmalloc((n ? n : 1) * sizeof *po);
	for (size_t i = 0; i < n; i++) {
		const rowstore_row *r = &rows[i];
		if (!(ap[i].outcome & ROWSTORE_APPLIED))
			continue;
		if (!r->deleted)
			po[m++] = (pstate_op){r->id, false, r->vector, r->payload, r->payload_len};
		else if (ap[i].outcome & ROWSTORE_WAS_LIVE)
			po[m++] = (pstate_op){r->id, true, NULL, NULL, 0};
	}
	if (m > 0)
		capture_push(&p->cq, &p->pend_mu, po, m, idx->spec.dim, seq);
	if (m > 0 && p->st != NULL)
		apply_locked(idx, p, po, m, seq);
	pthread_mutex_unlock(&p->pend_mu);
	free(po);
}

static void
on_commit(void *arg, uint64_t seq, const rowstore_row *rows, size_t n,
    const rowstore_applied *ap)
{
	shard_index *idx = arg;
	hook_op *ops = xmalloc(2 * n * sizeof *ops);
	size_t nops = 0;
	part *last = NULL;
	const char *last_name = NULL;
	size_t last_len = 0;

	/* Each applied row becomes up to two ops: leave the old partition,
	 * set in the new one.  Partitions that are not in the table were never
	 * loaded (a load registers the partition first): nothing to do. */
	for (size_t i = 0; i < n; i++) {
		const rowstore_row *r = &rows[i];
		if (!(ap[i].outcome & ROWSTORE_APPLIED))
			continue;
		if ((ap[i].outcome & ROWSTORE_WAS_LIVE) &&
		    (r->deleted || name_cmp(ap[i].old_partition, ap[i].old_partition_len,
		                       r->partition, r->partition_len) != 0)) {
			part *p = part_get(idx, ap[i].old_partition, ap[i].old_partition_len, false);
			if (p != NULL) {
				ops[nops] = (hook_op){p, nops, {r->id, true, NULL, NULL, 0}};
				nops++;
			}
		}
		if (!r->deleted) {
			part *p;
			if (last != NULL && name_cmp(last_name, last_len, r->partition,
			                        r->partition_len) == 0) {
				p = last;
				atomic_fetch_add(&p->refs, 1);
			} else {
				p = part_get(idx, r->partition, r->partition_len, false);
			}
			if (p != NULL) {
				last = p;
				last_name = r->partition;
				last_len = r->partition_len;
				ops[nops] = (hook_op){p, nops,
				    {r->id, false, r->vector, r->payload, r->payload_len}};
				nops++;
			}
		}
	}
	qsort(ops, nops, sizeof *ops, hook_cmp);
	for (size_t i = 0; i < nops;) {
		size_t j = i;
		part *p = ops[i].p;
		pstate_op *po;
		while (j < nops && ops[j].p == p)
			j++;
		po = xmalloc((j - i) * sizeof *po);
		for (size_t t = i; t < j; t++)
			po[t - i] = ops[t].op;
		pthread_mutex_lock(&p->pend_mu);
		capture_push(&p->cq, &p->pend_mu, po, j - i, idx->spec.dim, seq);
		if (p->st != NULL)
			apply_locked(idx, p, po, j - i, seq);
		pthread_mutex_unlock(&p->pend_mu);
		free(po);
		for (size_t t = i; t < j; t++)
			part_unref(ops[t].p);
		i = j;
	}
	free(ops);
	whole_on_commit(idx, seq, rows, n, ap);
	coll_graphs_on_commit(idx->cg, idx->spec.shard_id, rows, n, ap);
}

shoal_code
shard_index_write(shard_index *idx, const rowstore_row *rows, size_t n, uint8_t *outcome,
    uint32_t *napplied, shoal_status *st)
{
	return rowstore_write(idx->rs, idx->spec.shard_id, rows, n, outcome, napplied, on_commit,
	    idx, st);
}

/* ===================================================================
 * Loading
 * =================================================================== */

/* Reads the partition's rows (through view) into a new state. */
static shoal_code
load_from_rows(shard_index *idx, part *p, rowstore_view *view, uint64_t seq0, pstate **out,
    shoal_status *st)
{
	rowstore_iter_opts o = {.partition_only = !p->whole, .partition = p->name,
	    .partition_len = p->len, .view = view}; /* the graph: every live row */
	rowstore_iter *it;
	pstate_src src;
	rowstore_row r;
	bool done = false;
	shoal_code rv;

	*out = NULL;
	if ((rv = rowstore_iter_open(idx->rs, idx->spec.shard_id, &o, &it, st)) != SHOAL_OK)
		return rv;
	pstate_src_init(&src);
	while ((rv = rowstore_iter_next(it, &r, &done, st)) == SHOAL_OK && !done)
		pstate_src_add(&src, &idx->spec, r.id, r.vector, r.payload, r.payload_len);
	rowstore_iter_close(it);
	if (rv == SHOAL_OK) {
		src.applied_seq = seq0;
		/* flat for now; the maintenance thread builds HNSW in the
		 * background if it is large (searches do not wait for that) */
		rv = pstate_build(&src, &idx->spec, false, NULL, out, st);
	}
	pstate_src_free(&src);
	return rv;
}

/* The version of id in vers (sorted (id, version) pairs), 0 if absent. */
static uint64_t
vers_find(const uint64_t *vers, size_t nver, uint64_t id)
{
	size_t lo = 0, hi = nver;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (vers[2 * mid] < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < nver && vers[2 * lo] == id ? vers[2 * lo + 1] : 0;
}

/* Brings snapshot state s up to the view (see the header comment).
 * Returns the number of rows applied.  vers == NULL: s is this shard's
 * own snapshot, an id is current when its row's seq <= s->applied_seq.
 * Otherwise s came from another worker (a move, shard_index_import): its
 * seqs mean nothing here, an id is current when its row's version is the
 * one vers (nver sorted (id, version) pairs) lists for it. */
static shoal_code
reconcile(shard_index *idx, part *p, rowstore_view *view, uint64_t seq0, pstate *s,
    const uint64_t *vers, size_t nver, size_t *napplied, shoal_status *st)
{
	/* The shard-level graph has no membership keys of its own: it reads
	 * every live row (their seq; the vectors are read but unused).  The
	 * version check reads the rows too (membership keys carry no version). */
	rowstore_iter_opts o = {.partition_only = !p->whole, .partition = p->name,
	    .partition_len = p->len, .members_only = !p->whole && vers == NULL, .view = view};
	uint8_t *seen = xcalloc(s->nlabels / 8 + 1, 1);
	uint64_t *fetch = NULL, snap = s->applied_seq;
	size_t nfetch = 0, fcap = 0;
	rowstore_iter *it;
	rowstore_row r;
	bool done = false;
	shoal_code rv;

	*napplied = 0;
	if ((rv = rowstore_iter_open(idx->rs, idx->spec.shard_id, &o, &it, st)) != SHOAL_OK) {
		free(seen);
		return rv;
	}
	while ((rv = rowstore_iter_next(it, &r, &done, st)) == SHOAL_OK && !done) {
		int64_t l = pstate_label_of(s, r.id);
		bool cur = vers != NULL ? vers_find(vers, nver, r.id) == r.version : r.seq <= snap;
		if (l >= 0 && cur) {
			seen[l >> 3] |= (uint8_t)(1u << (l & 7));
			continue;
		}
		if (nfetch == fcap) {
			fcap = fcap ? fcap * 2 : 256;
			fetch = xrealloc(fetch, fcap * sizeof *fetch);
		}
		fetch[nfetch++] = r.id;
	}
	rowstore_iter_close(it);
	/* every live label not confirmed current goes (fetched ids come back) */
	for (size_t l = 0; rv == SHOAL_OK && l < s->nlabels; l++)
		if (pstate_label_live(s, l) && !(seen[l >> 3] & (1u << (l & 7))))
			pstate_kill_label(s, l);
	free(seen);
	for (size_t i = 0; rv == SHOAL_OK && i < nfetch; i += 256) {
		size_t m = nfetch - i < 256 ? nfetch - i : 256, nops = 0;
		pstate_op ops[256];
		void *bufs[256];
		for (size_t j = 0; j < m && rv == SHOAL_OK; j++) {
			rowstore_row row;
			bufs[j] = NULL;
			rv = rowstore_get_view(idx->rs, view, idx->spec.shard_id, fetch[i + j], &row,
			    &bufs[j], st);
			if (rv == SHOAL_OK && !row.deleted)
				ops[nops++] = (pstate_op){row.id, false, row.vector, row.payload,
				    row.payload_len};
			else if (rv == SHOAL_NOT_FOUND)
				rv = SHOAL_OK; /* cannot happen under one view; skip */
		}
		if (rv == SHOAL_OK)
			rv = pstate_apply(s, &idx->spec, ops, nops, st);
		for (size_t j = 0; j < m; j++)
			free(bufs[j]);
		*napplied += nops;
	}
	free(fetch);
	if (rv == SHOAL_OK && (vers != NULL || seq0 > s->applied_seq))
		s->applied_seq = seq0;
	return rv;
}

/* Loads p if it is not loaded.  Caller holds nothing. */
static shoal_code
part_load(shard_index *idx, part *p, shoal_status *st)
{
	char path[4200];
	uint64_t t0 = util_mono_ms(), seq0 = 0;
	rowstore_view *view;
	pstate *s = NULL;
	void *map = NULL;
	size_t maplen = 0, napplied = 0;
	bool from_snap = false;
	shoal_code rv = SHOAL_OK;
	shoal_status sst;

	uint64_t t_read = 0, t_reconcile = 0;

	pthread_mutex_lock(&p->load_mu);
	pthread_mutex_lock(&p->pend_mu);
	bool loaded = p->st != NULL;
	pthread_mutex_unlock(&p->pend_mu);
	if (loaded || p->dead) {
		pthread_mutex_unlock(&p->load_mu);
		return p->dead ? shoal_status_set(st, SHOAL_NOT_FOUND, "shard %" PRIu64
		    " was dropped", idx->spec.shard_id) : SHOAL_OK;
	}
	capture_start(p); /* step 1 */
	if ((rv = rowstore_shard_seq(idx->rs, idx->spec.shard_id, &seq0, st)) != SHOAL_OK)
		goto done;
	view = rowstore_view_open(idx->rs); /* step 2 */
	if (idx->snap_dir != NULL) {
		snap_path(idx, p, path, sizeof path);
		shoal_code mrv = snap_map(path, &map, &maplen, &sst);
		if (mrv == SHOAL_OK) {
			mrv = pstate_deserialize(map, maplen, &idx->spec, p->name, p->len, &s, &sst);
			munmap(map, maplen);
			t_read = util_mono_ms() - t0;
			if (mrv == SHOAL_OK && s->applied_seq > seq0) {
				/* from the future of this rowstore: not ours to trust */
				mrv = shoal_status_set(&sst, SHOAL_FAILED_PRECONDITION,
				    "snapshot is at seq %" PRIu64 ", rows at %" PRIu64, s->applied_seq,
				    seq0);
				pstate_free(s);
				s = NULL;
			}
			if (mrv == SHOAL_OK) {
				p->has_snap_file = true;
				p->snap_seq = s->applied_seq;
				mrv = reconcile(idx, p, view, seq0, s, NULL, 0, &napplied, &sst);
				t_reconcile = util_mono_ms() - t0 - t_read;
				if (mrv != SHOAL_OK) {
					pstate_free(s);
					s = NULL;
				} else {
					from_snap = true;
				}
			} else {
				log_warn("shard %" PRIu64 ": partition '%s': %s: %s; deleted, loading from "
					 "rows",
				    idx->spec.shard_id, p->name, path, sst.msg);
				unlink(path);
				p->has_snap_file = false;
			}
		} else if (mrv != SHOAL_NOT_FOUND) {
			log_warn("shard %" PRIu64 ": partition '%s': %s; loading from rows",
			    idx->spec.shard_id, p->name, sst.msg);
		}
	}
	if (s == NULL) /* step 3 */
		rv = load_from_rows(idx, p, view, seq0, &s, st);
	rowstore_view_close(idx->rs, view);
done:
	napplied += capture_finish(idx, p, &s, &rv, st); /* step 4 */
	pstate_free(s); /* only on failure */
	if (rv == SHOAL_OK) {
		pthread_rwlock_rdlock(&p->rw);
		size_t live = p->st->nlive, labels = p->st->nlabels;
		pthread_rwlock_unlock(&p->rw);
		/* writes since the snapshot (all of it when loaded from rows) */
		p->snap_writes = atomic_load(&p->writes) - (from_snap ? napplied : labels);
		if (from_snap) {
			atomic_fetch_add(&idx->c.loads_snapshot, 1);
			atomic_fetch_add(&idx->c.rows_replayed, napplied);
		} else {
			atomic_fetch_add(&idx->c.loads_rows, 1);
		}
		uint64_t ms = util_mono_ms() - t0;
		/* loads of big partitions are worth a line: they make a search wait */
		log_msg(ms >= 1000 ? LOG_INFO : LOG_DEBUG,
		    "shard %" PRIu64 ": partition '%s' loaded from %s: %zu live points in %" PRIu64
		    " ms (snapshot read %" PRIu64 " ms, reconcile %" PRIu64 " ms with %zu newer "
		    "rows applied)",
		    idx->spec.shard_id, p->name, from_snap ? "its snapshot" : "rows", live, ms, t_read,
		    t_reconcile, napplied);
	}
	pthread_mutex_unlock(&p->load_mu);
	return rv;
}

/* Unloads p (snapshotting it first when it has unsaved writes).  Caller
 * holds load_mu and has checked !p->dead.  Returns true when unloaded. */
static bool
unload_locked(shard_index *idx, part *p, bool evicted)
{
	pstate *old;
	shoal_status st;

	if (p->st == NULL)
		return false;
	if (idx->snap_dir != NULL && atomic_load(&p->writes) != p->snap_writes) {
		size_t labels;
		pthread_rwlock_rdlock(&p->rw);
		labels = p->st->nlabels;
		pthread_rwlock_unlock(&p->rw);
		if (labels >= SHARD_INDEX_SNAP_MIN_LABELS)
			part_snapshot(idx, p, &st); /* failure logged; rows stay the truth */
	}
	pthread_mutex_lock(&p->pend_mu);
	pthread_rwlock_wrlock(&p->rw);
	old = p->st;
	p->st = NULL;
	pthread_rwlock_unlock(&p->rw);
	if (idx->mem)
		ixmem_unloaded(idx->mem, &p->mem, evicted);
	pthread_mutex_unlock(&p->pend_mu);
	pstate_free(old);
	if (evicted)
		atomic_fetch_add(&idx->c.evictions, 1);
	return true;
}

/* ---- ixmem callbacks ---- */

static void
mem_ref(ixmem_ent *e)
{
	atomic_fetch_add(&((part *)(void *)e)->refs, 1);
}

static void
mem_unref(ixmem_ent *e)
{
	part_unref((part *)(void *)e);
}

static bool
mem_evict(ixmem_ent *e)
{
	part *p = (part *)(void *)e;
	bool ok = false;

	/* never wait: the partition may be in a long load or build */
	if (pthread_mutex_trylock(&p->load_mu) != 0)
		return false;
	if (!p->dead) /* p->owner is valid while not dead (checked under load_mu) */
		ok = unload_locked(p->owner, p, true);
	pthread_mutex_unlock(&p->load_mu);
	return ok;
}

static const ixmem_ops part_mem_ops = {mem_ref, mem_unref, mem_evict};

/* ===================================================================
 * Background builds
 * =================================================================== */

/* Rebuilds p's state from its live points (dropping stale labels) as the
 * given kind, while searches and writes go on (capture), then snapshots
 * the new state.  OK (no-op) when p is not loaded. */
static shoal_code
part_rebuild(shard_index *idx, part *p, bool hnsw, const atomic_bool *cancel,
    shoal_status *st)
{
	uint64_t t0 = util_mono_ms();
	pstate_src src;
	pstate *s = NULL;
	size_t live, stale, nreplayed;
	shoal_code rv;

	pthread_mutex_lock(&p->load_mu);
	if (p->dead || p->st == NULL) {
		pthread_mutex_unlock(&p->load_mu);
		return SHOAL_OK;
	}
	capture_start(p); /* step 1 */
	pthread_rwlock_rdlock(&p->rw); /* step 2 */
	live = p->st->nlive;
	stale = p->st->nlabels - p->st->nlive;
	pstate_extract(p->st, &idx->spec, &src);
	pthread_rwlock_unlock(&p->rw);
	rv = pstate_build(&src, &idx->spec, hnsw, cancel, &s, st); /* step 3 */
	pstate_src_free(&src);
	nreplayed = capture_finish(idx, p, &s, &rv, st); /* step 4 */
	pstate_free(s);
	if (rv == SHOAL_OK) {
		atomic_fetch_add(&idx->c.rebuilds, 1);
		if (p->whole && hnsw)
			atomic_fetch_add(&idx->c.graph_builds, 1);
		log_info("shard %" PRIu64 ": partition '%s' rebuilt as %s: %zu live points (%zu "
			 "stale dropped) in %" PRIu64 " ms, %zu writes made meanwhile replayed",
		    idx->spec.shard_id, p->name, hnsw ? "HNSW" : "flat", live, stale,
		    util_mono_ms() - t0, nreplayed);
		if (live >= SHARD_INDEX_SNAP_MIN_LABELS)
			part_snapshot(idx, p, NULL);
	}
	pthread_mutex_unlock(&p->load_mu);
	return rv;
}

/* What upkeep p needs now. */
enum { WORK_NONE, WORK_HNSW, WORK_COMPACT, WORK_SNAPSHOT, WORK_UNLOAD };

static int
part_work(shard_index *idx, part *p, bool *hnsw_target)
{
	size_t live, labels, stale, built;
	bool hnsw;
	uint64_t dirty;

	pthread_rwlock_rdlock(&p->rw);
	if (p->st == NULL) {
		pthread_rwlock_unlock(&p->rw);
		return WORK_NONE;
	}
	live = p->st->nlive;
	labels = p->st->nlabels;
	hnsw = p->st->hnsw;
	built = p->st->built_labels;
	pthread_rwlock_unlock(&p->rw);
	stale = labels - live;
	if (live == 0 && labels > 0)
		return WORK_UNLOAD; /* emptied: its memory is better used elsewhere */
	if (!hnsw && live > SHARD_INDEX_EXACT_MAX) {
		*hnsw_target = true;
		return WORK_HNSW;
	}
	if (stale > (live > SHARD_INDEX_REBUILD_MIN_STALE ? live : SHARD_INDEX_REBUILD_MIN_STALE)) {
		/* back to flat only well below the switch point (hysteresis) */
		*hnsw_target = hnsw ? live > SHARD_INDEX_EXACT_MAX / 2 : false;
		return WORK_COMPACT;
	}
	if (hnsw && labels > 2 * built) {
		/* Most of the graph came from small adds (the write path), which
		 * FAISS 1.7.3 links worse than one big add (partition.c): rebuild
		 * in one add each time the partition doubles -- amortized, about
		 * twice the cost of the final build. */
		*hnsw_target = true;
		return WORK_COMPACT;
	}
	dirty = atomic_load(&p->writes) - p->snap_writes; /* racy read: a hint */
	if (idx->snap_dir != NULL && labels >= SHARD_INDEX_SNAP_MIN_LABELS &&
	    dirty >= (labels / 8 > SHARD_INDEX_SNAP_MIN_DIRTY ? labels / 8
	                                                      : SHARD_INDEX_SNAP_MIN_DIRTY))
		return WORK_SNAPSHOT;
	return WORK_NONE;
}

/* Loads the shard-level graph when a keyless search asked for it (flat at
 * first, from its snapshot or the rows; part_work then builds its HNSW
 * graph).  Returns true when it loaded it. */
static bool
whole_load_wanted(shard_index *idx, const atomic_bool *cancel)
{
	part *p = idx->whole;
	shoal_status st = {0};
	bool loaded;

	if (!atomic_load(&idx->whole_wanted) || (cancel != NULL && atomic_load(cancel)))
		return false;
	pthread_rwlock_rdlock(&p->rw);
	loaded = p->st != NULL;
	pthread_rwlock_unlock(&p->rw);
	atomic_store(&idx->whole_wanted, false); /* a fallback asks again */
	if (loaded)
		return false;
	if (idx->mem != NULL)
		ixmem_make_room(idx->mem, part_estimate(idx, p));
	if (part_load(idx, p, &st) != SHOAL_OK) {
		if (st.code != SHOAL_NOT_FOUND)
			log_warn("shard %" PRIu64 ": shard-level graph not loaded: %s",
			    idx->spec.shard_id, st.msg);
		return false;
	}
	return true;
}

unsigned
shard_index_maintain(shard_index *idx, const atomic_bool *cancel)
{
	part **all;
	unsigned worked = whole_load_wanted(idx, cancel);
	size_t n = part_all(idx, &all);

	for (size_t i = 0; i < n; i++) {
		shoal_status st = {0};
		bool hnsw = false;
		int w = (cancel != NULL && atomic_load(cancel)) ? WORK_NONE
		                                                : part_work(idx, all[i], &hnsw);
		if (w == WORK_HNSW || w == WORK_COMPACT) {
			if (part_rebuild(idx, all[i], hnsw, cancel, &st) == SHOAL_OK)
				worked++;
			else if (st.code != SHOAL_CANCELLED)
				log_warn("shard %" PRIu64 ": partition '%s': rebuild failed: %s",
				    idx->spec.shard_id, all[i]->name, st.msg);
		} else if (w == WORK_SNAPSHOT) {
			pthread_mutex_lock(&all[i]->load_mu);
			if (!all[i]->dead && part_snapshot(idx, all[i], &st) == SHOAL_OK)
				worked++;
			pthread_mutex_unlock(&all[i]->load_mu);
		} else if (w == WORK_UNLOAD) {
			pthread_mutex_lock(&all[i]->load_mu);
			if (!all[i]->dead && unload_locked(idx, all[i], false))
				worked++;
			pthread_mutex_unlock(&all[i]->load_mu);
		}
		part_unref(all[i]);
	}
	free(all);
	return worked;
}

unsigned
shard_index_checkpoint(shard_index *idx, const atomic_bool *cancel)
{
	part **all;
	size_t n = part_all(idx, &all);
	unsigned written = 0;

	for (size_t i = 0; i < n; i++) {
		part *p = all[i];
		shoal_status st;
		pthread_mutex_lock(&p->load_mu);
		if (idx->snap_dir != NULL && !p->dead && p->st != NULL &&
		    (cancel == NULL || !atomic_load(cancel)) &&
		    atomic_load(&p->writes) != p->snap_writes) {
			pthread_rwlock_rdlock(&p->rw);
			size_t labels = p->st->nlabels;
			pthread_rwlock_unlock(&p->rw);
			if (labels >= SHARD_INDEX_SNAP_MIN_LABELS && part_snapshot(idx, p, &st) == SHOAL_OK)
				written++;
		}
		pthread_mutex_unlock(&p->load_mu);
		part_unref(p);
	}
	free(all);
	return written;
}

/* ===================================================================
 * Create / destroy
 * =================================================================== */

shoal_code
shard_index_create(rowstore *rs, const shard_spec *spec, const shard_index_opts *opts,
    shard_index **out, shoal_status *st)
{
	shard_index *idx = xcalloc(1, sizeof *idx);

	(void)st; /* nothing can fail: states are made at load */
	idx->spec = *spec;
	idx->rs = rs;
	if (opts != NULL) {
		idx->mem = opts->mem;
		idx->cg = opts->cg;
		if (opts->snap_dir != NULL) {
			size_t n = strlen(opts->snap_dir) + 32;
			idx->snap_dir = xmalloc(n);
			snprintf(idx->snap_dir, n, "%s/%" PRIu64, opts->snap_dir, spec->shard_id);
		}
	}
	pthread_rwlock_init(&idx->tab_lock, NULL);
	idx->whole = part_new(idx, "(shard)", 7);
	idx->whole->whole = true;
	if (idx->snap_dir != NULL) {
		/* it served keyless searches before the restart: reload it soon */
		char path[4200];
		snap_path(idx, idx->whole, path, sizeof path);
		atomic_store(&idx->whole_wanted, access(path, F_OK) == 0);
	}
	*out = idx;
	return SHOAL_OK;
}

void
shard_index_destroy(shard_index *idx)
{
	if (idx == NULL)
		return;
	for (size_t i = 0; i <= idx->nparts; i++) {
		part *p = i < idx->nparts ? idx->parts[i] : idx->whole;
		pstate *old;
		pthread_mutex_lock(&p->load_mu);
		p->dead = true;
		pthread_mutex_lock(&p->pend_mu);
		pthread_rwlock_wrlock(&p->rw);
		old = p->st;
		p->st = NULL;
		pthread_rwlock_unlock(&p->rw);
		if (idx->mem)
			ixmem_unloaded(idx->mem, &p->mem, false);
		pthread_mutex_unlock(&p->pend_mu);
		pthread_mutex_unlock(&p->load_mu);
		pstate_free(old);
		part_unref(p);
	}
	free(idx->parts);
	if (atomic_load(&idx->dropped) && idx->snap_dir != NULL && rm_tree(idx->snap_dir) != 0 &&
	    errno != ENOENT)
		log_warn("shard %" PRIu64 ": cannot remove %s: %s", idx->spec.shard_id, idx->snap_dir,
		    strerror(errno));
	free(idx->snap_dir);
	pthread_rwlock_destroy(&idx->tab_lock);
	free(idx);
}

static int
rm_tree(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	char sub[4300];

	if (d == NULL)
		return errno == ENOENT ? 0 : -1;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
		if (unlink(sub) != 0 && errno == EISDIR)
			rm_tree(sub);
	}
	closedir(d);
	return rmdir(path);
}

void
shard_index_mark_dropped(shard_index *idx)
{
	atomic_store(&idx->dropped, true);
}

void
shard_index_clean_snapshots(const char *snap_dir, const shard_spec *specs, size_t n)
{
	DIR *d = opendir(snap_dir);
	struct dirent *e;
	char sub[4300];

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		uint64_t id;
		bool known = false;
		if (e->d_name[0] == '.')
			continue;
		snprintf(sub, sizeof sub, "%s/%s", snap_dir, e->d_name);
		if (util_parse_u64(e->d_name, &id))
			for (size_t i = 0; i < n && !known; i++)
				known = specs[i].shard_id == id;
		if (!known) {
			log_info("removing snapshots of a shard this worker does not hold: %s", sub);
			if (rm_tree(sub) != 0 && unlink(sub) != 0)
				log_warn("cannot remove %s: %s", sub, strerror(errno));
			continue;
		}
		DIR *sd = opendir(sub); /* leftover temporary files of a crash */
		struct dirent *f;
		if (sd == NULL)
			continue;
		while ((f = readdir(sd)) != NULL)
			if (strstr(f->d_name, ".tmp.") != NULL) {
				char fp[4600];
				snprintf(fp, sizeof fp, "%s/%s", sub, f->d_name);
				unlink(fp);
			}
		closedir(sd);
	}
	closedir(d);
}

/* ===================================================================
 * Search
 * =================================================================== */

static bool
hit_less(const shard_hit *a, const shard_hit *b)
{
	return a->distance < b->distance || (a->distance == b->distance && a->id < b->id);
}

static int
hit_cmp(const void *a, const void *b)
{
	const shard_hit *x = a, *y = b;
	return hit_less(x, y) ? -1 : hit_less(y, x) ? 1 : 0;
}

/* About the memory p will take once loaded: from its snapshot file when
 * there is one (the file is the state's arrays back to back; memory adds
 * hash-table and capacity slack, hence the margin), else from its row
 * count.  Used to make room before a load (ixmem_make_room). */
static uint64_t
part_estimate(shard_index *idx, part *p)
{
	struct stat sb;
	char path[4200];
	uint64_t live;

	if (idx->snap_dir != NULL) {
		snap_path(idx, p, path, sizeof path);
		if (stat(path, &sb) == 0 && sb.st_size > 0)
			return (uint64_t)sb.st_size * 3 / 2;
	}
	if (p->whole) {
		uint64_t dead = 0;
		live = 0;
		rowstore_count(idx->rs, idx->spec.shard_id, &live, &dead, NULL);
	} else {
		live = rowstore_partition_count(idx->rs, idx->spec.shard_id, p->name, p->len);
	}
	return live * ((uint64_t)idx->spec.dim * 4 + 96) + 4096;
}

/* Searches one partition, loading it first if needed. */
static shoal_code
part_search(shard_index *idx, part *p, const pstate_query *pq, shard_hit *hits, size_t *nhits,
    shoal_status *st)
{
	shoal_code rv;

	for (int attempt = 0;; attempt++) {
		pthread_rwlock_rdlock(&p->rw);
		if (p->st != NULL) {
			rv = pstate_search(p->st, &idx->spec, pq, hits, nhits, NULL, st);
			pthread_rwlock_unlock(&p->rw);
			if (idx->mem)
				ixmem_touch(idx->mem, &p->mem);
			return rv;
		}
		pthread_rwlock_unlock(&p->rw);
		if (attempt >= 8) /* loaded and evicted again each time: say so */
			return shoal_status_set(st, SHOAL_RESOURCE_EXHAUSTED,
			    "shard %" PRIu64 ": partition '%s' keeps being evicted before it can be "
			    "searched (memory budget too small for the load)",
			    idx->spec.shard_id, p->name);
		if (idx->mem != NULL)
			ixmem_make_room(idx->mem, part_estimate(idx, p));
		if ((rv = part_load(idx, p, st)) != SHOAL_OK)
			return rv;
	}
}

/* Answers a search of every partition from the shard-level graph when it
 * is ready: loaded, and HNSW or small enough for one exact scan (an exact
 * query can use it in any state).  Returns false when it is not: the
 * caller then searches the partitions (correct, slower) and, when there
 * are several, asks the maintenance thread to load and build the graph. */
static bool
whole_search(shard_index *idx, const pstate_query *pq, uint32_t graph_ef, shard_hit *hits,
    size_t *nhits, shoal_code *rv, shoal_status *st)
{
	part *p = idx->whole;
	pstate_query wq = *pq;
	bool ready;

	if (graph_ef > 0)
		wq.ef_search = graph_ef;
	pthread_rwlock_rdlock(&p->rw);
	ready = p->st != NULL &&
	    (p->st->hnsw || p->st->nlive <= SHARD_INDEX_EXACT_MAX || pq->exact);
	if (ready)
		*rv = pstate_search(p->st, &idx->spec, &wq, hits, nhits, NULL, st);
	pthread_rwlock_unlock(&p->rw);
	if (ready) {
		if (idx->mem)
			ixmem_touch(idx->mem, &p->mem);
		atomic_fetch_add(&idx->whole_searches, 1);
	}
	return ready;
}

shoal_code
shard_index_search(shard_index *idx, const shard_query *q, shard_hit *hits, size_t *nhits,
    bool *complete, shoal_status *st)
{
	const shard_spec *spec = &idx->spec;
	rowstore_partition *plist = NULL;
	size_t np = 0, n = 0;
	shard_hit *local;
	float *qv;
	shoal_code rv = SHOAL_OK;

	*nhits = 0;
	*complete = false;
	if (q->k == 0)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT, "k must be at least 1");
	if (q->dim != spec->dim)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "vector has %u dimensions, collection expects %u", q->dim, spec->dim);
	for (uint32_t j = 0; j < q->dim; j++)
		if (!isfinite(q->vector[j]))
			return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
			    "query vector component %u is %s (components must be finite)", j,
			    isnan(q->vector[j]) ? "NaN" : "infinite");
	if (q->one_partition && q->partition_len > ROWSTORE_MAX_PARTITION)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "partition (distribution key value) is %zu bytes, at most %d are allowed",
		    q->partition_len, ROWSTORE_MAX_PARTITION);
	qv = xmalloc(q->dim * sizeof *qv);
	memcpy(qv, q->vector, q->dim * sizeof *qv);
	if (spec->metric == VECMATH_COSINE && !vecmath_normalize(qv, q->dim)) {
		free(qv);
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "query vector is zero: it has no direction (collection metric is cosine)");
	}
	pstate_query pq = {qv, q->k, q->ef_search, q->exact, q->filter};

	if (q->one_partition) {
		if (rowstore_partition_count(idx->rs, spec->shard_id, q->partition, q->partition_len) >
		    0) {
			plist = xmalloc(sizeof *plist);
			plist[0].name = xmalloc(q->partition_len + 1);
			memcpy(plist[0].name, q->partition, q->partition_len); /* len > 0 */
			plist[0].name[q->partition_len] = '\0';
			plist[0].len = q->partition_len;
			np = 1;
		} else {
			shard_spec tmp; /* empty partition: but is the shard still here? */
			rv = rowstore_shard_spec(idx->rs, spec->shard_id, &tmp, st);
		}
	} else if (whole_search(idx, &pq, q->graph_ef, hits, &n, &rv, st)) {
		/* answered by the shard-level graph: no partition to list or search */
	} else {
		np = rowstore_list_partitions(idx->rs, spec->shard_id, &plist);
		if (np == 0) {
			shard_spec tmp;
			rv = rowstore_shard_spec(idx->rs, spec->shard_id, &tmp, st);
		} else if (np > 1) { /* a partition alone is as good as a graph */
			atomic_store(&idx->whole_wanted, true);
			atomic_fetch_add(&idx->whole_fallbacks, 1);
		}
	}
	local = np > 1 ? xmalloc(q->k * sizeof *local) : NULL;
	for (size_t i = 0; i < np && rv == SHOAL_OK; i++) {
		part *p = part_get(idx, plist[i].name, plist[i].len, true);
		size_t m = 0;
		if (np == 1) {
			rv = part_search(idx, p, &pq, hits, &n, st);
		} else if ((rv = part_search(idx, p, &pq, local, &m, st)) == SHOAL_OK) {
			/* merge: hits is kept as a sorted array of at most k */
			for (size_t j = 0; j < m; j++) {
				shard_hit h = local[j];
				if (n == q->k && !hit_less(&h, &hits[n - 1]))
					continue;
				size_t pos = n < q->k ? n++ : n - 1;
				while (pos > 0 && hit_less(&h, &hits[pos - 1])) {
					hits[pos] = hits[pos - 1];
					pos--;
				}
				hits[pos] = h;
			}
		}
		part_unref(p);
		if (idx->mem != NULL && ixmem_over(idx->mem))
			ixmem_enforce(idx->mem); /* holding no partition lock here */
	}
	free(local);
	rowstore_partitions_free(plist, np);
	free(qv);
	if (rv != SHOAL_OK) {
		*nhits = 0;
		return rv;
	}
	qsort(hits, n, sizeof *hits, hit_cmp);
	*nhits = n;
	*complete = true; /* each partition answered min(k, its matches) */
	return SHOAL_OK;
}

/* ===================================================================
 * Loading, unloading and information for tests and the service
 * =================================================================== */

shoal_code
shard_index_load(shard_index *idx, const char *partition, size_t len, shoal_status *st)
{
	part *p = part_get(idx, partition, len, true);
	shoal_code rv;

	if (idx->mem != NULL)
		ixmem_make_room(idx->mem, part_estimate(idx, p));
	rv = part_load(idx, p, st);

	part_unref(p);
	if (rv == SHOAL_OK && idx->mem != NULL && ixmem_over(idx->mem))
		ixmem_enforce(idx->mem);
	return rv;
}

void
shard_index_unload_all(shard_index *idx)
{
	part **all;
	size_t n = part_all(idx, &all);

	for (size_t i = 0; i < n; i++) {
		pthread_mutex_lock(&all[i]->load_mu);
		if (!all[i]->dead)
			unload_locked(idx, all[i], false);
		pthread_mutex_unlock(&all[i]->load_mu);
		part_unref(all[i]);
	}
	free(all);
}

void
shard_index_get_info(shard_index *idx, shard_index_info *out)
{
	part **all;
	size_t n = part_all(idx, &all);

	memset(out, 0, sizeof *out);
	out->partitions = (uint32_t)(n - 1);
	for (size_t i = 0; i < n; i++) {
		part *p = all[i];
		pthread_rwlock_rdlock(&p->rw);
		if (p->whole && p->st != NULL) {
			out->graph_loaded = true;
			out->graph_hnsw = p->st->hnsw;
			out->graph_live = p->st->nlive;
			out->graph_labels = p->st->nlabels;
			out->bytes += pstate_bytes(p->st);
		} else if (p->st != NULL) {
			out->loaded++;
			out->hnsw += p->st->hnsw;
			out->labels += p->st->nlabels;
			out->live += p->st->nlive;
			out->stale += p->st->nlabels - p->st->nlive;
			out->bytes += pstate_bytes(p->st);
		}
		pthread_rwlock_unlock(&p->rw);
		part_unref(p);
	}
	free(all);
	out->c.loads_snapshot = atomic_load(&idx->c.loads_snapshot);
	out->c.loads_rows = atomic_load(&idx->c.loads_rows);
	out->c.rows_replayed = atomic_load(&idx->c.rows_replayed);
	out->c.snapshots = atomic_load(&idx->c.snapshots);
	out->c.snapshot_bytes = atomic_load(&idx->c.snapshot_bytes);
	out->c.rebuilds = atomic_load(&idx->c.rebuilds);
	out->c.imports = atomic_load(&idx->c.imports);
	out->c.graph_builds = atomic_load(&idx->c.graph_builds);
	out->c.graph_imports = atomic_load(&idx->c.graph_imports);
	out->c.evictions = atomic_load(&idx->c.evictions);
	out->graph_searches = atomic_load(&idx->whole_searches);
	out->graph_fallbacks = atomic_load(&idx->whole_fallbacks);
}

bool
shard_index_partition_info(shard_index *idx, const char *partition, size_t len,
    shard_partition_info *out)
{
	part *p = part_get(idx, partition, len, false);

	memset(out, 0, sizeof *out);
	if (p == NULL)
		return false;
	pthread_mutex_lock(&p->load_mu);
	out->snap_seq = p->has_snap_file ? p->snap_seq : 0;
	out->dirty = atomic_load(&p->writes) - p->snap_writes;
	pthread_rwlock_rdlock(&p->rw);
	if (p->st != NULL) {
		out->loaded = true;
		out->hnsw = p->st->hnsw;
		out->labels = p->st->nlabels;
		out->live = p->st->nlive;
		out->stale = p->st->nlabels - p->st->nlive;
		out->applied_seq = p->st->applied_seq;
	} else {
		out->dirty = 0;
	}
	pthread_rwlock_unlock(&p->rw);
	pthread_mutex_unlock(&p->load_mu);
	part_unref(p);
	return true;
}

const shard_spec *
shard_index_spec(const shard_index *idx)
{
	return &idx->spec;
}

/* ===================================================================
 * Moves: carrying the index to the target worker
 *
 * Bundle (host order, like snapshots):
 *   magic "SHOALMVX" | fmt:u32 = 1 | nparts:u32 | incarnation:u64 (source's)
 *   per partition: an entry =
 *     name_len:u32 | pad:u32 | nver:u64 | snap_len:u64 |
 *     name, padded to 8 | (id, version)[nver]:u64 pairs, ids ascending |
 *     snapshot (partition.c encoding), padded to 8
 *   then, optionally, the shard-level graph: magic "SHOALGRF" | an entry
 *     (name "(shard)"; its pairs cover every live row of the shard)
 * The pairs list every id whose last write the snapshot holds (its row's
 * seq <= the snapshot's applied_seq): the target keeps a label of the
 * snapshot only if its own row of that id has the same version (rows are
 * copied with their versions), and applies every other row -- the same
 * reconcile as a restart, keyed by versions instead of the source's
 * commit sequences.  The graph goes in a trailer, not as one more
 * partition, so that a worker of the previous format (which reads nparts
 * entries and ignores what follows) still installs the partitions and
 * never mistakes the graph for a partition named "(shard)".
 * =================================================================== */

#define MOVE_MAGIC "SHOALMVX"
#define MOVE_GRAPH_MAGIC "SHOALGRF"
#define MOVE_FMT 1u

static void
buf_put(uint8_t **b, size_t *n, size_t *cap, const void *p, size_t len)
{
	size_t pad = (8 - len % 8) % 8;
	if (*n + len + pad > *cap) {
		size_t c = *cap ? *cap : 4096;
		while (c < *n + len + pad)
			c *= 2;
		*b = xrealloc(*b, c);
		*cap = c;
	}
	if (len > 0)
		memcpy(*b + *n, p, len);
	memset(*b + *n + len, 0, pad);
	*n += len + pad;
}

/* One partition (or the shard-level graph) into the bundle, preceded by
 * `magic` (8 bytes) when not NULL; false when it has no HNSW graph to
 * carry (the target builds a small or flat one as cheaply). */
static bool
export_part(shard_index *idx, part *p, const char *magic, uint8_t **b, size_t *n, size_t *cap,
    shoal_status *st)
{
	uint8_t *snap = NULL;
	size_t slen = 0, nver = 0, vcap = 0;
	uint64_t *vers = NULL, S;
	rowstore_iter *it = NULL;
	rowstore_row r;
	bool done = false;
	shoal_code rv;

	pthread_mutex_lock(&p->load_mu); /* no eviction meanwhile */
	pthread_rwlock_rdlock(&p->rw);
	if (p->st == NULL || !p->st->hnsw) {
		pthread_rwlock_unlock(&p->rw);
		pthread_mutex_unlock(&p->load_mu);
		return false;
	}
	S = p->st->applied_seq;
	rv = pstate_serialize(p->st, &idx->spec, p->name, p->len, &snap, &slen, st);
	pthread_rwlock_unlock(&p->rw);
	pthread_mutex_unlock(&p->load_mu);
	/* A row with seq <= S now had that write then: the snapshot holds it.
	 * Rows are read (not just membership keys) for their versions; the
	 * graph's rows are every live row of the shard. */
	rowstore_iter_opts o = {.partition_only = !p->whole, .partition = p->name,
	    .partition_len = p->len};
	if (rv == SHOAL_OK)
		rv = rowstore_iter_open(idx->rs, idx->spec.shard_id, &o, &it, st);
	while (rv == SHOAL_OK && (rv = rowstore_iter_next(it, &r, &done, st)) == SHOAL_OK && !done) {
		if (r.seq > S)
			continue;
		if (nver == vcap) {
			vcap = vcap ? vcap * 2 : 1024;
			vers = xrealloc(vers, vcap * 2 * sizeof *vers);
		}
		vers[2 * nver] = r.id;
		vers[2 * nver + 1] = r.version;
		nver++;
	}
	if (it != NULL)
		rowstore_iter_close(it);
	if (rv == SHOAL_OK) {
		uint32_t hdr[2] = {(uint32_t)p->len, 0};
		uint64_t sz[2] = {nver, slen};
		if (magic != NULL)
			buf_put(b, n, cap, magic, 8);
		buf_put(b, n, cap, hdr, sizeof hdr);
		buf_put(b, n, cap, sz, sizeof sz);
		buf_put(b, n, cap, p->name, p->len);
		buf_put(b, n, cap, vers, nver * 2 * sizeof *vers);
		buf_put(b, n, cap, snap, slen);
	} else {
		log_warn("shard %" PRIu64 ": %s '%s' not exported: %s", idx->spec.shard_id,
		    p->whole ? "shard-level graph" : "partition", p->name, st->msg);
	}
	free(vers);
	free(snap);
	return rv == SHOAL_OK;
}

shoal_code
shard_index_export(shard_index *idx, uint8_t **out, size_t *len, uint32_t *nparts, bool *graph,
    shoal_status *st)
{
	part **all;
	size_t n = part_all(idx, &all), blen = 0, bcap = 0;
	uint8_t *b = NULL;
	uint32_t hdr[2] = {MOVE_FMT, 0};
	uint32_t np = 0;
	bool g = false;
	shoal_status pst;

	buf_put(&b, &blen, &bcap, MOVE_MAGIC, 8);
	buf_put(&b, &blen, &bcap, hdr, sizeof hdr);
	buf_put(&b, &blen, &bcap, &idx->spec.incarnation, 8);
	for (size_t i = 0; i < n; i++) { /* the graph is last (part_all): the trailer */
		if (!all[i]->whole && export_part(idx, all[i], NULL, &b, &blen, &bcap, &pst))
			np++;
		else if (all[i]->whole)
			g = export_part(idx, all[i], MOVE_GRAPH_MAGIC, &b, &blen, &bcap, &pst);
		part_unref(all[i]);
	}
	free(all);
	memcpy(b + 12, &np, 4);
	*out = b;
	*len = blen;
	*nparts = np + g;
	if (graph != NULL)
		*graph = g;
	(void)st;
	return SHOAL_OK;
}

/* Installs one entry of a bundle into p (a partition, or the shard-level
 * graph; the caller's reference): the snapshot reconciled by versions
 * against this shard's rows, with the capture of a load (writes go on).
 * FAILED_PRECONDITION when p is already loaded here. */
static shoal_code
import_part(shard_index *idx, part *p, uint64_t inc, const uint64_t *vers, size_t nver,
    const uint8_t *snap, size_t slen, size_t *napplied, shoal_status *st)
{
	shard_spec spec = idx->spec;
	uint64_t seq0 = 0;
	pstate *s = NULL;
	shoal_code rv;

	*napplied = 0;
	spec.incarnation = inc; /* the snapshot is of the source's incarnation */
	if (idx->mem != NULL)
		ixmem_make_room(idx->mem, slen);
	pthread_mutex_lock(&p->load_mu);
	pthread_mutex_lock(&p->pend_mu);
	bool loaded = p->st != NULL;
	pthread_mutex_unlock(&p->pend_mu);
	if (loaded || p->dead) {
		pthread_mutex_unlock(&p->load_mu);
		return shoal_status_set(st, SHOAL_FAILED_PRECONDITION, "already loaded");
	}
	capture_start(p);
	if ((rv = rowstore_shard_seq(idx->rs, idx->spec.shard_id, &seq0, st)) == SHOAL_OK) {
		rowstore_view *view = rowstore_view_open(idx->rs);
		rv = pstate_deserialize(snap, slen, &spec, p->name, p->len, &s, st);
		if (rv == SHOAL_OK)
			rv = reconcile(idx, p, view, seq0, s, vers, nver, napplied, st);
		rowstore_view_close(idx->rs, view);
	}
	*napplied += capture_finish(idx, p, &s, &rv, st);
	pstate_free(s); /* only on failure */
	if (rv == SHOAL_OK) {
		p->snap_writes = atomic_load(&p->writes) - *napplied;
		part_snapshot(idx, p, NULL); /* ours now: a restart loads it */
	}
	pthread_mutex_unlock(&p->load_mu);
	return rv;
}

/* Parses the entry at b[*off..len) and installs it: into the shard-level
 * graph when `graph`, else into the partition it names.  Returns
 * INVALID_ARGUMENT (nothing installed) for a truncated or malformed entry;
 * OK otherwise, *ok saying whether it was installed (a refusal is
 * logged: that index loads from rows). */
static shoal_code
import_entry(shard_index *idx, const uint8_t *b, size_t len, size_t *off, uint64_t inc, bool graph,
    bool *ok, shoal_status *st)
{
	uint32_t ph[2];
	uint64_t sz[2];

	*ok = false;
	if (len - *off < 24)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT, "index bundle truncated");
	memcpy(ph, b + *off, 8);
	memcpy(sz, b + *off + 8, 16);
	*off += 24;
	size_t nlen = ph[0], npad = (nlen + 7) / 8 * 8;
	if (nlen > len - *off || sz[0] > (len - *off) / 16 || sz[1] > len - *off ||
	    npad + sz[0] * 16 + (sz[1] + 7) / 8 * 8 > len - *off)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT, "index bundle truncated");
	const char *name = (const char *)b + *off;
	uint64_t *vers = xmalloc(sz[0] * 16 + 1); /* aligned copy */
	memcpy(vers, b + *off + npad, sz[0] * 16);
	const uint8_t *snap = b + *off + npad + sz[0] * 16;
	*off += npad + sz[0] * 16 + (sz[1] + 7) / 8 * 8;
	bool sorted = true;
	for (size_t k = 1; k < sz[0]; k++)
		sorted = sorted && vers[2 * k - 2] < vers[2 * k];
	size_t napplied = 0;
	shoal_status pst;
	shoal_code rv;
	if (!sorted) {
		rv = shoal_status_set(&pst, SHOAL_INVALID_ARGUMENT, "ids unsorted");
	} else {
		part *p = graph ? idx->whole : part_get(idx, name, nlen, true);
		if (graph)
			atomic_fetch_add(&p->refs, 1);
		rv = import_part(idx, p, inc, vers, sz[0], snap, sz[1], &napplied, &pst);
		part_unref(p);
	}
	free(vers);
	const char *what = graph ? "shard-level graph" : "partition";
	if (rv == SHOAL_OK) {
		atomic_fetch_add(graph ? &idx->c.graph_imports : &idx->c.imports, 1);
		atomic_fetch_add(&idx->c.rows_replayed, napplied);
		*ok = true;
		log_info("shard %" PRIu64 ": %s '%.*s' installed from the moved index, %zu rows "
			 "applied on top",
		    idx->spec.shard_id, what, (int)nlen, name, napplied);
	} else {
		log_warn("shard %" PRIu64 ": moved index of %s '%.*s' not used (%s); it loads from "
			 "rows",
		    idx->spec.shard_id, what, (int)nlen, name, pst.msg);
	}
	return SHOAL_OK;
}

shoal_code
shard_index_import(shard_index *idx, const uint8_t *b, size_t len, uint32_t *installed,
    uint32_t *failed, bool *graph, shoal_status *st)
{
	uint32_t hdr[2], np;
	uint64_t inc;
	size_t off = 24;
	bool ok;

	*installed = *failed = 0;
	if (graph != NULL)
		*graph = false;
	if (len < 24 || memcmp(b, MOVE_MAGIC, 8) != 0)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT, "not an index bundle");
	memcpy(hdr, b + 8, 8);
	memcpy(&inc, b + 16, 8);
	if (hdr[0] != MOVE_FMT)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "index bundle format %u (this worker reads %u)", hdr[0], MOVE_FMT);
	np = hdr[1];
	for (uint32_t i = 0; i <= np; i++) {
		bool g = i == np; /* after the partitions: the graph's trailer, if any */
		if (g && (len - off < 8 || memcmp(b + off, MOVE_GRAPH_MAGIC, 8) != 0))
			break;
		if (g)
			off += 8;
		shoal_code rv = import_entry(idx, b, len, &off, inc, g, &ok, st);
		if (rv != SHOAL_OK)
			return rv;
		if (ok)
			(*installed)++;
		else
			(*failed)++;
		if (g && graph != NULL)
			*graph = ok;
	}
	if (idx->mem != NULL && ixmem_over(idx->mem))
		ixmem_enforce(idx->mem);
	return SHOAL_OK;
}
