/* rpc.h -- protobuf-c services over sockets of our own (tcp://, ipc://)
 * or nng req/rep (tls+tcp://, inproc://).
 *
 * One RPC layer for every process boundary in shoal.  A request is a
 * packed shoal.RequestEnvelope (method name, timeout, auth token, packed
 * input); the reply a packed shoal.ReplyEnvelope (status code, message,
 * packed output).  The method table comes from the protoc-c service
 * descriptors, so adding an rpc to proto/shoal.proto and a handler is all
 * a new method needs.
 *
 * TRANSPORTS.  tcp:// and ipc:// run on common/rpc_sock.c: each envelope
 * is one frame (4-byte big-endian length, then the envelope) on a plain
 * stream socket, one request then its reply at a time per connection; the
 * calling thread writes and reads itself (~2 context switches and ~20 us
 * of CPU per loopback round trip where nng req/rep took ~30 and ~120 us:
 * docs/decisions.md 103).  tls+tcp:// and inproc:// run on nng req0/rep0
 * (one nng message per envelope), as everything did before.  The API and
 * the semantics below are the same on both, except where marked.
 *
 * SERVER.  rpc_server_start() listens on a URL.  tcp:// / ipc://: an
 * accept thread and one thread per connection, which reads a request,
 * runs its handler and writes the reply itself (no hand-off); at most
 * `threads` handlers run at once, requests beyond wait for a slot.
 * tls+tcp:// / inproc://: `threads` threads, each owning one nng context
 * of a rep0 socket, loop recv -> decode -> dispatch -> reply.  Either way
 * up to `threads` requests are handled concurrently and a slow handler
 * only occupies its own thread.
 * Handlers are the generated service's function pointers; each gets, as
 * its closure_data, an rpc_call * and must call its closure exactly once:
 *
 *     static void
 *     h_search(Shoal__Worker_Service *svc, const Shoal__ShardSearchRequest *in,
 *         Shoal__SearchReply_Closure done, void *cd)
 *     {
 *         if (in->k == 0) {
 *             rpc_call_fail(cd, SHOAL_INVALID_ARGUMENT, "k must be > 0");
 *             done(NULL, cd);
 *             return;
 *         }
 *         Shoal__SearchReply out = SHOAL__SEARCH_REPLY__INIT;
 *         ...
 *         done(&out, cd);   // packs `out` now; free its fields after
 *     }
 *
 * The closure packs the output immediately, so the handler owns (and
 * frees) everything it built, after the closure returns.  The input is
 * owned by the rpc layer and freed after the handler returns.
 * A malformed envelope or payload, an unknown method and an oversized
 * message all get an error reply (INVALID_ARGUMENT, UNIMPLEMENTED,
 * RESOURCE_EXHAUSTED); nothing a peer sends can crash the server.
 * Messages beyond the transport limit (max_msg + RPC_TRANSPORT_SLACK) are
 * not read: the server closes that connection (nng drops them itself).  A
 * tcp:// / ipc:// connection is also closed when a frame stalls (no byte
 * for RPC_SOCK_STALL_MS, 30 s, once it has begun) or a reply is not taken
 * for as long; an idle connection is kept.
 *
 * CLIENT.  rpc_client_open() prepares a client for a URL (tcp:// / ipc://:
 * connections are dialled by calls, at most 64, pooled between calls;
 * tls+tcp:// / inproc://: nng dials and reconnects in the background)
 * and gives a ProtobufCService usable with the generated stubs
 * (shoal__coordinator__search(...)).  The stub's closure_data MUST point to
 * an rpc_result; use the RPC_INVOKE macro:
 *
 *     rpc_result res;
 *     RPC_INVOKE(shoal__coordinator__search, svc, &req, &res);
 *     if (res.status.code != SHOAL_OK) ... res.status.msg ...
 *     Shoal__SearchReply *out = (Shoal__SearchReply *)res.reply;  // owned: free with
 *     rpc_result_free(&res);                                      // this when done
 *
 * Calls are synchronous and thread-safe: each call holds its own pooled
 * connection (tcp:// / ipc://) or nng context (others) from its request to
 * its reply, so many threads may call one client at once.  A connection
 * returns to the pool only after a complete reply: a call that timed out
 * closes its connection, so a late reply never answers the next call.
 * A call whose pooled connection turns out dead before any byte of its
 * reply (the server restarted) is resent once on a new connection (writes
 * are idempotent: DESIGN.md, docs/decisions.md 106); a connection lost
 * otherwise fails the call at once with UNAVAILABLE "URL is unavailable:
 * connection lost while waiting for the M reply".
 *
 * TLS.  A `tls+tcp://HOST:PORT` URL (server or client) runs the
 * envelopes inside TLS 1.2+ (nng's TLS transport over mbedTLS), configured
 * by an rpc_tls_options given as opts->tls: a server needs its certificate
 * and key, and with require_client_cert also the CA that signs client
 * certificates; a client needs the CA that signed the server's certificate
 * and always verifies it (chain and name), and may present a certificate
 * of its own.  Files are checked when the server starts / the client opens
 * (INVALID_ARGUMENT naming the file); a handshake that fails later (wrong
 * CA, wrong name, no client certificate, a plain tcp:// peer) surfaces on
 * the call that found no connection as UNAVAILABLE saying so ("URL is
 * unavailable: the TLS handshake failed ...", read from the dialer's
 * statistics, since nng retries dials silently); a tcp:// client that
 * reached a TLS server sees its new connection closed without a reply
 * and is told "if it serves tls+tcp://, dial it with a tls+tcp:// URL
 * and tls-ca".  opts->tls is ignored
 * for other URLs, and a plain tcp:// server bound beyond loopback logs a
 * warning at start (traffic and the cluster secret travel in clear).
 */
