/*
 * TLS listener and the HTTP client on one loop: certificates generated here
 * (self-signed ECDSA P-256), SNI choosing between them, ALPN, verification
 * against the right and the wrong root, a tls-alpn-01 style certificate with
 * the critical acmeIdentifier extension, and the plain client's errors
 * (timeout, size cap, refused connection), and the dial_check hook (an IP
 * literal and getaddrinfo results refused before any connection).
 */
#include <errno.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecp.h>
#include <mbedtls/entropy.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>

#include "core/error.h"
#include "core/http.h"
#include "core/tls.h"
#include "tb_test.h"

static mbedtls_entropy_context entropy;
static mbedtls_ctr_drbg_context drbg;

struct gen_cert {
	char cert_pem[4096];
	char key_pem[1024];
	uint8_t der[2048];
	size_t der_len;
};

static const char oid_san[] = MBEDTLS_OID_SUBJECT_ALT_NAME;
static const char oid_acme_id[] = "\x2b\x06\x01\x05\x05\x07\x01\x1f";

static int gen(struct gen_cert *g, const char *name, int acme_id)
{
	mbedtls_pk_context key;
	mbedtls_x509write_cert crt;
	mbedtls_mpi serial;
	char subject[128];
	int rc = -1;
	mbedtls_pk_init(&key);
	mbedtls_x509write_crt_init(&crt);
	mbedtls_mpi_init(&serial);
	if (mbedtls_pk_setup(&key, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)) ||
		mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(key), mbedtls_ctr_drbg_random, &drbg))
		goto out;
	snprintf(subject, sizeof subject, "CN=%s", name);
	mbedtls_x509write_crt_set_version(&crt, MBEDTLS_X509_CRT_VERSION_3);
	mbedtls_x509write_crt_set_md_alg(&crt, MBEDTLS_MD_SHA256);
	mbedtls_x509write_crt_set_subject_key(&crt, &key);
	mbedtls_x509write_crt_set_issuer_key(&crt, &key);
	mbedtls_mpi_lset(&serial, 7);
	if (mbedtls_x509write_crt_set_subject_name(&crt, subject) ||
		mbedtls_x509write_crt_set_issuer_name(&crt, subject) ||
		mbedtls_x509write_crt_set_serial(&crt, &serial) ||
		mbedtls_x509write_crt_set_validity(&crt, "20240101000000", "20400101000000"))
		goto out;
	/* subjectAltName: SEQUENCE { [2] name } */
	uint8_t san[300];
	size_t nl = strlen(name);
	san[0] = 0x30;
	san[1] = (uint8_t)(nl + 2);
	san[2] = 0x82;
	san[3] = (uint8_t)nl;
	memcpy(san + 4, name, nl);
	if (mbedtls_x509write_crt_set_extension(&crt, oid_san, sizeof oid_san - 1, 0, san, nl + 4))
		goto out;
	if (acme_id) {
		uint8_t v[34] = { 0x04, 32 };
		memset(v + 2, 0xab, 32);
		if (mbedtls_x509write_crt_set_extension(&crt, oid_acme_id, sizeof oid_acme_id - 1, 1, v, sizeof v))
			goto out;
	}
	if (mbedtls_x509write_crt_pem(&crt, (unsigned char *)g->cert_pem, sizeof g->cert_pem,
		    mbedtls_ctr_drbg_random, &drbg))
		goto out;
	int n = mbedtls_x509write_crt_der(&crt, g->der, sizeof g->der, mbedtls_ctr_drbg_random, &drbg);
	if (n <= 0)
		goto out;
	memmove(g->der, g->der + sizeof g->der - n, (size_t)n);
	g->der_len = (size_t)n;
	if (mbedtls_pk_write_key_pem(&key, (unsigned char *)g->key_pem, sizeof g->key_pem))
		goto out;
	rc = 0;
out:
	mbedtls_pk_free(&key);
	mbedtls_x509write_crt_free(&crt);
	mbedtls_mpi_free(&serial);
	return rc;
}

/* The PEM and DER writers sign separately (ECDSA is randomised): compare by the PEM's DER. */
static int pem_der(const char *pem, uint8_t *out, size_t *len)
{
	mbedtls_x509_crt c;
	mbedtls_x509_crt_init(&c);
	int rc = mbedtls_x509_crt_parse(&c, (const unsigned char *)pem, strlen(pem) + 1);
	if (rc == 0) {
		memcpy(out, c.raw.p, c.raw.len);
		*len = c.raw.len;
	}
	mbedtls_x509_crt_free(&c);
	return rc;
}

