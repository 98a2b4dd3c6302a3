/* test_filter.c -- payload filters (common/filter.c) and their compact
 * in-memory evaluation (worker/payload.c): the text syntax (good inputs
 * give the expected tree, bad ones a message with the right position),
 * validation of hand-built trees, the reference semantics on payloads,
 * and the compact evaluator agreeing with the reference on random
 * payloads and filters (also after a snapshot round trip of the store). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <math.h>

#include "filter.h"
#include "payload.h"
#include "shoal.pb-c.h"

static Shoal__Filter *
ok_parse(const char *text)
{
	Shoal__Filter *f = NULL;
	shoal_status st;
	if (filter_parse(text, &f, &st) != SHOAL_OK)
		fail_msg("'%s' did not parse: %s", text, st.msg);
	assert_int_equal(filter_validate(f, &st), SHOAL_OK);
	return f;
}

/* Parses text that must fail; checks the code and that the message holds
 * `want` (e.g. "at position 7"). */
static void
bad_parse(const char *text, const char *want)
{
	Shoal__Filter *f = (Shoal__Filter *)1;
	shoal_status st;
	shoal_code rc = filter_parse(text, &f, &st);
	if (rc != SHOAL_INVALID_ARGUMENT)
		fail_msg("'%s' parsed (code %d), expected an error with '%s'", text, rc, want);
	assert_null(f);
	if (strstr(st.msg, want) == NULL)
		fail_msg("'%s': message '%s' lacks '%s'", text, st.msg, want);
	assert_true(strncmp(st.msg, "filter: ", 8) == 0);
}

static void
test_parse_trees(void **state)
{
	(void)state;
	Shoal__Filter *f;

	f = ok_parse("lang = \"en\"");
	assert_int_equal(f->kind_case, SHOAL__FILTER__KIND_MATCH);
	assert_string_equal(f->match->key, "lang");
	assert_int_equal(f->match->value->kind_case, SHOAL__PAYLOAD_VALUE__KIND_S);
	assert_string_equal(f->match->value->s, "en");
	filter_free(f);

	/* AND binds tighter than OR; NOT applies to the next factor */
	f = ok_parse("a = 1 OR b = 2 AND NOT c = true");
	assert_int_equal(f->kind_case, SHOAL__FILTER__KIND_OR);
	assert_int_equal(f->or_->n_filters, 2);
	assert_int_equal(f->or_->filters[0]->kind_case, SHOAL__FILTER__KIND_MATCH);
	assert_int_equal(f->or_->filters[0]->match->value->kind_case,
	    SHOAL__PAYLOAD_VALUE__KIND_I);
	Shoal__Filter *and = f->or_->filters[1];
	assert_int_equal(and->kind_case, SHOAL__FILTER__KIND_AND);
	assert_int_equal(and->and_->n_filters, 2);
	assert_int_equal(and->and_->filters[1]->kind_case, SHOAL__FILTER__KIND_NOT);
	assert_int_equal(and->and_->filters[1]->not_->match->value->kind_case,
	    SHOAL__PAYLOAD_VALUE__KIND_B);
	assert_true(and->and_->filters[1]->not_->match->value->b);
	filter_free(f);

	/* the brief's example */
	f = ok_parse("lang = \"en\" AND (year >= 2020 OR tags HAS \"news\") AND NOT draft = true");
	assert_int_equal(f->kind_case, SHOAL__FILTER__KIND_AND);
	assert_int_equal(f->and_->n_filters, 3);
	Shoal__Filter *or = f->and_->filters[1];
	assert_int_equal(or->kind_case, SHOAL__FILTER__KIND_OR);
	assert_int_equal(or->or_->filters[0]->kind_case, SHOAL__FILTER__KIND_RANGE);
	assert_true(or->or_->filters[0]->range->has_gte);
	assert_false(or->or_->filters[0]->range->has_lt);
	assert_true(or->or_->filters[0]->range->gte == 2020.0);
	assert_int_equal(or->or_->filters[1]->kind_case, SHOAL__FILTER__KIND_MATCH);
	assert_string_equal(or->or_->filters[1]->match->value->s, "news");
	filter_free(f);

	f = ok_parse("cat IN (\"a\",'b', 3, 2.5e1, false)");
	assert_int_equal(f->kind_case, SHOAL__FILTER__KIND_IN);
	assert_int_equal(f->in->n_values, 5);
	assert_string_equal(f->in->values[1]->s, "b");
	assert_int_equal(f->in->values[2]->i, 3);
	assert_true(f->in->values[3]->d == 25.0);
	assert_false(f->in->values[4]->b);
	filter_free(f);

	f = ok_parse("cat not in (\"x\") and `odd key` != 'it\\'s'");
	assert_int_equal(f->kind_case, SHOAL__FILTER__KIND_AND);
	assert_int_equal(f->and_->filters[0]->kind_case, SHOAL__FILTER__KIND_NOT);
	assert_int_equal(f->and_->filters[0]->not_->kind_case, SHOAL__FILTER__KIND_IN);
	assert_int_equal(f->and_->filters[1]->kind_case, SHOAL__FILTER__KIND_NOT);
	assert_string_equal(f->and_->filters[1]->not_->match->key, "odd key");
	assert_string_equal(f->and_->filters[1]->not_->match->value->s, "it's");
	filter_free(f);

	f = ok_parse("  x<-1.5  ");
	assert_int_equal(f->kind_case, SHOAL__FILTER__KIND_RANGE);
	assert_true(f->range->has_lt && f->range->lt == -1.5);
	filter_free(f);

	f = ok_parse("n = 9223372036854775807 OR n = -9223372036854775808 OR n == 99999999999999999999");
	assert_int_equal(f->or_->filters[0]->match->value->i, INT64_MAX);
	assert_int_equal(f->or_->filters[1]->match->value->i, INT64_MIN);
	assert_int_equal(f->or_->filters[2]->match->value->kind_case, SHOAL__PAYLOAD_VALUE__KIND_D);
	filter_free(f);

	f = ok_parse("((((a = 1))))");
	assert_int_equal(f->kind_case, SHOAL__FILTER__KIND_MATCH);
	filter_free(f);

	f = ok_parse("s = \"tab\\there \\\"q\\\" back\\\\slash\"");
	assert_string_equal(f->match->value->s, "tab\there \"q\" back\\slash");
	filter_free(f);
}

