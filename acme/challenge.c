/*
 * Challenge building blocks (RFC 8555 section 8, RFC 8737, RFC 8738):
 * tokens, key authorizations, the dns-01 TXT digest, and the checks of what
 * a validation fetched: the http-01 body and the tls-alpn-01 certificate.
 * The network side (dialing, redirects, DNS lookups, ALPN negotiation) is
 * the validation authority's; these functions only judge bytes.
 *
 * Error types follow Boulder: content that does not match the challenge is
 * "unauthorized"; a certificate that cannot be parsed is "tls".
 */
#include <arpa/inet.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <mbedtls/asn1.h>
#include <mbedtls/oid.h>
#include <mbedtls/x509_crt.h>

#include "acme/acme.h"
#include "core/error.h"

/* id-pe-acmeIdentifier, 1.3.6.1.5.5.7.1.31 (RFC 8737 section 6.1) */
#define OID_ACME_IDENTIFIER "\x2b\x06\x01\x05\x05\x07\x01\x1f"
#define TLSALPN_MAX_CERT (16u * 1024) /* bytes of a validation certificate */
#define TLSALPN_MAX_EXTENSIONS 32

static int b64url_fixed(const uint8_t *p, size_t n, char *out, size_t outlen)
{
	struct tb_bytes b = { 0 };
	int err = tb_base64url_encode(&b, p, n);
	if (!err && b.len + 1 > outlen)
		err = TB_ERR_TOO_LARGE;
	if (!err) {
		memcpy(out, b.p, b.len);
		out[b.len] = '\0';
	}
	tb_bytes_free(&b);
	return err;
}

int acme_token_new(char out[ACME_TOKEN_LEN + 1])
{
	uint8_t r[32];
	int err = tb_random(r, sizeof r);
	if (err)
		return err;
	return b64url_fixed(r, sizeof r, out, ACME_TOKEN_LEN + 1);
}

int acme_token_valid(const char *s, size_t len)
{
	if (!s || len != ACME_TOKEN_LEN)
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return 0;
	}
	return 1;
}

int acme_key_authorization(const char *token, const struct acme_key *key, char *out, size_t outlen)
{
	const char *tp = acme_key_thumbprint(key);
	if (!token || !tp)
		return TB_ERR_INVALID;
	size_t tl = strlen(token), pl = strlen(tp);
	if (tl + 1 + pl + 1 > outlen)
		return TB_ERR_TOO_LARGE;
	memcpy(out, token, tl);
	out[tl] = '.';
	memcpy(out + tl + 1, tp, pl + 1);
	return 0;
}

int acme_dns01_txt(const char *key_authz, char out[ACME_DNS01_TXT_LEN + 1])
{
	uint8_t d[TB_SHA256_LEN];
	int err = tb_sha256(TB_BUF(key_authz, strlen(key_authz)), d);
	if (err)
		return err;
	return b64url_fixed(d, sizeof d, out, ACME_DNS01_TXT_LEN + 1);
}

static int is_space(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

int acme_http01_check_body(const uint8_t *body, size_t len, const char *key_authz, int quote,
	struct acme_problem *prob)
{
	/* Boulder trims trailing whitespace (a file written with a newline is fine) */
	while (len > 0 && is_space(body[len - 1]))
		len--;
	size_t kl = strlen(key_authz);
	if (len == kl && memcmp(body, key_authz, kl) == 0)
		return 0;
	if (!quote)
		return acme_problem_set(prob, ACME_PROB_UNAUTHORIZED,
			"The key authorization file from the server did not match this challenge. Expected \"%s\" (got %zu "
			"bytes, not shown)", key_authz, len);
	int shown = len > 128 ? 128 : (int)len;
	for (int i = 0; i < shown; i++)
		if (body[i] < 0x20 || body[i] > 0x7e)
			shown = i; /* stop at the first unprintable byte */
	return acme_problem_set(prob, ACME_PROB_UNAUTHORIZED,
		"The key authorization file from the server did not match this challenge. Expected \"%s\" (got \"%.*s%s\")",
		key_authz, shown, (const char *)body, (size_t)shown < len ? "..." : "");
}

/* ---- tls-alpn-01 ----------------------------------------------------------- */

/* Accepts the (critical) acmeIdentifier extension, which mbedTLS does not know. */
static int ext_cb(void *ctx, mbedtls_x509_crt const *crt, mbedtls_x509_buf const *oid, int critical,
	const unsigned char *p, const unsigned char *end)
{
	(void)ctx;
	(void)crt;
	(void)critical;
	(void)p;
	(void)end;
	if (oid->len == sizeof OID_ACME_IDENTIFIER - 1 && memcmp(oid->p, OID_ACME_IDENTIFIER, oid->len) == 0)
		return 0;
	return -1; /* unknown critical extensions still fail the parse */
}

struct alpn_cert_view {
	int n_san;                   /* GeneralName entries in the SAN */
	uint8_t san_tag;             /* of the first entry */
	const unsigned char *san_val;
	size_t san_len;
	int n_acme_id;               /* acmeIdentifier extensions seen */
	int acme_id_critical;
	const unsigned char *acme_id; /* extnValue contents */
	size_t acme_id_len;
};

/* Walks Extensions (crt->v3_ext: the SEQUENCE OF Extension). */
static int walk_extensions(const mbedtls_x509_buf *v3, struct alpn_cert_view *v)
{
	unsigned char *p = v3->p;
	if (!p)
		return 0; /* no extensions at all (e.g. a v1 certificate): nothing will match */
	const unsigned char *end = p + v3->len;
	size_t len;
	if (mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) != 0)
		return TB_ERR_INVALID;
	end = p + len;
	size_t count = 0;
	while (p < end) {
		if (++count > TLSALPN_MAX_EXTENSIONS)
			return TB_ERR_INVALID;
		if (mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) != 0)
			return TB_ERR_INVALID;
		const unsigned char *ext_end = p + len;
		size_t olen;
		if (mbedtls_asn1_get_tag(&p, ext_end, &olen, MBEDTLS_ASN1_OID) != 0)
			return TB_ERR_INVALID;
		const unsigned char *oid = p;
		p += olen;
		int critical = 0;
		if (p < ext_end && *p == MBEDTLS_ASN1_BOOLEAN && mbedtls_asn1_get_bool(&p, ext_end, &critical) != 0)
			return TB_ERR_INVALID;
		if (mbedtls_asn1_get_tag(&p, ext_end, &len, MBEDTLS_ASN1_OCTET_STRING) != 0 || p + len != ext_end)
			return TB_ERR_INVALID;
		if (olen == sizeof OID_ACME_IDENTIFIER - 1 && memcmp(oid, OID_ACME_IDENTIFIER, olen) == 0) {
			v->n_acme_id++;
			v->acme_id_critical = critical;
			v->acme_id = p;
			v->acme_id_len = len;
		} else if (olen == MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME) &&
			memcmp(oid, MBEDTLS_OID_SUBJECT_ALT_NAME, olen) == 0) {
			unsigned char *q = p;
			const unsigned char *vend = p + len;
			size_t sl;
			if (mbedtls_asn1_get_tag(&q, vend, &sl, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) != 0 ||
				q + sl != vend)
				return TB_ERR_INVALID;
			while (q < vend) {
				if (v->n_san >= 1000)
					return TB_ERR_INVALID;
				uint8_t tag = *q++;
				size_t gl;
				if (mbedtls_asn1_get_len(&q, vend, &gl) != 0)
					return TB_ERR_INVALID;
				if (v->n_san++ == 0) {
					v->san_tag = tag;
					v->san_val = q;
					v->san_len = gl;
				}
				q += gl;
			}
		}
		p = (unsigned char *)ext_end;
	}
	return 0;
}

