/* httpd.c -- see httpd.h for the model.
 *
 * Hand-off.  nng calls route_cb(aio) on one of its task threads for each
 * request that matched a handler.  route_cb registers a cancel function
 * (nng_aio_defer), queues the aio and returns at once.  A handler thread
 * takes it off the queue, runs the handler without any lock, builds the
 * nng_http_res and finishes the aio; nng then writes the response.
 *
 * Exactly-once finish.  An aio is finished by whoever removes it from the
 * queue: a handler thread (after running the handler), cancel_cb (when nng
 * cancels a queued request: connection closed, server stopping), or
 * httpd_stop (503 for whatever is still queued).  An aio being handled is
 * no longer queued, so cancel_cb leaves it to its handler thread.
 *
 * Stop order: nng_http_server_stop (no new requests; nng cancels queued
 * ones) -> drain and 503 the rest -> join the threads -> release the
 * server (which frees the handlers it owns) -> free our state.
 */
#include "httpd.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/supplemental/http/http.h>

#include "log.h"
#include "util.h"

#define MAX_ROUTES 16

typedef struct route {
	struct httpd *h;
	char path[128];
	httpd_fn fn;
	void *arg;
} route;

typedef struct qitem {
	nng_aio *aio;
	route *rt;
	struct qitem *next;
} qitem;

struct httpd {
	char url[300];
	nng_url *nurl;
	nng_http_server *srv;
	bool started;
	int port;
	route routes[MAX_ROUTES];
	int nroutes;

	pthread_mutex_t mu;
	pthread_cond_t cv;
	qitem *head, *tail;
	size_t queued;
	bool stopping;
	pthread_t threads[HTTPD_THREADS];
	int nthreads;
};

/* ===================================================================
 * Buffers
 * =================================================================== */

