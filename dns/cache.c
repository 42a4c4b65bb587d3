/*
 * DESIGN: the resolver's answer cache (forwarded and iterated answers alike).
 *
 * Entries keyed by (lowercased name, type, class) hold the answer and
 * authority records of one response, for the smallest TTL among them
 * (positive) or min(SOA TTL, SOA MINIMUM) of the authority SOA (negative,
 * RFC 2308; without an SOA nothing is cached). TTLs count down when served.
 *
 * Memory: one malloc per entry (the header, the records, then the owner
 * name), counted at its real size (malloc_usable_size plus the allocator's
 * chunk header: what the allocator holds for it, rounding included) against
 * `dns.cache_bytes`; `dns.cache_size`
 * caps the number of entries as well. Over either cap the least recently used
 * entry goes. The hash table is sized once at start from the smaller cap and
 * is not counted (its size is fixed: 8 bytes a bucket).
 *
 * Serve-stale (RFC 8767): an entry past its TTL stays for
 * `dns.serve_stale_seconds` more; lookups do not see it, but when every
 * upstream fails (dns_cache_get_stale) it answers with TTL 30 and EDE 3. An
 * entry past that window is removed when met.
 *
 * Aggressive use of DNSSEC-validated NSEC/NSEC3 (RFC 8198): secure negative
 * entries (NXDOMAIN, and NODATA: NOERROR without answer records) are also
 * listed on their own (newest first); on a miss, the newest
 * DNS_CACHE_NSEC_SCAN of them whose zone holds the name are asked whether
 * their NSEC/NSEC3 records (validated with the entry) already prove the
 * answer of the same kind (denial.c's dnssec_deny): an NXDOMAIN entry that
 * the name does not exist (the covering record and the wildcard's), a NODATA
 * entry that the name has no such type (the matching record's type bitmap,
 * which at a delegation's parent side speaks for DS only); if one does, it is
 * the answer: its SOA and proofs, for the time it has left. Answers expanded
 * from wildcards are not synthesized.
 *
 * Prefetch (as Unbound's `prefetch: yes`): a hit in the last tenth of an
 * entry's TTL starts one background lookup of the same question (once per
 * entry); its answer replaces the entry, so a popular name never expires
 * while clients keep being answered from the cache.
 *
 * The end of the file answers from an entry (dns_fwd_answer: the client's ID,
 * spelling, flags, cookie and EDE around the entry's records, TTLs counted
 * down, DNSSEC records only for DO) and holds the cache step both forward.c
 * and iterate.c take first (dns_cache_lookup: hits, RFC 8198 synthesis,
 * prefetch).
 */
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "dns/dns.h"
#include "dns/dns_internal.h"
#include "dns/dnssec.h"

#define DNS_CACHE_TTL_MAX 86400     /* positive entries live at most a day */
#define DNS_CACHE_NEG_TTL_MAX 3600  /* negative entries at most an hour (RFC 2308 5) */
#define DNS_CACHE_ENTRY_MAX 16384   /* bytes of records kept per entry */
#define DNS_CACHE_BUCKETS_MAX (1u << 20)
#define DNS_CACHE_NSEC_SCAN 64      /* secure NXDOMAIN entries tried per miss (RFC 8198) */
#define DNS_CACHE_NSEC_RRS 32       /* NSEC/NSEC3 records of one entry looked at */

static inline uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

struct dns_cache_entry {
	struct dns_cache_entry *hnext;
	struct dns_cache_entry *lprev, *lnext; /* LRU: head = most recent */
	struct dns_cache_entry *nprev, *nnext; /* secure NXDOMAIN and NODATA entries, newest first */
	uint8_t *name;                         /* lowercased, after the records */
	uint64_t stored_ms, expires_ms;
	uint32_t hash;
	uint32_t ttl;                          /* seconds, as stored: the prefetch window is its tenth */
	size_t len;                            /* bytes of records */
	size_t size;                           /* bytes the allocation really holds */
	uint16_t type, cls;
	uint8_t rcode;
	uint8_t secure;                        /* DNSSEC-validated secure: AD for clients that ask */
	uint8_t prefetching;                   /* a refresh has been started for it */
	uint8_t nsec_listed;                   /* on the secure negative list */
	uint8_t data[];                        /* records: sec, owner, type, class, ttl, rdlen, rdata; then name */
};

int dns_cache_init(struct dns_cache *c, size_t max)
{
	return dns_cache_init_bytes(c, max, (size_t)-1);
}

