/* CA material: generation, chain validity, SANs, reuse on restart, re-issue on new names. */
#include <mbedtls/x509_crt.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/ca.h"
#include "core/error.h"
#include "tb_test.h"

static int verify_server(const struct tb_ca *ca, const char *name)
{
	mbedtls_x509_crt chain, root;
	mbedtls_x509_crt_init(&chain);
	mbedtls_x509_crt_init(&root);
	int rc = mbedtls_x509_crt_parse(&chain, (const unsigned char *)ca->server_chain_pem,
		strlen(ca->server_chain_pem) + 1);
	rc |= mbedtls_x509_crt_parse(&root, (const unsigned char *)ca->root_pem, strlen(ca->root_pem) + 1);
	uint32_t flags = 0;
	if (!rc)
		rc = mbedtls_x509_crt_verify(&chain, &root, NULL, name, &flags, NULL, NULL);
	mbedtls_x509_crt_free(&chain);
	mbedtls_x509_crt_free(&root);
	return rc;
}

static struct tb_ca *open_ca(uv_loop_t *loop, const char *path, struct tb_store **st, const char *const *names,
	size_t n)
{
	struct tb_ca *ca = NULL;
	CHECK_INT(tb_store_open(st, loop, path), 0);
	CHECK_INT(tb_ca_load_or_create(&ca, *st, "testca", names, n), 0);
	return ca;
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	char dir[] = "/tmp/tb-ca-XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	char path[256];
	snprintf(path, sizeof path, "%s/ca.db", dir);
	uv_loop_t loop;
	uv_loop_init(&loop);

	struct tb_store *st;
	const char *names1[] = { "lab.test", "192.0.2.7" };
	struct tb_ca *ca = open_ca(&loop, path, &st, names1, 2);
	CHECK(ca && strstr(ca->root_pem, "BEGIN CERTIFICATE"));
	CHECK_INT(verify_server(ca, "localhost"), 0);
	CHECK_INT(verify_server(ca, "lab.test"), 0);
	CHECK(verify_server(ca, "other.test") != 0); /* name not in the SANs */
	/* The root is a CA and self-signed; the intermediate is signed by it. */
	CHECK_INT(ca->root.ca_istrue, 1);
	CHECK_INT(ca->intermediate.ca_istrue, 1);
	uint32_t flags = 0;
	CHECK_INT(mbedtls_x509_crt_verify(&ca->intermediate, &ca->root, NULL, NULL, &flags, NULL, NULL), 0);
	CHECK_INT(tb_pkey_type(ca->root_key), TB_KEY_EC);
	CHECK_INT(tb_pkey_curve(ca->intermediate_key), TB_CURVE_P256);
	char *root1 = strdup(ca->root_pem), *server1 = strdup(ca->server_chain_pem);
	char fp[128];
	tb_ca_root_fingerprint(ca, fp, sizeof fp);
	CHECK_INT(strlen(fp), 95);
	tb_ca_free(ca);
	tb_store_close(st);
	uv_run(&loop, UV_RUN_DEFAULT);

	/* Restart with the same names: everything reused. */
	ca = open_ca(&loop, path, &st, names1, 2);
	CHECK_STR(ca->root_pem, root1);
	CHECK_STR(ca->server_chain_pem, server1);
	tb_ca_free(ca);
	tb_store_close(st);
	uv_run(&loop, UV_RUN_DEFAULT);

	/* New names: same root, new server certificate covering them. */
	const char *names2[] = { "lab.test", "new.example" };
	ca = open_ca(&loop, path, &st, names2, 2);
	CHECK_STR(ca->root_pem, root1);
	CHECK(strcmp(ca->server_chain_pem, server1) != 0);
	CHECK_INT(verify_server(ca, "new.example"), 0);
	tb_ca_free(ca);
	tb_store_close(st);
	uv_run(&loop, UV_RUN_DEFAULT);

	/* A leaf with an explicit serial, an empty subject, a critical SAN and an extra extension, as DER and PEM. */
	ca = open_ca(&loop, path, &st, names2, 2);
	{
		struct tb_pkey *leaf = NULL;
		CHECK_INT(tb_pkey_parse_private(TB_BUF(ca->server_key_pem, strlen(ca->server_key_pem)), &leaf), 0);
		struct tb_bytes san = { 0 }, der = { 0 }, pem = { 0 };
		const char *n[] = { "a.lab.test" };
		CHECK_INT(tb_der_san(&san, n, 1), 0);
		struct tb_buf sanb = tb_bytes_buf(&san);
		static const uint8_t serial[] = { 0x01, 0x02, 0x03, 0x04, 0x05 };
		struct tb_buf sb = TB_BUF(serial, sizeof serial);
		/* CT poison: OID 1.3.6.1.4.1.11129.2.4.3, value NULL. */
		static const char poison_oid[] = "\x2b\x06\x01\x04\x01\xd6\x79\x02\x04\x03";
		static const uint8_t null_der[] = { 0x05, 0x00 };
		struct tb_cert_ext ext = { poison_oid, sizeof poison_oid - 1, 1, TB_BUF(null_der, 2) };
		struct tb_cert_template t = { .san = &sanb, .san_critical = 1, .serial = &sb, .pathlen = -1,
			.key_usage = MBEDTLS_X509_KU_DIGITAL_SIGNATURE, .eku_server = 1, .not_before = (int64_t)time(NULL) - 60,
			.not_after = (int64_t)time(NULL) + 86400, .exts = &ext, .n_exts = 1 };
		CHECK_INT(tb_ca_sign(&t, leaf, ca->intermediate_key, &ca->intermediate, &pem, &der), 0);
		mbedtls_x509_crt c1, c2;
		mbedtls_x509_crt_init(&c1);
		mbedtls_x509_crt_init(&c2);
		/* mbedTLS refuses unknown critical extensions by default; parse with a callback that accepts the poison. */
		CHECK(mbedtls_x509_crt_parse_der(&c1, der.p, der.len) != 0);
		tb_bytes_cstr(&pem);
		CHECK(strncmp((char *)pem.p, "-----BEGIN CERTIFICATE-----", 27) == 0);
		CHECK(der.len > 200);
		/* Serial bytes appear as INTEGER 02 05 01..05 right after the version. */
		static const uint8_t serial_der[] = { 0x02, 0x05, 0x01, 0x02, 0x03, 0x04, 0x05 };
		CHECK(memmem(der.p, der.len, serial_der, sizeof serial_der) != NULL);
		CHECK(memmem(der.p, der.len, poison_oid, sizeof poison_oid - 1) != NULL);
		/* RFC 5758 3.2: ecdsa-with-SHA256 without parameters, in the TBS and outside it. */
		static const uint8_t alg_null[] = { 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02, 0x05, 0x00 };
		static const uint8_t alg[] = { 0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02 };
		CHECK(memmem(der.p, der.len, alg_null, sizeof alg_null) == NULL);
		CHECK(memmem(der.p, der.len, alg, sizeof alg) != NULL);
		mbedtls_x509_crt_free(&c1);
		mbedtls_x509_crt_free(&c2);
		tb_bytes_free(&der);
		tb_bytes_free(&pem);
		/* Without the poison the same leaf parses and chains to the root. */
		struct tb_bytes der2 = { 0 };
		t.exts = NULL;
		t.n_exts = 0;
		t.serial = NULL;
		CHECK_INT(tb_ca_sign(&t, leaf, ca->intermediate_key, &ca->intermediate, NULL, &der2), 0);
		CHECK_INT(mbedtls_x509_crt_parse_der(&c2, der2.p, der2.len), 0);
		CHECK_INT(c2.subject_raw.len, 2); /* empty SEQUENCE */
		CHECK_INT(mbedtls_x509_crt_verify(&c2, &ca->intermediate, NULL, NULL, &flags, NULL, NULL), 0);
		mbedtls_x509_crt_free(&c2);
		tb_bytes_free(&der2);
		tb_bytes_free(&san);
		tb_pkey_free(leaf);
	}
	tb_ca_free(ca);
	tb_store_close(st);
	uv_run(&loop, UV_RUN_DEFAULT);

	/* SAN encoding rejects unusable names. */
	struct tb_bytes b = { 0 };
	const char *bad[] = { "has space" };
	CHECK_INT(tb_der_san(&b, bad, 1), TB_ERR_INVALID);
	tb_bytes_free(&b);

	free(root1);
	free(server1);
	uv_loop_close(&loop);
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	CHECK_INT(system(cmd), 0);
	return tb_test_result("ca");
}
