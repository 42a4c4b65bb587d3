/*
 * The crypto provider layer: every hash, MAC, KDF, AEAD, signature, key
 * agreement and random byte in trustbox goes through these functions, so a
 * faster backend can replace a slow primitive in one place.
 *
 * Backends today (core/crypto.c): libsodium for randomness, X25519 and
 * Ed25519 (mbedTLS 2.28 has no Ed25519 and its X25519 is ~30x slower),
 * ChaCha20-Poly1305 and the DRBG's ChaCha20 keystream, and HMAC and HKDF with
 * SHA-256 and SHA-512 (a copyable keyed state); mbedTLS 2.28 for the SHA-1
 * and SHA-2 hashes, HMAC and HKDF with SHA-1 and SHA-384 and AES-GCM; the
 * public-key primitives (ECDSA and ECDH on P-256 and P-384, EC key
 * generation, RSA) on OpenSSL 3's libcrypto by default, or on mbedTLS when
 * built with -DTB_CRYPTO=mbedtls (tb_crypto_backend() says which). No
 * backend type appears in this header except mbedTLS's as an opaque pointer,
 * and no file but core/crypto.c includes an OpenSSL header.
 *
 * Conventions: functions return 0 or a negative TB_ERR_* (core/error.h);
 * variable-length inputs are struct tb_buf slices; fixed-size outputs are
 * caller buffers of the documented size; variable-size outputs are appended
 * to a struct tb_bytes. TB_ERR_VERIFY means "did not verify" (bad signature
 * or tag); TB_ERR_INVALID means malformed input (bad key, bad encoding).
 * Everything here is thread-safe once tb_crypto_init() has returned.
 */
#ifndef TB_CRYPTO_H
#define TB_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/* ---- setup and randomness ---------------------------------------------- */

/* Initialises the backends (sodium_init). Safe to call repeatedly and from
 * several threads; every other function calls it implicitly when needed. */
int tb_crypto_init(void);

/* The public-key backend compiled in: "libcrypto" (OpenSSL 3) or "mbedtls". */
const char *tb_crypto_backend(void);

/* Fills p with n bytes from the OS-seeded CSPRNG (libsodium randombytes_buf). */
int tb_random(void *p, size_t n);

/* An mbedTLS f_rng callback backed by tb_random; p_rng is ignored (pass NULL).
 * Thread-safe: it holds no state. */
int tb_crypto_mbedtls_rng(void *p_rng, unsigned char *out, size_t n);

/*
 * A fast deterministic random bit generator for bulk randomness (DP noise,
 * sampling): a ChaCha20 keystream (libsodium's IETF ChaCha20) with fast key
 * erasure (each refill replaces the key), seeded from tb_random or, for
 * reproducible tests, from a fixed seed. Plain memory; not shared between
 * threads.
 */
#define TB_DRBG_BUF 256
struct tb_drbg {
	uint8_t key[32];
	uint8_t buf[TB_DRBG_BUF]; /* unread keystream */
	size_t pos;               /* next unread byte in buf */
};

int tb_drbg_init(struct tb_drbg *d); /* seeded from tb_random */
void tb_drbg_seed(struct tb_drbg *d, const uint8_t seed[32]);
void tb_drbg_bytes(struct tb_drbg *d, void *out, size_t n);
void tb_drbg_clear(struct tb_drbg *d);

/* Zeroes secret memory in a way the compiler cannot elide. */
void tb_crypto_wipe(void *p, size_t n);

/* ---- hashes ------------------------------------------------------------ */

enum tb_hash_alg {
	TB_HASH_NONE = 0,
	TB_HASH_SHA256 = 1,
	TB_HASH_SHA384 = 2,
	TB_HASH_SHA512 = 3,
	TB_HASH_SHA1 = 4, /* legacy only: NSEC3, DS digest type 1, key identifiers */
};

