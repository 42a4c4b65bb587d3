/*
 * Identifier policy: which DNS names and IP addresses the CA accepts in
 * orders and CSRs. Mirrors Boulder's policy authority (LDH labels, length
 * and label limits, R-LDH and punycode checks, wildcard placement, no IP
 * text in dns identifiers) and RFC 8738 for IP identifiers (canonical text
 * only, RFC 5952 for IPv6).
 *
 * Not available offline: the Public Suffix List. Boulder refuses names that
 * are, or do not end in, a public suffix; here a name needs two labels, and
 * a wildcard needs two labels after "*.", which refuses "*.com" but not
 * "*.co.uk". Blocklists and per-profile rules belong to the caller.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "acme/acme.h"
#include "core/error.h"

#define PUNYCODE_MAX_OUT 64 /* code points of a decoded label (a label has <= 63 bytes) */

int acme_ident_type_parse(const char *s)
{
	if (!s)
		return TB_ERR_INVALID;
	if (strcmp(s, "dns") == 0)
		return ACME_IDENT_DNS;
	if (strcmp(s, "ip") == 0)
		return ACME_IDENT_IP;
	return TB_ERR_INVALID;
}

int acme_dns_normalize(const char *name, size_t len, char *out, size_t outlen)
{
	if (len + 1 > outlen)
		return TB_ERR_TOO_LARGE;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		out[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
	}
	out[len] = '\0';
	return 0;
}

int acme_dns_is_wildcard(const char *name)
{
	return name && name[0] == '*' && name[1] == '.';
}

/*
 * RFC 3492 punycode decoding, used only to tell whether an "xn--" label is
 * well-formed: the digits decode without overflow to code points that are
 * not ASCII-only (an A-label must encode at least one non-ASCII character),
 * not surrogates and not C1 controls. Full IDNA2008 validation (disallowed
 * code points, bidi, NFC) is not attempted. Returns 0 when valid.
 */
static int punycode_valid(const char *s, size_t len)
{
	enum { BASE = 36, TMIN = 1, TMAX = 26, SKEW = 38, DAMP = 700, INITIAL_BIAS = 72,
		INITIAL_N = 128 };
	uint32_t out[PUNYCODE_MAX_OUT];
	size_t nout = 0;
	size_t b = 0;
	for (size_t j = 0; j < len; j++)
		if (s[j] == '-')
			b = j;
	size_t start = 0;
	if (b > 0) {
		for (size_t j = 0; j < b; j++) {
			if ((unsigned char)s[j] >= 0x80 || nout >= PUNYCODE_MAX_OUT)
				return -1;
			out[nout++] = (unsigned char)s[j];
		}
		start = b + 1;
	} else if (len > 0 && s[0] == '-') {
		start = 1;
	}
	uint32_t n = INITIAL_N, i = 0, bias = INITIAL_BIAS;
	int nonascii = 0, first = 1;
	size_t in = start;
	if (in >= len)
		return -1; /* no deltas: the label encodes ASCII only */
	while (in < len) {
		uint32_t oldi = i, w = 1;
		for (uint32_t k = BASE;; k += BASE) {
			if (in >= len)
				return -1;
			char c = s[in++];
			uint32_t digit;
			if (c >= '0' && c <= '9')
				digit = (uint32_t)(c - '0') + 26;
			else if (c >= 'a' && c <= 'z')
				digit = (uint32_t)(c - 'a');
			else
				return -1;
			if (digit > (UINT32_MAX - i) / w)
				return -1;
			i += digit * w;
			uint32_t t = k <= bias ? TMIN : (k >= bias + TMAX ? TMAX : k - bias);
			if (digit < t)
				break;
			if (w > UINT32_MAX / (BASE - t))
				return -1;
			w *= BASE - t;
			if (k > 100000)
				return -1;
		}
		/* adapt */
		uint32_t delta = first ? (i - oldi) / DAMP : (i - oldi) / 2;
		first = 0;
		delta += delta / (uint32_t)(nout + 1);
		uint32_t k = 0;
		while (delta > ((BASE - TMIN) * TMAX) / 2) {
			delta /= BASE - TMIN;
			k += BASE;
		}
		bias = k + (BASE - TMIN + 1) * delta / (delta + SKEW);
		if (i / (uint32_t)(nout + 1) > 0x10FFFF - n)
			return -1;
		n += i / (uint32_t)(nout + 1);
		i %= (uint32_t)(nout + 1);
		/* beyond Unicode, surrogates, and C1 controls (never valid in IDNA) */
		if (n > 0x10FFFF || (n >= 0xD800 && n <= 0xDFFF) || n < 0xA0)
			return -1;
		if (nout >= PUNYCODE_MAX_OUT)
			return -1;
		memmove(&out[i + 1], &out[i], (nout - i) * sizeof out[0]);
		out[i] = n;
		nout++;
		nonascii = 1;
		i++;
	}
	return nonascii ? 0 : -1;
}

