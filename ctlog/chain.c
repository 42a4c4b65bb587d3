/*
 * DESIGN: from an add-chain / add-pre-chain body to a log entry.
 *
 * 1. The JSON body ({"chain": [base64 DER, ...]}) is parsed with cJSON under
 *    three caps: body size, chain length, certificate size.
 * 2. Every certificate is parsed by mbedTLS with an extension callback that
 *    accepts the CT poison (1.3.6.1.4.1.11129.2.4.3, critical, NULL; a
 *    poison that is not critical refuses the certificate), accepts the
 *    RFC 5280 constraints mbedtls does not process (nameConstraints,
 *    policyMappings, policyConstraints, inhibitAnyPolicy: recorded, not
 *    enforced) and refuses any other unknown critical extension.
 * 3. Each link is checked: issuer name equals the next subject (raw DER), the
 *    next certificate is a CA, and its key verifies the signature. The last
 *    certificate must be an accepted root or be signed by one, which is then
 *    appended, as RFC 6962 logs store the chain up to the root. Links between
 *    CA certificates are remembered (a small cache in struct ct_roots) so the
 *    common "intermediate signed by root" check costs one verification once.
 *    Signatures are checked with tb_pkey (core/crypto.h): the roots' keys are
 *    converted once when added, and the keys of intermediates that chained to
 *    an accepted root are kept by certificate hash (a second small cache), so
 *    a chain through a known intermediate costs one verification (the leaf's)
 *    and no key conversion.
 *    Validity periods are not checked (logs accept expired certificates);
 *    the leaf's NotAfter must fall in the log's temporal shard.
 * 4. A precertificate's log entry is its TBSCertificate without the poison;
 *    if it was issued by a Precertificate Signing Certificate (EKU
 *    1.3.6.1.4.1.11129.2.4.4), its issuer field becomes that certificate's
 *    issuer and its Authority Key Identifier that certificate's AKI (RFC 6962
 *    section 3.1), and issuer_key_hash names the real issuer's key. The TBS
 *    is re-encoded by walking its DER with mbedtls/asn1.h and copying every
 *    untouched element byte for byte.
 */
#include "ctlog/ctlog.h"

#include <cjson/cJSON.h>
#include <mbedtls/asn1.h>
#include <mbedtls/oid.h>
#include <mbedtls/pem.h>
#include <mbedtls/x509_crt.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/crypto.h"
#include "core/error.h"

/* 1.3.6.1.4.1.11129.2.4.3 and .4: poison and Precertificate Signing Certificate EKU */
static const uint8_t oid_poison[] = { 0x2b, 0x06, 0x01, 0x04, 0x01, 0xd6, 0x79, 0x02, 0x04, 0x03 };
static const uint8_t oid_precert_eku[] = { 0x2b, 0x06, 0x01, 0x04, 0x01, 0xd6, 0x79, 0x02, 0x04, 0x04 };
/* 2.5.29.35 authorityKeyIdentifier */
static const uint8_t oid_aki[] = { 0x55, 0x1d, 0x23 };

/* Verified CA-to-CA links remembered per root set. */
#define LINK_CACHE 64
/* Keys of verified intermediates remembered per root set. */
#define KEY_CACHE 64

/* A remembered key: freed by whoever drops the last reference (under lock). */
struct cached_key {
	struct tb_pkey *key;
	unsigned refs; /* the cache's own, plus one per verification using it */
};

struct ct_roots {
	size_t n;
	struct tb_bytes der[CT_MAX_ROOTS];
	uint8_t fp[CT_MAX_ROOTS][CT_HASH_LEN];
	mbedtls_x509_crt crt[CT_MAX_ROOTS];
	struct tb_pkey *root_key[CT_MAX_ROOTS]; /* NULL when tb_pkey cannot hold the key */
	pthread_mutex_t lock; /* guards the caches: validation may run off the loop */
	/* Serialises verifications with a root's bare mbedTLS key (when root_key is
	 * NULL): mbedTLS caches a precomputed generator table in the group on first use. */
	pthread_mutex_t verify_lock;
	uint8_t links[LINK_CACHE][2 * CT_HASH_LEN];
	size_t n_links, next_link;
	uint8_t key_fp[KEY_CACHE][CT_HASH_LEN];
	struct cached_key *keys[KEY_CACHE];
	size_t n_keys, next_key;
};

static void say(char *why, size_t whylen, const char *fmt, ...)
{
	if (!why || !whylen)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
}

