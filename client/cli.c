/* cli.c -- `shoal`, the command-line client, built on libshoal only
 * (plus common/vecio for .fvecs files and generated vectors).
 *
 *   shoal [--coordinator URL] [--timeout MS] COMMAND [ARGS...]
 *
 * Every command is a static cmd_xxx(argc, argv) with argv[0] = its name;
 * each parses its own options with getopt_long in permute mode, so options
 * and positional arguments may come in any order, and the global options
 * are accepted after the command too.  `--help` is accepted everywhere.
 *
 * Output: results on stdout (tables for people, one value per line where
 * a script would want it, e.g. `count`); progress and errors on stderr.
 * Exit status: 0 OK, 1 the request failed ("shoal: error: CODE: message"),
 * 2 usage error (with a hint pointing at --help).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "shoal_client.h"
#include "util.h"
#include "vecio.h"

#define DEFAULT_URL "tcp://127.0.0.1:7700"
#define EXIT_FAIL 1
#define EXIT_USAGE 2
#define VECTOR_SHOWN 8 /* components printed before "..." without --full */

/* ===================================================================
 * Global state, errors, usage
 * =================================================================== */

static struct {
	const char *url;
	uint32_t timeout_ms;
	const char *token; /* --token; NULL = $SHOAL_TOKEN */
	const char *tls_ca, *tls_cert, *tls_key; /* --tls-*; NULL = $SHOAL_TLS_* */
	shoal_client *client;
} g;

/* Where "Try 'shoal X --help'" points: set by each command. */
static const char *g_cmd = "";

static int
usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("shoal: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'shoal%s%s --help'.\n", g_cmd[0] ? " " : "", g_cmd);
	return EXIT_USAGE;
}

static int
fail(const shoal_status *st)
{
	fprintf(stderr, "shoal: error: %s: %s\n", shoal_code_name(st->code), st->msg);
	return EXIT_FAIL;
}

/* Connects on first use, so that --help and usage errors never need a
 * coordinator. */
static int
client(shoal_client **out, shoal_status *st)
{
	shoal_connect_opts o = {.timeout_ms = g.timeout_ms};
	const char *tok = g.token != NULL ? g.token : getenv("SHOAL_TOKEN");

	if (g.client == NULL) {
		o.auth_token = tok != NULL && tok[0] ? tok : NULL;
		o.tls_ca_file = g.tls_ca != NULL ? g.tls_ca : getenv("SHOAL_TLS_CA");
		o.tls_cert_file = g.tls_cert != NULL ? g.tls_cert : getenv("SHOAL_TLS_CERT");
		o.tls_key_file = g.tls_key != NULL ? g.tls_key : getenv("SHOAL_TLS_KEY");
		if (shoal_connect(g.url, &o, &g.client, st) != SHOAL_OK)
			return -1;
	}
	*out = g.client;
	return 0;
}

/* Options every command accepts (kept in each command's table). */
enum { OPT_COORDINATOR = 1000, OPT_TIMEOUT, OPT_TOKEN, OPT_TLS_CA, OPT_TLS_CERT, OPT_TLS_KEY };
#define COMMON_LONGOPTS                                                      \
	{"coordinator", required_argument, NULL, OPT_COORDINATOR},               \
	    {"timeout", required_argument, NULL, OPT_TIMEOUT},                   \
	    {"token", required_argument, NULL, OPT_TOKEN},                       \
	    {"tls-ca", required_argument, NULL, OPT_TLS_CA},                     \
	    {"tls-cert", required_argument, NULL, OPT_TLS_CERT},                 \
	    {"tls-key", required_argument, NULL, OPT_TLS_KEY},                   \
	    {"help", no_argument, NULL, 'h'}

#define COMMON_HELP                                                          \
	"  --coordinator URL   coordinator address (default $SHOAL_COORDINATOR,\n" \
	"                      else " DEFAULT_URL ")\n"                           \
	"  --timeout MS        per-request timeout in milliseconds (default 30000)\n" \
	"  --token TOKEN       admin or tenant API key (default $SHOAL_TOKEN, which\n" \
	"                      is preferred: a flag is visible in ps)\n"           \
	"  --tls-ca FILE       for a tls+tcp:// coordinator: the PEM CA that signed\n" \
	"                      its certificate (default $SHOAL_TLS_CA)\n"          \
	"  --tls-cert FILE     client certificate, for a coordinator that requires\n" \
	"  --tls-key FILE      one, and its key ($SHOAL_TLS_CERT, $SHOAL_TLS_KEY)\n" \
	"  -h, --help          show this help\n"

/* Handles a common option, or getopt's '?' (unknown option) and ':'
 * (missing value; every optstring starts with ':'); returns -1 when opt is
 * none of these, else 0 or the usage exit code. */
static int
common_opt(int opt, char **argv)
{
	switch (opt) {
	case OPT_COORDINATOR:
		g.url = optarg;
		return 0;
	case OPT_TOKEN:
		g.token = optarg;
		return 0;
	case OPT_TLS_CA:
	case OPT_TLS_CERT:
	case OPT_TLS_KEY:
		*(opt == OPT_TLS_CA ? &g.tls_ca : opt == OPT_TLS_CERT ? &g.tls_cert : &g.tls_key) =
		    optarg;
		return 0;
	case OPT_TIMEOUT:
		if (!util_parse_u32(optarg, &g.timeout_ms) || g.timeout_ms == 0)
			return usage_error("bad --timeout '%s', expected milliseconds > 0",
			    optarg);
		return 0;
	case '?':
		return usage_error("unknown option '%s'", argv[optind - 1]);
	case ':':
		return usage_error("option '%s' needs a value", argv[optind - 1]);
	default:
		return -1;
	}
}

static int
parse_u32_opt(const char *name, const char *s, uint32_t *out, bool nonzero)
{
	if (!util_parse_u32(s, out) || (nonzero && *out == 0))
		return usage_error("bad %s '%s', expected %s integer", name, s,
		    nonzero ? "a positive" : "a non-negative");
	return 0;
}

static int
parse_u64_opt(const char *name, const char *s, uint64_t *out)
{
	if (!util_parse_u64(s, out))
		return usage_error("bad %s '%s', expected a non-negative integer", name,
		    s);
	return 0;
}

/* Runs getopt_long over a command's argv; common options are handled
 * here, the rest by `opt_fn`.  On success the positionals are
 * argv[optind..argc). */
typedef int (*opt_fn)(int opt, void *ctx);

static int
parse_opts(int argc, char **argv, const char *shortopts,
    const struct option *longopts, const char *help, opt_fn fn, void *ctx)
{
	int opt, rv;

	optind = 0; /* glibc: full reinitialisation for each command */
	opterr = 0; /* our messages, see common_opt() */
	while ((opt = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		if (opt == 'h') {
			fputs(help, stdout);
			return -1; /* caller exits 0 */
		}
		if ((rv = common_opt(opt, argv)) >= 0) {
			if (rv != 0)
				return rv;
			continue;
		}
		if (fn == NULL)
			return usage_error("unexpected option '%s'", argv[optind - 1]);
		if ((rv = fn(opt, ctx)) != 0)
			return rv;
	}
	return 0;
}

/* Expands parse_opts' result in a command: help -> exit 0, error -> code */
#define PARSE_OR_RETURN(call)                                                \
	do {                                                                     \
		int prv_ = (call);                                                   \
		if (prv_ == -1)                                                      \
			return 0;                                                        \
		if (prv_ != 0)                                                       \
			return prv_;                                                     \
	} while (0)

/* ===================================================================
 * Printing helpers
 * =================================================================== */

static void
print_json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch == '\n')
			fputs("\\n", f);
		else if (ch < 0x20)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

static void
print_payload(FILE *f, const shoal_field *fields, size_t n)
{
	fputc('{', f);
	for (size_t i = 0; i < n; i++) {
		const shoal_field *x = &fields[i];
		if (i > 0)
			fputs(", ", f);
		print_json_string(f, x->key);
		fputs(": ", f);
		switch (x->type) {
		case SHOAL_VALUE_STRING:
			print_json_string(f, x->s);
			break;
		case SHOAL_VALUE_INT:
			fprintf(f, "%" PRId64, x->i);
			break;
		case SHOAL_VALUE_DOUBLE:
			fprintf(f, "%.17g", x->d);
			break;
		case SHOAL_VALUE_BOOL:
			fputs(x->b ? "true" : "false", f);
			break;
		case SHOAL_VALUE_TAGS:
			fputc('[', f);
			for (size_t t = 0; t < x->tags.n; t++) {
				if (t > 0)
					fputs(", ", f);
				print_json_string(f, x->tags.v[t]);
			}
			fputc(']', f);
			break;
		}
	}
	fputc('}', f);
}

static void
print_vector(FILE *f, const float *v, uint32_t dim, bool full)
{
	uint32_t shown = full || dim <= VECTOR_SHOWN ? dim : VECTOR_SHOWN;

	fputc('[', f);
	for (uint32_t j = 0; j < shown; j++)
		fprintf(f, "%s%.6g", j ? ", " : "", v[j]);
	if (shown < dim)
		fprintf(f, ", ... (%u more)", dim - shown);
	fprintf(f, "] (dim %u)", dim);
}

/* ===================================================================
 * Progress bar (stderr): \r-updated on a terminal, a line every few
 * seconds otherwise (logs, CI).
 * =================================================================== */

typedef struct progress {
	uint64_t total, done;
	uint64_t t0_ms, last_ms;
	bool tty;
} progress;

static void
fmt_duration(char *buf, size_t len, double s)
{
	unsigned long t = s < 0 ? 0 : (unsigned long)(s + 0.5);
	snprintf(buf, len, "%lu:%02lu:%02lu", t / 3600, t / 60 % 60, t % 60);
}

static void
progress_start(progress *p, uint64_t total)
{
	memset(p, 0, sizeof *p);
	p->total = total;
	p->t0_ms = p->last_ms = util_mono_ms();
	p->tty = isatty(STDERR_FILENO) == 1;
}

static void
progress_show(progress *p, bool final)
{
	uint64_t now = util_mono_ms();
	double secs = (double)(now - p->t0_ms) / 1000.0;
	double rate = secs > 0 ? (double)p->done / secs : 0;
	double pct = p->total ? 100.0 * (double)p->done / (double)p->total : 100.0;
	char eta[32];

	if (!final && now - p->last_ms < (p->tty ? 200u : 5000u))
		return;
	p->last_ms = now;
	if (final)
		fmt_duration(eta, sizeof eta, secs);
	else if (rate > 0)
		fmt_duration(eta, sizeof eta, (double)(p->total - p->done) / rate);
	else
		snprintf(eta, sizeof eta, "?");
	fprintf(stderr, "%s%" PRIu64 "/%" PRIu64 " rows  %5.1f%%  %.0f rows/s  %s %s%s",
	    p->tty ? "\r" : "", p->done, p->total, pct, rate,
	    final ? "elapsed" : "ETA", eta, p->tty && !final ? "   " : "\n");
	fflush(stderr);
}

/* ===================================================================
 * Shared lookups
 * =================================================================== */

/* Finds tenant/collection through ListCollections (for its dimension). */
static shoal_code
find_collection(shoal_client *c, const char *tenant, const char *name,
    shoal_collection_info *out, shoal_status *st)
{
	shoal_collection_info *list;
	shoal_code rv;
	size_t n;

	if ((rv = shoal_collection_list(c, tenant, &list, &n, st)) != SHOAL_OK)
		return rv;
	if (tenant[0] == '\0')
		rv = shoal_status_set(st, SHOAL_NOT_FOUND,
		    "there is no shared or reference collection '%s'", name);
	else
		rv = shoal_status_set(st, SHOAL_NOT_FOUND,
		    "collection '%s' does not exist in tenant '%s'", name, tenant);
	for (size_t i = 0; i < n; i++)
		if (strcmp(list[i].name, name) == 0) {
			*out = list[i];
			shoal_status_clear(st);
			rv = SHOAL_OK;
			break;
		}
	shoal_collection_list_free(list);
	return rv;
}

/* The target of a command: "TENANT COLLECTION" (a dedicated tenant's
 * collection) or "COLLECTION" alone (a shared or reference collection,
 * tenant "" in the API).  Returns false when npos is neither 1 nor 2. */
static bool
split_target(int npos, char **pos, const char **tenant, const char **coll)
{
	if (npos == 1) {
		*tenant = "";
		*coll = pos[0];
		return true;
	}
	if (npos == 2) {
		*tenant = pos[0];
		*coll = pos[1];
		return true;
	}
	return false;
}

/* "acme/docs", or "docs" for a cluster-level collection (static buffer). */
static const char *
target_name(const char *tenant, const char *coll)
{
	static char buf[2 * SHOAL_NAME_MAX + 2];
	snprintf(buf, sizeof buf, "%s%s%s", tenant, tenant[0] ? "/" : "", coll);
	return buf;
}

/* For get/delete (whose ids follow the names): whether `name` is a shared
 * or reference collection.  Tenant and cluster-level collection names are
 * one namespace, so "NAME ID..." and "TENANT COLL ID..." never clash. */
static shoal_code
is_cluster_collection(shoal_client *c, const char *name, bool *yes, shoal_status *st)
{
	shoal_collection_info *list;
	size_t n;
	shoal_code rv;

	*yes = false;
	if ((rv = shoal_collection_list(c, "", &list, &n, st)) != SHOAL_OK)
		return rv;
	for (size_t i = 0; i < n && !*yes; i++)
		*yes = strcmp(list[i].name, name) == 0;
	shoal_collection_list_free(list);
	return SHOAL_OK;
}

/* Reads record `index` of an .fvecs file into a malloc'ed vector. */
static shoal_code
read_fvecs_record(const char *path, uint64_t index, float **out, uint32_t *dim,
    shoal_status *st)
{
	enum { CHUNK = 256 };
	vecio_reader *r;
	uint64_t count, pos = 0;
	float *buf = NULL;
	shoal_code rv;
	size_t got;

	*out = NULL;
	if ((rv = vecio_open_fvecs(path, &r, dim, &count, st)) != SHOAL_OK)
		return rv;
	if (index >= count) {
		vecio_close(r);
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "%s has %" PRIu64 " vectors, --index %" PRIu64 " is out of range",
		    path, count, index);
	}
	if ((buf = malloc((size_t)CHUNK * *dim * sizeof *buf)) == NULL) {
		vecio_close(r);
		return shoal_status_set(st, SHOAL_RESOURCE_EXHAUSTED, "out of memory");
	}
	/* sequential: the reader validates each record on the way */
	while ((rv = vecio_read(r, buf, CHUNK, &got, st)) == SHOAL_OK && got > 0) {
		if (index < pos + got) {
			memmove(buf, buf + (index - pos) * *dim, *dim * sizeof *buf);
			*out = buf;
			vecio_close(r);
			return SHOAL_OK;
		}
		pos += got;
	}
	free(buf);
	vecio_close(r);
	if (rv == SHOAL_OK)
		rv = shoal_status_set(st, SHOAL_INTERNAL, "%s: record %" PRIu64
		    " missing", path, index);
	return rv;
}

/* ===================================================================
 * status
 * =================================================================== */

static const char help_status[] =
    "usage: shoal status [options]\n"
    "\n"
    "Shows the cluster: coordinator version and routing epoch, tenant and\n"
    "collection counts, orphan shards reclaimed (when any), and one line per\n"
    "worker.\n"
    "\n"
    "Options:\n" COMMON_HELP;

