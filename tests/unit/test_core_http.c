/*
 * The HTTP server on a real loop, driven by raw sockets from a second thread:
 * routing, errors core answers itself, bodies (length and chunked), limits,
 * timeouts, pipelining, keep-alive, HEAD, deferred responses, metrics, and the
 * in-memory feed used by the fuzzer.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "core/error.h"
#include "core/http.h"
#include "tb_test.h"

static int port, port2;
static struct tb_http_server *srv2; /* max_connections = 1 */
static int hold_fd = -1;
static struct tb_http_request *held;
static uv_loop_t loop;
static struct tb_http_server *srv;
static uv_async_t finish;

/* ---- Handlers ---- */

static int h_text(struct tb_http_request *req, void *arg)
{
	const char *s = arg;
	tb_http_set_header(req, "X-Test", "1");
	return tb_http_respond(req, 200, "text/plain", s, strlen(s));
}

static int h_echo(struct tb_http_request *req, void *arg)
{
	(void)arg;
	char *s = tb_arena_printf(req->arena, "%s %s q=%s x=%s len=%zu body=%.*s", req->method,
		req->path, req->query, tb_http_query_param(req, "x") ? tb_http_query_param(req, "x") : "-",
		req->body.len, (int)req->body.len, (const char *)req->body.p);
	return tb_http_respond(req, 200, "text/plain", s, strlen(s));
}

static int h_header(struct tb_http_request *req, void *arg)
{
	(void)arg;
	const char *v = tb_http_header(req, "x-MiXeD");
	return tb_http_respond(req, 200, "text/plain", v ? v : "none", v ? strlen(v) : 4);
}

static void later_fire(uv_timer_t *t)
{
	struct tb_http_request *req = t->data;
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "later", "yes");
	tb_http_respond_json(req, 201, o);
	cJSON_Delete(o);
	uv_close((uv_handle_t *)t, (uv_close_cb)free);
}

static int h_later(struct tb_http_request *req, void *arg)
{
	(void)arg;
	uv_timer_t *t = malloc(sizeof *t);
	uv_timer_init(&loop, t);
	t->data = req;
	uv_timer_start(t, later_fire, 50, 0);
	return TB_HTTP_LATER;
}

static int h_problem(struct tb_http_request *req, void *arg)
{
	(void)arg;
	return tb_http_respond_problem(req, 403, "urn:test:forbidden", "no \"way\"");
}

static int h_fail(struct tb_http_request *req, void *arg)
{
	(void)req, (void)arg;
	return TB_ERR_INVALID;
}

static int h_hold(struct tb_http_request *req, void *arg)
{
	(void)arg;
	held = req;
	return TB_HTTP_LATER;
}

static int h_metrics(struct tb_http_request *req, void *arg)
{
	(void)arg;
	struct tb_bytes b = { 0 };
	tb_http_metrics_write(req->server, &b);
	int rc = tb_http_respond(req, 200, "text/plain; version=0.0.4", b.p, b.len);
	tb_bytes_free(&b);
	return rc;
}

/* ---- Raw client ---- */

static int dial_port(int p)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)p) };
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
		close(fd);
		return -1;
	}
	struct timeval tv = { .tv_sec = 5 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	return fd;
}

static int dial(void)
{
	return dial_port(port);
}

