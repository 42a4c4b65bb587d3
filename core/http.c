/*
 * DESIGN: the HTTP/1.1 server (see core/http.h for the contract): its
 * connections, the choice of protocol, listeners and the server's lifetime.
 * The request object both protocols share (allocation, headers, responses,
 * the tb_http_h2_req_* bridge) is core/http_request.c; the HTTP/2 session is
 * core/http2.c; their common internals are core/http_internal.h.
 *
 * - Before the first request a connection chooses its protocol
 *   (choose_protocol): ALPN h2, or the HTTP/2 preface on an h2c listener
 *   or in feed mode. An HTTP/2 connection's plaintext then goes to
 *   tb_h2_input; its requests are the same struct req (is_h2, h2s);
 *   c->cur and the parser stay unused.
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
 * callbacks and the timers share one struct and its invariants (response
 * order, pause/resume, orphaned requests); split apart, each piece would need
 * the others' internals. What stands alone already lives apart: the request
 * object (http_request.c), the router (http_router.c), the write path
 * (http_io.c), the client (http_client.c), the HTTP/2 session (http2.c).
 */
#include <errno.h>
#include <http_parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/admin.h"
#include "core/error.h"
#include "core/http2.h"
#include "core/http_internal.h"
#include "core/log.h"
#include "core/tls.h"

#define PAUSED_INPUT_CAP (256u * 1024) /* buffered pipelined bytes before reading stops */
#define LINGER_MS 2000u
#define BODY_PREALLOC (64u * 1024)
#define WRITE_QUEUE_CAP (1u << 20) /* unsent response bytes before parsing pauses */
/*
 * Connections accepted per loop turn. libuv accepts in a loop while the
 * backlog has connections; a client that reconnects as fast as it is shed
 * would keep that loop going, and a new connection would be shed (as the
 * oldest) before its first bytes were ever read. After a quarter of
 * max_connections (at most this many), accepting waits for the next turn,
 * after reads have had theirs: a new connection is read (its first bytes are
 * there when it is accepted) before four turns' worth of newer ones could
 * make it the oldest. Larger batches drain a flood's backlog sooner.
 */
#define ACCEPT_BATCH 256u
/*
 * The kernel's queue of connections not yet accepted (capped by somaxconn).
 * When it is full, new clients' SYNs are dropped and they retry only after a
 * second; a deep queue keeps a reconnecting flood from crowding them out.
 */
#define LISTEN_BACKLOG 4096
#define MAX_URL_BYTES TB_HTTP_DEFAULT_MAX_HEADER_BYTES /* also bounded by max_header_bytes */

