/*
 * DESIGN: the clients as commands. `trustbox dap upload` is a DAP-09 client
 * (4.4): it fetches both aggregators' HPKE configs, shards one measurement,
 * seals the two input shares and uploads the Report to the leader; it is for
 * demos and benchmarks (the real-client proof is divviup-ts).
 * `trustbox dap collect`, the collector (DAP-09 4.6) as a command:
 * creates a collection job on the leader, polls it (Retry-After) until the
 * Collection is there, opens both aggregate shares with the collector's
 * HPKE key, unshards and prints the result as JSON. Flags follow Janus's
 * `collect` where one exists; the credential file is divviup's
 * collector_credential.json (HPKE config id, algorithm names, keys in
 * base64url, the bearer token).
 *
 * The command runs on the process's loop without starting any service:
 * each request is run to its callback with UV_RUN_ONCE.
 */
#include "dap/dap_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/clock.h"
#include "core/crypto.h"
#include "core/error.h"
#include "core/http.h"

#define COLLECT_MAX_FILE (1u << 20)
#define COLLECT_MAX_RESPONSE (256u << 20)

struct call {
	int done;
	int err;
	int status;
	struct tb_bytes body;
	char content_type[128];
	long retry_after;
};

static void on_resp(int err, const struct tb_http_client_resp *resp, void *arg)
{
	struct call *c = arg;
	c->done = 1;
	c->err = err;
	if (err || !resp)
		return;
	c->status = resp->status;
	tb_bytes_append(&c->body, resp->body.p, resp->body.len);
	for (size_t i = 0; i < resp->n_headers; i++) {
		if (!strcasecmp(resp->headers[i].name, "Content-Type"))
			snprintf(c->content_type, sizeof c->content_type, "%s", resp->headers[i].value);
		if (!strcasecmp(resp->headers[i].name, "Retry-After"))
			c->retry_after = strtol(resp->headers[i].value, NULL, 10);
	}
}

static int call(uv_loop_t *loop, const struct tb_http_client_req *r, struct call *c)
{
	memset(c, 0, sizeof(*c));
	int err = tb_http_client_request(loop, r, on_resp, c);
	if (err)
		return err;
	while (!c->done)
		uv_run(loop, UV_RUN_ONCE);
	return c->err;
}

static int read_file(const char *path, struct tb_bytes *out)
{
	FILE *f = fopen(path, "rb");
	char buf[4096];
	size_t n;
	if (!f)
		return TB_ERR_IO;
	while ((n = fread(buf, 1, sizeof buf, f)) > 0 && out->len <= COLLECT_MAX_FILE)
		tb_bytes_append(out, buf, n);
	fclose(f);
	if (out->len > COLLECT_MAX_FILE)
		return TB_ERR_TOO_LARGE;
	return tb_bytes_cstr(out) ? 0 : TB_ERR_NOMEM;
}


static int algo(const cJSON *j, const char *name, const char *const *names, const uint16_t *ids,
		uint16_t *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, name);
	for (size_t i = 0; cJSON_IsString(v) && names[i]; i++)
		if (!strcmp(v->valuestring, names[i])) {
			*out = ids[i];
			return 0;
		}
	return TB_ERR_INVALID;
}

