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
#include <unistd.h>

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
	const char *tok = getenv("SHOAL_TOKEN");

	if (g.client == NULL) {
		o.auth_token = tok != NULL && tok[0] ? tok : NULL;
		if (shoal_connect(g.url, &o, &g.client, st) != SHOAL_OK)
			return -1;
	}
	*out = g.client;
	return 0;
}

/* Options every command accepts (kept in each command's table). */
enum { OPT_COORDINATOR = 1000, OPT_TIMEOUT };
#define COMMON_LONGOPTS                                                      \
	{"coordinator", required_argument, NULL, OPT_COORDINATOR},               \
	    {"timeout", required_argument, NULL, OPT_TIMEOUT},                   \
	    {"help", no_argument, NULL, 'h'}

#define COMMON_HELP                                                          \
	"  --coordinator URL   coordinator address (default $SHOAL_COORDINATOR,\n" \
	"                      else " DEFAULT_URL ")\n"                           \
	"  --timeout MS        per-request timeout in milliseconds (default 30000)\n" \
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
    "collection counts, and one line per worker.\n"
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
    "\n"
    "Tenants own collections; all collections of a tenant live on one\n"
    "worker (its shard group).\n"
    "\n"
    "  create NAME     create a tenant; the coordinator picks the worker\n"
    "    --on WORKER   place it on this worker instead (see 'shoal status')\n"
    "  list            list tenants with their worker, collections and points\n"
    "  drop NAME       delete a tenant with ALL its collections and points\n"
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
	if (strcmp(sub, "create") && strcmp(sub, "list") && strcmp(sub, "drop"))
		return usage_error("unknown subcommand '%s', expected create, list or "
		    "drop", sub);
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
    "       shoal collection list TENANT\n"
    "       shoal collection drop TENANT NAME\n"
    "\n"
    "  create TENANT NAME   create a collection of N-dimensional vectors\n"
    "    --dim N            vector dimension, 1..16000 (required)\n"
    "    --metric M         cosine | l2 | ip (default cosine); distances are\n"
    "                       1-cos, Euclidean, and -dot: smaller is closer\n"
    "    --m N              HNSW graph degree M (default: server's, 16)\n"
    "    --ef-construction N  HNSW build beam width (default: server's, 64)\n"
    "  list TENANT          list the tenant's collections\n"
    "  drop TENANT NAME     delete a collection and ALL its points\n"
    "\n"
    "Options:\n" COMMON_HELP;

typedef struct coll_opts {
	shoal_collection_params p;
	bool has_params;
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
	}
	return usage_error("unexpected option");
}

static int
cmd_collection(int argc, char **argv)
{
	static const struct option lo[] = {COMMON_LONGOPTS,
	    {"dim", required_argument, NULL, 'd'},
	    {"metric", required_argument, NULL, 'M'},
	    {"m", required_argument, NULL, 'm'},
	    {"ef-construction", required_argument, NULL, 'e'}, {0}};
	coll_opts o = {{0}, false};
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
		return usage_error("missing subcommand: create, list or drop");
	}
	sub = argv[1];
	if (strcmp(sub, "create") && strcmp(sub, "list") && strcmp(sub, "drop"))
		return usage_error("unknown subcommand '%s', expected create, list or "
		    "drop", sub);
	PARSE_OR_RETURN(parse_opts(argc - 1, argv + 1, ":h", lo, help_collection,
	    collection_opt, &o));
	npos = argc - 1 - optind;
	pos = argv + 1 + optind;
	if (o.has_params && strcmp(sub, "create") != 0)
		return usage_error("--dim/--metric/--m/--ef-construction only apply "
		    "to 'collection create'");

	if (!strcmp(sub, "list")) {
		shoal_collection_info *l;
		size_t n;
		if (npos != 1)
			return usage_error("'collection list' takes exactly one TENANT");
		if (client(&c, &st) != 0 ||
		    shoal_collection_list(c, pos[0], &l, &n, &st) != SHOAL_OK)
			return fail(&st);
		printf("%-24s %6s %-7s %4s %6s %-20s %8s %12s\n", "COLLECTION", "DIM",
		    "METRIC", "M", "EF_CON", "WORKER", "SHARD", "POINTS");
		for (size_t i = 0; i < n; i++)
			printf("%-24s %6u %-7s %4u %6u %-20s %8" PRIu64 " %12" PRIu64 "\n",
			    l[i].name, l[i].dim, shoal_metric_name(l[i].metric), l[i].m,
			    l[i].ef_construction, l[i].worker, l[i].shard_id, l[i].points);
		shoal_collection_list_free(l);
		return 0;
	}
	if (npos != 2)
		return usage_error("'collection %s' takes TENANT NAME", sub);
	if (!strcmp(sub, "create")) {
		shoal_collection_info info;
		if (o.p.dim == 0)
			return usage_error("'collection create' needs --dim N");
		if (client(&c, &st) != 0 ||
		    shoal_collection_create(c, pos[0], pos[1], &o.p, &info, &st) != SHOAL_OK)
			return fail(&st);
		printf("created collection '%s/%s' (dim %u, %s, m %u, ef_construction %u) "
		       "on worker %s\n", info.tenant, info.name, info.dim,
		    shoal_metric_name(info.metric), info.m, info.ef_construction,
		    info.worker);
		return 0;
	}
	if (client(&c, &st) != 0 ||
	    shoal_collection_drop(c, pos[0], pos[1], &st) != SHOAL_OK)
		return fail(&st);
	printf("dropped collection '%s/%s'\n", pos[0], pos[1]);
	return 0;
}

