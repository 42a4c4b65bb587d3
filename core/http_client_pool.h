/*
 * The HTTP client's keep-alive pool (core/http_client.c's DESIGN says how
 * calls use it; the public switches are in core/http.h). Per loop and peer
 * (a key the client builds from scheme, host, port, dial address, SNI,
 * trust roots, insecure and ALPN): one TLS client configuration, the TLS
 * session of the last full handshake, and idle connections (a socket with
 * its TLS state). Loop thread only, except the peer list's lock. Internal
 * to core.
 */
#ifndef TB_HTTP_CLIENT_POOL_H
#define TB_HTTP_CLIENT_POOL_H

#include <stddef.h>
#include <uv.h>

struct tb_tls_client;
struct tb_tls_conn;
struct tb_tls_session;
struct tb_http_pool_peer;

/*
 * The peer of key on loop, a reference; created on first use with its TLS
 * configuration (https: ca_pem, insecure, alpn as tb_tls_client_new takes
 * them). NULL when it cannot be made or too many peers exist (then the
 * caller dials on its own).
 */
struct tb_http_pool_peer *tb_http_pool_peer_get(uv_loop_t *loop, const char *key, int https,
	const char *ca_pem, int insecure, const char *const *alpn);
void tb_http_pool_peer_unref(struct tb_http_pool_peer *p);
/* Its TLS configuration (NULL for http), valid while the reference is held. */
struct tb_tls_client *tb_http_pool_tls(const struct tb_http_pool_peer *p);
/* The session to offer on a new connection, or NULL. */
const struct tb_tls_session *tb_http_pool_session(const struct tb_http_pool_peer *p);
/* Keeps s (taken) as the session to offer from now on. */
void tb_http_pool_keep_session(struct tb_http_pool_peer *p, struct tb_tls_session *s);

/*
 * The most recently used idle connection that is still alive: 1 with *tcp
 * (referenced again, not reading, its data the caller's to set) and *tls,
 * or 0 when there is none.
 */
int tb_http_pool_take(struct tb_http_pool_peer *p, uv_tcp_t **tcp, struct tb_tls_conn **tls);
/* Whether the pool takes one more idle connection for p (not closed, below the size). */
int tb_http_pool_has_room(const struct tb_http_pool_peer *p);
/*
 * Takes a connection that finished its exchange: tcp (not reading, not
 * closing; freed with free() when closed) and tls (may be NULL).
 */
void tb_http_pool_put(struct tb_http_pool_peer *p, uv_tcp_t *tcp, struct tb_tls_conn *tls);

/* Counts one connection used by a call in tb_http_client_connections_total: new, resumed or reused. */
void tb_http_pool_count(const char *kind);

#endif
