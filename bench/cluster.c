/* cluster.c -- --local N: a throwaway shoal cluster for one bench run.
 *
 * A fresh mkdtemp directory holds everything: DIR/coordinator (catalog),
 * DIR/workerI (data), one log and one ready file per daemon.  Daemons are
 * the real programs from the bin directory (by default the one holding
 * shoal-bench, i.e. build/bin), started with fork/exec:
 *   shoal-coordinator --listen tcp://127.0.0.1:0 --data DIR/coordinator
 *                     --ready-file DIR/coordinator.ready
 *   shoal-worker --listen tcp://127.0.0.1:0 --data DIR/workerI
 *                --coordinator URL --name bench-wI --ready-file ...
 * Port 0 lets the kernel pick free loopback ports; each daemon writes the
 * URL it bound to its ready file, so no port is guessed.  Every child has
 * PR_SET_PDEATHSIG(SIGKILL): none outlives a crashed bench.  They are
 * stopped by pid (SIGTERM, SIGKILL after 10 s) and the directory removed.
 *
 * Threading: call from the main thread before starting search threads
 * (fork in a multi-threaded process is avoided).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "shoal_client.h"
#include "util.h"

#define READY_TIMEOUT_MS 60000
#define UP_TIMEOUT_MS 60000

static pid_t
spawn(const char *log_path, char *const argv[])
{
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid != 0)
		return pid; /* parent, or -1 */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(127);
	int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
	if (fd >= 0) {
		dup2(fd, 1);
		dup2(fd, 2);
		close(fd);
	}
	int nul = open("/dev/null", O_RDONLY);
	if (nul >= 0) {
		dup2(nul, 0);
		close(nul);
	}
	execv(argv[0], argv);
	fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

static bool
alive(pid_t pid)
{
	int status;
	return pid > 0 && waitpid(pid, &status, WNOHANG) == 0;
}

/* Waits for the ready file; its first line (a URL) goes to out. */
static bool
wait_ready(const char *path, pid_t pid, char *out, size_t cap)
{
	uint64_t end = util_mono_ms() + READY_TIMEOUT_MS;
	while (util_mono_ms() < end) {
		FILE *f = fopen(path, "r");
		if (f) {
			bool ok = fgets(out, (int)cap, f) != NULL;
			fclose(f);
			if (ok) {
				out[strcspn(out, "\r\n")] = '\0';
				if (out[0])
					return true;
			}
		}
		if (!alive(pid))
			return false;
		util_sleep_ms(20);
	}
	return false;
}

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

static void
stop_pid(int *pidp)
{
	pid_t pid = *pidp;
	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	uint64_t end = util_mono_ms() + 10000;
	int status;
	while (waitpid(pid, &status, WNOHANG) == 0) {
		if (util_mono_ms() > end) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			break;
		}
		util_sleep_ms(10);
	}
	*pidp = 0;
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

shoal_code
bench_cluster_start(bench_cluster *c, const char *bin, int n, shoal_status *st)
{
	memset(c, 0, sizeof *c);
	if (n < 1 || n > BENCH_MAX_WORKERS)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "--local %d: expected 1..%d workers", n, BENCH_MAX_WORKERS);
	snprintf(c->bin, sizeof c->bin, "%s", bin);
	char coord_bin[600], worker_bin[600];
	snprintf(coord_bin, sizeof coord_bin, "%s/shoal-coordinator", bin);
	snprintf(worker_bin, sizeof worker_bin, "%s/shoal-worker", bin);
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
	c->coord_pid = spawn(log, cargv);
	if (c->coord_pid < 0 || !wait_ready(ready, c->coord_pid, c->url, sizeof c->url)) {
		shoal_status_set(st, SHOAL_UNAVAILABLE, "the local coordinator did not start");
		log_tail(st, log);
		bench_cluster_stop(c, true);
		return SHOAL_UNAVAILABLE;
	}
	c->nworkers = n;
	for (int i = 0; i < n; i++) {
		char name[32], url[128];
		snprintf(data, sizeof data, "%s/worker%d", c->dir, i);
		snprintf(ready, sizeof ready, "%s/worker%d.ready", c->dir, i);
		snprintf(log, sizeof log, "%s/worker%d.log", c->dir, i);
		snprintf(name, sizeof name, "bench-w%d", i);
		char *wargv[] = {worker_bin, "--listen", "tcp://127.0.0.1:0", "--data", data,
		    "--coordinator", c->url, "--name", name, "--ready-file", ready, NULL};
		c->worker_pid[i] = spawn(log, wargv);
		if (c->worker_pid[i] < 0 || !wait_ready(ready, c->worker_pid[i], url, sizeof url)) {
			shoal_status_set(st, SHOAL_UNAVAILABLE, "local worker %d did not start", i);
			log_tail(st, log);
			bench_cluster_stop(c, true);
			return SHOAL_UNAVAILABLE;
		}
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
		stop_pid(&c->worker_pid[i]);
	stop_pid(&c->coord_pid);
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
