/*
 * DESIGN: generation and persistence of the appliance's CA material. All
 * keys are ECDSA P-256 tb_pkeys (core/crypto.h: the signatures run on the
 * provider's backend, OpenSSL by default, also when mbedTLS's x509write asks
 * for one), certificates are written with mbedTLS's x509write; the extensions
 * mbedTLS 2.28 cannot write itself (subjectAltName, extendedKeyUsage) are
 * DER-encoded here and added as raw extensions. Everything is kept in the
 * store's kv table as PEM under "ca/...".
 */
#include "core/ca.h"

#include <arpa/inet.h>
#include <mbedtls/asn1.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/ecp.h>
#include <mbedtls/oid.h>
#include <mbedtls/pem.h>
#include <mbedtls/sha256.h>
#include <mbedtls/x509_crt.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/crypto.h"
#include "core/error.h"
#include "core/log.h"

#define CA_PEM_MAX 8192 /* a PEM private key */
#define DAY (24 * 3600)

int tb_ca_rng(void *ctx, unsigned char *out, size_t len)
{
	(void)ctx;
	randombytes_buf(out, len);
	return 0;
}

int tb_der_tlv(struct tb_bytes *out, uint8_t tag, const void *content, size_t len)
{
	tb_bytes_u8(out, tag);
	if (len < 0x80) {
		tb_bytes_u8(out, (uint8_t)len);
	} else if (len <= 0xff) {
		tb_bytes_u8(out, 0x81);
		tb_bytes_u8(out, (uint8_t)len);
	} else if (len <= 0xffff) {
		tb_bytes_u8(out, 0x82);
		tb_bytes_u16(out, (uint16_t)len);
	} else if (len <= 0xffffff) {
		tb_bytes_u8(out, 0x83);
		tb_bytes_u24(out, (uint32_t)len);
	} else {
		return TB_ERR_TOO_LARGE;
	}
	return tb_bytes_append(out, content, len);
}

int tb_der_san(struct tb_bytes *out, const char *const *names, size_t n)
{
	struct tb_bytes seq = { 0 };
	int err = 0;
	for (size_t i = 0; i < n && !err; i++) {
		uint8_t ip[16];
		const char *name = names[i];
		if (inet_pton(AF_INET, name, ip) == 1)
			err = tb_der_tlv(&seq, 0x87, ip, 4);
		else if (inet_pton(AF_INET6, name, ip) == 1)
			err = tb_der_tlv(&seq, 0x87, ip, 16);
		else if (*name && strlen(name) <= 253 && !strpbrk(name, " \t/:"))
			err = tb_der_tlv(&seq, 0x82, name, strlen(name));
		else
			err = TB_ERR_INVALID;
	}
	if (!err)
		err = tb_der_tlv(out, 0x30, seq.p, seq.len);
	if (!err)
		err = seq.err ? seq.err : out->err;
	tb_bytes_free(&seq);
	return err;
}

static void fmt_time(int64_t t, char out[16])
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(out, 16, "%Y%m%d%H%M%S", &tm);
}

#define CA_DER_MAX 16384 /* largest certificate written (many SANs plus an SCT list) */

/* ecdsa-with-SHA256 as mbedTLS 2.28 writes it (with a NULL parameter) and as RFC 5758 3.2 wants it. */
static const uint8_t ecdsa_sha256_null[] = { 0x30, 0x0c, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03,
	0x02, 0x05, 0x00 };
static const uint8_t ecdsa_sha256[] = { 0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02 };

/* Reads one DER element at *p (bounded by end); sets its full extent. */
static int der_element(const uint8_t **p, const uint8_t *end, uint8_t tag, const uint8_t **start, size_t *total)
{
	unsigned char *q = (unsigned char *)*p;
	size_t len;
	if (mbedtls_asn1_get_tag(&q, end, &len, tag) != 0)
		return TB_ERR_INVALID;
	*start = *p;
	*total = (size_t)(q - *p) + len;
	*p = q + len;
	return 0;
}

/*
 * mbedTLS 2.28 writes ecdsa-with-SHA256 with a NULL parameter in both the
 * TBS and the outer signatureAlgorithm; RFC 5758 says the parameter MUST be
 * absent, and strict parsers refuse it. Rewrite the TBS's field, sign the
 * corrected TBS again with the issuer key, and assemble the certificate.
 */
