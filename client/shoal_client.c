/* shoal_client.c -- libshoal: the synchronous client API over the
 * protoc-c Coordinator stubs (see shoal_client.h for the contract).
 *
 * Layering:  shoal_xxx()  -> builds a shoal.XxxRequest on the stack
 *                         -> RPC_INVOKE(shoal__coordinator__xxx, ...)
 *                            (generated stub; common/rpc.c is the transport)
 *                         -> converts the unpacked reply into the public
 *                            structs.
 *
 * Result memory: a result handed to the caller (search, get, status) keeps
 * the unpacked protobuf reply alive and points into it: strings, vectors
 * and tag lists are the reply's own memory, so only the arrays of public
 * structs are allocated here.  Each result is a private struct whose first
 * member is the public one, which is how the _free functions find the
 * reply again.  Tenant and collection descriptions are copied into fixed
 * name arrays instead (names are at most SHOAL_NAME_MAX), so they need no
 * reply behind them.
 *
 * Requests are built from caller memory without copying: protobuf-c's
 * pack only reads, so const is cast away on pointers into caller arrays.
 *
 * No allocation here aborts (no xmalloc): every failure becomes
 * RESOURCE_EXHAUSTED.  The client holds no mutable state after
 * shoal_connect(), so calls from many threads need no lock here; the rpc
 * layer gives each call its own connection (or nng context over TLS).
 */
#include "shoal_client.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filter.h"
#include "rpc.h"
#include "shoal.pb-c.h"
#include "util.h"

/* Target size of one Upsert request; well under RPC_DEFAULT_MAX_MSG so a
 * server with a smaller limit still accepts it and a slow link still
 * finishes a request within the timeout. */
#define UPSERT_CHUNK_BYTES (8u << 20)
/* and at most this many points per request: below the coordinator's
 * smallest default --max-batch (100,000), so tiny points never trip it */
#define UPSERT_CHUNK_POINTS 10000u

#define DEFAULT_K 10

struct shoal_client {
	rpc_client *rpc;
	ProtobufCService *svc; /* owned by rpc */
};

static shoal_code
oom(shoal_status *st)
{
	return shoal_status_set(st, SHOAL_RESOURCE_EXHAUSTED, "out of memory");
}

/* Turns the outcome of one stub call into our return convention: on error
 * copies the status into st and frees res; on success res->reply is set. */
static shoal_code
finish(rpc_result *res, shoal_status *st)
{
	shoal_code rv = res->status.code;

	if (rv == SHOAL_OK && res->reply == NULL)
		rv = shoal_status_set(&res->status, SHOAL_INTERNAL,
		    "empty reply from the coordinator");
	if (rv != SHOAL_OK) {
		if (st != NULL)
			*st = res->status;
		rpc_result_free(res);
		return rv;
	}
	shoal_status_clear(st);
	return SHOAL_OK;
}

static void
copy_name(char dst[SHOAL_NAME_MAX + 1], const char *src)
{
	snprintf(dst, SHOAL_NAME_MAX + 1, "%s", src != NULL ? src : "");
}

/* Checks a name argument before any request is built. */
static shoal_code
check_name(const char *what, const char *name, shoal_status *st)
{
	if (name == NULL)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT, "%s name is NULL",
		    what);
	return util_check_name(what, name, st);
}

/* tenant "" names a cluster-level (shared or reference) collection. */
static shoal_code
check_target(const char *tenant, const char *collection, shoal_status *st)
{
	shoal_code rv = SHOAL_OK;
	if (tenant == NULL || tenant[0] != '\0')
		rv = check_name("tenant", tenant, st);
	if (rv == SHOAL_OK)
		rv = check_name("collection", collection, st);
	return rv;
}

/* ===================================================================
 * Version, connection
 * =================================================================== */

#define STR_(x) #x
#define STR(x) STR_(x)

unsigned
shoal_version(void)
{
	return SHOAL_VERSION_HEX;
}

const char *
shoal_version_string(void)
{
	return STR(SHOAL_VERSION_MAJOR) "." STR(SHOAL_VERSION_MINOR) "." STR(
	    SHOAL_VERSION_PATCH);
}

shoal_code
shoal_connect(const char *url, const shoal_connect_opts *opts, shoal_client **out,
    shoal_status *st)
{
	/* fail fast when the coordinator goes away: a crash shows up as
	 * UNAVAILABLE at once rather than as a wait for the deadline (and a
	 * resend to whichever coordinator answers next) */
	rpc_client_opts ro = {.fail_on_disconnect = true};
	rpc_tls_options tls = {0};
	shoal_client *c;
	shoal_code rv;

	*out = NULL;
	if (url == NULL || !rpc_url_valid(url))
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "bad coordinator url '%s', expected tcp://host:port, "
		    "tls+tcp://host:port or ipc:///path", url ? url : "(null)");
	if (opts != NULL) {
		ro.timeout_ms = opts->timeout_ms;
		ro.auth_token = opts->auth_token;
		tls.ca_file = opts->tls_ca_file;
		tls.cert_file = opts->tls_cert_file;
		tls.key_file = opts->tls_key_file;
		tls.server_name = opts->tls_server_name;
		ro.tls = &tls;
	}
	if ((c = calloc(1, sizeof *c)) == NULL)
		return oom(st);
	rv = rpc_client_open(url, &shoal__coordinator__descriptor, &ro, &c->rpc, st);
	if (rv != SHOAL_OK) {
		free(c);
		return rv;
	}
	c->svc = rpc_client_service(c->rpc);
	*out = c;
	shoal_status_clear(st);
	return SHOAL_OK;
}

void
shoal_close(shoal_client *c)
{
	if (c == NULL)
		return;
	rpc_client_close(c->rpc);
	free(c);
}

const char *
shoal_client_url(const shoal_client *c)
{
	return rpc_client_url(c->rpc);
}

/* ===================================================================
 * Payload conversion
 * =================================================================== */

/* Counts the well-formed fields of a reply's payload (a field without a
 * value, or of a kind this library does not know, is skipped). */
static size_t
fields_count(Shoal__PayloadField **pf, size_t n)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (pf[i]->value != NULL &&
		    pf[i]->value->kind_case >= SHOAL__PAYLOAD_VALUE__KIND_S &&
		    pf[i]->value->kind_case <= SHOAL__PAYLOAD_VALUE__KIND_TAGS)
			k++;
	return k;
}

/* Fills out[] (sized by fields_count) with views into the reply. */
static size_t
fields_from_reply(Shoal__PayloadField **pf, size_t n, shoal_field *out)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		const Shoal__PayloadValue *v = pf[i]->value;
		shoal_field *f = &out[k];

		if (v == NULL)
			continue;
		f->key = pf[i]->key;
		switch (v->kind_case) {
		case SHOAL__PAYLOAD_VALUE__KIND_S:
			f->type = SHOAL_VALUE_STRING;
			f->s = v->s;
			break;
		case SHOAL__PAYLOAD_VALUE__KIND_I:
			f->type = SHOAL_VALUE_INT;
			f->i = v->i;
			break;
		case SHOAL__PAYLOAD_VALUE__KIND_D:
			f->type = SHOAL_VALUE_DOUBLE;
			f->d = v->d;
			break;
		case SHOAL__PAYLOAD_VALUE__KIND_B:
			f->type = SHOAL_VALUE_BOOL;
			f->b = v->b != 0;
			break;
		case SHOAL__PAYLOAD_VALUE__KIND_TAGS:
			f->type = SHOAL_VALUE_TAGS;
			f->tags.v = v->tags ? (const char *const *)v->tags->values : NULL;
			f->tags.n = v->tags ? v->tags->n_values : 0;
			break;
		default:
			continue;
		}
		k++;
	}
	return k;
}

static const char *
text_or_null(const char *s)
{
	return s != NULL && s[0] != '\0' ? s : NULL;
}

/* Copies one message of a reply into its public struct (msg and out are
 * e.g. a Shoal__TenantInfo and a shoal_tenant_info). */
typedef void (*from_reply_fn)(const void *msg, void *out);

/* The tail of every list call: the reply's n messages (msgs) as a
 * calloc'ed array of public structs of `size` bytes each, copied by fn,
 * in *out (NULL when n is 0, unless always_array); res is freed. */
static shoal_code
list_from_reply(rpc_result *res, void *const *msgs, size_t n, size_t size, from_reply_fn fn,
    bool always_array, void **out, size_t *nout, shoal_status *st)
{
	unsigned char *arr = NULL;

	if ((n > 0 || always_array) && (arr = calloc(n > 0 ? n : 1, size)) == NULL) {
		rpc_result_free(res);
		return oom(st);
	}
	for (size_t i = 0; i < n; i++)
		fn(msgs[i], arr + i * size);
	*out = arr;
	*nout = n;
	rpc_result_free(res);
	return SHOAL_OK;
}

/* ===================================================================
 * Cluster status
 * =================================================================== */

typedef struct cluster_impl {
	shoal_cluster_info pub; /* first: the caller's pointer is to this */
	rpc_result res;
} cluster_impl;

