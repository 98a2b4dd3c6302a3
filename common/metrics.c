/* metrics.c -- see metrics.h.
 *
 * Layout: the registry holds families in registration order; each family
 * holds its series in registration order (a singly linked list, appended
 * under the registry mutex, never shortened).  Updates touch only a
 * series' atomics.  A gauge stores its double's bits in a uint64 atomic;
 * a histogram keeps per-bucket (non-cumulative) counts and its sum as
 * double bits updated by compare-and-swap; render makes them cumulative.
 *
 * Render holds the registry mutex (so registration waits for a scrape,
 * never the hot path), then runs the collectors without it: a collector
 * may take its time (the coordinator's asks workers) and may even
 * register series.
 */
#include "metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

const double metrics_latency_buckets[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
    0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
const size_t metrics_latency_nbuckets =
    sizeof metrics_latency_buckets / sizeof metrics_latency_buckets[0];

typedef enum kind { K_COUNTER, K_GAUGE, K_HISTOGRAM } kind;

struct metrics_series {
	struct metrics_series *next;
	char *labels;
	atomic_uint_fast64_t v;        /* counter value / gauge bits */
	atomic_bool hide_zero;
	size_t nb;                     /* histogram: bounds (the family's) */
	const double *bounds;
	atomic_uint_fast64_t *buckets; /* nb + 1 (last = +Inf) */
	atomic_uint_fast64_t sum_bits;
};

typedef struct family {
	struct family *next;
	char *name, *help;
	kind k;
	double *bounds;
	size_t nb;
	struct metrics_series *head, *tail;
} family;

typedef struct collector {
	metrics_collect_fn fn;
	void *arg;
} collector;

struct metrics_registry {
	pthread_mutex_t mu;
	family *head, *tail;
	collector *coll;
	size_t ncoll;
};

typedef struct out_buf {
	char *p;
	size_t len, cap;
} out_buf;

struct metrics_writer {
	out_buf *b;
	char last[128];
};

static uint64_t
dbits(double d)
{
	uint64_t u;
	memcpy(&u, &d, sizeof u);
	return u;
}

static double
bitsd(uint64_t u)
{
	double d;
	memcpy(&d, &u, sizeof d);
	return d;
}

/* ===================================================================
 * Output buffer
 * =================================================================== */

static void
out_printf(out_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n <= 0)
		return;
	if (b->len + (size_t)n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 8192;
		while (cap < b->len + (size_t)n + 1)
			cap *= 2;
		b->p = xrealloc(b->p, cap);
		b->cap = cap;
	}
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

/* Prometheus number: integers exactly, others with 15 significant digits. */
static void
out_number(out_buf *b, double v)
{
	if (isnan(v))
		out_printf(b, "NaN");
	else if (isinf(v))
		out_printf(b, v > 0 ? "+Inf" : "-Inf");
	else if (v == floor(v) && fabs(v) < 9007199254740992.0)
		out_printf(b, "%.0f", v);
	else
		out_printf(b, "%.15g", v);
}

/* HELP text escaping: backslash and newline. */
static void
out_help(out_buf *b, const char *name, const char *help, const char *type)
{
	out_printf(b, "# HELP %s ", name);
	for (const char *p = help ? help : ""; *p; p++) {
		if (*p == '\\')
			out_printf(b, "\\\\");
		else if (*p == '\n')
			out_printf(b, "\\n");
		else
			out_printf(b, "%c", *p);
	}
	out_printf(b, "\n# TYPE %s %s\n", name, type);
}

static void
out_sample(out_buf *b, const char *name, const char *suffix, const char *labels,
    const char *extra, double v)
{
	bool l = labels && labels[0], e = extra && extra[0];
	out_printf(b, "%s%s", name, suffix);
	if (l || e)
		out_printf(b, "{%s%s%s}", l ? labels : "", l && e ? "," : "", e ? extra : "");
	out_printf(b, " ");
	out_number(b, v);
	out_printf(b, "\n");
}

/* ===================================================================
 * Registration
 * =================================================================== */

static bool
name_ok(const char *n)
{
	if (n == NULL || !((*n >= 'a' && *n <= 'z') || (*n >= 'A' && *n <= 'Z') || *n == '_' ||
	                   *n == ':'))
		return false;
	for (const char *p = n + 1; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      *p == '_' || *p == ':'))
			return false;
	return strlen(n) < 120;
}

metrics_registry *
metrics_new(void)
{
	metrics_registry *r = xcalloc(1, sizeof *r);
	pthread_mutex_init(&r->mu, NULL);
	return r;
}

void
metrics_free(metrics_registry *r)
{
	if (r == NULL)
		return;
	for (family *f = r->head, *fn; f; f = fn) {
		fn = f->next;
		for (struct metrics_series *s = f->head, *sn; s; s = sn) {
			sn = s->next;
			free(s->labels);
			free(s->buckets);
			free(s);
		}
		free(f->name);
		free(f->help);
		free(f->bounds);
		free(f);
	}
	free(r->coll);
	pthread_mutex_destroy(&r->mu);
	free(r);
}

