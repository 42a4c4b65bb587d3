/*
 * DESIGN: iterative resolution from the root hints (RFC 1034 5.3.3).
 *
 * A name outside the local zones and the forward zones, from a client allowed
 * to recurse, is resolved here when `dns.iterate` is on. First the cache
 * (shared with forward.c, keyed on the client's question); on a miss a query
 * state (struct dns_iter) starts at the closest zone cut kept for the name
 * (deleg.c; when validating, one whose verdict validate.c keeps) or else at
 * the root servers (the hints, replaced by the root's own NS set once primed)
 * and asks one server at a time, the
 * fastest known first (infra.c), for the question without RD, minimised
 * (RFC 9156: only the next label below the zone cut, type A, until the next
 * label is the last; relaxed: NXDOMAIN or an error for a minimised name makes
 * the same server get the full question):
 *   - an answer for the name at the current zone cut ends it (the answer's
 *     records owned by names under that zone, nothing else);
 *   - a CNAME is followed inside the same answer while its owner stays in the
 *     zone, then from the closest kept cut for the target (a new zone), up to
 *     `cname_max` links; a DNAME above the name counts as one, with the CNAME
 *     it implies made here (RFC 6672), never the server's;
 *   - a referral (no AA, NS records for a zone strictly below the current one
 *     and above the name) moves the zone cut down; its glue (A/AAAA in the
 *     additional section) is used only for NS names under the zone of the
 *     server that sent it (RFC 2181 5.4.1: anything else is not that server's
 *     to say), so out-of-bailiwick glue is ignored and its NS is resolved as
 *     glueless: a child query (NS name, A, then AAAA when it has no A) from
 *     its closest kept cut, with the same budget; the referral's NS set and
 *     the glue taken are kept in the cut cache (deleg.c, with their RFC 2181
 *     ranks), and so are the addresses such a child query finds and the NS
 *     set a zone's servers give for their own zone in authoritative answers;
 *   - an authoritative NXDOMAIN or NODATA ends it (the SOA for the negative
 *     TTL must be the zone's);
 *   - anything else (an upward or sideways referral, SERVFAIL, REFUSED, a
 *     non-authoritative answer, a timeout) marks the server lame for this
 *     query and the next one is tried; when every server of a kept cut failed,
 *     the cut is dropped and the query goes on from the cut above.
 * Only the final answer is cached for clients (as forward.c does), so records
 * a server is not authoritative for are never served from the cache.
 *
 * Anti-spoofing: every upstream query has a random ID and its own UDP socket
 * (the kernel's random source port); an answer is accepted only from the
 * address and port it was sent to, with that ID, the QR bit and the same
 * question, in the random case it was sent in (0x20; a server that answers
 * but never in our case is asked again in lower case). A truncated answer is
 * asked again over TCP; FORMERR or NOTIMP to EDNS, again without OPT. What a
 * server needed (no EDNS, no 0x20), its RTT and its back-off are kept across
 * queries in the server table (infra.c).
 *
 * Limits (SERVFAIL with an Extended DNS Error when exceeded): upstream
 * queries per client query, child queries included (`iterate_queries_max`,
 * the NXNS defence), referrals followed (`iterate_referrals_max`), the CNAME
 * chain (`cname_max`), NS names resolved per delegation
 * (`iterate_ns_lookups_max`), nested NS resolutions (DNS_ITER_DEPTH_MAX), the
 * total time (`forward_timeout_ms`, per attempt `forward_attempt_ms`).
 *
 * Protocol only: the outcome goes to the client's reply callback or to the
 * resolver service (dns_resolver_deliver), never to a transport directly.
 *
 * DNSSEC (dns.dnssec = "validate"): queries carry DO; the RRSIGs of the
 * answer and the NSEC/NSEC3 records of negative and wildcard answers join the
 * outcome; each referral is handed to the chain of trust (validate.c) with its
 * DS or its proof of none; once the answer is in, iter_validate fetches the
 * DNSKEY sets (and the DS of zones met without a referral) the chain needs,
 * one child query at a time with the same budget, and the verdict decides:
 * secure (AD for clients that ask), insecure, or bogus (SERVFAIL with EDE,
 * unless the client set CD; never cached).
 *
 * Size: past 900 lines on purpose. The resolution state machine, its budget
 * (queries, referrals, CNAMEs, NS lookups), the validation fetches (child
 * queries like the NS lookups) and its upstream exchange share one query
 * struct; what does not (the root hints and NS sets: hints.c; the per-server
 * estimates and server selection: infra.c) lives apart. The exchange could
 * join forward.c's in a shared file later.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/crypto.h"
#include "core/error.h"
#include "core/log.h"
#include "dns/dns.h"
#include "dns/dns_internal.h"
#include "dns/metrics.h"
#include "dns/dnssec.h"

#define DNS_ITER_DEPTH_MAX 3       /* nested NS address lookups (a glueless NS of a glueless NS...) */
#define DNS_QMIN_MAX 10            /* minimised queries per name (as Unbound's MAX_MINIMISE_COUNT) */
#define DNS_QMIN_ONE_LABEL 4       /* the first ones add one label each (MINIMISE_ONE_LAB) */

static inline uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* ---- query state ---- */

/*
 * The socket of one exchange. Each exchange gets a fresh one (a new random
 * source port), and a closed one may still have callbacks to run, so it is
 * its own allocation; callbacks of a socket that is no longer the query's
 * current one are ignored. The query lives until all of its sockets closed.
 */
struct iter_sock {
	struct dns_iter *q;
	int tcp;
	union {
		uv_udp_t udp;
		uv_tcp_t tcp;
		uv_handle_t h;
	} u;
	uv_connect_t creq;
	uv_write_t wreq;
};

