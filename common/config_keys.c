/* config_keys.c -- config_key checks both daemons use (config.h).  Kept
 * out of config.c, whose parser depends on nothing but status.c (the
 * fuzzer links it alone). */
#include <stdio.h>

#include "config.h"
#include "log.h"
#include "rpc.h"

bool
config_check_url(const char *v, char *why, size_t cap)
{
	if (rpc_url_valid(v))
		return true;
	snprintf(why, cap, "not a valid URL (expected tcp://HOST:PORT)");
	return false;
}

bool
config_check_log_level(const char *v, char *why, size_t cap)
{
	if (log_level_parse(v) >= 0)
		return true;
	snprintf(why, cap, "expected debug, info, warn or error");
	return false;
}
