/* migrate.c -- ScanShard and ShardChecksum (see migrate.h).
 *
 * Both read the shard through rowstore_iter with tombstones, from the
 * snapshot the iterator takes at open.  Payloads are stored as a packed
 * payload-only shoal.Point (shard_service.c); ScanShard unpacks them into
 * the reply's points so that the target stores them exactly as an Upsert
 * would.
 */
#include "migrate.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "rpc.h"
#include "util.h"

/* FNV-1a over bytes, then a 64-bit finalizer: cheap and well mixed. */
static uint64_t
mix64(uint64_t h)
{
	h ^= h >> 33;
	h *= UINT64_C(0xff51afd7ed558ccd);
	h ^= h >> 33;
	h *= UINT64_C(0xc4ceb9fe1a85ec53);
	h ^= h >> 33;
	return h;
}

static uint64_t
fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= UINT64_C(0x100000001b3);
	}
	return h;
}

uint64_t
migrate_row_hash(uint64_t id, uint64_t version, int deleted, const float *v, uint32_t dim)
{
	uint64_t h = UINT64_C(0xcbf29ce484222325);
	unsigned char d = deleted ? 1 : 0;
	h = fnv(h, &id, sizeof id);
	h = fnv(h, &version, sizeof version);
	h = fnv(h, &d, 1);
	if (!deleted && v != NULL)
		h = fnv(h, v, (size_t)dim * sizeof(float));
	return mix64(h);
}

void
migrate_scan_handle(rowstore *rs, const Shoal__ScanShardRequest *in,
    Shoal__ScanShardReply_Closure done, void *cd)
{
	Shoal__ScanShardReply out = SHOAL__SCAN_SHARD_REPLY__INIT;
	uint32_t limit = in->limit ? in->limit : MIGRATE_SCAN_DEFAULT_LIMIT;
	uint64_t max_bytes = in->max_bytes ? in->max_bytes : MIGRATE_SCAN_DEFAULT_BYTES;
	rowstore_iter_opts o = {.with_tombstones = true, .start_id = in->start_id};
	rowstore_iter *it = NULL;
	shoal_status st;
	size_t np = 0, nd = 0;
	Shoal__Point *pts = NULL, **pp = NULL, **pls = NULL;
	uint64_t *dids = NULL, *dvers = NULL;
	uint64_t bytes = 0;
	bool done_ = false;

	if (limit > MIGRATE_SCAN_MAX_LIMIT) {
		rpc_call_fail(cd, SHOAL_INVALID_ARGUMENT, "limit must be at most %u (got %u)",
		    MIGRATE_SCAN_MAX_LIMIT, limit);
		done(NULL, cd);
		return;
	}
	if (rowstore_iter_open(rs, in->shard_id, &o, &it, &st) != SHOAL_OK) {
		rpc_call_fail(cd, st.code, "%s", st.msg);
		done(NULL, cd);
		return;
	}
	/* Rows borrow from the iterator until its next step: copy what we keep. */
	size_t lim = limit;
	pts = xcalloc(lim, sizeof *pts);
	pp = xcalloc(lim, sizeof *pp);
	pls = xcalloc(lim, sizeof *pls);
	dids = xcalloc(lim, sizeof *dids);
	dvers = xcalloc(lim, sizeof *dvers);
	for (;;) {
		rowstore_row r;
		if (np + nd == lim || bytes >= max_bytes) {
			/* peek: is there another row? */
			bool end;
			if (rowstore_iter_next(it, &r, &end, &st) != SHOAL_OK)
				goto fail;
			if (end)
				done_ = true;
			else
				out.next_id = r.id;
			break;
		}
		bool end;
		if (rowstore_iter_next(it, &r, &end, &st) != SHOAL_OK)
			goto fail;
		if (end) {
			done_ = true;
			break;
		}
		if (r.deleted) {
			dids[nd] = r.id;
			dvers[nd] = r.version;
			nd++;
			bytes += 16;
			continue;
		}
		Shoal__Point *p = &pts[np];
		shoal__point__init(p);
		p->id = r.id;
		p->version = r.version;
		p->n_vector = r.dim;
		p->vector = xmalloc((size_t)r.dim * sizeof(float) + 1);
		memcpy(p->vector, r.vector, (size_t)r.dim * sizeof(float));
		p->text = xmalloc(r.text_len + 1);
		memcpy(p->text, r.text, r.text_len);
		p->text[r.text_len] = '\0';
		p->partition = xmalloc(r.partition_len + 1);
		memcpy(p->partition, r.partition, r.partition_len);
		p->partition[r.partition_len] = '\0';
		if (r.payload_len > 0) {
			pls[np] = shoal__point__unpack(NULL, r.payload_len, r.payload);
			if (pls[np] == NULL) {
				free(p->vector);
				free(p->text);
				free(p->partition);
				shoal_status_set(&st, SHOAL_DATA_LOSS,
				    "shard %llu point %llu: stored payload does not decode",
				    (unsigned long long)in->shard_id, (unsigned long long)r.id);
				goto fail;
			}
			p->n_payload = pls[np]->n_payload;
			p->payload = pls[np]->payload;
		}
		bytes += 24 + (uint64_t)r.dim * 4 + r.text_len + r.partition_len + r.payload_len;
		pp[np] = p;
		np++;
	}
	rowstore_iter_close(it);
	it = NULL;
	out.n_points = np;
	out.points = pp;
	out.n_deleted_ids = nd;
	out.deleted_ids = dids;
	out.n_deleted_versions = nd;
	out.deleted_versions = dvers;
	out.done = done_;
	out.bytes = bytes;
	done(&out, cd);
	goto cleanup;
fail:
	rowstore_iter_close(it);
	rpc_call_fail(cd, st.code, "%s", st.msg);
	done(NULL, cd);
cleanup:
	for (size_t i = 0; i < np; i++) {
		free(pts[i].vector);
		free(pts[i].text);
		free(pts[i].partition);
		if (pls[i] != NULL)
			shoal__point__free_unpacked(pls[i], NULL);
	}
	free(pts);
	free(pp);
	free(pls);
	free(dids);
	free(dvers);
}