int dap_credential_parse(const char *text, size_t len, struct dap_collector_cred *c)
{
	static const char *const kems[] = { "X25519HkdfSha256", "P256HkdfSha256", NULL };
	static const uint16_t kem_ids[] = { DAP_HPKE_KEM_X25519_SHA256, DAP_HPKE_KEM_P256_SHA256 };
	static const char *const kdfs[] = { "Sha256", "Sha384", "Sha512", NULL };
	static const uint16_t kdf_ids[] = { DAP_HPKE_KDF_SHA256, DAP_HPKE_KDF_SHA384, DAP_HPKE_KDF_SHA512 };
	static const char *const aeads[] = { "AesGcm128", "AesGcm256", "ChaCha20Poly1305", NULL };
	static const uint16_t aead_ids[] = { DAP_HPKE_AEAD_AES128GCM, DAP_HPKE_AEAD_AES256GCM,
					     DAP_HPKE_AEAD_CHACHA20POLY1305 };
	struct tb_bytes sk = { 0 };
	int rc = 0;
	cJSON *j = cJSON_ParseWithLength(text, len);
	if (!j)
		rc = TB_ERR_INVALID;
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "id");
	const cJSON *skj = cJSON_GetObjectItemCaseSensitive(j, "private_key");
	const cJSON *tok = cJSON_GetObjectItemCaseSensitive(j, "token");
	memset(c, 0, sizeof(*c));
	if (!rc && (!cJSON_IsNumber(id) || id->valuedouble < 0 || id->valuedouble > 255 ||
		    !cJSON_IsString(skj) || !cJSON_IsString(tok) ||
		    strlen(tok->valuestring) >= sizeof c->token))
		rc = TB_ERR_INVALID;
	if (!rc)
		rc = algo(j, "kem", kems, kem_ids, &c->config.kem_id);
	if (!rc)
		rc = algo(j, "kdf", kdfs, kdf_ids, &c->config.kdf_id);
	if (!rc)
		rc = algo(j, "aead", aeads, aead_ids, &c->config.aead_id);
	if (!rc)
		rc = tb_base64url_decode(&sk, skj->valuestring, strlen(skj->valuestring));
	if (!rc)
		rc = dap_hpke_keypair_from_sk(c->config.kem_id, tb_bytes_buf(&sk), &c->kp);
	if (!rc) {
		c->config.id = (uint8_t)id->valuedouble;
		c->config.public_key = TB_BUF(c->kp.pk, c->kp.pk_len);
		snprintf(c->token, sizeof c->token, "%s", tok->valuestring);
	}
	tb_crypto_wipe(sk.p, sk.len);
	tb_bytes_free(&sk);
	cJSON_Delete(j);
	return rc;
}

static int load_credential(const char *path, struct dap_collector_cred *c)
{
	struct tb_bytes file = { 0 };
	int rc = read_file(path, &file);
	if (!rc)
		rc = dap_credential_parse((const char *)file.p, file.len, c);
	tb_crypto_wipe(file.p, file.len);
	tb_bytes_free(&file);
	return rc;
}

/*
 * Opens both aggregate shares of a Collection for the query cr with the
 * collector's key, unshards them and writes the result as the JSON object
 * `trustbox dap collect` prints ({"report_count", "interval", ["batch_id",]
 * "aggregate"}) to out. t: the task's VDAF and id.
 */
void dap_collect_url(const char *leader, const char *task_id, const char *job_id, struct tb_bytes *url)
{
	size_t ll = strlen(leader);
	tb_bytes_printf(url, "%s%stasks/%s/collection_jobs/%s", leader, ll && leader[ll - 1] == '/' ? "" : "/",
			task_id, job_id);
}