static int
cmd_status(int argc, char **argv)
{
	static const struct option lo[] = {COMMON_LONGOPTS, {0}};
	shoal_cluster_info *ci;
	shoal_status st;
	shoal_client *c;

	PARSE_OR_RETURN(parse_opts(argc, argv, ":h", lo, help_status, NULL, NULL));
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	if (client(&c, &st) != 0 || shoal_cluster_status(c, &ci, &st) != SHOAL_OK)
		return fail(&st);
	printf("coordinator  %s (version %s)\n", shoal_client_url(c), ci->version);
	printf("epoch        %" PRIu64 "\n", ci->epoch);
	printf("tenants      %u\n", ci->tenants);
	printf("collections  %u\n", ci->collections);
	printf("workers      %zu\n", ci->n_workers);
	if (ci->orphans_reclaimed > 0 || ci->orphans_pending > 0)
		printf("orphans      %" PRIu64 " orphan shards reclaimed, %u waiting out the grace "
		       "period\n",
		    ci->orphans_reclaimed, ci->orphans_pending);
	if (ci->n_workers > 0) {
		printf("\n%-20s %-28s %-5s %7s %8s %12s %12s %10s\n", "WORKER", "URL",
		    "STATE", "SHARDS", "TENANTS", "POINTS", "BYTES", "LAST_SEEN");
		for (size_t i = 0; i < ci->n_workers; i++) {
			const shoal_worker_info *w = &ci->workers[i];
			printf("%-20s %-28s %-5s %7u %8u %12" PRIu64 " %12" PRIu64
			       " %8.1fs\n",
			    w->name, w->url, w->up ? "up" : "DOWN", w->shards, w->tenants,
			    w->points, w->bytes, (double)w->last_seen_ms / 1000.0);
		}
	}
	shoal_cluster_info_free(ci);
	return 0;
}

/* ===================================================================
 * tenant
 * =================================================================== */

static const char help_tenant[] =
    "usage: shoal tenant create NAME [--on WORKER]\n"
    "       shoal tenant list\n"
    "       shoal tenant drop NAME\n"
    "       shoal tenant move NAME --to WORKER [--max-mbps N] [--no-wait]\n"
    "       shoal tenant key create NAME | key list [NAME] | key revoke NAME ID\n"
    "\n"
    "Tenants own collections; all collections of a tenant live on one\n"
    "worker (its shard group).\n"
    "\n"
    "  create NAME     create a tenant; the coordinator picks the worker\n"
    "    --on WORKER   place it on this worker instead (see 'shoal status')\n"
    "  list            list tenants with their worker, collections and points\n"
    "  drop NAME       delete a tenant with ALL its collections and points\n"
    "  move NAME       move the tenant's shard group to another worker while it\n"
    "                  serves reads and writes (copy, verify, short write pause\n"
    "                  at the cutover); prints progress until it is done\n"
    "    --to WORKER   the worker to move to (required)\n"
    "    --max-mbps N  throttle the copy to N MB/s, rows and index bundles\n"
    "                  together (default: unlimited)\n"
    "    --no-wait     return once the move is recorded ('shoal move status')\n"
    "  key create NAME  make an API key that reads and writes only this tenant's\n"
    "                   data; printed once (the coordinator keeps its hash)\n"
    "  key list [NAME]  list API key ids (of one tenant or all), never the keys\n"
    "  key revoke NAME ID  refuse the key with this id from now on\n"
    "                   (key commands need the admin key; docs/security.md)\n"
    "\n"
    "Names: 1..63 characters of A-Z a-z 0-9 _ . - (not starting with . or -).\n"
    "\n"
    "Options:\n" COMMON_HELP;

static int
tenant_opt(int opt, void *ctx)
{
	if (opt == 'o') {
		*(const char **)ctx = optarg;
		return 0;
	}
	return usage_error("unexpected option");
}

/* ---- tenant key (API keys, docs/security.md) ---- */

static int
tenant_key(int argc, char **argv)
{
	static const struct option lo[] = {COMMON_LONGOPTS, {0}};
	shoal_status st;
	shoal_client *c;

	if (argc < 2 || argv[1][0] == '-') {
		if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
			fputs(help_tenant, stdout);
			return 0;
		}
		return usage_error("'tenant key' needs a subcommand: create, list or revoke");
	}
	const char *sub = argv[1];
	if (strcmp(sub, "create") && strcmp(sub, "list") && strcmp(sub, "revoke"))
		return usage_error("unknown subcommand 'tenant key %s', expected create, list or "
		    "revoke", sub);
	PARSE_OR_RETURN(parse_opts(argc - 1, argv + 1, ":h", lo, help_tenant, NULL, NULL));
	int npos = argc - 1 - optind;
	char **pos = argv + 1 + optind;
	if (!strcmp(sub, "list")) {
		shoal_tenant_key *k;
		size_t n;
		if (npos > 1)
			return usage_error("'tenant key list' takes at most one NAME");
		if (client(&c, &st) != 0 ||
		    shoal_tenant_key_list(c, npos ? pos[0] : NULL, &k, &n, &st) != SHOAL_OK)
			return fail(&st);
		printf("%-24s %-16s %s\n", "TENANT", "ID", "CREATED");
		for (size_t i = 0; i < n; i++) {
			char when[32] = "?";
			time_t t = (time_t)k[i].created_unix;
			struct tm tm;
			if (gmtime_r(&t, &tm) != NULL)
				strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
			printf("%-24s %-16s %s\n", k[i].tenant, k[i].id, when);
		}
		free(k);
		return 0;
	}
	if (!strcmp(sub, "create")) {
		char key[SHOAL_TENANT_KEY_MAX];
		shoal_tenant_key info;
		if (npos != 1)
			return usage_error("'tenant key create' takes exactly one NAME");
		if (client(&c, &st) != 0 ||
		    shoal_tenant_key_create(c, pos[0], key, sizeof key, &info, &st) != SHOAL_OK)
			return fail(&st);
		printf("%s\n", key);
		fprintf(stderr, "created API key %s for tenant '%s'; it is shown only now: store "
		    "it safely (shoal: SHOAL_TOKEN)\n", info.id, info.tenant);
		return 0;
	}
	if (npos != 2)
		return usage_error("'tenant key revoke' takes NAME and ID");
	if (client(&c, &st) != 0 || shoal_tenant_key_revoke(c, pos[0], pos[1], &st) != SHOAL_OK)
		return fail(&st);
	printf("revoked API key %s of tenant '%s'\n", pos[1], pos[0]);
	return 0;
}

/* ---- tenant move / move (online moves) ---- */

typedef struct move_opts {
	const char *to;
	double max_mbps;
	bool no_wait;
} move_opts;

enum { OPT_MV_TO = 3000, OPT_MV_MBPS, OPT_MV_NOWAIT };

static int
move_opt(int opt, void *ctx)
{
	move_opts *o = ctx;
	char *end;
	switch (opt) {
	case OPT_MV_TO:
		o->to = optarg;
		return 0;
	case OPT_MV_MBPS:
		errno = 0;
		o->max_mbps = strtod(optarg, &end);
		if (errno != 0 || *end != '\0' || end == optarg || !(o->max_mbps > 0) ||
		    o->max_mbps > 1e6)
			return usage_error("--max-mbps must be a number of MB/s above 0, got '%s'",
			    optarg);
		return 0;
	case OPT_MV_NOWAIT:
		o->no_wait = true;
		return 0;
	}
	return usage_error("unexpected option");
}

/* A move's progress; its MB/s counts the rows and the index bundles (what
 * --max-mbps throttles), so both are shown. */
static void
move_print(const shoal_move_info *m)
{
	double rows_mb = (double)m->bytes_copied / 1e6, index_mb = (double)m->index_bytes_copied / 1e6;
	printf("move %s: %s -> %s  %s", m->id, m->from_worker, m->to_worker, m->state_name);
	if (m->state == 2 || m->state == 3) {
		double pct = m->rows_total ? 100.0 * (double)m->rows_copied / (double)m->rows_total : 0;
		printf("  %" PRIu64 "/%" PRIu64 " rows (%.0f%%)  %.1f MB rows + %.1f MB index  "
		       "%.1f MB/s  %.0f rows/s",
		    m->rows_copied, m->rows_total, pct > 100 ? 100 : pct, rows_mb, index_mb,
		    m->mb_per_s, m->rows_per_s);
		if (m->eta_ms)
			printf("  ETA %.1fs", (double)m->eta_ms / 1000.0);
	}
	if (m->state >= 4 && m->state != 6)
		printf("  %" PRIu64 " rows, %.1f MB rows + %.1f MB index copied at %.1f MB/s, write "
		       "pause %" PRIu64 " ms, epoch %" PRIu64,
		    m->rows_copied, rows_mb, index_mb, m->mb_per_s, m->fence_ms, m->epoch);
	printf("  (%.1fs", (double)m->elapsed_ms / 1000.0);
	if (m->attempts > 1)
		printf(", pass %u", m->attempts);
	printf(")\n");
	if (m->error[0])
		printf("  error: %s\n", m->error);
}

/* Polls move id until it is done or aborted, printing progress.  0 when
 * done, 1 when aborted or the coordinator fails. */
static int
move_wait(shoal_client *c, const char *id)
{
	shoal_move_info m;
	shoal_status st;
	int last_state = -1;
	uint64_t last_print = 0;
	for (;;) {
		if (shoal_move_get(c, id, &m, &st) != SHOAL_OK)
			return fail(&st);
		uint64_t now = util_mono_ms();
		if (m.state != last_state || now - last_print >= 1000 || m.state >= 5) {
			move_print(&m);
			fflush(stdout);
			last_state = m.state;
			last_print = now;
		}
		if (m.state == 5)
			return 0;
		if (m.state == 6) {
			fprintf(stderr, "shoal: error: move %s aborted: %s\n", id, m.error);
			return 1;
		}
		util_sleep_ms(200);
	}
}

/* Options of 'tenant move' and 'shard move'. */
static const struct option move_lo[] = {COMMON_LONGOPTS,
    {"to", required_argument, NULL, OPT_MV_TO},
    {"max-mbps", required_argument, NULL, OPT_MV_MBPS},
    {"no-wait", no_argument, NULL, OPT_MV_NOWAIT}, {0}};

/* After a move started: prints it (--no-wait) or follows it to its end. */
static int
move_follow(shoal_client *c, const shoal_move_info *m, bool no_wait)
{
	if (no_wait) {
		move_print(m);
		return 0;
	}
	char id[sizeof m->id];
	snprintf(id, sizeof id, "%s", m->id);
	return move_wait(c, id);
}

static int
tenant_move(int argc, char **argv)
{
	const struct option *lo = move_lo;
	move_opts o = {0};
	shoal_client *c;
	shoal_status st;
	shoal_move_info m;

	PARSE_OR_RETURN(parse_opts(argc, argv, ":h", lo, help_tenant, move_opt, &o));
	if (argc - optind != 1)
		return usage_error("'tenant move' takes exactly one NAME");
	if (o.to == NULL)
		return usage_error("'tenant move' needs --to WORKER");
	const char *name = argv[optind];
	if (client(&c, &st) != 0 || shoal_move_start(c, name, o.to, o.max_mbps, &m, &st) != SHOAL_OK)
		return fail(&st);
	return move_follow(c, &m, o.no_wait);
}

static const char help_shard[] =
    "usage: shoal shard move ID --to WORKER [--max-mbps N] [--no-wait]\n"
    "\n"
    "Shards of shared collections ('shoal collection show NAME' lists them\n"
    "with their ids and workers).\n"
    "\n"
    "  move ID         move shard ID's group -- that shard and the shard with\n"
    "                  the same index of every collection colocated with its\n"
    "                  collection -- to another worker while it serves reads\n"
    "                  and writes (copy, verify, short write pause at the\n"
    "                  cutover, which flips the whole group at once); prints\n"
    "                  progress until it is done.  The move's id is shard:N\n"
    "                  (N: the group's shard in the map's first collection)\n"
    "    --to WORKER   the worker to move to (required)\n"
    "    --max-mbps N  throttle the copy to N MB/s, rows and index bundles\n"
    "                  together (default: unlimited)\n"
    "    --no-wait     return once the move is recorded ('shoal move status')\n"
    "\n"
    "A tenant's shards move with 'shoal tenant move'; reference replicas do\n"
    "not move.\n"
    "\n"
    "Options:\n" COMMON_HELP;

static int
cmd_shard(int argc, char **argv)
{
	const struct option *lo = move_lo;
	move_opts o = {0};
	shoal_client *c;
	shoal_status st;
	shoal_move_info m;

	g_cmd = "shard";
	if (argc < 2 || argv[1][0] == '-') {
		if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
			fputs(help_shard, stdout);
			return 0;
		}
		return usage_error("missing subcommand: move");
	}
	if (strcmp(argv[1], "move") != 0)
		return usage_error("unknown subcommand '%s', expected move", argv[1]);
	argc--;
	argv++;
	PARSE_OR_RETURN(parse_opts(argc, argv, ":h", lo, help_shard, move_opt, &o));
	if (argc - optind != 1)
		return usage_error("'shard move' takes exactly one shard ID");
	if (o.to == NULL)
		return usage_error("'shard move' needs --to WORKER");
	char *end;
	errno = 0;
	unsigned long long id = strtoull(argv[optind], &end, 10);
	if (errno != 0 || *end != '\0' || end == argv[optind] || id == 0 || argv[optind][0] == '-')
		return usage_error("a shard ID is a number above 0, got '%s'", argv[optind]);
	if (client(&c, &st) != 0 ||
	    shoal_shard_move_start(c, (uint64_t)id, o.to, o.max_mbps, &m, &st) != SHOAL_OK)
		return fail(&st);
	return move_follow(c, &m, o.no_wait);
}

static const char help_move[] =
    "usage: shoal move list\n"
    "       shoal move status ID [--wait]\n"
    "       shoal move cancel ID\n"
    "\n"
    "Online moves between workers ('shoal tenant move' and 'shoal shard move'\n"
    "start one; a move's ID is its tenant's name, or shard:N for a shard group).\n"
    "\n"
    "  list        every move the coordinator knows, running and finished\n"
    "  status ID   one move's state and progress (rows, MB of rows and of\n"
    "              HNSW index bundles, the rate of both together, ETA, the\n"
    "              write pause at its cutover)\n"
    "    --wait    keep printing progress until it is done or aborted\n"
    "  cancel ID   roll the move back (only before its cutover); the source\n"
    "              keeps serving\n"
    "\n"
    "Options:\n" COMMON_HELP;

static int
wait_opt(int opt, void *ctx)
{
	if (opt == OPT_MV_NOWAIT) {
		*(bool *)ctx = true;
		return 0;
	}
	return usage_error("unexpected option");
}

