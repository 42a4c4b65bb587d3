/*
 * DESIGN: the crypto provider (see crypto.h). Each primitive is implemented
 * once here on the backend that is fastest on this platform: libsodium for
 * randomness, X25519, Ed25519 and ChaCha20-Poly1305; mbedTLS 2.28 for SHA-2,
 * HMAC, HKDF, AES-GCM (AES-NI), the NIST curves and RSA. Callers never see a
 * backend type, so swapping one (say ECDSA verify to a faster library) is a
 * change to this file only.
 *
 * Thread safety: libsodium is thread-safe after sodium_init; mbedTLS is built
 * with MBEDTLS_THREADING_C, which guards RSA blinding state. One hidden
 * mutation remains: mbedtls_ecp_mul caches the generator's comb table in the
 * group on first use, so every EC tb_pkey does one multiplication by G when
 * it is created ("warm-up"); after that its group is only read.
 */
#include "core/crypto.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include <mbedtls/bignum.h>
#include <mbedtls/ecdh.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/ecp.h>
#include <mbedtls/gcm.h>
#include <mbedtls/hkdf.h>
#include <mbedtls/md.h>
#include <mbedtls/pk.h>
#include <mbedtls/rsa.h>
#include <mbedtls/sha1.h>
#include <mbedtls/sha256.h>
#include <mbedtls/sha512.h>

#include "core/error.h"

/* ---- setup and randomness ---------------------------------------------- */

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_result;

static void do_init(void)
{
	init_result = sodium_init() < 0 ? TB_ERR_CRYPTO : 0;
}

int tb_crypto_init(void)
{
	pthread_once(&init_once, do_init);
	return init_result;
}

int tb_random(void *p, size_t n)
{
	int rc = tb_crypto_init();
	if (rc)
		return rc;
	if (n)
		randombytes_buf(p, n);
	return 0;
}

int tb_crypto_mbedtls_rng(void *p_rng, unsigned char *out, size_t n)
{
	(void)p_rng;
	return tb_random(out, n) ? MBEDTLS_ERR_ECP_RANDOM_FAILED : 0;
}

void tb_crypto_wipe(void *p, size_t n)
{
	if (p && n)
		sodium_memzero(p, n);
}

/* ---- DRBG ---------------------------------------------------------------- */

static void drbg_refill(struct tb_drbg *d)
{
	static const uint8_t nonce[crypto_stream_chacha20_ietf_NONCEBYTES] = { 0 };
	uint8_t block[32 + TB_DRBG_BUF];
	/* The key changes on every refill, so a fixed nonce never repeats a stream. */
	crypto_stream_chacha20_ietf(block, sizeof(block), nonce, d->key);
	memcpy(d->key, block, 32);
	memcpy(d->buf, block + 32, TB_DRBG_BUF);
	d->pos = 0;
	sodium_memzero(block, sizeof(block));
}

void tb_drbg_seed(struct tb_drbg *d, const uint8_t seed[32])
{
	tb_crypto_init();
	memcpy(d->key, seed, 32);
	drbg_refill(d);
}

int tb_drbg_init(struct tb_drbg *d)
{
	uint8_t seed[32];
	int rc = tb_random(seed, sizeof(seed));
	if (rc)
		return rc;
	tb_drbg_seed(d, seed);
	sodium_memzero(seed, sizeof(seed));
	return 0;
}

void tb_drbg_bytes(struct tb_drbg *d, void *out, size_t n)
{
	uint8_t *o = out;
	while (n > 0) {
		if (d->pos == TB_DRBG_BUF)
			drbg_refill(d);
		size_t k = TB_DRBG_BUF - d->pos;
		if (k > n)
			k = n;
		memcpy(o, d->buf + d->pos, k);
		sodium_memzero(d->buf + d->pos, k); /* no backtracking from a captured state */
		d->pos += k;
		o += k;
		n -= k;
	}
}

void tb_drbg_clear(struct tb_drbg *d)
{
	sodium_memzero(d, sizeof(*d));
}

/* ---- hashes ------------------------------------------------------------ */

_Static_assert(sizeof(mbedtls_sha256_context) <= TB_HASH_CTX_SIZE, "hash ctx too small");
_Static_assert(sizeof(mbedtls_sha512_context) <= TB_HASH_CTX_SIZE, "hash ctx too small");
_Static_assert(sizeof(mbedtls_sha1_context) <= TB_HASH_CTX_SIZE, "hash ctx too small");

size_t tb_hash_len(enum tb_hash_alg alg)
{
	switch (alg) {
	case TB_HASH_SHA256: return TB_SHA256_LEN;
	case TB_HASH_SHA384: return TB_SHA384_LEN;
	case TB_HASH_SHA512: return TB_SHA512_LEN;
	case TB_HASH_SHA1: return TB_SHA1_LEN;
	default: return 0;
	}
}

static const mbedtls_md_info_t *md_info(enum tb_hash_alg alg)
{
	switch (alg) {
	case TB_HASH_SHA256: return mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
	case TB_HASH_SHA384: return mbedtls_md_info_from_type(MBEDTLS_MD_SHA384);
	case TB_HASH_SHA512: return mbedtls_md_info_from_type(MBEDTLS_MD_SHA512);
	case TB_HASH_SHA1: return mbedtls_md_info_from_type(MBEDTLS_MD_SHA1);
	default: return NULL;
	}
}

static mbedtls_md_type_t md_type(enum tb_hash_alg alg)
{
	switch (alg) {
	case TB_HASH_SHA256: return MBEDTLS_MD_SHA256;
	case TB_HASH_SHA384: return MBEDTLS_MD_SHA384;
	case TB_HASH_SHA512: return MBEDTLS_MD_SHA512;
	case TB_HASH_SHA1: return MBEDTLS_MD_SHA1;
	default: return MBEDTLS_MD_NONE;
	}
}

int tb_hash(enum tb_hash_alg alg, struct tb_buf msg, uint8_t *out)
{
	uint8_t full[TB_SHA512_LEN]; /* mbedTLS declares a 64-byte output for SHA-384 too */
	int rc;
	switch (alg) {
	case TB_HASH_SHA256: rc = mbedtls_sha256_ret(msg.p, msg.len, out, 0); break;
	case TB_HASH_SHA384:
		rc = mbedtls_sha512_ret(msg.p, msg.len, full, 1);
		memcpy(out, full, TB_SHA384_LEN);
		break;
	case TB_HASH_SHA512: rc = mbedtls_sha512_ret(msg.p, msg.len, out, 0); break;
	case TB_HASH_SHA1: rc = mbedtls_sha1_ret(msg.p, msg.len, out); break;
	default: return TB_ERR_UNSUPPORTED;
	}
	return rc ? TB_ERR_CRYPTO : 0;
}

