/*
 * DESIGN: mbedTLS 2.28 contexts for the HTTP server and client, bridged to
 * memory instead of sockets.
 *
 * - One CTR-DRBG for the process, seeded once from mbedtls_entropy on first
 *   use; all contexts run on the loop thread.
 * - A server keeps one mbedtls_ssl_config for all of its connections. The SNI
 *   callback walks the certificate pairs in order and installs the first whose
 *   SAN dNSName (or CN when the certificate has no SAN) matches the name,
 *   wildcards covering one label; no match keeps the default (first) pair.
 * - A connection's BIO callbacks read from an input buffer that the owner fills
 *   with what the socket delivered and append to an output buffer that the
 *   owner flushes to the socket. WANT_READ from mbedTLS therefore means "feed
 *   me more bytes"; WANT_WRITE never happens because output only grows.
 * - Our own certificates may carry the tls-alpn-01 acmeIdentifier extension
 *   (critical, unknown to mbedTLS): DER certificates are parsed with a callback
 *   that accepts it.
 * - Resumption: a server issues RFC 5077 session tickets (mbedtls_ssl_ticket,
 *   AES-256-GCM keys drawn from tb_random, kept in memory only, a new key every
 *   ticket lifetime with the previous one still accepted, so a restart
 *   invalidates every ticket) and keeps a session-ID cache for clients without
 *   tickets. Both are limits set by configuration (tb_tls_server_set_resumption;
 *   TB_TLS_* in tls.h are the defaults), and either can be off: with no ticket
 *   callbacks mbedTLS neither issues nor parses tickets, with no cache
 *   callbacks it neither stores nor looks up sessions. A resumed
 *   handshake skips the certificate, the server's signature and ECDHE: only
 *   symmetric work is left.
 */
#include "core/tls.h"

#include <errno.h>
#include <limits.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/ssl_cache.h>
#include <mbedtls/ssl_ticket.h>
#include <mbedtls/x509_crt.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/crypto.h"
#include "core/error.h"
#include "core/log.h"

#define MAX_NAME 253
#define SYSTEM_CA_BUNDLE "/etc/ssl/certs/ca-certificates.crt"

static const int ciphersuites[] = {
	MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	0,
};

/*
 * Key exchange groups in server preference order: P-256 first, because
 * mbedTLS 2.28's X25519 is slow (one P-256 ECDHE costs about half as much).
 */
static const mbedtls_ecp_group_id curves[] = {
	MBEDTLS_ECP_DP_SECP256R1,
	MBEDTLS_ECP_DP_CURVE25519,
	MBEDTLS_ECP_DP_SECP384R1,
	MBEDTLS_ECP_DP_NONE,
};

/* acmeIdentifier, RFC 8737: 1.3.6.1.5.5.7.1.31 */
static const unsigned char oid_acme_identifier[] = { 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x01, 0x1f };

static mbedtls_entropy_context entropy;
static mbedtls_ctr_drbg_context drbg;
static int drbg_ready;

static int rng(void)
{
	if (drbg_ready)
		return 0;
	mbedtls_entropy_init(&entropy);
	mbedtls_ctr_drbg_init(&drbg);
	static const unsigned char pers[] = "trustbox-tls";
	if (mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy, pers, sizeof pers - 1) != 0) {
		mbedtls_ctr_drbg_free(&drbg);
		mbedtls_entropy_free(&entropy);
		return TB_ERR_CRYPTO;
	}
	drbg_ready = 1;
	return 0;
}

/* A NUL-terminated ALPN list copied into one allocation. */
struct alpn_list {
	const char *protos[TB_TLS_MAX_ALPN + 1];
	char *storage;
};

static int alpn_copy(struct alpn_list *l, const char *const *alpn)
{
	memset(l, 0, sizeof *l);
	if (!alpn)
		return 0;
	size_t total = 0, n = 0;
	for (; alpn[n]; n++) {
		size_t len = strlen(alpn[n]);
		if (n >= TB_TLS_MAX_ALPN || len == 0 || len > 255)
			return TB_ERR_INVALID;
		total += len + 1;
	}
	if (n == 0)
		return 0;
	l->storage = malloc(total);
	if (!l->storage)
		return TB_ERR_NOMEM;
	char *p = l->storage;
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(alpn[i]);
		memcpy(p, alpn[i], len + 1);
		l->protos[i] = p;
		p += len + 1;
	}
	return 0;
}

