/*
 * DNSSEC validation building blocks: published vectors (RFC 8080 Ed25519,
 * RFC 6605 ECDSA, RFC 4034 key tag and DS, RFC 5155 appendix A/B NSEC3
 * hashes and proofs), NSEC proofs over a hand-made chain, the KeyTrap caps,
 * and zones signed here by BIND's dnssec-signzone with every supported
 * algorithm: valid, tampered, expired and not yet valid, and kept key objects
 * never confused (same key tag, other key). Prints validations per CPU second
 * for each algorithm (one RRset, its key already built and kept).
 */
#include "tb_test.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/error.h"
#include "dns/dns.h"
#include "dns/dnssec.h"

/* ---- records from master-file text ---- */

#define RECS_MAX 512
struct recs {
	size_t n;
	struct dns_rr r[RECS_MAX];
};

static int keep(void *arg, const struct dns_rr *rr)
{
	struct recs *s = arg;
	if (s->n >= RECS_MAX)
		return 1;
	struct dns_rr *d = &s->r[s->n++];
	*d = *rr;
	int nl = dns_name_len(rr->owner, DNS_NAME_MAX);
	uint8_t *o = malloc((size_t)nl), *rd = malloc(rr->rdlen ? rr->rdlen : 1);
	memcpy(o, rr->owner, (size_t)nl);
	memcpy(rd, rr->rdata, rr->rdlen);
	d->owner = o;
	d->rdata = rd;
	return 0;
}

static void recs_load(struct recs *s, const char *text)
{
	struct dns_zone_error err;
	memset(s, 0, sizeof *s);
	int rc = dns_zonefile_parse(text, strlen(text), NULL, 3600, keep, s, &err);
	if (rc)
		fprintf(stderr, "zone text: line %u: %s\n", err.line, err.msg);
	CHECK_INT(rc, 0);
}

static void recs_free(struct recs *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free((void *)s->r[i].owner);
		free((void *)s->r[i].rdata);
	}
	s->n = 0;
}

/* Records of s with this owner and type (type 0: any) copied into out. */
static size_t pick(const struct recs *s, const uint8_t *owner, uint16_t type, struct dns_rr *out, size_t max)
{
	size_t n = 0;
	for (size_t i = 0; i < s->n && n < max; i++)
		if ((!owner || dns_name_eq(s->r[i].owner, owner)) && (!type || s->r[i].type == type))
			out[n++] = s->r[i];
	return n;
}

/* RRSIGs at owner covering type. */
static size_t pick_sigs(const struct recs *s, const uint8_t *owner, uint16_t covered, struct dns_rr *out, size_t max)
{
	size_t n = 0;
	for (size_t i = 0; i < s->n && n < max; i++)
		if (s->r[i].type == DNS_T_RRSIG && dns_name_eq(s->r[i].owner, owner) && s->r[i].rdlen >= 2 &&
			(s->r[i].rdata[0] << 8 | s->r[i].rdata[1]) == covered)
			out[n++] = s->r[i];
	return n;
}

static const uint8_t *wire(const char *text)
{
	static uint8_t bufs[8][DNS_NAME_MAX];
	static int next;
	uint8_t *b = bufs[next++ % 8];
	size_t len;
	if (dns_name_from_text(text, strlen(text), NULL, b, &len))
		abort();
	return b;
}

/* ---- published vectors ---- */

static void test_rfc8080(void)
{
	static const char *const z[2] = {
		"example.com. 3600 IN DNSKEY 257 3 15 l02Woi0iS8Aa25FQkUd9RMzZHJpBoRQwAQEX1SxZJA4=\n"
		"example.com. 3600 IN DS 3613 15 2 3aa5ab37efce57f737fc1627013fee07bdf241bd10f3b1964ab55c78e79a304b\n"
		"example.com. 3600 IN MX 10 mail.example.com.\n"
		"example.com. 3600 IN RRSIG MX 15 2 3600 20150819220000 20150729220000 3613 example.com. "
		"oL9krJun7xfBOIWcGHi7mag5/hdZrKWw15jPGrHpjQeRAvTdszaPD+QLs3fx8A4M3e23mRZ9VrbpMngwcrqNAg==\n",
		"example.com. 3600 IN DNSKEY 257 3 15 zPnZ/QwEe7S8C5SPz2OfS5RR40ATk2/rYnE9xHIEijs=\n"
		"example.com. 3600 IN DS 35217 15 2 401781b934e392de492ec77ae2e15d70f6575a1c0bc59c5275c04ebe80c6614c\n"
		"example.com. 3600 IN MX 10 mail.example.com.\n"
		"example.com. 3600 IN RRSIG MX 15 2 3600 20150819220000 20150729220000 35217 example.com. "
		"zXQ0bkYgQTEFyfLyi9QoiY6D8ZdYo4wyUhVioYZXFdT410QPRITQSqJSnzQoSm5poJ7gD7AQR0O7KuI5k2pcBg==\n",
	};
	static const uint16_t tags[2] = { 3613, 35217 };
	/* RFC 8080's signed data for the MX (as listed by implementations that checked the errata) */
	static const uint8_t signed_data[] = {
		0x00, 0x0f, 0x0f, 0x02, 0x00, 0x00, 0x0e, 0x10, 0x55, 0xd4, 0xfc, 0x60, 0x55, 0xb9, 0x4c, 0xe0,
		0x0e, 0x1d, 0x07, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0x03, 'c', 'o', 'm', 0x00,
		0x07, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0x03, 'c', 'o', 'm', 0x00, 0x00, 0x0f, 0x00, 0x01,
		0x00, 0x00, 0x0e, 0x10, 0x00, 0x14, 0x00, 0x0a, 0x04, 'm', 'a', 'i', 'l',
		0x07, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0x03, 'c', 'o', 'm', 0x00,
	};
	uint64_t now = 1439000000; /* inside 2015-07-29 .. 2015-08-19 */
	for (int i = 0; i < 2; i++) {
		struct recs s;
		struct dns_rr key = { 0 }, ds = { 0 }, mx = { 0 }, sig = { 0 };
		recs_load(&s, z[i]);
		CHECK_INT(pick(&s, NULL, DNS_T_DNSKEY, &key, 1), 1);
		CHECK_INT(pick(&s, NULL, DNS_T_DS, &ds, 1), 1);
		CHECK_INT(pick(&s, NULL, DNS_T_MX, &mx, 1), 1);
		CHECK_INT(pick(&s, NULL, DNS_T_RRSIG, &sig, 1), 1);
		CHECK_INT(dnssec_key_tag(key.rdata, key.rdlen), tags[i]);
		CHECK_INT(dnssec_ds_match(key.owner, ds.rdata, ds.rdlen, key.rdata, key.rdlen), 1);
		if (i == 0) {
			struct tb_bytes d = { 0 };
			CHECK_INT(dnssec_signed_data(sig.rdata, sig.rdlen, &mx, 1, &d), 0);
			CHECK_MEM(d.p, d.len, signed_data, sizeof signed_data);
			tb_bytes_free(&d);
		}
		struct dnssec_budget b;
		uint16_t ede;
		int wild;
		dnssec_budget_init(&b);
		CHECK_INT(dnssec_verify_rrset(&mx, 1, &sig, 1, &key, 1, wire("example.com."), now, 0, &b, &ede, &wild),
			DNSSEC_SECURE);
		CHECK_INT(wild, -1);
		/* the whole chain: DS -> DNSKEY (self-signed? no: the MX key is the KSK; DNSKEY set unsigned) */
		CHECK_INT(dnssec_verify_dnskeys(&key, 1, NULL, 0, &ds, 1, wire("example.com."), now, 0, &b, &ede),
			DNSSEC_BOGUS);
		CHECK_INT(ede, DNSSEC_EDE_RRSIGS_MISSING);
		/* outside the window, with and without skew */
		CHECK_INT(dnssec_verify_rrset(&mx, 1, &sig, 1, &key, 1, wire("example.com."), 1440021600 + 10, 0, &b,
				  &ede, &wild), DNSSEC_BOGUS);
		CHECK_INT(ede, DNSSEC_EDE_EXPIRED);
		CHECK_INT(dnssec_verify_rrset(&mx, 1, &sig, 1, &key, 1, wire("example.com."), 1440021600 + 10, 60, &b,
				  &ede, &wild), DNSSEC_SECURE);
		CHECK_INT(dnssec_verify_rrset(&mx, 1, &sig, 1, &key, 1, wire("example.com."), 1438207200 - 10, 0, &b,
				  &ede, &wild), DNSSEC_BOGUS);
		CHECK_INT(ede, DNSSEC_EDE_NOT_YET_VALID);
		/* a changed record */
		uint8_t rd[64];
		memcpy(rd, mx.rdata, mx.rdlen);
		rd[1] = 11;
		struct dns_rr bad = mx;
		bad.rdata = rd;
		CHECK_INT(dnssec_verify_rrset(&bad, 1, &sig, 1, &key, 1, wire("example.com."), now, 0, &b, &ede, &wild),
			DNSSEC_BOGUS);
		CHECK_INT(ede, DNSSEC_EDE_BOGUS);
		/* no signature at all, and a signer that is not the zone */
		CHECK_INT(dnssec_verify_rrset(&mx, 1, NULL, 0, &key, 1, wire("example.com."), now, 0, &b, &ede, &wild),
			DNSSEC_BOGUS);
		CHECK_INT(ede, DNSSEC_EDE_RRSIGS_MISSING);
		CHECK_INT(dnssec_verify_rrset(&mx, 1, &sig, 1, &key, 1, wire("com."), now, 0, &b, &ede, &wild),
			DNSSEC_BOGUS);
		recs_free(&s);
	}
}