struct dns_iter {
	struct dns_server *s;
	struct dns_iter *prev, *next;   /* the server's list of top-level queries */
	struct dns_iter *parent;        /* set: this resolves an NS address for parent */
	struct dns_iter *child;         /* the NS address lookup this one waits for */
	struct dns_iter *top;           /* owner of the budget (itself at the top) */
	int depth;                      /* 0 at the top, +1 per nested NS lookup */
	struct dns_fwd_client cl;       /* the top's client */
	/* what is being resolved now (after CNAMEs) */
	uint8_t qname[DNS_NAME_MAX];
	uint16_t qtype;
	double sent_at;                 /* tb_metrics_now() at the exchange: upstream latency */
	/* where: the zone cut and its servers */
	uint8_t zone[DNS_NAME_MAX];
	struct dns_nsset ns;
	uint8_t tried[DNS_NSSET_MAX];   /* bit per address: tried for this zone */
	uint8_t looked_up[DNS_NSSET_MAX]; /* address lookups done for this NS: 1 A, 2 AAAA */
	size_t ns_lookups;              /* NS names resolved for this delegation */
	int cur_ns, cur_addr;
	int cut_cached;                 /* this zone's servers came from the cut cache (deleg.c) */
	/* the outcome so far: CNAMEs followed, then the final records */
	struct tb_bytes chain;          /* records: owner, type, class, ttl, rdlen, rdata */
	size_t cnames;
	/* budget, counted at the top */
	size_t queries, referrals;
	uint64_t deadline;
	/* the one upstream exchange in flight */
	uint16_t id;
	struct sockaddr_storage to;
	uint8_t query[512];
	size_t query_len;
	struct iter_sock *sock;          /* its socket; closed ones finish closing on their own */
	uv_timer_t timer;
	int via_tcp;
	/* QNAME minimisation (RFC 9156): what this exchange asks */
	uint8_t ask[DNS_NAME_MAX];      /* qname, or its ancestor one or more labels below the zone */
	uint16_t ask_type;              /* qtype, or A for an ancestor */
	int minimised;                  /* ask is an ancestor of qname */
	int qmin_labels;                /* labels below the zone asked next (1 at each new zone) */
	int qmin_count;                 /* minimised queries for this qname */
	int qmin_off;                   /* given up for this qname: a server broke on a minimised query */
	uint8_t sent[DNS_NAME_MAX];     /* ask as sent: its case randomised (0x20) */
	int use_0x20;                   /* the exchange in flight randomised it */
	int no_0x20;                    /* this server is asked in lower case */
	int case_mismatch;              /* an answer with our ID came back in another case */
	int case_retry;                 /* this server is asked without 0x20 because of one */
	int no_edns;                    /* this server is asked without an OPT record */
	int edns_retry;                 /* ...because it answered FORMERR/NOTIMP to one just now */
	int handles, finished, counted, listed;
	uint8_t *tcp_buf;
	size_t tcp_len;
	uint8_t tcp_hdr[2];
	/* DNSSEC (dns.dnssec = "validate"): the top query's chain of trust */
	struct dns_val *val;
	int val_done;                   /* the verdict is in: finish for real */
	int val_rcode;                  /* the answer's rcode, kept while keys are fetched */
	enum dnssec_status val_status;
	uint16_t val_ede;
	int fetch_keys;                 /* this child fetches a DNSKEY set for its parent's chain */
	int fetch_ds;                   /* this child fetches the DS of a zone met without a referral */
	uint8_t ds_above[DNS_NAME_MAX]; /* the zone whose servers it asks */
	/* serve-stale (RFC 8767 5): the top query's client-response timer */
	uv_timer_t stale_timer;
	int stale_timer_open;
	int answered_stale;             /* the client has had stale data; the outcome only fills the cache */
	uint8_t rbuf[4096];
};

static void iter_next(struct dns_iter *q);
static void iter_start_zone(struct dns_iter *q, const struct dns_nsset *set, const uint8_t *zone);
static void iter_start_closest(struct dns_iter *q);

static void iter_handle_closed(uv_handle_t *h)
{
	struct dns_iter *q = h->data;
	if (--q->handles > 0)
		return;
	struct dns_server *s = q->s;
	int counted = q->counted;
	tb_bytes_free(&q->chain);
	if (q->val) {
		dns_val_free(q->val);
		free(q->val);
	}
	free(q->tcp_buf);
	free(q);
	if (counted && --s->closing == 0 && s->stop_done)
		s->stop_done(s->stop_arg);
}

static void sock_closed(uv_handle_t *h)
{
	struct iter_sock *k = h->data;
	struct dns_iter *q = k->q;
	free(k);
	iter_handle_closed((uv_handle_t *)&q->timer);
}

/* Closes the exchange's socket (the query goes on with a fresh one). */
static void iter_close_sockets(struct dns_iter *q)
{
	struct iter_sock *k = q->sock;
	if (!k)
		return;
	q->sock = NULL;
	q->handles++;
	uv_close(&k->u.h, sock_closed);
}

static void iter_release(struct dns_iter *q)
{
	struct dns_server *s = q->s;
	if (q->listed) {
		q->listed = 0;
		if (q->prev)
			q->prev->next = q->next;
		else
			s->iters = q->next;
		if (q->next)
			q->next->prev = q->prev;
		s->n_iters--;
	}
	if (s->stopping && !q->counted) {
		q->counted = 1;
		s->closing++;
	}
	uv_timer_stop(&q->timer);
	iter_close_sockets(q);
	if (q->stale_timer_open) {
		q->stale_timer_open = 0;
		q->handles++;
		uv_close((uv_handle_t *)&q->stale_timer, iter_handle_closed);
	}
	uv_close((uv_handle_t *)&q->timer, iter_handle_closed); /* the handle counted since iter_new */
}

/* RFC 8767 5: resolution is taking long and expired data is at hand: answer with it, keep resolving. */
static void iter_stale_timeout(uv_timer_t *t)
{
	struct dns_iter *q = t->data;
	if (!q->finished && !q->answered_stale)
		q->answered_stale = dns_fwd_send_stale(q->s, &q->cl);
}

static void child_done(struct dns_iter *parent, struct dns_iter *child, int rcode);

/* Ends an NS lookup nobody waits for any more (its parent ended), with its own lookups. */
static void iter_abort(struct dns_iter *c)
{
	if (c->child)
		iter_abort(c->child);
	c->child = NULL;
	c->parent = NULL;
	c->finished = 1;
	iter_release(c);
}

/*
 * The end of a query: rcode and the collected records (chain) for the top
 * query's client or for the parent waiting on this NS lookup.
 */
static void iter_validate(struct dns_iter *q);

static void iter_finish(struct dns_iter *q, int rcode, uint16_t ede, const char *why)
{
	struct dns_server *s = q->s;
	if (q->finished)
		return;
	if (q->val && !q->val_done && !q->parent && (rcode == DNS_RCODE_NOERROR || rcode == DNS_RCODE_NXDOMAIN)) {
		/* the answer is in: judge it (fetching DNSKEY sets as the chain of trust needs them) */
		q->val_rcode = rcode;
		iter_validate(q);
		return;
	}
	q->finished = 1;
	if (q->child)
		iter_abort(q->child);
	q->child = NULL;
	if (q->parent) {
		struct dns_iter *p = q->parent;
		child_done(p, q, rcode);
		iter_release(q);
		return;
	}
	uint64_t now = uv_now(s->loop);
	struct dns_cache_entry *e = NULL;
	uint32_t ttl = 0;
	if (rcode == DNS_RCODE_NOERROR || rcode == DNS_RCODE_NXDOMAIN) {
		/* the collected records as one message, so the cache and the answer code see what forward.c gives them */
		static uint8_t msg[65535];
		struct dns_builder b;
		dns_builder_init(&b, msg, sizeof msg, 0, (uint16_t)(DNS_F_QR | rcode));
		dns_builder_question(&b, q->cl.qname, q->cl.qtype, q->cl.qclass);
		int err = 0;
		for (size_t o = 0; o < q->chain.len && !err;) {
			const uint8_t *p = q->chain.p + o;
			int sec = p[0];
			size_t ol = (size_t)dns_name_len(p + 1, DNS_NAME_MAX);
			const uint8_t *f = p + 1 + ol;
			uint16_t rdlen = rd16(f + 8);
			err = dns_builder_rr(&b, sec, p + 1, rd16(f), rd16(f + 2),
				(uint32_t)rd16(f + 4) << 16 | rd16(f + 6), f + 10, rdlen);
			o += 1 + ol + 10 + rdlen;
		}
		struct dns_msg m;
		size_t n = dns_builder_finish(&b);
		if (!err && q->chain.err == 0 && dns_msg_parse(&m, msg, n) == 0) {
			e = dns_cache_entry_from_msg(&m, q->cl.qname, q->cl.qtype, q->cl.qclass, now, &ttl);
			dns_msg_free(&m);
		}
		if (e && q->val_done)
			dns_cache_entry_set_secure(e, q->val_status == DNSSEC_SECURE);
		if (!e) {
			rcode = DNS_RCODE_SERVFAIL;
			ede = DNS_EDE_OTHER;
			why = "answer too large to keep";
		}
	}
	if (rcode == DNS_RCODE_SERVFAIL) {
		char nb[DNS_NAME_TEXT_MAX];
		TB_DEBUG("dns", "iterating %s: SERVFAIL: %s", dns_name_str(q->cl.qname, nb, sizeof nb),
			why ? why : "");
	}
	if (q->cl.kind == DNS_FWD_RESOLVER) {
		dns_resolver_deliver(s, &q->cl, e, e ? TB_RESOLVE_OK : TB_RESOLVE_SERVFAIL, why);
	} else if (!q->answered_stale) {
		static uint8_t out[65535];
		size_t cap = q->cl.kind == DNS_FWD_TCP ? sizeof out : q->cl.cap;
		size_t n = 0;
		if (!e && ede == DNS_EDE_NO_REACHABLE_AUTHORITY) /* serve-stale (RFC 8767) */
			n = dns_fwd_answer_stale(s, &q->cl, now, out, cap);
		if (!n)
			n = dns_fwd_answer(s, &q->cl, e, rcode, e ? 0xffff : ede, why, now, out, cap);
		if (q->cl.reply.send)
			q->cl.reply.send(&q->cl.reply, out, n);
	}
	if (e && ttl > 0 && s->cache.max && !(q->val_done && q->val_status == DNSSEC_BOGUS))
		dns_cache_put(&s->cache, e);
	else
		free(e);
	iter_release(q);
}

