/*
 * DESIGN: the built-in `status` subsystem proves the plugin interface and
 * serves the appliance's own endpoints on every listener:
 *   GET /healthz          "ok"
 *   GET /api/v1/status    version, subsystems with their URLs, listeners
 *   GET /metrics          Prometheus text: HTTP per route, store commits, build info,
 *                         and every series of the registry (core/metrics.h)
 *   GET /api/v1/metrics   the same series as a JSON snapshot
 *   GET /api/v1/root.pem  the root CA certificate
 *   GET /                 the web UI's page (web-ui/index.html)
 *   GET /ui/{path}        the web UI's other files (web-ui/<path>)
 * The UI's files are compiled in (cmake/embed.cmake -> core/web_ui.h): nothing
 * is read from disk at run time, so the binary is the whole appliance. They
 * are served with an ETag and "no-cache" (revalidate, then 304), so that a
 * new binary's UI is never mixed with a cached older one, and with a
 * Content-Security-Policy that allows only this origin: no inline script or
 * style, nothing fetched from elsewhere.
 */
#include "core/status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ca.h"
#include "core/error.h"
#include "core/http.h"
#include "core/metrics.h"
#include "core/web_ui.h"

struct status {
	struct tb_core *core;
};

static const struct tb_option status_options[] = {
	{ "enabled", TB_OPT_BOOL, "true", "serve /healthz, /api/v1/status, /api/v1/root.pem, /metrics and the web UI at /" },
	{ "metrics_max_label_values", TB_OPT_INT, "64", "distinct values of a free metrics label (a DAP task, a CT log, an ACME profile) kept per series; later ones count under \"other\"", 1, 4096 },
	TB_OPTIONS_END
};

static const struct tb_section_def status_section = { "status", status_options, 0,
	"the appliance's own endpoints" };
static const struct tb_section_def *const status_sections[] = { &status_section, NULL };

static int healthz(struct tb_http_request *req, void *arg)
{
	(void)arg;
	tb_http_set_header(req, "Cache-Control", "no-store");
	return tb_http_respond(req, 200, "text/plain; charset=utf-8", "ok\n", 3);
}

cJSON *tb_status_json(struct tb_core *core)
{
	cJSON *root = cJSON_CreateObject();
	cJSON_AddStringToObject(root, "version", TB_VERSION);
	cJSON *subs = cJSON_AddArrayToObject(root, "subsystems");
	for (const struct tb_subsystem *const *s = core->subsystems; s && *s; s++) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "name", (*s)->name);
		cJSON *eps = cJSON_AddArrayToObject(o, "endpoints");
		for (size_t i = 0; i < core->n_announce; i++) {
			const struct tb_announce *a = &core->announce[i];
			if (strcmp(a->subsystem, (*s)->name) != 0)
				continue;
			cJSON *e = cJSON_CreateObject();
			cJSON_AddStringToObject(e, "what", a->what);
			cJSON_AddStringToObject(e, "url", a->url);
			cJSON_AddItemToArray(eps, e);
		}
		cJSON_AddItemToArray(subs, o);
	}
	cJSON *ls = cJSON_AddArrayToObject(root, "listeners");
	const cJSON *listen = tb_config_section(core->config, "listen"), *it;
	cJSON_ArrayForEach(it, listen) {
		cJSON *o = cJSON_CreateObject();
		const char *name = tb_cfg_str(it, "name");
		cJSON_AddStringToObject(o, "name", name);
		cJSON_AddStringToObject(o, "address", tb_cfg_str(it, "address"));
		int port = core->http ? tb_http_listener_port(core->http, name) : -1;
		cJSON_AddNumberToObject(o, "port", port >= 0 ? port : (double)tb_cfg_int(it, "port"));
		cJSON_AddBoolToObject(o, "tls", tb_cfg_bool(it, "tls"));
		cJSON_AddItemToArray(ls, o);
	}
	if (core->ca) {
		char fp[128];
		tb_ca_root_fingerprint(core->ca, fp, sizeof fp);
		cJSON_AddStringToObject(root, "root_sha256", fp);
	}
	return root;
}

