/*
 * DESIGN: exact discrete Laplace sampling (Canonne, Kamath, Steinke 2020,
 * "The Discrete Gaussian for Differential Privacy", algorithms 1 and 2),
 * the construction libprio-rs and Janus use for PureDpDiscreteLaplace.
 *
 *   Bernoulli(n/d):        a uniform integer in [0, d) is below n.
 *   Bernoulli(exp(-g)), g = n/d in [0, 1]: draw Bernoulli(g/k) for
 *                          k = 1, 2, ... until one fails; answer "k odd".
 *   Geometric(1 - exp(-s/t)): u uniform in [0, t) accepted with
 *                          Bernoulli(exp(-u/t)); v = number of successes of
 *                          Bernoulli(exp(-1)) before the first failure;
 *                          result floor((u + t*v) / s).
 *   Laplace(scale t/s):    sign bit and geometric magnitude, rejecting
 *                          "negative zero".
 *
 * All arithmetic is on 128-bit integers with 64-bit parameters, so no
 * intermediate overflows (u + t*v < 2^64 + 2^64 * 2^12). Every loop is
 * bounded; the bounds are astronomically unlikely to be reached (each
 * iteration continues with probability at most 1 - 1/e or 1/2) and reaching
 * one returns TB_ERR_CRYPTO rather than a biased sample.
 * Randomness comes from a tb_drbg (ChaCha20), seeded from tb_random unless
 * the caller supplies one (tests use fixed seeds).
 */
#include "dap/dp.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"

#define BERN_EXP1_MAX_K (1u << 16)   /* k in Bernoulli(exp(-g)) */
#define GEOM_U_MAX_TRIES 4096        /* acceptance >= 1/e per try */
#define GEOM_V_MAX 4096              /* P(v >= n) = exp(-n) */
#define LAPLACE_MAX_TRIES 1024       /* rejection of -0, P = 1/2 per try at worst */

typedef dap_u128 u128;
typedef dap_i128 i128;

static unsigned bitlen128(u128 x)
{
	unsigned n = 0;
	while (x) {
		n++;
		x >>= 1;
	}
	return n;
}

/* Uniform in [0, n), n >= 1, by rejection on the smallest covering power of 2. */
static u128 uniform_below(struct tb_drbg *rng, u128 n)
{
	unsigned bits = bitlen128(n - 1);
	u128 mask = bits >= 128 ? ~(u128)0 : (((u128)1 << bits) - 1);
	for (;;) {
		uint8_t b[16];
		u128 x = 0;
		tb_drbg_bytes(rng, b, (bits + 7) / 8);
		for (unsigned i = 0; i < (bits + 7) / 8; i++)
			x |= (u128)b[i] << (8 * i);
		x &= mask;
		if (x < n)
			return x;
	}
}

/* Bernoulli(num/den), num <= den, den >= 1. */
static int bernoulli(struct tb_drbg *rng, u128 num, u128 den)
{
	return uniform_below(rng, den) < num;
}

/* Bernoulli(exp(-num/den)) for num/den in [0, 1]: 1, 0, or negative error. */
static int bernoulli_exp1(struct tb_drbg *rng, u128 num, u128 den)
{
	for (u128 k = 1; k <= BERN_EXP1_MAX_K; k++) {
		if (!bernoulli(rng, num, den * k))
			return (int)(k & 1);
	}
	return TB_ERR_CRYPTO;
}

/* Geometric with success probability 1 - exp(-s/t), s >= 1, t >= 1. */
static int geometric_exp(struct tb_drbg *rng, uint64_t s, uint64_t t, u128 *out)
{
	u128 u = 0, v = 0;
	int ok = 0, r;
	for (int i = 0; i < GEOM_U_MAX_TRIES; i++) {
		u = uniform_below(rng, t);
		if ((r = bernoulli_exp1(rng, u, t)) < 0)
			return r;
		if (r) {
			ok = 1;
			break;
		}
	}
	if (!ok)
		return TB_ERR_CRYPTO;
	for (;;) {
		if ((r = bernoulli_exp1(rng, 1, 1)) < 0)
			return r;
		if (!r)
			break;
		if (++v >= GEOM_V_MAX)
			return TB_ERR_CRYPTO;
	}
	*out = (u + (u128)t * v) / s;
	return 0;
}

