/*
 * CSR checks: CSRs written by mbedtls_x509write_csr with a hand-encoded
 * subjectAltName, and hand-built CSRs (attributes, critical extensions)
 * signed with keys generated here.
 */
#include <mbedtls/oid.h>
#include <mbedtls/x509_csr.h>

#include "acme/acme.h"
#include "core/crypto.h"
#include "core/error.h"
#include "tb_test.h"

/* ---- tiny DER writer ---------------------------------------------------- */

static void der(struct tb_bytes *out, uint8_t tag, const void *p, size_t n)
{
	tb_bytes_u8(out, tag);
	if (n < 0x80) {
		tb_bytes_u8(out, (uint8_t)n);
	} else if (n < 0x100) {
		tb_bytes_u8(out, 0x81);
		tb_bytes_u8(out, (uint8_t)n);
	} else {
		tb_bytes_u8(out, 0x82);
		tb_bytes_u16(out, (uint16_t)n);
	}
	tb_bytes_append(out, p, n);
}

static void der_b(struct tb_bytes *out, uint8_t tag, struct tb_bytes *content)
{
	der(out, tag, content->p, content->len);
	tb_bytes_free(content);
}

/* SAN entries: "d:name" dNSName, "i4:a.b.c.d" / "i6:<16 bytes hex>" iPAddress, "e:x" email, "u:x" URI. */
static void san_value(struct tb_bytes *out, const char *const *names)
{
	struct tb_bytes seq = { 0 };
	for (size_t i = 0; names[i]; i++) {
		const char *n = names[i];
		if (n[0] == 'd') {
			der(&seq, 0x82, n + 2, strlen(n + 2));
		} else if (n[0] == 'e') {
			der(&seq, 0x81, n + 2, strlen(n + 2));
		} else if (n[0] == 'u') {
			der(&seq, 0x86, n + 2, strlen(n + 2));
		} else if (n[0] == 'i' && n[1] == '4') {
			unsigned a, b, c, d;
			sscanf(n + 3, "%u.%u.%u.%u", &a, &b, &c, &d);
			uint8_t ip[4] = { (uint8_t)a, (uint8_t)b, (uint8_t)c, (uint8_t)d };
			der(&seq, 0x87, ip, 4);
		} else if (n[0] == 'i' && n[1] == '6') {
			struct tb_bytes ip = { 0 };
			tb_hex_decode(&ip, n + 3, strlen(n + 3));
			der(&seq, 0x87, ip.p, ip.len);
			tb_bytes_free(&ip);
		} else if (n[0] == 'r') { /* registeredID */
			der(&seq, 0x88, "\x2a\x03", 2);
		}
	}
	der_b(out, 0x30, &seq);
}

/* ---- CSRs through mbedtls_x509write_csr --------------------------------- */

struct ext {
	const char *oid;
	size_t oid_len;
	struct tb_bytes val;
};

static int write_csr(struct tb_pkey *key, mbedtls_md_type_t md, const char *subject,
	const char *const *names, struct ext *extra, size_t n_extra, struct tb_bytes *out)
{
	mbedtls_x509write_csr w;
	mbedtls_x509write_csr_init(&w);
	mbedtls_x509write_csr_set_key(&w, tb_pkey_mbedtls(key));
	mbedtls_x509write_csr_set_md_alg(&w, md);
	int err = mbedtls_x509write_csr_set_subject_name(&w, subject);
	if (names) {
		struct tb_bytes san = { 0 };
		san_value(&san, names);
		err |= mbedtls_x509write_csr_set_extension(&w, MBEDTLS_OID_SUBJECT_ALT_NAME,
			MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME), san.p, san.len);
		tb_bytes_free(&san);
	}
	for (size_t i = 0; i < n_extra; i++)
		err |= mbedtls_x509write_csr_set_extension(&w, extra[i].oid, extra[i].oid_len, extra[i].val.p,
			extra[i].val.len);
	static unsigned char buf[16384];
	int n = mbedtls_x509write_csr_der(&w, buf, sizeof buf, tb_crypto_mbedtls_rng, NULL);
	mbedtls_x509write_csr_free(&w);
	if (err || n <= 0)
		return -1;
	out->len = 0;
	tb_bytes_append(out, buf + sizeof buf - n, (size_t)n);
	return 0;
}

