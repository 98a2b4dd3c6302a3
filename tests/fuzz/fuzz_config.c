/* fuzz_config.c -- libFuzzer entry point for the daemon config parser
 * (common/config.h): config_parse over arbitrary bytes, then, for what it
 * accepts, the daemon check (config_to_args) against a key table like the
 * worker's.  Both must return OK or an error naming FILE:LINE without
 * reading or writing out of bounds or leaking, whatever the bytes.  The
 * input is copied into a buffer of exactly its size so ASan sees its end.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Icommon \
 *       tests/fuzz/fuzz_config.c common/config.c common/status.c -o fuzz_config
 *   ./fuzz_config -max_len=4096 deploy/examples
 *
 * (tests/unit/test_config.c runs a deterministic mutation sweep of the
 * same functions in every ctest run.)
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

static bool
check_any(const char *v, char *why, size_t cap)
{
	if (v[0] != 'x')
		return true;
	strncpy(why, "starts with x", cap - 1);
	why[cap - 1] = '\0';
	return false;
}

static const config_key keys[] = {
    {"listen", CONFIG_STRING, 0, 0, check_any},
    {"data", CONFIG_STRING, 0, 0, NULL},
    {"threads", CONFIG_INT, 1, 1024, NULL},
    {"sync", CONFIG_BOOL, 0, 0, NULL},
};
static const char *const sections[] = {"coordinator", "worker", NULL};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size ? size : 1);
	config_file *cf = NULL;
	shoal_status st;
	char **argv;
	int argc;

	if (buf == NULL)
		return 0;
	memcpy(buf, data, size);
	if (config_parse("fuzz.conf", buf, size, &cf, &st) == SHOAL_OK) {
		if (config_to_args(cf, "worker", sections, keys, 4, &argv, &argc, &st) == SHOAL_OK)
			config_free_args(argv);
		config_free(cf);
	}
	free(buf);
	return 0;
}
