/*
 * DESIGN: forwarding.
 *
 * A name outside the local zones, from a client allowed to recurse, goes to
 * the forwarder whose zone is the longest match. First the cache
 * (dns_cache_lookup in cache.c, shared with iterate.c, which also starts
 * prefetches). On
 * a miss a query state (struct dns_fwd) sends one upstream query from its own
 * UDP socket (the kernel picks a random source port) with a random ID and,
 * optionally, a randomised qname case (0x20) that the answer must echo; it
 * retries the next server on timeout, SERVFAIL or REFUSED, switches to TCP
 * when the answer is truncated, and gives up at the deadline with SERVFAIL and
 * an Extended DNS Error -- or, when the cache still holds an expired entry
 * inside the serve-stale window, with that (RFC 8767: TTL 30, EDE 3). The
 * same state serves a client (UDP/TCP answer) or the tb_resolver service
 * (callback), so iteration replaces the upstream step without changing
 * either end. With dns.dnssec = "validate" the query carries DO and CD and
 * the answer is validated here before it is answered or cached: the lookups
 * the chain of trust needs (DS, DNSKEY, SOA) are child query states sent to
 * the same forwarder (fwd_validate).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/crypto.h"
#include "core/error.h"
#include "core/log.h"
#include "dns/dns.h"
#include "dns/dns_internal.h"
#include "dns/dnssec.h"
#include "dns/metrics.h"

#define DNS_FWD_ATTEMPTS_MAX 4      /* upstream attempts per query */
#define DNS_FWD_VAL_FETCHES_MAX 48  /* DS, DNSKEY and SOA lookups to validate one forwarded answer */
#define DNS_FWD_VAL_WAIT_MAX 8      /* zones waiting for the cut above them to be known */

enum fwd_fetch { FETCH_NONE, FETCH_KEYS, FETCH_DS, FETCH_SOA };

static inline uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
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
	double sent_at;                  /* tb_metrics_now() at the attempt: upstream latency */
	/* validation of the answer (dns.dnssec = "validate"): see fwd_validate */
	int dnssec;                      /* asked with DO and CD: the answer is validated here */
	int validating;                  /* the answer is in; lookups for the chain of trust run */
	struct dns_val *val;
	struct tb_bytes chain;           /* the answer's records (a fetch's: its own) in chain form */
	struct dns_cache_entry *e;       /* the answer, held while it is validated */
	int rcode;                       /* its RCODE */
	uint32_t ttl;                    /* its cache TTL (0: not kept) */
	int probed;                      /* the zone of an unsigned answer was looked up */
	unsigned fetches;
	size_t n_wait;                   /* zones whose DS is asked again once the cut above is known */
	uint8_t wait[DNS_FWD_VAL_WAIT_MAX][DNS_NAME_MAX];
	struct dns_fwd *parent, *child;  /* a fetch and the query it serves */
	enum fwd_fetch fetch;
	uv_timer_t stale_timer;          /* RFC 8767 5: the client-response timer */
	int stale_timer_open;
	int answered_stale;              /* the client has had stale data; the answer only fills the cache */
};

static void fwd_handle_closed(uv_handle_t *h)
{
	struct dns_fwd *q = h->data;
	if (--q->handles > 0)
		return;
	struct dns_server *s = q->s;
	int counted = q->counted;
	free(q->tcp_buf);
	if (q->val) {
		dns_val_free(q->val);
		free(q->val);
	}
	tb_bytes_free(&q->chain);
	free(q->e);
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
	if (q->stale_timer_open) {
		q->handles++;
		uv_close((uv_handle_t *)&q->stale_timer, fwd_handle_closed);
	}
}

/* RFC 8767 5: resolution is taking long and expired data is at hand: answer with it, keep resolving. */
static void fwd_stale_timeout(uv_timer_t *t)
{
	struct dns_fwd *q = t->data;
	if (!q->finished && !q->answered_stale)
		q->answered_stale = dns_fwd_send_stale(q->s, &q->cl);
}

static void fetch_done(struct dns_fwd *p, struct dns_fwd *c, int rcode);

