/*
 * Prio3 beyond the vectors: round trips with random inputs (2 and 3
 * aggregators, several proofs), a malicious client's out-of-range
 * measurements caught at preparation, corrupted shares and proofs,
 * truncated / overlong / non-canonical encodings, and the ping-pong
 * framing end to end.
 */
#include "core/error.h"
#include "dap/vdaf/vdaf_internal.h"
#include "tb_test.h"

static uint64_t rs = 88172645463325252ULL;
static uint64_t rnd64(void)
{
	rs ^= rs << 13;
	rs ^= rs >> 7;
	rs ^= rs << 17;
	return rs;
}
static void fill(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)rnd64();
}

static const uint8_t vk[16] = { 7, 6, 5, 4, 3, 2, 1, 0, 7, 6, 5, 4, 3, 2, 1, 0 };

/* Where a test corrupts a report between sharding and preparation. */
enum corrupt {
	NONE,
	LEADER_MEAS,   /* add 1 to the leader's first measurement element */
	LEADER_PROOF,  /* add 1 to the leader's last proof element */
	HELPER_SEED,   /* flip a bit of the helper's measurement seed */
	HELPER_PSEED,  /* flip a bit of the helper's proof seed */
	PUBLIC_SHARE,  /* flip a bit of a joint randomness part */
	LEADER_BLIND,  /* flip a bit of the leader's blind */
};

static void add_one(const struct dap_vdaf *v, uint8_t *enc)
{
	if (v->field == 64) {
		f64_t x;
		f64_decode(&x, enc);
		f64_encode(enc, f64_add(x, f64_one()));
	} else {
		f128_t x;
		f128_decode(&x, enc);
		f128_encode(enc, f128_add(x, f128_one()));
	}
}

/*
 * Shards an encoded measurement, corrupts as asked, prepares with every
 * aggregator and aggregates into agg (when given). Returns the first error.
 */
static int run(const struct dap_vdaf *v, const uint8_t *enc_meas, enum corrupt c, uint8_t *agg)
{
	uint8_t nonce[16], *rand = malloc(v->rand_size);
	fill(nonce, 16);
	fill(rand, v->rand_size);
	struct tb_bytes pub = { 0 }, shares[8] = { { 0 } };
	int rc = dap_prio3_shard_encoded(v, enc_meas, nonce, rand, v->rand_size, &pub, shares);
	free(rand);
	if (rc)
		return rc;
	switch (c) {
	case NONE:
		break;
	case LEADER_MEAS:
		add_one(v, shares[0].p);
		break;
	case LEADER_PROOF:
		add_one(v, shares[0].p + (v->meas_len + v->proof_len * v->proofs - 1) * v->elem_size);
		break;
	case HELPER_SEED:
		shares[1].p[3] ^= 0x10;
		break;
	case HELPER_PSEED:
		shares[1].p[16 + 5] ^= 0x01;
		break;
	case PUBLIC_SHARE:
		if (pub.len)
			pub.p[pub.len - 1] ^= 0x80;
		break;
	case LEADER_BLIND:
		if (v->joint_rand_len)
			shares[0].p[shares[0].len - 1] ^= 0x02;
		break;
	}
	uint8_t *states = malloc(v->shares * v->prep_state_size + 1);
	uint8_t *ps = malloc(v->shares * v->prep_share_size + 1);
	uint8_t *out = malloc(v->out_share_size);
	struct tb_buf psb[8];
	uint8_t msg[16];
	for (unsigned j = 0; j < v->shares && !rc; j++) {
		rc = dap_prio3_prep_init(v, vk, j, nonce, tb_bytes_buf(&pub), tb_bytes_buf(&shares[j]),
					 states + j * v->prep_state_size, ps + j * v->prep_share_size,
					 NULL);
		psb[j] = TB_BUF(ps + j * v->prep_share_size, v->prep_share_size);
	}
	if (!rc)
		rc = dap_prio3_prep_shares_to_prep(v, psb, v->shares, msg, NULL);
	for (unsigned j = 0; j < v->shares && !rc; j++) {
		rc = dap_prio3_prep_next(v, states + j * v->prep_state_size,
					 TB_BUF(msg, v->prep_msg_size), out);
		if (!rc && agg)
			rc = dap_prio3_agg_update(v, agg + j * v->agg_share_size,
						  TB_BUF(out, v->out_share_size));
	}
	free(states);
	free(ps);
	free(out);
	tb_bytes_free(&pub);
	for (unsigned j = 0; j < v->shares; j++)
		tb_bytes_free(&shares[j]);
	return rc;
}

