/*
 * DESIGN: the DNS wire codec.
 *
 * Reading: dns_msg_parse walks the header, the questions and every record,
 * bounded by the message length. Names are decompressed into the message's
 * own storage: a pointer must point strictly before itself (so no loop and no
 * forward reference can exist) and at most DNS_PTR_HOPS_MAX pointers are
 * followed per name. RDATA of each known type is walked field by field with
 * the schema in dns_internal.h, decompressing embedded names, so that what is
 * stored is uncompressed and structurally valid; unknown types are copied as
 * opaque bytes (RFC 3597). The OPT record is lifted into struct dns_edns and
 * a TSIG record must be the last one.
 *
 * Writing: struct dns_builder writes into a caller buffer of fixed capacity,
 * compressing owner names always and RDATA names only for RFC 1035 types.
 * The compression table keeps (offset, length, hash) of every name suffix
 * written below offset 0x4000; a hash hit is confirmed by walking the
 * message. A record that does not fit is rolled back whole.
 */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "dns/dns.h"
#include "dns/dns_internal.h"

/* ---- the schema table ---- */

static const struct dns_rrtype rrtypes[] = {
	{ DNS_T_A, "A", "i", 0 },
	{ DNS_T_NS, "NS", "n", 1 },
	{ DNS_T_CNAME, "CNAME", "n", 1 },
	{ DNS_T_SOA, "SOA", "nn44444", 1 },
	{ DNS_T_PTR, "PTR", "n", 1 },
	{ DNS_T_HINFO, "HINFO", "ss", 0 },
	{ DNS_T_MX, "MX", "2n", 1 },
	{ DNS_T_TXT, "TXT", "S", 0 },
	{ DNS_T_AAAA, "AAAA", "I", 0 },
	{ DNS_T_SRV, "SRV", "222n", 0 },
	{ DNS_T_DNAME, "DNAME", "n", 0 },
	{ DNS_T_OPT, "OPT", "O", 0 },
	{ DNS_T_DS, "DS", "211X", 0 },
	{ 44, "SSHFP", "11X", 0 },
	{ DNS_T_RRSIG, "RRSIG", "y114tt2nB", 0 },
	{ DNS_T_NSEC, "NSEC", "nW", 0 },
	{ DNS_T_DNSKEY, "DNSKEY", "211B", 0 },
	{ DNS_T_NSEC3, "NSEC3", "112xhW", 0 },
	{ DNS_T_NSEC3PARAM, "NSEC3PARAM", "112x", 0 },
	{ DNS_T_TLSA, "TLSA", "111X", 0 },
	{ 59, "CDS", "211X", 0 },
	{ 60, "CDNSKEY", "211B", 0 },
	{ DNS_T_SVCB, "SVCB", "2nP", 0 },
	{ DNS_T_HTTPS, "HTTPS", "2nP", 0 },
	{ DNS_T_TSIG, "TSIG", "nT2m22o", 0 },
	{ DNS_T_CAA, "CAA", "1cv", 0 },
};

const struct dns_rrtype *dns_rrtype_find(uint16_t type)
{
	for (size_t i = 0; i < sizeof rrtypes / sizeof rrtypes[0]; i++)
		if (rrtypes[i].type == type)
			return &rrtypes[i];
	return NULL;
}

const struct dns_rrtype *dns_rrtype_by_name(const char *s, size_t n)
{
	for (size_t i = 0; i < sizeof rrtypes / sizeof rrtypes[0]; i++) {
		const char *t = rrtypes[i].name;
		size_t k = 0;
		while (k < n && t[k] && (s[k] == t[k] || (s[k] >= 'a' && s[k] <= 'z' && s[k] - 32 == t[k])))
			k++;
		if (k == n && !t[k])
			return &rrtypes[i];
	}
	return NULL;
}

/* ---- names on the wire ---- */

