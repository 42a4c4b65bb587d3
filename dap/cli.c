/*
 * DESIGN: `trustbox dap task ...`, the provisioning commands (what the
 * divviup CLI gives its users): create a task with fresh ids, keys and
 * tokens and print everything a client and a collector need; import the
 * helper's half in another instance; list, show, delete. They write the
 * store; a running instance reads a task it does not know from the store on
 * first use, so they work next to `trustbox run`. Secrets are printed on
 * stdout by `create` and `show` (the operator asked), never logged.
 */
#include "dap/dap_internal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "core/error.h"

static int usage(void)
{
	fprintf(stderr,
		"usage: trustbox dap task create --vdaf count|sum|sumvec|histogram [--bits N] [--length N]\n"
		"         [--chunk-length N] [--query time_interval|fixed_size] [--max-batch-size N]\n"
		"         [--min-batch-size N] [--time-precision S] [--dp-epsilon E] [--global-hpke-keys]\n"
		"         [--helper URL --helper-token T] [--collector-credential-file FILE]\n"
		"       trustbox dap task import --role helper FILE\n"
		"       trustbox dap task list\n"
		"       trustbox dap task show|delete TASK-ID\n");
	return 2;
}

int dap_parse_flags(const char *cmd, const struct dap_flag *flags, size_t n, int argc, char **argv)
{
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		size_t k;
		for (k = 0; k < n; k++)
			if (!strcmp(a, flags[k].name))
				break;
		if (k == n) {
			fprintf(stderr, "trustbox: dap %s: unknown flag '%s'\n", cmd, a);
			return 1;
		}
		const struct dap_flag *f = &flags[k];
		if (f->kind == DAP_FLAG_SWITCH) {
			*(int *)f->dest = 1;
			continue;
		}
		if (i + 1 >= argc) {
			fprintf(stderr, "trustbox: dap %s: %s needs a value\n", cmd, a);
			return 1;
		}
		const char *v = argv[++i];
		if (f->kind == DAP_FLAG_STRING) {
			*(const char **)f->dest = v;
			continue;
		}
		/* Digits only for an integer: strtoll alone takes " 5", "+5" and "5x". */
		char *end = NULL;
		int ok = *v != 0;
		errno = 0;
		if (f->kind == DAP_FLAG_INT) {
			for (const char *p = v; *p && ok; p++)
				ok = *p >= '0' && *p <= '9';
			long long x = ok ? strtoll(v, &end, 10) : 0;
			ok = ok && !errno && !*end && (double)x >= f->min && (double)x <= f->max;
			if (ok)
				*(long long *)f->dest = x;
		} else {
			double x = ok ? strtod(v, &end) : 0;
			ok = ok && !errno && !*end && isfinite(x) && x >= f->min && x <= f->max &&
			     strchr("0123456789.", *v);
			if (ok)
				*(double *)f->dest = x;
		}
		if (!ok) {
			fprintf(stderr, "trustbox: dap %s: %s '%s': expected %s from %.15g to %.15g\n", cmd, a, v,
				f->kind == DAP_FLAG_INT ? "an integer" : "a number", f->min, f->max);
			return 2;
		}
	}
	return 0;
}

static void rand_b64(size_t n, char *out, size_t outlen)
{
	uint8_t b[64];
	tb_random(b, n);
	dap_b64url(b, n, out, outlen);
}

/* The Task parameters of @divviup/dap's `new Task({...})`. */
cJSON *dap_divviup_ts_params(const struct dap_task *t)
{
	static const char *const names[] = { "count", "sum", "sumVec", "histogram" };
	char id[64];
	dap_b64url(t->id, DAP_TASK_ID_LEN, id, sizeof id);
	cJSON *j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "type", names[t->vdaf_type]);
	if (t->vdaf_type == DAP_PRIO3_SUM || t->vdaf_type == DAP_PRIO3_SUMVEC)
		cJSON_AddNumberToObject(j, "bits", t->params.bits);
	if (t->vdaf_type == DAP_PRIO3_SUMVEC || t->vdaf_type == DAP_PRIO3_HISTOGRAM) {
		cJSON_AddNumberToObject(j, "length", t->params.length);
		cJSON_AddNumberToObject(j, "chunkLength", t->params.chunk_length);
	}
	cJSON_AddStringToObject(j, "id", id);
	cJSON_AddStringToObject(j, "leader", t->leader_url);
	cJSON_AddStringToObject(j, "helper", t->helper_url);
	cJSON_AddNumberToObject(j, "timePrecisionSeconds", (double)t->time_precision);
	return j;
}