shoal_code
shoal_cluster_status(shoal_client *c, shoal_cluster_info **out, shoal_status *st)
{
	Shoal__StatusRequest req = SHOAL__STATUS_REQUEST__INIT;
	const Shoal__StatusReply *rep;
	cluster_impl *im;
	rpc_result res = {0};
	shoal_code rv;

	*out = NULL;
	RPC_INVOKE(shoal__coordinator__status, c->svc, &req, &res);
	if ((rv = finish(&res, st)) != SHOAL_OK)
		return rv;
	rep = (const Shoal__StatusReply *)res.reply;
	if ((im = calloc(1, sizeof *im)) == NULL ||
	    (rep->n_workers > 0 &&
	        (im->pub.workers = calloc(rep->n_workers, sizeof *im->pub.workers)) ==
	            NULL)) {
		free(im);
		rpc_result_free(&res);
		return oom(st);
	}
	im->res = res;
	im->pub.version = rep->version;
	im->pub.epoch = rep->epoch;
	im->pub.tenants = rep->tenants;
	im->pub.collections = rep->collections;
	im->pub.orphans_reclaimed = rep->orphans_reclaimed;
	im->pub.orphans_pending = rep->orphans_pending;
	im->pub.n_workers = rep->n_workers;
	for (size_t i = 0; i < rep->n_workers; i++) {
		const Shoal__WorkerInfo *w = rep->workers[i];
		shoal_worker_info *o = &im->pub.workers[i];
		o->name = w->name;
		o->url = w->url;
		o->up = w->up != 0;
		o->points = w->points;
		o->bytes = w->bytes;
		o->shards = w->shards;
		o->tenants = w->tenants;
		o->last_seen_ms = w->last_seen_ms;
	}
	*out = &im->pub;
	return SHOAL_OK;
}

void
shoal_cluster_info_free(shoal_cluster_info *info)
{
	cluster_impl *im = (cluster_impl *)info;

	if (im == NULL)
		return;
	free(im->pub.workers);
	rpc_result_free(&im->res);
	free(im);
}

/* ===================================================================
 * Tenants
 * =================================================================== */

static void
tenant_from_reply(const void *msg, void *out)
{
	const Shoal__TenantInfo *t = msg;
	shoal_tenant_info *o = out;

	copy_name(o->name, t->name);
	copy_name(o->worker, t->worker);
	o->collections = t->collections;
	o->points = t->points;
}

shoal_code
shoal_tenant_create(shoal_client *c, const char *name, const char *on_worker,
    shoal_tenant_info *out, shoal_status *st)
{
	Shoal__CreateTenantRequest req = SHOAL__CREATE_TENANT_REQUEST__INIT;
	rpc_result res = {0};
	shoal_code rv;

	if (out != NULL)
		memset(out, 0, sizeof *out);
	if ((rv = check_name("tenant", name, st)) != SHOAL_OK)
		return rv;
	if (on_worker != NULL &&
	    (rv = check_name("worker", on_worker, st)) != SHOAL_OK)
		return rv;
	req.name = (char *)name;
	if (on_worker != NULL)
		req.on_worker = (char *)on_worker;
	RPC_INVOKE(shoal__coordinator__create_tenant, c->svc, &req, &res);
	if ((rv = finish(&res, st)) != SHOAL_OK)
		return rv;
	if (out != NULL)
		tenant_from_reply((const Shoal__TenantInfo *)res.reply, out);
	rpc_result_free(&res);
	return SHOAL_OK;
}

shoal_code
shoal_tenant_list(shoal_client *c, shoal_tenant_info **out, size_t *n,
    shoal_status *st)
{
	Shoal__ListTenantsRequest req = SHOAL__LIST_TENANTS_REQUEST__INIT;
	const Shoal__ListTenantsReply *rep;
	rpc_result res = {0};
	void *arr = NULL;
	shoal_code rv;

	*out = NULL;
	*n = 0;
	RPC_INVOKE(shoal__coordinator__list_tenants, c->svc, &req, &res);
	if ((rv = finish(&res, st)) != SHOAL_OK)
		return rv;
	rep = (const Shoal__ListTenantsReply *)res.reply;
	rv = list_from_reply(&res, (void *const *)rep->tenants, rep->n_tenants, sizeof **out,
	    tenant_from_reply, false, &arr, n, st);
	*out = arr;
	return rv;
}

void
shoal_tenant_list_free(shoal_tenant_info *list)
{
	free(list);
}

shoal_code
shoal_tenant_drop(shoal_client *c, const char *name, shoal_status *st)
{
	Shoal__DropTenantRequest req = SHOAL__DROP_TENANT_REQUEST__INIT;
	rpc_result res = {0};
	shoal_code rv;

	if ((rv = check_name("tenant", name, st)) != SHOAL_OK)
		return rv;
	req.name = (char *)name;
	RPC_INVOKE(shoal__coordinator__drop_tenant, c->svc, &req, &res);
	if ((rv = finish(&res, st)) == SHOAL_OK)
		rpc_result_free(&res);
	return rv;
}

/* ---- tenant API keys ---- */

static void
tkey_from_reply(const void *msg, void *o)
{
	const Shoal__TenantKeyInfo *in = msg;
	shoal_tenant_key *out = o;

	memset(out, 0, sizeof *out);
	snprintf(out->tenant, sizeof out->tenant, "%s", in->tenant);
	snprintf(out->id, sizeof out->id, "%s", in->id);
	out->created_unix = in->created_unix;
}

shoal_code
shoal_tenant_key_create(shoal_client *c, const char *tenant, char *key, size_t key_cap,
    shoal_tenant_key *info, shoal_status *st)
{
	Shoal__TenantKeyRequest req = SHOAL__TENANT_KEY_REQUEST__INIT;
	rpc_result res = {0};
	shoal_code rv;

	if ((rv = check_name("tenant", tenant, st)) != SHOAL_OK)
		return rv;
	if (key == NULL || key_cap < SHOAL_TENANT_KEY_MAX)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "key buffer must hold SHOAL_TENANT_KEY_MAX (%d) bytes", SHOAL_TENANT_KEY_MAX);
	req.tenant = (char *)tenant;
	RPC_INVOKE(shoal__coordinator__create_tenant_key, c->svc, &req, &res);
	if ((rv = finish(&res, st)) != SHOAL_OK)
		return rv;
	const Shoal__TenantKeyInfo *rep = (const Shoal__TenantKeyInfo *)res.reply;
	if (strlen(rep->key) >= key_cap) {
		rpc_result_free(&res);
		return shoal_status_set(st, SHOAL_INTERNAL, "the coordinator sent a %zu-byte key",
		    strlen(rep->key));
	}
	snprintf(key, key_cap, "%s", rep->key);
	if (info != NULL)
		tkey_from_reply(rep, info);
	memset(rep->key, 0, strlen(rep->key));
	rpc_result_free(&res);
	return SHOAL_OK;
}

shoal_code
shoal_tenant_key_list(shoal_client *c, const char *tenant, shoal_tenant_key **out, size_t *n,
    shoal_status *st)
{
	Shoal__TenantKeyRequest req = SHOAL__TENANT_KEY_REQUEST__INIT;
	rpc_result res = {0};
	shoal_code rv;

	*out = NULL;
	*n = 0;
	req.tenant = (char *)(tenant != NULL ? tenant : "");
	RPC_INVOKE(shoal__coordinator__list_tenant_keys, c->svc, &req, &res);
	if ((rv = finish(&res, st)) != SHOAL_OK)
		return rv;
	const Shoal__ListTenantKeysReply *rep = (const Shoal__ListTenantKeysReply *)res.reply;
	void *arr = NULL;
	rv = list_from_reply(&res, (void *const *)rep->keys, rep->n_keys, sizeof **out,
	    tkey_from_reply, true, &arr, n, st);
	*out = arr;
	return rv;
}

shoal_code
shoal_tenant_key_revoke(shoal_client *c, const char *tenant, const char *id, shoal_status *st)
{
	Shoal__TenantKeyRequest req = SHOAL__TENANT_KEY_REQUEST__INIT;
	rpc_result res = {0};
	shoal_code rv;

	if ((rv = check_name("tenant", tenant, st)) != SHOAL_OK)
		return rv;
	if (id == NULL || id[0] == '\0')
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT, "key id is empty");
	req.tenant = (char *)tenant;
	req.id = (char *)id;
	RPC_INVOKE(shoal__coordinator__revoke_tenant_key, c->svc, &req, &res);
	if ((rv = finish(&res, st)) == SHOAL_OK)
		rpc_result_free(&res);
	return rv;
}

/* ===================================================================
 * Collections
 * =================================================================== */

static const char *const metric_names[] = {"cosine", "cosine", "l2", "ip"};

const char *
shoal_metric_name(shoal_metric m)
{
	if ((unsigned)m < sizeof metric_names / sizeof metric_names[0])
		return metric_names[m];
	return "unknown";
}

