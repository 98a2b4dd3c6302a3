/* payload.c -- compact payload records, string dictionary, compiled
 * filters.  Layouts and rules: payload.h; semantics: common/filter.h.
 *
 * The stored payload is a packed shoal.Point carrying only field 3
 * (repeated PayloadField).  It is decoded here with a few lines of
 * protobuf wire parsing rather than protobuf-c's unpack, which would
 * allocate a tree per point on the write path (hot: every upsert of a
 * loaded partition passes through here).
 */
#include "payload.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "filter.h"
#include "util.h"

enum { PT_S = 1, PT_I = 2, PT_D = 3, PT_B = 4, PT_T = 5 };
#define NONE UINT32_MAX

/* ===================================================================
 * Varints and a growable byte buffer
 * =================================================================== */

static void
grow(void **buf, size_t *cap, size_t need, size_t elem)
{
	size_t c = *cap ? *cap : 64;

	if (need <= *cap)
		return;
	while (c < need)
		c *= 2;
	*buf = xrealloc(*buf, c * elem);
	*cap = c;
}

static size_t
put_varint(uint8_t *out, uint64_t v)
{
	size_t n = 0;
	while (v >= 0x80) {
		out[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	out[n++] = (uint8_t)v;
	return n;
}

/* Reads a varint at *p (< end); false when truncated or too long. */
static bool
get_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	uint64_t x = 0;
	for (int shift = 0; shift < 64 && *p < end; shift += 7) {
		uint8_t b = *(*p)++;
		x |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*v = x;
			return true;
		}
	}
	return false;
}

/* Record bytes under construction. */
typedef struct rbuf {
	uint8_t *b;
	size_t n, cap;
} rbuf;

static void
rb_bytes(rbuf *r, const void *p, size_t n)
{
	if (n == 0)
		return;
	grow((void **)&r->b, &r->cap, r->n + n, 1);
	memcpy(r->b + r->n, p, n);
	r->n += n;
}

static void
rb_varint(rbuf *r, uint64_t v)
{
	uint8_t tmp[10];
	rb_bytes(r, tmp, put_varint(tmp, v));
}

/* ===================================================================
 * Dictionary
 * =================================================================== */

static uint64_t
str_hash(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ULL;
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ULL;
	}
	return h ^ (h >> 29);
}

static uint32_t
dict_find(const pstore *p, const char *s, size_t n)
{
	if (p->hash_cap == 0)
		return NONE;
	for (size_t i = str_hash(s, n) & (p->hash_cap - 1);; i = (i + 1) & (p->hash_cap - 1)) {
		uint32_t e = p->hash[i];
		if (e == 0)
			return NONE;
		e--;
		if (p->str_len[e] == n && memcmp(p->chars + p->str_off[e], s, n) == 0)
			return e;
	}
}

static void
hash_insert(pstore *p, uint32_t id)
{
	const char *s = p->chars + p->str_off[id];
	for (size_t i = str_hash(s, p->str_len[id]) & (p->hash_cap - 1);;
	     i = (i + 1) & (p->hash_cap - 1))
		if (p->hash[i] == 0) {
			p->hash[i] = id + 1;
			return;
		}
}

static void
hash_rebuild(pstore *p, size_t cap)
{
	free(p->hash);
	p->hash = xcalloc(cap, sizeof *p->hash);
	p->hash_cap = cap;
	for (size_t id = 0; id < p->nstr; id++)
		hash_insert(p, (uint32_t)id);
}

static uint32_t
dict_intern(pstore *p, const char *s, size_t n)
{
	uint32_t id = dict_find(p, s, n);

	if (id != NONE)
		return id;
	if (n > UINT32_MAX || p->nstr >= NONE - 1)
		abort(); /* 4G distinct strings or a 4 GiB string in one partition */
	grow((void **)&p->chars, &p->chars_cap, p->nchars + n, 1);
	if (n > 0)
		memcpy(p->chars + p->nchars, s, n);
	if (p->nstr == p->str_cap) {
		size_t c = p->str_cap ? p->str_cap * 2 : 64;
		p->str_off = xrealloc(p->str_off, c * sizeof *p->str_off);
		p->str_len = xrealloc(p->str_len, c * sizeof *p->str_len);
		p->str_cap = c;
	}
	id = (uint32_t)p->nstr++;
	p->str_off[id] = p->nchars;
	p->str_len[id] = (uint32_t)n;
	p->nchars += n;
	if ((p->nstr + 1) * 2 > p->hash_cap)
		hash_rebuild(p, p->hash_cap ? p->hash_cap * 2 : 64);
	else
		hash_insert(p, id);
	return id;
}

