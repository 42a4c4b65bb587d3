/*
 * DNSSEC denial of existence (see dnssec.h): NSEC (RFC 4035 5.4) and NSEC3
 * (RFC 5155 8) proofs of NXDOMAIN, NODATA, wildcard expansion and absent DS,
 * over records whose signatures the caller has checked; the RFC 9276
 * iteration cap and the NSEC3 hash budget (CVE-2023-50868).
 */
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "core/error.h"
#include "dns/dnssec.h"

static inline uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint8_t lc(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c;
}

int dnssec_bitmap_has(const uint8_t *bm, size_t len, uint16_t type)
{
	uint8_t win = (uint8_t)(type >> 8), bit = (uint8_t)(type & 0xff);
	size_t off = 0;
	while (off + 2 <= len) {
		uint8_t w = bm[off], l = bm[off + 1];
		if (l == 0 || l > 32 || off + 2 + l > len)
			return 0;
		if (w == win)
			return (size_t)(bit / 8) < l && (bm[off + 2 + bit / 8] & (0x80 >> (bit % 8)));
		off += 2 + (size_t)l;
	}
	return 0;
}

int dnssec_nsec3_hash(const uint8_t *name, const uint8_t *salt, size_t salt_len, uint16_t iterations,
	uint8_t out[20], struct dnssec_budget *b)
{
	uint8_t buf[DNS_NAME_MAX + 255];
	int nl = dns_name_len(name, DNS_NAME_MAX);
	if (nl < 0 || salt_len > 255)
		return TB_ERR_INVALID;
	if (b) {
		if (b->hashes >= b->nsec3_hash_max) {
			b->exhausted = 1;
			return TB_ERR_TOO_LARGE;
		}
		b->hashes++;
	}
	for (int i = 0; i < nl; i++)
		buf[i] = lc(name[i]);
	memcpy(buf + nl, salt, salt_len);
	int rc = tb_hash(TB_HASH_SHA1, TB_BUF(buf, (size_t)nl + salt_len), out);
	for (unsigned i = 0; i < iterations && !rc; i++) {
		memcpy(buf, out, 20);
		memcpy(buf + 20, salt, salt_len);
		rc = tb_hash(TB_HASH_SHA1, TB_BUF(buf, 20 + salt_len), out);
	}
	return rc;
}

/*
 * Does the type bitmap of the NSEC/NSEC3 record matching the name deny what
 * is asked? The type and CNAME must be absent. For a delegation without DS
 * (RFC 4035 5.2, RFC 5155 8.9) the NS bit must be set: a name that is no
 * delegation proves nothing about a child zone, and taking it would let a
 * forged referral turn signed data insecure. The child's apex (SOA) cannot
 * speak for its parent's DS, and a delegation's parent side (NS without SOA)
 * says nothing about the child's other data.
 */
static int bitmap_denies(enum dnssec_denial what, uint16_t qtype, const uint8_t *bm, size_t bl)
{
	int ns = dnssec_bitmap_has(bm, bl, DNS_T_NS), soa = dnssec_bitmap_has(bm, bl, DNS_T_SOA);
	if (dnssec_bitmap_has(bm, bl, qtype) || dnssec_bitmap_has(bm, bl, DNS_T_CNAME))
		return 0;
	if (what == DNSSEC_DENY_DS)
		return ns && !soa;
	if (qtype == DNS_T_DS)
		return !soa;
	return !(ns && !soa);
}

struct nsec3 {
	uint8_t hash[20];          /* the owner's first label, decoded */
	const uint8_t *next;       /* next hashed owner */
	size_t next_len;
	uint8_t flags;
	uint16_t iterations;
	const uint8_t *salt;
	size_t salt_len;
	const uint8_t *bm;
	size_t bm_len;
};

static int b32hex_val(uint8_t c)
{
	c = lc(c);
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'v')
		return c - 'a' + 10;
	return -1;
}

/* Decodes the owner's first label (base32hex, 32 characters for SHA-1) into 20 octets. */
static int nsec3_owner_hash(const uint8_t *owner, const uint8_t *zone, uint8_t out[20])
{
	if (owner[0] != 32 || !dns_name_eq(owner + 1 + owner[0], zone))
		return -1;
	uint64_t acc = 0;
	int bits = 0;
	size_t o = 0;
	for (int i = 1; i <= 32; i++) {
		int v = b32hex_val(owner[i]);
		if (v < 0)
			return -1;
		acc = acc << 5 | (uint64_t)v;
		bits += 5;
		if (bits >= 8) {
			out[o++] = (uint8_t)(acc >> (bits - 8));
			bits -= 8;
		}
	}
	return o == 20 ? 0 : -1;
}

