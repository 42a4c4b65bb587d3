/* The resolver's cache: entry TTLs (RFC 2308 negative TTL), LRU eviction by entries and by bytes
 * (dns.cache_bytes), expiry, the serve-stale window and stale answers (RFC 8767), the prefetch
 * window, NXDOMAIN from cached NSEC records (RFC 8198), served TTLs, the bytes it holds and flushes
 * (the admin API's); the query log ring. */
#include "tb_test.h"

#include <arpa/inet.h>

#include "core/error.h"
#include "dns/dns.h"
#include "dns/dns_internal.h"
#include "dns/dnssec.h"

static void name(const char *s, uint8_t *out)
{
	size_t nl;
	if (dns_name_from_text(s, strlen(s), NULL, out, &nl))
		exit(2);
}

/* An upstream answer for qname/A: rcode, an A record with ttl (if ttl_a >= 0), an SOA in authority (if soa_ttl >= 0). */
static size_t upstream(uint8_t *buf, const char *qname, int rcode, long ttl_a, long soa_ttl, uint32_t soa_min)
{
	uint8_t q[DNS_NAME_MAX], z[DNS_NAME_MAX];
	name(qname, q);
	name("example.", z);
	struct dns_builder b;
	dns_builder_init(&b, buf, 4096, 1, (uint16_t)(DNS_F_QR | DNS_F_RD | DNS_F_RA | rcode));
	dns_builder_question(&b, q, DNS_T_A, DNS_C_IN);
	if (ttl_a >= 0)
		dns_builder_rr(&b, DNS_SEC_ANSWER, q, DNS_T_A, DNS_C_IN, (uint32_t)ttl_a, (const uint8_t *)"\xc0\0\2\1", 4);
	if (soa_ttl >= 0) {
		uint8_t rd[64];
		size_t o = 0;
		memcpy(rd, "\2ns\7example\0\1h\7example\0", 23);
		o = 23;
		uint32_t v[5] = { 1, 2, 3, 4, soa_min };
		for (int i = 0; i < 5; i++) {
			rd[o++] = (uint8_t)(v[i] >> 24);
			rd[o++] = (uint8_t)(v[i] >> 16);
			rd[o++] = (uint8_t)(v[i] >> 8);
			rd[o++] = (uint8_t)v[i];
		}
		dns_builder_rr(&b, DNS_SEC_AUTHORITY, z, DNS_T_SOA, DNS_C_IN, (uint32_t)soa_ttl, rd, o);
	}
	return dns_builder_finish(&b);
}

static struct dns_cache_entry *entry(const char *qname, int rcode, long ttl_a, long soa_ttl, uint32_t soa_min,
	uint64_t now, uint32_t *ttl)
{
	uint8_t buf[4096], q[DNS_NAME_MAX];
	size_t n = upstream(buf, qname, rcode, ttl_a, soa_ttl, soa_min);
	struct dns_msg m;
	if (dns_msg_parse(&m, buf, n))
		return NULL;
	name(qname, q);
	struct dns_cache_entry *e = dns_cache_entry_from_msg(&m, q, DNS_T_A, DNS_C_IN, now, ttl);
	dns_msg_free(&m);
	return e;
}

static void test_ttls(void)
{
	uint32_t ttl;
	struct dns_cache_entry *e;
	e = entry("a.example.", 0, 300, -1, 0, 0, &ttl);
	CHECK(e != NULL);
	CHECK_INT(ttl, 300);
	free(e);
	e = entry("a.example.", 0, 999999, -1, 0, 0, &ttl);
	CHECK_INT(ttl, 86400); /* capped at a day */
	free(e);
	e = entry("nx.example.", DNS_RCODE_NXDOMAIN, -1, 600, 120, 0, &ttl);
	CHECK_INT(ttl, 120); /* min(SOA TTL, MINIMUM) */
	free(e);
	e = entry("nx.example.", DNS_RCODE_NXDOMAIN, -1, 30, 120, 0, &ttl);
	CHECK_INT(ttl, 30);
	free(e);
	e = entry("nx.example.", DNS_RCODE_NXDOMAIN, -1, 99999, 99999, 0, &ttl);
	CHECK_INT(ttl, 3600); /* negative capped at an hour */
	free(e);
	e = entry("nodata.example.", 0, -1, -1, 0, 0, &ttl);
	CHECK_INT(ttl, 0); /* no SOA: not cacheable (RFC 2308 5) */
	free(e);
}

