/* rpc_sock.c -- rpc.c's own transport for tcp:// and ipc:// (see
 * rpc_sock.h for the model, docs/decisions.md 103-109 for the choices).
 *
 * Why not nng here: one nng req/rep round trip cost ~120 us of CPU and ~30
 * context switches on loopback (its poller and task threads hand every
 * message on), a blocking-socket ping-pong 15 us and 2; nng's byte-stream
 * API still 2.4x the CPU (shoal-rpc-pingpong).  tls+tcp:// and inproc://
 * stay on nng (rpc.c).
 *
 * Invariants:
 *  - every socket is non-blocking; every wait is a poll() bounded by the
 *    call's deadline (client) or by RPC_SOCK_STALL_MS of no progress inside
 *    a frame (server; an idle connection between frames may wait forever);
 *  - a server connection's fd is closed only by its own thread, under the
 *    server's mutex, after leaving the live list: rpc_sock_server_stop
 *    shuts down only fds on that list, so it never touches a reused fd;
 *  - a client connection is pooled only after a complete reply with no
 *    byte after it; anything else (timeout, error, extra bytes) closes it.
 */
#include "rpc_sock.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "log.h"
#include "rpc.h"
#include "util.h"

#define RBUF 16384 /* a connection's read buffer: small frames in one recv */
#define FRAME_MAX_BODY 0xffffffffu

/* ===================================================================
 * URLs
 * =================================================================== */

typedef struct sock_spec {
	bool ipc;
	int family;           /* AF_UNSPEC, AF_INET (tcp4://), AF_INET6 (tcp6://) */
	char host[256];       /* "" = any (listen) / loopback (dial) */
	char port[8];
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
} sock_spec;

static bool
parse_url(const char *url, sock_spec *a)
{
	static const struct {
		const char *scheme;
		int family;
	} tcp[] = {{"tcp://", AF_UNSPEC}, {"tcp4://", AF_INET}, {"tcp6://", AF_INET6}};

	memset(a, 0, sizeof *a);
	if (url == NULL)
		return false;
	if (strncmp(url, "ipc://", 6) == 0) {
		size_t n = strlen(url + 6);
		if (n == 0 || n >= sizeof a->path)
			return false;
		a->ipc = true;
		memcpy(a->path, url + 6, n + 1);
		return true;
	}
	const char *p = NULL;
	for (size_t i = 0; i < sizeof tcp / sizeof tcp[0]; i++)
		if (strncmp(url, tcp[i].scheme, strlen(tcp[i].scheme)) == 0) {
			p = url + strlen(tcp[i].scheme);
			a->family = tcp[i].family;
		}
	if (p == NULL)
		return false;
	const char *colon, *hs = p, *he;
	if (*p == '[') {
		hs = p + 1;
		he = strchr(hs, ']');
		if (he == NULL || he[1] != ':')
			return false;
		colon = he + 1;
	} else {
		colon = strrchr(p, ':');
		if (colon == NULL)
			return false;
		he = colon;
	}
	size_t hl = (size_t)(he - hs), pl = strlen(colon + 1);
	if (hl >= sizeof a->host || pl == 0 || pl >= sizeof a->port)
		return false;
	for (const char *d = colon + 1; *d; d++)
		if (*d < '0' || *d > '9')
			return false;
	if (atol(colon + 1) > 65535)
		return false;
	memcpy(a->host, hs, hl);
	a->host[hl] = '\0';
	if (strcmp(a->host, "*") == 0)
		a->host[0] = '\0';
	memcpy(a->port, colon + 1, pl + 1);
	return true;
}

bool
rpc_sock_url(const char *url)
{
	return url != NULL && (strncmp(url, "tcp://", 6) == 0 || strncmp(url, "tcp4://", 7) == 0 ||
	    strncmp(url, "tcp6://", 7) == 0 || strncmp(url, "ipc://", 6) == 0);
}

/* ===================================================================
 * Frames and I/O
 * =================================================================== */

rpc_frame_state
rpc_frame_check(const uint8_t *buf, size_t have, size_t max, size_t *len)
{
	*len = 0;
	if (have < 4)
		return RPC_FRAME_MORE;
	uint32_t n = (uint32_t)buf[0] << 24 | (uint32_t)buf[1] << 16 | (uint32_t)buf[2] << 8 |
	    (uint32_t)buf[3];
	*len = n;
	if (n > max)
		return RPC_FRAME_TOO_LARGE;
	return have - 4 >= n ? RPC_FRAME_READY : RPC_FRAME_MORE;
}

