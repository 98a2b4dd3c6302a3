/* it_tls.c -- every daemon and the client on tls+tcp:// (docs/security.md).
 *
 * deploy/make-certs.sh makes a CA with a node certificate (used by the
 * coordinator and both workers) and a client certificate in a temp dir,
 * and an unrelated CA.  First, bad TLS settings stop a daemon at start
 * with exit 2 and a message naming the file or setting: a missing
 * certificate, a key that is not the certificate's, a CA file that holds
 * no certificate, tls-require-client-cert on a plain tcp listen URL, a
 * tls+tcp listen URL without a certificate, a tls+tcp coordinator URL
 * without a CA, a plain --advertise URL for a tls+tcp listen URL.  A
 * coordinator on plain tcp://0.0.0.0 warns at start that traffic is in
 * clear text; on tcp://127.0.0.1 it does not.
 *
 * Then a coordinator and 2 workers all listen on tls+tcp://127.0.0.1; the
 * workers also require client certificates (only the coordinator, which
 * presents the node certificate, may call them).  The workers register
 * over TLS; two tenants (one per worker) get a collection, upserts and
 * searches through libshoal over TLS, and `shoal status/count/search`
 * through the CLI with $SHOAL_TLS_CA and with --tls-ca.  Refusals, each
 * followed by a check that the cluster still serves: the CLI without a CA
 * (INVALID_ARGUMENT naming tls-ca, nothing dialed), with the wrong CA
 * (UNAVAILABLE "TLS handshake failed"), a plain tcp:// client on the TLS
 * port (UNAVAILABLE suggesting tls+tcp://), and a direct call to a worker
 * with the right CA but no client certificate (UNAVAILABLE naming the
 * client certificate) -- while the same call with the client certificate
 * reaches the worker. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "it_common.h"
#include "rpc.h"
#include "shoal.pb-c.h"

#define DIM 16
#define N 500

static char certs[] = "/tmp/shoal-certs-XXXXXX";
static char path_buf[16][300];
static int npaths;

static const char *
P(const char *name)
{
	char *p = path_buf[npaths++ % 16];
	snprintf(p, sizeof path_buf[0], "%s/%s", certs, name);
	return p;
}

/* atexit: the certificates go with the test, also when a CHECK fails. */
static void
remove_certs(void)
{
	char cmd[400];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", certs);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", certs);
}

