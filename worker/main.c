/* main.c -- shoal-worker: flags, identity, startup, heartbeat, shutdown.
 *
 * Startup: parse flags -> create DATA, settle the identity (DATA/identity)
 * -> open the rowstore (DATA/rows) -> create the Worker service -> listen
 * -> write the ready file (the advertised URL, atomically) -> start the
 * heartbeat and maintenance threads -> wait for SIGTERM/SIGINT.
 * Shutdown: stop the threads, stop the server (waits for running
 * handlers), free the service, close the rowstore, exit 0.
 *
 * Identity: a worker's name is chosen once -- --name at the first start,
 * else "w-" + 8 random hex digits -- and kept in DATA/identity.  Later
 * starts read it; a --name that contradicts it is refused, because the
 * coordinator's catalog places shards by worker name.
 *
 * Heartbeat: RegisterWorker (name, advertised URL, points, bytes, shards)
 * at start and then every HEARTBEAT_MS.  An unreachable coordinator is
 * logged once per outage; the thread keeps trying, so a restarted
 * coordinator learns about the worker within one period.
 * Maintenance: every MAINTAIN_MS, shard_service_maintain: HNSW builds,
 * compactions and snapshots of partition indexes, and eviction beyond
 * --memory-budget; in its own thread so that a long build never delays
 * heartbeats.  Index snapshots live in DATA/index; at a clean shutdown
 * every partition with unsaved writes is snapshotted, so the next start
 * loads snapshots and replays nothing.
 *
 * Signals are blocked before any thread starts, so every thread (ours and
 * nng's) inherits the mask and only the main thread's sigwait() sees them.
 *
 * Exit codes: 0 clean stop, 1 runtime failure (data dir, rowstore, listen),
 * 2 bad flags (including a --name that contradicts the stored identity, and
 * bad TLS certificate, key or CA files, checked before anything starts).
 */
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "bgloop.h"
#include "config.h"
#include "faiss_ext.h"
#include "httpd.h"
#include "log.h"
#include "metrics.h"
#include "obs.h"
#include "rowstore.h"
#include "rpc.h"
#include "shard_service.h"
#include "shoal.pb-c.h"
#include "util.h"
#include "worker_backup.h"
#include "worker_obs.h"

#ifndef SHOAL_VERSION_STRING
#define SHOAL_VERSION_STRING "0.1.0"
#endif

#define DEFAULT_LISTEN "tcp://127.0.0.1:7701"
#define DEFAULT_COORDINATOR "tcp://127.0.0.1:7700"
#define DEFAULT_MIN_FREE (64ull << 20) /* --min-free-space */
#define DEFAULT_THREADS 8
#define HEARTBEAT_MS 2000
#define MAINTAIN_MS 1000

typedef struct worker_cfg {
	const char *listen;
	const char *data;
	const char *coordinator;
	const char *name;
	const char *advertise;
	const char *ready_file;
	int threads;
	bool sync;
	int log_level;
	uint64_t memory_budget; /* 0 = unlimited */
	const char *http_listen; /* --http-listen: /metrics; NULL = off */
	const char *restore;     /* --restore BACKUP: restore into --data, exit */
	const char *secret_file; /* --cluster-secret-file; NULL = none (dev) */
	int max_concurrent;      /* --max-concurrent; 0 = off */
	uint64_t min_free;       /* --min-free-space; bytes */
	bool coll_graphs;        /* --collection-graphs (default true) */
	rpc_tls_options tls;     /* --tls-*: listen and the coordinator's URL */
} worker_cfg;

