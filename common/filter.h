/* filter.h -- payload filters (shoal.Filter): validation, evaluation on a
 * point's payload, and the text syntax of the CLI.
 *
 * Semantics (the reference; worker/payload.c evaluates the same thing on
 * its compact in-memory form and is tested against filter_match):
 *   match key = v   the field equals v.  Strings compare bytewise; int and
 *                   double compare numerically with each other (exactly:
 *                   3 = 3.0, and 2^53+1 != 2^53); bools only with bools.
 *                   On a string-list (tags) field: v is one of its tags.
 *   in key (v...)   match with any of the values.
 *   range key       an int or double field within every bound that is set
 *                   (gt/gte/lt/lte, compared exactly as above).  Fields of
 *                   other types never match.
 *   and / or / not  all / any of the children; the child does not match.
 * A point without the field matches no match/in/range on it (so NOT of one
 * matches it).  A value that is itself a string list is not valid in a
 * filter.
 *
 * Validation (filter_validate) rejects, with INVALID_ARGUMENT and a message
 * that names the node: a node with no kind, an empty key, a missing or
 * list-typed value, an IN without values, a range without bounds or with
 * a NaN bound, an empty AND/OR, a NOT without a child, nesting deeper than
 * FILTER_MAX_DEPTH, more than FILTER_MAX_NODES nodes (IN values count).
 *
 * Text syntax (filter_parse), keywords case-insensitive:
 *   expr      := term { OR term }
 *   term      := factor { AND factor }
 *   factor    := NOT factor | "(" expr ")" | predicate
 *   predicate := key ( "=" | "==" ) value          match
 *              | key "!=" value                    NOT match
 *              | key ( "<" | "<=" | ">" | ">=" ) number     range
 *              | key HAS string                    match (tag membership)
 *              | key [NOT] IN "(" value { "," value } ")"
 *   key       := [A-Za-z_][A-Za-z0-9_.-]*  |  `any text` (backquotes)
 *   value     := "string" | 'string' | number | true | false
 *   number    := [+-]digits[.digits][(e|E)[+-]digits]   (int64 without
 *                '.'/exponent, else double)
 * Strings take \" \' \\ \n \t escapes.  AND binds tighter than OR.
 * Example: lang = "en" AND (year >= 2020 OR tags HAS "news") AND NOT draft = true
 *
 * Memory: filter_parse builds a tree of malloc'ed nodes (never xmalloc:
 * the client library links this file and must not abort on OOM); free it
 * with filter_free only (not with shoal__filter__free_unpacked).
 */
#ifndef SHOAL_FILTER_H
#define SHOAL_FILTER_H

#include <stdbool.h>
#include <stddef.h>

#include "shoal.pb-c.h"
#include "status.h"

#define FILTER_MAX_DEPTH 32
#define FILTER_MAX_NODES 4096
#define FILTER_MAX_TEXT 65536 /* bytes of filter text accepted by filter_parse */

/* Checks f against the rules above.  OK, or INVALID_ARGUMENT with a
 * message starting "filter: ". */
shoal_code filter_validate(const Shoal__Filter *f, shoal_status *st);

/* True when a payload (n fields) matches the (validated) filter f.  When
 * a key occurs twice in the payload, the first occurrence counts. */
bool filter_match(const Shoal__Filter *f, Shoal__PayloadField *const *fields, size_t n);

/* Parses text into a new filter tree (*out; free with filter_free), which
 * is also validated.  INVALID_ARGUMENT with "filter: <what> at position N"
 * (N counts bytes from 1) for a syntax error; RESOURCE_EXHAUSTED on OOM. */
shoal_code filter_parse(const char *text, Shoal__Filter **out, shoal_status *st);

/* Frees a tree made by filter_parse.  NULL ok. */
void filter_free(Shoal__Filter *f);

/* Exact numeric comparison of an int64 or a double (a) with a double (b):
 * -1, 0, 1.  Shared with the worker's compact evaluator. */
int filter_cmp_num(bool a_is_int, long long ai, double ad, double b);

/* Exact equality of two numbers, each an int64 or a double. */
bool filter_num_equal(bool a_is_int, long long ai, double ad, bool b_is_int, long long bi,
    double bd);

#endif
