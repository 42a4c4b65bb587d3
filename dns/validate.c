/*
 * The resolver's chain of trust (RFC 4035 5): what iterate.c collects while it
 * follows referrals, judged with the pure checks of dnssec.c.
 *
 * Every zone cut an iterated query passes is remembered with the referral's
 * DS RRset (or the NSEC/NSEC3 records proving it has none) and their RRSIGs.
 * Once the final answer is in, the chain is walked from the root: the root's
 * DNSKEY set must be signed by a key the trust anchors name; each child's DS
 * RRset must be signed by its parent's validated keys and name a key that
 * signs the child's DNSKEY set; a proven absence of DS makes the child and
 * everything below it insecure; anything else is bogus. The walk asks
 * iterate.c for a zone's DNSKEY set only when it gets there, so an insecure
 * delegation costs no DNSKEY query below it. Then the answer's RRsets are
 * verified with the keys of the zone they belong to, wildcard expansions and
 * negative answers are proven with the zone's NSEC/NSEC3 records.
 *
 * A zone reached without a referral (one server serves the parent and the
 * child, so it answered from the child at once) shows up as an RRSIG signer
 * below every zone of the chain: its DS is then asked of the servers of the
 * deepest zone above it (dns_val_need_ds), and the answer, a DS RRset or the
 * proof there is none, makes it a zone of the chain like a referral would.
 */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "dns/dns_internal.h"
#include "dns/dnssec.h"

static inline uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* IANA's root trust anchors (https://data.iana.org/root-anchors/root-anchors.xml). */
const char dns_val_root_anchors[] =
	". 86400 IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D\n"
	". 86400 IN DS 38696 8 2 683D2D0ACB8C9B712A1948B27F741219298D0A450D612C483AF444A4C0FB2B16\n";

#define VAL_RRS_MAX 256 /* records of one chain looked at */

/* Appends one record in chain form. */
static void put_rr(struct tb_bytes *b, int sec, const struct dns_rr *rr)
{
	int ol = dns_name_len(rr->owner, DNS_NAME_MAX);
	tb_bytes_u8(b, (uint8_t)sec);
	tb_bytes_append(b, rr->owner, (size_t)ol);
	tb_bytes_u16(b, rr->type);
	tb_bytes_u16(b, rr->rclass);
	tb_bytes_u32(b, rr->ttl);
	tb_bytes_vec(b, 2, rr->rdata, rr->rdlen);
}

/* Chain records -> records pointing into it (and their sections); returns how many. */
static size_t chain_rrs(const uint8_t *p, size_t len, struct dns_rr *out, int *secs, size_t max)
{
	size_t n = 0;
	for (size_t o = 0; o < len && n < max;) {
		int ol = dns_name_len(p + o + 1, len - o - 1);
		if (ol < 0 || o + 1 + (size_t)ol + 10 > len)
			break;
		const uint8_t *f = p + o + 1 + ol;
		uint16_t rdlen = rd16(f + 8);
		if (o + 1 + (size_t)ol + 10 + rdlen > len)
			break;
		if (secs)
			secs[n] = p[o];
		out[n].owner = p + o + 1;
		out[n].type = rd16(f);
		out[n].rclass = rd16(f + 2);
		out[n].ttl = (uint32_t)rd16(f + 4) << 16 | rd16(f + 6);
		out[n].rdata = f + 10;
		out[n].rdlen = rdlen;
		n++;
		o += 1 + (size_t)ol + 10 + rdlen;
	}
	return n;
}

static int anchor_rr(void *arg, const struct dns_rr *rr)
{
	struct tb_bytes *b = arg;
	if (rr->type != DNS_T_DS && rr->type != DNS_T_DNSKEY)
		return 1;
	put_rr(b, 0, rr);
	return 0;
}

