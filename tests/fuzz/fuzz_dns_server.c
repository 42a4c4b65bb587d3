/*
 * Fuzz target: the whole answering path (parse, policy, zone lookup, response
 * building, truncation, dynamic update). The first input byte picks the
 * transport (UDP or TCP) and whether the harness signs the rest with the
 * server's TSIG key first, so that the update logic behind TSIG is reached.
 * Every response must parse back.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "dns/dns.h"
#include "core/log.h"
#include "dns/dns_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char zone[] =
	"@ SOA ns hostmaster 1 2 3 4 60\n@ NS ns\nns A 192.0.2.1\nns AAAA ::1\n"
	"www CNAME web\nweb A 192.0.2.80\n*.wild A 192.0.2.99\n*.wild MX 10 ns\n"
	"sub NS ns.sub\nns.sub A 192.0.2.53\n@ CAA 0 issue \"trustbox.test\"\n"
	"loop CNAME loop\nbig TXT \"0123456789012345678901234567890123456789012345678901234567890123\"\n"
	"big TXT \"1123456789012345678901234567890123456789012345678901234567890123\"\n"
	"dn DNAME wild.lab.test.\nself DNAME a.self.lab.test.\n";

static int add_cb(void *arg, const struct dns_rr *rr)
{
	return dns_zone_add_rr(arg, rr);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	static struct dns_server *s;
	if (!s) {
		tb_log_set_level(TB_LOG_OFF);
		s = calloc(1, sizeof *s);
		s->udp_payload = 1232;
		dns_acl_parse(&s->allow_query, "any");
		memcpy(s->keys[0].name, "\3key\0", 5);
		memset(s->keys[0].secret, 7, 32);
		s->keys[0].secret_len = 32;
		memcpy(s->keys[0].zones[0], "\3lab\4test", 10);
		s->keys[0].n_zones = 1;
		s->n_keys = 1;
		dns_acl_parse(&s->allow_update, "any");
	}
	/* no replay memory across inputs: each input is judged alone */
	memset(s->tsig_seen, 0, sizeof s->tsig_seen);
	s->tsig_seen_next = 0;
	/* a fresh zone each time: updates must not accumulate across inputs */
	dns_zoneset_init(&s->zones);
	struct dns_zone *z;
	dns_zone_new(&s->zones, (const uint8_t *)"\3lab\4test", &z);
	struct dns_zone_error ze;
	dns_zonefile_parse(zone, sizeof zone - 1, (const uint8_t *)"\3lab\4test", 300, add_cb, z, &ze);
	char e[64];
	dns_zone_finish(z, e, sizeof e);

	uint8_t mode = data[0];
	int tcp = mode & 1;
	size_t n = size - 1;
	if (n > 60000)
		n = 60000;
	uint8_t *q = malloc(n + 512);
	memcpy(q, data + 1, n);
	if ((mode & 2) && n >= 12)
		dns_tsig_sign_request(&s->keys[0], q, &n, n + 512, (uint64_t)time(NULL));
	/* exact-size copy so ASan sees overreads */
	uint8_t *exact = malloc(n ? n : 1);
	memcpy(exact, q, n);
	free(q);
	struct sockaddr_in from;
	uv_ip4_addr("127.0.0.1", 5353, &from);
	static uint8_t out[65535];
	size_t len = dns_server_answer(s, exact, n, (struct sockaddr *)&from, tcp, out,
		tcp ? sizeof out : DNS_UDP_OUT_MAX);
	if (len) {
		struct dns_msg m;
		if (len < 12 || (!tcp && len > 1232))
			abort();
		if (dns_msg_parse(&m, out, len) != 0)
			abort();
		dns_msg_free(&m);
	}
	free(exact);
	dns_zoneset_free(&s->zones);
	return 0;
}
