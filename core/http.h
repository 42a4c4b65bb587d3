/*
 * One HTTP server for every subsystem's API (HTTP/1.1, and HTTP/2 by ALPN
 * h2 or h2c prior knowledge: core/http2.h; handlers cannot tell them
 * apart), and an HTTP/1.1 client on the same loop.
 *
 * Server model. A server owns listeners (name, address, port, plain or TLS)
 * and one router. A subsystem declares a static table of {method, pattern,
 * handler} routes and mounts it under a prefix with its own state
 * (tb_http_mount; one table may be mounted several times). The longest
 * mounted prefix that covers the path decides; within it the most specific
 * pattern that matches path and method wins, and GET routes also serve HEAD.
 * When patterns match the path but none takes the method the answer is 405
 * with Allow listing exactly their methods; when none matches, 404. Core
 * decides both; the table's renderer (if any) words the body. Prefixes of
 * shorter mounts are not consulted. Paths are matched after
 * percent-decoding; a path with a "." or ".." segment, a control character
 * (raw or encoded: NUL, CR, LF, TAB, DEL...) or bad escapes gets 400, so
 * handlers never resolve dot segments. An HTTP/1.1 request without Host, any
 * request with two Host fields, whitespace in a field name, conflicting
 * Content-Length fields, Content-Length with Transfer-Encoding and
 * Transfer-Encoding in HTTP/1.0 get 400 too (RFC 9112 3.2, 5.1, 6.1), and
 * so does a CR in the framing not followed by LF or chunk data not followed
 * by CR LF (which http-parser alone would take). Obsolete line folding is accepted and replaced by
 * whitespace (RFC 9112 5.2); bare LF line ends are accepted.
 *
 * A connection processes one request at a time: bytes that arrive while a
 * handler runs (pipelining) are buffered and parsed after the response has
 * been queued, so responses leave in request order. Core itself answers
 * 400 (unparseable), 404, 405, 408 (header or body timeout), 413 (body over
 * the limit: Content-Length checked up front, chunked bodies counted),
 * 431 (headers over the limit) and 501 (unknown method or transfer-coding),
 * handles keep-alive with an idle timeout, Connection: close, chunked request
 * bodies and Expect: 100-continue. Every response carries Content-Length;
 * HEAD responses carry none of the body.
 *
 * Handlers. A handler either responds before returning (and returns 0) or
 * returns TB_HTTP_LATER and responds later on the loop thread with the same
 * request pointer. The request stays valid until it has been responded to,
 * even when the client went away meanwhile (responding is then a no-op that
 * frees the request). A handler that returns a negative error without having
 * responded gets a 500 problem document. Everything a request allocates
 * should live in req->arena (core/arena.h).
 *
 * Observability: one access-log line per request (tag "http": remote, method,
 * path, protocol ("HTTP/1.0", "HTTP/1.1" or "HTTP/2"), status, bytes,
 * duration ms) and per-route Prometheus counters and
 * latency histograms (tb_http_metrics_write), labelled with the route's
 * pattern, never the raw path, so that the number of series stays bounded.
 *
 * Everything here runs on the loop thread only.
 */
#ifndef TB_HTTP_H
#define TB_HTTP_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/arena.h"
#include "core/buf.h"

struct tb_tls_server; /* core/tls.h */
struct tb_http_server;

typedef void (*tb_done_cb)(void *arg); /* same as core/subsystem.h */

/* ---- Limits ---- */

/*
 * A zero field means "the default". Defaults: TB_HTTP_DEFAULT_* below.
 */
