/*
 * Table-driven checks of the VDAF-08 Prio3 and ping-pong encodings: for
 * several configurations, every message is refused at every length but its
 * own (each truncation and each trailing byte, fed from an exact-size heap
 * copy so a sanitizer build sees any over-read), every field element set to
 * a non-canonical value (p, p + 1, 2^bits - 1) is refused, and the ping-pong
 * Message is refused at each truncation, with trailing bytes, with an
 * unknown type and in the wrong state.
 */
#include "tb_test.h"

#include "core/error.h"
#include "dap/vdaf.h"

static const uint8_t vk[16] = { 9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 1, 2, 3, 4, 5, 6 };
static const uint8_t nonce[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };

/* Non-canonical encodings: p, p + 1 and all ones, little-endian. */
static const uint8_t bad64[3][8] = {
	{ 1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff },
	{ 2, 0, 0, 0, 0xff, 0xff, 0xff, 0xff },
	{ 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff },
};
static const uint8_t bad128[3][16] = {
	{ 1, 0, 0, 0, 0, 0, 0, 0, 0xe4, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff },
	{ 2, 0, 0, 0, 0, 0, 0, 0, 0xe4, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff },
	{ 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff },
};
/* p - 1 is canonical. */
static const uint8_t max64[8] = { 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff };
static const uint8_t max128[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 0xe4, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

static const uint8_t *bad_elem(const struct dap_vdaf *v, int k)
{
	return v->field == 64 ? bad64[k] : bad128[k];
}

/* An exact-size heap copy of the first n bytes of src, padded with 0xa5. */
static uint8_t *copy(const uint8_t *src, size_t srclen, size_t n)
{
	uint8_t *p = malloc(n ? n : 1);
	memset(p, 0xa5, n);
	if (src && n && srclen)
		memcpy(p, src, n < srclen ? n : srclen);
	return p;
}

struct cfg {
	const char *name;
	enum dap_vdaf_type type;
	struct dap_vdaf_params p;
	uint64_t vals[10];
};

static const struct cfg cfgs[] = {
	{ "count", DAP_PRIO3_COUNT, { .shares = 2 }, { 1 } },
	{ "count3", DAP_PRIO3_COUNT, { .shares = 3 }, { 1 } },
	{ "sum8", DAP_PRIO3_SUM, { .shares = 2, .bits = 8 }, { 200 } },
	{ "sum64_3", DAP_PRIO3_SUM, { .shares = 3, .bits = 64 }, { UINT64_MAX } },
	{ "sumvec", DAP_PRIO3_SUMVEC, { .shares = 2, .bits = 8, .length = 10, .chunk_length = 9 },
	  { 1, 2, 3, 4, 5, 6, 7, 8, 9, 255 } },
	{ "hist", DAP_PRIO3_HISTOGRAM, { .shares = 2, .length = 4, .chunk_length = 2 }, { 3 } },
};

static void lengths_and_elements(const struct cfg *c)
{
	struct dap_vdaf v;
	CHECK_INT(dap_vdaf_init(&v, c->type, &c->p), 0);
	uint8_t *rand = malloc(v.rand_size);
	for (size_t i = 0; i < v.rand_size; i++)
		rand[i] = (uint8_t)(i * 7 + 1);
	struct dap_measurement m = { c->vals, c->type == DAP_PRIO3_SUMVEC ? v.length : 1 };
	struct tb_bytes pub = { 0 }, sh[3] = { { 0 } };
	CHECK_INT(dap_prio3_shard(&v, &m, nonce, rand, v.rand_size, &pub, sh), 0);
	const unsigned S = v.shares;
	const size_t E = v.elem_size;
	uint8_t *st = malloc(S * v.prep_state_size + 1), *ps = malloc(S * v.prep_share_size + 1);
	struct tb_buf P = tb_bytes_buf(&pub);

	/* public share: every other length */
	for (size_t n = 0; n <= pub.len + 2; n++) {
		if (n == pub.len)
			continue;
		uint8_t *b = copy(pub.p, pub.len, n);
		CHECK_INT(dap_prio3_check_public_share(&v, TB_BUF(b, n)), TB_ERR_INVALID);
		CHECK_INT(dap_prio3_prep_init(&v, vk, 0, nonce, TB_BUF(b, n), tb_bytes_buf(&sh[0]), st,
					      ps, NULL),
			  TB_ERR_INVALID);
		free(b);
	}
	/* input shares: every other length; non-canonical leader elements */
	for (unsigned j = 0; j < S; j++) {
		CHECK_INT(dap_prio3_check_input_share(&v, j, tb_bytes_buf(&sh[j])), 0);
		for (size_t n = 0; n <= sh[j].len + 2; n++) {
			if (n == sh[j].len)
				continue;
			uint8_t *b = copy(sh[j].p, sh[j].len, n);
			CHECK_INT(dap_prio3_check_input_share(&v, j, TB_BUF(b, n)), TB_ERR_INVALID);
			CHECK_INT(dap_prio3_prep_init(&v, vk, j, nonce, P, TB_BUF(b, n),
						      st + j * v.prep_state_size,
						      ps + j * v.prep_share_size, NULL),
				  TB_ERR_INVALID);
			free(b);
		}
	}
	size_t nel = v.meas_len + v.proof_len * v.proofs; /* leader's field elements */
	size_t at[3] = { 0, v.meas_len, nel - 1 };      /* first of each part, last */
	for (int k = 0; k < 3; k++)
		for (int t = 0; t < 3; t++) {
			uint8_t *b = copy(sh[0].p, sh[0].len, sh[0].len);
			memcpy(b + at[k] * E, bad_elem(&v, t), E);
			CHECK_INT(dap_prio3_check_input_share(&v, 0, TB_BUF(b, sh[0].len)), TB_ERR_INVALID);
			CHECK_INT(dap_prio3_prep_init(&v, vk, 0, nonce, P, TB_BUF(b, sh[0].len), st, ps, NULL),
				  TB_ERR_INVALID);
			/* p - 1 in the same place is canonical (the proof then fails later) */
			memcpy(b + at[k] * E, v.field == 64 ? max64 : max128, E);
			CHECK_INT(dap_prio3_check_input_share(&v, 0, TB_BUF(b, sh[0].len)), 0);
			free(b);
		}

	/* prep shares */
	for (unsigned j = 0; j < S; j++)
		CHECK_INT(dap_prio3_prep_init(&v, vk, j, nonce, P, tb_bytes_buf(&sh[j]),
					      st + j * v.prep_state_size, ps + j * v.prep_share_size,
					      NULL),
			  0);
	struct tb_buf psb[3];
	for (unsigned j = 0; j < S; j++)
		psb[j] = TB_BUF(ps + j * v.prep_share_size, v.prep_share_size);
	for (size_t n = 0; n <= v.prep_share_size + 2; n++) {
		if (n == v.prep_share_size)
			continue;
		uint8_t *b = copy(psb[S - 1].p, v.prep_share_size, n);
		struct tb_buf save = psb[S - 1];
		psb[S - 1] = TB_BUF(b, n);
		CHECK_INT(dap_prio3_check_prep_share(&v, psb[S - 1]), TB_ERR_INVALID);
		uint8_t msg[16];
		CHECK_INT(dap_prio3_prep_shares_to_prep(&v, psb, S, msg, NULL), TB_ERR_INVALID);
		psb[S - 1] = save;
		free(b);
	}
	size_t vel = v.verifier_len * v.proofs;
	size_t vat[2] = { 0, vel - 1 };
	for (int k = 0; k < 2; k++)
		for (int t = 0; t < 3; t++) {
			uint8_t *b = copy(psb[0].p, v.prep_share_size, v.prep_share_size);
			memcpy(b + vat[k] * E, bad_elem(&v, t), E);
			struct tb_buf save = psb[0];
			psb[0] = TB_BUF(b, v.prep_share_size);
			uint8_t msg[16];
			CHECK_INT(dap_prio3_check_prep_share(&v, psb[0]), TB_ERR_INVALID);
			CHECK_INT(dap_prio3_prep_shares_to_prep(&v, psb, S, msg, NULL), TB_ERR_INVALID);
			psb[0] = save;
			free(b);
		}
	/* too few or too many prep shares */
	uint8_t msg[16];
	CHECK_INT(dap_prio3_prep_shares_to_prep(&v, psb, S - 1, msg, NULL), TB_ERR_INVALID);
	CHECK_INT(dap_prio3_prep_shares_to_prep(&v, psb, S, msg, NULL), 0);

	/* prep message: 16 bytes (the joint randomness seed) or empty */
	CHECK_INT(v.prep_msg_size, v.joint_rand_len ? 16 : 0);
	uint8_t *out = malloc(S * v.out_share_size);
	for (size_t n = 0; n <= v.prep_msg_size + 2; n++) {
		if (n == v.prep_msg_size)
			continue;
		uint8_t *b = copy(msg, v.prep_msg_size, n);
		CHECK_INT(dap_prio3_check_prep_msg(&v, TB_BUF(b, n)), TB_ERR_INVALID);
		CHECK_INT(dap_prio3_prep_next(&v, st, TB_BUF(b, n), out), TB_ERR_INVALID);
		free(b);
	}
	for (unsigned j = 0; j < S; j++)
		CHECK_INT(dap_prio3_prep_next(&v, st + j * v.prep_state_size, TB_BUF(msg, v.prep_msg_size),
					      out + j * v.out_share_size),
			  0);

	/* out shares and aggregate shares */
	uint8_t *agg = malloc(S * v.agg_share_size);
	for (unsigned j = 0; j < S; j++)
		dap_prio3_agg_init(&v, agg + j * v.agg_share_size);
	for (size_t n = 0; n <= v.out_share_size + 2; n++) {
		if (n == v.out_share_size)
			continue;
		uint8_t *b = copy(out, v.out_share_size, n);
		CHECK_INT(dap_prio3_check_out_share(&v, TB_BUF(b, n)), TB_ERR_INVALID);
		CHECK_INT(dap_prio3_agg_update(&v, agg, TB_BUF(b, n)), TB_ERR_INVALID);
		CHECK_INT(dap_prio3_agg_merge(&v, agg, TB_BUF(b, n)), TB_ERR_INVALID);
		free(b);
	}
	for (int t = 0; t < 3; t++) {
		uint8_t *b = copy(out, v.out_share_size, v.out_share_size);
		memcpy(b + (v.output_len - 1) * E, bad_elem(&v, t), E);
		CHECK_INT(dap_prio3_check_out_share(&v, TB_BUF(b, v.out_share_size)), TB_ERR_INVALID);
		CHECK_INT(dap_prio3_agg_update(&v, agg, TB_BUF(b, v.out_share_size)), TB_ERR_INVALID);
		free(b);
	}
	struct tb_buf asb[3];
	for (unsigned j = 0; j < S; j++) {
		CHECK_INT(dap_prio3_agg_update(&v, agg + j * v.agg_share_size,
					       TB_BUF(out + j * v.out_share_size, v.out_share_size)),
			  0);
		asb[j] = TB_BUF(agg + j * v.agg_share_size, v.agg_share_size);
	}
	uint64_t res[10];
	for (size_t n = 0; n <= v.agg_share_size + 2; n++) {
		if (n == v.agg_share_size)
			continue;
		uint8_t *b = copy(asb[1].p, v.agg_share_size, n);
		struct tb_buf save = asb[1];
		asb[1] = TB_BUF(b, n);
		CHECK_INT(dap_prio3_check_agg_share(&v, asb[1]), TB_ERR_INVALID);
		CHECK_INT(dap_prio3_unshard(&v, asb, S, 1, res, v.output_len), TB_ERR_INVALID);
		asb[1] = save;
		free(b);
	}
	for (int t = 0; t < 3; t++) {
		uint8_t *b = copy(asb[0].p, v.agg_share_size, v.agg_share_size);
		memcpy(b, bad_elem(&v, t), E);
		struct tb_buf save = asb[0];
		asb[0] = TB_BUF(b, v.agg_share_size);
		CHECK_INT(dap_prio3_unshard(&v, asb, S, 1, res, v.output_len), TB_ERR_INVALID);
		asb[0] = save;
		free(b);
	}
	CHECK_INT(dap_prio3_unshard(&v, asb, S, 1, res, v.output_len), 0);
	if (c->type == DAP_PRIO3_HISTOGRAM) {
		for (size_t i = 0; i < v.output_len; i++)
			CHECK_INT(res[i], i == c->vals[0]);
	} else {
		CHECK_MEM(res, v.output_len * 8, c->vals, v.output_len * 8);
	}

	free(agg);
	free(out);
	free(st);
	free(ps);
	free(rand);
	tb_bytes_free(&pub);
	for (unsigned j = 0; j < S; j++)
		tb_bytes_free(&sh[j]);
}

/* VDAF-08 5.8: Message { u8 type; initialize: prep_share<0..2^32-1>;
 * continue: prep_msg<0..2^32-1> prep_share<0..2^32-1>; finish: prep_msg<0..2^32-1>; } */
static void pingpong(void)
{
	uint8_t a[5] = { 1, 2, 3, 4, 5 }, b[3] = { 9, 8, 7 };
	struct dap_pp_message ms[3] = {
		{ DAP_PP_INITIALIZE, { NULL, 0 }, TB_BUF(a, 5) },
		{ DAP_PP_CONTINUE, TB_BUF(b, 3), TB_BUF(a, 5) },
		{ DAP_PP_FINISH, TB_BUF(b, 3), { NULL, 0 } },
	};
	static const uint8_t want[3][16] = {
		{ 0, 0, 0, 0, 5, 1, 2, 3, 4, 5 },
		{ 1, 0, 0, 0, 3, 9, 8, 7, 0, 0, 0, 5, 1, 2, 3, 4 },
		{ 2, 0, 0, 0, 3, 9, 8, 7 },
	};
	static const size_t wlen[3] = { 10, 17, 8 };
	for (int i = 0; i < 3; i++) {
		struct tb_bytes e = { 0 };
		struct dap_pp_message d;
		CHECK_INT(dap_pp_encode(&e, &ms[i]), 0);
		CHECK_INT(e.len, wlen[i]);
		CHECK_MEM(e.p, e.len < 16 ? e.len : 16, want[i], wlen[i] < 16 ? wlen[i] : 16);
		CHECK_INT(dap_pp_decode(&d, tb_bytes_buf(&e)), 0);
		CHECK_INT(d.type, ms[i].type);
		CHECK_MEM(d.prep_share.p, d.prep_share.len, ms[i].prep_share.p, ms[i].prep_share.len);
		CHECK_MEM(d.prep_msg.p, d.prep_msg.len, ms[i].prep_msg.p, ms[i].prep_msg.len);
		for (size_t n = 0; n < e.len; n++) {
			uint8_t *c = copy(e.p, e.len, n);
			CHECK(dap_pp_decode(&d, TB_BUF(c, n)) < 0);
			free(c);
		}
		for (size_t extra = 1; extra <= 4; extra++) {
			uint8_t *c = copy(e.p, e.len, e.len + extra);
			CHECK(dap_pp_decode(&d, TB_BUF(c, e.len + extra)) < 0);
			free(c);
		}
		/* a length prefix far beyond the buffer */
		uint8_t *c = copy(e.p, e.len, e.len);
		c[1] = 0xff;
		CHECK(dap_pp_decode(&d, TB_BUF(c, e.len)) < 0);
		free(c);
		tb_bytes_free(&e);
	}
	for (int t = 3; t < 256; t += 50) {
		uint8_t c[5] = { (uint8_t)t, 0, 0, 0, 0 };
		struct dap_pp_message d;
		CHECK(dap_pp_decode(&d, TB_BUF(c, 5)) < 0);
	}
	struct dap_pp_message bad = { (enum dap_pp_type)3, { NULL, 0 }, { NULL, 0 } };
	struct tb_bytes e = { 0 };
	CHECK(dap_pp_encode(&e, &bad) < 0);
	tb_bytes_free(&e);
}

/* The ping-pong transitions refuse messages of the wrong type or shape. */
static void transitions(void)
{
	struct dap_vdaf v;
	struct dap_vdaf_params p = { .shares = 2, .bits = 8 };
	CHECK_INT(dap_vdaf_init(&v, DAP_PRIO3_SUM, &p), 0);
	uint64_t val = 77;
	struct dap_measurement m = { &val, 1 };
	uint8_t *rand = calloc(1, v.rand_size);
	struct tb_bytes pub = { 0 }, sh[2] = { { 0 } }, init = { 0 }, fin = { 0 }, junk = { 0 };
	CHECK_INT(dap_prio3_shard(&v, &m, nonce, rand, v.rand_size, &pub, sh), 0);
	uint8_t *st = malloc(v.prep_state_size), *out = malloc(2 * v.out_share_size);
	CHECK_INT(dap_pp_leader_init(&v, vk, nonce, tb_bytes_buf(&pub), tb_bytes_buf(&sh[0]), st, &init,
				     NULL),
		  0);
	/* helper given a finish or a continue message */
	uint8_t seed[16] = { 0 };
	struct dap_pp_message f = { DAP_PP_FINISH, TB_BUF(seed, 16), { NULL, 0 } };
	struct dap_pp_message c = { DAP_PP_CONTINUE, TB_BUF(seed, 16), TB_BUF(seed, 16) };
	CHECK_INT(dap_pp_encode(&junk, &f), 0);
	CHECK_INT(dap_pp_helper_init(&v, vk, nonce, tb_bytes_buf(&pub), tb_bytes_buf(&sh[1]),
				     tb_bytes_buf(&junk), out + v.out_share_size, &fin, NULL),
		  TB_ERR_STATE);
	junk.len = 0;
	CHECK_INT(dap_pp_encode(&junk, &c), 0);
	CHECK_INT(dap_pp_helper_init(&v, vk, nonce, tb_bytes_buf(&pub), tb_bytes_buf(&sh[1]),
				     tb_bytes_buf(&junk), out + v.out_share_size, &fin, NULL),
		  TB_ERR_STATE);
	/* helper given an initialize whose prep share has the wrong length */
	for (size_t cut = 1; cut <= 2; cut++) {
		struct dap_pp_message s = { DAP_PP_INITIALIZE, { NULL, 0 },
					    TB_BUF(init.p + 5, v.prep_share_size - cut) };
		junk.len = 0;
		CHECK_INT(dap_pp_encode(&junk, &s), 0);
		CHECK(dap_pp_helper_init(&v, vk, nonce, tb_bytes_buf(&pub), tb_bytes_buf(&sh[1]),
					 tb_bytes_buf(&junk), out + v.out_share_size, &fin, NULL) < 0);
	}
	CHECK_INT(fin.len, 0);
	CHECK_INT(dap_pp_helper_init(&v, vk, nonce, tb_bytes_buf(&pub), tb_bytes_buf(&sh[1]),
				     tb_bytes_buf(&init), out + v.out_share_size, &fin, NULL),
		  0);
	/* leader given its own initialize back, or a continue */
	CHECK_INT(dap_pp_leader_continued(&v, st, tb_bytes_buf(&init), out), TB_ERR_STATE);
	CHECK_INT(dap_pp_leader_continued(&v, st, tb_bytes_buf(&junk), out) < 0, 1);
	/* a finish carrying a different joint randomness seed */
	struct tb_bytes fin2 = { 0 };
	CHECK_INT(dap_pp_encode(&fin2, &f), 0);
	CHECK_INT(dap_pp_leader_continued(&v, st, tb_bytes_buf(&fin2), out), TB_ERR_VERIFY);
	CHECK_INT(dap_pp_leader_continued(&v, st, tb_bytes_buf(&fin), out), 0);
	/* three aggregators do not play ping-pong */
	struct dap_vdaf v3;
	struct dap_vdaf_params p3 = { .shares = 3, .bits = 8 };
	CHECK_INT(dap_vdaf_init(&v3, DAP_PRIO3_SUM, &p3), 0);
	CHECK(dap_pp_helper_init(&v3, vk, nonce, tb_bytes_buf(&pub), tb_bytes_buf(&sh[1]),
				 tb_bytes_buf(&init), out, &fin2, NULL) < 0);
	struct tb_bytes o3 = { 0 };
	CHECK_INT(dap_pp_leader_init(&v3, vk, nonce, tb_bytes_buf(&pub), tb_bytes_buf(&sh[0]), st, &o3,
				     NULL),
		  TB_ERR_UNSUPPORTED);
	CHECK_INT(o3.len, 0);
	CHECK_INT(dap_pp_leader_continued(&v3, st, tb_bytes_buf(&fin), out), TB_ERR_UNSUPPORTED);
	tb_bytes_free(&o3);
	free(st);
	free(out);
	free(rand);
	tb_bytes_free(&pub);
	tb_bytes_free(&sh[0]);
	tb_bytes_free(&sh[1]);
	tb_bytes_free(&init);
	tb_bytes_free(&fin);
	tb_bytes_free(&fin2);
	tb_bytes_free(&junk);
}

/*
 * A measurement's largest value must fit the field, as libprio requires
 * (valid_integer_bitlength: 2^bits - 1 < p): SumVec forced onto Field64
 * takes at most 63 bits; bits = 64 would fold 2^64 - 1 mod p.
 */
static void field_bits(void)
{
	struct dap_vdaf v;
	struct dap_vdaf_params p = { .shares = 2, .bits = 64, .length = 2, .chunk_length = 8,
				     .field = 64, .id = 0xFFFFFFFF };
	CHECK_INT(dap_vdaf_init(&v, DAP_PRIO3_SUMVEC, &p), TB_ERR_INVALID);
	p.bits = 63;
	CHECK_INT(dap_vdaf_init(&v, DAP_PRIO3_SUMVEC, &p), 0);
	uint64_t vals[2] = { (1ull << 63) - 1, 0 }, res[2];
	uint8_t *rand = calloc(1, v.rand_size), *st[2], *ps[2], msg[16], *out[2];
	struct tb_bytes pub = { 0 }, sh[2] = { { 0 } };
	struct dap_measurement m = { vals, 2 };
	CHECK_INT(dap_prio3_shard(&v, &m, nonce, rand, v.rand_size, &pub, sh), 0);
	struct tb_buf psb[2], asb[2];
	for (unsigned j = 0; j < 2; j++) {
		st[j] = malloc(v.prep_state_size);
		ps[j] = malloc(v.prep_share_size);
		out[j] = malloc(v.out_share_size);
		CHECK_INT(dap_prio3_prep_init(&v, vk, j, nonce, tb_bytes_buf(&pub), tb_bytes_buf(&sh[j]),
					      st[j], ps[j], NULL),
			  0);
		psb[j] = TB_BUF(ps[j], v.prep_share_size);
	}
	CHECK_INT(dap_prio3_prep_shares_to_prep(&v, psb, 2, msg, NULL), 0);
	for (unsigned j = 0; j < 2; j++) {
		CHECK_INT(dap_prio3_prep_next(&v, st[j], TB_BUF(msg, v.prep_msg_size), out[j]), 0);
		asb[j] = TB_BUF(out[j], v.out_share_size);
	}
	CHECK_INT(dap_prio3_unshard(&v, asb, 2, 1, res, 2), 0);
	CHECK_MEM(res, 16, vals, 16);
	for (unsigned j = 0; j < 2; j++) {
		free(st[j]);
		free(ps[j]);
		free(out[j]);
		tb_bytes_free(&sh[j]);
	}
	tb_bytes_free(&pub);
	free(rand);
}

int main(void)
{
	field_bits();
	for (size_t i = 0; i < sizeof(cfgs) / sizeof(cfgs[0]); i++)
		lengths_and_elements(&cfgs[i]);
	pingpong();
	transitions();
	return tb_test_result("dap_encodings");
}