static void
put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* The earlier of deadline_ms (0 = none) and now + stall_ms (0 = none);
 * 0 = wait forever. */
static uint64_t
wait_until(uint64_t deadline_ms, uint32_t stall_ms)
{
	uint64_t s = stall_ms ? util_mono_ms() + stall_ms : 0;
	if (deadline_ms == 0)
		return s;
	return s != 0 && s < deadline_ms ? s : deadline_ms;
}

/* Waits for events on fd until `until` (monotonic ms, 0 = forever):
 * 1 ready (or hung up / in error: the next I/O says which), 0 timed out,
 * -1 poll failed. */
static int
wait_fd(int fd, short events, uint64_t until)
{
	for (;;) {
		int to = -1;
		if (until != 0) {
			uint64_t now = util_mono_ms();
			if (now >= until)
				return 0;
			to = until - now > 60000 ? 60000 : (int)(until - now);
		}
		struct pollfd p = {.fd = fd, .events = events};
		int r = poll(&p, 1, to);
		if (r > 0)
			return 1;
		if (r < 0 && errno != EINTR)
			return -1;
	}
}

enum { IO_OK = 0, IO_CLOSED, IO_ERR, IO_TIMEOUT, IO_TOO_LARGE, IO_NOMEM };

/* Writes the n iovecs completely: IO_OK, IO_CLOSED (peer gone), IO_ERR,
 * IO_TIMEOUT (deadline passed, or stall_ms without progress).  iov is
 * consumed. */
static int
send_iov(int fd, struct iovec *iov, int n, uint64_t deadline_ms, uint32_t stall_ms)
{
	while (n > 0) {
		struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)n};
		ssize_t k = sendmsg(fd, &mh, MSG_NOSIGNAL);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				int w = wait_fd(fd, POLLOUT, wait_until(deadline_ms, stall_ms));
				if (w == 0)
					return IO_TIMEOUT;
				if (w < 0)
					return IO_ERR;
				continue;
			}
			return errno == EPIPE || errno == ECONNRESET ? IO_CLOSED : IO_ERR;
		}
		size_t done = (size_t)k;
		while (n > 0 && done >= iov->iov_len) {
			done -= iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + done;
			iov->iov_len -= done;
		}
	}
	return IO_OK;
}

/* One recv of at most cap bytes: IO_OK (*got > 0), IO_CLOSED (EOF or
 * reset), IO_ERR, IO_TIMEOUT.  idle: wait without the stall bound. */
static int
recv_some(int fd, uint8_t *dst, size_t cap, uint64_t deadline_ms, uint32_t stall_ms, bool idle,
    size_t *got)
{
	for (;;) {
		ssize_t k = recv(fd, dst, cap, 0);
		if (k > 0) {
			*got = (size_t)k;
			return IO_OK;
		}
		if (k == 0)
			return IO_CLOSED;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			int w = wait_fd(fd, POLLIN, wait_until(deadline_ms, idle ? 0 : stall_ms));
			if (w == 0)
				return IO_TIMEOUT;
			if (w < 0)
				return IO_ERR;
			continue;
		}
		return errno == ECONNRESET ? IO_CLOSED : IO_ERR;
	}
}

/* A connection's read side: bytes received and not yet consumed, and the
 * body of a frame too large for buf. */
typedef struct frame_rd {
	uint8_t buf[RBUF];
	size_t have;
	uint8_t *big;
} frame_rd;

/* Reads one frame: IO_OK with *body (*len bytes; in rd, valid until
 * frame_consume), or IO_CLOSED / IO_ERR / IO_TIMEOUT / IO_TOO_LARGE (*len
 * = the length announced) / IO_NOMEM.  *any: some byte of this frame was
 * received.  idle_ok: wait for the first byte without the stall bound. */