static void iter_fail(struct dns_iter *q, uint16_t ede, const char *why)
{
	iter_finish(q, DNS_RCODE_SERVFAIL, ede, why);
}

/* Appends one record to the outcome (section sec). */
static void chain_put(struct dns_iter *q, int sec, const struct dns_rr *rr)
{
	int ol = dns_name_len(rr->owner, DNS_NAME_MAX);
	tb_bytes_u8(&q->chain, (uint8_t)sec);
	tb_bytes_append(&q->chain, rr->owner, (size_t)ol);
	tb_bytes_u16(&q->chain, rr->type);
	tb_bytes_u16(&q->chain, rr->rclass);
	tb_bytes_u32(&q->chain, rr->ttl);
	tb_bytes_vec(&q->chain, 2, rr->rdata, rr->rdlen);
}

/* ---- one upstream exchange ---- */

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

static void iter_response(struct dns_iter *q, const uint8_t *p, size_t n);
static void iter_send(struct dns_iter *q);

/* This server failed for this query: on to the next one. */
static void iter_lame(struct dns_iter *q)
{
	uv_timer_stop(&q->timer);
	iter_close_sockets(q);
	q->via_tcp = 0;
	iter_next(q);
}

/* The query behind a socket's callback, or NULL when the socket is no longer its current one. */
static struct dns_iter *sock_query(struct iter_sock *k)
{
	return k->q->sock == k && !k->q->finished ? k->q : NULL;
}

static void iter_udp_alloc(uv_handle_t *h, size_t sz, uv_buf_t *buf)
{
	struct dns_iter *q = ((struct iter_sock *)h->data)->q;
	(void)sz;
	*buf = uv_buf_init((char *)q->rbuf, sizeof q->rbuf);
}

static void iter_udp_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *addr,
	unsigned flags)
{
	struct dns_iter *q = sock_query(h->data);
	(void)flags;
	if (!q || nread <= 0 || !addr || !same_addr(addr, &q->to))
		return; /* only the address and port we asked */
	iter_response(q, (const uint8_t *)buf->base, (size_t)nread);
}

static void iter_tcp_alloc(uv_handle_t *h, size_t sz, uv_buf_t *buf)
{
	struct dns_iter *q = ((struct iter_sock *)h->data)->q;
	(void)sz;
	*buf = uv_buf_init((char *)q->tcp_buf + q->tcp_len, (unsigned)(2 + 65535 - q->tcp_len));
}

static void iter_tcp_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
	struct dns_iter *q = sock_query(st->data);
	(void)buf;
	if (!q)
		return;
	if (nread < 0) {
		uv_read_stop(st);
		iter_lame(q);
		return;
	}
	q->tcp_len += (size_t)nread;
	if (q->tcp_len >= 2) {
		size_t ml = rd16(q->tcp_buf);
		if (q->tcp_len >= 2 + ml) {
			uv_read_stop(st);
			iter_response(q, q->tcp_buf + 2, ml);
		}
	}
}

static void iter_tcp_written(uv_write_t *req, int status)
{
	struct dns_iter *q = sock_query(req->data);
	if (!q || status == 0 || status == UV_ECANCELED)
		return;
	iter_lame(q);
}

static void iter_tcp_connected(uv_connect_t *req, int status)
{
	struct iter_sock *k = req->data;
	struct dns_iter *q = sock_query(k);
	if (!q || status == UV_ECANCELED)
		return;
	if (status < 0) {
		iter_lame(q);
		return;
	}
	uv_buf_t bufs[2];
	q->tcp_hdr[0] = (uint8_t)(q->query_len >> 8);
	q->tcp_hdr[1] = (uint8_t)q->query_len;
	bufs[0] = uv_buf_init((char *)q->tcp_hdr, 2);
	bufs[1] = uv_buf_init((char *)q->query, (unsigned)q->query_len);
	k->wreq.data = k;
	q->tcp_len = 0;
	if (uv_write(&k->wreq, (uv_stream_t *)&k->u.tcp, bufs, 2, iter_tcp_written) ||
		uv_read_start((uv_stream_t *)&k->u.tcp, iter_tcp_alloc, iter_tcp_read))
		iter_lame(q);
}

static void iter_timeout(uv_timer_t *t)
{
	struct dns_iter *q = t->data;
	if (q->finished)
		return;
	if (uv_now(q->s->loop) >= q->top->deadline) {
		dns_infra_timeout(&q->s->infra, &q->to, uv_now(q->s->loop));
		iter_fail(q->top, DNS_EDE_NO_REACHABLE_AUTHORITY, "time limit reached (forward_timeout_ms)");
		return;
	}
	if (q->case_mismatch && q->use_0x20) {
		/* it answered, only never in our case: the same server again, in lower case */
		iter_close_sockets(q);
		q->no_0x20 = q->case_retry = 1;
		q->s->infra.case_fallbacks++;
		iter_send(q);
		return;
	}
	dns_infra_timeout(&q->s->infra, &q->to, uv_now(q->s->loop)); /* asked later next time */
	iter_lame(q);
}

/*
 * What to ask (RFC 9156): below the zone cut, one more label of qname at a
 * time, with type A (as Unbound: a query type that does not stand out), so
 * that each server learns only the label it is the authority for; the full
 * question once the next label is the last, for DS (asked of the parent
 * anyway), or once minimising is off. As Unbound, at most DNS_QMIN_MAX
 * minimised queries per name: one label at a time for the first
 * DNS_QMIN_ONE_LABEL, then the labels left spread over the rest.
 */