int dap_collect_open(const struct dap_task *t, const struct dap_collector_cred *cred,
		     const struct dap_collection_req *cr, const struct dap_collection *col, struct tb_bytes *out)
{
	/* Both shares, opened under the aad of the queried batch. */
	struct dap_batch_selector bs = { .query_type = cr->query.query_type, .interval = cr->query.interval };
	memcpy(bs.batch_id, col->part_batch_selector.batch_id, DAP_BATCH_ID_LEN);
	struct tb_bytes sel = { 0 }, aad = { 0 }, shares[2] = { { 0 }, { 0 } };
	uint8_t info_buf[DAP_HPKE_INFO_BUF];
	dap_batch_selector_encode(&bs, &sel);
	int rc = dap_hpke_aad_aggregate_share(t->id, TB_BUF(NULL, 0), tb_bytes_buf(&sel), &aad);
	for (int k = 0; k < 2 && !rc; k++) {
		struct tb_buf info = dap_hpke_info_aggregate_share(k == 0 ? DAP_ROLE_LEADER : DAP_ROLE_HELPER,
								   info_buf);
		rc = dap_hpke_open(&cred->config, &cred->kp, k == 0 ? &col->leader_share : &col->helper_share,
				   info, tb_bytes_buf(&aad), &shares[k]);
		if (!rc)
			rc = dap_prio3_check_agg_share(&t->vdaf, tb_bytes_buf(&shares[k]));
	}
	size_t n_out = t->vdaf.output_len;
	dap_u128 *result = calloc(n_out ? n_out : 1, sizeof *result);
	struct tb_buf parts[2] = { tb_bytes_buf(&shares[0]), tb_bytes_buf(&shares[1]) };
	if (!rc)
		rc = result ? dap_prio3_unshard_u128(&t->vdaf, parts, 2, col->report_count, result, n_out) :
			      TB_ERR_NOMEM;
	if (!rc) {
		/* Values above p/2 stand for negative ones (differential-privacy noise). */
		tb_bytes_printf(out, "{\"report_count\":%llu,\"interval\":{\"start\":%llu,\"duration\":%llu},",
				(unsigned long long)col->report_count, (unsigned long long)col->interval.start,
				(unsigned long long)col->interval.duration);
		if (cr->query.query_type != DAP_QUERY_TIME_INTERVAL) {
			char bid[64];
			dap_b64url(bs.batch_id, DAP_BATCH_ID_LEN, bid, sizeof bid);
			tb_bytes_printf(out, "\"batch_id\":\"%s\",", bid);
		}
		tb_bytes_printf(out, "\"aggregate\":");
		int vec = t->vdaf_type == DAP_PRIO3_SUMVEC || t->vdaf_type == DAP_PRIO3_HISTOGRAM;
		if (vec)
			tb_bytes_printf(out, "[");
		for (size_t i = 0; i < n_out; i++) {
			dap_i128 x = dap_vdaf_centered(&t->vdaf, result[i]);
			char digits[48];
			int neg = x < 0, d = 47;
			dap_u128 u = neg ? (dap_u128)(-x) : (dap_u128)x;
			digits[d] = 0;
			do {
				digits[--d] = (char)('0' + (int)(u % 10));
				u /= 10;
			} while (u);
			tb_bytes_printf(out, "%s%s%s", i ? "," : "", neg ? "-" : "", digits + d);
		}
		tb_bytes_printf(out, "%s}", vec ? "]" : "");
		rc = out->err;
	}
	free(result);
	tb_bytes_free(&sel);
	tb_bytes_free(&aad);
	for (int k = 0; k < 2; k++) {
		tb_crypto_wipe(shares[k].p, shares[k].len);
		tb_bytes_free(&shares[k]);
	}
	return rc;
}

static int usage(void)
{
	fprintf(stderr,
		"usage: trustbox dap collect --task-id ID --leader URL --vdaf count|sum|sumvec|histogram\n"
		"         [--bits N] [--length N] [--chunk-length N] --collector-credential-file FILE\n"
		"         [--cacert FILE] [--timeout S]\n"
		"         (--batch-interval-start T --batch-interval-duration D | --current-batch | --batch-id ID)\n");
	return 2;
}

static int print_problem(const char *what, const struct call *c)
{
	fprintf(stderr, "trustbox: %s: HTTP %d %.*s\n", what, c->status,
		(int)(c->body.len < 2000 ? c->body.len : 2000), c->body.p ? (const char *)c->body.p : "");
	return 1;
}