int dns_cache_init_bytes(struct dns_cache *c, size_t max, size_t max_bytes)
{
	memset(c, 0, sizeof *c);
	c->max = max;
	c->max_bytes = max_bytes;
	/* about one bucket per entry the caps allow (an entry is at least ~128 bytes) */
	size_t want = max < max_bytes / 128 ? max : max_bytes / 128;
	c->nb = 1024;
	while (c->nb < want && c->nb < DNS_CACHE_BUCKETS_MAX)
		c->nb *= 2;
	c->b = calloc(c->nb, sizeof *c->b);
	return c->b ? 0 : TB_ERR_NOMEM;
}

static void lru_unlink(struct dns_cache *c, struct dns_cache_entry *e)
{
	if (e->lprev)
		e->lprev->lnext = e->lnext;
	else
		c->head = e->lnext;
	if (e->lnext)
		e->lnext->lprev = e->lprev;
	else
		c->tail = e->lprev;
	e->lprev = e->lnext = NULL;
}

static void lru_front(struct dns_cache *c, struct dns_cache_entry *e)
{
	e->lnext = c->head;
	e->lprev = NULL;
	if (c->head)
		c->head->lprev = e;
	c->head = e;
	if (!c->tail)
		c->tail = e;
}

static void entry_remove(struct dns_cache *c, struct dns_cache_entry *e)
{
	struct dns_cache_entry **pp = &c->b[e->hash & (c->nb - 1)];
	while (*pp && *pp != e)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = e->hnext;
	lru_unlink(c, e);
	if (e->nsec_listed) {
		if (e->nprev)
			e->nprev->nnext = e->nnext;
		else
			c->nsec_head = e->nnext;
		if (e->nnext)
			e->nnext->nprev = e->nprev;
	}
	c->n--;
	c->bytes -= e->size;
	free(e);
}

size_t dns_cache_flush(struct dns_cache *c, const uint8_t *name)
{
	size_t n = 0;
	for (struct dns_cache_entry *e = c->head, *next; e; e = next) {
		next = e->lnext;
		if (!name || dns_name_eq(e->name, name)) {
			entry_remove(c, e);
			n++;
		}
	}
	return n;
}

void dns_cache_free(struct dns_cache *c)
{
	while (c->head)
		entry_remove(c, c->head);
	free(c->b);
	memset(c, 0, sizeof *c);
}

static uint32_t key_hash(const uint8_t *name, uint16_t type, uint16_t cls)
{
	return dns_name_hash(name) * 31u + type * 7u + cls;
}

static struct dns_cache_entry *find(struct dns_cache *c, const uint8_t *name, uint16_t type, uint16_t cls)
{
	if (!c->b)
		return NULL;
	uint32_t h = key_hash(name, type, cls);
	for (struct dns_cache_entry *e = c->b[h & (c->nb - 1)]; e; e = e->hnext)
		if (e->hash == h && e->type == type && e->cls == cls && dns_name_eq(e->name, name))
			return e;
	return NULL;
}

struct dns_cache_entry *dns_cache_get(struct dns_cache *c, const uint8_t *name, uint16_t type,
	uint16_t cls, uint64_t now)
{
	struct dns_cache_entry *e = find(c, name, type, cls);
	if (!e)
		return NULL;
	if (now >= e->expires_ms) {
		/* kept for serve-stale until its window closes, but no longer an answer */
		if (now >= e->expires_ms + c->stale_ms)
			entry_remove(c, e);
		return NULL;
	}
	lru_unlink(c, e);
	lru_front(c, e);
	return e;
}

struct dns_cache_entry *dns_cache_get_stale(struct dns_cache *c, const uint8_t *name, uint16_t type,
	uint16_t cls, uint64_t now)
{
	struct dns_cache_entry *e = find(c, name, type, cls);
	if (!e || now < e->expires_ms)
		return NULL;
	if (now >= e->expires_ms + c->stale_ms) {
		entry_remove(c, e);
		return NULL;
	}
	return e;
}

int dns_cache_entry_prefetch_due(struct dns_cache_entry *e, uint64_t now)
{
	/* the last tenth of its TTL, once per entry: the refresh replaces the entry */
	if (e->prefetching || now >= e->expires_ms || (e->expires_ms - now) * 10 > (uint64_t)e->ttl * 1000)
		return 0;
	e->prefetching = 1;
	return 1;
}

