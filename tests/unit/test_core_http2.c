/*
 * HTTP/2 on the server through the in-memory feed (tb_http_feed_bytes), with
 * libnghttp2's client side writing the requests and reading the answers:
 * responses and their fields, bodies, HEAD, core's 404/405/413/431, a
 * deferred response, a stream reset orphaning its request while the
 * connection lives on, a closed connection orphaning one, and the Rapid
 * Reset, CONTINUATION and WINDOW_UPDATE defences (GOAWAY ENHANCE_YOUR_CALM). Then, on a
 * real h2c listener with short timeouts: a client that opens a zero window
 * and never takes its response, one that never finishes its request, and an
 * idle one are each sent GOAWAY and closed; HTTP/1.1 still works there.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <nghttp2/nghttp2.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "core/error.h"
#include "core/http.h"
#include "core/log.h"
#include "tb_test.h"

static uv_loop_t loop;
static struct tb_http_server *srv;
static struct tb_http_request *held;
static int held_gone_seen = -1;

static int h_text(struct tb_http_request *req, void *arg)
{
	(void)arg;
	tb_http_set_header(req, "X-Test", "One");
	tb_http_set_header(req, "Connection", "keep-alive"); /* must not reach an h2 client */
	return tb_http_respond(req, 200, "text/plain", "hello", 5);
}

static int h_echo(struct tb_http_request *req, void *arg)
{
	(void)arg;
	const char *host = tb_http_header(req, "host");
	char *s = tb_arena_printf(req->arena, "%s %s q=%s host=%s len=%zu", req->method, req->path,
		req->query, host ? host : "-", req->body.len);
	return tb_http_respond(req, 200, "text/plain", s, strlen(s));
}

static int h_hold(struct tb_http_request *req, void *arg)
{
	(void)arg;
	held = req;
	return TB_HTTP_LATER;
}

static int h_check(struct tb_http_request *req, void *arg)
{
	(void)arg;
	held_gone_seen = held ? tb_http_request_gone(held) : -1;
	return tb_http_respond(req, 204, NULL, NULL, 0);
}

static int h_later_now(struct tb_http_request *req, void *arg)
{
	(void)arg;
	tb_http_respond(req, 202, "text/plain", "later", 5);
	return TB_HTTP_LATER;
}

static const struct tb_http_route_def routes[] = {
	{ "GET", "/text", h_text, 0 },
	{ NULL, "/echo", h_echo, 0 },
	{ "GET", "/hold", h_hold, 0 },
	{ "GET", "/check", h_check, 0 },
	{ "GET", "/later", h_later_now, 0 },
};
static const struct tb_http_table table = TB_HTTP_TABLE(routes, NULL);

/* ---- The client side ---- */

#define MAX_STREAMS 64

struct answer {
	int status;
	char body[256];
	size_t body_len;
	char x_test[32];
	int has_connection;
	char content_length[16];
	int closed;
	uint32_t close_code;
};

struct client {
	nghttp2_session *s;
	struct tb_bytes out;       /* what the client sends */
	struct answer a[MAX_STREAMS];
	int goaway;                /* -1: none; else the error code */
};

static struct answer *ans(struct client *c, int32_t id)
{
	return id > 0 && id / 2 < MAX_STREAMS ? &c->a[id / 2] : NULL;
}

static int c_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *n, size_t nl,
	const uint8_t *v, size_t vl, uint8_t flags, void *ud)
{
	(void)s, (void)flags;
	struct answer *a = ans(ud, f->hd.stream_id);
	if (!a)
		return 0;
	if (nl == 7 && memcmp(n, ":status", 7) == 0)
		a->status = atoi((const char *)v);
	else if (nl == 6 && memcmp(n, "x-test", 6) == 0 && vl < sizeof a->x_test)
		memcpy(a->x_test, v, vl);
	else if (nl == 10 && memcmp(n, "connection", 10) == 0)
		a->has_connection = 1;
	else if (nl == 14 && memcmp(n, "content-length", 14) == 0 && vl < sizeof a->content_length)
		memcpy(a->content_length, v, vl);
	return 0;
}

