/*
 * Presentation format: RDATA to text and text tokens to RDATA, driven by the
 * same field schema as the wire codec (dns_internal.h). Unknown types use the
 * RFC 3597 generic form `\# <length> <hex>`, which is also accepted for known
 * types (then checked structurally).
 *
 * Size: past 900 lines on purpose. Both directions of the presentation
 * format for every RR type are one table-driven codec sharing the tokenizer,
 * the escape decoder and the field schema; split by type they would repeat it.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"
#include "dns/dns.h"
#include "dns/dns_internal.h"

/* ---- mnemonics ---- */

const char *dns_type_str(uint16_t type, char *buf)
{
	const struct dns_rrtype *t = dns_rrtype_find(type);
	if (t)
		return t->name;
	switch (type) {
	case DNS_T_TKEY: return "TKEY";
	case DNS_T_IXFR: return "IXFR";
	case DNS_T_AXFR: return "AXFR";
	case DNS_T_ANY: return "ANY";
	default: break;
	}
	snprintf(buf, 16, "TYPE%u", type);
	return buf;
}

static int ieq(const char *s, size_t n, const char *lit)
{
	size_t l = strlen(lit);
	if (l != n)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c >= 'a' && c <= 'z')
			c = (char)(c - 32);
		if (c != lit[i])
			return 0;
	}
	return 1;
}

static int parse_uint(const char *s, size_t n, uint64_t max, uint64_t *v)
{
	if (n == 0 || n > 20)
		return TB_ERR_INVALID;
	uint64_t x = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return TB_ERR_INVALID;
		x = x * 10 + (uint64_t)(s[i] - '0');
		if (x > max)
			return TB_ERR_INVALID;
	}
	*v = x;
	return 0;
}

int dns_type_from_str(const char *s, size_t n)
{
	const struct dns_rrtype *t = dns_rrtype_by_name(s, n);
	if (t)
		return t->type;
	if (ieq(s, n, "ANY"))
		return DNS_T_ANY;
	if (ieq(s, n, "AXFR"))
		return DNS_T_AXFR;
	if (ieq(s, n, "IXFR"))
		return DNS_T_IXFR;
	if (ieq(s, n, "TKEY"))
		return DNS_T_TKEY;
	if (n > 4 && ieq(s, 4, "TYPE")) {
		uint64_t v;
		if (parse_uint(s + 4, n - 4, 65535, &v) == 0)
			return (int)v;
	}
	return TB_ERR_INVALID;
}

const char *dns_class_str(uint16_t cls, char *buf)
{
	switch (cls) {
	case DNS_C_IN: return "IN";
	case DNS_C_CH: return "CH";
	case DNS_C_HS: return "HS";
	case DNS_C_NONE: return "NONE";
	case DNS_C_ANY: return "ANY";
	default: snprintf(buf, 16, "CLASS%u", cls); return buf;
	}
}

int dns_class_from_str(const char *s, size_t n)
{
	if (ieq(s, n, "IN"))
		return DNS_C_IN;
	if (ieq(s, n, "CH"))
		return DNS_C_CH;
	if (ieq(s, n, "HS"))
		return DNS_C_HS;
	if (ieq(s, n, "NONE"))
		return DNS_C_NONE;
	if (ieq(s, n, "ANY"))
		return DNS_C_ANY;
	if (n > 5 && ieq(s, 5, "CLASS")) {
		uint64_t v;
		if (parse_uint(s + 5, n - 5, 65535, &v) == 0)
			return (int)v;
	}
	return TB_ERR_INVALID;
}

const char *dns_rcode_str(int rcode)
{
	static const char *const names[] = { "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP",
		"REFUSED", "YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE" };
	if (rcode >= 0 && rcode < (int)(sizeof names / sizeof names[0]))
		return names[rcode];
	switch (rcode) {
	case 16: return "BADVERS";
	case 17: return "BADKEY";
	case 18: return "BADTIME";
	case 23: return "BADCOOKIE";
	default: return "RCODE?";
	}
}

/* ---- encodings not in core ---- */

static const char b32hex[] = "0123456789ABCDEFGHIJKLMNOPQRSTUV";

static void base32hex_encode(struct tb_bytes *out, const uint8_t *p, size_t n)
{
	uint32_t acc = 0;
	int bits = 0;
	for (size_t i = 0; i < n; i++) {
		acc = (acc << 8) | p[i];
		bits += 8;
		while (bits >= 5) {
			tb_bytes_u8(out, (uint8_t)b32hex[(acc >> (bits - 5)) & 31]);
			bits -= 5;
		}
	}
	if (bits)
		tb_bytes_u8(out, (uint8_t)b32hex[(acc << (5 - bits)) & 31]);
}

