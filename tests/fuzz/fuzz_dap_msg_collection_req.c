/*
 * Fuzz target: DAP-09 CollectionReq, as the leader receives it from a collector
 * (dap/messages.c), decoded and re-encoded; see fuzz_dap_messages_common.h.
 */
#include "fuzz_dap_messages_common.h"

FUZZ_DAP_MESSAGE(struct dap_collection_req, dap_collection_req_decode, dap_collection_req_encode)
