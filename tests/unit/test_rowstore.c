/* test_rowstore.c -- the worker's row store on real RocksDB directories:
 * the version rule, tombstones, batch validation, counts, reopen and
 * kill -9 durability, shard create/drop, partitions (counts, membership,
 * moves) and the commit sequence, shard incarnations, and the refusal of a
 * database of the old format. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <math.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <rocksdb/c.h>

#include "rowstore.h"
#include "vecmath.h"
#include "unit_tmpdir.h"

typedef struct fixture {
	char dir[64];
	rowstore *rs;
} fixture;

static int
setup(void **state)
{
	fixture *f = calloc(1, sizeof *f);
	shoal_status st;
	rowstore_opts o = {0};

	if (unit_tmpdir_make(f->dir, sizeof f->dir, "rowstore") == NULL)
		return -1;
	if (rowstore_open(f->dir, &o, &f->rs, &st) != SHOAL_OK) {
		fprintf(stderr, "open: %s\n", st.msg);
		return -1;
	}
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	fixture *f = *state;
	rowstore_close(f->rs);
	unit_tmpdir_remove(f->dir);
	free(f);
	return 0;
}

static void
reopen(fixture *f)
{
	shoal_status st;
	rowstore_opts o = {0};
	rowstore_close(f->rs);
	f->rs = NULL;
	assert_int_equal(rowstore_open(f->dir, &o, &f->rs, &st), SHOAL_OK);
}

static void
make_shard(rowstore *rs, uint64_t id, uint32_t dim, int metric)
{
	shard_spec s = {.shard_id = id, .dim = dim, .metric = metric};
	shoal_status st;
	bool created;
	assert_int_equal(rowstore_create_shard(rs, &s, &created, &st), SHOAL_OK);
	assert_true(created);
}

static rowstore_row
up(uint64_t id, uint64_t version, const float *v, uint32_t dim)
{
	return (rowstore_row){.id = id, .version = version, .vector = v, .dim = dim};
}

static rowstore_row
del(uint64_t id, uint64_t version)
{
	return (rowstore_row){.id = id, .version = version, .deleted = true};
}

/* Writes one row; returns its outcome flags. */
static uint8_t
write1(rowstore *rs, uint64_t shard, rowstore_row r)
{
	shoal_status st;
	uint8_t oc = 0xff;
	assert_int_equal(rowstore_write(rs, shard, &r, 1, &oc, NULL, NULL, NULL, &st), SHOAL_OK);
	return oc;
}

/* The stored version of id (0 = no row), and whether it is a tombstone. */
static uint64_t
stored(rowstore *rs, uint64_t shard, uint64_t id, bool *deleted, float *v0)
{
	rowstore_row r;
	shoal_status st;
	void *buf;
	shoal_code rv = rowstore_get(rs, shard, id, &r, &buf, &st);
	if (rv == SHOAL_NOT_FOUND)
		return 0;
	assert_int_equal(rv, SHOAL_OK);
	*deleted = r.deleted;
	if (v0 != NULL)
		*v0 = r.deleted ? NAN : r.vector[0];
	uint64_t ver = r.version;
	free(buf);
	return ver;
}

static void
test_version_rule(void **state)
{
	fixture *f = *state;
	float a[4] = {1, 2, 3, 4}, b[4] = {5, 6, 7, 8}, c[4] = {9, 9, 9, 9};
	bool deleted;
	float x0;

	make_shard(f->rs, 1, 4, VECMATH_L2);
	assert_int_equal(write1(f->rs, 1, up(10, 5, a, 4)), ROWSTORE_APPLIED);
	/* same version again (a resend): nothing changes */
	assert_int_equal(write1(f->rs, 1, up(10, 5, b, 4)), 0);
	/* older: ignored */
	assert_int_equal(write1(f->rs, 1, up(10, 4, c, 4)), 0);
	assert_int_equal(stored(f->rs, 1, 10, &deleted, &x0), 5);
	assert_false(deleted);
	assert_true(x0 == 1.0f);
	/* newer: applied, and it replaced a live row */
	assert_int_equal(write1(f->rs, 1, up(10, 6, b, 4)), ROWSTORE_APPLIED | ROWSTORE_WAS_LIVE);
	assert_int_equal(stored(f->rs, 1, 10, &deleted, &x0), 6);
	assert_true(x0 == 5.0f);
}