/* ---- JSON bodies ------------------------------------------------------- */

void ct_chain_free(struct ct_chain *c)
{
	for (size_t i = 0; i < CT_MAX_CHAIN; i++)
		tb_bytes_free(&c->der[i]);
	c->n = 0;
}

int ct_chain_parse_json(const char *body, size_t len, struct ct_chain *out)
{
	memset(out, 0, sizeof *out);
	if (len > CT_MAX_BODY)
		return TB_ERR_TOO_LARGE;
	cJSON *root = cJSON_ParseWithLength(body, len);
	if (!root)
		return TB_ERR_INVALID;
	int err = 0;
	const cJSON *chain = cJSON_GetObjectItemCaseSensitive(root, "chain");
	int n = cJSON_IsArray(chain) ? cJSON_GetArraySize(chain) : -1;
	if (n < 1)
		err = TB_ERR_INVALID;
	else if (n > CT_MAX_CHAIN)
		err = TB_ERR_TOO_LARGE;
	const cJSON *item;
	size_t i = 0;
	if (!err) {
		cJSON_ArrayForEach(item, chain) {
			if (!cJSON_IsString(item) || !item->valuestring) {
				err = TB_ERR_INVALID;
				break;
			}
			size_t slen = strlen(item->valuestring);
			if (slen == 0 || slen > (CT_MAX_CERT / 3 + 1) * 4) {
				err = slen ? TB_ERR_TOO_LARGE : TB_ERR_INVALID;
				break;
			}
			err = tb_base64_decode(&out->der[i], item->valuestring, slen);
			if (!err && (out->der[i].len == 0 || out->der[i].len > CT_MAX_CERT))
				err = out->der[i].len ? TB_ERR_TOO_LARGE : TB_ERR_INVALID;
			if (err)
				break;
			i++;
		}
	}
	cJSON_Delete(root);
	out->n = i;
	if (err)
		ct_chain_free(out);
	return err;
}

/* ---- certificate parsing ----------------------------------------------- */

struct ext_seen {
	int poison;
	int bad_poison; /* a poison that is not critical or not NULL */
};

static int ext_cb(void *ctx, mbedtls_x509_crt const *crt, mbedtls_x509_buf const *oid,
	int critical, const unsigned char *p, const unsigned char *end)
{
	struct ext_seen *s = ctx;
	(void)crt;
	if (oid->len == sizeof oid_poison && memcmp(oid->p, oid_poison, oid->len) == 0) {
		/* extnValue must be an ASN.1 NULL. mbedtls drops the error of a
		 * callback for a non-critical extension, so it is remembered too. */
		if (end - p != 2 || p[0] != 0x05 || p[1] != 0x00 || !critical) {
			if (s)
				s->bad_poison = 1;
			return MBEDTLS_ERR_X509_INVALID_EXTENSIONS;
		}
		if (s)
			s->poison = 1;
		return 0;
	}
	/* RFC 5280 extensions that mbedtls does not process and that must (or
	 * may) be critical: a log records chains, it does not enforce these
	 * constraints, so they do not make a certificate unloggable (CTFE and
	 * Sunlight accept them too). Anything else critical is refused. */
	static const struct {
		unsigned char oid[3];
	} rfc5280[] = {
		{ { 0x55, 0x1d, 0x1e } }, /* nameConstraints */
		{ { 0x55, 0x1d, 0x21 } }, /* policyMappings */
		{ { 0x55, 0x1d, 0x24 } }, /* policyConstraints */
		{ { 0x55, 0x1d, 0x36 } }, /* inhibitAnyPolicy */
	};
	for (size_t i = 0; i < sizeof rfc5280 / sizeof rfc5280[0]; i++)
		if (oid->len == 3 && memcmp(oid->p, rfc5280[i].oid, 3) == 0)
			return 0;
	return critical ? MBEDTLS_ERR_X509_INVALID_EXTENSIONS : 0;
}

static int parse_crt(mbedtls_x509_crt *crt, struct tb_buf der, struct ext_seen *seen)
{
	mbedtls_x509_crt_init(crt);
	if (seen)
		memset(seen, 0, sizeof *seen);
	int rc = mbedtls_x509_crt_parse_der_with_ext_cb(crt, der.p, der.len, 0, ext_cb, seen);
	if (rc != 0) {
		mbedtls_x509_crt_free(crt);
		mbedtls_x509_crt_init(crt);
		return TB_ERR_INVALID;
	}
	/* one certificate, exactly the bytes given */
	if (crt->raw.len != der.len)
		return TB_ERR_TRAILING;
	return 0;
}