int dap_collect_command(struct dap_service *svc, int argc, char **argv)
{
	const char *task_id = NULL, *leader = NULL, *vdaf = NULL, *cred_file = NULL, *cacert = NULL,
		   *batch_id = NULL;
	long long bits = 0, length = 0, chunk = 0, start = -1, duration = -1, timeout = 300;
	int current = 0;
	const struct dap_flag flags[] = {
		{ "--task-id", DAP_FLAG_STRING, &task_id, 0, 0 },
		{ "--leader", DAP_FLAG_STRING, &leader, 0, 0 },
		{ "--vdaf", DAP_FLAG_STRING, &vdaf, 0, 0 },
		{ "--collector-credential-file", DAP_FLAG_STRING, &cred_file, 0, 0 },
		{ "--cacert", DAP_FLAG_STRING, &cacert, 0, 0 },
		{ "--bits", DAP_FLAG_INT, &bits, 0, 64 },
		{ "--length", DAP_FLAG_INT, &length, 0, 1000000 },
		{ "--chunk-length", DAP_FLAG_INT, &chunk, 0, 65536 },
		{ "--batch-interval-start", DAP_FLAG_INT, &start, 0, 1e12 },
		{ "--batch-interval-duration", DAP_FLAG_INT, &duration, 1, 1e12 },
		{ "--timeout", DAP_FLAG_INT, &timeout, 1, 86400 },
		{ "--batch-id", DAP_FLAG_STRING, &batch_id, 0, 0 },
		{ "--current-batch", DAP_FLAG_SWITCH, &current, 0, 0 },
	};
	int prc = dap_parse_flags("collect", flags, DAP_NFLAGS(flags), argc, argv);
	if (prc)
		return prc == 1 ? usage() : 2;
	int interval = start >= 0 || duration >= 0;
	if (!task_id || !leader || !vdaf || !cred_file || interval + current + !!batch_id != 1 ||
	    (interval && (start < 0 || duration <= 0)))
		return usage();

	/* The VDAF from the same checks as a task record. */
	struct dap_task t;
	char err[256];
	cJSON *tj = cJSON_CreateObject();
	cJSON_AddStringToObject(tj, "id", task_id);
	cJSON_AddStringToObject(tj, "vdaf", vdaf);
	cJSON_AddNumberToObject(tj, "bits", (double)bits);
	cJSON_AddNumberToObject(tj, "length", (double)length);
	cJSON_AddNumberToObject(tj, "chunk_length", (double)chunk);
	cJSON_AddStringToObject(tj, "verify_key", "AAAAAAAAAAAAAAAAAAAAAA");
	int rc = dap_task_from_json(tj, &t, err, sizeof err);
	cJSON_Delete(tj);
	if (rc) {
		fprintf(stderr, "trustbox: %s\n", err);
		return 2;
	}
	struct dap_collector_cred cred;
	if ((rc = load_credential(cred_file, &cred))) {
		fprintf(stderr, "trustbox: %s: not a collector credential (%s)\n", cred_file, tb_strerror(rc));
		return 2;
	}
	struct tb_bytes ca = { 0 };
	if (cacert && read_file(cacert, &ca)) {
		fprintf(stderr, "trustbox: cannot read %s\n", cacert);
		return 2;
	}

	uint8_t job[DAP_COLLECTION_JOB_ID_LEN];
	char jid[64], auth[DAP_MAX_TOKEN + 16];
	tb_random(job, sizeof job);
	dap_b64url(job, sizeof job, jid, sizeof jid);
	struct tb_bytes url = { 0 }, body = { 0 };
	dap_collect_url(leader, task_id, jid, &url);
	snprintf(auth, sizeof auth, "Bearer %s", cred.token);
	struct dap_collection_req cr = { .query = { .query_type = DAP_QUERY_TIME_INTERVAL,
						    .interval = { (uint64_t)start, (uint64_t)duration } } };
	if (!interval) {
		cr.query.query_type = DAP_QUERY_FIXED_SIZE;
		cr.query.fixed_size_type = current ? DAP_FIXED_SIZE_CURRENT_BATCH : DAP_FIXED_SIZE_BY_BATCH_ID;
		if (batch_id && dap_unb64url_exact(batch_id, cr.query.batch_id, DAP_BATCH_ID_LEN)) {
			fprintf(stderr, "trustbox: --batch-id: expected 32 bytes in base64url\n");
			tb_bytes_free(&ca);
			tb_bytes_free(&url);
			return 2;
		}
	}
	dap_collection_req_encode(&cr, &body);
	struct tb_http_header h[] = { { "Content-Type", DAP_MT_COLLECT_REQ }, { "Authorization", auth } };
	struct tb_http_client_req r = {
		.method = "PUT",
		.url = tb_bytes_cstr(&url),
		.headers = h,
		.n_headers = 2,
		.body = tb_bytes_buf(&body),
		.max_body = COLLECT_MAX_RESPONSE,
		.ca_pem = ca.len ? (const char *)ca.p : NULL,
	};
	struct call c;
	uv_loop_t *loop = svc->core->loop;
	int code = 1;
	rc = call(loop, &r, &c);
	if (rc) {
		fprintf(stderr, "trustbox: %s: %s\n", r.url, tb_strerror(rc));
		goto out;
	}
	if (c.status != 201 && c.status != 200) {
		code = print_problem("creating the collection job", &c);
		goto out;
	}
	/* Poll until the Collection is there. */
	time_t deadline = (time_t)tb_time_now() + timeout;
	r.method = "POST";
	r.body = TB_BUF(NULL, 0);
	r.headers = &h[1];
	r.n_headers = 1;
	for (;;) {
		tb_bytes_free(&c.body);
		if ((rc = call(loop, &r, &c))) {
			fprintf(stderr, "trustbox: %s: %s\n", r.url, tb_strerror(rc));
			goto out;
		}
		if (c.status != 202)
			break;
		if ((time_t)tb_time_now() >= deadline) {
			fprintf(stderr, "trustbox: the collection job is still pending after %lld s\n", timeout);
			goto out;
		}
		long wait = c.retry_after > 0 && c.retry_after < 60 ? c.retry_after : 1;
		struct timespec ts = { wait, 0 };
		nanosleep(&ts, NULL);
	}
	struct dap_collection col;
	if (c.status != 200 || strncmp(c.content_type, DAP_MT_COLLECTION, strlen(DAP_MT_COLLECTION)) ||
	    dap_collection_decode(tb_bytes_buf(&c.body), &col)) {
		code = print_problem("polling the collection job", &c);
		goto out;
	}
	struct tb_bytes res = { 0 };
	rc = dap_collect_open(&t, &cred, &cr, &col, &res);
	if (rc || !tb_bytes_cstr(&res)) {
		fprintf(stderr, "trustbox: cannot open or unshard the aggregate shares: %s\n", tb_strerror(rc));
	} else {
		printf("%s\n", (const char *)res.p);
		code = 0;
	}
	tb_bytes_free(&res);
out:
	tb_bytes_free(&c.body);
	tb_bytes_free(&url);
	tb_bytes_free(&body);
	tb_bytes_free(&ca);
	tb_crypto_wipe(&cred, sizeof cred);
	return code;
}

