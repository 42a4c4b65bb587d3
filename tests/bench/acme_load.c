/*
 * ACME load generator: the whole issuance flow (account, newOrder, authz,
 * http-01 challenge, poll, finalize with a CSR, certificate download), C
 * workers at a time, each on its own keep-alive HTTPS connection, with ONE
 * http-01 responder of its own on the port the CA validates against: the
 * CA really fetches every key authorization. Built on the project's core
 * library (JWS signatures, keys and CSR signatures through core/crypto.h,
 * TLS through core/tls.h), so the client's ECDSA costs what the server's
 * does and the generator is not the bottleneck.
 *
 * Every certificate is checked before it counts: the chain parses, the
 * leaf's issuer is the intermediate, the leaf's signature verifies under
 * the intermediate's key (which itself verified under the root once), the
 * leaf carries the requested name, the CSR's public key and an SCT list
 * (the lab CT log); every check_every-th one also gets mbedTLS's full path
 * validation to the root (validity, name, path). Any failure ends the run
 * with exit status 1, so a failure can never be counted as an issuance.
 *
 *   acme_load DIRECTORY_URL ROOT_PEM HTTP01_PORT N C [check_every]
 *
 * Threads with blocking sockets, one per worker: simple, and the per-worker
 * cost is a few context switches per request, far below the request's
 * own work. Prints the bench line tests/bench/acme.sh reads.
 *
 * One file past the usual size on purpose: a self-contained benchmark tool
 * (responder, HTTPS exchange, JWS, flow, checks), read and built alone.
 */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <mbedtls/oid.h>
#include <mbedtls/x509_crt.h>
#include <mbedtls/x509_csr.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/ca.h"
#include "core/crypto.h"
#include "core/tls.h"

/* ---- run parameters and shared state ------------------------------------ */

static char host_port[128]; /* "127.0.0.1:port" of the CA */
static char https_prefix[160]; /* "https://127.0.0.1:port" */
static struct sockaddr_in ca_addr;
static char *root_pem;
static struct tb_tls_client *tls_client;
static char *url_nonce, *url_account, *url_order;
static int n_total, n_workers, check_every = 16;
static atomic_int next_issuance, done_issuances, full_checks, http01_served, n_requests, n_polls;
static double *latencies;
/* Summed wall time of each phase over all issuances, for the mean per phase. */
enum { PH_ORDER, PH_VALIDATE, PH_FINALIZE, PH_DOWNLOAD, PH_N };
static const char *const phase_names[PH_N] = { "newOrder+authz", "challenge+poll (http-01)",
						"finalize (+precertificate, SCT)", "download+check" };
static double phase_sum[PH_N];
static pthread_mutex_t lat_lock = PTHREAD_MUTEX_INITIALIZER;

static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "acme_load: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(1);
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* ---- the shared http-01 table: token -> key authorization ---------------- */

#define TOK_BUCKETS 4096
struct tok {
	struct tok *next;
	char *token, *keyauth;
};
static struct tok *tok_table[TOK_BUCKETS];
static pthread_mutex_t tok_lock = PTHREAD_MUTEX_INITIALIZER;

static unsigned tok_hash(const char *s, size_t n)
{
	unsigned h = 2166136261u;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 16777619u;
	return h % TOK_BUCKETS;
}

static void tok_put(const char *token, const char *keyauth)
{
	struct tok *t = calloc(1, sizeof *t);
	if (!t || !(t->token = strdup(token)) || !(t->keyauth = strdup(keyauth)))
		die("out of memory");
	unsigned h = tok_hash(token, strlen(token));
	pthread_mutex_lock(&tok_lock);
	t->next = tok_table[h];
	tok_table[h] = t;
	pthread_mutex_unlock(&tok_lock);
}

static void tok_del(const char *token)
{
	unsigned h = tok_hash(token, strlen(token));
	pthread_mutex_lock(&tok_lock);
	for (struct tok **pp = &tok_table[h]; *pp; pp = &(*pp)->next) {
		if (strcmp((*pp)->token, token) == 0) {
			struct tok *t = *pp;
			*pp = t->next;
			free(t->token);
			free(t->keyauth);
			free(t);
			break;
		}
	}
	pthread_mutex_unlock(&tok_lock);
}

/* Copies the key authorization of token (n bytes) into out; 0 when found. */
static int tok_get(const char *token, size_t n, char *out, size_t cap)
{
	int rc = -1;
	unsigned h = tok_hash(token, n);
	pthread_mutex_lock(&tok_lock);
	for (struct tok *t = tok_table[h]; t; t = t->next) {
		if (strlen(t->token) == n && memcmp(t->token, token, n) == 0 && strlen(t->keyauth) < cap) {
			strcpy(out, t->keyauth);
			rc = 0;
			break;
		}
	}
	pthread_mutex_unlock(&tok_lock);
	return rc;
}