int dns_val_anchors_parse(const char *text, size_t len, struct tb_bytes *out, char *err, size_t errlen)
{
	struct dns_zone_error ze;
	memset(&ze, 0, sizeof ze);
	int e = dns_zonefile_parse(text, len, (const uint8_t *)"", 3600, anchor_rr, out, &ze);
	if (e) {
		if (ze.msg[0])
			snprintf(err, errlen, "line %u, column %u: %s", ze.line, ze.col, ze.msg);
		else
			snprintf(err, errlen, "line %u: only DS and DNSKEY records belong here", ze.line);
		return TB_ERR_INVALID;
	}
	if (out->err)
		return TB_ERR_NOMEM;
	if (!out->len) {
		snprintf(err, errlen, "no DS or DNSKEY record");
		return TB_ERR_INVALID;
	}
	return 0;
}

void dns_val_init(struct dns_val *v, const struct dns_server *s)
{
	memset(v, 0, sizeof *v);
	dnssec_budget_init(&v->budget);
	v->budget.sig_query_max = s->dnssec_sig_max;
	v->budget.sig_rrset_max = s->dnssec_rrset_sig_max;
	v->budget.collisions_max = s->dnssec_collisions_max;
	v->budget.nsec3_iter_max = s->dnssec_nsec3_iter_max;
	v->budget.nsec3_hash_max = s->dnssec_nsec3_hash_max;
}

void dns_val_free(struct dns_val *v)
{
	for (size_t i = 0; i < v->n; i++) {
		tb_bytes_free(&v->z[i]->from_parent);
		tb_bytes_free(&v->z[i]->keys);
		free(v->z[i]->ns);
		free(v->z[i]);
	}
	v->n = 0;
}

static struct dns_val_zone *find_zone(const struct dns_val *v, const uint8_t *name)
{
	for (size_t i = 0; i < v->n; i++)
		if (dns_name_eq(v->z[i]->name, name))
			return v->z[i];
	return NULL;
}

/* The deepest zone of the chain holding name. */
static struct dns_val_zone *zone_of(const struct dns_val *v, const uint8_t *name)
{
	struct dns_val_zone *best = NULL;
	for (size_t i = 0; i < v->n; i++)
		if (dns_name_is_sub(name, v->z[i]->name) &&
			(!best || dns_name_labels(v->z[i]->name) > dns_name_labels(best->name)))
			best = v->z[i];
	return best;
}

struct dns_val_zone *dns_val_find(const struct dns_val *v, const uint8_t *name)
{
	return find_zone(v, name);
}

struct dns_val_zone *dns_val_zone_of(const struct dns_val *v, const uint8_t *name)
{
	return zone_of(v, name);
}

void dns_val_cut(struct dns_val *v, const uint8_t *parent, const uint8_t *zone, const struct dns_nsset *ns,
	const struct dns_rr *auth, size_t n)
{
	if (find_zone(v, zone))
		return; /* met before (a CNAME restarted from the root): the first referral counts */
	if (v->n >= DNS_VAL_ZONES_MAX) {
		v->overflow = 1;
		return;
	}
	struct dns_val_zone *z = calloc(1, sizeof *z);
	if (z && !(z->ns = malloc(sizeof *z->ns))) {
		free(z);
		z = NULL;
	}
	if (!z) {
		v->overflow = 1;
		return;
	}
	memcpy(z->name, zone, (size_t)dns_name_len(zone, DNS_NAME_MAX));
	*z->ns = *ns;
	z->root = parent == NULL;
	if (parent)
		memcpy(z->parent, parent, (size_t)dns_name_len(parent, DNS_NAME_MAX));
	/* the DS RRset of the cut, or the denial of it, with their signatures */
	for (size_t i = 0; i < n; i++) {
		const struct dns_rr *r = &auth[i];
		if (r->rclass != DNS_C_IN)
			continue;
		uint16_t t = r->type;
		if (t == DNS_T_RRSIG && r->rdlen >= 2)
			t = rd16(r->rdata);
		if ((t == DNS_T_DS && dns_name_eq(r->owner, zone)) || t == DNS_T_NSEC || t == DNS_T_NSEC3)
			put_rr(&z->from_parent, DNS_SEC_AUTHORITY, r);
	}
	v->z[v->n++] = z;
}

