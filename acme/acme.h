/*
 * ACME (RFC 8555) building blocks: problem documents, identifiers, key
 * policy, JWS request parsing and verification (incl. EAB and keyChange),
 * CSR checks, challenge checks (http-01, dns-01, tls-alpn-01), ARI CertIDs
 * and replay nonces. Pure library code: no event loop, no store, no HTTP.
 * The ACME service (svc.h and the files it lists) maps every failure here
 * to an RFC 8555 problem document at its edge.
 *
 * Conventions: functions return 0 or a negative TB_ERR_* code; those that
 * judge client input also fill a struct acme_problem saying why, in the
 * protocol's words, so that the caller can answer the client directly.
 */
#ifndef ACME_ACME_H
#define ACME_ACME_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/crypto.h"

/* ------------------------------------------------------------------ */
/* Problem documents (RFC 8555 section 6.7, RFC 7807)                  */
/* ------------------------------------------------------------------ */

enum acme_problem_type {
	ACME_PROB_NONE = 0,                  /* no problem (zero-initialised struct) */
	ACME_PROB_ACCOUNT_DOES_NOT_EXIST,
	ACME_PROB_ALREADY_REPLACED,          /* RFC 9773 (ARI) */
	ACME_PROB_ALREADY_REVOKED,
	ACME_PROB_BAD_CSR,
	ACME_PROB_BAD_NONCE,
	ACME_PROB_BAD_PUBLIC_KEY,
	ACME_PROB_BAD_REVOCATION_REASON,
	ACME_PROB_BAD_SIGNATURE_ALGORITHM,
	ACME_PROB_CAA,
	ACME_PROB_COMPOUND,
	ACME_PROB_CONNECTION,
	ACME_PROB_DNS,
	ACME_PROB_EXTERNAL_ACCOUNT_REQUIRED,
	ACME_PROB_INCORRECT_RESPONSE,
	ACME_PROB_INVALID_CONTACT,
	ACME_PROB_INVALID_PROFILE,           /* ACME profiles draft */
	ACME_PROB_MALFORMED,
	ACME_PROB_ORDER_NOT_READY,
	ACME_PROB_RATE_LIMITED,
	ACME_PROB_REJECTED_IDENTIFIER,
	ACME_PROB_SERVER_INTERNAL,
	ACME_PROB_TLS,
	ACME_PROB_UNAUTHORIZED,
	ACME_PROB_UNSUPPORTED_CONTACT,
	ACME_PROB_UNSUPPORTED_IDENTIFIER,
	ACME_PROB_USER_ACTION_REQUIRED,
	ACME_PROB__COUNT
};

enum acme_ident_type { ACME_IDENT_DNS = 0, ACME_IDENT_IP = 1 };

/* "dns" / "ip"; NULL for an unknown type. Inline: problem.c renders subproblems with it. */
static inline const char *acme_ident_type_name(enum acme_ident_type type)
{
	switch (type) {
	case ACME_IDENT_DNS:
		return "dns";
	case ACME_IDENT_IP:
		return "ip";
	}
	return NULL;
}

#define ACME_MAX_IDENT_LEN 253     /* a DNS name; IPv6 text is at most 45 */
#define ACME_MAX_DETAIL 384        /* bytes of detail text kept per (sub)problem */
#define ACME_MAX_SUBPROBLEMS 16    /* one per identifier of an order, capped */

struct acme_identifier {
	enum acme_ident_type type;
	char value[ACME_MAX_IDENT_LEN + 1]; /* normalised (lowercase / canonical IP text) */
};

struct acme_subproblem {
	enum acme_problem_type type;
	char detail[ACME_MAX_DETAIL];
	struct acme_identifier identifier;
};

struct acme_problem {
	enum acme_problem_type type;         /* ACME_PROB_NONE: nothing went wrong */
	char detail[ACME_MAX_DETAIL];
	int status;                          /* HTTP status; 0 means the type's default */
	size_t n_sub;
	struct acme_subproblem sub[ACME_MAX_SUBPROBLEMS];
};

