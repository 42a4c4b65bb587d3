/*
 * DESIGN: forwarding and the cache.
 *
 * A name outside the local zones, from a client allowed to recurse, goes to
 * the forwarder whose zone is the longest match. First the cache: entries
 * keyed by (lowercased name, type, class) hold the answer and authority
 * records of one upstream response, for the smallest TTL among them
 * (positive) or min(SOA TTL, SOA MINIMUM) of the authority SOA (negative,
 * RFC 2308; without an SOA nothing is cached). TTLs count down when served;
 * the cache is size-capped with LRU eviction. On a miss a query state
 * (struct dns_fwd) sends one upstream query from its own UDP socket (the
 * kernel picks a random source port) with a random ID and, optionally, a
 * randomised qname case (0x20) that the answer must echo; it retries the
 * next server on timeout, SERVFAIL or REFUSED, switches to TCP when the answer
 * is truncated, and gives up at the deadline with SERVFAIL and an Extended
 * DNS Error. The same state serves a client (UDP/TCP answer) or the
 * tb_resolver service (callback), so DNS II can replace the upstream step by
 * iteration without changing either end.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "core/error.h"
#include "core/log.h"
#include "dns/dns.h"
#include "dns/dns_internal.h"

#define DNS_CACHE_TTL_MAX 86400     /* positive entries live at most a day */
#define DNS_CACHE_NEG_TTL_MAX 3600  /* negative entries at most an hour (RFC 2308 5) */
#define DNS_CACHE_ENTRY_MAX 16384   /* bytes of records kept per entry */
#define DNS_FWD_ATTEMPTS_MAX 4      /* upstream attempts per query */

static inline uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* ---- the cache ---- */

struct dns_cache_entry {
	struct dns_cache_entry *hnext;
	struct dns_cache_entry *lprev, *lnext; /* LRU: head = most recent */
	uint32_t hash;
	uint8_t name[DNS_NAME_MAX];            /* lowercased */
	uint16_t type, cls;
	uint64_t stored_ms, expires_ms;
	uint8_t rcode;
	size_t len;
	uint8_t data[];                        /* records: sec, owner, type, class, ttl, rdlen, rdata */
};

