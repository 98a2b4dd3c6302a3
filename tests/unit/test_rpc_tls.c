/* test_rpc_tls.c -- tls+tcp:// in the RPC layer, over real nng sockets on
 * loopback, with certificates made by deploy/make-certs.sh.
 *
 * Setup makes two CAs in a temp dir (A: "node" and "client" certificates;
 * B: "other", an unrelated CA with its own node certificate) plus broken
 * files.  The tests check the option validation (every bad file is an
 * INVALID_ARGUMENT naming it), a call over TLS, the failures a user meets
 * (wrong CA, wrong server name, a plain tcp client on the TLS port, no
 * client certificate when the server requires one) and that the server
 * keeps serving after each.  The script's path is SHOAL_MAKE_CERTS. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rpc.h"
#include "rpc_testsvc.h"
#include "shoal.pb-c.h"
#include "util.h"
#include <nng/nng.h>

static char dir[] = "/tmp/shoal-tls-XXXXXX";
static char path_buf[32][320];
static int npaths;

/* dir/name (kept in path_buf) */
static const char *
P(const char *name)
{
	char *p = path_buf[npaths++ % 32];
	snprintf(p, sizeof path_buf[0], "%s/%s", dir, name);
	return p;
}

static Shoal__Worker_Service service = {.base = SHOAL__WORKER__BASE_INIT};

