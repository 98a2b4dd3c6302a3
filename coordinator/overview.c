/* overview.c -- see overview.h.
 *
 * One snapshot = Status + ListTenants (+ ListImports when the import
 * rpcs are served), each a local call into the Coordinator service with a
 * SNAPSHOT_TIMEOUT_MS deadline.  A part that fails is reported (in the
 * JSON's "errors", as a log warning for metrics) and the rest is still
 * shown: an overview that goes blank when one worker is slow would fail
 * exactly when it is needed.  ListTenants asks the workers for point
 * counts (router.c, at most 2 s per worker), so a scrape costs one Status
 * rpc per up worker.
 *
 * Runs on httpd's own threads (never nng's): the local calls block on
 * worker rpcs.
 */
#include "overview.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "rpc.h"
#include "shoal.pb-c.h"
#include "util.h"

#define SNAPSHOT_TIMEOUT_MS 5000u

struct overview {
	ProtobufCService *svc;
};

typedef struct snapshot {
	rpc_result status, tenants, imports;
	const Shoal__StatusReply *st;        /* NULL when it failed */
	const Shoal__ListTenantsReply *tl;   /* NULL when it failed */
	const Shoal__ListImportsReply *il;   /* NULL when failed or not served */
	char errors[3][SHOAL_STATUS_MSG_MAX + 32];
	int nerrors;
} snapshot;

overview *
overview_new(ProtobufCService *svc)
{
	overview *ov = xcalloc(1, sizeof *ov);
	ov->svc = svc;
	return ov;
}

void
overview_free(overview *ov)
{
	free(ov);
}

static shoal_code
local_call(overview *ov, const char *method, const ProtobufCMessage *in, rpc_result *res)
{
	const ProtobufCMethodDescriptor *m =
	    protobuf_c_service_descriptor_get_method_by_name(ov->svc->descriptor, method);
	rpc_call_opts o = {.timeout_ms = SNAPSHOT_TIMEOUT_MS};

	if (m == NULL) {
		memset(res, 0, sizeof *res);
		return shoal_status_set(&res->status, SHOAL_UNIMPLEMENTED, "no method %s", method);
	}
	return rpc_call_local(ov->svc, (unsigned)(m - ov->svc->descriptor->methods), in, NULL, &o,
	    res);
}

static void
snapshot_take(overview *ov, snapshot *s)
{
	Shoal__StatusRequest sreq = SHOAL__STATUS_REQUEST__INIT;
	Shoal__ListTenantsRequest treq = SHOAL__LIST_TENANTS_REQUEST__INIT;
	Shoal__ListImportsRequest ireq = SHOAL__LIST_IMPORTS_REQUEST__INIT;

	memset(s, 0, sizeof *s);
	if (local_call(ov, "Status", &sreq.base, &s->status) == SHOAL_OK)
		s->st = (const Shoal__StatusReply *)s->status.reply;
	else
		snprintf(s->errors[s->nerrors++], sizeof s->errors[0], "status: %s",
		    s->status.status.msg);
	if (local_call(ov, "ListTenants", &treq.base, &s->tenants) == SHOAL_OK)
		s->tl = (const Shoal__ListTenantsReply *)s->tenants.reply;
	else
		snprintf(s->errors[s->nerrors++], sizeof s->errors[0], "tenants: %s",
		    s->tenants.status.msg);
	shoal_code rc = local_call(ov, "ListImports", &ireq.base, &s->imports);
	if (rc == SHOAL_OK)
		s->il = (const Shoal__ListImportsReply *)s->imports.reply;
	else if (rc != SHOAL_UNIMPLEMENTED) /* imports not served: nothing to show */
		snprintf(s->errors[s->nerrors++], sizeof s->errors[0], "imports: %s",
		    s->imports.status.msg);
}

static void
snapshot_free(snapshot *s)
{
	rpc_result_free(&s->status);
	rpc_result_free(&s->tenants);
	rpc_result_free(&s->imports);
}

/* "IMPORT_RUNNING" -> "running" (from the enum's own descriptor). */
static void
import_state_name(int v, char *out, size_t cap)
{
	const ProtobufCEnumValue *ev =
	    protobuf_c_enum_descriptor_get_value(&shoal__import_state__descriptor, v);
	const char *n = ev ? ev->name : "unknown";
	if (strncmp(n, "IMPORT_STATE_", 13) == 0)
		n += 13;
	else if (strncmp(n, "IMPORT_", 7) == 0)
		n += 7;
	size_t i = 0;
	for (; n[i] && i + 1 < cap; i++)
		out[i] = (char)tolower((unsigned char)n[i]);
	out[i] = '\0';
}