static int ext_cb(void *ctx, mbedtls_x509_crt const *crt, mbedtls_x509_buf const *oid, int critical,
	const unsigned char *p, const unsigned char *end)
{
	(void)ctx, (void)crt, (void)critical, (void)p, (void)end;
	if (oid->len == sizeof oid_acme_identifier &&
		memcmp(oid->p, oid_acme_identifier, sizeof oid_acme_identifier) == 0)
		return 0;
	return -1;
}

static int is_pem(const struct tb_buf *b)
{
	static const char tag[] = "-----BEGIN";
	if (b->len < sizeof tag - 1)
		return 0;
	return memmem(b->p, b->len, tag, sizeof tag - 1) != NULL;
}

/* PEM given with its terminating NUL counted (as mbedTLS wants it) is fine too. */
static struct tb_buf strip_nul(const struct tb_buf *in)
{
	struct tb_buf b = *in;
	if (b.p && b.len && b.p[b.len - 1] == 0 && memmem(b.p, b.len, "-----BEGIN", 10))
		b.len = strnlen((const char *)b.p, b.len);
	return b;
}

static int parse_chain(mbedtls_x509_crt *crt, const struct tb_buf *in)
{
	struct tb_buf nb = strip_nul(in), *b = &nb;
	if (!b->p || b->len == 0)
		return TB_ERR_INVALID;
	if (!is_pem(b)) {
		if (mbedtls_x509_crt_parse_der_with_ext_cb(crt, b->p, b->len, 1, ext_cb, NULL) != 0)
			return TB_ERR_CRYPTO;
		return 0;
	}
	/* PEM wants the terminating NUL inside the length. */
	unsigned char *z = malloc(b->len + 1);
	if (!z)
		return TB_ERR_NOMEM;
	memcpy(z, b->p, b->len);
	z[b->len] = 0;
	int rc = mbedtls_x509_crt_parse(crt, z, b->len + 1);
	free(z);
	return rc == 0 ? 0 : TB_ERR_CRYPTO;
}

/*
 * The server's key: a tb_pkey when the provider takes it (P-256, P-384, RSA),
 * so the handshake's signature runs on the provider's backend through the
 * key's mbedTLS face; any other key mbedTLS reads stays a bare context.
 */
static int parse_key(mbedtls_pk_context *pk, struct tb_pkey **tkey, const struct tb_buf *in)
{
	struct tb_buf nb = strip_nul(in), *b = &nb;
	if (!b->p || b->len == 0)
		return TB_ERR_INVALID;
	if (tb_pkey_parse_private(*b, tkey) == 0)
		return 0;
	unsigned char *z = malloc(b->len + 1);
	if (!z)
		return TB_ERR_NOMEM;
	memcpy(z, b->p, b->len);
	z[b->len] = 0;
	int rc = mbedtls_pk_parse_key(pk, z, is_pem(b) ? b->len + 1 : b->len, NULL, 0);
	mbedtls_platform_zeroize(z, b->len + 1);
	free(z);
	return rc == 0 ? 0 : TB_ERR_CRYPTO;
}

/* ---- Name matching for SNI ---- */

static int name_matches(const unsigned char *pat, size_t plen, const char *name, size_t nlen)
{
	if (plen == nlen && strncasecmp((const char *)pat, name, nlen) == 0)
		return 1;
	/* "*.example.org" covers exactly one label. */
	if (plen > 2 && pat[0] == '*' && pat[1] == '.') {
		const char *dot = memchr(name, '.', nlen);
		if (!dot || dot == name)
			return 0;
		size_t rest = nlen - (size_t)(dot - name);
		return rest == plen - 1 && strncasecmp((const char *)pat + 1, dot, rest) == 0;
	}
	return 0;
}

static int cert_matches(const mbedtls_x509_crt *crt, const char *name, size_t nlen)
{
	int have_san = 0;
	for (const mbedtls_x509_sequence *s = &crt->subject_alt_names; s && s->buf.p; s = s->next) {
		if (s->buf.tag != (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 2))
			continue;
		have_san = 1;
		if (name_matches(s->buf.p, s->buf.len, name, nlen))
			return 1;
	}
	if (have_san)
		return 0;
	for (const mbedtls_x509_name *n = &crt->subject; n && n->oid.p; n = n->next) {
		if (MBEDTLS_OID_CMP(MBEDTLS_OID_AT_CN, &n->oid) == 0 &&
			name_matches(n->val.p, n->val.len, name, nlen))
			return 1;
	}
	return 0;
}

/* ---- Server ---- */