/* "urn:ietf:params:acme:error:<name>", or NULL for ACME_PROB_NONE / out of range. */
const char *acme_problem_urn(enum acme_problem_type type);
/* The short name ("badNonce"); "" for NONE. */
const char *acme_problem_name(enum acme_problem_type type);
/* Parses a full URN or a short name; ACME_PROB_NONE when unknown. */
enum acme_problem_type acme_problem_from_string(const char *s);
/* The HTTP status a response carrying this type gets (Boulder's mapping). */
int acme_problem_http_status(enum acme_problem_type type);
/* Sets type and detail (printf), clearing subproblems. Returns TB_ERR_INVALID for convenience. */
int acme_problem_set(struct acme_problem *p, enum acme_problem_type type, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Adds a subproblem (RFC 8555 section 6.7.1); TB_ERR_TOO_LARGE past ACME_MAX_SUBPROBLEMS. */
int acme_problem_add_sub(struct acme_problem *p, enum acme_problem_type type,
	const struct acme_identifier *id, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* The status this problem is answered with (p->status or the type's default). */
int acme_problem_status(const struct acme_problem *p);
/*
 * {"type":..., "detail":..., "status":..., "subproblems":[...]} and, for
 * badSignatureAlgorithm, "algorithms":["RS256","ES256","ES384"] (RFC 8555
 * section 6.2). Caller frees with cJSON_Delete; NULL on allocation failure.
 */
cJSON *acme_problem_json(const struct acme_problem *p);
/* Rendered JSON text (malloc'd, caller frees), or NULL. */
char *acme_problem_render(const struct acme_problem *p);
/* Content type of a problem response. */
#define ACME_PROBLEM_CONTENT_TYPE "application/problem+json"

/* ------------------------------------------------------------------ */
/* Identifiers (RFC 8555 section 7.1.4, RFC 8738)                      */
/* ------------------------------------------------------------------ */

#define ACME_DNS_MAX_LABELS 10     /* Boulder's limit on labels of a DNS name */
#define ACME_DNS_MAX_LABEL_LEN 63

/* Parses "dns" / "ip"; negative when unknown. */
int acme_ident_type_parse(const char *s);

/*
 * Lowercases an ASCII DNS name into out (outlen >= len + 1). Returns
 * TB_ERR_TOO_LARGE when the name does not fit.
 */
int acme_dns_normalize(const char *name, size_t len, char *out, size_t outlen);
/*
 * Checks a (normalised, lowercase) DNS identifier the way the CA policy
 * does: LDH labels of 1..63 bytes, at most 253 bytes and 10 labels, at least
 * two labels, no trailing dot, no leading/trailing hyphen, "xn--" labels
 * must be valid punycode, any other label with "--" in positions 3-4 is
 * refused, no IP address text, a wildcard only as the whole leftmost label
 * "*." with at least two labels after it (and only if allow_wildcard).
 * Returns 0, or fills prob (rejectedIdentifier / malformed) and returns
 * TB_ERR_INVALID.
 */
int acme_dns_name_check(const char *name, size_t len, int allow_wildcard, struct acme_problem *prob);
/* Nonzero when name starts with "*.". */
int acme_dns_is_wildcard(const char *name);

/*
 * Parses an IP identifier value (RFC 8738): dotted-quad IPv4 (RFC 1123) or
 * IPv6 text that must already be in RFC 5952 canonical form. addr receives 4
 * or 16 bytes, *family AF_INET or AF_INET6. Returns 0 or TB_ERR_INVALID.
 */
int acme_ip_parse(const char *s, size_t len, uint8_t addr[16], int *family);
/* Canonical text of an address (RFC 5952 for IPv6) into out (>= 46 bytes). */
int acme_ip_format(const uint8_t *addr, int family, char *out, size_t outlen);
/*
 * Nonzero when the address is in a special-purpose range a public CA never
 * issues for (loopback, private, link-local, CGNAT, documentation,
 * multicast, unspecified, ...). The lab policy may allow them anyway.
 */
int acme_ip_is_reserved(const uint8_t *addr, int family);
/*
 * The reverse-mapping name (RFC 8738 section 6, used as the tls-alpn-01
 * SNI): "4.3.2.1.in-addr.arpa" or the 32-nibble ip6.arpa form, no trailing dot.
 */
int acme_ip_reverse_name(const uint8_t *addr, int family, char *out, size_t outlen);
/*
 * Parses and checks one identifier {type, value} as found in a newOrder
 * payload: fills out with the normalised form. allow_wildcard applies to dns;
 * allow_ip refuses ip identifiers with unsupportedIdentifier when zero;
 * allow_reserved_ip lets loopback/private addresses through (lab policy).
 */
int acme_identifier_check(enum acme_ident_type type, const char *value, size_t len,
	int allow_wildcard, int allow_ip, int allow_reserved_ip,
	struct acme_identifier *out, struct acme_problem *prob);
/* qsort/bsearch order of identifiers: by type, then value. */
int acme_ident_cmp(const void *a, const void *b);

/* ------------------------------------------------------------------ */
/* Key policy (Boulder's goodkey)                                      */
/* ------------------------------------------------------------------ */

enum acme_key_kind { ACME_KEY_NONE = 0, ACME_KEY_RSA, ACME_KEY_EC_P256, ACME_KEY_EC_P384 };

/*
 * RSA: modulus of exactly 2048, 3072 or 4096 bits, odd, e = 65537, no prime
 * factor below 752. ECDSA: P-256 or P-384 and a valid point. Anything else
 * is refused. Returns 0 or TB_ERR_INVALID with prob = badPublicKey (the
 * caller turns it into badCSR for CSR keys). *kind, when not NULL, gets the
 * key's kind.
 */
int acme_goodkey_check(const struct mbedtls_pk_context *pk, enum acme_key_kind *kind,
	struct acme_problem *prob);
/*
 * 0 when both are the same public key (same type and parameters), 1 when
 * they differ. Used to refuse a certificate key equal to the account key
 * (badCSR / badPublicKey at the caller).
 */
int acme_key_differs(const struct mbedtls_pk_context *a, const struct mbedtls_pk_context *b);

/* ------------------------------------------------------------------ */
/* Account keys as JWKs (RFC 7517, 7518, 7638)                         */
/* ------------------------------------------------------------------ */

#define ACME_THUMBPRINT_LEN 43   /* base64url of SHA-256, no padding */

/* A public key from a JWK; immutable once parsed. */
struct acme_key;

/*
 * Parses a public JWK object: RSA (n, e) or EC (crv P-256 / P-384, x, y),
 * strict base64url, no private members (d, p, q, dp, dq, qi, oth, k), key
 * policy applied. Returns 0 and a new key, or TB_ERR_INVALID with prob
 * (malformed or badPublicKey).
 */
int acme_key_from_jwk(const cJSON *jwk, struct acme_key **out, struct acme_problem *prob);
/* Same from JSON text (e.g. stored with the account). */
int acme_key_from_jwk_json(const char *json, size_t len, struct acme_key **out, struct acme_problem *prob);
void acme_key_free(struct acme_key *key);
enum acme_key_kind acme_key_kind(const struct acme_key *key);
/* The provider key (verification, SPKI encoding); owned by key. */
struct tb_pkey *acme_key_pkey(const struct acme_key *key);
/* RFC 7638 thumbprint, base64url (ACME_THUMBPRINT_LEN chars, NUL-terminated). */
const char *acme_key_thumbprint(const struct acme_key *key);
/* The canonical JWK text (the RFC 7638 form: required members, sorted). */
const char *acme_key_jwk_json(const struct acme_key *key);
/*
 * RFC 7638 thumbprint of a key given by its members (for tests and for
 * callers holding components): rsa (n, e) or ec (crv, x, y), base64url
 * texts. out: ACME_THUMBPRINT_LEN + 1 bytes.
 */
int acme_jwk_thumbprint_rsa(const char *n_b64, const char *e_b64, char *out);
int acme_jwk_thumbprint_ec(const char *crv, const char *x_b64, const char *y_b64, char *out);

/* ------------------------------------------------------------------ */
/* JWS requests (RFC 8555 section 6.2, RFC 7515 flattened serialization) */
/* ------------------------------------------------------------------ */

#define ACME_JWS_MAX_BODY (256u * 1024)   /* request bodies larger than this are refused */
#define ACME_JWS_MAX_NONCE 256            /* bytes of a nonce header value */
#define ACME_JWS_MAX_URL 2048             /* bytes of a url header value */
#define ACME_JWS_MAX_KID 2048             /* bytes of a kid header value */

enum acme_jws_alg { ACME_ALG_NONE = 0, ACME_ALG_RS256, ACME_ALG_ES256, ACME_ALG_ES384 };

/* The algorithms a request may be signed with, in problem-document order. */
extern const char *const acme_jws_algorithms[];   /* NULL-terminated */

struct acme_jws {
	enum acme_jws_alg alg;
	struct acme_key *key;       /* the embedded jwk (newAccount, revokeCert by cert key), else NULL */
	char *kid;                  /* the account URL (kid requests), else NULL */
	char *nonce;                /* as sent; the caller checks it is fresh (badNonce) */
	char *url;                  /* as sent; the caller checks it equals the request URL */
	uint8_t *payload;           /* decoded payload, NUL-terminated (not counted) */
	size_t payload_len;
	int post_as_get;            /* payload was "" (RFC 8555 section 6.3), not "{}" */
	cJSON *protected_header;    /* the parsed protected header */
	/* What the signature covers and the signature itself. */
	struct tb_bytes signing_input; /* ASCII(protected "." payload) */
	struct tb_bytes signature;
};

/*
 * Parses a flattened JSON JWS request body of len bytes (at most
 * ACME_JWS_MAX_BODY): exactly "protected", "payload" and "signature"
 * members; no "header", no "signatures", no compact form; strict base64url;
 * alg in acme_jws_algorithms (badSignatureAlgorithm otherwise); exactly one
 * of jwk / kid; nonce present (badNonce) and base64url; url present; no crit.
 * An embedded jwk is parsed and checked against the key policy and the alg.
 * Does NOT verify the signature: call acme_jws_verify with the embedded key
 * or the account's key. On error fills prob; acme_jws_free is safe either way.
 */
int acme_jws_parse(const uint8_t *body, size_t len, struct acme_jws *jws, struct acme_problem *prob);
/*
 * Parses exactly len bytes of JSON text as a request payload: NULL when it
 * does not parse, has trailing garbage, or holds a NUL byte or the \u0000
 * escape (cJSON would cut the string there). Caller frees with cJSON_Delete.
 */
cJSON *acme_json_parse(const char *text, size_t len);
/*
 * Verifies the signature with key (NULL: the embedded jwk). Checks that the
 * alg suits the key (badSignatureAlgorithm), the exact signature length and
 * the signature itself (malformed "JWS verification error", as Boulder).
 */
int acme_jws_verify(const struct acme_jws *jws, const struct acme_key *key, struct acme_problem *prob);
void acme_jws_free(struct acme_jws *jws);
/*
 * Endpoints differ in the key they accept: newAccount (and revokeCert by
 * certificate key) need an embedded jwk (want_jwk = 1), every other POST a
 * kid (want_jwk = 0). malformed with Boulder's wording otherwise.
 */
int acme_jws_require(const struct acme_jws *jws, int want_jwk, struct acme_problem *prob);
/*
 * keyChange (RFC 8555 section 7.3.5): the outer payload is itself a
 * flattened JWS object. Same checks as acme_jws_parse except that it must
 * carry the new key as "jwk" and must not carry a "nonce". The caller then
 * verifies it with its own key, checks that its url equals the outer url and
 * that the payload's "account" and "oldKey" name the account and its key.
 */
int acme_jws_parse_inner(const cJSON *obj, struct acme_jws *jws, struct acme_problem *prob);
/* 0 when url equals the request URL; else unauthorized (RFC 8555 section 6.4). */
int acme_jws_check_url(const struct acme_jws *jws, const char *request_url, struct acme_problem *prob);

/*
 * External Account Binding (RFC 8555 section 7.3.4): the inner JWS in a
 * newAccount payload's "externalAccountBinding". Parse first (to learn the
 * kid and look up the MAC key), then verify with the key.
 */
#define ACME_EAB_MAX_KEY 256   /* bytes of an HMAC key */

struct acme_eab {
	char *kid;                  /* the key identifier the CA handed out */
	char *url;                  /* must equal the outer url */
	enum tb_hash_alg hash;      /* of the HMAC: HS256 / HS384 / HS512 */
	struct acme_key *payload_key; /* the JWK the payload carries */
	struct tb_bytes signing_input;
	struct tb_bytes mac;
};

int acme_eab_parse(const cJSON *eab, struct acme_eab *out, struct acme_problem *prob);
/* Verifies the MAC with hmac_key, that url equals outer_url and that the payload is the account key. */
int acme_eab_verify(const struct acme_eab *eab, const uint8_t *hmac_key, size_t key_len,
	const char *outer_url, const struct acme_key *account_key, struct acme_problem *prob);
void acme_eab_free(struct acme_eab *eab);

/* ------------------------------------------------------------------ */
/* CSRs (RFC 8555 section 7.4, PKCS#10)                                 */
/* ------------------------------------------------------------------ */

#define ACME_CSR_MAX_DER (64u * 1024)   /* bytes of a CSR */
#define ACME_CSR_MAX_NAMES 100          /* identifiers in one CSR (Boulder's maxNames) */
#define ACME_CN_MAX_LEN 64              /* RFC 5280 upper bound for a commonName */

struct acme_csr {
	struct tb_pkey *key;            /* the requested public key (owned) */
	enum acme_key_kind key_kind;
	char cn[ACME_CN_MAX_LEN + 1];   /* lowercased subject commonName, "" when absent */
	size_t n_names;                 /* sorted, de-duplicated identifiers from the SAN */
	struct acme_identifier names[ACME_CSR_MAX_NAMES];
	int must_staple;                /* TLS feature status_request was requested */
};

/*
 * Parses and checks a CSR DER: signature algorithm (RSA or ECDSA with
 * SHA-256/384/512), self-signature, key policy, only the extensionRequest
 * attribute, only known extensions (subjectAltName, keyUsage,
 * extendedKeyUsage, basicConstraints without cA, subjectKeyIdentifier; any
 * other critical extension refused), SAN entries dNSName / iPAddress only
 * (no email, URI or other name forms), names lowercased and de-duplicated,
 * CN (if any) one of the SAN names and not an IP address, at least one and
 * at most ACME_CSR_MAX_NAMES names, every name syntactically valid.
 * Returns 0 or TB_ERR_INVALID with prob (badCSR, or rejectedIdentifier for
 * a name policy refuses). acme_csr_free releases the key either way.
 */
int acme_csr_parse(const uint8_t *der, size_t len, struct acme_csr *csr, struct acme_problem *prob);
void acme_csr_free(struct acme_csr *csr);
/*
 * Finalize: the CSR's names must be exactly the order's identifiers (any
 * order, compared after normalisation). badCSR "CSR does not specify same
 * identifiers as Order" otherwise, as Boulder.
 */
int acme_csr_match_order(const struct acme_csr *csr, const struct acme_identifier *order_ids, size_t n,
	struct acme_problem *prob);

/* ------------------------------------------------------------------ */
/* Challenges (RFC 8555 section 8, RFC 8737, RFC 8738)                  */
/* ------------------------------------------------------------------ */

#define ACME_TOKEN_LEN 43          /* base64url of 32 random bytes (256 bits >= the 128 required) */
#define ACME_DNS01_TXT_LEN 43      /* base64url of a SHA-256 digest */
#define ACME_KEY_AUTHZ_MAX (ACME_TOKEN_LEN + 1 + ACME_THUMBPRINT_LEN + 1)
#define ACME_TLS_ALPN_PROTOCOL "acme-tls/1"

/* A fresh challenge token. */
int acme_token_new(char out[ACME_TOKEN_LEN + 1]);
/* Nonzero when s (len bytes) has the shape of a token this server issues (e.g. in an http-01 path). */
int acme_token_valid(const char *s, size_t len);
/* keyAuthorization = token "." base64url(JWK thumbprint) (RFC 8555 section 8.1). */
int acme_key_authorization(const char *token, const struct acme_key *key, char *out, size_t outlen);
/* The TXT record value dns-01 expects at _acme-challenge.<name>: base64url(SHA-256(keyAuthorization)). */
int acme_dns01_txt(const char *key_authz, char out[ACME_DNS01_TXT_LEN + 1]);
/*
 * http-01: the body fetched from /.well-known/acme-challenge/<token>, with
 * trailing whitespace trimmed, must equal the key authorization
 * (unauthorized otherwise, as Boulder). quote: the error may show the first
 * printable bytes of the body (never for a body fetched after a redirect,
 * which may come from a server the client does not own).
 */
int acme_http01_check_body(const uint8_t *body, size_t len, const char *key_authz, int quote,
	struct acme_problem *prob);
/*
 * tls-alpn-01: the certificate the server presented on an acme-tls/1
 * connection (the caller checks that ALPN was negotiated) must carry exactly
 * one subjectAltName entry, the identifier (dNSName, or iPAddress for ip
 * identifiers), and exactly one critical acmeIdentifier extension holding
 * SHA-256(keyAuthorization). tls when the certificate cannot be parsed,
 * unauthorized when it does not match.
 */
int acme_tlsalpn01_check_cert(const uint8_t *der, size_t len, const struct acme_identifier *id,
	const char *key_authz, struct acme_problem *prob);

/* ------------------------------------------------------------------ */
/* CAA (RFC 8659, RFC 8657)                                             */
/* ------------------------------------------------------------------ */

struct tb_rr; /* core/services.h */

struct acme_caa_request {
	const char *const *issuers;  /* issuer domain names of this CA */
	size_t n_issuers;
	int wildcard;                /* the identifier was a wildcard */
	const char *account_url;     /* for accounturi; NULL matches no accounturi */
	const char *method;          /* "http-01", ...; for validationmethods */
};

/* 1 when the issue/issuewild value (n bytes) authorises this CA for the request. */
int acme_caa_value_allows(const struct acme_caa_request *q, const uint8_t *v, size_t n);
/*
 * Evaluates one RRset as returned for a name (other types ignored): 1 when
 * it holds no CAA record (the caller climbs to the parent), 0 when issuance
 * is allowed, -1 when refused. *unknown_critical (may be NULL) is set when an
 * unknown critical tag (or an unparseable record) caused a refusal.
 */
int acme_caa_evaluate(const struct acme_caa_request *q, const struct tb_rr *rrs, size_t n, int *unknown_critical);

/* ------------------------------------------------------------------ */
/* ARI certificate identifiers (RFC 9773 section 4.1)                   */
/* ------------------------------------------------------------------ */

#define ACME_ARI_MAX_AKI 64        /* bytes of an Authority Key Identifier keyIdentifier */
#define ACME_ARI_MAX_SERIAL 20     /* RFC 5280: serial numbers are at most 20 octets */
#define ACME_ARI_MAX_CERT_ID 128   /* characters of a CertID string */

struct acme_cert_id {
	uint8_t aki[ACME_ARI_MAX_AKI];
	size_t aki_len;
	uint8_t serial[ACME_ARI_MAX_SERIAL]; /* DER INTEGER content: positive, minimal */
	size_t serial_len;
};

/* Parses "base64url(AKI).base64url(serial)" strictly; TB_ERR_INVALID otherwise (malformed at the edge). */
int acme_ari_cert_id_parse(const char *s, size_t len, struct acme_cert_id *out);
/* The CertID text (at most ACME_ARI_MAX_CERT_ID + 1 bytes with the NUL). */
int acme_ari_cert_id_format(const struct acme_cert_id *id, char *out, size_t outlen);
/* The CertID of a certificate (DER): its AKI keyIdentifier and serial. TB_ERR_NOT_FOUND without an AKI. */
int acme_ari_cert_id_from_der(const uint8_t *der, size_t len, struct acme_cert_id *out);
/* Nonzero when the leaf leading a DER chain has id's AKI (the serial is not compared). */
int acme_ari_chain_matches(const uint8_t *chain, size_t len, const struct acme_cert_id *id);

/* ------------------------------------------------------------------ */
/* Replay nonces (RFC 8555 section 6.5)                                 */
/* ------------------------------------------------------------------ */

#define ACME_NONCE_LEN 32                    /* base64url of 24 bytes: counter and MAC */
#define ACME_NONCE_DEFAULT_WINDOW (1u << 16) /* nonces outstanding; older ones get badNonce */
#define ACME_NONCE_MAX_WINDOW (1u << 24)     /* 2 MiB of bitmap at most */

/* Single-use nonces, valid until the process restarts or they leave the window. Loop thread only. */
struct acme_nonces;

/* window 0: ACME_NONCE_DEFAULT_WINDOW. */
int acme_nonces_new(struct acme_nonces **out, size_t window);
void acme_nonces_free(struct acme_nonces *n);
/* A fresh nonce for a Replay-Nonce header. */
int acme_nonce_issue(struct acme_nonces *n, char out[ACME_NONCE_LEN + 1]);
/* Accepts each issued nonce once; badNonce (invalid, expired or used) otherwise. */
int acme_nonce_consume(struct acme_nonces *n, const char *nonce, struct acme_problem *prob);

#endif