static void test_rfc6605(void)
{
	static const char *const z[2] = {
		"example.net. 3600 IN DNSKEY 257 3 13 GojIhhXUN/u4v54ZQqGSnyhWJwaubCvTmeexv7bR6edbkrSqQpF64cYbcB7wNcP+e+MAnLr+Wi9xMWyQLc8NAA==\n"
		"example.net. 3600 IN DS 55648 13 2 b4c8c1fe2e7477127b27115656ad6256f424625bf5c1e2770ce6d6e37df61d17\n"
		"www.example.net. 3600 IN A 192.0.2.1\n"
		"www.example.net. 3600 IN RRSIG A 13 3 3600 20100909100439 20100812100439 55648 example.net. "
		"qx6wLYqmh+l9oCKTN6qIc+bw6ya+KJ8oMz0YP107epXAyGmt+3SNruPFKG7tZoLBLlUzGGus7ZwmwWep666VCw==\n",
		"example.net. 3600 IN DNSKEY 257 3 14 xKYaNhWdGOfJ+nPrL8/arkwf2EY3MDJ+SErKivBVSum1w/egsXvSADtNJhyem5RC"
		"OpgQ6K8X1DRSEkrbYQ+OB+v8/uX45NBwY8rp65F6Glur8I/mlVNgF6W/qTI37m40\n"
		"example.net. 3600 IN DS 10771 14 4 72d7b62976ce06438e9c0bf319013cf801f09ecc84b8d7e9495f27e305c6a9b0563a9b5f4d288405c3008a946df983d6\n"
		"www.example.net. 3600 IN A 192.0.2.1\n"
		"www.example.net. 3600 IN RRSIG A 14 3 3600 20100909102025 20100812102025 10771 example.net. "
		"/L5hDKIvGDyI1fcARX3z65qrmPsVz73QD1Mr5CEqOiLP95hxQouuroGCeZOvzFaxsT8Glr74hbavRKayJNuydCuzWTSSPdz7wnqXL5bdcJzusdnI0RSMROxxwGipWcJm\n",
	};
	static const uint16_t tags[2] = { 55648, 10771 };
	uint64_t now = 1283000000;
	for (int i = 0; i < 2; i++) {
		struct recs s;
		struct dns_rr key = { 0 }, ds = { 0 }, a = { 0 }, sig = { 0 };
		recs_load(&s, z[i]);
		CHECK_INT(pick(&s, NULL, DNS_T_DNSKEY, &key, 1), 1);
		CHECK_INT(pick(&s, NULL, DNS_T_DS, &ds, 1), 1);
		CHECK_INT(pick(&s, NULL, DNS_T_A, &a, 1), 1);
		CHECK_INT(pick(&s, NULL, DNS_T_RRSIG, &sig, 1), 1);
		CHECK_INT(dnssec_key_tag(key.rdata, key.rdlen), tags[i]);
		CHECK_INT(dnssec_ds_match(key.owner, ds.rdata, ds.rdlen, key.rdata, key.rdlen), 1);
		struct dnssec_budget b;
		uint16_t ede;
		int wild;
		dnssec_budget_init(&b);
		CHECK_INT(dnssec_verify_rrset(&a, 1, &sig, 1, &key, 1, wire("example.net."), now, 0, &b, &ede, &wild),
			DNSSEC_SECURE);
		/* flip one bit of s */
		uint8_t rd[256];
		memcpy(rd, sig.rdata, sig.rdlen);
		rd[sig.rdlen - 1] ^= 1;
		struct dns_rr bad = sig;
		bad.rdata = rd;
		CHECK_INT(dnssec_verify_rrset(&a, 1, &bad, 1, &key, 1, wire("example.net."), now, 0, &b, &ede, &wild),
			DNSSEC_BOGUS);
		CHECK_INT(ede, DNSSEC_EDE_BOGUS);
		recs_free(&s);
	}
}