struct tb_http_limits {
	size_t max_header_bytes;    /* request line + headers; over -> 431 (16 KiB) */
	size_t max_headers;         /* number of header fields; over -> 431 (100) */
	size_t max_body;            /* decoded body; over -> 413 (1 MiB); a route may raise it */
	uint64_t header_timeout_ms; /* first byte of a request to end of headers; -> 408 (10 s) */
	uint64_t body_timeout_ms;   /* end of headers to end of body; -> 408 (30 s) */
	uint64_t idle_timeout_ms;   /* keep-alive wait for the next request, and the time a client
				       has to take a queued response; then close (60 s) */
	uint64_t grace_timeout_ms;  /* tb_http_server_stop: wait for in-flight requests (5 s) */
	unsigned max_connections;   /* open connections; at the cap the oldest idle or
				       header-incomplete one is closed for a new one, else the
				       new one is refused (1024) */
	unsigned max_connections_per_address; /* the same, per client IP address (512) */
	/* HTTP/2 (core/http2.c); a zero field means the default below. */
	unsigned h2_max_concurrent_streams; /* SETTINGS_MAX_CONCURRENT_STREAMS (100) */
	size_t h2_max_header_list;  /* SETTINGS_MAX_HEADER_LIST_SIZE; decoded fields over -> 431 (16 KiB) */
	uint32_t h2_header_table_size; /* HPACK dynamic table, both directions (4096) */
	uint32_t h2_initial_window; /* SETTINGS_INITIAL_WINDOW_SIZE for request bodies (65535) */
	uint32_t h2_max_frame_size; /* SETTINGS_MAX_FRAME_SIZE (16384) */
	unsigned h2_max_resets_per_sec;  /* client RST_STREAMs per second; more -> GOAWAY (100) */
	unsigned h2_max_control_per_sec; /* SETTINGS, PING, PRIORITY and empty frames per second (100) */
	unsigned h2_max_continuations;   /* CONTINUATION frames after one HEADERS (8) */
	uint64_t h2_preface_timeout_ms;  /* from TLS done with ALPN h2, or the first h2c preface
					    byte, to the client preface's SETTINGS; then close (5 s) */
};

#define TB_HTTP_DEFAULT_MAX_HEADER_BYTES (16u * 1024)
#define TB_HTTP_DEFAULT_MAX_HEADERS 100u
#define TB_HTTP_DEFAULT_MAX_BODY (1024u * 1024)
#define TB_HTTP_DEFAULT_HEADER_TIMEOUT_MS 10000u
#define TB_HTTP_DEFAULT_BODY_TIMEOUT_MS 30000u
#define TB_HTTP_DEFAULT_IDLE_TIMEOUT_MS 60000u
#define TB_HTTP_DEFAULT_GRACE_TIMEOUT_MS 5000u
#define TB_HTTP_DEFAULT_MAX_CONNECTIONS 1024u
#define TB_HTTP_DEFAULT_MAX_CONNECTIONS_PER_ADDRESS 512u
#define TB_HTTP_DEFAULT_H2_PREFACE_TIMEOUT_MS 5000u
#define TB_HTTP_DEFAULT_H2_MAX_CONCURRENT_STREAMS 100u
#define TB_HTTP_DEFAULT_H2_MAX_HEADER_LIST (16u * 1024)
#define TB_HTTP_DEFAULT_H2_HEADER_TABLE_SIZE 4096u
#define TB_HTTP_DEFAULT_H2_INITIAL_WINDOW 65535u
#define TB_HTTP_DEFAULT_H2_MAX_FRAME_SIZE 16384u
#define TB_HTTP_DEFAULT_H2_MAX_RESETS_PER_SEC 100u
#define TB_HTTP_DEFAULT_H2_MAX_CONTROL_PER_SEC 100u
#define TB_HTTP_DEFAULT_H2_MAX_CONTINUATIONS 8u
/* Hard ceiling for any route's body limit. */
#define TB_HTTP_MAX_BODY_CEILING (256u * 1024 * 1024)

/* ---- Requests ---- */

struct tb_http_header {
	const char *name;
	const char *value;
};

/* Returned by a handler that will respond later. */
#define TB_HTTP_LATER 1

/*
 * What a handler sees. All strings are NUL-terminated and live in the arena;
 * read-only for the handler except ctx.
 */
