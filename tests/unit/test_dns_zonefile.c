/* RFC 1035 master files: a realistic zone with every type, and bad lines with positions. */
#include "tb_test.h"

#include "core/error.h"
#include "dns/dns.h"

static const char zone[] =
	"; a lab zone\n"
	"$ORIGIN example.test.\n"
	"$TTL 1h\n"
	"@   IN  SOA ns1 hostmaster.example.test. (\n"
	"        2024010101 ; serial\n"
	"        7200       ; refresh\n"
	"        3600 1209600\n"
	"        300 )\n"
	"    IN  NS  ns1\n"
	"    NS  ns2.example.test.\n"
	"    3600 IN MX 10 mail\n"
	"    IN 60 TXT \"v=spf1 -all\" \"second \\\"string\\\" \\065\"\n"
	"    CAA 0 issue \"trustbox.test\"\n"
	"    CAA 0 iodef \"mailto:sec@example.test\"\n"
	"ns1 A   192.0.2.1\n"
	"ns1 AAAA 2001:db8::1\n"
	"ns2 A 192.0.2.2\n"
	"mail A 192.0.2.3\n"
	"*.wild A 127.0.0.1\n"
	"www CNAME @\n"
	"old DNAME new.example.test.\n"
	"1.2.0.192.in-addr.arpa. PTR ns1\n"
	"_sip._tcp SRV 0 5 5060 sip\n"
	"_443._tcp.www TLSA 3 1 1 (\n"
	"     0C72AC70B745AC19998811B131D662C9\n"
	"     AC69DBDBE7CB23E5B514B56664C5D3D6 )\n"
	"sub NS ns.sub\n"
	"ns.sub A 192.0.2.53\n"
	"sub DS 60485 5 1 2BB183AF5F22588179A53B0A98631FAD1A292118\n"
	"@ DNSKEY 257 3 15 ( l02Woi0iS8Aa25FQkUd9RMzZHJpB\n"
	"                    oRQwAQEX1SxZJA4= )\n"
	"@ RRSIG SOA 15 2 3600 20250101000000 20241201000000 12345 example.test. aGVsbG8=\n"
	"@ NSEC ns1 SOA NS MX TXT CAA RRSIG NSEC DNSKEY\n"
	"x NSEC3 1 1 12 AABBCCDD 2T7B4G4VSA5SMI47K61MV5BV1A22BOJR A RRSIG\n"
	"@ NSEC3PARAM 1 0 0 -\n"
	"svc SVCB 1 . alpn=\"h2,h3\" port=8443\n"
	"@ HTTPS 1 . alpn=h2 ipv4hint=192.0.2.1\n"
	"raw TYPE65280 \\# 4 0A000001\n"
	"raw2 CLASS1 2w HINFO \"PC\" Linux\n"
	"esc\\.aped\\032name A 192.0.2.9\n"
	"$ORIGIN sub2\n"
	"deep A 192.0.2.10\n";

struct collected {
	size_t n;
	struct tb_bytes text;
};

static int collect(void *arg, const struct dns_rr *rr)
{
	struct collected *c = arg;
	c->n++;
	dns_rr_to_text(rr, &c->text);
	tb_bytes_u8(&c->text, '\n');
	return 0;
}

