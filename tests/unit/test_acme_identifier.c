/*
 * Identifier policy (DNS names, RFC 8738 IP identifiers, reverse names)
 * and RFC 8555 problem documents.
 */
#include <arpa/inet.h>
#include <sys/socket.h>

#include "acme/acme.h"
#include "core/error.h"
#include "tb_test.h"

static int dns_ok(const char *name, int wildcard)
{
	struct acme_problem p = { 0 };
	int err = acme_dns_name_check(name, strlen(name), wildcard, &p);
	if (err && p.type != ACME_PROB_REJECTED_IDENTIFIER)
		fprintf(stderr, "%s: unexpected problem type %d\n", name, p.type);
	if (err && getenv("TB_TEST_VERBOSE"))
		fprintf(stderr, "  %s -> %s\n", name, p.detail);
	return err == 0;
}

static void test_dns(void)
{
	CHECK(dns_ok("example.com", 0));
	CHECK(dns_ok("a.b.c.example.com", 0));
	CHECK(dns_ok("xn--bcher-kva.example", 0)); /* bücher */
	CHECK(dns_ok("a-b.example", 0));
	CHECK(dns_ok("xn--ls8h.example", 0));       /* U+1F4A9 */
	CHECK(dns_ok("xn--mnchen-3ya.example", 0)); /* münchen */
	CHECK(dns_ok("1.example", 0));
	CHECK(dns_ok("*.lab.test", 1));
	CHECK(!dns_ok("*.lab.test", 0));        /* wildcard not allowed here */
	CHECK(!dns_ok("", 0));
	CHECK(!dns_ok("localhost", 0));         /* one label */
	CHECK(!dns_ok("example.com.", 0));      /* trailing dot */
	CHECK(!dns_ok(".example.com", 0));
	CHECK(!dns_ok("a..example.com", 0));
	CHECK(!dns_ok("-a.example.com", 0));
	CHECK(!dns_ok("a-.example.com", 0));
	CHECK(!dns_ok("a_b.example.com", 0));
	CHECK(!dns_ok("Example.com", 0));       /* check expects normalised input */
	CHECK(!dns_ok("exa mple.com", 0));
	CHECK(!dns_ok("ab--c.example.com", 0)); /* R-LDH */
	CHECK(!dns_ok("xn--.example.com", 0));  /* empty punycode */
	CHECK(!dns_ok("xn--abc.example.com", 0)); /* decodes to C1 controls */
	CHECK(!dns_ok("xn--a-9999999999.example.com", 0)); /* overflow */
	CHECK(!dns_ok("127.0.0.1", 0));
	CHECK(!dns_ok("::1", 0));
	CHECK(!dns_ok("*.com", 1));             /* wildcard for a TLD */
	CHECK(!dns_ok("*.*.example.com", 1));
	CHECK(!dns_ok("a.*.example.com", 1));
	CHECK(!dns_ok("*a.example.com", 1));
	CHECK(!dns_ok("a*.example.com", 1));
	CHECK(!dns_ok("a.b.c.d.e.f.g.h.i.j.k", 0)); /* 11 labels */
	CHECK(dns_ok("a.b.c.d.e.f.g.h.i.j", 0));
	char l63[80], l64[80];
	memset(l63, 'a', 63);
	strcpy(l63 + 63, ".com");
	memset(l64, 'a', 64);
	strcpy(l64 + 64, ".com");
	CHECK(dns_ok(l63, 0));
	CHECK(!dns_ok(l64, 0));
	char long_name[300];
	size_t n = 0;
	for (int i = 0; i < 4; i++) {
		memset(long_name + n, 'a', 62);
		n += 62;
		long_name[n++] = '.';
	}
	memcpy(long_name + n, "com", 4); /* 4*63 + 3 = 255 > 253 */
	CHECK(!dns_ok(long_name, 0));

	char out[32];
	CHECK_INT(acme_dns_normalize("WwW.ExAmple.COM", 15, out, sizeof out), 0);
	CHECK_STR(out, "www.example.com");
	CHECK_INT(acme_dns_normalize("abc", 3, out, 3), TB_ERR_TOO_LARGE);
	CHECK(acme_dns_is_wildcard("*.a.b"));
	CHECK(!acme_dns_is_wildcard("a.b"));
}

