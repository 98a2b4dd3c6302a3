/* test_rpc_sock.c -- the rpc layer's own transport for tcp:// and ipc://
 * (common/rpc_sock.{h,c}, docs/decisions.md 103-109), over real sockets.
 *
 * A test Worker service (Count answers shard_id * 2; Search sleeps k ms;
 * Status counts the handlers inside it) is served either by rpc_server or
 * by a counting server built here from the transport's own connection
 * loop (rpc_sock_serve_fd) that counts the connections it accepted, so
 * the client's pool is observable.  Raw sockets play misbehaving peers.
 * Asserted: pooled connections are reused (one connection for sequential
 * calls, at most one per concurrent caller); a request whose pooled
 * connection closes before any reply is resent once on a new one, a
 * request on a new connection never; a timed-out call's
 * connection is closed and the late reply never answers the next call; a
 * server restarted on the same port is reached again through a client
 * whose pooled connection died; length prefixes of 0, beyond the limit,
 * truncated and trickled byte by byte; a reply frame beyond the client's
 * limit, a peer that closes without replying, a garbage reply; the
 * `threads` bound queues (never more inside at once, nothing refused);
 * ipc:// (a stale socket file is replaced); a host name with several
 * addresses, malformed URLs; stop with idle and busy connections. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include <nng/nng.h>

#include "rpc.h"
#include "rpc_sock.h"
#include "rpc_testsvc.h"
#include "shoal.pb-c.h"
#include "util.h"

/* ---- the test service */

static atomic_int inside, max_inside;

static void
h_status(Shoal__Worker_Service *svc, const Shoal__WorkerStatusRequest *in,
    Shoal__WorkerStatusReply_Closure done, void *cd)
{
	(void)svc;
	(void)in;
	int now = atomic_fetch_add(&inside, 1) + 1;
	int m = atomic_load(&max_inside);
	while (now > m && !atomic_compare_exchange_weak(&max_inside, &m, now))
		;
	util_sleep_ms(50);
	atomic_fetch_sub(&inside, 1);
	Shoal__WorkerStatusReply out = SHOAL__WORKER_STATUS_REPLY__INIT;
	out.name = "t";
	done(&out, cd);
}

static Shoal__Worker_Service service = {.base = SHOAL__WORKER__BASE_INIT};

/* One Count(shard) through c; its code, and the count in *out. */
static shoal_code
count(rpc_client *c, uint64_t shard, uint64_t *out, shoal_status *st)
{
	Shoal__ShardCountRequest req = SHOAL__SHARD_COUNT_REQUEST__INIT;
	rpc_result res;
	req.shard_id = shard;
	rpc_client_call(c, testsvc_method("Count"), &req.base, &res);
	if (res.status.code == SHOAL_OK)
		*out = ((Shoal__CountReply *)res.reply)->count;
	if (st)
		*st = res.status;
	rpc_result_free(&res);
	return res.status.code;
}

/* An rpc_server of the test service with `threads` on a loopback port;
 * its URL in url (64 bytes). */
static rpc_server *
serve_on_loopback(int threads, char *url)
{
	rpc_server *srv;
	rpc_server_opts so = {.threads = threads};
	shoal_status st;
	assert_int_equal(rpc_server_start("tcp://127.0.0.1:0", &service.base, &so, &srv, &st),
	    SHOAL_OK);
	snprintf(url, 64, "tcp://127.0.0.1:%d", rpc_server_port(srv));
	return srv;
}

/* ---- a server that counts its connections: a listening socket, an accept
 * thread, one thread per connection running the transport's own loop */

#define MAXC 64
typedef struct counting_srv {
	int lfd, port;
	pthread_t acc;
	atomic_int accepted;
	pthread_t conn[MAXC];
	int fds[MAXC];
	atomic_bool stop;
} counting_srv;

/* Requests served by counting servers; the one numbered fail_at (from 0;
 * -1 = none) is dropped: its connection closes without a reply. */
static atomic_int served, fail_at = -1;