int dap_task_new(struct dap_service *svc, const cJSON *params, const char *helper, const char *helper_token,
		 struct dap_new_task *n, char *err, size_t errlen)
{
	memset(n, 0, sizeof *n);
	if (!helper && !(svc->run_leader && svc->run_helper)) {
		snprintf(err, errlen, "this instance does not run both aggregators: give the helper's URL");
		return TB_ERR_INVALID;
	}
	if (!svc->run_leader) {
		snprintf(err, errlen, "this instance runs no leader (dap.role); import the helper's half with `task import`");
		return TB_ERR_INVALID;
	}
	/* A port-0 listener: the URLs carry the port the running instance bound. */
	if (dap_resolve_public_base(svc)) {
		snprintf(err, errlen, "the DAP listener has port 0 and no running instance has recorded the port it bound: start `trustbox run` first or set dap.public_url");
		return TB_ERR_INVALID;
	}
	/* Fresh id, verify key, tokens and collector key. */
	char vk[64], atok[64], cfg[256];
	rand_b64(DAP_TASK_ID_LEN, n->id, sizeof n->id);
	rand_b64(DAP_PRIO3_VERIFY_KEY_SIZE, vk, sizeof vk);
	rand_b64(16, atok, sizeof atok);
	rand_b64(16, n->collector_token, sizeof n->collector_token);
	if (dap_hpke_keygen(DAP_HPKE_KEM_X25519_SHA256, &n->kp)) {
		snprintf(err, errlen, "cannot generate the collector's HPKE key");
		return TB_ERR_CRYPTO;
	}
	n->config = (struct dap_hpke_config){ 1, DAP_HPKE_KEM_X25519_SHA256, DAP_HPKE_KDF_SHA256,
					      DAP_HPKE_AEAD_AES128GCM, TB_BUF(n->kp.pk, n->kp.pk_len) };
	struct tb_bytes enc = { 0 };
	dap_hpke_config_encode(&n->config, &enc);
	dap_b64url(enc.p, enc.len, cfg, sizeof cfg);
	tb_bytes_free(&enc);
	cJSON *rec = params ? cJSON_Duplicate(params, 1) : cJSON_CreateObject();
	/* An HPKE key of its own unless asked otherwise, as Janus provisions a task; each
	 * aggregator makes its key when it provisions its half (dap_provision). */
	if (!cJSON_GetObjectItemCaseSensitive(rec, "own_hpke_key"))
		cJSON_AddBoolToObject(rec, "own_hpke_key", 1);
	cJSON_AddStringToObject(rec, "id", n->id);
	cJSON_AddStringToObject(rec, "verify_key", vk);
	cJSON_AddStringToObject(rec, "aggregator_auth_token", helper_token ? helper_token : atok);
	cJSON_AddStringToObject(rec, "collector_auth_token", n->collector_token);
	cJSON_AddStringToObject(rec, "collector_hpke_config", cfg);
	if (helper)
		cJSON_AddStringToObject(rec, "helper_url", helper);
	int rc = dap_task_from_json(rec, &n->leader, err, errlen);
	cJSON_Delete(rec);
	tb_crypto_wipe(vk, sizeof vk);
	tb_crypto_wipe(atok, sizeof atok);
	if (rc) {
		tb_crypto_wipe(n, sizeof *n);
		return TB_ERR_INVALID;
	}
	/* Both halves with this instance's URLs where none were given (dap_provision's rule). */
	n->leader.role = DAP_AGG_LEADER;
	if (!*n->leader.leader_url)
		snprintf(n->leader.leader_url, sizeof n->leader.leader_url, "%s", svc->agg[DAP_AGG_LEADER].base_url);
	if (!*n->leader.helper_url)
		snprintf(n->leader.helper_url, sizeof n->leader.helper_url, "%s", svc->agg[DAP_AGG_HELPER].base_url);
	n->helper = n->leader;
	n->helper.role = DAP_AGG_HELPER;
	n->local_helper = !helper;
	return 0;
}