/* Delivers the outcome to whoever asked, then closes the query. */
static void fwd_finish(struct dns_fwd *q, const struct dns_cache_entry *e, int rcode, uint16_t ede,
	const char *why, enum tb_resolve_status rstat)
{
	struct dns_server *s = q->s;
	if (q->finished)
		return;
	q->finished = 1;
	uint64_t now = uv_now(s->loop);
	if (q->child) {
		/* a lookup for the chain of trust still running: nobody wants it any more */
		struct dns_fwd *c = q->child;
		q->child = NULL;
		c->parent = NULL;
		c->finished = 1;
		fwd_release(c);
	}
	if (q->parent) {
		struct dns_fwd *p = q->parent;
		q->parent = NULL;
		p->child = NULL;
		fwd_release(q);
		fetch_done(p, q, rcode);
		return;
	}
	if (q->cl.kind == DNS_FWD_RESOLVER) {
		dns_resolver_deliver(s, &q->cl, e, rstat, why);
	} else if (!q->answered_stale) {
		static uint8_t out[65535];
		size_t cap = q->cl.kind == DNS_FWD_TCP ? sizeof out : q->cl.cap;
		size_t n = 0;
		if (!e && rcode == DNS_RCODE_SERVFAIL && ede == DNS_EDE_NO_REACHABLE_AUTHORITY)
			n = dns_fwd_answer_stale(s, &q->cl, now, out, cap);
		if (!n)
			n = dns_fwd_answer(s, &q->cl, e, rcode, ede, why, now, out, cap);
		if (q->cl.reply.send)
			q->cl.reply.send(&q->cl.reply, out, n);
	}
	fwd_release(q);
}

static void fwd_try(struct dns_fwd *q);
static void fwd_validate(struct dns_fwd *q);
static struct dns_fwd *fwd_new(struct dns_server *s, const struct dns_forwarder *f,
	const struct dns_fwd_client *cl, uint64_t deadline);

/* The answer and authority records of m in chain form (validate.c's: section, owner, type, ...). */
static void msg_chain(const struct dns_msg *m, struct tb_bytes *out)
{
	size_t k = m->n_rr[DNS_SEC_ANSWER] + m->n_rr[DNS_SEC_AUTHORITY];
	for (size_t i = 0; i < k; i++) {
		const struct dns_rr *rr = &m->rr[i];
		if (rr->type == DNS_T_OPT || rr->type == DNS_T_TSIG)
			continue;
		tb_bytes_u8(out, (uint8_t)(i < m->n_rr[DNS_SEC_ANSWER] ? DNS_SEC_ANSWER : DNS_SEC_AUTHORITY));
		tb_bytes_append(out, rr->owner, (size_t)dns_name_len(rr->owner, DNS_NAME_MAX));
		tb_bytes_u16(out, rr->type);
		tb_bytes_u16(out, rr->rclass);
		tb_bytes_u32(out, rr->ttl);
		tb_bytes_vec(out, 2, rr->rdata, rr->rdlen);
	}
}

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
	if (n < 12 || rd16(p) != q->id || !(p[2] & 0x80) || q->validating)
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
	dns_metrics_upstream(q->sent_at, "forward");
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
	uv_timer_stop(&q->timer);
	if (q->parent) {
		/* a lookup for the chain of trust: its records go to the query it serves */
		msg_chain(&m, &q->chain);
		dns_msg_free(&m);
		fwd_finish(q, NULL, rcode, 0xffff, NULL, TB_RESOLVE_OK);
		return;
	}
	uint64_t now = uv_now(s->loop);
	uint32_t ttl = 0;
	struct dns_cache_entry *e = dns_cache_entry_from_msg(&m, q->cl.qname, q->cl.qtype, q->cl.qclass, now, &ttl);
	if (e && q->dnssec && !(q->cl.flags & DNS_F_CD)) {
		msg_chain(&m, &q->chain);
		dns_msg_free(&m);
		q->e = e;
		q->rcode = rcode;
		q->ttl = ttl;
		q->validating = 1;
		fwd_validate(q);
		return;
	}
	dns_msg_free(&m);
	if (!e) {
		fwd_finish(q, NULL, DNS_RCODE_SERVFAIL, DNS_EDE_OTHER, "answer too large to keep",
			TB_RESOLVE_ERROR);
		return;
	}
	fwd_finish(q, e, rcode, 0xffff, NULL, TB_RESOLVE_OK);
	/* data a CD client had unchecked is not kept: the next client may want it validated */
	if (ttl > 0 && s->cache.max && !(q->dnssec && (q->cl.flags & DNS_F_CD)))
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
	if (q->finished || q->validating)
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
	q->sent_at = tb_metrics_now();
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

