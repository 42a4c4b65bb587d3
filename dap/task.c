/*
 * Task records. A task is written the same way everywhere: as a Lua table
 * in `dap { tasks = { ... } }`, as the JSON record in the store, and (later)
 * by the CLI and the interop API. One option table describes it, so the
 * configuration checks, `trustbox config doc` and the store's records agree;
 * dap_task_from_json checks what the option table cannot (lengths of ids
 * and keys, the VDAF's parameters, the query type's fields).
 */
#include "dap/dap_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/crypto.h"
#include "core/error.h"

const struct tb_option dap_task_options[] = {
	{ .name = "id", .type = TB_OPT_STRING, .required = 1,
		.help = "task id: 32 bytes, base64url without padding" },
	{ .name = "role", .type = TB_OPT_ENUM, .def = "\"both\"", .choices = "both|leader|helper",
		.help = "which of this instance's aggregators take part (both: the task is provisioned on the leader and on the helper)" },
	{ .name = "vdaf", .type = TB_OPT_ENUM, .required = 1, .choices = "count|sum|sumvec|histogram",
		.help = "Prio3 variant (VDAF-08)" },
	{ .name = "bits", .type = TB_OPT_INT, .def = "0", .min = 0, .max = 64,
		.help = "sum, sumvec: bits per measurement element" },
	{ .name = "length", .type = TB_OPT_INT, .def = "0", .min = 0, .max = 1000000,
		.help = "sumvec: vector length; histogram: number of buckets" },
	{ .name = "chunk_length", .type = TB_OPT_INT, .def = "0", .min = 0, .max = 65536,
		.help = "sumvec, histogram: FLP chunk length (0: the square root of the circuit's size)" },
	{ .name = "query", .type = TB_OPT_ENUM, .def = "\"time_interval\"", .choices = "time_interval|fixed_size",
		.help = "DAP-09 query type" },
	{ .name = "max_batch_size", .type = TB_OPT_INT, .def = "0", .min = 0, .max = 1e15,
		.help = "fixed_size: reports per batch at most (0: no maximum)" },
	{ .name = "min_batch_size", .type = TB_OPT_INT, .def = "10", .min = 1, .max = 1e15,
		.help = "reports a batch needs before it can be collected" },
	{ .name = "max_batch_query_count", .type = TB_OPT_INT, .def = "1", .min = 1, .max = 1000,
		.help = "how many times a batch may be collected" },
	{ .name = "time_precision", .type = TB_OPT_INT, .def = "3600", .min = 1, .max = 31536000,
		.help = "report timestamps are rounded down to this many seconds; batch intervals align to it" },
	{ .name = "task_expiration", .type = TB_OPT_INT, .def = "0", .min = 0, .max = 1e12,
		.help = "Unix time after which reports are refused (0: never)" },
	{ .name = "tolerable_clock_skew", .type = TB_OPT_INT, .def = "60", .min = 0, .max = 86400,
		.help = "seconds a report's time may be ahead of this aggregator's clock" },
	{ .name = "report_expiry_age", .type = TB_OPT_INT, .def = "0", .min = 0, .max = 1e10,
		.help = "seconds after which a report is too old to accept (0: no limit)" },
	{ .name = "verify_key", .type = TB_OPT_STRING, .required = 1,
		.help = "VDAF verify key shared by leader and helper: 16 bytes, base64url" },
	{ .name = "leader_url", .type = TB_OPT_STRING, .def = "\"\"",
		.help = "leader's base URL (default: this instance's /dap/leader/)" },
	{ .name = "helper_url", .type = TB_OPT_STRING, .def = "\"\"",
		.help = "helper's base URL (default: this instance's /dap/helper/)" },
	{ .name = "aggregator_auth_token", .type = TB_OPT_STRING, .def = "\"\"",
		.help = "token the leader presents to the helper (DAP-Auth-Token or Bearer)" },
	{ .name = "collector_auth_token", .type = TB_OPT_STRING, .def = "\"\"",
		.help = "token the collector presents to the leader" },
	{ .name = "collector_hpke_config", .type = TB_OPT_STRING, .def = "\"\"",
		.help = "the collector's HpkeConfig, base64url; aggregate shares are sealed to it" },
	{ .name = "dp_epsilon", .type = TB_OPT_NUMBER, .def = "0", .min = 0, .max = 1000,
		.help = "differential privacy: discrete Laplace noise on aggregate shares (0: none)" },
	{ .name = "own_hpke_key", .type = TB_OPT_BOOL, .def = "false",
		.help = "give the task an HPKE key of its own (made when the task is first provisioned and kept in its record): hpke_config?task_id= announces it instead of the aggregator's configs, which still decrypt" },
	{ .name = "hpke_config_id", .type = TB_OPT_INT, .def = "0", .min = 0, .max = 255,
		.help = "the config id of the task's own HPKE key (with hpke_private_key)" },
	{ .name = "hpke_private_key", .type = TB_OPT_STRING, .def = "\"\"",
		.help = "the task's own HPKE key: an X25519 private key, 32 bytes, base64url (HKDF-SHA256, AES-128-GCM); empty: none, or one made at provisioning with own_hpke_key" },
	TB_OPTIONS_END
};

