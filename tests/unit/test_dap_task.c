/*
 * Task records with their own HPKE key (dap/task.c): the record's
 * own_hpke_key, hpke_config_id and hpke_private_key fields read and written
 * back unchanged, a malformed key refused with the field's name, the public
 * key derived from the private one, and dap_task_make_key's config id kept
 * apart from the aggregator's own ids.
 */
#include "tb_test.h"

#include <cjson/cJSON.h>
#include <string.h>

#include "core/error.h"
#include "dap/dap_internal.h"

static cJSON *record(const char *extra)
{
	char text[1024];
	snprintf(text, sizeof text,
		 "{\"id\":\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\",\"vdaf\":\"count\","
		 "\"verify_key\":\"AAECAwQFBgcICQoLDA0ODw\"%s}", extra);
	return cJSON_Parse(text);
}

static int parse(const char *extra, struct dap_task *t, char *err, size_t errlen)
{
	cJSON *j = record(extra);
	int rc = dap_task_from_json(j, t, err, errlen);
	cJSON_Delete(j);
	return rc;
}

int main(void)
{
	struct dap_task t, u;
	char err[256];

	/* No key unless asked for. */
	CHECK_INT(parse("", &t, err, sizeof err), 0);
	CHECK(!t.own_hpke_key && !t.has_own_key);
	CHECK_INT(parse(",\"own_hpke_key\":true", &t, err, sizeof err), 0);
	CHECK(t.own_hpke_key && !t.has_own_key);
	CHECK(parse(",\"own_hpke_key\":1", &t, err, sizeof err) != 0);
	CHECK(strstr(err, "own_hpke_key") != NULL);

	/* RFC 7748 6.1: Alice's private key and its public key. */
	static const uint8_t alice_pk[32] = { 0x85, 0x20, 0xf0, 0x09, 0x89, 0x30, 0xa7, 0x54, 0x74, 0x8b, 0x7d,
					      0xdc, 0xb4, 0x3e, 0xf7, 0x5a, 0x0d, 0xbf, 0x3a, 0x0d, 0x26, 0x38,
					      0x1a, 0xf4, 0xeb, 0xa4, 0xa9, 0x8e, 0xaa, 0x9b, 0x4e, 0x6a };
	CHECK_INT(parse(",\"hpke_config_id\":7,\"hpke_private_key\":\"dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo\"",
			&t, err, sizeof err), 0);
	CHECK(t.has_own_key && t.own_hpke_key);
	CHECK_INT(t.own_config_id, 7);
	CHECK_MEM(t.own_kp.pk, t.own_kp.pk_len, alice_pk, sizeof alice_pk);
	struct dap_hpke_key k;
	dap_task_own_key(&t, &k);
	CHECK_INT(k.config.id, 7);
	CHECK_INT(k.config.kem_id, DAP_HPKE_KEM_X25519_SHA256);
	CHECK_MEM(k.config.public_key.p, k.config.public_key.len, alice_pk, sizeof alice_pk);
	CHECK(k.config.public_key.p == k.pk);

	/* Written back and read again: the same key. */
	cJSON *j = dap_task_to_json(&t);
	CHECK(j != NULL);
	CHECK_INT(dap_task_from_json(j, &u, err, sizeof err), 0);
	cJSON_Delete(j);
	CHECK(u.has_own_key);
	CHECK_INT(u.own_config_id, 7);
	CHECK_MEM(u.own_kp.sk, u.own_kp.sk_len, t.own_kp.sk, t.own_kp.sk_len);

	/* Malformed keys and ids name the field. */
	CHECK(parse(",\"hpke_private_key\":\"AAEC\"", &t, err, sizeof err) != 0);
	CHECK(strstr(err, "hpke_private_key") != NULL);
	CHECK(parse(",\"hpke_private_key\":\"!!!\"", &t, err, sizeof err) != 0);
	CHECK(parse(",\"hpke_config_id\":256,\"hpke_private_key\":\"dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo\"",
		    &t, err, sizeof err) != 0);
	CHECK(strstr(err, "hpke_config_id") != NULL);

	/* A made key never takes a config id of the aggregator's keys. */
	static struct dap_aggregator agg;
	for (size_t i = 0; i < DAP_MAX_HPKE_KEYS; i++)
		agg.keys[i].config.id = (uint8_t)i;
	agg.n_keys = DAP_MAX_HPKE_KEYS;
	for (int n = 0; n < 200; n++) {
		CHECK_INT(parse("", &t, err, sizeof err), 0);
		CHECK_INT(dap_task_make_key(&t, &agg), 0);
		CHECK(t.has_own_key && t.own_config_id >= DAP_MAX_HPKE_KEYS);
		CHECK_INT((int)t.own_kp.pk_len, 32);
	}
	return tb_test_result("dap_task");
}