bool
shoal_metric_parse(const char *s, shoal_metric *out)
{
	for (int m = SHOAL_METRIC_COSINE; m <= SHOAL_METRIC_IP; m++)
		if (s != NULL && strcmp(s, metric_names[m]) == 0) {
			*out = (shoal_metric)m;
			return true;
		}
	return false;
}

static void
collection_from_reply(const void *msg, void *out)
{
	const Shoal__CollectionInfo *ci = msg;
	shoal_collection_info *o = out;

	memset(o, 0, sizeof *o);
	if (ci->spec != NULL) {
		copy_name(o->tenant, ci->spec->tenant);
		copy_name(o->name, ci->spec->name);
		o->dim = ci->spec->dim;
		o->metric = (shoal_metric)ci->spec->metric;
		o->m = ci->spec->m;
		o->ef_construction = ci->spec->ef_construction;
	}
	o->shard_id = ci->shard_id;
	copy_name(o->worker, ci->worker);
	o->points = ci->points;
}

shoal_code
shoal_collection_create(shoal_client *c, const char *tenant, const char *name,
    const shoal_collection_params *params, shoal_collection_info *out,
    shoal_status *st)
{
	Shoal__CollectionSpec req = SHOAL__COLLECTION_SPEC__INIT;
	rpc_result res = {0};
	shoal_metric metric;
	shoal_code rv;

	if (out != NULL)
		memset(out, 0, sizeof *out);
	if ((rv = check_target(tenant, name, st)) != SHOAL_OK)
		return rv;
	if (params == NULL || params->dim == 0 || params->dim > SHOAL_MAX_DIM)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "collection dimension %u out of range, expected 1..%u",
		    params ? params->dim : 0, SHOAL_MAX_DIM);
	metric = params->metric == SHOAL_METRIC_DEFAULT ? SHOAL_METRIC_COSINE
	                                                : params->metric;
	if (metric < SHOAL_METRIC_COSINE || metric > SHOAL_METRIC_IP)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "unknown metric %d, expected cosine, l2 or ip", (int)metric);
	req.tenant = (char *)tenant;
	req.name = (char *)name;
	req.dim = params->dim;
	req.metric = (Shoal__Metric)metric;
	req.m = params->m;
	req.ef_construction = params->ef_construction;
	RPC_INVOKE(shoal__coordinator__create_collection, c->svc, &req, &res);
	if ((rv = finish(&res, st)) != SHOAL_OK)
		return rv;
	if (out != NULL)
		collection_from_reply((const Shoal__CollectionInfo *)res.reply, out);
	rpc_result_free(&res);
	return SHOAL_OK;
}

shoal_code
shoal_collection_list(shoal_client *c, const char *tenant,
    shoal_collection_info **out, size_t *n, shoal_status *st)
{
	Shoal__ListCollectionsRequest req = SHOAL__LIST_COLLECTIONS_REQUEST__INIT;
	const Shoal__ListCollectionsReply *rep;
	void *arr = NULL;
	rpc_result res = {0};
	shoal_code rv;

	*out = NULL;
	*n = 0;
	if (tenant == NULL)
		tenant = ""; /* the cluster-level collections */
	if (tenant[0] != '\0' && (rv = check_name("tenant", tenant, st)) != SHOAL_OK)
		return rv;
	req.tenant = (char *)tenant;
	RPC_INVOKE(shoal__coordinator__list_collections, c->svc, &req, &res);
	if ((rv = finish(&res, st)) != SHOAL_OK)
		return rv;
	rep = (const Shoal__ListCollectionsReply *)res.reply;
	rv = list_from_reply(&res, (void *const *)rep->collections, rep->n_collections,
	    sizeof **out, collection_from_reply, false, &arr, n, st);
	*out = arr;
	return rv;
}

void
shoal_collection_list_free(shoal_collection_info *list)
{
	free(list);
}

shoal_code
shoal_collection_drop(shoal_client *c, const char *tenant, const char *name,
    shoal_status *st)
{
	Shoal__DropCollectionRequest req = SHOAL__DROP_COLLECTION_REQUEST__INIT;
	rpc_result res = {0};
	shoal_code rv;

	if ((rv = check_target(tenant, name, st)) != SHOAL_OK)
		return rv;
	req.tenant = (char *)tenant;
	req.name = (char *)name;
	RPC_INVOKE(shoal__coordinator__drop_collection, c->svc, &req, &res);
	if ((rv = finish(&res, st)) == SHOAL_OK)
		rpc_result_free(&res);
	return rv;
}

/* ===================================================================
 * Shared and reference collections
 * =================================================================== */

const char *
shoal_placement_name(shoal_placement p)
{
	switch (p) {
	case SHOAL_PLACEMENT_DEDICATED: return "dedicated";
	case SHOAL_PLACEMENT_SHARED: return "shared";
	case SHOAL_PLACEMENT_REFERENCE: return "reference";
	}
	return "unknown";
}

shoal_code
shoal_collection_create_distributed(shoal_client *c, const char *name,
    const shoal_collection_params *params, const shoal_distribution *dist,
    shoal_collection_info *out, shoal_status *st)
{
	Shoal__CollectionSpec req = SHOAL__COLLECTION_SPEC__INIT;
	rpc_result res = {0};
	shoal_metric metric;
	shoal_code rv;

	if (out != NULL)
		memset(out, 0, sizeof *out);
	if ((rv = check_name("collection", name, st)) != SHOAL_OK)
		return rv;
	if (dist == NULL || (dist->placement != SHOAL_PLACEMENT_SHARED &&
	                        dist->placement != SHOAL_PLACEMENT_REFERENCE))
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "a cluster-level collection is SHOAL_PLACEMENT_SHARED or _REFERENCE");
	if (params == NULL || params->dim == 0 || params->dim > SHOAL_MAX_DIM)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "collection dimension %u out of range, expected 1..%u",
		    params ? params->dim : 0, SHOAL_MAX_DIM);
	metric = params->metric == SHOAL_METRIC_DEFAULT ? SHOAL_METRIC_COSINE
	                                                : params->metric;
	if (metric < SHOAL_METRIC_COSINE || metric > SHOAL_METRIC_IP)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "unknown metric %d, expected cosine, l2 or ip", (int)metric);
	if (dist->n_on_workers > 0 && dist->on_workers == NULL)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "n_on_workers is %zu but on_workers is NULL", dist->n_on_workers);
	for (size_t i = 0; i < dist->n_on_workers; i++)
		if ((rv = check_name("worker", dist->on_workers[i], st)) != SHOAL_OK)
			return rv;
	req.tenant = (char *)"";
	req.name = (char *)name;
	req.dim = params->dim;
	req.metric = (Shoal__Metric)metric;
	req.m = params->m;
	req.ef_construction = params->ef_construction;
	req.placement = (Shoal__Placement)dist->placement;
	req.shards = dist->shards;
	if (dist->key_field != NULL)
		req.key_field = (char *)dist->key_field;
	if (dist->colocate_with != NULL)
		req.colocate_with = (char *)dist->colocate_with;
	req.n_on_workers = dist->n_on_workers;
	req.on_workers = (char **)dist->on_workers;
	RPC_INVOKE(shoal__coordinator__create_collection, c->svc, &req, &res);
	if ((rv = finish(&res, st)) != SHOAL_OK)
		return rv;
	if (out != NULL)
		collection_from_reply((const Shoal__CollectionInfo *)res.reply, out);
	rpc_result_free(&res);
	return SHOAL_OK;
}

shoal_code
shoal_collection_describe(shoal_client *c, const char *tenant, const char *name,
    shoal_collection_desc **out, shoal_status *st)
{
	Shoal__ListCollectionsRequest req = SHOAL__LIST_COLLECTIONS_REQUEST__INIT;
	const Shoal__ListCollectionsReply *rep;
	const Shoal__CollectionInfo *ci = NULL;
	shoal_collection_desc *d;
	rpc_result res = {0};
	shoal_code rv;

	*out = NULL;
	if ((rv = check_target(tenant, name, st)) != SHOAL_OK)
		return rv;
	req.tenant = (char *)tenant;
	RPC_INVOKE(shoal__coordinator__list_collections, c->svc, &req, &res);
	if ((rv = finish(&res, st)) != SHOAL_OK)
		return rv;
	rep = (const Shoal__ListCollectionsReply *)res.reply;
	for (size_t i = 0; i < rep->n_collections && ci == NULL; i++)
		if (rep->collections[i]->spec != NULL && rep->collections[i]->spec->name != NULL &&
		    strcmp(rep->collections[i]->spec->name, name) == 0)
			ci = rep->collections[i];
	if (ci == NULL) {
		rpc_result_free(&res);
		if (tenant[0] == '\0')
			return shoal_status_set(st, SHOAL_NOT_FOUND,
			    "there is no shared or reference collection '%s'", name);
		return shoal_status_set(st, SHOAL_NOT_FOUND,
		    "collection '%s' does not exist in tenant '%s'", name, tenant);
	}
	size_t np = ci->n_placements > 0 ? ci->n_placements : 1;
	if ((d = calloc(1, sizeof *d)) == NULL ||
	    (d->placements = calloc(np, sizeof *d->placements)) == NULL) {
		free(d);
		rpc_result_free(&res);
		return oom(st);
	}
	collection_from_reply(ci, &d->info);
	d->placement = ci->spec ? (shoal_placement)ci->spec->placement : SHOAL_PLACEMENT_DEDICATED;
	d->shards = ci->spec && ci->spec->shards ? ci->spec->shards : 1;
	copy_name(d->key_field, ci->spec ? ci->spec->key_field : "");
	d->colocation = ci->colocation ? strtoull(ci->colocation, NULL, 10) : 0;
	if (ci->n_placements == 0) {
		/* a dedicated collection: its one shard on the tenant's worker */
		d->n_placements = 1;
		d->placements[0].shard_id = ci->shard_id;
		copy_name(d->placements[0].worker, ci->worker);
		d->placements[0].points = ci->points;
		d->placements[0].current = true;
	} else {
		d->n_placements = ci->n_placements;
		for (size_t i = 0; i < ci->n_placements; i++) {
			const Shoal__ShardPlacement *p = ci->placements[i];
			shoal_shard_placement *o = &d->placements[i];
			o->index = p->index;
			o->shard_id = p->shard_id;
			copy_name(o->worker, p->worker);
			o->epoch = p->epoch;
			o->points = p->points;
			o->current = p->current != 0;
		}
	}
	rpc_result_free(&res);
	*out = d;
	return SHOAL_OK;
}