static int fix_ecdsa_algorithm(const uint8_t *cert, size_t len, const struct tb_pkey *issuer_key,
	struct tb_bytes *out)
{
	const uint8_t *p = cert, *end = cert + len, *el, *tbs, *tbs_end;
	size_t n, tbs_len;
	unsigned char *q = (unsigned char *)p;
	if (mbedtls_asn1_get_tag(&q, end, &n, 0x30) != 0 || q + n != end)
		return TB_ERR_INVALID;
	p = q;
	if (der_element(&p, end, 0x30, &tbs, &tbs_len))
		return TB_ERR_INVALID;
	tbs_end = tbs + tbs_len;
	/* Inside the TBS: [0] version, serialNumber, signature. */
	q = (unsigned char *)tbs;
	if (mbedtls_asn1_get_tag(&q, tbs_end, &n, 0x30) != 0)
		return TB_ERR_INVALID;
	const uint8_t *c = q;
	if (der_element(&c, tbs_end, 0xa0, &el, &n) || der_element(&c, tbs_end, 0x02, &el, &n))
		return TB_ERR_INVALID;
	if ((size_t)(tbs_end - c) < sizeof ecdsa_sha256_null || memcmp(c, ecdsa_sha256_null, sizeof ecdsa_sha256_null))
		return tb_bytes_append(out, cert, len); /* nothing to fix */
	struct tb_bytes content = { 0 }, tbs2 = { 0 }, body = { 0 }, bits = { 0 }, sig = { 0 };
	tb_bytes_append(&content, q, (size_t)(c - q));
	tb_bytes_append(&content, ecdsa_sha256, sizeof ecdsa_sha256);
	tb_bytes_append(&content, c + sizeof ecdsa_sha256_null, (size_t)(tbs_end - c - sizeof ecdsa_sha256_null));
	int err = content.err;
	if (!err)
		err = tb_der_tlv(&tbs2, 0x30, content.p, content.len);
	uint8_t hash[32];
	if (!err && (tb_sha256(tb_bytes_buf(&tbs2), hash) != 0 ||
		tb_pkey_sign(issuer_key, TB_HASH_SHA256, hash, &sig) != 0))
		err = TB_ERR_CRYPTO;
	if (!err) {
		tb_bytes_u8(&bits, 0); /* no unused bits */
		tb_bytes_append(&bits, sig.p, sig.len);
		tb_bytes_append(&body, tbs2.p, tbs2.len);
		tb_bytes_append(&body, ecdsa_sha256, sizeof ecdsa_sha256);
		err = bits.err ? bits.err : tb_der_tlv(&body, 0x03, bits.p, bits.len);
	}
	if (!err)
		err = body.err ? body.err : tb_der_tlv(out, 0x30, body.p, body.len);
	tb_bytes_free(&content);
	tb_bytes_free(&tbs2);
	tb_bytes_free(&body);
	tb_bytes_free(&bits);
	tb_bytes_free(&sig);
	return err;
}

int tb_ca_sign(const struct tb_cert_template *t, struct tb_pkey *subject_key,
	struct tb_pkey *issuer_key, const mbedtls_x509_crt *issuer, struct tb_bytes *pem_out,
	struct tb_bytes *der_out)
{
	mbedtls_x509write_cert w;
	mbedtls_mpi serial;
	mbedtls_x509write_crt_init(&w);
	mbedtls_mpi_init(&serial);
	int rc = 0;
	char issuer_name[512], nb[16], na[16];
	const char *subject = t->subject ? t->subject : "";
	uint8_t sn[16];