static bool
serve_cb(void *arg, const uint8_t *req, size_t len, uint8_t **out, size_t *out_len)
{
	(void)arg;
	if (atomic_fetch_add(&served, 1) == atomic_load(&fail_at))
		return false;
	return rpc_dispatch(&service.base, NULL, req, len, out, out_len) == SHOAL_OK;
}

static void *
conn_thread(void *arg)
{
	int fd = *(int *)arg;
	rpc_sock_serve_fd(fd, RPC_DEFAULT_MAX_MSG, serve_cb, NULL);
	shutdown(fd, SHUT_RDWR); /* the peer sees the close; counting_stop closes fd */
	return NULL;
}

static void *
accept_thread(void *arg)
{
	counting_srv *s = arg;
	for (;;) {
		int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK);
		if (fd < 0 || atomic_load(&s->stop)) {
			if (fd >= 0)
				close(fd);
			return NULL;
		}
		int i = atomic_fetch_add(&s->accepted, 1);
		assert_true(i < MAXC);
		s->fds[i] = fd;
		pthread_create(&s->conn[i], NULL, conn_thread, &s->fds[i]);
	}
}

static int
listen_loopback(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
	    .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int one = 1, fd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(listen(fd, 16), 0);
	return fd;
}

static int
port_of(int fd)
{
	struct sockaddr_in a;
	socklen_t l = sizeof a;
	getsockname(fd, (struct sockaddr *)&a, &l);
	return ntohs(a.sin_port);
}

static void
counting_start(counting_srv *s)
{
	memset(s, 0, sizeof *s);
	s->lfd = listen_loopback(0);
	s->port = port_of(s->lfd);
	pthread_create(&s->acc, NULL, accept_thread, s);
}

/* Starts s and opens a client to it (co may be NULL). */
static rpc_client *
counting_client(counting_srv *s, const rpc_client_opts *co)
{
	char url[64];
	shoal_status st;
	rpc_client *c;
	counting_start(s);
	snprintf(url, sizeof url, "tcp://127.0.0.1:%d", s->port);
	assert_int_equal(rpc_client_open(url, &shoal__worker__descriptor, co, &c, &st), SHOAL_OK);
	return c;
}

static void
counting_stop(counting_srv *s)
{
	atomic_store(&s->stop, true);
	shutdown(s->lfd, SHUT_RDWR); /* wakes accept */
	pthread_join(s->acc, NULL);
	close(s->lfd);
	for (int i = 0; i < atomic_load(&s->accepted); i++) {
		shutdown(s->fds[i], SHUT_RDWR);
		pthread_join(s->conn[i], NULL);
		close(s->fds[i]);
	}
}

/* ---- tests */

static void
test_frame_check(void **state)
{
	(void)state;
	size_t len;
	const uint8_t zero[4] = {0, 0, 0, 0}, five[6] = {0, 0, 0, 5, 'a', 'b'};
	const uint8_t huge[4] = {0xff, 0xff, 0xff, 0xff}, at_max[4] = {0, 0, 0x10, 0};
	assert_int_equal(rpc_frame_check(zero, 0, 100, &len), RPC_FRAME_MORE);
	assert_int_equal(rpc_frame_check(zero, 3, 100, &len), RPC_FRAME_MORE);
	assert_int_equal(rpc_frame_check(zero, 4, 100, &len), RPC_FRAME_READY);
	assert_int_equal(len, 0);
	assert_int_equal(rpc_frame_check(five, 6, 100, &len), RPC_FRAME_MORE);
	assert_int_equal(len, 5);
	assert_int_equal(rpc_frame_check(huge, 4, 100, &len), RPC_FRAME_TOO_LARGE);
	assert_true(len == 0xffffffffu);
	assert_int_equal(rpc_frame_check(at_max, 4, 4096, &len), RPC_FRAME_MORE);
	assert_int_equal(rpc_frame_check(at_max, 4, 4095, &len), RPC_FRAME_TOO_LARGE);
	assert_true(rpc_sock_url("tcp://h:1") && rpc_sock_url("ipc:///x"));
	assert_false(rpc_sock_url("tls+tcp://h:1") || rpc_sock_url("inproc://x"));
}

