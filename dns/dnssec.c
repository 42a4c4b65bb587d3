/*
 * DNSSEC validation building blocks (see dnssec.h): canonical form and signed
 * data, signature verification through core's crypto provider with the key
 * objects it builds kept (below, "Parsed keys"), key tags, DS
 * digests, validity windows, and the budget that bounds them (the NSEC and
 * NSEC3 proofs are in denial.c).
 *
 * Algorithm choices (RFC 8624 / RFC 9904 recommendations for validators):
 *   - signatures 8, 10, 13, 14, 15 are validated; RSASHA1 (5, 7) is treated as
 *     unsupported (RFC 9905 deprecates SHA-1 signatures), so a zone whose DS
 *     records name only such keys is insecure, as RFC 4035 5.2 prescribes for
 *     any unsupported algorithm; RSA moduli below 1024 bits are refused;
 *   - DS digests 2 (SHA-256) and 4 (SHA-384) are validated; 1 (SHA-1) still
 *     is, because zones publishing only a SHA-1 DS remain, as Unbound, BIND
 *     and Knot still accept it, but only when no SHA-256/384 DS names the same
 *     key (RFC 4509 3: a stronger digest cannot be downgraded by a SHA-1 one).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "core/error.h"
#include "dns/dnssec.h"

static inline uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint8_t lc(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c;
}

const char *dnssec_status_str(enum dnssec_status s)
{
	switch (s) {
	case DNSSEC_SECURE: return "secure";
	case DNSSEC_INSECURE: return "insecure";
	case DNSSEC_BOGUS: return "bogus";
	default: return "indeterminate";
	}
}

void dnssec_budget_init(struct dnssec_budget *b)
{
	memset(b, 0, sizeof *b);
	b->sig_rrset_max = DNSSEC_SIG_RRSET_MAX;
	b->sig_query_max = DNSSEC_SIG_QUERY_MAX;
	b->collisions_max = DNSSEC_KEYTAG_COLLISIONS_MAX;
	b->nsec3_hash_max = DNSSEC_NSEC3_HASH_MAX;
	b->nsec3_iter_max = DNSSEC_NSEC3_ITERATIONS_MAX;
}

int dnssec_alg_supported(uint8_t alg)
{
	return alg == DNSSEC_ALG_RSASHA256 || alg == DNSSEC_ALG_RSASHA512 || alg == DNSSEC_ALG_ECDSAP256 ||
		alg == DNSSEC_ALG_ECDSAP384 || alg == DNSSEC_ALG_ED25519;
}

int dnssec_digest_supported(uint8_t type)
{
	return type == DNSSEC_DS_SHA1 || type == DNSSEC_DS_SHA256 || type == DNSSEC_DS_SHA384;
}

uint16_t dnssec_key_tag(const uint8_t *rdata, size_t rdlen)
{
	uint32_t ac = 0;
	for (size_t i = 0; i < rdlen; i++)
		ac += (i & 1) ? rdata[i] : (uint32_t)rdata[i] << 8;
	ac += (ac >> 16) & 0xffff;
	return (uint16_t)(ac & 0xffff);
}

/* Appends name lowercased. */
static int put_lower_name(struct tb_bytes *out, const uint8_t *name)
{
	int len = dns_name_len(name, DNS_NAME_MAX);
	if (len < 0)
		return len;
	if (tb_bytes_reserve(out, (size_t)len))
		return TB_ERR_NOMEM;
	for (int i = 0; i < len; i++)
		out->p[out->len + (size_t)i] = lc(name[i]);
	/* length octets are below 'A' (at most 63), so lc leaves them alone */
	out->len += (size_t)len;
	return 0;
}