/* Encodes small integers as field elements (the malicious client's encoder). */
static uint8_t *raw_encode(const struct dap_vdaf *v, const uint64_t *vals)
{
	uint8_t *e = calloc(v->meas_len, v->elem_size);
	for (size_t i = 0; i < v->meas_len; i++) {
		if (v->field == 64)
			f64_encode(e + i * 8, f64_from_u64(vals[i]));
		else
			f128_encode(e + i * 16, f128_from_u64(vals[i]));
	}
	return e;
}

static void roundtrips(void)
{
	static const struct {
		enum dap_vdaf_type t;
		struct dap_vdaf_params p;
	} cfg[] = {
		{ DAP_PRIO3_COUNT, { .shares = 2, .proofs = 1 } },
		{ DAP_PRIO3_COUNT, { .shares = 3, .proofs = 2 } },
		{ DAP_PRIO3_SUM, { .shares = 2, .proofs = 1, .bits = 8 } },
		{ DAP_PRIO3_SUM, { .shares = 2, .proofs = 3, .bits = 64 } },
		{ DAP_PRIO3_SUMVEC, { .shares = 2, .proofs = 1, .bits = 1, .length = 1000, .chunk_length = 31 } },
		{ DAP_PRIO3_SUMVEC, { .shares = 3, .proofs = 2, .bits = 5, .length = 7, .chunk_length = 3 } },
		{ DAP_PRIO3_HISTOGRAM, { .shares = 2, .proofs = 1, .length = 100, .chunk_length = 10 } },
		{ DAP_PRIO3_HISTOGRAM, { .shares = 4, .proofs = 1, .length = 1, .chunk_length = 1 } },
	};
	for (size_t c = 0; c < sizeof(cfg) / sizeof(cfg[0]); c++) {
		struct dap_vdaf v;
		CHECK_INT(dap_vdaf_init(&v, cfg[c].t, &cfg[c].p), 0);
		uint8_t *agg = calloc(v.shares, v.agg_share_size);
		uint64_t want[1000] = { 0 }, vals[1000];
		const int reports = 5;
		for (int r = 0; r < reports; r++) {
			size_t n = v.type == DAP_PRIO3_SUMVEC ? v.length : 1;
			for (size_t i = 0; i < n; i++) {
				uint64_t lim = v.type == DAP_PRIO3_COUNT ? 2
					       : v.type == DAP_PRIO3_HISTOGRAM ? v.length
					       : v.bits == 64 ? 0 : (1ULL << v.bits);
				vals[i] = lim ? rnd64() % lim : rnd64() >> 8;
				if (v.type == DAP_PRIO3_HISTOGRAM)
					want[vals[i]]++;
				else
					want[i] += vals[i];
			}
			struct dap_measurement m = { vals, n };
			uint8_t *enc = malloc(v.meas_len * v.elem_size);
			CHECK_INT(v.field == 64 ? dap_f64_encode_meas(&v, &m, enc)
						: dap_f128_encode_meas(&v, &m, enc),
				  0);
			CHECK_INT(run(&v, enc, NONE, agg), 0);
			free(enc);
		}
		struct tb_buf asb[8];
		for (unsigned j = 0; j < v.shares; j++)
			asb[j] = TB_BUF(agg + j * v.agg_share_size, v.agg_share_size);
		uint64_t got[1000];
		CHECK_INT(dap_prio3_unshard(&v, asb, v.shares, reports, got, v.output_len), 0);
		CHECK_MEM(got, v.output_len * 8, want, v.output_len * 8);
		free(agg);
	}
}

