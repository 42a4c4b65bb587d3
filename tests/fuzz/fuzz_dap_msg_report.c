/*
 * Fuzz target: DAP-09 Report, as the leader's upload endpoint receives it
 * (dap/messages.c), decoded and re-encoded; see fuzz_dap_messages_common.h.
 */
#include "fuzz_dap_messages_common.h"

FUZZ_DAP_MESSAGE(struct dap_report, dap_report_decode, dap_report_encode)