static int base32hex_decode(struct tb_bytes *out, const char *s, size_t n)
{
	uint32_t acc = 0;
	int bits = 0;
	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)s[i], v;
		if (c >= '0' && c <= '9')
			v = c - '0';
		else if (c >= 'A' && c <= 'V')
			v = c - 'A' + 10;
		else if (c >= 'a' && c <= 'v')
			v = c - 'a' + 10;
		else
			return TB_ERR_INVALID;
		acc = (acc << 5) | (uint32_t)v;
		bits += 5;
		if (bits >= 8) {
			tb_bytes_u8(out, (uint8_t)(acc >> (bits - 8)));
			bits -= 8;
		}
	}
	if (bits >= 5 || (acc & ((1u << bits) - 1)))
		return TB_ERR_INVALID; /* not a whole number of octets */
	return out->err;
}

static void hex_upper(struct tb_bytes *out, const uint8_t *p, size_t n)
{
	static const char hx[] = "0123456789ABCDEF";
	for (size_t i = 0; i < n; i++) {
		tb_bytes_u8(out, (uint8_t)hx[p[i] >> 4]);
		tb_bytes_u8(out, (uint8_t)hx[p[i] & 15]);
	}
}

/* ---- RDATA to text ---- */

static void put_charstr(struct tb_bytes *out, const uint8_t *p, size_t n, int quote)
{
	if (quote)
		tb_bytes_u8(out, '"');
	for (size_t i = 0; i < n; i++) {
		uint8_t c = p[i];
		if (c == '"' || c == '\\') {
			tb_bytes_u8(out, '\\');
			tb_bytes_u8(out, c);
		} else if (c < 0x20 || c >= 0x7f) {
			tb_bytes_printf(out, "\\%03u", c);
		} else {
			tb_bytes_u8(out, c);
		}
	}
	if (quote)
		tb_bytes_u8(out, '"');
}