int tb_sha256(struct tb_buf msg, uint8_t out[TB_SHA256_LEN])
{
	return tb_hash(TB_HASH_SHA256, msg, out);
}

int tb_sha384(struct tb_buf msg, uint8_t out[TB_SHA384_LEN])
{
	return tb_hash(TB_HASH_SHA384, msg, out);
}

int tb_sha512(struct tb_buf msg, uint8_t out[TB_SHA512_LEN])
{
	return tb_hash(TB_HASH_SHA512, msg, out);
}

int tb_hash_init(struct tb_hash_ctx *ctx, enum tb_hash_alg alg)
{
	int rc;
	memset(ctx, 0, sizeof(*ctx));
	ctx->alg = alg;
	switch (alg) {
	case TB_HASH_SHA256: {
		mbedtls_sha256_context *c = (void *)ctx->u.opaque;
		mbedtls_sha256_init(c);
		rc = mbedtls_sha256_starts_ret(c, 0);
		break;
	}
	case TB_HASH_SHA384:
	case TB_HASH_SHA512: {
		mbedtls_sha512_context *c = (void *)ctx->u.opaque;
		mbedtls_sha512_init(c);
		rc = mbedtls_sha512_starts_ret(c, alg == TB_HASH_SHA384);
		break;
	}
	case TB_HASH_SHA1: {
		mbedtls_sha1_context *c = (void *)ctx->u.opaque;
		mbedtls_sha1_init(c);
		rc = mbedtls_sha1_starts_ret(c);
		break;
	}
	default:
		ctx->alg = TB_HASH_NONE;
		return TB_ERR_UNSUPPORTED;
	}
	return rc ? TB_ERR_CRYPTO : 0;
}

int tb_hash_update(struct tb_hash_ctx *ctx, const void *p, size_t n)
{
	int rc;
	if (n == 0)
		return 0;
	switch (ctx->alg) {
	case TB_HASH_SHA256: rc = mbedtls_sha256_update_ret((void *)ctx->u.opaque, p, n); break;
	case TB_HASH_SHA384:
	case TB_HASH_SHA512: rc = mbedtls_sha512_update_ret((void *)ctx->u.opaque, p, n); break;
	case TB_HASH_SHA1: rc = mbedtls_sha1_update_ret((void *)ctx->u.opaque, p, n); break;
	default: return TB_ERR_STATE;
	}
	return rc ? TB_ERR_CRYPTO : 0;
}

int tb_hash_final(struct tb_hash_ctx *ctx, uint8_t *out)
{
	int rc;
	switch (ctx->alg) {
	case TB_HASH_SHA256: rc = mbedtls_sha256_finish_ret((void *)ctx->u.opaque, out); break;
	case TB_HASH_SHA384: {
		uint8_t full[TB_SHA512_LEN];
		rc = mbedtls_sha512_finish_ret((void *)ctx->u.opaque, full);
		memcpy(out, full, TB_SHA384_LEN);
		break;
	}
	case TB_HASH_SHA512: rc = mbedtls_sha512_finish_ret((void *)ctx->u.opaque, out); break;
	case TB_HASH_SHA1: rc = mbedtls_sha1_finish_ret((void *)ctx->u.opaque, out); break;
	default: return TB_ERR_STATE;
	}
	tb_crypto_wipe(ctx, sizeof(*ctx));
	return rc ? TB_ERR_CRYPTO : 0;
}

/* ---- HMAC and HKDF ----------------------------------------------------- */

/*
 * HMAC-SHA256 and HMAC-SHA512 go through libsodium: no heap allocation and
 * a copyable keyed state, which makes HKDF-Expand cheap (the key is
 * processed once, not once per block). HPKE runs about ten of these per
 * open. SHA-384 and SHA-1 use mbedTLS.
 */
static const uint8_t empty_key[1];

int tb_hmac(enum tb_hash_alg alg, struct tb_buf key, struct tb_buf msg, uint8_t *out)
{
	const uint8_t *k = key.len ? key.p : empty_key;
	int rc;
	if (alg == TB_HASH_SHA256 || alg == TB_HASH_SHA512) {
		if ((rc = tb_crypto_init()))
			return rc;
	}
	if (alg == TB_HASH_SHA256) {
		crypto_auth_hmacsha256_state st;
		crypto_auth_hmacsha256_init(&st, k, key.len);
		crypto_auth_hmacsha256_update(&st, msg.p, msg.len);
		crypto_auth_hmacsha256_final(&st, out);
		return 0;
	}
	if (alg == TB_HASH_SHA512) {
		crypto_auth_hmacsha512_state st;
		crypto_auth_hmacsha512_init(&st, k, key.len);
		crypto_auth_hmacsha512_update(&st, msg.p, msg.len);
		crypto_auth_hmacsha512_final(&st, out);
		return 0;
	}
	const mbedtls_md_info_t *md = md_info(alg);
	if (!md)
		return TB_ERR_UNSUPPORTED;
	return mbedtls_md_hmac(md, key.p, key.len, msg.p, msg.len, out) ? TB_ERR_CRYPTO : 0;
}

int tb_hkdf_extract(enum tb_hash_alg alg, struct tb_buf salt, struct tb_buf ikm, uint8_t *prk)
{
	/* An empty salt is HashLen zeros, which HMAC pads identically to "". */
	if (!tb_hash_len(alg))
		return TB_ERR_UNSUPPORTED;
	return tb_hmac(alg, salt, ikm, prk);
}

/* T(i) = HMAC(PRK, T(i-1) || info || i), with the keyed state reused. */
#define HKDF_EXPAND_SODIUM(STATE, PREFIX, HLEN)                                              \
	do {                                                                                 \
		STATE base, st;                                                              \
		uint8_t t[HLEN];                                                             \
		size_t done = 0;                                                             \
		PREFIX##_init(&base, prk.p, prk.len);                                        \
		for (unsigned i = 1; done < out_len; i++) {                                  \
			uint8_t c = (uint8_t)i;                                              \
			st = base;                                                           \
			if (i > 1)                                                           \
				PREFIX##_update(&st, t, HLEN);                               \
			PREFIX##_update(&st, info.p, info.len);                              \
			PREFIX##_update(&st, &c, 1);                                         \
			PREFIX##_final(&st, t);                                              \
			size_t k = out_len - done < HLEN ? out_len - done : HLEN;            \
			memcpy(out + done, t, k);                                            \
			done += k;                                                           \
		}                                                                            \
		sodium_memzero(&base, sizeof(base));                                         \
		sodium_memzero(&st, sizeof(st));                                             \
		sodium_memzero(t, sizeof(t));                                                \
	} while (0)