/* ===================================================================
 * Store
 * =================================================================== */

void
pstore_init(pstore *p)
{
	memset(p, 0, sizeof *p);
}

void
pstore_free(pstore *p)
{
	free(p->chars);
	free(p->str_off);
	free(p->str_len);
	free(p->hash);
	free(p->recs);
	free(p->rec_off);
	memset(p, 0, sizeof *p);
}

static void
append_record(pstore *p, const uint8_t *rec, size_t n)
{
	if (p->nlabels + 2 > p->off_cap) {
		size_t c = p->off_cap ? p->off_cap * 2 : 64;
		while (c < p->nlabels + 2)
			c *= 2;
		p->rec_off = xrealloc(p->rec_off, c * sizeof *p->rec_off);
		p->off_cap = c;
	}
	if (p->nlabels == 0)
		p->rec_off[0] = 0;
	grow((void **)&p->recs, &p->recs_cap, p->nrecs_bytes + n, 1);
	if (n > 0)
		memcpy(p->recs + p->nrecs_bytes, rec, n);
	p->nrecs_bytes += n;
	p->nlabels++;
	p->rec_off[p->nlabels] = p->nrecs_bytes;
}

/* A length-delimited field at *q: sets [*b, *e) and advances. */
static bool
get_len(const uint8_t **q, const uint8_t *end, const uint8_t **b, const uint8_t **e)
{
	uint64_t n;
	if (!get_varint(q, end, &n) || n > (uint64_t)(end - *q))
		return false;
	*b = *q;
	*e = *q + n;
	*q += n;
	return true;
}

static bool
skip_field(const uint8_t **q, const uint8_t *end, unsigned wt)
{
	uint64_t v = 0;
	const uint8_t *b, *e;

	switch (wt) {
	case 0: return get_varint(q, end, &v);
	case 1: if (end - *q < 8) return false; *q += 8; return true;
	case 2: return get_len(q, end, &b, &e);
	case 5: if (end - *q < 4) return false; *q += 4; return true;
	default: return false;
	}
}

/* One decoded PayloadValue (strings point into the wire bytes). */
typedef struct wval {
	int type; /* 0 = not set */
	const uint8_t *s, *se;  /* PT_S */
	int64_t i;
	double d;
	bool b;
	const uint8_t *tb, *te; /* PT_T: the StringList bytes */
} wval;

static bool
decode_value(const uint8_t *q, const uint8_t *end, wval *v)
{
	memset(v, 0, sizeof *v);
	while (q < end) {
		uint64_t tag, x;
		if (!get_varint(&q, end, &tag))
			return false;
		unsigned fn = (unsigned)(tag >> 3), wt = (unsigned)(tag & 7);
		if (fn == 1 && wt == 2) {
			if (!get_len(&q, end, &v->s, &v->se))
				return false;
			v->type = PT_S;
		} else if (fn == 2 && wt == 0) {
			if (!get_varint(&q, end, &x))
				return false;
			v->i = (int64_t)x;
			v->type = PT_I;
		} else if (fn == 3 && wt == 1) {
			if (end - q < 8)
				return false;
			memcpy(&v->d, q, 8);
			q += 8;
			v->type = PT_D;
		} else if (fn == 4 && wt == 0) {
			if (!get_varint(&q, end, &x))
				return false;
			v->b = x != 0;
			v->type = PT_B;
		} else if (fn == 5 && wt == 2) {
			if (!get_len(&q, end, &v->tb, &v->te))
				return false;
			v->type = PT_T;
		} else if (!skip_field(&q, end, wt)) {
			return false;
		}
	}
	return true;
}

