/*
 * Fuzz target: DAP-09 AggregationJobContinueReq, as the helper receives it
 * (dap/messages.c), decoded and re-encoded; see fuzz_dap_messages_common.h.
 */
#include "fuzz_dap_messages_common.h"

FUZZ_DAP_MESSAGE(struct dap_agg_job_continue_req, dap_agg_job_continue_req_decode, fuzz_enc_cont)
