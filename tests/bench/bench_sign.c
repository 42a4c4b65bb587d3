/*
 * The crypto floor of issuance and CT submission: public-key operations
 * through the provider layer (core/crypto.h), per second of this thread's
 * CPU time, on whichever backend the library was built with
 * (-DTB_CRYPTO=libcrypto or mbedtls).
 *   built and run by tests/bench/acme.sh; alone:
 *   tests/bench/bench_sign [seconds per operation, default 1]
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "core/crypto.h"

static double cpu_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double secs = 1.0;

/* Runs op until secs of CPU have passed; returns operations per CPU second. */
#define RATE(expr)                                                    \
	({                                                            \
		int n_ = 0;                                           \
		double t0_ = cpu_now(), t_;                           \
		do {                                                  \
			if ((expr) != 0) {                            \
				fprintf(stderr, "failed: %s\n", #expr); \
				exit(1);                              \
			}                                             \
			n_++;                                         \
		} while ((t_ = cpu_now() - t0_) < secs);              \
		n_ / t_;                                              \
	})

static void ec(enum tb_curve curve, const char *name, int brief)
{
	struct tb_pkey *key, *pub;
	struct tb_bytes sig = { 0 }, spki = { 0 };
	uint8_t digest[32], sk[TB_EC_MAX_SCALAR_LEN], pk[TB_EC_MAX_POINT_LEN], z[TB_EC_MAX_SCALAR_LEN];
	if (tb_pkey_generate_ec(curve, &key) != 0 || tb_pkey_write_spki_der(key, &spki) != 0)
		exit(1);
	tb_random(digest, sizeof digest);
	double sign = RATE((sig.len = 0, tb_pkey_sign(key, TB_HASH_SHA256, digest, &sig)));
	double verify = RATE(tb_pkey_verify(key, TB_HASH_SHA256, digest, tb_bytes_buf(&sig)));
	printf("%s sign %.0f/s (%.3f ms), verify %.0f/s (%.3f ms) per second of CPU\n", name, sign,
	       1000 / sign, verify, 1000 / verify);
	if (brief)
		goto out;
	/* What a verifier without a key cache pays: parse the SPKI, then verify. */
	double parse_verify = RATE((tb_pkey_parse_public(tb_bytes_buf(&spki), &pub) ||
				    tb_pkey_verify(pub, TB_HASH_SHA256, digest, tb_bytes_buf(&sig)))
				   ? -1 : (tb_pkey_free(pub), 0));
	double keygen = RATE((tb_pkey_generate_ec(curve, &pub) != 0) ? -1 : (tb_pkey_free(pub), 0));
	tb_ec_keygen(curve, sk, pk);
	double dh = RATE(tb_ec_dh(curve, sk, pk, z));
	printf("%s parse SPKI + verify %.0f/s, key generation %.0f/s, ECDH %.0f/s\n", name,
	       parse_verify, keygen, dh);
out:
	tb_bytes_free(&sig);
	tb_bytes_free(&spki);
	tb_pkey_free(key);
}

static void rsa(void)
{
	struct tb_pkey *key;
	struct tb_bytes sig = { 0 };
	uint8_t digest[32];
	if (tb_pkey_generate_rsa(2048, &key) != 0)
		exit(1);
	tb_random(digest, sizeof digest);
	double sign = RATE((sig.len = 0, tb_pkey_sign(key, TB_HASH_SHA256, digest, &sig)));
	double verify = RATE(tb_pkey_verify(key, TB_HASH_SHA256, digest, tb_bytes_buf(&sig)));
	printf("RSA-2048 sign %.0f/s, verify %.0f/s\n", sign, verify);
	tb_bytes_free(&sig);
	tb_pkey_free(key);
}

int main(int argc, char **argv)
{
	if (argc > 1)
		secs = atof(argv[1]);
	if (secs <= 0)
		secs = 1.0;
	if (tb_crypto_init() != 0)
		return 1;
	printf("backend %s\n", tb_crypto_backend());
	ec(TB_CURVE_P256, "P-256", 0);
	ec(TB_CURVE_P384, "P-384", 0);
	rsa();
	return 0;
}
