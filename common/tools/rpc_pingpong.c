/* rpc_pingpong.c -- shoal-rpc-pingpong: what one loopback round trip costs
 * on each transport shoal could run its RPCs over (docs/decisions.md 97,
 * 103).
 *
 *   shoal-rpc-pingpong [--calls N] [--rounds R] [--bytes B]
 *
 * One process plays both ends (a server thread and the calling thread) so
 * that getrusage(RUSAGE_SELF) charges both sides: per round trip it
 * reports the CPU time (user + system, every thread of the process) and
 * the context switches (voluntary + involuntary), plus the median wall
 * time.  Transports, alternated round by round (R rounds of N round trips
 * each) so that load from other processes falls on all alike:
 *   - raw:    blocking sockets, a 4-byte big-endian length then B bytes,
 *             echoed by the server thread (the floor);
 *   - stream: the same frames over nng's byte-stream API
 *             (nng_stream_dialer/listener, callback-less aios waited on
 *             with nng_aio_wait);
 *   - reqrep: the same bytes as one nng req0/rep0 message each way
 *             (blocking nng_sendmsg/nng_recvmsg): what rpc.c ran over
 *             before its own transport;
 *   - rpc:    rpc.h's client and server (a Get call, ~B bytes of
 *             request), over tcp:// -- whatever transport rpc.c runs.
 * Compare ratios from one run, not absolute figures: the machine is
 * shared.  Exit 0, or 1 with a message on a failure.
 */
#include <arpa/inet.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>

#include "rpc.h"
#include "shoal.pb-c.h"
#include "util.h"

static size_t frame_bytes = 1024;

static void
die(const char *what)
{
	fprintf(stderr, "shoal-rpc-pingpong: %s\n", what);
	exit(1);
}

/* ---- raw sockets */

