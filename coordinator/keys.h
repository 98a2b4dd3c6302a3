/* keys.h -- coordinator access control: the cluster secret, the admin key
 * and tenant API keys (keys.c has the rules; docs/security.md). */
#ifndef SHOAL_COORD_KEYS_H
#define SHOAL_COORD_KEYS_H

#include <protobuf-c/protobuf-c.h>

#include "catalog.h"
#include "status.h"

typedef struct keys_auth {
	const char *secret;    /* cluster secret; NULL = none (development) */
	const char *admin_key; /* NULL = none: every client method is open */
	catalog *cat;          /* tenant keys; borrowed */
} keys_auth;

/* An rpc_server_opts.authorize_request hook; arg is a keys_auth * that
 * must outlive the server.  UNAUTHENTICATED / PERMISSION_DENIED with a
 * message naming the method and never a key. */
shoal_code keys_authorize(void *arg, const char *method, const char *token,
    const ProtobufCMessage *input, shoal_status *st);

#endif /* SHOAL_COORD_KEYS_H */
