/* filter.c -- payload filters: validation, reference evaluation, parser.
 * Semantics and grammar: filter.h.
 *
 * The parser is a recursive-descent parser over a tiny tokenizer; it keeps
 * the byte offset of every token so that errors name a position.  It builds
 * the tree with malloc (this file is linked into libshoal, which must not
 * abort on OOM), bounded by FILTER_MAX_DEPTH/FILTER_MAX_NODES like
 * validation, so hostile text cannot exhaust the stack.
 *
 * Numbers: int64 and double are compared exactly by converting both to
 * long double, whose 64-bit mantissa (x86-64) or 113-bit one (aarch64)
 * holds every int64 and every double.
 */
#include "filter.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ===================================================================
 * Numbers
 * =================================================================== */

int
filter_cmp_num(bool a_is_int, long long ai, double ad, double b)
{
	long double x = a_is_int ? (long double)ai : (long double)ad, y = (long double)b;
	return x < y ? -1 : x > y ? 1 : 0;
}

bool
filter_num_equal(bool a_is_int, long long ai, double ad, bool b_is_int, long long bi, double bd)
{
	if (a_is_int && b_is_int)
		return ai == bi;
	long double x = a_is_int ? (long double)ai : (long double)ad;
	long double y = b_is_int ? (long double)bi : (long double)bd;
	return x == y;
}

/* ===================================================================
 * Validation
 * =================================================================== */

typedef struct vctx {
	size_t nodes;
	shoal_status *st;
	char path[256]; /* where we are, e.g. "and[1].not" */
} vctx;

static shoal_code
vfail(vctx *c, const char *fmt, const char *a)
{
	char msg[200];
	snprintf(msg, sizeof msg, fmt, a);
	return shoal_status_set(c->st, SHOAL_INVALID_ARGUMENT, "filter: %s%s%s",
	    c->path[0] ? c->path : "", c->path[0] ? ": " : "", msg);
}

static shoal_code
check_value(vctx *c, const Shoal__PayloadValue *v, const char *key)
{
	if (v == NULL || v->kind_case == SHOAL__PAYLOAD_VALUE__KIND__NOT_SET)
		return vfail(c, "the value for '%s' is missing", key);
	if (v->kind_case == SHOAL__PAYLOAD_VALUE__KIND_TAGS)
		return vfail(c, "the value for '%s' is a string list (use IN or one tag)", key);
	if (v->kind_case == SHOAL__PAYLOAD_VALUE__KIND_D && isnan(v->d))
		return vfail(c, "the value for '%s' is NaN", key);
	return SHOAL_OK;
}

static shoal_code
check_key(vctx *c, const char *key)
{
	if (key == NULL || key[0] == '\0')
		return vfail(c, "a field key is empty%s", "");
	return SHOAL_OK;
}

