/*
 * DESIGN: the HTTP/1.1 client (contract in core/http.h). A little over ~900
 * lines: the keep-alive pool's own state lives in core/http_client_pool.c,
 * but taking, returning and retrying a connection is call state and stays.
 *
 * One call = one exchange, on the caller's loop:
 * resolve (uv_getaddrinfo, or the IP literal / connect_address as is) ->
 * connect (trying each resolved address in turn) -> TLS handshake over
 * memory buffers (core/tls.h) -> write the request -> parse the response
 * with http-parser -> callback, exactly once, never from inside
 * tb_http_client_request. One timer bounds the whole exchange. Response
 * headers and body are capped (CLIENT_MAX_HEADER_BYTES, max_body).
 * Every address (IP literal, connect_address, getaddrinfo result) goes
 * through the caller's dial_check, if any, just before it is dialled.
 *
 * For tls-alpn-01 (RFC 8737) the validator needs the server's certificate
 * even though it carries a critical extension mbedTLS's handshake parser
 * rejects. The client therefore also reads the server's plaintext handshake
 * records (TLS 1.2 sends ServerHello and Certificate in the clear) and keeps
 * the first certificate and the ALPN choice it sees there: a handshake_only
 * call with `insecure` reports those even when mbedTLS refuses the
 * certificate.
 *
 * Keep-alive (a request's keep_alive flag): the loop's pool keeps, per peer
 * (scheme, host, port, connect_address, SNI, trust roots, insecure, ALPN),
 * one TLS client configuration (the roots are parsed once), the session of
 * its last full handshake (offered to every new connection: a resumed
 * handshake costs no ECDHE and no certificate checks), and up to
 * core.http_client_pool_size idle connections (0: none, each call dials,
 * resuming the session). A call takes the most
 * recently used idle connection or dials; after a complete response that
 * keeps the connection (HTTP/1.1 without Connection: close, nothing unread
 * after it, no write pending) the socket and its TLS state go back to the
 * pool instead of being closed. An idle connection is read from: any byte,
 * EOF or error means the server is done with it and it is closed; a timer
 * closes connections idle longer than core.http_client_idle_timeout_ms
 * (below servers' usual keep-alive timeouts, trustbox's 60 s included).
 * A server may still close one just as it is reused: then a request marked
 * retry (idempotent) goes once more on a fresh connection, provided no
 * response byte came back; other requests report the error. A connection
 * with an error or a response cut short is never pooled. Idle handles are
 * unreferenced, so a pool never keeps a loop running; the owner closes it
 * with tb_http_client_pool_close before closing the loop.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <http_parser.h>
#include <netdb.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/error.h"
#include "core/http.h"
#include "core/http_io.h"
#include "core/http_client_pool.h"
#include "core/log.h"
#include "core/tls.h"

#define CLIENT_DEFAULT_TIMEOUT_MS 30000u
#define CLIENT_DEFAULT_MAX_BODY (1024u * 1024)
#define CLIENT_MAX_HEADER_BYTES (64u * 1024)
#define CLIENT_MAX_HEADERS 128u
#define CLIENT_MAX_URL 8192u
#define CLIENT_MAX_ADDRS 16
#define SNIFF_MAX (64u * 1024) /* plaintext handshake bytes kept for the sniffer */

struct tb_http_call {
	uv_loop_t *loop;
	tb_http_client_cb cb;
	void *arg;
	char *host;            /* URL host (no brackets) */
	char *sni;             /* NULL: none */
	char *connect_address;
	int port;
	int https;
	int insecure;
	int want_peer_cert;
	int handshake_only;
	int head;
	size_t max_body;
	struct tb_bytes request;

	uv_timer_t timer;
	uv_tcp_t *tcp;         /* one per connection attempt; freed in its close callback */
	uv_getaddrinfo_t gai;
	uv_connect_t connect;
	int gai_pending;
	int refs;              /* open handles + pending requests; freed at 0 */
	struct sockaddr_storage addrs[CLIENT_MAX_ADDRS];
	size_t n_addrs, next_addr;
	int (*dial_check)(const struct sockaddr *addr, void *arg);
	void *dial_check_arg;
	int refused_err;       /* dial_check's answer for the last address it refused */
	int connect_err;       /* the last failed connection attempt */

	struct tb_tls_client *tlscfg;
	struct tb_tls_conn *tls;
	struct tb_http_out out;    /* the write path: the connected socket, through tls */

	http_parser parser;
	int status;
	struct tb_http_header *hdrs;
	size_t n_hdrs;
	struct tb_bytes hfield, hvalue;
	int in_value;
	size_t header_bytes;
	struct tb_bytes body;
	int complete;
	int parse_err;

	/* Plaintext handshake sniffer. */
	struct tb_bytes rec;       /* record bytes not yet parsed */
	struct tb_bytes hs;        /* handshake message bytes not yet parsed */
	int sniff_done;
	uint8_t *sniff_cert;
	size_t sniff_cert_len;
	char sniff_alpn[256];