void
shoal_collection_desc_free(shoal_collection_desc *d)
{
	if (d == NULL)
		return;
	free(d->placements);
	free(d);
}

/* ===================================================================
 * Upsert
 * =================================================================== */

/* The protobuf view of a batch: one allocation per array, all pointing
 * into the caller's memory for ids, vectors and strings. */
typedef struct upsert_msgs {
	Shoal__Point *points;
	Shoal__Point **point_ptrs;
	Shoal__PayloadField *fields;
	Shoal__PayloadField **field_ptrs;
	Shoal__PayloadValue *values;
	Shoal__StringList *lists;
} upsert_msgs;

static void
upsert_msgs_free(upsert_msgs *m)
{
	free(m->points);
	free(m->point_ptrs);
	free(m->fields);
	free(m->field_ptrs);
	free(m->values);
	free(m->lists);
}

/* Validates the batch (nothing is sent if any point is bad). */
static shoal_code
batch_check(const shoal_batch *b, size_t *n_fields, shoal_status *st)
{
	size_t total = 0;

	if (b->ids == NULL || b->vectors == NULL)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "batch without %s", b->ids == NULL ? "ids" : "vectors");
	if (b->dim == 0 || b->dim > SHOAL_MAX_DIM)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "batch dimension %u out of range, expected 1..%u", b->dim,
		    SHOAL_MAX_DIM);
	for (size_t i = 0; i < b->n; i++) {
		const float *v = b->vectors + i * b->dim;
		for (uint32_t j = 0; j < b->dim; j++)
			if (!isfinite(v[j]))
				return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
				    "point %zu (id %llu): component %u is %s, vectors must "
				    "be finite", i, (unsigned long long)b->ids[i], j,
				    isnan(v[j]) ? "NaN" : "infinite");
		if (b->payloads == NULL)
			continue;
		const shoal_payload *p = &b->payloads[i];
		if (p->n_fields > 0 && p->fields == NULL)
			return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
			    "point %zu (id %llu): n_fields %zu but fields is NULL", i,
			    (unsigned long long)b->ids[i], p->n_fields);
		for (size_t j = 0; j < p->n_fields; j++) {
			const shoal_field *f = &p->fields[j];
			const char *bad = NULL;
			if (f->key == NULL || f->key[0] == '\0')
				bad = "has no key";
			else if (f->type < SHOAL_VALUE_STRING || f->type > SHOAL_VALUE_TAGS)
				bad = "has an unknown type";
			else if (f->type == SHOAL_VALUE_STRING && f->s == NULL)
				bad = "is a NULL string";
			else if (f->type == SHOAL_VALUE_TAGS && f->tags.n > 0 &&
			    f->tags.v == NULL)
				bad = "has a NULL tag list";
			else if (f->type == SHOAL_VALUE_TAGS)
				for (size_t t = 0; t < f->tags.n && bad == NULL; t++)
					if (f->tags.v[t] == NULL)
						bad = "has a NULL tag";
			if (bad != NULL)
				return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
				    "point %zu (id %llu): payload field %zu ('%s') %s", i,
				    (unsigned long long)b->ids[i], j,
				    f->key ? f->key : "", bad);
		}
		total += p->n_fields;
	}
	*n_fields = total;
	return SHOAL_OK;
}

static shoal_code
batch_to_msgs(const shoal_batch *b, size_t n_fields, upsert_msgs *m,
    shoal_status *st)
{
	size_t fi = 0;

	memset(m, 0, sizeof *m);
	m->points = calloc(b->n, sizeof *m->points);
	m->point_ptrs = calloc(b->n, sizeof *m->point_ptrs);
	if (n_fields > 0) {
		m->fields = calloc(n_fields, sizeof *m->fields);
		m->field_ptrs = calloc(n_fields, sizeof *m->field_ptrs);
		m->values = calloc(n_fields, sizeof *m->values);
		m->lists = calloc(n_fields, sizeof *m->lists);
	}
	if (m->points == NULL || m->point_ptrs == NULL ||
	    (n_fields > 0 && (m->fields == NULL || m->field_ptrs == NULL ||
	                         m->values == NULL || m->lists == NULL))) {
		upsert_msgs_free(m);
		return oom(st);
	}
	for (size_t i = 0; i < b->n; i++) {
		Shoal__Point *p = &m->points[i];
		*p = (Shoal__Point)SHOAL__POINT__INIT;
		p->id = b->ids[i];
		p->n_vector = b->dim;
		p->vector = (float *)(b->vectors + i * b->dim);
		if (b->texts != NULL && b->texts[i] != NULL)
			p->text = (char *)b->texts[i];
		if (b->payloads != NULL && b->payloads[i].n_fields > 0) {
			const shoal_payload *pl = &b->payloads[i];
			p->n_payload = pl->n_fields;
			p->payload = &m->field_ptrs[fi];
			for (size_t j = 0; j < pl->n_fields; j++, fi++) {
				const shoal_field *f = &pl->fields[j];
				Shoal__PayloadField *pf = &m->fields[fi];
				Shoal__PayloadValue *pv = &m->values[fi];
				*pf = (Shoal__PayloadField)SHOAL__PAYLOAD_FIELD__INIT;
				*pv = (Shoal__PayloadValue)SHOAL__PAYLOAD_VALUE__INIT;
				pf->key = (char *)f->key;
				pf->value = pv;
				m->field_ptrs[fi] = pf;
				switch (f->type) {
				case SHOAL_VALUE_STRING:
					pv->kind_case = SHOAL__PAYLOAD_VALUE__KIND_S;
					pv->s = (char *)f->s;
					break;
				case SHOAL_VALUE_INT:
					pv->kind_case = SHOAL__PAYLOAD_VALUE__KIND_I;
					pv->i = f->i;
					break;
				case SHOAL_VALUE_DOUBLE:
					pv->kind_case = SHOAL__PAYLOAD_VALUE__KIND_D;
					pv->d = f->d;
					break;
				case SHOAL_VALUE_BOOL:
					pv->kind_case = SHOAL__PAYLOAD_VALUE__KIND_B;
					pv->b = f->b;
					break;
				case SHOAL_VALUE_TAGS:
					m->lists[fi] = (Shoal__StringList)SHOAL__STRING_LIST__INIT;
					m->lists[fi].n_values = f->tags.n;
					m->lists[fi].values = (char **)f->tags.v;
					pv->kind_case = SHOAL__PAYLOAD_VALUE__KIND_TAGS;
					pv->tags = &m->lists[fi];
					break;
				}
			}
		}
		m->point_ptrs[i] = p;
	}
	return SHOAL_OK;
}

shoal_code
shoal_upsert(shoal_client *c, const char *tenant, const char *collection,
    const shoal_batch *batch, uint32_t *upserted, shoal_status *st)
{
	Shoal__UpsertRequest req = SHOAL__UPSERT_REQUEST__INIT;
	size_t n_fields = 0, start = 0;
	uint32_t done = 0;
	upsert_msgs m;
	shoal_code rv;

	if (upserted != NULL)
		*upserted = 0;
	if ((rv = check_target(tenant, collection, st)) != SHOAL_OK)
		return rv;
	if (batch == NULL)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT, "batch is NULL");
	if (batch->n == 0) {
		shoal_status_clear(st);
		return SHOAL_OK;
	}
	if ((rv = batch_check(batch, &n_fields, st)) != SHOAL_OK ||
	    (rv = batch_to_msgs(batch, n_fields, &m, st)) != SHOAL_OK)
		return rv;

	req.tenant = (char *)tenant;
	req.collection = (char *)collection;
	while (start < batch->n) {
		size_t end = start, bytes = 0;
		rpc_result res = {0};

		/* at least one point per request, then up to the chunk size
		 * (+8 covers the repeated-field tag and length prefix) */
		do {
			bytes += protobuf_c_message_get_packed_size(
			             &m.points[end].base) + 8;
			end++;
		} while (end < batch->n && end - start < UPSERT_CHUNK_POINTS &&
		    bytes + protobuf_c_message_get_packed_size(&m.points[end].base) +
		            8 <= UPSERT_CHUNK_BYTES);

		req.points = &m.point_ptrs[start];
		req.n_points = end - start;
		RPC_INVOKE(shoal__coordinator__upsert, c->svc, &req, &res);
		if ((rv = finish(&res, st)) != SHOAL_OK) {
			if (start > 0 && st != NULL)
				shoal_status_prefix(st,
				    "after %zu of %zu points were upserted", start,
				    batch->n);
			break;
		}
		done += ((const Shoal__UpsertReply *)res.reply)->upserted;
		rpc_result_free(&res);
		start = end;
	}
	upsert_msgs_free(&m);
	if (upserted != NULL)
		*upserted = done;
	return rv;
}

