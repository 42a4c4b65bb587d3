/*
 * DESIGN: local authoritative data.
 *
 * A zone is a hash table of nodes keyed by the case-insensitive name; each
 * node holds its RRsets as a short list. Adding a name also adds every
 * ancestor up to the apex as an empty node, so that "does this name exist"
 * is one table probe and empty non-terminals answer NODATA, not NXDOMAIN
 * (RFC 4592 2.2.2). Lookup follows RFC 1034 4.3.2: look for a zone cut on the
 * way down (referral with glue), then the exact node, then the wildcard at
 * the closest encloser (RFC 4592), and follow CNAMEs that stay inside the
 * zone. Results point into zone data, valid until the zone changes; the
 * server writes them out before returning to the loop.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "dns/dns.h"

void dns_zoneset_init(struct dns_zoneset *zs)
{
	memset(zs, 0, sizeof *zs);
}

static void free_rrset(struct dns_rrset *rs)
{
	for (size_t i = 0; i < rs->n; i++)
		free(rs->rd[i]);
	free(rs->rd);
	free(rs);
}

static void free_zone(struct dns_zone *z)
{
	for (size_t b = 0; b < z->nbuckets; b++) {
		struct dns_node *n = z->buckets[b];
		while (n) {
			struct dns_node *next = n->hnext;
			struct dns_rrset *rs = n->rrsets;
			while (rs) {
				struct dns_rrset *rn = rs->next;
				free_rrset(rs);
				rs = rn;
			}
			free(n->name);
			free(n);
			n = next;
		}
	}
	free(z->buckets);
	free(z);
}

void dns_zoneset_free(struct dns_zoneset *zs)
{
	struct dns_zone *z = zs->zones;
	while (z) {
		struct dns_zone *next = z->next;
		free_zone(z);
		z = next;
	}
	memset(zs, 0, sizeof *zs);
}

struct dns_node *dns_zone_find(const struct dns_zone *z, const uint8_t *name)
{
	uint32_t h = dns_name_hash(name);
	for (struct dns_node *n = z->buckets[h & (z->nbuckets - 1)]; n; n = n->hnext)
		if (n->hash == h && dns_name_eq(n->name, name))
			return n;
	return NULL;
}

struct dns_rrset *dns_node_rrset(const struct dns_node *n, uint16_t type)
{
	for (struct dns_rrset *rs = n->rrsets; rs; rs = rs->next)
		if (rs->type == type)
			return rs;
	return NULL;
}

static int grow(struct dns_zone *z)
{
	size_t nb = z->nbuckets * 2;
	struct dns_node **b = calloc(nb, sizeof *b);
	if (!b)
		return TB_ERR_NOMEM;
	for (size_t i = 0; i < z->nbuckets; i++) {
		struct dns_node *n = z->buckets[i];
		while (n) {
			struct dns_node *next = n->hnext;
			n->hnext = b[n->hash & (nb - 1)];
			b[n->hash & (nb - 1)] = n;
			n = next;
		}
	}
	free(z->buckets);
	z->buckets = b;
	z->nbuckets = nb;
	return 0;
}

/* Finds or creates the node for name and, recursively, its ancestors up to the apex. */
static int get_node(struct dns_zone *z, const uint8_t *name, struct dns_node **out)
{
	struct dns_node *n = dns_zone_find(z, name);
	if (n) {
		*out = n;
		return 0;
	}
	if (z->nnodes >= DNS_ZONE_NODES_MAX)
		return TB_ERR_TOO_LARGE;
	struct dns_node *parent = NULL;
	if (dns_name_labels(name) > z->origin_labels) {
		int err = get_node(z, dns_name_skip(name, 1), &parent);
		if (err)
			return err;
	}
	if (z->nnodes >= z->nbuckets && grow(z))
		return TB_ERR_NOMEM;
	int len = dns_name_len(name, DNS_NAME_MAX);
	n = calloc(1, sizeof *n);
	if (!n || len < 0 || !(n->name = malloc((size_t)len))) {
		free(n);
		return TB_ERR_NOMEM;
	}
	memcpy(n->name, name, (size_t)len);
	n->hash = dns_name_hash(name);
	size_t b = n->hash & (z->nbuckets - 1);
	n->hnext = z->buckets[b];
	z->buckets[b] = n;
	z->nnodes++;
	if (parent)
		parent->children++;
	*out = n;
	return 0;
}