/* ---- upload ------------------------------------------------------------------ */

static int upload_usage(void)
{
	fprintf(stderr,
		"usage: trustbox dap upload --task-id ID --leader URL --helper URL\n"
		"         --vdaf count|sum|sumvec|histogram [--bits N] [--length N] [--chunk-length N]\n"
		"         --measurement M [--time T] [--time-precision S] [--cacert FILE] [--out FILE]\n"
		"  M: count 0 or 1; sum an integer; sumvec comma-separated integers; histogram a bucket index\n"
		"  --out FILE: write the encoded Report (application/dap-report) to FILE instead of\n"
		"    uploading it, for another HTTP client to PUT to the leader's tasks/ID/reports\n");
	return 2;
}

/* The first supported config of an aggregator's hpke_config answer (kept in keep). */
static int fetch_config(uv_loop_t *loop, const char *base, const char *task_id, const char *ca,
			struct tb_bytes *keep, struct dap_hpke_config *out)
{
	struct tb_bytes url = { 0 };
	size_t bl = strlen(base);
	tb_bytes_printf(&url, "%s%shpke_config?task_id=%s", base, bl && base[bl - 1] == '/' ? "" : "/", task_id);
	struct tb_http_client_req r = { .url = tb_bytes_cstr(&url), .ca_pem = ca };
	struct call c;
	int rc = call(loop, &r, &c);
	if (!rc && (c.status != 200 || strcmp(c.content_type, DAP_MT_HPKE_CONFIG_LIST))) {
		print_problem(r.url, &c);
		rc = TB_ERR_INVALID;
	} else if (rc) {
		fprintf(stderr, "trustbox: %s: %s\n", r.url, tb_strerror(rc));
	}
	tb_bytes_free(&url);
	if (rc) {
		tb_bytes_free(&c.body);
		return rc;
	}
	*keep = c.body;
	struct dap_hpke_config cs[DAP_HPKE_MAX_CONFIGS];
	size_t n = 0;
	if ((rc = dap_hpke_config_list_decode(tb_bytes_buf(keep), cs, DAP_HPKE_MAX_CONFIGS, &n)))
		return rc;
	for (size_t i = 0; i < n; i++)
		if (dap_hpke_config_check(&cs[i]) == 0) {
			*out = cs[i];
			return 0;
		}
	return TB_ERR_UNSUPPORTED;
}

