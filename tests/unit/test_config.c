/* test_config.c -- the daemon config file (common/config.c): syntax, every
 * error naming FILE:LINE, the daemon check (unknown keys, bad values,
 * sections), flag extraction and merging, and a mutation sweep that must
 * never crash or accept garbage silently. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"

static config_file *
parse_ok(const char *text)
{
	config_file *cf = NULL;
	shoal_status st = {0};
	shoal_code rc = config_parse("t.conf", text, strlen(text), &cf, &st);
	if (rc != SHOAL_OK)
		fail_msg("parse failed: %s", st.msg);
	return cf;
}

/* Parses text expecting an error whose message contains want. */
static void
parse_err(const char *text, const char *want)
{
	config_file *cf = NULL;
	shoal_status st = {0};
	shoal_code rc = config_parse("t.conf", text, strlen(text), &cf, &st);
	if (rc == SHOAL_OK)
		fail_msg("accepted: %s", text);
	assert_int_equal(rc, SHOAL_INVALID_ARGUMENT);
	assert_null(cf);
	if (strstr(st.msg, want) == NULL)
		fail_msg("message '%s' lacks '%s'", st.msg, want);
}

static void
test_syntax(void **state)
{
	(void)state;
	config_file *cf = parse_ok(
	    "# shoal\n"
	    "\n"
	    "listen = tcp://0.0.0.0:7700   # trailing comment\n"
	    "  data=/var/lib/shoal\r\n"
	    "http_listen = 127.0.0.1:9770\n"
	    "name = \"a #not comment\\\" \\\\ \\t\"  # c\n"
	    "url = tcp://h:1#frag\n"
	    "[worker]\n"
	    "threads = 16\n"
	    "[coordinator]   # section comment\n"
	    "threads = 32\n");
	assert_int_equal(cf->n, 7);
	assert_string_equal(cf->entries[0].key, "listen");
	assert_string_equal(cf->entries[0].value, "tcp://0.0.0.0:7700");
	assert_string_equal(cf->entries[0].section, "");
	assert_int_equal(cf->entries[0].line, 3);
	assert_string_equal(cf->entries[1].value, "/var/lib/shoal");
	assert_string_equal(cf->entries[2].key, "http-listen"); /* '_' -> '-' */
	assert_string_equal(cf->entries[3].value, "a #not comment\" \\ \t");
	assert_string_equal(cf->entries[4].value, "tcp://h:1#frag"); /* '#' needs space before */
	assert_string_equal(cf->entries[5].section, "worker");
	assert_string_equal(cf->entries[5].value, "16");
	assert_int_equal(cf->entries[5].line, 9);
	assert_string_equal(cf->entries[6].section, "coordinator");
	config_free(cf);

	/* empty file, comments only, no final newline */
	cf = parse_ok("");
	assert_int_equal(cf->n, 0);
	config_free(cf);
	cf = parse_ok("# only\n   # comments\n\t\n");
	assert_int_equal(cf->n, 0);
	config_free(cf);
	cf = parse_ok("a = b");
	assert_int_equal(cf->n, 1);
	config_free(cf);
}

static void
test_syntax_errors(void **state)
{
	(void)state;
	parse_err("ok = 1\nlisten tcp://x\n", "t.conf:2: expected '=' after key 'listen'");
	parse_err("Listen = x\n", "t.conf:1: expected 'key = value'");
	parse_err("a = \"open\n", "t.conf:1: a: unterminated quoted value");
	parse_err("a = \"\\q\"\n", "t.conf:1: a: unknown escape");
	parse_err("a = \"x\" y\n", "t.conf:1: a: unexpected text after the closing quote");
	parse_err("a =\n", "t.conf:1: a: empty value");
	parse_err("a = # comment\n", "t.conf:1: a: empty value");
	parse_err("a = \"\"\n", "t.conf:1: a: empty value");
	parse_err("a = 1\n\na = 2\n", "t.conf:3: 'a' is set twice (first at line 1)");
	parse_err("[worker]\na = 1\na = 2\n", "'a' is set twice in [worker]");
	parse_err("[worker\n", "t.conf:1: bad section header");
	parse_err("[]\n", "t.conf:1: bad section header");
	parse_err("[worker] x\n", "t.conf:1: unexpected text after [worker]");
	parse_err("a = 1\nb = x\001y\n", "t.conf:2: control character 0x01");
	parse_err("= 1\n", "t.conf:1: expected 'key = value'");
	/* a NUL byte inside the buffer */
	{
		config_file *cf = NULL;
		shoal_status st;
		const char buf[] = "a = 1\nb\0 = 2\n";
		assert_int_equal(config_parse("t.conf", buf, sizeof buf - 1, &cf, &st),
		    SHOAL_INVALID_ARGUMENT);
		assert_non_null(strstr(st.msg, "t.conf:2: control character 0x00"));
	}
	/* a key given at top level and in a section is not a duplicate */
	config_file *cf = parse_ok("a = 1\n[worker]\na = 2\n");
	assert_int_equal(cf->n, 2);
	config_free(cf);
}

