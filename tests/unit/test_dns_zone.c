/*
 * Local zones and the answering path: RFC 1034 lookup, RFC 4592 wildcards,
 * CNAME chains, referrals, the server's response building (FORMERR,
 * truncation, ACL, EDNS) without sockets, and the tb_resolver service.
 */
#include "tb_test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <time.h>
#include <uv.h>

#include "core/config.h"
#include "core/error.h"
#include "core/services.h"
#include "core/subsystem.h"
#include "dns/dns.h"
#include "dns/dns_internal.h"

extern const struct tb_subsystem dns_subsystem;

static const char zone_text[] =
	"$ORIGIN example.test.\n"
	"$TTL 300\n"
	"@ SOA ns hostmaster 1 2 3 4 60\n"
	"@ NS ns\n"
	"ns A 192.0.2.1\n"
	"www CNAME web\n"
	"web A 192.0.2.80\n"
	"loop1 CNAME loop2\n"
	"loop2 CNAME loop1\n"
	"out CNAME x.other.\n"
	"*.wild A 192.0.2.99\n"
	"*.wild MX 10 ns\n"
	"a.b.c TXT \"deep\"\n"
	"sub NS ns.sub\n"
	"sub DS 1 2 3 ABCD\n"
	"ns.sub A 192.0.2.53\n"
	"big TXT \"0123456789012345678901234567890123456789012345678901234567890123456789\"\n"
	"old DNAME new.example.test.\n"
	"x.new A 192.0.2.5\n";

static int add_cb(void *arg, const struct dns_rr *rr)
{
	return dns_zone_add_rr(arg, rr);
}

static void name(const char *s, uint8_t *out)
{
	size_t nl;
	if (dns_name_from_text(s, strlen(s), NULL, out, &nl))
		exit(2);
}

static struct dns_zoneset zs;

static void setup(void)
{
	dns_zoneset_init(&zs);
	uint8_t origin[DNS_NAME_MAX];
	name("example.test.", origin);
	struct dns_zone *z;
	CHECK_INT(dns_zone_new(&zs, origin, &z), 0);
	CHECK_INT(dns_zone_new(&zs, origin, &z), TB_ERR_EXISTS);
	struct dns_zone_error err;
	int r = dns_zonefile_parse(zone_text, strlen(zone_text), origin, 300, add_cb, z, &err);
	if (r)
		fprintf(stderr, "zone: %u:%u %s\n", err.line, err.col, err.msg);
	CHECK_INT(r, 0);
	/* add a lot of TXT to "big" for truncation tests */
	uint8_t owner[DNS_NAME_MAX], rd[200];
	name("big.example.test.", owner);
	for (int i = 0; i < 30; i++) {
		rd[0] = 100;
		memset(rd + 1, 'a' + i % 26, 100);
		rd[1] = (uint8_t)i;
		struct dns_rr rr = { owner, DNS_T_TXT, DNS_C_IN, 60, rd, 101 };
		CHECK_INT(dns_zone_add_rr(z, &rr), 0);
	}
	char e[100];
	CHECK_INT(dns_zone_finish(z, e, sizeof e), 0);
}

