/*
 * DESIGN: RFC 9180 HPKE in base mode over the core crypto provider, plus the
 * DAP-09 wire encodings of HPKE configurations and ciphertexts.
 *
 * The KEMs are the two DHKEMs with HKDF-SHA256 (X25519 through libsodium,
 * P-256 through mbedTLS); the key schedule's KDF and the AEAD are chosen by
 * the suite. Labeled Extract/Expand build their labeled input on the stack
 * (inputs are capped by DAP_HPKE_MAX_INFO_LEN), so a seal or open does no
 * heap allocation apart from the caller's output writers. Secrets on the
 * stack are wiped before returning.
 *
 * An open costs one X25519 (or P-256) multiplication, seven HMACs and one
 * AEAD pass; the receiver's public key is kept in its key pair so decap
 * does not recompute it.
 */
#include "dap/hpke.h"

#include <string.h>

#include "core/crypto.h"
#include "core/error.h"

#define LABEL_VERSION "HPKE-v1"
#define KEM_NSECRET 32 /* Nsecret of both DHKEMs (HKDF-SHA256) */
#define SUITE_ID_MAX 10 /* "HPKE" || kem || kdf || aead */
#define LABEL_MAX 16
/* Room for the labeled input: L(2) || "HPKE-v1" || suite_id || label || data. */
#define LABELED_MAX (2 + 7 + SUITE_ID_MAX + LABEL_MAX + DAP_HPKE_MAX_INFO_LEN + 2 * DAP_HPKE_MAX_PK_LEN)

struct suite_id {
	uint8_t b[SUITE_ID_MAX];
	size_t len;
};

static struct suite_id kem_suite_id(uint16_t kem_id)
{
	struct suite_id s = { { 'K', 'E', 'M', (uint8_t)(kem_id >> 8), (uint8_t)kem_id }, 5 };
	return s;
}

static struct suite_id hpke_suite_id(struct dap_hpke_suite su)
{
	struct suite_id s = { { 'H', 'P', 'K', 'E', (uint8_t)(su.kem_id >> 8), (uint8_t)su.kem_id,
				(uint8_t)(su.kdf_id >> 8), (uint8_t)su.kdf_id,
				(uint8_t)(su.aead_id >> 8), (uint8_t)su.aead_id },
			      10 };
	return s;
}

static enum tb_hash_alg kdf_hash(uint16_t kdf_id)
{
	switch (kdf_id) {
	case DAP_HPKE_KDF_SHA256: return TB_HASH_SHA256;
	case DAP_HPKE_KDF_SHA384: return TB_HASH_SHA384;
	case DAP_HPKE_KDF_SHA512: return TB_HASH_SHA512;
	default: return TB_HASH_NONE;
	}
}

static enum tb_aead_alg aead_alg(uint16_t aead_id)
{
	switch (aead_id) {
	case DAP_HPKE_AEAD_AES128GCM: return TB_AEAD_AES128_GCM;
	case DAP_HPKE_AEAD_AES256GCM: return TB_AEAD_AES256_GCM;
	case DAP_HPKE_AEAD_CHACHA20POLY1305: return TB_AEAD_CHACHA20_POLY1305;
	default: return TB_AEAD_NONE;
	}
}

size_t dap_hpke_kem_pk_len(uint16_t kem_id)
{
	switch (kem_id) {
	case DAP_HPKE_KEM_X25519_SHA256: return 32;
	case DAP_HPKE_KEM_P256_SHA256: return 65;
	default: return 0;
	}
}

size_t dap_hpke_kem_sk_len(uint16_t kem_id)
{
	switch (kem_id) {
	case DAP_HPKE_KEM_X25519_SHA256:
	case DAP_HPKE_KEM_P256_SHA256: return 32;
	default: return 0;
	}
}

int dap_hpke_suite_supported(struct dap_hpke_suite s)
{
	if (!dap_hpke_kem_pk_len(s.kem_id) || kdf_hash(s.kdf_id) == TB_HASH_NONE ||
	    aead_alg(s.aead_id) == TB_AEAD_NONE)
		return TB_ERR_UNSUPPORTED;
	return 0;
}

