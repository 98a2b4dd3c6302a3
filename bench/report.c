/* report.c -- machine facts, the JSON file, the Markdown report, plots.
 *
 * JSON schema (names from issue 7; fields may be added, never renamed):
 *   {"machine": {"cpu":..,"cores":..,"memory":..,"os":..,"kernel":..,
 *                "shoal":..,"libshoal":..,"faiss":..,"postgresql":..,
 *                "pgvector":..,"gnuplot":..,...},
 *    "dataset": {"name","n","dim","metric","queries","source","ground_truth"},
 *    "params":  {"k","m","ef_construction","batch",...},
 *    "command": "...", "started": "...",
 *    "results": [ {"target","workload","status", ...} ] }
 * Every result has "status": "ok" | "skipped" | "unsupported" | "failed";
 * only "ok" results carry numbers, the others carry "reason" instead, so
 * a skipped target or an unbuilt workload can never be read as a number.
 *   search: k, ef_search, clients, recall, qps, p50_ms, p95_ms, p99_ms,
 *           mean_ms, queries
 *   ingest: vectors, seconds (time to searchable), vectors_per_s,
 *           load_seconds, build_seconds; for targets that index in the
 *           background (shoal) also searchable_exact_seconds (searchable by
 *           exact scan) and index_observed (the index answered in time)
 *   tenant: tenants, points_per_tenant, vectors, seconds, vectors_per_s
 *           (set-up) and the search fields for tenant-routed queries.
 *   scatter: layout ("dedicated" | "shared" | "one index" | "one table"),
 *           shards, keys (shared), server_cpu_ms (when measured) and the
 *           search fields.
 *   scatter_writes (shoal --local, after the scatter): layout ("graph" |
 *           "no graph"), shards, keys, clients, vectors, seconds,
 *           vectors_per_s, server_cpu_ms_per_point; by wl_scatter.c.
 *   filter: filter, filter_mode (targets with several), selectivity,
 *           rows_mean, complete_frac, wrong_rows and the search fields.
 *   migrate: vectors, from_worker, to_worker, k, ef_search,
 *           p50_ms_before, p99_ms_before, p50_ms_during, p99_ms_during,
 *           recall_before, recall_during, write_pause_ms, write_max_ms,
 *           mb_per_s (rows + index bundles over the copy pass), rows_per_s,
 *           rows_moved, bytes_moved (the rows'), index_bytes_moved (the
 *           HNSW index bundles carried), move_seconds,
 *           searches, search_errors, duplicate_hits, writes, write_errors,
 *           max_mbps (the throttle; one row per --max-mbps value).
 *   rebalance: written by wl_rebalance.c (bench_rebalance_json), as is
 *           its Markdown section and goal line; import: by wl_import.c.
 *
 * Plots: one PNG per client count, recall@k on x and QPS (log) on y, one
 * line per target, as ann-benchmarks draws them; for migrate, every
 * search's and upsert's latency over time with the move's phases.  The .dat files and the
 * .gp script stay next to the PNGs so a plot can be redrawn or restyled.
 * Without gnuplot the report says so and nothing fails.
 *
 * Threading: main thread only.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "bench.h"
#include "shoal_client.h"
#include "util.h"
#include "vecmath.h"

/* ===================================================================
 * Facts, results, notes
 * =================================================================== */

void
bench_fact_set(bench_run *r, const char *key, const char *fmt, ...)
{
	bench_fact *f = NULL;
	for (int i = 0; i < r->n_facts; i++)
		if (strcmp(r->facts[i].key, key) == 0)
			f = &r->facts[i];
	if (f == NULL) {
		if (r->n_facts == (int)(sizeof r->facts / sizeof r->facts[0]))
			return;
		f = &r->facts[r->n_facts++];
		snprintf(f->key, sizeof f->key, "%s", key);
	}
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(f->value, sizeof f->value, fmt, ap);
	va_end(ap);
}

const char *
bench_fact_get(const bench_run *r, const char *key)
{
	for (int i = 0; i < r->n_facts; i++)
		if (strcmp(r->facts[i].key, key) == 0)
			return r->facts[i].value;
	return NULL;
}

bench_result *
bench_result_add(bench_run *r, const char *target, const char *workload)
{
	if (r->n_results == r->cap_results) {
		r->cap_results = r->cap_results ? 2 * r->cap_results : 32;
		r->results = xrealloc(r->results, r->cap_results * sizeof *r->results);
	}
	bench_result *res = &r->results[r->n_results++];
	memset(res, 0, sizeof *res);
	snprintf(res->target, sizeof res->target, "%s", target);
	snprintf(res->workload, sizeof res->workload, "%s", workload);
	return res;
}

void
bench_note(bench_run *r, const char *fmt, ...)
{
	if (r->n_notes == (int)(sizeof r->notes / sizeof r->notes[0]))
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->notes[r->n_notes++], sizeof r->notes[0], fmt, ap);
	va_end(ap);
}

static void
first_line_of_command(const char *cmd, char *out, size_t cap)
{
	out[0] = '\0';
	FILE *p = popen(cmd, "r");
	if (p == NULL)
		return;
	if (fgets(out, (int)cap, p) == NULL)
		out[0] = '\0';
	pclose(p);
	out[strcspn(out, "\r\n")] = '\0';
}

void
bench_machine_facts(bench_run *r)
{
	char line[512], cpu[256] = "unknown";
	FILE *f = fopen("/proc/cpuinfo", "r");
	while (f && fgets(line, sizeof line, f)) {
		if (strncmp(line, "model name", 10) == 0) {
			char *c = strchr(line, ':');
			if (c) {
				c++;
				while (*c == ' ' || *c == '\t')
					c++;
				c[strcspn(c, "\n")] = '\0';
				snprintf(cpu, sizeof cpu, "%s", c);
			}
			break;
		}
	}
	if (f)
		fclose(f);
	bench_fact_set(r, "cpu", "%s", cpu);
	bench_fact_set(r, "cores", "%ld", sysconf(_SC_NPROCESSORS_ONLN));

	unsigned long long kb = 0;
	f = fopen("/proc/meminfo", "r");
	while (f && fgets(line, sizeof line, f))
		if (sscanf(line, "MemTotal: %llu kB", &kb) == 1)
			break;
	if (f)
		fclose(f);
	bench_fact_set(r, "memory", "%.1f GiB", (double)kb / (1024.0 * 1024.0));

	char os[256] = "unknown";
	f = fopen("/etc/os-release", "r");
	while (f && fgets(line, sizeof line, f)) {
		if (strncmp(line, "PRETTY_NAME=", 12) == 0) {
			char *v = line + 12;
			v[strcspn(v, "\n")] = '\0';
			if (*v == '"') {
				v++;
				char *q = strrchr(v, '"');
				if (q)
					*q = '\0';
			}
			snprintf(os, sizeof os, "%.200s", v);
		}
	}
	if (f)
		fclose(f);
	bench_fact_set(r, "os", "%s", os);
	struct utsname u;
	if (uname(&u) == 0)
		bench_fact_set(r, "kernel", "%s %s", u.sysname, u.release);
	bench_fact_set(r, "shoal", "not measured");
	bench_fact_set(r, "libshoal", "%s", shoal_version_string());
	bench_fact_set(r, "faiss", "%s", BENCH_FAISS_VERSION);
	bench_fact_set(r, "postgresql", "not measured");
	bench_fact_set(r, "pgvector", "not measured");
	bench_fact_set(r, "compiler", "gcc %s", __VERSION__);
}