bool
pstore_append_packed(pstore *p, const void *packed, size_t len)
{
	const uint8_t *q = packed, *end = q + len;
	rbuf body = {0}, rec = {0};
	uint32_t *seen = NULL; /* key ids already in this record */
	size_t nfields = 0;
	bool ok = true;

	while (ok && q < end) {
		uint64_t tag;
		const uint8_t *fb, *fe, *key_b = NULL, *key_e = NULL, *val_b = NULL, *val_e = NULL;
		if (!get_varint(&q, end, &tag)) {
			ok = false;
			break;
		}
		if (tag != (3 << 3 | 2)) {
			ok = skip_field(&q, end, (unsigned)(tag & 7));
			continue;
		}
		if (!get_len(&q, end, &fb, &fe)) {
			ok = false;
			break;
		}
		while (ok && fb < fe) { /* PayloadField */
			uint64_t t2;
			if (!get_varint(&fb, fe, &t2)) {
				ok = false;
				break;
			}
			if (t2 == (1 << 3 | 2))
				ok = get_len(&fb, fe, &key_b, &key_e);
			else if (t2 == (2 << 3 | 2))
				ok = get_len(&fb, fe, &val_b, &val_e);
			else
				ok = skip_field(&fb, fe, (unsigned)(t2 & 7));
		}
		if (!ok)
			break;
		wval v;
		if (val_b == NULL || !decode_value(val_b, val_e, &v)) {
			ok = val_b == NULL; /* a field without value: skipped */
			continue;
		}
		if (v.type == 0 || key_b == NULL || key_b == key_e)
			continue;
		uint32_t kid = dict_intern(p, (const char *)key_b, (size_t)(key_e - key_b));
		bool dup = false;
		for (size_t i = 0; i < nfields; i++)
			dup |= seen[i] == kid;
		if (dup)
			continue; /* first occurrence counts */
		seen = xrealloc(seen, (nfields + 1) * sizeof *seen);
		seen[nfields++] = kid;
		rb_varint(&body, kid);
		uint8_t ty = (uint8_t)v.type;
		rb_bytes(&body, &ty, 1);
		switch (v.type) {
		case PT_S:
			rb_varint(&body, dict_intern(p, (const char *)v.s, (size_t)(v.se - v.s)));
			break;
		case PT_I:
			rb_bytes(&body, &v.i, 8);
			break;
		case PT_D:
			rb_bytes(&body, &v.d, 8);
			break;
		case PT_B: {
			uint8_t b = v.b;
			rb_bytes(&body, &b, 1);
			break;
		}
		case PT_T: {
			/* StringList: field 1, repeated string */
			const uint8_t *tq = v.tb;
			uint32_t *ids = NULL;
			size_t nt = 0;
			while (ok && tq < v.te) {
				uint64_t t3;
				const uint8_t *sb, *se;
				if (!get_varint(&tq, v.te, &t3)) {
					ok = false;
				} else if (t3 == (1 << 3 | 2)) {
					if ((ok = get_len(&tq, v.te, &sb, &se))) {
						ids = xrealloc(ids, (nt + 1) * sizeof *ids);
						ids[nt++] = dict_intern(p, (const char *)sb, (size_t)(se - sb));
					}
				} else {
					ok = skip_field(&tq, v.te, (unsigned)(t3 & 7));
				}
			}
			rb_varint(&body, nt);
			for (size_t i = 0; i < nt; i++)
				rb_varint(&body, ids[i]);
			free(ids);
			break;
		}
		}
	}
	free(seen);
	if (ok && nfields > 0) {
		rb_varint(&rec, nfields);
		rb_bytes(&rec, body.b, body.n);
	}
	append_record(p, rec.b, ok ? rec.n : 0);
	free(body.b);
	free(rec.b);
	return ok;
}

/* ---- record walking ---- */

/* A decoded field of a record. */
typedef struct rfield {
	uint32_t key;
	int type;
	uint32_t sid;             /* PT_S */
	int64_t i;
	double d;
	bool b;
	const uint8_t *tags;      /* PT_T: varints, ntags of them */
	uint64_t ntags;
} rfield;

/* Decodes the field at *q; records are built by us, but snapshots come
 * from disk and were checked at load, so this trusts its input. */
