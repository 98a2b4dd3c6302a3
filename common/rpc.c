/* rpc.c -- protobuf-c services: the envelopes, dispatch and calls (see
 * rpc.h for the model), over rpc_sock.c's framed sockets for tcp:// and
 * ipc:// (the server's serve_frame, the client's c->fc and framed pending
 * calls) and over nng req/rep for tls+tcp:// and inproc:// (the rest of
 * this file, below).
 *
 * Admission is common to both: max_concurrent refuses at once beyond the
 * bound (an atomic count across all connections); without it, on
 * rpc_sock, `threads` slots (qmu/qcv) make the excess wait.
 *
 * nng threading (default): the server runs N threads, each with its own nng context on
 * one rep0 socket, so each thread holds at most one request at a time and
 * replies on the same context (rep0 contexts keep the request's backtrace).
 * A slow handler blocks only its own thread.  Stopping sets a flag and
 * cancels the threads' aios until every thread has left its loop, and only
 * then closes the contexts and the socket: nng 1.5.2 can panic when a
 * context is used while its socket is being closed.
 *
 * nng threading (inline_dispatch): N contexts, each driven by its aio's
 * completion callback on nng's task threads: receive done -> dispatch ->
 * send; send done -> receive.  Stopping sets the flag and nng_aio_stop()s
 * each aio, which waits for a running callback and refuses new work.
 *
 * The client opens one req0 socket per rpc_client and one context per
 * call: req0 matches replies to requests per context, so concurrent calls
 * from many threads never see each other's replies.
 *
 * Error mapping at this boundary (nng -> shoal):
 *   send not handed to any connection before the deadline -> UNAVAILABLE
 *     (saying when the dialer's attempts failed in the TLS handshake or
 *     were closed during it: dial_failed_handshake)
 *   no reply before the deadline                          -> DEADLINE_EXCEEDED
 *   socket closed                                         -> CANCELLED
 *   malformed reply envelope                              -> INTERNAL
 */
#include "rpc.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/transport/tcp/tcp.h>

#include "log.h"
#include "rpc_sock.h"
#include "rpc_tls.h"
#include "shoal.pb-c.h"
#include "util.h"

/* ===================================================================
 * Server
 * =================================================================== */

struct rpc_call {
	const Shoal__RequestEnvelope *env;
	const ProtobufCMethodDescriptor *method;
	shoal_status status;
	uint8_t *out;        /* packed output (malloc'ed), set by the closure */
	size_t out_len;
	bool replied;
	bool local;          /* from rpc_call_local() */
	uint32_t timeout_ms;
	uint64_t start_us;
	uint64_t reply_epoch; /* ReplyEnvelope.epoch */
};

typedef struct server_thread {
	struct rpc_server *srv;
	pthread_t tid;
	nng_ctx ctx;
	nng_aio *aio;
	bool started;
	atomic_bool exited;
	bool sending;  /* inline mode: the aio's current operation is a send */
} server_thread;

struct rpc_server {
	nng_socket sock;
	nng_listener lst;
	ProtobufCService *service;
	rpc_server_opts opts;
	int port;
	int nthreads;
	server_thread *threads;
	atomic_bool stopping;
	atomic_int in_flight; /* opts.max_concurrent > 0: requests in progress */
	/* tcp:// and ipc:// (rpc_sock.c): the transport, and without
	 * max_concurrent the `threads` bound: requests beyond it wait for one
	 * of the `active` slots (guarded by qmu) */
	rpc_sock_server *fs;
	pthread_mutex_t qmu;
	pthread_cond_t qcv;
	int active;
};

static shoal_code
nng_to_status(int rv, const char *what, const char *url, shoal_status *st)
{
	switch (rv) {
	case NNG_EADDRINUSE:
		return shoal_status_set(st, SHOAL_UNAVAILABLE, "%s %s: address already in use", what, url);
	case NNG_EADDRINVAL:
	case NNG_EINVAL:
	case NNG_ENOTSUP:
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT, "%s %s: invalid address", what, url);
	case NNG_ENOMEM:
		return shoal_status_set(st, SHOAL_RESOURCE_EXHAUSTED, "%s %s: out of memory", what, url);
	case NNG_ETIMEDOUT:
		return shoal_status_set(st, SHOAL_DEADLINE_EXCEEDED, "%s %s: timed out", what, url);
	case NNG_ECLOSED:
		return shoal_status_set(st, SHOAL_CANCELLED, "%s %s: closed", what, url);
	default:
		return shoal_status_set(st, SHOAL_UNAVAILABLE, "%s %s: %s", what, url, nng_strerror(rv));
	}
}

void
rpc_call_fail(void *cd, shoal_code code, const char *fmt, ...)
{
	struct rpc_call *call = cd;
	va_list ap;

	call->status.code = code;
	va_start(ap, fmt);
	vsnprintf(call->status.msg, sizeof call->status.msg, fmt, ap);
	va_end(ap);
}

uint32_t
rpc_call_timeout_ms(const void *cd)
{
	return ((const struct rpc_call *)cd)->timeout_ms;
}

const char *
rpc_call_auth_token(const void *cd)
{
	const struct rpc_call *call = cd;
	return call->env && call->env->auth_token ? call->env->auth_token : "";
}

const char *
rpc_call_request_id(const void *cd)
{
	const struct rpc_call *call = cd;
	return call->env && call->env->request_id ? call->env->request_id : "";
}

uint32_t
rpc_call_remaining_ms(const void *cd)
{
	const struct rpc_call *call = cd;
	uint64_t elapsed = (util_mono_us() - call->start_us) / 1000u;
	return elapsed >= call->timeout_ms ? 0 : (uint32_t)(call->timeout_ms - elapsed);
}

uint64_t
rpc_call_epoch(const void *cd)
{
	const struct rpc_call *call = cd;
	return call->env ? call->env->epoch : 0;
}

void
rpc_call_set_reply_epoch(void *cd, uint64_t epoch)
{
	((struct rpc_call *)cd)->reply_epoch = epoch;
}

bool
rpc_call_is_local(const void *cd)
{
	return ((const struct rpc_call *)cd)->local;
}

/* The closure handed to every handler: packs the output right away so the
 * handler may free what it built as soon as the closure returns. */