/* ===================================================================
 * JSON
 * =================================================================== */

static void
json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", f);
		else if (c == '\t')
			fputs("\\t", f);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static void
json_num(FILE *f, double v)
{
	if (!isfinite(v))
		fputs("null", f);
	else if (v == floor(v) && fabs(v) < 1e15)
		fprintf(f, "%.0f", v);
	else
		fprintf(f, "%.6g", v);
}

static void
json_kv_num(FILE *f, const char *k, double v)
{
	fprintf(f, ", \"%s\": ", k);
	json_num(f, v);
}

static const char *
status_name(bench_result_status s)
{
	switch (s) {
	case RES_OK: return "ok";
	case RES_SKIPPED: return "skipped";
	case RES_UNSUPPORTED: return "unsupported";
	default: return "failed";
	}
}

static bool
is_search_like(const bench_result *r)
{
	return strcmp(r->workload, "search") == 0 || strcmp(r->workload, "tenant") == 0 ||
	    strcmp(r->workload, "scatter") == 0 || strcmp(r->workload, "filter") == 0;
}

/* The fields of the scatter, filter and migrate workloads. */
static void
json_workload_fields(FILE *f, const bench_result *x)
{
	if (strcmp(x->workload, "scatter") == 0) {
		fputs(", \"layout\": ", f);
		json_str(f, x->layout);
		json_kv_num(f, "shards", x->shards);
		if (x->keys)
			json_kv_num(f, "keys", x->keys);
		if (isfinite(x->server_cpu_ms))
			json_kv_num(f, "server_cpu_ms", x->server_cpu_ms);
		if (strcmp(x->layout, "shared+key") == 0) {
			json_kv_num(f, "rows_mean", x->rows_mean);
			json_kv_num(f, "complete_frac", x->complete_frac);
			json_kv_num(f, "wrong_rows", (double)x->wrong_rows);
		}
	} else if (strcmp(x->workload, "filter") == 0) {
		fputs(", \"filter\": ", f);
		json_str(f, x->filter);
		if (x->filter_mode[0]) {
			fputs(", \"filter_mode\": ", f);
			json_str(f, x->filter_mode);
		}
		json_kv_num(f, "selectivity", x->selectivity);
		json_kv_num(f, "rows_mean", x->rows_mean);
		json_kv_num(f, "complete_frac", x->complete_frac);
		json_kv_num(f, "wrong_rows", (double)x->wrong_rows);
	} else if (strcmp(x->workload, "migrate") == 0) {
		json_kv_num(f, "vectors", (double)x->vectors);
		fputs(", \"from_worker\": ", f);
		json_str(f, x->move_from);
		fputs(", \"to_worker\": ", f);
		json_str(f, x->move_to);
		json_kv_num(f, "k", x->k);
		json_kv_num(f, "ef_search", x->ef_search);
		json_kv_num(f, "p50_ms_before", x->p50_before);
		json_kv_num(f, "p99_ms_before", x->p99_before);
		json_kv_num(f, "p50_ms_during", x->p50_during);
		json_kv_num(f, "p99_ms_during", x->p99_during);
		json_kv_num(f, "recall_before", x->recall_before);
		json_kv_num(f, "recall_during", x->recall_during);
		json_kv_num(f, "write_pause_ms", x->write_pause_ms);
		json_kv_num(f, "write_max_ms", x->write_max_ms);
		json_kv_num(f, "mb_per_s", x->mb_per_s);
		json_kv_num(f, "rows_per_s", x->rows_per_s);
		json_kv_num(f, "rows_moved", (double)x->rows_moved);
		json_kv_num(f, "bytes_moved", (double)x->bytes_moved);
		json_kv_num(f, "index_bytes_moved", (double)x->index_bytes_moved);
		json_kv_num(f, "move_seconds", x->move_seconds);
		json_kv_num(f, "searches", (double)x->searches);
		json_kv_num(f, "search_errors", (double)x->search_errors);
		json_kv_num(f, "duplicate_hits", (double)x->duplicate_hits);
		json_kv_num(f, "writes", (double)x->writes);
		json_kv_num(f, "write_errors", (double)x->write_errors);
		json_kv_num(f, "max_mbps", x->max_mbps);
	}
}

static shoal_code
write_json(const bench_run *r, const char *path, shoal_status *st)
{
	FILE *f = fopen(path, "w");
	if (f == NULL)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT, "%s: %s", path, strerror(errno));
	const bench_dataset *ds = r->ds;
	fputs("{\n  \"machine\": {", f);
	for (int i = 0; i < r->n_facts; i++) {
		fprintf(f, "%s\n    ", i ? "," : "");
		json_str(f, r->facts[i].key);
		fputs(": ", f);
		if (strcmp(r->facts[i].key, "cores") == 0)
			fputs(r->facts[i].value, f);
		else
			json_str(f, r->facts[i].value);
	}
	fputs("\n  },\n  \"dataset\": {\"name\": ", f);
	json_str(f, ds->name);
	fprintf(f, ", \"n\": %zu, \"dim\": %u, \"metric\": ", ds->n, ds->dim);
	json_str(f, vecmath_metric_name(ds->metric));
	fprintf(f, ", \"queries\": %zu, \"source\": ", ds->nq);
	json_str(f, ds->source);
	fputs(", \"ground_truth\": ", f);
	json_str(f, ds->gt_source);
	fprintf(f,
	    "},\n  \"params\": {\"k\": %u, \"m\": %u, \"ef_construction\": %u, \"batch\": %u, "
	    "\"pg_maintenance_work_mem\": ",
	    r->k, r->cfg.m, r->cfg.ef_construction, r->cfg.batch);
	json_str(f, r->cfg.pg_maintenance_work_mem ? r->cfg.pg_maintenance_work_mem : "server");
	fputs("},\n  \"command\": ", f);
	json_str(f, r->command);
	fputs(",\n  \"started\": ", f);
	json_str(f, r->started);
	fputs(",\n  \"notes\": [", f);
	for (int i = 0; i < r->n_notes; i++) {
		fputs(i ? ", " : "", f);
		json_str(f, r->notes[i]);
	}
	fputs("],\n  \"results\": [", f);
	for (size_t i = 0; i < r->n_results; i++) {
		const bench_result *x = &r->results[i];
		fprintf(f, "%s\n    {\"target\": ", i ? "," : "");
		json_str(f, x->target);
		fputs(", \"workload\": ", f);
		json_str(f, x->workload);
		fputs(", \"status\": ", f);
		json_str(f, status_name(x->status));
		if (x->status != RES_OK) {
			fputs(", \"reason\": ", f);
			json_str(f, x->reason);
			fputc('}', f);
			continue;
		}
		if (strcmp(x->workload, "ingest") == 0 || strcmp(x->workload, "tenant") == 0) {
			if (strcmp(x->workload, "tenant") == 0) {
				json_kv_num(f, "tenants", x->tenants);
				json_kv_num(f, "points_per_tenant", x->points_per_tenant);
			}
			json_kv_num(f, "vectors", (double)x->vectors);
			json_kv_num(f, "seconds", x->seconds);
			json_kv_num(f, "vectors_per_s", x->vectors_per_s);
			json_kv_num(f, "load_seconds", x->load_seconds);
			json_kv_num(f, "build_seconds", x->build_seconds);
			if (x->index_wait) {
				json_kv_num(f, "searchable_exact_seconds", x->searchable_exact_s);
				fprintf(f, ", \"index_observed\": %s", x->index_observed ? "true" : "false");
			}
		}
		if (strcmp(x->workload, "import") == 0)
			bench_import_json(f, x); /* wl_import.c */
		if (strcmp(x->workload, "scatter_writes") == 0)
			bench_scatter_writes_json(f, x); /* wl_scatter.c */
		if (strcmp(x->workload, "rebalance") == 0)
			bench_rebalance_json(f, r, x); /* wl_rebalance.c */
		if (is_search_like(x)) {
			json_kv_num(f, "k", x->k);
			json_kv_num(f, "ef_search", x->ef_search);
			json_kv_num(f, "clients", x->clients);
			json_kv_num(f, "recall", x->recall);
			json_kv_num(f, "qps", x->qps);
			json_kv_num(f, "p50_ms", x->p50_ms);
			json_kv_num(f, "p95_ms", x->p95_ms);
			json_kv_num(f, "p99_ms", x->p99_ms);
			json_kv_num(f, "mean_ms", x->mean_ms);
			json_kv_num(f, "queries", (double)x->queries);
		}
		json_workload_fields(f, x);
		fputc('}', f);
	}
	fputs("\n  ]\n}\n", f);
	if (fclose(f) != 0)
		return shoal_status_set(st, SHOAL_INTERNAL, "%s: %s", path, strerror(errno));
	return SHOAL_OK;
}