static void test_lookup(void)
{
	uint8_t q[DNS_NAME_MAX];
	struct dns_lookup lk;
	const struct dns_zone *z;

	name("web.EXAMPLE.test.", q);
	z = dns_zoneset_find(&zs, q);
	CHECK(z != NULL);
	name("example.org.", q);
	CHECK(dns_zoneset_find(&zs, q) == NULL);
	name("test.", q);
	CHECK(dns_zoneset_find(&zs, q) == NULL);

	name("web.example.test.", q);
	dns_zone_lookup(z, q, DNS_T_A, &lk);
	CHECK_INT(lk.rcode, 0);
	CHECK_INT(lk.aa, 1);
	CHECK_INT(lk.n_an, 1);
	CHECK_INT(lk.an[0].rs->type, DNS_T_A);

	/* NODATA */
	dns_zone_lookup(z, q, DNS_T_MX, &lk);
	CHECK_INT(lk.rcode, 0);
	CHECK_INT(lk.n_an, 0);
	CHECK_INT(lk.n_ns, 1);
	CHECK_INT(lk.ns[0].rs->type, DNS_T_SOA);
	CHECK_INT(lk.neg_ttl, 60);

	/* NXDOMAIN */
	name("nope.example.test.", q);
	dns_zone_lookup(z, q, DNS_T_A, &lk);
	CHECK_INT(lk.rcode, DNS_RCODE_NXDOMAIN);
	CHECK_INT(lk.n_ns, 1);

	/* empty non-terminals are NODATA (RFC 4592 2.2.2) */
	name("b.c.example.test.", q);
	dns_zone_lookup(z, q, DNS_T_A, &lk);
	CHECK_INT(lk.rcode, 0);
	CHECK_INT(lk.n_an, 0);
	name("x.b.c.example.test.", q);
	dns_zone_lookup(z, q, DNS_T_A, &lk);
	CHECK_INT(lk.rcode, DNS_RCODE_NXDOMAIN);

	/* wildcard */
	name("foo.wild.example.test.", q);
	dns_zone_lookup(z, q, DNS_T_A, &lk);
	CHECK_INT(lk.rcode, 0);
	CHECK_INT(lk.wildcard, 1);
	CHECK_INT(lk.n_an, 1);
	CHECK(lk.an[0].owner == q);
	name("a.b.wild.example.test.", q);
	dns_zone_lookup(z, q, DNS_T_MX, &lk);
	CHECK_INT(lk.n_an, 1);
	CHECK_INT(lk.n_ar, 1); /* ns A as additional data */
	name("foo.wild.example.test.", q);
	dns_zone_lookup(z, q, DNS_T_AAAA, &lk);
	CHECK_INT(lk.rcode, 0);
	CHECK_INT(lk.n_an, 0);
	name("wild.example.test.", q); /* the wildcard's parent is an empty non-terminal */
	dns_zone_lookup(z, q, DNS_T_A, &lk);
	CHECK_INT(lk.rcode, 0);
	CHECK_INT(lk.n_an, 0);

	/* CNAME chain, loop, leaving the zone */
	name("www.example.test.", q);
	dns_zone_lookup(z, q, DNS_T_A, &lk);
	CHECK_INT(lk.n_an, 2);
	CHECK_INT(lk.an[0].rs->type, DNS_T_CNAME);
	CHECK_INT(lk.an[1].rs->type, DNS_T_A);
	dns_zone_lookup(z, q, DNS_T_CNAME, &lk);
	CHECK_INT(lk.n_an, 1);
	name("loop1.example.test.", q);
	dns_zone_lookup(z, q, DNS_T_A, &lk);
	CHECK_INT(lk.n_an, 2);
	name("out.example.test.", q);
	dns_zone_lookup(z, q, DNS_T_A, &lk);
	CHECK_INT(lk.n_an, 1);
	CHECK_INT(lk.rcode, 0);

	/* referral with glue; DS at the cut answered by the parent */
	name("host.sub.example.test.", q);
	dns_zone_lookup(z, q, DNS_T_A, &lk);
	CHECK_INT(lk.referral, 1);
	CHECK_INT(lk.aa, 0);
	CHECK_INT(lk.n_ns, 2);
	CHECK_INT(lk.ns[0].rs->type, DNS_T_NS);
	CHECK_INT(lk.n_ar, 1);
	name("sub.example.test.", q);
	dns_zone_lookup(z, q, DNS_T_DS, &lk);
	CHECK_INT(lk.referral, 0);
	CHECK_INT(lk.aa, 1);
	CHECK_INT(lk.n_an, 1);

	/* DNAME (RFC 6672): DNAME + synthesised CNAME + the target's answer */
	name("x.old.example.test.", q);
	dns_zone_lookup(z, q, DNS_T_A, &lk);
	CHECK_INT(lk.rcode, 0);
	CHECK_INT(lk.n_an, 3);
	CHECK_INT(lk.an[0].rs->type, DNS_T_DNAME);
	CHECK_INT(lk.an[1].rs->type, DNS_T_CNAME);
	CHECK(lk.an[1].owner == q);
	{
		uint8_t want[DNS_NAME_MAX];
		name("x.new.example.test.", want);
		CHECK(dns_name_eq(lk.an[1].rs->rd[0] + 2, want));
	}
	CHECK_INT(lk.an[2].rs->type, DNS_T_A);
	name("y.old.example.test.", q);
	dns_zone_lookup(z, q, DNS_T_A, &lk);
	CHECK_INT(lk.rcode, DNS_RCODE_NXDOMAIN); /* the substituted name does not exist */
	CHECK_INT(lk.n_an, 2);
	name("old.example.test.", q);
	dns_zone_lookup(z, q, DNS_T_DNAME, &lk);
	CHECK_INT(lk.n_an, 1);
	dns_zone_lookup(z, q, DNS_T_A, &lk); /* the owner itself is not redirected */
	CHECK_INT(lk.n_an, 0);

	/* ANY */
	name("example.test.", q);
	dns_zone_lookup(z, q, DNS_T_ANY, &lk);
	CHECK_INT(lk.n_an, 2);
}