/* ---- the http-01 responder: a few threads accepting on one socket -------- */

static int http01_fd;

static void *responder(void *arg)
{
	(void)arg;
	static const char prefix[] = "GET /.well-known/acme-challenge/";
	for (;;) {
		int fd = accept(http01_fd, NULL, NULL);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return NULL;
		}
		struct timeval tv = { 5, 0 };
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
		char req[4096], body[512], resp[1024];
		size_t len = 0;
		while (len < sizeof req - 1) {
			ssize_t r = recv(fd, req + len, sizeof req - 1 - len, 0);
			if (r <= 0)
				break;
			len += (size_t)r;
			req[len] = 0;
			if (strstr(req, "\r\n\r\n"))
				break;
		}
		req[len] = 0;
		int found = -1;
		if (strncmp(req, prefix, sizeof prefix - 1) == 0) {
			const char *tk = req + sizeof prefix - 1;
			size_t n = strcspn(tk, " ?\r\n");
			found = tok_get(tk, n, body, sizeof body);
		}
		int m;
		if (found == 0) {
			m = snprintf(resp, sizeof resp, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
				     "Content-Length: %zu\r\nConnection: close\r\n\r\n%s", strlen(body), body);
			atomic_fetch_add(&http01_served, 1);
		} else {
			m = snprintf(resp, sizeof resp, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n"
				     "Connection: close\r\n\r\n");
		}
		for (int off = 0; off < m;) {
			ssize_t w = send(fd, resp + off, (size_t)(m - off), MSG_NOSIGNAL);
			if (w <= 0)
				break;
			off += (int)w;
		}
		close(fd);
	}
}

static void start_responder(int port)
{
	http01_fd = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	setsockopt(http01_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(http01_fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(http01_fd, 1024) != 0)
		die("http-01 responder: cannot listen on 127.0.0.1:%d: %s", port, strerror(errno));
	for (int i = 0; i < 4; i++) {
		pthread_t t;
		if (pthread_create(&t, NULL, responder, NULL) != 0)
			die("pthread_create");
		pthread_detach(t);
	}
}

/* ---- HTTPS over a blocking socket ---------------------------------------- */

struct conn {
	int fd;
	struct tb_tls_conn *tls;
	struct tb_bytes in; /* plaintext received and not consumed */
};

struct resp {
	int status;
	struct tb_bytes head; /* status line and headers, NUL-terminated */
	struct tb_bytes body; /* NUL-terminated */
};

static int flush_out(struct conn *c)
{
	struct tb_bytes out = { 0 };
	tb_tls_conn_take_output(c->tls, &out);
	for (size_t off = 0; off < out.len;) {
		ssize_t w = send(c->fd, out.p + off, out.len - off, MSG_NOSIGNAL);
		if (w <= 0) {
			tb_bytes_free(&out);
			return -1;
		}
		off += (size_t)w;
	}
	tb_bytes_free(&out);
	return 0;
}

static int recv_feed(struct conn *c)
{
	uint8_t buf[16384];
	ssize_t r = recv(c->fd, buf, sizeof buf, 0);
	if (r <= 0)
		return -1;
	return tb_tls_conn_feed(c->tls, buf, (size_t)r) == 0 ? 0 : -1;
}

static void conn_close(struct conn *c)
{
	if (c->tls)
		tb_tls_conn_free(c->tls);
	if (c->fd >= 0)
		close(c->fd);
	c->tls = NULL;
	c->fd = -1;
	c->in.len = 0;
}

static int conn_open(struct conn *c)
{
	c->fd = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	struct timeval tv = { 30, 0 };
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	if (connect(c->fd, (struct sockaddr *)&ca_addr, sizeof ca_addr) != 0)
		return -1;
	/* The listener's certificate names localhost (mbedTLS 2.28 cannot check an IP SAN). */
	if (tb_tls_conn_new_client(&c->tls, tls_client, "localhost") != 0)
		return -1;
	for (;;) {
		int rc = tb_tls_conn_handshake(c->tls);
		if (flush_out(c) != 0)
			return -1;
		if (rc == 0)
			return 0;
		if (rc != TB_TLS_WANT || recv_feed(c) != 0)
			return -1;
	}
}

/* Reads plaintext until at least want bytes are buffered. */
static int fill(struct conn *c, size_t want)
{
	while (c->in.len < want) {
		uint8_t buf[16384];
		int closed = 0;
		int n = tb_tls_conn_read(c->tls, buf, sizeof buf, &closed);
		if (n > 0) {
			if (tb_bytes_append(&c->in, buf, (size_t)n) != 0)
				return -1;
			continue;
		}
		if (n < 0 || closed || flush_out(c) != 0 || recv_feed(c) != 0)
			return -1;
	}
	return 0;
}

static const char *find_crlf2(const struct tb_bytes *b)
{
	return b->len >= 4 ? memmem(b->p, b->len, "\r\n\r\n", 4) : NULL;
}

/* First header value (case-insensitive name) copied to out; 0 when present. */
static int header(const struct resp *r, const char *name, char *out, size_t cap)
{
	size_t nl = strlen(name);
	for (const char *p = (const char *)r->head.p; (p = strstr(p, "\r\n")); ) {
		p += 2;
		if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
			p += nl + 1;
			while (*p == ' ')
				p++;
			size_t n = strcspn(p, "\r\n");
			if (n >= cap)
				return -1;
			memcpy(out, p, n);
			out[n] = 0;
			return 0;
		}
	}
	return -1;
}

