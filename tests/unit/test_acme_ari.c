/*
 * RFC 9773 CertIDs: the Appendix A example certificate and its identifier,
 * strict parsing of renewalInfo paths and "replaces" values.
 */
#include "acme/acme.h"
#include "core/error.h"
#include "tb_test.h"

/* RFC 9773 Appendix A. */
static const char example_cert_b64[] =
	"MIIBQzCB66ADAgECAgUAh2VDITAKBggqhkjOPQQDAjAVMRMwEQYDVQQDEwpFeGFt"
	"cGxlIENBMCIYDzAwMDEwMTAxMDAwMDAwWhgPMDAwMTAxMDEwMDAwMDBaMBYxFDAS"
	"BgNVBAMTC2V4YW1wbGUuY29tMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEeBZu"
	"7cbpAYNXZLbbh8rNIzuOoqOOtmxA1v7cRm//AwyMwWxyHz4zfwmBhcSrf47NUAFf"
	"qzLQ2PPQxdTXREYEnKMjMCEwHwYDVR0jBBgwFoAUaYhba4dGQEHhs3uEe6CuLN4B"
	"yNQwCgYIKoZIzj0EAwIDRwAwRAIge09+S5TZAlw5tgtiVvuERV6cT4mfutXIlwTb"
	"+FYN/8oCIClDsqBklhB9KAelFiYt9+6FDj3z4KGVelYM5MdsO3pK";

static int parses(const char *s)
{
	struct acme_cert_id id;
	return acme_ari_cert_id_parse(s, strlen(s), &id) == 0;
}

int main(void)
{
	struct tb_bytes der = { 0 };
	CHECK_INT(tb_base64_decode(&der, example_cert_b64, strlen(example_cert_b64)), 0);
	struct acme_cert_id id;
	CHECK_INT(acme_ari_cert_id_from_der(der.p, der.len, &id), 0);
	char s[ACME_ARI_MAX_CERT_ID + 1];
	CHECK_INT(acme_ari_cert_id_format(&id, s, sizeof s), 0);
	CHECK_STR(s, "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE");
	CHECK_INT(id.serial_len, 5);
	CHECK_MEM(id.serial, id.serial_len, "\x00\x87\x65\x43\x21", 5);
	CHECK_INT(acme_ari_cert_id_format(&id, s, 10), TB_ERR_TOO_LARGE);
	/* truncated certificate */
	CHECK(acme_ari_cert_id_from_der(der.p, der.len - 1, &id) != 0);
	tb_bytes_free(&der);

	struct acme_cert_id p;
	CHECK_INT(acme_ari_cert_id_parse("aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE", 35, &p), 0);
	CHECK_INT(p.aki_len, 20);
	CHECK_MEM(p.aki, 4, "\x69\x88\x5b\x6b", 4);
	CHECK(parses("AQ.AQ"));
	CHECK(parses("AQ.AIA"));                                 /* 0x00 0x80: minimal positive */
	CHECK(!parses("aYhba4dGQEHhs3uEe6CuLN4ByNQ=.AIdlQyE"));  /* padding */
	CHECK(!parses("aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE="));
	CHECK(!parses("aYhba4dGQEHhs3uEe6CuLN4ByNQAIdlQyE"));    /* no dot */
	CHECK(!parses(".AIdlQyE"));
	CHECK(!parses("aYhba4dGQEHhs3uEe6CuLN4ByNQ."));
	CHECK(!parses("AQ.gA"));                                 /* 0x80: negative */
	CHECK(!parses("AQ.AAE"));                                /* 0x00 0x01: not minimal */
	CHECK(!parses("AQ.AQ.AQ"));                              /* a second dot lands in the serial */
	CHECK(!parses("A+.AQ"));
	CHECK(!parses("AQ.AAAAAAAAAAAAAAAAAAAAAAAAAAAA"));       /* serial over 20 octets */
	CHECK(!parses(""));
	char longaki[200];
	memset(longaki, 'A', sizeof longaki);
	memcpy(longaki + 190, ".AQ", 4);
	CHECK(!parses(longaki));
	return tb_test_result("test_acme_ari");
}
