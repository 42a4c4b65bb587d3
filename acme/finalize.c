/*
 * Finalize (RFC 8555 7.4): the CSR is checked against the order, CAA is
 * re-checked for authorizations validated long ago, the serial is reserved
 * and the order moves to processing (durably) before anything is signed;
 * then precertificate -> SCTs from every CT log (tb_ct_submitter) -> the
 * final certificate with the SCT list, stored with the order valid. A
 * failure after the reservation marks the order invalid.
 */
#include "acme/metrics.h"
#include "acme/request.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/x509_crt.h>

#include "core/ca.h"
#include "core/services.h"

#include "core/error.h"
#include "core/log.h"

#define RETRY_AFTER_PROCESSING "3"

static void order_fail(struct acme_rq *r, const char *detail);

static void finalize_answer(void *ctx, int status)
{
	struct acme_rq *r = ctx;
	struct acme_order o;
	if (acme_db_load_order(r->s, r->a, r->order.id, &o)) {
		acme_rq_problem(r, ACME_PROB_SERVER_INTERNAL, "failed to read the order back");
		return;
	}
	if (status)
		TB_WARN("acme", "order %s: storing the certificate failed: %s", o.id, tb_strerror(status));
	if (status && !r->failing && strcmp(o.status, "processing") == 0) {
		/* Nothing else would finish the order: fail it, or the client polls it for good. */
		r->failing = 1;
		order_fail(r, "storing the certificate failed");
		return;
	}
	const char *st;
	cJSON *j = acme_order_json(r, &o, &st);
	if (!status)
		tb_metric_inc(&acme_m_finalized, st); /* valid or invalid; "processing" is not counted */
	if (!status && r->profile && strcmp(st, "valid") == 0)
		tb_metric_inc(&acme_m_issued, r->profile->name);
	if (strcmp(st, "processing") == 0) {
		acme_rq_headers(r);
		tb_http_set_header(r->req, "Retry-After", RETRY_AFTER_PROCESSING);
	}
	acme_rq_json(r, 200, j, acme_rq_url(r, "order/%s", o.id));
}

static void order_fail(struct acme_rq *r, const char *detail)
{
	struct acme_problem p;
	memset(&p, 0, sizeof p);
	acme_problem_set(&p, ACME_PROB_SERVER_INTERNAL, "%s", detail);
	cJSON *e = acme_problem_json(&p);
	char *et = e ? cJSON_PrintUnformatted(e) : NULL;
	cJSON_Delete(e);
	struct acme_wjob *j = acme_wjob_new(r->s);
	acme_db_order_fail(j, r->order.id, et ? et : "{}", r->serial_hex);
	free(et);
	if (acme_wjob_submit(j, finalize_answer, r))
		acme_rq_problem(r, ACME_PROB_SERVER_INTERNAL, "store unavailable");
}

/* OIDs (content octets) of the CT extensions (RFC 6962 section 3.1). */
static const char oid_ct_poison[] = "\x2b\x06\x01\x04\x01\xd6\x79\x02\x04\x03";
static const char oid_ct_scts[] = "\x2b\x06\x01\x04\x01\xd6\x79\x02\x04\x02";
#define ACME_MAX_SCT 1024        /* bytes of one SCT accepted from a log */
#define ACME_NO_CRL_BELOW (7 * 86400) /* profiles at most this long carry no CRL distribution point */

/*
 * Signs the leaf (or, with precert, the precertificate with the poison
 * extension) into r->der / r->pem; the SCT list in r->scts, when non-empty,
 * becomes the embedded SCT extension.
 */
