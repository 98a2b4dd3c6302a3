/* move.h -- online moves of a shard group from one worker to another
 * while it serves reads and writes (issue 5).  A shard group is either a
 * dedicated tenant's shards (one per collection; move id = the tenant's
 * name) or shard i of a shared collection's shard map together with shard
 * i of every collection colocated on that map (move id "shard:N", N = the
 * map id + i, i.e. shard i's id in the map's first collection).  Both go
 * through the same machine; only where the placement lives differs
 * (catalog_move_tenant vs catalog_move_shard_rec).
 *
 * A move runs on a thread of its own through a
 * durable state machine whose record is in the catalog ("m" id, a packed
 * shoal.MoveInfo), written before each step:
 *
 *   CREATING  CreateShard on the target for every collection's shard.
 *   COPYING   dual writes on (every upsert/delete of the tenant goes to
 *             the source, then the target, with the SAME versions; see
 *             the gate below), then each shard copied: ScanShard on the
 *             source in id order, rows and tombstones with their versions,
 *             applied on the target by Upsert/Delete.  Versions make copy
 *             and dual writes commute: a row the target already has at a
 *             newer version stays.  Throttled to max_mbps.
 *   CUTOVER   pre-check without a fence: a version cut, the writes
 *             below it drained, every row at or below it compared on
 *             both sides (ShardChecksum with rows: id, version, hash of
 *             the vector); a mismatch aborts with the source serving.
 *             Then a write fence on the tenant (new writes wait, writes
 *             in flight drain): the ids written since the cut and both
 *             shards' counters are re-checked, the placement flips in the
 *             catalog (new epoch) in the SAME durable write as the
 *             record's CLEANUP state, and the fence lifts.  fence_ms is
 *             measured.
 *   CLEANUP   the source's shards are raised to the new epoch (requests
 *             planned before the flip re-route to the target) and, after
 *             a grace period, dropped.
 *   DONE / ABORTED.  An abort drops the target's copies; the source never
 *             stopped serving.
 *
 * Crash of the coordinator: move_create() reads the records; a move in
 * CREATING, COPYING or CUTOVER restarts from CREATING (idempotent: shards
 * are created if missing, the copy starts again from id 0 with dual writes
 * on before it), one in CLEANUP finishes its drops.  The placement flip is
 * atomic with the state, so the tenant is served by exactly one worker's
 * shards at any time.  A target that misses a dual write (call failed)
 * marks the move as diverged and it aborts: an acknowledged write is never
 * on the source only after a cutover.
 *
 * The gate (per move id with an active move): router.c's dedicated Upsert
 * and Delete call move_write_enter() before reading the placement and
 * move_write_exit() after the worker answered; dist.c's shared ones enter
 * the gate of every shard they touch, then read the shard map again.
 * Enter waits while the move is fenced; it says whether to dual-write and
 * where.  Turning dual
 * writes on is done under a fence too, so no write that skipped the target
 * can still be in flight when the copy starts.
 *
 * Threading: all functions are thread-safe; one mutex guards the move
 * table and gates (never held across a worker call).
 */
#ifndef SHOAL_COORD_MOVE_H
#define SHOAL_COORD_MOVE_H

#include <stdbool.h>
#include <stdint.h>

#include "catalog.h"
#include "shoal.pb-c.h"
#include "status.h"

struct router;
typedef struct move_mgr move_mgr;

/* How long the source keeps a moved shard group after the flip, so that
 * requests planned before it still find it (then they re-route). */
#define MOVE_GRACE_MS 2000u
/* A move gives up (and rolls back) after failing this long in a row. */
#define MOVE_RETRY_MS 60000u
/* Move ids of shard groups start with this (':' is not allowed in tenant
 * names, so the two kinds never collide). */
#define MOVE_SHARD_PREFIX "shard:"

/* Reads the move records of r's catalog and resumes the unfinished ones
 * on threads of their own.  *out is freed by move_destroy.  INTERNAL /
 * DATA_LOSS when the records cannot be read. */
shoal_code move_create(struct router *r, move_mgr **out, shoal_status *st);

/* Stops every move thread (a move stays recorded and resumes at the next
 * start) and frees m.  NULL ok. */
void move_destroy(move_mgr *m);

