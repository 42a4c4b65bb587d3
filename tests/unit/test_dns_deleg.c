/* The iterator's zone cut cache (dns/deleg.c): credibility ranks (a lower rank never replaces a
 * live higher one), bailiwick checks on glue, the TTL cap, the LRU bound, the closest-cut lookup
 * and the flush of a name and everything below it. */
#include "tb_test.h"

#include <arpa/inet.h>

#include "core/error.h"
#include "dns/dns.h"
#include "dns/dns_internal.h"

static const uint8_t *nm(const char *text)
{
	static uint8_t buf[8][DNS_NAME_MAX];
	static int k;
	uint8_t *w = buf[k++ % 8];
	size_t l;
	if (dns_name_from_text(text, strlen(text), NULL, w, &l))
		abort();
	return w;
}

static struct dns_rr rr_ns(const char *owner, const char *target, uint32_t ttl)
{
	static uint8_t o[16][DNS_NAME_MAX], t[16][DNS_NAME_MAX];
	static int k;
	int i = k++ % 16;
	memcpy(o[i], nm(owner), DNS_NAME_MAX);
	memcpy(t[i], nm(target), DNS_NAME_MAX);
	struct dns_rr r = { o[i], DNS_T_NS, DNS_C_IN, ttl, t[i], (uint16_t)dns_name_len(t[i], DNS_NAME_MAX) };
	return r;
}

static struct dns_rr rr_a(const char *owner, const char *ip, uint32_t ttl)
{
	static uint8_t o[16][DNS_NAME_MAX], a[16][4];
	static int k;
	int i = k++ % 16;
	memcpy(o[i], nm(owner), DNS_NAME_MAX);
	inet_pton(AF_INET, ip, a[i]);
	struct dns_rr r = { o[i], DNS_T_A, DNS_C_IN, ttl, a[i], 4 };
	return r;
}

/* The first address of server nsname in set, as text ("" when it has none). */
static const char *addr_of(const struct dns_nsset *set, const char *nsname)
{
	static char out[64];
	out[0] = 0;
	for (size_t i = 0; i < set->n; i++)
		if (dns_name_eq(set->ns[i].name, nm(nsname)) && set->ns[i].n_addr) {
			const struct sockaddr_in *a = (const void *)&set->ns[i].addr[0];
			inet_ntop(AF_INET, &a->sin_addr, out, sizeof out);
		}
	return out;
}

static const char *cut_of(struct dns_deleg *d, const char *name, uint64_t now, struct dns_nsset *set)
{
	static char out[DNS_NAME_TEXT_MAX];
	uint8_t cut[DNS_NAME_MAX];
	if (dns_deleg_find(d, nm(name), now, cut, set))
		return "-";
	return dns_name_str(cut, out, sizeof out);
}