static int status_api(struct tb_http_request *req, void *arg)
{
	struct status *st = arg;
	cJSON *j = tb_status_json(st->core);
	tb_http_set_header(req, "Cache-Control", "no-store");
	int rc = tb_http_respond_json(req, 200, j);
	cJSON_Delete(j);
	return rc;
}

/* Core's own series, kept by the HTTP server and the store: the first text source. */
static void core_metrics(void *arg, struct tb_bytes *b)
{
	struct status *st = arg;
	tb_bytes_printf(b, "# HELP tb_build_info trustbox build information.\n# TYPE tb_build_info gauge\n"
		"tb_build_info{version=\"%s\"} 1\n", TB_VERSION);
	if (st->core->http)
		tb_http_metrics_write(st->core->http, b);
	if (!st->core->store)
		return;
	struct tb_store_stats s;
	tb_store_get_stats(st->core->store, &s);
	tb_bytes_printf(b, "# HELP tb_store_commits_total Group commits of the store writer.\n"
		"# TYPE tb_store_commits_total counter\ntb_store_commits_total %llu\n"
		"# HELP tb_store_jobs_total Write jobs by outcome.\n# TYPE tb_store_jobs_total counter\n"
		"tb_store_jobs_total{result=\"ok\"} %llu\ntb_store_jobs_total{result=\"failed\"} %llu\n"
		"# HELP tb_store_commit_duration_seconds Time spent in COMMIT (fsync).\n"
		"# TYPE tb_store_commit_duration_seconds histogram\n",
		(unsigned long long)s.commits, (unsigned long long)s.jobs, (unsigned long long)s.failed_jobs);
	for (int i = 0; i < 12; i++)
		tb_bytes_printf(b, "tb_store_commit_duration_seconds_bucket{le=\"%g\"} %llu\n",
			tb_store_bucket_bounds[i], (unsigned long long)s.commit_buckets[i]);
	tb_bytes_printf(b, "tb_store_commit_duration_seconds_bucket{le=\"+Inf\"} %llu\n"
		"tb_store_commit_duration_seconds_sum %.6f\ntb_store_commit_duration_seconds_count %llu\n",
		(unsigned long long)s.commits, s.commit_seconds_sum, (unsigned long long)s.commits);
	tb_bytes_printf(b, "# HELP tb_store_sqlite_memory_bytes Heap memory SQLite holds now (sqlite3_memory_used).\n"
		"# TYPE tb_store_sqlite_memory_bytes gauge\ntb_store_sqlite_memory_bytes %llu\n"
		"# HELP tb_store_cache_bytes Page cache of each store connection, in bytes (SQLITE_DBSTATUS_CACHE_USED; "
		"the writer's as of its last commit).\n# TYPE tb_store_cache_bytes gauge\n"
		"tb_store_cache_bytes{connection=\"writer\"} %llu\ntb_store_cache_bytes{connection=\"reader\"} %llu\n",
		(unsigned long long)s.sqlite_memory_bytes, (unsigned long long)s.writer_cache_bytes,
		(unsigned long long)s.reader_cache_bytes);
}

static int metrics(struct tb_http_request *req, void *arg)
{
	(void)arg;
	struct tb_bytes b = { 0 };
	tb_metrics_write_text(&b);
	tb_http_set_header(req, "Cache-Control", "no-store");
	int rc = b.err ? tb_http_respond_problem(req, 500, "about:blank", "out of memory")
		       : tb_http_respond(req, 200, "text/plain; version=0.0.4; charset=utf-8", b.p, b.len);
	tb_bytes_free(&b);
	return rc;
}

static int metrics_json(struct tb_http_request *req, void *arg)
{
	(void)arg;
	cJSON *j = NULL;
	if (tb_metrics_write_json(&j))
		return tb_http_respond_problem(req, 500, "about:blank", "out of memory");
	tb_http_set_header(req, "Cache-Control", "no-store");
	int rc = tb_http_respond_json(req, 200, j);
	cJSON_Delete(j);
	return rc;
}

static int root_pem(struct tb_http_request *req, void *arg)
{
	struct status *st = arg;
	const char *pem = st->core->ca->root_pem;
	tb_http_set_header(req, "Content-Disposition", "attachment; filename=\"trustbox-root.pem\"");
	return tb_http_respond(req, 200, "application/x-pem-file", pem, strlen(pem));
}

