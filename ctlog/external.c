/*
 * DESIGN: a tb_ct_submitter for a CT log somewhere else, over HTTP.
 *
 * submit() posts {"chain": [...]} to <url>ct/v1/add-chain or add-pre-chain
 * (RFC 6962 section 4.1/4.2; static-ct-api logs take the same requests)
 * with the core HTTP client, and hands the caller the SCT in its TLS
 * encoding, ready for a SignedCertificateTimestampList.
 *
 * With the log's public key configured the SCT is checked before it is
 * handed over: its log ID must be SHA-256 of that key and its signature
 * must verify over the entry the log should have made from the chain (the
 * entry is rebuilt with ct_validate_chain, the submitted chain's last
 * certificate standing in as the trust anchor: the point is to check the
 * log, not the chain). That costs one or two ECDSA verifications on the
 * loop thread, acceptable at CA issuance rates.
 *
 * The object stays alive until its last request has called back, even
 * after ct_external_free.
 */
#include "ctlog/ctlog.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "core/crypto.h"
#include "core/error.h"
#include "core/http.h"
#include "core/log.h"
#include "core/services.h"

/* An add-chain response is small; anything bigger is not a log talking. */
#define EXT_MAX_RESPONSE (64 * 1024)

struct ct_external {
	uv_loop_t *loop;
	char url[512];            /* submission prefix, with a trailing slash */
	struct tb_pkey *key;      /* NULL: SCTs are not verified */
	uint8_t log_id[CT_HASH_LEN];
	uint64_t timeout_ms;
	struct tb_ct_submitter submitter;
	unsigned inflight;
	int freed;
};

struct ext_call {
	struct ct_external *x;
	tb_sct_cb cb;
	void *arg;
	int precert;
	struct ct_chain chain;
};

static void release(struct ct_external *x)
{
	if (x->freed && x->inflight == 0) {
		tb_pkey_free(x->key);
		free(x);
	}
}

static int b64_field(const cJSON *o, const char *name, struct tb_bytes *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
	if (!cJSON_IsString(v) || !v->valuestring)
		return TB_ERR_INVALID;
	return tb_base64_decode(out, v->valuestring, strlen(v->valuestring));
}

/* Checks the SCT against the entry the log should have logged for the chain. */
static int verify_sct(struct ct_external *x, struct ext_call *c, const struct ct_sct *sct)
{
	if (memcmp(sct->log_id, x->log_id, CT_HASH_LEN) != 0)
		return TB_ERR_VERIFY;
	struct ct_roots *anchor = NULL;
	struct ct_validated v;
	struct ct_policy pol = { 0 };
	int err = ct_roots_new(&anchor);
	if (!err)
		err = ct_roots_add_der(anchor, tb_bytes_buf(&c->chain.der[c->chain.n - 1]));
	if (!err)
		err = ct_validate_chain(anchor, &pol, &c->chain, c->precert, &v, NULL, 0);
	if (!err) {
		struct ct_entry e;
		ct_validated_entry(&v, &e);
		e.timestamp = sct->timestamp;
		e.extensions = sct->extensions;
		err = ct_sct_verify(x->key, &e, sct);
		ct_validated_free(&v);
	}
	ct_roots_free(anchor);
	return err;
}

static void on_response(int err, const struct tb_http_client_resp *resp, void *arg)
{
	struct ext_call *c = arg;
	struct ct_external *x = c->x;
	struct tb_bytes id = { 0 }, ext = { 0 }, ds = { 0 }, out = { 0 };
	cJSON *o = NULL;
	if (!err && resp->status != 200) {
		TB_WARN("ctlog", "%s: add-%schain answered %d", x->url, c->precert ? "pre-" : "",
			resp->status);
		err = resp->status == 503 || resp->status == 429 ? TB_ERR_STATE : TB_ERR_INVALID;
	}
	if (!err) {
		o = cJSON_ParseWithLength((const char *)resp->body.p, resp->body.len);
		if (!o)
			err = TB_ERR_INVALID;
	}
	const cJSON *ver = o ? cJSON_GetObjectItemCaseSensitive(o, "sct_version") : NULL;
	const cJSON *ts = o ? cJSON_GetObjectItemCaseSensitive(o, "timestamp") : NULL;
	if (!err && (!cJSON_IsNumber(ver) || ver->valuedouble != 0 || !cJSON_IsNumber(ts) ||
		ts->valuedouble < 0 || ts->valuedouble > 9007199254740991.0))
		err = TB_ERR_INVALID;
	if (!err)
		err = b64_field(o, "id", &id);
	if (!err)
		err = b64_field(o, "extensions", &ext);
	if (!err)
		err = b64_field(o, "signature", &ds);
	struct ct_sct sct = { 0 };
	if (!err && id.len != CT_HASH_LEN)
		err = TB_ERR_INVALID;
	if (!err) {
		struct tb_reader r = TB_READER(ds.p, ds.len);
		memcpy(sct.log_id, id.p, CT_HASH_LEN);
		sct.timestamp = (uint64_t)ts->valuedouble;
		sct.extensions = tb_bytes_buf(&ext);
		sct.hash_alg = CT_HASH_ALG_SHA256;
		sct.sig_alg = CT_SIG_ALG_ECDSA;
		err = ct_digitally_signed_read(&r, &sct.signature);
		if (!err)
			err = tb_read_end(&r);
	}
	if (!err && x->key) {
		err = verify_sct(x, c, &sct);
		if (err)
			TB_WARN("ctlog", "%s: SCT does not verify: %s", x->url, tb_strerror(err));
	}
	if (!err)
		err = ct_sct_write(&out, &sct);
	c->cb(err, err ? TB_BUF(NULL, 0) : tb_bytes_buf(&out), c->arg);
	cJSON_Delete(o);
	tb_bytes_free(&id);
	tb_bytes_free(&ext);
	tb_bytes_free(&ds);
	tb_bytes_free(&out);
	ct_chain_free(&c->chain);
	free(c);
	x->inflight--;
	release(x);
}

