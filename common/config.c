/* config.c -- the daemon configuration file (format and contract: config.h).
 *
 * The parser walks the buffer line by line with no I/O and no globals; it
 * allocates with plain malloc and returns RESOURCE_EXHAUSTED rather than
 * aborting, so that a fuzzer can drive it with any bytes.  Every string in
 * a config_file is its own allocation, owned by the config_file.
 *
 * Rejected on purpose (each a named error, never a silent guess):
 *  - a line that is not blank, a comment, `[section]` or `key = value`;
 *  - an empty value (leave the key out to get the default);
 *  - a key given twice in one scope (the second would silently win);
 *  - an unterminated quote, an unknown escape, text after a closing quote;
 *  - NUL bytes and control characters (a binary file given by mistake).
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_KEY 64
#define MAX_SECTION 64

static char *
dupn(const char *s, size_t n)
{
	char *p = malloc(n + 1);
	if (p != NULL) {
		memcpy(p, s, n);
		p[n] = '\0';
	}
	return p;
}

void
config_free(config_file *cf)
{
	if (cf == NULL)
		return;
	for (size_t i = 0; i < cf->n; i++) {
		free((char *)cf->entries[i].section);
		free((char *)cf->entries[i].key);
		free((char *)cf->entries[i].value);
	}
	free(cf->entries);
	free(cf->name);
	free(cf);
}

static bool
is_space(char c)
{
	return c == ' ' || c == '\t';
}

static bool
key_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/* Section names may also carry '.' (backup manifests: [worker.w-1a2b])
 * and upper case (worker names). */
static bool
section_char(char c)
{
	return key_char(c) || c == '.' || (c >= 'A' && c <= 'Z');
}

/* Parses the value text v[0..n) (whitespace already trimmed at the start)
 * into a malloc'ed string.  Returns NULL with why set on error; *oom on
 * allocation failure. */
static char *
parse_value(const char *v, size_t n, const char **why, bool *oom)
{
	*oom = false;
	if (n > 0 && v[0] == '"') {
		char *out = malloc(n + 1);
		size_t o = 0, i = 1;
		if (out == NULL) {
			*oom = true;
			return NULL;
		}
		for (;; i++) {
			if (i >= n) {
				*why = "unterminated quoted value (missing closing \")";
				free(out);
				return NULL;
			}
			char c = v[i];
			if (c == '"')
				break;
			if (c == '\\') {
				if (++i >= n) {
					*why = "unterminated quoted value (missing closing \")";
					free(out);
					return NULL;
				}
				switch (v[i]) {
				case '"': c = '"'; break;
				case '\\': c = '\\'; break;
				case 'n': c = '\n'; break;
				case 't': c = '\t'; break;
				default:
					*why = "unknown escape in quoted value (use \\\" \\\\ \\n \\t)";
					free(out);
					return NULL;
				}
			}
			out[o++] = c;
		}
		out[o] = '\0';
		/* after the closing quote: only whitespace, then maybe a comment */
		for (i++; i < n && is_space(v[i]); i++)
			;
		if (i < n && v[i] != '#') {
			*why = "unexpected text after the closing quote";
			free(out);
			return NULL;
		}
		if (o == 0) {
			*why = "empty value (leave the key out for the default)";
			free(out);
			return NULL;
		}
		return out;
	}
	/* unquoted: up to a '#' that follows whitespace, trailing space dropped */
	size_t end = n;
	for (size_t i = 0; i < n; i++)
		if (v[i] == '#' && (i == 0 || is_space(v[i - 1]))) {
			end = i;
			break;
		}
	while (end > 0 && is_space(v[end - 1]))
		end--;
	if (end == 0) {
		*why = "empty value (leave the key out for the default)";
		return NULL;
	}
	char *out = dupn(v, end);
	if (out == NULL)
		*oom = true;
	return out;
}

