/*
 * Fuzz target: DAP-09 PlaintextInputShare, as an aggregator reads it after HPKE open
 * (dap/messages.c), decoded and re-encoded; see fuzz_dap_messages_common.h.
 */
#include "fuzz_dap_messages_common.h"

FUZZ_DAP_MESSAGE(struct dap_plaintext_input_share, dap_plaintext_input_share_decode, fuzz_enc_pis)