static int nsec3_parse(const struct dns_rr *rr, const uint8_t *zone, struct nsec3 *o)
{
	const uint8_t *p = rr->rdata;
	size_t len = rr->rdlen;
	if (len < 5 || p[0] != 1) /* hash algorithm 1, SHA-1 */
		return -1;
	o->flags = p[1];
	o->iterations = rd16(p + 2);
	o->salt_len = p[4];
	if (5 + o->salt_len + 1 > len)
		return -1;
	o->salt = p + 5;
	size_t off = 5 + o->salt_len;
	o->next_len = p[off];
	if (o->next_len != 20 || off + 1 + o->next_len > len)
		return -1;
	o->next = p + off + 1;
	off += 1 + o->next_len;
	o->bm = p + off;
	o->bm_len = len - off;
	return nsec3_owner_hash(rr->owner, zone, o->hash);
}

/* Is h strictly between owner and next, with the last span wrapping around? */
static int nsec3_covers(const struct nsec3 *n, const uint8_t h[20])
{
	int a = memcmp(n->hash, h, 20), c = memcmp(h, n->next, 20);
	if (memcmp(n->hash, n->next, 20) < 0)
		return a < 0 && c < 0;
	return a < 0 || c < 0; /* the last NSEC3 of the chain (or the only one) */
}

struct nsec3_set {
	size_t n;
	struct nsec3 r[64];
};

static const struct nsec3 *nsec3_match(const struct nsec3_set *s, const uint8_t h[20])
{
	for (size_t i = 0; i < s->n; i++)
		if (!memcmp(s->r[i].hash, h, 20))
			return &s->r[i];
	return NULL;
}

static const struct nsec3 *nsec3_cover(const struct nsec3_set *s, const uint8_t h[20])
{
	for (size_t i = 0; i < s->n; i++)
		if (nsec3_covers(&s->r[i], h))
			return &s->r[i];
	return NULL;
}

/* "*." + name into out; -1 when too long. */
static int wildcard_of(const uint8_t *name, uint8_t out[DNS_NAME_MAX])
{
	int nl = dns_name_len(name, DNS_NAME_MAX);
	if (nl < 0 || nl + 2 > DNS_NAME_MAX)
		return -1;
	out[0] = 1;
	out[1] = '*';
	memcpy(out + 2, name, (size_t)nl);
	return 0;
}