int acme_tlsalpn01_check_cert(const uint8_t *der, size_t len, const struct acme_identifier *id,
	const char *key_authz, struct acme_problem *prob)
{
	if (!der || len == 0 || len > TLSALPN_MAX_CERT)
		return acme_problem_set(prob, ACME_PROB_TLS, "No usable validation certificate for %s",
			id->value);
	mbedtls_x509_crt crt;
	mbedtls_x509_crt_init(&crt);
	int err;
	if (mbedtls_x509_crt_parse_der_with_ext_cb(&crt, der, len, 1, ext_cb, NULL) != 0) {
		err = acme_problem_set(prob, ACME_PROB_TLS, "Validation certificate for %s could not be parsed",
			id->value);
		goto out;
	}
	struct alpn_cert_view v;
	memset(&v, 0, sizeof v);
	if (walk_extensions(&crt.v3_ext, &v) != 0) {
		err = acme_problem_set(prob, ACME_PROB_TLS, "Validation certificate for %s has malformed extensions",
			id->value);
		goto out;
	}
	/* exactly one SAN entry: the dNSName, or for IP identifiers the iPAddress (RFC 8738 section 6) */
	int san_ok = 0;
	if (v.n_san == 1) {
		if (id->type == ACME_IDENT_DNS && v.san_tag == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 2)) {
			size_t il = strlen(id->value);
			san_ok = v.san_len == il && strncasecmp((const char *)v.san_val, id->value, il) == 0;
		} else if (id->type == ACME_IDENT_IP && v.san_tag == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7)) {
			uint8_t a[16];
			int fam;
			if (acme_ip_parse(id->value, strlen(id->value), a, &fam) == 0)
				san_ok = v.san_len == (fam == AF_INET ? 4u : 16u) && memcmp(v.san_val, a, v.san_len) == 0;
		}
	}
	if (!san_ok) {
		err = acme_problem_set(prob, ACME_PROB_UNAUTHORIZED,
			"Incorrect validation certificate for tls-alpn-01 challenge. Requested %s from the certificate; "
			"its subjectAltName must hold exactly that one name", id->value);
		goto out;
	}
	if (v.n_acme_id != 1 || !v.acme_id_critical) {
		err = acme_problem_set(prob, ACME_PROB_UNAUTHORIZED,
			"Incorrect validation certificate for tls-alpn-01 challenge. It needs exactly one critical acmeIdentifier extension");
		goto out;
	}
	/* extnValue holds the DER OCTET STRING of SHA-256(key authorization) */
	uint8_t want[TB_SHA256_LEN];
	tb_sha256(TB_BUF(key_authz, strlen(key_authz)), want);
	if (v.acme_id_len != 2 + TB_SHA256_LEN || v.acme_id[0] != MBEDTLS_ASN1_OCTET_STRING ||
		v.acme_id[1] != TB_SHA256_LEN || tb_memeq_ct(v.acme_id + 2, want, TB_SHA256_LEN) != 0) {
		err = acme_problem_set(prob, ACME_PROB_UNAUTHORIZED,
			"Incorrect validation certificate for tls-alpn-01 challenge. acmeIdentifier extension value does not match the key authorization");
		goto out;
	}
	err = 0;
out:
	mbedtls_x509_crt_free(&crt);
	return err;
}
