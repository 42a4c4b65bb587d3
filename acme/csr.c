/*
 * DESIGN: finalize-time CSR checks (RFC 8555 section 7.4, Boulder csr/).
 *
 * mbedtls_x509_csr_parse_der skips the attributes and refuses an empty
 * subject (which SAN-only clients send), so the request is walked here
 * with the bounded mbedtls/asn1.h readers; mbedTLS parses only the
 * SubjectPublicKeyInfo, the AlgorithmIdentifier and the signature:
 *
 *   CertificationRequestInfo ::= SEQUENCE { version, subject, subjectPKInfo,
 *       attributes [0] IMPLICIT SET OF Attribute }
 *   Attribute ::= SEQUENCE { type OID, values SET OF ANY }
 *   extensionRequest (1.2.840.113549.1.9.14) values: { Extensions }
 *
 * Policy (Boulder's VerifyCSR, made a little stricter where the CA would
 * silently ignore something a client probably did not mean). The cheap
 * structural checks run first and the signature is verified last, so a
 * malformed request costs no public-key operation:
 *  - signature RSA PKCS#1 v1.5 or ECDSA with SHA-256/384/512, verified;
 *  - the key passes goodkey (badCSR "invalid public key in CSR: ...");
 *  - the only attribute is extensionRequest (at most once);
 *  - extensions: subjectAltName (required), keyUsage, extendedKeyUsage,
 *    subjectKeyIdentifier, basicConstraints without cA, TLS feature
 *    (must-staple, reported to the caller); any other critical extension
 *    is refused, other non-critical ones are ignored (the CA builds the
 *    certificate from its profile, never by copying CSR extensions);
 *  - SAN entries: dNSName and iPAddress only (email and URI refused, as
 *    Boulder does, and every other GeneralName form too);
 *  - names lowercased, de-duplicated, sorted (dns before ip), syntax
 *    checked; 1..ACME_CSR_MAX_NAMES of them;
 *  - subject CN optional; if present at most one, <= 64 bytes, not an IP
 *    address, and equal to one of the dNSName entries.
 * The order's identifiers are compared with names[] by the caller.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <mbedtls/asn1.h>
#include <mbedtls/oid.h>
#include <mbedtls/platform.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509.h>

#include "acme/acme.h"
#include "core/error.h"

#define OID_TLS_FEATURE "\x2b\x06\x01\x05\x05\x07\x01\x18" /* 1.3.6.1.5.5.7.1.24 */
#define CSR_MAX_EXTENSIONS 32  /* extensions in one extensionRequest */
#define CSR_MAX_ATTRIBUTES 8   /* attributes in one CSR */
#define CSR_MAX_SAN_ENTRIES 1000 /* raw GeneralName entries before de-duplication */

static int oid_is(const mbedtls_asn1_buf *oid, const char *want, size_t wlen)
{
	return oid->len == wlen && memcmp(oid->p, want, wlen) == 0;
}
#define OID_IS(oid, lit) oid_is((oid), lit, sizeof(lit) - 1)

static int bad_csr(struct acme_problem *prob, const char *why)
{
	return acme_problem_set(prob, ACME_PROB_BAD_CSR, "%s", why);
}

static int add_name(struct acme_csr *csr, const struct acme_identifier *id, struct acme_problem *prob)
{
	for (size_t i = 0; i < csr->n_names; i++)
		if (csr->names[i].type == id->type && strcmp(csr->names[i].value, id->value) == 0)
			return 0;
	if (csr->n_names >= ACME_CSR_MAX_NAMES)
		return acme_problem_set(prob, ACME_PROB_BAD_CSR, "CSR contains more than %d identifiers",
			ACME_CSR_MAX_NAMES);
	csr->names[csr->n_names++] = *id;
	return 0;
}