/* Records of a chain as an RRSIG signer scan: the first signer not in the chain and below a zone of it. */
static const uint8_t *unknown_signer(const struct dns_val *v, const struct tb_bytes *b)
{
	static struct dns_rr rrs[VAL_RRS_MAX];
	size_t n = chain_rrs(b->p, b->len, rrs, NULL, VAL_RRS_MAX);
	for (size_t i = 0; i < n; i++) {
		struct dnssec_rrsig sig;
		if (rrs[i].type != DNS_T_RRSIG || dnssec_rrsig_parse(rrs[i].rdata, rrs[i].rdlen, &sig) ||
			!dns_name_is_sub(rrs[i].owner, sig.signer) || find_zone(v, sig.signer))
			continue;
		struct dns_val_zone *z = zone_of(v, sig.signer);
		if (z && z->done && z->st == DNSSEC_SECURE)
			return sig.signer;
	}
	return NULL;
}

void dns_val_apex(struct dns_val *v, const uint8_t *name)
{
	for (size_t i = 0; i < v->n_apex; i++)
		if (dns_name_eq(v->apex[i], name))
			return;
	if (v->n_apex < DNS_VAL_APEX_MAX)
		memcpy(v->apex[v->n_apex++], name, (size_t)dns_name_len(name, DNS_NAME_MAX));
}

/* An apex (remembered, or an SOA owner in the chain) below a secure zone of the chain and not one itself. */
static const uint8_t *unknown_apex(const struct dns_val *v, const struct tb_bytes *b)
{
	static struct dns_rr rrs[VAL_RRS_MAX];
	for (size_t i = 0; i < v->n_apex; i++) {
		struct dns_val_zone *z = zone_of(v, v->apex[i]);
		if (!find_zone(v, v->apex[i]) && z && z->done && z->st == DNSSEC_SECURE)
			return v->apex[i];
	}
	size_t n = chain_rrs(b->p, b->len, rrs, NULL, VAL_RRS_MAX);
	for (size_t i = 0; i < n; i++) {
		if (rrs[i].type != DNS_T_SOA || find_zone(v, rrs[i].owner))
			continue;
		struct dns_val_zone *z = zone_of(v, rrs[i].owner);
		if (z && z->done && z->st == DNSSEC_SECURE)
			return rrs[i].owner;
	}
	return NULL;
}

struct dns_val_zone *dns_val_need_ds(struct dns_val *v, const uint8_t *chain, size_t len, uint8_t *name)
{
	struct tb_bytes c = { (uint8_t *)chain, len, len, 0 };
	const uint8_t *sg = NULL;
	for (size_t i = 0; i < v->n && !sg; i++)
		if (v->z[i]->done && v->z[i]->st == DNSSEC_SECURE)
			sg = unknown_signer(v, &v->z[i]->keys);
	if (!sg)
		sg = unknown_signer(v, &c);
	if (!sg)
		sg = unknown_apex(v, &c);
	if (!sg || v->n >= DNS_VAL_ZONES_MAX)
		return NULL;
	memcpy(name, sg, (size_t)dns_name_len(sg, DNS_NAME_MAX));
	return zone_of(v, sg);
}

void dns_val_cut_ds(struct dns_val *v, const uint8_t *zone, const uint8_t *above_name, const uint8_t *chain,
	size_t len)
{
	static struct dns_rr rrs[VAL_RRS_MAX];
	const struct dns_val_zone *above = find_zone(v, above_name);
	if (!above) {
		v->overflow = 1;
		return;
	}
	size_t n = chain_rrs(chain, len, rrs, NULL, VAL_RRS_MAX);
	/* the parent: the signer of the DS or of the denial, else the zone asked */
	const uint8_t *parent = above->name;
	for (size_t i = 0; i < n; i++) {
		struct dnssec_rrsig sig;
		if (rrs[i].type == DNS_T_RRSIG && !dnssec_rrsig_parse(rrs[i].rdata, rrs[i].rdlen, &sig) &&
			find_zone(v, sig.signer) && !dns_name_eq(sig.signer, zone)) {
			parent = sig.signer;
			break;
		}
	}
	uint8_t p[DNS_NAME_MAX];
	memcpy(p, parent, (size_t)dns_name_len(parent, DNS_NAME_MAX));
	size_t before = v->n;
	dns_val_cut(v, p, zone, above->ns, rrs, n);
	if (v->n == before && !find_zone(v, zone))
		v->overflow = 1;
}