static enum acme_problem_type check(const struct tb_bytes *der_csr, struct acme_csr *csr)
{
	struct acme_problem p = { 0 };
	int err = acme_csr_parse(der_csr->p, der_csr->len, csr, &p);
	if (err && getenv("TB_TEST_VERBOSE"))
		fprintf(stderr, "  refused: %s: %s\n", acme_problem_name(p.type), p.detail);
	if (err)
		return p.type ? p.type : ACME_PROB_SERVER_INTERNAL;
	return ACME_PROB_NONE;
}

static enum acme_problem_type check_free(const struct tb_bytes *der_csr)
{
	struct acme_csr csr;
	enum acme_problem_type t = check(der_csr, &csr);
	acme_csr_free(&csr);
	return t;
}

/* ---- hand-built CSRs ------------------------------------------------------ */

/* attrs: complete [0] contents (Attribute SEQUENCEs). */
static void hand_csr(struct tb_pkey *key, const char *cn, struct tb_bytes *attrs, struct tb_bytes *out)
{
	struct tb_bytes cri = { 0 }, body = { 0 }, name = { 0 }, rdn = { 0 }, atv = { 0 }, spki = { 0 };
	tb_bytes_append(&body, "\x02\x01\x00", 3);
	/* "a|b" gives two CN RDNs */
	for (const char *c = cn[0] ? cn : NULL; c;) {
		const char *bar = strchr(c, '|');
		size_t n = bar ? (size_t)(bar - c) : strlen(c);
		der(&atv, 0x06, MBEDTLS_OID_AT_CN, 3);
		der(&atv, 0x0c, c, n);
		der_b(&rdn, 0x30, &atv);
		der_b(&name, 0x31, &rdn);
		c = bar ? bar + 1 : NULL;
	}
	der_b(&body, 0x30, &name);
	tb_pkey_write_spki_der(key, &spki);
	tb_bytes_append(&body, spki.p, spki.len);
	tb_bytes_free(&spki);
	der(&body, 0xa0, attrs->p, attrs->len);
	der_b(&cri, 0x30, &body);

	uint8_t d[32];
	tb_sha256(tb_bytes_buf(&cri), d);
	struct tb_bytes sig = { 0 }, all = { 0 }, alg = { 0 }, bits = { 0 };
	tb_pkey_sign(key, TB_HASH_SHA256, d, &sig);
	der(&alg, 0x06, MBEDTLS_OID_ECDSA_SHA256, MBEDTLS_OID_SIZE(MBEDTLS_OID_ECDSA_SHA256));
	tb_bytes_append(&all, cri.p, cri.len);
	der_b(&all, 0x30, &alg);
	tb_bytes_u8(&bits, 0);
	tb_bytes_append(&bits, sig.p, sig.len);
	der_b(&all, 0x03, &bits);
	out->len = 0;
	der(out, 0x30, all.p, all.len);
	tb_bytes_free(&all);
	tb_bytes_free(&cri);
	tb_bytes_free(&sig);
}

/* An extensionRequest attribute with one extension (critical or not) plus a SAN. */
static void ext_req(struct tb_bytes *attrs, const char *oid, size_t oid_len, int critical, const char *const *names)
{
	struct tb_bytes exts = { 0 }, e = { 0 }, v = { 0 }, set = { 0 }, attr = { 0 }, seq = { 0 };
	san_value(&v, names);
	der(&e, 0x06, MBEDTLS_OID_SUBJECT_ALT_NAME, 3);
	der_b(&e, 0x04, &v);
	der_b(&exts, 0x30, &e);
	if (oid) {
		der(&e, 0x06, oid, oid_len);
		if (critical)
			tb_bytes_append(&e, "\x01\x01\xff", 3);
		der(&e, 0x04, "\x05\x00", 2);
		der_b(&exts, 0x30, &e);
	}
	der_b(&seq, 0x30, &exts);
	der_b(&set, 0x31, &seq);
	der(&attr, 0x06, MBEDTLS_OID_PKCS9_CSR_EXT_REQ, MBEDTLS_OID_SIZE(MBEDTLS_OID_PKCS9_CSR_EXT_REQ));
	tb_bytes_append(&attr, set.p, set.len);
	tb_bytes_free(&set);
	der_b(attrs, 0x30, &attr);
}

