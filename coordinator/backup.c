/* backup.c -- see backup.h for the layout, the order of steps and why.
 *
 * Threading: backup_run runs on an rpc server thread of the coordinator
 * and blocks on the workers' Backup calls (started all at once with
 * rpc_client_start, so the backup takes as long as the slowest worker).
 * A process-wide flag allows one backup at a time: two concurrent
 * backups would only compete for the same disks.  Each run opens its own
 * connection to every worker (the router's are for the data path; a
 * backup must not depend on its heartbeat state either: a worker that
 * does not answer fails the backup, named).
 */
#include "backup.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fsutil.h"
#include "log.h"
#include "rpc.h"
#include "util.h"

#ifndef SHOAL_VERSION_STRING
#define SHOAL_VERSION_STRING "0.1.0"
#endif

/* A worker without a connection gets this long to appear. */
#define CONNECT_TIMEOUT_MS 3000u

static pthread_mutex_t running_mu = PTHREAD_MUTEX_INITIALIZER;
static bool running;

/* protobuf-c's *_INIT points unset strings at protobuf_c_empty_string,
 * which must never reach free(): our messages start with NULL strings
 * instead (proto3 packs NULL as ""). */
static void
free_str(char *s)
{
	if (s != protobuf_c_empty_string)
		free(s);
}

static void
info_init(Shoal__BackupInfo *b)
{
	*b = (Shoal__BackupInfo)SHOAL__BACKUP_INFO__INIT;
	b->dir = NULL;
	b->version = NULL;
}

static Shoal__BackupWorker *
worker_new(void)
{
	Shoal__BackupWorker *bw = xmalloc(sizeof *bw);
	*bw = (Shoal__BackupWorker)SHOAL__BACKUP_WORKER__INIT;
	bw->name = bw->url = bw->dir = NULL;
	return bw;
}

void
backup_info_clear(Shoal__BackupInfo *out)
{
	for (size_t i = 0; i < out->n_workers; i++) {
		free_str(out->workers[i]->name);
		free_str(out->workers[i]->url);
		free_str(out->workers[i]->dir);
		free(out->workers[i]);
	}
	free(out->workers);
	free_str(out->dir);
	free_str(out->version);
	info_init(out);
}

static shoal_code
check_dir(const char *dir, shoal_status *st)
{
	if (dir == NULL || dir[0] != '/')
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "backup directory '%s' must be an absolute path (the coordinator's and "
		    "the workers' hosts resolve it)", dir ? dir : "");
	if (strlen(dir) > 3000)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT, "backup directory path too long");
	for (const char *p = dir; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
			    "backup directory path holds a control character");
	if (fsutil_exists(dir))
		return shoal_status_set(st, SHOAL_FAILED_PRECONDITION,
		    "backup directory %s already exists (a backup never overwrites; pick a new "
		    "name)", dir);
	return SHOAL_OK;
}

static shoal_code
write_manifest(const char *dir, const Shoal__BackupInfo *b, shoal_status *st)
{
	size_t cap = 4096 + b->n_workers * 4096, n = 0;
	char *text = xmalloc(cap), q[1200], path[4200];
	shoal_code rv;

	/* cap leaves room for the longest names and URLs (CATALOG_*_MAX) */
#define PUT(...)                                                                         \
	do {                                                                                 \
		if (n < cap)                                                                     \
			n += (size_t)snprintf(text + n, cap - n, __VA_ARGS__);                       \
	} while (0)
	PUT("# shoal cluster backup (coordinator/backup.h).  Restore with\n"
	    "#   shoal backup restore THIS_DIR --data NEW_DIR\n"
	    "# or per daemon: shoal-coordinator --restore THIS_DIR --data ...,\n"
	    "#                shoal-worker --restore THIS_DIR/workers/NAME --data ...\n");
	PUT("format = %d\n", BACKUP_FORMAT);
	config_quote(q, sizeof q, b->version);
	PUT("version = %s\n", q);
	PUT("created_ms = %" PRIu64 "\n", b->created_ms);
	PUT("epoch = %" PRIu64 "\n", b->epoch);
	PUT("version_floor = %" PRIu64 "\n", b->version_floor);
	PUT("tenants = %u\n", b->tenants);
	PUT("collections = %u\n", b->collections);
	PUT("micros = %" PRIu64 "\n", b->micros);
	for (size_t i = 0; i < b->n_workers; i++) {
		const Shoal__BackupWorker *w = b->workers[i];
		PUT("\n[worker.%s]\n", w->name);
		config_quote(q, sizeof q, w->url);
		PUT("url = %s\n", q);
		config_quote(q, sizeof q, w->dir);
		PUT("dir = %s\n", q);
		PUT("points = %" PRIu64 "\n", w->points);
		PUT("shards = %u\n", w->shards);
		PUT("bytes = %" PRIu64 "\n", w->bytes);
	}
#undef PUT
	if (n >= cap) {
		free(text);
		return shoal_status_set(st, SHOAL_INTERNAL, "backup manifest too large");
	}
	snprintf(path, sizeof path, "%s/MANIFEST", dir);
	rv = util_write_file_atomic(path, text, n, st);
	free(text);
	return rv;
}