	struct tb_http_pool_peer *peer; /* keep_alive: its pool (holds tlscfg then), else NULL */
	int reused;            /* the connection came from the pool */
	int retry;             /* idempotent: one more try on a fresh connection */
	int retried;
	int got_bytes;         /* response bytes arrived on this connection */
	int extra;             /* bytes after the response: the connection is not reusable */
	int saw_hello;         /* the sniffer saw a ServerHello (a resumed one has no Certificate) */
	size_t stale_writes;   /* completions still due from the connection a retry left */
	uint64_t timeout_ms;

	int deferred_err;      /* reported by the timer (errors found inside the call) */
	int offline;           /* tb_http_client_parse_response: no handles */
	int done;
	uint8_t rbuf[16384];
};

static void call_unref(struct tb_http_call *c);
static void finish(struct tb_http_call *c, int err);
static void on_timeout(uv_timer_t *t);
static void try_connect(struct tb_http_call *c);
static void dial(struct tb_http_call *c);

static void free_headers(struct tb_http_call *c)
{
	for (size_t i = 0; i < c->n_hdrs; i++) {
		free((char *)c->hdrs[i].name);
		free((char *)c->hdrs[i].value);
	}
	c->n_hdrs = 0;
}

/* ---- Lifetime ---- */

static void call_free(struct tb_http_call *c)
{
	free(c->host);
	free(c->sni);
	free(c->connect_address);
	tb_bytes_free(&c->request);
	tb_tls_conn_free(c->tls);
	if (c->peer)
		tb_http_pool_peer_unref(c->peer);
	else
		tb_tls_client_free(c->tlscfg);
	free_headers(c);
	free(c->hdrs);
	tb_bytes_free(&c->hfield);
	tb_bytes_free(&c->hvalue);
	tb_bytes_free(&c->body);
	tb_bytes_free(&c->rec);
	tb_bytes_free(&c->hs);
	free(c->sniff_cert);
	free(c);
}

static void call_unref(struct tb_http_call *c)
{
	if (--c->refs == 0)
		call_free(c);
}

static void on_handle_closed(uv_handle_t *h)
{
	call_unref(h->data);
}

static void on_tcp_closed(uv_handle_t *h)
{
	struct tb_http_call *c = h->data;
	free(h);
	call_unref(c);
}

static void close_tcp(struct tb_http_call *c)
{
	if (c->tcp) {
		uv_close((uv_handle_t *)c->tcp, on_tcp_closed);
		c->tcp = NULL;
		c->out.stream = NULL;
	}
}

/* ---- Keep-alive: the call's side (the pool is core/http_client_pool.c) ---- */

static char *pool_key(const struct tb_http_call *c, const struct tb_http_client_req *r)
{
	struct tb_bytes k = { 0 };
	tb_bytes_printf(&k, "%d\x1f%s\x1f%d\x1f%s\x1f%s\x1f%d", c->https, c->host, c->port,
		c->connect_address ? c->connect_address : "", c->sni ? c->sni : "", c->insecure);
	for (const char *const *a = r->alpn; a && *a; a++)
		tb_bytes_printf(&k, "\x1f%s", *a);
	tb_bytes_printf(&k, "\x1e%s", r->ca_pem ? r->ca_pem : "(system)");
	return tb_bytes_cstr(&k);
}

/* Takes an idle connection of c's peer, if there is one: 1 when c has it. */
static int pool_take(struct tb_http_call *c)
{
	uv_tcp_t *t;
	if (!tb_http_pool_take(c->peer, &t, &c->tls))
		return 0;
	t->data = c;
	c->tcp = t;
	c->refs++; /* the socket's close callback, as for a dialled one */
	c->reused = 1;
	return 1;
}

/* Whether c's connection may serve another call (after its complete response). */
static int pool_reusable(struct tb_http_call *c)
{
	if (!c->peer || !c->tcp || !c->complete || c->extra || c->stale_writes || c->out.pending ||
		!http_should_keep_alive(&c->parser) || !tb_http_pool_has_room(c->peer) ||
		uv_is_closing((uv_handle_t *)c->tcp))
		return 0;
	if (c->tls) {
		/* Plaintext already decrypted past the response, or a close_notify: not reusable. */
		uint8_t b[1];
		int closed = 0;
		if (!tb_tls_conn_handshake_done(c->tls) || tb_tls_conn_read(c->tls, b, 1, &closed) != 0 || closed)
			return 0;
	}
	return 1;
}

/* Moves c's connection (socket and TLS state) to its peer's idle list. */
static void pool_put(struct tb_http_call *c)
{
	uv_tcp_t *t = c->tcp;
	uv_read_stop((uv_stream_t *)t);
	tb_http_pool_put(c->peer, t, c->tls);
	c->tls = NULL;
	c->tcp = NULL;
	c->out.stream = NULL;
	c->out.tls = NULL;
	call_unref(c); /* the socket's reference: its close callback is the pool's now */
}

/* ---- Sniffer: ServerHello ALPN and the first Certificate, from plaintext records ---- */