shoal_code
config_parse(const char *name, const char *buf, size_t len, config_file **out, shoal_status *st)
{
	config_file *cf;
	char section[MAX_SECTION + 1] = "";
	size_t cap = 0;
	int line = 0, section_line = 0;

	*out = NULL;
	if (name == NULL)
		name = "(config)";
	if (len > CONFIG_MAX_BYTES)
		return shoal_status_set(st, SHOAL_RESOURCE_EXHAUSTED,
		    "%s: %zu bytes is too large for a config file (limit %u)", name, len,
		    CONFIG_MAX_BYTES);
	if ((cf = calloc(1, sizeof *cf)) == NULL || (cf->name = dupn(name, strlen(name))) == NULL) {
		free(cf);
		return shoal_status_set(st, SHOAL_RESOURCE_EXHAUSTED, "out of memory");
	}

	for (size_t pos = 0; pos < len;) {
		const char *l = buf + pos;
		size_t n = 0;
		while (pos + n < len && buf[pos + n] != '\n')
			n++;
		pos += n + (pos + n < len); /* past the '\n' */
		line++;
		if (n > 0 && l[n - 1] == '\r')
			n--;
		for (size_t i = 0; i < n; i++) {
			unsigned char c = (unsigned char)l[i];
			if ((c < 0x20 && c != '\t') || c == 0x7f) {
				shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
				    "%s:%d: control character 0x%02x (not a text file?)", name, line, c);
				goto fail;
			}
		}
		size_t i = 0;
		while (i < n && is_space(l[i]))
			i++;
		if (i == n || l[i] == '#')
			continue;

		if (l[i] == '[') {
			size_t s = ++i;
			while (i < n && section_char(l[i]))
				i++;
			if (i == n || l[i] != ']' || i == s) {
				shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
				    "%s:%d: bad section header (expected [name] with letters, digits, "
				    "'-', '_' or '.')", name, line);
				goto fail;
			}
			if (i - s > MAX_SECTION) {
				shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
				    "%s:%d: section name longer than %d characters", name, line, MAX_SECTION);
				goto fail;
			}
			memcpy(section, l + s, i - s);
			section[i - s] = '\0';
			section_line = line;
			for (i++; i < n && is_space(l[i]); i++)
				;
			if (i < n && l[i] != '#') {
				shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
				    "%s:%d: unexpected text after [%s]", name, line, section);
				goto fail;
			}
			continue;
		}

		/* key = value */
		size_t ks = i;
		while (i < n && key_char(l[i]))
			i++;
		size_t kl = i - ks;
		if (kl == 0) {
			shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
			    "%s:%d: expected 'key = value', '[section]' or a '#' comment", name, line);
			goto fail;
		}
		if (kl > MAX_KEY) {
			shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
			    "%s:%d: key longer than %d characters", name, line, MAX_KEY);
			goto fail;
		}
		while (i < n && is_space(l[i]))
			i++;
		if (i == n || l[i] != '=') {
			shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
			    "%s:%d: expected '=' after key '%.*s' (keys are lower case: a-z 0-9 - _)",
			    name, line, (int)kl, l + ks);
			goto fail;
		}
		for (i++; i < n && is_space(l[i]); i++)
			;
		const char *why = NULL;
		bool oom;
		char *val = parse_value(l + i, n - i, &why, &oom);
		if (val == NULL) {
			if (oom)
				shoal_status_set(st, SHOAL_RESOURCE_EXHAUSTED, "out of memory");
			else
				shoal_status_set(st, SHOAL_INVALID_ARGUMENT, "%s:%d: %.*s: %s", name, line,
				    (int)kl, l + ks, why);
			goto fail;
		}
		char *key = dupn(l + ks, kl);
		char *sec = dupn(section, strlen(section));
		if (key == NULL || sec == NULL) {
			free(val);
			free(key);
			free(sec);
			shoal_status_set(st, SHOAL_RESOURCE_EXHAUSTED, "out of memory");
			goto fail;
		}
		for (char *p = key; *p; p++)
			if (*p == '_')
				*p = '-';
		for (size_t j = 0; j < cf->n; j++) {
			if (strcmp(cf->entries[j].key, key) == 0 &&
			    strcmp(cf->entries[j].section, sec) == 0) {
				shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
				    "%s:%d: '%s' is set twice%s%s%s (first at line %d)", name, line, key,
				    sec[0] ? " in [" : "", sec, sec[0] ? "]" : "", cf->entries[j].line);
				free(val);
				free(key);
				free(sec);
				goto fail;
			}
		}
		if (cf->n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			config_entry *ne = realloc(cf->entries, ncap * sizeof *ne);
			if (ne == NULL) {
				free(val);
				free(key);
				free(sec);
				shoal_status_set(st, SHOAL_RESOURCE_EXHAUSTED, "out of memory");
				goto fail;
			}
			cf->entries = ne;
			cap = ncap;
		}
		cf->entries[cf->n++] = (config_entry){
		    .section = sec, .key = key, .value = val, .line = line,
		    .section_line = section_line};
	}
	*out = cf;
	return SHOAL_OK;
