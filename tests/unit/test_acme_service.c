/*
 * The ACME service in-process: the acme subsystem on a real loop, store,
 * CA and HTTP server (one plain listener on 127.0.0.1, port chosen by the
 * kernel), driven by core's HTTP client with JWS requests signed here.
 * Covers the directory, newNonce, newAccount, newOrder, an order read
 * back, every route of the route table (the account's orders, keyChange,
 * renewalInfo), the 404/405 answers of the router as problem documents
 * with a Replay-Nonce and the index link, and malformed requests; then
 * that a refused request leaves the store exactly as it was (account
 * update, RNG failures in newAccount and newOrder, a rate-limited
 * finalize); that ARI `replaces` exempts from rate limits only an order
 * sharing an identifier with the replaced certificate; and that the CRL
 * is served from a cache re-signed after a revocation.
 */
#include <mbedtls/oid.h>
#include <mbedtls/x509_crl.h>
#include <mbedtls/x509_crt.h>
#include <mbedtls/x509_csr.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <unistd.h>
#include <uv.h>

#include "acme/acme.h"
#include "core/ca.h"
#include "core/config.h"
#include "core/crypto.h"
#include "core/error.h"
#include "core/http.h"
#include "core/services.h"
#include "core/store.h"
#include "core/subsystem.h"
#include "tb_test.h"
#include "tb_test_subsystem.h"

extern const struct tb_subsystem acme_subsystem;
void acme_test_fail_random(unsigned nth); /* acme/svc.h */

static uv_loop_t loop;
static struct tb_core core;
static struct tb_services services;
static void *state;
static int port;
static char base[64];
static char nonce[128];

/* ---- HTTP ---- */

struct resp {
	int done, err, status;
	struct tb_bytes body;
	char location[512], allow[64], retry_after[32], content_type[64], link[512];
	int has_nonce;
};

static void copy_header(const struct tb_http_client_resp *r, const char *name, char *out, size_t n)
{
	const char *v = tb_http_client_header(r, name);
	snprintf(out, n, "%s", v ? v : "");
}

static void on_resp(int err, const struct tb_http_client_resp *r, void *arg)
{
	struct resp *o = arg;
	o->done = 1;
	o->err = err;
	if (err)
		return;
	o->status = r->status;
	tb_bytes_append(&o->body, r->body.p, r->body.len);
	copy_header(r, "Location", o->location, sizeof o->location);
	copy_header(r, "Allow", o->allow, sizeof o->allow);
	copy_header(r, "Retry-After", o->retry_after, sizeof o->retry_after);
	copy_header(r, "Content-Type", o->content_type, sizeof o->content_type);
	copy_header(r, "Link", o->link, sizeof o->link);
	const char *nn = tb_http_client_header(r, "Replay-Nonce");
	o->has_nonce = nn && strlen(nn) == ACME_NONCE_LEN;
	if (nn)
		snprintf(nonce, sizeof nonce, "%s", nn);
}

/* One request; returns the status (0 on a transport error). The body stays in o (free with resp_free). */
static int http(const char *method, const char *path, const char *body, struct resp *o)
{
	memset(o, 0, sizeof *o);
	char url[600];
	snprintf(url, sizeof url, "%s%s", base, path);
	struct tb_http_header h[1] = { { "Content-Type", "application/jose+json" } };
	struct tb_http_client_req rq = {
		.method = method,
		.url = url,
		.headers = h,
		.n_headers = body ? 1 : 0,
		.body = body ? TB_BUF(body, strlen(body)) : TB_BUF(NULL, 0),
		.timeout_ms = 10000,
	};
	if (tb_http_client_request(&loop, &rq, on_resp, o))
		return 0;
	for (int i = 0; i < 100000 && !o->done; i++)
		uv_run(&loop, UV_RUN_ONCE);
	tb_bytes_u8(&o->body, 0);
	o->body.len--;
	return o->err ? 0 : o->status;
}

static void resp_free(struct resp *o)
{
	tb_bytes_free(&o->body);
}

static cJSON *resp_json(struct resp *o)
{
	return cJSON_ParseWithLength((const char *)o->body.p, o->body.len);
}

/* The problem type of a problem document answer ("" when none). */
static const char *prob_type(struct resp *o)
{
	static char t[128];
	t[0] = 0;
	cJSON *j = resp_json(o);
	const cJSON *ty = cJSON_GetObjectItemCaseSensitive(j, "type");
	if (cJSON_IsString(ty))
		snprintf(t, sizeof t, "%s", ty->valuestring);
	cJSON_Delete(j);
	return t;
}

/* ---- JWS ---- */

static char *b64u(const void *p, size_t n)
{
	struct tb_bytes b = { 0 };
	tb_base64url_encode(&b, p, n);
	return tb_bytes_cstr(&b);
}

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
	va_list ap;
	va_start(ap, f);
	char *s = NULL;
	if (vasprintf(&s, f, ap) < 0)
		s = NULL;
	va_end(ap);
	return s;
}

