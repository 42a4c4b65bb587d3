/*
 * Statistical tests of the discrete Laplace sampler (dap/dp.h) and of the
 * noise added to field vectors. With scale b the distribution is
 *   P(x) = (1 - q) / (1 + q) * q^|x|,  q = exp(-1/b),
 * with mean 0 and variance 2q / (1 - q)^2. Each check draws a fixed number
 * of samples (200,000) from a fixed-seed DRBG, so the test is reproducible;
 * one extra run uses a tb_random seed. Negative controls prove the checks
 * have teeth: samples of twice the scale, and uniform samples, must fail.
 */
#include "tb_test.h"

#include <math.h>

#include "core/crypto.h"
#include "core/error.h"
#include "dap/dp.h"

#define N_SAMPLES 200000
#define MAX_BINS 512

struct verdict {
	double mean, var, want_var, chi2;
	int df;
	int mean_ok, var_ok, chi2_ok;
};

/* Judges samples against the discrete Laplace pmf of scale b. */
static struct verdict judge(const int64_t *x, size_t n, double b, int do_chi2)
{
	struct verdict v = { 0 };
	double q = exp(-1.0 / b), sum = 0, sq = 0;
	for (size_t i = 0; i < n; i++)
		sum += (double)x[i];
	v.mean = sum / (double)n;
	for (size_t i = 0; i < n; i++)
		sq += ((double)x[i] - v.mean) * ((double)x[i] - v.mean);
	v.var = sq / (double)(n - 1);
	v.want_var = 2 * q / ((1 - q) * (1 - q));
	v.mean_ok = fabs(v.mean) < 6 * sqrt(v.want_var / (double)n);
	v.var_ok = fabs(v.var / v.want_var - 1) < 0.04;
	if (!do_chi2) {
		v.chi2_ok = 1;
		return v;
	}
	/* Central bins -K..K with >= 20 expected each, plus the two tails. */
	double c = (1 - q) / (1 + q);
	int K = 0;
	while (K < (MAX_BINS - 3) / 2 && (double)n * c * pow(q, K + 1) >= 20)
		K++;
	static long obs[MAX_BINS];
	memset(obs, 0, sizeof(obs));
	for (size_t i = 0; i < n; i++) {
		int64_t y = x[i];
		int bin = y < -K ? 0 : y > K ? 2 * K + 2 : (int)(y + K + 1);
		obs[bin]++;
	}
	double tail = pow(q, K + 1) / (1 + q);
	v.chi2 = 0;
	for (int bin = 0; bin <= 2 * K + 2; bin++) {
		double p = (bin == 0 || bin == 2 * K + 2) ? tail : c * pow(q, abs(bin - K - 1));
		double e = p * (double)n;
		v.chi2 += ((double)obs[bin] - e) * ((double)obs[bin] - e) / e;
	}
	v.df = 2 * K + 2;
	/* Generous: about seven standard deviations above the mean of chi2(df). */
	v.chi2_ok = v.chi2 < v.df + 7 * sqrt(2.0 * v.df);
	return v;
}

static void print_verdict(const char *what, double b, const struct verdict *v)
{
	printf("%-28s scale %-8.4g mean %+.4f var %.4f (want %.4f) chi2 %.1f df %d\n", what, b,
	       v->mean, v->var, v->want_var, v->chi2, v->df);
}

static int64_t *draw(struct tb_drbg *rng, struct dap_dp_rational scale, size_t n)
{
	int64_t *x = malloc(n * sizeof(*x));
	for (size_t i = 0; i < n; i++) {
		dap_i128 s;
		int rc = dap_dp_sample_discrete_laplace(rng, scale, &s);
		if (rc) {
			CHECK_INT(rc, 0);
			s = 0;
		}
		x[i] = (int64_t)s;
	}
	return x;
}

