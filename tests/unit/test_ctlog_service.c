/*
 * The log service in-process: the ctlog subsystem on a real loop, store and
 * HTTP server. Chains go in through the tb_ct_submitter the CA uses; the
 * log is then read back only through its public endpoints (served with
 * tb_http_feed_bytes) and checked whole, as Sunlight's CheckLog does:
 * checkpoint signature, every tile hashed up to the signed root, every data
 * tile entry against level 0, every issuer present and hashing to its name,
 * no trailing bytes, every SCT at its index. Then the subsystem is stopped,
 * started again on the same store, and must continue the same tree.
 */
#include "tb_test.h"
#include "tb_test_subsystem.h"
#include "ctlog_test_cert.h"

#include <mbedtls/oid.h>
#include <mbedtls/x509_crt.h>
#include <unistd.h>
#include <uv.h>

#include "core/config.h"
#include "core/crypto.h"
#include "core/error.h"
#include "core/http.h"
#include "core/services.h"
#include "core/store.h"
#include "core/subsystem.h"
#include "ctlog/ctlog.h"

extern const struct tb_subsystem ctlog_subsystem;

#define N_CERTS 300

static uv_loop_t loop;
static struct tb_core core;
static struct tb_services services;
static char dir[256];

/* GET path through the HTTP server; returns the status, body appended to out. */
static int get(const char *path, struct tb_bytes *out)
{
	char req[512];
	snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", path);
	struct tb_bytes raw = { 0 };
	tb_http_feed_bytes(core.http, (const uint8_t *)req, strlen(req), &raw);
	int status = 0;
	const char *s = tb_bytes_cstr(&raw);
	if (s && sscanf(s, "HTTP/1.1 %d", &status) == 1) {
		const char *body = strstr(s, "\r\n\r\n");
		if (body)
			tb_bytes_append(out, body + 4, raw.len - (size_t)(body + 4 - s));
	}
	tb_bytes_free(&raw);
	return status;
}

static int read_tile(void *arg, int level, uint64_t index, unsigned width, uint8_t *out)
{
	(void)arg;
	struct tb_bytes path = { 0 }, body = { 0 };
	struct ct_tile t = { level, index, width };
	tb_bytes_printf(&path, "/ct/lab/");
	ct_tile_path(&path, &t);
	int status = get(tb_bytes_cstr(&path), &body);
	int err = status == 200 && body.len == (size_t)width * CT_HASH_LEN ? 0 : TB_ERR_NOT_FOUND;
	if (!err)
		memcpy(out, body.p, body.len);
	tb_bytes_free(&path);
	tb_bytes_free(&body);
	return err;
}

struct sub {
	int done, status;
	struct tb_bytes sct;
	int precert;
	struct tb_bytes *cert;
};

static void on_sct(int status, struct tb_buf sct, void *arg)
{
	struct sub *s = arg;
	s->done = 1;
	s->status = status;
	tb_bytes_append(&s->sct, sct.p, sct.len);
}

static void *state;

static int boot(const char *lua)
{
	char err[256] = "";
	int rc = tb_test_configure(&ctlog_subsystem, &core, &loop, lua, err, sizeof err);
	if (!rc)
		rc = tb_test_start(&ctlog_subsystem, &core, &state, err, sizeof err);
	if (rc)
		fprintf(stderr, "boot: %s %s\n", err, tb_strerror(rc));
	return rc;
}

static void shutdown_all(void)
{
	CHECK(tb_test_stop(&ctlog_subsystem, &core, &loop, &state, 1000));
	services.n_ct = 0;
}

static int wait_all(struct sub *s, size_t n)
{
	for (int i = 0; i < 20000; i++) {
		size_t done = 0;
		for (size_t k = 0; k < n; k++)
			done += s[k].done;
		if (done == n)
			return 1;
		uv_run(&loop, UV_RUN_ONCE);
	}
	return 0;
}

/* One request through the HTTP server; the whole response (static buffer). */
static const char *raw_request(const char *method, const char *path)
{
	static char res[4096];
	char req[512];
	snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", method, path);
	struct tb_bytes raw = { 0 };
	tb_http_feed_bytes(core.http, (const uint8_t *)req, strlen(req), &raw);
	size_t n = raw.len < sizeof res - 1 ? raw.len : sizeof res - 1;
	memcpy(res, raw.p ? (const char *)raw.p : "", n);
	res[n] = 0;
	tb_bytes_free(&raw);
	return res;
}