/* ---- labeled HKDF (RFC 9180 section 4) ----------------------------------- */

/* LabeledExtract(salt, label, ikm) = Extract(salt, "HPKE-v1" || suite_id || label || ikm) */
static int labeled_extract(enum tb_hash_alg h, const struct suite_id *sid, struct tb_buf salt,
			   const char *label, struct tb_buf ikm, uint8_t *prk)
{
	uint8_t buf[LABELED_MAX];
	size_t n = 0, ll = strlen(label);
	int rc;
	if (ikm.len > DAP_HPKE_MAX_INFO_LEN + 2 * DAP_HPKE_MAX_PK_LEN || ll > LABEL_MAX)
		return TB_ERR_TOO_LARGE;
	memcpy(buf + n, LABEL_VERSION, 7);
	n += 7;
	memcpy(buf + n, sid->b, sid->len);
	n += sid->len;
	memcpy(buf + n, label, ll);
	n += ll;
	if (ikm.len)
		memcpy(buf + n, ikm.p, ikm.len);
	n += ikm.len;
	rc = tb_hkdf_extract(h, salt, TB_BUF(buf, n), prk);
	tb_crypto_wipe(buf, n);
	return rc;
}

/* LabeledExpand(prk, label, info, L) = Expand(prk, I2OSP(L, 2) || "HPKE-v1" || suite_id || label || info, L) */
static int labeled_expand(enum tb_hash_alg h, const struct suite_id *sid, struct tb_buf prk,
			  const char *label, struct tb_buf info, uint8_t *out, size_t len)
{
	uint8_t buf[LABELED_MAX];
	size_t n = 0, ll = strlen(label);
	if (info.len > DAP_HPKE_MAX_INFO_LEN + 2 * DAP_HPKE_MAX_PK_LEN || ll > LABEL_MAX ||
	    len > 0xffff)
		return TB_ERR_TOO_LARGE;
	buf[n++] = (uint8_t)(len >> 8);
	buf[n++] = (uint8_t)len;
	memcpy(buf + n, LABEL_VERSION, 7);
	n += 7;
	memcpy(buf + n, sid->b, sid->len);
	n += sid->len;
	memcpy(buf + n, label, ll);
	n += ll;
	if (info.len)
		memcpy(buf + n, info.p, info.len);
	n += info.len;
	return tb_hkdf_expand(h, prk, TB_BUF(buf, n), out, len);
}

/* ---- DHKEM ----------------------------------------------------------------- */

static int kem_public(uint16_t kem_id, const uint8_t *sk, uint8_t *pk)
{
	if (kem_id == DAP_HPKE_KEM_X25519_SHA256)
		return tb_x25519_public(sk, pk);
	if (kem_id == DAP_HPKE_KEM_P256_SHA256)
		return tb_ec_public(TB_CURVE_P256, sk, pk);
	return TB_ERR_UNSUPPORTED;
}

static int kem_dh(uint16_t kem_id, const uint8_t *sk, const uint8_t *pk, uint8_t *out)
{
	if (kem_id == DAP_HPKE_KEM_X25519_SHA256)
		return tb_x25519(out, sk, pk);
	if (kem_id == DAP_HPKE_KEM_P256_SHA256)
		return tb_ec_dh(TB_CURVE_P256, sk, pk, out);
	return TB_ERR_UNSUPPORTED;
}

int dap_hpke_keypair_from_sk(uint16_t kem_id, struct tb_buf sk, struct dap_hpke_keypair *kp)
{
	size_t skl = dap_hpke_kem_sk_len(kem_id);
	int rc;
	memset(kp, 0, sizeof(*kp));
	if (!skl)
		return TB_ERR_UNSUPPORTED;
	if (sk.len != skl)
		return TB_ERR_INVALID;
	kp->kem_id = kem_id;
	memcpy(kp->sk, sk.p, skl);
	kp->sk_len = skl;
	kp->pk_len = dap_hpke_kem_pk_len(kem_id);
	rc = kem_public(kem_id, kp->sk, kp->pk);
	if (rc)
		tb_crypto_wipe(kp, sizeof(*kp));
	return rc;
}