static int has_eku(const mbedtls_x509_crt *c, const uint8_t *oid, size_t len)
{
	if (!(c->ext_types & MBEDTLS_X509_EXT_EXTENDED_KEY_USAGE))
		return 0;
	for (const mbedtls_x509_sequence *s = &c->ext_key_usage; s; s = s->next)
		if (s->buf.len == len && memcmp(s->buf.p, oid, len) == 0)
			return 1;
	return 0;
}

static int64_t x509_time(const mbedtls_x509_time *t)
{
	struct tm tm = { 0 };
	tm.tm_year = t->year - 1900;
	tm.tm_mon = t->mon - 1;
	tm.tm_mday = t->day;
	tm.tm_hour = t->hour;
	tm.tm_min = t->min;
	tm.tm_sec = t->sec;
	return (int64_t)timegm(&tm);
}

/* Verifies that parent's key (pkey when the caller holds it as a tb_pkey) signed child. */
static int check_signature(const mbedtls_x509_crt *child, const mbedtls_x509_crt *parent,
	const struct tb_pkey *pkey)
{
	enum tb_hash_alg alg;
	switch (child->sig_md) {
	case MBEDTLS_MD_SHA256: alg = TB_HASH_SHA256; break;
	case MBEDTLS_MD_SHA384: alg = TB_HASH_SHA384; break;
	case MBEDTLS_MD_SHA512: alg = TB_HASH_SHA512; break;
	default: return TB_ERR_UNSUPPORTED;
	}
	if (child->sig_pk != MBEDTLS_PK_ECDSA && child->sig_pk != MBEDTLS_PK_RSA)
		return TB_ERR_UNSUPPORTED;
	uint8_t digest[TB_HASH_MAX_LEN];
	int err = tb_hash(alg, TB_BUF(child->tbs.p, child->tbs.len), digest);
	if (err)
		return err;
	if (pkey)
		return tb_pkey_verify(pkey, alg, digest, TB_BUF(child->sig.p, child->sig.len));
	return tb_pk_verify(&parent->pk, alg, digest, TB_BUF(child->sig.p, child->sig.len));
}

static int same_name(const mbedtls_x509_buf *a, const mbedtls_x509_buf *b)
{
	return a->len == b->len && memcmp(a->p, b->p, a->len) == 0;
}

/* ---- roots ------------------------------------------------------------- */

int ct_roots_new(struct ct_roots **out)
{
	struct ct_roots *r = calloc(1, sizeof *r);
	if (!r)
		return TB_ERR_NOMEM;
	pthread_mutex_init(&r->lock, NULL);
	pthread_mutex_init(&r->verify_lock, NULL);
	*out = r;
	return 0;
}

int ct_roots_add_der(struct ct_roots *r, struct tb_buf der)
{
	if (der.len == 0 || der.len > CT_MAX_CERT)
		return TB_ERR_INVALID;
	uint8_t fp[CT_HASH_LEN];
	int err = tb_sha256(der, fp);
	if (err)
		return err;
	for (size_t i = 0; i < r->n; i++)
		if (memcmp(r->fp[i], fp, CT_HASH_LEN) == 0)
			return 0;
	if (r->n == CT_MAX_ROOTS)
		return TB_ERR_TOO_LARGE;
	struct tb_bytes *copy = &r->der[r->n];
	if ((err = tb_bytes_append(copy, der.p, der.len)))
		return err;
	if ((err = parse_crt(&r->crt[r->n], tb_bytes_buf(copy), NULL))) {
		mbedtls_x509_crt_free(&r->crt[r->n]);
		tb_bytes_free(copy);
		return err;
	}
	memcpy(r->fp[r->n], fp, CT_HASH_LEN);
	/* A key tb_pkey refuses (say RSA-1024) stays bare, verified under verify_lock. */
	if (tb_pkey_from_mbedtls_public(&r->crt[r->n].pk, &r->root_key[r->n]) != 0)
		r->root_key[r->n] = NULL;
	r->n++;
	return 0;
}