static char *jwk_of(struct tb_pkey *k)
{
	uint8_t pt[TB_EC_MAX_POINT_LEN];
	CHECK_INT(tb_pkey_ec_public_point(k, pt, tb_curve_point_len(TB_CURVE_P256)), 0);
	char *x = b64u(pt + 1, 32), *y = b64u(pt + 33, 32);
	char *s = fmt("{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}", x, y);
	free(x), free(y);
	return s;
}

/*
 * An ES256 flattened JWS to base+path: with kid, or with the jwk when kid is
 * NULL; payload NULL = POST-as-GET; without a nonce when inner (keyChange).
 */
static char *jws_ex(struct tb_pkey *k, const char *kid, const char *path, const char *payload, int inner)
{
	char *key = kid ? fmt("\"kid\":\"%s\"", kid) : NULL;
	if (!kid) {
		char *j = jwk_of(k);
		key = fmt("\"jwk\":%s", j);
		free(j);
	}
	char *nn = inner ? strdup("") : fmt(",\"nonce\":\"%s\"", nonce);
	char *prot = fmt("{\"alg\":\"ES256\",%s%s,\"url\":\"%s%s\"}", key, nn, base, path);
	free(nn);
	char *pb = b64u(prot, strlen(prot)), *plb = b64u(payload ? payload : "", payload ? strlen(payload) : 0);
	char *si = fmt("%s.%s", pb, plb);
	uint8_t d[32];
	tb_sha256(TB_BUF(si, strlen(si)), d);
	struct tb_bytes sig = { 0 };
	tb_pkey_sign_raw(k, TB_HASH_SHA256, d, &sig);
	char *sb = b64u(sig.p, sig.len);
	char *body = fmt("{\"protected\":\"%s\",\"payload\":\"%s\",\"signature\":\"%s\"}", pb, plb, sb);
	free(key), free(prot), free(pb), free(plb), free(si), free(sb);
	tb_bytes_free(&sig);
	return body;
}

static char *jws(struct tb_pkey *k, const char *kid, const char *path, const char *payload)
{
	return jws_ex(k, kid, path, payload, 0);
}

static void fresh_nonce(void)
{
	struct resp o;
	CHECK_INT(http("HEAD", "/acme/new-nonce", NULL, &o), 200);
	resp_free(&o);
}

/* A signed POST (a fresh nonce first); returns the status. */
static int post(struct tb_pkey *k, const char *kid, const char *path, const char *payload, struct resp *o)
{
	fresh_nonce();
	char *b = jws(k, kid, path, payload);
	int st = http("POST", path, b, o);
	free(b);
	return st;
}

/* ---- the service ---- */

static int boot(const char *lua)
{
	char err[256] = "";
	int rc = tb_test_configure(&acme_subsystem, &core, &loop, lua, err, sizeof err);
	if (!rc)
		rc = tb_http_listen(core.http, "t", "127.0.0.1", 0, NULL);
	if (!rc) {
		port = tb_http_listener_port(core.http, "t");
		snprintf(base, sizeof base, "http://127.0.0.1:%d", port);
		rc = tb_test_start(&acme_subsystem, &core, &state, err, sizeof err);
	}
	if (rc)
		fprintf(stderr, "boot: %s %s\n", err, tb_strerror(rc));
	return rc;
}

static void shutdown_all(void)
{
	CHECK(tb_test_stop(&acme_subsystem, &core, &loop, &state, 10000));
}

/* ---- the store ---- */

static void flushed(int status, void *arg)
{
	*(int *)arg = 1;
}

static int nothing(sqlite3 *db, void *arg)
{
	return 0;
}

/* Waits until every job queued so far is committed (the writer runs them in order). */
static void flush_store(void)
{
	int done = 0;
	CHECK_INT(tb_store_write(core.store, nothing, flushed, &done), 0);
	for (int i = 0; i < 100000 && !done; i++)
		uv_run(&loop, UV_RUN_ONCE);
}

/* Every row of every acme_* table, as text (malloc'd). */
static char *store_dump(void)
{
	static const char *const tables[] = { "acme_accounts", "acme_orders", "acme_authzs", "acme_order_authzs",
		"acme_challenges", "acme_certificates", "acme_rate_buckets" };
	flush_store();
	struct tb_bytes out = { 0 };
	sqlite3 *db = tb_store_reader(core.store);
	for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++) {
		char sql[128];
		snprintf(sql, sizeof sql, "SELECT * FROM %s ORDER BY 1, 2", tables[t]);
		sqlite3_stmt *st = NULL;
		CHECK_INT(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
		tb_bytes_printf(&out, "%s:\n", tables[t]);
		while (st && sqlite3_step(st) == SQLITE_ROW) {
			for (int i = 0; i < sqlite3_column_count(st); i++) {
				const unsigned char *v = sqlite3_column_text(st, i);
				tb_bytes_printf(&out, "%s|", v ? (const char *)v : "NULL");
			}
			tb_bytes_printf(&out, "\n");
		}
		sqlite3_finalize(st);
	}
	return tb_bytes_cstr(&out);
}