int dap_hpke_keygen(uint16_t kem_id, struct dap_hpke_keypair *kp)
{
	memset(kp, 0, sizeof(*kp));
	if (kem_id == DAP_HPKE_KEM_X25519_SHA256) {
		kp->kem_id = kem_id;
		kp->sk_len = kp->pk_len = 32;
		return tb_x25519_keygen(kp->sk, kp->pk);
	}
	if (kem_id == DAP_HPKE_KEM_P256_SHA256) {
		kp->kem_id = kem_id;
		kp->sk_len = 32;
		kp->pk_len = 65;
		return tb_ec_keygen(TB_CURVE_P256, kp->sk, kp->pk);
	}
	return TB_ERR_UNSUPPORTED;
}

int dap_hpke_derive_keypair(uint16_t kem_id, struct tb_buf ikm, struct dap_hpke_keypair *kp)
{
	struct suite_id sid = kem_suite_id(kem_id);
	uint8_t prk[TB_SHA256_LEN], sk[32];
	int rc;
	memset(kp, 0, sizeof(*kp));
	if (!dap_hpke_kem_sk_len(kem_id))
		return TB_ERR_UNSUPPORTED;
	if (ikm.len > DAP_HPKE_MAX_IKM_LEN)
		return TB_ERR_TOO_LARGE;
	rc = labeled_extract(TB_HASH_SHA256, &sid, TB_BUF(NULL, 0), "dkp_prk", ikm, prk);
	if (rc)
		goto out;
	if (kem_id == DAP_HPKE_KEM_X25519_SHA256) {
		rc = labeled_expand(TB_HASH_SHA256, &sid, TB_BUF(prk, sizeof(prk)), "sk",
				    TB_BUF(NULL, 0), sk, 32);
		if (!rc)
			rc = dap_hpke_keypair_from_sk(kem_id, TB_BUF(sk, 32), kp);
		goto out;
	}
	/* P-256: rejection sampling over candidates; bitmask 0xff. */
	rc = TB_ERR_CRYPTO;
	for (unsigned counter = 0; counter <= 255; counter++) {
		uint8_t c = (uint8_t)counter;
		int r2 = labeled_expand(TB_HASH_SHA256, &sid, TB_BUF(prk, sizeof(prk)), "candidate",
					TB_BUF(&c, 1), sk, 32);
		if (r2) {
			rc = r2;
			break;
		}
		r2 = dap_hpke_keypair_from_sk(kem_id, TB_BUF(sk, 32), kp);
		if (r2 == 0) {
			rc = 0;
			break;
		}
		if (r2 != TB_ERR_INVALID) { /* anything but "out of range" is fatal */
			rc = r2;
			break;
		}
	}
out:
	tb_crypto_wipe(prk, sizeof(prk));
	tb_crypto_wipe(sk, sizeof(sk));
	return rc;
}

/* ExtractAndExpand(dh, kem_context) with kem_context = enc || pkRm. */
static int kem_shared_secret(uint16_t kem_id, const uint8_t *dh, size_t dh_len,
			     const uint8_t *enc, const uint8_t *pk_r, size_t pk_len, uint8_t *ss)
{
	struct suite_id sid = kem_suite_id(kem_id);
	uint8_t prk[TB_SHA256_LEN], ctx[2 * DAP_HPKE_MAX_PK_LEN];
	int rc;
	memcpy(ctx, enc, pk_len);
	memcpy(ctx + pk_len, pk_r, pk_len);
	rc = labeled_extract(TB_HASH_SHA256, &sid, TB_BUF(NULL, 0), "eae_prk", TB_BUF(dh, dh_len), prk);
	if (!rc)
		rc = labeled_expand(TB_HASH_SHA256, &sid, TB_BUF(prk, sizeof(prk)), "shared_secret",
				    TB_BUF(ctx, 2 * pk_len), ss, KEM_NSECRET);
	tb_crypto_wipe(prk, sizeof(prk));
	return rc;
}