int dns_name_unpack(const uint8_t *msg, size_t len, size_t *off, uint8_t *out, size_t *outlen)
{
	size_t pos = *off, end = 0, o = 0;
	int hops = 0, jumped = 0;
	for (;;) {
		if (pos >= len)
			return TB_ERR_TRUNCATED;
		uint8_t l = msg[pos];
		if ((l & 0xc0) == 0xc0) {
			if (pos + 1 >= len)
				return TB_ERR_TRUNCATED;
			size_t target = ((size_t)(l & 0x3f) << 8) | msg[pos + 1];
			if (target >= pos)
				return TB_ERR_INVALID; /* forward or self pointer */
			if (++hops > DNS_PTR_HOPS_MAX)
				return TB_ERR_INVALID;
			if (!jumped) {
				end = pos + 2;
				jumped = 1;
			}
			pos = target;
			continue;
		}
		if (l & 0xc0)
			return TB_ERR_INVALID; /* 0x40 / 0x80 label types are obsolete */
		if (pos + 1 + l > len)
			return TB_ERR_TRUNCATED;
		if (o + 1 + l > DNS_NAME_MAX)
			return TB_ERR_INVALID;
		out[o++] = l;
		if (l == 0) {
			pos++;
			break;
		}
		memcpy(out + o, msg + pos + 1, l);
		o += l;
		pos += 1 + (size_t)l;
	}
	*off = jumped ? end : pos;
	*outlen = o;
	return 0;
}

/* ---- RDATA walking ---- */

struct walk {
	const uint8_t *msg; /* the whole message (for pointers) or the RDATA itself */
	size_t msglen;
	size_t pos;         /* read position in msg */
	size_t end;         /* end of this RDATA in msg */
	int allow_ptr;
	struct tb_bytes *out; /* uncompressed copy, or NULL to only check */
};

static int w_copy(struct walk *w, size_t n)
{
	if (n > w->end - w->pos)
		return TB_ERR_INVALID;
	if (w->out && tb_bytes_append(w->out, w->msg + w->pos, n))
		return TB_ERR_NOMEM;
	w->pos += n;
	return 0;
}

static int w_u8(struct walk *w, uint8_t *v)
{
	if (w->pos >= w->end)
		return TB_ERR_INVALID;
	*v = w->msg[w->pos];
	return w_copy(w, 1);
}

static int w_u16(struct walk *w, uint16_t *v)
{
	if (w->end - w->pos < 2)
		return TB_ERR_INVALID;
	*v = (uint16_t)(w->msg[w->pos] << 8 | w->msg[w->pos + 1]);
	return w_copy(w, 2);
}

static int w_name(struct walk *w)
{
	uint8_t name[DNS_NAME_MAX];
	size_t nl, p = w->pos;
	int err;
	if (w->allow_ptr) {
		err = dns_name_unpack(w->msg, w->msglen, &p, name, &nl);
	} else {
		err = dns_name_len(w->msg + w->pos, w->end - w->pos);
		if (err >= 0) {
			nl = (size_t)err;
			memcpy(name, w->msg + w->pos, nl);
			p = w->pos + nl;
			err = 0;
		}
	}
	if (err)
		return err == TB_ERR_NOMEM ? err : TB_ERR_INVALID;
	if (p > w->end)
		return TB_ERR_INVALID;
	w->pos = p;
	if (w->out && tb_bytes_append(w->out, name, nl))
		return TB_ERR_NOMEM;
	return 0;
}

static int check_bitmap(const uint8_t *p, size_t n)
{
	int last = -1;
	size_t i = 0;
	while (i < n) {
		if (n - i < 2)
			return TB_ERR_INVALID;
		int win = p[i];
		uint8_t bl = p[i + 1];
		if (win <= last || bl == 0 || bl > 32 || n - i - 2 < bl)
			return TB_ERR_INVALID;
		last = win;
		i += 2 + (size_t)bl;
	}
	return 0;
}

