/* main.c -- shoal-coordinator: flags, startup, shutdown.
 *
 * Startup: parse flags -> open the catalog (DATA/catalog) -> create the
 * router and the import manager -> listen -> write the ready file (the
 * listen URL with the bound port, atomically) -> wait for SIGTERM/SIGINT.
 * Shutdown: stop the server (waits for running handlers), stop running
 * imports (they stay resumable), free the router, close the catalog,
 * exit 0.
 *
 * Signals are blocked before any thread starts, so every thread (ours and
 * nng's) inherits the mask and only the main thread's sigwait() sees them.
 *
 * Exit codes: 0 clean stop, 1 runtime failure (catalog, listen), 2 bad flags
 * (and bad TLS certificate, key or CA files, checked before anything starts).
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "backup.h"
#include "catalog.h"
#include "config.h"
#include "httpd.h"
#include "keys.h"
#include "reqlimits.h"
#include "log.h"
#include "metrics.h"
#include "obs.h"
#include "overview.h"
#include "pg_import.h"
#include "reclaim.h"
#include "router.h"
#include "rpc.h"
#include "shoal.pb-c.h"
#include "util.h"

#ifndef SHOAL_VERSION_STRING
#define SHOAL_VERSION_STRING "0.1.0"
#endif

#define DEFAULT_LISTEN "tcp://127.0.0.1:7700"
#define DEFAULT_THREADS 16

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: shoal-coordinator --data DIR [options]\n"
	    "\n"
	    "  --data DIR              catalog directory (required; created if missing)\n"
	    "  --listen URL            address to serve clients and workers on\n"
	    "                          (default " DEFAULT_LISTEN "; port 0 picks a free port)\n"
	    "  --threads N             concurrent request handlers, 1..1024 (default %d;\n"
	    "                          handlers block on worker calls)\n"
	    "  --worker-timeout-ms MS  a worker is down after MS without a heartbeat\n"
	    "                          (default %u)\n"
	    "  --reclaim-interval-ms MS\n"
	    "                          look for orphan shards (left on workers by creates\n"
	    "                          interrupted before the catalog commit) at start and\n"
	    "                          every MS (default %u; 0 = never)\n"
	    "  --reclaim-grace-ms MS   drop an orphan shard once nothing has named it for MS\n"
	    "                          and two sweeps (default %u; docs/operations.md)\n"
	    "  --log-level LEVEL       debug|info|warn|error (default info)\n"
	    "  --http-listen ADDR      serve the status page (http://ADDR/), /status.json and\n"
	    "                          Prometheus /metrics; ADDR = HOST:PORT (port 0 picks\n"
	    "                          a free port; default: off)\n"
	    "  --cluster-secret-file PATH\n"
	    "                          the cluster secret (one line, >= 16 bytes; the same\n"
	    "                          file on every daemon): sent to workers with every\n"
	    "                          request, required of RegisterWorker (else\n"
	    "                          UNAUTHENTICATED; docs/security.md).  Without it any\n"
	    "                          process can register as a worker (development)\n"
	    "  --admin-key-file PATH   the admin key (one line, >= 16 bytes): every client\n"
	    "                          request must carry it or a tenant API key (the CLI\n"
	    "                          sends $SHOAL_TOKEN), else UNAUTHENTICATED\n"
	    "                          (docs/security.md).  Without it the coordinator is\n"
	    "                          open to anyone (development)\n"
	    "  --tls-cert FILE         PEM certificate for a tls+tcp:// --listen URL, also\n"
	    "                          presented to workers that require client\n"
	    "                          certificates (deploy/make-certs.sh makes test ones)\n"
	    "  --tls-key FILE          its unencrypted PEM private key\n"
	    "  --tls-ca FILE           PEM CA that verifies workers at tls+tcp:// URLs (and,\n"
	    "                          with --tls-require-client-cert, client certificates)\n"
	    "  --tls-require-client-cert[=BOOL]\n"
	    "                          refuse TLS connections (clients, workers) without a\n"
	    "                          certificate signed by --tls-ca (default off)\n"
	    "  --max-concurrent N      serve at most N requests at once (instead of\n"
	    "                          --threads) and answer more at once with\n"
	    "                          RESOURCE_EXHAUSTED \"too many concurrent requests\"\n"
	    "                          instead of queueing them (default 0: off)\n"
	    "  --max-batch N           most points in an Upsert and ids in a Get or Delete\n"
	    "                          request (default %u; larger: INVALID_ARGUMENT)\n"
	    "  --max-k N               largest Search k, 1..%u (default %u)\n"
	    "  --max-ef-search N       largest Search ef_search (default %u)\n"
	    "  --max-dim N             largest collection dimension, 1..%u (default %u)\n"
	    "  --config FILE           read settings from FILE first (docs/operations.md);\n"
	    "                          flags given here override it.  A bad file: exit 2\n"
	    "  --restore BACKUP        offline: restore the catalog of the cluster backup in\n"
	    "                          BACKUP (shoal backup create) into --data DIR, which must\n"
	    "                          not hold a catalog yet, then exit (docs/operations.md)\n"
	    "  --ready-file PATH       once listening, write the listen URL (with the bound\n"
	    "                          port) to PATH atomically\n"
	    "  --help                  this text\n"
	    "  --version               print the version\n",
	    DEFAULT_THREADS, ROUTER_DEFAULT_WORKER_TIMEOUT_MS, RECLAIM_DEFAULT_INTERVAL_MS,
	    RECLAIM_DEFAULT_GRACE_MS, REQLIMITS_DEFAULT_MAX_BATCH,
	    ROUTER_MAX_K, ROUTER_MAX_K, REQLIMITS_DEFAULT_MAX_EF_SEARCH, ROUTER_MAX_DIM, ROUTER_MAX_DIM);
}

static int
bad_flag(const char *fmt, const char *a, const char *b)
{
	fprintf(stderr, "shoal-coordinator: ");
	fprintf(stderr, fmt, a, b);
	fprintf(stderr, "\n(see shoal-coordinator --help)\n");
	return 2;
}

/* The URL others should dial: the listen URL with port 0 replaced by the
 * bound port.  Caller frees. */
