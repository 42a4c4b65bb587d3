/*
 * DESIGN: dynamic update (RFC 2136) authenticated with TSIG (RFC 8945).
 *
 * An UPDATE must be signed with HMAC-SHA256 by a configured key (or the lab
 * key generated on first start); unsigned updates are REFUSED. The request
 * MAC is checked over the message without its TSIG record (original ID,
 * ARCOUNT - 1) followed by the TSIG variables; the time must be within fudge.
 * Then RFC 2136 section 3 in order: zone section, prerequisites, prescan of
 * the update section, and the updates themselves, applied to the in-memory
 * zone at once (so the next update's prerequisites see them). Every effective
 * change is recorded as an add or delete of one record, the SOA serial is
 * incremented (and recorded as an add of the new SOA), and the records go to
 * the store's dns_update_journal in one write job. The client gets its
 * (signed) answer only after that job has committed; a failed commit answers
 * SERVFAIL. At start the journal is replayed over the configured zone data.
 * The admin API (admin.c) changes zones through the same update_run and
 * update_commit (dns_update_submit): unsigned, as the token vouched for it.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/crypto.h"
#include "core/error.h"
#include "core/log.h"
#include "core/subsystem.h"
#include "dns/dns.h"
#include "dns/dns_internal.h"

#define TSIG_FUDGE DNS_TSIG_FUDGE_MAX /* the fudge our own signatures carry */
static const uint8_t alg_hmac_sha256[] = "\x0bhmac-sha256";
/* RFC 8945 5.2.2.1: the shortest MAC accepted, max(10, half of SHA-256's 32 octets) */
#define TSIG_MAC_MIN (TB_SHA256_LEN / 2 > 10 ? TB_SHA256_LEN / 2 : 10)

static inline uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* ---- TSIG ---- */

struct tsig {
	const uint8_t *alg;
	uint64_t time_signed;
	uint16_t fudge;
	const uint8_t *mac;
	uint16_t mac_len;
	uint16_t orig_id;
	uint16_t error;
	const uint8_t *other;
	uint16_t other_len;
};

static int tsig_parse(const uint8_t *rd, size_t n, struct tsig *t)
{
	int al = dns_name_len(rd, n);
	if (al < 0)
		return TB_ERR_INVALID;
	size_t o = (size_t)al;
	if (n - o < 10)
		return TB_ERR_INVALID;
	t->alg = rd;
	t->time_signed = 0;
	for (int i = 0; i < 6; i++)
		t->time_signed = t->time_signed << 8 | rd[o + (size_t)i];
	t->fudge = rd16(rd + o + 6);
	t->mac_len = rd16(rd + o + 8);
	o += 10;
	if (n - o < (size_t)t->mac_len + 6)
		return TB_ERR_INVALID;
	t->mac = rd + o;
	o += t->mac_len;
	t->orig_id = rd16(rd + o);
	t->error = rd16(rd + o + 2);
	t->other_len = rd16(rd + o + 4);
	o += 6;
	if (n - o != t->other_len)
		return TB_ERR_INVALID;
	t->other = rd + o;
	return 0;
}

static void put_lower_name(struct tb_bytes *b, const uint8_t *name)
{
	uint8_t tmp[DNS_NAME_MAX];
	int l = dns_name_len(name, DNS_NAME_MAX);
	if (l < 0)
		return;
	memcpy(tmp, name, (size_t)l);
	dns_name_lower(tmp);
	tb_bytes_append(b, tmp, (size_t)l);
}

/*
 * HMAC-SHA256 over [u16 len, request MAC] + message + TSIG variables
 * (RFC 8945 4.3.3). msg is the message without TSIG, with ARCOUNT and ID
 * already as they must be hashed.
 */
static int tsig_mac(const struct dns_tsig_key *k, const uint8_t *req_mac, size_t req_mac_len,
	const uint8_t *msg, size_t msglen, uint64_t time_signed, uint16_t fudge, uint16_t error,
	const uint8_t *other, uint16_t other_len, uint8_t out[TB_SHA256_LEN])
{
	struct tb_bytes b = { 0 };
	if (req_mac) {
		tb_bytes_u16(&b, (uint16_t)req_mac_len);
		tb_bytes_append(&b, req_mac, req_mac_len);
	}
	tb_bytes_append(&b, msg, msglen);
	put_lower_name(&b, k->name);
	tb_bytes_u16(&b, DNS_C_ANY);
	tb_bytes_u32(&b, 0);
	tb_bytes_append(&b, alg_hmac_sha256, sizeof alg_hmac_sha256);
	tb_bytes_u16(&b, (uint16_t)(time_signed >> 32));
	tb_bytes_u32(&b, (uint32_t)time_signed);
	tb_bytes_u16(&b, fudge);
	tb_bytes_u16(&b, error);
	tb_bytes_u16(&b, other_len);
	tb_bytes_append(&b, other, other_len);
	int err = b.err ? b.err
			: tb_hmac(TB_HASH_SHA256, TB_BUF(k->secret, k->secret_len), tb_bytes_buf(&b), out);
	tb_bytes_free(&b);
	return err;
}

