/*
 * Fuzz target: the framed reader that DNS over TCP and DNS over TLS share
 * (dns_tcp_frame, as the connection loop in dns/server.c runs it over its
 * buffer). The input is a client's byte stream: every whole frame is
 * answered over the TCP path and its answer must parse back, also once
 * padded as DoT sends it (dns_pad_answer); a short length
 * prefix ends the stream as it closes a connection; a trailing partial frame
 * waits for bytes that never come.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "core/log.h"
#include "dns/dns.h"
#include "dns/dns_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char zone[] = "@ SOA ns hostmaster 1 2 3 4 60\n@ NS ns\nns A 192.0.2.1\n*.w TXT \"x\"\n"
			   "c CNAME ns\n";

static int add_cb(void *arg, const struct dns_rr *rr)
{
	return dns_zone_add_rr(arg, rr);
}

static struct dns_server *server(void)
{
	static struct dns_server *s;
	if (s)
		return s;
	tb_log_set_level(TB_LOG_OFF);
	s = calloc(1, sizeof *s);
	s->udp_payload = 1232;
	dns_acl_parse(&s->allow_query, "any");
	dns_zoneset_init(&s->zones);
	struct dns_zone *z;
	struct dns_zone_error ze;
	char e[64];
	dns_zone_new(&s->zones, (const uint8_t *)"\3lab\4test", &z);
	dns_zonefile_parse(zone, sizeof zone - 1, (const uint8_t *)"\3lab\4test", 300, add_cb, z, &ze);
	dns_zone_finish(z, e, sizeof e);
	return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dns_server *s = server();
	struct sockaddr_in from;
	uv_ip4_addr("127.0.0.1", 853, &from);
	static uint8_t out[65535];
	size_t off = 0;
	for (;;) {
		long fl = dns_tcp_frame(data + off, size - off);
		if (fl <= 0)
			break;
		if ((size_t)fl + 2 > size - off)
			abort(); /* a frame longer than the bytes there */
		/* exact-size copy so ASan sees overreads */
		uint8_t *q = malloc((size_t)fl);
		memcpy(q, data + off + 2, (size_t)fl);
		size_t n = dns_server_answer(s, q, (size_t)fl, (struct sockaddr *)&from, 1, out, sizeof out);
		free(q);
		/* DoT pads what it sends; the padded answer must parse too */
		for (int padded = 0; n && padded < 2; padded++) {
			if (padded)
				n = dns_pad_answer(out, n, sizeof out);
			struct dns_msg m;
			if (dns_msg_parse(&m, out, n) != 0)
				abort();
			dns_msg_free(&m);
		}
		off += 2 + (size_t)fl;
	}
	return 0;
}