/* ===================================================================
 * Plots
 * =================================================================== */

static const char *const TARGET_ORDER[] = {"shoal", "pgvector", "faiss", "worker"};
#define N_TARGETS 4

/* The distinct client counts of ok search results, ascending. */
static int
client_counts(const bench_run *r, uint32_t *out, int cap)
{
	int n = 0;
	for (size_t i = 0; i < r->n_results; i++) {
		const bench_result *x = &r->results[i];
		if (x->status != RES_OK || strcmp(x->workload, "search") != 0)
			continue;
		bool seen = false;
		for (int j = 0; j < n; j++)
			seen |= out[j] == x->clients;
		if (!seen && n < cap)
			out[n++] = x->clients;
	}
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && out[j - 1] > out[j]; j--) {
			uint32_t t = out[j];
			out[j] = out[j - 1];
			out[j - 1] = t;
		}
	return n;
}

/* Finds gnuplot: the given path, else "gnuplot" on PATH.  *path_out gets
 * a command to run, or "" when there is none. */
static bool
find_gnuplot(const char *given, char *path_out, size_t cap)
{
	path_out[0] = '\0';
	if (given && *given) {
		if (access(given, X_OK) == 0) {
			snprintf(path_out, cap, "%s", given);
			return true;
		}
		return false;
	}
	const char *p = getenv("PATH");
	if (p == NULL)
		p = "/usr/bin:/bin";
	char *copy = xstrdup(p);
	bool found = false;
	for (char *save = NULL, *d = strtok_r(copy, ":", &save); d && !found;
	     d = strtok_r(NULL, ":", &save)) {
		char cand[600];
		snprintf(cand, sizeof cand, "%s/gnuplot", *d ? d : ".");
		if (access(cand, X_OK) == 0) {
			snprintf(path_out, cap, "%s", cand);
			found = true;
		}
	}
	free(copy);
	return found;
}

/* Finds gnuplot (gp) and the PNG terminal to use, and records its version
 * as a machine fact; false (why says so) when there is none. */
static bool
prepare_gnuplot(bench_run *r, const char *gnuplot, char *gp, size_t gp_cap, const char **term,
    char *why, size_t why_cap)
{
	if (!find_gnuplot(gnuplot, gp, gp_cap)) {
		snprintf(why, why_cap,
		    "gnuplot not found%s%s: plots not drawn (install it, e.g. apt-get install "
		    "gnuplot-nox, and run again)",
		    gnuplot ? " at " : " on PATH", gnuplot ? gnuplot : "");
		bench_fact_set(r, "gnuplot", "not found");
		return false;
	}
	char ver[128], cmd[800];
	snprintf(cmd, sizeof cmd, "'%s' --version 2>/dev/null", gp);
	first_line_of_command(cmd, ver, sizeof ver);
	bench_fact_set(r, "gnuplot", "%s", ver[0] ? ver : gp);
	/* pngcairo draws nicer lines; plain png (libgd) is the fallback */
	snprintf(cmd, sizeof cmd, "'%s' -e 'set terminal pngcairo' >/dev/null 2>&1", gp);
	*term = system(cmd) == 0 ? "pngcairo size 1000,650" : "png size 1000,650";
	return true;
}

/* Runs gnuplot on dir/script (from dir); false with why on failure. */
static bool
run_gnuplot(const char *dir, const char *gp, const char *script, char *why, size_t why_cap)
{
	char cmd[1600], out[300];
	snprintf(cmd, sizeof cmd, "cd '%s' && '%s' '%s' 2>&1", dir, gp, script);
	FILE *p = popen(cmd, "r");
	size_t got = p ? fread(out, 1, sizeof out - 1, p) : 0;
	out[got] = '\0';
	int rc = p ? pclose(p) : -1;
	if (rc != 0) {
		out[strcspn(out, "\n")] = '\0';
		snprintf(why, why_cap, "gnuplot failed (%.100s): %.250s", gp, out);
		return false;
	}
	return true;
}

/* Writes .dat files and the .gp script, runs gnuplot; fills plots[] with
 * the PNG names that were drawn.  Returns the number drawn; *why explains
 * when none could be. */
