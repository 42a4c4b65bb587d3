/*
 * What the C report tools share (tests/integration/dap/bad_report.c and
 * tests/bench/dap_reports.c): hex arguments, exit on error, and sealing one
 * input share to an aggregator's HPKE config as a DAP-09 client does.
 * Each tool defines TOOL_NAME before including this file.
 */
#ifndef TB_TESTS_DAP_REPORT_TOOL_H
#define TB_TESTS_DAP_REPORT_TOOL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "core/error.h"
#include "dap/hpke.h"
#include "dap/messages.h"
#include "dap/vdaf.h"

static struct tb_bytes unhex(const char *s)
{
	struct tb_bytes b = { 0 };
	if (tb_hex_decode(&b, s, strlen(s)) != 0) {
		fprintf(stderr, "%s: bad hex\n", TOOL_NAME);
		exit(2);
	}
	return b;
}

static void check(int rc, const char *what)
{
	if (rc) {
		fprintf(stderr, "%s: %s: %s\n", TOOL_NAME, what, tb_strerror(rc));
		exit(1);
	}
}

/* Seals one input share: PlaintextInputShare{no extensions, share} to cfg. */
static void seal(const struct dap_hpke_config *cfg, uint8_t role, const uint8_t *task,
		 const struct dap_report_metadata *md, struct tb_buf pub, struct tb_buf share,
		 struct tb_bytes *enc, struct tb_bytes *payload, struct dap_hpke_ciphertext *ct)
{
	struct tb_bytes pt = { 0 }, aad = { 0 };
	uint8_t info_buf[DAP_HPKE_INFO_BUF];
	check(dap_plaintext_input_share_encode(NULL, 0, share, &pt), "plaintext input share");
	check(dap_hpke_aad_input_share(task, md->id, md->time, pub, &aad), "aad");
	check(dap_hpke_seal(cfg, dap_hpke_info_input_share(role, info_buf), tb_bytes_buf(&aad),
			    tb_bytes_buf(&pt), enc, payload, ct), "seal");
	tb_bytes_free(&pt);
	tb_bytes_free(&aad);
}

#endif
