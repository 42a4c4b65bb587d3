/*
 * Ping-pong Message decoding, and the leader and helper transitions fed
 * with it. Input: selector byte, then the message.
 */
#include <stdlib.h>

#include "fuzz_dap_prio3_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dap_vdaf v;
	struct dap_pp_message m;
	if (size < 1 || fuzz_vdaf(data[0], &v) != 0)
		return 0;
	data++;
	size--;
	struct tb_buf b = TB_BUF(data, size);
	if (dap_pp_decode(&m, b) == 0) {
		struct tb_bytes re = { 0 };
		if (dap_pp_encode(&re, &m) != 0 || re.len != size || memcmp(re.p, data, size) != 0)
			abort(); /* decode then encode must give the same bytes */
		tb_bytes_free(&re);
	}
	uint8_t *st = calloc(1, v.prep_state_size + 1), *out = malloc(v.out_share_size + 1);
	(void)dap_pp_leader_continued(&v, st, b, out);
	/* a helper with an all-zero (invalid) input share still parses the message first */
	uint8_t *pub = calloc(1, v.public_share_size + 1), *in = calloc(1, v.helper_input_share_size);
	struct tb_bytes o = { 0 };
	(void)dap_pp_helper_init(&v, fuzz_vk, fuzz_nonce, TB_BUF(pub, v.public_share_size),
				 TB_BUF(in, v.helper_input_share_size), b, out, &o, NULL);
	tb_bytes_free(&o);
	free(pub);
	free(in);
	free(st);
	free(out);
	return 0;
}