int dns_cache_init(struct dns_cache *c, size_t max)
{
	memset(c, 0, sizeof *c);
	c->max = max;
	c->nb = 1024;
	while (c->nb < max && c->nb < (1u << 20))
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
	c->n--;
	c->bytes -= sizeof *e + e->len;
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

struct dns_cache_entry *dns_cache_get(struct dns_cache *c, const uint8_t *name, uint16_t type,
	uint16_t cls, uint64_t now)
{
	if (!c->b)
		return NULL;
	uint32_t h = key_hash(name, type, cls);
	for (struct dns_cache_entry *e = c->b[h & (c->nb - 1)]; e; e = e->hnext) {
		if (e->hash == h && e->type == type && e->cls == cls && dns_name_eq(e->name, name)) {
			if (now >= e->expires_ms) {
				entry_remove(c, e);
				return NULL;
			}
			lru_unlink(c, e);
			lru_front(c, e);
			return e;
		}
	}
	return NULL;
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
	struct dns_cache_entry *e = calloc(1, sizeof *e + b.len);
	if (!e) {
		tb_bytes_free(&b);
		return NULL;
	}
	int nl = dns_name_len(qname, DNS_NAME_MAX);
	memcpy(e->name, qname, (size_t)nl);
	dns_name_lower(e->name);
	e->type = qtype;
	e->cls = qclass;
	e->hash = key_hash(e->name, qtype, qclass);
	e->rcode = (uint8_t)rcode;
	e->stored_ms = now;
	e->expires_ms = now + (uint64_t)ttl * 1000;
	e->len = b.len;
	if (b.len)
		memcpy(e->data, b.p, b.len);
	tb_bytes_free(&b);
	return e;
}

void dns_cache_put(struct dns_cache *c, struct dns_cache_entry *e)
{
	struct dns_cache_entry *old = dns_cache_get(c, e->name, e->type, e->cls, 0);
	if (old)
		entry_remove(c, old);
	while (c->n >= c->max && c->tail)
		entry_remove(c, c->tail);
	size_t i = e->hash & (c->nb - 1);
	e->hnext = c->b[i];
	c->b[i] = e;
	lru_front(c, e);
	c->n++;
	c->bytes += sizeof *e + e->len;
}

/* ---- answering from an entry ---- */

size_t dns_fwd_answer(struct dns_server *s, const struct dns_fwd_client *cl,
	const struct dns_cache_entry *e, int rcode, uint16_t ede, const char *ede_text, uint64_t now,
	uint8_t *out, size_t cap)
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
		rcode = e->rcode;
	uint16_t flags = (uint16_t)(DNS_F_QR | DNS_F_RA | (cl->flags & (DNS_F_RD | DNS_F_CD)) | (rcode & 0xf));
	struct dns_builder b;
	dns_builder_init(&b, out, cap, cl->id, flags);
	dns_builder_question(&b, cl->qname, cl->qtype, cl->qclass);
	if (cl->edns)
		b.reserve = dns_opt_size(opts, n_opts);
	uint32_t elapsed = e ? (uint32_t)((now - e->stored_ms) / 1000) : 0;
	int err = 0;
	for (size_t o = 0; e && o < e->len && !err;) {
		const uint8_t *p = e->data + o;
		int sec = p[0];
		size_t ol = p[1];
		const uint8_t *owner = p + 2;
		const uint8_t *f = owner + ol;
		uint32_t ttl = (uint32_t)rd16(f + 4) << 16 | rd16(f + 6);
		uint16_t rdlen = rd16(f + 8);
		ttl = ttl > elapsed ? ttl - elapsed : 0;
		err = dns_builder_rr(&b, sec, owner, rd16(f), rd16(f + 2), ttl, f + 10, rdlen);
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

/* ---- upstream queries ---- */

struct dns_fwd {
	struct dns_server *s;
	struct dns_fwd *prev, *next;
	struct dns_fwd_client cl;
	const struct dns_forwarder *f;
	int attempt;
	int server;
	uint16_t id;
	uint8_t sent_name[DNS_NAME_MAX]; /* the qname as sent (0x20 case) */
	uint8_t query[512];
	size_t query_len;
	uint64_t deadline;
	uv_udp_t udp;
	uv_tcp_t tcp;
	uv_connect_t creq;
	uv_write_t wreq;
	uv_timer_t timer;
	int udp_open, tcp_open, tcp_used;
	int handles;
	int finished;
	int counted;
	uint8_t *tcp_buf;
	size_t tcp_len;
	uint8_t tcp_hdr[2];
	uint8_t rbuf[4096];
};

static void fwd_handle_closed(uv_handle_t *h)
{
	struct dns_fwd *q = h->data;
	if (--q->handles > 0)
		return;
	struct dns_server *s = q->s;
	int counted = q->counted;
	free(q->tcp_buf);
	free(q);
	if (counted && --s->closing == 0 && s->stop_done)
		s->stop_done(s->stop_arg);
}

static void fwd_release(struct dns_fwd *q)
{
	struct dns_server *s = q->s;
	if (q->prev)
		q->prev->next = q->next;
	else
		s->fwds = q->next;
	if (q->next)
		q->next->prev = q->prev;
	s->n_fwds--;
	if (s->stopping && !q->counted) {
		q->counted = 1;
		s->closing++;
	}
	q->handles = 1;
	uv_close((uv_handle_t *)&q->timer, fwd_handle_closed);
	if (q->udp_open) {
		q->handles++;
		uv_close((uv_handle_t *)&q->udp, fwd_handle_closed);
	}
	if (q->tcp_open) {
		q->handles++;
		uv_close((uv_handle_t *)&q->tcp, fwd_handle_closed);
	}
}

/* Delivers the outcome to whoever asked, then closes the query. */
static void fwd_finish(struct dns_fwd *q, const struct dns_cache_entry *e, int rcode, uint16_t ede,
	const char *why, enum tb_resolve_status rstat)
{
	struct dns_server *s = q->s;
	if (q->finished)
		return;
	q->finished = 1;
	uint64_t now = uv_now(s->loop);
	if (q->cl.kind == DNS_FWD_RESOLVER) {
		dns_resolver_deliver(s, &q->cl, e, rstat, why);
	} else {
		static uint8_t out[65535];
		size_t cap = q->cl.kind == DNS_FWD_TCP ? sizeof out : q->cl.cap;
		size_t n = dns_fwd_answer(s, &q->cl, e, rcode, ede, why, now, out, cap);
		if (q->cl.reply.send)
			q->cl.reply.send(&q->cl.reply, out, n);
	}
	fwd_release(q);
}

static void fwd_try(struct dns_fwd *q);

static void fwd_fail_attempt(struct dns_fwd *q)
{
	q->attempt++;
	q->server++;
	if (q->attempt >= DNS_FWD_ATTEMPTS_MAX || uv_now(q->s->loop) >= q->deadline) {
		fwd_finish(q, NULL, DNS_RCODE_SERVFAIL, DNS_EDE_NO_REACHABLE_AUTHORITY,
			"no answer from the forwarders", TB_RESOLVE_TIMEOUT);
		return;
	}
	fwd_try(q);
}

/* Handles a complete upstream answer (UDP or TCP). */
static void fwd_response(struct dns_fwd *q, const uint8_t *p, size_t n, int via_tcp)
{
	struct dns_server *s = q->s;
	if (n < 12 || rd16(p) != q->id || !(p[2] & 0x80))
		return; /* not ours: keep waiting (spoofing attempts look like this) */
	struct dns_msg m;
	if (dns_msg_parse(&m, p, n) != 0) {
		fwd_fail_attempt(q);
		return;
	}
	/* the question must be echoed exactly: case included when 0x20 is on */
	if (m.n_qd != 1 || m.qd[0].qtype != q->cl.qtype || m.qd[0].qclass != q->cl.qclass ||
		(s->use_0x20 ? memcmp(m.qd[0].name, q->sent_name, (size_t)dns_name_len(q->sent_name, DNS_NAME_MAX)) != 0
			      : !dns_name_eq(m.qd[0].name, q->sent_name))) {
		dns_msg_free(&m);
		return;
	}
	if ((m.flags & DNS_F_TC) && !via_tcp) {
		dns_msg_free(&m);
		q->tcp_used = 1;
		fwd_try(q); /* same server, over TCP */
		return;
	}
	int rcode = DNS_RCODE(m.flags);
	if (rcode != DNS_RCODE_NOERROR && rcode != DNS_RCODE_NXDOMAIN) {
		dns_msg_free(&m);
		q->tcp_used = 0;
		fwd_fail_attempt(q);
		return;
	}
	uint64_t now = uv_now(s->loop);
	uint32_t ttl = 0;
	struct dns_cache_entry *e = dns_cache_entry_from_msg(&m, q->cl.qname, q->cl.qtype, q->cl.qclass, now, &ttl);
	dns_msg_free(&m);
	if (!e) {
		fwd_finish(q, NULL, DNS_RCODE_SERVFAIL, DNS_EDE_OTHER, "answer too large to keep",
			TB_RESOLVE_ERROR);
		return;
	}
	fwd_finish(q, e, rcode, 0xffff, NULL, TB_RESOLVE_OK);
	if (ttl > 0 && s->cache.max)
		dns_cache_put(&s->cache, e);
	else
		free(e);
}

static void fwd_udp_alloc(uv_handle_t *h, size_t sz, uv_buf_t *buf)
{
	struct dns_fwd *q = h->data;
	(void)sz;
	*buf = uv_buf_init((char *)q->rbuf, sizeof q->rbuf);
}

static int same_addr(const struct sockaddr *a, const struct sockaddr_storage *b)
{
	if (a->sa_family != b->ss_family)
		return 0;
	if (a->sa_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
	return x->sin6_port == y->sin6_port && memcmp(&x->sin6_addr, &y->sin6_addr, 16) == 0;
}

static void fwd_udp_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *addr,
	unsigned flags)
{
	struct dns_fwd *q = h->data;
	(void)flags;
	if (q->finished || nread <= 0 || !addr)
		return;
	const struct dns_forwarder *f = q->f;
	if (!same_addr(addr, &f->servers[q->server % f->n]))
		return;
	fwd_response(q, (const uint8_t *)buf->base, (size_t)nread, 0);
}

static void fwd_tcp_alloc(uv_handle_t *h, size_t sz, uv_buf_t *buf)
{
	struct dns_fwd *q = h->data;
	(void)sz;
	*buf = uv_buf_init((char *)q->tcp_buf + q->tcp_len, (unsigned)(2 + 65535 - q->tcp_len));
}

static void fwd_tcp_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
	struct dns_fwd *q = st->data;
	(void)buf;
	if (q->finished)
		return;
	if (nread < 0) {
		uv_read_stop(st);
		q->tcp_used = 0;
		fwd_fail_attempt(q);
		return;
	}
	q->tcp_len += (size_t)nread;
	if (q->tcp_len >= 2) {
		size_t ml = rd16(q->tcp_buf);
		if (q->tcp_len >= 2 + ml) {
			uv_read_stop(st);
			fwd_response(q, q->tcp_buf + 2, ml, 1);
		}
	}
}

static void fwd_tcp_written(uv_write_t *req, int status)
{
	struct dns_fwd *q = req->data;
	if (q->finished || status == 0)
		return;
	q->tcp_used = 0;
	fwd_fail_attempt(q);
}

static void fwd_tcp_connected(uv_connect_t *req, int status)
{
	struct dns_fwd *q = req->data;
	if (q->finished || status == UV_ECANCELED)
		return;
	if (status < 0) {
		q->tcp_used = 0;
		fwd_fail_attempt(q);
		return;
	}
	uv_buf_t bufs[2];
	q->tcp_hdr[0] = (uint8_t)(q->query_len >> 8);
	q->tcp_hdr[1] = (uint8_t)q->query_len;
	bufs[0] = uv_buf_init((char *)q->tcp_hdr, 2);
	bufs[1] = uv_buf_init((char *)q->query, (unsigned)q->query_len);
	q->wreq.data = q;
	q->tcp_len = 0;
	if (uv_write(&q->wreq, (uv_stream_t *)&q->tcp, bufs, 2, fwd_tcp_written) ||
		uv_read_start((uv_stream_t *)&q->tcp, fwd_tcp_alloc, fwd_tcp_read)) {
		q->tcp_used = 0;
		fwd_fail_attempt(q);
	}
}

static void fwd_timeout(uv_timer_t *t)
{
	struct dns_fwd *q = t->data;
	if (q->finished)
		return;
	q->tcp_used = 0;
	fwd_fail_attempt(q);
}

/* Sends (or re-sends) the query to the current server. */
static void fwd_try(struct dns_fwd *q)
{
	struct dns_server *s = q->s;
	const struct dns_forwarder *f = q->f;
	const struct sockaddr *to = (const struct sockaddr *)&f->servers[q->server % f->n];
	/* a fresh ID per attempt, so a late answer to an earlier attempt is ignored */
	tb_random(&q->id, sizeof q->id);
	q->query[0] = (uint8_t)(q->id >> 8);
	q->query[1] = (uint8_t)q->id;
	uint64_t left = q->deadline > uv_now(s->loop) ? q->deadline - uv_now(s->loop) : 1;
	uint64_t per = s->fwd_timeout_ms < left ? s->fwd_timeout_ms : left;
	uv_timer_start(&q->timer, fwd_timeout, per, 0);
	if (q->tcp_used) {
		if (q->tcp_open) {
			/* one TCP connection per query; a second TC goes to the next server by UDP */
			q->tcp_used = 0;
			fwd_fail_attempt(q);
			return;
		}
		if (!q->tcp_buf && !(q->tcp_buf = malloc(2 + 65535))) {
			fwd_finish(q, NULL, DNS_RCODE_SERVFAIL, DNS_EDE_OTHER, "out of memory", TB_RESOLVE_ERROR);
			return;
		}
		uv_tcp_init(s->loop, &q->tcp);
		q->tcp.data = q;
		q->tcp_open = 1;
		q->creq.data = q;
		if (uv_tcp_connect(&q->creq, &q->tcp, to, fwd_tcp_connected)) {
			q->tcp_used = 0;
			fwd_fail_attempt(q);
		}
		return;
	}
	if (!q->udp_open) {
		uv_udp_init(s->loop, &q->udp);
		q->udp.data = q;
		q->udp_open = 1;
		struct sockaddr_storage any;
		memset(&any, 0, sizeof any);
		any.ss_family = to->sa_family; /* port 0: the kernel's random ephemeral port */
		if (uv_udp_bind(&q->udp, (struct sockaddr *)&any, 0) ||
			uv_udp_recv_start(&q->udp, fwd_udp_alloc, fwd_udp_recv)) {
			fwd_finish(q, NULL, DNS_RCODE_SERVFAIL, DNS_EDE_NETWORK_ERROR, "cannot open a socket",
				TB_RESOLVE_ERROR);
			return;
		}
	}
	uv_buf_t b = uv_buf_init((char *)q->query, (unsigned)q->query_len);
	if (uv_udp_try_send(&q->udp, &b, 1, to) < 0)
		fwd_fail_attempt(q);
}

const struct dns_forwarder *dns_forwarder_find(const struct dns_server *s, const uint8_t *name)
{
	const struct dns_forwarder *best = NULL;
	int bl = -1;
	for (size_t i = 0; i < s->n_fwd; i++) {
		int zl = dns_name_labels(s->fwd[i].zone);
		if (zl > bl && dns_name_is_sub(name, s->fwd[i].zone)) {
			best = &s->fwd[i];
			bl = zl;
		}
	}
	return best;
}

size_t dns_forward(struct dns_server *s, const struct dns_forwarder *f, const struct dns_fwd_client *cl,
	uint64_t timeout_ms, uint8_t *out, size_t cap)
{
	uint64_t now = uv_now(s->loop);
	struct dns_cache_entry *e = dns_cache_get(&s->cache, cl->qname, cl->qtype, cl->qclass, now);
	if (e) {
		s->cache.hits++;
		if (cl->kind == DNS_FWD_RESOLVER) {
			dns_resolver_deliver(s, cl, e, TB_RESOLVE_OK, NULL);
			return 0;
		}
		return dns_fwd_answer(s, cl, e, 0, 0xffff, NULL, now, out, cap);
	}
	s->cache.misses++;
	if (s->n_fwds >= DNS_FWD_INFLIGHT_MAX || s->stopping) {
		if (cl->kind == DNS_FWD_RESOLVER) {
			dns_resolver_deliver(s, cl, NULL, TB_RESOLVE_SERVFAIL, "too many queries in flight");
			return 0;
		}
		return dns_fwd_answer(s, cl, NULL, DNS_RCODE_SERVFAIL, DNS_EDE_OTHER, "too many queries in flight",
			now, out, cap);
	}
	struct dns_fwd *q = calloc(1, sizeof *q);
	if (!q)
		return 0;
	q->s = s;
	q->cl = *cl;
	q->f = f;
	q->deadline = now + timeout_ms;
	uint32_t r;
	tb_random(&r, sizeof r);
	q->server = (int)(r % f->n);
	int nl = dns_name_len(cl->qname, DNS_NAME_MAX);
	memcpy(q->sent_name, cl->qname, (size_t)nl);
	if (s->use_0x20) {
		uint8_t bits[32];
		tb_random(bits, sizeof bits);
		for (int i = 0; i < nl; i++) {
			uint8_t c = q->sent_name[i];
			int letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
			if (letter)
				q->sent_name[i] = (uint8_t)((bits[i % 32] >> (i % 8)) & 1 ? (c & ~0x20) : (c | 0x20));
		}
		/* length octets are never letters (< 64), so the wire form stays valid */
	}
	struct dns_builder b;
	dns_builder_init(&b, q->query, sizeof q->query, 0, DNS_F_RD | (cl->flags & DNS_F_CD));
	dns_builder_question(&b, q->sent_name, cl->qtype, cl->qclass);
	dns_builder_opt(&b, DNS_UDP_PAYLOAD, 0, 0, NULL, 0, 0);
	q->query_len = dns_builder_finish(&b);
	uv_timer_init(s->loop, &q->timer);
	q->timer.data = q;
	q->next = s->fwds;
	if (s->fwds)
		s->fwds->prev = q;
	s->fwds = q;
	s->n_fwds++;
	fwd_try(q);
	return 0;
}

void dns_forward_forget(struct dns_server *s, const void *transport)
{
	for (struct dns_fwd *q = s->fwds; q; q = q->next)
		if (q->cl.reply.transport == transport)
			q->cl.reply.send = NULL;
}

void dns_forward_stop(struct dns_server *s)
{
	while (s->fwds) {
		struct dns_fwd *q = s->fwds;
		fwd_finish(q, NULL, DNS_RCODE_SERVFAIL, DNS_EDE_OTHER, "server stopping", TB_RESOLVE_ERROR);
	}
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
