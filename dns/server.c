/*
 * DESIGN: the DNS server on the loop.
 *
 * dns_server_answer_for turns one query into one response, synchronously, into
 * a caller buffer: parse (any failure with a readable header is FORMERR), check
 * opcode, question count and EDNS version; answer_question checks the client
 * ACL and runs the Lua policy hook, then answer_local answers from a local
 * zone or answer_elsewhere hands the question to the forwarder (forward.c);
 * UPDATE goes to update.c, and a signed query is verified first and answered
 * signed. Building an answer never sends it: the transport sends what is
 * returned, and gives each query a reply channel (struct dns_reply) through
 * which forward.c and update.c deliver the answers they give later. UDP responses are capped at
 * min(client EDNS size, our udp_payload) or 512 without EDNS; when an answer
 * or authority record does not fit, the response is rebuilt with the question
 * only and TC set, so the client retries over TCP (RFC 7766). Additional data
 * that does not fit is left out. DNS cookies (RFC 7873, server cookie as
 * RFC 9018) are returned when the client sends one.
 *
 * UDP listeners read with recvmmsg batches into one buffer per listener and
 * answer a batch with one sendmmsg, falling back to queued sends when the
 * socket buffer is full. The stream transports, TCP and DNS over TLS, are in
 * stream.c; this file binds their listeners next to the UDP ones.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sodium.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/config.h"
#include "core/error.h"
#include "core/log.h"
#include "core/subsystem.h"
#include "dns/dns.h"
#include "dns/dns_internal.h"
#include "dns/metrics.h"

/* ---- addresses and ACLs ---- */

int dns_acl_parse(struct dns_acl *acl, const char *s)
{
	if (acl->n >= DNS_ACL_MAX)
		return TB_ERR_TOO_LARGE;
	struct dns_prefix *p = &acl->p[acl->n];
	char buf[80];
	if (strcmp(s, "any") == 0) {
		/* two prefixes: 0.0.0.0/0 and ::/0 */
		if (acl->n + 2 > DNS_ACL_MAX)
			return TB_ERR_TOO_LARGE;
		memset(&acl->p[acl->n], 0, 2 * sizeof *p);
		acl->p[acl->n].family = AF_INET;
		acl->p[acl->n + 1].family = AF_INET6;
		acl->n += 2;
		return 0;
	}
	if (strlen(s) >= sizeof buf)
		return TB_ERR_INVALID;
	strcpy(buf, s);
	char *slash = strchr(buf, '/');
	int bits = -1;
	if (slash) {
		*slash = 0;
		char *end;
		long v = strtol(slash + 1, &end, 10);
		if (*end || end == slash + 1 || v < 0 || v > 128)
			return TB_ERR_INVALID;
		bits = (int)v;
	}
	memset(p, 0, sizeof *p);
	if (inet_pton(AF_INET, buf, p->addr) == 1) {
		p->family = AF_INET;
		if (bits > 32)
			return TB_ERR_INVALID;
		p->bits = bits < 0 ? 32 : bits;
	} else if (inet_pton(AF_INET6, buf, p->addr) == 1) {
		p->family = AF_INET6;
		p->bits = bits < 0 ? 128 : bits;
	} else {
		return TB_ERR_INVALID;
	}
	acl->n++;
	return 0;
}

static int prefix_match(const uint8_t *a, const uint8_t *b, int bits)
{
	int full = bits / 8, rest = bits % 8;
	if (memcmp(a, b, (size_t)full) != 0)
		return 0;
	if (rest) {
		uint8_t mask = (uint8_t)(0xff << (8 - rest));
		return (a[full] & mask) == (b[full] & mask);
	}
	return 1;
}

