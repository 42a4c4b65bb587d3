/*
 * The ACME service's configuration: the option tables of the `acme {}`
 * section (checked by core/config.c, documented by `trustbox config doc`)
 * and acme_configure, which turns the checked tree into struct acme_svc.
 */
#include "acme/svc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/error.h"

static const struct tb_option profile_options[] = {
	{ "name", TB_OPT_STRING, NULL, "profile name as clients ask for it in newOrder", .required = 1 },
	{ "description", TB_OPT_STRING, "\"\"", "one line shown in the directory's meta.profiles" },
	{ "validity_seconds", TB_OPT_INT, "7776000", "certificate lifetime", 3600, 398 * 86400.0 },
	{ "common_name", TB_OPT_BOOL, "true", "copy the CSR's CN (or the first name) into the subject" },
	{ "max_names", TB_OPT_INT, "100", "identifiers per order", 1, ACME_MAX_ORDER_NAMES },
	{ "allow_ip", TB_OPT_BOOL, "false", "IP address identifiers (RFC 8738) allowed" },
	{ "authz_reuse_seconds", TB_OPT_INT, "2592000", "how long a valid authorization is reused for new orders", 0, 398 * 86400.0 },
	TB_OPTIONS_END
};

#define PROFILES_DEFAULT                                                                                  \
	"[{\"name\":\"classic\",\"description\":\"90-day certificates with a CN\",\"validity_seconds\":7776000," \
	"\"common_name\":true,\"max_names\":100,\"allow_ip\":false,\"authz_reuse_seconds\":2592000},"          \
	"{\"name\":\"tlsserver\",\"description\":\"45-day certificates, no CN, at most 25 names\","             \
	"\"validity_seconds\":3888000,\"common_name\":false,\"max_names\":25,\"allow_ip\":false,"              \
	"\"authz_reuse_seconds\":604800},"                                                                      \
	"{\"name\":\"shortlived\",\"description\":\"160-hour certificates, IP addresses allowed\","             \
	"\"validity_seconds\":576000,\"common_name\":false,\"max_names\":25,\"allow_ip\":true,"                \
	"\"authz_reuse_seconds\":0}]"

static const struct tb_option rate_options[] = {
	{ "new_orders_per_account_per_hour", TB_OPT_INT, "300", "newOrder requests per account (0 = no limit)", 0, 1e9 },
	{ "new_accounts_per_ip_per_hour", TB_OPT_INT, "50", "newAccount creations per client IP (0 = no limit)", 0, 1e9 },
	{ "certificates_per_domain_per_week", TB_OPT_INT, "50", "certificates per registered domain (0 = no limit)", 0, 1e9 },
	{ "failed_validations_per_identifier_per_hour", TB_OPT_INT, "5", "failed validations per identifier (0 = no limit)", 0, 1e9 },
	TB_OPTIONS_END
};

static const struct tb_option acme_options[] = {
	{ "enabled", TB_OPT_BOOL, "true", "run the ACME CA" },
	{ "listener", TB_OPT_STRING, "\"https\"", "listener serving ACME (\"\" = every listener)" },
	{ "directory_path", TB_OPT_STRING, "\"/dir\"", "path of the directory resource" },
	{ "path_prefix", TB_OPT_STRING, "\"/acme/\"", "path prefix of every other ACME resource" },
	{ "profiles", TB_OPT_TABLES, PROFILES_DEFAULT, "certificate profiles (given profiles replace the defaults)",
		.children = profile_options },
	{ "default_profile", TB_OPT_STRING, "\"classic\"", "profile of orders that name none" },
	{ "http01_port", TB_OPT_INT, "5002", "port http-01 validation connects to (80 outside the lab)", 1, 65535 },
	{ "tlsalpn01_port", TB_OPT_INT, "5001", "port tls-alpn-01 validation connects to (443 outside the lab)", 1, 65535 },
	{ "policy", TB_OPT_ENUM, "\"lab\"", "lab: any target address allowed by design (loopback/private included), lab "
		"domains dial 127.0.0.1; strict: reserved targets refused on every hop, for anything reachable from outside",
		.choices = "lab|strict" },
	{ "lab_domains", TB_OPT_STRINGS, "[\"lab.test\"]", "names under these domains are dialled at 127.0.0.1 "
		"when no resolver answers for them (lab policy only)" },
	{ "eab_keys", TB_OPT_MAP, "{}", "External Account Binding: key id -> base64url HMAC key" },
	{ "external_account_required", TB_OPT_BOOL, "false", "newAccount must carry an externalAccountBinding" },
	{ "caa_identities", TB_OPT_STRINGS, "[\"trustbox\",\"trustbox.test\"]",
		"issuer domain names this CA recognises in CAA records (the first is shown in the directory)" },
	{ "terms_of_service", TB_OPT_STRING, "\"https://trustbox.test/acme/terms\"", "meta.termsOfService" },
	{ "website", TB_OPT_STRING, "\"https://trustbox.test/\"", "meta.website" },
	{ "rate_limits", TB_OPT_TABLE, "{}", "token-bucket rate limits", .children = rate_options },
	{ "order_lifetime_seconds", TB_OPT_INT, "604800", "how long a pending order lives", 1, 30 * 86400.0 },
	{ "authz_lifetime_seconds", TB_OPT_INT, "604800", "how long a pending authorization lives", 1, 30 * 86400.0 },
	{ "authz_valid_seconds", TB_OPT_INT, "2592000", "how long a valid authorization stays valid", 60, 398 * 86400.0 },
	{ "caa_recheck_seconds", TB_OPT_INT, "25200", "finalize re-checks CAA for authorizations validated longer ago", 0, 30 * 86400.0 },
	{ "validation_timeout_ms", TB_OPT_INT, "10000", "deadline of one validation connection", 100, 120000 },
	{ "max_validations", TB_OPT_INT, "100", "validations running at once; more wait in the queue", 1, 100000 },
	{ "max_validations_per_account", TB_OPT_INT, "10", "validations of one account running at once", 1, 100000 },
	{ "max_queued_validations", TB_OPT_INT, "1000", "validations waiting for a slot; a challenge POST beyond "
		"this is answered rateLimited", 0, 1000000 },
	{ "lab_reject_nonce_fraction", TB_OPT_NUMBER, "0", "lab switch: refuse this fraction of valid nonces with badNonce", 0, 1 },
	{ "lab_validation_delay_ms", TB_OPT_INT, "0", "lab switch: wait this long before validating", 0, 600000 },
	{ "lab_always_valid", TB_OPT_BOOL, "false", "lab switch: treat every challenge as valid without connecting" },
	TB_OPTIONS_END
};