static int count(const char *sql)
{
	sqlite3_stmt *st = NULL;
	int n = -1;
	if (sqlite3_prepare_v2(tb_store_reader(core.store), sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return n;
}

static void test_directory_and_nonce(void)
{
	struct resp o;
	CHECK_INT(http("GET", "/dir", NULL, &o), 200);
	cJSON *d = resp_json(&o);
	char want[128];
	snprintf(want, sizeof want, "%s/acme/new-order", base);
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(d, "newOrder")), want);
	snprintf(want, sizeof want, "%s/acme/new-nonce", base);
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(d, "newNonce")), want);
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(d, "meta");
	CHECK(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(m, "profiles"), "classic") != NULL);
	cJSON_Delete(d);
	resp_free(&o);

	nonce[0] = 0;
	CHECK_INT(http("GET", "/acme/new-nonce", NULL, &o), 204);
	CHECK_INT(strlen(nonce), ACME_NONCE_LEN);
	resp_free(&o);
	CHECK_INT(http("DELETE", "/acme/new-nonce", NULL, &o), 405);
	CHECK_STR(o.allow, "GET, HEAD, POST");
	CHECK_STR(o.content_type, ACME_PROBLEM_CONTENT_TYPE);
	resp_free(&o);
	CHECK_INT(http("GET", "/acme/new-order", NULL, &o), 405);
	CHECK_STR(o.allow, "POST");
	resp_free(&o);
	CHECK_INT(http("POST", "/dir", "", &o), 200);
	CHECK(strstr((const char *)o.body.p, "newOrder") != NULL);
	resp_free(&o);
}

/* A 404 or 405 of the route tables: an ACME problem document (malformed) with a nonce and the index link. */
static void check_route_error(const char *method, const char *path, int status, const char *allow)
{
	struct resp o;
	char link[128];
	snprintf(link, sizeof link, "<%s/dir>;rel=\"index\"", base);
	CHECK_INT(http(method, path, strcmp(method, "POST") == 0 ? "{}" : NULL, &o), status);
	if (o.status != status)
		fprintf(stderr, "  %s %s\n", method, path);
	CHECK_STR(o.allow, allow);
	CHECK_STR(o.content_type, ACME_PROBLEM_CONTENT_TYPE);
	if (strcmp(method, "HEAD") != 0)
		CHECK_STR(prob_type(&o), "urn:ietf:params:acme:error:malformed");
	CHECK(o.has_nonce);
	CHECK_STR(o.link, link);
	resp_free(&o);
}

static void test_route_errors(void)
{
	/* 405 with the methods of the resource */
	check_route_error("DELETE", "/dir", 405, "GET, HEAD, POST");
	check_route_error("PUT", "/acme/new-nonce", 405, "GET, HEAD, POST");
	check_route_error("GET", "/acme/new-account", 405, "POST");
	check_route_error("GET", "/acme/acct/AAAAAAAAAAAAAAAA", 405, "POST");
	check_route_error("GET", "/acme/acct/AAAAAAAAAAAAAAAA/orders", 405, "POST");
	check_route_error("GET", "/acme/key-change", 405, "POST");
	check_route_error("GET", "/acme/order/AAAAAAAAAAAAAAAA", 405, "POST");
	check_route_error("GET", "/acme/order/AAAAAAAAAAAAAAAA/finalize", 405, "POST");
	check_route_error("HEAD", "/acme/order/AAAAAAAAAAAAAAAA/finalize", 405, "POST");
	check_route_error("PUT", "/acme/authz/AAAAAAAAAAAAAAAA", 405, "POST");
	check_route_error("GET", "/acme/chall/AAAAAAAAAAAAAAAA", 405, "POST");
	check_route_error("GET", "/acme/cert/0123abcd", 405, "POST");
	check_route_error("GET", "/acme/revoke-cert", 405, "POST");
	check_route_error("POST", "/acme/renewal-info/x.y", 405, "GET, HEAD");
	check_route_error("POST", "/acme/crl", 405, "GET, HEAD");
	/* 404: no such path under the prefix or the directory, or a malformed object id */
	check_route_error("POST", "/acme/no-such-thing", 404, "");
	check_route_error("GET", "/acme/no-such-thing", 404, "");
	check_route_error("GET", "/acme", 404, "");
	check_route_error("GET", "/acme/", 404, "");
	check_route_error("POST", "/acme/order/AAAAAAAAAAAAAAAA/finalize/x", 404, "");
	check_route_error("POST", "/acme/order/AAAAAAAAAAAAAAAA/", 404, "");
	check_route_error("POST", "/acme/order/not.an.id/finalize", 404, "");
	check_route_error("POST", "/acme/acct/not.an.id", 404, "");
	check_route_error("POST", "/acme/renewal-info/", 404, "");
	check_route_error("GET", "/dir/x", 404, "");
	check_route_error("GET", "/dir/", 404, "");
}