/* RFC 4034 5.4 example (algorithm 5: digest and key tag only). */
static void test_rfc4034_ds(void)
{
	struct recs s;
	struct dns_rr key = { 0 }, ds = { 0 };
	recs_load(&s,
		"dskey.example.com. 86400 IN DNSKEY 256 3 5 AQOeiiR0GOMYkDshWoSKz9XzfwJr1AYtsmx3TGkJaNXVbfi/"
		"2pHm822aJ5iI9BMzNXxeYCmZDRD99WYwYqUSdjMmmAphXdvxegXd/M5+X7OrzKBaMbCVdFLUUh6DhweJBjEVv5f2wwjM9Xzc"
		"nOf+EPbtG9DMBmADjFDc2w/rljwvFw==\n"
		"dskey.example.com. 86400 IN DS 60485 5 1 2BB183AF5F22588179A53B0A98631FAD1A292118\n");
	CHECK_INT(pick(&s, NULL, DNS_T_DNSKEY, &key, 1), 1);
	CHECK_INT(pick(&s, NULL, DNS_T_DS, &ds, 1), 1);
	CHECK_INT(dnssec_key_tag(key.rdata, key.rdlen), 60485);
	CHECK_INT(dnssec_ds_match(key.owner, ds.rdata, ds.rdlen, key.rdata, key.rdlen), 1);
	CHECK_INT(dnssec_ds_match(wire("other.example.com."), ds.rdata, ds.rdlen, key.rdata, key.rdlen), 0);
	/* algorithm 5 (RSASHA1) is not validated: a zone with only such DS records is insecure */
	struct dnssec_budget b;
	uint16_t ede;
	dnssec_budget_init(&b);
	CHECK_INT(dnssec_verify_dnskeys(&key, 1, NULL, 0, &ds, 1, wire("dskey.example.com."), 0, 0, &b, &ede),
		DNSSEC_INSECURE);
	CHECK_INT(ede, DNSSEC_EDE_UNSUPPORTED_ALG);
	recs_free(&s);
}

static void test_time(void)
{
	CHECK(dnssec_time_before(1, 2));
	CHECK(!dnssec_time_before(2, 1));
	CHECK(dnssec_time_before(0xfffffff0u, 5)); /* wraps */
	CHECK(!dnssec_time_before(5, 0xfffffff0u));
	struct dnssec_rrsig s = { .inception = 0xfffffff0u, .expiration = 100 };
	CHECK_INT(dnssec_check_window(&s, 0x100000000ull + 50, 0), 0); /* after the 2106 wrap */
	CHECK_INT(dnssec_check_window(&s, 0x100000000ull + 200, 0), DNSSEC_EDE_EXPIRED);
	CHECK_INT(dnssec_check_window(&s, 0x100000000ull - 100, 0), DNSSEC_EDE_NOT_YET_VALID);
}

/* ---- NSEC3 (RFC 5155 appendix A and B) ---- */

static const char rfc5155_chain[] =
	"0p9mhaveqvm6t7vbl5lop2u3t2rp3tom.example. 3600 IN NSEC3 1 F 12 aabbccdd 2t7b4g4vsa5smi47k61mv5bv1a22bojr MX DNSKEY NS SOA NSEC3PARAM RRSIG\n"
	"2t7b4g4vsa5smi47k61mv5bv1a22bojr.example. 3600 IN NSEC3 1 F 12 aabbccdd 2vptu5timamqttgl4luu9kg21e0aor3s A RRSIG\n"
	"2vptu5timamqttgl4luu9kg21e0aor3s.example. 3600 IN NSEC3 1 F 12 aabbccdd 35mthgpgcu1qg68fab165klnsnk3dpvl MX RRSIG\n"
	"35mthgpgcu1qg68fab165klnsnk3dpvl.example. 3600 IN NSEC3 1 F 12 aabbccdd b4um86eghhds6nea196smvmlo4ors995 NS DS RRSIG\n"
	"b4um86eghhds6nea196smvmlo4ors995.example. 3600 IN NSEC3 1 F 12 aabbccdd gjeqe526plbf1g8mklp59enfd789njgi MX RRSIG\n"
	"gjeqe526plbf1g8mklp59enfd789njgi.example. 3600 IN NSEC3 1 F 12 aabbccdd ji6neoaepv8b5o6k4ev33abha8ht9fgc A HINFO AAAA RRSIG\n"
	"ji6neoaepv8b5o6k4ev33abha8ht9fgc.example. 3600 IN NSEC3 1 F 12 aabbccdd k8udemvp1j2f7eg6jebps17vp3n8i58h\n"
	"k8udemvp1j2f7eg6jebps17vp3n8i58h.example. 3600 IN NSEC3 1 F 12 aabbccdd kohar7mbb8dc2ce8a9qvl8hon4k53uhi\n"
	"kohar7mbb8dc2ce8a9qvl8hon4k53uhi.example. 3600 IN NSEC3 1 F 12 aabbccdd q04jkcevqvmu85r014c7dkba38o0ji5r A RRSIG\n"
	"q04jkcevqvmu85r014c7dkba38o0ji5r.example. 3600 IN NSEC3 1 F 12 aabbccdd r53bq7cc2uvmubfu5ocmm6pers9tk9en A RRSIG\n"
	"r53bq7cc2uvmubfu5ocmm6pers9tk9en.example. 3600 IN NSEC3 1 F 12 aabbccdd t644ebqk9bibcna874givr6joj62mlhv MX RRSIG\n"
	"t644ebqk9bibcna874givr6joj62mlhv.example. 3600 IN NSEC3 1 F 12 aabbccdd 0p9mhaveqvm6t7vbl5lop2u3t2rp3tom A HINFO AAAA RRSIG\n";

static void b32hex(const uint8_t *h, char *out)
{
	static const char a[] = "0123456789abcdefghijklmnopqrstuv";
	int bits = 0, o = 0;
	uint32_t acc = 0;
	for (int i = 0; i < 20; i++) {
		acc = acc << 8 | h[i];
		bits += 8;
		while (bits >= 5) {
			out[o++] = a[(acc >> (bits - 5)) & 31];
			bits -= 5;
		}
	}
	out[o] = 0;
}

static void load_chain(struct recs *s, const char *flags)
{
	char *t = strdup(rfc5155_chain);
	for (char *p = t; (p = strstr(p, " 1 F 12 ")); p += 8)
		p[3] = flags[0];
	recs_load(s, t);
	free(t);
}

