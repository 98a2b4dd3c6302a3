/* smoke_check.c -- the bench.smoke ctest: run shoal-bench small, check it.
 *
 *   bench-smoke-check SHOAL_BENCH OUT_DIR
 *
 * Runs shoal-bench on small generated data against a --local 2 cluster
 * and raw FAISS (ingest, search with 1 and 2 clients, tenant, and the
 * unbuilt scatter workload), then parses the JSON it wrote with a strict
 * little JSON parser (so malformed output fails too) and checks:
 *   - exit status 0; machine facts (cpu, cores >= 1, faiss, shoal version);
 *   - dataset n/dim/metric/queries as requested;
 *   - per target (faiss, shoal): ingest ok with vectors == N, seconds > 0,
 *     vectors_per_s > 0, seconds >= load_seconds; one ok search result per
 *     (ef_search, clients) with k == 10, recall in [0,1], qps > 0,
 *     0 < p50 <= p95 <= p99, queries >= the query count; recall at the
 *     highest ef_search >= 0.9 and not below the lowest ef's; tenant ok
 *     with 10 tenants and recall >= 0.9; scatter "unsupported" with a
 *     reason and without any number;
 *   - the Markdown report starts with the machine facts and names both
 *     targets; with gnuplot installed, the 1-client PNG exists.
 * Prints every violation; exits 1 if any.
 */
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define N 4000
#define DIM 32
#define Q 200
#define TENANTS 10

/* ===================================================================
 * A strict JSON parser (enough for checking our own output)
 * =================================================================== */

typedef enum { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ } jtype;

typedef struct jval {
	jtype t;
	double num;
	bool b;
	char *str;
	struct jval **items;
	char **keys;
	size_t n;
} jval;

typedef struct jparser {
	const char *p;
	const char *err;
} jparser;

static void
ws(jparser *j)
{
	while (*j->p == ' ' || *j->p == '\n' || *j->p == '\t' || *j->p == '\r')
		j->p++;
}

static jval *jparse_value(jparser *j);

static char *
jparse_string(jparser *j)
{
	if (*j->p != '"') {
		j->err = "expected string";
		return NULL;
	}
	j->p++;
	size_t cap = 64, n = 0;
	char *s = malloc(cap);
	while (*j->p != '"') {
		char c = *j->p;
		if (c == '\0' || (unsigned char)c < 0x20) {
			j->err = "unterminated string or control character";
			free(s);
			return NULL;
		}
		if (c == '\\') {
			j->p++;
			switch (*j->p) {
			case '"': c = '"'; break;
			case '\\': c = '\\'; break;
			case '/': c = '/'; break;
			case 'n': c = '\n'; break;
			case 't': c = '\t'; break;
			case 'r': c = '\r'; break;
			case 'b': c = '\b'; break;
			case 'f': c = '\f'; break;
			case 'u':
				for (int i = 1; i <= 4; i++)
					if (!strchr("0123456789abcdefABCDEF", j->p[i]) || j->p[i] == '\0') {
						j->err = "bad \\u escape";
						free(s);
						return NULL;
					}
				j->p += 4;
				c = '?';
				break;
			default:
				j->err = "bad escape";
				free(s);
				return NULL;
			}
		}
		if (n + 2 > cap)
			s = realloc(s, cap *= 2);
		s[n++] = c;
		j->p++;
	}
	j->p++;
	s[n] = '\0';
	return s;
}

static jval *
jnew(jtype t)
{
	jval *v = calloc(1, sizeof *v);
	v->t = t;
	return v;
}