static int check_svcparams(const uint8_t *p, size_t n)
{
	int last = -1;
	size_t i = 0;
	while (i < n) {
		if (n - i < 4)
			return TB_ERR_INVALID;
		int key = p[i] << 8 | p[i + 1];
		size_t vl = (size_t)(p[i + 2] << 8 | p[i + 3]);
		if (key <= last || n - i - 4 < vl)
			return TB_ERR_INVALID;
		last = key;
		const uint8_t *v = p + i + 4;
		switch (key) {
		case 0: /* mandatory */
			if (vl == 0 || vl % 2)
				return TB_ERR_INVALID;
			break;
		case 1: /* alpn: one or more non-empty character-strings */
			if (vl == 0)
				return TB_ERR_INVALID;
			for (size_t k = 0; k < vl;) {
				if (v[k] == 0 || vl - k - 1 < v[k])
					return TB_ERR_INVALID;
				k += 1 + (size_t)v[k];
			}
			break;
		case 2: /* no-default-alpn */
			if (vl)
				return TB_ERR_INVALID;
			break;
		case 3: /* port */
			if (vl != 2)
				return TB_ERR_INVALID;
			break;
		case 4: /* ipv4hint */
			if (vl == 0 || vl % 4)
				return TB_ERR_INVALID;
			break;
		case 6: /* ipv6hint */
			if (vl == 0 || vl % 16)
				return TB_ERR_INVALID;
			break;
		default:
			break;
		}
		i += 4 + vl;
	}
	return 0;
}

static int check_options(const uint8_t *p, size_t n)
{
	size_t i = 0;
	while (i < n) {
		if (n - i < 4)
			return TB_ERR_INVALID;
		size_t ol = (size_t)(p[i + 2] << 8 | p[i + 3]);
		if (n - i - 4 < ol)
			return TB_ERR_INVALID;
		i += 4 + ol;
	}
	return 0;
}

static int walk_rdata(struct walk *w, const struct dns_rrtype *t)
{
	int err = 0;
	uint8_t u8;
	uint16_t u16;
	for (const char *f = t->fields; *f && !err; f++) {
		size_t rest = w->end - w->pos;
		switch (*f) {
		case 'n':
			err = w_name(w);
			break;
		case '1':
			err = w_copy(w, 1);
			break;
		case '2':
		case 'y':
			err = w_copy(w, 2);
			break;
		case '4':
		case 't':
		case 'i':
			err = w_copy(w, 4);
			break;
		case 'T':
			err = w_copy(w, 6);
			break;
		case 'I':
			err = w_copy(w, 16);
			break;
		case 's':
			err = w_u8(w, &u8);
			if (!err)
				err = w_copy(w, u8);
			break;
		case 'S':
			if (rest == 0)
				return TB_ERR_INVALID;
			while (!err && w->pos < w->end) {
				err = w_u8(w, &u8);
				if (!err)
					err = w_copy(w, u8);
			}
			break;
		case 'c':
			err = w_u8(w, &u8);
			if (!err && u8 == 0)
				err = TB_ERR_INVALID;
			for (size_t k = 0; !err && k < u8 && k < rest - 1; k++) {
				uint8_t ch = w->msg[w->pos + k];
				if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') ||
					    (ch >= 'A' && ch <= 'Z')))
					err = TB_ERR_INVALID;
			}
			if (!err)
				err = w_copy(w, u8);
			break;
		case 'x':
			err = w_u8(w, &u8);
			if (!err)
				err = w_copy(w, u8);
			break;
		case 'h':
			err = w_u8(w, &u8);
			if (!err && u8 == 0)
				err = TB_ERR_INVALID;
			if (!err)
				err = w_copy(w, u8);
			break;
		case 'm':
		case 'o':
			err = w_u16(w, &u16);
			if (!err)
				err = w_copy(w, u16);
			break;
		case 'W':
			err = check_bitmap(w->msg + w->pos, rest);
			if (!err)
				err = w_copy(w, rest);
			break;
		case 'P':
			err = check_svcparams(w->msg + w->pos, rest);
			if (!err)
				err = w_copy(w, rest);
			break;
		case 'O':
			err = check_options(w->msg + w->pos, rest);
			if (!err)
				err = w_copy(w, rest);
			break;
		case 'B':
		case 'X':
		case 'v':
			err = w_copy(w, rest);
			break;
		default:
			return TB_ERR_INVALID;
		}
	}
	if (!err && w->pos != w->end)
		err = TB_ERR_INVALID;
	return err;
}