struct tb_http_request {
	const char *method;       /* "GET", "POST", ... */
	const char *target;       /* request-target as sent (path and query) */
	const char *path;         /* percent-decoded path without the query */
	const char *query;        /* raw query string without '?'; "" when none */
	const struct tb_http_header *headers; /* in arrival order, names as sent */
	size_t n_headers;
	struct tb_buf body;       /* decoded (de-chunked) body; len 0 when none */
	const char *remote;       /* "127.0.0.1:53211" or "[::1]:53211" */
	const char *listener;     /* name given to tb_http_listen */
	int tls;                  /* 1 when the connection is TLS */
	const char *sni;          /* TLS server name the client asked for, or NULL */
	const char *alpn;         /* negotiated ALPN protocol, or NULL */
	const char *route;        /* the matched route: prefix + pattern ("/ct/lab/tile/{rest...}") */
	int http_minor;           /* 0 for HTTP/1.0, 1 for HTTP/1.1 */
	struct tb_arena *arena;   /* freed after the response has been written */
	struct tb_http_server *server;
	void *ctx;                /* for the handler */
};

typedef int (*tb_http_handler)(struct tb_http_request *req, void *arg);

/* Path parameters a request can carry, and the longest value of one. */
#define TB_HTTP_MAX_PARAMS 8
#define TB_HTTP_MAX_PARAM_LEN 256

struct tb_http_path_param {
	const char *name;         /* the name in the pattern, without braces */
	const char *value;        /* decoded, in the arena */
};

/* First header with that name (case-insensitive), or NULL. */
const char *tb_http_header(const struct tb_http_request *req, const char *name);
/* First query parameter with that name, percent- and '+'-decoded, in the arena; NULL when absent. */
const char *tb_http_query_param(struct tb_http_request *req, const char *name);
/*
 * A path parameter of the matched table route ("id" for "/order/{id}"), in
 * the arena; NULL when the route has no such parameter. Also set for a 405
 * (the parameters of the pattern that matched the path), so that an error
 * renderer can use them; never for a 404.
 */
const char *tb_http_path_param(const struct tb_http_request *req, const char *name);
/* Whether the client has gone away (a later response would be discarded). */
int tb_http_request_gone(const struct tb_http_request *req);

/* ---- Responses ---- */

/* Adds a response header (may repeat). Copies name and value. 0 or an error. */
int tb_http_set_header(struct tb_http_request *req, const char *name, const char *value);
/*
 * Sends the response: status line, the headers set so far, Content-Type
 * (unless NULL), Content-Length, Date, Connection when closing, and body.
 * After this call req is gone. Returns 0 or an error (the request is freed
 * either way).
 */
int tb_http_respond(struct tb_http_request *req, int status, const char *content_type,
	const void *body, size_t len);
/* application/json; the caller keeps ownership of json. */
int tb_http_respond_json(struct tb_http_request *req, int status, const cJSON *json);
/* application/problem+json: {"type":type_uri,"detail":detail,"status":status}. */
int tb_http_respond_problem(struct tb_http_request *req, int status, const char *type_uri,
	const char *detail);
/* Reason phrase for a status code ("OK", "Not Found", ...); "Unknown" when unknown. */
const char *tb_http_reason(int status);

/* ---- Server ---- */

/* limits may be NULL (all defaults). */
int tb_http_server_new(struct tb_http_server **out, uv_loop_t *loop,
	const struct tb_http_limits *limits);
/*
 * Opens a listener. name: unique, used by routes, logs and metrics. address:
 * IPv4 or IPv6 literal. port 0: ephemeral (see tb_http_listener_port). tls:
 * NULL for plain HTTP; otherwise borrowed, must outlive the server.
 */
int tb_http_listen(struct tb_http_server *srv, const char *name, const char *address, int port,
	struct tb_tls_server *tls);
/*
 * HTTP/2 with prior knowledge (h2c) on a plain listener: a connection whose
 * first bytes are the HTTP/2 preface speaks HTTP/2, others HTTP/1.1. TLS
 * listeners negotiate h2 by ALPN whenever the TLS server offers it. 0 or
 * TB_ERR_NOT_FOUND.
 */