static void test_lru(void)
{
	struct dns_cache c;
	CHECK_INT(dns_cache_init(&c, 3), 0);
	uint32_t ttl;
	const char *names[] = { "n1.example.", "n2.example.", "n3.example.", "n4.example.", "n5.example." };
	uint8_t q[5][DNS_NAME_MAX];
	for (int i = 0; i < 5; i++)
		name(names[i], q[i]);
	for (int i = 0; i < 3; i++)
		dns_cache_put(&c, entry(names[i], 0, 300, -1, 0, 1000, &ttl));
	CHECK_INT(c.n, 3);
	/* touch n1: n2 becomes the least recently used */
	CHECK(dns_cache_get(&c, q[0], DNS_T_A, DNS_C_IN, 2000) != NULL);
	dns_cache_put(&c, entry(names[3], 0, 300, -1, 0, 1000, &ttl));
	CHECK_INT(c.n, 3);
	CHECK(dns_cache_get(&c, q[1], DNS_T_A, DNS_C_IN, 2000) == NULL);
	CHECK(dns_cache_get(&c, q[0], DNS_T_A, DNS_C_IN, 2000) != NULL);
	CHECK(dns_cache_get(&c, q[2], DNS_T_A, DNS_C_IN, 2000) != NULL);
	CHECK(dns_cache_get(&c, q[3], DNS_T_A, DNS_C_IN, 2000) != NULL);
	/* the same key replaces, case-insensitively */
	dns_cache_put(&c, entry("N1.EXAMPLE.", 0, 60, -1, 0, 1000, &ttl));
	CHECK_INT(c.n, 3);
	/* other type or class is another key */
	CHECK(dns_cache_get(&c, q[0], DNS_T_AAAA, DNS_C_IN, 2000) == NULL);
	/* expiry: n1 now has 60 s */
	CHECK(dns_cache_get(&c, q[0], DNS_T_A, DNS_C_IN, 1000 + 59000) != NULL);
	CHECK(dns_cache_get(&c, q[0], DNS_T_A, DNS_C_IN, 1000 + 60000) == NULL);
	CHECK_INT(c.n, 2);
	dns_cache_put(&c, entry(names[4], 0, 300, -1, 0, 1000, &ttl));
	CHECK_INT(c.n, 3);
	dns_cache_free(&c);
	CHECK_INT(c.n, 0);
}