void dns_val_keys(struct dns_val *v, const uint8_t *zone, const uint8_t *chain, size_t len)
{
	struct dns_val_zone *z = find_zone(v, zone);
	if (!z)
		return;
	z->keys_fetched = 1;
	tb_bytes_append(&z->keys, chain, len);
}

/* The records of one RRset (owner, type) of list, and the RRSIGs over it, copied out. */
static void rrset_of(const struct dns_rr *rrs, size_t n, const uint8_t *owner, uint16_t type, struct dns_rr *set,
	size_t *nset, struct dns_rr *sigs, size_t *nsig, size_t max)
{
	*nset = *nsig = 0;
	for (size_t i = 0; i < n; i++) {
		if (!dns_name_eq(rrs[i].owner, owner))
			continue;
		if (rrs[i].type == type && *nset < max)
			set[(*nset)++] = rrs[i];
		else if (rrs[i].type == DNS_T_RRSIG && rrs[i].rdlen >= 2 && rd16(rrs[i].rdata) == type && *nsig < max)
			sigs[(*nsig)++] = rrs[i];
	}
}

/* Verifies every RRset of the types wanted (0: all but RRSIG) in rrs with zone z's keys. */
static enum dnssec_status verify_all(struct dns_val *v, const struct dns_server *s, struct dns_val_zone *z,
	const struct dns_rr *rrs, size_t n, uint16_t only, uint64_t now, uint16_t *ede, int *wild_out,
	const uint8_t **wild_owner, uint16_t *wild_type)
{
	static struct dns_rr keys[VAL_RRS_MAX];
	struct dns_rr *set = malloc(2 * VAL_RRS_MAX * sizeof *set);
	if (!set)
		return DNSSEC_BOGUS;
	struct dns_rr *sigs = set + VAL_RRS_MAX;
	size_t nk = chain_rrs(z->keys.p, z->keys.len, keys, NULL, VAL_RRS_MAX);
	enum dnssec_status st = DNSSEC_SECURE;
	for (size_t i = 0; i < n && st == DNSSEC_SECURE; i++) {
		if (rrs[i].type == DNS_T_RRSIG || (only && rrs[i].type != only))
			continue;
		int first = 1;
		for (size_t j = 0; j < i && first; j++)
			if (rrs[j].type == rrs[i].type && dns_name_eq(rrs[j].owner, rrs[i].owner))
				first = 0;
		if (!first)
			continue;
		size_t ns, nsig;
		rrset_of(rrs, n, rrs[i].owner, rrs[i].type, set, &ns, sigs, &nsig, VAL_RRS_MAX);
		int wild;
		st = dnssec_verify_rrset(set, ns, sigs, nsig, keys, nk, z->name, now, s->dnssec_skew, &v->budget, ede,
			&wild);
		if (st == DNSSEC_SECURE && wild >= 0 && wild_out) {
			*wild_out = wild;
			*wild_owner = rrs[i].owner;
			*wild_type = rrs[i].type;
		}
	}
	free(set);
	return st;
}

/* The denial records (NSEC, NSEC3) of rrs into out. */
static size_t denials(const struct dns_rr *rrs, size_t n, struct dns_rr *out)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (rrs[i].type == DNS_T_NSEC || rrs[i].type == DNS_T_NSEC3)
			out[k++] = rrs[i];
	return k;
}