static int exchange(struct conn *c, const char *method, const char *url, const char *body,
		    struct resp *r)
{
	const char *path = url;
	if (strncmp(url, https_prefix, strlen(https_prefix)) == 0)
		path = url + strlen(https_prefix);
	if (c->fd < 0 && conn_open(c) != 0)
		return -1;
	struct tb_bytes req = { 0 };
	size_t blen = body ? strlen(body) : 0;
	tb_bytes_printf(&req, "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: trustbox-acme-load\r\n", method,
			path, host_port);
	if (body)
		tb_bytes_printf(&req, "Content-Type: application/jose+json\r\nContent-Length: %zu\r\n", blen);
	tb_bytes_printf(&req, "\r\n");
	if (body)
		tb_bytes_append(&req, body, blen);
	int rc = tb_tls_conn_write(c->tls, req.p, req.len);
	tb_bytes_free(&req);
	if (rc != 0 || flush_out(c) != 0)
		return -1;
	const char *end;
	while (!(end = find_crlf2(&c->in)))
		if (fill(c, c->in.len + 1) != 0)
			return -1;
	size_t hlen = (size_t)(end - (const char *)c->in.p) + 4;
	r->head.len = 0;
	r->body.len = 0;
	tb_bytes_append(&r->head, c->in.p, hlen);
	tb_bytes_u8(&r->head, 0);
	r->head.len--;
	if (sscanf((const char *)r->head.p, "HTTP/1.%*d %d", &r->status) != 1)
		return -1;
	char cl[32];
	size_t clen = 0;
	if (header(r, "Content-Length", cl, sizeof cl) == 0)
		clen = strtoul(cl, NULL, 10);
	else if (strcmp(method, "HEAD") != 0 && r->status != 204 && r->status != 304)
		die("%s %s: response without Content-Length", method, path);
	if (strcmp(method, "HEAD") == 0)
		clen = 0;
	if (fill(c, hlen + clen) != 0)
		return -1;
	tb_bytes_append(&r->body, c->in.p + hlen, clen);
	tb_bytes_u8(&r->body, 0);
	r->body.len--;
	memmove(c->in.p, c->in.p + hlen + clen, c->in.len - hlen - clen);
	c->in.len -= hlen + clen;
	char connection[32];
	if (header(r, "Connection", connection, sizeof connection) == 0 && strcasecmp(connection, "close") == 0)
		conn_close(c);
	return 0;
}

/* One exchange, reconnecting once when the server had closed the keep-alive connection. */
static void request(struct conn *c, const char *method, const char *url, const char *body, struct resp *r)
{
	atomic_fetch_add(&n_requests, 1);
	if (exchange(c, method, url, body, r) == 0)
		return;
	conn_close(c);
	if (exchange(c, method, url, body, r) != 0)
		die("%s %s: connection failed", method, url);
}

/* ---- JWS ----------------------------------------------------------------- */

struct account {
	struct tb_pkey *key;
	char jwk[256];
	char thumbprint[64];
	char kid[256];
	char nonce[128];
	struct conn c;
	struct resp r;
};

static void b64u(struct tb_bytes *out, const void *p, size_t n)
{
	if (tb_base64url_encode(out, p, n) != 0)
		die("base64url");
}