int dns_acl_match(const struct dns_acl *acl, const struct sockaddr *sa)
{
	const uint8_t *addr;
	int family = sa->sa_family;
	uint8_t v4[4];
	if (family == AF_INET) {
		addr = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
	} else if (family == AF_INET6) {
		addr = (const uint8_t *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
		/* v4-mapped addresses match IPv4 prefixes */
		static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
		if (memcmp(addr, mapped, 12) == 0) {
			memcpy(v4, addr + 12, 4);
			addr = v4;
			family = AF_INET;
		}
	} else {
		return 0;
	}
	for (size_t i = 0; i < acl->n; i++)
		if (acl->p[i].family == family && prefix_match(acl->p[i].addr, addr, acl->p[i].bits))
			return 1;
	return 0;
}

int dns_parse_hostport(const char *s, int default_port, struct sockaddr_storage *out)
{
	char host[64];
	const char *port = NULL;
	memset(out, 0, sizeof *out);
	if (s[0] == '[') {
		const char *e = strchr(s, ']');
		if (!e || (size_t)(e - s - 1) >= sizeof host)
			return TB_ERR_INVALID;
		memcpy(host, s + 1, (size_t)(e - s - 1));
		host[e - s - 1] = 0;
		if (e[1] == ':')
			port = e + 2;
		else if (e[1])
			return TB_ERR_INVALID;
	} else {
		const char *c = strchr(s, ':');
		if (c && strchr(c + 1, ':'))
			c = NULL; /* bare IPv6 */
		size_t hl = c ? (size_t)(c - s) : strlen(s);
		if (hl >= sizeof host)
			return TB_ERR_INVALID;
		memcpy(host, s, hl);
		host[hl] = 0;
		if (c)
			port = c + 1;
	}
	long p = default_port;
	if (port) {
		char *end;
		p = strtol(port, &end, 10);
		if (*end || end == port || p < 0 || p > 65535)
			return TB_ERR_INVALID;
	}
	if (uv_ip4_addr(host, (int)p, (struct sockaddr_in *)out) == 0)
		return 0;
	if (uv_ip6_addr(host, (int)p, (struct sockaddr_in6 *)out) == 0)
		return 0;
	return TB_ERR_INVALID;
}

/* ---- answering ---- */

struct edns_out {
	uint8_t opt_data[64];          /* cookie + EDE (short) */
	struct dns_edns_opt opts[3];
	size_t n_opts;
	int edns;
	uint16_t edns_flags;           /* DO echoed from the query (RFC 3225) */
	uint16_t ede;
	const char *ede_text;
};

/* RFC 9018 hash: SipHash-2-4 over client cookie, version, reserved, time and client IP. */
static void cookie_hash(const struct dns_server *s, const uint8_t *c16, const struct sockaddr *from,
	uint8_t out[8])
{
	uint8_t in[8 + 8 + 16];
	memcpy(in, c16, 16);
	size_t il = 16;
	if (from && from->sa_family == AF_INET) {
		memcpy(in + il, &((const struct sockaddr_in *)from)->sin_addr, 4);
		il += 4;
	} else if (from && from->sa_family == AF_INET6) {
		memcpy(in + il, &((const struct sockaddr_in6 *)from)->sin6_addr, 16);
		il += 16;
	}
	crypto_shorthash(out, in, il, s->cookie_secret);
}

/* Is the server cookie in the query one of ours, made within the last hour (RFC 9018 4.3)? */
static int cookie_valid(const struct dns_server *s, const struct dns_msg *m, const struct sockaddr *from)
{
	const uint8_t *c = m->edns.cookie;
	if (!m->edns.has_cookie || m->edns.cookie_len != 24 || c[8] != 1)
		return 0;
	uint32_t t = (uint32_t)c[12] << 24 | (uint32_t)c[13] << 16 | (uint32_t)c[14] << 8 | c[15];
	uint32_t now = (uint32_t)tb_time_now();
	int32_t age = (int32_t)(now - t);
	if (age > 3600 || age < -300)
		return 0;
	uint8_t h[8];
	cookie_hash(s, c, from, h);
	return tb_memeq_ct(h, c + 16, 8) == 0;
}

static void make_cookie(struct dns_server *s, const struct dns_msg *m, const struct sockaddr *from,
	struct edns_out *r)
{
	/* RFC 9018: version 1, reserved, 32-bit timestamp, SipHash-2-4 of the rest + client IP */
	uint8_t *c = r->opt_data;
	uint32_t now = (uint32_t)tb_time_now();
	memcpy(c, m->edns.cookie, 8);
	c[8] = 1;
	c[9] = c[10] = c[11] = 0;
	c[12] = (uint8_t)(now >> 24);
	c[13] = (uint8_t)(now >> 16);
	c[14] = (uint8_t)(now >> 8);
	c[15] = (uint8_t)now;
	cookie_hash(s, c, from, c + 16);
	r->opts[r->n_opts].code = DNS_OPT_COOKIE;
	r->opts[r->n_opts].len = 24;
	r->opts[r->n_opts].data = c;
	r->n_opts++;
}

static void set_ede(struct edns_out *r, uint16_t code, const char *text)
{
	if (!r->edns || r->n_opts >= 3)
		return;
	uint8_t *d = r->opt_data + 24;
	size_t tl = text ? strlen(text) : 0;
	if (tl > 36)
		tl = 36;
	d[0] = (uint8_t)(code >> 8);
	d[1] = (uint8_t)code;
	memcpy(d + 2, text, tl);
	r->opts[r->n_opts].code = DNS_OPT_EDE;
	r->opts[r->n_opts].len = (uint16_t)(2 + tl);
	r->opts[r->n_opts].data = d;
	r->n_opts++;
}

static size_t finish_reply(struct dns_builder *b, const struct edns_out *r, uint8_t ext_rcode,
	uint16_t udp_payload)
{
	if (r->edns)
		dns_builder_opt(b, udp_payload, ext_rcode, r->edns_flags, r->opts, r->n_opts, 0);
	return dns_builder_finish(b);
}

/* A response carrying only the header, the question (when known) and OPT. */
static size_t error_reply(struct dns_server *s, const struct dns_msg *m, const struct edns_out *r,
	uint16_t flags, int rcode, uint8_t *out, size_t outcap)
{
	struct dns_builder b;
	int ext = rcode >> 4;
	dns_builder_init(&b, out, outcap, m->id, (uint16_t)(flags | (rcode & 0xf)));
	if (m->n_qd == 1)
		dns_builder_question(&b, m->qd[0].name, m->qd[0].qtype, m->qd[0].qclass);
	return finish_reply(&b, r, (uint8_t)ext, s->udp_payload);
}

static int put_rrset(struct dns_builder *b, int sec, const struct dns_ans *a, uint32_t ttl)
{
	for (size_t i = 0; i < a->rs->n; i++) {
		const uint8_t *rd = a->rs->rd[i];
		int err = dns_builder_rr(b, sec, a->owner, a->rs->type, DNS_C_IN, ttl, rd + 2,
			dns_rd_len(rd));
		if (err)
			return err;
	}
	return 0;
}

/*
 * What one query needs while its answer is built: the parsed message, the OPT
 * the answer will carry, and who asked (for ACLs, cookies and answers sent later).
 */
struct query {
	struct dns_server *s;
	struct dns_msg m;
	struct edns_out r;
	uint16_t qflags, rflags;         /* the query's flags; the answer's QR, opcode, RD, CD */
	const struct sockaddr *from;     /* NULL: an internal caller (no ACL applies) */
	const struct dns_reply *reply;   /* how an answer given later reaches the client */
	int tcp;
};

/*
 * A name outside every local zone: forwarded, or iterated from the root when
 * no forward zone covers it and dns.iterate is on (answered now from the
 * cache, or later), or REFUSED.
 */
static size_t answer_elsewhere(struct query *x, const struct dns_question *qd, int may_recurse, int signed_query,
	uint8_t *out, size_t cap)
{
	struct dns_server *s = x->s;
	const struct dns_forwarder *f = NULL;
	if ((x->qflags & DNS_F_RD) && may_recurse && qd->qclass == DNS_C_IN && !signed_query)
		f = dns_forwarder_find(s, qd->name); /* signed queries are answered here, signed */
	int iterate = !f && s->iterate && (x->qflags & DNS_F_RD) && may_recurse && qd->qclass == DNS_C_IN &&
		      !signed_query;
	if (f || iterate) {
		struct dns_fwd_client cl;
		memset(&cl, 0, sizeof cl);
		cl.kind = x->tcp ? DNS_FWD_TCP : DNS_FWD_UDP;
		cl.reply = *x->reply;
		cl.id = x->m.id;
		cl.flags = x->qflags;
		memcpy(cl.qname, qd->name, (size_t)dns_name_len(qd->name, DNS_NAME_MAX));
		cl.qtype = qd->qtype;
		cl.qclass = qd->qclass;
		cl.edns = x->r.edns;
		cl.edns_flags = x->r.edns_flags;
		cl.cap = cap;
		if (x->r.n_opts && x->r.opts[0].code == DNS_OPT_COOKIE) {
			memcpy(cl.cookie, x->r.opts[0].data, x->r.opts[0].len);
			cl.cookie_len = (uint8_t)x->r.opts[0].len;
		}
		return f ? dns_forward(s, f, &cl, s->fwd_deadline_ms, out, cap)
			 : dns_iterate(s, &cl, s->fwd_deadline_ms, out, cap);
	}
	s->stats.refused++;
	if ((x->qflags & DNS_F_RD) && !may_recurse)
		set_ede(&x->r, DNS_EDE_PROHIBITED, "recursion not allowed");
	else
		set_ede(&x->r, DNS_EDE_NOT_AUTHORITATIVE, "no local zone and no forwarder");
	return error_reply(s, &x->m, &x->r, x->rflags, DNS_RCODE_REFUSED, out, cap);
}

/* The answer from a local zone (RFC 1034 4.3.2), truncated for UDP as RFC 7766 wants. */
static size_t answer_local(struct query *x, const struct dns_zone *z, const struct dns_question *qd,
	int may_recurse, uint8_t *out, size_t cap)
{
	struct dns_server *s = x->s;
	struct dns_lookup lk;
	dns_zone_lookup(z, qd->name, qd->qtype, &lk);
	if (qd->qtype == DNS_T_ANY && !x->tcp && lk.n_an > 1)
		lk.n_an = 1; /* RFC 8482 4.2: one RRset over UDP (no amplification); TCP gets all */
	if (lk.rcode == DNS_RCODE_NXDOMAIN)
		s->stats.nxdomain++;
	uint16_t flags = (uint16_t)(x->rflags | (lk.aa ? DNS_F_AA : 0) | lk.rcode |
				    ((s->n_fwd || s->iterate) && may_recurse ? DNS_F_RA : 0));
	struct dns_builder b;
	dns_builder_init(&b, out, cap, x->m.id, flags);
	dns_builder_question(&b, qd->name, qd->qtype, qd->qclass);
	if (x->r.edns)
		b.reserve = dns_opt_size(x->r.opts, x->r.n_opts);
	int err = 0;
	for (size_t i = 0; i < lk.n_an && !err; i++)
		err = put_rrset(&b, DNS_SEC_ANSWER, &lk.an[i], lk.an[i].rs->ttl);
	for (size_t i = 0; i < lk.n_ns && !err; i++) {
		uint32_t ttl = lk.ns[i].rs->type == DNS_T_SOA ? lk.neg_ttl : lk.ns[i].rs->ttl;
		err = put_rrset(&b, DNS_SEC_AUTHORITY, &lk.ns[i], ttl);
	}
	if (err) {
		/* Truncated: question only, TC set; the client retries over TCP. */
		s->stats.truncated++;
		dns_builder_init(&b, out, cap, x->m.id, (uint16_t)(flags | DNS_F_TC));
		dns_builder_question(&b, qd->name, qd->qtype, qd->qclass);
		return finish_reply(&b, &x->r, 0, s->udp_payload);
	}
	for (size_t i = 0; i < lk.n_ar; i++) {
		size_t before = b.len;
		uint16_t cnt = b.count[DNS_SEC_ADDITIONAL];
		if (put_rrset(&b, DNS_SEC_ADDITIONAL, &lk.ar[i], lk.ar[i].rs->ttl)) {
			/* RFC 2181 9: leave out additional data that does not fit, whole RRsets */
			b.len = before;
			b.count[DNS_SEC_ADDITIONAL] = cnt;
			if (lk.referral) /* glue is needed for a referral (RFC 9471) */
				dns_builder_set_flags(&b, (uint16_t)(flags | DNS_F_TC));
			break;
		}
	}
	return finish_reply(&b, &x->r, 0, s->udp_payload);
}

/*
 * One well-formed question (checks done, cap set for the transport): the
 * client ACL, meta types, the policy hook, then a local zone or elsewhere.
 */
static size_t answer_question(struct query *x, int signed_query, uint8_t *out, size_t cap)
{
	struct dns_server *s = x->s;
	const struct dns_question *qd = &x->m.qd[0];
	if (x->from && !dns_acl_match(&s->allow_query, x->from)) {
		s->stats.refused++;
		set_ede(&x->r, DNS_EDE_PROHIBITED, "query not allowed");
		return error_reply(s, &x->m, &x->r, x->rflags, DNS_RCODE_REFUSED, out, cap);
	}
	if (qd->qtype == DNS_T_AXFR || qd->qtype == DNS_T_IXFR ||
		(qd->qtype >= 128 && qd->qtype <= 254) || qd->qtype == DNS_T_OPT) {
		set_ede(&x->r, DNS_EDE_NOT_SUPPORTED, "meta query not supported");
		return error_reply(s, &x->m, &x->r, x->rflags, DNS_RCODE_NOTIMP, out, cap);
	}
	uint8_t paddr[16];
	int pfam = 0;
	enum dns_policy pol = dns_policy_check(s, qd->name, qd->qtype, x->from, paddr, &pfam);
	if (pol == DNS_POLICY_REFUSE) {
		s->stats.refused++;
		set_ede(&x->r, DNS_EDE_BLOCKED, "blocked by policy");
		return error_reply(s, &x->m, &x->r, x->rflags, DNS_RCODE_REFUSED, out, cap);
	}
	if (pol == DNS_POLICY_NXDOMAIN) {
		s->stats.nxdomain++;
		set_ede(&x->r, DNS_EDE_FILTERED, "filtered by policy");
		return error_reply(s, &x->m, &x->r, x->rflags, DNS_RCODE_NXDOMAIN, out, cap);
	}
	if (pol == DNS_POLICY_REWRITE) {
		struct dns_builder b;
		dns_builder_init(&b, out, cap, x->m.id, (uint16_t)(x->rflags | DNS_F_AA));
		dns_builder_question(&b, qd->name, qd->qtype, qd->qclass);
		if (x->r.edns)
			b.reserve = dns_opt_size(x->r.opts, x->r.n_opts);
		if ((pfam == AF_INET && qd->qtype == DNS_T_A) || (pfam == AF_INET6 && qd->qtype == DNS_T_AAAA))
			dns_builder_rr(&b, DNS_SEC_ANSWER, qd->name, qd->qtype, DNS_C_IN, 60, paddr,
				pfam == AF_INET ? 4 : 16);
		return finish_reply(&b, &x->r, 0, s->udp_payload);
	}
	const struct dns_zone *z = NULL;
	if (qd->qclass == DNS_C_IN || qd->qclass == DNS_C_ANY)
		z = dns_zoneset_find(&s->zones, qd->name);
	int may_recurse = !x->from || dns_acl_match(&s->allow_recursion, x->from);
	if (!z)
		return answer_elsewhere(x, qd, may_recurse, signed_query, out, cap);
	return answer_local(x, z, qd, may_recurse, out, cap);
}

size_t dns_server_answer_for(struct dns_server *s, const uint8_t *q, size_t qlen,
	const struct dns_reply *reply, uint8_t *out, size_t outcap)
{
	if (qlen < 12 || (q[2] & 0x80)) {
		s->stats.dropped++;
		return 0; /* no header, or a response: never answer */
	}
	struct query x;
	memset(&x, 0, sizeof x);
	size_t len;
	x.s = s;
	x.reply = reply;
	x.tcp = reply->tcp;
	x.from = reply->addr.ss_family ? (const struct sockaddr *)&reply->addr : NULL;
	x.qflags = (uint16_t)(q[2] << 8 | q[3]);
	x.rflags = (uint16_t)(DNS_F_QR | (x.qflags & (0x7800 | DNS_F_RD | DNS_F_CD)));
	if (dns_msg_parse(&x.m, q, qlen) != 0) {
		s->stats.formerr++;
		struct dns_builder b;
		dns_builder_init(&b, out, outcap, (uint16_t)(q[0] << 8 | q[1]),
			(uint16_t)(x.rflags | DNS_RCODE_FORMERR));
		len = dns_builder_finish(&b);
		dns_metrics_response(out, len, dns_reply_via(reply));
		return len;
	}
	struct dns_msg *m = &x.m;
	struct edns_out *r = &x.r;
	struct dns_tsig_ctx tctx;
	int tsig_ok = 0;
	size_t cap = outcap, sign_cap = outcap, reserve = 0;
	r->edns = m->edns.present;
	r->edns_flags = (uint16_t)(m->edns.flags & DNS_EDNS_DO);
	if (r->edns && m->edns.has_cookie)
		make_cookie(s, m, x.from, r);
	int opcode = DNS_OPCODE(m->flags);
	if (opcode == DNS_OP_UPDATE) {
		/* allow_update, not allow_query: who may read a zone is not who may change it */
		if (x.from && !dns_acl_match(&s->allow_update, x.from)) {
			s->stats.refused++;
			len = error_reply(s, m, r, x.rflags, DNS_RCODE_REFUSED, out, outcap);
		} else {
			len = dns_update_handle(s, m, q, qlen, reply, out, x.tcp ? outcap : 512);
		}
		goto done;
	}
	if (opcode != DNS_OP_QUERY) {
		len = error_reply(s, m, r, x.rflags, DNS_RCODE_NOTIMP, out, outcap);
		goto done;
	}
	dns_metrics_query(m->n_qd ? m->qd[0].qtype : 0, dns_reply_via(reply));
	/* A signed query is verified first; its answer (whatever it is) is signed below. */
	if (m->has_tsig) {
		int ok;
		len = dns_tsig_verify(s, m, q, &tctx, out, outcap < 512 ? outcap : 512, &ok);
		if (!ok)
			goto done;
		tsig_ok = 1;
		reserve = (size_t)dns_name_len(tctx.key->name, DNS_NAME_MAX) + 80;
	}
	if (m->n_qd == 0 && r->edns && m->edns.has_cookie && m->edns.version == 0 &&
		!m->n_rr[DNS_SEC_ANSWER] && !m->n_rr[DNS_SEC_AUTHORITY]) {
		/* RFC 7873 5.4: a query for a server cookie only */
		len = error_reply(s, m, r, x.rflags,
			cookie_valid(s, m, x.from) ? DNS_RCODE_NOERROR : DNS_RCODE_BADCOOKIE, out, outcap);
		goto done;
	}
	if (m->n_qd != 1 || m->n_rr[DNS_SEC_ANSWER] || m->n_rr[DNS_SEC_AUTHORITY]) {
		s->stats.formerr++;
		len = error_reply(s, m, r, x.rflags, DNS_RCODE_FORMERR, out, outcap);
		goto done;
	}
	if (r->edns && m->edns.version != 0) {
		/* RFC 6891 6.1.3: BADVERS, with our OPT (version 0) */
		len = error_reply(s, m, r, x.rflags, DNS_RCODE_BADVERS, out, outcap);
		goto done;
	}
	if (!x.tcp) {
		size_t lim = 512;
		if (r->edns)
			lim = m->edns.udp_size < 512 ? 512 : m->edns.udp_size;
		if (lim > s->udp_payload)
			lim = s->udp_payload;
		if (cap > lim)
			cap = lim;
	}
	if (tsig_ok) {
		sign_cap = cap;
		if (cap > reserve + 12)
			cap -= reserve;
	}
	len = answer_question(&x, tsig_ok, out, cap);
done:
	if (tsig_ok && len) {
		size_t sl = len;
		if (dns_tsig_sign_answer(&tctx, out, &sl, sign_cap) == 0)
			len = sl;
	}
	dns_msg_free(m);
	if (len)
		dns_metrics_response(out, len, dns_reply_via(reply));
	return len;
}

size_t dns_server_answer(struct dns_server *s, const uint8_t *q, size_t qlen,
	const struct sockaddr *from, int tcp, uint8_t *out, size_t outcap)
{
	struct dns_reply reply;
	memset(&reply, 0, sizeof reply);
	reply.tcp = tcp;
	if (from)
		memcpy(&reply.addr, from, from->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
								    : sizeof(struct sockaddr_in));
	return dns_server_answer_for(s, q, qlen, &reply, out, outcap);
}

/* ---- UDP ---- */

#define UDP_CHUNK (64 * 1024)

struct udp_send {
	uv_udp_send_t req;
	uint8_t data[];
};

static void udp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct dns_udp_listener *l = h->data;
	(void)suggested;
	*buf = uv_buf_init((char *)l->rbuf, DNS_UDP_BATCH * UDP_CHUNK);
}