int tb_http_listen_h2c(struct tb_http_server *srv, const char *name, int on);
/* The bound port of a listener, or a negative error when there is no such listener. */
int tb_http_listener_port(const struct tb_http_server *srv, const char *name);
/*
 * ---- Route tables ----
 *
 * A subsystem declares its routes as data and mounts them:
 *
 *   static const struct tb_http_route_def order_routes[] = {
 *       { "POST", "/new-order", new_order, 0 },
 *       { "POST", "/order/{id}", get_order, 0 },
 *       { "POST", "/order/{id}/finalize", finalize, 64 * 1024 },
 *       { "GET", "/tile/{rest...}", get_tile, 0 },
 *       { "POST", "/admin/thing", change_thing, 0, TB_ROUTE_ADMIN_WRITE },
 *   };
 *   static const struct tb_http_table order_table = TB_HTTP_TABLE(order_routes, render_error);
 *   tb_http_mount(srv, NULL, "/acme", &order_table, svc);
 *
 * Handlers are called with the mount's state as arg and read parameters
 * with tb_http_path_param(req, "id").
 *
 * Patterns are written below the prefix: the full path is the prefix
 * (without a trailing '/') followed by the pattern. A pattern is "" (the
 * prefix itself) or a sequence of "/segment", each one of:
 *   literal     matches exactly that text (an empty last one is a trailing
 *               '/': "/" is the prefix followed by '/')
 *   {name}      one non-empty path segment; name is [A-Za-z0-9_]+
 *   {name...}   last only: the rest of the path after that '/', '/' included,
 *               possibly empty ("/tile/{rest...}" takes "/tile/" and
 *               "/tile/8/x001/5", not "/tile")
 * A parameter fills its whole segment ("x{id}" is refused). At most
 * TB_HTTP_MAX_PARAMS parameters and 16 segments per pattern. A value longer
 * than TB_HTTP_MAX_PARAM_LEN does not match (so the request gets a 404).
 * Matching is on the percent-decoded path, like everything here: "%2F" is a
 * '/', so a parameter never contains '/' (only a rest wildcard does);
 * empty segments ("//") match only literal empty segments.
 *
 * Choice: the mount with the longest prefix covering the path (on segment
 * boundaries: "/acme" covers "/acme" and "/acme/x", not "/acme-x"; a
 * trailing '/' in the prefix changes nothing) owns the path; tables mounted
 * under the same prefix are searched together. Among the routes
 * whose pattern matches, the most specific pattern wins (segment by segment
 * a literal beats {name} beats {name...}), then the better method (exact,
 * then GET for a HEAD request, then NULL = any), then the earlier route.
 * If patterns match but no method does: 405, Allow = the methods of every
 * route whose pattern matches (HEAD after GET), and the request carries the
 * parameters of the most specific such pattern. If no pattern matches: 404.
 * OPTIONS is a method like any other: declare it where CORS preflights
 * must be answered.
 *
 * Metrics: a matched route (and its 405s) counts under route=<prefix
 * without trailing '/'><pattern>; a 404 below the prefix under
 * route=<prefix as given>.
 */
struct tb_http_route_def {
	const char *method;       /* "GET", "POST", ...; NULL = any method */
	const char *pattern;      /* below the prefix, see above */
	tb_http_handler fn;       /* called with the mount's state */
	size_t max_body;          /* request body limit; 0 = the server's */
	unsigned flags;           /* TB_ROUTE_*; 0 = open to everyone */
};

/*
 * Route flags: the admin API's access check (core/admin.h), made by core
 * when the headers are complete, before the body is read and before the
 * handler runs. READ: open on listeners bound to a loopback address, a
 * bearer token needed on others; WRITE: a bearer token needed everywhere.
 * A refused request gets 401 (no credentials, with WWW-Authenticate:
 * Bearer) or 403 (wrong token) and its connection is closed.
 */
#define TB_ROUTE_ADMIN_READ 0x1u
#define TB_ROUTE_ADMIN_WRITE 0x2u

/*
 * Renders core's 404 or 405 for a table (status), e.g. as an ACME problem
 * document with a Replay-Nonce, or a DAP one naming the task from
 * tb_http_path_param. Allow is already set on a 405. Like a handler it must
 * respond (now or with TB_HTTP_LATER); if it returns without having
 * responded, core sends its default problem document.
 */
typedef int (*tb_http_error_renderer)(struct tb_http_request *req, int status, void *state);

struct tb_http_table {
	const struct tb_http_route_def *routes; /* borrowed: must outlive the server (static) */
	size_t n_routes;
	tb_http_error_renderer error; /* NULL: core's application/problem+json */
};

#define TB_HTTP_TABLE(routes, error) { (routes), sizeof(routes) / sizeof((routes)[0]), (error) }

