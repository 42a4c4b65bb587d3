/*
 * Domain names in uncompressed wire form: length checks, case-insensitive
 * comparison, RFC 4034 canonical order, and conversion from and to
 * presentation text with RFC 1035 / 4343 escapes.
 */
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "dns/dns.h"
#include "dns/dns_internal.h"

static inline uint8_t lc(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c;
}

int dns_name_len(const uint8_t *p, size_t len)
{
	size_t off = 0;
	for (;;) {
		if (off >= len)
			return TB_ERR_TRUNCATED;
		uint8_t l = p[off];
		if (l == 0)
			return (int)(off + 1);
		if (l > DNS_LABEL_MAX)
			return TB_ERR_INVALID;
		off += 1 + (size_t)l;
		if (off + 1 > DNS_NAME_MAX)
			return TB_ERR_INVALID;
	}
}

int dns_name_labels(const uint8_t *name)
{
	int n = 0;
	while (*name) {
		n++;
		name += 1 + *name;
	}
	return n;
}

int dns_name_eq(const uint8_t *a, const uint8_t *b)
{
	for (;;) {
		if (*a != *b)
			return 0;
		uint8_t l = *a;
		if (l == 0)
			return 1;
		for (uint8_t i = 1; i <= l; i++)
			if (a[i] != b[i] && lc(a[i]) != lc(b[i]))
				return 0;
		a += 1 + l;
		b += 1 + l;
	}
}

const uint8_t *dns_name_skip(const uint8_t *name, int n)
{
	while (n-- > 0 && *name)
		name += 1 + *name;
	return name;
}

int dns_name_cmp(const uint8_t *a, const uint8_t *b)
{
	const uint8_t *la[128], *lb[128];
	int na = 0, nb = 0;
	for (const uint8_t *p = a; *p && na < 128; p += 1 + *p)
		la[na++] = p;
	for (const uint8_t *p = b; *p && nb < 128; p += 1 + *p)
		lb[nb++] = p;
	while (na > 0 && nb > 0) {
		const uint8_t *x = la[--na], *y = lb[--nb];
		uint8_t n = *x < *y ? *x : *y;
		for (uint8_t i = 1; i <= n; i++) {
			uint8_t cx = lc(x[i]), cy = lc(y[i]);
			if (cx != cy)
				return cx < cy ? -1 : 1;
		}
		if (*x != *y)
			return *x < *y ? -1 : 1;
	}
	return na == nb ? 0 : (na < nb ? -1 : 1);
}

int dns_name_is_sub(const uint8_t *name, const uint8_t *zone)
{
	int n = dns_name_labels(name), z = dns_name_labels(zone);
	if (n < z)
		return 0;
	return dns_name_eq(dns_name_skip(name, n - z), zone);
}

void dns_name_lower(uint8_t *name)
{
	while (*name) {
		uint8_t l = *name;
		for (uint8_t i = 1; i <= l; i++)
			name[i] = lc(name[i]);
		name += 1 + l;
	}
}

/* FNV-1a; octets folded with | 0x20: case-insensitive for ASCII letters, no branch. */
uint32_t dns_name_hash(const uint8_t *name)
{
	uint32_t h = 2166136261u;
	for (;;) {
		uint8_t l = *name;
		h = (h ^ l) * 16777619u;
		if (l == 0)
			return h;
		for (uint8_t i = 1; i <= l; i++)
			h = (h ^ (name[i] | 0x20u)) * 16777619u;
		name += 1 + l;
	}
}

/*
 * The builder's compression hashes: FNV-1a over the labels from the root up,
 * so that one pass from the right gives every suffix's hash. Octets are
 * folded with | 0x20 (ASCII letters lowercased, without a branch; other
 * octets may collide more, which the builder's comparison sorts out).
 */
int dns_name_suffix_hashes(const uint8_t *name, uint16_t *starts, uint32_t *hashes, int max)
{
	int n = 0;
	for (const uint8_t *q = name; *q && n < max; q += 1 + *q)
		starts[n++] = (uint16_t)(q - name);
	uint32_t h = (2166136261u ^ 0u) * 16777619u;
	for (int i = n - 1; i >= 0; i--) {
		const uint8_t *label = name + starts[i];
		uint8_t l = *label;
		h = (h ^ l) * 16777619u;
		for (uint8_t k = 1; k <= l; k++)
			h = (h ^ (label[k] | 0x20u)) * 16777619u;
		hashes[i] = h;
	}
	return n;
}

/*
 * Decodes the presentation-format escape at s[*i] ('\\' then a character or
 * three decimal digits, RFC 1035 5.1) into *c and advances *i past it.
 */