static void udp_sent(uv_udp_send_t *req, int status)
{
	(void)status;
	free(req);
}

/* The UDP reply channel: an answer given later (forwarded, an update committed). */
static void udp_reply(const struct dns_reply *r, const uint8_t *p, size_t n)
{
	struct dns_udp_listener *l = r->transport;
	if (l->srv->stopping)
		return; /* the listener is closing */
	dns_qlog_answer(l->srv, r, p, n);
	dns_metrics_response(p, n, 0);
	const struct sockaddr *to = (const struct sockaddr *)&r->addr;
	uv_buf_t ob = uv_buf_init((char *)p, (unsigned)n);
	if (uv_udp_try_send(&l->h, &ob, 1, to) >= 0)
		return;
	struct udp_send *us = malloc(sizeof *us + n);
	if (!us)
		return;
	memcpy(us->data, p, n);
	ob = uv_buf_init((char *)us->data, (unsigned)n);
	if (uv_udp_send(&us->req, &l->h, &ob, 1, to, udp_sent))
		free(us);
}

/* Queued send for what sendmmsg could not take right now. */
static void udp_send_copy(uv_udp_t *h, const uint8_t *p, size_t n, const struct sockaddr *addr)
{
	struct udp_send *us = malloc(sizeof *us + n);
	if (!us)
		return;
	memcpy(us->data, p, n);
	uv_buf_t ob = uv_buf_init((char *)us->data, (unsigned)n);
	if (uv_udp_send(&us->req, h, &ob, 1, addr, udp_sent))
		free(us);
}

