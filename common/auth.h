/* auth.h -- node authentication: the shared cluster secret.
 *
 * Every daemon of a cluster may be given the same secret
 * (--cluster-secret-file PATH, docs/security.md).  The coordinator puts it
 * as the auth token of every request it sends to a worker and a worker
 * puts it on its RegisterWorker heartbeats; a worker then refuses every
 * request not carrying it, and the coordinator refuses RegisterWorker
 * without it, both with UNAUTHENTICATED (counted like any other status in
 * shoal_rpc_requests_total{code="UNAUTHENTICATED"}).
 *
 * Invariants: secrets are compared in time independent of where they
 * differ (auth_equal); the secret never appears in a log line or an error
 * message.  With no secret configured a daemon accepts everything (local
 * development) and says so in a warning at start.
 */
#ifndef SHOAL_AUTH_H
#define SHOAL_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "status.h"

#define AUTH_SECRET_MIN 16u   /* bytes; shorter secrets are refused */
#define AUTH_SECRET_MAX 4096u /* a secret file is small; refuse more */

/* Reads a secret (the cluster secret, the admin key; `what` names it in
 * messages, e.g. "cluster secret") from the file at path: its content with
 * trailing newline / carriage return / space characters removed.  Refuses
 * (INVALID_ARGUMENT, naming the path, never the content) a secret shorter
 * than AUTH_SECRET_MIN or longer than AUTH_SECRET_MAX bytes or one holding
 * a NUL byte; NOT_FOUND / PERMISSION_DENIED when the file cannot be read.
 * When the file is readable by group or others, *loose_mode is set true
 * (the caller warns) -- loose_mode may be NULL.  On OK *out is the secret,
 * NUL-terminated, owned by the caller (free()). */
shoal_code auth_read_secret_file(const char *path, const char *what, char **out,
    bool *loose_mode, shoal_status *st);

/* True when the NUL-terminated strings a and b are equal.  Its running
 * time depends only on their lengths, not on where they differ. NULL is
 * the empty string. */
bool auth_equal(const char *a, const char *b);

/* An rpc_server_opts.authorize hook (rpc.h) for a service whose every
 * method needs the cluster secret: arg is the secret (const char *, NULL
 * = accept everything).  UNAUTHENTICATED for a missing or wrong token. */
shoal_code auth_require_secret(void *arg, const char *method, const char *token,
    shoal_status *st);

#endif /* SHOAL_AUTH_H */
