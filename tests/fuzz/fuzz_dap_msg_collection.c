/*
 * Fuzz target: DAP-09 Collection, as a collector receives it from the leader
 * (dap/messages.c), decoded and re-encoded; see fuzz_dap_messages_common.h.
 */
#include "fuzz_dap_messages_common.h"

FUZZ_DAP_MESSAGE(struct dap_collection, dap_collection_decode, dap_collection_encode)
