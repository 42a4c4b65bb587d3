/*
 * Fuzz target: DAP-09 AggregationJobResp, as the leader receives it from the helper
 * (dap/messages.c), decoded and re-encoded; see fuzz_dap_messages_common.h.
 */
#include "fuzz_dap_messages_common.h"

FUZZ_DAP_MESSAGE(struct dap_agg_job_resp, dap_agg_job_resp_decode, fuzz_enc_resp)