int dns_rdata_check(uint16_t type, const uint8_t *rdata, size_t rdlen)
{
	const struct dns_rrtype *t = dns_rrtype_find(type);
	if (!t)
		return rdlen <= 65535 ? 0 : TB_ERR_TOO_LARGE;
	struct walk w = { rdata, rdlen, 0, rdlen, 0, NULL };
	return walk_rdata(&w, t);
}

/* ---- message parsing ---- */

/* While parsing, record pointers hold offsets into storage; fixed up at the end. */
#define OFFPTR(off) ((const uint8_t *)(uintptr_t)(off))
#define PTROFF(p) ((size_t)(uintptr_t)(p))

static int store_name(struct tb_bytes *st, const uint8_t *msg, size_t len, size_t *off,
	size_t *name_off)
{
	uint8_t name[DNS_NAME_MAX];
	size_t nl;
	int err = dns_name_unpack(msg, len, off, name, &nl);
	if (err)
		return err;
	if (st->len + nl > DNS_MSG_STORAGE_MAX)
		return TB_ERR_TOO_LARGE;
	*name_off = st->len;
	return tb_bytes_append(st, name, nl);
}

static inline uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int parse_edns(struct dns_msg *m, const struct dns_rr *rr, const uint8_t *rdata)
{
	struct dns_edns *e = &m->edns;
	e->present = 1;
	e->udp_size = rr->rclass;
	e->ext_rcode = (uint8_t)(rr->ttl >> 24);
	e->version = (uint8_t)(rr->ttl >> 16);
	e->flags = (uint16_t)rr->ttl;
	size_t i = 0;
	while (i < rr->rdlen) {
		uint16_t code = rd16(rdata + i), ol = rd16(rdata + i + 2);
		const uint8_t *data = rdata + i + 4;
		if (code == DNS_OPT_COOKIE) {
			if (e->has_cookie)
				return TB_ERR_INVALID;
			if (ol != 8 && (ol < 16 || ol > 40))
				return TB_ERR_INVALID;
			e->has_cookie = 1;
			memcpy(e->cookie, data, ol);
			e->cookie_len = (uint8_t)ol;
		} else if (code == DNS_OPT_EDE && ol < 2) {
			return TB_ERR_INVALID;
		}
		if (e->n_opts < DNS_EDNS_OPTS_MAX) {
			e->opts[e->n_opts].code = code;
			e->opts[e->n_opts].len = ol;
			/* offset within rdata for now; fixed up with the record */
			e->opts[e->n_opts].data = OFFPTR(PTROFF(rr->rdata) + i + 4);
			e->n_opts++;
		}
		i += 4 + (size_t)ol;
	}
	return 0;
}

void dns_msg_free(struct dns_msg *m)
{
	free(m->rr);
	free(m->storage);
	memset(m, 0, sizeof *m);
}

