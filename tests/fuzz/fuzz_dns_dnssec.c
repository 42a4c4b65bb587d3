/*
 * Fuzz target: the DNSSEC validator's record and proof parsing. The input is a
 * DNS message as an authority would send it: its answer RRsets are
 * canonicalised and checked against the DNSKEYs it carries (any section), its
 * authority NSEC/NSEC3 records are asked for every kind of denial, its DS and
 * DNSKEY records are matched, and the whole message goes through the
 * resolver's chain of trust (validate.c) as the referral, the keys and the
 * answer at once. Nothing may crash, read out of bounds or leak, and the
 * budget must hold.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dns/dns.h"
#include "dns/dns_internal.h"
#include "dns/dnssec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void put(struct tb_bytes *b, int sec, const struct dns_rr *rr)
{
	tb_bytes_u8(b, (uint8_t)sec);
	tb_bytes_append(b, rr->owner, (size_t)dns_name_len(rr->owner, DNS_NAME_MAX));
	tb_bytes_u16(b, rr->type);
	tb_bytes_u16(b, rr->rclass);
	tb_bytes_u32(b, rr->ttl);
	tb_bytes_vec(b, 2, rr->rdata, rr->rdlen);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dns_msg m;
	if (dns_msg_parse(&m, data, size) != 0) {
		dns_msg_free(&m);
		return 0;
	}
	size_t total = m.n_rr[1] + m.n_rr[2] + m.n_rr[3];
	if (m.n_qd != 1 || total > 200) {
		dns_msg_free(&m);
		return 0;
	}
	const uint8_t *qname = m.qd[0].name;
	uint16_t qtype = m.qd[0].qtype;
	uint64_t now = 1796232000; /* inside the corpus signatures' windows (December 2026) */
	/* the zone: the signer of the first RRSIG, else the root */
	const uint8_t *zone = (const uint8_t *)"";
	static struct dns_rr keys[256], sigs[256], set[256];
	size_t nk = 0;
	for (size_t i = 0; i < total; i++) {
		struct dnssec_rrsig s;
		if (m.rr[i].type == DNS_T_RRSIG && zone[0] == 0 &&
			dnssec_rrsig_parse(m.rr[i].rdata, m.rr[i].rdlen, &s) == 0)
			zone = s.signer;
		if (m.rr[i].type == DNS_T_DNSKEY)
			keys[nk++] = m.rr[i];
	}
	struct dnssec_budget b;
	dnssec_budget_init(&b);
	for (size_t i = 0; i < total; i++) {
		const struct dns_rr *r = &m.rr[i];
		if (r->type == DNS_T_RRSIG)
			continue;
		size_t ns = 0, nsig = 0;
		for (size_t j = 0; j < total; j++) {
			if (!dns_name_eq(m.rr[j].owner, r->owner))
				continue;
			if (m.rr[j].type == r->type)
				set[ns++] = m.rr[j];
			else if (m.rr[j].type == DNS_T_RRSIG && m.rr[j].rdlen >= 2 &&
				(m.rr[j].rdata[0] << 8 | m.rr[j].rdata[1]) == r->type)
				sigs[nsig++] = m.rr[j];
		}
		for (size_t j = 0; j < nsig; j++) {
			struct tb_bytes sd = { 0 };
			dnssec_signed_data(sigs[j].rdata, sigs[j].rdlen, set, ns, &sd);
			tb_bytes_free(&sd);
		}
		uint16_t ede;
		int wild;
		if (dns_name_is_sub(r->owner, zone))
			dnssec_verify_rrset(set, ns, sigs, nsig, keys, nk, zone, now, 300, &b, &ede, &wild);
		if (r->type == DNS_T_DNSKEY)
			dnssec_key_tag(r->rdata, r->rdlen);
		if (r->type == DNS_T_DS)
			for (size_t k = 0; k < nk; k++)
				dnssec_ds_match(r->owner, r->rdata, r->rdlen, keys[k].rdata, keys[k].rdlen);
	}
	uint16_t ede;
	for (int what = DNSSEC_DENY_NXDOMAIN; what <= DNSSEC_DENY_DS; what++) {
		struct dnssec_budget bd;
		dnssec_budget_init(&bd);
		dnssec_deny((enum dnssec_denial)what, qname, qtype, what == DNSSEC_DENY_WILDCARD ? 1 : -1, m.rr, total,
			zone, &bd, &ede);
		if (bd.hashes > bd.nsec3_hash_max)
			abort();
	}
	if (b.sigs > b.sig_query_max)
		abort();

	/* the chain of trust: the root, a cut at the zone carrying this message's authority, the answer */
	static struct dns_server srv;
	static struct dns_nsset nsset;
	srv.dnssec_skew = 300;
	srv.dnssec_sig_max = 64;
	srv.dnssec_rrset_sig_max = 8;
	srv.dnssec_collisions_max = 4;
	srv.dnssec_nsec3_iter_max = 150;
	srv.dnssec_nsec3_hash_max = 64;
	struct tb_bytes all = { 0 };
	for (size_t i = 0; i < total; i++)
		put(&all, m.rr[i].type == DNS_T_DS || m.rr[i].type == DNS_T_DNSKEY ? 0 : 1, &m.rr[i]);
	srv.anchors = all;
	struct dns_val v;
	dns_val_init(&v, &srv);
	dns_val_cut(&v, NULL, (const uint8_t *)"", &nsset, NULL, 0);
	if (zone[0])
		dns_val_cut(&v, (const uint8_t *)"", zone, &nsset, m.rr, total);
	struct dns_val_zone *z;
	int guard = 0;
	while ((z = dns_val_step(&v, &srv, now)) != NULL && guard++ < 4)
		dns_val_keys(&v, z->name, all.p, all.len);
	if (!z)
		dns_val_answer(&v, &srv, all.p, all.len, qname, qtype, DNS_RCODE(m.flags), now, &ede);
	dns_val_free(&v);
	dns_val_cache_free(&srv);
	tb_bytes_free(&all);
	srv.anchors.p = NULL;
	dns_msg_free(&m);
	return 0;
}
