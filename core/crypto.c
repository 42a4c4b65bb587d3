/*
 * DESIGN: the crypto provider (see crypto.h). Each primitive is implemented
 * once here on the backend that is fastest on this platform: libsodium for
 * randomness, X25519, Ed25519 and ChaCha20-Poly1305; mbedTLS 2.28 for SHA-2,
 * HMAC, HKDF and AES-GCM (AES-NI); the NIST curves (ECDSA, ECDH, key
 * generation) and RSA on OpenSSL 3's libcrypto when built with
 * TB_CRYPTO_LIBCRYPTO (the default), else on mbedTLS. Callers never see a
 * backend type, and this is the only file that includes an OpenSSL header.
 *
 * Thread safety: libsodium is thread-safe after sodium_init. OpenSSL 3 keys
 * (EVP_PKEY) are only read after creation and every operation makes its own
 * EVP_PKEY_CTX (a tb_vkey's checks each duplicate the key's template context,
 * which is only read), so one key signs and verifies on several threads. mbedTLS is
 * built with MBEDTLS_THREADING_C, which guards RSA blinding state; one hidden
 * mutation remains there: mbedtls_ecp_mul caches the generator's comb table
 * in the group on first use, so on the mbedTLS backend every EC tb_pkey does
 * one multiplication by G when it is created ("warm-up"); after that its
 * group is only read.
 *
 * Keys on the libcrypto backend: a tb_pkey holds both an EVP_PKEY (the
 * arithmetic) and an mbedtls_pk_context (encodings, and the key mbedTLS's
 * X.509 writer and TLS need). EC contexts use a pk_info of our own whose
 * sign and verify call OpenSSL, so a certificate, CSR or TLS handshake
 * signed by mbedTLS code with a tb_pkey costs an OpenSSL signature. Keys
 * move between the libraries as raw EC parts (point, scalar) or RSA
 * integers, and RSA private keys through DER.
 *
 * Size: past 900 lines on purpose. This is the one file that includes a
 * crypto library's headers (the provider rule), with two backends for the NIST
 * curves and RSA; splitting it would spread those headers over several files.
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

#if defined(TB_CRYPTO_LIBCRYPTO)
#include <mbedtls/pk_internal.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>
#endif

/* ---- setup and randomness ---------------------------------------------- */

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_result;

#if defined(TB_CRYPTO_LIBCRYPTO)
/* The two curves' groups, built once and only read afterwards (EC_POINT_mul
 * takes a const group; P-256's generator table is static in OpenSSL). */
static EC_GROUP *ossl_p256, *ossl_p384;
#endif

static void do_init(void)
{
	init_result = sodium_init() < 0 ? TB_ERR_CRYPTO : 0;
#if defined(TB_CRYPTO_LIBCRYPTO)
	ossl_p256 = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
	ossl_p384 = EC_GROUP_new_by_curve_name(NID_secp384r1);
	if (!ossl_p256 || !ossl_p384)
		init_result = TB_ERR_CRYPTO;
#endif
}

const char *tb_crypto_backend(void)
{
#if defined(TB_CRYPTO_LIBCRYPTO)
	return "libcrypto";
#else
	return "mbedtls";
#endif
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

#if !defined(TB_CRYPTO_LIBCRYPTO)
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
#endif

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

#if defined(TB_CRYPTO_LIBCRYPTO)

static const EC_GROUP *ossl_group(enum tb_curve curve)
{
	return curve == TB_CURVE_P256 ? ossl_p256 : curve == TB_CURVE_P384 ? ossl_p384 : NULL;
}

/* A secret scalar as a constant-time BIGNUM; TB_ERR_INVALID unless 0 < d < n. */
static int ossl_scalar(enum tb_curve curve, const uint8_t *sk, BIGNUM **out)
{
	const EC_GROUP *g = ossl_group(curve);
	BIGNUM *d = BN_new();
	*out = NULL;
	if (!d)
		return TB_ERR_NOMEM;
	BN_set_flags(d, BN_FLG_CONSTTIME);
	if (!BN_bin2bn(sk, (int)tb_curve_len(curve), d)) {
		BN_clear_free(d);
		return TB_ERR_NOMEM;
	}
	if (BN_is_zero(d) || BN_cmp(d, EC_GROUP_get0_order(g)) >= 0) {
		BN_clear_free(d);
		return TB_ERR_INVALID;
	}
	*out = d;
	return 0;
}

int tb_ec_keygen(enum tb_curve curve, uint8_t *sk, uint8_t *pk)
{
	size_t len = tb_curve_len(curve);
	int rc = TB_ERR_INVALID;
	if (!len)
		return TB_ERR_UNSUPPORTED;
	/* A uniform scalar by rejection: a draw >= n has probability < 2^-32. */
	for (int i = 0; i < 64 && rc == TB_ERR_INVALID; i++) {
		if ((rc = tb_random(sk, len)))
			break;
		rc = tb_ec_public(curve, sk, pk);
	}
	if (rc)
		tb_crypto_wipe(sk, len);
	return rc;
}

int tb_ec_public(enum tb_curve curve, const uint8_t *sk, uint8_t *pk)
{
	size_t plen = tb_curve_point_len(curve);
	const EC_GROUP *g;
	EC_POINT *q = NULL;
	BIGNUM *d = NULL;
	int rc;
	if (!plen)
		return TB_ERR_UNSUPPORTED;
	if ((rc = tb_crypto_init()))
		return rc;
	g = ossl_group(curve);
	if ((rc = ossl_scalar(curve, sk, &d)))
		return rc;
	if (!(q = EC_POINT_new(g)))
		rc = TB_ERR_NOMEM;
	else if (!EC_POINT_mul(g, q, d, NULL, NULL, NULL) ||
		 EC_POINT_point2oct(g, q, POINT_CONVERSION_UNCOMPRESSED, pk, plen, NULL) != plen)
		rc = TB_ERR_CRYPTO;
	EC_POINT_free(q);
	BN_clear_free(d);
	ERR_clear_error();
	return rc;
}

int tb_ec_dh(enum tb_curve curve, const uint8_t *sk, const uint8_t *peer_pk, uint8_t *out)
{
	size_t len = tb_curve_len(curve);
	const EC_GROUP *g;
	EC_POINT *p = NULL, *z = NULL;
	BIGNUM *d = NULL, *x = NULL;
	int rc;
	if (!len)
		return TB_ERR_UNSUPPORTED;
	if (peer_pk[0] != 0x04) /* uncompressed only */
		return TB_ERR_INVALID;
	if ((rc = tb_crypto_init()))
		return rc;
	g = ossl_group(curve);
	if ((rc = ossl_scalar(curve, sk, &d)))
		return rc;
	p = EC_POINT_new(g);
	z = EC_POINT_new(g);
	x = BN_new();
	if (!p || !z || !x)
		rc = TB_ERR_NOMEM;
	/* oct2point refuses coordinates >= p and points off the curve; the
	 * uncompressed form cannot encode infinity, and the cofactor is 1. */
	else if (!EC_POINT_oct2point(g, p, peer_pk, tb_curve_point_len(curve), NULL))
		rc = TB_ERR_INVALID;
	/* The single-point multiplication OpenSSL's own ECDH uses (constant time). */
	else if (!EC_POINT_mul(g, z, NULL, p, d, NULL) || EC_POINT_is_at_infinity(g, z) ||
		 !EC_POINT_get_affine_coordinates(g, z, x, NULL, NULL) ||
		 BN_bn2binpad(x, out, (int)len) != (int)len)
		rc = TB_ERR_CRYPTO;
	EC_POINT_clear_free(z);
	EC_POINT_free(p);
	BN_clear_free(x);
	BN_clear_free(d);
	ERR_clear_error();
	return rc;
}

#else /* mbedTLS */

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

#endif

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
#if defined(TB_CRYPTO_LIBCRYPTO)
	EVP_PKEY *evp; /* the same key for OpenSSL; owned here */
#endif
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
#if defined(TB_CRYPTO_LIBCRYPTO)
	EVP_PKEY_free(key->evp);
#endif
	free(key);
}