/*
 * Removes n if it holds no data and has no children, then its parent likewise,
 * up to (not including) the apex: a name whose last record is deleted no
 * longer exists, so it neither answers NODATA nor hides a wildcard.
 */
static void prune(struct dns_zone *z, struct dns_node *n)
{
	while (n && n != z->apex && !n->rrsets && n->children == 0) {
		struct dns_node **pp = &z->buckets[n->hash & (z->nbuckets - 1)];
		while (*pp && *pp != n)
			pp = &(*pp)->hnext;
		if (!*pp)
			return;
		*pp = n->hnext;
		z->nnodes--;
		struct dns_node *parent = NULL;
		if (dns_name_labels(n->name) > z->origin_labels)
			parent = dns_zone_find(z, dns_name_skip(n->name, 1));
		free(n->name);
		free(n);
		if (parent && parent->children)
			parent->children--;
		n = parent;
	}
}

int dns_zone_new(struct dns_zoneset *zs, const uint8_t *origin, struct dns_zone **out)
{
	for (struct dns_zone *z = zs->zones; z; z = z->next)
		if (dns_name_eq(z->origin, origin))
			return TB_ERR_EXISTS;
	int len = dns_name_len(origin, DNS_NAME_MAX);
	if (len < 0)
		return TB_ERR_INVALID;
	struct dns_zone *z = calloc(1, sizeof *z);
	if (!z)
		return TB_ERR_NOMEM;
	memcpy(z->origin, origin, (size_t)len);
	z->origin_labels = dns_name_labels(origin);
	z->nbuckets = 64;
	z->buckets = calloc(z->nbuckets, sizeof *z->buckets);
	if (!z->buckets || get_node(z, origin, &z->apex)) {
		free_zone(z);
		return TB_ERR_NOMEM;
	}
	z->next = zs->zones;
	zs->zones = z;
	zs->n++;
	*out = z;
	return 0;
}

static int rd_equal(const uint8_t *rd, const uint8_t *rdata, size_t rdlen)
{
	return dns_rd_len(rd) == rdlen && memcmp(rd + 2, rdata, rdlen) == 0;
}

static int is_dnssec_type(uint16_t t)
{
	return t == DNS_T_RRSIG || t == DNS_T_NSEC || t == DNS_T_NSEC3;
}

