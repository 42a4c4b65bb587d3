/*
 * ACME JWS requests: valid RS256/ES256/ES384 requests with keys generated
 * here, every malformation answered with the right problem type, the
 * RFC 7638 thumbprint vector, POST-as-GET, url checks and EAB (HS256).
 */
#include <stdarg.h>

#include "acme/acme.h"
#include "core/crypto.h"
#include "core/error.h"
#include "tb_test.h"

#define URL "https://127.0.0.1:14000/acme/new-order"

static char *b64u(const void *p, size_t n)
{
	struct tb_bytes b = { 0 };
	tb_base64url_encode(&b, p, n);
	return tb_bytes_cstr(&b);
}

static char *b64u_str(const char *s)
{
	return b64u(s, strlen(s));
}

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
	va_list ap;
	va_start(ap, f);
	char *s = NULL;
	if (vasprintf(&s, f, ap) < 0)
		s = NULL;
	va_end(ap);
	return s;
}

/* The public JWK of a key, members in the RFC 7638 order. */
static char *jwk_of(struct tb_pkey *k)
{
	if (tb_pkey_type(k) == TB_KEY_RSA) {
		struct tb_bytes n = { 0 }, e = { 0 };
		tb_pkey_rsa_public(k, &n, &e);
		char *nb = b64u(n.p, n.len), *eb = b64u(e.p, e.len);
		char *s = fmt("{\"e\":\"%s\",\"kty\":\"RSA\",\"n\":\"%s\"}", eb, nb);
		free(nb), free(eb), tb_bytes_free(&n), tb_bytes_free(&e);
		return s;
	}
	enum tb_curve c = tb_pkey_curve(k);
	size_t cl = tb_curve_len(c);
	uint8_t pt[TB_EC_MAX_POINT_LEN];
	CHECK_INT(tb_pkey_ec_public_point(k, pt, tb_curve_point_len(c)), 0);
	char *x = b64u(pt + 1, cl), *y = b64u(pt + 1 + cl, cl);
	char *s = fmt("{\"crv\":\"%s\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}",
		c == TB_CURVE_P256 ? "P-256" : "P-384", x, y);
	free(x), free(y);
	return s;
}

/* Signs prot_json.payload with k as alg (RS256/ES256/ES384); returns the base64url signature. */
static char *sign_b64(struct tb_pkey *k, const char *alg, const char *prot_b64, const char *payload_b64)
{
	char *si = fmt("%s.%s", prot_b64, payload_b64);
	enum tb_hash_alg h = strcmp(alg, "ES384") == 0 ? TB_HASH_SHA384 : TB_HASH_SHA256;
	uint8_t d[TB_HASH_MAX_LEN];
	tb_hash(h, TB_BUF(si, strlen(si)), d);
	struct tb_bytes sig = { 0 };
	if (tb_pkey_type(k) == TB_KEY_RSA)
		tb_pkey_sign(k, h, d, &sig);
	else
		tb_pkey_sign_raw(k, h, d, &sig);
	char *s = b64u(sig.p, sig.len);
	tb_bytes_free(&sig);
	free(si);
	return s;
}

/* A complete flattened JWS body with the given protected header JSON and payload text. */
static char *make_jws(struct tb_pkey *k, const char *alg, const char *prot_json, const char *payload)
{
	char *pb = b64u_str(prot_json), *plb = b64u_str(payload);
	char *sb = sign_b64(k, alg, pb, plb);
	char *body = fmt("{\"protected\":\"%s\",\"payload\":\"%s\",\"signature\":\"%s\"}", pb, plb, sb);
	free(pb), free(plb), free(sb);
	return body;
}

/* A jwk request signed by k. */
static char *jwk_request(struct tb_pkey *k, const char *alg, const char *payload)
{
	char *jwk = jwk_of(k);
	char *prot = fmt("{\"alg\":\"%s\",\"jwk\":%s,\"nonce\":\"bm9uY2U\",\"url\":\"%s\"}", alg, jwk, URL);
	char *body = make_jws(k, alg, prot, payload);
	free(jwk), free(prot);
	return body;
}

/* Parses (and verifies with the embedded key) a body; returns the problem type. */
static enum acme_problem_type run(const char *body, struct acme_key *verify_key)
{
	struct acme_jws jws;
	struct acme_problem prob = { 0 };
	int err = acme_jws_parse((const uint8_t *)body, strlen(body), &jws, &prob);
	if (err == 0)
		err = acme_jws_verify(&jws, verify_key, &prob);
	acme_jws_free(&jws);
	if (err == 0)
		return ACME_PROB_NONE;
	if (prob.type == ACME_PROB_NONE)
		fprintf(stderr, "error %d without a problem type\n", err);
	return prob.type;
}