#define TB_SHA1_LEN 20
#define TB_SHA256_LEN 32
#define TB_SHA384_LEN 48
#define TB_SHA512_LEN 64
#define TB_HASH_MAX_LEN 64

/* Digest length in bytes, 0 for an unknown algorithm. */
size_t tb_hash_len(enum tb_hash_alg alg);

/* One-shot digest; out holds tb_hash_len(alg) bytes. */
int tb_hash(enum tb_hash_alg alg, struct tb_buf msg, uint8_t *out);
int tb_sha256(struct tb_buf msg, uint8_t out[TB_SHA256_LEN]);
int tb_sha384(struct tb_buf msg, uint8_t out[TB_SHA384_LEN]);
int tb_sha512(struct tb_buf msg, uint8_t out[TB_SHA512_LEN]);

/* Incremental digest. The context is plain memory (no heap): init, update
 * any number of times, final (which also wipes the context). A context may
 * be copied by assignment to fork a running hash (e.g. Merkle prefixes). */
#define TB_HASH_CTX_SIZE 384
struct tb_hash_ctx {
	enum tb_hash_alg alg;
	union {
		uint64_t align_;
		unsigned char opaque[TB_HASH_CTX_SIZE];
	} u;
};

int tb_hash_init(struct tb_hash_ctx *ctx, enum tb_hash_alg alg);
int tb_hash_update(struct tb_hash_ctx *ctx, const void *p, size_t n);
int tb_hash_final(struct tb_hash_ctx *ctx, uint8_t *out);

/* ---- HMAC and HKDF (RFC 2104, RFC 5869) -------------------------------- */

/* out holds tb_hash_len(alg) bytes. */
int tb_hmac(enum tb_hash_alg alg, struct tb_buf key, struct tb_buf msg, uint8_t *out);

/* HKDF-Extract: prk (tb_hash_len(alg) bytes) = HMAC(salt, ikm); an empty
 * salt means HashLen zero bytes, as RFC 5869 says. */
int tb_hkdf_extract(enum tb_hash_alg alg, struct tb_buf salt, struct tb_buf ikm, uint8_t *prk);
/* HKDF-Expand: out_len <= 255 * HashLen, else TB_ERR_INVALID. */
int tb_hkdf_expand(enum tb_hash_alg alg, struct tb_buf prk, struct tb_buf info,
		   uint8_t *out, size_t out_len);
/* Extract then Expand. */
int tb_hkdf(enum tb_hash_alg alg, struct tb_buf salt, struct tb_buf ikm, struct tb_buf info,
	    uint8_t *out, size_t out_len);

/* ---- AEAD -------------------------------------------------------------- */

enum tb_aead_alg {
	TB_AEAD_NONE = 0,
	TB_AEAD_AES128_GCM = 1,
	TB_AEAD_AES256_GCM = 2,
	TB_AEAD_CHACHA20_POLY1305 = 3, /* IETF variant, RFC 8439 */
};

#define TB_AEAD_NONCE_LEN 12
#define TB_AEAD_TAG_LEN 16
#define TB_AEAD_MAX_KEY_LEN 32

/* Key length in bytes (16 or 32), 0 for an unknown algorithm. */
size_t tb_aead_key_len(enum tb_aead_alg alg);

/* Seal: out receives ciphertext || tag, pt.len + TB_AEAD_TAG_LEN bytes.
 * key.len must equal tb_aead_key_len(alg). out may equal pt.p (in place). */
int tb_aead_seal(enum tb_aead_alg alg, struct tb_buf key, const uint8_t nonce[TB_AEAD_NONCE_LEN],
		 struct tb_buf aad, struct tb_buf pt, uint8_t *out);
/* Open: ct is ciphertext || tag; out receives ct.len - TB_AEAD_TAG_LEN bytes.
 * Returns TB_ERR_VERIFY (and zeroes out) when the tag does not match.
 * out may equal ct.p (in place). */