#ifndef SHOAL_RPC_H
#define SHOAL_RPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "status.h"

#define RPC_DEFAULT_MAX_MSG (64u << 20)  /* 64 MiB */
#define RPC_TRANSPORT_SLACK (1u << 20)   /* see header comment */
#define RPC_DEFAULT_TIMEOUT_MS 30000u
#define RPC_RECONNECT_GRACE_MS 250u  /* fail_on_disconnect, see rpc_client_opts */
#define RPC_SPARE_CONTEXTS 4  /* rpc_server_opts.max_concurrent */

/* ===================================================================
 * TLS (see the header comment)
 * =================================================================== */

typedef struct rpc_tls_options {
	const char *cert_file;    /* PEM certificate (then any intermediates) */
	const char *key_file;     /* its unencrypted PEM private key */
	const char *ca_file;      /* PEM CA certificate(s) that verify the peer */
	const char *server_name;  /* client: name the server's certificate must
	                           * carry; NULL = the URL's host */
	bool require_client_cert; /* server: refuse clients without a
	                           * certificate signed by ca_file */
} rpc_tls_options;

/* Checks tls for a server (server = true: cert and key required) or a
 * client (CA required; cert and key optional, together): every file given
 * is readable, parses, is in its validity period, and the key belongs to
 * the certificate.  INVALID_ARGUMENT naming the option and the file
 * otherwise.  Strings are not kept.  rpc_server_start / rpc_client_open
 * run this for tls+tcp:// URLs; daemons call it at start to fail early. */
shoal_code rpc_tls_check(const rpc_tls_options *tls, bool server, shoal_status *st);

/* For a daemon's start, before it listens or dials: its TLS settings
 * against its listen URL.  A tls+tcp:// listen URL needs the server's
 * files (rpc_tls_check(tls, true)); require_client_cert needs a tls+tcp://
 * listen URL; a CA file given is checked as a client's (the daemon dials
 * tls+tcp:// peers with it).  INVALID_ARGUMENT saying what is wrong. */
shoal_code rpc_tls_check_daemon(const char *listen, const rpc_tls_options *tls,
    shoal_status *st);

/* True for a tls+tcp:// URL. */
bool rpc_url_is_tls(const char *url);

/* True when url only reaches this host: a 127.x.y.z, localhost or ::1
 * host, or an ipc:// / inproc:// URL. */
bool rpc_url_is_loopback(const char *url);

/* ===================================================================
 * Server
 * =================================================================== */

typedef struct rpc_server rpc_server;
typedef struct rpc_call rpc_call;