static void account_init(struct account *a)
{
	uint8_t pt[65], d[32];
	if (tb_pkey_generate_ec(TB_CURVE_P256, &a->key) != 0 ||
	    tb_pkey_ec_public_point(a->key, pt, sizeof pt) != 0)
		die("account key");
	struct tb_bytes x = { 0 }, y = { 0 }, t = { 0 };
	b64u(&x, pt + 1, 32);
	b64u(&y, pt + 33, 32);
	/* Members in lexicographic order without spaces: also the RFC 7638 thumbprint input. */
	snprintf(a->jwk, sizeof a->jwk, "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"%.*s\",\"y\":\"%.*s\"}",
		 (int)x.len, (char *)x.p, (int)y.len, (char *)y.p);
	tb_sha256(TB_BUF(a->jwk, strlen(a->jwk)), d);
	b64u(&t, d, sizeof d);
	snprintf(a->thumbprint, sizeof a->thumbprint, "%.*s", (int)t.len, (char *)t.p);
	tb_bytes_free(&x);
	tb_bytes_free(&y);
	tb_bytes_free(&t);
	a->c.fd = -1;
}

/* POST (payload NULL: POST-as-GET) signed with the account key; retries badNonce. */
static void post(struct account *a, const char *url, const char *payload)
{
	for (int attempt = 0; attempt < 5; attempt++) {
		if (!a->nonce[0]) {
			request(&a->c, "HEAD", url_nonce, NULL, &a->r);
			if (header(&a->r, "Replay-Nonce", a->nonce, sizeof a->nonce) != 0)
				die("newNonce: no Replay-Nonce");
		}
		struct tb_bytes prot = { 0 }, body = { 0 }, sig = { 0 };
		tb_bytes_printf(&prot, "{\"alg\":\"ES256\",\"nonce\":\"%s\",\"url\":\"%s\",", a->nonce, url);
		if (a->kid[0])
			tb_bytes_printf(&prot, "\"kid\":\"%s\"}", a->kid);
		else
			tb_bytes_printf(&prot, "\"jwk\":%s}", a->jwk);
		a->nonce[0] = 0;
		/* signing input: b64u(protected) "." b64u(payload) */
		b64u(&body, prot.p, prot.len);
		size_t p64 = body.len;
		tb_bytes_u8(&body, '.');
		if (payload)
			b64u(&body, payload, strlen(payload));
		uint8_t d[32];
		tb_sha256(tb_bytes_buf(&body), d);
		if (tb_pkey_sign_raw(a->key, TB_HASH_SHA256, d, &sig) != 0)
			die("sign");
		struct tb_bytes jws = { 0 };
		tb_bytes_printf(&jws, "{\"protected\":\"%.*s\",\"payload\":\"%.*s\",\"signature\":\"", (int)p64,
				(char *)body.p, (int)(body.len - p64 - 1), (char *)body.p + p64 + 1);
		b64u(&jws, sig.p, sig.len);
		tb_bytes_printf(&jws, "\"}");
		tb_bytes_u8(&jws, 0);
		request(&a->c, "POST", url, (const char *)jws.p, &a->r);
		tb_bytes_free(&prot);
		tb_bytes_free(&body);
		tb_bytes_free(&sig);
		tb_bytes_free(&jws);
		header(&a->r, "Replay-Nonce", a->nonce, sizeof a->nonce);
		if (!(a->r.status == 400 && strstr((const char *)a->r.body.p, "badNonce")))
			return;
	}
	die("POST %s: badNonce five times", url);
}

static cJSON *json_of(struct account *a, const char *what, int want_status)
{
	if (a->r.status != want_status)
		die("%s: HTTP %d %.300s", what, a->r.status, (char *)a->r.body.p);
	cJSON *j = cJSON_ParseWithLength((const char *)a->r.body.p, a->r.body.len);
	if (!j)
		die("%s: not JSON", what);
	return j;
}

static const char *jstr(const cJSON *j, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, name);
	return cJSON_IsString(v) ? v->valuestring : "";
}

/*
 * POST-as-GET url until its status is one of the two; returns that JSON.
 * first_ms, then every_ms between polls: much sooner than the server's
 * Retry-After (3 s), which a client issuing at this rate cannot afford; each
 * poll costs the server a JWS verification, so the schedule fits the waits:
 * an http-01 fetch (a few ms, more under load) or one CT sequencing period.
 */
static cJSON *poll(struct account *a, const char *url, const char *want1, const char *want2, int first_ms,
		   int every_ms)
{
	double t0 = now();
	sleep_ms(first_ms);
	for (int i = 0;; i++) {
		atomic_fetch_add(&n_polls, 1);
		post(a, url, NULL);
		cJSON *j = json_of(a, "poll", 200);
		const char *st = jstr(j, "status");
		if (strcmp(st, want1) == 0 || strcmp(st, want2) == 0)
			return j;
		cJSON_Delete(j);
		if (now() - t0 > 30)
			die("poll %s: still %s after 30 s", url, st);
		sleep_ms(every_ms);
	}
}

