/*
 * HPKE throughput: single-shot open (what an aggregator does per report
 * share) and seal, per suite and plaintext size, on one core.
 *
 * Build and run from the project root (self-contained: only the files HPKE
 * needs, optimised as a release build would be):
 *   cc -O2 -std=c11 -D_GNU_SOURCE -I. tests/bench/bench_hpke.c dap/hpke.c \
 *      core/crypto.c core/buf.c core/error.c \
 *      -lmbedtls -lmbedx509 -lmbedcrypto -lsodium -lpthread -lm -o bench_hpke
 *   ./bench_hpke [seconds-per-case]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/crypto.h"
#include "core/error.h"
#include "dap/hpke.h"

/*
 * Rates are per second of this thread's CPU time (CLOCK_THREAD_CPUTIME_ID),
 * so that a machine shared with other work still gives the cost of one
 * operation; the wall-clock rate is printed beside it.
 */
static double clock_of(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double now(void)
{
	return clock_of(CLOCK_THREAD_CPUTIME_ID);
}

static double wall(void)
{
	return clock_of(CLOCK_MONOTONIC);
}

static void bench(const char *name, struct dap_hpke_suite su, size_t pt_len, double secs)
{
	struct dap_hpke_keypair kp;
	struct tb_bytes enc = { 0 }, payload = { 0 }, out = { 0 };
	struct dap_hpke_ciphertext ct;
	uint8_t ib[DAP_HPKE_INFO_BUF];
	uint8_t *pt = calloc(1, pt_len);
	struct tb_buf info = dap_hpke_info_input_share(DAP_ROLE_LEADER, ib);
	struct tb_buf aad = TB_BUF_STR("0123456789abcdef0123456789abcdef-metadata-public-share");

	if (dap_hpke_keygen(su.kem_id, &kp) != 0) {
		fprintf(stderr, "keygen failed\n");
		exit(1);
	}
	struct dap_hpke_config cfg = { 1, su.kem_id, su.kdf_id, su.aead_id, TB_BUF(kp.pk, kp.pk_len) };

	/* Seal. */
	long n = 0;
	double t0 = now(), t;
	do {
		for (int i = 0; i < 64; i++) {
			enc.len = payload.len = 0;
			if (dap_hpke_seal(&cfg, info, aad, TB_BUF(pt, pt_len), &enc, &payload, &ct)) {
				fprintf(stderr, "seal failed\n");
				exit(1);
			}
		}
		n += 64;
		t = now() - t0;
	} while (t < secs);
	double seal_rate = (double)n / t;

	/* Open the last ciphertext repeatedly. */
	n = 0;
	t0 = now();
	double w0 = wall();
	do {
		for (int i = 0; i < 64; i++) {
			out.len = 0;
			if (dap_hpke_open(&cfg, &kp, &ct, info, aad, &out)) {
				fprintf(stderr, "open failed\n");
				exit(1);
			}
		}
		n += 64;
		t = now() - t0;
	} while (t < secs);
	double open_rate = (double)n / t, open_wall = (double)n / (wall() - w0);

	printf("%-40s pt %6zu B  open %7.0f /s (%6.1f us, wall %7.0f /s)  seal %7.0f /s\n", name,
	       pt_len, open_rate, 1e6 / open_rate, open_wall, seal_rate);
	tb_bytes_free(&enc);
	tb_bytes_free(&payload);
	tb_bytes_free(&out);
	free(pt);
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 2.0;
	if (tb_crypto_init() != 0)
		return 1;
	const struct {
		const char *name;
		struct dap_hpke_suite su;
	} suites[] = {
		{ "X25519/HKDF-SHA256/AES-128-GCM (DAP)", { 0x20, 1, 1 } },
		{ "X25519/HKDF-SHA256/ChaCha20-Poly1305", { 0x20, 1, 3 } },
		{ "P-256/HKDF-SHA256/AES-128-GCM", { 0x10, 1, 1 } },
	};
	const size_t sizes[] = { 64, 1024, 16384 };
	for (size_t s = 0; s < sizeof(suites) / sizeof(suites[0]); s++)
		for (size_t z = 0; z < sizeof(sizes) / sizeof(sizes[0]); z++) {
			if (s == 2 && z > 0)
				continue; /* P-256 cost is the KEM; one size is enough */
			bench(suites[s].name, suites[s].su, sizes[z], secs);
		}

	/* The primitive that bounds open: one X25519 multiplication. */
	uint8_t sk[32], pk[32], out[32];
	tb_x25519_keygen(sk, pk);
	long n = 0;
	double t0 = now(), t;
	do {
		for (int i = 0; i < 256; i++)
			tb_x25519(out, sk, pk);
		n += 256;
		t = now() - t0;
	} while (t < secs);
	printf("%-40s              %7.0f /s\n", "X25519 scalar multiplication", (double)n / t);
	return 0;
}
