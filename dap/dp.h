/*
 * Differential-privacy noise for aggregate shares, as Janus offers it: the
 * "PureDpDiscreteLaplace" strategy (pure epsilon-DP) for Prio3Histogram and
 * Prio3SumVec. Each aggregator adds independent discrete Laplace noise to
 * every element of its aggregate share before encrypting it to the
 * Collector; the sum of the two shares then carries noise too.
 *
 * Scale = sensitivity / epsilon, with the l1 sensitivities of the
 * substitution model that libprio uses: 2 for Histogram,
 * (2^bits - 1) * length for SumVec.
 *
 * The sampler is the exact Canonne-Kamath-Steinke algorithm (arXiv
 * 2004.00010, algorithms 1 and 2) on rational parameters, driven by a
 * tb_drbg; there is no floating point anywhere on the sampling path.
 * Field elements are passed in canonical form (integers in [0, p)) with
 * the modulus p, so the sampler does not depend on the VDAF field code;
 * dap_dp_apply_agg_share does the decoding for an encoded aggregate share.
 */
#ifndef DAP_DP_H
#define DAP_DP_H

#include <stddef.h>
#include <stdint.h>

#include "core/crypto.h"
#include "dap/vdaf.h" /* dap_u128, dap_i128; the aggregate-share helpers below */

#define DAP_DP_MAX_VECTOR (1u << 24) /* cap on elements noised in one call */

/* A non-negative rational num/den (den > 0). */
struct dap_dp_rational {
	uint64_t num;
	uint64_t den;
};

enum dap_dp_kind {
	DAP_DP_NONE = 0,                   /* "NoDifferentialPrivacy" */
	DAP_DP_PURE_DISCRETE_LAPLACE = 1,  /* "PureDpDiscreteLaplace" */
};

/* A task's DP strategy: kind and, for Laplace, the budget epsilon > 0. */
struct dap_dp_strategy {
	enum dap_dp_kind kind;
	struct dap_dp_rational epsilon;
};

/* l1 sensitivities (substitution-DP). SumVec: TB_ERR_TOO_LARGE when
 * (2^bits - 1) * length does not fit 64 bits. */
uint64_t dap_dp_sensitivity_histogram(void);
int dap_dp_sensitivity_sumvec(unsigned bits, size_t length, uint64_t *out);

/* scale = sensitivity / epsilon, reduced; TB_ERR_INVALID for epsilon <= 0,
 * TB_ERR_TOO_LARGE when the reduced fraction does not fit 64-bit parts. */
int dap_dp_laplace_scale(struct dap_dp_rational epsilon, uint64_t sensitivity,
			 struct dap_dp_rational *scale);

/* One sample of the discrete Laplace distribution with the given scale:
 * P(x) proportional to exp(-|x| / scale). scale 0 always yields 0.
 * Returns 0, or TB_ERR_INVALID for a zero denominator. */
int dap_dp_sample_discrete_laplace(struct tb_drbg *rng, struct dap_dp_rational scale,
				   dap_i128 *out);

/*
 * Adds independent discrete Laplace noise of the given scale to each of the
 * n field elements vec[i] (canonical, < modulus), modulo modulus. rng may
 * be NULL: a DRBG seeded from tb_random is used. TB_ERR_INVALID when an
 * element is not canonical or modulus < 2; TB_ERR_TOO_LARGE when n exceeds
 * DAP_DP_MAX_VECTOR. The vector is unchanged on error.
 */
int dap_dp_add_noise_u64(uint64_t *vec, size_t n, uint64_t modulus, struct dap_dp_rational scale,
			 struct tb_drbg *rng);
int dap_dp_add_noise_u128(dap_u128 *vec, size_t n, dap_u128 modulus, struct dap_dp_rational scale,
			  struct tb_drbg *rng);

/* Applies a strategy to an aggregate share of the given sensitivity:
 * nothing for DAP_DP_NONE, Laplace noise otherwise. */
int dap_dp_apply_u64(const struct dap_dp_strategy *s, uint64_t sensitivity, uint64_t *vec,
		     size_t n, uint64_t modulus);
int dap_dp_apply_u128(const struct dap_dp_strategy *s, uint64_t sensitivity, dap_u128 *vec,
		      size_t n, dap_u128 modulus);

/*
 * On a VDAF's encoded aggregate share (what an Aggregator encrypts to the
 * Collector): the l1 sensitivity libprio uses for the VDAF (Histogram 2,
 * SumVec (2^bits - 1) * length; TB_ERR_UNSUPPORTED for Count and Sum, which
 * libprio does not noise), and the strategy applied in place. The share is
 * checked first (length, canonical elements: TB_ERR_INVALID) and is
 * unchanged on error. DAP_DP_NONE leaves any VDAF's share as it is.
 */
int dap_dp_sensitivity_vdaf(const struct dap_vdaf *v, uint64_t *out);
int dap_dp_apply_agg_share(const struct dap_dp_strategy *s, const struct dap_vdaf *v,
			   uint8_t *agg_share, size_t len);

#endif