/*
 * Appends a TSIG record to the finished message in buf (length *len, capacity
 * cap) and bumps ARCOUNT. mac_it: compute a MAC (else an empty one, for
 * BADKEY/BADSIG answers).
 */
static int tsig_sign_fudge(const struct dns_tsig_key *k, const uint8_t *req_mac, size_t req_mac_len,
	uint8_t *buf, size_t *len, size_t cap, uint16_t error, int mac_it, uint64_t now, uint16_t fudge)
{
	uint8_t mac[TB_SHA256_LEN], other[6];
	uint16_t other_len = 0;
	if (error == DNS_RCODE_BADTIME) {
		for (int i = 0; i < 6; i++)
			other[i] = (uint8_t)(now >> (8 * (5 - i)));
		other_len = 6;
	}
	if (mac_it && tsig_mac(k, req_mac, req_mac_len, buf, *len, now, fudge, error, other,
			      other_len, mac))
		return TB_ERR_CRYPTO;
	struct tb_bytes rr = { 0 };
	int kl = dns_name_len(k->name, DNS_NAME_MAX);
	tb_bytes_append(&rr, k->name, (size_t)kl);
	tb_bytes_u16(&rr, DNS_T_TSIG);
	tb_bytes_u16(&rr, DNS_C_ANY);
	tb_bytes_u32(&rr, 0);
	size_t mark;
	tb_bytes_vec_begin(&rr, 2, &mark);
	tb_bytes_append(&rr, alg_hmac_sha256, sizeof alg_hmac_sha256);
	tb_bytes_u16(&rr, (uint16_t)(now >> 32));
	tb_bytes_u32(&rr, (uint32_t)now);
	tb_bytes_u16(&rr, fudge);
	tb_bytes_vec(&rr, 2, mac, mac_it ? sizeof mac : 0);
	tb_bytes_u16(&rr, rd16(buf)); /* original ID */
	tb_bytes_u16(&rr, error);
	tb_bytes_vec(&rr, 2, other, other_len);
	tb_bytes_vec_end(&rr, 2, mark);
	int err = rr.err;
	if (!err && *len + rr.len > cap)
		err = TB_ERR_TOO_LARGE;
	if (!err) {
		memcpy(buf + *len, rr.p, rr.len);
		*len += rr.len;
		uint16_t ar = (uint16_t)(rd16(buf + 10) + 1);
		buf[10] = (uint8_t)(ar >> 8);
		buf[11] = (uint8_t)ar;
	}
	tb_bytes_free(&rr);
	return err;
}

static int tsig_sign(const struct dns_tsig_key *k, const uint8_t *req_mac, size_t req_mac_len,
	uint8_t *buf, size_t *len, size_t cap, uint16_t error, int mac_it, uint64_t now)
{
	return tsig_sign_fudge(k, req_mac, req_mac_len, buf, len, cap, error, mac_it, now, TSIG_FUDGE);
}

int dns_tsig_sign_request(const struct dns_tsig_key *k, uint8_t *buf, size_t *len, size_t cap,
	uint64_t now)
{
	return tsig_sign(k, NULL, 0, buf, len, cap, 0, 1, now);
}

int dns_tsig_sign_request_fudge(const struct dns_tsig_key *k, uint8_t *buf, size_t *len, size_t cap,
	uint64_t now, uint16_t fudge)
{
	return tsig_sign_fudge(k, NULL, 0, buf, len, cap, 0, 1, now, fudge);
}

/* ---- journal ---- */

/* One effective change: op 'a' (add) or 'd' (delete one record). */
static void journal_put(struct tb_bytes *j, char op, const uint8_t *owner, uint16_t type, uint32_t ttl,
	const uint8_t *rdata, size_t rdlen)
{
	int ol = dns_name_len(owner, DNS_NAME_MAX);
	tb_bytes_u8(j, (uint8_t)op);
	tb_bytes_u8(j, (uint8_t)ol);
	tb_bytes_append(j, owner, (size_t)ol);
	tb_bytes_u16(j, type);
	tb_bytes_u32(j, ttl);
	tb_bytes_vec(j, 2, rdata, rdlen);
}

struct dns_update {
	struct dns_server *s;
	struct dns_update *prev, *next;
	int counted;          /* a stop waits for its commit */
	int rcode;            /* what the update came to */
	size_t changes;
	dns_update_cb cb;     /* the admin API's completion; NULL for a wire update */
	void *cb_arg;
	struct dns_reply reply; /* where the answer goes */
	/* what the answer says */
	uint8_t resp[512];
	size_t resp_len;
	const struct dns_tsig_key *key;
	uint8_t req_mac[TB_SHA256_LEN];
	size_t req_mac_len;
	struct dns_db_update rec; /* what the store records (db.c) */
};