static int seal_share(const struct dap_hpke_config *cfg, uint8_t role, const struct dap_task *t,
		      const struct dap_report_metadata *md, struct tb_buf pub, struct tb_buf share,
		      struct tb_bytes *enc, struct tb_bytes *payload, struct dap_hpke_ciphertext *ct)
{
	struct tb_bytes pt = { 0 }, aad = { 0 };
	uint8_t info_buf[DAP_HPKE_INFO_BUF];
	int rc = dap_plaintext_input_share_encode(NULL, 0, share, &pt);
	if (!rc)
		rc = dap_hpke_aad_input_share(t->id, md->id, md->time, pub, &aad);
	if (!rc)
		rc = dap_hpke_seal(cfg, dap_hpke_info_input_share(role, info_buf), tb_bytes_buf(&aad),
				   tb_bytes_buf(&pt), enc, payload, ct);
	tb_crypto_wipe(pt.p, pt.len);
	tb_bytes_free(&pt);
	tb_bytes_free(&aad);
	return rc;
}

int dap_upload_command(struct dap_service *svc, int argc, char **argv)
{
	const char *task_id = NULL, *leader = NULL, *helper = NULL, *vdaf = NULL, *meas = NULL,
		   *cacert = NULL, *out_file = NULL;
	long long bits = 0, length = 0, chunk = 0, when = -1, precision = 3600;
	const struct dap_flag flags[] = {
		{ "--task-id", DAP_FLAG_STRING, &task_id, 0, 0 },
		{ "--leader", DAP_FLAG_STRING, &leader, 0, 0 },
		{ "--helper", DAP_FLAG_STRING, &helper, 0, 0 },
		{ "--vdaf", DAP_FLAG_STRING, &vdaf, 0, 0 },
		{ "--measurement", DAP_FLAG_STRING, &meas, 0, 0 },
		{ "--cacert", DAP_FLAG_STRING, &cacert, 0, 0 },
		{ "--out", DAP_FLAG_STRING, &out_file, 0, 0 },
		{ "--bits", DAP_FLAG_INT, &bits, 0, 64 },
		{ "--length", DAP_FLAG_INT, &length, 0, 1000000 },
		{ "--chunk-length", DAP_FLAG_INT, &chunk, 0, 65536 },
		{ "--time", DAP_FLAG_INT, &when, 0, 1e12 },
		{ "--time-precision", DAP_FLAG_INT, &precision, 1, 31536000 },
	};
	int prc = dap_parse_flags("upload", flags, DAP_NFLAGS(flags), argc, argv);
	if (prc)
		return prc == 1 ? upload_usage() : 2;
	if (!task_id || !leader || !helper || !vdaf || !meas || precision < 1)
		return upload_usage();
	struct dap_task t;
	char err[256];
	cJSON *tj = cJSON_CreateObject();
	cJSON_AddStringToObject(tj, "id", task_id);
	cJSON_AddStringToObject(tj, "vdaf", vdaf);
	cJSON_AddNumberToObject(tj, "bits", (double)bits);
	cJSON_AddNumberToObject(tj, "length", (double)length);
	cJSON_AddNumberToObject(tj, "chunk_length", (double)chunk);
	cJSON_AddStringToObject(tj, "verify_key", "AAAAAAAAAAAAAAAAAAAAAA");
	int rc = dap_task_from_json(tj, &t, err, sizeof err);
	cJSON_Delete(tj);
	if (rc) {
		fprintf(stderr, "trustbox: %s\n", err);
		return 2;
	}
	/* The measurement: one number, or a comma-separated vector for SumVec. */
	size_t want = t.vdaf_type == DAP_PRIO3_SUMVEC ? t.params.length : 1, n = 0;
	uint64_t *values = calloc(want, sizeof *values);
	const char *p = meas;
	while (values && n < want && *p) {
		char *end;
		if (!strcmp(p, "true") || !strcmp(p, "false")) {
			values[n++] = *p == 't';
			p += strlen(p);
			break;
		}
		values[n++] = strtoull(p, &end, 10);
		if (end == p)
			break;
		p = *end == ',' ? end + 1 : end;
	}
	struct dap_measurement m = { values, n };
	if (!values || n != want || *p) {
		free(values);
		fprintf(stderr, "trustbox: --measurement: expected %zu integer%s\n", want, want > 1 ? "s" : "");
		return 2;
	}
	struct tb_bytes ca = { 0 };
	if (cacert && read_file(cacert, &ca)) {
		free(values);
		fprintf(stderr, "trustbox: cannot read %s\n", cacert);
		return 2;
	}
	const char *roots = ca.len ? (const char *)ca.p : NULL;
	uv_loop_t *loop = svc->core->loop;
	struct tb_bytes lkeep = { 0 }, hkeep = { 0 }, pub = { 0 }, shares[2] = { { 0 }, { 0 } };
	struct tb_bytes e1 = { 0 }, p1 = { 0 }, e2 = { 0 }, p2 = { 0 }, body = { 0 }, url = { 0 };
	struct dap_hpke_config lc, hc;
	struct dap_report r = { 0 };
	uint8_t *rnd = malloc(t.vdaf.rand_size ? t.vdaf.rand_size : 1);
	int code = 1;
	uint64_t now = when >= 0 ? (uint64_t)when : (uint64_t)tb_time_now();
	r.md.time = now - now % (uint64_t)precision;
	rc = rnd ? 0 : TB_ERR_NOMEM;
	if (!rc)
		rc = fetch_config(loop, leader, task_id, roots, &lkeep, &lc);
	if (!rc)
		rc = fetch_config(loop, helper, task_id, roots, &hkeep, &hc);
	if (!rc)
		rc = tb_random(r.md.id, sizeof r.md.id);
	if (!rc)
		rc = tb_random(rnd, t.vdaf.rand_size);
	if (!rc)
		rc = dap_prio3_shard(&t.vdaf, &m, r.md.id, rnd, t.vdaf.rand_size, &pub, shares);
	if (!rc) {
		r.public_share = tb_bytes_buf(&pub);
		rc = seal_share(&lc, DAP_ROLE_LEADER, &t, &r.md, r.public_share, tb_bytes_buf(&shares[0]),
				&e1, &p1, &r.leader_share);
	}
	if (!rc)
		rc = seal_share(&hc, DAP_ROLE_HELPER, &t, &r.md, r.public_share, tb_bytes_buf(&shares[1]),
				&e2, &p2, &r.helper_share);
	if (!rc)
		rc = dap_report_encode(&r, &body);
	if (rc) {
		fprintf(stderr, "trustbox: cannot make the report: %s\n", tb_strerror(rc));
		goto out;
	}
	if (out_file) {
		/* Sealed to both aggregators' configs as an upload would be; another client sends it. */
		FILE *f = fopen(out_file, "wb");
		int ok = f && fwrite(body.p, 1, body.len, f) == body.len;
		if (f && fclose(f) != 0)
			ok = 0;
		if (!ok) {
			fprintf(stderr, "trustbox: cannot write %s\n", out_file);
			goto out;
		}
		char rid[32];
		dap_b64url(r.md.id, sizeof r.md.id, rid, sizeof rid);
		printf("{\"report_id\":\"%s\",\"time\":%llu}\n", rid, (unsigned long long)r.md.time);
		code = 0;
		goto out;
	}
	size_t ll = strlen(leader);
	tb_bytes_printf(&url, "%s%stasks/%s/reports", leader, ll && leader[ll - 1] == '/' ? "" : "/", task_id);
	struct tb_http_header h[] = { { "Content-Type", DAP_MT_REPORT } };
	struct tb_http_client_req req = { .method = "PUT", .url = tb_bytes_cstr(&url), .headers = h,
					  .n_headers = 1, .body = tb_bytes_buf(&body), .ca_pem = roots };
	struct call c;
	if ((rc = call(loop, &req, &c))) {
		fprintf(stderr, "trustbox: %s: %s\n", req.url, tb_strerror(rc));
	} else if (c.status != 200 && c.status != 201) {
		print_problem("upload", &c);
	} else {
		char rid[32];
		dap_b64url(r.md.id, sizeof r.md.id, rid, sizeof rid);
		printf("{\"report_id\":\"%s\",\"time\":%llu}\n", rid, (unsigned long long)r.md.time);
		code = 0;
	}
	tb_bytes_free(&c.body);
out:
	free(values);
	free(rnd);
	struct tb_bytes *all[] = { &ca, &lkeep, &hkeep, &pub, &shares[0], &shares[1], &e1, &p1, &e2, &p2, &body, &url };
	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
		tb_crypto_wipe(all[i]->p, all[i]->len);
		tb_bytes_free(all[i]);
	}
	return code;
}
