/*
 * prep_init over a batch with one reused scratch block must give, report by
 * report, exactly what separate calls give: a corrupted, short or
 * non-canonical report among valid ones fails alone and leaves nothing
 * behind in the scratch that changes the next report's state or prep share.
 * Same for a caller's scratch reused across calls, and a scratch that is too
 * small (the call then allocates its own).
 */
#include "tb_test.h"

#include "core/error.h"
#include "dap/vdaf.h"

#define N 12

static const uint8_t vk[16] = { 0x5a, 1, 2, 3 };

static void run(enum dap_vdaf_type t, const struct dap_vdaf_params *p, uint64_t (*val)(int, size_t))
{
	struct dap_vdaf v;
	CHECK_INT(dap_vdaf_init(&v, t, p), 0);
	uint8_t nonces[N][16];
	struct tb_bytes pub[N], sh[N][2];
	uint8_t *rand = malloc(v.rand_size);
	size_t per = t == DAP_PRIO3_SUMVEC ? v.length : 1;
	uint64_t *vals = malloc(per * 8);
	for (int r = 0; r < N; r++) {
		for (size_t i = 0; i < v.rand_size; i++)
			rand[i] = (uint8_t)(r * 31 + i);
		memset(nonces[r], r, 16);
		for (size_t i = 0; i < per; i++)
			vals[i] = val(r, i);
		struct dap_measurement m = { vals, per };
		memset(&pub[r], 0, sizeof(pub[r]));
		memset(sh[r], 0, sizeof(sh[r]));
		CHECK_INT(dap_prio3_shard(&v, &m, nonces[r], rand, v.rand_size, &pub[r], sh[r]), 0);
	}
	/* spoil some: a flipped leader byte (proof fails later, prep_init succeeds),
	 * a short share, a non-canonical first element, a wrong public share */
	sh[2][0].p[sh[2][0].len / 2] ^= 1;
	sh[4][0].len--;
	memset(sh[6][0].p, 0xff, v.elem_size);
	if (pub[8].len)
		pub[8].len--;
	else
		sh[8][1].len++;
	for (unsigned agg = 0; agg < 2; agg++) {
		struct dap_prio3_report reps[N];
		for (int r = 0; r < N; r++)
			reps[r] = (struct dap_prio3_report){ nonces[r], tb_bytes_buf(&pub[r]),
							     tb_bytes_buf(&sh[r][agg]) };
		uint8_t *st = calloc(N, v.prep_state_size + 1), *ps = calloc(N, v.prep_share_size + 1);
		uint8_t *st1 = calloc(1, v.prep_state_size + 1), *ps1 = calloc(1, v.prep_share_size + 1);
		int res[N];
		CHECK_INT(dap_prio3_prep_init_batch(&v, vk, agg, N, reps, st, ps, res), 0);
		struct dap_prio3_scratch mine = { malloc(v.scratch_size), v.scratch_size };
		struct dap_prio3_scratch small = { malloc(16), 16 };
		memset(mine.p, 0xcc, v.scratch_size);
		for (int r = 0; r < N; r++) {
			int rc = dap_prio3_prep_init(&v, vk, agg, nonces[r], reps[r].public_share,
						     reps[r].input_share, st1, ps1, NULL);
			CHECK_INT(res[r], rc);
			int bad = (agg == 0 && (r == 4 || r == 6)) ||
				  (r == 8 && (v.public_share_size > 0 || agg == 1));
			CHECK_INT(rc != 0, bad);
			if (rc)
				continue;
			CHECK_MEM(st + r * v.prep_state_size, v.prep_state_size, st1, v.prep_state_size);
			CHECK_MEM(ps + r * v.prep_share_size, v.prep_share_size, ps1, v.prep_share_size);
			/* a caller's scratch, dirty from the previous report */
			CHECK_INT(dap_prio3_prep_init(&v, vk, agg, nonces[r], reps[r].public_share,
						      reps[r].input_share, st1, ps1, &mine),
				  0);
			CHECK_MEM(ps + r * v.prep_share_size, v.prep_share_size, ps1, v.prep_share_size);
			CHECK_INT(dap_prio3_prep_init(&v, vk, agg, nonces[r], reps[r].public_share,
						      reps[r].input_share, st1, ps1, &small),
				  0);
			CHECK_MEM(ps + r * v.prep_share_size, v.prep_share_size, ps1, v.prep_share_size);
		}
		free(mine.p);
		free(small.p);
		free(st);
		free(ps);
		free(st1);
		free(ps1);
	}
	/* the whole round for the good reports; the flipped one is refused */
	for (int r = 0; r < N; r++) {
		if (r == 4 || r == 6 || r == 8)
			continue; /* refused at prep_init above */
		uint8_t *st0 = malloc(v.prep_state_size), *st1 = malloc(v.prep_state_size);
		uint8_t *ps0 = malloc(v.prep_share_size + 1), *ps1 = malloc(v.prep_share_size + 1);
		uint8_t msg[16];
		CHECK_INT(dap_prio3_prep_init(&v, vk, 0, nonces[r], tb_bytes_buf(&pub[r]),
					      tb_bytes_buf(&sh[r][0]), st0, ps0, NULL),
			  0);
		CHECK_INT(dap_prio3_prep_init(&v, vk, 1, nonces[r], tb_bytes_buf(&pub[r]),
					      tb_bytes_buf(&sh[r][1]), st1, ps1, NULL),
			  0);
		struct tb_buf psb[2] = { TB_BUF(ps0, v.prep_share_size), TB_BUF(ps1, v.prep_share_size) };
		CHECK_INT(dap_prio3_prep_shares_to_prep(&v, psb, 2, msg, NULL), r == 2 ? TB_ERR_VERIFY : 0);
		free(st0);
		free(st1);
		free(ps0);
		free(ps1);
	}
	for (int r = 0; r < N; r++) {
		tb_bytes_free(&pub[r]);
		tb_bytes_free(&sh[r][0]);
		tb_bytes_free(&sh[r][1]);
	}
	free(rand);
	free(vals);
}

static uint64_t v_count(int r, size_t i) { (void)i; return (uint64_t)r & 1; }
static uint64_t v_sum(int r, size_t i) { (void)i; return (uint64_t)r * 1000003u; }
static uint64_t v_hist(int r, size_t i) { (void)i; return (uint64_t)r % 30; }
static uint64_t v_vec(int r, size_t i) { return (uint64_t)(r + (int)i) % 8; }

int main(void)
{
	struct dap_vdaf_params s = { .shares = 2, .bits = 32 };
	struct dap_vdaf_params h = { .shares = 2, .length = 30, .chunk_length = 4 };
	struct dap_vdaf_params sv = { .shares = 2, .bits = 3, .length = 17, .chunk_length = 5 };
	run(DAP_PRIO3_COUNT, NULL, v_count);
	run(DAP_PRIO3_SUM, &s, v_sum);
	run(DAP_PRIO3_HISTOGRAM, &h, v_hist);
	run(DAP_PRIO3_SUMVEC, &sv, v_vec);
	return tb_test_result("dap_prio3_batch");
}