static struct metrics_series *
get_series(metrics_registry *r, const char *name, const char *help, const char *labels, kind k,
    const double *bounds, size_t nb)
{
	family *f;
	struct metrics_series *s;

	if (!name_ok(name)) {
		fprintf(stderr, "metrics: invalid metric name '%s'\n", name ? name : "(null)");
		abort();
	}
	if (labels == NULL)
		labels = "";
	pthread_mutex_lock(&r->mu);
	for (f = r->head; f; f = f->next)
		if (strcmp(f->name, name) == 0)
			break;
	if (f == NULL) {
		f = xcalloc(1, sizeof *f);
		f->name = xstrdup(name);
		f->help = xstrdup(help ? help : "");
		f->k = k;
		if (k == K_HISTOGRAM) {
			for (size_t i = 1; i < nb; i++)
				if (!(bounds[i] > bounds[i - 1])) {
					fprintf(stderr, "metrics: %s: bucket bounds must increase\n", name);
					abort();
				}
			f->nb = nb;
			f->bounds = xmalloc((nb ? nb : 1) * sizeof *f->bounds);
			memcpy(f->bounds, bounds, nb * sizeof *bounds);
		}
		if (r->tail)
			r->tail->next = f;
		else
			r->head = f;
		r->tail = f;
	} else if (f->k != k || (k == K_HISTOGRAM && (f->nb != nb ||
	               memcmp(f->bounds, bounds, nb * sizeof *bounds) != 0))) {
		fprintf(stderr, "metrics: %s registered twice with different types or buckets\n",
		    name);
		abort();
	}
	for (s = f->head; s; s = s->next)
		if (strcmp(s->labels, labels) == 0)
			break;
	if (s == NULL) {
		s = xcalloc(1, sizeof *s);
		s->labels = xstrdup(labels);
		atomic_init(&s->v, k == K_GAUGE ? dbits(0.0) : 0);
		atomic_init(&s->hide_zero, false);
		if (k == K_HISTOGRAM) {
			s->nb = f->nb;
			s->bounds = f->bounds;
			s->buckets = xcalloc(f->nb + 1, sizeof *s->buckets);
			for (size_t i = 0; i <= f->nb; i++)
				atomic_init(&s->buckets[i], 0);
			atomic_init(&s->sum_bits, dbits(0.0));
		}
		if (f->tail)
			f->tail->next = s;
		else
			f->head = s;
		f->tail = s;
	}
	pthread_mutex_unlock(&r->mu);
	return s;
}

metrics_counter *
metrics_counter_get(metrics_registry *r, const char *name, const char *help, const char *labels)
{
	return get_series(r, name, help, labels, K_COUNTER, NULL, 0);
}

metrics_gauge *
metrics_gauge_get(metrics_registry *r, const char *name, const char *help, const char *labels)
{
	return get_series(r, name, help, labels, K_GAUGE, NULL, 0);
}

metrics_histogram *
metrics_histogram_get(metrics_registry *r, const char *name, const char *help,
    const char *labels, const double *bounds, size_t nbounds)
{
	return get_series(r, name, help, labels, K_HISTOGRAM, bounds, nbounds);
}

void
metrics_series_hide_zero(metrics_counter *c, bool hide)
{
	atomic_store(&c->hide_zero, hide);
}

/* ===================================================================
 * Updates (hot path: atomics only)
 * =================================================================== */

void
metrics_counter_add(metrics_counter *c, uint64_t n)
{
	atomic_fetch_add_explicit(&c->v, n, memory_order_relaxed);
}

uint64_t
metrics_counter_value(const metrics_counter *c)
{
	return atomic_load_explicit(&((metrics_counter *)c)->v, memory_order_relaxed);
}

void
metrics_gauge_set(metrics_gauge *g, double v)
{
	atomic_store_explicit(&g->v, dbits(v), memory_order_relaxed);
}

void
metrics_gauge_add(metrics_gauge *g, double d)
{
	uint_fast64_t old = atomic_load_explicit(&g->v, memory_order_relaxed);
	while (!atomic_compare_exchange_weak_explicit(&g->v, &old, dbits(bitsd(old) + d),
	    memory_order_relaxed, memory_order_relaxed))
		;
}

double
metrics_gauge_value(const metrics_gauge *g)
{
	return bitsd(atomic_load_explicit(&((metrics_gauge *)g)->v, memory_order_relaxed));
}

void
metrics_histogram_observe(metrics_histogram *h, double v)
{
	size_t i = 0;
	/* few buckets: a linear scan beats a binary search's branches */
	while (i < h->nb && v > h->bounds[i])
		i++;
	atomic_fetch_add_explicit(&h->buckets[i], 1, memory_order_relaxed);
	uint_fast64_t old = atomic_load_explicit(&h->sum_bits, memory_order_relaxed);
	while (!atomic_compare_exchange_weak_explicit(&h->sum_bits, &old, dbits(bitsd(old) + v),
	    memory_order_relaxed, memory_order_relaxed))
		;
}

