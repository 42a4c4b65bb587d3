/*
 * The tb_ct_submitter for remote logs, against a small RFC 6962 add-chain
 * server on loopback (core's HTTP server): SCTs come back in their TLS
 * encoding and verify; a wrong log key, a busy log and a dead log are
 * errors, reported through the callback.
 */
#include "tb_test.h"
#include "ctlog_test_cert.h"

#include <mbedtls/oid.h>
#include <mbedtls/x509_crt.h>
#include <uv.h>

#include "core/crypto.h"
#include "core/error.h"
#include "core/http.h"
#include "core/services.h"
#include "ctlog/ctlog.h"

static uv_loop_t loop;
static struct tb_http_server *srv;
static struct tb_pkey *log_key, *other_key;
static uint8_t log_id[CT_HASH_LEN];

static void add_b64(cJSON *o, const char *name, const void *p, size_t n)
{
	struct tb_bytes b = { 0 };
	tb_base64_encode(&b, p, n);
	cJSON_AddStringToObject(o, name, tb_bytes_cstr(&b));
	tb_bytes_free(&b);
}

/* A minimal log: validates against the chain's own last certificate and signs an SCT. */
static int h_log(struct tb_http_request *req, void *arg)
{
	(void)arg;
	int precert = strstr(req->path, "add-pre-chain") != NULL;
	struct ct_chain chain;
	if (ct_chain_parse_json((const char *)req->body.p, req->body.len, &chain))
		return tb_http_respond(req, 400, "text/plain", "bad\n", 4);
	struct ct_roots *roots = NULL;
	ct_roots_new(&roots);
	ct_roots_add_der(roots, tb_bytes_buf(&chain.der[chain.n - 1]));
	struct ct_validated v;
	struct ct_policy pol = { 0 };
	int err = ct_validate_chain(roots, &pol, &chain, precert, &v, NULL, 0);
	if (err) {
		ct_roots_free(roots);
		ct_chain_free(&chain);
		return tb_http_respond(req, 400, "text/plain", "invalid\n", 8);
	}
	struct ct_entry e;
	struct tb_bytes ext = { 0 }, sig = { 0 }, ds = { 0 };
	ct_extensions_leaf_index(&ext, 7);
	ct_validated_entry(&v, &e);
	e.timestamp = 1780000000000ull;
	e.extensions = tb_bytes_buf(&ext);
	struct ct_sct sct;
	ct_sct_sign(log_key, log_id, &e, &sct, &sig);
	ct_digitally_signed_write(&ds, sct.signature);
	cJSON *o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "sct_version", 0);
	add_b64(o, "id", log_id, CT_HASH_LEN);
	cJSON_AddNumberToObject(o, "timestamp", (double)e.timestamp);
	add_b64(o, "extensions", ext.p, ext.len);
	add_b64(o, "signature", ds.p, ds.len);
	err = tb_http_respond_json(req, 200, o);
	cJSON_Delete(o);
	tb_bytes_free(&ext);
	tb_bytes_free(&sig);
	tb_bytes_free(&ds);
	ct_validated_free(&v);
	ct_roots_free(roots);
	ct_chain_free(&chain);
	return err;
}

static int h_busy(struct tb_http_request *req, void *arg)
{
	(void)arg;
	tb_http_set_header(req, "Retry-After", "1");
	return tb_http_respond(req, 503, "text/plain", "busy\n", 5);
}

struct result {
	int done;
	int status;
	struct tb_bytes sct;
};

static void on_sct(int status, struct tb_buf sct, void *arg)
{
	struct result *r = arg;
	r->done = 1;
	r->status = status;
	tb_bytes_append(&r->sct, sct.p, sct.len);
}

static int run_until(struct result *r)
{
	for (int i = 0; i < 2000 && !r->done; i++)
		uv_run(&loop, UV_RUN_ONCE);
	return r->done;
}

static void stopped(void *arg)
{
	*(int *)arg = 1;
}