static socklen_t sa_len(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

/* Sends every queued response with one sendmmsg where possible. */
static void udp_flush(struct dns_udp_listener *l)
{
	size_t n = l->nq, done = 0;
	l->nq = 0;
	if (!n)
		return;
	uv_os_fd_t fd;
	if (uv_fileno((uv_handle_t *)&l->h, &fd) == 0) {
		struct mmsghdr msgs[DNS_UDP_BATCH];
		struct iovec iov[DNS_UDP_BATCH];
		memset(msgs, 0, sizeof msgs[0] * n);
		for (size_t i = 0; i < n; i++) {
			iov[i].iov_base = l->sbuf + i * DNS_UDP_OUT_MAX;
			iov[i].iov_len = l->qlen[i];
			msgs[i].msg_hdr.msg_name = &l->qaddr[i];
			msgs[i].msg_hdr.msg_namelen = sa_len(&l->qaddr[i]);
			msgs[i].msg_hdr.msg_iov = &iov[i];
			msgs[i].msg_hdr.msg_iovlen = 1;
		}
		while (done < n) {
			int r = sendmmsg(fd, msgs + done, (unsigned)(n - done), MSG_DONTWAIT);
			if (r <= 0)
				break;
			done += (size_t)r;
		}
	}
	/* The socket buffer is full (or sendmmsg failed): queue the rest in libuv. */
	for (size_t i = done; i < n; i++)
		udp_send_copy(&l->h, l->sbuf + i * DNS_UDP_OUT_MAX, l->qlen[i],
			(const struct sockaddr *)&l->qaddr[i]);
}

static void udp_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *addr,
	unsigned flags)
{
	struct dns_udp_listener *l = h->data;
	struct dns_server *s = l->srv;
	if (!addr) {
		/* end of a recvmmsg batch (or nothing read): send what the batch produced */
		udp_flush(l);
		return;
	}
	if (nread <= 0 || s->stopping)
		return;
	s->stats.queries_udp++;
	uint8_t *out = l->sbuf + l->nq * DNS_UDP_OUT_MAX;
	struct dns_reply reply = { .send = udp_reply, .transport = l, .tcp = 0 };
	if (s->qlog.enabled)
		reply.t0 = uv_hrtime(); /* only the query log reads it */
	memcpy(&reply.addr, addr,
		addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
	size_t n = dns_server_answer_for(s, (const uint8_t *)buf->base, (size_t)nread, &reply, out,
		DNS_UDP_OUT_MAX);
	if (n) {
		dns_qlog_answer(s, &reply, out, n);
		l->qlen[l->nq] = n;
		l->qaddr[l->nq] = reply.addr;
		l->nq++;
	}
	if (l->nq == DNS_UDP_BATCH || !(flags & UV_UDP_MMSG_CHUNK))
		udp_flush(l);
}

/* ---- listeners ---- */

static void fmt_addr(const struct sockaddr *sa, char *buf, size_t n)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	int port = 0;
	if (sa->sa_family == AF_INET) {
		uv_ip4_name((const struct sockaddr_in *)sa, ip, sizeof ip);
		port = ntohs(((const struct sockaddr_in *)sa)->sin_port);
		snprintf(buf, n, "%s:%d", ip, port);
	} else {
		uv_ip6_name((const struct sockaddr_in6 *)sa, ip, sizeof ip);
		port = ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
		snprintf(buf, n, "[%s]:%d", ip, port);
	}
}