struct cert_pair {
	mbedtls_x509_crt chain;
	struct tb_pkey *tkey;   /* the key, when the crypto provider holds it */
	mbedtls_pk_context key; /* otherwise */
};

static mbedtls_pk_context *pair_key(struct cert_pair *p)
{
	return p->tkey ? tb_pkey_mbedtls(p->tkey) : &p->key;
}

struct tb_tls_server {
	mbedtls_ssl_config conf;
	struct cert_pair certs[TB_TLS_MAX_CERTS];
	size_t n;
	struct alpn_list alpn;
	mbedtls_ssl_ticket_context tickets;
	mbedtls_ssl_cache_context cache;
};

struct tb_tls_conn {
	mbedtls_ssl_context ssl;
	struct tb_bytes in;   /* ciphertext received, in[in_off..] not yet consumed */
	size_t in_off;
	struct tb_bytes out;  /* ciphertext to send */
	struct tb_tls_server *srv;
	char sni[MAX_NAME + 1];
	int handshake_done;
};

static int sni_cb(void *arg, mbedtls_ssl_context *ssl, const unsigned char *name, size_t len)
{
	struct tb_tls_server *srv = arg;
	struct tb_tls_conn *c = ssl->p_bio;
	if (len == 0 || len > MAX_NAME)
		return 0;
	if (c) {
		memcpy(c->sni, name, len);
		c->sni[len] = 0;
	}
	for (size_t i = 0; i < srv->n; i++) {
		if (cert_matches(&srv->certs[i].chain, (const char *)name, len)) {
			if (i == 0)
				return 0;
			return mbedtls_ssl_set_hs_own_cert(ssl, &srv->certs[i].chain, pair_key(&srv->certs[i]));
		}
	}
	return 0; /* default certificate */
}

void tb_tls_server_free(struct tb_tls_server *srv)
{
	if (!srv)
		return;
	mbedtls_ssl_config_free(&srv->conf);
	mbedtls_ssl_ticket_free(&srv->tickets);
	mbedtls_ssl_cache_free(&srv->cache);
	for (size_t i = 0; i < TB_TLS_MAX_CERTS; i++) {
		mbedtls_x509_crt_free(&srv->certs[i].chain);
		mbedtls_pk_free(&srv->certs[i].key);
		tb_pkey_free(srv->certs[i].tkey);
	}
	free(srv->alpn.storage);
	free(srv);
}

/* Resumption (see DESIGN): tickets, then the session-ID cache. */
int tb_tls_server_set_resumption(struct tb_tls_server *srv, uint32_t ticket_lifetime_s,
	size_t cache_size, uint32_t cache_timeout_s)
{
	/* mbedTLS reads a cache timeout of 0 as "never expires": refuse it. */
	if (!srv || (cache_size && !cache_timeout_s))
		return TB_ERR_INVALID;
	/* A fresh ticket context: the old keys go, so no earlier ticket resumes either. */
	mbedtls_ssl_conf_session_tickets_cb(&srv->conf, NULL, NULL, NULL);
	mbedtls_ssl_ticket_free(&srv->tickets);
	mbedtls_ssl_ticket_init(&srv->tickets);
	if (ticket_lifetime_s) {
		if (mbedtls_ssl_ticket_setup(&srv->tickets, tb_crypto_mbedtls_rng, NULL,
			    MBEDTLS_CIPHER_AES_256_GCM, ticket_lifetime_s) != 0)
			return TB_ERR_CRYPTO;
		mbedtls_ssl_conf_session_tickets_cb(&srv->conf, mbedtls_ssl_ticket_write,
			mbedtls_ssl_ticket_parse, &srv->tickets);
	}
	mbedtls_ssl_conf_session_cache(&srv->conf, NULL, NULL, NULL);
	mbedtls_ssl_cache_free(&srv->cache);
	mbedtls_ssl_cache_init(&srv->cache);
	if (cache_size) {
		mbedtls_ssl_cache_set_max_entries(&srv->cache, cache_size > INT_MAX ? INT_MAX : (int)cache_size);
		mbedtls_ssl_cache_set_timeout(&srv->cache, (int)(cache_timeout_s > INT_MAX ? INT_MAX : cache_timeout_s));
		mbedtls_ssl_conf_session_cache(&srv->conf, &srv->cache, mbedtls_ssl_cache_get,
			mbedtls_ssl_cache_set);
	}
	return 0;
}