/* Makes an entry from a parsed upstream response (not yet in the table). */
struct dns_cache_entry *dns_cache_entry_from_msg(const struct dns_msg *m, const uint8_t *qname,
	uint16_t qtype, uint16_t qclass, uint64_t now, uint32_t *ttl_out)
{
	struct tb_bytes b = { 0 };
	uint32_t ttl = DNS_CACHE_TTL_MAX, neg = 0;
	int have_soa = 0, rcode = DNS_RCODE(m->flags);
	size_t k = 0;
	for (int sec = DNS_SEC_ANSWER; sec <= DNS_SEC_AUTHORITY; sec++) {
		for (size_t i = 0; i < m->n_rr[sec]; i++) {
			const struct dns_rr *rr = &m->rr[k + i];
			if (rr->type == DNS_T_OPT || rr->type == DNS_T_TSIG)
				continue;
			int ol = dns_name_len(rr->owner, DNS_NAME_MAX);
			tb_bytes_u8(&b, (uint8_t)sec);
			tb_bytes_u8(&b, (uint8_t)ol);
			tb_bytes_append(&b, rr->owner, (size_t)ol);
			tb_bytes_u16(&b, rr->type);
			tb_bytes_u16(&b, rr->rclass);
			tb_bytes_u32(&b, rr->ttl);
			tb_bytes_vec(&b, 2, rr->rdata, rr->rdlen);
			if (sec == DNS_SEC_ANSWER && rr->ttl < ttl)
				ttl = rr->ttl;
			if (sec == DNS_SEC_AUTHORITY && rr->type == DNS_T_SOA && rr->rdlen >= 20) {
				const uint8_t *mn = rr->rdata + rr->rdlen - 4;
				uint32_t min = (uint32_t)rd16(mn) << 16 | rd16(mn + 2);
				neg = rr->ttl < min ? rr->ttl : min;
				have_soa = 1;
			}
		}
		k += m->n_rr[sec];
	}
	if (b.err || b.len > DNS_CACHE_ENTRY_MAX) {
		tb_bytes_free(&b);
		return NULL;
	}
	int negative = rcode == DNS_RCODE_NXDOMAIN || m->n_rr[DNS_SEC_ANSWER] == 0;
	if (negative) {
		ttl = have_soa ? (neg < DNS_CACHE_NEG_TTL_MAX ? neg : DNS_CACHE_NEG_TTL_MAX) : 0;
		/* RFC 2308 3, 5: the records of a negative answer (the SOA above all) go out
		 * with the negative TTL, which then counts down */
		for (size_t o = 0; o + 2 <= b.len;) {
			size_t ol = b.p[o + 1];
			uint8_t *f = b.p + o + 2 + ol;
			uint32_t t = (uint32_t)rd16(f + 4) << 16 | rd16(f + 6);
			if (t > ttl) {
				f[4] = (uint8_t)(ttl >> 24);
				f[5] = (uint8_t)(ttl >> 16);
				f[6] = (uint8_t)(ttl >> 8);
				f[7] = (uint8_t)ttl;
			}
			o += 2 + ol + 10 + rd16(f + 8);
		}
	}
	*ttl_out = ttl;
	int nl = dns_name_len(qname, DNS_NAME_MAX);
	struct dns_cache_entry *e = calloc(1, sizeof *e + b.len + (size_t)nl);
	if (!e) {
		tb_bytes_free(&b);
		return NULL;
	}
	e->size = malloc_usable_size(e) + sizeof(size_t); /* + the allocator's chunk header (glibc) */
	e->name = e->data + b.len;
	memcpy(e->name, qname, (size_t)nl);
	dns_name_lower(e->name);
	e->type = qtype;
	e->cls = qclass;
	e->hash = key_hash(e->name, qtype, qclass);
	e->rcode = (uint8_t)rcode;
	e->stored_ms = now;
	e->expires_ms = now + (uint64_t)ttl * 1000;
	e->ttl = ttl;
	e->len = b.len;
	if (b.len)
		memcpy(e->data, b.p, b.len);
	tb_bytes_free(&b);
	return e;
}

/* Whether the entry's records include an answer section (a NOERROR without one is NODATA). */
static int has_answers(const struct dns_cache_entry *e)
{
	for (size_t o = 0; o < e->len;) {
		const uint8_t *p = e->data + o;
		size_t ol = p[1];
		if (p[0] == DNS_SEC_ANSWER)
			return 1;
		o += 2 + ol + 10 + rd16(p + 2 + ol + 8);
	}
	return 0;
}

