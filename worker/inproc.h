/* inproc.h -- calling a Worker service in this process, exactly as its RPC
 * server would run a request from the network, minus the transport.
 *
 * inproc_call packs the input into a RequestEnvelope, runs rpc_dispatch()
 * (the function the server calls for every request: envelope decode,
 * method lookup, payload decode, handler, reply envelope), and unpacks the
 * reply as a client does.  Used by measurement tools that must time the
 * worker's own request path without nng (bench/target_worker.c,
 * worker/tools/search_path_bench.c), never by the daemons.
 */
#ifndef SHOAL_INPROC_H
#define SHOAL_INPROC_H

#include <protobuf-c/protobuf-c.h>

#include "status.h"

/* Runs method `method` (e.g. "Search") of svc (a shard_service_rpc()) with
 * input `in`.  On OK, *out (when out != NULL) is the unpacked reply, owned
 * by the caller (free with protobuf_c_message_free_unpacked); on failure
 * *out is NULL and st holds the reply's status (prefixed with the method).
 * INTERNAL for an unknown method name.  Thread-safe as the handlers are. */
shoal_code inproc_call(ProtobufCService *svc, const char *method, const ProtobufCMessage *in,
    ProtobufCMessage **out, shoal_status *st);

#endif