static const char web_ui_csp[] = "default-src 'self'; img-src 'self' data:; "
	"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

static const struct tb_web_ui_file *web_ui_find(const char *path)
{
	for (size_t i = 0; i < tb_web_ui_n_files; i++)
		if (strcmp(tb_web_ui_files[i].path, path) == 0)
			return &tb_web_ui_files[i];
	return NULL;
}

/* RFC 9110 13.1.2: "*" or a list of entity tags, weak ones compared weakly. */
static int etag_matches(const char *inm, const char *etag)
{
	size_t n = strlen(etag);
	for (const char *p = inm; *p;) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '*')
			return 1;
		if (p[0] == 'W' && p[1] == '/')
			p += 2;
		if (strncmp(p, etag, n) == 0 && (p[n] == 0 || p[n] == ',' || p[n] == ' ' || p[n] == '\t'))
			return 1;
		while (*p && *p != ',')
			p++;
	}
	return 0;
}

static int web_ui_send(struct tb_http_request *req, const struct tb_web_ui_file *f)
{
	tb_http_set_header(req, "Cache-Control", "no-cache");
	tb_http_set_header(req, "ETag", f->etag);
	tb_http_set_header(req, "Content-Security-Policy", web_ui_csp);
	tb_http_set_header(req, "X-Content-Type-Options", "nosniff");
	tb_http_set_header(req, "Referrer-Policy", "no-referrer");
	const char *inm = tb_http_header(req, "If-None-Match");
	if (inm && etag_matches(inm, f->etag))
		return tb_http_respond(req, 304, NULL, NULL, 0);
	return tb_http_respond(req, 200, f->content_type, f->data, f->len);
}

static int web_ui_index(struct tb_http_request *req, void *arg)
{
	(void)arg;
	const struct tb_web_ui_file *f = web_ui_find("index.html");
	if (!f)
		return tb_http_respond_problem(req, 404, "about:blank", "no web UI in this build");
	return web_ui_send(req, f);
}

static int web_ui_file(struct tb_http_request *req, void *arg)
{
	(void)arg;
	const char *path = tb_http_path_param(req, "path");
	const struct tb_web_ui_file *f = path ? web_ui_find(path) : NULL;
	if (!f)
		return tb_http_respond_problem(req, 404, "about:blank", "no such file in the web UI");
	return web_ui_send(req, f);
}

/* Mounted at "/": every path no longer prefix claims gets core's 404 from here. */
static const struct tb_http_route_def status_routes[] = {
	{ "GET", "/healthz", healthz, 0 },
	{ "GET", "/api/v1/status", status_api, 0 },
	{ "GET", "/metrics", metrics, 0 },
	{ "GET", "/api/v1/metrics", metrics_json, 0, TB_ROUTE_ADMIN_READ },
	{ "GET", "/api/v1/root.pem", root_pem, 0 },
	{ "GET", "/", web_ui_index, 0 },
	{ "GET", "/index.html", web_ui_index, 0 },
	{ "GET", "/ui/{path...}", web_ui_file, 0 },
};
static const struct tb_http_table status_table = TB_HTTP_TABLE(status_routes, NULL);

static int status_configure(struct tb_core *core, void **state, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	const cJSON *sec = tb_config_section(core->config, "status");
	if (!tb_cfg_bool(sec, "enabled")) {
		*state = NULL;
		return 0;
	}
	struct status *st = calloc(1, sizeof *st);
	if (!st)
		return TB_ERR_NOMEM;
	st->core = core;
	*state = st;
	tb_metrics_set_label_cap((unsigned)tb_cfg_int(sec, "metrics_max_label_values"));
	return 0;
}

static int status_start(void *state)
{
	struct status *st = state;
	if (!st || !st->core->http)
		return 0;
	int err = tb_metrics_add_text(core_metrics, st);
	if (err)
		return err;
	return tb_http_mount(st->core->http, NULL, "/", &status_table, st);
}

static void status_free(void *state)
{
	if (state)
		tb_metrics_remove_text(core_metrics, state);
	free(state);
}

const struct tb_subsystem tb_status_subsystem = {
	.name = "status",
	.sections = status_sections,
	.configure = status_configure,
	.start = status_start,
	.free = status_free,
};