static void iter_ask(struct dns_iter *q)
{
	int nl = dns_name_labels(q->qname), zl = dns_name_labels(q->zone);
	int want = zl + (q->qmin_labels > 0 ? q->qmin_labels : 1);
	q->minimised = q->s->iter_qmin && !q->qmin_off && q->qtype != DNS_T_DS && dns_name_is_sub(q->qname, q->zone) &&
		want < nl && q->qmin_count < DNS_QMIN_MAX;
	const uint8_t *a = q->minimised ? dns_name_skip(q->qname, nl - want) : q->qname;
	memcpy(q->ask, a, (size_t)dns_name_len(a, DNS_NAME_MAX));
	q->ask_type = q->minimised ? DNS_T_A : q->qtype;
	if (q->minimised)
		q->qmin_count++;
}

/* The servers of the zone answered a minimised query for a name of their own: one or more labels deeper. */
static void iter_qmin_deeper(struct dns_iter *q)
{
	int left = dns_name_labels(q->qname) - dns_name_labels(q->zone) - q->qmin_labels;
	int steps = DNS_QMIN_MAX - q->qmin_count;
	int add = q->qmin_count < DNS_QMIN_ONE_LABEL || steps <= 1 ? 1 : (left + steps - 1) / steps;
	q->qmin_labels += add > 0 ? add : 1;
}

/* A new name to resolve (a CNAME's target): minimising starts over. */
static void iter_qmin_reset(struct dns_iter *q)
{
	q->qmin_labels = 1;
	q->qmin_count = 0;
	q->qmin_off = 0;
}

/* Sends the question to q->to: by UDP, or by TCP after a truncated answer. */
static void iter_send(struct dns_iter *q)
{
	struct dns_server *s = q->s;
	struct dns_iter *top = q->top;
	if (top->queries >= s->iter_queries_max) {
		iter_fail(top, DNS_EDE_OTHER, "upstream query limit reached (iterate_queries_max)");
		return;
	}
	top->queries++;
	q->sent_at = tb_metrics_now();
	/* a fresh ID and socket per exchange: a late answer to an earlier one is never taken */
	tb_random(&q->id, sizeof q->id);
	struct dns_builder b;
	dns_builder_init(&b, q->query, sizeof q->query, q->id, 0); /* RD clear: we iterate */
	iter_ask(q);
	int nl = dns_name_len(q->ask, DNS_NAME_MAX);
	memcpy(q->sent, q->ask, (size_t)nl);
	q->use_0x20 = s->iter_0x20 && !q->no_0x20;
	q->case_mismatch = 0;
	if (q->use_0x20) {
		/* a random case per letter: more bits a spoofer must guess (draft-vixie-dnsext-dns0x20) */
		uint8_t bits[DNS_NAME_MAX / 8 + 1];
		tb_random(bits, sizeof bits);
		for (int i = 0; i < nl; i++) {
			uint8_t c = q->sent[i];
			/* length octets (< 64) are never letters, so the wire form stays valid */
			if (c >= 'a' && c <= 'z' && (bits[i / 8] >> (i % 8) & 1))
				q->sent[i] = (uint8_t)(c - 'a' + 'A');
		}
	}
	dns_builder_question(&b, q->sent, q->ask_type, DNS_C_IN);
	if (!q->no_edns)
		dns_builder_opt(&b, DNS_UDP_PAYLOAD, 0, s->dnssec ? DNS_EDNS_DO : 0, NULL, 0, 0);
	q->query_len = dns_builder_finish(&b);
	uint64_t now = uv_now(s->loop);
	uint64_t left = top->deadline > now ? top->deadline - now : 1;
	uint64_t per = s->fwd_timeout_ms < left ? s->fwd_timeout_ms : left;
	uv_timer_start(&q->timer, iter_timeout, per, 0);
	const struct sockaddr *to = (const struct sockaddr *)&q->to;
	struct iter_sock *k = calloc(1, sizeof *k);
	if (!k || (q->via_tcp && !q->tcp_buf && !(q->tcp_buf = malloc(2 + 65535)))) {
		free(k);
		iter_fail(top, DNS_EDE_OTHER, "out of memory");
		return;
	}
	k->q = q;
	k->tcp = q->via_tcp;
	if (k->tcp)
		uv_tcp_init(s->loop, &k->u.tcp);
	else
		uv_udp_init(s->loop, &k->u.udp);
	k->u.h.data = k;
	q->sock = k;
	if (k->tcp) {
		k->creq.data = k;
		if (uv_tcp_connect(&k->creq, &k->u.tcp, to, iter_tcp_connected))
			iter_lame(q);
		return;
	}
	struct sockaddr_storage any;
	memset(&any, 0, sizeof any);
	any.ss_family = to->sa_family; /* port 0: the kernel's random ephemeral port */
	uv_buf_t buf = uv_buf_init((char *)q->query, (unsigned)q->query_len);
	if (uv_udp_bind(&k->u.udp, (struct sockaddr *)&any, 0) ||
		uv_udp_recv_start(&k->u.udp, iter_udp_alloc, iter_udp_recv) ||
		uv_udp_try_send(&k->u.udp, &buf, 1, to) < 0)
		iter_lame(q);
}

/* ---- choosing the next server ---- */

static int ancestor_resolves(const struct dns_iter *q, const uint8_t *name)
{
	for (const struct dns_iter *a = q; a; a = a->parent)
		if (dns_name_eq(a->qname, name))
			return 1;
	return 0;
}

static void iter_spawn_lookup(struct dns_iter *q, size_t i, uint16_t type);

static void iter_next(struct dns_iter *q)
{
	struct dns_server *s = q->s;
	if (q->finished)
		return;
	if (uv_now(s->loop) >= q->top->deadline) {
		iter_fail(q->top, DNS_EDE_NO_REACHABLE_AUTHORITY, "time limit reached (forward_timeout_ms)");
		return;
	}
	/* every address of every NS once, the fastest known first (infra.c) */
	size_t ni, ai;
	if (dns_infra_pick(&s->infra, &q->ns, q->tried, uv_now(s->loop), &ni, &ai) == 0) {
		q->tried[ni] |= (uint8_t)(1u << ai);
		q->to = q->ns.ns[ni].addr[ai];
		q->via_tcp = 0;
		unsigned flags = dns_infra_flags(&s->infra, &q->to, uv_now(s->loop));
		q->no_edns = (flags & DNS_INFRA_NO_EDNS) != 0;
		q->no_0x20 = (flags & DNS_INFRA_NO_0X20) != 0;
		q->edns_retry = q->case_retry = 0;
		iter_send(q);
		return;
	}
	/*
	 * every known address failed: look up an NS name without one (a glueless
	 * delegation), its A records first and, when it has none, its AAAA records
	 * (an IPv6-only server is a server too; one this machine cannot reach
	 * fails at once on the send and the next one is tried)
	 */
	for (size_t i = 0; i < q->ns.n; i++) {
		if (q->looked_up[i] == 3 || q->ns.ns[i].n_addr)
			continue;
		uint16_t type = q->looked_up[i] & 1 ? DNS_T_AAAA : DNS_T_A;
		int first = !q->looked_up[i];
		q->looked_up[i] |= type == DNS_T_A ? 1 : 2;
		if (ancestor_resolves(q, q->ns.ns[i].name))
			continue; /* it needs itself: a loop */
		if (first && q->ns_lookups >= s->iter_ns_lookups_max)
			break;
		if (q->depth + 1 > DNS_ITER_DEPTH_MAX) {
			iter_fail(q->top, DNS_EDE_NO_REACHABLE_AUTHORITY, "NS lookups nested too deep");
			return;
		}
		q->ns_lookups += first; /* NS names, whatever the types asked */
		iter_spawn_lookup(q, i, type);
		return;
	}
	char zb[DNS_NAME_TEXT_MAX], why[DNS_NAME_TEXT_MAX + 48];
	dns_name_str(q->zone, zb, sizeof zb);
	if (q->cut_cached) {
		/* a kept cut whose servers all failed (gone, lame): forgotten, and the cut above is asked */
		TB_DEBUG("dns", "every server of the kept cut %s failed: asking from above", zb);
		dns_deleg_drop(&s->deleg, q->zone);
		iter_start_closest(q);
		return;
	}
	snprintf(why, sizeof why, "no usable server for %s", zb);
	if (q->parent)
		iter_finish(q, DNS_RCODE_SERVFAIL, DNS_EDE_NO_REACHABLE_AUTHORITY, why);
	else
		iter_fail(q, DNS_EDE_NO_REACHABLE_AUTHORITY, why);
}