static void test_edit(void)
{
	uint8_t o[DNS_NAME_MAX], web[DNS_NAME_MAX];
	name("example.test.", o);
	name("web.example.test.", web);
	struct dns_zone *z = zs.zones;
	CHECK(dns_name_eq(z->origin, o));
	size_t before = z->nrecords;
	struct dns_rr cn = { web, DNS_T_CNAME, DNS_C_IN, 60, o, 14 };
	CHECK_INT(dns_zone_add_rr(z, &cn), TB_ERR_EXISTS);
	uint8_t a2[4] = { 192, 0, 2, 81 };
	struct dns_rr a = { web, DNS_T_A, DNS_C_IN, 60, a2, 4 };
	CHECK_INT(dns_zone_add_rr(z, &a), 0);
	CHECK_INT(dns_zone_add_rr(z, &a), 0); /* duplicate ignored */
	CHECK_INT(z->nrecords, before + 1);
	CHECK_INT(dns_zone_del_rr(z, web, DNS_T_A, a2, 4), 0);
	CHECK_INT(dns_zone_del_rr(z, web, DNS_T_A, a2, 4), TB_ERR_NOT_FOUND);
	CHECK_INT(z->nrecords, before);
	uint8_t outside[DNS_NAME_MAX];
	name("www.example.org.", outside);
	struct dns_rr bad = { outside, DNS_T_A, DNS_C_IN, 60, a2, 4 };
	CHECK_INT(dns_zone_add_rr(z, &bad), TB_ERR_INVALID);
	struct dns_rr badlen = { web, DNS_T_A, DNS_C_IN, 60, a2, 3 };
	CHECK_INT(dns_zone_add_rr(z, &badlen), TB_ERR_INVALID);
	struct dns_rr soa = { web, DNS_T_SOA, DNS_C_IN, 60, a2, 4 };
	CHECK_INT(dns_zone_add_rr(z, &soa), TB_ERR_INVALID);

	/* A name whose last record goes no longer exists: no NODATA left behind, and
	 * the wildcard covers it (and its parent) again, as after a dns-01 cleanup. */
	uint8_t ch[DNS_NAME_MAX], host[DNS_NAME_MAX];
	name("_acme-challenge.host.wild.example.test.", ch);
	name("host.wild.example.test.", host);
	struct dns_rr txt = { ch, DNS_T_TXT, DNS_C_IN, 60, (const uint8_t *)"\1t", 2 };
	size_t nodes = z->nnodes;
	CHECK_INT(dns_zone_add_rr(z, &txt), 0);
	struct dns_lookup lk;
	dns_zone_lookup(z, host, DNS_T_A, &lk);
	CHECK_INT(lk.n_an, 0); /* an empty non-terminal now */
	CHECK_INT(dns_zone_del_rr(z, ch, DNS_T_TXT, (const uint8_t *)"\1t", 2), 0);
	CHECK_INT(z->nnodes, nodes);
	dns_zone_lookup(z, host, DNS_T_A, &lk);
	CHECK_INT(lk.rcode, DNS_RCODE_NOERROR);
	CHECK_INT(lk.n_an, 1);
	CHECK(lk.wildcard);
	dns_zone_lookup(z, ch, DNS_T_A, &lk);
	CHECK_INT(lk.n_an, 1);
	/* the same through a whole-RRset and a whole-name delete */
	CHECK_INT(dns_zone_add_rr(z, &txt), 0);
	CHECK_INT(dns_zone_del_rr(z, ch, DNS_T_TXT, NULL, 0), 0);
	CHECK_INT(z->nnodes, nodes);
	CHECK_INT(dns_zone_add_rr(z, &txt), 0);
	CHECK_INT(dns_zone_del_rr(z, ch, DNS_T_ANY, NULL, 0), 0);
	CHECK_INT(z->nnodes, nodes);
	/* a name that still has children stays as an empty non-terminal */
	uint8_t abc[DNS_NAME_MAX], bc[DNS_NAME_MAX];
	name("a.b.c.example.test.", abc);
	name("b.c.example.test.", bc);
	struct dns_rr bctxt = { bc, DNS_T_TXT, DNS_C_IN, 60, (const uint8_t *)"\1t", 2 };
	CHECK_INT(dns_zone_add_rr(z, &bctxt), 0);
	CHECK_INT(dns_zone_del_rr(z, bc, DNS_T_TXT, NULL, 0), 0);
	CHECK(dns_zone_find(z, bc) != NULL);
	dns_zone_lookup(z, bc, DNS_T_A, &lk);
	CHECK_INT(lk.rcode, DNS_RCODE_NOERROR);
	CHECK(dns_zone_find(z, abc) != NULL);
}

/* Builds a query message. */
static size_t query(uint8_t *buf, const char *qname, uint16_t qtype, int edns, uint16_t bufsize)
{
	uint8_t n[DNS_NAME_MAX];
	name(qname, n);
	struct dns_builder b;
	dns_builder_init(&b, buf, 512, 0x4242, DNS_F_RD);
	dns_builder_question(&b, n, qtype, DNS_C_IN);
	if (edns)
		dns_builder_opt(&b, bufsize, 0, 0, NULL, 0, 0);
	return dns_builder_finish(&b);
}