shoal_code
backup_run(catalog *cat, const char *auth_token, const rpc_tls_options *tls, const char *dir,
    uint32_t timeout_ms, Shoal__BackupInfo *out, shoal_status *st)
{
	const ProtobufCMethodDescriptor *m =
	    protobuf_c_service_descriptor_get_method_by_name(&shoal__worker__descriptor, "Backup");
	catalog_worker *cw = NULL;
	rpc_client **cl = NULL;
	rpc_pending **pend = NULL;
	rpc_result *res = NULL;
	size_t nw = 0, nt = 0, nc = 0;
	uint64_t t0 = util_mono_us(), deadline = util_mono_ms() + timeout_ms;
	char path[4200];
	bool created = false;
	shoal_code rv;

	info_init(out);
	pthread_mutex_lock(&running_mu);
	if (running) {
		pthread_mutex_unlock(&running_mu);
		return shoal_status_set(st, SHOAL_FAILED_PRECONDITION,
		    "another backup is running; wait for it to finish");
	}
	running = true;
	pthread_mutex_unlock(&running_mu);

	if ((rv = check_dir(dir, st)) != SHOAL_OK || (rv = util_mkdir_p(dir, st)) != SHOAL_OK)
		goto done;
	created = true;
	out->dir = xstrdup(dir);
	out->version = xstrdup(SHOAL_VERSION_STRING);
	out->created_ms = util_now_ms();
	log_info("backup into %s started", dir);

	/* 1. the catalog */
	out->epoch = catalog_epoch(cat);
	catalog_counts(cat, &nt, &nc);
	out->tenants = (uint32_t)nt;
	out->collections = (uint32_t)nc;
	snprintf(path, sizeof path, "%s/catalog", dir);
	if ((rv = catalog_checkpoint(cat, path, st)) != SHOAL_OK)
		goto done;

	/* 2. every worker, in parallel */
	nw = catalog_list_workers(cat, &cw);
	cl = xcalloc(nw ? nw : 1, sizeof *cl);
	pend = xcalloc(nw ? nw : 1, sizeof *pend);
	res = xcalloc(nw ? nw : 1, sizeof *res);
	for (size_t i = 0; i < nw; i++) {
		rpc_client_opts co = {.auth_token = auth_token, .fail_on_disconnect = true,
		    .connect_timeout_ms = CONNECT_TIMEOUT_MS, .tls = tls};
		Shoal__WorkerBackupRequest req = SHOAL__WORKER_BACKUP_REQUEST__INIT;
		char wdir[4200];
		uint64_t now = util_mono_ms();
		rpc_call_opts o = {.timeout_ms = deadline > now + 1 ? (uint32_t)(deadline - now) : 1};
		snprintf(wdir, sizeof wdir, "%s/workers/%s", dir, cw[i].name);
		req.dir = wdir;
		if (rpc_client_open(cw[i].url, &shoal__worker__descriptor, &co, &cl[i], &res[i].status) !=
		    SHOAL_OK) {
			cl[i] = NULL;
			continue;
		}
		pend[i] = rpc_client_start(cl[i], (unsigned)(m - shoal__worker__descriptor.methods),
		    &req.base, &o);
	}
	size_t failed = 0;
	char why[SHOAL_STATUS_MSG_MAX] = "";
	out->workers = xcalloc(nw ? nw : 1, sizeof *out->workers);
	for (size_t i = 0; i < nw; i++) {
		if (cl[i] != NULL)
			rpc_pending_finish(pend[i], &res[i]);
		if (res[i].status.code != SHOAL_OK) {
			size_t l = strlen(why);
			if (l + 80 < sizeof why) /* the first failures say enough */
				(void)!snprintf(why + l, sizeof why - l, "%sworker %s: %.300s",
				    failed ? "; " : "", cw[i].name, res[i].status.msg);
			failed++;
			continue;
		}
		const Shoal__WorkerBackupReply *r = (const Shoal__WorkerBackupReply *)res[i].reply;
		Shoal__BackupWorker *bw = worker_new();
		bw->name = xstrdup(cw[i].name);
		bw->url = xstrdup(cw[i].url);
		snprintf(path, sizeof path, "workers/%s", cw[i].name);
		bw->dir = xstrdup(path);
		bw->points = r->points;
		bw->shards = r->shards;
		bw->bytes = r->bytes;
		bw->micros = r->micros;
		out->workers[out->n_workers++] = bw;
		rpc_result_free(&res[i]);
	}
	if (failed > 0) {
		rv = shoal_status_set(st, SHOAL_UNAVAILABLE,
		    "backup failed: %zu of %zu workers could not write their part: %s (nothing was "
		    "kept; every worker must answer for a backup to hold every point)", failed, nw, why);
		goto done;
	}

	/* 3. the version floor: above every version in the copies */
	if ((rv = catalog_next_versions(cat, 1, &out->version_floor, st)) != SHOAL_OK)
		goto done;
	out->micros = util_mono_us() - t0;

	/* 4. the manifest marks the backup complete */
	if ((rv = write_manifest(dir, out, st)) != SHOAL_OK || (rv = fsutil_fsync_dir(dir, st)) != SHOAL_OK)
		goto done;
	log_info("backup into %s done: catalog epoch %" PRIu64 ", %u tenants, %zu workers, %.1f s",
	    dir, out->epoch, out->tenants, nw, (double)out->micros / 1e6);
done:
	for (size_t i = 0; i < nw; i++) {
		rpc_result_free(&res[i]);
		rpc_client_close(cl ? cl[i] : NULL);
	}
	free(cl);
	free(pend);
	free(res);
	free(cw);
	if (rv != SHOAL_OK) {
		log_warn("backup into %s failed: %s", dir ? dir : "", st ? st->msg : "");
		if (created) {
			shoal_status rst;
			if (fsutil_remove_tree(dir, &rst) != SHOAL_OK)
				log_warn("cannot remove the partial backup: %s", rst.msg);
		}
		backup_info_clear(out);
	}
	pthread_mutex_lock(&running_mu);
	running = false;
	pthread_mutex_unlock(&running_mu);
	return rv;
}