/* ---- CSR and certificate checks ------------------------------------------ */

static void make_csr(const char *name, struct tb_pkey **key, struct tb_bytes *der)
{
	if (tb_pkey_generate_ec(TB_CURVE_P256, key) != 0)
		die("CSR key");
	struct tb_bytes san = { 0 };
	const char *names[1] = { name };
	if (tb_der_san(&san, names, 1) != 0)
		die("SAN");
	mbedtls_x509write_csr w;
	mbedtls_x509write_csr_init(&w);
	mbedtls_x509write_csr_set_key(&w, tb_pkey_mbedtls(*key));
	mbedtls_x509write_csr_set_md_alg(&w, MBEDTLS_MD_SHA256);
	char subject[300];
	snprintf(subject, sizeof subject, "CN=%s", name);
	unsigned char buf[2048];
	int err = mbedtls_x509write_csr_set_subject_name(&w, subject);
	err |= mbedtls_x509write_csr_set_extension(&w, MBEDTLS_OID_SUBJECT_ALT_NAME,
						   MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME), san.p, san.len);
	int n = err ? -1 : mbedtls_x509write_csr_der(&w, buf, sizeof buf, tb_crypto_mbedtls_rng, NULL);
	mbedtls_x509write_csr_free(&w);
	tb_bytes_free(&san);
	if (n <= 0)
		die("CSR");
	/* mbedtls writes at the end of the buffer */
	tb_bytes_append(der, buf + sizeof buf - n, (size_t)n);
}

/* The intermediate, verified under the root once, and its key for the leaves. */
static pthread_mutex_t inter_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tb_bytes inter_der;
static struct tb_pkey *inter_key;
static mbedtls_x509_crt root_crt;

static const struct tb_pkey *intermediate(const mbedtls_x509_crt *inter)
{
	pthread_mutex_lock(&inter_lock);
	if (!inter_key) {
		uint32_t flags = 0;
		if (mbedtls_x509_crt_verify((mbedtls_x509_crt *)inter, &root_crt, NULL, NULL, &flags, NULL,
					    NULL) != 0)
			die("the intermediate does not verify under the root (flags %#x)", flags);
		if (tb_pkey_from_mbedtls_public(&inter->pk, &inter_key) != 0)
			die("intermediate key");
		tb_bytes_append(&inter_der, inter->raw.p, inter->raw.len);
	}
	pthread_mutex_unlock(&inter_lock);
	if (inter->raw.len != inter_der.len || memcmp(inter->raw.p, inter_der.p, inter_der.len) != 0)
		die("the chain's intermediate changed");
	return inter_key;
}

static const uint8_t sct_list_oid[] = { 0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0xd6, 0x79, 0x02, 0x04, 0x02 };

static void check_cert(const char *pem, size_t len, const char *name, struct tb_pkey *csr_key, int full)
{
	mbedtls_x509_crt chain;
	mbedtls_x509_crt_init(&chain);
	struct tb_bytes z = { 0 };
	tb_bytes_append(&z, pem, len);
	tb_bytes_u8(&z, 0);
	if (mbedtls_x509_crt_parse(&chain, z.p, z.len) != 0 || !chain.next)
		die("%s: the certificate chain does not parse", name);
	tb_bytes_free(&z);
	const mbedtls_x509_crt *leaf = &chain, *inter = chain.next;
	if (leaf->issuer_raw.len != inter->subject_raw.len ||
	    memcmp(leaf->issuer_raw.p, inter->subject_raw.p, leaf->issuer_raw.len) != 0)
		die("%s: the leaf's issuer is not the intermediate", name);
	const struct tb_pkey *ik = intermediate(inter);
	enum tb_hash_alg alg = leaf->sig_md == MBEDTLS_MD_SHA384 ? TB_HASH_SHA384 : TB_HASH_SHA256;
	uint8_t d[TB_HASH_MAX_LEN];
	tb_hash(alg, TB_BUF(leaf->tbs.p, leaf->tbs.len), d);
	if (tb_pkey_verify(ik, alg, d, TB_BUF(leaf->sig.p, leaf->sig.len)) != 0)
		die("%s: the leaf's signature does not verify under the intermediate", name);
	/* the requested name, the CSR's key, the SCT list */
	int named = 0;
	for (const mbedtls_x509_sequence *s = &leaf->subject_alt_names; s && s->buf.p; s = s->next)
		if (s->buf.len == strlen(name) && memcmp(s->buf.p, name, s->buf.len) == 0)
			named = 1;
	if (!named)
		die("%s: not in the certificate's subjectAltName", name);
	struct tb_bytes want = { 0 };
	tb_pkey_write_spki_der(csr_key, &want);
	unsigned char spki[512];
	int n = mbedtls_pk_write_pubkey_der((mbedtls_pk_context *)&leaf->pk, spki, sizeof spki);
	if (n <= 0 || (size_t)n != want.len || memcmp(spki + sizeof spki - n, want.p, want.len) != 0)
		die("%s: the certificate's key is not the CSR's", name);
	tb_bytes_free(&want);
	if (!memmem(leaf->v3_ext.p, leaf->v3_ext.len, sct_list_oid, sizeof sct_list_oid))
		die("%s: no SCT list (is the lab CT log on?)", name);
	if (full) {
		uint32_t flags = 0;
		if (mbedtls_x509_crt_verify(&chain, &root_crt, NULL, name, &flags, NULL, NULL) != 0)
			die("%s: path validation to the root failed (flags %#x)", name, flags);
		atomic_fetch_add(&full_checks, 1);
	}
	mbedtls_x509_crt_free(&chain);
}