static bool
check_url(const char *v, char *why, size_t cap)
{
	if (strncmp(v, "tcp://", 6) == 0)
		return true;
	snprintf(why, cap, "not a tcp:// URL");
	return false;
}

static const config_key keys[] = {
    {"listen", CONFIG_STRING, 0, 0, check_url},
    {"data", CONFIG_STRING, 0, 0, NULL},
    {"threads", CONFIG_INT, 1, 1024, NULL},
    {"sync", CONFIG_BOOL, 0, 0, NULL},
};
static const char *const sections[] = {"coordinator", "worker", NULL};

static shoal_code
to_args(const char *text, char ***argv, int *argc, shoal_status *st)
{
	config_file *cf = parse_ok(text);
	shoal_code rc = config_to_args(cf, "worker", sections, keys, 4, argv, argc, st);
	config_free(cf);
	return rc;
}

static void
test_to_args(void **state)
{
	(void)state;
	char **argv;
	int argc;
	shoal_status st;

	assert_int_equal(to_args("listen = tcp://a:1\nsync = yes\n[coordinator]\nbogus = 1\n"
	                         "[worker]\nthreads = 4\nlisten = tcp://b:2\n",
	                     &argv, &argc, &st),
	    SHOAL_OK);
	/* top level first, then [worker]; [coordinator] not checked */
	assert_int_equal(argc, 4);
	assert_string_equal(argv[0], "--listen=tcp://a:1");
	assert_string_equal(argv[1], "--sync");
	assert_string_equal(argv[2], "--threads=4");
	assert_string_equal(argv[3], "--listen=tcp://b:2");
	assert_null(argv[4]);
	config_free_args(argv);

	assert_int_equal(to_args("sync = off\n", &argv, &argc, &st), SHOAL_OK);
	assert_int_equal(argc, 0);
	config_free_args(argv);

	assert_int_equal(to_args("data = /x\nthreads = 0\n", &argv, &argc, &st),
	    SHOAL_INVALID_ARGUMENT);
	assert_non_null(strstr(st.msg, "t.conf:2: threads = '0': expected an integer in 1..1024"));
	assert_int_equal(to_args("threads = 12abc\n", &argv, &argc, &st), SHOAL_INVALID_ARGUMENT);
	assert_int_equal(to_args("threads = 99999999999999999999999\n", &argv, &argc, &st),
	    SHOAL_INVALID_ARGUMENT);
	assert_int_equal(to_args("sync = maybe\n", &argv, &argc, &st), SHOAL_INVALID_ARGUMENT);
	assert_non_null(strstr(st.msg, "t.conf:1: sync = 'maybe': expected true or false"));
	assert_int_equal(to_args("listen = udp://x\n", &argv, &argc, &st), SHOAL_INVALID_ARGUMENT);
	assert_non_null(strstr(st.msg, "t.conf:1: listen = 'udp://x': not a tcp:// URL"));
	assert_int_equal(to_args("\n\nlisen = tcp://x:1\n", &argv, &argc, &st),
	    SHOAL_INVALID_ARGUMENT);
	assert_non_null(strstr(st.msg, "t.conf:3: unknown key 'lisen' for shoal-worker"));
	assert_int_equal(to_args("[wrker]\nthreads = 1\n", &argv, &argc, &st),
	    SHOAL_INVALID_ARGUMENT);
	assert_non_null(strstr(st.msg, "t.conf:1: unknown section [wrker]"));
}

