/*
 * DESIGN: the field-independent front of Prio3 (VDAF-08 section 7.2).
 *
 * dap_vdaf_init turns (type, params) into every length the protocol needs,
 * once; the per-report calls then only check lengths and dispatch to the
 * Field64 or Field128 instantiation of prio3_tmpl.h. Messages stay in their
 * wire encoding between calls (the DAP service stores and ships bytes), so
 * the prep state is itself a byte string: the encoded out share followed by
 * the corrected joint randomness seed.
 *
 * Which field and circuit each VDAF uses (VDAF-08 section 7.4):
 *   Prio3Count      Field64,  Mul gadget, 1 call
 *   Prio3Sum        Field128, Range2 gadget, `bits` calls, joint rand 1
 *   Prio3SumVec     Field128, ParallelSum(Mul, chunk), ceil(len*bits/chunk) calls, joint rand 1
 *   Prio3Histogram  Field128, ParallelSum(Mul, chunk), ceil(len/chunk) calls, joint rand 2
 * all with one proof.
 */
#include "dap/vdaf.h"

#include "core/error.h"
#include "dap/vdaf/vdaf_internal.h"

#define ELEM_MAX 16 /* sizeof(f128_t) bounds every element type in scratch */

static size_t next_pow2(size_t x)
{
	size_t p = 1;
	while (p < x)
		p <<= 1;
	return p;
}

int dap_vdaf_init(struct dap_vdaf *v, enum dap_vdaf_type type, const struct dap_vdaf_params *pa)
{
	struct dap_vdaf_params def = { 0 };
	if (!pa)
		pa = &def;
	memset(v, 0, sizeof(*v));
	v->type = type;
	v->shares = pa->shares ? pa->shares : 2;
	v->proofs = pa->proofs ? pa->proofs : 1;
	if (v->shares < 2 || v->shares > DAP_VDAF_MAX_SHARES || v->proofs > DAP_VDAF_MAX_PROOFS)
		return TB_ERR_INVALID;

	switch (type) {
	case DAP_PRIO3_COUNT:
		v->field = 64;
		v->gadget = DAP_GADGET_MUL;
		v->gadget_arity = 2;
		v->gadget_calls = 1;
		v->meas_len = 1;
		v->output_len = 1;
		v->joint_rand_len = 0;
		break;
	case DAP_PRIO3_SUM:
		if (pa->bits < 1 || pa->bits > DAP_VDAF_MAX_BITS)
			return TB_ERR_INVALID;
		v->field = 128;
		v->bits = pa->bits;
		v->gadget = DAP_GADGET_RANGE2;
		v->gadget_arity = 1;
		v->gadget_calls = pa->bits;
		v->meas_len = pa->bits;
		v->output_len = 1;
		v->joint_rand_len = 1;
		break;
	case DAP_PRIO3_SUMVEC:
	case DAP_PRIO3_HISTOGRAM: {
		size_t bits = type == DAP_PRIO3_SUMVEC ? pa->bits : 1;
		if (type == DAP_PRIO3_SUMVEC && (pa->bits < 1 || pa->bits > DAP_VDAF_MAX_BITS))
			return TB_ERR_INVALID;
		if (pa->length < 1 || pa->chunk_length < 1 ||
		    pa->chunk_length > DAP_VDAF_MAX_CHUNK_LENGTH ||
		    (size_t)pa->length > DAP_VDAF_MAX_MEAS_LEN / bits)
			return TB_ERR_INVALID;
		v->field = 128;
		v->bits = type == DAP_PRIO3_SUMVEC ? pa->bits : 0;
		v->length = pa->length;
		v->chunk_length = pa->chunk_length;
		v->gadget = DAP_GADGET_PARALLEL_SUM_MUL;
		v->gadget_arity = 2 * (size_t)pa->chunk_length;
		v->meas_len = (size_t)pa->length * bits;
		v->gadget_calls = (v->meas_len + pa->chunk_length - 1) / pa->chunk_length;
		v->output_len = pa->length;
		v->joint_rand_len = type == DAP_PRIO3_SUMVEC ? 1 : 2;
		break;
	}
	default:
		return TB_ERR_UNSUPPORTED;
	}
	v->id = pa->id ? pa->id : (uint32_t)type;
	if (pa->field) {
		if (type != DAP_PRIO3_SUMVEC || (pa->field != 64 && pa->field != 128))
			return TB_ERR_INVALID;
		v->field = (int)pa->field;
		/* 2^bits - 1 must be below p (libprio's valid_integer_bitlength) */
		if (v->field == 64 && v->bits > 63)
			return TB_ERR_INVALID;
	}
	v->elem_size = v->field == 64 ? F64_ENCODED_SIZE : F128_ENCODED_SIZE;
	v->gadget_p = next_pow2(1 + v->gadget_calls);
	while (((size_t)1 << v->gadget_log2p) < v->gadget_p)
		v->gadget_log2p++;
	if (v->gadget_log2p + 1 > (v->field == 64 ? F64_GEN_LOG2_ORDER : F128_GEN_LOG2_ORDER))
		return TB_ERR_INVALID;

	/* FLP lengths (VDAF-08 7.3.2): every gadget here has degree 2 */
	v->prove_rand_len = v->gadget_arity;
	v->query_rand_len = 1;
	v->proof_len = v->gadget_arity + 2 * (v->gadget_p - 1) + 1;
	v->verifier_len = 1 + v->gadget_arity + 1;

	const size_t es = v->elem_size, S = DAP_XOF_SEED_SIZE, pr = v->proofs;
	const int jr = v->joint_rand_len > 0;
	v->rand_size = (1 + 2 * (size_t)(v->shares - 1)) * S + (jr ? v->shares * S : 0);
	v->public_share_size = jr ? v->shares * S : 0;
	v->leader_input_share_size = (v->meas_len + v->proof_len * pr) * es + (jr ? S : 0);
	v->helper_input_share_size = 2 * S + (jr ? S : 0);
	v->prep_share_size = v->verifier_len * pr * es + (jr ? S : 0);
	v->prep_msg_size = jr ? S : 0;
	v->prep_state_size = v->output_len * es + (jr ? S : 0);
	v->out_share_size = v->output_len * es;
	v->agg_share_size = v->output_len * es;

	size_t parts = (v->shares * S + ELEM_MAX - 1) / ELEM_MAX;
	size_t p = v->gadget_p;
	size_t elems = 3 * v->meas_len + 3 * v->proof_len * pr + 2 * (v->joint_rand_len * pr + 1) +
		       v->prove_rand_len * pr + v->query_rand_len * pr + 3 * v->verifier_len * pr +
		       v->output_len + 3 * parts + v->gadget_arity * p + v->gadget_arity + 8 * p + 16;
	v->scratch_size = elems * ELEM_MAX;
	if (v->scratch_size > DAP_VDAF_MAX_SCRATCH)
		return TB_ERR_TOO_LARGE;
	if (v->field == 64)
		f64_encode(v->shares_inv, f64_inv(f64_from_u64(v->shares)));
	else
		f128_encode(v->shares_inv, f128_inv(f128_from_u64(v->shares)));
	return 0;
}