/* ---- key schedule (RFC 9180 section 5.1), base mode ----------------------- */

/* want_exporter = 0 skips exporter_secret (single-shot seal/open never export). */
static int key_schedule(struct dap_hpke_suite su, const uint8_t *ss, struct tb_buf info,
			int want_exporter, struct dap_hpke_ctx *ctx)
{
	struct suite_id sid = hpke_suite_id(su);
	enum tb_hash_alg h = kdf_hash(su.kdf_id);
	size_t nh = tb_hash_len(h);
	uint8_t ksc[1 + 2 * DAP_HPKE_MAX_NH], secret[DAP_HPKE_MAX_NH];
	int rc;

	memset(ctx, 0, sizeof(*ctx));
	ctx->suite = su;
	ctx->key_len = tb_aead_key_len(aead_alg(su.aead_id));
	ctx->exporter_secret_len = nh;
	/* key_schedule_context = mode || psk_id_hash || info_hash */
	ksc[0] = 0x00; /* mode_base */
	rc = labeled_extract(h, &sid, TB_BUF(NULL, 0), "psk_id_hash", TB_BUF(NULL, 0), ksc + 1);
	if (!rc)
		rc = labeled_extract(h, &sid, TB_BUF(NULL, 0), "info_hash", info, ksc + 1 + nh);
	/* secret = LabeledExtract(shared_secret, "secret", psk = "") */
	if (!rc)
		rc = labeled_extract(h, &sid, TB_BUF(ss, KEM_NSECRET), "secret", TB_BUF(NULL, 0), secret);
	struct tb_buf sec = TB_BUF(secret, nh), k = TB_BUF(ksc, 1 + 2 * nh);
	if (!rc)
		rc = labeled_expand(h, &sid, sec, "key", k, ctx->key, ctx->key_len);
	if (!rc)
		rc = labeled_expand(h, &sid, sec, "base_nonce", k, ctx->base_nonce, DAP_HPKE_NONCE_LEN);
	if (!rc && want_exporter)
		rc = labeled_expand(h, &sid, sec, "exp", k, ctx->exporter_secret, nh);
	if (!want_exporter)
		ctx->exporter_secret_len = 0; /* dap_hpke_ctx_export then refuses */
	tb_crypto_wipe(secret, sizeof(secret));
	if (rc)
		dap_hpke_ctx_clear(ctx);
	return rc;
}

static int setup_sender(struct dap_hpke_suite su, struct tb_buf pk_r, struct tb_buf info,
			const struct dap_hpke_keypair *eph, uint8_t *enc, size_t *enc_len,
			struct dap_hpke_ctx *ctx, uint8_t *shared_secret, int want_exporter)
{
	struct dap_hpke_keypair e;
	uint8_t dh[32], ss[KEM_NSECRET];
	size_t pkl;
	int rc;

	if ((rc = dap_hpke_suite_supported(su)))
		return rc;
	pkl = dap_hpke_kem_pk_len(su.kem_id);
	if (pk_r.len != pkl)
		return TB_ERR_INVALID;
	if (info.len > DAP_HPKE_MAX_INFO_LEN)
		return TB_ERR_TOO_LARGE;
	if (eph) {
		if (eph->kem_id != su.kem_id || eph->pk_len != pkl)
			return TB_ERR_INVALID;
		e = *eph;
	} else if ((rc = dap_hpke_keygen(su.kem_id, &e))) {
		return rc;
	}
	rc = kem_dh(su.kem_id, e.sk, pk_r.p, dh);
	if (rc == TB_ERR_CRYPTO)
		rc = TB_ERR_INVALID; /* pk_r is a small-order point */
	if (!rc)
		rc = kem_shared_secret(su.kem_id, dh, 32, e.pk, pk_r.p, pkl, ss);
	if (!rc)
		rc = key_schedule(su, ss, info, want_exporter, ctx);
	if (!rc) {
		memcpy(enc, e.pk, pkl);
		*enc_len = pkl;
		if (shared_secret)
			memcpy(shared_secret, ss, KEM_NSECRET);
	}
	tb_crypto_wipe(&e, sizeof(e));
	tb_crypto_wipe(dh, sizeof(dh));
	tb_crypto_wipe(ss, sizeof(ss));
	return rc;
}