int tb_aead_open(enum tb_aead_alg alg, struct tb_buf key, const uint8_t nonce[TB_AEAD_NONCE_LEN],
		 struct tb_buf aad, struct tb_buf ct, uint8_t *out);

/* ---- X25519 and Ed25519 (libsodium) ------------------------------------ */

#define TB_X25519_LEN 32
#define TB_ED25519_SEED_LEN 32
#define TB_ED25519_PUBLIC_LEN 32
#define TB_ED25519_SECRET_LEN 64 /* seed || public key (libsodium layout) */
#define TB_ED25519_SIG_LEN 64

int tb_x25519_keygen(uint8_t sk[TB_X25519_LEN], uint8_t pk[TB_X25519_LEN]);
int tb_x25519_public(const uint8_t sk[TB_X25519_LEN], uint8_t pk[TB_X25519_LEN]);
/* out = X25519(sk, pk); TB_ERR_CRYPTO when the result is all zero
 * (a small-order peer key), as RFC 7748 section 6.1 allows and HPKE requires. */
int tb_x25519(uint8_t out[TB_X25519_LEN], const uint8_t sk[TB_X25519_LEN],
	      const uint8_t pk[TB_X25519_LEN]);

int tb_ed25519_keygen(uint8_t pk[TB_ED25519_PUBLIC_LEN], uint8_t sk[TB_ED25519_SECRET_LEN]);
/* RFC 8032 private key (32-byte seed) -> public key and 64-byte secret key. */
int tb_ed25519_from_seed(const uint8_t seed[TB_ED25519_SEED_LEN], uint8_t pk[TB_ED25519_PUBLIC_LEN],
			 uint8_t sk[TB_ED25519_SECRET_LEN]);
int tb_ed25519_sign(const uint8_t sk[TB_ED25519_SECRET_LEN], struct tb_buf msg,
		    uint8_t sig[TB_ED25519_SIG_LEN]);
/* TB_ERR_VERIFY on a bad signature. */
int tb_ed25519_verify(const uint8_t pk[TB_ED25519_PUBLIC_LEN], struct tb_buf msg,
		      const uint8_t sig[TB_ED25519_SIG_LEN]);

/* ---- raw elliptic-curve keys: P-256 / P-384 ECDH ----------------------- */

enum tb_curve {
	TB_CURVE_NONE = 0,
	TB_CURVE_P256 = 1,
	TB_CURVE_P384 = 2,
};

#define TB_EC_MAX_SCALAR_LEN 48
#define TB_EC_MAX_POINT_LEN 97 /* 0x04 || x || y for P-384 */

/* Field/scalar size in bytes (32 or 48), 0 for an unknown curve. */
size_t tb_curve_len(enum tb_curve curve);
/* Uncompressed point size: 1 + 2 * tb_curve_len(curve). */
size_t tb_curve_point_len(enum tb_curve curve);

/* sk: tb_curve_len bytes, big-endian scalar in [1, n-1];
 * pk: tb_curve_point_len bytes, uncompressed point 0x04 || x || y. */
int tb_ec_keygen(enum tb_curve curve, uint8_t *sk, uint8_t *pk);
/* TB_ERR_INVALID when sk is 0 or >= the group order. */
int tb_ec_public(enum tb_curve curve, const uint8_t *sk, uint8_t *pk);
/* out (tb_curve_len bytes) = x-coordinate of sk * peer; the peer point is
 * fully validated (TB_ERR_INVALID if not on the curve). */
int tb_ec_dh(enum tb_curve curve, const uint8_t *sk, const uint8_t *peer_pk, uint8_t *out);

/* ---- ECDSA signature encodings ----------------------------------------- */

/* DER Ecdsa-Sig-Value <-> raw r || s (each scalar_len bytes, big-endian;
 * JWS uses raw, X.509 and CT use DER). raw_to_der appends to der. */