struct loop_arg {
	rpc_client *c;
	int calls;
	int ok;
};

static void *
call_loop(void *arg)
{
	struct loop_arg *a = arg;
	for (int i = 0; i < a->calls; i++) {
		uint64_t n = 0;
		if (count(a->c, (uint64_t)i + 1, &n, NULL) == SHOAL_OK && n == (uint64_t)(i + 1) * 2)
			a->ok++;
	}
	return NULL;
}

static void
test_pool_reuse_and_concurrency(void **state)
{
	(void)state;
	counting_srv s;
	rpc_client *c = counting_client(&s, NULL);
	struct loop_arg one = {.c = c, .calls = 50};
	call_loop(&one);
	assert_int_equal(one.ok, 50);
	assert_int_equal(atomic_load(&s.accepted), 1); /* one connection, reused */

	/* 4 threads at once: each call holds a connection, none is shared */
	pthread_t t[4];
	struct loop_arg a[4];
	for (int i = 0; i < 4; i++) {
		a[i] = (struct loop_arg){.c = c, .calls = 30};
		pthread_create(&t[i], NULL, call_loop, &a[i]);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(a[i].ok, 30);
	}
	assert_true(atomic_load(&s.accepted) >= 1 && atomic_load(&s.accepted) <= 4);
	rpc_client_close(c);
	counting_stop(&s);
}

static void
test_timeout_closes_connection(void **state)
{
	(void)state;
	counting_srv s;
	rpc_client_opts co = {.timeout_ms = 150};
	rpc_client *c = counting_client(&s, &co);
	uint64_t n = 0;
	assert_int_equal(count(c, 1, &n, NULL), SHOAL_OK);
	assert_int_equal(atomic_load(&s.accepted), 1);

	Shoal__ShardSearchRequest req = SHOAL__SHARD_SEARCH_REQUEST__INIT;
	req.k = 400; /* the handler sleeps 400 ms: the call times out at 150 */
	rpc_result res;
	assert_int_equal(rpc_client_call(c, testsvc_method("Search"), &req.base, &res),
	    SHOAL_DEADLINE_EXCEEDED);
	assert_non_null(strstr(res.status.msg, "no reply from"));
	util_sleep_ms(400); /* the late reply has been written by now */
	/* the next call gets its own answer on a new connection, not the
	 * Search reply still queued on the old one */
	assert_int_equal(count(c, 21, &n, NULL), SHOAL_OK);
	assert_true(n == 42);
	assert_int_equal(atomic_load(&s.accepted), 2);
	rpc_client_close(c);
	counting_stop(&s);
}

static void
test_retry_once_on_pooled_only(void **state)
{
	(void)state;
	counting_srv s;
	char url[64];
	shoal_status st;
	uint64_t n = 0;
	rpc_client *c = counting_client(&s, NULL);
	snprintf(url, sizeof url, "tcp://127.0.0.1:%d", s.port);
	atomic_store(&served, 0);
	atomic_store(&fail_at, 1);
	assert_int_equal(count(c, 1, &n, NULL), SHOAL_OK);
	/* the pooled connection closes without answering the second request:
	 * it goes out again on a new connection, and is answered */
	if (count(c, 2, &n, &st) != SHOAL_OK)
		fail_msg("no retry: %s", st.msg);
	assert_true(n == 4);
	assert_int_equal(atomic_load(&s.accepted), 2);
	assert_int_equal(atomic_load(&served), 3);
	/* on a connection dialled for the call: no second delivery */
	atomic_store(&fail_at, 3);
	rpc_client_close(c);
	assert_int_equal(rpc_client_open(url, &shoal__worker__descriptor, NULL, &c, &st), SHOAL_OK);
	assert_int_equal(count(c, 3, &n, &st), SHOAL_UNAVAILABLE);
	assert_non_null(strstr(st.msg, "connection lost while waiting for the Count reply"));
	assert_int_equal(atomic_load(&s.accepted), 3);
	assert_int_equal(atomic_load(&served), 4);
	atomic_store(&fail_at, -1);
	rpc_client_close(c);
	counting_stop(&s);
}