static void test_server(void)
{
	struct dns_server *s = calloc(1, sizeof *s);
	s->zones = zs;
	s->udp_payload = 1232;
	dns_acl_parse(&s->allow_query, "127.0.0.0/8");
	dns_acl_parse(&s->allow_query, "::1");
	struct sockaddr_in from4;
	uv_ip4_addr("127.0.0.1", 5555, &from4);
	struct sockaddr_in6 from6;
	uv_ip6_addr("::2", 5555, &from6);
	uint8_t q[512], out[65535];
	struct dns_msg m;

	size_t ql = query(q, "web.example.test.", DNS_T_A, 1, 1232);
	size_t n = dns_server_answer(s, q, ql, (struct sockaddr *)&from4, 0, out, sizeof out);
	CHECK(n > 0);
	CHECK_INT(dns_msg_parse(&m, out, n), 0);
	CHECK_INT(m.id, 0x4242);
	CHECK_INT(m.flags & (DNS_F_QR | DNS_F_AA | DNS_F_RD), DNS_F_QR | DNS_F_AA | DNS_F_RD);
	CHECK_INT(DNS_RCODE(m.flags), 0);
	CHECK_INT(m.n_rr[DNS_SEC_ANSWER], 1);
	CHECK(m.edns.present);
	CHECK_INT(m.edns.udp_size, 1232);
	dns_msg_free(&m);

	/* ACL */
	n = dns_server_answer(s, q, ql, (struct sockaddr *)&from6, 0, out, sizeof out);
	CHECK_INT(dns_msg_parse(&m, out, n), 0);
	CHECK_INT(DNS_RCODE(m.flags), DNS_RCODE_REFUSED);
	CHECK_INT(m.edns.n_opts, 1);
	CHECK_INT(m.edns.opts[0].code, DNS_OPT_EDE);
	dns_msg_free(&m);

	/* truncation: 30 x 101-octet TXT does not fit 1232, nor 512 */
	ql = query(q, "big.example.test.", DNS_T_TXT, 1, 1232);
	n = dns_server_answer(s, q, ql, (struct sockaddr *)&from4, 0, out, sizeof out);
	CHECK(n <= 1232);
	CHECK_INT(dns_msg_parse(&m, out, n), 0);
	CHECK(m.flags & DNS_F_TC);
	CHECK_INT(m.n_rr[DNS_SEC_ANSWER], 0);
	dns_msg_free(&m);
	ql = query(q, "big.example.test.", DNS_T_TXT, 0, 0);
	n = dns_server_answer(s, q, ql, (struct sockaddr *)&from4, 0, out, sizeof out);
	CHECK(n <= 512);
	CHECK_INT(dns_msg_parse(&m, out, n), 0);
	CHECK(m.flags & DNS_F_TC);
	CHECK(!m.edns.present);
	dns_msg_free(&m);
	/* over TCP it all fits */
	n = dns_server_answer(s, q, ql, (struct sockaddr *)&from4, 1, out, sizeof out);
	CHECK_INT(dns_msg_parse(&m, out, n), 0);
	CHECK(!(m.flags & DNS_F_TC));
	CHECK_INT(m.n_rr[DNS_SEC_ANSWER], 31);
	dns_msg_free(&m);

	/* FORMERR for garbage with a header; drop for runts and responses */
	uint8_t bad[] = { 0xbe, 0xef, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 0x0c, 0, 1, 0, 1 };
	n = dns_server_answer(s, bad, sizeof bad, (struct sockaddr *)&from4, 0, out, sizeof out);
	CHECK_INT(n, 12);
	CHECK_INT(out[0], 0xbe);
	CHECK_INT(out[3] & 0xf, DNS_RCODE_FORMERR);
	CHECK(out[2] & 0x80);
	CHECK_INT(dns_server_answer(s, bad, 11, (struct sockaddr *)&from4, 0, out, sizeof out), 0);
	bad[2] |= 0x80;
	CHECK_INT(dns_server_answer(s, bad, sizeof bad, (struct sockaddr *)&from4, 0, out, sizeof out), 0);

	/* BADVERS */
	ql = query(q, "web.example.test.", DNS_T_A, 1, 1232);
	q[ql - 11 + 6] = 1; /* OPT version */
	n = dns_server_answer(s, q, ql, (struct sockaddr *)&from4, 0, out, sizeof out);
	CHECK_INT(dns_msg_parse(&m, out, n), 0);
	CHECK_INT(m.edns.ext_rcode, 1);
	CHECK_INT(DNS_RCODE(m.flags), 0);
	dns_msg_free(&m);

	/* not local: REFUSED with EDE */
	ql = query(q, "www.example.org.", DNS_T_A, 1, 1232);
	n = dns_server_answer(s, q, ql, (struct sockaddr *)&from4, 0, out, sizeof out);
	CHECK_INT(dns_msg_parse(&m, out, n), 0);
	CHECK_INT(DNS_RCODE(m.flags), DNS_RCODE_REFUSED);
	dns_msg_free(&m);

	/* NXDOMAIN carries the SOA with the negative TTL */
	ql = query(q, "nope.example.test.", DNS_T_A, 1, 1232);
	n = dns_server_answer(s, q, ql, (struct sockaddr *)&from4, 0, out, sizeof out);
	CHECK_INT(dns_msg_parse(&m, out, n), 0);
	CHECK_INT(DNS_RCODE(m.flags), DNS_RCODE_NXDOMAIN);
	CHECK_INT(m.n_rr[DNS_SEC_AUTHORITY], 1);
	CHECK_INT(m.rr[0].type, DNS_T_SOA);
	CHECK_INT(m.rr[0].ttl, 60);
	dns_msg_free(&m);
	free(s);
}

/* A query with chosen EDNS flags and options (qdcount 0 when qname is NULL). */
static size_t qa_query(uint8_t *buf, const char *qname, uint16_t qtype, uint16_t eflags,
	const struct dns_edns_opt *opts, size_t nopts)
{
	uint8_t n[DNS_NAME_MAX];
	struct dns_builder b;
	dns_builder_init(&b, buf, 512, 0x5151, DNS_F_RD);
	if (qname) {
		name(qname, n);
		dns_builder_question(&b, n, qtype, DNS_C_IN);
	}
	dns_builder_opt(&b, 1232, 0, eflags, opts, nopts, 0);
	return dns_builder_finish(&b);
}

static int rrset_types(const struct dns_msg *m)
{
	size_t n;
	struct dns_rr *an = dns_msg_section(m, DNS_SEC_ANSWER, &n);
	int types = 0;
	for (size_t i = 0; i < n; i++)
		if (i == 0 || an[i].type != an[i - 1].type)
			types++;
	return types;
}

