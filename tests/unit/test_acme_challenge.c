/*
 * Challenge helpers: tokens, key authorizations, dns-01 digest, http-01
 * body check and tls-alpn-01 certificates built here with mbedTLS.
 */
#include <mbedtls/oid.h>
#include <mbedtls/x509_crt.h>

#include "acme/acme.h"
#include "core/crypto.h"
#include "core/error.h"
#include "tb_test.h"

#define OID_ACME_ID "\x2b\x06\x01\x05\x05\x07\x01\x1f"

static const char rfc_jwk[] =
	"{\"kty\":\"RSA\",\"e\":\"AQAB\",\"n\":\"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPF"
	"FxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2"
	"QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRw"
	"r3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw\"}";

static void test_tokens(void)
{
	char a[ACME_TOKEN_LEN + 1], b[ACME_TOKEN_LEN + 1];
	CHECK_INT(acme_token_new(a), 0);
	CHECK_INT(acme_token_new(b), 0);
	CHECK_INT(strlen(a), ACME_TOKEN_LEN);
	CHECK(strcmp(a, b) != 0);
	CHECK(acme_token_valid(a, strlen(a)));
	CHECK(!acme_token_valid("short", 5));
	CHECK(!acme_token_valid("evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-o/", 43));
	CHECK(acme_token_valid("evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA", 43));

	struct acme_key *k = NULL;
	struct acme_problem p = { 0 };
	CHECK_INT(acme_key_from_jwk_json(rfc_jwk, strlen(rfc_jwk), &k, &p), 0);
	char ka[ACME_KEY_AUTHZ_MAX];
	CHECK_INT(acme_key_authorization("evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA", k, ka, sizeof ka), 0);
	CHECK_STR(ka, "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
	CHECK_INT(acme_key_authorization("tok", k, ka, 10), TB_ERR_TOO_LARGE);
	acme_key_free(k);

	/* base64url(SHA-256("abc")) */
	char txt[ACME_DNS01_TXT_LEN + 1];
	CHECK_INT(acme_dns01_txt("abc", txt), 0);
	CHECK_STR(txt, "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0");
}

static void test_http01(void)
{
	const char *ka = "tok.thumb";
	struct acme_problem p = { 0 };
	CHECK_INT(acme_http01_check_body((const uint8_t *)"tok.thumb", 9, ka, 1, &p), 0);
	CHECK_INT(acme_http01_check_body((const uint8_t *)"tok.thumb\n", 10, ka, 1, &p), 0);
	CHECK_INT(acme_http01_check_body((const uint8_t *)"tok.thumb\r\n \t", 13, ka, 1, &p), 0);
	CHECK(acme_http01_check_body((const uint8_t *)" tok.thumb", 10, ka, 1, &p) != 0);
	CHECK_INT(p.type, ACME_PROB_UNAUTHORIZED);
	CHECK(acme_http01_check_body((const uint8_t *)"tok.thum", 8, ka, 1, &p) != 0);
	CHECK(acme_http01_check_body((const uint8_t *)"tok.thumbX", 10, ka, 1, &p) != 0);
	CHECK(acme_http01_check_body((const uint8_t *)"", 0, ka, 1, &p) != 0);
	CHECK(acme_http01_check_body((const uint8_t *)"\x01\x02", 2, ka, 1, &p) != 0);
	/* quoted: the body's printable start is in the detail */
	CHECK(acme_http01_check_body((const uint8_t *)"SECRET-BODY", 11, ka, 1, &p) != 0);
	CHECK(strstr(p.detail, "SECRET-BODY") != NULL);
	/* not quoted (fetched after a redirect): no byte of it, only its length */
	memset(&p, 0, sizeof p);
	CHECK(acme_http01_check_body((const uint8_t *)"SECRET-BODY", 11, ka, 0, &p) != 0);
	CHECK_INT(p.type, ACME_PROB_UNAUTHORIZED);
	CHECK(strstr(p.detail, "SECRET") == NULL);
	CHECK(strstr(p.detail, "11 bytes") != NULL);
	CHECK_INT(acme_http01_check_body((const uint8_t *)"tok.thumb", 9, ka, 0, &p), 0);
}

struct alpn_opts {
	const char *const *sans;   /* "d:name" or "i:<4 or 16 raw bytes given as hex>" */
	int with_id, critical, bad_digest;
};

static int make_cert(struct tb_pkey *key, const char *ka, const struct alpn_opts *o, struct tb_bytes *out)
{
	mbedtls_x509write_cert w;
	mbedtls_x509write_crt_init(&w);
	mbedtls_x509write_crt_set_subject_key(&w, tb_pkey_mbedtls(key));
	mbedtls_x509write_crt_set_issuer_key(&w, tb_pkey_mbedtls(key));
	mbedtls_x509write_crt_set_md_alg(&w, MBEDTLS_MD_SHA256);
	int err = mbedtls_x509write_crt_set_subject_name(&w, "CN=acme-tls-alpn");
	err |= mbedtls_x509write_crt_set_issuer_name(&w, "CN=acme-tls-alpn");
	mbedtls_mpi serial;
	mbedtls_mpi_init(&serial);
	mbedtls_mpi_lset(&serial, 12345);
	err |= mbedtls_x509write_crt_set_serial(&w, &serial);
	err |= mbedtls_x509write_crt_set_validity(&w, "20250101000000", "20350101000000");
	if (o->sans) {
		struct tb_bytes seq = { 0 }, san = { 0 };
		for (size_t i = 0; o->sans[i]; i++) {
			const char *s = o->sans[i];
			if (s[0] == 'd') {
				tb_bytes_u8(&seq, 0x82);
				tb_bytes_u8(&seq, (uint8_t)strlen(s + 2));
				tb_bytes_append(&seq, s + 2, strlen(s + 2));
			} else {
				struct tb_bytes ip = { 0 };
				tb_hex_decode(&ip, s + 2, strlen(s + 2));
				tb_bytes_u8(&seq, 0x87);
				tb_bytes_u8(&seq, (uint8_t)ip.len);
				tb_bytes_append(&seq, ip.p, ip.len);
				tb_bytes_free(&ip);
			}
		}
		tb_bytes_u8(&san, 0x30);
		tb_bytes_u8(&san, (uint8_t)seq.len);
		tb_bytes_append(&san, seq.p, seq.len);
		err |= mbedtls_x509write_crt_set_extension(&w, MBEDTLS_OID_SUBJECT_ALT_NAME,
			MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME), 0, san.p, san.len);
		tb_bytes_free(&seq);
		tb_bytes_free(&san);
	}
	if (o->with_id) {
		uint8_t v[34] = { 0x04, 0x20 };
		tb_sha256(TB_BUF(ka, strlen(ka)), v + 2);
		if (o->bad_digest)
			v[10] ^= 1;
		err |= mbedtls_x509write_crt_set_extension(&w, OID_ACME_ID, 8, o->critical, v, sizeof v);
	}
	static unsigned char buf[8192];
	int n = mbedtls_x509write_crt_der(&w, buf, sizeof buf, tb_crypto_mbedtls_rng, NULL);
	mbedtls_x509write_crt_free(&w);
	mbedtls_mpi_free(&serial);
	if (err || n <= 0)
		return -1;
	out->len = 0;
	tb_bytes_append(out, buf + sizeof buf - n, (size_t)n);
	return 0;
}