/* ===================================================================
 * Delete, count
 * =================================================================== */

shoal_code
shoal_delete(shoal_client *c, const char *tenant, const char *collection,
    const uint64_t *ids, size_t n, uint32_t *deleted, shoal_status *st)
{
	return shoal_delete_ex(c, tenant, collection, NULL, ids, n, deleted, st);
}

shoal_code
shoal_delete_ex(shoal_client *c, const char *tenant, const char *collection,
    const char *key, const uint64_t *ids, size_t n, uint32_t *deleted, shoal_status *st)
{
	Shoal__DeleteRequest req = SHOAL__DELETE_REQUEST__INIT;
	rpc_result res = {0};
	shoal_code rv;

	if (deleted != NULL)
		*deleted = 0;
	if ((rv = check_target(tenant, collection, st)) != SHOAL_OK)
		return rv;
	if (n > 0 && ids == NULL)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "%zu ids to delete but ids is NULL", n);
	req.tenant = (char *)tenant;
	req.collection = (char *)collection;
	req.ids = (uint64_t *)ids;
	req.n_ids = n;
	if (key != NULL)
		req.key = (char *)key;
	RPC_INVOKE(shoal__coordinator__delete, c->svc, &req, &res);
	if ((rv = finish(&res, st)) != SHOAL_OK)
		return rv;
	if (deleted != NULL)
		*deleted = ((const Shoal__DeleteReply *)res.reply)->deleted;
	rpc_result_free(&res);
	return SHOAL_OK;
}

shoal_code
shoal_count(shoal_client *c, const char *tenant, const char *collection,
    uint64_t *count, shoal_status *st)
{
	Shoal__CountRequest req = SHOAL__COUNT_REQUEST__INIT;
	rpc_result res = {0};
	shoal_code rv;

	*count = 0;
	if ((rv = check_target(tenant, collection, st)) != SHOAL_OK)
		return rv;
	req.tenant = (char *)tenant;
	req.collection = (char *)collection;
	RPC_INVOKE(shoal__coordinator__count, c->svc, &req, &res);
	if ((rv = finish(&res, st)) != SHOAL_OK)
		return rv;
	*count = ((const Shoal__CountReply *)res.reply)->count;
	rpc_result_free(&res);
	return SHOAL_OK;
}

/* ===================================================================
 * Get
 * =================================================================== */

/* The arrays of a get or search result, zeroed: n points (item bytes
 * each, shoal_point or shoal_hit) and nf payload fields.  false when out
 * of memory (then nothing is allocated). */
static bool
result_arrays(size_t n, size_t item, size_t nf, void **items, shoal_field **fields)
{
	*items = n > 0 ? calloc(n, item) : NULL;
	*fields = nf > 0 ? calloc(nf, sizeof **fields) : NULL;
	if ((n > 0 && *items == NULL) || (nf > 0 && *fields == NULL)) {
		free(*items);
		free(*fields);
		*items = NULL;
		*fields = NULL;
		return false;
	}
	return true;
}

/* A reply point as the public one: views into the reply (Shoal__Point and
 * Shoal__Hit carry these fields alike); its payload fields are taken from
 * fields + *fi (fields NULL: none has any), *fi advanced past them. */
static void
point_from_reply(uint64_t id, float *vector, size_t n_vector, Shoal__PayloadField **pf,
    size_t npf, const char *text, shoal_field *fields, size_t *fi, shoal_point *o)
{
	o->id = id;
	o->dim = (uint32_t)n_vector;
	o->vector = n_vector > 0 ? vector : NULL;
	o->n_payload = 0;
	o->payload = NULL;
	if (fields != NULL) {
		o->n_payload = fields_from_reply(pf, npf, fields + *fi);
		o->payload = o->n_payload > 0 ? fields + *fi : NULL;
		*fi += o->n_payload;
	}
	o->text = text_or_null(text);
}

typedef struct get_impl {
	shoal_get_result pub; /* first */
	rpc_result res;
	shoal_field *fields;
} get_impl;

shoal_code
shoal_get(shoal_client *c, const char *tenant, const char *collection,
    const uint64_t *ids, size_t n, bool with_vector, shoal_get_result **out,
    shoal_status *st)
{
	return shoal_get_ex(c, tenant, collection, NULL, ids, n, with_vector, out, st);
}

shoal_code
shoal_get_ex(shoal_client *c, const char *tenant, const char *collection,
    const char *key, const uint64_t *ids, size_t n, bool with_vector,
    shoal_get_result **out, shoal_status *st)
{
	Shoal__GetRequest req = SHOAL__GET_REQUEST__INIT;
	const Shoal__GetReply *rep;
	size_t n_fields = 0, fi = 0;
	rpc_result res = {0};
	get_impl *im;
	shoal_code rv;

	*out = NULL;
	if ((rv = check_target(tenant, collection, st)) != SHOAL_OK)
		return rv;
	if (n > 0 && ids == NULL)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "%zu ids to get but ids is NULL", n);
	req.tenant = (char *)tenant;
	req.collection = (char *)collection;
	req.ids = (uint64_t *)ids;
	req.n_ids = n;
	req.with_vector = with_vector;
	if (key != NULL)
		req.key = (char *)key;
	RPC_INVOKE(shoal__coordinator__get, c->svc, &req, &res);
	if ((rv = finish(&res, st)) != SHOAL_OK)
		return rv;
	rep = (const Shoal__GetReply *)res.reply;
	for (size_t i = 0; i < rep->n_points; i++)
		n_fields += fields_count(rep->points[i]->payload, rep->points[i]->n_payload);
	void *points;
	if ((im = calloc(1, sizeof *im)) == NULL ||
	    !result_arrays(rep->n_points, sizeof(shoal_point), n_fields, &points, &im->fields)) {
		free(im);
		rpc_result_free(&res);
		return oom(st);
	}
	im->res = res;
	im->pub.n_points = rep->n_points;
	im->pub.points = points;
	for (size_t i = 0; i < rep->n_points; i++) {
		const Shoal__Point *p = rep->points[i];
		point_from_reply(p->id, p->vector, p->n_vector, p->payload, p->n_payload, p->text,
		    im->fields, &fi, &im->pub.points[i]);
	}
	*out = &im->pub;
	return SHOAL_OK;
}

void
shoal_get_result_free(shoal_get_result *r)
{
	get_impl *im = (get_impl *)r;

	if (im == NULL)
		return;
	free(im->pub.points);
	free(im->fields);
	rpc_result_free(&im->res);
	free(im);
}

/* ===================================================================
 * Search
 * =================================================================== */

typedef struct search_impl {
	shoal_search_result pub; /* first */
	rpc_result res;
	shoal_field *fields;
	shoal_explain explain;
	shoal_explain_shard *xshards;
	shoal_explain_worker *xworkers;
} search_impl;

static shoal_code
code_of(int32_t c)
{
	return c >= 0 && c <= SHOAL_UNAUTHENTICATED ? (shoal_code)c : SHOAL_UNKNOWN;
}

static const char *
explain_str(const char *s)
{
	return s != NULL ? s : "";
}