int tb_hkdf_expand(enum tb_hash_alg alg, struct tb_buf prk, struct tb_buf info, uint8_t *out,
		   size_t out_len)
{
	const mbedtls_md_info_t *md = md_info(alg);
	int rc;
	if (!md)
		return TB_ERR_UNSUPPORTED;
	if (out_len > 255 * tb_hash_len(alg) || prk.len < tb_hash_len(alg))
		return TB_ERR_INVALID;
	if (alg == TB_HASH_SHA256 || alg == TB_HASH_SHA512) {
		if ((rc = tb_crypto_init()))
			return rc;
		if (!info.p)
			info.p = (uint8_t *)empty_key;
		if (alg == TB_HASH_SHA256)
			HKDF_EXPAND_SODIUM(crypto_auth_hmacsha256_state, crypto_auth_hmacsha256, 32);
		else
			HKDF_EXPAND_SODIUM(crypto_auth_hmacsha512_state, crypto_auth_hmacsha512, 64);
		return 0;
	}
	return mbedtls_hkdf_expand(md, prk.p, prk.len, info.p, info.len, out, out_len)
		       ? TB_ERR_CRYPTO : 0;
}

int tb_hkdf(enum tb_hash_alg alg, struct tb_buf salt, struct tb_buf ikm, struct tb_buf info,
	    uint8_t *out, size_t out_len)
{
	uint8_t prk[TB_HASH_MAX_LEN];
	int rc = tb_hkdf_extract(alg, salt, ikm, prk);
	if (!rc)
		rc = tb_hkdf_expand(alg, TB_BUF(prk, tb_hash_len(alg)), info, out, out_len);
	tb_crypto_wipe(prk, sizeof(prk));
	return rc;
}

/* ---- AEAD -------------------------------------------------------------- */

size_t tb_aead_key_len(enum tb_aead_alg alg)
{
	switch (alg) {
	case TB_AEAD_AES128_GCM: return 16;
	case TB_AEAD_AES256_GCM: return 32;
	case TB_AEAD_CHACHA20_POLY1305: return 32;
	default: return 0;
	}
}

int tb_aead_seal(enum tb_aead_alg alg, struct tb_buf key, const uint8_t nonce[TB_AEAD_NONCE_LEN],
		 struct tb_buf aad, struct tb_buf pt, uint8_t *out)
{
	size_t klen = tb_aead_key_len(alg);
	int rc;
	if (!klen)
		return TB_ERR_UNSUPPORTED;
	if (key.len != klen)
		return TB_ERR_INVALID;
	if (alg == TB_AEAD_CHACHA20_POLY1305) {
		unsigned long long clen;
		if ((rc = tb_crypto_init()))
			return rc;
		if (pt.len > SIZE_MAX - TB_AEAD_TAG_LEN)
			return TB_ERR_TOO_LARGE;
		rc = crypto_aead_chacha20poly1305_ietf_encrypt(out, &clen, pt.p, pt.len, aad.p,
							       aad.len, NULL, nonce, key.p);
		return rc ? TB_ERR_CRYPTO : 0;
	}
	mbedtls_gcm_context gcm;
	mbedtls_gcm_init(&gcm);
	rc = mbedtls_gcm_setkey(&gcm, MBEDTLS_CIPHER_ID_AES, key.p, (unsigned)(klen * 8));
	if (!rc)
		rc = mbedtls_gcm_crypt_and_tag(&gcm, MBEDTLS_GCM_ENCRYPT, pt.len, nonce,
					       TB_AEAD_NONCE_LEN, aad.p, aad.len, pt.p, out,
					       TB_AEAD_TAG_LEN, out + pt.len);
	mbedtls_gcm_free(&gcm);
	return rc ? TB_ERR_CRYPTO : 0;
}

int tb_aead_open(enum tb_aead_alg alg, struct tb_buf key, const uint8_t nonce[TB_AEAD_NONCE_LEN],
		 struct tb_buf aad, struct tb_buf ct, uint8_t *out)
{
	size_t klen = tb_aead_key_len(alg);
	int rc;
	if (!klen)
		return TB_ERR_UNSUPPORTED;
	if (key.len != klen)
		return TB_ERR_INVALID;
	if (ct.len < TB_AEAD_TAG_LEN)
		return TB_ERR_VERIFY;
	size_t n = ct.len - TB_AEAD_TAG_LEN;
	if (alg == TB_AEAD_CHACHA20_POLY1305) {
		unsigned long long mlen;
		if ((rc = tb_crypto_init()))
			return rc;
		rc = crypto_aead_chacha20poly1305_ietf_decrypt(out, &mlen, NULL, ct.p, ct.len,
							       aad.p, aad.len, nonce, key.p);
		if (rc) {
			if (n)
				memset(out, 0, n);
			return TB_ERR_VERIFY;
		}
		return 0;
	}
	mbedtls_gcm_context gcm;
	mbedtls_gcm_init(&gcm);
	rc = mbedtls_gcm_setkey(&gcm, MBEDTLS_CIPHER_ID_AES, key.p, (unsigned)(klen * 8));
	if (rc) {
		mbedtls_gcm_free(&gcm);
		return TB_ERR_CRYPTO;
	}
	/* The tag is read before the (possibly in-place) decryption overwrites
	 * nothing of it: it sits after the n ciphertext bytes. */
	rc = mbedtls_gcm_auth_decrypt(&gcm, n, nonce, TB_AEAD_NONCE_LEN, aad.p, aad.len,
				      ct.p + n, TB_AEAD_TAG_LEN, ct.p, out);
	mbedtls_gcm_free(&gcm);
	if (rc == MBEDTLS_ERR_GCM_AUTH_FAILED)
		return TB_ERR_VERIFY;
	return rc ? TB_ERR_CRYPTO : 0;
}

/* ---- X25519 and Ed25519 ------------------------------------------------ */

int tb_x25519_keygen(uint8_t sk[TB_X25519_LEN], uint8_t pk[TB_X25519_LEN])
{
	int rc = tb_random(sk, TB_X25519_LEN);
	if (rc)
		return rc;
	return tb_x25519_public(sk, pk);
}

int tb_x25519_public(const uint8_t sk[TB_X25519_LEN], uint8_t pk[TB_X25519_LEN])
{
	int rc = tb_crypto_init();
	if (rc)
		return rc;
	return crypto_scalarmult_curve25519_base(pk, sk) ? TB_ERR_CRYPTO : 0;
}

int tb_x25519(uint8_t out[TB_X25519_LEN], const uint8_t sk[TB_X25519_LEN],
	      const uint8_t pk[TB_X25519_LEN])
{
	int rc = tb_crypto_init();
	if (rc)
		return rc;
	return crypto_scalarmult_curve25519(out, sk, pk) ? TB_ERR_CRYPTO : 0;
}