static void
test_tombstones(void **state)
{
	fixture *f = *state;
	float a[2] = {1, 2};
	uint64_t live, tomb;
	bool deleted;
	shoal_status st;

	make_shard(f->rs, 2, 2, VECMATH_L2);
	write1(f->rs, 2, up(1, 3, a, 2));
	write1(f->rs, 2, up(2, 3, a, 2));
	assert_int_equal(write1(f->rs, 2, del(1, 7)), ROWSTORE_APPLIED | ROWSTORE_WAS_LIVE);
	assert_int_equal(stored(f->rs, 2, 1, &deleted, NULL), 7);
	assert_true(deleted);
	/* a late, older upsert does not resurrect it */
	assert_int_equal(write1(f->rs, 2, up(1, 6, a, 2)), 0);
	assert_int_equal(write1(f->rs, 2, del(1, 7)), 0); /* resent delete */
	/* deleting an id never seen leaves a tombstone: its older upsert loses */
	assert_int_equal(write1(f->rs, 2, del(99, 4)), ROWSTORE_APPLIED);
	assert_int_equal(write1(f->rs, 2, up(99, 3, a, 2)), 0);
	assert_int_equal(rowstore_count(f->rs, 2, &live, &tomb, &st), SHOAL_OK);
	assert_int_equal(live, 1);
	assert_int_equal(tomb, 2);
	/* a newer upsert brings it back */
	assert_int_equal(write1(f->rs, 2, up(1, 8, a, 2)), ROWSTORE_APPLIED);
	assert_int_equal(rowstore_count(f->rs, 2, &live, &tomb, &st), SHOAL_OK);
	assert_int_equal(live, 2);
	assert_int_equal(tomb, 1);
}

static void
test_batch_validation(void **state)
{
	fixture *f = *state;
	float good[4] = {1, 2, 3, 4}, short3[3] = {1, 2, 3}, nan4[4] = {1, 2, NAN, 4},
	      inf4[4] = {INFINITY, 0, 0, 0}, zero4[4] = {0};
	rowstore_row rows[2];
	shoal_status st;
	uint32_t napplied = 99;
	bool deleted;

	make_shard(f->rs, 3, 4, VECMATH_COSINE);
	rows[0] = up(1, 1, good, 4);
	rows[1] = up(2, 1, short3, 3);
	assert_int_equal(rowstore_write(f->rs, 3, rows, 2, NULL, &napplied, NULL, NULL, &st),
	    SHOAL_INVALID_ARGUMENT);
	assert_string_equal(st.msg, "point 2: vector has 3 dimensions, collection expects 4");
	assert_int_equal(napplied, 0);
	assert_int_equal(stored(f->rs, 3, 1, &deleted, NULL), 0); /* nothing written */

	rows[1] = up(7, 1, nan4, 4);
	assert_int_equal(rowstore_write(f->rs, 3, rows, 2, NULL, NULL, NULL, NULL, &st),
	    SHOAL_INVALID_ARGUMENT);
	assert_non_null(strstr(st.msg, "point 7"));
	assert_non_null(strstr(st.msg, "component 2 is NaN"));
	rows[1] = up(8, 1, inf4, 4);
	assert_int_equal(rowstore_write(f->rs, 3, rows, 2, NULL, NULL, NULL, NULL, &st),
	    SHOAL_INVALID_ARGUMENT);
	assert_non_null(strstr(st.msg, "component 0 is infinite"));
	rows[1] = up(9, 1, zero4, 4); /* cosine shard */
	assert_int_equal(rowstore_write(f->rs, 3, rows, 2, NULL, NULL, NULL, NULL, &st),
	    SHOAL_INVALID_ARGUMENT);
	assert_non_null(strstr(st.msg, "zero vector"));
	rows[1] = up(10, 0, good, 4);
	assert_int_equal(rowstore_write(f->rs, 3, rows, 2, NULL, NULL, NULL, NULL, &st),
	    SHOAL_INVALID_ARGUMENT);
	assert_non_null(strstr(st.msg, "version 0"));
	assert_int_equal(stored(f->rs, 3, 1, &deleted, NULL), 0);
	/* unknown shard */
	assert_int_equal(rowstore_write(f->rs, 42, rows, 1, NULL, NULL, NULL, NULL, &st),
	    SHOAL_NOT_FOUND);
}

