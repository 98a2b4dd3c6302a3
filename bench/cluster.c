/* cluster.c -- --local N: a throwaway shoal cluster for one bench run.
 *
 * A fresh mkdtemp directory holds everything: DIR/coordinator (catalog),
 * DIR/workerI (data), one log and one ready file per daemon.  Daemons are
 * the real programs from the bin directory (by default the one holding
 * shoal-bench, i.e. build/bin), started with common/proc.h (fork/exec, as
 * the integration-test harness does):
 *   shoal-coordinator --listen tcp://127.0.0.1:0 --data DIR/coordinator
 *                     --ready-file DIR/coordinator.ready
 *   shoal-worker --listen tcp://127.0.0.1:0 --data DIR/workerI
 *                --coordinator URL --name bench-wI --ready-file ...
 * Port 0 lets the kernel pick free loopback ports; each daemon writes the
 * URL it bound to its ready file, so no port is guessed.  Every child has
 * PR_SET_PDEATHSIG(SIGKILL): none outlives a crashed bench.  They are
 * stopped by pid (SIGTERM, SIGKILL after 10 s) and the directory removed.
 *
 * bench_cluster_add_worker starts one more worker later (the rebalance
 * workload's "add a node"), the same way; it forks while the workload's
 * load threads run, which is safe because the child only execs.
 * bench_worker_index_counters asks a worker's own Status rpc for its HNSW
 * counters (builds vs indexes installed from a move),
 * bench_worker_coll_graphs for its collection graphs.
 *
 * Threading: start and stop from the main thread.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench.h"
#include "proc.h"
#include "rpc.h"
#include "shoal.pb-c.h"
#include "shoal_client.h"
#include "util.h"

#define READY_TIMEOUT_MS 60000
#define UP_TIMEOUT_MS 60000
#define STOP_GRACE_MS 10000 /* SIGTERM, then SIGKILL */

/* Appends the last lines of a log to st's message. */
static void
log_tail(shoal_status *st, const char *path)
{
	FILE *f = fopen(path, "r");
	if (f == NULL || st == NULL) {
		if (f)
			fclose(f);
		return;
	}
	char buf[4096];
	fseek(f, 0, SEEK_END);
	long size = ftell(f);
	long from = size > 300 ? size - 300 : 0;
	fseek(f, from, SEEK_SET);
	size_t got = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[got] = '\0';
	size_t len = strlen(st->msg);
	snprintf(st->msg + len, sizeof st->msg - len, "; end of %s: %s", path, buf);
}

static bool
workers_up(const char *url, int n)
{
	shoal_client *c;
	if (shoal_connect(url, NULL, &c, NULL) != SHOAL_OK)
		return false;
	bool ok = false;
	uint64_t end = util_mono_ms() + UP_TIMEOUT_MS;
	while (!ok && util_mono_ms() < end) {
		shoal_cluster_info *ci = NULL;
		if (shoal_cluster_status(c, &ci, NULL) == SHOAL_OK) {
			int up = 0;
			for (size_t i = 0; i < ci->n_workers; i++)
				up += ci->workers[i].up ? 1 : 0;
			ok = up >= n;
			shoal_cluster_info_free(ci);
		}
		if (!ok)
			util_sleep_ms(50);
	}
	shoal_close(c);
	return ok;
}

/* Starts worker number c->nworkers ("bench-wI", data DIR/workerI) and
 * waits for its ready file; counts it in c->nworkers. */
static shoal_code
start_worker(bench_cluster *c, shoal_status *st)
{
	int i = c->nworkers;
	if (i >= BENCH_MAX_WORKERS)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT, "at most %d local workers",
		    BENCH_MAX_WORKERS);
	char worker_bin[600], data[400], ready[400], log[400], name[32], url[128];
	snprintf(worker_bin, sizeof worker_bin, "%s/shoal-worker", c->bin);
	snprintf(data, sizeof data, "%s/worker%d", c->dir, i);
	snprintf(ready, sizeof ready, "%s/worker%d.ready", c->dir, i);
	snprintf(log, sizeof log, "%s/worker%d.log", c->dir, i);
	snprintf(name, sizeof name, "bench-w%d", i);
	char *wargv[12 + BENCH_MAX_WORKER_ARGS] = {worker_bin, "--listen", "tcp://127.0.0.1:0",
	    "--data", data, "--coordinator", c->url, "--name", name, "--ready-file", ready};
	for (int a = 0, n = 11;
	     c->worker_args != NULL && a < BENCH_MAX_WORKER_ARGS && c->worker_args[a] != NULL; a++)
		wargv[n++] = (char *)c->worker_args[a];
	c->worker_pid[i] = proc_spawn(log, wargv);
	c->nworkers++;
	if (c->worker_pid[i] < 0 ||
	    !proc_wait_ready(ready, c->worker_pid[i], url, sizeof url, READY_TIMEOUT_MS)) {
		shoal_status_set(st, SHOAL_UNAVAILABLE, "local worker %d did not start", i);
		log_tail(st, log);
		return SHOAL_UNAVAILABLE;
	}
	snprintf(c->worker_url[i], sizeof c->worker_url[i], "%s", url);
	return SHOAL_OK;
}

shoal_code
bench_cluster_add_worker(bench_cluster *c, shoal_status *st)
{
	shoal_code rv = start_worker(c, st);
	if (rv != SHOAL_OK)
		return rv;
	/* what `shoal node add URL` waits for: the coordinator sees it up */
	if (!workers_up(c->url, c->nworkers))
		return shoal_status_set(st, SHOAL_UNAVAILABLE,
		    "the coordinator did not see worker %d up within %d s (logs in %s)",
		    c->nworkers - 1, UP_TIMEOUT_MS / 1000, c->dir);
	return SHOAL_OK;
}