/*
 * Port 0 asks for any free port, the same for UDP and TCP: probe with plain
 * sockets until one port is free for both (bounded), then bind there.
 */
static int pick_port(struct sockaddr_storage *ss)
{
	struct sockaddr *sa = (struct sockaddr *)ss;
	in_port_t *port = sa->sa_family == AF_INET6 ? &((struct sockaddr_in6 *)ss)->sin6_port
						  : &((struct sockaddr_in *)ss)->sin_port;
	if (*port != 0)
		return 0;
	socklen_t sl = sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	for (int attempt = 0; attempt < 32; attempt++) {
		struct sockaddr_storage probe = *ss;
		int u = socket(sa->sa_family, SOCK_DGRAM, 0);
		int t = socket(sa->sa_family, SOCK_STREAM, 0);
		int ok = u >= 0 && t >= 0 && bind(u, (struct sockaddr *)&probe, sl) == 0;
		if (ok) {
			socklen_t pl = sizeof probe;
			ok = getsockname(u, (struct sockaddr *)&probe, &pl) == 0 &&
			     bind(t, (struct sockaddr *)&probe, sl) == 0;
		}
		if (u >= 0)
			close(u);
		if (t >= 0)
			close(t);
		if (ok) {
			*port = sa->sa_family == AF_INET6 ? ((struct sockaddr_in6 *)&probe)->sin6_port
							  : ((struct sockaddr_in *)&probe)->sin_port;
			return 0;
		}
	}
	return UV_EADDRINUSE;
}