	if (t->serial) {
		if (t->serial->len == 0 || t->serial->len > 20 || (t->serial->p[0] & 0x80))
			rc = -1;
		else
			rc = mbedtls_mpi_read_binary(&serial, t->serial->p, t->serial->len);
	} else {
		tb_ca_rng(NULL, sn, sizeof sn);
		sn[0] &= 0x7f;
		sn[0] |= 0x01; /* positive, and 16 bytes long */
		rc = mbedtls_mpi_read_binary(&serial, sn, sizeof sn);
	}
	mbedtls_x509write_crt_set_version(&w, MBEDTLS_X509_CRT_VERSION_3);
	mbedtls_x509write_crt_set_md_alg(&w, MBEDTLS_MD_SHA256);
	/* x509write signs through the key's mbedTLS face, which is the provider's
	 * signature too; fix_ecdsa_algorithm then signs the corrected TBS. */
	mbedtls_x509write_crt_set_subject_key(&w, tb_pkey_mbedtls(subject_key));
	mbedtls_x509write_crt_set_issuer_key(&w, tb_pkey_mbedtls(issuer_key));
	if (!rc)
		rc = mbedtls_x509write_crt_set_subject_name(&w, subject);
	if (!rc) {
		if (issuer) {
			if (mbedtls_x509_dn_gets(issuer_name, sizeof issuer_name, &issuer->subject) < 0)
				rc = -1;
			else
				rc = mbedtls_x509write_crt_set_issuer_name(&w, issuer_name);
		} else {
			rc = mbedtls_x509write_crt_set_issuer_name(&w, subject);
		}
	}
	if (!rc)
		rc = mbedtls_x509write_crt_set_serial(&w, &serial);
	fmt_time(t->not_before, nb);
	fmt_time(t->not_after, na);
	if (!rc)
		rc = mbedtls_x509write_crt_set_validity(&w, nb, na);
	if (!rc && t->is_ca)
		rc = mbedtls_x509write_crt_set_basic_constraints(&w, 1, t->pathlen);
	if (!rc && t->key_usage)
		rc = mbedtls_x509write_crt_set_key_usage(&w, t->key_usage);
	if (!rc)
		rc = mbedtls_x509write_crt_set_subject_key_identifier(&w);
	if (!rc)
		rc = mbedtls_x509write_crt_set_authority_key_identifier(&w);
	if (!rc && t->san && t->san->len)
		rc = mbedtls_x509write_crt_set_extension(&w, MBEDTLS_OID_SUBJECT_ALT_NAME,
			MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME), t->san_critical, t->san->p, t->san->len);
	if (!rc && (t->eku_server || t->eku_client)) {
		static const uint8_t server_auth[] = { 0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x01 };
		static const uint8_t client_auth[] = { 0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x02 };
		struct tb_bytes oids = { 0 }, eku = { 0 };
		if (t->eku_server)
			tb_bytes_append(&oids, server_auth, sizeof server_auth);
		if (t->eku_client)
			tb_bytes_append(&oids, client_auth, sizeof client_auth);
		tb_der_tlv(&eku, 0x30, oids.p, oids.len);
		rc = eku.err ? -1 : mbedtls_x509write_crt_set_extension(&w, MBEDTLS_OID_EXTENDED_KEY_USAGE,
			MBEDTLS_OID_SIZE(MBEDTLS_OID_EXTENDED_KEY_USAGE), 0, eku.p, eku.len);
		tb_bytes_free(&oids);
		tb_bytes_free(&eku);
	}
	for (size_t i = 0; !rc && i < t->n_exts; i++) {
		const struct tb_cert_ext *e = &t->exts[i];
		rc = mbedtls_x509write_crt_set_extension(&w, e->oid, e->oid_len, e->critical, e->value.p, e->value.len);
	}
	unsigned char *der = NULL;
	int der_len = 0;
	if (!rc) {
		der = malloc(CA_DER_MAX);
		if (!der)
			rc = -1;
	}
	if (!rc) {
		/* mbedTLS writes the DER at the end of the buffer. */
		der_len = mbedtls_x509write_crt_der(&w, der, CA_DER_MAX, tb_ca_rng, NULL);
		if (der_len <= 0)
			rc = -1;
	}
	struct tb_bytes fixed = { 0 };
	if (!rc)
		rc = fix_ecdsa_algorithm(der + CA_DER_MAX - der_len, (size_t)der_len, issuer_key, &fixed);
	const unsigned char *cert = fixed.p;
	der_len = (int)fixed.len;
	if (!rc && der_out)
		rc = tb_bytes_append(der_out, cert, (size_t)der_len);
	if (!rc && pem_out) {
		size_t olen = 0;
		size_t need = (size_t)der_len * 4 / 3 + (size_t)der_len / 64 + 128;
		rc = tb_bytes_reserve(pem_out, need);
		if (!rc)
			rc = mbedtls_pem_write_buffer("-----BEGIN CERTIFICATE-----\n", "-----END CERTIFICATE-----\n",
				cert, (size_t)der_len, pem_out->p + pem_out->len, need, &olen);
		if (!rc)
			pem_out->len += olen - 1; /* olen counts the NUL */
	}
	free(der);
	tb_bytes_free(&fixed);
	mbedtls_x509write_crt_free(&w);
	mbedtls_mpi_free(&serial);
	return rc ? TB_ERR_CRYPTO : 0;
}