static void
test_duplicates_in_batch(void **state)
{
	fixture *f = *state;
	float a[1] = {1}, b[1] = {2}, c[1] = {3};
	rowstore_row rows[4] = {up(5, 2, a, 1), up(5, 1, b, 1), up(5, 3, c, 1), del(6, 1)};
	uint8_t oc[4];
	uint32_t napplied;
	uint64_t live, tomb;
	shoal_status st;
	bool deleted;
	float x0;

	make_shard(f->rs, 4, 1, VECMATH_L2);
	assert_int_equal(rowstore_write(f->rs, 4, rows, 4, oc, &napplied, NULL, NULL, &st), SHOAL_OK);
	assert_int_equal(napplied, 3);
	assert_int_equal(oc[0], ROWSTORE_APPLIED);
	assert_int_equal(oc[1], 0);
	assert_int_equal(oc[2], ROWSTORE_APPLIED | ROWSTORE_WAS_LIVE);
	assert_int_equal(oc[3], ROWSTORE_APPLIED);
	assert_int_equal(stored(f->rs, 4, 5, &deleted, &x0), 3);
	assert_true(x0 == 3.0f);
	assert_int_equal(rowstore_count(f->rs, 4, &live, &tomb, &st), SHOAL_OK);
	assert_int_equal(live, 1);
	assert_int_equal(tomb, 1);
}

static void
test_payload_text_and_iter(void **state)
{
	fixture *f = *state;
	float v[3][2] = {{1, 1}, {2, 2}, {3, 3}};
	rowstore_row rows[3];
	rowstore_iter *it;
	rowstore_row r;
	shoal_status st;
	bool done;
	void *buf;

	make_shard(f->rs, 5, 2, VECMATH_IP);
	for (int i = 0; i < 3; i++) {
		rows[i] = up((uint64_t)(30 - 10 * i), 1, v[i], 2); /* ids 30, 20, 10 */
		rows[i].text = "hello";
		rows[i].text_len = (size_t)(i + 1); /* "h", "he", "hel" */
		rows[i].payload = "\x01\x02\x03";
		rows[i].payload_len = 3;
	}
	assert_int_equal(rowstore_write(f->rs, 5, rows, 3, NULL, NULL, NULL, NULL, &st), SHOAL_OK);
	write1(f->rs, 5, del(20, 2));

	assert_int_equal(rowstore_get(f->rs, 5, 10, &r, &buf, &st), SHOAL_OK);
	assert_int_equal(r.text_len, 3);
	assert_memory_equal(r.text, "hel", 3);
	assert_int_equal(r.payload_len, 3);
	assert_memory_equal(r.payload, "\x01\x02\x03", 3);
	assert_true(r.vector[1] == 3.0f);
	free(buf);

	/* live rows, in id order */
	assert_int_equal(rowstore_iter_open(f->rs, 5, NULL, &it, &st), SHOAL_OK);
	uint64_t seen[4];
	int n = 0;
	while (rowstore_iter_next(it, &r, &done, &st) == SHOAL_OK && !done) {
		assert_true(n < 4);
		seen[n++] = r.id;
		assert_int_equal(r.dim, 2);
	}
	rowstore_iter_close(it);
	assert_int_equal(n, 2);
	assert_int_equal(seen[0], 10);
	assert_int_equal(seen[1], 30);
	/* with tombstones */
	assert_int_equal(rowstore_iter_open(f->rs, 5, &(rowstore_iter_opts){.with_tombstones = true}, &it, &st), SHOAL_OK);
	n = 0;
	while (rowstore_iter_next(it, &r, &done, &st) == SHOAL_OK && !done)
		seen[n++] = r.id;
	rowstore_iter_close(it);
	assert_int_equal(n, 3);
	assert_int_equal(seen[1], 20);
}

