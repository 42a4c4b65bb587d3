/*
 * DESIGN: ACME request authentication (RFC 8555 section 6.2).
 *
 * A request body is one flattened JSON JWS (RFC 7515 section 7.2.2) with
 * exactly "protected", "payload" and "signature": no unprotected "header",
 * no general serialization, no compact form, no duplicate members. Parsing
 * and verification are two steps because a "kid" request is verified with
 * the account's stored key, which the caller looks up between them; a "jwk"
 * request carries its key. Checks follow Boulder's wfe2/verify.go:
 * alg in {RS256, ES256, ES384} and matching the key (badSignatureAlgorithm),
 * jwk xor kid, nonce present (badNonce) and base64url, url present, no
 * "crit"/"b64". Every base64url field is decoded strictly (no padding, no
 * stray bits), so the signing input and the thumbprint are unambiguous.
 *
 * Keys come from public JWKs only (private members are refused) and pass
 * the key policy (goodkey.c) before anything is verified with them. The
 * RFC 7638 thumbprint is computed from the canonical member text; because
 * decoding is strict and leading zero octets are refused, the canonical
 * text equals what the client sent, so client and server thumbprints agree.
 *
 * Crypto (SHA-2, HMAC, RSA/ECDSA verification) goes through core/crypto.h.
 */
#include <stdlib.h>
#include <string.h>

#include "acme/acme.h"
#include "core/error.h"

#define JWK_MAX_MEMBER 1024  /* base64url bytes of one JWK member (a 4096-bit n is 683) */
#define HEADER_MAX 8192      /* bytes of a decoded protected header */

struct acme_key {
	struct tb_pkey *pkey;
	enum acme_key_kind kind;
	char thumbprint[ACME_THUMBPRINT_LEN + 1];
	char *jwk_json;          /* canonical RFC 7638 member text */
};

/* ---- small JSON helpers ------------------------------------------------ */

/* Refuses objects with a member name given twice (cJSON keeps both copies). */
static int has_duplicate_members(const cJSON *obj)
{
	size_t n = 0;
	for (const cJSON *a = obj->child; a; a = a->next, n++) {
		if (n > 256)
			return 1; /* no ACME object has that many members */
		for (const cJSON *b = a->next; b; b = b->next)
			if (a->string && b->string && strcmp(a->string, b->string) == 0)
				return 1;
	}
	return 0;
}

/*
 * cJSON keeps strings NUL-terminated, so "a.example\u0000.evil" would reach
 * the checks as "a.example": refuse JSON text holding a NUL byte or the
 * \u0000 escape (no ACME member carries one).
 */
static int json_has_nul(const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (p[i] == 0)
			return 1;
		if (p[i] == '\\' && i + 5 < len && p[i + 1] == 'u' && memcmp(p + i + 2, "0000", 4) == 0)
			return 1;
	}
	return 0;
}

/* Parses exactly len bytes of JSON text (trailing whitespace allowed). */
static cJSON *parse_json(const char *p, size_t len)
{
	if (json_has_nul(p, len))
		return NULL;
	const char *end = NULL;
	cJSON *j = cJSON_ParseWithLengthOpts(p, len, &end, 0);
	if (!j)
		return NULL;
	size_t used = end ? (size_t)(end - p) : len;
	for (size_t i = used; i < len; i++) {
		char c = p[i];
		if (c != ' ' && c != '\t' && c != '\r' && c != '\n') {
			cJSON_Delete(j);
			return NULL;
		}
	}
	return j;
}

static int b64url_decode(struct tb_bytes *out, const char *s)
{
	out->len = 0;
	return tb_base64url_decode(out, s, strlen(s));
}

cJSON *acme_json_parse(const char *text, size_t len)
{
	return parse_json(text, len);
}

/* ---- keys ---------------------------------------------------------------- */

void acme_key_free(struct acme_key *key)
{
	if (!key)
		return;
	tb_pkey_free(key->pkey);
	free(key->jwk_json);
	free(key);
}

enum acme_key_kind acme_key_kind(const struct acme_key *key)
{
	return key ? key->kind : ACME_KEY_NONE;
}

struct tb_pkey *acme_key_pkey(const struct acme_key *key)
{
	return key ? key->pkey : NULL;
}

const char *acme_key_thumbprint(const struct acme_key *key)
{
	return key ? key->thumbprint : NULL;
}

const char *acme_key_jwk_json(const struct acme_key *key)
{
	return key ? key->jwk_json : NULL;
}

