/*
 * The crypto floor of issuance and CT submission: ECDSA P-256 sign and verify
 * rates through the provider layer (core/crypto.h), per second of CPU time.
 *   built and run by tests/bench/acme.sh
 */
#include <stdio.h>
#include <time.h>

#include "core/crypto.h"

static double cpu_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(void)
{
	struct tb_pkey *key;
	if (tb_crypto_init() != 0 || tb_pkey_generate_ec(TB_CURVE_P256, &key) != 0)
		return 1;
	uint8_t digest[32];
	tb_random(digest, sizeof digest);
	struct tb_bytes sig = { 0 };
	int n = 0;
	double t0 = cpu_now();
	while (cpu_now() - t0 < 1.0) {
		sig.len = 0;
		if (tb_pkey_sign(key, TB_HASH_SHA256, digest, &sig) != 0)
			return 1;
		n++;
	}
	double sign_rate = n / (cpu_now() - t0);
	n = 0;
	t0 = cpu_now();
	while (cpu_now() - t0 < 1.0) {
		if (tb_pkey_verify(key, TB_HASH_SHA256, digest, tb_bytes_buf(&sig)) != 0)
			return 1;
		n++;
	}
	double verify_rate = n / (cpu_now() - t0);
	printf("P-256 sign %.0f/s (%.2f ms), verify %.0f/s (%.2f ms) per second of CPU\n", sign_rate,
		1000 / sign_rate, verify_rate, 1000 / verify_rate);
	tb_bytes_free(&sig);
	tb_pkey_free(key);
	return 0;
}