static void conn_process(struct conn *c);
static void check_stopped(struct tb_http_server *srv);
static int write_raw(struct conn *c, const uint8_t *p, size_t n);
static int flush_tls(struct conn *c);
static void arm(struct conn *c, uint64_t ms);
static int busy(const struct conn *c);
static int backlogged(const struct conn *c);
static void reading(struct conn *c, int on);
static void on_written(struct tb_http_out *out, int status);

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
		tb_http_conn_close(c);
		return;
	}
	if (c->h2 && !c->closing) {
		if (tb_h2_flush(c->h2) != 0) {
			tb_http_conn_close(c);
			return;
		}
		if (!c->closed && !c->closing && !tb_h2_backlogged(c->h2))
			reading(c, 1);
		return;
	}
	if (!c->closing && !busy(c) && c->in_off < c->in.len && !backlogged(c)) {
		tb_http_conn_resume(c); /* parsing paused on the write backlog */
		return;
	}
	if (c->closing && c->out.pending == 0) {
		if (c->state == CS_CLOSING && !c->read_eof) {
			/* Lingering close: FIN now, drain what the client still sends. */
			uv_shutdown_t *s = malloc(sizeof *s);
			if (!s || uv_shutdown(s, (uv_stream_t *)&c->tcp, on_shutdown) != 0) {
				free(s);
				tb_http_conn_close(c);
				return;
			}
			arm(c, LINGER_MS);
		} else {
			tb_http_conn_close(c);
		}
	}
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
		tb_http_conn_close(c);
		return;
	}
	if (!r) {
		r = tb_http_req_new(c);
		if (!r) {
			tb_http_conn_close(c);
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
		tb_http_conn_close(c);
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
	c->cur = tb_http_req_new(c);
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

static int finish_header(struct conn *c, struct req *r)
{
	if (!r->in_value)
		return 0;
	r->in_value = 0;
	int st = tb_http_req_header_slot(r, c->srv->lim.max_headers);
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

	int st = tb_http_req_set_target(q, (const char *)r->url.p, r->url.len);
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
			tb_http_conn_close(c);
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
				tb_http_conn_close(c);
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
			tb_http_conn_close(c);
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

void tb_http_conn_resume(struct conn *c)
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
	uint64_t since = c->preface_start ? c->preface_start : now_ms(c->srv);
	int rc = tb_h2_new(&c->h2, (struct tb_http_conn *)c, &c->srv->lim, since);
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
	if (cmp < TB_H2_PREFACE_LEN) {
		/* Part of the preface: the rest of it is due within the preface timeout, from now. */
		if (!c->preface_start) {
			c->preface_start = now_ms(c->srv);
			arm(c, c->srv->lim.h2_preface_timeout_ms);
		}
		return tb_bytes_append(&c->in, p, n) ? TB_ERR_NOMEM : 0;
	}
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
		/*
		 * ALPN chose h2: the session starts now, so that a client that
		 * sends no preface meets the preface timeout, not the header one.
		 */
		const char *alpn = tb_tls_conn_alpn(c->tls);
		if (!c->proto_checked && alpn && strcmp(alpn, "h2") == 0 && (rc = start_h2(c)) != 0)
			return rc;
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
			tb_http_conn_close(c);
		return;
	}
	if (c->state == CS_CLOSING || c->closing) {
		if (c->out.pending == 0)
			tb_http_conn_close(c);
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
		tb_http_conn_close(c);
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
			tb_http_conn_close(c);
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
		tb_http_conn_close(c);
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

void tb_http_conn_close(struct conn *c)
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
			tb_http_req_free(c->cur);
		c->cur = NULL;
	}
	if (c->prev)
		c->prev->next = c->next;
	else if (srv->conns == c)
		srv->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else if (srv->conns_tail == c)
		srv->conns_tail = c->prev;
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
	else
		srv->conns_tail = c;
	srv->conns = c;
	srv->n_conns++;
	srv->conns_alive++;
	return c;
}

static void on_reject_closed(uv_handle_t *h)
{
	free(h);
}

/* The client's address: printable with its port (c->remote), and its IP for the per-address cap. */
static void peer_name(struct conn *c)
{
	struct sockaddr_storage ss;
	int sl = sizeof ss;
	char ip[INET6_ADDRSTRLEN] = "?";
	if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &sl) != 0) {
		snprintf(c->remote, sizeof c->remote, "-");
		return;
	}
	if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		uv_ip6_name(a, ip, sizeof ip);
		snprintf(c->remote, sizeof c->remote, "[%s]:%u", ip, ntohs(a->sin6_port));
		memcpy(c->addr, &a->sin6_addr, 16);
		c->addr_family = AF_INET6;
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		uv_ip4_name(a, ip, sizeof ip);
		snprintf(c->remote, sizeof c->remote, "%s:%u", ip, ntohs(a->sin_port));
		memcpy(c->addr, &a->sin_addr, 4);
		c->addr_family = AF_INET;
	}
}

static int same_address(const struct conn *a, const struct conn *b)
{
	return a->addr_family && a->addr_family == b->addr_family &&
	       memcmp(a->addr, b->addr, a->addr_family == AF_INET ? 4 : 16) == 0;
}

/*
 * A connection that may be closed to make room: it has not sent a whole
 * request (new, TLS handshake, idle keep-alive, headers still arriving; an
 * HTTP/2 connection without streams). Those that have a request in a
 * handler, a body arriving or a response leaving are never shed.
 */
static int sheddable(const struct conn *c)
{
	if (c->closed || c->closing || !c->has_socket)
		return 0;
	if (c->h2)
		return tb_h2_idle(c->h2);
	return c->state == CS_NEW || c->state == CS_IDLE || c->state == CS_HEADERS;
}

/*
 * Connection floods: at most max_connections_per_address from one IP and
 * max_connections in all. A new connection over either cap takes the place
 * of the oldest sheddable one (of its address, or of all), which is closed
 * without an answer; when there is none, the new connection is refused.
 * So idle and slowloris connections cannot lock clients out until the
 * header timeout: the newest clients are served, the oldest idle ones go.
 * Returns 0 when c may stay (c is the newest: srv->conns).
 */
