/*
 * DESIGN: what the iterator knows about each authoritative server address,
 * shared by every query (after Unbound's infra cache, in spirit).
 *
 * One entry per address and port: a smoothed round-trip time and its
 * variance (RFC 6298: srtt += (rtt - srtt) / 8, rttvar += (|rtt - srtt| -
 * rttvar) / 4), the retransmission estimate rto = srtt + 4 rttvar (at least
 * DNS_INFRA_RTO_MIN), doubled on every timeout up to DNS_INFRA_RTO_MAX
 * (exponential back-off) and reset by the next answer; and what the server
 * is known not to cope with (EDNS, a randomised question case). A server
 * never asked counts as DNS_INFRA_UNKNOWN_MS, so servers that answered fast
 * are preferred, unknown ones are still explored (they fall inside the band
 * the chooser draws from) and one that timed out drops behind both.
 *
 * Entries expire `iterate_infra_ttl` seconds after they were last updated
 * (a server that was down gets another chance; one that was fixed loses its
 * workarounds); the table holds at most `iterate_infra_size` entries and
 * drops the least recently used one for a new one. Lookups are a hash of the
 * address into chained buckets; the LRU list is intrusive. dns_infra_pick,
 * at the end, is the iterator's server selection on top of the estimates.
 */
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "core/error.h"
#include "dns/dns_internal.h"

struct dns_infra_entry {
	struct sockaddr_storage addr;
	struct dns_infra_entry *hnext;         /* bucket chain */
	struct dns_infra_entry *prev, *next;   /* LRU, most recent first */
	uint64_t expires;                      /* uv_now ms */
	uint32_t srtt, rttvar, rto;            /* ms; srtt 0 with rttvar 0: no answer measured yet */
	unsigned flags;                        /* DNS_INFRA_NO_EDNS, DNS_INFRA_NO_0X20 */
};

int dns_infra_init(struct dns_infra *t, size_t max, uint64_t ttl_ms)
{
	memset(t, 0, sizeof *t);
	t->max = max;
	t->ttl_ms = ttl_ms;
	if (!max)
		return 0;
	t->nb = 64;
	while (t->nb < max && t->nb < (1u << 20))
		t->nb <<= 1;
	t->b = calloc(t->nb, sizeof *t->b);
	return t->b ? 0 : TB_ERR_NOMEM;
}

void dns_infra_free(struct dns_infra *t)
{
	struct dns_infra_entry *e = t->head;
	while (e) {
		struct dns_infra_entry *n = e->next;
		free(e);
		e = n;
	}
	free(t->b);
	t->b = NULL;
	t->head = t->tail = NULL;
	t->n = 0;
}

/* The family, address and port: what a server is keyed on. */
static size_t key_of(const struct sockaddr_storage *a, uint8_t key[20])
{
	memset(key, 0, 20);
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *v4 = (const void *)a;
		memcpy(key, &v4->sin_port, 2);
		memcpy(key + 2, &v4->sin_addr, 4);
		return 6;
	}
	const struct sockaddr_in6 *v6 = (const void *)a;
	memcpy(key, &v6->sin6_port, 2);
	memcpy(key + 2, &v6->sin6_addr, 16);
	return 18;
}

static size_t bucket(const struct dns_infra *t, const uint8_t *key, size_t len)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a: the table is bounded, collisions only cost a chain */
	for (size_t i = 0; i < len; i++)
		h = (h ^ key[i]) * 1099511628211ull;
	return (size_t)(h & (t->nb - 1));
}

static int same(const struct dns_infra_entry *e, const uint8_t *key, size_t len)
{
	uint8_t k[20];
	return e->addr.ss_family == (len == 6 ? AF_INET : AF_INET6) && key_of(&e->addr, k) == len &&
		memcmp(k, key, len) == 0;
}

static void lru_unlink(struct dns_infra *t, struct dns_infra_entry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		t->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		t->tail = e->prev;
	e->prev = e->next = NULL;
}

static void lru_front(struct dns_infra *t, struct dns_infra_entry *e)
{
	e->next = t->head;
	e->prev = NULL;
	if (t->head)
		t->head->prev = e;
	t->head = e;
	if (!t->tail)
		t->tail = e;
}

static void drop(struct dns_infra *t, struct dns_infra_entry *e)
{
	uint8_t key[20];
	size_t len = key_of(&e->addr, key);
	struct dns_infra_entry **pp = &t->b[bucket(t, key, len)];
	while (*pp && *pp != e)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = e->hnext;
	lru_unlink(t, e);
	free(e);
	t->n--;
}

/* The live entry for a, or NULL; an expired one is dropped on the way. */
static struct dns_infra_entry *find(struct dns_infra *t, const struct sockaddr_storage *a, uint64_t now)
{
	if (!t->b || (a->ss_family != AF_INET && a->ss_family != AF_INET6))
		return NULL;
	uint8_t key[20];
	size_t len = key_of(a, key);
	for (struct dns_infra_entry *e = t->b[bucket(t, key, len)]; e; e = e->hnext) {
		if (!same(e, key, len))
			continue;
		if (now >= e->expires) {
			drop(t, e);
			return NULL;
		}
		return e;
	}
	return NULL;
}

