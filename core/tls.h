/*
 * TLS 1.2 over mbedTLS 2.28 for the HTTP server and client.
 *
 * A struct tb_tls_server holds one mbedtls_ssl_config shared by all of its
 * connections, one or more (certificate chain, private key) pairs chosen by
 * SNI (the first whose SAN, or CN when there is no SAN, matches the requested
 * name; the first pair is the default), and an ALPN list. Ciphersuites:
 * ECDHE-ECDSA and ECDHE-RSA with AES-128/256-GCM and CHACHA20-POLY1305.
 * One CTR-DRBG, seeded once per process, feeds every context.
 *
 * A struct tb_tls_conn is one TLS session bridged to memory buffers instead of
 * a socket (mbedtls_ssl_set_bio): the owner feeds the ciphertext it read
 * (tb_tls_conn_feed), drives the handshake and reads plaintext, writes
 * plaintext, and flushes the ciphertext that accumulated in
 * tb_tls_conn_output() to its socket. This keeps libuv out of this file.
 */
#ifndef TB_TLS_H
#define TB_TLS_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

struct tb_tls_server;
struct tb_tls_client;
struct tb_tls_conn;

#define TB_TLS_MAX_CERTS 16      /* certificate pairs per server */
#define TB_TLS_MAX_ALPN 8        /* ALPN protocols per list */
#define TB_TLS_MAX_INPUT (1u << 20) /* buffered ciphertext not yet consumed */
/* Resumption defaults (core.tls_ticket_lifetime_s and friends override them). */
#define TB_TLS_TICKET_LIFETIME 14400 /* seconds a session ticket resumes; also the key rotation period */
#define TB_TLS_SESSION_CACHE 4096    /* sessions kept per server for session-ID resumption */
#define TB_TLS_SESSION_TIMEOUT 14400 /* seconds a cached session resumes */

/* A certificate chain (PEM, or one DER certificate) and its private key (PEM or DER). */
struct tb_tls_cert {
	struct tb_buf chain;
	struct tb_buf key;
};

/*
 * certs[0] is the default. alpn: NULL-terminated list offered in preference
 * order (NULL = no ALPN). Everything is copied. 0 or an error
 * (TB_ERR_CRYPTO for unparseable material, TB_ERR_INVALID for bad arguments).
 */
int tb_tls_server_new(struct tb_tls_server **out, const struct tb_tls_cert *certs, size_t n,
	const char *const *alpn);
void tb_tls_server_free(struct tb_tls_server *srv);

/*
 * Resumption limits, replacing the defaults above; call before the first
 * connection. ticket_lifetime_s: seconds a session ticket is accepted, and
 * how often the ticket key is replaced (the previous key stays valid for
 * one more period); 0 issues and accepts no tickets. cache_size: sessions
 * kept for session-ID resumption; 0 keeps none. cache_timeout_s: seconds a
 * cached session resumes (at least 1). 0 or TB_ERR_INVALID / TB_ERR_CRYPTO.
 */
int tb_tls_server_set_resumption(struct tb_tls_server *srv, uint32_t ticket_lifetime_s,
	size_t cache_size, uint32_t cache_timeout_s);

/*
 * Client configuration. ca_pem: trusted roots (NUL-terminated PEM) or NULL for
 * the system bundle; insecure: skip verification; alpn: NULL-terminated or NULL.
 */
int tb_tls_client_new(struct tb_tls_client **out, const char *ca_pem, int insecure,
	const char *const *alpn);
void tb_tls_client_free(struct tb_tls_client *cli);

/* Return values of the conn functions besides 0 and negative errors. */
#define TB_TLS_WANT 1    /* needs more input (or output to be flushed) */
#define TB_TLS_CLOSED 2  /* the peer sent close_notify */

int tb_tls_conn_new_server(struct tb_tls_conn **out, struct tb_tls_server *srv);
/* server_name: SNI and name verified against the certificate (NULL: neither). */
int tb_tls_conn_new_client(struct tb_tls_conn **out, struct tb_tls_client *cli,
	const char *server_name);
void tb_tls_conn_free(struct tb_tls_conn *c);
/*
 * Client-side resumption (RFC 5077 ticket or session id): a copy of a
 * completed handshake's session, offered on the next connection to the same
 * server with the same client configuration; the server resumes it or does
 * a full handshake. get: 0, or TB_ERR_INVALID before the handshake
 * completed. set: before the handshake.
 */
struct tb_tls_session;
int tb_tls_conn_get_session(const struct tb_tls_conn *c, struct tb_tls_session **out);
int tb_tls_conn_set_session(struct tb_tls_conn *c, const struct tb_tls_session *s);
void tb_tls_session_free(struct tb_tls_session *s);
/* Appends received ciphertext. TB_ERR_TOO_LARGE beyond TB_TLS_MAX_INPUT unconsumed bytes. */
int tb_tls_conn_feed(struct tb_tls_conn *c, const uint8_t *p, size_t n);
/* 0 when complete, TB_TLS_WANT, or an error (TB_ERR_VERIFY for a rejected peer certificate). */
int tb_tls_conn_handshake(struct tb_tls_conn *c);
int tb_tls_conn_handshake_done(const struct tb_tls_conn *c);
/*
 * Returns the number of plaintext bytes (> 0), 0 when more input is needed,
 * or a negative error; *closed set to 1 when the peer sent close_notify.
 */
int tb_tls_conn_read(struct tb_tls_conn *c, uint8_t *buf, size_t cap, int *closed);
/* Encrypts all of p into the output buffer. 0 or an error. */
int tb_tls_conn_write(struct tb_tls_conn *c, const uint8_t *p, size_t n);
/* Queues close_notify. */
void tb_tls_conn_close_notify(struct tb_tls_conn *c);
/* Ciphertext waiting to be sent; the caller takes it (moves out and zeroes *out). */
void tb_tls_conn_take_output(struct tb_tls_conn *c, struct tb_bytes *out);
/* After the handshake: the SNI the client sent (server side), negotiated ALPN, peer leaf DER. */
const char *tb_tls_conn_sni(const struct tb_tls_conn *c);
const char *tb_tls_conn_alpn(const struct tb_tls_conn *c);
struct tb_buf tb_tls_conn_peer_cert(const struct tb_tls_conn *c);
/* Whether the peer certificate lists this IP address (4 or 16 bytes) as an iPAddress SAN. */
int tb_tls_conn_peer_has_ip(const struct tb_tls_conn *c, const uint8_t *ip, size_t len);

#endif
