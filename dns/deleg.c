/*
 * DESIGN: the zone cuts the iterator has learned (after Unbound's delegation
 * cache, in spirit), so that a cache miss starts at the closest known cut of
 * its name instead of the root.
 *
 * One entry per cut: its NS set and, per NS name, the addresses of that
 * server, each with its own expiry (the TTL as received, capped by
 * `iterate_deleg_ttl_max`) and its credibility rank (RFC 2181 5.4.1):
 *   DNS_RANK_ADDITIONAL   glue: the additional section of a referral
 *   DNS_RANK_REFERRAL     the NS RRset of a referral (the parent's authority
 *                         section, not authoritative for the child)
 *   DNS_RANK_AUTH_AUTHORITY  the authority section of an answer from the
 *                         zone's own servers (AA)
 *   DNS_RANK_AUTH_ANSWER  the answer section of an authoritative answer (the
 *                         zone's NS set asked of itself, an NS name's address)
 * A datum never replaces a live one of a higher rank; of the same rank or
 * higher it replaces it (an NS set whole, keeping the addresses of the names
 * that stay; the addresses of one NS name whole), and an expired one is
 * replaced by anything. What goes in is checked by iterate.c before: glue
 * only for names under the zone of the server that sent it, NS sets only for
 * cuts below that zone (a referral) or for the zone itself (AA), so nothing
 * out of a server's bailiwick reaches this table.
 *
 * The table holds at most `iterate_deleg_cache_size` cuts and drops the
 * least recently used for a new one; a cut whose every server failed is
 * dropped by iterate.c (dns_deleg_drop) and the query goes on from the cut
 * above. The root is not kept here: its servers are the primed hints. Zone
 * verdicts of DNSSEC validation (secure with the validated DNSKEY set, which
 * says a DS was there; or insecure, which says its absence was proven) stay in
 * the validator's own table (validate.c), which iterate.c asks when it starts
 * at a cut.
 */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "dns/dns_internal.h"

struct deleg_addr {
	uint8_t family;                        /* AF_INET or AF_INET6 */
	uint8_t port[2];                       /* network order */
	uint8_t a[16];
};

struct deleg_ns {
	uint8_t *name;                         /* exact length, lower case */
	uint8_t rank;                          /* of its addresses */
	uint8_t n_addr;
	uint64_t expires;                      /* of its addresses, ms */
	struct deleg_addr addr[DNS_NS_ADDRS_MAX];
};

struct dns_deleg_entry {
	struct dns_deleg_entry *hnext;         /* bucket chain */
	struct dns_deleg_entry *prev, *next;   /* LRU, most recent first */
	uint8_t name[DNS_NAME_MAX];            /* the cut, lower case */
	uint64_t expires;                      /* of the NS set, ms */
	uint8_t rank;                          /* of the NS set */
	size_t n;
	struct deleg_ns *ns;
};

int dns_deleg_init(struct dns_deleg *d, size_t max, uint32_t ttl_max)
{
	memset(d, 0, sizeof *d);
	d->max = max;
	d->ttl_max = ttl_max;
	if (!max)
		return 0;
	d->nb = 64;
	while (d->nb < max && d->nb < (1u << 20))
		d->nb <<= 1;
	d->b = calloc(d->nb, sizeof *d->b);
	return d->b ? 0 : TB_ERR_NOMEM;
}

static void ns_free(struct dns_deleg_entry *e)
{
	for (size_t i = 0; i < e->n; i++)
		free(e->ns[i].name);
	free(e->ns);
	e->ns = NULL;
	e->n = 0;
}

void dns_deleg_free(struct dns_deleg *d)
{
	struct dns_deleg_entry *e = d->head;
	while (e) {
		struct dns_deleg_entry *n = e->next;
		ns_free(e);
		free(e);
		e = n;
	}
	free(d->b);
	d->b = NULL;
	d->head = d->tail = NULL;
	d->n = 0;
}

static size_t bucket(const struct dns_deleg *d, const uint8_t *name)
{
	return dns_name_hash(name) & (d->nb - 1);
}

static void lru_unlink(struct dns_deleg *d, struct dns_deleg_entry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		d->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		d->tail = e->prev;
	e->prev = e->next = NULL;
}

static void lru_front(struct dns_deleg *d, struct dns_deleg_entry *e)
{
	e->next = d->head;
	e->prev = NULL;
	if (d->head)
		d->head->prev = e;
	d->head = e;
	if (!d->tail)
		d->tail = e;
}

static void drop(struct dns_deleg *d, struct dns_deleg_entry *e)
{
	struct dns_deleg_entry **pp = &d->b[bucket(d, e->name)];
	while (*pp && *pp != e)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = e->hnext;
	lru_unlink(d, e);
	ns_free(e);
	free(e);
	d->n--;
}

