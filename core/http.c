/*
 * DESIGN: the HTTP/1.1 server (see core/http.h for the contract), and the
 * request side of HTTP/2 streams (core/http2.c keeps the nghttp2 session).
 *
 * - Before the first request a connection chooses its protocol
 *   (choose_protocol): ALPN h2, or the HTTP/2 preface on an h2c listener
 *   or in feed mode. An HTTP/2 connection's plaintext then goes to
 *   tb_h2_input; its requests are the same struct req (is_h2, h2s), built
 *   and dispatched through the tb_http_h2_* functions below and answered
 *   by respond_h2; c->cur and the parser stay unused.
 *
 * - A connection is a small state machine driven by bytes: socket bytes go
 *   through TLS (if any) into a plaintext input buffer that http-parser
 *   consumes. The same code runs without a socket (tb_http_feed_bytes), which
 *   is what the fuzzer drives.
 * - One request at a time per connection: on_message_complete pauses the
 *   parser; the request is dispatched from outside the parser; bytes that
 *   keep arriving (pipelining) stay in the input buffer (capped; reading stops
 *   above PAUSED_INPUT_CAP) until the response has been queued, then parsing
 *   resumes. Responses therefore leave in request order.
 * - Routing happens at end of headers, so that the body limit of the route
 *   applies while the body arrives: Content-Length is checked up front,
 *   chunked bodies are counted as they decode. The router
 *   (core/http_router.c) fixes the outcome there (a handler, or 404/405
 *   with Allow and the table's renderer), so dispatch only carries it out.
 *   Writes go through core/http_io.c, shared with the client.
 * - One timer per connection, armed for the state: new connection or
 *   keep-alive idle (close silently), headers (408), body (408), lingering
 *   close; none while a handler runs.
 * - Errors core answers itself (400/408/413/431/501) always close the
 *   connection: we send FIN, keep reading and discarding for a short linger
 *   so that the client sees the response instead of a reset.
 * - A request whose connection dies while its handler is pending is orphaned
 *   (conn = NULL); the later tb_http_respond only frees it.
 *
 * Size: past 900 lines on purpose. The connection state machine, the parser
 * callbacks, the timers and the request lifecycle share one struct and its
 * invariants (response order, pause/resume, orphaned requests); split apart,
 * each piece would need the others' internals. What stands alone already
 * lives apart: the router (http_router.c), the write path (http_io.c), the
 * client (http_client.c), the HTTP/2 session (http2.c). The next cut, when
 * this file grows again: the request object shared by both protocols
 * (allocation, headers, respond, the tb_http_h2_req_* bridge) into its own
 * file behind an internal header, leaving HTTP/1.1 connections here.
 */
#include "core/http.h"

#include <errno.h>
#include <http_parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/admin.h"
#include "core/error.h"
#include "core/http2.h"
#include "core/http_io.h"
#include "core/http_router.h"
#include "core/log.h"
#include "core/tls.h"

#define READ_CHUNK (16u * 1024)
#define PAUSED_INPUT_CAP (256u * 1024) /* buffered pipelined bytes before reading stops */
#define LINGER_MS 2000u
#define BODY_PREALLOC (64u * 1024)
#define WRITE_QUEUE_CAP (1u << 20) /* unsent response bytes before parsing pauses */
#define MAX_LISTENERS 32
#define MAX_RESP_HEADERS 64
#define MAX_URL_BYTES TB_HTTP_DEFAULT_MAX_HEADER_BYTES /* also bounded by max_header_bytes */
struct listener {
	struct tb_http_server *srv;
	char *name;
	uv_tcp_t tcp;
	int port;
	struct tb_tls_server *tls;
	int open;             /* handle initialised and not yet closed */
	int dead;             /* bind or listen failed */
	int h2c;              /* plain listener: HTTP/2 with prior knowledge too */
};

enum conn_state {
	CS_NEW,      /* connected (TLS handshake), no request byte yet */
	CS_IDLE,     /* keep-alive: waiting for the next request */
	CS_HEADERS,  /* reading a request line and headers */
	CS_BODY,     /* reading a body */
	CS_HANDLER,  /* a handler owns the current request */
	CS_CLOSING,  /* response sent, lingering before close */
};

struct req;

struct conn {
	struct tb_http_server *srv;
	struct listener *lst;     /* NULL in feed mode */
	uv_tcp_t tcp;
	uv_timer_t timer;
	int has_socket;
	int handles_open;         /* handles not yet closed back */
	struct tb_tls_conn *tls;
	http_parser parser;
	struct tb_bytes in;       /* plaintext not yet parsed: in.p[in_off..in.len] */
	size_t in_off;
	enum conn_state state;
	struct req *cur;          /* request being parsed or handled */
	struct req *ready;        /* set by on_message_complete */
	int err_status;           /* status a parser callback asked for */
	int reading;              /* uv_read_start active */
	int read_eof;
	int closing;              /* no more requests; close when writes are done */
	int closed;               /* conn_close ran */
	int in_dispatch;
	int processing;
	const char *scan;         /* framing bytes before this are checked (see check_framing) */
	int cr_pending;           /* the last framing byte checked was a CR: an LF must follow */
	int crlf_due;             /* chunk data ended: CR LF must come next (2, then 1) */
	int bad_framing;
	struct tb_http_out out;   /* the write path (core/http_io.h); feed mode: its sink */
	struct tb_h2 *h2;         /* HTTP/2 session (core/http2.c); then http-parser is unused */
	int proto_checked;        /* the choice between HTTP/1.1 and HTTP/2 is made */
	char remote[64];
	uint8_t rbuf[READ_CHUNK];
	struct conn *prev, *next;
};

struct resp_header {
	const char *name, *value;
};

struct req {
	struct tb_http_request pub;
	struct conn *conn;        /* NULL once orphaned */
	struct tb_http_match match; /* the router's decision (series "none" until routed) */
	struct tb_bytes body;
	struct tb_bytes url;
	struct tb_bytes hfield, hvalue;
	int in_value;             /* last header callback was a value */
	struct tb_http_header *hdrs;
	size_t n_hdrs, cap_hdrs;
	size_t header_bytes;
	size_t max_body;
	struct resp_header rh[MAX_RESP_HEADERS];
	size_t n_rh;
	int keep_alive;
	int head;
	int dispatched;
	uint64_t start_ms;
	int is_h2;                /* a stream of an HTTP/2 connection */
	struct tb_h2_stream *h2s; /* its stream; NULL once orphaned */
	int *responded;           /* set to 1 when responded (HTTP/2 dispatch watches it) */
};

struct tb_http_server {
	uv_loop_t *loop;
	struct tb_http_limits lim;
	struct listener *listeners[MAX_LISTENERS];
	size_t n_listeners;
	struct tb_http_router *router;
	struct conn *conns;
	unsigned n_conns;               /* open (not yet closing) connections */
	unsigned conns_alive;           /* connections not yet freed */
	unsigned handles_open;          /* listener handles + grace timer */
	int stopping;
	uv_timer_t grace;
	int grace_open;
	tb_done_cb done;
	void *done_arg;
};

static void conn_close(struct conn *c);
static void conn_process(struct conn *c);
static void conn_resume(struct conn *c);
static void check_stopped(struct tb_http_server *srv);
static int write_raw(struct conn *c, const uint8_t *p, size_t n);
static int flush_tls(struct conn *c);
static int send_owned(struct conn *c, uint8_t *p, size_t n);
static void arm(struct conn *c, uint64_t ms);
static int busy(const struct conn *c);
static int backlogged(const struct conn *c);
static void reading(struct conn *c, int on);
static void on_written(struct tb_http_out *out, int status);

/* ---- Small helpers ---- */

static uint64_t now_ms(struct tb_http_server *srv)
{
	return uv_now(srv->loop);
}

static int hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* Percent-decodes (and '+' to space when plus) into the arena. NULL on malformed input or NUL. */
static char *pct_decode(struct tb_arena *a, const char *s, size_t n, int plus)
{
	char *out = tb_arena_alloc(a, n + 1);
	if (!out)
		return NULL;
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		if (ch == '%') {
			if (i + 2 >= n)
				return NULL;
			int hi = hexval((unsigned char)s[i + 1]), lo = hexval((unsigned char)s[i + 2]);
			if (hi < 0 || lo < 0)
				return NULL;
			ch = (char)(hi * 16 + lo);
			if (ch == 0)
				return NULL;
			i += 2;
		} else if (plus && ch == '+') {
			ch = ' ';
		}
		out[o++] = ch;
	}
	out[o] = 0;
	return out;
}