int dnssec_ds_match(const uint8_t *owner, const uint8_t *ds, size_t dslen, const uint8_t *dnskey,
	size_t keylen)
{
	if (dslen < 4 || keylen < 4)
		return 0;
	enum tb_hash_alg h;
	switch (ds[3]) {
	case DNSSEC_DS_SHA1: h = TB_HASH_SHA1; break;
	case DNSSEC_DS_SHA256: h = TB_HASH_SHA256; break;
	case DNSSEC_DS_SHA384: h = TB_HASH_SHA384; break;
	default: return TB_ERR_UNSUPPORTED;
	}
	size_t dl = tb_hash_len(h);
	if (dslen != 4 + dl || rd16(ds) != dnssec_key_tag(dnskey, keylen) || ds[2] != dnskey[3])
		return 0;
	/* digest = H(canonical owner | DNSKEY RDATA) (RFC 4034 5.1.4) */
	struct tb_bytes in = { 0 };
	uint8_t d[TB_HASH_MAX_LEN];
	int rc = put_lower_name(&in, owner);
	if (!rc)
		rc = tb_bytes_append(&in, dnskey, keylen);
	if (!rc)
		rc = tb_hash(h, TB_BUF(in.p, in.len), d);
	tb_bytes_free(&in);
	if (rc)
		return rc;
	return tb_memeq_ct(d, ds + 4, dl) == 0 ? 1 : 0;
}

int dnssec_rrsig_parse(const uint8_t *rd, size_t rdlen, struct dnssec_rrsig *o)
{
	if (rdlen < 19)
		return TB_ERR_INVALID;
	int nl = dns_name_len(rd + 18, rdlen - 18);
	if (nl < 0)
		return TB_ERR_INVALID;
	o->covered = rd16(rd);
	o->alg = rd[2];
	o->labels = rd[3];
	o->orig_ttl = rd32(rd + 4);
	o->expiration = rd32(rd + 8);
	o->inception = rd32(rd + 12);
	o->key_tag = rd16(rd + 16);
	o->signer = rd + 18;
	o->fixed_len = 18 + (size_t)nl;
	o->sig = rd + o->fixed_len;
	o->sig_len = rdlen - o->fixed_len;
	return 0;
}

int dnssec_time_before(uint32_t a, uint32_t b)
{
	/* RFC 1982: a < b when the forward distance from a to b is below 2^31 */
	return a != b && (uint32_t)(b - a) < 0x80000000u;
}

int dnssec_check_window(const struct dnssec_rrsig *sig, uint64_t now, uint32_t skew)
{
	/* The window is read relative to now (RFC 4034 3.1.5): times within 68 years. */
	uint32_t t = (uint32_t)now;
	if (dnssec_time_before(sig->expiration + skew, t))
		return DNSSEC_EDE_EXPIRED;
	if (dnssec_time_before(t, sig->inception - skew))
		return DNSSEC_EDE_NOT_YET_VALID;
	/* an inverted window can never be valid */
	if (dnssec_time_before(sig->expiration, sig->inception))
		return DNSSEC_EDE_EXPIRED;
	return 0;
}

/* ---- canonical form (RFC 4034 6.2, RFC 6840 5.1) ---- */

/* Lowercases the name at off in rd (length len); returns the offset after it, or -1. */
static long lower_name_at(uint8_t *rd, size_t len, size_t off)
{
	if (off > len)
		return -1;
	int nl = dns_name_len(rd + off, len - off);
	if (nl < 0)
		return -1;
	for (int i = 0; i < nl; i++)
		rd[off + (size_t)i] = lc(rd[off + (size_t)i]);
	return (long)(off + (size_t)nl);
}

/* Skips a <character-string> at off; the offset after it, or -1. */
static long skip_string(const uint8_t *rd, size_t len, size_t off)
{
	if (off >= len || off + 1 + rd[off] > len)
		return -1;
	return (long)(off + 1 + rd[off]);
}

/* Lowercases, in place, the embedded names of the types RFC 4034 6.2 lists (minus NSEC, RFC 6840 5.1). */
static void canon_rdata(uint16_t type, uint8_t *rd, size_t len)
{
	long o;
	switch (type) {
	case 2: case 3: case 4: case 5: case 7: case 8: case 9: case 12: case 39: /* NS MD MF CNAME MB MG MR PTR DNAME */
	case 30: /* NXT */
		lower_name_at(rd, len, 0);
		break;
	case 6: case 14: case 17: /* SOA MINFO RP */
		if ((o = lower_name_at(rd, len, 0)) >= 0)
			lower_name_at(rd, len, (size_t)o);
		break;
	case 15: case 18: case 21: case 36: /* MX AFSDB RT KX */
		lower_name_at(rd, len, 2);
		break;
	case 26: /* PX */
		if ((o = lower_name_at(rd, len, 2)) >= 0)
			lower_name_at(rd, len, (size_t)o);
		break;
	case 33: /* SRV */
		lower_name_at(rd, len, 6);
		break;
	case 35: /* NAPTR: order, preference, flags, services, regexp, replacement */
		o = 4;
		for (int i = 0; i < 3 && o >= 0; i++)
			o = skip_string(rd, len, (size_t)o);
		if (o >= 0)
			lower_name_at(rd, len, (size_t)o);
		break;
	case 24: case 46: /* SIG RRSIG: the signer */
		lower_name_at(rd, len, 18);
		break;
	default:
		break;
	}
}