static void
reply_closure(const ProtobufCMessage *msg, void *cd)
{
	struct rpc_call *call = cd;

	if (call->replied) {
		log_error("rpc: handler for %s replied twice; second reply ignored",
		    call->method->name);
		return;
	}
	call->replied = true;
	if (call->status.code != SHOAL_OK)
		return;
	if (msg == NULL) {
		shoal_status_set(&call->status, SHOAL_INTERNAL, "%s returned no result",
		    call->method->name);
		return;
	}
	size_t n = protobuf_c_message_get_packed_size(msg);
	call->out = malloc(n ? n : 1);
	if (call->out == NULL) {
		shoal_status_set(&call->status, SHOAL_RESOURCE_EXHAUSTED, "out of memory packing reply");
		return;
	}
	call->out_len = protobuf_c_message_pack(msg, call->out);
}

typedef void (*generic_handler)(void *service, const ProtobufCMessage *in,
    ProtobufCClosure closure, void *closure_data);

/* Whether the service has a handler for method i.  Services built with the
 * generated *_INIT macro use protobuf_c_service_invoke_internal, which
 * calls handlers[i] (laid out right after the base struct) without a NULL
 * check; we check here so a missing handler is UNIMPLEMENTED, not a crash. */
static bool
has_handler(const ProtobufCService *svc, unsigned i)
{
	if (svc->invoke != protobuf_c_service_invoke_internal)
		return true;
	const generic_handler *handlers = (const generic_handler *)(const void *)(svc + 1);
	return handlers[i] != NULL;
}

shoal_code
rpc_dispatch(ProtobufCService *service, const rpc_server_opts *opts, const uint8_t *req,
    size_t len, uint8_t **reply, size_t *reply_len)
{
	struct rpc_call call;
	Shoal__RequestEnvelope *env = NULL;
	ProtobufCMessage *input = NULL;
	size_t max_msg = opts && opts->max_msg ? opts->max_msg : RPC_DEFAULT_MAX_MSG;
	const ProtobufCServiceDescriptor *desc = service->descriptor;

	memset(&call, 0, sizeof call);
	call.start_us = util_mono_us();
	call.timeout_ms = RPC_DEFAULT_TIMEOUT_MS;

	if (len > max_msg) {
		shoal_status_set(&call.status, SHOAL_RESOURCE_EXHAUSTED,
		    "request of %zu bytes exceeds the maximum message size of %zu bytes", len, max_msg);
		goto reply;
	}
	env = shoal__request_envelope__unpack(NULL, len, req);
	if (env == NULL) {
		shoal_status_set(&call.status, SHOAL_INVALID_ARGUMENT,
		    "malformed request: %zu bytes that are not a shoal RequestEnvelope", len);
		goto reply;
	}
	call.env = env;
	/* every log line of this request names it (log.h); cleared below */
	log_set_request_id(env->request_id);
	if (env->timeout_ms != 0)
		call.timeout_ms = env->timeout_ms;
	call.method = protobuf_c_service_descriptor_get_method_by_name(desc, env->method);
	if (call.method == NULL) {
		shoal_status_set(&call.status, SHOAL_UNIMPLEMENTED, "unknown method '%.64s' for service %s",
		    env->method, desc->name);
		goto reply;
	}
	unsigned idx = (unsigned)(call.method - desc->methods);
	if (!has_handler(service, idx)) {
		shoal_status_set(&call.status, SHOAL_UNIMPLEMENTED, "%s.%s is not implemented here",
		    desc->name, call.method->name);
		goto reply;
	}
	if (opts && opts->authorize) {
		if (opts->authorize(opts->authorize_arg, call.method->name, env->auth_token,
			&call.status) != SHOAL_OK)
			goto reply;
	}
	input = protobuf_c_message_unpack(call.method->input, NULL, env->payload.len,
	    env->payload.data);
	if (input == NULL) {
		shoal_status_set(&call.status, SHOAL_INVALID_ARGUMENT,
		    "malformed %s request: payload of %zu bytes is not a valid %s", call.method->name,
		    env->payload.len, call.method->input->name);
		goto reply;
	}
	if (opts && opts->authorize_request &&
	    opts->authorize_request(opts->authorize_arg, call.method->name, env->auth_token, input,
		&call.status) != SHOAL_OK)
		goto reply;
	service->invoke(service, idx, input, reply_closure, &call);
	if (!call.replied && call.status.code == SHOAL_OK)
		shoal_status_set(&call.status, SHOAL_INTERNAL, "%s did not reply", call.method->name);

reply:;
	Shoal__ReplyEnvelope rep = SHOAL__REPLY_ENVELOPE__INIT;
	rep.code = (int32_t)call.status.code;
	rep.message = call.status.msg;
	rep.epoch = call.reply_epoch;
	if (call.status.code == SHOAL_OK) {
		rep.payload.data = call.out;
		rep.payload.len = call.out_len;
	}
	size_t n = shoal__reply_envelope__get_packed_size(&rep);
	uint8_t *buf = malloc(n ? n : 1);
	shoal_code rc = SHOAL_OK;
	if (buf == NULL) {
		rc = SHOAL_RESOURCE_EXHAUSTED;
	} else {
		*reply_len = shoal__reply_envelope__pack(&rep, buf);
		*reply = buf;
	}
	if (call.status.code != SHOAL_OK && call.status.code != SHOAL_NOT_FOUND &&
	    call.status.code != SHOAL_ALREADY_EXISTS)
		log_debug("rpc %s: %s: %s", call.method ? call.method->name : "?",
		    shoal_code_name(call.status.code), call.status.msg);
	if (opts && opts->observe)
		opts->observe(opts->observe_arg,
		    call.method ? (unsigned)(call.method - desc->methods) : RPC_NO_METHOD,
		    call.method ? call.method->name : "", call.status.code,
		    util_mono_us() - call.start_us);
	log_set_request_id(NULL);
	free(call.out);
	if (input)
		protobuf_c_message_free_unpacked(input, NULL);
	if (env)
		shoal__request_envelope__free_unpacked(env, NULL);
	return rc;
}

/* The reply to a request refused by max_concurrent (not decoded). */
static shoal_code
busy_reply(rpc_server *srv, uint8_t **out, size_t *out_len)
{
	char msg[160];
	snprintf(msg, sizeof msg,
	    "too many concurrent requests: this server handles %d at once (max-concurrent); "
	    "retry later", srv->opts.max_concurrent);
	Shoal__ReplyEnvelope rep = SHOAL__REPLY_ENVELOPE__INIT;
	rep.code = SHOAL_RESOURCE_EXHAUSTED;
	rep.message = msg;
	size_t n = shoal__reply_envelope__get_packed_size(&rep);
	if ((*out = malloc(n ? n : 1)) == NULL)
		return SHOAL_RESOURCE_EXHAUSTED;
	*out_len = shoal__reply_envelope__pack(&rep, *out);
	if (srv->opts.observe)
		srv->opts.observe(srv->opts.observe_arg, RPC_NO_METHOD, "",
		    SHOAL_RESOURCE_EXHAUSTED, 0);
	return SHOAL_OK;
}