size_t dap_vdaf_input_share_size(const struct dap_vdaf *v, unsigned agg_id)
{
	return agg_id == 0 ? v->leader_input_share_size : v->helper_input_share_size;
}

/* ------------------------------------------------------------------ scratch */

static uint8_t *scratch_get(const struct dap_vdaf *v, struct dap_prio3_scratch *s, uint8_t **owned)
{
	*owned = NULL;
	if (s && s->p && s->len >= v->scratch_size)
		return s->p;
	*owned = malloc(v->scratch_size);
	return *owned;
}

/* ------------------------------------------------------------------ dispatch */

#define DISPATCH(v, fn, ...) \
	((v)->field == 64 ? dap_f64_##fn(__VA_ARGS__) : dap_f128_##fn(__VA_ARGS__))

int dap_xof_ts_expand_vec(int field, const uint8_t seed[DAP_XOF_SEED_SIZE], const uint8_t *dst,
			  size_t dst_len, const uint8_t *binder, size_t binder_len, size_t n,
			  uint8_t *out)
{
	struct dap_xof_ts x;
	int rc;
	if (field != 64 && field != 128)
		return TB_ERR_INVALID;
	if (n > DAP_VDAF_MAX_MEAS_LEN)
		return TB_ERR_TOO_LARGE;
	void *tmp = malloc(n ? n * ELEM_MAX : 1);
	if (!tmp)
		return TB_ERR_NOMEM;
	if ((rc = dap_xof_ts_init(&x, seed, dst, dst_len))) {
		free(tmp);
		return rc;
	}
	dap_xof_ts_binder(&x, binder, binder_len);
	if (field == 64) {
		dap_f64_expand_vec(&x, tmp, n);
		for (size_t i = 0; i < n; i++)
			f64_encode(out + 8 * i, ((f64_t *)tmp)[i]);
	} else {
		dap_f128_expand_vec(&x, tmp, n);
		for (size_t i = 0; i < n; i++)
			f128_encode(out + 16 * i, ((f128_t *)tmp)[i]);
	}
	free(tmp);
	return 0;
}

int dap_prio3_shard_encoded(const struct dap_vdaf *v, const uint8_t *encoded_meas,
			    const uint8_t nonce[DAP_PRIO3_NONCE_SIZE], const uint8_t *rand,
			    size_t rand_len, struct tb_bytes *public_share,
			    struct tb_bytes *input_shares)
{
	uint8_t *owned;
	if (rand_len != v->rand_size)
		return TB_ERR_INVALID;
	uint8_t *s = scratch_get(v, NULL, &owned);
	if (!s)
		return TB_ERR_NOMEM;
	int rc = DISPATCH(v, shard, v, encoded_meas, nonce, rand, public_share, input_shares, s);
	free(owned);
	return rc;
}

int dap_prio3_shard(const struct dap_vdaf *v, const struct dap_measurement *m,
		    const uint8_t nonce[DAP_PRIO3_NONCE_SIZE], const uint8_t *rand, size_t rand_len,
		    struct tb_bytes *public_share, struct tb_bytes *input_shares)
{
	if (!m || !m->values)
		return TB_ERR_INVALID;
	uint8_t *enc = malloc(v->meas_len * v->elem_size);
	if (!enc)
		return TB_ERR_NOMEM;
	int rc = DISPATCH(v, encode_meas, v, m, enc);
	if (rc == 0)
		rc = dap_prio3_shard_encoded(v, enc, nonce, rand, rand_len, public_share,
					     input_shares);
	free(enc);
	return rc;
}

int dap_prio3_prep_init(const struct dap_vdaf *v, const uint8_t *verify_key, unsigned agg_id,
			const uint8_t nonce[DAP_PRIO3_NONCE_SIZE], struct tb_buf public_share,
			struct tb_buf input_share, uint8_t *prep_state, uint8_t *prep_share,
			struct dap_prio3_scratch *scratch)
{
	uint8_t *owned;
	uint8_t *s = scratch_get(v, scratch, &owned);
	if (!s)
		return TB_ERR_NOMEM;
	int rc = DISPATCH(v, prep_init, v, verify_key, agg_id, nonce, public_share, input_share,
			  prep_state, prep_share, s);
	free(owned);
	return rc;
}

int dap_prio3_prep_init_batch(const struct dap_vdaf *v, const uint8_t *verify_key,
			      unsigned agg_id, size_t n, const struct dap_prio3_report *reports,
			      uint8_t *states, uint8_t *prep_shares, int *results)
{
	uint8_t *s = malloc(v->scratch_size);
	if (!s)
		return TB_ERR_NOMEM;
	for (size_t i = 0; i < n; i++)
		results[i] = DISPATCH(v, prep_init, v, verify_key, agg_id, reports[i].nonce,
				      reports[i].public_share, reports[i].input_share,
				      states + i * v->prep_state_size,
				      prep_shares + i * v->prep_share_size, s);
	free(s);
	return 0;
}

int dap_prio3_prep_shares_to_prep(const struct dap_vdaf *v, const struct tb_buf *prep_shares,
				  size_t n, uint8_t *prep_msg, struct dap_prio3_scratch *scratch)
{
	uint8_t *owned;
	uint8_t *s = scratch_get(v, scratch, &owned);
	if (!s)
		return TB_ERR_NOMEM;
	int rc = DISPATCH(v, prep_shares_to_prep, v, prep_shares, n, prep_msg, s);
	free(owned);
	return rc;
}

int dap_prio3_prep_next(const struct dap_vdaf *v, const uint8_t *prep_state,
			struct tb_buf prep_msg, uint8_t *out_share)
{
	if (prep_msg.len != v->prep_msg_size)
		return TB_ERR_INVALID;
	if (v->prep_msg_size &&
	    tb_memeq_ct(prep_state + v->out_share_size, prep_msg.p, v->prep_msg_size) != 0)
		return TB_ERR_VERIFY; /* joint randomness check failed */
	memcpy(out_share, prep_state, v->out_share_size);
	return 0;
}

void dap_prio3_agg_init(const struct dap_vdaf *v, uint8_t *agg_share)
{
	/* zero encodes as all-zero bytes in both fields */
	memset(agg_share, 0, v->agg_share_size);
}

int dap_prio3_agg_update(const struct dap_vdaf *v, uint8_t *agg_share, struct tb_buf out_share)
{
	if (out_share.len != v->out_share_size)
		return TB_ERR_INVALID;
	return DISPATCH(v, add_vec, agg_share, out_share.p, v->output_len);
}

int dap_prio3_agg_merge(const struct dap_vdaf *v, uint8_t *agg_share, struct tb_buf other)
{
	if (other.len != v->agg_share_size)
		return TB_ERR_INVALID;
	return DISPATCH(v, add_vec, agg_share, other.p, v->output_len);
}

int dap_prio3_unshard(const struct dap_vdaf *v, const struct tb_buf *agg_shares, size_t n,
		      uint64_t num_measurements, uint64_t *result, size_t result_len)
{
	int rc;
	(void)num_measurements; /* Prio3's decoders do not use it */
	if (n != v->shares || result_len < v->output_len)
		return TB_ERR_INVALID;
	uint8_t *sum = calloc(1, v->agg_share_size);
	if (!sum)
		return TB_ERR_NOMEM;
	for (size_t i = 0; i < n; i++)
		if ((rc = dap_prio3_agg_merge(v, sum, agg_shares[i])))
			goto out;
	rc = DISPATCH(v, to_u64_vec, sum, v->output_len, result);
out:
	free(sum);
	return rc;
}

dap_u128 dap_vdaf_modulus(const struct dap_vdaf *v)
{
	if (v->field == 64)
		return ((dap_u128)4294967295u << 32) + 1;
	return ((dap_u128)4611686018427387897ull << 66) + 1;
}

dap_i128 dap_vdaf_centered(const struct dap_vdaf *v, dap_u128 x)
{
	dap_u128 p = dap_vdaf_modulus(v);
	return x > p / 2 ? -(dap_i128)(p - x) : (dap_i128)x;
}

int dap_prio3_unshard_u128(const struct dap_vdaf *v, const struct tb_buf *agg_shares, size_t n,
			   uint64_t num_measurements, dap_u128 *result, size_t result_len)
{
	int rc;
	(void)num_measurements;
	if (n != v->shares || result_len < v->output_len)
		return TB_ERR_INVALID;
	uint8_t *sum = calloc(1, v->agg_share_size);
	if (!sum)
		return TB_ERR_NOMEM;
	for (size_t i = 0; i < n; i++)
		if ((rc = dap_prio3_agg_merge(v, sum, agg_shares[i])))
			goto out;
	for (size_t i = 0; i < v->output_len; i++) {
		dap_u128 x = 0;
		for (size_t b = v->elem_size; b-- > 0;)
			x = (x << 8) | sum[i * v->elem_size + b];
		result[i] = x;
	}
out:
	free(sum);
	return rc;
}

/* ------------------------------------------------------------------ checks */

int dap_prio3_check_public_share(const struct dap_vdaf *v, struct tb_buf b)
{
	return b.len == v->public_share_size ? 0 : TB_ERR_INVALID;
}

int dap_prio3_check_input_share(const struct dap_vdaf *v, unsigned agg_id, struct tb_buf b)
{
	if (agg_id >= v->shares || b.len != dap_vdaf_input_share_size(v, agg_id))
		return TB_ERR_INVALID;
	if (agg_id == 0)
		return DISPATCH(v, check_vec, b.p, v->meas_len + v->proof_len * v->proofs);
	return 0;
}

int dap_prio3_check_prep_share(const struct dap_vdaf *v, struct tb_buf b)
{
	if (b.len != v->prep_share_size)
		return TB_ERR_INVALID;
	return DISPATCH(v, check_vec, b.p, v->verifier_len * v->proofs);
}

int dap_prio3_check_prep_msg(const struct dap_vdaf *v, struct tb_buf b)
{
	return b.len == v->prep_msg_size ? 0 : TB_ERR_INVALID;
}

int dap_prio3_check_out_share(const struct dap_vdaf *v, struct tb_buf b)
{
	if (b.len != v->out_share_size)
		return TB_ERR_INVALID;
	return DISPATCH(v, check_vec, b.p, v->output_len);
}

int dap_prio3_check_agg_share(const struct dap_vdaf *v, struct tb_buf b)
{
	return dap_prio3_check_out_share(v, b);
}