int main(void)
{
	tb_crypto_init();
	uv_loop_init(&loop);
	CHECK_INT(tb_pkey_generate_ec(TB_CURVE_P256, &log_key), 0);
	CHECK_INT(tb_pkey_generate_ec(TB_CURVE_P256, &other_key), 0);
	ct_log_id(log_key, log_id);
	struct tb_bytes spki = { 0 }, key_b64 = { 0 }, other_spki = { 0 }, other_b64 = { 0 };
	tb_pkey_write_spki_der(log_key, &spki);
	tb_base64_encode(&key_b64, spki.p, spki.len);
	tb_pkey_write_spki_der(other_key, &other_spki);
	tb_base64_encode(&other_b64, other_spki.p, other_spki.len);

	struct tb_pkey *kroot, *kint, *kleaf;
	tb_pkey_generate_ec(TB_CURVE_P256, &kroot);
	tb_pkey_generate_ec(TB_CURVE_P256, &kint);
	tb_pkey_generate_ec(TB_CURVE_P256, &kleaf);
	struct tb_bytes root = { 0 }, inter = { 0 }, leaf = { 0 }, pre = { 0 };
	CHECK_INT(ct_test_cert(&root, "CN=R", kroot, "CN=R", kroot, 1, 1, 0), 0);
	CHECK_INT(ct_test_cert(&inter, "CN=I", kint, "CN=R", kroot, 2, 1, 0), 0);
	CHECK_INT(ct_test_cert(&leaf, "CN=l.lab.test", kleaf, "CN=I", kint, 3, 0, 0), 0);
	CHECK_INT(ct_test_cert(&pre, "CN=l.lab.test", kleaf, "CN=I", kint, 4, 0, 1), 0);

	CHECK_INT(tb_http_server_new(&srv, &loop, NULL), 0);
	CHECK_INT(tb_http_listen(srv, "t", "127.0.0.1", 0, NULL), 0);
	int port = tb_http_listener_port(srv, "t");
	/* the logs' submission endpoints, everything below each prefix */
	static const struct tb_http_route_def log_routes[] = { { "POST", "/{rest...}", h_log, 0 } };
	static const struct tb_http_route_def busy_routes[] = { { "POST", "/{rest...}", h_busy, 0 } };
	static const struct tb_http_table log_table = TB_HTTP_TABLE(log_routes, NULL);
	static const struct tb_http_table busy_table = TB_HTTP_TABLE(busy_routes, NULL);
	CHECK_INT(tb_http_mount(srv, NULL, "/log", &log_table, NULL), 0);
	CHECK_INT(tb_http_mount(srv, NULL, "/busy", &busy_table, NULL), 0);

	char url[128], busy[128], dead[128];
	snprintf(url, sizeof url, "http://127.0.0.1:%d/log", port);
	snprintf(busy, sizeof busy, "http://127.0.0.1:%d/busy/", port);
	snprintf(dead, sizeof dead, "http://127.0.0.1:1/");
	struct ct_external *good = NULL, *wrong = NULL, *nokey = NULL, *b = NULL, *d = NULL;
	CHECK_INT(ct_external_new(&loop, url, tb_bytes_cstr(&key_b64), 5000, &good), 0);
	CHECK_INT(ct_external_new(&loop, url, tb_bytes_cstr(&other_b64), 5000, &wrong), 0);
	CHECK_INT(ct_external_new(&loop, url, NULL, 5000, &nokey), 0);
	CHECK_INT(ct_external_new(&loop, busy, NULL, 5000, &b), 0);
	CHECK_INT(ct_external_new(&loop, dead, NULL, 2000, &d), 0);
	CHECK(ct_external_new(&loop, "ftp://x/", NULL, 0, &d) != 0);
	CHECK(ct_external_new(&loop, url, "not base64!", 0, &d) != 0);

	struct tb_buf c_leaf[2] = { tb_bytes_buf(&leaf), tb_bytes_buf(&inter) };
	struct tb_buf c_pre[2] = { tb_bytes_buf(&pre), tb_bytes_buf(&inter) };

	/* certificate and precertificate through a verifying submitter */
	for (int precert = 0; precert < 2; precert++) {
		struct result r = { 0 };
		struct tb_ct_submitter *s = ct_external_submitter(good);
		CHECK_INT(s->submit(s->impl, precert ? c_pre : c_leaf, 2, precert, on_sct, &r), 0);
		CHECK(run_until(&r));
		CHECK_INT(r.status, 0);
		struct ct_sct sct;
		CHECK_INT(ct_sct_read(tb_bytes_buf(&r.sct), &sct), 0);
		CHECK_MEM(sct.log_id, CT_HASH_LEN, log_id, CT_HASH_LEN);
		uint64_t idx = 0;
		CHECK_INT(ct_extensions_parse(sct.extensions, &idx), 0);
		CHECK_INT(idx, 7);
		CHECK_INT(sct.timestamp, 1780000000000ull);
		/* the SCT list the CA would embed */
		struct tb_bytes ext = { 0 };
		struct tb_buf one = tb_bytes_buf(&r.sct);
		CHECK_INT(ct_sct_list_extension(&ext, &one, 1), 0);
		tb_bytes_free(&ext);
		tb_bytes_free(&r.sct);
	}
	/* a log that signs with another key than configured */
	struct result r1 = { 0 }, r2 = { 0 }, r3 = { 0 }, r4 = { 0 };
	struct tb_ct_submitter *s = ct_external_submitter(wrong);
	CHECK_INT(s->submit(s->impl, c_leaf, 2, 0, on_sct, &r1), 0);
	CHECK(run_until(&r1));
	CHECK_INT(r1.status, TB_ERR_VERIFY);
	/* no key configured: accepted as is */
	s = ct_external_submitter(nokey);
	CHECK_INT(s->submit(s->impl, c_leaf, 2, 0, on_sct, &r2), 0);
	CHECK(run_until(&r2));
	CHECK_INT(r2.status, 0);
	/* busy and unreachable logs */
	s = ct_external_submitter(b);
	CHECK_INT(s->submit(s->impl, c_leaf, 2, 0, on_sct, &r3), 0);
	CHECK(run_until(&r3));
	CHECK_INT(r3.status, TB_ERR_STATE);
	s = ct_external_submitter(d);
	CHECK_INT(s->submit(s->impl, c_leaf, 2, 0, on_sct, &r4), 0);
	CHECK(run_until(&r4));
	CHECK(r4.status != 0);
	CHECK(s->submit(s->impl, c_leaf, 0, 0, on_sct, &r4) != 0);

	/* freed while a request is in flight: the callback still runs, then it goes */
	struct result r5 = { 0 };
	s = ct_external_submitter(nokey);
	CHECK_INT(s->submit(s->impl, c_pre, 2, 1, on_sct, &r5), 0);
	ct_external_free(nokey);
	CHECK(run_until(&r5));
	CHECK_INT(r5.status, 0);

	ct_external_free(good);
	ct_external_free(wrong);
	ct_external_free(b);
	ct_external_free(d);
	int done = 0;
	tb_http_server_stop(srv, stopped, &done);
	for (int i = 0; i < 1000 && !done; i++)
		uv_run(&loop, UV_RUN_ONCE);
	CHECK(done);
	tb_http_server_free(srv);
	uv_run(&loop, UV_RUN_NOWAIT);
	CHECK_INT(uv_loop_close(&loop), 0);

	struct tb_bytes *all[] = { &spki, &key_b64, &other_spki, &other_b64, &root, &inter, &leaf,
		&pre, &r1.sct, &r2.sct, &r3.sct, &r4.sct, &r5.sct };
	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
		tb_bytes_free(all[i]);
	tb_pkey_free(kroot);
	tb_pkey_free(kint);
	tb_pkey_free(kleaf);
	tb_pkey_free(log_key);
	tb_pkey_free(other_key);
	return tb_test_result("ctlog_external");
}