const char *tb_http_reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 303: return "See Other";
	case 304: return "Not Modified";
	case 307: return "Temporary Redirect";
	case 308: return "Permanent Redirect";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 406: return "Not Acceptable";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 410: return "Gone";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 415: return "Unsupported Media Type";
	case 417: return "Expectation Failed";
	case 422: return "Unprocessable Content";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	default: return "Unknown";
	}
}

/* ---- Requests ---- */

static void req_free(struct req *r)
{
	if (!r)
		return;
	tb_bytes_free(&r->body);
	tb_bytes_free(&r->url);
	tb_bytes_free(&r->hfield);
	tb_bytes_free(&r->hvalue);
	tb_arena_free(r->pub.arena); /* r itself lives in the arena */
}

static struct req *req_new(struct conn *c)
{
	struct tb_arena *a = tb_arena_new(0);
	if (!a)
		return NULL;
	struct req *r = tb_arena_calloc(a, sizeof *r);
	if (!r) {
		tb_arena_free(a);
		return NULL;
	}
	r->pub.arena = a;
	r->pub.server = c->srv;
	r->pub.method = "-";
	r->pub.target = "-";
	r->pub.path = "-";
	r->pub.query = "";
	r->pub.remote = tb_arena_strdup(a, c->remote); /* outlives the connection if orphaned */
	if (!r->pub.remote) {
		tb_arena_free(a);
		return NULL;
	}
	r->pub.listener = c->lst ? c->lst->name : "-";
	r->pub.tls = c->tls != NULL;
	r->pub.http_minor = 1;
	r->conn = c;
	r->max_body = c->srv->lim.max_body;
	r->start_ms = now_ms(c->srv);
	r->match.series = tb_http_router_none(c->srv->router);
	return r;
}

static struct req *req_of(struct tb_http_request *pub)
{
	return (struct req *)((char *)pub - offsetof(struct req, pub));
}

const char *tb_http_header(const struct tb_http_request *req, const char *name)
{
	for (size_t i = 0; i < req->n_headers; i++)
		if (strcasecmp(req->headers[i].name, name) == 0)
			return req->headers[i].value;
	return NULL;
}

const char *tb_http_query_param(struct tb_http_request *req, const char *name)
{
	const char *q = req->query;
	size_t nlen = strlen(name);
	while (q && *q) {
		const char *end = strchr(q, '&');
		size_t len = end ? (size_t)(end - q) : strlen(q);
		const char *eq = memchr(q, '=', len);
		size_t klen = eq ? (size_t)(eq - q) : len;
		char *key = pct_decode(req->arena, q, klen, 1);
		if (key && strlen(key) == nlen && memcmp(key, name, nlen) == 0) {
			if (!eq)
				return "";
			return pct_decode(req->arena, eq + 1, len - klen - 1, 1);
		}
		q = end ? end + 1 : NULL;
	}
	return NULL;
}

const char *tb_http_path_param(const struct tb_http_request *req, const char *name)
{
	const struct req *r = req_of((struct tb_http_request *)req);
	for (size_t i = 0; i < r->match.n_params; i++)
		if (strcmp(r->match.params[i].name, name) == 0)
			return r->match.params[i].value;
	return NULL;
}

int tb_http_request_gone(const struct tb_http_request *req)
{
	struct req *r = req_of((struct tb_http_request *)req);
	return r->conn == NULL || r->conn->closed;
}

int tb_http_set_header(struct tb_http_request *req, const char *name, const char *value)
{
	struct req *r = req_of(req);
	if (r->n_rh >= MAX_RESP_HEADERS)
		return TB_ERR_TOO_LARGE;
	if (strpbrk(name, "\r\n:") || strpbrk(value, "\r\n"))
		return TB_ERR_INVALID;
	const char *n = tb_arena_strdup(req->arena, name), *v = tb_arena_strdup(req->arena, value);
	if (!n || !v)
		return TB_ERR_NOMEM;
	r->rh[r->n_rh].name = n;
	r->rh[r->n_rh].value = v;
	r->n_rh++;
	return 0;
}