cJSON *dap_task_new_json(const struct dap_new_task *n)
{
	const struct dap_task *t = &n->leader;
	cJSON *out = cJSON_CreateObject();
	cJSON_AddStringToObject(out, "task_id", n->id);
	cJSON_AddStringToObject(out, "leader", t->leader_url);
	cJSON_AddStringToObject(out, "helper", t->helper_url);
	cJSON *vd = cJSON_AddObjectToObject(out, "vdaf");
	cJSON_AddStringToObject(vd, "type", t->vdaf_name);
	cJSON_AddNumberToObject(vd, "bits", t->params.bits);
	cJSON_AddNumberToObject(vd, "length", t->params.length);
	cJSON_AddNumberToObject(vd, "chunk_length", t->params.chunk_length);
	cJSON_AddStringToObject(out, "query", t->query_type == DAP_QUERY_FIXED_SIZE ? "fixed_size" : "time_interval");
	cJSON_AddNumberToObject(out, "min_batch_size", (double)t->min_batch_size);
	cJSON_AddNumberToObject(out, "time_precision", (double)t->time_precision);
	cJSON_AddItemToObject(out, "divviup_ts", dap_divviup_ts_params(t));
	return out;
}

static int create(struct dap_service *svc, int argc, char **argv)
{
	const char *vdaf = NULL, *query = NULL, *helper = NULL, *helper_token = NULL, *cred_path = NULL;
	/* -1: not given, the task record's default applies. */
	long long bits = -1, length = -1, chunk = -1, max_batch = -1, min_batch = -1, precision = -1,
		  expiration = -1;
	double epsilon = -1;
	int global_keys = 0;
	const struct dap_flag flags[] = {
		{ "--vdaf", DAP_FLAG_STRING, &vdaf, 0, 0 },
		{ "--bits", DAP_FLAG_INT, &bits, 0, 64 },
		{ "--length", DAP_FLAG_INT, &length, 0, 1000000 },
		{ "--chunk-length", DAP_FLAG_INT, &chunk, 0, 65536 },
		{ "--query", DAP_FLAG_STRING, &query, 0, 0 },
		{ "--max-batch-size", DAP_FLAG_INT, &max_batch, 0, 1e15 },
		{ "--min-batch-size", DAP_FLAG_INT, &min_batch, 1, 1e15 },
		{ "--time-precision", DAP_FLAG_INT, &precision, 1, 31536000 },
		{ "--dp-epsilon", DAP_FLAG_NUMBER, &epsilon, 0, 1000 },
		{ "--task-expiration", DAP_FLAG_INT, &expiration, 0, 1e12 },
		{ "--helper", DAP_FLAG_STRING, &helper, 0, 0 },
		{ "--helper-token", DAP_FLAG_STRING, &helper_token, 0, 0 },
		{ "--collector-credential-file", DAP_FLAG_STRING, &cred_path, 0, 0 },
		{ "--global-hpke-keys", DAP_FLAG_SWITCH, &global_keys, 0, 0 },
	};
	int prc = dap_parse_flags("task create", flags, DAP_NFLAGS(flags), argc, argv);
	if (prc)
		return prc == 1 ? usage() : 2;
	const struct {
		const char *key;
		double v;
	} nums[] = { { "bits", (double)bits },
		     { "length", (double)length },
		     { "chunk_length", (double)chunk },
		     { "max_batch_size", (double)max_batch },
		     { "min_batch_size", (double)min_batch },
		     { "time_precision", (double)precision },
		     { "dp_epsilon", epsilon },
		     { "task_expiration", (double)expiration } };
	cJSON *rec = cJSON_CreateObject();
	if (vdaf)
		cJSON_AddStringToObject(rec, "vdaf", vdaf);
	if (query)
		cJSON_AddStringToObject(rec, "query", query);
	if (global_keys) /* no key of its own: the aggregators' configs */
		cJSON_AddBoolToObject(rec, "own_hpke_key", 0);
	for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++)
		if (nums[i].v >= 0)
			cJSON_AddNumberToObject(rec, nums[i].key, nums[i].v);
	struct dap_new_task n;
	char err[512], path[1024];
	int rc = dap_task_new(svc, rec, helper, helper_token, &n, err, sizeof err);
	cJSON_Delete(rec);
	if (rc) {
		fprintf(stderr, "trustbox: %s\n", err);
		return rc == TB_ERR_INVALID ? 2 : 1;
	}
	if (cred_path)
		snprintf(path, sizeof path, "%s", cred_path);
	else
		snprintf(path, sizeof path, "%s/dap-%s-collector.json",
			 svc->core->data_dir ? svc->core->data_dir : ".", n.id);
	rc = dap_write_credential(path, &n.config, &n.kp, n.collector_token);
	if (rc) {
		tb_crypto_wipe(&n, sizeof n);
		fprintf(stderr, "trustbox: cannot write %s\n", path);
		return 1;
	}
	rc = dap_provision(&svc->agg[DAP_AGG_LEADER], &n.leader);
	if (!rc && n.local_helper) {
		struct dap_task h = n.helper;
		rc = dap_provision(&svc->agg[DAP_AGG_HELPER], &h);
		tb_crypto_wipe(&h, sizeof h);
	}
	if (rc) {
		tb_crypto_wipe(&n, sizeof n);
		fprintf(stderr, "trustbox: cannot store the task: %s\n", tb_strerror(rc));
		return 1;
	}
	/* The helper's half: the same record, role helper, for `task import` elsewhere. */
	cJSON *out = dap_task_new_json(&n);
	cJSON_AddStringToObject(out, "collector_credential_file", path);
	cJSON_AddItemToObject(out, "helper_task", dap_task_to_json(&n.helper));
	char *text = cJSON_Print(out);
	cJSON_Delete(out);
	tb_crypto_wipe(&n, sizeof n);
	if (!text)
		return 1;
	printf("%s\n", text);
	tb_crypto_wipe(text, strlen(text));
	free(text);
	return 0;
}