static int
cmd_move(int argc, char **argv)
{
	static const struct option lo[] = {COMMON_LONGOPTS,
	    {"wait", no_argument, NULL, OPT_MV_NOWAIT}, {0}};
	shoal_client *c;
	shoal_status st;
	bool wait = false;

	g_cmd = "move";
	if (argc < 2 || argv[1][0] == '-') {
		if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
			fputs(help_move, stdout);
			return 0;
		}
		return usage_error("missing subcommand: list, status or cancel");
	}
	const char *sub = argv[1];
	if (strcmp(sub, "list") && strcmp(sub, "status") && strcmp(sub, "cancel"))
		return usage_error("unknown subcommand '%s', expected list, status or cancel", sub);
	PARSE_OR_RETURN(parse_opts(argc - 1, argv + 1, ":h", lo, help_move, wait_opt, &wait));
	int npos = argc - 1 - optind;
	char **pos = argv + 1 + optind;
	if (wait && strcmp(sub, "status") != 0)
		return usage_error("--wait only applies to 'move status'");
	if (!strcmp(sub, "list")) {
		shoal_move_info *ms;
		size_t n;
		if (npos != 0)
			return usage_error("'move list' takes no arguments");
		if (client(&c, &st) != 0 || shoal_move_list(c, &ms, &n, &st) != SHOAL_OK)
			return fail(&st);
		if (n == 0)
			printf("no moves\n");
		for (size_t i = 0; i < n; i++)
			move_print(&ms[i]);
		free(ms);
		return 0;
	}
	if (npos != 1)
		return usage_error("'move %s' takes exactly one ID", sub);
	if (client(&c, &st) != 0)
		return fail(&st);
	shoal_move_info m;
	if (!strcmp(sub, "status")) {
		if (wait)
			return move_wait(c, pos[0]);
		if (shoal_move_get(c, pos[0], &m, &st) != SHOAL_OK)
			return fail(&st);
		move_print(&m);
		return 0;
	}
	if (shoal_move_cancel(c, pos[0], &m, &st) != SHOAL_OK)
		return fail(&st);
	printf("cancelling move %s (it rolls back at its next step)\n", m.id);
	return 0;
}

/* ---- rebalance / node ---- */

static void
rebalance_print_plan(const shoal_rebalance_info *ri)
{
	if (ri->n_moves == 0) {
		printf("%s\n", ri->drain[0] ? "nothing to move: the worker holds no tenant or shard"
		                            : "balanced: nothing to move");
		return;
	}
	printf("%-3s %-24s %-20s %-20s %10s %10s\n", "#", "TENANT/SHARD", "FROM", "TO", "POINTS",
	    "MB");
	for (size_t i = 0; i < ri->n_moves; i++) {
		const shoal_planned_move *m = &ri->moves[i];
		printf("%-3zu %-24s %-20s %-20s %10" PRIu64 " %10.1f\n", i + 1, m->tenant,
		    m->from_worker, m->to_worker, m->points, (double)m->bytes / 1e6);
	}
	printf("\n%-20s %12s %12s\n", "WORKER", "MB BEFORE", "MB AFTER");
	for (size_t i = 0; i < ri->n_workers; i++)
		printf("%-20s %12.1f %12.1f\n", ri->workers[i].name,
		    (double)ri->workers[i].bytes_before / 1e6, (double)ri->workers[i].bytes_after / 1e6);
}

static void
rebalance_print_status(const shoal_rebalance_info *ri)
{
	printf("rebalance%s%s: %s, %zu of %zu moves done (%.1fs", ri->drain[0] ? " draining " : "",
	    ri->drain, ri->state_name, ri->done, ri->n_moves, (double)ri->elapsed_ms / 1000.0);
	if (ri->restarts > 0)
		printf("; resumed after %u coordinator restart%s", ri->restarts,
		    ri->restarts == 1 ? "" : "s");
	printf(")\n");
	if (ri->has_move) {
		printf("  [%zu/%zu] ", ri->current + 1, ri->n_moves);
		move_print(&ri->move);
	}
	if (ri->error[0])
		printf("  error: %s\n", ri->error);
}

/* Polls the rebalance until it ends, printing progress once a second. */
static int
rebalance_wait(shoal_client *c)
{
	shoal_status st;
	for (;;) {
		shoal_rebalance_info *ri;
		if (shoal_rebalance_get(c, &ri, &st) != SHOAL_OK)
			return fail(&st);
		int s = ri->state;
		rebalance_print_status(ri);
		fflush(stdout);
		shoal_rebalance_info_free(ri);
		if (s == 3)
			return 0;
		if (s != 2) {
			fprintf(stderr, "shoal: error: the rebalance ended %s\n",
			    s == 5 ? "cancelled" : "with an error");
			return 1;
		}
		util_sleep_ms(1000);
	}
}

static const char help_rebalance[] =
    "usage: shoal rebalance [--dry-run] [--max-mbps N] [--no-wait]\n"
    "       shoal rebalance --status\n"
    "       shoal rebalance --cancel\n"
    "\n"
    "Evens out the load (estimated bytes of the vectors) over the workers that\n"
    "are up, with few moves of tenants and of shared collections' shard groups:\n"
    "prints the plan, then moves them one at a time online ('shoal tenant\n"
    "move', 'shoal shard move'), with progress.  The plan is stored: if the\n"
    "coordinator restarts, the rebalance resumes where it was.\n"
    "\n"
    "  --dry-run      print the plan only\n"
    "  --max-mbps N   throttle each move's copy to N MB/s, rows and index\n"
    "                 bundles together (default: unlimited)\n"
    "  --no-wait      return once the rebalance has started\n"
    "  --status       the running (or last) rebalance and its current move\n"
    "  --cancel       stop it: the current move rolls back unless it already\n"
    "                 cut over; the remaining moves are not started\n"
    "\n"
    "Options:\n" COMMON_HELP;

typedef struct rb_opts {
	bool dry_run, no_wait, status, cancel;
	double max_mbps;
} rb_opts;

enum { OPT_RB_DRY = 3100, OPT_RB_STATUS, OPT_RB_CANCEL };

static int
rb_opt(int opt, void *ctx)
{
	rb_opts *o = ctx;
	switch (opt) {
	case OPT_RB_DRY:
		o->dry_run = true;
		return 0;
	case OPT_RB_STATUS:
		o->status = true;
		return 0;
	case OPT_RB_CANCEL:
		o->cancel = true;
		return 0;
	case OPT_MV_NOWAIT:
		o->no_wait = true;
		return 0;
	case OPT_MV_MBPS: {
		move_opts mo = {0};
		int rv = move_opt(opt, &mo);
		o->max_mbps = mo.max_mbps;
		return rv;
	}
	}
	return usage_error("unexpected option");
}

static const struct option rb_longopts[] = {COMMON_LONGOPTS,
    {"dry-run", no_argument, NULL, OPT_RB_DRY},
    {"max-mbps", required_argument, NULL, OPT_MV_MBPS},
    {"no-wait", no_argument, NULL, OPT_MV_NOWAIT},
    {"status", no_argument, NULL, OPT_RB_STATUS},
    {"cancel", no_argument, NULL, OPT_RB_CANCEL}, {0}};

/* Starts a rebalance (drain NULL) or a drain and follows it. */
static int
rebalance_run(const rb_opts *o, const char *drain)
{
	shoal_client *c;
	shoal_status st;
	shoal_rebalance_info *ri;
	if (client(&c, &st) != 0 ||
	    shoal_rebalance_start(c, o->dry_run, o->max_mbps, drain, &ri, &st) != SHOAL_OK)
		return fail(&st);
	rebalance_print_plan(ri);
	size_t n = ri->n_moves;
	shoal_rebalance_info_free(ri);
	if (o->dry_run || o->no_wait || n == 0)
		return 0;
	printf("\n");
	return rebalance_wait(c);
}

static int
cmd_rebalance(int argc, char **argv)
{
	rb_opts o = {0};
	shoal_client *c;
	shoal_status st;
	shoal_rebalance_info *ri;

	g_cmd = "rebalance";
	PARSE_OR_RETURN(parse_opts(argc, argv, ":h", rb_longopts, help_rebalance, rb_opt, &o));
	if (argc - optind != 0)
		return usage_error("rebalance takes no arguments");
	if (o.status + o.cancel + (o.dry_run || o.no_wait || o.max_mbps > 0) > 1)
		return usage_error("--status and --cancel go alone");
	if (o.status || o.cancel) {
		if (client(&c, &st) != 0 ||
		    (o.status ? shoal_rebalance_get(c, &ri, &st) : shoal_rebalance_cancel(c, &ri, &st)) !=
		        SHOAL_OK)
			return fail(&st);
		if (o.status && ri->state == 0)
			printf("no rebalance has run since the coordinator started\n");
		else
			rebalance_print_status(ri);
		if (o.status && ri->n_moves > 0) {
			for (size_t i = 0; i < ri->n_moves; i++) {
				const shoal_planned_move *m = &ri->moves[i];
				printf("  %-3zu %-24s %s -> %s  %s%s%s\n", i + 1, m->tenant, m->from_worker,
				    m->to_worker, m->state == 5 ? "done" : m->state == 6 ? "aborted"
				        : m->state ? "running" : "pending",
				    m->error[0] ? ": " : "", m->error);
			}
		}
		shoal_rebalance_info_free(ri);
		return 0;
	}
	return rebalance_run(&o, NULL);
}

static const char help_node[] =
    "usage: shoal node list\n"
    "       shoal node add URL [--wait-ms MS]\n"
    "       shoal node drain NAME [--dry-run] [--max-mbps N] [--no-wait]\n"
    "       shoal node remove NAME\n"
    "\n"
    "Workers (nodes).  A worker joins by itself: start shoal-worker with\n"
    "--coordinator pointing here and it registers with its name and URL.\n"
    "\n"
    "  list           workers with their state and load\n"
    "  add URL        wait until the worker started at URL has registered and\n"
    "                 is up (default 30000 ms), and print its name; then\n"
    "                 'shoal rebalance' gives it load\n"
    "  drain NAME     move every tenant and shared shard group off the worker,\n"
    "                 online, one at a time\n"
    "                 (like rebalance: --dry-run, --max-mbps N, --no-wait)\n"
    "  remove NAME    forget a worker that is stopped and holds nothing\n"
    "                 (refused while it holds tenants, shards or replicas)\n"
    "\n"
    "Options:\n" COMMON_HELP;

enum { OPT_NODE_WAIT = 3200 };

static int
node_opt(int opt, void *ctx)
{
	struct {
		rb_opts rb;
		long wait_ms;
	} *o = ctx;
	if (opt == OPT_NODE_WAIT) {
		char *end;
		o->wait_ms = strtol(optarg, &end, 10);
		if (*end != '\0' || end == optarg || o->wait_ms < 0)
			return usage_error("--wait-ms must be a number of milliseconds, got '%s'",
			    optarg);
		return 0;
	}
	return rb_opt(opt, &o->rb);
}

static int
cmd_node(int argc, char **argv)
{
	static const struct option lo[] = {COMMON_LONGOPTS,
	    {"dry-run", no_argument, NULL, OPT_RB_DRY},
	    {"max-mbps", required_argument, NULL, OPT_MV_MBPS},
	    {"no-wait", no_argument, NULL, OPT_MV_NOWAIT},
	    {"wait-ms", required_argument, NULL, OPT_NODE_WAIT}, {0}};
	struct {
		rb_opts rb;
		long wait_ms;
	} o = {.wait_ms = 30000};
	shoal_client *c;
	shoal_status st;

	g_cmd = "node";
	if (argc < 2 || argv[1][0] == '-') {
		if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
			fputs(help_node, stdout);
			return 0;
		}
		return usage_error("missing subcommand: list, add, drain or remove");
	}
	const char *sub = argv[1];
	if (strcmp(sub, "list") && strcmp(sub, "add") && strcmp(sub, "drain") &&
	    strcmp(sub, "remove"))
		return usage_error("unknown subcommand '%s', expected list, add, drain or remove",
		    sub);
	PARSE_OR_RETURN(parse_opts(argc - 1, argv + 1, ":h", lo, help_node, node_opt, &o));
	int npos = argc - 1 - optind;
	char **pos = argv + 1 + optind;
	if (strcmp(sub, "drain") && (o.rb.dry_run || o.rb.no_wait || o.rb.max_mbps > 0))
		return usage_error("--dry-run, --max-mbps and --no-wait only apply to 'node drain'");
	if (!strcmp(sub, "list")) {
		if (npos != 0)
			return usage_error("'node list' takes no arguments");
		shoal_cluster_info *ci;
		if (client(&c, &st) != 0 || shoal_cluster_status(c, &ci, &st) != SHOAL_OK)
			return fail(&st);
		printf("%-20s %-28s %-5s %7s %8s %12s %12s %10s\n", "NAME", "URL", "STATE", "SHARDS",
		    "TENANTS", "POINTS", "BYTES", "LAST_SEEN");
		for (size_t i = 0; i < ci->n_workers; i++) {
			const shoal_worker_info *w = &ci->workers[i];
			printf("%-20s %-28s %-5s %7u %8u %12" PRIu64 " %12" PRIu64 " %8.1fs\n", w->name,
			    w->url, w->up ? "up" : "DOWN", w->shards, w->tenants, w->points, w->bytes,
			    (double)w->last_seen_ms / 1000.0);
		}
		shoal_cluster_info_free(ci);
		return 0;
	}
	if (npos != 1)
		return usage_error("'node %s' takes exactly one %s", sub,
		    strcmp(sub, "add") ? "NAME" : "URL");
	if (!strcmp(sub, "drain"))
		return rebalance_run(&o.rb, pos[0]);
	if (client(&c, &st) != 0)
		return fail(&st);
	if (!strcmp(sub, "remove")) {
		if (shoal_worker_remove(c, pos[0], &st) != SHOAL_OK)
			return fail(&st);
		printf("removed worker %s\n", pos[0]);
		return 0;
	}
	/* add: wait for the worker at URL to be registered and up */
	uint64_t end = util_mono_ms() + (uint64_t)o.wait_ms;
	for (;;) {
		shoal_cluster_info *ci;
		if (shoal_cluster_status(c, &ci, &st) != SHOAL_OK)
			return fail(&st);
		for (size_t i = 0; i < ci->n_workers; i++)
			if (strcmp(ci->workers[i].url, pos[0]) == 0 && ci->workers[i].up) {
				printf("worker %s (%s) is up\n", ci->workers[i].name, pos[0]);
				shoal_cluster_info_free(ci);
				return 0;
			}
		shoal_cluster_info_free(ci);
		if (util_mono_ms() >= end) {
			fprintf(stderr, "shoal: error: no worker at %s registered within %ld ms (start "
			                "shoal-worker with --coordinator %s)\n",
			    pos[0], o.wait_ms, shoal_client_url(c));
			return 1;
		}
		util_sleep_ms(200);
	}
}

