/*
 * Key policy: RSA sizes, exponent and small factors; ECDSA curves and
 * point validity; comparing keys.
 */
#include <mbedtls/ecp.h>
#include <mbedtls/pk.h>
#include <mbedtls/rsa.h>

#include "acme/acme.h"
#include "core/crypto.h"
#include "core/error.h"
#include "tb_test.h"

/* An RSA public key with a modulus of `bytes` bytes: top bit set, low bits chosen by `tweak`. */
static void rsa_pk(mbedtls_pk_context *pk, size_t bytes, uint32_t e, int tweak)
{
	mbedtls_pk_init(pk);
	mbedtls_pk_setup(pk, mbedtls_pk_info_from_type(MBEDTLS_PK_RSA));
	uint8_t n[600];
	for (size_t i = 0; i < bytes; i++)
		n[i] = (uint8_t)(0xa5 ^ (i * 7));
	n[0] |= 0x80;
	uint8_t eb[4] = { (uint8_t)(e >> 24), (uint8_t)(e >> 16), (uint8_t)(e >> 8), (uint8_t)e };
	mbedtls_rsa_context *rsa = mbedtls_pk_rsa(*pk);
	mbedtls_rsa_import_raw(rsa, n, bytes, NULL, 0, NULL, 0, NULL, 0, eb, 4);
	/* make n odd and not divisible by any small prime, unless asked otherwise */
	mbedtls_mpi_uint r;
	if (tweak == 0) {
		/* n := n - (n mod 210) + 1 ... then step by 2 until free of factors < 752 */
		mbedtls_mpi_mod_int(&r, &rsa->N, 2);
		if (r == 0)
			mbedtls_mpi_add_int(&rsa->N, &rsa->N, 1);
		for (int tries = 0; tries < 100000; tries++) {
			int ok = 1;
			for (mbedtls_mpi_sint p = 3; p < 752 && ok; p += 2) {
				mbedtls_mpi_mod_int(&r, &rsa->N, p);
				ok = r != 0;
				/* p need not be prime: a composite divides n only if a prime factor does */
			}
			if (ok)
				break;
			mbedtls_mpi_add_int(&rsa->N, &rsa->N, 2);
		}
	} else if (tweak == 3) {
		/* divisible by 751 */
		mbedtls_mpi_mod_int(&r, &rsa->N, 751);
		mbedtls_mpi_sub_int(&rsa->N, &rsa->N, (mbedtls_mpi_sint)r);
		mbedtls_mpi_mod_int(&r, &rsa->N, 2);
		if (r == 0)
			mbedtls_mpi_add_int(&rsa->N, &rsa->N, 751);
	} else if (tweak == 2) {
		mbedtls_mpi_mod_int(&r, &rsa->N, 2);
		if (r == 1)
			mbedtls_mpi_add_int(&rsa->N, &rsa->N, 1);
	}
	rsa->len = mbedtls_mpi_size(&rsa->N);
}

static enum acme_problem_type policy(const mbedtls_pk_context *pk, enum acme_key_kind *kind)
{
	struct acme_problem p = { 0 };
	int err = acme_goodkey_check(pk, kind, &p);
	if (err && getenv("TB_TEST_VERBOSE"))
		fprintf(stderr, "  refused: %s\n", p.detail);
	return err ? p.type : ACME_PROB_NONE;
}

static void test_rsa(void)
{
	mbedtls_pk_context pk;
	enum acme_key_kind kind;
	static const size_t ok_sizes[] = { 256, 384, 512 };
	for (size_t i = 0; i < 3; i++) {
		rsa_pk(&pk, ok_sizes[i], 65537, 0);
		CHECK_INT(policy(&pk, &kind), ACME_PROB_NONE);
		CHECK_INT(kind, ACME_KEY_RSA);
		mbedtls_pk_free(&pk);
	}
	static const size_t bad_sizes[] = { 128, 255, 257, 320, 513 };
	for (size_t i = 0; i < 5; i++) {
		rsa_pk(&pk, bad_sizes[i], 65537, 0);
		CHECK_INT(policy(&pk, &kind), ACME_PROB_BAD_PUBLIC_KEY);
		CHECK_INT(kind, ACME_KEY_NONE);
		mbedtls_pk_free(&pk);
	}
	rsa_pk(&pk, 256, 3, 0);
	CHECK_INT(policy(&pk, NULL), ACME_PROB_BAD_PUBLIC_KEY);
	mbedtls_pk_free(&pk);
	rsa_pk(&pk, 256, 65539, 0);
	CHECK_INT(policy(&pk, NULL), ACME_PROB_BAD_PUBLIC_KEY);
	mbedtls_pk_free(&pk);
	rsa_pk(&pk, 256, 65537, 2); /* even modulus */
	CHECK_INT(policy(&pk, NULL), ACME_PROB_BAD_PUBLIC_KEY);
	mbedtls_pk_free(&pk);
	rsa_pk(&pk, 256, 65537, 3); /* divisible by 751 */
	CHECK_INT(policy(&pk, NULL), ACME_PROB_BAD_PUBLIC_KEY);
	mbedtls_pk_free(&pk);

	/* a real generated key */
	struct tb_pkey *k = NULL;
	CHECK_INT(tb_pkey_generate_rsa(2048, &k), 0);
	if (k) {
		CHECK_INT(policy(tb_pkey_mbedtls(k), &kind), ACME_PROB_NONE);
		CHECK_INT(kind, ACME_KEY_RSA);
		rsa_pk(&pk, 256, 65537, 0);
		CHECK_INT(acme_key_differs(tb_pkey_mbedtls(k), &pk), 1);
		CHECK_INT(acme_key_differs(tb_pkey_mbedtls(k), tb_pkey_mbedtls(k)), 0);
		mbedtls_pk_free(&pk);
	}
	tb_pkey_free(k);
}