static void malicious(void)
{
	struct dap_vdaf v;
	uint64_t vals[64] = { 0 };
	uint8_t *e;

	/* Count with measurement 2 */
	CHECK_INT(dap_vdaf_init(&v, DAP_PRIO3_COUNT, NULL), 0);
	uint64_t two = 2;
	struct dap_measurement m = { &two, 1 };
	struct tb_bytes pub = { 0 }, sh[2] = { { 0 } };
	uint8_t nonce[16] = { 0 }, rand[512] = { 0 };
	CHECK_INT(dap_prio3_shard(&v, &m, nonce, rand, v.rand_size, &pub, sh), TB_ERR_INVALID);
	vals[0] = 2;
	e = raw_encode(&v, vals);
	CHECK_INT(run(&v, e, NONE, NULL), TB_ERR_VERIFY);
	free(e);

	/* Sum bits=8 with 300 = 256 + 44: bypass the bit encoding (top "bit" holds 2) */
	struct dap_vdaf_params sp = { .bits = 8 };
	CHECK_INT(dap_vdaf_init(&v, DAP_PRIO3_SUM, &sp), 0);
	uint64_t big = 300;
	m = (struct dap_measurement){ &big, 1 };
	CHECK_INT(dap_prio3_shard(&v, &m, nonce, rand, v.rand_size, &pub, sh), TB_ERR_INVALID);
	uint64_t bits300[8] = { 0, 0, 1, 1, 0, 1, 0, 2 }; /* 4+8+32+2*128 = 300 */
	e = raw_encode(&v, bits300);
	CHECK_INT(run(&v, e, NONE, NULL), TB_ERR_VERIFY);
	free(e);
	for (int i = 0; i < 8; i++)
		vals[i] = 3; /* 3 * 255 = 765 > 255 */
	e = raw_encode(&v, vals);
	CHECK_INT(run(&v, e, NONE, NULL), TB_ERR_VERIFY);
	free(e);

	/* Histogram: two buckets set, or none */
	struct dap_vdaf_params hp = { .length = 4, .chunk_length = 2 };
	CHECK_INT(dap_vdaf_init(&v, DAP_PRIO3_HISTOGRAM, &hp), 0);
	uint64_t two_hot[4] = { 1, 0, 1, 0 }, none[4] = { 0 }, neg[4] = { 2, 0, 0, 0 };
	e = raw_encode(&v, two_hot);
	CHECK_INT(run(&v, e, NONE, NULL), TB_ERR_VERIFY);
	free(e);
	e = raw_encode(&v, none);
	CHECK_INT(run(&v, e, NONE, NULL), TB_ERR_VERIFY);
	free(e);
	e = raw_encode(&v, neg);
	CHECK_INT(run(&v, e, NONE, NULL), TB_ERR_VERIFY);
	free(e);
	uint64_t idx = 4;
	m = (struct dap_measurement){ &idx, 1 };
	CHECK_INT(dap_prio3_shard(&v, &m, nonce, rand, v.rand_size, &pub, sh), TB_ERR_INVALID);

	/* SumVec: an element's bit is 2 */
	struct dap_vdaf_params vp = { .length = 3, .bits = 4, .chunk_length = 5 };
	CHECK_INT(dap_vdaf_init(&v, DAP_PRIO3_SUMVEC, &vp), 0);
	memset(vals, 0, sizeof(vals));
	vals[6] = 2;
	e = raw_encode(&v, vals);
	CHECK_INT(run(&v, e, NONE, NULL), TB_ERR_VERIFY);
	free(e);
	tb_bytes_free(&pub);
	for (int i = 0; i < 2; i++)
		tb_bytes_free(&sh[i]);
}