static int
read_frame(int fd, frame_rd *rd, size_t max, uint64_t deadline_ms, uint32_t stall_ms,
    bool idle_ok, const uint8_t **body, size_t *len, bool *any)
{
	size_t blen, got;
	int r;

	*any = rd->have > 0;
	for (;;) {
		rpc_frame_state fs = rpc_frame_check(rd->buf, rd->have, max, &blen);
		if (fs == RPC_FRAME_TOO_LARGE) {
			*len = blen;
			return IO_TOO_LARGE;
		}
		if (fs == RPC_FRAME_READY) {
			*body = rd->buf + 4;
			*len = blen;
			return IO_OK;
		}
		if (rd->have >= 4 && 4 + blen > RBUF)
			break; /* the body goes to its own buffer */
		r = recv_some(fd, rd->buf + rd->have, RBUF - rd->have, deadline_ms, stall_ms,
		    idle_ok && rd->have == 0, &got);
		if (r != IO_OK)
			return r;
		rd->have += got;
		*any = true;
	}
	/* every byte in buf belongs to this frame (have <= RBUF < 4 + blen) */
	uint8_t *big = malloc(blen);
	if (big == NULL)
		return IO_NOMEM;
	size_t in = rd->have - 4;
	memcpy(big, rd->buf + 4, in);
	while (in < blen) {
		r = recv_some(fd, big + in, blen - in, deadline_ms, stall_ms, false, &got);
		if (r != IO_OK) {
			free(big);
			return r;
		}
		in += got;
	}
	rd->have = 0;
	rd->big = big;
	*body = big;
	*len = blen;
	return IO_OK;
}

/* Drops the frame read_frame returned (blen bytes of body), keeping any
 * bytes received after it. */
static void
frame_consume(frame_rd *rd, size_t blen)
{
	if (rd->big != NULL) {
		free(rd->big);
		rd->big = NULL;
		return;
	}
	size_t used = 4 + blen;
	memmove(rd->buf, rd->buf + used, rd->have - used);
	rd->have -= used;
}

/* ===================================================================
 * Server
 * =================================================================== */

typedef struct sconn {
	struct rpc_sock_server *s;
	int fd;
	pthread_t tid;
	struct sconn *prev, *next; /* live list, or the finished list (next) */
} sconn;

struct rpc_sock_server {
	int lfd;
	int wake[2];            /* wakes the accept thread at stop */
	bool tcp;
	char ipc_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	size_t max_frame;
	rpc_sock_serve_fn serve;
	void *arg;
	pthread_t accept_tid;
	atomic_bool stopping;
	pthread_mutex_t mu;
	pthread_cond_t cv;      /* nconns went down */
	sconn *live, *finished;
	int nconns;             /* live */
	uint64_t warned_ms;     /* last "too many connections" warning */
};

void
rpc_sock_serve_fd(int fd, size_t max_frame, rpc_sock_serve_fn serve, void *arg)
{
	frame_rd *rd = malloc(sizeof *rd);
	if (rd == NULL)
		return;
	rd->have = 0;
	rd->big = NULL;
	for (;;) {
		const uint8_t *body = NULL;
		size_t len = 0;
		bool any;
		int r = read_frame(fd, rd, max_frame, 0, RPC_SOCK_STALL_MS, true, &body, &len, &any);
		if (r == IO_TOO_LARGE) {
			log_warn("rpc: closing a connection that sent a frame of %zu bytes (at most %zu "
			    "accepted: max_msg plus RPC_TRANSPORT_SLACK)", len, max_frame);
			break;
		}
		if (r == IO_TIMEOUT)
			log_warn("rpc: closing a connection stalled for %u ms inside a request",
			    RPC_SOCK_STALL_MS);
		if (r != IO_OK)
			break;
		uint8_t *out = NULL, hdr[4];
		size_t out_len = 0;
		bool ok = serve(arg, body, len, &out, &out_len);
		frame_consume(rd, len);
		if (!ok || out_len > FRAME_MAX_BODY) {
			free(out);
			break;
		}
		put_be32(hdr, (uint32_t)out_len);
		struct iovec iov[2] = {{.iov_base = hdr, .iov_len = 4},
		    {.iov_base = out, .iov_len = out_len}};
		r = send_iov(fd, iov, out_len ? 2 : 1, 0, RPC_SOCK_STALL_MS);
		free(out);
		if (r != IO_OK)
			break;
	}
	free(rd->big);
	free(rd);
}