static jval *
jparse_value(jparser *j)
{
	ws(j);
	const char *p = j->p;
	if (*p == '{' || *p == '[') {
		bool obj = *p == '{';
		jval *v = jnew(obj ? J_OBJ : J_ARR);
		j->p++;
		ws(j);
		if (*j->p == (obj ? '}' : ']')) {
			j->p++;
			return v;
		}
		for (;;) {
			char *key = NULL;
			if (obj) {
				ws(j);
				if ((key = jparse_string(j)) == NULL)
					return NULL;
				ws(j);
				if (*j->p != ':') {
					j->err = "expected ':'";
					return NULL;
				}
				j->p++;
			}
			jval *item = jparse_value(j);
			if (item == NULL)
				return NULL;
			v->items = realloc(v->items, (v->n + 1) * sizeof *v->items);
			v->keys = realloc(v->keys, (v->n + 1) * sizeof *v->keys);
			v->items[v->n] = item;
			v->keys[v->n] = key;
			v->n++;
			ws(j);
			if (*j->p == ',') {
				j->p++;
				continue;
			}
			if (*j->p == (obj ? '}' : ']')) {
				j->p++;
				return v;
			}
			j->err = obj ? "expected ',' or '}'" : "expected ',' or ']'";
			return NULL;
		}
	}
	if (*p == '"') {
		jval *v = jnew(J_STR);
		if ((v->str = jparse_string(j)) == NULL)
			return NULL;
		return v;
	}
	if (strncmp(p, "true", 4) == 0 || strncmp(p, "false", 5) == 0) {
		jval *v = jnew(J_BOOL);
		v->b = *p == 't';
		j->p += v->b ? 4 : 5;
		return v;
	}
	if (strncmp(p, "null", 4) == 0) {
		j->p += 4;
		return jnew(J_NULL);
	}
	if (*p == '-' || (*p >= '0' && *p <= '9')) {
		char *end;
		jval *v = jnew(J_NUM);
		v->num = strtod(p, &end);
		if (end == p || !isfinite(v->num)) {
			j->err = "bad number";
			return NULL;
		}
		j->p = end;
		return v;
	}
	j->err = "unexpected character";
	return NULL;
}

static jval *
jget(const jval *o, const char *key)
{
	if (o == NULL || o->t != J_OBJ)
		return NULL;
	for (size_t i = 0; i < o->n; i++)
		if (strcmp(o->keys[i], key) == 0)
			return o->items[i];
	return NULL;
}

static const char *
jstr(const jval *o, const char *key)
{
	jval *v = jget(o, key);
	return v && v->t == J_STR ? v->str : NULL;
}

static bool
jnum(const jval *o, const char *key, double *out)
{
	jval *v = jget(o, key);
	if (v == NULL || v->t != J_NUM)
		return false;
	*out = v->num;
	return true;
}

/* ===================================================================
 * Checks
 * =================================================================== */

static int failures;

static void
fail(const char *fmt, ...)
{
	va_list ap;
	fputs("CHECK FAILED: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	failures++;
}

static char *
slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	rewind(f);
	char *s = malloc((size_t)n + 1);
	size_t got = fread(s, 1, (size_t)n, f);
	fclose(f);
	s[got] = '\0';
	return s;
}

static const double EFS[] = {10, 40, 160};
static const double CLIENTS[] = {1, 2};