static void
test_parse_errors(void **state)
{
	(void)state;
	bad_parse("", "the filter is empty at position 1");
	bad_parse("   ", "the filter is empty");
	bad_parse("a =", "expected a value (string, number, true or false) after '=', found the end "
	                 "of the filter at position 4");
	bad_parse("a = 1 AND", "expected a field name, NOT or '(', found the end of the filter at "
	                       "position 10");
	bad_parse("a = 1 b = 2", "unexpected a name after a complete condition at position 7");
	bad_parse("a = 1 OR OR b = 2", "expected a field name, NOT or '(', found a keyword at "
	                               "position 10");
	bad_parse("(a = 1", "expected ')' to close the '(' at position 1, found the end of the "
	                    "filter at position 7");
	bad_parse("a = 1)", "unexpected ')' after a complete condition at position 6");
	bad_parse("a > \"x\"", "expected a number after a comparison, found a string at position 5");
	bad_parse("a HAS 3", "expected a string after HAS, found a number at position 7");
	bad_parse("a IN ()", "expected a value (string, number, true or false) after '(', found ')' "
	                     "at position 7");
	bad_parse("a IN (1 2)", "expected ',' or ')' in the IN list, found a number at position 9");
	bad_parse("a IN 1", "expected '(' after IN, found a number at position 6");
	bad_parse("a NOT = 1", "expected IN after NOT, found '=' at position 7");
	bad_parse("a = \"open", "unterminated string at position 5");
	bad_parse("a = 'x\\q'", "unknown escape '\\q' in a string at position 7");
	bad_parse("a ~ 1", "unexpected character '~' at position 3");
	bad_parse("a ! 1", "unexpected '!'");
	bad_parse("a = 1e999", "number out of range at position 5");
	bad_parse("a = 12abc", "malformed number at position 5");
	bad_parse("a 1", "expected an operator (=, !=, <, <=, >, >=, HAS, IN) after the field name, "
	                 "found a number at position 3");
	bad_parse("AND = 1", "expected a field name, NOT or '(', found a keyword at position 1");
	bad_parse("`` = 1", "empty quoted key at position 1");
	bad_parse("n < 9007199254740993", "integer bound is not exactly representable");

	/* nesting and size limits */
	char deep[200] = "";
	for (int i = 0; i < 40; i++)
		strcat(deep, "(");
	strcat(deep, "a = 1");
	for (int i = 0; i < 40; i++)
		strcat(deep, ")");
	bad_parse(deep, "nested deeper than 32 levels");
	char *many = malloc(5 * 5000 + 32);
	strcpy(many, "a IN (");
	for (int i = 0; i < 5000; i++)
		strcat(many, i ? ",1" : "1");
	strcat(many, ")");
	bad_parse(many, "more than 4096 nodes");
	free(many);
	char *huge = malloc(FILTER_MAX_TEXT + 10);
	memset(huge, ' ', FILTER_MAX_TEXT + 5);
	huge[FILTER_MAX_TEXT + 5] = '\0';
	bad_parse(huge, "at most 65536 are accepted");
	free(huge);
}