/* The entry for a, made (as an unknown server) when there is none; NULL without a table or memory. */
static struct dns_infra_entry *get(struct dns_infra *t, const struct sockaddr_storage *a, uint64_t now)
{
	struct dns_infra_entry *e = find(t, a, now);
	if (e) {
		lru_unlink(t, e);
		lru_front(t, e);
		e->expires = now + t->ttl_ms;
		return e;
	}
	if (!t->b || (a->ss_family != AF_INET && a->ss_family != AF_INET6))
		return NULL;
	if (t->n >= t->max && t->tail)
		drop(t, t->tail);
	if (!(e = calloc(1, sizeof *e)))
		return NULL;
	memcpy(&e->addr, a, sizeof *a);
	e->rto = DNS_INFRA_UNKNOWN_MS;
	e->expires = now + t->ttl_ms;
	uint8_t key[20];
	size_t len = key_of(a, key);
	size_t b = bucket(t, key, len);
	e->hnext = t->b[b];
	t->b[b] = e;
	lru_front(t, e);
	t->n++;
	return e;
}

uint32_t dns_infra_rto(struct dns_infra *t, const struct sockaddr_storage *a, uint64_t now)
{
	const struct dns_infra_entry *e = find(t, a, now);
	return e ? e->rto : DNS_INFRA_UNKNOWN_MS;
}

unsigned dns_infra_flags(struct dns_infra *t, const struct sockaddr_storage *a, uint64_t now)
{
	const struct dns_infra_entry *e = find(t, a, now);
	return e ? e->flags : 0;
}

void dns_infra_set_flags(struct dns_infra *t, const struct sockaddr_storage *a, unsigned flags, uint64_t now)
{
	struct dns_infra_entry *e = get(t, a, now);
	if (e)
		e->flags |= flags;
}

void dns_infra_rtt(struct dns_infra *t, const struct sockaddr_storage *a, uint32_t ms, uint64_t now)
{
	struct dns_infra_entry *e = get(t, a, now);
	if (!e)
		return;
	if (e->srtt == 0 && e->rttvar == 0) {
		e->srtt = ms ? ms : 1; /* the first measurement (RFC 6298 2.2) */
		e->rttvar = e->srtt / 2 ? e->srtt / 2 : 1;
	} else {
		uint32_t d = ms > e->srtt ? ms - e->srtt : e->srtt - ms;
		e->rttvar = (uint32_t)(((uint64_t)e->rttvar * 3 + d) / 4);
		e->srtt = (uint32_t)(((uint64_t)e->srtt * 7 + ms) / 8);
		if (!e->srtt)
			e->srtt = 1;
	}
	uint64_t rto = (uint64_t)e->srtt + 4 * (uint64_t)e->rttvar;
	e->rto = rto < DNS_INFRA_RTO_MIN ? DNS_INFRA_RTO_MIN : rto > DNS_INFRA_RTO_MAX ? DNS_INFRA_RTO_MAX
		: (uint32_t)rto;
}

void dns_infra_timeout(struct dns_infra *t, const struct sockaddr_storage *a, uint64_t now)
{
	struct dns_infra_entry *e = get(t, a, now);
	t->timeouts++;
	if (!e)
		return;
	uint64_t rto = (uint64_t)e->rto * 2;
	e->rto = rto > DNS_INFRA_RTO_MAX ? DNS_INFRA_RTO_MAX : (uint32_t)rto;
}

/*
 * The next address of ns to ask among those not tried yet (tried: a bit per
 * address of each NS): drawn at random among the ones whose estimate is
 * within DNS_INFRA_BAND_MS of the best. A server that answered fast wins, one
 * never asked (DNS_INFRA_UNKNOWN_MS) is still explored now and then, and one
 * that timed out (its estimate doubled) waits behind both until its entry
 * expires or nothing else is left.
 */
int dns_infra_pick(struct dns_infra *t, const struct dns_nsset *ns, const uint8_t *tried, uint64_t now, size_t *ni,
	size_t *ai)
{
	uint32_t best = UINT32_MAX, rto[DNS_NSSET_MAX][DNS_NS_ADDRS_MAX];
	for (size_t i = 0; i < ns->n; i++)
		for (size_t a = 0; a < ns->ns[i].n_addr; a++) {
			if (tried[i] & (1u << a))
				continue;
			rto[i][a] = dns_infra_rto(t, &ns->ns[i].addr[a], now);
			if (rto[i][a] < best)
				best = rto[i][a];
		}
	if (best == UINT32_MAX)
		return TB_ERR_NOT_FOUND;
	size_t n = 0;
	for (int pass = 0; pass < 2; pass++) {
		uint32_t r = 0;
		if (pass == 1) {
			tb_random(&r, sizeof r);
			r %= (uint32_t)n;
		}
		size_t k = 0;
		for (size_t i = 0; i < ns->n; i++)
			for (size_t a = 0; a < ns->ns[i].n_addr; a++) {
				if ((tried[i] & (1u << a)) || rto[i][a] > best + DNS_INFRA_BAND_MS)
					continue;
				if (pass == 1 && k == r) {
					*ni = i;
					*ai = a;
					return 0;
				}
				k++;
			}
		n = k;
	}
	return TB_ERR_NOT_FOUND; /* not reached: the first pass counted at least the best */
}
