/* fuzz_rpc.c -- libFuzzer entry point for the rpc envelope and payload
 * decoding every daemon runs on every request (common/rpc.c,
 * rpc_dispatch), with the Worker and the Coordinator service descriptors:
 *  - raw (first byte & 3 == 0): the rest is the request as it arrives on
 *    the socket (a packed RequestEnvelope), checked against a cluster
 *    secret (common/auth.c) like a worker with --cluster-secret-file;
 *  - framed (otherwise): the second byte picks a method, the rest is its
 *    payload inside a well-formed envelope with the right token, so every
 *    method's input message decoding is reached.
 * Handlers answer an empty output message (the services' own validation
 * is exercised by the unit tests with real components).  The reply must
 * always be a decodable ReplyEnvelope; nothing may crash, read or write
 * out of bounds, or leak.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Icommon -IBUILD/gen \
 *       tests/fuzz/fuzz_rpc.c common/rpc.c common/auth.c common/log.c common/util.c \
 *       common/status.c BUILD/gen/shoal.pb-c.c -lnng -lprotobuf-c -lpthread -lm -o fuzz_rpc
 *   ./fuzz_rpc -max_len=4096
 *
 * (tests/fuzz/run.sh builds and runs it for a bounded time in ctest.)
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "rpc.h"
#include "fuzz_svc.h"
#include "shoal.pb-c.h"

#define SECRET "fuzz-cluster-secret-0123456789"

static ProtobufCService worker_svc = {&shoal__worker__descriptor, answer_empty, NULL};
static ProtobufCService coord_svc = {&shoal__coordinator__descriptor, answer_empty, NULL};

static void
check_reply(const uint8_t *rep, size_t len)
{
	Shoal__ReplyEnvelope *r = shoal__reply_envelope__unpack(NULL, len, rep);
	if (r == NULL)
		abort(); /* every request gets a decodable reply */
	shoal__reply_envelope__free_unpacked(r, NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	rpc_server_opts opts = {.max_msg = 1u << 16, .authorize = auth_require_secret,
	    .authorize_arg = (void *)SECRET};
	uint8_t *rep = NULL;
	size_t rlen = 0;

	if (size < 2)
		return 0;
	ProtobufCService *svc = (data[0] & 4) ? &coord_svc : &worker_svc;
	if ((data[0] & 3) == 0) {
		uint8_t *copy = malloc(size - 1); /* exact size: ASan sees the end */
		if (copy == NULL)
			return 0;
		memcpy(copy, data + 1, size - 1);
		if (rpc_dispatch(svc, &opts, copy, size - 1, &rep, &rlen) == SHOAL_OK)
			check_reply(rep, rlen);
		free(copy);
		free(rep);
		return 0;
	}
	const ProtobufCServiceDescriptor *d = svc->descriptor;
	Shoal__RequestEnvelope env = SHOAL__REQUEST_ENVELOPE__INIT;
	env.method = (char *)d->methods[data[1] % d->n_methods].name;
	env.auth_token = (data[0] & 8) ? "wrong" : SECRET;
	env.timeout_ms = 1000;
	env.payload.data = (uint8_t *)data + 2;
	env.payload.len = size - 2;
	size_t n = shoal__request_envelope__get_packed_size(&env);
	uint8_t *buf = malloc(n ? n : 1);
	if (buf == NULL)
		return 0;
	shoal__request_envelope__pack(&env, buf);
	if (rpc_dispatch(svc, &opts, buf, n, &rep, &rlen) == SHOAL_OK)
		check_reply(rep, rlen);
	free(buf);
	free(rep);
	return 0;
}