/* State shared with the background threads. */
typedef struct worker {
	char name[64];
	char *url; /* advertised */
	const char *coordinator;
	const char *secret; /* cluster secret (auth.h); NULL = none */
	const rpc_tls_options *tls; /* for a tls+tcp:// coordinator */
	shard_service *svc;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stopping; /* guarded by mu */
	atomic_bool cancel; /* set with stopping: interrupts index builds */
} worker;

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: shoal-worker --data DIR [options]\n"
	    "\n"
	    "  --data DIR           data directory (required; created if missing):\n"
	    "                       DIR/rows (RocksDB), DIR/index (index snapshots) and\n"
	    "                       DIR/identity\n"
	    "  --listen URL         address to serve the coordinator on\n"
	    "                       (default " DEFAULT_LISTEN "; port 0 picks a free port)\n"
	    "  --coordinator URL    coordinator to register with (default " DEFAULT_COORDINATOR ")\n"
	    "  --name NAME          worker name, only at the first start (default: w-<8 hex>);\n"
	    "                       kept in DIR/identity afterwards\n"
	    "  --advertise URL      URL registered with the coordinator (default: the listen\n"
	    "                       URL with the bound port)\n"
	    "  --threads N          concurrent request handlers, 1..1024 (default %d)\n"
	    "  --sync               fsync the write-ahead log on every write (survives power\n"
	    "                       loss; without it writes survive a process crash)\n"
	    "  --memory-budget SIZE memory for loaded partition indexes, e.g. 512M or 2G\n"
	    "                       (K/M/G/T = 1024^1..4; plain number = bytes; default:\n"
	    "                       unlimited).  Beyond it, least-recently-used partitions\n"
	    "                       are unloaded (snapshotted first) and reload on use;\n"
	    "                       rows stay on disk\n"
	    "  --log-level LEVEL    debug|info|warn|error (default info)\n"
	    "  --ready-file PATH    once listening, write the advertised URL to PATH atomically\n"
	    "                       (with --http-listen, the HTTP URL on a second line)\n"
	    "  --http-listen ADDR   serve Prometheus metrics on http://ADDR/metrics, ADDR =\n"
	    "                       HOST:PORT (port 0 picks a free port; default: off)\n"
	    "  --min-free-space SIZE refuse writes (RESOURCE_EXHAUSTED) while the data\n"
	    "                       directory's filesystem has less free (K/M/G; default\n"
	    "                       64M; 0 = no check): a full disk never stops the worker\n"
	    "  --max-concurrent N   serve at most N requests at once (instead of --threads)\n"
	    "                       and answer more at once with RESOURCE_EXHAUSTED \"too\n"
	    "                       many concurrent requests\" instead of queueing them\n"
	    "                       (default 0: off)\n"
	    "  --cluster-secret-file PATH\n"
	    "                       the cluster secret (one line, >= 16 bytes; the same file\n"
	    "                       on every daemon): requests without it are refused with\n"
	    "                       UNAUTHENTICATED and heartbeats carry it (docs/security.md).\n"
	    "                       Without it the worker accepts any request (development)\n"
	    "  --tls-cert FILE      PEM certificate for a tls+tcp:// --listen URL, also\n"
	    "                       presented to a tls+tcp:// coordinator that requires\n"
	    "                       client certificates (deploy/make-certs.sh)\n"
	    "  --tls-key FILE       its unencrypted PEM private key\n"
	    "  --tls-ca FILE        PEM CA that verifies a tls+tcp:// --coordinator (and,\n"
	    "                       with --tls-require-client-cert, client certificates)\n"
	    "  --tls-require-client-cert[=BOOL]\n"
	    "                       refuse TLS connections without a certificate signed by\n"
	    "                       --tls-ca: only the coordinator (given one) may connect\n"
	    "                       (default off; docs/security.md)\n"
	    "  --collection-graphs[=BOOL]\n"
	    "                       keep one HNSW graph over this worker's shards of a\n"
	    "                       shared collection that keyless searches scatter to\n"
	    "                       (default true): such a search then costs about one\n"
	    "                       graph search per worker, but every write to those\n"
	    "                       shards is indexed twice (bench/README.md, \"Scatter\n"
	    "                       writes\"; docs/decisions.md 126-130, 140).  false: each\n"
	    "                       shard is searched on its own\n"
	    "  --restore BACKUP     offline: restore this worker's part of a cluster backup\n"
	    "                       (BACKUP = the backup's workers/NAME directory) into\n"
	    "                       --data DIR, which must not hold a worker yet, then exit\n"
	    "  --config FILE        read settings from FILE first (docs/operations.md);\n"
	    "                       flags given here override it.  A bad file: exit 2\n"
	    "  --help               this text\n"
	    "  --version            print the version\n",
	    DEFAULT_THREADS);
}

static int
bad_flag(const char *fmt, const char *a, const char *b)
{
	fprintf(stderr, "shoal-worker: ");
	fprintf(stderr, fmt, a, b);
	fprintf(stderr, "\n(see shoal-worker --help)\n");
	return 2;
}

/* "2G", "512M", "64k", "1073741824" (K/M/G/T are powers of 1024; an
 * optional trailing "B" or "iB" is accepted).  0 is allowed (unlimited). */