static const struct tb_section_def acme_section = { "acme", acme_options, 0,
	"ACME certificate authority (RFC 8555) issuing from the appliance's intermediate" };
const struct tb_section_def *const acme_sections[] = { &acme_section, NULL };

#define CFG_ERR(...) (snprintf(err, errlen, __VA_ARGS__), TB_ERR_CONFIG)

int acme_configure(struct tb_core *core, void **state, char *err, size_t errlen)
{
	const cJSON *sec = tb_config_section(core->config, "acme");
	*state = NULL;
	if (!tb_cfg_bool(sec, "enabled"))
		return 0;
	struct acme_svc *s = calloc(1, sizeof *s);
	if (!s)
		return TB_ERR_NOMEM;
	s->core = core;
	int rc = 0;
	const char *v = tb_cfg_str(sec, "listener");
	if (strlen(v) >= sizeof s->listener)
		rc = CFG_ERR("acme.listener: too long");
	snprintf(s->listener, sizeof s->listener, "%s", v);
	v = tb_cfg_str(sec, "directory_path");
	if (!rc && (v[0] != '/' || strlen(v) >= sizeof s->dir_path || v[strlen(v) - 1] == '/'))
		rc = CFG_ERR("acme.directory_path: must start with '/', not end with '/', and be short, got \"%s\"", v);
	snprintf(s->dir_path, sizeof s->dir_path, "%s", v);
	v = tb_cfg_str(sec, "path_prefix");
	if (!rc && (v[0] != '/' || strlen(v) < 2 || strlen(v) >= sizeof s->prefix || v[strlen(v) - 1] != '/'))
		rc = CFG_ERR("acme.path_prefix: must start and end with '/', got \"%s\"", v);
	snprintf(s->prefix, sizeof s->prefix, "%s", v);
	const cJSON *it;
	cJSON_ArrayForEach(it, tb_cfg_get(sec, "profiles")) {
		if (rc)
			break;
		if (s->n_profiles == ACME_MAX_PROFILES) {
			rc = CFG_ERR("acme.profiles: at most %d profiles", ACME_MAX_PROFILES);
			break;
		}
		struct acme_profile *p = &s->profiles[s->n_profiles];
		const char *name = tb_cfg_str(it, "name");
		if (!name || !name[0] || strlen(name) >= sizeof p->name || acme_find_profile(s, name)) {
			rc = CFG_ERR("acme.profiles[%zu].name: empty, too long or duplicate", s->n_profiles + 1);
			break;
		}
		snprintf(p->name, sizeof p->name, "%s", name);
		snprintf(p->description, sizeof p->description, "%s", tb_cfg_str(it, "description"));
		p->validity = tb_cfg_int(it, "validity_seconds");
		p->common_name = tb_cfg_bool(it, "common_name");
		p->max_names = (int)tb_cfg_int(it, "max_names");
		p->allow_ip = tb_cfg_bool(it, "allow_ip");
		p->reuse = tb_cfg_int(it, "authz_reuse_seconds");
		s->n_profiles++;
	}
	if (!rc && s->n_profiles == 0)
		rc = CFG_ERR("acme.profiles: at least one profile is needed");
	v = tb_cfg_str(sec, "default_profile");
	if (!rc) {
		const struct acme_profile *dp = acme_find_profile(s, v);
		if (!dp)
			rc = CFG_ERR("acme.default_profile: \"%s\" is not one of the profiles", v);
		else
			s->default_profile = (size_t)(dp - s->profiles);
	}
	s->http01_port = (int)tb_cfg_int(sec, "http01_port");
	s->tlsalpn01_port = (int)tb_cfg_int(sec, "tlsalpn01_port");
	s->strict = strcmp(tb_cfg_str(sec, "policy"), "strict") == 0;
	cJSON_ArrayForEach(it, tb_cfg_get(sec, "lab_domains")) {
		if (rc)
			break;
		char norm[ACME_MAX_IDENT_LEN + 1];
		if (s->n_lab_domains == ACME_MAX_LAB_DOMAINS ||
			acme_dns_normalize(it->valuestring, strlen(it->valuestring), norm, sizeof norm)) {
			rc = CFG_ERR("acme.lab_domains: too many or too long (\"%s\")", it->valuestring);
			break;
		}
		snprintf(s->lab_domains[s->n_lab_domains++], ACME_MAX_IDENT_LEN + 1, "%s", norm);
	}
	cJSON_ArrayForEach(it, tb_cfg_get(sec, "eab_keys")) {
		if (rc)
			break;
		struct tb_bytes k = { 0 };
		if (s->n_eab == ACME_MAX_EAB_KEYS || strlen(it->string) >= sizeof s->eab[0].kid || !cJSON_IsString(it) ||
			tb_base64url_decode(&k, it->valuestring, strlen(it->valuestring)) || k.len == 0 || k.len > ACME_EAB_MAX_KEY) {
			tb_bytes_free(&k);
			rc = CFG_ERR("acme.eab_keys[\"%s\"]: needs a base64url HMAC key of 1..%d bytes", it->string, ACME_EAB_MAX_KEY);
			break;
		}
		snprintf(s->eab[s->n_eab].kid, sizeof s->eab[0].kid, "%s", it->string);
		memcpy(s->eab[s->n_eab].key, k.p, k.len);
		s->eab[s->n_eab].len = k.len;
		s->n_eab++;
		tb_bytes_free(&k);
	}
	s->eab_required = tb_cfg_bool(sec, "external_account_required");
	if (!rc && s->eab_required && s->n_eab == 0)
		rc = CFG_ERR("acme.external_account_required: true, but acme.eab_keys is empty");
	cJSON_ArrayForEach(it, tb_cfg_get(sec, "caa_identities")) {
		if (rc)
			break;
		if (s->n_caa_ids == ACME_MAX_CAA_IDS || strlen(it->valuestring) >= sizeof s->caa_ids[0] || !it->valuestring[0]) {
			rc = CFG_ERR("acme.caa_identities: at most %d non-empty names", ACME_MAX_CAA_IDS);
			break;
		}
		snprintf(s->caa_ids[s->n_caa_ids++], sizeof s->caa_ids[0], "%s", it->valuestring);
	}
	snprintf(s->tos, sizeof s->tos, "%s", tb_cfg_str(sec, "terms_of_service"));
	snprintf(s->website, sizeof s->website, "%s", tb_cfg_str(sec, "website"));
	const cJSON *rl = tb_cfg_get(sec, "rate_limits");
	s->rl_orders_per_account = tb_cfg_int(rl, "new_orders_per_account_per_hour");
	s->rl_accounts_per_ip = tb_cfg_int(rl, "new_accounts_per_ip_per_hour");
	s->rl_certs_per_domain = tb_cfg_int(rl, "certificates_per_domain_per_week");
	s->rl_failed_per_ident = tb_cfg_int(rl, "failed_validations_per_identifier_per_hour");
	s->order_lifetime = tb_cfg_int(sec, "order_lifetime_seconds");
	s->authz_lifetime = tb_cfg_int(sec, "authz_lifetime_seconds");
	s->authz_valid_lifetime = tb_cfg_int(sec, "authz_valid_seconds");
	s->validation_timeout_ms = (uint64_t)tb_cfg_int(sec, "validation_timeout_ms");
	s->max_validations = tb_cfg_int(sec, "max_validations");
	s->max_validations_per_account = tb_cfg_int(sec, "max_validations_per_account");
	s->max_queued_validations = tb_cfg_int(sec, "max_queued_validations");
	s->lab_reject_nonces = tb_cfg_num(sec, "lab_reject_nonce_fraction");
	s->lab_delay_ms = tb_cfg_int(sec, "lab_validation_delay_ms");
	s->lab_always_valid = tb_cfg_bool(sec, "lab_always_valid");
	s->caa_recheck = tb_cfg_int(sec, "caa_recheck_seconds");
	if (!rc && s->strict && (s->lab_always_valid || s->lab_reject_nonces > 0 || s->lab_delay_ms > 0))
		rc = CFG_ERR("acme.policy: \"strict\" cannot be combined with lab switches (lab_*)");
	if (!rc && acme_nonces_new(&s->nonces, 0))
		rc = TB_ERR_NOMEM;
	if (rc) {
		acme_nonces_free(s->nonces);
		free(s);
		return rc;
	}
	*state = s;
	return 0;
}

