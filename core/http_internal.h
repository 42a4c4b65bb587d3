/*
 * Internals shared by the HTTP server's two files: core/http.c (HTTP/1.1
 * connections, the protocol choice, listeners and the server) and
 * core/http_request.c (the request object both HTTP/1.1 and HTTP/2 use: its
 * allocation, headers, target, responses, and the tb_http_h2_req_* bridge of
 * core/http2.h). Nothing outside these two files includes it.
 */
#ifndef TB_HTTP_INTERNAL_H
#define TB_HTTP_INTERNAL_H

#include <http_parser.h>
#include <stdint.h>
#include <uv.h>

#include "core/buf.h"
#include "core/http.h"
#include "core/http_io.h"
#include "core/http_router.h"

#define READ_CHUNK (16u * 1024)
#define MAX_LISTENERS 32
#define MAX_RESP_HEADERS 64

struct listener {
	struct tb_http_server *srv;
	char *name;
	uv_tcp_t tcp;
	int port;
	struct tb_tls_server *tls;
	int open;             /* handle initialised and not yet closed */
	int dead;             /* bind or listen failed */
	int h2c;              /* plain listener: HTTP/2 with prior knowledge too */
	int deferred;         /* a connection waits in libuv for the next accept turn */
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
	uint64_t preface_start;   /* h2c: when the first preface byte came (0: none yet) */
	char remote[64];
	uint8_t addr[16];         /* the client's IP address (IPv4 in the first 4 octets) */
	int addr_family;          /* AF_INET, AF_INET6, or 0 (feed mode, unknown) */
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
	struct conn *conns;             /* newest first */
	struct conn *conns_tail;        /* the oldest */
	unsigned long long shed_evicted, shed_refused; /* connections closed at a cap */
	unsigned accepted;              /* connections accepted in this turn (see ACCEPT_BATCH) */
	uint64_t accept_turn;           /* uv_now of this turn */
	uv_timer_t accept_timer;        /* resumes deferred accepts on the next loop turn */
	int accept_timer_open;          /* initialised (lazily, at the first deferral); 2: closing */
	unsigned n_conns;               /* open (not yet closing) connections */
	unsigned conns_alive;           /* connections not yet freed */
	unsigned handles_open;          /* listener handles + grace timer */
	int stopping;
	uv_timer_t grace;
	int grace_open;
	tb_done_cb done;
	void *done_arg;
};

static inline uint64_t now_ms(struct tb_http_server *srv)
{
	return uv_now(srv->loop);
}

static inline struct req *req_of(struct tb_http_request *pub)
{
	return (struct req *)((char *)pub - offsetof(struct req, pub));
}

/* core/http_request.c */
struct req *tb_http_req_new(struct conn *c);
void tb_http_req_free(struct req *r);
/* Room for one more header field: 0, or 431 over the count, 500 without memory. */
int tb_http_req_header_slot(struct req *r, size_t max);
/* Target: origin-form or absolute-form; OPTIONS * as is. 0 or the status to answer. */
int tb_http_req_set_target(struct tb_http_request *q, const char *url, size_t len);

/* core/http.c */
void tb_http_conn_close(struct conn *c);
/* Parsing resumes after a response was queued (pipelined bytes may be waiting). */
void tb_http_conn_resume(struct conn *c);

#endif