int tb_ed25519_keygen(uint8_t pk[TB_ED25519_PUBLIC_LEN], uint8_t sk[TB_ED25519_SECRET_LEN])
{
	int rc = tb_crypto_init();
	if (rc)
		return rc;
	return crypto_sign_ed25519_keypair(pk, sk) ? TB_ERR_CRYPTO : 0;
}

int tb_ed25519_from_seed(const uint8_t seed[TB_ED25519_SEED_LEN], uint8_t pk[TB_ED25519_PUBLIC_LEN],
			 uint8_t sk[TB_ED25519_SECRET_LEN])
{
	int rc = tb_crypto_init();
	if (rc)
		return rc;
	return crypto_sign_ed25519_seed_keypair(pk, sk, seed) ? TB_ERR_CRYPTO : 0;
}

int tb_ed25519_sign(const uint8_t sk[TB_ED25519_SECRET_LEN], struct tb_buf msg,
		    uint8_t sig[TB_ED25519_SIG_LEN])
{
	int rc = tb_crypto_init();
	if (rc)
		return rc;
	return crypto_sign_ed25519_detached(sig, NULL, msg.p, msg.len, sk) ? TB_ERR_CRYPTO : 0;
}

int tb_ed25519_verify(const uint8_t pk[TB_ED25519_PUBLIC_LEN], struct tb_buf msg,
		      const uint8_t sig[TB_ED25519_SIG_LEN])
{
	int rc = tb_crypto_init();
	if (rc)
		return rc;
	return crypto_sign_ed25519_verify_detached(sig, msg.p, msg.len, pk) ? TB_ERR_VERIFY : 0;
}

/* ---- raw elliptic-curve keys ------------------------------------------- */

size_t tb_curve_len(enum tb_curve curve)
{
	switch (curve) {
	case TB_CURVE_P256: return 32;
	case TB_CURVE_P384: return 48;
	default: return 0;
	}
}

size_t tb_curve_point_len(enum tb_curve curve)
{
	size_t n = tb_curve_len(curve);
	return n ? 1 + 2 * n : 0;
}

static mbedtls_ecp_group_id curve_gid(enum tb_curve curve)
{
	switch (curve) {
	case TB_CURVE_P256: return MBEDTLS_ECP_DP_SECP256R1;
	case TB_CURVE_P384: return MBEDTLS_ECP_DP_SECP384R1;
	default: return MBEDTLS_ECP_DP_NONE;
	}
}

static enum tb_curve gid_curve(mbedtls_ecp_group_id gid)
{
	switch (gid) {
	case MBEDTLS_ECP_DP_SECP256R1: return TB_CURVE_P256;
	case MBEDTLS_ECP_DP_SECP384R1: return TB_CURVE_P384;
	default: return TB_CURVE_NONE;
	}
}

/* Maps an mbedTLS error from key handling to ours. */
static int ec_err(int rc)
{
	if (rc == 0)
		return 0;
	if (rc == MBEDTLS_ERR_ECP_ALLOC_FAILED || rc == MBEDTLS_ERR_MPI_ALLOC_FAILED)
		return TB_ERR_NOMEM;
	if (rc == MBEDTLS_ERR_ECP_INVALID_KEY || rc == MBEDTLS_ERR_ECP_BAD_INPUT_DATA ||
	    rc == MBEDTLS_ERR_ECP_FEATURE_UNAVAILABLE)
		return TB_ERR_INVALID;
	return TB_ERR_CRYPTO;
}

int tb_ec_keygen(enum tb_curve curve, uint8_t *sk, uint8_t *pk)
{
	mbedtls_ecp_keypair kp;
	size_t len = tb_curve_len(curve), olen;
	int rc;
	if (!len)
		return TB_ERR_UNSUPPORTED;
	mbedtls_ecp_keypair_init(&kp);
	rc = mbedtls_ecp_gen_key(curve_gid(curve), &kp, tb_crypto_mbedtls_rng, NULL);
	if (!rc)
		rc = mbedtls_mpi_write_binary(&kp.d, sk, len);
	if (!rc)
		rc = mbedtls_ecp_point_write_binary(&kp.grp, &kp.Q, MBEDTLS_ECP_PF_UNCOMPRESSED,
						    &olen, pk, tb_curve_point_len(curve));
	mbedtls_ecp_keypair_free(&kp);
	return ec_err(rc);
}

int tb_ec_public(enum tb_curve curve, const uint8_t *sk, uint8_t *pk)
{
	mbedtls_ecp_group grp;
	mbedtls_mpi d;
	mbedtls_ecp_point q;
	size_t len = tb_curve_len(curve), olen;
	int rc;
	if (!len)
		return TB_ERR_UNSUPPORTED;
	mbedtls_ecp_group_init(&grp);
	mbedtls_mpi_init(&d);
	mbedtls_ecp_point_init(&q);
	rc = mbedtls_ecp_group_load(&grp, curve_gid(curve));
	if (!rc)
		rc = mbedtls_mpi_read_binary(&d, sk, len);
	if (!rc && mbedtls_ecp_check_privkey(&grp, &d))
		rc = MBEDTLS_ERR_ECP_INVALID_KEY;
	if (!rc)
		rc = mbedtls_ecp_mul(&grp, &q, &d, &grp.G, tb_crypto_mbedtls_rng, NULL);
	if (!rc)
		rc = mbedtls_ecp_point_write_binary(&grp, &q, MBEDTLS_ECP_PF_UNCOMPRESSED, &olen,
						    pk, tb_curve_point_len(curve));
	mbedtls_ecp_point_free(&q);
	mbedtls_mpi_free(&d);
	mbedtls_ecp_group_free(&grp);
	return ec_err(rc);
}

int tb_ec_dh(enum tb_curve curve, const uint8_t *sk, const uint8_t *peer_pk, uint8_t *out)
{
	mbedtls_ecp_group grp;
	mbedtls_mpi d, z;
	mbedtls_ecp_point p;
	size_t len = tb_curve_len(curve);
	int rc;
	if (!len)
		return TB_ERR_UNSUPPORTED;
	if (peer_pk[0] != 0x04) /* uncompressed only */
		return TB_ERR_INVALID;
	mbedtls_ecp_group_init(&grp);
	mbedtls_mpi_init(&d);
	mbedtls_mpi_init(&z);
	mbedtls_ecp_point_init(&p);
	rc = mbedtls_ecp_group_load(&grp, curve_gid(curve));
	if (!rc)
		rc = mbedtls_mpi_read_binary(&d, sk, len);
	if (!rc && mbedtls_ecp_check_privkey(&grp, &d))
		rc = MBEDTLS_ERR_ECP_INVALID_KEY;
	if (!rc)
		rc = mbedtls_ecp_point_read_binary(&grp, &p, peer_pk, tb_curve_point_len(curve));
	if (!rc && mbedtls_ecp_check_pubkey(&grp, &p))
		rc = MBEDTLS_ERR_ECP_INVALID_KEY;
	if (!rc)
		rc = mbedtls_ecdh_compute_shared(&grp, &z, &p, &d, tb_crypto_mbedtls_rng, NULL);
	if (!rc)
		rc = mbedtls_mpi_write_binary(&z, out, len);
	mbedtls_ecp_point_free(&p);
	mbedtls_mpi_free(&z);
	mbedtls_mpi_free(&d);
	mbedtls_ecp_group_free(&grp);
	return ec_err(rc);
}