/* GeneralNames ::= SEQUENCE OF GeneralName, in [p, end). */
static int parse_san(unsigned char *p, const unsigned char *end, struct acme_csr *csr, struct acme_problem *prob)
{
	size_t len;
	if (mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) != 0 ||
		p + len != end)
		return bad_csr(prob, "CSR subjectAltName extension is malformed");
	size_t count = 0;
	while (p < end) {
		if (++count > CSR_MAX_SAN_ENTRIES)
			return bad_csr(prob, "CSR subjectAltName has too many entries");
		unsigned char tag = *p++;
		if (mbedtls_asn1_get_len(&p, end, &len) != 0)
			return bad_csr(prob, "CSR subjectAltName extension is malformed");
		const unsigned char *v = p;
		p += len;
		struct acme_identifier id;
		memset(&id, 0, sizeof id);
		switch (tag) {
		case MBEDTLS_ASN1_CONTEXT_SPECIFIC | 2: /* dNSName IA5String */
			if (len == 0 || len > ACME_MAX_IDENT_LEN)
				return bad_csr(prob, "CSR contains a dNSName of bad length");
			for (size_t i = 0; i < len; i++)
				if (v[i] < 0x21 || v[i] > 0x7e)
					return bad_csr(prob, "CSR contains a dNSName with a non-printable or non-ASCII byte");
			id.type = ACME_IDENT_DNS;
			acme_dns_normalize((const char *)v, len, id.value, sizeof id.value);
			if (acme_dns_name_check(id.value, len, 1, prob) != 0)
				return TB_ERR_INVALID;
			break;
		case MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7: /* iPAddress OCTET STRING */
			if (len != 4 && len != 16)
				return bad_csr(prob, "CSR contains an iPAddress of bad length");
			id.type = ACME_IDENT_IP;
			if (acme_ip_format(v, len == 4 ? AF_INET : AF_INET6, id.value, sizeof id.value) != 0)
				return bad_csr(prob, "CSR contains a bad iPAddress");
			break;
		case MBEDTLS_ASN1_CONTEXT_SPECIFIC | 1:
			return bad_csr(prob, "CSR contains one or more email address fields");
		case MBEDTLS_ASN1_CONTEXT_SPECIFIC | 6:
			return bad_csr(prob, "CSR contains one or more URI fields");
		default:
			return bad_csr(prob, "CSR contains an unsupported subjectAltName type");
		}
		int err = add_name(csr, &id, prob);
		if (err)
			return err;
	}
	return 0;
}

/* BasicConstraints ::= SEQUENCE { cA BOOLEAN DEFAULT FALSE, pathLenConstraint INTEGER OPTIONAL } */
static int basic_constraints_is_ca(unsigned char *p, const unsigned char *end, int *is_ca)
{
	size_t len;
	*is_ca = 0;
	if (mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) != 0 ||
		p + len != end)
		return TB_ERR_INVALID;
	if (p == end)
		return 0;
	int b = 0;
	if (mbedtls_asn1_get_bool(&p, end, &b) == 0)
		*is_ca = b != 0;
	return 0;
}

enum { EXT_SAN, EXT_KU, EXT_EKU, EXT_BC, EXT_SKI, EXT_TLSF, EXT__N };

