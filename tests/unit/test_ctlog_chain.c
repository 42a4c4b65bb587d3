/*
 * add-chain / add-pre-chain: JSON bodies and chain validation, with
 * certificates made here by mbedTLS x509write (root, intermediate, leaves,
 * precertificates with the poison, a Precertificate Signing Certificate).
 * A precertificate's rebuilt TBSCertificate must equal, byte for byte, the
 * TBSCertificate of the final certificate issued with the same fields.
 */
#include "tb_test.h"

#include <pthread.h>

#include <mbedtls/oid.h>
#include <mbedtls/x509_crt.h>

#include "core/crypto.h"
#include "core/error.h"
#include "ctlog/ctlog.h"

enum {
	F_CA = 1,
	F_POISON = 2,
	F_SERVER = 4,
	F_CLIENT = 8,
	F_PRECERT_EKU = 16,
	F_AKI = 32,
	F_UNKNOWN_CRITICAL = 64,
	F_SOFT_POISON = 128, /* the poison, but not critical */
	F_NAME_CONSTRAINTS = 256, /* critical nameConstraints and policyConstraints (RFC 5280 requires both critical) */
};

static const uint8_t eku_server[] = { 0x30, 0x0a, 0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x01 };
static const uint8_t eku_client[] = { 0x30, 0x0a, 0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x02 };
static const uint8_t eku_precert[] = { 0x30, 0x0c, 0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0xd6, 0x79, 0x02, 0x04, 0x04 };
static const char oid_poison[] = "\x2b\x06\x01\x04\x01\xd6\x79\x02\x04\x03";
static const char oid_eku[] = MBEDTLS_OID_EXTENDED_KEY_USAGE;
static const char oid_odd[] = "\x2b\x06\x01\x04\x01\x82\x37\x99\x01";

static int mk(struct tb_bytes *out, const char *subject, struct tb_pkey *skey, const char *issuer,
	struct tb_pkey *ikey, int serial, const char *not_after, int flags)
{
	mbedtls_x509write_cert w;
	mbedtls_mpi sn;
	mbedtls_x509write_crt_init(&w);
	mbedtls_mpi_init(&sn);
	mbedtls_mpi_lset(&sn, serial);
	mbedtls_x509write_crt_set_version(&w, MBEDTLS_X509_CRT_VERSION_3);
	mbedtls_x509write_crt_set_md_alg(&w, MBEDTLS_MD_SHA256);
	mbedtls_x509write_crt_set_serial(&w, &sn);
	mbedtls_x509write_crt_set_validity(&w, "20260101000000", not_after);
	mbedtls_x509write_crt_set_subject_name(&w, subject);
	mbedtls_x509write_crt_set_issuer_name(&w, issuer);
	mbedtls_x509write_crt_set_subject_key(&w, tb_pkey_mbedtls(skey));
	mbedtls_x509write_crt_set_issuer_key(&w, tb_pkey_mbedtls(ikey));
	mbedtls_x509write_crt_set_basic_constraints(&w, (flags & F_CA) ? 1 : 0, -1);
	mbedtls_x509write_crt_set_subject_key_identifier(&w);
	if (flags & F_AKI)
		mbedtls_x509write_crt_set_authority_key_identifier(&w);
	if (flags & F_SERVER)
		mbedtls_x509write_crt_set_extension(&w, oid_eku, sizeof oid_eku - 1, 0, eku_server, sizeof eku_server);
	if (flags & F_CLIENT)
		mbedtls_x509write_crt_set_extension(&w, oid_eku, sizeof oid_eku - 1, 0, eku_client, sizeof eku_client);
	if (flags & F_PRECERT_EKU)
		mbedtls_x509write_crt_set_extension(&w, oid_eku, sizeof oid_eku - 1, 0, eku_precert, sizeof eku_precert);
	if (flags & F_POISON)
		mbedtls_x509write_crt_set_extension(&w, oid_poison, sizeof oid_poison - 1, 1,
			(const unsigned char *)"\x05\x00", 2);
	if (flags & F_SOFT_POISON)
		mbedtls_x509write_crt_set_extension(&w, oid_poison, sizeof oid_poison - 1, 0,
			(const unsigned char *)"\x05\x00", 2);
	if (flags & F_NAME_CONSTRAINTS) {
		/* permitted DNS .lab.test; requireExplicitPolicy 0; inhibitAnyPolicy 0 */
		static const unsigned char nc[] = { 0x30, 0x0d, 0xa0, 0x0b, 0x30, 0x09, 0x82, 0x07,
			'l', 'a', 'b', '.', 't', 'e', 's', 't' };
		static const unsigned char pc[] = { 0x30, 0x03, 0x80, 0x01, 0x00 };
		static const unsigned char iap[] = { 0x02, 0x01, 0x00 };
		mbedtls_x509write_crt_set_extension(&w, "\x55\x1d\x1e", 3, 1, nc, sizeof nc);
		mbedtls_x509write_crt_set_extension(&w, "\x55\x1d\x24", 3, 1, pc, sizeof pc);
		mbedtls_x509write_crt_set_extension(&w, "\x55\x1d\x36", 3, 1, iap, sizeof iap);
	}
	if (flags & F_UNKNOWN_CRITICAL)
		mbedtls_x509write_crt_set_extension(&w, oid_odd, sizeof oid_odd - 1, 1,
			(const unsigned char *)"\x05\x00", 2);
	unsigned char buf[4096];
	int n = mbedtls_x509write_crt_der(&w, buf, sizeof buf, tb_crypto_mbedtls_rng, NULL);
	mbedtls_x509write_crt_free(&w);
	mbedtls_mpi_free(&sn);
	if (n <= 0)
		return -1;
	tb_bytes_free(out);
	return tb_bytes_append(out, buf + sizeof buf - n, (size_t)n);
}