static int c_data(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *d, size_t len, void *ud)
{
	(void)s, (void)flags;
	struct answer *a = ans(ud, id);
	if (a && a->body_len + len < sizeof a->body) {
		memcpy(a->body + a->body_len, d, len);
		a->body_len += len;
	}
	return 0;
}

static int c_close(nghttp2_session *s, int32_t id, uint32_t code, void *ud)
{
	(void)s;
	struct answer *a = ans(ud, id);
	if (a) {
		a->closed = 1;
		a->close_code = code;
	}
	return 0;
}

static int c_frame(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
	(void)s;
	struct client *c = ud;
	if (f->hd.type == NGHTTP2_GOAWAY)
		c->goaway = (int)f->goaway.error_code;
	return 0;
}

static void client_init(struct client *c)
{
	memset(c, 0, sizeof *c);
	c->goaway = -1;
	nghttp2_session_callbacks *cb;
	nghttp2_session_callbacks_new(&cb);
	nghttp2_session_callbacks_set_on_header_callback(cb, c_header);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, c_data);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, c_close);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, c_frame);
	nghttp2_session_client_new(&c->s, cb, c);
	nghttp2_session_callbacks_del(cb);
	nghttp2_submit_settings(c->s, NGHTTP2_FLAG_NONE, NULL, 0);
}

/* Moves what the client session has queued into c->out. */
static void client_take(struct client *c)
{
	const uint8_t *p;
	ssize_t n;
	while ((n = nghttp2_session_mem_send(c->s, &p)) > 0)
		tb_bytes_append(&c->out, p, (size_t)n);
}

static int32_t get(struct client *c, const char *method, const char *path, const nghttp2_data_provider *body)
{
	nghttp2_nv nv[] = {
		{ (uint8_t *)":method", (uint8_t *)method, 7, strlen(method), 0 },
		{ (uint8_t *)":scheme", (uint8_t *)"https", 7, 5, 0 },
		{ (uint8_t *)":path", (uint8_t *)path, 5, strlen(path), 0 },
		{ (uint8_t *)":authority", (uint8_t *)"example.test", 10, 12, 0 },
	};
	return nghttp2_submit_request(c->s, NULL, nv, 4, body, NULL);
}

/* Feeds what the client queued to a fresh server connection, and the answer back. */
static void exchange(struct client *c)
{
	client_take(c);
	struct tb_bytes back = { 0 };
	CHECK_INT(tb_http_feed_bytes(srv, c->out.p, c->out.len, &back), 0);
	if (getenv("TB_H2_DUMP")) /* frame types, for debugging a failure */
		for (size_t off = 0; off + 9 <= back.len;) {
			size_t fl = (size_t)back.p[off] << 16 | (size_t)back.p[off + 1] << 8 | back.p[off + 2];
			fprintf(stderr, "frame type %d flags %x stream %d len %zu\n", back.p[off + 3],
				back.p[off + 4], back.p[off + 8], fl);
			off += 9 + fl;
		}
	ssize_t n = nghttp2_session_mem_recv(c->s, back.p, back.len);
	CHECK(n == (ssize_t)back.len);
	tb_bytes_free(&back);
	tb_bytes_free(&c->out);
}

static void client_free(struct client *c)
{
	nghttp2_session_del(c->s);
	tb_bytes_free(&c->out);
}

static ssize_t read_post(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
	nghttp2_data_source *src, void *ud)
{
	(void)s, (void)id, (void)ud;
	size_t *left = src->ptr;
	size_t n = *left < len ? *left : len;
	memset(buf, 'x', n);
	*left -= n;
	if (*left == 0)
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)n;
}

/* A request body that never comes: the stream stays open. */
static ssize_t read_deferred(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
	nghttp2_data_source *src, void *ud)
{
	(void)s, (void)id, (void)buf, (void)len, (void)flags, (void)src, (void)ud;
	return NGHTTP2_ERR_DEFERRED;
}