static int thumbprint_of(const char *canonical, char *out)
{
	uint8_t d[TB_SHA256_LEN];
	int err = tb_sha256(TB_BUF(canonical, strlen(canonical)), d);
	if (err)
		return err;
	struct tb_bytes b = { 0 };
	err = tb_base64url_encode(&b, d, sizeof d);
	if (!err && b.len != ACME_THUMBPRINT_LEN)
		err = TB_ERR_CRYPTO;
	if (!err) {
		memcpy(out, b.p, ACME_THUMBPRINT_LEN);
		out[ACME_THUMBPRINT_LEN] = '\0';
	}
	tb_bytes_free(&b);
	return err;
}

/* RFC 7638 section 3.2: required members only, lexicographic order, no whitespace. */
static char *canonical_rsa(const char *n, const char *e)
{
	struct tb_bytes b = { 0 };
	tb_bytes_printf(&b, "{\"e\":\"%s\",\"kty\":\"RSA\",\"n\":\"%s\"}", e, n);
	if (b.err) {
		tb_bytes_free(&b);
		return NULL;
	}
	return tb_bytes_cstr(&b);
}

static char *canonical_ec(const char *crv, const char *x, const char *y)
{
	struct tb_bytes b = { 0 };
	tb_bytes_printf(&b, "{\"crv\":\"%s\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}", crv, x, y);
	if (b.err) {
		tb_bytes_free(&b);
		return NULL;
	}
	return tb_bytes_cstr(&b);
}

int acme_jwk_thumbprint_rsa(const char *n_b64, const char *e_b64, char *out)
{
	char *c = canonical_rsa(n_b64, e_b64);
	if (!c)
		return TB_ERR_NOMEM;
	int err = thumbprint_of(c, out);
	free(c);
	return err;
}

int acme_jwk_thumbprint_ec(const char *crv, const char *x_b64, const char *y_b64, char *out)
{
	char *c = canonical_ec(crv, x_b64, y_b64);
	if (!c)
		return TB_ERR_NOMEM;
	int err = thumbprint_of(c, out);
	free(c);
	return err;
}

/* A required base64url string member of a JWK, strictly decoded. */
static int jwk_member(const cJSON *jwk, const char *name, struct tb_bytes *out, const char **text,
	struct acme_problem *prob)
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(jwk, name);
	if (!cJSON_IsString(m) || !m->valuestring)
		return acme_problem_set(prob, ACME_PROB_MALFORMED, "JWK is missing the \"%s\" member", name);
	size_t len = strlen(m->valuestring);
	if (len == 0 || len > JWK_MAX_MEMBER)
		return acme_problem_set(prob, ACME_PROB_MALFORMED, "JWK member \"%s\" has a bad length", name);
	if (b64url_decode(out, m->valuestring) != 0 || out->len == 0)
		return acme_problem_set(prob, ACME_PROB_MALFORMED, "JWK member \"%s\" is not valid base64url", name);
	*text = m->valuestring;
	return 0;
}

static const char *const private_members[] = { "d", "p", "q", "dp", "dq", "qi", "oth", "k", NULL };