static int setup_receiver(struct dap_hpke_suite su, const struct dap_hpke_keypair *kp_r,
			  struct tb_buf enc, struct tb_buf info, struct dap_hpke_ctx *ctx,
			  uint8_t *shared_secret, int want_exporter)
{
	uint8_t dh[32], ss[KEM_NSECRET];
	size_t pkl;
	int rc;

	if ((rc = dap_hpke_suite_supported(su)))
		return rc;
	pkl = dap_hpke_kem_pk_len(su.kem_id);
	if (kp_r->kem_id != su.kem_id || kp_r->pk_len != pkl)
		return TB_ERR_INVALID;
	if (enc.len != pkl)
		return TB_ERR_INVALID;
	if (info.len > DAP_HPKE_MAX_INFO_LEN)
		return TB_ERR_TOO_LARGE;
	rc = kem_dh(su.kem_id, kp_r->sk, enc.p, dh);
	if (rc == TB_ERR_CRYPTO || rc == TB_ERR_INVALID)
		rc = TB_ERR_INVALID; /* bad enc: small-order or off-curve point */
	if (!rc)
		rc = kem_shared_secret(su.kem_id, dh, 32, enc.p, kp_r->pk, pkl, ss);
	if (!rc)
		rc = key_schedule(su, ss, info, want_exporter, ctx);
	if (!rc && shared_secret)
		memcpy(shared_secret, ss, KEM_NSECRET);
	tb_crypto_wipe(dh, sizeof(dh));
	tb_crypto_wipe(ss, sizeof(ss));
	return rc;
}

int dap_hpke_setup_sender(struct dap_hpke_suite su, struct tb_buf pk_r, struct tb_buf info,
			  const struct dap_hpke_keypair *eph, uint8_t *enc, size_t *enc_len,
			  struct dap_hpke_ctx *ctx, uint8_t *shared_secret)
{
	return setup_sender(su, pk_r, info, eph, enc, enc_len, ctx, shared_secret, 1);
}

int dap_hpke_setup_receiver(struct dap_hpke_suite su, const struct dap_hpke_keypair *kp_r,
			    struct tb_buf enc, struct tb_buf info, struct dap_hpke_ctx *ctx,
			    uint8_t *shared_secret)
{
	return setup_receiver(su, kp_r, enc, info, ctx, shared_secret, 1);
}

static void compute_nonce(const struct dap_hpke_ctx *ctx, uint8_t nonce[DAP_HPKE_NONCE_LEN])
{
	memcpy(nonce, ctx->base_nonce, DAP_HPKE_NONCE_LEN);
	for (int i = 0; i < 8; i++)
		nonce[DAP_HPKE_NONCE_LEN - 1 - i] ^= (uint8_t)(ctx->seq >> (8 * i));
}

int dap_hpke_ctx_seal(struct dap_hpke_ctx *ctx, struct tb_buf aad, struct tb_buf pt, uint8_t *out)
{
	uint8_t nonce[DAP_HPKE_NONCE_LEN];
	int rc;
	if (ctx->seq == UINT64_MAX)
		return TB_ERR_STATE; /* MessageLimitReachedError */
	compute_nonce(ctx, nonce);
	rc = tb_aead_seal(aead_alg(ctx->suite.aead_id), TB_BUF(ctx->key, ctx->key_len), nonce, aad,
			  pt, out);
	if (!rc)
		ctx->seq++;
	return rc;
}