static void test_nsec3(void)
{
	static const char *const v[][2] = {
		{ "example.", "0p9mhaveqvm6t7vbl5lop2u3t2rp3tom" },
		{ "a.example.", "35mthgpgcu1qg68fab165klnsnk3dpvl" },
		{ "ai.example.", "gjeqe526plbf1g8mklp59enfd789njgi" },
		{ "ns1.example.", "2t7b4g4vsa5smi47k61mv5bv1a22bojr" },
		{ "ns2.example.", "q04jkcevqvmu85r014c7dkba38o0ji5r" },
		{ "w.example.", "k8udemvp1j2f7eg6jebps17vp3n8i58h" },
		{ "*.w.example.", "r53bq7cc2uvmubfu5ocmm6pers9tk9en" },
		{ "x.w.example.", "b4um86eghhds6nea196smvmlo4ors995" },
		{ "y.w.example.", "ji6neoaepv8b5o6k4ev33abha8ht9fgc" },
		{ "x.y.w.example.", "2vptu5timamqttgl4luu9kg21e0aor3s" },
		{ "xx.example.", "t644ebqk9bibcna874givr6joj62mlhv" },
		{ "2t7b4g4vsa5smi47k61mv5bv1a22bojr.example.", "kohar7mbb8dc2ce8a9qvl8hon4k53uhi" },
		{ "X.W.EXAMPLE.", "b4um86eghhds6nea196smvmlo4ors995" },
	};
	static const uint8_t salt[4] = { 0xaa, 0xbb, 0xcc, 0xdd };
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		uint8_t h[20];
		char t[40];
		CHECK_INT(dnssec_nsec3_hash(wire(v[i][0]), salt, 4, 12, h, NULL), 0);
		b32hex(h, t);
		CHECK_STR(t, v[i][1]);
	}

	struct recs s;
	struct dnssec_budget b;
	uint16_t ede;
	uint8_t zone[DNS_NAME_MAX];
	memcpy(zone, wire("example."), 9);
	/* with the appendix's opt-out flags (F = 1) */
	load_chain(&s, "1");
	dnssec_budget_init(&b);
	/* B.1 name error: an opt-out span covers the next closer name: insecure (RFC 5155 9.2, as Unbound) */
	CHECK_INT(dnssec_deny(DNSSEC_DENY_NXDOMAIN, wire("a.c.x.w.example."), DNS_T_A, -1, s.r, s.n, zone, &b, &ede),
		DNSSEC_INSECURE);
	/* B.3 referral to an unsigned child under opt-out: no DS, insecure */
	dnssec_budget_init(&b);
	CHECK_INT(dnssec_deny(DNSSEC_DENY_DS, wire("mc.c.example."), DNS_T_DS, -1, s.r, s.n, zone, &b, &ede),
		DNSSEC_INSECURE);
	/* the same as the answer to a DS query (NODATA) */
	dnssec_budget_init(&b);
	CHECK_INT(dnssec_deny(DNSSEC_DENY_NODATA, wire("mc.c.example."), DNS_T_DS, -1, s.r, s.n, zone, &b, &ede),
		DNSSEC_INSECURE);
	recs_free(&s);

	load_chain(&s, "0");
	dnssec_budget_init(&b);
	CHECK_INT(dnssec_deny(DNSSEC_DENY_NXDOMAIN, wire("a.c.x.w.example."), DNS_T_A, -1, s.r, s.n, zone, &b, &ede),
		DNSSEC_SECURE);
	/* only the three records B.1 lists */
	struct dns_rr three[3];
	size_t k = 0;
	for (size_t i = 0; i < s.n; i++)
		if (!memcmp(s.r[i].owner + 1, "0p9m", 4) || !memcmp(s.r[i].owner + 1, "b4um", 4) ||
			!memcmp(s.r[i].owner + 1, "35mt", 4))
			three[k++] = s.r[i];
	CHECK_INT(k, 3);
	dnssec_budget_init(&b);
	CHECK_INT(dnssec_deny(DNSSEC_DENY_NXDOMAIN, wire("a.c.x.w.example."), DNS_T_A, -1, three, 3, zone, &b, &ede),
		DNSSEC_SECURE);
	/* without the wildcard's cover (35mt) it is not proven */
	dnssec_budget_init(&b);
	CHECK_INT(dnssec_deny(DNSSEC_DENY_NXDOMAIN, wire("a.c.x.w.example."), DNS_T_A, -1, three, 2, zone, &b, &ede),
		DNSSEC_BOGUS);
	CHECK_INT(ede, DNSSEC_EDE_NSEC_MISSING);
	/* an existing name cannot be NXDOMAIN */
	dnssec_budget_init(&b);
	CHECK_INT(dnssec_deny(DNSSEC_DENY_NXDOMAIN, wire("ns1.example."), DNS_T_A, -1, s.r, s.n, zone, &b, &ede),
		DNSSEC_BOGUS);
	/* B.2 NODATA, B.2.1 at an empty non-terminal */
	dnssec_budget_init(&b);
	CHECK_INT(dnssec_deny(DNSSEC_DENY_NODATA, wire("ns1.example."), DNS_T_MX, -1, s.r, s.n, zone, &b, &ede),
		DNSSEC_SECURE);
	dnssec_budget_init(&b);
	CHECK_INT(dnssec_deny(DNSSEC_DENY_NODATA, wire("ns1.example."), DNS_T_A, -1, s.r, s.n, zone, &b, &ede),
		DNSSEC_BOGUS);
	dnssec_budget_init(&b);
	CHECK_INT(dnssec_deny(DNSSEC_DENY_NODATA, wire("y.w.example."), DNS_T_A, -1, s.r, s.n, zone, &b, &ede),
		DNSSEC_SECURE);
	/* B.4 wildcard expansion: a.z.w.example from *.w.example (RRSIG labels 2) */
	dnssec_budget_init(&b);
	CHECK_INT(dnssec_deny(DNSSEC_DENY_WILDCARD, wire("a.z.w.example."), DNS_T_MX, 2, s.r, s.n, zone, &b, &ede),
		DNSSEC_SECURE);
	/* x.w.example exists: it cannot have come from the wildcard */
	dnssec_budget_init(&b);
	CHECK_INT(dnssec_deny(DNSSEC_DENY_WILDCARD, wire("x.w.example."), DNS_T_MX, 2, s.r, s.n, zone, &b, &ede),
		DNSSEC_BOGUS);
	/* B.5 wildcard NODATA */
	dnssec_budget_init(&b);
	CHECK_INT(dnssec_deny(DNSSEC_DENY_NODATA, wire("a.z.w.example."), DNS_T_AAAA, -1, s.r, s.n, zone, &b, &ede),
		DNSSEC_SECURE);
	/* ns1.example is no delegation: it proves no unsigned child */
	dnssec_budget_init(&b);
	CHECK_INT(dnssec_deny(DNSSEC_DENY_DS, wire("ns1.example."), DNS_T_DS, -1, s.r, s.n, zone, &b, &ede),
		DNSSEC_BOGUS);
	dnssec_budget_init(&b);
	CHECK_INT(dnssec_deny(DNSSEC_DENY_NODATA, wire("ns1.example."), DNS_T_DS, -1, s.r, s.n, zone, &b, &ede),
		DNSSEC_SECURE);
	/* DS at a signed delegation's parent side (a.example has DS): not denied */
	dnssec_budget_init(&b);
	CHECK_INT(dnssec_deny(DNSSEC_DENY_DS, wire("a.example."), DNS_T_DS, -1, s.r, s.n, zone, &b, &ede),
		DNSSEC_BOGUS);
	/* no opt-out: a missing name under a span proves nothing about an unsigned delegation */
	dnssec_budget_init(&b);
	CHECK_INT(dnssec_deny(DNSSEC_DENY_DS, wire("mc.c.example."), DNS_T_DS, -1, s.r, s.n, zone, &b, &ede),
		DNSSEC_BOGUS);
	/* RFC 9276: iterations above the cap are insecure, EDE 27 */
	dnssec_budget_init(&b);
	b.nsec3_iter_max = 10;
	CHECK_INT(dnssec_deny(DNSSEC_DENY_NXDOMAIN, wire("a.c.x.w.example."), DNS_T_A, -1, s.r, s.n, zone, &b, &ede),
		DNSSEC_INSECURE);
	CHECK_INT(ede, DNSSEC_EDE_NSEC3_ITERATIONS);
	/* the hash budget (CVE-2023-50868): spent, bogus */
	dnssec_budget_init(&b);
	b.nsec3_hash_max = 3;
	CHECK_INT(dnssec_deny(DNSSEC_DENY_NXDOMAIN, wire("a.c.x.w.example."), DNS_T_A, -1, s.r, s.n, zone, &b, &ede),
		DNSSEC_BOGUS);
	CHECK(b.exhausted);
	CHECK_INT(b.hashes, 3);
	recs_free(&s);
}