/* Creates an account for k; returns its URL (kid), malloc'd. */
static char *new_account(struct tb_pkey *k)
{
	struct resp o;
	CHECK_INT(post(k, NULL, "/acme/new-account", "{\"termsOfServiceAgreed\":true,\"contact\":[\"mailto:a@lab.test\"]}",
		&o), 201);
	cJSON *a = resp_json(&o);
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(a, "status")), "valid");
	cJSON_Delete(a);
	char *kid = strdup(o.location);
	CHECK(strncmp(kid, base, strlen(base)) == 0 && strstr(kid, "/acme/acct/") != NULL);
	resp_free(&o);
	/* the same key again: the same account, 200 */
	CHECK_INT(post(k, NULL, "/acme/new-account", "{\"termsOfServiceAgreed\":true}", &o), 200);
	CHECK_STR(o.location, kid);
	resp_free(&o);
	return kid;
}

static void test_account_and_order(struct tb_pkey *k)
{
	char *kid = new_account(k);
	struct resp o;
	const char *path = kid + strlen(base);
	CHECK_INT(post(k, kid, path, NULL, &o), 200);
	resp_free(&o);

	/* newOrder: two names, sorted and deduplicated, one authorization each */
	CHECK_INT(post(k, kid, "/acme/new-order", "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"b.lab.test\"},"
		"{\"type\":\"dns\",\"value\":\"a.lab.test\"},{\"type\":\"dns\",\"value\":\"b.lab.test\"}]}", &o), 201);
	cJSON *ord = resp_json(&o);
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ord, "status")), "pending");
	CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(ord, "authorizations")), 2);
	const cJSON *ids = cJSON_GetObjectItemCaseSensitive(ord, "identifiers");
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(ids, 0), "value")), "a.lab.test");
	char *order_url = strdup(o.location);
	cJSON_Delete(ord);
	resp_free(&o);

	/* the order read back (POST-as-GET) */
	CHECK_INT(post(k, kid, order_url + strlen(base), NULL, &o), 200);
	ord = resp_json(&o);
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ord, "status")), "pending");
	const cJSON *az = cJSON_GetObjectItemCaseSensitive(ord, "authorizations");
	char *authz_url = strdup(cJSON_GetStringValue(cJSON_GetArrayItem(az, 0)));
	cJSON_Delete(ord);
	resp_free(&o);

	/* its authorization: pending, three challenges with one token */
	CHECK_INT(post(k, kid, authz_url + strlen(base), NULL, &o), 200);
	cJSON *z = resp_json(&o);
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(z, "identifier"),
		"value")), "a.lab.test");
	CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(z, "challenges")), 3);
	cJSON_Delete(z);
	resp_free(&o);

	/* the account's orders (POST-as-GET) */
	char *orders_path = fmt("%s/orders", path);
	CHECK_INT(post(k, kid, orders_path, NULL, &o), 200);
	cJSON *list = resp_json(&o);
	const cJSON *first = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(list, "orders"), 0);
	CHECK_STR(cJSON_GetStringValue(first), order_url);
	cJSON_Delete(list);
	resp_free(&o);
	free(orders_path);

	/* newNonce by POST-as-GET: 200 with a fresh nonce; with a payload it is refused */
	char *old_nonce = strdup(nonce);
	CHECK_INT(post(k, kid, "/acme/new-nonce", NULL, &o), 200);
	CHECK(o.has_nonce && strcmp(nonce, old_nonce) != 0);
	resp_free(&o);
	CHECK_INT(post(k, kid, "/acme/new-nonce", "{}", &o), 400);
	CHECK_STR(prob_type(&o), "urn:ietf:params:acme:error:malformed");
	resp_free(&o);
	free(old_nonce);

	/* error paths */
	CHECK_INT(post(k, kid, "/acme/new-order", "{\"identifiers\":[]}", &o), 400);
	CHECK_STR(prob_type(&o), "urn:ietf:params:acme:error:malformed");
	resp_free(&o);
	CHECK_INT(post(k, kid, "/acme/new-order", "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"-bad-.lab.test\"}]}", &o), 400);
	CHECK_STR(prob_type(&o), "urn:ietf:params:acme:error:rejectedIdentifier");
	resp_free(&o);
	/* another account's order is not found */
	struct tb_pkey *k2 = NULL;
	tb_pkey_generate_ec(TB_CURVE_P256, &k2);
	char *kid2 = new_account(k2);
	CHECK_INT(post(k2, kid2, order_url + strlen(base), NULL, &o), 404);
	resp_free(&o);
	/* a replayed nonce */
	fresh_nonce();
	char *b = jws(k, kid, "/acme/new-order", "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"c.lab.test\"}]}");
	CHECK_INT(http("POST", "/acme/new-order", b, &o), 201);
	resp_free(&o);
	CHECK_INT(http("POST", "/acme/new-order", b, &o), 400);
	CHECK_STR(prob_type(&o), "urn:ietf:params:acme:error:badNonce");
	resp_free(&o);
	free(b);
	/* a url that is not the request's */
	fresh_nonce();
	b = jws(k, kid, "/acme/new-account", "{}");
	CHECK_INT(http("POST", "/acme/new-order", b, &o), 403);
	CHECK_STR(prob_type(&o), "urn:ietf:params:acme:error:unauthorized");
	resp_free(&o);
	free(b);
	/* an unknown kid */
	char *ghost = fmt("%s/acme/acct/AAAAAAAAAAAAAAAA", base);
	CHECK_INT(post(k, ghost, "/acme/new-order", "{\"identifiers\":[]}", &o), 400);
	CHECK_STR(prob_type(&o), "urn:ietf:params:acme:error:accountDoesNotExist");
	resp_free(&o);
	/* not JOSE */
	fresh_nonce();
	CHECK_INT(http("POST", "/acme/new-order", "{}", &o), 400);
	resp_free(&o);

	tb_pkey_free(k2);
	free(ghost), free(kid2), free(authz_url), free(order_url), free(kid);
}