/* ---- validating forwarded answers ---- */

/* The owner of the first SOA record of a chain into out; 0 when there is none. */
static int chain_soa_owner(const struct tb_bytes *c, uint8_t *out)
{
	for (size_t o = 0; o < c->len;) {
		const uint8_t *r = c->p + o;
		size_t ol = (size_t)dns_name_len(r + 1, DNS_NAME_MAX);
		const uint8_t *f = r + 1 + ol;
		if (rd16(f) == DNS_T_SOA) {
			memcpy(out, r + 1, ol);
			return 1;
		}
		o += 1 + ol + 10 + rd16(f + 8);
	}
	return 0;
}

/* The signer of the first RRSIG of a chain into out; 0 when nothing is signed. */
static int chain_signer(const uint8_t *p, size_t len, uint8_t *out)
{
	for (size_t o = 0; o < len;) {
		const uint8_t *r = p + o;
		size_t ol = (size_t)dns_name_len(r + 1, DNS_NAME_MAX);
		const uint8_t *f = r + 1 + ol;
		uint16_t rdlen = rd16(f + 8);
		struct dnssec_rrsig sig;
		if (rd16(f) == DNS_T_RRSIG && dnssec_rrsig_parse(f + 10, rdlen, &sig) == 0) {
			memcpy(out, sig.signer, (size_t)dns_name_len(sig.signer, DNS_NAME_MAX));
			return 1;
		}
		o += 1 + ol + 10 + rdlen;
	}
	return 0;
}

/* Starts one lookup for the chain of trust (DO and CD, the query's forwarder and deadline). */
static void fetch(struct dns_fwd *q, const uint8_t *name, uint16_t type, enum fwd_fetch what)
{
	struct dns_server *s = q->s;
	if (q->fetches++ >= DNS_FWD_VAL_FETCHES_MAX || s->stopping || s->n_fwds >= DNS_FWD_INFLIGHT_MAX) {
		free(q->e);
		q->e = NULL;
		fwd_finish(q, NULL, DNS_RCODE_SERVFAIL, DNSSEC_EDE_INDETERMINATE,
			"DNSSEC validation needed too many lookups", TB_RESOLVE_SERVFAIL);
		return;
	}
	struct dns_fwd_client cl;
	memset(&cl, 0, sizeof cl);
	cl.kind = DNS_FWD_RESOLVER; /* never delivered: the outcome goes to fetch_done */
	memcpy(cl.qname, name, (size_t)dns_name_len(name, DNS_NAME_MAX));
	cl.qtype = type;
	cl.qclass = DNS_C_IN;
	cl.flags = DNS_F_RD;
	struct dns_fwd *c = fwd_new(s, q->f, &cl, q->deadline);
	if (!c) {
		free(q->e);
		q->e = NULL;
		fwd_finish(q, NULL, DNS_RCODE_SERVFAIL, DNS_EDE_OTHER, "out of memory", TB_RESOLVE_ERROR);
		return;
	}
	c->parent = q;
	c->fetch = what;
	q->child = c;
	fwd_try(c);
}

/* Asks name's DS when it is a zone cut not known yet below a secure zone; 1 when asked. */
static int want_cut(struct dns_fwd *q, const uint8_t *name)
{
	const struct dns_val_zone *above = dns_val_zone_of(q->val, name);
	if (dns_val_find(q->val, name) || !above || !above->done || above->st != DNSSEC_SECURE)
		return 0;
	fetch(q, name, DNS_T_DS, FETCH_DS);
	return 1;
}