static void
test_create_idempotent(void **state)
{
	fixture *f = *state;
	shard_spec s = {.shard_id = 6, .dim = 8, .metric = VECMATH_COSINE}, got;
	shoal_status st;
	bool created;

	assert_int_equal(rowstore_create_shard(f->rs, &s, &created, &st), SHOAL_OK);
	assert_true(created);
	/* identical spec, spelled with the explicit defaults: OK, not created */
	s.m = SHARD_SPEC_DEFAULT_M;
	s.ef_construction = SHARD_SPEC_DEFAULT_EF_CONSTRUCTION;
	assert_int_equal(rowstore_create_shard(f->rs, &s, &created, &st), SHOAL_OK);
	assert_false(created);
	s.dim = 9;
	assert_int_equal(rowstore_create_shard(f->rs, &s, &created, &st), SHOAL_ALREADY_EXISTS);
	assert_non_null(strstr(st.msg, "different spec"));
	assert_int_equal(rowstore_shard_spec(f->rs, 6, &got, &st), SHOAL_OK);
	assert_int_equal(got.dim, 8);
	assert_int_equal(got.m, 16);
	/* bad specs */
	s = (shard_spec){.shard_id = 7, .dim = 0, .metric = VECMATH_L2};
	assert_int_equal(rowstore_create_shard(f->rs, &s, NULL, &st), SHOAL_INVALID_ARGUMENT);
	assert_non_null(strstr(st.msg, "dim 0"));
	s = (shard_spec){.shard_id = 7, .dim = 4, .metric = 0};
	assert_int_equal(rowstore_create_shard(f->rs, &s, NULL, &st), SHOAL_INVALID_ARGUMENT);
	assert_int_equal(rowstore_shard_spec(f->rs, 7, &got, &st), SHOAL_NOT_FOUND);
}

static void
test_reopen_durability(void **state)
{
	fixture *f = *state;
	float v[3] = {1, 2, 3};
	uint64_t live, tomb, points;
	uint32_t shards;
	shoal_status st;
	shard_spec *specs;
	bool deleted;

	make_shard(f->rs, 8, 3, VECMATH_L2);
	make_shard(f->rs, UINT64_MAX, 3, VECMATH_IP); /* edge of the key range */
	for (uint64_t id = 0; id < 100; id++)
		write1(f->rs, 8, up(id, 1, v, 3));
	write1(f->rs, 8, del(5, 2));
	write1(f->rs, UINT64_MAX, up(UINT64_MAX, 9, v, 3));
	reopen(f);
	assert_int_equal(rowstore_list_shards(f->rs, &specs), 2);
	assert_int_equal(specs[0].shard_id, 8);
	assert_int_equal(specs[1].shard_id, UINT64_MAX);
	assert_int_equal(specs[1].metric, VECMATH_IP);
	free(specs);
	assert_int_equal(rowstore_count(f->rs, 8, &live, &tomb, &st), SHOAL_OK);
	assert_int_equal(live, 99);
	assert_int_equal(tomb, 1);
	assert_int_equal(rowstore_count(f->rs, UINT64_MAX, &live, &tomb, &st), SHOAL_OK);
	assert_int_equal(live, 1);
	assert_int_equal(stored(f->rs, 8, 5, &deleted, NULL), 2);
	assert_true(deleted);
	assert_int_equal(stored(f->rs, UINT64_MAX, UINT64_MAX, &deleted, NULL), 9);
	rowstore_totals(f->rs, &points, &shards);
	assert_int_equal(points, 100);
	assert_int_equal(shards, 2);
	assert_true(rowstore_bytes(f->rs) > 0);
	/* the version rule still holds after the restart */
	assert_int_equal(write1(f->rs, 8, up(5, 2, v, 3)), 0);
}