int ct_roots_add_pem(struct ct_roots *r, const char *pem, size_t len)
{
	static const char begin[] = "-----BEGIN CERTIFICATE-----";
	static const char end[] = "-----END CERTIFICATE-----";
	const char *p = pem, *stop = pem + len;
	int added = 0;
	while (p < stop) {
		const char *b = memmem(p, (size_t)(stop - p), begin, sizeof begin - 1);
		if (!b)
			break;
		const char *e = memmem(b, (size_t)(stop - b), end, sizeof end - 1);
		if (!e)
			return TB_ERR_INVALID;
		/* base64 body without whitespace */
		struct tb_bytes b64 = { 0 }, der = { 0 };
		for (const char *q = b + sizeof begin - 1; q < e; q++)
			if (*q != '\n' && *q != '\r' && *q != ' ' && *q != '\t')
				tb_bytes_u8(&b64, (uint8_t)*q);
		int err = b64.err ? b64.err : tb_base64_decode(&der, (const char *)b64.p, b64.len);
		if (!err)
			err = ct_roots_add_der(r, tb_bytes_buf(&der));
		tb_bytes_free(&b64);
		tb_bytes_free(&der);
		if (err)
			return err;
		added++;
		p = e + sizeof end - 1;
	}
	return added ? 0 : TB_ERR_INVALID;
}

size_t ct_roots_count(const struct ct_roots *r)
{
	return r->n;
}

struct tb_buf ct_roots_der(const struct ct_roots *r, size_t i)
{
	return i < r->n ? tb_bytes_buf(&r->der[i]) : TB_BUF(NULL, 0);
}

void ct_roots_free(struct ct_roots *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++) {
		mbedtls_x509_crt_free(&r->crt[i]);
		tb_bytes_free(&r->der[i]);
		tb_pkey_free(r->root_key[i]);
	}
	for (size_t i = 0; i < r->n_keys; i++) {
		tb_pkey_free(r->keys[i]->key);
		free(r->keys[i]);
	}
	pthread_mutex_destroy(&r->lock);
	pthread_mutex_destroy(&r->verify_lock);
	free(r);
}

static int link_cached(struct ct_roots *r, const uint8_t key[2 * CT_HASH_LEN])
{
	int hit = 0;
	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; i < r->n_links && !hit; i++)
		hit = memcmp(r->links[i], key, 2 * CT_HASH_LEN) == 0;
	pthread_mutex_unlock(&r->lock);
	return hit;
}

static void link_remember(struct ct_roots *r, const uint8_t key[2 * CT_HASH_LEN])
{
	pthread_mutex_lock(&r->lock);
	memcpy(r->links[r->next_link], key, 2 * CT_HASH_LEN);
	r->next_link = (r->next_link + 1) % LINK_CACHE;
	if (r->n_links < LINK_CACHE)
		r->n_links++;
	pthread_mutex_unlock(&r->lock);
}

/* A remembered intermediate's key, referenced; NULL when not cached. */
static struct cached_key *key_get(struct ct_roots *r, const uint8_t fp[CT_HASH_LEN])
{
	struct cached_key *k = NULL;
	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; i < r->n_keys && !k; i++)
		if (memcmp(r->key_fp[i], fp, CT_HASH_LEN) == 0) {
			k = r->keys[i];
			k->refs++;
		}
	pthread_mutex_unlock(&r->lock);
	return k;
}

static void key_put(struct ct_roots *r, struct cached_key *k)
{
	if (!k)
		return;
	pthread_mutex_lock(&r->lock);
	int last = --k->refs == 0;
	pthread_mutex_unlock(&r->lock);
	if (last) {
		tb_pkey_free(k->key);
		free(k);
	}
}

/* Remembers the key of an intermediate that chained to an accepted root. */
static void key_remember(struct ct_roots *r, const uint8_t fp[CT_HASH_LEN], const mbedtls_x509_crt *crt)
{
	struct cached_key *k = calloc(1, sizeof *k), *old = NULL;
	if (!k)
		return;
	if (tb_pkey_from_mbedtls_public(&crt->pk, &k->key) != 0) {
		free(k);
		return; /* a key tb_pkey refuses: verified bare every time */
	}
	k->refs = 1;
	pthread_mutex_lock(&r->lock);
	int dup = 0;
	for (size_t i = 0; i < r->n_keys && !dup; i++)
		dup = memcmp(r->key_fp[i], fp, CT_HASH_LEN) == 0;
	if (dup) {
		old = k; /* another validation got there first */
	} else {
		if (r->n_keys == KEY_CACHE)
			old = r->keys[r->next_key];
		r->keys[r->next_key] = k;
		memcpy(r->key_fp[r->next_key], fp, CT_HASH_LEN);
		r->next_key = (r->next_key + 1) % KEY_CACHE;
		if (r->n_keys < KEY_CACHE)
			r->n_keys++;
		if (old && --old->refs != 0)
			old = NULL; /* in use: its last user frees it */
	}
	pthread_mutex_unlock(&r->lock);
	if (old) {
		tb_pkey_free(old->key);
		free(old);
	}
}