/* Can this host bind an address of this family at all (no IPv6 in some containers)? */
static int family_usable(const struct sockaddr_storage *ss)
{
	if (ss->ss_family != AF_INET6)
		return 1;
	int fd = socket(AF_INET6, SOCK_DGRAM, 0);
	if (fd < 0)
		return 0;
	struct sockaddr_in6 probe = *(const struct sockaddr_in6 *)ss;
	probe.sin6_port = 0;
	int ok = bind(fd, (struct sockaddr *)&probe, sizeof probe) == 0 || errno != EADDRNOTAVAIL;
	close(fd);
	return ok;
}

/* The DoT listeners: TCP listeners whose connections carry the frames inside TLS. */
static int dot_listen(struct dns_server *s)
{
	if (!s->n_tls_listen)
		return 0;
	int rc = s->tls ? 0 : dns_dot_tls_server(s);
	if (rc)
		return rc;
	for (size_t i = 0; i < s->n_tls_listen; i++) {
		struct sockaddr *sa = (struct sockaddr *)&s->tls_listen_addr[i];
		char name[80];
		fmt_addr(sa, name, sizeof name);
		if (!family_usable(&s->tls_listen_addr[i])) {
			TB_WARN("dns", "skipping DoT %s: this host has no such IPv6 address", name);
			continue;
		}
		struct dns_tcp_listener *t = &s->tcp[s->n_tcp];
		t->srv = s;
		t->tls = 1;
		uv_tcp_init(s->loop, &t->h);
		t->h.data = t;
		s->n_tcp++;
		rc = uv_tcp_bind(&t->h, sa, sa->sa_family == AF_INET6 ? UV_TCP_IPV6ONLY : 0);
		if (rc == 0)
			rc = uv_listen((uv_stream_t *)&t->h, DNS_TCP_LISTEN_BACKLOG, dns_stream_accept);
		if (rc) {
			TB_ERROR("dns", "cannot listen on tls %s: %s", name, uv_strerror(rc));
			return rc;
		}
		struct sockaddr_storage bound;
		int bl = sizeof bound;
		if (uv_tcp_getsockname(&t->h, (struct sockaddr *)&bound, &bl) == 0)
			fmt_addr((struct sockaddr *)&bound, name, sizeof name);
		tb_core_announce(s->core, "dns", "DNS over TLS", "%s", name);
		TB_INFO("dns", "listening on %s (DNS over TLS)", name);
	}
	return 0;
}

