/*
 * The admin API's access check (core/admin.h): routes flagged
 * TB_ROUTE_ADMIN_READ / _WRITE answered 401 without credentials (with
 * WWW-Authenticate: Bearer) and 403 with a wrong token, before the body is
 * read and without the handler running (HTTP/2: tests/integration/
 * test_admin_api.sh); reads open
 * on a loopback listener, writes never; the token file; paging and the
 * helpers' formats.
 */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/admin.h"
#include "core/error.h"
#include "core/http.h"
#include "tb_test.h"

static uv_loop_t loop;
static int calls;

#define TOKEN "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
#define WRONG "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB"

static int h_ok(struct tb_http_request *req, void *arg)
{
	(void)arg;
	calls++;
	char *b = tb_arena_printf(req->arena, "ok body=%zu", req->body.len);
	return tb_http_respond(req, 200, "text/plain", b, strlen(b));
}

static int h_page(struct tb_http_request *req, void *arg)
{
	(void)arg;
	struct tb_admin_page pg;
	if (tb_admin_page_get(req, &pg))
		return 0;
	int64_t c;
	if (tb_admin_cursor_int(&pg, &c))
		return tb_admin_problem(req, 400, "malformed", "bad cursor");
	cJSON *items = cJSON_CreateArray();
	cJSON *o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "limit", pg.limit);
	cJSON_AddNumberToObject(o, "cursor", (double)c);
	tb_admin_add_time(o, "t", 1796230200);
	tb_admin_add_time(o, "none", 0);
	cJSON_AddItemToArray(items, o);
	return tb_admin_respond_list(req, items, "7");
}

static const struct tb_http_route_def routes[] = {
	{ "GET", "/open", h_ok, 0 },
	{ "GET", "/read", h_ok, 0, TB_ROUTE_ADMIN_READ },
	{ "POST", "/write", h_ok, 0, TB_ROUTE_ADMIN_WRITE },
	{ "PUT", "/read", h_ok, 0, TB_ROUTE_ADMIN_WRITE },
	{ "GET", "/page", h_page, 0, TB_ROUTE_ADMIN_READ },
};
static const struct tb_http_table table = TB_HTTP_TABLE(routes, NULL);

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

static void expect(struct tb_http_server *s, const char *in, const char *status, const char *needle, int want_calls,
	int line)
{
	calls = 0;
	const char *r = feed(s, in);
	int ok = strncmp(r, status, strlen(status)) == 0 && (!needle || strstr(r, needle)) && calls == want_calls;
	CHECK(ok);
	if (!ok)
		fprintf(stderr, "  line %d: want %s with \"%s\", %d handler calls; got %d calls:\n%.400s\n", line,
			status, needle ? needle : "", want_calls, calls, r);
}
#define EXPECT(s, in, status, needle, n) expect((s), (in), (status), (needle), (n), __LINE__)

static void test_gate_feed(void)
{
	struct tb_http_server *s;
	CHECK_INT(tb_http_server_new(&s, &loop, NULL), 0);
	CHECK_INT(tb_http_mount(s, NULL, "/api", &table, NULL), 0);
	tb_admin_token_set(TOKEN);

	EXPECT(s, "GET /api/open HTTP/1.1\r\nHost: t\r\n\r\n", "HTTP/1.1 200 ", "ok", 1);
	/* The in-memory feed is no loopback listener: reads need the token too. */
	EXPECT(s, "GET /api/read HTTP/1.1\r\nHost: t\r\n\r\n", "HTTP/1.1 401 ", "\r\nWWW-Authenticate: Bearer", 0);
	EXPECT(s, "GET /api/read HTTP/1.1\r\nHost: t\r\n\r\n", "HTTP/1.1 401 ", "urn:trustbox:admin:unauthorized", 0);
	EXPECT(s, "GET /api/read HTTP/1.1\r\nHost: t\r\nAuthorization: Basic " TOKEN "\r\n\r\n", "HTTP/1.1 401 ",
		NULL, 0);
	EXPECT(s, "GET /api/read HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer\r\n\r\n", "HTTP/1.1 401 ", NULL, 0);
	EXPECT(s, "GET /api/read HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer " WRONG "\r\n\r\n", "HTTP/1.1 403 ",
		"urn:trustbox:admin:forbidden", 0);
	EXPECT(s, "GET /api/read HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer " TOKEN "x\r\n\r\n", "HTTP/1.1 403 ",
		NULL, 0);
	EXPECT(s, "GET /api/read HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer " TOKEN "\r\n\r\n", "HTTP/1.1 200 ",
		"ok", 1);
	EXPECT(s, "GET /api/read HTTP/1.1\r\nHost: t\r\nAuthorization: bearer  " TOKEN "\r\n\r\n", "HTTP/1.1 200 ",
		"ok", 1);
	/* Checked before the body: a refused write never sees its body, even one over the limit. */
	EXPECT(s, "POST /api/write HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello", "HTTP/1.1 401 ", NULL, 0);
	EXPECT(s, "POST /api/write HTTP/1.1\r\nHost: t\r\nContent-Length: 99999999999\r\n\r\n", "HTTP/1.1 401 ",
		NULL, 0);
	EXPECT(s, "POST /api/write HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer " WRONG
		  "\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
		"HTTP/1.1 403 ", NULL, 0);
	EXPECT(s, "POST /api/write HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer " TOKEN
		  "\r\nContent-Length: 5\r\n\r\nhello",
		"HTTP/1.1 200 ", "ok body=5", 1);
	/* A refusal closes the connection: the unread body must not be parsed as a request. */
	EXPECT(s, "POST /api/write HTTP/1.1\r\nHost: t\r\nContent-Length: 38\r\n\r\n"
		  "GET /api/open HTTP/1.1\r\nHost: t\r\n\r\n",
		"HTTP/1.1 401 ", "Connection: close", 0);
	/* The flag belongs to the route, not the path: PUT /read is a write. */
	EXPECT(s, "PUT /api/read HTTP/1.1\r\nHost: t\r\n\r\n", "HTTP/1.1 401 ", NULL, 0);
	/* 404 and 405 are not admin routes and say nothing more. */
	EXPECT(s, "DELETE /api/read HTTP/1.1\r\nHost: t\r\n\r\n", "HTTP/1.1 405 ", NULL, 0);
	/* Without a token loaded nothing gated gets through. */
	tb_admin_token_set(NULL);
	EXPECT(s, "GET /api/read HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer " TOKEN "\r\n\r\n", "HTTP/1.1 403 ",
		NULL, 0);
	tb_admin_token_set(TOKEN);
	tb_http_server_free(s);
}

