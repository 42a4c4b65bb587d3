/* The pieces of DNS over TLS without sockets: the framing TCP and DoT share (dns_tcp_frame)
 * and the padding of DoT answers (dns_pad_answer, RFC 7830 / RFC 8467). */
#include "tb_test.h"

#include "dns/dns.h"
#include "dns/dns_internal.h"

static void test_frame(void)
{
	uint8_t b[64] = { 0 };
	CHECK_INT(dns_tcp_frame(b, 0), 0);
	CHECK_INT(dns_tcp_frame(b, 1), 0);
	b[1] = 11; /* less than a header */
	CHECK_INT(dns_tcp_frame(b, 20), -1);
	b[1] = 0;
	CHECK_INT(dns_tcp_frame(b, 2), -1);
	b[1] = 12;
	CHECK_INT(dns_tcp_frame(b, 13), 0);
	CHECK_INT(dns_tcp_frame(b, 14), 12);
	CHECK_INT(dns_tcp_frame(b, 64), 12); /* a second frame follows */
	b[0] = 0xff;
	b[1] = 0xff;
	CHECK_INT(dns_tcp_frame(b, 64), 0); /* 65535 announced, 62 there */
}

/* An answer: www.lab.test A, a compressed owner, then OPT (when edns) and a TSIG-typed record (when tsig). */
static size_t answer(uint8_t *buf, size_t cap, int edns, int tsig, int n_a)
{
	static const uint8_t qname[] = "\3www\3lab\4test";
	struct dns_builder b;
	dns_builder_init(&b, buf, cap, 7, DNS_F_QR | DNS_F_AA);
	dns_builder_question(&b, qname, DNS_T_A, DNS_C_IN);
	for (int i = 0; i < n_a; i++) {
		uint8_t a[4] = { 192, 0, 2, (uint8_t)i };
		dns_builder_rr(&b, DNS_SEC_ANSWER, qname, DNS_T_A, DNS_C_IN, 300, a, 4);
	}
	if (edns)
		dns_builder_opt(&b, 1232, 0, 0, NULL, 0, 0);
	if (tsig)
		dns_builder_rr(&b, DNS_SEC_ADDITIONAL, qname, DNS_T_TSIG, 255, 0, (const uint8_t *)"\0", 1);
	return dns_builder_finish(&b);
}

static void test_pad(void)
{
	uint8_t buf[65535];
	size_t n = answer(buf, sizeof buf, 1, 0, 1);
	size_t p = dns_pad_answer(buf, n, sizeof buf);
	CHECK_INT(p, 468);
	struct dns_msg m;
	CHECK_INT(dns_msg_parse(&m, buf, p), 0);
	CHECK(m.edns.present);
	CHECK_INT(m.n_rr[DNS_SEC_ANSWER], 1);
	int padded = 0;
	for (size_t i = 0; i < m.edns.n_opts; i++)
		padded |= m.edns.opts[i].code == DNS_OPT_PADDING && m.edns.opts[i].len == 468 - n - 4;
	CHECK(padded);
	dns_msg_free(&m);

	/* larger than one block: the next multiple */
	n = answer(buf, sizeof buf, 1, 0, 40);
	CHECK(n > 468);
	p = dns_pad_answer(buf, n, sizeof buf);
	CHECK_INT(p % 468, 0);
	CHECK(p >= n + 4 && p < n + 4 + 468);
	CHECK_INT(dns_msg_parse(&m, buf, p), 0);
	CHECK_INT(m.n_rr[DNS_SEC_ANSWER], 40);
	dns_msg_free(&m);

	/* no OPT, or a record after it (TSIG): as it is */
	n = answer(buf, sizeof buf, 0, 0, 1);
	CHECK_INT(dns_pad_answer(buf, n, sizeof buf), n);
	n = answer(buf, sizeof buf, 1, 1, 1);
	CHECK_INT(dns_pad_answer(buf, n, sizeof buf), n);

	/* no room for the padding: as it is */
	n = answer(buf, sizeof buf, 1, 0, 1);
	CHECK_INT(dns_pad_answer(buf, n, n + 10), n);

	/* cut short, or counts that lie: as it is, without reading past n */
	n = answer(buf, sizeof buf, 1, 0, 1);
	for (size_t cut = 0; cut < n; cut++) {
		uint8_t *copy = malloc(cut ? cut : 1);
		memcpy(copy, buf, cut);
		CHECK_INT(dns_pad_answer(copy, cut, cut), cut);
		free(copy);
	}
	buf[11] = 5; /* ARCOUNT 5, one there */
	CHECK_INT(dns_pad_answer(buf, n, sizeof buf), n);
}

int main(void)
{
	test_frame();
	test_pad();
	return tb_test_result("dns_dot");
}
