/*
 * Prep message, out share and aggregate share decoding: prep_next against a
 * fixed state, then aggregation and unsharding of whatever the input holds.
 * Input: selector byte, then the bytes to decode.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz_dap_prio3_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dap_vdaf v;
	if (size < 1 || fuzz_vdaf(data[0], &v) != 0)
		return 0;
	data++;
	size--;
	struct tb_buf b = TB_BUF(data, size);
	uint8_t *st = calloc(1, v.prep_state_size + 1), *out = malloc(v.out_share_size + 1);
	uint8_t *agg = malloc(v.agg_share_size);
	(void)dap_prio3_check_prep_msg(&v, b);
	(void)dap_prio3_prep_next(&v, st, b, out);
	(void)dap_prio3_check_out_share(&v, b);
	dap_prio3_agg_init(&v, agg);
	(void)dap_prio3_agg_update(&v, agg, b);
	(void)dap_prio3_agg_merge(&v, agg, b);
	struct tb_buf shares[2] = { b, TB_BUF(agg, v.agg_share_size) };
	uint64_t res[16];
	(void)dap_prio3_unshard(&v, shares, 2, 1, res, 16);
	free(st);
	free(out);
	free(agg);
	return 0;
}