static void test_written(struct tb_pkey *ec256, struct tb_pkey *ec384, struct tb_pkey *rsa)
{
	struct tb_bytes d = { 0 };
	struct acme_csr csr;

	/* valid: mixed-case duplicates collapse, IPs kept, CN in the SAN, sorted dns then ip */
	static const char *const names[] = { "d:www.Example.com", "d:example.com", "d:EXAMPLE.com",
		"i4:127.0.0.1", "i6:20010db8000000000000000000000001", "d:*.lab.test", NULL };
	CHECK_INT(write_csr(ec256, MBEDTLS_MD_SHA256, "CN=Example.COM,O=Org,C=DE", names, NULL, 0, &d), 0);
	CHECK_INT(check(&d, &csr), ACME_PROB_NONE);
	CHECK_INT(csr.n_names, 5);
	if (csr.n_names == 5) {
		CHECK_STR(csr.names[0].value, "*.lab.test");
		CHECK_STR(csr.names[1].value, "example.com");
		CHECK_STR(csr.names[2].value, "www.example.com");
		CHECK_INT(csr.names[3].type, ACME_IDENT_IP);
		CHECK_STR(csr.names[3].value, "127.0.0.1");
		CHECK_STR(csr.names[4].value, "2001:db8::1");
	}
	CHECK_STR(csr.cn, "example.com");
	{
		/* finalize: the order's identifiers, any order, duplicates tolerated */
		struct acme_identifier ids[6] = {
			{ ACME_IDENT_IP, "2001:db8::1" }, { ACME_IDENT_DNS, "www.example.com" },
			{ ACME_IDENT_DNS, "*.lab.test" }, { ACME_IDENT_IP, "127.0.0.1" },
			{ ACME_IDENT_DNS, "example.com" }, { ACME_IDENT_DNS, "example.com" },
		};
		struct acme_problem p = { 0 };
		CHECK_INT(acme_csr_match_order(&csr, ids, 6, &p), 0);
		CHECK_INT(acme_csr_match_order(&csr, ids, 5, &p), 0);
		CHECK(acme_csr_match_order(&csr, ids, 4, &p) != 0); /* CSR has one more */
		CHECK_INT(p.type, ACME_PROB_BAD_CSR);
		ids[3].type = ACME_IDENT_DNS; /* "127.0.0.1" as a dns identifier is not the ip one */
		CHECK(acme_csr_match_order(&csr, ids, 5, &p) != 0);
	}
	CHECK_INT(csr.key_kind, ACME_KEY_EC_P256);
	CHECK_INT(csr.must_staple, 0);
	CHECK(csr.key != NULL);
	if (csr.key) {
		CHECK_INT(acme_key_differs(tb_pkey_mbedtls(csr.key), tb_pkey_mbedtls(ec256)), 0);
		CHECK_INT(acme_key_differs(tb_pkey_mbedtls(csr.key), tb_pkey_mbedtls(ec384)), 1);
		CHECK_INT(acme_key_differs(tb_pkey_mbedtls(csr.key), tb_pkey_mbedtls(rsa)), 1);
	}
	acme_csr_free(&csr);

	/* corrupt the signature's last byte, then a subject byte */
	struct tb_bytes bad = { 0 };
	tb_bytes_append(&bad, d.p, d.len);
	bad.p[bad.len - 1] ^= 1;
	CHECK_INT(check_free(&bad), ACME_PROB_BAD_CSR);
	bad.len = 0;
	tb_bytes_append(&bad, d.p, d.len);
	for (size_t i = 0; i + 3 < bad.len; i++)
		if (memcmp(bad.p + i, "Org", 3) == 0) {
			bad.p[i] = 'X';
			break;
		}
	CHECK_INT(check_free(&bad), ACME_PROB_BAD_CSR);
	/* trailing garbage, truncation, nothing */
	bad.len = 0;
	tb_bytes_append(&bad, d.p, d.len);
	tb_bytes_u8(&bad, 0);
	CHECK_INT(check_free(&bad), ACME_PROB_BAD_CSR);
	bad.len = d.len - 10;
	CHECK_INT(check_free(&bad), ACME_PROB_BAD_CSR);
	bad.len = 0;
	CHECK_INT(check_free(&bad), ACME_PROB_BAD_CSR);
	tb_bytes_free(&bad);

	/* RSA 2048, no CN, SHA-256; P-384 with SHA-384 */
	static const char *const one[] = { "d:a.example.org", NULL };
	CHECK_INT(write_csr(rsa, MBEDTLS_MD_SHA256, "O=NoCN", one, NULL, 0, &d), 0);
	CHECK_INT(check(&d, &csr), ACME_PROB_NONE);
	CHECK_STR(csr.cn, "");
	CHECK_INT(csr.key_kind, ACME_KEY_RSA);
	acme_csr_free(&csr);
	CHECK_INT(write_csr(ec384, MBEDTLS_MD_SHA384, "CN=a.example.org", one, NULL, 0, &d), 0);
	CHECK_INT(check_free(&d), ACME_PROB_NONE);
	/* SHA-1 signatures are refused */
	CHECK_INT(write_csr(ec256, MBEDTLS_MD_SHA1, "CN=a.example.org", one, NULL, 0, &d), 0);
	CHECK_INT(check_free(&d), ACME_PROB_BAD_CSR);

	/* CN not among the SANs; CN an IP address; CN too long; two CNs */
	CHECK_INT(write_csr(ec256, MBEDTLS_MD_SHA256, "CN=b.example.org", one, NULL, 0, &d), 0);
	CHECK_INT(check_free(&d), ACME_PROB_BAD_CSR);
	static const char *const ipn[] = { "i4:127.0.0.1", "d:a.example.org", NULL };
	CHECK_INT(write_csr(ec256, MBEDTLS_MD_SHA256, "CN=127.0.0.1", ipn, NULL, 0, &d), 0);
	CHECK_INT(check_free(&d), ACME_PROB_BAD_CSR);
	CHECK_INT(write_csr(ec256, MBEDTLS_MD_SHA256,
		"CN=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example.org", one, NULL, 0, &d), 0);
	CHECK_INT(check_free(&d), ACME_PROB_BAD_CSR);

	/* email, URI and other SAN forms; no SAN at all; a bad name */
	static const char *const em[] = { "d:a.example.org", "e:me@example.org", NULL };
	static const char *const ur[] = { "d:a.example.org", "u:https://example.org/", NULL };
	static const char *const rid[] = { "d:a.example.org", "r:", NULL };
	static const char *const badname[] = { "d:a..example.org", NULL };
	static const char *const badip[] = { "i6:0102", NULL };
	static const char *const none[] = { NULL };
	CHECK_INT(write_csr(ec256, MBEDTLS_MD_SHA256, "O=x", em, NULL, 0, &d), 0);
	CHECK_INT(check_free(&d), ACME_PROB_BAD_CSR);
	CHECK_INT(write_csr(ec256, MBEDTLS_MD_SHA256, "O=x", ur, NULL, 0, &d), 0);
	CHECK_INT(check_free(&d), ACME_PROB_BAD_CSR);
	CHECK_INT(write_csr(ec256, MBEDTLS_MD_SHA256, "O=x", rid, NULL, 0, &d), 0);
	CHECK_INT(check_free(&d), ACME_PROB_BAD_CSR);
	CHECK_INT(write_csr(ec256, MBEDTLS_MD_SHA256, "CN=a.example.org", NULL, NULL, 0, &d), 0);
	CHECK_INT(check_free(&d), ACME_PROB_BAD_CSR);
	CHECK_INT(write_csr(ec256, MBEDTLS_MD_SHA256, "O=x", badname, NULL, 0, &d), 0);
	CHECK_INT(check_free(&d), ACME_PROB_REJECTED_IDENTIFIER);
	CHECK_INT(write_csr(ec256, MBEDTLS_MD_SHA256, "O=x", badip, NULL, 0, &d), 0);
	CHECK_INT(check_free(&d), ACME_PROB_BAD_CSR);
	CHECK_INT(write_csr(ec256, MBEDTLS_MD_SHA256, "O=x", none, NULL, 0, &d), 0);
	CHECK_INT(check_free(&d), ACME_PROB_BAD_CSR);

	/* too many names */
	{
		static char buf[ACME_CSR_MAX_NAMES + 1][32];
		const char *many[ACME_CSR_MAX_NAMES + 2];
		for (int i = 0; i <= ACME_CSR_MAX_NAMES; i++) {
			snprintf(buf[i], sizeof buf[i], "d:n%d.example.org", i);
			many[i] = buf[i];
		}
		many[ACME_CSR_MAX_NAMES + 1] = NULL;
		CHECK_INT(write_csr(ec256, MBEDTLS_MD_SHA256, "O=x", many, NULL, 0, &d), 0);
		CHECK_INT(check_free(&d), ACME_PROB_BAD_CSR);
		many[ACME_CSR_MAX_NAMES] = NULL; /* exactly the limit */
		CHECK_INT(write_csr(ec256, MBEDTLS_MD_SHA256, "O=x", many, NULL, 0, &d), 0);
		CHECK_INT(check_free(&d), ACME_PROB_NONE);
	}

	/* extensions: basicConstraints cA=TRUE refused, cA absent fine; key usage, EKU fine; must-staple flagged */
	struct ext x[2];
	memset(x, 0, sizeof x);
	x[0].oid = MBEDTLS_OID_BASIC_CONSTRAINTS;
	x[0].oid_len = MBEDTLS_OID_SIZE(MBEDTLS_OID_BASIC_CONSTRAINTS);
	tb_bytes_append(&x[0].val, "\x30\x03\x01\x01\xff", 5);
	CHECK_INT(write_csr(ec256, MBEDTLS_MD_SHA256, "O=x", one, x, 1, &d), 0);
	CHECK_INT(check_free(&d), ACME_PROB_BAD_CSR);
	x[0].val.len = 0;
	tb_bytes_append(&x[0].val, "\x30\x00", 2);
	x[1].oid = MBEDTLS_OID_EXTENDED_KEY_USAGE;
	x[1].oid_len = MBEDTLS_OID_SIZE(MBEDTLS_OID_EXTENDED_KEY_USAGE);
	tb_bytes_append(&x[1].val, "\x30\x0a\x06\x08" MBEDTLS_OID_SERVER_AUTH, 12);
	CHECK_INT(write_csr(ec256, MBEDTLS_MD_SHA256, "O=x", one, x, 2, &d), 0);
	CHECK_INT(check_free(&d), ACME_PROB_NONE);
	tb_bytes_free(&x[0].val);
	tb_bytes_free(&x[1].val);
	x[0].oid = "\x2b\x06\x01\x05\x05\x07\x01\x18";
	x[0].oid_len = 8;
	tb_bytes_append(&x[0].val, "\x30\x03\x02\x01\x05", 5);
	CHECK_INT(write_csr(ec256, MBEDTLS_MD_SHA256, "O=x", one, x, 1, &d), 0);
	CHECK_INT(check(&d, &csr), ACME_PROB_NONE);
	CHECK_INT(csr.must_staple, 1);
	acme_csr_free(&csr);
	tb_bytes_free(&x[0].val);
	tb_bytes_free(&d);
}