static void
check_target(const jval *results, const char *target)
{
	bool ingest = false, tenant = false, scatter = false;
	double recall_lo[2] = {-1, -1}, recall_hi[2] = {-1, -1};
	int seen[3][2] = {{0}};
	for (size_t i = 0; i < results->n; i++) {
		const jval *r = results->items[i];
		const char *t = jstr(r, "target"), *w = jstr(r, "workload"), *s = jstr(r, "status");
		if (t == NULL || w == NULL || s == NULL) {
			fail("result %zu lacks target/workload/status", i);
			continue;
		}
		if (strcmp(t, target) != 0)
			continue;
		double v, v2, v3;
		if (strcmp(w, "ingest") == 0) {
			ingest = true;
			if (strcmp(s, "ok") != 0) {
				fail("%s ingest status %s: %s", t, s, jstr(r, "reason"));
				continue;
			}
			if (!jnum(r, "vectors", &v) || v != N)
				fail("%s ingest vectors != %d", t, N);
			if (!jnum(r, "seconds", &v) || !(v > 0))
				fail("%s ingest seconds not > 0", t);
			if (!jnum(r, "vectors_per_s", &v2) || !(v2 > 0))
				fail("%s ingest vectors_per_s not > 0", t);
			if (!jnum(r, "load_seconds", &v3) || v3 < 0 || v3 > v + 1e-6)
				fail("%s ingest load_seconds missing or > seconds", t);
			if (!jnum(r, "build_seconds", &v3) || v3 < 0)
				fail("%s ingest build_seconds missing or negative", t);
		} else if (strcmp(w, "search") == 0) {
			if (strcmp(s, "ok") != 0) {
				fail("%s search status %s: %s", t, s, jstr(r, "reason"));
				continue;
			}
			double k, ef, cl, rec, qps, p50, p95, p99, nq;
			if (!jnum(r, "k", &k) || !jnum(r, "ef_search", &ef) || !jnum(r, "clients", &cl) ||
			    !jnum(r, "recall", &rec) || !jnum(r, "qps", &qps) || !jnum(r, "p50_ms", &p50) ||
			    !jnum(r, "p95_ms", &p95) || !jnum(r, "p99_ms", &p99) ||
			    !jnum(r, "queries", &nq)) {
				fail("%s search result %zu lacks a field of the schema", t, i);
				continue;
			}
			if (k != 10)
				fail("%s search k = %g, expected 10", t, k);
			if (!(rec >= 0 && rec <= 1))
				fail("%s ef %g: recall %g outside [0,1]", t, ef, rec);
			if (!(qps > 0))
				fail("%s ef %g: qps %g not > 0", t, ef, qps);
			if (!(p50 > 0 && p50 <= p95 && p95 <= p99))
				fail("%s ef %g: latencies not 0 < p50 <= p95 <= p99 (%g %g %g)", t, ef, p50,
				    p95, p99);
			if (nq < Q)
				fail("%s ef %g: %g queries timed, expected >= %d", t, ef, nq, Q);
			int ei = -1, ci = -1;
			for (int e = 0; e < 3; e++)
				if (EFS[e] == ef)
					ei = e;
			for (int c = 0; c < 2; c++)
				if (CLIENTS[c] == cl)
					ci = c;
			if (ei < 0 || ci < 0) {
				fail("%s: unexpected ef %g / clients %g", t, ef, cl);
				continue;
			}
			seen[ei][ci]++;
			if (ei == 0)
				recall_lo[ci] = rec;
			if (ei == 2)
				recall_hi[ci] = rec;
		} else if (strcmp(w, "tenant") == 0) {
			tenant = true;
			double nt, rec, qps;
			if (strcmp(s, "ok") != 0) {
				fail("%s tenant status %s: %s", t, s, jstr(r, "reason"));
				continue;
			}
			if (!jnum(r, "tenants", &nt) || nt != TENANTS)
				fail("%s tenant: tenants != %d", t, TENANTS);
			if (!jnum(r, "recall", &rec) || !(rec >= 0.9 && rec <= 1))
				fail("%s tenant: recall %g not in [0.9, 1]", t, rec);
			if (!jnum(r, "qps", &qps) || !(qps > 0))
				fail("%s tenant: qps not > 0", t);
		} else if (strcmp(w, "scatter") == 0) {
			scatter = true;
			if (strcmp(s, "unsupported") != 0)
				fail("%s scatter: status %s, expected unsupported", t, s);
			if (jstr(r, "reason") == NULL || strstr(jstr(r, "reason"), "not supported") == NULL)
				fail("%s scatter: no 'not supported' reason", t);
			if (jget(r, "qps") || jget(r, "recall") || jget(r, "seconds"))
				fail("%s scatter: an unsupported workload must carry no numbers", t);
		}
	}
	if (!ingest)
		fail("%s: no ingest result", target);
	if (!tenant)
		fail("%s: no tenant result", target);
	if (!scatter)
		fail("%s: no scatter result", target);
	for (int e = 0; e < 3; e++)
		for (int c = 0; c < 2; c++)
			if (seen[e][c] != 1)
				fail("%s: %d search results for ef %g clients %g, expected 1", target,
				    seen[e][c], EFS[e], CLIENTS[c]);
	for (int c = 0; c < 2; c++) {
		if (recall_hi[c] >= 0 && recall_hi[c] < 0.9)
			fail("%s: recall at ef 160, %g clients is %.4f < 0.9", target, CLIENTS[c],
			    recall_hi[c]);
		if (recall_hi[c] >= 0 && recall_lo[c] >= 0 && recall_hi[c] + 0.02 < recall_lo[c])
			fail("%s: recall falls from %.4f (ef 10) to %.4f (ef 160)", target, recall_lo[c],
			    recall_hi[c]);
	}
}