void
migrate_checksum_handle(rowstore *rs, const Shoal__ShardChecksumRequest *in,
    Shoal__ShardChecksumReply_Closure done, void *cd)
{
	Shoal__ShardChecksumReply out = SHOAL__SHARD_CHECKSUM_REPLY__INIT;
	rowstore_iter_opts o = {.with_tombstones = true};
	rowstore_iter *it;
	shoal_status st;
	size_t n = 0, cap = 0;
	uint64_t *ids = NULL, *vers = NULL, *hashes = NULL;

	if (in->n_ids > 0) {
		/* named ids only, with the shard's counters */
		if (rowstore_count(rs, in->shard_id, &out.live, &out.tombstones, &st) != SHOAL_OK) {
			rpc_call_fail(cd, st.code, "%s", st.msg);
			done(NULL, cd);
			return;
		}
		ids = xcalloc(in->n_ids, sizeof *ids);
		vers = xcalloc(in->n_ids, sizeof *vers);
		hashes = xcalloc(in->n_ids, sizeof *hashes);
		for (size_t i = 0; i < in->n_ids; i++) {
			rowstore_row r;
			void *buf = NULL;
			ids[i] = in->ids[i];
			shoal_code rv = rowstore_get(rs, in->shard_id, in->ids[i], &r, &buf, &st);
			if (rv == SHOAL_OK) {
				vers[i] = r.version;
				hashes[i] = migrate_row_hash(r.id, r.version, r.deleted, r.vector, r.dim);
				free(buf);
			} else if (rv != SHOAL_NOT_FOUND) {
				free(ids);
				free(vers);
				free(hashes);
				rpc_call_fail(cd, st.code, "%s", st.msg);
				done(NULL, cd);
				return;
			}
		}
		n = in->n_ids;
		goto reply;
	}
	if (rowstore_iter_open(rs, in->shard_id, &o, &it, &st) != SHOAL_OK) {
		rpc_call_fail(cd, st.code, "%s", st.msg);
		done(NULL, cd);
		return;
	}
	for (;;) {
		rowstore_row r;
		bool end;
		if (rowstore_iter_next(it, &r, &end, &st) != SHOAL_OK) {
			rowstore_iter_close(it);
			free(ids);
			free(vers);
			free(hashes);
			rpc_call_fail(cd, st.code, "%s", st.msg);
			done(NULL, cd);
			return;
		}
		if (end)
			break;
		if (r.deleted)
			out.tombstones++;
		else
			out.live++;
		uint64_t h = migrate_row_hash(r.id, r.version, r.deleted, r.vector, r.dim);
		out.checksum += h;
		if (in->with_rows) {
			if (n == cap) {
				cap = cap ? 2 * cap : 1024;
				ids = xrealloc(ids, cap * sizeof *ids);
				vers = xrealloc(vers, cap * sizeof *vers);
				hashes = xrealloc(hashes, cap * sizeof *hashes);
			}
			ids[n] = r.id;
			vers[n] = r.version;
			hashes[n] = h;
			n++;
		}
	}
	rowstore_iter_close(it);
reply:
	out.n_row_ids = out.n_row_versions = out.n_row_hashes = n;
	out.row_ids = ids;
	out.row_versions = vers;
	out.row_hashes = hashes;
	done(&out, cd);
	free(ids);
	free(vers);
	free(hashes);
}