static void send_all(int fd, const char *s, size_t n)
{
	while (n) {
		ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

/* Reads until EOF (or timeout/reset); returns a malloc'd NUL-terminated string. */
static char *read_all(int fd)
{
	size_t cap = 1 << 16, len = 0;
	char *buf = malloc(cap + 1);
	for (;;) {
		if (len == cap) {
			cap *= 2;
			buf = realloc(buf, cap + 1);
		}
		ssize_t r = recv(fd, buf + len, cap - len, 0);
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	buf[len] = 0;
	return buf;
}

/* Reads exactly one response with Content-Length (keep-alive); malloc'd. */
static char *read_one(int fd)
{
	char *buf = calloc(1, 1 << 16);
	size_t len = 0;
	for (;;) {
		char *end = strstr(buf, "\r\n\r\n");
		if (end) {
			char *cl = strcasestr(buf, "Content-Length: ");
			size_t body = cl && cl < end ? strtoul(cl + 16, NULL, 10) : 0;
			size_t want = (size_t)(end + 4 - buf) + body;
			if (len >= want)
				break;
		}
		ssize_t r = recv(fd, buf + len, (1 << 16) - 1 - len, 0);
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	return buf;
}

static char *exchange(const char *req)
{
	int fd = dial();
	if (fd < 0)
		return strdup("");
	send_all(fd, req, strlen(req));
	char *s = read_all(fd);
	close(fd);
	return s;
}

static int count(const char *hay, const char *needle)
{
	int n = 0;
	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

#define STARTS(s, prefix) CHECK(strncmp((s), (prefix), strlen(prefix)) == 0)

static void *client_main(void *arg)
{
	(void)arg;
	char *r;

	/* Simple GET, with headers and body. */
	r = exchange("GET /index HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
	STARTS(r, "HTTP/1.1 200 OK\r\n");
	CHECK(strstr(r, "X-Test: 1\r\n") != NULL);
	CHECK(strstr(r, "Content-Length: 4\r\n") != NULL);
	CHECK(strstr(r, "Connection: close\r\n") != NULL);
	CHECK(strstr(r, "\r\n\r\nroot") != NULL);
	free(r);

	/* Longest prefix wins. */
	r = exchange("GET /a/b/c HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
	CHECK(strstr(r, "\r\n\r\nab") != NULL);
	free(r);
	r = exchange("GET /a/x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
	CHECK(strstr(r, "\r\n\r\na") != NULL && strstr(r, "\r\n\r\nab") == NULL);
	free(r);

	/* 404 on the api listener-only route space; 405 with Allow. */
	r = exchange("GET /nothing HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
	STARTS(r, "HTTP/1.1 404 Not Found\r\n");
	free(r);
	r = exchange("DELETE /a/b HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
	STARTS(r, "HTTP/1.1 405 Method Not Allowed\r\n");
	CHECK(strstr(r, "Allow: GET, HEAD\r\n") != NULL);
	CHECK(strstr(r, "application/problem+json") != NULL);
	free(r);
	r = exchange("GET /other/x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
	STARTS(r, "HTTP/1.1 404");
	free(r);

	/* POST with a body, query decoding, percent-decoded path. */
	r = exchange("POST /echo/%41b?x=1%202&y HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello");
	STARTS(r, "HTTP/1.1 200 OK\r\n");
	CHECK(strstr(r, "POST /echo/Ab q=x=1%202&y x=1 2 len=5 body=hello") != NULL);
	free(r);

	/* Case-insensitive header lookup. */
	r = exchange("GET /hdr HTTP/1.1\r\nHost: t\r\nX-Mixed:  v a l  \r\nConnection: close\r\n\r\n");
	CHECK(strstr(r, "\r\n\r\nv a l") != NULL);
	free(r);

	/* Chunked request body. */
	r = exchange("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
		     "3\r\nabc\r\n4;ext=1\r\ndefg\r\n0\r\n\r\n");
	CHECK(strstr(r, "len=7 body=abcdefg") != NULL);
	free(r);

	/* Pipelined requests in one write, answered in order (one deferred). */
	r = exchange("GET /later HTTP/1.1\r\nHost: t\r\n\r\nGET /a HTTP/1.1\r\nHost: t\r\n\r\n"
		     "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nhi"
		     "GET /a/b HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
	CHECK_INT(count(r, "HTTP/1.1 "), 4);
	{
		char *p1 = strstr(r, "HTTP/1.1 201"), *p2 = strstr(r, "\r\n\r\na"),
		     *p3 = strstr(r, "body=hi"), *p4 = strstr(r, "\r\n\r\nab");
		CHECK(p1 && p2 && p3 && p4 && p1 < p2 && p2 < p3 && p3 < p4);
		CHECK(strstr(r, "{\"later\":\"yes\"}") != NULL);
	}
	free(r);

	/* Pipelined requests followed by a half-close: every one is still answered. */
	{
		int fd = dial();
		const char *q = "GET /later HTTP/1.1\r\nHost: t\r\n\r\nGET /a HTTP/1.1\r\nHost: t\r\n\r\n";
		send_all(fd, q, strlen(q));
		shutdown(fd, SHUT_WR);
		r = read_all(fd);
		CHECK_INT(count(r, "HTTP/1.1 "), 2);
		CHECK(strstr(r, "HTTP/1.1 201") && strstr(r, "\r\n\r\na"));
		free(r);
		close(fd);
	}

	/* Keep-alive reuse. */
	{
		int fd = dial();
		send_all(fd, "GET /a HTTP/1.1\r\nHost: t\r\n\r\n", 28);
		r = read_one(fd);
		STARTS(r, "HTTP/1.1 200 OK\r\n");
		CHECK(strstr(r, "Connection: close") == NULL);
		free(r);
		const char *q2 = "GET /a/b HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
		send_all(fd, q2, strlen(q2));
		r = read_all(fd);
		STARTS(r, "HTTP/1.1 200 OK\r\n");
		CHECK(strstr(r, "\r\n\r\nab") != NULL);
		free(r);
		close(fd);
	}

	/* HEAD: headers with Content-Length, no body. */
	r = exchange("HEAD /a/b HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
	STARTS(r, "HTTP/1.1 200 OK\r\n");
	CHECK(strstr(r, "Content-Length: 2\r\n") != NULL);
	CHECK(strstr(r, "\r\n\r\n") && strstr(r, "\r\n\r\n")[4] == 0);
	free(r);

	/* Oversize headers -> 431. */
	{
		char big[4096];
		int n = snprintf(big, sizeof big, "GET /index HTTP/1.1\r\nHost: t\r\nX-Big: ");
		memset(big + n, 'a', 2000);
		strcpy(big + n + 2000, "\r\n\r\n");
		r = exchange(big);
		STARTS(r, "HTTP/1.1 431 ");
		free(r);
	}

	/* Body over limit -> 413 (Content-Length up front, and chunked counted). */
	r = exchange("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n");
	STARTS(r, "HTTP/1.1 413 ");
	CHECK(strstr(r, "Connection: close") != NULL);
	free(r);
	{
		char big[4096];
		int n = snprintf(big, sizeof big, "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
						  "800\r\n");
		memset(big + n, 'b', 2048);
		strcpy(big + n + 2048, "\r\n0\r\n\r\n");
		r = exchange(big);
		STARTS(r, "HTTP/1.1 413 ");
		free(r);
	}
	/* A route with a raised limit takes the same body. */
	{
		char big[4096];
		int n = snprintf(big, sizeof big, "POST /big HTTP/1.1\r\nHost: t\r\nContent-Length: 2048\r\nConnection: close\r\n\r\n");
		memset(big + n, 'c', 2048);
		big[n + 2048] = 0;
		r = exchange(big);
		CHECK(strstr(r, "len=2048") != NULL);
		free(r);
	}

	/* Expect: 100-continue gets an interim response before the body is sent. */
	{
		int fd = dial();
		const char *h = "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n";
		send_all(fd, h, strlen(h));
		char buf[64] = { 0 };
		ssize_t got = recv(fd, buf, 25, MSG_WAITALL);
		CHECK_INT(got, 25);
		CHECK_STR(buf, "HTTP/1.1 100 Continue\r\n\r\n");
		send_all(fd, "xyz", 3);
		r = read_all(fd);
		CHECK(strstr(r, "body=xyz") != NULL);
		free(r);
		close(fd);
	}

	/* Slow client: half a header -> 408 after the header timeout. */
	{
		int fd = dial();
		send_all(fd, "GET /index HTTP/1.1\r\nHost: ", 27);
		r = read_all(fd);
		STARTS(r, "HTTP/1.1 408 ");
		free(r);
		close(fd);
	}
	/* Slow body -> 408. */
	r = exchange("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc");
	STARTS(r, "HTTP/1.1 408 ");
	free(r);

	/* Dot segments (also encoded) and bad escapes -> 400. */
	r = exchange("GET /a/../etc HTTP/1.1\r\nHost: t\r\n\r\n");
	STARTS(r, "HTTP/1.1 400 ");
	free(r);
	r = exchange("GET /a/%2e%2E/x HTTP/1.1\r\nHost: t\r\n\r\n");
	STARTS(r, "HTTP/1.1 400 ");
	free(r);
	r = exchange("GET /a/%zz HTTP/1.1\r\nHost: t\r\n\r\n");
	STARTS(r, "HTTP/1.1 400 ");
	free(r);
	r = exchange("GET /a/.hidden/x.y HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
	STARTS(r, "HTTP/1.1 200 ");
	free(r);

	/* Garbage -> 400; unknown method -> 501; unknown transfer-coding -> 501. */
	r = exchange("\x01\x02garbage\r\n\r\n");
	STARTS(r, "HTTP/1.1 400 ");
	free(r);
	r = exchange("FROB / HTTP/1.1\r\nHost: t\r\n\r\n");
	STARTS(r, "HTTP/1.1 501 ");
	free(r);
	r = exchange("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n");
	STARTS(r, "HTTP/1.1 501 ");
	free(r);

	/* Problem documents and handler errors. */
	r = exchange("GET /problem HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
	STARTS(r, "HTTP/1.1 403 Forbidden\r\n");
	CHECK(strstr(r, "Content-Type: application/problem+json\r\n") != NULL);
	CHECK(strstr(r, "{\"type\":\"urn:test:forbidden\",\"detail\":\"no \\\"way\\\"\",\"status\":403}") != NULL);
	free(r);
	r = exchange("GET /fail HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
	STARTS(r, "HTTP/1.1 500 ");
	free(r);

	/* HTTP/1.0 closes by default. */
	r = exchange("GET /a HTTP/1.0\r\n\r\n");
	STARTS(r, "HTTP/1.1 200 OK\r\n");
	CHECK(strstr(r, "Connection: close") != NULL);
	free(r);

	/* Metrics. */
	r = exchange("GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
	CHECK(strstr(r, "tb_http_requests_total{route=\"/a/b/{rest...}\",code=\"2xx\",protocol=\"http/1.1\"}") != NULL);
	CHECK(strstr(r, "tb_http_requests_total{route=\"/a/b\",code=\"4xx\",protocol=\"http/1.1\"} 1") != NULL);
	CHECK(strstr(r, "tb_http_request_duration_seconds_bucket{route=\"/a\",le=\"+Inf\"}") != NULL);
	free(r);

	/*
	 * Beyond max_connections (1 on srv2): a new connection takes the place of
	 * an idle one (closed without an answer), and is itself refused when the
	 * only connection has a request in a handler, which is then answered.
	 */
	{
		char buf[16];
		int a = dial_port(port2);
		usleep(50 * 1000);
		int b = dial_port(port2);
		CHECK_INT(recv(a, buf, sizeof buf, 0), 0);
		close(a);
		send_all(b, "GET /a HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", 48);
		r = read_all(b);
		STARTS(r, "HTTP/1.1 200 OK\r\n");
		free(r);
		close(b);

		a = dial_port(port2);
		send_all(a, "GET /later HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", 51);
		usleep(20 * 1000); /* the handler holds it for 50 ms */
		b = dial_port(port2);
		CHECK_INT(recv(b, buf, sizeof buf, 0), 0);
		close(b);
		r = read_all(a);
		STARTS(r, "HTTP/1.1 201 Created\r\n");
		free(r);
		close(a);
	}

	/* A request still held by its handler when the server stops. */
	hold_fd = dial();
	send_all(hold_fd, "GET /hold HTTP/1.1\r\nHost: t\r\n\r\n", 32);
	usleep(100 * 1000);
	uv_async_send(&finish);
	return NULL;
}

static int stopped;

static void on_stopped(void *arg)
{
	(void)arg;
	stopped = 1;
}

static void on_finish(uv_async_t *a)
{
	uv_close((uv_handle_t *)a, NULL);
	tb_http_server_stop(srv, on_stopped, NULL);
	tb_http_server_stop(srv2, NULL, NULL);
}

/*
 * The routes: tables mounted under prefixes. text_table answers the mount's
 * state for the prefix and everything below it, and is mounted several
 * times; echo_table takes any method.
 */
static const struct tb_http_route_def text_routes[] = {
	{ "GET", "", h_text, 0 },
	{ "GET", "/{rest...}", h_text, 0 },
};
static const struct tb_http_table text_table = TB_HTTP_TABLE(text_routes, NULL);
static const struct tb_http_route_def echo_routes[] = {
	{ NULL, "", h_echo, 0 },
	{ NULL, "/{rest...}", h_echo, 0 },
};
static const struct tb_http_table echo_table = TB_HTTP_TABLE(echo_routes, NULL);
static const struct tb_http_route_def post_echo_routes[] = {
	{ "POST", "", h_echo, 0 },
};
static const struct tb_http_table post_echo_table = TB_HTTP_TABLE(post_echo_routes, NULL);
/* A body limit above the server's (1024). */
static const struct tb_http_route_def big_routes[] = {
	{ "POST", "", h_echo, 4096 },
};
static const struct tb_http_table big_table = TB_HTTP_TABLE(big_routes, NULL);
static const struct tb_http_route_def misc_routes[] = {
	{ "GET", "/hdr", h_header, 0 },
	{ "GET", "/later", h_later, 0 },
	{ "GET", "/problem", h_problem, 0 },
	{ "GET", "/fail", h_fail, 0 },
	{ "GET", "/metrics", h_metrics, 0 },
	{ "GET", "/hold", h_hold, 0 },
};
static const struct tb_http_table misc_table = TB_HTTP_TABLE(misc_routes, NULL);

static void test_feed(void)
{
	/* The same machinery without sockets. */
	struct tb_http_server *s;
	CHECK_INT(tb_http_server_new(&s, &loop, NULL), 0);
	CHECK_INT(tb_http_mount(s, NULL, "/a", &text_table, "a"), 0);
	CHECK_INT(tb_http_mount(s, NULL, "/echo", &post_echo_table, NULL), 0);
	struct tb_bytes out = { 0 };
	const char *in = "GET /a HTTP/1.1\r\nHost: t\r\n\r\nPOST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\n\r\nZGET /zz HTTP/1.1\r\nHost: t\r\n\r\n";
	CHECK_INT(tb_http_feed_bytes(s, (const uint8_t *)in, strlen(in), &out), 0);
	char *o = tb_bytes_cstr(&out);
	CHECK(o != NULL);
	if (o) {
		CHECK_INT(count(o, "HTTP/1.1 200"), 2);
		CHECK_INT(count(o, "HTTP/1.1 404"), 1);
		CHECK(strstr(o, "body=Z") != NULL);
	}
	tb_bytes_free(&out);
	tb_http_server_free(s);
}

struct parsed {
	int err, status;
	char body[256];
	char loc[64];
};

static void on_parsed(int err, const struct tb_http_client_resp *resp, void *arg)
{
	struct parsed *p = arg;
	p->err = err;
	if (!resp)
		return;
	p->status = resp->status;
	snprintf(p->body, sizeof p->body, "%.*s", (int)resp->body.len, (const char *)resp->body.p);
	const char *l = tb_http_client_header(resp, "LOCATION");
	snprintf(p->loc, sizeof p->loc, "%s", l ? l : "-");
}

static struct parsed parse(const char *s, int head, size_t max)
{
	struct parsed p = { .err = 12345 };
	CHECK_INT(tb_http_client_parse_response((const uint8_t *)s, strlen(s), head, max, on_parsed, &p), 0);
	return p;
}

static void test_client_parser(void)
{
	struct parsed p;
	p = parse("HTTP/1.1 302 Found\r\nLocation: /x \r\nContent-Length: 2\r\n\r\nok", 0, 0);
	CHECK_INT(p.err, 0);
	CHECK_INT(p.status, 302);
	CHECK_STR(p.body, "ok");
	CHECK_STR(p.loc, "/x");
	p = parse("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		  "2\r\nab\r\n1\r\nc\r\n0\r\n\r\n", 0, 0);
	CHECK_INT(p.err, 0);
	CHECK_INT(p.status, 200);
	CHECK_STR(p.body, "abc");
	p = parse("HTTP/1.0 200 OK\r\n\r\nto the end", 0, 0);
	CHECK_INT(p.err, 0);
	CHECK_STR(p.body, "to the end");
	p = parse("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", 1, 0);
	CHECK_INT(p.err, 0);
	CHECK_STR(p.body, "");
	p = parse("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", 0, 0);
	CHECK_INT(p.err, TB_ERR_TRUNCATED);
	p = parse("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789", 0, 5);
	CHECK_INT(p.err, TB_ERR_TOO_LARGE);
	p = parse("HTTP/1.1 200 OK\r\n\r\n0123456789", 0, 5);
	CHECK_INT(p.err, TB_ERR_TOO_LARGE);
	p = parse("SMTP ready\r\n", 0, 0);
	CHECK_INT(p.err, TB_ERR_INVALID);
}

static void test_arena(void)
{
	struct tb_arena *a = tb_arena_new(10000);
	char *s = tb_arena_printf(a, "%d-%s", 42, "x");
	CHECK_STR(s, "42-x");
	CHECK(tb_arena_alloc(a, 20000) == NULL); /* over the cap */
	void *big = tb_arena_alloc(a, 3000);
	CHECK(big != NULL);
	CHECK(((uintptr_t)big % 8) == 0);
	tb_arena_add_cleanup(a, (tb_arena_cleanup_fn)(void (*)(void *))free, malloc(10));
	tb_arena_reset(a);
	CHECK_INT(tb_arena_used(a), 0);
	CHECK_STR(tb_arena_strndup(a, "abcdef", 3), "abc");
	tb_arena_free(a);
}

int main(void)
{
	uv_loop_init(&loop);
	test_arena();
	test_feed();
	test_client_parser();

	struct tb_http_limits lim = {
		.max_header_bytes = 1024,
		.max_body = 1024,
		.header_timeout_ms = 300,
		.body_timeout_ms = 300,
		.idle_timeout_ms = 2000,
		.grace_timeout_ms = 500,
	};
	CHECK_INT(tb_http_server_new(&srv, &loop, &lim), 0);
	CHECK_INT(tb_http_listen(srv, "api", "127.0.0.1", 0, NULL), 0);
	CHECK_INT(tb_http_listen(srv, "api", "127.0.0.1", 0, NULL), TB_ERR_EXISTS);
	port = tb_http_listener_port(srv, "api");
	CHECK(port > 0);
	CHECK(tb_http_listener_port(srv, "nope") < 0);
	CHECK_INT(tb_http_mount(srv, NULL, "/index", &text_table, "root"), 0);
	CHECK_INT(tb_http_mount(srv, NULL, "/a", &text_table, "a"), 0);
	CHECK_INT(tb_http_mount(srv, NULL, "/a/b", &text_table, "ab"), 0);
	CHECK_INT(tb_http_mount(srv, "api", "/echo", &echo_table, NULL), 0);
	CHECK_INT(tb_http_mount(srv, NULL, "/big", &big_table, NULL), 0);
	CHECK_INT(tb_http_mount(srv, NULL, "/", &misc_table, NULL), 0);
	CHECK_INT(tb_http_mount(srv, "other-listener", "/other", &text_table, "other"), 0);

	struct tb_http_limits lim2 = { .max_connections = 1 };
	CHECK_INT(tb_http_server_new(&srv2, &loop, &lim2), 0);
	CHECK_INT(tb_http_listen(srv2, "one", "127.0.0.1", 0, NULL), 0);
	port2 = tb_http_listener_port(srv2, "one");
	CHECK_INT(tb_http_mount(srv2, NULL, "/a", &text_table, "a"), 0);
	CHECK_INT(tb_http_mount(srv2, NULL, "/", &misc_table, NULL), 0);

	uv_async_init(&loop, &finish, on_finish);
	pthread_t th;
	pthread_create(&th, NULL, client_main, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	pthread_join(th, NULL);
	CHECK(stopped);
	/* The grace timeout closed the connection; the late answer only frees the request. */
	CHECK(held != NULL);
	if (held) {
		CHECK(tb_http_request_gone(held));
		CHECK_INT(tb_http_respond(held, 200, NULL, NULL, 0), 0);
	}
	{
		char buf[64];
		CHECK_INT(recv(hold_fd, buf, sizeof buf, 0), 0); /* closed without a response */
		close(hold_fd);
	}
	tb_http_server_free(srv);
	tb_http_server_free(srv2);
	CHECK_INT(uv_loop_close(&loop), 0);
	return tb_test_result("core_http");
}
