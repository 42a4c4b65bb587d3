/*
 * HPKE (RFC 9180), base mode, as DAP-09 uses it, and the DAP-09 encodings
 * of HpkeConfig, HpkeConfigList and HpkeCiphertext.
 *
 * Suites: KEM DHKEM(X25519, HKDF-SHA256) 0x0020 and DHKEM(P-256,
 * HKDF-SHA256) 0x0010; KDF HKDF-SHA256 0x0001 (HKDF-SHA384 0x0002 and
 * HKDF-SHA512 0x0003 as well, they cost nothing); AEAD AES-128-GCM 0x0001,
 * AES-256-GCM 0x0002, ChaCha20-Poly1305 0x0003. Export-only AEAD and the
 * PSK/auth modes are not offered.
 *
 * Layers, lowest first:
 *  - key pairs: generate, DeriveKeyPair (RFC 9180 section 7.1.3), from sk;
 *  - contexts: dap_hpke_setup_sender / _receiver run Encap/Decap and the key
 *    schedule; dap_hpke_ctx_seal / _open encrypt with the sequence-number
 *    nonce; dap_hpke_ctx_export is the secret export;
 *  - single shot on a DAP HpkeConfig: dap_hpke_seal / dap_hpke_open.
 * No global state; every function is reentrant.
 */
#ifndef DAP_HPKE_H
#define DAP_HPKE_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

enum {
	DAP_HPKE_KEM_P256_SHA256 = 0x0010,
	DAP_HPKE_KEM_X25519_SHA256 = 0x0020,

	DAP_HPKE_KDF_SHA256 = 0x0001,
	DAP_HPKE_KDF_SHA384 = 0x0002,
	DAP_HPKE_KDF_SHA512 = 0x0003,

	DAP_HPKE_AEAD_AES128GCM = 0x0001,
	DAP_HPKE_AEAD_AES256GCM = 0x0002,
	DAP_HPKE_AEAD_CHACHA20POLY1305 = 0x0003,
};

#define DAP_HPKE_MAX_PK_LEN 65   /* Npk: 32 (X25519), 65 (P-256 uncompressed) */
#define DAP_HPKE_MAX_SK_LEN 32   /* Nsk */
#define DAP_HPKE_MAX_ENC_LEN 65  /* Nenc == Npk for both KEMs */
#define DAP_HPKE_MAX_KEY_LEN 32  /* Nk */
#define DAP_HPKE_NONCE_LEN 12    /* Nn for every supported AEAD */
#define DAP_HPKE_TAG_LEN 16      /* Nt */
#define DAP_HPKE_MAX_NH 64       /* Nh of HKDF-SHA512 */
#define DAP_HPKE_MAX_INFO_LEN 1024     /* cap on info and exporter_context */
#define DAP_HPKE_MAX_IKM_LEN 1024      /* cap on DeriveKeyPair input */
#define DAP_HPKE_MAX_CONFIGS 256       /* cap on HpkeConfigList entries (ids are u8) */
#define DAP_HPKE_MAX_PAYLOAD (64u << 20) /* cap on a ciphertext payload we open */

struct dap_hpke_suite {
	uint16_t kem_id;
	uint16_t kdf_id;
	uint16_t aead_id;
};

/* 0 when this build implements the suite, TB_ERR_UNSUPPORTED otherwise. */
int dap_hpke_suite_supported(struct dap_hpke_suite suite);
/* Npk (== Nenc) and Nsk of a KEM; 0 for an unknown KEM. */
size_t dap_hpke_kem_pk_len(uint16_t kem_id);
size_t dap_hpke_kem_sk_len(uint16_t kem_id);

/* A KEM key pair (serialised forms). Plain memory: wipe with tb_crypto_wipe. */
struct dap_hpke_keypair {
	uint16_t kem_id;
	uint8_t sk[DAP_HPKE_MAX_SK_LEN];
	size_t sk_len;
	uint8_t pk[DAP_HPKE_MAX_PK_LEN];
	size_t pk_len;
};