static void
test_drop(void **state)
{
	fixture *f = *state;
	float v[2] = {1, 2};
	uint64_t live, tomb;
	shoal_status st;
	rowstore_row r;
	bool deleted;
	void *buf;

	make_shard(f->rs, 9, 2, VECMATH_L2);
	make_shard(f->rs, 10, 2, VECMATH_L2);
	for (uint64_t id = 0; id < 50; id++) {
		write1(f->rs, 9, up(id, 1, v, 2));
		write1(f->rs, 10, up(id, 1, v, 2));
	}
	assert_int_equal(rowstore_drop_shard(f->rs, 9, &st), SHOAL_OK);
	assert_int_equal(rowstore_drop_shard(f->rs, 9, &st), SHOAL_NOT_FOUND);
	assert_int_equal(rowstore_get(f->rs, 9, 1, &r, &buf, &st), SHOAL_NOT_FOUND);
	assert_int_equal(rowstore_count(f->rs, 9, &live, &tomb, &st), SHOAL_NOT_FOUND);
	rowstore_row w = up(1, 5, v, 2);
	assert_int_equal(rowstore_write(f->rs, 9, &w, 1, NULL, NULL, NULL, NULL, &st),
	    SHOAL_NOT_FOUND);
	/* the neighbour is untouched */
	assert_int_equal(rowstore_count(f->rs, 10, &live, &tomb, &st), SHOAL_OK);
	assert_int_equal(live, 50);
	/* re-created, it starts empty: no old row (or version) comes back */
	make_shard(f->rs, 9, 2, VECMATH_L2);
	assert_int_equal(rowstore_count(f->rs, 9, &live, &tomb, &st), SHOAL_OK);
	assert_int_equal(live + tomb, 0);
	assert_int_equal(stored(f->rs, 9, 1, &deleted, NULL), 0);
	assert_int_equal(write1(f->rs, 9, up(1, 1, v, 2)), ROWSTORE_APPLIED);
	reopen(f);
	assert_int_equal(rowstore_count(f->rs, 9, &live, &tomb, &st), SHOAL_OK);
	assert_int_equal(live, 1);
	assert_int_equal(rowstore_count(f->rs, 10, &live, &tomb, &st), SHOAL_OK);
	assert_int_equal(live, 50);
}

static rowstore_row
upp(uint64_t id, uint64_t version, const float *v, uint32_t dim, const char *part)
{
	return (rowstore_row){.id = id, .version = version, .vector = v, .dim = dim,
	    .partition = part, .partition_len = strlen(part)};
}

/* Ids of a partition's members (id order), with their seqs. */
static size_t
members(rowstore *rs, uint64_t shard, const char *part, bool rows_too, uint64_t *ids,
    uint64_t *seqs, size_t cap)
{
	rowstore_iter_opts o = {.partition_only = true, .partition = part,
	    .partition_len = strlen(part), .members_only = !rows_too};
	rowstore_iter *it;
	rowstore_row r;
	shoal_status st;
	bool done;
	size_t n = 0;

	assert_int_equal(rowstore_iter_open(rs, shard, &o, &it, &st), SHOAL_OK);
	while (rowstore_iter_next(it, &r, &done, &st) == SHOAL_OK && !done) {
		assert_true(n < cap);
		ids[n] = r.id;
		seqs[n] = r.seq;
		if (rows_too) {
			assert_int_equal(r.partition_len, strlen(part));
			assert_memory_equal(r.partition, part, r.partition_len);
			assert_int_equal(r.dim, 2);
		}
		n++;
	}
	rowstore_iter_close(it);
	return n;
}

/* Partitions: counts, membership keys (moves, deletes, updates), the
 * commit sequence, and the commit hook's view of old partitions; all the
 * same after a reopen. */
typedef struct hook_log {
	uint64_t seq;
	size_t n_was_live;
	char old[8][8];
} hook_log;

static void
hook(void *arg, uint64_t seq, const rowstore_row *rows, size_t n, const rowstore_applied *ap)
{
	hook_log *h = arg;
	(void)rows;
	h->seq = seq;
	h->n_was_live = 0;
	for (size_t i = 0; i < n && h->n_was_live < 8; i++)
		if (ap[i].outcome & ROWSTORE_WAS_LIVE) {
			snprintf(h->old[h->n_was_live++], 8, "%.*s", (int)ap[i].old_partition_len,
			    ap[i].old_partition);
		}
}