static void judge(struct dns_val *v, const struct dns_server *s, struct dns_val_zone *z, uint64_t now)
{
	static struct dns_rr rrs[VAL_RRS_MAX], keys[VAL_RRS_MAX];
	z->done = 1;
	if (z->root) {
		size_t na = chain_rrs(s->anchors.p, s->anchors.len, rrs, NULL, VAL_RRS_MAX);
		size_t nk = chain_rrs(z->keys.p, z->keys.len, keys, NULL, VAL_RRS_MAX);
		struct dns_rr *k = malloc(2 * VAL_RRS_MAX * sizeof *k);
		if (!k) {
			z->st = DNSSEC_BOGUS;
			return;
		}
		size_t nks, nsig;
		rrset_of(keys, nk, z->name, DNS_T_DNSKEY, k, &nks, k + VAL_RRS_MAX, &nsig, VAL_RRS_MAX);
		z->st = dnssec_verify_dnskeys(k, nks, k + VAL_RRS_MAX, nsig, rrs, na, z->name, now, s->dnssec_skew,
			&v->budget, &z->ede);
		free(k);
		return;
	}
	struct dns_val_zone *p = find_zone(v, z->parent);
	if (!p || !p->done) {
		z->st = DNSSEC_BOGUS;
		z->ede = DNSSEC_EDE_INDETERMINATE;
		return;
	}
	if (p->st != DNSSEC_SECURE) {
		z->st = p->st;
		z->ede = p->ede;
		return;
	}
	size_t n = chain_rrs(z->from_parent.p, z->from_parent.len, rrs, NULL, VAL_RRS_MAX);
	size_t nds = 0;
	for (size_t i = 0; i < n; i++)
		nds += rrs[i].type == DNS_T_DS;
	if (nds) {
		/* the DS RRset, signed by the parent */
		enum dnssec_status st = verify_all(v, s, p, rrs, n, DNS_T_DS, now, &z->ede, NULL, NULL, NULL);
		if (st != DNSSEC_SECURE) {
			z->st = DNSSEC_BOGUS;
			return;
		}
		size_t nk = chain_rrs(z->keys.p, z->keys.len, keys, NULL, VAL_RRS_MAX);
		struct dns_rr *k = malloc(3 * VAL_RRS_MAX * sizeof *k);
		if (!k) {
			z->st = DNSSEC_BOGUS;
			return;
		}
		size_t nks, nsig, nd = 0;
		rrset_of(keys, nk, z->name, DNS_T_DNSKEY, k, &nks, k + VAL_RRS_MAX, &nsig, VAL_RRS_MAX);
		for (size_t i = 0; i < n; i++)
			if (rrs[i].type == DNS_T_DS)
				k[2 * VAL_RRS_MAX + nd++] = rrs[i];
		z->st = dnssec_verify_dnskeys(k, nks, k + VAL_RRS_MAX, nsig, k + 2 * VAL_RRS_MAX, nd, z->name, now,
			s->dnssec_skew, &v->budget, &z->ede);
		free(k);
		return;
	}
	/* no DS: the parent must prove it, with signed NSEC/NSEC3 (an insecure delegation) */
	static struct dns_rr den[VAL_RRS_MAX];
	size_t nden = denials(rrs, n, den);
	if (!nden) {
		z->st = DNSSEC_BOGUS;
		z->ede = DNSSEC_EDE_NSEC_MISSING;
		return;
	}
	if (verify_all(v, s, p, rrs, n, 0, now, &z->ede, NULL, NULL, NULL) != DNSSEC_SECURE) {
		z->st = DNSSEC_BOGUS;
		return;
	}
	enum dnssec_status st = dnssec_deny(DNSSEC_DENY_DS, z->name, DNS_T_DS, -1, den, nden, p->name, &v->budget,
		&z->ede);
	z->st = st == DNSSEC_BOGUS ? DNSSEC_BOGUS : DNSSEC_INSECURE;
}

/* ---- verdicts kept across queries ---- */

/*
 * A zone's verdict (secure with its validated DNSKEY set, or proven insecure)
 * is kept for the TTL of what proved it (at most DNS_VAL_CACHE_TTL_MAX), so a
 * cache miss below a known zone costs no DNSKEY query and no signature check
 * for the zones above. Bogus verdicts are not kept: the next query tries again.
 */
struct dns_val_cached {
	uint8_t name[DNS_NAME_MAX];
	uint64_t expires;          /* seconds since 1970; 0 = empty */
	enum dnssec_status st;
	uint16_t ede;
	struct tb_bytes keys;
};