static void sniff_server_hello(struct tb_http_call *c, struct tb_reader *r)
{
	struct tb_buf skip;
	uint16_t ext_len;
	/* version(2) random(32) session_id<1> cipher(2) compression(1) extensions<2> */
	if (tb_read_bytes(r, 34, &skip) || tb_read_vec(r, 1, &skip) || tb_read_bytes(r, 3, &skip))
		return;
	if (tb_read_u16(r, &ext_len) || ext_len > tb_reader_left(r))
		return;
	struct tb_reader e = TB_READER(r->p + r->off, ext_len);
	while (tb_reader_left(&e) >= 4) {
		uint16_t type;
		struct tb_buf data;
		if (tb_read_u16(&e, &type) || tb_read_vec(&e, 2, &data))
			return;
		if (type != 16) /* application_layer_protocol_negotiation */
			continue;
		struct tb_reader a = TB_READER(data.p, data.len);
		struct tb_buf list, proto;
		if (tb_read_vec(&a, 2, &list))
			return;
		struct tb_reader l = TB_READER(list.p, list.len);
		if (tb_read_vec(&l, 1, &proto) || proto.len == 0 || proto.len >= sizeof c->sniff_alpn)
			return;
		memcpy(c->sniff_alpn, proto.p, proto.len);
		c->sniff_alpn[proto.len] = 0;
	}
}

static void sniff_certificate(struct tb_http_call *c, struct tb_reader *r)
{
	struct tb_buf list, cert;
	if (c->sniff_cert || tb_read_vec(r, 3, &list))
		return;
	struct tb_reader l = TB_READER(list.p, list.len);
	if (tb_read_vec(&l, 3, &cert) || cert.len == 0)
		return;
	c->sniff_cert = malloc(cert.len);
	if (!c->sniff_cert)
		return;
	memcpy(c->sniff_cert, cert.p, cert.len);
	c->sniff_cert_len = cert.len;
}

static void sniff_handshake(struct tb_http_call *c)
{
	size_t off = 0;
	while (c->hs.len - off >= 4) {
		const uint8_t *p = c->hs.p + off;
		size_t len = ((size_t)p[1] << 16) | ((size_t)p[2] << 8) | p[3];
		if (c->hs.len - off - 4 < len)
			break;
		struct tb_reader r = TB_READER(p + 4, len);
		if (p[0] == 2) {
			c->saw_hello = 1;
			sniff_server_hello(c, &r);
		}
		else if (p[0] == 11)
			sniff_certificate(c, &r);
		else if (p[0] == 14) /* ServerHelloDone: nothing more in the clear */
			c->sniff_done = 1;
		off += 4 + len;
	}
	memmove(c->hs.p, c->hs.p + off, c->hs.len - off);
	c->hs.len -= off;
}

static void sniff(struct tb_http_call *c, const uint8_t *p, size_t n)
{
	if (c->sniff_done)
		return;
	if (c->rec.len + n > SNIFF_MAX || tb_bytes_append(&c->rec, p, n)) {
		c->sniff_done = 1;
		return;
	}
	size_t off = 0;
	while (!c->sniff_done && c->rec.len - off >= 5) {
		const uint8_t *h = c->rec.p + off;
		size_t len = ((size_t)h[3] << 8) | h[4];
		if (c->rec.len - off - 5 < len)
			break;
		if (h[0] == 22) {
			if (c->hs.len + len > SNIFF_MAX || tb_bytes_append(&c->hs, h + 5, len)) {
				c->sniff_done = 1;
				break;
			}
			sniff_handshake(c);
		} else if (h[0] != 21) {
			c->sniff_done = 1; /* ChangeCipherSpec or data: encrypted from here on */
		}
		off += 5 + len;
	}
	memmove(c->rec.p, c->rec.p + off, c->rec.len - off);
	c->rec.len -= off;
}

/* ---- Finishing ---- */

/* The response state, for a retry on a fresh connection. */
static void reset_response(struct tb_http_call *c)
{
	free_headers(c);
	c->hfield.len = c->hvalue.len = 0;
	c->in_value = 0;
	c->header_bytes = 0;
	c->body.len = 0;
	c->status = 0;
	c->complete = c->parse_err = c->got_bytes = c->extra = 0;
	http_parser_init(&c->parser, HTTP_RESPONSE);
	c->parser.data = c;
}

/*
 * A pooled connection that died before answering an idempotent request: the
 * request goes once more, on a fresh connection, with a fresh time budget.
 */
static int retry_fresh(struct tb_http_call *c, int err)
{
	if (!c->reused || !c->retry || c->retried || c->got_bytes || c->offline ||
		err == TB_ERR_TIMEOUT || err == TB_ERR_CANCELED)
		return 0;
	TB_DEBUG("http", "client: a kept-alive connection to %s failed (%s); sending again on a new one",
		c->host, tb_strerror(err));
	c->retried = 1;
	c->reused = 0;
	close_tcp(c);
	c->stale_writes = c->out.pending;
	tb_tls_conn_free(c->tls);
	c->tls = NULL;
	c->out.tls = NULL;
	reset_response(c);
	c->deferred_err = 0;
	uv_timer_start(&c->timer, on_timeout, c->timeout_ms, 0);
	dial(c);
	return 1;
}