static int pk_is_ec(const mbedtls_pk_context *pk)
{
	mbedtls_pk_type_t t = mbedtls_pk_get_type(pk);
	return t == MBEDTLS_PK_ECKEY || t == MBEDTLS_PK_ECKEY_DH || t == MBEDTLS_PK_ECDSA;
}

#define PK_DER_MAX 8192 /* RSA-8192 private DER is ~4.7 KB; public keys far less */

/* Runs an mbedTLS writer that fills the END of a buffer (the DER writers). */
static int pk_write_der(const mbedtls_pk_context *pkc, int priv, struct tb_bytes *out)
{
	uint8_t *buf = malloc(PK_DER_MAX);
	int n, rc;
	if (!buf)
		return TB_ERR_NOMEM;
	mbedtls_pk_context *pk = (mbedtls_pk_context *)pkc;
	n = priv ? mbedtls_pk_write_key_der(pk, buf, PK_DER_MAX)
		 : mbedtls_pk_write_pubkey_der(pk, buf, PK_DER_MAX);
	rc = n > 0 ? tb_bytes_append(out, buf + PK_DER_MAX - n, (size_t)n) : TB_ERR_CRYPTO;
	tb_crypto_wipe(buf, PK_DER_MAX);
	free(buf);
	return rc;
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

#if defined(TB_CRYPTO_LIBCRYPTO)

/* ---- libcrypto keys ---- */

static const EVP_MD *ossl_md(enum tb_hash_alg alg)
{
	switch (alg) {
	case TB_HASH_SHA256: return EVP_sha256();
	case TB_HASH_SHA384: return EVP_sha384();
	case TB_HASH_SHA512: return EVP_sha512();
	case TB_HASH_SHA1: return EVP_sha1();
	default: return NULL;
	}
}

static EVP_PKEY *ossl_fromdata(const char *type, int selection, OSSL_PARAM_BLD *bld)
{
	OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
	EVP_PKEY_CTX *ctx = params ? EVP_PKEY_CTX_new_from_name(NULL, type, NULL) : NULL;
	EVP_PKEY *pk = NULL;
	if (ctx && EVP_PKEY_fromdata_init(ctx) == 1 &&
	    EVP_PKEY_fromdata(ctx, &pk, selection, params) != 1) {
		EVP_PKEY_free(pk);
		pk = NULL;
	}
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params); /* clears the part that held a secure BIGNUM */
	return pk;
}

/* An OpenSSL EC key from an uncompressed point and, if given, the scalar. */
static int ossl_ec_key(enum tb_curve curve, const uint8_t *point, const uint8_t *scalar,
		       EVP_PKEY **out)
{
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	BIGNUM *d = NULL;
	size_t len = tb_curve_len(curve);
	int ok = bld &&
		 OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
						 curve == TB_CURVE_P256 ? "P-256" : "P-384", 0) &&
		 OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point,
						  tb_curve_point_len(curve));
	if (ok && scalar) {
		/* "Secure" so the parameter builder keeps it apart and clears it on free. */
		d = BN_secure_new();
		ok = d && BN_bin2bn(scalar, (int)len, d) &&
		     OSSL_PARAM_BLD_push_BN_pad(bld, OSSL_PKEY_PARAM_PRIV_KEY, d, len);
	}
	*out = ok ? ossl_fromdata("EC", scalar ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, bld) : NULL;
	BN_clear_free(d);
	OSSL_PARAM_BLD_free(bld);
	ERR_clear_error();
	return *out ? 0 : TB_ERR_INVALID;
}

