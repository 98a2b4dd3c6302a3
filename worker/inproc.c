/* inproc.c -- in-process calls through the RPC dispatch (inproc.h). */
#include <stdlib.h>

#include "inproc.h"
#include "rpc.h"
#include "shoal.pb-c.h"
#include "util.h"

shoal_code
inproc_call(ProtobufCService *svc, const char *method, const ProtobufCMessage *in,
    ProtobufCMessage **out, shoal_status *st)
{
	const ProtobufCMethodDescriptor *m =
	    protobuf_c_service_descriptor_get_method_by_name(svc->descriptor, method);
	uint8_t stackbuf[4096], *payload = stackbuf, *req, *rep = NULL;
	size_t plen, rlen = 0;
	shoal_code rv;

	if (out)
		*out = NULL;
	if (m == NULL)
		return shoal_status_set(st, SHOAL_INTERNAL, "no method %s in %s", method,
		    svc->descriptor->name);
	/* the same packing a client does (rpc_client_start) */
	plen = protobuf_c_message_get_packed_size(in);
	if (plen > sizeof stackbuf)
		payload = xmalloc(plen);
	protobuf_c_message_pack(in, payload);
	Shoal__RequestEnvelope env = SHOAL__REQUEST_ENVELOPE__INIT;
	env.method = (char *)m->name;
	env.payload.data = payload;
	env.payload.len = plen;
	size_t elen = shoal__request_envelope__get_packed_size(&env);
	req = xmalloc(elen);
	shoal__request_envelope__pack(&env, req);
	if (payload != stackbuf)
		free(payload);
	rv = rpc_dispatch(svc, NULL, req, elen, &rep, &rlen);
	free(req);
	if (rv != SHOAL_OK)
		return shoal_status_set(st, rv, "%s: cannot build the reply", method);
	/* and the unpacking (rpc_pending_finish) */
	Shoal__ReplyEnvelope *re = shoal__reply_envelope__unpack(NULL, rlen, rep);
	free(rep);
	if (re == NULL)
		return shoal_status_set(st, SHOAL_INTERNAL, "%s: malformed reply", method);
	if (re->code != SHOAL_OK) {
		shoal_code c = re->code > 0 && re->code <= SHOAL_UNAUTHENTICATED ? (shoal_code)re->code
		                                                                  : SHOAL_UNKNOWN;
		rv = shoal_status_set(st, c, "%s: %s", method, re->message ? re->message : "");
	} else if (out) {
		*out = protobuf_c_message_unpack(m->output, NULL, re->payload.len, re->payload.data);
		if (*out == NULL)
			rv = shoal_status_set(st, SHOAL_INTERNAL, "%s: malformed %s", method,
			    m->output->name);
	}
	shoal__reply_envelope__free_unpacked(re, NULL);
	return rv;
}