/* ---- DER editing of the TBSCertificate --------------------------------- */

struct tlv {
	const uint8_t *start; /* tag byte */
	size_t total;         /* tag + length + content */
	uint8_t tag;
	const uint8_t *content;
	size_t len;
};

/* Reads one TLV with a single-byte tag from [*p, end). */
static int read_tlv(const uint8_t **p, const uint8_t *end, struct tlv *t)
{
	if (*p >= end)
		return TB_ERR_TRUNCATED;
	t->start = *p;
	t->tag = **p;
	if ((t->tag & 0x1f) == 0x1f)
		return TB_ERR_INVALID;
	unsigned char *q = (unsigned char *)*p + 1;
	size_t len;
	if (mbedtls_asn1_get_len(&q, end, &len) != 0)
		return TB_ERR_INVALID;
	t->content = q;
	t->len = len;
	*p = q + len;
	t->total = (size_t)(*p - t->start);
	return 0;
}

static int der_len(struct tb_bytes *out, size_t n)
{
	if (n < 0x80)
		return tb_bytes_u8(out, (uint8_t)n);
	uint8_t tmp[5];
	int k = 0;
	for (size_t v = n; v; v >>= 8)
		tmp[k++] = (uint8_t)v;
	if (k > 4)
		return TB_ERR_TOO_LARGE;
	tb_bytes_u8(out, (uint8_t)(0x80 | k));
	while (k)
		tb_bytes_u8(out, tmp[--k]);
	return out->err;
}

static int put_tlv(struct tb_bytes *out, uint8_t tag, const uint8_t *p, size_t n)
{
	tb_bytes_u8(out, tag);
	int err = der_len(out, n);
	return err ? err : tb_bytes_append(out, p, n);
}

#define TBS_MAX_ELEMS 16
#define TBS_MAX_EXTS 64

struct tbs_parts {
	struct tlv elem[TBS_MAX_ELEMS];
	size_t n;
	int issuer;     /* index in elem */
	int extensions; /* index of [3], or -1 */
	struct tlv ext[TBS_MAX_EXTS]; /* each Extension SEQUENCE */
	size_t n_ext;
};

/* The OID of an Extension TLV. */
static int ext_oid(const struct tlv *ext, struct tlv *oid)
{
	const uint8_t *p = ext->content;
	int err = read_tlv(&p, ext->content + ext->len, oid);
	if (!err && oid->tag != MBEDTLS_ASN1_OID)
		err = TB_ERR_INVALID;
	return err;
}

static int ext_is(const struct tlv *ext, const uint8_t *oid, size_t len)
{
	struct tlv o;
	return ext_oid(ext, &o) == 0 && o.len == len && memcmp(o.content, oid, len) == 0;
}

static int split_tbs(struct tb_buf tbs, struct tbs_parts *t)
{
	const uint8_t *p = tbs.p, *end = tbs.p + tbs.len;
	struct tlv seq;
	memset(t, 0, sizeof *t);
	t->extensions = -1;
	int err = read_tlv(&p, end, &seq);
	if (err)
		return err;
	if (seq.tag != (MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) || p != end)
		return TB_ERR_INVALID;
	p = seq.content;
	end = seq.content + seq.len;
	while (p < end) {
		if (t->n == TBS_MAX_ELEMS)
			return TB_ERR_INVALID;
		if ((err = read_tlv(&p, end, &t->elem[t->n])))
			return err;
		if (t->elem[t->n].tag == 0xa3)
			t->extensions = (int)t->n;
		t->n++;
	}
	int v = t->n > 0 && t->elem[0].tag == 0xa0;
	t->issuer = v ? 3 : 2;
	if (t->n < (size_t)t->issuer + 4) /* issuer, validity, subject, spki */
		return TB_ERR_INVALID;
	if (t->extensions < 0)
		return 0;
	/* [3] { SEQUENCE { Extension... } } */
	const struct tlv *e3 = &t->elem[t->extensions];
	p = e3->content;
	end = e3->content + e3->len;
	if ((err = read_tlv(&p, end, &seq)))
		return err;
	if (seq.tag != (MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) || p != end)
		return TB_ERR_INVALID;
	p = seq.content;
	end = seq.content + seq.len;
	while (p < end) {
		if (t->n_ext == TBS_MAX_EXTS)
			return TB_ERR_INVALID;
		if ((err = read_tlv(&p, end, &t->ext[t->n_ext])))
			return err;
		struct tlv oid;
		if ((err = ext_oid(&t->ext[t->n_ext], &oid)))
			return err;
		t->n_ext++;
	}
	return 0;
}