/* ===================================================================
 * JSON
 * =================================================================== */

static void
json_str(httpd_buf *b, const char *key, const char *v, bool comma)
{
	httpd_buf_printf(b, "%s\"%s\":\"", comma ? "," : "", key);
	httpd_buf_json(b, v ? v : "");
	httpd_buf_put(b, "\"", 1);
}

static void
json_u64(httpd_buf *b, const char *key, uint64_t v, bool comma)
{
	httpd_buf_printf(b, "%s\"%s\":%llu", comma ? "," : "", key, (unsigned long long)v);
}

char *
overview_json(overview *ov, size_t *len)
{
	snapshot s;
	httpd_buf b = {0};

	snapshot_take(ov, &s);
	httpd_buf_put(&b, "{", 1);
	json_str(&b, "version", s.st ? s.st->version : "", false);
	json_u64(&b, "generated_ms", util_now_ms(), true);
	json_u64(&b, "epoch", s.st ? s.st->epoch : 0, true);
	json_u64(&b, "tenant_count", s.st ? s.st->tenants : 0, true);
	json_u64(&b, "collection_count", s.st ? s.st->collections : 0, true);
	json_u64(&b, "orphans_reclaimed", s.st ? s.st->orphans_reclaimed : 0, true);
	json_u64(&b, "orphans_pending", s.st ? s.st->orphans_pending : 0, true);

	httpd_buf_printf(&b, ",\"workers\":[");
	for (size_t i = 0; s.st && i < s.st->n_workers; i++) {
		const Shoal__WorkerInfo *w = s.st->workers[i];
		httpd_buf_printf(&b, "%s{", i ? "," : "");
		json_str(&b, "name", w->name, false);
		json_str(&b, "url", w->url, true);
		httpd_buf_printf(&b, ",\"up\":%s", w->up ? "true" : "false");
		json_u64(&b, "points", w->points, true);
		json_u64(&b, "bytes", w->bytes, true);
		json_u64(&b, "shards", w->shards, true);
		json_u64(&b, "shared_shards", w->shared_shards, true);
		json_u64(&b, "replicas", w->replicas, true);
		json_u64(&b, "tenants", w->tenants, true);
		json_u64(&b, "last_seen_ms", w->last_seen_ms, true);
		json_u64(&b, "memory_bytes", w->memory_bytes, true);
		httpd_buf_printf(&b, ",\"requests_per_sec\":%.1f", w->requests_per_sec);
		httpd_buf_printf(&b, ",\"tenant_names\":[");
		size_t k = 0;
		for (size_t j = 0; s.tl && j < s.tl->n_tenants; j++) {
			if (strcmp(s.tl->tenants[j]->worker, w->name) != 0)
				continue;
			httpd_buf_printf(&b, "%s\"", k++ ? "," : "");
			httpd_buf_json(&b, s.tl->tenants[j]->name);
			httpd_buf_put(&b, "\"", 1);
		}
		httpd_buf_printf(&b, "]}");
	}
	httpd_buf_printf(&b, "],\"tenants\":[");
	for (size_t j = 0; s.tl && j < s.tl->n_tenants; j++) {
		const Shoal__TenantInfo *t = s.tl->tenants[j];
		httpd_buf_printf(&b, "%s{", j ? "," : "");
		json_str(&b, "name", t->name, false);
		json_str(&b, "worker", t->worker, true);
		json_u64(&b, "collections", t->collections, true);
		json_u64(&b, "points", t->points, true);
		httpd_buf_put(&b, "}", 1);
	}
	httpd_buf_printf(&b, "],\"imports_served\":%s,\"imports\":[", s.il ? "true" : "false");
	for (size_t j = 0; s.il && j < s.il->n_jobs; j++) {
		const Shoal__ImportJob *jb = s.il->jobs[j];
		char state[32];
		import_state_name(jb->state, state, sizeof state);
		httpd_buf_printf(&b, "%s{", j ? "," : "");
		json_str(&b, "id", jb->id, false);
		json_str(&b, "state", state, true);
		json_u64(&b, "rows_done", jb->rows_done, true);
		json_u64(&b, "rows_estimated", jb->rows_estimated, true);
		json_u64(&b, "rows_skipped", jb->rows_skipped, true);
		httpd_buf_printf(&b, ",\"rows_per_sec\":%.1f", jb->rows_per_sec);
		json_str(&b, "current", jb->current, true);
		json_str(&b, "error", jb->error, true);
		httpd_buf_put(&b, "}", 1);
	}
	httpd_buf_printf(&b, "],\"errors\":[");
	for (int e = 0; e < s.nerrors; e++) {
		httpd_buf_printf(&b, "%s\"", e ? "," : "");
		httpd_buf_json(&b, s.errors[e]);
		httpd_buf_put(&b, "\"", 1);
	}
	httpd_buf_put(&b, "]}\n", 3);
	snapshot_free(&s);
	*len = b.len;
	return b.p;
}