static uv_loop_t loop;
static struct tb_http_server *srv;
static struct tb_tls_server *tls;
static struct gen_cert ca, cb, cc;
static uint8_t a_der[2048], b_der[2048];
static size_t a_der_len, b_der_len;
static int tls_port, plain_port;
static int step;
static struct tb_http_request *held;
static int stopped;

/* dial_check: refuses loopback addresses when arg is non-NULL, counts what it was asked. */
static int dial_checks, dial_port, hello_hits;
static int dial_check(const struct sockaddr *sa, void *arg)
{
	dial_checks++;
	if (sa->sa_family == AF_INET) {
		struct sockaddr_in in;
		memcpy(&in, sa, sizeof in);
		dial_port = ntohs(in.sin_port);
	} else if (sa->sa_family == AF_INET6) {
		struct sockaddr_in6 in6;
		memcpy(&in6, sa, sizeof in6);
		dial_port = ntohs(in6.sin6_port);
	}
	return arg ? -EACCES : 0;
}

static int h_hello(struct tb_http_request *req, void *arg)
{
	(void)arg;
	hello_hits++;
	char *s = tb_arena_printf(req->arena, "tls=%d sni=%s alpn=%s body=%.*s", req->tls,
		req->sni ? req->sni : "-", req->alpn ? req->alpn : "-", (int)req->body.len,
		(const char *)req->body.p);
	tb_http_set_header(req, "X-Reply", "yes");
	return tb_http_respond(req, 200, "text/plain", s, strlen(s));
}

static int h_big(struct tb_http_request *req, void *arg)
{
	(void)arg;
	static char big[5000];
	memset(big, 'x', sizeof big);
	return tb_http_respond(req, 200, "text/plain", big, sizeof big);
}

static int h_hang(struct tb_http_request *req, void *arg)
{
	(void)arg;
	held = req;
	return TB_HTTP_LATER;
}

static void next(void);

static void on_stopped(void *arg)
{
	(void)arg;
	stopped = 1;
}

static void on_resp(int err, const struct tb_http_client_resp *resp, void *arg)
{
	(void)arg;
	char url[128];
	switch (step) {
	case 1: /* a.test, right root, ALPN http/1.1 */
		CHECK_INT(err, 0);
		if (!resp)
			break;
		CHECK_INT(resp->status, 200);
		CHECK_MEM(resp->body.p, resp->body.len, "tls=1 sni=a.test alpn=http/1.1 body=ping", 40);
		CHECK_STR(tb_http_client_header(resp, "x-reply"), "yes");
		CHECK_STR(resp->alpn, "http/1.1");
		CHECK_MEM(resp->peer_cert.p, resp->peer_cert.len, a_der, a_der_len);
		break;
	case 2: /* b.test: SNI picks the second certificate */
		CHECK_INT(err, 0);
		if (!resp)
			break;
		CHECK_INT(resp->status, 200);
		CHECK(resp->body.len > 20 && memcmp(resp->body.p, "tls=1 sni=b.test alpn=-", 23) == 0);
		CHECK_MEM(resp->peer_cert.p, resp->peer_cert.len, b_der, b_der_len);
		break;
	case 3: /* a.test against b's root: verification fails */
		CHECK_INT(err, TB_ERR_VERIFY);
		CHECK(resp == NULL);
		break;
	case 4: /* unknown name: default certificate; handshake only with acme-tls/1 */
		CHECK_INT(err, 0);
		if (!resp)
			break;
		CHECK_INT(resp->status, 0);
		CHECK_STR(resp->alpn, "acme-tls/1");
		CHECK_MEM(resp->peer_cert.p, resp->peer_cert.len, a_der, a_der_len);
		break;
	case 5: /* tls-alpn-01 certificate with the critical acmeIdentifier extension */
		CHECK_INT(err, 0);
		if (!resp)
			break;
		CHECK_STR(resp->alpn, "acme-tls/1");
		CHECK_MEM(resp->peer_cert.p, resp->peer_cert.len, cc.der, cc.der_len);
		break;
	case 6: /* plain http, POST */
		CHECK_INT(err, 0);
		if (!resp)
			break;
		CHECK_INT(resp->status, 200);
		CHECK_MEM(resp->body.p, resp->body.len, "tls=0 sni=- alpn=- body=plain", 29);
		break;
	case 7: /* 404 is a response, not an error */
		CHECK_INT(err, 0);
		CHECK(resp && resp->status == 404);
		CHECK(resp && strstr(tb_http_client_header(resp, "content-type"), "problem+json"));
		break;
	case 8:
		CHECK_INT(err, TB_ERR_TOO_LARGE);
		break;
	case 9:
		CHECK_INT(err, TB_ERR_TIMEOUT);
		CHECK(held != NULL);
		if (held)
			tb_http_respond(held, 200, NULL, NULL, 0); /* client gone: frees */
		held = NULL;
		break;
	case 10:
		CHECK_INT(err, -ECONNREFUSED);
		break;
	case 11: /* a name resolved through getaddrinfo */
		CHECK_INT(err, 0);
		CHECK(resp && resp->status == 200);
		break;
	case 12: /* an IP URL needs an iPAddress SAN: a.test's certificate has none */
		CHECK_INT(err, TB_ERR_VERIFY);
		break;
	case 13: /* cancelled right after the start */
		CHECK_INT(err, TB_ERR_CANCELED);
		CHECK(resp == NULL);
		break;
	case 14: /* dial_check refuses the IP literal: its code, no connection */
	case 15: /* ... and every getaddrinfo result of localhost */
		CHECK_INT(err, -EACCES);
		CHECK(resp == NULL);
		CHECK(dial_checks >= 1);
		CHECK_INT(dial_port, plain_port);
		CHECK_INT(hello_hits, 0);
		break;
	case 16: /* dial_check allows: the request goes through */
		CHECK_INT(err, 0);
		CHECK(dial_checks >= 1);
		CHECK_INT(hello_hits, 1);
		break;
	}
	(void)url;
	next();
}