/* Extensions ::= SEQUENCE SIZE (1..MAX) OF Extension, in [p, end). */
static int parse_extensions(unsigned char *p, const unsigned char *end, struct acme_csr *csr,
	struct acme_problem *prob)
{
	size_t len;
	if (mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) != 0 ||
		p + len != end)
		return bad_csr(prob, "CSR extensionRequest is malformed");
	int seen[EXT__N] = { 0 };
	size_t count = 0;
	while (p < end) {
		if (++count > CSR_MAX_EXTENSIONS)
			return bad_csr(prob, "CSR requests too many extensions");
		if (mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) != 0)
			return bad_csr(prob, "CSR extension is malformed");
		const unsigned char *ext_end = p + len;
		mbedtls_asn1_buf oid;
		oid.tag = MBEDTLS_ASN1_OID;
		if (mbedtls_asn1_get_tag(&p, ext_end, &oid.len, MBEDTLS_ASN1_OID) != 0)
			return bad_csr(prob, "CSR extension is malformed");
		oid.p = p;
		p += oid.len;
		int critical = 0;
		if (p < ext_end && *p == MBEDTLS_ASN1_BOOLEAN) {
			if (mbedtls_asn1_get_bool(&p, ext_end, &critical) != 0)
				return bad_csr(prob, "CSR extension is malformed");
		}
		if (mbedtls_asn1_get_tag(&p, ext_end, &len, MBEDTLS_ASN1_OCTET_STRING) != 0 || p + len != ext_end)
			return bad_csr(prob, "CSR extension is malformed");
		unsigned char *val = p;
		p += len;
		int which = -1;
		if (OID_IS(&oid, MBEDTLS_OID_SUBJECT_ALT_NAME))
			which = EXT_SAN;
		else if (OID_IS(&oid, MBEDTLS_OID_KEY_USAGE))
			which = EXT_KU;
		else if (OID_IS(&oid, MBEDTLS_OID_EXTENDED_KEY_USAGE))
			which = EXT_EKU;
		else if (OID_IS(&oid, MBEDTLS_OID_BASIC_CONSTRAINTS))
			which = EXT_BC;
		else if (OID_IS(&oid, MBEDTLS_OID_SUBJECT_KEY_IDENTIFIER))
			which = EXT_SKI;
		else if (OID_IS(&oid, OID_TLS_FEATURE))
			which = EXT_TLSF;
		if (which < 0) {
			if (critical)
				return bad_csr(prob, "CSR requests an unsupported critical extension");
			continue;
		}
		if (seen[which]++)
			return bad_csr(prob, "CSR requests the same extension twice");
		int err = 0;
		if (which == EXT_SAN) {
			err = parse_san(val, val + len, csr, prob);
		} else if (which == EXT_BC) {
			int is_ca;
			if (basic_constraints_is_ca(val, val + len, &is_ca) != 0)
				err = bad_csr(prob, "CSR basicConstraints extension is malformed");
			else if (is_ca)
				err = bad_csr(prob, "CSR requests a CA certificate (basicConstraints cA)");
		} else if (which == EXT_TLSF) {
			csr->must_staple = 1;
		}
		if (err)
			return err;
	}
	if (!seen[EXT_SAN])
		return bad_csr(prob, "CSR has no subjectAltName extension; at least one identifier is required");
	return 0;
}

/* attributes [0]: the contents in [p, end). */
static int parse_attributes(unsigned char *p, const unsigned char *end, struct acme_csr *csr,
	struct acme_problem *prob)
{
	size_t len;
	int seen_ext = 0;
	size_t count = 0;
	while (p < end) {
		if (++count > CSR_MAX_ATTRIBUTES)
			return bad_csr(prob, "CSR has too many attributes");
		if (mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) != 0)
			return bad_csr(prob, "CSR attribute is malformed");
		const unsigned char *attr_end = p + len;
		mbedtls_asn1_buf oid;
		if (mbedtls_asn1_get_tag(&p, attr_end, &oid.len, MBEDTLS_ASN1_OID) != 0)
			return bad_csr(prob, "CSR attribute is malformed");
		oid.p = p;
		p += oid.len;
		if (!OID_IS(&oid, MBEDTLS_OID_PKCS9_CSR_EXT_REQ))
			return bad_csr(prob, "CSR contains an unsupported attribute (only extensionRequest is accepted)");
		if (seen_ext++)
			return bad_csr(prob, "CSR contains extensionRequest twice");
		if (mbedtls_asn1_get_tag(&p, attr_end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SET) != 0 ||
			p + len != attr_end)
			return bad_csr(prob, "CSR extensionRequest is malformed");
		/* exactly one value: the Extensions SEQUENCE spanning the whole SET */
		unsigned char *q = p;
		size_t elen;
		if (mbedtls_asn1_get_tag(&q, attr_end, &elen, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) != 0 ||
			q + elen != attr_end)
			return bad_csr(prob, "CSR extensionRequest must hold exactly one set of extensions");
		int err = parse_extensions(p, attr_end, csr, prob);
		if (err)
			return err;
		p = (unsigned char *)attr_end;
	}
	if (!seen_ext)
		return bad_csr(prob, "CSR has no extensionRequest; at least one identifier is required");
	return 0;
}