static int gen_key(struct tb_pkey **pk)
{
	return tb_pkey_generate_ec(TB_CURVE_P256, pk) ? TB_ERR_CRYPTO : 0;
}

static int key_pem(const struct tb_pkey *pk, char **out)
{
	struct tb_bytes pem = { 0 };
	int err = tb_pkey_write_private_pem(pk, &pem);
	*out = err ? NULL : strdup(tb_bytes_cstr(&pem));
	tb_crypto_wipe(pem.p, pem.len);
	tb_bytes_free(&pem);
	if (err)
		return TB_ERR_CRYPTO;
	return *out ? 0 : TB_ERR_NOMEM;
}

/* ---- persistence ---- */

struct kv_pair {
	const char *key;
	const char *val;
};

struct kv_batch {
	struct kv_pair items[8];
	size_t n;
};

static int kv_write_job(sqlite3 *db, void *arg)
{
	struct kv_batch *b = arg;
	for (size_t i = 0; i < b->n; i++) {
		int err = tb_store_kv_put(db, b->items[i].key, b->items[i].val, strlen(b->items[i].val));
		if (err)
			return err;
	}
	return 0;
}

static char *kv_get_str(struct tb_store *st, const char *key)
{
	void *v;
	size_t len;
	if (tb_store_kv_get(tb_store_reader(st), key, &v, &len) != 0)
		return NULL;
	return v; /* NUL-terminated by tb_store_kv_get */
}

static int load_pair(const char *cert_pem, const char *key_pem, mbedtls_x509_crt *crt, struct tb_pkey **pk)
{
	if (mbedtls_x509_crt_parse(crt, (const unsigned char *)cert_pem, strlen(cert_pem) + 1) != 0)
		return TB_ERR_CRYPTO;
	if (tb_pkey_parse_private(TB_BUF(key_pem, strlen(key_pem)), pk) != 0)
		return TB_ERR_CRYPTO;
	return 0;
}

static char *join_names(const char *const *names, size_t n)
{
	struct tb_bytes b = { 0 };
	for (size_t i = 0; i < n; i++)
		tb_bytes_printf(&b, "%s%s", i ? "," : "", names[i]);
	char *s = strdup(b.len ? tb_bytes_cstr(&b) : "");
	tb_bytes_free(&b);
	return s;
}

