/*
 * Certificates (RFC 8555 7.4.2), revocation (7.6), renewal information
 * (ARI, RFC 9773) and the CRL.
 */
#include "acme/request.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/x509_crt.h>

#include "core/error.h"
#include "core/log.h"

#define RETRY_AFTER_ARI 21600

int acme_handle_certificate(struct tb_http_request *req, void *svc)
{
	struct acme_rq *r = acme_rq_new(svc, req);
	if (!r)
		return TB_ERR_NOMEM;
	const char *serial = acme_rq_path_id(r);
	if (!serial)
		return acme_rq_no_resource(r);
	struct acme_problem p;
	memset(&p, 0, sizeof p);
	if (acme_rq_authenticate(r, 0, &p))
		return acme_rq_problem_doc(r, &p);
	struct acme_cert c;
	int err = acme_db_load_cert(r->s, r->a, serial, &c);
	if (err == TB_ERR_NOT_FOUND || (!err && strcmp(c.account, r->acct.id) != 0))
		return acme_rq_problem_status(r, 404, ACME_PROB_MALFORMED, "Certificate not found");
	if (err)
		return acme_rq_problem(r, ACME_PROB_SERVER_INTERNAL, "store");
	acme_rq_headers(r);
	return tb_http_respond(r->req, 200, "application/pem-certificate-chain", c.pem, strlen(c.pem));
}

static void revoked(void *ctx, int status)
{
	struct acme_rq *r = ctx;
	if (status == TB_ERR_STATE) {
		acme_rq_problem(r, ACME_PROB_ALREADY_REVOKED, "Certificate already revoked");
		return;
	}
	if (status) {
		acme_rq_problem(r, ACME_PROB_SERVER_INTERNAL, "failed to record the revocation");
		return;
	}
	acme_rq_headers(r); /* acme_revoke invalidated the CRL */
	tb_http_respond(r->req, 200, NULL, NULL, 0);
}

/*
 * RFC 8555 7.6: an account other than the subscriber may revoke when it
 * holds valid, unexpired authorizations for every identifier of the
 * certificate (its order's identifiers; a wildcard by its base name).
 */
static int holds_authzs_for(struct acme_rq *r, const char *order_id)
{
	struct acme_order o;
	cJSON *arr = acme_db_load_order(r->s, r->a, order_id, &o) == 0 ? cJSON_Parse(o.identifiers) : NULL;
	int n = 0, held = 0;
	const cJSON *it;
	cJSON_ArrayForEach(it, arr) {
		const cJSON *t = cJSON_GetObjectItemCaseSensitive(it, "type");
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(it, "value");
		if (!cJSON_IsString(t) || !cJSON_IsString(v))
			break;
		n++;
		const char *base = strncmp(v->valuestring, "*.", 2) == 0 ? v->valuestring + 2 : v->valuestring;
		if (acme_db_holds_valid_authz(r->s, r->acct.id, t->valuestring, base))
			held++;
	}
	int ok = arr && n > 0 && held == n && n == cJSON_GetArraySize(arr);
	cJSON_Delete(arr);
	return ok;
}