/* The entry for name, live or not, or NULL. */
static struct dns_deleg_entry *find(const struct dns_deleg *d, const uint8_t *name)
{
	if (!d->b)
		return NULL;
	for (struct dns_deleg_entry *e = d->b[bucket(d, name)]; e; e = e->hnext)
		if (dns_name_eq(e->name, name))
			return e;
	return NULL;
}

static uint64_t expiry(const struct dns_deleg *d, uint32_t ttl, uint64_t now)
{
	return now + (uint64_t)(ttl < d->ttl_max ? ttl : d->ttl_max) * 1000;
}

static struct deleg_ns *ns_of(struct dns_deleg_entry *e, const uint8_t *name)
{
	for (size_t i = 0; i < e->n; i++)
		if (dns_name_eq(e->ns[i].name, name))
			return &e->ns[i];
	return NULL;
}

int dns_deleg_put_ns(struct dns_deleg *d, const uint8_t *cut, const struct dns_nsset *set, uint32_t ttl,
	enum dns_rank rank, uint64_t now)
{
	if (!d->b || !cut[0] || !set->n || !ttl)
		return 0; /* no table, the root (the hints' business), nothing to keep */
	struct dns_deleg_entry *e = find(d, cut);
	if (e && e->expires > now && e->rank > rank)
		return 0; /* a live NS set of a higher rank stays */
	struct deleg_ns *ns = calloc(set->n, sizeof *ns);
	if (!ns)
		return TB_ERR_NOMEM;
	size_t n = 0;
	for (size_t i = 0; i < set->n; i++) {
		int l = dns_name_len(set->ns[i].name, DNS_NAME_MAX);
		if (l <= 0 || !(ns[n].name = malloc((size_t)l)))
			continue;
		memcpy(ns[n].name, set->ns[i].name, (size_t)l);
		dns_name_lower(ns[n].name);
		/* the addresses of a name that stays in the set stay with it */
		struct deleg_ns *old = e ? ns_of(e, ns[n].name) : NULL;
		if (old && old->expires > now) {
			ns[n].rank = old->rank;
			ns[n].n_addr = old->n_addr;
			ns[n].expires = old->expires;
			memcpy(ns[n].addr, old->addr, sizeof ns[n].addr);
		}
		n++;
	}
	if (!n) {
		free(ns);
		return TB_ERR_NOMEM;
	}
	if (!e) {
		if (d->n >= d->max && d->tail) {
			drop(d, d->tail);
			d->evicted++;
		}
		if (!(e = calloc(1, sizeof *e))) {
			for (size_t i = 0; i < n; i++)
				free(ns[i].name);
			free(ns);
			return TB_ERR_NOMEM;
		}
		memcpy(e->name, cut, (size_t)dns_name_len(cut, DNS_NAME_MAX));
		dns_name_lower(e->name);
		size_t b = bucket(d, e->name);
		e->hnext = d->b[b];
		d->b[b] = e;
		d->n++;
	} else {
		ns_free(e);
		lru_unlink(d, e);
	}
	lru_front(d, e);
	e->ns = ns;
	e->n = n;
	e->rank = (uint8_t)rank;
	e->expires = expiry(d, ttl, now);
	return 1;
}

static void addr_key(const struct sockaddr_storage *a, struct deleg_addr *k)
{
	memset(k, 0, sizeof *k);
	k->family = (uint8_t)a->ss_family;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *v4 = (const void *)a;
		memcpy(k->port, &v4->sin_port, 2);
		memcpy(k->a, &v4->sin_addr, 4);
	} else {
		const struct sockaddr_in6 *v6 = (const void *)a;
		memcpy(k->port, &v6->sin6_port, 2);
		memcpy(k->a, &v6->sin6_addr, 16);
	}
}

int dns_deleg_put_addr(struct dns_deleg *d, const uint8_t *cut, const uint8_t *nsname,
	const struct sockaddr_storage *a, uint32_t ttl, enum dns_rank rank, uint64_t now)
{
	if (a->ss_family != AF_INET && a->ss_family != AF_INET6)
		return 0;
	struct dns_deleg_entry *e = find(d, cut);
	if (!e || e->expires <= now || !ttl)
		return 0;
	struct deleg_ns *ns = ns_of(e, nsname);
	if (!ns)
		return 0; /* not a server of this cut: nobody asked for it */
	int live = ns->n_addr && ns->expires > now;
	if (live && ns->rank > rank)
		return 0; /* a live address set of a higher rank stays */
	if (!live || ns->rank < rank) {
		ns->n_addr = 0;
		ns->expires = UINT64_MAX;
	}
	struct deleg_addr k;
	addr_key(a, &k);
	for (size_t i = 0; i < ns->n_addr; i++)
		if (memcmp(&ns->addr[i], &k, sizeof k) == 0)
			return 1;
	if (ns->n_addr >= DNS_NS_ADDRS_MAX)
		return 0;
	ns->addr[ns->n_addr++] = k;
	ns->rank = (uint8_t)rank;
	uint64_t x = expiry(d, ttl, now);
	if (x < ns->expires)
		ns->expires = x; /* the set lives as long as its shortest-lived address */
	return 1;
}