int tb_ecdsa_der_to_raw(struct tb_buf der, size_t scalar_len, uint8_t *raw);
int tb_ecdsa_raw_to_der(struct tb_buf raw, struct tb_bytes *der);

/* ---- public-key objects (ECDSA P-256/P-384, RSA) ----------------------- */

enum tb_key_type {
	TB_KEY_NONE = 0,
	TB_KEY_EC = 1,  /* ECDSA/ECDH over tb_pkey_curve() */
	TB_KEY_RSA = 2,
};

#define TB_RSA_MIN_BITS 2048
#define TB_RSA_MAX_BITS 4096
#define TB_PKEY_MAX_INPUT (64 * 1024) /* cap on DER/PEM accepted by the parsers */

/* An opaque key: the backend's key (an OpenSSL EVP_PKEY on libcrypto) and
 * an mbedtls_pk_context for mbedTLS's X.509 writer and TLS, whose EC sign
 * and verify also run on the backend. Immutable after creation, so one key
 * may be used by several threads at once. */
struct tb_pkey;
struct mbedtls_pk_context;

int tb_pkey_generate_ec(enum tb_curve curve, struct tb_pkey **out);
int tb_pkey_generate_rsa(unsigned bits, struct tb_pkey **out); /* slow: tests and tooling */
/* SubjectPublicKeyInfo, DER or PEM. */
int tb_pkey_parse_public(struct tb_buf in, struct tb_pkey **out);
/* Private key: PKCS#8, SEC1 (EC) or PKCS#1 (RSA), DER or PEM, unencrypted. */
int tb_pkey_parse_private(struct tb_buf in, struct tb_pkey **out);
/* From raw parts: an uncompressed EC point, an EC private scalar (the
 * public point is computed), RSA modulus and exponent (big-endian). */
int tb_pkey_from_ec_public(enum tb_curve curve, struct tb_buf point, struct tb_pkey **out);
int tb_pkey_from_ec_private(enum tb_curve curve, struct tb_buf scalar, struct tb_pkey **out);
int tb_pkey_from_rsa_public(struct tb_buf n, struct tb_buf e, struct tb_pkey **out);
/* Copies the public half of an existing mbedTLS key (e.g. a certificate's). */
int tb_pkey_from_mbedtls_public(const struct mbedtls_pk_context *pk, struct tb_pkey **out);
void tb_pkey_free(struct tb_pkey *key);

enum tb_key_type tb_pkey_type(const struct tb_pkey *key);
size_t tb_pkey_bits(const struct tb_pkey *key);
enum tb_curve tb_pkey_curve(const struct tb_pkey *key); /* TB_CURVE_NONE for RSA */
int tb_pkey_has_private(const struct tb_pkey *key);
/* The key's mbedTLS face, for mbedTLS APIs (x509write, ssl_conf_own_cert); mbedtls_pk_sign
 * and mbedtls_pk_verify on it use the backend. Do not free. */
struct mbedtls_pk_context *tb_pkey_mbedtls(struct tb_pkey *key);

/* Encodings, appended to out. */
int tb_pkey_write_spki_der(const struct tb_pkey *key, struct tb_bytes *out);
int tb_pkey_write_public_pem(const struct tb_pkey *key, struct tb_bytes *out);
/* SEC1 (EC) or PKCS#1 (RSA) private key; TB_ERR_STATE without a private half. */
int tb_pkey_write_private_der(const struct tb_pkey *key, struct tb_bytes *out);
int tb_pkey_write_private_pem(const struct tb_pkey *key, struct tb_bytes *out);
/* EC parts: uncompressed point (tb_curve_point_len bytes), private scalar (tb_curve_len). */
int tb_pkey_ec_public_point(const struct tb_pkey *key, uint8_t *out, size_t out_len);
int tb_pkey_ec_private_scalar(const struct tb_pkey *key, uint8_t *out, size_t out_len);
/* RSA parts (big-endian, no leading zeros), for JWK. */
int tb_pkey_rsa_public(const struct tb_pkey *key, struct tb_bytes *n, struct tb_bytes *e);

