/*
 * ACME Renewal Information (RFC 9773) certificate identifiers: the path
 * component of a renewalInfo request and the "replaces" field of a
 * newOrder are base64url(AKI keyIdentifier) "." base64url(serial), where
 * the serial is its DER INTEGER content (a positive number, so a leading
 * zero octet when the top bit is set). Parsing is strict (no padding,
 * minimal positive serials) so one certificate has exactly one CertID.
 */
#include <string.h>

#include <mbedtls/asn1.h>
#include <mbedtls/oid.h>
#include <mbedtls/x509_crt.h>

#include "acme/acme.h"
#include "core/error.h"

#define ARI_MAX_CERT (64u * 1024) /* bytes of a certificate given to acme_ari_cert_id_from_der */

static int serial_ok(const uint8_t *p, size_t n)
{
	if (n == 0 || n > ACME_ARI_MAX_SERIAL)
		return 0;
	if (p[0] & 0x80)
		return 0; /* negative */
	if (n > 1 && p[0] == 0 && !(p[1] & 0x80))
		return 0; /* not minimal */
	return 1;
}

static int decode_part(const char *s, size_t n, uint8_t *out, size_t cap, size_t *out_len)
{
	if (n == 0 || n > (cap * 4 + 2) / 3)
		return TB_ERR_INVALID;
	struct tb_bytes b = { 0 };
	int err = tb_base64url_decode(&b, s, n);
	if (!err && (b.len == 0 || b.len > cap))
		err = TB_ERR_INVALID;
	if (!err) {
		memcpy(out, b.p, b.len);
		*out_len = b.len;
	}
	tb_bytes_free(&b);
	return err ? TB_ERR_INVALID : 0;
}

int acme_ari_cert_id_parse(const char *s, size_t len, struct acme_cert_id *out)
{
	memset(out, 0, sizeof *out);
	if (!s || len == 0 || len > ACME_ARI_MAX_CERT_ID)
		return TB_ERR_INVALID;
	const char *dot = memchr(s, '.', len);
	if (!dot)
		return TB_ERR_INVALID;
	size_t al = (size_t)(dot - s), sl = len - al - 1;
	if (decode_part(s, al, out->aki, sizeof out->aki, &out->aki_len) != 0 ||
		decode_part(dot + 1, sl, out->serial, sizeof out->serial, &out->serial_len) != 0 ||
		!serial_ok(out->serial, out->serial_len)) {
		memset(out, 0, sizeof *out);
		return TB_ERR_INVALID;
	}
	return 0;
}

int acme_ari_cert_id_format(const struct acme_cert_id *id, char *out, size_t outlen)
{
	if (id->aki_len == 0 || id->aki_len > sizeof id->aki || !serial_ok(id->serial, id->serial_len))
		return TB_ERR_INVALID;
	struct tb_bytes b = { 0 };
	tb_base64url_encode(&b, id->aki, id->aki_len);
	tb_bytes_append(&b, ".", 1);
	tb_base64url_encode(&b, id->serial, id->serial_len);
	int err = b.err;
	if (!err && b.len + 1 > outlen)
		err = TB_ERR_TOO_LARGE;
	if (!err) {
		memcpy(out, b.p, b.len);
		out[b.len] = '\0';
	}
	tb_bytes_free(&b);
	return err;
}

/* AuthorityKeyIdentifier ::= SEQUENCE { keyIdentifier [0] IMPLICIT OCTET STRING OPTIONAL, ... } */
static int find_aki(const mbedtls_x509_buf *v3, struct acme_cert_id *out)
{
	unsigned char *p = v3->p;
	if (!p)
		return TB_ERR_NOT_FOUND;
	const unsigned char *end = p + v3->len;
	size_t len;
	if (mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) != 0)
		return TB_ERR_INVALID;
	end = p + len;
	for (int count = 0; p < end; count++) {
		if (count > 64 || mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) != 0)
			return TB_ERR_INVALID;
		const unsigned char *ext_end = p + len;
		size_t olen;
		if (mbedtls_asn1_get_tag(&p, ext_end, &olen, MBEDTLS_ASN1_OID) != 0)
			return TB_ERR_INVALID;
		int is_aki = olen == MBEDTLS_OID_SIZE(MBEDTLS_OID_AUTHORITY_KEY_IDENTIFIER) &&
			memcmp(p, MBEDTLS_OID_AUTHORITY_KEY_IDENTIFIER, olen) == 0;
		p += olen;
		int critical;
		if (p < ext_end && *p == MBEDTLS_ASN1_BOOLEAN && mbedtls_asn1_get_bool(&p, ext_end, &critical) != 0)
			return TB_ERR_INVALID;
		if (mbedtls_asn1_get_tag(&p, ext_end, &len, MBEDTLS_ASN1_OCTET_STRING) != 0 || p + len != ext_end)
			return TB_ERR_INVALID;
		if (is_aki) {
			unsigned char *q = p;
			size_t sl, kl;
			if (mbedtls_asn1_get_tag(&q, ext_end, &sl, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) != 0 ||
				mbedtls_asn1_get_tag(&q, q + sl, &kl, MBEDTLS_ASN1_CONTEXT_SPECIFIC | 0) != 0)
				return TB_ERR_NOT_FOUND;
			if (kl == 0 || kl > sizeof out->aki)
				return TB_ERR_INVALID;
			memcpy(out->aki, q, kl);
			out->aki_len = kl;
			return 0;
		}
		p = (unsigned char *)ext_end;
	}
	return TB_ERR_NOT_FOUND;
}

int acme_ari_cert_id_from_der(const uint8_t *der, size_t len, struct acme_cert_id *out)
{
	memset(out, 0, sizeof *out);
	if (!der || len == 0 || len > ARI_MAX_CERT)
		return TB_ERR_INVALID;
	mbedtls_x509_crt crt;
	mbedtls_x509_crt_init(&crt);
	int err = mbedtls_x509_crt_parse_der(&crt, der, len) != 0 ? TB_ERR_INVALID : 0;
	if (!err)
		err = find_aki(&crt.v3_ext, out);
	if (!err) {
		if (!serial_ok(crt.serial.p, crt.serial.len)) {
			err = TB_ERR_INVALID;
		} else {
			memcpy(out->serial, crt.serial.p, crt.serial.len);
			out->serial_len = crt.serial.len;
		}
	}
	mbedtls_x509_crt_free(&crt);
	if (err)
		memset(out, 0, sizeof *out);
	return err;
}

int acme_ari_chain_matches(const uint8_t *chain, size_t len, const struct acme_cert_id *id)
{
	/* The leaf is the first SEQUENCE of the chain (long form, two length bytes: 256..65535 bytes). */
	size_t leaf = 0;
	if (chain && len > 4 && chain[0] == 0x30 && chain[1] == 0x82)
		leaf = 4 + (((size_t)chain[2] << 8) | chain[3]);
	struct acme_cert_id mine;
	return leaf && leaf <= len && acme_ari_cert_id_from_der(chain, leaf, &mine) == 0 && mine.aki_len == id->aki_len &&
		memcmp(mine.aki, id->aki, id->aki_len) == 0;
}