static void *
conn_main(void *arg)
{
	sconn *k = arg;
	struct rpc_sock_server *s = k->s;

	rpc_sock_serve_fd(k->fd, s->max_frame, s->serve, s->arg);
	pthread_mutex_lock(&s->mu);
	if (k->prev)
		k->prev->next = k->next;
	else
		s->live = k->next;
	if (k->next)
		k->next->prev = k->prev;
	close(k->fd); /* under mu: stop shuts down only live fds */
	k->fd = -1;
	k->next = s->finished;
	s->finished = k;
	s->nconns--;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/* Joins and frees the connection threads that have finished. */
static void
reap(struct rpc_sock_server *s)
{
	pthread_mutex_lock(&s->mu);
	sconn *f = s->finished;
	s->finished = NULL;
	pthread_mutex_unlock(&s->mu);
	while (f != NULL) {
		sconn *next = f->next;
		pthread_join(f->tid, NULL);
		free(f);
		f = next;
	}
}

static void
set_nodelay(int fd)
{
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static void *
accept_main(void *arg)
{
	struct rpc_sock_server *s = arg;

	while (!atomic_load(&s->stopping)) {
		struct pollfd p[2] = {{.fd = s->lfd, .events = POLLIN},
		    {.fd = s->wake[0], .events = POLLIN}};
		int r = poll(p, 2, 1000); /* the timeout only paces reaping */
		reap(s);
		if (atomic_load(&s->stopping))
			break;
		if (r <= 0 || !(p[0].revents & POLLIN))
			continue;
		int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOMEM || errno == ENOBUFS) {
				log_warn("rpc: cannot accept a connection: %s", strerror(errno));
				util_sleep_ms(50);
			}
			continue;
		}
		pthread_mutex_lock(&s->mu);
		bool full = s->nconns >= RPC_SOCK_MAX_CONNS;
		uint64_t now = util_mono_ms();
		bool warn = full && now - s->warned_ms > 10000;
		if (warn)
			s->warned_ms = now;
		pthread_mutex_unlock(&s->mu);
		if (full) {
			if (warn)
				log_warn("rpc: refusing connections beyond %d at once", RPC_SOCK_MAX_CONNS);
			close(fd);
			continue;
		}
		if (s->tcp)
			set_nodelay(fd);
		sconn *k = calloc(1, sizeof *k);
		if (k == NULL) {
			close(fd);
			continue;
		}
		k->s = s;
		k->fd = fd;
		pthread_mutex_lock(&s->mu);
		k->next = s->live;
		if (s->live)
			s->live->prev = k;
		s->live = k;
		s->nconns++;
		if (pthread_create(&k->tid, NULL, conn_main, k) != 0) {
			s->live = k->next;
			if (s->live)
				s->live->prev = NULL;
			s->nconns--;
			pthread_mutex_unlock(&s->mu);
			log_warn("rpc: cannot start a connection thread");
			close(fd);
			free(k);
			util_sleep_ms(50);
			continue;
		}
		pthread_mutex_unlock(&s->mu);
	}
	return NULL;
}

/* Binds a listening socket for a (ipc: a stale socket file left by a dead
 * server is replaced, a live one is EADDRINUSE).  -1 with errno. */