int dap_hpke_keygen(uint16_t kem_id, struct dap_hpke_keypair *kp);
/* DeriveKeyPair(ikm), RFC 9180 section 7.1.3 (ikm.len >= Nsk is recommended). */
int dap_hpke_derive_keypair(uint16_t kem_id, struct tb_buf ikm, struct dap_hpke_keypair *kp);
/* From a serialised private key; computes the public key. */
int dap_hpke_keypair_from_sk(uint16_t kem_id, struct tb_buf sk, struct dap_hpke_keypair *kp);

/* An encryption context after the key schedule (RFC 9180 section 5.1). */
struct dap_hpke_ctx {
	struct dap_hpke_suite suite;
	uint8_t key[DAP_HPKE_MAX_KEY_LEN];
	size_t key_len;                      /* Nk */
	uint8_t base_nonce[DAP_HPKE_NONCE_LEN];
	uint8_t exporter_secret[DAP_HPKE_MAX_NH];
	size_t exporter_secret_len;          /* Nh of the KDF */
	uint64_t seq;                        /* next sequence number */
};

/*
 * SetupBaseS: encapsulates to pk_r and runs the key schedule. enc receives
 * Nenc bytes (*enc_len set). eph, when not NULL, is the ephemeral key pair
 * to use (deterministic tests); otherwise one is generated. shared_secret,
 * when not NULL, receives the KEM shared secret (32 bytes, for tests).
 */
int dap_hpke_setup_sender(struct dap_hpke_suite suite, struct tb_buf pk_r, struct tb_buf info,
			  const struct dap_hpke_keypair *eph, uint8_t *enc, size_t *enc_len,
			  struct dap_hpke_ctx *ctx, uint8_t *shared_secret);
/* SetupBaseR: decapsulates enc with kp_r and runs the key schedule. */
int dap_hpke_setup_receiver(struct dap_hpke_suite suite, const struct dap_hpke_keypair *kp_r,
			    struct tb_buf enc, struct tb_buf info, struct dap_hpke_ctx *ctx,
			    uint8_t *shared_secret);
/* Seal/Open with the nonce for ctx->seq, then increment it. Seal writes
 * pt.len + DAP_HPKE_TAG_LEN bytes; Open writes ct.len - DAP_HPKE_TAG_LEN
 * and returns TB_ERR_VERIFY (seq unchanged) when authentication fails. */
int dap_hpke_ctx_seal(struct dap_hpke_ctx *ctx, struct tb_buf aad, struct tb_buf pt, uint8_t *out);
int dap_hpke_ctx_open(struct dap_hpke_ctx *ctx, struct tb_buf aad, struct tb_buf ct, uint8_t *out);
/* Export(exporter_context, L), L <= 255 * Nh. */
int dap_hpke_ctx_export(const struct dap_hpke_ctx *ctx, struct tb_buf exporter_context,
			uint8_t *out, size_t out_len);
/* Wipes the secrets in a context. */
void dap_hpke_ctx_clear(struct dap_hpke_ctx *ctx);

/* ---- DAP-09 encodings ---------------------------------------------------- */

/* The DAP roles, as HPKE info strings name them. */
enum {
	DAP_ROLE_COLLECTOR = 0,
	DAP_ROLE_CLIENT = 1,
	DAP_ROLE_LEADER = 2,
	DAP_ROLE_HELPER = 3,
};

/* struct { HpkeConfigId id; kem_id; kdf_id; aead_id; opaque public_key<1..2^16-1>; } */
struct dap_hpke_config {
	uint8_t id;
	uint16_t kem_id;
	uint16_t kdf_id;
	uint16_t aead_id;
	struct tb_buf public_key; /* borrowed */
};

/* struct { HpkeConfigId config_id; opaque enc<1..2^16-1>; opaque payload<1..2^32-1>; } */
struct dap_hpke_ciphertext {
	uint8_t config_id;
	struct tb_buf enc;     /* borrowed */
	struct tb_buf payload; /* borrowed */
};

static inline struct dap_hpke_suite dap_hpke_config_suite(const struct dap_hpke_config *c)
{
	return (struct dap_hpke_suite){ c->kem_id, c->kdf_id, c->aead_id };
}