struct replay_ctx {
	struct dns_zone *z;
	size_t n, bad;
};

static void replay_one(void *arg, int add, const struct dns_rr *rr)
{
	struct replay_ctx *c = arg;
	int e = add ? dns_zone_add_rr(c->z, rr) : dns_zone_del_rr(c->z, rr->owner, rr->type, rr->rdata, rr->rdlen);
	if (e && e != TB_ERR_NOT_FOUND)
		c->bad++;
	c->n++;
}

int dns_journal_replay(struct dns_server *s)
{
	for (struct dns_zone *z = s->zones.zones; z; z = z->next) {
		char zone[DNS_NAME_TEXT_MAX];
		dns_name_str(z->origin, zone, sizeof zone);
		struct replay_ctx c = { z, 0, 0 };
		size_t malformed = 0;
		int err = dns_db_journal_read(s, zone, replay_one, &c, &malformed);
		if (err)
			return err;
		c.bad += malformed;
		if (c.n)
			TB_INFO("dns", "zone %s: replayed %zu journal record(s)%s", zone, c.n,
				c.bad ? " (some no longer apply)" : "");
	}
	return 0;
}

/* ---- applying an update ---- */

static int name_in_use(const struct dns_zone *z, const uint8_t *name)
{
	const struct dns_node *n = dns_zone_find(z, name);
	return n && n->rrsets;
}

static int is_meta(uint16_t t)
{
	return t == DNS_T_OPT || t == DNS_T_TSIG || t == DNS_T_TKEY || (t >= 128 && t <= 255);
}

static int rrset_has(const struct dns_rrset *rs, const uint8_t *rd, size_t len)
{
	for (size_t i = 0; i < rs->n; i++)
		if (dns_rd_len(rs->rd[i]) == len && memcmp(rs->rd[i] + 2, rd, len) == 0)
			return 1;
	return 0;
}

/* Is prerequisite a for the same RRset (owner, type, class IN) as b? */
static int same_rrset(const struct dns_rr *a, const struct dns_rr *b)
{
	return a->rclass == DNS_C_IN && a->type == b->type && dns_name_eq(a->owner, b->owner);
}

/* RFC 2136 3.2: prerequisites. Returns an RCODE. */
static int check_prereqs(const struct dns_zone *z, const struct dns_rr *pr, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct dns_rr *r = &pr[i];
		if (r->ttl != 0)
			return DNS_RCODE_FORMERR;
		if (!dns_name_is_sub(r->owner, z->origin))
			return DNS_RCODE_NOTZONE;
		const struct dns_node *node = dns_zone_find(z, r->owner);
		if (r->rclass == DNS_C_ANY) {
			if (r->rdlen)
				return DNS_RCODE_FORMERR;
			if (r->type == DNS_T_ANY) {
				if (!name_in_use(z, r->owner))
					return DNS_RCODE_NXDOMAIN;
			} else if (!node || !dns_node_rrset(node, r->type)) {
				return DNS_RCODE_NXRRSET;
			}
		} else if (r->rclass == DNS_C_NONE) {
			if (r->rdlen)
				return DNS_RCODE_FORMERR;
			if (r->type == DNS_T_ANY) {
				if (name_in_use(z, r->owner))
					return DNS_RCODE_YXDOMAIN;
			} else if (node && dns_node_rrset(node, r->type)) {
				return DNS_RCODE_YXRRSET;
			}
		} else if (r->rclass == DNS_C_IN) {
			/*
			 * value-dependent: the RRset must equal the records given for it,
			 * compared as sets (RFC 2136 3.2.3), so a record given twice counts
			 * once: each given record is in the RRset, and the distinct given
			 * records are as many as the RRset holds (its RDATA are distinct).
			 */
			const struct dns_rrset *rs = node ? dns_node_rrset(node, r->type) : NULL;
			if (!rs || !rrset_has(rs, r->rdata, r->rdlen))
				return DNS_RCODE_NXRRSET;
			size_t first = 0;
			while (first < i && !same_rrset(&pr[first], r))
				first++;
			if (first < i)
				continue; /* this RRset was counted at its first record */
			size_t distinct = 0;
			for (size_t k = 0; k < n; k++) {
				if (!same_rrset(&pr[k], r))
					continue;
				size_t e = 0;
				while (e < k && !(same_rrset(&pr[e], r) && pr[e].rdlen == pr[k].rdlen &&
							 memcmp(pr[e].rdata, pr[k].rdata, pr[k].rdlen) == 0))
					e++;
				if (e == k)
					distinct++;
			}
			if (distinct != rs->n)
				return DNS_RCODE_NXRRSET;
		} else {
			return DNS_RCODE_FORMERR;
		}
	}
	return DNS_RCODE_NOERROR;
}