/* ---- one worker ---------------------------------------------------------- */

static void issue(struct account *a, int w, int i)
{
	double ph[PH_N] = { 0 }, t = now(), t1;
	char name[128], token[128], keyauth[256];
	snprintf(name, sizeof name, "w%d-%d.lab.test", w, i);
	char payload[400];
	snprintf(payload, sizeof payload, "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"%s\"}]}", name);
	post(a, url_order, payload);
	cJSON *order = json_of(a, "newOrder", 201);
	char order_url[512];
	if (header(&a->r, "Location", order_url, sizeof order_url) != 0)
		die("newOrder: no Location");
	const cJSON *az;
	cJSON_ArrayForEach(az, cJSON_GetObjectItemCaseSensitive(order, "authorizations")) {
		post(a, az->valuestring, NULL);
		cJSON *authz = json_of(a, "authz", 200);
		ph[PH_ORDER] += (t1 = now()) - t;
		t = t1;
		if (strcmp(jstr(authz, "status"), "valid") != 0) {
			const cJSON *ch, *http01 = NULL;
			cJSON_ArrayForEach(ch, cJSON_GetObjectItemCaseSensitive(authz, "challenges"))
				if (strcmp(jstr(ch, "type"), "http-01") == 0)
					http01 = ch;
			if (!http01)
				die("%s: no http-01 challenge", name);
			snprintf(token, sizeof token, "%s", jstr(http01, "token"));
			snprintf(keyauth, sizeof keyauth, "%s.%s", token, a->thumbprint);
			tok_put(token, keyauth);
			post(a, jstr(http01, "url"), "{}");
			cJSON_Delete(json_of(a, "challenge", 200));
			cJSON *done = poll(a, az->valuestring, "valid", "invalid", 20, 20);
			if (strcmp(jstr(done, "status"), "valid") != 0)
				die("%s: authorization invalid: %.300s", name, (char *)a->r.body.p);
			cJSON_Delete(done);
			tok_del(token);
		}
		cJSON_Delete(authz);
		ph[PH_VALIDATE] += (t1 = now()) - t;
		t = t1;
	}
	struct tb_pkey *csr_key;
	struct tb_bytes csr = { 0 }, csr64 = { 0 }, fin = { 0 };
	make_csr(name, &csr_key, &csr);
	b64u(&csr64, csr.p, csr.len);
	tb_bytes_printf(&fin, "{\"csr\":\"%.*s\"}", (int)csr64.len, (char *)csr64.p);
	tb_bytes_u8(&fin, 0);
	post(a, jstr(order, "finalize"), (const char *)fin.p);
	cJSON *o = json_of(a, "finalize", 200);
	if (strcmp(jstr(o, "status"), "valid") != 0) {
		cJSON_Delete(o);
		o = poll(a, order_url, "valid", "invalid", 100, 50);
	}
	if (strcmp(jstr(o, "status"), "valid") != 0)
		die("%s: order not valid: %.300s", name, (char *)a->r.body.p);
	ph[PH_FINALIZE] += (t1 = now()) - t;
	t = t1;
	post(a, jstr(o, "certificate"), NULL);
	char ctype[80];
	if (a->r.status != 200 || header(&a->r, "Content-Type", ctype, sizeof ctype) != 0 ||
	    strcmp(ctype, "application/pem-certificate-chain") != 0)
		die("%s: certificate download: HTTP %d", name, a->r.status);
	int k = atomic_fetch_add(&done_issuances, 1);
	check_cert((const char *)a->r.body.p, a->r.body.len, name, csr_key, check_every > 0 && k % check_every == 0);
	tb_pkey_free(csr_key);
	tb_bytes_free(&csr);
	tb_bytes_free(&csr64);
	tb_bytes_free(&fin);
	cJSON_Delete(o);
	cJSON_Delete(order);
	ph[PH_DOWNLOAD] += now() - t;
	pthread_mutex_lock(&lat_lock);
	for (int k = 0; k < PH_N; k++)
		phase_sum[k] += ph[k];
	pthread_mutex_unlock(&lat_lock);
}