static int import(struct dap_service *svc, int argc, char **argv)
{
	if (argc != 3 || strcmp(argv[0], "--role") || strcmp(argv[1], "helper"))
		return usage();
	if (!svc->run_helper) {
		fprintf(stderr, "trustbox: this instance runs no helper (dap.role)\n");
		return 2;
	}
	FILE *f = fopen(argv[2], "rb");
	struct tb_bytes b = { 0 };
	char buf[4096];
	size_t n;
	while (f && (n = fread(buf, 1, sizeof buf, f)) > 0 && b.len < (1u << 20))
		tb_bytes_append(&b, buf, n);
	if (f)
		fclose(f);
	cJSON *j = f ? cJSON_ParseWithLength((const char *)b.p, b.len) : NULL;
	tb_crypto_wipe(b.p, b.len);
	tb_bytes_free(&b);
	/* The whole output of `task create`, or only its helper_task. */
	const cJSON *rec = cJSON_GetObjectItemCaseSensitive(j, "helper_task");
	if (!rec)
		rec = j;
	struct dap_task t;
	char err[256];
	int rc = rec ? dap_task_from_json(rec, &t, err, sizeof err) : TB_ERR_INVALID;
	cJSON_Delete(j);
	if (rc) {
		fprintf(stderr, "trustbox: %s: %s\n", argv[2], rec ? err : "not a task record");
		return 2;
	}
	rc = dap_provision(&svc->agg[DAP_AGG_HELPER], &t);
	char id[64];
	dap_b64url(t.id, DAP_TASK_ID_LEN, id, sizeof id);
	tb_crypto_wipe(&t, sizeof t);
	if (rc) {
		fprintf(stderr, "trustbox: cannot store the task: %s\n", tb_strerror(rc));
		return 1;
	}
	printf("{\"task_id\":\"%s\",\"role\":\"helper\"}\n", id);
	return 0;
}

struct list_ctx {
	int full;
	cJSON *arr;
};

static void list_one(const char *agg, const char *record, void *arg)
{
	struct list_ctx *l = arg;
	cJSON *r = cJSON_Parse(record);
	if (!r)
		return;
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "aggregator", agg);
	if (l->full) {
		cJSON_AddItemToObject(o, "task", r);
	} else {
		static const char *const keep[] = { "id", "vdaf", "bits", "length", "chunk_length", "query",
						    "min_batch_size", "time_precision", "leader_url",
						    "helper_url" };
		for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++) {
			cJSON *v = cJSON_GetObjectItemCaseSensitive(r, keep[i]);
			if (v)
				cJSON_AddItemToObject(o, keep[i], cJSON_Duplicate(v, 1));
		}
		cJSON_Delete(r);
	}
	cJSON_AddItemToArray(l->arr, o);
}

static int list(struct dap_service *svc, const uint8_t *only, int full)
{
	struct list_ctx l = { full, cJSON_CreateArray() };
	int rc = dap_db_list_tasks(svc->core->store, NULL, only, list_one, &l);
	if (rc && !(rc == TB_ERR_NOT_FOUND && !only)) {
		cJSON_Delete(l.arr);
		fprintf(stderr, "trustbox: %s\n", rc == TB_ERR_NOT_FOUND ? "no such task" : tb_strerror(rc));
		return 1;
	}
	char *text = cJSON_Print(l.arr);
	cJSON_Delete(l.arr);
	printf("%s\n", text ? text : "[]");
	free(text);
	return 0;
}