void dns_cache_put(struct dns_cache *c, struct dns_cache_entry *e)
{
	struct dns_cache_entry *old = find(c, e->name, e->type, e->cls);
	if (old)
		entry_remove(c, old);
	if (e->size > c->max_bytes || !c->max) {
		free(e);
		return;
	}
	while (c->tail && (c->n >= c->max || c->bytes + e->size > c->max_bytes)) {
		entry_remove(c, c->tail);
		c->evicted++;
	}
	size_t i = e->hash & (c->nb - 1);
	e->hnext = c->b[i];
	c->b[i] = e;
	lru_front(c, e);
	if (e->secure && (e->rcode == DNS_RCODE_NXDOMAIN || (e->rcode == DNS_RCODE_NOERROR && !has_answers(e)))) {
		e->nsec_listed = 1;
		e->nprev = NULL;
		e->nnext = c->nsec_head;
		if (c->nsec_head)
			c->nsec_head->nprev = e;
		c->nsec_head = e;
	}
	c->n++;
	c->bytes += e->size;
}

/* The NSEC/NSEC3 records of an entry into rrs (pointing into it) and its SOA's owner; how many. */
static size_t entry_denials(const struct dns_cache_entry *e, struct dns_rr *rrs, size_t max, const uint8_t **zone)
{
	size_t n = 0;
	*zone = NULL;
	for (size_t o = 0; o < e->len;) {
		const uint8_t *p = e->data + o;
		size_t ol = p[1];
		const uint8_t *f = p + 2 + ol;
		uint16_t type = rd16(f), rdlen = rd16(f + 8);
		if (p[0] == DNS_SEC_AUTHORITY && type == DNS_T_SOA)
			*zone = p + 2;
		if (p[0] == DNS_SEC_AUTHORITY && (type == DNS_T_NSEC || type == DNS_T_NSEC3) && n < max) {
			rrs[n].owner = p + 2;
			rrs[n].type = type;
			rrs[n].rclass = rd16(f + 2);
			rrs[n].ttl = (uint32_t)rd16(f + 4) << 16 | rd16(f + 6);
			rrs[n].rdata = f + 10;
			rrs[n].rdlen = rdlen;
			n++;
		}
		o += 2 + ol + 10 + rdlen;
	}
	return n;
}

struct dns_cache_entry *dns_cache_nsec_find(struct dns_cache *c, const uint8_t *name, uint16_t type,
	uint16_t cls, uint64_t now, struct dnssec_budget *b)
{
	struct dns_rr rrs[DNS_CACHE_NSEC_RRS];
	unsigned tried = 0;
	if (cls != DNS_C_IN)
		return NULL;
	for (struct dns_cache_entry *e = c->nsec_head; e && tried < DNS_CACHE_NSEC_SCAN; e = e->nnext) {
		if (now >= e->expires_ms)
			continue;
		const uint8_t *zone;
		size_t n = entry_denials(e, rrs, DNS_CACHE_NSEC_RRS, &zone);
		if (!n || !zone || !dns_name_is_sub(name, zone))
			continue;
		tried++;
		uint16_t ede = 0;
		enum dnssec_denial what = e->rcode == DNS_RCODE_NXDOMAIN ? DNSSEC_DENY_NXDOMAIN : DNSSEC_DENY_NODATA;
		if (dnssec_deny(what, name, type, -1, rrs, n, zone, b, &ede) == DNSSEC_SECURE) {
			lru_unlink(c, e);
			lru_front(c, e);
			return e;
		}
	}
	return NULL;
}

void dns_cache_entry_set_secure(struct dns_cache_entry *e, int secure)
{
	e->secure = (uint8_t)(secure != 0);
}

int dns_cache_entry_secure(const struct dns_cache_entry *e)
{
	return e->secure;
}

int dns_cache_entry_rcode(const struct dns_cache_entry *e)
{
	return e->rcode;
}

uint32_t dns_cache_entry_age(const struct dns_cache_entry *e, uint64_t now)
{
	return now > e->stored_ms ? (uint32_t)((now - e->stored_ms) / 1000) : 0;
}

const uint8_t *dns_cache_entry_data(const struct dns_cache_entry *e, size_t *len)
{
	*len = e->len;
	return e->data;
}