struct dns_val_cache {
	size_t next;               /* the slot replaced when no slot is free or expired */
	struct dns_val_cached e[DNS_VAL_CACHE_MAX];
};

void dns_val_cache_free(struct dns_server *s)
{
	dnssec_key_cache_clear(); /* the key objects the checks built (process-wide) */
	if (!s->val_cache)
		return;
	for (size_t i = 0; i < DNS_VAL_CACHE_MAX; i++)
		tb_bytes_free(&s->val_cache->e[i].keys);
	free(s->val_cache);
	s->val_cache = NULL;
}

static struct dns_val_cached *cache_find(struct dns_server *s, const uint8_t *name, uint64_t now)
{
	if (!s->val_cache)
		return NULL;
	for (size_t i = 0; i < DNS_VAL_CACHE_MAX; i++) {
		struct dns_val_cached *c = &s->val_cache->e[i];
		if (c->expires > now && dns_name_eq(c->name, name))
			return c;
	}
	return NULL;
}

/* The smallest TTL of the chain records (what the verdict rests on), capped. */
static uint32_t min_ttl(const struct tb_bytes *b, uint32_t ttl)
{
	static struct dns_rr rrs[VAL_RRS_MAX];
	size_t n = chain_rrs(b->p, b->len, rrs, NULL, VAL_RRS_MAX);
	for (size_t i = 0; i < n; i++)
		if (rrs[i].ttl < ttl)
			ttl = rrs[i].ttl;
	return ttl;
}

static void cache_put(struct dns_server *s, const struct dns_val_zone *z, uint64_t now)
{
	if (z->st != DNSSEC_SECURE && z->st != DNSSEC_INSECURE)
		return;
	if (!s->val_cache && !(s->val_cache = calloc(1, sizeof *s->val_cache)))
		return;
	uint32_t ttl = min_ttl(&z->keys, min_ttl(&z->from_parent, DNS_VAL_CACHE_TTL_MAX));
	if (!ttl)
		return;
	struct dns_val_cached *c = cache_find(s, z->name, now);
	for (size_t i = 0; !c && i < DNS_VAL_CACHE_MAX; i++)
		if (s->val_cache->e[i].expires <= now)
			c = &s->val_cache->e[i];
	if (!c) {
		c = &s->val_cache->e[s->val_cache->next];
		s->val_cache->next = (s->val_cache->next + 1) % DNS_VAL_CACHE_MAX;
	}
	memcpy(c->name, z->name, (size_t)dns_name_len(z->name, DNS_NAME_MAX));
	c->expires = now + ttl;
	c->st = z->st;
	c->ede = z->ede;
	c->keys.len = 0;
	tb_bytes_append(&c->keys, z->keys.p, z->keys.len);
}

struct dns_val_zone *dns_val_step(struct dns_val *v, struct dns_server *s, uint64_t now)
{
	for (size_t i = 0; i < v->n; i++) {
		struct dns_val_zone *z = v->z[i];
		if (z->done)
			continue;
		int nta = 0;
		for (size_t k = 0; k < s->n_nta && !nta; k++)
			nta = dns_name_is_sub(z->name, s->nta[k]);
		if (nta) {
			/* a negative trust anchor (RFC 7646): not checked, insecure, and so is everything below */
			z->done = 1;
			z->st = DNSSEC_INSECURE;
			z->ede = 0;
			continue;
		}
		struct dns_val_cached *c = cache_find(s, z->name, now);
		if (c) {
			z->done = 1;
			z->st = c->st;
			z->ede = c->ede;
			z->keys.len = 0;
			tb_bytes_append(&z->keys, c->keys.p, c->keys.len);
			continue;
		}
		/* a zone needs its keys when it is the root, or its parent is secure and a DS names them */
		int need = z->root;
		if (!z->root) {
			struct dns_val_zone *p = find_zone(v, z->parent);
			if (p && p->done && p->st == DNSSEC_SECURE) {
				static struct dns_rr rrs[VAL_RRS_MAX];
				size_t n = chain_rrs(z->from_parent.p, z->from_parent.len, rrs, NULL, VAL_RRS_MAX);
				for (size_t k = 0; k < n; k++)
					need |= rrs[k].type == DNS_T_DS;
			}
		}
		if (need && !z->keys_fetched)
			return z;
		judge(v, s, z, now);
		if (!v->budget.exhausted)
			cache_put(s, z, now);
	}
	return NULL;
}