static shoal_code
validate_node(vctx *c, const Shoal__Filter *f, int depth)
{
	size_t plen = strlen(c->path);
	shoal_code rv = SHOAL_OK;

	if (depth > FILTER_MAX_DEPTH) {
		char d[16];
		snprintf(d, sizeof d, "%d", FILTER_MAX_DEPTH);
		return vfail(c, "nested deeper than %s levels", d);
	}
	if (++c->nodes > FILTER_MAX_NODES) {
		char d[16];
		snprintf(d, sizeof d, "%d", FILTER_MAX_NODES);
		return vfail(c, "more than %s nodes", d);
	}
	switch (f->kind_case) {
	case SHOAL__FILTER__KIND_MATCH:
		if (f->match == NULL)
			return vfail(c, "match without a body%s", "");
		if ((rv = check_key(c, f->match->key)) != SHOAL_OK)
			return rv;
		return check_value(c, f->match->value, f->match->key);
	case SHOAL__FILTER__KIND_IN:
		if (f->in == NULL)
			return vfail(c, "in without a body%s", "");
		if ((rv = check_key(c, f->in->key)) != SHOAL_OK)
			return rv;
		if (f->in->n_values == 0)
			return vfail(c, "IN on '%s' has no values", f->in->key);
		c->nodes += f->in->n_values;
		if (c->nodes > FILTER_MAX_NODES) {
			char d[16];
			snprintf(d, sizeof d, "%d", FILTER_MAX_NODES);
			return vfail(c, "more than %s nodes (IN values count)", d);
		}
		for (size_t i = 0; i < f->in->n_values; i++)
			if ((rv = check_value(c, f->in->values[i], f->in->key)) != SHOAL_OK)
				return rv;
		return SHOAL_OK;
	case SHOAL__FILTER__KIND_RANGE: {
		const Shoal__FieldRange *r = f->range;
		if (r == NULL)
			return vfail(c, "range without a body%s", "");
		if ((rv = check_key(c, r->key)) != SHOAL_OK)
			return rv;
		if (!r->has_gt && !r->has_gte && !r->has_lt && !r->has_lte)
			return vfail(c, "range on '%s' sets no bound", r->key);
		if ((r->has_gt && isnan(r->gt)) || (r->has_gte && isnan(r->gte)) ||
		    (r->has_lt && isnan(r->lt)) || (r->has_lte && isnan(r->lte)))
			return vfail(c, "range on '%s' has a NaN bound", r->key);
		return SHOAL_OK;
	}
	case SHOAL__FILTER__KIND_AND:
	case SHOAL__FILTER__KIND_OR: {
		const Shoal__FilterList *l = f->kind_case == SHOAL__FILTER__KIND_AND ? f->and_ : f->or_;
		const char *op = f->kind_case == SHOAL__FILTER__KIND_AND ? "and" : "or";
		if (l == NULL || l->n_filters == 0)
			return vfail(c, "%s has no operands", op);
		for (size_t i = 0; i < l->n_filters && rv == SHOAL_OK; i++) {
			snprintf(c->path + plen, sizeof c->path - plen, "%s%s[%zu]", plen ? "." : "", op,
			    i);
			if (l->filters[i] == NULL)
				rv = vfail(c, "missing operand%s", "");
			else
				rv = validate_node(c, l->filters[i], depth + 1);
		}
		if (rv == SHOAL_OK)
			c->path[plen] = '\0';
		return rv;
	}
	case SHOAL__FILTER__KIND_NOT:
		if (f->not_ == NULL)
			return vfail(c, "not has no operand%s", "");
		snprintf(c->path + plen, sizeof c->path - plen, "%snot", plen ? "." : "");
		rv = validate_node(c, f->not_, depth + 1);
		if (rv == SHOAL_OK)
			c->path[plen] = '\0';
		return rv;
	default:
		return vfail(c, "a filter node has no kind (match, in, range, and, or, not)%s", "");
	}
}

shoal_code
filter_validate(const Shoal__Filter *f, shoal_status *st)
{
	vctx c = {.st = st};

	if (f == NULL)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT, "filter: missing");
	return validate_node(&c, f, 1);
}

/* ===================================================================
 * Reference evaluation
 * =================================================================== */

static const Shoal__PayloadValue *
field_find(Shoal__PayloadField *const *fields, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (fields[i] != NULL && fields[i]->key != NULL && strcmp(fields[i]->key, key) == 0)
			return fields[i]->value;
	return NULL;
}

static bool
is_num(const Shoal__PayloadValue *v)
{
	return v->kind_case == SHOAL__PAYLOAD_VALUE__KIND_I ||
	    v->kind_case == SHOAL__PAYLOAD_VALUE__KIND_D;
}

/* Does field value fv match filter value want? */
static bool
value_match(const Shoal__PayloadValue *fv, const Shoal__PayloadValue *want)
{
	switch (want->kind_case) {
	case SHOAL__PAYLOAD_VALUE__KIND_S:
		if (fv->kind_case == SHOAL__PAYLOAD_VALUE__KIND_S)
			return strcmp(fv->s, want->s) == 0;
		if (fv->kind_case == SHOAL__PAYLOAD_VALUE__KIND_TAGS && fv->tags != NULL) {
			for (size_t i = 0; i < fv->tags->n_values; i++)
				if (strcmp(fv->tags->values[i], want->s) == 0)
					return true;
		}
		return false;
	case SHOAL__PAYLOAD_VALUE__KIND_I:
	case SHOAL__PAYLOAD_VALUE__KIND_D:
		if (!is_num(fv))
			return false;
		return filter_num_equal(fv->kind_case == SHOAL__PAYLOAD_VALUE__KIND_I, fv->i, fv->d,
		    want->kind_case == SHOAL__PAYLOAD_VALUE__KIND_I, want->i, want->d);
	case SHOAL__PAYLOAD_VALUE__KIND_B:
		return fv->kind_case == SHOAL__PAYLOAD_VALUE__KIND_B && (fv->b != 0) == (want->b != 0);
	default:
		return false;
	}
}