static void
test_server_restart_pooled(void **state)
{
	(void)state;
	shoal_status st;
	char url[64];
	rpc_server *srv = serve_on_loopback(2, url);
	rpc_server_opts so = {.threads = 2};
	rpc_client *plain, *fast;
	rpc_client_opts fo = {.fail_on_disconnect = true, .connect_timeout_ms = 500};
	assert_int_equal(rpc_client_open(url, &shoal__worker__descriptor, NULL, &plain, &st),
	    SHOAL_OK);
	assert_int_equal(rpc_client_open(url, &shoal__worker__descriptor, &fo, &fast, &st),
	    SHOAL_OK);
	uint64_t n = 0;
	assert_int_equal(count(plain, 1, &n, NULL), SHOAL_OK);
	assert_int_equal(count(fast, 1, &n, NULL), SHOAL_OK);
	/* both hold a pooled connection; the server restarts on the same port */
	rpc_server_stop(srv);
	assert_int_equal(rpc_server_start(url, &service.base, &so, &srv, &st), SHOAL_OK);
	assert_int_equal(count(plain, 5, &n, &st), SHOAL_OK);
	assert_true(n == 10);
	assert_int_equal(count(fast, 6, &n, &st), SHOAL_OK);
	assert_true(n == 12);
	rpc_server_stop(srv);
	/* and with no server at all: UNAVAILABLE naming the URL, quickly */
	uint64_t t0 = util_mono_ms();
	assert_int_equal(count(fast, 7, &n, &st), SHOAL_UNAVAILABLE);
	assert_non_null(strstr(st.msg, url));
	assert_true(util_mono_ms() - t0 < 2000);
	rpc_client_close(plain);
	rpc_client_close(fast);
}

/* ---- raw peers */

static int
dial_raw(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
	    .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct timeval tv = {.tv_sec = 5};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
	return fd;
}

/* Reads one reply frame from fd; its code, or -1 when the connection
 * closed first. */
static int
read_reply_code(int fd)
{
	uint8_t hdr[4], buf[4096];
	size_t got = 0;
	while (got < 4) {
		ssize_t k = read(fd, hdr + got, 4 - got);
		if (k <= 0)
			return -1;
		got += (size_t)k;
	}
	size_t n = (size_t)hdr[0] << 24 | (size_t)hdr[1] << 16 | (size_t)hdr[2] << 8 | hdr[3];
	assert_true(n < sizeof buf);
	for (got = 0; got < n;) {
		ssize_t k = read(fd, buf + got, n - got);
		if (k <= 0)
			return -1;
		got += (size_t)k;
	}
	Shoal__ReplyEnvelope *rep = shoal__reply_envelope__unpack(NULL, n, buf);
	assert_non_null(rep);
	int code = rep->code;
	shoal__reply_envelope__free_unpacked(rep, NULL);
	return code;
}

static size_t
count_frame(uint8_t *buf, uint64_t shard)
{
	Shoal__ShardCountRequest req = SHOAL__SHARD_COUNT_REQUEST__INIT;
	uint8_t payload[32];
	req.shard_id = shard;
	Shoal__RequestEnvelope env = SHOAL__REQUEST_ENVELOPE__INIT;
	env.method = "Count";
	env.payload.data = payload;
	env.payload.len = shoal__shard_count_request__pack(&req, payload);
	size_t n = shoal__request_envelope__pack(&env, buf + 4);
	buf[0] = buf[1] = 0;
	buf[2] = (uint8_t)(n >> 8);
	buf[3] = (uint8_t)n;
	return n + 4;
}