static void test_basic(void)
{
	struct client c;
	client_init(&c);
	int32_t t = get(&c, "GET", "/text", NULL);
	int32_t e = get(&c, "GET", "/echo?a=1", NULL);
	int32_t h = get(&c, "HEAD", "/text", NULL);
	int32_t nf = get(&c, "GET", "/nothing", NULL);
	int32_t na = get(&c, "DELETE", "/text", NULL);
	int32_t dot = get(&c, "GET", "/a/%2e%2e/text", NULL);
	int32_t l = get(&c, "GET", "/later", NULL);
	size_t left = 100;
	nghttp2_data_provider prd = { .source.ptr = &left, .read_callback = read_post };
	int32_t p = get(&c, "POST", "/echo", &prd);
	exchange(&c);
	CHECK(c.goaway == -1 || c.goaway == 0);
	CHECK_INT(ans(&c, t)->status, 200);
	CHECK_STR(ans(&c, t)->body, "hello");
	CHECK_STR(ans(&c, t)->x_test, "One");
	CHECK_INT(ans(&c, t)->has_connection, 0);
	CHECK_INT(ans(&c, e)->status, 200);
	CHECK_STR(ans(&c, e)->body, "GET /echo q=a=1 host=example.test len=0");
	CHECK_INT(ans(&c, h)->status, 200);
	CHECK_INT(ans(&c, h)->body_len, 0);
	CHECK_STR(ans(&c, h)->content_length, "5");
	CHECK_INT(ans(&c, nf)->status, 404);
	CHECK_INT(ans(&c, na)->status, 405);
	CHECK_INT(ans(&c, dot)->status, 400);
	CHECK_INT(ans(&c, l)->status, 202);
	CHECK_STR(ans(&c, l)->body, "later");
	CHECK_INT(ans(&c, p)->status, 200);
	CHECK_STR(ans(&c, p)->body, "POST /echo q= host=example.test len=100");
	client_free(&c);
}

static void test_limits(void)
{
	struct client c;
	client_init(&c);
	/* Body over the server's 1 KiB limit: 413 on that stream; the next one is served. */
	size_t left = 4000;
	nghttp2_data_provider prd = { .source.ptr = &left, .read_callback = read_post };
	int32_t big = get(&c, "POST", "/echo", &prd);
	/* A header list over 2 KiB: 431. */
	static char longv[1500];
	memset(longv, 'v', sizeof longv - 1);
	nghttp2_nv nv[] = {
		{ (uint8_t *)":method", (uint8_t *)"GET", 7, 3, 0 },
		{ (uint8_t *)":scheme", (uint8_t *)"https", 7, 5, 0 },
		{ (uint8_t *)":path", (uint8_t *)"/text", 5, 5, 0 },
		{ (uint8_t *)":authority", (uint8_t *)"example.test", 10, 12, 0 },
		{ (uint8_t *)"x-a", (uint8_t *)longv, 3, sizeof longv - 1, NGHTTP2_NV_FLAG_NO_INDEX },
		{ (uint8_t *)"x-b", (uint8_t *)longv, 3, sizeof longv - 1, NGHTTP2_NV_FLAG_NO_INDEX },
	};
	int32_t hl = nghttp2_submit_request(c.s, NULL, nv, 6, NULL, NULL);
	int32_t ok = get(&c, "GET", "/text", NULL);
	exchange(&c);
	CHECK_INT(ans(&c, big)->status, 413);
	CHECK_INT(ans(&c, hl)->status, 431);
	CHECK_INT(ans(&c, ok)->status, 200);
	client_free(&c);
}

