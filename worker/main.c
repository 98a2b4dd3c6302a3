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
 * Maintenance: every MAINTAIN_MS, rebuild indexes that passed their stale
 * threshold (shard_service_maintain); in its own thread so that a long
 * rebuild never delays heartbeats.
 *
 * Signals are blocked before any thread starts, so every thread (ours and
 * nng's) inherits the mask and only the main thread's sigwait() sees them.
 *
 * Exit codes: 0 clean stop, 1 runtime failure (data dir, rowstore, listen),
 * 2 bad flags (including a --name that contradicts the stored identity).
 */
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "rowstore.h"
#include "rpc.h"
#include "shard_service.h"
#include "shoal.pb-c.h"
#include "util.h"

#ifndef SHOAL_VERSION_STRING
#define SHOAL_VERSION_STRING "0.1.0"
#endif

#define DEFAULT_LISTEN "tcp://127.0.0.1:7701"
#define DEFAULT_COORDINATOR "tcp://127.0.0.1:7700"
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
} worker_cfg;

/* State shared with the background threads. */
typedef struct worker {
	char name[64];
	char *url; /* advertised */
	const char *coordinator;
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
	    "                       DIR/rows (RocksDB) and DIR/identity\n"
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
	    "  --log-level LEVEL    debug|info|warn|error (default info)\n"
	    "  --ready-file PATH    once listening, write the advertised URL to PATH atomically\n"
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

/* Returns -1 to go on, else the exit code. */
static int
parse_flags(int argc, char **argv, worker_cfg *cfg)
{
	enum { O_LISTEN = 256, O_DATA, O_COORD, O_NAME, O_ADVERTISE, O_THREADS, O_SYNC, O_LOG,
		O_READY, O_HELP, O_VERSION };
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
	struct timespec ts;
	bool stop;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&w->mu);
	while (!w->stopping && pthread_cond_timedwait(&w->cv, &w->mu, &ts) == 0)
		;
	stop = w->stopping;
	pthread_mutex_unlock(&w->mu);
	return stop;
}

static void *
heartbeat_main(void *arg)
{
	worker *w = arg;
	/* short: a dead coordinator must not stretch the period (or shutdown) much */
	rpc_client_opts copts = {.timeout_ms = 1000};
	rpc_client *c = NULL;
	shoal_status st;
	bool up = false, warned = false;

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
	pthread_t hb, mt;
	sigset_t sigs;
	shoal_status st;
	char tag[80];
	int rc, sig;

	if ((rc = parse_flags(argc, argv, &cfg)) >= 0)
		return rc;
	if (util_mkdir_p(cfg.data, &st) != SHOAL_OK) {
		fprintf(stderr, "shoal-worker: --data: %s\n", st.msg);
		return 1;
	}
	if ((rc = settle_identity(cfg.data, cfg.name, w.name)) >= 0)
		return rc;
	snprintf(tag, sizeof tag, "worker[%s]", w.name);
	log_init(tag, (log_level)cfg.log_level);

	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	ropts.sync = cfg.sync;
	if (rowstore_open(cfg.data, &ropts, &rs, &st) != SHOAL_OK) {
		log_error("%s", st.msg);
		return 1;
	}
	if (shard_service_create(w.name, rs, &w.svc, &st) != SHOAL_OK) {
		log_error("%s", st.msg);
		rowstore_close(rs);
		return 1;
	}
	sopts.threads = cfg.threads;
	/* Worker handlers never wait on nng (no rpc calls inside a handler), so
	 * they may run on nng's task threads: one hand-off less per request
	 * (rpc.h, inline_dispatch).  Keep it that way, or turn this off. */
	sopts.inline_dispatch = true;
	if (rpc_server_start(cfg.listen, shard_service_rpc(w.svc), &sopts, &srv, &st) != SHOAL_OK) {
		log_error("cannot listen on %s: %s", cfg.listen, st.msg);
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
		log_info("shoal-worker %s listening on %s (advertised %s), data %s, %u shards, "
			 "%" PRIu64 " points%s",
		    SHOAL_VERSION_STRING, cfg.listen, w.url, cfg.data, shards, points,
		    cfg.sync ? ", sync writes" : "");
	}
	if (cfg.ready_file != NULL) {
		char line[4200];
		snprintf(line, sizeof line, "%s\n", w.url);
		if (util_write_file_atomic(cfg.ready_file, line, strlen(line), &st) != SHOAL_OK)
			log_error("--ready-file: %s", st.msg); /* keep serving; tests will time out */
	}

	pthread_mutex_init(&w.mu, NULL);
	pthread_cond_init(&w.cv, NULL);
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
	rpc_server_stop(srv);
	shard_service_destroy(w.svc);
	rowstore_close(rs);
	free(w.url);
	pthread_cond_destroy(&w.cv);
	pthread_mutex_destroy(&w.mu);
	log_info("stopped");
	return 0;
}