static void
test_partitions(void **state)
{
	fixture *f = *state;
	float v[2] = {1, 2};
	uint64_t ids[16], seqs[16], seq, s1;
	rowstore_partition *pl;
	shoal_status st;
	hook_log h = {0};

	make_shard(f->rs, 11, 2, VECMATH_L2);
	assert_int_equal(rowstore_shard_seq(f->rs, 11, &seq, &st), SHOAL_OK);
	assert_int_equal(seq, 0);
	rowstore_row b1[] = {upp(1, 1, v, 2, "a"), upp(2, 1, v, 2, "a"), upp(3, 1, v, 2, "b"),
	    upp(4, 1, v, 2, "")};
	assert_int_equal(rowstore_write(f->rs, 11, b1, 4, NULL, NULL, hook, &h, &st), SHOAL_OK);
	s1 = h.seq;
	assert_true(s1 > 0);
	assert_int_equal(h.n_was_live, 0);
	assert_int_equal(rowstore_partition_count(f->rs, 11, "a", 1), 2);
	assert_int_equal(rowstore_partition_count(f->rs, 11, "b", 1), 1);
	assert_int_equal(rowstore_partition_count(f->rs, 11, "", 0), 1);
	assert_int_equal(rowstore_partition_count(f->rs, 11, "zz", 2), 0);
	/* a write that applies nothing takes no sequence number */
	rowstore_row stale = upp(1, 1, v, 2, "b");
	assert_int_equal(rowstore_write(f->rs, 11, &stale, 1, NULL, NULL, hook, &h, &st),
	    SHOAL_OK);
	assert_int_equal(rowstore_shard_seq(f->rs, 11, &seq, &st), SHOAL_OK);
	assert_int_equal(seq, s1);
	/* move 1 to b, update 2 in place, delete 3 (from b) */
	rowstore_row b2[] = {upp(1, 2, v, 2, "b"), upp(2, 2, v, 2, "a"), del(3, 2)};
	assert_int_equal(rowstore_write(f->rs, 11, b2, 3, NULL, NULL, hook, &h, &st), SHOAL_OK);
	assert_true(h.seq > s1);
	assert_int_equal(h.n_was_live, 3); /* the hook learns where each was */
	assert_string_equal(h.old[0], "a");
	assert_string_equal(h.old[1], "a");
	assert_string_equal(h.old[2], "b");
	uint64_t s2 = h.seq;
	assert_int_equal(members(f->rs, 11, "a", false, ids, seqs, 16), 1);
	assert_int_equal(ids[0], 2);
	assert_int_equal(seqs[0], s2);
	assert_int_equal(members(f->rs, 11, "b", true, ids, seqs, 16), 1);
	assert_int_equal(ids[0], 1);
	assert_int_equal(seqs[0], s2);
	assert_int_equal(members(f->rs, 11, "", true, ids, seqs, 16), 1);
	assert_int_equal(seqs[0], s1);
	assert_int_equal(rowstore_partition_count(f->rs, 11, "a", 1), 1);
	assert_int_equal(rowstore_partition_count(f->rs, 11, "b", 1), 1);
	/* a partition that empties leaves the listing */
	write1(f->rs, 11, del(2, 3));
	size_t np = rowstore_list_partitions(f->rs, 11, &pl);
	assert_int_equal(np, 2);
	assert_string_equal(pl[0].name, "");
	assert_string_equal(pl[1].name, "b");
	rowstore_partitions_free(pl, np);
	assert_int_equal(members(f->rs, 11, "a", false, ids, seqs, 16), 0);

	/* too long a partition name, or a NUL in it: refused, nothing written */
	char *longname = malloc(ROWSTORE_MAX_PARTITION + 2);
	memset(longname, 'x', ROWSTORE_MAX_PARTITION + 1);
	longname[ROWSTORE_MAX_PARTITION + 1] = '\0';
	rowstore_row bad[] = {upp(9, 1, v, 2, "ok"), upp(10, 1, v, 2, longname)};
	assert_int_equal(rowstore_write(f->rs, 11, bad, 2, NULL, NULL, NULL, NULL, &st),
	    SHOAL_INVALID_ARGUMENT);
	assert_non_null(strstr(st.msg, "point 10: partition"));
	free(longname);
	rowstore_row nul = {.id = 9, .version = 1, .vector = v, .dim = 2, .partition = "a\0b",
	    .partition_len = 3};
	assert_int_equal(rowstore_write(f->rs, 11, &nul, 1, NULL, NULL, NULL, NULL, &st),
	    SHOAL_INVALID_ARGUMENT);
	assert_int_equal(rowstore_partition_count(f->rs, 11, "ok", 2), 0);

	/* reopened: counts, members and sequence rebuilt from the rows */
	assert_int_equal(rowstore_shard_seq(f->rs, 11, &seq, &st), SHOAL_OK);
	reopen(f);
	assert_int_equal(rowstore_shard_seq(f->rs, 11, &s1, &st), SHOAL_OK);
	assert_int_equal(s1, seq);
	assert_int_equal(rowstore_partition_count(f->rs, 11, "b", 1), 1);
	assert_int_equal(rowstore_partition_count(f->rs, 11, "", 0), 1);
	assert_int_equal(rowstore_partition_count(f->rs, 11, "a", 1), 0);
	write1(f->rs, 11, upp(7, 1, v, 2, "b"));
	assert_int_equal(rowstore_shard_seq(f->rs, 11, &s1, &st), SHOAL_OK);
	assert_true(s1 > seq); /* keeps growing across restarts */
	rowstore_row r;
	void *buf;
	assert_int_equal(rowstore_get(f->rs, 11, 7, &r, &buf, &st), SHOAL_OK);
	assert_int_equal(r.partition_len, 1);
	assert_int_equal(r.seq, s1);
	free(buf);
	/* dropping the shard removes its membership keys too */
	assert_int_equal(rowstore_drop_shard(f->rs, 11, &st), SHOAL_OK);
	make_shard(f->rs, 11, 2, VECMATH_L2);
	assert_int_equal(members(f->rs, 11, "b", false, ids, seqs, 16), 0);
	assert_int_equal(rowstore_partition_count(f->rs, 11, "b", 1), 0);
}