int dns_msg_parse(struct dns_msg *m, const uint8_t *p, size_t len)
{
	memset(m, 0, sizeof *m);
	if (len < 12)
		return TB_ERR_TRUNCATED;
	if (len > DNS_MSG_MAX)
		return TB_ERR_TOO_LARGE;
	m->id = rd16(p);
	m->flags = rd16(p + 2);
	for (int i = 0; i < 4; i++)
		m->count[i] = rd16(p + 4 + 2 * i);
	size_t nrr = (size_t)m->count[1] + m->count[2] + m->count[3];
	/* A question takes at least 5 octets, a record at least 11. */
	if ((size_t)m->count[0] * 5 + nrr * 11 > len - 12)
		return TB_ERR_TRUNCATED;
	if (m->count[0] > DNS_MSG_QD_MAX || nrr > DNS_MSG_RR_MAX)
		return TB_ERR_TOO_LARGE;

	struct tb_bytes st = { 0 };
	if (tb_bytes_reserve(&st, len * 2))
		return TB_ERR_NOMEM;
	size_t name_off[DNS_MSG_QD_MAX];
	int err = 0;
	size_t off = 12;
	for (size_t i = 0; i < m->count[0]; i++) {
		err = store_name(&st, p, len, &off, &name_off[i]);
		if (err)
			goto fail;
		if (len - off < 4) {
			err = TB_ERR_TRUNCATED;
			goto fail;
		}
		m->qd[i].qtype = rd16(p + off);
		m->qd[i].qclass = rd16(p + off + 2);
		off += 4;
		m->n_qd++;
	}
	if (nrr) {
		m->rr = calloc(nrr, sizeof *m->rr);
		if (!m->rr) {
			err = TB_ERR_NOMEM;
			goto fail;
		}
	}
	size_t n = 0;
	for (int sec = DNS_SEC_ANSWER; sec <= DNS_SEC_ADDITIONAL; sec++) {
		for (size_t i = 0; i < m->count[sec]; i++) {
			size_t rr_start = off, owner;
			err = store_name(&st, p, len, &off, &owner);
			if (err)
				goto fail;
			if (len - off < 10) {
				err = TB_ERR_TRUNCATED;
				goto fail;
			}
			struct dns_rr *rr = &m->rr[n];
			rr->owner = OFFPTR(owner);
			rr->type = rd16(p + off);
			rr->rclass = rd16(p + off + 2);
			rr->ttl = rd32(p + off + 4);
			uint16_t rdlen = rd16(p + off + 8);
			off += 10;
			if (len - off < rdlen) {
				err = TB_ERR_TRUNCATED;
				goto fail;
			}
			if (m->has_tsig) { /* TSIG must be the very last record */
				err = TB_ERR_INVALID;
				goto fail;
			}
			size_t rd_off = st.len;
			const struct dns_rrtype *t = dns_rrtype_find(rr->type);
			/* Empty RDATA is how RFC 2136 deletes and prerequisites look. */
			if (t && !(rdlen == 0 && (rr->rclass == DNS_C_ANY || rr->rclass == DNS_C_NONE))) {
				struct walk w = { p, len, off, off + rdlen, 1, &st };
				err = walk_rdata(&w, t);
			} else {
				err = tb_bytes_append(&st, p + off, rdlen);
			}
			if (err)
				goto fail;
			if (st.len - rd_off > 65535 || st.len > DNS_MSG_STORAGE_MAX) {
				err = TB_ERR_TOO_LARGE;
				goto fail;
			}
			rr->rdata = OFFPTR(rd_off);
			rr->rdlen = (uint16_t)(st.len - rd_off);
			off += rdlen;
			if (rr->type == DNS_T_OPT) {
				if (sec != DNS_SEC_ADDITIONAL || m->edns.present ||
					st.p[owner] != 0) {
					err = TB_ERR_INVALID;
					goto fail;
				}
				err = parse_edns(m, rr, st.p + rd_off);
				if (err)
					goto fail;
				continue; /* not kept as a record */
			}
			if (rr->type == DNS_T_TSIG) {
				if (sec != DNS_SEC_ADDITIONAL) {
					err = TB_ERR_INVALID;
					goto fail;
				}
				m->has_tsig = 1;
				m->tsig_offset = rr_start;
			}
			m->n_rr[sec]++;
			n++;
		}
	}
	if (off != len) {
		err = TB_ERR_INVALID;
		goto fail;
	}
	/* Fix up: offsets become pointers into the final storage. */
	m->storage = st.p;
	m->storage_len = st.len;
	for (size_t i = 0; i < m->n_qd; i++)
		m->qd[i].name = st.p + name_off[i];
	for (size_t i = 0; i < n; i++) {
		m->rr[i].owner = st.p + PTROFF(m->rr[i].owner);
		m->rr[i].rdata = st.p + PTROFF(m->rr[i].rdata);
	}
	for (size_t i = 0; i < m->edns.n_opts; i++)
		m->edns.opts[i].data = st.p + PTROFF(m->edns.opts[i].data);
	return 0;
fail:
	tb_bytes_free(&st);
	free(m->rr);
	memset(m, 0, sizeof *m);
	return err == TB_ERR_NOMEM || err == TB_ERR_TOO_LARGE || err == TB_ERR_TRUNCATED ? err
											   : TB_ERR_INVALID;
}