static int
cmd_tenant(int argc, char **argv)
{
	static const struct option lo[] = {
	    COMMON_LONGOPTS, {"on", required_argument, NULL, 'o'}, {0}};
	const char *sub, *on = NULL;
	shoal_status st;
	shoal_client *c;
	int npos;

	g_cmd = "tenant";
	if (argc < 2 || argv[1][0] == '-') {
		if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
			fputs(help_tenant, stdout);
			return 0;
		}
		return usage_error("missing subcommand: create, list or drop");
	}
	sub = argv[1];
	if (!strcmp(sub, "move"))
		return tenant_move(argc - 1, argv + 1);
	if (!strcmp(sub, "key"))
		return tenant_key(argc - 1, argv + 1);
	if (strcmp(sub, "create") && strcmp(sub, "list") && strcmp(sub, "drop"))
		return usage_error("unknown subcommand '%s', expected create, list, "
		    "drop, move or key", sub);
	PARSE_OR_RETURN(parse_opts(argc - 1, argv + 1, ":h", lo, help_tenant,
	    tenant_opt, &on));
	npos = argc - 1 - optind;
	char **pos = argv + 1 + optind;
	if (on != NULL && strcmp(sub, "create") != 0)
		return usage_error("--on only applies to 'tenant create'");

	if (!strcmp(sub, "list")) {
		shoal_tenant_info *t;
		size_t n;
		if (npos != 0)
			return usage_error("'tenant list' takes no arguments");
		if (client(&c, &st) != 0 || shoal_tenant_list(c, &t, &n, &st) != SHOAL_OK)
			return fail(&st);
		printf("%-24s %-20s %11s %12s\n", "TENANT", "WORKER", "COLLECTIONS",
		    "POINTS");
		for (size_t i = 0; i < n; i++)
			printf("%-24s %-20s %11u %12" PRIu64 "\n", t[i].name, t[i].worker,
			    t[i].collections, t[i].points);
		shoal_tenant_list_free(t);
		return 0;
	}
	if (npos != 1)
		return usage_error("'tenant %s' takes exactly one NAME", sub);
	if (client(&c, &st) != 0)
		return fail(&st);
	if (!strcmp(sub, "create")) {
		shoal_tenant_info info;
		if (shoal_tenant_create(c, pos[0], on, &info, &st) != SHOAL_OK)
			return fail(&st);
		printf("created tenant '%s' on worker %s\n", info.name, info.worker);
	} else {
		if (shoal_tenant_drop(c, pos[0], &st) != SHOAL_OK)
			return fail(&st);
		printf("dropped tenant '%s'\n", pos[0]);
	}
	return 0;
}

/* ===================================================================
 * collection
 * =================================================================== */

static const char help_collection[] =
    "usage: shoal collection create TENANT NAME --dim N [--metric M] [--m N]\n"
    "                               [--ef-construction N]\n"
    "       shoal collection create NAME --shared --dim N [--key-field F] [--shards S]\n"
    "                               [--colocate-with C] [--on W1,W2,...] [...]\n"
    "       shoal collection create NAME --reference --dim N [...]\n"
    "       shoal collection list [TENANT]\n"
    "       shoal collection show [TENANT] NAME\n"
    "       shoal collection drop [TENANT] NAME\n"
    "\n"
    "A tenant's collections live on the tenant's worker (dedicated).  A shared\n"
    "or reference collection belongs to no tenant and is named without one\n"
    "(NAME alone; its name must differ from every tenant's):\n"
    "  shared     hash-distributed by a key over S shards spread over the\n"
    "             workers; each point carries its key in a payload field\n"
    "  reference  small, one replica on every worker\n"
    "\n"
    "  create ...           create a collection of N-dimensional vectors\n"
    "    --dim N            vector dimension, 1..16000 (required)\n"
    "    --metric M         cosine | l2 | ip (default cosine); distances are\n"
    "                       1-cos, Euclidean, and -dot: smaller is closer\n"
    "    --m N              HNSW graph degree M (default: server's, 16)\n"
    "    --ef-construction N  HNSW build beam width (default: server's, 64)\n"
    "    --shared           hash-distribute it (NAME alone)\n"
    "    --key-field F      shared: payload field holding each point's key, a\n"
    "                       string or an integer (default 'tenant')\n"
    "    --shards S         shared: number of shards, 1..1024 (default 32)\n"
    "    --colocate-with C  shared: use shared collection C's shard map (same\n"
    "                       shards on the same workers, moved together)\n"
    "    --on W1,W2,...     shared: spread the shards over these workers only\n"
    "                       (default: every worker that is up, least loaded\n"
    "                       first)\n"
    "    --reference        replicate it to every worker (NAME alone)\n"
    "  list                 list the shared and reference collections\n"
    "  list TENANT          list the tenant's collections\n"
    "  show [TENANT] NAME   a collection with the placement of every shard\n"
    "  drop [TENANT] NAME   delete a collection and ALL its points\n"
    "\n"
    "Options:\n" COMMON_HELP;

typedef struct coll_opts {
	shoal_collection_params p;
	bool has_params;
	bool shared, reference;
	uint32_t shards;
	const char *key_field, *colocate_with, *on;
} coll_opts;

static int
collection_opt(int opt, void *ctx)
{
	coll_opts *o = ctx;

	o->has_params = true;
	switch (opt) {
	case 'd':
		return parse_u32_opt("--dim", optarg, &o->p.dim, true);
	case 'M':
		if (!shoal_metric_parse(optarg, &o->p.metric))
			return usage_error("bad --metric '%s', expected cosine, l2 or ip",
			    optarg);
		return 0;
	case 'm':
		return parse_u32_opt("--m", optarg, &o->p.m, true);
	case 'e':
		return parse_u32_opt("--ef-construction", optarg, &o->p.ef_construction,
		    true);
	case 'S':
		o->shared = true;
		return 0;
	case 'R':
		o->reference = true;
		return 0;
	case 'n':
		return parse_u32_opt("--shards", optarg, &o->shards, true);
	case 'k':
		o->key_field = optarg;
		return 0;
	case 'c':
		o->colocate_with = optarg;
		return 0;
	case 'o':
		o->on = optarg;
		return 0;
	}
	return usage_error("unexpected option");
}

/* Splits "a,b,c" into at most cap names (in buf, which it modifies). */
static size_t
split_list(char *buf, const char **out, size_t cap)
{
	size_t n = 0;
	for (char *save = NULL, *t = strtok_r(buf, ",", &save); t != NULL && n < cap;
	     t = strtok_r(NULL, ",", &save))
		out[n++] = t;
	return n;
}

static void
print_desc(const shoal_collection_desc *d)
{
	const shoal_collection_info *i = &d->info;

	printf("collection   %s (%s)\n", target_name(i->tenant, i->name),
	    shoal_placement_name(d->placement));
	printf("vectors      dim %u, %s, m %u, ef_construction %u\n", i->dim,
	    shoal_metric_name(i->metric), i->m, i->ef_construction);
	printf("points       %" PRIu64 "\n", i->points);
	if (d->placement == SHOAL_PLACEMENT_SHARED) {
		printf("key field    %s\n", d->key_field);
		printf("shards       %u (shard map %" PRIu64 ")\n", d->shards, d->colocation);
	}
	printf("\n%6s %10s %-20s %8s %12s%s\n",
	    d->placement == SHOAL_PLACEMENT_REFERENCE ? "REPLICA" : "SHARD", "SHARD_ID",
	    "WORKER", "EPOCH", "POINTS",
	    d->placement == SHOAL_PLACEMENT_REFERENCE ? "  STATE" : "");
	for (size_t k = 0; k < d->n_placements; k++) {
		const shoal_shard_placement *p = &d->placements[k];
		printf("%6u %10" PRIu64 " %-20s %8" PRIu64 " %12" PRIu64 "%s\n", p->index,
		    p->shard_id, p->worker, p->epoch, p->points,
		    d->placement != SHOAL_PLACEMENT_REFERENCE ? ""
		    : p->current ? "  current" : "  catching up");
	}
}

static int
cmd_collection(int argc, char **argv)
{
	static const struct option lo[] = {COMMON_LONGOPTS,
	    {"dim", required_argument, NULL, 'd'},
	    {"metric", required_argument, NULL, 'M'},
	    {"m", required_argument, NULL, 'm'},
	    {"ef-construction", required_argument, NULL, 'e'},
	    {"shared", no_argument, NULL, 'S'},
	    {"reference", no_argument, NULL, 'R'},
	    {"shards", required_argument, NULL, 'n'},
	    {"key-field", required_argument, NULL, 'k'},
	    {"colocate-with", required_argument, NULL, 'c'},
	    {"on", required_argument, NULL, 'o'}, {0}};
	coll_opts o = {.p = {0}};
	const char *tenant = "", *name = "";
	shoal_status st;
	shoal_client *c;
	const char *sub;
	char **pos;
	int npos;

	g_cmd = "collection";
	if (argc < 2 || argv[1][0] == '-') {
		if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
			fputs(help_collection, stdout);
			return 0;
		}
		return usage_error("missing subcommand: create, list, show or drop");
	}
	sub = argv[1];
	if (strcmp(sub, "create") && strcmp(sub, "list") && strcmp(sub, "show") &&
	    strcmp(sub, "drop"))
		return usage_error("unknown subcommand '%s', expected create, list, show or "
		    "drop", sub);
	PARSE_OR_RETURN(parse_opts(argc - 1, argv + 1, ":h", lo, help_collection,
	    collection_opt, &o));
	npos = argc - 1 - optind;
	pos = argv + 1 + optind;
	if (o.has_params && strcmp(sub, "create") != 0)
		return usage_error("--dim/--metric/--m/--ef-construction and the placement "
		    "options only apply to 'collection create'");
	if (o.shared && o.reference)
		return usage_error("--shared and --reference exclude each other");
	if (!o.shared && (o.shards || o.key_field || o.colocate_with || o.on))
		return usage_error("--shards/--key-field/--colocate-with/--on apply to "
		    "--shared collections");

	if (!strcmp(sub, "list")) {
		shoal_collection_info *l;
		size_t n;
		if (npos > 1)
			return usage_error("'collection list' takes at most one TENANT");
		if (client(&c, &st) != 0 ||
		    shoal_collection_list(c, npos ? pos[0] : "", &l, &n, &st) != SHOAL_OK)
			return fail(&st);
		if (npos == 0) {
			printf("%-24s %-9s %6s %-7s %6s %-12s %12s\n", "COLLECTION", "PLACEMENT",
			    "DIM", "METRIC", "SHARDS", "KEY_FIELD", "POINTS");
			for (size_t i = 0; i < n; i++) {
				shoal_collection_desc *d;
				if (shoal_collection_describe(c, "", l[i].name, &d, &st) != SHOAL_OK)
					continue; /* dropped meanwhile */
				printf("%-24s %-9s %6u %-7s %6u %-12s %12" PRIu64 "\n", l[i].name,
				    shoal_placement_name(d->placement), l[i].dim,
				    shoal_metric_name(l[i].metric), d->shards,
				    d->placement == SHOAL_PLACEMENT_SHARED ? d->key_field : "-",
				    l[i].points);
				shoal_collection_desc_free(d);
			}
			shoal_collection_list_free(l);
			return 0;
		}
		printf("%-24s %6s %-7s %4s %6s %-20s %8s %12s\n", "COLLECTION", "DIM",
		    "METRIC", "M", "EF_CON", "WORKER", "SHARD", "POINTS");
		for (size_t i = 0; i < n; i++)
			printf("%-24s %6u %-7s %4u %6u %-20s %8" PRIu64 " %12" PRIu64 "\n",
			    l[i].name, l[i].dim, shoal_metric_name(l[i].metric), l[i].m,
			    l[i].ef_construction, l[i].worker, l[i].shard_id, l[i].points);
		shoal_collection_list_free(l);
		return 0;
	}
	if (!strcmp(sub, "create") && (o.shared || o.reference)) {
		if (npos != 1)
			return usage_error("a %s collection belongs to no tenant: "
			    "'collection create NAME --%s'", o.shared ? "shared" : "reference",
			    o.shared ? "shared" : "reference");
	} else if (!strcmp(sub, "create") && npos != 2) {
		return usage_error("'collection create' takes TENANT NAME (or NAME with "
		    "--shared or --reference)");
	}
	if (!split_target(npos, pos, &tenant, &name))
		return usage_error("'collection %s' takes [TENANT] NAME", sub);
	if (!strcmp(sub, "create")) {
		shoal_collection_info info;
		shoal_distribution dist = {0};
		const char *on[64];
		char onbuf[1024];
		if (o.p.dim == 0)
			return usage_error("'collection create' needs --dim N");
		if (o.on != NULL) {
			snprintf(onbuf, sizeof onbuf, "%s", o.on);
			dist.on_workers = on;
			dist.n_on_workers = split_list(onbuf, on, 64);
			if (dist.n_on_workers == 0)
				return usage_error("--on needs worker names, e.g. --on w1,w2");
		}
		if (client(&c, &st) != 0)
			return fail(&st);
		if (o.shared || o.reference) {
			dist.placement = o.shared ? SHOAL_PLACEMENT_SHARED : SHOAL_PLACEMENT_REFERENCE;
			dist.shards = o.shards;
			dist.key_field = o.key_field;
			dist.colocate_with = o.colocate_with;
			if (shoal_collection_create_distributed(c, name, &o.p, &dist, &info, &st) !=
			    SHOAL_OK)
				return fail(&st);
			shoal_collection_desc *d;
			if (shoal_collection_describe(c, "", name, &d, &st) != SHOAL_OK)
				return fail(&st);
			printf("created %s collection '%s' (dim %u, %s, m %u, ef_construction %u)",
			    shoal_placement_name(d->placement), name, info.dim,
			    shoal_metric_name(info.metric), info.m, info.ef_construction);
			if (d->placement == SHOAL_PLACEMENT_SHARED)
				printf(": %u shards by key field '%s'%s%s\n", d->shards, d->key_field,
				    o.colocate_with ? ", colocated with " : "",
				    o.colocate_with ? o.colocate_with : "");
			else
				printf(": %zu replicas\n", d->n_placements);
			shoal_collection_desc_free(d);
			return 0;
		}
		if (shoal_collection_create(c, tenant, name, &o.p, &info, &st) != SHOAL_OK)
			return fail(&st);
		printf("created collection '%s/%s' (dim %u, %s, m %u, ef_construction %u) "
		       "on worker %s\n", info.tenant, info.name, info.dim,
		    shoal_metric_name(info.metric), info.m, info.ef_construction,
		    info.worker);
		return 0;
	}
	if (!strcmp(sub, "show")) {
		shoal_collection_desc *d;
		if (client(&c, &st) != 0 ||
		    shoal_collection_describe(c, tenant, name, &d, &st) != SHOAL_OK)
			return fail(&st);
		print_desc(d);
		shoal_collection_desc_free(d);
		return 0;
	}
	if (client(&c, &st) != 0 ||
	    shoal_collection_drop(c, tenant, name, &st) != SHOAL_OK)
		return fail(&st);
	printf("dropped collection '%s'\n", target_name(tenant, name));
	return 0;
}

/* ===================================================================
 * load
 * =================================================================== */

static const char help_load[] =
    "usage: shoal load [TENANT] COLLECTION (--fvecs FILE | --gen N [--seed S])\n"
    "                  [--keys N [--key-prefix P]] [--start-id ID] [--batch N]\n"
    "                  [--parallel N]\n"
    "\n"
    "Bulk upsert.  Point ids are consecutive from --start-id; an existing id\n"
    "is overwritten, so re-running a load (or its failed tail) is safe.\n"
    "Progress (rows, rows/s, ETA) goes to stderr.  COLLECTION alone names a\n"
    "shared or reference collection.\n"
    "\n"
    "  --keys N        shared collections: spread the points over N key values:\n"
    "                  point ID gets key PREFIX<ID mod N> in the collection's\n"
    "                  key field (so 'search --key t7' finds ids 7, N+7, ...)\n"
    "  --key-prefix P  prefix of the generated keys (default 't')\n"
    "  --fvecs FILE    vectors from an .fvecs file (int32 dim + dim float32 per\n"
    "                  record); its dimension must match the collection's\n"
    "  --gen N         N generated vectors, components uniform in [-1,1); vector\n"
    "                  i is a pure function of (seed, start-id + i), so\n"
    "                  'shoal search --gen-seed S --gen-index ID' finds point ID\n"
    "  --seed S        seed for --gen (default 1)\n"
    "  --start-id ID   id of the first point (default 0)\n"
    "  --batch N       points per upsert request (default 1000)\n"
    "  --parallel N    upsert requests in flight at once, 1..64 (default 2)\n"
    "\n"
    "Options:\n" COMMON_HELP;