int dap_hpke_ctx_open(struct dap_hpke_ctx *ctx, struct tb_buf aad, struct tb_buf ct, uint8_t *out)
{
	uint8_t nonce[DAP_HPKE_NONCE_LEN];
	int rc;
	if (ctx->seq == UINT64_MAX)
		return TB_ERR_STATE;
	compute_nonce(ctx, nonce);
	rc = tb_aead_open(aead_alg(ctx->suite.aead_id), TB_BUF(ctx->key, ctx->key_len), nonce, aad,
			  ct, out);
	if (!rc)
		ctx->seq++;
	return rc;
}

int dap_hpke_ctx_export(const struct dap_hpke_ctx *ctx, struct tb_buf exporter_context,
			uint8_t *out, size_t out_len)
{
	struct suite_id sid = hpke_suite_id(ctx->suite);
	enum tb_hash_alg h = kdf_hash(ctx->suite.kdf_id);
	if (h == TB_HASH_NONE || ctx->exporter_secret_len == 0)
		return TB_ERR_STATE;
	if (exporter_context.len > DAP_HPKE_MAX_INFO_LEN)
		return TB_ERR_TOO_LARGE;
	if (out_len > 255 * tb_hash_len(h))
		return TB_ERR_INVALID;
	return labeled_expand(h, &sid, TB_BUF(ctx->exporter_secret, ctx->exporter_secret_len),
			      "sec", exporter_context, out, out_len);
}

void dap_hpke_ctx_clear(struct dap_hpke_ctx *ctx)
{
	tb_crypto_wipe(ctx, sizeof(*ctx));
}

/* ---- DAP-09 encodings ------------------------------------------------------ */

int dap_hpke_config_encode(const struct dap_hpke_config *c, struct tb_bytes *out)
{
	if (c->public_key.len == 0 || c->public_key.len > 0xffff)
		return TB_ERR_INVALID;
	tb_bytes_u8(out, c->id);
	tb_bytes_u16(out, c->kem_id);
	tb_bytes_u16(out, c->kdf_id);
	tb_bytes_u16(out, c->aead_id);
	tb_bytes_vec(out, 2, c->public_key.p, c->public_key.len);
	return out->err;
}

int dap_hpke_config_list_encode(const struct dap_hpke_config *cs, size_t n, struct tb_bytes *out)
{
	size_t mark, start = out->len;
	int rc;
	if (n == 0 || n > DAP_HPKE_MAX_CONFIGS)
		return TB_ERR_INVALID;
	if ((rc = tb_bytes_vec_begin(out, 2, &mark)))
		return rc;
	for (size_t i = 0; i < n; i++) {
		if ((rc = dap_hpke_config_encode(&cs[i], out))) {
			out->len = start;
			return rc;
		}
	}
	if ((rc = tb_bytes_vec_end(out, 2, mark)))
		out->len = start;
	return rc;
}

int dap_hpke_ciphertext_encode(const struct dap_hpke_ciphertext *c, struct tb_bytes *out)
{
	if (c->enc.len == 0 || c->enc.len > 0xffff || c->payload.len == 0 ||
	    (uint64_t)c->payload.len > 0xffffffffu)
		return TB_ERR_INVALID;
	tb_bytes_u8(out, c->config_id);
	tb_bytes_vec(out, 2, c->enc.p, c->enc.len);
	tb_bytes_vec(out, 4, c->payload.p, c->payload.len);
	return out->err;
}

int dap_hpke_config_read(struct tb_reader *r, struct dap_hpke_config *c)
{
	int rc;
	memset(c, 0, sizeof(*c));
	if ((rc = tb_read_u8(r, &c->id)) || (rc = tb_read_u16(r, &c->kem_id)) ||
	    (rc = tb_read_u16(r, &c->kdf_id)) || (rc = tb_read_u16(r, &c->aead_id)) ||
	    (rc = tb_read_vec(r, 2, &c->public_key)))
		return rc;
	if (c->public_key.len == 0)
		return TB_ERR_INVALID; /* opaque HpkePublicKey<1..2^16-1> */
	return 0;
}