/* Checks found by an independent review with dig, kdig and delv. */
static void test_server_qa(void)
{
	struct dns_server *s = calloc(1, sizeof *s);
	s->zones = zs;
	s->udp_payload = 1232;
	dns_acl_parse(&s->allow_query, "any");
	struct sockaddr_in from4;
	uv_ip4_addr("127.0.0.1", 5555, &from4);
	const struct sockaddr *from = (const struct sockaddr *)&from4;
	uint8_t q[512], out[65535];
	struct dns_msg m;

	/* RFC 3225: the DO bit of the query is copied into the answer */
	size_t ql = qa_query(q, "web.example.test.", DNS_T_A, DNS_EDNS_DO, NULL, 0);
	size_t n = dns_server_answer(s, q, ql, from, 0, out, sizeof out);
	CHECK_INT(dns_msg_parse(&m, out, n), 0);
	CHECK(m.edns.present && (m.edns.flags & DNS_EDNS_DO));
	dns_msg_free(&m);
	ql = qa_query(q, "nope.example.test.", DNS_T_A, DNS_EDNS_DO, NULL, 0);
	n = dns_server_answer(s, q, ql, from, 0, out, sizeof out);
	CHECK_INT(dns_msg_parse(&m, out, n), 0);
	CHECK_INT(DNS_RCODE(m.flags), DNS_RCODE_NXDOMAIN);
	CHECK(m.edns.flags & DNS_EDNS_DO);
	dns_msg_free(&m);
	ql = qa_query(q, "web.example.test.", DNS_T_A, 0, NULL, 0);
	n = dns_server_answer(s, q, ql, from, 0, out, sizeof out);
	CHECK_INT(dns_msg_parse(&m, out, n), 0);
	CHECK(!(m.edns.flags & DNS_EDNS_DO));
	dns_msg_free(&m);

	/* RFC 7873 5.4: QDCOUNT 0 with a COOKIE asks for a server cookie: BADCOOKIE
	 * with a fresh one, then NOERROR once it comes back; without a cookie FORMERR */
	struct dns_edns_opt ck = { DNS_OPT_COOKIE, 8, (const uint8_t *)"clientck" };
	ql = qa_query(q, NULL, 0, 0, &ck, 1);
	n = dns_server_answer(s, q, ql, from, 0, out, sizeof out);
	CHECK_INT(dns_msg_parse(&m, out, n), 0);
	CHECK_INT(m.n_qd, 0);
	CHECK_INT(m.edns.ext_rcode << 4 | DNS_RCODE(m.flags), DNS_RCODE_BADCOOKIE);
	CHECK(m.edns.has_cookie && m.edns.cookie_len == 24);
	uint8_t full[24];
	memcpy(full, m.edns.cookie, sizeof full);
	dns_msg_free(&m);
	ck.len = 24;
	ck.data = full;
	ql = qa_query(q, NULL, 0, 0, &ck, 1);
	n = dns_server_answer(s, q, ql, from, 0, out, sizeof out);
	CHECK_INT(dns_msg_parse(&m, out, n), 0);
	CHECK_INT(m.edns.ext_rcode << 4 | DNS_RCODE(m.flags), DNS_RCODE_NOERROR);
	CHECK(m.edns.has_cookie && m.edns.cookie_len == 24);
	dns_msg_free(&m);
	full[20] ^= 1; /* a server cookie we did not make */
	ql = qa_query(q, NULL, 0, 0, &ck, 1);
	n = dns_server_answer(s, q, ql, from, 0, out, sizeof out);
	CHECK_INT(dns_msg_parse(&m, out, n), 0);
	CHECK_INT(m.edns.ext_rcode << 4 | DNS_RCODE(m.flags), DNS_RCODE_BADCOOKIE);
	dns_msg_free(&m);
	ql = qa_query(q, NULL, 0, 0, NULL, 0);
	n = dns_server_answer(s, q, ql, from, 0, out, sizeof out);
	CHECK_INT(dns_msg_parse(&m, out, n), 0);
	CHECK_INT(DNS_RCODE(m.flags), DNS_RCODE_FORMERR);
	dns_msg_free(&m);

	/* RFC 8482: ANY over UDP gets one RRset (the apex has SOA and NS); TCP gets all */
	ql = qa_query(q, "example.test.", DNS_T_ANY, 0, NULL, 0);
	n = dns_server_answer(s, q, ql, from, 0, out, sizeof out);
	CHECK_INT(dns_msg_parse(&m, out, n), 0);
	CHECK_INT(DNS_RCODE(m.flags), 0);
	CHECK(m.flags & DNS_F_AA);
	CHECK_INT(rrset_types(&m), 1);
	dns_msg_free(&m);
	n = dns_server_answer(s, q, ql, from, 1, out, sizeof out);
	CHECK_INT(dns_msg_parse(&m, out, n), 0);
	CHECK_INT(rrset_types(&m), 2);
	dns_msg_free(&m);

	free(s);
}

struct got {
	int calls;
	enum tb_resolve_status st;
	size_t n;
	uint8_t first[64];
	size_t first_len;
};