static void http_date(char *buf, size_t len)
{
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, len, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

/* Fields that belong to an HTTP/1.1 connection, not to an HTTP/2 message (RFC 9113 8.2.2). */
static int connection_specific(const char *name)
{
	static const char *const names[] = { "connection", "keep-alive", "proxy-connection",
		"transfer-encoding", "upgrade" };
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (strcasecmp(name, names[i]) == 0)
			return 1;
	return 0;
}

static char *lower_dup(struct tb_arena *a, const char *s)
{
	char *d = tb_arena_strdup(a, s);
	for (char *p = d; p && *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	return d;
}

/* The response of a request that came on an HTTP/2 stream. */
static int respond_h2(struct req *r, int status, const char *content_type, const void *body,
	size_t len)
{
	struct conn *c = r->conn;
	struct tb_http_request *req = &r->pub;
	if (r->responded)
		*r->responded = 1;
	if (!c || c->closed || !r->h2s || !c->h2) {
		req_free(r);
		return 0;
	}
	if (status < 200 || status > 999)
		status = 500; /* no interim responses here: 1xx would need another HEADERS */
	struct tb_http_server *srv = c->srv;
	struct tb_http_header *h = tb_arena_alloc(req->arena, (r->n_rh + 3) * sizeof *h);
	size_t n = 0;
	char date[64], clen[32];
	http_date(date, sizeof date);
	int rc = h ? 0 : TB_ERR_NOMEM;
	if (h) {
		h[n++] = (struct tb_http_header){ "date", date };
		for (size_t i = 0; i < r->n_rh && rc == 0; i++) {
			if (connection_specific(r->rh[i].name))
				continue;
			h[n].name = lower_dup(req->arena, r->rh[i].name);
			h[n].value = r->rh[i].value;
			if (!h[n++].name)
				rc = TB_ERR_NOMEM;
		}
		if (content_type && len)
			h[n++] = (struct tb_http_header){ "content-type", content_type };
	}
	int no_body = status == 204 || status == 304;
	if (h && !no_body) {
		snprintf(clen, sizeof clen, "%zu", len);
		h[n++] = (struct tb_http_header){ "content-length", clen };
	}
	if (rc == 0)
		rc = tb_h2_respond(r->h2s, status, h, n, body, len, no_body || r->head);
	else
		rc = tb_h2_respond(r->h2s, 500, NULL, 0, NULL, 0, 1); /* no memory for the fields */
	r->h2s = NULL;

	uint64_t ms = now_ms(srv) - r->start_ms;
	tb_http_series_observe(r->match.series, 1, status, (double)ms / 1000.0);
	TB_INFO("http", "%s %s %s %d %zu %llums h2", c->remote, req->method, req->path, status,
		r->head ? (size_t)0 : len, (unsigned long long)ms);
	req_free(r);
	if (rc && !c->closed)
		conn_close(c);
	return rc;
}

int tb_http_respond(struct tb_http_request *req, int status, const char *content_type,
	const void *body, size_t len)
{
	struct req *r = req_of(req);
	struct conn *c = r->conn;
	if (r->is_h2)
		return respond_h2(r, status, content_type, body, len);
	if (!c || c->closed || c->cur != r) {
		req_free(r);
		return 0;
	}
	if (status < 100 || status > 999)
		status = 500;
	struct tb_http_server *srv = c->srv;
	if (srv->stopping || (c->read_eof && c->in_off == c->in.len))
		r->keep_alive = 0;
	if (c->closing)
		r->keep_alive = 0;

	struct tb_bytes out = { 0 };
	char date[64];
	http_date(date, sizeof date);
	tb_bytes_printf(&out, "HTTP/1.1 %d %s\r\nDate: %s\r\n", status, tb_http_reason(status), date);
	for (size_t i = 0; i < r->n_rh; i++)
		tb_bytes_printf(&out, "%s: %s\r\n", r->rh[i].name, r->rh[i].value);
	if (content_type && len)
		tb_bytes_printf(&out, "Content-Type: %s\r\n", content_type);
	int no_body = status == 204 || status == 304 || (status >= 100 && status < 200);
	if (!no_body)
		tb_bytes_printf(&out, "Content-Length: %zu\r\n", len);
	if (!r->keep_alive)
		tb_bytes_printf(&out, "Connection: close\r\n");
	else if (req->http_minor == 0)
		tb_bytes_printf(&out, "Connection: keep-alive\r\n");
	tb_bytes_printf(&out, "\r\n");
	if (!no_body && !r->head && len)
		tb_bytes_append(&out, body, len);
	int rc = out.err;
	if (rc == 0 && !c->tls) {
		rc = send_owned(c, out.p, out.len); /* no second copy of the body */
		memset(&out, 0, sizeof out);
	} else if (rc == 0) {
		rc = write_raw(c, out.p, out.len);
	}
	tb_bytes_free(&out);

	uint64_t ms = now_ms(srv) - r->start_ms;
	tb_http_series_observe(r->match.series, 0, status, (double)ms / 1000.0);
	TB_INFO("http", "%s %s %s %d %zu %llums", c->remote, req->method, req->path, status,
		r->head ? (size_t)0 : len, (unsigned long long)ms);

	int keep = r->keep_alive && rc == 0;
	c->cur = NULL;
	req_free(r);
	if (!keep) {
		c->closing = 1;
		c->state = CS_CLOSING;
		if (rc == 0 && c->tls) {
			tb_tls_conn_close_notify(c->tls);
			rc = flush_tls(c);
		}
		if (rc)
			conn_close(c);
		else if (!c->has_socket)
			; /* feed mode: nothing more is parsed */
		else if (c->out.pending == 0)
			conn_close(c);
		else
			arm(c, srv->lim.idle_timeout_ms); /* a client that never reads: close after that */
		return rc;
	}
	c->state = CS_IDLE;
	if (!c->in_dispatch)
		conn_resume(c);
	return 0;
}

int tb_http_respond_json(struct tb_http_request *req, int status, const cJSON *json)
{
	char *s = json ? cJSON_PrintUnformatted(json) : NULL;
	if (!s)
		return tb_http_respond(req, 500, "text/plain", "out of memory\n", 14);
	int rc = tb_http_respond(req, status, "application/json", s, strlen(s));
	cJSON_free(s);
	return rc;
}

int tb_http_respond_problem(struct tb_http_request *req, int status, const char *type_uri,
	const char *detail)
{
	cJSON *o = cJSON_CreateObject();
	if (!o || !cJSON_AddStringToObject(o, "type", type_uri ? type_uri : "about:blank") ||
		!cJSON_AddStringToObject(o, "detail", detail ? detail : tb_http_reason(status)) ||
		!cJSON_AddNumberToObject(o, "status", status)) {
		cJSON_Delete(o);
		return tb_http_respond(req, 500, "text/plain", "out of memory\n", 14);
	}
	char *s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (!s)
		return tb_http_respond(req, 500, "text/plain", "out of memory\n", 14);
	int rc = tb_http_respond(req, status, "application/problem+json", s, strlen(s));
	cJSON_free(s);
	return rc;
}

/* ---- Writing ---- */

static void on_shutdown(uv_shutdown_t *s, int status)
{
	(void)status;
	free(s);
}

static void on_written(struct tb_http_out *out, int status)
{
	struct conn *c = (struct conn *)((char *)out - offsetof(struct conn, out));
	if (c->closed)
		return;
	if (status < 0) {
		conn_close(c);
		return;
	}
	if (c->h2 && !c->closing) {
		if (tb_h2_flush(c->h2) != 0) {
			conn_close(c);
			return;
		}
		if (!c->closed && !c->closing && !tb_h2_backlogged(c->h2))
			reading(c, 1);
		return;
	}
	if (!c->closing && !busy(c) && c->in_off < c->in.len && !backlogged(c)) {
		conn_resume(c); /* parsing paused on the write backlog */
		return;
	}
	if (c->closing && c->out.pending == 0) {
		if (c->state == CS_CLOSING && !c->read_eof) {
			/* Lingering close: FIN now, drain what the client still sends. */
			uv_shutdown_t *s = malloc(sizeof *s);
			if (!s || uv_shutdown(s, (uv_stream_t *)&c->tcp, on_shutdown) != 0) {
				free(s);
				conn_close(c);
				return;
			}
			arm(c, LINGER_MS);
		} else {
			conn_close(c);
		}
	}
}

/* Sends bytes on the socket (ciphertext already) or to the sink. Takes ownership of p. */
static int send_owned(struct conn *c, uint8_t *p, size_t n)
{
	return tb_http_out_send(&c->out, p, n);
}

static int flush_tls(struct conn *c)
{
	return tb_http_out_flush_tls(&c->out);
}

static int write_raw(struct conn *c, const uint8_t *p, size_t n)
{
	return tb_http_out_write(&c->out, p, n);
}

/* ---- Timers ---- */

static void on_timer(uv_timer_t *t);

static void arm(struct conn *c, uint64_t ms)
{
	if (c->has_socket && !c->closed)
		uv_timer_start(&c->timer, on_timer, ms, 0);
}

static void disarm(struct conn *c)
{
	if (c->has_socket && !c->closed)
		uv_timer_stop(&c->timer);
}

/* Core's own error response; always closes the connection afterwards. */
static void respond_error(struct conn *c, int status)
{
	struct req *r = c->cur;
	if (r && r->dispatched) {
		/* A handler owns it (cannot happen: the parser is paused meanwhile). */
		conn_close(c);
		return;
	}
	if (!r) {
		r = req_new(c);
		if (!r) {
			conn_close(c);
			return;
		}
		c->cur = r;
	}
	r->keep_alive = 0;
	r->head = 0;
	r->n_rh = 0;
	c->closing = 1;
	if (status == 401 || status == 403) /* the admin check (tb_http_router_gate) */
		tb_admin_deny(&r->pub, status);
	else
		tb_http_respond_problem(&r->pub, status, "about:blank", tb_http_reason(status));
}

static void on_timer(uv_timer_t *t)
{
	struct conn *c = t->data;
	if (c->h2 && !c->closing) {
		tb_h2_timeout(c->h2);
		return;
	}
	switch (c->state) {
	case CS_HEADERS:
	case CS_BODY:
		respond_error(c, 408);
		break;
	default:
		conn_close(c);
		break;
	}
}

/* ---- Parser callbacks ---- */

static int header_overflow(struct conn *c, struct req *r, size_t n)
{
	r->header_bytes += n;
	if (r->header_bytes > c->srv->lim.max_header_bytes) {
		c->err_status = 431;
		return -1;
	}
	return 0;
}

static int on_message_begin(http_parser *p)
{
	struct conn *c = p->data;
	if (c->cur) /* cannot happen: the parser is paused while a request is pending */
		return -1;
	c->cur = req_new(c);
	if (!c->cur) {
		c->err_status = 500;
		return -1;
	}
	c->state = CS_HEADERS;
	arm(c, c->srv->lim.header_timeout_ms);
	return 0;
}

static int on_url(http_parser *p, const char *at, size_t n)
{
	struct conn *c = p->data;
	struct req *r = c->cur;
	if (header_overflow(c, r, n))
		return -1;
	return tb_bytes_append(&r->url, at, n) ? -1 : 0;
}

/* Room for one more header field: 0, or 431 over the count, 500 without memory. */
static int header_slot(struct req *r, size_t max)
{
	if (r->n_hdrs >= max)
		return 431;
	if (r->n_hdrs == r->cap_hdrs) {
		size_t cap = r->cap_hdrs ? r->cap_hdrs * 2 : 16;
		if (cap > max)
			cap = max;
		struct tb_http_header *h = tb_arena_alloc(r->pub.arena, cap * sizeof *h);
		if (!h)
			return 500;
		if (r->n_hdrs)
			memcpy(h, r->hdrs, r->n_hdrs * sizeof *h);
		r->hdrs = h;
		r->cap_hdrs = cap;
	}
	return 0;
}

static int finish_header(struct conn *c, struct req *r)
{
	if (!r->in_value)
		return 0;
	r->in_value = 0;
	int st = header_slot(r, c->srv->lim.max_headers);
	if (st) {
		c->err_status = st;
		return -1;
	}
	/* Trim trailing whitespace of the value (http-parser strips the leading). */
	size_t vl = r->hvalue.len;
	while (vl && (r->hvalue.p[vl - 1] == ' ' || r->hvalue.p[vl - 1] == '\t'))
		vl--;
	char *name = tb_arena_strndup(r->pub.arena, (const char *)r->hfield.p, r->hfield.len);
	char *value = tb_arena_strndup(r->pub.arena, (const char *)r->hvalue.p, vl);
	if (!name || !value) {
		c->err_status = 500;
		return -1;
	}
	/*
	 * http-parser (not built strict) lets spaces into field names: "Host : x"
	 * and a line starting with whitespace would become fields named "Host "
	 * and " Host". RFC 9112 5.1 and 2.2: reject.
	 */
	if (memchr(value, 0, vl) || memchr(name, 0, r->hfield.len) || strpbrk(name, " \t")) {
		c->err_status = 400;
		return -1;
	}
	r->hdrs[r->n_hdrs].name = name;
	r->hdrs[r->n_hdrs].value = value;
	r->n_hdrs++;
	r->hfield.len = 0;
	r->hvalue.len = 0;
	return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t n)
{
	struct conn *c = p->data;
	struct req *r = c->cur;
	if (header_overflow(c, r, n + (r->in_value ? 4 : 0)))
		return -1;
	if (finish_header(c, r))
		return -1;
	return tb_bytes_append(&r->hfield, at, n) ? -1 : 0;
}

static int on_header_value(http_parser *p, const char *at, size_t n)
{
	struct conn *c = p->data;
	struct req *r = c->cur;
	if (header_overflow(c, r, n))
		return -1;
	r->in_value = 1;
	return tb_bytes_append(&r->hvalue, at, n) ? -1 : 0;
}

/* "." or ".." as a path segment (after decoding): refused, so no handler has to resolve them. */
static int has_dot_segment(const char *path)
{
	for (const char *seg = path; seg; seg = strchr(seg + 1, '/')) {
		const char *s = seg + 1;
		size_t n = strcspn(s, "/");
		if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
			return 1;
	}
	return 0;
}

/*
 * A control character in the decoded path (raw ones get through http-parser
 * when it is not built strict, encoded ones through decoding): no route needs
 * them, and a CR LF would forge lines in the access log.
 */
static int has_control(const char *path)
{
	for (const unsigned char *s = (const unsigned char *)path; *s; s++)
		if (*s < 0x20 || *s == 0x7f)
			return 1;
	return 0;
}

/* Target: origin-form or absolute-form; OPTIONS * as is. 0 or the status to answer. */
static int set_target(struct tb_http_request *q, const char *url, size_t len)
{
	q->target = tb_arena_strndup(q->arena, url, len);
	if (!q->target || memchr(url, 0, len))
		return 400;
	if (strcmp(q->target, "*") == 0) {
		q->path = "*";
		return 0;
	}
	struct http_parser_url u;
	http_parser_url_init(&u);
	if (http_parser_parse_url(q->target, len, 0, &u) != 0 || !(u.field_set & (1 << UF_PATH)))
		return 400;
	q->path = pct_decode(q->arena, q->target + u.field_data[UF_PATH].off, u.field_data[UF_PATH].len, 0);
	if (!q->path || q->path[0] != '/' || has_dot_segment(q->path) || has_control(q->path))
		return 400;
	if (u.field_set & (1 << UF_QUERY))
		q->query = tb_arena_strndup(q->arena, q->target + u.field_data[UF_QUERY].off,
			u.field_data[UF_QUERY].len);
	return q->query ? 0 : 500;
}

static int on_headers_complete(http_parser *p)
{
	struct conn *c = p->data;
	struct req *r = c->cur;
	struct tb_http_request *q = &r->pub;
	if (finish_header(c, r))
		return -1;
	tb_bytes_free(&r->hfield);
	tb_bytes_free(&r->hvalue);
	q->headers = r->hdrs;
	q->n_headers = r->n_hdrs;
	q->method = http_method_str((enum http_method)p->method);
	q->http_minor = p->http_major == 1 && p->http_minor == 0 ? 0 : 1;
	r->head = p->method == HTTP_HEAD;
	r->keep_alive = http_should_keep_alive(p) && !p->upgrade && !(p->flags & F_UPGRADE);
	if (p->http_major != 1) {
		c->err_status = 505;
		return -1;
	}

	/* RFC 9112 3.2: exactly one Host in HTTP/1.1, at most one before. */
	size_t hosts = 0;
	for (size_t i = 0; i < r->n_hdrs; i++)
		hosts += strcasecmp(r->hdrs[i].name, "Host") == 0;
	if (hosts > 1 || (hosts == 0 && q->http_minor == 1)) {
		c->err_status = 400;
		return -1;
	}

	int st = set_target(q, (const char *)r->url.p, r->url.len);
	if (st) {
		c->err_status = st;
		return -1;
	}
	tb_bytes_free(&r->url);

	/*
	 * Transfer-Encoding in HTTP/1.0 is faulty framing (RFC 9112 6.1); a
	 * kept-alive connection would parse the rest as the next request.
	 * Transfer-codings other than chunked are not implemented.
	 */
	const char *te = tb_http_header(q, "Transfer-Encoding");
	if (te && q->http_minor == 0) {
		c->err_status = 400;
		return -1;
	}
	if (te && strcasecmp(te, "chunked") != 0) {
		c->err_status = 501;
		return -1;
	}

	if (tb_http_router_match(c->srv->router, c->lst ? c->lst->name : NULL, q->method, q->path,
		q->arena, &r->match) != 0) {
		c->err_status = 500;
		return -1;
	}
	q->route = r->match.label;
	r->max_body = r->match.max_body;
	/* Admin routes (TB_ROUTE_ADMIN_*): refused before any body is read; respond_error words it. */
	if ((c->err_status = tb_http_router_gate(c->srv->router, &r->match, q)) != 0)
		return -1;

	if ((p->flags & F_CONTENTLENGTH) && !(p->flags & F_CHUNKED) && p->content_length > r->max_body) {
		c->err_status = 413;
		return -1;
	}
	/* Reserve up front only a little: a promised length costs nothing to send. */
	if ((p->flags & F_CONTENTLENGTH) && p->content_length > 0 &&
		tb_bytes_reserve(&r->body, p->content_length < BODY_PREALLOC ? (size_t)p->content_length
									     : BODY_PREALLOC) != 0) {
		c->err_status = 500;
		return -1;
	}
	const char *expect = tb_http_header(q, "Expect");
	if (expect) {
		if (strcasecmp(expect, "100-continue") != 0) {
			c->err_status = 417;
			return -1;
		}
		int has_body = (p->flags & F_CHUNKED) || ((p->flags & F_CONTENTLENGTH) && p->content_length > 0);
		if (q->http_minor == 1 && has_body) {
			static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
			if (write_raw(c, (const uint8_t *)cont, sizeof cont - 1) != 0) {
				c->err_status = 500;
				return -1;
			}
		}
	}
	c->state = CS_BODY;
	arm(c, c->srv->lim.body_timeout_ms);
	return 0;
}

/*
 * http-parser, not built strict, takes any byte after a CR in the framing:
 * "\r\n\rX" ends a header block, "5\rX" is a chunk-size line, and the two
 * bytes after chunk data are not looked at ("5\r\nhelloXY0\r\n\r\n" is a
 * valid body to it). A front end that parses strictly would frame such a
 * stream differently (request smuggling). So every CR outside body data must
 * be followed by LF: the bytes the parser consumed, minus what on_body
 * delivered, are the framing.
 */
static void check_framing(struct conn *c, const char *from, const char *to)
{
	for (const char *q = from; q < to; q++) {
		if ((c->cr_pending && *q != '\n') || (c->crlf_due == 2 && *q != '\r'))
			c->bad_framing = 1;
		if (c->crlf_due)
			c->crlf_due--;
		c->cr_pending = *q == '\r';
	}
}

static int on_body(http_parser *p, const char *at, size_t n)
{
	struct conn *c = p->data;
	struct req *r = c->cur;
	if (c->scan && at >= c->scan) {
		check_framing(c, c->scan, at);
		c->scan = at + n;
		if ((c->cr_pending || c->crlf_due) && n) /* body data where an LF or CR LF belongs */
			c->bad_framing = 1;
		c->cr_pending = 0;
		/* The end of a chunk's data: its CR LF follows. */
		if ((p->flags & F_CHUNKED) && p->content_length == 0)
			c->crlf_due = 2;
	}
	if (c->bad_framing) {
		c->err_status = 400;
		return -1;
	}
	if (r->body.len + n > r->max_body || r->body.len + n < n) {
		c->err_status = 413;
		return -1;
	}
	if (tb_bytes_append(&r->body, at, n)) {
		c->err_status = 500;
		return -1;
	}
	return 0;
}

static int on_message_complete(http_parser *p)
{
	struct conn *c = p->data;
	c->ready = c->cur;
	http_parser_pause(p, 1);
	return 0;
}

static const http_parser_settings settings = {
	.on_message_begin = on_message_begin,
	.on_url = on_url,
	.on_header_field = on_header_field,
	.on_header_value = on_header_value,
	.on_headers_complete = on_headers_complete,
	.on_body = on_body,
	.on_message_complete = on_message_complete,
};

/* ---- Dispatch ---- */

static void dispatch(struct conn *c, struct req *r)
{
	struct tb_http_request *q = &r->pub;
	q->body = TB_BUF(r->body.p, r->body.len);
	r->dispatched = 1;
	c->state = CS_HANDLER;
	disarm(c);
	if (c->tls) {
		q->sni = tb_arena_strdup(q->arena, tb_tls_conn_sni(c->tls));
		q->alpn = tb_arena_strdup(q->arena, tb_tls_conn_alpn(c->tls));
	}
	const struct tb_http_match *m = &r->match;
	if (!m->fn) {
		/* Core decided 404 or 405; the table's renderer (if any) words the answer. */
		if (m->miss == 405 && m->allow)
			tb_http_set_header(q, "Allow", m->allow);
		if (m->error) {
			c->in_dispatch = 1;
			int rc = m->error(q, m->miss, m->error_state);
			c->in_dispatch = 0;
			if (rc == TB_HTTP_LATER || c->cur != r || c->closed)
				return;
		}
		if (m->miss != 405)
			tb_http_respond_problem(q, 404, "about:blank", "no such resource");
		else
			tb_http_respond_problem(q, 405, "about:blank", "method not allowed");
		return;
	}
	c->in_dispatch = 1;
	int rc = m->fn(q, m->arg);
	c->in_dispatch = 0;
	if (rc == TB_HTTP_LATER)
		return;
	if (c->cur == r && !c->closed) {
		/* Returned without responding. */
		if (rc == 0)
			TB_WARN("http", "handler for %s returned without responding", q->route);
		tb_http_respond_problem(q, 500, "about:blank", rc < 0 ? tb_strerror(rc) : "no response");
	}
}

/* ---- HTTP/2 streams as requests (core/http2.h) ---- */

struct tb_http_request *tb_http_h2_req_new(struct tb_http_conn *hc, struct tb_h2_stream *s)
{
	struct conn *c = (struct conn *)hc;
	struct req *r = req_new(c);
	if (!r)
		return NULL;
	r->is_h2 = 1;
	r->h2s = s;
	r->pub.http_minor = 1;
	return &r->pub;
}

void tb_http_h2_req_free(struct tb_http_request *q)
{
	req_free(req_of(q));
}

int tb_http_h2_req_header(struct tb_http_request *q, const char *name, size_t nlen,
	const char *value, size_t vlen)
{
	struct req *r = req_of(q);
	int st = header_slot(r, r->conn->srv->lim.max_headers);
	if (st)
		return st;
	char *n = tb_arena_strndup(q->arena, name, nlen), *v = tb_arena_strndup(q->arena, value, vlen);
	if (!n || !v)
		return 500;
	/* nghttp2 has checked the characters (RFC 9113 8.2.1): no NUL, CR, LF, no upper case. */
	r->hdrs[r->n_hdrs].name = n;
	r->hdrs[r->n_hdrs].value = v;
	r->n_hdrs++;
	q->headers = r->hdrs;
	q->n_headers = r->n_hdrs;
	return 0;
}

int tb_http_h2_req_route(struct tb_http_request *q, const char *method, const char *path)
{
	struct req *r = req_of(q);
	struct conn *c = r->conn;
	q->method = method;
	q->headers = r->hdrs;
	q->n_headers = r->n_hdrs;
	r->head = strcmp(method, "HEAD") == 0;
	int st = set_target(q, path, strlen(path));
	if (st)
		return st;
	if (strcmp(q->path, "*") == 0 && strcmp(method, "OPTIONS") != 0)
		return 400;
	if (tb_http_router_match(c->srv->router, c->lst ? c->lst->name : NULL, q->method, q->path,
		q->arena, &r->match) != 0)
		return 500;
	q->route = r->match.label;
	r->max_body = r->match.max_body;
	if ((st = tb_http_router_gate(c->srv->router, &r->match, q)) != 0)
		return st; /* admin route refused: tb_http_h2_req_error words it */
	const char *cl = tb_http_header(q, "content-length");
	if (cl) {
		char *end;
		unsigned long long v = strtoull(cl, &end, 10);
		if (*cl < '0' || *cl > '9' || *end)
			return 400;
		if (v > r->max_body)
			return 413;
	}
	return 0;
}

int tb_http_h2_req_body(struct tb_http_request *q, const uint8_t *p, size_t n)
{
	struct req *r = req_of(q);
	if (r->body.len + n > r->max_body || r->body.len + n < n)
		return 413;
	return tb_bytes_append(&r->body, p, n) ? 500 : 0;
}

void tb_http_h2_req_dispatch(struct tb_http_request *q)
{
	struct req *r = req_of(q);
	struct conn *c = r->conn;
	int responded = 0;
	r->responded = &responded;
	q->body = TB_BUF(r->body.p, r->body.len);
	r->dispatched = 1;
	if (c->tls) {
		q->sni = tb_arena_strdup(q->arena, tb_tls_conn_sni(c->tls));
		q->alpn = tb_arena_strdup(q->arena, tb_tls_conn_alpn(c->tls));
	}
	const struct tb_http_match *m = &r->match;
	int rc;
	if (!m->fn) {
		if (m->miss == 405 && m->allow)
			tb_http_set_header(q, "Allow", m->allow);
		if (m->error) {
			rc = m->error(q, m->miss, m->error_state);
			if (responded)
				return;
			if (rc == TB_HTTP_LATER) {
				r->responded = NULL;
				return;
			}
		}
		if (m->miss != 405)
			tb_http_respond_problem(q, 404, "about:blank", "no such resource");
		else
			tb_http_respond_problem(q, 405, "about:blank", "method not allowed");
		return;
	}
	rc = m->fn(q, m->arg);
	if (responded)
		return;
	if (rc == TB_HTTP_LATER) {
		r->responded = NULL;
		return;
	}
	if (rc == 0)
		TB_WARN("http", "handler for %s returned without responding", q->route);
	tb_http_respond_problem(q, 500, "about:blank", rc < 0 ? tb_strerror(rc) : "no response");
}

void tb_http_h2_req_error(struct tb_http_request *q, int status)
{
	struct req *r = req_of(q);
	r->head = 0;
	r->n_rh = 0;
	if (status == 401 || status == 403) /* the admin check (tb_http_router_gate) */
		tb_admin_deny(q, status);
	else
		tb_http_respond_problem(q, status, "about:blank", tb_http_reason(status));
}

void tb_http_h2_req_orphan(struct tb_http_request *q)
{
	struct req *r = req_of(q);
	r->h2s = NULL;
	r->conn = NULL;
}

int tb_http_conn_send(struct tb_http_conn *hc, const uint8_t *p, size_t n)
{
	struct conn *c = (struct conn *)hc;
	if (c->closed)
		return 0;
	return write_raw(c, p, n);
}

size_t tb_http_conn_queued(const struct tb_http_conn *hc)
{
	const struct conn *c = (const struct conn *)hc;
	if (!c->has_socket || c->closed)
		return 0;
	return uv_stream_get_write_queue_size((const uv_stream_t *)&c->tcp);
}

const struct tb_http_limits *tb_http_conn_limits(const struct tb_http_conn *hc)
{
	return &((const struct conn *)hc)->srv->lim;
}

uint64_t tb_http_conn_now(const struct tb_http_conn *hc)
{
	return now_ms(((const struct conn *)hc)->srv);
}

void tb_http_conn_arm(struct tb_http_conn *hc, uint64_t ms)
{
	struct conn *c = (struct conn *)hc;
	if (ms)
		arm(c, ms);
	else
		disarm(c);
}

void tb_http_conn_finish(struct tb_http_conn *hc)
{
	struct conn *c = (struct conn *)hc;
	if (c->closed || c->closing)
		return;
	tb_h2_detach(c->h2);
	c->closing = 1;
	c->state = CS_CLOSING;
	if (!c->has_socket)
		return; /* feed mode */
	if (c->tls) {
		tb_tls_conn_close_notify(c->tls);
		if (flush_tls(c) != 0) {
			conn_close(c);
			return;
		}
	}
	if (c->out.pending == 0) {
		on_written(&c->out, 0); /* starts the lingering close now */
		return;
	}
	arm(c, c->srv->lim.idle_timeout_ms); /* a client that never reads: close after that */
}

/* Whether the bytes before the first space (after blank lines) form a token (an unknown method). */
static int method_token(const uint8_t *p, size_t n)
{
	size_t i = 0, start;
	while (i < n && (p[i] == '\r' || p[i] == '\n'))
		i++;
	start = i;
	for (; i < n && p[i] != ' '; i++)
		if (!((p[i] >= 'A' && p[i] <= 'Z') || p[i] == '-' || p[i] == '_'))
			return 0;
	return i > start;
}

/* A handler owns the current request. */
static int busy(const struct conn *c)
{
	return c->cur && c->cur->dispatched;
}

/* The client does not read its responses fast enough: stop taking requests. */
static int backlogged(const struct conn *c)
{
	return c->has_socket && uv_stream_get_write_queue_size((const uv_stream_t *)&c->tcp) > WRITE_QUEUE_CAP;
}

/* Runs the parser over buffered input until it needs more bytes, pauses for a handler, or fails. */
static void conn_process(struct conn *c)
{
	if (c->processing)
		return;
	c->processing = 1;
	while (!c->closed && !c->closing && !busy(c) && !backlogged(c) && c->in_off < c->in.len) {
		size_t avail = c->in.len - c->in_off;
		c->err_status = 0;
		c->ready = NULL;
		const char *start = (const char *)c->in.p + c->in_off;
		c->scan = start;
		size_t n = http_parser_execute(&c->parser, &settings, start, avail);
		enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
		c->in_off += n;
		if (e == HPE_OK || e == HPE_PAUSED)
			check_framing(c, c->scan, start + n);
		c->scan = NULL;
		if (c->bad_framing && (e == HPE_OK || e == HPE_PAUSED)) {
			c->ready = NULL; /* not dispatched: core answers it */
			respond_error(c, 400);
			break;
		}
		if (e == HPE_PAUSED && c->ready) {
			http_parser_pause(&c->parser, 0);
			struct req *r = c->ready;
			c->ready = NULL;
			dispatch(c, r);
			/* dispatch may have responded; loop while no request is pending. */
			if (busy(c))
				break;
			continue;
		}
		if (e != HPE_OK) {
			int status = c->err_status;
			if (!status) {
				switch (e) {
				case HPE_INVALID_METHOD:
					status = method_token(c->in.p + c->in_off - n, n + (avail > n ? 1 : 0)) ? 501 : 400;
					break;
				case HPE_INVALID_TRANSFER_ENCODING:
					status = 501;
					break;
				case HPE_HEADER_OVERFLOW:
					status = 431;
					break;
				default:
					status = 400;
				}
			}
			respond_error(c, status);
			break;
		}
		if (n < avail) {
			/* The parser stopped without error (upgrade): nothing more is parsed. */
			c->in_off = c->in.len;
			if (!c->cur)
				conn_close(c);
			break;
		}
	}
	if (!c->closed && c->in_off == c->in.len)
		c->in_off = c->in.len = 0;
	if (!c->closed && !c->closing && !c->cur && c->state == CS_IDLE)
		arm(c, c->srv->lim.idle_timeout_ms);
	if (!c->closed && !c->closing && !busy(c) && c->read_eof && c->in_off == c->in.len) {
		/* The client finished sending and every complete request has been answered. */
		if (c->out.pending == 0)
			conn_close(c);
		else
			c->closing = 1;
	}
	c->processing = 0;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	(void)suggested;
	struct conn *c = h->data;
	*buf = uv_buf_init((char *)c->rbuf, sizeof c->rbuf);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

static void reading(struct conn *c, int on)
{
	if (!c->has_socket || c->closed || c->reading == on)
		return;
	if (on)
		uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
	else
		uv_read_stop((uv_stream_t *)&c->tcp);
	c->reading = on;
}

static void conn_resume(struct conn *c)
{
	if (c->closed)
		return;
	conn_process(c);
	if (!c->closed && !c->closing && (c->in.len - c->in_off) < PAUSED_INPUT_CAP && !backlogged(c))
		reading(c, 1);
}

static int h2_input(struct conn *c, const uint8_t *p, size_t n)
{
	int rc = tb_h2_input(c->h2, p, n);
	if (rc)
		return rc;
	if (!c->closed && !c->closing && tb_h2_backlogged(c->h2))
		reading(c, 0); /* resumes from on_written */
	return 0;
}

static int start_h2(struct conn *c)
{
	c->proto_checked = 1;
	int rc = tb_h2_new(&c->h2, (struct tb_http_conn *)c, &c->srv->lim);
	if (rc)
		return rc;
	c->state = CS_IDLE;
	return tb_h2_flush(c->h2); /* our SETTINGS go first (RFC 9113 3.4) */
}

/*
 * Before the first request: HTTP/2 when TLS negotiated "h2", or when the
 * first bytes are the preface on a plain listener with h2c on (or in feed
 * mode, which the fuzzer drives). Returns 1 to go on with HTTP/1.1, 0 when
 * the bytes were taken (by HTTP/2, or kept until the preface can be told
 * apart), or an error.
 */
static int choose_protocol(struct conn *c, const uint8_t *p, size_t n)
{
	if (c->tls) {
		const char *alpn = tb_tls_conn_alpn(c->tls);
		c->proto_checked = 1;
		if (!alpn || strcmp(alpn, "h2") != 0)
			return 1;
		int rc = start_h2(c);
		return rc ? rc : h2_input(c, p, n);
	}
	if (c->lst && !c->lst->h2c) {
		c->proto_checked = 1;
		return 1;
	}
	size_t have = c->in.len;
	size_t cmp = have + n < TB_H2_PREFACE_LEN ? have + n : TB_H2_PREFACE_LEN;
	uint8_t head[TB_H2_PREFACE_LEN];
	if (have)
		memcpy(head, c->in.p, have < cmp ? have : cmp);
	if (have < cmp)
		memcpy(head + have, p, cmp - have);
	if (memcmp(head, TB_H2_PREFACE, cmp) != 0) {
		c->proto_checked = 1;
		return 1;
	}
	if (cmp < TB_H2_PREFACE_LEN)
		return tb_bytes_append(&c->in, p, n) ? TB_ERR_NOMEM : 0;
	/* The preface: everything so far goes to the HTTP/2 session. */
	struct tb_bytes pending = c->in;
	memset(&c->in, 0, sizeof c->in);
	c->in_off = 0;
	int rc = start_h2(c);
	if (rc == 0 && pending.len)
		rc = h2_input(c, pending.p, pending.len);
	tb_bytes_free(&pending);
	if (rc == 0 && !c->closed)
		rc = h2_input(c, p, n);
	return rc;
}

/* Plaintext arrived. */
static int conn_input(struct conn *c, const uint8_t *p, size_t n)
{
	if (c->closing)
		return 0; /* lingering: discard */
	if (c->in_off > 0) {
		memmove(c->in.p, c->in.p + c->in_off, c->in.len - c->in_off);
		c->in.len -= c->in_off;
		c->in_off = 0;
	}
	if (c->h2)
		return h2_input(c, p, n);
	if (!c->proto_checked) {
		int rc = choose_protocol(c, p, n);
		if (rc <= 0)
			return rc; /* error, or the bytes went to HTTP/2 or wait for more */
	}
	if (tb_bytes_append(&c->in, p, n))
		return TB_ERR_NOMEM;
	conn_process(c);
	if (!c->closed && (busy(c) || backlogged(c)) && (c->in.len - c->in_off) >= PAUSED_INPUT_CAP)
		reading(c, 0);
	return 0;
}

static int tls_input(struct conn *c, const uint8_t *p, size_t n)
{
	int rc = tb_tls_conn_feed(c->tls, p, n);
	if (rc)
		return rc;
	if (!tb_tls_conn_handshake_done(c->tls)) {
		rc = tb_tls_conn_handshake(c->tls);
		int frc = flush_tls(c);
		if (rc < 0)
			return rc;
		if (frc)
			return frc;
		if (rc == TB_TLS_WANT)
			return 0;
	}
	uint8_t buf[READ_CHUNK];
	for (;;) {
		int closed = 0;
		rc = tb_tls_conn_read(c->tls, buf, sizeof buf, &closed);
		if (rc < 0)
			return rc;
		if (rc > 0) {
			if ((rc = conn_input(c, buf, (size_t)rc)) != 0 || c->closed)
				return rc;
			continue;
		}
		/* Records mbedTLS wrote while reading (the no_renegotiation alert) go out now. */
		if ((rc = flush_tls(c)) != 0)
			return rc;
		if (closed)
			return 1; /* close_notify: like EOF */
		return 0;
	}
}

static void on_eof(struct conn *c)
{
	c->read_eof = 1;
	reading(c, 0);
	if (c->h2 && !c->closing) {
		/* The client is gone for good: pending handlers' streams are orphaned. */
		if (c->out.pending)
			c->closing = 1;
		else
			conn_close(c);
		return;
	}
	if (c->state == CS_CLOSING || c->closing) {
		if (c->out.pending == 0)
			conn_close(c);
		return;
	}
	if (busy(c) || (backlogged(c) && c->in_off < c->in.len))
		return; /* answer what is pending; conn_process closes at the end */
	if (c->cur) {
		/* Let the parser see EOF (completes an identity body without length); else close. */
		http_parser_execute(&c->parser, &settings, NULL, 0);
		if (c->ready) {
			struct req *r = c->ready;
			c->ready = NULL;
			http_parser_pause(&c->parser, 0);
			dispatch(c, r);
			return;
		}
	}
	if (!c->cur && c->out.pending)
		c->closing = 1;
	else
		conn_close(c);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = s->data;
	if (c->closed)
		return;
	if (nread < 0) {
		if (nread == UV_EOF)
			on_eof(c);
		else
			conn_close(c);
		return;
	}
	if (nread == 0)
		return;
	int rc;
	if (c->tls)
		rc = tls_input(c, (const uint8_t *)buf->base, (size_t)nread);
	else
		rc = conn_input(c, (const uint8_t *)buf->base, (size_t)nread);
	if (c->closed)
		return;
	if (rc == 1)
		on_eof(c);
	else if (rc < 0)
		conn_close(c);
}

/* ---- Connection lifetime ---- */

static void conn_free(struct conn *c)
{
	c->srv->conns_alive--;
	tb_h2_free(c->h2);
	tb_tls_conn_free(c->tls);
	tb_bytes_free(&c->in);
	free(c);
}

static void on_conn_handle_closed(uv_handle_t *h)
{
	struct conn *c = h->data;
	if (--c->handles_open == 0) {
		struct tb_http_server *srv = c->srv;
		conn_free(c);
		check_stopped(srv);
	}
}

static void conn_close(struct conn *c)
{
	if (c->closed)
		return;
	c->closed = 1;
	struct tb_http_server *srv = c->srv;
	tb_h2_detach(c->h2);
	if (c->cur) {
		if (c->cur->dispatched)
			c->cur->conn = NULL; /* orphan: the handler still holds it */
		else
			req_free(c->cur);
		c->cur = NULL;
	}
	if (c->prev)
		c->prev->next = c->next;
	else if (srv->conns == c)
		srv->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
	srv->n_conns--;
	if (!c->has_socket)
		return; /* feed mode: freed by the caller */
	uv_close((uv_handle_t *)&c->tcp, on_conn_handle_closed);
	uv_close((uv_handle_t *)&c->timer, on_conn_handle_closed);
}

static struct conn *conn_new(struct tb_http_server *srv, struct listener *lst)
{
	struct conn *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	c->srv = srv;
	c->lst = lst;
	http_parser_init(&c->parser, HTTP_REQUEST);
	c->parser.data = c;
	c->out.written = on_written;
	c->state = CS_NEW;
	snprintf(c->remote, sizeof c->remote, "-");
	c->next = srv->conns;
	if (srv->conns)
		srv->conns->prev = c;
	srv->conns = c;
	srv->n_conns++;
	srv->conns_alive++;
	return c;
}

static void on_reject_closed(uv_handle_t *h)
{
	free(h);
}

static void peer_name(uv_tcp_t *t, char *out, size_t len)
{
	struct sockaddr_storage ss;
	int sl = sizeof ss;
	char ip[INET6_ADDRSTRLEN] = "?";
	if (uv_tcp_getpeername(t, (struct sockaddr *)&ss, &sl) != 0) {
		snprintf(out, len, "-");
		return;
	}
	if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		uv_ip6_name(a, ip, sizeof ip);
		snprintf(out, len, "[%s]:%u", ip, ntohs(a->sin6_port));
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		uv_ip4_name(a, ip, sizeof ip);
		snprintf(out, len, "%s:%u", ip, ntohs(a->sin_port));
	}
}

static void on_connection(uv_stream_t *server, int status)
{
	struct listener *lst = server->data;
	struct tb_http_server *srv = lst->srv;
	if (status < 0)
		return;
	if (srv->stopping || srv->n_conns >= srv->lim.max_connections) {
		uv_tcp_t *t = malloc(sizeof *t);
		if (!t)
			return;
		uv_tcp_init(srv->loop, t);
		uv_accept(server, (uv_stream_t *)t);
		uv_close((uv_handle_t *)t, on_reject_closed);
		return;
	}
	struct conn *c = conn_new(srv, lst);
	if (!c)
		return;
	uv_tcp_init(srv->loop, &c->tcp);
	uv_timer_init(srv->loop, &c->timer);
	c->tcp.data = c;
	c->timer.data = c;
	c->has_socket = 1;
	c->out.stream = (uv_stream_t *)&c->tcp;
	c->handles_open = 2;
	if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
		conn_close(c);
		return;
	}
	uv_tcp_nodelay(&c->tcp, 1);
	peer_name(&c->tcp, c->remote, sizeof c->remote);
	if (lst->tls && tb_tls_conn_new_server(&c->tls, lst->tls) != 0) {
		conn_close(c);
		return;
	}
	c->out.tls = c->tls;
	arm(c, srv->lim.header_timeout_ms);
	reading(c, 1);
}

/* ---- Feed mode ---- */

int tb_http_feed_bytes(struct tb_http_server *srv, const uint8_t *data, size_t len,
	struct tb_bytes *out)
{
	struct conn *c = conn_new(srv, NULL);
	if (!c)
		return TB_ERR_NOMEM;
	c->out.sink = out;
	snprintf(c->remote, sizeof c->remote, "feed");
	int rc = conn_input(c, data, len);
	if (!c->closed && !c->closing)
		on_eof(c);
	if (!c->closed)
		conn_close(c);
	conn_free(c);
	return rc;
}

/* ---- Server ---- */

int tb_http_server_new(struct tb_http_server **out, uv_loop_t *loop,
	const struct tb_http_limits *limits)
{
	*out = NULL;
	struct tb_http_server *srv = calloc(1, sizeof *srv);
	if (!srv)
		return TB_ERR_NOMEM;
	srv->loop = loop;
	if (limits)
		srv->lim = *limits;
	struct tb_http_limits *l = &srv->lim;
	if (!l->max_header_bytes)
		l->max_header_bytes = TB_HTTP_DEFAULT_MAX_HEADER_BYTES;
	if (!l->max_headers)
		l->max_headers = TB_HTTP_DEFAULT_MAX_HEADERS;
	if (!l->max_body)
		l->max_body = TB_HTTP_DEFAULT_MAX_BODY;
	if (l->max_body > TB_HTTP_MAX_BODY_CEILING)
		l->max_body = TB_HTTP_MAX_BODY_CEILING;
	if (!l->header_timeout_ms)
		l->header_timeout_ms = TB_HTTP_DEFAULT_HEADER_TIMEOUT_MS;
	if (!l->body_timeout_ms)
		l->body_timeout_ms = TB_HTTP_DEFAULT_BODY_TIMEOUT_MS;
	if (!l->idle_timeout_ms)
		l->idle_timeout_ms = TB_HTTP_DEFAULT_IDLE_TIMEOUT_MS;
	if (!l->grace_timeout_ms)
		l->grace_timeout_ms = TB_HTTP_DEFAULT_GRACE_TIMEOUT_MS;
	if (!l->max_connections)
		l->max_connections = TB_HTTP_DEFAULT_MAX_CONNECTIONS;
	if (!l->h2_max_concurrent_streams)
		l->h2_max_concurrent_streams = TB_HTTP_DEFAULT_H2_MAX_CONCURRENT_STREAMS;
	if (!l->h2_max_header_list)
		l->h2_max_header_list = TB_HTTP_DEFAULT_H2_MAX_HEADER_LIST;
	if (!l->h2_header_table_size)
		l->h2_header_table_size = TB_HTTP_DEFAULT_H2_HEADER_TABLE_SIZE;
	if (!l->h2_initial_window)
		l->h2_initial_window = TB_HTTP_DEFAULT_H2_INITIAL_WINDOW;
	if (l->h2_initial_window > 0x7fffffffu)
		l->h2_initial_window = 0x7fffffffu;
	if (!l->h2_max_frame_size)
		l->h2_max_frame_size = TB_HTTP_DEFAULT_H2_MAX_FRAME_SIZE;
	if (l->h2_max_frame_size < 16384u)
		l->h2_max_frame_size = 16384u;
	if (l->h2_max_frame_size > 16777215u)
		l->h2_max_frame_size = 16777215u;
	if (!l->h2_max_resets_per_sec)
		l->h2_max_resets_per_sec = TB_HTTP_DEFAULT_H2_MAX_RESETS_PER_SEC;
	if (!l->h2_max_control_per_sec)
		l->h2_max_control_per_sec = TB_HTTP_DEFAULT_H2_MAX_CONTROL_PER_SEC;
	if (!l->h2_max_continuations)
		l->h2_max_continuations = TB_HTTP_DEFAULT_H2_MAX_CONTINUATIONS;
	if (tb_http_router_new(&srv->router, l->max_body) != 0) {
		free(srv);
		return TB_ERR_NOMEM;
	}
	*out = srv;
	return 0;
}

static struct listener *find_listener(const struct tb_http_server *srv, const char *name)
{
	for (size_t i = 0; i < srv->n_listeners; i++)
		if (!srv->listeners[i]->dead && strcmp(srv->listeners[i]->name, name) == 0)
			return srv->listeners[i];
	return NULL;
}

static void on_listener_closed(uv_handle_t *h)
{
	struct listener *l = h->data;
	struct tb_http_server *srv = l->srv;
	if (!srv) {
		/* The server was freed while this close was pending. */
		free(l->name);
		free(l);
		return;
	}
	srv->handles_open--;
	l->open = 0;
	check_stopped(srv);
}

int tb_http_listen(struct tb_http_server *srv, const char *name, const char *address, int port,
	struct tb_tls_server *tls)
{
	if (!name || !*name || !address || port < 0 || port > 65535 || srv->stopping)
		return TB_ERR_INVALID;
	if (find_listener(srv, name))
		return TB_ERR_EXISTS;
	if (srv->n_listeners >= MAX_LISTENERS)
		return TB_ERR_TOO_LARGE;
	struct sockaddr_storage ss;
	if (uv_ip4_addr(address, port, (struct sockaddr_in *)&ss) != 0 &&
		uv_ip6_addr(address, port, (struct sockaddr_in6 *)&ss) != 0)
		return TB_ERR_INVALID;
	struct listener *l = calloc(1, sizeof *l);
	if (!l || !(l->name = strdup(name))) {
		free(l);
		return TB_ERR_NOMEM;
	}
	l->srv = srv;
	l->tls = tls;
	int rc = uv_tcp_init(srv->loop, &l->tcp);
	if (rc) {
		free(l->name);
		free(l);
		return rc;
	}
	l->tcp.data = l;
	l->open = 1;
	srv->handles_open++;
	srv->listeners[srv->n_listeners++] = l;
	if ((rc = uv_tcp_bind(&l->tcp, (struct sockaddr *)&ss, 0)) != 0 ||
		(rc = uv_listen((uv_stream_t *)&l->tcp, 511, on_connection)) != 0) {
		/* Stays in the table (freed with the server; the close callback needs it) but dead. */
		l->dead = 1;
		uv_close((uv_handle_t *)&l->tcp, on_listener_closed);
		TB_ERROR("http", "cannot listen on %s port %d (%s): %s", address, port, name, uv_strerror(rc));
		return rc;
	}
	struct sockaddr_storage bound;
	int bl = sizeof bound;
	uv_tcp_getsockname(&l->tcp, (struct sockaddr *)&bound, &bl);
	l->port = bound.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&bound)->sin6_port)
					      : ntohs(((struct sockaddr_in *)&bound)->sin_port);
	TB_INFO("http", "listening on %s%s%s:%d (%s%s)", strchr(address, ':') ? "[" : "", address,
		strchr(address, ':') ? "]" : "", l->port, name, tls ? ", tls" : "");
	return tb_http_router_listener(srv->router, name, address); /* loopback or not: the admin check */
}