int dns_zone_add_rr(struct dns_zone *z, const struct dns_rr *rr)
{
	if (!dns_name_is_sub(rr->owner, z->origin))
		return TB_ERR_INVALID;
	if (rr->type == DNS_T_OPT || rr->type == DNS_T_TSIG || rr->type == DNS_T_TKEY ||
		rr->type == DNS_T_ANY || rr->type == DNS_T_AXFR || rr->type == DNS_T_IXFR)
		return TB_ERR_INVALID;
	if (dns_rdata_check(rr->type, rr->rdata, rr->rdlen))
		return TB_ERR_INVALID;
	int at_apex = dns_name_eq(rr->owner, z->origin);
	if (rr->type == DNS_T_SOA && !at_apex)
		return TB_ERR_INVALID;
	struct dns_node *n;
	int err = get_node(z, rr->owner, &n);
	if (err)
		return err;
	/* RFC 2181 10.1: CNAME and other data do not mix (DNSSEC types aside). */
	for (struct dns_rrset *rs = n->rrsets; rs; rs = rs->next) {
		if (rs->type == rr->type || is_dnssec_type(rs->type) || is_dnssec_type(rr->type))
			continue;
		if (rs->type == DNS_T_CNAME || rr->type == DNS_T_CNAME)
			return TB_ERR_EXISTS;
	}
	struct dns_rrset *rs = dns_node_rrset(n, rr->type);
	if (!rs) {
		rs = calloc(1, sizeof *rs);
		if (!rs)
			return TB_ERR_NOMEM;
		rs->type = rr->type;
		/* keep SOA first, then insertion order */
		if (rr->type == DNS_T_SOA || !n->rrsets) {
			rs->next = n->rrsets;
			n->rrsets = rs;
		} else {
			struct dns_rrset *t = n->rrsets;
			while (t->next)
				t = t->next;
			t->next = rs;
		}
	}
	rs->ttl = rr->ttl;
	for (size_t i = 0; i < rs->n; i++)
		if (rd_equal(rs->rd[i], rr->rdata, rr->rdlen))
			return 0;
	/* singletons: a new SOA or CNAME replaces the old one */
	if ((rr->type == DNS_T_SOA || rr->type == DNS_T_CNAME || rr->type == DNS_T_DNAME) && rs->n) {
		free(rs->rd[0]);
		rs->n = 0;
		z->nrecords--;
	}
	if (rs->n >= DNS_RRSET_MAX)
		return TB_ERR_TOO_LARGE;
	if (rs->n == rs->cap) {
		size_t nc = rs->cap ? rs->cap * 2 : 2;
		uint8_t **nr = realloc(rs->rd, nc * sizeof *nr);
		if (!nr)
			return TB_ERR_NOMEM;
		rs->rd = nr;
		rs->cap = nc;
	}
	uint8_t *item = malloc(2 + (size_t)rr->rdlen);
	if (!item)
		return TB_ERR_NOMEM;
	item[0] = (uint8_t)(rr->rdlen >> 8);
	item[1] = (uint8_t)rr->rdlen;
	if (rr->rdlen)
		memcpy(item + 2, rr->rdata, rr->rdlen);
	rs->rd[rs->n++] = item;
	z->nrecords++;
	return 0;
}

static void unlink_rrset(struct dns_node *n, struct dns_rrset *rs)
{
	for (struct dns_rrset **pp = &n->rrsets; *pp; pp = &(*pp)->next) {
		if (*pp == rs) {
			*pp = rs->next;
			return;
		}
	}
}

int dns_zone_del_rr(struct dns_zone *z, const uint8_t *owner, uint16_t type, const uint8_t *rdata,
	size_t rdlen)
{
	struct dns_node *n = dns_zone_find(z, owner);
	if (!n)
		return TB_ERR_NOT_FOUND;
	if (type == DNS_T_ANY) {
		struct dns_rrset *rs = n->rrsets;
		while (rs) {
			struct dns_rrset *next = rs->next;
			z->nrecords -= rs->n;
			free_rrset(rs);
			rs = next;
		}
		n->rrsets = NULL;
		prune(z, n);
		return 0;
	}
	struct dns_rrset *rs = dns_node_rrset(n, type);
	if (!rs)
		return TB_ERR_NOT_FOUND;
	if (!rdata) {
		unlink_rrset(n, rs);
		z->nrecords -= rs->n;
		free_rrset(rs);
		prune(z, n);
		return 0;
	}
	for (size_t i = 0; i < rs->n; i++) {
		if (rd_equal(rs->rd[i], rdata, rdlen)) {
			free(rs->rd[i]);
			memmove(rs->rd + i, rs->rd + i + 1, (rs->n - i - 1) * sizeof *rs->rd);
			rs->n--;
			z->nrecords--;
			if (rs->n == 0) {
				unlink_rrset(n, rs);
				free_rrset(rs);
				prune(z, n);
			}
			return 0;
		}
	}
	return TB_ERR_NOT_FOUND;
}