static void finish(struct tb_http_call *c, int err)
{
	if (c->done)
		return;
	if (err && retry_fresh(c, err))
		return;
	c->done = 1;
	struct tb_http_client_resp resp = { 0 };
	if (!err) {
		resp.status = c->status;
		resp.headers = c->hdrs;
		resp.n_headers = c->n_hdrs;
		resp.body = TB_BUF(c->body.p, c->body.len);
		if (c->tls && tb_tls_conn_handshake_done(c->tls)) {
			resp.alpn = tb_tls_conn_alpn(c->tls);
			if (c->want_peer_cert)
				resp.peer_cert = tb_tls_conn_peer_cert(c->tls);
		}
		if (c->https && !resp.alpn && c->sniff_alpn[0])
			resp.alpn = c->sniff_alpn;
		if (c->https && c->want_peer_cert && !resp.peer_cert.len && c->sniff_cert)
			resp.peer_cert = TB_BUF(c->sniff_cert, c->sniff_cert_len);
	}
	/*
	 * A reusable connection goes back before the callback, so that a request
	 * the callback starts can take it (resp keeps only what the call owns).
	 */
	if (!err && !c->offline && pool_reusable(c)) {
		if (resp.alpn && resp.alpn != c->sniff_alpn) {
			snprintf(c->sniff_alpn, sizeof c->sniff_alpn, "%s", resp.alpn);
			resp.alpn = c->sniff_alpn;
		}
		pool_put(c);
	}
	c->cb(err, err ? NULL : &resp, c->arg);
	if (c->offline)
		return;

	uv_timer_stop(&c->timer);
	if (c->gai_pending)
		uv_cancel((uv_req_t *)&c->gai);
	close_tcp(c);
	uv_close((uv_handle_t *)&c->timer, on_handle_closed);
}

static void on_timeout(uv_timer_t *t)
{
	struct tb_http_call *c = t->data;
	finish(c, c->deferred_err ? c->deferred_err : TB_ERR_TIMEOUT);
}

/* Reports err on the next loop iteration. */
static void fail_later(struct tb_http_call *c, int err)
{
	c->deferred_err = err;
	uv_timer_start(&c->timer, on_timeout, 0, 0);
}

/* ---- Response parsing ---- */

static int add_header(struct tb_http_call *c)
{
	if (!c->in_value)
		return 0;
	c->in_value = 0;
	if (c->n_hdrs >= CLIENT_MAX_HEADERS)
		return -1;
	if (c->n_hdrs % 16 == 0) {
		struct tb_http_header *h = realloc(c->hdrs, (c->n_hdrs + 16) * sizeof *h);
		if (!h)
			return -1;
		c->hdrs = h;
	}
	size_t vl = c->hvalue.len;
	while (vl && (c->hvalue.p[vl - 1] == ' ' || c->hvalue.p[vl - 1] == '\t'))
		vl--;
	char *n = strndup(c->hfield.len ? (const char *)c->hfield.p : "", c->hfield.len);
	char *v = strndup(vl ? (const char *)c->hvalue.p : "", vl);
	if (!n || !v) {
		free(n);
		free(v);
		return -1;
	}
	c->hdrs[c->n_hdrs].name = n;
	c->hdrs[c->n_hdrs].value = v;
	c->n_hdrs++;
	c->hfield.len = c->hvalue.len = 0;
	return 0;
}

static int count_header(struct tb_http_call *c, size_t n)
{
	c->header_bytes += n;
	return c->header_bytes > CLIENT_MAX_HEADER_BYTES ? -1 : 0;
}

static int on_header_field(http_parser *p, const char *at, size_t n)
{
	struct tb_http_call *c = p->data;
	if (count_header(c, n) || add_header(c))
		return -1;
	return tb_bytes_append(&c->hfield, at, n) ? -1 : 0;
}

static int on_header_value(http_parser *p, const char *at, size_t n)
{
	struct tb_http_call *c = p->data;
	if (count_header(c, n))
		return -1;
	c->in_value = 1;
	return tb_bytes_append(&c->hvalue, at, n) ? -1 : 0;
}

static int on_status(http_parser *p, const char *at, size_t n)
{
	struct tb_http_call *c = p->data;
	(void)at;
	return count_header(c, n);
}

static int on_headers_complete(http_parser *p)
{
	struct tb_http_call *c = p->data;
	if (add_header(c))
		return -1;
	/* Interim 1xx responses are skipped: the parser starts over. */
	if (p->status_code >= 100 && p->status_code < 200) {
		free_headers(c);
		return 0;
	}
	c->status = p->status_code;
	if ((p->flags & F_CONTENTLENGTH) && p->content_length > c->max_body) {
		c->parse_err = TB_ERR_TOO_LARGE;
		return -1;
	}
	return c->head ? 1 : 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
	struct tb_http_call *c = p->data;
	if (c->body.len + n > c->max_body) {
		c->parse_err = TB_ERR_TOO_LARGE;
		return -1;
	}
	return tb_bytes_append(&c->body, at, n) ? -1 : 0;
}