int dap_task_command(struct dap_service *svc, int argc, char **argv)
{
	uint8_t id[DAP_TASK_ID_LEN];
	if (argc < 1)
		return usage();
	if (!strcmp(argv[0], "create"))
		return create(svc, argc - 1, argv + 1);
	if (!strcmp(argv[0], "import"))
		return import(svc, argc - 1, argv + 1);
	if (!strcmp(argv[0], "list") && argc == 1)
		return list(svc, NULL, 0);
	if ((!strcmp(argv[0], "show") || !strcmp(argv[0], "delete")) && argc == 2) {
		if (dap_unb64url_exact(argv[1], id, sizeof id)) {
			fprintf(stderr, "trustbox: a task id is 32 bytes in base64url\n");
			return 2;
		}
		if (!strcmp(argv[0], "show"))
			return list(svc, id, 1);
		int rc = dap_db_delete_task_sync(svc->core->store, id);
		if (rc) {
			fprintf(stderr, "trustbox: %s\n", rc == TB_ERR_NOT_FOUND ? "no such task" : tb_strerror(rc));
			return 1;
		}
		printf("{\"deleted\":\"%s\"}\n", argv[1]);
		return 0;
	}
	return usage();
}

/* ---- keys ----------------------------------------------------------------------- */

static int key_usage(void)
{
	fprintf(stderr, "usage: trustbox dap key list\n"
			"       trustbox dap key rotate leader|helper\n"
			"       trustbox dap key retire leader|helper CONFIG-ID\n");
	return 2;
}

static struct dap_aggregator *agg_named(struct dap_service *svc, const char *name)
{
	if (!strcmp(name, "leader") && svc->run_leader)
		return &svc->agg[DAP_AGG_LEADER];
	if (!strcmp(name, "helper") && svc->run_helper)
		return &svc->agg[DAP_AGG_HELPER];
	fprintf(stderr, "trustbox: this instance runs no %s aggregator\n", name);
	return NULL;
}

int dap_key_command(struct dap_service *svc, int argc, char **argv)
{
	struct dap_aggregator *agg;
	int rc;
	if (argc == 1 && !strcmp(argv[0], "list")) {
		cJSON *arr = cJSON_CreateArray();
		for (int k = 0; k < 2; k++) {
			if ((k == DAP_AGG_LEADER && !svc->run_leader) || (k == DAP_AGG_HELPER && !svc->run_helper))
				continue;
			if ((rc = dap_db_reload_keys(&svc->agg[k])) && rc != TB_ERR_STATE) {
				cJSON_Delete(arr);
				fprintf(stderr, "trustbox: %s\n", tb_strerror(rc));
				return 1;
			}
			for (size_t i = 0; i < svc->agg[k].n_keys; i++) {
				const struct dap_hpke_key *key = &svc->agg[k].keys[i];
				cJSON *o = cJSON_CreateObject();
				cJSON_AddStringToObject(o, "aggregator", svc->agg[k].name);
				cJSON_AddNumberToObject(o, "config_id", key->config.id);
				cJSON_AddBoolToObject(o, "active", key->active);
				cJSON_AddItemToArray(arr, o);
			}
		}
		char *text = cJSON_PrintUnformatted(arr);
		cJSON_Delete(arr);
		printf("%s\n", text ? text : "[]");
		free(text);
		return 0;
	}
	if (argc == 2 && !strcmp(argv[0], "rotate")) {
		uint8_t id;
		if (!(agg = agg_named(svc, argv[1])))
			return 2;
		if ((rc = dap_db_rotate_key(agg, &id))) {
			fprintf(stderr, "trustbox: %s\n", tb_strerror(rc));
			return 1;
		}
		printf("{\"aggregator\":\"%s\",\"config_id\":%u}\n", agg->name, id);
		return 0;
	}
	if (argc == 3 && !strcmp(argv[0], "retire")) {
		char *end;
		long id = strtol(argv[2], &end, 10);
		if (!(agg = agg_named(svc, argv[1])))
			return 2;
		if (*end || id < 0 || id > 255)
			return key_usage();
		if ((rc = dap_db_retire_key(agg, (uint8_t)id))) {
			fprintf(stderr, "trustbox: %s\n", rc == TB_ERR_NOT_FOUND ?
				"no inactive key with that config id (rotate first)" : tb_strerror(rc));
			return 1;
		}
		printf("{\"aggregator\":\"%s\",\"retired\":%ld}\n", agg->name, id);
		return 0;
	}
	return key_usage();
}
