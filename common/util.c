/* util.c -- see util.h. */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

uint64_t
util_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t
util_mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t
util_mono_ms(void)
{
	return util_mono_us() / 1000u;
}

void
util_sleep_ms(uint32_t ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

shoal_code
util_mkdir_p(const char *path, shoal_status *st)
{
	char buf[4096];
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof buf)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT, "bad directory path '%s'", path);
	memcpy(buf, path, n + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) != 0 && errno != EEXIST)
			return shoal_status_set(st, SHOAL_INTERNAL, "cannot create directory '%s': %s",
			    buf, strerror(errno));
		*p = '/';
	}
	if (mkdir(buf, 0755) != 0 && errno != EEXIST)
		return shoal_status_set(st, SHOAL_INTERNAL, "cannot create directory '%s': %s", buf,
		    strerror(errno));
	struct stat sb;
	if (stat(buf, &sb) != 0 || !S_ISDIR(sb.st_mode))
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT, "'%s' is not a directory", buf);
	return SHOAL_OK;
}

shoal_code
util_read_file(const char *path, char **out, size_t *len, shoal_status *st)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0;

	*out = NULL;
	if (f == NULL) {
		if (errno == ENOENT)
			return shoal_status_set(st, SHOAL_NOT_FOUND, "%s: no such file", path);
		return shoal_status_set(st, SHOAL_INTERNAL, "cannot open %s: %s", path, strerror(errno));
	}
	for (;;) {
		if (n + 4096 + 1 > cap) {
			cap = cap ? cap * 2 : 8192;
			char *nb = realloc(buf, cap);
			if (nb == NULL) {
				free(buf);
				fclose(f);
				return shoal_status_set(st, SHOAL_RESOURCE_EXHAUSTED, "out of memory reading %s", path);
			}
			buf = nb;
		}
		size_t r = fread(buf + n, 1, cap - n - 1, f);
		n += r;
		if (r == 0)
			break;
	}
	int err = ferror(f);
	fclose(f);
	if (err) {
		free(buf);
		return shoal_status_set(st, SHOAL_INTERNAL, "error reading %s", path);
	}
	buf[n] = '\0';
	*out = buf;
	if (len)
		*len = n;
	return SHOAL_OK;
}

shoal_code
util_write_file_atomic(const char *path, const void *data, size_t len, shoal_status *st)
{
	char tmp[4200], dir[4200];
	int fd;

	if (snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof tmp)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT, "path too long: %s", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return shoal_status_set(st, SHOAL_INTERNAL, "cannot create %s: %s", tmp, strerror(errno));
	const char *p = data;
	size_t left = len;
	while (left > 0) {
		ssize_t w = write(fd, p, left);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			close(fd);
			unlink(tmp);
			return shoal_status_set(st, e == ENOSPC ? SHOAL_RESOURCE_EXHAUSTED : SHOAL_INTERNAL,
			    "cannot write %s: %s", tmp, strerror(e));
		}
		p += w;
		left -= (size_t)w;
	}
	if (fsync(fd) != 0 || close(fd) != 0) {
		int e = errno;
		unlink(tmp);
		return shoal_status_set(st, SHOAL_INTERNAL, "cannot sync %s: %s", tmp, strerror(e));
	}
	if (rename(tmp, path) != 0) {
		int e = errno;
		unlink(tmp);
		return shoal_status_set(st, SHOAL_INTERNAL, "cannot rename %s: %s", tmp, strerror(e));
	}
	/* make the rename itself durable */
	snprintf(dir, sizeof dir, "%s", path);
	int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY);
	if (dfd >= 0) {
		(void)fsync(dfd);
		close(dfd);
	}
	return SHOAL_OK;
}

void
util_random_hex(char *out, size_t nbytes)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char b[64];
	size_t got = 0;
	int fd;

	if (nbytes > sizeof b)
		nbytes = sizeof b;
	fd = open("/dev/urandom", O_RDONLY);
	if (fd >= 0) {
		ssize_t r = read(fd, b, nbytes);
		got = r > 0 ? (size_t)r : 0;
		close(fd);
	}
	if (got < nbytes) {
		/* no urandom: fall back to time and pid; identity only, not secrets */
		uint64_t x = util_mono_us() ^ ((uint64_t)getpid() << 32) ^ util_now_ms();
		for (size_t i = got; i < nbytes; i++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			b[i] = (unsigned char)x;
		}
	}
	for (size_t i = 0; i < nbytes; i++) {
		out[2 * i] = hex[b[i] >> 4];
		out[2 * i + 1] = hex[b[i] & 15];
	}
	out[2 * nbytes] = '\0';
}

bool
util_parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (s == NULL || *s == '\0')
		return false;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return false;
		unsigned d = (unsigned)(*p - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

bool
util_parse_u32(const char *s, uint32_t *out)
{
	uint64_t v;
	if (!util_parse_u64(s, &v) || v > UINT32_MAX)
		return false;
	*out = (uint32_t)v;
	return true;
}

bool
util_parse_int(const char *s, int *out)
{
	uint64_t v;
	bool neg = s != NULL && *s == '-';
	if (!util_parse_u64(neg ? s + 1 : s, &v) || v > 2147483647u)
		return false;
	*out = neg ? -(int)v : (int)v;
	return true;
}

shoal_code
util_check_name(const char *what, const char *name, shoal_status *st)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT, "%s name is empty", what);
	if (n > 63)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "%s name '%.63s...' is too long (%zu characters; at most 63)", what, name, n);
	if (name[0] == '.' || name[0] == '-')
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "%s name '%s' must not start with '%c'", what, name, name[0]);
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			c == '_' || c == '-' || c == '.'))
			return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
			    "%s name '%s' has an invalid character at position %zu "
			    "(allowed: letters, digits, '_', '-', '.')", what, name, i + 1);
	}
	return SHOAL_OK;
}

static void
oom(size_t n)
{
	fprintf(stderr, "shoal: out of memory allocating %zu bytes\n", n);
	abort();
}

void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (p == NULL)
		oom(n);
	return p;
}

void *
xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (p == NULL)
		oom(n * size);
	return p;
}

void *
xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (q == NULL)
		oom(n);
	return q;
}

char *
xstrdup(const char *s)
{
	char *p = strdup(s);
	if (p == NULL)
		oom(strlen(s) + 1);
	return p;
}

void
util_put_be64(unsigned char *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (unsigned char)v;
		v >>= 8;
	}
}

uint64_t
util_get_be64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

void
util_put_be32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

uint32_t
util_get_be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

void
util_put_be16(unsigned char *p, uint16_t v)
{
	p[0] = (unsigned char)(v >> 8);
	p[1] = (unsigned char)v;
}

uint16_t
util_get_be16(const unsigned char *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}
