/*
 * DESIGN: the CA's certificate revocation list (RFC 5280 section 5), built
 * from acme_certificates and signed with the intermediate
 * (ECDSA P-256, SHA-256). mbedTLS 2.28 has no CRL writer, so the DER is
 * assembled here: TBSCertList v2 with the intermediate's subject as issuer,
 * thisUpdate = now, nextUpdate = now + ACME_CRL_NEXT_UPDATE, one entry per
 * revoked, unexpired certificate (serial, revocation date, reasonCode unless
 * unspecified), and the authorityKeyIdentifier and cRLNumber extensions.
 * Also the cRLDistributionPoints extension value for issued certificates.
 *
 * The CRL is served by an unauthenticated GET, so it is not built per
 * request: the signed DER is cached and re-signed only when a revocation
 * has been committed (acme_crl_invalidate) or when half of its validity
 * (ACME_CRL_RESIGN_AFTER) has passed, well before nextUpdate.
 */
#include "acme/db.h"
#include "acme/svc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mbedtls/pk.h>
#include <mbedtls/sha1.h>
#include <mbedtls/sha256.h>

#include "core/ca.h"
#include "core/error.h"
#include "core/log.h"

#define ACME_CRL_MAX_ENTRIES 65536
#define ACME_CRL_NEXT_UPDATE (24 * 3600)
#define ACME_CRL_RESIGN_AFTER (ACME_CRL_NEXT_UPDATE / 2) /* a cached CRL is re-signed this long after thisUpdate */

static const uint8_t oid_ecdsa_sha256[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02 };

static int utctime(struct tb_bytes *out, int64_t t)
{
	char b[16];
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(b, sizeof b, "%y%m%d%H%M%SZ", &tm);
	return tb_der_tlv(out, 0x17, b, strlen(b));
}

/* Extension ::= SEQUENCE { extnID, [critical], extnValue OCTET STRING } */
static int ext(struct tb_bytes *out, const uint8_t *oid, size_t oid_len, const struct tb_bytes *value)
{
	struct tb_bytes e = { 0 };
	tb_bytes_append(&e, oid, oid_len);
	tb_der_tlv(&e, 0x04, value->p, value->len);
	int err = e.err ? TB_ERR_NOMEM : tb_der_tlv(out, 0x30, e.p, e.len);
	tb_bytes_free(&e);
	return err;
}

int acme_crldp_ext(const char *url, struct tb_bytes *out)
{
	struct tb_bytes uri = { 0 }, full = { 0 }, dpn = { 0 }, dp = { 0 };
	tb_der_tlv(&uri, 0x86, url, strlen(url));          /* GeneralName uniformResourceIdentifier */
	tb_der_tlv(&full, 0xa0, uri.p, uri.len);           /* fullName [0] */
	tb_der_tlv(&dpn, 0xa0, full.p, full.len);          /* distributionPoint [0] */
	tb_der_tlv(&dp, 0x30, dpn.p, dpn.len);             /* DistributionPoint */
	int err = uri.err || full.err || dpn.err || dp.err ? TB_ERR_NOMEM : tb_der_tlv(out, 0x30, dp.p, dp.len);
	tb_bytes_free(&uri);
	tb_bytes_free(&full);
	tb_bytes_free(&dpn);
	tb_bytes_free(&dp);
	return err;
}

/* One revokedCertificates entry: serial, revocation date, reasonCode unless unspecified. */
static void add_entry(const char *hex, int64_t revoked_at, int reason, void *arg)
{
	struct tb_bytes *entries = arg;
	struct tb_bytes sn = { 0 }, e = { 0 };
	if (tb_hex_decode(&sn, hex, strlen(hex)) || sn.len == 0 || sn.len > 20) {
		tb_bytes_free(&sn);
		return;
	}
	if (sn.p[0] & 0x80) {
		struct tb_bytes z = { 0 };
		tb_bytes_u8(&z, 0);
		tb_bytes_append(&z, sn.p, sn.len);
		tb_bytes_free(&sn);
		sn = z;
	}
	tb_der_tlv(&e, 0x02, sn.p, sn.len);
	utctime(&e, revoked_at);
	if (reason > 0 && reason <= 10) {
		static const uint8_t oid_reason[] = { 0x06, 0x03, 0x55, 0x1d, 0x15 };
		uint8_t en[3] = { 0x0a, 0x01, (uint8_t)reason };
		struct tb_bytes v = { 0 }, x = { 0 };
		tb_bytes_append(&v, en, sizeof en);
		ext(&x, oid_reason, sizeof oid_reason, &v);
		tb_der_tlv(&e, 0x30, x.p, x.len);
		tb_bytes_free(&v);
		tb_bytes_free(&x);
	}
	tb_der_tlv(entries, 0x30, e.p, e.len);
	tb_bytes_free(&e);
	tb_bytes_free(&sn);
}

