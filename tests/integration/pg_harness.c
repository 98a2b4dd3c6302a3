/* pg_harness.c -- a real PostgreSQL server for the import tests (see
 * pg_harness.h). */
#include "pg_harness.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "proc.h"

static pg_server *current;

static void
sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* The newest /usr/lib/postgresql/N/bin with initdb and postgres. */
static bool
find_bindir(char *out, size_t cap)
{
	const char *env = getenv("SHOAL_PG_BINDIR");
	char p[512];
	if (env != NULL && env[0]) {
		snprintf(out, cap, "%s", env);
		return true;
	}
	DIR *d = opendir("/usr/lib/postgresql");
	int best = -1;
	if (d != NULL) {
		struct dirent *e;
		while ((e = readdir(d)) != NULL) {
			int v = atoi(e->d_name);
			snprintf(p, sizeof p, "/usr/lib/postgresql/%s/bin/postgres", e->d_name);
			if (v > best && access(p, X_OK) == 0)
				best = v;
		}
		closedir(d);
	}
	if (best < 0)
		return false;
	snprintf(out, cap, "/usr/lib/postgresql/%d/bin", best);
	return true;
}

/* fork + (as postgres when root) exec; stdout/stderr to log. */
static pid_t
spawn_as_pg(const char *log, char *const argv[], uid_t uid, gid_t gid)
{
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid != 0)
		return pid;
	/* postgres shuts down immediately on SIGQUIT if the test dies */
	prctl(PR_SET_PDEATHSIG, SIGQUIT);
	if (getppid() != parent)
		_exit(127);
	if (geteuid() == 0 && (setgid(gid) != 0 || setuid(uid) != 0)) {
		perror("setuid postgres");
		_exit(127);
	}
	proc_log_to(log);
	execv(argv[0], argv);
	fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

static int
rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void
stop_at_exit(void)
{
	if (current != NULL)
		pg_harness_stop(current);
}

static void
tail_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[512];
	if (f == NULL)
		return;
	fprintf(stderr, "---- %s\n", path);
	while (fgets(line, sizeof line, f) != NULL)
		fputs(line, stderr);
	fclose(f);
}

void
pg_harness_start(pg_server *s)
{
	uid_t uid = geteuid();
	gid_t gid = getegid();
	char log[400], data[400], port[16], sock[300];

	memset(s, 0, sizeof *s);
	if (!find_bindir(s->bindir, sizeof s->bindir)) {
		fprintf(stderr,
		    "SKIP: no PostgreSQL server binaries in /usr/lib/postgresql/*/bin "
		    "(apt-get install postgresql, or set SHOAL_PG_BINDIR)\n");
		exit(77);
	}
	if (geteuid() == 0) {
		struct passwd *pw = getpwnam("postgres");
		CHECK(pw != NULL,
		    "running as root, but there is no 'postgres' user to run "
		    "PostgreSQL as");
		uid = pw->pw_uid;
		gid = pw->pw_gid;
	}
	snprintf(s->dir, sizeof s->dir, "/tmp/shoal-pg-XXXXXX");
	CHECK(mkdtemp(s->dir) != NULL, "mkdtemp: %s", strerror(errno));
	CHECK(chown(s->dir, uid, gid) == 0, "chown %s: %s", s->dir, strerror(errno));
	snprintf(log, sizeof log, "%s/postgres.log", s->dir);
	snprintf(data, sizeof data, "%s/data", s->dir);
	current = s;
	atexit(stop_at_exit);

	char initdb[300];
	snprintf(initdb, sizeof initdb, "%s/initdb", s->bindir);
	char *iargv[] = {initdb, "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8",
	    "--locale=C", "--no-sync", NULL};
	pid_t ip = spawn_as_pg(log, iargv, uid, gid);
	int status = 0;
	CHECK(ip > 0 && waitpid(ip, &status, 0) == ip, "initdb did not run");
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		tail_file(log);
		CHECK(false, "initdb failed (log above)");
	}

	s->port = harness_free_port();
	CHECK(s->port > 0, "no free port");
	snprintf(port, sizeof port, "%d", s->port);
	snprintf(sock, sizeof sock, "%s", s->dir);
	char postgres[300];
	snprintf(postgres, sizeof postgres, "%s/postgres", s->bindir);
	char *pargv[] = {postgres, "-D", data, "-p", port, "-k", sock, "-c",
	    "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off", "-c",
	    "full_page_writes=off", "-c", "max_connections=40", "-c", "shared_buffers=64MB", NULL};
	s->pid = spawn_as_pg(log, pargv, uid, gid);
	CHECK(s->pid > 0, "cannot start postgres");
	snprintf(s->dsn, sizeof s->dsn, "host=127.0.0.1 port=%d user=postgres dbname=postgres",
	    s->port);
	for (int i = 0; i < 300; i++) {
		if (PQping(s->dsn) == PQPING_OK)
			return;
		if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
			s->pid = 0;
			tail_file(log);
			CHECK(false, "postgres exited during start-up (log above)");
		}
		sleep_ms(100);
	}
	tail_file(log);
	CHECK(false, "postgres did not accept connections within 30 s");
}