static struct tb_buf tbs_of(struct tb_bytes *der, mbedtls_x509_crt *crt)
{
	mbedtls_x509_crt_init(crt);
	if (mbedtls_x509_crt_parse_der(crt, der->p, der->len) != 0)
		return TB_BUF(NULL, 0);
	return TB_BUF(crt->tbs.p, crt->tbs.len);
}

static void set_chain(struct ct_chain *c, struct tb_bytes **certs, size_t n)
{
	ct_chain_free(c);
	for (size_t i = 0; i < n; i++)
		tb_bytes_append(&c->der[i], certs[i]->p, certs[i]->len);
	c->n = n;
}

static int run(struct ct_roots *roots, const struct ct_policy *pol, struct tb_bytes **certs,
	size_t n, int precert, struct ct_validated *v)
{
	static struct ct_chain c;
	char why[128] = "";
	set_chain(&c, certs, n);
	int err = ct_validate_chain(roots, pol, &c, precert, v, why, sizeof why);
	if (err)
		printf("  rejected: %s (%s)\n", why, tb_strerror(err));
	return err;
}

static void sha(struct tb_bytes *b, uint8_t out[32])
{
	tb_sha256(tb_bytes_buf(b), out);
}

static void test_validation(void)
{
	struct tb_pkey *kroot, *kint, *kleaf, *kpsc, *kother;
	tb_pkey_generate_ec(TB_CURVE_P256, &kroot);
	tb_pkey_generate_ec(TB_CURVE_P256, &kint);
	tb_pkey_generate_ec(TB_CURVE_P256, &kleaf);
	tb_pkey_generate_ec(TB_CURVE_P256, &kpsc);
	tb_pkey_generate_ec(TB_CURVE_P256, &kother);
	const char *nroot = "CN=Test Root,O=trustbox", *nint = "CN=Test Intermediate,O=trustbox",
		   *npsc = "CN=Test Precert Signer,O=trustbox", *nleaf = "CN=www.lab.test";
	struct tb_bytes root = { 0 }, inter = { 0 }, leaf = { 0 }, pre = { 0 }, fin = { 0 },
			psc = { 0 }, pre2 = { 0 }, other_root = { 0 }, client = { 0 }, noeku = { 0 },
			odd = { 0 }, late = { 0 }, bad = { 0 };
	CHECK_INT(mk(&root, nroot, kroot, nroot, kroot, 1, "20360101000000", F_CA), 0);
	CHECK_INT(mk(&inter, nint, kint, nroot, kroot, 2, "20310101000000", F_CA | F_AKI), 0);
	CHECK_INT(mk(&leaf, nleaf, kleaf, nint, kint, 3, "20260601000000", F_SERVER | F_AKI), 0);
	CHECK_INT(mk(&pre, nleaf, kleaf, nint, kint, 4, "20260601000000", F_SERVER | F_AKI | F_POISON), 0);
	CHECK_INT(mk(&fin, nleaf, kleaf, nint, kint, 4, "20260601000000", F_SERVER | F_AKI), 0);
	CHECK_INT(mk(&psc, npsc, kpsc, nint, kint, 5, "20270101000000", F_CA | F_AKI | F_PRECERT_EKU), 0);
	CHECK_INT(mk(&pre2, nleaf, kleaf, npsc, kpsc, 4, "20260601000000", F_SERVER | F_AKI | F_POISON), 0);
	CHECK_INT(mk(&other_root, nroot, kother, nroot, kother, 1, "20360101000000", F_CA), 0);
	CHECK_INT(mk(&client, nleaf, kleaf, nint, kint, 6, "20260601000000", F_CLIENT | F_AKI), 0);
	CHECK_INT(mk(&noeku, nleaf, kleaf, nint, kint, 7, "20260601000000", F_AKI), 0);
	CHECK_INT(mk(&odd, nleaf, kleaf, nint, kint, 8, "20260601000000", F_SERVER | F_UNKNOWN_CRITICAL), 0);
	CHECK_INT(mk(&late, nleaf, kleaf, nint, kint, 9, "20270601000000", F_SERVER), 0);

	struct ct_roots *roots = NULL, *wrong = NULL;
	CHECK_INT(ct_roots_new(&roots), 0);
	CHECK_INT(ct_roots_new(&wrong), 0);
	CHECK_INT(ct_roots_add_der(roots, tb_bytes_buf(&root)), 0);
	CHECK_INT(ct_roots_add_der(roots, tb_bytes_buf(&root)), 0); /* duplicate ignored */
	CHECK_INT(ct_roots_count(roots), 1);
	CHECK_INT(ct_roots_add_der(wrong, tb_bytes_buf(&other_root)), 0);
	struct ct_policy pol = { 0 }, window = { 0 };
	window.not_after_start = 1767225600; /* 2026-01-01 */
	window.not_after_limit = 1782864000; /* 2026-07-01 */

	uint8_t froot[32], fint[32], fpsc[32];
	sha(&root, froot);
	sha(&inter, fint);
	sha(&psc, fpsc);

	struct ct_validated v;
	/* leaf + intermediate: the root is appended */
	struct tb_bytes *c1[] = { &leaf, &inter };
	CHECK_INT(run(roots, &window, c1, 2, 0, &v), 0);
	CHECK_INT(v.type, CT_ENTRY_X509);
	CHECK_MEM(v.cert.p, v.cert.len, leaf.p, leaf.len);
	CHECK_INT(v.n_issuers, 2);
	CHECK_MEM(v.issuer_fps, 32, fint, 32);
	CHECK_MEM(v.issuer_fps + 32, 32, froot, 32);
	CHECK_MEM(v.issuers[1].p, v.issuers[1].len, root.p, root.len);
	CHECK_INT(v.not_after, 1780272000); /* 2026-06-01 */
	uint8_t key1[32];
	memcpy(key1, v.dedup_key, 32);
	ct_validated_free(&v);
	/* again (the intermediate link now comes from the cache), then with the root given */
	CHECK_INT(run(roots, &pol, c1, 2, 0, &v), 0);
	CHECK_MEM(v.dedup_key, 32, key1, 32);
	ct_validated_free(&v);
	struct tb_bytes *c2[] = { &leaf, &inter, &root };
	CHECK_INT(run(roots, &pol, c2, 3, 0, &v), 0);
	CHECK_INT(v.n_issuers, 2);
	CHECK_MEM(v.dedup_key, 32, key1, 32);
	ct_validated_free(&v);

	/* rejections */
	struct tb_bytes *c3[] = { &leaf };
	CHECK(run(roots, &pol, c3, 1, 0, &v) != 0);
	CHECK(run(wrong, &pol, c1, 2, 0, &v) != 0);
	struct tb_bytes *c4[] = { &leaf, &root };
	CHECK(run(roots, &pol, c4, 2, 0, &v) != 0); /* skipped intermediate */
	struct tb_bytes *c5[] = { &inter, &leaf };
	CHECK(run(roots, &pol, c5, 2, 0, &v) != 0);
	tb_bytes_append(&bad, leaf.p, leaf.len);
	bad.p[bad.len - 5] ^= 0x01; /* inside the signature */
	struct tb_bytes *c6[] = { &bad, &inter };
	CHECK(run(roots, &pol, c6, 2, 0, &v) != 0);
	tb_bytes_free(&bad);
	tb_bytes_append(&bad, leaf.p, leaf.len);
	tb_bytes_u8(&bad, 0);
	struct tb_bytes *c6b[] = { &bad, &inter };
	CHECK(run(roots, &pol, c6b, 2, 0, &v) != 0); /* trailing byte */
	struct tb_bytes *c7[] = { &client, &inter };
	CHECK(run(roots, &pol, c7, 2, 0, &v) != 0);
	struct tb_bytes *c8[] = { &noeku, &inter };
	CHECK_INT(run(roots, &pol, c8, 2, 0, &v), 0); /* no EKU at all: any usage */
	ct_validated_free(&v);
	struct tb_bytes *c9[] = { &odd, &inter };
	CHECK(run(roots, &pol, c9, 2, 0, &v) != 0);
	struct tb_bytes *c10[] = { &late, &inter };
	CHECK_INT(run(roots, &pol, c10, 2, 0, &v), 0);
	ct_validated_free(&v);
	CHECK(run(roots, &window, c10, 2, 0, &v) != 0); /* outside the shard */
	/* precertificate to add-chain, certificate to add-pre-chain */
	struct tb_bytes *p1[] = { &pre, &inter };
	CHECK(run(roots, &pol, p1, 2, 0, &v) != 0);
	CHECK(run(roots, &pol, c1, 2, 1, &v) != 0);
	/* a poison that is not critical makes neither a precertificate nor a
	 * certificate (RFC 6962 3.1; CTFE and Sunlight refuse it too) */
	struct tb_bytes soft = { 0 };
	CHECK_INT(mk(&soft, nleaf, kleaf, nint, kint, 10, "20260601000000", F_SERVER | F_AKI | F_SOFT_POISON), 0);
	struct tb_bytes *p1s[] = { &soft, &inter };
	CHECK(run(roots, &pol, p1s, 2, 0, &v) != 0);
	CHECK(run(roots, &pol, p1s, 2, 1, &v) != 0);
	tb_bytes_free(&soft);
	/* a name-constrained intermediate: RFC 5280 makes these extensions critical,
	 * and logs (CTFE, Sunlight) accept them, as they do not enforce them */
	struct tb_bytes ncint = { 0 }, ncleaf = { 0 };
	CHECK_INT(mk(&ncint, nint, kint, nroot, kroot, 11, "20310101000000", F_CA | F_AKI | F_NAME_CONSTRAINTS), 0);
	CHECK_INT(mk(&ncleaf, nleaf, kleaf, nint, kint, 12, "20260601000000", F_SERVER | F_AKI), 0);
	struct tb_bytes *nc1[] = { &ncleaf, &ncint };
	CHECK_INT(run(roots, &pol, nc1, 2, 0, &v), 0);
	ct_validated_free(&v);
	tb_bytes_free(&ncint);
	tb_bytes_free(&ncleaf);

	/* precertificate issued directly: TBS without poison == final TBS */
	CHECK_INT(run(roots, &window, p1, 2, 1, &v), 0);
	CHECK_INT(v.type, CT_ENTRY_PRECERT);
	mbedtls_x509_crt fc, ic;
	struct tb_buf ftbs = tbs_of(&fin, &fc);
	CHECK_MEM(v.cert.p, v.cert.len, ftbs.p, ftbs.len);
	CHECK_MEM(v.precert.p, v.precert.len, pre.p, pre.len);
	tbs_of(&inter, &ic);
	uint8_t ikh[32];
	tb_sha256(TB_BUF(ic.pk_raw.p, ic.pk_raw.len), ikh);
	CHECK_MEM(v.issuer_key_hash, 32, ikh, 32);
	CHECK_INT(v.n_issuers, 2);
	uint8_t pkey1[32];
	memcpy(pkey1, v.dedup_key, 32);
	ct_validated_free(&v);

	/* through a Precertificate Signing Certificate: issuer and AKI rewritten */
	struct tb_bytes *p2[] = { &pre2, &psc, &inter };
	CHECK_INT(run(roots, &pol, p2, 3, 1, &v), 0);
	CHECK_INT(v.type, CT_ENTRY_PRECERT);
	CHECK_MEM(v.cert.p, v.cert.len, ftbs.p, ftbs.len);
	CHECK_MEM(v.issuer_key_hash, 32, ikh, 32);
	CHECK_INT(v.n_issuers, 3);
	CHECK_MEM(v.issuer_fps, 32, fpsc, 32);
	CHECK_MEM(v.dedup_key, 32, pkey1, 32); /* the same entry as the direct precert */
	/* the entry and its TileLeaf carry the rebuilt TBS and the precert */
	struct ct_entry e;
	ct_validated_entry(&v, &e);
	CHECK_INT(e.type, CT_ENTRY_PRECERT);
	CHECK_INT(e.chain_fps.len, 96);
	ct_validated_free(&v);
	/* the same rebuild without chain validation */
	struct tb_bytes t1 = { 0 }, t2 = { 0 }, t3 = { 0 };
	CHECK_INT(ct_precert_tbs(tb_bytes_buf(&pre), TB_BUF(NULL, 0), &t1), 0);
	CHECK_MEM(t1.p, t1.len, ftbs.p, ftbs.len);
	CHECK_INT(ct_precert_tbs(tb_bytes_buf(&pre2), tb_bytes_buf(&psc), &t2), 0);
	CHECK_MEM(t2.p, t2.len, ftbs.p, ftbs.len);
	CHECK(ct_precert_tbs(tb_bytes_buf(&leaf), TB_BUF(NULL, 0), &t3) != 0); /* no poison */
	tb_bytes_free(&t1);
	tb_bytes_free(&t2);
	tb_bytes_free(&t3);
	/* signing certificate whose issuer is missing and not a root */
	struct tb_bytes *p3[] = { &pre2, &psc };
	CHECK(run(roots, &pol, p3, 2, 1, &v) != 0);
	mbedtls_x509_crt_free(&fc);
	mbedtls_x509_crt_free(&ic);

	/* PEM bundle of roots */
	struct ct_roots *pr = NULL;
	ct_roots_new(&pr);
	struct tb_bytes pem = { 0 };
	tb_bytes_printf(&pem, "junk\n-----BEGIN CERTIFICATE-----\n");
	tb_base64_encode(&pem, root.p, root.len);
	tb_bytes_printf(&pem, "\n-----END CERTIFICATE-----\n-----BEGIN CERTIFICATE-----\n");
	tb_base64_encode(&pem, other_root.p, other_root.len);
	tb_bytes_printf(&pem, "\n-----END CERTIFICATE-----\n");
	CHECK_INT(ct_roots_add_pem(pr, (const char *)pem.p, pem.len), 0);
	CHECK_INT(ct_roots_count(pr), 2);
	CHECK_MEM(ct_roots_der(pr, 1).p, ct_roots_der(pr, 1).len, other_root.p, other_root.len);
	CHECK(ct_roots_add_pem(pr, "nothing", 7) != 0);
	ct_roots_free(pr);
	tb_bytes_free(&pem);

	ct_roots_free(roots);
	ct_roots_free(wrong);
	struct tb_bytes *all[] = { &root, &inter, &leaf, &pre, &fin, &psc, &pre2, &other_root,
		&client, &noeku, &odd, &late, &bad };
	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
		tb_bytes_free(all[i]);
	struct tb_pkey *keys[] = { kroot, kint, kleaf, kpsc, kother };
	for (size_t i = 0; i < 5; i++)
		tb_pkey_free(keys[i]);
	struct ct_chain empty = { 0 };
	set_chain(&empty, NULL, 0);
}