static int
draw_plots(bench_run *r, const char *dir, const char *prefix, const char *gnuplot,
    char plots[][300], uint32_t *plot_clients, int cap, char *why, size_t why_cap)
{
	why[0] = '\0';
	uint32_t counts[16];
	int nc = client_counts(r, counts, 16);
	if (nc == 0) {
		snprintf(why, why_cap, "no search results to plot");
		return 0;
	}
	char gp[600];
	const char *term;
	if (!prepare_gnuplot(r, gnuplot, gp, sizeof gp, &term, why, why_cap))
		return 0;

	char script[700];
	snprintf(script, sizeof script, "%s/%s-plots.gp", dir, prefix);
	FILE *g = fopen(script, "w");
	if (g == NULL) {
		snprintf(why, why_cap, "%.300s: %s", script, strerror(errno));
		return 0;
	}
	fprintf(g, "# drawn by shoal-bench; redraw with: cd %s && gnuplot %s-plots.gp\n", dir,
	    prefix);
	int drawn = 0;
	for (int c = 0; c < nc && drawn < cap; c++) {
		char files[N_TARGETS][300];
		bool have[N_TARGETS] = {false};
		for (int t = 0; t < N_TARGETS; t++) {
			snprintf(files[t], sizeof files[t], "%s-%s-c%u.dat", prefix, TARGET_ORDER[t],
			    counts[c]);
			char p[1200];
			snprintf(p, sizeof p, "%.800s/%.299s", dir, files[t]);
			FILE *d = NULL;
			for (size_t i = 0; i < r->n_results; i++) {
				const bench_result *x = &r->results[i];
				if (x->status != RES_OK || strcmp(x->workload, "search") != 0 ||
				    x->clients != counts[c] || strcmp(x->target, TARGET_ORDER[t]) != 0)
					continue;
				if (d == NULL) {
					d = fopen(p, "w");
					if (d == NULL)
						break;
					fprintf(d, "# recall@%u qps ef_search p50_ms p99_ms\n", r->k);
				}
				fprintf(d, "%.6f %.3f %u %.4f %.4f\n", x->recall, x->qps, x->ef_search,
				    x->p50_ms, x->p99_ms);
				have[t] = true;
			}
			if (d)
				fclose(d);
		}
		snprintf(plots[drawn], 300, "%s-recall-qps-c%u.png", prefix, counts[c]);
		plot_clients[drawn] = counts[c];
		fprintf(g,
		    "set terminal %s\nset termoption noenhanced\nset output '%s'\n"
		    "set title \"%s: recall@%u vs QPS, %u client%s (up and right is better)\"\n"
		    "set xlabel 'recall@%u'\nset ylabel 'queries per second'\nset logscale y\n"
		    "set grid\nset key bottom left\nset xrange [*:1.0]\n",
		    term, plots[drawn], r->ds->name, r->k, counts[c], counts[c] == 1 ? "" : "s", r->k);
		const char *styles[N_TARGETS] = {"lc rgb '#1f77b4' pt 7", "lc rgb '#d62728' pt 5",
		    "lc rgb '#2ca02c' pt 9", "lc rgb '#ff7f0e' pt 11"};
		fputs("plot ", g);
		bool first = true;
		for (int t = 0; t < N_TARGETS; t++) {
			if (!have[t])
				continue;
			fprintf(g, "%s'%s' using 1:2 with linespoints lw 2 %s title '%s'", first ? "" : ", ",
			    files[t], styles[t], TARGET_ORDER[t]);
			first = false;
		}
		fputs("\nunset output\n", g);
		drawn++;
	}
	fclose(g);
	char name[400];
	snprintf(name, sizeof name, "%.300s-plots.gp", prefix);
	if (!run_gnuplot(dir, gp, name, why, why_cap))
		return 0;
	return drawn;
}

/* The migrate workload's plot: every search's latency (and every upsert's)
 * over time, seconds from the start of the move, with the move's phases
 * as vertical lines.  Writes PREFIX-migrate-{searches,writes}.dat and
 * PREFIX-migrate.gp; png receives the PNG's name ("" when not drawn, why
 * then says why). */
static void
draw_migrate_plot(bench_run *r, const char *dir, const char *prefix, const char *gnuplot,
    char *png, size_t png_cap, char *why, size_t why_cap)
{
	png[0] = why[0] = '\0';
	const bench_timeline *tl = r->migrate_tl;
	if (tl == NULL || tl->s_n == 0)
		return;
	char path[1200], gp[600];
	const char *term;
	snprintf(path, sizeof path, "%.800s/%.300s-migrate-searches.dat", dir, prefix);
	FILE *d = fopen(path, "w");
	if (d == NULL) {
		snprintf(why, why_cap, "%.300s: %s", path, strerror(errno));
		return;
	}
	fputs("# seconds_from_move_start search_latency_ms\n", d);
	for (size_t i = 0; i < tl->s_n; i++)
		fprintf(d, "%.4f %.4f\n", tl->s_t[i], tl->s_ms[i]);
	fclose(d);
	snprintf(path, sizeof path, "%.800s/%.300s-migrate-writes.dat", dir, prefix);
	if ((d = fopen(path, "w")) == NULL) {
		snprintf(why, why_cap, "%.300s: %s", path, strerror(errno));
		return;
	}
	fputs("# seconds_from_move_start upsert_latency_ms\n", d);
	for (size_t i = 0; i < tl->w_n; i++)
		fprintf(d, "%.4f %.4f\n", tl->w_t[i], tl->w_ms[i]);
	fclose(d);
	if (!prepare_gnuplot(r, gnuplot, gp, sizeof gp, &term, why, why_cap))
		return;
	snprintf(path, sizeof path, "%.800s/%.300s-migrate.gp", dir, prefix);
	FILE *g = fopen(path, "w");
	if (g == NULL) {
		snprintf(why, why_cap, "%.300s: %s", path, strerror(errno));
		return;
	}
	char out_png[400];
	snprintf(out_png, sizeof out_png, "%.300s-migrate-latency.png", prefix);
	fprintf(g,
	    "# drawn by shoal-bench; redraw with: cd %s && gnuplot %s-migrate.gp\n"
	    "set terminal %s\nset termoption noenhanced\nset output '%s'\n"
	    "set title \"%s: latency while a tenant moves (0 = move started)\"\n"
	    "set xlabel 'seconds from the start of the move'\nset ylabel 'latency ms (log)'\n"
	    "set logscale y\nset grid\nset key top left\n",
	    dir, prefix, term, out_png, r->ds->name);
	for (int i = 0; i < tl->n_phases; i++)
		fprintf(g,
		    "set arrow from %.3f, graph 0 to %.3f, graph 1 nohead lc rgb '#888888' dt 2\n"
		    "set label '%s' at %.3f, graph 0.97 rotate by 90 right font ',9'\n",
		    tl->phase_t[i], tl->phase_t[i], tl->phase[i], tl->phase_t[i]);
	fprintf(g, "plot '%s-migrate-searches.dat' using 1:2 with points pt 7 ps 0.3 "
	           "lc rgb '#1f77b4' title 'search'",
	    prefix);
	if (tl->w_n)
		fprintf(g, ", '%s-migrate-writes.dat' using 1:2 with points pt 5 ps 0.5 "
		           "lc rgb '#d62728' title 'upsert (10 points)'",
		    prefix);
	fputs("\nunset output\n", g);
	fclose(g);
	snprintf(path, sizeof path, "%.300s-migrate.gp", prefix);
	if (run_gnuplot(dir, gp, path, why, why_cap))
		snprintf(png, png_cap, "%s", out_png);
}

/* ===================================================================
 * Markdown
 * =================================================================== */

static const bench_result *
find_ok(const bench_run *r, const char *target, const char *workload)
{
	for (size_t i = 0; i < r->n_results; i++) {
		const bench_result *x = &r->results[i];
		if (x->status == RES_OK && strcmp(x->target, target) == 0 &&
		    strcmp(x->workload, workload) == 0)
			return x;
	}
	return NULL;
}

/* Highest QPS among ok search points of target with clients and recall >=
 * min_recall; NULL when none reaches it. */
