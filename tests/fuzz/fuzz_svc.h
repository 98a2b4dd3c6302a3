/* fuzz_svc.h -- the service handler the rpc fuzz targets serve: every
 * method answers an empty output message, so the fuzzers reach the rpc
 * layer's decoding and framing, not the services' own validation (which
 * the unit tests exercise with real components).  Header-only: each
 * target is built from its own list of sources by tests/fuzz/run.sh. */
#ifndef SHOAL_FUZZ_SVC_H
#define SHOAL_FUZZ_SVC_H

#include <stdlib.h>

#include <protobuf-c/protobuf-c.h>

static void
answer_empty(ProtobufCService *service, unsigned idx, const ProtobufCMessage *input,
    ProtobufCClosure closure, void *closure_data)
{
	const ProtobufCMessageDescriptor *od = service->descriptor->methods[idx].output;
	(void)input;
	void *out = calloc(1, od->sizeof_message);
	if (out == NULL)
		abort();
	protobuf_c_message_init(od, out);
	closure(out, closure_data);
	free(out);
}

#endif