typedef struct load_opts {
	const char *fvecs;
	bool gen;
	uint64_t gen_n, seed, start_id;
	uint32_t batch, parallel;
	uint64_t keys;          /* 0 = no generated keys */
	const char *key_prefix;
} load_opts;

static int
load_opt(int opt, void *ctx)
{
	load_opts *o = ctx;

	switch (opt) {
	case 'f':
		o->fvecs = optarg;
		return 0;
	case 'g':
		o->gen = true;
		return parse_u64_opt("--gen", optarg, &o->gen_n);
	case 's':
		return parse_u64_opt("--seed", optarg, &o->seed);
	case 'i':
		return parse_u64_opt("--start-id", optarg, &o->start_id);
	case 'b':
		return parse_u32_opt("--batch", optarg, &o->batch, true);
	case 'K':
		if (parse_u64_opt("--keys", optarg, &o->keys) != 0)
			return EXIT_USAGE;
		if (o->keys == 0)
			return usage_error("--keys needs at least 1 key value");
		return 0;
	case 'P':
		o->key_prefix = optarg;
		return 0;
	case 'p':
		if (parse_u32_opt("--parallel", optarg, &o->parallel, true) != 0)
			return EXIT_USAGE;
		if (o->parallel > 64)
			return usage_error("--parallel %u is too many, expected 1..64",
			    o->parallel);
		return 0;
	}
	return usage_error("unexpected option");
}

/* The shared state of a load: `parallel` threads each claim the next
 * batch of row numbers (reading the .fvecs rows under the lock, so the
 * file is read sequentially and row i always gets id start_id + i), send
 * it, and count it.  The first error stops everyone; since batches finish
 * out of order, the rows acknowledged are counted, not assumed a prefix. */
typedef struct loader {
	pthread_mutex_t mu;
	shoal_client *c;
	const char *tenant, *coll;
	const load_opts *o;
	vecio_reader *r;     /* NULL for --gen */
	uint32_t dim;
	const char *key_field; /* shared collections: where the key goes */
	uint64_t total;
	uint64_t next;       /* next row to claim */
	bool failed;
	shoal_status st;     /* the first error */
	progress pg;         /* pg.done: rows acknowledged */
} loader;

static void
loader_fail(loader *L, const shoal_status *st)
{
	if (!L->failed) {
		L->failed = true;
		L->st = *st;
	}
}

static void *
load_thread(void *arg)
{
	loader *L = arg;
	uint32_t batch = L->o->batch;
	uint64_t *ids = malloc(sizeof *ids * batch);
	float *vecs = malloc(sizeof *vecs * batch * L->dim);
	/* --keys: one payload field per point, its key */
	shoal_field *fields = L->key_field ? calloc(batch, sizeof *fields) : NULL;
	shoal_payload *pls = L->key_field ? calloc(batch, sizeof *pls) : NULL;
	char (*keys)[80] = L->key_field ? calloc(batch, sizeof *keys) : NULL;
	shoal_status st;

	if (ids == NULL || vecs == NULL ||
	    (L->key_field && (fields == NULL || pls == NULL || keys == NULL))) {
		shoal_status_set(&st, SHOAL_RESOURCE_EXHAUSTED,
		    "out of memory for a batch of %u x %u floats", batch, L->dim);
		pthread_mutex_lock(&L->mu);
		loader_fail(L, &st);
		pthread_mutex_unlock(&L->mu);
	}
	for (;;) {
		shoal_batch b = {.dim = L->dim, .ids = ids, .vectors = vecs};
		uint64_t first;
		size_t n;

		pthread_mutex_lock(&L->mu);
		if (L->failed || L->next >= L->total) {
			pthread_mutex_unlock(&L->mu);
			break;
		}
		first = L->next;
		n = L->total - first < batch ? (size_t)(L->total - first) : batch;
		if (L->r != NULL) {
			size_t got;
			if (vecio_read(L->r, vecs, n, &got, &st) != SHOAL_OK ||
			    (got < n && shoal_status_set(&st, SHOAL_INVALID_ARGUMENT,
			                    "%s: ended after %" PRIu64 " of %" PRIu64
			                    " records", L->o->fvecs, first + got,
			                    L->total) != SHOAL_OK)) {
				loader_fail(L, &st);
				pthread_mutex_unlock(&L->mu);
				break;
			}
		}
		L->next = first + n;
		pthread_mutex_unlock(&L->mu);

		if (L->r == NULL)
			vecio_generate(L->o->seed, L->o->start_id + first, n, L->dim, vecs);
		for (size_t i = 0; i < n; i++)
			ids[i] = L->o->start_id + first + i;
		if (L->key_field != NULL) {
			for (size_t i = 0; i < n; i++) {
				snprintf(keys[i], sizeof keys[i], "%.40s%" PRIu64, L->o->key_prefix,
				    ids[i] % L->o->keys);
				fields[i].key = L->key_field;
				fields[i].type = SHOAL_VALUE_STRING;
				fields[i].s = keys[i];
				pls[i].fields = &fields[i];
				pls[i].n_fields = 1;
			}
			b.payloads = pls;
		}
		b.n = n;
		shoal_code rv = shoal_upsert(L->c, L->tenant, L->coll, &b, NULL, &st);

		pthread_mutex_lock(&L->mu);
		if (rv != SHOAL_OK) {
			loader_fail(L, &st);
		} else {
			L->pg.done += n;
			progress_show(&L->pg, false);
		}
		pthread_mutex_unlock(&L->mu);
	}
	free(ids);
	free(vecs);
	free(fields);
	free(pls);
	free(keys);
	return NULL;
}

static int
cmd_load(int argc, char **argv)
{
	static const struct option lo[] = {COMMON_LONGOPTS,
	    {"fvecs", required_argument, NULL, 'f'},
	    {"gen", required_argument, NULL, 'g'},
	    {"seed", required_argument, NULL, 's'},
	    {"start-id", required_argument, NULL, 'i'},
	    {"batch", required_argument, NULL, 'b'},
	    {"keys", required_argument, NULL, 'K'},
	    {"key-prefix", required_argument, NULL, 'P'},
	    {"parallel", required_argument, NULL, 'p'}, {0}};
	load_opts o = {.seed = 1, .batch = 1000, .parallel = 2, .key_prefix = "t"};
	loader L = {.mu = PTHREAD_MUTEX_INITIALIZER, .o = &o};
	shoal_collection_info info;
	shoal_collection_desc *desc = NULL;
	pthread_t tids[64];
	uint32_t started = 0;
	shoal_status st;
	double secs;

	g_cmd = "load";
	PARSE_OR_RETURN(parse_opts(argc, argv, ":h", lo, help_load, load_opt, &o));
	if (!split_target(argc - optind, argv + optind, &L.tenant, &L.coll))
		return usage_error("'load' takes [TENANT] COLLECTION");
	if ((o.fvecs != NULL) == o.gen)
		return usage_error("give exactly one of --fvecs FILE or --gen N");

	if (client(&L.c, &st) != 0 ||
	    shoal_collection_describe(L.c, L.tenant, L.coll, &desc, &st) != SHOAL_OK)
		return fail(&st);
	info = desc->info;
	L.dim = info.dim;
	if (desc->placement == SHOAL_PLACEMENT_SHARED && o.keys == 0) {
		int rv = usage_error("'%s' is a shared collection: every point needs a key in "
		    "its field '%s'; give --keys N", L.coll, desc->key_field);
		shoal_collection_desc_free(desc);
		return rv;
	}
	if (desc->placement != SHOAL_PLACEMENT_SHARED && o.keys != 0) {
		int rv = usage_error("--keys applies to shared collections; '%s' is %s",
		    target_name(L.tenant, L.coll),
		    desc->placement == SHOAL_PLACEMENT_REFERENCE ? "a reference collection"
		                                                  : "a tenant's collection");
		shoal_collection_desc_free(desc);
		return rv;
	}
	static char key_field[SHOAL_NAME_MAX + 1];
	if (o.keys != 0) {
		snprintf(key_field, sizeof key_field, "%s", desc->key_field);
		L.key_field = key_field;
	}
	shoal_collection_desc_free(desc);
	if (o.fvecs != NULL) {
		uint32_t fdim;
		if (vecio_open_fvecs(o.fvecs, &L.r, &fdim, &L.total, &st) != SHOAL_OK)
			return fail(&st);
		if (fdim != info.dim) {
			vecio_close(L.r);
			shoal_status_set(&st, SHOAL_INVALID_ARGUMENT,
			    "%s has dimension %u but collection '%s' has %u", o.fvecs,
			    fdim, target_name(L.tenant, L.coll), info.dim);
			return fail(&st);
		}
	} else {
		L.total = o.gen_n;
	}
	if (L.total > 0 && o.start_id > UINT64_MAX - (L.total - 1)) {
		vecio_close(L.r);
		return usage_error("--start-id %" PRIu64 " + %" PRIu64
		    " rows overflow 64-bit ids", o.start_id, L.total);
	}

	progress_start(&L.pg, L.total);
	for (; started < o.parallel; started++)
		if (pthread_create(&tids[started], NULL, load_thread, &L) != 0)
			break; /* run with the threads we have */
	if (started == 0)
		load_thread(&L);
	for (uint32_t i = 0; i < started; i++)
		pthread_join(tids[i], NULL);
	vecio_close(L.r);

	secs = (double)(util_mono_ms() - L.pg.t0_ms) / 1000.0;
	if (L.failed) {
		if (L.pg.tty && L.pg.done > 0)
			fputc('\n', stderr);
		shoal_status_prefix(&L.st, "%" PRIu64 " of %" PRIu64 " points were "
		    "loaded before the error (re-running the load is safe)",
		    L.pg.done, L.total);
		return fail(&L.st);
	}
	progress_show(&L.pg, true);
	printf("loaded %" PRIu64 " points into '%s' (ids %" PRIu64 "..%" PRIu64
	       ") in %.1f s, %.0f points/s\n", L.total, target_name(L.tenant, L.coll), o.start_id,
	    L.total ? o.start_id + L.total - 1 : o.start_id, secs,
	    secs > 0 ? (double)L.total / secs : 0.0);
	return 0;
}

/* ===================================================================
 * search
 * =================================================================== */

static const char help_search[] =
    "usage: shoal search [TENANT] COLLECTION QUERY [--k N] [--ef N] [--exact]\n"
    "                    [--filter EXPR] [--key V] [--allow-partial] [--explain]\n"
    "                    [--with-payload] [--with-vector] [--full]\n"
    "QUERY is one of:\n"
    "  --vector \"0.1,0.2,...\"       the query vector (also \"[0.1, 0.2]\")\n"
    "  --vector-file F.fvecs [--index I]\n"
    "                               record I (default 0) of an .fvecs file\n"
    "  --gen-seed S --gen-index I   the vector 'shoal load --gen --seed S'\n"
    "                               generated for id I\n"
    "\n"
    "Prints a table 'rank id distance' (smaller distance is closer) and\n"
    "whether the answer is complete (every shard answered).  COLLECTION alone\n"
    "names a shared or reference collection: without --key a shared one is\n"
    "searched on every shard (one request per worker, in parallel) and the\n"
    "top k merged.\n"
    "\n"
    "  --key V         shared collections: search only key V's points (one\n"
    "                  shard, one worker)\n"
    "  --allow-partial if a worker does not answer, print the others' hits\n"
    "                  (marked incomplete, naming it) instead of failing\n"
    "  --explain       also print the plan and what happened: shards and\n"
    "                  workers contacted, candidates per shard, per-shard,\n"
    "                  round-trip and merge times\n"
    "  --filter EXPR   only points whose payload matches EXPR, e.g.\n"
    "                    'lang = \"en\" AND (year >= 2020 OR tags HAS \"news\")'\n"
    "                    'cat IN (\"a\", \"b\") AND NOT draft = true'\n"
    "                  operators = != < <= > >= HAS [NOT] IN, joined with AND,\n"
    "                  OR, NOT and parentheses; strings in quotes, numbers,\n"
    "                  true/false; `key` quotes an odd field name (see\n"
    "                  docs/filters.md).  The answer still has k hits when k\n"
    "                  points match\n"
    "  --k N           number of neighbours (default 10)\n"
    "  --ef N          HNSW search beam width (default: the collection's)\n"
    "  --exact         brute force over all points instead of the index\n"
    "  --with-payload  also print each hit's payload and text\n"
    "  --with-vector   also print each hit's vector (first 8 components)\n"
    "  --full          print all components of vectors\n"
    "\n"
    "Options:\n" COMMON_HELP;

typedef struct search_opts {
	const char *vector, *vector_file;
	bool has_index, has_gen_seed, has_gen_index, full;
	uint64_t index, gen_seed, gen_index;
	shoal_search_params p;
	shoal_search_opts so;
} search_opts;

static int
search_opt(int opt, void *ctx)
{
	search_opts *o = ctx;

	switch (opt) {
	case 'v':
		o->vector = optarg;
		return 0;
	case 'F':
		o->vector_file = optarg;
		return 0;
	case 'I':
		o->has_index = true;
		return parse_u64_opt("--index", optarg, &o->index);
	case 'S':
		o->has_gen_seed = true;
		return parse_u64_opt("--gen-seed", optarg, &o->gen_seed);
	case 'G':
		o->has_gen_index = true;
		return parse_u64_opt("--gen-index", optarg, &o->gen_index);
	case 'k':
		return parse_u32_opt("--k", optarg, &o->p.k, true);
	case 'e':
		return parse_u32_opt("--ef", optarg, &o->p.ef_search, true);
	case 'x':
		o->p.exact = true;
		return 0;
	case 'P':
		o->p.with_payload = true;
		return 0;
	case 'V':
		o->p.with_vector = true;
		return 0;
	case 'L':
		o->full = true;
		return 0;
	case 'K':
		o->so.key = optarg;
		return 0;
	case 'A':
		o->so.allow_partial = true;
		return 0;
	case 'X':
		o->so.explain = true;
		return 0;
	case 'f':
		o->p.filter = optarg; /* parsed by libshoal: errors name the position */
		return 0;
	}
	return usage_error("unexpected option");
}