void
pg_harness_stop(pg_server *s)
{
	if (s->pid > 0) {
		int status;
		kill(s->pid, SIGINT); /* fast shutdown */
		for (int i = 0; i < 200; i++) {
			if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
				s->pid = 0;
				break;
			}
			sleep_ms(100);
		}
		if (s->pid > 0) {
			kill(s->pid, SIGKILL);
			waitpid(s->pid, &status, 0);
			s->pid = 0;
		}
	}
	if (s->dir[0] && getenv("SHOAL_KEEP_TEST_DIR") == NULL)
		nftw(s->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	else if (s->dir[0])
		fprintf(stderr, "PostgreSQL test directory kept: %s\n", s->dir);
	s->dir[0] = '\0';
	if (current == s)
		current = NULL;
}

PGconn *
pg_harness_connect(pg_server *s)
{
	PGconn *c = PQconnectdb(s->dsn);
	CHECK(PQstatus(c) == CONNECTION_OK, "connect to the test PostgreSQL: %s",
	    PQerrorMessage(c));
	PGresult *r = PQexec(c, "SET client_min_messages = warning");
	PQclear(r);
	return c;
}

void
pg_harness_exec(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);
	ExecStatusType st = PQresultStatus(r);
	CHECK(st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK, "SQL failed: %s\n  in: %.300s",
	    PQerrorMessage(c), sql);
	PQclear(r);
}

void
pg_harness_value(PGconn *c, const char *sql, char *out, size_t cap)
{
	PGresult *r = PQexec(c, sql);
	CHECK(PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && PQnfields(r) >= 1,
	    "SQL failed: %s\n  in: %.300s", PQerrorMessage(c), sql);
	snprintf(out, cap, "%s", PQgetvalue(r, 0, 0));
	PQclear(r);
}

void
pg_harness_copy_in(PGconn *c, const char *copy, const char *data, size_t len)
{
	PGresult *r = PQexec(c, copy);
	CHECK(PQresultStatus(r) == PGRES_COPY_IN, "COPY: %s", PQerrorMessage(c));
	PQclear(r);
	CHECK(PQputCopyData(c, data, (int)len) == 1, "COPY data: %s", PQerrorMessage(c));
	CHECK(PQputCopyEnd(c, NULL) == 1, "COPY end: %s", PQerrorMessage(c));
	r = PQgetResult(c);
	CHECK(PQresultStatus(r) == PGRES_COMMAND_OK, "COPY: %s", PQerrorMessage(c));
	PQclear(r);
}

size_t
pg_harness_vec_text(char *buf, size_t cap, const float *v, uint32_t dim, char open, char close)
{
	size_t n = (size_t)snprintf(buf, cap, "%c", open);
	for (uint32_t i = 0; i < dim && n < cap; i++)
		n += (size_t)snprintf(buf + n, cap - n, "%s%.9g", i ? "," : "", v[i]);
	if (n < cap)
		n += (size_t)snprintf(buf + n, cap - n, "%c", close);
	CHECK(n < cap, "vector text longer than %zu bytes", cap);
	return n;
}

int
pg_harness_importv(harness_cluster *cl, const pg_server *s, char *out, size_t cap,
    const char *first, va_list ap)
{
	const char *a[48] = {"import", "pg", "--dsn", s->dsn, first};
	int n = 5;
	while (n < 45 && (a[n] = va_arg(ap, const char *)) != NULL)
		n++;
	CHECK(n < 45, "pg_harness_importv: too many arguments");
	for (int i = n; i < 48; i++)
		a[i] = NULL;
	/* harness_run_cli is variadic; pass every slot (NULL after the end) */
	return harness_run_cli(cl, out, cap, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8],
	    a[9], a[10], a[11], a[12], a[13], a[14], a[15], a[16], a[17], a[18], a[19], a[20],
	    a[21], a[22], a[23], a[24], a[25], a[26], a[27], a[28], a[29], a[30], a[31], a[32],
	    a[33], a[34], a[35], a[36], a[37], a[38], a[39], a[40], a[41], a[42], a[43], a[44],
	    NULL);
}

int
pg_harness_import(harness_cluster *cl, const pg_server *s, char *out, size_t cap,
    const char *first, ...)
{
	va_list ap;
	va_start(ap, first);
	int rc = pg_harness_importv(cl, s, out, cap, first, ap);
	va_end(ap);
	return rc;
}