/* Admits and dispatches one request (len bytes at req) into *out (the
 * reply envelope, malloc'ed).  With max_concurrent: refused at once beyond
 * the bound.  Without, on the rpc_sock transport: at most `threads` at
 * once, more wait for a slot (nng's path bounds this by its contexts).
 * Returns SHOAL_CANCELLED (no reply) when the server stops meanwhile. */
static shoal_code
serve_bytes(rpc_server *srv, const uint8_t *req, size_t len, uint8_t **out, size_t *out_len)
{
	shoal_code rc;
	if (srv->opts.max_concurrent > 0) {
		/* admit only below the bound; refusals do not count as in flight */
		int cur = atomic_load(&srv->in_flight);
		bool admitted = false;
		while (cur < srv->opts.max_concurrent &&
		    !(admitted = atomic_compare_exchange_weak(&srv->in_flight, &cur, cur + 1)))
			;
		if (!admitted)
			return busy_reply(srv, out, out_len);
		rc = rpc_dispatch(srv->service, &srv->opts, req, len, out, out_len);
		atomic_fetch_sub(&srv->in_flight, 1);
		return rc;
	}
	if (srv->fs == NULL)
		return rpc_dispatch(srv->service, &srv->opts, req, len, out, out_len);
	pthread_mutex_lock(&srv->qmu);
	while (srv->active >= srv->opts.threads && !atomic_load(&srv->stopping))
		pthread_cond_wait(&srv->qcv, &srv->qmu);
	if (atomic_load(&srv->stopping)) {
		pthread_mutex_unlock(&srv->qmu);
		return SHOAL_CANCELLED;
	}
	srv->active++;
	pthread_mutex_unlock(&srv->qmu);
	rc = rpc_dispatch(srv->service, &srv->opts, req, len, out, out_len);
	pthread_mutex_lock(&srv->qmu);
	srv->active--;
	pthread_cond_signal(&srv->qcv);
	pthread_mutex_unlock(&srv->qmu);
	return rc;
}

/* rpc_sock's serve callback: a request frame in, its reply out. */
static bool
serve_frame(void *arg, const uint8_t *req, size_t len, uint8_t **out, size_t *out_len)
{
	return serve_bytes(arg, req, len, out, out_len) == SHOAL_OK;
}

/* Dispatches the request in msg and turns msg into the reply; false when
 * no reply can be built (out of memory: the client times out). */
static bool
serve_one(rpc_server *srv, nng_msg *msg)
{
	uint8_t *out = NULL;
	size_t out_len = 0;
	shoal_code rc = serve_bytes(srv, nng_msg_body(msg), nng_msg_len(msg), &out, &out_len);
	/* reuse msg for the reply: rep0 keeps the routing header */
	nng_msg_clear(msg);
	bool ok = rc == SHOAL_OK && nng_msg_append(msg, out, out_len) == 0;
	free(out);
	return ok;
}

/* inline_dispatch: the completion callback of one context's aio. */
static void
inline_cb(void *arg)
{
	server_thread *t = arg;
	rpc_server *srv = t->srv;
	int rv = nng_aio_result(t->aio);

	if (t->sending) {
		t->sending = false;
		if (rv != 0)
			nng_msg_free(nng_aio_get_msg(t->aio)); /* not sent: still ours */
	} else if (rv == 0) {
		nng_msg *msg = nng_aio_get_msg(t->aio);
		if (serve_one(srv, msg)) {
			t->sending = true;
			nng_aio_set_msg(t->aio, msg);
			nng_ctx_send(t->ctx, t->aio);
			return;
		}
		nng_msg_free(msg);
	} else if (rv == NNG_ECLOSED || rv == NNG_ECANCELED) {
		return;
	}
	if (!atomic_load(&srv->stopping))
		nng_ctx_recv(t->ctx, t->aio);
}

static void *
server_loop(void *arg)
{
	server_thread *t = arg;
	rpc_server *srv = t->srv;

	while (!atomic_load(&srv->stopping)) {
		nng_ctx_recv(t->ctx, t->aio);
		nng_aio_wait(t->aio);
		int rv = nng_aio_result(t->aio);
		if (rv == NNG_ECLOSED || atomic_load(&srv->stopping))
			break;
		if (rv != 0)
			continue;
		nng_msg *msg = nng_aio_get_msg(t->aio);
		if (!serve_one(srv, msg)) {
			nng_msg_free(msg);
			continue; /* out of memory: the client times out */
		}
		nng_aio_set_msg(t->aio, msg);
		nng_ctx_send(t->ctx, t->aio);
		nng_aio_wait(t->aio);
		if (nng_aio_result(t->aio) != 0)
			nng_msg_free(msg); /* not sent: still ours */
	}
	atomic_store(&t->exited, true);
	return NULL;
}

bool
rpc_url_valid(const char *url)
{
	static const char *const schemes[] = {"tcp://", "tcp4://", "tcp6://", "tls+tcp://",
	    "ipc://", "inproc://"};
	if (url == NULL)
		return false;
	for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++) {
		size_t n = strlen(schemes[i]);
		if (strncmp(url, schemes[i], n) == 0)
			return url[n] != '\0';
	}
	return false;
}

/* A plain server bound beyond loopback: say what travels in clear. */
static void
warn_clear_text(const char *url)
{
	if (!rpc_url_is_loopback(url))
		log_warn("listening on %s without TLS: requests, data and the cluster secret travel "
		    "in clear text; use tls+tcp:// (docs/security.md) beyond a private network", url);
}