int dns_zone_finish(struct dns_zone *z, char *err, size_t errlen)
{
	uint8_t rd[2 * DNS_NAME_MAX + 20];
	size_t ol = (size_t)dns_name_len(z->origin, DNS_NAME_MAX);
	if (ol + 3 + 11 > DNS_NAME_MAX) {
		snprintf(err, errlen, "zone name too long for the generated SOA");
		return TB_ERR_INVALID;
	}
	uint8_t ns[DNS_NAME_MAX];
	ns[0] = 2;
	ns[1] = 'n';
	ns[2] = 's';
	memcpy(ns + 3, z->origin, ol);
	int e = 0;
	if (!dns_node_rrset(z->apex, DNS_T_SOA)) {
		/* ns.<zone> hostmaster.<zone> 1 3600 600 86400 60 */
		size_t o = 0;
		memcpy(rd, ns, ol + 3);
		o += ol + 3;
		rd[o++] = 10;
		memcpy(rd + o, "hostmaster", 10);
		o += 10;
		memcpy(rd + o, z->origin, ol);
		o += ol;
		static const uint32_t v[5] = { 1, 3600, 600, 86400, 60 };
		for (int i = 0; i < 5; i++) {
			rd[o++] = (uint8_t)(v[i] >> 24);
			rd[o++] = (uint8_t)(v[i] >> 16);
			rd[o++] = (uint8_t)(v[i] >> 8);
			rd[o++] = (uint8_t)v[i];
		}
		struct dns_rr rr = { z->origin, DNS_T_SOA, DNS_C_IN, 60, rd, (uint16_t)o };
		e = dns_zone_add_rr(z, &rr);
	}
	if (!e && !dns_node_rrset(z->apex, DNS_T_NS)) {
		struct dns_rr rr = { z->origin, DNS_T_NS, DNS_C_IN, 60, ns, (uint16_t)(ol + 3) };
		e = dns_zone_add_rr(z, &rr);
	}
	if (e) {
		snprintf(err, errlen, "cannot complete the zone apex: %s", tb_strerror(e));
		return e;
	}
	return 0;
}

const struct dns_zone *dns_zoneset_find(const struct dns_zoneset *zs, const uint8_t *name)
{
	const struct dns_zone *best = NULL;
	int nl = dns_name_labels(name);
	for (const struct dns_zone *z = zs->zones; z; z = z->next) {
		if (z->origin_labels > nl || (best && z->origin_labels <= best->origin_labels))
			continue;
		if (dns_name_eq(dns_name_skip(name, nl - z->origin_labels), z->origin))
			best = z;
	}
	return best;
}

/* ---- lookup ---- */

static void add(struct dns_ans *arr, size_t *n, const uint8_t *owner, const struct dns_rrset *rs)
{
	if (*n < DNS_LOOKUP_RRSETS_MAX) {
		arr[*n].owner = owner;
		arr[*n].rs = rs;
		(*n)++;
	}
}

static void add_soa(const struct dns_zone *z, struct dns_lookup *out)
{
	const struct dns_rrset *soa = dns_node_rrset(z->apex, DNS_T_SOA);
	if (!soa || !soa->n)
		return;
	add(out->ns, &out->n_ns, z->apex->name, soa);
	/* RFC 2308 3: the negative TTL is min(SOA TTL, SOA MINIMUM) */
	const uint8_t *rd = soa->rd[0];
	size_t len = dns_rd_len(rd);
	uint32_t min = 0;
	if (len >= 4) {
		const uint8_t *m = rd + 2 + len - 4;
		min = (uint32_t)m[0] << 24 | (uint32_t)m[1] << 16 | (uint32_t)m[2] << 8 | m[3];
	}
	out->neg_ttl = soa->ttl < min ? soa->ttl : min;
}