int dns_val_start(struct dns_val *v, struct dns_server *s, const uint8_t *zone, const struct dns_nsset *ns,
	uint64_t now)
{
	if (find_zone(v, zone))
		return 0;
	for (size_t k = 0; k < s->n_nta; k++) {
		if (!dns_name_is_sub(zone, s->nta[k]) || v->n >= DNS_VAL_ZONES_MAX)
			continue;
		/* under a negative trust anchor (RFC 7646): insecure, as dns_val_step would find it */
		dns_val_cut(v, NULL, zone, ns, NULL, 0);
		struct dns_val_zone *z = find_zone(v, zone);
		if (!z)
			return TB_ERR_NOT_FOUND;
		z->root = 0;
		z->done = 1;
		z->st = DNSSEC_INSECURE;
		z->ede = 0;
		return 0;
	}
	struct dns_val_cached *c = cache_find(s, zone, now);
	if (!c || v->n >= DNS_VAL_ZONES_MAX)
		return TB_ERR_NOT_FOUND;
	dns_val_cut(v, NULL, zone, ns, NULL, 0);
	struct dns_val_zone *z = find_zone(v, zone);
	if (!z)
		return TB_ERR_NOT_FOUND;
	/* judged already: the kept verdict is the zone's, nothing above it is asked again */
	z->root = 0;
	z->done = z->keys_fetched = 1;
	z->st = c->st;
	z->ede = c->ede;
	tb_bytes_append(&z->keys, c->keys.p, c->keys.len);
	return 0;
}

/* Combines part verdicts: bogus beats insecure beats secure. */
static void worst(enum dnssec_status *acc, uint16_t *ede, enum dnssec_status st, uint16_t why)
{
	if (st == DNSSEC_BOGUS && *acc != DNSSEC_BOGUS) {
		*acc = DNSSEC_BOGUS;
		*ede = why;
	} else if (st == DNSSEC_INSECURE && *acc == DNSSEC_SECURE) {
		*acc = DNSSEC_INSECURE;
		*ede = why;
	}
}

/*
 * A CNAME the resolver made from a DNAME of the same answer (RFC 6672 5.3.1):
 * it has no signature of its own; the DNAME, verified as its own RRset, is
 * what vouches for it.
 */
static int dname_implies(const struct dns_rr *rrs, size_t n, const struct dns_rr *cname)
{
	if (cname->type != DNS_T_CNAME)
		return 0;
	for (size_t i = 0; i < n; i++) {
		uint8_t next[DNS_NAME_MAX];
		if (rrs[i].type == DNS_T_DNAME &&
			dns_dname_substitute(cname->owner, rrs[i].owner, rrs[i].rdata, next) == 0 &&
			dns_name_eq(next, cname->rdata))
			return 1;
	}
	return 0;
}