int acme_key_from_jwk(const cJSON *jwk, struct acme_key **out, struct acme_problem *prob)
{
	*out = NULL;
	if (!cJSON_IsObject(jwk))
		return acme_problem_set(prob, ACME_PROB_MALFORMED, "JWK is not a JSON object");
	if (has_duplicate_members(jwk))
		return acme_problem_set(prob, ACME_PROB_MALFORMED, "JWK has duplicate members");
	for (size_t i = 0; private_members[i]; i++)
		if (cJSON_GetObjectItemCaseSensitive(jwk, private_members[i]))
			return acme_problem_set(prob, ACME_PROB_MALFORMED,
				"JWK contains private key material (\"%s\"); send the public key only",
				private_members[i]);
	const cJSON *kty = cJSON_GetObjectItemCaseSensitive(jwk, "kty");
	if (!cJSON_IsString(kty) || !kty->valuestring)
		return acme_problem_set(prob, ACME_PROB_MALFORMED, "JWK is missing \"kty\"");

	struct acme_key *key = calloc(1, sizeof *key);
	if (!key)
		return acme_problem_set(prob, ACME_PROB_SERVER_INTERNAL, "out of memory"), TB_ERR_NOMEM;
	struct tb_bytes a = { 0 }, b = { 0 };
	int err = 0;
	if (strcmp(kty->valuestring, "RSA") == 0) {
		const char *n_txt, *e_txt;
		if ((err = jwk_member(jwk, "n", &a, &n_txt, prob)) || (err = jwk_member(jwk, "e", &b, &e_txt, prob)))
			goto fail;
		if (a.p[0] == 0 || b.p[0] == 0) {
			err = acme_problem_set(prob, ACME_PROB_MALFORMED,
				"JWK RSA members must not have leading zero octets (RFC 7518 section 6.3.1)");
			goto fail;
		}
		size_t bits = a.len * 8;
		for (uint8_t top = a.p[0]; !(top & 0x80); top <<= 1)
			bits--;
		if (bits != 2048 && bits != 3072 && bits != 4096) {
			err = acme_problem_set(prob, ACME_PROB_BAD_PUBLIC_KEY,
				"key size not supported: %zu bits (RSA keys must be 2048, 3072 or 4096 bits)", bits);
			goto fail;
		}
		if (b.len != 3 || b.p[0] != 0x01 || b.p[1] != 0x00 || b.p[2] != 0x01) {
			err = acme_problem_set(prob, ACME_PROB_BAD_PUBLIC_KEY, "key exponent must be 65537");
			goto fail;
		}
		if (tb_pkey_from_rsa_public(tb_bytes_buf(&a), tb_bytes_buf(&b), &key->pkey) != 0) {
			err = acme_problem_set(prob, ACME_PROB_BAD_PUBLIC_KEY, "invalid RSA public key");
			goto fail;
		}
		key->jwk_json = canonical_rsa(n_txt, e_txt);
	} else if (strcmp(kty->valuestring, "EC") == 0) {
		const cJSON *crv = cJSON_GetObjectItemCaseSensitive(jwk, "crv");
		if (!cJSON_IsString(crv) || !crv->valuestring) {
			err = acme_problem_set(prob, ACME_PROB_MALFORMED, "JWK is missing \"crv\"");
			goto fail;
		}
		enum tb_curve curve;
		if (strcmp(crv->valuestring, "P-256") == 0) {
			curve = TB_CURVE_P256;
		} else if (strcmp(crv->valuestring, "P-384") == 0) {
			curve = TB_CURVE_P384;
		} else {
			err = acme_problem_set(prob, ACME_PROB_BAD_PUBLIC_KEY,
				"ECDSA curve not allowed (P-256 and P-384 only)");
			goto fail;
		}
		const char *x_txt, *y_txt;
		if ((err = jwk_member(jwk, "x", &a, &x_txt, prob)) || (err = jwk_member(jwk, "y", &b, &y_txt, prob)))
			goto fail;
		size_t cl = tb_curve_len(curve);
		if (a.len != cl || b.len != cl) {
			/* RFC 7518 section 6.2.1.2: full-size coordinates */
			err = acme_problem_set(prob, ACME_PROB_MALFORMED,
				"JWK EC coordinates must be exactly %zu octets", cl);
			goto fail;
		}
		uint8_t point[TB_EC_MAX_POINT_LEN];
		point[0] = 0x04;
		memcpy(point + 1, a.p, cl);
		memcpy(point + 1 + cl, b.p, cl);
		if (tb_pkey_from_ec_public(curve, TB_BUF(point, 1 + 2 * cl), &key->pkey) != 0) {
			err = acme_problem_set(prob, ACME_PROB_BAD_PUBLIC_KEY, "key point is not on the curve");
			goto fail;
		}
		key->jwk_json = canonical_ec(crv->valuestring, x_txt, y_txt);
	} else {
		err = acme_problem_set(prob, ACME_PROB_BAD_PUBLIC_KEY,
			"unsupported key type \"%.16s\" (RSA and EC only)", kty->valuestring);
		goto fail;
	}
	if (!key->jwk_json) {
		err = acme_problem_set(prob, ACME_PROB_SERVER_INTERNAL, "out of memory");
		goto fail;
	}
	if ((err = acme_goodkey_check(tb_pkey_mbedtls(key->pkey), &key->kind, prob)) != 0)
		goto fail;
	if ((err = thumbprint_of(key->jwk_json, key->thumbprint)) != 0) {
		acme_problem_set(prob, ACME_PROB_SERVER_INTERNAL, "thumbprint computation failed");
		goto fail;
	}
	tb_bytes_free(&a);
	tb_bytes_free(&b);
	*out = key;
	return 0;
fail:
	tb_bytes_free(&a);
	tb_bytes_free(&b);
	acme_key_free(key);
	return err ? err : TB_ERR_INVALID;
}