static void test_json(void)
{
	struct ct_chain c;
	const char *ok = "{\"chain\":[\"AQID\",\"BAU=\"]}";
	CHECK_INT(ct_chain_parse_json(ok, strlen(ok), &c), 0);
	CHECK_INT(c.n, 2);
	CHECK_MEM(c.der[0].p, c.der[0].len, "\x01\x02\x03", 3);
	CHECK_MEM(c.der[1].p, c.der[1].len, "\x04\x05", 2);
	ct_chain_free(&c);
	const char *bad[] = { "", "{}", "[]", "{\"chain\":[]}", "{\"chain\":\"AQID\"}",
		"{\"chain\":[1]}", "{\"chain\":[\"\"]}", "{\"chain\":[\"!!!!\"]}", "{\"chain\":[\"AQID\"]",
		"{\"chain\":[\"AQID\", null]}", "{\"chain\":{\"a\":\"AQID\"}}" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int err = ct_chain_parse_json(bad[i], strlen(bad[i]), &c);
		if (!err)
			fprintf(stderr, "accepted %s\n", bad[i]);
		CHECK(err != 0);
	}
	/* too many certificates */
	struct tb_bytes b = { 0 };
	tb_bytes_printf(&b, "{\"chain\":[");
	for (int i = 0; i < CT_MAX_CHAIN + 1; i++)
		tb_bytes_printf(&b, "%s\"AQID\"", i ? "," : "");
	tb_bytes_printf(&b, "]}");
	CHECK_INT(ct_chain_parse_json((const char *)b.p, b.len, &c), TB_ERR_TOO_LARGE);
	tb_bytes_free(&b);
	/* a certificate over the size cap, and a body over the body cap */
	tb_bytes_printf(&b, "{\"chain\":[\"");
	for (int i = 0; i < CT_MAX_CERT / 3 + 2; i++)
		tb_bytes_printf(&b, "AAAA");
	tb_bytes_printf(&b, "\"]}");
	CHECK_INT(ct_chain_parse_json((const char *)b.p, b.len, &c), TB_ERR_TOO_LARGE);
	tb_bytes_free(&b);
	char *big = calloc(1, CT_MAX_BODY + 2);
	memset(big, ' ', CT_MAX_BODY + 1);
	CHECK_INT(ct_chain_parse_json(big, CT_MAX_BODY + 1, &c), TB_ERR_TOO_LARGE);
	free(big);
}

