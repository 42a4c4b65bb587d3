/* CA material: generation, chain validity, SANs, reuse on restart, re-issue on new names. */
#include <mbedtls/x509_crt.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

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
	CHECK_INT(mbedtls_pk_get_type(&ca->root_key), MBEDTLS_PK_ECKEY);
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