static void test_served_ttl(void)
{
	uint32_t ttl;
	struct dns_cache_entry *e = entry("a.example.", 0, 300, 500, 100, 10000, &ttl);
	struct dns_server *s = calloc(1, sizeof *s);
	s->udp_payload = 1232;
	struct dns_fwd_client cl;
	memset(&cl, 0, sizeof cl);
	name("A.Example.", cl.qname);
	cl.qtype = DNS_T_A;
	cl.qclass = DNS_C_IN;
	cl.id = 0x1111;
	cl.flags = DNS_F_RD;
	uint8_t out[1232];
	size_t n = dns_fwd_answer(s, &cl, e, 0, 0xffff, NULL, 10000 + 100500, out, sizeof out);
	struct dns_msg m;
	CHECK_INT(dns_msg_parse(&m, out, n), 0);
	CHECK_INT(m.id, 0x1111);
	CHECK_INT(m.flags & (DNS_F_QR | DNS_F_RA | DNS_F_RD | DNS_F_AA), DNS_F_QR | DNS_F_RA | DNS_F_RD);
	CHECK_MEM(m.qd[0].name, 11, "\1A\7Example", 11); /* the client's spelling */
	CHECK_INT(m.n_rr[DNS_SEC_ANSWER], 1);
	CHECK_INT(m.rr[0].ttl, 200);                      /* 300 - 100 s */
	CHECK_INT(m.n_rr[DNS_SEC_AUTHORITY], 1);
	CHECK_INT(m.rr[1].ttl, 400);
	dns_msg_free(&m);
	/* an error answer carries EDE when the client speaks EDNS */
	cl.edns = 1;
	n = dns_fwd_answer(s, &cl, NULL, DNS_RCODE_SERVFAIL, DNS_EDE_NO_REACHABLE_AUTHORITY, "x", 0, out, sizeof out);
	CHECK_INT(dns_msg_parse(&m, out, n), 0);
	CHECK_INT(DNS_RCODE(m.flags), DNS_RCODE_SERVFAIL);
	CHECK(m.edns.present);
	CHECK_INT(m.edns.n_opts, 1);
	CHECK_INT(m.edns.opts[0].code, DNS_OPT_EDE);
	dns_msg_free(&m);
	free(e);

	/* a cached negative answer: the SOA goes out with the negative TTL left
	 * (min(SOA TTL, MINIMUM) counting down), not the SOA's own TTL (RFC 2308 3, 5) */
	e = entry("nx.example.", DNS_RCODE_NXDOMAIN, -1, 3600, 5, 20000, &ttl);
	CHECK_INT(ttl, 5);
	cl.edns = 0;
	n = dns_fwd_answer(s, &cl, e, 0, 0xffff, NULL, 20000 + 2000, out, sizeof out);
	CHECK_INT(dns_msg_parse(&m, out, n), 0);
	CHECK_INT(DNS_RCODE(m.flags), DNS_RCODE_NXDOMAIN);
	CHECK_INT(m.n_rr[DNS_SEC_AUTHORITY], 1);
	CHECK_INT(m.rr[0].type, DNS_T_SOA);
	CHECK_INT(m.rr[0].ttl, 3);
	dns_msg_free(&m);
	free(e);
	free(s);
}

/* bytes follow puts, replacements, evictions and removals; flush drops a name (every type) or all */
static void test_bytes_flush(void)
{
	struct dns_cache c;
	CHECK_INT(dns_cache_init(&c, 2), 0);
	uint32_t ttl;
	uint8_t q1[DNS_NAME_MAX], q2[DNS_NAME_MAX];
	name("f1.example.", q1);
	name("f2.example.", q2);
	CHECK_INT(c.bytes, 0);
	dns_cache_put(&c, entry("f1.example.", 0, 300, -1, 0, 1000, &ttl));
	size_t one = c.bytes;
	CHECK(one > 0);
	dns_cache_put(&c, entry("F1.example.", 0, 300, -1, 0, 1000, &ttl));
	CHECK_INT(c.bytes, one);
	dns_cache_put(&c, entry("f2.example.", 0, 300, -1, 0, 1000, &ttl));
	CHECK_INT(c.bytes, 2 * one);
	dns_cache_put(&c, entry("f3.example.", 0, 300, -1, 0, 1000, &ttl)); /* evicts f1 */
	CHECK_INT(c.n, 2);
	CHECK_INT(c.bytes, 2 * one);
	CHECK_INT(dns_cache_flush(&c, q1), 0);
	CHECK_INT(dns_cache_flush(&c, q2), 1);
	CHECK_INT(c.n, 1);
	CHECK_INT(c.bytes, one);
	CHECK(dns_cache_get(&c, q2, DNS_T_A, DNS_C_IN, 2000) == NULL);
	CHECK_INT(dns_cache_flush(&c, NULL), 1);
	CHECK_INT(c.n, 0);
	CHECK_INT(c.bytes, 0);
	dns_cache_free(&c);
}