/* Each creation of a shard id gets a new incarnation; retries keep it. */
static void
test_incarnation(void **state)
{
	fixture *f = *state;
	shard_spec s = {.shard_id = 12, .dim = 2, .metric = VECMATH_L2}, a, b;
	shoal_status st;

	assert_int_equal(rowstore_create_shard(f->rs, &s, NULL, &st), SHOAL_OK);
	assert_int_equal(rowstore_shard_spec(f->rs, 12, &a, &st), SHOAL_OK);
	assert_int_equal(rowstore_create_shard(f->rs, &s, NULL, &st), SHOAL_OK); /* retry */
	reopen(f);
	assert_int_equal(rowstore_shard_spec(f->rs, 12, &b, &st), SHOAL_OK);
	assert_true(a.incarnation == b.incarnation);
	assert_int_equal(rowstore_drop_shard(f->rs, 12, &st), SHOAL_OK);
	assert_int_equal(rowstore_create_shard(f->rs, &s, NULL, &st), SHOAL_OK);
	assert_int_equal(rowstore_shard_spec(f->rs, 12, &b, &st), SHOAL_OK);
	assert_true(a.incarnation != b.incarnation);
}

/* A database of the pre-release format 1 is refused with a clear message,
 * and left as it was. */
static void
test_old_format_refused(void **state)
{
	(void)state;
	char dir[64], path[128];
	rowstore *rs = NULL;
	rowstore_opts o = {0};
	shoal_status st;

	assert_non_null(unit_tmpdir_make(dir, sizeof dir, "oldfmt"));
	/* a format-1 marker, written with RocksDB directly */
	snprintf(path, sizeof path, "%s/rows", dir);
	rocksdb_options_t *opts = rocksdb_options_create();
	rocksdb_options_set_create_if_missing(opts, 1);
	char *err = NULL;
	rocksdb_t *db = rocksdb_open(opts, path, &err);
	assert_null(err);
	rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
	rocksdb_put(db, wo, "F", 1, "shoal-rowstore 1", 16, &err);
	assert_null(err);
	rocksdb_writeoptions_destroy(wo);
	rocksdb_close(db);
	rocksdb_options_destroy(opts);

	assert_int_equal(rowstore_open(dir, &o, &rs, &st), SHOAL_FAILED_PRECONDITION);
	assert_null(rs);
	assert_non_null(strstr(st.msg, "format 'shoal-rowstore 1'"));
	assert_non_null(strstr(st.msg, "reads 'shoal-rowstore 2'"));
	/* still refused: nothing was changed */
	assert_int_equal(rowstore_open(dir, &o, &rs, &st), SHOAL_FAILED_PRECONDITION);
	unit_tmpdir_remove(dir);
}