static void
next_field(const uint8_t **q, const uint8_t *end, rfield *f)
{
	uint64_t v = 0;

	get_varint(q, end, &v);
	f->key = (uint32_t)v;
	f->type = *(*q)++;
	switch (f->type) {
	case PT_S:
		get_varint(q, end, &v);
		f->sid = (uint32_t)v;
		break;
	case PT_I:
		memcpy(&f->i, *q, 8);
		*q += 8;
		break;
	case PT_D:
		memcpy(&f->d, *q, 8);
		*q += 8;
		break;
	case PT_B:
		f->b = *(*q)++ != 0;
		break;
	case PT_T:
		get_varint(q, end, &f->ntags);
		f->tags = *q;
		for (uint64_t i = 0; i < f->ntags; i++)
			get_varint(q, end, &v);
		break;
	}
}

/* Finds field `key` in record `label`. */
static bool
find_field(const pstore *p, size_t label, uint32_t key, rfield *f)
{
	const uint8_t *q = p->recs + p->rec_off[label], *end = p->recs + p->rec_off[label + 1];
	uint64_t n;

	if (q == end || !get_varint(&q, end, &n))
		return false;
	for (uint64_t i = 0; i < n; i++) {
		next_field(&q, end, f);
		if (f->key == key)
			return true;
	}
	return false;
}

void
pstore_append_copy(pstore *p, const pstore *src, size_t label)
{
	const uint8_t *q = src->recs + src->rec_off[label], *end = src->recs + src->rec_off[label + 1];
	rbuf rec = {0};
	uint64_t n;

	if (q == end || !get_varint(&q, end, &n)) {
		append_record(p, NULL, 0);
		return;
	}
	rb_varint(&rec, n);
	for (uint64_t i = 0; i < n; i++) {
		rfield f;
		next_field(&q, end, &f);
		uint32_t kid = dict_intern(p, src->chars + src->str_off[f.key], src->str_len[f.key]);
		uint8_t ty = (uint8_t)f.type;
		rb_varint(&rec, kid);
		rb_bytes(&rec, &ty, 1);
		switch (f.type) {
		case PT_S:
			rb_varint(&rec,
			    dict_intern(p, src->chars + src->str_off[f.sid], src->str_len[f.sid]));
			break;
		case PT_I: rb_bytes(&rec, &f.i, 8); break;
		case PT_D: rb_bytes(&rec, &f.d, 8); break;
		case PT_B: {
			uint8_t b = f.b;
			rb_bytes(&rec, &b, 1);
			break;
		}
		case PT_T: {
			const uint8_t *t = f.tags;
			uint64_t sid = 0;
			rb_varint(&rec, f.ntags);
			for (uint64_t j = 0; j < f.ntags; j++) {
				get_varint(&t, end, &sid);
				rb_varint(&rec, dict_intern(p, src->chars + src->str_off[sid],
				    src->str_len[sid]));
			}
			break;
		}
		}
	}
	append_record(p, rec.b, rec.n);
	free(rec.b);
}

size_t
pstore_bytes(const pstore *p)
{
	return p->chars_cap + p->str_cap * (sizeof *p->str_off + sizeof *p->str_len) +
	    p->hash_cap * sizeof *p->hash + p->recs_cap + p->off_cap * sizeof *p->rec_off;
}

/* ---- serialization: nstr u64 | nchars u64 | str_len[nstr] u32 | chars |
 *      nlabels u64 | nbytes u64 | rec_off[nlabels+1] u64 | recs ---- */

size_t
pstore_serial_size(const pstore *p)
{
	return 8 + 8 + p->nstr * 4 + p->nchars + 8 + 8 + (p->nlabels + 1) * 8 + p->nrecs_bytes;
}

void
pstore_serialize(const pstore *p, uint8_t *out)
{
	uint64_t v = 0;

	v = p->nstr;
	memcpy(out, &v, 8), out += 8;
	v = p->nchars;
	memcpy(out, &v, 8), out += 8;
	if (p->nstr)
		memcpy(out, p->str_len, p->nstr * 4), out += p->nstr * 4;
	if (p->nchars)
		memcpy(out, p->chars, p->nchars), out += p->nchars;
	v = p->nlabels;
	memcpy(out, &v, 8), out += 8;
	v = p->nrecs_bytes;
	memcpy(out, &v, 8), out += 8;
	if (p->nlabels > 0) {
		memcpy(out, p->rec_off, (p->nlabels + 1) * 8);
	} else {
		v = 0;
		memcpy(out, &v, 8);
	}
	out += (p->nlabels + 1) * 8;
	if (p->nrecs_bytes)
		memcpy(out, p->recs, p->nrecs_bytes);
}