int acme_key_from_jwk_json(const char *json, size_t len, struct acme_key **out, struct acme_problem *prob)
{
	*out = NULL;
	if (!json || len == 0 || len > HEADER_MAX)
		return acme_problem_set(prob, ACME_PROB_MALFORMED, "JWK text missing or too long");
	cJSON *j = parse_json(json, len);
	if (!j)
		return acme_problem_set(prob, ACME_PROB_MALFORMED, "JWK is not valid JSON");
	int err = acme_key_from_jwk(j, out, prob);
	cJSON_Delete(j);
	return err;
}

/* ---- algorithms ------------------------------------------------------- */

static enum acme_jws_alg alg_parse(const char *s)
{
	if (strcmp(s, "RS256") == 0)
		return ACME_ALG_RS256;
	if (strcmp(s, "ES256") == 0)
		return ACME_ALG_ES256;
	if (strcmp(s, "ES384") == 0)
		return ACME_ALG_ES384;
	return ACME_ALG_NONE;
}

static const char *alg_name(enum acme_jws_alg a)
{
	switch (a) {
	case ACME_ALG_RS256:
		return "RS256";
	case ACME_ALG_ES256:
		return "ES256";
	case ACME_ALG_ES384:
		return "ES384";
	default:
		return "none";
	}
}

static enum acme_jws_alg alg_for_key(enum acme_key_kind k)
{
	switch (k) {
	case ACME_KEY_RSA:
		return ACME_ALG_RS256;
	case ACME_KEY_EC_P256:
		return ACME_ALG_ES256;
	case ACME_KEY_EC_P384:
		return ACME_ALG_ES384;
	default:
		return ACME_ALG_NONE;
	}
}

static int check_alg_for_key(enum acme_jws_alg alg, const struct acme_key *key, struct acme_problem *prob)
{
	enum acme_jws_alg want = alg_for_key(key->kind);
	if (alg != want)
		return acme_problem_set(prob, ACME_PROB_BAD_SIGNATURE_ALGORITHM,
			"JWS signature header algorithm \"%s\" does not match expected algorithm \"%s\" for JWK",
			alg_name(alg), alg_name(want));
	return 0;
}

/* ---- flattened JWS structure ------------------------------------------ */

struct flat {
	const char *protected_b64;
	const char *payload_b64;
	const char *signature_b64;
};

static int parse_flat(const cJSON *root, const char *what, struct flat *f, struct acme_problem *prob)
{
	memset(f, 0, sizeof *f);
	if (!cJSON_IsObject(root))
		return acme_problem_set(prob, ACME_PROB_MALFORMED, "%s is not a JSON object", what);
	if (has_duplicate_members(root))
		return acme_problem_set(prob, ACME_PROB_MALFORMED, "%s has duplicate members", what);
	for (const cJSON *m = root->child; m; m = m->next) {
		const char *k = m->string ? m->string : "";
		const char **slot = NULL;
		if (strcmp(k, "protected") == 0)
			slot = &f->protected_b64;
		else if (strcmp(k, "payload") == 0)
			slot = &f->payload_b64;
		else if (strcmp(k, "signature") == 0)
			slot = &f->signature_b64;
		else if (strcmp(k, "signatures") == 0)
			return acme_problem_set(prob, ACME_PROB_MALFORMED,
				"%s uses the general JSON serialization; only the flattened form with one signature is accepted", what);
		else if (strcmp(k, "header") == 0)
			return acme_problem_set(prob, ACME_PROB_MALFORMED,
				"%s has an unprotected \"header\"; all header parameters must be protected", what);
		else
			return acme_problem_set(prob, ACME_PROB_MALFORMED, "%s has an unexpected member \"%.32s\"", what, k);
		if (!cJSON_IsString(m) || !m->valuestring)
			return acme_problem_set(prob, ACME_PROB_MALFORMED, "%s member \"%s\" is not a string", what, k);
		*slot = m->valuestring;
	}
	if (!f->protected_b64)
		return acme_problem_set(prob, ACME_PROB_MALFORMED, "%s has no \"protected\" header", what);
	if (!f->payload_b64)
		return acme_problem_set(prob, ACME_PROB_MALFORMED, "%s has no \"payload\"", what);
	if (!f->signature_b64)
		return acme_problem_set(prob, ACME_PROB_MALFORMED, "%s has no \"signature\"", what);
	return 0;
}