int dap_b64url(const uint8_t *p, size_t n, char *out, size_t outlen)
{
	struct tb_bytes b = { 0 };
	int rc = tb_base64url_encode(&b, p, n);
	if (!rc && b.len + 1 > outlen)
		rc = TB_ERR_TOO_LARGE;
	if (!rc) {
		memcpy(out, b.p, b.len);
		out[b.len] = 0;
	}
	tb_bytes_free(&b);
	return rc;
}

int dap_unb64url_exact(const char *s, uint8_t *out, size_t n)
{
	struct tb_bytes b = { 0 };
	if (!s)
		return TB_ERR_INVALID;
	size_t sl = strlen(s);
	if (sl > 4 * n / 3 + 4)
		return TB_ERR_INVALID;
	int rc = tb_base64url_decode(&b, s, sl);
	if (!rc && b.len != n)
		rc = TB_ERR_INVALID;
	if (!rc)
		memcpy(out, b.p, n);
	tb_bytes_free(&b);
	return rc;
}

/* A field of the record, or the option table's default when absent. */
static const cJSON *field(const cJSON *j, const char *name, cJSON **owned)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, name);
	*owned = NULL;
	if (v && !cJSON_IsNull(v))
		return v;
	for (const struct tb_option *o = dap_task_options; o->name; o++)
		if (!strcmp(o->name, name) && o->def)
			return *owned = cJSON_Parse(o->def);
	return NULL;
}

static int get_u64(const cJSON *j, const char *name, uint64_t *out, uint64_t max, char *err,
		   size_t errlen)
{
	cJSON *own;
	const cJSON *v = field(j, name, &own);
	int ok = cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble <= (double)max &&
		 v->valuedouble == floor(v->valuedouble);
	if (ok)
		*out = (uint64_t)v->valuedouble;
	cJSON_Delete(own);
	if (!ok)
		snprintf(err, errlen, "tasks[].%s: expected an integer from 0 to %llu", name,
			 (unsigned long long)max);
	return ok ? 0 : TB_ERR_CONFIG;
}

static int get_str(const cJSON *j, const char *name, char *out, size_t outlen, char *err,
		   size_t errlen)
{
	cJSON *own;
	const cJSON *v = field(j, name, &own);
	int ok = cJSON_IsString(v) && strlen(v->valuestring) < outlen;
	if (ok)
		memcpy(out, v->valuestring, strlen(v->valuestring) + 1);
	cJSON_Delete(own);
	if (!ok)
		snprintf(err, errlen, "tasks[].%s: expected a string of at most %zu characters", name,
			 outlen - 1);
	return ok ? 0 : TB_ERR_CONFIG;
}

static const struct {
	const char *name;
	enum dap_vdaf_type type;
} vdafs[] = {
	{ "count", DAP_PRIO3_COUNT },
	{ "sum", DAP_PRIO3_SUM },
	{ "sumvec", DAP_PRIO3_SUMVEC },
	{ "histogram", DAP_PRIO3_HISTOGRAM },
};

/* Tokens go into HTTP headers: visible ASCII only. */
static int token_ok(const char *s)
{
	for (; *s; s++)
		if (*s <= ' ' || *s >= 0x7f)
			return 0;
	return 1;
}