static bool
range_match(const Shoal__PayloadValue *fv, const Shoal__FieldRange *r)
{
	bool isint;

	if (!is_num(fv))
		return false;
	isint = fv->kind_case == SHOAL__PAYLOAD_VALUE__KIND_I;
	if (!isint && isnan(fv->d))
		return false;
	if (r->has_gt && !(filter_cmp_num(isint, fv->i, fv->d, r->gt) > 0))
		return false;
	if (r->has_gte && !(filter_cmp_num(isint, fv->i, fv->d, r->gte) >= 0))
		return false;
	if (r->has_lt && !(filter_cmp_num(isint, fv->i, fv->d, r->lt) < 0))
		return false;
	if (r->has_lte && !(filter_cmp_num(isint, fv->i, fv->d, r->lte) <= 0))
		return false;
	return true;
}

bool
filter_match(const Shoal__Filter *f, Shoal__PayloadField *const *fields, size_t n)
{
	const Shoal__PayloadValue *fv;

	switch (f->kind_case) {
	case SHOAL__FILTER__KIND_MATCH:
		fv = field_find(fields, n, f->match->key);
		return fv != NULL && value_match(fv, f->match->value);
	case SHOAL__FILTER__KIND_IN:
		fv = field_find(fields, n, f->in->key);
		if (fv == NULL)
			return false;
		for (size_t i = 0; i < f->in->n_values; i++)
			if (value_match(fv, f->in->values[i]))
				return true;
		return false;
	case SHOAL__FILTER__KIND_RANGE:
		fv = field_find(fields, n, f->range->key);
		return fv != NULL && range_match(fv, f->range);
	case SHOAL__FILTER__KIND_AND:
		for (size_t i = 0; i < f->and_->n_filters; i++)
			if (!filter_match(f->and_->filters[i], fields, n))
				return false;
		return true;
	case SHOAL__FILTER__KIND_OR:
		for (size_t i = 0; i < f->or_->n_filters; i++)
			if (filter_match(f->or_->filters[i], fields, n))
				return true;
		return false;
	case SHOAL__FILTER__KIND_NOT:
		return !filter_match(f->not_, fields, n);
	default:
		return false;
	}
}

/* ===================================================================
 * Tree construction and freeing (malloc, checked)
 * =================================================================== */

static void
value_free(Shoal__PayloadValue *v)
{
	if (v == NULL)
		return;
	if (v->kind_case == SHOAL__PAYLOAD_VALUE__KIND_S)
		free(v->s);
	free(v);
}

void
filter_free(Shoal__Filter *f)
{
	if (f == NULL)
		return;
	switch (f->kind_case) {
	case SHOAL__FILTER__KIND_MATCH:
		if (f->match) {
			free(f->match->key);
			value_free(f->match->value);
			free(f->match);
		}
		break;
	case SHOAL__FILTER__KIND_IN:
		if (f->in) {
			free(f->in->key);
			for (size_t i = 0; i < f->in->n_values; i++)
				value_free(f->in->values[i]);
			free(f->in->values);
			free(f->in);
		}
		break;
	case SHOAL__FILTER__KIND_RANGE:
		if (f->range) {
			free(f->range->key);
			free(f->range);
		}
		break;
	case SHOAL__FILTER__KIND_AND:
	case SHOAL__FILTER__KIND_OR: {
		Shoal__FilterList *l = f->kind_case == SHOAL__FILTER__KIND_AND ? f->and_ : f->or_;
		if (l) {
			for (size_t i = 0; i < l->n_filters; i++)
				filter_free(l->filters[i]);
			free(l->filters);
			free(l);
		}
		break;
	}
	case SHOAL__FILTER__KIND_NOT:
		filter_free(f->not_);
		break;
	default:
		break;
	}
	free(f);
}

/* ===================================================================
 * Tokenizer
 * =================================================================== */