/* Converts the reply's explain into im->explain; false when out of memory. */
static bool
explain_from_reply(const Shoal__SearchExplain *x, search_impl *im)
{
	shoal_explain *e = &im->explain;

	if ((x->n_shards > 0 &&
	        (im->xshards = calloc(x->n_shards, sizeof *im->xshards)) == NULL) ||
	    (x->n_workers > 0 &&
	        (im->xworkers = calloc(x->n_workers, sizeof *im->xworkers)) == NULL))
		return false;
	e->placement = explain_str(x->placement);
	e->plan = explain_str(x->plan);
	e->epoch = x->epoch;
	e->retries = x->retries;
	e->candidates = x->candidates;
	e->merge_micros = x->merge_micros;
	e->total_micros = x->total_micros;
	for (size_t i = 0; i < x->n_shards; i++) {
		const Shoal__ShardExplain *s = x->shards[i];
		shoal_explain_shard *o = &im->xshards[i];
		o->shard_id = s->shard_id;
		o->index = s->index;
		o->worker = explain_str(s->worker);
		o->partition = explain_str(s->partition);
		o->candidates = s->candidates;
		o->micros = s->micros;
		o->code = code_of(s->code);
		o->message = explain_str(s->message);
		o->epoch = s->epoch;
	}
	for (size_t i = 0; i < x->n_workers; i++) {
		const Shoal__WorkerExplain *w = x->workers[i];
		shoal_explain_worker *o = &im->xworkers[i];
		o->worker = explain_str(w->worker);
		o->url = explain_str(w->url);
		o->shards = w->shards;
		o->micros = w->micros;
		o->code = code_of(w->code);
		o->message = explain_str(w->message);
	}
	e->n_shards = x->n_shards;
	e->shards = im->xshards;
	e->n_workers = x->n_workers;
	e->workers = im->xworkers;
	im->pub.explain = e;
	return true;
}

shoal_code
shoal_search(shoal_client *c, const char *tenant, const char *collection,
    const float *vector, uint32_t dim, const shoal_search_params *params,
    shoal_search_result **out, shoal_status *st)
{
	return shoal_search_ex(c, tenant, collection, vector, dim, params, NULL, out, st);
}

shoal_code
shoal_search_ex(shoal_client *c, const char *tenant, const char *collection,
    const float *vector, uint32_t dim, const shoal_search_params *params,
    const shoal_search_opts *opts, shoal_search_result **out, shoal_status *st)
{
	Shoal__SearchRequest req = SHOAL__SEARCH_REQUEST__INIT;
	const Shoal__SearchReply *rep;
	size_t n_fields = 0, fi = 0;
	rpc_result res = {0};
	search_impl *im;
	shoal_code rv;

	*out = NULL;
	if ((rv = check_target(tenant, collection, st)) != SHOAL_OK)
		return rv;
	if (vector == NULL || dim == 0 || dim > SHOAL_MAX_DIM)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "query vector %s, expected 1..%u floats",
		    vector == NULL ? "is NULL" : "has a bad dimension", SHOAL_MAX_DIM);
	for (uint32_t j = 0; j < dim; j++)
		if (!isfinite(vector[j]))
			return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
			    "query component %u is %s, vectors must be finite", j,
			    isnan(vector[j]) ? "NaN" : "infinite");
	req.tenant = (char *)tenant;
	req.collection = (char *)collection;
	req.vector = (float *)vector;
	req.n_vector = dim;
	req.k = DEFAULT_K;
	if (params != NULL) {
		if (params->k > 0)
			req.k = params->k;
		req.ef_search = params->ef_search;
		req.exact = params->exact;
		req.with_payload = params->with_payload;
		req.with_vector = params->with_vector;
		if (params->filter != NULL &&
		    (rv = filter_parse(params->filter, &req.filter, st)) != SHOAL_OK)
			return rv; /* INVALID_ARGUMENT with a position, or RESOURCE_EXHAUSTED */
	}
	if (opts != NULL) {
		if (opts->key != NULL)
			req.key = (char *)opts->key;
		req.allow_partial = opts->allow_partial;
		req.explain = opts->explain;
	}
	RPC_INVOKE(shoal__coordinator__search, c->svc, &req, &res);
	filter_free(req.filter); /* packed into the request: no longer needed */
	req.filter = NULL;
	if ((rv = finish(&res, st)) != SHOAL_OK)
		return rv;
	rep = (const Shoal__SearchReply *)res.reply;
	for (size_t i = 0; i < rep->n_hits; i++)
		n_fields += fields_count(rep->hits[i]->payload, rep->hits[i]->n_payload);
	void *hits;
	if ((im = calloc(1, sizeof *im)) == NULL ||
	    !result_arrays(rep->n_hits, sizeof(shoal_hit), n_fields, &hits, &im->fields)) {
		free(im);
		rpc_result_free(&res);
		return oom(st);
	}
	im->res = res;
	im->pub.n_hits = rep->n_hits;
	im->pub.hits = hits;
	im->pub.complete = rep->complete != 0;
	im->pub.n_missing = rep->n_missing_workers;
	im->pub.missing_workers = (const char *const *)rep->missing_workers;
	if (rep->explain != NULL && !explain_from_reply(rep->explain, im)) {
		shoal_search_result_free(&im->pub);
		return oom(st);
	}
	for (size_t i = 0; i < rep->n_hits; i++) {
		const Shoal__Hit *h = rep->hits[i];
		shoal_point p;
		point_from_reply(h->id, h->vector, h->n_vector, h->payload, h->n_payload, h->text,
		    im->fields, &fi, &p);
		im->pub.hits[i] = (shoal_hit){.id = p.id, .distance = h->distance, .dim = p.dim,
		    .vector = p.vector, .n_payload = p.n_payload, .payload = p.payload, .text = p.text};
	}
	*out = &im->pub;
	return SHOAL_OK;
}

void
shoal_search_result_free(shoal_search_result *r)
{
	search_impl *im = (search_impl *)r;

	if (im == NULL)
		return;
	free(im->xshards);
	free(im->xworkers);
	free(im->pub.hits);
	free(im->fields);
	rpc_result_free(&im->res);
	free(im);
}

/* ===================================================================
 * Import from PostgreSQL
 * =================================================================== */

const char *
shoal_import_state_name(shoal_import_state s)
{
	switch (s) {
	case SHOAL_IMPORT_RUNNING: return "running";
	case SHOAL_IMPORT_SUCCEEDED: return "succeeded";
	case SHOAL_IMPORT_FAILED: return "failed";
	case SHOAL_IMPORT_INTERRUPTED: return "interrupted";
	case SHOAL_IMPORT_CANCELLED: return "cancelled";
	default: return "unknown";
	}
}

static const char *
str_or_empty(const char *s)
{
	return s != NULL ? s : "";
}

/* Fills o from m; skips[] has room for m->n_skips entries.  Strings point
 * into m. */
static void
import_from_reply(const Shoal__ImportJob *m, shoal_import_info *o, shoal_import_skip *skips)
{
	static const Shoal__ImportSpec empty = SHOAL__IMPORT_SPEC__INIT;
	const Shoal__ImportSpec *s = m->spec ? m->spec : &empty;

	memset(o, 0, sizeof *o);
	copy_name(o->id, m->id);
	o->state = (shoal_import_state)m->state;
	o->dsn = str_or_empty(s->dsn);
	o->table = str_or_empty(s->table);
	o->query = str_or_empty(s->query);
	o->schemas = str_or_empty(s->schemas);
	o->tenant = str_or_empty(s->tenant);
	o->tenant_col = str_or_empty(s->tenant_col);
	o->collection = str_or_empty(s->collection);
	o->rows_estimated = m->rows_estimated;
	o->rows_done = m->rows_done;
	o->rows_imported = m->rows_imported;
	o->rows_skipped = m->rows_skipped;
	o->rows_read = m->rows_read;
	for (size_t i = 0; i < m->n_skips; i++) {
		skips[i].reason = str_or_empty(m->skips[i]->reason);
		skips[i].rows = m->skips[i]->rows;
		skips[i].example = str_or_empty(m->skips[i]->example);
	}
	o->n_skips = m->n_skips;
	o->skips = m->n_skips ? skips : NULL;
	o->rows_per_sec = m->rows_per_sec;
	o->elapsed_ms = m->elapsed_ms;
	o->error_code = (shoal_code)m->error_code;
	o->error = str_or_empty(m->error);
	o->units_total = m->units_total;
	o->units_done = m->units_done;
	o->current = str_or_empty(m->current);
	o->resumed_from = m->resumed_from;
	o->runs = m->runs;
	o->tenants = m->tenants;
	o->dim = m->dim;
	o->notice = str_or_empty(m->notice);
	o->dedicated_tenants = s->dedicated_tenants;
}

typedef struct import_impl {
	shoal_import_info pub; /* first */
	rpc_result res;
	shoal_import_skip skips[];
} import_impl;

/* Turns a finished ImportJob call into *out. */
static shoal_code
import_result(rpc_result *res, shoal_import_info **out, shoal_status *st)
{
	shoal_code rv;

	if ((rv = finish(res, st)) != SHOAL_OK)
		return rv;
	const Shoal__ImportJob *m = (const Shoal__ImportJob *)res->reply;
	if (out == NULL) {
		rpc_result_free(res);
		return SHOAL_OK;
	}
	import_impl *im = calloc(1, sizeof *im + m->n_skips * sizeof(shoal_import_skip));
	if (im == NULL) {
		rpc_result_free(res);
		return oom(st);
	}
	im->res = *res;
	import_from_reply(m, &im->pub, im->skips);
	*out = &im->pub;
	return SHOAL_OK;
}