static void
write_text(const char *name, const char *text)
{
	FILE *f = fopen(P(name), "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int
setup(void **state)
{
	(void)state;
	char cmd[1024];
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(cmd, sizeof cmd,
	    "%s %s/a node >/dev/null && %s %s/a client >/dev/null && %s %s/b other >/dev/null",
	    SHOAL_MAKE_CERTS, dir, SHOAL_MAKE_CERTS, dir, SHOAL_MAKE_CERTS, dir);
	if (system(cmd) != 0)
		return -1;
	service.count = testsvc_count;
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	char cmd[512];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void
expect_bad(const rpc_tls_options *o, bool server, const char *needle)
{
	shoal_status st;
	shoal_status_clear(&st);
	assert_int_equal(rpc_tls_check(o, server, &st), SHOAL_INVALID_ARGUMENT);
	if (strstr(st.msg, needle) == NULL)
		fail_msg("'%s' does not mention '%s'", st.msg, needle);
}

static void
test_check_options(void **state)
{
	(void)state;
	shoal_status st;
	write_text("garbage.pem", "not a certificate\n");
	write_text("empty.pem", "");

	rpc_tls_options ok = {.cert_file = P("a/node.crt"), .key_file = P("a/node.key"),
	    .ca_file = P("a/ca.crt")};
	assert_int_equal(rpc_tls_check(&ok, true, &st), SHOAL_OK);
	assert_int_equal(rpc_tls_check(&ok, false, &st), SHOAL_OK);
	rpc_tls_options ca_only = {.ca_file = P("a/ca.crt")};
	assert_int_equal(rpc_tls_check(&ca_only, false, &st), SHOAL_OK);

	/* what is required */
	expect_bad(NULL, true, "tls-cert and tls-key");
	expect_bad(&ca_only, true, "tls-cert and tls-key");
	expect_bad(NULL, false, "tls-ca");
	rpc_tls_options o = {.cert_file = P("a/node.crt"), .ca_file = P("a/ca.crt")};
	expect_bad(&o, false, "tls-cert and tls-key go together");
	o = (rpc_tls_options){.cert_file = P("a/node.crt"), .key_file = P("a/node.key"),
	    .require_client_cert = true};
	expect_bad(&o, true, "tls-ca");

	/* bad files are named */
	o = (rpc_tls_options){.cert_file = P("a/missing.crt"), .key_file = P("a/node.key")};
	expect_bad(&o, true, "a/missing.crt");
	o.cert_file = P("garbage.pem");
	expect_bad(&o, true, "garbage.pem");
	o.cert_file = P("empty.pem");
	expect_bad(&o, true, "is empty");
	o.cert_file = P("a/node.key"); /* a key where the certificate belongs */
	expect_bad(&o, true, "no valid PEM certificate");
	o.cert_file = P("a/node.crt");
	o.key_file = P("a/node.crt"); /* a certificate where the key belongs */
	expect_bad(&o, true, "no valid unencrypted PEM private key");
	o.key_file = P("a/client.key"); /* another certificate's key */
	expect_bad(&o, true, "is not the key of the certificate");
	o = (rpc_tls_options){.ca_file = P("garbage.pem")};
	expect_bad(&o, false, "tls-ca");

	/* rpc_server_start / rpc_client_open refuse them too, for tls+tcp only */
	rpc_server *srv = NULL;
	rpc_server_opts so = {.tls = &o};
	assert_int_equal(rpc_server_start("tls+tcp://127.0.0.1:0", &service.base, &so, &srv, &st),
	    SHOAL_INVALID_ARGUMENT);
	assert_null(srv);
	rpc_client *c = NULL;
	rpc_client_opts co = {.tls = &o};
	assert_int_equal(rpc_client_open("tls+tcp://127.0.0.1:1", &shoal__worker__descriptor, &co,
	    &c, &st), SHOAL_INVALID_ARGUMENT);
	assert_non_null(strstr(st.msg, "garbage.pem"));
	assert_null(c);
	assert_int_equal(rpc_client_open("tcp://127.0.0.1:1", &shoal__worker__descriptor, &co, &c,
	    &st), SHOAL_OK); /* ignored for plain tcp */
	rpc_client_close(c);
}

static void
test_url_kinds(void **state)
{
	(void)state;
	assert_true(rpc_url_is_tls("tls+tcp://127.0.0.1:1"));
	assert_false(rpc_url_is_tls("tcp://127.0.0.1:1"));
	assert_true(rpc_url_is_loopback("tcp://127.0.0.1:7000"));
	assert_true(rpc_url_is_loopback("tls+tcp://localhost:7000"));
	assert_true(rpc_url_is_loopback("tcp://[::1]:7000"));
	assert_true(rpc_url_is_loopback("ipc:///tmp/x"));
	assert_false(rpc_url_is_loopback("tcp://0.0.0.0:7000"));
	assert_false(rpc_url_is_loopback("tcp://*:7000"));
	assert_false(rpc_url_is_loopback("tcp://10.1.2.3:7000"));
}

/* One Count through a client; returns its code, message in st. */
static shoal_code
count_via(const char *url, const rpc_tls_options *tls, shoal_status *st)
{
	rpc_client *c;
	rpc_client_opts co = {.tls = tls, .timeout_ms = 1500};
	if (rpc_client_open(url, &shoal__worker__descriptor, &co, &c, st) != SHOAL_OK)
		return st->code;
	Shoal__ShardCountRequest req = SHOAL__SHARD_COUNT_REQUEST__INIT;
	req.shard_id = 21;
	rpc_result res;
	RPC_INVOKE(shoal__worker__count, rpc_client_service(c), &req, &res);
	*st = res.status;
	if (res.status.code == SHOAL_OK)
		assert_int_equal(((Shoal__CountReply *)res.reply)->count, 42);
	rpc_result_free(&res);
	rpc_client_close(c);
	return st->code;
}

static void
expect_refused(const char *url, const rpc_tls_options *tls, const char *needle)
{
	shoal_status st;
	shoal_code rc = count_via(url, tls, &st);
	if (rc != SHOAL_UNAVAILABLE || strstr(st.msg, needle) == NULL)
		fail_msg("expected UNAVAILABLE mentioning '%s', got %s: %s", needle,
		    shoal_code_name(rc), st.msg);
}

static void
test_calls(void **state)
{
	(void)state;
	shoal_status st;
	rpc_tls_options server = {.cert_file = P("a/node.crt"), .key_file = P("a/node.key")};
	rpc_server *srv;
	rpc_server_opts so = {.threads = 2, .tls = &server};
	assert_int_equal(rpc_server_start("tls+tcp://127.0.0.1:0", &service.base, &so, &srv, &st),
	    SHOAL_OK);
	assert_true(rpc_server_port(srv) > 0);
	char url[64], plain[64], byname[64];
	snprintf(url, sizeof url, "tls+tcp://127.0.0.1:%d", rpc_server_port(srv));
	snprintf(plain, sizeof plain, "tcp://127.0.0.1:%d", rpc_server_port(srv));
	snprintf(byname, sizeof byname, "tls+tcp://localhost:%d", rpc_server_port(srv));

	rpc_tls_options good = {.ca_file = P("a/ca.crt")};
	assert_int_equal(count_via(url, &good, &st), SHOAL_OK);
	assert_int_equal(count_via(byname, &good, &st), SHOAL_OK);

	rpc_tls_options wrong_ca = {.ca_file = P("b/ca.crt")};
	expect_refused(url, &wrong_ca, "TLS handshake");
	rpc_tls_options wrong_name = {.ca_file = P("a/ca.crt"), .server_name = "db9.example.com"};
	expect_refused(url, &wrong_name, "TLS handshake");
	expect_refused(plain, NULL, "tls+tcp://");
	/* still serving after all of that */
	assert_int_equal(count_via(url, &good, &st), SHOAL_OK);
	rpc_server_stop(srv);

	/* a server that requires client certificates from its CA */
	server.ca_file = P("a/ca.crt");
	server.require_client_cert = true;
	assert_int_equal(rpc_server_start("tls+tcp://127.0.0.1:0", &service.base, &so, &srv, &st),
	    SHOAL_OK);
	snprintf(url, sizeof url, "tls+tcp://127.0.0.1:%d", rpc_server_port(srv));
	expect_refused(url, &good, "client certificate");
	rpc_tls_options foreign = {.ca_file = P("a/ca.crt"), .cert_file = P("b/other.crt"),
	    .key_file = P("b/other.key")};
	expect_refused(url, &foreign, "client certificate");
	rpc_tls_options client = {.ca_file = P("a/ca.crt"), .cert_file = P("a/client.crt"),
	    .key_file = P("a/client.key")};
	assert_int_equal(count_via(url, &client, &st), SHOAL_OK);
	rpc_server_stop(srv);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_check_options),
		cmocka_unit_test(test_url_kinds),
		cmocka_unit_test(test_calls),
	};
	int failed = cmocka_run_group_tests(tests, setup, teardown);
	nng_fini(); /* nng reaps sockets asynchronously: let LSan see them freed */
	return failed;
}