/* keyChange (RFC 8555 7.3.5): the account then belongs to the new key. */
static void test_key_change(void)
{
	struct tb_pkey *old = NULL, *nk = NULL;
	CHECK_INT(tb_pkey_generate_ec(TB_CURVE_P256, &old), 0);
	CHECK_INT(tb_pkey_generate_ec(TB_CURVE_P256, &nk), 0);
	char *kid = new_account(old);
	char *old_jwk = jwk_of(old);
	char *inner_payload = fmt("{\"account\":\"%s\",\"oldKey\":%s}", kid, old_jwk);
	char *inner = jws_ex(nk, NULL, "/acme/key-change", inner_payload, 1);
	struct resp o;
	CHECK_INT(post(old, kid, "/acme/key-change", inner, &o), 200);
	resp_free(&o);
	CHECK_INT(post(nk, NULL, "/acme/new-account", "{\"termsOfServiceAgreed\":true}", &o), 200);
	CHECK_STR(o.location, kid);
	resp_free(&o);
	CHECK_INT(post(nk, kid, kid + strlen(base), NULL, &o), 200);
	resp_free(&o);
	free(inner), free(inner_payload), free(old_jwk), free(kid);
	tb_pkey_free(nk);
	tb_pkey_free(old);
}

/* ---- refused requests change nothing ---- */

#define CHECK_UNCHANGED(before)                                                                 \
	do {                                                                                     \
		char *after_ = store_dump();                                                     \
		CHECK_STR(after_, before);                                                       \
		free(after_);                                                                    \
	} while (0)

static void test_refused_changes_nothing(void)
{
	struct tb_pkey *k = NULL;
	tb_pkey_generate_ec(TB_CURVE_P256, &k);
	char *kid = new_account(k);
	const char *path = kid + strlen(base);
	struct resp o;

	/* deactivation with an invalid contact: 400, and the account is still valid */
	char *before = store_dump();
	CHECK_INT(post(k, kid, path, "{\"status\":\"deactivated\",\"contact\":[\"tel:+1555\"]}", &o), 400);
	CHECK_STR(prob_type(&o), "urn:ietf:params:acme:error:unsupportedContact");
	resp_free(&o);
	CHECK_UNCHANGED(before);
	CHECK_INT(post(k, kid, path, "{\"status\":\"deactivated\",\"contact\":[\"mailto:@x\"]}", &o), 400);
	resp_free(&o);
	CHECK_UNCHANGED(before);
	CHECK_INT(post(k, kid, path, NULL, &o), 200);
	cJSON *a = resp_json(&o);
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(a, "status")), "valid");
	cJSON_Delete(a);
	resp_free(&o);
	CHECK_INT(post(k, kid, path, "{\"status\":\"bogus\",\"contact\":[\"mailto:b@lab.test\"]}", &o), 400);
	resp_free(&o);
	CHECK_UNCHANGED(before);

	/* newAccount whose id cannot be drawn: the new-accounts-per-IP token stays */
	struct tb_pkey *k2 = NULL;
	tb_pkey_generate_ec(TB_CURVE_P256, &k2);
	acme_test_fail_random(1);
	CHECK_INT(post(k2, NULL, "/acme/new-account", "{\"termsOfServiceAgreed\":true}", &o), 500);
	CHECK_STR(prob_type(&o), "urn:ietf:params:acme:error:serverInternal");
	resp_free(&o);
	CHECK_UNCHANGED(before);

	/* newOrder: the order id, an authorization id, a challenge id (the 1st, 2nd, 4th draw) */
	static const unsigned nth[] = { 1, 2, 4, 7 };
	for (size_t i = 0; i < sizeof nth / sizeof nth[0]; i++) {
		acme_test_fail_random(nth[i]);
		CHECK_INT(post(k, kid, "/acme/new-order", "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"r1.lab.test\"},"
			"{\"type\":\"dns\",\"value\":\"r2.lab.test\"}]}", &o), 500);
		resp_free(&o);
		CHECK_UNCHANGED(before);
	}
	acme_test_fail_random(0);
	CHECK_INT(post(k, kid, "/acme/new-order", "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"r1.lab.test\"}]}", &o), 201);
	resp_free(&o);
	free(before);
	tb_pkey_free(k2);
	tb_pkey_free(k);
	free(kid);
}

