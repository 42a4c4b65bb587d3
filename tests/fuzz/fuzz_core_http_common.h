/*
 * Shared scaffold of the HTTP server fuzz targets (fuzz_core_http.c for
 * HTTP/1.1, fuzz_core_http2.c for HTTP/2): one in-memory server with the
 * same handlers, route tables and limits, so both protocols drive the same
 * routes, wildcards, 404/405 renderers, deferred answers and body limits.
 */
#ifndef FUZZ_CORE_HTTP_COMMON_H
#define FUZZ_CORE_HTTP_COMMON_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/http.h"
#include "core/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uv_loop_t loop;
static struct tb_http_server *srv;

static int h_echo(struct tb_http_request *req, void *arg)
{
	(void)arg;
	const char *q = tb_http_query_param(req, "q");
	const char *ct = tb_http_header(req, "content-type");
	tb_http_set_header(req, "X-Q", q && !strpbrk(q, "\r\n") ? q : "-");
	char *s = tb_arena_printf(req->arena, "%s %s %s %zu", req->method, req->path, ct ? ct : "-",
		req->body.len);
	return tb_http_respond(req, 200, "text/plain", s, strlen(s));
}

static int h_json(struct tb_http_request *req, void *arg)
{
	(void)arg;
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "path", req->path);
	int rc = tb_http_respond_json(req, 200, o);
	cJSON_Delete(o);
	return rc;
}

static int h_problem(struct tb_http_request *req, void *arg)
{
	(void)arg;
	return tb_http_respond_problem(req, 400, "urn:x", req->query);
}

static int h_later(struct tb_http_request *req, void *arg)
{
	(void)arg;
	/* Answers from "later" code, still before the feed returns. */
	tb_http_respond(req, 202, NULL, NULL, 0);
	return TB_HTTP_LATER;
}

static int h_fail(struct tb_http_request *req, void *arg)
{
	(void)req, (void)arg;
	return -1;
}

/* Route tables: parameters, rest wildcards, 405s worded by a renderer. */
static int h_params(struct tb_http_request *req, void *arg)
{
	const char *id = tb_http_path_param(req, "id"), *rest = tb_http_path_param(req, "rest");
	char *s = tb_arena_printf(req->arena, "%s %s %s %s", (const char *)arg, req->route,
		id ? id : "-", rest ? rest : "-");
	return tb_http_respond(req, 200, "text/plain", s, strlen(s));
}

static int render(struct tb_http_request *req, int status, void *arg)
{
	const char *id = tb_http_path_param(req, "id");
	return tb_http_respond_problem(req, status, (const char *)arg, id ? id : "-");
}

static const struct tb_http_route_def routes[] = {
	{ "POST", "/order/{id}", h_params, 0 },
	{ "POST", "/order/{id}/finalize", h_params, 0 },
	{ "GET", "/order/new", h_params, 0 },
	{ "GET", "/tile/{rest...}", h_params, 0 },
	{ NULL, "/any/{id}", h_params, 0 },
	{ "GET", "", h_params, 0 },
};
static const struct tb_http_table table = TB_HTTP_TABLE(routes, render);

/* Plain routes at the root, core's own 404/405 bodies. */
static const struct tb_http_route_def root_routes[] = {
	{ NULL, "/echo", h_echo, 0 },
	{ NULL, "/echo/{rest...}", h_echo, 0 },
	{ "GET", "/json", h_json, 0 },
	{ "POST", "/json", h_json, 0 },
	{ "GET", "/p", h_problem, 0 },
	{ "GET", "/later", h_later, 0 },
	{ "PUT", "/fail", h_fail, 0 },
	{ "POST", "/big", h_echo, 65536 },
};
static const struct tb_http_table root_table = TB_HTTP_TABLE(root_routes, NULL);

static void fuzz_http_init(void)
{
	tb_log_set_level(TB_LOG_OFF);
	uv_loop_init(&loop);
	struct tb_http_limits lim = { .max_header_bytes = 4096, .max_headers = 32, .max_body = 8192 };
	tb_http_server_new(&srv, &loop, &lim);
	tb_http_mount(srv, NULL, "/", &root_table, NULL);
	tb_http_mount(srv, NULL, "/t", &table, "urn:t");
	tb_http_mount(srv, NULL, "/u/", &table, "urn:u");
}

#endif