static struct dns_iter *iter_new(struct dns_server *s)
{
	struct dns_iter *q = calloc(1, sizeof *q);
	if (!q)
		return NULL;
	q->s = s;
	uv_timer_init(s->loop, &q->timer);
	q->timer.data = q;
	q->handles = 1; /* the timer, open until the query is released */
	return q;
}

static void iter_spawn_lookup(struct dns_iter *q, size_t i, uint16_t type)
{
	struct dns_iter *c = iter_new(q->s);
	if (!c) {
		iter_fail(q->top, DNS_EDE_OTHER, "out of memory");
		return;
	}
	c->parent = q;
	c->top = q->top;
	c->depth = q->depth + 1;
	memcpy(c->qname, q->ns.ns[i].name, (size_t)dns_name_len(q->ns.ns[i].name, DNS_NAME_MAX));
	c->qtype = type;
	q->child = c;
	iter_start_closest(c);
}

/* The NS address lookup for parent ended: its A or AAAA records become that NS's addresses. */
static void child_done(struct dns_iter *p, struct dns_iter *c, int rcode)
{
	p->child = NULL;
	if (c->fetch_keys || c->fetch_ds) {
		/* a DNSKEY set or a DS answer for the chain of trust (nothing when the fetch failed) */
		size_t len = rcode == DNS_RCODE_NOERROR ? c->chain.len : 0;
		if (p->val && c->fetch_keys)
			dns_val_keys(p->val, c->qname, c->chain.p, len);
		else if (p->val)
			dns_val_cut_ds(p->val, c->qname, c->ds_above, c->chain.p, len);
		if (!p->finished)
			iter_validate(p);
		return;
	}
	if (rcode == DNS_RCODE_NOERROR) {
		for (size_t o = 0; o < c->chain.len;) {
			const uint8_t *r = c->chain.p + o;
			size_t ol = (size_t)dns_name_len(r + 1, DNS_NAME_MAX);
			const uint8_t *f = r + 1 + ol;
			uint16_t rdlen = rd16(f + 8);
			if ((rd16(f) == DNS_T_A && rdlen == 4) || (rd16(f) == DNS_T_AAAA && rdlen == 16)) {
				struct dns_rr rr = { c->qname, rd16(f), DNS_C_IN, 0, f + 10, rdlen };
				dns_nsset_add_addr(&p->ns, c->qname, &rr);
				if (dns_name_eq(r + 1, c->qname)) /* an authoritative answer for the name itself */
					dns_deleg_put_rr(&p->s->deleg, p->zone, &rr, (uint32_t)rd16(f + 4) << 16 | rd16(f + 6),
						DNS_RANK_AUTH_ANSWER, uv_now(p->s->loop));
			}
			o += 1 + ol + 10 + rdlen;
		}
	}
	if (rcode == DNS_RCODE_NXDOMAIN) {
		/* no such name: no AAAA either */
		for (size_t i = 0; i < p->ns.n; i++)
			if (dns_name_eq(p->ns.ns[i].name, c->qname))
				p->looked_up[i] = 3;
	}
	if (p->finished)
		return;
	/* back on the parent: the child's closing must not run it on a freed stack */
	iter_next(p);
}

/* Starts asking the servers of zone (set) about q->qname. */
static void iter_start_zone(struct dns_iter *q, const struct dns_nsset *set, const uint8_t *zone)
{
	if (set != &q->ns)
		q->ns = *set;
	memcpy(q->zone, zone, (size_t)dns_name_len(zone, DNS_NAME_MAX));
	memset(q->tried, 0, sizeof q->tried);
	memset(q->looked_up, 0, sizeof q->looked_up);
	q->ns_lookups = 0;
	q->qmin_labels = 1;
	iter_next(q);
}

/*
 * Starts asking about q->qname at the closest cut kept for it (deleg.c) that
 * has a live server address and, when validating, a kept verdict (the chain
 * of trust starts there too), else at the root. A DS is its parent's, so a
 * DS query starts above its own name.
 */
static void iter_start_closest(struct dns_iter *q)
{
	struct dns_server *s = q->s;
	uint64_t now = uv_now(s->loop);
	uint8_t cut[DNS_NAME_MAX];
	const uint8_t *from = q->qtype == DNS_T_DS && q->qname[0] ? dns_name_skip(q->qname, 1) : q->qname;
	while (from[0] && dns_deleg_find(&s->deleg, from, now, cut, &q->ns) == 0) {
		if (!q->val || dns_val_start(q->val, s, cut, &q->ns, (uint64_t)tb_time_now()) == 0) {
			s->deleg.starts++;
			q->cut_cached = 1;
			iter_start_zone(q, &q->ns, cut);
			return;
		}
		from = dns_name_skip(from, dns_name_labels(from) - dns_name_labels(cut) + 1); /* above that cut */
	}
	q->cut_cached = 0;
	if (q->val)
		dns_val_cut(q->val, NULL, (const uint8_t *)"", &s->roots, NULL, 0);
	iter_start_zone(q, &s->roots, (const uint8_t *)"");
}

/* ---- reading an answer ---- */

int dns_dname_substitute(const uint8_t *name, const uint8_t *owner, const uint8_t *target, uint8_t *out)
{
	int nl = dns_name_labels(name), ol = dns_name_labels(owner);
	if (nl <= ol || !dns_name_is_sub(name, owner))
		return TB_ERR_NOT_FOUND;
	size_t plen = (size_t)(dns_name_skip(name, nl - ol) - name);
	int tl = dns_name_len(target, DNS_NAME_MAX);
	if (tl < 0 || plen + (size_t)tl > DNS_NAME_MAX)
		return TB_ERR_INVALID; /* the YXDOMAIN case of RFC 6672 2.2 */
	memmove(out, name, plen);
	memcpy(out + plen, target, (size_t)tl);
	return 0;
}