static const char *expected[] = {
	"example.test. 3600 IN SOA ns1.example.test. hostmaster.example.test. 2024010101 7200 3600 1209600 300",
	"example.test. 3600 IN NS ns1.example.test.",
	"example.test. 3600 IN NS ns2.example.test.",
	"example.test. 3600 IN MX 10 mail.example.test.",
	"example.test. 60 IN TXT \"v=spf1 -all\" \"second \\\"string\\\" A\"",
	"example.test. 3600 IN CAA 0 issue \"trustbox.test\"",
	"example.test. 3600 IN CAA 0 iodef \"mailto:sec@example.test\"",
	"ns1.example.test. 3600 IN A 192.0.2.1",
	"ns1.example.test. 3600 IN AAAA 2001:db8::1",
	"ns2.example.test. 3600 IN A 192.0.2.2",
	"mail.example.test. 3600 IN A 192.0.2.3",
	"*.wild.example.test. 3600 IN A 127.0.0.1",
	"www.example.test. 3600 IN CNAME example.test.",
	"old.example.test. 3600 IN DNAME new.example.test.",
	"1.2.0.192.in-addr.arpa. 3600 IN PTR ns1.example.test.",
	"_sip._tcp.example.test. 3600 IN SRV 0 5 5060 sip.example.test.",
	"_443._tcp.www.example.test. 3600 IN TLSA 3 1 1 0C72AC70B745AC19998811B131D662C9AC69DBDBE7CB23E5B514B56664C5D3D6",
	"sub.example.test. 3600 IN NS ns.sub.example.test.",
	"ns.sub.example.test. 3600 IN A 192.0.2.53",
	"sub.example.test. 3600 IN DS 60485 5 1 2BB183AF5F22588179A53B0A98631FAD1A292118",
	"example.test. 3600 IN DNSKEY 257 3 15 l02Woi0iS8Aa25FQkUd9RMzZHJpBoRQwAQEX1SxZJA4=",
	"example.test. 3600 IN RRSIG SOA 15 2 3600 20250101000000 20241201000000 12345 example.test. aGVsbG8=",
	"example.test. 3600 IN NSEC ns1.example.test. NS SOA MX TXT RRSIG NSEC DNSKEY CAA",
	"x.example.test. 3600 IN NSEC3 1 1 12 AABBCCDD 2T7B4G4VSA5SMI47K61MV5BV1A22BOJR A RRSIG",
	"example.test. 3600 IN NSEC3PARAM 1 0 0 -",
	"svc.example.test. 3600 IN SVCB 1 . alpn=\"h2,h3\" port=8443",
	"example.test. 3600 IN HTTPS 1 . alpn=\"h2\" ipv4hint=192.0.2.1",
	"raw.example.test. 3600 IN TYPE65280 \\# 4 0A000001",
	"raw2.example.test. 1209600 IN HINFO \"PC\" \"Linux\"",
	"esc\\.aped\\032name.example.test. 3600 IN A 192.0.2.9",
	"deep.sub2.example.test. 3600 IN A 192.0.2.10",
};

static void test_good(void)
{
	struct collected c = { 0 };
	struct dns_zone_error err;
	int r = dns_zonefile_parse(zone, strlen(zone), NULL, 3600, collect, &c, &err);
	if (r)
		fprintf(stderr, "zone error %u:%u %s\n", err.line, err.col, err.msg);
	CHECK_INT(r, 0);
	size_t ne = sizeof expected / sizeof expected[0];
	CHECK_INT(c.n, ne);
	char *s = tb_bytes_cstr(&c.text);
	for (size_t i = 0; s && i < ne; i++) {
		char *nl = strchr(s, '\n');
		if (!nl)
			break;
		*nl = 0;
		CHECK_STR(s, expected[i]);
		s = nl + 1;
	}
	tb_bytes_free(&c.text);

	/* origin given by the caller, TTL inherited from the last explicit one */
	uint8_t origin[DNS_NAME_MAX];
	size_t ol;
	dns_name_from_text("lab.test.", 9, NULL, origin, &ol);
	const char *z2 = "@ 300 IN A 127.0.0.1\n* AAAA ::1\n";
	memset(&c, 0, sizeof c);
	CHECK_INT(dns_zonefile_parse(z2, strlen(z2), origin, 3600, collect, &c, &err), 0);
	CHECK_STR(tb_bytes_cstr(&c.text), "lab.test. 300 IN A 127.0.0.1\n*.lab.test. 300 IN AAAA ::1\n");
	tb_bytes_free(&c.text);
	/* CRLF line ends and a trailing record without newline */
	const char *z3 = "a 10 A 1.2.3.4\r\nb 10 A 1.2.3.5";
	memset(&c, 0, sizeof c);
	CHECK_INT(dns_zonefile_parse(z3, strlen(z3), origin, 3600, collect, &c, &err), 0);
	CHECK_INT(c.n, 2);
	tb_bytes_free(&c.text);
	/* SOA timers with BIND's units (named-checkzone takes them); the serial is a plain number */
	const char *z4 = "@ SOA ns admin ( 1 2h 30m 1w2d 5M )\n";
	memset(&c, 0, sizeof c);
	CHECK_INT(dns_zonefile_parse(z4, strlen(z4), origin, 3600, collect, &c, &err), 0);
	CHECK_STR(tb_bytes_cstr(&c.text),
		"lab.test. 3600 IN SOA ns.lab.test. admin.lab.test. 1 7200 1800 777600 300\n");
	tb_bytes_free(&c.text);
	const char *z5 = "@ SOA ns admin 1h 2h 30m 1w2d 5M\n";
	memset(&c, 0, sizeof c);
	CHECK(dns_zonefile_parse(z5, strlen(z5), origin, 3600, collect, &c, &err) != 0);
	CHECK_INT(err.col, 16);
	tb_bytes_free(&c.text);
}