static void
print_explain(const shoal_explain *x)
{
	printf("\nplan: %s (%s)\n", x->plan, x->placement);
	printf("routing epoch %" PRIu64 ", %u re-routing round%s\n", x->epoch, x->retries,
	    x->retries == 1 ? "" : "s");
	printf("\n%-20s %-28s %6s %10s  %s\n", "WORKER", "URL", "SHARDS", "ROUND_TRIP",
	    "STATUS");
	for (size_t i = 0; i < x->n_workers; i++) {
		const shoal_explain_worker *w = &x->workers[i];
		printf("%-20s %-28s %6u %8.2fms  %s%s%s\n", w->worker, w->url, w->shards,
		    (double)w->micros / 1000.0, shoal_code_name(w->code), w->message[0] ? ": " : "",
		    w->message);
	}
	printf("\n%6s %10s %-20s %-12s %10s %10s  %s\n", "SHARD", "SHARD_ID", "WORKER",
	    "PARTITION", "CANDIDATES", "SEARCH", "STATUS");
	for (size_t i = 0; i < x->n_shards; i++) {
		const shoal_explain_shard *s = &x->shards[i];
		printf("%6u %10" PRIu64 " %-20s %-12s %10u %8.2fms  %s%s%.120s\n", s->index,
		    s->shard_id, s->worker, s->partition[0] ? s->partition : "(all)", s->candidates,
		    (double)s->micros / 1000.0, shoal_code_name(s->code), s->message[0] ? ": " : "",
		    s->message);
	}
	size_t nw = 0;
	for (size_t i = 0; i < x->n_workers; i++) {
		bool dup = false;
		for (size_t j = 0; j < i && !dup; j++)
			dup = strcmp(x->workers[i].worker, x->workers[j].worker) == 0;
		nw += !dup;
	}
	printf("\n%zu shard%s on %zu worker%s contacted; merge: %u candidates in %.3f ms; "
	       "total %.2f ms in the coordinator\n", x->n_shards, x->n_shards == 1 ? "" : "s", nw,
	    nw == 1 ? "" : "s", x->candidates, (double)x->merge_micros / 1000.0,
	    (double)x->total_micros / 1000.0);
}

static int
cmd_search(int argc, char **argv)
{
	static const struct option lo[] = {COMMON_LONGOPTS,
	    {"vector", required_argument, NULL, 'v'},
	    {"vector-file", required_argument, NULL, 'F'},
	    {"index", required_argument, NULL, 'I'},
	    {"gen-seed", required_argument, NULL, 'S'},
	    {"gen-index", required_argument, NULL, 'G'},
	    {"k", required_argument, NULL, 'k'},
	    {"ef", required_argument, NULL, 'e'},
	    {"exact", no_argument, NULL, 'x'},
	    {"with-payload", no_argument, NULL, 'P'},
	    {"with-vector", no_argument, NULL, 'V'},
	    {"key", required_argument, NULL, 'K'},
	    {"allow-partial", no_argument, NULL, 'A'},
	    {"explain", no_argument, NULL, 'X'},
	    {"filter", required_argument, NULL, 'f'},
	    {"full", no_argument, NULL, 'L'}, {0}};
	search_opts o = {.p = {.k = 10}};
	shoal_search_result *res;
	const char *tenant, *coll;
	float *q = NULL;
	uint32_t dim = 0;
	shoal_status st;
	shoal_client *c;
	int sources;

	g_cmd = "search";
	PARSE_OR_RETURN(parse_opts(argc, argv, ":h", lo, help_search, search_opt, &o));
	if (!split_target(argc - optind, argv + optind, &tenant, &coll))
		return usage_error("'search' takes [TENANT] COLLECTION and a query");
	sources = (o.vector != NULL) + (o.vector_file != NULL) +
	    (o.has_gen_seed || o.has_gen_index);
	if (sources != 1)
		return usage_error("give exactly one query: --vector, --vector-file or "
		    "--gen-seed/--gen-index");
	if (o.has_index && o.vector_file == NULL)
		return usage_error("--index goes with --vector-file");
	if (o.has_gen_seed != o.has_gen_index)
		return usage_error("--gen-seed and --gen-index go together");

	if (o.vector != NULL) {
		if (vecio_parse_text(o.vector, &q, &dim, &st) != SHOAL_OK)
			return usage_error("bad --vector: %s", st.msg);
	} else if (o.vector_file != NULL) {
		if (read_fvecs_record(o.vector_file, o.index, &q, &dim, &st) != SHOAL_OK)
			return fail(&st);
	}
	if (client(&c, &st) != 0)
		goto failed;
	if (q == NULL) { /* generated: the collection gives the dimension */
		shoal_collection_info info = {.dim = 0};
		if (find_collection(c, tenant, coll, &info, &st) != SHOAL_OK)
			goto failed;
		dim = info.dim;
		if ((q = malloc(sizeof *q * dim)) == NULL) {
			shoal_status_set(&st, SHOAL_RESOURCE_EXHAUSTED, "out of memory");
			goto failed;
		}
		vecio_generate(o.gen_seed, o.gen_index, 1, dim, q);
	}
	if (shoal_search_ex(c, tenant, coll, q, dim, &o.p, &o.so, &res, &st) != SHOAL_OK)
		goto failed;
	free(q);

	printf("%4s  %-20s  %-12s%s\n", "rank", "id", "distance",
	    o.p.with_payload ? "  payload" : "");
	for (size_t i = 0; i < res->n_hits; i++) {
		const shoal_hit *h = &res->hits[i];
		printf("%4zu  %-20" PRIu64 "  %-12.6g", i + 1, h->id, (double)h->distance);
		if (o.p.with_payload) {
			fputs("  ", stdout);
			print_payload(stdout, h->payload, h->n_payload);
			if (h->text != NULL) {
				fputs("  text=", stdout);
				print_json_string(stdout, h->text);
			}
		}
		if (o.p.with_vector && h->vector != NULL) {
			fputs("  ", stdout);
			print_vector(stdout, h->vector, h->dim, o.full);
		}
		fputc('\n', stdout);
	}
	if (res->complete)
		printf("complete: yes (%zu hits)\n", res->n_hits);
	else
		printf("complete: NO - %zu hits, part of the data could not be searched; "
		       "closer points may be missing\n", res->n_hits);
	for (size_t i = 0; i < res->n_missing; i++)
		printf("missing: worker %s did not answer; its shards are not in this answer\n",
		    res->missing_workers[i]);
	if (res->explain != NULL)
		print_explain(res->explain);
	shoal_search_result_free(res);
	return 0;

failed:
	free(q);
	return fail(&st);
}

/* ===================================================================
 * get, delete, count
 * =================================================================== */

static const char help_get[] =
    "usage: shoal get [TENANT] COLLECTION ID... [--key V] [--full]\n"
    "\n"
    "Prints each point: id, vector (first 8 components unless --full),\n"
    "payload and text; or 'not found'.  COLLECTION alone names a shared or\n"
    "reference collection.\n"
    "\n"
    "  --key V         shared collections: the points' key (looks in one shard\n"
    "                  instead of all; a point of another key is not found)\n"
    "  --full          print every component of the vector\n"
    "\n"
    "Options:\n" COMMON_HELP;

static const char help_delete[] =
    "usage: shoal delete [TENANT] COLLECTION ID... [--key V]\n"
    "\n"
    "Deletes points by id and prints how many existed.  Ids that do not\n"
    "exist are ignored.  COLLECTION alone names a shared or reference\n"
    "collection.\n"
    "\n"
    "  --key V         shared collections: the points' key (one shard instead\n"
    "                  of a tombstone in every shard; a point of another key\n"
    "                  is left alone)\n"
    "\n"
    "Options:\n" COMMON_HELP;

static const char help_count[] =
    "usage: shoal count [TENANT] COLLECTION\n"
    "\n"
    "Prints the number of points in the collection (a shared collection's\n"
    "summed over its shards).\n"
    "\n"
    "Options:\n" COMMON_HELP;

typedef struct id_opts {
	bool full;
	const char *key;
} id_opts;

static int
id_opt(int opt, void *ctx)
{
	id_opts *o = ctx;
	if (opt == 'L') {
		o->full = true;
		return 0;
	}
	if (opt == 'K') {
		o->key = optarg;
		return 0;
	}
	return usage_error("unexpected option");
}

/* Parses argv[from..argc) as ids into a malloc'ed array. */
static int
parse_ids(int argc, char **argv, int from, uint64_t **out, size_t *n)
{
	uint64_t *ids;

	*out = NULL;
	*n = 0;
	if (from >= argc)
		return usage_error("missing ID");
	if ((ids = malloc(sizeof *ids * (size_t)(argc - from))) == NULL) {
		fputs("shoal: error: RESOURCE_EXHAUSTED: out of memory\n", stderr);
		return EXIT_FAIL;
	}
	for (int i = from; i < argc; i++)
		if (!util_parse_u64(argv[i], &ids[i - from])) {
			free(ids);
			return usage_error("bad id '%s', expected an unsigned 64-bit integer",
			    argv[i]);
		}
	*out = ids;
	*n = (size_t)(argc - from);
	return 0;
}

/* "[TENANT] COLLECTION ID...": the first name is a cluster-level
 * collection or a tenant (one namespace: never both); *first_id is the
 * index of the first id.  Asks the coordinator which. */
static int
id_target(shoal_client *c, int argc, char **argv, const char **tenant, const char **coll,
    int *first_id, shoal_status *st)
{
	bool cluster;

	if (argc - optind < 2)
		return usage_error("'%s' takes [TENANT] COLLECTION ID...", g_cmd);
	if (is_cluster_collection(c, argv[optind], &cluster, st) != SHOAL_OK)
		return -1;
	if (cluster) {
		*tenant = "";
		*coll = argv[optind];
		*first_id = optind + 1;
	} else {
		if (argc - optind < 3)
			return usage_error("'%s' takes [TENANT] COLLECTION ID...", g_cmd);
		*tenant = argv[optind];
		*coll = argv[optind + 1];
		*first_id = optind + 2;
	}
	return 0;
}

/* The front of get and delete: their options, then "[TENANT] COLLECTION
 * ID..." resolved (id_target) and the ids parsed (*ids malloc'ed).
 * Returns as parse_opts: 0, -1 after --help, else the exit code. */
static int
id_args(int argc, char **argv, const struct option *lo, const char *help, id_opts *o,
    shoal_client **c, const char **tenant, const char **coll, uint64_t **ids, size_t *n)
{
	shoal_status st;
	int rv, from = 0; /* set by id_target when it returns 0 */

	if ((rv = parse_opts(argc, argv, ":h", lo, help, id_opt, o)) != 0)
		return rv;
	if (argc - optind < 2)
		return usage_error("'%s' takes [TENANT] COLLECTION ID...", g_cmd);
	if (client(c, &st) != 0)
		return fail(&st);
	if ((rv = id_target(*c, argc, argv, tenant, coll, &from, &st)) != 0)
		return rv < 0 ? fail(&st) : rv;
	return parse_ids(argc, argv, from, ids, n);
}

static int
cmd_get(int argc, char **argv)
{
	static const struct option lo[] = {COMMON_LONGOPTS,
	    {"full", no_argument, NULL, 'L'},
	    {"key", required_argument, NULL, 'K'}, {0}};
	shoal_get_result *res;
	id_opts o = {false, NULL};
	const char *tenant, *coll;
	shoal_status st;
	shoal_client *c;
	uint64_t *ids;
	size_t n;

	g_cmd = "get";
	PARSE_OR_RETURN(id_args(argc, argv, lo, help_get, &o, &c, &tenant, &coll, &ids, &n));
	if (shoal_get_ex(c, tenant, coll, o.key, ids, n, true, &res, &st) != SHOAL_OK) {
		free(ids);
		return fail(&st);
	}
	/* in the order asked, whatever order the reply has */
	for (size_t i = 0; i < n; i++) {
		const shoal_point *p = NULL;
		for (size_t j = 0; j < res->n_points && p == NULL; j++)
			if (res->points[j].id == ids[i])
				p = &res->points[j];
		if (p == NULL) {
			printf("id %" PRIu64 ": not found\n", ids[i]);
			continue;
		}
		printf("id %" PRIu64 "\n  vector   ", p->id);
		if (p->vector != NULL)
			print_vector(stdout, p->vector, p->dim, o.full);
		else
			fputs("(none)", stdout);
		fputs("\n  payload  ", stdout);
		print_payload(stdout, p->payload, p->n_payload);
		fputs("\n  text     ", stdout);
		if (p->text != NULL)
			print_json_string(stdout, p->text);
		else
			fputs("(none)", stdout);
		fputc('\n', stdout);
	}
	shoal_get_result_free(res);
	free(ids);
	return 0;
}

static int
cmd_delete(int argc, char **argv)
{
	static const struct option lo[] = {COMMON_LONGOPTS,
	    {"key", required_argument, NULL, 'K'}, {0}};
	id_opts o = {false, NULL};
	const char *tenant, *coll;
	uint32_t deleted;
	shoal_status st;
	shoal_client *c;
	uint64_t *ids;
	size_t n;

	g_cmd = "delete";
	PARSE_OR_RETURN(id_args(argc, argv, lo, help_delete, &o, &c, &tenant, &coll, &ids, &n));
	if (shoal_delete_ex(c, tenant, coll, o.key, ids, n, &deleted, &st) != SHOAL_OK) {
		free(ids);
		return fail(&st);
	}
	printf("deleted %u of %zu points\n", deleted, n);
	free(ids);
	return 0;
}

static int
cmd_count(int argc, char **argv)
{
	static const struct option lo[] = {COMMON_LONGOPTS, {0}};
	const char *tenant, *coll;
	shoal_status st;
	shoal_client *c;
	uint64_t count;

	g_cmd = "count";
	PARSE_OR_RETURN(parse_opts(argc, argv, ":h", lo, help_count, NULL, NULL));
	if (!split_target(argc - optind, argv + optind, &tenant, &coll))
		return usage_error("'count' takes [TENANT] COLLECTION");
	if (client(&c, &st) != 0 ||
	    shoal_count(c, tenant, coll, &count, &st) != SHOAL_OK)
		return fail(&st);
	printf("%" PRIu64 "\n", count);
	return 0;
}

/* ===================================================================
 * import (PostgreSQL; the coordinator runs the job, we start and watch it)
 * =================================================================== */