/* ===================================================================
 * Manifest and restore
 * =================================================================== */

shoal_code
backup_read_manifest(const char *dir, Shoal__BackupInfo *out, shoal_status *st)
{
	char path[4200];
	config_file *cf = NULL;
	shoal_code rv;
	long long format = -1;

	info_init(out);
	snprintf(path, sizeof path, "%s/MANIFEST", dir);
	if ((rv = config_load(path, &cf, st)) != SHOAL_OK) {
		if (rv == SHOAL_NOT_FOUND)
			return shoal_status_set(st, SHOAL_FAILED_PRECONDITION,
			    "%s is not a complete shoal backup (no MANIFEST)", dir);
		return rv;
	}
	out->dir = xstrdup(dir);
	for (size_t i = 0; i < cf->n; i++) {
		const config_entry *e = &cf->entries[i];
		uint64_t v = 0;
		if (e->section[0] == '\0') {
			if (strcmp(e->key, "format") == 0)
				format = strtoll(e->value, NULL, 10);
			else if (strcmp(e->key, "version") == 0 && out->version == NULL)
				out->version = xstrdup(e->value);
			else if (util_parse_u64(e->value, &v)) {
				if (strcmp(e->key, "created-ms") == 0)
					out->created_ms = v;
				else if (strcmp(e->key, "epoch") == 0)
					out->epoch = v;
				else if (strcmp(e->key, "version-floor") == 0)
					out->version_floor = v;
				else if (strcmp(e->key, "tenants") == 0)
					out->tenants = (uint32_t)v;
				else if (strcmp(e->key, "collections") == 0)
					out->collections = (uint32_t)v;
				else if (strcmp(e->key, "micros") == 0)
					out->micros = v;
			}
			continue;
		}
		if (strncmp(e->section, "worker.", 7) != 0)
			continue;
		const char *name = e->section + 7;
		Shoal__BackupWorker *bw = NULL;
		for (size_t j = 0; j < out->n_workers && bw == NULL; j++)
			if (strcmp(out->workers[j]->name, name) == 0)
				bw = out->workers[j];
		if (bw == NULL) {
			out->workers = xrealloc(out->workers, (out->n_workers + 1) * sizeof *out->workers);
			bw = worker_new();
			bw->name = xstrdup(name);
			out->workers[out->n_workers++] = bw;
		}
		if (strcmp(e->key, "url") == 0 && bw->url == NULL)
			bw->url = xstrdup(e->value);
		else if (strcmp(e->key, "dir") == 0 && bw->dir == NULL)
			bw->dir = xstrdup(e->value);
		else if (util_parse_u64(e->value, &v)) {
			if (strcmp(e->key, "points") == 0)
				bw->points = v;
			else if (strcmp(e->key, "shards") == 0)
				bw->shards = (uint32_t)v;
			else if (strcmp(e->key, "bytes") == 0)
				bw->bytes = v;
		}
	}
	config_free(cf);
	if (format != BACKUP_FORMAT || out->version_floor == 0) {
		backup_info_clear(out);
		return shoal_status_set(st, SHOAL_FAILED_PRECONDITION,
		    "%s: unsupported or damaged backup manifest (format %lld; this shoal reads %d)",
		    path, format, BACKUP_FORMAT);
	}
	for (size_t j = 0; j < out->n_workers; j++) {
		Shoal__BackupWorker *bw = out->workers[j];
		if (bw->dir == NULL || util_check_name("worker", bw->name, st) != SHOAL_OK ||
		    strstr(bw->dir, "..") != NULL || bw->dir[0] == '/') {
			shoal_status_set(st, SHOAL_FAILED_PRECONDITION, "%s: damaged worker entry '%s'",
			    path, bw->name);
			backup_info_clear(out); /* bw is gone after this */
			return SHOAL_FAILED_PRECONDITION;
		}
		if (bw->url == NULL)
			bw->url = xstrdup("");
	}
	if (out->version == NULL)
		out->version = xstrdup("");
	return SHOAL_OK;
}