int dns_server_listen(struct dns_server *s)
{
	for (size_t i = 0; i < s->n_listen; i++) {
		if (!family_usable(&s->listen_addr[i])) {
			char name[80];
			fmt_addr((struct sockaddr *)&s->listen_addr[i], name, sizeof name);
			TB_WARN("dns", "skipping %s: this host has no such IPv6 address", name);
			continue;
		}
		int prc = pick_port(&s->listen_addr[i]);
		if (prc)
			return prc;
		struct sockaddr *sa = (struct sockaddr *)&s->listen_addr[i];
		char name[80];
		fmt_addr(sa, name, sizeof name);
		struct dns_udp_listener *u = &s->udp[s->n_udp];
		u->srv = s;
		u->rbuf = malloc(DNS_UDP_BATCH * UDP_CHUNK);
		u->sbuf = malloc(DNS_UDP_BATCH * DNS_UDP_OUT_MAX);
		int rc = (!u->rbuf || !u->sbuf) ? TB_ERR_NOMEM
						 : uv_udp_init_ex(s->loop, &u->h, (unsigned)sa->sa_family | UV_UDP_RECVMMSG);
		if (rc) {
			free(u->rbuf);
			free(u->sbuf);
			u->rbuf = u->sbuf = NULL;
			return rc;
		}
		u->h.data = u;
		s->n_udp++;
		rc = uv_udp_bind(&u->h, sa, sa->sa_family == AF_INET6 ? UV_UDP_IPV6ONLY : 0);
		if (rc == 0)
			rc = uv_udp_recv_start(&u->h, udp_alloc, udp_recv);
		if (rc) {
			TB_ERROR("dns", "cannot listen on udp %s: %s", name, uv_strerror(rc));
			return rc;
		}
		/* TCP on the same port as UDP got (port 0 picks one for both) */
		struct sockaddr_storage bound;
		int bl = sizeof bound;
		uv_udp_getsockname(&u->h, (struct sockaddr *)&bound, &bl);
		struct dns_tcp_listener *t = &s->tcp[s->n_tcp];
		t->srv = s;
		uv_tcp_init(s->loop, &t->h);
		t->h.data = t;
		s->n_tcp++;
		rc = uv_tcp_bind(&t->h, (struct sockaddr *)&bound,
			sa->sa_family == AF_INET6 ? UV_TCP_IPV6ONLY : 0);
		if (rc == 0)
			rc = uv_listen((uv_stream_t *)&t->h, DNS_TCP_LISTEN_BACKLOG, dns_stream_accept);
		fmt_addr((struct sockaddr *)&bound, name, sizeof name);
		if (rc) {
			TB_ERROR("dns", "cannot listen on tcp %s: %s", name, uv_strerror(rc));
			return rc;
		}
		tb_core_announce(s->core, "dns", "DNS (udp+tcp)", "%s", name);
		TB_INFO("dns", "listening on %s (udp+tcp)", name);
	}
	return dot_listen(s);
}

