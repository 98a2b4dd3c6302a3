/* harness.c -- see harness.h. */
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proc.h"
#include "shoal_client.h"
#include "rpc.h"
#include "shoal.pb-c.h"

#ifndef SHOAL_BIN_DIR
#error "SHOAL_BIN_DIR must point to build/bin"
#endif

harness_cluster *harness_current;
const char *const *harness_coord_extra_args;
const char *const *harness_worker_extra_args;
const char *harness_scheme;

/* argv = base (NULL-terminated) + extra (NULL-terminated or NULL) into out
 * (cap entries, NULL-terminated). */
static void
build_argv(char **out, size_t cap, char *const *base, const char *const *extra)
{
	size_t n = 0;
	for (; base[n] != NULL && n + 1 < cap; n++)
		out[n] = base[n];
	for (size_t i = 0; extra != NULL && extra[i] != NULL && n + 1 < cap; i++)
		out[n++] = (char *)extra[i];
	out[n] = NULL;
}

/* The port of the "http://HOST:PORT" second line of a ready file, or -1. */
static int
ready_http_port(const char *path)
{
	char line[256];
	int port = -1;
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return -1;
	if (fgets(line, sizeof line, f) != NULL && fgets(line, sizeof line, f) != NULL &&
	    strncmp(line, "http://", 7) == 0) {
		const char *colon = strrchr(line, ':');
		if (colon != NULL)
			port = atoi(colon + 1);
	}
	fclose(f);
	return port;
}

static void
sleep_ms(int ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static long
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void
tail_log(const char *path)
{
	char cmd[600];
	fprintf(stderr, "---- last lines of %s\n", path);
	snprintf(cmd, sizeof cmd, "tail -n 25 '%s' 1>&2", path);
	if (system(cmd) != 0)
		fprintf(stderr, "(no log)\n");
}

void
harness_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "FAIL %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (harness_current) {
		char p[400];
		snprintf(p, sizeof p, "%s/coordinator.log", harness_current->dir);
		tail_log(p);
		for (int i = 0; i < harness_current->nworkers; i++) {
			snprintf(p, sizeof p, "%s/worker%d.log", harness_current->dir, i);
			tail_log(p);
		}
		setenv("SHOAL_KEEP_TEST_DIR", "1", 1);
		harness_cluster_stop(harness_current);
	}
	exit(1);
}

int
harness_free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof a;
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	return ntohs(a.sin_port);
}

bool
harness_pid_alive(pid_t pid)
{
	return proc_alive(pid);
}

void
harness_start_coordinator(harness_cluster *c)
{
	char data[300], ready[300], log[300], listen[64];
	snprintf(data, sizeof data, "%s/coordinator", c->dir);
	snprintf(ready, sizeof ready, "%s/coordinator.ready", c->dir);
	snprintf(log, sizeof log, "%s/coordinator.log", c->dir);
	snprintf(listen, sizeof listen, "%s://127.0.0.1:%d", harness_scheme ? harness_scheme : "tcp",
	    c->coord_port);
	unlink(ready);
	char *base[] = {SHOAL_BIN_DIR "/shoal-coordinator", "--listen", listen, "--data", data,
	    "--ready-file", ready, "--worker-timeout-ms", "3000", "--http-listen", "127.0.0.1:0",
	    NULL};
	char *argv[64];
	build_argv(argv, 64, base, harness_coord_extra_args);
	/* the port may still be held briefly after a kill: retry a few times */
	for (int attempt = 0; attempt < 20; attempt++) {
		c->coord_pid = proc_spawn(log, argv);
		char url[64];
		if (proc_wait_ready(ready, c->coord_pid, url, sizeof url, 15000)) {
			c->coord_http_port = ready_http_port(ready);
			return;
		}
		if (harness_pid_alive(c->coord_pid))
			break;
		sleep_ms(250);
	}
	CHECK(false, "coordinator did not become ready on %s", listen);
}

void
harness_start_worker(harness_cluster *c, int i)
{
	char data[300], ready[300], log[300];
	snprintf(data, sizeof data, "%s/worker%d", c->dir, i);
	snprintf(ready, sizeof ready, "%s/worker%d.ready", c->dir, i);
	snprintf(log, sizeof log, "%s/worker%d.log", c->dir, i);
	unlink(ready);
	char listen[64];
	snprintf(listen, sizeof listen, "%s://127.0.0.1:0", harness_scheme ? harness_scheme : "tcp");
	char *base[] = {SHOAL_BIN_DIR "/shoal-worker", "--listen", listen, "--data",
	    data, "--coordinator", c->coord_url, "--ready-file", ready, "--http-listen",
	    "127.0.0.1:0", NULL};
	char *argv[64];
	build_argv(argv, 64, base, harness_worker_extra_args);
	c->worker_pid[i] = proc_spawn(log, argv);
	CHECK(proc_wait_ready(ready, c->worker_pid[i], c->worker_url[i], sizeof c->worker_url[i],
	          30000),
	    "worker %d did not become ready", i);
	c->worker_http_port[i] = ready_http_port(ready);
}

/* SIGTERM / SIGKILL stop the daemon (reaped, *pid = 0); any other signal
 * (SIGSTOP, SIGCONT, ...) is only sent. */
static void
stop_pid(pid_t *pid, int sig)
{
	if (sig == SIGKILL || sig == SIGTERM)
		proc_stop(pid, sig, 10000);
	else if (*pid > 0)
		kill(*pid, sig);
}

void
harness_signal_coordinator(harness_cluster *c, int sig)
{
	stop_pid(&c->coord_pid, sig);
}

