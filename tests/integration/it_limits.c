/* it_limits.c -- the coordinator's request limits (docs/security.md):
 * started with --max-batch 100 --max-k 50 --max-ef-search 200 --max-dim 64,
 * each limit is answered with INVALID_ARGUMENT naming the value, the limit
 * and its flag, and changes nothing; a request exactly at each limit is
 * served.  A limit flag out of range stops the coordinator (exit 2).
 * Both daemons run with --max-concurrent 8 (the load shedding itself is
 * tested in tests/unit/test_rpc_busy.c): a bounded cluster serves normally. */
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "it_common.h"

#define DIM 64

static void
expect_limit(shoal_code rc, const shoal_status *st, const char *what, const char *flag)
{
	CHECK(rc == SHOAL_INVALID_ARGUMENT, "%s: got %s (%s), want INVALID_ARGUMENT", what,
	    shoal_code_name(rc), st->msg);
	CHECK(strstr(st->msg, flag) != NULL, "%s: message '%s' does not name %s", what, st->msg,
	    flag);
	printf("  %-28s -> %s: %s\n", what, shoal_code_name(rc), st->msg);
}

static int
coordinator_exit(const char *flag, const char *value)
{
	char dir[] = "/tmp/shoal-limits-XXXXXX";
	CHECK(mkdtemp(dir) != NULL, "mkdtemp");
	pid_t pid = fork();
	if (pid == 0) {
		execl(SHOAL_BIN_DIR "/shoal-coordinator", "shoal-coordinator", "--data", dir,
		    "--listen", "tcp://127.0.0.1:0", flag, value, (char *)NULL);
		_exit(127);
	}
	int wst = 0;
	CHECK(waitpid(pid, &wst, 0) == pid, "waitpid");
	rmdir(dir);
	return WIFEXITED(wst) ? WEXITSTATUS(wst) : -1;
}

int
main(void)
{
	static const char *const args[] = {"--max-batch", "100", "--max-k", "50",
	    "--max-ef-search", "200", "--max-dim", "64", "--max-concurrent", "8", NULL};
	static const char *const wargs[] = {"--max-concurrent", "8", NULL};
	harness_worker_extra_args = wargs;
	harness_coord_extra_args = args;
	harness_cluster c;
	shoal_status st;
	shoal_code rc;
	harness_cluster_start(&c, 1);
	shoal_client *cl = it_connect(&c);
	OK(shoal_tenant_create(cl, "acme", NULL, NULL, &st_));

	/* dimension */
	shoal_collection_params p = {.dim = DIM + 1, .metric = SHOAL_METRIC_L2};
	rc = shoal_collection_create(cl, "acme", "big", &p, NULL, &st);
	expect_limit(rc, &st, "collection dim 65", "--max-dim");
	p.dim = DIM;
	OK(shoal_collection_create(cl, "acme", "docs", &p, NULL, &st_));

	/* batch */
	float *v = malloc(101 * DIM * sizeof(float));
	uint64_t ids[101];
	vecio_generate(3, 0, 101, DIM, v);
	for (int i = 0; i < 101; i++)
		ids[i] = (uint64_t)i;
	shoal_batch b = {.n = 101, .dim = DIM, .ids = ids, .vectors = v};
	uint32_t up = 0;
	rc = shoal_upsert(cl, "acme", "docs", &b, &up, &st);
	expect_limit(rc, &st, "upsert of 101 points", "--max-batch");
	uint64_t count = 1;
	OK(shoal_count(cl, "acme", "docs", &count, &st_));
	CHECK(count == 0, "a refused upsert left %llu points", (unsigned long long)count);
	b.n = 100;
	OK(shoal_upsert(cl, "acme", "docs", &b, &up, &st_));
	CHECK(up == 100, "upserted %u of 100", up);
	shoal_get_result *g = NULL;
	rc = shoal_get(cl, "acme", "docs", ids, 101, false, &g, &st);
	expect_limit(rc, &st, "get of 101 ids", "--max-batch");
	OK(shoal_get(cl, "acme", "docs", ids, 100, false, &g, &st_));
	shoal_get_result_free(g);
	uint32_t deleted = 0;
	rc = shoal_delete(cl, "acme", "docs", ids, 101, &deleted, &st);
	expect_limit(rc, &st, "delete of 101 ids", "--max-batch");
	OK(shoal_count(cl, "acme", "docs", &count, &st_));
	CHECK(count == 100, "a refused delete changed the count to %llu", (unsigned long long)count);

	/* k and ef_search */
	shoal_search_result *r = NULL;
	shoal_search_params sp = {.k = 51};
	rc = shoal_search(cl, "acme", "docs", v, DIM, &sp, &r, &st);
	expect_limit(rc, &st, "search k 51", "--max-k");
	sp.k = 50;
	OK(shoal_search(cl, "acme", "docs", v, DIM, &sp, &r, &st_));
	CHECK(r->n_hits == 50, "%zu hits for k 50", r->n_hits);
	shoal_search_result_free(r);
	sp.ef_search = 201;
	rc = shoal_search(cl, "acme", "docs", v, DIM, &sp, &r, &st);
	expect_limit(rc, &st, "search ef_search 201", "--max-ef-search");
	sp.ef_search = 200;
	OK(shoal_search(cl, "acme", "docs", v, DIM, &sp, &r, &st_));
	shoal_search_result_free(r);
	free(v);
	shoal_close(cl);
	harness_cluster_stop(&c);

	/* out-of-range limits stop the coordinator with a usage error */
	CHECK(coordinator_exit("--max-k", "0") == 2, "--max-k 0 accepted");
	CHECK(coordinator_exit("--max-k", "10001") == 2, "--max-k 10001 accepted");
	CHECK(coordinator_exit("--max-dim", "16001") == 2, "--max-dim 16001 accepted");
	CHECK(coordinator_exit("--max-batch", "x") == 2, "--max-batch x accepted");
	CHECK(coordinator_exit("--max-concurrent", "-1") == 2, "--max-concurrent -1 accepted");
	printf("it_limits: OK\n");
	return 0;
}
