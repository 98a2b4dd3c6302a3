/* obs.c -- see obs.h.
 *
 * obs_rpc keeps a (methods + 1) x (codes) table of counter pointers and
 * one histogram per method, all registered up front; the observer hook
 * indexes the table and does two atomic adds and one CAS loop.  Error
 * series are hidden while zero (metrics_series_hide_zero), the OK series
 * of every method is always printed so that rate() has a baseline.
 */
#include "obs.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "rpc.h"
#include "util.h"

#define NCODES (SHOAL_UNAUTHENTICATED + 1)

struct obs_rpc {
	const ProtobufCServiceDescriptor *desc;
	size_t nm;                    /* methods; row nm is "_invalid" */
	metrics_counter **req;        /* (nm + 1) * NCODES */
	metrics_histogram **dur;      /* nm + 1 */
};

obs_rpc *
obs_rpc_new(metrics_registry *reg, const ProtobufCServiceDescriptor *desc)
{
	obs_rpc *o = xcalloc(1, sizeof *o);
	char labels[256];

	o->desc = desc;
	o->nm = desc->n_methods;
	o->req = xcalloc((o->nm + 1) * NCODES, sizeof *o->req);
	o->dur = xcalloc(o->nm + 1, sizeof *o->dur);
	for (size_t m = 0; m <= o->nm; m++) {
		const char *mname = m < o->nm ? desc->methods[m].name : "_invalid";
		for (int c = 0; c < NCODES; c++) {
			metrics_labels(labels, sizeof labels, "service", desc->short_name, "method", mname,
			    "code", shoal_code_name((shoal_code)c), NULL);
			metrics_counter *ctr = metrics_counter_get(reg, "shoal_rpc_requests_total",
			    "RPC requests handled, by service, method and status code.", labels);
			metrics_series_hide_zero(ctr, c != SHOAL_OK || m == o->nm);
			o->req[m * NCODES + (size_t)c] = ctr;
		}
		metrics_labels(labels, sizeof labels, "service", desc->short_name, "method", mname,
		    NULL);
		o->dur[m] = metrics_histogram_get(reg, "shoal_rpc_duration_seconds",
		    "Time from a request's arrival to its reply being ready, by service and method.",
		    labels, metrics_latency_buckets, metrics_latency_nbuckets);
	}
	return o;
}

void
obs_rpc_free(obs_rpc *o)
{
	if (o == NULL)
		return;
	free(o->req);
	free(o->dur);
	free(o);
}

void
obs_rpc_observe(void *arg, unsigned method, const char *name, shoal_code code, uint64_t micros)
{
	obs_rpc *o = arg;
	size_t m = method < o->nm ? method : o->nm;
	(void)name;
	if ((unsigned)code >= NCODES)
		code = SHOAL_UNKNOWN;
	metrics_counter_add(o->req[m * NCODES + (size_t)code], 1);
	metrics_histogram_observe(o->dur[m], (double)micros / 1e6);
}

metrics_counter *
obs_rpc_counter(obs_rpc *o, const char *method, shoal_code code)
{
	for (size_t m = 0; m < o->nm; m++)
		if (strcmp(o->desc->methods[m].name, method) == 0)
			return o->req[m * NCODES + (size_t)code];
	return NULL;
}

/* ===================================================================
 * Process metrics
 * =================================================================== */

typedef struct proc_info {
	char labels[160];
	double start_time;
} proc_info;

static void
process_collect(void *arg, metrics_writer *w)
{
	proc_info *pi = arg;
	struct rusage ru;
	long page = sysconf(_SC_PAGESIZE);
	FILE *f;

	metrics_write(w, "shoal_build_info", "gauge",
	    "Always 1; the labels name the daemon and its version.", pi->labels, 1);
	metrics_write(w, "process_start_time_seconds", "gauge",
	    "Start time of the process since the Unix epoch in seconds.", NULL, pi->start_time);
	if (getrusage(RUSAGE_SELF, &ru) == 0)
		metrics_write(w, "process_cpu_seconds_total", "counter",
		    "Total user and system CPU time spent in seconds.", NULL,
		    (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
		        (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6);
	if ((f = fopen("/proc/self/statm", "r")) != NULL) {
		unsigned long size, rss;
		if (fscanf(f, "%lu %lu", &size, &rss) == 2) {
			metrics_write(w, "process_resident_memory_bytes", "gauge",
			    "Resident memory size in bytes.", NULL, (double)rss * (double)page);
			metrics_write(w, "process_virtual_memory_bytes", "gauge",
			    "Virtual memory size in bytes.", NULL, (double)size * (double)page);
		}
		fclose(f);
	}
	DIR *d = opendir("/proc/self/fd");
	if (d != NULL) {
		long n = 0;
		struct dirent *e;
		while ((e = readdir(d)) != NULL)
			n += e->d_name[0] != '.';
		closedir(d);
		metrics_write(w, "process_open_fds", "gauge", "Number of open file descriptors.", NULL,
		    (double)(n > 0 ? n - 1 : 0)); /* minus the one opendir holds */
	}
}

void
obs_process_register(metrics_registry *reg, const char *daemon, const char *version)
{
	/* lives as long as the process: the registry borrows it */
	static proc_info pis[4];
	static int npi;
	proc_info *pi = npi < 4 ? &pis[npi++] : xcalloc(1, sizeof *pi);
	metrics_labels(pi->labels, sizeof pi->labels, "daemon", daemon, "version", version, NULL);
	pi->start_time = (double)util_now_ms() / 1000.0;
	metrics_add_collector(reg, process_collect, pi);
}

void
obs_metrics_handler(void *arg, const char *path, const char *query, httpd_reply *out)
{
	(void)path;
	(void)query;
	out->body = metrics_render(arg, &out->len);
	out->content_type = METRICS_CONTENT_TYPE;
}