/* An OpenSSL RSA public key from mbedTLS's modulus and exponent. */
static int ossl_rsa_public(mbedtls_rsa_context *rsa, EVP_PKEY **out)
{
	mbedtls_mpi N, E;
	struct tb_bytes n = { 0 }, e = { 0 };
	OSSL_PARAM_BLD *bld = NULL;
	BIGNUM *bn = NULL, *be = NULL;
	int rc;
	*out = NULL;
	mbedtls_mpi_init(&N);
	mbedtls_mpi_init(&E);
	rc = mbedtls_rsa_export(rsa, &N, NULL, NULL, NULL, &E) ? TB_ERR_INVALID : 0;
	if (!rc)
		rc = append_mpi(&n, &N);
	if (!rc)
		rc = append_mpi(&e, &E);
	if (!rc) {
		bld = OSSL_PARAM_BLD_new();
		bn = BN_bin2bn(n.p, (int)n.len, NULL);
		be = BN_bin2bn(e.p, (int)e.len, NULL);
		if (!bld || !bn || !be || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) ||
		    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be))
			rc = TB_ERR_NOMEM;
		else if (!(*out = ossl_fromdata("RSA", EVP_PKEY_PUBLIC_KEY, bld)))
			rc = TB_ERR_INVALID;
	}
	BN_free(bn);
	BN_free(be);
	OSSL_PARAM_BLD_free(bld);
	mbedtls_mpi_free(&N);
	mbedtls_mpi_free(&E);
	tb_bytes_free(&n);
	tb_bytes_free(&e);
	ERR_clear_error();
	return rc;
}

/* An OpenSSL RSA private key, through mbedTLS's PKCS#1 DER. */
static int ossl_rsa_private(const mbedtls_pk_context *pk, EVP_PKEY **out)
{
	struct tb_bytes der = { 0 };
	int rc = pk_write_der(pk, 1, &der);
	*out = NULL;
	if (!rc) {
		const unsigned char *p = der.p;
		*out = d2i_PrivateKey(EVP_PKEY_RSA, NULL, &p, (long)der.len);
		rc = *out ? 0 : TB_ERR_INVALID;
	}
	tb_crypto_wipe(der.p, der.len);
	tb_bytes_free(&der);
	ERR_clear_error();
	return rc;
}

/* Signs a digest (ECDSA: DER; RSA: PKCS#1 v1.5). md NULL: a bare hash, ECDSA only. */
static int ossl_sign(EVP_PKEY *pk, int rsa, const EVP_MD *md, const uint8_t *digest, size_t dlen,
		     uint8_t *sig, size_t *sig_len)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL);
	int rc = 0;
	if (!ctx)
		rc = TB_ERR_NOMEM;
	else if (EVP_PKEY_sign_init(ctx) != 1 ||
		 (rsa && EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) != 1) ||
		 (md && EVP_PKEY_CTX_set_signature_md(ctx, md) != 1) ||
		 EVP_PKEY_sign(ctx, sig, sig_len, digest, dlen) != 1)
		rc = TB_ERR_CRYPTO;
	EVP_PKEY_CTX_free(ctx);
	if (rc)
		ERR_clear_error();
	return rc;
}

/* 0 when valid, TB_ERR_VERIFY when not (a malformed signature included). */
static int ossl_verify(EVP_PKEY *pk, int rsa, const EVP_MD *md, const uint8_t *digest,
		       size_t dlen, struct tb_buf sig)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL);
	int rc = 0;
	if (!ctx)
		return TB_ERR_NOMEM;
	if (EVP_PKEY_verify_init(ctx) != 1 ||
	    (rsa && EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) != 1) ||
	    (md && EVP_PKEY_CTX_set_signature_md(ctx, md) != 1))
		rc = TB_ERR_CRYPTO;
	else if (EVP_PKEY_verify(ctx, sig.p, sig.len, digest, dlen) != 1)
		rc = TB_ERR_VERIFY;
	EVP_PKEY_CTX_free(ctx);
	if (rc)
		ERR_clear_error();
	return rc;
}

/*
 * The mbedTLS face of a libcrypto EC key: a pk_info whose context starts
 * with an mbedtls_ecp_keypair (so mbedtls_pk_ec() and the key writers work
 * unchanged) and whose sign and verify call OpenSSL. mbedTLS reaches it
 * only through mbedtls_pk_* (x509write, the TLS server's own key).
 */
struct ec_alt {
	mbedtls_ecp_keypair kp; /* first member: mbedtls_pk_ec() casts the context */
	EVP_PKEY *evp;          /* borrowed from the owning tb_pkey */
};

static const EVP_MD *mbedtls_md_to_ossl(mbedtls_md_type_t md, size_t hash_len, int *ok)
{
	*ok = 1;
	switch (md) {
	case MBEDTLS_MD_SHA256: *ok = hash_len == 32; return EVP_sha256();
	case MBEDTLS_MD_SHA384: *ok = hash_len == 48; return EVP_sha384();
	case MBEDTLS_MD_SHA512: *ok = hash_len == 64; return EVP_sha512();
	case MBEDTLS_MD_SHA1: *ok = hash_len == 20; return EVP_sha1();
	case MBEDTLS_MD_NONE: *ok = hash_len > 0 && hash_len <= 64; return NULL;
	default: *ok = 0; return NULL;
	}
}

static size_t ec_alt_bitlen(const void *ctx)
{
	return ((const mbedtls_ecp_keypair *)ctx)->grp.pbits;
}

