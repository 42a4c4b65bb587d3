/*
 * The route tables of core/http.c through the in-memory feed: path
 * parameters, rest wildcards, 404, 405 with Allow listing exactly the
 * methods of the matching patterns, one table mounted twice with different
 * states, the bounds on parameters and patterns, the table's error renderer,
 * HEAD for GET routes, specificity, metrics labelled by pattern and the
 * precedence between mounts of nested prefixes.
 */
#include <string.h>

#include "core/error.h"
#include "core/http.h"
#include "tb_test.h"

static uv_loop_t loop;

/* Echoes the mount's state, the route label and the parameters a test asks for. */
static int h_echo(struct tb_http_request *req, void *arg)
{
	static const char *const names[] = { "id", "rest", "task_id", "job_id", "p8", "a" };
	char *b = tb_arena_printf(req->arena, "state=%s route=%s method=%s", (const char *)arg,
		req->route, req->method);
	for (size_t i = 0; b && i < sizeof names / sizeof names[0]; i++) {
		const char *v = tb_http_path_param(req, names[i]);
		if (v)
			b = tb_arena_printf(req->arena, "%s %s=[%s]", b, names[i], v);
	}
	if (!b)
		return TB_ERR_NOMEM;
	return tb_http_respond(req, 200, "text/plain", b, strlen(b));
}

static int h_inner(struct tb_http_request *req, void *arg)
{
	(void)arg;
	return tb_http_respond(req, 200, "text/plain", "inner", 5);
}

static int h_metrics(struct tb_http_request *req, void *arg)
{
	(void)arg;
	struct tb_bytes b = { 0 };
	tb_http_metrics_write(req->server, &b);
	int rc = tb_http_respond(req, 200, "text/plain", b.p, b.len);
	tb_bytes_free(&b);
	return rc;
}

/* The way ACME and DAP word core's 404/405: their own problem documents and headers. */
static int render_problem(struct tb_http_request *req, int status, void *state)
{
	const char *task = tb_http_path_param(req, "task_id");
	char *b = tb_arena_printf(req->arena, "{\"type\":\"urn:test:%s\",\"status\":%d,\"taskid\":\"%s\"}",
		(const char *)state, status, task ? task : "");
	tb_http_set_header(req, "Replay-Nonce", "n0nce");
	return tb_http_respond(req, status, "application/problem+json", b, strlen(b));
}

/* A renderer that declines: core's default must follow. */
static int render_nothing(struct tb_http_request *req, int status, void *state)
{
	(void)req;
	(void)status;
	(void)state;
	return 0;
}

static const char *feed(struct tb_http_server *s, const char *in)
{
	static char res[65536];
	struct tb_bytes out = { 0 };
	CHECK_INT(tb_http_feed_bytes(s, (const uint8_t *)in, strlen(in), &out), 0);
	size_t n = out.len < sizeof res - 1 ? out.len : sizeof res - 1;
	if (n)
		memcpy(res, out.p, n);
	res[n] = 0;
	tb_bytes_free(&out);
	return res;
}

/* One request; returns the whole response. */
static const char *req_(struct tb_http_server *s, const char *method, const char *path)
{
	char in[4096];
	snprintf(in, sizeof in, "%s %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", method, path);
	return feed(s, in);
}

static int starts(const char *s, const char *p)
{
	return strncmp(s, p, strlen(p)) == 0;
}

static void expect(struct tb_http_server *s, const char *method, const char *path, const char *code,
	const char *needle, int line)
{
	char want[32];
	snprintf(want, sizeof want, "HTTP/1.1 %s ", code);
	const char *r = req_(s, method, path);
	int ok = starts(r, want) && (!needle || strstr(r, needle));
	CHECK(ok);
	if (!ok)
		fprintf(stderr, "  line %d: %s %.80s: want %s with \"%s\"\n  got: %.300s\n", line, method,
			path, code, needle ? needle : "", r);
}

#define EXPECT(s, method, path, code, needle) expect((s), (method), (path), (code), (needle), __LINE__)