static void test_sampler(void)
{
	static const struct {
		struct dap_dp_rational scale;
		int chi2;
	} cases[] = {
		{ { 2, 1 }, 1 },     /* Histogram, epsilon 1 */
		{ { 5, 3 }, 1 },     /* a non-integer scale */
		{ { 1, 2 }, 1 },     /* mostly zeros */
		{ { 21, 2 }, 1 },    /* wider */
		{ { 1000, 1 }, 0 },  /* SumVec length 1000, epsilon 1: mean/variance only */
	};
	struct tb_drbg rng;
	uint8_t seed[32] = { 0x44, 0x50 };
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		seed[31] = (uint8_t)c;
		tb_drbg_seed(&rng, seed);
		double b = (double)cases[c].scale.num / (double)cases[c].scale.den;
		int64_t *x = draw(&rng, cases[c].scale, N_SAMPLES);
		struct verdict v = judge(x, N_SAMPLES, b, cases[c].chi2);
		print_verdict("fixed seed", b, &v);
		CHECK(v.mean_ok);
		CHECK(v.var_ok);
		CHECK(v.chi2_ok);
		if (c == 0) {
			/* Negative control 1: the same samples judged as scale b/2 and 2b. */
			struct verdict w = judge(x, N_SAMPLES, b / 2, 1);
			print_verdict("control: judged at b/2", b / 2, &w);
			CHECK(!w.var_ok);
			CHECK(!w.chi2_ok);
			w = judge(x, N_SAMPLES, 2 * b, 1);
			print_verdict("control: judged at 2b", 2 * b, &w);
			CHECK(!w.var_ok);
			CHECK(!w.chi2_ok);
			/* Negative control 2: uniform integers with the right variance. */
			double half = floor(sqrt(3 * v.want_var));
			for (size_t i = 0; i < N_SAMPLES; i++) {
				uint32_t r;
				tb_drbg_bytes(&rng, &r, sizeof(r));
				x[i] = (int64_t)(r % (uint32_t)(2 * half + 1)) - (int64_t)half;
			}
			w = judge(x, N_SAMPLES, b, 1);
			print_verdict("control: uniform", b, &w);
			CHECK(!w.chi2_ok);
		}
		free(x);
	}

	/* One run seeded from tb_random. */
	CHECK_INT(tb_drbg_init(&rng), 0);
	struct dap_dp_rational s2 = { 2, 1 };
	int64_t *x = draw(&rng, s2, N_SAMPLES);
	struct verdict v = judge(x, N_SAMPLES, 2, 1);
	print_verdict("random seed", 2, &v);
	CHECK(v.mean_ok);
	CHECK(v.var_ok);
	CHECK(v.chi2_ok);
	free(x);

	/* Scale zero is no noise; a zero denominator is invalid. */
	dap_i128 s = 5;
	CHECK_INT(dap_dp_sample_discrete_laplace(&rng, (struct dap_dp_rational){ 0, 1 }, &s), 0);
	CHECK(s == 0);
	CHECK_INT(dap_dp_sample_discrete_laplace(&rng, (struct dap_dp_rational){ 1, 0 }, &s),
		  TB_ERR_INVALID);
	/* A huge scale still samples (128-bit intermediates). */
	CHECK_INT(dap_dp_sample_discrete_laplace(&rng, (struct dap_dp_rational){ UINT64_MAX, 1 }, &s),
		  0);
	tb_drbg_clear(&rng);
}

static void test_scale(void)
{
	struct dap_dp_rational sc;
	uint64_t sens;
	CHECK_INT(dap_dp_sensitivity_histogram(), 2);
	CHECK_INT(dap_dp_laplace_scale((struct dap_dp_rational){ 1, 1 }, 2, &sc), 0);
	CHECK(sc.num == 2 && sc.den == 1);
	CHECK_INT(dap_dp_laplace_scale((struct dap_dp_rational){ 3, 2 }, 2, &sc), 0);
	CHECK(sc.num == 4 && sc.den == 3);
	CHECK_INT(dap_dp_laplace_scale((struct dap_dp_rational){ 4, 2 }, 2, &sc), 0);
	CHECK(sc.num == 1 && sc.den == 1);
	CHECK_INT(dap_dp_laplace_scale((struct dap_dp_rational){ 0, 1 }, 2, &sc), TB_ERR_INVALID);
	CHECK_INT(dap_dp_laplace_scale((struct dap_dp_rational){ 1, 3 }, UINT64_MAX, &sc),
		  TB_ERR_TOO_LARGE);
	CHECK_INT(dap_dp_sensitivity_sumvec(1, 1000, &sens), 0);
	CHECK_INT(sens, 1000);
	CHECK_INT(dap_dp_sensitivity_sumvec(8, 10, &sens), 0);
	CHECK_INT(sens, 2550);
	CHECK_INT(dap_dp_sensitivity_sumvec(64, 2, &sens), TB_ERR_TOO_LARGE);
	CHECK_INT(dap_dp_sensitivity_sumvec(0, 2, &sens), TB_ERR_INVALID);
}

#define VEC_N 20000