/*
 * The log entry's TBSCertificate: the precertificate's TBS without the
 * poison; with a Precertificate Signing Certificate `psc`, its issuer and AKI.
 */
static int rebuild_tbs(const mbedtls_x509_crt *pre, const mbedtls_x509_crt *psc,
	struct tb_bytes *out)
{
	struct tbs_parts *t = calloc(1, sizeof *t), *ps = NULL;
	if (!t)
		return TB_ERR_NOMEM;
	struct tb_bytes content = { 0 }, exts = { 0 }, wrapped = { 0 };
	int err = split_tbs(TB_BUF(pre->tbs.p, pre->tbs.len), t);
	const struct tlv *psc_aki = NULL;
	if (!err && psc) {
		ps = calloc(1, sizeof *ps);
		err = ps ? split_tbs(TB_BUF(psc->tbs.p, psc->tbs.len), ps) : TB_ERR_NOMEM;
		for (size_t i = 0; !err && i < ps->n_ext; i++)
			if (ext_is(&ps->ext[i], oid_aki, sizeof oid_aki))
				psc_aki = &ps->ext[i];
	}
	int poison = 0, aki_done = 0;
	for (size_t i = 0; !err && i < t->n_ext; i++) {
		const struct tlv *x = &t->ext[i];
		if (ext_is(x, oid_poison, sizeof oid_poison)) {
			poison++;
			continue;
		}
		if (psc && ext_is(x, oid_aki, sizeof oid_aki)) {
			aki_done = 1;
			if (psc_aki)
				tb_bytes_append(&exts, psc_aki->start, psc_aki->total);
			continue; /* without an AKI on the signing certificate: dropped */
		}
		tb_bytes_append(&exts, x->start, x->total);
	}
	if (!err && psc && !aki_done && psc_aki)
		tb_bytes_append(&exts, psc_aki->start, psc_aki->total);
	if (!err && poison != 1)
		err = TB_ERR_INVALID;
	for (size_t i = 0; !err && i < t->n; i++) {
		const struct tlv *e = &t->elem[i];
		if ((int)i == t->issuer && psc) {
			/* issuer_raw is the whole Name TLV, copied as issued */
			err = tb_bytes_append(&content, psc->issuer_raw.p, psc->issuer_raw.len);
		} else if ((int)i == t->extensions) {
			if (exts.len == 0)
				continue;
			err = put_tlv(&wrapped, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE,
				exts.p, exts.len);
			if (!err)
				err = put_tlv(&content, 0xa3, wrapped.p, wrapped.len);
		} else {
			err = tb_bytes_append(&content, e->start, e->total);
		}
	}
	if (!err)
		err = exts.err ? exts.err : content.err;
	if (!err)
		err = put_tlv(out, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE, content.p,
			content.len);
	tb_bytes_free(&content);
	tb_bytes_free(&exts);
	tb_bytes_free(&wrapped);
	free(t);
	free(ps);
	return err;
}

int ct_precert_tbs(struct tb_buf precert, struct tb_buf psc, struct tb_bytes *out)
{
	mbedtls_x509_crt pre, signer;
	struct ext_seen seen;
	int err = parse_crt(&pre, precert, &seen);
	if (err) {
		mbedtls_x509_crt_free(&pre);
		return err;
	}
	mbedtls_x509_crt_init(&signer);
	if (!seen.poison)
		err = TB_ERR_INVALID;
	if (!err && psc.len)
		err = parse_crt(&signer, psc, NULL);
	if (!err)
		err = rebuild_tbs(&pre, psc.len ? &signer : NULL, out);
	mbedtls_x509_crt_free(&pre);
	mbedtls_x509_crt_free(&signer);
	return err;
}

/* ---- validation -------------------------------------------------------- */

void ct_validated_free(struct ct_validated *v)
{
	tb_bytes_free(&v->tbs);
	memset(v, 0, sizeof *v);
}

