/* it_import_large.c -- a 100,000-row import that survives kill -9 of the
 * CLI and of the coordinator, resumes from its checkpoint, and ends with
 * exactly the source's rows.
 *
 *  1. PostgreSQL table big(id bigint primary key, emb real[]) with 100,000
 *     generated 32-dimension vectors; a two-worker cluster.
 *  2. `shoal import pg` starts in the background (throttled with
 *     --max-rate so that the kills land mid-import); at >= 20% the CLI is
 *     killed with SIGKILL and the import must go on without it.
 *  3. At >= 45% the coordinator is killed with SIGKILL and restarted: the
 *     job is then INTERRUPTED with a checkpoint strictly inside (0, N).
 *  4. `--resume` finishes it: 100,000 imported, 0 skipped, 2 runs, resumed
 *     at the checkpoint; the collection holds exactly the 100,000 ids, each
 *     with its generated vector, bit for bit.
 *  5. Running the whole import again changes nothing (upserts by id).
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "it_common.h"
#include "pg_harness.h"

#define N 100000
#define DIM 32
#define SEED 11

static harness_cluster cl;
static pg_server pg;
static char out[65536];

static void
sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static void
load_source(PGconn *c)
{
	pg_harness_exec(c, "CREATE TABLE big (id bigint PRIMARY KEY, emb real[])");
	PGresult *r = PQexec(c, "COPY big FROM STDIN");
	CHECK(PQresultStatus(r) == PGRES_COPY_IN, "COPY: %s", PQerrorMessage(c));
	PQclear(r);
	char *buf = malloc(1000 * (DIM * 16 + 32));
	float v[DIM * 1000];
	for (int first = 1; first <= N; first += 1000) {
		size_t len = 0;
		vecio_generate(SEED, (uint64_t)first, 1000, DIM, v);
		for (int i = 0; i < 1000; i++) {
			len += (size_t)sprintf(buf + len, "%d\t{", first + i);
			for (int d = 0; d < DIM; d++)
				len += (size_t)sprintf(buf + len, "%s%.9g", d ? "," : "",
				    v[i * DIM + d]);
			len += (size_t)sprintf(buf + len, "}\n");
		}
		CHECK(PQputCopyData(c, buf, (int)len) == 1, "COPY data: %s", PQerrorMessage(c));
	}
	free(buf);
	CHECK(PQputCopyEnd(c, NULL) == 1, "COPY end: %s", PQerrorMessage(c));
	r = PQgetResult(c);
	CHECK(PQresultStatus(r) == PGRES_COMMAND_OK, "COPY: %s", PQerrorMessage(c));
	PQclear(r);
	pg_harness_exec(c, "ANALYZE big");
}

/* The CLI in the background, output to DIR/import-bg.out. */
static pid_t
spawn_cli(const char *max_rate)
{
	char path[400];
	snprintf(path, sizeof path, "%s/import-bg.out", cl.dir);
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid != 0)
		return pid;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(127);
	FILE *f = freopen(path, "w", stdout);
	if (f != NULL)
		dup2(fileno(stdout), 2);
	execl(SHOAL_BIN_DIR "/shoal", "shoal", "--coordinator", cl.coord_url, "import", "pg",
	    "--dsn", pg.dsn, "--table", "big", "--id-col", "id", "--vector-col", "emb", "--tenant",
	    "big", "--collection", "vecs", "--max-rate", max_rate, "--batch", "500", (char *)NULL);
	_exit(127);
}

/* The one import job (there is exactly one in this test). */
static shoal_import_info *
the_job(shoal_client *c)
{
	shoal_import_info *l, *in = NULL;
	size_t n = 0;
	shoal_status st;
	shoal_code rc = shoal_import_list(c, &l, &n, &st);
	CHECK(rc == SHOAL_OK, "import list: %s", st.msg);
	if (n == 1)
		CHECK(shoal_import_get(c, l[0].id, &in, &st) == SHOAL_OK, "import get: %s", st.msg);
	CHECK(n <= 1, "%zu import jobs, expected one", n);
	shoal_import_list_free(l);
	return in;
}

/* Waits until the job has done at least `rows` (and is still running). */
static uint64_t
wait_rows(shoal_client *c, uint64_t rows)
{
	for (int i = 0; i < 600; i++) {
		shoal_import_info *in = the_job(c);
		if (in != NULL) {
			uint64_t done = in->rows_done;
			shoal_import_state s = in->state;
			shoal_import_info_free(in);
			CHECK(s == SHOAL_IMPORT_RUNNING,
			    "the import stopped early (%s) at %" PRIu64 " rows",
			    shoal_import_state_name(s), done);
			if (done >= rows)
				return done;
		}
		sleep_ms(50);
	}
	CHECK(false, "the import did not reach %" PRIu64 " rows within 30 s", rows);
	return 0;
}