/* ---- issuance ---- */

static char *get_str(struct resp *o, const char *name)
{
	cJSON *j = resp_json(o);
	const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, name));
	char *out = v ? strdup(v) : NULL;
	cJSON_Delete(j);
	return out;
}

/* A CSR for names (dNSNames), CN the first, as base64url. */
static char *csr_for(const char *const *names, size_t n)
{
	struct tb_pkey *key = NULL;
	tb_pkey_generate_ec(TB_CURVE_P256, &key);
	mbedtls_x509write_csr w;
	mbedtls_x509write_csr_init(&w);
	mbedtls_x509write_csr_set_key(&w, tb_pkey_mbedtls(key));
	mbedtls_x509write_csr_set_md_alg(&w, MBEDTLS_MD_SHA256);
	char cn[300];
	snprintf(cn, sizeof cn, "CN=%s", names[0]);
	CHECK_INT(mbedtls_x509write_csr_set_subject_name(&w, cn), 0);
	struct tb_bytes san = { 0 };
	CHECK_INT(tb_der_san(&san, names, n), 0);
	CHECK_INT(mbedtls_x509write_csr_set_extension(&w, MBEDTLS_OID_SUBJECT_ALT_NAME,
		MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME), san.p, san.len), 0);
	static unsigned char buf[4096];
	int len = mbedtls_x509write_csr_der(&w, buf, sizeof buf, tb_crypto_mbedtls_rng, NULL);
	CHECK(len > 0);
	char *out = b64u(buf + sizeof buf - len, len > 0 ? (size_t)len : 0);
	mbedtls_x509write_csr_free(&w);
	tb_bytes_free(&san);
	tb_pkey_free(key);
	return out;
}

/* newOrder for names, every authorization validated (lab_always_valid); the order URL, or NULL. */
static char *ready_order(struct tb_pkey *k, const char *kid, const char *const *names, size_t n, const char *replaces,
	int *status)
{
	struct tb_bytes pl = { 0 };
	tb_bytes_printf(&pl, "{\"identifiers\":[");
	for (size_t i = 0; i < n; i++)
		tb_bytes_printf(&pl, "%s{\"type\":\"dns\",\"value\":\"%s\"}", i ? "," : "", names[i]);
	tb_bytes_printf(&pl, "]");
	if (replaces)
		tb_bytes_printf(&pl, ",\"replaces\":\"%s\"", replaces);
	tb_bytes_printf(&pl, "}");
	struct resp o;
	*status = post(k, kid, "/acme/new-order", tb_bytes_cstr(&pl), &o);
	tb_bytes_free(&pl);
	if (*status != 201) {
		resp_free(&o);
		return NULL;
	}
	char *order_url = strdup(o.location);
	cJSON *ord = resp_json(&o);
	resp_free(&o);
	const cJSON *az;
	cJSON_ArrayForEach(az, cJSON_GetObjectItemCaseSensitive(ord, "authorizations")) {
		CHECK_INT(post(k, kid, az->valuestring + strlen(base), NULL, &o), 200);
		cJSON *z = resp_json(&o);
		resp_free(&o);
		const cJSON *c;
		cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(z, "challenges")) {
			const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "type"));
			const char *url = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "url"));
			if (type && url && strcmp(type, "http-01") == 0 &&
				strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(z, "status")), "pending") == 0) {
				CHECK_INT(post(k, kid, url + strlen(base), "{}", &o), 200);
				resp_free(&o);
			}
		}
		cJSON_Delete(z);
	}
	cJSON_Delete(ord);
	char *st = NULL;
	for (int i = 0; i < 200; i++) {
		free(st);
		CHECK_INT(post(k, kid, order_url + strlen(base), NULL, &o), 200);
		st = get_str(&o, "status");
		resp_free(&o);
		if (st && strcmp(st, "pending") != 0)
			break;
		usleep(10000);
	}
	CHECK_STR(st, "ready");
	free(st);
	return order_url;
}

