/* metrics.h -- a small metrics registry with Prometheus text exposition.
 *
 * Three kinds of series, each one time series (a metric name plus a fixed
 * label set), registered once and then updated lock-free:
 *   counter    monotonically increasing uint64 (requests, errors)
 *   gauge      a double that goes up and down (points, bytes)
 *   histogram  fixed buckets chosen at registration (latencies, seconds)
 *
 * Hot path: metrics_counter_add / metrics_gauge_set / metrics_histogram_
 * observe are a few relaxed atomic operations on memory allocated at
 * registration: no lock, no allocation.  Registration takes the registry
 * mutex and allocates; do it at startup (or once per new label value).
 *
 * Values known only at scrape time (a worker's point count, the per-tenant
 * sizes on the coordinator) come from collectors: functions run by
 * metrics_render that write whole families with metrics_write.  Their
 * label sets may change from one scrape to the next (tenants come and go)
 * without anything being registered.
 *
 * Output: the Prometheus text format, version 0.0.4 (what every scraper
 * reads): "# HELP", "# TYPE", then `name{labels} value` lines; histograms
 * as name_bucket{le=...} (cumulative), name_sum and name_count.
 *
 * Labels are passed pre-rendered: `method="Search",code="OK"` (use
 * metrics_labels to build and escape them).  Names must match
 * [a-zA-Z_:][a-zA-Z0-9_:]*; registration aborts on a bad name or on a name
 * reused with another type -- both are programming errors.
 *
 * Threading: every function is thread-safe.  Series live until
 * metrics_free.
 */
#ifndef SHOAL_METRICS_H
#define SHOAL_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct metrics_registry metrics_registry;
typedef struct metrics_series metrics_counter;
typedef struct metrics_series metrics_gauge;
typedef struct metrics_series metrics_histogram;
typedef struct metrics_writer metrics_writer;

/* Latency buckets in seconds, 100 us .. 10 s (rpc durations). */
extern const double metrics_latency_buckets[];
extern const size_t metrics_latency_nbuckets;

metrics_registry *metrics_new(void);
/* Frees the registry and every series.  No update may be running. NULL ok. */
void metrics_free(metrics_registry *reg);

/* Returns the series (name, labels), creating family and series on first
 * use.  labels may be NULL or "" (no labels).  help is used when the
 * family is created.  The returned pointer is owned by reg. */
metrics_counter *metrics_counter_get(metrics_registry *reg, const char *name, const char *help,
    const char *labels);
metrics_gauge *metrics_gauge_get(metrics_registry *reg, const char *name, const char *help,
    const char *labels);
/* bounds: nbounds strictly increasing upper bounds (the +Inf bucket is
 * added); copied.  Every series of a family must use the same bounds. */
metrics_histogram *metrics_histogram_get(metrics_registry *reg, const char *name,
    const char *help, const char *labels, const double *bounds, size_t nbounds);

void metrics_counter_add(metrics_counter *c, uint64_t n);
uint64_t metrics_counter_value(const metrics_counter *c);
void metrics_gauge_set(metrics_gauge *g, double v);
void metrics_gauge_add(metrics_gauge *g, double delta);
double metrics_gauge_value(const metrics_gauge *g);
void metrics_histogram_observe(metrics_histogram *h, double v);
uint64_t metrics_histogram_count(const metrics_histogram *h);

/* A counter series is printed only once it is non-zero when this is set
 * (e.g. one series per rpc method and error code: hundreds of zeros would
 * drown the ones that matter).  Default: always printed. */
void metrics_series_hide_zero(metrics_counter *c, bool hide);

/* ---- collectors -------------------------------------------------------- */

typedef void (*metrics_collect_fn)(void *arg, metrics_writer *w);

/* fn runs at every render, after the registered families, in the order
 * collectors were added.  arg is borrowed. */
void metrics_add_collector(metrics_registry *reg, metrics_collect_fn fn, void *arg);

/* Within a collector: one sample.  type is "gauge" or "counter"; HELP and
 * TYPE lines are written when name differs from the previous sample's, so
 * a collector must write all samples of one family together. */
void metrics_write(metrics_writer *w, const char *name, const char *type, const char *help,
    const char *labels, double value);

/* Builds a label string into buf: pairs of (key, value) terminated by
 * NULL, values escaped (\\, \", \n).  Truncates at cap (returns false). */
bool metrics_labels(char *buf, size_t cap, ...);

/* ---- exposition -------------------------------------------------------- */

/* Renders every family and then the collectors' output.  Returns a
 * malloc'ed NUL-terminated text (caller frees), its length in *len. */
char *metrics_render(metrics_registry *reg, size_t *len);

#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#endif