/* A/AAAA for names inside the zone, as glue or additional data. */
static void add_addresses(const struct dns_zone *z, const uint8_t *target, struct dns_lookup *out)
{
	if (!dns_name_is_sub(target, z->origin))
		return;
	const struct dns_node *n = dns_zone_find(z, target);
	if (!n)
		return;
	const struct dns_rrset *a = dns_node_rrset(n, DNS_T_A), *aaaa = dns_node_rrset(n, DNS_T_AAAA);
	if (a)
		add(out->ar, &out->n_ar, n->name, a);
	if (aaaa)
		add(out->ar, &out->n_ar, n->name, aaaa);
}

static void additional_for(const struct dns_zone *z, const struct dns_rrset *rs, struct dns_lookup *out)
{
	size_t skip;
	if (rs->type == DNS_T_MX)
		skip = 2;
	else if (rs->type == DNS_T_SRV)
		skip = 6;
	else if (rs->type == DNS_T_NS)
		skip = 0;
	else
		return;
	for (size_t i = 0; i < rs->n && out->n_ar + 2 <= DNS_LOOKUP_RRSETS_MAX; i++)
		add_addresses(z, rs->rd[i] + 2 + skip, out);
}

enum step { STEP_DONE, STEP_CNAME };

static enum step answer_at(const struct dns_zone *z, const struct dns_node *n, const uint8_t *owner,
	uint16_t qtype, struct dns_lookup *out, const uint8_t **target)
{
	const struct dns_rrset *cn = qtype != DNS_T_CNAME ? dns_node_rrset(n, DNS_T_CNAME) : NULL;
	if (cn && cn->n) {
		add(out->an, &out->n_an, owner, cn);
		*target = cn->rd[0] + 2;
		return STEP_CNAME;
	}
	size_t before = out->n_an;
	if (qtype == DNS_T_ANY) {
		for (const struct dns_rrset *rs = n->rrsets; rs; rs = rs->next)
			if (rs->n)
				add(out->an, &out->n_an, owner, rs);
	} else {
		const struct dns_rrset *rs = dns_node_rrset(n, qtype);
		if (rs && rs->n) {
			add(out->an, &out->n_an, owner, rs);
			additional_for(z, rs, out);
		}
	}
	if (out->n_an == before)
		add_soa(z, out); /* NODATA */
	return STEP_DONE;
}

/*
 * RFC 6672: name is below a DNAME at node n (k labels): answer the DNAME and a
 * CNAME from name to name-with-the-owner-replaced, then follow that.
 */
static enum step dname_at(const struct dns_node *n, const struct dns_rrset *dn, const uint8_t *name,
	int nl, int k, struct dns_lookup *out, const uint8_t **target)
{
	add(out->an, &out->n_an, n->name, dn);
	const uint8_t *suffix = dns_name_skip(name, nl - k);
	size_t plen = (size_t)(suffix - name);
	const uint8_t *dt = dn->rd[0] + 2;
	int tl = dns_name_len(dt, DNS_NAME_MAX);
	if (tl < 0 || plen + (size_t)tl > DNS_NAME_MAX) {
		out->rcode = DNS_RCODE_YXDOMAIN; /* the substituted name would be too long */
		return STEP_DONE;
	}
	if (out->n_synth > DNS_CNAME_CHAIN_MAX)
		return STEP_DONE;
	size_t i = out->n_synth++;
	uint8_t *buf = out->synth_buf[i];
	size_t len = plen + (size_t)tl;
	buf[0] = (uint8_t)(len >> 8);
	buf[1] = (uint8_t)len;
	memcpy(buf + 2, name, plen);
	memcpy(buf + 2 + plen, dt, (size_t)tl);
	struct dns_rrset *rs = &out->synth[i];
	memset(rs, 0, sizeof *rs);
	rs->type = DNS_T_CNAME;
	rs->ttl = dn->ttl;
	rs->n = 1;
	out->synth_rd[i] = buf;
	rs->rd = &out->synth_rd[i];
	add(out->an, &out->n_an, name, rs);
	*target = buf + 2;
	return STEP_CNAME;
}

