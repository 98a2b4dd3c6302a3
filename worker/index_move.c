/* index_move.c -- ExportIndex / ImportIndex (see index_move.h).
 *
 * A slot per shard and direction holds the bytes in flight.  The table's
 * mutex guards the slots; building a bundle (serializing graphs) and
 * installing one run outside it, on a slot taken out of the table, so one
 * shard's transfer never blocks another's.
 */
#include "index_move.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "rpc.h"
#include "util.h"

typedef struct xslot {
	uint64_t shard_id;
	bool import;        /* direction */
	uint64_t id;        /* export id */
	uint8_t *buf;
	size_t len, total;  /* export: len == total; import: bytes received */
	uint32_t parts;     /* entries, the shard-level graph included */
	bool graph;         /* export: the graph is in it */
} xslot;

struct index_move {
	pthread_mutex_t mu;
	xslot *s;
	size_t n;
	uint64_t next_id;
};

index_move *
index_move_create(void)
{
	index_move *im = xcalloc(1, sizeof *im);
	pthread_mutex_init(&im->mu, NULL);
	im->next_id = (uint64_t)util_mono_ms() << 16;
	return im;
}

void
index_move_destroy(index_move *im)
{
	if (im == NULL)
		return;
	for (size_t i = 0; i < im->n; i++)
		free(im->s[i].buf);
	free(im->s);
	pthread_mutex_destroy(&im->mu);
	free(im);
}

/* Caller holds mu.  The slot's position, or n. */
static size_t
slot_find(index_move *im, uint64_t shard, bool import)
{
	for (size_t i = 0; i < im->n; i++)
		if (im->s[i].shard_id == shard && im->s[i].import == import)
			return i;
	return im->n;
}

/* Caller holds mu.  Frees the slot at i (if any). */
static void
slot_drop(index_move *im, size_t i)
{
	if (i >= im->n)
		return;
	free(im->s[i].buf);
	im->s[i] = im->s[--im->n];
}

/* Caller holds mu.  Takes x over. */
static void
slot_put(index_move *im, const xslot *x)
{
	slot_drop(im, slot_find(im, x->shard_id, x->import));
	im->s = xrealloc(im->s, (im->n + 1) * sizeof *im->s);
	im->s[im->n++] = *x;
}

void
index_move_export_handle(index_move *im, shard_index *idx, const Shoal__ExportIndexRequest *in,
    Shoal__ExportIndexReply_Closure done, void *cd)
{
	Shoal__ExportIndexReply out = SHOAL__EXPORT_INDEX_REPLY__INIT;
	size_t chunk = in->max_bytes ? in->max_bytes : INDEX_MOVE_DEFAULT_CHUNK;
	shoal_status st;

	if (chunk > INDEX_MOVE_MAX_CHUNK)
		chunk = INDEX_MOVE_MAX_CHUNK;
	if (in->offset == 0) { /* a new bundle */
		xslot x = {.shard_id = in->shard_id};
		size_t len;
		if (shard_index_export(idx, &x.buf, &len, &x.parts, &x.graph, &st) != SHOAL_OK) {
			rpc_call_fail(cd, st.code, "%s", st.msg);
			done(NULL, cd);
			return;
		}
		x.len = x.total = len;
		pthread_mutex_lock(&im->mu);
		x.id = ++im->next_id;
		slot_put(im, &x);
		pthread_mutex_unlock(&im->mu);
		log_info("shard %" PRIu64 ": index bundle %" PRIu64 " for a move: %u partitions%s, %zu "
			 "bytes",
		    in->shard_id, x.id, x.parts - x.graph, x.graph ? " and the shard-level graph" : "",
		    len);
	}
	pthread_mutex_lock(&im->mu);
	size_t i = slot_find(im, in->shard_id, false);
	if (i == im->n || (in->offset != 0 && im->s[i].id != in->export_id) ||
	    in->offset > im->s[i].total) {
		pthread_mutex_unlock(&im->mu);
		rpc_call_fail(cd, SHOAL_FAILED_PRECONDITION,
		    "no index export %" PRIu64 " of shard %" PRIu64 " at offset %" PRIu64
		    " (start over at offset 0)",
		    in->export_id, in->shard_id, in->offset);
		done(NULL, cd);
		return;
	}
	xslot *x = &im->s[i];
	size_t n = x->total - in->offset < chunk ? x->total - in->offset : chunk;
	/* the reply is packed by done() before we return: the bytes stay put */
	out.data.data = x->buf + in->offset;
	out.data.len = n;
	out.total_bytes = x->total;
	out.export_id = x->id;
	out.partitions = x->parts;
	out.graph = x->graph;
	done(&out, cd);
	if (in->offset + n == x->total)
		slot_drop(im, i); /* read to the end */
	pthread_mutex_unlock(&im->mu);
}

void
index_move_import_handle(index_move *im, shard_index *idx, const Shoal__ImportIndexRequest *in,
    Shoal__ImportIndexReply_Closure done, void *cd)
{
	Shoal__ImportIndexReply out = SHOAL__IMPORT_INDEX_REPLY__INIT;
	uint64_t shard = shard_index_spec(idx)->shard_id;
	shoal_status st;

	if (in->total_bytes == 0 || in->total_bytes > ((uint64_t)1 << 40) ||
	    in->data.len > in->total_bytes - in->offset || in->offset > in->total_bytes) {
		rpc_call_fail(cd, SHOAL_INVALID_ARGUMENT,
		    "chunk of %zu bytes at offset %" PRIu64 " does not fit a bundle of %" PRIu64
		    " bytes",
		    in->data.len, in->offset, in->total_bytes);
		done(NULL, cd);
		return;
	}
	pthread_mutex_lock(&im->mu);
	size_t i = slot_find(im, shard, true);
	if (in->offset == 0) {
		xslot x = {.shard_id = shard, .import = true, .total = in->total_bytes};
		slot_put(im, &x);
		i = im->n - 1;
	}
	if (i == im->n || im->s[i].len != in->offset || im->s[i].total != in->total_bytes) {
		slot_drop(im, i);
		pthread_mutex_unlock(&im->mu);
		rpc_call_fail(cd, SHOAL_FAILED_PRECONDITION,
		    "index import of shard %" PRIu64 ": chunk at offset %" PRIu64
		    " out of order (start over at offset 0)",
		    shard, in->offset);
		done(NULL, cd);
		return;
	}
	xslot *x = &im->s[i];
	x->buf = xrealloc(x->buf, x->len + in->data.len + 1);
	if (in->data.len > 0)
		memcpy(x->buf + x->len, in->data.data, in->data.len);
	x->len += in->data.len;
	xslot whole = {0};
	if (x->len == x->total) { /* complete: take it out, install off-lock */
		whole = *x;
		x->buf = NULL;
		slot_drop(im, i);
	}
	pthread_mutex_unlock(&im->mu);
	if (whole.buf != NULL) {
		bool g = false;
		shoal_code rv = shard_index_import(idx, whole.buf, whole.len, &out.installed,
		    &out.failed, &g, &st);
		out.graph_installed = g;
		free(whole.buf);
		if (rv != SHOAL_OK) {
			rpc_call_fail(cd, st.code, "%s", st.msg);
			done(NULL, cd);
			return;
		}
		out.complete = true;
	}
	done(&out, cd);
}