struct canon_rd {
	uint8_t *p;
	uint16_t len;
};

static int canon_cmp(const void *a, const void *b)
{
	const struct canon_rd *x = a, *y = b;
	size_t n = x->len < y->len ? x->len : y->len;
	int c = memcmp(x->p, y->p, n);
	if (c)
		return c;
	return (int)x->len - (int)y->len;
}

int dnssec_signed_data(const uint8_t *rrsig, size_t rrsig_len, const struct dns_rr *rrset, size_t n,
	struct tb_bytes *out)
{
	struct dnssec_rrsig s;
	if (n == 0 || n > DNSSEC_RRSET_MAX || dnssec_rrsig_parse(rrsig, rrsig_len, &s))
		return TB_ERR_INVALID;
	int olabels = dns_name_labels(rrset[0].owner);
	if (s.labels > olabels)
		return TB_ERR_INVALID;
	/* RRSIG RDATA without the signature, signer lowercased (RFC 4034 3.1.8.1, RFC 6840 5.1) */
	if (tb_bytes_append(out, rrsig, 18) || put_lower_name(out, s.signer))
		return TB_ERR_NOMEM;
	/* the owner: lowercased, or the wildcard it was expanded from (RFC 4035 5.3.2) */
	uint8_t owner[DNS_NAME_MAX];
	size_t ol = 0;
	const uint8_t *src = rrset[0].owner;
	if (s.labels < olabels) {
		owner[0] = 1;
		owner[1] = '*';
		ol = 2;
		src = dns_name_skip(src, olabels - s.labels);
	}
	int sl = dns_name_len(src, DNS_NAME_MAX);
	if (sl < 0 || ol + (size_t)sl > DNS_NAME_MAX)
		return TB_ERR_INVALID;
	for (int i = 0; i < sl; i++)
		owner[ol + (size_t)i] = lc(src[i]);
	ol += (size_t)sl;

	struct canon_rd *v = calloc(n, sizeof *v);
	if (!v)
		return TB_ERR_NOMEM;
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		v[i].len = rrset[i].rdlen;
		v[i].p = malloc(rrset[i].rdlen ? rrset[i].rdlen : 1);
		if (!v[i].p) {
			rc = TB_ERR_NOMEM;
			goto done;
		}
		memcpy(v[i].p, rrset[i].rdata, rrset[i].rdlen);
		canon_rdata(rrset[i].type, v[i].p, v[i].len);
	}
	qsort(v, n, sizeof *v, canon_cmp);
	for (size_t i = 0; i < n && !rc; i++) {
		if (i > 0 && canon_cmp(&v[i - 1], &v[i]) == 0)
			continue; /* duplicates count once (RFC 4034 6.3) */
		if (tb_bytes_append(out, owner, ol) || tb_bytes_u16(out, rrset[0].type) ||
			tb_bytes_u16(out, rrset[0].rclass) || tb_bytes_u32(out, s.orig_ttl) ||
			tb_bytes_u16(out, v[i].len) || tb_bytes_append(out, v[i].p, v[i].len))
			rc = TB_ERR_NOMEM;
	}
done:
	for (size_t i = 0; i < n; i++)
		free(v[i].p);
	free(v);
	return rc;
}

/* ---- signatures ---- */