/* Runs a shell command line; its exit status (or -1), output in out. */
static int
run(char *out, size_t cap, const char *fmt, ...)
{
	char cmd[2048], outpath[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof cmd, fmt, ap);
	va_end(ap);
	snprintf(outpath, sizeof outpath, "%s/run.out", certs);
	char full[2600];
	snprintf(full, sizeof full, "(%s) >'%s' 2>&1", cmd, outpath);
	int status = system(full);
	out[0] = '\0';
	FILE *f = fopen(outpath, "r");
	if (f != NULL) {
		size_t n = fread(out, 1, cap - 1, f);
		out[n] = '\0';
		fclose(f);
	}
	return status >= 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* A daemon started with bad TLS settings exits 2, saying `needle`. */
static void
expect_start_refused(const char *daemon, const char *args, const char *needle)
{
	char out[4096];
	int rc = run(out, sizeof out, "timeout 20 %s/%s --data %s/data-%s %s", SHOAL_BIN_DIR,
	    daemon, certs, daemon, args);
	CHECK(rc == 2 && strstr(out, needle) != NULL,
	    "%s %s: exit %d, want 2 and a message naming '%s':\n%s", daemon, args, rc, needle, out);
	printf("  %s refused at start (exit 2): %s", daemon, out);
}

/* The log of a coordinator started on listen until ready, then stopped
 * (SIGTERM, by pid). */
static void
coordinator_log(const char *listen, char *out, size_t cap)
{
	int rc = run(out, cap,
	    "d=%s/warn-$$; %s/shoal-coordinator --data $d --listen %s --ready-file $d.ready & p=$!; "
	    "for i in $(seq 200); do [ -f $d.ready ] && break; sleep 0.05; done; "
	    "kill $p; wait $p; rm -rf $d $d.ready",
	    certs, SHOAL_BIN_DIR, listen);
	CHECK(rc == 0, "coordinator on %s: exit %d:\n%s", listen, rc, out);
}

/* Plain tcp beyond loopback is warned about at start; loopback is not. */
static void
test_plain_warning(void)
{
	char out[8192];
	coordinator_log("tcp://0.0.0.0:0", out, sizeof out);
	CHECK(strstr(out, "without TLS") != NULL, "no warning for tcp://0.0.0.0:\n%s", out);
	coordinator_log("tcp://127.0.0.1:0", out, sizeof out);
	CHECK(strstr(out, "listening on") != NULL && strstr(out, "without TLS") == NULL,
	    "tcp://127.0.0.1 warned (or did not start):\n%s", out);
	printf("  plain tcp on 0.0.0.0 warned at start, on 127.0.0.1 not\n");
}

static void
test_bad_settings(void)
{
	char a[1024];
	expect_start_refused("shoal-coordinator",
	    "--listen tls+tcp://127.0.0.1:0 --tls-cert /nonexistent/node.crt --tls-key x",
	    "/nonexistent/node.crt");
	snprintf(a, sizeof a, "--listen tls+tcp://127.0.0.1:0 --tls-cert %s --tls-key %s",
	    P("node.crt"), P("client.key"));
	expect_start_refused("shoal-coordinator", a, "is not the key of the certificate");
	snprintf(a, sizeof a, "--listen tls+tcp://127.0.0.1:0 --tls-cert %s --tls-key %s",
	    P("node.crt"), P("node.key"));
	expect_start_refused("shoal-worker",
	    "--listen tls+tcp://127.0.0.1:0", "needs a certificate and its key");
	snprintf(a, sizeof a, "--listen tls+tcp://127.0.0.1:0 --tls-cert %s --tls-key %s "
	    "--tls-ca %s", P("node.crt"), P("node.key"), P("node.key"));
	expect_start_refused("shoal-worker", a, "node.key");
	expect_start_refused("shoal-worker",
	    "--listen tcp://127.0.0.1:0 --tls-require-client-cert", "needs a tls+tcp:// listen");
	snprintf(a, sizeof a, "--coordinator tls+tcp://127.0.0.1:1");
	expect_start_refused("shoal-worker", a, "tls-ca");
	snprintf(a, sizeof a, "--listen tls+tcp://127.0.0.1:0 --tls-cert %s --tls-key %s "
	    "--advertise tcp://127.0.0.1:7701", P("node.crt"), P("node.key"));
	expect_start_refused("shoal-worker", a, "must both be tls+tcp://");
}

/* One Worker.Count straight to a worker (a shard that does not exist:
 * NOT_FOUND proves the request reached the handler). */
static shoal_code
worker_call(const char *url, const rpc_tls_options *tls, shoal_status *st)
{
	rpc_client *rc;
	rpc_client_opts o = {.timeout_ms = 3000, .tls = tls};
	CHECK(rpc_client_open(url, &shoal__worker__descriptor, &o, &rc, st) == SHOAL_OK,
	    "open %s: %s", url, st->msg);
	Shoal__ShardCountRequest req = SHOAL__SHARD_COUNT_REQUEST__INIT;
	req.shard_id = 999999;
	rpc_result res;
	RPC_INVOKE(shoal__worker__count, rpc_client_service(rc), &req, &res);
	*st = res.status;
	rpc_result_free(&res);
	rpc_client_close(rc);
	return st->code;
}

/* Both tenants still searchable through libshoal over TLS. */
static void
still_serving(harness_cluster *c, shoal_client *cl, const char *after)
{
	float q[DIM];
	for (int t = 0; t < 2; t++) {
		const char *tenant = t == 0 ? "acme" : "globex";
		vecio_generate(40 + (uint64_t)t, 7, 1, DIM, q);
		shoal_search_params sp = {.k = 1};
		shoal_search_result *r = NULL;
		shoal_status st;
		shoal_code rc = shoal_search(cl, tenant, "docs", q, DIM, &sp, &r, &st);
		CHECK(rc == SHOAL_OK && r->n_hits == 1 && r->hits[0].id == 7,
		    "after %s: search %s: %s %s", after, tenant, shoal_code_name(rc), st.msg);
		shoal_search_result_free(r);
	}
	CHECK(harness_pid_alive(c->coord_pid), "coordinator died after %s", after);
}

int
main(void)
{
	char out[16384];
	harness_cluster c;

	CHECK(mkdtemp(certs) != NULL, "mkdtemp");
	atexit(remove_certs);
	CHECK(run(out, sizeof out, "%s %s node && %s %s client && %s %s/other other",
	          SHOAL_MAKE_CERTS, certs, SHOAL_MAKE_CERTS, certs, SHOAL_MAKE_CERTS, certs) == 0,
	    "make-certs.sh failed:\n%s", out);
	printf("certificates made by deploy/make-certs.sh in %s\n", certs);

	test_bad_settings();
	test_plain_warning();

	/* the cluster, all on tls+tcp; workers accept only client certificates
	 * of the CA (the coordinator presents node.crt when it dials them) */
	const char *coord_args[] = {"--tls-cert", P("node.crt"), "--tls-key", P("node.key"),
	    "--tls-ca", P("ca.crt"), NULL};
	const char *worker_args[] = {"--tls-cert", P("node.crt"), "--tls-key", P("node.key"),
	    "--tls-ca", P("ca.crt"), "--tls-require-client-cert", NULL};
	harness_coord_extra_args = coord_args;
	harness_worker_extra_args = worker_args;
	harness_scheme = "tls+tcp";
	setenv("SHOAL_TLS_CA", P("ca.crt"), 1);
	harness_cluster_start(&c, 2);
	CHECK(strncmp(c.coord_url, "tls+tcp://", 10) == 0 &&
	        strncmp(c.worker_url[0], "tls+tcp://", 10) == 0,
	    "not TLS: %s %s", c.coord_url, c.worker_url[0]);
	printf("coordinator %s, workers %s %s: registered over TLS\n", c.coord_url,
	    c.worker_url[0], c.worker_url[1]);

	shoal_connect_opts co = {.timeout_ms = 10000, .tls_ca_file = P("ca.crt")};
	shoal_client *cl;
	shoal_status st;
	CHECK(shoal_connect(c.coord_url, &co, &cl, &st) == SHOAL_OK, "connect: %s", st.msg);
	float *v = malloc((size_t)N * DIM * sizeof(float));
	uint64_t ids[N];
	for (int t = 0; t < 2; t++) {
		const char *tenant = t == 0 ? "acme" : "globex";
		shoal_tenant_info ti;
		CHECK(shoal_tenant_create(cl, tenant, NULL, &ti, &st) == SHOAL_OK, "tenant: %s",
		    st.msg);
		shoal_collection_params p = {.dim = DIM, .metric = SHOAL_METRIC_L2};
		CHECK(shoal_collection_create(cl, tenant, "docs", &p, NULL, &st) == SHOAL_OK,
		    "collection: %s", st.msg);
		vecio_generate(40 + (uint64_t)t, 0, N, DIM, v);
		for (int i = 0; i < N; i++)
			ids[i] = (uint64_t)i;
		shoal_batch b = {.n = N, .dim = DIM, .ids = ids, .vectors = v};
		uint32_t up = 0;
		CHECK(shoal_upsert(cl, tenant, "docs", &b, &up, &st) == SHOAL_OK && up == N,
		    "upsert %s: %s", tenant, st.msg);
		printf("tenant %s on worker %s: %d points upserted over TLS\n", tenant, ti.worker, N);
	}
	free(v);
	still_serving(&c, cl, "the upserts");

	/* the CLI: CA from $SHOAL_TLS_CA, then from --tls-ca */
	int rc = harness_run_cli(&c, out, sizeof out, "status", NULL);
	CHECK(rc == 0 && strstr(out, "tls+tcp://") != NULL, "shoal status (rc %d):\n%s", rc, out);
	rc = harness_run_cli(&c, out, sizeof out, "count", "acme", "docs", NULL);
	CHECK(rc == 0 && strstr(out, "500") != NULL, "shoal count (rc %d):\n%s", rc, out);
	unsetenv("SHOAL_TLS_CA");
	rc = harness_run_cli(&c, out, sizeof out, "search", "globex", "docs", "--gen-seed", "41",
	    "--gen-index", "77", "--k", "3", "--tls-ca", P("ca.crt"), NULL);
	CHECK(rc == 0 && strstr(out, "77") != NULL, "shoal search --tls-ca (rc %d):\n%s", rc, out);
	printf("CLI over TLS: status, count, search ok\n");

	/* refusals */
	rc = harness_run_cli(&c, out, sizeof out, "status", NULL);
	CHECK(rc == 1 && strstr(out, "INVALID_ARGUMENT") && strstr(out, "tls-ca"),
	    "CLI without a CA (rc %d):\n%s", rc, out);
	printf("  CLI without a CA: %s", out);
	rc = harness_run_cli(&c, out, sizeof out, "status", "--timeout", "3000", "--tls-ca",
	    P("other/ca.crt"), NULL);
	CHECK(rc == 1 && strstr(out, "UNAVAILABLE") && strstr(out, "TLS handshake failed"),
	    "CLI with the wrong CA (rc %d):\n%s", rc, out);
	printf("  CLI with the wrong CA: %s", out);
	still_serving(&c, cl, "a client with the wrong CA");
	char plain[64];
	snprintf(plain, sizeof plain, "tcp://127.0.0.1:%d", c.coord_port);
	rc = harness_run_cli(&c, out, sizeof out, "status", "--timeout", "3000", "--coordinator",
	    plain, NULL);
	CHECK(rc == 1 && strstr(out, "UNAVAILABLE") && strstr(out, "tls+tcp://"),
	    "plain tcp client on the TLS port (rc %d):\n%s", rc, out);
	printf("  plain tcp client on the TLS port: %s", out);
	still_serving(&c, cl, "a plain tcp client");

	/* a worker takes only clients with a certificate of the CA */
	rpc_tls_options no_cert = {.ca_file = P("ca.crt")};
	rc = (int)worker_call(c.worker_url[0], &no_cert, &st);
	CHECK(rc == SHOAL_UNAVAILABLE && strstr(st.msg, "client certificate"),
	    "worker without a client certificate: %s %s", shoal_code_name((shoal_code)rc), st.msg);
	printf("  worker call without a client certificate: %s\n", st.msg);
	rpc_tls_options foreign = {.ca_file = P("ca.crt"), .cert_file = P("other/other.crt"),
	    .key_file = P("other/other.key")};
	rc = (int)worker_call(c.worker_url[0], &foreign, &st);
	CHECK(rc == SHOAL_UNAVAILABLE, "worker with another CA's certificate: %s %s",
	    shoal_code_name((shoal_code)rc), st.msg);
	rpc_tls_options with_cert = {.ca_file = P("ca.crt"), .cert_file = P("client.crt"),
	    .key_file = P("client.key")};
	rc = (int)worker_call(c.worker_url[0], &with_cert, &st);
	CHECK(rc == SHOAL_NOT_FOUND, "worker with a client certificate: %s %s",
	    shoal_code_name((shoal_code)rc), st.msg);
	still_serving(&c, cl, "refused worker calls");

	shoal_close(cl);
	harness_cluster_stop(&c);
	printf("it_tls: ok\n");
	return 0;
}