static void test_ec(void)
{
	enum acme_key_kind kind;
	struct tb_pkey *a = NULL, *b = NULL, *c = NULL;
	CHECK_INT(tb_pkey_generate_ec(TB_CURVE_P256, &a), 0);
	CHECK_INT(tb_pkey_generate_ec(TB_CURVE_P384, &b), 0);
	CHECK_INT(tb_pkey_generate_ec(TB_CURVE_P256, &c), 0);
	if (!a || !b || !c)
		return;
	CHECK_INT(policy(tb_pkey_mbedtls(a), &kind), ACME_PROB_NONE);
	CHECK_INT(kind, ACME_KEY_EC_P256);
	CHECK_INT(policy(tb_pkey_mbedtls(b), &kind), ACME_PROB_NONE);
	CHECK_INT(kind, ACME_KEY_EC_P384);
	CHECK_INT(acme_key_differs(tb_pkey_mbedtls(a), tb_pkey_mbedtls(a)), 0);
	CHECK_INT(acme_key_differs(tb_pkey_mbedtls(a), tb_pkey_mbedtls(c)), 1);
	CHECK_INT(acme_key_differs(tb_pkey_mbedtls(a), tb_pkey_mbedtls(b)), 1);
	/* the public half of a key equals the key */
	struct tb_pkey *pub = NULL;
	CHECK_INT(tb_pkey_from_mbedtls_public(tb_pkey_mbedtls(a), &pub), 0);
	if (pub)
		CHECK_INT(acme_key_differs(tb_pkey_mbedtls(pub), tb_pkey_mbedtls(a)), 0);
	tb_pkey_free(pub);

	/* other curves */
	static const mbedtls_ecp_group_id others[] = { MBEDTLS_ECP_DP_SECP521R1, MBEDTLS_ECP_DP_SECP256K1 };
	for (size_t i = 0; i < 2; i++) {
		mbedtls_pk_context pk;
		mbedtls_pk_init(&pk);
		mbedtls_pk_setup(&pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY));
		CHECK_INT(mbedtls_ecp_gen_key(others[i], mbedtls_pk_ec(pk), tb_crypto_mbedtls_rng, NULL), 0);
		CHECK_INT(policy(&pk, &kind), ACME_PROB_BAD_PUBLIC_KEY);
		mbedtls_pk_free(&pk);
	}
	/* a P-256 point off the curve, and the point at infinity */
	{
		mbedtls_pk_context pk;
		mbedtls_pk_init(&pk);
		mbedtls_pk_setup(&pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY));
		mbedtls_ecp_keypair *ec = mbedtls_pk_ec(pk);
		mbedtls_ecp_group_load(&ec->grp, MBEDTLS_ECP_DP_SECP256R1);
		mbedtls_mpi_lset(&ec->Q.X, 1);
		mbedtls_mpi_lset(&ec->Q.Y, 1);
		mbedtls_mpi_lset(&ec->Q.Z, 1);
		CHECK_INT(policy(&pk, NULL), ACME_PROB_BAD_PUBLIC_KEY);
		mbedtls_ecp_set_zero(&ec->Q);
		CHECK_INT(policy(&pk, NULL), ACME_PROB_BAD_PUBLIC_KEY);
		mbedtls_pk_free(&pk);
	}
	/* no key at all */
	{
		mbedtls_pk_context pk;
		mbedtls_pk_init(&pk);
		CHECK_INT(policy(&pk, NULL), ACME_PROB_BAD_PUBLIC_KEY);
		CHECK_INT(policy(NULL, NULL), ACME_PROB_BAD_PUBLIC_KEY);
		CHECK_INT(acme_key_differs(&pk, tb_pkey_mbedtls(a)), 1);
	}
	tb_pkey_free(a);
	tb_pkey_free(b);
	tb_pkey_free(c);
}

int main(void)
{
	test_rsa();
	test_ec();
	return tb_test_result("test_acme_goodkey");
}
