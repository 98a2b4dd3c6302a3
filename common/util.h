/* util.h -- small helpers shared by every shoal program: clocks, files,
 * number parsing, random identifiers, allocation that aborts on OOM.
 *
 * Allocation policy: the daemons abort on out-of-memory (as Redis does):
 * there is no useful recovery and half-handled OOM paths are where bugs
 * live.  xmalloc & co implement that policy.  The client library
 * (client/) does not use them: it returns RESOURCE_EXHAUSTED instead.
 */
#ifndef SHOAL_UTIL_H
#define SHOAL_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h"

/* Wall clock, milliseconds since the Unix epoch. */
uint64_t util_now_ms(void);
/* Monotonic clock in milliseconds / microseconds (for durations). */
uint64_t util_mono_ms(void);
uint64_t util_mono_us(void);
void util_sleep_ms(uint32_t ms);

/* mkdir -p; OK if it already exists. */
shoal_code util_mkdir_p(const char *path, shoal_status *st);

/* Reads a whole file into a malloc'ed, NUL-terminated buffer (*out, caller
 * frees).  NOT_FOUND if it does not exist. */
shoal_code util_read_file(const char *path, char **out, size_t *len, shoal_status *st);

/* Writes data to path atomically: temp file, fsync, rename, fsync dir. */
shoal_code util_write_file_atomic(const char *path, const void *data, size_t len,
    shoal_status *st);

/* Fills out with 2*nbytes lower-case hex digits and a NUL (urandom). */
void util_random_hex(char *out, size_t nbytes);

/* Strict decimal parsing: whole string, no sign, no overflow. */
bool util_parse_u64(const char *s, uint64_t *out);
bool util_parse_u32(const char *s, uint32_t *out);
bool util_parse_int(const char *s, int *out);

/* Valid tenant / collection / worker name: 1..63 chars of [A-Za-z0-9_.-],
 * not starting with '.' or '-'. Sets st (INVALID_ARGUMENT) when not. */
shoal_code util_check_name(const char *what, const char *name, shoal_status *st);

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);

/* Big-endian fixed-width integer encoding (keys sort numerically). */
void util_put_be64(unsigned char *p, uint64_t v);
uint64_t util_get_be64(const unsigned char *p);
void util_put_be32(unsigned char *p, uint32_t v);
uint32_t util_get_be32(const unsigned char *p);
void util_put_be16(unsigned char *p, uint16_t v);
uint16_t util_get_be16(const unsigned char *p);

#endif