static void next(void)
{
	char url[128];
	struct tb_http_client_req r = { 0 };
	static const char *const alpn_http[] = { "http/1.1", NULL };
	static const char *const alpn_acme[] = { "acme-tls/1", NULL };
	r.timeout_ms = 5000;
	step++;
	switch (step) {
	case 1:
		snprintf(url, sizeof url, "https://a.test:%d/hello", tls_port);
		r.method = "POST";
		r.body = TB_BUF_STR("ping");
		r.connect_address = "127.0.0.1";
		r.ca_pem = ca.cert_pem;
		r.alpn = alpn_http;
		r.want_peer_cert = 1;
		break;
	case 2:
		snprintf(url, sizeof url, "https://b.test:%d/hello", tls_port);
		r.connect_address = "127.0.0.1";
		r.ca_pem = cb.cert_pem;
		r.want_peer_cert = 1;
		break;
	case 3:
		snprintf(url, sizeof url, "https://a.test:%d/hello", tls_port);
		r.connect_address = "127.0.0.1";
		r.ca_pem = cb.cert_pem;
		break;
	case 4:
		snprintf(url, sizeof url, "https://127.0.0.1:%d/", tls_port);
		r.sni = "unknown.test";
		r.insecure = 1;
		r.alpn = alpn_acme;
		r.handshake_only = 1;
		r.want_peer_cert = 1;
		break;
	case 5:
		snprintf(url, sizeof url, "https://c.test:%d/", tls_port);
		r.connect_address = "127.0.0.1";
		r.insecure = 1;
		r.alpn = alpn_acme;
		r.handshake_only = 1;
		r.want_peer_cert = 1;
		break;
	case 6:
		snprintf(url, sizeof url, "http://127.0.0.1:%d/hello", plain_port);
		r.method = "POST";
		r.body = TB_BUF_STR("plain");
		break;
	case 7:
		snprintf(url, sizeof url, "http://127.0.0.1:%d/none", plain_port);
		break;
	case 8:
		snprintf(url, sizeof url, "http://127.0.0.1:%d/big", plain_port);
		r.max_body = 4096;
		break;
	case 9:
		snprintf(url, sizeof url, "http://127.0.0.1:%d/hang", plain_port);
		r.timeout_ms = 200;
		break;
	case 10:
		snprintf(url, sizeof url, "http://127.0.0.1:1/");
		break;
	case 11:
		snprintf(url, sizeof url, "http://localhost:%d/hello", plain_port);
		break;
	case 12:
		snprintf(url, sizeof url, "https://127.0.0.1:%d/hello", tls_port);
		r.ca_pem = ca.cert_pem;
		break;
	case 13: {
		struct tb_http_call *call;
		snprintf(url, sizeof url, "https://localhost:%d/hang", tls_port);
		r.url = url;
		r.insecure = 1;
		CHECK_INT(tb_http_client_start(&loop, &r, on_resp, NULL, &call), 0);
		CHECK(call != NULL);
		tb_http_client_cancel(call); /* runs on_resp, which moves on */
		return;
	}
	case 14:
	case 15:
	case 16:
		snprintf(url, sizeof url, "http://%s:%d/hello", step == 15 ? "localhost" : "127.0.0.1", plain_port);
		r.dial_check = dial_check;
		r.dial_check_arg = step == 16 ? NULL : (void *)&loop;
		dial_checks = dial_port = hello_hits = 0;
		break;
	default:
		tb_http_server_stop(srv, on_stopped, NULL);
		return;
	}
	r.url = url;
	int rc = tb_http_client_request(&loop, &r, on_resp, NULL);
	CHECK_INT(rc, 0);
	if (rc)
		next();
}

