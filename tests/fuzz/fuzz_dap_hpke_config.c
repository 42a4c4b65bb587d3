/*
 * Fuzz target for the DAP-09 HPKE decoders: HpkeConfigList, HpkeConfig and
 * HpkeCiphertext. The first input byte selects the decoder; whatever decodes
 * must re-encode to exactly the bytes it came from, and config checks must
 * not crash on any decoded config.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/error.h"
#include "dap/hpke.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same_or_abort(const struct tb_bytes *b, const uint8_t *p, size_t n)
{
	if (b->len != n || (n && memcmp(b->p, p, n) != 0))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tb_bytes out = { 0 };
	if (size < 1)
		return 0;
	uint8_t sel = data[0];
	const uint8_t *p = data + 1;
	size_t n = size - 1;
	struct tb_buf in = TB_BUF(p, n);

	switch (sel % 3) {
	case 0: {
		static struct dap_hpke_config cs[DAP_HPKE_MAX_CONFIGS];
		size_t count = 0;
		if (dap_hpke_config_list_decode(in, cs, DAP_HPKE_MAX_CONFIGS, &count) == 0) {
			if (count == 0 || count > DAP_HPKE_MAX_CONFIGS)
				abort();
			for (size_t i = 0; i < count; i++)
				(void)dap_hpke_config_check(&cs[i]);
			if (dap_hpke_config_list_encode(cs, count, &out) != 0)
				abort();
			same_or_abort(&out, p, n);
		}
		break;
	}
	case 1: {
		struct dap_hpke_config c;
		if (dap_hpke_config_decode(in, &c) == 0) {
			(void)dap_hpke_config_check(&c);
			if (dap_hpke_config_encode(&c, &out) != 0)
				abort();
			same_or_abort(&out, p, n);
		}
		break;
	}
	default: {
		struct dap_hpke_ciphertext c;
		if (dap_hpke_ciphertext_decode(in, &c) == 0) {
			if (dap_hpke_ciphertext_encode(&c, &out) != 0)
				abort();
			same_or_abort(&out, p, n);
		}
		break;
	}
	}
	tb_bytes_free(&out);
	return 0;
}