/* ---- building ---- */

void dns_builder_init(struct dns_builder *b, uint8_t *buf, size_t cap, uint16_t id, uint16_t flags)
{
	b->p = buf;
	b->cap = cap > DNS_MSG_MAX ? DNS_MSG_MAX : cap;
	b->len = 12;
	b->reserve = 0;
	b->section = DNS_SEC_QUESTION;
	memset(b->count, 0, sizeof b->count);
	b->n_comp = 0;
	buf[0] = (uint8_t)(id >> 8);
	buf[1] = (uint8_t)id;
	buf[2] = (uint8_t)(flags >> 8);
	buf[3] = (uint8_t)flags;
	memset(buf + 4, 0, 8);
}

void dns_builder_set_flags(struct dns_builder *b, uint16_t flags)
{
	b->p[2] = (uint8_t)(flags >> 8);
	b->p[3] = (uint8_t)flags;
}

uint16_t dns_builder_flags(const struct dns_builder *b)
{
	return rd16(b->p + 2);
}

static inline int room(const struct dns_builder *b, size_t n)
{
	return b->len + n + b->reserve <= b->cap;
}

static int put(struct dns_builder *b, const void *p, size_t n)
{
	if (!room(b, n))
		return TB_ERR_TOO_LARGE;
	memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

static int put16(struct dns_builder *b, uint16_t v)
{
	uint8_t t[2] = { (uint8_t)(v >> 8), (uint8_t)v };
	return put(b, t, 2);
}

static int put32(struct dns_builder *b, uint32_t v)
{
	uint8_t t[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };
	return put(b, t, 4);
}

static inline uint8_t lc(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c;
}

/* Does the (trusted, already written) name at off equal the uncompressed suffix s? */
static int match_at(const uint8_t *msg, size_t off, const uint8_t *s)
{
	for (int guard = 0; guard < 256; guard++) {
		uint8_t l = msg[off];
		if ((l & 0xc0) == 0xc0) {
			off = ((size_t)(l & 0x3f) << 8) | msg[off + 1];
			continue;
		}
		if (l != *s)
			return 0;
		if (l == 0)
			return 1;
		for (uint8_t i = 1; i <= l; i++)
			if (msg[off + i] != s[i] && lc(msg[off + i]) != lc(s[i]))
				return 0;
		off += 1 + (size_t)l;
		s += 1 + l;
	}
	return 0;
}

/*
 * Appends name, compressed against the names already written when compress is
 * set (RFC 1035 4.1.4): the longest suffix found in the table becomes a
 * pointer, and the suffixes written here join the table. An owner name that is
 * the question's (the common case) is found without hashing.
 */
static int put_name(struct dns_builder *b, const uint8_t *name, int compress)
{
	if (compress && b->n_comp && b->comp[0].off == 12) {
		size_t nlen = (size_t)dns_name_len(name, 255);
		if (b->comp[0].nlen == nlen && match_at(b->p, 12, name)) {
			if (!room(b, 2))
				return TB_ERR_TOO_LARGE;
			b->p[b->len++] = 0xc0;
			b->p[b->len++] = 12;
			return 0;
		}
	}
	uint16_t starts[DNS_NAME_LABELS_MAX];
	uint32_t hashes[DNS_NAME_LABELS_MAX];
	int nl = dns_name_suffix_hashes(name, starts, hashes, DNS_NAME_LABELS_MAX);
	size_t total = (size_t)(dns_name_skip(name, nl) - name) + 1;
	int hit = -1;
	size_t hit_off = 0;
	for (int i = 0; compress && hit < 0 && i < nl; i++) {
		size_t slen = total - starts[i];
		for (size_t k = 0; k < b->n_comp; k++) {
			if (b->comp[k].hash == hashes[i] && b->comp[k].nlen == slen &&
				match_at(b->p, b->comp[k].off, name + starts[i])) {
				hit = i;
				hit_off = b->comp[k].off;
				break;
			}
		}
	}
	size_t lit = hit >= 0 ? starts[hit] : total;
	size_t at = b->len;
	if (!room(b, lit + (hit >= 0 ? 2 : 0)))
		return TB_ERR_TOO_LARGE;
	memcpy(b->p + b->len, name, lit);
	b->len += lit;
	if (hit >= 0) {
		b->p[b->len++] = (uint8_t)(0xc0 | (hit_off >> 8));
		b->p[b->len++] = (uint8_t)hit_off;
	}
	int upto = hit >= 0 ? hit : nl;
	for (int i = 0; i < upto && b->n_comp < DNS_COMP_MAX; i++) {
		size_t o = at + starts[i];
		if (o >= 0x4000)
			break;
		b->comp[b->n_comp].off = (uint16_t)o;
		b->comp[b->n_comp].nlen = (uint16_t)(total - starts[i]);
		b->comp[b->n_comp].hash = hashes[i];
		b->n_comp++;
	}
	return 0;
}

int dns_builder_question(struct dns_builder *b, const uint8_t *name, uint16_t qtype, uint16_t qclass)
{
	if (b->section != DNS_SEC_QUESTION)
		return TB_ERR_STATE;
	size_t len = b->len, nc = b->n_comp;
	int err = put_name(b, name, 1);
	if (!err)
		err = put16(b, qtype);
	if (!err)
		err = put16(b, qclass);
	if (err) {
		b->len = len;
		b->n_comp = nc;
		return err;
	}
	b->count[0]++;
	return 0;
}

/* RDATA of an RFC 1035 type with its names compressed; rdata is trusted-checked. */
static int put_rdata_compressed(struct dns_builder *b, const struct dns_rrtype *t,
	const uint8_t *rdata, size_t rdlen)
{
	size_t i = 0;
	for (const char *f = t->fields; *f; f++) {
		size_t n;
		int err;
		switch (*f) {
		case 'n': {
			int l = dns_name_len(rdata + i, rdlen - i);
			if (l < 0)
				return TB_ERR_INVALID;
			err = put_name(b, rdata + i, 1);
			if (err)
				return err;
			i += (size_t)l;
			continue;
		}
		case '1': n = 1; break;
		case '2': n = 2; break;
		case '4': n = 4; break;
		default: return TB_ERR_INVALID;
		}
		if (rdlen - i < n)
			return TB_ERR_INVALID;
		err = put(b, rdata + i, n);
		if (err)
			return err;
		i += n;
	}
	return i == rdlen ? 0 : TB_ERR_INVALID;
}

int dns_builder_rr(struct dns_builder *b, int section, const uint8_t *owner, uint16_t type,
	uint16_t rclass, uint32_t ttl, const uint8_t *rdata, size_t rdlen)
{
	if (section < b->section || section < DNS_SEC_ANSWER || section > DNS_SEC_ADDITIONAL)
		return TB_ERR_STATE;
	if (rdlen > 65535)
		return TB_ERR_TOO_LARGE;
	b->section = section;
	size_t len = b->len, nc = b->n_comp;
	int err = put_name(b, owner, 1);
	if (!err)
		err = put16(b, type);
	if (!err)
		err = put16(b, rclass);
	if (!err)
		err = put32(b, ttl);
	size_t rdl_at = b->len;
	if (!err)
		err = put16(b, 0);
	if (!err) {
		const struct dns_rrtype *t = dns_rrtype_find(type);
		if (t && t->compress && rdlen)
			err = put_rdata_compressed(b, t, rdata, rdlen);
		else
			err = put(b, rdata, rdlen);
	}
	if (err) {
		b->len = len;
		b->n_comp = nc;
		return err;
	}
	size_t w = b->len - rdl_at - 2;
	b->p[rdl_at] = (uint8_t)(w >> 8);
	b->p[rdl_at + 1] = (uint8_t)w;
	b->count[section]++;
	return 0;
}

size_t dns_opt_size(const struct dns_edns_opt *opts, size_t n)
{
	size_t s = 11;
	for (size_t i = 0; i < n; i++)
		s += 4 + opts[i].len;
	return s;
}

int dns_builder_opt(struct dns_builder *b, uint16_t udp_size, uint8_t ext_rcode, uint16_t flags,
	const struct dns_edns_opt *opts, size_t n, size_t pad_block)
{
	size_t need = dns_opt_size(opts, n);
	b->reserve = 0;
	size_t pad = 0;
	if (pad_block) {
		size_t total = b->len + need + 4;
		pad = (pad_block - total % pad_block) % pad_block;
		while (pad && b->len + need + 4 + pad > b->cap)
			pad--;
	}
	if (b->len + need + (pad_block ? 4 + pad : 0) > b->cap)
		return TB_ERR_TOO_LARGE;
	uint8_t *q = b->p + b->len;
	size_t rdlen = need - 11 + (pad_block ? 4 + pad : 0);
	q[0] = 0;
	q[1] = 0;
	q[2] = DNS_T_OPT;
	q[3] = (uint8_t)(udp_size >> 8);
	q[4] = (uint8_t)udp_size;
	q[5] = ext_rcode;
	q[6] = 0; /* version */
	q[7] = (uint8_t)(flags >> 8);
	q[8] = (uint8_t)flags;
	q[9] = (uint8_t)(rdlen >> 8);
	q[10] = (uint8_t)rdlen;
	size_t o = 11;
	for (size_t i = 0; i < n; i++) {
		q[o] = (uint8_t)(opts[i].code >> 8);
		q[o + 1] = (uint8_t)opts[i].code;
		q[o + 2] = (uint8_t)(opts[i].len >> 8);
		q[o + 3] = (uint8_t)opts[i].len;
		if (opts[i].len)
			memcpy(q + o + 4, opts[i].data, opts[i].len);
		o += 4 + opts[i].len;
	}
	if (pad_block) {
		q[o] = 0;
		q[o + 1] = DNS_OPT_PADDING;
		q[o + 2] = (uint8_t)(pad >> 8);
		q[o + 3] = (uint8_t)pad;
		memset(q + o + 4, 0, pad);
		o += 4 + pad;
	}
	b->len += o;
	b->section = DNS_SEC_ADDITIONAL;
	b->count[DNS_SEC_ADDITIONAL]++;
	return 0;
}

size_t dns_builder_finish(struct dns_builder *b)
{
	for (int i = 0; i < 4; i++) {
		b->p[4 + 2 * i] = (uint8_t)(b->count[i] >> 8);
		b->p[5 + 2 * i] = (uint8_t)b->count[i];
	}
	return b->len;
}