/* ---- ECDSA signature encodings ----------------------------------------- */

/* Reads one strict-DER positive INTEGER into a scalar_len big-endian field. */
static int der_read_int(struct tb_reader *r, size_t scalar_len, uint8_t *out)
{
	uint8_t tag, len;
	struct tb_buf v;
	if (tb_read_u8(r, &tag) || tag != 0x02)
		return TB_ERR_INVALID;
	if (tb_read_u8(r, &len) || len == 0 || len >= 0x80)
		return TB_ERR_INVALID;
	if (tb_read_bytes(r, len, &v))
		return TB_ERR_INVALID;
	if (v.p[0] & 0x80)
		return TB_ERR_INVALID; /* negative */
	if (v.len > 1 && v.p[0] == 0 && !(v.p[1] & 0x80))
		return TB_ERR_INVALID; /* non-minimal */
	if (v.p[0] == 0) {
		v.p++;
		v.len--;
	}
	if (v.len > scalar_len)
		return TB_ERR_INVALID;
	memset(out, 0, scalar_len - v.len);
	memcpy(out + scalar_len - v.len, v.p, v.len);
	return 0;
}

int tb_ecdsa_der_to_raw(struct tb_buf der, size_t scalar_len, uint8_t *raw)
{
	struct tb_reader r = TB_READER(der.p, der.len);
	uint8_t tag, len;
	if (scalar_len == 0 || scalar_len > TB_EC_MAX_SCALAR_LEN)
		return TB_ERR_INVALID;
	if (tb_read_u8(&r, &tag) || tag != 0x30)
		return TB_ERR_INVALID;
	if (tb_read_u8(&r, &len) || len >= 0x80 || len != tb_reader_left(&r))
		return TB_ERR_INVALID;
	if (der_read_int(&r, scalar_len, raw) || der_read_int(&r, scalar_len, raw + scalar_len))
		return TB_ERR_INVALID;
	return tb_read_end(&r) ? TB_ERR_INVALID : 0;
}

static int der_write_int(struct tb_bytes *out, const uint8_t *v, size_t n)
{
	while (n > 0 && v[0] == 0) {
		v++;
		n--;
	}
	if (n == 0)
		return TB_ERR_INVALID; /* r and s are never zero */
	int pad = (v[0] & 0x80) != 0;
	tb_bytes_u8(out, 0x02);
	tb_bytes_u8(out, (uint8_t)(n + pad));
	if (pad)
		tb_bytes_u8(out, 0);
	return tb_bytes_append(out, v, n);
}

int tb_ecdsa_raw_to_der(struct tb_buf raw, struct tb_bytes *der)
{
	size_t half = raw.len / 2;
	int rc;
	if (raw.len == 0 || raw.len % 2 || half > TB_EC_MAX_SCALAR_LEN)
		return TB_ERR_INVALID;
	/* Both integers fit a short-form length (<= 2 * (2 + 49) bytes). */
	size_t start = der->len;
	tb_bytes_u8(der, 0x30);
	tb_bytes_u8(der, 0);
	if ((rc = der_write_int(der, raw.p, half)) || (rc = der_write_int(der, raw.p + half, half))) {
		der->len = start;
		return rc;
	}
	if (der->err)
		return der->err;
	der->p[start + 1] = (uint8_t)(der->len - start - 2);
	return 0;
}

/* ---- tb_pkey ------------------------------------------------------------ */

struct tb_pkey {
	mbedtls_pk_context pk;
	int has_private; /* a private half was generated or parsed */
};

static int pk_err(int rc)
{
	if (rc == 0)
		return 0;
	if (rc == MBEDTLS_ERR_PK_ALLOC_FAILED || rc == MBEDTLS_ERR_ECP_ALLOC_FAILED ||
	    rc == MBEDTLS_ERR_MPI_ALLOC_FAILED)
		return TB_ERR_NOMEM;
	if (rc == MBEDTLS_ERR_PK_SIG_LEN_MISMATCH || rc == MBEDTLS_ERR_ECP_VERIFY_FAILED ||
	    rc == MBEDTLS_ERR_RSA_VERIFY_FAILED)
		return TB_ERR_VERIFY;
	return TB_ERR_INVALID;
}

static struct tb_pkey *pkey_new(void)
{
	struct tb_pkey *k = calloc(1, sizeof(*k));
	if (k)
		mbedtls_pk_init(&k->pk);
	return k;
}

void tb_pkey_free(struct tb_pkey *key)
{
	if (!key)
		return;
	mbedtls_pk_free(&key->pk);
	free(key);
}

static int pk_is_ec(const mbedtls_pk_context *pk)
{
	mbedtls_pk_type_t t = mbedtls_pk_get_type(pk);
	return t == MBEDTLS_PK_ECKEY || t == MBEDTLS_PK_ECKEY_DH || t == MBEDTLS_PK_ECDSA;
}

/*
 * Accepts only the key types we support, and performs the EC warm-up that
 * makes the group read-only afterwards (see DESIGN above).
 */
static int pkey_finish(struct tb_pkey *k)
{
	if (pk_is_ec(&k->pk)) {
		mbedtls_ecp_keypair *ec = mbedtls_pk_ec(k->pk);
		mbedtls_ecp_point t;
		mbedtls_mpi one;
		int rc;
		if (gid_curve(ec->grp.id) == TB_CURVE_NONE)
			return TB_ERR_UNSUPPORTED;
		mbedtls_ecp_point_init(&t);
		mbedtls_mpi_init(&one);
		rc = mbedtls_mpi_lset(&one, 1);
		if (!rc)
			rc = mbedtls_ecp_mul(&ec->grp, &t, &one, &ec->grp.G, tb_crypto_mbedtls_rng, NULL);
		mbedtls_ecp_point_free(&t);
		mbedtls_mpi_free(&one);
		return ec_err(rc);
	}
	if (mbedtls_pk_get_type(&k->pk) == MBEDTLS_PK_RSA) {
		size_t bits = mbedtls_pk_get_bitlen(&k->pk);
		if (bits < 1024 || bits > 8192)
			return TB_ERR_UNSUPPORTED;
		return 0;
	}
	return TB_ERR_UNSUPPORTED;
}