#define CHECK_HAS(hay, needle)                                                         \
	do {                                                                           \
		const char *h_ = (hay);                                                \
		CHECK(strstr(h_, (needle)) != NULL);                                   \
		if (!strstr(h_, (needle)))                                             \
			fprintf(stderr, "  want \"%s\" in:\n%.400s\n", (needle), h_);      \
	} while (0)

/* The log's route tables as core serves them: 404, 405 with Allow, the CORS preflight. */
static void check_routes(void)
{
	const char *r = raw_request("GET", "/ct/lab/ct/v1/add-chain");
	CHECK_HAS(r, "HTTP/1.1 405 ");
	CHECK_HAS(r, "\r\nAllow: POST\r\n");
	CHECK_HAS(r, "text/plain");
	r = raw_request("POST", "/ct/lab/ct/v1/get-sth");
	CHECK_HAS(r, "HTTP/1.1 405 ");
	CHECK_HAS(r, "\r\nAllow: GET, HEAD\r\n");
	r = raw_request("POST", "/ct/lab/tile/0/000");
	CHECK_HAS(r, "HTTP/1.1 405 ");
	CHECK_HAS(r, "\r\nAllow: GET, HEAD, OPTIONS\r\n");
	r = raw_request("GET", "/ct/lab/ct/v1/get-nothing");
	CHECK_HAS(r, "HTTP/1.1 404 ");
	CHECK_HAS(r, "\r\n\r\nnot found\n");
	r = raw_request("OPTIONS", "/ct/lab/checkpoint");
	CHECK_HAS(r, "HTTP/1.1 204 ");
	CHECK_HAS(r, "\r\nAccess-Control-Allow-Origin: *\r\n");
	CHECK_HAS(r, "\r\nAccess-Control-Allow-Methods: GET, HEAD\r\n");
	r = raw_request("OPTIONS", "/ct/lab/issuer/00");
	CHECK_HAS(r, "HTTP/1.1 204 ");
	r = raw_request("HEAD", "/ct/lab/ct/v1/get-sth");
	CHECK_HAS(r, "HTTP/1.1 200 ");
	CHECK(strstr(r, "tree_size") == NULL);
}

/* The whole-log check; returns the verified size, fills root. */
static uint64_t check_log(struct tb_pkey *key, uint8_t root[CT_HASH_LEN])
{
	struct tb_bytes note = { 0 };
	CHECK_INT(get("/ct/lab/checkpoint", &note), 200);
	struct ct_checkpoint c;
	CHECK_INT(ct_checkpoint_verify(tb_bytes_buf(&note), "127.0.0.1:1/ct/lab", key, &c), 0);
	tb_bytes_free(&note);
	memcpy(root, c.root, CT_HASH_LEN);
	struct ct_tile_hasher *h = malloc(sizeof *h);
	ct_tile_hasher_init(h, read_tile, NULL, c.size);
	uint8_t got[CT_HASH_LEN];
	CHECK_INT(ct_tree_hash(ct_tile_hasher_get, h, c.size, got), 0);
	CHECK_MEM(got, CT_HASH_LEN, c.root, CT_HASH_LEN);
	for (uint64_t n = 0; n * CT_TILE_WIDTH < c.size; n++) {
		unsigned w = ct_tile_width(CT_TILE_DATA, n, c.size);
		struct ct_tile t = { CT_TILE_DATA, n, w };
		struct tb_bytes path = { 0 }, data = { 0 }, hashes = { 0 };
		tb_bytes_printf(&path, "/ct/lab/");
		ct_tile_path(&path, &t);
		CHECK_INT(get(tb_bytes_cstr(&path), &data), 200);
		tb_bytes_reserve(&hashes, (size_t)w * CT_HASH_LEN);
		CHECK_INT(read_tile(NULL, 0, n, w, hashes.p), 0);
		struct ct_entry *es = calloc(w, sizeof *es);
		CHECK_INT(ct_data_tile_read(tb_bytes_buf(&data), es, w), 0); /* also: no trailing bytes */
		for (unsigned i = 0; i < w; i++) {
			uint8_t lh[CT_HASH_LEN];
			uint64_t idx = 0;
			CHECK_INT(ct_entry_leaf_hash(&es[i], lh), 0);
			CHECK_MEM(lh, CT_HASH_LEN, hashes.p + (size_t)i * CT_HASH_LEN, CT_HASH_LEN);
			CHECK_INT(ct_extensions_parse(es[i].extensions, &idx), 0);
			CHECK_INT(idx, n * CT_TILE_WIDTH + i);
			for (size_t k = 0; k < es[i].chain_fps.len / CT_HASH_LEN; k++) {
				struct tb_bytes ipath = { 0 }, der = { 0 };
				uint8_t fp[CT_HASH_LEN];
				tb_bytes_printf(&ipath, "/ct/lab/issuer/");
				tb_hex_encode(&ipath, es[i].chain_fps.p + k * CT_HASH_LEN, CT_HASH_LEN);
				CHECK_INT(get(tb_bytes_cstr(&ipath), &der), 200);
				tb_sha256(tb_bytes_buf(&der), fp);
				CHECK_MEM(fp, CT_HASH_LEN, es[i].chain_fps.p + k * CT_HASH_LEN, CT_HASH_LEN);
				tb_bytes_free(&ipath);
				tb_bytes_free(&der);
			}
		}
		free(es);
		tb_bytes_free(&path);
		tb_bytes_free(&data);
		tb_bytes_free(&hashes);
	}
	free(h);
	return c.size;
}