/* Decodes and parses the protected header into a JSON object. */
static int parse_protected(const char *b64, const char *what, cJSON **out, struct acme_problem *prob)
{
	*out = NULL;
	struct tb_bytes h = { 0 };
	size_t len = strlen(b64);
	if (len == 0 || len > HEADER_MAX * 4 / 3 + 4) {
		return acme_problem_set(prob, ACME_PROB_MALFORMED, "%s protected header is empty or too long", what);
	}
	if (tb_base64url_decode(&h, b64, len) != 0) {
		tb_bytes_free(&h);
		return acme_problem_set(prob, ACME_PROB_MALFORMED, "%s protected header is not valid base64url", what);
	}
	cJSON *j = parse_json((const char *)h.p, h.len);
	tb_bytes_free(&h);
	if (!j || !cJSON_IsObject(j)) {
		cJSON_Delete(j);
		return acme_problem_set(prob, ACME_PROB_MALFORMED, "%s protected header is not a JSON object", what);
	}
	if (has_duplicate_members(j)) {
		cJSON_Delete(j);
		return acme_problem_set(prob, ACME_PROB_MALFORMED, "%s protected header has duplicate members", what);
	}
	if (cJSON_GetObjectItemCaseSensitive(j, "crit") || cJSON_GetObjectItemCaseSensitive(j, "b64")) {
		cJSON_Delete(j);
		return acme_problem_set(prob, ACME_PROB_MALFORMED,
			"%s protected header uses \"crit\" or \"b64\", which are not supported", what);
	}
	*out = j;
	return 0;
}

static int make_signing_input(struct tb_bytes *si, const struct flat *f)
{
	tb_bytes_append(si, f->protected_b64, strlen(f->protected_b64));
	tb_bytes_append(si, ".", 1);
	tb_bytes_append(si, f->payload_b64, strlen(f->payload_b64));
	return si->err;
}

static const char *str_member(const cJSON *obj, const char *name, int *present)
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(obj, name);
	*present = m != NULL;
	return cJSON_IsString(m) ? m->valuestring : NULL;
}

static int is_b64url_text(const char *s)
{
	for (; *s; s++) {
		char c = *s;
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return 0;
	}
	return 1;
}

static char *dup_str(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = malloc(n);
	if (d)
		memcpy(d, s, n);
	return d;
}

void acme_jws_free(struct acme_jws *jws)
{
	if (!jws)
		return;
	acme_key_free(jws->key);
	free(jws->kid);
	free(jws->nonce);
	free(jws->url);
	free(jws->payload);
	cJSON_Delete(jws->protected_header);
	tb_bytes_free(&jws->signing_input);
	tb_bytes_free(&jws->signature);
	memset(jws, 0, sizeof *jws);
}

/*
 * The checks shared by a request body and a keyChange inner JWS. inner:
 * the header must carry a jwk and must not carry a nonce (RFC 8555
 * section 7.3.5); what = "JWS" or "inner JWS" for messages.
 */