/*
 * Name ::= SEQUENCE OF RelativeDistinguishedName (SET OF AttributeTypeAndValue),
 * contents in [p, end); may be empty (SAN-only CSRs). Only the CN is kept.
 */
static int parse_subject(unsigned char *p, const unsigned char *end, struct acme_csr *csr,
	struct acme_problem *prob)
{
	size_t len, count = 0;
	int found = 0;
	while (p < end) {
		if (mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SET) != 0)
			return bad_csr(prob, "CSR subject is malformed");
		const unsigned char *set_end = p + len;
		if (p == set_end)
			return bad_csr(prob, "CSR subject is malformed");
		while (p < set_end) {
			if (++count > 64)
				return bad_csr(prob, "CSR subject has too many attributes");
			if (mbedtls_asn1_get_tag(&p, set_end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) != 0)
				return bad_csr(prob, "CSR subject is malformed");
			const unsigned char *atv_end = p + len;
			mbedtls_asn1_buf oid;
			if (mbedtls_asn1_get_tag(&p, atv_end, &oid.len, MBEDTLS_ASN1_OID) != 0)
				return bad_csr(prob, "CSR subject is malformed");
			oid.p = p;
			p += oid.len;
			if (p >= atv_end)
				return bad_csr(prob, "CSR subject is malformed");
			unsigned char vtag = *p++;
			size_t vlen;
			if (mbedtls_asn1_get_len(&p, atv_end, &vlen) != 0 || p + vlen != atv_end)
				return bad_csr(prob, "CSR subject is malformed");
			if (OID_IS(&oid, MBEDTLS_OID_AT_CN)) {
				if (vtag != MBEDTLS_ASN1_UTF8_STRING && vtag != MBEDTLS_ASN1_PRINTABLE_STRING &&
					vtag != MBEDTLS_ASN1_IA5_STRING && vtag != MBEDTLS_ASN1_T61_STRING)
					return bad_csr(prob, "CSR commonName has an unsupported string type");
				if (found++)
					return bad_csr(prob, "CSR subject has more than one commonName");
				if (vlen == 0 || vlen > ACME_CN_MAX_LEN)
					return bad_csr(prob, "CSR commonName is empty or longer than 64 bytes");
				for (size_t i = 0; i < vlen; i++)
					if (p[i] < 0x20 || p[i] > 0x7e)
						return bad_csr(prob, "CSR commonName contains a non-ASCII or control byte");
				acme_dns_normalize((const char *)p, vlen, csr->cn, sizeof csr->cn);
			}
			p += vlen;
		}
	}
	if (found) {
		uint8_t a[16];
		if (inet_pton(AF_INET, csr->cn, a) == 1 || inet_pton(AF_INET6, csr->cn, a) == 1)
			return bad_csr(prob, "CSR contains IP address in Common Name");
	}
	return 0;
}

/* The pieces of a PKCS#10 request, borrowed from the DER. */
struct csr_parts {
	const unsigned char *cri;        /* CertificationRequestInfo, header included (signed bytes) */
	size_t cri_len;
	unsigned char *subject;          /* Name contents */
	const unsigned char *subject_end;
	unsigned char *attrs;            /* [0] contents */
	const unsigned char *attrs_end;
	mbedtls_md_type_t md;
	mbedtls_pk_type_t sig_pk;
	mbedtls_x509_buf sig;
};