/* Hand-built trees (as they arrive over the wire) that validation must
 * refuse, naming the node. */
static void
test_validate(void **state)
{
	(void)state;
	shoal_status st;
	Shoal__Filter f = SHOAL__FILTER__INIT, c1 = SHOAL__FILTER__INIT, c2 = SHOAL__FILTER__INIT;
	Shoal__FieldMatch m = SHOAL__FIELD_MATCH__INIT;
	Shoal__FieldRange r = SHOAL__FIELD_RANGE__INIT;
	Shoal__FieldIn in = SHOAL__FIELD_IN__INIT;
	Shoal__PayloadValue v = SHOAL__PAYLOAD_VALUE__INIT;
	Shoal__FilterList l = SHOAL__FILTER_LIST__INIT;
	Shoal__Filter *kids[2] = {&c1, &c2};
	Shoal__StringList tags = SHOAL__STRING_LIST__INIT;

	assert_int_equal(filter_validate(&f, &st), SHOAL_INVALID_ARGUMENT);
	assert_non_null(strstr(st.msg, "has no kind"));

	f.kind_case = SHOAL__FILTER__KIND_MATCH;
	f.match = &m;
	m.key = "";
	assert_int_equal(filter_validate(&f, &st), SHOAL_INVALID_ARGUMENT);
	assert_non_null(strstr(st.msg, "key is empty"));
	m.key = "k";
	assert_int_equal(filter_validate(&f, &st), SHOAL_INVALID_ARGUMENT);
	assert_non_null(strstr(st.msg, "value for 'k' is missing"));
	m.value = &v;
	v.kind_case = SHOAL__PAYLOAD_VALUE__KIND_TAGS;
	v.tags = &tags;
	assert_int_equal(filter_validate(&f, &st), SHOAL_INVALID_ARGUMENT);
	assert_non_null(strstr(st.msg, "string list"));
	v.kind_case = SHOAL__PAYLOAD_VALUE__KIND_D;
	v.d = NAN;
	assert_int_equal(filter_validate(&f, &st), SHOAL_INVALID_ARGUMENT);
	v.d = 1;
	assert_int_equal(filter_validate(&f, &st), SHOAL_OK);

	f.kind_case = SHOAL__FILTER__KIND_RANGE;
	f.range = &r;
	r.key = "y";
	assert_int_equal(filter_validate(&f, &st), SHOAL_INVALID_ARGUMENT);
	assert_non_null(strstr(st.msg, "range on 'y' sets no bound"));
	r.has_lt = true;
	r.lt = NAN;
	assert_int_equal(filter_validate(&f, &st), SHOAL_INVALID_ARGUMENT);
	assert_non_null(strstr(st.msg, "NaN bound"));
	r.lt = INFINITY; /* infinite bounds are fine */
	assert_int_equal(filter_validate(&f, &st), SHOAL_OK);

	f.kind_case = SHOAL__FILTER__KIND_IN;
	f.in = &in;
	in.key = "z";
	assert_int_equal(filter_validate(&f, &st), SHOAL_INVALID_ARGUMENT);
	assert_non_null(strstr(st.msg, "IN on 'z' has no values"));

	/* the path names the bad node */
	f.kind_case = SHOAL__FILTER__KIND_AND;
	f.and_ = &l;
	assert_int_equal(filter_validate(&f, &st), SHOAL_INVALID_ARGUMENT);
	assert_non_null(strstr(st.msg, "and has no operands"));
	l.n_filters = 2;
	l.filters = kids;
	c1.kind_case = SHOAL__FILTER__KIND_MATCH;
	c1.match = &m;
	c2.kind_case = SHOAL__FILTER__KIND_NOT; /* without a child */
	assert_int_equal(filter_validate(&f, &st), SHOAL_INVALID_ARGUMENT);
	assert_string_equal(st.msg, "filter: and[1]: not has no operand");

	/* depth: 32 levels at most */
	Shoal__Filter chain[40];
	for (int i = 0; i < 40; i++) {
		chain[i] = (Shoal__Filter)SHOAL__FILTER__INIT;
		chain[i].kind_case = SHOAL__FILTER__KIND_NOT;
		chain[i].not_ = i + 1 < 40 ? &chain[i + 1] : &c1;
	}
	assert_int_equal(filter_validate(&chain[9], &st), SHOAL_OK); /* 31 NOTs + leaf = 32 */
	assert_int_equal(filter_validate(&chain[8], &st), SHOAL_INVALID_ARGUMENT);
	assert_non_null(strstr(st.msg, "deeper than 32"));
	assert_int_equal(filter_validate(NULL, &st), SHOAL_INVALID_ARGUMENT);
}