static enum acme_problem_type alpn_check(const struct tb_bytes *der, enum acme_ident_type t, const char *v,
	const char *ka)
{
	struct acme_identifier id = { t, "" };
	snprintf(id.value, sizeof id.value, "%s", v);
	struct acme_problem p = { 0 };
	int err = acme_tlsalpn01_check_cert(der->p, der->len, &id, ka, &p);
	if (err && getenv("TB_TEST_VERBOSE"))
		fprintf(stderr, "  refused: %s: %s\n", acme_problem_name(p.type), p.detail);
	return err ? p.type : ACME_PROB_NONE;
}

static void test_tlsalpn01(void)
{
	struct tb_pkey *key = NULL;
	CHECK_INT(tb_pkey_generate_ec(TB_CURVE_P256, &key), 0);
	if (!key)
		return;
	const char *ka = "tok.thumb";
	struct tb_bytes d = { 0 };
	static const char *const one[] = { "d:a.example.org", NULL };
	static const char *const two[] = { "d:a.example.org", "d:b.example.org", NULL };
	static const char *const ip4[] = { "i:c0000201", NULL };
	static const char *const ip6[] = { "i:20010db8000000000000000000000001", NULL };

	struct alpn_opts o = { one, 1, 1, 0 };
	CHECK_INT(make_cert(key, ka, &o, &d), 0);
	CHECK_INT(alpn_check(&d, ACME_IDENT_DNS, "a.example.org", ka), ACME_PROB_NONE);
	CHECK_INT(alpn_check(&d, ACME_IDENT_DNS, "b.example.org", ka), ACME_PROB_UNAUTHORIZED);
	CHECK_INT(alpn_check(&d, ACME_IDENT_DNS, "a.example.org", "tok.other"), ACME_PROB_UNAUTHORIZED);
	CHECK_INT(alpn_check(&d, ACME_IDENT_IP, "192.0.2.1", ka), ACME_PROB_UNAUTHORIZED);

	o.critical = 0; /* acmeIdentifier must be critical */
	CHECK_INT(make_cert(key, ka, &o, &d), 0);
	CHECK_INT(alpn_check(&d, ACME_IDENT_DNS, "a.example.org", ka), ACME_PROB_UNAUTHORIZED);
	o.critical = 1;
	o.bad_digest = 1;
	CHECK_INT(make_cert(key, ka, &o, &d), 0);
	CHECK_INT(alpn_check(&d, ACME_IDENT_DNS, "a.example.org", ka), ACME_PROB_UNAUTHORIZED);
	o.bad_digest = 0;
	o.with_id = 0;
	CHECK_INT(make_cert(key, ka, &o, &d), 0);
	CHECK_INT(alpn_check(&d, ACME_IDENT_DNS, "a.example.org", ka), ACME_PROB_UNAUTHORIZED);
	o.with_id = 1;
	o.sans = two;
	CHECK_INT(make_cert(key, ka, &o, &d), 0);
	CHECK_INT(alpn_check(&d, ACME_IDENT_DNS, "a.example.org", ka), ACME_PROB_UNAUTHORIZED);
	o.sans = NULL;
	CHECK_INT(make_cert(key, ka, &o, &d), 0);
	CHECK_INT(alpn_check(&d, ACME_IDENT_DNS, "a.example.org", ka), ACME_PROB_UNAUTHORIZED);

	/* IP identifiers (RFC 8738 section 6): the iPAddress entry */
	o.sans = ip4;
	CHECK_INT(make_cert(key, ka, &o, &d), 0);
	CHECK_INT(alpn_check(&d, ACME_IDENT_IP, "192.0.2.1", ka), ACME_PROB_NONE);
	CHECK_INT(alpn_check(&d, ACME_IDENT_IP, "192.0.2.2", ka), ACME_PROB_UNAUTHORIZED);
	CHECK_INT(alpn_check(&d, ACME_IDENT_DNS, "a.example.org", ka), ACME_PROB_UNAUTHORIZED);
	o.sans = ip6;
	CHECK_INT(make_cert(key, ka, &o, &d), 0);
	CHECK_INT(alpn_check(&d, ACME_IDENT_IP, "2001:db8::1", ka), ACME_PROB_NONE);

	/* not a certificate, truncated */
	o.sans = one;
	CHECK_INT(make_cert(key, ka, &o, &d), 0);
	d.len -= 5;
	CHECK_INT(alpn_check(&d, ACME_IDENT_DNS, "a.example.org", ka), ACME_PROB_TLS);
	d.len = 0;
	CHECK_INT(alpn_check(&d, ACME_IDENT_DNS, "a.example.org", ka), ACME_PROB_TLS);
	tb_bytes_free(&d);
	tb_pkey_free(key);
}

int main(void)
{
	test_tokens();
	test_http01();
	test_tlsalpn01();
	return tb_test_result("test_acme_challenge");
}