/* ===================================================================
 * HTTP
 * =================================================================== */

static const char page_html[] =
    "<!doctype html>\n"
    "<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
    "<title>shoal cluster</title>\n"
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
    "<style>\n"
    "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}\n"
    "h1{font-size:1.4em;margin:0}h2{font-size:1.1em;margin:1.2em 0 .3em}\n"
    "table{border-collapse:collapse}\n"
    "th,td{padding:.25em .8em;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}\n"
    "th{font-weight:600;background:#f6f6f6}\n"
    "td.n{text-align:right;font-variant-numeric:tabular-nums}\n"
    ".up{color:#137333;font-weight:600}.down{color:#c5221f;font-weight:600}\n"
    ".muted{color:#777}#error{color:#c5221f;margin:.5em 0}\n"
    "</style></head>\n"
    "<body>\n"
    "<h1>shoal cluster</h1>\n"
    "<div id=\"summary\" class=\"muted\">loading&hellip;</div>\n"
    "<div id=\"error\"></div>\n"
    "<noscript>This page draws with JavaScript; the same data is at "
    "<a href=\"/status.json\">/status.json</a>.</noscript>\n"
    "<h2>Nodes</h2>\n"
    "<table id=\"workers\"><thead><tr><th>worker</th><th>state</th><th>address</th>"
    "<th>shards</th><th>tenants</th><th>points</th><th>disk</th><th>memory</th>"
    "<th>requests/s</th><th>last heartbeat</th></tr></thead><tbody></tbody></table>\n"
    "<h2>Tenants</h2>\n"
    "<table id=\"tenants\"><thead><tr><th>tenant</th><th>worker</th><th>collections</th>"
    "<th>points</th></tr></thead><tbody></tbody></table>\n"
    "<div id=\"imports-section\" hidden><h2>Imports</h2>\n"
    "<table id=\"imports\"><thead><tr><th>job</th><th>state</th><th>rows</th>"
    "<th>rows/s</th><th>now reading</th></tr></thead><tbody></tbody></table></div>\n"
    "<p class=\"muted\">Refreshed every 2 s from <a href=\"/status.json\">/status.json</a>; "
    "metrics at <a href=\"/metrics\">/metrics</a>.</p>\n"
    "<script>\n"
    "'use strict';\n"
    "function el(tag, text, cls) {\n"
    "  const e = document.createElement(tag);\n"
    "  if (text !== undefined) e.textContent = String(text);\n"
    "  if (cls) e.className = cls;\n"
    "  return e;\n"
    "}\n"
    "function bytes(n) {\n"
    "  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB']; let i = 0;\n"
    "  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }\n"
    "  return (i ? n.toFixed(1) : n) + ' ' + u[i];\n"
    "}\n"
    "function num(n) { return Number(n).toLocaleString('en-US'); }\n"
    "function fill(id, rows) {\n"
    "  const tb = document.querySelector('#' + id + ' tbody');\n"
    "  tb.replaceChildren(...rows);\n"
    "}\n"
    "function render(s) {\n"
    "  const up = s.workers.filter(w => w.up).length;\n"
    "  document.getElementById('summary').textContent =\n"
    "    'version ' + s.version + ' \\u00b7 epoch ' + s.epoch + ' \\u00b7 ' + up + ' of ' +\n"
    "    s.workers.length + ' workers up \\u00b7 ' + s.tenant_count + ' tenants \\u00b7 ' +\n"
    "    s.collection_count + ' collections \\u00b7 ' + new Date(s.generated_ms).toISOString();\n"
    "  document.getElementById('error').textContent = s.errors.join('; ');\n"
    "  fill('workers', s.workers.map(w => {\n"
    "    const tr = el('tr');\n"
    "    tr.dataset.worker = w.name; tr.dataset.state = w.up ? 'up' : 'down';\n"
    "    tr.append(el('td', w.name), el('td', w.up ? 'up' : 'DOWN', w.up ? 'up' : 'down'),\n"
    "      el('td', w.url),\n"
    "      el('td', w.shards + (w.shared_shards ? ' (+' + w.shared_shards + ' shared)' : ''), 'n'),\n"
    "      el('td', w.tenants + (w.tenant_names.length ? ': ' +\n"
    "        w.tenant_names.slice(0, 10).join(', ') +\n"
    "        (w.tenant_names.length > 10 ? ', \\u2026' : '') : '')),\n"
    "      el('td', num(w.points), 'n'), el('td', bytes(w.bytes), 'n'),\n"
    "      el('td', w.up ? bytes(w.memory_bytes) : '', 'n'),\n"
    "      el('td', w.up ? w.requests_per_sec.toFixed(1) : '', 'n'),\n"
    "      el('td', (w.last_seen_ms / 1000).toFixed(1) + ' s ago', 'n'));\n"
    "    return tr;\n"
    "  }));\n"
    "  fill('tenants', s.tenants.map(t => {\n"
    "    const tr = el('tr'); tr.dataset.tenant = t.name;\n"
    "    tr.append(el('td', t.name), el('td', t.worker), el('td', t.collections, 'n'),\n"
    "      el('td', num(t.points), 'n'));\n"
    "    return tr;\n"
    "  }));\n"
    "  document.getElementById('imports-section').hidden = s.imports.length === 0;\n"
    "  fill('imports', s.imports.map(j => {\n"
    "    const tr = el('tr'); tr.dataset.job = j.id;\n"
    "    const rows = num(j.rows_done) + (j.rows_estimated ? ' of ~' + num(j.rows_estimated) : '');\n"
    "    tr.append(el('td', j.id), el('td', j.state + (j.error ? ': ' + j.error : '')),\n"
    "      el('td', rows, 'n'), el('td', j.rows_per_sec.toFixed(0), 'n'), el('td', j.current));\n"
    "    return tr;\n"
    "  }));\n"
    "  document.body.dataset.loaded = 'yes';\n"
    "}\n"
    "async function refresh() {\n"
    "  try {\n"
    "    const r = await fetch('/status.json', {cache: 'no-store'});\n"
    "    if (!r.ok) throw new Error('HTTP ' + r.status);\n"
    "    render(await r.json());\n"
    "  } catch (e) {\n"
    "    document.getElementById('error').textContent = 'cannot reach the coordinator: ' + e;\n"
    "  }\n"
    "}\n"
    "refresh();\n"
    "setInterval(refresh, 2000);\n"
    "</script>\n"
    "</body></html>\n";

