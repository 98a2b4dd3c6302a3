/* reqlimits.c -- per-request limits (reqlimits.h). */
#include "reqlimits.h"

#include <string.h>

#include "shoal.pb-c.h"

static shoal_code
over(shoal_status *st, const char *method, const char *what, uint64_t got, uint32_t max,
    const char *flag)
{
	return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
	    "%s: %s %llu exceeds this coordinator's limit of %u (--%s)", method, what,
	    (unsigned long long)got, max, flag);
}

shoal_code
reqlimits_check(const reqlimits *l, const char *method, const ProtobufCMessage *input,
    shoal_status *st)
{
	if (input == NULL)
		return SHOAL_OK;
	if (input->descriptor == &shoal__upsert_request__descriptor) {
		const Shoal__UpsertRequest *r = (const Shoal__UpsertRequest *)input;
		if (r->n_points > l->max_batch)
			return over(st, method, "batch of", r->n_points, l->max_batch, "max-batch");
	} else if (input->descriptor == &shoal__get_request__descriptor) {
		const Shoal__GetRequest *r = (const Shoal__GetRequest *)input;
		if (r->n_ids > l->max_batch)
			return over(st, method, "batch of", r->n_ids, l->max_batch, "max-batch");
	} else if (input->descriptor == &shoal__delete_request__descriptor) {
		const Shoal__DeleteRequest *r = (const Shoal__DeleteRequest *)input;
		if (r->n_ids > l->max_batch)
			return over(st, method, "batch of", r->n_ids, l->max_batch, "max-batch");
	} else if (input->descriptor == &shoal__search_request__descriptor) {
		const Shoal__SearchRequest *r = (const Shoal__SearchRequest *)input;
		if (r->k > l->max_k)
			return over(st, method, "k", r->k, l->max_k, "max-k");
		if (r->ef_search > l->max_ef_search)
			return over(st, method, "ef_search", r->ef_search, l->max_ef_search,
			    "max-ef-search");
	} else if (input->descriptor == &shoal__collection_spec__descriptor) {
		const Shoal__CollectionSpec *r = (const Shoal__CollectionSpec *)input;
		if (r->dim > l->max_dim)
			return over(st, method, "dim", r->dim, l->max_dim, "max-dim");
	}
	return SHOAL_OK;
}