static int ec_alt_can_do(mbedtls_pk_type_t type)
{
	return type == MBEDTLS_PK_ECKEY || type == MBEDTLS_PK_ECKEY_DH || type == MBEDTLS_PK_ECDSA;
}

static int ec_alt_verify(void *ctx, mbedtls_md_type_t md_alg, const unsigned char *hash,
			 size_t hash_len, const unsigned char *sig, size_t sig_len)
{
	const struct ec_alt *a = ctx;
	uint8_t raw[2 * TB_EC_MAX_SCALAR_LEN];
	int ok;
	const EVP_MD *md = mbedtls_md_to_ossl(md_alg, hash_len, &ok);
	if (!ok)
		return MBEDTLS_ERR_PK_BAD_INPUT_DATA;
	/* The same strict DER as tb_pkey_verify. */
	if (tb_ecdsa_der_to_raw(TB_BUF(sig, sig_len), tb_curve_len(gid_curve(a->kp.grp.id)), raw))
		return MBEDTLS_ERR_ECP_VERIFY_FAILED;
	int rc = ossl_verify(a->evp, 0, md, hash, hash_len, TB_BUF(sig, sig_len));
	return rc == 0 ? 0 : rc == TB_ERR_VERIFY ? MBEDTLS_ERR_ECP_VERIFY_FAILED
						  : MBEDTLS_ERR_PK_BAD_INPUT_DATA;
}

static int ec_alt_sign(void *ctx, mbedtls_md_type_t md_alg, const unsigned char *hash,
		       size_t hash_len, unsigned char *sig, size_t *sig_len,
		       int (*f_rng)(void *, unsigned char *, size_t), void *p_rng)
{
	const struct ec_alt *a = ctx;
	size_t len = MBEDTLS_ECDSA_MAX_LEN; /* what mbedTLS's own ECDSA may write */
	int ok;
	const EVP_MD *md = mbedtls_md_to_ossl(md_alg, hash_len, &ok);
	(void)f_rng; /* OpenSSL draws the nonce from its own DRBG */
	(void)p_rng;
	if (!ok)
		return MBEDTLS_ERR_PK_BAD_INPUT_DATA;
	if (ossl_sign(a->evp, 0, md, hash, hash_len, sig, &len))
		return MBEDTLS_ERR_ECP_BAD_INPUT_DATA;
	*sig_len = len;
	return 0;
}

static int ec_alt_check_pair(const void *pub, const void *prv)
{
	const mbedtls_ecp_keypair *a = pub, *b = prv;
	if (a->grp.id != b->grp.id || mbedtls_ecp_point_cmp(&a->Q, &b->Q))
		return MBEDTLS_ERR_ECP_BAD_INPUT_DATA;
	return 0;
}

static void *ec_alt_alloc(void)
{
	struct ec_alt *a = calloc(1, sizeof(*a));
	if (a)
		mbedtls_ecp_keypair_init(&a->kp);
	return a;
}

static void ec_alt_free(void *ctx)
{
	struct ec_alt *a = ctx;
	mbedtls_ecp_keypair_free(&a->kp);
	free(a);
}

static const mbedtls_pk_info_t ec_alt_info = {
	.type = MBEDTLS_PK_ECKEY,
	.name = "EC",
	.get_bitlen = ec_alt_bitlen,
	.can_do = ec_alt_can_do,
	.verify_func = ec_alt_verify,
	.sign_func = ec_alt_sign,
	.check_pair_func = ec_alt_check_pair,
	.ctx_alloc_func = ec_alt_alloc,
	.ctx_free_func = ec_alt_free,
};

static EVP_PKEY *pk_evp(const mbedtls_pk_context *pk)
{
	return pk->pk_info == &ec_alt_info ? ((const struct ec_alt *)pk->pk_ctx)->evp : NULL;
}

/*
 * Makes k an EC key from its parts: the mbedTLS face (on ec_alt_info) and
 * the EVP_PKEY. check: validate the point with mbedTLS too (raw input; a
 * key mbedTLS parsed was checked already), so both backends refuse the same
 * points.
 */
static int pkey_set_ec(struct tb_pkey *k, enum tb_curve curve, const uint8_t *scalar,
		       const uint8_t *point, int check)
{
	mbedtls_pk_context alt;
	struct ec_alt *a;
	int rc;
	mbedtls_pk_init(&alt);
	if (mbedtls_pk_setup(&alt, &ec_alt_info))
		return TB_ERR_NOMEM;
	a = alt.pk_ctx;
	rc = mbedtls_ecp_group_load(&a->kp.grp, curve_gid(curve));
	if (!rc)
		rc = mbedtls_ecp_point_read_binary(&a->kp.grp, &a->kp.Q, point,
						   tb_curve_point_len(curve));
	if (!rc && check && mbedtls_ecp_check_pubkey(&a->kp.grp, &a->kp.Q))
		rc = MBEDTLS_ERR_ECP_INVALID_KEY;
	if (!rc && scalar)
		rc = mbedtls_mpi_read_binary(&a->kp.d, scalar, tb_curve_len(curve));
	rc = ec_err(rc);
	if (!rc && !k->evp)
		rc = ossl_ec_key(curve, point, scalar, &k->evp);
	if (rc) {
		mbedtls_pk_free(&alt);
		return rc;
	}
	a->evp = k->evp;
	mbedtls_pk_free(&k->pk);
	k->pk = alt;
	return 0;
}