static int pkey_done(struct tb_pkey *k, int rc, struct tb_pkey **out)
{
	if (!rc)
		rc = pkey_finish(k);
	if (rc) {
		tb_pkey_free(k);
		*out = NULL;
		return rc;
	}
	*out = k;
	return 0;
}

int tb_pkey_generate_ec(enum tb_curve curve, struct tb_pkey **out)
{
	struct tb_pkey *k;
	int rc;
	*out = NULL;
	if (!tb_curve_len(curve))
		return TB_ERR_UNSUPPORTED;
	if (!(k = pkey_new()))
		return TB_ERR_NOMEM;
	rc = mbedtls_pk_setup(&k->pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY));
	if (!rc)
		rc = mbedtls_ecp_gen_key(curve_gid(curve), mbedtls_pk_ec(k->pk),
					 tb_crypto_mbedtls_rng, NULL);
	k->has_private = 1;
	return pkey_done(k, ec_err(rc), out);
}

int tb_pkey_generate_rsa(unsigned bits, struct tb_pkey **out)
{
	struct tb_pkey *k;
	int rc;
	*out = NULL;
	if (bits < TB_RSA_MIN_BITS || bits > TB_RSA_MAX_BITS)
		return TB_ERR_UNSUPPORTED;
	if (!(k = pkey_new()))
		return TB_ERR_NOMEM;
	rc = mbedtls_pk_setup(&k->pk, mbedtls_pk_info_from_type(MBEDTLS_PK_RSA));
	if (!rc)
		rc = mbedtls_rsa_gen_key(mbedtls_pk_rsa(k->pk), tb_crypto_mbedtls_rng, NULL, bits,
					 65537);
	k->has_private = 1;
	return pkey_done(k, rc ? TB_ERR_CRYPTO : 0, out);
}

static int looks_pem(struct tb_buf in)
{
	static const char tag[] = "-----BEGIN ";
	if (in.len < sizeof(tag) - 1)
		return 0;
	for (size_t i = 0; i + sizeof(tag) - 1 <= in.len; i++)
		if (memcmp(in.p + i, tag, sizeof(tag) - 1) == 0)
			return 1;
	return 0;
}

/* mbedTLS wants PEM NUL-terminated with the NUL counted in the length. */
static int parse_any(struct tb_buf in, int priv, struct tb_pkey **out)
{
	struct tb_pkey *k;
	uint8_t *tmp = NULL;
	const uint8_t *p = in.p;
	size_t n = in.len;
	int rc;
	*out = NULL;
	if (in.len == 0)
		return TB_ERR_INVALID;
	if (in.len > TB_PKEY_MAX_INPUT)
		return TB_ERR_TOO_LARGE;
	if (looks_pem(in)) {
		if (!(tmp = malloc(in.len + 1)))
			return TB_ERR_NOMEM;
		memcpy(tmp, in.p, in.len);
		tmp[in.len] = 0;
		p = tmp;
		n = in.len + 1;
	}
	if (!(k = pkey_new())) {
		free(tmp);
		return TB_ERR_NOMEM;
	}
	if (priv)
		rc = mbedtls_pk_parse_key(&k->pk, p, n, NULL, 0);
	else
		rc = mbedtls_pk_parse_public_key(&k->pk, p, n);
	if (tmp) {
		tb_crypto_wipe(tmp, in.len + 1);
		free(tmp);
	}
	k->has_private = priv;
	return pkey_done(k, pk_err(rc) == TB_ERR_NOMEM ? TB_ERR_NOMEM : rc ? TB_ERR_INVALID : 0,
			 out);
}

int tb_pkey_parse_public(struct tb_buf in, struct tb_pkey **out)
{
	return parse_any(in, 0, out);
}

int tb_pkey_parse_private(struct tb_buf in, struct tb_pkey **out)
{
	return parse_any(in, 1, out);
}

int tb_pkey_from_ec_public(enum tb_curve curve, struct tb_buf point, struct tb_pkey **out)
{
	struct tb_pkey *k;
	mbedtls_ecp_keypair *ec;
	int rc;
	*out = NULL;
	if (!tb_curve_len(curve))
		return TB_ERR_UNSUPPORTED;
	if (point.len != tb_curve_point_len(curve) || point.p[0] != 0x04)
		return TB_ERR_INVALID;
	if (!(k = pkey_new()))
		return TB_ERR_NOMEM;
	rc = mbedtls_pk_setup(&k->pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY));
	if (!rc) {
		ec = mbedtls_pk_ec(k->pk);
		rc = mbedtls_ecp_group_load(&ec->grp, curve_gid(curve));
		if (!rc)
			rc = mbedtls_ecp_point_read_binary(&ec->grp, &ec->Q, point.p, point.len);
		if (!rc && mbedtls_ecp_check_pubkey(&ec->grp, &ec->Q))
			rc = MBEDTLS_ERR_ECP_INVALID_KEY;
	}
	return pkey_done(k, ec_err(rc), out);
}

int tb_pkey_from_ec_private(enum tb_curve curve, struct tb_buf scalar, struct tb_pkey **out)
{
	struct tb_pkey *k;
	mbedtls_ecp_keypair *ec;
	int rc;
	*out = NULL;
	if (!tb_curve_len(curve))
		return TB_ERR_UNSUPPORTED;
	if (scalar.len != tb_curve_len(curve))
		return TB_ERR_INVALID;
	if (!(k = pkey_new()))
		return TB_ERR_NOMEM;
	rc = mbedtls_pk_setup(&k->pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY));
	if (!rc) {
		ec = mbedtls_pk_ec(k->pk);
		rc = mbedtls_ecp_group_load(&ec->grp, curve_gid(curve));
		if (!rc)
			rc = mbedtls_mpi_read_binary(&ec->d, scalar.p, scalar.len);
		if (!rc && mbedtls_ecp_check_privkey(&ec->grp, &ec->d))
			rc = MBEDTLS_ERR_ECP_INVALID_KEY;
		if (!rc)
			rc = mbedtls_ecp_mul(&ec->grp, &ec->Q, &ec->d, &ec->grp.G,
					     tb_crypto_mbedtls_rng, NULL);
	}
	k->has_private = 1;
	return pkey_done(k, ec_err(rc), out);
}

int tb_pkey_from_rsa_public(struct tb_buf n, struct tb_buf e, struct tb_pkey **out)
{
	struct tb_pkey *k;
	mbedtls_rsa_context *rsa;
	int rc;
	*out = NULL;
	if (n.len == 0 || e.len == 0 || n.len > 1024 || e.len > 8)
		return TB_ERR_INVALID;
	if (!(k = pkey_new()))
		return TB_ERR_NOMEM;
	rc = mbedtls_pk_setup(&k->pk, mbedtls_pk_info_from_type(MBEDTLS_PK_RSA));
	if (!rc) {
		rsa = mbedtls_pk_rsa(k->pk);
		rc = mbedtls_rsa_import_raw(rsa, n.p, n.len, NULL, 0, NULL, 0, NULL, 0, e.p, e.len);
		if (!rc)
			rc = mbedtls_rsa_complete(rsa);
		if (!rc)
			rc = mbedtls_rsa_check_pubkey(rsa);
	}
	return pkey_done(k, rc ? TB_ERR_INVALID : 0, out);
}