/*
 * Parsed keys. Building a key object from DNSKEY RDATA (an EC point check,
 * an RSA key import) costs more than a signature check, and the same few
 * keys sign every answer of a zone, so built keys are kept: a bounded cache,
 * set-associative with LRU ways, keyed by the algorithm and the whole DNSKEY
 * RDATA (a hash finds the set, the RDATA itself is compared, so two keys with
 * one key tag never share an object). A key that fails to build is kept too,
 * with its error, so a bad key costs one build. The mutex guards the table
 * only; a key in use holds a reference, so evicting it never frees it under
 * a check running on another thread.
 */
#define KEYS_SETS 64
#define KEYS_WAYS 4 /* 256 keys */

struct vkey_ref {
	struct tb_vkey *key; /* NULL when the key did not build */
	int rc;              /* its build error */
	unsigned refs;       /* the table's own, and one per check under way */
};

struct key_slot {
	uint64_t hash, used; /* used: 0 = empty, else the LRU stamp */
	uint8_t alg;
	size_t len;
	uint8_t *rdata;
	struct vkey_ref *ref;
};

static struct {
	pthread_mutex_t mu;
	uint64_t clock;
	struct key_slot slot[KEYS_SETS][KEYS_WAYS];
} key_cache = { .mu = PTHREAD_MUTEX_INITIALIZER };

static void ref_put_locked(struct vkey_ref *r)
{
	if (r && --r->refs == 0) {
		tb_vkey_free(r->key);
		free(r);
	}
}

static void slot_clear(struct key_slot *sl)
{
	ref_put_locked(sl->ref);
	free(sl->rdata);
	memset(sl, 0, sizeof *sl);
}

void dnssec_key_cache_clear(void)
{
	pthread_mutex_lock(&key_cache.mu);
	for (size_t i = 0; i < KEYS_SETS; i++)
		for (size_t w = 0; w < KEYS_WAYS; w++)
			slot_clear(&key_cache.slot[i][w]);
	pthread_mutex_unlock(&key_cache.mu);
}

size_t dnssec_key_cache_count(void)
{
	size_t n = 0;
	pthread_mutex_lock(&key_cache.mu);
	for (size_t i = 0; i < KEYS_SETS; i++)
		for (size_t w = 0; w < KEYS_WAYS; w++)
			n += key_cache.slot[i][w].used != 0;
	pthread_mutex_unlock(&key_cache.mu);
	return n;
}

static uint64_t key_hash(uint8_t alg, const uint8_t *p, size_t n)
{
	uint64_t h = 14695981039346656037ull ^ alg; /* FNV-1a */
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return h;
}

/* RFC 3110 2: exponent length (1 octet, or 0 then 2 octets), exponent, modulus. */
static int rsa_key_parts(const uint8_t *k, size_t kl, struct tb_buf *n, struct tb_buf *e)
{
	size_t el, off;
	if (kl < 1)
		return TB_ERR_INVALID;
	if (k[0]) {
		el = k[0];
		off = 1;
	} else {
		if (kl < 3)
			return TB_ERR_INVALID;
		el = rd16(k + 1);
		off = 3;
	}
	if (el == 0 || off + el >= kl)
		return TB_ERR_INVALID;
	*e = TB_BUF(k + off, el);
	*n = TB_BUF(k + off + el, kl - off - el);
	return 0;
}

/* Builds the key object of a DNSKEY's public key field (RDATA after the first 4 octets). */
static int key_build(uint8_t alg, const uint8_t *k, size_t kl, struct tb_vkey **out)
{
	int rc;
	switch (alg) {
	case DNSSEC_ALG_RSASHA256:
	case DNSSEC_ALG_RSASHA512: {
		struct tb_buf n, e;
		if ((rc = rsa_key_parts(k, kl, &n, &e)))
			return rc;
		rc = tb_vkey_rsa(alg == DNSSEC_ALG_RSASHA256 ? TB_HASH_SHA256 : TB_HASH_SHA512, n, e,
			DNSSEC_RSA_MIN_BITS, out);
		return rc == TB_ERR_UNSUPPORTED ? TB_ERR_INVALID : rc;
	}
	case DNSSEC_ALG_ECDSAP256:
	case DNSSEC_ALG_ECDSAP384: {
		/* RFC 6605 4: the key is x || y */
		enum tb_curve c = alg == DNSSEC_ALG_ECDSAP256 ? TB_CURVE_P256 : TB_CURVE_P384;
		uint8_t pt[TB_EC_MAX_POINT_LEN];
		if (kl != 2 * tb_curve_len(c))
			return TB_ERR_INVALID;
		pt[0] = 4;
		memcpy(pt + 1, k, kl);
		rc = tb_vkey_ec(c, alg == DNSSEC_ALG_ECDSAP256 ? TB_HASH_SHA256 : TB_HASH_SHA384, TB_BUF(pt, 1 + kl),
			out);
		return rc == TB_ERR_NOMEM ? rc : rc ? TB_ERR_INVALID : 0;
	}
	case DNSSEC_ALG_ED25519:
		/* RFC 8080 */
		if (kl != TB_ED25519_PUBLIC_LEN)
			return TB_ERR_INVALID;
		return tb_vkey_ed25519(k, out);
	default:
		return TB_ERR_UNSUPPORTED;
	}
}