static char *
bound_url(const char *url, int port)
{
	const char *sep = strstr(url, "://");
	const char *colon = strrchr(url, ':');
	char *out;

	if (port <= 0 || sep == NULL || colon == NULL || colon < sep + 3 ||
	    (strncmp(url, "tcp", 3) != 0 && strncmp(url, "tls+tcp", 7) != 0))
		return xstrdup(url);
	size_t head = (size_t)(colon - url);
	out = xmalloc(head + 16);
	snprintf(out, head + 16, "%.*s:%d", (int)head, url, port);
	return out;
}

/* ---- --config FILE (common/config.h) ------------------------------------
 * Every long flag except --help, --version and --config is a config key.
 * KEEP IN SYNC with the flags in main(): it_config checks that every flag
 * in --help is accepted as a key. */

static const config_key coordinator_config_keys[] = {
    {"listen", CONFIG_STRING, 0, 0, config_check_url},
    {"data", CONFIG_STRING, 0, 0, NULL},
    {"threads", CONFIG_INT, 1, 1024, NULL},
    {"worker-timeout-ms", CONFIG_INT, 1, UINT32_MAX, NULL},
    {"reclaim-interval-ms", CONFIG_INT, 0, UINT32_MAX, NULL},
    {"reclaim-grace-ms", CONFIG_INT, 0, UINT32_MAX, NULL},
    {"log-level", CONFIG_STRING, 0, 0, config_check_log_level},
    {"ready-file", CONFIG_STRING, 0, 0, NULL},
    {"http-listen", CONFIG_STRING, 0, 0, httpd_addr_valid},
    {"cluster-secret-file", CONFIG_STRING, 0, 0, NULL},
    {"admin-key-file", CONFIG_STRING, 0, 0, NULL},
    {"max-concurrent", CONFIG_INT, 0, 100000, NULL},
    {"max-batch", CONFIG_INT, 1, 100000000, NULL},
    {"max-k", CONFIG_INT, 1, ROUTER_MAX_K, NULL},
    {"max-ef-search", CONFIG_INT, 1, 1000000, NULL},
    {"max-dim", CONFIG_INT, 1, ROUTER_MAX_DIM, NULL},
    {"tls-cert", CONFIG_STRING, 0, 0, NULL},
    {"tls-key", CONFIG_STRING, 0, 0, NULL},
    {"tls-ca", CONFIG_STRING, 0, 0, NULL},
    {"tls-require-client-cert", CONFIG_BOOL, 0, 0, NULL},
};