uint64_t
metrics_histogram_count(const metrics_histogram *h)
{
	uint64_t n = 0;
	for (size_t i = 0; i <= h->nb; i++)
		n += atomic_load_explicit(&h->buckets[i], memory_order_relaxed);
	return n;
}

/* ===================================================================
 * Collectors and exposition
 * =================================================================== */

void
metrics_add_collector(metrics_registry *r, metrics_collect_fn fn, void *arg)
{
	pthread_mutex_lock(&r->mu);
	r->coll = xrealloc(r->coll, (r->ncoll + 1) * sizeof *r->coll);
	r->coll[r->ncoll++] = (collector){fn, arg};
	pthread_mutex_unlock(&r->mu);
}

void
metrics_write(metrics_writer *w, const char *name, const char *type, const char *help,
    const char *labels, double value)
{
	if (!name_ok(name))
		return;
	if (strcmp(w->last, name) != 0) {
		out_help(w->b, name, help, type);
		snprintf(w->last, sizeof w->last, "%s", name);
	}
	out_sample(w->b, name, "", labels, NULL, value);
}

bool
metrics_labels(char *buf, size_t cap, ...)
{
	va_list ap;
	size_t n = 0;
	bool ok = true;
	const char *k;

	if (cap == 0)
		return false;
	buf[0] = '\0';
	va_start(ap, cap);
	while ((k = va_arg(ap, const char *)) != NULL) {
		const char *v = va_arg(ap, const char *);
		char tmp[8];
		int m = snprintf(buf + n, cap - n, "%s%s=\"", n ? "," : "", k);
		if (m < 0 || (size_t)m >= cap - n) {
			ok = false;
			break;
		}
		n += (size_t)m;
		for (const char *p = v ? v : ""; *p && ok; p++) {
			const char *piece = tmp;
			if (*p == '\\')
				piece = "\\\\";
			else if (*p == '"')
				piece = "\\\"";
			else if (*p == '\n')
				piece = "\\n";
			else {
				tmp[0] = *p;
				tmp[1] = '\0';
			}
			size_t pl = strlen(piece);
			if (n + pl + 2 > cap) {
				ok = false;
				break;
			}
			memcpy(buf + n, piece, pl);
			n += pl;
		}
		if (!ok || n + 2 > cap) {
			ok = false;
			break;
		}
		buf[n++] = '"';
		buf[n] = '\0';
	}
	va_end(ap);
	if (!ok)
		buf[n < cap ? n : cap - 1] = '\0';
	return ok;
}

static void
render_family(out_buf *b, const family *f)
{
	static const char *const types[] = {"counter", "gauge", "histogram"};
	bool any = false;

	for (struct metrics_series *s = f->head; s; s = s->next) {
		if (f->k == K_COUNTER && atomic_load(&s->hide_zero) &&
		    atomic_load_explicit(&s->v, memory_order_relaxed) == 0)
			continue;
		if (!any) {
			out_help(b, f->name, f->help, types[f->k]);
			any = true;
		}
		switch (f->k) {
		case K_COUNTER:
			out_sample(b, f->name, "", s->labels, NULL,
			    (double)atomic_load_explicit(&s->v, memory_order_relaxed));
			break;
		case K_GAUGE:
			out_sample(b, f->name, "", s->labels, NULL,
			    bitsd(atomic_load_explicit(&s->v, memory_order_relaxed)));
			break;
		case K_HISTOGRAM: {
			uint64_t cum = 0;
			char le[64];
			for (size_t i = 0; i <= s->nb; i++) {
				cum += atomic_load_explicit(&s->buckets[i], memory_order_relaxed);
				if (i < s->nb)
					snprintf(le, sizeof le, "le=\"%.15g\"", s->bounds[i]);
				else
					snprintf(le, sizeof le, "le=\"+Inf\"");
				out_sample(b, f->name, "_bucket", s->labels, le, (double)cum);
			}
			out_sample(b, f->name, "_sum", s->labels, NULL,
			    bitsd(atomic_load_explicit(&s->sum_bits, memory_order_relaxed)));
			/* count = the +Inf bucket, read above: the two always agree */
			out_sample(b, f->name, "_count", s->labels, NULL, (double)cum);
			break;
		}
		}
	}
}

char *
metrics_render(metrics_registry *r, size_t *len)
{
	out_buf b = {0};
	collector *coll;
	size_t ncoll;

	pthread_mutex_lock(&r->mu);
	for (family *f = r->head; f; f = f->next)
		render_family(&b, f);
	ncoll = r->ncoll;
	coll = xmalloc((ncoll ? ncoll : 1) * sizeof *coll);
	if (ncoll > 0)
		memcpy(coll, r->coll, ncoll * sizeof *coll);
	pthread_mutex_unlock(&r->mu);

	for (size_t i = 0; i < ncoll; i++) {
		metrics_writer w = {.b = &b};
		coll[i].fn(coll[i].arg, &w);
	}
	free(coll);
	if (b.p == NULL)
		b.p = xstrdup("");
	*len = b.len;
	return b.p;
}