/* The kept key of this DNSKEY, built on a miss; *ref holds a reference (key_put). */
static int key_get(uint8_t alg, const uint8_t *dnskey, size_t keylen, struct vkey_ref **ref)
{
	uint64_t h = key_hash(alg, dnskey, keylen);
	struct key_slot *set = key_cache.slot[h % KEYS_SETS], *victim = NULL;
	pthread_mutex_lock(&key_cache.mu);
	for (size_t w = 0; w < KEYS_WAYS; w++) {
		struct key_slot *sl = &set[w];
		if (sl->used && sl->hash == h && sl->alg == alg && sl->len == keylen &&
			memcmp(sl->rdata, dnskey, keylen) == 0) {
			sl->used = ++key_cache.clock;
			sl->ref->refs++;
			*ref = sl->ref;
			pthread_mutex_unlock(&key_cache.mu);
			return 0;
		}
		if (!victim || sl->used < victim->used)
			victim = sl;
	}
	pthread_mutex_unlock(&key_cache.mu);

	/* built outside the lock: two threads may build the same key, one copy is kept */
	struct vkey_ref *r = calloc(1, sizeof *r);
	uint8_t *copy = malloc(keylen);
	if (!r || !copy) {
		free(r);
		free(copy);
		return TB_ERR_NOMEM;
	}
	r->rc = key_build(alg, dnskey + 4, keylen - 4, &r->key);
	if (r->rc == TB_ERR_NOMEM) {
		free(r);
		free(copy);
		return TB_ERR_NOMEM;
	}
	memcpy(copy, dnskey, keylen);
	r->refs = 2; /* the table's and the caller's */
	pthread_mutex_lock(&key_cache.mu);
	slot_clear(victim);
	*victim = (struct key_slot){ .hash = h, .used = ++key_cache.clock, .alg = alg, .len = keylen, .rdata = copy,
		.ref = r };
	pthread_mutex_unlock(&key_cache.mu);
	*ref = r;
	return 0;
}

static void key_put(struct vkey_ref *r)
{
	pthread_mutex_lock(&key_cache.mu);
	ref_put_locked(r);
	pthread_mutex_unlock(&key_cache.mu);
}

int dnssec_verify_sig(uint8_t alg, const uint8_t *dnskey, size_t keylen, struct tb_buf data, struct tb_buf sig)
{
	struct vkey_ref *r;
	int rc;
	if (keylen < 4)
		return TB_ERR_INVALID;
	if (!dnssec_alg_supported(alg))
		return TB_ERR_UNSUPPORTED;
	if ((rc = key_get(alg, dnskey, keylen, &r)))
		return rc;
	rc = r->key ? tb_vkey_verify(r->key, data, sig) : r->rc;
	key_put(r);
	return rc;
}

/* Keeps the most telling reason: a failed signature over a window or a missing key. */
static void set_reason(uint16_t *r, uint16_t why)
{
	if (!*r || why == DNSSEC_EDE_BOGUS)
		*r = why;
}

