/* main.c -- shoal-coordinator: flags, startup, shutdown.
 *
 * Startup: parse flags -> open the catalog (DATA/catalog) -> create the
 * router -> listen -> write the ready file (the listen URL with the bound
 * port, atomically) -> wait for SIGTERM/SIGINT.  Shutdown: stop the server
 * (waits for running handlers), free the router, close the catalog, exit 0.
 *
 * Signals are blocked before any thread starts, so every thread (ours and
 * nng's) inherits the mask and only the main thread's sigwait() sees them.
 *
 * Exit codes: 0 clean stop, 1 runtime failure (catalog, listen), 2 bad flags.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "log.h"
#include "router.h"
#include "rpc.h"
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
	    "  --log-level LEVEL       debug|info|warn|error (default info)\n"
	    "  --ready-file PATH       once listening, write the listen URL (with the bound\n"
	    "                          port) to PATH atomically\n"
	    "  --help                  this text\n"
	    "  --version               print the version\n",
	    DEFAULT_THREADS, ROUTER_DEFAULT_WORKER_TIMEOUT_MS);
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

int
main(int argc, char **argv)
{
	const char *listen = DEFAULT_LISTEN, *data = NULL, *ready = NULL;
	uint32_t worker_timeout = ROUTER_DEFAULT_WORKER_TIMEOUT_MS;
	int threads = DEFAULT_THREADS, level = LOG_INFO;
	shoal_status st;

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
		} else if (strcmp(name, "--log-level") == 0) {
			if ((level = log_level_parse(v)) < 0)
				return bad_flag("--log-level '%s' is not one of debug, info, warn, "
				    "error%s", v, "");
		} else if (strcmp(name, "--ready-file") == 0) {
			if (v[0] == '\0')
				return bad_flag("--ready-file must not be empty%s%s", "", "");
			ready = v;
		} else {
			return bad_flag("unknown flag '%s'%s", name, "");
		}
	}
	if (data == NULL)
		return bad_flag("--data DIR is required%s%s", "", "");

	log_init("coordinator", (log_level)level);

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
	rpc_server *srv = NULL;
	char *url = NULL;
	int rc = 1;

	if (util_mkdir_p(data, &st) != SHOAL_OK || catalog_open(catpath, &cat, &st) != SHOAL_OK) {
		log_error("%s", st.msg);
		goto out;
	}
	router_opts ro = {.worker_timeout_ms = worker_timeout};
	if (router_create(cat, &ro, &rt, &st) != SHOAL_OK) {
		log_error("%s", st.msg);
		goto out;
	}
	rpc_server_opts so = {.threads = threads};
	if (rpc_server_start(listen, router_service(rt), &so, &srv, &st) != SHOAL_OK) {
		log_error("cannot listen on %s: %s", listen, st.msg);
		goto out;
	}
	url = bound_url(listen, rpc_server_port(srv));
	if (ready != NULL) {
		/* one line, like the worker's ready file */
		size_t n = strlen(url);
		char *line = xmalloc(n + 2);
		memcpy(line, url, n);
		line[n] = '\n';
		line[n + 1] = '\0';
		shoal_code wrv = util_write_file_atomic(ready, line, n + 1, &st);
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
	rpc_server_stop(srv);
	router_destroy(rt);
	catalog_close(cat);
	free(url);
	free(catpath);
	if (rc == 0)
		log_info("stopped");
	return rc;
}