/* RFC 2136 3.4.1: prescan. */
static int prescan(const struct dns_zone *z, const struct dns_rr *up, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct dns_rr *r = &up[i];
		if (!dns_name_is_sub(r->owner, z->origin))
			return DNS_RCODE_NOTZONE;
		if (r->rclass == DNS_C_IN) {
			if (is_meta(r->type) || r->type == DNS_T_ANY)
				return DNS_RCODE_FORMERR;
			if (dns_rdata_check(r->type, r->rdata, r->rdlen))
				return DNS_RCODE_FORMERR;
		} else if (r->rclass == DNS_C_ANY) {
			if (r->ttl || r->rdlen || (is_meta(r->type) && r->type != DNS_T_ANY))
				return DNS_RCODE_FORMERR;
		} else if (r->rclass == DNS_C_NONE) {
			if (r->ttl || is_meta(r->type))
				return DNS_RCODE_FORMERR;
		} else {
			return DNS_RCODE_FORMERR;
		}
	}
	return DNS_RCODE_NOERROR;
}

static void del_one(struct dns_zone *z, struct tb_bytes *j, const uint8_t *owner, uint16_t type,
	uint32_t ttl, const uint8_t *rd, size_t len)
{
	if (dns_zone_del_rr(z, owner, type, rd, len) == 0)
		journal_put(j, 'd', owner, type, ttl, rd, len);
}

/* Deletes a whole RRset, one journaled record at a time. */
static void del_rrset(struct dns_zone *z, struct tb_bytes *j, const uint8_t *owner, uint16_t type)
{
	for (int guard = 0; guard < DNS_RRSET_MAX + 1; guard++) {
		struct dns_node *n = dns_zone_find(z, owner);
		struct dns_rrset *rs = n ? dns_node_rrset(n, type) : NULL;
		if (!rs || !rs->n)
			return;
		uint8_t tmp[2 + 65535];
		size_t l = dns_rd_len(rs->rd[rs->n - 1]);
		memcpy(tmp, rs->rd[rs->n - 1], 2 + l);
		del_one(z, j, owner, type, rs->ttl, tmp + 2, l);
	}
}

/*
 * RFC 2136 3.4.2. Returns the number of effective changes; *soa_set tells
 * whether the update itself installed a newer SOA serial.
 */
static size_t apply(struct dns_zone *z, const struct dns_rr *up, size_t n, struct tb_bytes *j,
	int *soa_set)
{
	size_t before = j->len, changes = 0;
	for (size_t i = 0; i < n; i++) {
		const struct dns_rr *r = &up[i];
		int apex = dns_name_eq(r->owner, z->origin);
		struct dns_node *node = dns_zone_find(z, r->owner);
		if (r->rclass == DNS_C_IN) {
			if (r->type == DNS_T_SOA) {
				/* only at the apex and only a newer serial (RFC 2136 3.4.2.2) */
				const struct dns_rrset *soa = dns_node_rrset(z->apex, DNS_T_SOA);
				if (!apex || !soa || r->rdlen < 20)
					continue;
				uint32_t cur, nw;
				const uint8_t *c = soa->rd[0] + 2 + dns_rd_len(soa->rd[0]) - 20;
				const uint8_t *w = r->rdata + r->rdlen - 20;
				cur = (uint32_t)rd16(c) << 16 | rd16(c + 2);
				nw = (uint32_t)rd16(w) << 16 | rd16(w + 2);
				if ((int32_t)(nw - cur) <= 0)
					continue;
			}
			/* an exact duplicate (same RDATA and TTL) changes nothing (RFC 2136 3.4.2.2) */
			const struct dns_rrset *ex = node ? dns_node_rrset(node, r->type) : NULL;
			if (ex && ex->ttl == r->ttl && rrset_has(ex, r->rdata, r->rdlen))
				continue;
			if (dns_zone_add_rr(z, r) == 0) {
				journal_put(j, 'a', r->owner, r->type, r->ttl, r->rdata, r->rdlen);
				if (r->type == DNS_T_SOA)
					*soa_set = 1;
			}
			/* CNAME beside other data (TB_ERR_EXISTS) is silently ignored, as 3.4.2.2 says */
		} else if (r->rclass == DNS_C_ANY) {
			if (!node)
				continue;
			if (r->type == DNS_T_ANY) {
				uint16_t types[256];
				size_t nt = 0;
				for (struct dns_rrset *rs = node->rrsets; rs && nt < 256; rs = rs->next)
					if (!(apex && (rs->type == DNS_T_SOA || rs->type == DNS_T_NS)))
						types[nt++] = rs->type;
				for (size_t k = 0; k < nt; k++)
					del_rrset(z, j, r->owner, types[k]);
			} else if (!(apex && (r->type == DNS_T_SOA || r->type == DNS_T_NS))) {
				del_rrset(z, j, r->owner, r->type);
			}
		} else if (r->rclass == DNS_C_NONE) {
			if (apex && r->type == DNS_T_SOA)
				continue;
			if (apex && r->type == DNS_T_NS) {
				const struct dns_rrset *ns = dns_node_rrset(z->apex, DNS_T_NS);
				if (!ns || ns->n <= 1)
					continue; /* never the last NS */
			}
			struct dns_rrset *rs = node ? dns_node_rrset(node, r->type) : NULL;
			if (rs)
				del_one(z, j, r->owner, r->type, rs->ttl, r->rdata, r->rdlen);
		}
	}
	for (size_t o = before; o < j->len;) {
		changes++;
		size_t ol = j->p[o + 1];
		o += 2 + ol;
		o += 8 + rd16(j->p + o + 6);
	}
	return changes;
}