static bool
parse_size(const char *s, uint64_t *out)
{
	char num[32];
	size_t n = strspn(s, "0123456789");
	uint64_t v, mult = 1;
	const char *suf = s + n;

	if (n == 0 || n >= sizeof num)
		return false;
	memcpy(num, s, n);
	num[n] = '\0';
	if (!util_parse_u64(num, &v))
		return false;
	switch (*suf) {
	case 'k': case 'K': mult = 1ULL << 10; suf++; break;
	case 'm': case 'M': mult = 1ULL << 20; suf++; break;
	case 'g': case 'G': mult = 1ULL << 30; suf++; break;
	case 't': case 'T': mult = 1ULL << 40; suf++; break;
	default: break;
	}
	if (mult > 1 && (strcmp(suf, "iB") == 0 || strcmp(suf, "B") == 0))
		suf += strlen(suf);
	else if (mult == 1 && strcmp(suf, "B") == 0)
		suf++;
	if (*suf != '\0' || (v != 0 && mult > UINT64_MAX / v))
		return false;
	*out = v * mult;
	return true;
}

/* ---- --config FILE (common/config.h) ------------------------------------
 * Every long flag except --help, --version and --config is a config key.
 * KEEP IN SYNC with opts[] in parse_flags: it_config checks that every flag
 * in --help is accepted as a key.  Values are checked here (to name
 * FILE:LINE) where a check exists, and by parse_flags in any case. */

static bool
cfg_size_ok(const char *v, char *why, size_t cap)
{
	uint64_t b;
	if (parse_size(v, &b))
		return true;
	snprintf(why, cap, "not a size (e.g. 512M, 2G, or bytes)");
	return false;
}

static const config_key worker_config_keys[] = {
    {"listen", CONFIG_STRING, 0, 0, config_check_url},
    {"data", CONFIG_STRING, 0, 0, NULL},
    {"coordinator", CONFIG_STRING, 0, 0, config_check_url},
    {"name", CONFIG_STRING, 0, 0, NULL},
    {"advertise", CONFIG_STRING, 0, 0, config_check_url},
    {"threads", CONFIG_INT, 1, 1024, NULL},
    {"sync", CONFIG_BOOL, 0, 0, NULL},
    {"log-level", CONFIG_STRING, 0, 0, config_check_log_level},
    {"ready-file", CONFIG_STRING, 0, 0, NULL},
    {"memory-budget", CONFIG_STRING, 0, 0, cfg_size_ok},
    {"http-listen", CONFIG_STRING, 0, 0, httpd_addr_valid},
    {"cluster-secret-file", CONFIG_STRING, 0, 0, NULL},
    {"max-concurrent", CONFIG_INT, 0, 100000, NULL},
    {"min-free-space", CONFIG_STRING, 0, 0, cfg_size_ok},
    {"tls-cert", CONFIG_STRING, 0, 0, NULL},
    {"tls-key", CONFIG_STRING, 0, 0, NULL},
    {"tls-ca", CONFIG_STRING, 0, 0, NULL},
    {"tls-require-client-cert", CONFIG_BOOL, 0, 0, NULL},
    {"collection-graphs", CONFIG_BOOL, 0, 0, NULL},
};

/* The merged argument vector (file settings, then flags): the strings in
 * worker_cfg point into it, so it lives as long as the process. */
static char **merged_argv;
static int merged_argc;

