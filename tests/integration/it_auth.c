/* it_auth.c -- node authentication with the cluster secret (docs/security.md).
 *
 * A coordinator and two workers share --cluster-secret-file: the workers
 * register, and data written and searched through the coordinator works
 * (the coordinator's worker calls carry the secret).  Requests straight to
 * a worker without the secret or with a wrong one are refused with
 * UNAUTHENTICATED (message names no secret), counted in the worker's
 * shoal_rpc_requests_total{code="UNAUTHENTICATED"}, and change nothing;
 * with the secret they are served.  RegisterWorker without the secret is
 * refused by the coordinator, and a real worker started with a different
 * secret never comes up (the cluster keeps two workers).  A secret file
 * that is too short stops the daemon at start (exit 2).
 *
 * Then the coordinator restarts with --admin-key-file too: client requests
 * without a token or with a wrong one (the cluster secret included) are
 * refused with UNAUTHENTICATED and counted; with the admin key -- through
 * libshoal, `shoal --token` and SHOAL_TOKEN -- they are served.
 *
 * Tenant API keys: the key of acme reads and writes acme's data only;
 * globex's data, DDL, tenant listing and key management are refused with
 * PERMISSION_DENIED (and change nothing).  In a shared collection (one
 * shard, so acme's and globex's points share it) it reaches only key
 * acme: its upserts with key acme are stored, readable and searchable; a
 * batch with one point of key globex or without a key is refused whole
 * (nothing of it written), as are an overwrite of globex's id, gets,
 * deletes and searches with key globex or none, and Count; a keyed delete
 * of globex's ids deletes none; the refusals are counted in
 * shoal_rpc_requests_total{code="PERMISSION_DENIED"}.  The catalog's files do not hold the key.
 * Keys survive a coordinator restart; a revoked key and the key of a
 * dropped (and re-created) tenant are refused with UNAUTHENTICATED. */
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../http_get.h"
#include "it_common.h"
#include "rpc.h"
#include "shoal.pb-c.h"
#include "util.h"

#define DIM 8
#define SECRET "it-auth-secret-0123456789abcdef"
#define WRONG "it-auth-WRONG--0123456789abcdef"
#define ADMIN "it-auth-ADMIN--0123456789abcdef"

static shoal_client *
connect_with(const char *url, const char *token)
{
	shoal_connect_opts o = {.timeout_ms = 10000, .auth_token = token};
	shoal_client *cl = NULL;
	shoal_status st;
	CHECK(shoal_connect(url, &o, &cl, &st) == SHOAL_OK, "connect: %s", st.msg);
	return cl;
}

/* True when some file under dir holds needle (the catalog must not). */
static bool
dir_holds(const char *dir, const char *needle)
{
	char cmd[512];
	snprintf(cmd, sizeof cmd, "grep -rqa -- '%s' '%s'", needle, dir);
	return system(cmd) == 0;
}

static void
expect(shoal_code got, shoal_code want, const shoal_status *st, const char *what)
{
	CHECK(got == want, "%s: got %s (%s), want %s", what, shoal_code_name(got), st->msg,
	    shoal_code_name(want));
	printf("  %-40s -> %s: %s\n", what, shoal_code_name(got), got ? st->msg : "");
}

/* Count through a fresh client with token (NULL = none). */
static shoal_code
count_with(const char *url, const char *token, uint64_t *n, shoal_status *st)
{
	shoal_connect_opts o = {.timeout_ms = 5000, .auth_token = token};
	shoal_client *cl = NULL;
	CHECK(shoal_connect(url, &o, &cl, st) == SHOAL_OK, "connect: %s", st->msg);
	shoal_code rc = shoal_count(cl, "acme", "docs", n, st);
	shoal_close(cl);
	return rc;
}

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	CHECK(f != NULL, "cannot write %s", path);
	fputs(text, f);
	fclose(f);
	chmod(path, 0600);
}