/* A worker's Status counters: index imports and rebuilds, collection
 * graph builds and bytes. */
static shoal_code
worker_counters(const char *url, uint64_t out[5], shoal_status *st)
{
	rpc_client *rc;
	if (rpc_client_open(url, &shoal__worker__descriptor, NULL, &rc, st) != SHOAL_OK)
		return st->code;
	rpc_result res;
	Shoal__WorkerStatusRequest req = SHOAL__WORKER_STATUS_REQUEST__INIT;
	RPC_INVOKE(shoal__worker__status, rpc_client_service(rc), &req, &res);
	shoal_code rv = res.status.code;
	if (rv == SHOAL_OK) {
		const Shoal__WorkerStatusReply *r = (const Shoal__WorkerStatusReply *)res.reply;
		out[0] = r->index_imports;
		out[1] = r->index_rebuilds;
		out[2] = r->coll_graph_builds;
		out[3] = r->coll_graph_bytes;
		out[4] = r->coll_graphs_off;
		rpc_result_free(&res);
	} else {
		shoal_status_set(st, rv, "worker %s status: %s", url, res.status.msg);
	}
	rpc_client_close(rc);
	return rv;
}

shoal_code
bench_worker_index_counters(const char *url, uint64_t *imports, uint64_t *rebuilds,
    shoal_status *st)
{
	uint64_t v[5];
	shoal_code rv = worker_counters(url, v, st);
	if (rv == SHOAL_OK) {
		*imports = v[0];
		*rebuilds = v[1];
	}
	return rv;
}

shoal_code
bench_worker_coll_graphs(const char *url, uint64_t *builds, uint64_t *bytes, bool *off,
    shoal_status *st)
{
	uint64_t v[5];
	shoal_code rv = worker_counters(url, v, st);
	if (rv == SHOAL_OK) {
		*builds = v[2];
		*bytes = v[3];
		if (off != NULL)
			*off = v[4] != 0;
	}
	return rv;
}

shoal_code
bench_cluster_start(bench_cluster *c, const char *bin, int n, const char *const *worker_args,
    shoal_status *st)
{
	memset(c, 0, sizeof *c);
	c->worker_args = worker_args;
	if (n < 1 || n > BENCH_MAX_WORKERS)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "--local %d: expected 1..%d workers", n, BENCH_MAX_WORKERS);
	snprintf(c->bin, sizeof c->bin, "%s", bin);
	char coord_bin[600], worker_bin[600];
	snprintf(coord_bin, sizeof coord_bin, "%s/shoal-coordinator", bin);
	snprintf(worker_bin, sizeof worker_bin, "%s/shoal-worker", bin); /* start_worker */
	if (access(coord_bin, X_OK) != 0 || access(worker_bin, X_OK) != 0)
		return shoal_status_set(st, SHOAL_NOT_FOUND,
		    "--local needs shoal-coordinator and shoal-worker in %s (build them: cmake "
		    "--build build -j2), or give --bin DIR",
		    bin);
	const char *tmp = getenv("TMPDIR");
	snprintf(c->dir, sizeof c->dir, "%s/shoal-bench-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (mkdtemp(c->dir) == NULL)
		return shoal_status_set(st, SHOAL_INTERNAL, "mkdtemp %s: %s", c->dir, strerror(errno));

	char data[400], ready[400], log[400];
	snprintf(data, sizeof data, "%s/coordinator", c->dir);
	snprintf(ready, sizeof ready, "%s/coordinator.ready", c->dir);
	snprintf(log, sizeof log, "%s/coordinator.log", c->dir);
	char *cargv[] = {coord_bin, "--listen", "tcp://127.0.0.1:0", "--data", data, "--ready-file",
	    ready, NULL};
	c->coord_pid = proc_spawn(log, cargv);
	if (c->coord_pid < 0 ||
	    !proc_wait_ready(ready, c->coord_pid, c->url, sizeof c->url, READY_TIMEOUT_MS)) {
		shoal_status_set(st, SHOAL_UNAVAILABLE, "the local coordinator did not start");
		log_tail(st, log);
		bench_cluster_stop(c, true);
		return SHOAL_UNAVAILABLE;
	}
	for (int i = 0; i < n; i++)
		if (start_worker(c, st) != SHOAL_OK) {
			bench_cluster_stop(c, true);
			return SHOAL_UNAVAILABLE;
		}
	if (!workers_up(c->url, n)) {
		shoal_status_set(st, SHOAL_UNAVAILABLE,
		    "the local coordinator did not see %d workers up within %d s (logs in %s)", n,
		    UP_TIMEOUT_MS / 1000, c->dir);
		bench_cluster_stop(c, true);
		return SHOAL_UNAVAILABLE;
	}
	return SHOAL_OK;
}

void
bench_cluster_stop(bench_cluster *c, bool keep)
{
	for (int i = 0; i < c->nworkers; i++)
		proc_stop(&c->worker_pid[i], SIGTERM, STOP_GRACE_MS);
	proc_stop(&c->coord_pid, SIGTERM, STOP_GRACE_MS);
	if (c->dir[0] != '/')
		return;
	if (keep) {
		fprintf(stderr, "shoal-bench: local cluster directory kept: %s\n", c->dir);
		return;
	}
	char cmd[400];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", c->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "shoal-bench: could not remove %s\n", c->dir);
	c->dir[0] = '\0';
}