static int on_message_complete(http_parser *p)
{
	struct tb_http_call *c = p->data;
	if (p->status_code >= 100 && p->status_code < 200)
		return 0;
	c->complete = 1;
	http_parser_pause(p, 1);
	return 0;
}

static const http_parser_settings resp_settings = {
	.on_status = on_status,
	.on_header_field = on_header_field,
	.on_header_value = on_header_value,
	.on_headers_complete = on_headers_complete,
	.on_body = on_body,
	.on_message_complete = on_message_complete,
};

static void response_bytes(struct tb_http_call *c, const uint8_t *p, size_t n)
{
	c->got_bytes = 1;
	size_t used = http_parser_execute(&c->parser, &resp_settings, (const char *)p, n);
	enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
	if (c->complete) {
		c->extra = used < n;
		finish(c, 0);
		return;
	}
	if (e != HPE_OK)
		finish(c, c->parse_err ? c->parse_err : TB_ERR_INVALID);
}

/* ---- I/O ---- */

/*
 * Writes go through the server's write path (core/http_io.h). A write's
 * completion needs no reference of its own: libuv completes (or cancels)
 * every write before the socket's close callback, which holds one.
 */
static void on_written(struct tb_http_out *out, int status)
{
	struct tb_http_call *c = (struct tb_http_call *)((char *)out - offsetof(struct tb_http_call, out));
	if (c->stale_writes) {
		c->stale_writes--; /* the abandoned connection's: cancelled, nothing to report */
		return;
	}
	if (status < 0 && !c->done)
		finish(c, status);
}

static int flush_tls(struct tb_http_call *c)
{
	return tb_http_out_flush_tls(&c->out);
}

static int send_request(struct tb_http_call *c)
{
	return tb_http_out_write(&c->out, c->request.p, c->request.len);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	(void)suggested;
	struct tb_http_call *c = h->data;
	*buf = uv_buf_init((char *)c->rbuf, sizeof c->rbuf);
}

static void on_eof(struct tb_http_call *c)
{
	if (c->tls && !tb_tls_conn_handshake_done(c->tls)) {
		finish(c, c->handshake_only && c->insecure && c->sniff_cert ? 0 : -ECONNRESET);
		return;
	}
	/* A body delimited by the end of the connection completes here. */
	http_parser_execute(&c->parser, &resp_settings, NULL, 0);
	if (c->complete)
		finish(c, 0);
	else
		finish(c, c->parse_err ? c->parse_err : -ECONNRESET);
}

/*
 * mbedTLS 2.28 checks names only against dNSName/CN: when the URL's host is an
 * IP literal (and no SNI override names the server), the certificate must
 * carry that address as an iPAddress SAN.
 */
static int check_ip_san(struct tb_http_call *c)
{
	if (c->insecure || c->sni)
		return 0;
	uint8_t ip[16];
	if (inet_pton(AF_INET, c->host, ip) == 1)
		return tb_tls_conn_peer_has_ip(c->tls, ip, 4) ? 0 : TB_ERR_VERIFY;
	if (inet_pton(AF_INET6, c->host, ip) == 1)
		return tb_tls_conn_peer_has_ip(c->tls, ip, 16) ? 0 : TB_ERR_VERIFY;
	return 0;
}

/* Counts the connection, and keeps a full handshake's session for the peer's next ones. */
static void handshake_done(struct tb_http_call *c)
{
	int resumed = c->saw_hello && !c->sniff_cert;
	tb_http_pool_count(resumed ? "resumed" : "new");
	struct tb_tls_session *s;
	if (c->peer && !resumed && tb_tls_conn_get_session(c->tls, &s) == 0)
		tb_http_pool_keep_session(c->peer, s);
}

