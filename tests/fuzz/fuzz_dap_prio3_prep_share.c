/*
 * Prep share decoding through prep_shares_to_prep. Input: selector byte,
 * then two prep shares, split at the configuration's prep share size.
 */
#include <stdlib.h>

#include "fuzz_dap_prio3_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dap_vdaf v;
	if (size < 1 || fuzz_vdaf(data[0], &v) != 0)
		return 0;
	data++;
	size--;
	size_t l = size < v.prep_share_size ? size : v.prep_share_size;
	struct tb_buf ps[2] = { TB_BUF(data, l), TB_BUF(data + l, size - l) };
	(void)dap_prio3_check_prep_share(&v, ps[0]);
	(void)dap_prio3_check_prep_share(&v, ps[1]);
	uint8_t msg[DAP_XOF_SEED_SIZE];
	(void)dap_prio3_prep_shares_to_prep(&v, ps, 2, msg, NULL);
	return 0;
}