int main(void)
{
	mbedtls_entropy_init(&entropy);
	mbedtls_ctr_drbg_init(&drbg);
	mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy, NULL, 0);
	CHECK_INT(gen(&ca, "a.test", 0), 0);
	CHECK_INT(gen(&cb, "b.test", 0), 0);
	CHECK_INT(gen(&cc, "c.test", 1), 0);
	CHECK_INT(pem_der(ca.cert_pem, a_der, &a_der_len), 0);
	CHECK_INT(pem_der(cb.cert_pem, b_der, &b_der_len), 0);

	static const char *const alpn[] = { "http/1.1", "acme-tls/1", NULL };
	struct tb_tls_cert certs[3] = {
		{ TB_BUF(ca.cert_pem, strlen(ca.cert_pem)), TB_BUF(ca.key_pem, strlen(ca.key_pem)) },
		/* PEM with the terminating NUL counted works as well. */
		{ TB_BUF(cb.cert_pem, strlen(cb.cert_pem) + 1), TB_BUF(cb.key_pem, strlen(cb.key_pem) + 1) },
		{ TB_BUF(cc.der, cc.der_len), TB_BUF(cc.key_pem, strlen(cc.key_pem)) },
	};
	CHECK_INT(tb_tls_server_new(&tls, certs, 3, alpn), 0);
	struct tb_tls_server *bad;
	struct tb_tls_cert junk = { TB_BUF_STR("not a cert"), TB_BUF_STR("not a key") };
	CHECK_INT(tb_tls_server_new(&bad, &junk, 1, NULL), TB_ERR_CRYPTO);
	/* Resumption limits: a cache without a timeout would never expire and is refused. */
	CHECK_INT(tb_tls_server_set_resumption(tls, 3600, 16, 0), TB_ERR_INVALID);
	CHECK_INT(tb_tls_server_set_resumption(tls, 0, 0, 0), 0);
	CHECK_INT(tb_tls_server_set_resumption(tls, TB_TLS_TICKET_LIFETIME, TB_TLS_SESSION_CACHE,
			  TB_TLS_SESSION_TIMEOUT), 0);

	uv_loop_init(&loop);
	CHECK_INT(tb_http_server_new(&srv, &loop, NULL), 0);
	CHECK_INT(tb_http_listen(srv, "https", "127.0.0.1", 0, tls), 0);
	CHECK_INT(tb_http_listen(srv, "http", "127.0.0.1", 0, NULL), 0);
	tls_port = tb_http_listener_port(srv, "https");
	plain_port = tb_http_listener_port(srv, "http");
	static const struct tb_http_route_def routes[] = {
		{ NULL, "/hello", h_hello, 0 },
		{ "GET", "/big", h_big, 0 },
		{ "GET", "/hang", h_hang, 0 },
	};
	static const struct tb_http_table table = TB_HTTP_TABLE(routes, NULL);
	CHECK_INT(tb_http_mount(srv, NULL, "/", &table, NULL), 0);

	next();
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK(stopped);
	CHECK_INT(step, 17);
	tb_http_server_free(srv);
	tb_tls_server_free(tls);
	CHECK_INT(uv_loop_close(&loop), 0);
	mbedtls_ctr_drbg_free(&drbg);
	mbedtls_entropy_free(&entropy);
	return tb_test_result("core_tls");
}