#define EXPECT_NOT(s, method, path, needle)                                             \
	do {                                                                            \
		const char *r_ = req_((s), (method), (path));                          \
		CHECK(strstr(r_, (needle)) == NULL);                                    \
	} while (0)

static const struct tb_http_route_def acme_routes[] = {
	{ "POST", "/new-order", h_echo, 0 },
	{ "POST", "/order/{id}", h_echo, 0 },
	{ "POST", "/order/{id}/finalize", h_echo, 0 },
	{ "GET", "/directory", h_echo, 0 },
	{ "GET", "", h_echo, 0 },
	{ "GET", "/tile/{rest...}", h_echo, 0 },
	{ "GET", "/x/{id}", h_echo, 0 },
	{ "POST", "/x/{id}", h_echo, 0 },
	{ "PUT", "/x/new", h_echo, 0 },
	{ "DELETE", "/y", h_echo, 0 },
	{ NULL, "/any", h_echo, 0 },
	{ "HEAD", "/any", h_echo, 0 },
	{ "GET", "/metrics", h_metrics, 0 },
};
static const struct tb_http_table acme_table = TB_HTTP_TABLE(acme_routes, NULL);

static void test_params(void)
{
	struct tb_http_server *s;
	CHECK_INT(tb_http_server_new(&s, &loop, NULL), 0);
	CHECK_INT(tb_http_mount(s, NULL, "/acme", &acme_table, "A"), 0);

	EXPECT(s, "POST", "/acme/order/42/finalize", "200", "route=/acme/order/{id}/finalize method=POST id=[42]");
	EXPECT(s, "POST", "/acme/order/42", "200", "route=/acme/order/{id} method=POST id=[42]");
	EXPECT(s, "POST", "/acme/new-order", "200", "route=/acme/new-order");
	EXPECT(s, "GET", "/acme", "200", "route=/acme method=GET");
	/* decoded before matching: %41 is 'A'; %2F is a '/', so it splits segments */
	EXPECT(s, "POST", "/acme/order/%41b/finalize", "200", "id=[Ab]");
	EXPECT(s, "POST", "/acme/order/a%2Fb/finalize", "404", NULL);
	/* a parameter is one non-empty segment */
	EXPECT(s, "POST", "/acme/order//finalize", "404", NULL);
	EXPECT(s, "POST", "/acme/order/42/finalize/", "404", NULL);
	EXPECT(s, "POST", "/acme/order/", "404", NULL);
	EXPECT(s, "GET", "/acme/directory/", "404", NULL);
	/* segment boundaries of the prefix */
	EXPECT(s, "GET", "/acmex/directory", "404", NULL);
	EXPECT(s, "GET", "/acme/", "404", NULL);
	/* rest wildcard: after "/tile/", '/' included, possibly empty; not "/tile" itself */
	EXPECT(s, "GET", "/acme/tile/data/x001/234.p/5", "200", "rest=[data/x001/234.p/5]");
	EXPECT(s, "GET", "/acme/tile/", "200", "rest=[]");
	EXPECT(s, "GET", "/acme/tile", "404", NULL);
	/* a literal beats a parameter; the method decides between routes of one path */
	EXPECT(s, "PUT", "/acme/x/new", "200", "route=/acme/x/new method=PUT");
	EXPECT(s, "GET", "/acme/x/new", "200", "route=/acme/x/{id} method=GET id=[new]");
	/* an exact method beats "any"; any takes the rest */
	EXPECT(s, "HEAD", "/acme/any", "200", NULL);
	EXPECT(s, "PATCH", "/acme/any", "200", "route=/acme/any method=PATCH");
	/* HEAD for GET routes, without the body */
	const char *r = req_(s, "HEAD", "/acme/directory");
	CHECK(starts(r, "HTTP/1.1 200 "));
	CHECK(strstr(r, "state=") == NULL);
	tb_http_server_free(s);
}