static void on_resolved(enum tb_resolve_status st, const struct tb_rr *rrs, size_t n, const char *detail,
	void *arg)
{
	struct got *g = arg;
	(void)detail;
	g->calls++;
	g->st = st;
	g->n = n;
	if (n && rrs[0].rdata.len <= sizeof g->first) {
		memcpy(g->first, rrs[0].rdata.p, rrs[0].rdata.len);
		g->first_len = rrs[0].rdata.len;
	}
}

static void on_stopped(void *arg)
{
	++*(int *)arg;
}

static void test_resolver(void)
{
	const struct tb_section_def *secs[4];
	size_t ns = 0;
	for (const struct tb_section_def *const *d = dns_subsystem.sections; *d; d++)
		secs[ns++] = *d;
	struct tb_config *cfg = tb_config_new(secs, ns);
	char err[512];
	/* iterate = false: no query leaves the machine (example.com below is REFUSED, so SERVFAIL) */
	CHECK_INT(tb_config_run_string(cfg, "test", "dns { listen = {}, iterate = false }", err, sizeof err), 0);
	CHECK_INT(tb_config_finish(cfg, err, sizeof err), 0);
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct tb_services services = { 0 };
	struct tb_core core = { 0 };
	core.loop = &loop;
	core.config = cfg;
	core.services = &services;
	void *state = NULL;
	int rc = dns_subsystem.configure(&core, &state, err, sizeof err);
	if (rc)
		fprintf(stderr, "configure: %s\n", err);
	CHECK_INT(rc, 0);
	CHECK_INT(dns_subsystem.start(state), 0); /* no listeners: only the resolver */
	struct tb_resolver *r = services.resolver;
	CHECK(r != NULL);
	if (!r)
		return;
	struct got a = { 0 }, caa = { 0 }, nx = { 0 }, out = { 0 }, nodata = { 0 };
	CHECK_INT(r->lookup(r->impl, "host.lab.test", DNS_T_A, 1000, on_resolved, &a), 0);
	CHECK_INT(r->lookup(r->impl, "lab.test.", DNS_T_CAA, 1000, on_resolved, &caa), 0);
	CHECK_INT(r->lookup(r->impl, "example.com", DNS_T_A, 1000, on_resolved, &out), 0);
	CHECK_INT(r->lookup(r->impl, "x.lab.test", DNS_T_CAA, 1000, on_resolved, &nodata), 0);
	CHECK_INT(r->lookup(r->impl, "bad..name", DNS_T_A, 1000, on_resolved, &nx), TB_ERR_INVALID);
	CHECK_INT(a.calls, 0); /* never synchronous */
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK_INT(a.calls, 1);
	CHECK_INT(a.st, TB_RESOLVE_OK);
	CHECK_INT(a.n, 1);
	CHECK_MEM(a.first, a.first_len, "\x7f\0\0\1", 4);
	CHECK_INT(caa.st, TB_RESOLVE_OK);
	CHECK_INT(caa.n, 2);
	CHECK_MEM(caa.first, caa.first_len, "\0\5issuetrustbox.test", 20);
	CHECK_INT(out.st, TB_RESOLVE_SERVFAIL);
	CHECK_INT(nodata.st, TB_RESOLVE_OK);
	CHECK_INT(nodata.n, 0);
	CHECK_INT(nx.calls, 0);

	/* a lookup still pending at stop is answered once, with an error */
	struct got late = { 0 };
	CHECK_INT(r->lookup(r->impl, "host.lab.test", DNS_T_A, 1000, on_resolved, &late), 0);
	int stopped = 0;
	dns_subsystem.stop(state, on_stopped, &stopped);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK_INT(stopped, 1);
	CHECK_INT(late.calls, 1);
	CHECK_INT(late.st, TB_RESOLVE_ERROR);
	dns_subsystem.free(state);
	uv_loop_close(&loop);
	tb_config_free(cfg);
}


/* An UPDATE for example.test. with prerequisites and updates given as records. */
struct urr {
	const char *owner;
	uint16_t type, cls;
	uint32_t ttl;
	const char *rdata;
	size_t rdlen;
};

static size_t make_update(uint8_t *buf, size_t cap, const struct urr *pre, size_t npre,
	const struct urr *upd, size_t nupd)
{
	uint8_t zone[DNS_NAME_MAX], o[DNS_NAME_MAX];
	name("example.test.", zone);
	struct dns_builder b;
	dns_builder_init(&b, buf, cap, 0x7777, DNS_OP_UPDATE << 11);
	dns_builder_question(&b, zone, DNS_T_SOA, DNS_C_IN);
	for (size_t i = 0; i < npre; i++) {
		name(pre[i].owner, o);
		dns_builder_rr(&b, DNS_SEC_ANSWER, o, pre[i].type, pre[i].cls, pre[i].ttl,
			(const uint8_t *)pre[i].rdata, pre[i].rdlen);
	}
	for (size_t i = 0; i < nupd; i++) {
		name(upd[i].owner, o);
		dns_builder_rr(&b, DNS_SEC_AUTHORITY, o, upd[i].type, upd[i].cls, upd[i].ttl,
			(const uint8_t *)upd[i].rdata, upd[i].rdlen);
	}
	return dns_builder_finish(&b);
}