/*
 * Mounts a table under prefix (starts with '/'; "/" for the root) on one
 * listener, or on all (NULL; also ones opened later). state is passed to
 * every handler and to the renderer. Mounting the same table twice under
 * the same prefix and listener is TB_ERR_EXISTS; under other prefixes it is
 * the way to serve it several times with different states. Returns 0,
 * TB_ERR_INVALID (bad prefix or pattern, logged with the pattern),
 * TB_ERR_TOO_LARGE (too many parameters, segments or mounts, or max_body
 * over TB_HTTP_MAX_BODY_CEILING) or TB_ERR_NOMEM.
 */
int tb_http_mount(struct tb_http_server *srv, const char *listener, const char *prefix,
	const struct tb_http_table *table, void *state);

/*
 * Stops accepting, closes idle connections, lets in-flight requests finish
 * (and responses still being written reach the client) up to
 * limits.grace_timeout_ms (then closes them; their late responses become
 * no-ops), closes all handles, then calls done(arg) (always from a loop
 * callback, like uv_close; done may be NULL). Call tb_http_server_free
 * afterwards (from done or later).
 */
void tb_http_server_stop(struct tb_http_server *srv, tb_done_cb done, void *arg);
/*
 * Frees a stopped (or never started) server. Requests still held by handlers
 * must be responded first. A server whose listeners are open (freed without
 * tb_http_server_stop, e.g. after a failed tb_http_listen at start-up) may be
 * freed too, with no connection yet: the listener handles are closed and
 * release their memory in their close callbacks, so run the loop afterwards.
 */
void tb_http_server_free(struct tb_http_server *srv);

/*
 * Prometheus text exposition of the per-route metrics:
 *   tb_http_requests_total{route="/x",code="2xx",protocol="http/1.1"} N  (or protocol="h2")
 *   tb_http_request_duration_seconds_bucket{route="/x",le="0.005"} N ... le="+Inf"
 *   tb_http_request_duration_seconds_sum / _count
 *   tb_http_connections (gauge)
 *   tb_http_connections_shed_total{reason="evicted"|"refused"} (counter)
 * route is the matched table route's prefix + pattern (405s count under it
 * too); a 404 below a mounted prefix counts under that prefix; requests
 * that matched no prefix (404) or failed before routing (400, 431...)
 * count under route="none".
 */
void tb_http_metrics_write(struct tb_http_server *srv, struct tb_bytes *out);

/*
 * Tests and fuzzing: runs a byte stream through one in-memory connection of
 * the server (no socket, no TLS) as if a client had sent it in one piece and
 * closed its write side; appends everything the server would have written to
 * out (may be NULL). Handlers that return TB_HTTP_LATER must respond before
 * this returns; requests still pending are discarded. Returns 0 or an error.
 */
int tb_http_feed_bytes(struct tb_http_server *srv, const uint8_t *data, size_t len,
	struct tb_bytes *out);

/* ---- Client ---- */

struct tb_http_client_req {
	const char *method;       /* NULL = "GET" */
	const char *url;          /* http:// or https://host[:port]/path?query; host: name or IP literal ([v6]) */
	const struct tb_http_header *headers; /* extra request headers; Host, Content-Length, Connection are added */
	size_t n_headers;
	struct tb_buf body;       /* request body (sent with Content-Length when method is not GET/HEAD or len > 0) */
	uint64_t timeout_ms;      /* whole exchange, resolve to last byte; 0 = 30 s */
	size_t max_body;          /* response body cap (TB_ERR_TOO_LARGE above it); 0 = 1 MiB */
	const char *ca_pem;       /* https: trusted roots (PEM, NUL-terminated); NULL = system bundle */
	int insecure;             /* https: do not verify the server certificate */
	const char *const *alpn;  /* https: ALPN protocols to offer, NULL-terminated; NULL = none */
	const char *connect_address; /* dial this IP literal instead of resolving the URL's host */
	const char *sni;          /* https: server name to send and verify; NULL = the URL's host (none for IP literals) */
	int want_peer_cert;       /* https: return the server's leaf certificate DER */
	int handshake_only;       /* https: stop after the TLS handshake (no HTTP exchange; status 0) */
	/*
	 * Address policy: called with every address just before it is dialled
	 * (connect_address, an IP literal host, or each getaddrinfo result, port
	 * set); nonzero refuses that address and the next one is tried. When
	 * nothing could be dialled the call fails with the last connect error,
	 * else with the code dial_check returned. NULL = every address is dialled.
	 */
	int (*dial_check)(const struct sockaddr *addr, void *arg);
	void *dial_check_arg;
	/*
	 * Keep-alive: take an idle connection to the same peer (scheme, host,
	 * port, connect_address, sni, trust roots, insecure, ALPN) from the
	 * loop's pool, or open one (resuming the peer's last TLS session), and
	 * give it back after a complete response the server did not mark
	 * Connection: close. Ignored with handshake_only, want_peer_cert or
	 * dial_check (those dial every time).
	 */
	int keep_alive;
	/*
	 * The request is idempotent: when a pooled connection turns out dead
	 * (closed, reset) before any response byte, send it once more on a
	 * fresh connection instead of failing. Without it such a failure is
	 * reported, since the server may have acted on the request.
	 */
	int retry;
};

