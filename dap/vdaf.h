/*
 * VDAF (draft-irtf-cfrg-vdaf-08): Prio3Count, Prio3Sum, Prio3SumVec and
 * Prio3Histogram over the fields Field64 / Field128, the XOFs they use, and
 * the ping-pong topology that DAP-09 wraps around preparation.
 *
 * Shape of the API:
 *  - a struct dap_vdaf, built once from (type, params) by dap_vdaf_init,
 *    holds every size the caller needs (messages, states, scratch); it is
 *    read-only afterwards and can be shared between threads;
 *  - no global state; prep_init and prep_shares_to_prep allocate nothing
 *    when the caller passes a scratch block (struct dap_prio3_scratch, one
 *    per thread), one block per call otherwise; sharding and the ping-pong
 *    helpers make a few small allocations;
 *  - every message crosses the API in its VDAF-08 wire encoding: the caller
 *    stores and ships bytes, and every decoder checks lengths exactly
 *    (truncated or overlong input is TB_ERR_INVALID) and field elements for
 *    canonical form.
 *
 * Return values follow core/error.h: 0 or a negative code; a proof that
 * does not verify or a joint randomness mismatch is TB_ERR_VERIFY.
 */
#ifndef DAP_VDAF_H
#define DAP_VDAF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <stdlib.h>

#include "core/buf.h"

__extension__ typedef unsigned __int128 dap_u128;
__extension__ typedef __int128 dap_i128;

/* ------------------------------------------------------------------ XOFs */

#define DAP_TURBOSHAKE_RATE 168
#define DAP_XOF_SEED_SIZE 16

struct dap_turboshake {
	uint64_t s[25];
	size_t pos;     /* byte position in the rate part */
	int squeezing;  /* absorbing ended, padding applied */
	uint8_t domain; /* domain-separation byte D */
};

void dap_turboshake128_init(struct dap_turboshake *t, uint8_t domain);
void dap_turboshake128_absorb(struct dap_turboshake *t, const void *data, size_t n);
void dap_turboshake128_squeeze(struct dap_turboshake *t, void *out, size_t n);
void dap_turboshake128(uint8_t domain, const void *in, size_t n, void *out, size_t outlen);

/* XofTurboShake128: init with seed and dst, absorb the binder (in pieces), then read. */
struct dap_xof_ts {
	struct dap_turboshake ts;
};
int dap_xof_ts_init(struct dap_xof_ts *x, const uint8_t seed[DAP_XOF_SEED_SIZE],
		    const uint8_t *dst, size_t dst_len);
void dap_xof_ts_binder(struct dap_xof_ts *x, const void *binder, size_t n);
void dap_xof_ts_next(struct dap_xof_ts *x, void *out, size_t n);
int dap_xof_ts_derive_seed(uint8_t out[DAP_XOF_SEED_SIZE], const uint8_t seed[DAP_XOF_SEED_SIZE],
			   const uint8_t *dst, size_t dst_len, const uint8_t *binder, size_t binder_len);
/*
 * expand_into_vec for Field128 (field 128) or Field64 (field 64), written as
 * the canonical encoding of n elements into out (n * 16 or n * 8 bytes).
 */
int dap_xof_ts_expand_vec(int field, const uint8_t seed[DAP_XOF_SEED_SIZE], const uint8_t *dst,
			  size_t dst_len, const uint8_t *binder, size_t binder_len, size_t n,
			  uint8_t *out);

/* XofFixedKeyAes128 (for Poplar1's IDPF). */
struct dap_xof_aes {
	void *aes; /* mbedtls_aes_context */
	uint8_t seed[DAP_XOF_SEED_SIZE];
	uint64_t consumed;
};
int dap_xof_aes_init(struct dap_xof_aes *x, const uint8_t seed[DAP_XOF_SEED_SIZE],
		     const uint8_t *dst, size_t dst_len, const uint8_t *binder, size_t binder_len);
int dap_xof_aes_next(struct dap_xof_aes *x, void *out, size_t n);
void dap_xof_aes_free(struct dap_xof_aes *x);