static void addr_out(const struct deleg_addr *k, struct sockaddr_storage *a)
{
	memset(a, 0, sizeof *a);
	a->ss_family = k->family;
	if (k->family == AF_INET) {
		struct sockaddr_in *v4 = (void *)a;
		memcpy(&v4->sin_port, k->port, 2);
		memcpy(&v4->sin_addr, k->a, 4);
	} else {
		struct sockaddr_in6 *v6 = (void *)a;
		memcpy(&v6->sin6_port, k->port, 2);
		memcpy(&v6->sin6_addr, k->a, 16);
	}
}

int dns_deleg_find(struct dns_deleg *d, const uint8_t *name, uint64_t now, uint8_t *cut, struct dns_nsset *set)
{
	for (const uint8_t *p = name; p[0]; p = dns_name_skip(p, 1)) {
		struct dns_deleg_entry *e = find(d, p);
		if (!e)
			continue;
		if (e->expires <= now) {
			drop(d, e);
			continue;
		}
		size_t live = 0;
		memset(set, 0, sizeof *set);
		for (size_t i = 0; i < e->n && set->n < DNS_NSSET_MAX; i++) {
			struct dns_ns *o = &set->ns[set->n++];
			memcpy(o->name, e->ns[i].name, (size_t)dns_name_len(e->ns[i].name, DNS_NAME_MAX));
			if (e->ns[i].expires <= now)
				continue; /* its addresses are to be looked up again */
			for (size_t j = 0; j < e->ns[i].n_addr; j++)
				addr_out(&e->ns[i].addr[j], &o->addr[o->n_addr++]);
			live += o->n_addr;
		}
		if (!live)
			continue; /* no server to ask at once: a cut above is quicker */
		memcpy(cut, e->name, (size_t)dns_name_len(e->name, DNS_NAME_MAX));
		lru_unlink(d, e);
		lru_front(d, e);
		return 0;
	}
	return TB_ERR_NOT_FOUND;
}

int dns_deleg_drop(struct dns_deleg *d, const uint8_t *cut)
{
	struct dns_deleg_entry *e = find(d, cut);
	if (!e)
		return TB_ERR_NOT_FOUND;
	drop(d, e);
	d->failed++;
	return 0;
}

size_t dns_deleg_flush(struct dns_deleg *d, const uint8_t *name)
{
	size_t n = 0;
	for (struct dns_deleg_entry *e = d->head, *next; e; e = next) {
		next = e->next;
		if (!name || dns_name_is_sub(e->name, name)) {
			drop(d, e);
			n++;
		}
	}
	return n;
}

int dns_deleg_put_rr(struct dns_deleg *d, const uint8_t *cut, const struct dns_rr *rr, uint32_t ttl,
	enum dns_rank rank, uint64_t now)
{
	struct dns_nsset one;
	one.n = 1;
	memset(&one.ns[0], 0, sizeof one.ns[0]);
	memcpy(one.ns[0].name, rr->owner, (size_t)dns_name_len(rr->owner, DNS_NAME_MAX));
	if (dns_nsset_add_addr(&one, rr->owner, rr) || !one.ns[0].n_addr)
		return 0;
	return dns_deleg_put_addr(d, cut, rr->owner, &one.ns[0].addr[0], ttl, rank, now);
}

void dns_deleg_referral(struct dns_deleg *d, const uint8_t *from, const uint8_t *cut, const struct dns_rr *auth,
	size_t nauth, const struct dns_rr *add, size_t nadd, struct dns_nsset *set, uint64_t now)
{
	uint32_t ttl = UINT32_MAX;
	memset(set, 0, sizeof *set);
	for (size_t i = 0; i < nauth; i++)
		if (auth[i].type == DNS_T_NS && auth[i].rclass == DNS_C_IN && dns_name_eq(auth[i].owner, cut)) {
			dns_nsset_add_ns(set, auth[i].rdata);
			if (auth[i].ttl < ttl)
				ttl = auth[i].ttl;
		}
	dns_deleg_put_ns(d, cut, set, ttl, DNS_RANK_REFERRAL, now);
	/*
	 * glue only for names under the zone of the server that sent it (RFC 2181
	 * 5.4.1: an address elsewhere is not its to give), and only of the NS set
	 */
	for (size_t i = 0; i < nadd; i++)
		if ((add[i].type == DNS_T_A || add[i].type == DNS_T_AAAA) && add[i].rclass == DNS_C_IN &&
			dns_name_is_sub(add[i].owner, from) && dns_nsset_add_addr(set, add[i].owner, &add[i]) == 0)
			dns_deleg_put_rr(d, cut, &add[i], add[i].ttl, DNS_RANK_ADDITIONAL, now);
}