static int in_zone(const uint8_t *name, const uint8_t *zone)
{
	return dns_name_is_sub(name, zone);
}

/* The RRSIGs at owner over type, from the answer section. */
static void put_sigs(struct dns_iter *q, const struct dns_rr *an, size_t nan, const uint8_t *owner, uint16_t type)
{
	for (size_t i = 0; i < nan; i++)
		if (an[i].type == DNS_T_RRSIG && an[i].rclass == DNS_C_IN && an[i].rdlen >= 2 &&
			(rd16(an[i].rdata) == type || type == DNS_T_ANY) && dns_name_eq(an[i].owner, owner))
			chain_put(q, DNS_SEC_ANSWER, &an[i]);
}

/* NSEC/NSEC3 records of this zone and the RRSIGs over them and over its SOA, from the authority section. */
static void put_denials(struct dns_iter *q, const struct dns_rr *ns, size_t nns)
{
	for (size_t i = 0; i < nns; i++) {
		uint16_t t = ns[i].type;
		if (t == DNS_T_RRSIG && ns[i].rdlen >= 2)
			t = rd16(ns[i].rdata);
		else if (t != DNS_T_NSEC && t != DNS_T_NSEC3)
			continue;
		if ((t == DNS_T_NSEC || t == DNS_T_NSEC3 || t == DNS_T_SOA) && ns[i].rclass == DNS_C_IN &&
			in_zone(ns[i].owner, q->zone))
			chain_put(q, DNS_SEC_AUTHORITY, &ns[i]);
	}
}

/*
 * The chain of trust: DNSKEY sets fetched one at a time from each zone's own
 * servers (a child query with the same budget), then the verdict. A bogus
 * answer is SERVFAIL with its EDE, unless the client set CD (RFC 4035 3.2.2).
 */
static void iter_validate(struct dns_iter *q)
{
	struct dns_server *s = q->s;
	uint64_t now = (uint64_t)tb_time_now();
	struct dns_val_zone *z = dns_val_step(q->val, s, now);
	uint8_t ds_name[DNS_NAME_MAX];
	int want_ds = 0;
	if (!z && (z = dns_val_need_ds(q->val, q->chain.p, q->chain.len, ds_name)) != NULL)
		want_ds = 1;
	if (z) {
		if (q->depth + 1 > DNS_ITER_DEPTH_MAX) {
			iter_fail(q, DNSSEC_EDE_DNSKEY_MISSING, "DNSKEY lookups nested too deep");
			return;
		}
		struct dns_iter *c = iter_new(s);
		if (!c) {
			iter_fail(q, DNS_EDE_OTHER, "out of memory");
			return;
		}
		c->parent = q;
		c->top = q->top;
		c->depth = q->depth + 1;
		if (want_ds) {
			/* a zone reached without a referral: its DS from the servers of the zone above it */
			c->fetch_ds = 1;
			memcpy(c->ds_above, z->name, (size_t)dns_name_len(z->name, DNS_NAME_MAX));
			memcpy(c->qname, ds_name, (size_t)dns_name_len(ds_name, DNS_NAME_MAX));
			c->qtype = DNS_T_DS;
		} else {
			c->fetch_keys = 1;
			memcpy(c->qname, z->name, (size_t)dns_name_len(z->name, DNS_NAME_MAX));
			c->qtype = DNS_T_DNSKEY;
		}
		q->child = c;
		iter_start_zone(c, z->ns, z->name);
		return;
	}
	uint16_t ede = 0;
	q->val_status = dns_val_answer(q->val, s, q->chain.p, q->chain.len, q->cl.qname, q->cl.qtype, q->val_rcode,
		now, &ede);
	q->val_ede = ede;
	q->val_done = 1;
	dns_metrics_dnssec((int)q->val_status);
	char nb[DNS_NAME_TEXT_MAX];
	TB_DEBUG("dns", "validating %s: %s (EDE %u)", dns_name_str(q->cl.qname, nb, sizeof nb),
		dnssec_status_str(q->val_status), ede);
	if (q->val_status == DNSSEC_BOGUS && !(q->cl.flags & DNS_F_CD)) {
		iter_fail(q, ede ? ede : DNSSEC_EDE_BOGUS, q->val->budget.exhausted
			? "DNSSEC validation limit reached (dnssec_* limits)" : "DNSSEC validation failed");
		return;
	}
	iter_finish(q, q->val_rcode, 0xffff, NULL);
}

/*
 * An authoritative answer whose authority section holds the SOA or NS RRset
 * of a zone below the current cut, above the name asked: the server serves
 * that child too and answered from it, with no referral into it. The chain
 * of trust must learn of it (its DS, or the proof there is none).
 */
static void note_apex(struct dns_iter *q, const struct dns_msg *m)
{
	size_t nns;
	struct dns_rr *ns = dns_msg_section(m, DNS_SEC_AUTHORITY, &nns);
	for (size_t i = 0; i < nns && q->val; i++)
		if ((ns[i].type == DNS_T_SOA || ns[i].type == DNS_T_NS) && ns[i].rclass == DNS_C_IN &&
			in_zone(ns[i].owner, q->zone) && !dns_name_eq(ns[i].owner, q->zone) && in_zone(q->ask, ns[i].owner))
			dns_val_apex(q->val, ns[i].owner);
}

/*
 * The zone's own NS RRset in an authoritative answer (section list rrs):
 * ranked above the referral's copy in the cut cache (RFC 2181 5.4.1). Only
 * the zone the server was asked as; the root's is the priming's business.
 */
static void own_ns(struct dns_iter *q, const struct dns_rr *rrs, size_t n, enum dns_rank rank)
{
	struct dns_nsset set;
	uint32_t ttl = UINT32_MAX;
	set.n = 0;
	for (size_t i = 0; i < n && q->zone[0]; i++)
		if (rrs[i].type == DNS_T_NS && rrs[i].rclass == DNS_C_IN && dns_name_eq(rrs[i].owner, q->zone)) {
			dns_nsset_add_ns(&set, rrs[i].rdata);
			if (rrs[i].ttl < ttl)
				ttl = rrs[i].ttl;
		}
	if (set.n)
		dns_deleg_put_ns(&q->s->deleg, q->zone, &set, ttl, rank, uv_now(q->s->loop));
}