static int create_root_and_intermediate(struct tb_ca *ca, struct tb_store *st, const char *ca_name)
{
	char subject[256], *root_key_pem = NULL, *int_key_pem = NULL;
	struct tb_bytes root_pem = { 0 }, int_pem = { 0 };
	int64_t now = tb_time_now();
	int err = gen_key(&ca->root_key);
	if (!err)
		err = gen_key(&ca->intermediate_key);
	snprintf(subject, sizeof subject, "CN=%s root CA,O=%s", ca_name, ca_name);
	struct tb_cert_template root_t = { .subject = subject, .is_ca = 1, .pathlen = 1,
		.key_usage = MBEDTLS_X509_KU_KEY_CERT_SIGN | MBEDTLS_X509_KU_CRL_SIGN | MBEDTLS_X509_KU_DIGITAL_SIGNATURE,
		.not_before = now - 3600, .not_after = now + 10 * 365 * (int64_t)DAY };
	if (!err)
		err = tb_ca_sign(&root_t, ca->root_key, ca->root_key, NULL, &root_pem, NULL);
	if (!err) {
		tb_bytes_cstr(&root_pem);
		err = mbedtls_x509_crt_parse(&ca->root, root_pem.p, root_pem.len + 1) ? TB_ERR_CRYPTO : 0;
	}
	snprintf(subject, sizeof subject, "CN=%s intermediate CA,O=%s", ca_name, ca_name);
	struct tb_cert_template int_t = { .subject = subject, .is_ca = 1, .pathlen = 0,
		.key_usage = MBEDTLS_X509_KU_KEY_CERT_SIGN | MBEDTLS_X509_KU_CRL_SIGN | MBEDTLS_X509_KU_DIGITAL_SIGNATURE,
		.eku_server = 1, .eku_client = 1,
		.not_before = now - 3600, .not_after = now + 5 * 365 * (int64_t)DAY };
	if (!err)
		err = tb_ca_sign(&int_t, ca->intermediate_key, ca->root_key, &ca->root, &int_pem, NULL);
	if (!err) {
		tb_bytes_cstr(&int_pem);
		err = mbedtls_x509_crt_parse(&ca->intermediate, int_pem.p, int_pem.len + 1) ? TB_ERR_CRYPTO : 0;
	}
	if (!err)
		err = key_pem(ca->root_key, &root_key_pem);
	if (!err)
		err = key_pem(ca->intermediate_key, &int_key_pem);
	if (!err) {
		struct kv_batch b = { { { "ca/root/cert", (char *)root_pem.p }, { "ca/root/key", root_key_pem },
			{ "ca/intermediate/cert", (char *)int_pem.p }, { "ca/intermediate/key", int_key_pem } }, 4 };
		err = tb_store_write_sync(st, kv_write_job, &b);
	}
	if (!err) {
		ca->root_pem = strdup((char *)root_pem.p);
		ca->intermediate_pem = strdup((char *)int_pem.p);
		TB_INFO("ca", "generated a new root and intermediate CA");
	}
	tb_bytes_free(&root_pem);
	tb_bytes_free(&int_pem);
	free(root_key_pem);
	free(int_key_pem);
	return err;
}

static int load_root_and_intermediate(struct tb_ca *ca, struct tb_store *st, const char *ca_name)
{
	char *rc = kv_get_str(st, "ca/root/cert"), *rk = kv_get_str(st, "ca/root/key");
	char *ic = kv_get_str(st, "ca/intermediate/cert"), *ik = kv_get_str(st, "ca/intermediate/key");
	int err;
	if (!rc && !rk && !ic && !ik) {
		err = create_root_and_intermediate(ca, st, ca_name);
	} else if (!rc || !rk || !ic || !ik) {
		TB_ERROR("ca", "the store holds an incomplete CA (some of ca/root, ca/intermediate missing)");
		err = TB_ERR_STATE;
	} else {
		err = load_pair(rc, rk, &ca->root, &ca->root_key);
		if (!err)
			err = load_pair(ic, ik, &ca->intermediate, &ca->intermediate_key);
		if (!err) {
			ca->root_pem = rc;
			ca->intermediate_pem = ic;
			rc = ic = NULL;
		} else {
			TB_ERROR("ca", "cannot parse the CA stored in the store");
		}
	}
	free(rc);
	free(rk);
	free(ic);
	free(ik);
	return err;
}

