/* rpc_sock.h -- internal to common/: rpc.c's own transport for tcp:// and
 * ipc:// URLs (docs/decisions.md 103-109).
 *
 * A connection carries length-prefixed frames: a 4-byte big-endian length,
 * then that many bytes (rpc.c puts one packed Request/ReplyEnvelope in
 * each).  Strictly one request, then its reply, per connection at a time.
 *
 * Server: an accept thread, and one thread per connection that reads a
 * frame, calls `serve` on it (which dispatches it: the handler runs on
 * that thread) and writes the reply before reading the next frame.  A
 * frame announcing more than max_frame bytes, a frame stalled for
 * RPC_SOCK_STALL_MS without a byte, or a reply the peer does not take
 * within that time closes the connection.
 *
 * Client: a pool of connections (at most RPC_SOCK_POOL_MAX open); the
 * calling thread takes an idle one (or dials), writes the request and, in
 * rpc_sock_call_finish, reads the reply itself; the deadline is enforced
 * with poll().  A connection goes back to the pool only after a complete,
 * well-formed reply: a timed-out call's connection is closed, so a late
 * reply is never read as the answer to the next call.
 */
#ifndef SHOAL_RPC_SOCK_H
#define SHOAL_RPC_SOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h"

#define RPC_SOCK_STALL_MS 30000u /* no progress within a frame: close */
#define RPC_SOCK_POOL_MAX 64     /* connections per client */
#define RPC_SOCK_MAX_CONNS 1024  /* connections per server */

/* True for the URLs this transport serves: tcp://, tcp4://, tcp6://,
 * ipc://. */
bool rpc_sock_url(const char *url);

/* The frame reader's one decision, given the `have` bytes buffered at buf:
 * RPC_FRAME_MORE (fewer than a whole frame), RPC_FRAME_READY (*len is the
 * body's length; the frame is 4 + *len bytes), RPC_FRAME_TOO_LARGE (the
 * length prefix exceeds max; *len is what it announced). */
typedef enum { RPC_FRAME_MORE, RPC_FRAME_READY, RPC_FRAME_TOO_LARGE } rpc_frame_state;
rpc_frame_state rpc_frame_check(const uint8_t *buf, size_t have, size_t max, size_t *len);

/* ---- server */

/* Handles one request frame body (len bytes at req, valid during the
 * call): on true *reply (malloc'ed, the transport frees it) holds the
 * reply body; false = no reply (stopping, out of memory): the connection
 * is closed. */
typedef bool (*rpc_sock_serve_fn)(void *arg, const uint8_t *req, size_t len, uint8_t **reply,
    size_t *reply_len);

typedef struct rpc_sock_server rpc_sock_server;

/* Listens on url and starts the accept thread.  *port is the bound TCP
 * port (-1 for ipc://).  INVALID_ARGUMENT for a malformed URL, UNAVAILABLE
 * when it cannot be bound (saying why). */
shoal_code rpc_sock_listen(const char *url, size_t max_frame, rpc_sock_serve_fn serve,
    void *arg, rpc_sock_server **out, int *port, shoal_status *st);

/* Stops accepting, shuts every connection down, waits for running
 * handlers, joins every thread and frees the server.  NULL ok. */
void rpc_sock_server_stop(rpc_sock_server *s);

/* Serves frames on fd until the peer closes it or breaks the protocol
 * (what each connection thread runs; exposed for the fuzzer).  Does not
 * close fd. */
void rpc_sock_serve_fd(int fd, size_t max_frame, rpc_sock_serve_fn serve, void *arg);

/* ---- client */

typedef struct rpc_sock_client rpc_sock_client;
typedef struct rpc_sock_conn rpc_sock_conn;

/* Opens a client for url (no connection yet: dialled by the first call).
 * fail_fast / connect_timeout_ms: rpc_client_opts's fail_on_disconnect and
 * connect_timeout_ms.  INVALID_ARGUMENT for a malformed URL. */
shoal_code rpc_sock_client_open(const char *url, size_t max_frame, bool fail_fast,
    uint32_t connect_timeout_ms, rpc_sock_client **out, shoal_status *st);

/* Closes the pooled connections and frees the client (no call may be in
 * progress).  NULL ok. */
void rpc_sock_client_close(rpc_sock_client *c);

/* One call in progress: rpc_sock_call_start sends the frame (frame_len
 * bytes at frame, header included: the call owns it until finish), and
 * rpc_sock_call_finish reads the reply.  Fields are the transport's. */
typedef struct rpc_sock_call {
	rpc_sock_conn *conn;   /* held from start to finish */
	uint8_t *frame;
	size_t frame_len;
	uint64_t t0_ms, deadline_ms;
	const char *method;    /* for messages */
	uint32_t timeout_ms;
	bool reused;           /* conn came from the pool */
	bool retried;
	shoal_status st;       /* a failure found by start */
} rpc_sock_call;

/* Takes a connection and writes the request; a failure is kept in k->st
 * for finish.  k->frame, frame_len, method, timeout_ms and deadline_ms must
 * be set. */
void rpc_sock_call_start(rpc_sock_client *c, rpc_sock_call *k);

/* Reads the reply: on OK *reply (malloc'ed, caller frees) holds its
 * *reply_len bytes; otherwise st says why (UNAVAILABLE, DEADLINE_EXCEEDED,
 * RESOURCE_EXHAUSTED, INTERNAL).  Frees k->frame; the connection goes back
 * to the pool or is closed. */
shoal_code rpc_sock_call_finish(rpc_sock_client *c, rpc_sock_call *k, uint8_t **reply,
    size_t *reply_len, shoal_status *st);

#endif
