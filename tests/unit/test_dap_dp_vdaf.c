/*
 * Differential-privacy noise on real Prio3 aggregate shares, end to end:
 * each aggregator noises its encoded aggregate share, the collector
 * unshards. Checks that the noise lands mod p in both fields (Histogram and
 * SumVec over Field128, SumVec forced onto Field64), that the sensitivities
 * are libprio's, that a noised result that came out negative is still read
 * (dap_prio3_unshard_u128 + dap_vdaf_centered), and that Count and Sum are
 * refused as libprio refuses them.
 */
#include "tb_test.h"

#include "core/error.h"
#include "dap/dp.h"
#include "dap/vdaf.h"

static const uint8_t vk[16] = { 3 };

/* Shards, prepares and aggregates n measurements; agg gets shares * agg_share_size bytes. */
static void aggregate(const struct dap_vdaf *v, const uint64_t *vals, size_t per, size_t n,
		      uint8_t *agg)
{
	uint8_t *rand = calloc(1, v->rand_size), nonce[16] = { 0 };
	uint8_t *st = malloc(v->prep_state_size + 1), *out = malloc(2 * v->out_share_size);
	for (unsigned j = 0; j < 2; j++)
		dap_prio3_agg_init(v, agg + j * v->agg_share_size);
	for (size_t r = 0; r < n; r++) {
		struct dap_measurement m = { vals + r * per, per };
		struct tb_bytes pub = { 0 }, sh[2] = { { 0 } }, a = { 0 }, b = { 0 };
		nonce[0] = (uint8_t)r;
		rand[0] = (uint8_t)r;
		CHECK_INT(dap_prio3_shard(v, &m, nonce, rand, v->rand_size, &pub, sh), 0);
		CHECK_INT(dap_pp_leader_init(v, vk, nonce, tb_bytes_buf(&pub), tb_bytes_buf(&sh[0]), st, &a,
					     NULL),
			  0);
		CHECK_INT(dap_pp_helper_init(v, vk, nonce, tb_bytes_buf(&pub), tb_bytes_buf(&sh[1]),
					     tb_bytes_buf(&a), out + v->out_share_size, &b, NULL),
			  0);
		CHECK_INT(dap_pp_leader_continued(v, st, tb_bytes_buf(&b), out), 0);
		for (unsigned j = 0; j < 2; j++)
			CHECK_INT(dap_prio3_agg_update(v, agg + j * v->agg_share_size,
						       TB_BUF(out + j * v->out_share_size, v->out_share_size)),
				  0);
		tb_bytes_free(&pub);
		tb_bytes_free(&sh[0]);
		tb_bytes_free(&sh[1]);
		tb_bytes_free(&a);
		tb_bytes_free(&b);
	}
	free(rand);
	free(st);
	free(out);
}

/*
 * Noises both aggregate shares with epsilon and checks the centered result
 * against truth: every element within bound, at least one element moved,
 * and some negative when truth is zero somewhere (with this many elements).
 */
static void noisy_round(const struct dap_vdaf *v, const uint64_t *truth, uint8_t *agg,
			struct dap_dp_rational eps, long long bound, int expect_negative)
{
	struct dap_dp_strategy s = { DAP_DP_PURE_DISCRETE_LAPLACE, eps };
	for (unsigned j = 0; j < 2; j++)
		CHECK_INT(dap_dp_apply_agg_share(&s, v, agg + j * v->agg_share_size, v->agg_share_size), 0);
	struct tb_buf asb[2] = { TB_BUF(agg, v->agg_share_size),
				 TB_BUF(agg + v->agg_share_size, v->agg_share_size) };
	for (unsigned j = 0; j < 2; j++)
		CHECK_INT(dap_prio3_check_agg_share(v, asb[j]), 0);
	dap_u128 *res = calloc(v->output_len, sizeof(*res));
	CHECK_INT(dap_prio3_unshard_u128(v, asb, 2, 1, res, v->output_len), 0);
	int moved = 0, negative = 0, far = 0;
	for (size_t i = 0; i < v->output_len; i++) {
		CHECK(res[i] < dap_vdaf_modulus(v));
		dap_i128 c = dap_vdaf_centered(v, res[i]);
		dap_i128 d = c - (dap_i128)truth[i];
		moved += d != 0;
		negative += c < 0;
		far += d > bound || d < -bound;
	}
	CHECK(moved > 0);
	CHECK_INT(far, 0);
	if (expect_negative) {
		CHECK(negative > 0);
		uint64_t *r64 = calloc(v->output_len, 8);
		/* the 64-bit unshard cannot hold a negative noisy count */
		CHECK_INT(dap_prio3_unshard(v, asb, 2, 1, r64, v->output_len), TB_ERR_TOO_LARGE);
		free(r64);
	}
	free(res);
}

static void histogram(void)
{
	struct dap_vdaf v;
	struct dap_vdaf_params p = { .shares = 2, .length = 64, .chunk_length = 8 };
	CHECK_INT(dap_vdaf_init(&v, DAP_PRIO3_HISTOGRAM, &p), 0);
	uint64_t sens;
	CHECK_INT(dap_dp_sensitivity_vdaf(&v, &sens), 0);
	CHECK_INT(sens, 2);
	uint64_t vals[6] = { 0, 1, 1, 63, 5, 5 }, truth[64] = { 0 };
	for (int i = 0; i < 6; i++)
		truth[vals[i]]++;
	uint8_t *agg = malloc(2 * v.agg_share_size);
	aggregate(&v, vals, 1, 6, agg);
	/* epsilon 1: scale 2 per share; the sum of two shares' noise stays within 80
	 * except with probability about 64 * 2 * exp(-40) */
	noisy_round(&v, truth, agg, (struct dap_dp_rational){ 1, 1 }, 80, 1);
	free(agg);
}