/* the query log: nothing while off, a bounded ring newest last, the question and RCODE read from the answer */
static void test_querylog(void)
{
	struct dns_server *s = calloc(1, sizeof *s);
	CHECK(s != NULL);
	uint8_t buf[4096];
	size_t n = upstream(buf, "q.example.", DNS_RCODE_NXDOMAIN, -1, 60, 60);
	struct dns_reply r = { .tcp = 1 };
	struct sockaddr_in *a = (struct sockaddr_in *)&r.addr;
	a->sin_family = AF_INET;
	a->sin_port = htons(5300);
	a->sin_addr.s_addr = htonl(0x7f000001);
	dns_qlog_answer(s, &r, buf, n);
	CHECK_INT(dns_qlog_enable(&s->qlog, 1), TB_ERR_UNSUPPORTED); /* querylog_size 0 */
	s->qlog.size = 2;
	dns_qlog_answer(s, &r, buf, n);
	CHECK_INT(s->qlog.n, 0);
	CHECK_INT(dns_qlog_enable(&s->qlog, 1), 0);
	for (int i = 0; i < 3; i++)
		dns_qlog_answer(s, &r, buf, n);
	CHECK_INT(s->qlog.n, 2);
	const struct dns_qlog_entry *e = &s->qlog.ring[(s->qlog.next + 1) % 2];
	char nb[DNS_NAME_TEXT_MAX];
	CHECK_STR(dns_name_str(e->name, nb, sizeof nb), "q.example.");
	CHECK_INT(e->type, DNS_T_A);
	CHECK_INT(e->rcode, DNS_RCODE_NXDOMAIN);
	CHECK_INT(e->tcp, 1);
	CHECK_STR(e->client, "127.0.0.1:5300");
	dns_qlog_answer(s, &r, buf, 11); /* shorter than a header: ignored */
	CHECK_INT(dns_qlog_enable(&s->qlog, 0), 0);
	size_t next = s->qlog.next;
	dns_qlog_answer(s, &r, buf, n);
	CHECK_INT(s->qlog.next, next);
	dns_qlog_free(&s->qlog);
	free(s);
}

/* dns.cache_bytes: the bytes held never pass the cap; the least recently used entries go */
static void test_byte_cap(void)
{
	struct dns_cache c;
	uint32_t ttl;
	struct dns_cache_entry *probe = entry("p.example.", 0, 300, -1, 0, 1000, &ttl);
	CHECK(probe != NULL);
	CHECK_INT(dns_cache_init_bytes(&c, 1000000, 0), 0);
	dns_cache_put(&c, probe); /* a zero cap keeps nothing */
	CHECK_INT(c.n, 0);
	dns_cache_free(&c);
	CHECK_INT(dns_cache_init_bytes(&c, 1000000, 10000), 0);
	uint8_t q[DNS_NAME_MAX], first[DNS_NAME_MAX];
	name("n0.example.", first);
	size_t one = 0;
	for (int i = 0; i < 1000; i++) {
		char nb[64];
		snprintf(nb, sizeof nb, "n%d.example.", i);
		dns_cache_put(&c, entry(nb, 0, 300, -1, 0, 1000, &ttl));
		if (i == 0)
			one = c.bytes;
		CHECK(c.bytes <= 10000);
		/* the first entry stays while it is the most recently used */
		CHECK(dns_cache_get(&c, first, DNS_T_A, DNS_C_IN, 2000) != NULL);
	}
	CHECK(one >= 64); /* the allocation, header included, not just the records */
	CHECK(c.bytes + 2 * one > 10000); /* full: only what one more entry would pass the cap by is left */
	CHECK_INT(c.n + c.evicted, 1000);
	name("n1.example.", q);
	CHECK(dns_cache_get(&c, q, DNS_T_A, DNS_C_IN, 2000) == NULL);
	name("n999.example.", q);
	CHECK(dns_cache_get(&c, q, DNS_T_A, DNS_C_IN, 2000) != NULL);
	dns_cache_free(&c);
}