struct badcase {
	const char *text;
	unsigned line, col;
	const char *msg_part;
};

static const struct badcase bad[] = {
	{ "$ORIGIN x.test.\na A 1.2.3\n", 2, 5, "IPv4" },
	{ "$ORIGIN x.test.\n\nb MX 10\n", 3, 6, "missing" },
	{ "a.test. A 1.2.3.4\n$INCLUDE /etc/passwd\n", 2, 1, "$INCLUDE" },
	{ "relative A 1.2.3.4\n", 1, 1, "owner" },
	{ "$ORIGIN x.test.\na BOGUS 1\n", 2, 3, "unknown" },
	{ "$ORIGIN x.test.\na TXT \"unterminated\n", 2, 7, "unterminated" },
	{ "$ORIGIN x.test.\na ( A 1.2.3.4\n", 3, 1, "unbalanced" },
	{ "$ORIGIN x.test.\na A 1.2.3.4 )\n", 2, 13, "without" },
	{ "  A 1.2.3.4\n", 1, 3, "without owner" },
	{ "$TTL abc\n", 1, 1, "$TTL" },
	{ "$ORIGIN x.test.\na 99999999999 A 1.2.3.4\n", 2, 3, "unknown" },
	{ "$ORIGIN x.test.\na CAA 0 bad-tag \"x\"\n", 2, 9, "CAA tag" },
	{ "$ORIGIN x.test.\na TYPE999 1.2.3.4\n", 2, 11, "generic" },
	{ "$ORIGIN x.test.\na A \\# 3 010203\n", 2, 5, "not valid" },
	{ "$ORIGIN x.test.\na OPT \\# 0\n", 2, 3, "meta" },
	{ "$ORIGIN x.test.\naaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa A 1.2.3.4\n", 2, 1, "owner" },
	{ "$FOO bar\n", 1, 1, "directive" },
};

static void test_bad(void)
{
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct dns_zone_error err;
		struct collected c = { 0 };
		int r = dns_zonefile_parse(bad[i].text, strlen(bad[i].text), NULL, 3600, collect, &c, &err);
		CHECK(r != 0);
		if (err.line != bad[i].line || err.col != bad[i].col || !strstr(err.msg, bad[i].msg_part))
			fprintf(stderr, "case %zu: got %u:%u %s\n", i, err.line, err.col, err.msg);
		CHECK_INT(err.line, bad[i].line);
		CHECK_INT(err.col, bad[i].col);
		CHECK(strstr(err.msg, bad[i].msg_part) != NULL);
		tb_bytes_free(&c.text);
	}
}

static int stop_cb(void *arg, const struct dns_rr *rr)
{
	(void)rr;
	return ++*(int *)arg == 2 ? TB_ERR_EXISTS : 0;
}

static void test_callback_stop(void)
{
	const char *z = "a.test. 1 A 1.2.3.4\nb.test. 1 A 1.2.3.4\nc.test. 1 A 1.2.3.4\n";
	int n = 0;
	struct dns_zone_error err;
	CHECK_INT(dns_zonefile_parse(z, strlen(z), NULL, 1, stop_cb, &n, &err), TB_ERR_EXISTS);
	CHECK_INT(n, 2);
	CHECK_INT(err.line, 2);
}

int main(void)
{
	test_good();
	test_bad();
	test_callback_stop();
	return tb_test_result("dns_zonefile");
}
