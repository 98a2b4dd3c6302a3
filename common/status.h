/* status.h -- the one status type of shoal, end to end.
 *
 * Codes are the gRPC set, with the same numbers, so that a code travels
 * unchanged in ReplyEnvelope.code from a worker through the coordinator to
 * the client library and the CLI's exit message.  Every fallible function
 * in shoal returns a shoal_code and, when given a non-NULL shoal_status *,
 * fills in the same code plus a human-readable message.
 *
 * Foreign errors (nng, RocksDB, FAISS, protobuf-c, libpq) are translated
 * where they enter our code; only shoal codes cross module boundaries.
 */
#ifndef SHOAL_STATUS_H
#define SHOAL_STATUS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum shoal_code {
	SHOAL_OK = 0,
	SHOAL_CANCELLED = 1,
	SHOAL_UNKNOWN = 2,
	SHOAL_INVALID_ARGUMENT = 3,
	SHOAL_DEADLINE_EXCEEDED = 4,
	SHOAL_NOT_FOUND = 5,
	SHOAL_ALREADY_EXISTS = 6,
	SHOAL_PERMISSION_DENIED = 7,
	SHOAL_RESOURCE_EXHAUSTED = 8,
	SHOAL_FAILED_PRECONDITION = 9,
	SHOAL_ABORTED = 10,
	SHOAL_OUT_OF_RANGE = 11,
	SHOAL_UNIMPLEMENTED = 12,
	SHOAL_INTERNAL = 13,
	SHOAL_UNAVAILABLE = 14,
	SHOAL_DATA_LOSS = 15,
	SHOAL_UNAUTHENTICATED = 16,
} shoal_code;

#define SHOAL_STATUS_MSG_MAX 512

typedef struct shoal_status {
	shoal_code code;
	char msg[SHOAL_STATUS_MSG_MAX]; /* NUL-terminated; "" when OK */
} shoal_status;

/* Upper-case gRPC name of a code ("INVALID_ARGUMENT"); never NULL. */
const char *shoal_code_name(shoal_code code);

/* Sets st (if not NULL) to code and a printf-formatted message.
 * Returns code, so that `return shoal_status_set(st, ...)` reads well. */
shoal_code shoal_status_set(shoal_status *st, shoal_code code, const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 3, 4)))
#endif
	;

/* Resets st to OK with an empty message. */
void shoal_status_clear(shoal_status *st);

/* Prefixes st->msg with "prefix: " (for context as an error travels up). */
void shoal_status_prefix(shoal_status *st, const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 2, 3)))
#endif
	;

#ifdef __cplusplus
}
#endif
#endif
