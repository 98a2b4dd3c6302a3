/* rpc_testsvc.h -- Worker-service handlers and helpers shared by the rpc
 * unit tests (test_rpc*.c): header-only, each test is its own program.
 *   testsvc_count:  Count answers shard_id * 2;
 *   testsvc_search: Search sleeps k ms (a slow handler), then answers;
 *   testsvc_method: a Worker method's index by name;
 *   call_status:    a thread body making one Status call (struct caller). */
#ifndef SHOAL_RPC_TESTSVC_H
#define SHOAL_RPC_TESTSVC_H

#include "rpc.h"
#include "shoal.pb-c.h"
#include "util.h"

static inline void
testsvc_count(Shoal__Worker_Service *svc, const Shoal__ShardCountRequest *in,
    Shoal__CountReply_Closure done, void *cd)
{
	(void)svc;
	Shoal__CountReply out = SHOAL__COUNT_REPLY__INIT;
	out.count = in->shard_id * 2;
	done(&out, cd);
}

static inline void
testsvc_search(Shoal__Worker_Service *svc, const Shoal__ShardSearchRequest *in,
    Shoal__SearchReply_Closure done, void *cd)
{
	(void)svc;
	util_sleep_ms(in->k);
	Shoal__SearchReply out = SHOAL__SEARCH_REPLY__INIT;
	out.complete = true;
	done(&out, cd);
}

static inline unsigned
testsvc_method(const char *name)
{
	const ProtobufCMethodDescriptor *m =
	    protobuf_c_service_descriptor_get_method_by_name(&shoal__worker__descriptor, name);
	return (unsigned)(m - shoal__worker__descriptor.methods);
}

/* A thread's Status call through c: its code, and the reply's points. */
struct caller {
	rpc_client *c;
	uint64_t seen;
	shoal_code code;
};

static inline void *
call_status(void *arg)
{
	struct caller *k = arg;
	Shoal__WorkerStatusRequest req = SHOAL__WORKER_STATUS_REQUEST__INIT;
	rpc_result res;
	RPC_INVOKE(shoal__worker__status, rpc_client_service(k->c), &req, &res);
	k->code = res.status.code;
	if (res.reply)
		k->seen = ((Shoal__WorkerStatusReply *)res.reply)->points;
	rpc_result_free(&res);
	return NULL;
}

#endif