static const char help_import[] =
    "usage: shoal import pg --dsn DSN (--table T | --query SQL) --id-col C --vector-col C\n"
    "                       (--tenant NAME | --tenant-col C | --schemas PATTERN)\n"
    "                       --collection NAME [options]\n"
    "       shoal import status ID | list | cancel ID\n"
    "\n"
    "Imports rows from PostgreSQL (pgvector or arrays) with COPY.  The coordinator\n"
    "connects to PostgreSQL and runs the import; this command starts it, shows its\n"
    "progress (rows, rows/s, ETA from the planner's row estimate) and prints a\n"
    "summary.  Stopping this command does not stop the import ('shoal import\n"
    "cancel' does).  docs/import.md has the details.\n"
    "\n"
    "Source:\n"
    "  --dsn DSN           libpq connection string or postgresql:// URI, as seen\n"
    "                      from the coordinator's host (its password is never\n"
    "                      stored or logged; PGPASSWORD / ~/.pgpass on the\n"
    "                      coordinator's host work too)\n"
    "  --table T           [schema.]table to read, or\n"
    "  --query SQL         a SELECT whose result is read\n"
    "  --id-col C          point id: bigint, integer, smallint (used as is), or\n"
    "                      uuid / text (hashed to a stable 64-bit id; the original\n"
    "                      is kept in the payload under C)\n"
    "  --vector-col C      vector, halfvec, real[], double precision[], or text\n"
    "                      holding '[1,2,3]'\n"
    "  --payload-cols A,B  payload fields from text, integer, float, numeric,\n"
    "                      boolean, uuid, text[] (a tag list) and json/jsonb\n"
    "                      (its top-level fields) columns; other types as text\n"
    "  --text-col C        the point's text (any type, as its text)\n"
    "Target:\n"
    "  --collection NAME   created when missing (in each tenant, or as the shared\n"
    "                      collection) with the dimension of the first good row\n"
    "  --tenant NAME       one dedicated tenant (created when missing), or\n"
    "  --tenant-col C      one shared collection (tenant \"\"), hash-distributed by\n"
    "                      column C; each point keeps the value in payload field C\n"
    "                      (created with key_field C), or\n"
    "  --schemas PATTERN   a dedicated tenant per schema whose name is LIKE\n"
    "                      PATTERN and that has --table (Citus schema-based\n"
    "                      sharding); each tenant is named after its schema\n"
    "  --dedicated-tenants with --tenant-col: a dedicated tenant per distinct value\n"
    "                      of C instead of the shared collection (named after\n"
    "                      the value)\n"
    "  --metric M          cosine | l2 | ip for created collections (default cosine)\n"
    "  --m N, --ef-construction N   HNSW parameters for created collections\n"
    "Run:\n"
    "  --on-error MODE     abort (default): stop at the first bad row (NULL or NaN\n"
    "                      vector, wrong dimension, ...), the rows before it stay\n"
    "                      imported; skip: count such rows by reason and go on\n"
    "  --resume            continue the same import from its last checkpoint (after\n"
    "                      a failure, a cancel, or a restart of the coordinator), or\n"
    "                      follow it if it is still running\n"
    "  --batch N           rows per upsert (default 1000)\n"
    "  --parallel N        upserts in flight, 1..64 (default 4)\n"
    "  --max-rate N        at most N rows per second (spares a busy database)\n"
    "  --copy-format F     auto (default; binary) | binary | text\n"
    "  --detach            start the import and return at once (prints its id)\n"
    "\n"
    "  status ID           a job's progress or result (exit 1 if it failed)\n"
    "  list                every import the coordinator knows\n"
    "  cancel ID           stop a running import; --resume continues it later\n"
    "\n"
    "Exit status: 0 the import succeeded (skipped rows are listed), 1 it failed or\n"
    "was stopped (the message says how to continue), 2 usage error.\n"
    "\n"
    "Options:\n" COMMON_HELP;

typedef struct import_opts {
	shoal_import_spec s;
	char *cols_buf; /* --payload-cols, split in place */
	const char *cols[256];
	bool detach;
} import_opts;

enum {
	OPT_I_DSN = 3000,
	OPT_I_TABLE,
	OPT_I_QUERY,
	OPT_I_SCHEMAS,
	OPT_I_ID,
	OPT_I_VEC,
	OPT_I_TENANT,
	OPT_I_TENANT_COL,
	OPT_I_PAYLOAD,
	OPT_I_TEXT,
	OPT_I_COLL,
	OPT_I_METRIC,
	OPT_I_M,
	OPT_I_EF,
	OPT_I_ON_ERROR,
	OPT_I_RESUME,
	OPT_I_BATCH,
	OPT_I_PARALLEL,
	OPT_I_RATE,
	OPT_I_FORMAT,
	OPT_I_DETACH,
	OPT_I_DEDICATED
};

static int
import_opt(int opt, void *ctx)
{
	import_opts *o = ctx;
	shoal_import_spec *s = &o->s;

	switch (opt) {
	case OPT_I_DSN: s->dsn = optarg; return 0;
	case OPT_I_TABLE: s->table = optarg; return 0;
	case OPT_I_QUERY: s->query = optarg; return 0;
	case OPT_I_SCHEMAS: s->schemas = optarg; return 0;
	case OPT_I_ID: s->id_col = optarg; return 0;
	case OPT_I_VEC: s->vector_col = optarg; return 0;
	case OPT_I_TENANT: s->tenant = optarg; return 0;
	case OPT_I_TENANT_COL: s->tenant_col = optarg; return 0;
	case OPT_I_TEXT: s->text_col = optarg; return 0;
	case OPT_I_COLL: s->collection = optarg; return 0;
	case OPT_I_PAYLOAD: {
		free(o->cols_buf);
		o->cols_buf = strdup(optarg);
		s->n_payload_cols = 0;
		for (char *save = NULL, *t = strtok_r(o->cols_buf, ",", &save); t != NULL;
		     t = strtok_r(NULL, ",", &save)) {
			while (*t == ' ')
				t++;
			size_t l = strlen(t);
			while (l > 0 && t[l - 1] == ' ')
				t[--l] = '\0';
			if (l == 0)
				return usage_error("--payload-cols has an empty column name");
			if (s->n_payload_cols == sizeof o->cols / sizeof o->cols[0])
				return usage_error("--payload-cols: too many columns");
			o->cols[s->n_payload_cols++] = t;
		}
		s->payload_cols = o->cols;
		return 0;
	}
	case OPT_I_METRIC:
		if (!shoal_metric_parse(optarg, &s->metric))
			return usage_error("bad --metric '%s', expected cosine, l2 or ip", optarg);
		return 0;
	case OPT_I_M: return parse_u32_opt("--m", optarg, &s->m, true);
	case OPT_I_EF: return parse_u32_opt("--ef-construction", optarg, &s->ef_construction, true);
	case OPT_I_ON_ERROR:
		if (strcmp(optarg, "skip") == 0)
			s->skip_bad_rows = true;
		else if (strcmp(optarg, "abort") == 0)
			s->skip_bad_rows = false;
		else
			return usage_error("bad --on-error '%s', expected abort or skip", optarg);
		return 0;
	case OPT_I_RESUME: s->resume = true; return 0;
	case OPT_I_BATCH: return parse_u32_opt("--batch", optarg, &s->batch, true);
	case OPT_I_PARALLEL:
		if (parse_u32_opt("--parallel", optarg, &s->parallel, true) != 0)
			return EXIT_USAGE;
		if (s->parallel > 64)
			return usage_error("--parallel %u is too many, expected 1..64",
			    s->parallel);
		return 0;
	case OPT_I_RATE: return parse_u32_opt("--max-rate", optarg, &s->max_rate, true);
	case OPT_I_FORMAT:
		if (strcmp(optarg, "auto") != 0 && strcmp(optarg, "binary") != 0 &&
		    strcmp(optarg, "text") != 0)
			return usage_error("bad --copy-format '%s', expected auto, binary or text",
			    optarg);
		s->copy_format = optarg;
		return 0;
	case OPT_I_DETACH: o->detach = true; return 0;
	case OPT_I_DEDICATED: s->dedicated_tenants = true; return 0;
	}
	return usage_error("unexpected option");
}

static void
import_source(const shoal_import_info *in, char *buf, size_t cap)
{
	if (in->schemas[0])
		snprintf(buf, cap, "table %s in schemas LIKE '%s'", in->table, in->schemas);
	else if (in->table[0])
		snprintf(buf, cap, "table %s", in->table);
	else
		snprintf(buf, cap, "query");
}

/* The final report of a job: stdout when it succeeded, stderr otherwise. */
static void
import_summary(const shoal_import_info *in)
{
	FILE *f = in->state == SHOAL_IMPORT_SUCCEEDED ? stdout : stderr;
	char dur[32], src[256];

	fmt_duration(dur, sizeof dur, (double)in->elapsed_ms / 1000.0);
	import_source(in, src, sizeof src);
	fprintf(f,
	    "import %s %s: %" PRIu64 " rows imported, %" PRIu64 " skipped (%" PRIu64
	    " rows read) in %s, %.0f rows/s\n",
	    in->id, shoal_import_state_name(in->state), in->rows_imported, in->rows_skipped,
	    in->rows_done, dur, in->rows_per_sec);
	if (in->tenant[0])
		fprintf(f, "  from %s into collection '%s' of tenant '%s'", src, in->collection,
		    in->tenant);
	else if (in->tenant_col[0] && !in->dedicated_tenants)
		fprintf(f,
		    "  from %s into shared collection '%s', distributed by %s (%u tenant "
		    "values)",
		    src, in->collection, in->tenant_col, in->tenants);
	else
		fprintf(f, "  from %s into collection '%s' of %u tenant(s)", src, in->collection,
		    in->schemas[0] ? in->units_total : in->tenants);
	if (in->dim)
		fprintf(f, " (dim %u)", in->dim);
	fputc('\n', f);
	if (in->runs > 1 || in->resumed_from > 0)
		fprintf(f, "  run %u, resumed at row %" PRIu64 "\n", in->runs, in->resumed_from);
	for (size_t i = 0; i < in->n_skips; i++)
		fprintf(f, "  skipped %" PRIu64 " rows: %s (first: %s)\n", in->skips[i].rows,
		    in->skips[i].reason, in->skips[i].example);
	if (in->notice[0])
		fprintf(f, "  note: %s\n", in->notice);
}

/* One progress line on stderr (\r-updated on a terminal). */
static void
import_progress(const shoal_import_info *in, bool tty)
{
	char eta[32] = "?";
	double pct =
	    in->rows_estimated ? 100.0 * (double)in->rows_done / (double)in->rows_estimated : 0;
	if (in->rows_per_sec > 0 && in->rows_estimated > in->rows_done)
		fmt_duration(eta, sizeof eta,
		    (double)(in->rows_estimated - in->rows_done) / in->rows_per_sec);
	else if (in->rows_estimated && in->rows_estimated <= in->rows_done)
		snprintf(eta, sizeof eta, "0:00:00");
	fprintf(stderr, "%s%" PRIu64 "/~%" PRIu64 " rows  %5.1f%%  %.0f rows/s  ETA %s",
	    tty ? "\r" : "", in->rows_done, in->rows_estimated, pct > 100 ? 100.0 : pct,
	    in->rows_per_sec, eta);
	if (in->rows_skipped)
		fprintf(stderr, "  skipped %" PRIu64, in->rows_skipped);
	if (in->units_total > 1)
		fprintf(stderr, "  [%u/%u %s]", in->units_done, in->units_total, in->current);
	fputs(tty ? "   " : "\n", stderr);
	fflush(stderr);
}

/* Polls job `id` until it is no longer running; returns the exit code. */
static int
import_watch(shoal_client *c, const char *id)
{
	bool tty = isatty(STDERR_FILENO) == 1;
	uint64_t last_print = 0, lost_since = 0;
	shoal_import_info *in = NULL;
	shoal_status st;

	for (;;) {
		shoal_code rv = shoal_import_get(c, id, &in, &st);
		uint64_t now = util_mono_ms();
		if (rv == SHOAL_UNAVAILABLE || rv == SHOAL_DEADLINE_EXCEEDED) {
			/* the coordinator restarts: the job is then interrupted, and
			 * we say so once we can ask again */
			if (lost_since == 0)
				lost_since = now;
			if (now - lost_since > 60000) {
				if (tty)
					fputc('\n', stderr);
				shoal_status_prefix(&st,
				    "lost the coordinator while watching import "
				    "%s (its checkpoint is durable: run the same command with "
				    "--resume)",
				    id);
				return fail(&st);
			}
			util_sleep_ms(500);
			continue;
		}
		if (rv != SHOAL_OK) {
			if (tty)
				fputc('\n', stderr);
			return fail(&st);
		}
		lost_since = 0;
		if (in->state != SHOAL_IMPORT_RUNNING)
			break;
		if (now - last_print >= (tty ? 250u : 2000u)) {
			import_progress(in, tty);
			last_print = now;
		}
		shoal_import_info_free(in);
		in = NULL;
		util_sleep_ms(200);
	}
	if (last_print != 0) {
		import_progress(in, tty);
		if (tty)
			fputc('\n', stderr);
	}
	import_summary(in);
	int rc = 0;
	if (in->state != SHOAL_IMPORT_SUCCEEDED) {
		shoal_status_set(&st, in->error_code ? in->error_code : SHOAL_ABORTED, "%s",
		    in->error[0] ? in->error : shoal_import_state_name(in->state));
		if (in->state == SHOAL_IMPORT_INTERRUPTED)
			shoal_status_set(&st, SHOAL_UNAVAILABLE,
			    "import %s was interrupted at row %" PRIu64
			    " (the coordinator stopped); "
			    "run the same command with --resume to continue",
			    in->id, in->rows_done);
		else if (in->state == SHOAL_IMPORT_CANCELLED)
			shoal_status_set(&st, SHOAL_CANCELLED,
			    "import %s was cancelled at row %" PRIu64 "; --resume continues it",
			    in->id, in->rows_done);
		else
			shoal_status_prefix(&st,
			    "import %s failed at row %" PRIu64 " (--resume "
			    "continues from there)",
			    in->id, in->rows_done);
		rc = fail(&st);
	}
	shoal_import_info_free(in);
	return rc;
}