/* Returns -1 to go on, else the exit code. */
static int
parse_flags(int argc, char **argv, worker_cfg *cfg)
{
	enum { O_LISTEN = 256, O_DATA, O_COORD, O_NAME, O_ADVERTISE, O_THREADS, O_SYNC, O_LOG,
		O_READY, O_HELP, O_VERSION, O_BUDGET, O_HTTP, O_RESTORE, O_SECRET, O_MAXCONC, O_MINFREE,
		O_TLS_CERT, O_TLS_KEY, O_TLS_CA, O_TLS_REQ, O_CGRAPH };
	static const struct option opts[] = {
	    {"listen", required_argument, NULL, O_LISTEN},
	    {"data", required_argument, NULL, O_DATA},
	    {"coordinator", required_argument, NULL, O_COORD},
	    {"name", required_argument, NULL, O_NAME},
	    {"advertise", required_argument, NULL, O_ADVERTISE},
	    {"threads", required_argument, NULL, O_THREADS},
	    {"sync", no_argument, NULL, O_SYNC},
	    {"log-level", required_argument, NULL, O_LOG},
	    {"ready-file", required_argument, NULL, O_READY},
	    {"memory-budget", required_argument, NULL, O_BUDGET},
	    {"http-listen", required_argument, NULL, O_HTTP},
	    {"restore", required_argument, NULL, O_RESTORE},
	    {"cluster-secret-file", required_argument, NULL, O_SECRET},
	    {"max-concurrent", required_argument, NULL, O_MAXCONC},
	    {"min-free-space", required_argument, NULL, O_MINFREE},
	    {"tls-cert", required_argument, NULL, O_TLS_CERT},
	    {"tls-key", required_argument, NULL, O_TLS_KEY},
	    {"tls-ca", required_argument, NULL, O_TLS_CA},
	    {"tls-require-client-cert", optional_argument, NULL, O_TLS_REQ},
	    {"collection-graphs", optional_argument, NULL, O_CGRAPH},
	    {"help", no_argument, NULL, O_HELP},
	    {"version", no_argument, NULL, O_VERSION},
	    {NULL, 0, NULL, 0},
	};
	int c;

	*cfg = (worker_cfg){
	    .listen = DEFAULT_LISTEN,
	    .coordinator = DEFAULT_COORDINATOR,
	    .threads = DEFAULT_THREADS,
	    .log_level = LOG_INFO,
	    .min_free = DEFAULT_MIN_FREE,
	    .coll_graphs = true,
	};
	opterr = 0; /* our own messages */
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		switch (c) {
		case O_LISTEN: cfg->listen = optarg; break;
		case O_DATA: cfg->data = optarg; break;
		case O_COORD: cfg->coordinator = optarg; break;
		case O_NAME: cfg->name = optarg; break;
		case O_ADVERTISE: cfg->advertise = optarg; break;
		case O_SYNC: cfg->sync = true; break;
		case O_READY: cfg->ready_file = optarg; break;
		case O_BUDGET:
			if (!parse_size(optarg, &cfg->memory_budget))
				return bad_flag("--memory-budget: '%s' is not a size (e.g. 512M, 2G, or "
				    "bytes)%s", optarg, "");
			break;
		case O_RESTORE: cfg->restore = optarg; break;
		case O_SECRET: cfg->secret_file = optarg; break;
		case O_TLS_CERT: cfg->tls.cert_file = optarg; break;
		case O_TLS_KEY: cfg->tls.key_file = optarg; break;
		case O_TLS_CA: cfg->tls.ca_file = optarg; break;
		case O_TLS_REQ:
			cfg->tls.require_client_cert = true;
			if (optarg != NULL && !config_parse_bool(optarg, &cfg->tls.require_client_cert))
				return bad_flag("--tls-require-client-cert: '%s' is not true or false%s",
				    optarg, "");
			break;
		case O_CGRAPH:
			cfg->coll_graphs = true;
			if (optarg != NULL && !config_parse_bool(optarg, &cfg->coll_graphs))
				return bad_flag("--collection-graphs: '%s' is not true or false%s", optarg,
				    "");
			break;
		case O_MINFREE:
			if (!parse_size(optarg, &cfg->min_free))
				return bad_flag("--min-free-space: '%s' is not a size (e.g. 64M, 1G, or "
				    "bytes)%s", optarg, "");
			break;
		case O_MAXCONC:
			if (!util_parse_int(optarg, &cfg->max_concurrent) || cfg->max_concurrent < 0 ||
			    cfg->max_concurrent > 100000)
				return bad_flag("--max-concurrent: '%s' is not a number in 0..100000%s",
				    optarg, "");
			break;
		case O_HTTP: {
			char why[128];
			if (!httpd_addr_valid(optarg, why, sizeof why))
				return bad_flag("--http-listen: '%s': %s", optarg, why);
			cfg->http_listen = optarg;
			break;
		}
		case O_THREADS:
			if (!util_parse_int(optarg, &cfg->threads) || cfg->threads < 1 ||
			    cfg->threads > 1024)
				return bad_flag("--threads: '%s' is not a number in 1..1024%s", optarg, "");
			break;
		case O_LOG:
			if ((cfg->log_level = log_level_parse(optarg)) < 0)
				return bad_flag("--log-level: '%s' is not one of debug, info, warn, error%s",
				    optarg, "");
			break;
		case O_HELP: usage(stdout); return 0;
		case O_VERSION: printf("shoal-worker %s\n", SHOAL_VERSION_STRING); return 0;
		case ':': return bad_flag("%s needs a value%s", argv[optind - 1], "");
		default: return bad_flag("unknown option '%s'%s", argv[optind - 1], "");
		}
	}
	if (optind < argc)
		return bad_flag("unexpected argument '%s'%s", argv[optind], "");
	if (cfg->data == NULL || cfg->data[0] == '\0')
		return bad_flag("--data DIR is required%s%s", "", "");
	if (!rpc_url_valid(cfg->listen))
		return bad_flag("--listen: '%s' is not a valid URL (expected e.g. %s)", cfg->listen,
		    "tcp://127.0.0.1:7701");
	if (!rpc_url_valid(cfg->coordinator))
		return bad_flag("--coordinator: '%s' is not a valid URL (expected e.g. %s)",
		    cfg->coordinator, DEFAULT_COORDINATOR);
	if (cfg->advertise != NULL && !rpc_url_valid(cfg->advertise))
		return bad_flag("--advertise: '%s' is not a valid URL (expected e.g. %s)",
		    cfg->advertise, "tcp://10.0.0.5:7701");
	if (cfg->name != NULL) {
		shoal_status st;
		if (util_check_name("worker", cfg->name, &st) != SHOAL_OK)
			return bad_flag("--name: %s%s", st.msg, "");
	}
	return -1;
}

