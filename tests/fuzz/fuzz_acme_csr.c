/*
 * Fuzzes CSR parsing and checking (acme_csr_parse): the mbedTLS PKCS#10
 * parser plus our own walk of the attributes, extensions and SAN entries.
 */
#include <stdint.h>
#include <stdlib.h>

#include "acme/acme.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct acme_problem prob = { 0 };
	struct acme_csr csr;
	acme_csr_parse(data, size, &csr, &prob);
	acme_csr_free(&csr);
	return 0;
}