static void test_ip(void)
{
	uint8_t a[16];
	int fam = 0;
	CHECK_INT(acme_ip_parse("192.0.2.1", 9, a, &fam), 0);
	CHECK_INT(fam, AF_INET);
	CHECK_INT(acme_ip_parse("2001:db8::1", 11, a, &fam), 0);
	CHECK_INT(fam, AF_INET6);
	CHECK_INT(acme_ip_parse("::ffff:1.2.3.4", 14, a, &fam), 0);
	/* non-canonical text refused (RFC 8738 / RFC 5952) */
	CHECK(acme_ip_parse("192.000.2.1", 11, a, &fam) != 0);
	CHECK(acme_ip_parse("192.0.2.01", 10, a, &fam) != 0);
	CHECK(acme_ip_parse("2001:DB8::1", 11, a, &fam) != 0);
	CHECK(acme_ip_parse("2001:0db8::1", 12, a, &fam) != 0);
	CHECK(acme_ip_parse("2001:db8:0:0:0:0:0:1", 20, a, &fam) != 0);
	CHECK(acme_ip_parse("2001:db8::0:1", 13, a, &fam) != 0);
	CHECK(acme_ip_parse("fe80::1%eth0", 12, a, &fam) != 0);
	CHECK(acme_ip_parse("1.2.3", 5, a, &fam) != 0);
	CHECK(acme_ip_parse("1.2.3.4\0", 8, a, &fam) != 0);
	CHECK(acme_ip_parse("", 0, a, &fam) != 0);
	CHECK(acme_ip_parse("example.com", 11, a, &fam) != 0);

	char s[64];
	acme_ip_parse("192.0.2.1", 9, a, &fam);
	CHECK_INT(acme_ip_reverse_name(a, AF_INET, s, sizeof s), 0);
	CHECK_STR(s, "1.2.0.192.in-addr.arpa");
	char s6[80];
	acme_ip_parse("2001:db8::567:89ab", 18, a, &fam);
	CHECK_INT(acme_ip_reverse_name(a, AF_INET6, s6, sizeof s6), 0);
	/* RFC 3596 section 2.5 example layout */
	CHECK_STR(s6, "b.a.9.8.7.6.5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa");
	CHECK(acme_ip_reverse_name(a, AF_INET6, s6, 40) != 0);

	struct {
		const char *ip;
		int reserved;
	} r[] = {
		{ "127.0.0.1", 1 }, { "10.1.2.3", 1 }, { "172.16.0.1", 1 }, { "172.32.0.1", 0 },
		{ "192.168.1.1", 1 }, { "169.254.0.1", 1 }, { "100.64.0.1", 1 }, { "0.0.0.0", 1 },
		{ "224.0.0.1", 1 }, { "255.255.255.255", 1 }, { "198.51.100.7", 1 }, { "8.8.8.8", 0 },
		{ "1.1.1.1", 0 }, { "::1", 1 }, { "::", 1 }, { "fe80::1", 1 }, { "fd00::1", 1 },
		{ "ff02::1", 1 }, { "2001:db8::1", 1 }, { "::ffff:8.8.8.8", 1 }, { "2606:4700::1111", 0 },
		{ "2002:102:304::1", 1 },
	};
	for (size_t i = 0; i < sizeof r / sizeof r[0]; i++) {
		CHECK_INT(acme_ip_parse(r[i].ip, strlen(r[i].ip), a, &fam), 0);
		int got = acme_ip_is_reserved(a, fam);
		if (got != r[i].reserved)
			fprintf(stderr, "reserved(%s): expected %d got %d\n", r[i].ip, r[i].reserved, got);
		CHECK_INT(got, r[i].reserved);
	}
}

static void test_identifier_check(void)
{
	struct acme_identifier id;
	struct acme_problem p = { 0 };
	CHECK_INT(acme_identifier_check(ACME_IDENT_DNS, "WWW.Example.COM", 15, 0, 0, 0, &id, &p), 0);
	CHECK_STR(id.value, "www.example.com");
	CHECK_INT(acme_identifier_check(ACME_IDENT_DNS, "*.Lab.Test", 10, 1, 0, 0, &id, &p), 0);
	CHECK_STR(id.value, "*.lab.test");
	CHECK(acme_identifier_check(ACME_IDENT_DNS, "a\0b.com", 7, 0, 0, 0, &id, &p) != 0);
	CHECK_INT(p.type, ACME_PROB_MALFORMED);
	CHECK(acme_identifier_check(ACME_IDENT_IP, "127.0.0.1", 9, 0, 0, 1, &id, &p) != 0);
	CHECK_INT(p.type, ACME_PROB_UNSUPPORTED_IDENTIFIER);
	CHECK_INT(acme_identifier_check(ACME_IDENT_IP, "127.0.0.1", 9, 0, 1, 1, &id, &p), 0);
	CHECK_STR(id.value, "127.0.0.1");
	CHECK(acme_identifier_check(ACME_IDENT_IP, "127.0.0.1", 9, 0, 1, 0, &id, &p) != 0);
	CHECK_INT(p.type, ACME_PROB_REJECTED_IDENTIFIER);
	CHECK(acme_identifier_check(ACME_IDENT_IP, "2001:DB8::1", 11, 0, 1, 1, &id, &p) != 0);
	CHECK_INT(p.type, ACME_PROB_MALFORMED);
	CHECK(acme_identifier_check((enum acme_ident_type)7, "x", 1, 0, 1, 1, &id, &p) != 0);
	CHECK_INT(p.type, ACME_PROB_UNSUPPORTED_IDENTIFIER);
	CHECK_INT(acme_ident_type_parse("dns"), ACME_IDENT_DNS);
	CHECK_INT(acme_ident_type_parse("ip"), ACME_IDENT_IP);
	CHECK(acme_ident_type_parse("email") < 0);
	CHECK_STR(acme_ident_type_name(ACME_IDENT_IP), "ip");
}