static void tls_bytes(struct tb_http_call *c, const uint8_t *p, size_t n)
{
	int rc;
	if (!tb_tls_conn_handshake_done(c->tls))
		sniff(c, p, n);
	if ((rc = tb_tls_conn_feed(c->tls, p, n)) != 0) {
		finish(c, rc);
		return;
	}
	if (!tb_tls_conn_handshake_done(c->tls)) {
		rc = tb_tls_conn_handshake(c->tls);
		int frc = flush_tls(c);
		if (rc < 0) {
			if (c->handshake_only && c->insecure && c->sniff_cert) {
				/* tls-alpn-01: the certificate is what was asked for. */
				finish(c, 0);
				return;
			}
			finish(c, rc);
			return;
		}
		if (frc) {
			finish(c, frc);
			return;
		}
		if (rc == TB_TLS_WANT)
			return;
		if ((rc = check_ip_san(c)) != 0) {
			finish(c, rc);
			return;
		}
		handshake_done(c);
		if (c->handshake_only) {
			finish(c, 0);
			return;
		}
		if ((rc = send_request(c)) != 0) {
			finish(c, rc);
			return;
		}
	}
	uint8_t buf[16384];
	while (!c->done) {
		int closed = 0;
		rc = tb_tls_conn_read(c->tls, buf, sizeof buf, &closed);
		if (rc < 0) {
			finish(c, rc);
			return;
		}
		if (rc > 0) {
			response_bytes(c, buf, (size_t)rc);
			continue;
		}
		if (closed)
			on_eof(c);
		return;
	}
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct tb_http_call *c = s->data;
	if (c->done)
		return;
	if (nread == UV_EOF) {
		on_eof(c);
		return;
	}
	if (nread < 0) {
		finish(c, (int)nread);
		return;
	}
	if (c->tls)
		tls_bytes(c, (const uint8_t *)buf->base, (size_t)nread);
	else
		response_bytes(c, (const uint8_t *)buf->base, (size_t)nread);
}

static void on_connect(uv_connect_t *req, int status)
{
	struct tb_http_call *c = req->data;
	if (c->done) {
		call_unref(c);
		return;
	}
	if (status < 0) {
		call_unref(c);
		c->connect_err = status;
		if (c->next_addr < c->n_addrs) {
			/* Next address: a fresh socket. */
			close_tcp(c);
			try_connect(c);
			return;
		}
		finish(c, status);
		return;
	}
	call_unref(c);
	int rc = uv_read_start((uv_stream_t *)c->tcp, on_alloc, on_read);
	if (rc) {
		finish(c, rc);
		return;
	}
	c->out.stream = (uv_stream_t *)c->tcp;
	c->out.written = on_written;
	if (c->https) {
		if ((rc = tb_tls_conn_new_client(&c->tls, c->tlscfg, c->sni)) != 0) {
			finish(c, rc);
			return;
		}
		c->out.tls = c->tls;
		if (c->peer && tb_http_pool_session(c->peer))
			tb_tls_conn_set_session(c->tls, tb_http_pool_session(c->peer)); /* else a full handshake */
		rc = tb_tls_conn_handshake(c->tls);
		if (rc < 0 || (rc = flush_tls(c)) != 0)
			finish(c, rc);
		return;
	}
	tb_http_pool_count("new");
	if ((rc = send_request(c)) != 0)
		finish(c, rc);
}

/*
 * Dials the next address the policy allows. The check runs here, on the
 * address about to be dialled, so that no path (connect_address, IP literal,
 * getaddrinfo) reaches the network unchecked.
 */
static void try_connect(struct tb_http_call *c)
{
	struct sockaddr_storage *a = NULL;
	while (!a && c->next_addr < c->n_addrs) {
		struct sockaddr_storage *cand = &c->addrs[c->next_addr++];
		int rc = c->dial_check ? c->dial_check((const struct sockaddr *)cand, c->dial_check_arg) : 0;
		if (rc)
			c->refused_err = rc;
		else
			a = cand;
	}
	if (!a) {
		fail_later(c, c->connect_err ? c->connect_err : c->refused_err ? c->refused_err : TB_ERR_NOT_FOUND);
		return;
	}
	uv_tcp_t *t = malloc(sizeof *t);
	if (!t) {
		fail_later(c, TB_ERR_NOMEM);
		return;
	}
	int rc = uv_tcp_init(c->loop, t);
	if (rc) {
		free(t);
		fail_later(c, rc);
		return;
	}
	t->data = c;
	c->tcp = t;
	c->refs++;
	c->connect.data = c;
	rc = uv_tcp_connect(&c->connect, t, (const struct sockaddr *)a, on_connect);
	if (rc) {
		fail_later(c, rc);
		return;
	}
	c->refs++;
	uv_tcp_nodelay(t, 1);
}

static void on_resolved(uv_getaddrinfo_t *g, int status, struct addrinfo *res)
{
	struct tb_http_call *c = g->data;
	c->gai_pending = 0;
	if (c->done || status < 0) {
		if (!c->done)
			finish(c, status == UV_EAI_NONAME || status == UV_EAI_NODATA ? TB_ERR_NOT_FOUND
				: status == UV_EAI_CANCELED ? TB_ERR_CANCELED : status);
		uv_freeaddrinfo(res);
		call_unref(c);
		return;
	}
	for (struct addrinfo *ai = res; ai && c->n_addrs < CLIENT_MAX_ADDRS; ai = ai->ai_next) {
		if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
			continue;
		if (ai->ai_addrlen > sizeof c->addrs[0])
			continue;
		memcpy(&c->addrs[c->n_addrs], ai->ai_addr, ai->ai_addrlen);
		if (ai->ai_family == AF_INET)
			((struct sockaddr_in *)&c->addrs[c->n_addrs])->sin_port = htons((uint16_t)c->port);
		else
			((struct sockaddr_in6 *)&c->addrs[c->n_addrs])->sin6_port = htons((uint16_t)c->port);
		c->n_addrs++;
	}
	uv_freeaddrinfo(res);
	if (c->n_addrs == 0)
		finish(c, TB_ERR_NOT_FOUND);
	else
		try_connect(c);
	call_unref(c);
}