static void test_paging(void)
{
	struct tb_http_server *s;
	CHECK_INT(tb_http_server_new(&s, &loop, NULL), 0);
	CHECK_INT(tb_http_mount(s, NULL, "/api", &table, NULL), 0);
	tb_admin_token_set(TOKEN);
#define AUTH "\r\nHost: t\r\nAuthorization: Bearer " TOKEN "\r\n\r\n"
	EXPECT(s, "GET /api/page HTTP/1.1" AUTH, "HTTP/1.1 200 ",
		"{\"items\":[{\"limit\":50,\"cursor\":0,\"t\":\"2026-12-02T16:50:00Z\",\"none\":null}],\"next\":\"7\"}", 0);
	EXPECT(s, "GET /api/page?limit=1000&cursor=12 HTTP/1.1" AUTH, "HTTP/1.1 200 ", "\"limit\":500,\"cursor\":12",
		0);
	EXPECT(s, "GET /api/page?limit=3 HTTP/1.1" AUTH, "HTTP/1.1 200 ", "\"limit\":3,", 0);
	EXPECT(s, "GET /api/page?limit=0 HTTP/1.1" AUTH, "HTTP/1.1 400 ", "urn:trustbox:admin:malformed", 0);
	EXPECT(s, "GET /api/page?limit=-1 HTTP/1.1" AUTH, "HTTP/1.1 400 ", NULL, 0);
	EXPECT(s, "GET /api/page?limit=abc HTTP/1.1" AUTH, "HTTP/1.1 400 ", NULL, 0);
	EXPECT(s, "GET /api/page?cursor=x1 HTTP/1.1" AUTH, "HTTP/1.1 400 ", NULL, 0);
#undef AUTH
	tb_http_server_free(s);
}

static void test_authorize(void)
{
	tb_admin_token_set(TOKEN);
	CHECK_INT(tb_admin_authorize(0, 0, NULL), 0);
	CHECK_INT(tb_admin_authorize(TB_ROUTE_ADMIN_READ, 1, NULL), 0);
	CHECK_INT(tb_admin_authorize(TB_ROUTE_ADMIN_READ, 0, NULL), 401);
	CHECK_INT(tb_admin_authorize(TB_ROUTE_ADMIN_WRITE, 1, NULL), 401);
	CHECK_INT(tb_admin_authorize(TB_ROUTE_ADMIN_WRITE, 1, "Bearer " WRONG), 403);
	CHECK_INT(tb_admin_authorize(TB_ROUTE_ADMIN_WRITE, 0, "Bearer " TOKEN), 0);
	CHECK_INT(tb_admin_authorize(TB_ROUTE_ADMIN_READ, 1, "Bearer " WRONG), 0); /* open there anyway */

	CHECK(tb_admin_address_is_loopback("127.0.0.1"));
	CHECK(tb_admin_address_is_loopback("127.45.6.7"));
	CHECK(tb_admin_address_is_loopback("::1"));
	CHECK(tb_admin_address_is_loopback("::ffff:127.0.0.2"));
	CHECK(!tb_admin_address_is_loopback("0.0.0.0"));
	CHECK(!tb_admin_address_is_loopback("::"));
	CHECK(!tb_admin_address_is_loopback("10.1.2.3"));
	CHECK(!tb_admin_address_is_loopback("128.0.0.1"));
	CHECK(!tb_admin_address_is_loopback("::2"));
	CHECK(!tb_admin_address_is_loopback("localhost"));
}

