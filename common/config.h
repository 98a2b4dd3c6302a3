/* config.h -- the one configuration file format of every shoal daemon.
 *
 * Format (docs/operations.md has the full description and examples are in
 * deploy/examples/):
 *
 *     # a comment line
 *     listen = tcp://10.0.0.5:7701     # a comment after a value
 *     data = "/var/lib/shoal/my worker" # quoted: spaces, '#', \" \\ \t \n
 *     [worker]                         # keys below: only shoal-worker
 *     threads = 16
 *
 *  - One setting per line: `key = value`.  Keys are the daemon's long flag
 *    names without "--" (`http-listen`); '_' and '-' are the same
 *    (`http_listen`).  Keys are case-sensitive, lower case.
 *  - Keys before the first [section] apply to every daemon reading the
 *    file; keys in [coordinator] / [worker] only to that daemon, and they
 *    override top-level ones.  A key given twice in one scope is an error.
 *  - An unquoted value runs to the end of the line or to a '#' preceded by
 *    whitespace; surrounding whitespace is dropped.  Empty values are
 *    errors (leave the key out for the default).
 *  - UTF-8 text; NUL bytes and control characters other than tab are
 *    refused.  CRLF line ends are accepted.
 *
 * Precedence: built-in default < config file < command-line flag.  A
 * daemon turns the file into `--key=value` arguments placed before its own
 * (config_to_args), so its flag parser handles both and the last one wins.
 *
 * The parser (config_parse) is pure over a buffer -- no I/O, no globals --
 * so it can be fuzzed; every error names FILE:LINE.
 */
#ifndef SHOAL_CONFIG_H
#define SHOAL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "status.h"

#define CONFIG_MAX_BYTES (1u << 20) /* a config file is small; refuse more */

typedef struct config_entry {
	const char *section; /* "" = top level */
	const char *key;     /* normalized: '_' -> '-' */
	const char *value;   /* unquoted, unescaped */
	int line;            /* 1-based */
	int section_line;    /* line of its [section] header; 0 at top level */
} config_entry;

typedef struct config_file {
	char *name;             /* for messages (the path) */
	config_entry *entries;  /* in file order */
	size_t n;
} config_file;

/* Parses buf[0..len) (need not be NUL-terminated); name is used in
 * messages ("NAME:LINE: ...").  On OK *out is the parsed file (free with
 * config_free).  INVALID_ARGUMENT with "NAME:LINE: what is wrong" for a
 * syntax error; RESOURCE_EXHAUSTED above CONFIG_MAX_BYTES. */
shoal_code config_parse(const char *name, const char *buf, size_t len, config_file **out,
    shoal_status *st);

/* Reads and parses the file at path.  NOT_FOUND / PERMISSION_DENIED /
 * INTERNAL (with the system's reason) when it cannot be read. */
shoal_code config_load(const char *path, config_file **out, shoal_status *st);

void config_free(config_file *cf);

/* What a daemon accepts: one entry per long flag. */
typedef enum config_kind {
	CONFIG_STRING, /* any non-empty value */
	CONFIG_BOOL,   /* true|false|yes|no|on|off|1|0; a flag without value */
	CONFIG_INT,    /* decimal integer in [min, max] */
} config_kind;

typedef struct config_key {
	const char *name;  /* the flag without "--" */
	config_kind kind;
	long long min, max;  /* CONFIG_INT */
	/* Optional extra check (URLs, addresses, enums): returns false and
	 * writes why (NUL-terminated, at most cap bytes) when value is bad. */
	bool (*check)(const char *value, char *why, size_t cap);
} config_key;

/* config_key checks both daemons use (config_keys.c): a listen or dial
 * URL (rpc_url_valid), and a --log-level (log_level_parse). */
bool config_check_url(const char *value, char *why, size_t cap);
bool config_check_log_level(const char *value, char *why, size_t cap);

/* Checks cf for the daemon `daemon` ("coordinator" or "worker"): sections
 * must be one of `sections` (NULL-terminated); every key at top level or
 * in [daemon] must be one of keys[0..nkeys) with a valid value (keys in
 * other daemons' sections are not checked beyond syntax).  Then builds the
 * arguments for the daemon's flag parser: "--key=value" (a true bool is
 * "--key", a false one nothing), top-level entries first, then [daemon]'s.
 * On OK *argv_out is a malloc'ed NULL-terminated array of malloc'ed
 * strings (free with config_free_args) and *argc_out its length.
 * INVALID_ARGUMENT naming "FILE:LINE" and the key otherwise. */
shoal_code config_to_args(const config_file *cf, const char *daemon,
    const char *const *sections, const config_key *keys, size_t nkeys, char ***argv_out,
    int *argc_out, shoal_status *st);

void config_free_args(char **argv);

/* Takes `--config FILE` / `--config=FILE` out of argv: on OK *path is the
 * file (NULL when absent; points into argv) and *argc_out / *argv_out the
 * other arguments (malloc'ed array, free with free(); strings borrowed).
 * INVALID_ARGUMENT when --config has no value or is given twice.  Stops
 * at "--". */
shoal_code config_take_flag(int argc, char **argv, const char **path, int *argc_out,
    char ***argv_out, shoal_status *st);

/* For a daemon's main(): --config handling end to end.  Takes --config out
 * of argv, loads and checks the file, and returns in *argc_out and *argv_out
 * the merged arguments (argv[0], then the file's, then the command line's)
 * for the daemon's own flag parser.  On error prints "PROG: message" to
 * stderr and returns 2 (the bad-configuration exit code); else 0.  Free
 * the result with config_free_merged. */
int config_merge_args(const char *prog, int argc, char **argv, const char *daemon,
    const config_key *keys, size_t nkeys, int *argc_out, char ***argv_out);
void config_free_merged(int argc, char **argv);

/* Writes v as a quoted config value ("..." with \\ \" \n \t escaped) into
 * out; false when it does not fit in cap.  For programs writing files in
 * this format (backup manifests). */
bool config_quote(char *out, size_t cap, const char *v);

/* Parses a config boolean; false when s is not one. */
bool config_parse_bool(const char *s, bool *out);

#endif