static void test_orphans(void)
{
	/* A stream reset while its handler holds the request: orphaned, the connection goes on. */
	struct client c;
	client_init(&c);
	held = NULL;
	held_gone_seen = -1;
	int32_t h = get(&c, "GET", "/hold", NULL);
	client_take(&c);
	nghttp2_submit_rst_stream(c.s, NGHTTP2_FLAG_NONE, h, NGHTTP2_CANCEL);
	int32_t k = get(&c, "GET", "/check", NULL);
	exchange(&c);
	CHECK(held != NULL);
	CHECK_INT(held_gone_seen, 1);
	CHECK_INT(ans(&c, k)->status, 204);
	CHECK_INT(ans(&c, h)->status, 0);
	CHECK_INT(tb_http_respond(held, 200, "text/plain", "late", 4), 0); /* only frees */
	client_free(&c);

	/* The connection closes while a handler holds a request. */
	client_init(&c);
	held = NULL;
	get(&c, "GET", "/hold", NULL);
	exchange(&c);
	CHECK(held != NULL);
	CHECK(held && tb_http_request_gone(held));
	CHECK_INT(tb_http_respond(held, 200, "text/plain", "late", 4), 0);
	client_free(&c);
}

static void test_defences(void)
{
	/* Rapid Reset: requests reset at once, far over the per-second cap. */
	struct client c;
	client_init(&c);
	for (int i = 0; i < 300; i++) {
		int32_t id = get(&c, "GET", "/text", NULL);
		client_take(&c);
		nghttp2_submit_rst_stream(c.s, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
	}
	exchange(&c);
	CHECK_INT(c.goaway, NGHTTP2_ENHANCE_YOUR_CALM);
	client_free(&c);

	/* WINDOW_UPDATE frames that none of our DATA asked for, on the connection. */
	client_init(&c);
	for (int i = 0; i < 300; i++)
		nghttp2_submit_window_update(c.s, NGHTTP2_FLAG_NONE, 0, 1);
	exchange(&c);
	CHECK_INT(c.goaway, NGHTTP2_ENHANCE_YOUR_CALM);
	client_free(&c);

	/* The same on a stream whose request body has not come yet. */
	client_init(&c);
	nghttp2_data_provider later = { .read_callback = read_deferred };
	int32_t open_id = get(&c, "POST", "/text", &later);
	CHECK(open_id > 0);
	client_take(&c);
	for (int i = 0; i < 300; i++)
		nghttp2_submit_window_update(c.s, NGHTTP2_FLAG_NONE, open_id, 1);
	exchange(&c);
	CHECK_INT(c.goaway, NGHTTP2_ENHANCE_YOUR_CALM);
	client_free(&c);

	/* A header block that never ends: CONTINUATION frames past the cap. */
	static const uint8_t preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
	struct tb_bytes in = { 0 }, back = { 0 };
	tb_bytes_append(&in, preface, 24);
	static const uint8_t settings[] = { 0, 0, 0, 4, 0, 0, 0, 0, 0 };
	tb_bytes_append(&in, settings, sizeof settings);
	/* HEADERS (no END_HEADERS) with ":method: GET" (static index 2). */
	static const uint8_t headers[] = { 0, 0, 1, 1, 0, 0, 0, 0, 1, 0x82 };
	tb_bytes_append(&in, headers, sizeof headers);
	for (int i = 0; i < 50; i++) {
		/* CONTINUATION with ":scheme: https" (index 7), no END_HEADERS. */
		static const uint8_t cont[] = { 0, 0, 1, 9, 0, 0, 0, 0, 1, 0x87 };
		tb_bytes_append(&in, cont, sizeof cont);
	}
	CHECK_INT(tb_http_feed_bytes(srv, in.p, in.len, &back), 0);
	client_init(&c);
	/* Skip our SETTINGS parsing subtleties: find GOAWAY (type 7) and its code. */
	int code = -1;
	for (size_t off = 0; off + 9 <= back.len;) {
		size_t n = (size_t)back.p[off] << 16 | (size_t)back.p[off + 1] << 8 | back.p[off + 2];
		if (back.p[off + 3] == 7 && off + 9 + 8 <= back.len)
			code = back.p[off + 9 + 7] | back.p[off + 9 + 6] << 8;
		off += 9 + n;
	}
	CHECK_INT(code, NGHTTP2_ENHANCE_YOUR_CALM);
	client_free(&c);
	tb_bytes_free(&in);
	tb_bytes_free(&back);
}

/* ---- On a socket: the connection timer ---- */

static int h2c_port;
static struct tb_http_server *srv_sock;
static uv_async_t finish;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* What a socket client got until the server closed (or 5 s passed). */
struct seen {
	int goaway;     /* error code, -1 for none */
	int headers;    /* HEADERS frames */
	int data;       /* DATA frames with payload */
	int closed;     /* the server closed the connection */
	double secs;    /* from sending to close */
};

/* Sends what a client session queued (settings: initial window), then reads until close. */
static struct seen run_client(uint32_t window, int request, int finish_request);

static int stop_seen_status = -1;

/*
 * The server stops while a handler holds an h2 request: GOAWAY, the late
 * response still reaches the client, then the connection closes.
 */
static struct seen stop_with_stream(void)
{
	return run_client(65535, 3, 1);
}

static struct seen run_client(uint32_t window, int request, int finish_request)
{
	struct seen r = { .goaway = -1 };
	struct client c;
	client_init(&c);
	nghttp2_settings_entry iv = { NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, window };
	nghttp2_submit_settings(c.s, NGHTTP2_FLAG_NONE, &iv, 1);
	size_t left = 10; /* read when the client session produces the body */
	if (request) {
		nghttp2_data_provider prd = { .source.ptr = &left, .read_callback = read_post };
		get(&c, request == 2 ? "POST" : "GET",
			request == 2 ? "/echo" : request == 3 ? "/hold" : "/text", request == 2 ? &prd : NULL);
	}
	client_take(&c);
	size_t len = c.out.len;
	if (request == 2 && !finish_request) {
		/* Drop the DATA frames at the end: the request never completes. After the preface: */
		for (size_t off = 24; off + 9 <= c.out.len;) {
			size_t n = (size_t)c.out.p[off] << 16 | (size_t)c.out.p[off + 1] << 8 | c.out.p[off + 2];
			if (c.out.p[off + 3] == NGHTTP2_DATA) {
				len = off;
				break;
			}
			off += 9 + n;
		}
	}
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)h2c_port) };
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	struct timeval tv = { .tv_sec = 5 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
		close(fd);
		client_free(&c);
		return r;
	}
	double t0 = now_s();
	if (send(fd, c.out.p, len, 0) != (ssize_t)len) {
		close(fd);
		client_free(&c);
		return r;
	}
	if (request == 3) {
		usleep(200 * 1000); /* the handler holds it now */
		uv_async_send(&finish);
	}
	struct tb_bytes in = { 0 };
	uint8_t buf[4096];
	for (;;) {
		ssize_t n = recv(fd, buf, sizeof buf, 0);
		if (n == 0)
			r.closed = 1;
		if (n <= 0)
			break;
		tb_bytes_append(&in, buf, (size_t)n);
	}
	r.secs = now_s() - t0;
	close(fd);
	for (size_t off = 0; off + 9 <= in.len;) {
		size_t n = (size_t)in.p[off] << 16 | (size_t)in.p[off + 1] << 8 | in.p[off + 2];
		uint8_t type = in.p[off + 3];
		if (type == NGHTTP2_GOAWAY && off + 17 <= in.len)
			r.goaway = in.p[off + 16] | in.p[off + 15] << 8;
		else if (type == NGHTTP2_HEADERS) {
			r.headers++;
			/* :status 200 is static index 8 (0x88) as the first field. */
			if (n > 0 && off + 9 < in.len && in.p[off + 9] == 0x88)
				stop_seen_status = 200;
		}
		else if (type == NGHTTP2_DATA && n > 0)
			r.data++;
		off += 9 + n;
	}
	tb_bytes_free(&in);
	client_free(&c);
	return r;
}