static void test_404_405(void)
{
	struct tb_http_server *s;
	CHECK_INT(tb_http_server_new(&s, &loop, NULL), 0);
	CHECK_INT(tb_http_mount(s, NULL, "/acme/", &acme_table, "A"), 0);

	EXPECT(s, "GET", "/acme/nothing", "404", "application/problem+json");
	EXPECT(s, "GET", "/elsewhere", "404", "no such resource");
	/* Allow lists exactly the methods of the patterns that match the path */
	EXPECT(s, "DELETE", "/acme/x/1", "405", "\r\nAllow: GET, HEAD, POST\r\n");
	EXPECT(s, "DELETE", "/acme/x/new", "405", "\r\nAllow: GET, HEAD, POST, PUT\r\n");
	EXPECT(s, "GET", "/acme/y", "405", "\r\nAllow: DELETE\r\n");
	EXPECT(s, "GET", "/acme/order/1/finalize", "405", "\r\nAllow: POST\r\n");
	EXPECT(s, "PUT", "/acme/directory", "405", "\r\nAllow: GET, HEAD\r\n");
	EXPECT(s, "POST", "/acme/x/1", "200", NULL);
	tb_http_server_free(s);
}

static const struct tb_http_route_def dap_routes[] = {
	{ "PUT", "/tasks/{task_id}/aggregation_jobs/{job_id}", h_echo, 0 },
	{ "GET", "/hpke_config", h_echo, 0 },
};
static const struct tb_http_table dap_table = TB_HTTP_TABLE(dap_routes, render_problem);

static void test_two_mounts_and_renderer(void)
{
	struct tb_http_server *s;
	CHECK_INT(tb_http_server_new(&s, &loop, NULL), 0);
	CHECK_INT(tb_http_mount(s, NULL, "/dap/leader/", &dap_table, "leader"), 0);
	CHECK_INT(tb_http_mount(s, NULL, "/dap/helper/", &dap_table, "helper"), 0);
	CHECK_INT(tb_http_mount(s, NULL, "/dap/helper", &dap_table, "again"), TB_ERR_EXISTS);

	EXPECT(s, "PUT", "/dap/leader/tasks/T1/aggregation_jobs/J1", "200",
		"state=leader route=/dap/leader/tasks/{task_id}/aggregation_jobs/{job_id} method=PUT task_id=[T1] job_id=[J1]");
	EXPECT(s, "PUT", "/dap/helper/tasks/T2/aggregation_jobs/J2", "200",
		"state=helper route=/dap/helper/tasks/{task_id}/aggregation_jobs/{job_id} method=PUT task_id=[T2] job_id=[J2]");
	EXPECT(s, "GET", "/dap/helper/hpke_config", "200", "state=helper");

	/* the renderer words core's decisions, with the mount's state and the 405's parameters */
	EXPECT(s, "GET", "/dap/helper/tasks/T9/aggregation_jobs/J9", "405",
		"{\"type\":\"urn:test:helper\",\"status\":405,\"taskid\":\"T9\"}");
	EXPECT(s, "GET", "/dap/helper/tasks/T9/aggregation_jobs/J9", "405", "\r\nAllow: PUT\r\n");
	EXPECT(s, "GET", "/dap/leader/tasks/T9/aggregation_jobs/J9", "405", "\r\nReplay-Nonce: n0nce\r\n");
	EXPECT(s, "GET", "/dap/leader/nope", "404", "{\"type\":\"urn:test:leader\",\"status\":404,\"taskid\":\"\"}");
	EXPECT(s, "GET", "/dap/leader/nope", "404", "\r\nReplay-Nonce: n0nce\r\n");
	/* outside every mount: core's default */
	EXPECT(s, "GET", "/dap/other/hpke_config", "404", "no such resource");
	tb_http_server_free(s);

	/* a renderer that does not respond: core's default follows */
	static const struct tb_http_table quiet = TB_HTTP_TABLE(dap_routes, render_nothing);
	CHECK_INT(tb_http_server_new(&s, &loop, NULL), 0);
	CHECK_INT(tb_http_mount(s, NULL, "/q", &quiet, "q"), 0);
	EXPECT(s, "GET", "/q/none", "404", "no such resource");
	EXPECT(s, "POST", "/q/hpke_config", "405", "method not allowed");
	tb_http_server_free(s);
}