/* Checks that one record is well formed and uses valid string ids. */
static bool
record_valid(const pstore *p, const uint8_t *q, const uint8_t *end)
{
	uint64_t n, v;

	if (q == end)
		return true;
	if (!get_varint(&q, end, &n))
		return false;
	for (uint64_t i = 0; i < n; i++) {
		if (!get_varint(&q, end, &v) || v >= p->nstr || q >= end)
			return false;
		switch (*q++) {
		case PT_S:
			if (!get_varint(&q, end, &v) || v >= p->nstr)
				return false;
			break;
		case PT_I:
		case PT_D:
			if (end - q < 8)
				return false;
			q += 8;
			break;
		case PT_B:
			if (q >= end)
				return false;
			q++;
			break;
		case PT_T: {
			uint64_t nt;
			if (!get_varint(&q, end, &nt))
				return false;
			for (uint64_t j = 0; j < nt; j++)
				if (!get_varint(&q, end, &v) || v >= p->nstr)
					return false;
			break;
		}
		default:
			return false;
		}
	}
	return q == end;
}

bool
pstore_deserialize(pstore *p, const uint8_t *in, size_t len)
{
	const uint8_t *end = in + len;
	uint64_t nstr, nchars, nlabels, nbytes, off = 0;

	pstore_init(p);
#define NEED(n) do { if ((uint64_t)(end - in) < (uint64_t)(n)) goto bad; } while (0)
	NEED(16);
	memcpy(&nstr, in, 8);
	memcpy(&nchars, in + 8, 8);
	in += 16;
	if (nstr >= NONE - 1 || nstr > (uint64_t)(end - in) / 4)
		goto bad;
	NEED(nstr * 4 + nchars);
	p->str_cap = nstr ? nstr : 1;
	p->str_len = xmalloc(p->str_cap * sizeof *p->str_len);
	p->str_off = xmalloc(p->str_cap * sizeof *p->str_off);
	memcpy(p->str_len, in, nstr * 4);
	in += nstr * 4;
	for (uint64_t i = 0; i < nstr; i++) {
		p->str_off[i] = off;
		off += p->str_len[i];
	}
	if (off != nchars)
		goto bad;
	p->nstr = nstr;
	p->chars_cap = nchars ? nchars : 1;
	p->chars = xmalloc(p->chars_cap);
	memcpy(p->chars, in, nchars);
	p->nchars = nchars;
	in += nchars;
	NEED(16);
	memcpy(&nlabels, in, 8);
	memcpy(&nbytes, in + 8, 8);
	in += 16;
	if (nlabels >= (uint64_t)(end - in) / 8)
		goto bad;
	NEED((nlabels + 1) * 8 + nbytes);
	p->off_cap = nlabels + 2;
	p->rec_off = xmalloc(p->off_cap * sizeof *p->rec_off);
	memcpy(p->rec_off, in, (nlabels + 1) * 8);
	in += (nlabels + 1) * 8;
	p->recs_cap = nbytes ? nbytes : 1;
	p->recs = xmalloc(p->recs_cap);
	memcpy(p->recs, in, nbytes);
	p->nrecs_bytes = nbytes;
	p->nlabels = nlabels;
	in += nbytes;
	if (in != end || p->rec_off[0] != 0 || p->rec_off[nlabels] != nbytes)
		goto bad;
	for (uint64_t l = 0; l < nlabels; l++)
		if (p->rec_off[l] > p->rec_off[l + 1] ||
		    !record_valid(p, p->recs + p->rec_off[l], p->recs + p->rec_off[l + 1]))
			goto bad;
	size_t hcap = 64;
	while ((p->nstr + 1) * 2 > hcap)
		hcap *= 2;
	hash_rebuild(p, hcap);
	/* a dictionary with a string twice would intern inconsistently */
	for (uint64_t i = 0; i < nstr; i++)
		if (dict_find(p, p->chars + p->str_off[i], p->str_len[i]) != i)
			goto bad;
	return true;
bad:
#undef NEED
	pstore_free(p);
	return false;
}

/* ===================================================================
 * Compiled filters
 * =================================================================== */

enum { PF_FALSE, PF_MATCH, PF_IN, PF_RANGE, PF_AND, PF_OR, PF_NOT };