static void
verify(shoal_client *c)
{
	uint64_t count = 0;
	OK(shoal_count(c, "big", "vecs", &count, &st_));
	CHECK(count == N, "%" PRIu64 " points after the import, want %d", count, N);
	enum { CHUNK = 5000 };
	uint64_t *ids = malloc(CHUNK * sizeof *ids);
	float *want = malloc((size_t)CHUNK * DIM * sizeof(float));
	for (uint64_t first = 1; first <= N; first += CHUNK) {
		for (int i = 0; i < CHUNK; i++)
			ids[i] = first + (uint64_t)i;
		vecio_generate(SEED, first, CHUNK, DIM, want);
		shoal_get_result *g;
		OK(shoal_get(c, "big", "vecs", ids, CHUNK, true, &g, &st_));
		CHECK(g->n_points == CHUNK, "ids %" PRIu64 "..: %zu of %d found", first,
		    g->n_points, CHUNK);
		for (size_t i = 0; i < g->n_points; i++) {
			uint64_t id = g->points[i].id;
			CHECK(id >= first && id < first + CHUNK, "unexpected id %" PRIu64, id);
			CHECK(g->points[i].dim == DIM &&
			        memcmp(g->points[i].vector, want + (id - first) * DIM,
			            DIM * sizeof(float)) == 0,
			    "point %" PRIu64 " does not have its source vector", id);
		}
		shoal_get_result_free(g);
	}
	free(ids);
	free(want);
}

int
main(void)
{
	pg_harness_start(&pg);
	harness_cluster_start(&cl, 2);
	PGconn *pc = pg_harness_connect(&pg);
	load_source(pc);
	shoal_client *c = it_connect(&cl);

	/* 2. the CLI dies, the import goes on */
	pid_t cli = spawn_cli("20000");
	uint64_t at = wait_rows(c, N / 5);
	kill(cli, SIGKILL);
	waitpid(cli, NULL, 0);
	uint64_t later = wait_rows(c, at + 2000);
	printf("CLI killed at %" PRIu64 " rows; the import went on to %" PRIu64 "\n", at, later);

	/* 3. the coordinator dies */
	wait_rows(c, N * 45 / 100);
	harness_signal_coordinator(&cl, SIGKILL);
	shoal_close(c);
	harness_start_coordinator(&cl);
	CHECK(harness_wait_workers_up(&cl, 2, 15000), "workers did not come back");
	c = it_connect(&cl);
	shoal_import_info *in = the_job(c);
	CHECK(in != NULL && in->state == SHOAL_IMPORT_INTERRUPTED,
	    "after kill -9 of the coordinator the job is %s, want interrupted",
	    in ? shoal_import_state_name(in->state) : "missing");
	uint64_t ck = in->rows_done;
	CHECK(ck > 0 && ck < N, "checkpoint at %" PRIu64 " rows, want inside (0, %d)", ck, N);
	CHECK(in->rows_imported == ck && in->rows_skipped == 0,
	    "checkpoint counters %" PRIu64 " imported %" PRIu64 " skipped at %" PRIu64,
	    in->rows_imported, in->rows_skipped, ck);
	printf("coordinator killed; checkpoint at %" PRIu64 " rows\n", ck);
	shoal_import_info_free(in);

	/* 4. --resume */
	int rc = harness_run_cli(&cl, out, sizeof out, "import", "pg", "--dsn", pg.dsn, "--table",
	    "big", "--id-col", "id", "--vector-col", "emb", "--tenant", "big", "--collection",
	    "vecs", "--batch", "500", "--resume", NULL);
	CHECK(rc == 0, "resume: exit %d\n%s", rc, out);
	CHECK(strstr(out, "succeeded: 100000 rows imported, 0 skipped (100000 rows read)") != NULL,
	    "resume summary:\n%s", out);
	CHECK(strstr(out, "resumed at row") != NULL, "resume not reported:\n%s", out);
	in = the_job(c);
	CHECK(in->state == SHOAL_IMPORT_SUCCEEDED && in->rows_done == N && in->rows_imported == N &&
	        in->rows_skipped == 0 && in->runs == 2 && in->resumed_from == ck,
	    "after resume: %s, done %" PRIu64 ", imported %" PRIu64
	    ", runs %u, resumed_from %" PRIu64,
	    shoal_import_state_name(in->state), in->rows_done, in->rows_imported, in->runs,
	    in->resumed_from);
	printf("resumed run: %" PRIu64 " rows in %.1f s (%.0f rows/s)\n", N - ck,
	    (double)in->elapsed_ms / 1000.0, in->rows_per_sec);
	shoal_import_info_free(in);
	verify(c);

	/* 5. again, from the start: same points, no duplicates */
	rc = harness_run_cli(&cl, out, sizeof out, "import", "pg", "--dsn", pg.dsn, "--table",
	    "big", "--id-col", "id", "--vector-col", "emb", "--tenant", "big", "--collection",
	    "vecs", NULL);
	CHECK(rc == 0, "re-import: exit %d\n%s", rc, out);
	uint64_t count = 0;
	OK(shoal_count(c, "big", "vecs", &count, &st_));
	CHECK(count == N, "%" PRIu64 " points after re-importing, want %d", count, N);
	in = the_job(c);
	printf("full import: %d rows in %.1f s (%.0f rows/s, dim %d, 2 workers)\n", N,
	    (double)in->elapsed_ms / 1000.0, in->rows_per_sec, DIM);
	shoal_import_info_free(in);

	shoal_close(c);
	PQfinish(pc);
	harness_cluster_stop(&cl);
	pg_harness_stop(&pg);
	printf("it_import_large: OK\n");
	return 0;
}