static int
listen_on(sock_spec *a, int *port)
{
	int fd = -1, one = 1;
	*port = -1;
	if (a->ipc) {
		struct sockaddr_un su = {.sun_family = AF_UNIX};
		memcpy(su.sun_path, a->path, strlen(a->path) + 1);
		for (int attempt = 0; attempt < 2; attempt++) {
			if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
				return -1;
			if (bind(fd, (struct sockaddr *)&su, sizeof su) == 0)
				break;
			int e = errno;
			close(fd);
			fd = -1;
			if (e != EADDRINUSE || attempt > 0) {
				errno = e;
				return -1;
			}
			/* in use: by a live server, or a file left by a dead one? */
			int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
			bool live = probe >= 0 && connect(probe, (struct sockaddr *)&su, sizeof su) == 0;
			if (probe >= 0)
				close(probe);
			if (live) {
				errno = EADDRINUSE;
				return -1;
			}
			unlink(a->path);
		}
	} else {
		struct addrinfo hints = {.ai_family = a->family, .ai_socktype = SOCK_STREAM,
		    .ai_flags = AI_PASSIVE | AI_NUMERICSERV}, *res = NULL;
		int g = getaddrinfo(a->host[0] ? a->host : NULL, a->port, &hints, &res);
		if (g != 0) {
			errno = EADDRNOTAVAIL;
			return -1;
		}
		int e = EADDRNOTAVAIL;
		for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
			fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
			if (fd < 0) {
				e = errno;
				continue;
			}
			setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
			if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0)
				break;
			e = errno;
			close(fd);
			fd = -1;
		}
		freeaddrinfo(res);
		if (fd < 0) {
			errno = e;
			return -1;
		}
		struct sockaddr_storage ss;
		socklen_t sl = sizeof ss;
		if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
			*port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
			                                       : ((struct sockaddr_in *)&ss)->sin_port);
	}
	if (listen(fd, 128) != 0 || fcntl(fd, F_SETFL, O_NONBLOCK) != 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

shoal_code
rpc_sock_listen(const char *url, size_t max_frame, rpc_sock_serve_fn serve, void *arg,
    rpc_sock_server **out, int *port, shoal_status *st)
{
	sock_spec a;
	*out = NULL;
	*port = -1;
	if (!parse_url(url, &a))
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "invalid listen URL '%s' (expected tcp://HOST:PORT or ipc:///path)", url);
	struct rpc_sock_server *s = calloc(1, sizeof *s);
	if (s == NULL)
		return shoal_status_set(st, SHOAL_RESOURCE_EXHAUSTED, "out of memory");
	s->max_frame = max_frame > FRAME_MAX_BODY ? FRAME_MAX_BODY : max_frame;
	s->serve = serve;
	s->arg = arg;
	s->tcp = !a.ipc;
	s->wake[0] = s->wake[1] = -1;
	if ((s->lfd = listen_on(&a, port)) < 0) {
		int e = errno;
		free(s);
		if (e == EADDRINUSE)
			return shoal_status_set(st, SHOAL_UNAVAILABLE,
			    "cannot listen on %s: address already in use", url);
		return shoal_status_set(st, SHOAL_UNAVAILABLE, "cannot listen on %s: %s", url,
		    strerror(e));
	}
	if (a.ipc)
		memcpy(s->ipc_path, a.path, sizeof s->ipc_path);
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	atomic_init(&s->stopping, false);
	if (pipe2(s->wake, O_CLOEXEC) != 0 ||
	    pthread_create(&s->accept_tid, NULL, accept_main, s) != 0) {
		if (s->wake[0] >= 0) {
			close(s->wake[0]);
			close(s->wake[1]);
		}
		close(s->lfd);
		if (a.ipc)
			unlink(a.path);
		pthread_cond_destroy(&s->cv);
		pthread_mutex_destroy(&s->mu);
		free(s);
		return shoal_status_set(st, SHOAL_RESOURCE_EXHAUSTED, "cannot start serving %s", url);
	}
	*out = s;
	return SHOAL_OK;
}

void
rpc_sock_server_stop(rpc_sock_server *s)
{
	if (s == NULL)
		return;
	atomic_store(&s->stopping, true);
	ssize_t w = write(s->wake[1], "x", 1);
	(void)w;
	pthread_join(s->accept_tid, NULL);
	close(s->lfd);
	if (s->ipc_path[0])
		unlink(s->ipc_path);
	/* idle readers see EOF at once; a running handler finishes and its
	 * reply's write fails */
	pthread_mutex_lock(&s->mu);
	for (sconn *k = s->live; k != NULL; k = k->next)
		shutdown(k->fd, SHUT_RDWR);
	while (s->nconns > 0)
		pthread_cond_wait(&s->cv, &s->mu);
	pthread_mutex_unlock(&s->mu);
	reap(s);
	close(s->wake[0]);
	close(s->wake[1]);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

/* ===================================================================
 * Client
 * =================================================================== */

struct rpc_sock_conn {
	int fd;
	bool carried;             /* a reply came back on it */
	struct rpc_sock_conn *next; /* idle list */
	frame_rd rd;
};

struct rpc_sock_client {
	char *url;
	sock_spec a;
	size_t max_frame;
	bool fail_fast;
	uint32_t connect_timeout_ms;
	pthread_mutex_t mu;
	pthread_cond_t cv;        /* a connection was released */
	rpc_sock_conn *idle;
	int open;                 /* idle + in use + being dialled */
	bool lost;                /* a connection was lost, no reply read since */
};

shoal_code
rpc_sock_client_open(const char *url, size_t max_frame, bool fail_fast,
    uint32_t connect_timeout_ms, rpc_sock_client **out, shoal_status *st)
{
	*out = NULL;
	rpc_sock_client *c = calloc(1, sizeof *c);
	if (c == NULL)
		return shoal_status_set(st, SHOAL_RESOURCE_EXHAUSTED, "out of memory");
	if (!parse_url(url, &c->a)) {
		free(c);
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "invalid URL '%s' (expected tcp://HOST:PORT or ipc:///path)", url);
	}
	if ((c->url = strdup(url)) == NULL) {
		free(c);
		return shoal_status_set(st, SHOAL_RESOURCE_EXHAUSTED, "out of memory");
	}
	c->max_frame = max_frame > FRAME_MAX_BODY ? FRAME_MAX_BODY : max_frame;
	c->fail_fast = fail_fast;
	c->connect_timeout_ms = connect_timeout_ms;
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cv, NULL);
	*out = c;
	return SHOAL_OK;
}