/* ---- kill -9: a child process writes, reports each acknowledged batch on
 * a pipe, and SIGKILLs itself mid-stream; every acknowledged row must be
 * there when the parent reopens the directory. */

#define KILL_BATCHES 200
#define KILL_BATCH 50

static int
kill9_child(const char *dir, int fd)
{
	rowstore *rs;
	rowstore_opts o = {0}; /* no --sync: the WAL in the page cache is enough */
	shoal_status st;
	float v[4] = {1, 2, 3, 4};
	rowstore_row rows[KILL_BATCH];
	shard_spec s = {.shard_id = 1, .dim = 4, .metric = VECMATH_L2};

	if (rowstore_open(dir, &o, &rs, &st) != SHOAL_OK ||
	    rowstore_create_shard(rs, &s, NULL, &st) != SHOAL_OK)
		return 1;
	for (int b = 0; b < KILL_BATCHES; b++) {
		for (int i = 0; i < KILL_BATCH; i++)
			rows[i] = up((uint64_t)(b * KILL_BATCH + i), 1, v, 4);
		if (rowstore_write(rs, 1, rows, KILL_BATCH, NULL, NULL, NULL, NULL, &st) != SHOAL_OK)
			return 1;
		int32_t acked = b + 1;
		if (write(fd, &acked, sizeof acked) != sizeof acked)
			return 1;
		if (b == KILL_BATCHES / 2)
			raise(SIGKILL); /* no close, no flush */
	}
	return 0;
}

static void
test_kill9_durability(void **state)
{
	(void)state;
	char dir[64];
	int fds[2], status;
	int32_t acked = 0, x;
	uint64_t live;
	rowstore *rs;
	rowstore_opts o = {0};
	shoal_status st;

	assert_non_null(unit_tmpdir_make(dir, sizeof dir, "kill9"));
	assert_int_equal(pipe(fds), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* a fresh process image: no RocksDB state inherited from this one */
		char fdarg[16];
		close(fds[0]);
		snprintf(fdarg, sizeof fdarg, "%d", fds[1]);
		execl("/proc/self/exe", "test_rowstore", "--kill9-child", dir, fdarg, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	while (read(fds[0], &x, sizeof x) == sizeof x)
		acked = x;
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	assert_true(acked > 0);

	assert_int_equal(rowstore_open(dir, &o, &rs, &st), SHOAL_OK);
	assert_int_equal(rowstore_count(rs, 1, &live, NULL, &st), SHOAL_OK);
	assert_true(live >= (uint64_t)acked * KILL_BATCH);
	rowstore_close(rs);
	unit_tmpdir_remove(dir);
}

int
main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "--kill9-child") == 0)
		return kill9_child(argv[2], atoi(argv[3]));

	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_version_rule, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tombstones, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_batch_validation, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_duplicates_in_batch, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_payload_text_and_iter, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_create_idempotent, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reopen_durability, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_drop, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_partitions, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_incarnation, setup, teardown),
	    cmocka_unit_test(test_old_format_refused),
	    cmocka_unit_test(test_kill9_durability),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