static void
test_server_frame_edges(void **state)
{
	(void)state;
	rpc_server *srv;
	rpc_server_opts so = {.threads = 2, .max_msg = 4096};
	shoal_status st;
	assert_int_equal(rpc_server_start("tcp://127.0.0.1:0", &service.base, &so, &srv, &st),
	    SHOAL_OK);
	int port = rpc_server_port(srv);
	uint8_t f[256];

	/* length 0: an empty envelope names no method: an error reply */
	int fd = dial_raw(port);
	assert_int_equal(write(fd, "\0\0\0\0", 4), 4);
	int code = read_reply_code(fd);
	assert_true(code > 0);
	/* the same connection serves a good request next */
	size_t n = count_frame(f, 3);
	assert_int_equal(write(fd, f, n), (ssize_t)n);
	assert_int_equal(read_reply_code(fd), SHOAL_OK);
	/* two requests in one write are both answered, in order */
	size_t n2 = count_frame(f + n, 4);
	assert_int_equal(write(fd, f, n + n2), (ssize_t)(n + n2));
	assert_int_equal(read_reply_code(fd), SHOAL_OK);
	assert_int_equal(read_reply_code(fd), SHOAL_OK);
	close(fd);

	/* beyond max_msg but within the slack: RESOURCE_EXHAUSTED, connection kept */
	fd = dial_raw(port);
	size_t big = 8192;
	uint8_t *b = calloc(1, big + 4);
	b[2] = (uint8_t)(big >> 8);
	assert_int_equal(write(fd, b, big + 4), (ssize_t)(big + 4));
	assert_int_equal(read_reply_code(fd), SHOAL_RESOURCE_EXHAUSTED);
	n = count_frame(f, 3);
	assert_int_equal(write(fd, f, n), (ssize_t)n);
	assert_int_equal(read_reply_code(fd), SHOAL_OK);
	free(b);
	close(fd);

	/* beyond max_msg + RPC_TRANSPORT_SLACK, up to 0xffffffff: closed */
	const uint8_t huge[2][4] = {{0xff, 0xff, 0xff, 0xff}, {0x00, 0x11, 0x00, 0x01}};
	for (int i = 0; i < 2; i++) {
		fd = dial_raw(port);
		assert_int_equal(write(fd, huge[i], 4), 4);
		assert_int_equal(read_reply_code(fd), -1);
		close(fd);
	}

	/* truncated: a header promising 100 bytes, 10 sent, then closed */
	fd = dial_raw(port);
	assert_int_equal(write(fd, "\0\0\0\x64" "0123456789", 14), 14);
	close(fd);

	/* a slow peer: the frame trickles in byte by byte */
	fd = dial_raw(port);
	n = count_frame(f, 8);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(write(fd, f + i, 1), 1);
		util_sleep_ms(2);
	}
	assert_int_equal(read_reply_code(fd), SHOAL_OK);
	close(fd);

	/* after all of that the server serves as before */
	rpc_client *c;
	char url[64];
	uint64_t cnt = 0;
	snprintf(url, sizeof url, "tcp://127.0.0.1:%d", port);
	assert_int_equal(rpc_client_open(url, &shoal__worker__descriptor, NULL, &c, &st), SHOAL_OK);
	assert_int_equal(count(c, 4, &cnt, NULL), SHOAL_OK);
	assert_true(cnt == 8);
	rpc_client_close(c);
	rpc_server_stop(srv);
}

/* A misbehaving server: answers each connection's first request with
 * `reply` (reply_len bytes, header included; 0 = close without a word). */
typedef struct bad_srv {
	int lfd;
	const uint8_t *reply;
	size_t reply_len;
	pthread_t t;
} bad_srv;

static void *
bad_main(void *arg)
{
	bad_srv *s = arg;
	int fd = accept(s->lfd, NULL, NULL);
	if (fd < 0)
		return NULL;
	uint8_t buf[4096];
	ssize_t k = read(fd, buf, sizeof buf);
	(void)k;
	if (s->reply_len > 0) {
		k = write(fd, s->reply, s->reply_len);
		util_sleep_ms(300);
	}
	close(fd);
	return NULL;
}