static void corrupted(void)
{
	static const enum dap_vdaf_type types[] = { DAP_PRIO3_COUNT, DAP_PRIO3_SUM, DAP_PRIO3_SUMVEC,
						    DAP_PRIO3_HISTOGRAM };
	struct dap_vdaf_params pa = { .bits = 8, .length = 10, .chunk_length = 3 };
	for (size_t t = 0; t < 4; t++) {
		struct dap_vdaf v;
		CHECK_INT(dap_vdaf_init(&v, types[t], &pa), 0);
		uint64_t vals[80] = { 0 };
		vals[0] = 1; /* valid for all four encodings */
		uint8_t *e = raw_encode(&v, vals);
		CHECK_INT(run(&v, e, NONE, NULL), 0);
		CHECK_INT(run(&v, e, LEADER_MEAS, NULL), TB_ERR_VERIFY);
		CHECK_INT(run(&v, e, LEADER_PROOF, NULL), TB_ERR_VERIFY);
		CHECK_INT(run(&v, e, HELPER_SEED, NULL), TB_ERR_VERIFY);
		CHECK_INT(run(&v, e, HELPER_PSEED, NULL), TB_ERR_VERIFY);
		if (v.joint_rand_len) {
			/* the joint randomness check in prep_next catches what the proof may not */
			CHECK_INT(run(&v, e, PUBLIC_SHARE, NULL), TB_ERR_VERIFY);
			CHECK_INT(run(&v, e, LEADER_BLIND, NULL), TB_ERR_VERIFY);
		}
		free(e);
	}
}