/* Finalizes a ready order; returns the finalize status, the PEM chain in *pem when issued. */
static int finalize(struct tb_pkey *k, const char *kid, const char *order_url, const char *const *names, size_t n,
	char **pem)
{
	struct resp o;
	char *csr = csr_for(names, n);
	char *pl = fmt("{\"csr\":\"%s\"}", csr);
	char *fin = fmt("%s/finalize", order_url + strlen(base));
	int st = post(k, kid, fin, pl, &o);
	free(csr), free(pl), free(fin);
	*pem = NULL;
	if (st != 200) {
		resp_free(&o);
		return st;
	}
	char *status = get_str(&o, "status"), *cert = get_str(&o, "certificate");
	resp_free(&o);
	CHECK_STR(status, "valid");
	if (cert) {
		CHECK_INT(post(k, kid, cert + strlen(base), NULL, &o), 200);
		*pem = strdup((const char *)o.body.p);
		resp_free(&o);
	}
	free(status), free(cert);
	return st;
}

/* The leaf of a PEM chain: its DER (base64url, malloc'd) and ARI CertID. */
static void leaf_of(const char *pem, char **der_b64, char certid[ACME_ARI_MAX_CERT_ID + 1], char serial_hex[64])
{
	mbedtls_x509_crt crt;
	mbedtls_x509_crt_init(&crt);
	CHECK_INT(mbedtls_x509_crt_parse(&crt, (const unsigned char *)pem, strlen(pem) + 1), 0);
	*der_b64 = b64u(crt.raw.p, crt.raw.len);
	struct acme_cert_id id;
	CHECK_INT(acme_ari_cert_id_from_der(crt.raw.p, crt.raw.len, &id), 0);
	CHECK_INT(acme_ari_cert_id_format(&id, certid, ACME_ARI_MAX_CERT_ID + 1), 0);
	serial_hex[0] = 0;
	for (size_t i = 0; i < id.serial_len && i < 31; i++)
		snprintf(serial_hex + 2 * i, 3, "%02x", id.serial[i]);
	mbedtls_x509_crt_free(&crt);
}

/* GET crl: the DER in out. */
static void get_crl(struct tb_bytes *out)
{
	struct resp o;
	CHECK_INT(http("GET", "/acme/crl", NULL, &o), 200);
	CHECK_STR(o.content_type, "application/pkix-crl");
	out->len = 0;
	tb_bytes_append(out, o.body.p, o.body.len);
	resp_free(&o);
}

/* Nonzero when the DER CRL lists the serial (hex). */
static int crl_lists(const struct tb_bytes *der, const char *serial_hex)
{
	mbedtls_x509_crl crl;
	mbedtls_x509_crl_init(&crl);
	int found = 0;
	CHECK_INT(mbedtls_x509_crl_parse_der(&crl, der->p, der->len), 0);
	for (const mbedtls_x509_crl_entry *e = &crl.entry; e && e->serial.len; e = e->next) {
		char h[64] = "";
		for (size_t i = 0; i < e->serial.len && i < 31; i++)
			snprintf(h + 2 * i, 3, "%02x", e->serial.p[i]);
		found |= strcmp(h, serial_hex) == 0;
	}
	mbedtls_x509_crl_free(&crl);
	return found;
}

/*
 * With new_orders_per_account_per_hour = 3 and certificates_per_domain_per_week = 1:
 * ARI `replaces` exempts only a related order; a rate-limited finalize gives back
 * the tokens of the names before the refused one; the CRL is cached until a revocation.
 */