static void test_field_noise(void)
{
	const uint64_t p64 = 0xffffffff00000001ull;                        /* Field64 */
	const dap_u128 p128 = ((dap_u128)4611686018427387897ull << 66) + 1; /* Field128 */
	struct dap_dp_rational scale = { 2, 1 };
	struct tb_drbg rng, rng2;
	uint8_t seed[32] = { 7 };
	static uint64_t v64[VEC_N], w64[VEC_N];
	static dap_u128 v128[VEC_N];
	static int64_t centered[VEC_N];

	/* Field64: zeros and p-1 both stay canonical; centered values are Laplace. */
	for (int start = 0; start < 2; start++) {
		for (size_t i = 0; i < VEC_N; i++)
			v64[i] = start ? p64 - 1 : 0;
		tb_drbg_seed(&rng, seed);
		CHECK_INT(dap_dp_add_noise_u64(v64, VEC_N, p64, scale, &rng), 0);
		int canonical = 1;
		for (size_t i = 0; i < VEC_N; i++) {
			canonical &= v64[i] < p64;
			uint64_t x = v64[i];
			int64_t c = x < p64 / 2 ? (int64_t)x : -(int64_t)(p64 - x);
			centered[i] = start ? c + 1 : c;
		}
		CHECK(canonical);
		struct verdict v = judge(centered, VEC_N, 2, 1);
		print_verdict(start ? "Field64 from p-1" : "Field64 from 0", 2, &v);
		CHECK(v.mean_ok && v.var_ok && v.chi2_ok);
		if (start)
			memcpy(w64, v64, sizeof(w64));
	}
	/* Same seed, same noise: the p-1 run is the 0 run shifted by -1. */
	for (size_t i = 0; i < VEC_N; i++)
		v64[i] = 0;
	tb_drbg_seed(&rng, seed);
	CHECK_INT(dap_dp_add_noise_u64(v64, VEC_N, p64, scale, &rng), 0);
	int shifted = 1;
	for (size_t i = 0; i < VEC_N; i++)
		shifted &= w64[i] == (v64[i] == 0 ? p64 - 1 : v64[i] - 1);
	CHECK(shifted);

	/* Field128, two aggregators' shares: the merged noise has twice the variance. */
	tb_drbg_seed(&rng, seed);
	seed[0] = 8;
	tb_drbg_seed(&rng2, seed);
	for (size_t i = 0; i < VEC_N; i++)
		v128[i] = 0;
	CHECK_INT(dap_dp_add_noise_u128(v128, VEC_N, p128, scale, &rng), 0);
	static dap_u128 share2[VEC_N];
	for (size_t i = 0; i < VEC_N; i++)
		share2[i] = p128 - 1;
	CHECK_INT(dap_dp_add_noise_u128(share2, VEC_N, p128, scale, &rng2), 0);
	double sq = 0;
	int canonical = 1;
	for (size_t i = 0; i < VEC_N; i++) {
		canonical &= v128[i] < p128 && share2[i] < p128;
		dap_u128 m = v128[i] + share2[i];
		if (m < v128[i] || m >= p128)
			m -= p128;
		m = m + 1 == p128 ? 0 : m + 1; /* undo the p-1 start */
		double c = m < p128 / 2 ? (double)m : -(double)(p128 - m);
		sq += c * c;
	}
	CHECK(canonical);
	double q = exp(-0.5), want = 2 * 2 * q / ((1 - q) * (1 - q));
	printf("Field128 merged shares       var %.4f (want %.4f)\n", sq / VEC_N, want);
	CHECK(fabs(sq / VEC_N / want - 1) < 0.06);

	/* Errors leave the vector untouched. */
	v64[0] = 5;
	v64[1] = p64; /* not canonical */
	CHECK_INT(dap_dp_add_noise_u64(v64, 2, p64, scale, NULL), TB_ERR_INVALID);
	CHECK(v64[0] == 5);
	CHECK_INT(dap_dp_add_noise_u64(v64, 1, 1, scale, NULL), TB_ERR_INVALID);
	CHECK_INT(dap_dp_add_noise_u64(v64, DAP_DP_MAX_VECTOR + 1ull, p64, scale, NULL),
		  TB_ERR_TOO_LARGE);
	CHECK_INT(dap_dp_add_noise_u64(v64, 1, p64, scale, NULL), 0);

	/* Strategies. */
	struct dap_dp_strategy none = { DAP_DP_NONE, { 0, 0 } };
	struct dap_dp_strategy lap = { DAP_DP_PURE_DISCRETE_LAPLACE, { 1, 1 } };
	for (size_t i = 0; i < 100; i++)
		v64[i] = 0;
	CHECK_INT(dap_dp_apply_u64(&none, 2, v64, 100, p64), 0);
	int zeros = 0;
	for (size_t i = 0; i < 100; i++)
		zeros += v64[i] == 0;
	CHECK_INT(zeros, 100);
	CHECK_INT(dap_dp_apply_u64(&lap, 2, v64, 100, p64), 0);
	zeros = 0;
	for (size_t i = 0; i < 100; i++)
		zeros += v64[i] == 0;
	CHECK(zeros < 60); /* P(0) = 0.245 at scale 2 */
	for (size_t i = 0; i < 100; i++)
		v128[i] = 0;
	CHECK_INT(dap_dp_apply_u128(&lap, 1000, v128, 100, p128), 0);
	struct dap_dp_strategy bad = { DAP_DP_PURE_DISCRETE_LAPLACE, { 0, 1 } };
	CHECK_INT(dap_dp_apply_u128(&bad, 2, v128, 100, p128), TB_ERR_INVALID);
	tb_drbg_clear(&rng);
	tb_drbg_clear(&rng2);
}

int main(void)
{
	CHECK_INT(tb_crypto_init(), 0);
	test_scale();
	test_sampler();
	test_field_noise();
	return tb_test_result("dap_dp");
}