int tb_http_listen_h2c(struct tb_http_server *srv, const char *name, int on)
{
	struct listener *l = find_listener(srv, name);
	if (!l)
		return TB_ERR_NOT_FOUND;
	l->h2c = on != 0;
	return 0;
}

int tb_http_listener_port(const struct tb_http_server *srv, const char *name)
{
	struct listener *l = find_listener(srv, name);
	return l ? l->port : TB_ERR_NOT_FOUND;
}

/* ---- Routes (core/http_router.c) ---- */

int tb_http_mount(struct tb_http_server *srv, const char *listener, const char *prefix,
	const struct tb_http_table *table, void *state)
{
	return tb_http_router_mount(srv->router, listener, prefix, table, state);
}

void tb_http_metrics_write(struct tb_http_server *srv, struct tb_bytes *out)
{
	tb_http_router_metrics_write(srv->router, out);
	tb_bytes_printf(out, "# HELP tb_http_connections Open HTTP connections.\n"
			     "# TYPE tb_http_connections gauge\ntb_http_connections %u\n",
		srv->n_conns);
}

static void on_grace_closed(uv_handle_t *h)
{
	struct tb_http_server *srv = h->data;
	srv->grace_open = 0;
	srv->handles_open--;
	check_stopped(srv);
}

static void check_stopped(struct tb_http_server *srv)
{
	if (!srv->stopping)
		return;
	if (srv->conns)
		return;
	if (srv->grace_open == 1) {
		srv->grace_open = 2; /* closing */
		uv_close((uv_handle_t *)&srv->grace, on_grace_closed);
		return;
	}
	if (srv->handles_open || srv->conns_alive)
		return;
	if (srv->done) {
		tb_done_cb done = srv->done;
		srv->done = NULL;
		done(srv->done_arg);
	}
}