static void test_hand_built(struct tb_pkey *ec256)
{
	static const char *const one[] = { "d:a.example.org", NULL };
	struct tb_bytes attrs = { 0 }, d = { 0 };

	/* baseline: the hand-built form is accepted */
	ext_req(&attrs, NULL, 0, 0, one);
	hand_csr(ec256, "a.example.org", &attrs, &d);
	CHECK_INT(check_free(&d), ACME_PROB_NONE);
	tb_bytes_free(&attrs);

	/* an empty subject (SAN-only CSRs, as certbot's acme library sends) */
	ext_req(&attrs, NULL, 0, 0, one);
	hand_csr(ec256, "", &attrs, &d);
	{
		struct acme_csr csr;
		CHECK_INT(check(&d, &csr), ACME_PROB_NONE);
		CHECK_STR(csr.cn, "");
		CHECK_INT(csr.n_names, 1);
		acme_csr_free(&csr);
	}
	tb_bytes_free(&attrs);

	/* two CNs */
	ext_req(&attrs, NULL, 0, 0, one);
	hand_csr(ec256, "a.example.org|a.example.org", &attrs, &d);
	CHECK_INT(check_free(&d), ACME_PROB_BAD_CSR);
	tb_bytes_free(&attrs);

	/* unknown non-critical extension ignored, critical refused */
	ext_req(&attrs, "\x2a\x03\x04", 3, 0, one);
	hand_csr(ec256, "a.example.org", &attrs, &d);
	CHECK_INT(check_free(&d), ACME_PROB_NONE);
	tb_bytes_free(&attrs);
	ext_req(&attrs, "\x2a\x03\x04", 3, 1, one);
	hand_csr(ec256, "a.example.org", &attrs, &d);
	CHECK_INT(check_free(&d), ACME_PROB_BAD_CSR);
	tb_bytes_free(&attrs);
	/* the same extension twice */
	ext_req(&attrs, MBEDTLS_OID_SUBJECT_ALT_NAME, 3, 0, one);
	hand_csr(ec256, "a.example.org", &attrs, &d);
	CHECK_INT(check_free(&d), ACME_PROB_BAD_CSR);
	tb_bytes_free(&attrs);

	/* a challengePassword attribute next to the extensionRequest */
	ext_req(&attrs, NULL, 0, 0, one);
	{
		struct tb_bytes a = { 0 }, set = { 0 };
		der(&a, 0x06, MBEDTLS_OID_PKCS9 "\x07", 9);
		der(&set, 0x0c, "secret", 6);
		der_b(&a, 0x31, &set);
		der_b(&attrs, 0x30, &a);
	}
	hand_csr(ec256, "a.example.org", &attrs, &d);
	CHECK_INT(check_free(&d), ACME_PROB_BAD_CSR);
	tb_bytes_free(&attrs);

	/* extensionRequest twice; no attributes at all */
	ext_req(&attrs, NULL, 0, 0, one);
	ext_req(&attrs, NULL, 0, 0, one);
	hand_csr(ec256, "a.example.org", &attrs, &d);
	CHECK_INT(check_free(&d), ACME_PROB_BAD_CSR);
	tb_bytes_free(&attrs);
	hand_csr(ec256, "a.example.org", &attrs, &d);
	CHECK_INT(check_free(&d), ACME_PROB_BAD_CSR);
	tb_bytes_free(&attrs);
	tb_bytes_free(&d);
}

int main(void)
{
	struct tb_pkey *ec256 = NULL, *ec384 = NULL, *rsa = NULL;
	CHECK_INT(tb_pkey_generate_ec(TB_CURVE_P256, &ec256), 0);
	CHECK_INT(tb_pkey_generate_ec(TB_CURVE_P384, &ec384), 0);
	CHECK_INT(tb_pkey_generate_rsa(2048, &rsa), 0);
	if (!ec256 || !ec384 || !rsa)
		return tb_test_result("test_acme_csr");
	test_written(ec256, ec384, rsa);
	test_hand_built(ec256);
	tb_pkey_free(ec256);
	tb_pkey_free(ec384);
	tb_pkey_free(rsa);
	return tb_test_result("test_acme_csr");
}