static void iter_response(struct dns_iter *q, const uint8_t *p, size_t n)
{
	struct dns_server *s = q->s;
	if (n < 12 || rd16(p) != q->id || !(p[2] & 0x80))
		return; /* not the answer to this exchange: keep waiting */
	int ql = dns_name_len(q->sent, DNS_NAME_MAX);
	if (q->use_0x20 && rd16(p + 4) == 1 && n >= 12 + (size_t)ql && dns_name_len(p + 12, n - 12) == ql) {
		if (memcmp(p + 12, q->sent, (size_t)ql) != 0) {
			/* not our case: a spoofer who guessed the ID, or a server that does not keep the case */
			if (dns_name_eq(p + 12, q->sent))
				q->case_mismatch = 1;
			return;
		}
		/* ours: back to lower case, so that names compressed against it read as the client's */
		memcpy((uint8_t *)p + 12, q->ask, (size_t)ql);
	}
	struct dns_msg m;
	if (dns_msg_parse(&m, p, n) != 0) {
		iter_lame(q);
		return;
	}
	/*
	 * servers that do not know EDNS often send FORMERR without the question:
	 * from the address, port and ID asked that is enough to ask again without
	 * OPT (all such an answer can cause), never to take as an answer
	 */
	int bare_formerr = m.n_qd == 0 && !q->no_edns && (DNS_RCODE(m.flags) == DNS_RCODE_FORMERR ||
		DNS_RCODE(m.flags) == DNS_RCODE_NOTIMP);
	if (!bare_formerr && (m.n_qd != 1 || m.qd[0].qtype != q->ask_type || m.qd[0].qclass != DNS_C_IN ||
		!dns_name_eq(m.qd[0].name, q->ask))) {
		dns_msg_free(&m);
		return; /* another question: not ours */
	}
	dns_metrics_upstream(q->sent_at, "iterate");
	double ms = (tb_metrics_now() - q->sent_at) * 1000;
	dns_infra_rtt(&s->infra, &q->to, ms < 0 ? 0 : ms > DNS_INFRA_RTO_MAX ? DNS_INFRA_RTO_MAX : (uint32_t)ms,
		uv_now(s->loop));
	uv_timer_stop(&q->timer);
	if ((m.flags & DNS_F_TC) && !q->via_tcp) {
		dns_msg_free(&m);
		iter_close_sockets(q);
		q->via_tcp = 1;
		iter_send(q); /* the same server, over TCP */
		return;
	}
	iter_close_sockets(q);
	q->via_tcp = 0;
	int rcode = DNS_RCODE(m.flags), aa = (m.flags & DNS_F_AA) != 0;
	if ((rcode == DNS_RCODE_FORMERR || rcode == DNS_RCODE_NOTIMP) && !q->no_edns) {
		/* a server that does not know EDNS (RFC 6891 7): the same question without OPT */
		dns_msg_free(&m);
		q->no_edns = q->edns_retry = 1;
		s->infra.edns_fallbacks++;
		iter_send(q);
		return;
	}
	if ((q->edns_retry || q->case_retry) && (rcode == DNS_RCODE_NOERROR || rcode == DNS_RCODE_NXDOMAIN)) {
		/* the workaround helped: remembered for this server for a while */
		dns_infra_set_flags(&s->infra, &q->to, (q->edns_retry ? DNS_INFRA_NO_EDNS : 0u) |
			(q->case_retry ? DNS_INFRA_NO_0X20 : 0u), uv_now(s->loop));
		q->edns_retry = q->case_retry = 0;
	}
	if (q->minimised && (rcode != DNS_RCODE_NOERROR || aa)) {
		if (aa)
			note_apex(q, &m);
		dns_msg_free(&m);
		if (rcode == DNS_RCODE_NOERROR) {
			iter_qmin_deeper(q); /* the name is the zone's own: no cut here */
		} else {
			/*
			 * Relaxed mode (RFC 9156 2.3, Unbound's default): NXDOMAIN for an
			 * empty non-terminal or an error may be a server that breaks on
			 * minimised queries, so the same server gets the full question.
			 */
			q->qmin_off = 1;
		}
		iter_send(q);
		return;
	}
	if (rcode != DNS_RCODE_NOERROR && rcode != DNS_RCODE_NXDOMAIN) {
		dns_msg_free(&m);
		iter_next(q);
		return;
	}
	size_t nan, nns, nad;
	struct dns_rr *an = dns_msg_section(&m, DNS_SEC_ANSWER, &nan);
	struct dns_rr *ns = dns_msg_section(&m, DNS_SEC_AUTHORITY, &nns);
	struct dns_rr *ad = dns_msg_section(&m, DNS_SEC_ADDITIONAL, &nad);
	if (aa) {
		note_apex(q, &m);
		own_ns(q, an, nan, DNS_RANK_AUTH_ANSWER);
		own_ns(q, ns, nns, DNS_RANK_AUTH_AUTHORITY);
	}

	/* the answer section: CNAMEs and the records asked for, owned inside this zone only */
	uint8_t cur[DNS_NAME_MAX];
	memcpy(cur, q->qname, (size_t)dns_name_len(q->qname, DNS_NAME_MAX));
	int found = 0, moved = 0;
	for (int guard = 0; guard <= DNS_CNAME_CHAIN_MAX && aa && in_zone(cur, q->zone); guard++) {
		int hit = 0;
		for (size_t i = 0; i < nan; i++) {
			if (an[i].rclass == DNS_C_IN && (an[i].type == q->qtype || q->qtype == DNS_T_ANY) &&
			    dns_name_eq(an[i].owner, cur)) {
				chain_put(q, DNS_SEC_ANSWER, &an[i]);
				found = hit = 1;
			}
		}
		if (hit && s->dnssec && q->qtype != DNS_T_RRSIG)
			put_sigs(q, an, nan, cur, q->qtype);
		if (found || q->qtype == DNS_T_CNAME)
			break;
		/*
		 * a DNAME above the name (RFC 6672): the CNAME it implies is made here
		 * from the DNAME, never taken from the server (whose synthesized CNAME
		 * is unsigned and could say anything); it counts as a CNAME link
		 */
		for (size_t i = 0; i < nan && !hit && q->qtype != DNS_T_DNAME; i++) {
			uint8_t next[DNS_NAME_MAX];
			if (an[i].rclass != DNS_C_IN || an[i].type != DNS_T_DNAME || !in_zone(an[i].owner, q->zone))
				continue;
			int e = dns_dname_substitute(cur, an[i].owner, an[i].rdata, next);
			if (e == TB_ERR_NOT_FOUND)
				continue;
			if (e || ++q->cnames > s->cname_max) {
				dns_msg_free(&m);
				iter_fail(q->top, DNS_EDE_OTHER, e ? "DNAME substitution longer than a name"
					: "CNAME chain too long (cname_max)");
				return;
			}
			chain_put(q, DNS_SEC_ANSWER, &an[i]);
			if (s->dnssec)
				put_sigs(q, an, nan, an[i].owner, DNS_T_DNAME);
			struct dns_rr syn = { cur, DNS_T_CNAME, DNS_C_IN, an[i].ttl, next,
				(uint16_t)dns_name_len(next, DNS_NAME_MAX) };
			chain_put(q, DNS_SEC_ANSWER, &syn);
			memcpy(cur, next, (size_t)dns_name_len(next, DNS_NAME_MAX));
			hit = moved = 1;
		}
		for (size_t i = 0; i < nan && !hit; i++) {
			if (an[i].rclass == DNS_C_IN && an[i].type == DNS_T_CNAME && dns_name_eq(an[i].owner, cur)) {
				if (++q->cnames > s->cname_max) {
					dns_msg_free(&m);
					iter_fail(q->top, DNS_EDE_OTHER, "CNAME chain too long (cname_max)");
					return;
				}
				chain_put(q, DNS_SEC_ANSWER, &an[i]);
				if (s->dnssec)
					put_sigs(q, an, nan, cur, DNS_T_CNAME);
				memcpy(cur, an[i].rdata, (size_t)dns_name_len(an[i].rdata, DNS_NAME_MAX));
				hit = moved = 1;
			}
		}
		if (!hit)
			break;
	}
	if (found && q->qtype == DNS_T_NS && q->qname[0] == 0 && q->zone[0] == 0) {
		/* the root's answer about itself: its NS set and their addresses replace the hints */
		struct dns_nsset roots;
		memset(&roots, 0, sizeof roots);
		for (size_t i = 0; i < nan; i++)
			if (an[i].type == DNS_T_NS && an[i].owner[0] == 0)
				dns_nsset_add_ns(&roots, an[i].rdata);
		for (size_t i = 0; i < nad; i++)
			dns_nsset_add_addr(&roots, ad[i].owner, &ad[i]);
		size_t usable = 0;
		for (size_t i = 0; i < roots.n; i++)
			usable += roots.ns[i].n_addr > 0;
		if (usable)
			s->roots = roots;
	}
	if (found) {
		if (s->dnssec)
			put_denials(q, ns, nns); /* a wildcard expansion's proof */
		dns_msg_free(&m);
		iter_finish(q, DNS_RCODE_NOERROR, 0xffff, NULL);
		return;
	}
	if (moved) {
		/* the chain leaves this zone (or its next link is not here): the target from the root */
		dns_msg_free(&m);
		if (ancestor_resolves(q->parent, cur)) {
			iter_finish(q, DNS_RCODE_SERVFAIL, DNS_EDE_OTHER, "CNAME loop");
			return;
		}
		memcpy(q->qname, cur, (size_t)dns_name_len(cur, DNS_NAME_MAX));
		iter_qmin_reset(q);
		iter_start_closest(q);
		return;
	}
	if (aa && (rcode == DNS_RCODE_NXDOMAIN || nan == 0)) {
		/* a negative answer: its SOA, if it is this zone's, gives the negative TTL */
		for (size_t i = 0; i < nns; i++)
			if (ns[i].type == DNS_T_SOA && in_zone(ns[i].owner, q->zone) && in_zone(q->qname, ns[i].owner))
				chain_put(q, DNS_SEC_AUTHORITY, &ns[i]);
		if (s->dnssec)
			put_denials(q, ns, nns);
		dns_msg_free(&m);
		iter_finish(q, rcode, 0xffff, NULL);
		return;
	}
	/* a referral: NS records for a zone strictly below this one and above the name */
	const uint8_t *cut = NULL;
	for (size_t i = 0; i < nns && !aa; i++) {
		if (ns[i].type == DNS_T_NS && ns[i].rclass == DNS_C_IN && in_zone(q->qname, ns[i].owner) &&
			in_zone(ns[i].owner, q->zone) && !dns_name_eq(ns[i].owner, q->zone)) {
			cut = ns[i].owner;
			break;
		}
	}
	if (!cut) {
		dns_msg_free(&m); /* lame: an upward referral, a non-authoritative answer, nothing */
		iter_next(q);
		return;
	}
	if (++q->top->referrals > s->iter_referrals_max) {
		dns_msg_free(&m);
		iter_fail(q->top, DNS_EDE_OTHER, "referral limit reached (iterate_referrals_max)");
		return;
	}
	uint8_t zone[DNS_NAME_MAX];
	memcpy(zone, cut, (size_t)dns_name_len(cut, DNS_NAME_MAX));
	/* its NS set and the glue from within the zone whose server sent it, kept for later queries (deleg.c) */
	struct dns_nsset next;
	dns_deleg_referral(&s->deleg, q->zone, zone, ns, nns, ad, nad, &next, uv_now(s->loop));
	if (q->val)
		dns_val_cut(q->val, q->zone, zone, &next, ns, nns); /* the DS, or the proof there is none */
	dns_msg_free(&m);
	q->ns = next;
	q->cut_cached = 0;
	iter_start_zone(q, &q->ns, zone);
}