/* Resolves (unless the address is known) and connects; errors come later. */
static void dial(struct tb_http_call *c)
{
	if (c->n_addrs) {
		c->next_addr = 0;
		c->connect_err = c->refused_err = 0;
		try_connect(c); /* callbacks of uv_tcp_connect always run later */
		return;
	}
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	c->gai.data = c;
	int rc = uv_getaddrinfo(c->loop, &c->gai, on_resolved, c->host, NULL, &hints);
	if (rc) {
		fail_later(c, rc);
		return;
	}
	c->gai_pending = 1;
	c->refs++;
}

/* ---- Setup ---- */

static int parse_ip(const char *s, int port, struct sockaddr_storage *out)
{
	memset(out, 0, sizeof *out);
	if (uv_ip4_addr(s, port, (struct sockaddr_in *)out) == 0)
		return 0;
	if (uv_ip6_addr(s, port, (struct sockaddr_in6 *)out) == 0)
		return 0;
	return TB_ERR_INVALID;
}

static int valid_token(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (*s <= ' ' || *s >= 127 || strchr("()<>@,;:\\\"/[]?={}", *s))
			return 0;
	return 1;
}

static int build_request(struct tb_http_call *c, const struct tb_http_client_req *r, const char *method,
	const char *target, size_t target_len)
{
	struct tb_bytes *b = &c->request;
	int v6 = strchr(c->host, ':') != NULL;
	int default_port = c->port == (c->https ? 443 : 80);
	tb_bytes_printf(b, "%s %.*s HTTP/1.1\r\nHost: %s%s%s", method, (int)target_len, target,
		v6 ? "[" : "", c->host, v6 ? "]" : "");
	if (!default_port)
		tb_bytes_printf(b, ":%d", c->port);
	tb_bytes_printf(b, c->peer ? "\r\n" : "\r\nConnection: close\r\n");
	int has_ua = 0;
	for (size_t i = 0; i < r->n_headers; i++) {
		const char *n = r->headers[i].name, *v = r->headers[i].value;
		if (!n || !v || !valid_token(n) || strpbrk(v, "\r\n"))
			return TB_ERR_INVALID;
		if (!strcasecmp(n, "Host") || !strcasecmp(n, "Content-Length") ||
			!strcasecmp(n, "Connection") || !strcasecmp(n, "Transfer-Encoding"))
			continue;
		if (!strcasecmp(n, "User-Agent"))
			has_ua = 1;
		tb_bytes_printf(b, "%s: %s\r\n", n, v);
	}
	if (!has_ua)
		tb_bytes_printf(b, "User-Agent: trustbox/%s\r\n", TB_VERSION);
	int send_len = r->body.len > 0 || (strcmp(method, "GET") && strcmp(method, "HEAD"));
	if (send_len)
		tb_bytes_printf(b, "Content-Length: %zu\r\n", r->body.len);
	tb_bytes_printf(b, "\r\n");
	if (r->body.len)
		tb_bytes_append(b, r->body.p, r->body.len);
	return b->err;
}

int tb_http_client_request(uv_loop_t *loop, const struct tb_http_client_req *r,
	tb_http_client_cb cb, void *arg)
{
	return tb_http_client_start(loop, r, cb, arg, NULL);
}

void tb_http_client_cancel(struct tb_http_call *c)
{
	if (c && !c->done)
		finish(c, TB_ERR_CANCELED);
}