static int update_rcode(struct dns_server *s, uint8_t *q, size_t ql, int sign, const struct dns_tsig_key *k,
	int64_t skew, int *tsig_error)
{
	uint8_t out[4096];
	if (sign)
		dns_tsig_sign_request(k, q, &ql, 4096, (uint64_t)((int64_t)time(NULL) + skew));
	struct sockaddr_in from;
	uv_ip4_addr("127.0.0.1", 5555, &from);
	size_t n = dns_server_answer(s, q, ql, (struct sockaddr *)&from, 1, out, sizeof out);
	struct dns_msg m;
	if (n == 0 || dns_msg_parse(&m, out, n) != 0)
		return -1;
	int rc = DNS_RCODE(m.flags);
	*tsig_error = -1;
	if (m.has_tsig) {
		size_t nad;
		struct dns_rr *ad = dns_msg_section(&m, DNS_SEC_ADDITIONAL, &nad);
		const struct dns_rr *t = &ad[nad - 1];
		/* alg name, time 6, fudge 2, mac len 2 + mac, orig id 2, error 2 */
		int al = dns_name_len(t->rdata, t->rdlen);
		size_t o = (size_t)al + 8;
		size_t ml = (size_t)(t->rdata[o] << 8 | t->rdata[o + 1]);
		o += 2 + ml + 2;
		*tsig_error = t->rdata[o] << 8 | t->rdata[o + 1];
	}
	dns_msg_free(&m);
	return rc;
}