/* ===================================================================
 * load
 * =================================================================== */

static const char help_load[] =
    "usage: shoal load TENANT COLLECTION (--fvecs FILE | --gen N [--seed S])\n"
    "                  [--start-id ID] [--batch N] [--parallel N]\n"
    "\n"
    "Bulk upsert.  Point ids are consecutive from --start-id; an existing id\n"
    "is overwritten, so re-running a load (or its failed tail) is safe.\n"
    "Progress (rows, rows/s, ETA) goes to stderr.\n"
    "\n"
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
	shoal_status st;

	if (ids == NULL || vecs == NULL) {
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
	    {"parallel", required_argument, NULL, 'p'}, {0}};
	load_opts o = {.seed = 1, .batch = 1000, .parallel = 2};
	loader L = {.mu = PTHREAD_MUTEX_INITIALIZER, .o = &o};
	shoal_collection_info info;
	pthread_t tids[64];
	uint32_t started = 0;
	shoal_status st;
	double secs;

	g_cmd = "load";
	PARSE_OR_RETURN(parse_opts(argc, argv, ":h", lo, help_load, load_opt, &o));
	if (argc - optind != 2)
		return usage_error("'load' takes TENANT COLLECTION");
	if ((o.fvecs != NULL) == o.gen)
		return usage_error("give exactly one of --fvecs FILE or --gen N");
	L.tenant = argv[optind];
	L.coll = argv[optind + 1];

	if (client(&L.c, &st) != 0 ||
	    find_collection(L.c, L.tenant, L.coll, &info, &st) != SHOAL_OK)
		return fail(&st);
	L.dim = info.dim;
	if (o.fvecs != NULL) {
		uint32_t fdim;
		if (vecio_open_fvecs(o.fvecs, &L.r, &fdim, &L.total, &st) != SHOAL_OK)
			return fail(&st);
		if (fdim != info.dim) {
			vecio_close(L.r);
			shoal_status_set(&st, SHOAL_INVALID_ARGUMENT,
			    "%s has dimension %u but collection '%s/%s' has %u", o.fvecs,
			    fdim, L.tenant, L.coll, info.dim);
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
	printf("loaded %" PRIu64 " points into '%s/%s' (ids %" PRIu64 "..%" PRIu64
	       ") in %.1f s, %.0f points/s\n", L.total, L.tenant, L.coll, o.start_id,
	    L.total ? o.start_id + L.total - 1 : o.start_id, secs,
	    secs > 0 ? (double)L.total / secs : 0.0);
	return 0;
}

/* ===================================================================
 * search
 * =================================================================== */

static const char help_search[] =
    "usage: shoal search TENANT COLLECTION QUERY [--k N] [--ef N] [--exact]\n"
    "                    [--with-payload] [--with-vector] [--full]\n"
    "QUERY is one of:\n"
    "  --vector \"0.1,0.2,...\"       the query vector (also \"[0.1, 0.2]\")\n"
    "  --vector-file F.fvecs [--index I]\n"
    "                               record I (default 0) of an .fvecs file\n"
    "  --gen-seed S --gen-index I   the vector 'shoal load --gen --seed S'\n"
    "                               generated for id I\n"
    "\n"
    "Prints a table 'rank id distance' (smaller distance is closer) and\n"
    "whether the answer is complete (every shard answered).\n"
    "\n"
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
	}
	return usage_error("unexpected option");
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
	if (argc - optind != 2)
		return usage_error("'search' takes TENANT COLLECTION and a query");
	tenant = argv[optind];
	coll = argv[optind + 1];
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
		shoal_collection_info info;
		if (find_collection(c, tenant, coll, &info, &st) != SHOAL_OK)
			goto failed;
		dim = info.dim;
		if ((q = malloc(sizeof *q * dim)) == NULL) {
			shoal_status_set(&st, SHOAL_RESOURCE_EXHAUSTED, "out of memory");
			goto failed;
		}
		vecio_generate(o.gen_seed, o.gen_index, 1, dim, q);
	}
	if (shoal_search(c, tenant, coll, q, dim, &o.p, &res, &st) != SHOAL_OK)
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
    "usage: shoal get TENANT COLLECTION ID... [--full]\n"
    "\n"
    "Prints each point: id, vector (first 8 components unless --full),\n"
    "payload and text; or 'not found'.\n"
    "\n"
    "  --full          print every component of the vector\n"
    "\n"
    "Options:\n" COMMON_HELP;

