/* rpc_tls_bench.c -- shoal-rpc-tls-bench: what TLS costs per RPC call.
 *
 *   shoal-rpc-tls-bench CERT_DIR [--calls N] [--rounds R] [--bytes B]
 *
 * CERT_DIR holds ca.crt, node.crt and node.key (deploy/make-certs.sh DIR
 * node).  One process serves a Worker service (a Count handler, and a
 * Search handler that ignores its vector) twice, on tcp://127.0.0.1:0 and
 * on tls+tcp://127.0.0.1:0, with rpc.c's own server and client -- the code
 * every daemon runs.  It measures, alternating the two transports round by
 * round (R rounds of N calls each, so that load from other processes falls
 * on both alike):
 *   - small calls: Count (a ~20-byte request and reply);
 *   - large calls: Search carrying a vector of B bytes (default 64 KiB);
 *   - connection set-up: a new client's first call (TCP connect + SP
 *     handshake, plus the TLS handshake for tls+tcp), 20 times each.
 * Since docs/decisions.md 103 tcp:// runs on rpc_sock.c's framed sockets
 * and tls+tcp:// still on nng req/rep, so the ratio is TLS plus nng's own
 * cost, i.e. what a deployment pays for choosing tls+tcp://.
 * Prints the median and p99 per call of each transport, and the ratio
 * tls/tcp of the medians -- compare the ratio, not absolute times, on a
 * busy machine -- and the process CPU time per small call (client and
 * server together: both run here), which other processes' load affects
 * less.  Exit 0, or 1 with a message on a failure.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rpc.h"
#include "shoal.pb-c.h"
#include "util.h"

static void
h_count(Shoal__Worker_Service *svc, const Shoal__ShardCountRequest *in,
    Shoal__CountReply_Closure done, void *cd)
{
	(void)svc;
	Shoal__CountReply out = SHOAL__COUNT_REPLY__INIT;
	out.count = in->shard_id;
	done(&out, cd);
}

static void
h_search(Shoal__Worker_Service *svc, const Shoal__ShardSearchRequest *in,
    Shoal__SearchReply_Closure done, void *cd)
{
	(void)svc;
	(void)in;
	Shoal__SearchReply out = SHOAL__SEARCH_REPLY__INIT;
	out.complete = true;
	done(&out, cd);
}

static Shoal__Worker_Service service = {.base = SHOAL__WORKER__BASE_INIT};

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void
die(const char *what, const shoal_status *st)
{
	fprintf(stderr, "shoal-rpc-tls-bench: %s: %s\n", what, st->msg);
	exit(1);
}

/* One call of method m with input in; its latency in microseconds. */
static uint64_t
timed_call(rpc_client *c, unsigned m, const ProtobufCMessage *in)
{
	rpc_result res;
	uint64_t t0 = util_mono_us();
	if (rpc_client_call(c, m, in, &res) != SHOAL_OK)
		die("call", &res.status);
	uint64_t us = util_mono_us() - t0;
	rpc_result_free(&res);
	return us;
}

/* CPU time of this process (every thread), microseconds. */
static uint64_t
cpu_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

typedef struct series {
	uint64_t *us;
	size_t n;
} series;

static void
report(const char *what, series *plain, series *tls)
{
	qsort(plain->us, plain->n, sizeof *plain->us, cmp_u64);
	qsort(tls->us, tls->n, sizeof *tls->us, cmp_u64);
	uint64_t pm = plain->us[plain->n / 2], tm = tls->us[tls->n / 2];
	uint64_t p99 = plain->us[plain->n * 99 / 100], t99 = tls->us[tls->n * 99 / 100];
	printf("%-28s tcp median %6llu us p99 %6llu us | tls+tcp median %6llu us p99 %6llu us "
	       "| ratio %.2f\n",
	    what, (unsigned long long)pm, (unsigned long long)p99, (unsigned long long)tm,
	    (unsigned long long)t99, pm ? (double)tm / (double)pm : 0.0);
}

