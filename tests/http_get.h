/* http_get.h -- a minimal HTTP/1.1 GET client over a raw TCP socket, for
 * tests that scrape /metrics or read the status page (libcurl is not a
 * dependency).  Header-only; used by unit and integration tests.
 *
 * http_get("127.0.0.1", 9770, "/metrics", &resp) connects, sends one
 * request with "Connection: close", reads to EOF within timeout_ms and
 * splits the status code, the headers and the body (Content-Length or
 * EOF; chunked bodies are not decoded -- our server never sends them).
 * The body is NUL-terminated; free with http_resp_free.
 */
#ifndef SHOAL_TEST_HTTP_GET_H
#define SHOAL_TEST_HTTP_GET_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct http_resp {
	int status;       /* 0 when no valid response */
	char *headers;    /* raw header block, NUL-terminated */
	char *body;       /* NUL-terminated */
	size_t body_len;
} http_resp;

static inline void
http_resp_free(http_resp *r)
{
	free(r->headers);
	free(r->body);
	memset(r, 0, sizeof *r);
}

/* The value of header name (case-insensitive) copied into out, or "". */
static inline const char *
http_resp_header(const http_resp *r, const char *name, char *out, size_t cap)
{
	size_t nl = strlen(name);
	out[0] = '\0';
	for (const char *p = r->headers; p && *p;) {
		const char *eol = strstr(p, "\r\n");
		size_t ll = eol ? (size_t)(eol - p) : strlen(p);
		if (ll > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
			const char *v = p + nl + 1;
			while (*v == ' ')
				v++;
			snprintf(out, cap, "%.*s", (int)(ll - (size_t)(v - p)), v);
			return out;
		}
		p = eol ? eol + 2 : p + ll;
	}
	return out;
}

/* Returns 0 on a complete response, -1 otherwise (r->status 0). */
static inline int
http_get_timeout(const char *ip, int port, const char *path, http_resp *r, int timeout_ms)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	char req[512];
	size_t cap = 65536, len = 0;
	char *buf;
	int fd;

	memset(r, 0, sizeof *r);
	if (inet_pton(AF_INET, ip, &a.sin_addr) != 1)
		return -1;
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
		close(fd);
		return -1;
	}
	int n = snprintf(req, sizeof req,
	    "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUser-Agent: shoal-test\r\nConnection: close\r\n\r\n",
	    path, ip, port);
	if (write(fd, req, (size_t)n) != n) {
		close(fd);
		return -1;
	}
	buf = malloc(cap);
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct timespec t1;
		clock_gettime(CLOCK_MONOTONIC, &t1);
		long left = timeout_ms - ((t1.tv_sec - t0.tv_sec) * 1000L +
		                             (t1.tv_nsec - t0.tv_nsec) / 1000000L);
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
			break;
		if (len + 4096 > cap)
			buf = realloc(buf, cap *= 2);
		ssize_t got = read(fd, buf + len, cap - len - 1);
		if (got <= 0)
			break;
		len += (size_t)got;
	}
	close(fd);
	buf[len] = '\0';
	char *hend = strstr(buf, "\r\n\r\n");
	if (hend == NULL || sscanf(buf, "HTTP/1.%*d %d", &r->status) != 1) {
		r->status = 0;
		free(buf);
		return -1;
	}
	*hend = '\0';
	r->headers = strdup(buf);
	size_t hlen = (size_t)(hend - buf) + 4;
	r->body_len = len - hlen;
	r->body = malloc(r->body_len + 1);
	memcpy(r->body, buf + hlen, r->body_len);
	r->body[r->body_len] = '\0';
	free(buf);
	char cl[32];
	http_resp_header(r, "Content-Length", cl, sizeof cl);
	if (cl[0] && (size_t)atol(cl) != r->body_len) {
		r->status = 0; /* truncated */
		return -1;
	}
	return 0;
}

static inline int
http_get(const char *ip, int port, const char *path, http_resp *r)
{
	return http_get_timeout(ip, port, path, r, 10000);
}

/* Value of the first sample line `name{labels} value` (or `name value`
 * when labels is NULL) in a Prometheus text body whose label set
 * contains every `k="v"` pair of labels (comma separated); -1 when absent. */
static inline double
prom_value(const char *body, const char *name, const char *labels)
{
	size_t nl = strlen(name);
	for (const char *p = body; p && *p;) {
		const char *eol = strchr(p, '\n');
		size_t ll = eol ? (size_t)(eol - p) : strlen(p);
		if (p[0] != '#' && ll > nl && strncmp(p, name, nl) == 0 &&
		    (p[nl] == ' ' || p[nl] == '{')) {
			char line[1024];
			snprintf(line, sizeof line, "%.*s", (int)ll, p);
			bool ok = true;
			if (labels != NULL) {
				char want[512];
				snprintf(want, sizeof want, "%s", labels);
				for (char *save = NULL, *tok = strtok_r(want, ",", &save); tok;
				     tok = strtok_r(NULL, ",", &save))
					if (strstr(line, tok) == NULL)
						ok = false;
			} else if (p[nl] != ' ') {
				ok = false;
			}
			if (ok) {
				const char *sp = strrchr(line, ' ');
				return sp ? strtod(sp + 1, NULL) : -1;
			}
		}
		p = eol ? eol + 1 : NULL;
	}
	return -1;
}

#endif