static const bench_result *
best_at_recall(const bench_run *r, const char *target, uint32_t clients, double min_recall)
{
	const bench_result *best = NULL;
	for (size_t i = 0; i < r->n_results; i++) {
		const bench_result *x = &r->results[i];
		if (x->status != RES_OK || strcmp(x->workload, "search") != 0 ||
		    strcmp(x->target, target) != 0 || x->clients != clients || x->recall < min_recall)
			continue;
		if (best == NULL || x->qps > best->qps)
			best = x;
	}
	return best;
}

/* The lowest client count of ok results of workload (UINT32_MAX if none). */
static uint32_t
lowest_clients(const bench_run *r, const char *workload)
{
	uint32_t lowest = UINT32_MAX;
	for (size_t i = 0; i < r->n_results; i++)
		if (r->results[i].status == RES_OK && strcmp(r->results[i].workload, workload) == 0 &&
		    r->results[i].clients < lowest)
			lowest = r->results[i].clients;
	return lowest;
}

/* The cheapest ok scatter point of shoal with layout and clients at
 * recall >= min_recall: by server CPU when measured, else by mean latency. */
static const bench_result *
cheapest_scatter(const bench_run *r, const char *layout, uint32_t clients, double min_recall)
{
	const bench_result *best = NULL;
	for (size_t i = 0; i < r->n_results; i++) {
		const bench_result *x = &r->results[i];
		if (x->status != RES_OK || strcmp(x->workload, "scatter") != 0 ||
		    strcmp(x->target, "shoal") != 0 || strcmp(x->layout, layout) != 0 ||
		    x->clients != clients || x->recall < min_recall)
			continue;
		double cost = isfinite(x->server_cpu_ms) ? x->server_cpu_ms : x->mean_ms;
		double bcost = best == NULL ? INFINITY
		    : isfinite(best->server_cpu_ms) ? best->server_cpu_ms
		                                    : best->mean_ms;
		if (cost < bcost)
			best = x;
	}
	return best;
}

/* Goals of issues 3, 4 and 5 that the scatter, filter and migrate
 * workloads measure.  Returns whether it wrote anything. */
static bool
md_goals_more(FILE *f, const bench_run *r)
{
	bool any = false;
	/* issue 4: scatter over S shards at recall >= 0.99 costs <= 3x one index */
	uint32_t lowest = lowest_clients(r, "scatter");
	if (lowest != UINT32_MAX && find_ok(r, "shoal", "scatter")) {
		const bench_result *sh = cheapest_scatter(r, "shared", lowest, 0.99);
		const bench_result *de = cheapest_scatter(r, "dedicated", lowest, 0.99);
		any = true;
		fprintf(f, "- Scatter (issue 4), %u client%s: at recall@%u >= 0.99 ", lowest,
		    lowest == 1 ? "" : "s", r->k);
		if (sh == NULL || de == NULL) {
			fprintf(f, "%s never reaches 0.99 in this sweep: **not evaluated**\n",
			    sh == NULL ? "the shared-collection scatter" : "the dedicated collection");
		} else {
			bool cpu = isfinite(sh->server_cpu_ms) && isfinite(de->server_cpu_ms);
			double a = cpu ? sh->server_cpu_ms : sh->mean_ms;
			double b = cpu ? de->server_cpu_ms : de->mean_ms;
			double ratio = a / b;
			fprintf(f,
			    "a search over %u shards costs %.3f ms of %s (ef %u), one index %.3f ms (ef "
			    "%u): %.2fx; goal <= 3x: **%s**",
			    sh->shards, a, cpu ? "server CPU" : "mean latency (CPU not measured)",
			    sh->ef_search, b, de->ef_search, ratio, ratio <= 3.0 ? "met" : "missed");
			if (ratio > 3.0)
				fprintf(f, " (%.1fx the allowed cost)", ratio / 3.0);
			fputs(" (Citus + pgvector, 32 shards: ~15 ms vs ~3 ms, 5x)\n", f);
		}
	}
	/* issue 4: a key-routed search of a shared collection returns k rows
	 * when k exist, at recall >= 0.99 */
	for (size_t i = 0; i < r->n_results; i++) {
		const bench_result *x = &r->results[i];
		if (x->status != RES_OK || strcmp(x->workload, "scatter") != 0 ||
		    strcmp(x->target, "shoal") != 0 || strcmp(x->layout, "shared+key") != 0)
			continue;
		bool met = x->recall >= 0.99 && x->complete_frac >= 1.0 && x->wrong_rows == 0;
		any = true;
		fprintf(f,
		    "- Key-routed search of the shared collection (issue 4), %u client%s: recall@%u "
		    "%.4f, %.1f%% of answers complete (%.2f rows on average), %llu wrong rows; goal "
		    "recall >= 0.99 with every answer complete: **%s**",
		    x->clients, x->clients == 1 ? "" : "s", r->k, x->recall, 100 * x->complete_frac,
		    x->rows_mean, (unsigned long long)x->wrong_rows, met ? "met" : "missed");
		if (x->recall < 0.99)
			fprintf(f, " (recall short by %.4f)", 0.99 - x->recall);
		fputs("\n", f);
	}
	/* issue 3: filtered recall >= 0.95 at any selectivity, complete answers */
	if (find_ok(r, "shoal", "filter")) {
		double worst = INFINITY, worst_sel = NAN, min_complete = INFINITY;
		uint64_t wrong = 0;
		for (size_t i = 0; i < r->n_results; i++) {
			const bench_result *x = &r->results[i];
			if (x->status != RES_OK || strcmp(x->workload, "filter") != 0 ||
			    strcmp(x->target, "shoal") != 0)
				continue;
			if (x->recall < worst) {
				worst = x->recall;
				worst_sel = x->selectivity;
			}
			if (x->complete_frac < min_complete)
				min_complete = x->complete_frac;
			wrong += x->wrong_rows;
		}
		bool met = worst >= 0.95 && min_complete >= 1.0 && wrong == 0;
		any = true;
		fprintf(f,
		    "- Filtered search (issue 3), every selectivity: shoal's lowest recall@%u %.4f (at "
		    "%.2f%% matching), %.1f%% of answers complete at worst, %llu wrong rows; goal "
		    "recall >= 0.95 with complete answers: **%s**",
		    r->k, worst, 100 * worst_sel, 100 * min_complete, (unsigned long long)wrong,
		    met ? "met" : "missed");
		if (worst < 0.95)
			fprintf(f, " (recall short by %.4f)", 0.95 - worst);
		fputs("\n", f);
		for (size_t i = 0; i < r->n_results; i++) {
			const bench_result *x = &r->results[i];
			if (x->status == RES_OK && strcmp(x->workload, "filter") == 0 &&
			    strcmp(x->target, "pgvector") == 0 && x->clients == lowest_clients(r, "filter"))
				fprintf(f, "  - pgvector `%s` (%.2f%%), %s: %.2f rows of %u on average, recall %.4f\n",
				    x->filter, 100 * x->selectivity, x->filter_mode, x->rows_mean, r->k,
				    x->recall);
		}
	}
	/* issue 5: cutover write pause <= 100 ms, p99 during <= 1.5x before;
	 * one line per migrate row (one per --max-mbps throttle) */
	for (size_t i = 0; i < r->n_results; i++) {
		const bench_result *mg = &r->results[i];
		if (mg->status != RES_OK || strcmp(mg->workload, "migrate") != 0 ||
		    strcmp(mg->target, "shoal") != 0)
			continue;
		any = true;
		char thr[48];
		if (mg->max_mbps > 0)
			snprintf(thr, sizeof thr, "throttled to %.0f MB/s", mg->max_mbps);
		else
			snprintf(thr, sizeof thr, "unthrottled");
		fprintf(f,
		    "- Tenant move (issue 5) of %llu points, %s: write pause at cutover %.0f ms; goal "
		    "<= 100 ms: **%s**",
		    (unsigned long long)mg->vectors, thr, mg->write_pause_ms,
		    mg->write_pause_ms <= 100 ? "met" : "missed");
		if (mg->write_pause_ms > 100)
			fprintf(f, " (%.0f ms over)", mg->write_pause_ms - 100);
		double ratio = mg->p99_during / mg->p99_before;
		fprintf(f,
		    "; search p99 during the move %.3f ms vs %.3f ms before: %.2fx; goal <= 1.5x: "
		    "**%s**",
		    mg->p99_during, mg->p99_before, ratio, ratio <= 1.5 ? "met" : "missed");
		if (ratio > 1.5)
			fprintf(f, " (%.0f%% over the allowed)", (ratio / 1.5 - 1) * 100);
		fprintf(f, "; copy %.1f MB/s (rows + index), %.0f rows/s, move %.1f s\n",
		    mg->mb_per_s, mg->rows_per_s, mg->move_seconds);
	}
	any |= bench_rebalance_goal(f, r); /* wl_rebalance.c */
	return any;
}