/*
 * The verified-intermediate key cache: more intermediates than it holds
 * (evictions), re-validation of evicted and cached ones, several threads at
 * once, and a cached intermediate never vouching for a leaf it did not sign
 * or for a tampered copy of itself.
 */
#define N_INTER 70
struct cache_job {
	struct ct_roots *roots;
	struct tb_bytes *leaf, *inter;
	int failures;
};

static void *cache_worker(void *arg)
{
	struct cache_job *j = arg;
	struct ct_policy pol = { 0 };
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < N_INTER; i++) {
			struct ct_chain c = { 0 };
			struct ct_validated v;
			char why[128];
			tb_bytes_append(&c.der[0], j->leaf[i].p, j->leaf[i].len);
			tb_bytes_append(&c.der[1], j->inter[i].p, j->inter[i].len);
			c.n = 2;
			if (ct_validate_chain(j->roots, &pol, &c, 0, &v, why, sizeof why) != 0)
				j->failures++;
			else
				ct_validated_free(&v);
			ct_chain_free(&c);
		}
	}
	return NULL;
}

static void test_key_cache(void)
{
	struct tb_pkey *kroot = NULL, *kleaf = NULL, *kint[N_INTER] = { 0 };
	struct tb_bytes root = { 0 }, inter[N_INTER] = { { 0 } }, leaf[N_INTER] = { { 0 } };
	const char *nroot = "CN=Cache Root,O=trustbox";
	char nint[64];
	CHECK_INT(tb_pkey_generate_ec(TB_CURVE_P256, &kroot), 0);
	CHECK_INT(tb_pkey_generate_ec(TB_CURVE_P256, &kleaf), 0);
	CHECK_INT(mk(&root, nroot, kroot, nroot, kroot, 1, "20360101000000", F_CA), 0);
	for (int i = 0; i < N_INTER; i++) {
		snprintf(nint, sizeof nint, "CN=Cache Intermediate %d,O=trustbox", i);
		CHECK_INT(tb_pkey_generate_ec(TB_CURVE_P256, &kint[i]), 0);
		CHECK_INT(mk(&inter[i], nint, kint[i], nroot, kroot, 10 + i, "20310101000000", F_CA | F_AKI), 0);
		CHECK_INT(mk(&leaf[i], "CN=www.lab.test", kleaf, nint, kint[i], 100 + i, "20260601000000",
			F_SERVER | F_AKI), 0);
	}
	struct ct_roots *roots = NULL;
	CHECK_INT(ct_roots_new(&roots), 0);
	CHECK_INT(ct_roots_add_der(roots, tb_bytes_buf(&root)), 0);
	struct ct_policy pol = { 0 };
	struct ct_validated v;

	struct cache_job jobs[4];
	pthread_t th[4];
	for (int t = 0; t < 4; t++) {
		jobs[t] = (struct cache_job){ roots, leaf, inter, 0 };
		CHECK_INT(pthread_create(&th[t], NULL, cache_worker, &jobs[t]), 0);
	}
	for (int t = 0; t < 4; t++) {
		pthread_join(th[t], NULL);
		CHECK_INT(jobs[t].failures, 0);
	}

	/* The last intermediate is cached: a leaf it did not sign, or a tampered leaf, fails. */
	struct tb_bytes *ok[] = { &leaf[N_INTER - 1], &inter[N_INTER - 1] };
	CHECK_INT(run(roots, &pol, ok, 2, 0, &v), 0);
	ct_validated_free(&v);
	struct tb_bytes *wrong[] = { &leaf[0], &inter[N_INTER - 1] }; /* issuer name differs */
	CHECK(run(roots, &pol, wrong, 2, 0, &v) != 0);
	struct tb_bytes forged = { 0 };
	snprintf(nint, sizeof nint, "CN=Cache Intermediate %d,O=trustbox", N_INTER - 1);
	/* Right issuer name, signed by another key (the leaf's own). */
	CHECK_INT(mk(&forged, "CN=www.lab.test", kleaf, nint, kleaf, 999, "20260601000000", F_SERVER), 0);
	struct tb_bytes *forged_chain[] = { &forged, &inter[N_INTER - 1] };
	CHECK_INT(run(roots, &pol, forged_chain, 2, 0, &v), TB_ERR_VERIFY);
	leaf[N_INTER - 1].p[leaf[N_INTER - 1].len - 1] ^= 1;
	CHECK_INT(run(roots, &pol, ok, 2, 0, &v), TB_ERR_VERIFY);
	leaf[N_INTER - 1].p[leaf[N_INTER - 1].len - 1] ^= 1;
	/* A tampered copy of a cached intermediate is a different certificate: verified, refused. */
	inter[N_INTER - 1].p[inter[N_INTER - 1].len - 1] ^= 1;
	CHECK_INT(run(roots, &pol, ok, 2, 0, &v), TB_ERR_VERIFY);
	inter[N_INTER - 1].p[inter[N_INTER - 1].len - 1] ^= 1;
	/* An evicted one validates again. */
	struct tb_bytes *first[] = { &leaf[0], &inter[0] };
	CHECK_INT(run(roots, &pol, first, 2, 0, &v), 0);
	ct_validated_free(&v);

	ct_roots_free(roots);
	tb_bytes_free(&forged);
	tb_bytes_free(&root);
	for (int i = 0; i < N_INTER; i++) {
		tb_bytes_free(&inter[i]);
		tb_bytes_free(&leaf[i]);
		tb_pkey_free(kint[i]);
	}
	tb_pkey_free(kroot);
	tb_pkey_free(kleaf);
}

int main(void)
{
	tb_crypto_init();
	test_json();
	test_validation();
	test_key_cache();
	return tb_test_result("ctlog_chain");
}