/* Records of an entry, for the resolver service: the asked type from the answer section. */
size_t dns_cache_entry_records(const struct dns_cache_entry *e, uint16_t qtype, struct tb_rr *rrs,
	size_t max, uint8_t *rcode)
{
	size_t n = 0;
	*rcode = e->rcode;
	for (size_t o = 0; o < e->len;) {
		const uint8_t *p = e->data + o;
		size_t ol = p[1];
		const uint8_t *f = p + 2 + ol;
		uint16_t type = rd16(f), rdlen = rd16(f + 8);
		if (p[0] == DNS_SEC_ANSWER && (type == qtype || qtype == DNS_T_ANY) && n < max) {
			rrs[n].type = type;
			rrs[n].ttl = (uint32_t)rd16(f + 4) << 16 | rd16(f + 6);
			rrs[n].rdata = TB_BUF(f + 10, rdlen);
			n++;
		}
		o += 2 + ol + 10 + rdlen;
	}
	return n;
}

/* ---- answering from an entry (forwarding and iteration alike) ---- */

/*
 * The answer to cl from e (or an error without records). stale: e is past its
 * TTL and served because every upstream failed (RFC 8767 4): every record goes
 * out with DNS_STALE_TTL.
 */
static size_t answer(struct dns_server *s, const struct dns_fwd_client *cl, const struct dns_cache_entry *e,
	int rcode, uint16_t ede, const char *ede_text, uint64_t now, int stale, uint8_t *out, size_t cap)
{
	struct dns_edns_opt opts[2];
	size_t n_opts = 0;
	uint8_t ede_buf[64];
	if (cl->edns && cl->cookie_len) {
		opts[n_opts].code = DNS_OPT_COOKIE;
		opts[n_opts].len = cl->cookie_len;
		opts[n_opts].data = cl->cookie;
		n_opts++;
	}
	if (cl->edns && ede != 0xffff) {
		size_t tl = ede_text ? strlen(ede_text) : 0;
		if (tl > 60)
			tl = 60;
		ede_buf[0] = (uint8_t)(ede >> 8);
		ede_buf[1] = (uint8_t)ede;
		memcpy(ede_buf + 2, ede_text, tl);
		opts[n_opts].code = DNS_OPT_EDE;
		opts[n_opts].len = (uint16_t)(2 + tl);
		opts[n_opts].data = ede_buf;
		n_opts++;
	}
	if (e)
		rcode = dns_cache_entry_rcode(e);
	uint16_t flags = (uint16_t)(DNS_F_QR | DNS_F_RA | (cl->flags & (DNS_F_RD | DNS_F_CD)) | (rcode & 0xf));
	/* AD only for validated data, and only to a client that asked with DO or AD (RFC 6840 5.7) */
	int dnssec_ok = cl->edns && (cl->edns_flags & DNS_EDNS_DO);
	if (e && dns_cache_entry_secure(e) && (dnssec_ok || (cl->flags & DNS_F_AD)))
		flags |= DNS_F_AD;
	struct dns_builder b;
	dns_builder_init(&b, out, cap, cl->id, flags);
	dns_builder_question(&b, cl->qname, cl->qtype, cl->qclass);
	if (cl->edns)
		b.reserve = dns_opt_size(opts, n_opts);
	uint32_t elapsed = e ? dns_cache_entry_age(e, now) : 0;
	size_t len = 0;
	const uint8_t *data = e ? dns_cache_entry_data(e, &len) : NULL;
	int err = 0;
	for (size_t o = 0; o < len && !err;) {
		const uint8_t *p = data + o;
		int sec = p[0];
		size_t ol = p[1];
		const uint8_t *owner = p + 2;
		const uint8_t *f = owner + ol;
		uint32_t ttl = (uint32_t)rd16(f + 4) << 16 | rd16(f + 6);
		uint16_t rdlen = rd16(f + 8);
		ttl = stale ? DNS_STALE_TTL : ttl > elapsed ? ttl - elapsed : 0;
		uint16_t t = rd16(f);
		/* DNSSEC records go only to clients that set DO (RFC 4035 3.2.1), unless asked for */
		if (dnssec_ok || t == cl->qtype || (t != DNS_T_RRSIG && t != DNS_T_NSEC && t != DNS_T_NSEC3))
			err = dns_builder_rr(&b, sec, owner, t, rd16(f + 2), ttl, f + 10, rdlen);
		o += 2 + ol + 10 + rdlen;
	}
	if (err) {
		dns_builder_init(&b, out, cap, cl->id, (uint16_t)(flags | DNS_F_TC));
		dns_builder_question(&b, cl->qname, cl->qtype, cl->qclass);
		s->stats.truncated++;
	}
	if (cl->edns)
		dns_builder_opt(&b, s->udp_payload, 0, cl->edns_flags, opts, n_opts, 0);
	return dns_builder_finish(&b);
}