enum dnssec_status dnssec_verify_rrset(const struct dns_rr *rrset, size_t n, const struct dns_rr *sigs,
	size_t nsig, const struct dns_rr *keys, size_t nkeys, const uint8_t *zone, uint64_t now,
	uint32_t skew, struct dnssec_budget *b, uint16_t *ede, int *wild)
{
	uint16_t reason = 0;
	unsigned tried = 0;
	int any = 0;
	*wild = -1;
	*ede = DNSSEC_EDE_RRSIGS_MISSING;
	if (n == 0 || n > DNSSEC_RRSET_MAX) {
		*ede = DNSSEC_EDE_BOGUS;
		return DNSSEC_BOGUS;
	}
	int olabels = dns_name_labels(rrset[0].owner);
	/* the owner must be at or below the signer's zone */
	if (!dns_name_is_sub(rrset[0].owner, zone)) {
		*ede = DNSSEC_EDE_BOGUS;
		return DNSSEC_BOGUS;
	}
	for (size_t i = 0; i < nsig; i++) {
		struct dnssec_rrsig s;
		if (sigs[i].type != DNS_T_RRSIG || !dns_name_eq(sigs[i].owner, rrset[0].owner) ||
			sigs[i].rclass != rrset[0].rclass || dnssec_rrsig_parse(sigs[i].rdata, sigs[i].rdlen, &s) ||
			s.covered != rrset[0].type)
			continue;
		any = 1;
		if (!dnssec_alg_supported(s.alg)) {
			set_reason(&reason, DNSSEC_EDE_UNSUPPORTED_ALG);
			continue;
		}
		if (!dns_name_eq(s.signer, zone) || s.labels > olabels) {
			set_reason(&reason, DNSSEC_EDE_BOGUS);
			continue;
		}
		int w = dnssec_check_window(&s, now, skew);
		if (w) {
			set_reason(&reason, (uint16_t)w);
			continue;
		}
		struct tb_bytes data = { 0 };
		int built = 0, matched = 0;
		unsigned collisions = 0;
		for (size_t k = 0; k < nkeys; k++) {
			const uint8_t *kd = keys[k].rdata;
			size_t kl = keys[k].rdlen;
			if (keys[k].type != DNS_T_DNSKEY || kl < 4 || kd[2] != 3 || kd[3] != s.alg ||
				!(rd16(kd) & DNSKEY_F_ZONE) || (rd16(kd) & DNSKEY_F_REVOKE) ||
				dnssec_key_tag(kd, kl) != s.key_tag || !dns_name_eq(keys[k].owner, zone))
				continue;
			matched = 1;
			/* KeyTrap: colliding key tags and signatures are tried a bounded number of times */
			if (collisions++ >= b->collisions_max || tried >= b->sig_rrset_max ||
				b->sigs >= b->sig_query_max) {
				b->exhausted = 1;
				tb_bytes_free(&data);
				*ede = DNSSEC_EDE_BOGUS;
				return DNSSEC_BOGUS;
			}
			if (!built) {
				if (dnssec_signed_data(sigs[i].rdata, sigs[i].rdlen, rrset, n, &data)) {
					set_reason(&reason, DNSSEC_EDE_BOGUS);
					break;
				}
				built = 1;
			}
			tried++;
			b->sigs++;
			int rc = dnssec_verify_sig(s.alg, kd, kl, TB_BUF(data.p, data.len), TB_BUF(s.sig, s.sig_len));
			if (rc == 0) {
				tb_bytes_free(&data);
				/* fewer labels than the owner: expanded from a wildcard, unless the owner is that wildcard */
				if (s.labels < olabels &&
					!(s.labels == olabels - 1 && rrset[0].owner[0] == 1 && rrset[0].owner[1] == '*'))
					*wild = s.labels;
				*ede = 0;
				return DNSSEC_SECURE;
			}
			set_reason(&reason, DNSSEC_EDE_BOGUS);
		}
		tb_bytes_free(&data);
		if (!matched)
			set_reason(&reason, DNSSEC_EDE_DNSKEY_MISSING);
	}
	if (!any) {
		*ede = DNSSEC_EDE_RRSIGS_MISSING;
		return DNSSEC_BOGUS;
	}
	/*
	 * Signatures only in algorithms we do not support, in a zone whose keys
	 * were validated: still bogus. A zone is insecure for an unsupported
	 * algorithm only through its DS set (dnssec_verify_dnskeys).
	 */
	*ede = reason ? reason : DNSSEC_EDE_BOGUS;
	return DNSSEC_BOGUS;
}