/* Settles the worker name (header comment).  Returns -1 to go on, else
 * the exit code. */
static int
settle_identity(const char *dir, const char *flag_name, char name[64])
{
	char path[4200], *text = NULL, line[80];
	shoal_status st;
	shoal_code rv;
	size_t len;

	snprintf(path, sizeof path, "%s/identity", dir);
	rv = util_read_file(path, &text, &len, &st);
	if (rv == SHOAL_OK) {
		len = strcspn(text, "\r\n");
		text[len] = '\0';
		if (util_check_name("worker", text, &st) != SHOAL_OK) {
			fprintf(stderr, "shoal-worker: %s is corrupt: %s\n", path, st.msg);
			free(text);
			return 1;
		}
		if (flag_name != NULL && strcmp(flag_name, text) != 0) {
			fprintf(stderr,
			    "shoal-worker: --name %s contradicts this data dir's identity '%s' (%s);\n"
			    "the name is fixed at the first start: drop --name or pass --name %s\n",
			    flag_name, text, path, text);
			free(text);
			return 2;
		}
		snprintf(name, 64, "%s", text);
		free(text);
		return -1;
	}
	if (rv != SHOAL_NOT_FOUND) {
		fprintf(stderr, "shoal-worker: %s\n", st.msg);
		return 1;
	}
	if (flag_name != NULL) {
		snprintf(name, 64, "%s", flag_name);
	} else {
		char hex[9];
		util_random_hex(hex, 4);
		snprintf(name, 64, "w-%s", hex);
	}
	snprintf(line, sizeof line, "%s\n", name);
	if (util_write_file_atomic(path, line, strlen(line), &st) != SHOAL_OK) {
		fprintf(stderr, "shoal-worker: cannot store the identity: %s\n", st.msg);
		return 1;
	}
	return -1;
}

/* The URL to register: --advertise, else the listen URL with the bound
 * port (listen port 0) and a wildcard host replaced by 127.0.0.1 (a
 * wildcard is not dialable; multi-host setups must pass --advertise).
 * Caller frees. */
static char *
advertised_url(const char *listen, const char *advertise, int port)
{
	const char *sep = strstr(listen, "://"), *host, *colon;
	char *out;
	size_t need;

	if (advertise != NULL)
		return xstrdup(advertise);
	if (sep == NULL || (strncmp(listen, "tcp://", 6) != 0 && strncmp(listen, "tls+tcp://", 10) != 0))
		return xstrdup(listen);
	host = sep + 3;
	colon = strrchr(host, ':');
	if (colon == NULL || port <= 0)
		return xstrdup(listen);
	need = (size_t)(colon - listen) + 32;
	out = xmalloc(need);
	if ((colon == host) || (colon - host == 1 && host[0] == '*') ||
	    (colon - host == 7 && strncmp(host, "0.0.0.0", 7) == 0) ||
	    (colon - host == 4 && strncmp(host, "[::]", 4) == 0)) {
		log_warn("listening on all interfaces; advertising 127.0.0.1 -- pass --advertise "
			 "for other hosts");
		snprintf(out, need, "%.*s127.0.0.1:%d", (int)(host - listen), listen, port);
	} else {
		snprintf(out, need, "%.*s:%d", (int)(colon - listen), listen, port);
	}
	return out;
}