/* Everything a client request passes before its handler: who may call
 * it (keys.c), then the request limits (reqlimits.c). */
typedef struct coordinator_gate {
	keys_auth auth;
	reqlimits lim;
} coordinator_gate;

static shoal_code
gate_request(void *arg, const char *method, const char *token, const ProtobufCMessage *input,
    shoal_status *st)
{
	coordinator_gate *g = arg;
	shoal_code rv = keys_authorize(&g->auth, method, token, input, st);
	if (rv != SHOAL_OK)
		return rv;
	return reqlimits_check(&g->lim, method, input, st);
}

/* --max-*: a number in 1..max (the messages name ROUTER_MAX_K = 10000 and
 * ROUTER_MAX_DIM = 16000; keep them in step). */
static bool
limit_flag(const char *v, uint32_t max, uint32_t *out)
{
	return util_parse_u32(v, out) && *out >= 1 && *out <= max;
}



/* File settings then flags; the option strings point into it, so it lives
 * as long as the process. */
static char **merged_argv;
static int merged_argc;

int
main(int argc, char **argv)
{
	const char *listen = DEFAULT_LISTEN, *data = NULL, *ready = NULL;
	uint32_t worker_timeout = ROUTER_DEFAULT_WORKER_TIMEOUT_MS;
	uint32_t reclaim_interval = RECLAIM_DEFAULT_INTERVAL_MS;
	uint32_t reclaim_grace = RECLAIM_DEFAULT_GRACE_MS;
	int threads = DEFAULT_THREADS, level = LOG_INFO, max_concurrent = 0;
	const char *http_listen = NULL, *restore = NULL, *secret_file = NULL, *admin_file = NULL;
	char *secret = NULL, *admin_key = NULL;
	reqlimits lim = {.max_batch = REQLIMITS_DEFAULT_MAX_BATCH, .max_k = ROUTER_MAX_K,
	    .max_ef_search = REQLIMITS_DEFAULT_MAX_EF_SEARCH, .max_dim = ROUTER_MAX_DIM};
	rpc_tls_options tls = {0}; /* strings point into merged_argv */
	shoal_status st;

	int crc = config_merge_args("shoal-coordinator", argc, argv, "coordinator",
	    coordinator_config_keys, sizeof coordinator_config_keys / sizeof coordinator_config_keys[0],
	    &merged_argc, &merged_argv);
	if (crc != 0)
		return crc;
	argc = merged_argc; /* from here on: file settings, then flags */
	argv = merged_argv;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = NULL;
		const char *eq = strchr(a, '=');
		char name[64];

		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(stdout);
			return 0;
		}
		if (strcmp(a, "--version") == 0) {
			printf("shoal-coordinator %s\n", SHOAL_VERSION_STRING);
			return 0;
		}
		if (strncmp(a, "--", 2) != 0)
			return bad_flag("unexpected argument '%s'%s", a, "");
		/* the one boolean flag: bare (as config_to_args writes a true
		 * one) or --flag=BOOL */
		if (strncmp(a, "--tls-require-client-cert", 25) == 0 && (a[25] == '\0' || a[25] == '=')) {
			tls.require_client_cert = true;
			if (a[25] == '=' && !config_parse_bool(a + 26, &tls.require_client_cert))
				return bad_flag("--tls-require-client-cert '%s' is not true or false%s",
				    a + 26, "");
			continue;
		}
		/* --flag=value or --flag value */
		if (eq != NULL) {
			snprintf(name, sizeof name, "%.*s", (int)(eq - a), a);
			v = eq + 1;
		} else {
			snprintf(name, sizeof name, "%s", a);
			if (i + 1 >= argc)
				return bad_flag("flag %s needs a value%s", a, "");
			v = argv[++i];
		}
		if (strcmp(name, "--listen") == 0) {
			if (!rpc_url_valid(v))
				return bad_flag("--listen '%s' is not a valid URL%s "
				    "(expected tcp://host:port, tls+tcp://host:port or ipc://path)", v, "");
			listen = v;
		} else if (strcmp(name, "--data") == 0) {
			if (v[0] == '\0')
				return bad_flag("--data must not be empty%s%s", "", "");
			data = v;
		} else if (strcmp(name, "--threads") == 0) {
			if (!util_parse_int(v, &threads) || threads < 1 || threads > 1024)
				return bad_flag("--threads '%s' is not a number in 1..1024%s", v, "");
		} else if (strcmp(name, "--worker-timeout-ms") == 0) {
			if (!util_parse_u32(v, &worker_timeout) || worker_timeout == 0)
				return bad_flag("--worker-timeout-ms '%s' is not a positive number of "
				    "milliseconds%s", v, "");
		} else if (strcmp(name, "--reclaim-interval-ms") == 0) {
			if (!util_parse_u32(v, &reclaim_interval))
				return bad_flag("--reclaim-interval-ms '%s' is not a number of milliseconds "
				    "(0 = never reclaim orphan shards)%s", v, "");
		} else if (strcmp(name, "--reclaim-grace-ms") == 0) {
			if (!util_parse_u32(v, &reclaim_grace))
				return bad_flag("--reclaim-grace-ms '%s' is not a number of milliseconds%s",
				    v, "");
		} else if (strcmp(name, "--log-level") == 0) {
			if ((level = log_level_parse(v)) < 0)
				return bad_flag("--log-level '%s' is not one of debug, info, warn, "
				    "error%s", v, "");
		} else if (strcmp(name, "--restore") == 0) {
			if (v[0] == '\0')
				return bad_flag("--restore needs a backup directory%s%s", "", "");
			restore = v;
		} else if (strcmp(name, "--http-listen") == 0) {
			char why[128];
			if (!httpd_addr_valid(v, why, sizeof why))
				return bad_flag("--http-listen '%s': %s", v, why);
			http_listen = v;
		} else if (strcmp(name, "--cluster-secret-file") == 0) {
			if (v[0] == '\0')
				return bad_flag("--cluster-secret-file must not be empty%s%s", "", "");
			secret_file = v;
		} else if (strcmp(name, "--max-concurrent") == 0) {
			if (!util_parse_int(v, &max_concurrent) || max_concurrent < 0 ||
			    max_concurrent > 100000)
				return bad_flag("--max-concurrent '%s' is not a number in 0..100000%s", v, "");
		} else if (strcmp(name, "--max-batch") == 0) {
			if (!limit_flag(v, 100000000, &lim.max_batch))
				return bad_flag("--max-batch '%s' is not a number in 1..100000000%s", v, "");
		} else if (strcmp(name, "--max-k") == 0) {
			if (!limit_flag(v, ROUTER_MAX_K, &lim.max_k))
				return bad_flag("--max-k '%s' is not a number in 1..%s", v, "10000");
		} else if (strcmp(name, "--max-ef-search") == 0) {
			if (!limit_flag(v, 1000000, &lim.max_ef_search))
				return bad_flag("--max-ef-search '%s' is not a number in 1..1000000%s", v,
				    "");
		} else if (strcmp(name, "--max-dim") == 0) {
			if (!limit_flag(v, ROUTER_MAX_DIM, &lim.max_dim))
				return bad_flag("--max-dim '%s' is not a number in 1..%s", v, "16000");
		} else if (strcmp(name, "--admin-key-file") == 0) {
			if (v[0] == '\0')
				return bad_flag("--admin-key-file must not be empty%s%s", "", "");
			admin_file = v;
		} else if (strcmp(name, "--ready-file") == 0) {
			if (v[0] == '\0')
				return bad_flag("--ready-file must not be empty%s%s", "", "");
			ready = v;
		} else if (strcmp(name, "--tls-cert") == 0 || strcmp(name, "--tls-key") == 0 ||
		    strcmp(name, "--tls-ca") == 0) {
			if (v[0] == '\0')
				return bad_flag("%s must not be empty%s", name, "");
			if (strcmp(name, "--tls-cert") == 0)
				tls.cert_file = v;
			else if (strcmp(name, "--tls-key") == 0)
				tls.key_file = v;
			else
				tls.ca_file = v;
		} else {
			return bad_flag("unknown flag '%s'%s", name, "");
		}
	}
	if (data == NULL)
		return bad_flag("--data DIR is required%s%s", "", "");
	if (restore != NULL) {
		/* offline, before anything else starts: nothing may use DATA */
		Shoal__BackupInfo bi;
		log_init("coordinator", (log_level)level);
		if (backup_restore_coordinator(restore, data, &bi, &st) != SHOAL_OK) {
			fprintf(stderr, "shoal-coordinator: restore from %s failed: %s\n", restore, st.msg);
			return 1;
		}
		printf("restored the catalog of %s into %s/catalog: %u tenants, %u collections, "
		       "epoch %llu; versions continue above %llu.\n",
		    restore, data, bi.tenants, bi.collections, (unsigned long long)bi.epoch,
		    (unsigned long long)bi.version_floor);
		printf("restore each worker with: shoal-worker --restore %s/workers/NAME --data DIR\n",
		    restore);
		for (size_t i = 0; i < bi.n_workers; i++)
			printf("  worker %s: %llu points, %u shards\n", bi.workers[i]->name,
			    (unsigned long long)bi.workers[i]->points, bi.workers[i]->shards);
		backup_info_clear(&bi);
		config_free_merged(merged_argc, merged_argv);
		return 0;
	}

	log_init("coordinator", (log_level)level);
	/* certificate files: checked now, so a bad one stops the start (exit 2)
	 * instead of failing every handshake later */
	if (rpc_tls_check_daemon(listen, &tls, &st) != SHOAL_OK) {
		log_error("%s", st.msg);
		config_free_merged(merged_argc, merged_argv);
		return 2;
	}
	if (secret_file != NULL) {
		bool loose = false;
		if (auth_read_secret_file(secret_file, "cluster secret", &secret, &loose, &st) !=
		    SHOAL_OK) {
			log_error("--cluster-secret-file: %s", st.msg);
			config_free_merged(merged_argc, merged_argv);
			return st.code == SHOAL_INVALID_ARGUMENT ? 2 : 1;
		}
		if (loose)
			log_warn("cluster secret file %s is readable by group or others; chmod 600 it",
			    secret_file);
	} else {
		log_warn("no --cluster-secret-file: any process that can reach %s may register "
			 "as a worker, and workers accept requests from anyone (development only; "
			 "docs/security.md)", listen);
	}
	if (admin_file != NULL) {
		bool loose = false;
		if (auth_read_secret_file(admin_file, "admin key", &admin_key, &loose, &st) !=
		    SHOAL_OK) {
			log_error("--admin-key-file: %s", st.msg);
			free(secret);
			config_free_merged(merged_argc, merged_argv);
			return st.code == SHOAL_INVALID_ARGUMENT ? 2 : 1;
		}
		if (loose)
			log_warn("admin key file %s is readable by group or others; chmod 600 it",
			    admin_file);
		if (secret != NULL && auth_equal(secret, admin_key)) {
			log_error("--admin-key-file: the admin key must differ from the cluster secret");
			free(secret);
			free(admin_key);
			config_free_merged(merged_argc, merged_argv);
			return 2;
		}
	} else {
		log_warn("no --admin-key-file: any client that can reach %s may run every "
			 "operation (development only; docs/security.md)", listen);
	}
	/* who may call what (keys.c; cat set once the catalog is open), then
	 * the request limits (reqlimits.c) */
	coordinator_gate gate = {.auth = {.secret = secret, .admin_key = admin_key}, .lim = lim};

	/* Before any thread exists: see the header comment. */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	size_t plen = strlen(data) + sizeof "/catalog";
	char *catpath = xmalloc(plen);
	snprintf(catpath, plen, "%s/catalog", data);
	catalog *cat = NULL;
	router *rt = NULL;
	pg_import *imp = NULL;
	rpc_server *srv = NULL;
	metrics_registry *metrics = NULL;
	obs_rpc *orpc = NULL;
	overview *ov = NULL;
	httpd *http = NULL;
	char http_url[600] = "";
	char *url = NULL;
	int rc = 1;

	if (util_mkdir_p(data, &st) != SHOAL_OK || catalog_open(catpath, &cat, &st) != SHOAL_OK) {
		log_error("%s", st.msg);
		goto out;
	}
	gate.auth.cat = cat;
	router_opts ro = {.worker_timeout_ms = worker_timeout, .auth_token = secret, .tls = &tls,
	    .reclaim_interval_ms = reclaim_interval, .reclaim_grace_ms = reclaim_grace};
	if (router_create(cat, &ro, &rt, &st) != SHOAL_OK) {
		log_error("%s", st.msg);
		goto out;
	}
	/* Import jobs call the router's service in process (pg_import.h). */
	if (pg_import_create(cat, router_service(rt), &imp, &st) != SHOAL_OK) {
		log_error("%s", st.msg);
		goto out;
	}
	router_set_importer(rt, imp);
	/* Metrics and the status page (docs/operations.md): rpc counters and
	 * latencies through the server's observer hook; cluster state read
	 * through the Coordinator service at each request (overview.c). */
	metrics = metrics_new();
	orpc = obs_rpc_new(metrics, &shoal__coordinator__descriptor);
	obs_process_register(metrics, "coordinator", SHOAL_VERSION_STRING);
	ov = overview_new(router_service(rt));
	overview_register_metrics(ov, metrics);
	rpc_server_opts so = {.threads = threads, .max_concurrent = max_concurrent,
	    .observe = obs_rpc_observe, .observe_arg = orpc,
	    .authorize_request = gate_request, .authorize_arg = &gate, .tls = &tls};
	if (rpc_server_start(listen, router_service(rt), &so, &srv, &st) != SHOAL_OK) {
		log_error("cannot listen on %s: %s", listen, st.msg);
		goto out;
	}
	url = bound_url(listen, rpc_server_port(srv));
	if (http_listen != NULL) {
		char host[512];
		if (httpd_create(http_listen, &http, &st) != SHOAL_OK ||
		    httpd_handle(http, "/metrics", obs_metrics_handler, metrics, &st) != SHOAL_OK ||
		    overview_register_http(ov, http, &st) != SHOAL_OK ||
		    httpd_start(http, &st) != SHOAL_OK) {
			log_error("--http-listen %s: %s", http_listen, st.msg);
			goto out;
		}
		httpd_addr_host(http_listen, host, sizeof host);
		snprintf(http_url, sizeof http_url, "http://%s:%d", host, httpd_port(http));
		log_info("status page on %s/, metrics on %s/metrics", http_url, http_url);
	}
	if (ready != NULL) {
		/* the listen URL; with --http-listen the HTTP URL on a second line */
		size_t n = strlen(url) + strlen(http_url) + 3;
		char *line = xmalloc(n);
		snprintf(line, n, "%s\n%s%s", url, http_url, http_url[0] ? "\n" : "");
		shoal_code wrv = util_write_file_atomic(ready, line, strlen(line), &st);
		free(line);
		if (wrv != SHOAL_OK) {
			log_error("cannot write ready file %s: %s", ready, st.msg);
			goto out;
		}
	}
	log_info("shoal-coordinator %s listening on %s (data %s, %d threads, worker timeout %u ms)",
	    SHOAL_VERSION_STRING, url, data, threads, worker_timeout);

	int sig = 0;
	sigwait(&sigs, &sig);
	log_info("received %s, stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	rc = 0;
out:
	httpd_stop(http); /* its handlers call into the router */
	rpc_server_stop(srv);
	pg_import_destroy(imp); /* stops running imports; they stay resumable */
	router_destroy(rt);
	overview_free(ov);
	obs_rpc_free(orpc);
	metrics_free(metrics);
	catalog_close(cat);
	free(url);
	free(catpath);
	free(secret);
	free(admin_key);
	if (rc == 0)
		log_info("stopped");
	config_free_merged(merged_argc, merged_argv);
	return rc;
}