/* Calls Worker.Status on url with token (NULL = none); returns the code. */
static shoal_code
worker_status(const char *url, const char *token, char *msg, size_t cap)
{
	rpc_client_opts o = {.timeout_ms = 5000, .auth_token = token};
	rpc_client *rc = NULL;
	shoal_status st;
	CHECK(rpc_client_open(url, &shoal__worker__descriptor, &o, &rc, &st) == SHOAL_OK,
	    "open %s: %s", url, st.msg);
	Shoal__WorkerStatusRequest req = SHOAL__WORKER_STATUS_REQUEST__INIT;
	rpc_result res = {0};
	RPC_INVOKE(shoal__worker__status, rpc_client_service(rc), &req, &res);
	snprintf(msg, cap, "%s", res.status.msg);
	shoal_code code = res.status.code;
	rpc_result_free(&res);
	rpc_client_close(rc);
	return code;
}

static shoal_code
register_worker(const char *url, const char *token, char *msg, size_t cap)
{
	rpc_client_opts o = {.timeout_ms = 5000, .auth_token = token};
	rpc_client *rc = NULL;
	shoal_status st;
	CHECK(rpc_client_open(url, &shoal__coordinator__descriptor, &o, &rc, &st) == SHOAL_OK,
	    "open %s: %s", url, st.msg);
	Shoal__RegisterWorkerRequest req = SHOAL__REGISTER_WORKER_REQUEST__INIT;
	req.name = "intruder";
	req.url = "tcp://127.0.0.1:1";
	rpc_result res = {0};
	RPC_INVOKE(shoal__coordinator__register_worker, rpc_client_service(rc), &req, &res);
	snprintf(msg, cap, "%s", res.status.msg);
	shoal_code code = res.status.code;
	rpc_result_free(&res);
	rpc_client_close(rc);
	return code;
}

/* Upserts ids[0..n) (vectors generated from seed 11, id = index) into the
 * shared collection "sh" with payload field tenant = keys[i] (NULL = no
 * field); returns the code. */
static shoal_code
upsert_keyed(shoal_client *cl, const uint64_t *ids, const char *const *keys, size_t n,
    shoal_status *st)
{
	float v[16 * DIM];
	shoal_field f[16];
	shoal_payload pl[16];
	CHECK(n <= 16, "at most 16 points");
	for (size_t i = 0; i < n; i++) {
		vecio_generate(11, ids[i], 1, DIM, v + i * DIM);
		f[i] = (shoal_field){.key = "tenant", .type = SHOAL_VALUE_STRING, .s = keys[i]};
		pl[i] = (shoal_payload){.fields = &f[i], .n_fields = keys[i] != NULL};
	}
	shoal_batch b = {.n = n, .dim = DIM, .ids = ids, .vectors = v, .payloads = pl};
	return shoal_upsert(cl, "", "sh", &b, NULL, st);
}

/* How many of ids[0..n) exist in "sh" (asked with key, NULL = every
 * shard); each found point's tenant field must be want_key when given. */
static size_t
present(shoal_client *cl, const char *key, const uint64_t *ids, size_t n, const char *want_key)
{
	shoal_get_result *g = NULL;
	shoal_status st;
	shoal_code rc = shoal_get_ex(cl, "", "sh", key, ids, n, false, &g, &st);
	CHECK(rc == SHOAL_OK, "get: %s: %s", shoal_code_name(rc), st.msg);
	size_t m = g->n_points;
	for (size_t i = 0; want_key != NULL && i < m; i++) {
		const shoal_point *pt = &g->points[i];
		CHECK(pt->n_payload == 1 && strcmp(pt->payload[0].s, want_key) == 0,
		    "point %llu has another key", (unsigned long long)pt->id);
	}
	shoal_get_result_free(g);
	return m;
}

/* The coordinator's shoal_rpc_requests_total for method and code (0 when
 * no such request was counted yet). */
static double
coord_count(harness_cluster *c, const char *method, const char *code)
{
	http_resp r;
	char labels[128];
	CHECK(http_get("127.0.0.1", c->coord_http_port, "/metrics", &r) == 0 && r.status == 200,
	    "coordinator /metrics");
	snprintf(labels, sizeof labels, "method=\"%s\",code=\"%s\"", method, code);
	double n = prom_value(r.body, "shoal_rpc_requests_total", labels);
	http_resp_free(&r);
	return n < 0 ? 0 : n;
}