/* Encoders append to out. */
int dap_hpke_config_encode(const struct dap_hpke_config *c, struct tb_bytes *out);
int dap_hpke_config_list_encode(const struct dap_hpke_config *cs, size_t n, struct tb_bytes *out);
int dap_hpke_ciphertext_encode(const struct dap_hpke_ciphertext *c, struct tb_bytes *out);

/* Decoders that read one value from a reader (for embedding in larger
 * messages); slices borrow the reader's memory. Unknown algorithm ids are
 * accepted here (a client skips them); see dap_hpke_config_check. */
int dap_hpke_config_read(struct tb_reader *r, struct dap_hpke_config *c);
int dap_hpke_ciphertext_read(struct tb_reader *r, struct dap_hpke_ciphertext *c);
/* Whole-buffer decoders: trailing bytes are TB_ERR_TRAILING. */
int dap_hpke_config_decode(struct tb_buf in, struct dap_hpke_config *c);
int dap_hpke_ciphertext_decode(struct tb_buf in, struct dap_hpke_ciphertext *c);
/* HpkeConfigList<1..2^16-1>: fills up to max entries (at most
 * DAP_HPKE_MAX_CONFIGS; more is TB_ERR_TOO_LARGE), sets *n. */
int dap_hpke_config_list_decode(struct tb_buf in, struct dap_hpke_config *cs, size_t max,
				size_t *n);

/* 0 when the config names a supported suite and a well-formed public key
 * (right length, on the curve); TB_ERR_UNSUPPORTED or TB_ERR_INVALID. */
int dap_hpke_config_check(const struct dap_hpke_config *c);

/* DAP-09 info strings, written into buf (DAP_HPKE_INFO_BUF bytes):
 *   input share:     "dap-09 input share" || 0x01 || server_role
 *   aggregate share: "dap-09 aggregate share" || server_role || 0x00 */
#define DAP_HPKE_INFO_BUF 32
struct tb_buf dap_hpke_info_input_share(uint8_t server_role, uint8_t buf[DAP_HPKE_INFO_BUF]);
struct tb_buf dap_hpke_info_aggregate_share(uint8_t server_role, uint8_t buf[DAP_HPKE_INFO_BUF]);

/* DAP-09 aad strings, appended to out:
 *   InputShareAad     { TaskID task_id[32]; ReportMetadata { ReportID report_id[16];
 *                       Time time; }; opaque public_share<0..2^32-1>; }
 *   AggregateShareAad { TaskID task_id[32]; opaque agg_param<0..2^32-1>;
 *                       BatchSelector batch_selector; }  (the selector passed encoded)
 * TB_ERR_TOO_LARGE for a vector longer than its prefix allows. */
int dap_hpke_aad_input_share(const uint8_t task_id[32], const uint8_t report_id[16],
			     uint64_t time, struct tb_buf public_share, struct tb_bytes *out);
int dap_hpke_aad_aggregate_share(const uint8_t task_id[32], struct tb_buf agg_param,
				 struct tb_buf batch_selector, struct tb_bytes *out);

/*
 * Single-shot SealBase to the public key of cfg: fills ct->config_id and
 * appends enc and payload to the two writers (ct->enc and ct->payload are
 * set to borrow them, valid until the writers change).
 */
int dap_hpke_seal(const struct dap_hpke_config *cfg, struct tb_buf info, struct tb_buf aad,
		  struct tb_buf pt, struct tb_bytes *enc_out, struct tb_bytes *payload_out,
		  struct dap_hpke_ciphertext *ct);
/* Single-shot OpenBase with the key pair behind cfg: TB_ERR_NOT_FOUND when
 * ct->config_id is not cfg->id, TB_ERR_VERIFY when decryption fails.
 * The plaintext is appended to pt. */
int dap_hpke_open(const struct dap_hpke_config *cfg, const struct dap_hpke_keypair *kp,
		  const struct dap_hpke_ciphertext *ct, struct tb_buf info, struct tb_buf aad,
		  struct tb_bytes *pt);

#endif
