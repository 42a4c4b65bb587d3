/*
 * A test certificate for the CT log tests, signed with mbedtls: subject and
 * its key, issuer and its key, serial; ca makes a CA (basicConstraints), a
 * leaf gets the serverAuth EKU, and poison adds the CT precertificate poison
 * extension. The DER is appended to out.
 */
#ifndef CTLOG_TEST_CERT_H
#define CTLOG_TEST_CERT_H

#include <mbedtls/oid.h>
#include <mbedtls/x509_crt.h>

#include "core/buf.h"
#include "core/crypto.h"

static int ct_test_cert(struct tb_bytes *out, const char *subject, struct tb_pkey *skey, const char *issuer,
	struct tb_pkey *ikey, int serial, int ca, int poison)
{
	static const char oid_eku[] = MBEDTLS_OID_EXTENDED_KEY_USAGE;
	static const uint8_t eku_server[] = { 0x30, 0x0a, 0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x01 };
	mbedtls_x509write_cert w;
	mbedtls_mpi sn;
	mbedtls_x509write_crt_init(&w);
	mbedtls_mpi_init(&sn);
	mbedtls_mpi_lset(&sn, serial);
	mbedtls_x509write_crt_set_md_alg(&w, MBEDTLS_MD_SHA256);
	mbedtls_x509write_crt_set_serial(&w, &sn);
	mbedtls_x509write_crt_set_validity(&w, "20260101000000", "20270101000000");
	mbedtls_x509write_crt_set_subject_name(&w, subject);
	mbedtls_x509write_crt_set_issuer_name(&w, issuer);
	mbedtls_x509write_crt_set_subject_key(&w, tb_pkey_mbedtls(skey));
	mbedtls_x509write_crt_set_issuer_key(&w, tb_pkey_mbedtls(ikey));
	mbedtls_x509write_crt_set_basic_constraints(&w, ca, -1);
	if (!ca)
		mbedtls_x509write_crt_set_extension(&w, oid_eku, sizeof oid_eku - 1, 0, eku_server, sizeof eku_server);
	if (poison)
		mbedtls_x509write_crt_set_extension(&w, "\x2b\x06\x01\x04\x01\xd6\x79\x02\x04\x03", 10, 1,
			(const unsigned char *)"\x05\x00", 2);
	unsigned char buf[4096];
	int n = mbedtls_x509write_crt_der(&w, buf, sizeof buf, tb_crypto_mbedtls_rng, NULL);
	mbedtls_x509write_crt_free(&w);
	mbedtls_mpi_free(&sn);
	return n > 0 ? tb_bytes_append(out, buf + sizeof buf - n, (size_t)n) : -1;
}

#endif
