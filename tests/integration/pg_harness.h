/* pg_harness.h -- a real PostgreSQL server for the import tests.
 *
 * pg_harness_start() runs initdb into a fresh temporary directory and
 * starts `postgres` on a free loopback port (TCP on 127.0.0.1 plus a Unix
 * socket in the same directory), with durability switched off (fsync,
 * synchronous_commit, full_page_writes: the test owns the data, and speed
 * matters).  When the test runs as root -- CI does -- initdb and postgres
 * run as the `postgres` user (PostgreSQL refuses root), and the directory
 * is handed to that user.  The server is stopped by its pid: by
 * pg_harness_stop(), at exit() (also after a failed CHECK), and, if the
 * test itself dies, by PR_SET_PDEATHSIG.
 *
 * When no PostgreSQL server binaries are found, pg_harness_start() prints
 * why and the test exits with 77, which ctest reports as skipped.
 * SHOAL_PG_BINDIR overrides where they are looked for.
 */
#ifndef SHOAL_PG_HARNESS_H
#define SHOAL_PG_HARNESS_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <libpq-fe.h>

#include "harness.h"

typedef struct pg_server {
	char dir[256]; /* temporary directory: data/, socket, log */
	char bindir[256];
	int port;
	pid_t pid;
	char dsn[512]; /* host=127.0.0.1 port=... user=postgres dbname=postgres */
} pg_server;

/* Starts a fresh server (see above); exits the test on failure. */
void pg_harness_start(pg_server *s);

/* Stops the server (fast shutdown, SIGKILL after 20 s) and removes its
 * directory unless SHOAL_KEEP_TEST_DIR is set.  Idempotent. */
void pg_harness_stop(pg_server *s);

/* A connection to the server's postgres database; exits on failure. */
PGconn *pg_harness_connect(pg_server *s);

/* Runs sql (several statements allowed); exits the test on an error. */
void pg_harness_exec(PGconn *c, const char *sql);

/* Runs a query returning one value; the text is copied into out. */
void pg_harness_value(PGconn *c, const char *sql, char *out, size_t cap);

/* COPY table FROM STDIN (copy is the whole COPY statement) of len bytes
 * of rows in the text format; exits the test on an error. */
void pg_harness_copy_in(PGconn *c, const char *copy, const char *data, size_t len);

/* Writes v as PostgreSQL text, "{a,b}" or "[a,b]" (open/close), each
 * component with 9 significant digits (exact for float32); returns the
 * length written. */
size_t pg_harness_vec_text(char *buf, size_t cap, const float *v, uint32_t dim, char open,
    char close);

/* Runs the CLI's `shoal import pg --dsn <s's dsn>` followed by the
 * NULL-terminated arguments (at most 40) against cl; out and the result
 * are harness_run_cli's. */
int pg_harness_importv(harness_cluster *cl, const pg_server *s, char *out, size_t cap,
    const char *first, va_list ap);
int pg_harness_import(harness_cluster *cl, const pg_server *s, char *out, size_t cap,
    const char *first, ...);

#endif