static void test_bounds(void)
{
	struct tb_http_server *s;
	CHECK_INT(tb_http_server_new(&s, &loop, NULL), 0);

	/* TB_HTTP_MAX_PARAMS parameters fit; one more does not */
	static const struct tb_http_route_def eight[] = {
		{ "GET", "/{p1}/{p2}/{p3}/{p4}/{p5}/{p6}/{p7}/{p8}", h_echo, 0 },
	};
	static const struct tb_http_route_def nine[] = {
		{ "GET", "/{p1}/{p2}/{p3}/{p4}/{p5}/{p6}/{p7}/{p8}/{p9}", h_echo, 0 },
	};
	static const struct tb_http_table t8 = TB_HTTP_TABLE(eight, NULL), t9 = TB_HTTP_TABLE(nine, NULL);
	CHECK_INT(tb_http_mount(s, NULL, "/eight", &t8, "8"), 0);
	CHECK_INT(tb_http_mount(s, NULL, "/nine", &t9, "9"), TB_ERR_TOO_LARGE);
	EXPECT(s, "GET", "/eight/1/2/3/4/5/6/7/8", "200", "p8=[8]");
	EXPECT(s, "GET", "/nine/1/2/3/4/5/6/7/8/9", "404", NULL);

	/* too many segments */
	static const struct tb_http_route_def deep[] = {
		{ "GET", "/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q", h_echo, 0 },
	};
	static const struct tb_http_table tdeep = TB_HTTP_TABLE(deep, NULL);
	CHECK_INT(tb_http_mount(s, NULL, "/deep", &tdeep, "d"), TB_ERR_TOO_LARGE);

	/* malformed patterns */
	static const char *const bad[] = { "x", "/x{id}", "/{id}x", "/{}", "/{...}", "/{rest...}/x",
		"/{a}/{a}", "/{a-b}", "/{a", "/a}" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct tb_http_route_def d[] = { { "GET", bad[i], h_echo, 0 } };
		struct tb_http_table t = TB_HTTP_TABLE(d, NULL);
		int rc = tb_http_mount(s, NULL, "/bad", &t, "b");
		CHECK_INT(rc, TB_ERR_INVALID);
		if (rc != TB_ERR_INVALID)
			fprintf(stderr, "  pattern %s\n", bad[i]);
	}
	static const struct tb_http_table tnone = { NULL, 0, NULL };
	CHECK_INT(tb_http_mount(s, NULL, "no-slash", &tnone, "n"), TB_ERR_INVALID);

	/* a value up to TB_HTTP_MAX_PARAM_LEN matches; a longer one gets 404 */
	static const struct tb_http_route_def one[] = { { "GET", "/{id}", h_echo, 0 },
		{ "GET", "/r/{rest...}", h_echo, 0 } };
	static const struct tb_http_table tone = TB_HTTP_TABLE(one, NULL);
	CHECK_INT(tb_http_mount(s, NULL, "/one", &tone, "1"), 0);
	char path[TB_HTTP_MAX_PARAM_LEN + 32];
	strcpy(path, "/one/");
	memset(path + 5, 'a', TB_HTTP_MAX_PARAM_LEN);
	path[5 + TB_HTTP_MAX_PARAM_LEN] = 0;
	EXPECT(s, "GET", path, "200", "id=[aaaa");
	strcat(path, "a");
	EXPECT(s, "GET", path, "404", NULL);
	strcpy(path, "/one/r/");
	memset(path + 7, 'b', TB_HTTP_MAX_PARAM_LEN + 1);
	path[7 + TB_HTTP_MAX_PARAM_LEN + 1] = 0;
	EXPECT(s, "GET", path, "404", NULL);
	tb_http_server_free(s);
}