struct tb_http_client_resp {
	int status;               /* HTTP status; 0 for handshake_only */
	const struct tb_http_header *headers;
	size_t n_headers;
	struct tb_buf body;
	struct tb_buf peer_cert;  /* leaf certificate DER when want_peer_cert (len 0 otherwise) */
	const char *alpn;         /* negotiated ALPN protocol, or NULL */
};

/*
 * err: 0, or TB_ERR_TIMEOUT, TB_ERR_TOO_LARGE, TB_ERR_VERIFY (certificate),
 * TB_ERR_INVALID (unparseable response), TB_ERR_NOT_FOUND (name does not
 * resolve), TB_ERR_CRYPTO (TLS failure), -ECONNREFUSED, -ECONNRESET, ...
 * resp is NULL on error; everything in it is valid only during the call.
 */
typedef void (*tb_http_client_cb)(int err, const struct tb_http_client_resp *resp, void *arg);

/*
 * Starts a request; cb runs exactly once, later, on the loop thread (never
 * from inside this call). Every string of r is copied. Redirects are not
 * followed. Returns 0 or an error (then cb is not called).
 */
int tb_http_client_request(uv_loop_t *loop, const struct tb_http_client_req *r,
	tb_http_client_cb cb, void *arg);
/*
 * The same, returning a handle for tb_http_client_cancel in *call (valid until
 * cb has run).
 */
struct tb_http_call;
int tb_http_client_start(uv_loop_t *loop, const struct tb_http_client_req *r,
	tb_http_client_cb cb, void *arg, struct tb_http_call **call);
/* cb runs now with TB_ERR_CANCELED (unless it already ran); for stopping subsystems. */
void tb_http_client_cancel(struct tb_http_call *call);

/*
 * The keep-alive pool (core.http_client_pool_size, core.http_client_idle_timeout_ms):
 * idle connections kept per peer (0: none; TLS sessions still resume) and how long one may stay
 * idle. Registers tb_http_client_connections_total. Call once at start.
 */
#define TB_HTTP_CLIENT_POOL_SIZE 8
#define TB_HTTP_CLIENT_IDLE_MS 15000u
void tb_http_client_pool_setup(size_t per_peer, uint64_t idle_ms);
/* Closes the loop's idle connections and forgets its peers (before closing the loop). */
void tb_http_client_pool_close(uv_loop_t *loop);
/* Idle connections the loop's pool holds (tests). */
size_t tb_http_client_pool_idle(uv_loop_t *loop);

/* First response header with that name (case-insensitive), or NULL. */
const char *tb_http_client_header(const struct tb_http_client_resp *resp, const char *name);

/*
 * Tests and fuzzing: parses data as the complete byte stream of one response
 * (connection closed after it), exactly as the client does, and calls cb
 * before returning (err TB_ERR_TRUNCATED when the stream ends early).
 * head: the request was HEAD. Returns 0 or TB_ERR_NOMEM (then cb is not called).
 */
int tb_http_client_parse_response(const uint8_t *data, size_t len, int head, size_t max_body,
	tb_http_client_cb cb, void *arg);

#endif
