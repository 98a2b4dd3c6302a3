/* keys.c -- who may call what on the coordinator (docs/security.md):
 * the cluster secret, the admin key and tenant API keys; and the
 * CreateTenantKey / ListTenantKeys / RevokeTenantKey handlers.
 *
 * Callers and what they may do (keys_authorize, run by the rpc layer on
 * every request after its payload is decoded, before the handler):
 *  - RegisterWorker needs the cluster secret (workers).
 *  - No admin key configured: everything else is open (development).
 *  - The admin key: everything else.
 *  - A tenant key of tenant T: Upsert, Search, Get, Delete, Count and
 *    ListCollections of T's own collections (request field tenant == T).
 *    On cluster-level collections (tenant ""): reads (Search, Get, Count)
 *    of a REFERENCE collection; in a SHARED collection, only its own
 *    distribution-key value: Search, Get and Delete with key == T (dist.c
 *    restricts a keyed get/delete to that key's partition), and Upsert
 *    when every point's key is T (one that is not refuses the whole
 *    request, nothing written).  Nothing else (no Count: it is not kept
 *    per key).
 *  - Anything else: UNAUTHENTICATED (no token, unknown token) or
 *    PERMISSION_DENIED (a valid tenant key asking for more).
 * Refusals are counted by the rpc observer like any status
 * (shoal_rpc_requests_total{code=...}).
 *
 * Invariants: the catalog holds only SHA-256 hashes of tenant keys; a key
 * is shown once, in CreateTenantKey's reply; no key or secret appears in a
 * log line or an error message; the admin key and the secret are compared
 * in constant time (auth_equal), tenant keys by their hash.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "catalog.h"
#include "keys.h"
#include "log.h"
#include "pgcopy.h"
#include "router_int.h"
#include "shardmap.h"
#include "util.h"

#define KEY_PREFIX "shoal_tk_"

/* A string field of m by name ("" when unset), or NULL when m has none. */
static const char *
str_field(const ProtobufCMessage *m, const char *name)
{
	const ProtobufCFieldDescriptor *f =
	    protobuf_c_message_descriptor_get_field_by_name(m->descriptor, name);
	if (f == NULL || f->type != PROTOBUF_C_TYPE_STRING || f->label == PROTOBUF_C_LABEL_REPEATED)
		return NULL;
	const char *v = *(const char *const *)(const void *)((const char *)m + f->offset);
	return v != NULL ? v : "";
}

static bool
is_one_of(const char *method, const char *const *list)
{
	for (; *list != NULL; list++)
		if (strcmp(method, *list) == 0)
			return true;
	return false;
}

/* An Upsert into shared collection coll through tenant k's key: every
 * point's distribution key (payload field key_field) must be k's tenant.
 * One point without it or with another refuses the whole request. */
static shoal_code
own_key_points(const catalog_tenant_key *k, const char *coll, const char *key_field,
    const Shoal__UpsertRequest *in, shoal_status *st)
{
	for (size_t i = 0; i < in->n_points; i++) {
		char buf[SHARDMAP_KEY_MAX + 1], what[48];
		const char *key;
		shoal_status ign;
		snprintf(what, sizeof what, "point %zu", i);
		if (shardmap_point_key(in->points[i], key_field, what, buf, sizeof buf, &key, &ign) !=
		    SHOAL_OK)
			return shoal_status_set(st, SHOAL_PERMISSION_DENIED,
			    "Upsert refused: point %zu has no distribution key ('%s'); in shared "
			    "collection '%s' the key of tenant '%s' may only write '%s' = '%s'",
			    i, key_field, coll, k->tenant, key_field, k->tenant);
		if (strcmp(key, k->tenant) != 0)
			return shoal_status_set(st, SHOAL_PERMISSION_DENIED,
			    "Upsert refused: point %zu has '%s' = '%s'; in shared collection '%s' the "
			    "key of tenant '%s' may only write '%s' = '%s'",
			    i, key_field, key, coll, k->tenant, key_field, k->tenant);
	}
	return SHOAL_OK;
}