/* A tenant key inside a shared collection: only its own distribution-key
 * value.  One shard, so acme's and globex's points share it and the
 * worker-side partition checks are what keeps them apart. */
static void
shared_collection(harness_cluster *c, shoal_client *adm, shoal_client *ta, const float *q)
{
	shoal_collection_params p = {.dim = DIM, .metric = SHOAL_METRIC_L2};
	shoal_distribution d = {.placement = SHOAL_PLACEMENT_SHARED, .shards = 1};
	shoal_status st;
	shoal_code rc;
	OK(shoal_collection_create_distributed(adm, "sh", &p, &d, NULL, &st_));
	double up0 = coord_count(c, "Upsert", "PERMISSION_DENIED");
	double get0 = coord_count(c, "Get", "PERMISSION_DENIED");
	double del0 = coord_count(c, "Delete", "PERMISSION_DENIED");
	double srch0 = coord_count(c, "Search", "PERMISSION_DENIED");

	/* globex's points 0..9, written with the admin key */
	uint64_t gids[10];
	const char *gkeys[10];
	for (int i = 0; i < 10; i++) {
		gids[i] = (uint64_t)i;
		gkeys[i] = "globex";
	}
	rc = upsert_keyed(adm, gids, gkeys, 10, &st);
	expect(rc, SHOAL_OK, &st, "admin: shared upsert, key globex");

	/* acme's own points 100..104: written, readable and searchable */
	uint64_t aids[5] = {100, 101, 102, 103, 104};
	const char *akeys[5] = {"acme", "acme", "acme", "acme", "acme"};
	rc = upsert_keyed(ta, aids, akeys, 5, &st);
	expect(rc, SHOAL_OK, &st, "acme key: shared upsert, key acme");
	CHECK(present(ta, "acme", aids, 5, "acme") == 5, "acme's points not readable by acme");
	CHECK(present(adm, NULL, aids, 5, "acme") == 5, "acme's points not stored");
	shoal_search_opts so = {.key = "acme"};
	shoal_search_result *sr = NULL;
	float qa[DIM];
	vecio_generate(11, 102, 1, DIM, qa);
	OK(shoal_search_ex(ta, "", "sh", qa, DIM, NULL, &so, &sr, &st_));
	CHECK(sr->n_hits == 5 && sr->hits[0].id == 102, "acme's keyed search: %zu hits, first %llu",
	    sr->n_hits, sr->n_hits ? (unsigned long long)sr->hits[0].id : 0ULL);
	for (size_t i = 0; i < sr->n_hits; i++)
		CHECK(sr->hits[i].id >= 100, "acme's search returned globex's point %llu",
		    (unsigned long long)sr->hits[i].id);
	shoal_search_result_free(sr);

	/* refused whole, nothing written: a mixed batch, a batch of another
	 * key, a batch with a point without a key */
	uint64_t mids[4] = {200, 201, 202, 203};
	const char *mixed[4] = {"acme", "acme", "globex", "acme"};
	rc = upsert_keyed(ta, mids, mixed, 4, &st);
	expect(rc, SHOAL_PERMISSION_DENIED, &st, "acme key: mixed batch (point 2 globex)");
	CHECK(strstr(st.msg, "point 2") != NULL, "the refusal does not name point 2: %s", st.msg);
	const char *other[4] = {"globex", "globex", "globex", "globex"};
	rc = upsert_keyed(ta, mids, other, 4, &st);
	expect(rc, SHOAL_PERMISSION_DENIED, &st, "acme key: batch of key globex");
	const char *nokey[4] = {"acme", NULL, "acme", "acme"};
	rc = upsert_keyed(ta, mids, nokey, 4, &st);
	expect(rc, SHOAL_PERMISSION_DENIED, &st, "acme key: batch with a keyless point");
	CHECK(present(adm, NULL, mids, 4, NULL) == 0, "a refused batch wrote points");
	/* overwriting globex's point 3 under key acme: refused by the worker */
	uint64_t g3 = 3;
	rc = upsert_keyed(ta, &g3, akeys, 1, &st);
	expect(rc, SHOAL_FAILED_PRECONDITION, &st, "acme key: upsert of globex's id 3");

	/* reads and deletes: key = acme only, and then acme's points only */
	shoal_get_result *g = NULL;
	rc = shoal_get_ex(ta, "", "sh", "globex", gids, 10, false, &g, &st);
	expect(rc, SHOAL_PERMISSION_DENIED, &st, "acme key: shared get, key globex");
	rc = shoal_get_ex(ta, "", "sh", NULL, gids, 10, false, &g, &st);
	expect(rc, SHOAL_PERMISSION_DENIED, &st, "acme key: shared get, no key");
	CHECK(present(ta, "acme", gids, 10, NULL) == 0, "acme's key read globex's points");
	uint32_t ndel = 99;
	rc = shoal_delete_ex(ta, "", "sh", "globex", gids, 10, &ndel, &st);
	expect(rc, SHOAL_PERMISSION_DENIED, &st, "acme key: shared delete, key globex");
	rc = shoal_delete_ex(ta, "", "sh", NULL, gids, 10, &ndel, &st);
	expect(rc, SHOAL_PERMISSION_DENIED, &st, "acme key: shared delete, no key");
	OK(shoal_delete_ex(ta, "", "sh", "acme", gids, 10, &ndel, &st_));
	CHECK(ndel == 0, "acme's keyed delete of globex's ids deleted %u", ndel);
	CHECK(present(adm, "globex", gids, 10, "globex") == 10, "globex's points were touched");
	uint64_t cnt;
	rc = shoal_count(ta, "", "sh", &cnt, &st);
	expect(rc, SHOAL_PERMISSION_DENIED, &st, "acme key: shared count");
	so.key = "globex";
	rc = shoal_search_ex(ta, "", "sh", q, DIM, NULL, &so, &sr, &st);
	expect(rc, SHOAL_PERMISSION_DENIED, &st, "acme key: shared search, key globex");
	rc = shoal_search_ex(ta, "", "sh", q, DIM, NULL, NULL, &sr, &st);
	expect(rc, SHOAL_PERMISSION_DENIED, &st, "acme key: shared search, no key");
	/* its own delete works */
	OK(shoal_delete_ex(ta, "", "sh", "acme", aids, 2, &ndel, &st_));
	CHECK(ndel == 2, "acme deleted %u of its 2 points", ndel);
	CHECK(present(adm, NULL, aids, 5, "acme") == 3, "acme's delete did not apply");
	OK(shoal_count(adm, "", "sh", &cnt, &st_));
	CHECK(cnt == 13, "shared count %llu, want 10 globex + 3 acme", (unsigned long long)cnt);

	/* every refusal counted */
	double up = coord_count(c, "Upsert", "PERMISSION_DENIED") - up0;
	double get = coord_count(c, "Get", "PERMISSION_DENIED") - get0;
	double del = coord_count(c, "Delete", "PERMISSION_DENIED") - del0;
	double srch = coord_count(c, "Search", "PERMISSION_DENIED") - srch0;
	CHECK(up == 3 && get == 2 && del == 2 && srch == 2,
	    "PERMISSION_DENIED counted: upsert %.0f get %.0f delete %.0f search %.0f, want 3 2 2 2",
	    up, get, del, srch);
	printf("  shared collection: acme's key wrote/read/deleted key acme only; 9 refusals counted\n");
}

