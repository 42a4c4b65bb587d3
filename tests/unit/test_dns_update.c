/*
 * Dynamic update hardening, through the answering path without sockets:
 * TSIG keys scoped to their zones and the allow_update ACL (RFC 2136 3.3),
 * replay detection that a truncated MAC cannot dodge, the fudge cap, MAC
 * lengths below the RFC 8945 minimum, and value-dependent prerequisites
 * compared as sets of RDATA (RFC 2136 3.2.3).
 */
#include "tb_test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <time.h>
#include <uv.h>

#include "core/error.h"
#include "dns/dns.h"
#include "dns/dns_internal.h"

static const char example_text[] =
	"@ SOA ns hostmaster 1 2 3 4 60\n"
	"@ NS ns\n"
	"ns A 192.0.2.1\n"
	"two A 1.1.1.1\n"
	"two A 2.2.2.2\n"
	"one A 3.3.3.3\n";
static const char other_text[] = "@ SOA ns hostmaster 1 2 3 4 60\n@ NS ns\nns A 192.0.2.2\n";

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

static struct dns_zone *load(struct dns_zoneset *zs, const char *origin, const char *text)
{
	uint8_t o[DNS_NAME_MAX];
	name(origin, o);
	struct dns_zone *z;
	CHECK_INT(dns_zone_new(zs, o, &z), 0);
	struct dns_zone_error ze;
	CHECK_INT(dns_zonefile_parse(text, strlen(text), o, 300, add_cb, z, &ze), 0);
	char e[100];
	CHECK_INT(dns_zone_finish(z, e, sizeof e), 0);
	return z;
}

struct urr {
	const char *owner;
	uint16_t type, cls;
	uint32_t ttl;
	const char *rdata;
	size_t rdlen;
};

