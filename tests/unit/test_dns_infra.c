/* The iterator's server table (dns/infra.c): RTT smoothing, back-off and its cap, expiry, the
 * size bound with LRU eviction, workaround flags, and server selection preferring the fast. */
#include "tb_test.h"

#include <arpa/inet.h>

#include "core/error.h"
#include "dns/dns.h"
#include "dns/dns_internal.h"

static struct sockaddr_storage addr(const char *ip, int port)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof ss);
	if (strchr(ip, ':')) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		inet_pton(AF_INET6, ip, &a->sin6_addr);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		inet_pton(AF_INET, ip, &a->sin_addr);
	}
	return ss;
}

static void test_rtt(void)
{
	struct dns_infra t;
	CHECK_INT(dns_infra_init(&t, 16, 1000), 0);
	struct sockaddr_storage a = addr("192.0.2.1", 53), b = addr("192.0.2.1", 54), c = addr("2001:db8::1", 53);
	CHECK_INT(dns_infra_rto(&t, &a, 0), DNS_INFRA_UNKNOWN_MS);
	dns_infra_rtt(&t, &a, 100, 0); /* first sample: srtt 100, rttvar 50 */
	CHECK_INT(dns_infra_rto(&t, &a, 0), 300);
	dns_infra_rtt(&t, &a, 100, 0); /* srtt 100, rttvar 37 */
	CHECK_INT(dns_infra_rto(&t, &a, 0), 248);
	dns_infra_rtt(&t, &b, 1, 0); /* another port is another server; fast ones stop at the floor */
	CHECK_INT(dns_infra_rto(&t, &b, 0), DNS_INFRA_RTO_MIN);
	CHECK_INT(dns_infra_rto(&t, &c, 0), DNS_INFRA_UNKNOWN_MS);
	/* timeouts double the estimate, up to the cap; an answer resets it */
	dns_infra_timeout(&t, &c, 0);
	CHECK_INT(dns_infra_rto(&t, &c, 0), 2 * DNS_INFRA_UNKNOWN_MS);
	for (int i = 0; i < 20; i++)
		dns_infra_timeout(&t, &c, 0);
	CHECK_INT(dns_infra_rto(&t, &c, 0), DNS_INFRA_RTO_MAX);
	CHECK_INT(t.timeouts, 21);
	dns_infra_rtt(&t, &c, 10, 0);
	CHECK(dns_infra_rto(&t, &c, 0) < DNS_INFRA_UNKNOWN_MS);
	/* flags stay with the server; everything expires ttl ms after the last update */
	dns_infra_set_flags(&t, &a, DNS_INFRA_NO_EDNS, 500);
	dns_infra_set_flags(&t, &a, DNS_INFRA_NO_0X20, 500);
	CHECK_INT(dns_infra_flags(&t, &a, 1499), DNS_INFRA_NO_EDNS | DNS_INFRA_NO_0X20);
	CHECK_INT(dns_infra_flags(&t, &b, 1499), 0);
	CHECK_INT(dns_infra_flags(&t, &a, 1500), 0);
	CHECK_INT(dns_infra_rto(&t, &a, 1500), DNS_INFRA_UNKNOWN_MS);
	dns_infra_free(&t);
}

static void test_bound(void)
{
	struct dns_infra t;
	CHECK_INT(dns_infra_init(&t, 4, 100000), 0);
	char ip[32];
	for (int i = 0; i < 100; i++) {
		snprintf(ip, sizeof ip, "192.0.2.%d", i);
		struct sockaddr_storage a = addr(ip, 53);
		dns_infra_rtt(&t, &a, 10, (uint64_t)i);
		CHECK(t.n <= 4);
	}
	CHECK_INT(t.n, 4);
	/* the newest are kept, the least recently used went */
	struct sockaddr_storage old = addr("192.0.2.0", 53), recent = addr("192.0.2.99", 53);
	CHECK_INT(dns_infra_rto(&t, &old, 200), DNS_INFRA_UNKNOWN_MS);
	CHECK_INT(dns_infra_rto(&t, &recent, 200), DNS_INFRA_RTO_MIN);
	dns_infra_free(&t);
	/* size 0: nothing is remembered, every server is unknown */
	CHECK_INT(dns_infra_init(&t, 0, 100000), 0);
	dns_infra_rtt(&t, &recent, 10, 0);
	CHECK_INT(t.n, 0);
	CHECK_INT(dns_infra_rto(&t, &recent, 0), DNS_INFRA_UNKNOWN_MS);
	dns_infra_free(&t);
}

static void test_pick(void)
{
	struct dns_infra t;
	CHECK_INT(dns_infra_init(&t, 16, 100000), 0);
	struct dns_nsset ns;
	memset(&ns, 0, sizeof ns);
	ns.n = 2;
	ns.ns[0].n_addr = 1;
	ns.ns[0].addr[0] = addr("192.0.2.1", 53);
	ns.ns[1].n_addr = 1;
	ns.ns[1].addr[0] = addr("192.0.2.2", 53);
	uint8_t tried[DNS_NSSET_MAX] = { 0 };
	size_t ni, ai, count[2] = { 0, 0 };
	/* both unknown: either */
	for (int i = 0; i < 200; i++) {
		CHECK_INT(dns_infra_pick(&t, &ns, tried, 0, &ni, &ai), 0);
		count[ni]++;
	}
	CHECK(count[0] > 0 && count[1] > 0);
	/* one known fast, one unknown: both (the unknown one is explored) */
	dns_infra_rtt(&t, &ns.ns[1].addr[0], 5, 0);
	count[0] = count[1] = 0;
	for (int i = 0; i < 200; i++) {
		CHECK_INT(dns_infra_pick(&t, &ns, tried, 0, &ni, &ai), 0);
		count[ni]++;
	}
	CHECK(count[0] > 0 && count[1] > 0);
	/* the unknown one timed out: the fast one, every time */
	dns_infra_timeout(&t, &ns.ns[0].addr[0], 0);
	for (int i = 0; i < 200; i++) {
		CHECK_INT(dns_infra_pick(&t, &ns, tried, 0, &ni, &ai), 0);
		CHECK_INT(ni, 1);
	}
	/* but it is still asked when it is the only one left */
	tried[1] = 1;
	CHECK_INT(dns_infra_pick(&t, &ns, tried, 0, &ni, &ai), 0);
	CHECK_INT(ni, 0);
	tried[0] = 1;
	CHECK_INT(dns_infra_pick(&t, &ns, tried, 0, &ni, &ai), TB_ERR_NOT_FOUND);
	dns_infra_free(&t);
}

int main(void)
{
	test_rtt();
	test_bound();
	test_pick();
	return tb_test_result("dns_infra");
}