shoal_code
rpc_server_start(const char *url, ProtobufCService *service, const rpc_server_opts *opts,
    rpc_server **out, shoal_status *st)
{
	rpc_server *srv;
	int rv;

	*out = NULL;
	if (!rpc_url_valid(url))
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "invalid listen URL '%s' (expected tcp://HOST:PORT)", url ? url : "");
	nng_tls_config *tls = NULL;
	if (rpc_url_is_tls(url) &&
	    rpc_tls_config_new(opts ? opts->tls : NULL, true, url, &tls, st) != SHOAL_OK)
		return st->code;
	srv = calloc(1, sizeof *srv);
	if (srv == NULL) {
		if (tls)
			nng_tls_config_free(tls);
		return shoal_status_set(st, SHOAL_RESOURCE_EXHAUSTED, "out of memory");
	}
	srv->service = service;
	if (opts)
		srv->opts = *opts;
	if (srv->opts.threads <= 0)
		srv->opts.threads = 8;
	if (srv->opts.max_msg == 0)
		srv->opts.max_msg = RPC_DEFAULT_MAX_MSG;
	srv->port = -1;

	srv->opts.tls = NULL; /* not kept (the caller's) */
	if (rpc_sock_url(url)) {
		/* our own transport: threads and inline_dispatch as in rpc.h */
		pthread_mutex_init(&srv->qmu, NULL);
		pthread_cond_init(&srv->qcv, NULL);
		if (rpc_sock_listen(url, srv->opts.max_msg + RPC_TRANSPORT_SLACK, serve_frame, srv,
			&srv->fs, &srv->port, st) != SHOAL_OK) {
			pthread_cond_destroy(&srv->qcv);
			pthread_mutex_destroy(&srv->qmu);
			free(srv);
			return st->code;
		}
		warn_clear_text(url);
		*out = srv;
		return SHOAL_OK;
	}
	if ((rv = nng_rep0_open(&srv->sock)) != 0) {
		free(srv);
		if (tls)
			nng_tls_config_free(tls);
		return nng_to_status(rv, "cannot open socket for", url, st);
	}
	/* allow a little more than max_msg so an oversized request gets an
	 * error reply rather than a silently dropped connection */
	nng_socket_set_size(srv->sock, NNG_OPT_RECVMAXSZ, srv->opts.max_msg + RPC_TRANSPORT_SLACK);
	if ((rv = nng_listener_create(&srv->lst, srv->sock, url)) != 0 ||
	    (tls && (rv = nng_listener_set_ptr(srv->lst, NNG_OPT_TLS_CONFIG, tls)) != 0) ||
	    (rv = nng_listener_start(srv->lst, 0)) != 0) {
		nng_close(srv->sock);
		free(srv);
		if (tls)
			nng_tls_config_free(tls);
		return nng_to_status(rv, "cannot listen on", url, st);
	}
	if (tls)
		nng_tls_config_free(tls); /* the listener holds its own reference */
	else
		warn_clear_text(url);
	int port;
	if (nng_listener_get_int(srv->lst, NNG_OPT_TCP_BOUND_PORT, &port) == 0)
		srv->port = port;

	srv->nthreads = srv->opts.threads;
	if (srv->opts.max_concurrent > 0) /* see rpc_server_opts.max_concurrent */
		srv->nthreads = srv->opts.max_concurrent + RPC_SPARE_CONTEXTS;
	srv->threads = calloc((size_t)srv->nthreads, sizeof *srv->threads);
	if (srv->threads == NULL) {
		nng_close(srv->sock);
		free(srv);
		return shoal_status_set(st, SHOAL_RESOURCE_EXHAUSTED, "out of memory");
	}
	for (int i = 0; i < srv->nthreads; i++) {
		server_thread *t = &srv->threads[i];
		t->srv = srv;
		if ((rv = nng_ctx_open(&t->ctx, srv->sock)) != 0 ||
		    (rv = nng_aio_alloc(&t->aio, srv->opts.inline_dispatch ? inline_cb : NULL, t)) != 0) {
			rpc_server_stop(srv);
			return nng_to_status(rv, "cannot start handlers for", url, st);
		}
		if (srv->opts.inline_dispatch) {
			nng_ctx_recv(t->ctx, t->aio);
			continue;
		}
		if (pthread_create(&t->tid, NULL, server_loop, t) != 0) {
			rpc_server_stop(srv);
			return shoal_status_set(st, SHOAL_RESOURCE_EXHAUSTED, "cannot start threads");
		}
		t->started = true;
	}
	*out = srv;
	return SHOAL_OK;
}

int
rpc_server_port(const rpc_server *srv)
{
	return srv ? srv->port : -1;
}

void
rpc_server_stop(rpc_server *srv)
{
	if (srv == NULL)
		return;
	atomic_store(&srv->stopping, true);
	if (srv->fs != NULL) {
		/* wake requests waiting for a `threads` slot: they end unanswered */
		pthread_mutex_lock(&srv->qmu);
		pthread_cond_broadcast(&srv->qcv);
		pthread_mutex_unlock(&srv->qmu);
		rpc_sock_server_stop(srv->fs);
		pthread_cond_destroy(&srv->qcv);
		pthread_mutex_destroy(&srv->qmu);
		free(srv);
		return;
	}
	if (srv->opts.inline_dispatch) {
		/* waits for a running callback; later submissions are refused */
		for (int i = 0; i < srv->nthreads; i++)
			if (srv->threads[i].aio)
				nng_aio_stop(srv->threads[i].aio);
	}
	/* A thread may be between its stopping check and nng_ctx_recv, so one
	 * cancel is not enough: cancel until every thread has left its loop. */
	for (bool all_out = false; !all_out;) {
		all_out = true;
		for (int i = 0; i < srv->nthreads; i++) {
			server_thread *t = &srv->threads[i];
			if (t->started && !atomic_load(&t->exited)) {
				all_out = false;
				nng_aio_cancel(t->aio);
			}
		}
		if (!all_out)
			util_sleep_ms(2);
	}
	for (int i = 0; i < srv->nthreads; i++) {
		server_thread *t = &srv->threads[i];
		if (t->started)
			pthread_join(t->tid, NULL);
		if (t->aio)
			nng_aio_free(t->aio);
		if (nng_ctx_id(t->ctx) > 0)
			nng_ctx_close(t->ctx);
	}
	nng_close(srv->sock);
	free(srv->threads);
	free(srv);
}

/* ===================================================================
 * Client
 * =================================================================== */

struct rpc_client {
	ProtobufCService service; /* first: invoke() casts back to the client */
	nng_socket sock;
	nng_dialer dialer;
	char *url;
	char *token;
	_Atomic uint32_t timeout_ms;
	size_t max_msg;
	atomic_uint_fast64_t seq;
	char id_prefix[9];
	/* fail_on_disconnect: connections up, and the calls in flight (so the
	 * last connection's close can fail them at once).  Guarded by mu. */
	bool fail_on_disconnect;
	uint32_t connect_timeout_ms;
	pthread_mutex_t mu;
	int pipes;
	bool was_connected;      /* a connection was up, and closed since */
	struct rpc_pending *inflight;
	bool tls;                /* a tls+tcp:// URL */
	rpc_sock_client *fc;     /* tcp:// and ipc://: rpc_sock.c, no nng socket */
};