static void *socket_client(void *arg)
{
	(void)arg;
	/* A zero window: the response headers go out, its DATA never can; closed after the idle timeout. */
	struct seen z = run_client(0, 1, 1);
	CHECK(z.closed);
	CHECK_INT(z.goaway, NGHTTP2_NO_ERROR);
	CHECK_INT(z.headers, 1);
	CHECK_INT(z.data, 0);
	CHECK(z.secs > 0.3 && z.secs < 3);
	/* The same with a window: answered, the connection stays until idle. */
	struct seen w = run_client(65535, 1, 1);
	CHECK_INT(w.headers, 1);
	CHECK_INT(w.data, 1);
	CHECK(w.closed && w.secs > 0.3 && w.secs < 3);
	/* A request whose body never comes: closed after the body timeout. */
	struct seen b = run_client(65535, 2, 0);
	CHECK(b.closed);
	CHECK_INT(b.goaway, NGHTTP2_NO_ERROR);
	CHECK_INT(b.headers, 0);
	CHECK(b.secs > 0.3 && b.secs < 3);
	/* Nothing at all after the preface: closed when idle. */
	struct seen i = run_client(65535, 0, 0);
	CHECK(i.closed);
	CHECK_INT(i.goaway, NGHTTP2_NO_ERROR);
	CHECK(i.secs > 0.3 && i.secs < 3);
	/* HTTP/1.1 on the same h2c listener. */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)h2c_port) };
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	struct timeval tv = { .tv_sec = 5 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	char resp[512] = { 0 };
	if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0) {
		static const char q[] = "GET /text HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
		if (send(fd, q, sizeof q - 1, 0) == (ssize_t)(sizeof q - 1))
			(void)!recv(fd, resp, sizeof resp - 1, MSG_WAITALL);
	}
	close(fd);
	CHECK(strncmp(resp, "HTTP/1.1 200", 12) == 0);
	/* Last: a stop while a handler holds a request (the async stops the server). */
	held = NULL;
	stop_seen_status = -1;
	struct seen st = stop_with_stream();
	CHECK(st.closed);
	CHECK_INT(st.goaway, NGHTTP2_NO_ERROR);
	CHECK_INT(st.headers, 1);
	CHECK_INT(stop_seen_status, 200);
	CHECK(st.secs < 3);
	return NULL;
}