typedef enum tok_kind {
	T_END,
	T_IDENT,  /* bare word (keywords are recognised from it) */
	T_QKEY,   /* `quoted key` */
	T_STRING,
	T_NUMBER,
	T_LPAREN,
	T_RPAREN,
	T_COMMA,
	T_EQ,
	T_NE,
	T_LT,
	T_LE,
	T_GT,
	T_GE,
} tok_kind;

typedef struct token {
	tok_kind kind;
	size_t pos;      /* byte offset in the text */
	char *text;      /* T_IDENT, T_QKEY, T_STRING: malloc'ed, unescaped */
	bool is_int;     /* T_NUMBER */
	long long i;
	double d;
} token;

typedef struct parser {
	const char *s;
	size_t len, p;
	token tok;        /* current (lookahead) token */
	size_t nodes;
	shoal_status *st;
	shoal_code rv;    /* first error */
} parser;

static bool
perr(parser *ps, size_t pos, const char *fmt, const char *a)
{
	char msg[240];

	if (ps->rv != SHOAL_OK)
		return false;
	snprintf(msg, sizeof msg, fmt, a);
	ps->rv = shoal_status_set(ps->st, SHOAL_INVALID_ARGUMENT, "filter: %s at position %zu",
	    msg, pos + 1);
	return false;
}

static bool
poom(parser *ps)
{
	if (ps->rv == SHOAL_OK)
		ps->rv = shoal_status_set(ps->st, SHOAL_RESOURCE_EXHAUSTED,
		    "filter: out of memory while parsing");
	return false;
}

static bool
ident_start(int c)
{
	return isalpha(c) || c == '_';
}

static bool
ident_char(int c)
{
	return isalnum(c) || c == '_' || c == '.' || c == '-';
}

/* Reads a quoted run ending with `q` starting after the quote at ps->p;
 * unescapes into a malloc'ed string. */
static bool
lex_quoted(parser *ps, char q, size_t start, char **out)
{
	char *buf = malloc(ps->len - ps->p + 1);
	size_t n = 0;

	if (buf == NULL)
		return poom(ps);
	for (;;) {
		if (ps->p >= ps->len) {
			free(buf);
			return perr(ps, start, q == '`' ? "unterminated quoted key%s" :
			    "unterminated string%s", "");
		}
		char c = ps->s[ps->p++];
		if (c == q)
			break;
		if (c == '\\' && q != '`') {
			if (ps->p >= ps->len) {
				free(buf);
				return perr(ps, start, "unterminated string%s", "");
			}
			char e = ps->s[ps->p++];
			switch (e) {
			case 'n': c = '\n'; break;
			case 't': c = '\t'; break;
			case '\\': case '"': case '\'': c = e; break;
			default:
				free(buf);
				return perr(ps, ps->p - 2, "unknown escape '\\%s' in a string",
				    (char[]){e, 0});
			}
		}
		buf[n++] = c;
	}
	buf[n] = '\0';
	*out = buf;
	return true;
}

static bool
lex_number(parser *ps, token *t)
{
	size_t b = ps->p, e = ps->p;
	bool frac = false;
	char tmp[64], *end;

	if (e < ps->len && (ps->s[e] == '-' || ps->s[e] == '+'))
		e++;
	if (e >= ps->len || !(isdigit((unsigned char)ps->s[e]) ||
	    (ps->s[e] == '.' && e + 1 < ps->len && isdigit((unsigned char)ps->s[e + 1]))))
		return perr(ps, b, "expected a number%s", "");
	while (e < ps->len && isdigit((unsigned char)ps->s[e]))
		e++;
	if (e < ps->len && ps->s[e] == '.') {
		frac = true;
		e++;
		while (e < ps->len && isdigit((unsigned char)ps->s[e]))
			e++;
	}
	if (e < ps->len && (ps->s[e] == 'e' || ps->s[e] == 'E')) {
		size_t x = e + 1;
		if (x < ps->len && (ps->s[x] == '-' || ps->s[x] == '+'))
			x++;
		if (x < ps->len && isdigit((unsigned char)ps->s[x])) {
			frac = true;
			e = x;
			while (e < ps->len && isdigit((unsigned char)ps->s[e]))
				e++;
		}
	}
	if (e < ps->len && ident_char((unsigned char)ps->s[e]))
		return perr(ps, b, "malformed number%s", "");
	if (e - b >= sizeof tmp)
		return perr(ps, b, "number too long%s", "");
	memcpy(tmp, ps->s + b, e - b);
	tmp[e - b] = '\0';
	t->kind = T_NUMBER;
	errno = 0;
	if (!frac) {
		long long v = strtoll(tmp, &end, 10);
		if (errno == 0 && *end == '\0') {
			t->is_int = true;
			t->i = v;
			ps->p = e;
			return true;
		}
		errno = 0; /* out of int64 range: a double */
	}
	t->is_int = false;
	t->d = strtod(tmp, &end);
	if (*end != '\0' || !isfinite(t->d))
		return perr(ps, b, "number out of range%s", "");
	ps->p = e;
	return true;
}

