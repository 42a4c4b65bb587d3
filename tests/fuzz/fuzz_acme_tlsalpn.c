/*
 * Fuzzes the tls-alpn-01 certificate check: the certificate comes from the
 * server being validated, so it is attacker-controlled input. Also runs the
 * http-01 body check over the same bytes.
 */
#include <stdint.h>

#include "acme/acme.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct acme_problem prob = { 0 };
	struct acme_identifier dns = { ACME_IDENT_DNS, "a.example.org" };
	struct acme_identifier ip = { ACME_IDENT_IP, "192.0.2.1" };
	acme_tlsalpn01_check_cert(data, size, &dns, "tok.thumb", &prob);
	acme_tlsalpn01_check_cert(data, size, &ip, "tok.thumb", &prob);
	acme_http01_check_body(data, size, "tok.thumb", 1, &prob);
	acme_http01_check_body(data, size, "tok.thumb", 0, &prob);
	return 0;
}