/* ---- payloads ---- */

typedef struct pl {
	Shoal__PayloadField f[8], *fp[8];
	Shoal__PayloadValue v[8];
	Shoal__StringList tl[8];
	char *tagv[8][4];
	char tagbuf[8][64];
	size_t n;
} pl;

static void
pl_add(pl *p, const char *key, int kind, const char *s, int64_t i, double d)
{
	size_t k = p->n++;
	p->f[k] = (Shoal__PayloadField)SHOAL__PAYLOAD_FIELD__INIT;
	p->v[k] = (Shoal__PayloadValue)SHOAL__PAYLOAD_VALUE__INIT;
	p->f[k].key = (char *)key;
	p->f[k].value = &p->v[k];
	p->fp[k] = &p->f[k];
	p->v[k].kind_case = kind;
	switch (kind) {
	case SHOAL__PAYLOAD_VALUE__KIND_S: p->v[k].s = (char *)s; break;
	case SHOAL__PAYLOAD_VALUE__KIND_I: p->v[k].i = i; break;
	case SHOAL__PAYLOAD_VALUE__KIND_D: p->v[k].d = d; break;
	case SHOAL__PAYLOAD_VALUE__KIND_B: p->v[k].b = i != 0; break;
	case SHOAL__PAYLOAD_VALUE__KIND_TAGS: {
		/* s: comma separated, up to 4 */
		snprintf(p->tagbuf[k], sizeof p->tagbuf[k], "%s", s);
		size_t nt = 0;
		for (char *t = strtok(p->tagbuf[k], ","); t && nt < 4; t = strtok(NULL, ","))
			p->tagv[k][nt++] = t;
		p->tl[k] = (Shoal__StringList)SHOAL__STRING_LIST__INIT;
		p->tl[k].n_values = nt;
		p->tl[k].values = p->tagv[k];
		p->v[k].tags = &p->tl[k];
		break;
	}
	}
}

static bool
ref(const char *text, pl *p)
{
	Shoal__Filter *f = ok_parse(text);
	bool m = filter_match(f, p->fp, p->n);
	filter_free(f);
	return m;
}

static void
test_semantics(void **state)
{
	(void)state;
	pl p = {0};

	pl_add(&p, "lang", SHOAL__PAYLOAD_VALUE__KIND_S, "en", 0, 0);
	pl_add(&p, "year", SHOAL__PAYLOAD_VALUE__KIND_I, NULL, 2021, 0);
	pl_add(&p, "score", SHOAL__PAYLOAD_VALUE__KIND_D, NULL, 0, 0.75);
	pl_add(&p, "draft", SHOAL__PAYLOAD_VALUE__KIND_B, NULL, 0, 0);
	pl_add(&p, "tags", SHOAL__PAYLOAD_VALUE__KIND_TAGS, "news,tech", 0, 0);
	pl_add(&p, "big", SHOAL__PAYLOAD_VALUE__KIND_I, NULL, (1LL << 53) + 1, 0);

	assert_true(ref("lang = \"en\"", &p));
	assert_false(ref("lang = \"EN\"", &p)); /* bytewise */
	assert_true(ref("year = 2021", &p));
	assert_true(ref("year = 2021.0", &p)); /* int vs double: numeric */
	assert_false(ref("year = \"2021\"", &p)); /* no string/number coercion */
	assert_true(ref("score = 0.75", &p));
	assert_true(ref("score > 0.5 AND score <= 0.75", &p));
	assert_false(ref("score < 0.75", &p));
	assert_true(ref("year >= 2020 AND year < 2022", &p));
	assert_false(ref("year > 2021", &p));
	assert_true(ref("draft = false", &p));
	assert_false(ref("draft = 0", &p)); /* bool only equals bool */
	assert_true(ref("tags HAS \"news\"", &p));
	assert_true(ref("tags = \"tech\"", &p)); /* match on tags = membership */
	assert_false(ref("tags HAS \"sport\"", &p));
	assert_true(ref("tags IN (\"sport\", \"tech\")", &p));
	assert_false(ref("tags > 1", &p)); /* range on a non-number */
	assert_false(ref("lang > 1", &p));
	assert_true(ref("lang IN (\"de\", \"en\")", &p));
	/* absent field: no match; NOT of it matches */
	assert_false(ref("missing = 1", &p));
	assert_false(ref("missing < 1", &p));
	assert_false(ref("missing IN (1, 2)", &p));
	assert_true(ref("NOT missing = 1", &p));
	assert_true(ref("missing != 1", &p));
	/* exact big integers */
	assert_true(ref("big = 9007199254740993", &p));
	assert_false(ref("big = 9007199254740992", &p));
	assert_true(ref("big > 9007199254740992.0", &p));
	/* the example */
	assert_true(ref("lang = \"en\" AND (year >= 2020 OR tags HAS \"news\") AND NOT draft = true",
	    &p));
	/* first occurrence of a duplicated key counts */
	pl_add(&p, "lang", SHOAL__PAYLOAD_VALUE__KIND_S, "fr", 0, 0);
	assert_true(ref("lang = \"en\"", &p));
	assert_false(ref("lang = \"fr\"", &p));
}