int dap_dp_sample_discrete_laplace(struct tb_drbg *rng, struct dap_dp_rational scale,
				   dap_i128 *out)
{
	*out = 0;
	if (scale.den == 0)
		return TB_ERR_INVALID;
	if (scale.num == 0)
		return 0;
	for (int i = 0; i < LAPLACE_MAX_TRIES; i++) {
		uint8_t bit;
		u128 y;
		int rc;
		tb_drbg_bytes(rng, &bit, 1);
		int negative = bit & 1;
		/* Geometric with parameter 1 - exp(-1/scale) = 1 - exp(-den/num). */
		if ((rc = geometric_exp(rng, scale.den, scale.num, &y)))
			return rc;
		if (negative && y == 0)
			continue;
		*out = negative ? -(i128)y : (i128)y;
		return 0;
	}
	return TB_ERR_CRYPTO;
}

/* ---- strategy and scale ---------------------------------------------------- */

uint64_t dap_dp_sensitivity_histogram(void)
{
	return 2;
}

int dap_dp_sensitivity_sumvec(unsigned bits, size_t length, uint64_t *out)
{
	*out = 0;
	if (bits == 0 || bits > 64 || length == 0)
		return TB_ERR_INVALID;
	u128 max = bits == 64 ? UINT64_MAX : (((u128)1 << bits) - 1);
	u128 s = max * (u128)length;
	if (s > UINT64_MAX)
		return TB_ERR_TOO_LARGE;
	*out = (uint64_t)s;
	return 0;
}

static u128 gcd128(u128 a, u128 b)
{
	while (b) {
		u128 t = a % b;
		a = b;
		b = t;
	}
	return a;
}

int dap_dp_laplace_scale(struct dap_dp_rational epsilon, uint64_t sensitivity,
			 struct dap_dp_rational *scale)
{
	scale->num = 0;
	scale->den = 1;
	if (epsilon.num == 0 || epsilon.den == 0)
		return TB_ERR_INVALID;
	/* sensitivity / (en/ed) = sensitivity * ed / en */
	u128 num = (u128)sensitivity * epsilon.den, den = epsilon.num;
	u128 g = gcd128(num, den);
	if (g > 1) {
		num /= g;
		den /= g;
	}
	if (num > UINT64_MAX || den > UINT64_MAX)
		return TB_ERR_TOO_LARGE;
	scale->num = (uint64_t)num;
	scale->den = (uint64_t)den;
	return 0;
}

/* ---- noise on field vectors -------------------------------------------------- */

/* noise mod p, as a canonical element. */
static u128 noise_mod(i128 x, u128 p)
{
	if (x >= 0)
		return (u128)x % p;
	u128 r = ((u128)0 - (u128)x) % p; /* |x| mod p */
	return r ? p - r : 0;
}

static u128 add_mod(u128 a, u128 b, u128 p)
{
	u128 s = a + b; /* a, b < p; may wrap past 2^128 for p near 2^128 */
	if (s < a || s >= p)
		s -= p;
	return s;
}

/*
 * Shared driver: samples every noise value into tmp first, so that an error
 * half-way leaves the vector untouched, then adds. get/put access element i.
 */
static int add_noise(size_t n, u128 p, struct dap_dp_rational scale, struct tb_drbg *rng,
		     uint64_t *v64, u128 *v128)
{
	struct tb_drbg local;
	int rc = 0;
	if (n > DAP_DP_MAX_VECTOR)
		return TB_ERR_TOO_LARGE;
	if (p < 2 || scale.den == 0)
		return TB_ERR_INVALID;
	for (size_t i = 0; i < n; i++)
		if ((v64 ? (u128)v64[i] : v128[i]) >= p)
			return TB_ERR_INVALID;
	if (!rng) {
		if ((rc = tb_drbg_init(&local)))
			return rc;
		rng = &local;
	}
	/* Two passes with one DRBG snapshot: the first only checks that every
	 * sample succeeds, the second replays the same stream and applies. */
	struct tb_drbg snap = *rng;
	for (size_t i = 0; i < n && !rc; i++) {
		i128 x;
		rc = dap_dp_sample_discrete_laplace(rng, scale, &x);
	}
	if (!rc) {
		*rng = snap;
		for (size_t i = 0; i < n; i++) {
			i128 x;
			dap_dp_sample_discrete_laplace(rng, scale, &x);
			u128 r = noise_mod(x, p);
			if (v64)
				v64[i] = (uint64_t)add_mod(v64[i], r, p);
			else
				v128[i] = add_mod(v128[i], r, p);
		}
	}
	tb_drbg_clear(&snap);
	if (rng == &local)
		tb_drbg_clear(&local);
	return rc;
}

