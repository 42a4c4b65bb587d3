/*
 * Shared by the Prio3 fuzz targets: the first input byte picks one of four
 * small VDAF configurations (the vector files' parameters).
 */
#ifndef FUZZ_DAP_PRIO3_COMMON_H
#define FUZZ_DAP_PRIO3_COMMON_H

#include "core/error.h"
#include "dap/vdaf.h"

static const uint8_t fuzz_vk[16] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 };
static const uint8_t fuzz_nonce[16] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 };

static int fuzz_vdaf(uint8_t sel, struct dap_vdaf *v)
{
	static const struct dap_vdaf_params p[4] = {
		{ .shares = 2, .proofs = 1 },
		{ .shares = 2, .proofs = 1, .bits = 8 },
		{ .shares = 2, .proofs = 1, .bits = 8, .length = 10, .chunk_length = 9 },
		{ .shares = 2, .proofs = 1, .length = 4, .chunk_length = 2 },
	};
	static const enum dap_vdaf_type t[4] = { DAP_PRIO3_COUNT, DAP_PRIO3_SUM, DAP_PRIO3_SUMVEC,
						 DAP_PRIO3_HISTOGRAM };
	return dap_vdaf_init(v, t[sel & 3], &p[sel & 3]);
}

#endif