/* Every SCT verifies over the logged entry at its leaf_index, with an inclusion proof. */
static void check_scts(struct tb_pkey *key, struct sub *s, size_t n, uint64_t size,
	const uint8_t root[CT_HASH_LEN])
{
	struct ct_tile_hasher *h = malloc(sizeof *h);
	ct_tile_hasher_init(h, read_tile, NULL, size);
	for (size_t k = 0; k < n; k++) {
		struct ct_sct sct;
		uint64_t idx = 0;
		CHECK_INT(ct_sct_read(tb_bytes_buf(&s[k].sct), &sct), 0);
		CHECK_INT(ct_extensions_parse(sct.extensions, &idx), 0);
		CHECK(idx < size);
		struct tb_bytes path = { 0 }, data = { 0 };
		uint64_t tn = idx / CT_TILE_WIDTH;
		struct ct_tile t = { CT_TILE_DATA, tn, ct_tile_width(CT_TILE_DATA, tn, size) };
		tb_bytes_printf(&path, "/ct/lab/");
		ct_tile_path(&path, &t);
		CHECK_INT(get(tb_bytes_cstr(&path), &data), 200);
		struct ct_entry *es = calloc(t.width, sizeof *es);
		CHECK_INT(ct_data_tile_read(tb_bytes_buf(&data), es, t.width), 0);
		struct ct_entry *e = &es[idx % CT_TILE_WIDTH];
		CHECK_INT(ct_sct_verify(key, e, &sct), 0);
		if (s[k].precert)
			CHECK_MEM(e->precert.p, e->precert.len, s[k].cert->p, s[k].cert->len);
		else
			CHECK_MEM(e->cert.p, e->cert.len, s[k].cert->p, s[k].cert->len);
		uint8_t lh[CT_HASH_LEN], proof[CT_MAX_PROOF][CT_HASH_LEN];
		size_t np = 0;
		ct_entry_leaf_hash(e, lh);
		CHECK_INT(ct_inclusion_proof(ct_tile_hasher_get, h, idx, size, proof, &np), 0);
		CHECK_INT(ct_verify_inclusion(idx, size, lh, (const uint8_t(*)[CT_HASH_LEN])proof, np, root), 0);
		free(es);
		tb_bytes_free(&path);
		tb_bytes_free(&data);
	}
	free(h);
}