/* ---- the compact store agrees with the reference ---- */

static uint64_t rng = 88172645463325252ULL;

static uint64_t
rnd(uint64_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng % n;
}

static const char *const words[] = {"a", "b", "c", "dd", "e e", "", "ünï", "x"};
static const char *const keys[] = {"k1", "k2", "k3", "num", "t"};

static void
random_payload(pl *p)
{
	memset(p, 0, sizeof *p);
	size_t n = rnd(6);
	for (size_t i = 0; i < n; i++) {
		const char *key = keys[rnd(5)];
		switch (rnd(5)) {
		case 0: pl_add(p, key, SHOAL__PAYLOAD_VALUE__KIND_S, words[rnd(8)], 0, 0); break;
		case 1: pl_add(p, key, SHOAL__PAYLOAD_VALUE__KIND_I, NULL, (int64_t)rnd(7) - 3, 0); break;
		case 2: pl_add(p, key, SHOAL__PAYLOAD_VALUE__KIND_D, NULL, 0, ((double)rnd(13) - 6) / 2);
			break;
		case 3: pl_add(p, key, SHOAL__PAYLOAD_VALUE__KIND_B, NULL, (int64_t)rnd(2), 0); break;
		default: {
			char t[64];
			snprintf(t, sizeof t, "%s,%s", words[rnd(8)][0] ? words[rnd(8)] : "z",
			    words[rnd(8)][0] ? words[rnd(8)] : "y");
			pl_add(p, key, SHOAL__PAYLOAD_VALUE__KIND_TAGS, t, 0, 0);
		}
		}
	}
}

static void
random_value(char *out, size_t cap)
{
	switch (rnd(4)) {
	case 0: snprintf(out, cap, "\"%s\"", words[rnd(8)]); break;
	case 1: snprintf(out, cap, "%d", (int)rnd(7) - 3); break;
	case 2: snprintf(out, cap, "%.1f", ((double)rnd(13) - 6) / 2); break;
	default: snprintf(out, cap, "%s", rnd(2) ? "true" : "false");
	}
}

static void
random_filter(char *out, size_t cap, int depth)
{
	char a[512], b[512], v[64], w[64];
	const char *key = rnd(6) == 0 ? "nokey" : keys[rnd(5)];
	switch (depth > 3 ? rnd(4) : rnd(8)) {
	case 0:
		random_value(v, sizeof v);
		snprintf(out, cap, "`%s` = %s", key, v);
		break;
	case 1:
		random_value(v, sizeof v);
		random_value(w, sizeof w);
		snprintf(out, cap, "`%s` IN (%s, %s)", key, v, w);
		break;
	case 2:
		snprintf(out, cap, "`%s` %s %.1f", key, (const char *[]){"<", "<=", ">", ">="}[rnd(4)],
		    ((double)rnd(13) - 6) / 2);
		break;
	case 3:
		snprintf(out, cap, "`%s` HAS \"%s\"", key, words[rnd(8)]);
		break;
	case 4:
	case 5:
		random_filter(a, sizeof a, depth + 1);
		random_filter(b, sizeof b, depth + 1);
		snprintf(out, cap, "(%s) %s (%s)", a, rnd(2) ? "AND" : "OR", b);
		break;
	default:
		random_filter(a, sizeof a, depth + 1);
		snprintf(out, cap, "NOT (%s)", a);
	}
}