static int
full_io(int fd, void *buf, size_t n, bool rd)
{
	uint8_t *p = buf;
	while (n > 0) {
		ssize_t k = rd ? read(fd, p, n) : write(fd, p, n);
		if (k <= 0)
			return -1;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

static void *
raw_server(void *arg)
{
	int lfd = *(int *)arg;
	int fd = accept(lfd, NULL, NULL);
	int one = 1;
	uint8_t *buf = malloc(frame_bytes + 4);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	for (;;) {
		uint32_t be;
		if (full_io(fd, &be, 4, true) != 0)
			break;
		uint32_t n = ntohl(be);
		memcpy(buf, &be, 4);
		if (n > frame_bytes || full_io(fd, buf + 4, n, true) != 0 ||
		    full_io(fd, buf, 4 + n, false) != 0)
			break;
	}
	free(buf);
	close(fd);
	return NULL;
}

static int raw_fd;

static void
raw_setup(pthread_t *tid, int *lfd)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof a;
	int one = 1;
	*lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (bind(*lfd, (struct sockaddr *)&a, sizeof a) != 0 || listen(*lfd, 4) != 0 ||
	    getsockname(*lfd, (struct sockaddr *)&a, &al) != 0)
		die("raw listen");
	pthread_create(tid, NULL, raw_server, lfd);
	raw_fd = socket(AF_INET, SOCK_STREAM, 0);
	if (connect(raw_fd, (struct sockaddr *)&a, sizeof a) != 0)
		die("raw connect");
	setsockopt(raw_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static void
raw_call(uint8_t *buf)
{
	uint32_t be = htonl((uint32_t)frame_bytes);
	memcpy(buf, &be, 4);
	if (full_io(raw_fd, buf, 4 + frame_bytes, false) != 0 ||
	    full_io(raw_fd, buf, 4 + frame_bytes, true) != 0)
		die("raw round trip");
}

/* ---- nng byte streams */

static nng_stream *st_client;

/* Sends or receives exactly n bytes on s with aio (callback-less). */
static int
stream_io(nng_stream *s, nng_aio *aio, void *buf, size_t n, bool rd)
{
	uint8_t *p = buf;
	while (n > 0) {
		nng_iov iov = {.iov_buf = p, .iov_len = n};
		nng_aio_set_iov(aio, 1, &iov);
		if (rd)
			nng_stream_recv(s, aio);
		else
			nng_stream_send(s, aio);
		nng_aio_wait(aio);
		if (nng_aio_result(aio) != 0)
			return -1;
		size_t k = nng_aio_count(aio);
		p += k;
		n -= k;
	}
	return 0;
}

static void *
stream_server(void *arg)
{
	nng_stream_listener *l = arg;
	nng_aio *aio;
	nng_aio_alloc(&aio, NULL, NULL);
	nng_stream_listener_accept(l, aio);
	nng_aio_wait(aio);
	if (nng_aio_result(aio) != 0)
		die("stream accept");
	nng_stream *s = nng_aio_get_output(aio, 0);
	uint8_t *buf = malloc(frame_bytes + 4);
	for (;;) {
		uint32_t be;
		if (stream_io(s, aio, &be, 4, true) != 0)
			break;
		uint32_t n = ntohl(be);
		memcpy(buf, &be, 4);
		if (n > frame_bytes || stream_io(s, aio, buf + 4, n, true) != 0 ||
		    stream_io(s, aio, buf, 4 + n, false) != 0)
			break;
	}
	free(buf);
	nng_stream_free(s);
	nng_aio_free(aio);
	return NULL;
}

static nng_aio *st_aio;

static void
stream_setup(pthread_t *tid, nng_stream_listener **l, nng_stream_dialer **d)
{
	int port;
	char url[64];
	if (nng_stream_listener_alloc(l, "tcp://127.0.0.1:0") != 0 ||
	    nng_stream_listener_listen(*l) != 0 ||
	    nng_stream_listener_get_int(*l, NNG_OPT_TCP_BOUND_PORT, &port) != 0)
		die("stream listen");
	pthread_create(tid, NULL, stream_server, *l);
	snprintf(url, sizeof url, "tcp://127.0.0.1:%d", port);
	if (nng_stream_dialer_alloc(d, url) != 0 || nng_aio_alloc(&st_aio, NULL, NULL) != 0)
		die("stream dialer");
	nng_stream_dialer_dial(*d, st_aio);
	nng_aio_wait(st_aio);
	if (nng_aio_result(st_aio) != 0)
		die("stream dial");
	st_client = nng_aio_get_output(st_aio, 0);
}

static void
stream_call(uint8_t *buf)
{
	uint32_t be = htonl((uint32_t)frame_bytes);
	memcpy(buf, &be, 4);
	if (stream_io(st_client, st_aio, buf, 4 + frame_bytes, false) != 0 ||
	    stream_io(st_client, st_aio, buf, 4 + frame_bytes, true) != 0)
		die("stream round trip");
}

/* ---- nng req/rep */

static nng_socket rq_cli, rq_srv;

static void *
reqrep_server(void *arg)
{
	(void)arg;
	for (;;) {
		nng_msg *m;
		if (nng_recvmsg(rq_srv, &m, 0) != 0)
			return NULL;
		if (nng_sendmsg(rq_srv, m, 0) != 0) {
			nng_msg_free(m);
			return NULL;
		}
	}
}

static void
reqrep_setup(pthread_t *tid)
{
	nng_listener l;
	int port;
	char url[64];
	if (nng_rep0_open(&rq_srv) != 0 || nng_listener_create(&l, rq_srv, "tcp://127.0.0.1:0") != 0 ||
	    nng_listener_start(l, 0) != 0 ||
	    nng_listener_get_int(l, NNG_OPT_TCP_BOUND_PORT, &port) != 0)
		die("reqrep listen");
	pthread_create(tid, NULL, reqrep_server, NULL);
	snprintf(url, sizeof url, "tcp://127.0.0.1:%d", port);
	if (nng_req0_open(&rq_cli) != 0 || nng_dial(rq_cli, url, NULL, 0) != 0)
		die("reqrep dial");
}

static void
reqrep_call(uint8_t *buf)
{
	nng_msg *m;
	if (nng_msg_alloc(&m, frame_bytes) != 0)
		die("reqrep alloc");
	memcpy(nng_msg_body(m), buf, frame_bytes);
	if (nng_sendmsg(rq_cli, m, 0) != 0 || nng_recvmsg(rq_cli, &m, 0) != 0)
		die("reqrep round trip");
	nng_msg_free(m);
}

/* ---- rpc.h */

static void
h_get(Shoal__Worker_Service *svc, const Shoal__ShardGetRequest *in,
    Shoal__GetReply_Closure done, void *cd)
{
	(void)svc;
	(void)in;
	Shoal__GetReply out = SHOAL__GET_REPLY__INIT;
	done(&out, cd);
}

static Shoal__Worker_Service service = {.base = SHOAL__WORKER__BASE_INIT};
static rpc_client *rpc_cl;
static unsigned m_get;
static Shoal__ShardGetRequest get_req = SHOAL__SHARD_GET_REQUEST__INIT;

static void
rpc_call1(uint8_t *buf)
{
	(void)buf;
	rpc_result res;
	if (rpc_client_call(rpc_cl, m_get, &get_req.base, &res) != SHOAL_OK) {
		fprintf(stderr, "shoal-rpc-pingpong: rpc: %s\n", res.status.msg);
		exit(1);
	}
	rpc_result_free(&res);
}

/* ---- measurement */

typedef struct totals {
	const char *name;
	void (*call)(uint8_t *);
	double cpu_us, csw;
	uint64_t *lat;
	size_t nlat;
} totals;

static double
cpu_us_now(struct rusage *ru)
{
	getrusage(RUSAGE_SELF, ru);
	return (double)ru->ru_utime.tv_sec * 1e6 + (double)ru->ru_utime.tv_usec +
	    (double)ru->ru_stime.tv_sec * 1e6 + (double)ru->ru_stime.tv_usec;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
	int calls = 2000, rounds = 5;
	static const struct option lo[] = {{"calls", 1, NULL, 'n'}, {"rounds", 1, NULL, 'r'},
	    {"bytes", 1, NULL, 'b'}, {"help", 0, NULL, 'h'}, {0}};
	int ch;
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (ch) {
		case 'n': calls = atoi(optarg); break;
		case 'r': rounds = atoi(optarg); break;
		case 'b': frame_bytes = (size_t)atol(optarg); break;
		case 'h':
			printf("usage: shoal-rpc-pingpong [--calls N] [--rounds R] [--bytes B]\n"
			       "Loopback round trips of B-byte frames (default 1024) on raw sockets,\n"
			       "nng byte streams, nng req/rep and rpc.h over tcp://: CPU us, context\n"
			       "switches and median wall us per round trip (both ends in this process).\n");
			return 0;
		default: return 2;
		}
	}
	if (calls <= 0 || rounds <= 0 || frame_bytes == 0 || frame_bytes > (16u << 20))
		die("--calls, --rounds and --bytes must be positive (bytes <= 16 MiB)");

	pthread_t raw_tid, st_tid;
	int lfd;
	nng_stream_listener *sl;
	nng_stream_dialer *sd;
	pthread_t rq_tid;
	raw_setup(&raw_tid, &lfd);
	stream_setup(&st_tid, &sl, &sd);
	reqrep_setup(&rq_tid);

	shoal_status st;
	rpc_server *srv;
	service.get = h_get;
	rpc_server_opts so = {.threads = 2};
	if (rpc_server_start("tcp://127.0.0.1:0", &service.base, &so, &srv, &st) != SHOAL_OK)
		die(st.msg);
	char url[64];
	snprintf(url, sizeof url, "tcp://127.0.0.1:%d", rpc_server_port(srv));
	if (rpc_client_open(url, &shoal__worker__descriptor, NULL, &rpc_cl, &st) != SHOAL_OK)
		die(st.msg);
	for (unsigned i = 0; i < shoal__worker__descriptor.n_methods; i++)
		if (strcmp(shoal__worker__descriptor.methods[i].name, "Get") == 0)
			m_get = i;
	/* ~frame_bytes of request: ids of 8 bytes (varints of large values) */
	size_t nids = frame_bytes / 9 ? frame_bytes / 9 : 1;
	uint64_t *ids = calloc(nids, sizeof *ids);
	for (size_t i = 0; i < nids; i++)
		ids[i] = (1ull << 56) + i;
	get_req.ids = ids;
	get_req.n_ids = nids;

	uint8_t *buf = malloc(frame_bytes + 4);
	memset(buf, 0x5a, frame_bytes + 4);
	enum { NT = 4 };
	totals t[NT] = {{.name = "raw", .call = raw_call}, {.name = "stream", .call = stream_call},
	    {.name = "reqrep", .call = reqrep_call}, {.name = "rpc", .call = rpc_call1}};
	for (int k = 0; k < NT; k++) {
		t[k].lat = calloc((size_t)calls * (size_t)rounds, sizeof(uint64_t));
		for (int i = 0; i < 50; i++)
			t[k].call(buf); /* warm up */
	}
	for (int r = 0; r < rounds; r++) {
		for (int k = 0; k < NT; k++) {
			struct rusage a, b;
			double c0 = cpu_us_now(&a);
			for (int i = 0; i < calls; i++) {
				uint64_t t0 = util_mono_us();
				t[k].call(buf);
				t[k].lat[t[k].nlat++] = util_mono_us() - t0;
			}
			double c1 = cpu_us_now(&b);
			t[k].cpu_us += c1 - c0;
			t[k].csw += (double)(b.ru_nvcsw - a.ru_nvcsw + b.ru_nivcsw - a.ru_nivcsw);
		}
	}
	double n = (double)calls * rounds;
	printf("%zu-byte frames, %d x %d round trips each, one process (both ends)\n",
	    frame_bytes, rounds, calls);
	printf("%-8s %12s %12s %12s %10s\n", "", "cpu us/rt", "csw/rt", "median us", "cpu x raw");
	for (int k = 0; k < NT; k++) {
		qsort(t[k].lat, t[k].nlat, sizeof(uint64_t), cmp_u64);
		printf("%-8s %12.1f %12.2f %12llu %10.2f\n", t[k].name, t[k].cpu_us / n, t[k].csw / n,
		    (unsigned long long)t[k].lat[t[k].nlat / 2], t[k].cpu_us / t[0].cpu_us);
		free(t[k].lat);
	}

	/* teardown: closing the client ends each echo loop */
	close(raw_fd);
	pthread_join(raw_tid, NULL);
	close(lfd);
	nng_stream_close(st_client);
	nng_stream_free(st_client);
	pthread_join(st_tid, NULL);
	nng_aio_free(st_aio);
	nng_stream_dialer_free(sd);
	nng_stream_listener_free(sl);
	nng_close(rq_cli);
	nng_close(rq_srv); /* ends the echo loop */
	pthread_join(rq_tid, NULL);
	rpc_client_close(rpc_cl);
	rpc_server_stop(srv);
	free(ids);
	free(buf);
	return 0;
}