static int ensure_server_cert(struct tb_ca *ca, struct tb_store *st, const char *ca_name,
	const char *const *hostnames, size_t n)
{
	/* Names: the fixed loopback names, then the configured ones, without duplicates. */
	const char *names[64];
	size_t k = 0;
	const char *fixed[] = { "localhost", "127.0.0.1", "::1" };
	for (size_t i = 0; i < 3; i++)
		names[k++] = fixed[i];
	for (size_t i = 0; i < n && k < 64; i++) {
		int dup = 0;
		for (size_t j = 0; j < k; j++)
			dup |= strcmp(names[j], hostnames[i]) == 0;
		if (!dup)
			names[k++] = hostnames[i];
	}
	char *want = join_names(names, k);
	char *have = kv_get_str(st, "ca/server/names");
	char *not_after = kv_get_str(st, "ca/server/not_after");
	char *cert = kv_get_str(st, "ca/server/cert"), *key = kv_get_str(st, "ca/server/key");
	int64_t now = tb_time_now();
	int err = 0;
	int fresh = want && have && strcmp(want, have) == 0 && cert && key && not_after &&
		strtoll(not_after, NULL, 10) > now + 30 * (int64_t)DAY;
	if (fresh) {
		ca->server_chain_pem = cert;
		ca->server_key_pem = key;
		cert = key = NULL;
	} else {
		struct tb_pkey *pk = NULL;
		struct tb_bytes san = { 0 }, pem = { 0 };
		char subject[256], na[32];
		snprintf(subject, sizeof subject, "CN=localhost,O=%s", ca_name);
		int64_t expiry = now + 365 * (int64_t)DAY;
		snprintf(na, sizeof na, "%lld", (long long)expiry);
		err = gen_key(&pk);
		if (!err)
			err = tb_der_san(&san, names, k);
		struct tb_buf sanb = tb_bytes_buf(&san);
		struct tb_cert_template t = { .subject = subject, .san = &sanb, .pathlen = -1,
			.key_usage = MBEDTLS_X509_KU_DIGITAL_SIGNATURE, .eku_server = 1,
			.not_before = now - 3600, .not_after = expiry };
		if (!err)
			err = tb_ca_sign(&t, pk, ca->intermediate_key, &ca->intermediate, &pem, NULL);
		if (!err)
			err = tb_bytes_append(&pem, ca->intermediate_pem, strlen(ca->intermediate_pem));
		char *kp = NULL;
		if (!err)
			err = key_pem(pk, &kp);
		if (!err) {
			struct kv_batch b = { { { "ca/server/cert", tb_bytes_cstr(&pem) }, { "ca/server/key", kp },
				{ "ca/server/names", want }, { "ca/server/not_after", na } }, 4 };
			err = tb_store_write_sync(st, kv_write_job, &b);
		}
		if (!err) {
			ca->server_chain_pem = strdup((char *)pem.p);
			ca->server_key_pem = kp;
			kp = NULL;
			TB_INFO("ca", "issued the HTTPS certificate for %s", want);
		}
		free(kp);
		tb_bytes_free(&san);
		tb_bytes_free(&pem);
		tb_pkey_free(pk);
	}
	free(want);
	free(have);
	free(not_after);
	free(cert);
	free(key);
	return err;
}

int tb_ca_load_or_create(struct tb_ca **out, struct tb_store *st, const char *ca_name,
	const char *const *hostnames, size_t n_hostnames)
{
	struct tb_ca *ca = calloc(1, sizeof *ca);
	if (!ca)
		return TB_ERR_NOMEM;
	mbedtls_x509_crt_init(&ca->root);
	mbedtls_x509_crt_init(&ca->intermediate);
	int err = load_root_and_intermediate(ca, st, ca_name);
	if (!err)
		err = ensure_server_cert(ca, st, ca_name, hostnames, n_hostnames);
	if (!err)
		mbedtls_sha256_ret(ca->root.raw.p, ca->root.raw.len, ca->root_sha256, 0);
	if (err) {
		tb_ca_free(ca);
		return err;
	}
	*out = ca;
	return 0;
}

void tb_ca_free(struct tb_ca *ca)
{
	if (!ca)
		return;
	tb_pkey_free(ca->root_key);
	tb_pkey_free(ca->intermediate_key);
	mbedtls_x509_crt_free(&ca->root);
	mbedtls_x509_crt_free(&ca->intermediate);
	free(ca->root_pem);
	free(ca->intermediate_pem);
	free(ca->server_chain_pem);
	if (ca->server_key_pem)
		sodium_memzero(ca->server_key_pem, strlen(ca->server_key_pem));
	free(ca->server_key_pem);
	free(ca);
}

void tb_ca_root_fingerprint(const struct tb_ca *ca, char *out, size_t outlen)
{
	size_t off = 0;
	for (int i = 0; i < 32 && off + 3 < outlen; i++)
		off += (size_t)snprintf(out + off, outlen - off, "%s%02X", i ? ":" : "", ca->root_sha256[i]);
}