static void encodings(void)
{
	struct dap_vdaf_params pa = { .length = 4, .chunk_length = 2 };
	struct dap_vdaf v;
	CHECK_INT(dap_vdaf_init(&v, DAP_PRIO3_HISTOGRAM, &pa), 0);
	uint64_t idx = 1;
	struct dap_measurement m = { &idx, 1 };
	uint8_t nonce[16] = { 1 }, rand[256];
	fill(rand, sizeof(rand));
	struct tb_bytes pub = { 0 }, sh[2] = { { 0 } };
	CHECK_INT(dap_prio3_shard(&v, &m, nonce, rand, v.rand_size - 1, &pub, sh), TB_ERR_INVALID);
	CHECK_INT(dap_prio3_shard(&v, &m, nonce, rand, v.rand_size, &pub, sh), 0);
	CHECK_INT(pub.len, v.public_share_size);
	CHECK_INT(sh[0].len, v.leader_input_share_size);
	CHECK_INT(sh[1].len, v.helper_input_share_size);

	uint8_t st[2][256], ps[2][256], big[4096];
	struct tb_buf P = tb_bytes_buf(&pub);
	for (unsigned j = 0; j < 2; j++) {
		struct tb_buf in = tb_bytes_buf(&sh[j]);
		memcpy(big, in.p, in.len);
		/* truncated and overlong input shares */
		CHECK_INT(dap_prio3_prep_init(&v, vk, j, nonce, P, TB_BUF(big, in.len - 1), st[j], ps[j], NULL),
			  TB_ERR_INVALID);
		CHECK_INT(dap_prio3_prep_init(&v, vk, j, nonce, P, TB_BUF(big, in.len + 1), st[j], ps[j], NULL),
			  TB_ERR_INVALID);
		CHECK_INT(dap_prio3_check_input_share(&v, j, TB_BUF(big, in.len + 1)), TB_ERR_INVALID);
		/* truncated and overlong public share */
		memcpy(big + 2048, P.p, P.len);
		CHECK_INT(dap_prio3_prep_init(&v, vk, j, nonce, TB_BUF(big + 2048, P.len - 1), in, st[j], ps[j], NULL),
			  TB_ERR_INVALID);
		CHECK_INT(dap_prio3_prep_init(&v, vk, j, nonce, TB_BUF(big + 2048, P.len + 1), in, st[j], ps[j], NULL),
			  TB_ERR_INVALID);
		CHECK_INT(dap_prio3_prep_init(&v, vk, 2, nonce, P, in, st[j], ps[j], NULL), TB_ERR_INVALID);
		CHECK_INT(dap_prio3_prep_init(&v, vk, j, nonce, P, in, st[j], ps[j], NULL), 0);
	}
	/* non-canonical element in the leader's share: all-ones is >= p */
	memcpy(big, sh[0].p, sh[0].len);
	memset(big, 0xff, 16);
	CHECK_INT(dap_prio3_check_input_share(&v, 0, TB_BUF(big, sh[0].len)), TB_ERR_INVALID);
	CHECK_INT(dap_prio3_prep_init(&v, vk, 0, nonce, P, TB_BUF(big, sh[0].len), st[0], ps[0], NULL),
		  TB_ERR_INVALID);
	CHECK_INT(dap_prio3_prep_init(&v, vk, 0, nonce, P, tb_bytes_buf(&sh[0]), st[0], ps[0], NULL), 0);

	/* prep shares: truncated, overlong, non-canonical */
	struct tb_buf psb[2] = { TB_BUF(ps[0], v.prep_share_size), TB_BUF(ps[1], v.prep_share_size) };
	uint8_t msg[16];
	CHECK_INT(dap_prio3_check_prep_share(&v, psb[0]), 0);
	psb[1].len--;
	CHECK_INT(dap_prio3_prep_shares_to_prep(&v, psb, 2, msg, NULL), TB_ERR_INVALID);
	CHECK_INT(dap_prio3_check_prep_share(&v, psb[1]), TB_ERR_INVALID);
	psb[1].len += 2;
	CHECK_INT(dap_prio3_prep_shares_to_prep(&v, psb, 2, msg, NULL), TB_ERR_INVALID);
	psb[1].len--;
	CHECK_INT(dap_prio3_prep_shares_to_prep(&v, psb, 1, msg, NULL), TB_ERR_INVALID);
	uint8_t save[16];
	memcpy(save, ps[1], 16);
	memset(ps[1], 0xff, 16);
	CHECK_INT(dap_prio3_prep_shares_to_prep(&v, psb, 2, msg, NULL), TB_ERR_INVALID);
	memcpy(ps[1], save, 16);
	CHECK_INT(dap_prio3_prep_shares_to_prep(&v, psb, 2, msg, NULL), 0);

	/* prep message: truncated, overlong, wrong */
	uint8_t out[2][256], msg2[32];
	memcpy(msg2, msg, 16);
	CHECK_INT(dap_prio3_check_prep_msg(&v, TB_BUF(msg2, 17)), TB_ERR_INVALID);
	CHECK_INT(dap_prio3_prep_next(&v, st[0], TB_BUF(msg2, 15), out[0]), TB_ERR_INVALID);
	CHECK_INT(dap_prio3_prep_next(&v, st[0], TB_BUF(msg2, 17), out[0]), TB_ERR_INVALID);
	msg2[0] ^= 1;
	CHECK_INT(dap_prio3_prep_next(&v, st[0], TB_BUF(msg2, 16), out[0]), TB_ERR_VERIFY);
	for (unsigned j = 0; j < 2; j++)
		CHECK_INT(dap_prio3_prep_next(&v, st[j], TB_BUF(msg, 16), out[j]), 0);

	/* out and aggregate shares */
	uint8_t agg[2][256];
	dap_prio3_agg_init(&v, agg[0]);
	dap_prio3_agg_init(&v, agg[1]);
	CHECK_INT(dap_prio3_check_out_share(&v, TB_BUF(out[0], v.out_share_size)), 0);
	CHECK_INT(dap_prio3_agg_update(&v, agg[0], TB_BUF(out[0], v.out_share_size - 1)), TB_ERR_INVALID);
	CHECK_INT(dap_prio3_agg_update(&v, agg[0], TB_BUF(out[0], v.out_share_size + 1)), TB_ERR_INVALID);
	for (unsigned j = 0; j < 2; j++)
		CHECK_INT(dap_prio3_agg_update(&v, agg[j], TB_BUF(out[j], v.out_share_size)), 0);
	struct tb_buf asb[2] = { TB_BUF(agg[0], v.agg_share_size), TB_BUF(agg[1], v.agg_share_size) };
	uint64_t res[4];
	asb[1].len++;
	CHECK_INT(dap_prio3_unshard(&v, asb, 2, 1, res, 4), TB_ERR_INVALID);
	CHECK_INT(dap_prio3_check_agg_share(&v, asb[1]), TB_ERR_INVALID);
	asb[1].len--;
	CHECK_INT(dap_prio3_unshard(&v, asb, 2, 1, res, 4), 0);
	uint64_t want[4] = { 0, 1, 0, 0 };
	CHECK_MEM(res, sizeof(res), want, sizeof(want));
	memset(agg[1], 0xff, 16);
	CHECK_INT(dap_prio3_unshard(&v, asb, 2, 1, res, 4), TB_ERR_INVALID);

	tb_bytes_free(&pub);
	tb_bytes_free(&sh[0]);
	tb_bytes_free(&sh[1]);
}