/* Advances to the next token (freeing the current one's text). */
static bool
next(parser *ps)
{
	token *t = &ps->tok;

	free(t->text);
	memset(t, 0, sizeof *t);
	while (ps->p < ps->len && isspace((unsigned char)ps->s[ps->p]))
		ps->p++;
	t->pos = ps->p;
	if (ps->p >= ps->len) {
		t->kind = T_END;
		return true;
	}
	char c = ps->s[ps->p], c2 = ps->p + 1 < ps->len ? ps->s[ps->p + 1] : '\0';
	switch (c) {
	case '(': t->kind = T_LPAREN; ps->p++; return true;
	case ')': t->kind = T_RPAREN; ps->p++; return true;
	case ',': t->kind = T_COMMA; ps->p++; return true;
	case '=': t->kind = T_EQ; ps->p += c2 == '=' ? 2 : 1; return true;
	case '!':
		if (c2 != '=')
			return perr(ps, ps->p, "unexpected '!' (did you mean '!=' or NOT?)%s", "");
		t->kind = T_NE;
		ps->p += 2;
		return true;
	case '<':
		t->kind = c2 == '=' ? T_LE : T_LT;
		ps->p += c2 == '=' ? 2 : 1;
		if (c2 == '>') { /* SQL's <> */
			t->kind = T_NE;
			ps->p++;
		}
		return true;
	case '>':
		t->kind = c2 == '=' ? T_GE : T_GT;
		ps->p += c2 == '=' ? 2 : 1;
		return true;
	case '"':
	case '\'':
		ps->p++;
		t->kind = T_STRING;
		return lex_quoted(ps, c, t->pos, &t->text);
	case '`':
		ps->p++;
		t->kind = T_QKEY;
		if (!lex_quoted(ps, '`', t->pos, &t->text))
			return false;
		if (t->text[0] == '\0')
			return perr(ps, t->pos, "empty quoted key%s", "");
		return true;
	default:
		break;
	}
	if (isdigit((unsigned char)c) || c == '-' || c == '+' || c == '.')
		return lex_number(ps, t);
	if (ident_start((unsigned char)c)) {
		size_t b = ps->p;
		while (ps->p < ps->len && ident_char((unsigned char)ps->s[ps->p]))
			ps->p++;
		t->kind = T_IDENT;
		t->text = malloc(ps->p - b + 1);
		if (t->text == NULL)
			return poom(ps);
		memcpy(t->text, ps->s + b, ps->p - b);
		t->text[ps->p - b] = '\0';
		return true;
	}
	return perr(ps, ps->p, "unexpected character '%s'", (char[]){c, 0});
}

static bool
is_kw(const token *t, const char *kw)
{
	return t->kind == T_IDENT && strcasecmp(t->text, kw) == 0;
}

static bool
is_keyword(const token *t)
{
	static const char *const kws[] = {"AND", "OR", "NOT", "IN", "HAS", "TRUE", "FALSE"};
	for (size_t i = 0; i < sizeof kws / sizeof *kws; i++)
		if (is_kw(t, kws[i]))
			return true;
	return false;
}

static const char *
tok_desc(const token *t)
{
	switch (t->kind) {
	case T_END: return "the end of the filter";
	case T_IDENT: return is_keyword(t) ? "a keyword" : "a name";
	case T_QKEY: return "a quoted key";
	case T_STRING: return "a string";
	case T_NUMBER: return "a number";
	case T_LPAREN: return "'('";
	case T_RPAREN: return "')'";
	case T_COMMA: return "','";
	case T_EQ: return "'='";
	case T_NE: return "'!='";
	case T_LT: return "'<'";
	case T_LE: return "'<='";
	case T_GT: return "'>'";
	case T_GE: return "'>='";
	}
	return "?";
}

