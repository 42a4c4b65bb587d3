/*
 * Fuzz target: the DNS message parser. Whatever parses must print, rebuild
 * through the builder (with compression) and parse again to the same records.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dns/dns.h"
#include "dns/dns_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dns_msg m;
	if (dns_msg_parse(&m, data, size) != 0) {
		dns_msg_free(&m);
		return 0;
	}
	struct tb_bytes t = { 0 };
	size_t total = m.n_rr[1] + m.n_rr[2] + m.n_rr[3];
	for (size_t i = 0; i < total; i++) {
		dns_rr_to_text(&m.rr[i], &t);
		t.len = 0;
	}
	tb_bytes_free(&t);

	/* as an upstream answer: into a cache entry, and served back to a client */
	if (m.n_qd == 1) {
		uint32_t ttl;
		struct dns_cache_entry *e =
			dns_cache_entry_from_msg(&m, m.qd[0].name, m.qd[0].qtype, m.qd[0].qclass, 1000, &ttl);
		if (e) {
			static struct dns_server srv;
			srv.udp_payload = DNS_UDP_PAYLOAD;
			struct dns_fwd_client cl;
			memset(&cl, 0, sizeof cl);
			memcpy(cl.qname, m.qd[0].name, (size_t)dns_name_len(m.qd[0].name, DNS_NAME_MAX));
			cl.qtype = m.qd[0].qtype;
			cl.qclass = m.qd[0].qclass;
			cl.edns = 1;
			cl.id = 7;
			static uint8_t ans[DNS_MSG_MAX];
			size_t al = dns_fwd_answer(&srv, &cl, e, 0, 0xffff, NULL, 3000, ans, DNS_UDP_PAYLOAD);
			struct dns_msg m3;
			if (al < 12 || al > DNS_UDP_PAYLOAD || dns_msg_parse(&m3, ans, al) != 0)
				abort();
			dns_msg_free(&m3);
			struct tb_rr rrs[64];
			uint8_t rc;
			dns_cache_entry_records(e, cl.qtype, rrs, 64, &rc);
			free(e);
		}
	}

	static uint8_t out[DNS_MSG_MAX];
	struct dns_builder b;
	dns_builder_init(&b, out, sizeof out, m.id, m.flags);
	int ok = 1;
	for (size_t i = 0; i < m.n_qd && ok; i++)
		ok = dns_builder_question(&b, m.qd[i].name, m.qd[i].qtype, m.qd[i].qclass) == 0;
	size_t k = 0;
	for (int sec = DNS_SEC_ANSWER; sec <= DNS_SEC_ADDITIONAL && ok; sec++)
		for (size_t i = 0; i < m.n_rr[sec] && ok; i++, k++) {
			const struct dns_rr *rr = &m.rr[k];
			if (rr->type == DNS_T_TSIG) {
				ok = 0;
				break;
			}
			ok = dns_builder_rr(&b, sec, rr->owner, rr->type, rr->rclass, rr->ttl,
				     rr->rdata, rr->rdlen) == 0;
		}
	if (ok && m.edns.present)
		ok = dns_builder_opt(&b, m.edns.udp_size, m.edns.ext_rcode, m.edns.flags,
			     m.edns.opts, m.edns.n_opts, 0) == 0;
	if (ok) {
		size_t len = dns_builder_finish(&b);
		struct dns_msg m2;
		if (dns_msg_parse(&m2, out, len) != 0)
			abort();
		if (m2.n_qd != m.n_qd || m2.n_rr[1] != m.n_rr[1] || m2.n_rr[2] != m.n_rr[2] ||
			m2.n_rr[3] != m.n_rr[3])
			abort();
		for (size_t i = 0; i < total; i++) {
			if (!dns_name_eq(m.rr[i].owner, m2.rr[i].owner) || m.rr[i].rdlen != m2.rr[i].rdlen)
				abort();
			if (m.rr[i].type != DNS_T_NS && m.rr[i].type != DNS_T_CNAME &&
				m.rr[i].type != DNS_T_SOA && m.rr[i].type != DNS_T_PTR &&
				m.rr[i].type != DNS_T_MX &&
				memcmp(m.rr[i].rdata, m2.rr[i].rdata, m.rr[i].rdlen) != 0)
				abort();
		}
		dns_msg_free(&m2);
	}
	dns_msg_free(&m);
	return 0;
}