static void
conn_free(rpc_sock_conn *k)
{
	close(k->fd);
	free(k->rd.big);
	free(k);
}

void
rpc_sock_client_close(rpc_sock_client *c)
{
	if (c == NULL)
		return;
	while (c->idle != NULL) {
		rpc_sock_conn *k = c->idle;
		c->idle = k->next;
		conn_free(k);
	}
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->mu);
	free(c->url);
	free(c);
}

/* One connection attempt before `until`: the fd, or -1 with *err (an
 * errno) or *gai (a getaddrinfo error, then *err is 0). */
static int
dial_once(rpc_sock_client *c, uint64_t until, int *err, int *gai)
{
	struct addrinfo *res = NULL, *ai, one_ai;
	struct sockaddr_un su = {.sun_family = AF_UNIX};
	if (c->a.ipc) {
		memcpy(su.sun_path, c->a.path, strlen(c->a.path) + 1);
		memset(&one_ai, 0, sizeof one_ai);
		one_ai.ai_family = AF_UNIX;
		one_ai.ai_socktype = SOCK_STREAM;
		one_ai.ai_addr = (struct sockaddr *)&su;
		one_ai.ai_addrlen = sizeof su;
		ai = &one_ai;
	} else {
		struct addrinfo hints = {.ai_family = c->a.family, .ai_socktype = SOCK_STREAM,
		    .ai_flags = AI_NUMERICSERV};
		int g = getaddrinfo(c->a.host[0] ? c->a.host : NULL, c->a.port, &hints, &res);
		if (g != 0) {
			*err = g == EAI_SYSTEM ? errno : 0;
			*gai = g == EAI_SYSTEM ? 0 : g;
			return -1;
		}
		ai = res;
	}
	int fd = -1;
	*err = ECONNREFUSED;
	for (; ai != NULL; ai = c->a.ipc ? NULL : ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    ai->ai_protocol);
		if (fd < 0) {
			*err = errno;
			continue;
		}
		int r = connect(fd, ai->ai_addr, ai->ai_addrlen);
		if (r != 0 && (errno == EINPROGRESS || errno == EAGAIN)) {
			int w = wait_fd(fd, POLLOUT, until);
			int so = 0;
			socklen_t sl = sizeof so;
			if (w == 0) {
				so = ETIMEDOUT;
			} else if (w < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &so, &sl) != 0) {
				so = errno;
			}
			r = so == 0 ? 0 : -1;
			errno = so;
		}
		if (r == 0)
			break;
		*err = errno;
		close(fd);
		fd = -1;
		if (*err == ETIMEDOUT)
			break;
	}
	if (res != NULL)
		freeaddrinfo(res);
	if (fd >= 0 && !c->a.ipc)
		set_nodelay(fd);
	return fd;
}

/* Dials, retrying refused attempts with a backoff (10 ms doubling to
 * 500 ms, as a restarting server comes back) until `until`. */
static int
dial(rpc_sock_client *c, uint64_t until, int *err, int *gai)
{
	uint32_t backoff = 10;
	for (;;) {
		*gai = 0;
		int fd = dial_once(c, until, err, gai);
		if (fd >= 0)
			return fd;
		uint64_t now = util_mono_ms();
		if (now >= until || *err == ETIMEDOUT)
			return -1;
		util_sleep_ms((uint32_t)(until - now < backoff ? until - now : backoff));
		backoff = backoff * 2 > 500 ? 500 : backoff * 2;
		/* no attempt with no time left: it would "time out" at once and
		 * hide the refusal that is the real reason */
		if (util_mono_ms() >= until)
			return -1;
	}
}

/* An idle connection must have nothing to read: readable means the
 * server closed it (restarted, or dropped it) or broke the protocol. */
static bool
idle_dead(rpc_sock_conn *k)
{
	struct pollfd p = {.fd = k->fd, .events = POLLIN};
	return poll(&p, 1, 0) != 0;
}

/* Closes every idle connection (after one was found dead: they are to the
 * same server).  mu held. */
static void
flush_idle(rpc_sock_client *c)
{
	while (c->idle != NULL) {
		rpc_sock_conn *k = c->idle;
		c->idle = k->next;
		c->open--;
		conn_free(k);
	}
	pthread_cond_broadcast(&c->cv);
}

