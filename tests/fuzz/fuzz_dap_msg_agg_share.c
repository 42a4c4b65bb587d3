/*
 * Fuzz target: DAP-09 AggregateShare, as the leader receives it from the helper
 * (dap/messages.c), decoded and re-encoded; see fuzz_dap_messages_common.h.
 */
#include "fuzz_dap_messages_common.h"

FUZZ_DAP_MESSAGE(struct dap_agg_share, dap_agg_share_decode, dap_agg_share_encode)