fail:
	config_free(cf);
	return st ? st->code : SHOAL_INVALID_ARGUMENT;
}

shoal_code
config_load(const char *path, config_file **out, shoal_status *st)
{
	FILE *f;
	char *buf;
	size_t len = 0, cap = 4096;

	*out = NULL;
	if ((f = fopen(path, "rb")) == NULL) {
		int e = errno;
		return shoal_status_set(st,
		    e == ENOENT ? SHOAL_NOT_FOUND : e == EACCES ? SHOAL_PERMISSION_DENIED
		                                                : SHOAL_INTERNAL,
		    "cannot read config file %s: %s", path, strerror(e));
	}
	if ((buf = malloc(cap)) == NULL) {
		fclose(f);
		return shoal_status_set(st, SHOAL_RESOURCE_EXHAUSTED, "out of memory");
	}
	for (;;) {
		if (len == cap) {
			if (cap > CONFIG_MAX_BYTES)
				break; /* config_parse reports the size */
			char *nb = realloc(buf, cap * 2);
			if (nb == NULL) {
				free(buf);
				fclose(f);
				return shoal_status_set(st, SHOAL_RESOURCE_EXHAUSTED, "out of memory");
			}
			buf = nb;
			cap *= 2;
		}
		size_t got = fread(buf + len, 1, cap - len, f);
		len += got;
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		int e = errno;
		free(buf);
		fclose(f);
		return shoal_status_set(st, SHOAL_INTERNAL, "cannot read config file %s: %s", path,
		    strerror(e));
	}
	fclose(f);
	shoal_code rv = config_parse(path, buf, len, out, st);
	free(buf);
	return rv;
}

bool
config_quote(char *out, size_t cap, const char *v)
{
	size_t n = 0;
	if (cap < 3)
		return false;
	out[n++] = '"';
	for (const char *p = v ? v : ""; *p; p++) {
		char esc = *p == '"' ? '"' : *p == '\\' ? '\\' : *p == '\n' ? 'n' : *p == '\t' ? 't' : 0;
		if (n + (esc ? 2 : 1) + 2 > cap)
			return false;
		if (esc) {
			out[n++] = '\\';
			out[n++] = esc;
		} else {
			out[n++] = *p;
		}
	}
	out[n++] = '"';
	out[n] = '\0';
	return true;
}

bool
config_parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = {"true", "yes", "on", "1"};
	static const char *const no[] = {"false", "no", "off", "0"};
	for (size_t i = 0; i < 4; i++) {
		if (strcmp(s, yes[i]) == 0) {
			*out = true;
			return true;
		}
		if (strcmp(s, no[i]) == 0) {
			*out = false;
			return true;
		}
	}
	return false;
}