static int sign_leaf(struct acme_rq *r, int precert)
{
	struct acme_svc *s = r->s;
	const struct acme_profile *pr = r->profile;
	char subject[ACME_CN_MAX_LEN + 8] = "";
	if (pr->common_name) {
		const char *cn = r->csr.cn[0] ? r->csr.cn : NULL;
		for (size_t i = 0; !cn && i < r->csr.n_names; i++)
			if (r->csr.names[i].type == ACME_IDENT_DNS && strlen(r->csr.names[i].value) <= ACME_CN_MAX_LEN)
				cn = r->csr.names[i].value;
		if (cn)
			snprintf(subject, sizeof subject, "CN=%s", cn);
	}
	const char *names[ACME_CSR_MAX_NAMES];
	for (size_t i = 0; i < r->csr.n_names; i++)
		names[i] = r->csr.names[i].value;
	struct tb_bytes san = { 0 }, sctlist = { 0 };
	if (tb_der_san(&san, names, r->csr.n_names)) {
		tb_bytes_free(&san);
		return TB_ERR_INVALID;
	}
	struct tb_cert_ext ext[2];
	size_t n_ext = 0;
	struct tb_bytes crldp = { 0 };
	if (pr->validity > ACME_NO_CRL_BELOW) {
		/* cRLDistributionPoints: <base><prefix>crl (short-lived certificates go without, as Let's Encrypt's). */
		char *url = acme_rq_url(r, "crl");
		if (!url || acme_crldp_ext(url, &crldp)) {
			tb_bytes_free(&san);
			tb_bytes_free(&crldp);
			return TB_ERR_NOMEM;
		}
		static const char oid_crldp[] = "\x55\x1d\x1f";
		ext[n_ext++] = (struct tb_cert_ext){ oid_crldp, 3, 0, tb_bytes_buf(&crldp) };
	}
	if (precert) {
		ext[n_ext++] = (struct tb_cert_ext){ oid_ct_poison, sizeof oid_ct_poison - 1, 1, TB_BUF("\x05\x00", 2) };
	} else if (r->scts.len) {
		/* SignedCertificateTimestampList (TLS encoding) inside an OCTET STRING. */
		struct tb_bytes inner = { 0 };
		tb_bytes_vec(&inner, 2, r->scts.p, r->scts.len);
		tb_der_tlv(&sctlist, 0x04, inner.p, inner.len);
		tb_bytes_free(&inner);
		ext[n_ext++] = (struct tb_cert_ext){ oid_ct_scts, sizeof oid_ct_scts - 1, 0, tb_bytes_buf(&sctlist) };
	}
	struct tb_buf sanb = tb_bytes_buf(&san);
	struct tb_buf serial = TB_BUF(r->serial, ACME_SERIAL_BYTES);
	unsigned ku = MBEDTLS_X509_KU_DIGITAL_SIGNATURE;
	if (r->csr.key_kind == ACME_KEY_RSA)
		ku |= MBEDTLS_X509_KU_KEY_ENCIPHERMENT;
	struct tb_cert_template t = {
		.subject = subject,
		.san = &sanb,
		.san_critical = subject[0] == 0,
		.serial = &serial,
		.is_ca = 0,
		.pathlen = -1,
		.key_usage = ku,
		.eku_server = 1,
		.eku_client = strcmp(pr->name, "classic") == 0,
		.not_before = r->nb,
		.not_after = r->na,
		.exts = n_ext ? ext : NULL,
		.n_exts = n_ext,
	};
	tb_bytes_free(&r->der);
	tb_bytes_free(&r->pem);
	int err = san.err || sctlist.err ? TB_ERR_NOMEM : 0;
	if (!err)
		err = tb_ca_sign(&t, r->csr.key, s->core->ca->intermediate_key,
			&s->core->ca->intermediate, precert ? NULL : &r->pem, &r->der);
	tb_bytes_free(&san);
	tb_bytes_free(&sctlist);
	tb_bytes_free(&crldp);
	return err;
}

static void finalize_store(struct acme_rq *r);

/* Signs the final certificate (with whatever SCTs came back) and stores it. */
static void finalize_final(struct acme_rq *r)
{
	struct acme_svc *s = r->s;
	int err = sign_leaf(r, 0);
	if (!err)
		err = tb_bytes_append(&r->pem, s->core->ca->intermediate_pem, strlen(s->core->ca->intermediate_pem));
	if (!err)
		err = tb_bytes_append(&r->der, s->core->ca->intermediate.raw.p, s->core->ca->intermediate.raw.len);
	if (err || r->pem.err || r->der.err) {
		TB_WARN("acme", "order %s: signing failed: %s", r->order.id, tb_strerror(err));
		order_fail(r, "signing the certificate failed");
		return;
	}
	finalize_store(r);
}