typedef struct rpc_server_opts {
	/* Handlers running at once; 0 = 8.  tcp:// / ipc://: requests beyond
	 * wait (on their connection's thread) for a running one to finish;
	 * tls+tcp:// / inproc://: the number of serving threads (contexts),
	 * requests beyond wait in nng's queue. */
	int threads;
	/* tls+tcp:// / inproc:// only (tcp:// and ipc:// always run a handler
	 * on its connection's own thread, which any handler may block: this is
	 * ignored there).  Run handlers directly in nng's completion callbacks
	 * instead of on our own threads: one thread hand-off less per request.
	 * ONLY for services whose handlers never wait on nng themselves (no
	 * rpc_client calls to tls+tcp:// or inproc:// inside a handler): they
	 * run on nng's task threads (2 per CPU, at most 16), which must stay
	 * free to complete I/O for any call a handler would wait on.
	 * `threads` then sets how many requests may be in progress at once. */
	bool inline_dispatch;
	size_t max_msg;    /* largest accepted request; 0 = RPC_DEFAULT_MAX_MSG */
	/* Bound on requests in progress, counted across all connections (0 =
	 * off: `threads` are served at once and more wait for a slot).  When
	 * set, it replaces `threads` as the number of requests served at once,
	 * and a request arriving while max_concurrent are in progress is
	 * answered at once with RESOURCE_EXHAUSTED "too many concurrent
	 * requests" (on nng, RPC_SPARE_CONTEXTS extra receivers do that), so an
	 * overloaded server sheds load instead of queueing without bound.  Such
	 * refusals reach `observe` with RPC_NO_METHOD (the request is not
	 * decoded). */
	int max_concurrent;
	/* Optional: called before dispatch; return non-OK (with st) to refuse
	 * the call (authentication hooks in later issues). */
	shoal_code (*authorize)(void *arg, const char *method, const char *token,
	    shoal_status *st);
	void *authorize_arg;
	/* Optional: like authorize, but called after the payload was decoded,
	 * with the request message too (per-tenant checks read its fields);
	 * shares authorize_arg.  A refusal here is also the reply. */
	shoal_code (*authorize_request)(void *arg, const char *method, const char *token,
	    const ProtobufCMessage *input, shoal_status *st);
	/* Optional: called once per request received from the network, after
	 * its reply is built, with the method index (RPC_NO_METHOD when the
	 * request named no valid method), its name ("" then), the reply's
	 * status code and the time from receipt to reply in microseconds.
	 * Runs on the serving thread: keep it cheap (atomics, no allocation,
	 * no locks; common/obs.c is the metrics one).  Not called for
	 * rpc_call_local sub-calls. */
	void (*observe)(void *arg, unsigned method, const char *name, shoal_code code,
	    uint64_t micros);
	void *observe_arg;
	/* Required for a tls+tcp:// URL (cert_file, key_file), ignored for
	 * others; read at start, not kept. */
	const rpc_tls_options *tls;
} rpc_server_opts;

#define RPC_NO_METHOD 0xffffffffu

/* Listens on url and starts serving `service` (not copied: it must outlive
 * the server).  On success *out is the server; stop it with
 * rpc_server_stop().  Fails with INVALID_ARGUMENT for a bad URL or bad
 * TLS options/files (rpc_tls_check) and UNAVAILABLE when the address
 * cannot be bound. */
shoal_code rpc_server_start(const char *url, ProtobufCService *service,
    const rpc_server_opts *opts, rpc_server **out, shoal_status *st);

/* The TCP port actually bound (useful with port 0), or -1 (ipc://,
 * inproc://). */
int rpc_server_port(const rpc_server *srv);

/* Stops listening, closes every connection, waits for running handlers
 * (their replies are dropped), joins its threads and frees the server.
 * An ipc:// socket file is removed.  NULL ok. */
void rpc_server_stop(rpc_server *srv);

/* Within a handler: set the status the reply will carry.  Call before
 * invoking the closure with NULL. */
void rpc_call_fail(void *call, shoal_code code, const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 3, 4)))
#endif
	;