shoal_code
backup_restore_coordinator(const char *from, const char *data, Shoal__BackupInfo *info,
    shoal_status *st)
{
	Shoal__BackupInfo b;
	char src[4200], dst[4200];
	catalog *cat = NULL;
	shoal_code rv;
	bool copying = false;

	if ((rv = backup_read_manifest(from, &b, st)) != SHOAL_OK)
		return rv;
	snprintf(src, sizeof src, "%s/catalog", from);
	snprintf(dst, sizeof dst, "%s/catalog", data);
	if (fsutil_exists(dst)) {
		rv = shoal_status_set(st, SHOAL_FAILED_PRECONDITION,
		    "%s already exists: restore into an empty or new --data directory", dst);
		goto out;
	}
	if ((rv = util_mkdir_p(data, st)) != SHOAL_OK)
		goto out;
	copying = true;
	if ((rv = fsutil_copy_tree(src, dst, NULL, NULL, NULL, st)) != SHOAL_OK ||
	    (rv = catalog_open(dst, &cat, st)) != SHOAL_OK)
		goto out;
	/* raise the allocator above every version the worker copies hold */
	uint64_t next;
	if ((rv = catalog_next_versions(cat, 1, &next, st)) == SHOAL_OK && next < b.version_floor)
		rv = catalog_next_versions(cat, b.version_floor - next, &next, st);
	catalog_close(cat);
	if (rv == SHOAL_OK)
		rv = fsutil_fsync_dir(data, st);
out:
	if (rv != SHOAL_OK && copying) {
		shoal_status rst;
		fsutil_remove_tree(dst, &rst);
	}
	if (rv == SHOAL_OK && info != NULL)
		*info = b;
	else
		backup_info_clear(&b);
	return rv;
}