shoal_code
shoal_import_start(shoal_client *c, const shoal_import_spec *spec, shoal_import_info **out,
    shoal_status *st)
{
	Shoal__ImportSpec req = SHOAL__IMPORT_SPEC__INIT;
	rpc_result res = {0};

	if (out != NULL)
		*out = NULL;
	if (spec == NULL)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT, "import spec is NULL");
	if (spec->n_payload_cols > 0 && spec->payload_cols == NULL)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "%zu payload columns but payload_cols is NULL", spec->n_payload_cols);
	for (size_t i = 0; i < spec->n_payload_cols; i++)
		if (spec->payload_cols[i] == NULL)
			return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
			    "payload column %zu is NULL", i);
	/* the server checks the rest and says precisely what is wrong */
	req.dsn = (char *)str_or_empty(spec->dsn);
	req.table = (char *)str_or_empty(spec->table);
	req.query = (char *)str_or_empty(spec->query);
	req.schemas = (char *)str_or_empty(spec->schemas);
	req.id_col = (char *)str_or_empty(spec->id_col);
	req.vector_col = (char *)str_or_empty(spec->vector_col);
	req.tenant = (char *)str_or_empty(spec->tenant);
	req.tenant_col = (char *)str_or_empty(spec->tenant_col);
	req.payload_cols = (char **)spec->payload_cols;
	req.n_payload_cols = spec->n_payload_cols;
	req.text_col = (char *)str_or_empty(spec->text_col);
	req.collection = (char *)str_or_empty(spec->collection);
	req.metric = (Shoal__Metric)spec->metric;
	req.m = spec->m;
	req.ef_construction = spec->ef_construction;
	req.skip_bad_rows = spec->skip_bad_rows;
	req.resume = spec->resume;
	req.batch = spec->batch;
	req.parallel = spec->parallel;
	req.max_rate = spec->max_rate;
	req.copy_format = (char *)str_or_empty(spec->copy_format);
	req.dedicated_tenants = spec->dedicated_tenants;
	RPC_INVOKE(shoal__coordinator__start_import, c->svc, &req, &res);
	return import_result(&res, out, st);
}

shoal_code
shoal_import_get(shoal_client *c, const char *id, shoal_import_info **out, shoal_status *st)
{
	Shoal__ImportJobRequest req = SHOAL__IMPORT_JOB_REQUEST__INIT;
	rpc_result res = {0};

	*out = NULL;
	req.id = (char *)str_or_empty(id);
	RPC_INVOKE(shoal__coordinator__get_import, c->svc, &req, &res);
	return import_result(&res, out, st);
}

shoal_code
shoal_import_cancel(shoal_client *c, const char *id, shoal_import_info **out, shoal_status *st)
{
	Shoal__ImportJobRequest req = SHOAL__IMPORT_JOB_REQUEST__INIT;
	rpc_result res = {0};

	if (out != NULL)
		*out = NULL;
	req.id = (char *)str_or_empty(id);
	RPC_INVOKE(shoal__coordinator__cancel_import, c->svc, &req, &res);
	return import_result(&res, out, st);
}

void
shoal_import_info_free(shoal_import_info *info)
{
	import_impl *im = (import_impl *)info;

	if (im == NULL)
		return;
	rpc_result_free(&im->res);
	free(im);
}

/* A list is one block: this header, then the infos, then the skips. */
typedef union import_list_hdr {
	struct {
		rpc_result res;
	} h;
	max_align_t align;
} import_list_hdr;

shoal_code
shoal_import_list(shoal_client *c, shoal_import_info **out, size_t *n, shoal_status *st)
{
	Shoal__ListImportsRequest req = SHOAL__LIST_IMPORTS_REQUEST__INIT;
	rpc_result res = {0};
	shoal_code rv;

	*out = NULL;
	*n = 0;
	RPC_INVOKE(shoal__coordinator__list_imports, c->svc, &req, &res);
	if ((rv = finish(&res, st)) != SHOAL_OK)
		return rv;
	const Shoal__ListImportsReply *rep = (const Shoal__ListImportsReply *)res.reply;
	size_t nskips = 0;
	for (size_t i = 0; i < rep->n_jobs; i++)
		nskips += rep->jobs[i]->n_skips;
	import_list_hdr *hdr = calloc(1, sizeof *hdr + rep->n_jobs * sizeof(shoal_import_info) +
	    nskips * sizeof(shoal_import_skip));
	if (hdr == NULL) {
		rpc_result_free(&res);
		return oom(st);
	}
	hdr->h.res = res;
	shoal_import_info *infos = (shoal_import_info *)(hdr + 1);
	shoal_import_skip *skips = (shoal_import_skip *)(infos + rep->n_jobs);
	for (size_t i = 0; i < rep->n_jobs; i++) {
		import_from_reply(rep->jobs[i], &infos[i], skips);
		skips += rep->jobs[i]->n_skips;
	}
	*out = infos;
	*n = rep->n_jobs;
	return SHOAL_OK;
}

void
shoal_import_list_free(shoal_import_info *list)
{
	if (list == NULL)
		return;
	import_list_hdr *hdr = (import_list_hdr *)list - 1;
	rpc_result_free(&hdr->h.res);
	free(hdr);
}

/* ===================================================================
 * Backups
 * =================================================================== */

typedef struct backup_impl {
	shoal_backup_info pub; /* first: the public pointer is the impl's */
	rpc_result res;        /* owns the strings pub points to */
} backup_impl;

shoal_code
shoal_backup_create(shoal_client *c, const char *dir, uint32_t timeout_ms,
    shoal_backup_info **out, shoal_status *st)
{
	Shoal__CreateBackupRequest req = SHOAL__CREATE_BACKUP_REQUEST__INIT;
	const ProtobufCMethodDescriptor *m =
	    protobuf_c_service_descriptor_get_method_by_name(&shoal__coordinator__descriptor,
	        "CreateBackup");
	rpc_call_opts o = {.timeout_ms = timeout_ms ? timeout_ms : 3600u * 1000u};
	const Shoal__BackupInfo *rep;
	backup_impl *im;
	rpc_result res = {0};
	shoal_code rv;

	*out = NULL;
	if (dir == NULL || dir[0] != '/')
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "backup directory '%s' must be an absolute path", dir ? dir : "");
	req.dir = (char *)dir;
	rpc_client_call_opts(c->rpc, (unsigned)(m - shoal__coordinator__descriptor.methods),
	    &req.base, &o, &res);
	if ((rv = finish(&res, st)) != SHOAL_OK)
		return rv;
	rep = (const Shoal__BackupInfo *)res.reply;
	if ((im = calloc(1, sizeof *im)) == NULL ||
	    (rep->n_workers > 0 &&
	        (im->pub.workers = calloc(rep->n_workers, sizeof *im->pub.workers)) == NULL)) {
		free(im);
		rpc_result_free(&res);
		return oom(st);
	}
	im->res = res;
	im->pub.dir = rep->dir;
	im->pub.created_ms = rep->created_ms;
	im->pub.epoch = rep->epoch;
	im->pub.version_floor = rep->version_floor;
	im->pub.tenants = rep->tenants;
	im->pub.collections = rep->collections;
	im->pub.micros = rep->micros;
	im->pub.n_workers = rep->n_workers;
	for (size_t i = 0; i < rep->n_workers; i++) {
		const Shoal__BackupWorker *w = rep->workers[i];
		shoal_backup_worker *o2 = &im->pub.workers[i];
		o2->name = w->name;
		o2->dir = w->dir;
		o2->points = w->points;
		o2->shards = w->shards;
		o2->bytes = w->bytes;
		o2->micros = w->micros;
	}
	*out = &im->pub;
	return SHOAL_OK;
}

void
shoal_backup_info_free(shoal_backup_info *info)
{
	backup_impl *im = (backup_impl *)info;

	if (im == NULL)
		return;
	free(im->pub.workers);
	rpc_result_free(&im->res);
	free(im);
}

/* ===================================================================
 * Online moves
 * =================================================================== */

static const char *const move_state_names[] = {"unknown", "creating", "copying", "cutover",
    "cleanup", "done", "aborted"};

static void
move_info_copy(const void *msg, void *o)
{
	const Shoal__MoveInfo *in = msg;
	shoal_move_info *out = o;

	memset(out, 0, sizeof *out);
	snprintf(out->id, sizeof out->id, "%s", in->id ? in->id : "");
	snprintf(out->tenant, sizeof out->tenant, "%s", in->tenant ? in->tenant : "");
	snprintf(out->from_worker, sizeof out->from_worker, "%s",
	    in->from_worker ? in->from_worker : "");
	snprintf(out->to_worker, sizeof out->to_worker, "%s", in->to_worker ? in->to_worker : "");
	out->state = (int)in->state;
	snprintf(out->state_name, sizeof out->state_name, "%s",
	    (unsigned)in->state < 7 ? move_state_names[in->state] : "unknown");
	out->shards = (uint32_t)in->n_shards;
	out->rows_total = in->rows_total;
	out->rows_copied = in->rows_copied;
	out->bytes_copied = in->bytes_copied;
	out->index_bytes_copied = in->index_bytes_copied;
	out->copy_ms = in->copy_ms;
	out->elapsed_ms = in->elapsed_ms;
	out->eta_ms = in->eta_ms;
	out->mb_per_s = in->mb_per_s;
	out->rows_per_s = in->rows_per_s;
	out->max_mbps = in->max_mbps;
	out->fence_ms = in->fence_ms;
	out->epoch = in->epoch;
	out->attempts = in->attempts;
	snprintf(out->error, sizeof out->error, "%s", in->error ? in->error : "");
}