int dap_hpke_ciphertext_read(struct tb_reader *r, struct dap_hpke_ciphertext *c)
{
	int rc;
	memset(c, 0, sizeof(*c));
	if ((rc = tb_read_u8(r, &c->config_id)) || (rc = tb_read_vec(r, 2, &c->enc)) ||
	    (rc = tb_read_vec(r, 4, &c->payload)))
		return rc;
	if (c->enc.len == 0 || c->payload.len == 0)
		return TB_ERR_INVALID; /* both vectors have a minimum length of 1 */
	return 0;
}

int dap_hpke_config_decode(struct tb_buf in, struct dap_hpke_config *c)
{
	struct tb_reader r = TB_READER(in.p, in.len);
	int rc = dap_hpke_config_read(&r, c);
	return rc ? rc : tb_read_end(&r);
}

int dap_hpke_ciphertext_decode(struct tb_buf in, struct dap_hpke_ciphertext *c)
{
	struct tb_reader r = TB_READER(in.p, in.len);
	int rc = dap_hpke_ciphertext_read(&r, c);
	return rc ? rc : tb_read_end(&r);
}

int dap_hpke_config_list_decode(struct tb_buf in, struct dap_hpke_config *cs, size_t max,
				size_t *n)
{
	struct tb_reader r = TB_READER(in.p, in.len), list;
	struct tb_buf body;
	size_t count = 0;
	int rc;
	*n = 0;
	if ((rc = tb_read_vec(&r, 2, &body)))
		return rc;
	if ((rc = tb_read_end(&r)))
		return rc;
	if (body.len == 0)
		return TB_ERR_INVALID; /* HpkeConfigList<1..2^16-1> */
	if (max > DAP_HPKE_MAX_CONFIGS)
		max = DAP_HPKE_MAX_CONFIGS;
	list = TB_READER(body.p, body.len);
	while (tb_reader_left(&list) > 0) {
		if (count >= max)
			return TB_ERR_TOO_LARGE;
		if ((rc = dap_hpke_config_read(&list, &cs[count])))
			return rc;
		count++;
	}
	*n = count;
	return 0;
}

int dap_hpke_config_check(const struct dap_hpke_config *c)
{
	struct dap_hpke_suite su = dap_hpke_config_suite(c);
	int rc = dap_hpke_suite_supported(su);
	if (rc)
		return rc;
	if (c->public_key.len != dap_hpke_kem_pk_len(c->kem_id))
		return TB_ERR_INVALID;
	if (c->kem_id == DAP_HPKE_KEM_P256_SHA256) {
		struct tb_pkey *k = NULL;
		rc = tb_pkey_from_ec_public(TB_CURVE_P256, c->public_key, &k);
		tb_pkey_free(k);
		return rc ? TB_ERR_INVALID : 0;
	}
	return 0;
}

static struct tb_buf info_string(const char *prefix, uint8_t a, uint8_t b,
				 uint8_t buf[DAP_HPKE_INFO_BUF])
{
	size_t n = strlen(prefix);
	memcpy(buf, prefix, n);
	buf[n] = a;
	buf[n + 1] = b;
	return TB_BUF(buf, n + 2);
}

struct tb_buf dap_hpke_info_input_share(uint8_t server_role, uint8_t buf[DAP_HPKE_INFO_BUF])
{
	return info_string("dap-09 input share", DAP_ROLE_CLIENT, server_role, buf);
}

struct tb_buf dap_hpke_info_aggregate_share(uint8_t server_role, uint8_t buf[DAP_HPKE_INFO_BUF])
{
	return info_string("dap-09 aggregate share", server_role, DAP_ROLE_COLLECTOR, buf);
}