size_t dns_fwd_answer(struct dns_server *s, const struct dns_fwd_client *cl,
	const struct dns_cache_entry *e, int rcode, uint16_t ede, const char *ede_text, uint64_t now,
	uint8_t *out, size_t cap)
{
	return answer(s, cl, e, rcode, ede, ede_text, now, 0, out, cap);
}

size_t dns_fwd_answer_stale(struct dns_server *s, const struct dns_fwd_client *cl, uint64_t now, uint8_t *out,
	size_t cap)
{
	/* the CA's lookups (CAA, dns-01) want today's data or a failure, never yesterday's */
	if (cl->kind == DNS_FWD_RESOLVER || !s->cache.stale_ms)
		return 0;
	const struct dns_cache_entry *e = dns_cache_get_stale(&s->cache, cl->qname, cl->qtype, cl->qclass, now);
	if (!e)
		return 0;
	s->cache.stale_served++;
	return answer(s, cl, e, 0, DNS_EDE_STALE, "upstream unreachable: stale data", now, 1, out, cap);
}

int dns_fwd_send_stale(struct dns_server *s, const struct dns_fwd_client *cl)
{
	static uint8_t out[65535];
	size_t cap = cl->kind == DNS_FWD_TCP ? sizeof out : cl->cap;
	size_t n = dns_fwd_answer_stale(s, cl, uv_now(s->loop), out, cap);
	if (!n)
		return 0;
	if (cl->reply.send)
		cl->reply.send(&cl->reply, out, n);
	return 1;
}

static void prefetch_done(enum tb_resolve_status st, const struct tb_rr *rrs, size_t n, const char *why,
	void *arg)
{
	(void)st, (void)rrs, (void)n, (void)why, (void)arg; /* the answer went into the cache */
}

struct dns_cache_entry *dns_cache_lookup(struct dns_server *s, const struct dns_fwd_client *cl, uint64_t now)
{
	if (cl->prefetch)
		return NULL; /* a refresh: to the upstream whatever the cache holds */
	struct dns_cache_entry *e = dns_cache_get(&s->cache, cl->qname, cl->qtype, cl->qclass, now);
	if (!e && s->dnssec) {
		/* RFC 8198: validated NSEC/NSEC3 records already cached may prove the name absent */
		struct dnssec_budget b;
		dnssec_budget_init(&b);
		b.nsec3_hash_max = s->dnssec_nsec3_hash_max;
		b.nsec3_iter_max = s->dnssec_nsec3_iter_max;
		if ((e = dns_cache_nsec_find(&s->cache, cl->qname, cl->qtype, cl->qclass, now, &b)) != NULL) {
			s->cache.nsec_answers++;
			s->cache.hits++;
			return e; /* no prefetch: the proof is the answer, not a name to refresh */
		}
	}
	if (!e) {
		s->cache.misses++;
		return NULL;
	}
	s->cache.hits++;
	if (s->prefetch && dns_cache_entry_prefetch_due(e, now)) {
		/*
		 * Refresh it in the background: a resolver client with nobody waiting,
		 * through the path that filled the entry. Starting it never touches the
		 * cache (an outcome arrives on a later loop turn), so e stays valid.
		 */
		struct dns_fwd_client p;
		memset(&p, 0, sizeof p);
		p.kind = DNS_FWD_RESOLVER;
		p.prefetch = 1;
		memcpy(p.qname, cl->qname, (size_t)dns_name_len(cl->qname, DNS_NAME_MAX));
		p.qtype = cl->qtype;
		p.qclass = cl->qclass;
		p.flags = DNS_F_RD;
		p.cb = prefetch_done;
		const struct dns_forwarder *f = dns_forwarder_find(s, cl->qname);
		s->cache.prefetches++;
		if (f)
			dns_forward(s, f, &p, s->fwd_deadline_ms, NULL, 0);
		else if (s->iterate)
			dns_iterate(s, &p, s->fwd_deadline_ms, NULL, 0);
	}
	return e;
}