/* Lowest QPS ratio target/faiss at the same ef_search and client count,
 * per client count, as a goal line; false when there is no pair. */
static bool
md_goal_vs_faiss(FILE *f, const bench_run *r, const uint32_t *counts, int nc,
    const char *target, double goal, const char *what)
{
	bool any = false;

	for (int c = 0; c < nc; c++) {
		double worst = INFINITY;
		uint32_t worst_ef = 0;
		int pairs = 0;
		for (size_t i = 0; i < r->n_results; i++) {
			const bench_result *s = &r->results[i];
			if (s->status != RES_OK || strcmp(s->workload, "search") != 0 ||
			    strcmp(s->target, target) != 0 || s->clients != counts[c])
				continue;
			for (size_t j = 0; j < r->n_results; j++) {
				const bench_result *x = &r->results[j];
				if (x->status == RES_OK && strcmp(x->workload, "search") == 0 &&
				    strcmp(x->target, "faiss") == 0 && x->clients == s->clients &&
				    x->ef_search == s->ef_search && x->qps > 0) {
					pairs++;
					if (s->qps / x->qps < worst) {
						worst = s->qps / x->qps;
						worst_ef = s->ef_search;
					}
				}
			}
		}
		if (pairs == 0)
			continue;
		any = true;
		fprintf(f,
		    "- %s QPS vs raw FAISS at the same ef_search, %u client%s: lowest ratio %.2f "
		    "(ef %u); goal >= %.2f (%s): **%s**",
		    target, counts[c], counts[c] == 1 ? "" : "s", worst, worst_ef, goal, what,
		    worst >= goal ? "met" : "missed");
		if (worst < goal)
			fprintf(f, " (%.0f%% below FAISS)", (1.0 - worst) * 100.0);
		fputs("\n", f);
	}
	return any;
}

static void
md_goals(FILE *f, const bench_run *r)
{
	fputs("## Goals (issue 7; issues 3, 4, 5 where this run measures them)\n\n", f);
	uint32_t counts[16];
	int nc = client_counts(r, counts, 16);
	bool any = false;
	for (int c = 0; c < nc; c++) {
		const bench_result *s = best_at_recall(r, "shoal", counts[c], 0.95);
		const bench_result *p = best_at_recall(r, "pgvector", counts[c], 0.95);
		if (s == NULL && p == NULL)
			continue;
		any = true;
		fprintf(f, "- QPS at recall@%u >= 0.95, %u client%s: shoal ", r->k, counts[c],
		    counts[c] == 1 ? "" : "s");
		if (s)
			fprintf(f, "%.0f (ef %u)", s->qps, s->ef_search);
		else
			fputs("never reaches 0.95 in this sweep", f);
		fputs(", pgvector ", f);
		if (p)
			fprintf(f, "%.0f (ef %u)", p->qps, p->ef_search);
		else
			fputs(find_ok(r, "pgvector", "search") ? "never reaches 0.95 in this sweep"
			                                      : "not measured",
			    f);
		if (s && p) {
			double ratio = s->qps / p->qps;
			fprintf(f, ": %.2fx; goal >= 2x: **%s**", ratio, ratio >= 2.0 ? "met" : "missed");
			if (ratio < 2.0)
				fprintf(f, " (short by %.0f%%)", (1.0 - ratio / 2.0) * 100.0);
		}
		fputs("\n", f);
	}
	const bench_result *si = find_ok(r, "shoal", "ingest");
	const bench_result *pi = find_ok(r, "pgvector", "ingest");
	if (si && pi) {
		any = true;
		double ratio = si->seconds / pi->seconds;
		fprintf(f,
		    "- Time to searchable for %llu vectors: shoal %.1f s, pgvector COPY + CREATE "
		    "INDEX %.1f s: %.2f of pgvector's; goal <= 0.33: **%s**",
		    (unsigned long long)si->vectors, si->seconds, pi->seconds, ratio,
		    ratio <= 1.0 / 3.0 ? "met" : "missed");
		if (ratio > 1.0 / 3.0)
			fprintf(f, " (%.1fx the allowed time)", ratio * 3.0);
		fputs("\n", f);
	}
	/* shoal (issue 7) and the worker's own path (issue 3) vs faiss */
	any |= md_goal_vs_faiss(f, r, counts, nc, "shoal", 0.75, "issue 7: within 25%");
	any |= md_goal_vs_faiss(f, r, counts, nc, "worker", 0.80, "issue 3: within 20%");
	any |= md_goals_more(f, r);
	if (!any)
		fputs("Not evaluated: needs shoal together with pgvector or faiss results.\n", f);
	fputs("\n", f);
}

static bool
has_workload(const bench_run *r, const char *workload)
{
	for (size_t i = 0; i < r->n_results; i++)
		if (strcmp(r->results[i].workload, workload) == 0)
			return true;
	return false;
}

/* A failed result as a table row: target, then the reason. */
static void
md_failed_row(FILE *f, const bench_result *x, int cols)
{
	fprintf(f, "| %s | %s: %s |", x->target, status_name(x->status), x->reason);
	for (int i = 2; i < cols; i++)
		fputs(" |", f);
	fputs("\n", f);
}