/*
 * CertificationRequest ::= SEQUENCE { certificationRequestInfo, signatureAlgorithm, signature BIT STRING }
 * CertificationRequestInfo ::= SEQUENCE { version INTEGER (0), subject Name,
 *     subjectPKInfo SubjectPublicKeyInfo, attributes [0] IMPLICIT Attributes }
 * mbedTLS's own CSR parser refuses an empty subject, which SAN-only ACME
 * clients send, so the structure is walked here and mbedTLS parses only the
 * public key, the algorithm identifier and the signature.
 */
static int split_csr(unsigned char *der, size_t len, struct csr_parts *c, mbedtls_pk_context *pk,
	struct acme_problem *prob)
{
	unsigned char *p = der;
	const unsigned char *end = der + len;
	size_t l;
	int ver;
	memset(c, 0, sizeof *c);
	if (mbedtls_asn1_get_tag(&p, end, &l, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) != 0 || p + l != end)
		return bad_csr(prob, "CSR is not a valid DER PKCS#10 request");
	c->cri = p;
	if (mbedtls_asn1_get_tag(&p, end, &l, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) != 0)
		return bad_csr(prob, "CSR is not a valid DER PKCS#10 request");
	const unsigned char *cri_end = p + l;
	c->cri_len = (size_t)(cri_end - c->cri);
	if (mbedtls_asn1_get_int(&p, cri_end, &ver) != 0)
		return bad_csr(prob, "CSR is not a valid DER PKCS#10 request");
	if (ver != 0)
		return bad_csr(prob, "CSR version must be 1 (v1)");
	if (mbedtls_asn1_get_tag(&p, cri_end, &l, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) != 0)
		return bad_csr(prob, "CSR subject is malformed");
	c->subject = p;
	c->subject_end = p + l;
	p += l;
	if (mbedtls_pk_parse_subpubkey(&p, cri_end, pk) != 0)
		return bad_csr(prob, "invalid public key in CSR: cannot parse it");
	if (mbedtls_asn1_get_tag(&p, cri_end, &l, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_CONTEXT_SPECIFIC | 0) != 0 ||
		p + l != cri_end)
		return bad_csr(prob, "CSR has no attributes; at least one identifier is required");
	c->attrs = p;
	c->attrs_end = cri_end;
	p = (unsigned char *)cri_end;
	mbedtls_x509_buf alg, params;
	void *opts = NULL;
	if (mbedtls_x509_get_alg(&p, end, &alg, &params) != 0)
		return bad_csr(prob, "CSR signature algorithm is malformed");
	int r = mbedtls_x509_get_sig_alg(&alg, &params, &c->md, &c->sig_pk, &opts);
	mbedtls_free(opts); /* RSASSA-PSS options; PSS itself is refused below */
	if (r != 0)
		return bad_csr(prob, "signature algorithm not supported");
	if (mbedtls_x509_get_sig(&p, end, &c->sig) != 0 || p != end)
		return bad_csr(prob, "CSR signature is malformed");
	return 0;
}

void acme_csr_free(struct acme_csr *csr)
{
	if (!csr)
		return;
	tb_pkey_free(csr->key);
	csr->key = NULL;
}