int
main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: bench-smoke-check SHOAL_BENCH OUT_DIR\n");
		return 2;
	}
	const char *bench = argv[1], *out = argv[2];
	char n_dim[32], q[16], tenants[16];
	snprintf(n_dim, sizeof n_dim, "%d,%d", N, DIM);
	snprintf(q, sizeof q, "%d", Q);
	snprintf(tenants, sizeof tenants, "%d", TENANTS);
	char *args[] = {(char *)bench, "--gen-clustered", n_dim, "--queries", q, "--local", "2",
	    "--targets", "faiss,shoal", "--workload", "ingest,search,tenant,scatter", "--ef",
	    "10,40,160", "--clients", "1,2", "--min-time", "0.3", "--warmup", "50", "--tenants",
	    tenants, "--tenant-size", "200", "--out", (char *)out, "--prefix", "smoke", NULL};
	fprintf(stderr, "running:");
	for (int i = 0; args[i]; i++)
		fprintf(stderr, " %s", args[i]);
	fputc('\n', stderr);
	pid_t pid = fork();
	if (pid == 0) {
		execv(bench, args);
		perror(bench);
		_exit(127);
	}
	int status;
	if (pid < 0 || waitpid(pid, &status, 0) < 0) {
		perror("fork/wait");
		return 1;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail("shoal-bench exited with status %d", WIFEXITED(status) ? WEXITSTATUS(status) : -1);

	char path[600];
	snprintf(path, sizeof path, "%s/smoke.json", out);
	char *text = slurp(path);
	if (text == NULL) {
		fail("%s was not written", path);
		return 1;
	}
	jparser jp = {.p = text};
	jval *root = jparse_value(&jp);
	if (root) {
		ws(&jp);
		if (*jp.p != '\0') {
			root = NULL;
			jp.err = "trailing characters";
		}
	}
	if (root == NULL || root->t != J_OBJ) {
		fail("%s is not valid JSON: %s at offset %ld", path, jp.err ? jp.err : "not an object",
		    (long)(jp.p - text));
		return 1;
	}
	const jval *m = jget(root, "machine"), *ds = jget(root, "dataset"),
	           *res = jget(root, "results");
	double v;
	if (m == NULL || jstr(m, "cpu") == NULL || !jnum(m, "cores", &v) || v < 1 ||
	    jstr(m, "faiss") == NULL || jstr(m, "shoal") == NULL || jstr(m, "memory") == NULL)
		fail("machine facts incomplete (cpu, cores, memory, faiss, shoal)");
	else if (strcmp(jstr(m, "shoal"), "not measured") == 0)
		fail("machine.shoal: the cluster's version was not recorded");
	if (ds == NULL || !jnum(ds, "n", &v) || v != N || !jnum(ds, "dim", &v) || v != DIM ||
	    !jnum(ds, "queries", &v) || v != Q || jstr(ds, "metric") == NULL ||
	    strcmp(jstr(ds, "metric"), "l2") != 0 || jstr(ds, "name") == NULL)
		fail("dataset block wrong (expected n %d, dim %d, queries %d, metric l2)", N, DIM, Q);
	if (res == NULL || res->t != J_ARR) {
		fail("no results array");
	} else {
		check_target(res, "faiss");
		check_target(res, "shoal");
	}

	snprintf(path, sizeof path, "%s/smoke.md", out);
	char *md = slurp(path);
	if (md == NULL)
		fail("%s was not written", path);
	else if (strstr(md, "## Machine") == NULL || strstr(md, "## Machine") > strstr(md, "## Search") ||
	         strstr(md, "| cpu |") == NULL || strstr(md, "| faiss |") == NULL ||
	         strstr(md, "| shoal |") == NULL)
		fail("%s does not start with the machine facts and name both targets", path);
	const char *gp = m ? jstr(m, "gnuplot") : NULL;
	if (gp && strcmp(gp, "not found") != 0) {
		struct stat sb;
		snprintf(path, sizeof path, "%s/smoke-recall-qps-c1.png", out);
		if (stat(path, &sb) != 0 || sb.st_size < 1000)
			fail("gnuplot is installed (%s) but %s is missing or empty", gp, path);
	}
	if (failures) {
		fprintf(stderr, "bench smoke: %d check(s) failed\n", failures);
		return 1;
	}
	printf("bench smoke: all checks passed (%s)\n", out);
	return 0;
}
