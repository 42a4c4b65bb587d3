/*
 * Known-answer tests for the crypto provider (core/crypto.h): FIPS 180 "abc"
 * digests, RFC 4231, RFC 5869, the GCM specification's AES vectors,
 * RFC 8439, RFC 7748, RFC 8032, RFC 6979 A.2.5 and RFC 5903 8.1 (P-256);
 * ECDSA and RSA round trips, encodings and tampered-signature failures; keys
 * crossing between the backend and mbedTLS's own contexts. The same file
 * runs against both public-key backends (-DTB_CRYPTO=libcrypto|mbedtls).
 */
#include "tb_test.h"

#include <pthread.h>

#include <mbedtls/pk.h>
#include <mbedtls/x509_csr.h>

#include "core/buf.h"
#include "core/crypto.h"
#include "core/error.h"

/* Decodes a hex literal into a static-lifetime-per-call buffer. */
static struct tb_buf hex(struct tb_bytes *keep, const char *s)
{
	struct tb_bytes b = { 0 };
	if (tb_hex_decode(&b, s, strlen(s)) != 0) {
		fprintf(stderr, "bad hex literal %s\n", s);
		exit(2);
	}
	*keep = b;
	return tb_bytes_buf(keep);
}

#define HEXBUF(name, s)                 \
	struct tb_bytes name##_keep_;   \
	struct tb_buf name = hex(&name##_keep_, s)
#define HEXFREE(name) tb_bytes_free(&name##_keep_)

static void test_hashes(void)
{
	struct tb_buf abc = TB_BUF_STR("abc");
	uint8_t out[TB_HASH_MAX_LEN];
	HEXBUF(s256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	HEXBUF(s384, "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed"
		     "8086072ba1e7cc2358baeca134c825a7");
	HEXBUF(s512, "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
		     "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f");

	CHECK_INT(tb_sha256(abc, out), 0);
	CHECK_MEM(out, 32, s256.p, s256.len);
	CHECK_INT(tb_sha384(abc, out), 0);
	CHECK_MEM(out, 48, s384.p, s384.len);
	CHECK_INT(tb_sha512(abc, out), 0);
	CHECK_MEM(out, 64, s512.p, s512.len);

	/* Incremental, byte by byte, must match the one-shot digest. */
	const enum tb_hash_alg algs[] = { TB_HASH_SHA256, TB_HASH_SHA384, TB_HASH_SHA512 };
	const struct tb_buf *want[] = { &s256, &s384, &s512 };
	for (int i = 0; i < 3; i++) {
		struct tb_hash_ctx ctx, fork;
		CHECK_INT(tb_hash_len(algs[i]), want[i]->len);
		CHECK_INT(tb_hash_init(&ctx, algs[i]), 0);
		CHECK_INT(tb_hash_update(&ctx, "a", 1), 0);
		fork = ctx; /* copying forks the running hash */
		CHECK_INT(tb_hash_update(&ctx, "b", 1), 0);
		CHECK_INT(tb_hash_update(&ctx, "", 0), 0);
		CHECK_INT(tb_hash_update(&ctx, "c", 1), 0);
		CHECK_INT(tb_hash_final(&ctx, out), 0);
		CHECK_MEM(out, want[i]->len, want[i]->p, want[i]->len);
		CHECK_INT(tb_hash_update(&fork, "bc", 2), 0);
		CHECK_INT(tb_hash_final(&fork, out), 0);
		CHECK_MEM(out, want[i]->len, want[i]->p, want[i]->len);
	}

	/* A long message across block boundaries: one-shot == incremental. */
	uint8_t big[1000], d1[64], d2[64];
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7 + 1);
	for (int i = 0; i < 3; i++) {
		struct tb_hash_ctx ctx;
		CHECK_INT(tb_hash(algs[i], TB_BUF(big, sizeof(big)), d1), 0);
		CHECK_INT(tb_hash_init(&ctx, algs[i]), 0);
		for (size_t off = 0; off < sizeof(big); off += 33)
			tb_hash_update(&ctx, big + off, sizeof(big) - off < 33 ? sizeof(big) - off : 33);
		CHECK_INT(tb_hash_final(&ctx, d2), 0);
		CHECK_MEM(d2, tb_hash_len(algs[i]), d1, tb_hash_len(algs[i]));
	}
	/* SHA-1 (legacy uses): FIPS 180 "abc". */
	HEXBUF(s1, "a9993e364706816aba3e25717850c26c9cd0d89d");
	CHECK_INT(tb_hash(TB_HASH_SHA1, abc, out), 0);
	CHECK_MEM(out, 20, s1.p, s1.len);
	CHECK_INT(tb_hash(TB_HASH_NONE, abc, out), TB_ERR_UNSUPPORTED);
	HEXFREE(s256);
	HEXFREE(s384);
	HEXFREE(s512);
	HEXFREE(s1);
}

static void test_hmac_hkdf(void)
{
	uint8_t out[TB_HASH_MAX_LEN];
	/* RFC 4231 test case 2. */
	struct tb_buf key = TB_BUF_STR("Jefe"), msg = TB_BUF_STR("what do ya want for nothing?");
	HEXBUF(h256, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
	HEXBUF(h384, "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e"
		     "8e2240ca5e69e2c78b3239ecfab21649");
	HEXBUF(h512, "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554"
		     "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737");
	CHECK_INT(tb_hmac(TB_HASH_SHA256, key, msg, out), 0);
	CHECK_MEM(out, 32, h256.p, h256.len);
	CHECK_INT(tb_hmac(TB_HASH_SHA384, key, msg, out), 0);
	CHECK_MEM(out, 48, h384.p, h384.len);
	CHECK_INT(tb_hmac(TB_HASH_SHA512, key, msg, out), 0);
	CHECK_MEM(out, 64, h512.p, h512.len);

	/* RFC 5869 test case 1. */
	HEXBUF(ikm, "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b");
	HEXBUF(salt, "000102030405060708090a0b0c");
	HEXBUF(info, "f0f1f2f3f4f5f6f7f8f9");
	HEXBUF(prk, "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5");
	HEXBUF(okm, "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
		    "34007208d5b887185865");
	uint8_t got[42];
	CHECK_INT(tb_hkdf_extract(TB_HASH_SHA256, salt, ikm, out), 0);
	CHECK_MEM(out, 32, prk.p, prk.len);
	CHECK_INT(tb_hkdf_expand(TB_HASH_SHA256, prk, info, got, sizeof(got)), 0);
	CHECK_MEM(got, sizeof(got), okm.p, okm.len);
	memset(got, 0, sizeof(got));
	CHECK_INT(tb_hkdf(TB_HASH_SHA256, salt, ikm, info, got, sizeof(got)), 0);
	CHECK_MEM(got, sizeof(got), okm.p, okm.len);
	/* RFC 5869 test case 3: empty salt and info. */
	HEXBUF(okm3, "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d"
		     "9d201395faa4b61a96c8");
	CHECK_INT(tb_hkdf(TB_HASH_SHA256, TB_BUF(NULL, 0), ikm, TB_BUF(NULL, 0), got, sizeof(got)), 0);
	CHECK_MEM(got, sizeof(got), okm3.p, okm3.len);
	/* RFC 5869 case 1 inputs with SHA-384 and SHA-512 (values from an
	 * independent implementation, Python cryptography's HKDF). */
	HEXBUF(okm384, "9b5097a86038b805309076a44b3a9f38063e25b516dcbf369f394cfab43685f7"
		       "48b6457763e4f0204fc5");
	HEXBUF(okm512, "832390086cda71fb47625bb5ceb168e4c8e26a1a16ed34d9fc7fe92c14815793"
		       "38da362cb8d9f925d7cb");
	CHECK_INT(tb_hkdf(TB_HASH_SHA384, salt, ikm, info, got, sizeof(got)), 0);
	CHECK_MEM(got, sizeof(got), okm384.p, okm384.len);
	CHECK_INT(tb_hkdf(TB_HASH_SHA512, salt, ikm, info, got, sizeof(got)), 0);
	CHECK_MEM(got, sizeof(got), okm512.p, okm512.len);
	HEXFREE(okm384);
	HEXFREE(okm512);
	/* Length limit 255 * HashLen. */
	static uint8_t huge[255 * 32 + 1];
	CHECK_INT(tb_hkdf_expand(TB_HASH_SHA256, prk, info, huge, sizeof(huge)), TB_ERR_INVALID);
	CHECK_INT(tb_hkdf_expand(TB_HASH_SHA256, prk, info, huge, sizeof(huge) - 1), 0);
	HEXFREE(h256);
	HEXFREE(h384);
	HEXFREE(h512);
	HEXFREE(ikm);
	HEXFREE(salt);
	HEXFREE(info);
	HEXFREE(prk);
	HEXFREE(okm);
	HEXFREE(okm3);
}

static void aead_case(enum tb_aead_alg alg, const char *k, const char *n, const char *a,
		      const char *p, const char *c, const char *t)
{
	HEXBUF(key, k);
	HEXBUF(nonce, n);
	HEXBUF(aad, a);
	HEXBUF(pt, p);
	HEXBUF(ct, c);
	HEXBUF(tag, t);
	size_t len = pt.len;
	uint8_t *out = malloc(len + TB_AEAD_TAG_LEN), *back = malloc(len + 1);
	CHECK_INT(tb_aead_seal(alg, key, nonce.p, aad, pt, out), 0);
	CHECK_MEM(out, len, ct.p, ct.len);
	CHECK_MEM(out + len, TB_AEAD_TAG_LEN, tag.p, tag.len);
	CHECK_INT(tb_aead_open(alg, key, nonce.p, aad, TB_BUF(out, len + TB_AEAD_TAG_LEN), back), 0);
	CHECK_MEM(back, len, pt.p, pt.len);
	/* Every kind of corruption fails with TB_ERR_VERIFY. */
	out[0] ^= 1;
	CHECK_INT(tb_aead_open(alg, key, nonce.p, aad, TB_BUF(out, len + TB_AEAD_TAG_LEN), back),
		  TB_ERR_VERIFY);
	out[0] ^= 1;
	out[len + 15] ^= 0x80;
	CHECK_INT(tb_aead_open(alg, key, nonce.p, aad, TB_BUF(out, len + TB_AEAD_TAG_LEN), back),
		  TB_ERR_VERIFY);
	out[len + 15] ^= 0x80;
	uint8_t aad2[64];
	memcpy(aad2, aad.p, aad.len);
	aad2[aad.len] = 0;
	CHECK_INT(tb_aead_open(alg, key, nonce.p, TB_BUF(aad2, aad.len + 1),
			       TB_BUF(out, len + TB_AEAD_TAG_LEN), back), TB_ERR_VERIFY);
	CHECK_INT(tb_aead_open(alg, key, nonce.p, aad, TB_BUF(out, 15), back), TB_ERR_VERIFY);
	CHECK_INT(tb_aead_open(alg, TB_BUF(key.p, key.len - 1), nonce.p, aad,
			       TB_BUF(out, len + TB_AEAD_TAG_LEN), back), TB_ERR_INVALID);
	/* In place. */
	memcpy(out, pt.p, len);
	CHECK_INT(tb_aead_seal(alg, key, nonce.p, aad, TB_BUF(out, len), out), 0);
	CHECK_MEM(out, len, ct.p, ct.len);
	CHECK_INT(tb_aead_open(alg, key, nonce.p, aad, TB_BUF(out, len + TB_AEAD_TAG_LEN), out), 0);
	CHECK_MEM(out, len, pt.p, pt.len);
	free(out);
	free(back);
	HEXFREE(key);
	HEXFREE(nonce);
	HEXFREE(aad);
	HEXFREE(pt);
	HEXFREE(ct);
	HEXFREE(tag);
}

static void test_aead(void)
{
	/* The GCM specification (McGrew and Viega), test cases 4 and 16. */
	aead_case(TB_AEAD_AES128_GCM, "feffe9928665731c6d6a8f9467308308", "cafebabefacedbaddecaf888",
		  "feedfacedeadbeeffeedfacedeadbeefabaddad2",
		  "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
		  "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
		  "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
		  "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091",
		  "5bc94fbc3221a5db94fae95ae7121a47");
	aead_case(TB_AEAD_AES256_GCM,
		  "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
		  "cafebabefacedbaddecaf888", "feedfacedeadbeeffeedfacedeadbeefabaddad2",
		  "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
		  "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
		  "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
		  "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
		  "76fc6ece0f4e1768cddf8853bb2d551b");
	/* RFC 8439 section 2.8.2. */
	aead_case(TB_AEAD_CHACHA20_POLY1305,
		  "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f",
		  "070000004041424344454647", "50515253c0c1c2c3c4c5c6c7",
		  "4c616469657320616e642047656e746c656d656e206f662074686520636c6173"
		  "73206f66202739393a204966204920636f756c64206f6666657220796f75206f"
		  "6e6c79206f6e652074697020666f7220746865206675747572652c2073756e73"
		  "637265656e20776f756c642062652069742e",
		  "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6"
		  "3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36"
		  "92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc"
		  "3ff4def08e4b7a9de576d26586cec64b6116",
		  "1ae10b594f09e26a7e902ecbd0600691");
	CHECK_INT(tb_aead_key_len(TB_AEAD_AES128_GCM), 16);
	CHECK_INT(tb_aead_key_len(TB_AEAD_NONE), 0);
}

static void test_25519(void)
{
	HEXBUF(ask, "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
	HEXBUF(apk, "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
	HEXBUF(bsk, "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
	HEXBUF(bpk, "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
	HEXBUF(shared, "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
	uint8_t out[32], sk[32], pk[32];
	CHECK_INT(tb_x25519_public(ask.p, out), 0);
	CHECK_MEM(out, 32, apk.p, apk.len);
	CHECK_INT(tb_x25519_public(bsk.p, out), 0);
	CHECK_MEM(out, 32, bpk.p, bpk.len);
	CHECK_INT(tb_x25519(out, ask.p, bpk.p), 0);
	CHECK_MEM(out, 32, shared.p, shared.len);
	CHECK_INT(tb_x25519(out, bsk.p, apk.p), 0);
	CHECK_MEM(out, 32, shared.p, shared.len);
	/* A small-order point (zero) must be refused. */
	uint8_t zero[32] = { 0 };
	CHECK_INT(tb_x25519(out, ask.p, zero), TB_ERR_CRYPTO);
	CHECK_INT(tb_x25519_keygen(sk, pk), 0);
	CHECK_INT(tb_x25519_public(sk, out), 0);
	CHECK_MEM(out, 32, pk, 32);

	/* RFC 8032 section 7.1, test 1 (empty message). */
	HEXBUF(seed, "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
	HEXBUF(epk, "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
	HEXBUF(esig, "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
		     "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b");
	uint8_t esk[64], pub[32], sig[64];
	CHECK_INT(tb_ed25519_from_seed(seed.p, pub, esk), 0);
	CHECK_MEM(pub, 32, epk.p, epk.len);
	CHECK_INT(tb_ed25519_sign(esk, TB_BUF(NULL, 0), sig), 0);
	CHECK_MEM(sig, 64, esig.p, esig.len);
	CHECK_INT(tb_ed25519_verify(pub, TB_BUF(NULL, 0), sig), 0);
	sig[10] ^= 4;
	CHECK_INT(tb_ed25519_verify(pub, TB_BUF(NULL, 0), sig), TB_ERR_VERIFY);
	CHECK_INT(tb_ed25519_keygen(pub, esk), 0);
	CHECK_INT(tb_ed25519_sign(esk, TB_BUF_STR("hello"), sig), 0);
	CHECK_INT(tb_ed25519_verify(pub, TB_BUF_STR("hello"), sig), 0);
	CHECK_INT(tb_ed25519_verify(pub, TB_BUF_STR("hellp"), sig), TB_ERR_VERIFY);
	HEXFREE(ask);
	HEXFREE(apk);
	HEXFREE(bsk);
	HEXFREE(bpk);
	HEXFREE(shared);
	HEXFREE(seed);
	HEXFREE(epk);
	HEXFREE(esig);
}

static void test_ecdsa_curve(enum tb_curve curve, enum tb_hash_alg halg)
{
	struct tb_pkey *key = NULL, *pub = NULL, *pub2 = NULL, *priv2 = NULL, *priv3 = NULL;
	struct tb_bytes der = { 0 }, raw = { 0 }, der2 = { 0 }, spki = { 0 }, pem = { 0 },
			privder = { 0 }, spki2 = { 0 };
	size_t sl = tb_curve_len(curve), pl = tb_curve_point_len(curve);
	uint8_t digest[TB_HASH_MAX_LEN], point[TB_EC_MAX_POINT_LEN], scalar[TB_EC_MAX_SCALAR_LEN];
	uint8_t point2[TB_EC_MAX_POINT_LEN], raw2[2 * TB_EC_MAX_SCALAR_LEN];

	CHECK_INT(tb_hash(halg, TB_BUF_STR("to be signed"), digest), 0);
	CHECK_INT(tb_pkey_generate_ec(curve, &key), 0);
	if (!key)
		return;
	CHECK_INT(tb_pkey_type(key), TB_KEY_EC);
	CHECK_INT(tb_pkey_curve(key), curve);
	CHECK_INT(tb_pkey_bits(key), sl * 8);
	CHECK(tb_pkey_has_private(key));

	/* DER signature verifies; DER <-> raw conversion is lossless. */
	CHECK_INT(tb_pkey_sign(key, halg, digest, &der), 0);
	CHECK_INT(tb_pkey_verify(key, halg, digest, tb_bytes_buf(&der)), 0);
	CHECK_INT(tb_ecdsa_der_to_raw(tb_bytes_buf(&der), sl, raw2), 0);
	CHECK_INT(tb_pkey_verify_raw(key, halg, digest, TB_BUF(raw2, 2 * sl)), 0);
	CHECK_INT(tb_ecdsa_raw_to_der(TB_BUF(raw2, 2 * sl), &der2), 0);
	CHECK_MEM(der2.p, der2.len, der.p, der.len);
	CHECK_INT(tb_pkey_sign_raw(key, halg, digest, &raw), 0);
	CHECK_INT(raw.len, 2 * sl);
	CHECK_INT(tb_pkey_verify_raw(key, halg, digest, tb_bytes_buf(&raw)), 0);

	/* Tampering: signature bit, digest bit, trailing byte, wrong encoding. */
	raw.p[5] ^= 1;
	CHECK_INT(tb_pkey_verify_raw(key, halg, digest, tb_bytes_buf(&raw)), TB_ERR_VERIFY);
	raw.p[5] ^= 1;
	der.p[der.len - 1] ^= 1;
	CHECK_INT(tb_pkey_verify(key, halg, digest, tb_bytes_buf(&der)), TB_ERR_VERIFY);
	der.p[der.len - 1] ^= 1;
	digest[0] ^= 1;
	CHECK_INT(tb_pkey_verify(key, halg, digest, tb_bytes_buf(&der)), TB_ERR_VERIFY);
	digest[0] ^= 1;
	tb_bytes_u8(&der, 0);
	CHECK_INT(tb_pkey_verify(key, halg, digest, tb_bytes_buf(&der)), TB_ERR_VERIFY);
	der.len--;
	CHECK_INT(tb_pkey_verify(key, halg, digest, tb_bytes_buf(&raw)), TB_ERR_VERIFY);

	/* Public key export/import: SPKI DER, PEM, raw point. */
	CHECK_INT(tb_pkey_write_spki_der(key, &spki), 0);
	CHECK_INT(tb_pkey_parse_public(tb_bytes_buf(&spki), &pub), 0);
	if (pub) {
		CHECK(!tb_pkey_has_private(pub));
		CHECK_INT(tb_pkey_verify(pub, halg, digest, tb_bytes_buf(&der)), 0);
		CHECK_INT(tb_pkey_sign(pub, halg, digest, &der2), TB_ERR_STATE);
		CHECK_INT(tb_pkey_write_private_der(pub, &privder), TB_ERR_STATE);
	}
	CHECK_INT(tb_pkey_write_public_pem(key, &pem), 0);
	CHECK(pem.len > 20 && memcmp(pem.p, "-----BEGIN PUBLIC KEY-----", 26) == 0);
	CHECK_INT(tb_pkey_parse_public(tb_bytes_buf(&pem), &pub2), 0);
	if (pub2) {
		CHECK_INT(tb_pkey_write_spki_der(pub2, &spki2), 0);
		CHECK_MEM(spki2.p, spki2.len, spki.p, spki.len);
		tb_pkey_free(pub2);
		pub2 = NULL;
	}
	CHECK_INT(tb_pkey_ec_public_point(key, point, pl), 0);
	CHECK_INT(point[0], 4);
	CHECK_INT(tb_pkey_from_ec_public(curve, TB_BUF(point, pl), &pub2), 0);
	if (pub2)
		CHECK_INT(tb_pkey_verify_raw(pub2, halg, digest, tb_bytes_buf(&raw)), 0);
	point[pl - 1] ^= 1; /* off the curve */
	struct tb_pkey *bad = NULL;
	CHECK_INT(tb_pkey_from_ec_public(curve, TB_BUF(point, pl), &bad), TB_ERR_INVALID);
	CHECK(bad == NULL);
	point[pl - 1] ^= 1;

	/* Private key export/import: scalar and DER/PEM; same public point. */
	CHECK_INT(tb_pkey_ec_private_scalar(key, scalar, sl), 0);
	CHECK_INT(tb_pkey_from_ec_private(curve, TB_BUF(scalar, sl), &priv2), 0);
	if (priv2) {
		CHECK_INT(tb_pkey_ec_public_point(priv2, point2, pl), 0);
		CHECK_MEM(point2, pl, point, pl);
	}
	CHECK_INT(tb_ec_public(curve, scalar, point2), 0);
	CHECK_MEM(point2, pl, point, pl);
	tb_bytes_free(&privder);
	CHECK_INT(tb_pkey_write_private_der(key, &privder), 0);
	CHECK_INT(tb_pkey_parse_private(tb_bytes_buf(&privder), &priv3), 0);
	if (priv3) {
		tb_bytes_free(&raw);
		CHECK_INT(tb_pkey_sign_raw(priv3, halg, digest, &raw), 0);
		CHECK_INT(tb_pkey_verify_raw(key, halg, digest, tb_bytes_buf(&raw)), 0);
		tb_pkey_free(priv3);
		priv3 = NULL;
	}
	tb_bytes_free(&pem);
	CHECK_INT(tb_pkey_write_private_pem(key, &pem), 0);
	CHECK_INT(tb_pkey_parse_private(tb_bytes_buf(&pem), &priv3), 0);
	CHECK(priv3 && tb_pkey_has_private(priv3));

	/* Bare mbedTLS context path. */
	CHECK_INT(tb_pk_verify(tb_pkey_mbedtls(key), halg, digest, tb_bytes_buf(&der)), 0);

	/* ECDH agreement. */
	uint8_t ask[TB_EC_MAX_SCALAR_LEN], apk[TB_EC_MAX_POINT_LEN], z1[TB_EC_MAX_SCALAR_LEN],
		z2[TB_EC_MAX_SCALAR_LEN];
	CHECK_INT(tb_ec_keygen(curve, ask, apk), 0);
	CHECK_INT(tb_ec_dh(curve, ask, point, z1), 0);
	CHECK_INT(tb_ec_dh(curve, scalar, apk, z2), 0);
	CHECK_MEM(z1, sl, z2, sl);
	point[pl - 1] ^= 1;
	CHECK_INT(tb_ec_dh(curve, ask, point, z1), TB_ERR_INVALID);
	/* Out-of-range scalar (all ones >= n). */
	memset(ask, 0xff, sl);
	CHECK_INT(tb_ec_public(curve, ask, apk), TB_ERR_INVALID);
	memset(ask, 0, sl);
	CHECK_INT(tb_ec_public(curve, ask, apk), TB_ERR_INVALID);

	tb_pkey_free(key);
	tb_pkey_free(pub);
	tb_pkey_free(pub2);
	tb_pkey_free(priv2);
	tb_pkey_free(priv3);
	tb_bytes_free(&der);
	tb_bytes_free(&der2);
	tb_bytes_free(&raw);
	tb_bytes_free(&spki);
	tb_bytes_free(&spki2);
	tb_bytes_free(&pem);
	tb_bytes_free(&privder);
}

/* RFC 6979 A.2.5 (P-256, SHA-256, "sample") and RFC 5903 8.1 (P-256 ECDH). */
static void test_p256_vectors(void)
{
	HEXBUF(x, "c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721");
	HEXBUF(u, "0460fed4ba255a9d31c961eb74c6356d68c049b8923b61fa6ce669622e60f29fb6"
		  "7903fe1008b8bc99a41ae9e95628bc64f2f1b20c2d7e9f5177a3c294d4462299");
	HEXBUF(rs, "efd48b2aacb6a8fd1140dd9cd45e81d69d2c877b56aaf991c34d0ea84eaf3716"
		   "f7cb1c942d657c41d436c7a1b6e29f65f3e900dbb9aff4064dc4ab2f843acda8");
	HEXBUF(i, "c88f01f510d9ac3f70a292daa2316de544e9aab8afe84049c62a9c57862d1433");
	HEXBUF(gi, "04dad0b65394221cf9b051e1feca5787d098dfe637fc90b9ef945d0c3772581180"
		   "5271a0461cdb8252d61f1c456fa3e59ab1f45b33accf5f58389e0577b8990bb3");
	HEXBUF(r, "c6ef9c5d78ae012a011164acb397ce2088685d8f06bf9be0b283ab46476bee53");
	HEXBUF(gr, "04d12dfb5289c8d4f81208b70270398c342296970a0bccb74c736fc7554494bf63"
		   "56fbf3ca366cc23e8157854c13c58d6aac23f046ada30f8353e74f33039872ab");
	HEXBUF(z, "d6840f6b42f6edafd13116e0e12565202fef8e9ece7dce03812464d04b9442de");
	uint8_t pt[65], zz[32], digest[32];
	struct tb_pkey *pub = NULL, *priv = NULL;
	struct tb_bytes der = { 0 };

	CHECK_INT(tb_ec_public(TB_CURVE_P256, x.p, pt), 0);
	CHECK_MEM(pt, 65, u.p, u.len);
	CHECK_INT(tb_sha256(TB_BUF_STR("sample"), digest), 0);
	CHECK_INT(tb_pkey_from_ec_public(TB_CURVE_P256, u, &pub), 0);
	CHECK_INT(tb_pkey_from_ec_private(TB_CURVE_P256, x, &priv), 0);
	if (pub && priv) {
		CHECK_INT(tb_pkey_verify_raw(pub, TB_HASH_SHA256, digest, rs), 0);
		CHECK_INT(tb_ecdsa_raw_to_der(rs, &der), 0);
		CHECK_INT(tb_pkey_verify(pub, TB_HASH_SHA256, digest, tb_bytes_buf(&der)), 0);
		CHECK_INT(tb_pkey_verify(priv, TB_HASH_SHA256, digest, tb_bytes_buf(&der)), 0);
		CHECK_INT(tb_pk_verify(tb_pkey_mbedtls(pub), TB_HASH_SHA256, digest,
				       tb_bytes_buf(&der)), 0);
		digest[31] ^= 1;
		CHECK_INT(tb_pkey_verify_raw(pub, TB_HASH_SHA256, digest, rs), TB_ERR_VERIFY);
		CHECK_INT(tb_pkey_verify(pub, TB_HASH_SHA256, digest, tb_bytes_buf(&der)),
			  TB_ERR_VERIFY);
		/* Wrong length raw signature, and s = 0. */
		CHECK_INT(tb_pkey_verify_raw(pub, TB_HASH_SHA256, digest, TB_BUF(rs.p, 63)),
			  TB_ERR_VERIFY);
		uint8_t zs[64];
		memcpy(zs, rs.p, 32);
		memset(zs + 32, 0, 32);
		CHECK_INT(tb_pkey_verify_raw(pub, TB_HASH_SHA256, digest, TB_BUF(zs, 64)),
			  TB_ERR_VERIFY);
	}
	CHECK_INT(tb_ec_public(TB_CURVE_P256, i.p, pt), 0);
	CHECK_MEM(pt, 65, gi.p, gi.len);
	CHECK_INT(tb_ec_public(TB_CURVE_P256, r.p, pt), 0);
	CHECK_MEM(pt, 65, gr.p, gr.len);
	CHECK_INT(tb_ec_dh(TB_CURVE_P256, i.p, gr.p, zz), 0);
	CHECK_MEM(zz, 32, z.p, z.len);
	CHECK_INT(tb_ec_dh(TB_CURVE_P256, r.p, gi.p, zz), 0);
	CHECK_MEM(zz, 32, z.p, z.len);
	/* A P-256 point handed over as P-384 is refused (wrong length never reaches here:
	 * the point is read with the curve's own length, so give a compressed prefix). */
	pt[0] = 0x02;
	CHECK_INT(tb_ec_dh(TB_CURVE_P256, i.p, pt, zz), TB_ERR_INVALID);
	tb_pkey_free(pub);
	tb_pkey_free(priv);
	tb_bytes_free(&der);
	HEXFREE(x);
	HEXFREE(u);
	HEXFREE(rs);
	HEXFREE(i);
	HEXFREE(gi);
	HEXFREE(r);
	HEXFREE(gr);
	HEXFREE(z);
}

/*
 * Keys crossing libraries: mbedTLS code signing and verifying with a
 * tb_pkey's mbedTLS context (as x509write and the TLS server do), mbedTLS's
 * own contexts verified by tb_pk_verify, and a CSR written by mbedTLS with a
 * tb_pkey checked by mbedTLS's own parser and verifier.
 */
static void test_mbedtls_face(enum tb_curve curve, enum tb_hash_alg halg, mbedtls_md_type_t md)
{
	struct tb_pkey *key = NULL;
	struct tb_bytes sig = { 0 }, spki = { 0 };
	uint8_t digest[TB_HASH_MAX_LEN], buf[MBEDTLS_PK_SIGNATURE_MAX_SIZE];
	size_t hl = tb_hash_len(halg), len = 0;
	mbedtls_pk_context bare;

	CHECK_INT(tb_hash(halg, TB_BUF_STR("crossing"), digest), 0);
	CHECK_INT(tb_pkey_generate_ec(curve, &key), 0);
	if (!key)
		return;
	mbedtls_pk_context *pk = tb_pkey_mbedtls(key);
	CHECK(mbedtls_pk_can_do(pk, MBEDTLS_PK_ECDSA));
	CHECK_INT(mbedtls_pk_get_bitlen(pk), 8 * tb_curve_len(curve));
	CHECK_INT(mbedtls_pk_sign(pk, md, digest, hl, buf, &len, tb_crypto_mbedtls_rng, NULL), 0);
	CHECK_INT(tb_pkey_verify(key, halg, digest, TB_BUF(buf, len)), 0);
	CHECK_INT(mbedtls_pk_verify(pk, md, digest, hl, buf, len), 0);
	buf[len - 1] ^= 1;
	CHECK(mbedtls_pk_verify(pk, md, digest, hl, buf, len) != 0);

	/* mbedTLS's own parse of the SPKI: a plain mbedTLS key. */
	CHECK_INT(tb_pkey_sign(key, halg, digest, &sig), 0);
	CHECK_INT(tb_pkey_write_spki_der(key, &spki), 0);
	mbedtls_pk_init(&bare);
	CHECK_INT(mbedtls_pk_parse_public_key(&bare, spki.p, spki.len), 0);
	CHECK_INT(mbedtls_pk_verify(&bare, md, digest, hl, sig.p, sig.len), 0);
	CHECK_INT(tb_pk_verify(&bare, halg, digest, tb_bytes_buf(&sig)), 0);
	digest[0] ^= 1;
	CHECK_INT(tb_pk_verify(&bare, halg, digest, tb_bytes_buf(&sig)), TB_ERR_VERIFY);
	digest[0] ^= 1;
	mbedtls_pk_free(&bare);

	/* A CSR signed through the mbedTLS face; mbedTLS's parser checks it. */
	mbedtls_x509write_csr w;
	unsigned char der[1024];
	mbedtls_x509write_csr_init(&w);
	mbedtls_x509write_csr_set_md_alg(&w, md);
	mbedtls_x509write_csr_set_key(&w, pk);
	CHECK_INT(mbedtls_x509write_csr_set_subject_name(&w, "CN=crossing.test"), 0);
	int n = mbedtls_x509write_csr_der(&w, der, sizeof der, tb_crypto_mbedtls_rng, NULL);
	CHECK(n > 0);
	if (n > 0) {
		mbedtls_x509_csr csr;
		uint8_t h[TB_HASH_MAX_LEN];
		mbedtls_x509_csr_init(&csr);
		CHECK_INT(mbedtls_x509_csr_parse_der(&csr, der + sizeof der - n, (size_t)n), 0);
		CHECK_INT(tb_hash(halg, TB_BUF(csr.cri.p, csr.cri.len), h), 0);
		CHECK_INT(tb_pk_verify(&csr.pk, halg, h, TB_BUF(csr.sig.p, csr.sig.len)), 0);
		CHECK_INT(mbedtls_pk_verify(&csr.pk, md, h, hl, csr.sig.p, csr.sig.len), 0);
		mbedtls_x509_csr_free(&csr);
	}
	mbedtls_x509write_csr_free(&w);
	tb_pkey_free(key);
	tb_bytes_free(&sig);
	tb_bytes_free(&spki);
}

static void test_ecdsa_encodings(void)
{
	uint8_t raw[64];
	struct tb_bytes der = { 0 };
	/* r with the high bit set gets a 0x00 pad; s with leading zeros is trimmed. */
	memset(raw, 0, sizeof(raw));
	raw[0] = 0x80;
	raw[63] = 0x01;
	CHECK_INT(tb_ecdsa_raw_to_der(TB_BUF(raw, 64), &der), 0);
	CHECK_INT(der.len, 2 + 2 + 33 + 2 + 1);
	CHECK_INT(der.p[0], 0x30);
	CHECK_INT(der.p[3], 33);
	CHECK_INT(der.p[4], 0);
	uint8_t back[64];
	CHECK_INT(tb_ecdsa_der_to_raw(tb_bytes_buf(&der), 32, back), 0);
	CHECK_MEM(back, 64, raw, 64);
	/* Non-minimal integer, negative integer, wrong outer length: rejected. */
	static const uint8_t nonmin[] = { 0x30, 0x07, 0x02, 0x02, 0x00, 0x01, 0x02, 0x01, 0x01 };
	static const uint8_t neg[] = { 0x30, 0x06, 0x02, 0x01, 0x81, 0x02, 0x01, 0x01 };
	static const uint8_t badlen[] = { 0x30, 0x07, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01 };
	static const uint8_t ok[] = { 0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01 };
	CHECK_INT(tb_ecdsa_der_to_raw(TB_BUF(nonmin, sizeof(nonmin)), 32, back), TB_ERR_INVALID);
	CHECK_INT(tb_ecdsa_der_to_raw(TB_BUF(neg, sizeof(neg)), 32, back), TB_ERR_INVALID);
	CHECK_INT(tb_ecdsa_der_to_raw(TB_BUF(badlen, sizeof(badlen)), 32, back), TB_ERR_INVALID);
	CHECK_INT(tb_ecdsa_der_to_raw(TB_BUF(ok, sizeof(ok)), 32, back), 0);
	CHECK_INT(tb_ecdsa_der_to_raw(TB_BUF(ok, sizeof(ok) - 1), 32, back), TB_ERR_INVALID);
	memset(raw, 0, 32);
	CHECK_INT(tb_ecdsa_raw_to_der(TB_BUF(raw, 64), &der), TB_ERR_INVALID);
	tb_bytes_free(&der);
}

static void test_rsa(void)
{
	struct tb_pkey *key = NULL, *pub = NULL, *pub2 = NULL;
	struct tb_bytes sig = { 0 }, spki = { 0 }, n = { 0 }, e = { 0 };
	uint8_t digest[TB_HASH_MAX_LEN];
	const enum tb_hash_alg algs[] = { TB_HASH_SHA256, TB_HASH_SHA384, TB_HASH_SHA512 };

	CHECK_INT(tb_pkey_generate_rsa(2048, &key), 0);
	if (!key)
		return;
	CHECK_INT(tb_pkey_type(key), TB_KEY_RSA);
	CHECK_INT(tb_pkey_bits(key), 2048);
	CHECK_INT(tb_pkey_curve(key), TB_CURVE_NONE);
	CHECK_INT(tb_pkey_write_spki_der(key, &spki), 0);
	CHECK_INT(tb_pkey_parse_public(tb_bytes_buf(&spki), &pub), 0);
	CHECK_INT(tb_pkey_rsa_public(key, &n, &e), 0);
	CHECK_INT(n.len, 256);
	CHECK_INT(e.len, 3);
	CHECK_INT(tb_pkey_from_rsa_public(tb_bytes_buf(&n), tb_bytes_buf(&e), &pub2), 0);
	for (int i = 0; i < 3; i++) {
		sig.len = 0;
		CHECK_INT(tb_hash(algs[i], TB_BUF_STR("rsa message"), digest), 0);
		CHECK_INT(tb_pkey_sign(key, algs[i], digest, &sig), 0);
		CHECK_INT(sig.len, 256);
		CHECK_INT(tb_pkey_verify(key, algs[i], digest, tb_bytes_buf(&sig)), 0);
		if (pub)
			CHECK_INT(tb_pkey_verify(pub, algs[i], digest, tb_bytes_buf(&sig)), 0);
		if (pub2)
			CHECK_INT(tb_pkey_verify(pub2, algs[i], digest, tb_bytes_buf(&sig)), 0);
		CHECK_INT(tb_pk_verify(tb_pkey_mbedtls(key), algs[i], digest, tb_bytes_buf(&sig)), 0);
		CHECK_INT(tb_rsa_verify(tb_bytes_buf(&n), tb_bytes_buf(&e), TB_RSA_MIN_BITS, algs[i],
					digest, tb_bytes_buf(&sig)), 0);
		/* Policy: a 2048-bit key is refused when 3072 bits are required. */
		CHECK_INT(tb_rsa_verify(tb_bytes_buf(&n), tb_bytes_buf(&e), 3072, algs[i], digest,
					tb_bytes_buf(&sig)), TB_ERR_UNSUPPORTED);
		/* Wrong hash algorithm, tampered signature, truncated signature. */
		CHECK_INT(tb_pkey_verify(key, algs[(i + 1) % 3], digest, tb_bytes_buf(&sig)),
			  TB_ERR_VERIFY);
		sig.p[100] ^= 0x10;
		CHECK_INT(tb_pkey_verify(key, algs[i], digest, tb_bytes_buf(&sig)), TB_ERR_VERIFY);
		CHECK_INT(tb_rsa_verify(tb_bytes_buf(&n), tb_bytes_buf(&e), TB_RSA_MIN_BITS, algs[i],
					digest, tb_bytes_buf(&sig)), TB_ERR_VERIFY);
		sig.p[100] ^= 0x10;
		CHECK_INT(tb_pkey_verify(key, algs[i], digest, TB_BUF(sig.p, sig.len - 1)),
			  TB_ERR_VERIFY);
	}
	CHECK_INT(tb_pkey_sign_raw(key, TB_HASH_SHA256, digest, &sig), TB_ERR_INVALID);
	tb_pkey_free(key);
	tb_pkey_free(pub);
	tb_pkey_free(pub2);
	tb_bytes_free(&sig);
	tb_bytes_free(&spki);
	tb_bytes_free(&n);
	tb_bytes_free(&e);
}

/* tb_vkey: every algorithm verifies its own signatures and refuses others' and bad ones. */
static void test_vkey(void)
{
	static const struct tb_buf msg = TB_BUF_STR("vkey message"), other = TB_BUF_STR("vkey massage");
	const struct { enum tb_curve c; enum tb_hash_alg h; } ec[] = {
		{ TB_CURVE_P256, TB_HASH_SHA256 }, { TB_CURVE_P384, TB_HASH_SHA384 } };
	uint8_t digest[TB_HASH_MAX_LEN], pt[TB_EC_MAX_POINT_LEN];
	struct tb_bytes sig = { 0 }, n = { 0 }, e = { 0 };
	struct tb_vkey *vk = NULL, *vk2 = NULL;
	for (size_t i = 0; i < 2; i++) {
		struct tb_pkey *k = NULL, *k2 = NULL;
		size_t pl = tb_curve_point_len(ec[i].c);
		CHECK_INT(tb_pkey_generate_ec(ec[i].c, &k), 0);
		CHECK_INT(tb_pkey_generate_ec(ec[i].c, &k2), 0);
		if (!k || !k2)
			return;
		CHECK_INT(tb_pkey_ec_public_point(k, pt, pl), 0);
		CHECK_INT(tb_vkey_ec(ec[i].c, ec[i].h, TB_BUF(pt, pl), &vk), 0);
		CHECK_INT(tb_pkey_ec_public_point(k2, pt, pl), 0);
		CHECK_INT(tb_vkey_ec(ec[i].c, ec[i].h, TB_BUF(pt, pl), &vk2), 0);
		sig.len = 0;
		CHECK_INT(tb_hash(ec[i].h, msg, digest), 0);
		CHECK_INT(tb_pkey_sign_raw(k, ec[i].h, digest, &sig), 0);
		for (int round = 0; round < 2; round++) /* the key is reused */
			CHECK_INT(tb_vkey_verify(vk, msg, tb_bytes_buf(&sig)), 0);
		CHECK_INT(tb_vkey_verify(vk2, msg, tb_bytes_buf(&sig)), TB_ERR_VERIFY);
		CHECK_INT(tb_vkey_verify(vk, other, tb_bytes_buf(&sig)), TB_ERR_VERIFY);
		CHECK_INT(tb_vkey_verify(vk, msg, TB_BUF(sig.p, sig.len - 1)), TB_ERR_VERIFY);
		sig.p[sig.len - 1] ^= 1;
		CHECK_INT(tb_vkey_verify(vk, msg, tb_bytes_buf(&sig)), TB_ERR_VERIFY);
		memset(sig.p, 0, sig.len); /* r = s = 0 */
		CHECK_INT(tb_vkey_verify(vk, msg, tb_bytes_buf(&sig)), TB_ERR_VERIFY);
		memset(sig.p, 0xff, sig.len); /* r, s >= n */
		CHECK_INT(tb_vkey_verify(vk, msg, tb_bytes_buf(&sig)), TB_ERR_VERIFY);
		tb_vkey_free(vk);
		tb_vkey_free(vk2);
		vk = vk2 = NULL;
		/* a point off the curve, a bad prefix, a wrong length */
		pt[pl - 1] ^= 1;
		CHECK_INT(tb_vkey_ec(ec[i].c, ec[i].h, TB_BUF(pt, pl), &vk), TB_ERR_INVALID);
		CHECK(vk == NULL);
		pt[pl - 1] ^= 1;
		pt[0] = 2;
		CHECK_INT(tb_vkey_ec(ec[i].c, ec[i].h, TB_BUF(pt, pl), &vk), TB_ERR_INVALID);
		pt[0] = 4;
		CHECK_INT(tb_vkey_ec(ec[i].c, ec[i].h, TB_BUF(pt, pl - 1), &vk), TB_ERR_INVALID);
		tb_pkey_free(k);
		tb_pkey_free(k2);
	}

	struct tb_pkey *rk = NULL;
	CHECK_INT(tb_pkey_generate_rsa(2048, &rk), 0);
	if (!rk)
		return;
	CHECK_INT(tb_pkey_rsa_public(rk, &n, &e), 0);
	/* one key per hash: each refuses the other hash's signature */
	const enum tb_hash_alg rh[] = { TB_HASH_SHA256, TB_HASH_SHA512 };
	struct tb_vkey *rv[2] = { NULL, NULL };
	for (int i = 0; i < 2; i++)
		CHECK_INT(tb_vkey_rsa(rh[i], tb_bytes_buf(&n), tb_bytes_buf(&e), 1024, &rv[i]), 0);
	for (int i = 0; i < 2 && rv[0] && rv[1]; i++) {
		sig.len = 0;
		CHECK_INT(tb_hash(rh[i], msg, digest), 0);
		CHECK_INT(tb_pkey_sign(rk, rh[i], digest, &sig), 0);
		CHECK_INT(tb_vkey_verify(rv[i], msg, tb_bytes_buf(&sig)), 0);
		CHECK_INT(tb_vkey_verify(rv[i], msg, tb_bytes_buf(&sig)), 0);
		CHECK_INT(tb_vkey_verify(rv[1 - i], msg, tb_bytes_buf(&sig)), TB_ERR_VERIFY);
		CHECK_INT(tb_vkey_verify(rv[i], other, tb_bytes_buf(&sig)), TB_ERR_VERIFY);
		CHECK_INT(tb_vkey_verify(rv[i], msg, TB_BUF(sig.p, sig.len - 1)), TB_ERR_VERIFY);
		sig.p[100] ^= 0x10;
		CHECK_INT(tb_vkey_verify(rv[i], msg, tb_bytes_buf(&sig)), TB_ERR_VERIFY);
		sig.p[100] ^= 0x10;
	}
	tb_vkey_free(rv[0]);
	tb_vkey_free(rv[1]);
	/* another modulus of the same size: two octets swapped */
	uint8_t t = n.p[100];
	n.p[100] = n.p[101];
	n.p[101] = t;
	if (n.p[100] != n.p[101]) {
		CHECK_INT(tb_vkey_rsa(TB_HASH_SHA512, tb_bytes_buf(&n), tb_bytes_buf(&e), 1024, &vk), 0);
		if (vk) /* sig: the original key's valid SHA-512 signature */
			CHECK_INT(tb_vkey_verify(vk, msg, tb_bytes_buf(&sig)), TB_ERR_VERIFY);
		tb_vkey_free(vk);
		vk = NULL;
	}
	/* policy and malformed keys: too small for min_bits, even modulus, no exponent */
	CHECK_INT(tb_vkey_rsa(TB_HASH_SHA512, tb_bytes_buf(&n), tb_bytes_buf(&e), 3072, &vk), TB_ERR_UNSUPPORTED);
	n.p[n.len - 1] &= 0xfe;
	CHECK_INT(tb_vkey_rsa(TB_HASH_SHA512, tb_bytes_buf(&n), tb_bytes_buf(&e), 1024, &vk), TB_ERR_INVALID);
	CHECK_INT(tb_vkey_rsa(TB_HASH_SHA512, tb_bytes_buf(&n), TB_BUF(e.p, 0), 1024, &vk), TB_ERR_INVALID);
	CHECK(vk == NULL);
	tb_pkey_free(rk);

	uint8_t epk[TB_ED25519_PUBLIC_LEN], esk[TB_ED25519_SECRET_LEN], esig[TB_ED25519_SIG_LEN];
	CHECK_INT(tb_ed25519_keygen(epk, esk), 0);
	CHECK_INT(tb_ed25519_sign(esk, msg, esig), 0);
	CHECK_INT(tb_vkey_ed25519(epk, &vk), 0);
	if (vk) {
		CHECK_INT(tb_vkey_verify(vk, msg, TB_BUF(esig, sizeof esig)), 0);
		CHECK_INT(tb_vkey_verify(vk, other, TB_BUF(esig, sizeof esig)), TB_ERR_VERIFY);
		CHECK_INT(tb_vkey_verify(vk, msg, TB_BUF(esig, sizeof esig - 1)), TB_ERR_VERIFY);
		esig[3] ^= 1;
		CHECK_INT(tb_vkey_verify(vk, msg, TB_BUF(esig, sizeof esig)), TB_ERR_VERIFY);
	}
	tb_vkey_free(vk);
	tb_bytes_free(&sig);
	tb_bytes_free(&n);
	tb_bytes_free(&e);
}

static void test_parse_garbage(void)
{
	struct tb_pkey *k = (struct tb_pkey *)1;
	CHECK_INT(tb_pkey_parse_public(TB_BUF_STR("not a key"), &k), TB_ERR_INVALID);
	CHECK(k == NULL);
	CHECK_INT(tb_pkey_parse_private(TB_BUF_STR("-----BEGIN PRIVATE KEY-----\nAAAA\n"), &k),
		  TB_ERR_INVALID);
	CHECK_INT(tb_pkey_parse_public(TB_BUF(NULL, 0), &k), TB_ERR_INVALID);
	uint8_t r1[16] = { 0 }, r2[16] = { 0 };
	CHECK_INT(tb_random(r1, sizeof(r1)), 0);
	CHECK_INT(tb_random(r2, sizeof(r2)), 0);
	CHECK(memcmp(r1, r2, sizeof(r1)) != 0);
	CHECK_INT(tb_crypto_mbedtls_rng(NULL, r1, sizeof(r1)), 0);
}

/* One key shared by several threads (the CT log signs from the thread pool). */
struct shared_key_job {
	struct tb_pkey *key;
	int failures;
};

static void *shared_key_worker(void *arg)
{
	struct shared_key_job *job = arg;
	uint8_t digest[32];
	for (int i = 0; i < 40; i++) {
		struct tb_bytes sig = { 0 };
		uint8_t msg[8] = { (uint8_t)i };
		tb_sha256(TB_BUF(msg, sizeof(msg)), digest);
		if (tb_pkey_sign(job->key, TB_HASH_SHA256, digest, &sig) != 0 ||
		    tb_pkey_verify(job->key, TB_HASH_SHA256, digest, tb_bytes_buf(&sig)) != 0)
			job->failures++;
		tb_bytes_free(&sig);
		/* The mbedTLS face too, as x509write uses it (the CA signs from any thread). */
		uint8_t buf[MBEDTLS_PK_SIGNATURE_MAX_SIZE];
		size_t len = 0;
		if (mbedtls_pk_sign(tb_pkey_mbedtls(job->key), MBEDTLS_MD_SHA256, digest, 32, buf, &len,
				    tb_crypto_mbedtls_rng, NULL) != 0 ||
		    tb_pkey_verify(job->key, TB_HASH_SHA256, digest, TB_BUF(buf, len)) != 0)
			job->failures++;
	}
	return NULL;
}

static void test_shared_key_threads(void)
{
	struct tb_pkey *key = NULL;
	struct tb_bytes der = { 0 };
	/* A freshly parsed key, never used before the threads start. */
	CHECK_INT(tb_pkey_generate_ec(TB_CURVE_P256, &key), 0);
	CHECK_INT(tb_pkey_write_private_der(key, &der), 0);
	tb_pkey_free(key);
	key = NULL;
	CHECK_INT(tb_pkey_parse_private(tb_bytes_buf(&der), &key), 0);
	if (!key)
		return;
	pthread_t th[4];
	struct shared_key_job jobs[4];
	for (int i = 0; i < 4; i++) {
		jobs[i] = (struct shared_key_job){ key, 0 };
		CHECK_INT(pthread_create(&th[i], NULL, shared_key_worker, &jobs[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		CHECK_INT(jobs[i].failures, 0);
	}
	tb_pkey_free(key);
	tb_bytes_free(&der);
}

static void test_drbg(void)
{
	struct tb_drbg a, b;
	uint8_t seed[32] = { 1 }, x[1000], y[1000];
	tb_drbg_seed(&a, seed);
	tb_drbg_seed(&b, seed);
	tb_drbg_bytes(&a, x, sizeof(x));
	/* Chunked reads see the same stream as one read. */
	for (size_t off = 0; off < sizeof(y); off += 7)
		tb_drbg_bytes(&b, y + off, sizeof(y) - off < 7 ? sizeof(y) - off : 7);
	CHECK_MEM(y, sizeof(y), x, sizeof(x));
	seed[0] = 2;
	tb_drbg_seed(&b, seed);
	tb_drbg_bytes(&b, y, sizeof(y));
	CHECK(memcmp(x, y, sizeof(x)) != 0);
	CHECK_INT(tb_drbg_init(&a), 0);
	CHECK_INT(tb_drbg_init(&b), 0);
	tb_drbg_bytes(&a, x, 32);
	tb_drbg_bytes(&b, y, 32);
	CHECK(memcmp(x, y, 32) != 0);
	/* Rough balance of bits over 8000 bits. */
	tb_drbg_bytes(&a, x, sizeof(x));
	int ones = 0;
	for (size_t i = 0; i < sizeof(x); i++)
		ones += __builtin_popcount(x[i]);
	CHECK(ones > 3700 && ones < 4300);
	tb_drbg_clear(&a);
	tb_drbg_clear(&b);
}

int main(void)
{
	printf("public-key backend: %s\n", tb_crypto_backend());
	CHECK_INT(tb_crypto_init(), 0);
	CHECK_INT(tb_crypto_init(), 0);
	test_hashes();
	test_hmac_hkdf();
	test_aead();
	test_25519();
	test_ecdsa_encodings();
	test_ecdsa_curve(TB_CURVE_P256, TB_HASH_SHA256);
	test_ecdsa_curve(TB_CURVE_P384, TB_HASH_SHA384);
	test_p256_vectors();
	test_mbedtls_face(TB_CURVE_P256, TB_HASH_SHA256, MBEDTLS_MD_SHA256);
	test_mbedtls_face(TB_CURVE_P384, TB_HASH_SHA384, MBEDTLS_MD_SHA384);
	test_rsa();
	test_vkey();
	test_parse_garbage();
	test_drbg();
	test_shared_key_threads();
	return tb_test_result("core_crypto");
}
