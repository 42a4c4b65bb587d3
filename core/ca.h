/*
 * The appliance's certificate authority material: a root CA and an
 * intermediate (both ECDSA P-256), and the certificate of the HTTPS
 * listeners, issued by the intermediate for localhost, 127.0.0.1, ::1 and the
 * configured host names. Generated on first start, kept in the store (kv
 * table, PEM), reused on restart; the server certificate is re-issued when
 * its names change or it is within 30 days of expiry.
 */
#ifndef TB_CA_H
#define TB_CA_H

#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/crypto.h"
#include "core/store.h"

struct tb_ca {
	struct tb_pkey *root_key;
	mbedtls_x509_crt root;          /* self-signed */
	struct tb_pkey *intermediate_key;
	mbedtls_x509_crt intermediate;  /* signed by root */
	char *root_pem;
	char *intermediate_pem;
	uint8_t root_sha256[32];        /* SHA-256 of the root's DER */
	/* HTTPS listener certificate. */
	char *server_chain_pem;         /* server certificate then intermediate */
	char *server_key_pem;
};

/* Loads the CA from the store, creating what is missing. Start-up only (synchronous writes). */
int tb_ca_load_or_create(struct tb_ca **out, struct tb_store *st, const char *ca_name,
	const char *const *hostnames, size_t n_hostnames);
void tb_ca_free(struct tb_ca *ca);
/* "AB:CD:..." upper-case colon-separated SHA-256 fingerprint of the root. */
void tb_ca_root_fingerprint(const struct tb_ca *ca, char *out, size_t outlen);

/* DER helpers used to build certificate extensions mbedTLS 2.28 cannot. */
int tb_der_tlv(struct tb_bytes *out, uint8_t tag, const void *content, size_t len);
/*
 * subjectAltName extension value (GeneralNames) for names that are DNS names
 * or IPv4/IPv6 literals. Returns TB_ERR_INVALID for an unusable name.
 */
int tb_der_san(struct tb_bytes *out, const char *const *names, size_t n);

/* An extension mbedTLS cannot write itself (CT poison, SCT list, acmeIdentifier, ...). */
struct tb_cert_ext {
	const char *oid;     /* OID content octets (as in mbedtls/oid.h MBEDTLS_OID_*) */
	size_t oid_len;
	int critical;
	struct tb_buf value; /* the extnValue content (DER) */
};

/*
 * What tb_ca_sign puts in a certificate.
 * subject: mbedTLS subject string ("CN=x,O=y"); NULL or "" for an empty
 * subject (then the SAN should be marked critical, RFC 5280 4.2.1.6).
 * serial: big-endian positive integer (at most 20 bytes); NULL = 16 random bytes.
 * is_ca, pathlen (-1 = none); key_usage bits (MBEDTLS_X509_KU_*);
 * eku_server/eku_client add extendedKeyUsage; not_before/not_after in
 * seconds since the epoch; exts: further extensions, added as given.
 */
struct tb_cert_template {
	const char *subject;
	const struct tb_buf *san;
	int san_critical;
	const struct tb_buf *serial;
	int is_ca;
	int pathlen;
	unsigned key_usage;
	int eku_server, eku_client;
	int64_t not_before, not_after;
	const struct tb_cert_ext *exts;
	size_t n_exts;
};
/*
 * Signs a certificate for subject_key with issuer_key; issuer NULL means
 * self-signed. Appends the certificate as PEM to pem_out and/or as DER to
 * der_out (either may be NULL). The signature is tb_pkey's (core/crypto.h),
 * so the keys may be shared with other threads signing at the same time.
 */
int tb_ca_sign(const struct tb_cert_template *t, struct tb_pkey *subject_key,
	struct tb_pkey *issuer_key, const mbedtls_x509_crt *issuer, struct tb_bytes *pem_out,
	struct tb_bytes *der_out);

/* mbedTLS f_rng backed by libsodium's CSPRNG (thread-safe). */
int tb_ca_rng(void *ctx, unsigned char *out, size_t len);

#endif