static void on_grace(uv_timer_t *t)
{
	struct tb_http_server *srv = t->data;
	while (srv->conns)
		conn_close(srv->conns);
	check_stopped(srv);
}

void tb_http_server_stop(struct tb_http_server *srv, tb_done_cb done, void *arg)
{
	if (srv->stopping)
		return;
	srv->stopping = 1;
	srv->done = done;
	srv->done_arg = arg;
	for (size_t i = 0; i < srv->n_listeners; i++) {
		struct listener *l = srv->listeners[i];
		if (l && l->open && !uv_is_closing((uv_handle_t *)&l->tcp))
			uv_close((uv_handle_t *)&l->tcp, on_listener_closed);
	}
	/*
	 * Close idle connections now; busy ones close after their response, and
	 * ones still writing a response once it has been written.
	 */
	for (struct conn *c = srv->conns, *next; c; c = next) {
		next = c->next;
		if (busy(c))
			continue;
		if (c->h2 && !c->closing && tb_h2_shutdown(c->h2))
			continue; /* its streams finish first (within the grace time) */
		if (c->closed)
			continue;
		if (c->has_socket && c->out.pending)
			c->closing = 1;
		else
			conn_close(c);
	}
	/* The grace timer always exists, so that done runs from a callback, never from here. */
	uv_timer_init(srv->loop, &srv->grace);
	srv->grace.data = srv;
	srv->grace_open = 1;
	srv->handles_open++;
	if (srv->conns)
		uv_timer_start(&srv->grace, on_grace, srv->lim.grace_timeout_ms, 0);
	check_stopped(srv);
}

void tb_http_server_free(struct tb_http_server *srv)
{
	if (!srv)
		return;
	for (size_t i = 0; i < srv->n_listeners; i++) {
		struct listener *l = srv->listeners[i];
		if (l->open) {
			/*
			 * Freed without a stop (a start-up failure after some
			 * tb_http_listen): the handle's close is pending or
			 * starts now, and its callback frees the listener.
			 */
			l->srv = NULL;
			if (!uv_is_closing((uv_handle_t *)&l->tcp))
				uv_close((uv_handle_t *)&l->tcp, on_listener_closed);
			continue;
		}
		free(l->name);
		free(l);
	}
	tb_http_router_free(srv->router);
	free(srv);
}