static int submit(void *impl, const struct tb_buf *chain, size_t n, int precert, tb_sct_cb cb,
	void *arg)
{
	struct ct_external *x = impl;
	if (x->freed)
		return TB_ERR_CANCELED;
	if (n < 1 || n > CT_MAX_CHAIN)
		return TB_ERR_INVALID;
	struct ext_call *c = calloc(1, sizeof *c);
	if (!c)
		return TB_ERR_NOMEM;
	struct tb_bytes body = { 0 }, url = { 0 };
	int err = tb_bytes_printf(&body, "{\"chain\":[");
	for (size_t i = 0; i < n && !err; i++) {
		if (chain[i].len == 0 || chain[i].len > CT_MAX_CERT) {
			err = TB_ERR_INVALID;
			break;
		}
		tb_bytes_printf(&body, "%s\"", i ? "," : "");
		tb_base64_encode(&body, chain[i].p, chain[i].len);
		err = tb_bytes_u8(&body, '"');
		if (!err)
			err = tb_bytes_append(&c->chain.der[i], chain[i].p, chain[i].len);
		c->chain.n = i + 1;
	}
	if (!err)
		err = tb_bytes_printf(&body, "]}");
	if (!err)
		err = tb_bytes_printf(&url, "%sct/v1/add-%schain", x->url, precert ? "pre-" : "");
	if (!err) {
		static const struct tb_http_header hdr[] = { { "Content-Type", "application/json" } };
		struct tb_http_client_req r = {
			.method = "POST",
			.url = tb_bytes_cstr(&url),
			.headers = hdr,
			.n_headers = 1,
			.body = tb_bytes_buf(&body),
			.timeout_ms = x->timeout_ms,
			.max_body = EXT_MAX_RESPONSE,
		};
		c->x = x;
		c->cb = cb;
		c->arg = arg;
		c->precert = precert;
		err = tb_http_client_request(x->loop, &r, on_response, c);
	}
	tb_bytes_free(&body);
	tb_bytes_free(&url);
	if (err) {
		ct_chain_free(&c->chain);
		free(c);
		return err;
	}
	x->inflight++;
	return 0;
}

int ct_external_new(struct uv_loop_s *loop, const char *url, const char *key_b64,
	uint64_t timeout_ms, struct ct_external **out)
{
	size_t ul = url ? strlen(url) : 0;
	if (ul < 8 || ul + 2 > sizeof ((struct ct_external *)0)->url ||
		(strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0))
		return TB_ERR_INVALID;
	struct ct_external *x = calloc(1, sizeof *x);
	if (!x)
		return TB_ERR_NOMEM;
	x->loop = loop;
	memcpy(x->url, url, ul + 1);
	if (url[ul - 1] != '/')
		x->url[ul] = '/';
	x->timeout_ms = timeout_ms;
	int err = 0;
	if (key_b64 && *key_b64) {
		struct tb_bytes der = { 0 };
		err = tb_base64_decode(&der, key_b64, strlen(key_b64));
		if (!err)
			err = tb_pkey_parse_public(tb_bytes_buf(&der), &x->key);
		if (!err)
			err = ct_log_id(x->key, x->log_id);
		tb_bytes_free(&der);
	}
	if (err) {
		tb_pkey_free(x->key);
		free(x);
		return err;
	}
	x->submitter.impl = x;
	x->submitter.submit = submit;
	x->submitter.name = x->url;
	memcpy(x->submitter.log_id, x->log_id, sizeof x->submitter.log_id);
	x->submitter.has_log_id = x->key != NULL;
	*out = x;
	return 0;
}

struct tb_ct_submitter *ct_external_submitter(struct ct_external *x)
{
	return &x->submitter;
}

void ct_external_free(struct ct_external *x)
{
	if (!x)
		return;
	x->freed = 1;
	release(x);
}