enum dnssec_status dns_val_answer(struct dns_val *v, const struct dns_server *s, const uint8_t *chain,
	size_t len, const uint8_t *qname, uint16_t qtype, int rcode, uint64_t now, uint16_t *ede)
{
	static struct dns_rr rrs[VAL_RRS_MAX], auth[VAL_RRS_MAX], den[VAL_RRS_MAX];
	static int secs[VAL_RRS_MAX];
	enum dnssec_status acc = DNSSEC_SECURE;
	*ede = 0;
	if (v->overflow) {
		*ede = DNSSEC_EDE_INDETERMINATE;
		return DNSSEC_BOGUS;
	}
	size_t n = chain_rrs(chain, len, rrs, secs, VAL_RRS_MAX), nan = 0, nauth = 0;
	for (size_t i = 0; i < n; i++)
		if (secs[i] != DNS_SEC_ANSWER)
			auth[nauth++] = rrs[i];
		else
			rrs[nan++] = rrs[i];
	/* the answer RRsets, each with the keys of its zone; the name the chain ends at */
	uint8_t cur[DNS_NAME_MAX];
	memcpy(cur, qname, (size_t)dns_name_len(qname, DNS_NAME_MAX));
	int found = 0;
	for (size_t i = 0; i < nan; i++) {
		if (rrs[i].type == DNS_T_RRSIG)
			continue;
		int first = 1;
		for (size_t j = 0; j < i && first; j++)
			if (rrs[j].type == rrs[i].type && dns_name_eq(rrs[j].owner, rrs[i].owner))
				first = 0;
		if (rrs[i].type == DNS_T_CNAME && qtype != DNS_T_CNAME && dns_name_eq(rrs[i].owner, cur))
			memcpy(cur, rrs[i].rdata, (size_t)dns_name_len(rrs[i].rdata, rrs[i].rdlen));
		else if (rrs[i].type == qtype || qtype == DNS_T_ANY)
			found = 1;
		if (!first || dname_implies(rrs, nan, &rrs[i]))
			continue;
		struct dns_val_zone *z = zone_of(v, rrs[i].owner);
		if (!z || !z->done) {
			worst(&acc, ede, DNSSEC_BOGUS, DNSSEC_EDE_INDETERMINATE);
			continue;
		}
		if (z->st != DNSSEC_SECURE) {
			worst(&acc, ede, z->st, z->ede);
			continue;
		}
		uint16_t why = 0, wt = 0;
		int wild = -1;
		const uint8_t *wo = NULL;
		struct dns_rr one[VAL_RRS_MAX];
		size_t k = 0;
		for (size_t j = 0; j < nan && k < VAL_RRS_MAX; j++)
			if (dns_name_eq(rrs[j].owner, rrs[i].owner) &&
				(rrs[j].type == rrs[i].type ||
					(rrs[j].type == DNS_T_RRSIG && rrs[j].rdlen >= 2 && rd16(rrs[j].rdata) == rrs[i].type)))
				one[k++] = rrs[j];
		enum dnssec_status st = verify_all(v, s, z, one, k, 0, now, &why, &wild, &wo, &wt);
		if (st == DNSSEC_SECURE && wild >= 0) {
			/* expanded from a wildcard: the zone must prove the name itself does not exist */
			if (verify_all(v, s, z, auth, nauth, 0, now, &why, NULL, NULL, NULL) != DNSSEC_SECURE)
				st = DNSSEC_BOGUS;
			else
				st = dnssec_deny(DNSSEC_DENY_WILDCARD, wo, wt, wild, den, denials(auth, nauth, den), z->name,
					&v->budget, &why);
		}
		worst(&acc, ede, st, why);
	}
	if (found && rcode == DNS_RCODE_NOERROR)
		return acc;
	/* a negative answer for the name the chain ends at: signed NSEC/NSEC3 and SOA prove it */
	struct dns_val_zone *z = zone_of(v, cur);
	if (!z || !z->done) {
		worst(&acc, ede, DNSSEC_BOGUS, DNSSEC_EDE_INDETERMINATE);
		return acc;
	}
	if (z->st != DNSSEC_SECURE) {
		worst(&acc, ede, z->st, z->ede);
		return acc;
	}
	uint16_t why = 0;
	enum dnssec_status st = verify_all(v, s, z, auth, nauth, 0, now, &why, NULL, NULL, NULL);
	if (st == DNSSEC_SECURE) {
		size_t nd = denials(auth, nauth, den);
		if (!nd) {
			st = DNSSEC_BOGUS;
			why = DNSSEC_EDE_NSEC_MISSING;
		} else {
			/* a DS query's NODATA needs no delegation (DNSSEC_DENY_DS is for the chain's cuts) */
			enum dnssec_denial what = rcode == DNS_RCODE_NXDOMAIN ? DNSSEC_DENY_NXDOMAIN : DNSSEC_DENY_NODATA;
			st = dnssec_deny(what, cur, qtype, -1, den, nd, z->name, &v->budget, &why);
		}
	}
	worst(&acc, ede, st, why);
	return acc;
}