int acme_handle_revoke_cert(struct tb_http_request *req, void *svc)
{
	struct acme_rq *r = acme_rq_new(svc, req);
	if (!r)
		return TB_ERR_NOMEM;
	struct acme_problem p;
	memset(&p, 0, sizeof p);
	if (acme_rq_authenticate(r, -1, &p))
		return acme_rq_problem_doc(r, &p);
	if (!r->payload)
		return acme_rq_problem(r, ACME_PROB_MALFORMED, "revokeCert needs a JSON payload");
	const cJSON *c = cJSON_GetObjectItemCaseSensitive(r->payload, "certificate");
	const cJSON *reason = cJSON_GetObjectItemCaseSensitive(r->payload, "reason");
	if (!cJSON_IsString(c))
		return acme_rq_problem(r, ACME_PROB_MALFORMED, "revokeCert payload needs a certificate");
	int rs = 0;
	if (reason) {
		if (!cJSON_IsNumber(reason) || reason->valuedouble != (double)(int)reason->valuedouble)
			return acme_rq_problem(r, ACME_PROB_BAD_REVOCATION_REASON, "reason must be an integer");
		rs = reason->valueint;
		if (rs != 0 && rs != 1 && rs != 3 && rs != 4 && rs != 5)
			return acme_rq_problem(r, ACME_PROB_BAD_REVOCATION_REASON,
				"disallowed revocation reason: %d (allowed: 0, 1, 3, 4, 5)", rs);
	}
	struct tb_bytes der = { 0 };
	if (strlen(c->valuestring) > 2 * ACME_CSR_MAX_DER || tb_base64url_decode(&der, c->valuestring, strlen(c->valuestring))) {
		tb_bytes_free(&der);
		return acme_rq_problem(r, ACME_PROB_MALFORMED, "certificate is not base64url");
	}
	mbedtls_x509_crt crt;
	mbedtls_x509_crt_init(&crt);
	int err = mbedtls_x509_crt_parse_der(&crt, der.p, der.len);
	char serial[2 * ACME_ARI_MAX_SERIAL + 1] = "";
	if (!err) {
		const uint8_t *sp = crt.serial.p;
		size_t sl = crt.serial.len;
		while (sl > 1 && sp[0] == 0) {
			sp++;
			sl--;
		}
		for (size_t i = 0; i < sl && i < ACME_ARI_MAX_SERIAL; i++)
			snprintf(serial + 2 * i, 3, "%02x", sp[i]);
	}
	struct tb_bytes spki = { 0 };
	int key_match = 0;
	if (!err && r->jws.key) {
		/* Revocation by certificate key: the JWS key must be the certificate's key. */
		struct tb_pkey *ck = NULL;
		if (tb_pkey_from_mbedtls_public(&crt.pk, &ck) == 0) {
			key_match = !acme_key_differs(tb_pkey_mbedtls(ck), tb_pkey_mbedtls(acme_key_pkey(r->jws.key)));
			tb_pkey_free(ck);
		}
	}
	tb_bytes_free(&spki);
	mbedtls_x509_crt_free(&crt);
	if (err) {
		tb_bytes_free(&der);
		return acme_rq_problem(r, ACME_PROB_MALFORMED, "certificate does not parse");
	}
	struct acme_cert cert;
	int found = 0, owner = 0, already = 0;
	char *order_id = NULL;
	if (acme_db_load_cert(r->s, r->a, serial, &cert) == 0) {
		found = cert.der_chain_len >= der.len && memcmp(cert.der_chain, der.p, der.len) == 0;
		owner = r->have_acct && strcmp(cert.account, r->acct.id) == 0;
		already = cert.revoked;
		order_id = cert.order_id;
	}
	tb_bytes_free(&der);
	if (!found)
		return acme_rq_problem_status(r, 404, ACME_PROB_MALFORMED, "Certificate from unrecognized issuer");
	int holder = !r->jws.key && !owner && order_id && holds_authzs_for(r, order_id);
	if (r->jws.key ? !key_match : !(owner || holder))
		return acme_rq_problem(r, ACME_PROB_UNAUTHORIZED, "The key ID specified in the revocation request does not hold "
			"valid authorizations for all names in the certificate");
	if (r->jws.key && rs != 0 && rs != 1)
		return acme_rq_problem(r, ACME_PROB_BAD_REVOCATION_REASON, "revocation by certificate key allows reasons 0 and 1 only");
	if (holder) {
		/* As Boulder: the holder of the names says the subscriber's use ended. */
		if (rs != 0 && rs != 5)
			return acme_rq_problem(r, ACME_PROB_BAD_REVOCATION_REASON,
				"revocation by another account holding the names allows reasons 0 and 5 only");
		rs = 5;
	}
	if (already)
		return acme_rq_problem(r, ACME_PROB_ALREADY_REVOKED, "Certificate already revoked");
	if (acme_revoke(r->s, serial, rs, revoked, r))
		return acme_rq_problem(r, ACME_PROB_SERVER_INTERNAL, "store unavailable");
	return TB_HTTP_LATER;
}

int acme_handle_renewal_info(struct tb_http_request *req, void *svc)
{
	struct acme_rq *r = acme_rq_new(svc, req);
	if (!r)
		return TB_ERR_NOMEM;
	const char *certid = tb_http_path_param(req, "certid");
	struct acme_cert_id cid;
	if (acme_ari_cert_id_parse(certid, strlen(certid), &cid))
		return acme_rq_problem(r, ACME_PROB_MALFORMED, "Invalid path: not an ARI CertID");
	char serial[2 * ACME_ARI_MAX_SERIAL + 1] = "";
	for (size_t i = 0; i < cid.serial_len; i++)
		snprintf(serial + 2 * i, 3, "%02x", cid.serial[i]);
	struct acme_cert c;
	/* The CertID's AKI must be the one in the certificate we issued. */
	int found = acme_db_load_cert(r->s, r->a, serial, &c) == 0 && acme_ari_chain_matches(c.der_chain, c.der_chain_len, &cid);
	int64_t nb = found ? c.not_before : 0, na = found ? c.not_after : 0;
	int revoked = found && c.revoked;
	if (!found)
		return acme_rq_problem_status(r, 404, ACME_PROB_MALFORMED, "Certificate not found");
	int64_t life = na - nb, start, end;
	if (revoked) {
		start = acme_now() - 86400;
		end = acme_now() - 3600;
	} else {
		start = nb + life * 2 / 3 - life / 20;
		end = nb + life * 2 / 3 + life / 20;
	}
	cJSON *j = cJSON_CreateObject();
	cJSON *w = cJSON_AddObjectToObject(j, "suggestedWindow");
	cJSON_AddStringToObject(w, "start", acme_ts(r->a, start));
	cJSON_AddStringToObject(w, "end", acme_ts(r->a, end));
	acme_rq_headers(r);
	char ra[16];
	snprintf(ra, sizeof ra, "%d", RETRY_AFTER_ARI);
	tb_http_set_header(r->req, "Retry-After", ra);
	return acme_rq_json(r, 200, j, NULL);
}


/* GET crl: the CA's CRL (RFC 5280), named in issued certificates' cRLDistributionPoints. */
int acme_handle_crl(struct tb_http_request *req, void *svc)
{
	struct acme_rq *r = acme_rq_new(svc, req);
	if (!r)
		return TB_ERR_NOMEM;
	struct tb_buf crl;
	if (acme_crl_get(r->s, &crl))
		return acme_rq_problem(r, ACME_PROB_SERVER_INTERNAL, "could not build the CRL");
	tb_http_set_header(r->req, "Cache-Control", "max-age=60");
	return tb_http_respond(r->req, 200, "application/pkix-crl", crl.p, crl.len);
}