static void
buf_reserve(httpd_buf *b, size_t more)
{
	if (b->len + more + 1 <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 4096;
	while (cap < b->len + more + 1)
		cap *= 2;
	b->p = xrealloc(b->p, cap);
	b->cap = cap;
}

void
httpd_buf_put(httpd_buf *b, const char *s, size_t n)
{
	buf_reserve(b, n);
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void
httpd_buf_printf(httpd_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n <= 0)
		return;
	buf_reserve(b, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void
httpd_buf_json(httpd_buf *b, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
		char esc[8];
		switch (*p) {
		case '"': httpd_buf_put(b, "\\\"", 2); break;
		case '\\': httpd_buf_put(b, "\\\\", 2); break;
		case '\n': httpd_buf_put(b, "\\n", 2); break;
		case '\r': httpd_buf_put(b, "\\r", 2); break;
		case '\t': httpd_buf_put(b, "\\t", 2); break;
		default:
			if (*p < 0x20 || *p == '<' || *p == '>' || *p == '&') {
				/* < > & escaped too: safe to embed in a <script> */
				snprintf(esc, sizeof esc, "\\u%04x", *p);
				httpd_buf_put(b, esc, 6);
			} else {
				httpd_buf_put(b, (const char *)p, 1);
			}
		}
	}
}

void
httpd_buf_html(httpd_buf *b, const char *s)
{
	for (const char *p = s ? s : ""; *p; p++) {
		switch (*p) {
		case '<': httpd_buf_put(b, "&lt;", 4); break;
		case '>': httpd_buf_put(b, "&gt;", 4); break;
		case '&': httpd_buf_put(b, "&amp;", 5); break;
		case '"': httpd_buf_put(b, "&quot;", 6); break;
		case '\'': httpd_buf_put(b, "&#39;", 5); break;
		default: httpd_buf_put(b, p, 1);
		}
	}
}

void
httpd_buf_reply(httpd_buf *b, httpd_reply *out, const char *content_type)
{
	free(out->body);
	out->body = b->p;
	out->len = b->len;
	out->content_type = content_type;
	b->p = NULL;
	b->len = b->cap = 0;
}

/* ===================================================================
 * Addresses
 * =================================================================== */

bool
httpd_addr_valid(const char *addr, char *why, size_t cap)
{
	const char *a = addr, *colon;
	uint32_t port;

	if (strncmp(a, "http://", 7) == 0)
		a += 7;
	if (a[0] == '[') {
		const char *rb = strchr(a, ']');
		if (rb == NULL || rb == a + 1 || rb[1] != ':') {
			snprintf(why, cap, "expected [IPv6]:PORT");
			return false;
		}
		colon = rb + 1;
	} else {
		colon = strrchr(a, ':');
		if (colon == NULL || colon == a) {
			snprintf(why, cap, "expected HOST:PORT, e.g. 127.0.0.1:9770");
			return false;
		}
		for (const char *p = a; p < colon; p++)
			if (*p == '/' || *p == ' ' || *p == ':') {
				snprintf(why, cap, "expected HOST:PORT, e.g. 127.0.0.1:9770");
				return false;
			}
	}
	if (!util_parse_u32(colon + 1, &port) || port > 65535) {
		snprintf(why, cap, "port must be a number in 0..65535");
		return false;
	}
	return true;
}

void
httpd_addr_host(const char *addr, char *out, size_t cap)
{
	const char *a = strncmp(addr, "http://", 7) == 0 ? addr + 7 : addr;
	const char *end = a[0] == '[' ? strchr(a, ']') : strrchr(a, ':');

	if (end != NULL && a[0] == '[')
		end++;
	size_t n = end != NULL ? (size_t)(end - a) : strlen(a);

	if ((n == 7 && strncmp(a, "0.0.0.0", 7) == 0) || (n == 4 && strncmp(a, "[::]", 4) == 0) ||
	    (n == 1 && a[0] == '*'))
		snprintf(out, cap, "127.0.0.1");
	else
		snprintf(out, cap, "%.*s", (int)n, a);
}

/* ===================================================================
 * Request hand-off
 * =================================================================== */

static void
finish_error(nng_aio *aio, uint16_t code)
{
	nng_http_res *res;
	if (nng_http_res_alloc_error(&res, code) != 0) {
		nng_aio_finish(aio, NNG_ENOMEM);
		return;
	}
	nng_aio_set_output(aio, 0, res);
	nng_aio_finish(aio, 0);
}

/* Removes aio from the queue; true when it was there.  Caller holds mu. */
static bool
unqueue_locked(httpd *h, nng_aio *aio, route **rt)
{
	for (qitem **pp = &h->head, *prev = NULL; *pp; prev = *pp, pp = &(*pp)->next) {
		if ((*pp)->aio == aio) {
			qitem *q = *pp;
			*pp = q->next;
			if (h->tail == q)
				h->tail = prev;
			h->queued--;
			if (rt)
				*rt = q->rt;
			free(q);
			return true;
		}
	}
	return false;
}

static void
cancel_cb(nng_aio *aio, void *arg, int rv)
{
	httpd *h = ((route *)arg)->h;
	pthread_mutex_lock(&h->mu);
	bool mine = unqueue_locked(h, aio, NULL);
	pthread_mutex_unlock(&h->mu);
	if (mine)
		nng_aio_finish(aio, rv);
}

static void
route_cb(nng_aio *aio)
{
	nng_http_handler *hh = nng_aio_get_input(aio, 1);
	route *rt = nng_http_handler_get_data(hh);
	httpd *h = rt->h;

	pthread_mutex_lock(&h->mu);
	if (h->stopping || h->queued >= HTTPD_MAX_QUEUED) {
		pthread_mutex_unlock(&h->mu);
		finish_error(aio, NNG_HTTP_STATUS_SERVICE_UNAVAILABLE);
		return;
	}
	qitem *q = malloc(sizeof *q);
	if (q == NULL) {
		pthread_mutex_unlock(&h->mu);
		finish_error(aio, NNG_HTTP_STATUS_SERVICE_UNAVAILABLE);
		return;
	}
	q->aio = aio;
	q->rt = rt;
	q->next = NULL;
	if (h->tail)
		h->tail->next = q;
	else
		h->head = q;
	h->tail = q;
	h->queued++;
	/* under mu: a cancel cannot look for the aio before it is queued */
	nng_aio_defer(aio, cancel_cb, rt);
	pthread_cond_signal(&h->cv);
	pthread_mutex_unlock(&h->mu);
}

static void
serve(route *rt, nng_aio *aio)
{
	nng_http_req *req = nng_aio_get_input(aio, 0);
	const char *uri = nng_http_req_get_uri(req);
	const char *qm = strchr(uri, '?');
	char path[256];
	httpd_reply rep = {.status = 200};
	nng_http_res *res;

	snprintf(path, sizeof path, "%.*s", (int)(qm ? (size_t)(qm - uri) : strlen(uri)), uri);
	rt->fn(rt->arg, path, qm ? qm + 1 : "", &rep);
	if (nng_http_res_alloc(&res) != 0) {
		free(rep.body);
		nng_aio_finish(aio, NNG_ENOMEM);
		return;
	}
	nng_http_res_set_status(res, (uint16_t)(rep.status ? rep.status : 200));
	nng_http_res_set_header(res, "Content-Type",
	    rep.content_type ? rep.content_type : "text/plain; charset=utf-8");
	nng_http_res_set_header(res, "Cache-Control", "no-store");
	if (rep.len > 0 && nng_http_res_copy_data(res, rep.body, rep.len) != 0) {
		nng_http_res_free(res);
		free(rep.body);
		nng_aio_finish(aio, NNG_ENOMEM);
		return;
	}
	free(rep.body);
	nng_aio_set_output(aio, 0, res);
	nng_aio_finish(aio, 0);
}

static void *
thread_main(void *arg)
{
	httpd *h = arg;

	pthread_mutex_lock(&h->mu);
	for (;;) {
		while (h->head == NULL && !h->stopping)
			pthread_cond_wait(&h->cv, &h->mu);
		if (h->head == NULL)
			break; /* stopping and drained */
		if (h->stopping)
			break; /* httpd_stop answers the rest */
		nng_aio *aio = h->head->aio;
		route *rt = NULL;
		unqueue_locked(h, aio, &rt);
		pthread_mutex_unlock(&h->mu);
		serve(rt, aio);
		pthread_mutex_lock(&h->mu);
	}
	pthread_mutex_unlock(&h->mu);
	return NULL;
}

/* ===================================================================
 * Life cycle
 * =================================================================== */

shoal_code
httpd_create(const char *addr, httpd **out, shoal_status *st)
{
	char why[128];
	httpd *h;

	*out = NULL;
	if (addr == NULL || !httpd_addr_valid(addr, why, sizeof why))
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT, "bad HTTP address '%s': %s",
		    addr ? addr : "", why);
	h = xcalloc(1, sizeof *h);
	h->port = -1;
	snprintf(h->url, sizeof h->url, "%s%s", strncmp(addr, "http://", 7) == 0 ? "" : "http://",
	    addr);
	pthread_mutex_init(&h->mu, NULL);
	pthread_cond_init(&h->cv, NULL);
	int rv;
	if ((rv = nng_url_parse(&h->nurl, h->url)) != 0 ||
	    (rv = nng_http_server_hold(&h->srv, h->nurl)) != 0) {
		shoal_status_set(st, SHOAL_INVALID_ARGUMENT, "bad HTTP address '%s': %s", addr,
		    nng_strerror(rv));
		httpd_stop(h);
		return st ? st->code : SHOAL_INVALID_ARGUMENT;
	}
	*out = h;
	return SHOAL_OK;
}

shoal_code
httpd_handle(httpd *h, const char *path, httpd_fn fn, void *arg, shoal_status *st)
{
	nng_http_handler *hh;
	int rv;

	if (h->nroutes == MAX_ROUTES || strlen(path) >= sizeof h->routes[0].path)
		return shoal_status_set(st, SHOAL_INTERNAL, "httpd: too many routes or path too long");
	route *rt = &h->routes[h->nroutes];
	rt->h = h;
	snprintf(rt->path, sizeof rt->path, "%s", path);
	rt->fn = fn;
	rt->arg = arg;
	if ((rv = nng_http_handler_alloc(&hh, path, route_cb)) != 0)
		return shoal_status_set(st, SHOAL_INTERNAL, "httpd: %s", nng_strerror(rv));
	nng_http_handler_collect_body(hh, false, 0);
	nng_http_handler_set_data(hh, rt, NULL);
	if ((rv = nng_http_server_add_handler(h->srv, hh)) != 0) {
		nng_http_handler_free(hh);
		return shoal_status_set(st, SHOAL_INTERNAL, "httpd: cannot add %s: %s", path,
		    nng_strerror(rv));
	}
	h->nroutes++; /* the server owns hh now */
	return SHOAL_OK;
}

shoal_code
httpd_start(httpd *h, shoal_status *st)
{
	nng_sockaddr sa;
	int rv;

	if ((rv = nng_http_server_start(h->srv)) != 0)
		return shoal_status_set(st, SHOAL_UNAVAILABLE, "cannot listen on %s: %s", h->url,
		    nng_strerror(rv));
	h->started = true;
	if (nng_http_server_get_addr(h->srv, &sa) == 0) {
		if (sa.s_family == NNG_AF_INET)
			h->port = ntohs(sa.s_in.sa_port);
		else if (sa.s_family == NNG_AF_INET6)
			h->port = ntohs(sa.s_in6.sa_port);
	}
	for (int i = 0; i < HTTPD_THREADS; i++) {
		if (pthread_create(&h->threads[i], NULL, thread_main, h) != 0)
			return shoal_status_set(st, SHOAL_RESOURCE_EXHAUSTED, "httpd: cannot start threads");
		h->nthreads++;
	}
	return SHOAL_OK;
}

int
httpd_port(const httpd *h)
{
	return h ? h->port : -1;
}

void
httpd_stop(httpd *h)
{
	if (h == NULL)
		return;
	if (h->srv != NULL && h->started)
		nng_http_server_stop(h->srv);
	pthread_mutex_lock(&h->mu);
	h->stopping = true;
	pthread_cond_broadcast(&h->cv);
	pthread_mutex_unlock(&h->mu);
	for (int i = 0; i < h->nthreads; i++)
		pthread_join(h->threads[i], NULL);
	/* whatever is still queued: 503, each finished exactly once */
	for (;;) {
		pthread_mutex_lock(&h->mu);
		nng_aio *aio = h->head ? h->head->aio : NULL;
		if (aio != NULL)
			unqueue_locked(h, aio, NULL);
		pthread_mutex_unlock(&h->mu);
		if (aio == NULL)
			break;
		finish_error(aio, NNG_HTTP_STATUS_SERVICE_UNAVAILABLE);
	}
	if (h->srv != NULL)
		nng_http_server_release(h->srv);
	if (h->nurl != NULL)
		nng_url_free(h->nurl);
	pthread_cond_destroy(&h->cv);
	pthread_mutex_destroy(&h->mu);
	free(h);
}