/* The apex SOA serial. */
static uint32_t zone_serial(const struct dns_zone *z)
{
	const struct dns_rrset *soa = dns_node_rrset(z->apex, DNS_T_SOA);
	if (!soa || !soa->n || dns_rd_len(soa->rd[0]) < 20)
		return 0;
	const uint8_t *sp = soa->rd[0] + 2 + dns_rd_len(soa->rd[0]) - 20;
	return (uint32_t)rd16(sp) << 16 | rd16(sp + 2);
}

/* Bumps the SOA serial (RFC 1982 arithmetic) and journals the new SOA. */
static uint32_t bump_serial(struct dns_zone *z, struct tb_bytes *j)
{
	struct dns_rrset *soa = dns_node_rrset(z->apex, DNS_T_SOA);
	if (!soa || !soa->n)
		return 0;
	size_t l = dns_rd_len(soa->rd[0]);
	if (l < 20)
		return 0;
	uint8_t rd[2 * DNS_NAME_MAX + 20];
	memcpy(rd, soa->rd[0] + 2, l);
	uint8_t *sp = rd + l - 20;
	uint32_t serial = (uint32_t)rd16(sp) << 16 | rd16(sp + 2);
	serial++;
	if (serial == 0)
		serial = 1;
	sp[0] = (uint8_t)(serial >> 24);
	sp[1] = (uint8_t)(serial >> 16);
	sp[2] = (uint8_t)(serial >> 8);
	sp[3] = (uint8_t)serial;
	struct dns_rr rr = { z->origin, DNS_T_SOA, DNS_C_IN, soa->ttl, rd, (uint16_t)l };
	if (dns_zone_add_rr(z, &rr) == 0)
		journal_put(j, 'a', z->origin, DNS_T_SOA, rr.ttl, rd, l);
	return serial;
}

/* ---- the answer ---- */

static size_t build_answer(const struct dns_msg *m, int rcode, uint8_t *out, size_t cap)
{
	struct dns_builder b;
	dns_builder_init(&b, out, cap, m->id,
		(uint16_t)(DNS_F_QR | (m->flags & (0x7800 | DNS_F_RD | DNS_F_CD)) | (rcode & 0xf)));
	if (m->n_qd == 1)
		dns_builder_question(&b, m->qd[0].name, m->qd[0].qtype, m->qd[0].qclass);
	return dns_builder_finish(&b);
}

static void unlink_update(struct dns_update *u)
{
	struct dns_server *s = u->s;
	if (u->prev)
		u->prev->next = u->next;
	else
		s->updates = u->next;
	if (u->next)
		u->next->prev = u->prev;
}

static void journal_done(int status, void *arg)
{
	struct dns_update *u = (struct dns_update *)((char *)arg - offsetof(struct dns_update, rec));
	struct dns_server *s = u->s;
	if (status) {
		TB_ERROR("dns", "zone %s: update could not be stored: %s", u->rec.zone, tb_strerror(status));
		u->resp[3] = (uint8_t)((u->resp[3] & 0xf0) | DNS_RCODE_SERVFAIL);
		u->rcode = DNS_RCODE_SERVFAIL;
	}
	size_t len = u->resp_len;
	if (u->cb) {
		u->cb(u->cb_arg, status, u->rcode, u->changes, u->rec.serial);
	} else if (!tsig_sign(u->key, u->req_mac, u->req_mac_len, u->resp, &len, sizeof u->resp, 0, 1,
			   (uint64_t)tb_time_now())) {
		u->resp_len = len;
		if (u->reply.send)
			u->reply.send(&u->reply, u->resp, u->resp_len);
	}
	int counted = u->counted;
	unlink_update(u);
	tb_bytes_free(&u->rec.journal);
	free(u);
	if (counted && --s->closing == 0 && s->stop_done)
		s->stop_done(s->stop_arg);
}

