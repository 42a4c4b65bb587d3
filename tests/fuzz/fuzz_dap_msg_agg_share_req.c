/*
 * Fuzz target: DAP-09 AggregateShareReq, as the helper receives it
 * (dap/messages.c), decoded and re-encoded; see fuzz_dap_messages_common.h.
 */
#include "fuzz_dap_messages_common.h"

FUZZ_DAP_MESSAGE(struct dap_agg_share_req, dap_agg_share_req_decode, dap_agg_share_req_encode)