static struct account *accounts;
static pthread_barrier_t ready;

static void *worker(void *arg)
{
	int w = (int)(intptr_t)arg;
	struct account *a = &accounts[w];
	pthread_barrier_wait(&ready);
	for (;;) {
		int i = atomic_fetch_add(&next_issuance, 1);
		if (i >= n_total)
			break;
		double t0 = now();
		issue(a, w, i);
		double dt = now() - t0;
		pthread_mutex_lock(&lat_lock);
		latencies[i] = dt;
		pthread_mutex_unlock(&lat_lock);
	}
	return NULL;
}

/* Accounts are created first (as the other clients of this benchmark do), in parallel. */
static void *make_account(void *arg)
{
	struct account *a = arg;
	account_init(a);
	post(a, url_account, "{\"termsOfServiceAgreed\":true,\"contact\":[\"mailto:bench@lab.test\"]}");
	if (a->r.status != 201 && a->r.status != 200)
		die("newAccount: HTTP %d %.300s", a->r.status, (char *)a->r.body.p);
	if (header(&a->r, "Location", a->kid, sizeof a->kid) != 0)
		die("newAccount: no Location");
	return NULL;
}

static int cmp_double(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;
	return a < b ? -1 : a > b;
}

/* CPU seconds (user + system) of another process, from /proc; -1 when unreadable. */
static double proc_cpu(const char *pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%s/stat", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	/* fields 14 and 15 (utime, stime) follow the ")" that ends the command name */
	const char *p = strrchr(buf, ')');
	unsigned long ut, st;
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* The loop thread's (the main thread's) time on a CPU and waiting in the run queue, in seconds. */
static int proc_sched(const char *pid, double *run, double *wait)
{
	char path[96];
	snprintf(path, sizeof path, "/proc/%s/task/%s/schedstat", pid, pid);
	FILE *f = fopen(path, "r");
	unsigned long long r, w;
	int ok = f && fscanf(f, "%llu %llu", &r, &w) == 2;
	if (f)
		fclose(f);
	*run = ok ? (double)r * 1e-9 : 0;
	*wait = ok ? (double)w * 1e-9 : 0;
	return ok ? 0 : -1;
}