static void test_problem(void)
{
	CHECK_STR(acme_problem_urn(ACME_PROB_BAD_NONCE), "urn:ietf:params:acme:error:badNonce");
	CHECK_STR(acme_problem_urn(ACME_PROB_INVALID_PROFILE), "urn:ietf:params:acme:error:invalidProfile");
	CHECK_STR(acme_problem_urn(ACME_PROB_ALREADY_REPLACED), "urn:ietf:params:acme:error:alreadyReplaced");
	CHECK(acme_problem_urn(ACME_PROB_NONE) == NULL);
	CHECK(acme_problem_urn(ACME_PROB__COUNT) == NULL);
	CHECK_INT(acme_problem_http_status(ACME_PROB_RATE_LIMITED), 429);
	CHECK_INT(acme_problem_http_status(ACME_PROB_SERVER_INTERNAL), 500);
	CHECK_INT(acme_problem_http_status(ACME_PROB_UNAUTHORIZED), 403);
	CHECK_INT(acme_problem_http_status(ACME_PROB_BAD_NONCE), 400);
	CHECK_INT(acme_problem_http_status(ACME_PROB_ALREADY_REPLACED), 409);
	/* every type round-trips through its URN and its short name */
	for (int t = ACME_PROB_NONE + 1; t < ACME_PROB__COUNT; t++) {
		CHECK_INT(acme_problem_from_string(acme_problem_urn((enum acme_problem_type)t)), t);
		CHECK_INT(acme_problem_from_string(acme_problem_name((enum acme_problem_type)t)), t);
		CHECK(acme_problem_http_status((enum acme_problem_type)t) >= 400);
	}
	CHECK_INT(acme_problem_from_string("urn:ietf:params:acme:error:nope"), ACME_PROB_NONE);

	struct acme_problem p = { 0 };
	CHECK_INT(acme_problem_set(&p, ACME_PROB_COMPOUND, "Some %s failed", "things"), TB_ERR_INVALID);
	struct acme_identifier a = { ACME_IDENT_DNS, "a.example.com" }, b = { ACME_IDENT_IP, "192.0.2.1" };
	CHECK_INT(acme_problem_add_sub(&p, ACME_PROB_CAA, &a, "CAA forbids issuance"), 0);
	CHECK_INT(acme_problem_add_sub(&p, ACME_PROB_CONNECTION, &b, "refused"), 0);
	char *r = acme_problem_render(&p);
	CHECK(r != NULL);
	cJSON *j = r ? cJSON_Parse(r) : NULL;
	CHECK(j != NULL);
	if (j) {
		CHECK_STR(cJSON_GetObjectItem(j, "type")->valuestring, "urn:ietf:params:acme:error:compound");
		CHECK_STR(cJSON_GetObjectItem(j, "detail")->valuestring, "Some things failed");
		CHECK_INT(cJSON_GetObjectItem(j, "status")->valueint, 400);
		cJSON *subs = cJSON_GetObjectItem(j, "subproblems");
		CHECK_INT(cJSON_GetArraySize(subs), 2);
		cJSON *s1 = cJSON_GetArrayItem(subs, 1);
		CHECK_STR(cJSON_GetObjectItem(s1, "type")->valuestring, "urn:ietf:params:acme:error:connection");
		cJSON *id = cJSON_GetObjectItem(s1, "identifier");
		CHECK_STR(cJSON_GetObjectItem(id, "type")->valuestring, "ip");
		CHECK_STR(cJSON_GetObjectItem(id, "value")->valuestring, "192.0.2.1");
		CHECK(cJSON_GetObjectItem(j, "algorithms") == NULL);
	}
	cJSON_Delete(j);
	free(r);
	for (int i = 2; i < ACME_MAX_SUBPROBLEMS; i++)
		CHECK_INT(acme_problem_add_sub(&p, ACME_PROB_DNS, &a, "x"), 0);
	CHECK_INT(acme_problem_add_sub(&p, ACME_PROB_DNS, &a, "x"), TB_ERR_TOO_LARGE);
	/* status override, long detail truncated */
	char longd[1000];
	memset(longd, 'x', sizeof longd - 1);
	longd[sizeof longd - 1] = '\0';
	acme_problem_set(&p, ACME_PROB_RATE_LIMITED, "%s", longd);
	p.status = 503;
	CHECK_INT(acme_problem_status(&p), 503);
	CHECK_INT(strlen(p.detail), ACME_MAX_DETAIL - 1);
	r = acme_problem_render(&p);
	CHECK(r && strstr(r, "\"status\":503"));
	CHECK(r && !strstr(r, "subproblems"));
	free(r);
	/* a zeroed problem renders as serverInternal rather than an empty type */
	struct acme_problem z = { 0 };
	r = acme_problem_render(&z);
	CHECK(r && strstr(r, "serverInternal"));
	free(r);
}

int main(void)
{
	test_dns();
	test_ip();
	test_identifier_check();
	test_problem();
	return tb_test_result("test_acme_identifier");
}