/* ---- NSEC over a hand-made chain ---- */

static void test_nsec(void)
{
	struct recs s;
	struct dnssec_budget b;
	uint16_t ede;
	uint8_t zone[DNS_NAME_MAX];
	memcpy(zone, wire("example."), 9);
	recs_load(&s,
		"example. 3600 IN NSEC a.example. NS SOA RRSIG NSEC DNSKEY\n"
		"a.example. 3600 IN NSEC d.example. A RRSIG NSEC\n"
		"d.example. 3600 IN NSEC *.w.example. NS DS RRSIG NSEC\n"
		"*.w.example. 3600 IN NSEC x.w.example. TXT RRSIG NSEC\n"
		"x.w.example. 3600 IN NSEC z.example. A RRSIG NSEC\n"
		"z.example. 3600 IN NSEC example. NS RRSIG NSEC\n");
	dnssec_budget_init(&b);
#define DENY(what, name, type, wild, n) dnssec_deny(what, wire(name), type, wild, s.r, n, zone, &b, &ede)
	CHECK_INT(DENY(DNSSEC_DENY_NXDOMAIN, "b.example.", DNS_T_A, -1, s.n), DNSSEC_SECURE);
	/* the name's cover alone does not deny the wildcard *.example */
	CHECK_INT(dnssec_deny(DNSSEC_DENY_NXDOMAIN, wire("b.example."), DNS_T_A, -1, s.r + 1, 1, zone, &b, &ede),
		DNSSEC_BOGUS);
	CHECK_INT(DENY(DNSSEC_DENY_NXDOMAIN, "zz.example.", DNS_T_A, -1, s.n), DNSSEC_SECURE); /* the wrapping span */
	CHECK_INT(DENY(DNSSEC_DENY_NXDOMAIN, "a.example.", DNS_T_A, -1, s.n), DNSSEC_BOGUS);
	/* q.w.example would match *.w.example: not an NXDOMAIN */
	CHECK_INT(DENY(DNSSEC_DENY_NXDOMAIN, "q.w.example.", DNS_T_A, -1, s.n), DNSSEC_BOGUS);
	CHECK_INT(DENY(DNSSEC_DENY_NODATA, "a.example.", DNS_T_AAAA, -1, s.n), DNSSEC_SECURE);
	CHECK_INT(DENY(DNSSEC_DENY_NODATA, "a.example.", DNS_T_A, -1, s.n), DNSSEC_BOGUS);
	CHECK_INT(DENY(DNSSEC_DENY_NODATA, "w.example.", DNS_T_A, -1, s.n), DNSSEC_SECURE); /* empty non-terminal */
	CHECK_INT(DENY(DNSSEC_DENY_NODATA, "z.example.", DNS_T_A, -1, s.n), DNSSEC_BOGUS); /* parent side of a cut */
	CHECK_INT(DENY(DNSSEC_DENY_NODATA, "q.w.example.", DNS_T_A, -1, s.n), DNSSEC_SECURE); /* wildcard NODATA */
	CHECK_INT(DENY(DNSSEC_DENY_NODATA, "q.w.example.", DNS_T_TXT, -1, s.n), DNSSEC_BOGUS);
	CHECK_INT(DENY(DNSSEC_DENY_DS, "z.example.", DNS_T_DS, -1, s.n), DNSSEC_SECURE); /* insecure delegation */
	CHECK_INT(DENY(DNSSEC_DENY_DS, "d.example.", DNS_T_DS, -1, s.n), DNSSEC_BOGUS);  /* it has a DS */
	CHECK_INT(DENY(DNSSEC_DENY_DS, "example.", DNS_T_DS, -1, s.n), DNSSEC_BOGUS);    /* the child's apex */
	/* a name that is no delegation proves no unsigned child (a forged referral to it stays bogus) */
	CHECK_INT(DENY(DNSSEC_DENY_DS, "a.example.", DNS_T_DS, -1, s.n), DNSSEC_BOGUS);
	CHECK_INT(DENY(DNSSEC_DENY_DS, "w.example.", DNS_T_DS, -1, s.n), DNSSEC_BOGUS); /* an empty non-terminal */
	/* ... while a DS query's NODATA there is fine */
	CHECK_INT(DENY(DNSSEC_DENY_NODATA, "a.example.", DNS_T_DS, -1, s.n), DNSSEC_SECURE);
	CHECK_INT(DENY(DNSSEC_DENY_NODATA, "z.example.", DNS_T_DS, -1, s.n), DNSSEC_SECURE);
	CHECK_INT(DENY(DNSSEC_DENY_WILDCARD, "q.w.example.", DNS_T_TXT, 2, s.n), DNSSEC_SECURE);
	CHECK_INT(DENY(DNSSEC_DENY_WILDCARD, "x.w.example.", DNS_T_TXT, 2, s.n), DNSSEC_BOGUS);
	CHECK_INT(DENY(DNSSEC_DENY_NXDOMAIN, "other.", DNS_T_A, -1, s.n), DNSSEC_BOGUS); /* not in the zone */
#undef DENY
	recs_free(&s);
}

/* ---- KeyTrap: colliding key tags and many signatures ---- */

