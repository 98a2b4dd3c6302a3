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
 *
 * Plots: one PNG per client count, recall@k on x and QPS (log) on y, one
 * line per target, as ann-benchmarks draws them.  The .dat files and the
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
	return strcmp(r->workload, "search") == 0 || strcmp(r->workload, "tenant") == 0;
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

static const char *const TARGET_ORDER[] = {"shoal", "pgvector", "faiss"};
#define N_TARGETS 3

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
	if (!find_gnuplot(gnuplot, gp, sizeof gp)) {
		snprintf(why, why_cap,
		    "gnuplot not found%s%s: plots not drawn (install it, e.g. apt-get install "
		    "gnuplot-nox, and run again)",
		    gnuplot ? " at " : " on PATH", gnuplot ? gnuplot : "");
		bench_fact_set(r, "gnuplot", "not found");
		return 0;
	}
	char ver[128], cmd[800];
	snprintf(cmd, sizeof cmd, "'%s' --version 2>/dev/null", gp);
	first_line_of_command(cmd, ver, sizeof ver);
	bench_fact_set(r, "gnuplot", "%s", ver[0] ? ver : gp);
	/* pngcairo draws nicer lines; plain png (libgd) is the fallback */
	snprintf(cmd, sizeof cmd, "'%s' -e 'set terminal pngcairo' >/dev/null 2>&1", gp);
	const char *term = system(cmd) == 0 ? "pngcairo size 1000,650" : "png size 1000,650";

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
		    "lc rgb '#2ca02c' pt 9"};
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
	snprintf(cmd, sizeof cmd, "cd '%s' && '%s' '%s-plots.gp' 2>&1", dir, gp, prefix);
	char out[300];
	FILE *p = popen(cmd, "r");
	size_t got = p ? fread(out, 1, sizeof out - 1, p) : 0;
	out[got] = '\0';
	int rc = p ? pclose(p) : -1;
	if (rc != 0) {
		out[strcspn(out, "\n")] = '\0';
		snprintf(why, why_cap, "gnuplot failed (%.100s): %.250s", gp, out);
		return 0;
	}
	return drawn;
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

static void
md_goals(FILE *f, const bench_run *r)
{
	fputs("## Goals of issue 7\n\n", f);
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
	/* shoal vs faiss at the same ef_search */
	for (int c = 0; c < nc; c++) {
		double worst = INFINITY;
		uint32_t worst_ef = 0;
		int pairs = 0;
		for (size_t i = 0; i < r->n_results; i++) {
			const bench_result *s = &r->results[i];
			if (s->status != RES_OK || strcmp(s->workload, "search") != 0 ||
			    strcmp(s->target, "shoal") != 0 || s->clients != counts[c])
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
		    "- shoal QPS vs raw FAISS at the same ef_search, %u client%s: lowest ratio %.2f "
		    "(ef %u); goal >= 0.75 (within 25%%): **%s**",
		    counts[c], counts[c] == 1 ? "" : "s", worst, worst_ef,
		    worst >= 0.75 ? "met" : "missed");
		if (worst < 0.75)
			fprintf(f, " (%.0f%% below FAISS)", (1.0 - worst) * 100.0);
		fputs("\n", f);
	}
	if (!any)
		fputs("Not evaluated: needs shoal together with pgvector or faiss results.\n", f);
	fputs("\n", f);
}

static shoal_code
write_markdown(const bench_run *r, const char *path, char plots[][300], const uint32_t *pc,
    int n_plots, const char *plot_why, shoal_status *st)
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

	/* everything not run, one line per workload and reason */
	bool header = false;
	for (size_t i = 0; i < r->n_results; i++) {
		const bench_result *x = &r->results[i];
		if (x->status == RES_OK || strcmp(x->workload, "search") == 0 ||
		    strcmp(x->workload, "ingest") == 0 || strcmp(x->workload, "tenant") == 0)
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
	if ((rv = write_json(r, json, st)) != SHOAL_OK)
		return rv;
	if ((rv = write_markdown(r, md, plots, pc, n_plots, why, st)) != SHOAL_OK)
		return rv;
	fprintf(stderr, "shoal-bench: wrote %s, %s", json, md);
	for (int i = 0; i < n_plots; i++)
		fprintf(stderr, ", %s/%s", dir, plots[i]);
	fputs("\n", stderr);
	return SHOAL_OK;
}