#define PK_DER_MAX 8192 /* RSA-8192 private DER is ~4.7 KB; public keys far less */

int tb_pkey_from_mbedtls_public(const struct mbedtls_pk_context *pk, struct tb_pkey **out)
{
	uint8_t *buf;
	int n, rc;
	*out = NULL;
	if (!(buf = malloc(PK_DER_MAX)))
		return TB_ERR_NOMEM;
	n = mbedtls_pk_write_pubkey_der((mbedtls_pk_context *)pk, buf, PK_DER_MAX);
	if (n <= 0)
		rc = TB_ERR_INVALID;
	else
		rc = tb_pkey_parse_public(TB_BUF(buf + PK_DER_MAX - n, (size_t)n), out);
	free(buf);
	return rc;
}

enum tb_key_type tb_pkey_type(const struct tb_pkey *key)
{
	if (pk_is_ec(&key->pk))
		return TB_KEY_EC;
	if (mbedtls_pk_get_type(&key->pk) == MBEDTLS_PK_RSA)
		return TB_KEY_RSA;
	return TB_KEY_NONE;
}

size_t tb_pkey_bits(const struct tb_pkey *key)
{
	return mbedtls_pk_get_bitlen(&key->pk);
}

enum tb_curve tb_pkey_curve(const struct tb_pkey *key)
{
	if (!pk_is_ec(&key->pk))
		return TB_CURVE_NONE;
	return gid_curve(mbedtls_pk_ec(key->pk)->grp.id);
}

int tb_pkey_has_private(const struct tb_pkey *key)
{
	return key->has_private;
}

struct mbedtls_pk_context *tb_pkey_mbedtls(struct tb_pkey *key)
{
	return &key->pk;
}

/* Runs an mbedTLS writer that fills the END of a buffer (the DER writers). */
static int write_der_tail(const struct tb_pkey *key, int priv, struct tb_bytes *out)
{
	uint8_t *buf = malloc(PK_DER_MAX);
	int n, rc;
	if (!buf)
		return TB_ERR_NOMEM;
	mbedtls_pk_context *pk = (mbedtls_pk_context *)&key->pk;
	n = priv ? mbedtls_pk_write_key_der(pk, buf, PK_DER_MAX)
		 : mbedtls_pk_write_pubkey_der(pk, buf, PK_DER_MAX);
	rc = n > 0 ? tb_bytes_append(out, buf + PK_DER_MAX - n, (size_t)n) : TB_ERR_CRYPTO;
	tb_crypto_wipe(buf, PK_DER_MAX);
	free(buf);
	return rc;
}

/* Runs an mbedTLS PEM writer (NUL-terminated output at the start). */
static int write_pem(const struct tb_pkey *key, int priv, struct tb_bytes *out)
{
	size_t cap = 2 * PK_DER_MAX;
	uint8_t *buf = malloc(cap);
	int rc;
	if (!buf)
		return TB_ERR_NOMEM;
	mbedtls_pk_context *pk = (mbedtls_pk_context *)&key->pk;
	rc = priv ? mbedtls_pk_write_key_pem(pk, buf, cap) : mbedtls_pk_write_pubkey_pem(pk, buf, cap);
	rc = rc ? TB_ERR_CRYPTO : tb_bytes_append(out, buf, strnlen((char *)buf, cap));
	tb_crypto_wipe(buf, cap);
	free(buf);
	return rc;
}

int tb_pkey_write_spki_der(const struct tb_pkey *key, struct tb_bytes *out)
{
	return write_der_tail(key, 0, out);
}

int tb_pkey_write_public_pem(const struct tb_pkey *key, struct tb_bytes *out)
{
	return write_pem(key, 0, out);
}

int tb_pkey_write_private_der(const struct tb_pkey *key, struct tb_bytes *out)
{
	if (!key->has_private)
		return TB_ERR_STATE;
	return write_der_tail(key, 1, out);
}

int tb_pkey_write_private_pem(const struct tb_pkey *key, struct tb_bytes *out)
{
	if (!key->has_private)
		return TB_ERR_STATE;
	return write_pem(key, 1, out);
}

int tb_pkey_ec_public_point(const struct tb_pkey *key, uint8_t *out, size_t out_len)
{
	size_t olen;
	if (!pk_is_ec(&key->pk))
		return TB_ERR_INVALID;
	const mbedtls_ecp_keypair *ec = mbedtls_pk_ec(key->pk);
	if (out_len != tb_curve_point_len(gid_curve(ec->grp.id)))
		return TB_ERR_INVALID;
	return mbedtls_ecp_point_write_binary(&ec->grp, &ec->Q, MBEDTLS_ECP_PF_UNCOMPRESSED, &olen,
					      out, out_len) ? TB_ERR_CRYPTO : 0;
}

int tb_pkey_ec_private_scalar(const struct tb_pkey *key, uint8_t *out, size_t out_len)
{
	if (!pk_is_ec(&key->pk))
		return TB_ERR_INVALID;
	if (!key->has_private)
		return TB_ERR_STATE;
	const mbedtls_ecp_keypair *ec = mbedtls_pk_ec(key->pk);
	if (out_len != tb_curve_len(gid_curve(ec->grp.id)))
		return TB_ERR_INVALID;
	return mbedtls_mpi_write_binary(&ec->d, out, out_len) ? TB_ERR_CRYPTO : 0;
}

static int append_mpi(struct tb_bytes *out, const mbedtls_mpi *x)
{
	size_t n = mbedtls_mpi_size(x);
	int rc = tb_bytes_reserve(out, n);
	if (rc)
		return rc;
	if (mbedtls_mpi_write_binary(x, out->p + out->len, n))
		return TB_ERR_CRYPTO;
	out->len += n;
	return 0;
}

int tb_pkey_rsa_public(const struct tb_pkey *key, struct tb_bytes *n, struct tb_bytes *e)
{
	mbedtls_mpi N, E;
	int rc;
	if (mbedtls_pk_get_type(&key->pk) != MBEDTLS_PK_RSA)
		return TB_ERR_INVALID;
	mbedtls_mpi_init(&N);
	mbedtls_mpi_init(&E);
	rc = mbedtls_rsa_export(mbedtls_pk_rsa(key->pk), &N, NULL, NULL, NULL, &E) ? TB_ERR_CRYPTO : 0;
	if (!rc)
		rc = append_mpi(n, &N);
	if (!rc)
		rc = append_mpi(e, &E);
	mbedtls_mpi_free(&N);
	mbedtls_mpi_free(&E);
	return rc;
}

