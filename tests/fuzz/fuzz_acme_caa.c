/*
 * Fuzzes CAA evaluation (acme_caa_evaluate): the input is split into RRs
 * (2-byte length, then RDATA) as a resolver would hand them over; the first
 * byte chooses wildcard and method.
 */
#include <stdint.h>
#include <stdlib.h>

#include "acme/acme.h"
#include "core/services.h"

#define MAX_RRS 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const issuers[] = { "trustbox", "trustbox.test" };
	static const char *const methods[] = { "http-01", "dns-01", "tls-alpn-01", "" };
	if (size < 1)
		return 0;
	struct acme_caa_request q = { issuers, 2, data[0] & 1, "https://ca.test/acme/acct/abc", methods[(data[0] >> 1) & 3] };
	struct tb_rr rrs[MAX_RRS];
	size_t n = 0, p = 1;
	while (n < MAX_RRS && p + 2 <= size) {
		size_t l = ((size_t)data[p] << 8) | data[p + 1];
		p += 2;
		if (l > size - p)
			l = size - p;
		rrs[n].type = (data[0] & 0x80) && n == 0 ? 1 : 257;
		rrs[n].ttl = 60;
		rrs[n].rdata = TB_BUF(data + p, l);
		n++;
		p += l;
	}
	int crit;
	acme_caa_evaluate(&q, rrs, n, &crit);
	return 0;
}