static shoal_code
call_bad(const uint8_t *reply, size_t len, shoal_status *st)
{
	bad_srv s = {.reply = reply, .reply_len = len};
	s.lfd = listen_loopback(0);
	char url[64];
	snprintf(url, sizeof url, "tcp://127.0.0.1:%d", port_of(s.lfd));
	pthread_create(&s.t, NULL, bad_main, &s);
	rpc_client *c;
	rpc_client_opts co = {.timeout_ms = 2000, .max_msg = 1000};
	assert_int_equal(rpc_client_open(url, &shoal__worker__descriptor, &co, &c, st), SHOAL_OK);
	uint64_t n;
	shoal_code rc = count(c, 1, &n, st);
	rpc_client_close(c);
	pthread_join(s.t, NULL);
	close(s.lfd);
	return rc;
}

static void
test_client_bad_replies(void **state)
{
	(void)state;
	shoal_status st;
	/* a reply announcing more than max_msg + RPC_TRANSPORT_SLACK */
	const uint8_t huge[4] = {0x7f, 0xff, 0xff, 0xff};
	assert_int_equal(call_bad(huge, 4, &st), SHOAL_RESOURCE_EXHAUSTED);
	assert_non_null(strstr(st.msg, "maximum message size"));
	/* closed without replying, on a new connection: what a TLS server
	 * does to a plain client */
	assert_int_equal(call_bad(NULL, 0, &st), SHOAL_UNAVAILABLE);
	assert_non_null(strstr(st.msg, "connection lost while waiting for the Count reply"));
	assert_non_null(strstr(st.msg, "tls+tcp://"));
	/* a well-framed reply that is no ReplyEnvelope */
	const uint8_t junk[7] = {0, 0, 0, 3, 0xff, 0xff, 0xff};
	assert_int_equal(call_bad(junk, 7, &st), SHOAL_INTERNAL);
	assert_non_null(strstr(st.msg, "malformed reply"));
	/* half a reply, then closed */
	const uint8_t half[6] = {0, 0, 0, 9, 0x08, 0x01};
	assert_int_equal(call_bad(half, 6, &st), SHOAL_UNAVAILABLE);
}

static void
test_threads_bound_queues(void **state)
{
	(void)state;
	shoal_status st;
	char url[64];
	rpc_server *srv = serve_on_loopback(2, url);
	rpc_client *c;
	assert_int_equal(rpc_client_open(url, &shoal__worker__descriptor, NULL, &c, &st), SHOAL_OK);
	atomic_store(&inside, 0);
	atomic_store(&max_inside, 0);
	pthread_t t[6];
	struct caller a[6];
	for (int i = 0; i < 6; i++) {
		a[i] = (struct caller){.c = c};
		pthread_create(&t[i], NULL, call_status, &a[i]);
	}
	for (int i = 0; i < 6; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(a[i].code, SHOAL_OK); /* queued, not refused */
	}
	assert_int_equal(atomic_load(&max_inside), 2);
	rpc_client_close(c);
	rpc_server_stop(srv);
}

static void
test_ipc(void **state)
{
	(void)state;
	char url[128], path[96];
	shoal_status st;
	snprintf(path, sizeof path, "/tmp/shoal-test-rpc-sock-%d.ipc", (int)getpid());
	snprintf(url, sizeof url, "ipc://%s", path);
	/* a stale socket file (a server that died) is replaced */
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un { sa_family_t f; char p[108]; } su = {.f = AF_UNIX};
	snprintf(su.p, sizeof su.p, "%s", path);
	unlink(path);
	assert_int_equal(bind(fd, (struct sockaddr *)&su, sizeof su), 0);
	close(fd);
	rpc_server *srv, *srv2;
	rpc_server_opts so = {.threads = 2};
	assert_int_equal(rpc_server_start(url, &service.base, &so, &srv, &st), SHOAL_OK);
	assert_int_equal(rpc_server_port(srv), -1);
	/* a live one is not */
	assert_int_equal(rpc_server_start(url, &service.base, &so, &srv2, &st), SHOAL_UNAVAILABLE);
	assert_non_null(strstr(st.msg, "in use"));
	rpc_client *c;
	assert_int_equal(rpc_client_open(url, &shoal__worker__descriptor, NULL, &c, &st), SHOAL_OK);
	uint64_t n = 0;
	assert_int_equal(count(c, 33, &n, NULL), SHOAL_OK);
	assert_true(n == 66);
	rpc_client_close(c);
	rpc_server_stop(srv);
	assert_int_equal(access(path, F_OK), -1); /* removed at stop */
}