int dap_task_from_json(const cJSON *j, struct dap_task *t, char *err, size_t errlen)
{
	char buf[DAP_MAX_URL], role[16];
	uint64_t bits, length, chunk;
	memset(t, 0, sizeof(*t));
	if (!cJSON_IsObject(j)) {
		snprintf(err, errlen, "tasks[]: expected a table");
		return TB_ERR_CONFIG;
	}
	if (get_str(j, "id", buf, sizeof buf, err, errlen))
		return TB_ERR_CONFIG;
	if (dap_unb64url_exact(buf, t->id, DAP_TASK_ID_LEN)) {
		snprintf(err, errlen, "tasks[].id: expected 32 bytes in base64url without padding");
		return TB_ERR_CONFIG;
	}
	char idtxt[64];
	dap_b64url(t->id, DAP_TASK_ID_LEN, idtxt, sizeof idtxt);
#define FAIL(...)                                                   \
	do {                                                        \
		char m_[256];                                       \
		snprintf(m_, sizeof m_, __VA_ARGS__);               \
		snprintf(err, errlen, "tasks[%s].%s", idtxt, m_);   \
		return TB_ERR_CONFIG;                               \
	} while (0)
	if (get_str(j, "role", role, sizeof role, err, errlen))
		return TB_ERR_CONFIG;
	t->role = !strcmp(role, "helper") ? DAP_AGG_HELPER : DAP_AGG_LEADER;
	if (get_str(j, "vdaf", buf, sizeof buf, err, errlen))
		return TB_ERR_CONFIG;
	t->vdaf_name = NULL;
	for (size_t i = 0; i < sizeof vdafs / sizeof vdafs[0]; i++)
		if (!strcmp(buf, vdafs[i].name)) {
			t->vdaf_name = vdafs[i].name;
			t->vdaf_type = vdafs[i].type;
		}
	if (!t->vdaf_name)
		FAIL("vdaf: expected count, sum, sumvec or histogram, got '%s'", buf);
	if (get_u64(j, "bits", &bits, 64, err, errlen) ||
	    get_u64(j, "length", &length, 1000000, err, errlen) ||
	    get_u64(j, "chunk_length", &chunk, 65536, err, errlen))
		return TB_ERR_CONFIG;
	t->params.shares = 2;
	t->params.bits = (unsigned)bits;
	t->params.length = (unsigned)length;
	t->params.chunk_length = (unsigned)chunk;
	if (t->vdaf_type == DAP_PRIO3_SUM || t->vdaf_type == DAP_PRIO3_SUMVEC) {
		if (bits < 1)
			FAIL("bits: %s needs bits from 1 to 64", t->vdaf_name);
	}
	if (t->vdaf_type == DAP_PRIO3_SUMVEC || t->vdaf_type == DAP_PRIO3_HISTOGRAM) {
		if (length < 1)
			FAIL("length: %s needs a length of at least 1", t->vdaf_name);
		if (chunk == 0) {
			/* The usual choice: about the square root of the circuit's calls. */
			uint64_t n = t->vdaf_type == DAP_PRIO3_SUMVEC ? length * bits : length;
			uint64_t c = 1;
			while (c * c < n)
				c++;
			t->params.chunk_length = (unsigned)c;
		}
	}
	if (dap_vdaf_init(&t->vdaf, t->vdaf_type, &t->params))
		FAIL("vdaf: the parameters do not make a valid %s (bits %u, length %u, chunk_length %u)",
		     t->vdaf_name, t->params.bits, t->params.length, t->params.chunk_length);
	if (get_str(j, "query", buf, sizeof buf, err, errlen))
		return TB_ERR_CONFIG;
	if (!strcmp(buf, "time_interval"))
		t->query_type = DAP_QUERY_TIME_INTERVAL;
	else if (!strcmp(buf, "fixed_size"))
		t->query_type = DAP_QUERY_FIXED_SIZE;
	else
		FAIL("query: expected time_interval or fixed_size, got '%s'", buf);
	if (get_u64(j, "max_batch_size", &t->max_batch_size, 1000000000000000ull, err, errlen) ||
	    get_u64(j, "min_batch_size", &t->min_batch_size, 1000000000000000ull, err, errlen) ||
	    get_u64(j, "max_batch_query_count", &t->max_batch_query_count, 1000, err, errlen) ||
	    get_u64(j, "time_precision", &t->time_precision, 31536000, err, errlen) ||
	    get_u64(j, "task_expiration", &t->task_expiration, 1000000000000ull, err, errlen) ||
	    get_u64(j, "tolerable_clock_skew", &t->tolerable_clock_skew, 86400, err, errlen) ||
	    get_u64(j, "report_expiry_age", &t->report_expiry_age, 10000000000ull, err, errlen))
		return TB_ERR_CONFIG;
	if (t->min_batch_size < 1)
		FAIL("min_batch_size: must be at least 1");
	if (t->max_batch_query_count < 1)
		FAIL("max_batch_query_count: must be at least 1");
	if (t->time_precision < 1)
		FAIL("time_precision: must be at least 1 second");
	if (t->query_type == DAP_QUERY_FIXED_SIZE && t->max_batch_size &&
	    t->max_batch_size < t->min_batch_size)
		FAIL("max_batch_size: smaller than min_batch_size");
	if (get_str(j, "verify_key", buf, sizeof buf, err, errlen))
		return TB_ERR_CONFIG;
	if (dap_unb64url_exact(buf, t->verify_key, sizeof t->verify_key))
		FAIL("verify_key: expected 16 bytes in base64url without padding");
	if (get_str(j, "leader_url", t->leader_url, sizeof t->leader_url, err, errlen) ||
	    get_str(j, "helper_url", t->helper_url, sizeof t->helper_url, err, errlen) ||
	    get_str(j, "aggregator_auth_token", t->aggregator_auth_token,
		    sizeof t->aggregator_auth_token, err, errlen) ||
	    get_str(j, "collector_auth_token", t->collector_auth_token,
		    sizeof t->collector_auth_token, err, errlen))
		return TB_ERR_CONFIG;
	if (!token_ok(t->aggregator_auth_token) || !token_ok(t->collector_auth_token))
		FAIL("auth tokens: visible ASCII characters only");
	if (get_str(j, "collector_hpke_config", buf, sizeof buf, err, errlen))
		return TB_ERR_CONFIG;
	if (*buf) {
		struct tb_bytes b = { 0 };
		struct dap_hpke_config c;
		int rc = tb_base64url_decode(&b, buf, strlen(buf));
		if (!rc && b.len > sizeof t->collector_config)
			rc = TB_ERR_TOO_LARGE;
		if (!rc)
			rc = dap_hpke_config_decode(tb_bytes_buf(&b), &c);
		if (!rc)
			rc = dap_hpke_config_check(&c);
		if (!rc) {
			memcpy(t->collector_config, b.p, b.len);
			t->collector_config_len = b.len;
		}
		tb_bytes_free(&b);
		if (rc)
			FAIL("collector_hpke_config: expected a supported HpkeConfig in base64url");
	}
	cJSON *own;
	const cJSON *eps = field(j, "dp_epsilon", &own);
	t->dp_epsilon = cJSON_IsNumber(eps) ? eps->valuedouble : -1;
	cJSON_Delete(own);
	if (!(t->dp_epsilon >= 0 && t->dp_epsilon <= 1000))
		FAIL("dp_epsilon: expected a number from 0 to 1000");
	const cJSON *own_key = field(j, "own_hpke_key", &own);
	t->own_hpke_key = cJSON_IsTrue(own_key);
	int bool_ok = cJSON_IsBool(own_key);
	cJSON_Delete(own);
	if (!bool_ok)
		FAIL("own_hpke_key: expected true or false");
	uint64_t config_id;
	if (get_u64(j, "hpke_config_id", &config_id, 255, err, errlen) ||
	    get_str(j, "hpke_private_key", buf, sizeof buf, err, errlen))
		return TB_ERR_CONFIG;
	if (*buf) {
		uint8_t sk[32];
		int rc = dap_unb64url_exact(buf, sk, sizeof sk);
		if (!rc)
			rc = dap_hpke_keypair_from_sk(DAP_HPKE_KEM_X25519_SHA256, TB_BUF(sk, sizeof sk), &t->own_kp);
		tb_crypto_wipe(sk, sizeof sk);
		tb_crypto_wipe(buf, sizeof buf);
		if (rc)
			FAIL("hpke_private_key: expected an X25519 private key, 32 bytes in base64url");
		t->has_own_key = 1;
		t->own_hpke_key = 1;
		t->own_config_id = (uint8_t)config_id;
	}
#undef FAIL
	return 0;
}