static void test_token_file(void)
{
	char dir[] = "/tmp/tb_admin_XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	char sub[128], mid[128], path[160], t1[64], t2[64];
	snprintf(mid, sizeof mid, "%s/data", dir);
	snprintf(sub, sizeof sub, "%s/data/sub", dir); /* created with its parent, as the store does */
	snprintf(path, sizeof path, "%s/admin.token", sub);
	CHECK_INT(tb_admin_token_load(sub, t1, sizeof t1), 0);
	CHECK_INT(strlen(t1), TB_ADMIN_TOKEN_LEN);
	struct stat st;
	CHECK_INT(stat(path, &st), 0);
	CHECK_INT(st.st_mode & 0777, 0600);
	/* Kept across starts, and it is what authorises. */
	CHECK_INT(tb_admin_token_load(sub, t2, sizeof t2), 0);
	CHECK_STR(t2, t1);
	char hdr[96];
	snprintf(hdr, sizeof hdr, "Bearer %s", t1);
	CHECK_INT(tb_admin_authorize(TB_ROUTE_ADMIN_WRITE, 0, hdr), 0);
	/* Two starts never pick different tokens: a second load agrees with the file. */
	char dir2[] = "/tmp/tb_admin_XXXXXX";
	CHECK(mkdtemp(dir2) != NULL);
	CHECK_INT(tb_admin_token_load(dir2, t2, sizeof t2), 0);
	CHECK(strcmp(t1, t2) != 0);
	/* A damaged file is refused, never silently replaced. */
	int fd = open(path, O_WRONLY | O_TRUNC);
	CHECK(fd >= 0);
	CHECK_INT(write(fd, "short\n", 6), 6);
	close(fd);
	CHECK_INT(tb_admin_token_load(sub, t2, sizeof t2), TB_ERR_INVALID);
	unlink(path);
	rmdir(sub);
	rmdir(mid);
	rmdir(dir);
	char p2[160];
	snprintf(p2, sizeof p2, "%s/admin.token", dir2);
	unlink(p2);
	rmdir(dir2);
}

/* A real loopback listener: reads open, writes still need the token. */
struct got {
	int done, status;
};

static void on_resp(int err, const struct tb_http_client_resp *resp, void *arg)
{
	struct got *g = arg;
	g->done = 1;
	g->status = err ? err : resp->status;
}

static int fetch(const char *method, const char *url, const char *auth)
{
	struct got g = { 0 };
	struct tb_http_header h = { "Authorization", auth };
	struct tb_http_client_req r = { .method = method, .url = url, .headers = auth ? &h : NULL,
		.n_headers = auth ? 1 : 0 };
	CHECK_INT(tb_http_client_request(&loop, &r, on_resp, &g), 0);
	while (!g.done)
		uv_run(&loop, UV_RUN_ONCE);
	return g.status;
}

static void on_stopped(void *arg)
{
	*(int *)arg = 1;
}

static void test_loopback_listener(void)
{
	struct tb_http_server *s;
	CHECK_INT(tb_http_server_new(&s, &loop, NULL), 0);
	CHECK_INT(tb_http_listen(s, "lo", "127.0.0.1", 0, NULL), 0);
	CHECK_INT(tb_http_mount(s, NULL, "/api", &table, NULL), 0);
	tb_admin_token_set(TOKEN);
	char url[128];
	int port = tb_http_listener_port(s, "lo");
	snprintf(url, sizeof url, "http://127.0.0.1:%d/api/read", port);
	CHECK_INT(fetch("GET", url, NULL), 200);
	CHECK_INT(fetch("PUT", url, NULL), 401);
	CHECK_INT(fetch("PUT", url, "Bearer " WRONG), 403);
	CHECK_INT(fetch("PUT", url, "Bearer " TOKEN), 200);
	int stopped = 0;
	tb_http_server_stop(s, on_stopped, &stopped);
	while (!stopped)
		uv_run(&loop, UV_RUN_ONCE);
	tb_http_server_free(s);
	uv_run(&loop, UV_RUN_DEFAULT);
}

int main(void)
{
	uv_loop_init(&loop);
	test_authorize();
	test_gate_feed();
	test_paging();
	test_token_file();
	test_loopback_listener();
	CHECK_INT(uv_loop_close(&loop), 0);
	return tb_test_result("core_admin");
}