int acme_crl_build(struct acme_svc *s, struct tb_bytes *out)
{
	struct tb_ca *ca = s->core->ca;
	int64_t now = acme_now();
	struct tb_bytes entries = { 0 }, tbs = { 0 }, body = { 0 }, exts = { 0 }, t = { 0 };
	int err = acme_db_revoked_each(s, now, ACME_CRL_MAX_ENTRIES, add_entry, &entries);
	if (err) {
		tb_bytes_free(&entries);
		return err;
	}

	/* authorityKeyIdentifier: SHA-1 of the intermediate's public key, as mbedTLS computes its SKI. */
	uint8_t pkbuf[600], ski[20];
	uint8_t *c = pkbuf + sizeof pkbuf;
	int pl = mbedtls_pk_write_pubkey(&c, pkbuf, &ca->intermediate.pk);
	if (pl <= 0 || mbedtls_sha1_ret(c, (size_t)pl, ski))
		err = TB_ERR_CRYPTO;
	static const uint8_t oid_aki[] = { 0x06, 0x03, 0x55, 0x1d, 0x23 };
	static const uint8_t oid_crlnum[] = { 0x06, 0x03, 0x55, 0x1d, 0x14 };
	struct tb_bytes kid = { 0 }, akiv = { 0 }, num = { 0 }, numv = { 0 }, seq = { 0 };
	tb_der_tlv(&kid, 0x80, ski, sizeof ski);
	tb_der_tlv(&akiv, 0x30, kid.p, kid.len);
	ext(&seq, oid_aki, sizeof oid_aki, &akiv);
	uint8_t nb[8];
	for (int i = 0; i < 8; i++)
		nb[i] = (uint8_t)((uint64_t)now >> (56 - 8 * i));
	size_t skip = 0;
	while (skip < 7 && nb[skip] == 0 && !(nb[skip + 1] & 0x80))
		skip++;
	tb_der_tlv(&num, 0x02, nb + skip, 8 - skip);
	tb_bytes_append(&numv, num.p, num.len);
	ext(&seq, oid_crlnum, sizeof oid_crlnum, &numv);
	tb_der_tlv(&t, 0x30, seq.p, seq.len);
	tb_der_tlv(&exts, 0xa0, t.p, t.len);
	tb_bytes_free(&kid);
	tb_bytes_free(&akiv);
	tb_bytes_free(&num);
	tb_bytes_free(&numv);
	tb_bytes_free(&seq);
	tb_bytes_free(&t);

	static const uint8_t v2[] = { 0x02, 0x01, 0x01 };
	tb_bytes_append(&body, v2, sizeof v2);
	tb_der_tlv(&body, 0x30, oid_ecdsa_sha256, sizeof oid_ecdsa_sha256);
	tb_bytes_append(&body, ca->intermediate.subject_raw.p, ca->intermediate.subject_raw.len);
	utctime(&body, now);
	utctime(&body, now + ACME_CRL_NEXT_UPDATE);
	if (entries.len)
		tb_der_tlv(&body, 0x30, entries.p, entries.len);
	tb_bytes_append(&body, exts.p, exts.len);
	tb_der_tlv(&tbs, 0x30, body.p, body.len);
	tb_bytes_free(&entries);
	tb_bytes_free(&exts);
	tb_bytes_free(&body);
	if (!err && tbs.err)
		err = TB_ERR_NOMEM;

	uint8_t hash[32];
	struct tb_bytes sig = { 0 };
	tb_bytes_u8(&sig, 0); /* unused bits of the BIT STRING */
	if (!err && (tb_sha256(tb_bytes_buf(&tbs), hash) ||
		    tb_pkey_sign(ca->intermediate_key, TB_HASH_SHA256, hash, &sig)))
		err = TB_ERR_CRYPTO;
	if (!err) {
		struct tb_bytes all = { 0 };
		tb_bytes_append(&all, tbs.p, tbs.len);
		tb_der_tlv(&all, 0x30, oid_ecdsa_sha256, sizeof oid_ecdsa_sha256);
		tb_der_tlv(&all, 0x03, sig.p, sig.len);
		err = all.err ? TB_ERR_NOMEM : tb_der_tlv(out, 0x30, all.p, all.len);
		tb_bytes_free(&all);
	}
	tb_bytes_free(&sig);
	tb_bytes_free(&tbs);
	return err;
}

int acme_crl_get(struct acme_svc *s, struct tb_buf *out)
{
	int64_t now = acme_now();
	if (!s->crl_signed || now - s->crl_signed >= ACME_CRL_RESIGN_AFTER || now < s->crl_signed) {
		struct tb_bytes crl = { 0 };
		int err = acme_crl_build(s, &crl);
		if (err || crl.err) {
			tb_bytes_free(&crl);
			return err ? err : TB_ERR_NOMEM;
		}
		tb_bytes_free(&s->crl);
		s->crl = crl;
		s->crl_signed = now;
		TB_DEBUG("acme", "CRL signed (%zu bytes)", crl.len);
	}
	*out = tb_bytes_buf(&s->crl);
	return 0;
}

void acme_crl_invalidate(struct acme_svc *s)
{
	s->crl_signed = 0;
}

void acme_crl_free(struct acme_svc *s)
{
	tb_bytes_free(&s->crl);
	s->crl_signed = 0;
}

struct revocation {
	struct acme_svc *s;
	void (*done)(void *ctx, int status);
	void *ctx;
};

static void revocation_stored(void *arg, int status)
{
	struct revocation *rv = arg;
	if (status == 0)
		acme_crl_invalidate(rv->s);
	rv->done(rv->ctx, status);
	free(rv);
}

int acme_revoke(struct acme_svc *s, const char *serial_hex, int reason, void (*done)(void *ctx, int status),
	void *ctx)
{
	struct revocation *rv = calloc(1, sizeof *rv);
	struct acme_wjob *j = rv ? acme_wjob_new(s) : NULL;
	if (!j) {
		free(rv);
		return TB_ERR_NOMEM;
	}
	rv->s = s;
	rv->done = done;
	rv->ctx = ctx;
	acme_db_cert_revoke(j, serial_hex, reason, acme_now());
	TB_INFO("acme", "revoking serial %s, reason %d", serial_hex, reason);
	int err = acme_wjob_submit(j, revocation_stored, rv);
	if (err)
		free(rv);
	return err;
}
