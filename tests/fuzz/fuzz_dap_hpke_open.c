/*
 * Fuzz target for the receiving side of DAP-09 HPKE: an HpkeCiphertext
 * decoded and opened with a fixed key pair. Input: a selector byte (bits
 * 0-1: suite, bit 2: aggregate-share info instead of input-share info), then
 * the HpkeCiphertext. Whatever opens must have the right length; with the
 * selector's bit 3 set, the rest of the input is instead sealed to the key
 * pair with an ephemeral key derived from it, and must open to itself.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/error.h"
#include "dap/hpke.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct dap_hpke_suite suites[4] = {
	{ DAP_HPKE_KEM_X25519_SHA256, DAP_HPKE_KDF_SHA256, DAP_HPKE_AEAD_AES128GCM },
	{ DAP_HPKE_KEM_X25519_SHA256, DAP_HPKE_KDF_SHA256, DAP_HPKE_AEAD_CHACHA20POLY1305 },
	{ DAP_HPKE_KEM_P256_SHA256, DAP_HPKE_KDF_SHA256, DAP_HPKE_AEAD_AES128GCM },
	{ DAP_HPKE_KEM_X25519_SHA256, DAP_HPKE_KDF_SHA512, DAP_HPKE_AEAD_AES256GCM },
};

static const uint8_t aad[] = "task id || report metadata || public share";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t sel = data[0];
	struct dap_hpke_suite su = suites[sel & 3];
	/* one fixed key pair per suite, derived once (P-256 derivation is slow) */
	static struct dap_hpke_keypair kps[4];
	static int have[4];
	static const uint8_t ikm[32] = { 1, 2, 3 };
	if (!have[sel & 3]) {
		if (dap_hpke_derive_keypair(su.kem_id, TB_BUF(ikm, sizeof(ikm)), &kps[sel & 3]) != 0)
			abort();
		have[sel & 3] = 1;
	}
	const struct dap_hpke_keypair kp = kps[sel & 3];
	struct dap_hpke_config cfg = { 7, su.kem_id, su.kdf_id, su.aead_id, TB_BUF(kp.pk, kp.pk_len) };
	uint8_t ib[DAP_HPKE_INFO_BUF];
	struct tb_buf info = sel & 4 ? dap_hpke_info_aggregate_share(DAP_ROLE_LEADER, ib)
				     : dap_hpke_info_input_share(DAP_ROLE_HELPER, ib);
	struct tb_buf in = TB_BUF(data + 1, size - 1), a = TB_BUF(aad, sizeof(aad) - 1);
	struct tb_bytes pt = { 0 };

	if (sel & 8) {
		/* round trip through a context with an ephemeral key derived from the input */
		struct dap_hpke_keypair eph;
		struct dap_hpke_ctx sctx, rctx;
		uint8_t enc[DAP_HPKE_MAX_ENC_LEN];
		size_t enc_len = 0;
		if (dap_hpke_derive_keypair(su.kem_id, in, &eph) != 0)
			return 0; /* longer than DAP_HPKE_MAX_IKM_LEN */
		if (dap_hpke_setup_sender(su, cfg.public_key, info, &eph, enc, &enc_len, &sctx, NULL))
			abort();
		uint8_t *ct = malloc(in.len + DAP_HPKE_TAG_LEN), *back = malloc(in.len + 1);
		if (dap_hpke_ctx_seal(&sctx, a, in, ct) ||
		    dap_hpke_setup_receiver(su, &kp, TB_BUF(enc, enc_len), info, &rctx, NULL) ||
		    dap_hpke_ctx_open(&rctx, a, TB_BUF(ct, in.len + DAP_HPKE_TAG_LEN), back) ||
		    (in.len && memcmp(back, in.p, in.len) != 0))
			abort();
		free(ct);
		free(back);
		return 0;
	}
	struct dap_hpke_ciphertext ct;
	if (dap_hpke_ciphertext_decode(in, &ct) == 0) {
		int rc = dap_hpke_open(&cfg, &kp, &ct, info, a, &pt);
		if (rc == 0 && pt.len + DAP_HPKE_TAG_LEN != ct.payload.len)
			abort();
		if (rc != 0 && pt.len != 0)
			abort(); /* nothing appended on failure */
	}
	tb_bytes_free(&pt);
	return 0;
}