static void test_metrics_and_nesting(void)
{
	struct tb_http_server *s;
	CHECK_INT(tb_http_server_new(&s, &loop, NULL), 0);
	/* pattern "" under "/" (labelled "/"; the label once overflowed its buffer under ASan) */
	static const struct tb_http_route_def empty_routes[] = { { "GET", "", h_echo, 0 } };
	static const struct tb_http_table empty = TB_HTTP_TABLE(empty_routes, NULL);
	CHECK_INT(tb_http_mount(s, NULL, "/", &empty, "empty"), 0);
	CHECK_INT(tb_http_mount(s, NULL, "/acme", &acme_table, "A"), 0);
	static const struct tb_http_route_def root_routes[] = { { "GET", "/", h_echo, 0 },
		{ "GET", "/inner/x", h_echo, 0 } };
	static const struct tb_http_table root = TB_HTTP_TABLE(root_routes, NULL);
	CHECK_INT(tb_http_mount(s, NULL, "/", &root, "root"), 0);
	static const struct tb_http_route_def inner_routes[] = { { "GET", "", h_inner, 0 },
		{ "GET", "/{rest...}", h_inner, 0 } };
	static const struct tb_http_table inner = TB_HTTP_TABLE(inner_routes, NULL);
	CHECK_INT(tb_http_mount(s, NULL, "/acme/inner", &inner, NULL), 0);
	CHECK_INT(tb_http_mount(s, NULL, "/inner", &inner, NULL), 0);

	EXPECT(s, "GET", "/", "200", "state=root route=/ ");
	/* the longer prefix wins, even over a shorter mount whose pattern matches */
	EXPECT(s, "GET", "/acme/inner/x", "200", "inner");
	EXPECT(s, "GET", "/inner/x", "200", "inner");
	EXPECT(s, "GET", "/acme/directory", "200", "state=A");
	EXPECT(s, "POST", "/inner", "405", "\r\nAllow: GET, HEAD\r\n");

	EXPECT(s, "POST", "/acme/order/1001/finalize", "200", NULL);
	EXPECT(s, "POST", "/acme/order/1002/finalize", "200", NULL);
	EXPECT(s, "GET", "/acme/order/1003/finalize", "405", NULL);
	EXPECT(s, "GET", "/acme/nothing/1004", "404", NULL);
	/* series by pattern, never by raw path */
	EXPECT(s, "GET", "/acme/metrics", "200", "tb_http_requests_total{route=\"/acme/order/{id}/finalize\",code=\"2xx\",protocol=\"http/1.1\"} 2\n");
	EXPECT(s, "GET", "/acme/metrics", "200", "tb_http_requests_total{route=\"/acme/order/{id}/finalize\",code=\"4xx\",protocol=\"http/1.1\"} 1\n");
	EXPECT(s, "GET", "/acme/metrics", "200", "tb_http_requests_total{route=\"/acme\",code=\"4xx\",protocol=\"http/1.1\"} 1\n");
	EXPECT_NOT(s, "GET", "/acme/metrics", "1001");
	tb_http_server_free(s);
}

/* Body limits are per route. */
static void test_max_body(void)
{
	struct tb_http_server *s;
	CHECK_INT(tb_http_server_new(&s, &loop, NULL), 0);
	static const struct tb_http_route_def rs[] = { { "POST", "/small", h_echo, 4 },
		{ "POST", "/big", h_echo, 0 } };
	static const struct tb_http_table t = TB_HTTP_TABLE(rs, NULL);
	CHECK_INT(tb_http_mount(s, NULL, "/b", &t, "b"), 0);
	const char *r = feed(s, "POST /b/small HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello");
	CHECK(starts(r, "HTTP/1.1 413 "));
	r = feed(s, "POST /b/big HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello");
	CHECK(starts(r, "HTTP/1.1 200 "));
	static const struct tb_http_route_def huge[] = { { "POST", "/h", h_echo, TB_HTTP_MAX_BODY_CEILING + 1 } };
	static const struct tb_http_table th = TB_HTTP_TABLE(huge, NULL);
	CHECK_INT(tb_http_mount(s, NULL, "/h", &th, "h"), TB_ERR_TOO_LARGE);
	tb_http_server_free(s);
}

int main(void)
{
	uv_loop_init(&loop);
	test_params();
	test_404_405();
	test_two_mounts_and_renderer();
	test_bounds();
	test_metrics_and_nesting();
	test_max_body();
	CHECK_INT(uv_loop_close(&loop), 0);
	return tb_test_result("core_router");
}