int dap_dp_add_noise_u64(uint64_t *vec, size_t n, uint64_t modulus, struct dap_dp_rational scale,
			 struct tb_drbg *rng)
{
	return add_noise(n, modulus, scale, rng, vec, NULL);
}

int dap_dp_add_noise_u128(dap_u128 *vec, size_t n, dap_u128 modulus, struct dap_dp_rational scale,
			  struct tb_drbg *rng)
{
	return add_noise(n, modulus, scale, rng, NULL, vec);
}

int dap_dp_apply_u64(const struct dap_dp_strategy *s, uint64_t sensitivity, uint64_t *vec,
		     size_t n, uint64_t modulus)
{
	struct dap_dp_rational scale;
	int rc;
	if (s->kind == DAP_DP_NONE)
		return 0;
	if (s->kind != DAP_DP_PURE_DISCRETE_LAPLACE)
		return TB_ERR_UNSUPPORTED;
	if ((rc = dap_dp_laplace_scale(s->epsilon, sensitivity, &scale)))
		return rc;
	return dap_dp_add_noise_u64(vec, n, modulus, scale, NULL);
}

int dap_dp_apply_u128(const struct dap_dp_strategy *s, uint64_t sensitivity, dap_u128 *vec,
		      size_t n, dap_u128 modulus)
{
	struct dap_dp_rational scale;
	int rc;
	if (s->kind == DAP_DP_NONE)
		return 0;
	if (s->kind != DAP_DP_PURE_DISCRETE_LAPLACE)
		return TB_ERR_UNSUPPORTED;
	if ((rc = dap_dp_laplace_scale(s->epsilon, sensitivity, &scale)))
		return rc;
	return dap_dp_add_noise_u128(vec, n, modulus, scale, NULL);
}

/* ---- on encoded aggregate shares --------------------------------------------- */

int dap_dp_sensitivity_vdaf(const struct dap_vdaf *v, uint64_t *out)
{
	*out = 0;
	switch (v->type) {
	case DAP_PRIO3_HISTOGRAM:
		*out = dap_dp_sensitivity_histogram();
		return 0;
	case DAP_PRIO3_SUMVEC:
		return dap_dp_sensitivity_sumvec(v->bits, v->length, out);
	default:
		return TB_ERR_UNSUPPORTED;
	}
}

int dap_dp_apply_agg_share(const struct dap_dp_strategy *s, const struct dap_vdaf *v,
			   uint8_t *agg_share, size_t len)
{
	uint64_t sens;
	int rc;
	if ((rc = dap_prio3_check_agg_share(v, TB_BUF(agg_share, len))))
		return rc;
	if (s->kind == DAP_DP_NONE)
		return 0;
	if ((rc = dap_dp_sensitivity_vdaf(v, &sens)))
		return rc;
	if (v->output_len > DAP_DP_MAX_VECTOR)
		return TB_ERR_TOO_LARGE;
	const size_t n = v->output_len, E = v->elem_size;
	dap_u128 *x = malloc(n * sizeof(*x) + 1);
	if (!x)
		return TB_ERR_NOMEM;
	for (size_t i = 0; i < n; i++) {
		x[i] = 0;
		for (size_t b = E; b-- > 0;)
			x[i] = (x[i] << 8) | agg_share[i * E + b];
	}
	rc = dap_dp_apply_u128(s, sens, x, n, dap_vdaf_modulus(v));
	if (rc == 0)
		for (size_t i = 0; i < n; i++)
			for (size_t b = 0; b < E; b++)
				agg_share[i * E + b] = (uint8_t)(x[i] >> (8 * b));
	tb_crypto_wipe(x, n * sizeof(*x));
	free(x);
	return rc;
}
