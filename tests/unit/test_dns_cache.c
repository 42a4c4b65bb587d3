/* The forwarder's cache: entry TTLs (RFC 2308 negative TTL), LRU eviction, expiry, served TTLs,
 * the bytes it holds and flushes (the admin API's); the query log ring. */
#include "tb_test.h"

#include <arpa/inet.h>

#include "core/error.h"
#include "dns/dns.h"
#include "dns/dns_internal.h"

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

int main(void)
{
	test_bytes_flush();
	test_querylog();
	test_ttls();
	test_lru();
	test_served_ttl();
	return tb_test_result("dns_cache");
}