int main(void)
{
	tb_crypto_init();
	uv_loop_init(&loop);
	snprintf(dir, sizeof dir, "/tmp/tb-ctlog-service.%d", (int)getpid());
	char dbpath[300], rootpath[300], keypath[300];
	snprintf(dbpath, sizeof dbpath, "%s/store.db", dir);
	snprintf(rootpath, sizeof rootpath, "%s/root.pem", dir);
	snprintf(keypath, sizeof keypath, "%s/ctlog-lab.pem", dir);
	core.loop = &loop;
	core.data_dir = dir;
	core.services = &services;
	CHECK_INT(tb_store_open(&core.store, &loop, dbpath), 0);

	/* a CA: root, intermediate, leaves and precertificates */
	struct tb_pkey *kroot, *kint, *kleaf;
	tb_pkey_generate_ec(TB_CURVE_P256, &kroot);
	tb_pkey_generate_ec(TB_CURVE_P256, &kint);
	tb_pkey_generate_ec(TB_CURVE_P256, &kleaf);
	struct tb_bytes root = { 0 }, inter = { 0 }, pem = { 0 };
	static struct tb_bytes certs[N_CERTS + 1];
	CHECK_INT(ct_test_cert(&root, "CN=Svc Root", kroot, "CN=Svc Root", kroot, 1, 1, 0), 0);
	CHECK_INT(ct_test_cert(&inter, "CN=Svc Inter", kint, "CN=Svc Root", kroot, 2, 1, 0), 0);
	for (int i = 0; i <= N_CERTS; i++)
		CHECK_INT(ct_test_cert(&certs[i], "CN=x.lab.test", kleaf, "CN=Svc Inter", kint, 100 + i, 0, i % 7 == 3), 0);
	tb_bytes_printf(&pem, "-----BEGIN CERTIFICATE-----\n");
	tb_base64_encode(&pem, root.p, root.len);
	tb_bytes_printf(&pem, "\n-----END CERTIFICATE-----\n");
	FILE *f = fopen(rootpath, "w");
	if (f) {
		fwrite(pem.p, 1, pem.len, f);
		fclose(f);
	}
	char lua[1024];
	snprintf(lua, sizeof lua,
		"ctlog { period_ms = 20, pool_size = 1000, logs = { { name = 'lab', "
		"submission_url = 'http://127.0.0.1:1/ct/lab/', trustbox_root = false, roots = { '%s' } } } }",
		rootpath);

	CHECK_INT(boot(lua), 0);
	CHECK_INT(services.n_ct, 1);
	struct tb_ct_submitter *ct = services.ct[0];
	static struct sub subs[N_CERTS + 2];
	for (int i = 0; i < N_CERTS; i++) {
		struct tb_buf chain[2] = { tb_bytes_buf(&certs[i]), tb_bytes_buf(&inter) };
		subs[i].precert = i % 7 == 3;
		subs[i].cert = &certs[i];
		CHECK_INT(ct->submit(ct->impl, chain, 2, subs[i].precert, on_sct, &subs[i]), 0);
		if (i % 50 == 49)
			uv_run(&loop, UV_RUN_NOWAIT);
	}
	CHECK(wait_all(subs, N_CERTS));
	int ok = 1;
	for (int i = 0; i < N_CERTS; i++)
		ok &= subs[i].status == 0;
	CHECK(ok);

	/* a resubmission gets the first SCT, byte for byte */
	struct sub again = { 0 };
	struct tb_buf chain0[2] = { tb_bytes_buf(&certs[0]), tb_bytes_buf(&inter) };
	CHECK_INT(ct->submit(ct->impl, chain0, 2, 0, on_sct, &again), 0);
	CHECK(wait_all(&again, 1));
	CHECK_MEM(again.sct.p, again.sct.len, subs[0].sct.p, subs[0].sct.len);
	/* a chain to an unknown root is refused through the callback */
	struct sub bad = { 0 };
	struct tb_buf lone[1] = { tb_bytes_buf(&certs[1]) };
	CHECK_INT(ct->submit(ct->impl, lone, 1, 0, on_sct, &bad), 0);
	CHECK(wait_all(&bad, 1));
	CHECK(bad.status != 0);

	struct tb_bytes keypem = { 0 };
	struct tb_pkey *key = NULL;
	f = fopen(keypath, "r");
	char kb[1024];
	size_t kn = f ? fread(kb, 1, sizeof kb, f) : 0;
	if (f)
		fclose(f);
	tb_bytes_append(&keypem, kb, kn);
	CHECK_INT(tb_pkey_parse_public(tb_bytes_buf(&keypem), &key), 0);
	uint8_t root1[CT_HASH_LEN], root2[CT_HASH_LEN];
	uint64_t size1 = key ? check_log(key, root1) : 0;
	check_routes();
	CHECK_INT(size1, N_CERTS);
	if (key)
		check_scts(key, subs, N_CERTS, size1, root1);
	/* get-proof-by-hash, also with a base64 '+' left unencoded in the query */
	{
		struct tb_bytes data = { 0 };
		struct ct_tile t = { CT_TILE_DATA, 0, CT_TILE_WIDTH };
		struct tb_bytes path = { 0 };
		tb_bytes_printf(&path, "/ct/lab/");
		ct_tile_path(&path, &t);
		CHECK_INT(get(tb_bytes_cstr(&path), &data), 200);
		struct ct_entry *es = calloc(CT_TILE_WIDTH, sizeof *es);
		CHECK_INT(ct_data_tile_read(tb_bytes_buf(&data), es, CT_TILE_WIDTH), 0);
		int tried = 0;
		for (int i = 0; i < CT_TILE_WIDTH && tried < 2; i++) {
			uint8_t lh[CT_HASH_LEN];
			struct tb_bytes b64 = { 0 }, q = { 0 }, body = { 0 };
			ct_entry_leaf_hash(&es[i], lh);
			tb_base64_encode(&b64, lh, CT_HASH_LEN);
			if (tried == 0 || strchr(tb_bytes_cstr(&b64), '+')) {
				tb_bytes_printf(&q, "/ct/lab/ct/v1/get-proof-by-hash?tree_size=%d&hash=%s", N_CERTS,
					tb_bytes_cstr(&b64));
				CHECK_INT(get(tb_bytes_cstr(&q), &body), 200);
				char want[32];
				snprintf(want, sizeof want, "\"leaf_index\":%d", i);
				CHECK(strstr(tb_bytes_cstr(&body), want) != NULL);
				tried++;
			}
			tb_bytes_free(&b64);
			tb_bytes_free(&q);
			tb_bytes_free(&body);
		}
		CHECK_INT(tried, 2);
		free(es);
		tb_bytes_free(&data);
		tb_bytes_free(&path);
	}
	/* HTTP statuses of the read path */
	struct tb_bytes junk = { 0 };
	CHECK_INT(get("/ct/lab/tile/0/001", &junk), 404);           /* not full yet */
	CHECK_INT(get("/ct/lab/tile/0/000.p/200", &junk), 200);    /* narrower than stored */
	CHECK_INT(get("/ct/lab/tile/0/x001/000", &junk), 404);
	CHECK_INT(get("/ct/lab/issuer/00", &junk), 404);
	CHECK_INT(get("/ct/lab/ct/v1/get-entries?start=0&end=1", &junk), 200);
	CHECK_INT(get("/ct/lab/ct/v1/get-entries?start=5&end=1", &junk), 400);
	CHECK_INT(get("/ct/lab/ct/v1/get-sth-consistency?first=10&second=300", &junk), 200);
	CHECK_INT(get("/ct/lab/ct/v1/get-sth-consistency?first=10&second=301", &junk), 400);
	CHECK_INT(get("/ct/lab/ct/v1/add-chain", &junk), 405);
	tb_bytes_free(&junk);
	shutdown_all();

	/* restart on the same store: the same tree, and it grows consistently */
	CHECK_INT(boot(lua), 0);
	uint64_t size_again = key ? check_log(key, root2) : 0;
	CHECK_INT(size_again, size1);
	CHECK_MEM(root2, CT_HASH_LEN, root1, CT_HASH_LEN);
	struct sub more = { 0 };
	struct tb_buf chainN[2] = { tb_bytes_buf(&certs[N_CERTS]), tb_bytes_buf(&inter) };
	more.cert = &certs[N_CERTS];
	more.precert = N_CERTS % 7 == 3;
	ct = services.ct[0];
	CHECK_INT(ct->submit(ct->impl, chainN, 2, more.precert, on_sct, &more), 0);
	CHECK(wait_all(&more, 1));
	CHECK_INT(more.status, 0);
	uint64_t size3 = key ? check_log(key, root2) : 0;
	CHECK_INT(size3, size1 + 1);
	if (key) {
		check_scts(key, &more, 1, size3, root2);
		struct ct_tile_hasher *h = malloc(sizeof *h);
		ct_tile_hasher_init(h, read_tile, NULL, size3);
		uint8_t proof[CT_MAX_PROOF][CT_HASH_LEN];
		size_t np = 0;
		CHECK_INT(ct_consistency_proof(ct_tile_hasher_get, h, size1, size3, proof, &np), 0);
		CHECK_INT(ct_verify_consistency(size1, size3, (const uint8_t(*)[CT_HASH_LEN])proof, np, root1, root2), 0);
		free(h);
	}
	shutdown_all();

	/* a full pool: the in-process submitter is refused at once, add-chain
	 * answers 503 with Retry-After, and stopping answers what was pooled */
	char lua2[1024];
	snprintf(lua2, sizeof lua2,
		"ctlog { period_ms = 60000, pool_size = 2, logs = { { name = 'lab', "
		"submission_url = 'http://127.0.0.1:1/ct/lab/', trustbox_root = false, roots = { '%s' } } } }",
		rootpath);
	CHECK_INT(boot(lua2), 0);
	ct = services.ct[0];
	struct sub p1 = { 0 }, p2 = { 0 }, p3 = { 0 };
	struct tb_bytes fresh[3] = { { 0 } };
	for (int i = 0; i < 3; i++)
		CHECK_INT(ct_test_cert(&fresh[i], "CN=y.lab.test", kleaf, "CN=Svc Inter", kint, 9000 + i, 0, 0), 0);
	struct tb_buf ca[2] = { tb_bytes_buf(&fresh[0]), tb_bytes_buf(&inter) };
	struct tb_buf cb[2] = { tb_bytes_buf(&fresh[1]), tb_bytes_buf(&inter) };
	CHECK_INT(ct->submit(ct->impl, ca, 2, 0, on_sct, &p1), 0);
	CHECK_INT(ct->submit(ct->impl, cb, 2, 0, on_sct, &p2), 0);
	CHECK_INT(ct->submit(ct->impl, cb, 2, 0, on_sct, &p3), TB_ERR_STATE);
	for (int i = 0; i < 200; i++)
		uv_run(&loop, UV_RUN_NOWAIT); /* validations come back into the pool */
	{
		struct tb_bytes body = { 0 }, req = { 0 }, raw = { 0 };
		tb_bytes_printf(&body, "{\"chain\":[\"");
		tb_base64_encode(&body, fresh[2].p, fresh[2].len);
		tb_bytes_printf(&body, "\",\"");
		tb_base64_encode(&body, inter.p, inter.len);
		tb_bytes_printf(&body, "\"]}");
		tb_bytes_printf(&req, "POST /ct/lab/ct/v1/add-chain HTTP/1.1\r\nHost: t\r\n"
			"Content-Length: %zu\r\nConnection: close\r\n\r\n", body.len);
		tb_bytes_append(&req, body.p, body.len);
		tb_http_feed_bytes(core.http, req.p, req.len, &raw);
		const char *r = tb_bytes_cstr(&raw);
		CHECK(r && strncmp(r, "HTTP/1.1 503", 12) == 0);
		CHECK(r && strstr(r, "Retry-After: 1") != NULL);
		tb_bytes_free(&body);
		tb_bytes_free(&req);
		tb_bytes_free(&raw);
	}
	CHECK(!p1.done && !p2.done);
	shutdown_all();
	CHECK(p1.done && p2.done);
	/* pooled, never sequenced: no SCT, the submitter is told to retry */
	CHECK_INT(p1.status, TB_ERR_CANCELED);
	CHECK_INT(p2.status, TB_ERR_CANCELED);
	tb_bytes_free(&p1.sct);
	tb_bytes_free(&p2.sct);
	for (int i = 0; i < 3; i++)
		tb_bytes_free(&fresh[i]);

	tb_store_close(core.store);
	uv_run(&loop, UV_RUN_NOWAIT);
	uv_loop_close(&loop);
	for (int i = 0; i < N_CERTS + 2; i++)
		tb_bytes_free(&subs[i].sct);
	for (int i = 0; i <= N_CERTS; i++)
		tb_bytes_free(&certs[i]);
	tb_bytes_free(&again.sct);
	tb_bytes_free(&bad.sct);
	tb_bytes_free(&more.sct);
	tb_bytes_free(&root);
	tb_bytes_free(&inter);
	tb_bytes_free(&pem);
	tb_bytes_free(&keypem);
	tb_pkey_free(key);
	tb_pkey_free(kroot);
	tb_pkey_free(kint);
	tb_pkey_free(kleaf);
	char cmd[400];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	return tb_test_result("ctlog_service");
}