static int looks_like_ip(const char *name, size_t len)
{
	char tmp[64];
	uint8_t a[16];
	if (len >= sizeof tmp)
		return 0;
	memcpy(tmp, name, len);
	tmp[len] = '\0';
	return inet_pton(AF_INET, tmp, a) == 1 || inet_pton(AF_INET6, tmp, a) == 1;
}

static int reject(struct acme_problem *prob, const char *name, size_t len, const char *why)
{
	int shown = len > 64 ? 64 : (int)len;
	return acme_problem_set(prob, ACME_PROB_REJECTED_IDENTIFIER, "Invalid identifier \"%.*s%s\": %s",
		shown, name, len > 64 ? "..." : "", why);
}

int acme_dns_name_check(const char *name, size_t len, int allow_wildcard, struct acme_problem *prob)
{
	if (!name || len == 0)
		return reject(prob, "", 0, "Domain name is empty");
	if (len > ACME_MAX_IDENT_LEN)
		return reject(prob, name, len, "Domain name is longer than 253 bytes");
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '*'))
			return reject(prob, name, len, "Domain name contains an invalid character");
	}
	const char *base = name;
	size_t blen = len;
	if (len >= 1 && name[0] == '*') {
		if (len < 2 || name[1] != '.')
			return reject(prob, name, len,
				"Domain name contains an invalid wildcard. A wildcard is only permitted before the first dot of a domain");
		if (!allow_wildcard)
			return reject(prob, name, len, "Wildcard domain names are not allowed here");
		base = name + 2;
		blen = len - 2;
	}
	if (memchr(base, '*', blen))
		return reject(prob, name, len,
			"Domain name contains an invalid wildcard. A wildcard is only permitted before the first dot of a domain");
	if (looks_like_ip(base, blen))
		return reject(prob, name, len, "Identifier type is DNS but value is an IP address");
	if (blen == 0 || base[blen - 1] == '.')
		return reject(prob, name, len, "Domain name ends in a dot");
	size_t labels = 0;
	for (size_t i = 0; i <= blen;) {
		size_t j = i;
		while (j < blen && base[j] != '.')
			j++;
		const char *l = base + i;
		size_t ll = j - i;
		labels++;
		if (labels > ACME_DNS_MAX_LABELS)
			return reject(prob, name, len, "Domain name has more than 10 labels (parts)");
		if (ll == 0)
			return reject(prob, name, len, "Domain name has an empty label");
		if (ll > ACME_DNS_MAX_LABEL_LEN)
			return reject(prob, name, len, "Domain name has a label (component between dots) longer than 63 bytes");
		if (l[0] == '-' || l[ll - 1] == '-')
			return reject(prob, name, len, "Domain name contains an invalid label");
		if (ll >= 4 && l[2] == '-' && l[3] == '-') {
			if (l[0] != 'x' || l[1] != 'n')
				return reject(prob, name, len,
					"Domain name contains an invalid label in a reserved format (R-LDH: '?\?--')");
			if (punycode_valid(l + 4, ll - 4) != 0)
				return reject(prob, name, len, "Domain name contains malformed punycode");
		}
		i = j + 1;
	}
	if (labels < 2)
		return reject(prob, name, len, base != name ? "Domain name is a wildcard for a top-level domain"
							    : "Domain name needs at least one dot");
	return 0;
}

int acme_ip_parse(const char *s, size_t len, uint8_t addr[16], int *family)
{
	char tmp[64];
	if (!s || len == 0 || len >= sizeof tmp)
		return TB_ERR_INVALID;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	if (strlen(tmp) != len)
		return TB_ERR_INVALID; /* embedded NUL */
	char canon[INET6_ADDRSTRLEN];
	if (inet_pton(AF_INET, tmp, addr) == 1) {
		/* glibc refuses leading zeros and short forms; still compare with the canonical text */
		if (!inet_ntop(AF_INET, addr, canon, sizeof canon) || strcmp(canon, tmp) != 0)
			return TB_ERR_INVALID;
		*family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, tmp, addr) == 1) {
		/* RFC 8738: RFC 5952 text only (lowercase, longest zero run compressed, ...) */
		if (!inet_ntop(AF_INET6, addr, canon, sizeof canon) || strcmp(canon, tmp) != 0)
			return TB_ERR_INVALID;
		*family = AF_INET6;
		return 0;
	}
	return TB_ERR_INVALID;
}

int acme_ip_format(const uint8_t *addr, int family, char *out, size_t outlen)
{
	if ((family != AF_INET && family != AF_INET6) || !inet_ntop(family, addr, out, (socklen_t)outlen))
		return TB_ERR_INVALID;
	return 0;
}

struct prefix {
	uint8_t bytes[16];
	int bits;
};

static int in_prefix(const uint8_t *a, const struct prefix *p)
{
	int full = p->bits / 8, rem = p->bits % 8;
	if (memcmp(a, p->bytes, (size_t)full) != 0)
		return 0;
	if (rem) {
		uint8_t mask = (uint8_t)(0xff << (8 - rem));
		if ((a[full] & mask) != (p->bytes[full] & mask))
			return 0;
	}
	return 1;
}