static void test_ranks(void)
{
	struct dns_deleg d;
	struct dns_nsset set;
	CHECK_INT(dns_deleg_init(&d, 100, 86400), 0);
	/* a referral from tld. into zone.tld.: NS set and in-bailiwick glue */
	struct dns_rr auth[] = { rr_ns("zone.tld.", "ns1.zone.tld.", 3600), rr_ns("zone.tld.", "ns2.zone.tld.", 3600) };
	struct dns_rr add[] = { rr_a("ns1.zone.tld.", "192.0.2.1", 3600), rr_a("ns2.zone.tld.", "192.0.2.2", 3600) };
	dns_deleg_referral(&d, nm("tld."), nm("zone.tld."), auth, 2, add, 2, &set, 0);
	CHECK_STR(addr_of(&set, "ns1.zone.tld."), "192.0.2.1");
	CHECK_STR(cut_of(&d, "www.zone.tld.", 0, &set), "zone.tld.");
	CHECK_INT(set.n, 2);
	CHECK_STR(addr_of(&set, "ns2.zone.tld."), "192.0.2.2");
	/* the address of ns1 from an authoritative answer outranks the glue ... */
	struct dns_rr a1 = rr_a("ns1.zone.tld.", "192.0.2.11", 3600);
	CHECK_INT(dns_deleg_put_rr(&d, nm("zone.tld."), &a1, 3600, DNS_RANK_AUTH_ANSWER, 1000), 1);
	cut_of(&d, "www.zone.tld.", 1000, &set);
	CHECK_STR(addr_of(&set, "ns1.zone.tld."), "192.0.2.11");
	CHECK_INT(set.ns[0].n_addr, 1); /* replaced, not added to */
	/* ... and glue (a later referral) never replaces it while it lives */
	struct dns_rr add2[] = { rr_a("ns1.zone.tld.", "198.51.100.1", 3600) };
	dns_deleg_referral(&d, nm("tld."), nm("zone.tld."), auth, 2, add2, 1, &set, 2000);
	CHECK_STR(addr_of(&set, "ns1.zone.tld."), "198.51.100.1"); /* this query may use what it was given */
	cut_of(&d, "www.zone.tld.", 2000, &set);
	CHECK_STR(addr_of(&set, "ns1.zone.tld."), "192.0.2.11");
	/* the zone's own NS set (AA) outranks the referral's; a referral does not replace it */
	struct dns_nsset own;
	memset(&own, 0, sizeof own);
	dns_nsset_add_ns(&own, nm("ns1.zone.tld."));
	CHECK_INT(dns_deleg_put_ns(&d, nm("zone.tld."), &own, 3600, DNS_RANK_AUTH_ANSWER, 3000), 1);
	cut_of(&d, "www.zone.tld.", 3000, &set);
	CHECK_INT(set.n, 1);
	CHECK_STR(addr_of(&set, "ns1.zone.tld."), "192.0.2.11"); /* its address stayed with it */
	struct dns_rr evil[] = { rr_ns("zone.tld.", "ns.evil.", 3600) };
	struct dns_nsset bad;
	memset(&bad, 0, sizeof bad);
	dns_nsset_add_ns(&bad, nm("ns.evil."));
	CHECK_INT(dns_deleg_put_ns(&d, nm("zone.tld."), &bad, 3600, DNS_RANK_REFERRAL, 3000), 0);
	CHECK_INT(dns_deleg_put_ns(&d, nm("zone.tld."), &bad, 3600, DNS_RANK_AUTH_AUTHORITY, 3000), 0);
	dns_deleg_referral(&d, nm("tld."), nm("zone.tld."), evil, 1, NULL, 0, &set, 3000);
	cut_of(&d, "www.zone.tld.", 3000, &set);
	CHECK_INT(set.n, 1);
	CHECK(dns_name_eq(set.ns[0].name, nm("ns1.zone.tld.")));
	/* once it has expired, a lower rank replaces it */
	uint64_t later = 3000 + 3600 * 1000ull;
	dns_deleg_referral(&d, nm("tld."), nm("zone.tld."), auth, 2, add, 2, &set, later);
	cut_of(&d, "www.zone.tld.", later, &set);
	CHECK_INT(set.n, 2);
	CHECK_STR(addr_of(&set, "ns2.zone.tld."), "192.0.2.2");
	/* nothing is kept for the root (the hints are its), or for a server not in the set */
	struct dns_rr r1[] = { rr_ns("tld.", "a.nic.tld.", 3600) };
	struct dns_rr g1[] = { rr_a("a.nic.tld.", "192.0.2.53", 3600) };
	dns_deleg_referral(&d, nm("."), nm("."), r1, 1, g1, 1, &set, later);
	CHECK_INT(d.n, 1);
	struct dns_rr other = rr_a("ns9.zone.tld.", "192.0.2.9", 3600);
	CHECK_INT(dns_deleg_put_rr(&d, nm("zone.tld."), &other, 3600, DNS_RANK_AUTH_ANSWER, later), 0);
	dns_deleg_free(&d);
}

