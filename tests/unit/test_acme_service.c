/*
 * The ACME service in-process: the acme subsystem on a real loop, store,
 * CA and HTTP server (one plain listener on 127.0.0.1, port chosen by the
 * kernel), driven by core's HTTP client with JWS requests signed here.
 * Covers the directory, newNonce, newAccount, newOrder, an order read
 * back, the 404/405 answers of the router and malformed requests.
 */
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

extern const struct tb_subsystem acme_subsystem;

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
	char location[512], allow[64], retry_after[32], content_type[64];
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
	const char *nn = tb_http_client_header(r, "Replay-Nonce");
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

/* An ES256 flattened JWS to base+path: with kid, or with the jwk when kid is NULL; payload NULL = POST-as-GET. */
static char *jws(struct tb_pkey *k, const char *kid, const char *path, const char *payload)
{
	char *key = kid ? fmt("\"kid\":\"%s\"", kid) : NULL;
	if (!kid) {
		char *j = jwk_of(k);
		key = fmt("\"jwk\":%s", j);
		free(j);
	}
	char *prot = fmt("{\"alg\":\"ES256\",%s,\"nonce\":\"%s\",\"url\":\"%s%s\"}", key, nonce, base, path);
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
	const struct tb_section_def *secs[8];
	size_t n = 0;
	for (const struct tb_section_def *const *d = acme_subsystem.sections; d && *d; d++)
		secs[n++] = *d;
	core.config = tb_config_new(secs, n);
	char err[256] = "";
	int rc = tb_config_run_string(core.config, "test", lua, err, sizeof err);
	if (!rc)
		rc = tb_config_finish(core.config, err, sizeof err);
	if (!rc)
		rc = tb_http_server_new(&core.http, &loop, NULL);
	if (!rc)
		rc = tb_http_listen(core.http, "t", "127.0.0.1", 0, NULL);
	if (!rc) {
		port = tb_http_listener_port(core.http, "t");
		snprintf(base, sizeof base, "http://127.0.0.1:%d", port);
		rc = acme_subsystem.configure(&core, &state, err, sizeof err);
	}
	if (!rc)
		rc = tb_store_migrate(core.store, "acme", acme_subsystem.migrations);
	if (!rc)
		rc = acme_subsystem.start(state);
	if (rc)
		fprintf(stderr, "boot: %s %s\n", err, tb_strerror(rc));
	return rc;
}

static void stopped(void *arg)
{
	*(int *)arg = 1;
}

static void shutdown_all(void)
{
	int done = 0, hdone = 0;
	acme_subsystem.stop(state, stopped, &done);
	for (int i = 0; i < 10000 && !done; i++)
		uv_run(&loop, UV_RUN_ONCE);
	CHECK(done);
	tb_http_server_stop(core.http, stopped, &hdone);
	for (int i = 0; i < 10000 && !hdone; i++)
		uv_run(&loop, UV_RUN_ONCE);
	acme_subsystem.free(state);
	state = NULL;
	tb_http_server_free(core.http);
	core.http = NULL;
	tb_config_free(core.config);
	core.config = NULL;
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
	CHECK_INT(http("POST", "/acme/no-such-thing", "{}", &o), 404);
	CHECK_STR(prob_type(&o), "urn:ietf:params:acme:error:malformed");
	resp_free(&o);
	CHECK_INT(http("GET", "/dir/x", NULL, &o), 404);
	resp_free(&o);
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
	test_account_and_order(k);
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
