/*
 * The HTTP client's keep-alive pool against a scripted plaintext server on
 * 127.0.0.1 (each step sets how it answers; it counts accepted connections):
 * sequential keep_alive calls share one connection and send no Connection:
 * close, a call started from a callback included; a response with Connection: close is honoured; a connection the
 * server dropped as it was reused fails a request without retry and is
 * retried once on a fresh connection with it; a response cut off by an error
 * (a body over max_body) does not put its connection back; idle connections
 * the server closes, or that outlive the idle timeout, leave the pool; the
 * pool keeps at most core.http_client_pool_size per peer; pool_close leaves
 * nothing open on the loop. (TLS session resumption is
 * integration.dap_keepalive.)
 */
#include <string.h>
#include <uv.h>

#include "core/error.h"
#include "core/http.h"
#include "tb_test.h"

enum mode { M_OK, M_CLOSE, M_DROP, M_DROP_REUSED, M_BIG };

struct sconn {
	uv_tcp_t tcp;
	struct sconn *next;
	char buf[4096];
	size_t len;
	int served;
	int closing;
};

static uv_loop_t loop;
static uv_tcp_t listener;
static struct sconn *sconns;
static enum mode mode;
static int accepts, saw_close_header;
static char url[64];

static void sconn_closed(uv_handle_t *h)
{
	struct sconn *s = h->data;
	for (struct sconn **pp = &sconns; *pp; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	free(s);
}

static void sconn_close(struct sconn *s)
{
	if (!s->closing) {
		s->closing = 1;
		uv_close((uv_handle_t *)&s->tcp, sconn_closed);
	}
}

struct swrite {
	uv_write_t w;
	struct sconn *s;
	int close_after;
};

static void wrote(uv_write_t *w, int status)
{
	(void)status;
	struct swrite *sw = (struct swrite *)w;
	if (sw->close_after)
		sconn_close(sw->s);
	free(sw);
}

static void answer(struct sconn *s, const char *text, int close_after)
{
	struct swrite *sw = calloc(1, sizeof *sw);
	sw->s = s;
	sw->close_after = close_after;
	uv_buf_t b = uv_buf_init((char *)text, (unsigned)strlen(text));
	uv_write(&sw->w, (uv_stream_t *)&s->tcp, &b, 1, wrote);
}

static void s_alloc(uv_handle_t *h, size_t sz, uv_buf_t *b)
{
	(void)sz;
	struct sconn *s = h->data;
	*b = uv_buf_init(s->buf + s->len, (unsigned)(sizeof s->buf - s->len - 1));
}

static void s_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
	(void)b;
	struct sconn *s = st->data;
	if (n < 0) {
		sconn_close(s);
		return;
	}
	s->len += (size_t)n;
	s->buf[s->len] = 0;
	char *end = strstr(s->buf, "\r\n\r\n");
	if (!end)
		return;
	saw_close_header = strstr(s->buf, "Connection: close") != NULL;
	s->len = 0;
	int first = s->served++ == 0;
	static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
	switch (mode) {
	case M_OK:
		answer(s, ok, 0);
		break;
	case M_CLOSE:
		answer(s, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", 1);
		break;
	case M_DROP:
		sconn_close(s);
		break;
	case M_DROP_REUSED:
		if (first)
			answer(s, ok, 0);
		else
			sconn_close(s);
		break;
	case M_BIG:
		answer(s, "HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", 0);
		break;
	}
}

static void on_accept(uv_stream_t *l, int status)
{
	if (status < 0)
		return;
	struct sconn *s = calloc(1, sizeof *s);
	uv_tcp_init(&loop, &s->tcp);
	s->tcp.data = s;
	if (uv_accept(l, (uv_stream_t *)&s->tcp) != 0) {
		uv_close((uv_handle_t *)&s->tcp, (uv_close_cb)free);
		return;
	}
	s->next = sconns;
	sconns = s;
	accepts++;
	uv_read_start((uv_stream_t *)&s->tcp, s_alloc, s_read);
}

struct result {
	int done, err, status;
	char body[64];
};

static void on_resp(int err, const struct tb_http_client_resp *resp, void *arg)
{
	struct result *r = arg;
	r->done = 1;
	r->err = err;
	if (!err) {
		r->status = resp->status;
		size_t n = resp->body.len < sizeof r->body - 1 ? resp->body.len : sizeof r->body - 1;
		memcpy(r->body, resp->body.p, n);
		r->body[n] = 0;
	}
}

/* The next request, started from inside the previous one's callback. */
static struct result chained;
static void on_resp_chain(int err, const struct tb_http_client_resp *resp, void *arg)
{
	on_resp(err, resp, arg);
	struct tb_http_client_req req = { .url = url, .keep_alive = 1, .timeout_ms = 5000 };
	CHECK_INT(tb_http_client_request(&loop, &req, on_resp, &chained), 0);
}

static void run_until(const int *flag)
{
	for (int i = 0; !*flag && i < 100000; i++)
		uv_run(&loop, UV_RUN_ONCE);
}

/* Runs the loop for ms milliseconds. */
static void spin(uint64_t ms)
{
	uv_update_time(&loop);
	uint64_t until = uv_now(&loop) + ms;
	while (uv_now(&loop) < until) {
		uv_run(&loop, UV_RUN_NOWAIT);
		uv_sleep(1);
		uv_update_time(&loop);
	}
}

static void start(struct result *r, int retry, size_t max_body)
{
	memset(r, 0, sizeof *r);
	struct tb_http_client_req req = {
		.url = url,
		.keep_alive = 1,
		.retry = retry,
		.max_body = max_body,
		.timeout_ms = 5000,
	};
	CHECK_INT(tb_http_client_request(&loop, &req, on_resp, r), 0);
}

static struct result get(int retry, size_t max_body)
{
	struct result r;
	start(&r, retry, max_body);
	run_until(&r.done);
	return r;
}

int main(void)
{
	uv_loop_init(&loop);
	tb_http_client_pool_setup(2, 400);
	uv_tcp_init(&loop, &listener);
	struct sockaddr_in a;
	uv_ip4_addr("127.0.0.1", 0, &a);
	CHECK_INT(uv_tcp_bind(&listener, (const struct sockaddr *)&a, 0), 0);
	CHECK_INT(uv_listen((uv_stream_t *)&listener, 16, on_accept), 0);
	struct sockaddr_storage ss;
	int sl = sizeof ss;
	uv_tcp_getsockname(&listener, (struct sockaddr *)&ss, &sl);
	snprintf(url, sizeof url, "http://127.0.0.1:%d/x", ntohs(((struct sockaddr_in *)&ss)->sin_port));

	/* Three calls, one connection; no Connection: close on the wire. */
	mode = M_OK;
	for (int i = 0; i < 3; i++) {
		struct result r = get(0, 0);
		CHECK_INT(r.err, 0);
		CHECK_STR(r.body, "ok");
		CHECK_INT(saw_close_header, 0);
	}
	CHECK_INT(accepts, 1);
	CHECK_INT(tb_http_client_pool_idle(&loop), 1);
	/* A request started by a callback already finds that call's connection idle. */
	struct result first = { 0 };
	struct tb_http_client_req creq = { .url = url, .keep_alive = 1, .timeout_ms = 5000 };
	CHECK_INT(tb_http_client_request(&loop, &creq, on_resp_chain, &first), 0);
	run_until(&chained.done);
	CHECK_INT(first.err, 0);
	CHECK_INT(chained.err, 0);
	CHECK_STR(chained.body, "ok");
	CHECK_INT(accepts, 1);

	/* Connection: close in the response: that connection is not kept. */
	mode = M_CLOSE;
	struct result r = get(0, 0);
	CHECK_INT(r.err, 0);
	CHECK_INT(tb_http_client_pool_idle(&loop), 0);
	mode = M_OK;
	r = get(0, 0);
	CHECK_INT(r.err, 0);
	CHECK_INT(accepts, 2);

	/* The server drops the kept connection as it is reused: without retry, an error. */
	mode = M_DROP;
	r = get(0, 0);
	CHECK(r.err != 0);
	CHECK_INT(accepts, 2);
	CHECK_INT(tb_http_client_pool_idle(&loop), 0);

	/* The same with retry: sent again on a fresh connection, answered there. */
	mode = M_OK;
	r = get(0, 0);
	CHECK_INT(accepts, 3);
	mode = M_DROP_REUSED;
	r = get(1, 0);
	CHECK_INT(r.err, 0);
	CHECK_STR(r.body, "ok");
	CHECK_INT(accepts, 4);
	CHECK_INT(tb_http_client_pool_idle(&loop), 1);

	/* A response cut off by an error (body over max_body): its connection is not reused. */
	mode = M_BIG;
	r = get(1, 10);
	CHECK_INT(r.err, TB_ERR_TOO_LARGE);
	CHECK_INT(tb_http_client_pool_idle(&loop), 0);
	mode = M_OK;
	r = get(0, 0);
	CHECK_INT(r.err, 0);
	CHECK_STR(r.body, "ok");
	CHECK_INT(accepts, 5);

	/* The server closes its idle connections: the pool notices and lets them go. */
	CHECK_INT(tb_http_client_pool_idle(&loop), 1);
	for (struct sconn *s = sconns; s; s = s->next)
		sconn_close(s);
	spin(50);
	CHECK_INT(tb_http_client_pool_idle(&loop), 0);

	/* At most two idle connections per peer (the pool size set above). */
	struct result p[3];
	for (int i = 0; i < 3; i++)
		start(&p[i], 0, 0);
	for (int i = 0; i < 3; i++) {
		run_until(&p[i].done);
		CHECK_INT(p[i].err, 0);
	}
	CHECK_INT(accepts, 8);
	CHECK_INT(tb_http_client_pool_idle(&loop), 2);

	/* Idle longer than the idle timeout (400 ms): closed by the pool. */
	spin(700);
	CHECK_INT(tb_http_client_pool_idle(&loop), 0);
	CHECK(sconns == NULL);

	r = get(0, 0);
	CHECK_INT(r.err, 0);
	CHECK_INT(tb_http_client_pool_idle(&loop), 1);
	tb_http_client_pool_close(&loop);
	CHECK_INT(tb_http_client_pool_idle(&loop), 0);
	for (struct sconn *s = sconns; s; s = s->next)
		sconn_close(s);
	uv_close((uv_handle_t *)&listener, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK_INT(uv_loop_close(&loop), 0);
	return tb_test_result("core_http_client_pool");
}