/* ---- the write gate (router.c) ---------------------------------------- */

typedef struct move_write {
	bool gated;                       /* enter counted us: call exit */
	unsigned gen;                     /* private: the write's generation */
	bool dual;                        /* also write to `target` */
	char target[CATALOG_NAME_MAX];
	char id[CATALOG_NAME_MAX];        /* the move (gate) it entered */
} move_write;

/* Before a write to a shard group that may be moving -- a dedicated
 * tenant's (id = the tenant) or a shared shard's (id = move_shard_key):
 * waits while that move is fenced, then fills *w.  Cheap when no move is
 * active. */
void move_write_enter(move_mgr *m, const char *id, move_write *w);
/* After it: target_ok false (with w->dual) marks the move as diverged. */
void move_write_exit(move_mgr *m, move_write *w, bool target_ok);
/* During a move's copy (w->dual): sends the write `in` that the source
 * applied to the target too, same shard and versions, no routing epoch
 * (the target's shards are not placed yet).  False when the target did not
 * apply it (pass it to move_write_exit: the move then aborts).  True
 * without a call when !w->dual. */
bool move_write_dual(struct router *r, void *cd, const move_write *w, unsigned method,
    const ProtobufCMessage *in);

/* The gate key (= move id) of shard `index` of shard map `group`, for
 * shared writes: move_write_enter(m, key, ...) for each shard touched. */
void move_shard_key(char *buf, size_t cap, uint64_t group, uint32_t index);

/* OK unless a shard group of shard map `group` is moving:
 * FAILED_PRECONDITION then (creating or dropping a collection on the map
 * is refused during a move). */
shoal_code move_check_group(move_mgr *m, uint64_t group, shoal_status *st);

/* OK unless tenant has an active move: FAILED_PRECONDITION then (DDL on
 * a moving tenant is refused; call it under the tenant's DDL lock). */
shoal_code move_check_ddl(move_mgr *m, const char *tenant, shoal_status *st);

/* True while `worker` is the source or target of an active move. */
bool move_worker_busy(move_mgr *m, const char *worker);

/* ---- rpc handlers (router.c hands them over) -------------------------- */

void move_rpc_start(move_mgr *m, const Shoal__StartMoveRequest *in,
    Shoal__MoveInfo_Closure done, void *cd);
void move_rpc_get(move_mgr *m, const Shoal__MoveRequest *in, Shoal__MoveInfo_Closure done,
    void *cd);
void move_rpc_list(move_mgr *m, Shoal__ListMovesReply_Closure done, void *cd);
void move_rpc_cancel(move_mgr *m, const Shoal__MoveRequest *in, Shoal__MoveInfo_Closure done,
    void *cd);

/* ---- for rebalance.c --------------------------------------------------- */

/* Starts moving tenant to worker `to` (the StartMove checks); returns once
 * the move is recorded and its thread runs. */
shoal_code move_start(move_mgr *m, const char *tenant, const char *to, double max_mbps,
    shoal_status *st);
/* The same for the shard group of shared shard `shard_id` (any
 * collection's shard: the group is found from it); the move id goes to
 * id (cap bytes, at least CATALOG_NAME_MAX).  NOT_FOUND when shard_id is
 * no shared collection's shard, FAILED_PRECONDITION for a reference
 * replica or a group already on `to`, ALREADY_EXISTS when it is moving. */
shoal_code move_start_shard(move_mgr *m, uint64_t shard_id, const char *to, double max_mbps,
    char *id, size_t cap, shoal_status *st);
/* Copies move id's info into *out, its strings into strs (cap bytes, at
 * least 4 x 600; shards are left out).  False when unknown. */
bool move_snapshot(move_mgr *m, const char *id, Shoal__MoveInfo *out, char *strs, size_t cap);
/* The worker that holds move id's shard group now (a tenant's, or a
 * "shard:N" group's) into worker (CATALOG_NAME_MAX); false when unknown. */
bool move_item_worker(move_mgr *m, const char *id, char *worker);
/* Asks move id to roll back (no-op once it cut over or ended). */
void move_cancel(move_mgr *m, const char *id);

/* Name of a state for messages ("copying", ...). */
const char *move_state_name(int state);

#endif