size_t dns_tsig_verify(struct dns_server *s, const struct dns_msg *m, const uint8_t *q,
	struct dns_tsig_ctx *ctx, uint8_t *out, size_t cap, int *ok)
{
	uint64_t now = (uint64_t)tb_time_now();
	*ok = 0;
	size_t nad;
	struct dns_rr *ad = dns_msg_section(m, DNS_SEC_ADDITIONAL, &nad);
	const struct dns_rr *trr = &ad[nad - 1];
	struct tsig t;
	if (tsig_parse(trr->rdata, trr->rdlen, &t))
		return build_answer(m, DNS_RCODE_FORMERR, out, cap);
	const struct dns_tsig_key *key = NULL;
	for (size_t i = 0; i < s->n_keys; i++)
		if (dns_name_eq(s->keys[i].name, trr->owner))
			key = &s->keys[i];
	size_t len;
	/*
	 * RFC 8945 5.2.2.1: a MAC longer than the hash, or truncated below the larger
	 * of 10 octets and half the hash, is FORMERR (checked before the key, so a
	 * client learns nothing about our keys from a malformed record).
	 */
	if (t.mac_len > TB_SHA256_LEN || t.mac_len < TSIG_MAC_MIN)
		return build_answer(m, DNS_RCODE_FORMERR, out, cap);
	if (!key || !dns_name_eq(t.alg, alg_hmac_sha256)) {
		/* BADKEY: answer NOTAUTH with an unsigned TSIG naming the key */
		struct dns_tsig_key echo = { { 0 }, { 0 }, 0 };
		memcpy(echo.name, trr->owner, (size_t)dns_name_len(trr->owner, DNS_NAME_MAX));
		len = build_answer(m, DNS_RCODE_NOTAUTH, out, cap);
		tsig_sign(&echo, NULL, 0, out, &len, cap, DNS_RCODE_BADKEY, 0, now);
		return len;
	}
	/* the request as it was signed: without TSIG, ARCOUNT - 1, original ID */
	uint8_t *signed_part = malloc(m->tsig_offset ? m->tsig_offset : 1);
	if (!signed_part)
		return build_answer(m, DNS_RCODE_SERVFAIL, out, cap);
	memcpy(signed_part, q, m->tsig_offset);
	uint16_t ar = (uint16_t)(rd16(q + 10) - 1);
	signed_part[0] = (uint8_t)(t.orig_id >> 8);
	signed_part[1] = (uint8_t)t.orig_id;
	signed_part[10] = (uint8_t)(ar >> 8);
	signed_part[11] = (uint8_t)ar;
	uint8_t mac[TB_SHA256_LEN];
	int e = tsig_mac(key, NULL, 0, signed_part, m->tsig_offset, t.time_signed, t.fudge, t.error, t.other,
		t.other_len, mac);
	free(signed_part);
	/* a truncated MAC is compared over its length (RFC 8945 5.2.2.1) */
	if (e || tb_memeq_ct(mac, t.mac, t.mac_len) != 0) {
		len = build_answer(m, DNS_RCODE_NOTAUTH, out, cap);
		tsig_sign(key, NULL, 0, out, &len, cap, DNS_RCODE_BADSIG, 0, now);
		return len;
	}
	/*
	 * The request's fudge is honoured up to DNS_TSIG_FUDGE_MAX: a client cannot
	 * widen the window a captured message stays valid in (or outlive what the
	 * replay memory keeps).
	 */
	uint16_t fudge = t.fudge < DNS_TSIG_FUDGE_MAX ? t.fudge : DNS_TSIG_FUDGE_MAX;
	uint64_t lo = t.time_signed > fudge ? t.time_signed - fudge : 0;
	if (now < lo || now > t.time_signed + fudge) {
		len = build_answer(m, DNS_RCODE_NOTAUTH, out, cap);
		tsig_sign(key, t.mac, t.mac_len, out, &len, cap, DNS_RCODE_BADTIME, 1, now);
		return len;
	}
	ctx->key = key;
	memcpy(ctx->mac, t.mac, t.mac_len);
	ctx->mac_len = t.mac_len;
	memcpy(ctx->digest, mac, sizeof ctx->digest);
	ctx->time_signed = t.time_signed;
	ctx->fudge = fudge;
	*ok = 1;
	return 0;
}

int dns_tsig_sign_answer(const struct dns_tsig_ctx *ctx, uint8_t *buf, size_t *len, size_t cap)
{
	return tsig_sign(ctx->key, ctx->mac, ctx->mac_len, buf, len, cap, 0, 1, (uint64_t)tb_time_now());
}

void dns_update_forget(struct dns_server *s, const void *transport)
{
	for (struct dns_update *u = s->updates; u; u = u->next)
		if (u->reply.transport == transport)
			u->reply.send = NULL;
}

/*
 * Replay check for a verified update, on the full MAC we computed over the
 * signed data (message, time signed, fudge; not the MAC as sent, whose length
 * a replayer could change): the same digest means the very same signed update
 * again. Entries live until their time signed + fudge, the last moment the
 * message verifies at all. Returns 0 (new: remembered), 1 (a replay) or 2
 * (every slot is still inside its window: refuse rather than forget one).
 */