/* IANA IPv4 and IPv6 special-purpose address registries (plus multicast and class E). */
static const struct prefix reserved_v4[] = {
	{ { 0 }, 8 }, { { 10 }, 8 }, { { 100, 64 }, 10 }, { { 127 }, 8 }, { { 169, 254 }, 16 },
	{ { 172, 16 }, 12 }, { { 192, 0, 0 }, 24 }, { { 192, 0, 2 }, 24 }, { { 192, 88, 99 }, 24 },
	{ { 192, 168 }, 16 }, { { 198, 18 }, 15 }, { { 198, 51, 100 }, 24 }, { { 203, 0, 113 }, 24 },
	{ { 224 }, 4 }, { { 240 }, 4 },
};

static const struct prefix reserved_v6_in_global[] = {
	{ { 0x20, 0x01, 0x00 }, 23 },           /* IETF protocol assignments (Teredo, ORCHID, ...) */
	{ { 0x20, 0x01, 0x0d, 0xb8 }, 32 },     /* documentation */
	{ { 0x20, 0x02 }, 16 },                 /* 6to4 */
	{ { 0x3f, 0xff, 0x00 }, 20 },           /* documentation (RFC 9637) */
};

int acme_ip_is_reserved(const uint8_t *addr, int family)
{
	if (family == AF_INET) {
		for (size_t i = 0; i < sizeof reserved_v4 / sizeof reserved_v4[0]; i++)
			if (in_prefix(addr, &reserved_v4[i]))
				return 1;
		return 0;
	}
	/* Only 2000::/3 is global unicast; everything else (::1, ::ffff:0:0/96, fc00::/7,
	 * fe80::/10, ff00::/8, 64:ff9b::/96, ...) is special. */
	if ((addr[0] & 0xe0) != 0x20)
		return 1;
	for (size_t i = 0; i < sizeof reserved_v6_in_global / sizeof reserved_v6_in_global[0]; i++)
		if (in_prefix(addr, &reserved_v6_in_global[i]))
			return 1;
	return 0;
}

int acme_ip_reverse_name(const uint8_t *addr, int family, char *out, size_t outlen)
{
	int n;
	if (family == AF_INET) {
		n = snprintf(out, outlen, "%u.%u.%u.%u.in-addr.arpa", addr[3], addr[2], addr[1], addr[0]);
	} else if (family == AF_INET6) {
		static const char hex[] = "0123456789abcdef";
		if (outlen < 64 + sizeof "ip6.arpa")
			return TB_ERR_TOO_LARGE;
		char *p = out;
		for (int i = 15; i >= 0; i--) {
			*p++ = hex[addr[i] & 0xf];
			*p++ = '.';
			*p++ = hex[addr[i] >> 4];
			*p++ = '.';
		}
		memcpy(p, "ip6.arpa", sizeof "ip6.arpa");
		return 0;
	} else {
		return TB_ERR_INVALID;
	}
	return (n < 0 || (size_t)n >= outlen) ? TB_ERR_TOO_LARGE : 0;
}

int acme_identifier_check(enum acme_ident_type type, const char *value, size_t len,
	int allow_wildcard, int allow_ip, int allow_reserved_ip,
	struct acme_identifier *out, struct acme_problem *prob)
{
	memset(out, 0, sizeof *out);
	out->type = type;
	if (!value)
		return acme_problem_set(prob, ACME_PROB_MALFORMED, "Identifier value missing");
	if (memchr(value, '\0', len))
		return acme_problem_set(prob, ACME_PROB_MALFORMED, "Identifier value contains a NUL byte");
	if (type == ACME_IDENT_DNS) {
		if (len > ACME_MAX_IDENT_LEN)
			return reject(prob, value, len, "Domain name is longer than 253 bytes");
		acme_dns_normalize(value, len, out->value, sizeof out->value);
		return acme_dns_name_check(out->value, len, allow_wildcard, prob);
	}
	if (type == ACME_IDENT_IP) {
		if (!allow_ip)
			return acme_problem_set(prob, ACME_PROB_UNSUPPORTED_IDENTIFIER,
				"IP address identifiers are not allowed here");
		uint8_t a[16];
		int family;
		if (acme_ip_parse(value, len, a, &family) != 0)
			return acme_problem_set(prob, ACME_PROB_MALFORMED,
				"Invalid IP address identifier \"%.*s\": not an IP address in canonical form (RFC 8738)",
				len > 64 ? 64 : (int)len, value);
		if (!allow_reserved_ip && acme_ip_is_reserved(a, family))
			return acme_problem_set(prob, ACME_PROB_REJECTED_IDENTIFIER,
				"IP address %.*s is in a reserved address block", (int)len, value);
		acme_ip_format(a, family, out->value, sizeof out->value);
		return 0;
	}
	return acme_problem_set(prob, ACME_PROB_UNSUPPORTED_IDENTIFIER, "Unsupported identifier type");
}

int acme_ident_cmp(const void *a, const void *b)
{
	const struct acme_identifier *x = a, *y = b;
	if (x->type != y->type)
		return x->type < y->type ? -1 : 1;
	return strcmp(x->value, y->value);
}