static void put_time(struct tb_bytes *out, uint32_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	tb_bytes_printf(out, "%04d%02d%02d%02d%02d%02d", tm.tm_year + 1900, tm.tm_mon + 1,
		tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static void put_bitmap(struct tb_bytes *out, const uint8_t *p, size_t n, int *first)
{
	char tb[16];
	size_t i = 0;
	while (i + 2 <= n) {
		unsigned win = p[i], bl = p[i + 1];
		for (unsigned k = 0; k < bl * 8 && i + 2 + k / 8 < n; k++) {
			if (p[i + 2 + k / 8] & (0x80 >> (k % 8))) {
				if (!*first)
					tb_bytes_u8(out, ' ');
				*first = 0;
				uint16_t type = (uint16_t)(win * 256 + k);
				const char *s = dns_type_str(type, tb);
				tb_bytes_append(out, s, strlen(s));
			}
		}
		i += 2 + bl;
	}
}

static const char *const svc_keys[] = { "mandatory", "alpn", "no-default-alpn", "port",
	"ipv4hint", "ech", "ipv6hint" };

static void put_svckey(struct tb_bytes *out, unsigned key)
{
	if (key < sizeof svc_keys / sizeof svc_keys[0])
		tb_bytes_append(out, svc_keys[key], strlen(svc_keys[key]));
	else
		tb_bytes_printf(out, "key%u", key);
}

/* A value-list item: escape commas and backslashes as RFC 9460 appendix A. */
static void put_alpn_item(struct tb_bytes *out, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t c = p[i];
		if (c == ',') {
			tb_bytes_append(out, "\\\\,", 3);
		} else if (c == '\\') {
			tb_bytes_append(out, "\\092", 4);
		} else if (c == '"') {
			tb_bytes_append(out, "\\\"", 2);
		} else if (c < 0x21 || c >= 0x7f) {
			tb_bytes_printf(out, "\\%03u", c);
		} else {
			tb_bytes_u8(out, c);
		}
	}
}

static void put_svcparams(struct tb_bytes *out, const uint8_t *p, size_t n)
{
	size_t i = 0;
	char ab[INET6_ADDRSTRLEN];
	while (i + 4 <= n) {
		unsigned key = (unsigned)(p[i] << 8 | p[i + 1]);
		size_t vl = (size_t)(p[i + 2] << 8 | p[i + 3]);
		const uint8_t *v = p + i + 4;
		if (vl > n - i - 4)
			break;
		tb_bytes_u8(out, ' ');
		put_svckey(out, key);
		switch (key) {
		case 0:
			tb_bytes_u8(out, '=');
			for (size_t k = 0; k + 1 < vl; k += 2) {
				if (k)
					tb_bytes_u8(out, ',');
				put_svckey(out, (unsigned)(v[k] << 8 | v[k + 1]));
			}
			break;
		case 1:
			tb_bytes_append(out, "=\"", 2);
			for (size_t k = 0; k < vl; k += 1 + (size_t)v[k]) {
				if (k)
					tb_bytes_u8(out, ',');
				size_t il = v[k] <= vl - k - 1 ? v[k] : vl - k - 1;
				put_alpn_item(out, v + k + 1, il);
			}
			tb_bytes_u8(out, '"');
			break;
		case 2:
			break;
		case 3:
			if (vl == 2)
				tb_bytes_printf(out, "=%u", (unsigned)(v[0] << 8 | v[1]));
			break;
		case 4:
		case 6: {
			size_t al = key == 4 ? 4 : 16;
			tb_bytes_u8(out, '=');
			for (size_t k = 0; k + al <= vl; k += al) {
				if (k)
					tb_bytes_u8(out, ',');
				inet_ntop(key == 4 ? AF_INET : AF_INET6, v + k, ab, sizeof ab);
				tb_bytes_append(out, ab, strlen(ab));
			}
			break;
		}
		case 5:
			tb_bytes_u8(out, '=');
			tb_base64_encode(out, v, vl);
			break;
		default:
			if (vl) {
				tb_bytes_u8(out, '=');
				put_charstr(out, v, vl, 1);
			}
			break;
		}
		i += 4 + vl;
	}
}

static inline uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int generic_to_text(const uint8_t *rdata, size_t rdlen, struct tb_bytes *out)
{
	tb_bytes_printf(out, "\\# %zu", rdlen);
	if (rdlen) {
		tb_bytes_u8(out, ' ');
		hex_upper(out, rdata, rdlen);
	}
	return out->err;
}

int dns_rdata_to_text(uint16_t type, const uint8_t *rdata, size_t rdlen, struct tb_bytes *out)
{
	const struct dns_rrtype *t = dns_rrtype_find(type);
	if (!t || type == DNS_T_OPT || dns_rdata_check(type, rdata, rdlen) != 0)
		return generic_to_text(rdata, rdlen, out);
	size_t i = 0;
	char ab[INET6_ADDRSTRLEN], tb[16];
	int first = 1;
	for (const char *f = t->fields; *f; f++) {
		size_t rest = rdlen - i;
		if (*f != 'W' && *f != 'P' && !first)
			tb_bytes_u8(out, ' ');
		first = 0;
		switch (*f) {
		case 'n': {
			int l = dns_name_len(rdata + i, rest);
			dns_name_to_text(rdata + i, out);
			i += (size_t)l;
			break;
		}
		case '1': tb_bytes_printf(out, "%u", rdata[i]); i += 1; break;
		case '2': tb_bytes_printf(out, "%u", (unsigned)(rdata[i] << 8 | rdata[i + 1])); i += 2; break;
		case '4': tb_bytes_printf(out, "%u", rd32(rdata + i)); i += 4; break;
		case 'y': {
			const char *s = dns_type_str((uint16_t)(rdata[i] << 8 | rdata[i + 1]), tb);
			tb_bytes_append(out, s, strlen(s));
			i += 2;
			break;
		}
		case 't': put_time(out, rd32(rdata + i)); i += 4; break;
		case 'T': {
			uint64_t v = 0;
			for (int k = 0; k < 6; k++)
				v = v << 8 | rdata[i + (size_t)k];
			tb_bytes_printf(out, "%llu", (unsigned long long)v);
			i += 6;
			break;
		}
		case 'i':
			inet_ntop(AF_INET, rdata + i, ab, sizeof ab);
			tb_bytes_append(out, ab, strlen(ab));
			i += 4;
			break;
		case 'I':
			inet_ntop(AF_INET6, rdata + i, ab, sizeof ab);
			tb_bytes_append(out, ab, strlen(ab));
			i += 16;
			break;
		case 's':
			put_charstr(out, rdata + i + 1, rdata[i], 1);
			i += 1 + (size_t)rdata[i];
			break;
		case 'S':
			while (i < rdlen) {
				if (i && out->len && out->p[out->len - 1] == '"')
					tb_bytes_u8(out, ' ');
				put_charstr(out, rdata + i + 1, rdata[i], 1);
				i += 1 + (size_t)rdata[i];
			}
			break;
		case 'c':
			tb_bytes_append(out, rdata + i + 1, rdata[i]);
			i += 1 + (size_t)rdata[i];
			break;
		case 'v':
			put_charstr(out, rdata + i, rest, 1);
			i = rdlen;
			break;
		case 'B':
			tb_base64_encode(out, rdata + i, rest);
			i = rdlen;
			break;
		case 'X':
			if (rest == 0)
				tb_bytes_u8(out, '-');
			hex_upper(out, rdata + i, rest);
			i = rdlen;
			break;
		case 'x':
			if (rdata[i] == 0)
				tb_bytes_u8(out, '-');
			hex_upper(out, rdata + i + 1, rdata[i]);
			i += 1 + (size_t)rdata[i];
			break;
		case 'h':
			base32hex_encode(out, rdata + i + 1, rdata[i]);
			i += 1 + (size_t)rdata[i];
			break;
		case 'm':
		case 'o': {
			size_t l = (size_t)(rdata[i] << 8 | rdata[i + 1]);
			tb_bytes_printf(out, "%zu", l);
			if (l) {
				tb_bytes_u8(out, ' ');
				if (*f == 'm')
					tb_base64_encode(out, rdata + i + 2, l);
				else
					hex_upper(out, rdata + i + 2, l);
			}
			i += 2 + l;
			break;
		}
		case 'W': {
			int f2 = 1;
			struct tb_bytes tmp = { 0 };
			put_bitmap(&tmp, rdata + i, rest, &f2);
			if (tmp.len) {
				tb_bytes_u8(out, ' ');
				tb_bytes_append(out, tmp.p, tmp.len);
			}
			tb_bytes_free(&tmp);
			i = rdlen;
			break;
		}
		case 'P':
			put_svcparams(out, rdata + i, rest);
			i = rdlen;
			break;
		default:
			return TB_ERR_INVALID;
		}
	}
	return out->err;
}

int dns_rr_to_text(const struct dns_rr *rr, struct tb_bytes *out)
{
	char tb[16], cb[16];
	dns_name_to_text(rr->owner, out);
	tb_bytes_printf(out, " %u %s %s ", rr->ttl, dns_class_str(rr->rclass, cb),
		dns_type_str(rr->type, tb));
	return dns_rdata_to_text(rr->type, rr->rdata, rr->rdlen, out);
}

/* ---- text to RDATA ---- */

/* Decodes a <character-string> token's escapes into out (at most max octets). */
static int decode_charstr(const char *s, size_t n, struct tb_bytes *out, size_t max)
{
	size_t start = out->len;
	for (size_t i = 0; i < n;) {
		unsigned c = (unsigned char)s[i];
		if (c == '\\') {
			int err = dns_text_unescape(s, n, &i, &c);
			if (err)
				return err;
		} else {
			i++;
		}
		if (out->len - start >= max)
			return TB_ERR_TOO_LARGE;
		tb_bytes_u8(out, (uint8_t)c);
	}
	return out->err;
}

static int put_lenstr(struct tb_bytes *out, const struct dns_tok *t)
{
	size_t at = out->len;
	tb_bytes_u8(out, 0);
	int err = decode_charstr(t->p, t->len, out, 255);
	if (err)
		return err;
	out->p[at] = (uint8_t)(out->len - at - 1);
	return 0;
}

static int parse_time(const struct dns_tok *t, uint32_t *v)
{
	uint64_t x;
	if (t->len == 14) {
		struct tm tm = { 0 };
		char b[15];
		memcpy(b, t->p, 14);
		b[14] = 0;
		for (int i = 0; i < 14; i++)
			if (b[i] < '0' || b[i] > '9')
				return TB_ERR_INVALID;
		tm.tm_sec = atoi(b + 12);
		b[12] = 0;
		tm.tm_min = atoi(b + 10);
		b[10] = 0;
		tm.tm_hour = atoi(b + 8);
		b[8] = 0;
		tm.tm_mday = atoi(b + 6);
		b[6] = 0;
		tm.tm_mon = atoi(b + 4) - 1;
		b[4] = 0;
		tm.tm_year = atoi(b) - 1900;
		time_t tt = timegm(&tm);
		*v = (uint32_t)tt; /* serial-number arithmetic, RFC 4034 3.1.5 */
		return 0;
	}
	if (parse_uint(t->p, t->len, 0xffffffffu, &x))
		return TB_ERR_INVALID;
	*v = (uint32_t)x;
	return 0;
}

static int put_bitmap_types(struct tb_bytes *out, const struct dns_tok *toks, size_t n,
	size_t *bad)
{
	uint8_t win[256][32];
	uint8_t used[256] = { 0 };
	memset(win, 0, sizeof win);
	for (size_t i = 0; i < n; i++) {
		int t = dns_type_from_str(toks[i].p, toks[i].len);
		if (t < 0) {
			*bad = i;
			return TB_ERR_INVALID;
		}
		unsigned w = (unsigned)t >> 8, b = (unsigned)t & 255;
		win[w][b / 8] |= (uint8_t)(0x80 >> (b % 8));
		if (used[w] < b / 8 + 1)
			used[w] = (uint8_t)(b / 8 + 1);
	}
	for (unsigned w = 0; w < 256; w++) {
		if (!used[w])
			continue;
		tb_bytes_u8(out, (uint8_t)w);
		tb_bytes_u8(out, used[w]);
		tb_bytes_append(out, win[w], used[w]);
	}
	return out->err;
}

static int svckey_from(const char *s, size_t n)
{
	for (unsigned k = 0; k < sizeof svc_keys / sizeof svc_keys[0]; k++)
		if (strlen(svc_keys[k]) == n && memcmp(svc_keys[k], s, n) == 0)
			return (int)k;
	if (n > 3 && memcmp(s, "key", 3) == 0) {
		uint64_t v;
		if (parse_uint(s + 3, n - 3, 65535, &v) == 0)
			return (int)v;
	}
	return -1;
}

struct svcparam {
	int key;
	struct tb_bytes val;
};

/* Splits a comma-separated value list (with \, escapes) and calls per item. */
static int svc_list(const char *s, size_t n, struct tb_bytes *items)
{
	/* items gets: for each item, a u8 length + decoded bytes (like alpn wire). */
	size_t at = items->len;
	tb_bytes_u8(items, 0);
	for (size_t i = 0; i < n;) {
		unsigned c = (unsigned char)s[i];
		if (c == ',') {
			if (items->len - at - 1 == 0)
				return TB_ERR_INVALID;
			items->p[at] = (uint8_t)(items->len - at - 1);
			at = items->len;
			tb_bytes_u8(items, 0);
			i++;
			continue;
		}
		if (c == '\\' && i + 1 < n) {
			if (s[i + 1] >= '0' && s[i + 1] <= '9' && i + 4 <= n) {
				unsigned v = (unsigned)((s[i + 1] - '0') * 100 + (s[i + 2] - '0') * 10 + (s[i + 3] - '0'));
				if (v > 255)
					return TB_ERR_INVALID;
				c = v;
				i += 4;
			} else if (s[i + 1] == '\\' && i + 2 < n && s[i + 2] == ',') {
				c = ',';
				i += 3;
			} else {
				c = (unsigned char)s[i + 1];
				i += 2;
			}
		} else {
			i++;
		}
		if (items->len - at - 1 >= 255)
			return TB_ERR_TOO_LARGE;
		tb_bytes_u8(items, (uint8_t)c);
	}
	if (items->len - at - 1 == 0)
		return TB_ERR_INVALID;
	items->p[at] = (uint8_t)(items->len - at - 1);
	return items->err;
}

static int svc_value(int key, const char *v, size_t vl, int has_val, struct tb_bytes *out)
{
	struct tb_bytes items = { 0 };
	int err = 0;
	switch (key) {
	case 2:
		return has_val ? TB_ERR_INVALID : 0;
	case 3: {
		uint64_t x;
		if (!has_val || parse_uint(v, vl, 65535, &x))
			return TB_ERR_INVALID;
		tb_bytes_u16(out, (uint16_t)x);
		return out->err;
	}
	case 5:
		if (!has_val)
			return TB_ERR_INVALID;
		return tb_base64_decode(out, v, vl);
	default:
		break;
	}
	if (key > 6 || key == 1 || key == 0 || key == 4 || key == 6) {
		if (!has_val)
			return key > 6 ? 0 : TB_ERR_INVALID;
	}
	if (key > 6)
		return decode_charstr(v, vl, out, 65535);
	err = svc_list(v, vl, &items);
	for (size_t i = 0; !err && i < items.len; i += 1 + (size_t)items.p[i]) {
		const char *it = (const char *)items.p + i + 1;
		size_t il = items.p[i];
		char ab[64];
		uint8_t addr[16];
		switch (key) {
		case 0: {
			int k = svckey_from(it, il);
			if (k < 0)
				err = TB_ERR_INVALID;
			else
				tb_bytes_u16(out, (uint16_t)k);
			break;
		}
		case 1:
			tb_bytes_u8(out, (uint8_t)il);
			tb_bytes_append(out, it, il);
			break;
		case 4:
		case 6:
			if (il >= sizeof ab) {
				err = TB_ERR_INVALID;
				break;
			}
			memcpy(ab, it, il);
			ab[il] = 0;
			if (inet_pton(key == 4 ? AF_INET : AF_INET6, ab, addr) != 1)
				err = TB_ERR_INVALID;
			else
				tb_bytes_append(out, addr, key == 4 ? 4 : 16);
			break;
		}
	}
	tb_bytes_free(&items);
	return err ? err : out->err;
}

static int cmp_u16(const void *a, const void *b)
{
	const uint8_t *x = a, *y = b;
	return (x[0] << 8 | x[1]) - (y[0] << 8 | y[1]);
}

static int cmp_param(const void *a, const void *b)
{
	return ((const struct svcparam *)a)->key - ((const struct svcparam *)b)->key;
}

#define DNS_SVC_PARAMS_MAX 64

static int put_svcparams_text(struct tb_bytes *out, const struct dns_tok *toks, size_t n,
	size_t *bad)
{
	struct svcparam ps[DNS_SVC_PARAMS_MAX];
	size_t np = 0;
	int err = 0;
	for (size_t i = 0; i < n && !err; i++) {
		const char *s = toks[i].p;
		size_t l = toks[i].len;
		const char *eq = memchr(s, '=', l);
		size_t kl = eq ? (size_t)(eq - s) : l;
		int key = svckey_from(s, kl);
		if (key < 0 || np >= DNS_SVC_PARAMS_MAX) {
			*bad = i;
			err = TB_ERR_INVALID;
			break;
		}
		const char *v = eq ? eq + 1 : NULL;
		size_t vl = eq ? l - kl - 1 : 0;
		if (eq && vl == 0 && i + 1 < n && toks[i + 1].quoted) {
			i++;
			v = toks[i].p;
			vl = toks[i].len;
		} else if (v && vl >= 2 && v[0] == '"' && v[vl - 1] == '"') {
			v++;
			vl -= 2;
		}
		ps[np].key = key;
		memset(&ps[np].val, 0, sizeof ps[np].val);
		err = svc_value(key, v, vl, eq != NULL, &ps[np].val);
		np++;
		if (err) {
			*bad = i;
			break;
		}
		if (key == 0 && ps[np - 1].val.len > 2)
			qsort(ps[np - 1].val.p, ps[np - 1].val.len / 2, 2, cmp_u16);
	}
	if (!err) {
		qsort(ps, np, sizeof ps[0], cmp_param);
		for (size_t i = 0; i < np; i++) {
			if ((i && ps[i].key == ps[i - 1].key) || ps[i].val.len > 65535) {
				*bad = n;
				err = TB_ERR_INVALID;
				break;
			}
			tb_bytes_u16(out, (uint16_t)ps[i].key);
			tb_bytes_vec(out, 2, ps[i].val.p, ps[i].val.len);
		}
	}
	for (size_t i = 0; i < np; i++)
		tb_bytes_free(&ps[i].val);
	return err ? err : out->err;
}

/* Concatenates tokens [from, n) into one string (for base64 / hex split over lines). */
static int concat(const struct dns_tok *toks, size_t from, size_t n, struct tb_bytes *s)
{
	for (size_t i = from; i < n; i++)
		tb_bytes_append(s, toks[i].p, toks[i].len);
	return s->err;
}

static int generic_from_text(const struct dns_tok *toks, size_t n, struct tb_bytes *out,
	size_t *bad, const char **msg)
{
	uint64_t len;
	if (n < 2 || parse_uint(toks[1].p, toks[1].len, 65535, &len)) {
		*bad = n < 2 ? n : 1;
		*msg = "generic RDATA needs \\# <length> <hex>";
		return TB_ERR_INVALID;
	}
	size_t start = out->len;
	struct tb_bytes s = { 0 };
	int err = concat(toks, 2, n, &s);
	if (!err)
		err = tb_hex_decode(out, (const char *)s.p, s.len);
	tb_bytes_free(&s);
	if (err || out->len - start != len) {
		*bad = 2;
		*msg = "generic RDATA length does not match its hex";
		return TB_ERR_INVALID;
	}
	return 0;
}

/* TTL: seconds, or BIND units (1w2d3h4m5s). RFC 2181 8: at most 2^31 - 1. */
int dns_ttl_from_text(const char *p, size_t len, uint32_t *out)
{
	uint64_t total = 0, cur = 0;
	int digits = 0, units = 0;
	if (len == 0 || p[0] < '0' || p[0] > '9')
		return TB_ERR_INVALID;
	for (size_t i = 0; i < len; i++) {
		char c = p[i];
		if (c >= '0' && c <= '9') {
			cur = cur * 10 + (uint64_t)(c - '0');
			digits++;
			if (cur > 0x7fffffff)
				return TB_ERR_INVALID;
			continue;
		}
		uint64_t mul;
		switch (c | 0x20) {
		case 's': mul = 1; break;
		case 'm': mul = 60; break;
		case 'h': mul = 3600; break;
		case 'd': mul = 86400; break;
		case 'w': mul = 604800; break;
		default: return TB_ERR_INVALID;
		}
		if (!digits)
			return TB_ERR_INVALID;
		total += cur * mul;
		cur = 0;
		digits = 0;
		units = 1;
		if (total > 0x7fffffff)
			return TB_ERR_INVALID;
	}
	if (digits && units)
		return TB_ERR_INVALID; /* "1h30" is ambiguous */
	total += cur;
	if (total > 0x7fffffff)
		return TB_ERR_INVALID;
	*out = (uint32_t)total;
	return 0;
}

int dns_rdata_from_text(uint16_t type, const struct dns_tok *toks, size_t n,
	const uint8_t *origin, struct tb_bytes *out, size_t *bad, const char **msg)
{
	size_t start = out->len;
	*bad = n;
	*msg = "bad RDATA";
	if (n >= 1 && !toks[0].quoted && toks[0].len == 2 && memcmp(toks[0].p, "\\#", 2) == 0) {
		int err = generic_from_text(toks, n, out, bad, msg);
		if (err)
			return err;
		if (dns_rdata_check(type, out->p + start, out->len - start)) {
			*bad = 0;
			*msg = "generic RDATA is not valid for this type";
			return TB_ERR_INVALID;
		}
		return 0;
	}
	const struct dns_rrtype *t = dns_rrtype_find(type);
	if (!t || type == DNS_T_OPT) {
		*msg = "unknown type needs the generic form \\# <length> <hex>";
		*bad = 0;
		return TB_ERR_INVALID;
	}
	size_t i = 0;
	int err = 0;
	for (const char *f = t->fields; *f && !err; f++) {
		int need_tok = !(*f == 'W' || *f == 'P');
		if (need_tok && i >= n) {
			*bad = n;
			*msg = "missing RDATA field";
			return TB_ERR_INVALID;
		}
		const struct dns_tok *k = &toks[i];
		uint64_t v;
		*bad = i;
		switch (*f) {
		case 'n': {
			uint8_t name[DNS_NAME_MAX];
			size_t nl;
			err = dns_name_from_text(k->p, k->len, origin, name, &nl);
			if (err) {
				*msg = "bad domain name";
				break;
			}
			tb_bytes_append(out, name, nl);
			i++;
			break;
		}
		case '1':
		case '2':
		case '4': {
			uint64_t max = *f == '1' ? 255 : *f == '2' ? 65535 : 0xffffffffu;
			err = parse_uint(k->p, k->len, max, &v);
			/* SOA refresh, retry, expire and minimum may use BIND's units (1w2d3h) */
			if (err && type == DNS_T_SOA && *f == '4' && f != strchr(t->fields, '4')) {
				uint32_t u32;
				err = dns_ttl_from_text(k->p, k->len, &u32);
				v = u32;
			}
			if (err) {
				*msg = "bad integer";
				break;
			}
			if (*f == '1')
				tb_bytes_u8(out, (uint8_t)v);
			else if (*f == '2')
				tb_bytes_u16(out, (uint16_t)v);
			else
				tb_bytes_u32(out, (uint32_t)v);
			i++;
			break;
		}
		case 'T':
			err = parse_uint(k->p, k->len, 0xffffffffffffull, &v);
			if (err) {
				*msg = "bad 48-bit time";
				break;
			}
			tb_bytes_u16(out, (uint16_t)(v >> 32));
			tb_bytes_u32(out, (uint32_t)v);
			i++;
			break;
		case 'y': {
			int ty = dns_type_from_str(k->p, k->len);
			if (ty < 0) {
				err = TB_ERR_INVALID;
				*msg = "bad type mnemonic";
				break;
			}
			tb_bytes_u16(out, (uint16_t)ty);
			i++;
			break;
		}
		case 't': {
			uint32_t tv;
			err = parse_time(k, &tv);
			if (err) {
				*msg = "bad time (YYYYMMDDHHmmSS)";
				break;
			}
			tb_bytes_u32(out, tv);
			i++;
			break;
		}
		case 'i':
		case 'I': {
			char ab[64];
			uint8_t addr[16];
			if (k->len >= sizeof ab) {
				err = TB_ERR_INVALID;
			} else {
				memcpy(ab, k->p, k->len);
				ab[k->len] = 0;
				if (inet_pton(*f == 'i' ? AF_INET : AF_INET6, ab, addr) != 1)
					err = TB_ERR_INVALID;
			}
			if (err) {
				*msg = *f == 'i' ? "bad IPv4 address" : "bad IPv6 address";
				break;
			}
			tb_bytes_append(out, addr, *f == 'i' ? 4 : 16);
			i++;
			break;
		}
		case 's':
			err = put_lenstr(out, k);
			if (err)
				*msg = "bad character-string (at most 255 octets)";
			i++;
			break;
		case 'S':
			for (; i < n && !err; i++) {
				*bad = i;
				err = put_lenstr(out, &toks[i]);
			}
			if (err)
				*msg = "bad character-string (at most 255 octets)";
			break;
		case 'c':
			if (k->len == 0 || k->len > 15)
				err = TB_ERR_INVALID;
			for (size_t q = 0; !err && q < k->len; q++) {
				char ch = k->p[q];
				if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') ||
					    (ch >= 'A' && ch <= 'Z')))
					err = TB_ERR_INVALID;
			}
			if (err) {
				*msg = "bad CAA tag";
				break;
			}
			tb_bytes_u8(out, (uint8_t)k->len);
			tb_bytes_append(out, k->p, k->len);
			i++;
			break;
		case 'v':
			err = decode_charstr(k->p, k->len, out, 65535);
			if (err)
				*msg = "bad CAA value";
			i++;
			break;
		case 'B':
		case 'X': {
			struct tb_bytes s = { 0 };
			err = concat(toks, i, n, &s);
			if (!err && *f == 'B')
				err = tb_base64_decode(out, (const char *)s.p, s.len);
			else if (!err && !(s.len == 1 && s.p[0] == '-'))
				err = tb_hex_decode(out, (const char *)s.p, s.len);
			tb_bytes_free(&s);
			if (err)
				*msg = *f == 'B' ? "bad base64" : "bad hex";
			i = n;
			break;
		}
		case 'x': {
			size_t at = out->len;
			tb_bytes_u8(out, 0);
			if (!(k->len == 1 && k->p[0] == '-'))
				err = tb_hex_decode(out, k->p, k->len);
			if (!err && out->len - at - 1 > 255)
				err = TB_ERR_TOO_LARGE;
			if (err) {
				*msg = "bad hex salt";
				break;
			}
			out->p[at] = (uint8_t)(out->len - at - 1);
			i++;
			break;
		}
		case 'h': {
			size_t at = out->len;
			tb_bytes_u8(out, 0);
			err = base32hex_decode(out, k->p, k->len);
			if (!err && (out->len - at - 1 > 255 || out->len - at - 1 == 0))
				err = TB_ERR_INVALID;
			if (err) {
				*msg = "bad base32hex";
				break;
			}
			out->p[at] = (uint8_t)(out->len - at - 1);
			i++;
			break;
		}
		case 'm':
		case 'o': {
			err = parse_uint(k->p, k->len, 65535, &v);
			if (err) {
				*msg = "bad length";
				break;
			}
			i++;
			tb_bytes_u16(out, (uint16_t)v);
			if (v) {
				if (i >= n) {
					err = TB_ERR_INVALID;
					*msg = "missing data";
					break;
				}
				size_t at = out->len;
				*bad = i;
				if (*f == 'm')
					err = tb_base64_decode(out, toks[i].p, toks[i].len);
				else
					err = tb_hex_decode(out, toks[i].p, toks[i].len);
				if (!err && out->len - at != v)
					err = TB_ERR_INVALID;
				if (err)
					*msg = "data does not match its length";
				i++;
			}
			break;
		}
		case 'W':
			err = put_bitmap_types(out, toks + i, n - i, bad);
			if (err) {
				*bad += i;
				*msg = "bad type in bitmap";
			}
			i = n;
			break;
		case 'P':
			err = put_svcparams_text(out, toks + i, n - i, bad);
			if (err) {
				*bad += i;
				*msg = "bad SvcParam";
			}
			i = n;
			break;
		default:
			err = TB_ERR_INVALID;
		}
	}
	if (err)
		return err == TB_ERR_NOMEM ? err : TB_ERR_INVALID;
	if (i < n) {
		*bad = i;
		*msg = "trailing RDATA fields";
		return TB_ERR_INVALID;
	}
	if (out->err)
		return out->err;
	if (out->len - start > 65535 || dns_rdata_check(type, out->p + start, out->len - start)) {
		*bad = 0;
		*msg = "RDATA is not structurally valid";
		return TB_ERR_INVALID;
	}
	return 0;
}
