/* it_badinput.c -- bad input gets a clear error and changes nothing.
 *
 * Wrong dimension, NaN and Inf components, unknown tenant and collection,
 * duplicate tenant and collection, bad names and parameters; garbage bytes
 * sent straight to each daemon's TCP port and garbage inside a well-formed
 * frame of the rpc transport (common/rpc_sock.h: a 4-byte big-endian
 * length, then the bytes): every daemon stays up and serves, and the data
 * is as it was. */
#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "it_common.h"
#include "shoal.pb-c.h"

#define DIM 8

static void
expect_code(shoal_code got, shoal_code want, const shoal_status *st, const char *what,
    const char *needle)
{
	CHECK(got == want, "%s: got %s (%s), want %s", what, shoal_code_name(got), st->msg,
	    shoal_code_name(want));
	CHECK(strlen(st->msg) > 0, "%s: error without a message", what);
	if (needle)
		CHECK(strstr(st->msg, needle) != NULL, "%s: message '%s' does not mention '%s'", what,
		    st->msg, needle);
	printf("  %-34s -> %s: %s\n", what, shoal_code_name(got), st->msg);
}

/* Reads or writes exactly n bytes on fd (5 s socket timeouts). */
static bool
full_io(int fd, void *buf, size_t n, bool rd)
{
	unsigned char *p = buf;
	while (n > 0) {
		ssize_t k = rd ? read(fd, p, n) : write(fd, p, n);
		if (k <= 0)
			return false;
		p += k;
		n -= (size_t)k;
	}
	return true;
}

/* Sends body as one frame on a plain socket and returns the reply's code. */
static int
send_framed_garbage(const char *url, const void *body, size_t len)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET,
	    .sin_port = htons((uint16_t)harness_url_port(url)),
	    .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct timeval tv = {.tv_sec = 5};
	CHECK(fd >= 0, "socket");
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	CHECK(connect(fd, (struct sockaddr *)&a, sizeof a) == 0, "connect to %s", url);
	uint32_t be = htonl((uint32_t)len);
	CHECK(full_io(fd, &be, 4, false) && full_io(fd, (void *)body, len, false), "send to %s",
	    url);
	CHECK(full_io(fd, &be, 4, true), "no reply from %s to a garbage message", url);
	size_t n = ntohl(be);
	CHECK(n < 65536, "reply of %zu bytes from %s to a garbage message", n, url);
	unsigned char *buf = malloc(n + 1);
	CHECK(buf != NULL && full_io(fd, buf, n, true), "truncated reply from %s", url);
	close(fd);
	Shoal__ReplyEnvelope *rep = shoal__reply_envelope__unpack(NULL, n, buf);
	CHECK(rep != NULL, "reply from %s is not a ReplyEnvelope", url);
	int code = rep->code;
	printf("  garbage message to %-22s -> %s: %s\n", url, shoal_code_name(code), rep->message);
	shoal__reply_envelope__free_unpacked(rep, NULL);
	free(buf);
	return code;
}

