/* fuzz_filter.c -- libFuzzer entry point for payload filters
 * (common/filter.h), both ways a filter arrives:
 *  - text (first byte even): filter_parse over the rest as a NUL-terminated
 *    string; what it accepts must also pass filter_validate, and is
 *    evaluated against a few fixed payloads;
 *  - wire (first byte odd): the rest unpacked as a shoal.Filter (what a
 *    worker receives inside a search request); filter_validate must refuse
 *    it or accept it, and an accepted tree is evaluated too.
 * Neither may crash, read or write out of bounds, recurse without bound or
 * leak, whatever the bytes.  The text is copied into a buffer of exactly
 * its size (plus the NUL) so ASan sees its end.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Icommon -IBUILD/gen \
 *       tests/fuzz/fuzz_filter.c common/filter.c common/status.c BUILD/gen/shoal.pb-c.c \
 *       -lprotobuf-c -lm -o fuzz_filter
 *   ./fuzz_filter -max_len=1024 tests/fuzz/corpus/fuzz_filter
 *
 * (tests/fuzz/run.sh builds and runs it for a bounded time in ctest.)
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "filter.h"

static void
eval(const Shoal__Filter *f)
{
	Shoal__StringList tl = SHOAL__STRING_LIST__INIT;
	char *tags[] = {"news", "sport"};
	tl.n_values = 2;
	tl.values = tags;
	Shoal__PayloadValue v[5];
	Shoal__PayloadField pf[5];
	Shoal__PayloadField *pp[5];
	const char *keys[] = {"lang", "year", "score", "draft", "tags"};
	for (int i = 0; i < 5; i++) {
		shoal__payload_value__init(&v[i]);
		shoal__payload_field__init(&pf[i]);
		pf[i].key = (char *)keys[i];
		pf[i].value = &v[i];
		pp[i] = &pf[i];
	}
	v[0].kind_case = SHOAL__PAYLOAD_VALUE__KIND_S;
	v[0].s = "en";
	v[1].kind_case = SHOAL__PAYLOAD_VALUE__KIND_I;
	v[1].i = 2021;
	v[2].kind_case = SHOAL__PAYLOAD_VALUE__KIND_D;
	v[2].d = 0.5;
	v[3].kind_case = SHOAL__PAYLOAD_VALUE__KIND_B;
	v[3].b = 1;
	v[4].kind_case = SHOAL__PAYLOAD_VALUE__KIND_TAGS;
	v[4].tags = &tl;
	for (size_t n = 0; n <= 5; n++)
		(void)filter_match(f, pp, n);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	shoal_status st;

	if (size == 0)
		return 0;
	if ((data[0] & 1) == 0) {
		char *text = malloc(size); /* size - 1 bytes + NUL */
		if (text == NULL)
			return 0;
		memcpy(text, data + 1, size - 1);
		text[size - 1] = '\0';
		Shoal__Filter *f = NULL;
		if (filter_parse(text, &f, &st) == SHOAL_OK) {
			if (filter_validate(f, &st) != SHOAL_OK)
				abort(); /* parse promises a validated tree */
			eval(f);
			filter_free(f);
		}
		free(text);
	} else {
		Shoal__Filter *f = shoal__filter__unpack(NULL, size - 1, data + 1);
		if (f != NULL) {
			if (filter_validate(f, &st) == SHOAL_OK)
				eval(f);
			shoal__filter__free_unpacked(f, NULL);
		}
	}
	return 0;
}