static void test_issuance(void)
{
	struct tb_pkey *k = NULL;
	tb_pkey_generate_ec(TB_CURVE_P256, &k);
	char *kid = new_account(k);
	struct resp o;
	int st;

	/* the CRL: the same bytes twice, a second apart (thisUpdate has seconds): not signed per request */
	struct tb_bytes crl1 = { 0 }, crl2 = { 0 };
	get_crl(&crl1);
	usleep(1100000);
	get_crl(&crl2);
	CHECK_MEM(crl2.p, crl2.len, crl1.p, crl1.len);

	/* C1 for x.lab.test: one order token and the lab.test certificate token */
	const char *x[] = { "x.lab.test" };
	char *ord = ready_order(k, kid, x, 1, NULL, &st);
	CHECK_INT(st, 201);
	char *pem = NULL;
	CHECK_INT(finalize(k, kid, ord, x, 1, &pem), 200);
	CHECK(pem != NULL);
	char *der = NULL, certid[ACME_ARI_MAX_CERT_ID + 1] = "", serial[64] = "";
	if (pem)
		leaf_of(pem, &der, certid, serial);
	free(ord);

	/* ARI for C1: a suggested window and Retry-After; a CertID that does not parse is malformed */
	char *ari = fmt("/acme/renewal-info/%s", certid);
	CHECK_INT(http("GET", ari, NULL, &o), 200);
	CHECK(strstr((const char *)o.body.p, "suggestedWindow") != NULL);
	CHECK_STR(o.retry_after, "21600");
	resp_free(&o);
	free(ari);
	CHECK_INT(http("GET", "/acme/renewal-info/not-a-certid", NULL, &o), 400);
	CHECK_STR(prob_type(&o), "urn:ietf:params:acme:error:malformed");
	resp_free(&o);
	CHECK_INT(http("HEAD", "/acme/crl", NULL, &o), 200);
	CHECK_STR(o.content_type, "application/pkix-crl");
	resp_free(&o);

	/* a rate-limited finalize (lab.test is spent) gives the aaa.test token back */
	const char *two[] = { "a.aaa.test", "b.lab.test" };
	ord = ready_order(k, kid, two, 2, NULL, &st);
	CHECK_INT(st, 201);
	char *before = store_dump();
	char *pem2 = NULL;
	CHECK_INT(finalize(k, kid, ord, two, 2, &pem2), 429);
	CHECK_UNCHANGED(before);
	CHECK_INT(count("SELECT COUNT(*) FROM acme_rate_buckets WHERE key = 'certs:aaa.test'"), 0);
	free(before), free(ord), free(pem2);

	/* replaces C1 for an unrelated name: accepted, but as a plain order (charged, not recorded) */
	char *pl = fmt("{\"identifiers\":[{\"type\":\"dns\",\"value\":\"y.lab.test\"}],\"replaces\":\"%s\"}", certid);
	CHECK_INT(post(k, kid, "/acme/new-order", pl, &o), 201);
	free(pl);
	char *repl = get_str(&o, "replaces");
	CHECK(repl == NULL);
	free(repl);
	resp_free(&o);
	/* so the account's three order tokens are spent */
	CHECK_INT(post(k, kid, "/acme/new-order", "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"z.lab.test\"}]}", &o), 429);
	CHECK_STR(prob_type(&o), "urn:ietf:params:acme:error:rateLimited");
	resp_free(&o);
	/* a replacement sharing x.lab.test is exempt */
	pl = fmt("{\"identifiers\":[{\"type\":\"dns\",\"value\":\"x.lab.test\"},{\"type\":\"dns\",\"value\":"
		"\"w.lab.test\"}],\"replaces\":\"%s\"}", certid);
	CHECK_INT(post(k, kid, "/acme/new-order", pl, &o), 201);
	free(pl);
	repl = get_str(&o, "replaces");
	CHECK_STR(repl, certid);
	free(repl);
	resp_free(&o);

	/* revocation: the CRL is re-signed and lists the serial */
	CHECK(!crl_lists(&crl1, serial));
	char *rv = fmt("{\"certificate\":\"%s\",\"reason\":1}", der ? der : "");
	CHECK_INT(post(k, kid, "/acme/revoke-cert", rv, &o), 200);
	resp_free(&o);
	free(rv);
	struct tb_bytes crl3 = { 0 }, crl4 = { 0 };
	get_crl(&crl3);
	CHECK(crl3.len != crl1.len || memcmp(crl3.p, crl1.p, crl1.len) != 0);
	CHECK(crl_lists(&crl3, serial));
	usleep(1100000);
	get_crl(&crl4);
	CHECK_MEM(crl4.p, crl4.len, crl3.p, crl3.len);

	tb_bytes_free(&crl1), tb_bytes_free(&crl2), tb_bytes_free(&crl3), tb_bytes_free(&crl4);
	free(der), free(pem), free(kid);
	tb_pkey_free(k);
}

int main(void)
{
	tb_crypto_init();
	uv_loop_init(&loop);
	char dir[256], dbpath[300];
	snprintf(dir, sizeof dir, "/tmp/tb-acme-service.%d", (int)getpid());
	snprintf(dbpath, sizeof dbpath, "%s/store.db", dir);
	core.loop = &loop;
	core.data_dir = dir;
	core.services = &services;
	CHECK_INT(tb_store_open(&core.store, &loop, dbpath), 0);
	CHECK_INT(tb_ca_load_or_create(&core.ca, core.store, "test", NULL, 0), 0);

	CHECK_INT(boot("acme { listener = '' }"), 0);
	struct tb_pkey *k = NULL;
	CHECK_INT(tb_pkey_generate_ec(TB_CURVE_P256, &k), 0);
	test_directory_and_nonce();
	test_route_errors();
	test_account_and_order(k);
	test_key_change();
	test_refused_changes_nothing();
	shutdown_all();

	CHECK_INT(boot("acme { listener = '', lab_always_valid = true, rate_limits = {"
		" new_orders_per_account_per_hour = 3, certificates_per_domain_per_week = 1 } }"), 0);
	test_issuance();
	shutdown_all();

	tb_pkey_free(k);
	tb_ca_free(core.ca);
	tb_store_close(core.store);
	uv_loop_close(&loop);
	char cmd[600];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	CHECK_INT(system(cmd), 0);
	return tb_test_result("acme_service");
}