/* ---- entry points ---- */

size_t dns_iterate(struct dns_server *s, const struct dns_fwd_client *cl, uint64_t timeout_ms, uint8_t *out,
	size_t cap)
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
	const char *why = NULL;
	struct dns_iter *q = NULL;
	if (s->n_iters >= DNS_FWD_INFLIGHT_MAX || s->stopping)
		why = "too many queries in flight";
	else if (!(q = iter_new(s)))
		why = "out of memory";
	if (why) {
		if (cl->kind == DNS_FWD_RESOLVER) {
			dns_resolver_deliver(s, cl, NULL, TB_RESOLVE_SERVFAIL, why);
			return 0;
		}
		return dns_fwd_answer(s, cl, NULL, DNS_RCODE_SERVFAIL, DNS_EDE_OTHER, why, now, out, cap);
	}
	q->top = q;
	q->cl = *cl;
	q->deadline = now + timeout_ms;
	memcpy(q->qname, cl->qname, (size_t)dns_name_len(cl->qname, DNS_NAME_MAX));
	dns_name_lower(q->qname);
	q->qtype = cl->qtype;
	if (s->dnssec) {
		if (!(q->val = calloc(1, sizeof *q->val))) {
			iter_release(q);
			return dns_fwd_answer(s, cl, NULL, DNS_RCODE_SERVFAIL, DNS_EDE_OTHER, "out of memory", now, out, cap);
		}
		dns_val_init(q->val, s);
	}
	q->next = s->iters;
	if (s->iters)
		s->iters->prev = q;
	s->iters = q;
	s->n_iters++;
	q->listed = 1;
	if (cl->kind != DNS_FWD_RESOLVER && s->cache.stale_ms &&
		dns_cache_get_stale(&s->cache, cl->qname, cl->qtype, cl->qclass, now)) {
		uv_timer_init(s->loop, &q->stale_timer);
		q->stale_timer.data = q;
		q->stale_timer_open = 1;
		uv_timer_start(&q->stale_timer, iter_stale_timeout, DNS_STALE_CLIENT_MS, 0);
	}
	iter_start_closest(q);
	return 0;
}

/* ---- priming (RFC 8109): the root's own NS set replaces the hints ---- */

static void prime_done(enum tb_resolve_status st, const struct tb_rr *rrs, size_t n, const char *why,
	void *arg)
{
	struct dns_server *s = arg;
	(void)rrs, (void)n;
	if (st != TB_RESOLVE_OK)
		TB_WARN("dns", "priming the root NS set failed (%s); using the hints", why ? why : "no answer");
	else
		TB_INFO("dns", "root NS set primed: %zu server(s)", s->roots.n);
}

void dns_iterate_prime(struct dns_server *s)
{
	struct dns_fwd_client cl;
	memset(&cl, 0, sizeof cl);
	cl.kind = DNS_FWD_RESOLVER;
	cl.qname[0] = 0;
	cl.qtype = DNS_T_NS;
	cl.qclass = DNS_C_IN;
	cl.cb = prime_done;
	cl.arg = s;
	dns_iterate(s, &cl, s->fwd_deadline_ms, NULL, 0);
}

void dns_iterate_stop(struct dns_server *s)
{
	while (s->iters)
		iter_fail(s->iters, DNS_EDE_OTHER, "server stopping");
}

void dns_iterate_forget(struct dns_server *s, const void *transport)
{
	for (struct dns_iter *q = s->iters; q; q = q->next)
		if (q->cl.reply.transport == transport)
			q->cl.reply.send = NULL;
}
