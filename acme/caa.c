/*
 * DESIGN: CAA evaluation (RFC 8659 section 4, RFC 8657) for one relevant
 * RRset, as pure code: the resolver walk that finds the set lives in
 * validate.c. Records come from DNS, so every length is checked against the
 * RDATA: flags (1 byte), tag length (1), tag, value (the rest).
 *
 *   issue / issuewild value = [issuer-domain-name] *(";" key "=" value)
 *
 * A record authorises us when its issuer domain is one of ours
 * (case-insensitive) and its parameters, where we know them, agree:
 * accounturi must be the account URL, validationmethods must list the
 * method. Unknown parameters are ignored (RFC 8659 4.2). For a wildcard,
 * issuewild records decide when present. An unknown tag with the critical
 * flag refuses issuance.
 */
#include "acme/acme.h"

#include <string.h>
#include <strings.h>

#include "core/services.h"

#define CAA_TYPE 257

static int is_ws(uint8_t c)
{
	return c == ' ' || c == '\t';
}

static int issuer_ok(const struct acme_caa_request *q, const uint8_t *v, size_t n)
{
	for (size_t i = 0; i < q->n_issuers; i++)
		if (strlen(q->issuers[i]) == n && strncasecmp(q->issuers[i], (const char *)v, n) == 0)
			return 1;
	return 0;
}

static int list_has(const uint8_t *v, size_t n, const char *want)
{
	size_t wl = strlen(want), p = 0;
	while (p <= n) {
		size_t e = p;
		while (e < n && v[e] != ',')
			e++;
		size_t a = p, b = e;
		while (a < b && is_ws(v[a]))
			a++;
		while (b > a && is_ws(v[b - 1]))
			b--;
		if (b - a == wl && wl > 0 && memcmp(v + a, want, wl) == 0)
			return 1;
		p = e + 1;
	}
	return 0;
}

int acme_caa_value_allows(const struct acme_caa_request *q, const uint8_t *v, size_t n)
{
	size_t i = 0;
	while (i < n && is_ws(v[i]))
		i++;
	size_t d0 = i;
	while (i < n && v[i] != ';' && !is_ws(v[i]))
		i++;
	if (i == d0 || !issuer_ok(q, v + d0, i - d0))
		return 0;
	while (i < n) {
		while (i < n && (is_ws(v[i]) || v[i] == ';'))
			i++;
		if (i >= n)
			break;
		size_t k0 = i;
		while (i < n && v[i] != '=' && v[i] != ';')
			i++;
		if (i >= n || v[i] != '=')
			return 0; /* a key without a value is malformed: not an authorisation */
		size_t klen = i - k0;
		i++;
		size_t v0 = i;
		while (i < n && v[i] != ';')
			i++;
		size_t vlen = i - v0;
		while (vlen > 0 && is_ws(v[v0 + vlen - 1]))
			vlen--;
		while (klen > 0 && is_ws(v[k0 + klen - 1]))
			klen--;
		const char *key = (const char *)v + k0;
		if (klen == 10 && strncmp(key, "accounturi", 10) == 0) {
			if (!q->account_url || strlen(q->account_url) != vlen ||
				memcmp(q->account_url, v + v0, vlen) != 0)
				return 0;
		} else if (klen == 17 && strncmp(key, "validationmethods", 17) == 0) {
			if (!q->method || !list_has(v + v0, vlen, q->method))
				return 0;
		}
	}
	return 1;
}

int acme_caa_evaluate(const struct acme_caa_request *q, const struct tb_rr *rrs, size_t n, int *unknown_critical)
{
	size_t n_caa = 0, n_issue = 0, n_wild = 0;
	int ok_issue = 0, ok_wild = 0, crit = 0;
	for (size_t i = 0; i < n; i++) {
		if (rrs[i].type != CAA_TYPE)
			continue;
		n_caa++;
		const uint8_t *d = rrs[i].rdata.p;
		size_t len = rrs[i].rdata.len;
		if (len < 2 || (size_t)d[1] + 2 > len || d[1] == 0) {
			crit = 1; /* unparseable: treat like an unknown critical record (refuse) */
			continue;
		}
		uint8_t flags = d[0], tl = d[1];
		const char *tag = (const char *)d + 2;
		const uint8_t *val = d + 2 + tl;
		size_t vl = len - 2 - tl;
		if (tl == 5 && strncasecmp(tag, "issue", 5) == 0) {
			n_issue++;
			ok_issue |= acme_caa_value_allows(q, val, vl);
		} else if (tl == 9 && strncasecmp(tag, "issuewild", 9) == 0) {
			n_wild++;
			ok_wild |= acme_caa_value_allows(q, val, vl);
		} else if (!(tl == 5 && strncasecmp(tag, "iodef", 5) == 0) && (flags & 0x80)) {
			crit = 1;
		}
	}
	if (unknown_critical)
		*unknown_critical = crit;
	if (n_caa == 0)
		return 1;
	if (crit)
		return -1;
	if (q->wildcard && n_wild)
		return ok_wild ? 0 : -1;
	if (n_issue)
		return ok_issue ? 0 : -1;
	return 0; /* only iodef or unknown non-critical tags */
}