static void test_valid(struct tb_pkey *k, const char *alg)
{
	char *body = jwk_request(k, alg, "{\"termsOfServiceAgreed\":true}");
	struct acme_jws jws;
	struct acme_problem prob = { 0 };
	CHECK_INT(acme_jws_parse((const uint8_t *)body, strlen(body), &jws, &prob), 0);
	CHECK_INT(acme_jws_verify(&jws, NULL, &prob), 0);
	if (prob.type)
		fprintf(stderr, "%s: %s\n", alg, prob.detail);
	CHECK_STR(jws.nonce, "bm9uY2U");
	CHECK_STR(jws.url, URL);
	CHECK(jws.kid == NULL);
	CHECK(jws.key != NULL);
	CHECK_INT(jws.post_as_get, 0);
	CHECK_STR((const char *)jws.payload, "{\"termsOfServiceAgreed\":true}");
	CHECK_INT(acme_jws_check_url(&jws, URL, &prob), 0);
	CHECK(acme_jws_check_url(&jws, URL "x", &prob) != 0);
	CHECK_INT(prob.type, ACME_PROB_UNAUTHORIZED);

	/* the thumbprint is RFC 7638 over the canonical JWK we built */
	char *jwk = jwk_of(k);
	uint8_t d[32];
	tb_sha256(TB_BUF(jwk, strlen(jwk)), d);
	char *want = b64u(d, 32);
	CHECK_STR(acme_key_thumbprint(jws.key), want);
	CHECK_STR(acme_key_jwk_json(jws.key), jwk);
	free(want);

	/* the same key from stored JWK text verifies a kid request */
	struct acme_key *stored = NULL;
	CHECK_INT(acme_key_from_jwk_json(jwk, strlen(jwk), &stored, &prob), 0);
	char *prot = fmt("{\"alg\":\"%s\",\"kid\":\"https://ca/acct/1\",\"nonce\":\"bm9uY2U\",\"url\":\"%s\"}", alg, URL);
	char *kbody = make_jws(k, alg, prot, "");
	struct acme_jws kj;
	CHECK_INT(acme_jws_parse((const uint8_t *)kbody, strlen(kbody), &kj, &prob), 0);
	CHECK(kj.key == NULL);
	CHECK_STR(kj.kid, "https://ca/acct/1");
	CHECK_INT(kj.post_as_get, 1);
	CHECK_INT(kj.payload_len, 0);
	CHECK_INT(acme_jws_verify(&kj, stored, &prob), 0);
	/* no key at all: refused */
	CHECK(acme_jws_verify(&kj, NULL, &prob) != 0);
	acme_jws_free(&kj);

	/* payload "{}" is not POST-as-GET */
	char *e = jwk_request(k, alg, "{}");
	CHECK_INT(acme_jws_parse((const uint8_t *)e, strlen(e), &kj, &prob), 0);
	CHECK_INT(kj.post_as_get, 0);
	CHECK_INT(kj.payload_len, 2);
	acme_jws_free(&kj);

	/* tampered payload: signature over other bytes */
	char *pb = b64u_str(prot), *good = b64u_str("{\"a\":1}"), *bad = b64u_str("{\"a\":2}");
	char *sb = sign_b64(k, alg, pb, good);
	char *t = fmt("{\"protected\":\"%s\",\"payload\":\"%s\",\"signature\":\"%s\"}", pb, bad, sb);
	CHECK_INT(run(t, stored), ACME_PROB_MALFORMED);
	/* signature one byte short / one byte long */
	char *sig_bytes;
	{
		struct tb_bytes raw = { 0 };
		tb_base64url_decode(&raw, sb, strlen(sb));
		char *shortsig = b64u(raw.p, raw.len - 1);
		uint8_t *longer = malloc(raw.len + 1);
		memcpy(longer, raw.p, raw.len);
		longer[raw.len] = 0;
		char *longsig = b64u(longer, raw.len + 1);
		char *t1 = fmt("{\"protected\":\"%s\",\"payload\":\"%s\",\"signature\":\"%s\"}", pb, good, shortsig);
		char *t2 = fmt("{\"protected\":\"%s\",\"payload\":\"%s\",\"signature\":\"%s\"}", pb, good, longsig);
		char *t3 = fmt("{\"protected\":\"%s\",\"payload\":\"%s\",\"signature\":\"%s\"}", pb, good, sb);
		CHECK_INT(run(t1, stored), ACME_PROB_MALFORMED);
		CHECK_INT(run(t2, stored), ACME_PROB_MALFORMED);
		CHECK_INT(run(t3, stored), ACME_PROB_NONE);
		free(shortsig), free(longsig), free(longer), free(t1), free(t2), free(t3);
		tb_bytes_free(&raw);
		sig_bytes = NULL;
	}
	(void)sig_bytes;
	free(pb), free(good), free(bad), free(sb), free(t);
	acme_key_free(stored);
	free(prot), free(kbody), free(e), free(jwk), free(body);
	acme_jws_free(&jws);
}