/* serve-stale: an expired entry is no answer but stays for the window; then it goes */
static void test_stale_window(void)
{
	struct dns_cache c;
	uint32_t ttl;
	uint8_t q[DNS_NAME_MAX];
	name("s.example.", q);
	CHECK_INT(dns_cache_init_bytes(&c, 100, 1 << 20), 0);
	c.stale_ms = 10000;
	dns_cache_put(&c, entry("s.example.", 0, 60, -1, 0, 1000, &ttl));
	CHECK(dns_cache_get_stale(&c, q, DNS_T_A, DNS_C_IN, 2000) == NULL);      /* fresh: not stale */
	CHECK(dns_cache_get(&c, q, DNS_T_A, DNS_C_IN, 61000) == NULL);           /* expired */
	CHECK_INT(c.n, 1);                                                       /* but kept */
	struct dns_cache_entry *e = dns_cache_get_stale(&c, q, DNS_T_A, DNS_C_IN, 61000 + 9000);
	CHECK(e != NULL);

	/* served with TTL 30 and EDE 3 to a client, never to the CA's resolver */
	struct dns_server *s = calloc(1, sizeof *s);
	s->udp_payload = 1232;
	s->cache = c;
	struct dns_fwd_client cl;
	memset(&cl, 0, sizeof cl);
	memcpy(cl.qname, q, (size_t)dns_name_len(q, DNS_NAME_MAX));
	cl.qtype = DNS_T_A;
	cl.qclass = DNS_C_IN;
	cl.edns = 1;
	uint8_t out[1232];
	size_t n = dns_fwd_answer_stale(s, &cl, 61000 + 9000, out, sizeof out);
	struct dns_msg m;
	CHECK_INT(dns_msg_parse(&m, out, n), 0);
	CHECK_INT(DNS_RCODE(m.flags), DNS_RCODE_NOERROR);
	CHECK_INT(m.n_rr[DNS_SEC_ANSWER], 1);
	CHECK_INT(m.rr[0].ttl, DNS_STALE_TTL);
	CHECK_INT(m.edns.n_opts, 1);
	CHECK_INT(m.edns.opts[0].code, DNS_OPT_EDE);
	CHECK_INT(m.edns.opts[0].data[1], DNS_EDE_STALE);
	dns_msg_free(&m);
	CHECK_INT(s->cache.stale_served, 1);
	cl.kind = DNS_FWD_RESOLVER;
	CHECK_INT(dns_fwd_answer_stale(s, &cl, 61000 + 9000, out, sizeof out), 0);
	cl.kind = DNS_FWD_UDP;
	c = s->cache;
	free(s);

	CHECK(dns_cache_get_stale(&c, q, DNS_T_A, DNS_C_IN, 61000 + 10000) == NULL); /* past the window */
	CHECK_INT(c.n, 0);
	CHECK_INT(c.bytes, 0);
	/* without a window an expired entry goes at once */
	c.stale_ms = 0;
	dns_cache_put(&c, entry("s.example.", 0, 60, -1, 0, 1000, &ttl));
	CHECK(dns_cache_get(&c, q, DNS_T_A, DNS_C_IN, 61000) == NULL);
	CHECK_INT(c.n, 0);
	dns_cache_free(&c);
}

/* prefetch: due once, for a hit in the last tenth of the TTL */
static void test_prefetch_window(void)
{
	uint32_t ttl;
	struct dns_cache_entry *e = entry("p.example.", 0, 100, -1, 0, 0, &ttl);
	CHECK_INT(dns_cache_entry_prefetch_due(e, 89000), 0);
	CHECK_INT(dns_cache_entry_prefetch_due(e, 90500), 1);
	CHECK_INT(dns_cache_entry_prefetch_due(e, 95000), 0); /* started already */
	free(e);
	e = entry("p.example.", 0, 100, -1, 0, 0, &ttl);
	CHECK_INT(dns_cache_entry_prefetch_due(e, 100000), 0); /* expired: a miss, not a prefetch */
	free(e);
}

/* An NXDOMAIN for qname in example. with the SOA and two NSEC records: host -> ns (covering
 * names between them) and example. -> a.example. (covering the wildcard *.example.). */