static bool
parse_ll(const char *s, long long *out)
{
	char *end;
	if (*s == '\0' || is_space(*s))
		return false;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return false;
	*out = v;
	return true;
}

void
config_free_args(char **argv)
{
	if (argv == NULL)
		return;
	for (char **p = argv; *p; p++)
		free(*p);
	free(argv);
}

/* Checks one entry against keys; on OK *arg is the argument to add (or
 * NULL for a false bool). */
static shoal_code
check_entry(const config_file *cf, const config_entry *e, const char *daemon,
    const config_key *keys, size_t nkeys, char **arg, shoal_status *st)
{
	const config_key *k = NULL;
	char why[256];
	long long v;
	bool b;

	*arg = NULL;
	for (size_t i = 0; i < nkeys && k == NULL; i++)
		if (strcmp(keys[i].name, e->key) == 0)
			k = &keys[i];
	if (k == NULL)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "%s:%d: unknown key '%s' for shoal-%s%s", cf->name, e->line, e->key, daemon,
		    e->section[0] ? "" : " (keys for one daemon only go under [coordinator] or "
		                         "[worker])");
	switch (k->kind) {
	case CONFIG_BOOL:
		if (!config_parse_bool(e->value, &b))
			return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
			    "%s:%d: %s = '%s': expected true or false", cf->name, e->line, e->key,
			    e->value);
		if (!b)
			return SHOAL_OK;
		break;
	case CONFIG_INT:
		if (!parse_ll(e->value, &v) || v < k->min || v > k->max)
			return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
			    "%s:%d: %s = '%s': expected an integer in %lld..%lld", cf->name, e->line,
			    e->key, e->value, k->min, k->max);
		break;
	case CONFIG_STRING:
		break;
	}
	why[0] = '\0';
	if (k->check != NULL && !k->check(e->value, why, sizeof why))
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT, "%s:%d: %s = '%s': %s", cf->name,
		    e->line, e->key, e->value, why[0] ? why : "invalid value");
	size_t need = strlen(e->key) + strlen(e->value) + 4;
	if ((*arg = malloc(need)) == NULL)
		return shoal_status_set(st, SHOAL_RESOURCE_EXHAUSTED, "out of memory");
	if (k->kind == CONFIG_BOOL)
		snprintf(*arg, need, "--%s", e->key);
	else
		snprintf(*arg, need, "--%s=%s", e->key, e->value);
	return SHOAL_OK;
}

shoal_code
config_to_args(const config_file *cf, const char *daemon, const char *const *sections,
    const config_key *keys, size_t nkeys, char ***argv_out, int *argc_out, shoal_status *st)
{
	char **argv;
	int argc = 0;

	*argv_out = NULL;
	*argc_out = 0;
	for (size_t i = 0; i < cf->n; i++) {
		const char *s = cf->entries[i].section;
		bool known = s[0] == '\0';
		for (const char *const *p = sections; !known && p && *p; p++)
			known = strcmp(*p, s) == 0;
		if (!known)
			return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
			    "%s:%d: unknown section [%s] (expected [coordinator] or [worker])", cf->name,
			    cf->entries[i].section_line, s);
	}
	if ((argv = calloc(cf->n + 1, sizeof *argv)) == NULL)
		return shoal_status_set(st, SHOAL_RESOURCE_EXHAUSTED, "out of memory");
	/* top level first, then the daemon's section, so the section wins */
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < cf->n; i++) {
			const config_entry *e = &cf->entries[i];
			bool mine = pass == 0 ? e->section[0] == '\0' : strcmp(e->section, daemon) == 0;
			char *arg;
			if (!mine)
				continue;
			if (check_entry(cf, e, daemon, keys, nkeys, &arg, st) != SHOAL_OK) {
				config_free_args(argv);
				return st ? st->code : SHOAL_INVALID_ARGUMENT;
			}
			if (arg != NULL)
				argv[argc++] = arg;
		}
	}
	*argv_out = argv;
	*argc_out = argc;
	return SHOAL_OK;
}