int dns_text_unescape(const char *s, size_t n, size_t *i, unsigned *c)
{
	size_t at = *i;
	if (at + 1 >= n || s[at] != '\\')
		return TB_ERR_INVALID;
	if (s[at + 1] < '0' || s[at + 1] > '9') {
		*c = (unsigned char)s[at + 1];
		*i = at + 2;
		return 0;
	}
	if (at + 4 > n)
		return TB_ERR_INVALID;
	unsigned v = 0;
	for (size_t k = 1; k <= 3; k++) {
		char d = s[at + k];
		if (d < '0' || d > '9')
			return TB_ERR_INVALID;
		v = v * 10 + (unsigned)(d - '0');
	}
	if (v > 255)
		return TB_ERR_INVALID;
	*c = v;
	*i = at + 4;
	return 0;
}

int dns_name_from_text(const char *s, size_t n, const uint8_t *origin, uint8_t *out,
	size_t *outlen)
{
	if (n == 0)
		return TB_ERR_INVALID;
	if (n == 1 && s[0] == '@') {
		if (!origin)
			return TB_ERR_INVALID;
		int ol = dns_name_len(origin, DNS_NAME_MAX);
		if (ol < 0)
			return ol;
		memcpy(out, origin, (size_t)ol);
		*outlen = (size_t)ol;
		return 0;
	}
	if (n == 1 && s[0] == '.') {
		out[0] = 0;
		*outlen = 1;
		return 0;
	}
	size_t o = 0;       /* write offset */
	size_t lab = 0;     /* offset of the current label's length byte */
	int absolute = 0;
	out[0] = 0;
	o = 1;
	for (size_t i = 0; i < n;) {
		unsigned c = (unsigned char)s[i];
		if (c == '.') {
			size_t l = o - lab - 1;
			if (l == 0)
				return TB_ERR_INVALID; /* empty label */
			out[lab] = (uint8_t)l;
			i++;
			if (i == n) {
				absolute = 1;
				break;
			}
			lab = o;
			if (o + 1 >= DNS_NAME_MAX)
				return TB_ERR_TOO_LARGE;
			out[o++] = 0;
			continue;
		}
		if (c == '\\') {
			int err = dns_text_unescape(s, n, &i, &c);
			if (err)
				return err;
		} else {
			i++;
		}
		if (o - lab - 1 >= DNS_LABEL_MAX)
			return TB_ERR_TOO_LARGE;
		if (o + 1 >= DNS_NAME_MAX)
			return TB_ERR_TOO_LARGE;
		out[o++] = (uint8_t)c;
	}
	if (!absolute) {
		size_t l = o - lab - 1;
		if (l == 0)
			return TB_ERR_INVALID;
		out[lab] = (uint8_t)l;
		if (!origin)
			return TB_ERR_INVALID;
		int ol = dns_name_len(origin, DNS_NAME_MAX);
		if (ol < 0)
			return ol;
		if (o + (size_t)ol > DNS_NAME_MAX)
			return TB_ERR_TOO_LARGE;
		memcpy(out + o, origin, (size_t)ol);
		o += (size_t)ol;
	} else {
		out[o++] = 0;
	}
	*outlen = o;
	return 0;
}

int dns_name_to_text(const uint8_t *name, struct tb_bytes *out)
{
	if (*name == 0)
		return tb_bytes_append(out, ".", 1);
	while (*name) {
		uint8_t l = *name;
		for (uint8_t i = 1; i <= l; i++) {
			uint8_t c = name[i];
			if (c == '.' || c == ';' || c == '(' || c == ')' || c == '@' || c == '\\' ||
				c == '"' || c == '$') {
				tb_bytes_u8(out, '\\');
				tb_bytes_u8(out, c);
			} else if (c <= 0x20 || c >= 0x7f) {
				tb_bytes_printf(out, "\\%03u", c);
			} else {
				tb_bytes_u8(out, c);
			}
		}
		tb_bytes_u8(out, '.');
		name += 1 + l;
	}
	return out->err;
}

const char *dns_name_str(const uint8_t *name, char *buf, size_t buflen)
{
	struct tb_bytes b = { 0 };
	dns_name_to_text(name, &b);
	if (b.err || !buflen) {
		tb_bytes_free(&b);
		return "?";
	}
	size_t n = b.len < buflen - 1 ? b.len : buflen - 1;
	memcpy(buf, b.p, n);
	buf[n] = 0;
	tb_bytes_free(&b);
	return buf;
}