static int tsig_replayed(struct dns_server *s, const struct dns_tsig_ctx *c, uint64_t now)
{
	for (size_t i = 0; i < DNS_TSIG_SEEN_MAX; i++) {
		const struct dns_tsig_seen *e = &s->tsig_seen[i];
		if (e->expires >= now && memcmp(e->mac, c->digest, sizeof e->mac) == 0)
			return 1;
	}
	struct dns_tsig_seen *e = &s->tsig_seen[s->tsig_seen_next];
	if (e->expires >= now)
		return 2;
	s->tsig_seen_next = (s->tsig_seen_next + 1) % DNS_TSIG_SEEN_MAX;
	e->expires = c->time_signed + c->fudge;
	memcpy(e->mac, c->digest, sizeof e->mac);
	return 0;
}

int dns_tsig_seen_load(struct dns_server *s)
{
	size_t n = 0;
	int err = dns_db_tsig_seen_load(s, s->tsig_seen, DNS_TSIG_SEEN_MAX, &n);
	if (err)
		return err;
	s->tsig_seen_next = n % DNS_TSIG_SEEN_MAX;
	return 0;
}

/* May this key update this zone (its `zones` list, RFC 2136 3.3)? */
static int key_may_update(const struct dns_tsig_key *k, const struct dns_zone *z)
{
	for (size_t i = 0; i < k->n_zones; i++)
		if (dns_name_eq(k->zones[i], z->origin))
			return 1;
	return 0;
}

/*
 * The one write path of zone data, shared by RFC 2136 messages and the admin
 * API: with rcode still NOERROR, the prerequisites (3.2), the prescan (3.4.1)
 * and the updates (3.4.2) are applied to z in memory, the serial bumped and
 * the change logged with who asked (by). Returns the update's RCODE; u->rec
 * holds the journal for update_commit.
 */
static int update_run(struct dns_server *s, struct dns_zone *z, int rcode, const struct dns_rr *pr,
	size_t npr, const struct dns_rr *up, size_t nup, const char *by, struct dns_update *u)
{
	char zn[DNS_NAME_TEXT_MAX];
	if (!rcode)
		rcode = check_prereqs(z, pr, npr);
	if (!rcode)
		rcode = prescan(z, up, nup);
	if (!rcode) {
		int soa_set = 0;
		size_t changes = apply(z, up, nup, &u->rec.journal, &soa_set);
		/* a serial the update set itself is kept as it is (as BIND does) */
		if (changes)
			u->rec.serial = soa_set ? zone_serial(z) : bump_serial(z, &u->rec.journal);
		if (u->rec.journal.err) {
			tb_bytes_free(&u->rec.journal);
			rcode = DNS_RCODE_SERVFAIL;
		} else if (changes) {
			u->changes = changes;
			TB_INFO("dns", "zone %s: update applied by %s (%zu change(s), serial %u)",
				dns_name_str(z->origin, zn, sizeof zn), by, changes, u->rec.serial);
		}
	}
	if (z)
		dns_name_str(z->origin, u->rec.zone, sizeof u->rec.zone);
	u->rcode = rcode;
	return rcode;
}

/*
 * Queues the update's store job (journal, serial and the request MAC, if
 * any); its completion (journal_done) answers once the job has committed.
 * On an error nothing is queued and u is still the caller's.
 */
static int update_commit(struct dns_server *s, struct dns_update *u, uint64_t now)
{
	u->rec.at = (int64_t)now;
	u->next = s->updates;
	if (s->updates)
		s->updates->prev = u;
	s->updates = u;
	if (dns_db_write_update(s, &u->rec, journal_done)) {
		unlink_update(u);
		return TB_ERR_STATE;
	}
	return 0;
}

int dns_update_submit(struct dns_server *s, struct dns_zone *z, const struct dns_rr *pr, size_t npr,
	const struct dns_rr *up, size_t nup, const char *by, dns_update_cb cb, void *arg)
{
	if (s->stopping || !s->core || !s->core->store)
		return TB_ERR_STATE;
	struct dns_update *u = calloc(1, sizeof *u);
	if (!u)
		return TB_ERR_NOMEM;
	u->s = s;
	u->cb = cb;
	u->cb_arg = arg;
	update_run(s, z, DNS_RCODE_NOERROR, pr, npr, up, nup, by, u);
	int err = update_commit(s, u, (uint64_t)tb_time_now());
	if (err) {
		tb_bytes_free(&u->rec.journal);
		free(u);
	}
	return err;
}