static void sumvec(int field)
{
	struct dap_vdaf v;
	struct dap_vdaf_params p = { .shares = 2, .bits = 2, .length = 40, .chunk_length = 7,
				     .field = (unsigned)field, .id = field == 64 ? 0xFFFFFFFF : 0 };
	CHECK_INT(dap_vdaf_init(&v, DAP_PRIO3_SUMVEC, &p), 0);
	CHECK_INT(v.field, field);
	uint64_t sens;
	CHECK_INT(dap_dp_sensitivity_vdaf(&v, &sens), 0);
	CHECK_INT(sens, 3 * 40);
	uint64_t vals[80], truth[40] = { 0 };
	for (int i = 0; i < 80; i++) {
		vals[i] = (uint64_t)(i % 7 == 0 ? 0 : i % 4);
		truth[i % 40] += vals[i];
	}
	uint8_t *agg = malloc(2 * v.agg_share_size);
	aggregate(&v, vals, 40, 2, agg);
	/* epsilon 12: scale 10 per share; bound 400 (exp(-20) per element and share) */
	noisy_round(&v, truth, agg, (struct dap_dp_rational){ 12, 1 }, 400, 0);
	free(agg);
}

static void refused(void)
{
	struct dap_vdaf c, s;
	struct dap_vdaf_params sp = { .shares = 2, .bits = 8 };
	CHECK_INT(dap_vdaf_init(&c, DAP_PRIO3_COUNT, NULL), 0);
	CHECK_INT(dap_vdaf_init(&s, DAP_PRIO3_SUM, &sp), 0);
	uint64_t sens;
	CHECK_INT(dap_dp_sensitivity_vdaf(&c, &sens), TB_ERR_UNSUPPORTED);
	CHECK_INT(dap_dp_sensitivity_vdaf(&s, &sens), TB_ERR_UNSUPPORTED);
	struct dap_dp_strategy lap = { DAP_DP_PURE_DISCRETE_LAPLACE, { 1, 1 } };
	struct dap_dp_strategy none = { DAP_DP_NONE, { 0, 0 } };
	uint8_t share[16] = { 5 }, copy[16];
	memcpy(copy, share, 16);
	CHECK_INT(dap_dp_apply_agg_share(&lap, &s, share, 16), TB_ERR_UNSUPPORTED);
	CHECK_INT(dap_dp_apply_agg_share(&none, &s, share, 16), 0);
	CHECK_MEM(share, 16, copy, 16);
	CHECK_INT(dap_dp_apply_agg_share(&none, &c, share, 8), 0);
	/* wrong length, non-canonical element: refused and unchanged */
	struct dap_vdaf h;
	struct dap_vdaf_params hp = { .shares = 2, .length = 2, .chunk_length = 1 };
	CHECK_INT(dap_vdaf_init(&h, DAP_PRIO3_HISTOGRAM, &hp), 0);
	uint8_t hs[32] = { 0 };
	CHECK_INT(dap_dp_apply_agg_share(&lap, &h, hs, 31), TB_ERR_INVALID);
	memset(hs + 16, 0xff, 16);
	CHECK_INT(dap_dp_apply_agg_share(&lap, &h, hs, 32), TB_ERR_INVALID);
	for (int i = 0; i < 16; i++)
		CHECK_INT(hs[i], 0);
	/* epsilon 0 is invalid */
	struct dap_dp_strategy zero = { DAP_DP_PURE_DISCRETE_LAPLACE, { 0, 1 } };
	memset(hs, 0, sizeof(hs));
	CHECK_INT(dap_dp_apply_agg_share(&zero, &h, hs, 32), TB_ERR_INVALID);
}

/* A Sum above 2^64: the 64-bit unshard refuses it, the field one reads it. */
static void wide_sum(void)
{
	struct dap_vdaf v;
	struct dap_vdaf_params p = { .shares = 2, .bits = 64 };
	CHECK_INT(dap_vdaf_init(&v, DAP_PRIO3_SUM, &p), 0);
	uint64_t vals[3] = { UINT64_MAX, UINT64_MAX, 12345 };
	uint8_t *agg = malloc(2 * v.agg_share_size);
	aggregate(&v, vals, 1, 3, agg);
	struct tb_buf asb[2] = { TB_BUF(agg, v.agg_share_size),
				 TB_BUF(agg + v.agg_share_size, v.agg_share_size) };
	uint64_t r64;
	dap_u128 r;
	CHECK_INT(dap_prio3_unshard(&v, asb, 2, 3, &r64, 1), TB_ERR_TOO_LARGE);
	CHECK_INT(dap_prio3_unshard_u128(&v, asb, 2, 3, &r, 1), 0);
	dap_u128 want = (dap_u128)UINT64_MAX * 2 + 12345;
	CHECK(r == want);
	CHECK_INT(dap_prio3_unshard_u128(&v, asb, 1, 3, &r, 1), TB_ERR_INVALID);
	free(agg);
	/* moduli and centering */
	struct dap_vdaf c;
	CHECK_INT(dap_vdaf_init(&c, DAP_PRIO3_COUNT, NULL), 0);
	CHECK(dap_vdaf_modulus(&c) == 0xffffffff00000001ull);
	CHECK(dap_vdaf_centered(&c, 0xffffffff00000000ull) == -1);
	CHECK(dap_vdaf_centered(&c, 7) == 7);
	CHECK(dap_vdaf_centered(&v, dap_vdaf_modulus(&v) - 5) == -5);
}

int main(void)
{
	histogram();
	sumvec(128);
	sumvec(64);
	refused();
	wide_sum();
	return tb_test_result("dap_dp_vdaf");
}