static const char help_delete[] =
    "usage: shoal delete TENANT COLLECTION ID...\n"
    "\n"
    "Deletes points by id and prints how many existed.  Ids that do not\n"
    "exist are ignored.\n"
    "\n"
    "Options:\n" COMMON_HELP;

static const char help_count[] =
    "usage: shoal count TENANT COLLECTION\n"
    "\n"
    "Prints the number of points in the collection.\n"
    "\n"
    "Options:\n" COMMON_HELP;

static int
flag_opt(int opt, void *ctx)
{
	if (opt == 'L') {
		*(bool *)ctx = true;
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

static int
cmd_get(int argc, char **argv)
{
	static const struct option lo[] = {COMMON_LONGOPTS,
	    {"full", no_argument, NULL, 'L'}, {0}};
	shoal_get_result *res;
	bool full = false;
	shoal_status st;
	shoal_client *c;
	uint64_t *ids;
	size_t n;
	int rv;

	g_cmd = "get";
	PARSE_OR_RETURN(parse_opts(argc, argv, ":h", lo, help_get, flag_opt, &full));
	if (argc - optind < 2)
		return usage_error("'get' takes TENANT COLLECTION ID...");
	if ((rv = parse_ids(argc, argv, optind + 2, &ids, &n)) != 0)
		return rv;
	if (client(&c, &st) != 0 ||
	    shoal_get(c, argv[optind], argv[optind + 1], ids, n, true, &res, &st) !=
	        SHOAL_OK) {
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
			print_vector(stdout, p->vector, p->dim, full);
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
	static const struct option lo[] = {COMMON_LONGOPTS, {0}};
	uint32_t deleted;
	shoal_status st;
	shoal_client *c;
	uint64_t *ids;
	size_t n;
	int rv;

	g_cmd = "delete";
	PARSE_OR_RETURN(parse_opts(argc, argv, ":h", lo, help_delete, NULL, NULL));
	if (argc - optind < 2)
		return usage_error("'delete' takes TENANT COLLECTION ID...");
	if ((rv = parse_ids(argc, argv, optind + 2, &ids, &n)) != 0)
		return rv;
	if (client(&c, &st) != 0 ||
	    shoal_delete(c, argv[optind], argv[optind + 1], ids, n, &deleted, &st) !=
	        SHOAL_OK) {
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
	shoal_status st;
	shoal_client *c;
	uint64_t count;

	g_cmd = "count";
	PARSE_OR_RETURN(parse_opts(argc, argv, ":h", lo, help_count, NULL, NULL));
	if (argc - optind != 2)
		return usage_error("'count' takes TENANT COLLECTION");
	if (client(&c, &st) != 0 ||
	    shoal_count(c, argv[optind], argv[optind + 1], &count, &st) != SHOAL_OK)
		return fail(&st);
	printf("%" PRIu64 "\n", count);
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
    "  tenant create|list|drop       manage tenants\n"
    "  collection create|list|drop   manage collections (dim, metric, HNSW)\n"
    "  load TENANT COLL ...          bulk upsert from .fvecs or generated vectors\n"
    "  search TENANT COLL ...        k-nearest-neighbour search\n"
    "  get TENANT COLL ID...         read points by id\n"
    "  delete TENANT COLL ID...      delete points by id\n"
    "  count TENANT COLL             number of points\n"
    "Run 'shoal COMMAND --help' for a command's arguments and options.\n"
    "\n"
    "Options (also accepted after the command):\n" COMMON_HELP
    "  --version           print the client library version\n"
    "\n"
    "Environment: SHOAL_COORDINATOR (default URL), SHOAL_TOKEN (auth token).\n"
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