static void test_keytrap(void)
{
	struct recs s;
	recs_load(&s, "example.com. 3600 IN DNSKEY 257 3 15 l02Woi0iS8Aa25FQkUd9RMzZHJpBoRQwAQEX1SxZJA4=\n"
		      "example.com. 3600 IN MX 10 mail.example.com.\n"
		      "example.com. 3600 IN RRSIG MX 15 2 3600 20150819220000 20150729220000 3613 example.com. "
		      "oL9krJun7xfBOIWcGHi7mag5/hdZrKWw15jPGrHpjQeRAvTdszaPD+QLs3fx8A4M3e23mRZ9VrbpMngwcrqNAg==\n");
	struct dns_rr key, mx, sig;
	pick(&s, NULL, DNS_T_DNSKEY, &key, 1);
	pick(&s, NULL, DNS_T_MX, &mx, 1);
	pick(&s, NULL, DNS_T_RRSIG, &sig, 1);
	/* fakes with the same key tag: two key octets at even offsets swapped keep the sum */
	enum { FAKES = 12 };
	uint8_t fake_rd[FAKES][36];
	struct dns_rr keys[FAKES + 1];
	for (int i = 0; i < FAKES; i++) {
		memcpy(fake_rd[i], key.rdata, key.rdlen);
		int a = 4 + 2 * i, c = 4 + 2 * i + 2;
		uint8_t t = fake_rd[i][a];
		fake_rd[i][a] = fake_rd[i][c];
		fake_rd[i][c] = t;
		fake_rd[i][a + 1] ^= 0; /* keep */
		keys[i] = key;
		keys[i].rdata = fake_rd[i];
		CHECK_INT(dnssec_key_tag(fake_rd[i], key.rdlen), 3613);
	}
	keys[FAKES] = key;
	struct dnssec_budget b;
	uint16_t ede;
	int wild;
	uint64_t now = 1439000000;
	/* the real key last: the collision cap stops before it */
	dnssec_budget_init(&b);
	CHECK_INT(dnssec_verify_rrset(&mx, 1, &sig, 1, keys, FAKES + 1, wire("example.com."), now, 0, &b, &ede, &wild),
		DNSSEC_BOGUS);
	CHECK(b.exhausted);
	CHECK_INT(b.sigs, DNSSEC_KEYTAG_COLLISIONS_MAX);
	/* the real key within the cap: secure */
	dnssec_budget_init(&b);
	CHECK_INT(dnssec_verify_rrset(&mx, 1, &sig, 1, keys + FAKES - 2, 3, wire("example.com."), now, 0, &b, &ede,
			  &wild), DNSSEC_SECURE);
	/* many signatures, each with one fake key: the per-RRset cap */
	struct dns_rr sigs[FAKES];
	for (int i = 0; i < FAKES; i++)
		sigs[i] = sig;
	dnssec_budget_init(&b);
	CHECK_INT(dnssec_verify_rrset(&mx, 1, sigs, FAKES, keys, 1, wire("example.com."), now, 0, &b, &ede, &wild),
		DNSSEC_BOGUS);
	CHECK(b.exhausted);
	CHECK_INT(b.sigs, DNSSEC_SIG_RRSET_MAX);
	/* and the per-query cap across RRsets */
	dnssec_budget_init(&b);
	int secure = 0;
	for (int i = 0; i < 100; i++)
		secure += dnssec_verify_rrset(&mx, 1, &sig, 1, &key, 1, wire("example.com."), now, 0, &b, &ede, &wild) ==
			DNSSEC_SECURE;
	CHECK_INT(secure, DNSSEC_SIG_QUERY_MAX);
	CHECK(b.exhausted);
	recs_free(&s);
}

/* ---- zones signed here with dnssec-signzone ---- */

static int run(const char *cmd)
{
	int rc = system(cmd);
	if (rc != 0)
		fprintf(stderr, "command failed (%d): %s\n", rc, cmd);
	return rc;
}

static char *slurp(const char *path)
{
	struct tb_bytes b = { 0 };
	if (tb_read_file(path, 1 << 24, &b))
		return NULL;
	tb_bytes_u8(&b, 0);
	return (char *)b.p;
}

static const char zone_src[] =
	"$ORIGIN sig.test.\n"
	"$TTL 300\n"
	"@ SOA NS1.Sig.Test. HostMaster.sig.test. 1 3600 600 86400 300\n"
	"@ NS ns1\n"
	"ns1 A 127.0.0.1\n"
	"@ MX 10 MAIL.SIG.TEST.\n"
	"@ MX 20 Backup.Example.\n"
	"txt TXT \"c\"\n"
	"txt TXT \"a\"\n"
	"txt TXT \"bb\"\n"
	"*.wild A 192.0.2.7\n"
	"www CNAME Host.SIG.test.\n"
	"host A 192.0.2.1\n"
	"host AAAA 2001:db8::1\n"
	"srv._tcp SRV 0 5 443 HOST.sig.test.\n";

struct alg_case {
	const char *name;
	int alg;
	const char *keygen;
};

/* Four threads check one signature while junk keys push entries out of the key cache. */
struct churn_job {
	uint8_t alg, id;
	const struct dns_rr *key;
	struct tb_buf data, sig;
	unsigned failures;
};

static void *churn_worker(void *arg)
{
	struct churn_job *j = arg;
	uint8_t junk[4 + 512];
	size_t jl = j->key->rdlen < sizeof junk ? j->key->rdlen : sizeof junk;
	memcpy(junk, j->key->rdata, jl);
	for (unsigned i = 0; i < 100; i++) {
		if (dnssec_verify_sig(j->alg, j->key->rdata, j->key->rdlen, j->data, j->sig) != 0)
			j->failures++;
		for (unsigned k = 0; k < 3; k++) { /* 1,200 keys in all: the cache holds 256 */
			junk[jl - 1] = (uint8_t)i;
			junk[jl - 2] = (uint8_t)k;
			junk[jl - 3] = j->id;
			junk[jl - 4] ^= 0x5a;
			if (dnssec_verify_sig(j->alg, junk, jl, j->data, j->sig) == 0)
				j->failures++;
		}
	}
	return NULL;
}

