/*
 * Public share and input share decoding through prep_init. Input: selector
 * byte (VDAF in bits 0-1, aggregator id in bit 2), then the public share
 * (exactly public_share_size bytes when there are enough) and the input share.
 */
#include <stdlib.h>

#include "fuzz_dap_prio3_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dap_vdaf v;
	if (size < 1 || fuzz_vdaf(data[0], &v) != 0)
		return 0;
	unsigned agg_id = (data[0] >> 2) & 1;
	data++;
	size--;
	size_t pl = size < v.public_share_size ? size : v.public_share_size;
	struct tb_buf pub = TB_BUF(data, pl), in = TB_BUF(data + pl, size - pl);
	(void)dap_prio3_check_public_share(&v, pub);
	(void)dap_prio3_check_input_share(&v, agg_id, in);
	uint8_t *st = malloc(v.prep_state_size + 1), *ps = malloc(v.prep_share_size + 1);
	(void)dap_prio3_prep_init(&v, fuzz_vk, agg_id, fuzz_nonce, pub, in, st, ps, NULL);
	free(st);
	free(ps);
	return 0;
}