static enum dnssec_status deny_nsec3(enum dnssec_denial what, const uint8_t *qname, uint16_t qtype, int wild,
	const struct dns_rr *rrs, size_t n, const uint8_t *zone, struct dnssec_budget *b, uint16_t *ede)
{
	struct nsec3_set *set = calloc(1, sizeof *set);
	enum dnssec_status st = DNSSEC_BOGUS;
	uint8_t h[20];
	if (!set)
		return DNSSEC_BOGUS;
	*ede = DNSSEC_EDE_NSEC_MISSING;
	for (size_t i = 0; i < n && set->n < 64; i++) {
		if (rrs[i].type != DNS_T_NSEC3 || nsec3_parse(&rrs[i], zone, &set->r[set->n]))
			continue;
		/* one parameter set per zone: the first record's (RFC 5155 8.2) */
		if (set->n && (set->r[set->n].iterations != set->r[0].iterations ||
				      set->r[set->n].salt_len != set->r[0].salt_len ||
				      memcmp(set->r[set->n].salt, set->r[0].salt, set->r[0].salt_len)))
			continue;
		set->n++;
	}
	if (!set->n)
		goto out;
	if (set->r[0].iterations > b->nsec3_iter_max) {
		/* RFC 9276 3.2: too costly to check, so treated as unsigned */
		*ede = DNSSEC_EDE_NSEC3_ITERATIONS;
		st = DNSSEC_INSECURE;
		goto out;
	}
	const uint8_t *salt = set->r[0].salt;
	size_t sl = set->r[0].salt_len;
	uint16_t it = set->r[0].iterations;
	if (!dns_name_is_sub(qname, zone))
		goto out;

	if (what == DNSSEC_DENY_WILDCARD) {
		/* RFC 5155 8.8: the next closer name (one label below the wildcard's parent) is covered */
		int ql = dns_name_labels(qname);
		if (wild < 0 || wild >= ql)
			goto out;
		const uint8_t *nc = dns_name_skip(qname, ql - wild - 1);
		if (dnssec_nsec3_hash(nc, salt, sl, it, h, b))
			goto out;
		if (nsec3_cover(set, h)) {
			st = DNSSEC_SECURE;
			*ede = 0;
		}
		goto out;
	}

	if (dnssec_nsec3_hash(qname, salt, sl, it, h, b))
		goto out;
	const struct nsec3 *m = nsec3_match(set, h);
	if (m) {
		if (what == DNSSEC_DENY_NXDOMAIN)
			goto out; /* the name exists */
		/* RFC 5155 8.5, 8.6 */
		if (!bitmap_denies(what, qtype, m->bm, m->bm_len))
			goto out;
		st = DNSSEC_SECURE;
		*ede = 0;
		goto out;
	}

	/* closest encloser proof (RFC 5155 8.3): the nearest ancestor that matches, the next closer covered */
	int ql = dns_name_labels(qname), zl = dns_name_labels(zone);
	const uint8_t *ce = NULL, *nc = qname;
	for (int skip = 1; skip <= ql - zl; skip++) {
		const uint8_t *cand = dns_name_skip(qname, skip);
		if (dnssec_nsec3_hash(cand, salt, sl, it, h, b))
			goto out;
		const struct nsec3 *cm = nsec3_match(set, h);
		if (cm) {
			/* an ancestor that is a delegation or a DNAME cannot be an encloser (RFC 5155 8.3) */
			if (dnssec_bitmap_has(cm->bm, cm->bm_len, DNS_T_DNAME) ||
				(dnssec_bitmap_has(cm->bm, cm->bm_len, DNS_T_NS) &&
					!dnssec_bitmap_has(cm->bm, cm->bm_len, DNS_T_SOA)))
				goto out;
			ce = cand;
			nc = dns_name_skip(qname, skip - 1);
			break;
		}
	}
	if (!ce)
		goto out;
	if (dnssec_nsec3_hash(nc, salt, sl, it, h, b))
		goto out;
	const struct nsec3 *cov = nsec3_cover(set, h);
	if (!cov)
		goto out;
	int optout = cov->flags & 1;
	if (what == DNSSEC_DENY_DS || (what == DNSSEC_DENY_NODATA && qtype == DNS_T_DS)) {
		/* RFC 5155 8.6: no NSEC3 for the name, an opt-out span over it: an unsigned delegation may be there */
		if (optout) {
			st = DNSSEC_INSECURE;
			*ede = 0;
		}
		goto out;
	}
	uint8_t wc[DNS_NAME_MAX];
	if (wildcard_of(ce, wc) || dnssec_nsec3_hash(wc, salt, sl, it, h, b))
		goto out;
	if (what == DNSSEC_DENY_NXDOMAIN) {
		if (!nsec3_cover(set, h))
			goto out;
	} else {
		/* NODATA from a wildcard (RFC 5155 8.7): the wildcard matches without the type */
		const struct nsec3 *wm = nsec3_match(set, h);
		if (!wm || dnssec_bitmap_has(wm->bm, wm->bm_len, qtype) ||
			dnssec_bitmap_has(wm->bm, wm->bm_len, DNS_T_CNAME))
			goto out;
	}
	/* an opt-out span proves only that no signed name is there (RFC 5155 9.2) */
	st = optout ? DNSSEC_INSECURE : DNSSEC_SECURE;
	*ede = 0;
out:
	free(set);
	return st;
}

/* NSEC: does the record at owner with next name `next` cover name (owner < name < next, wrapping at the apex)? */
static int nsec_covers(const uint8_t *owner, const uint8_t *next, const uint8_t *name, const uint8_t *zone)
{
	if (dns_name_cmp(owner, name) >= 0 || !dns_name_is_sub(name, zone))
		return 0;
	if (dns_name_cmp(owner, next) < 0)
		return dns_name_cmp(name, next) < 0;
	return 1; /* the last NSEC: its next is the apex */
}

/* The longer common ancestor of name with a and with b (RFC 4035 5.4: the closest encloser). */
static const uint8_t *common_ancestor(const uint8_t *name, const uint8_t *a)
{
	int nl = dns_name_labels(name);
	for (int s = 0; s <= nl; s++) {
		const uint8_t *c = dns_name_skip(name, s);
		if (dns_name_is_sub(a, c))
			return c;
	}
	return dns_name_skip(name, nl);
}

