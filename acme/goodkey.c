/*
 * Key policy, after Boulder's goodkey: the same rules for account keys and
 * certificate keys. RSA moduli of exactly 2048, 3072 or 4096 bits (the sizes
 * Let's Encrypt accepts), public exponent 65537, no prime factor below 752
 * (a cheap screen for broken generators); ECDSA on P-256 or P-384 with a
 * public point that is on the curve and not the point at infinity (both
 * curves have cofactor 1, so that also proves the point's order).
 * Known-weak-key lists and the ROCA check are not carried.
 */
#include <string.h>

#include <mbedtls/bignum.h>
#include <mbedtls/ecp.h>
#include <mbedtls/pk.h>
#include <mbedtls/rsa.h>

#include "acme/acme.h"
#include "core/error.h"

/* Odd primes below 752 (2 is covered by the odd-modulus check). */
static const uint16_t small_primes[] = {
	3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89,
	97, 101, 103, 107, 109, 113, 127, 131, 137, 139, 149, 151, 157, 163, 167, 173, 179, 181,
	191, 193, 197, 199, 211, 223, 227, 229, 233, 239, 241, 251, 257, 263, 269, 271, 277, 281,
	283, 293, 307, 311, 313, 317, 331, 337, 347, 349, 353, 359, 367, 373, 379, 383, 389, 397,
	401, 409, 419, 421, 431, 433, 439, 443, 449, 457, 461, 463, 467, 479, 487, 491, 499, 503,
	509, 521, 523, 541, 547, 557, 563, 569, 571, 577, 587, 593, 599, 601, 607, 613, 617, 619,
	631, 641, 643, 647, 653, 659, 661, 673, 677, 683, 691, 701, 709, 719, 727, 733, 739, 743,
	751,
};

static int bad(struct acme_problem *prob, const char *why)
{
	return acme_problem_set(prob, ACME_PROB_BAD_PUBLIC_KEY, "%s", why);
}

static int check_rsa(const mbedtls_rsa_context *rsa, struct acme_problem *prob)
{
	size_t bits = mbedtls_mpi_bitlen(&rsa->N);
	if (bits != 2048 && bits != 3072 && bits != 4096) {
		acme_problem_set(prob, ACME_PROB_BAD_PUBLIC_KEY,
			"key size not supported: %zu bits (RSA keys must be 2048, 3072 or 4096 bits)", bits);
		return TB_ERR_INVALID;
	}
	if (mbedtls_mpi_cmp_int(&rsa->E, 65537) != 0)
		return bad(prob, "key exponent must be 65537");
	if (mbedtls_mpi_get_bit(&rsa->N, 0) != 1)
		return bad(prob, "key modulus is even");
	for (size_t i = 0; i < sizeof small_primes / sizeof small_primes[0]; i++) {
		mbedtls_mpi_uint r = 0;
		if (mbedtls_mpi_mod_int(&r, &rsa->N, small_primes[i]) != 0)
			return acme_problem_set(prob, ACME_PROB_SERVER_INTERNAL, "key check failed");
		if (r == 0)
			return bad(prob, "key divisible by small prime");
	}
	return 0;
}

int acme_goodkey_check(const struct mbedtls_pk_context *pk, enum acme_key_kind *kind,
	struct acme_problem *prob)
{
	if (kind)
		*kind = ACME_KEY_NONE;
	if (!pk)
		return bad(prob, "no public key");
	mbedtls_pk_type_t t = mbedtls_pk_get_type(pk);
	if (t == MBEDTLS_PK_RSA) {
		int err = check_rsa(mbedtls_pk_rsa(*pk), prob);
		if (err)
			return err;
		if (kind)
			*kind = ACME_KEY_RSA;
		return 0;
	}
	if (t == MBEDTLS_PK_ECKEY || t == MBEDTLS_PK_ECDSA) {
		const mbedtls_ecp_keypair *ec = mbedtls_pk_ec(*pk);
		enum acme_key_kind k;
		if (ec->grp.id == MBEDTLS_ECP_DP_SECP256R1)
			k = ACME_KEY_EC_P256;
		else if (ec->grp.id == MBEDTLS_ECP_DP_SECP384R1)
			k = ACME_KEY_EC_P384;
		else
			return bad(prob, "ECDSA curve not allowed (P-256 and P-384 only)");
		/* on the curve, coordinates in [0, p-1], not the point at infinity */
		if (mbedtls_ecp_check_pubkey(&ec->grp, &ec->Q) != 0)
			return bad(prob, "key point is not on the curve");
		if (kind)
			*kind = k;
		return 0;
	}
	return bad(prob, "unsupported key type (RSA, ECDSA P-256 and P-384 only)");
}

int acme_key_differs(const struct mbedtls_pk_context *a, const struct mbedtls_pk_context *b)
{
	if (!a || !b)
		return 1;
	mbedtls_pk_type_t ta = mbedtls_pk_get_type(a), tb = mbedtls_pk_get_type(b);
	if (ta == MBEDTLS_PK_ECDSA)
		ta = MBEDTLS_PK_ECKEY;
	if (tb == MBEDTLS_PK_ECDSA)
		tb = MBEDTLS_PK_ECKEY;
	if (ta != tb)
		return 1;
	if (ta == MBEDTLS_PK_RSA) {
		const mbedtls_rsa_context *ra = mbedtls_pk_rsa(*a), *rb = mbedtls_pk_rsa(*b);
		return mbedtls_mpi_cmp_mpi(&ra->N, &rb->N) != 0 || mbedtls_mpi_cmp_mpi(&ra->E, &rb->E) != 0;
	}
	if (ta == MBEDTLS_PK_ECKEY) {
		const mbedtls_ecp_keypair *ea = mbedtls_pk_ec(*a), *eb = mbedtls_pk_ec(*b);
		return ea->grp.id != eb->grp.id || mbedtls_ecp_point_cmp(&ea->Q, &eb->Q) != 0;
	}
	return 1;
}