int
main(void)
{
	harness_cluster c;
	shoal_status st;
	shoal_code rc;
	harness_cluster_start(&c, 1);
	shoal_client *cl = it_connect(&c);

	OK(shoal_tenant_create(cl, "acme", NULL, NULL, &st_));
	shoal_collection_params p = {.dim = DIM, .metric = SHOAL_METRIC_L2};
	OK(shoal_collection_create(cl, "acme", "docs", &p, NULL, &st_));
	it_load(cl, "acme", "docs", 1, 0, 100, DIM);

	/* ---- names and duplicates */
	rc = shoal_tenant_create(cl, "acme", NULL, NULL, &st);
	expect_code(rc, SHOAL_ALREADY_EXISTS, &st, "duplicate tenant", "acme");
	rc = shoal_tenant_create(cl, "bad name", NULL, NULL, &st);
	expect_code(rc, SHOAL_INVALID_ARGUMENT, &st, "tenant name with a space", NULL);
	rc = shoal_tenant_create(cl, "x", "no-such-worker", NULL, &st);
	expect_code(rc, SHOAL_NOT_FOUND, &st, "tenant on unknown worker", "no-such-worker");
	rc = shoal_collection_create(cl, "acme", "docs", &p, NULL, &st);
	expect_code(rc, SHOAL_ALREADY_EXISTS, &st, "duplicate collection", "docs");
	rc = shoal_collection_create(cl, "nobody", "docs", &p, NULL, &st);
	expect_code(rc, SHOAL_NOT_FOUND, &st, "collection of unknown tenant", "nobody");
	shoal_collection_params p0 = {.dim = 0, .metric = SHOAL_METRIC_L2};
	rc = shoal_collection_create(cl, "acme", "zero", &p0, NULL, &st);
	expect_code(rc, SHOAL_INVALID_ARGUMENT, &st, "collection with dim 0", NULL);

	/* ---- points */
	uint64_t ids[2] = {500, 501};
	float v[2 * (DIM + 1)];
	for (int i = 0; i < 2 * (DIM + 1); i++)
		v[i] = 0.5f;
	shoal_batch b = {.n = 2, .dim = DIM + 1, .ids = ids, .vectors = v};
	rc = shoal_upsert(cl, "acme", "docs", &b, NULL, &st);
	expect_code(rc, SHOAL_INVALID_ARGUMENT, &st, "upsert with wrong dimension", "9");

	b.dim = DIM;
	v[DIM + 3] = NAN; /* second point, component 3 */
	rc = shoal_upsert(cl, "acme", "docs", &b, NULL, &st);
	CHECK(rc == SHOAL_INVALID_ARGUMENT, "NaN accepted: %s", shoal_code_name(rc));
	printf("  %-34s -> %s: %s\n", "upsert with a NaN component", shoal_code_name(rc), st.msg);
	v[DIM + 3] = INFINITY;
	rc = shoal_upsert(cl, "acme", "docs", &b, NULL, &st);
	CHECK(rc == SHOAL_INVALID_ARGUMENT, "Inf accepted: %s", shoal_code_name(rc));
	v[DIM + 3] = 0.5f;

	rc = shoal_upsert(cl, "nobody", "docs", &b, NULL, &st);
	expect_code(rc, SHOAL_NOT_FOUND, &st, "upsert to unknown tenant", "nobody");
	rc = shoal_upsert(cl, "acme", "nothing", &b, NULL, &st);
	expect_code(rc, SHOAL_NOT_FOUND, &st, "upsert to unknown collection", "nothing");

	float q[DIM + 1] = {0};
	shoal_search_result *r;
	rc = shoal_search(cl, "acme", "docs", q, DIM + 1, NULL, &r, &st);
	expect_code(rc, SHOAL_INVALID_ARGUMENT, &st, "search with wrong dimension", NULL);
	q[2] = NAN;
	rc = shoal_search(cl, "acme", "docs", q, DIM, NULL, &r, &st);
	expect_code(rc, SHOAL_INVALID_ARGUMENT, &st, "search with a NaN component", NULL);
	q[2] = 0;
	shoal_search_params big = {.k = 1000000};
	rc = shoal_search(cl, "acme", "docs", q, DIM, &big, &r, &st);
	expect_code(rc, SHOAL_INVALID_ARGUMENT, &st, "search with k = 1000000", NULL);
	rc = shoal_search(cl, "ghost", "docs", q, DIM, NULL, &r, &st);
	expect_code(rc, SHOAL_NOT_FOUND, &st, "search of unknown tenant", "ghost");

	/* nothing changed */
	uint64_t count;
	OK(shoal_count(cl, "acme", "docs", &count, &st_));
	CHECK(count == 100, "count %llu after rejected writes, want 100", (unsigned long long)count);
	shoal_get_result *g;
	OK(shoal_get(cl, "acme", "docs", ids, 2, false, &g, &st_));
	CHECK(g->n_points == 0, "a rejected batch left %zu points behind", g->n_points);
	shoal_get_result_free(g);

	/* ---- garbage at the transport and inside a message, to every daemon */
	static const char junk[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n\x00\xff\xfe garbage";
	const char *urls[2] = {c.coord_url, c.worker_url[0]};
	pid_t pids[2] = {c.coord_pid, c.worker_pid[0]};
	for (int i = 0; i < 2; i++) {
		int port = harness_url_port(urls[i]);
		CHECK(harness_send_raw_tcp(port, junk, sizeof junk) == 0, "raw send to %d", port);
		unsigned char blob[4096];
		for (size_t j = 0; j < sizeof blob; j++)
			blob[j] = (unsigned char)(j * 131 + 7);
		CHECK(harness_send_raw_tcp(port, blob, sizeof blob) == 0, "raw send to %d", port);
		int code = send_framed_garbage(urls[i], blob, sizeof blob);
		CHECK(code == SHOAL_INVALID_ARGUMENT, "garbage message got code %d", code);
		code = send_framed_garbage(urls[i], "", 0);
		CHECK(code != SHOAL_OK, "an empty message was accepted by %s", urls[i]);
		CHECK(harness_pid_alive(pids[i]), "%s died from garbage input", urls[i]);
	}

	/* ---- the CLI: errors on stderr with the code, exit 1; usage exit 2 */
	char out[4096];
	int x = harness_run_cli(&c, out, sizeof out, "tenant", "create", "acme", NULL);
	CHECK(x == 1 && strstr(out, "ALREADY_EXISTS"), "CLI duplicate tenant (exit %d):\n%s", x, out);
	x = harness_run_cli(&c, out, sizeof out, "collection", "create", "acme", "c2", "--dim",
	    "abc", NULL);
	CHECK(x == 2, "CLI bad --dim exit %d:\n%s", x, out);
	x = harness_run_cli(&c, out, sizeof out, "frobnicate", NULL);
	CHECK(x == 2, "CLI unknown command exit %d:\n%s", x, out);

	/* ---- and everything still works */
	OK(shoal_count(cl, "acme", "docs", &count, &st_));
	CHECK(count == 100, "count %llu at the end", (unsigned long long)count);
	shoal_search_params sp = {.k = 5};
	OK(shoal_search(cl, "acme", "docs", q, DIM, &sp, &r, &st_));
	CHECK(r->n_hits == 5, "search after garbage: %zu hits", r->n_hits);
	shoal_search_result_free(r);

	shoal_close(cl);
	harness_cluster_stop(&c);
	printf("it_badinput: ok\n");
	return 0;
}