static enum step step(const struct dns_zone *z, const uint8_t *name, uint16_t qtype,
	struct dns_lookup *out, const uint8_t **target)
{
	int nl = dns_name_labels(name);
	const uint8_t *ce = z->origin; /* closest encloser */
	const struct dns_rrset *dn = dns_node_rrset(z->apex, DNS_T_DNAME);
	if (dn && dn->n && nl > z->origin_labels)
		return dname_at(z->apex, dn, name, nl, z->origin_labels, out, target);
	/* Walk down from below the apex looking for a zone cut or a DNAME. */
	const struct dns_node *self = NULL; /* the name's own node, when the walk looked it up */
	int looked = 0;
	for (int k = z->origin_labels + 1; k <= nl; k++) {
		const uint8_t *anc = dns_name_skip(name, nl - k);
		const struct dns_node *n = dns_zone_find(z, anc);
		looked = k == nl;
		if (!n)
			break;
		ce = anc;
		if (looked)
			self = n;
		dn = k < nl ? dns_node_rrset(n, DNS_T_DNAME) : NULL;
		if (dn && dn->n && !dns_node_rrset(n, DNS_T_NS))
			return dname_at(n, dn, name, nl, k, out, target);
		const struct dns_rrset *ns = dns_node_rrset(n, DNS_T_NS);
		if (ns && ns->n && !(k == nl && qtype == DNS_T_DS)) {
			out->referral = 1;
			if (out->n_an == 0)
				out->aa = 0;
			add(out->ns, &out->n_ns, n->name, ns);
			const struct dns_rrset *ds = dns_node_rrset(n, DNS_T_DS);
			if (ds && ds->n)
				add(out->ns, &out->n_ns, n->name, ds);
			for (size_t i = 0; i < ns->n; i++)
				add_addresses(z, ns->rd[i] + 2, out); /* glue */
			return STEP_DONE;
		}
	}
	const struct dns_node *n = looked ? self : dns_zone_find(z, name);
	if (n)
		return answer_at(z, n, name, qtype, out, target);
	/* RFC 4592: the source of synthesis is *.<closest encloser> */
	uint8_t wc[DNS_NAME_MAX];
	int cl = dns_name_len(ce, DNS_NAME_MAX);
	if (cl > 0 && cl + 2 <= DNS_NAME_MAX) {
		wc[0] = 1;
		wc[1] = '*';
		memcpy(wc + 2, ce, (size_t)cl);
		const struct dns_node *w = dns_zone_find(z, wc);
		if (w) {
			out->wildcard = 1;
			return answer_at(z, w, name, qtype, out, target);
		}
	}
	out->rcode = DNS_RCODE_NXDOMAIN;
	add_soa(z, out);
	return STEP_DONE;
}

void dns_zone_lookup(const struct dns_zone *z, const uint8_t *qname, uint16_t qtype,
	struct dns_lookup *out)
{
	out->rcode = DNS_RCODE_NOERROR;
	out->aa = 1;
	out->referral = 0;
	out->wildcard = 0;
	out->zone = z;
	out->n_an = out->n_ns = out->n_ar = 0;
	out->neg_ttl = 0;
	out->n_synth = 0;
	const uint8_t *name = qname;
	for (int chain = 0; chain <= DNS_CNAME_CHAIN_MAX; chain++) {
		const uint8_t *target = NULL;
		if (step(z, name, qtype, out, &target) == STEP_DONE)
			return;
		/* follow the CNAME only inside this zone */
		if (!dns_name_is_sub(target, z->origin))
			return;
		/* a loop revisits a name already answered */
		for (size_t i = 0; i + 1 < out->n_an; i++)
			if (dns_name_eq(out->an[i].owner, target))
				return;
		name = target;
	}
}