static uint32_t soa_serial(const struct dns_zone *z)
{
	const struct dns_rrset *soa = dns_node_rrset(z->apex, DNS_T_SOA);
	const uint8_t *p = soa->rd[0] + 2 + dns_rd_len(soa->rd[0]) - 20;
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void test_update(void)
{
	struct dns_server *s = calloc(1, sizeof *s);
	s->zones = zs;
	s->udp_payload = 1232;
	dns_acl_parse(&s->allow_query, "any");
	dns_acl_parse(&s->allow_update, "127.0.0.0/8");
	struct dns_tsig_key *k = &s->keys[0];
	memcpy(k->name, "\3key\0", 5);
	memset(k->secret, 0x42, 32);
	k->secret_len = 32;
	name("example.test.", k->zones[0]);
	k->n_zones = 1;
	s->n_keys = 1;
	struct dns_tsig_key wrong = *k;
	wrong.secret[0] ^= 1;
	struct dns_tsig_key other = *k;
	memcpy(other.name, "\5other\0", 7);
	const struct dns_zone *z = zs.zones;
	uint8_t q[4096];
	int te;
	uint32_t serial = soa_serial(z);

	struct urr add = { "new.example.test.", DNS_T_TXT, DNS_C_IN, 60, "\3abc", 4 };
	size_t ql = make_update(q, sizeof q, NULL, 0, &add, 1);
	CHECK_INT(update_rcode(s, q, ql, 0, k, 0, &te), DNS_RCODE_REFUSED);
	ql = make_update(q, sizeof q, NULL, 0, &add, 1);
	CHECK_INT(update_rcode(s, q, ql, 1, &wrong, 0, &te), DNS_RCODE_NOTAUTH);
	CHECK_INT(te, DNS_RCODE_BADSIG);
	ql = make_update(q, sizeof q, NULL, 0, &add, 1);
	CHECK_INT(update_rcode(s, q, ql, 1, &other, 0, &te), DNS_RCODE_NOTAUTH);
	CHECK_INT(te, DNS_RCODE_BADKEY);
	ql = make_update(q, sizeof q, NULL, 0, &add, 1);
	CHECK_INT(update_rcode(s, q, ql, 1, k, -1000, &te), DNS_RCODE_NOTAUTH);
	CHECK_INT(te, DNS_RCODE_BADTIME);
	CHECK_INT(soa_serial(z), serial);

	ql = make_update(q, sizeof q, NULL, 0, &add, 1);
	CHECK_INT(update_rcode(s, q, ql, 1, k, 0, &te), DNS_RCODE_NOERROR);
	CHECK_INT(te, 0);
	uint8_t n[DNS_NAME_MAX];
	name("new.example.test.", n);
	CHECK(dns_zone_find(z, n) && dns_node_rrset(dns_zone_find(z, n), DNS_T_TXT));
	CHECK_INT(soa_serial(z), serial + 1);

	/* prerequisites */
	struct urr nx = { "new.example.test.", DNS_T_ANY, DNS_C_NONE, 0, "", 0 };
	ql = make_update(q, sizeof q, &nx, 1, &add, 1);
	CHECK_INT(update_rcode(s, q, ql, 1, k, 0, &te), DNS_RCODE_YXDOMAIN);
	struct urr yx = { "nothere.example.test.", DNS_T_A, DNS_C_ANY, 0, "", 0 };
	ql = make_update(q, sizeof q, &yx, 1, &add, 1);
	CHECK_INT(update_rcode(s, q, ql, 1, k, 0, &te), DNS_RCODE_NXRRSET);
	struct urr val = { "new.example.test.", DNS_T_TXT, DNS_C_IN, 0, "\3abc", 4 };
	struct urr del = { "new.example.test.", DNS_T_TXT, DNS_C_ANY, 0, "", 0 };
	ql = make_update(q, sizeof q, &val, 1, &del, 1);
	CHECK_INT(update_rcode(s, q, ql, 1, k, 0, &te), DNS_RCODE_NOERROR);
	CHECK(!dns_node_rrset(dns_zone_find(z, n), DNS_T_TXT));
	CHECK_INT(soa_serial(z), serial + 2);

	/* outside the zone, bad class, apex protection */
	struct urr out = { "www.example.org.", DNS_T_A, DNS_C_IN, 60, "\1\2\3\4", 4 };
	ql = make_update(q, sizeof q, NULL, 0, &out, 1);
	CHECK_INT(update_rcode(s, q, ql, 1, k, 0, &te), DNS_RCODE_NOTZONE);
	struct urr badc = { "x.example.test.", DNS_T_A, DNS_C_CH, 60, "\1\2\3\4", 4 };
	ql = make_update(q, sizeof q, NULL, 0, &badc, 1);
	CHECK_INT(update_rcode(s, q, ql, 1, k, 0, &te), DNS_RCODE_FORMERR);
	struct urr apex = { "example.test.", DNS_T_ANY, DNS_C_ANY, 0, "", 0 };
	ql = make_update(q, sizeof q, NULL, 0, &apex, 1);
	CHECK_INT(update_rcode(s, q, ql, 1, k, 0, &te), DNS_RCODE_NOERROR);
	CHECK(dns_node_rrset(z->apex, DNS_T_SOA) != NULL);
	CHECK(dns_node_rrset(z->apex, DNS_T_NS) != NULL);

	/* RFC 2136 3.4.2.2: adding a record that is already there (same TTL) changes
	 * nothing, so the serial stays */
	serial = soa_serial(z);
	struct urr dup = { "ns.example.test.", DNS_T_A, DNS_C_IN, 300, "\xc0\x00\x02\x01", 4 };
	ql = make_update(q, sizeof q, NULL, 0, &dup, 1);
	CHECK_INT(update_rcode(s, q, ql, 1, k, 0, &te), DNS_RCODE_NOERROR);
	CHECK_INT(soa_serial(z), serial);

	/* an update that sets a newer SOA serial itself keeps that serial (no extra
	 * increment on top, as BIND does), also with other changes in the message */
	{
		uint32_t want = soa_serial(z) + 100;
		const struct dns_rrset *cur = dns_node_rrset(z->apex, DNS_T_SOA);
		uint8_t srd[2 * DNS_NAME_MAX + 20];
		size_t sl = dns_rd_len(cur->rd[0]);
		memcpy(srd, cur->rd[0] + 2, sl);
		srd[sl - 20] = (uint8_t)(want >> 24);
		srd[sl - 19] = (uint8_t)(want >> 16);
		srd[sl - 18] = (uint8_t)(want >> 8);
		srd[sl - 17] = (uint8_t)want;
		struct urr ups[2] = { { "example.test.", DNS_T_SOA, DNS_C_IN, 300, (const char *)srd, sl },
			{ "soaset.example.test.", DNS_T_TXT, DNS_C_IN, 60, "\1s", 2 } };
		ql = make_update(q, sizeof q, NULL, 0, ups, 2);
		CHECK_INT(update_rcode(s, q, ql, 1, k, 0, &te), DNS_RCODE_NOERROR);
		CHECK_INT(soa_serial(z), want);
		/* an older serial is ignored and the other change bumps it as usual */
		srd[sl - 17] = (uint8_t)(want - 50);
		ups[1].owner = "soaset2.example.test.";
		ql = make_update(q, sizeof q, NULL, 0, ups, 2);
		CHECK_INT(update_rcode(s, q, ql, 1, k, 0, &te), DNS_RCODE_NOERROR);
		CHECK_INT(soa_serial(z), want + 1);
	}
	serial = soa_serial(z);

	/* a replayed signed update (same time and MAC) is refused with BADTIME (RFC 8945
	 * 5.2.3) and not applied twice */
	struct urr rep = { "replay.example.test.", DNS_T_TXT, DNS_C_IN, 60, "\1x", 2 };
	ql = make_update(q, sizeof q, NULL, 0, &rep, 1);
	dns_tsig_sign_request(k, q, &ql, sizeof q, (uint64_t)time(NULL));
	uint8_t q2[4096];
	memcpy(q2, q, ql);
	CHECK_INT(update_rcode(s, q, ql, 0, k, 0, &te), DNS_RCODE_NOERROR);
	CHECK_INT(soa_serial(z), serial + 1);
	CHECK_INT(update_rcode(s, q2, ql, 0, k, 0, &te), DNS_RCODE_NOTAUTH);
	CHECK_INT(te, DNS_RCODE_BADTIME);
	CHECK_INT(soa_serial(z), serial + 1);
	/* a new message (another ID, as clients pick) with the same update is fine */
	ql = make_update(q, sizeof q, NULL, 0, &rep, 1);
	q[1] ^= 1;
	CHECK_INT(update_rcode(s, q, ql, 1, k, 0, &te), DNS_RCODE_NOERROR);
	CHECK_INT(te, 0);
	free(s);
}

int main(void)
{
	setup();
	test_lookup();
	test_edit();
	test_server();
	test_server_qa();
	test_update();
	test_resolver();
	dns_zoneset_free(&zs);
	return tb_test_result("dns_zone");
}