static int parse_object(const cJSON *root, int inner, struct acme_jws *jws, struct acme_problem *prob)
{
	const char *what = inner ? "inner JWS" : "JWS";
	struct flat f;
	int err = parse_flat(root, what, &f, prob);
	if (err)
		goto out;
	if ((err = parse_protected(f.protected_b64, what, &jws->protected_header, prob)) != 0)
		goto out;
	const cJSON *h = jws->protected_header;
	int present;

	/* alg */
	const char *alg = str_member(h, "alg", &present);
	if (!alg) {
		err = acme_problem_set(prob, present ? ACME_PROB_MALFORMED : ACME_PROB_BAD_SIGNATURE_ALGORITHM,
			"JWS protected header has no \"alg\" string");
		goto out;
	}
	jws->alg = alg_parse(alg);
	if (jws->alg == ACME_ALG_NONE) {
		err = acme_problem_set(prob, ACME_PROB_BAD_SIGNATURE_ALGORITHM,
			"JWS signature header contains unsupported algorithm \"%.32s\", expected one of RS256, ES256 or ES384",
			alg);
		goto out;
	}

	/* jwk xor kid */
	const cJSON *jwk = cJSON_GetObjectItemCaseSensitive(h, "jwk");
	const cJSON *kid = cJSON_GetObjectItemCaseSensitive(h, "kid");
	if (jwk && kid) {
		err = acme_problem_set(prob, ACME_PROB_MALFORMED, "jwk and kid header fields are mutually exclusive");
		goto out;
	}
	if (!jwk && !kid) {
		err = acme_problem_set(prob, ACME_PROB_MALFORMED, "JWS protected header has neither \"jwk\" nor \"kid\"");
		goto out;
	}
	if (kid) {
		if (!cJSON_IsString(kid) || !kid->valuestring || !kid->valuestring[0] ||
			strlen(kid->valuestring) > ACME_JWS_MAX_KID) {
			err = acme_problem_set(prob, ACME_PROB_MALFORMED, "JWS \"kid\" must be a non-empty account URL");
			goto out;
		}
		if (!(jws->kid = dup_str(kid->valuestring))) {
			err = acme_problem_set(prob, ACME_PROB_SERVER_INTERNAL, "out of memory");
			goto out;
		}
	}

	if (inner && !jwk) {
		err = acme_problem_set(prob, ACME_PROB_MALFORMED, "inner JWS must carry the new key as \"jwk\"");
		goto out;
	}
	if (inner && cJSON_GetObjectItemCaseSensitive(h, "nonce")) {
		err = acme_problem_set(prob, ACME_PROB_MALFORMED, "inner JWS must not carry a \"nonce\"");
		goto out;
	}
	/* nonce: missing is badNonce (the client should retry), badly encoded is malformed */
	const char *nonce = inner ? "" : str_member(h, "nonce", &present);
	if (!nonce) {
		err = acme_problem_set(prob, present ? ACME_PROB_MALFORMED : ACME_PROB_BAD_NONCE,
			"JWS has no anti-replay nonce");
		goto out;
	}
	if (!inner && (!nonce[0] || strlen(nonce) > ACME_JWS_MAX_NONCE || !is_b64url_text(nonce))) {
		err = acme_problem_set(prob, ACME_PROB_MALFORMED, "JWS has an invalid anti-replay nonce (not base64url)");
		goto out;
	}
	/* url */
	const char *url = str_member(h, "url", &present);
	if (!url || !url[0] || strlen(url) > ACME_JWS_MAX_URL) {
		err = acme_problem_set(prob, ACME_PROB_MALFORMED, "JWS header parameter \"url\" required");
		goto out;
	}
	if (!(jws->nonce = dup_str(nonce)) || !(jws->url = dup_str(url))) {
		err = acme_problem_set(prob, ACME_PROB_SERVER_INTERNAL, "out of memory");
		goto out;
	}

	/* embedded key: parse, key policy, alg must suit it */
	if (jwk) {
		if ((err = acme_key_from_jwk(jwk, &jws->key, prob)) != 0)
			goto out;
		if ((err = check_alg_for_key(jws->alg, jws->key, prob)) != 0)
			goto out;
		const cJSON *jalg = cJSON_GetObjectItemCaseSensitive(jwk, "alg");
		if (jalg && (!cJSON_IsString(jalg) || strcmp(jalg->valuestring, alg) != 0)) {
			err = acme_problem_set(prob, ACME_PROB_BAD_SIGNATURE_ALGORITHM,
				"JWK key header algorithm does not match the JWS \"alg\" \"%s\"", alg_name(jws->alg));
			goto out;
		}
	}

	/* payload ("" is POST-as-GET) and signature */
	struct tb_bytes pl = { 0 };
	if (tb_base64url_decode(&pl, f.payload_b64, strlen(f.payload_b64)) != 0 || !tb_bytes_cstr(&pl)) {
		tb_bytes_free(&pl);
		err = acme_problem_set(prob, ACME_PROB_MALFORMED, "JWS payload is not valid base64url");
		goto out;
	}
	jws->payload = pl.p;
	jws->payload_len = pl.len;
	jws->post_as_get = f.payload_b64[0] == '\0';
	if (tb_base64url_decode(&jws->signature, f.signature_b64, strlen(f.signature_b64)) != 0 ||
		jws->signature.len == 0) {
		err = acme_problem_set(prob, ACME_PROB_MALFORMED, "JWS signature is empty or not valid base64url");
		goto out;
	}
	if (make_signing_input(&jws->signing_input, &f) != 0) {
		err = acme_problem_set(prob, ACME_PROB_SERVER_INTERNAL, "out of memory");
		goto out;
	}
	err = 0;
out:
	return err;
}

int acme_jws_parse(const uint8_t *body, size_t len, struct acme_jws *jws, struct acme_problem *prob)
{
	memset(jws, 0, sizeof *jws);
	if (!body || len == 0)
		return acme_problem_set(prob, ACME_PROB_MALFORMED, "Request body is empty; a JWS is required");
	if (len > ACME_JWS_MAX_BODY)
		return acme_problem_set(prob, ACME_PROB_MALFORMED, "Request body is larger than %u bytes",
			ACME_JWS_MAX_BODY);
	size_t i = 0;
	while (i < len && (body[i] == ' ' || body[i] == '\t' || body[i] == '\r' || body[i] == '\n'))
		i++;
	if (i == len || body[i] != '{')
		return acme_problem_set(prob, ACME_PROB_MALFORMED,
			"Request body is not a JSON object: the compact JWS serialization is not accepted");
	cJSON *root = parse_json((const char *)body, len);
	if (!root)
		return acme_problem_set(prob, ACME_PROB_MALFORMED, "Parse error reading JWS");
	int err = parse_object(root, 0, jws, prob);
	cJSON_Delete(root);
	if (err) {
		acme_jws_free(jws);
		return err < 0 ? err : TB_ERR_INVALID;
	}
	return 0;
}