/* ===================================================================
 * Parser
 * =================================================================== */

static Shoal__Filter *
node_new(parser *ps)
{
	Shoal__Filter *f;

	if (++ps->nodes > FILTER_MAX_NODES) {
		char d[16];
		snprintf(d, sizeof d, "%d", FILTER_MAX_NODES);
		perr(ps, ps->tok.pos, "more than %s nodes", d);
		return NULL;
	}
	if ((f = malloc(sizeof *f)) == NULL) {
		poom(ps);
		return NULL;
	}
	*f = (Shoal__Filter)SHOAL__FILTER__INIT;
	return f;
}

/* The current token as a value (string, number, bool); advances. */
static Shoal__PayloadValue *
parse_value(parser *ps, const char *after)
{
	Shoal__PayloadValue *v;
	token *t = &ps->tok;

	if (t->kind != T_STRING && t->kind != T_NUMBER && !is_kw(t, "true") && !is_kw(t, "false")) {
		char msg[120];
		snprintf(msg, sizeof msg, "expected a value (string, number, true or false) after %s, "
		    "found %%s", after);
		perr(ps, t->pos, msg, tok_desc(t));
		return NULL;
	}
	if ((v = malloc(sizeof *v)) == NULL) {
		poom(ps);
		return NULL;
	}
	*v = (Shoal__PayloadValue)SHOAL__PAYLOAD_VALUE__INIT;
	if (t->kind == T_STRING) {
		v->kind_case = SHOAL__PAYLOAD_VALUE__KIND_S;
		v->s = t->text;
		t->text = NULL; /* moved */
	} else if (t->kind == T_NUMBER) {
		if (t->is_int) {
			v->kind_case = SHOAL__PAYLOAD_VALUE__KIND_I;
			v->i = t->i;
		} else {
			v->kind_case = SHOAL__PAYLOAD_VALUE__KIND_D;
			v->d = t->d;
		}
	} else {
		v->kind_case = SHOAL__PAYLOAD_VALUE__KIND_B;
		v->b = is_kw(t, "true");
	}
	if (!next(ps)) {
		value_free(v);
		return NULL;
	}
	return v;
}

static Shoal__Filter *parse_or(parser *ps, int depth);

static Shoal__Filter *
wrap_not(parser *ps, Shoal__Filter *child)
{
	Shoal__Filter *f;

	if (child == NULL)
		return NULL;
	if ((f = node_new(ps)) == NULL) {
		filter_free(child);
		return NULL;
	}
	f->kind_case = SHOAL__FILTER__KIND_NOT;
	f->not_ = child;
	return f;
}