/* One call in flight.  The send's completion callback issues the receive
 * right away on nng's task thread, so the calling thread sleeps once per
 * call instead of twice (one wake-up less per call: ~30 us here); the
 * caller's thread only waits in rpc_pending_finish, so a caller may have
 * many calls in flight at once (scatter-gather). */
struct rpc_pending {
	rpc_client *c;
	const ProtobufCMethodDescriptor *m;
	nng_aio *aio;
	nng_ctx ctx;
	bool ctx_open;
	nng_msg *msg;         /* the request, ours again if the send fails */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool done;
	bool receiving;       /* the send succeeded, the receive is under way */
	atomic_bool aborted;  /* failed by the last connection's close */
	int rv;
	uint32_t timeout_ms;
	uint64_t deadline_ms; /* monotonic */
	uint64_t t0_us, t1_us;
	shoal_status early;   /* failure before anything was sent */
	struct rpc_pending *prev, *next; /* c->inflight (fail_on_disconnect) */
	bool linked;
	bool framed;          /* on c->fc: fk below, none of the nng fields */
	rpc_sock_call fk;
};

void
rpc_result_closure(const ProtobufCMessage *msg, void *closure_data)
{
	((rpc_result *)closure_data)->reply = (ProtobufCMessage *)msg;
}

void
rpc_result_free(rpc_result *res)
{
	if (res && res->reply) {
		protobuf_c_message_free_unpacked(res->reply, NULL);
		res->reply = NULL;
	}
}

static void
client_invoke(ProtobufCService *service, unsigned method_index, const ProtobufCMessage *input,
    ProtobufCClosure closure, void *closure_data)
{
	rpc_client *c = (rpc_client *)service;
	rpc_result *res = closure_data;

	rpc_client_call(c, method_index, input, res);
	closure(res->reply, closure_data);
}

static void
client_destroy(ProtobufCService *service)
{
	rpc_client_close((rpc_client *)service);
}

/* nng pipe events (fail_on_disconnect clients): counts connections and,
 * when the last one closes, fails every call in flight: the server is
 * gone, and waiting for a resend after a reconnect would only delay the
 * error (the caller's deadline, possibly seconds). */
static void
pipe_cb(nng_pipe pipe, nng_pipe_ev ev, void *arg)
{
	rpc_client *c = arg;
	(void)pipe;

	pthread_mutex_lock(&c->mu);
	if (ev == NNG_PIPE_EV_ADD_POST) {
		c->pipes++;
		c->was_connected = false;
	} else if (ev == NNG_PIPE_EV_REM_POST && c->pipes > 0 && --c->pipes == 0) {
		c->was_connected = true;
		for (struct rpc_pending *p = c->inflight; p != NULL; p = p->next) {
			atomic_store(&p->aborted, true);
			nng_aio_abort(p->aio, NNG_ECONNRESET);
		}
	}
	pthread_mutex_unlock(&c->mu);
}

shoal_code
rpc_client_open(const char *url, const ProtobufCServiceDescriptor *desc,
    const rpc_client_opts *opts, rpc_client **out, shoal_status *st)
{
	rpc_client *c;
	int rv;

	*out = NULL;
	if (!rpc_url_valid(url))
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "invalid URL '%s' (expected tcp://HOST:PORT)", url ? url : "");
	nng_tls_config *tls = NULL;
	if (rpc_url_is_tls(url) &&
	    rpc_tls_config_new(opts ? opts->tls : NULL, false, url, &tls, st) != SHOAL_OK)
		return st->code;
	c = calloc(1, sizeof *c);
	if (c == NULL) {
		if (tls)
			nng_tls_config_free(tls);
		return shoal_status_set(st, SHOAL_RESOURCE_EXHAUSTED, "out of memory");
	}
	c->tls = tls != NULL;
	c->service.descriptor = desc;
	c->service.invoke = client_invoke;
	c->service.destroy = client_destroy;
	c->url = strdup(url);
	c->token = strdup(opts && opts->auth_token ? opts->auth_token : "");
	c->timeout_ms = opts && opts->timeout_ms ? opts->timeout_ms : RPC_DEFAULT_TIMEOUT_MS;
	c->max_msg = opts && opts->max_msg ? opts->max_msg : RPC_DEFAULT_MAX_MSG;
	c->fail_on_disconnect = opts && opts->fail_on_disconnect;
	c->connect_timeout_ms = opts ? opts->connect_timeout_ms : 0;
	pthread_mutex_init(&c->mu, NULL);
	util_random_hex(c->id_prefix, 4);
	if (c->url == NULL || c->token == NULL) {
		pthread_mutex_destroy(&c->mu);
		free(c->url);
		free(c->token);
		free(c);
		if (tls)
			nng_tls_config_free(tls);
		return shoal_status_set(st, SHOAL_RESOURCE_EXHAUSTED, "out of memory");
	}
	if (rpc_sock_url(url)) {
		if (rpc_sock_client_open(url, c->max_msg + RPC_TRANSPORT_SLACK, c->fail_on_disconnect,
			c->connect_timeout_ms, &c->fc, st) != SHOAL_OK) {
			pthread_mutex_destroy(&c->mu);
			free(c->url);
			free(c->token);
			free(c);
			return st->code;
		}
		*out = c;
		return SHOAL_OK;
	}
	if ((rv = nng_req0_open(&c->sock)) != 0) {
		pthread_mutex_destroy(&c->mu);
		free(c->url);
		free(c->token);
		free(c);
		if (tls)
			nng_tls_config_free(tls);
		return nng_to_status(rv, "cannot open socket for", url, st);
	}
	nng_socket_set_size(c->sock, NNG_OPT_RECVMAXSZ, c->max_msg + RPC_TRANSPORT_SLACK);
	/* reconnect quickly after a server restart */
	nng_socket_set_ms(c->sock, NNG_OPT_RECONNMINT, 50);
	nng_socket_set_ms(c->sock, NNG_OPT_RECONNMAXT, 1000);
	if (c->fail_on_disconnect) {
		nng_pipe_notify(c->sock, NNG_PIPE_EV_ADD_POST, pipe_cb, c);
		nng_pipe_notify(c->sock, NNG_PIPE_EV_REM_POST, pipe_cb, c);
	}
	/* non-blocking dial: an absent server is retried in the background and
	 * shows up as UNAVAILABLE on a call, not as a failure to open */
	if ((rv = nng_dialer_create(&c->dialer, c->sock, url)) != 0 ||
	    (tls && (rv = nng_dialer_set_ptr(c->dialer, NNG_OPT_TLS_CONFIG, tls)) != 0) ||
	    (rv = nng_dialer_start(c->dialer, NNG_FLAG_NONBLOCK)) != 0) {
		nng_close(c->sock);
		pthread_mutex_destroy(&c->mu);
		free(c->url);
		free(c->token);
		free(c);
		if (tls)
			nng_tls_config_free(tls);
		return nng_to_status(rv, "cannot dial", url, st);
	}
	if (tls)
		nng_tls_config_free(tls); /* the dialer holds its own reference */
	*out = c;
	return SHOAL_OK;
}