/* A host name: every address it resolves to is tried (localhost may give
 * ::1 first, where this server does not listen). */
static void
test_dial_by_name(void **state)
{
	(void)state;
	char url[64], byname[64];
	shoal_status st;
	rpc_server *srv = serve_on_loopback(2, url);
	snprintf(byname, sizeof byname, "tcp://localhost:%d", rpc_server_port(srv));
	rpc_client *c;
	uint64_t n = 0;
	assert_int_equal(rpc_client_open(byname, &shoal__worker__descriptor, NULL, &c, &st),
	    SHOAL_OK);
	assert_int_equal(count(c, 9, &n, &st), SHOAL_OK);
	assert_true(n == 18);
	rpc_client_close(c);
	/* malformed URLs are refused at open and at start */
	assert_int_equal(rpc_client_open("tcp://localhost", &shoal__worker__descriptor, NULL, &c,
			     &st), SHOAL_INVALID_ARGUMENT);
	assert_int_equal(rpc_client_open("tcp://h:99999", &shoal__worker__descriptor, NULL, &c,
			     &st), SHOAL_INVALID_ARGUMENT);
	rpc_server *bad;
	rpc_server_opts so = {.threads = 1};
	assert_int_equal(rpc_server_start("tcp://127.0.0.1:x", &service.base, &so, &bad, &st),
	    SHOAL_INVALID_ARGUMENT);
	rpc_server_stop(srv);
}

static void *
stopper(void *arg)
{
	util_sleep_ms(100);
	rpc_server_stop(arg);
	return NULL;
}

static void
test_stop_with_connections(void **state)
{
	(void)state;
	shoal_status st;
	char url[64];
	rpc_server *srv = serve_on_loopback(4, url);
	rpc_client *idle, *busy;
	rpc_client_opts co = {.timeout_ms = 5000, .fail_on_disconnect = true};
	assert_int_equal(rpc_client_open(url, &shoal__worker__descriptor, &co, &idle, &st),
	    SHOAL_OK);
	assert_int_equal(rpc_client_open(url, &shoal__worker__descriptor, &co, &busy, &st),
	    SHOAL_OK);
	uint64_t n;
	assert_int_equal(count(idle, 1, &n, NULL), SHOAL_OK); /* an idle pooled connection */
	/* a 300 ms handler running while the server stops: stop waits for it,
	 * the caller learns the connection went away */
	pthread_t t;
	pthread_create(&t, NULL, stopper, srv);
	Shoal__ShardSearchRequest req = SHOAL__SHARD_SEARCH_REQUEST__INIT;
	req.k = 300;
	rpc_result res;
	uint64_t t0 = util_mono_ms();
	shoal_code rc = rpc_client_call(busy, testsvc_method("Search"), &req.base, &res);
	rpc_result_free(&res);
	pthread_join(t, NULL);
	assert_int_equal(rc, SHOAL_UNAVAILABLE); /* its reply had nowhere to go */
	assert_true(util_mono_ms() - t0 < 3000);
	assert_int_equal(count(idle, 1, &n, &st), SHOAL_UNAVAILABLE);
	rpc_client_close(idle);
	rpc_client_close(busy);
}

int
main(void)
{
	service.count = testsvc_count;
	service.search = testsvc_search;
	service.status = h_status;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_frame_check),
		cmocka_unit_test(test_pool_reuse_and_concurrency),
		cmocka_unit_test(test_timeout_closes_connection),
		cmocka_unit_test(test_retry_once_on_pooled_only),
		cmocka_unit_test(test_server_restart_pooled),
		cmocka_unit_test(test_server_frame_edges),
		cmocka_unit_test(test_client_bad_replies),
		cmocka_unit_test(test_threads_bound_queues),
		cmocka_unit_test(test_ipc),
		cmocka_unit_test(test_dial_by_name),
		cmocka_unit_test(test_stop_with_connections),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	nng_fini();
	return failed;
}