void ct_validated_entry(const struct ct_validated *v, struct ct_entry *e)
{
	memset(e, 0, sizeof *e);
	e->type = v->type;
	e->cert = v->cert;
	memcpy(e->issuer_key_hash, v->issuer_key_hash, CT_HASH_LEN);
	e->precert = v->precert;
	e->chain_fps = TB_BUF(v->issuer_fps, v->n_issuers * CT_HASH_LEN);
}

int ct_validate_chain(const struct ct_roots *roots_c, const struct ct_policy *pol,
	const struct ct_chain *chain, int precert, struct ct_validated *out, char *why, size_t whylen)
{
	/* the link cache is the only thing written, under its lock */
	struct ct_roots *roots = (struct ct_roots *)roots_c;
	memset(out, 0, sizeof *out);
	if (chain->n < 1 || chain->n > CT_MAX_CHAIN) {
		say(why, whylen, "chain must hold 1 to %d certificates", CT_MAX_CHAIN);
		return TB_ERR_INVALID;
	}
	mbedtls_x509_crt crt[CT_MAX_CHAIN];
	const mbedtls_x509_crt *path[CT_MAX_CHAIN + 1];
	uint8_t fp[CT_MAX_CHAIN + 1][CT_HASH_LEN];
	struct ext_seen seen[CT_MAX_CHAIN];
	size_t parsed = 0, np = 0;
	int err = 0;
	for (; parsed < chain->n; parsed++) {
		struct tb_buf der = tb_bytes_buf(&chain->der[parsed]);
		if ((err = parse_crt(&crt[parsed], der, &seen[parsed])) ||
			(err = tb_sha256(der, fp[parsed]))) {
			say(why, whylen, "certificate %zu does not parse", parsed);
			mbedtls_x509_crt_free(&crt[parsed]);
			goto done;
		}
		path[np++] = &crt[parsed];
		if (seen[parsed].bad_poison) {
			say(why, whylen, "certificate %zu has a poison extension that is not critical", parsed);
			err = TB_ERR_INVALID;
			parsed++;
			goto done;
		}
	}
	const mbedtls_x509_crt *leaf = &crt[0];
	if (precert && !seen[0].poison) {
		say(why, whylen, "precertificate without the poison extension");
		err = TB_ERR_INVALID;
		goto done;
	}
	if (!precert && seen[0].poison) {
		say(why, whylen, "precertificate submitted to add-chain");
		err = TB_ERR_INVALID;
		goto done;
	}
	for (size_t i = 1; i < chain->n; i++) {
		if (seen[i].poison) {
			say(why, whylen, "issuer %zu carries the poison extension", i);
			err = TB_ERR_INVALID;
			goto done;
		}
	}
	/* links inside the submitted chain */
	for (size_t i = 0; i + 1 < chain->n; i++) {
		const mbedtls_x509_crt *c = &crt[i], *p = &crt[i + 1];
		if (!same_name(&c->issuer_raw, &p->subject_raw) || !p->ca_istrue) {
			say(why, whylen, "certificate %zu is not issued by certificate %zu", i, i + 1);
			err = TB_ERR_VERIFY;
			goto done;
		}
		uint8_t key[2 * CT_HASH_LEN];
		memcpy(key, fp[i], CT_HASH_LEN);
		memcpy(key + CT_HASH_LEN, fp[i + 1], CT_HASH_LEN);
		int cacheable = i > 0 && c->ca_istrue;
		if (cacheable && link_cached(roots, key))
			continue;
		struct cached_key *pk = key_get(roots, fp[i + 1]);
		err = check_signature(c, p, pk ? pk->key : NULL);
		key_put(roots, pk);
		if (err) {
			say(why, whylen, "signature of certificate %zu does not verify", i);
			err = TB_ERR_VERIFY;
			goto done;
		}
		if (cacheable)
			link_remember(roots, key);
	}
	/* the root */
	const mbedtls_x509_crt *last = &crt[chain->n - 1];
	int anchored = 0;
	for (size_t r = 0; r < roots->n && !anchored; r++)
		anchored = memcmp(roots->fp[r], fp[chain->n - 1], CT_HASH_LEN) == 0;
	for (size_t r = 0; r < roots->n && !anchored; r++) {
		const mbedtls_x509_crt *rc = &roots->crt[r];
		if (!same_name(&last->issuer_raw, &rc->subject_raw))
			continue;
		uint8_t key[2 * CT_HASH_LEN];
		memcpy(key, fp[chain->n - 1], CT_HASH_LEN);
		memcpy(key + CT_HASH_LEN, roots->fp[r], CT_HASH_LEN);
		int cacheable = chain->n > 1 && last->ca_istrue;
		int ok = cacheable && link_cached(roots, key);
		if (!ok && roots->root_key[r]) {
			ok = check_signature(last, rc, roots->root_key[r]) == 0;
		} else if (!ok) {
			pthread_mutex_lock(&roots->verify_lock);
			ok = check_signature(last, rc, NULL) == 0;
			pthread_mutex_unlock(&roots->verify_lock);
		}
		if (ok) {
			if (cacheable)
				link_remember(roots, key);
			anchored = 1;
			path[np] = rc;
			memcpy(fp[np], roots->fp[r], CT_HASH_LEN);
			out->issuers[np - 1] = tb_bytes_buf(&roots->der[r]);
			np++;
		}
	}
	if (!anchored) {
		say(why, whylen, "chain does not end at an accepted root");
		err = TB_ERR_VERIFY;
		goto done;
	}
	/* leaf policy */
	if (mbedtls_x509_crt_check_extended_key_usage(leaf, MBEDTLS_OID_SERVER_AUTH,
		MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH)) != 0) {
		say(why, whylen, "leaf certificate lacks the serverAuth extended key usage");
		err = TB_ERR_INVALID;
		goto done;
	}
	int64_t na = x509_time(&leaf->valid_to);
	out->not_after = (uint64_t)na;
	if ((pol->not_after_start && na < pol->not_after_start) ||
		(pol->not_after_limit && na >= pol->not_after_limit)) {
		say(why, whylen, "leaf NotAfter is outside this log's temporal shard");
		err = TB_ERR_INVALID;
		goto done;
	}
	for (size_t i = 1; i < chain->n; i++)
		out->issuers[i - 1] = tb_bytes_buf(&chain->der[i]);
	out->n_issuers = np - 1;
	for (size_t i = 1; i < np; i++)
		memcpy(out->issuer_fps + (i - 1) * CT_HASH_LEN, fp[i], CT_HASH_LEN);

	if (!precert) {
		out->type = CT_ENTRY_X509;
		out->cert = tb_bytes_buf(&chain->der[0]);
	} else {
		if (np < 2) {
			say(why, whylen, "a precertificate needs its issuer");
			err = TB_ERR_INVALID;
			goto done;
		}
		const mbedtls_x509_crt *issuer = path[1], *psc = NULL;
		if (has_eku(path[1], oid_precert_eku, sizeof oid_precert_eku)) {
			if (np < 3) {
				say(why, whylen, "precertificate signing certificate without its issuer");
				err = TB_ERR_INVALID;
				goto done;
			}
			psc = path[1];
			issuer = path[2];
		}
		out->type = CT_ENTRY_PRECERT;
		out->precert = tb_bytes_buf(&chain->der[0]);
		if ((err = tb_sha256(TB_BUF(issuer->pk_raw.p, issuer->pk_raw.len),
			out->issuer_key_hash)))
			goto done;
		if ((err = rebuild_tbs(leaf, psc, &out->tbs))) {
			say(why, whylen, "precertificate TBSCertificate cannot be rebuilt");
			goto done;
		}
		out->cert = tb_bytes_buf(&out->tbs);
	}
	/* dedup key: the entry's identity */
	struct tb_hash_ctx h;
	uint8_t type = (uint8_t)out->type;
	err = tb_hash_init(&h, TB_HASH_SHA256);
	if (!err)
		err = tb_hash_update(&h, &type, 1);
	if (!err && out->type == CT_ENTRY_PRECERT)
		err = tb_hash_update(&h, out->issuer_key_hash, CT_HASH_LEN);
	if (!err)
		err = tb_hash_update(&h, out->cert.p, out->cert.len);
	if (!err)
		err = tb_hash_final(&h, out->dedup_key);
	/* The submitted intermediates now chain to an accepted root: keep their keys. */
	for (size_t i = 1; !err && i < chain->n; i++) {
		if (!crt[i].ca_istrue)
			continue;
		struct cached_key *k = key_get(roots, fp[i]);
		if (k)
			key_put(roots, k);
		else
			key_remember(roots, fp[i], &crt[i]);
	}
done:
	for (size_t i = 0; i < parsed; i++)
		mbedtls_x509_crt_free(&crt[i]);
	if (err)
		ct_validated_free(out);
	return err;
}