/* Gives a key mbedTLS made (parsed, RSA) its OpenSSL half. */
static int pkey_finish(struct tb_pkey *k)
{
	if (k->evp)
		return 0;
	if (pk_is_ec(&k->pk)) {
		mbedtls_ecp_keypair *ec = mbedtls_pk_ec(k->pk);
		enum tb_curve curve = gid_curve(ec->grp.id);
		uint8_t point[TB_EC_MAX_POINT_LEN], scalar[TB_EC_MAX_SCALAR_LEN];
		size_t olen;
		int rc;
		if (curve == TB_CURVE_NONE)
			return TB_ERR_UNSUPPORTED;
		rc = mbedtls_ecp_point_write_binary(&ec->grp, &ec->Q, MBEDTLS_ECP_PF_UNCOMPRESSED,
						    &olen, point, sizeof(point));
		if (!rc && k->has_private)
			rc = mbedtls_mpi_write_binary(&ec->d, scalar, tb_curve_len(curve));
		rc = rc ? TB_ERR_INVALID
			: pkey_set_ec(k, curve, k->has_private ? scalar : NULL, point, 0);
		tb_crypto_wipe(scalar, sizeof(scalar));
		return rc;
	}
	if (mbedtls_pk_get_type(&k->pk) == MBEDTLS_PK_RSA) {
		size_t bits = mbedtls_pk_get_bitlen(&k->pk);
		if (bits < 1024 || bits > 8192)
			return TB_ERR_UNSUPPORTED;
		return k->has_private ? ossl_rsa_private(&k->pk, &k->evp)
				      : ossl_rsa_public(mbedtls_pk_rsa(k->pk), &k->evp);
	}
	return TB_ERR_UNSUPPORTED;
}

#else /* mbedTLS */

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

#endif

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
	k->has_private = 1;
#if defined(TB_CRYPTO_LIBCRYPTO)
	uint8_t sk[TB_EC_MAX_SCALAR_LEN], pt[TB_EC_MAX_POINT_LEN];
	rc = tb_ec_keygen(curve, sk, pt);
	if (!rc)
		rc = pkey_set_ec(k, curve, sk, pt, 0);
	tb_crypto_wipe(sk, sizeof(sk));
#else
	rc = mbedtls_pk_setup(&k->pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY));
	if (!rc)
		rc = mbedtls_ecp_gen_key(curve_gid(curve), mbedtls_pk_ec(k->pk),
					 tb_crypto_mbedtls_rng, NULL);
	rc = ec_err(rc);
#endif
	return pkey_done(k, rc, out);
}

static int parse_any(struct tb_buf in, int priv, struct tb_pkey **out);

int tb_pkey_generate_rsa(unsigned bits, struct tb_pkey **out)
{
	int rc;
	*out = NULL;
	if (bits < TB_RSA_MIN_BITS || bits > TB_RSA_MAX_BITS)
		return TB_ERR_UNSUPPORTED;
#if defined(TB_CRYPTO_LIBCRYPTO)
	/* OpenSSL generates (much faster); mbedTLS reads the PKCS#1 DER. */
	EVP_PKEY *ek = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits);
	unsigned char *der = NULL;
	int n = ek ? i2d_PrivateKey(ek, &der) : -1;
	EVP_PKEY_free(ek);
	if (n <= 0) {
		ERR_clear_error();
		return TB_ERR_CRYPTO;
	}
	rc = parse_any(TB_BUF(der, (size_t)n), 1, out);
	OPENSSL_clear_free(der, (size_t)n);
	return rc;
#else
	struct tb_pkey *k;
	if (!(k = pkey_new()))
		return TB_ERR_NOMEM;
	rc = mbedtls_pk_setup(&k->pk, mbedtls_pk_info_from_type(MBEDTLS_PK_RSA));
	if (!rc)
		rc = mbedtls_rsa_gen_key(mbedtls_pk_rsa(k->pk), tb_crypto_mbedtls_rng, NULL, bits,
					 65537);
	k->has_private = 1;
	return pkey_done(k, rc ? TB_ERR_CRYPTO : 0, out);
#endif
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
	int rc;
	*out = NULL;
	if (!tb_curve_len(curve))
		return TB_ERR_UNSUPPORTED;
	if (point.len != tb_curve_point_len(curve) || point.p[0] != 0x04)
		return TB_ERR_INVALID;
	if (!(k = pkey_new()))
		return TB_ERR_NOMEM;
#if defined(TB_CRYPTO_LIBCRYPTO)
	rc = pkey_set_ec(k, curve, NULL, point.p, 1);
#else
	mbedtls_ecp_keypair *ec;
	rc = mbedtls_pk_setup(&k->pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY));
	if (!rc) {
		ec = mbedtls_pk_ec(k->pk);
		rc = mbedtls_ecp_group_load(&ec->grp, curve_gid(curve));
		if (!rc)
			rc = mbedtls_ecp_point_read_binary(&ec->grp, &ec->Q, point.p, point.len);
		if (!rc && mbedtls_ecp_check_pubkey(&ec->grp, &ec->Q))
			rc = MBEDTLS_ERR_ECP_INVALID_KEY;
	}
	rc = ec_err(rc);
#endif
	return pkey_done(k, rc, out);
}