/* A lookup for p's chain of trust ended (rcode, records in c->chain). */
static void fetch_done(struct dns_fwd *p, struct dns_fwd *c, int rcode)
{
	if (p->finished)
		return;
	int ok = rcode == DNS_RCODE_NOERROR || rcode == DNS_RCODE_NXDOMAIN;
	const uint8_t *rec = c->chain.p;
	size_t len = ok ? c->chain.len : 0;
	uint8_t name[DNS_NAME_MAX];
	if (c->fetch == FETCH_KEYS) {
		dns_val_keys(p->val, c->cl.qname, rec, rcode == DNS_RCODE_NOERROR ? len : 0);
	} else if (c->fetch == FETCH_SOA) {
		struct tb_bytes b = { (uint8_t *)rec, len, len, 0 };
		if (chain_soa_owner(&b, name) && want_cut(p, name))
			return;
	} else {
		/* a DS (or its denial) signed by a zone not known yet: that zone's cut first, then this one again */
		if (chain_signer(rec, len, name) && !dns_val_find(p->val, name) &&
			dns_name_is_sub(c->cl.qname, name) && !dns_name_eq(c->cl.qname, name) &&
			p->n_wait < DNS_FWD_VAL_WAIT_MAX) {
			memcpy(p->wait[p->n_wait++], c->cl.qname, (size_t)dns_name_len(c->cl.qname, DNS_NAME_MAX));
			if (want_cut(p, name))
				return;
			p->n_wait--;
		}
		const struct dns_val_zone *above = dns_val_zone_of(p->val, c->cl.qname);
		if (above) {
			memcpy(name, above->name, (size_t)dns_name_len(above->name, DNS_NAME_MAX));
			dns_val_cut_ds(p->val, c->cl.qname, name, rec, len);
		}
	}
	fwd_validate(p);
}

/*
 * The chain of trust for a forwarded answer (RFC 4035 5), with validate.c's
 * checks. A forwarder gives no referrals, so the zone cuts come from the data:
 * each RRSIG signer below the zones known is a cut whose DS is asked
 * (dns_val_need_ds); a DS signed by a zone not known yet waits while that
 * zone's DS is asked first (up to a known zone, then down again); for an
 * answer without any signature, the zone is named by its SOA (asked for when
 * the answer has none), and its DS or the proof there is none says whether it
 * is insecure or had its signatures stripped. DNSKEY sets are fetched when
 * dns_val_step asks. Every lookup goes to the same forwarder with DO and CD,
 * within the query's deadline and DNS_FWD_VAL_FETCHES_MAX.
 */