int acme_csr_parse(const uint8_t *der, size_t len, struct acme_csr *csr, struct acme_problem *prob)
{
	memset(csr, 0, sizeof *csr);
	if (!der || len == 0)
		return bad_csr(prob, "CSR is empty");
	if (len > ACME_CSR_MAX_DER)
		return bad_csr(prob, "CSR is too large");
	/* mbedTLS's asn1 readers take non-const pointers; they never write */
	unsigned char *buf = (unsigned char *)der;
	mbedtls_pk_context pk;
	mbedtls_pk_init(&pk);
	struct csr_parts c;
	int err;
	if ((err = split_csr(buf, len, &c, &pk, prob)) != 0)
		goto out;
	/* key policy first, as Boulder */
	struct acme_problem kp = { 0 };
	if (acme_goodkey_check(&pk, &csr->key_kind, &kp) != 0) {
		err = acme_problem_set(prob, ACME_PROB_BAD_CSR, "invalid public key in CSR: %.300s", kp.detail);
		goto out;
	}
	/* signature algorithm: RSA PKCS#1 v1.5 or ECDSA, SHA-256/384/512, matching the key */
	enum tb_hash_alg hash;
	switch (c.md) {
	case MBEDTLS_MD_SHA256:
		hash = TB_HASH_SHA256;
		break;
	case MBEDTLS_MD_SHA384:
		hash = TB_HASH_SHA384;
		break;
	case MBEDTLS_MD_SHA512:
		hash = TB_HASH_SHA512;
		break;
	default:
		err = bad_csr(prob, "signature algorithm not supported");
		goto out;
	}
	int key_is_rsa = csr->key_kind == ACME_KEY_RSA;
	if (!((c.sig_pk == MBEDTLS_PK_RSA && key_is_rsa) || (c.sig_pk == MBEDTLS_PK_ECDSA && !key_is_rsa))) {
		err = bad_csr(prob, "signature algorithm not supported");
		goto out;
	}
	if ((err = parse_attributes(c.attrs, c.attrs_end, csr, prob)) != 0)
		goto out;
	if ((err = parse_subject(c.subject, c.subject_end, csr, prob)) != 0)
		goto out;
	if (csr->n_names == 0) {
		err = bad_csr(prob, "at least one identifier is required");
		goto out;
	}
	qsort(csr->names, csr->n_names, sizeof csr->names[0], acme_ident_cmp);
	if (csr->cn[0]) {
		int match = 0;
		for (size_t i = 0; i < csr->n_names && !match; i++)
			match = csr->names[i].type == ACME_IDENT_DNS && strcmp(csr->names[i].value, csr->cn) == 0;
		if (!match) {
			err = bad_csr(prob, "CSR commonName is not one of its subjectAltName dNSNames");
			goto out;
		}
	}
	/* self-signature over CertificationRequestInfo: last, as the costliest check;
	 * through the tb_pkey the certificate will be issued for */
	if (tb_pkey_from_mbedtls_public(&pk, &csr->key) != 0) {
		err = acme_problem_set(prob, ACME_PROB_SERVER_INTERNAL, "could not copy the CSR key");
		goto out;
	}
	uint8_t digest[TB_HASH_MAX_LEN];
	if (tb_hash(hash, TB_BUF(c.cri, c.cri_len), digest) != 0 ||
		tb_pkey_verify(csr->key, hash, digest, TB_BUF(c.sig.p, c.sig.len)) != 0) {
		err = bad_csr(prob, "invalid signature on CSR");
		goto out;
	}
	err = 0;
out:
	mbedtls_pk_free(&pk);
	if (err) {
		acme_csr_free(csr);
		return err < 0 ? err : TB_ERR_INVALID;
	}
	return 0;
}

int acme_csr_match_order(const struct acme_csr *csr, const struct acme_identifier *order_ids, size_t n,
	struct acme_problem *prob)
{
	/* csr->names is sorted and unique; every order identifier must be in it, and the counts equal */
	size_t found = 0;
	for (size_t i = 0; i < n; i++) {
		int dup = 0;
		for (size_t j = 0; j < i && !dup; j++)
			dup = order_ids[j].type == order_ids[i].type && strcmp(order_ids[j].value, order_ids[i].value) == 0;
		if (dup)
			continue;
		const struct acme_identifier *hit = bsearch(&order_ids[i], csr->names, csr->n_names,
			sizeof csr->names[0], acme_ident_cmp);
		if (!hit)
			return bad_csr(prob, "CSR does not specify same identifiers as Order");
		found++;
	}
	if (found != csr->n_names)
		return bad_csr(prob, "CSR does not specify same identifiers as Order");
	return 0;
}