static void
test_take_flag(void **state)
{
	(void)state;
	const char *path;
	char **rest;
	int n;
	shoal_status st;

	char *a1[] = {"prog", "--data", "d", "--config", "f.conf", "--threads=2", NULL};
	assert_int_equal(config_take_flag(6, a1, &path, &n, &rest, &st), SHOAL_OK);
	assert_string_equal(path, "f.conf");
	assert_int_equal(n, 4);
	assert_string_equal(rest[0], "prog");
	assert_string_equal(rest[1], "--data");
	assert_string_equal(rest[3], "--threads=2");
	assert_null(rest[4]);
	free(rest);

	char *a2[] = {"prog", "--config=g.conf", NULL};
	assert_int_equal(config_take_flag(2, a2, &path, &n, &rest, &st), SHOAL_OK);
	assert_string_equal(path, "g.conf");
	assert_int_equal(n, 1);
	free(rest);

	char *a3[] = {"prog", "--config", NULL};
	assert_int_equal(config_take_flag(2, a3, &path, &n, &rest, &st), SHOAL_INVALID_ARGUMENT);
	char *a4[] = {"prog", "--config=a", "--config", "b", NULL};
	assert_int_equal(config_take_flag(4, a4, &path, &n, &rest, &st), SHOAL_INVALID_ARGUMENT);
	assert_non_null(strstr(st.msg, "given twice"));

	char *a5[] = {"prog", NULL};
	assert_int_equal(config_take_flag(1, a5, &path, &n, &rest, &st), SHOAL_OK);
	assert_null(path);
	free(rest);
}

static void
test_load_and_merge(void **state)
{
	(void)state;
	char dir[] = "/tmp/shoal-config-XXXXXX";
	char path[256];
	config_file *cf;
	shoal_status st;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/none.conf", dir);
	assert_int_equal(config_load(path, &cf, &st), SHOAL_NOT_FOUND);
	assert_non_null(strstr(st.msg, "none.conf"));
	assert_int_equal(config_load(dir, &cf, &st) != SHOAL_OK, 1); /* a directory */

	snprintf(path, sizeof path, "%s/w.conf", dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("data = /from/file\nthreads = 3\n", f);
	fclose(f);
	assert_int_equal(config_load(path, &cf, &st), SHOAL_OK);
	assert_int_equal(cf->n, 2);
	assert_string_equal(cf->name, path);
	config_free(cf);

	/* merged: argv0, the file's, then the command line's (flags win last) */
	char *argv[] = {"prog", "--threads", "7", "--config", path, NULL};
	int mc;
	char **mv;
	assert_int_equal(config_merge_args("prog", 5, argv, "worker", keys, 4, &mc, &mv), 0);
	assert_int_equal(mc, 5);
	assert_string_equal(mv[0], "prog");
	assert_string_equal(mv[1], "--data=/from/file");
	assert_string_equal(mv[2], "--threads=3");
	assert_string_equal(mv[3], "--threads");
	assert_string_equal(mv[4], "7");
	config_free_merged(mc, mv);

	/* a bad file: exit code 2 */
	f = fopen(path, "w");
	fputs("threads = many\n", f);
	fclose(f);
	assert_int_equal(config_merge_args("prog", 5, argv, "worker", keys, 4, &mc, &mv), 2);
	unlink(path);
	rmdir(dir);
}

/* Mutations of a valid file (byte flips, truncations, insertions of
 * special characters) must parse or fail cleanly -- never crash, and an
 * accepted result must be internally consistent. */
static void
test_mutations(void **state)
{
	(void)state;
	const char *base = "# c\nlisten = tcp://0.0.0.0:7700\nname = \"q \\\"x\\\"\"\n[worker]\n"
	                   "threads = 8 # t\n";
	size_t n = strlen(base);
	const char specials[] = "\"\\#=[] \t\r\n\0\x7f\xff_-aZ";
	unsigned seed = 12345;
	char *buf = malloc(n + 2);
	for (int iter = 0; iter < 20000; iter++) {
		memcpy(buf, base, n);
		size_t len = n;
		seed = seed * 1103515245u + 12345u;
		size_t pos = (seed >> 8) % n;
		seed = seed * 1103515245u + 12345u;
		char c = specials[(seed >> 8) % (sizeof specials - 1)];
		switch (iter % 3) {
		case 0: buf[pos] = c; break;
		case 1: len = pos; break;
		case 2:
			memmove(buf + pos + 1, buf + pos, n - pos);
			buf[pos] = c;
			len = n + 1;
			break;
		}
		config_file *cf = NULL;
		shoal_status st = {0};
		shoal_code rc = config_parse("m.conf", buf, len, &cf, &st);
		if (rc == SHOAL_OK) {
			for (size_t i = 0; i < cf->n; i++) {
				assert_true(cf->entries[i].value[0] != '\0');
				assert_true(cf->entries[i].line >= 1);
				assert_null(strchr(cf->entries[i].key, '_'));
			}
			config_free(cf);
		} else {
			assert_null(cf);
			assert_non_null(strstr(st.msg, "m.conf:"));
		}
	}
	free(buf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_syntax),
	    cmocka_unit_test(test_syntax_errors),
	    cmocka_unit_test(test_to_args),
	    cmocka_unit_test(test_take_flag),
	    cmocka_unit_test(test_load_and_merge),
	    cmocka_unit_test(test_mutations),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