static void fwd_validate(struct dns_fwd *q)
{
	struct dns_server *s = q->s;
	uint64_t now = (uint64_t)tb_time_now();
	uint8_t name[DNS_NAME_MAX];
	struct dns_val_zone *z = dns_val_step(q->val, s, now);
	if (z) {
		memcpy(name, z->name, (size_t)dns_name_len(z->name, DNS_NAME_MAX));
		fetch(q, name, DNS_T_DNSKEY, FETCH_KEYS);
		return;
	}
	if (q->n_wait) {
		q->n_wait--;
		if (want_cut(q, q->wait[q->n_wait]))
			return;
		fwd_validate(q);
		return;
	}
	if (dns_val_need_ds(q->val, q->chain.p, q->chain.len, name)) {
		fetch(q, name, DNS_T_DS, FETCH_DS);
		return;
	}
	if (!q->probed && !chain_signer(q->chain.p, q->chain.len, name)) {
		q->probed = 1;
		if (!chain_soa_owner(&q->chain, name)) {
			fetch(q, q->cl.qname, DNS_T_SOA, FETCH_SOA);
			return;
		}
		if (want_cut(q, name))
			return;
	}
	uint16_t ede = 0;
	enum dnssec_status st = dns_val_answer(q->val, s, q->chain.p, q->chain.len, q->cl.qname, q->cl.qtype,
		q->rcode, now, &ede);
	dns_metrics_dnssec((int)st);
	char nb[DNS_NAME_TEXT_MAX];
	TB_DEBUG("dns", "validating forwarded %s: %s (EDE %u, %u lookups)", dns_name_str(q->cl.qname, nb, sizeof nb),
		dnssec_status_str(st), ede, q->fetches);
	struct dns_cache_entry *e = q->e;
	q->e = NULL;
	if (st == DNSSEC_BOGUS) {
		free(e);
		fwd_finish(q, NULL, DNS_RCODE_SERVFAIL, ede ? ede : DNSSEC_EDE_BOGUS, q->val->budget.exhausted
			? "DNSSEC validation limit reached (dnssec_* limits)" : "DNSSEC validation failed",
			TB_RESOLVE_SERVFAIL);
		return;
	}
	dns_cache_entry_set_secure(e, st == DNSSEC_SECURE);
	uint32_t ttl = q->ttl;
	fwd_finish(q, e, q->rcode, 0xffff, NULL, TB_RESOLVE_OK);
	if (ttl > 0 && s->cache.max)
		dns_cache_put(&s->cache, e);
	else
		free(e);
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
	struct dns_cache_entry *e = dns_cache_lookup(s, cl, now);
	if (e) {
		if (cl->kind == DNS_FWD_RESOLVER) {
			dns_resolver_deliver(s, cl, e, TB_RESOLVE_OK, NULL);
			return 0;
		}
		return dns_fwd_answer(s, cl, e, 0, 0xffff, NULL, now, out, cap);
	}
	if (s->n_fwds >= DNS_FWD_INFLIGHT_MAX || s->stopping) {
		if (cl->kind == DNS_FWD_RESOLVER) {
			dns_resolver_deliver(s, cl, NULL, TB_RESOLVE_SERVFAIL, "too many queries in flight");
			return 0;
		}
		return dns_fwd_answer(s, cl, NULL, DNS_RCODE_SERVFAIL, DNS_EDE_OTHER, "too many queries in flight",
			now, out, cap);
	}
	struct dns_fwd *q = fwd_new(s, f, cl, now + timeout_ms);
	if (!q) {
		/* answered, never dropped: a DoH request would otherwise wait for nothing */
		if (cl->kind == DNS_FWD_RESOLVER) {
			dns_resolver_deliver(s, cl, NULL, TB_RESOLVE_SERVFAIL, "out of memory");
			return 0;
		}
		return dns_fwd_answer(s, cl, NULL, DNS_RCODE_SERVFAIL, DNS_EDE_OTHER, "out of memory", now, out,
			cap);
	}
	if (q->dnssec && !(cl->flags & DNS_F_CD)) {
		if (!(q->val = calloc(1, sizeof *q->val))) {
			fwd_finish(q, NULL, DNS_RCODE_SERVFAIL, DNS_EDE_OTHER, "out of memory", TB_RESOLVE_ERROR);
			return 0;
		}
		dns_val_init(q->val, s);
		static const struct dns_nsset none;
		dns_val_cut(q->val, NULL, (const uint8_t *)"", &none, NULL, 0);
	}
	if (cl->kind != DNS_FWD_RESOLVER && s->cache.stale_ms &&
		dns_cache_get_stale(&s->cache, cl->qname, cl->qtype, cl->qclass, now)) {
		uv_timer_init(s->loop, &q->stale_timer);
		q->stale_timer.data = q;
		q->stale_timer_open = 1;
		uv_timer_start(&q->stale_timer, fwd_stale_timeout, DNS_STALE_CLIENT_MS, 0);
	}
	fwd_try(q);
	return 0;
}

/*
 * A query state for cl's question, listed and ready for fwd_try. With
 * validation on it asks with DO and CD (the upstream's own verdict is not
 * ours to take: the answer is checked here, RFC 4035 4.9).
 */
static struct dns_fwd *fwd_new(struct dns_server *s, const struct dns_forwarder *f,
	const struct dns_fwd_client *cl, uint64_t deadline)
{
	struct dns_fwd *q = calloc(1, sizeof *q);
	if (!q)
		return NULL;
	q->s = s;
	q->cl = *cl;
	q->f = f;
	q->deadline = deadline;
	q->dnssec = s->dnssec;
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
	dns_builder_init(&b, q->query, sizeof q->query, 0,
		(uint16_t)(DNS_F_RD | (q->dnssec ? DNS_F_CD : (cl->flags & DNS_F_CD))));
	dns_builder_question(&b, q->sent_name, cl->qtype, cl->qclass);
	dns_builder_opt(&b, DNS_UDP_PAYLOAD, 0, q->dnssec ? DNS_EDNS_DO : 0, NULL, 0, 0);
	q->query_len = dns_builder_finish(&b);
	uv_timer_init(s->loop, &q->timer);
	q->timer.data = q;
	q->next = s->fwds;
	if (s->fwds)
		s->fwds->prev = q;
	s->fwds = q;
	s->n_fwds++;
	return q;
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