typedef struct pf_val {
	int type;     /* PT_S (sid NONE = never seen), PT_I, PT_D, PT_B */
	uint32_t sid;
	int64_t i;
	double d;
	bool b;
} pf_val;

typedef struct pf_node {
	int op;
	uint32_t key;
	pf_val *vals;
	size_t nvals;
	const Shoal__FieldRange *range; /* borrowed from the source filter */
	struct pf_node **kids;
	size_t nkids;
} pf_node;

struct pfilter {
	pf_node *root;
	/* the range bounds are copied so the source filter may go */
	Shoal__FieldRange *ranges;
	size_t nranges, ranges_cap;
};

static void
val_compile(const Shoal__PayloadValue *v, const pstore *p, pf_val *out)
{
	memset(out, 0, sizeof *out);
	switch (v->kind_case) {
	case SHOAL__PAYLOAD_VALUE__KIND_S:
		out->type = PT_S;
		out->sid = dict_find(p, v->s, strlen(v->s));
		break;
	case SHOAL__PAYLOAD_VALUE__KIND_I:
		out->type = PT_I;
		out->i = v->i;
		break;
	case SHOAL__PAYLOAD_VALUE__KIND_D:
		out->type = PT_D;
		out->d = v->d;
		break;
	case SHOAL__PAYLOAD_VALUE__KIND_B:
		out->type = PT_B;
		out->b = v->b != 0;
		break;
	default:
		out->type = 0; /* validation rejects it; never matches */
	}
}

static pf_node *
compile(const Shoal__Filter *f, const pstore *p)
{
	pf_node *n = xcalloc(1, sizeof *n);
	uint32_t key;

	switch (f->kind_case) {
	case SHOAL__FILTER__KIND_MATCH:
	case SHOAL__FILTER__KIND_IN: {
		bool is_in = f->kind_case == SHOAL__FILTER__KIND_IN;
		const char *k = is_in ? f->in->key : f->match->key;
		size_t nv = is_in ? f->in->n_values : 1;
		key = dict_find(p, k, strlen(k));
		n->op = key == NONE ? PF_FALSE : is_in ? PF_IN : PF_MATCH;
		n->key = key;
		n->vals = xcalloc(nv, sizeof *n->vals);
		n->nvals = nv;
		for (size_t i = 0; i < nv; i++)
			val_compile(is_in ? f->in->values[i] : f->match->value, p, &n->vals[i]);
		break;
	}
	case SHOAL__FILTER__KIND_RANGE:
		key = dict_find(p, f->range->key, strlen(f->range->key));
		n->op = key == NONE ? PF_FALSE : PF_RANGE;
		n->key = key;
		n->range = f->range;
		break;
	case SHOAL__FILTER__KIND_AND:
	case SHOAL__FILTER__KIND_OR: {
		const Shoal__FilterList *l = f->kind_case == SHOAL__FILTER__KIND_AND ? f->and_ : f->or_;
		n->op = f->kind_case == SHOAL__FILTER__KIND_AND ? PF_AND : PF_OR;
		n->kids = xcalloc(l->n_filters ? l->n_filters : 1, sizeof *n->kids);
		n->nkids = l->n_filters;
		for (size_t i = 0; i < l->n_filters; i++)
			n->kids[i] = compile(l->filters[i], p);
		break;
	}
	case SHOAL__FILTER__KIND_NOT:
		n->op = PF_NOT;
		n->kids = xcalloc(1, sizeof *n->kids);
		n->nkids = 1;
		n->kids[0] = compile(f->not_, p);
		break;
	default:
		n->op = PF_FALSE;
	}
	return n;
}

/* Copies range bounds into cf->ranges so that the compiled filter does not
 * borrow from the request (second pass: pointers are stable then). */
static size_t
count_ranges(const pf_node *n)
{
	size_t c = n->op == PF_RANGE;
	for (size_t i = 0; i < n->nkids; i++)
		c += count_ranges(n->kids[i]);
	return c;
}

static void
own_ranges(pfilter *cf, pf_node *n)
{
	if (n->op == PF_RANGE) {
		cf->ranges[cf->nranges] = *n->range;
		n->range = &cf->ranges[cf->nranges++];
	}
	for (size_t i = 0; i < n->nkids; i++)
		own_ranges(cf, n->kids[i]);
}

