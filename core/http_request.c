/*
 * DESIGN: the request object shared by HTTP/1.1 (core/http.c) and HTTP/2
 * (core/http2.c): its allocation in a per-request arena, header lookup, the
 * request target, response headers, and the responses themselves, written
 * as HTTP/1.1 bytes or handed to the stream as HTTP/2 fields.
 *
 * - A request belongs to its connection until it is answered; a connection
 *   that dies while a handler holds the request orphans it (conn = NULL, or
 *   h2s = NULL for a stream), and the later tb_http_respond only frees it.
 * - An HTTP/1.1 response is queued on the connection and, if the connection
 *   stays open, parsing resumes (core/http.c); an HTTP/2 response goes to its
 *   stream (tb_h2_respond) without connection-specific fields.
 * - The tb_http_h2_req_* functions (core/http2.h) let core/http2.c build a
 *   request from a stream's fields and body and dispatch it through the same
 *   router outcome as HTTP/1.1.
 */
#include <http_parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/admin.h"
#include "core/error.h"
#include "core/http2.h"
#include "core/http_internal.h"
#include "core/log.h"
#include "core/tls.h"

/* ---- Small helpers ---- */

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

void tb_http_req_free(struct req *r)
{
	if (!r)
		return;
	tb_bytes_free(&r->body);
	tb_bytes_free(&r->url);
	tb_bytes_free(&r->hfield);
	tb_bytes_free(&r->hvalue);
	tb_arena_free(r->pub.arena); /* r itself lives in the arena */
}

struct req *tb_http_req_new(struct conn *c)
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
		tb_http_req_free(r);
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
	TB_INFO("http", "%s %s %s HTTP/2 %d %zu %llums", c->remote, req->method, req->path, status,
		r->head ? (size_t)0 : len, (unsigned long long)ms);
	tb_http_req_free(r);
	if (rc && !c->closed)
		tb_http_conn_close(c);
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
		tb_http_req_free(r);
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
		rc = tb_http_out_send(&c->out, out.p, out.len); /* no second copy of the body */
		memset(&out, 0, sizeof out);
	} else if (rc == 0) {
		rc = tb_http_out_write(&c->out, out.p, out.len);
	}
	tb_bytes_free(&out);

	uint64_t ms = now_ms(srv) - r->start_ms;
	tb_http_series_observe(r->match.series, 0, status, (double)ms / 1000.0);
	TB_INFO("http", "%s %s %s HTTP/1.%d %d %zu %llums", c->remote, req->method, req->path,
		req->http_minor, status, r->head ? (size_t)0 : len, (unsigned long long)ms);

	int keep = r->keep_alive && rc == 0;
	c->cur = NULL;
	tb_http_req_free(r);
	if (!keep) {
		c->closing = 1;
		c->state = CS_CLOSING;
		if (rc == 0 && c->tls) {
			tb_tls_conn_close_notify(c->tls);
			rc = tb_http_out_flush_tls(&c->out);
		}
		if (rc)
			tb_http_conn_close(c);
		else if (!c->has_socket)
			; /* feed mode: nothing more is parsed */
		else if (c->out.pending == 0)
			tb_http_conn_close(c);
		else
			tb_http_conn_arm((struct tb_http_conn *)c, srv->lim.idle_timeout_ms); /* a client that never reads: close after that */
		return rc;
	}
	c->state = CS_IDLE;
	if (!c->in_dispatch)
		tb_http_conn_resume(c);
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

/* ---- Request line and header fields (both protocols) ---- */

int tb_http_req_header_slot(struct req *r, size_t max)
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

int tb_http_req_set_target(struct tb_http_request *q, const char *url, size_t len)
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

/* ---- HTTP/2 streams as requests (core/http2.h) ---- */

struct tb_http_request *tb_http_h2_req_new(struct tb_http_conn *hc, struct tb_h2_stream *s)
{
	struct conn *c = (struct conn *)hc;
	struct req *r = tb_http_req_new(c);
	if (!r)
		return NULL;
	r->is_h2 = 1;
	r->h2s = s;
	r->pub.http_minor = 1;
	return &r->pub;
}

void tb_http_h2_req_free(struct tb_http_request *q)
{
	tb_http_req_free(req_of(q));
}

int tb_http_h2_req_header(struct tb_http_request *q, const char *name, size_t nlen,
	const char *value, size_t vlen)
{
	struct req *r = req_of(q);
	int st = tb_http_req_header_slot(r, r->conn->srv->lim.max_headers);
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
	int st = tb_http_req_set_target(q, path, strlen(path));
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