ProtobufCService *
rpc_client_service(rpc_client *c)
{
	return &c->service;
}

const char *
rpc_client_url(const rpc_client *c)
{
	return c->url;
}

void
rpc_client_set_timeout(rpc_client *c, uint32_t timeout_ms)
{
	c->timeout_ms = timeout_ms ? timeout_ms : RPC_DEFAULT_TIMEOUT_MS;
}

void
rpc_client_close(rpc_client *c)
{
	if (c == NULL)
		return;
	if (c->fc != NULL)
		rpc_sock_client_close(c->fc);
	else
		nng_close(c->sock); /* waits for pipe callbacks */
	pthread_mutex_destroy(&c->mu);
	free(c->url);
	free(c->token);
	free(c);
}

/* The aio's completion callback: send done -> receive; receive done (or
 * any failure) -> wake the finisher. */
static void
pending_cb(void *arg)
{
	struct rpc_pending *p = arg;
	int rv = nng_aio_result(p->aio);

	if (!p->receiving && rv == 0) {
		uint64_t now = util_mono_ms();
		p->receiving = true;
		if (!atomic_load(&p->aborted)) {
			nng_aio_set_timeout(p->aio,
			    (nng_duration)(p->deadline_ms > now ? p->deadline_ms - now : 1));
			nng_ctx_recv(p->ctx, p->aio);
			return;
		}
		rv = NNG_ECONNRESET;
	}
	pthread_mutex_lock(&p->mu);
	p->rv = rv;
	p->t1_us = util_mono_us();
	p->done = true;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

rpc_pending *
rpc_client_start(rpc_client *c, unsigned method_index, const ProtobufCMessage *input,
    const rpc_call_opts *opts)
{
	const ProtobufCServiceDescriptor *desc = c->service.descriptor;
	struct rpc_pending *p = calloc(1, sizeof *p);
	uint32_t timeout_ms = opts && opts->timeout_ms ? opts->timeout_ms : c->timeout_ms;
	const char *request_id = opts ? opts->request_id : NULL;
	uint8_t *payload = NULL;
	char rid[40];
	int rv;

	if (p == NULL)
		return NULL;
	p->c = c;
	p->timeout_ms = timeout_ms;
	p->t0_us = util_mono_us();
	atomic_init(&p->aborted, false);
	if (method_index >= desc->n_methods) {
		shoal_status_set(&p->early, SHOAL_INTERNAL, "method index %u out of range",
		    method_index);
		return p;
	}
	p->m = &desc->methods[method_index];
	if (input->descriptor != p->m->input) {
		shoal_status_set(&p->early, SHOAL_INTERNAL, "%s called with a %s, expects %s",
		    p->m->name, input->descriptor->name, p->m->input->name);
		return p;
	}
	/* A call made while serving a request carries that request's id, so
	 * one client request can be followed through every daemon's log. */
	if (request_id == NULL && log_request_id() != NULL)
		request_id = log_request_id();
	if (request_id == NULL) {
		snprintf(rid, sizeof rid, "%s-%" PRIx64, c->id_prefix, (uint64_t)++c->seq);
		request_id = rid;
	}

	size_t plen = protobuf_c_message_get_packed_size(input);
	if (plen > c->max_msg) {
		shoal_status_set(&p->early, SHOAL_RESOURCE_EXHAUSTED,
		    "%s request of %zu bytes exceeds the maximum message size of %zu bytes "
		    "(send smaller batches)", p->m->name, plen, c->max_msg);
		return p;
	}
	if ((payload = malloc(plen ? plen : 1)) == NULL) {
		shoal_status_set(&p->early, SHOAL_RESOURCE_EXHAUSTED, "out of memory");
		return p;
	}
	protobuf_c_message_pack(input, payload);

	Shoal__RequestEnvelope env = SHOAL__REQUEST_ENVELOPE__INIT;
	env.method = (char *)p->m->name;
	env.timeout_ms = timeout_ms;
	env.auth_token = c->token;
	env.request_id = (char *)request_id;
	env.payload.data = payload;
	env.payload.len = plen;
	env.epoch = opts ? opts->epoch : 0;
	size_t elen = shoal__request_envelope__get_packed_size(&env);
	if (c->fc != NULL) {
		/* one frame: 4-byte big-endian length, then the envelope */
		uint8_t *f = elen <= 0xffffffffu ? malloc(4 + elen) : NULL;
		if (f == NULL) {
			free(payload);
			shoal_status_set(&p->early, SHOAL_RESOURCE_EXHAUSTED, "out of memory");
			return p;
		}
		f[0] = (uint8_t)(elen >> 24);
		f[1] = (uint8_t)(elen >> 16);
		f[2] = (uint8_t)(elen >> 8);
		f[3] = (uint8_t)elen;
		shoal__request_envelope__pack(&env, f + 4);
		free(payload);
		p->framed = true;
		p->fk.frame = f;
		p->fk.frame_len = 4 + elen;
		p->fk.method = p->m->name;
		p->fk.timeout_ms = timeout_ms;
		p->fk.deadline_ms = util_mono_ms() + timeout_ms;
		rpc_sock_call_start(c->fc, &p->fk);
		return p;
	}
	if ((rv = nng_msg_alloc(&p->msg, elen)) != 0) {
		free(payload);
		shoal_status_set(&p->early, SHOAL_RESOURCE_EXHAUSTED, "out of memory");
		return p;
	}
	shoal__request_envelope__pack(&env, nng_msg_body(p->msg));
	free(payload);

	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	if ((rv = nng_aio_alloc(&p->aio, pending_cb, p)) != 0 ||
	    (rv = nng_ctx_open(&p->ctx, c->sock)) != 0) {
		nng_msg_free(p->msg);
		p->msg = NULL;
		if (p->aio) {
			nng_aio_free(p->aio);
			p->aio = NULL;
		}
		pthread_cond_destroy(&p->cv);
		pthread_mutex_destroy(&p->mu);
		nng_to_status(rv, "cannot call", c->url, &p->early);
		return p;
	}
	p->ctx_open = true;
	p->deadline_ms = util_mono_ms() + timeout_ms;

	/* A call made while no connection is up waits for one at most
	 * connect_timeout_ms (the dialer retries every <= 1 s), and only
	 * RPC_RECONNECT_GRACE_MS when the connection it had was lost and has
	 * not come back: the server died (a server restarted at the same
	 * address is redialled within 50 ms). */
	uint32_t send_ms = timeout_ms;
	if (c->fail_on_disconnect) {
		pthread_mutex_lock(&c->mu);
		if (c->pipes == 0 && c->connect_timeout_ms != 0 && send_ms > c->connect_timeout_ms)
			send_ms = c->connect_timeout_ms;
		if (c->pipes == 0 && c->was_connected && send_ms > RPC_RECONNECT_GRACE_MS)
			send_ms = RPC_RECONNECT_GRACE_MS;
		p->next = c->inflight;
		if (c->inflight != NULL)
			c->inflight->prev = p;
		c->inflight = p;
		p->linked = true;
		pthread_mutex_unlock(&c->mu);
	}
	nng_aio_set_timeout(p->aio, (nng_duration)send_ms);
	nng_aio_set_msg(p->aio, p->msg);
	nng_ctx_send(p->ctx, p->aio);
	return p;
}

/* The statistics scope of dialer d in snap, or NULL.  (nng 1.5.2's
 * nng_stat_find_dialer returns the first dialer's scope whatever d is.) */
static nng_stat *
find_dialer_stats(nng_stat *snap, nng_dialer d)
{
	for (nng_stat *s = nng_stat_child(snap); s != NULL; s = nng_stat_next(s)) {
		if (nng_stat_type(s) != NNG_STAT_SCOPE || strcmp(nng_stat_name(s), "dialer") != 0)
			continue;
		nng_stat *id = nng_stat_find(s, "id");
		if (id != NULL && nng_stat_value(id) == (uint64_t)nng_dialer_id(d))
			return s;
	}
	return NULL;
}

/* A call that found no connection: when the dialer's attempts reached a
 * server but failed in the handshake (nng counts the causes in the
 * dialer's statistics, the only place it keeps them), say why in st and
 * return true; false when nothing connected at all (refused, unreachable:
 * the caller's generic message). */
static bool
dial_failed_handshake(rpc_client *c, uint64_t t0_us, shoal_status *st)
{
	nng_stat *snap = NULL;
	uint64_t auth = 0, other = 0;
	if (nng_stats_get(&snap) != 0)
		return false;
	nng_stat *d = find_dialer_stats(snap, c->dialer);
	nng_stat *x;
	if (d != NULL && (x = nng_stat_find(d, "auth")) != NULL)
		auth = nng_stat_value(x);
	/* proto: a peer speaking something else; disconnect: reset during the
	 * handshake; other: closed during it (a TLS server dialed as tcp://)
	 * -- or unreachable, which the message allows for */
	static const char *const others[] = {"proto", "disconnect", "other"};
	for (size_t i = 0; d != NULL && i < sizeof others / sizeof others[0]; i++)
		if ((x = nng_stat_find(d, others[i])) != NULL)
			other += nng_stat_value(x);
	nng_stats_free(snap);
	if (c->tls && auth > 0)
		shoal_status_set(st, SHOAL_UNAVAILABLE,
		    "%s is unavailable: the TLS handshake failed (%llu attempts): the server's "
		    "certificate is not signed by the CA in tls-ca or does not name the host, or the "
		    "server requires a client certificate (tls-cert/tls-key) it accepts",
		    c->url, (unsigned long long)auth);
	else if (auth + other > 0)
		shoal_status_set(st, SHOAL_UNAVAILABLE,
		    "%s is unavailable: no connection within %u ms; %llu attempts were closed before "
		    "the handshake completed or could not reach it (%s)", c->url,
		    (unsigned)((util_mono_us() - t0_us) / 1000), (unsigned long long)(auth + other),
		    c->tls ? "a plain tcp:// server, or one that requires a client certificate "
		             "(tls-cert/tls-key) signed by its CA?"
		           : "if it serves tls+tcp://, dial it with a tls+tcp:// URL and tls-ca");
	return auth + other > 0;
}

/* Fills res (status, epoch, reply) from the packed reply envelope of a
 * call of m to url. */
static void
decode_reply(const ProtobufCMethodDescriptor *m, const char *url, const uint8_t *buf,
    size_t len, rpc_result *res)
{
	shoal_status *st = &res->status;
	Shoal__ReplyEnvelope *rep = shoal__reply_envelope__unpack(NULL, len, buf);
	if (rep == NULL) {
		shoal_status_set(st, SHOAL_INTERNAL, "%s: malformed reply from %s", m->name, url);
		return;
	}
	res->epoch = rep->epoch;
	if (rep->code != 0) {
		shoal_code code = rep->code > 0 && rep->code <= SHOAL_UNAUTHENTICATED
		    ? (shoal_code)rep->code : SHOAL_UNKNOWN;
		shoal_status_set(st, code, "%s", rep->message ? rep->message : "");
	} else {
		res->reply = protobuf_c_message_unpack(m->output, NULL, rep->payload.len,
		    rep->payload.data);
		if (res->reply == NULL)
			shoal_status_set(st, SHOAL_INTERNAL, "%s: malformed %s in reply from %s", m->name,
			    m->output->name, url);
	}
	shoal__reply_envelope__free_unpacked(rep, NULL);
}

shoal_code
rpc_pending_finish(struct rpc_pending *p, rpc_result *res)
{
	shoal_status *st = &res->status;
	rpc_client *c;
	int rv;

	shoal_status_clear(st);
	res->reply = NULL;
	res->epoch = 0;
	res->elapsed_us = 0;
	if (p == NULL)
		return shoal_status_set(st, SHOAL_RESOURCE_EXHAUSTED, "out of memory");
	c = p->c;
	if (p->early.code != SHOAL_OK) {
		*st = p->early;
		free(p);
		return st->code;
	}
	const ProtobufCMethodDescriptor *m = p->m;

	if (p->framed) {
		uint8_t *buf;
		size_t len;
		if (rpc_sock_call_finish(c->fc, &p->fk, &buf, &len, st) == SHOAL_OK) {
			decode_reply(m, c->url, buf, len, res);
			free(buf);
		}
		res->elapsed_us = util_mono_us() - p->t0_us;
		free(p);
		return st->code;
	}
	pthread_mutex_lock(&p->mu);
	while (!p->done)
		pthread_cond_wait(&p->cv, &p->mu);
	pthread_mutex_unlock(&p->mu);
	if (p->linked) {
		pthread_mutex_lock(&c->mu);
		if (p->prev != NULL)
			p->prev->next = p->next;
		else
			c->inflight = p->next;
		if (p->next != NULL)
			p->next->prev = p->prev;
		pthread_mutex_unlock(&c->mu);
	}
	res->elapsed_us = p->t1_us - p->t0_us;
	rv = p->rv;
	bool aborted = atomic_load(&p->aborted) && rv == NNG_ECONNRESET;
	if (rv != 0 && !p->receiving) {
		nng_msg_free(p->msg); /* not sent: still ours */
		if (aborted)
			shoal_status_set(st, SHOAL_UNAVAILABLE,
			    "%s is unavailable: connection lost before the request was sent", c->url);
		else if (rv == NNG_ETIMEDOUT && dial_failed_handshake(c, p->t0_us, st))
			;
		else if (rv == NNG_ETIMEDOUT)
			shoal_status_set(st, SHOAL_UNAVAILABLE,
			    "%s is unavailable: no connection within %u ms", c->url,
			    (unsigned)(res->elapsed_us / 1000));
		else
			nng_to_status(rv, "cannot send to", c->url, st);
		goto done;
	}
	if (rv != 0) {
		if (aborted)
			shoal_status_set(st, SHOAL_UNAVAILABLE,
			    "%s is unavailable: connection lost while waiting for the %s reply", c->url,
			    m->name);
		else if (rv == NNG_ETIMEDOUT)
			shoal_status_set(st, SHOAL_DEADLINE_EXCEEDED,
			    "%s: no reply from %s within %u ms", m->name, c->url, p->timeout_ms);
		else
			nng_to_status(rv, "no reply from", c->url, st);
		goto done;
	}
	nng_msg *msg = nng_aio_get_msg(p->aio);
	decode_reply(m, c->url, nng_msg_body(msg), nng_msg_len(msg), res);
	nng_msg_free(msg); /* unpack copied what it needs */

done:
	if (p->ctx_open)
		nng_ctx_close(p->ctx);
	nng_aio_free(p->aio); /* waits for the callback to have returned */
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
	free(p);
	return st->code;
}

shoal_code
rpc_client_call(rpc_client *c, unsigned method_index, const ProtobufCMessage *input,
    rpc_result *res)
{
	return rpc_client_call_opts(c, method_index, input, NULL, res);
}

shoal_code
rpc_client_call_ex(rpc_client *c, unsigned method_index, const ProtobufCMessage *input,
    uint32_t timeout_ms, const char *request_id, rpc_result *res)
{
	rpc_call_opts o = {.timeout_ms = timeout_ms, .request_id = request_id};
	return rpc_client_call_opts(c, method_index, input, &o, res);
}

shoal_code
rpc_client_call_opts(rpc_client *c, unsigned method_index, const ProtobufCMessage *input,
    const rpc_call_opts *opts, rpc_result *res)
{
	return rpc_pending_finish(rpc_client_start(c, method_index, input, opts), res);
}

/* ===================================================================
 * In-process sub-calls
 * =================================================================== */

shoal_code
rpc_call_local(ProtobufCService *service, unsigned method_index, const ProtobufCMessage *input,
    const void *parent, const rpc_call_opts *opts, rpc_result *res)
{
	const ProtobufCServiceDescriptor *desc = service->descriptor;
	const struct rpc_call *pc = parent;
	Shoal__RequestEnvelope env = SHOAL__REQUEST_ENVELOPE__INIT;
	struct rpc_call call;
	shoal_status *st = &res->status;

	shoal_status_clear(st);
	res->reply = NULL;
	res->epoch = 0;
	res->elapsed_us = 0;
	if (method_index >= desc->n_methods)
		return shoal_status_set(st, SHOAL_INTERNAL, "method index %u out of range",
		    method_index);
	const ProtobufCMethodDescriptor *m = &desc->methods[method_index];
	if (input->descriptor != m->input)
		return shoal_status_set(st, SHOAL_INTERNAL, "%s called with a %s, expects %s", m->name,
		    input->descriptor->name, m->input->name);
	if (!has_handler(service, method_index))
		return shoal_status_set(st, SHOAL_UNIMPLEMENTED, "%s.%s is not implemented here",
		    desc->name, m->name);

	memset(&call, 0, sizeof call);
	call.start_us = util_mono_us();
	call.local = true;
	call.method = m;
	if (opts != NULL && opts->timeout_ms != 0)
		call.timeout_ms = opts->timeout_ms;
	else if (pc != NULL)
		call.timeout_ms = rpc_call_remaining_ms(pc) ? rpc_call_remaining_ms(pc) : 1;
	else
		call.timeout_ms = RPC_DEFAULT_TIMEOUT_MS;
	env.method = (char *)m->name;
	env.timeout_ms = call.timeout_ms;
	env.auth_token = (char *)(pc != NULL ? rpc_call_auth_token(pc) : "");
	env.request_id = (char *)(opts != NULL && opts->request_id != NULL ? opts->request_id
	    : pc != NULL ? rpc_call_request_id(pc) : "");
	env.epoch = opts != NULL ? opts->epoch : 0;
	call.env = &env;

	const char *outer_rid = log_request_id(); /* the parent's, if any */
	log_set_request_id(env.request_id);
	service->invoke(service, method_index, input, reply_closure, &call);
	log_set_request_id(outer_rid);
	if (!call.replied && call.status.code == SHOAL_OK)
		shoal_status_set(&call.status, SHOAL_INTERNAL, "%s did not reply", m->name);
	*st = call.status;
	res->epoch = call.reply_epoch;
	if (st->code == SHOAL_OK) {
		res->reply = protobuf_c_message_unpack(m->output, NULL, call.out_len, call.out);
		if (res->reply == NULL)
			shoal_status_set(st, SHOAL_RESOURCE_EXHAUSTED, "%s: cannot copy the reply",
			    m->name);
	}
	free(call.out);
	res->elapsed_us = util_mono_us() - call.start_us;
	return st->code;
}