pfilter *
pfilter_compile(const Shoal__Filter *f, const pstore *p)
{
	pfilter *cf = xcalloc(1, sizeof *cf);
	size_t nr;

	cf->root = compile(f, p);
	nr = count_ranges(cf->root);
	cf->ranges = xcalloc(nr ? nr : 1, sizeof *cf->ranges);
	own_ranges(cf, cf->root);
	return cf;
}

static void
node_free(pf_node *n)
{
	for (size_t i = 0; i < n->nkids; i++)
		node_free(n->kids[i]);
	free(n->kids);
	free(n->vals);
	free(n);
}

void
pfilter_free(pfilter *cf)
{
	if (cf == NULL)
		return;
	node_free(cf->root);
	free(cf->ranges);
	free(cf);
}

static bool
node_never(const pf_node *n)
{
	switch (n->op) {
	case PF_FALSE:
		return true;
	case PF_MATCH:
	case PF_IN:
		for (size_t i = 0; i < n->nvals; i++)
			if (!(n->vals[i].type == PT_S && n->vals[i].sid == NONE))
				return false;
		return true;
	case PF_AND:
		for (size_t i = 0; i < n->nkids; i++)
			if (node_never(n->kids[i]))
				return true;
		return false;
	case PF_OR:
		for (size_t i = 0; i < n->nkids; i++)
			if (!node_never(n->kids[i]))
				return false;
		return true;
	default:
		return false; /* NOT, RANGE: depends on the records */
	}
}

bool
pfilter_never(const pfilter *cf)
{
	return node_never(cf->root);
}

static bool
field_is_num(const rfield *f)
{
	return f->type == PT_I || f->type == PT_D;
}

static bool
val_match(const rfield *f, const pf_val *v, const uint8_t *rec_end)
{
	switch (v->type) {
	case PT_S:
		if (v->sid == NONE)
			return false;
		if (f->type == PT_S)
			return f->sid == v->sid;
		if (f->type == PT_T) {
			const uint8_t *t = f->tags;
			for (uint64_t j = 0; j < f->ntags; j++) {
				uint64_t sid = 0;
				get_varint(&t, rec_end, &sid);
				if (sid == v->sid)
					return true;
			}
		}
		return false;
	case PT_I:
	case PT_D:
		return field_is_num(f) && filter_num_equal(f->type == PT_I, f->i, f->d,
		    v->type == PT_I, v->i, v->d);
	case PT_B:
		return f->type == PT_B && f->b == v->b;
	default:
		return false;
	}
}

static bool
eval(const pf_node *n, const pstore *p, size_t label)
{
	rfield f;

	switch (n->op) {
	case PF_FALSE:
		return false;
	case PF_MATCH:
	case PF_IN:
		if (!find_field(p, label, n->key, &f))
			return false;
		for (size_t i = 0; i < n->nvals; i++)
			if (val_match(&f, &n->vals[i], p->recs + p->rec_off[label + 1]))
				return true;
		return false;
	case PF_RANGE: {
		const Shoal__FieldRange *r = n->range;
		bool isint;
		if (!find_field(p, label, n->key, &f) || !field_is_num(&f))
			return false;
		isint = f.type == PT_I;
		if (!isint && isnan(f.d))
			return false;
		if (r->has_gt && !(filter_cmp_num(isint, f.i, f.d, r->gt) > 0))
			return false;
		if (r->has_gte && !(filter_cmp_num(isint, f.i, f.d, r->gte) >= 0))
			return false;
		if (r->has_lt && !(filter_cmp_num(isint, f.i, f.d, r->lt) < 0))
			return false;
		if (r->has_lte && !(filter_cmp_num(isint, f.i, f.d, r->lte) <= 0))
			return false;
		return true;
	}
	case PF_AND:
		for (size_t i = 0; i < n->nkids; i++)
			if (!eval(n->kids[i], p, label))
				return false;
		return true;
	case PF_OR:
		for (size_t i = 0; i < n->nkids; i++)
			if (eval(n->kids[i], p, label))
				return true;
		return false;
	case PF_NOT:
		return !eval(n->kids[0], p, label);
	}
	return false;
}

bool
pfilter_match(const pfilter *cf, const pstore *p, size_t label)
{
	return eval(cf->root, p, label);
}