static void test_bailiwick(void)
{
	struct dns_deleg d;
	struct dns_nsset set;
	CHECK_INT(dns_deleg_init(&d, 100, 86400), 0);
	/*
	 * tld.'s server refers sub.tld. to ns.other. with an address for it: not
	 * its to give (other. is not under tld.), so neither used nor kept; the NS
	 * name stays, to be looked up
	 */
	struct dns_rr auth[] = { rr_ns("sub.tld.", "ns.other.", 3600), rr_ns("sub.tld.", "ns.sub.tld.", 3600) };
	struct dns_rr add[] = { rr_a("ns.other.", "203.0.113.66", 3600), rr_a("ns.sub.tld.", "192.0.2.7", 3600),
		rr_a("www.other.", "203.0.113.67", 3600) };
	dns_deleg_referral(&d, nm("tld."), nm("sub.tld."), auth, 2, add, 3, &set, 0);
	CHECK_INT(set.n, 2);
	CHECK_STR(addr_of(&set, "ns.other."), "");
	CHECK_STR(addr_of(&set, "ns.sub.tld."), "192.0.2.7");
	CHECK_STR(cut_of(&d, "x.sub.tld.", 0, &set), "sub.tld.");
	CHECK_STR(addr_of(&set, "ns.other."), "");
	/* no cut appears for other. (glue makes no cut) */
	CHECK_STR(cut_of(&d, "www.other.", 0, &set), "-");
	CHECK_INT(d.n, 1);
	/* a cut whose only server has no address yet is not a place to start */
	struct dns_rr auth2[] = { rr_ns("glueless.tld.", "ns.elsewhere.", 3600) };
	dns_deleg_referral(&d, nm("tld."), nm("glueless.tld."), auth2, 1, add, 3, &set, 0);
	CHECK_INT(d.n, 2);
	CHECK_STR(cut_of(&d, "www.glueless.tld.", 0, &set), "-");
	/* ...until its address is resolved (an authoritative answer) */
	struct dns_rr a = rr_a("ns.elsewhere.", "192.0.2.99", 3600);
	CHECK_INT(dns_deleg_put_rr(&d, nm("glueless.tld."), &a, 3600, DNS_RANK_AUTH_ANSWER, 0), 1);
	CHECK_STR(cut_of(&d, "www.glueless.tld.", 0, &set), "glueless.tld.");
	CHECK_STR(addr_of(&set, "ns.elsewhere."), "192.0.2.99");
	dns_deleg_free(&d);
}

static void test_ttl(void)
{
	struct dns_deleg d;
	struct dns_nsset set;
	CHECK_INT(dns_deleg_init(&d, 100, 60), 0);
	struct dns_rr auth[] = { rr_ns("zone.tld.", "ns.zone.tld.", 86400) };
	struct dns_rr add[] = { rr_a("ns.zone.tld.", "192.0.2.1", 86400) };
	dns_deleg_referral(&d, nm("tld."), nm("zone.tld."), auth, 1, add, 1, &set, 0);
	CHECK_STR(cut_of(&d, "a.zone.tld.", 59999, &set), "zone.tld.");
	CHECK_STR(cut_of(&d, "a.zone.tld.", 60000, &set), "-"); /* capped at 60 s, not 86400 */
	CHECK_INT(d.n, 0);                                       /* and dropped when met expired */
	/* an address shorter-lived than its NS set: the cut stays, with no server to ask */
	struct dns_rr add2[] = { rr_a("ns.zone.tld.", "192.0.2.1", 10) };
	dns_deleg_referral(&d, nm("tld."), nm("zone.tld."), auth, 1, add2, 1, &set, 0);
	CHECK_STR(cut_of(&d, "a.zone.tld.", 9999, &set), "zone.tld.");
	CHECK_STR(cut_of(&d, "a.zone.tld.", 10000, &set), "-");
	CHECK_INT(d.n, 1);
	/* a TTL of 0 is not kept */
	struct dns_rr auth0[] = { rr_ns("zero.tld.", "ns.zero.tld.", 0) };
	dns_deleg_referral(&d, nm("tld."), nm("zero.tld."), auth0, 1, NULL, 0, &set, 0);
	CHECK_INT(d.n, 1);
	dns_deleg_free(&d);
}