static int make_room(struct tb_http_server *srv, struct conn *c)
{
	unsigned same = 0;
	struct conn *oldest_same = NULL, *oldest = NULL;
	for (struct conn *o = srv->conns_tail; o; o = o->prev) {
		if (o == c)
			continue;
		int sa = same_address(o, c);
		same += sa;
		if (!sheddable(o))
			continue;
		if (!oldest)
			oldest = o;
		if (sa && !oldest_same)
			oldest_same = o;
	}
	struct conn *victim = NULL;
	if (same >= srv->lim.max_connections_per_address)
		victim = oldest_same;
	else if (srv->n_conns > srv->lim.max_connections)
		victim = oldest;
	else
		return 0;
	if (!victim) {
		srv->shed_refused++;
		return -1;
	}
	TB_DEBUG("http", "%s: connection closed for a new one from %s (connection cap)", victim->remote,
		c->remote);
	srv->shed_evicted++;
	tb_http_conn_close(victim);
	return 0;
}

static void on_connection(uv_stream_t *server, int status);

static void on_accept_timer(uv_timer_t *t)
{
	struct tb_http_server *srv = t->data;
	srv->accepted = 0;
	srv->accept_turn = uv_now(srv->loop);
	for (size_t i = 0; i < srv->n_listeners; i++) {
		struct listener *l = srv->listeners[i];
		if (l->deferred && l->open && !uv_is_closing((uv_handle_t *)&l->tcp)) {
			l->deferred = 0;
			on_connection((uv_stream_t *)&l->tcp, 0); /* takes the waiting one; libuv polls again */
		}
	}
}

/* Whether this turn's accept budget is spent; then the listener waits for on_accept_timer. */
static int defer_accept(struct tb_http_server *srv, struct listener *lst)
{
	uint64_t now = uv_now(srv->loop);
	if (now != srv->accept_turn) {
		srv->accept_turn = now;
		srv->accepted = 0;
	}
	unsigned batch = srv->lim.max_connections / 4;
	if (batch > ACCEPT_BATCH)
		batch = ACCEPT_BATCH;
	if (++srv->accepted <= (batch ? batch : 1))
		return 0;
	if (!srv->accept_timer_open) {
		if (uv_timer_init(srv->loop, &srv->accept_timer) != 0)
			return 0;
		srv->accept_timer.data = srv;
		srv->accept_timer_open = 1;
		srv->handles_open++;
	}
	lst->deferred = 1;
	uv_timer_start(&srv->accept_timer, on_accept_timer, 0, 0);
	return 1;
}

static void on_connection(uv_stream_t *server, int status)
{
	struct listener *lst = server->data;
	struct tb_http_server *srv = lst->srv;
	if (status < 0)
		return;
	if (!srv->stopping && defer_accept(srv, lst))
		return; /* not accepted: libuv stops polling the listener until uv_accept */
	if (srv->stopping) {
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
		tb_http_conn_close(c);
		return;
	}
	uv_tcp_nodelay(&c->tcp, 1);
	peer_name(c);
	if (make_room(srv, c) != 0) {
		tb_http_conn_close(c);
		return;
	}
	if (lst->tls && tb_tls_conn_new_server(&c->tls, lst->tls) != 0) {
		tb_http_conn_close(c);
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
		tb_http_conn_close(c);
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
	if (!l->max_connections_per_address)
		l->max_connections_per_address = TB_HTTP_DEFAULT_MAX_CONNECTIONS_PER_ADDRESS;
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
	if (!l->h2_preface_timeout_ms)
		l->h2_preface_timeout_ms = TB_HTTP_DEFAULT_H2_PREFACE_TIMEOUT_MS;
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
		(rc = uv_listen((uv_stream_t *)&l->tcp, LISTEN_BACKLOG, on_connection)) != 0) {
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
	tb_bytes_printf(out, "# HELP tb_http_connections_shed_total Connections closed at the connection caps: "
			     "an idle or header-incomplete one for a new one (evicted), or the new one (refused).\n"
			     "# TYPE tb_http_connections_shed_total counter\n"
			     "tb_http_connections_shed_total{reason=\"evicted\"} %llu\n"
			     "tb_http_connections_shed_total{reason=\"refused\"} %llu\n",
		srv->shed_evicted, srv->shed_refused);
}

static void on_accept_timer_closed(uv_handle_t *h)
{
	struct tb_http_server *srv = h->data;
	srv->accept_timer_open = 0;
	srv->handles_open--;
	check_stopped(srv);
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
		tb_http_conn_close(srv->conns);
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
	if (srv->accept_timer_open == 1) {
		srv->accept_timer_open = 2; /* closing */
		uv_close((uv_handle_t *)&srv->accept_timer, on_accept_timer_closed);
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
			tb_http_conn_close(c);
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