static void
h_page(void *arg, const char *path, const char *query, httpd_reply *out)
{
	(void)arg;
	(void)path;
	(void)query;
	out->body = xstrdup(page_html);
	out->len = sizeof page_html - 1;
	out->content_type = "text/html; charset=utf-8";
}

static void
h_json(void *arg, const char *path, const char *query, httpd_reply *out)
{
	(void)path;
	(void)query;
	out->body = overview_json(arg, &out->len);
	out->content_type = "application/json";
}

shoal_code
overview_register_http(overview *ov, httpd *h, shoal_status *st)
{
	shoal_code rv;
	if ((rv = httpd_handle(h, "/", h_page, ov, st)) != SHOAL_OK ||
	    (rv = httpd_handle(h, "/status", h_page, ov, st)) != SHOAL_OK ||
	    (rv = httpd_handle(h, "/status.json", h_json, ov, st)) != SHOAL_OK)
		return rv;
	return SHOAL_OK;
}

/* ===================================================================
 * Metrics
 * =================================================================== */

static void
collect(void *arg, metrics_writer *w)
{
	overview *ov = arg;
	snapshot s;
	char l[512];

	snapshot_take(ov, &s);
	for (int e = 0; e < s.nerrors; e++)
		log_warn("metrics: %s", s.errors[e]);
	if (s.st != NULL) {
		const Shoal__StatusReply *st = s.st;
		size_t up = 0;
		for (size_t i = 0; i < st->n_workers; i++)
			up += st->workers[i]->up;
		metrics_labels(l, sizeof l, "state", "up", NULL);
		metrics_write(w, "shoal_cluster_workers", "gauge",
		    "Registered workers by state (up = heartbeat within --worker-timeout-ms).", l,
		    (double)up);
		metrics_labels(l, sizeof l, "state", "down", NULL);
		metrics_write(w, "shoal_cluster_workers", "gauge", "", l,
		    (double)(st->n_workers - up));
		metrics_write(w, "shoal_cluster_tenants", "gauge", "Tenants in the catalog.", NULL,
		    st->tenants);
		metrics_write(w, "shoal_cluster_collections", "gauge", "Collections in the catalog.",
		    NULL, st->collections);
		metrics_write(w, "shoal_cluster_epoch", "gauge",
		    "Placement epoch of the catalog (bumps with every placement change).", NULL,
		    (double)st->epoch);
		metrics_write(w, "shoal_cluster_orphan_shards_reclaimed_total", "counter",
		    "Orphan shards (left by interrupted creates) dropped since the coordinator "
		    "started.", NULL, (double)st->orphans_reclaimed);
		metrics_write(w, "shoal_cluster_orphan_shards_pending", "gauge",
		    "Orphan shards found, waiting out --reclaim-grace-ms before they are dropped.",
		    NULL, st->orphans_pending);
#define PER_WORKER(metric, help, expr)                                               \
	for (size_t i = 0; i < st->n_workers; i++) {                                     \
		const Shoal__WorkerInfo *wi = st->workers[i];                                \
		metrics_labels(l, sizeof l, "worker", wi->name, NULL);                       \
		metrics_write(w, metric, "gauge", help, l, (double)(expr));                  \
	}
		PER_WORKER("shoal_cluster_worker_up", "1 when the worker's heartbeat is current.",
		    wi->up ? 1 : 0)
		PER_WORKER("shoal_cluster_worker_last_seen_seconds",
		    "Seconds since the worker's last heartbeat.", (double)wi->last_seen_ms / 1000.0)
		PER_WORKER("shoal_cluster_worker_points", "Live points on the worker (heartbeat).",
		    wi->points)
		PER_WORKER("shoal_cluster_worker_bytes", "Row-store bytes on the worker (heartbeat).",
		    wi->bytes)
		PER_WORKER("shoal_cluster_worker_shards", "Shards on the worker (heartbeat).",
		    wi->shards)
		PER_WORKER("shoal_cluster_worker_tenants", "Dedicated tenants placed on the worker.",
		    wi->tenants)
		PER_WORKER("shoal_cluster_worker_memory_bytes",
		    "Resident memory of the worker process (heartbeat).", wi->memory_bytes)
		PER_WORKER("shoal_cluster_worker_requests_per_second",
		    "Requests the worker served per second between its last two heartbeats.",
		    wi->requests_per_sec)
#undef PER_WORKER
	}
	if (s.tl != NULL) {
		for (size_t j = 0; j < s.tl->n_tenants; j++) {
			const Shoal__TenantInfo *t = s.tl->tenants[j];
			metrics_labels(l, sizeof l, "tenant", t->name, "worker", t->worker, NULL);
			metrics_write(w, "shoal_tenant_points", "gauge",
			    "Live points of a tenant (all its collections), as its worker reports.", l,
			    (double)t->points);
		}
		for (size_t j = 0; j < s.tl->n_tenants; j++) {
			const Shoal__TenantInfo *t = s.tl->tenants[j];
			metrics_labels(l, sizeof l, "tenant", t->name, NULL);
			metrics_write(w, "shoal_tenant_collections", "gauge", "Collections of a tenant.", l,
			    t->collections);
		}
	}
	if (s.il != NULL) {
		static const int states[] = {SHOAL__IMPORT_STATE__IMPORT_RUNNING,
		    SHOAL__IMPORT_STATE__IMPORT_SUCCEEDED, SHOAL__IMPORT_STATE__IMPORT_FAILED,
		    SHOAL__IMPORT_STATE__IMPORT_INTERRUPTED, SHOAL__IMPORT_STATE__IMPORT_CANCELLED};
		char name[32];
		for (size_t k = 0; k < sizeof states / sizeof states[0]; k++) {
			size_t n = 0;
			for (size_t j = 0; j < s.il->n_jobs; j++)
				n += (int)s.il->jobs[j]->state == states[k];
			import_state_name(states[k], name, sizeof name);
			metrics_labels(l, sizeof l, "state", name, NULL);
			metrics_write(w, "shoal_imports", "gauge", "PostgreSQL import jobs by state.", l,
			    (double)n);
		}
		for (size_t j = 0; j < s.il->n_jobs; j++) {
			import_state_name(s.il->jobs[j]->state, name, sizeof name);
			metrics_labels(l, sizeof l, "job", s.il->jobs[j]->id, "state", name, NULL);
			metrics_write(w, "shoal_import_rows_done", "gauge",
			    "Rows of an import job imported or skipped, all acknowledged.", l,
			    (double)s.il->jobs[j]->rows_done);
		}
		for (size_t j = 0; j < s.il->n_jobs; j++) {
			metrics_labels(l, sizeof l, "job", s.il->jobs[j]->id, NULL);
			metrics_write(w, "shoal_import_rows_estimated", "gauge",
			    "Rows the source is estimated to hold (planner estimate).", l,
			    (double)s.il->jobs[j]->rows_estimated);
		}
	}
	snapshot_free(&s);
}

void
overview_register_metrics(overview *ov, metrics_registry *reg)
{
	metrics_add_collector(reg, collect, ov);
}