static shoal_code
tenant_key_allows(keys_auth *a, const catalog_tenant_key *k, const char *method,
    const ProtobufCMessage *input, shoal_status *st)
{
	static const char *const data[] = {"Upsert", "Search", "Get", "Delete", "Count",
	    "ListCollections", NULL};
	static const char *const reads[] = {"Search", "Get", "Count", NULL};
	static const char *const keyed[] = {"Search", "Get", "Delete", NULL};

	if (!is_one_of(method, data))
		return shoal_status_set(st, SHOAL_PERMISSION_DENIED,
		    "%s refused: a tenant key (of '%s') may not call it; it needs the admin key",
		    method, k->tenant);
	const char *tenant = input != NULL ? str_field(input, "tenant") : NULL;
	if (tenant == NULL)
		return shoal_status_set(st, SHOAL_PERMISSION_DENIED, "%s refused for a tenant key",
		    method);
	if (strcmp(tenant, k->tenant) == 0)
		return SHOAL_OK;
	if (tenant[0] != '\0' || strcmp(method, "ListCollections") == 0)
		return shoal_status_set(st, SHOAL_PERMISSION_DENIED,
		    "%s refused: the key of tenant '%s' may not reach tenant '%s'", method, k->tenant,
		    tenant);
	/* a cluster-level collection */
	const char *coll = str_field(input, "collection");
	catalog_dcoll dc;
	shoal_status ign;
	if (coll == NULL || catalog_get_dcoll(a->cat, coll, &dc, &ign) != SHOAL_OK)
		return shoal_status_set(st, SHOAL_PERMISSION_DENIED,
		    "%s refused: the key of tenant '%s' may not reach tenant ''", method, k->tenant);
	catalog_kind kind = dc.kind;
	if (kind == CATALOG_REFERENCE && is_one_of(method, reads)) {
		catalog_dcoll_clear(&dc);
		return SHOAL_OK;
	}
	if (kind == CATALOG_SHARED && strcmp(method, "Upsert") == 0) {
		shoal_code rv = own_key_points(k, coll, dc.key_field,
		    (const Shoal__UpsertRequest *)(const void *)input, st);
		catalog_dcoll_clear(&dc);
		return rv;
	}
	catalog_dcoll_clear(&dc);
	if (kind == CATALOG_SHARED && is_one_of(method, keyed)) {
		/* dist.c restricts a get / delete with a key to that key's
		 * partition, so key = T reaches only T's points */
		const char *key = str_field(input, "key");
		if (key != NULL && strcmp(key, k->tenant) == 0)
			return SHOAL_OK;
		return shoal_status_set(st, SHOAL_PERMISSION_DENIED,
		    "%s refused: in shared collection '%s' the key of tenant '%s' needs key = '%s'",
		    method, coll, k->tenant, k->tenant);
	}
	return shoal_status_set(st, SHOAL_PERMISSION_DENIED,
	    "%s refused: a tenant key may not %s %s collection '%s' (admin key needed)", method,
	    kind == CATALOG_REFERENCE ? "write to" : "call it on",
	    kind == CATALOG_REFERENCE ? "reference" : "shared", coll);
}

shoal_code
keys_authorize(void *arg, const char *method, const char *token,
    const ProtobufCMessage *input, shoal_status *st)
{
	keys_auth *a = arg;

	if (strcmp(method, "RegisterWorker") == 0)
		return auth_require_secret((void *)a->secret, method, token, st);
	if (a->admin_key == NULL || auth_equal(token, a->admin_key))
		return SHOAL_OK;
	if (token == NULL || token[0] == '\0')
		return shoal_status_set(st, SHOAL_UNAUTHENTICATED,
		    "%s refused: no token (this coordinator requires the admin key or a tenant "
		    "key: shoal --token or SHOAL_TOKEN; docs/security.md)", method);
	uint8_t h[32];
	catalog_tenant_key k;
	pgcopy_sha256(token, strlen(token), h);
	if (a->cat == NULL || !catalog_find_tenant_key(a->cat, h, &k))
		return shoal_status_set(st, SHOAL_UNAUTHENTICATED,
		    "%s refused: unknown token (not the admin key nor a tenant key; "
		    "docs/security.md)", method);
	return tenant_key_allows(a, &k, method, input, st);
}

