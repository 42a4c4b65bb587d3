/*
 * Fuzz target: the master-file parser. Every record it accepts must have
 * structurally valid RDATA and print without error.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dns/dns.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int check(void *arg, const struct dns_rr *rr)
{
	struct tb_bytes *t = arg;
	if (dns_rdata_check(rr->type, rr->rdata, rr->rdlen) != 0)
		abort();
	t->len = 0;
	if (dns_rr_to_text(rr, t) != 0)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t origin[] = "\3lab\4test";
	struct tb_bytes t = { 0 };
	struct dns_zone_error err;
	dns_zonefile_parse((const char *)data, size, origin, 3600, check, &t, &err);
	tb_bytes_free(&t);
	return 0;
}