/* ------------------------------------------------------------------ Prio3 */

#define DAP_VDAF_VERSION 8
#define DAP_PRIO3_NONCE_SIZE 16
#define DAP_PRIO3_VERIFY_KEY_SIZE 16
#define DAP_PRIO3_SEED_SIZE DAP_XOF_SEED_SIZE

/* Limits on parameters (a task's configuration is input too). */
#define DAP_VDAF_MAX_SHARES 255
#define DAP_VDAF_MAX_PROOFS 255
#define DAP_VDAF_MAX_BITS 64              /* Sum / SumVec bits per element */
#define DAP_VDAF_MAX_MEAS_LEN (1u << 20)   /* encoded measurement, field elements */
#define DAP_VDAF_MAX_CHUNK_LENGTH (1u << 16)
#define DAP_VDAF_MAX_SCRATCH ((size_t)256 << 20) /* per-call working memory, bytes */

/* VDAF-08 codepoints */
enum dap_vdaf_type {
	DAP_PRIO3_COUNT = 0x00000000,
	DAP_PRIO3_SUM = 0x00000001,
	DAP_PRIO3_SUMVEC = 0x00000002,
	DAP_PRIO3_HISTOGRAM = 0x00000003,
};

struct dap_vdaf_params {
	unsigned shares;       /* number of aggregators, 2..255 (0 means 2) */
	unsigned proofs;       /* 0 means the draft's value (1) */
	unsigned bits;         /* Sum, SumVec */
	unsigned length;       /* SumVec, Histogram */
	unsigned chunk_length; /* SumVec, Histogram */
	/*
	 * Variants outside the draft's table, for libprio's Prio3SumVec over
	 * Field64 with several proofs: field 0 means the draft's field (64 or
	 * 128 may be forced for SumVec), id 0 the draft's codepoint (else the
	 * codepoint bound into every domain-separation tag, 0xFFFFFFFF for the
	 * private-use variants).
	 */
	unsigned field;
	uint32_t id;
};

enum dap_gadget_kind {
	DAP_GADGET_MUL = 1,          /* x * y */
	DAP_GADGET_RANGE2 = 2,       /* PolyEval(x^2 - x) */
	DAP_GADGET_PARALLEL_SUM_MUL = 3, /* ParallelSum(Mul, chunk_length) */
};

struct dap_vdaf {
	enum dap_vdaf_type type;
	uint32_t id;         /* codepoint in domain-separation tags */
	int field;           /* 64 or 128 */
	size_t elem_size;    /* encoded field element: 8 or 16 */
	unsigned shares;
	unsigned proofs;
	unsigned bits, length, chunk_length;

	/* the validity circuit: one gadget, called gadget_calls times */
	enum dap_gadget_kind gadget;
	size_t gadget_arity;
	size_t gadget_calls;
	size_t gadget_p;      /* next_power_of_2(1 + gadget_calls) */
	unsigned gadget_log2p;

	/* FLP lengths, in field elements (per proof) */
	size_t meas_len, output_len, joint_rand_len;
	size_t prove_rand_len, query_rand_len, proof_len, verifier_len;

	/* wire sizes, in bytes */
	size_t rand_size;           /* shard's random input */
	size_t public_share_size;
	size_t leader_input_share_size;
	size_t helper_input_share_size;
	size_t prep_share_size;
	size_t prep_msg_size;
	size_t prep_state_size;     /* out share || corrected joint rand seed */
	size_t out_share_size;
	size_t agg_share_size;
	size_t scratch_size;        /* per-call working memory */
	uint8_t shares_inv[16];     /* encoded 1 / shares (the circuits' num_shares inverse) */
};

int dap_vdaf_init(struct dap_vdaf *v, enum dap_vdaf_type type, const struct dap_vdaf_params *params);
size_t dap_vdaf_input_share_size(const struct dap_vdaf *v, unsigned agg_id);