static void handle_closed(uv_handle_t *h)
{
	struct dns_server *srv;
	if (h->type == UV_TIMER) {
		srv = h->data; /* the accept timer */
	} else if (h->type == UV_UDP) {
		struct dns_udp_listener *u = h->data;
		free(u->rbuf);
		free(u->sbuf);
		u->rbuf = u->sbuf = NULL;
		srv = u->srv;
	} else {
		srv = ((struct dns_tcp_listener *)h->data)->srv;
	}
	if (srv->closing && --srv->closing == 0 && srv->stop_done)
		srv->stop_done(srv->stop_arg);
}

void dns_server_close(struct dns_server *s)
{
	s->stopping = 1;
	s->closing++; /* held until every close has been issued */
	for (size_t i = 0; i < s->n_udp; i++) {
		s->closing++;
		uv_close((uv_handle_t *)&s->udp[i].h, handle_closed);
	}
	for (size_t i = 0; i < s->n_tcp; i++) {
		s->closing++;
		uv_close((uv_handle_t *)&s->tcp[i].h, handle_closed);
	}
	s->n_udp = s->n_tcp = 0;
	if (s->tcp_accept_timer_open) {
		s->tcp_accept_timer_open = 0;
		s->closing++;
		uv_close((uv_handle_t *)&s->tcp_accept_timer, handle_closed);
	}
	dns_stream_close_all(s);
	if (--s->closing == 0 && s->stop_done)
		s->stop_done(s->stop_arg);
}