/* Sleeps ms or until stopping; returns true when stopping. */
static bool
wait_stop(worker *w, uint32_t ms)
{
	return !bgloop_nap(&w->mu, &w->cv, &w->stopping, ms, false);
}

/* Requests served, for the heartbeat's request rate; counted by the rpc
 * server's observer hook next to the metrics. */
static atomic_uint_fast64_t requests_served;

static void
observe_request(void *arg, unsigned method, const char *name, shoal_code code, uint64_t micros)
{
	obs_rpc_observe(arg, method, name, code, micros);
	atomic_fetch_add_explicit(&requests_served, 1, memory_order_relaxed);
}

/* Resident memory of this process (0 when /proc is not there). */
static uint64_t
resident_bytes(void)
{
	unsigned long size = 0, rss = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	if (f == NULL)
		return 0;
	if (fscanf(f, "%lu %lu", &size, &rss) != 2)
		rss = 0;
	fclose(f);
	return (uint64_t)rss * (uint64_t)sysconf(_SC_PAGESIZE);
}

static void *
heartbeat_main(void *arg)
{
	worker *w = arg;
	/* short: a dead coordinator must not stretch the period (or shutdown) much */
	rpc_client_opts copts = {.timeout_ms = 1000, .auth_token = w->secret, .tls = w->tls};
	rpc_client *c = NULL;
	shoal_status st;
	bool up = false, warned = false;
	uint64_t prev_ms = 0, prev_served = 0;

	if (rpc_client_open(w->coordinator, &shoal__coordinator__descriptor, &copts, &c, &st) !=
	    SHOAL_OK) {
		log_error("heartbeat: %s; not registering", st.msg); /* flags checked the URL */
		return NULL;
	}
	do {
		Shoal__RegisterWorkerRequest req = SHOAL__REGISTER_WORKER_REQUEST__INIT;
		rpc_result res = {0};
		uint64_t points, bytes;
		uint32_t shards;

		shard_service_totals(w->svc, &points, &bytes, &shards);
		req.name = w->name;
		req.url = w->url;
		req.points = points;
		req.bytes = bytes;
		req.shards = shards;
		/* load for `shoal status` and the status page: memory and the
		 * request rate since the previous heartbeat */
		uint64_t now_ms = util_mono_ms(), served = atomic_load(&requests_served);
		req.memory_bytes = resident_bytes();
		if (prev_ms != 0 && now_ms > prev_ms)
			req.requests_per_sec = (double)(served - prev_served) * 1000.0 /
			    (double)(now_ms - prev_ms);
		prev_ms = now_ms;
		prev_served = served;
		RPC_INVOKE(shoal__coordinator__register_worker, rpc_client_service(c), &req, &res);
		if (res.status.code == SHOAL_OK) {
			if (!up)
				log_info("registered with coordinator %s as %s (%s)", w->coordinator,
				    w->name, w->url);
			up = true;
			warned = false;
		} else {
			if (up || !warned)
				log_warn("coordinator %s: RegisterWorker failed: %s: %s; retrying every "
					 "%d ms",
				    w->coordinator, shoal_code_name(res.status.code), res.status.msg,
				    HEARTBEAT_MS);
			up = false;
			warned = true;
		}
		rpc_result_free(&res);
	} while (!wait_stop(w, HEARTBEAT_MS));
	rpc_client_close(c);
	return NULL;
}

/* shoal_faiss_set_interrupt's callback: arg is the worker's cancel flag. */
static int
cancel_requested(void *arg)
{
	return atomic_load((atomic_bool *)arg);
}

static void *
maintain_main(void *arg)
{
	worker *w = arg;

	while (!wait_stop(w, MAINTAIN_MS))
		shard_service_maintain(w->svc, &w->cancel);
	return NULL;
}