enum dnssec_status dnssec_verify_dnskeys(const struct dns_rr *keys, size_t nkeys, const struct dns_rr *sigs,
	size_t nsig, const struct dns_rr *anchors, size_t nanchors, const uint8_t *zone, uint64_t now,
	uint32_t skew, struct dnssec_budget *b, uint16_t *ede)
{
	int supported = 0, unsupported_digest = 0;
	uint16_t reason = 0;
	unsigned candidates = 0;
	for (size_t a = 0; a < nanchors; a++) {
		const struct dns_rr *an = &anchors[a];
		if (!dns_name_eq(an->owner, zone))
			continue;
		if (an->type == DNS_T_DNSKEY) {
			if (an->rdlen < 4 || !dnssec_alg_supported(an->rdata[3]))
				continue;
			supported = 1;
			for (size_t k = 0; k < nkeys; k++) {
				if (keys[k].rdlen != an->rdlen || memcmp(keys[k].rdata, an->rdata, an->rdlen))
					continue;
				if (candidates++ >= b->collisions_max) {
					b->exhausted = 1;
					*ede = DNSSEC_EDE_BOGUS;
					return DNSSEC_BOGUS;
				}
				int w;
				enum dnssec_status st = dnssec_verify_rrset(keys, nkeys, sigs, nsig, &keys[k], 1, zone, now,
					skew, b, ede, &w);
				if (st == DNSSEC_SECURE)
					return st;
				if (b->exhausted)
					return DNSSEC_BOGUS;
				set_reason(&reason, *ede);
			}
			continue;
		}
		if (an->type != DNS_T_DS || an->rdlen < 4)
			continue;
		const uint8_t *ds = an->rdata;
		if (!dnssec_alg_supported(ds[2]))
			continue;
		if (!dnssec_digest_supported(ds[3])) {
			unsupported_digest = 1;
			continue;
		}
		if (ds[3] == DNSSEC_DS_SHA1) {
			/* ignored when a stronger digest names the same key (RFC 4509 3) */
			int stronger = 0;
			for (size_t j = 0; j < nanchors; j++)
				if (anchors[j].type == DNS_T_DS && anchors[j].rdlen >= 4 &&
					dns_name_eq(anchors[j].owner, zone) && rd16(anchors[j].rdata) == rd16(ds) &&
					anchors[j].rdata[2] == ds[2] &&
					(anchors[j].rdata[3] == DNSSEC_DS_SHA256 || anchors[j].rdata[3] == DNSSEC_DS_SHA384))
					stronger = 1;
			if (stronger)
				continue;
		}
		supported = 1;
		for (size_t k = 0; k < nkeys; k++) {
			if (keys[k].type != DNS_T_DNSKEY || keys[k].rdlen < 4 || keys[k].rdata[3] != ds[2] ||
				dnssec_key_tag(keys[k].rdata, keys[k].rdlen) != rd16(ds))
				continue;
			if (candidates++ >= b->collisions_max) {
				b->exhausted = 1;
				*ede = DNSSEC_EDE_BOGUS;
				return DNSSEC_BOGUS;
			}
			if (dnssec_ds_match(zone, ds, an->rdlen, keys[k].rdata, keys[k].rdlen) != 1)
				continue;
			int w;
			enum dnssec_status st = dnssec_verify_rrset(keys, nkeys, sigs, nsig, &keys[k], 1, zone, now, skew,
				b, ede, &w);
			if (st == DNSSEC_SECURE)
				return st;
			if (b->exhausted)
				return DNSSEC_BOGUS;
			set_reason(&reason, *ede);
		}
	}
	if (!supported) {
		*ede = unsupported_digest ? DNSSEC_EDE_UNSUPPORTED_DS : DNSSEC_EDE_UNSUPPORTED_ALG;
		return DNSSEC_INSECURE;
	}
	if (nkeys == 0)
		reason = DNSSEC_EDE_DNSKEY_MISSING;
	*ede = reason ? reason : DNSSEC_EDE_DNSKEY_MISSING;
	return DNSSEC_BOGUS;
}