static enum dnssec_status deny_nsec(enum dnssec_denial what, const uint8_t *qname, uint16_t qtype, int wild,
	const struct dns_rr *rrs, size_t n, const uint8_t *zone, uint16_t *ede)
{
	*ede = DNSSEC_EDE_NSEC_MISSING;
	const struct dns_rr *match = NULL, *cover = NULL;
	for (size_t i = 0; i < n; i++) {
		if (rrs[i].type != DNS_T_NSEC || !dns_name_is_sub(rrs[i].owner, zone) ||
			dns_name_len(rrs[i].rdata, rrs[i].rdlen) < 0)
			continue;
		if (dns_name_eq(rrs[i].owner, qname))
			match = &rrs[i];
		else if (nsec_covers(rrs[i].owner, rrs[i].rdata, qname, zone))
			cover = &rrs[i];
	}
	if (what == DNSSEC_DENY_NODATA || what == DNSSEC_DENY_DS) {
		if (match) {
			int nl = dns_name_len(match->rdata, match->rdlen);
			const uint8_t *bm = match->rdata + nl;
			size_t bl = match->rdlen - (size_t)nl;
			if (!bitmap_denies(what, qtype, bm, bl))
				return DNSSEC_BOGUS;
			*ede = 0;
			return DNSSEC_SECURE;
		}
		/* an empty non-terminal: covered, and the next name is below it (RFC 4035 3.1.3.2); never a delegation */
		if (what == DNSSEC_DENY_NODATA && cover && dns_name_is_sub(cover->rdata, qname) &&
			!dns_name_eq(cover->rdata, qname)) {
			*ede = 0;
			return DNSSEC_SECURE;
		}
		if (!cover || what == DNSSEC_DENY_DS)
			return DNSSEC_BOGUS;
		/* NODATA from a wildcard: the name is covered, the wildcard exists without the type */
		const uint8_t *ce = common_ancestor(qname, cover->owner);
		const uint8_t *ce2 = common_ancestor(qname, cover->rdata);
		if (dns_name_labels(ce2) > dns_name_labels(ce))
			ce = ce2;
		uint8_t wc[DNS_NAME_MAX];
		if (wildcard_of(ce, wc))
			return DNSSEC_BOGUS;
		for (size_t i = 0; i < n; i++) {
			if (rrs[i].type != DNS_T_NSEC || !dns_name_eq(rrs[i].owner, wc))
				continue;
			int nl = dns_name_len(rrs[i].rdata, rrs[i].rdlen);
			if (nl < 0)
				continue;
			const uint8_t *bm = rrs[i].rdata + nl;
			size_t bl = rrs[i].rdlen - (size_t)nl;
			if (!dnssec_bitmap_has(bm, bl, qtype) && !dnssec_bitmap_has(bm, bl, DNS_T_CNAME)) {
				*ede = 0;
				return DNSSEC_SECURE;
			}
		}
		return DNSSEC_BOGUS;
	}
	if (what == DNSSEC_DENY_WILDCARD) {
		/* RFC 4035 5.3.4: the next closer name does not exist */
		int ql = dns_name_labels(qname);
		if (wild < 0 || wild >= ql)
			return DNSSEC_BOGUS;
		const uint8_t *nc = dns_name_skip(qname, ql - wild - 1);
		for (size_t i = 0; i < n; i++)
			if (rrs[i].type == DNS_T_NSEC && dns_name_is_sub(rrs[i].owner, zone) &&
				dns_name_len(rrs[i].rdata, rrs[i].rdlen) > 0 &&
				nsec_covers(rrs[i].owner, rrs[i].rdata, nc, zone)) {
				*ede = 0;
				return DNSSEC_SECURE;
			}
		return DNSSEC_BOGUS;
	}
	/* NXDOMAIN (RFC 4035 5.4): the name is covered, and so is the wildcard at its closest encloser */
	if (match || !cover)
		return DNSSEC_BOGUS;
	const uint8_t *ce = common_ancestor(qname, cover->owner);
	const uint8_t *ce2 = common_ancestor(qname, cover->rdata);
	if (dns_name_labels(ce2) > dns_name_labels(ce) && dns_name_is_sub(ce2, zone))
		ce = ce2;
	uint8_t wc[DNS_NAME_MAX];
	if (wildcard_of(ce, wc))
		return DNSSEC_BOGUS;
	for (size_t i = 0; i < n; i++)
		if (rrs[i].type == DNS_T_NSEC && dns_name_is_sub(rrs[i].owner, zone) &&
			dns_name_len(rrs[i].rdata, rrs[i].rdlen) > 0 &&
			nsec_covers(rrs[i].owner, rrs[i].rdata, wc, zone)) {
			*ede = 0;
			return DNSSEC_SECURE;
		}
	return DNSSEC_BOGUS;
}

enum dnssec_status dnssec_deny(enum dnssec_denial what, const uint8_t *qname, uint16_t qtype, int wild,
	const struct dns_rr *rrs, size_t n, const uint8_t *zone, struct dnssec_budget *b, uint16_t *ede)
{
	for (size_t i = 0; i < n; i++)
		if (rrs[i].type == DNS_T_NSEC3) {
			enum dnssec_status st = deny_nsec3(what, qname, qtype, wild, rrs, n, zone, b, ede);
			if (b->exhausted) {
				*ede = DNSSEC_EDE_BOGUS;
				return DNSSEC_BOGUS;
			}
			return st;
		}
	return deny_nsec(what, qname, qtype, wild, rrs, n, zone, ede);
}