static void params(void)
{
	struct dap_vdaf v;
	struct dap_vdaf_params bad[] = {
		{ .bits = 0 }, { .bits = 65 }, { .shares = 1, .bits = 8 }, { .shares = 256, .bits = 8 },
	};
	for (size_t i = 0; i < 4; i++)
		CHECK(dap_vdaf_init(&v, DAP_PRIO3_SUM, &bad[i]) != 0);
	struct dap_vdaf_params h0 = { .length = 0, .chunk_length = 1 };
	CHECK(dap_vdaf_init(&v, DAP_PRIO3_HISTOGRAM, &h0) != 0);
	struct dap_vdaf_params h1 = { .length = 4, .chunk_length = 0 };
	CHECK(dap_vdaf_init(&v, DAP_PRIO3_HISTOGRAM, &h1) != 0);
	struct dap_vdaf_params sv = { .length = DAP_VDAF_MAX_MEAS_LEN, .bits = 2, .chunk_length = 10 };
	CHECK(dap_vdaf_init(&v, DAP_PRIO3_SUMVEC, &sv) != 0);
	CHECK(dap_vdaf_init(&v, (enum dap_vdaf_type)7, NULL) != 0);
	/* within the length limit, but chunk 1 makes the proof (and working memory) huge */
	struct dap_vdaf_params huge = { .length = DAP_VDAF_MAX_MEAS_LEN, .bits = 1, .chunk_length = 1 };
	CHECK_INT(dap_vdaf_init(&v, DAP_PRIO3_SUMVEC, &huge), TB_ERR_TOO_LARGE);
	struct dap_vdaf_params big = { .length = 100000, .bits = 1, .chunk_length = 316 };
	CHECK_INT(dap_vdaf_init(&v, DAP_PRIO3_SUMVEC, &big), 0);
	CHECK(v.scratch_size <= DAP_VDAF_MAX_SCRATCH);
}