int tb_pkey_sign(const struct tb_pkey *key, enum tb_hash_alg alg, const uint8_t *digest,
		 struct tb_bytes *sig)
{
	uint8_t buf[MBEDTLS_PK_SIGNATURE_MAX_SIZE];
	size_t len = 0;
	int rc;
	if (!tb_hash_len(alg))
		return TB_ERR_UNSUPPORTED;
	if (!key->has_private)
		return TB_ERR_STATE;
	if ((rc = tb_crypto_init()))
		return rc;
	rc = mbedtls_pk_sign((mbedtls_pk_context *)&key->pk, md_type(alg), digest,
			     tb_hash_len(alg), buf, &len, tb_crypto_mbedtls_rng, NULL);
	if (rc)
		return TB_ERR_CRYPTO;
	return tb_bytes_append(sig, buf, len);
}

int tb_pkey_sign_raw(const struct tb_pkey *key, enum tb_hash_alg alg, const uint8_t *digest,
		     struct tb_bytes *sig)
{
	struct tb_bytes der = { 0 };
	uint8_t raw[2 * TB_EC_MAX_SCALAR_LEN];
	size_t sl;
	int rc;
	if (!pk_is_ec(&key->pk))
		return TB_ERR_INVALID;
	sl = tb_curve_len(tb_pkey_curve(key));
	rc = tb_pkey_sign(key, alg, digest, &der);
	if (!rc)
		rc = tb_ecdsa_der_to_raw(tb_bytes_buf(&der), sl, raw);
	if (!rc)
		rc = tb_bytes_append(sig, raw, 2 * sl);
	tb_bytes_free(&der);
	return rc;
}

/* ECDSA verification from raw r || s on an EC keypair. */
static int ecdsa_verify_raw(mbedtls_ecp_keypair *ec, enum tb_hash_alg alg, const uint8_t *digest,
			    struct tb_buf sig)
{
	size_t sl = tb_curve_len(gid_curve(ec->grp.id));
	mbedtls_mpi r, s;
	int rc;
	if (!sl)
		return TB_ERR_UNSUPPORTED;
	if (sig.len != 2 * sl)
		return TB_ERR_VERIFY;
	mbedtls_mpi_init(&r);
	mbedtls_mpi_init(&s);
	rc = mbedtls_mpi_read_binary(&r, sig.p, sl);
	if (!rc)
		rc = mbedtls_mpi_read_binary(&s, sig.p + sl, sl);
	if (!rc)
		rc = mbedtls_ecdsa_verify(&ec->grp, digest, tb_hash_len(alg), &ec->Q, &r, &s)
			     ? TB_ERR_VERIFY : 0;
	else
		rc = TB_ERR_NOMEM;
	mbedtls_mpi_free(&r);
	mbedtls_mpi_free(&s);
	return rc;
}

static int rsa_verify_ctx(mbedtls_rsa_context *rsa, unsigned min_bits, enum tb_hash_alg alg,
			  const uint8_t *digest, struct tb_buf sig)
{
	size_t bits = mbedtls_mpi_bitlen(&rsa->N);
	if (bits < min_bits || bits > TB_RSA_MAX_BITS)
		return TB_ERR_UNSUPPORTED;
	if (sig.len != mbedtls_rsa_get_len(rsa))
		return TB_ERR_VERIFY;
	return mbedtls_rsa_rsassa_pkcs1_v15_verify(rsa, NULL, NULL, MBEDTLS_RSA_PUBLIC,
						   md_type(alg), (unsigned)tb_hash_len(alg), digest,
						   sig.p) ? TB_ERR_VERIFY : 0;
}

static int pk_verify(mbedtls_pk_context *pk, int raw, enum tb_hash_alg alg, const uint8_t *digest,
		     struct tb_buf sig)
{
	if (!tb_hash_len(alg))
		return TB_ERR_UNSUPPORTED;
	if (pk_is_ec(pk)) {
		mbedtls_ecp_keypair *ec = mbedtls_pk_ec(*pk);
		size_t sl = tb_curve_len(gid_curve(ec->grp.id));
		uint8_t buf[2 * TB_EC_MAX_SCALAR_LEN];
		if (!sl)
			return TB_ERR_UNSUPPORTED;
		if (!raw) {
			if (tb_ecdsa_der_to_raw(sig, sl, buf))
				return TB_ERR_VERIFY;
			sig = TB_BUF(buf, 2 * sl);
		}
		return ecdsa_verify_raw(ec, alg, digest, sig);
	}
	if (mbedtls_pk_get_type(pk) == MBEDTLS_PK_RSA && !raw)
		return rsa_verify_ctx(mbedtls_pk_rsa(*pk), TB_RSA_MIN_BITS, alg, digest, sig);
	return TB_ERR_UNSUPPORTED;
}

int tb_pkey_verify(const struct tb_pkey *key, enum tb_hash_alg alg, const uint8_t *digest,
		   struct tb_buf sig)
{
	return pk_verify((mbedtls_pk_context *)&key->pk, 0, alg, digest, sig);
}

int tb_pkey_verify_raw(const struct tb_pkey *key, enum tb_hash_alg alg, const uint8_t *digest,
		       struct tb_buf sig)
{
	return pk_verify((mbedtls_pk_context *)&key->pk, 1, alg, digest, sig);
}

int tb_pk_verify(const struct mbedtls_pk_context *pk, enum tb_hash_alg alg, const uint8_t *digest,
		 struct tb_buf sig)
{
	return pk_verify((mbedtls_pk_context *)pk, 0, alg, digest, sig);
}

int tb_rsa_verify(struct tb_buf n, struct tb_buf e, unsigned min_bits, enum tb_hash_alg alg,
		  const uint8_t *digest, struct tb_buf sig)
{
	mbedtls_rsa_context rsa;
	int rc;
	if (!tb_hash_len(alg))
		return TB_ERR_UNSUPPORTED;
	if (n.len == 0 || e.len == 0 || n.len > TB_RSA_MAX_BITS / 8 + 1 || e.len > 8)
		return TB_ERR_INVALID;
	mbedtls_rsa_init(&rsa, MBEDTLS_RSA_PKCS_V15, 0);
	rc = mbedtls_rsa_import_raw(&rsa, n.p, n.len, NULL, 0, NULL, 0, NULL, 0, e.p, e.len);
	if (!rc)
		rc = mbedtls_rsa_complete(&rsa);
	if (!rc)
		rc = mbedtls_rsa_check_pubkey(&rsa);
	rc = rc ? TB_ERR_INVALID : rsa_verify_ctx(&rsa, min_bits, alg, digest, sig);
	mbedtls_rsa_free(&rsa);
	return rc;
}