static void ct_step_done(struct acme_rq *r)
{
	if (--r->ct_pending)
		return;
	if (!r->scts.len)
		TB_WARN("acme", "order %s: no SCT obtained; issuing without SCTs", r->order.id);
	finalize_final(r);
}

static void sct_done(int status, struct tb_buf sct, void *arg)
{
	struct acme_rq *r = arg;
	struct acme_svc *s = r->s;
	if (status == 0 && sct.len > 0 && sct.len <= ACME_MAX_SCT)
		tb_bytes_vec(&r->scts, 2, sct.p, sct.len);
	else
		TB_WARN("acme", "order %s: a CT log refused the precertificate: %s", r->order.id, tb_strerror(status));
	ct_step_done(r);
	acme_svc_release(s);
}

/*
 * The serial is durable: precertificate -> SCTs from every configured CT
 * log (tb_ct_submitter) -> final certificate with the SCT list. Without a
 * log, the certificate is signed directly.
 */
static void finalize_sign(void *ctx, int status)
{
	struct acme_rq *r = ctx;
	struct acme_svc *s = r->s;
	if (status) {
		/* The order moved on meanwhile (a racing finalize): answer with what it is now. */
		finalize_answer(r, 0);
		return;
	}
	struct tb_services *sv = s->core->services;
	if (!sv || sv->n_ct == 0) {
		finalize_final(r);
		return;
	}
	if (sign_leaf(r, 1)) {
		order_fail(r, "signing the precertificate failed");
		return;
	}
	r->precert_at = acme_now();
	struct tb_buf chain[3] = {
		tb_bytes_buf(&r->der),
		TB_BUF(s->core->ca->intermediate.raw.p, s->core->ca->intermediate.raw.len),
		TB_BUF(s->core->ca->root.raw.p, s->core->ca->root.raw.len),
	};
	/* Count first: a submitter may not call back synchronously, but be safe if it does. */
	r->ct_pending = 1;
	for (size_t i = 0; i < sv->n_ct; i++) {
		r->ct_pending++;
		acme_svc_hold(s);
		if (sv->ct[i]->submit(sv->ct[i]->impl, chain, 3, 1, sct_done, r)) {
			TB_WARN("acme", "order %s: CT submission %zu could not start", r->order.id, i);
			r->ct_pending--;
			acme_svc_release(s);
		}
	}
	ct_step_done(r); /* drops the initial count */
}

static void finalize_store(struct acme_rq *r)
{
	struct acme_svc *s = r->s;
	const struct acme_profile *pr = r->profile;
	const char *names[ACME_CSR_MAX_NAMES];
	for (size_t i = 0; i < r->csr.n_names; i++)
		names[i] = r->csr.names[i].value;
	char *names_txt = NULL;
	{
		cJSON *a = cJSON_CreateArray();
		for (size_t i = 0; i < r->csr.n_names; i++)
			cJSON_AddItemToArray(a, cJSON_CreateString(names[i]));
		names_txt = cJSON_PrintUnformatted(a);
		cJSON_Delete(a);
	}
	char *pem = tb_bytes_cstr(&r->pem);
	struct acme_wjob *j = acme_wjob_new(s);
	acme_db_cert_issue(j, r->serial_hex, r->order.id, r->der.p, r->der.len, pem ? pem : "", r->nb, r->na,
		names_txt ? names_txt : "[]");
	acme_db_cert_times(j, r->serial_hex, r->precert_at, acme_now());
	if (r->order.replaces[0]) {
		struct acme_cert_id cid;
		if (acme_ari_cert_id_parse(r->order.replaces, strlen(r->order.replaces), &cid) == 0) {
			struct tb_bytes sh = { 0 };
			if (tb_hex_encode(&sh, cid.serial, cid.serial_len) == 0 && tb_bytes_u8(&sh, 0) == 0)
				acme_db_cert_replaced(j, (const char *)sh.p, r->serial_hex);
			tb_bytes_free(&sh);
		}
	}
	free(names_txt);
	TB_INFO("acme", "issued serial %s for order %s (%zu names, profile %s)", r->serial_hex, r->order.id,
		r->csr.n_names, pr->name);
	if (acme_wjob_submit(j, finalize_answer, r))
		acme_rq_problem(r, ACME_PROB_SERVER_INTERNAL, "store unavailable");
}