/* Signs a digest of tb_hash_len(alg) bytes: ECDSA (DER, or raw r || s with
 * the _raw variant) or RSA PKCS#1 v1.5. Signature appended to sig. */
int tb_pkey_sign(const struct tb_pkey *key, enum tb_hash_alg alg, const uint8_t *digest,
		 struct tb_bytes *sig);
int tb_pkey_sign_raw(const struct tb_pkey *key, enum tb_hash_alg alg, const uint8_t *digest,
		     struct tb_bytes *sig);
/* Verifies a signature over a digest: ECDSA DER (or raw r || s with the _raw
 * variant), RSA PKCS#1 v1.5 with TB_RSA_MIN_BITS..TB_RSA_MAX_BITS keys.
 * 0 when valid, TB_ERR_VERIFY when not, TB_ERR_INVALID/UNSUPPORTED otherwise. */
int tb_pkey_verify(const struct tb_pkey *key, enum tb_hash_alg alg, const uint8_t *digest,
		   struct tb_buf sig);
int tb_pkey_verify_raw(const struct tb_pkey *key, enum tb_hash_alg alg, const uint8_t *digest,
		       struct tb_buf sig);
/* The same over a bare mbedTLS key (a parsed certificate's): ECDSA DER or RSA. On
 * libcrypto the key is converted for this one call; hold a tb_pkey to verify often. */
int tb_pk_verify(const struct mbedtls_pk_context *pk, enum tb_hash_alg alg, const uint8_t *digest,
		 struct tb_buf sig);
/* RSA PKCS#1 v1.5 verify from modulus and exponent, with an explicit
 * minimum key size (TB_RSA_MIN_BITS for WebPKI/ACME; DNSSEC may pass 1024). */
int tb_rsa_verify(struct tb_buf n, struct tb_buf e, unsigned min_bits, enum tb_hash_alg alg,
		  const uint8_t *digest, struct tb_buf sig);

/* ---- verification keys: one public key, many checks -------------------- */

/*
 * A public key built once and kept for many verifications of whole messages
 * (DNSSEC keeps one per DNSKEY): the call hashes the message and checks the
 * signature with only its own per-call state, so a kept key verifies at the
 * library's own speed, where building the key (parsing, curve point check)
 * would cost more than the check. ECDSA P-256/P-384 with raw r || s
 * signatures (RFC 6605), RSA PKCS#1 v1.5 from modulus and exponent with
 * min_bits..TB_RSA_MAX_BITS keys, Ed25519. Immutable once built: one key
 * verifies on several threads at once.
 */
struct tb_vkey;

/* A key is for one hash: alg hashes every message it checks.
 * point: uncompressed 0x04 || x || y, checked to be on the curve (TB_ERR_INVALID). */
int tb_vkey_ec(enum tb_curve curve, enum tb_hash_alg alg, struct tb_buf point, struct tb_vkey **out);
/* Big-endian modulus (leading zeros ignored) and exponent; TB_ERR_INVALID for a
 * malformed key, TB_ERR_UNSUPPORTED outside min_bits..TB_RSA_MAX_BITS. */
int tb_vkey_rsa(enum tb_hash_alg alg, struct tb_buf n, struct tb_buf e, unsigned min_bits,
		struct tb_vkey **out);
int tb_vkey_ed25519(const uint8_t pk[TB_ED25519_PUBLIC_LEN], struct tb_vkey **out);
void tb_vkey_free(struct tb_vkey *key);
/* Verifies sig over msg: 0 valid, TB_ERR_VERIFY not (a signature of the
 * wrong length included). */
int tb_vkey_verify(const struct tb_vkey *key, struct tb_buf msg, struct tb_buf sig);

#endif