int
main(int argc, char **argv)
{
	worker_cfg cfg;
	worker w = {0};
	rowstore_opts ropts = {0};
	rowstore *rs = NULL;
	rpc_server *srv = NULL;
	rpc_server_opts sopts = {0};
	metrics_registry *metrics = NULL;
	obs_rpc *orpc = NULL;
	httpd *http = NULL;
	pthread_t hb, mt;
	sigset_t sigs;
	shoal_status st;
	char tag[80];
	int rc, sig;

	if ((rc = config_merge_args("shoal-worker", argc, argv, "worker", worker_config_keys,
	         sizeof worker_config_keys / sizeof worker_config_keys[0], &merged_argc,
	         &merged_argv)) != 0)
		return rc;
	if ((rc = parse_flags(merged_argc, merged_argv, &cfg)) >= 0)
		return rc;
	if (cfg.restore != NULL) {
		/* offline, before anything else: nothing may use DATA */
		char rname[64];
		uint64_t rpoints;
		if (worker_backup_restore(cfg.restore, cfg.data, cfg.name, rname, &rpoints, &st) !=
		    SHOAL_OK) {
			fprintf(stderr, "shoal-worker: restore from %s failed: %s\n", cfg.restore, st.msg);
			return st.code == SHOAL_INVALID_ARGUMENT ? 2 : 1;
		}
		printf("restored worker %s (%" PRIu64 " points at backup time) into %s\n", rname,
		    rpoints, cfg.data);
		return 0;
	}
	/* before anything touches DATA: bad certificate files or a bad secret
	 * change nothing */
	if (rpc_tls_check_daemon(cfg.listen, &cfg.tls, &st) != SHOAL_OK) {
		fprintf(stderr, "shoal-worker: %s\n", st.msg);
		return 2;
	}
	if (cfg.advertise != NULL && rpc_url_is_tls(cfg.advertise) != rpc_url_is_tls(cfg.listen)) {
		fprintf(stderr, "shoal-worker: --advertise %s and --listen %s must both be tls+tcp:// "
				"or both not: the coordinator dials what is advertised\n",
		    cfg.advertise, cfg.listen);
		return 2;
	}
	if (rpc_url_is_tls(cfg.coordinator) && rpc_tls_check(&cfg.tls, false, &st) != SHOAL_OK) {
		fprintf(stderr, "shoal-worker: --coordinator %s: %s\n", cfg.coordinator, st.msg);
		return 2;
	}
	char *secret = NULL;
	bool loose = false;
	if (cfg.secret_file != NULL &&
	    auth_read_secret_file(cfg.secret_file, "cluster secret", &secret, &loose, &st) !=
		SHOAL_OK) {
		fprintf(stderr, "shoal-worker: --cluster-secret-file: %s\n", st.msg);
		return st.code == SHOAL_INVALID_ARGUMENT ? 2 : 1;
	}
	if (util_mkdir_p(cfg.data, &st) != SHOAL_OK) {
		fprintf(stderr, "shoal-worker: --data: %s\n", st.msg);
		return 1;
	}
	if ((rc = settle_identity(cfg.data, cfg.name, w.name)) >= 0)
		return rc;
	snprintf(tag, sizeof tag, "worker[%s]", w.name);
	log_init(tag, (log_level)cfg.log_level);
	if (cfg.secret_file != NULL) {
		if (loose)
			log_warn("cluster secret file %s is readable by group or others; "
				 "chmod 600 it", cfg.secret_file);
	} else {
		log_warn("no --cluster-secret-file: this worker accepts requests from anyone who "
			 "can reach %s (development only; docs/security.md)", cfg.listen);
	}
	w.secret = secret;
	w.tls = &cfg.tls;

	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	ropts.sync = cfg.sync;
	ropts.min_free_bytes = cfg.min_free;
	if (rowstore_open(cfg.data, &ropts, &rs, &st) != SHOAL_OK) {
		log_error("%s", st.msg);
		return 1;
	}
	char snap_dir[4200];
	snprintf(snap_dir, sizeof snap_dir, "%s/index", cfg.data);
	shard_service_opts svc_opts = {.snap_dir = snap_dir, .memory_budget = cfg.memory_budget,
	    .no_coll_graphs = !cfg.coll_graphs};
	if (shard_service_create_opts(w.name, rs, &svc_opts, &w.svc, &st) != SHOAL_OK) {
		log_error("%s", st.msg);
		rowstore_close(rs);
		return 1;
	}
	sopts.threads = cfg.threads;
	sopts.max_concurrent = cfg.max_concurrent;
	/* Over tls+tcp:// (nng): worker handlers never wait on nng (no rpc
	 * calls inside a handler), so they may run on nng's task threads: one
	 * hand-off less per request (rpc.h, inline_dispatch).  Keep it that
	 * way, or turn this off.  Over tcp:// it changes nothing (handlers
	 * always run on their connection's thread). */
	sopts.inline_dispatch = true;
	/* Metrics (docs/operations.md): rpc counters and latencies through the
	 * server's observer hook; the worker's numbers read at scrape time. */
	metrics = metrics_new();
	orpc = obs_rpc_new(metrics, &shoal__worker__descriptor);
	obs_process_register(metrics, "worker", SHOAL_VERSION_STRING);
	worker_obs_register(metrics, w.svc);
	sopts.observe = observe_request;
	sopts.observe_arg = orpc;
	/* node authentication: only the coordinator knows the secret */
	sopts.authorize = auth_require_secret;
	sopts.authorize_arg = secret;
	sopts.tls = &cfg.tls;
	if (rpc_server_start(cfg.listen, shard_service_rpc(w.svc), &sopts, &srv, &st) != SHOAL_OK) {
		log_error("cannot listen on %s: %s", cfg.listen, st.msg);
		shard_service_destroy(w.svc);
		rowstore_close(rs);
		return 1;
	}
	if (cfg.http_listen != NULL &&
	    (httpd_create(cfg.http_listen, &http, &st) != SHOAL_OK ||
	        httpd_handle(http, "/metrics", obs_metrics_handler, metrics, &st) != SHOAL_OK ||
	        httpd_start(http, &st) != SHOAL_OK)) {
		log_error("--http-listen %s: %s", cfg.http_listen, st.msg);
		httpd_stop(http);
		rpc_server_stop(srv);
		shard_service_destroy(w.svc);
		rowstore_close(rs);
		return 1;
	}
	w.url = advertised_url(cfg.listen, cfg.advertise, rpc_server_port(srv));
	w.coordinator = cfg.coordinator;
	{
		uint64_t points;
		uint32_t shards;
		shard_service_totals(w.svc, &points, NULL, &shards);
		char budget[48] = "";
		if (cfg.memory_budget > 0)
			snprintf(budget, sizeof budget, ", index memory budget %" PRIu64 " MiB",
			    cfg.memory_budget >> 20);
		log_info("shoal-worker %s listening on %s (advertised %s), data %s, %u shards, "
			 "%" PRIu64 " points%s%s%s",
		    SHOAL_VERSION_STRING, cfg.listen, w.url, cfg.data, shards, points,
		    cfg.sync ? ", sync writes" : "", budget,
		    cfg.coll_graphs ? "" : ", no collection graphs");
	}
	char http_url[600] = "";
	if (http != NULL) {
		char host[512];
		httpd_addr_host(cfg.http_listen, host, sizeof host);
		snprintf(http_url, sizeof http_url, "http://%s:%d", host, httpd_port(http));
		log_info("metrics on %s/metrics", http_url);
	}
	if (cfg.ready_file != NULL) {
		char line[4800];
		snprintf(line, sizeof line, "%s\n%s%s", w.url, http_url, http_url[0] ? "\n" : "");
		if (util_write_file_atomic(cfg.ready_file, line, strlen(line), &st) != SHOAL_OK)
			log_error("--ready-file: %s", st.msg); /* keep serving; tests will time out */
	}

	pthread_mutex_init(&w.mu, NULL);
	pthread_cond_init(&w.cv, NULL);
	shoal_faiss_set_interrupt(cancel_requested, &w.cancel); /* builds stop at shutdown */
	pthread_create(&hb, NULL, heartbeat_main, &w);
	pthread_create(&mt, NULL, maintain_main, &w);

	while (sigwait(&sigs, &sig) != 0)
		;
	log_info("%s received: shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");

	pthread_mutex_lock(&w.mu);
	w.stopping = true;
	atomic_store(&w.cancel, true);
	pthread_cond_broadcast(&w.cv);
	pthread_mutex_unlock(&w.mu);
	pthread_join(hb, NULL);
	pthread_join(mt, NULL); /* a running rebuild finishes first */
	httpd_stop(http); /* its handlers read the service */
	rpc_server_stop(srv);
	{
		/* no handler runs now: snapshot what the next start would replay */
		uint64_t t0 = util_mono_ms();
		unsigned nsnap = shard_service_checkpoint(w.svc);
		if (nsnap > 0)
			log_info("%u index snapshots written in %" PRIu64 " ms", nsnap,
			    util_mono_ms() - t0);
	}
	shard_service_destroy(w.svc);
	rowstore_close(rs);
	obs_rpc_free(orpc);
	metrics_free(metrics);
	config_free_merged(merged_argc, merged_argv);
	free(w.url);
	free(secret);
	pthread_cond_destroy(&w.cv);
	pthread_mutex_destroy(&w.mu);
	log_info("stopped");
	return 0;
}