/*
 * A measurement: Count and Sum take values[0]; Histogram takes the bucket
 * index in values[0]; SumVec takes `length` values. Out-of-range values are
 * refused here (TB_ERR_INVALID); tests that play a malicious client use
 * dap_prio3_shard_encoded.
 */
struct dap_measurement {
	const uint64_t *values;
	size_t count;
};

/*
 * Shards a measurement. rand is v->rand_size bytes of fresh randomness.
 * public_share gets v->public_share_size bytes; input_shares[i] the i-th
 * aggregator's share (leader first). Outputs are appended.
 */
int dap_prio3_shard(const struct dap_vdaf *v, const struct dap_measurement *m,
		    const uint8_t nonce[DAP_PRIO3_NONCE_SIZE], const uint8_t *rand, size_t rand_len,
		    struct tb_bytes *public_share, struct tb_bytes *input_shares);
/* Same, from an already encoded measurement (v->meas_len field elements, little-endian encoded). */
int dap_prio3_shard_encoded(const struct dap_vdaf *v, const uint8_t *encoded_meas,
			    const uint8_t nonce[DAP_PRIO3_NONCE_SIZE], const uint8_t *rand,
			    size_t rand_len, struct tb_bytes *public_share,
			    struct tb_bytes *input_shares);

/*
 * Per-call working memory: pass NULL to let the call allocate
 * v->scratch_size bytes itself, or a buffer of that size (one per thread) to
 * make the call allocation-free.
 */
struct dap_prio3_scratch {
	void *p;
	size_t len;
};

/*
 * prep_init. Writes v->prep_state_size bytes of state and
 * v->prep_share_size bytes of prep share.
 */
int dap_prio3_prep_init(const struct dap_vdaf *v, const uint8_t *verify_key, unsigned agg_id,
			const uint8_t nonce[DAP_PRIO3_NONCE_SIZE], struct tb_buf public_share,
			struct tb_buf input_share, uint8_t *prep_state, uint8_t *prep_share,
			struct dap_prio3_scratch *scratch);

/* One report of a batch. */
struct dap_prio3_report {
	const uint8_t *nonce; /* DAP_PRIO3_NONCE_SIZE bytes (the DAP report id) */
	struct tb_buf public_share;
	struct tb_buf input_share;
};

/*
 * prep_init for n reports with one scratch block: states is n *
 * v->prep_state_size bytes, prep_shares n * v->prep_share_size, results[i]
 * gets each report's return code. Returns 0, or an error that concerns the
 * whole batch (out of memory).
 */
int dap_prio3_prep_init_batch(const struct dap_vdaf *v, const uint8_t *verify_key,
			      unsigned agg_id, size_t n, const struct dap_prio3_report *reports,
			      uint8_t *states, uint8_t *prep_shares, int *results);

/* Combines one prep share per aggregator (leader first) into the prep message (v->prep_msg_size bytes). */
int dap_prio3_prep_shares_to_prep(const struct dap_vdaf *v, const struct tb_buf *prep_shares,
				  size_t n, uint8_t *prep_msg, struct dap_prio3_scratch *scratch);

/* prep_next: checks the joint randomness and writes the out share (v->out_share_size bytes). */
int dap_prio3_prep_next(const struct dap_vdaf *v, const uint8_t *prep_state,
			struct tb_buf prep_msg, uint8_t *out_share);

/* Aggregation over encoded shares: agg_share is v->agg_share_size bytes. */
void dap_prio3_agg_init(const struct dap_vdaf *v, uint8_t *agg_share);
int dap_prio3_agg_update(const struct dap_vdaf *v, uint8_t *agg_share, struct tb_buf out_share);
int dap_prio3_agg_merge(const struct dap_vdaf *v, uint8_t *agg_share, struct tb_buf other);

/*
 * unshard: result gets v->output_len integers (1 for Count and Sum).
 * TB_ERR_TOO_LARGE if an aggregate does not fit 64 bits: a Sum above 2^64,
 * or any aggregate that carries differential-privacy noise and came out
 * negative (it is then p - |x|); use dap_prio3_unshard_u128 for those.
 */