static Shoal__Filter *
parse_predicate(parser *ps)
{
	Shoal__Filter *f = NULL;
	token *t = &ps->tok;
	char *key;
	bool negate = false;

	if ((t->kind != T_IDENT && t->kind != T_QKEY) || (t->kind == T_IDENT && is_keyword(t))) {
		perr(ps, t->pos, "expected a field name, NOT or '(', found %s", tok_desc(t));
		return NULL;
	}
	key = t->text;
	t->text = NULL;
	if (!next(ps)) {
		free(key);
		return NULL;
	}
	if ((f = node_new(ps)) == NULL) {
		free(key);
		return NULL;
	}
	if (t->kind == T_EQ || t->kind == T_NE || is_kw(t, "HAS")) {
		bool has = is_kw(t, "HAS");
		negate = t->kind == T_NE;
		const char *after = has ? "HAS" : negate ? "'!='" : "'='";
		if (!next(ps))
			goto fail;
		if (has && t->kind != T_STRING) {
			perr(ps, t->pos, "expected a string after HAS, found %s", tok_desc(t));
			goto fail;
		}
		f->kind_case = SHOAL__FILTER__KIND_MATCH;
		if ((f->match = malloc(sizeof *f->match)) == NULL) {
			poom(ps);
			f->kind_case = SHOAL__FILTER__KIND__NOT_SET;
			goto fail;
		}
		*f->match = (Shoal__FieldMatch)SHOAL__FIELD_MATCH__INIT;
		f->match->key = key;
		key = NULL;
		if ((f->match->value = parse_value(ps, after)) == NULL)
			goto fail;
	} else if (t->kind == T_LT || t->kind == T_LE || t->kind == T_GT || t->kind == T_GE) {
		tok_kind op = t->kind;
		if (!next(ps))
			goto fail;
		if (t->kind != T_NUMBER) {
			perr(ps, t->pos, "expected a number after a comparison, found %s", tok_desc(t));
			goto fail;
		}
		if (t->is_int && (long double)(double)t->i != (long double)t->i) {
			perr(ps, t->pos, "integer bound is not exactly representable as a double "
			    "(range bounds are doubles)%s", "");
			goto fail;
		}
		double b = t->is_int ? (double)t->i : t->d;
		f->kind_case = SHOAL__FILTER__KIND_RANGE;
		if ((f->range = malloc(sizeof *f->range)) == NULL) {
			poom(ps);
			f->kind_case = SHOAL__FILTER__KIND__NOT_SET;
			goto fail;
		}
		*f->range = (Shoal__FieldRange)SHOAL__FIELD_RANGE__INIT;
		f->range->key = key;
		key = NULL;
		switch (op) {
		case T_LT: f->range->has_lt = true; f->range->lt = b; break;
		case T_LE: f->range->has_lte = true; f->range->lte = b; break;
		case T_GT: f->range->has_gt = true; f->range->gt = b; break;
		default: f->range->has_gte = true; f->range->gte = b; break;
		}
		if (!next(ps))
			goto fail;
	} else if (is_kw(t, "IN") || is_kw(t, "NOT")) {
		if (is_kw(t, "NOT")) {
			negate = true;
			if (!next(ps))
				goto fail;
			if (!is_kw(t, "IN")) {
				perr(ps, t->pos, "expected IN after NOT, found %s", tok_desc(t));
				goto fail;
			}
		}
		if (!next(ps))
			goto fail;
		if (t->kind != T_LPAREN) {
			perr(ps, t->pos, "expected '(' after IN, found %s", tok_desc(t));
			goto fail;
		}
		f->kind_case = SHOAL__FILTER__KIND_IN;
		if ((f->in = malloc(sizeof *f->in)) == NULL) {
			poom(ps);
			f->kind_case = SHOAL__FILTER__KIND__NOT_SET;
			goto fail;
		}
		*f->in = (Shoal__FieldIn)SHOAL__FIELD_IN__INIT;
		f->in->key = key;
		key = NULL;
		if (!next(ps))
			goto fail;
		for (size_t cap = 0;;) {
			Shoal__PayloadValue *v;
			if (++ps->nodes > FILTER_MAX_NODES) {
				char d[16];
				snprintf(d, sizeof d, "%d", FILTER_MAX_NODES);
				perr(ps, t->pos, "more than %s nodes (IN values count)", d);
				goto fail;
			}
			if (f->in->n_values == cap) {
				size_t nc = cap ? cap * 2 : 4;
				Shoal__PayloadValue **nv = realloc(f->in->values, nc * sizeof *nv);
				if (nv == NULL) {
					poom(ps);
					goto fail;
				}
				f->in->values = nv;
				cap = nc;
			}
			if ((v = parse_value(ps, f->in->n_values ? "','" : "'('")) == NULL)
				goto fail;
			f->in->values[f->in->n_values++] = v;
			if (t->kind == T_RPAREN)
				break;
			if (t->kind != T_COMMA) {
				perr(ps, t->pos, "expected ',' or ')' in the IN list, found %s", tok_desc(t));
				goto fail;
			}
			if (!next(ps))
				goto fail;
		}
		if (!next(ps))
			goto fail;
	} else {
		perr(ps, t->pos, "expected an operator (=, !=, <, <=, >, >=, HAS, IN) after the "
		    "field name, found %s", tok_desc(t));
		goto fail;
	}
	return negate ? wrap_not(ps, f) : f;
fail:
	free(key);
	filter_free(f);
	return NULL;
}