static void
md_scatter(FILE *f, const bench_run *r)
{
	if (!has_workload(r, "scatter"))
		return;
	fputs("## Scatter (one search over S shards vs one index over the same rows)\n\n"
	      "shoal: a shared collection hash-distributed by key over S shards, searched without "
	      "a key (scattered to every shard, top k merged), against a dedicated tenant's "
	      "collection (one index) with the same rows and queries. Server CPU: utime + stime "
	      "of the coordinator and the workers per search (--local only). shared+key: searches "
	      "naming one key (one shard, one partition), recall among that key's points.\n\n"
	      "| target | layout | shards | keys | clients | ef_search | recall | QPS | p50 ms | "
	      "p99 ms | server CPU ms/query |\n"
	      "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
	    f);
	for (size_t i = 0; i < r->n_results; i++) {
		const bench_result *x = &r->results[i];
		if (strcmp(x->workload, "scatter") != 0 || x->status == RES_UNSUPPORTED ||
		    x->status == RES_SKIPPED)
			continue;
		if (x->status != RES_OK) {
			md_failed_row(f, x, 11);
			continue;
		}
		fprintf(f, "| %s | %s | %u | ", x->target, x->layout, x->shards);
		if (x->keys)
			fprintf(f, "%u", x->keys);
		fprintf(f, " | %u | %u | %.4f | %.1f | %.3f | %.3f | ", x->clients, x->ef_search,
		    x->recall, x->qps, x->p50_ms, x->p99_ms);
		if (isfinite(x->server_cpu_ms))
			fprintf(f, "%.3f", x->server_cpu_ms);
		fputs(" |\n", f);
	}
	fputs("\n", f);
}

static void
md_filter(FILE *f, const bench_run *r)
{
	if (!has_workload(r, "filter"))
		return;
	fprintf(f,
	    "## Filter (payload filter at several selectivities)\n\n"
	    "Recall@%u against the exact neighbours among the matching points; rows = mean rows "
	    "returned (complete = answers holding min(k, matching) rows; wrong = rows that do not "
	    "match the filter).\n\n"
	    "| target | filter | matching | clients | ef_search | recall | rows | complete | wrong | "
	    "QPS | p50 ms | p99 ms |\n"
	    "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
	    r->k);
	for (size_t i = 0; i < r->n_results; i++) {
		const bench_result *x = &r->results[i];
		if (strcmp(x->workload, "filter") != 0 || x->status == RES_UNSUPPORTED ||
		    x->status == RES_SKIPPED)
			continue;
		if (x->status != RES_OK) {
			md_failed_row(f, x, 12);
			continue;
		}
		fprintf(f,
		    "| %s%s%s%s | `%s` | %.2f%% | %u | %u | %.4f | %.2f | %.1f%% | %llu | %.1f | %.3f | "
		    "%.3f |\n",
		    x->target, x->filter_mode[0] ? " (" : "", x->filter_mode,
		    x->filter_mode[0] ? ")" : "", x->filter, 100 * x->selectivity, x->clients, x->ef_search, x->recall,
		    x->rows_mean, 100 * x->complete_frac, (unsigned long long)x->wrong_rows, x->qps,
		    x->p50_ms, x->p99_ms);
	}
	fputs("\n", f);
}

static void
md_migrate(FILE *f, const bench_run *r, const char *png, const char *why)
{
	if (!has_workload(r, "migrate"))
		return;
	bool any = false;
	for (size_t i = 0; i < r->n_results; i++) {
		const bench_result *x = &r->results[i];
		if (strcmp(x->workload, "migrate") != 0 || x->status == RES_SKIPPED ||
		    x->status == RES_UNSUPPORTED)
			continue;
		if (!any)
			fputs("## Migrate (search and writes while a tenant moves)\n\n"
			      "| target | points | from -> to | throttle MB/s | move s | MB rows + index | "
			      "MB/s (rows + index) | rows/s | "
			      "search p50 ms "
			      "before / during | search p99 ms before / during | recall before / during | "
			      "write pause at cutover ms | slowest upsert during ms | searches (failed) | "
			      "upserts (failed) |\n"
			      "|---|---:|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
			    f);
		any = true;
		if (x->status != RES_OK) {
			md_failed_row(f, x, 15);
			continue;
		}
		char thr[24];
		snprintf(thr, sizeof thr, x->max_mbps > 0 ? "%.0f" : "none", x->max_mbps);
		fprintf(f,
		    "| %s | %llu | %s -> %s | %s | %.1f | %.1f + %.1f | %.1f | %.0f | %.3f / %.3f | "
		    "%.3f / %.3f | %.4f / %.4f | %.0f | %.1f | %llu (%llu) | %llu (%llu) |\n",
		    x->target, (unsigned long long)x->vectors, x->move_from, x->move_to, thr,
		    x->move_seconds, (double)x->bytes_moved / 1e6, (double)x->index_bytes_moved / 1e6,
		    x->mb_per_s, x->rows_per_s, x->p50_before, x->p50_during,
		    x->p99_before, x->p99_during, x->recall_before, x->recall_during,
		    x->write_pause_ms, x->write_max_ms, (unsigned long long)x->searches,
		    (unsigned long long)x->search_errors, (unsigned long long)x->writes,
		    (unsigned long long)x->write_errors);
	}
	if (!any)
		return;
	fputs("\n", f);
	if (png && png[0])
		fprintf(f, "![search latency during the move](%s)\n\n", png);
	else if (why && why[0])
		fprintf(f, "Plot: %s.\n\n", why);
}

