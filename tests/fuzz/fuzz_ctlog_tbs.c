/*
 * The DER editing that turns a precertificate into its log entry's
 * TBSCertificate (poison removed, issuer and AKI taken from a
 * Precertificate Signing Certificate). Input: a 2-byte big-endian length,
 * the precertificate DER, then the optional signing certificate DER. The
 * result must itself be a single well-formed DER SEQUENCE.
 */
#include <mbedtls/asn1.h>
#include <stdint.h>
#include <stdlib.h>

#include "ctlog/ctlog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	size_t n = (size_t)data[0] << 8 | data[1];
	if (n > size - 2)
		return 0;
	struct tb_buf pre = TB_BUF(data + 2, n), psc = TB_BUF(data + 2 + n, size - 2 - n);
	struct tb_bytes out = { 0 };
	if (ct_precert_tbs(pre, psc, &out) == 0) {
		unsigned char *p = out.p;
		size_t len;
		if (mbedtls_asn1_get_tag(&p, out.p + out.len, &len,
			MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) != 0 || p + len != out.p + out.len)
			abort();
	}
	tb_bytes_free(&out);
	return 0;
}