int acme_jws_parse_inner(const cJSON *obj, struct acme_jws *jws, struct acme_problem *prob)
{
	memset(jws, 0, sizeof *jws);
	int err = parse_object(obj, 1, jws, prob);
	if (err) {
		acme_jws_free(jws);
		return err < 0 ? err : TB_ERR_INVALID;
	}
	return 0;
}

int acme_jws_require(const struct acme_jws *jws, int want_jwk, struct acme_problem *prob)
{
	if (want_jwk && !jws->key)
		return acme_problem_set(prob, ACME_PROB_MALFORMED, "No embedded JWK in JWS header");
	if (!want_jwk && !jws->kid)
		return acme_problem_set(prob, ACME_PROB_MALFORMED, "No Key ID in JWS header");
	return 0;
}

int acme_jws_verify(const struct acme_jws *jws, const struct acme_key *key, struct acme_problem *prob)
{
	if (!key)
		key = jws->key;
	if (!key || !jws->signing_input.p)
		return acme_problem_set(prob, ACME_PROB_MALFORMED, "No key to verify the JWS with");
	int err = check_alg_for_key(jws->alg, key, prob);
	if (err)
		return err;
	enum tb_hash_alg hash = jws->alg == ACME_ALG_ES384 ? TB_HASH_SHA384 : TB_HASH_SHA256;
	size_t want;
	if (jws->alg == ACME_ALG_RS256)
		want = (tb_pkey_bits(key->pkey) + 7) / 8;
	else
		want = 2 * tb_curve_len(tb_pkey_curve(key->pkey));
	if (jws->signature.len != want)
		return acme_problem_set(prob, ACME_PROB_MALFORMED,
			"JWS verification error: signature is %zu bytes, %s needs %zu",
			jws->signature.len, alg_name(jws->alg), want);
	uint8_t digest[TB_HASH_MAX_LEN];
	if (tb_hash(hash, tb_bytes_buf(&jws->signing_input), digest) != 0)
		return acme_problem_set(prob, ACME_PROB_SERVER_INTERNAL, "hash failed");
	struct tb_buf sig = tb_bytes_buf(&jws->signature);
	if (jws->alg == ACME_ALG_RS256)
		err = tb_pkey_verify(key->pkey, hash, digest, sig);
	else
		err = tb_pkey_verify_raw(key->pkey, hash, digest, sig);
	if (err)
		return acme_problem_set(prob, ACME_PROB_MALFORMED, "JWS verification error");
	return 0;
}

int acme_jws_check_url(const struct acme_jws *jws, const char *request_url, struct acme_problem *prob)
{
	if (!jws->url || !request_url || strcmp(jws->url, request_url) != 0)
		return acme_problem_set(prob, ACME_PROB_UNAUTHORIZED,
			"JWS header parameter \"url\" incorrect. Expected \"%.200s\" got \"%.200s\"",
			request_url ? request_url : "", jws->url ? jws->url : "");
	return 0;
}

/* ---- External Account Binding (RFC 8555 section 7.3.4) ---------------- */

void acme_eab_free(struct acme_eab *eab)
{
	if (!eab)
		return;
	free(eab->kid);
	free(eab->url);
	acme_key_free(eab->payload_key);
	tb_bytes_free(&eab->signing_input);
	tb_bytes_free(&eab->mac);
	memset(eab, 0, sizeof *eab);
}