/* Within a handler: the caller's timeout in ms (never 0), token and id.
 * Strings are owned by the call and valid until the handler returns. */
uint32_t rpc_call_timeout_ms(const void *call);
const char *rpc_call_auth_token(const void *call);
const char *rpc_call_request_id(const void *call);
/* Remaining milliseconds before the caller's deadline (0 when passed). */
uint32_t rpc_call_remaining_ms(const void *call);

/* Within a handler: the routing epoch the caller sent (RequestEnvelope.epoch,
 * 0 = none), and the epoch the reply envelope will carry (set it with a
 * FAILED_PRECONDITION routing refusal: the epoch this server knows). */
uint64_t rpc_call_epoch(const void *call);
void rpc_call_set_reply_epoch(void *call, uint64_t epoch);

/* Within a handler: true when the call came from rpc_call_local() (a
 * handler fanning out to its own service), not from the network. */
bool rpc_call_is_local(const void *call);

/* ===================================================================
 * Client
 * =================================================================== */

typedef struct rpc_client rpc_client;

typedef struct rpc_client_opts {
	uint32_t timeout_ms;   /* per call; 0 = RPC_DEFAULT_TIMEOUT_MS */
	size_t max_msg;        /* 0 = RPC_DEFAULT_MAX_MSG */
	const char *auth_token;/* copied; NULL = none */
	/* Fail fast (for a server that is one of several, e.g. the
	 * coordinator's worker clients): a call made while no connection is up
	 * waits at most connect_timeout_ms for one when that is non-zero, and
	 * RPC_RECONNECT_GRACE_MS when the connection it had was lost and none
	 * came back since -- on tcp:// / ipc://, until a reply is read again,
	 * not merely a dial (without fail_on_disconnect: until its deadline).
	 * On nng (tls+tcp://, inproc://) calls in flight also fail with
	 * UNAVAILABLE ("connection lost") as soon as the last connection to
	 * the server closes, instead of waiting for a resend after a
	 * reconnect; on tcp:// / ipc:// every client does that (a call reads
	 * its own connection and sees it close). */
	bool fail_on_disconnect;
	uint32_t connect_timeout_ms;
	/* Required for a tls+tcp:// URL (ca_file), ignored for others; read at
	 * open, not kept. */
	const rpc_tls_options *tls;
} rpc_client_opts;

typedef struct rpc_result {
	shoal_status status;
	ProtobufCMessage *reply; /* owned; NULL unless status.code == OK */
	uint64_t epoch;          /* ReplyEnvelope.epoch (routing refusals) */
	uint64_t elapsed_us;     /* send to reply, as seen by the caller */
} rpc_result;

/* Per-call options (all zero = the client's defaults). */
typedef struct rpc_call_opts {
	uint32_t timeout_ms;     /* 0 = the client's timeout */
	const char *request_id;  /* NULL = the id of the request this thread is
	                          * serving (log_request_id), else a fresh one */
	uint64_t epoch;          /* RequestEnvelope.epoch; 0 = not routed */
} rpc_call_opts;

/* Opens a client for `desc` (e.g. &shoal__worker__descriptor) at url.
 * Nothing is dialled here: an unreachable server (or a failing TLS
 * handshake) shows up as UNAVAILABLE on the first call, not here.  Fails
 * only on a malformed URL or, for tls+tcp://, bad TLS options/files
 * (INVALID_ARGUMENT, rpc_tls_check). */
shoal_code rpc_client_open(const char *url, const ProtobufCServiceDescriptor *desc,
    const rpc_client_opts *opts, rpc_client **out, shoal_status *st);

/* The service to pass to generated stubs; owned by the client. */
ProtobufCService *rpc_client_service(rpc_client *c);

/* The URL the client was opened with. */
const char *rpc_client_url(const rpc_client *c);

/* Per-call timeout override for calls made after this (0 = default). */
void rpc_client_set_timeout(rpc_client *c, uint32_t timeout_ms);

/* Closes its connections (or nng socket) and frees the client; no call may
 * be in progress.  NULL ok. */
void rpc_client_close(rpc_client *c);

/* Calls method `method_index` of the client's service directly (what the
 * stubs do).  On OK, res->reply holds the unpacked output (free with
 * rpc_result_free).  Returns res->status.code. */