int tb_http_client_start(uv_loop_t *loop, const struct tb_http_client_req *r,
	tb_http_client_cb cb, void *arg, struct tb_http_call **out)
{
	if (out)
		*out = NULL;
	if (!r || !r->url || !cb)
		return TB_ERR_INVALID;
	const char *method = r->method ? r->method : "GET";
	if (!valid_token(method))
		return TB_ERR_INVALID;
	size_t ulen = strlen(r->url);
	if (ulen > CLIENT_MAX_URL)
		return TB_ERR_TOO_LARGE;
	struct http_parser_url u;
	http_parser_url_init(&u);
	if (http_parser_parse_url(r->url, ulen, 0, &u) != 0 || !(u.field_set & (1 << UF_SCHEMA)) ||
		!(u.field_set & (1 << UF_HOST)))
		return TB_ERR_INVALID;
	const char *schema = r->url + u.field_data[UF_SCHEMA].off;
	size_t slen = u.field_data[UF_SCHEMA].len;
	int https;
	if (slen == 5 && strncasecmp(schema, "https", 5) == 0)
		https = 1;
	else if (slen == 4 && strncasecmp(schema, "http", 4) == 0)
		https = 0;
	else
		return TB_ERR_UNSUPPORTED;
	if (u.field_set & (1 << UF_USERINFO))
		return TB_ERR_UNSUPPORTED;

	struct tb_http_call *c = calloc(1, sizeof *c);
	if (!c)
		return TB_ERR_NOMEM;
	c->loop = loop;
	c->cb = cb;
	c->arg = arg;
	c->https = https;
	c->insecure = r->insecure;
	c->want_peer_cert = r->want_peer_cert;
	c->handshake_only = r->handshake_only && https;
	c->head = strcmp(method, "HEAD") == 0;
	c->max_body = r->max_body ? r->max_body : CLIENT_DEFAULT_MAX_BODY;
	c->dial_check = r->dial_check;
	c->dial_check_arg = r->dial_check_arg;
	c->port = (u.field_set & (1 << UF_PORT)) ? u.port : (https ? 443 : 80);
	c->host = strndup(r->url + u.field_data[UF_HOST].off, u.field_data[UF_HOST].len);
	int rc = TB_ERR_NOMEM;
	if (!c->host)
		goto fail;
	if (r->connect_address && !(c->connect_address = strdup(r->connect_address)))
		goto fail;

	/* Target: path (default "/") and query. */
	const char *target = "/";
	size_t tlen = 1;
	if (u.field_set & (1 << UF_PATH)) {
		target = r->url + u.field_data[UF_PATH].off;
		tlen = u.field_data[UF_PATH].len;
		if (u.field_set & (1 << UF_QUERY))
			tlen = u.field_data[UF_QUERY].off + u.field_data[UF_QUERY].len - u.field_data[UF_PATH].off;
	}
	if (https) {
		struct sockaddr_storage tmp;
		const char *sni = r->sni ? r->sni : (parse_ip(c->host, 0, &tmp) == 0 ? NULL : c->host);
		if (sni && !(c->sni = strdup(sni))) {
			rc = TB_ERR_NOMEM;
			goto fail;
		}
	}
	if (r->keep_alive && !c->handshake_only && !c->want_peer_cert && !c->dial_check) {
		char *key = pool_key(c, r);
		if (key && (c->peer = tb_http_pool_peer_get(loop, key, https, r->ca_pem, r->insecure, r->alpn)))
			c->tlscfg = tb_http_pool_tls(c->peer);
		free(key);
	}
	c->retry = r->retry;
	if ((rc = build_request(c, r, method, target, tlen)) != 0)
		goto fail;
	if (https && !c->tlscfg && (rc = tb_tls_client_new(&c->tlscfg, r->ca_pem, r->insecure, r->alpn)) != 0)
		goto fail;

	http_parser_init(&c->parser, HTTP_RESPONSE);
	c->parser.data = c;

	/* Address: connect_address, an IP literal host, or resolve. */
	const char *lit = c->connect_address ? c->connect_address : c->host;
	if (parse_ip(lit, c->port, &c->addrs[0]) == 0) {
		c->n_addrs = 1;
	} else if (c->connect_address) {
		rc = TB_ERR_INVALID;
		goto fail;
	}

	uv_timer_init(loop, &c->timer);
	c->timer.data = c;
	c->refs = 1;
	c->timeout_ms = r->timeout_ms ? r->timeout_ms : CLIENT_DEFAULT_TIMEOUT_MS;
	uv_timer_start(&c->timer, on_timeout, c->timeout_ms, 0);
	if (out)
		*out = c;
	if (c->peer && pool_take(c)) {
		/* A kept-alive connection: straight to the request (its errors come later). */
		c->out.stream = (uv_stream_t *)c->tcp;
		c->out.tls = c->tls;
		c->out.written = on_written;
		if ((rc = uv_read_start((uv_stream_t *)c->tcp, on_alloc, on_read)) != 0 ||
			(rc = send_request(c)) != 0)
			fail_later(c, rc);
		return 0;
	}
	dial(c);
	return 0;
fail:
	call_free(c);
	return rc;
}

const char *tb_http_client_header(const struct tb_http_client_resp *resp, const char *name)
{
	for (size_t i = 0; i < resp->n_headers; i++)
		if (strcasecmp(resp->headers[i].name, name) == 0)
			return resp->headers[i].value;
	return NULL;
}

int tb_http_client_parse_response(const uint8_t *data, size_t len, int head, size_t max_body,
	tb_http_client_cb cb, void *arg)
{
	struct tb_http_call *c = calloc(1, sizeof *c);
	if (!c)
		return TB_ERR_NOMEM;
	c->offline = 1;
	c->cb = cb;
	c->arg = arg;
	c->head = head;
	c->max_body = max_body ? max_body : CLIENT_DEFAULT_MAX_BODY;
	http_parser_init(&c->parser, HTTP_RESPONSE);
	c->parser.data = c;
	response_bytes(c, data, len);
	if (!c->done) {
		http_parser_execute(&c->parser, &resp_settings, NULL, 0);
		finish(c, c->complete ? 0 : c->parse_err ? c->parse_err : TB_ERR_TRUNCATED);
	}
	call_free(c);
	return 0;
}
