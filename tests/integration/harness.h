/* harness.h -- start and stop real shoal daemons for integration tests.
 *
 * A cluster lives in a fresh mkdtemp directory: the coordinator on a free
 * loopback port (kept across restarts, since workers dial it), each worker
 * on port 0 (the kernel picks; the worker writes its URL to a ready file
 * and registers it with the coordinator, which follows a restarted worker
 * to its new port).  Every daemon is a real process started with
 * fork/exec from build/bin, logging to DIR/<name>.log, and is stopped by
 * its pid; PR_SET_PDEATHSIG makes sure none outlives a crashed test.
 *
 * Checks: CHECK(cond, fmt...) prints the failure with file:line, stops the
 * cluster (printing the tail of each daemon's log) and exits 1.
 */
#ifndef SHOAL_HARNESS_H
#define SHOAL_HARNESS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define HARNESS_MAX_WORKERS 8

typedef struct harness_cluster {
	char dir[256];
	int coord_port;
	char coord_url[64];
	pid_t coord_pid;
	int nworkers;
	pid_t worker_pid[HARNESS_MAX_WORKERS];
	char worker_url[HARNESS_MAX_WORKERS][64];
	/* Every daemon also serves HTTP (--http-listen 127.0.0.1:0): /metrics,
	 * and the status page on the coordinator.  Ports from the ready files. */
	int coord_http_port;
	int worker_http_port[HARNESS_MAX_WORKERS];
} harness_cluster;

/* The cluster CHECK stops on failure (set by harness_cluster_start). */
extern harness_cluster *harness_current;

void harness_fail(const char *file, int line, const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 3, 4), noreturn))
#endif
	;

#define CHECK(cond, ...)                                                     \
	do {                                                                 \
		if (!(cond))                                                 \
			harness_fail(__FILE__, __LINE__, __VA_ARGS__);       \
	} while (0)

/* Starts a coordinator and n workers and waits until the coordinator
 * reports all n workers up.  Exits the test on failure. */
void harness_cluster_start(harness_cluster *c, int nworkers);

/* Like harness_cluster_start, over a directory that already holds the
 * daemons' data (dir/coordinator, dir/worker0..n-1 -- e.g. laid out by a
 * restore); the directory is removed by harness_cluster_stop. */
void harness_cluster_start_existing(harness_cluster *c, const char *dir, int nworkers);

/* (Re)starts one daemon, waiting for its ready file. */
void harness_start_coordinator(harness_cluster *c);
void harness_start_worker(harness_cluster *c, int i);

/* Worker i's index counters from its Status rpc (index_imports: indexes
 * installed from a move; index_rebuilds: HNSW builds and compactions).
 * false (and a message on stderr) when the call fails. */
bool harness_worker_index_counters(const harness_cluster *c, int i, uint64_t *imports,
    uint64_t *rebuilds);

/* Sends sig to a daemon and, for SIGKILL/SIGTERM, reaps it. */
void harness_signal_coordinator(harness_cluster *c, int sig);
void harness_signal_worker(harness_cluster *c, int i, int sig);

/* Waits until the coordinator reports `n` workers up (timeout_ms); asks
 * with the token in $SHOAL_TOKEN when set (a coordinator with an admin key),
 * and over TLS with the CA in $SHOAL_TLS_CA. */
bool harness_wait_workers_up(harness_cluster *c, int n, int timeout_ms);

/* Stops every daemon still running (SIGTERM, then SIGKILL after 5 s) and
 * removes the directory unless SHOAL_KEEP_TEST_DIR is set. */
void harness_cluster_stop(harness_cluster *c);

/* Runs the shoal CLI with args (NULL-terminated) against the cluster;
 * captures stdout+stderr into out (NUL-terminated, truncated to cap) and
 * returns its exit status (or -1). */
int harness_run_cli(harness_cluster *c, char *out, size_t cap, const char *arg0, ...);

/* Sends raw bytes over a plain TCP connection to 127.0.0.1:port and
 * closes it (garbage-input tests). Returns 0 when sent. */
int harness_send_raw_tcp(int port, const void *buf, size_t len);

/* True when pid is alive (not a zombie). */
bool harness_pid_alive(pid_t pid);

/* Extra arguments for every daemon started from now on (NULL-terminated
 * arrays, borrowed; NULL = none), e.g. {"--config", path, NULL}. */
extern const char *const *harness_coord_extra_args;
extern const char *const *harness_worker_extra_args;

/* The scheme of every daemon's listen URL from now on: NULL = "tcp", or
 * "tls+tcp" (then pass the --tls-* flags in the extra args above, and put
 * the CA in $SHOAL_TLS_CA for the CLI and harness_wait_workers_up). */
extern const char *harness_scheme;

/* The port of a tcp://127.0.0.1:PORT URL, or -1. */
int harness_url_port(const char *url);

/* A loopback TCP port free right now (the kernel's pick), or -1. */
int harness_free_port(void);

#endif