/* Gives k back: to the pool when keep (a complete reply, nothing after
 * it), closed otherwise. */
static void
release(rpc_sock_client *c, rpc_sock_conn *k, bool keep)
{
	pthread_mutex_lock(&c->mu);
	/* a complete reply proves the server up again.  A successful dial
	 * does not: a dying server's kernel still completes handshakes, and
	 * the connection is reset right after (it_coord_kill9 saw a call then
	 * wait out its whole deadline dialling a dead port) */
	if (keep)
		c->lost = false;
	if (keep && k->rd.have == 0 && k->rd.big == NULL) {
		k->next = c->idle;
		c->idle = k;
	} else {
		c->open--;
		conn_free(k);
	}
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

/* A connection for call k: an idle one (unless fresh), else a new one
 * (dial budget per rpc_client_opts), else k->st says why and NULL. */
static rpc_sock_conn *
acquire(rpc_sock_client *c, rpc_sock_call *k, bool fresh)
{
	pthread_mutex_lock(&c->mu);
	if (fresh)
		flush_idle(c);
	for (;;) {
		while (c->idle != NULL) {
			rpc_sock_conn *x = c->idle;
			c->idle = x->next;
			if (idle_dead(x)) {
				c->open--;
				c->lost = true;
				conn_free(x);
				flush_idle(c);
				continue;
			}
			pthread_mutex_unlock(&c->mu);
			k->reused = true;
			return x;
		}
		if (c->open < RPC_SOCK_POOL_MAX)
			break;
		uint64_t now = util_mono_ms();
		if (now >= k->deadline_ms) {
			pthread_mutex_unlock(&c->mu);
			shoal_status_set(&k->st, SHOAL_RESOURCE_EXHAUSTED,
			    "%s: all %d connections to %s are in use", k->method, RPC_SOCK_POOL_MAX,
			    c->url);
			return NULL;
		}
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		uint64_t ms = k->deadline_ms - now;
		ts.tv_sec += (time_t)(ms / 1000);
		ts.tv_nsec += (long)(ms % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&c->cv, &c->mu, &ts);
	}
	c->open++;
	bool lost = c->lost;
	pthread_mutex_unlock(&c->mu);

	/* fail_on_disconnect: wait at most connect_timeout_ms for a
	 * connection, RPC_RECONNECT_GRACE_MS once the one we had was lost */
	uint64_t now = util_mono_ms(), until = k->deadline_ms;
	if (c->fail_fast && c->connect_timeout_ms != 0 && now + c->connect_timeout_ms < until)
		until = now + c->connect_timeout_ms;
	if (c->fail_fast && lost && now + RPC_RECONNECT_GRACE_MS < until)
		until = now + RPC_RECONNECT_GRACE_MS;
	int err = 0, gai = 0;
	int fd = dial(c, until, &err, &gai);
	rpc_sock_conn *x = fd >= 0 ? calloc(1, sizeof *x) : NULL;
	if (x == NULL) {
		pthread_mutex_lock(&c->mu);
		c->open--;
		pthread_cond_signal(&c->cv);
		pthread_mutex_unlock(&c->mu);
	}
	if (x == NULL) {
		if (fd >= 0) {
			close(fd);
			shoal_status_set(&k->st, SHOAL_RESOURCE_EXHAUSTED, "out of memory");
		} else {
			shoal_status_set(&k->st, SHOAL_UNAVAILABLE,
			    "%s is unavailable: no connection within %u ms (%s)", c->url,
			    (unsigned)(util_mono_ms() - k->t0_ms),
			    gai != 0 ? gai_strerror(gai) : strerror(err));
		}
		return NULL;
	}
	x->fd = fd;
	k->reused = false;
	return x;
}

/* Writes k's frame on k->conn: IO_OK or the failure. */
static int
send_frame(rpc_sock_call *k)
{
	struct iovec iov = {.iov_base = k->frame, .iov_len = k->frame_len};
	return send_iov(k->conn->fd, &iov, 1, k->deadline_ms, 0);
}

static void
mark_lost(rpc_sock_client *c)
{
	pthread_mutex_lock(&c->mu);
	c->lost = true;
	flush_idle(c);
	pthread_mutex_unlock(&c->mu);
}

/* Retries k once on a new connection (its pooled one was found dead
 * before any byte of the reply: docs/decisions.md 106).  true when the
 * request went out again. */
static bool
retry_fresh(rpc_sock_client *c, rpc_sock_call *k)
{
	k->retried = true;
	release(c, k->conn, false);
	mark_lost(c);
	shoal_status saved = k->st;
	k->conn = acquire(c, k, true);
	if (k->conn == NULL) {
		k->st = saved;
		return false;
	}
	if (send_frame(k) == IO_OK)
		return true;
	release(c, k->conn, false);
	k->conn = NULL;
	return false;
}

void
rpc_sock_call_start(rpc_sock_client *c, rpc_sock_call *k)
{
	shoal_status_clear(&k->st);
	k->t0_ms = util_mono_ms();
	k->retried = false;
	if ((k->conn = acquire(c, k, false)) == NULL)
		return;
	int r = send_frame(k);
	if (r == IO_OK)
		return;
	if (r == IO_TIMEOUT) {
		shoal_status_set(&k->st, SHOAL_DEADLINE_EXCEEDED,
		    "%s: no reply from %s within %u ms (the request could not be sent)", k->method,
		    c->url, k->timeout_ms);
	} else {
		shoal_status_set(&k->st, SHOAL_UNAVAILABLE,
		    "%s is unavailable: connection lost before the request was sent", c->url);
		if (k->reused && retry_fresh(c, k))
			return;
		if (k->conn == NULL)
			return;
	}
	release(c, k->conn, false);
	k->conn = NULL;
}

shoal_code
rpc_sock_call_finish(rpc_sock_client *c, rpc_sock_call *k, uint8_t **reply, size_t *reply_len,
    shoal_status *st)
{
	*reply = NULL;
	*reply_len = 0;
	if (k->conn == NULL) {
		*st = k->st;
		free(k->frame);
		k->frame = NULL;
		return st->code;
	}
	for (;;) {
		rpc_sock_conn *x = k->conn;
		const uint8_t *body;
		size_t len = 0;
		bool any = false;
		int r = read_frame(x->fd, &x->rd, c->max_frame, k->deadline_ms, 0, false, &body, &len,
		    &any);
		if (r == IO_OK) {
			if (x->rd.big != NULL) { /* take the body's buffer */
				*reply = x->rd.big;
				x->rd.big = NULL;
			} else if ((*reply = malloc(len ? len : 1)) != NULL) {
				memcpy(*reply, body, len);
				frame_consume(&x->rd, len);
			}
			if (*reply == NULL) {
				shoal_status_set(st, SHOAL_RESOURCE_EXHAUSTED, "out of memory");
				release(c, x, false);
				break;
			}
			*reply_len = len;
			x->carried = true;
			release(c, x, true);
			shoal_status_clear(st);
			break;
		}
		if (r == IO_CLOSED && !any && k->reused && !k->retried) {
			shoal_status_set(&k->st, SHOAL_UNAVAILABLE,
			    "%s is unavailable: connection lost while waiting for the %s reply", c->url,
			    k->method);
			if (retry_fresh(c, k))
				continue;
			*st = k->st;
			if (k->conn != NULL)
				release(c, k->conn, false);
			break;
		}
		if (r == IO_TIMEOUT)
			shoal_status_set(st, SHOAL_DEADLINE_EXCEEDED, "%s: no reply from %s within %u ms",
			    k->method, c->url, k->timeout_ms);
		else if (r == IO_TOO_LARGE)
			shoal_status_set(st, SHOAL_RESOURCE_EXHAUSTED,
			    "%s: the reply from %s has %zu bytes, beyond the maximum message size of %zu "
			    "bytes", k->method, c->url, len, c->max_frame);
		else if (r == IO_NOMEM)
			shoal_status_set(st, SHOAL_RESOURCE_EXHAUSTED, "out of memory");
		else if (!x->carried && !any)
			shoal_status_set(st, SHOAL_UNAVAILABLE,
			    "%s is unavailable: connection lost while waiting for the %s reply (closed "
			    "without a reply on a new connection: if it serves tls+tcp://, dial it with a "
			    "tls+tcp:// URL and tls-ca)", c->url, k->method);
		else
			shoal_status_set(st, SHOAL_UNAVAILABLE,
			    "%s is unavailable: connection lost while waiting for the %s reply", c->url,
			    k->method);
		release(c, x, false);
		if (r == IO_CLOSED || r == IO_ERR)
			mark_lost(c);
		break;
	}
	k->conn = NULL;
	free(k->frame);
	k->frame = NULL;
	return st->code;
}