static double cpu_seconds(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

int main(int argc, char **argv)
{
	if (argc < 6)
		die("usage: acme_load DIRECTORY_URL ROOT_PEM HTTP01_PORT N C [check_every]");
	const char *dir_url = argv[1];
	int port;
	char path[256];
	if (sscanf(dir_url, "https://127.0.0.1:%d%255s", &port, path) != 2)
		die("the directory URL must be https://127.0.0.1:PORT/...");
	snprintf(host_port, sizeof host_port, "127.0.0.1:%d", port);
	snprintf(https_prefix, sizeof https_prefix, "https://%s", host_port);
	ca_addr.sin_family = AF_INET;
	ca_addr.sin_port = htons((uint16_t)port);
	ca_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	struct tb_bytes rootb = { 0 };
	if (tb_read_file(argv[2], 1 << 20, &rootb) != 0)
		die("cannot read %s", argv[2]);
	root_pem = tb_bytes_cstr(&rootb);
	mbedtls_x509_crt_init(&root_crt);
	if (mbedtls_x509_crt_parse(&root_crt, (const unsigned char *)root_pem, strlen(root_pem) + 1) != 0)
		die("root PEM does not parse");
	int http01_port = atoi(argv[3]);
	n_total = atoi(argv[4]);
	n_workers = atoi(argv[5]);
	if (argc > 6)
		check_every = atoi(argv[6]);
	if (n_total < 1 || n_workers < 1 || n_workers > 4096)
		die("N and C must be positive (C at most 4096)");
	if (tb_crypto_init() != 0 || tb_tls_client_new(&tls_client, root_pem, 0, NULL) != 0)
		die("TLS client");
	start_responder(http01_port);

	/* the directory */
	struct account *d = calloc(1, sizeof *d);
	d->c.fd = -1;
	request(&d->c, "GET", dir_url, NULL, &d->r);
	cJSON *dir = json_of(d, "directory", 200);
	url_nonce = strdup(jstr(dir, "newNonce"));
	url_account = strdup(jstr(dir, "newAccount"));
	url_order = strdup(jstr(dir, "newOrder"));
	cJSON_Delete(dir);

	accounts = calloc((size_t)n_workers, sizeof *accounts);
	latencies = calloc((size_t)n_total, sizeof *latencies);
	pthread_t *th = calloc((size_t)n_workers, sizeof *th);
	if (!accounts || !latencies || !th)
		die("out of memory");
	for (int w = 0; w < n_workers; w++)
		if (pthread_create(&th[w], NULL, make_account, &accounts[w]) != 0)
			die("pthread_create");
	for (int w = 0; w < n_workers; w++)
		pthread_join(th[w], NULL);

	pthread_barrier_init(&ready, NULL, (unsigned)n_workers + 1);
	for (int w = 0; w < n_workers; w++)
		if (pthread_create(&th[w], NULL, worker, (void *)(intptr_t)w) != 0)
			die("pthread_create");
	/* The server's CPU over the issuances alone (accounts excluded), when its pid is given. */
	const char *server_pid = getenv("ACME_LOAD_SERVER_PID");
	double scpu0 = server_pid ? proc_cpu(server_pid) : -1;
	double run0 = 0, wait0 = 0, run1 = 0, wait1 = 0;
	int sched = server_pid && proc_sched(server_pid, &run0, &wait0) == 0;
	atomic_store(&n_requests, 0);
	double cpu0 = cpu_seconds();
	double t0 = now();
	pthread_barrier_wait(&ready);
	for (int w = 0; w < n_workers; w++)
		pthread_join(th[w], NULL);
	double dt = now() - t0, cpu = cpu_seconds() - cpu0;
	double scpu = server_pid ? proc_cpu(server_pid) - scpu0 : -1;
	sched = sched && proc_sched(server_pid, &run1, &wait1) == 0;
	qsort(latencies, (size_t)n_total, sizeof *latencies, cmp_double);
#define PCT(p) (1000 * latencies[(size_t)((p) * n_total) < (size_t)n_total ? (size_t)((p) * n_total) : (size_t)n_total - 1])
	printf("bench: %d issuances, %d workers, %.2f s: %.1f issuances/s; latency p50 %.0f ms, p90 %.0f ms, "
	       "p99 %.0f ms\n", n_total, n_workers, dt, n_total / dt, PCT(0.5), PCT(0.9), PCT(0.99));
	printf("http-01: %d key authorizations fetched by the CA from this generator's responder\n",
	       atomic_load(&http01_served));
	printf("certificates: %d checked (chain to the root, name, CSR key, SCT list); %d also with full "
	       "path validation\n", atomic_load(&done_issuances), atomic_load(&full_checks));
	printf("requests: %.1f per issuance (%.1f of them polls)\n", (double)atomic_load(&n_requests) / n_total,
	       (double)atomic_load(&n_polls) / n_total);
	printf("mean per phase:");
	for (int k = 0; k < PH_N; k++)
		printf("%s %s %.1f ms", k ? "," : "", phase_names[k], 1000 * phase_sum[k] / n_total);
	printf("\n");
	if (scpu0 >= 0 && scpu >= 0)
		printf("server CPU: %.1f ms per issuance\n", 1000 * scpu / n_total);
	/* How busy the server's event loop was, and how long it waited for a core others held. */
	if (sched)
		printf("server loop thread: on a CPU %.0f%% of the run, waiting for one %.0f%%\n",
		       100 * (run1 - run0) / dt, 100 * (wait1 - wait0) / dt);
	printf("client CPU: %.1f ms per issuance (load generator, its http-01 responder included)\n",
	       1000 * cpu / n_total);
	if (atomic_load(&http01_served) < n_total)
		die("fewer http-01 fetches than issuances");
	for (int w = 0; w < n_workers; w++) {
		conn_close(&accounts[w].c);
		tb_bytes_free(&accounts[w].c.in);
		tb_bytes_free(&accounts[w].r.head);
		tb_bytes_free(&accounts[w].r.body);
		tb_pkey_free(accounts[w].key);
	}
	conn_close(&d->c);
	tb_bytes_free(&d->c.in);
	tb_bytes_free(&d->r.head);
	tb_bytes_free(&d->r.body);
	free(d);
	free(accounts);
	free(latencies);
	free(th);
	free(url_nonce);
	free(url_account);
	free(url_order);
	tb_pkey_free(inter_key);
	tb_bytes_free(&inter_der);
	mbedtls_x509_crt_free(&root_crt);
	tb_tls_client_free(tls_client);
	tb_bytes_free(&rootb);
	return 0;
}