bool
harness_worker_index_counters(const harness_cluster *c, int i, uint64_t *imports,
    uint64_t *rebuilds)
{
	rpc_client *rc;
	shoal_status st;
	rpc_result res;
	Shoal__WorkerStatusRequest req = SHOAL__WORKER_STATUS_REQUEST__INIT;
	if (rpc_client_open(c->worker_url[i], &shoal__worker__descriptor, NULL, &rc, &st) !=
	    SHOAL_OK) {
		fprintf(stderr, "harness: worker %d: %s\n", i, st.msg);
		return false;
	}
	RPC_INVOKE(shoal__worker__status, rpc_client_service(rc), &req, &res);
	bool ok = res.status.code == SHOAL_OK;
	if (ok) {
		const Shoal__WorkerStatusReply *r = (const Shoal__WorkerStatusReply *)res.reply;
		*imports = r->index_imports;
		*rebuilds = r->index_rebuilds;
		rpc_result_free(&res);
	} else {
		fprintf(stderr, "harness: worker %d status: %s\n", i, res.status.msg);
	}
	rpc_client_close(rc);
	return ok;
}

void
harness_signal_worker(harness_cluster *c, int i, int sig)
{
	stop_pid(&c->worker_pid[i], sig);
}

bool
harness_wait_workers_up(harness_cluster *c, int n, int timeout_ms)
{
	long end = now_ms() + timeout_ms;
	shoal_client *cl;
	shoal_status st;
	/* a coordinator with an admin key: tests put it in SHOAL_TOKEN */
	shoal_connect_opts o = {.auth_token = getenv("SHOAL_TOKEN"),
	    .tls_ca_file = getenv("SHOAL_TLS_CA")};
	if (shoal_connect(c->coord_url, &o, &cl, &st) != SHOAL_OK)
		return false;
	bool ok = false;
	while (!ok && now_ms() < end) {
		shoal_cluster_info *cs = NULL;
		if (shoal_cluster_status(cl, &cs, &st) == SHOAL_OK) {
			int up = 0;
			for (size_t i = 0; i < cs->n_workers; i++)
				up += cs->workers[i].up ? 1 : 0;
			ok = up >= n;
			shoal_cluster_info_free(cs);
		}
		if (!ok)
			sleep_ms(50);
	}
	shoal_close(cl);
	return ok;
}

/* Starts the coordinator on a free port and nworkers workers in c->dir
 * (set), and waits up to up_ms for the workers to be up. */
static void
cluster_start_in(harness_cluster *c, int nworkers, int up_ms)
{
	c->coord_port = harness_free_port();
	CHECK(c->coord_port > 0, "no free port");
	snprintf(c->coord_url, sizeof c->coord_url, "%s://127.0.0.1:%d",
	    harness_scheme ? harness_scheme : "tcp", c->coord_port);
	c->nworkers = nworkers;
	harness_start_coordinator(c);
	for (int i = 0; i < nworkers; i++)
		harness_start_worker(c, i);
	CHECK(harness_wait_workers_up(c, nworkers, up_ms), "%d workers not up", nworkers);
}

void
harness_cluster_start(harness_cluster *c, int nworkers)
{
	memset(c, 0, sizeof *c);
	harness_current = c;
	snprintf(c->dir, sizeof c->dir, "/tmp/shoal-test-XXXXXX");
	CHECK(mkdtemp(c->dir) != NULL, "mkdtemp: %s", strerror(errno));
	cluster_start_in(c, nworkers, 20000);
}

void
harness_cluster_start_existing(harness_cluster *c, const char *dir, int nworkers)
{
	memset(c, 0, sizeof *c);
	harness_current = c;
	snprintf(c->dir, sizeof c->dir, "%s", dir);
	cluster_start_in(c, nworkers, 30000); /* recovery of existing data takes longer */
}

void
harness_cluster_stop(harness_cluster *c)
{
	for (int i = 0; i < c->nworkers; i++)
		stop_pid(&c->worker_pid[i], SIGTERM);
	stop_pid(&c->coord_pid, SIGTERM);
	if (getenv("SHOAL_KEEP_TEST_DIR") == NULL && c->dir[0] == '/') {
		char cmd[400];
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", c->dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", c->dir);
	} else {
		fprintf(stderr, "test directory kept: %s\n", c->dir);
	}
	if (harness_current == c)
		harness_current = NULL;
}

int
harness_run_cli(harness_cluster *c, char *out, size_t cap, const char *arg0, ...)
{
	char *argv[64];
	int n = 0;
	va_list ap;
	argv[n++] = SHOAL_BIN_DIR "/shoal";
	argv[n++] = "--coordinator";
	argv[n++] = c->coord_url;
	argv[n++] = (char *)arg0;
	va_start(ap, arg0);
	while (n < 63) {
		char *a = va_arg(ap, char *);
		if (a == NULL)
			break;
		argv[n++] = a;
	}
	va_end(ap);
	argv[n] = NULL;

	char path[300];
	snprintf(path, sizeof path, "%s/cli.out", c->dir);
	unlink(path);
	pid_t pid = proc_spawn(path, argv);
	int status;
	if (waitpid(pid, &status, 0) < 0)
		return -1;
	FILE *f = fopen(path, "r");
	size_t got = 0;
	if (f) {
		got = fread(out, 1, cap - 1, f);
		fclose(f);
	}
	out[got] = '\0';
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int
harness_send_raw_tcp(int port, const void *buf, size_t len)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
	    .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
		close(fd);
		return -1;
	}
	ssize_t w = write(fd, buf, len);
	sleep_ms(100);
	close(fd);
	return w == (ssize_t)len ? 0 : -1;
}

int
harness_url_port(const char *url)
{
	const char *p = strrchr(url, ':');
	return p ? atoi(p + 1) : -1;
}