static void answer_held(uv_timer_t *t)
{
	if (held) {
		CHECK(!tb_http_request_gone(held)); /* the stop waits for it */
		tb_http_respond(held, 200, "text/plain", "late", 4);
		held = NULL;
	}
	uv_close((uv_handle_t *)t, NULL);
}

static uv_timer_t answer_timer;

static void on_finish(uv_async_t *a)
{
	uv_close((uv_handle_t *)a, NULL);
	CHECK(held != NULL);
	tb_http_server_stop(srv_sock, NULL, NULL);
	uv_timer_init(&loop, &answer_timer);
	uv_timer_start(&answer_timer, answer_held, 100, 0);
}

static void test_socket(void)
{
	struct tb_http_limits lim = { .idle_timeout_ms = 500, .body_timeout_ms = 500, .header_timeout_ms = 500,
		.grace_timeout_ms = 2000 };
	CHECK_INT(tb_http_server_new(&srv_sock, &loop, &lim), 0);
	CHECK_INT(tb_http_listen(srv_sock, "plain", "127.0.0.1", 0, NULL), 0);
	CHECK_INT(tb_http_listen_h2c(srv_sock, "plain", 1), 0);
	CHECK_INT(tb_http_listen_h2c(srv_sock, "nope", 1), TB_ERR_NOT_FOUND);
	h2c_port = tb_http_listener_port(srv_sock, "plain");
	CHECK_INT(tb_http_mount(srv_sock, NULL, "/", &table, NULL), 0);
	uv_async_init(&loop, &finish, on_finish);
	pthread_t th;
	pthread_create(&th, NULL, socket_client, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	pthread_join(th, NULL);
	tb_http_server_free(srv_sock);
}

int main(void)
{
	tb_log_set_level(TB_LOG_OFF);
	uv_loop_init(&loop);
	struct tb_http_limits lim = { .max_body = 1024, .h2_max_header_list = 2048 };
	CHECK_INT(tb_http_server_new(&srv, &loop, &lim), 0);
	CHECK_INT(tb_http_mount(srv, NULL, "/", &table, NULL), 0);
	test_basic();
	test_limits();
	test_orphans();
	test_defences();
	test_socket();
	tb_http_server_free(srv);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	return tb_test_result("core_http2");
}