static void ping_pong(void)
{
	struct dap_vdaf_params pa = { .bits = 8 };
	struct dap_vdaf v;
	CHECK_INT(dap_vdaf_init(&v, DAP_PRIO3_SUM, &pa), 0);
	uint8_t agg[2][16];
	dap_prio3_agg_init(&v, agg[0]);
	dap_prio3_agg_init(&v, agg[1]);
	uint64_t total = 0;
	for (int r = 0; r < 4; r++) {
		uint64_t x = rnd64() % 256;
		total += x;
		struct dap_measurement m = { &x, 1 };
		uint8_t nonce[16], rand[256];
		fill(nonce, 16);
		fill(rand, v.rand_size);
		struct tb_bytes pub = { 0 }, sh[2] = { { 0 } }, to_helper = { 0 }, to_leader = { 0 };
		CHECK_INT(dap_prio3_shard(&v, &m, nonce, rand, v.rand_size, &pub, sh), 0);
		uint8_t lstate[64], lout[16], hout[16];
		CHECK_INT(dap_pp_leader_init(&v, vk, nonce, tb_bytes_buf(&pub), tb_bytes_buf(&sh[0]),
					     lstate, &to_helper, NULL),
			  0);
		CHECK_INT(to_helper.len, 1 + 4 + v.prep_share_size);
		CHECK_INT(to_helper.p[0], 0);
		CHECK_INT(dap_pp_helper_init(&v, vk, nonce, tb_bytes_buf(&pub), tb_bytes_buf(&sh[1]),
					     tb_bytes_buf(&to_helper), hout, &to_leader, NULL),
			  0);
		CHECK_INT(to_leader.len, 1 + 4 + v.prep_msg_size);
		CHECK_INT(to_leader.p[0], 2);
		/* the leader must not accept an initialize or a truncated message */
		CHECK_INT(dap_pp_leader_continued(&v, lstate, tb_bytes_buf(&to_helper), lout), TB_ERR_STATE);
		CHECK(dap_pp_leader_continued(&v, lstate, TB_BUF(to_leader.p, to_leader.len - 1), lout) != 0);
		CHECK_INT(dap_pp_leader_continued(&v, lstate, tb_bytes_buf(&to_leader), lout), 0);
		CHECK_INT(dap_prio3_agg_update(&v, agg[0], TB_BUF(lout, 16)), 0);
		CHECK_INT(dap_prio3_agg_update(&v, agg[1], TB_BUF(hout, 16)), 0);

		/* a corrupted leader prep share makes the helper refuse */
		struct tb_bytes bad = { 0 }, ignored = { 0 };
		tb_bytes_append(&bad, to_helper.p, to_helper.len);
		bad.p[5] ^= 1;
		int rc = dap_pp_helper_init(&v, vk, nonce, tb_bytes_buf(&pub), tb_bytes_buf(&sh[1]),
					    tb_bytes_buf(&bad), hout, &ignored, NULL);
		CHECK(rc == TB_ERR_VERIFY || rc == TB_ERR_INVALID);
		tb_bytes_free(&bad);
		tb_bytes_free(&ignored);
		tb_bytes_free(&pub);
		tb_bytes_free(&sh[0]);
		tb_bytes_free(&sh[1]);
		tb_bytes_free(&to_helper);
		tb_bytes_free(&to_leader);
	}
	struct tb_buf asb[2] = { TB_BUF(agg[0], 16), TB_BUF(agg[1], 16) };
	uint64_t res;
	CHECK_INT(dap_prio3_unshard(&v, asb, 2, 4, &res, 1), 0);
	CHECK_INT(res, total);

	/* Message codec */
	uint8_t a[3] = { 1, 2, 3 }, b[2] = { 9, 8 };
	struct dap_pp_message msgs[3] = {
		{ DAP_PP_INITIALIZE, { NULL, 0 }, { a, 3 } },
		{ DAP_PP_CONTINUE, { b, 2 }, { a, 3 } },
		{ DAP_PP_FINISH, { b, 2 }, { NULL, 0 } },
	};
	for (int i = 0; i < 3; i++) {
		struct tb_bytes enc = { 0 };
		struct dap_pp_message d;
		CHECK_INT(dap_pp_encode(&enc, &msgs[i]), 0);
		CHECK_INT(dap_pp_decode(&d, tb_bytes_buf(&enc)), 0);
		CHECK_INT(d.type, msgs[i].type);
		CHECK_MEM(d.prep_msg.p, d.prep_msg.len, msgs[i].prep_msg.p, msgs[i].prep_msg.len);
		CHECK_MEM(d.prep_share.p, d.prep_share.len, msgs[i].prep_share.p, msgs[i].prep_share.len);
		for (size_t n = 0; n < enc.len; n++)
			CHECK(dap_pp_decode(&d, TB_BUF(enc.p, n)) != 0);
		tb_bytes_u8(&enc, 0);
		CHECK_INT(dap_pp_decode(&d, tb_bytes_buf(&enc)), TB_ERR_TRAILING);
		tb_bytes_free(&enc);
	}
	uint8_t unknown[5] = { 3, 0, 0, 0, 0 };
	struct dap_pp_message d;
	CHECK_INT(dap_pp_decode(&d, TB_BUF(unknown, 5)), TB_ERR_INVALID);
	uint8_t cont[16] = { 1, 0, 0, 0, 0, 0, 0, 0, 0 };
	struct tb_bytes o = { 0 };
	uint8_t hout[16];
	CHECK_INT(dap_pp_helper_init(&v, vk, cont, TB_BUF(cont, 0), TB_BUF(cont, 0), TB_BUF(cont, 9),
				     hout, &o, NULL),
		  TB_ERR_STATE);
}