/* StartMove with req (tenant or shard_id set). */
static shoal_code
start_move(shoal_client *c, Shoal__StartMoveRequest *req, const char *to, double max_mbps,
    shoal_move_info *out, shoal_status *st)
{
	rpc_result res = {0};
	shoal_code rv;

	if ((rv = check_name("worker", to, st)) != SHOAL_OK)
		return rv;
	req->to_worker = (char *)to;
	req->max_mbps = max_mbps;
	RPC_INVOKE(shoal__coordinator__start_move, c->svc, req, &res);
	if ((rv = finish(&res, st)) != SHOAL_OK)
		return rv;
	move_info_copy((const Shoal__MoveInfo *)res.reply, out);
	rpc_result_free(&res);
	return SHOAL_OK;
}

shoal_code
shoal_move_start(shoal_client *c, const char *tenant, const char *to, double max_mbps,
    shoal_move_info *out, shoal_status *st)
{
	Shoal__StartMoveRequest req = SHOAL__START_MOVE_REQUEST__INIT;
	shoal_code rv;

	if ((rv = check_name("tenant", tenant, st)) != SHOAL_OK)
		return rv;
	req.tenant = (char *)tenant;
	return start_move(c, &req, to, max_mbps, out, st);
}

shoal_code
shoal_shard_move_start(shoal_client *c, uint64_t shard_id, const char *to, double max_mbps,
    shoal_move_info *out, shoal_status *st)
{
	Shoal__StartMoveRequest req = SHOAL__START_MOVE_REQUEST__INIT;

	if (shard_id == 0)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT, "shard ids start at 1");
	req.tenant = (char *)"";
	req.shard_id = shard_id;
	return start_move(c, &req, to, max_mbps, out, st);
}

static shoal_code
move_by_id(shoal_client *c, const char *id, bool cancel, shoal_move_info *out,
    shoal_status *st)
{
	Shoal__MoveRequest req = SHOAL__MOVE_REQUEST__INIT;
	rpc_result res = {0};
	shoal_code rv;

	req.id = (char *)(id ? id : "");
	if (cancel)
		RPC_INVOKE(shoal__coordinator__cancel_move, c->svc, &req, &res);
	else
		RPC_INVOKE(shoal__coordinator__get_move, c->svc, &req, &res);
	if ((rv = finish(&res, st)) != SHOAL_OK)
		return rv;
	move_info_copy((const Shoal__MoveInfo *)res.reply, out);
	rpc_result_free(&res);
	return SHOAL_OK;
}

shoal_code
shoal_move_get(shoal_client *c, const char *id, shoal_move_info *out, shoal_status *st)
{
	return move_by_id(c, id, false, out, st);
}

shoal_code
shoal_move_cancel(shoal_client *c, const char *id, shoal_move_info *out, shoal_status *st)
{
	return move_by_id(c, id, true, out, st);
}

shoal_code
shoal_move_list(shoal_client *c, shoal_move_info **out, size_t *n, shoal_status *st)
{
	Shoal__ListMovesRequest req = SHOAL__LIST_MOVES_REQUEST__INIT;
	rpc_result res = {0};
	shoal_code rv;

	*out = NULL;
	*n = 0;
	RPC_INVOKE(shoal__coordinator__list_moves, c->svc, &req, &res);
	if ((rv = finish(&res, st)) != SHOAL_OK)
		return rv;
	const Shoal__ListMovesReply *rep = (const Shoal__ListMovesReply *)res.reply;
	void *arr = NULL;
	rv = list_from_reply(&res, (void *const *)rep->moves, rep->n_moves, sizeof **out,
	    move_info_copy, false, &arr, n, st);
	*out = arr;
	return rv;
}

/* ---- rebalance, drain, remove a worker ---- */

static const char *const rb_state_names[] = {"none", "planned", "running", "done", "failed",
    "cancelled"};

static shoal_code
rebalance_finish(rpc_result *res, shoal_rebalance_info **out, shoal_status *st)
{
	shoal_code rv;
	*out = NULL;
	if ((rv = finish(res, st)) != SHOAL_OK)
		return rv;
	const Shoal__RebalanceInfo *in = (const Shoal__RebalanceInfo *)res->reply;
	shoal_rebalance_info *ri = calloc(1, sizeof *ri);
	if (ri == NULL ||
	    (in->n_moves && (ri->moves = calloc(in->n_moves, sizeof *ri->moves)) == NULL) ||
	    (in->n_workers && (ri->workers = calloc(in->n_workers, sizeof *ri->workers)) == NULL)) {
		shoal_rebalance_info_free(ri);
		rpc_result_free(res);
		return oom(st);
	}
	ri->state = (int)in->state;
	snprintf(ri->state_name, sizeof ri->state_name, "%s",
	    (unsigned)in->state < 6 ? rb_state_names[in->state] : "unknown");
	snprintf(ri->drain, sizeof ri->drain, "%s", in->drain ? in->drain : "");
	snprintf(ri->error, sizeof ri->error, "%s", in->error ? in->error : "");
	ri->elapsed_ms = in->elapsed_ms;
	ri->restarts = in->restarts;
	ri->current = in->current;
	ri->done = in->done;
	ri->n_moves = in->n_moves;
	for (size_t i = 0; i < in->n_moves; i++) {
		const Shoal__PlannedMove *p = in->moves[i];
		shoal_planned_move *q = &ri->moves[i];
		snprintf(q->tenant, sizeof q->tenant, "%s", p->tenant ? p->tenant : "");
		snprintf(q->from_worker, sizeof q->from_worker, "%s", p->from_worker ? p->from_worker : "");
		snprintf(q->to_worker, sizeof q->to_worker, "%s", p->to_worker ? p->to_worker : "");
		snprintf(q->error, sizeof q->error, "%s", p->error ? p->error : "");
		q->points = p->points;
		q->bytes = p->bytes;
		q->state = (int)p->state;
	}
	ri->n_workers = in->n_workers;
	for (size_t i = 0; i < in->n_workers; i++) {
		snprintf(ri->workers[i].name, sizeof ri->workers[i].name, "%s", in->workers[i]);
		ri->workers[i].bytes_before = i < in->n_bytes_before ? in->bytes_before[i] : 0;
		ri->workers[i].bytes_after = i < in->n_bytes_after ? in->bytes_after[i] : 0;
	}
	if (in->move != NULL) {
		ri->has_move = true;
		move_info_copy(in->move, &ri->move);
	}
	rpc_result_free(res);
	*out = ri;
	return SHOAL_OK;
}

shoal_code
shoal_rebalance_start(shoal_client *c, bool dry_run, double max_mbps, const char *drain,
    shoal_rebalance_info **out, shoal_status *st)
{
	Shoal__RebalanceRequest req = SHOAL__REBALANCE_REQUEST__INIT;
	rpc_result res = {0};
	shoal_code rv;

	*out = NULL;
	if (drain != NULL && (rv = check_name("worker", drain, st)) != SHOAL_OK)
		return rv;
	req.dry_run = dry_run;
	req.max_mbps = max_mbps;
	req.drain = (char *)(drain ? drain : "");
	RPC_INVOKE(shoal__coordinator__start_rebalance, c->svc, &req, &res);
	return rebalance_finish(&res, out, st);
}

shoal_code
shoal_rebalance_get(shoal_client *c, shoal_rebalance_info **out, shoal_status *st)
{
	Shoal__Empty req = SHOAL__EMPTY__INIT;
	rpc_result res = {0};
	RPC_INVOKE(shoal__coordinator__get_rebalance, c->svc, &req, &res);
	return rebalance_finish(&res, out, st);
}

shoal_code
shoal_rebalance_cancel(shoal_client *c, shoal_rebalance_info **out, shoal_status *st)
{
	Shoal__Empty req = SHOAL__EMPTY__INIT;
	rpc_result res = {0};
	RPC_INVOKE(shoal__coordinator__cancel_rebalance, c->svc, &req, &res);
	return rebalance_finish(&res, out, st);
}

void
shoal_rebalance_info_free(shoal_rebalance_info *info)
{
	if (info == NULL)
		return;
	free(info->moves);
	free(info->workers);
	free(info);
}

shoal_code
shoal_worker_remove(shoal_client *c, const char *name, shoal_status *st)
{
	Shoal__RemoveWorkerRequest req = SHOAL__REMOVE_WORKER_REQUEST__INIT;
	rpc_result res = {0};
	shoal_code rv;

	if ((rv = check_name("worker", name, st)) != SHOAL_OK)
		return rv;
	req.name = (char *)name;
	RPC_INVOKE(shoal__coordinator__remove_worker, c->svc, &req, &res);
	if ((rv = finish(&res, st)) == SHOAL_OK)
		rpc_result_free(&res);
	return rv;
}