static size_t make_update(uint8_t *buf, size_t cap, const char *zone, const struct urr *pre, size_t npre,
	const struct urr *upd, size_t nupd)
{
	static uint16_t id = 0x1000;
	uint8_t zn[DNS_NAME_MAX], o[DNS_NAME_MAX];
	name(zone, zn);
	struct dns_builder b;
	dns_builder_init(&b, buf, cap, id++, DNS_OP_UPDATE << 11);
	dns_builder_question(&b, zn, DNS_T_SOA, DNS_C_IN);
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

/* Sends q (already signed) from addr; returns the RCODE and the answer's TSIG error (-1: none). */
static int send_from(struct dns_server *s, const uint8_t *q, size_t ql, const char *addr, int *tsig_error)
{
	uint8_t out[4096];
	struct sockaddr_in from;
	uv_ip4_addr(addr, 5555, &from);
	size_t n = dns_server_answer(s, q, ql, (struct sockaddr *)&from, 1, out, sizeof out);
	struct dns_msg m;
	*tsig_error = -1;
	if (n == 0 || dns_msg_parse(&m, out, n) != 0)
		return -1;
	int rc = DNS_RCODE(m.flags);
	if (m.has_tsig) {
		size_t nad;
		struct dns_rr *ad = dns_msg_section(&m, DNS_SEC_ADDITIONAL, &nad);
		const struct dns_rr *t = &ad[nad - 1];
		int al = dns_name_len(t->rdata, t->rdlen);
		size_t o = (size_t)al + 8;
		size_t ml = (size_t)(t->rdata[o] << 8 | t->rdata[o + 1]);
		o += 2 + ml + 2;
		*tsig_error = t->rdata[o] << 8 | t->rdata[o + 1];
	}
	dns_msg_free(&m);
	return rc;
}

static int send_signed(struct dns_server *s, uint8_t *q, size_t ql, const struct dns_tsig_key *k,
	const char *addr, int *te)
{
	CHECK_INT(dns_tsig_sign_request(k, q, &ql, 4096, (uint64_t)time(NULL)), 0);
	return send_from(s, q, ql, addr, te);
}

/*
 * A copy of the signed message q with its MAC cut to mac_len octets (MAC Size
 * and RDLENGTH adjusted): what a replayer can make from a captured update,
 * since the MAC's own length is not covered by the MAC.
 */
static size_t truncate_mac(const uint8_t *q, size_t ql, size_t mac_len, uint8_t *out)
{
	struct dns_msg m;
	if (dns_msg_parse(&m, q, ql) != 0 || !m.has_tsig)
		exit(3);
	size_t o = m.tsig_offset;
	dns_msg_free(&m);
	int kl = dns_name_len(q + o, ql - o);
	size_t rdlen_at = o + (size_t)kl + 8, rd = rdlen_at + 2;
	int al = dns_name_len(q + rd, ql - rd);
	size_t size_at = rd + (size_t)al + 8, mac_at = size_at + 2;
	size_t full = (size_t)(q[size_at] << 8 | q[size_at + 1]);
	memcpy(out, q, mac_at + mac_len);
	memcpy(out + mac_at + mac_len, q + mac_at + full, ql - mac_at - full);
	out[size_at] = (uint8_t)(mac_len >> 8);
	out[size_at + 1] = (uint8_t)mac_len;
	size_t rdlen = (size_t)(q[rdlen_at] << 8 | q[rdlen_at + 1]) - full + mac_len;
	out[rdlen_at] = (uint8_t)(rdlen >> 8);
	out[rdlen_at + 1] = (uint8_t)rdlen;
	return ql - full + mac_len;
}

static int has_rrset(const struct dns_zone *z, const char *owner, uint16_t type)
{
	uint8_t n[DNS_NAME_MAX];
	name(owner, n);
	const struct dns_node *node = dns_zone_find(z, n);
	return node && dns_node_rrset(node, type);
}

static struct dns_zoneset zs;
static struct dns_zone *zex, *zother;

static struct dns_server *server(void)
{
	struct dns_server *s = calloc(1, sizeof *s);
	s->zones = zs;
	s->udp_payload = 1232;
	dns_acl_parse(&s->allow_query, "any");
	dns_acl_parse(&s->allow_update, "127.0.0.0/8");
	/* k1 may update example.test, k2 other.test */
	for (int i = 0; i < 2; i++) {
		struct dns_tsig_key *k = &s->keys[i];
		name(i == 0 ? "k1." : "k2.", k->name);
		memset(k->secret, 0x41 + i, 32);
		k->secret_len = 32;
		name(i == 0 ? "example.test." : "other.test.", k->zones[0]);
		k->n_zones = 1;
	}
	s->n_keys = 2;
	return s;
}

/* issue 9.3: a key updates only its own zones; UPDATE obeys allow_update, not allow_query */
static void test_scope(void)
{
	struct dns_server *s = server();
	const struct dns_tsig_key *k1 = &s->keys[0], *k2 = &s->keys[1];
	uint8_t q[4096];
	int te;
	struct urr add = { "scoped.example.test.", DNS_T_TXT, DNS_C_IN, 60, "\1a", 2 };

	size_t ql = make_update(q, sizeof q, "example.test.", NULL, 0, &add, 1);
	CHECK_INT(send_signed(s, q, ql, k2, "127.0.0.1", &te), DNS_RCODE_REFUSED);
	CHECK_INT(te, 0); /* a signed answer: the key verified, the zone is not its to change */
	CHECK(!has_rrset(zex, "scoped.example.test.", DNS_T_TXT));

	ql = make_update(q, sizeof q, "example.test.", NULL, 0, &add, 1);
	CHECK_INT(send_signed(s, q, ql, k1, "127.0.0.1", &te), DNS_RCODE_NOERROR);
	CHECK(has_rrset(zex, "scoped.example.test.", DNS_T_TXT));

	struct urr add2 = { "scoped.other.test.", DNS_T_TXT, DNS_C_IN, 60, "\1b", 2 };
	ql = make_update(q, sizeof q, "other.test.", NULL, 0, &add2, 1);
	CHECK_INT(send_signed(s, q, ql, k1, "127.0.0.1", &te), DNS_RCODE_REFUSED);
	CHECK(!has_rrset(zother, "scoped.other.test.", DNS_T_TXT));
	ql = make_update(q, sizeof q, "other.test.", NULL, 0, &add2, 1);
	CHECK_INT(send_signed(s, q, ql, k2, "127.0.0.1", &te), DNS_RCODE_NOERROR);
	CHECK(has_rrset(zother, "scoped.other.test.", DNS_T_TXT));

	/* a zone not served here: NOTAUTH (RFC 2136 3.1.1) */
	struct urr add3 = { "x.nowhere.test.", DNS_T_TXT, DNS_C_IN, 60, "\1c", 2 };
	ql = make_update(q, sizeof q, "nowhere.test.", NULL, 0, &add3, 1);
	CHECK_INT(send_signed(s, q, ql, k1, "127.0.0.1", &te), DNS_RCODE_NOTAUTH);

	/* allow_query is "any", allow_update loopback: a correctly signed update from
	 * elsewhere is REFUSED before anything else */
	struct urr add4 = { "far.example.test.", DNS_T_TXT, DNS_C_IN, 60, "\1d", 2 };
	ql = make_update(q, sizeof q, "example.test.", NULL, 0, &add4, 1);
	CHECK_INT(send_signed(s, q, ql, k1, "192.0.2.7", &te), DNS_RCODE_REFUSED);
	CHECK(!has_rrset(zex, "far.example.test.", DNS_T_TXT));
	ql = make_update(q, sizeof q, "example.test.", NULL, 0, &add4, 1);
	CHECK_INT(send_signed(s, q, ql, k1, "127.0.0.9", &te), DNS_RCODE_NOERROR);
	CHECK(has_rrset(zex, "far.example.test.", DNS_T_TXT));
	free(s);
}

/* issue 9.4: replays keyed on the computed MAC, the fudge cap, MAC length bounds */
static void test_replay(void)
{
	struct dns_server *s = server();
	const struct dns_tsig_key *k1 = &s->keys[0];
	uint8_t q[4096], v[4096];
	int te;

	/* one captured update: add, then removed by its owner */
	struct urr add = { "replay.example.test.", DNS_T_TXT, DNS_C_IN, 60, "\1r", 2 };
	size_t ql = make_update(q, sizeof q, "example.test.", NULL, 0, &add, 1);
	CHECK_INT(dns_tsig_sign_request(k1, q, &ql, sizeof q, (uint64_t)time(NULL)), 0);
	memcpy(v, q, ql);
	CHECK_INT(send_from(s, v, ql, "127.0.0.1", &te), DNS_RCODE_NOERROR);
	CHECK(has_rrset(zex, "replay.example.test.", DNS_T_TXT));
	struct urr del = { "replay.example.test.", DNS_T_TXT, DNS_C_ANY, 0, "", 0 };
	uint8_t d[4096];
	size_t dl = make_update(d, sizeof d, "example.test.", NULL, 0, &del, 1);
	CHECK_INT(send_signed(s, d, dl, k1, "127.0.0.1", &te), DNS_RCODE_NOERROR);
	CHECK(!has_rrset(zex, "replay.example.test.", DNS_T_TXT));

	/* the same message again, and with its MAC truncated to every length down to
	 * the minimum: each is the same signed update, refused, never applied */
	memcpy(v, q, ql);
	CHECK_INT(send_from(s, v, ql, "127.0.0.1", &te), DNS_RCODE_NOTAUTH);
	CHECK_INT(te, DNS_RCODE_BADTIME);
	int applied = 0, refused = 0;
	for (size_t len = 31; len >= 16; len--) {
		size_t vl = truncate_mac(q, ql, len, v);
		int rc = send_from(s, v, vl, "127.0.0.1", &te);
		if (rc == DNS_RCODE_NOTAUTH && te == DNS_RCODE_BADTIME)
			refused++;
		if (has_rrset(zex, "replay.example.test.", DNS_T_TXT)) {
			applied++;
			dns_zone_del_rr(zex, (const uint8_t *)"\6replay\7example\4test", DNS_T_TXT,
				(const uint8_t *)"\1r", 2);
		}
	}
	CHECK_INT(refused, 16);
	CHECK_INT(applied, 0);

	/* a truncated MAC is still accepted for a new message (RFC 8945 5.2.2.1) */
	struct urr add2 = { "trunc.example.test.", DNS_T_TXT, DNS_C_IN, 60, "\1t", 2 };
	ql = make_update(q, sizeof q, "example.test.", NULL, 0, &add2, 1);
	CHECK_INT(dns_tsig_sign_request(k1, q, &ql, sizeof q, (uint64_t)time(NULL)), 0);
	size_t vl = truncate_mac(q, ql, 16, v);
	CHECK_INT(send_from(s, v, vl, "127.0.0.1", &te), DNS_RCODE_NOERROR);
	CHECK(has_rrset(zex, "trunc.example.test.", DNS_T_TXT));
	/* below the minimum (max(10, 32 / 2) octets): FORMERR */
	struct urr add3 = { "short.example.test.", DNS_T_TXT, DNS_C_IN, 60, "\1s", 2 };
	ql = make_update(q, sizeof q, "example.test.", NULL, 0, &add3, 1);
	CHECK_INT(dns_tsig_sign_request(k1, q, &ql, sizeof q, (uint64_t)time(NULL)), 0);
	vl = truncate_mac(q, ql, 15, v);
	CHECK_INT(send_from(s, v, vl, "127.0.0.1", &te), DNS_RCODE_FORMERR);
	vl = truncate_mac(q, ql, 10, v);
	CHECK_INT(send_from(s, v, vl, "127.0.0.1", &te), DNS_RCODE_FORMERR);
	CHECK(!has_rrset(zex, "short.example.test.", DNS_T_TXT));

	/* the fudge a request asks for is honoured up to 300 s only */
	struct urr add4 = { "fudge.example.test.", DNS_T_TXT, DNS_C_IN, 60, "\1f", 2 };
	ql = make_update(q, sizeof q, "example.test.", NULL, 0, &add4, 1);
	CHECK_INT(dns_tsig_sign_request_fudge(k1, q, &ql, sizeof q, (uint64_t)time(NULL) - 1000, 3600), 0);
	CHECK_INT(send_from(s, q, ql, "127.0.0.1", &te), DNS_RCODE_NOTAUTH);
	CHECK_INT(te, DNS_RCODE_BADTIME);
	CHECK(!has_rrset(zex, "fudge.example.test.", DNS_T_TXT));
	ql = make_update(q, sizeof q, "example.test.", NULL, 0, &add4, 1);
	CHECK_INT(dns_tsig_sign_request_fudge(k1, q, &ql, sizeof q, (uint64_t)time(NULL) - 100, 3600), 0);
	CHECK_INT(send_from(s, q, ql, "127.0.0.1", &te), DNS_RCODE_NOERROR);
	CHECK(has_rrset(zex, "fudge.example.test.", DNS_T_TXT));
	/* a small fudge is honoured as given */
	struct urr add5 = { "fudge5.example.test.", DNS_T_TXT, DNS_C_IN, 60, "\1g", 2 };
	ql = make_update(q, sizeof q, "example.test.", NULL, 0, &add5, 1);
	CHECK_INT(dns_tsig_sign_request_fudge(k1, q, &ql, sizeof q, (uint64_t)time(NULL) - 60, 5), 0);
	CHECK_INT(send_from(s, q, ql, "127.0.0.1", &te), DNS_RCODE_NOTAUTH);
	CHECK_INT(te, DNS_RCODE_BADTIME);

	/* when the replay memory is full of updates still inside their window, new
	 * updates are refused rather than an entry forgotten */
	for (size_t i = 0; i < DNS_TSIG_SEEN_MAX; i++) {
		s->tsig_seen[i].expires = (uint64_t)time(NULL) + 100;
		memset(s->tsig_seen[i].mac, (int)(i & 0xff), sizeof s->tsig_seen[i].mac);
		s->tsig_seen[i].mac[1] = (uint8_t)(i >> 8);
		s->tsig_seen[i].mac[2] = 0xee;
	}
	struct urr add6 = { "full.example.test.", DNS_T_TXT, DNS_C_IN, 60, "\1h", 2 };
	ql = make_update(q, sizeof q, "example.test.", NULL, 0, &add6, 1);
	CHECK_INT(send_signed(s, q, ql, k1, "127.0.0.1", &te), DNS_RCODE_REFUSED);
	CHECK(!has_rrset(zex, "full.example.test.", DNS_T_TXT));
	/* once the oldest has expired, its slot is reused */
	s->tsig_seen[s->tsig_seen_next].expires = (uint64_t)time(NULL) - 1;
	ql = make_update(q, sizeof q, "example.test.", NULL, 0, &add6, 1);
	CHECK_INT(send_signed(s, q, ql, k1, "127.0.0.1", &te), DNS_RCODE_NOERROR);
	CHECK(has_rrset(zex, "full.example.test.", DNS_T_TXT));
	free(s);
}

/* issue 9.5: RFC 2136 3.2.3 compares RRsets as sets of distinct RDATA */
static void test_prereq_set(void)
{
	struct dns_server *s = server();
	const struct dns_tsig_key *k1 = &s->keys[0];
	uint8_t q[4096];
	int te;
	struct urr mark = { "mark.example.test.", DNS_T_TXT, DNS_C_IN, 60, "\1m", 2 };
	const struct urr one = { "two.example.test.", DNS_T_A, DNS_C_IN, 0, "\1\1\1\1", 4 };
	const struct urr two = { "two.example.test.", DNS_T_A, DNS_C_IN, 0, "\2\2\2\2", 4 };

	/* two.example.test A {1.1.1.1, 2.2.2.2} */
	struct urr p1[] = { one };
	size_t ql = make_update(q, sizeof q, "example.test.", p1, 1, &mark, 1);
	CHECK_INT(send_signed(s, q, ql, k1, "127.0.0.1", &te), DNS_RCODE_NXRRSET);
	struct urr p2[] = { one, one };
	ql = make_update(q, sizeof q, "example.test.", p2, 2, &mark, 1);
	CHECK_INT(send_signed(s, q, ql, k1, "127.0.0.1", &te), DNS_RCODE_NXRRSET);
	CHECK(!has_rrset(zex, "mark.example.test.", DNS_T_TXT));
	struct urr p3[] = { two, one, two };
	ql = make_update(q, sizeof q, "example.test.", p3, 3, &mark, 1);
	CHECK_INT(send_signed(s, q, ql, k1, "127.0.0.1", &te), DNS_RCODE_NOERROR);
	CHECK(has_rrset(zex, "mark.example.test.", DNS_T_TXT));
	struct urr p4[] = { one, two };
	ql = make_update(q, sizeof q, "example.test.", p4, 2, &mark, 1);
	CHECK_INT(send_signed(s, q, ql, k1, "127.0.0.1", &te), DNS_RCODE_NOERROR);
	/* a record not in the RRset fails however many others match */
	const struct urr three = { "two.example.test.", DNS_T_A, DNS_C_IN, 0, "\3\3\3\3", 4 };
	struct urr p5[] = { one, two, three };
	ql = make_update(q, sizeof q, "example.test.", p5, 3, &mark, 1);
	CHECK_INT(send_signed(s, q, ql, k1, "127.0.0.1", &te), DNS_RCODE_NXRRSET);
	/* two RRsets in one message, each judged on its own records */
	const struct urr o = { "one.example.test.", DNS_T_A, DNS_C_IN, 0, "\3\3\3\3", 4 };
	struct urr p6[] = { one, o, two, o };
	ql = make_update(q, sizeof q, "example.test.", p6, 4, &mark, 1);
	CHECK_INT(send_signed(s, q, ql, k1, "127.0.0.1", &te), DNS_RCODE_NOERROR);
	struct urr p7[] = { o, one, o };
	ql = make_update(q, sizeof q, "example.test.", p7, 3, &mark, 1);
	CHECK_INT(send_signed(s, q, ql, k1, "127.0.0.1", &te), DNS_RCODE_NXRRSET);
	free(s);
}

int main(void)
{
	dns_zoneset_init(&zs);
	zex = load(&zs, "example.test.", example_text);
	zother = load(&zs, "other.test.", other_text);
	test_scope();
	test_replay();
	test_prereq_set();
	dns_zoneset_free(&zs);
	return tb_test_result("dns_update");
}