static void test_malformed(struct tb_pkey *ec256, struct tb_pkey *ec384, struct tb_pkey *rsa)
{
	char *jwk = jwk_of(ec256);
	char *prot, *body;

	/* alg none and HS256 with a public key: badSignatureAlgorithm */
	prot = fmt("{\"alg\":\"none\",\"jwk\":%s,\"nonce\":\"bm9uY2U\",\"url\":\"%s\"}", jwk, URL);
	body = make_jws(ec256, "ES256", prot, "{}");
	CHECK_INT(run(body, NULL), ACME_PROB_BAD_SIGNATURE_ALGORITHM);
	free(prot), free(body);
	prot = fmt("{\"alg\":\"HS256\",\"jwk\":%s,\"nonce\":\"bm9uY2U\",\"url\":\"%s\"}", jwk, URL);
	body = make_jws(ec256, "ES256", prot, "{}");
	CHECK_INT(run(body, NULL), ACME_PROB_BAD_SIGNATURE_ALGORITHM);
	{
		struct acme_jws j;
		struct acme_problem p = { 0 };
		acme_jws_parse((const uint8_t *)body, strlen(body), &j, &p);
		char *r = acme_problem_render(&p);
		CHECK(r && strstr(r, "\"algorithms\":[\"RS256\",\"ES256\",\"ES384\"]"));
		CHECK(r && strstr(r, "urn:ietf:params:acme:error:badSignatureAlgorithm"));
		free(r);
		acme_jws_free(&j);
	}
	free(prot), free(body);

	/* jwk and kid together, neither */
	prot = fmt("{\"alg\":\"ES256\",\"jwk\":%s,\"kid\":\"https://ca/acct/1\",\"nonce\":\"bm9uY2U\",\"url\":\"%s\"}", jwk, URL);
	body = make_jws(ec256, "ES256", prot, "{}");
	CHECK_INT(run(body, NULL), ACME_PROB_MALFORMED);
	free(prot), free(body);
	prot = fmt("{\"alg\":\"ES256\",\"nonce\":\"bm9uY2U\",\"url\":\"%s\"}", URL);
	body = make_jws(ec256, "ES256", prot, "{}");
	CHECK_INT(run(body, NULL), ACME_PROB_MALFORMED);
	free(prot), free(body);

	/* nonce missing: badNonce; nonce not base64url: malformed; url missing: malformed */
	prot = fmt("{\"alg\":\"ES256\",\"jwk\":%s,\"url\":\"%s\"}", jwk, URL);
	body = make_jws(ec256, "ES256", prot, "{}");
	CHECK_INT(run(body, NULL), ACME_PROB_BAD_NONCE);
	free(prot), free(body);
	prot = fmt("{\"alg\":\"ES256\",\"jwk\":%s,\"nonce\":\"bm9uY2U=\",\"url\":\"%s\"}", jwk, URL);
	body = make_jws(ec256, "ES256", prot, "{}");
	CHECK_INT(run(body, NULL), ACME_PROB_MALFORMED);
	free(prot), free(body);
	prot = fmt("{\"alg\":\"ES256\",\"jwk\":%s,\"nonce\":\"bm9uY2U\"}", jwk);
	body = make_jws(ec256, "ES256", prot, "{}");
	CHECK_INT(run(body, NULL), ACME_PROB_MALFORMED);
	free(prot), free(body);
	/* crit is refused */
	prot = fmt("{\"alg\":\"ES256\",\"jwk\":%s,\"nonce\":\"bm9uY2U\",\"url\":\"%s\",\"crit\":[\"x\"],\"x\":1}", jwk, URL);
	body = make_jws(ec256, "ES256", prot, "{}");
	CHECK_INT(run(body, NULL), ACME_PROB_MALFORMED);
	free(prot), free(body);
	/* duplicate header member */
	prot = fmt("{\"alg\":\"ES256\",\"alg\":\"ES256\",\"jwk\":%s,\"nonce\":\"bm9uY2U\",\"url\":\"%s\"}", jwk, URL);
	body = make_jws(ec256, "ES256", prot, "{}");
	CHECK_INT(run(body, NULL), ACME_PROB_MALFORMED);
	free(prot), free(body);

	/* curve / alg mismatch: ES384 header with a P-256 key, ES256 with a P-384 key, RS256 with EC */
	prot = fmt("{\"alg\":\"ES384\",\"jwk\":%s,\"nonce\":\"bm9uY2U\",\"url\":\"%s\"}", jwk, URL);
	body = make_jws(ec256, "ES384", prot, "{}");
	CHECK_INT(run(body, NULL), ACME_PROB_BAD_SIGNATURE_ALGORITHM);
	free(prot), free(body);
	{
		char *j384 = jwk_of(ec384);
		prot = fmt("{\"alg\":\"ES256\",\"jwk\":%s,\"nonce\":\"bm9uY2U\",\"url\":\"%s\"}", j384, URL);
		body = make_jws(ec384, "ES256", prot, "{}");
		CHECK_INT(run(body, NULL), ACME_PROB_BAD_SIGNATURE_ALGORITHM);
		free(prot), free(body), free(j384);
	}
	prot = fmt("{\"alg\":\"RS256\",\"jwk\":%s,\"nonce\":\"bm9uY2U\",\"url\":\"%s\"}", jwk, URL);
	body = make_jws(ec256, "ES256", prot, "{}");
	CHECK_INT(run(body, NULL), ACME_PROB_BAD_SIGNATURE_ALGORITHM);
	free(prot), free(body);
	/* JWK "alg" member disagreeing with the header */
	{
		char *j2 = strdup(jwk);
		j2[strlen(j2) - 1] = '\0';
		prot = fmt("{\"alg\":\"ES256\",\"jwk\":%s,\"alg\":\"ES384\"},\"nonce\":\"bm9uY2U\",\"url\":\"%s\"}", j2, URL);
		body = make_jws(ec256, "ES256", prot, "{}");
		CHECK_INT(run(body, NULL), ACME_PROB_BAD_SIGNATURE_ALGORITHM);
		free(prot), free(body), free(j2);
	}
	/* kid request whose account key does not suit the alg */
	{
		struct acme_key *rk = NULL;
		struct acme_problem p = { 0 };
		char *rj = jwk_of(rsa);
		CHECK_INT(acme_key_from_jwk_json(rj, strlen(rj), &rk, &p), 0);
		prot = fmt("{\"alg\":\"ES256\",\"kid\":\"https://ca/acct/1\",\"nonce\":\"bm9uY2U\",\"url\":\"%s\"}", URL);
		body = make_jws(ec256, "ES256", prot, "{}");
		CHECK_INT(run(body, rk), ACME_PROB_BAD_SIGNATURE_ALGORITHM);
		/* and a valid-looking ES256 request verified with another EC key */
		struct acme_key *other = NULL;
		char *oj = jwk_of(ec384);
		CHECK_INT(acme_key_from_jwk_json(oj, strlen(oj), &other, &p), 0);
		CHECK_INT(run(body, other), ACME_PROB_BAD_SIGNATURE_ALGORITHM);
		free(prot), free(body), free(rj), free(oj);
		acme_key_free(rk);
		acme_key_free(other);
	}

	/* private JWK: a "d" member */
	{
		char *j2 = strdup(jwk);
		j2[strlen(j2) - 1] = '\0';
		prot = fmt("{\"alg\":\"ES256\",\"jwk\":%s,\"d\":\"AAAA\"},\"nonce\":\"bm9uY2U\",\"url\":\"%s\"}", j2, URL);
		body = make_jws(ec256, "ES256", prot, "{}");
		CHECK_INT(run(body, NULL), ACME_PROB_MALFORMED);
		free(prot), free(body), free(j2);
	}

	/* bad base64url: padding in protected, bad char in signature, padding in payload */
	{
		char *pj = fmt("{\"alg\":\"ES256\",\"jwk\":%s,\"nonce\":\"bm9uY2U\",\"url\":\"%s\"}", jwk, URL);
		char *pb = b64u_str(pj), *plb = b64u_str("{}");
		char *sb = sign_b64(ec256, "ES256", pb, plb);
		char *b1 = fmt("{\"protected\":\"%s=\",\"payload\":\"%s\",\"signature\":\"%s\"}", pb, plb, sb);
		char *b2 = fmt("{\"protected\":\"%s\",\"payload\":\"%s\",\"signature\":\"%s+\"}", pb, plb, sb);
		char *b3 = fmt("{\"protected\":\"%s\",\"payload\":\"e30=\",\"signature\":\"%s\"}", pb, sb);
		char *b4 = fmt("{\"protected\":\"%s\",\"payload\":\"%s\",\"signature\":\"%s\"}", pb, plb, sb);
		CHECK_INT(run(b1, NULL), ACME_PROB_MALFORMED);
		CHECK_INT(run(b2, NULL), ACME_PROB_MALFORMED);
		CHECK_INT(run(b3, NULL), ACME_PROB_MALFORMED);
		CHECK_INT(run(b4, NULL), ACME_PROB_NONE);
		/* general serialization, unprotected header, compact, extra member, duplicates */
		char *g = fmt("{\"payload\":\"%s\",\"signatures\":[{\"protected\":\"%s\",\"signature\":\"%s\"}]}", plb, pb, sb);
		char *u = fmt("{\"protected\":\"%s\",\"header\":{\"kid\":\"x\"},\"payload\":\"%s\",\"signature\":\"%s\"}", pb, plb, sb);
		char *c = fmt("%s.%s.%s", pb, plb, sb);
		char *x = fmt("{\"protected\":\"%s\",\"payload\":\"%s\",\"signature\":\"%s\",\"extra\":1}", pb, plb, sb);
		char *d = fmt("{\"protected\":\"%s\",\"payload\":\"%s\",\"payload\":\"%s\",\"signature\":\"%s\"}", pb, plb, plb, sb);
		char *tr = fmt("{\"protected\":\"%s\",\"payload\":\"%s\",\"signature\":\"%s\"} x", pb, plb, sb);
		CHECK_INT(run(g, NULL), ACME_PROB_MALFORMED);
		CHECK_INT(run(u, NULL), ACME_PROB_MALFORMED);
		CHECK_INT(run(c, NULL), ACME_PROB_MALFORMED);
		CHECK_INT(run(x, NULL), ACME_PROB_MALFORMED);
		CHECK_INT(run(d, NULL), ACME_PROB_MALFORMED);
		CHECK_INT(run(tr, NULL), ACME_PROB_MALFORMED);
		CHECK_INT(run("", NULL), ACME_PROB_MALFORMED);
		CHECK_INT(run("{}", NULL), ACME_PROB_MALFORMED);
		CHECK_INT(run("[]", NULL), ACME_PROB_MALFORMED);
		free(pj), free(pb), free(plb), free(sb), free(b1), free(b2), free(b3), free(b4);
		free(g), free(u), free(c), free(x), free(d), free(tr);
	}

	/* oversized body */
	{
		size_t n = ACME_JWS_MAX_BODY + 1;
		char *big = malloc(n + 1);
		memset(big, ' ', n);
		big[0] = '{';
		big[n - 1] = '}';
		big[n] = '\0';
		CHECK_INT(run(big, NULL), ACME_PROB_MALFORMED);
		free(big);
	}
	free(jwk);
}