static void put_cut(struct dns_deleg *d, const char *cut, const char *ip, uint64_t now)
{
	char ns[DNS_NAME_TEXT_MAX + 4];
	struct dns_nsset set;
	snprintf(ns, sizeof ns, "ns.%s", cut);
	struct dns_rr auth[] = { rr_ns(cut, ns, 3600) };
	struct dns_rr add[] = { rr_a(ns, ip, 3600) };
	dns_deleg_referral(d, nm("."), nm(cut), auth, 1, add, 1, &set, now);
}

static void test_lru_closest_flush(void)
{
	struct dns_deleg d;
	struct dns_nsset set;
	CHECK_INT(dns_deleg_init(&d, 3, 86400), 0);
	put_cut(&d, "tld.", "192.0.2.1", 0);
	put_cut(&d, "zone.tld.", "192.0.2.2", 0);
	put_cut(&d, "deep.sub.zone.tld.", "192.0.2.3", 0);
	/* the closest cut at or above the name */
	CHECK_STR(cut_of(&d, "a.b.deep.sub.zone.tld.", 0, &set), "deep.sub.zone.tld.");
	CHECK_STR(cut_of(&d, "deep.sub.zone.tld.", 0, &set), "deep.sub.zone.tld.");
	CHECK_STR(cut_of(&d, "x.sub.zone.tld.", 0, &set), "zone.tld.");
	CHECK_STR(addr_of(&set, "ns.zone.tld."), "192.0.2.2");
	CHECK_STR(cut_of(&d, "other.tld.", 0, &set), "tld.");
	CHECK_STR(cut_of(&d, "tld2.", 0, &set), "-");
	CHECK_STR(cut_of(&d, ".", 0, &set), "-");
	/* the bound: a fourth cut drops the least recently used (deep.sub.zone.tld.) */
	put_cut(&d, "other.", "192.0.2.4", 0);
	CHECK_INT(d.n, 3);
	CHECK_INT(d.evicted, 1);
	CHECK_STR(cut_of(&d, "a.deep.sub.zone.tld.", 0, &set), "zone.tld.");
	CHECK_STR(cut_of(&d, "a.other.", 0, &set), "other.");
	/* a failed cut is dropped: the one above answers next */
	CHECK_INT(dns_deleg_drop(&d, nm("zone.tld.")), 0);
	CHECK_INT(d.failed, 1);
	CHECK_STR(cut_of(&d, "a.zone.tld.", 0, &set), "tld.");
	CHECK_INT(dns_deleg_drop(&d, nm("zone.tld.")), TB_ERR_NOT_FOUND);
	/* flush drops the cuts at and below a name, not above or beside it */
	put_cut(&d, "zone.tld.", "192.0.2.2", 0);
	CHECK_INT(dns_deleg_flush(&d, nm("zone.tld.")), 1);
	CHECK_STR(cut_of(&d, "a.zone.tld.", 0, &set), "tld.");
	put_cut(&d, "zone.tld.", "192.0.2.2", 0);
	CHECK_INT(dns_deleg_flush(&d, nm("tld.")), 2);
	CHECK_STR(cut_of(&d, "a.other.", 0, &set), "other.");
	CHECK_INT(dns_deleg_flush(&d, nm("x.other.")), 0);
	CHECK_INT(dns_deleg_flush(&d, NULL), 1);
	CHECK_INT(d.n, 0);
	dns_deleg_free(&d);
	/* size 0: nothing kept */
	CHECK_INT(dns_deleg_init(&d, 0, 86400), 0);
	put_cut(&d, "tld.", "192.0.2.1", 0);
	CHECK_INT(d.n, 0);
	CHECK_STR(cut_of(&d, "a.tld.", 0, &set), "-");
	dns_deleg_free(&d);
}

int main(void)
{
	test_ranks();
	test_bailiwick();
	test_ttl();
	test_lru_closest_flush();
	return tb_test_result("dns_deleg");
}