static int
cmd_import(int argc, char **argv)
{
	static const struct option lo[] = {COMMON_LONGOPTS,
	    {"dsn", required_argument, NULL, OPT_I_DSN},
	    {"table", required_argument, NULL, OPT_I_TABLE},
	    {"query", required_argument, NULL, OPT_I_QUERY},
	    {"schemas", required_argument, NULL, OPT_I_SCHEMAS},
	    {"id-col", required_argument, NULL, OPT_I_ID},
	    {"vector-col", required_argument, NULL, OPT_I_VEC},
	    {"tenant", required_argument, NULL, OPT_I_TENANT},
	    {"tenant-col", required_argument, NULL, OPT_I_TENANT_COL},
	    {"payload-cols", required_argument, NULL, OPT_I_PAYLOAD},
	    {"text-col", required_argument, NULL, OPT_I_TEXT},
	    {"collection", required_argument, NULL, OPT_I_COLL},
	    {"metric", required_argument, NULL, OPT_I_METRIC},
	    {"m", required_argument, NULL, OPT_I_M},
	    {"ef-construction", required_argument, NULL, OPT_I_EF},
	    {"on-error", required_argument, NULL, OPT_I_ON_ERROR},
	    {"resume", no_argument, NULL, OPT_I_RESUME},
	    {"batch", required_argument, NULL, OPT_I_BATCH},
	    {"parallel", required_argument, NULL, OPT_I_PARALLEL},
	    {"max-rate", required_argument, NULL, OPT_I_RATE},
	    {"copy-format", required_argument, NULL, OPT_I_FORMAT},
	    {"detach", no_argument, NULL, OPT_I_DETACH},
	    {"dedicated-tenants", no_argument, NULL, OPT_I_DEDICATED}, {0}};
	import_opts o = {0};
	shoal_import_info *in = NULL;
	shoal_client *c;
	shoal_status st;
	int rc;

	g_cmd = "import";
	rc = parse_opts(argc, argv, ":h", lo, help_import, import_opt, &o);
	if (rc != 0) {
		free(o.cols_buf);
		return rc == -1 ? 0 : rc;
	}
	const char *sub = optind < argc ? argv[optind] : NULL;
	int npos = argc - optind;
	if (sub == NULL) {
		rc = usage_error("'import' needs a subcommand: pg, status, list or cancel");
	} else if (strcmp(sub, "pg") == 0) {
		if (npos != 1)
			rc = usage_error("'import pg' takes no positional arguments (got '%s')",
			    argv[optind + 1]);
		else if (o.s.dsn == NULL)
			rc = usage_error("--dsn is required");
		else if ((o.s.table != NULL) == (o.s.query != NULL))
			rc = usage_error("give exactly one of --table and --query");
		else if (o.s.id_col == NULL || o.s.vector_col == NULL)
			rc = usage_error("--id-col and --vector-col are required");
		else if ((o.s.tenant != NULL) + (o.s.tenant_col != NULL) + (o.s.schemas != NULL) !=
		    1)
			rc =
			    usage_error("give exactly one of --tenant, --tenant-col and --schemas");
		else if (o.s.collection == NULL)
			rc = usage_error("--collection is required");
		else if (client(&c, &st) != 0 || shoal_import_start(c, &o.s, &in, &st) != SHOAL_OK)
			rc = fail(&st);
		else {
			char src[256];
			import_source(in, src, sizeof src);
			if (in->state == SHOAL_IMPORT_RUNNING)
				fprintf(stderr,
				    "import %s %s: %s -> collection '%s' (~%" PRIu64
				    " rows estimated)%s%s\n",
				    in->id, in->runs > 1 || o.s.resume ? "running" : "started", src,
				    in->collection, in->rows_estimated, in->notice[0] ? "; " : "",
				    in->notice);
			if (o.detach) {
				printf("%s\n", in->id);
				rc = 0;
			} else {
				rc = import_watch(c, in->id);
			}
		}
	} else if (strcmp(sub, "status") == 0 || strcmp(sub, "cancel") == 0) {
		bool cancel = sub[0] == 'c';
		if (npos != 2)
			rc = usage_error("'import %s' takes one job ID", sub);
		else if (client(&c, &st) != 0 ||
		    (cancel ? shoal_import_cancel(c, argv[optind + 1], &in, &st)
		            : shoal_import_get(c, argv[optind + 1], &in, &st)) != SHOAL_OK)
			rc = fail(&st);
		else if (in->state == SHOAL_IMPORT_RUNNING) {
			import_progress(in, false);
			rc = 0;
		} else {
			import_summary(in);
			rc = in->state == SHOAL_IMPORT_SUCCEEDED ? 0 : EXIT_FAIL;
			if (in->state == SHOAL_IMPORT_FAILED)
				fprintf(stderr, "shoal: error: %s: %s\n",
				    shoal_code_name(in->error_code), in->error);
		}
	} else if (strcmp(sub, "list") == 0) {
		shoal_import_info *l;
		size_t n;
		if (npos != 1)
			rc = usage_error("'import list' takes no arguments");
		else if (client(&c, &st) != 0 || shoal_import_list(c, &l, &n, &st) != SHOAL_OK)
			rc = fail(&st);
		else {
			printf("%-16s  %-11s  %12s  %12s  %10s  %s\n", "ID", "STATE", "DONE",
			    "IMPORTED", "SKIPPED", "SOURCE -> COLLECTION");
			for (size_t i = 0; i < n; i++) {
				char src[256];
				import_source(&l[i], src, sizeof src);
				printf("%-16s  %-11s  %12" PRIu64 "  %12" PRIu64 "  %10" PRIu64
				       "  %s -> %s\n",
				    l[i].id, shoal_import_state_name(l[i].state), l[i].rows_done,
				    l[i].rows_imported, l[i].rows_skipped, src, l[i].collection);
			}
			shoal_import_list_free(l);
			rc = 0;
		}
	} else {
		rc =
		    usage_error("unknown import subcommand '%s' (pg, status, list or cancel)", sub);
	}
	shoal_import_info_free(in);
	free(o.cols_buf);
	return rc;
}

/* ===================================================================
 * backup
 * =================================================================== */

static const char help_backup[] =
    "usage: shoal backup create DIR\n"
    "       shoal backup restore DIR --data NEWDIR [--bin BINDIR]\n"
    "\n"
    "  create DIR     take a consistent backup of the catalog and every worker\n"
    "                 while the cluster serves: every write acknowledged before\n"
    "                 the command started is in it.  DIR must not exist; a relative\n"
    "                 DIR is made absolute here.  It is a path on the coordinator's\n"
    "                 host, and each worker writes DIR/workers/NAME on its own host:\n"
    "                 with workers on several hosts, DIR must be shared storage\n"
    "                 mounted at the same path everywhere (docs/operations.md).\n"
    "                 Waits until done (--timeout, default one hour).\n"
    "  restore DIR    lay out a NEW cluster's data directories from a backup,\n"
    "                 offline (no daemon may use NEWDIR):\n"
    "                   NEWDIR/coordinator      (shoal-coordinator --restore)\n"
    "                   NEWDIR/workers/NAME     (shoal-worker --restore, one each)\n"
    "                 then start the daemons on them; workers keep their names and\n"
    "                 register their new addresses.  Runs shoal-coordinator and\n"
    "                 shoal-worker from BINDIR (default: next to this shoal, else\n"
    "                 $PATH).\n"
    "\n"
    "Options:\n" COMMON_HELP;

typedef struct backup_opts {
	const char *data, *bin;
} backup_opts;

static int
backup_opt(int opt, void *ctx)
{
	backup_opts *o = ctx;
	if (opt == 'd') {
		o->data = optarg;
		return 0;
	}
	if (opt == 'b') {
		o->bin = optarg;
		return 0;
	}
	return usage_error("unexpected option");
}

/* Runs argv (argv[0] a path), waits; returns its exit status or -1. */
static int
run_program(char *const argv[])
{
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		execv(argv[0], argv);
		fprintf(stderr, "shoal: cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	int status;
	if (waitpid(pid, &status, 0) < 0)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* dir/prog when it is executable, else prog found on $PATH; out gets the
 * path.  False when not found. */
static bool
find_program(const char *dir, const char *prog, char *out, size_t cap)
{
	char self[4096];
	if (dir == NULL) {
		ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
		if (n > 0) {
			self[n] = '\0';
			char *slash = strrchr(self, '/');
			if (slash != NULL) {
				*slash = '\0';
				if (snprintf(out, cap, "%s/%s", self, prog) < (int)cap &&
				    access(out, X_OK) == 0)
					return true;
			}
		}
	} else {
		snprintf(out, cap, "%s/%s", dir, prog);
		return access(out, X_OK) == 0;
	}
	const char *path = getenv("PATH");
	for (const char *p = path ? path : ""; *p;) {
		size_t n = strcspn(p, ":");
		snprintf(out, cap, "%.*s/%s", (int)n, p, prog);
		if (n > 0 && access(out, X_OK) == 0)
			return true;
		p += n + (p[n] == ':');
	}
	return false;
}

static int
backup_restore(const char *from, const backup_opts *o)
{
	char coord[4096], worker[4096], path[4096], dst[4096];
	config_file *cf = NULL;
	shoal_status st;

	if (!find_program(o->bin, "shoal-coordinator", coord, sizeof coord) ||
	    !find_program(o->bin, "shoal-worker", worker, sizeof worker)) {
		fprintf(stderr,
		    "shoal: error: shoal-coordinator and shoal-worker not found %s%s "
		    "(pass --bin DIR)\n",
		    o->bin ? "in " : "next to this program or on $PATH", o->bin ? o->bin : "");
		return EXIT_FAIL;
	}
	snprintf(path, sizeof path, "%s/MANIFEST", from);
	if (config_load(path, &cf, &st) != SHOAL_OK) {
		fprintf(stderr, "shoal: error: %s is not a complete shoal backup: %s\n", from,
		    st.msg);
		return EXIT_FAIL;
	}
	/* the coordinator checks the manifest fully; then each worker's part */
	snprintf(dst, sizeof dst, "%s/coordinator", o->data);
	char *cargv[] = {coord, "--restore", (char *)from, "--data", dst, NULL};
	if (run_program(cargv) != 0) {
		config_free(cf);
		fprintf(stderr, "shoal: error: restoring the coordinator failed (see above)\n");
		return EXIT_FAIL;
	}
	size_t nworkers = 0;
	for (size_t i = 0; i < cf->n; i++) {
		const config_entry *e = &cf->entries[i];
		if (strncmp(e->section, "worker.", 7) != 0 || strcmp(e->key, "dir") != 0)
			continue;
		snprintf(path, sizeof path, "%s/%s", from, e->value);
		snprintf(dst, sizeof dst, "%s/workers/%s", o->data, e->section + 7);
		char *wargv[] = {worker, "--restore", path, "--data", dst, NULL};
		if (run_program(wargv) != 0) {
			config_free(cf);
			fprintf(stderr, "shoal: error: restoring worker %s failed (see above)\n",
			    e->section + 7);
			return EXIT_FAIL;
		}
		nworkers++;
	}
	config_free(cf);
	printf("restored %s into %s: the coordinator and %zu workers.  Start them with\n"
	       "  shoal-coordinator --data %s/coordinator ...\n"
	       "  shoal-worker --data %s/workers/NAME --coordinator URL ...   (each worker)\n",
	    from, o->data, nworkers, o->data, o->data);
	return 0;
}

static int
cmd_backup(int argc, char **argv)
{
	static const struct option lo[] = {COMMON_LONGOPTS, {"data", required_argument, NULL, 'd'},
	    {"bin", required_argument, NULL, 'b'}, {0}};
	backup_opts o = {0};
	shoal_status st;
	shoal_client *c;

	g_cmd = "backup";
	if (argc < 2 || argv[1][0] == '-') {
		if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
			fputs(help_backup, stdout);
			return 0;
		}
		return usage_error("missing subcommand: create or restore");
	}
	const char *sub = argv[1];
	if (strcmp(sub, "create") && strcmp(sub, "restore"))
		return usage_error("unknown subcommand '%s', expected create or restore", sub);
	PARSE_OR_RETURN(parse_opts(argc - 1, argv + 1, ":h", lo, help_backup, backup_opt, &o));
	int npos = argc - 1 - optind;
	char **pos = argv + 1 + optind;
	if (npos != 1)
		return usage_error("'backup %s' takes exactly one DIR", sub);
	if (!strcmp(sub, "restore")) {
		if (o.data == NULL)
			return usage_error("'backup restore' needs --data NEWDIR");
		return backup_restore(pos[0], &o);
	}
	if (o.data != NULL || o.bin != NULL)
		return usage_error("--data and --bin only apply to 'backup restore'");

	char dir[4096], cwd[4096];
	if (pos[0][0] == '/') {
		snprintf(dir, sizeof dir, "%s", pos[0]);
	} else {
		if (getcwd(cwd, sizeof cwd) == NULL)
			return usage_error("cannot resolve '%s': %s", pos[0], strerror(errno));
		if (snprintf(dir, sizeof dir, "%s/%s", cwd, pos[0]) >= (int)sizeof dir)
			return usage_error("path too long: %s", pos[0]);
	}
	shoal_backup_info *bi;
	fprintf(stderr, "backing up into %s ...\n", dir);
	if (client(&c, &st) != 0 || shoal_backup_create(c, dir, g.timeout_ms, &bi, &st) != SHOAL_OK)
		return fail(&st);
	printf("backup %s: catalog epoch %" PRIu64 ", %u tenants, %u collections, %zu workers, "
	       "%.1f s\n",
	    bi->dir, bi->epoch, bi->tenants, bi->collections, bi->n_workers,
	    (double)bi->micros / 1e6);
	printf("%-20s %-28s %12s %7s %14s\n", "WORKER", "DIR", "POINTS", "SHARDS", "BYTES");
	for (size_t i = 0; i < bi->n_workers; i++) {
		const shoal_backup_worker *w = &bi->workers[i];
		printf("%-20s %-28s %12" PRIu64 " %7u %14" PRIu64 "\n", w->name, w->dir, w->points,
		    w->shards, w->bytes);
	}
	shoal_backup_info_free(bi);
	return 0;
}
/* ===================================================================
 * main
 * =================================================================== */

static const char help_main[] =
    "usage: shoal [--coordinator URL] [--timeout MS] COMMAND [ARGS...]\n"
    "\n"
    "Command-line client of a shoal cluster; talks to the coordinator.\n"
    "\n"
    "Commands:\n"
    "  status                        cluster state: workers, tenants, epoch\n"
    "  tenant create|list|drop|move  manage tenants; move one to another worker\n"
    "                                online\n"
    "  shard move ID --to WORKER     move a shared shard's group online\n"
    "  move list|status|cancel       online moves in progress and done\n"
    "  node list|add|drain|remove    workers: list, wait for a new one, move\n"
    "                                everything off one, forget an empty one\n"
    "  rebalance [--dry-run]         even out the load with online moves\n"
    "  collection create|list|show|drop\n"
    "                                manage collections: a tenant's (dedicated),\n"
    "                                shared (hash-distributed by key) or reference\n"
    "  load [TENANT] COLL ...        bulk upsert from .fvecs or generated vectors\n"
    "  search [TENANT] COLL ...      k-nearest-neighbour search (--key, --explain)\n"
    "  get [TENANT] COLL ID...       read points by id\n"
    "  delete [TENANT] COLL ID...    delete points by id\n"
    "  count [TENANT] COLL           number of points\n"
    "(COLL alone names a shared or reference collection, which belongs to no\n"
    "tenant.)\n"
    "  backup create|restore DIR     back up the cluster while it serves, or\n"
    "                                lay out a new cluster from a backup\n"
    "  import pg|status|list|cancel  import from PostgreSQL (pgvector, arrays)\n"
    "Run 'shoal COMMAND --help' for a command's arguments and options.\n"
    "\n"
    "Options (also accepted after the command):\n" COMMON_HELP
    "  --version           print the client library version\n"
    "\n"
    "Environment: SHOAL_COORDINATOR (default URL), SHOAL_TOKEN (auth token),\n"
    "SHOAL_TLS_CA, SHOAL_TLS_CERT, SHOAL_TLS_KEY (the --tls-* files).\n"
    "Exit status: 0 success, 1 the request failed (message on stderr),\n"
    "2 usage error.\n";

static const struct {
	const char *name;
	int (*fn)(int, char **);
} commands[] = {
    {"status", cmd_status}, {"tenant", cmd_tenant},
    {"collection", cmd_collection}, {"load", cmd_load},
    {"search", cmd_search}, {"get", cmd_get},
    {"delete", cmd_delete}, {"count", cmd_count},
    {"backup", cmd_backup},
    {"import", cmd_import},
    {"move", cmd_move},
    {"shard", cmd_shard},
    {"node", cmd_node},
    {"rebalance", cmd_rebalance},
};

int
main(int argc, char **argv)
{
	enum { OPT_VERSION = 2000 };
	static const struct option lo[] = {
	    COMMON_LONGOPTS, {"version", no_argument, NULL, OPT_VERSION}, {0}};
	const char *env = getenv("SHOAL_COORDINATOR");
	int opt, rv;

	g.url = env != NULL && env[0] != '\0' ? env : DEFAULT_URL;
	/* '+': stop at the command; its own parser takes the rest */
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+:h", lo, NULL)) != -1) {
		if (opt == 'h') {
			fputs(help_main, stdout);
			return 0;
		}
		if (opt == OPT_VERSION) {
			printf("shoal %s\n", shoal_version_string());
			return 0;
		}
		if ((rv = common_opt(opt, argv)) > 0)
			return rv;
	}
	if (optind >= argc)
		return usage_error("missing COMMAND");
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		if (strcmp(argv[optind], commands[i].name) == 0) {
			g_cmd = commands[i].name;
			rv = commands[i].fn(argc - optind, argv + optind);
			shoal_close(g.client);
			return rv;
		}
	return usage_error("unknown command '%s'", argv[optind]);
}