int tb_pkey_from_ec_private(enum tb_curve curve, struct tb_buf scalar, struct tb_pkey **out)
{
	struct tb_pkey *k;
	int rc;
	*out = NULL;
	if (!tb_curve_len(curve))
		return TB_ERR_UNSUPPORTED;
	if (scalar.len != tb_curve_len(curve))
		return TB_ERR_INVALID;
	if (!(k = pkey_new()))
		return TB_ERR_NOMEM;
	k->has_private = 1;
#if defined(TB_CRYPTO_LIBCRYPTO)
	uint8_t pt[TB_EC_MAX_POINT_LEN];
	rc = tb_ec_public(curve, scalar.p, pt);
	if (!rc)
		rc = pkey_set_ec(k, curve, scalar.p, pt, 0);
#else
	mbedtls_ecp_keypair *ec;
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
	rc = ec_err(rc);
#endif
	return pkey_done(k, rc, out);
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

int tb_pkey_from_mbedtls_public(const struct mbedtls_pk_context *pk, struct tb_pkey **out)
{
	struct tb_bytes der = { 0 };
	int rc;
	*out = NULL;
	rc = pk_write_der(pk, 0, &der);
	if (rc == TB_ERR_CRYPTO)
		rc = TB_ERR_INVALID;
	if (!rc)
		rc = tb_pkey_parse_public(tb_bytes_buf(&der), out);
	tb_bytes_free(&der);
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
	return pk_write_der(&key->pk, 0, out);
}

int tb_pkey_write_public_pem(const struct tb_pkey *key, struct tb_bytes *out)
{
	return write_pem(key, 0, out);
}

int tb_pkey_write_private_der(const struct tb_pkey *key, struct tb_bytes *out)
{
	if (!key->has_private)
		return TB_ERR_STATE;
	return pk_write_der(&key->pk, 1, out);
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
#if defined(TB_CRYPTO_LIBCRYPTO)
	len = sizeof(buf);
	rc = ossl_sign(key->evp, !pk_is_ec(&key->pk), ossl_md(alg), digest, tb_hash_len(alg), buf,
		       &len);
	if (rc)
		return rc;
#else
	rc = mbedtls_pk_sign((mbedtls_pk_context *)&key->pk, md_type(alg), digest,
			     tb_hash_len(alg), buf, &len, tb_crypto_mbedtls_rng, NULL);
	if (rc)
		return TB_ERR_CRYPTO;
#endif
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

/* The RSA size policy and signature length, shared by both backends. */
static int rsa_precheck(mbedtls_rsa_context *rsa, unsigned min_bits, struct tb_buf sig)
{
	size_t bits = mbedtls_mpi_bitlen(&rsa->N);
	if (bits < min_bits || bits > TB_RSA_MAX_BITS)
		return TB_ERR_UNSUPPORTED;
	if (sig.len != mbedtls_rsa_get_len(rsa))
		return TB_ERR_VERIFY;
	return 0;
}

#if defined(TB_CRYPTO_LIBCRYPTO)

/*
 * Verification on libcrypto. evp: the key's OpenSSL half when it has one; a
 * bare mbedTLS key (a certificate's) is converted for this one call.
 */
static int pk_verify_evp(mbedtls_pk_context *pk, EVP_PKEY *evp, int raw, enum tb_hash_alg alg,
			 const uint8_t *digest, struct tb_buf sig)
{
	EVP_PKEY *tmp = NULL;
	int rc;
	if (!tb_hash_len(alg))
		return TB_ERR_UNSUPPORTED;
	if ((rc = tb_crypto_init()))
		return rc;
	if (!evp)
		evp = pk_evp(pk);
	if (pk_is_ec(pk)) {
		mbedtls_ecp_keypair *ec = mbedtls_pk_ec(*pk);
		enum tb_curve curve = gid_curve(ec->grp.id);
		size_t sl = tb_curve_len(curve);
		uint8_t buf[2 * TB_EC_MAX_SCALAR_LEN], point[TB_EC_MAX_POINT_LEN];
		struct tb_bytes der = { 0 };
		size_t olen;
		if (!sl)
			return TB_ERR_UNSUPPORTED;
		/* Strict DER (or exact-length raw) first, as on the mbedTLS backend. */
		if (raw) {
			if (sig.len != 2 * sl || tb_ecdsa_raw_to_der(sig, &der))
				rc = TB_ERR_VERIFY;
			else
				sig = tb_bytes_buf(&der);
		} else if (tb_ecdsa_der_to_raw(sig, sl, buf)) {
			rc = TB_ERR_VERIFY;
		}
		if (!rc && !evp) {
			if (mbedtls_ecp_point_write_binary(&ec->grp, &ec->Q,
							   MBEDTLS_ECP_PF_UNCOMPRESSED, &olen, point,
							   sizeof(point)))
				rc = TB_ERR_INVALID;
			else
				rc = ossl_ec_key(curve, point, NULL, &tmp);
			evp = tmp;
		}
		if (!rc)
			rc = ossl_verify(evp, 0, ossl_md(alg), digest, tb_hash_len(alg), sig);
		tb_bytes_free(&der);
		EVP_PKEY_free(tmp);
		return rc;
	}
	if (mbedtls_pk_get_type(pk) == MBEDTLS_PK_RSA && !raw) {
		mbedtls_rsa_context *rsa = mbedtls_pk_rsa(*pk);
		if ((rc = rsa_precheck(rsa, TB_RSA_MIN_BITS, sig)))
			return rc;
		if (!evp && (rc = ossl_rsa_public(rsa, &tmp)))
			return rc;
		rc = ossl_verify(evp ? evp : tmp, 1, ossl_md(alg), digest, tb_hash_len(alg), sig);
		EVP_PKEY_free(tmp);
		return rc;
	}
	return TB_ERR_UNSUPPORTED;
}

int tb_pkey_verify(const struct tb_pkey *key, enum tb_hash_alg alg, const uint8_t *digest,
		   struct tb_buf sig)
{
	return pk_verify_evp((mbedtls_pk_context *)&key->pk, key->evp, 0, alg, digest, sig);
}

int tb_pkey_verify_raw(const struct tb_pkey *key, enum tb_hash_alg alg, const uint8_t *digest,
		       struct tb_buf sig)
{
	return pk_verify_evp((mbedtls_pk_context *)&key->pk, key->evp, 1, alg, digest, sig);
}

int tb_pk_verify(const struct mbedtls_pk_context *pk, enum tb_hash_alg alg, const uint8_t *digest,
		 struct tb_buf sig)
{
	return pk_verify_evp((mbedtls_pk_context *)pk, NULL, 0, alg, digest, sig);
}

#else /* mbedTLS */

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
	int rc = rsa_precheck(rsa, min_bits, sig);
	if (rc)
		return rc;
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

#endif

int tb_rsa_verify(struct tb_buf n, struct tb_buf e, unsigned min_bits, enum tb_hash_alg alg,
		  const uint8_t *digest, struct tb_buf sig)
{
	mbedtls_rsa_context rsa;
	int rc;
	if (!tb_hash_len(alg))
		return TB_ERR_UNSUPPORTED;
	if (n.len == 0 || e.len == 0 || n.len > TB_RSA_MAX_BITS / 8 + 1 || e.len > 8)
		return TB_ERR_INVALID;
	/* mbedTLS checks the public key on both backends, so both refuse the same keys. */
	mbedtls_rsa_init(&rsa, MBEDTLS_RSA_PKCS_V15, 0);
	rc = mbedtls_rsa_import_raw(&rsa, n.p, n.len, NULL, 0, NULL, 0, NULL, 0, e.p, e.len);
	if (!rc)
		rc = mbedtls_rsa_complete(&rsa);
	if (!rc)
		rc = mbedtls_rsa_check_pubkey(&rsa);
#if defined(TB_CRYPTO_LIBCRYPTO)
	if (rc)
		rc = TB_ERR_INVALID;
	else if (!(rc = rsa_precheck(&rsa, min_bits, sig)) && !(rc = tb_crypto_init())) {
		EVP_PKEY *evp = NULL;
		rc = ossl_rsa_public(&rsa, &evp);
		if (!rc)
			rc = ossl_verify(evp, 1, ossl_md(alg), digest, tb_hash_len(alg), sig);
		EVP_PKEY_free(evp);
	}
#else
	rc = rc ? TB_ERR_INVALID : rsa_verify_ctx(&rsa, min_bits, alg, digest, sig);
#endif
	mbedtls_rsa_free(&rsa);
	return rc;
}

/* ---- verification keys (tb_vkey) ---------------------------------------- */

/*
 * A bare public key for repeated checks: on libcrypto only an EVP_PKEY (no
 * mbedTLS face) and an EVP_PKEY_CTX set up for verification with the key's
 * hash (and PKCS#1 v1.5 padding) once; each check duplicates that context,
 * which costs less than setting one up (for RSA about 15% of the check), and
 * only reads the template, so the key is shared by threads like a tb_pkey.
 * On mbedTLS: a warmed-up EC tb_pkey or an RSA context.
 */
struct tb_vkey {
	enum { VKEY_EC = 1, VKEY_RSA, VKEY_ED25519 } type;
	size_t sig_len;  /* EC: 2 * scalar; RSA: modulus octets; Ed25519: 64 */
	unsigned min_bits; /* RSA */
	enum tb_hash_alg alg;
#if defined(TB_CRYPTO_LIBCRYPTO)
	EVP_PKEY *evp;
	EVP_PKEY_CTX *tmpl; /* verify_init done, never used itself: duplicated per check */
#else
	struct tb_pkey *ec;
	mbedtls_rsa_context rsa;
#endif
	uint8_t ed[TB_ED25519_PUBLIC_LEN];
};

static struct tb_vkey *vkey_new(int type, enum tb_hash_alg alg)
{
	struct tb_vkey *k = calloc(1, sizeof(*k));
	if (k) {
		k->type = type;
		k->alg = alg;
#if !defined(TB_CRYPTO_LIBCRYPTO)
		mbedtls_rsa_init(&k->rsa, MBEDTLS_RSA_PKCS_V15, 0);
#endif
	}
	return k;
}

void tb_vkey_free(struct tb_vkey *key)
{
	if (!key)
		return;
#if defined(TB_CRYPTO_LIBCRYPTO)
	EVP_PKEY_CTX_free(key->tmpl);
	EVP_PKEY_free(key->evp);
#else
	tb_pkey_free(key->ec);
	mbedtls_rsa_free(&key->rsa);
#endif
	free(key);
}

static int vkey_done(struct tb_vkey *k, int rc, struct tb_vkey **out)
{
#if defined(TB_CRYPTO_LIBCRYPTO)
	if (!rc && k->evp) {
		k->tmpl = EVP_PKEY_CTX_new_from_pkey(NULL, k->evp, NULL);
		if (!k->tmpl)
			rc = TB_ERR_NOMEM;
		else if (EVP_PKEY_verify_init(k->tmpl) != 1 ||
			 (k->type == VKEY_RSA &&
			  EVP_PKEY_CTX_set_rsa_padding(k->tmpl, RSA_PKCS1_PADDING) != 1) ||
			 EVP_PKEY_CTX_set_signature_md(k->tmpl, ossl_md(k->alg)) != 1)
			rc = TB_ERR_CRYPTO;
		ERR_clear_error();
	}
#endif
	if (rc) {
		tb_vkey_free(k);
		return rc;
	}
	*out = k;
	return 0;
}

int tb_vkey_ec(enum tb_curve curve, enum tb_hash_alg alg, struct tb_buf point, struct tb_vkey **out)
{
	struct tb_vkey *k;
	int rc;
	*out = NULL;
	if (!tb_curve_len(curve) || !tb_hash_len(alg))
		return TB_ERR_UNSUPPORTED;
	if (point.len != tb_curve_point_len(curve) || point.p[0] != 0x04)
		return TB_ERR_INVALID;
	if ((rc = tb_crypto_init()))
		return rc;
	if (!(k = vkey_new(VKEY_EC, alg)))
		return TB_ERR_NOMEM;
	k->sig_len = 2 * tb_curve_len(curve);
#if defined(TB_CRYPTO_LIBCRYPTO)
	/* OpenSSL refuses a point that is not on the curve (the curves have cofactor 1). */
	rc = ossl_ec_key(curve, point.p, NULL, &k->evp);
#else
	rc = tb_pkey_from_ec_public(curve, point, &k->ec);
#endif
	return vkey_done(k, rc, out);
}

int tb_vkey_rsa(enum tb_hash_alg alg, struct tb_buf n, struct tb_buf e, unsigned min_bits,
		struct tb_vkey **out)
{
	struct tb_vkey *k;
	int rc;
	*out = NULL;
	if (!tb_hash_len(alg))
		return TB_ERR_UNSUPPORTED;
	while (n.len && !n.p[0]) {
		n.p++;
		n.len--;
	}
	if (n.len == 0 || e.len == 0 || n.len > TB_RSA_MAX_BITS / 8 || e.len > 8)
		return TB_ERR_INVALID;
	if ((rc = tb_crypto_init()))
		return rc;
	if (!(k = vkey_new(VKEY_RSA, alg)))
		return TB_ERR_NOMEM;
	k->min_bits = min_bits;
	/* mbedTLS checks the public key on both backends, as tb_rsa_verify. */
#if defined(TB_CRYPTO_LIBCRYPTO)
	mbedtls_rsa_context rsa_, *rsa = &rsa_;
	mbedtls_rsa_init(rsa, MBEDTLS_RSA_PKCS_V15, 0);
#else
	mbedtls_rsa_context *rsa = &k->rsa;
#endif
	rc = mbedtls_rsa_import_raw(rsa, n.p, n.len, NULL, 0, NULL, 0, NULL, 0, e.p, e.len);
	if (!rc)
		rc = mbedtls_rsa_complete(rsa);
	if (!rc)
		rc = mbedtls_rsa_check_pubkey(rsa);
	if (rc) {
		rc = TB_ERR_INVALID;
	} else {
		size_t bits = mbedtls_mpi_bitlen(&rsa->N);
		k->sig_len = mbedtls_rsa_get_len(rsa);
		if (bits < min_bits || bits > TB_RSA_MAX_BITS)
			rc = TB_ERR_UNSUPPORTED;
	}
#if defined(TB_CRYPTO_LIBCRYPTO)
	if (!rc)
		rc = ossl_rsa_public(rsa, &k->evp);
	mbedtls_rsa_free(rsa);
#endif
	return vkey_done(k, rc, out);
}

int tb_vkey_ed25519(const uint8_t pk[TB_ED25519_PUBLIC_LEN], struct tb_vkey **out)
{
	struct tb_vkey *k;
	*out = NULL;
	if (!(k = vkey_new(VKEY_ED25519, TB_HASH_NONE)))
		return TB_ERR_NOMEM;
	k->sig_len = TB_ED25519_SIG_LEN;
	memcpy(k->ed, pk, TB_ED25519_PUBLIC_LEN);
	return vkey_done(k, 0, out);
}

#if defined(TB_CRYPTO_LIBCRYPTO)
/* raw r || s -> DER in a caller buffer of at least 2 * (2 + 1 + half) + 2 octets. */
static size_t raw_to_der_fixed(const uint8_t *raw, size_t half, uint8_t *der)
{
	size_t len = 2;
	for (int i = 0; i < 2; i++) {
		const uint8_t *v = raw + i * half;
		size_t n = half;
		while (n > 1 && v[0] == 0) {
			v++;
			n--;
		}
		int pad = (v[0] & 0x80) != 0;
		der[len++] = 0x02;
		der[len++] = (uint8_t)(n + (size_t)pad);
		if (pad)
			der[len++] = 0;
		memcpy(der + len, v, n);
		len += n;
	}
	der[0] = 0x30;
	der[1] = (uint8_t)(len - 2);
	return len;
}

/* One check on a copy of the key's template context. */
static int vkey_ossl_verify(const struct tb_vkey *key, const uint8_t *digest, struct tb_buf sig)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_dup(key->tmpl);
	int rc = 0;
	if (!ctx)
		rc = TB_ERR_NOMEM;
	else if (EVP_PKEY_verify(ctx, sig.p, sig.len, digest, tb_hash_len(key->alg)) != 1)
		rc = TB_ERR_VERIFY;
	EVP_PKEY_CTX_free(ctx);
	if (rc)
		ERR_clear_error();
	return rc;
}
#endif

int tb_vkey_verify(const struct tb_vkey *key, struct tb_buf msg, struct tb_buf sig)
{
	uint8_t digest[TB_HASH_MAX_LEN];
	int rc;
	if (sig.len != key->sig_len)
		return TB_ERR_VERIFY;
	if (key->type == VKEY_ED25519)
		return tb_ed25519_verify(key->ed, msg, sig.p);
	if ((rc = tb_hash(key->alg, msg, digest)))
		return rc;
#if defined(TB_CRYPTO_LIBCRYPTO)
	if (key->type == VKEY_EC) {
		uint8_t der[2 * (3 + TB_EC_MAX_SCALAR_LEN) + 2];
		size_t dl = raw_to_der_fixed(sig.p, sig.len / 2, der);
		return vkey_ossl_verify(key, digest, TB_BUF(der, dl));
	}
	return vkey_ossl_verify(key, digest, sig);
#else
	if (key->type == VKEY_EC)
		return tb_pkey_verify_raw(key->ec, key->alg, digest, sig);
	return rsa_verify_ctx((mbedtls_rsa_context *)&key->rsa, key->min_bits, key->alg, digest, sig);
#endif
}