cJSON *dap_task_to_json(const struct dap_task *t)
{
	char b[1024];
	cJSON *j = cJSON_CreateObject();
	if (!j)
		return NULL;
	dap_b64url(t->id, DAP_TASK_ID_LEN, b, sizeof b);
	cJSON_AddStringToObject(j, "id", b);
	cJSON_AddStringToObject(j, "role", t->role == DAP_AGG_HELPER ? "helper" : "leader");
	cJSON_AddStringToObject(j, "vdaf", t->vdaf_name);
	cJSON_AddNumberToObject(j, "bits", t->params.bits);
	cJSON_AddNumberToObject(j, "length", t->params.length);
	cJSON_AddNumberToObject(j, "chunk_length", t->params.chunk_length);
	cJSON_AddStringToObject(j, "query", t->query_type == DAP_QUERY_FIXED_SIZE ? "fixed_size" :
										   "time_interval");
	cJSON_AddNumberToObject(j, "max_batch_size", (double)t->max_batch_size);
	cJSON_AddNumberToObject(j, "min_batch_size", (double)t->min_batch_size);
	cJSON_AddNumberToObject(j, "max_batch_query_count", (double)t->max_batch_query_count);
	cJSON_AddNumberToObject(j, "time_precision", (double)t->time_precision);
	cJSON_AddNumberToObject(j, "task_expiration", (double)t->task_expiration);
	cJSON_AddNumberToObject(j, "tolerable_clock_skew", (double)t->tolerable_clock_skew);
	cJSON_AddNumberToObject(j, "report_expiry_age", (double)t->report_expiry_age);
	dap_b64url(t->verify_key, sizeof t->verify_key, b, sizeof b);
	cJSON_AddStringToObject(j, "verify_key", b);
	cJSON_AddStringToObject(j, "leader_url", t->leader_url);
	cJSON_AddStringToObject(j, "helper_url", t->helper_url);
	cJSON_AddStringToObject(j, "aggregator_auth_token", t->aggregator_auth_token);
	cJSON_AddStringToObject(j, "collector_auth_token", t->collector_auth_token);
	b[0] = 0;
	if (t->collector_config_len)
		dap_b64url(t->collector_config, t->collector_config_len, b, sizeof b);
	cJSON_AddStringToObject(j, "collector_hpke_config", b);
	cJSON_AddNumberToObject(j, "dp_epsilon", t->dp_epsilon);
	cJSON_AddBoolToObject(j, "own_hpke_key", t->own_hpke_key || t->has_own_key);
	if (t->has_own_key) {
		cJSON_AddNumberToObject(j, "hpke_config_id", t->own_config_id);
		dap_b64url(t->own_kp.sk, t->own_kp.sk_len, b, sizeof b);
		cJSON_AddStringToObject(j, "hpke_private_key", b);
		tb_crypto_wipe(b, sizeof b);
	}
	return j;
}

int dap_task_make_key(struct dap_task *t, const struct dap_aggregator *agg)
{
	uint8_t id;
	int rc;
	do {
		if ((rc = tb_random(&id, 1)))
			return rc;
	} while (dap_find_key(agg, id));
	if ((rc = dap_hpke_keygen(DAP_HPKE_KEM_X25519_SHA256, &t->own_kp)))
		return rc;
	t->own_config_id = id;
	t->has_own_key = t->own_hpke_key = 1;
	return 0;
}

void dap_task_own_key(const struct dap_task *t, struct dap_hpke_key *out)
{
	memset(out, 0, sizeof *out);
	out->kp = t->own_kp;
	memcpy(out->pk, t->own_kp.pk, t->own_kp.pk_len);
	out->config = (struct dap_hpke_config){ t->own_config_id, DAP_HPKE_KEM_X25519_SHA256, DAP_HPKE_KDF_SHA256,
						DAP_HPKE_AEAD_AES128GCM, TB_BUF(out->pk, t->own_kp.pk_len) };
	out->active = 1;
}