int
main(int argc, char **argv)
{
	int calls = 2000, rounds = 10, bytes = 64 << 10;
	static const struct option lo[] = {{"calls", required_argument, NULL, 'n'},
	    {"rounds", required_argument, NULL, 'r'}, {"bytes", required_argument, NULL, 'b'},
	    {"help", no_argument, NULL, 'h'}, {0}};
	int opt;
	while ((opt = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		if (opt == 'n' && util_parse_int(optarg, &calls) && calls > 0)
			continue;
		if (opt == 'r' && util_parse_int(optarg, &rounds) && rounds > 0)
			continue;
		if (opt == 'b' && util_parse_int(optarg, &bytes) && bytes >= 4)
			continue;
		fprintf(stderr, "usage: shoal-rpc-tls-bench CERT_DIR [--calls N] [--rounds R] "
				"[--bytes B]\n");
		return opt == 'h' ? 0 : 2;
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "usage: shoal-rpc-tls-bench CERT_DIR [--calls N] [--rounds R] "
				"[--bytes B]\n");
		return 2;
	}
	const char *dir = argv[optind];
	char cert[512], key[512], ca[512];
	snprintf(cert, sizeof cert, "%s/node.crt", dir);
	snprintf(key, sizeof key, "%s/node.key", dir);
	snprintf(ca, sizeof ca, "%s/ca.crt", dir);
	rpc_tls_options stls = {.cert_file = cert, .key_file = key};
	rpc_tls_options ctls = {.ca_file = ca};

	service.count = h_count;
	service.search = h_search;
	shoal_status st;
	rpc_server *sp, *stl;
	rpc_server_opts so = {.threads = 2, .tls = &stls};
	if (rpc_server_start("tcp://127.0.0.1:0", &service.base, &so, &sp, &st) != SHOAL_OK)
		die("tcp server", &st);
	if (rpc_server_start("tls+tcp://127.0.0.1:0", &service.base, &so, &stl, &st) != SHOAL_OK)
		die("tls server", &st);
	char url[2][64];
	snprintf(url[0], sizeof url[0], "tcp://127.0.0.1:%d", rpc_server_port(sp));
	snprintf(url[1], sizeof url[1], "tls+tcp://127.0.0.1:%d", rpc_server_port(stl));

	const ProtobufCServiceDescriptor *d = &shoal__worker__descriptor;
	unsigned m_count = (unsigned)(protobuf_c_service_descriptor_get_method_by_name(d, "Count") -
	    d->methods);
	unsigned m_search = (unsigned)(protobuf_c_service_descriptor_get_method_by_name(d,
	    "Search") - d->methods);
	Shoal__ShardCountRequest creq = SHOAL__SHARD_COUNT_REQUEST__INIT;
	creq.shard_id = 7;
	Shoal__ShardSearchRequest sreq = SHOAL__SHARD_SEARCH_REQUEST__INIT;
	sreq.n_vector = (size_t)bytes / sizeof(float);
	sreq.vector = calloc(sreq.n_vector, sizeof(float));
	sreq.k = 1;

	rpc_client *cl[2];
	rpc_client_opts co = {.tls = &ctls};
	for (int t = 0; t < 2; t++) {
		if (rpc_client_open(url[t], d, &co, &cl[t], &st) != SHOAL_OK)
			die("client", &st);
		for (int i = 0; i < 500; i++) /* warm-up: connection, caches */
			timed_call(cl[t], m_count, &creq.base);
	}

	size_t n = (size_t)calls * (size_t)rounds;
	series small[2], large[2], conn[2];
	for (int t = 0; t < 2; t++) {
		small[t] = (series){calloc(n, sizeof(uint64_t)), 0};
		large[t] = (series){calloc(n, sizeof(uint64_t)), 0};
		conn[t] = (series){calloc(20, sizeof(uint64_t)), 0};
	}
	uint64_t cpu[2] = {0, 0};
	for (int r = 0; r < rounds; r++) {
		for (int t = 0; t < 2; t++) {
			uint64_t c0 = cpu_us();
			for (int i = 0; i < calls; i++)
				small[t].us[small[t].n++] = timed_call(cl[t], m_count, &creq.base);
			cpu[t] += cpu_us() - c0;
			for (int i = 0; i < calls / 10 + 1; i++)
				large[t].us[large[t].n++] = timed_call(cl[t], m_search, &sreq.base);
		}
		fprintf(stderr, "round %d/%d done\n", r + 1, rounds);
	}
	for (int i = 0; i < 20; i++) {
		for (int t = 0; t < 2; t++) {
			rpc_client *c;
			uint64_t t0 = util_mono_us();
			if (rpc_client_open(url[t], d, &co, &c, &st) != SHOAL_OK)
				die("client", &st);
			timed_call(c, m_count, &creq.base);
			conn[t].us[conn[t].n++] = util_mono_us() - t0;
			rpc_client_close(c);
		}
	}
	printf("loopback, one client, calls one at a time; %d rounds alternating tcp and "
	       "tls+tcp\n", rounds);
	char what[64];
	report("Count (small)", &small[0], &small[1]);
	snprintf(what, sizeof what, "Search with %d bytes", bytes);
	report(what, &large[0], &large[1]);
	report("new connection + 1st call", &conn[0], &conn[1]);
	printf("%-28s tcp %.1f us | tls+tcp %.1f us | ratio %.2f\n", "CPU per Count (both ends)",
	    (double)cpu[0] / (double)n, (double)cpu[1] / (double)n,
	    cpu[0] ? (double)cpu[1] / (double)cpu[0] : 0.0);

	for (int t = 0; t < 2; t++) {
		rpc_client_close(cl[t]);
		free(small[t].us);
		free(large[t].us);
		free(conn[t].us);
	}
	free(sreq.vector);
	rpc_server_stop(sp);
	rpc_server_stop(stl);
	return 0;
}