size_t dns_update_handle(struct dns_server *s, const struct dns_msg *m, const uint8_t *q, size_t qlen,
	const struct dns_reply *reply, uint8_t *out, size_t cap)
{
	uint64_t now = (uint64_t)tb_time_now();
	if (s->stopping)
		return build_answer(m, DNS_RCODE_REFUSED, out, cap);
	/* zone section: exactly one SOA question for a zone we serve */
	if (m->n_qd != 1 || m->qd[0].qtype != DNS_T_SOA)
		return build_answer(m, DNS_RCODE_FORMERR, out, cap);
	/* TSIG first: an unsigned or badly signed update learns nothing about our zones */
	if (!m->has_tsig) {
		s->stats.refused++;
		return build_answer(m, DNS_RCODE_REFUSED, out, cap);
	}
	struct dns_tsig_ctx tctx;
	int ok;
	size_t len = dns_tsig_verify(s, m, q, &tctx, out, cap, &ok);
	if (!ok)
		return len;
	const struct dns_tsig_key *key = tctx.key;
	struct tsig t;
	t.mac = tctx.mac;
	t.mac_len = (uint16_t)tctx.mac_len;
	int seen = tsig_replayed(s, &tctx, now);
	if (seen == 1) {
		s->stats.refused++;
		len = build_answer(m, DNS_RCODE_NOTAUTH, out, cap);
		tsig_sign(key, t.mac, t.mac_len, out, &len, cap, DNS_RCODE_BADTIME, 1, now);
		return len;
	}
	(void)qlen;
	/* From here on every answer is signed with the request MAC. */
	int rcode = DNS_RCODE_NOERROR;
	struct dns_zone *z = NULL;
	for (struct dns_zone *zz = s->zones.zones; zz; zz = zz->next)
		if (dns_name_eq(zz->origin, m->qd[0].name))
			z = zz;
	char zn[DNS_NAME_TEXT_MAX];
	if (seen == 2) {
		if (!s->tsig_full_warned) {
			s->tsig_full_warned = 1;
			TB_WARN("dns", "more than %d signed updates within %d s: refusing updates for now",
				DNS_TSIG_SEEN_MAX, 2 * DNS_TSIG_FUDGE_MAX);
		}
		rcode = DNS_RCODE_REFUSED;
	} else if (m->qd[0].qclass != DNS_C_IN) {
		rcode = DNS_RCODE_FORMERR;
	} else if (!z) {
		rcode = DNS_RCODE_NOTAUTH; /* RFC 2136 3.1.1: not a zone we are authoritative for */
	} else if (!key_may_update(key, z)) {
		/* RFC 2136 3.3: the requestor has no permission for this zone */
		char kn[DNS_NAME_TEXT_MAX];
		TB_WARN("dns", "zone %s: update refused: key %s may not update it",
			dns_name_str(z->origin, zn, sizeof zn), dns_name_str(key->name, kn, sizeof kn));
		s->stats.refused++;
		rcode = DNS_RCODE_REFUSED;
	}
	size_t npr, nup;
	struct dns_rr *pr = dns_msg_section(m, DNS_SEC_ANSWER, &npr);
	struct dns_rr *up = dns_msg_section(m, DNS_SEC_AUTHORITY, &nup);
	int store = s->core && s->core->store && seen == 0;
	struct dns_update *u = calloc(1, sizeof *u);
	if (!u)
		return 0;
	u->s = s;
	char by[DNS_NAME_TEXT_MAX + 8];
	snprintf(by, sizeof by, "key %s", dns_name_str(key->name, zn, sizeof zn));
	rcode = update_run(s, z, rcode, pr, npr, up, nup, by, u);
	if (!store) {
		/* no store (tests): answer now */
		tb_bytes_free(&u->rec.journal);
		free(u);
		len = build_answer(m, rcode, out, cap);
		tsig_sign(key, t.mac, t.mac_len, out, &len, cap, 0, 1, now);
		return len;
	}
	/*
	 * Answer once the store has committed the journal and the update's digest:
	 * a replay after a restart is refused as surely as one before it.
	 */
	u->reply = *reply;
	u->resp_len = build_answer(m, rcode, u->resp, sizeof u->resp);
	u->key = key;
	memcpy(u->req_mac, t.mac, t.mac_len);
	u->req_mac_len = t.mac_len;
	memcpy(u->rec.digest, tctx.digest, sizeof u->rec.digest);
	u->rec.expires = tctx.time_signed + tctx.fudge;
	if (update_commit(s, u, now)) {
		/* the store is closing: report failure now */
		tb_bytes_free(&u->rec.journal);
		free(u);
		len = build_answer(m, DNS_RCODE_SERVFAIL, out, cap);
		tsig_sign(key, t.mac, t.mac_len, out, &len, cap, 0, 1, now);
		return len;
	}
	return 0;
}

size_t dns_update_hold_for_stop(struct dns_server *s)
{
	size_t n = 0;
	for (struct dns_update *u = s->updates; u; u = u->next) {
		if (!u->counted) {
			u->counted = 1;
			n++;
		}
	}
	s->closing += n;
	return n;
}