static shoal_code
write_markdown(const bench_run *r, const char *path, char plots[][300], const uint32_t *pc,
    int n_plots, const char *plot_why, const char *migrate_png, const char *migrate_why,
    shoal_status *st)
{
	FILE *f = fopen(path, "w");
	if (f == NULL)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT, "%s: %s", path, strerror(errno));
	const bench_dataset *ds = r->ds;
	fprintf(f, "# shoal-bench: %s\n\n", ds->name);
	fputs("## Machine\n\n| | |\n|---|---|\n", f);
	for (int i = 0; i < r->n_facts; i++)
		fprintf(f, "| %s | %s |\n", r->facts[i].key, r->facts[i].value);
	fprintf(f, "\nStarted %s.  Command:\n\n```\n%s\n```\n\n", r->started, r->command);

	fprintf(f,
	    "## Data and parameters\n\n"
	    "- data set **%s**: %zu base vectors, %u dims, metric %s, %zu queries\n"
	    "- source: %s\n- ground truth: %s\n"
	    "- HNSW M %u, efConstruction %u (all targets); recall@%u; upsert/COPY batches of %u\n"
	    "- recall: a returned id counts when it is at most as far as the %u-th true "
	    "neighbour (ties count)\n",
	    ds->name, ds->n, ds->dim, vecmath_metric_name(ds->metric), ds->nq, ds->source,
	    ds->gt_source, r->cfg.m, r->cfg.ef_construction, r->k, r->cfg.batch, r->k);
	if (r->cfg.pg_dsn)
		fprintf(f, "- pgvector: maintenance_work_mem %s for the index build, "
		           "max_parallel_maintenance_workers %s; searches with enable_seqscan off\n",
		    r->cfg.pg_maintenance_work_mem ? r->cfg.pg_maintenance_work_mem : "(server's)",
		    bench_fact_get(r, "pg_max_parallel_maintenance_workers")
		        ? bench_fact_get(r, "pg_max_parallel_maintenance_workers")
		        : "(server's)");
	fputs("\n", f);
	if (r->n_notes > 0) {
		fputs("## Notes\n\n", f);
		for (int i = 0; i < r->n_notes; i++)
			fprintf(f, "- %s\n", r->notes[i]);
		fputs("\n", f);
	}
	md_goals(f, r);

	/* ingest */
	fputs("## Ingest (time to searchable)\n\n"
	      "| target | vectors | load s | index build / catch-up s | time to searchable s | "
	      "vectors/s |\n|---|---:|---:|---:|---:|---:|\n",
	    f);
	bool any = false;
	for (size_t i = 0; i < r->n_results; i++) {
		const bench_result *x = &r->results[i];
		if (strcmp(x->workload, "ingest") != 0)
			continue;
		any = true;
		if (x->status != RES_OK)
			fprintf(f, "| %s | %s: %s | | | | |\n", x->target, status_name(x->status),
			    x->reason);
		else
			fprintf(f, "| %s | %llu | %.2f | %.2f | %.2f | %.0f |\n", x->target,
			    (unsigned long long)x->vectors, x->load_seconds, x->build_seconds, x->seconds,
			    x->vectors_per_s);
	}
	if (!any)
		fputs("| (not run) | | | | | |\n", f);

	/* search */
	fprintf(f, "\n## Search: recall@%u, QPS, latency\n\n", r->k);
	fputs("| target | clients | ef_search | recall | QPS | p50 ms | p95 ms | p99 ms | "
	      "queries |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
	    f);
	any = false;
	for (size_t i = 0; i < r->n_results; i++) {
		const bench_result *x = &r->results[i];
		if (strcmp(x->workload, "search") != 0)
			continue;
		any = true;
		if (x->status != RES_OK)
			fprintf(f, "| %s | %s: %s | | | | | | | |\n", x->target, status_name(x->status),
			    x->reason);
		else
			fprintf(f, "| %s | %u | %u | %.4f | %.1f | %.3f | %.3f | %.3f | %llu |\n",
			    x->target, x->clients, x->ef_search, x->recall, x->qps, x->p50_ms, x->p95_ms,
			    x->p99_ms, (unsigned long long)x->queries);
	}
	if (!any)
		fputs("| (not run) | | | | | | | | |\n", f);
	fputs("\n", f);
	for (int i = 0; i < n_plots; i++)
		fprintf(f, "![recall vs QPS, %u client%s](%s)\n\n", pc[i], pc[i] == 1 ? "" : "s",
		    plots[i]);
	if (plot_why[0])
		fprintf(f, "Plots: %s.\n\n", plot_why);

	/* tenant */
	bool tenant = false;
	for (size_t i = 0; i < r->n_results; i++)
		tenant |= strcmp(r->results[i].workload, "tenant") == 0;
	if (tenant) {
		fputs("## Tenants (dedicated tenants, tenant-routed queries)\n\n"
		      "| target | tenants | points each | set-up s | vectors/s | clients | ef_search | "
		      "recall | QPS | p50 ms | p95 ms | p99 ms |\n"
		      "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
		    f);
		for (size_t i = 0; i < r->n_results; i++) {
			const bench_result *x = &r->results[i];
			if (strcmp(x->workload, "tenant") != 0)
				continue;
			if (x->status != RES_OK)
				fprintf(f, "| %s | %s: %s | | | | | | | | | | |\n", x->target,
				    status_name(x->status), x->reason);
			else
				fprintf(f,
				    "| %s | %u | %u | %.2f | %.0f | %u | %u | %.4f | %.1f | %.3f | %.3f | "
				    "%.3f |\n",
				    x->target, x->tenants, x->points_per_tenant, x->seconds, x->vectors_per_s,
				    x->clients, x->ef_search, x->recall, x->qps, x->p50_ms, x->p95_ms,
				    x->p99_ms);
		}
		fputs("\n", f);
	}

	md_scatter(f, r);
	bench_scatter_writes_markdown(f, r); /* wl_scatter.c */
	md_filter(f, r);
	md_migrate(f, r, migrate_png, migrate_why);
	bench_rebalance_markdown(f, r); /* wl_rebalance.c */
	bench_import_markdown(f, r); /* wl_import.c */

	/* everything not run, one line per workload and reason */
	bool header = false;
	for (size_t i = 0; i < r->n_results; i++) {
		const bench_result *x = &r->results[i];
		if (x->status == RES_OK || strcmp(x->workload, "search") == 0 ||
		    strcmp(x->workload, "ingest") == 0 || strcmp(x->workload, "tenant") == 0 ||
		    ((strcmp(x->workload, "scatter") == 0 || strcmp(x->workload, "filter") == 0 ||
		         strcmp(x->workload, "migrate") == 0 || strcmp(x->workload, "rebalance") == 0) &&
		        x->status == RES_FAILED))
			continue;
		bool done = false;
		for (size_t j = 0; j < i && !done; j++)
			done = strcmp(r->results[j].workload, x->workload) == 0 &&
			    strcmp(r->results[j].reason, x->reason) == 0;
		if (done)
			continue;
		if (!header) {
			fputs("## Not run\n\n", f);
			header = true;
		}
		fprintf(f, "- %s (", x->workload);
		bool first = true;
		for (size_t j = i; j < r->n_results; j++)
			if (strcmp(r->results[j].workload, x->workload) == 0 &&
			    strcmp(r->results[j].reason, x->reason) == 0) {
				fprintf(f, "%s%s", first ? "" : ", ", r->results[j].target);
				first = false;
			}
		fprintf(f, "): %s: %s\n", status_name(x->status), x->reason);
	}
	if (header)
		fputs("\n", f);
	if (fclose(f) != 0)
		return shoal_status_set(st, SHOAL_INTERNAL, "%s: %s", path, strerror(errno));
	return SHOAL_OK;
}

shoal_code
bench_write_outputs(bench_run *r, const char *dir, const char *prefix, const char *gnuplot,
    shoal_status *st)
{
	shoal_code rv = util_mkdir_p(dir, st);
	if (rv != SHOAL_OK)
		return rv;
	char plots[16][300], why[400];
	uint32_t pc[16];
	int n_plots = draw_plots(r, dir, prefix, gnuplot, plots, pc, 16, why, sizeof why);
	if (why[0]) {
		bench_progress_done();
		fprintf(stderr, "shoal-bench: %s\n", why);
	}
	char json[700], md[700];
	snprintf(json, sizeof json, "%s/%s.json", dir, prefix);
	snprintf(md, sizeof md, "%s/%s.md", dir, prefix);
	char mpng[400], mwhy[400];
	draw_migrate_plot(r, dir, prefix, gnuplot, mpng, sizeof mpng, mwhy, sizeof mwhy);
	if (mwhy[0]) {
		bench_progress_done();
		fprintf(stderr, "shoal-bench: migrate plot: %s\n", mwhy);
	}
	if ((rv = write_json(r, json, st)) != SHOAL_OK)
		return rv;
	if ((rv = write_markdown(r, md, plots, pc, n_plots, why, mpng, mwhy, st)) != SHOAL_OK)
		return rv;
	fprintf(stderr, "shoal-bench: wrote %s, %s", json, md);
	for (int i = 0; i < n_plots; i++)
		fprintf(stderr, ", %s/%s", dir, plots[i]);
	if (mpng[0])
		fprintf(stderr, ", %s/%s", dir, mpng);
	fputs("\n", stderr);
	return SHOAL_OK;
}