/* Reserves the serial and moves the order to processing; signing follows in finalize_sign. */
static int finalize_commit(struct acme_rq *r)
{
	struct acme_svc *s = r->s;
	struct acme_wjob *j = acme_wjob_new(s);
	/* Certificates per registered domain (approximated by the last two labels). */
	for (size_t i = 0; i < r->csr.n_names; i++) {
		if (r->csr.names[i].type != ACME_IDENT_DNS)
			continue;
		const char *v = r->csr.names[i].value, *dot = NULL, *last = NULL;
		for (const char *c = v; *c; c++)
			if (*c == '.') {
				dot = last;
				last = c;
			}
		char key[300];
		snprintf(key, sizeof key, "certs:%s", dot ? dot + 1 : v);
		int64_t wait = r->order.replaces[0] ? 0 : acme_db_rate_take(r->s, j, key, s->rl_certs_per_domain, 7 * 86400);
		if (wait) {
			acme_wjob_abort(j); /* the tokens taken for the names before this one go back */
			return acme_rq_rate_limited(r, wait, "certificates for this registered domain");
		}
	}
	acme_db_order_processing(j, r->order.id, r->serial_hex, r->acct.id, acme_now());
	if (acme_wjob_submit(j, finalize_sign, r))
		return acme_rq_problem(r, ACME_PROB_SERVER_INTERNAL, "store unavailable");
	return 0;
}

/*
 * CAA is re-checked at finalize for authorizations validated more than
 * caa_recheck seconds ago (Boulder: 7 hours), one after the other.
 */
static void finalize_caa_next(struct acme_rq *r);

static void finalize_caa_done(int err, const struct acme_problem *p, void *arg)
{
	struct acme_rq *r = arg;
	if (err) {
		struct acme_problem q;
		memset(&q, 0, sizeof q);
		if (p)
			q = *p;
		else
			acme_problem_set(&q, ACME_PROB_CAA, "CAA re-check failed");
		acme_rq_problem_doc(r, &q);
		return;
	}
	r->caa_idx++;
	finalize_caa_next(r);
}

static void finalize_caa_next(struct acme_rq *r)
{
	while (r->caa_idx < r->n_caa) {
		struct acme_authz *z = &r->caa[r->caa_idx];
		if (z->validated >= acme_now() - r->s->caa_recheck) {
			r->caa_idx++;
			continue;
		}
		char *method = acme_db_valid_chall_type(r->s, r->a, z->id);
		struct acme_identifier id;
		memset(&id, 0, sizeof id);
		id.type = strcmp(z->ident_type, "ip") == 0 ? ACME_IDENT_IP : ACME_IDENT_DNS;
		snprintf(id.value, sizeof id.value, "%s", z->ident_value);
		TB_INFO("acme", "order %s: re-checking CAA for %s", r->order.id, id.value);
		if (acme_caa_check(r->s, &id, z->wildcard, r->jws.kid, method ? method : "", finalize_caa_done, r))
			acme_rq_problem(r, ACME_PROB_SERVER_INTERNAL, "CAA re-check could not start");
		return;
	}
	finalize_commit(r);
}

