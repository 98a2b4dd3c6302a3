/* fuzz_frames.c -- libFuzzer entry point for the frame reader every
 * tcp:// and ipc:// server connection runs on what a peer sends
 * (common/rpc_sock.c, rpc_sock_serve_fd; docs/decisions.md 103).
 *
 * The input is written to one end of a socketpair as a peer would send it
 * (in chunks whose sizes the first bytes choose, so frames arrive split
 * anywhere), that end is shut for writing, and the connection loop reads
 * frames from the other end until the peer's end, a length beyond the
 * limit (256 bytes here: 0, short, exact, over and 0xffffffff prefixes
 * are all reachable) or a broken frame.  Each complete frame goes to
 * rpc_dispatch with the Worker service (handlers answer an empty output),
 * and its reply is written back; the replies read from the peer's end
 * must be well-formed frames holding a decodable ReplyEnvelope.  Nothing
 * may crash, hang, read or write out of bounds, or leak.
 *
 *   (tests/fuzz/run.sh builds and runs it for a bounded time in ctest.)
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rpc.h"
#include "rpc_sock.h"
#include "fuzz_svc.h"
#include "shoal.pb-c.h"

#define MAX_FRAME 256

static ProtobufCService worker_svc = {&shoal__worker__descriptor, answer_empty, NULL};

static bool
serve(void *arg, const uint8_t *req, size_t len, uint8_t **out, size_t *out_len)
{
	rpc_server_opts opts = {.max_msg = MAX_FRAME};
	(void)arg;
	return rpc_dispatch(&worker_svc, &opts, req, len, out, out_len) == SHOAL_OK;
}

typedef struct feed {
	int fd;
	const uint8_t *data;
	size_t size;
} feed;

/* The peer: writes the input in chunks, then shuts its write side. */
static void *
peer(void *arg)
{
	feed *f = arg;
	size_t off = 1, chunk = f->data[0] % 16 + 1;
	while (off < f->size) {
		size_t n = f->size - off < chunk ? f->size - off : chunk;
		if (write(f->fd, f->data + off, n) != (ssize_t)n)
			break;
		off += n;
	}
	shutdown(f->fd, SHUT_WR);
	return NULL;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int sv[2];
	if (size < 1 || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
		return 0;
	int big = 1 << 20; /* room for every reply: the peer reads them after */
	setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
	setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
	feed f = {.fd = sv[0], .data = data, .size = size};
	pthread_t t;
	if (pthread_create(&t, NULL, peer, &f) != 0)
		abort();
	rpc_sock_serve_fd(sv[1], MAX_FRAME + 16, serve, NULL);
	pthread_join(t, NULL);
	close(sv[1]);

	/* every reply is a whole frame with a ReplyEnvelope inside */
	uint8_t *buf = malloc(1 << 20);
	size_t have = 0;
	ssize_t k;
	while (have < (1u << 20) && (k = read(sv[0], buf + have, (1u << 20) - have)) > 0)
		have += (size_t)k;
	size_t off = 0, len;
	while (off < have) {
		if (rpc_frame_check(buf + off, have - off, 1u << 20, &len) != RPC_FRAME_READY)
			abort();
		Shoal__ReplyEnvelope *r = shoal__reply_envelope__unpack(NULL, len, buf + off + 4);
		if (r == NULL)
			abort();
		shoal__reply_envelope__free_unpacked(r, NULL);
		off += 4 + len;
	}
	free(buf);
	close(sv[0]);
	return 0;
}