static void
test_compact_agrees_with_reference(void **state)
{
	(void)state;
	enum { NPAY = 300, NFILT = 400 };
	pl *pays = calloc(NPAY, sizeof *pays);
	pstore ps, ps2;
	size_t checked = 0, matched = 0;

	pstore_init(&ps);
	for (int i = 0; i < NPAY; i++) {
		Shoal__Point pt = SHOAL__POINT__INIT;
		random_payload(&pays[i]);
		pt.n_payload = pays[i].n;
		pt.payload = pays[i].fp;
		size_t len = shoal__point__get_packed_size(&pt);
		uint8_t *buf = malloc(len ? len : 1);
		shoal__point__pack(&pt, buf);
		assert_true(pstore_append_packed(&ps, buf, len));
		free(buf);
	}
	/* and the same store after a serialization round trip (snapshots) */
	uint8_t *ser = malloc(pstore_serial_size(&ps));
	pstore_serialize(&ps, ser);
	assert_true(pstore_deserialize(&ps2, ser, pstore_serial_size(&ps)));
	free(ser);

	for (int j = 0; j < NFILT; j++) {
		char text[2048];
		random_filter(text, sizeof text, 0);
		Shoal__Filter *f = ok_parse(text);
		pfilter *c1 = pfilter_compile(f, &ps), *c2 = pfilter_compile(f, &ps2);
		for (int i = 0; i < NPAY; i++) {
			/* the oracle evaluates the payload as it travels: packed and
			 * unpacked by protobuf-c */
			Shoal__Point pt = SHOAL__POINT__INIT;
			pt.n_payload = pays[i].n;
			pt.payload = pays[i].fp;
			size_t len = shoal__point__get_packed_size(&pt);
			uint8_t *buf = malloc(len ? len : 1);
			shoal__point__pack(&pt, buf);
			Shoal__Point *up = shoal__point__unpack(NULL, len, buf);
			bool want = filter_match(f, up->payload, up->n_payload);
			shoal__point__free_unpacked(up, NULL);
			free(buf);
			bool got = pfilter_match(c1, &ps, (size_t)i);
			if (got != want)
				fail_msg("filter %s on payload %d: compact %d, reference %d", text, i, got,
				    want);
			assert_int_equal(pfilter_match(c2, &ps2, (size_t)i), want);
			if (pfilter_never(c1))
				assert_false(want);
			checked++;
			matched += want;
		}
		pfilter_free(c1);
		pfilter_free(c2);
		filter_free(f);
	}
	print_message("%zu evaluations, %zu matches\n", checked, matched);
	assert_true(matched > checked / 20 && matched < checked * 19 / 20); /* not trivial */

	/* copies into a fresh store (compaction) keep the records */
	pstore ps3;
	pstore_init(&ps3);
	for (int i = 0; i < NPAY; i++)
		pstore_append_copy(&ps3, &ps, (size_t)i);
	Shoal__Filter *f = ok_parse("k1 = \"a\" OR num > 0 OR t HAS \"x\"");
	pfilter *a = pfilter_compile(f, &ps), *b = pfilter_compile(f, &ps3);
	for (int i = 0; i < NPAY; i++)
		assert_int_equal(pfilter_match(a, &ps, (size_t)i), pfilter_match(b, &ps3, (size_t)i));
	pfilter_free(a);
	pfilter_free(b);
	filter_free(f);

	/* malformed serialized stores are refused */
	ser = malloc(pstore_serial_size(&ps));
	pstore_serialize(&ps, ser);
	for (size_t cut = 0; cut < pstore_serial_size(&ps); cut += 97) {
		pstore bad;
		assert_false(pstore_deserialize(&bad, ser, cut));
	}
	free(ser);
	/* undecodable payload bytes: an empty record, and false */
	assert_false(pstore_append_packed(&ps3, "\x1a\xff\xff", 3));
	pstore_free(&ps);
	pstore_free(&ps2);
	pstore_free(&ps3);
	free(pays);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_trees),
	    cmocka_unit_test(test_parse_errors),
	    cmocka_unit_test(test_validate),
	    cmocka_unit_test(test_semantics),
	    cmocka_unit_test(test_compact_agrees_with_reference),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