static void test_key_policy(void)
{
	struct acme_key *k = NULL;
	struct acme_problem p = { 0 };
	/* a 1024-bit modulus (odd, top bit set): refused before anything is built */
	uint8_t n[128];
	for (size_t i = 0; i < sizeof n; i++)
		n[i] = (uint8_t)(0x5a ^ i);
	n[0] |= 0x80;
	n[127] |= 1;
	char *nb = b64u(n, sizeof n);
	char *j = fmt("{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"AQAB\"}", nb);
	CHECK(acme_key_from_jwk_json(j, strlen(j), &k, &p) != 0);
	CHECK_INT(p.type, ACME_PROB_BAD_PUBLIC_KEY);
	free(j), free(nb);

	/* e = 3 */
	static const char rfc_n[] =
		"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPeb"
		"WKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQ"
		"MicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2N"
		"cRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
	j = fmt("{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"Aw\"}", rfc_n);
	CHECK(acme_key_from_jwk_json(j, strlen(j), &k, &p) != 0);
	CHECK_INT(p.type, ACME_PROB_BAD_PUBLIC_KEY);
	free(j);

	/* RFC 7638 section 3.1 vector: direct and through a parsed key with extra members */
	char tp[ACME_THUMBPRINT_LEN + 1];
	CHECK_INT(acme_jwk_thumbprint_rsa(rfc_n, "AQAB", tp), 0);
	CHECK_STR(tp, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
	j = fmt("{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"AQAB\",\"alg\":\"RS256\",\"kid\":\"2011-04-29\"}", rfc_n);
	CHECK_INT(acme_key_from_jwk_json(j, strlen(j), &k, &p), 0);
	if (k) {
		CHECK_STR(acme_key_thumbprint(k), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
		CHECK_INT(acme_key_kind(k), ACME_KEY_RSA);
	}
	acme_key_free(k);
	k = NULL;
	free(j);
	/* leading zero octet on n refused */
	{
		struct tb_bytes raw = { 0 };
		tb_base64url_decode(&raw, rfc_n, strlen(rfc_n));
		uint8_t *z = calloc(1, raw.len + 1);
		memcpy(z + 1, raw.p, raw.len);
		char *zb = b64u(z, raw.len + 1);
		j = fmt("{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"AQAB\"}", zb);
		CHECK(acme_key_from_jwk_json(j, strlen(j), &k, &p) != 0);
		CHECK_INT(p.type, ACME_PROB_MALFORMED);
		free(j), free(zb), free(z);
		tb_bytes_free(&raw);
	}

	/* EC: a point not on the curve, short coordinates, unknown curve, unknown kty */
	uint8_t x[32], y[32];
	memset(x, 1, sizeof x);
	memset(y, 2, sizeof y);
	char *xb = b64u(x, 32), *yb = b64u(y, 32), *xs = b64u(x, 31);
	j = fmt("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"}", xb, yb);
	CHECK(acme_key_from_jwk_json(j, strlen(j), &k, &p) != 0);
	CHECK_INT(p.type, ACME_PROB_BAD_PUBLIC_KEY);
	free(j);
	j = fmt("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"}", xs, yb);
	CHECK(acme_key_from_jwk_json(j, strlen(j), &k, &p) != 0);
	CHECK_INT(p.type, ACME_PROB_MALFORMED);
	free(j);
	j = fmt("{\"kty\":\"EC\",\"crv\":\"P-521\",\"x\":\"%s\",\"y\":\"%s\"}", xb, yb);
	CHECK(acme_key_from_jwk_json(j, strlen(j), &k, &p) != 0);
	CHECK_INT(p.type, ACME_PROB_BAD_PUBLIC_KEY);
	free(j);
	j = fmt("{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"%s\"}", xb);
	CHECK(acme_key_from_jwk_json(j, strlen(j), &k, &p) != 0);
	CHECK_INT(p.type, ACME_PROB_BAD_PUBLIC_KEY);
	free(j);
	j = fmt("{\"kty\":\"oct\",\"k\":\"%s\"}", xb);
	CHECK(acme_key_from_jwk_json(j, strlen(j), &k, &p) != 0);
	free(j), free(xb), free(yb), free(xs);
}

/* An EAB object: HS256 over protected.payload where payload is the account JWK. */
static char *make_eab(const char *alg, const char *kid, const char *url, const char *payload_json,
	const uint8_t *key, size_t klen, int with_nonce)
{
	char *prot = fmt("{\"alg\":\"%s\",\"kid\":\"%s\",\"url\":\"%s\"%s}", alg, kid, url,
		with_nonce ? ",\"nonce\":\"bm9uY2U\"" : "");
	char *pb = b64u_str(prot), *plb = b64u_str(payload_json);
	char *si = fmt("%s.%s", pb, plb);
	uint8_t mac[32];
	tb_hmac(TB_HASH_SHA256, TB_BUF(key, klen), TB_BUF(si, strlen(si)), mac);
	char *mb = b64u(mac, 32);
	char *s = fmt("{\"protected\":\"%s\",\"payload\":\"%s\",\"signature\":\"%s\"}", pb, plb, mb);
	free(prot), free(pb), free(plb), free(si), free(mb);
	return s;
}

static enum acme_problem_type eab_run(const char *eab_json, const uint8_t *key, size_t klen,
	const char *url, struct acme_key *acct)
{
	cJSON *o = cJSON_Parse(eab_json);
	struct acme_eab eab;
	struct acme_problem p = { 0 };
	int err = acme_eab_parse(o, &eab, &p);
	if (!err) {
		CHECK_STR(eab.kid, "kid-1");
		err = acme_eab_verify(&eab, key, klen, url, acct, &p);
	}
	acme_eab_free(&eab);
	cJSON_Delete(o);
	return err ? p.type : ACME_PROB_NONE;
}

static void test_eab(struct tb_pkey *ec256, struct tb_pkey *ec384)
{
	static const uint8_t key[32] = "0123456789abcdef0123456789abcdef";
	static const uint8_t other[32] = "0123456789abcdef0123456789abcdeX";
	char *jwk = jwk_of(ec256), *jwk2 = jwk_of(ec384);
	struct acme_key *acct = NULL;
	struct acme_problem p = { 0 };
	CHECK_INT(acme_key_from_jwk_json(jwk, strlen(jwk), &acct, &p), 0);
	char *e = make_eab("HS256", "kid-1", URL, jwk, key, sizeof key, 0);
	CHECK_INT(eab_run(e, key, sizeof key, URL, acct), ACME_PROB_NONE);
	CHECK_INT(eab_run(e, other, sizeof other, URL, acct), ACME_PROB_UNAUTHORIZED);
	CHECK_INT(eab_run(e, key, sizeof key, URL "/other", acct), ACME_PROB_UNAUTHORIZED);
	free(e);
	e = make_eab("HS256", "kid-1", URL, jwk2, key, sizeof key, 0);
	CHECK_INT(eab_run(e, key, sizeof key, URL, acct), ACME_PROB_MALFORMED);
	free(e);
	e = make_eab("HS256", "kid-1", URL, jwk, key, sizeof key, 1);
	CHECK_INT(eab_run(e, key, sizeof key, URL, acct), ACME_PROB_MALFORMED);
	free(e);
	e = make_eab("RS256", "kid-1", URL, jwk, key, sizeof key, 0);
	CHECK_INT(eab_run(e, key, sizeof key, URL, acct), ACME_PROB_MALFORMED);
	free(e);
	e = make_eab("HS256", "kid-1", URL, "{\"kty\":\"EC\"}", key, sizeof key, 0);
	CHECK_INT(eab_run(e, key, sizeof key, URL, acct), ACME_PROB_MALFORMED);
	free(e);
	acme_key_free(acct);
	free(jwk), free(jwk2);
}

static enum acme_problem_type inner_run(const char *json)
{
	cJSON *o = cJSON_Parse(json);
	struct acme_jws j;
	struct acme_problem p = { 0 };
	int err = acme_jws_parse_inner(o, &j, &p);
	if (!err)
		err = acme_jws_verify(&j, NULL, &p);
	if (!err)
		err = acme_jws_check_url(&j, URL, &p);
	acme_jws_free(&j);
	cJSON_Delete(o);
	return err ? p.type : ACME_PROB_NONE;
}

static void test_key_change(struct tb_pkey *old_key, struct tb_pkey *new_key)
{
	char *oj = jwk_of(old_key), *nj = jwk_of(new_key);
	char *payload = fmt("{\"account\":\"https://ca/acct/1\",\"oldKey\":%s}", oj);
	char *prot = fmt("{\"alg\":\"ES384\",\"jwk\":%s,\"url\":\"%s\"}", nj, URL);
	char *inner = make_jws(new_key, "ES384", prot, payload);
	CHECK_INT(inner_run(inner), ACME_PROB_NONE);
	{
		cJSON *o = cJSON_Parse(inner);
		struct acme_jws j;
		struct acme_problem p = { 0 };
		CHECK_INT(acme_jws_parse_inner(o, &j, &p), 0);
		CHECK_STR((const char *)j.payload, payload);
		CHECK_INT(acme_jws_require(&j, 1, &p), 0);
		CHECK(acme_jws_require(&j, 0, &p) != 0);
		CHECK_STR(p.detail, "No Key ID in JWS header");
		acme_jws_free(&j);
		cJSON_Delete(o);
	}
	free(prot), free(inner);
	/* a nonce, a kid instead of the jwk, another url */
	prot = fmt("{\"alg\":\"ES384\",\"jwk\":%s,\"nonce\":\"bm9uY2U\",\"url\":\"%s\"}", nj, URL);
	inner = make_jws(new_key, "ES384", prot, payload);
	CHECK_INT(inner_run(inner), ACME_PROB_MALFORMED);
	free(prot), free(inner);
	prot = fmt("{\"alg\":\"ES384\",\"kid\":\"https://ca/acct/1\",\"url\":\"%s\"}", URL);
	inner = make_jws(new_key, "ES384", prot, payload);
	CHECK_INT(inner_run(inner), ACME_PROB_MALFORMED);
	free(prot), free(inner);
	prot = fmt("{\"alg\":\"ES384\",\"jwk\":%s,\"url\":\"%s/x\"}", nj, URL);
	inner = make_jws(new_key, "ES384", prot, payload);
	CHECK_INT(inner_run(inner), ACME_PROB_UNAUTHORIZED);
	free(prot), free(inner);
	/* signed by the old key instead of the new one */
	prot = fmt("{\"alg\":\"ES384\",\"jwk\":%s,\"url\":\"%s\"}", nj, URL);
	char *pb = b64u_str(prot), *plb = b64u_str(payload);
	char *sb = sign_b64(old_key, "ES256", pb, plb);
	inner = fmt("{\"protected\":\"%s\",\"payload\":\"%s\",\"signature\":\"%s\"}", pb, plb, sb);
	CHECK_INT(inner_run(inner), ACME_PROB_MALFORMED);
	free(prot), free(inner), free(pb), free(plb), free(sb);
	free(oj), free(nj), free(payload);

	/* an outer request with a kid where a jwk is needed */
	struct acme_jws j;
	struct acme_problem p = { 0 };
	prot = fmt("{\"alg\":\"ES256\",\"kid\":\"https://ca/acct/1\",\"nonce\":\"bm9uY2U\",\"url\":\"%s\"}", URL);
	char *body = make_jws(old_key, "ES256", prot, "{}");
	CHECK_INT(acme_jws_parse((const uint8_t *)body, strlen(body), &j, &p), 0);
	CHECK(acme_jws_require(&j, 1, &p) != 0);
	CHECK_STR(p.detail, "No embedded JWK in JWS header");
	CHECK_INT(acme_jws_require(&j, 0, &p), 0);
	acme_jws_free(&j);
	free(prot), free(body);
}

/* cJSON cuts strings at NUL: JSON holding one (raw or \u0000) is refused. */
static void test_nul(struct tb_pkey *ec256)
{
	char *jwk = jwk_of(ec256);
	char *prot = fmt("{\"alg\":\"ES256\",\"jwk\":%s,\"nonce\":\"bm9uY2U\",\"url\":\"%s\\u0000x\"}", jwk, URL);
	char *body = make_jws(ec256, "ES256", prot, "{}");
	CHECK_INT(run(body, NULL), ACME_PROB_MALFORMED);
	free(prot), free(body);

	static const char ok[] = "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"a.example\"}]} \n";
	cJSON *j = acme_json_parse(ok, sizeof ok - 1);
	CHECK(j != NULL);
	cJSON_Delete(j);
	static const char esc[] = "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"a.example\\u0000.evil\"}]}";
	CHECK(acme_json_parse(esc, sizeof esc - 1) == NULL);
	static const char raw[] = "{\"v\":\"a\0b\"}";
	CHECK(acme_json_parse(raw, sizeof raw - 1) == NULL);
	static const char trail[] = "{\"v\":1} x";
	CHECK(acme_json_parse(trail, sizeof trail - 1) == NULL);
	static const char other[] = "{\"v\":\"\\u0041\\u00e9\"}";
	j = acme_json_parse(other, sizeof other - 1);
	CHECK(j != NULL && strcmp(cJSON_GetObjectItem(j, "v")->valuestring, "A\xc3\xa9") == 0);
	cJSON_Delete(j);
	free(jwk);
}

int main(void)
{
	struct tb_pkey *ec256 = NULL, *ec384 = NULL, *rsa = NULL;
	CHECK_INT(tb_pkey_generate_ec(TB_CURVE_P256, &ec256), 0);
	CHECK_INT(tb_pkey_generate_ec(TB_CURVE_P384, &ec384), 0);
	CHECK_INT(tb_pkey_generate_rsa(2048, &rsa), 0);
	if (!ec256 || !ec384 || !rsa)
		return tb_test_result("test_acme_jws");
	test_valid(rsa, "RS256");
	test_valid(ec256, "ES256");
	test_valid(ec384, "ES384");
	test_malformed(ec256, ec384, rsa);
	test_key_policy();
	test_eab(ec256, ec384);
	test_key_change(ec256, ec384);
	test_nul(ec256);
	tb_pkey_free(ec256);
	tb_pkey_free(ec384);
	tb_pkey_free(rsa);
	return tb_test_result("test_acme_jws");
}