int tb_tls_server_new(struct tb_tls_server **out, const struct tb_tls_cert *certs, size_t n,
	const char *const *alpn)
{
	*out = NULL;
	if (!certs || n == 0 || n > TB_TLS_MAX_CERTS)
		return TB_ERR_INVALID;
	int rc = rng();
	if (rc)
		return rc;
	struct tb_tls_server *srv = calloc(1, sizeof *srv);
	if (!srv)
		return TB_ERR_NOMEM;
	mbedtls_ssl_config_init(&srv->conf);
	mbedtls_ssl_ticket_init(&srv->tickets);
	mbedtls_ssl_cache_init(&srv->cache);
	for (size_t i = 0; i < TB_TLS_MAX_CERTS; i++) {
		mbedtls_x509_crt_init(&srv->certs[i].chain);
		mbedtls_pk_init(&srv->certs[i].key);
	}
	for (size_t i = 0; i < n; i++) {
		if ((rc = parse_chain(&srv->certs[i].chain, &certs[i].chain)) != 0 ||
			(rc = parse_key(&srv->certs[i].key, &srv->certs[i].tkey, &certs[i].key)) != 0)
			goto fail;
		srv->n++;
	}
	if ((rc = alpn_copy(&srv->alpn, alpn)) != 0)
		goto fail;
	rc = TB_ERR_CRYPTO;
	if (mbedtls_ssl_config_defaults(&srv->conf, MBEDTLS_SSL_IS_SERVER, MBEDTLS_SSL_TRANSPORT_STREAM,
		    MBEDTLS_SSL_PRESET_DEFAULT) != 0)
		goto fail;
	mbedtls_ssl_conf_min_version(&srv->conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
	mbedtls_ssl_conf_max_version(&srv->conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
	mbedtls_ssl_conf_ciphersuites(&srv->conf, ciphersuites);
	mbedtls_ssl_conf_curves(&srv->conf, curves);
	mbedtls_ssl_conf_rng(&srv->conf, mbedtls_ctr_drbg_random, &drbg);
	mbedtls_ssl_conf_renegotiation(&srv->conf, MBEDTLS_SSL_RENEGOTIATION_DISABLED);
	if (mbedtls_ssl_conf_own_cert(&srv->conf, &srv->certs[0].chain, pair_key(&srv->certs[0])) != 0)
		goto fail;
	if ((rc = tb_tls_server_set_resumption(srv, TB_TLS_TICKET_LIFETIME, TB_TLS_SESSION_CACHE,
		     TB_TLS_SESSION_TIMEOUT)) != 0)
		goto fail;
	rc = TB_ERR_CRYPTO;
	mbedtls_ssl_conf_sni(&srv->conf, sni_cb, srv);
	if (srv->alpn.protos[0] &&
		mbedtls_ssl_conf_alpn_protocols(&srv->conf, srv->alpn.protos) != 0)
		goto fail;
	*out = srv;
	return 0;
fail:
	tb_tls_server_free(srv);
	return rc;
}

/* ---- Client ---- */

struct tb_tls_client {
	mbedtls_ssl_config conf;
	mbedtls_x509_crt ca;
	struct alpn_list alpn;
};

void tb_tls_client_free(struct tb_tls_client *cli)
{
	if (!cli)
		return;
	mbedtls_ssl_config_free(&cli->conf);
	mbedtls_x509_crt_free(&cli->ca);
	free(cli->alpn.storage);
	free(cli);
}

int tb_tls_client_new(struct tb_tls_client **out, const char *ca_pem, int insecure,
	const char *const *alpn)
{
	*out = NULL;
	int rc = rng();
	if (rc)
		return rc;
	struct tb_tls_client *cli = calloc(1, sizeof *cli);
	if (!cli)
		return TB_ERR_NOMEM;
	mbedtls_ssl_config_init(&cli->conf);
	mbedtls_x509_crt_init(&cli->ca);
	if ((rc = alpn_copy(&cli->alpn, alpn)) != 0)
		goto fail;
	rc = TB_ERR_CRYPTO;
	if (!insecure) {
		if (ca_pem) {
			struct tb_buf b = TB_BUF(ca_pem, strlen(ca_pem));
			if (parse_chain(&cli->ca, &b) != 0)
				goto fail;
		} else if (mbedtls_x509_crt_parse_file(&cli->ca, SYSTEM_CA_BUNDLE) < 0) {
			goto fail;
		}
	}
	if (mbedtls_ssl_config_defaults(&cli->conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
		    MBEDTLS_SSL_PRESET_DEFAULT) != 0)
		goto fail;
	mbedtls_ssl_conf_min_version(&cli->conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
	mbedtls_ssl_conf_max_version(&cli->conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
	mbedtls_ssl_conf_ciphersuites(&cli->conf, ciphersuites);
	mbedtls_ssl_conf_curves(&cli->conf, curves);
	mbedtls_ssl_conf_rng(&cli->conf, mbedtls_ctr_drbg_random, &drbg);
	/* Tickets: the session a caller keeps (tb_tls_conn_get_session) resumes on any server instance. */
	mbedtls_ssl_conf_session_tickets(&cli->conf, MBEDTLS_SSL_SESSION_TICKETS_ENABLED);
	if (insecure) {
		mbedtls_ssl_conf_authmode(&cli->conf, MBEDTLS_SSL_VERIFY_NONE);
	} else {
		mbedtls_ssl_conf_authmode(&cli->conf, MBEDTLS_SSL_VERIFY_REQUIRED);
		mbedtls_ssl_conf_ca_chain(&cli->conf, &cli->ca, NULL);
	}
	if (cli->alpn.protos[0] &&
		mbedtls_ssl_conf_alpn_protocols(&cli->conf, cli->alpn.protos) != 0)
		goto fail;
	*out = cli;
	return 0;
fail:
	tb_tls_client_free(cli);
	return rc;
}

/* ---- Connections ---- */

static int bio_send(void *arg, const unsigned char *p, size_t n)
{
	struct tb_tls_conn *c = arg;
	if (tb_bytes_append(&c->out, p, n) != 0)
		return MBEDTLS_ERR_SSL_ALLOC_FAILED;
	return (int)n;
}

static int bio_recv(void *arg, unsigned char *p, size_t n)
{
	struct tb_tls_conn *c = arg;
	size_t avail = c->in.len - c->in_off;
	if (avail == 0)
		return MBEDTLS_ERR_SSL_WANT_READ;
	if (n > avail)
		n = avail;
	memcpy(p, c->in.p + c->in_off, n);
	c->in_off += n;
	if (c->in_off == c->in.len)
		c->in_off = c->in.len = 0;
	return (int)n;
}

static int conn_new(struct tb_tls_conn **out, const mbedtls_ssl_config *conf)
{
	struct tb_tls_conn *c = calloc(1, sizeof *c);
	if (!c)
		return TB_ERR_NOMEM;
	mbedtls_ssl_init(&c->ssl);
	if (mbedtls_ssl_setup(&c->ssl, conf) != 0) {
		mbedtls_ssl_free(&c->ssl);
		free(c);
		return TB_ERR_CRYPTO;
	}
	mbedtls_ssl_set_bio(&c->ssl, c, bio_send, bio_recv, NULL);
	*out = c;
	return 0;
}

int tb_tls_conn_new_server(struct tb_tls_conn **out, struct tb_tls_server *srv)
{
	*out = NULL;
	int rc = conn_new(out, &srv->conf);
	if (rc == 0)
		(*out)->srv = srv;
	return rc;
}

int tb_tls_conn_new_client(struct tb_tls_conn **out, struct tb_tls_client *cli,
	const char *server_name)
{
	*out = NULL;
	int rc = conn_new(out, &cli->conf);
	if (rc)
		return rc;
	if (server_name && mbedtls_ssl_set_hostname(&(*out)->ssl, server_name) != 0) {
		tb_tls_conn_free(*out);
		*out = NULL;
		return TB_ERR_INVALID;
	}
	return 0;
}

void tb_tls_conn_free(struct tb_tls_conn *c)
{
	if (!c)
		return;
	mbedtls_ssl_free(&c->ssl);
	tb_bytes_free(&c->in);
	tb_bytes_free(&c->out);
	free(c);
}

struct tb_tls_session {
	mbedtls_ssl_session s;
};

int tb_tls_conn_get_session(const struct tb_tls_conn *c, struct tb_tls_session **out)
{
	*out = NULL;
	if (!c->handshake_done || c->srv)
		return TB_ERR_INVALID;
	struct tb_tls_session *s = calloc(1, sizeof *s);
	if (!s)
		return TB_ERR_NOMEM;
	mbedtls_ssl_session_init(&s->s);
	if (mbedtls_ssl_get_session(&c->ssl, &s->s) != 0) {
		tb_tls_session_free(s);
		return TB_ERR_CRYPTO;
	}
	*out = s;
	return 0;
}

int tb_tls_conn_set_session(struct tb_tls_conn *c, const struct tb_tls_session *s)
{
	return mbedtls_ssl_set_session(&c->ssl, &s->s) == 0 ? 0 : TB_ERR_CRYPTO;
}

void tb_tls_session_free(struct tb_tls_session *s)
{
	if (!s)
		return;
	mbedtls_ssl_session_free(&s->s);
	free(s);
}

int tb_tls_conn_feed(struct tb_tls_conn *c, const uint8_t *p, size_t n)
{
	if (c->in_off > 0) {
		memmove(c->in.p, c->in.p + c->in_off, c->in.len - c->in_off);
		c->in.len -= c->in_off;
		c->in_off = 0;
	}
	if (n > TB_TLS_MAX_INPUT || c->in.len > TB_TLS_MAX_INPUT - n)
		return TB_ERR_TOO_LARGE;
	return tb_bytes_append(&c->in, p, n);
}

static int map_error(int rc)
{
	switch (rc) {
	case MBEDTLS_ERR_X509_CERT_VERIFY_FAILED:
		return TB_ERR_VERIFY;
	case MBEDTLS_ERR_SSL_ALLOC_FAILED:
		return TB_ERR_NOMEM;
	case MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY:
	case MBEDTLS_ERR_SSL_CONN_EOF:
		return -ECONNRESET;
	default:
		return TB_ERR_CRYPTO;
	}
}

int tb_tls_conn_handshake(struct tb_tls_conn *c)
{
	if (c->handshake_done)
		return 0;
	int rc = mbedtls_ssl_handshake(&c->ssl);
	if (rc == 0) {
		c->handshake_done = 1;
		return 0;
	}
	if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE)
		return TB_TLS_WANT;
	if (tb_log_enabled(TB_LOG_DEBUG)) {
		char msg[128];
		mbedtls_strerror(rc, msg, sizeof msg);
		TB_DEBUG("tls", "handshake failed: %s", msg);
	}
	return map_error(rc);
}

int tb_tls_conn_handshake_done(const struct tb_tls_conn *c)
{
	return c->handshake_done;
}

int tb_tls_conn_read(struct tb_tls_conn *c, uint8_t *buf, size_t cap, int *closed)
{
	*closed = 0;
	if (cap > INT32_MAX)
		cap = INT32_MAX;
	int rc = mbedtls_ssl_read(&c->ssl, buf, cap);
	if (rc > 0)
		return rc;
	if (rc == 0 || rc == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY) {
		*closed = 1;
		return 0;
	}
	if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE)
		return 0;
	return map_error(rc);
}

int tb_tls_conn_write(struct tb_tls_conn *c, const uint8_t *p, size_t n)
{
	size_t off = 0;
	while (off < n) {
		int rc = mbedtls_ssl_write(&c->ssl, p + off, n - off);
		if (rc <= 0)
			return rc == 0 ? TB_ERR_IO : map_error(rc);
		off += (size_t)rc;
	}
	return 0;
}

void tb_tls_conn_close_notify(struct tb_tls_conn *c)
{
	mbedtls_ssl_close_notify(&c->ssl);
}

void tb_tls_conn_take_output(struct tb_tls_conn *c, struct tb_bytes *out)
{
	*out = c->out;
	memset(&c->out, 0, sizeof c->out);
}

const char *tb_tls_conn_sni(const struct tb_tls_conn *c)
{
	return c->sni[0] ? c->sni : NULL;
}

const char *tb_tls_conn_alpn(const struct tb_tls_conn *c)
{
	return mbedtls_ssl_get_alpn_protocol(&c->ssl);
}

int tb_tls_conn_peer_has_ip(const struct tb_tls_conn *c, const uint8_t *ip, size_t len)
{
	const mbedtls_x509_crt *crt = mbedtls_ssl_get_peer_cert(&c->ssl);
	if (!crt)
		return 0;
	for (const mbedtls_x509_sequence *s = &crt->subject_alt_names; s && s->buf.p; s = s->next) {
		if (s->buf.tag == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7) && s->buf.len == len &&
			memcmp(s->buf.p, ip, len) == 0)
			return 1;
	}
	return 0;
}

struct tb_buf tb_tls_conn_peer_cert(const struct tb_tls_conn *c)
{
	const mbedtls_x509_crt *crt = mbedtls_ssl_get_peer_cert(&c->ssl);
	if (!crt)
		return TB_BUF(NULL, 0);
	return TB_BUF(crt->raw.p, crt->raw.len);
}