static void batch(void)
{
	struct dap_vdaf_params pa = { .length = 8, .chunk_length = 3 };
	struct dap_vdaf v;
	CHECK_INT(dap_vdaf_init(&v, DAP_PRIO3_HISTOGRAM, &pa), 0);
	enum { N = 6 };
	struct tb_bytes pub[N], sh[N][2];
	uint8_t nonces[N][16];
	struct dap_prio3_report rep[N];
	memset(pub, 0, sizeof(pub));
	memset(sh, 0, sizeof(sh));
	for (int i = 0; i < N; i++) {
		uint64_t x = (uint64_t)i % 8;
		struct dap_measurement m = { &x, 1 };
		uint8_t rand[256];
		fill(nonces[i], 16);
		fill(rand, v.rand_size);
		CHECK_INT(dap_prio3_shard(&v, &m, nonces[i], rand, v.rand_size, &pub[i], sh[i]), 0);
		if (i == 3)
			sh[i][1].p[0] ^= 1; /* one bad report in the batch */
		rep[i] = (struct dap_prio3_report){ nonces[i], tb_bytes_buf(&pub[i]), tb_bytes_buf(&sh[i][0]) };
	}
	uint8_t *st = malloc(N * v.prep_state_size), *ps = malloc(N * v.prep_share_size);
	int res[N];
	CHECK_INT(dap_prio3_prep_init_batch(&v, vk, 0, N, rep, st, ps, res), 0);
	uint8_t *st1 = malloc(v.prep_state_size), *ps1 = malloc(v.prep_share_size);
	struct dap_prio3_scratch scr = { malloc(v.scratch_size), v.scratch_size };
	for (int i = 0; i < N; i++) {
		CHECK_INT(res[i], 0);
		CHECK_INT(dap_prio3_prep_init(&v, vk, 1, nonces[i], tb_bytes_buf(&pub[i]),
					      tb_bytes_buf(&sh[i][1]), st1, ps1, &scr),
			  0);
		struct tb_buf psb[2] = { TB_BUF(ps + i * v.prep_share_size, v.prep_share_size),
					 TB_BUF(ps1, v.prep_share_size) };
		uint8_t msg[16];
		CHECK_INT(dap_prio3_prep_shares_to_prep(&v, psb, 2, msg, &scr), i == 3 ? TB_ERR_VERIFY : 0);
		tb_bytes_free(&pub[i]);
		tb_bytes_free(&sh[i][0]);
		tb_bytes_free(&sh[i][1]);
	}
	free(scr.p);
	free(st);
	free(ps);
	free(st1);
	free(ps1);
}

int main(void)
{
	roundtrips();
	malicious();
	corrupted();
	encodings();
	params();
	ping_pong();
	batch();
	return tb_test_result("dap_prio3_negative");
}