static Shoal__Filter *
parse_factor(parser *ps, int depth)
{
	token *t = &ps->tok;

	if (depth > FILTER_MAX_DEPTH) {
		char d[16];
		snprintf(d, sizeof d, "%d", FILTER_MAX_DEPTH);
		perr(ps, t->pos, "nested deeper than %s levels", d);
		return NULL;
	}
	if (is_kw(t, "NOT")) {
		if (!next(ps))
			return NULL;
		return wrap_not(ps, parse_factor(ps, depth + 1));
	}
	if (t->kind == T_LPAREN) {
		size_t open = t->pos;
		Shoal__Filter *f;
		if (!next(ps))
			return NULL;
		if ((f = parse_or(ps, depth + 1)) == NULL)
			return NULL;
		if (t->kind != T_RPAREN) {
			char msg[120];
			snprintf(msg, sizeof msg, "expected ')' to close the '(' at position %zu, found %%s",
			    open + 1);
			perr(ps, t->pos, msg, tok_desc(t));
			filter_free(f);
			return NULL;
		}
		if (!next(ps)) {
			filter_free(f);
			return NULL;
		}
		return f;
	}
	return parse_predicate(ps);
}

/* Parses `sub { OP sub }` into one AND/OR node (or the single sub). */
static Shoal__Filter *
parse_list(parser *ps, int depth, bool is_and)
{
	const char *kw = is_and ? "AND" : "OR";
	Shoal__Filter *first, *f;
	Shoal__FilterList *l;
	size_t cap = 0;

	first = is_and ? parse_factor(ps, depth) : parse_list(ps, depth, true);
	if (first == NULL || !is_kw(&ps->tok, kw))
		return first;
	if ((f = node_new(ps)) == NULL) {
		filter_free(first);
		return NULL;
	}
	if ((l = malloc(sizeof *l)) == NULL) {
		filter_free(first);
		free(f);
		poom(ps);
		return NULL;
	}
	*l = (Shoal__FilterList)SHOAL__FILTER_LIST__INIT;
	f->kind_case = is_and ? SHOAL__FILTER__KIND_AND : SHOAL__FILTER__KIND_OR;
	if (is_and)
		f->and_ = l;
	else
		f->or_ = l;
	for (Shoal__Filter *sub = first;;) {
		if (l->n_filters == cap) {
			size_t nc = cap ? cap * 2 : 4;
			Shoal__Filter **nf = realloc(l->filters, nc * sizeof *nf);
			if (nf == NULL) {
				filter_free(sub);
				filter_free(f);
				poom(ps);
				return NULL;
			}
			l->filters = nf;
			cap = nc;
		}
		l->filters[l->n_filters++] = sub;
		if (!is_kw(&ps->tok, kw))
			break;
		if (!next(ps)) {
			filter_free(f);
			return NULL;
		}
		sub = is_and ? parse_factor(ps, depth) : parse_list(ps, depth, true);
		if (sub == NULL) {
			filter_free(f);
			return NULL;
		}
	}
	return f;
}

static Shoal__Filter *
parse_or(parser *ps, int depth)
{
	return parse_list(ps, depth, false);
}

shoal_code
filter_parse(const char *text, Shoal__Filter **out, shoal_status *st)
{
	parser ps = {.s = text, .st = st};
	Shoal__Filter *f = NULL;

	*out = NULL;
	if (text == NULL)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT, "filter: no text");
	ps.len = strlen(text);
	if (ps.len > FILTER_MAX_TEXT)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "filter: text is %zu bytes, at most %d are accepted", ps.len, FILTER_MAX_TEXT);
	if (next(&ps)) {
		if (ps.tok.kind == T_END)
			perr(&ps, 0, "the filter is empty%s", "");
		else if ((f = parse_or(&ps, 1)) != NULL && ps.tok.kind != T_END) {
			perr(&ps, ps.tok.pos,
			    is_keyword(&ps.tok) ? "unexpected keyword '%s' (AND/OR join conditions)"
			                        : "unexpected %s after a complete condition",
			    is_keyword(&ps.tok) ? ps.tok.text : tok_desc(&ps.tok));
		}
	}
	free(ps.tok.text);
	if (ps.rv != SHOAL_OK) {
		filter_free(f);
		return ps.rv;
	}
	if (filter_validate(f, st) != SHOAL_OK) { /* e.g. an empty string key */
		filter_free(f);
		return SHOAL_INVALID_ARGUMENT;
	}
	*out = f;
	return SHOAL_OK;
}