int
main(void)
{
	char sdir[] = "/tmp/shoal-auth-XXXXXX";
	CHECK(mkdtemp(sdir) != NULL, "mkdtemp");
	char good[64], bad[64], shortf[64], admin[64];
	snprintf(good, sizeof good, "%s/secret", sdir);
	snprintf(bad, sizeof bad, "%s/wrong", sdir);
	snprintf(shortf, sizeof shortf, "%s/short", sdir);
	write_file(good, SECRET "\n");
	write_file(bad, WRONG "\n");
	write_file(shortf, "tooshort\n");
	snprintf(admin, sizeof admin, "%s/admin", sdir);
	write_file(admin, ADMIN "\n");
	unsetenv("SHOAL_TOKEN");
	const char *const good_args[] = {"--cluster-secret-file", good, NULL};
	const char *const bad_args[] = {"--cluster-secret-file", bad, NULL};
	harness_coord_extra_args = good_args;
	harness_worker_extra_args = good_args;

	harness_cluster c;
	char msg[512];
	harness_cluster_start(&c, 2); /* both register: the secret is accepted */
	shoal_client *cl = it_connect(&c);

	/* ---- the coordinator's calls to workers carry the secret */
	OK(shoal_tenant_create(cl, "acme", NULL, NULL, &st_));
	shoal_collection_params p = {.dim = DIM, .metric = SHOAL_METRIC_L2};
	OK(shoal_collection_create(cl, "acme", "docs", &p, NULL, &st_));
	it_load(cl, "acme", "docs", 7, 0, 500, DIM);
	uint64_t count = 0;
	OK(shoal_count(cl, "acme", "docs", &count, &st_));
	CHECK(count == 500, "count %llu, want 500", (unsigned long long)count);
	printf("  cluster with a secret: 2 workers up, 500 points written and counted\n");

	/* ---- a worker refuses requests without the right secret */
	for (int w = 0; w < 2; w++) {
		shoal_code rc = worker_status(c.worker_url[w], NULL, msg, sizeof msg);
		CHECK(rc == SHOAL_UNAUTHENTICATED, "worker %d without token: %s (%s)", w,
		    shoal_code_name(rc), msg);
		CHECK(strstr(msg, SECRET) == NULL, "message leaks the secret: %s", msg);
		printf("  Worker.Status without token     -> %s: %s\n", shoal_code_name(rc), msg);
		rc = worker_status(c.worker_url[w], WRONG, msg, sizeof msg);
		CHECK(rc == SHOAL_UNAUTHENTICATED, "worker %d wrong token: %s (%s)", w,
		    shoal_code_name(rc), msg);
		CHECK(strstr(msg, SECRET) == NULL && strstr(msg, WRONG) == NULL,
		    "message leaks a secret: %s", msg);
		rc = worker_status(c.worker_url[w], SECRET "x", msg, sizeof msg);
		CHECK(rc == SHOAL_UNAUTHENTICATED, "worker %d longer token: %s", w, shoal_code_name(rc));
		rc = worker_status(c.worker_url[w], "it-auth-secret", msg, sizeof msg);
		CHECK(rc == SHOAL_UNAUTHENTICATED, "worker %d prefix token: %s", w, shoal_code_name(rc));
		rc = worker_status(c.worker_url[w], SECRET, msg, sizeof msg);
		CHECK(rc == SHOAL_OK, "worker %d with the secret: %s (%s)", w, shoal_code_name(rc), msg);

		/* counted: 4 refusals of Status on this worker */
		http_resp r;
		CHECK(http_get("127.0.0.1", c.worker_http_port[w], "/metrics", &r) == 0 &&
		    r.status == 200, "worker %d /metrics", w);
		double n = prom_value(r.body, "shoal_rpc_requests_total",
		    "method=\"Status\",code=\"UNAUTHENTICATED\"");
		http_resp_free(&r);
		CHECK(n == 4, "worker %d counts %.0f UNAUTHENTICATED Status requests, want 4", w, n);
	}
	/* refused requests changed nothing */
	OK(shoal_count(cl, "acme", "docs", &count, &st_));
	CHECK(count == 500, "count %llu after refusals", (unsigned long long)count);

	/* ---- the coordinator refuses RegisterWorker without the secret */
	shoal_code rc = register_worker(c.coord_url, NULL, msg, sizeof msg);
	CHECK(rc == SHOAL_UNAUTHENTICATED, "RegisterWorker without token: %s (%s)",
	    shoal_code_name(rc), msg);
	printf("  RegisterWorker without token    -> %s: %s\n", shoal_code_name(rc), msg);
	rc = register_worker(c.coord_url, WRONG, msg, sizeof msg);
	CHECK(rc == SHOAL_UNAUTHENTICATED, "RegisterWorker wrong token: %s (%s)",
	    shoal_code_name(rc), msg);
	shoal_cluster_info *ci = NULL;
	OK(shoal_cluster_status(cl, &ci, &st_));
	for (size_t i = 0; i < ci->n_workers; i++)
		CHECK(strcmp(ci->workers[i].name, "intruder") != 0, "refused worker was registered");
	size_t nw = ci->n_workers;
	shoal_cluster_info_free(ci);
	CHECK(nw == 2, "%zu workers listed, want 2", nw);

	/* ---- a real worker with another secret never comes up */
	harness_worker_extra_args = bad_args;
	c.nworkers = 3; /* so that harness_cluster_stop stops it */
	harness_start_worker(&c, 2);
	CHECK(!harness_wait_workers_up(&c, 3, 3000), "a worker with a wrong secret came up");
	char logpath[400], *log = NULL;
	size_t loglen = 0;
	shoal_status st;
	snprintf(logpath, sizeof logpath, "%s/worker2.log", c.dir);
	CHECK(util_read_file(logpath, &log, &loglen, &st) == SHOAL_OK, "read %s", logpath);
	CHECK(strstr(log, "UNAUTHENTICATED") != NULL, "worker2's log does not say why: %s", log);
	CHECK(strstr(log, WRONG) == NULL && strstr(log, SECRET) == NULL, "log leaks a secret");
	free(log);
	printf("  worker with a wrong secret: not registered, its log says UNAUTHENTICATED\n");

	/* ---- a too-short secret stops the daemon at start, exit 2 */
	pid_t pid = fork();
	if (pid == 0) {
		execl(SHOAL_BIN_DIR "/shoal-worker", "shoal-worker", "--data", sdir,
		    "--listen", "tcp://127.0.0.1:0", "--cluster-secret-file", shortf, (char *)NULL);
		_exit(127);
	}
	int wst = 0;
	CHECK(waitpid(pid, &wst, 0) == pid, "waitpid");
	CHECK(WIFEXITED(wst) && WEXITSTATUS(wst) == 2, "worker with a short secret: status %d",
	    wst);

	/* ---- the admin key: client requests need it */
	shoal_close(cl);
	const char *const admin_args[] = {"--cluster-secret-file", good, "--admin-key-file", admin,
	    NULL};
	harness_coord_extra_args = admin_args;
	harness_signal_worker(&c, 2, SIGTERM); /* the one with the wrong secret */
	c.nworkers = 2;
	harness_signal_coordinator(&c, SIGTERM);
	harness_start_coordinator(&c);
	setenv("SHOAL_TOKEN", ADMIN, 1);
	CHECK(harness_wait_workers_up(&c, 2, 20000), "workers not up after the restart");
	unsetenv("SHOAL_TOKEN");
	shoal_status st2;
	const char *bad_tokens[] = {NULL, WRONG, SECRET, ADMIN "x"};
	for (size_t i = 0; i < 4; i++) {
		rc = count_with(c.coord_url, bad_tokens[i], &count, &st2);
		CHECK(rc == SHOAL_UNAUTHENTICATED, "Count with token %zu: %s (%s)", i,
		    shoal_code_name(rc), st2.msg);
		CHECK(strstr(st2.msg, ADMIN) == NULL && strstr(st2.msg, SECRET) == NULL,
		    "message leaks a key: %s", st2.msg);
		if (i == 0)
			printf("  Count without token (admin key set) -> %s: %s\n", shoal_code_name(rc),
			    st2.msg);
	}
	rc = count_with(c.coord_url, ADMIN, &count, &st2);
	CHECK(rc == SHOAL_OK && count == 500, "Count with the admin key: %s (%s), %llu",
	    shoal_code_name(rc), st2.msg, (unsigned long long)count);
	{
		http_resp r;
		CHECK(http_get("127.0.0.1", c.coord_http_port, "/metrics", &r) == 0 && r.status == 200,
		    "coordinator /metrics");
		double n = prom_value(r.body, "shoal_rpc_requests_total",
		    "method=\"Count\",code=\"UNAUTHENTICATED\"");
		http_resp_free(&r);
		CHECK(n == 4, "coordinator counts %.0f UNAUTHENTICATED Count requests, want 4", n);
	}
	/* the CLI: refused without a token, served with --token and SHOAL_TOKEN */
	char out[4096];
	int ex = harness_run_cli(&c, out, sizeof out, "tenant", "list", NULL);
	CHECK(ex != 0 && strstr(out, "UNAUTHENTICATED") != NULL,
	    "shoal tenant list without token: exit %d: %s", ex, out);
	ex = harness_run_cli(&c, out, sizeof out, "--token", ADMIN, "tenant", "list", NULL);
	CHECK(ex == 0 && strstr(out, "acme") != NULL, "shoal --token: exit %d: %s", ex, out);
	setenv("SHOAL_TOKEN", ADMIN, 1);
	ex = harness_run_cli(&c, out, sizeof out, "tenant", "list", NULL);
	CHECK(ex == 0 && strstr(out, "acme") != NULL, "SHOAL_TOKEN: exit %d: %s", ex, out);
	unsetenv("SHOAL_TOKEN");
	printf("  admin key: refused without it (4 counted), served with it (libshoal, CLI)\n");

	/* ---- tenant API keys */
	shoal_client *adm = connect_with(c.coord_url, ADMIN);
	OK(shoal_tenant_create(adm, "globex", NULL, NULL, &st_));
	OK(shoal_collection_create(adm, "globex", "docs", &p, NULL, &st_));
	it_load(adm, "globex", "docs", 9, 0, 100, DIM);
	char kacme[SHOAL_TENANT_KEY_MAX], kglobex[SHOAL_TENANT_KEY_MAX];
	shoal_tenant_key kinfo;
	OK(shoal_tenant_key_create(adm, "acme", kacme, sizeof kacme, &kinfo, &st_));
	CHECK(strncmp(kacme, "shoal_tk_", 9) == 0 && strlen(kacme) == 9 + 64, "key '%s'", kacme);
	OK(shoal_tenant_key_create(adm, "globex", kglobex, sizeof kglobex, NULL, &st_));
	rc = shoal_tenant_key_create(adm, "nosuch", msg, sizeof msg, NULL, &st2);
	expect(rc, SHOAL_NOT_FOUND, &st2, "key create for a missing tenant");

	shoal_client *ta = connect_with(c.coord_url, kacme);
	OK(shoal_count(ta, "acme", "docs", &count, &st_));
	CHECK(count == 500, "acme count with its key: %llu", (unsigned long long)count);
	float q[DIM];
	vecio_generate(7, 3, 1, DIM, q);
	shoal_search_result *sr = NULL;
	OK(shoal_search(ta, "acme", "docs", q, DIM, NULL, &sr, &st_));
	CHECK(sr->n_hits > 0 && sr->hits[0].id == 3, "acme search with its key");
	shoal_search_result_free(sr);
	it_load(ta, "acme", "docs", 7, 500, 10, DIM); /* writes its own data */

	rc = shoal_count(ta, "globex", "docs", &count, &st2);
	expect(rc, SHOAL_PERMISSION_DENIED, &st2, "acme key: count globex");
	{
		float v[DIM] = {0};
		uint64_t id = 5000;
		shoal_batch b = {.n = 1, .dim = DIM, .ids = &id, .vectors = v};
		uint32_t up = 0;
		rc = shoal_upsert(ta, "globex", "docs", &b, &up, &st2);
		expect(rc, SHOAL_PERMISSION_DENIED, &st2, "acme key: upsert into globex");
	}
	uint64_t gdel = 1;
	uint32_t ndel = 0;
	rc = shoal_delete(ta, "globex", "docs", &gdel, 1, &ndel, &st2);
	expect(rc, SHOAL_PERMISSION_DENIED, &st2, "acme key: delete from globex");
	rc = shoal_tenant_create(ta, "evil", NULL, NULL, &st2);
	expect(rc, SHOAL_PERMISSION_DENIED, &st2, "acme key: create tenant");
	rc = shoal_collection_create(ta, "acme", "more", &p, NULL, &st2);
	expect(rc, SHOAL_PERMISSION_DENIED, &st2, "acme key: create collection");
	rc = shoal_tenant_drop(ta, "acme", &st2);
	expect(rc, SHOAL_PERMISSION_DENIED, &st2, "acme key: drop own tenant");
	rc = shoal_tenant_key_create(ta, "acme", msg, sizeof msg, NULL, &st2);
	expect(rc, SHOAL_PERMISSION_DENIED, &st2, "acme key: create a key");
	CHECK(strstr(st2.msg, kacme) == NULL, "message leaks the key");
	OK(shoal_count(adm, "globex", "docs", &count, &st_));
	CHECK(count == 100, "globex count %llu after refused writes", (unsigned long long)count);
	OK(shoal_count(adm, "acme", "docs", &count, &st_));
	CHECK(count == 510, "acme count %llu, want 510", (unsigned long long)count);

	shared_collection(&c, adm, ta, q);

	/* the catalog keeps hashes only */
	char catdir[400];
	snprintf(catdir, sizeof catdir, "%s/coordinator", c.dir);
	CHECK(!dir_holds(catdir, kacme + 9), "the coordinator's files hold a tenant key");

	/* the CLI: create (printed once), list (ids only), revoke */
	setenv("SHOAL_TOKEN", ADMIN, 1);
	ex = harness_run_cli(&c, out, sizeof out, "tenant", "key", "create", "acme", NULL);
	CHECK(ex == 0 && strstr(out, "shoal_tk_") != NULL, "tenant key create: %d: %s", ex, out);
	ex = harness_run_cli(&c, out, sizeof out, "tenant", "key", "list", "acme", NULL);
	CHECK(ex == 0 && strstr(out, kinfo.id) != NULL && strstr(out, "shoal_tk_") == NULL,
	    "tenant key list: %d: %s", ex, out);
	unsetenv("SHOAL_TOKEN");

	/* keys survive a restart of the coordinator */
	shoal_close(ta);
	harness_signal_coordinator(&c, SIGTERM);
	harness_start_coordinator(&c);
	setenv("SHOAL_TOKEN", ADMIN, 1);
	CHECK(harness_wait_workers_up(&c, 2, 20000), "workers not up after the restart");
	unsetenv("SHOAL_TOKEN");
	ta = connect_with(c.coord_url, kacme);
	OK(shoal_count(ta, "acme", "docs", &count, &st_));

	/* revoke: refused from now on */
	setenv("SHOAL_TOKEN", ADMIN, 1);
	ex = harness_run_cli(&c, out, sizeof out, "tenant", "key", "revoke", "acme", kinfo.id, NULL);
	CHECK(ex == 0, "tenant key revoke: %d: %s", ex, out);
	unsetenv("SHOAL_TOKEN");
	rc = shoal_count(ta, "acme", "docs", &count, &st2);
	expect(rc, SHOAL_UNAUTHENTICATED, &st2, "revoked key: count");

	/* a dropped tenant's keys die with it, also for a new tenant of that name */
	shoal_close(adm);
	adm = connect_with(c.coord_url, ADMIN);
	OK(shoal_tenant_drop(adm, "globex", &st_));
	OK(shoal_tenant_create(adm, "globex", NULL, NULL, &st_));
	shoal_client *tg = connect_with(c.coord_url, kglobex);
	rc = shoal_count(tg, "globex", "docs", &count, &st2);
	expect(rc, SHOAL_UNAUTHENTICATED, &st2, "key of a dropped tenant");
	shoal_close(tg);
	shoal_close(ta);
	shoal_close(adm);

	harness_cluster_stop(&c);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", sdir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", sdir);
	printf("it_auth: OK\n");
	return 0;
}