shoal_code rpc_client_call(rpc_client *c, unsigned method_index,
    const ProtobufCMessage *input, rpc_result *res);

/* Same, with an explicit timeout and request id (NULL = none). */
shoal_code rpc_client_call_ex(rpc_client *c, unsigned method_index,
    const ProtobufCMessage *input, uint32_t timeout_ms, const char *request_id,
    rpc_result *res);

/* Same, with per-call options (opts may be NULL). */
shoal_code rpc_client_call_opts(rpc_client *c, unsigned method_index,
    const ProtobufCMessage *input, const rpc_call_opts *opts, rpc_result *res);

/* Asynchronous calls, for fan-out: start several, then finish each.
 *
 *     rpc_pending *p[n];
 *     for (i = 0; i < n; i++) p[i] = rpc_client_start(cl[i], m, in[i], &o);
 *     for (i = 0; i < n; i++) rpc_pending_finish(p[i], &res[i]);
 *
 * rpc_client_start packs the input (which may be freed on return), sends
 * it and returns at once: the calls of a fan-out are served in parallel.
 * Every pending call must be finished exactly once with rpc_pending_finish,
 * which waits for its reply and fills res as rpc_client_call would.  On
 * tcp:// / ipc:// the reply is read by finish itself, on the connection the
 * call holds from start to finish (so res->elapsed_us runs until the reply
 * was read: a call finished after a slower one counts that wait); on nng
 * it is received by nng's threads and elapsed_us is the call's own
 * duration, whenever finish is called.  A failure before
 * anything was sent is reported by finish too, so callers have one path.
 * Returns NULL only when out of memory (finish(NULL) then reports
 * RESOURCE_EXHAUSTED).  The client must outlive its pending calls. */
typedef struct rpc_pending rpc_pending;
rpc_pending *rpc_client_start(rpc_client *c, unsigned method_index,
    const ProtobufCMessage *input, const rpc_call_opts *opts);
shoal_code rpc_pending_finish(rpc_pending *p, rpc_result *res);

/* Runs `service`'s handler for method_index in the calling thread, as a
 * sub-call of the running call `parent` (NULL = none): it inherits the
 * parent's remaining deadline (unless opts->timeout_ms), token and request
 * id, and carries opts->epoch (opts may be NULL).  The authorize hook is
 * not run again.  res is filled as by rpc_client_call: on OK res->reply is
 * a copy of the handler's output (free with rpc_result_free); res->epoch
 * is what the handler set with rpc_call_set_reply_epoch.  Used by handlers
 * that fan one request out to several of their own methods (a worker's
 * MultiSearch runs one Search per shard). */
shoal_code rpc_call_local(ProtobufCService *service, unsigned method_index,
    const ProtobufCMessage *input, const void *parent, const rpc_call_opts *opts,
    rpc_result *res);

/* Frees res->reply (if any) and resets it to NULL. */
void rpc_result_free(rpc_result *res);

/* The closure every stub call on an rpc_client service must use. */
void rpc_result_closure(const ProtobufCMessage *msg, void *closure_data);

#define RPC_INVOKE(stub, service, input, result)                             \
	stub((service), (input), (void *)rpc_result_closure, (result))

/* ===================================================================
 * Raw envelope codec (exposed for fuzzing and tests)
 * =================================================================== */

/* Handles one request held in memory, exactly as the server does for a
 * request that arrives on its socket: decodes the envelope, checks size
 * and method, runs the handler, and packs the reply envelope into a
 * malloc'ed buffer (*reply, caller frees).  Returns RESOURCE_EXHAUSTED only
 * when the reply cannot be allocated; every other failure is inside the
 * reply.  Used by the server threads, by unit tests and by the fuzzers. */
shoal_code rpc_dispatch(ProtobufCService *service, const rpc_server_opts *opts,
    const uint8_t *req, size_t len, uint8_t **reply, size_t *reply_len);

/* Validates that url is one shoal can listen on or dial (tcp://host:port,
 * tls+tcp://host:port, ipc://path, inproc://name). */
bool rpc_url_valid(const char *url);

#endif