int dap_hpke_aad_input_share(const uint8_t task_id[32], const uint8_t report_id[16],
			     uint64_t time, struct tb_buf public_share, struct tb_bytes *out)
{
	if ((uint64_t)public_share.len > 0xffffffffu)
		return TB_ERR_TOO_LARGE;
	tb_bytes_append(out, task_id, 32);
	tb_bytes_append(out, report_id, 16);
	tb_bytes_u64(out, time);
	tb_bytes_vec(out, 4, public_share.p, public_share.len);
	return out->err;
}

int dap_hpke_aad_aggregate_share(const uint8_t task_id[32], struct tb_buf agg_param,
				 struct tb_buf batch_selector, struct tb_bytes *out)
{
	if ((uint64_t)agg_param.len > 0xffffffffu)
		return TB_ERR_TOO_LARGE;
	tb_bytes_append(out, task_id, 32);
	tb_bytes_vec(out, 4, agg_param.p, agg_param.len);
	if (batch_selector.len)
		tb_bytes_append(out, batch_selector.p, batch_selector.len);
	return out->err;
}

int dap_hpke_seal(const struct dap_hpke_config *cfg, struct tb_buf info, struct tb_buf aad,
		  struct tb_buf pt, struct tb_bytes *enc_out, struct tb_bytes *payload_out,
		  struct dap_hpke_ciphertext *ct)
{
	struct dap_hpke_ctx ctx;
	uint8_t enc[DAP_HPKE_MAX_ENC_LEN];
	size_t enc_len = 0, enc_start = enc_out->len, pay_start = payload_out->len;
	int rc;

	if (pt.len > DAP_HPKE_MAX_PAYLOAD)
		return TB_ERR_TOO_LARGE;
	rc = setup_sender(dap_hpke_config_suite(cfg), cfg->public_key, info, NULL, enc, &enc_len,
			  &ctx, NULL, 0);
	if (rc)
		return rc;
	if ((rc = tb_bytes_append(enc_out, enc, enc_len)) ||
	    (rc = tb_bytes_reserve(payload_out, pt.len + DAP_HPKE_TAG_LEN)))
		goto out;
	rc = dap_hpke_ctx_seal(&ctx, aad, pt, payload_out->p + payload_out->len);
	if (rc)
		goto out;
	payload_out->len += pt.len + DAP_HPKE_TAG_LEN;
	ct->config_id = cfg->id;
	ct->enc = TB_BUF(enc_out->p + enc_start, enc_len);
	ct->payload = TB_BUF(payload_out->p + pay_start, pt.len + DAP_HPKE_TAG_LEN);
out:
	if (rc) {
		enc_out->len = enc_start;
		payload_out->len = pay_start;
	}
	dap_hpke_ctx_clear(&ctx);
	return rc;
}

int dap_hpke_open(const struct dap_hpke_config *cfg, const struct dap_hpke_keypair *kp,
		  const struct dap_hpke_ciphertext *ct, struct tb_buf info, struct tb_buf aad,
		  struct tb_bytes *pt)
{
	struct dap_hpke_ctx ctx;
	size_t start = pt->len, n;
	int rc;

	if (ct->config_id != cfg->id)
		return TB_ERR_NOT_FOUND;
	if (ct->payload.len > DAP_HPKE_MAX_PAYLOAD + DAP_HPKE_TAG_LEN)
		return TB_ERR_TOO_LARGE;
	if (ct->payload.len < DAP_HPKE_TAG_LEN)
		return TB_ERR_VERIFY;
	n = ct->payload.len - DAP_HPKE_TAG_LEN;
	rc = setup_receiver(dap_hpke_config_suite(cfg), kp, ct->enc, info, &ctx, NULL, 0);
	if (rc)
		return rc == TB_ERR_INVALID ? TB_ERR_VERIFY : rc;
	if ((rc = tb_bytes_reserve(pt, n + 1)))
		goto out;
	rc = dap_hpke_ctx_open(&ctx, aad, ct->payload, pt->p + start);
	if (!rc)
		pt->len += n;
out:
	dap_hpke_ctx_clear(&ctx);
	return rc;
}