int acme_eab_parse(const cJSON *obj, struct acme_eab *eab, struct acme_problem *prob)
{
	memset(eab, 0, sizeof *eab);
	struct flat f;
	cJSON *h = NULL;
	int err = parse_flat(obj, "externalAccountBinding", &f, prob);
	if (err)
		return err;
	if ((err = parse_protected(f.protected_b64, "externalAccountBinding", &h, prob)) != 0)
		return err;
	int present;
	const char *alg = str_member(h, "alg", &present);
	if (alg && strcmp(alg, "HS256") == 0) {
		eab->hash = TB_HASH_SHA256;
	} else if (alg && strcmp(alg, "HS384") == 0) {
		eab->hash = TB_HASH_SHA384;
	} else if (alg && strcmp(alg, "HS512") == 0) {
		eab->hash = TB_HASH_SHA512;
	} else {
		err = acme_problem_set(prob, ACME_PROB_MALFORMED,
			"externalAccountBinding must use a MAC algorithm (HS256, HS384 or HS512)");
		goto fail;
	}
	if (cJSON_GetObjectItemCaseSensitive(h, "nonce")) {
		err = acme_problem_set(prob, ACME_PROB_MALFORMED, "externalAccountBinding must not contain a nonce");
		goto fail;
	}
	const char *kid = str_member(h, "kid", &present);
	const char *url = str_member(h, "url", &present);
	if (!kid || !kid[0] || strlen(kid) > ACME_JWS_MAX_KID) {
		err = acme_problem_set(prob, ACME_PROB_MALFORMED, "externalAccountBinding has no \"kid\"");
		goto fail;
	}
	if (!url || !url[0] || strlen(url) > ACME_JWS_MAX_URL) {
		err = acme_problem_set(prob, ACME_PROB_MALFORMED, "externalAccountBinding has no \"url\"");
		goto fail;
	}
	if (!(eab->kid = dup_str(kid)) || !(eab->url = dup_str(url))) {
		err = acme_problem_set(prob, ACME_PROB_SERVER_INTERNAL, "out of memory");
		goto fail;
	}
	struct tb_bytes pl = { 0 };
	size_t plen = strlen(f.payload_b64);
	if (plen == 0 || tb_base64url_decode(&pl, f.payload_b64, plen) != 0) {
		tb_bytes_free(&pl);
		err = acme_problem_set(prob, ACME_PROB_MALFORMED, "externalAccountBinding payload is not valid base64url");
		goto fail;
	}
	err = acme_key_from_jwk_json((const char *)pl.p, pl.len, &eab->payload_key, prob);
	tb_bytes_free(&pl);
	if (err) {
		/* keep the key policy's words but say where it came from */
		char detail[ACME_MAX_DETAIL];
		memcpy(detail, prob->detail, sizeof detail);
		acme_problem_set(prob, prob->type, "externalAccountBinding payload: %.300s", detail);
		goto fail;
	}
	if (tb_base64url_decode(&eab->mac, f.signature_b64, strlen(f.signature_b64)) != 0 ||
		eab->mac.len != tb_hash_len(eab->hash)) {
		err = acme_problem_set(prob, ACME_PROB_MALFORMED, "externalAccountBinding signature has a bad encoding or length");
		goto fail;
	}
	if (make_signing_input(&eab->signing_input, &f) != 0) {
		err = acme_problem_set(prob, ACME_PROB_SERVER_INTERNAL, "out of memory");
		goto fail;
	}
	cJSON_Delete(h);
	return 0;
fail:
	cJSON_Delete(h);
	acme_eab_free(eab);
	return err < 0 ? err : TB_ERR_INVALID;
}

int acme_eab_verify(const struct acme_eab *eab, const uint8_t *hmac_key, size_t key_len,
	const char *outer_url, const struct acme_key *account_key, struct acme_problem *prob)
{
	if (!hmac_key || key_len == 0 || key_len > ACME_EAB_MAX_KEY)
		return acme_problem_set(prob, ACME_PROB_SERVER_INTERNAL, "external account key unusable");
	if (!eab->url || !outer_url || strcmp(eab->url, outer_url) != 0)
		return acme_problem_set(prob, ACME_PROB_UNAUTHORIZED,
			"externalAccountBinding \"url\" does not match the request URL");
	uint8_t mac[TB_HASH_MAX_LEN];
	size_t ml = tb_hash_len(eab->hash);
	if (ml == 0 || eab->mac.len != ml ||
		tb_hmac(eab->hash, TB_BUF(hmac_key, key_len), tb_bytes_buf(&eab->signing_input), mac) != 0)
		return acme_problem_set(prob, ACME_PROB_UNAUTHORIZED, "externalAccountBinding could not be verified");
	int differ = tb_memeq_ct(mac, eab->mac.p, ml);
	tb_crypto_wipe(mac, sizeof mac);
	if (differ)
		return acme_problem_set(prob, ACME_PROB_UNAUTHORIZED, "externalAccountBinding signature is invalid");
	if (!account_key || !eab->payload_key ||
		strcmp(acme_key_thumbprint(account_key), acme_key_thumbprint(eab->payload_key)) != 0)
		return acme_problem_set(prob, ACME_PROB_MALFORMED,
			"externalAccountBinding payload is not the account key");
	return 0;
}