static void check_key_cache_threads(uint8_t alg, const struct dns_rr *key, struct tb_buf data, struct tb_buf sig)
{
	pthread_t th[4];
	struct churn_job jobs[4];
	dnssec_key_cache_clear();
	for (int i = 0; i < 4; i++) {
		jobs[i] = (struct churn_job){ alg, (uint8_t)i, key, data, sig, 0 };
		CHECK_INT(pthread_create(&th[i], NULL, churn_worker, &jobs[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		CHECK_INT(jobs[i].failures, 0);
	}
	CHECK(dnssec_key_cache_count() <= 256);
}

/*
 * Kept key objects are never confused: twin is the signing key with two
 * octets swapped where the key tag sums them alike (same tag, other key: for
 * RSA a valid key, for EC most likely a point off the curve). Checked in both
 * orders of first use, from a cleared cache and a warm one.
 */
static void check_key_cache(const char *name, const struct dns_rr *keys, size_t nk, const struct dns_rr *h,
	const struct dns_rr *hs, const uint8_t *zone, uint64_t now)
{
	struct dnssec_rrsig rs;
	CHECK_INT(dnssec_rrsig_parse(hs->rdata, hs->rdlen, &rs), 0);
	const struct dns_rr *zsk = NULL, *other = NULL;
	for (size_t i = 0; i < nk; i++) {
		if (dnssec_key_tag(keys[i].rdata, keys[i].rdlen) == rs.key_tag)
			zsk = &keys[i];
		else
			other = &keys[i];
	}
	CHECK(zsk && other);
	if (!zsk || !other)
		return;
	uint8_t twin_rd[1024];
	memcpy(twin_rd, zsk->rdata, zsk->rdlen);
	size_t at = (zsk->rdlen / 2) & ~(size_t)1;
	while (at + 3 < zsk->rdlen && twin_rd[at] == twin_rd[at + 2])
		at += 2;
	uint8_t t = twin_rd[at];
	twin_rd[at] = twin_rd[at + 2];
	twin_rd[at + 2] = t;
	struct dns_rr twin = *zsk;
	twin.rdata = twin_rd;
	CHECK(memcmp(twin_rd, zsk->rdata, zsk->rdlen) != 0);
	CHECK_INT(dnssec_key_tag(twin_rd, twin.rdlen), rs.key_tag);

	struct tb_bytes data = { 0 };
	CHECK_INT(dnssec_signed_data(hs->rdata, hs->rdlen, h, 1, &data), 0);
	struct tb_buf d = TB_BUF(data.p, data.len), sg = TB_BUF(rs.sig, rs.sig_len);
	struct dnssec_budget b;
	uint16_t ede;
	int wild;
	for (int order = 0; order < 2; order++) {
		dnssec_key_cache_clear();
		CHECK_INT(dnssec_key_cache_count(), 0);
		for (int round = 0; round < 2; round++) { /* cold, then warm */
			if (order == 0)
				CHECK_INT(dnssec_verify_sig(rs.alg, zsk->rdata, zsk->rdlen, d, sg), 0);
			int rc = dnssec_verify_sig(rs.alg, twin_rd, twin.rdlen, d, sg);
			if (rc != TB_ERR_VERIFY && rc != TB_ERR_INVALID)
				fprintf(stderr, "%s: twin key gave %d\n", name, rc);
			CHECK(rc == TB_ERR_VERIFY || rc == TB_ERR_INVALID);
			CHECK_INT(dnssec_verify_sig(rs.alg, other->rdata, other->rdlen, d, sg), TB_ERR_VERIFY);
			if (order == 1)
				CHECK_INT(dnssec_verify_sig(rs.alg, zsk->rdata, zsk->rdlen, d, sg), 0);
			CHECK_INT(dnssec_key_cache_count(), 3);
		}
		/* through the RRset check: the twin alone is bogus, the twin then the key secure */
		struct dns_rr only_twin[1] = { twin }, both[2] = { twin, *zsk };
		dnssec_budget_init(&b);
		CHECK_INT(dnssec_verify_rrset(h, 1, hs, 1, only_twin, 1, zone, now, 0, &b, &ede, &wild), DNSSEC_BOGUS);
		dnssec_budget_init(&b);
		CHECK_INT(dnssec_verify_rrset(h, 1, hs, 1, both, 2, zone, now, 0, &b, &ede, &wild), DNSSEC_SECURE);
		CHECK_INT(b.sigs, 2);
	}
	check_key_cache_threads(rs.alg, zsk, d, sg);
	tb_bytes_free(&data);
}

/* Signs the zone with one algorithm and checks every RRset; returns validations per second. */
static double check_signed(const char *dir, const struct alg_case *c)
{
	char cmd[1024], path[512];
	snprintf(path, sizeof path, "%s/sig.test.zone", dir);
	FILE *f = fopen(path, "w");
	fputs(zone_src, f);
	fclose(f);
	snprintf(cmd, sizeof cmd,
		"cd %s && rm -f K* dsset-* *.signed && dnssec-keygen -q %s -f KSK sig.test >/dev/null && "
		"dnssec-keygen -q %s sig.test >/dev/null && "
		"dnssec-signzone -q -P -O full -s now-3600 -e now+86400 -S -K . -d . -o sig.test. sig.test.zone >/dev/null 2>&1",
		dir, c->keygen, c->keygen);
	if (run(cmd)) {
		CHECK(!"dnssec-signzone failed");
		return 0;
	}
	snprintf(path, sizeof path, "%s/sig.test.zone.signed", dir);
	char *signedz = slurp(path);
	snprintf(path, sizeof path, "%s/dsset-sig.test.", dir);
	char *dsset = slurp(path);
	CHECK(signedz && dsset);
	if (!signedz || !dsset)
		return 0;
	struct recs *s = calloc(1, sizeof *s), *dss = calloc(1, sizeof *dss);
	recs_load(s, signedz);
	recs_load(dss, dsset);
	free(signedz);
	free(dsset);

	uint8_t zone[DNS_NAME_MAX];
	memcpy(zone, wire("sig.test."), 10);
	uint64_t now = (uint64_t)time(NULL);
	struct dnssec_budget b;
	uint16_t ede;
	int wild;
	struct dns_rr keys[8], ksig[8], ds[8];
	size_t nk = pick(s, zone, DNS_T_DNSKEY, keys, 8), nks = pick_sigs(s, zone, DNS_T_DNSKEY, ksig, 8);
	size_t nds = pick(dss, NULL, DNS_T_DS, ds, 8);
	CHECK_INT(nk, 2);
	CHECK(nds >= 1);
	dnssec_budget_init(&b);
	enum dnssec_status st = dnssec_verify_dnskeys(keys, nk, ksig, nks, ds, nds, zone, now, 0, &b, &ede);
	if (st != DNSSEC_SECURE)
		fprintf(stderr, "%s: DNSKEY set %s (EDE %u)\n", c->name, dnssec_status_str(st), ede);
	CHECK_INT(st, DNSSEC_SECURE);
	/* a DNSKEY anchor (the KSK itself) works as well as its DS */
	for (size_t i = 0; i < nk; i++)
		if (keys[i].rdata[1] & 1) {
			dnssec_budget_init(&b);
			CHECK_INT(dnssec_verify_dnskeys(keys, nk, ksig, nks, &keys[i], 1, zone, now, 0, &b, &ede),
				DNSSEC_SECURE);
		}

	/* every RRset of the signed zone */
	size_t checked = 0;
	for (size_t i = 0; i < s->n; i++) {
		const struct dns_rr *r = &s->r[i];
		if (r->type == DNS_T_RRSIG)
			continue;
		int first = 1;
		for (size_t j = 0; j < i; j++)
			if (s->r[j].type == r->type && dns_name_eq(s->r[j].owner, r->owner))
				first = 0;
		if (!first)
			continue;
		struct dns_rr set[8], sigs[8];
		size_t n = pick(s, r->owner, r->type, set, 8), ns = pick_sigs(s, r->owner, r->type, sigs, 8);
		dnssec_budget_init(&b);
		st = dnssec_verify_rrset(set, n, sigs, ns, keys, nk, zone, now, 0, &b, &ede, &wild);
		if (st != DNSSEC_SECURE) {
			char t[16], nb[DNS_NAME_TEXT_MAX];
			fprintf(stderr, "%s: %s %s: %s (EDE %u)\n", c->name, dns_name_str(r->owner, nb, sizeof nb),
				dns_type_str(r->type, t), dnssec_status_str(st), ede);
		}
		CHECK_INT(st, DNSSEC_SECURE);
		CHECK_INT(wild, -1);
		/* the same RRset in another order, with a duplicate and mixed case, signs the same */
		if (n >= 2) {
			struct dns_rr rev[9];
			for (size_t k = 0; k < n; k++)
				rev[k] = set[n - 1 - k];
			rev[n] = set[0];
			dnssec_budget_init(&b);
			CHECK_INT(dnssec_verify_rrset(rev, n + 1, sigs, ns, keys, nk, zone, now, 0, &b, &ede, &wild),
				DNSSEC_SECURE);
		}
		checked++;
	}
	CHECK(checked >= 10);

	/* uppercase in an MX target's RDATA is lowered before hashing (RFC 4034 6.2) */
	struct dns_rr mx[4], mxs[4];
	size_t nmx = pick(s, zone, DNS_T_MX, mx, 4), nmxs = pick_sigs(s, zone, DNS_T_MX, mxs, 4);
	uint8_t upper[2][64];
	for (size_t k = 0; k < nmx && k < 2; k++) {
		memcpy(upper[k], mx[k].rdata, mx[k].rdlen);
		for (size_t q = 2; q < mx[k].rdlen; q++)
			if (upper[k][q] >= 'a' && upper[k][q] <= 'z')
				upper[k][q] -= 32;
		mx[k].rdata = upper[k];
	}
	dnssec_budget_init(&b);
	CHECK_INT(dnssec_verify_rrset(mx, nmx, mxs, nmxs, keys, nk, zone, now, 0, &b, &ede, &wild), DNSSEC_SECURE);

	/* a wildcard answer: foo.wild.sig.test from *.wild.sig.test, label count 3 */
	struct dns_rr wa, was[4];
	CHECK_INT(pick(s, wire("*.wild.sig.test."), DNS_T_A, &wa, 1), 1);
	size_t nwas = pick_sigs(s, wire("*.wild.sig.test."), DNS_T_A, was, 4);
	uint8_t wname[DNS_NAME_MAX];
	memcpy(wname, wire("foo.bar.wild.sig.test."), 23);
	wa.owner = wname;
	for (size_t k = 0; k < nwas; k++)
		was[k].owner = wa.owner;
	dnssec_budget_init(&b);
	CHECK_INT(dnssec_verify_rrset(&wa, 1, was, nwas, keys, nk, zone, now, 0, &b, &ede, &wild), DNSSEC_SECURE);
	CHECK_INT(wild, 3);

	/* tampered data and signatures, expired and not yet valid */
	struct dns_rr h, hs[4];
	CHECK_INT(pick(s, wire("host.sig.test."), DNS_T_A, &h, 1), 1);
	size_t nhs = pick_sigs(s, wire("host.sig.test."), DNS_T_A, hs, 4);
	uint8_t addr[4] = { 192, 0, 2, 2 };
	struct dns_rr h2 = h;
	h2.rdata = addr;
	dnssec_budget_init(&b);
	CHECK_INT(dnssec_verify_rrset(&h2, 1, hs, nhs, keys, nk, zone, now, 0, &b, &ede, &wild), DNSSEC_BOGUS);
	CHECK_INT(ede, DNSSEC_EDE_BOGUS);
	uint8_t sigrd[1024];
	memcpy(sigrd, hs[0].rdata, hs[0].rdlen);
	sigrd[hs[0].rdlen - 5] ^= 0x40;
	struct dns_rr hs2 = hs[0];
	hs2.rdata = sigrd;
	dnssec_budget_init(&b);
	CHECK_INT(dnssec_verify_rrset(&h, 1, &hs2, 1, keys, nk, zone, now, 0, &b, &ede, &wild), DNSSEC_BOGUS);
	CHECK_INT(ede, DNSSEC_EDE_BOGUS);
	dnssec_budget_init(&b);
	CHECK_INT(dnssec_verify_rrset(&h, 1, hs, nhs, keys, nk, zone, now + 2 * 86400, DNSSEC_SKEW_DEFAULT, &b, &ede,
			  &wild), DNSSEC_BOGUS);
	CHECK_INT(ede, DNSSEC_EDE_EXPIRED);
	dnssec_budget_init(&b);
	CHECK_INT(dnssec_verify_rrset(&h, 1, hs, nhs, keys, nk, zone, now - 7200, DNSSEC_SKEW_DEFAULT, &b, &ede, &wild),
		DNSSEC_BOGUS);
	CHECK_INT(ede, DNSSEC_EDE_NOT_YET_VALID);
	/* ... within the skew allowance it passes */
	dnssec_budget_init(&b);
	CHECK_INT(dnssec_verify_rrset(&h, 1, hs, nhs, keys, nk, zone, now - 3600 - 60, DNSSEC_SKEW_DEFAULT, &b, &ede,
			  &wild), DNSSEC_SECURE);
	/* a DS that names no key here */
	uint8_t dsrd[128];
	memcpy(dsrd, ds[0].rdata, ds[0].rdlen);
	dsrd[ds[0].rdlen - 1] ^= 1;
	struct dns_rr ds2 = ds[0];
	ds2.rdata = dsrd;
	dnssec_budget_init(&b);
	CHECK_INT(dnssec_verify_dnskeys(keys, nk, ksig, nks, &ds2, 1, zone, now, 0, &b, &ede), DNSSEC_BOGUS);
	CHECK_INT(ede, DNSSEC_EDE_DNSKEY_MISSING);

	check_key_cache(c->name, keys, nk, &h, &hs[0], zone, now);

	/* speed: one RRset, one key, fresh budget each time; per CPU second, as openssl speed */
	struct timespec t0, t1;
	int iters = 0;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
	do {
		for (int k = 0; k < 50; k++) {
			dnssec_budget_init(&b);
			if (dnssec_verify_rrset(&h, 1, hs, nhs, keys, nk, zone, now, 0, &b, &ede, &wild) != DNSSEC_SECURE)
				CHECK(!"speed loop");
		}
		iters += 50;
		clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);
	} while ((double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9 < 0.3);
	double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	recs_free(s);
	recs_free(dss);
	free(s);
	free(dss);
	return iters / secs;
}

static void test_signed_zones(void)
{
	static const struct alg_case cases[] = {
		{ "RSASHA256", 8, "-a RSASHA256 -b 2048" },
		{ "RSASHA256/1024", 8, "-a RSASHA256 -b 1024" },
		{ "RSASHA512", 10, "-a RSASHA512 -b 2048" },
		{ "ECDSAP256SHA256", 13, "-a ECDSAP256SHA256" },
		{ "ECDSAP384SHA384", 14, "-a ECDSAP384SHA384" },
		{ "ED25519", 15, "-a ED25519" },
	};
	char dir[] = "/tmp/tb-dnssec-XXXXXX";
	if (!mkdtemp(dir)) {
		CHECK(!"mkdtemp");
		return;
	}
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		double vps = check_signed(dir, &cases[i]);
		printf("%-16s %8.0f validations/s\n", cases[i].name, vps);
	}
	char cmd[256];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	run(cmd);
}

int main(void)
{
	test_rfc8080();
	test_rfc6605();
	test_rfc4034_ds();
	test_time();
	test_nsec3();
	test_nsec();
	test_keytrap();
	test_signed_zones();
	dnssec_key_cache_clear();
	return tb_test_result("dns_dnssec");
}