/* ---- handlers (admin key only: keys_authorize lets no tenant key in) --- */

static void
info_of(const catalog_tenant_key *k, Shoal__TenantKeyInfo *out)
{
	shoal__tenant_key_info__init(out);
	out->tenant = (char *)k->tenant;
	out->id = (char *)k->id;
	out->created_unix = k->created_unix;
}

void
h_create_tenant_key(Shoal__Coordinator_Service *svc, const Shoal__TenantKeyRequest *in,
    Shoal__TenantKeyInfo_Closure done, void *cd)
{
	router *r = (router *)svc;
	char key[sizeof KEY_PREFIX + 64];
	catalog_tenant_key k = {0};
	shoal_status st;

	if (util_check_name("tenant", in->tenant, &st) != SHOAL_OK) {
		rpc_call_fail(cd, st.code, "%s", st.msg);
		done(NULL, cd);
		return;
	}
	memcpy(key, KEY_PREFIX, sizeof KEY_PREFIX - 1);
	util_random_hex(key + sizeof KEY_PREFIX - 1, 32); /* 32 random bytes */
	pgcopy_sha256(key, strlen(key), k.hash);
	snprintf(k.tenant, sizeof k.tenant, "%s", in->tenant);
	for (int i = 0; i < CATALOG_KEY_ID_LEN / 2; i++)
		snprintf(k.id + 2 * i, 3, "%02x", k.hash[i]);
	k.created_unix = (uint64_t)time(NULL);
	if (catalog_add_tenant_key(r->cat, &k, &st) != SHOAL_OK) {
		rpc_call_fail(cd, st.code, "%s", st.msg);
		done(NULL, cd);
		return;
	}
	log_info("tenant %s: API key %s created", k.tenant, k.id);
	Shoal__TenantKeyInfo out;
	info_of(&k, &out);
	out.key = key;
	done(&out, cd);
	memset(key, 0, sizeof key);
}

void
h_list_tenant_keys(Shoal__Coordinator_Service *svc, const Shoal__TenantKeyRequest *in,
    Shoal__ListTenantKeysReply_Closure done, void *cd)
{
	router *r = (router *)svc;
	catalog_tenant_key *ks = NULL;
	shoal_status st;

	if (in->tenant[0] != '\0' && util_check_name("tenant", in->tenant, &st) != SHOAL_OK) {
		rpc_call_fail(cd, st.code, "%s", st.msg);
		done(NULL, cd);
		return;
	}
	size_t n = catalog_list_tenant_keys(r->cat, in->tenant[0] ? in->tenant : NULL, &ks);
	Shoal__TenantKeyInfo *infos = xmalloc((n + 1) * sizeof *infos);
	Shoal__TenantKeyInfo **ptrs = xmalloc((n + 1) * sizeof *ptrs);
	for (size_t i = 0; i < n; i++) {
		info_of(&ks[i], &infos[i]);
		ptrs[i] = &infos[i];
	}
	Shoal__ListTenantKeysReply out = SHOAL__LIST_TENANT_KEYS_REPLY__INIT;
	out.n_keys = n;
	out.keys = ptrs;
	done(&out, cd);
	free(ptrs);
	free(infos);
	free(ks);
}

void
h_revoke_tenant_key(Shoal__Coordinator_Service *svc, const Shoal__TenantKeyRequest *in,
    Shoal__Empty_Closure done, void *cd)
{
	router *r = (router *)svc;
	shoal_status st;

	if (util_check_name("tenant", in->tenant, &st) != SHOAL_OK ||
	    catalog_revoke_tenant_key(r->cat, in->tenant, in->id, &st) != SHOAL_OK) {
		rpc_call_fail(cd, st.code, "%s", st.msg);
		done(NULL, cd);
		return;
	}
	log_info("tenant %s: API key %s revoked", in->tenant, in->id);
	Shoal__Empty out = SHOAL__EMPTY__INIT;
	done(&out, cd);
}