static struct dns_cache_entry *nx_with_nsec(const char *qname, uint64_t now)
{
	uint8_t buf[4096], q[DNS_NAME_MAX], z[DNS_NAME_MAX], o1[DNS_NAME_MAX], o2[DNS_NAME_MAX];
	name(qname, q);
	name("example.", z);
	name("host.example.", o1);
	struct dns_builder b;
	dns_builder_init(&b, buf, sizeof buf, 1, (uint16_t)(DNS_F_QR | DNS_F_RD | DNS_F_RA | DNS_RCODE_NXDOMAIN));
	dns_builder_question(&b, q, DNS_T_A, DNS_C_IN);
	uint8_t soa[64];
	memcpy(soa, "\2ns\7example\0\1h\7example\0", 23);
	memset(soa + 23, 0, 20);
	soa[42] = 60; /* MINIMUM 60 */
	dns_builder_rr(&b, DNS_SEC_AUTHORITY, z, DNS_T_SOA, DNS_C_IN, 300, soa, 43);
	static const uint8_t bm[] = { 0, 6, 0x40, 0, 0, 0, 0, 0x03 }; /* A RRSIG NSEC */
	uint8_t rd[DNS_NAME_MAX + 16];
	name("ns.example.", o2);
	size_t l = (size_t)dns_name_len(o2, DNS_NAME_MAX);
	memcpy(rd, o2, l);
	memcpy(rd + l, bm, sizeof bm);
	dns_builder_rr(&b, DNS_SEC_AUTHORITY, o1, DNS_T_NSEC, DNS_C_IN, 60, rd, l + sizeof bm);
	name("a.example.", o2);
	l = (size_t)dns_name_len(o2, DNS_NAME_MAX);
	memcpy(rd, o2, l);
	memcpy(rd + l, bm, sizeof bm);
	dns_builder_rr(&b, DNS_SEC_AUTHORITY, z, DNS_T_NSEC, DNS_C_IN, 60, rd, l + sizeof bm);
	size_t n = dns_builder_finish(&b);
	struct dns_msg m;
	if (dns_msg_parse(&m, buf, n))
		return NULL;
	uint32_t ttl;
	struct dns_cache_entry *e = dns_cache_entry_from_msg(&m, q, DNS_T_A, DNS_C_IN, now, &ttl);
	dns_msg_free(&m);
	return e;
}

/* RFC 8198: a secure NXDOMAIN's NSEC records answer for the other names they cover, and only those */
static void test_nsec_find(void)
{
	struct dns_cache c;
	struct dnssec_budget bud;
	uint8_t q[DNS_NAME_MAX];
	CHECK_INT(dns_cache_init_bytes(&c, 100, 1 << 20), 0);
	struct dns_cache_entry *e = nx_with_nsec("nope.example.", 1000);
	CHECK(e != NULL);
	dns_cache_put(&c, e); /* not validated: never used for others */
	name("nope2.example.", q);
	dnssec_budget_init(&bud);
	CHECK(dns_cache_nsec_find(&c, q, DNS_T_A, DNS_C_IN, 2000, &bud) == NULL);
	e = nx_with_nsec("nope.example.", 1000);
	dns_cache_entry_set_secure(e, 1);
	dns_cache_put(&c, e); /* replaces the unvalidated one */
	CHECK(dns_cache_nsec_find(&c, q, DNS_T_A, DNS_C_IN, 2000, &bud) == e);
	CHECK(dns_cache_nsec_find(&c, q, DNS_T_AAAA, DNS_C_IN, 2000, &bud) == e); /* NXDOMAIN: any type */
	name("zzz.example.", q);   /* after ns.example.: no cached NSEC covers it */
	CHECK(dns_cache_nsec_find(&c, q, DNS_T_A, DNS_C_IN, 2000, &bud) == NULL);
	name("ns.example.", q);    /* an NSEC owner's next name exists */
	CHECK(dns_cache_nsec_find(&c, q, DNS_T_A, DNS_C_IN, 2000, &bud) == NULL);
	name("nope2.other.", q);   /* outside the zone */
	CHECK(dns_cache_nsec_find(&c, q, DNS_T_A, DNS_C_IN, 2000, &bud) == NULL);
	name("nope2.example.", q);
	CHECK(dns_cache_nsec_find(&c, q, DNS_T_A, DNS_C_IN, 1000 + 60000, &bud) == NULL); /* expired */
	CHECK_INT(dns_cache_flush(&c, NULL), 1); /* leaves the list too (ASan would see a stale pointer) */
	CHECK(dns_cache_nsec_find(&c, q, DNS_T_A, DNS_C_IN, 2000, &bud) == NULL);
	dns_cache_free(&c);
}

int main(void)
{
	test_nsec_find();
	test_byte_cap();
	test_stale_window();
	test_prefetch_window();
	test_bytes_flush();
	test_querylog();
	test_ttls();
	test_lru();
	test_served_ttl();
	return tb_test_result("dns_cache");
}