int acme_handle_finalize(struct tb_http_request *req, void *svc)
{
	struct acme_rq *r = acme_rq_new(svc, req);
	if (!r)
		return TB_ERR_NOMEM;
	const char *id = acme_rq_path_id(r);
	if (!id)
		return acme_rq_no_resource(r);
	struct acme_svc *s = r->s;
	struct acme_problem p;
	memset(&p, 0, sizeof p);
	if (acme_rq_authenticate(r, 0, &p))
		return acme_rq_problem_doc(r, &p);
	int rc;
	if (acme_rq_get_order(r, id, &r->order, &rc))
		return rc;
	const char *st = acme_db_order_status(s, r->a, &r->order);
	if (strcmp(st, "ready") != 0)
		return acme_rq_problem(r, ACME_PROB_ORDER_NOT_READY, "Order's status (\"%s\") is not acceptable for finalization", st);
	if (!r->payload)
		return acme_rq_problem(r, ACME_PROB_MALFORMED, "finalize needs a JSON payload");
	const cJSON *csr = cJSON_GetObjectItemCaseSensitive(r->payload, "csr");
	if (!cJSON_IsString(csr))
		return acme_rq_problem(r, ACME_PROB_MALFORMED, "finalize payload needs a csr");
	struct tb_bytes der = { 0 };
	if (strlen(csr->valuestring) > 2 * ACME_CSR_MAX_DER || tb_base64url_decode(&der, csr->valuestring, strlen(csr->valuestring))) {
		tb_bytes_free(&der);
		return acme_rq_problem(r, ACME_PROB_MALFORMED, "Error decoding Base64url-encoded CSR");
	}
	int err = acme_csr_parse(der.p, der.len, &r->csr, &p);
	tb_bytes_free(&der);
	r->have_csr = 1;
	if (err)
		return acme_rq_problem_doc(r, &p);
	cJSON *ids = cJSON_Parse(r->order.identifiers);
	struct acme_identifier oid[ACME_MAX_ORDER_NAMES];
	size_t n = 0;
	const cJSON *it;
	cJSON_ArrayForEach(it, ids) {
		if (n == ACME_MAX_ORDER_NAMES)
			break;
		const cJSON *t = cJSON_GetObjectItemCaseSensitive(it, "type");
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(it, "value");
		if (!cJSON_IsString(t) || !cJSON_IsString(v))
			continue;
		oid[n].type = acme_ident_type_parse(t->valuestring) == ACME_IDENT_IP ? ACME_IDENT_IP : ACME_IDENT_DNS;
		snprintf(oid[n].value, sizeof oid[n].value, "%s", v->valuestring);
		n++;
	}
	cJSON_Delete(ids);
	if (acme_csr_match_order(&r->csr, oid, n, &p))
		return acme_rq_problem_doc(r, &p);
	if (!acme_key_differs(tb_pkey_mbedtls(r->csr.key), tb_pkey_mbedtls(acme_key_pkey(r->key))))
		return acme_rq_problem(r, ACME_PROB_BAD_CSR, "certificate public key must be different than account key");
	r->profile = acme_find_profile(s, r->order.profile);
	if (!r->profile)
		r->profile = &s->profiles[s->default_profile];
	if ((int)r->csr.n_names > r->profile->max_names)
		return acme_rq_problem(r, ACME_PROB_BAD_CSR, "too many names for profile %s", r->profile->name);
	/* Serial: ACME_SERIAL_BYTES random bytes, positive, first byte nonzero. */
	if (tb_random(r->serial, sizeof r->serial))
		return acme_rq_problem(r, ACME_PROB_SERVER_INTERNAL, "no randomness");
	r->serial[0] = (uint8_t)((r->serial[0] & 0x7f) | 0x01);
	for (size_t i = 0; i < ACME_SERIAL_BYTES; i++)
		snprintf(r->serial_hex + 2 * i, 3, "%02x", r->serial[i]);
	r->nb = acme_now() - 3600;
	r->na = r->nb + r->profile->validity - 1;
	r->caa = tb_arena_calloc(r->a, sizeof *r->caa * ACME_MAX_ORDER_NAMES);
	if (!r->caa || acme_db_load_order_authzs(s, r->a, r->order.id, r->caa, ACME_MAX_ORDER_NAMES, &r->n_caa))
		return acme_rq_problem(r, ACME_PROB_SERVER_INTERNAL, "failed to read the authorizations");
	r->caa_idx = 0;
	finalize_caa_next(r);
	return TB_HTTP_LATER;
}

