/* httpd.h -- a small HTTP server for operators: /metrics on every daemon,
 * the status page on the coordinator.  Built on nng's HTTP server
 * (nng/supplemental/http), so no other dependency.
 *
 * Model.  httpd_create() binds nothing yet; httpd_handle() registers a GET
 * handler for an exact path; httpd_start() listens.  nng parses requests
 * on its own task threads, but handlers run on HTTPD_THREADS threads of
 * our own: a handler may block (the coordinator's status page asks
 * workers over rpc, which must never happen on nng's task threads -- they
 * complete the very I/O such a call waits for).  At most HTTPD_MAX_QUEUED
 * requests wait; more are answered 503 at once, so a flood of scrapes
 * cannot pile up memory.
 *
 * Only GET (and HEAD, which nng derives from GET) is served; request
 * bodies are refused.  There is no TLS and no authentication yet: bind it
 * to a management network or to localhost (docs/operations.md).
 */
#ifndef SHOAL_HTTPD_H
#define SHOAL_HTTPD_H

#include <stdbool.h>
#include <stddef.h>

#include "status.h"

#define HTTPD_THREADS 2
#define HTTPD_MAX_QUEUED 64

typedef struct httpd httpd;

/* What a handler fills.  status defaults to 200 and content_type to
 * "text/plain; charset=utf-8"; body is malloc'ed by the handler (or NULL)
 * and freed by httpd. */
typedef struct httpd_reply {
	int status;
	const char *content_type; /* static string */
	char *body;
	size_t len;
} httpd_reply;

/* path: the request path without the query ("/metrics"); query: what
 * followed '?' ("" when none).  Both valid during the call only. */
typedef void (*httpd_fn)(void *arg, const char *path, const char *query, httpd_reply *out);

/* True when addr is HOST:PORT (IPv6 as [addr]:PORT; port 0..65535, 0 =
 * any free port), optionally prefixed by "http://".  Else false with why.
 * Signature fits config_key.check. */
bool httpd_addr_valid(const char *addr, char *why, size_t cap);

/* The host part of a valid addr, as a client should dial it: a wildcard
 * (0.0.0.0, [::], *) becomes 127.0.0.1; IPv6 keeps its brackets. */
void httpd_addr_host(const char *addr, char *out, size_t cap);

/* Prepares a server for addr (httpd_addr_valid).  INVALID_ARGUMENT for a
 * bad address.  Free with httpd_stop (also when never started). */
shoal_code httpd_create(const char *addr, httpd **out, shoal_status *st);

/* Registers fn for GET path (exact match; "/" is the root).  Call before
 * httpd_start.  arg is borrowed and must outlive the server. */
shoal_code httpd_handle(httpd *h, const char *path, httpd_fn fn, void *arg, shoal_status *st);

/* Starts listening and the handler threads.  UNAVAILABLE when the
 * address cannot be bound (in use, not local). */
shoal_code httpd_start(httpd *h, shoal_status *st);

/* The TCP port bound (useful with port 0), or -1 before start. */
int httpd_port(const httpd *h);

/* Stops listening, answers queued requests 503, waits for running
 * handlers, frees h.  NULL ok. */
void httpd_stop(httpd *h);

/* Growable text buffer for handlers building a body (aborts on OOM, as
 * the daemons do). */
typedef struct httpd_buf {
	char *p;
	size_t len, cap;
} httpd_buf;

void httpd_buf_printf(httpd_buf *b, const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 2, 3)))
#endif
	;
void httpd_buf_put(httpd_buf *b, const char *s, size_t n);
/* Appends s as the contents of a JSON string (no quotes added). */
void httpd_buf_json(httpd_buf *b, const char *s);
/* Appends s escaped for HTML text and attribute values. */
void httpd_buf_html(httpd_buf *b, const char *s);
/* Hands the buffer to out (body, len); b is reset. */
void httpd_buf_reply(httpd_buf *b, httpd_reply *out, const char *content_type);

#endif