shoal_code
config_take_flag(int argc, char **argv, const char **path, int *argc_out, char ***argv_out,
    shoal_status *st)
{
	char **rest = calloc((size_t)argc + 1, sizeof *rest);
	int n = 0;
	bool dashdash = false;

	*path = NULL;
	*argv_out = NULL;
	*argc_out = 0;
	if (rest == NULL)
		return shoal_status_set(st, SHOAL_RESOURCE_EXHAUSTED, "out of memory");
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i], *v = NULL;
		if (i == 0 || dashdash) {
			rest[n++] = argv[i];
			continue;
		}
		if (strcmp(a, "--") == 0) {
			dashdash = true;
			rest[n++] = argv[i];
			continue;
		}
		if (strcmp(a, "--config") == 0) {
			if (i + 1 >= argc || argv[i + 1][0] == '\0') {
				free(rest);
				return shoal_status_set(st, SHOAL_INVALID_ARGUMENT, "--config needs a FILE");
			}
			v = argv[++i];
		} else if (strncmp(a, "--config=", 9) == 0) {
			v = a + 9;
			if (*v == '\0') {
				free(rest);
				return shoal_status_set(st, SHOAL_INVALID_ARGUMENT, "--config needs a FILE");
			}
		} else {
			rest[n++] = argv[i];
			continue;
		}
		if (*path != NULL) {
			free(rest);
			return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
			    "--config is given twice (%s and %s); use one file", *path, v);
		}
		*path = v;
	}
	rest[n] = NULL;
	*argv_out = rest;
	*argc_out = n;
	return SHOAL_OK;
}

int
config_merge_args(const char *prog, int argc, char **argv, const char *daemon,
    const config_key *keys, size_t nkeys, int *argc_out, char ***argv_out)
{
	static const char *const sections[] = {"coordinator", "worker", NULL};
	const char *path;
	char **rest = NULL, **fargs = NULL, **merged;
	int nrest, nf = 0;
	config_file *cf = NULL;
	shoal_status st;

	*argc_out = 0;
	*argv_out = NULL;
	if (config_take_flag(argc, argv, &path, &nrest, &rest, &st) != SHOAL_OK) {
		fprintf(stderr, "%s: %s\n(see %s --help)\n", prog, st.msg, prog);
		return 2;
	}
	if (path != NULL) {
		if (config_load(path, &cf, &st) != SHOAL_OK ||
		    config_to_args(cf, daemon, sections, keys, nkeys, &fargs, &nf, &st) != SHOAL_OK) {
			fprintf(stderr, "%s: bad configuration: %s\n", prog, st.msg);
			config_free(cf);
			free(rest);
			return 2;
		}
		config_free(cf);
	}
	merged = calloc((size_t)(nrest + nf) + 1, sizeof *merged);
	if (merged == NULL) {
		fprintf(stderr, "%s: out of memory\n", prog);
		config_free_args(fargs);
		free(rest);
		return 2;
	}
	/* every string owned by merged, so getopt may permute freely */
	int m = 0;
	merged[m++] = strdup(rest[0] ? rest[0] : prog);
	for (int i = 0; i < nf; i++)
		merged[m++] = fargs[i]; /* ownership moves */
	for (int i = 1; i < nrest; i++)
		merged[m++] = strdup(rest[i]);
	merged[m] = NULL;
	free(fargs); /* the strings moved to merged */
	free(rest);
	for (int i = 0; i < m; i++)
		if (merged[i] == NULL) {
			fprintf(stderr, "%s: out of memory\n", prog);
			abort();
		}
	*argc_out = m;
	*argv_out = merged;
	return 0;
}

void
config_free_merged(int argc, char **argv)
{
	if (argv == NULL)
		return;
	for (int i = 0; i < argc; i++)
		free(argv[i]);
	free(argv);
}