int dap_prio3_unshard(const struct dap_vdaf *v, const struct tb_buf *agg_shares, size_t n,
		      uint64_t num_measurements, uint64_t *result, size_t result_len);
/*
 * unshard to the field's integers, as libprio decodes them: result gets
 * v->output_len canonical values in [0, p). A noised aggregate is read
 * with dap_vdaf_centered (values above p/2 stand for negative ones).
 */
int dap_prio3_unshard_u128(const struct dap_vdaf *v, const struct tb_buf *agg_shares, size_t n,
			   uint64_t num_measurements, dap_u128 *result, size_t result_len);
/* The modulus p of the VDAF's field. */
dap_u128 dap_vdaf_modulus(const struct dap_vdaf *v);
/* x in [0, p) as the representative in (-p/2, p/2]. */
dap_i128 dap_vdaf_centered(const struct dap_vdaf *v, dap_u128 x);

/* Validation of encoded messages (length exact, field elements canonical). */
int dap_prio3_check_public_share(const struct dap_vdaf *v, struct tb_buf b);
int dap_prio3_check_input_share(const struct dap_vdaf *v, unsigned agg_id, struct tb_buf b);
int dap_prio3_check_prep_share(const struct dap_vdaf *v, struct tb_buf b);
int dap_prio3_check_prep_msg(const struct dap_vdaf *v, struct tb_buf b);
int dap_prio3_check_out_share(const struct dap_vdaf *v, struct tb_buf b);
int dap_prio3_check_agg_share(const struct dap_vdaf *v, struct tb_buf b);

/* ---------------------------------------------------- ping-pong (VDAF-08 5.8) */
/* Two aggregators only: the transitions return TB_ERR_UNSUPPORTED otherwise. */

enum dap_pp_type {
	DAP_PP_INITIALIZE = 0,
	DAP_PP_CONTINUE = 1,
	DAP_PP_FINISH = 2,
};

/* A decoded Message; prep_share / prep_msg borrow from the decoded bytes. */
struct dap_pp_message {
	enum dap_pp_type type;
	struct tb_buf prep_msg;   /* continue, finish */
	struct tb_buf prep_share; /* initialize, continue */
};

#define DAP_PP_MAX_MESSAGE (1u << 30)

int dap_pp_encode(struct tb_bytes *out, const struct dap_pp_message *m);
int dap_pp_decode(struct dap_pp_message *m, struct tb_buf in);

enum dap_pp_state {
	DAP_PP_CONTINUED = 1, /* waiting for the peer */
	DAP_PP_FINISHED = 2,  /* out share ready */
};

/*
 * Leader, round 0: prep_init and the outbound initialize message. On
 * success *state is DAP_PP_CONTINUED and prep_state holds the VDAF state.
 */
int dap_pp_leader_init(const struct dap_vdaf *v, const uint8_t *verify_key,
		       const uint8_t nonce[DAP_PRIO3_NONCE_SIZE], struct tb_buf public_share,
		       struct tb_buf input_share, uint8_t *prep_state, struct tb_bytes *outbound,
		       struct dap_prio3_scratch *scratch);
/*
 * Helper: prep_init, combine with the leader's initialize message, then
 * finish. On success the out share is ready (v->out_share_size bytes) and
 * outbound holds the finish message.
 */
int dap_pp_helper_init(const struct dap_vdaf *v, const uint8_t *verify_key,
		       const uint8_t nonce[DAP_PRIO3_NONCE_SIZE], struct tb_buf public_share,
		       struct tb_buf input_share, struct tb_buf inbound, uint8_t *out_share,
		       struct tb_bytes *outbound, struct dap_prio3_scratch *scratch);
/* Leader, after the helper's answer: a finish message yields the out share. */
int dap_pp_leader_continued(const struct dap_vdaf *v, const uint8_t *prep_state,
			    struct tb_buf inbound, uint8_t *out_share);

#endif
