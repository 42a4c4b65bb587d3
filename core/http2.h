/*
 * HTTP/2 (RFC 9113) on a server connection of core/http.c, over libnghttp2
 * (framing, flow control, HPACK). Internal to core: the public contract is
 * core/http.h, and nothing there changes with the protocol.
 *
 * A connection speaks HTTP/2 when TLS negotiated ALPN "h2", or, on a plain
 * listener with h2c on, when its first bytes are the client connection
 * preface (prior knowledge). From then on its plaintext goes to
 * tb_h2_input instead of http-parser. Each stream becomes one request of
 * core/http.c (same arena, router, limits, TB_HTTP_LATER, metrics); a
 * stream reset orphans its request like a closed HTTP/1.1 connection does.
 *
 * The two files talk through the functions below; core/http.c keeps the
 * request and connection structs, this side keeps the nghttp2 session.
 */
#ifndef TB_HTTP2_H
#define TB_HTTP2_H

#include <stddef.h>
#include <stdint.h>

#include "core/http.h"

struct tb_http_conn; /* core/http.c's connection */
struct tb_h2;        /* one HTTP/2 session */
struct tb_h2_stream; /* one stream of it */

/* The client connection preface (RFC 9113 3.4). */
#define TB_H2_PREFACE "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define TB_H2_PREFACE_LEN 24

/* ---- Provided by core/http.c ---- */

/* A new request for a stream (remote, listener, TLS details from the connection). NULL: no memory. */
struct tb_http_request *tb_http_h2_req_new(struct tb_http_conn *hc, struct tb_h2_stream *s);
/* Frees a request no handler has seen. */
void tb_http_h2_req_free(struct tb_http_request *q);
/* Adds a regular header field; 0, or the status to answer (431, 400, 500). */
int tb_http_h2_req_header(struct tb_http_request *q, const char *name, size_t nlen,
	const char *value, size_t vlen);
/*
 * End of headers: sets method and target (":path"), decodes and checks the
 * path like HTTP/1.1 does, routes, and checks a Content-Length against the
 * route's body limit. 0, or the status to answer.
 */
int tb_http_h2_req_route(struct tb_http_request *q, const char *method, const char *path);
/* Body bytes: 0, or the status to answer (413, 500). */
int tb_http_h2_req_body(struct tb_http_request *q, const uint8_t *p, size_t n);
/* Complete: hands the request to its handler (or core's 404/405). */
void tb_http_h2_req_dispatch(struct tb_http_request *q);
/* Core answers the request itself (400, 408, 413, 431...). */
void tb_http_h2_req_error(struct tb_http_request *q, int status);
/* The stream went away while a handler holds the request: its later response only frees it. */
void tb_http_h2_req_orphan(struct tb_http_request *q);

/* Sends plaintext on the connection (encrypted when TLS). 0 or an error. */
int tb_http_conn_send(struct tb_http_conn *hc, const uint8_t *p, size_t n);
/* Bytes handed to the socket and not yet written (0 without a socket). */
size_t tb_http_conn_queued(const struct tb_http_conn *hc);
const struct tb_http_limits *tb_http_conn_limits(const struct tb_http_conn *hc);
uint64_t tb_http_conn_now(const struct tb_http_conn *hc);
/* (Re)arms the connection's timer (tb_h2_timeout runs then); 0 disarms. */
void tb_http_conn_arm(struct tb_http_conn *hc, uint64_t ms);
/* Closes once what is queued has been written (a lingering close). */
void tb_http_conn_finish(struct tb_http_conn *hc);

/* ---- Provided by core/http2.c ---- */

/*
 * Starts the server session and queues our SETTINGS. The client preface must
 * be complete h2_preface_timeout_ms after since (tb_http_conn_now time: the
 * end of the TLS handshake, or the first byte of an h2c preface). 0 or an error.
 */
int tb_h2_new(struct tb_h2 **out, struct tb_http_conn *hc, const struct tb_http_limits *lim,
	uint64_t since);
/*
 * The connection closed: requests that handlers hold are orphaned, the
 * others freed. Safe to call more than once; tb_h2_free follows.
 */
void tb_h2_detach(struct tb_h2 *h);
void tb_h2_free(struct tb_h2 *h);
/*
 * Plaintext from the client. 0, or a negative error after which the
 * connection closes at once. A misbehaving peer is answered with GOAWAY and
 * the connection finished (tb_http_conn_finish).
 */
int tb_h2_input(struct tb_h2 *h, const uint8_t *p, size_t n);
/* Sends queued frames while the connection's output is under its cap. 0 or an error. */
int tb_h2_flush(struct tb_h2 *h);
/*
 * The server stops: GOAWAY, so that the client opens no more streams.
 * Returns 1 when streams are still being answered (the connection finishes
 * by itself once they are), 0 when the connection can close now.
 */
int tb_h2_shutdown(struct tb_h2 *h);
/* The connection's timer fired. */
void tb_h2_timeout(struct tb_h2 *h);
/* Whether output waits for the socket (reading then pauses). */
int tb_h2_backlogged(const struct tb_h2 *h);
/* No stream open and not closing: the connection may be shed for a new one (core/http.c). */
int tb_h2_idle(const struct tb_h2 *h);
/*
 * The response of a stream's request: header names already lower-case,
 * no connection-specific fields. body is copied; no_body: HEAD, 204, 304.
 * The stream forgets the request (which the caller frees). 0 or an error.
 */
int tb_h2_respond(struct tb_h2_stream *s, int status, const struct tb_http_header *hdrs,
	size_t n_hdrs, const void *body, size_t len, int no_body);

#endif
