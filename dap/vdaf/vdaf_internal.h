/*
 * Internal interface between the field-generic Prio3 front end (prio3.c)
 * and its two instantiations (prio3_f64.c, prio3_f128.c, both generated from
 * prio3_tmpl.h). Tests include it for the field and NTT checks.
 */
#ifndef DAP_VDAF_INTERNAL_H
#define DAP_VDAF_INTERNAL_H

#include "dap/vdaf.h"
#include "dap/vdaf/field.h"

/* Prio3 usage codes for domain separation (VDAF-08 section 7.2.1) */
enum {
	DAP_USAGE_MEAS_SHARE = 1,
	DAP_USAGE_PROOF_SHARE = 2,
	DAP_USAGE_JOINT_RANDOMNESS = 3,
	DAP_USAGE_PROVE_RANDOMNESS = 4,
	DAP_USAGE_QUERY_RANDOMNESS = 5,
	DAP_USAGE_JOINT_RAND_SEED = 6,
	DAP_USAGE_JOINT_RAND_PART = 7,
};

#define DAP_DST_SIZE 8

/* format_dst(0, algo id, usage): version, class 0, id (4 bytes), usage (2 bytes) */
static inline void dap_prio3_dst(const struct dap_vdaf *v, unsigned usage, uint8_t dst[DAP_DST_SIZE])
{
	uint32_t id = v->id;
	dst[0] = DAP_VDAF_VERSION;
	dst[1] = 0;
	dst[2] = (uint8_t)(id >> 24);
	dst[3] = (uint8_t)(id >> 16);
	dst[4] = (uint8_t)(id >> 8);
	dst[5] = (uint8_t)id;
	dst[6] = (uint8_t)(usage >> 8);
	dst[7] = (uint8_t)usage;
}

#define DAP_PRIO3_TMPL_DECLS(P)                                                                   \
	void P##ntt(void *a, unsigned logn, int inverse);                                         \
	void P##expand_vec(struct dap_xof_ts *x, void *out, size_t n);                            \
	int P##shard(const struct dap_vdaf *v, const uint8_t *encoded_meas,                      \
		     const uint8_t *nonce, const uint8_t *rand, struct tb_bytes *public_share,     \
		     struct tb_bytes *input_shares, uint8_t *scratch);                            \
	int P##encode_meas(const struct dap_vdaf *v, const struct dap_measurement *m,             \
			   uint8_t *out);                                                          \
	int P##prep_init(const struct dap_vdaf *v, const uint8_t *verify_key, unsigned agg_id,    \
			 const uint8_t *nonce, struct tb_buf public_share, struct tb_buf input_share, \
			 uint8_t *prep_state, uint8_t *prep_share, uint8_t *scratch);              \
	int P##prep_shares_to_prep(const struct dap_vdaf *v, const struct tb_buf *prep_shares,    \
				   size_t n, uint8_t *prep_msg, uint8_t *scratch);                \
	int P##check_vec(const uint8_t *p, size_t n);                                             \
	int P##add_vec(uint8_t *acc, const uint8_t *in, size_t n);                                \
	int P##to_u64_vec(const uint8_t *in, size_t n, uint64_t *out);

DAP_PRIO3_TMPL_DECLS(dap_f64_)
DAP_PRIO3_TMPL_DECLS(dap_f128_)

#endif
