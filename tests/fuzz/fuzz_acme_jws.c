/*
 * Fuzzes the ACME request path: a request body through acme_jws_parse and,
 * when it parses, verification with its own key, the url check and (when
 * the payload is a newAccount-like object with externalAccountBinding) the
 * EAB parser. Also feeds the raw input to the JWK, identifier and ARI
 * CertID parsers.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "acme/acme.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct acme_problem prob = { 0 };
	struct acme_jws jws;
	if (acme_jws_parse(data, size, &jws, &prob) == 0) {
		acme_jws_verify(&jws, NULL, &prob);
		acme_jws_check_url(&jws, "https://127.0.0.1:14000/acme/new-acct", &prob);
		cJSON *pl = cJSON_ParseWithLength((const char *)jws.payload, jws.payload_len);
		const cJSON *eab = cJSON_GetObjectItemCaseSensitive(pl, "externalAccountBinding");
		if (eab) {
			struct acme_eab e;
			if (acme_eab_parse(eab, &e, &prob) == 0) {
				static const uint8_t key[32] = { 1 };
				acme_eab_verify(&e, key, sizeof key, jws.url, jws.key, &prob);
			}
			acme_eab_free(&e);
		}
		if (cJSON_GetObjectItemCaseSensitive(pl, "protected")) { /* keyChange inner JWS */
			struct acme_jws inner;
			if (acme_jws_parse_inner(pl, &inner, &prob) == 0)
				acme_jws_verify(&inner, NULL, &prob);
			acme_jws_free(&inner);
		}
		cJSON_Delete(pl);
		char *r = acme_problem_render(&prob);
		free(r);
	}
	acme_jws_free(&jws);

	struct acme_key *key = NULL;
	if (size <= 8192 && acme_key_from_jwk_json((const char *)data, size, &key, &prob) == 0)
		acme_key_thumbprint(key);
	acme_key_free(key);

	struct acme_identifier id;
	acme_identifier_check(ACME_IDENT_DNS, (const char *)data, size, 1, 1, 1, &id, &prob);
	acme_identifier_check(ACME_IDENT_IP, (const char *)data, size, 1, 1, 0, &id, &prob);

	struct acme_cert_id cid;
	if (acme_ari_cert_id_parse((const char *)data, size, &cid) == 0) {
		char s[ACME_ARI_MAX_CERT_ID + 1];
		acme_ari_cert_id_format(&cid, s, sizeof s);
	}
	return 0;
}
