/*
 * DESIGN: the dap subsystem: a DAP-09 aggregator that holds the leader, the
 * helper, or both in one process (each under its own base URL with its own
 * task records and HPKE keys, as if they were two organisations).
 *
 *   configure  the `dap { ... }` section: role, listener, limits, the tasks
 *              of the configuration (each checked as a task record)
 *   migrate    dap_* tables (db.c)
 *   start      per aggregator: HPKE keys (generated on first start), the
 *              configured tasks written to its records, the demo task on
 *              first start (both roles only), the route table (api.c)
 *   stop       new uploads get 503; waits for the store jobs in flight
 *
 * Tasks are looked up in memory and then in the store, so a task written by
 * another process (a command, the other aggregator's CLI) is picked up on
 * first use without a restart.
 */
#include "dap/dap_internal.h"
#include "dap/metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/crypto.h"
#include "core/error.h"
#include "core/log.h"

static const struct tb_option dap_options[] = {
	{ .name = "enabled", .type = TB_OPT_BOOL, .def = "true", .help = "run the DAP aggregators" },
	{ .name = "role", .type = TB_OPT_ENUM, .def = "\"both\"", .choices = "both|leader|helper|client|collector",
		.help = "which aggregators this instance runs: the leader (/dap/leader/), the helper (/dap/helper/) or both; client or collector: none, only the interop test API of that role (with interop_api)" },
	{ .name = "listener", .type = TB_OPT_STRING, .def = "\"\"",
		.help = "listener the DAP routes are mounted on (default: the first TLS listener)" },
	{ .name = "public_url", .type = TB_OPT_STRING, .def = "\"\"",
		.help = "base URL clients reach this instance at (default: https://<listener address>:<port>)" },
	{ .name = "max_upload_bytes", .type = TB_OPT_INT, .def = "1048576", .min = 1024, .max = 1e8,
		.help = "largest report accepted by the leader's upload endpoint, bytes (larger: 413)" },
	{ .name = "max_aggregation_job_size", .type = TB_OPT_INT, .def = "1000", .min = 1, .max = 100000,
		.help = "reports per aggregation job, as the leader groups them and as the helper accepts them" },
	{ .name = "aggregation_period_ms", .type = TB_OPT_INT, .def = "1000", .min = 10, .max = 3600000,
		.help = "leader: how often waiting reports are grouped into an aggregation job" },
	{ .name = "helper_ca_file", .type = TB_OPT_STRING, .def = "\"\"",
		.help = "leader: PEM roots the helper's certificate must chain to (default: trustbox's own root)" },
	{ .name = "interop_api", .type = TB_OPT_BOOL, .def = "false",
		.help = "serve the DAP interop test API (/internal/test/: ready, endpoint_for_task and add_task; with role client upload, with role collector add_task, collection_start and collection_poll) on the DAP listener; test deployments only: anyone who reaches it can add tasks" },
	{ .name = "demo_task", .type = TB_OPT_BOOL, .def = "true",
		.help = "with role both: provision one demo Prio3Histogram task on first start (its collector credential is written to the data directory)" },
	{ .name = "tasks", .type = TB_OPT_TABLES, .def = "[]", .children = dap_task_options,
		.help = "tasks provisioned from the configuration (written to the store at start)" },
	TB_OPTIONS_END
};

static const struct tb_section_def dap_section = {
	.name = "dap",
	.options = dap_options,
	.help = "DAP-09 aggregation (Prio3): leader and helper, for Divvi Up's clients",
};

static const struct tb_section_def *const dap_sections[] = { &dap_section, NULL };

static void dap_free(void *state);

/* ---- tasks and keys ------------------------------------------------------- */

static int cache_task(struct dap_aggregator *agg, const struct dap_task *t, struct dap_task **out)
{
	for (size_t i = 0; i < agg->n_tasks; i++) {
		if (!memcmp(agg->tasks[i]->id, t->id, DAP_TASK_ID_LEN)) {
			*agg->tasks[i] = *t;
			*out = agg->tasks[i];
			return 0;
		}
	}
	if (agg->n_tasks == DAP_MAX_TASK_CACHE)
		return TB_ERR_TOO_LARGE;
	struct dap_task **n = realloc(agg->tasks, (agg->n_tasks + 1) * sizeof *n);
	if (!n)
		return TB_ERR_NOMEM;
	agg->tasks = n;
	if (!(n[agg->n_tasks] = malloc(sizeof **n)))
		return TB_ERR_NOMEM;
	*n[agg->n_tasks] = *t;
	*out = n[agg->n_tasks++];
	return 0;
}

int dap_cache_task(struct dap_aggregator *agg, const struct dap_task *t)
{
	struct dap_task *cached;
	return cache_task(agg, t, &cached);
}

/*
 * Deleted here (the admin API): the cached record is marked, not freed, for
 * the reason below; the task is refused at once.
 */
void dap_uncache_task(struct dap_aggregator *agg, const uint8_t id[DAP_TASK_ID_LEN])
{
	for (size_t i = 0; i < agg->n_tasks; i++) {
		if (!memcmp(agg->tasks[i]->id, id, DAP_TASK_ID_LEN)) {
			agg->tasks[i]->deleted = 1;
			agg->tasks[i]->checked_ms = agg->svc->core->loop ? uv_now(agg->svc->core->loop) : 0;
			return;
		}
	}
}

/*
 * A cached task is confirmed against the store at most once a second, so a
 * task deleted by `trustbox dap task delete` in another process stops being
 * served within a second (uploads and aggregation requests for it get
 * unrecognizedTask). The cached record itself is never freed or rewritten
 * while the service runs: jobs on the thread pool may still read it.
 */
struct dap_task *dap_find_task(struct dap_aggregator *agg, const uint8_t id[DAP_TASK_ID_LEN])
{
	uint64_t now = agg->svc->core->loop ? uv_now(agg->svc->core->loop) : 0;
	struct dap_task *t = malloc(sizeof *t), *cached = NULL;
	if (!t)
		return NULL;
	for (size_t i = 0; i < agg->n_tasks; i++) {
		struct dap_task *c = agg->tasks[i];
		if (memcmp(c->id, id, DAP_TASK_ID_LEN))
			continue;
		if (now - c->checked_ms >= 1000 && agg->svc->core->store) {
			int rc = dap_db_get_task(agg->svc->core->store, agg->name, id, t);
			if (rc == TB_ERR_NOT_FOUND)
				c->deleted = 1;
			else if (rc == 0)
				c->deleted = 0;
			c->checked_ms = now;
		}
		tb_crypto_wipe(t, sizeof *t);
		free(t);
		return c->deleted ? NULL : c;
	}
	int rc = dap_db_get_task(agg->svc->core->store, agg->name, id, t);
	t->checked_ms = now;
	t->deleted = 0;
	if (!rc && cache_task(agg, t, &cached))
		TB_WARN("dap", "%s: task cache full (%d tasks)", agg->name, DAP_MAX_TASK_CACHE);
	tb_crypto_wipe(t, sizeof *t);
	free(t);
	return cached;
}

const struct dap_hpke_key *dap_find_key(const struct dap_aggregator *agg, uint8_t config_id)
{
	for (size_t i = 0; i < agg->n_keys; i++)
		if (agg->keys[i].config.id == config_id)
			return &agg->keys[i];
	return NULL;
}

/*
 * Keys may be rotated or retired by `trustbox dap key` in another process:
 * the running instance reads them again, at most once a second, when asked
 * for its configs or handed a report.
 */
void dap_keys_refresh(struct dap_aggregator *agg)
{
	uint64_t now = uv_now(agg->svc->core->loop);
	if (agg->keys_read_ms && now - agg->keys_read_ms < 1000)
		return;
	agg->keys_read_ms = now;
	if (dap_db_reload_keys(agg))
		TB_WARN("dap", "%s: cannot read the HPKE keys again", agg->name);
}

const struct dap_hpke_key *dap_find_key_fresh(struct dap_aggregator *agg, uint8_t config_id)
{
	dap_keys_refresh(agg); /* a retired key stops decrypting within a second */
	return dap_find_key(agg, config_id);
}

const struct dap_hpke_key *dap_task_find_key(struct dap_aggregator *agg, const struct dap_task *t,
					     uint8_t config_id, struct dap_hpke_key *scratch)
{
	if (t->has_own_key && t->own_config_id == config_id) {
		dap_task_own_key(t, scratch);
		return scratch;
	}
	return dap_find_key_fresh(agg, config_id);
}

/*
 * Writes t (for aggregator agg, role set from it) to the store and the cache.
 * A task that asks for its own HPKE key keeps the one its stored record has
 * (the configured tasks are provisioned again at each start, and reports
 * sealed to the key must still open), else gets a new one.
 */
int dap_provision(struct dap_aggregator *agg, struct dap_task *t)
{
	struct dap_task *cached;
	if (t->own_hpke_key && !t->has_own_key) {
		struct dap_task *old = calloc(1, sizeof *old);
		int rc = old ? dap_db_get_task(agg->svc->core->store, agg->name, t->id, old) : TB_ERR_NOMEM;
		if (rc == 0 && old->has_own_key) {
			t->own_kp = old->own_kp;
			t->own_config_id = old->own_config_id;
			t->has_own_key = 1;
		} else if (rc == 0 || rc == TB_ERR_NOT_FOUND) {
			rc = dap_task_make_key(t, agg);
		}
		if (old)
			tb_crypto_wipe(old, sizeof *old);
		free(old);
		if (rc)
			return rc;
	}
	t->role = agg->kind;
	if (!*t->leader_url)
		snprintf(t->leader_url, sizeof t->leader_url, "%s", agg->svc->agg[DAP_AGG_LEADER].base_url);
	if (!*t->helper_url)
		snprintf(t->helper_url, sizeof t->helper_url, "%s", agg->svc->agg[DAP_AGG_HELPER].base_url);
	int rc = dap_db_put_task_sync(agg->svc->core->store, agg->name, t);
	return rc ? rc : cache_task(agg, t, &cached);
}

/* ---- the demo task -------------------------------------------------------- */

static void random_b64url(size_t n, char *out, size_t outlen)
{
	uint8_t b[64];
	tb_random(b, n);
	dap_b64url(b, n, out, outlen);
}

/*
 * The collector credential in the shape of divviup's collector_credential.json
 * (HPKE config id, algorithm names, keys in base64url, the bearer token).
 */
char *dap_credential_json(const struct dap_hpke_config *c, const struct dap_hpke_keypair *kp, const char *token)
{
	char pk[128], sk[128];
	dap_b64url(c->public_key.p, c->public_key.len, pk, sizeof pk);
	dap_b64url(kp->sk, kp->sk_len, sk, sizeof sk);
	struct tb_bytes b = { 0 };
	tb_bytes_printf(&b, "{\n  \"aead\": \"AesGcm128\",\n  \"id\": %u,\n  \"kdf\": \"Sha256\",\n"
			    "  \"kem\": \"X25519HkdfSha256\",\n  \"private_key\": \"%s\",\n"
			    "  \"public_key\": \"%s\",\n  \"token\": \"%s\"\n}\n",
			c->id, sk, pk, token);
	tb_crypto_wipe(sk, sizeof sk);
	if (!tb_bytes_cstr(&b)) {
		tb_crypto_wipe(b.p, b.len);
		tb_bytes_free(&b);
		return NULL;
	}
	return (char *)b.p;
}

int dap_write_credential(const char *path, const struct dap_hpke_config *c,
			    const struct dap_hpke_keypair *kp, const char *token)
{
	char *text = dap_credential_json(c, kp, token);
	if (!text)
		return TB_ERR_NOMEM;
	FILE *f = fopen(path, "w");
	int rc = f && fputs(text, f) >= 0 ? 0 : TB_ERR_IO;
	if (f && fclose(f))
		rc = TB_ERR_IO;
	tb_crypto_wipe(text, strlen(text));
	free(text);
	return rc;
}

#define DEMO_KEY "demo_task"

/* The demo task's record: made once, kept in dap_kv, provisioned on both aggregators. */
static int demo_task(struct dap_service *svc, char *id_out, size_t id_len)
{
	struct tb_bytes rec = { 0 };
	struct tb_store *st = svc->core->store;
	int rc = dap_db_kv_get(st, DEMO_KEY, &rec);
	if (rc == TB_ERR_NOT_FOUND) {
		char id[64], vk[64], tok[64], ctok[64], cfg[256], path[1024];
		struct dap_hpke_keypair kp;
		random_b64url(DAP_TASK_ID_LEN, id, sizeof id);
		random_b64url(DAP_PRIO3_VERIFY_KEY_SIZE, vk, sizeof vk);
		random_b64url(16, tok, sizeof tok);
		random_b64url(16, ctok, sizeof ctok);
		if ((rc = dap_hpke_keygen(DAP_HPKE_KEM_X25519_SHA256, &kp)))
			return rc;
		struct dap_hpke_config c = { 1, DAP_HPKE_KEM_X25519_SHA256, DAP_HPKE_KDF_SHA256,
					     DAP_HPKE_AEAD_AES128GCM, TB_BUF(kp.pk, kp.pk_len) };
		struct tb_bytes enc = { 0 };
		dap_hpke_config_encode(&c, &enc);
		dap_b64url(enc.p, enc.len, cfg, sizeof cfg);
		tb_bytes_free(&enc);
		snprintf(path, sizeof path, "%s/dap-demo-collector.json",
			 svc->core->data_dir ? svc->core->data_dir : ".");
		rc = dap_write_credential(path, &c, &kp, ctok);
		tb_crypto_wipe(&kp, sizeof kp);
		if (rc) {
			TB_ERROR("dap", "cannot write %s", path);
			return rc;
		}
		tb_bytes_printf(&rec,
				"{\"id\":\"%s\",\"vdaf\":\"histogram\",\"length\":4,\"chunk_length\":2,"
				"\"min_batch_size\":1,\"time_precision\":300,\"verify_key\":\"%s\","
				"\"aggregator_auth_token\":\"%s\",\"collector_auth_token\":\"%s\","
				"\"collector_hpke_config\":\"%s\"}",
				id, vk, tok, ctok, cfg);
		if (rec.err)
			return rec.err;
		if ((rc = dap_db_kv_put_sync(st, DEMO_KEY, tb_bytes_buf(&rec))))
			return rc;
		TB_INFO("dap", "demo task created; collector credential in %s", path);
	} else if (rc) {
		return rc;
	}
	char msg[256];
	struct dap_task t;
	cJSON *j = cJSON_ParseWithLength((const char *)rec.p, rec.len);
	rc = dap_task_from_json(j, &t, msg, sizeof msg);
	cJSON_Delete(j);
	tb_bytes_free(&rec);
	if (rc) {
		TB_ERROR("dap", "demo task: %s", msg);
		return rc;
	}
	/* Written again at each start: the records follow the URLs if they moved. */
	for (int k = 0; k < 2 && !rc; k++) {
		struct dap_task copy = t;
		rc = dap_provision(&svc->agg[k], &copy);
	}
	dap_b64url(t.id, DAP_TASK_ID_LEN, id_out, id_len);
	return rc;
}

/* ---- lifecycle ------------------------------------------------------------ */

static void listener_base(const cJSON *l, int port, char *base, size_t len);

/* The listener to mount on (dap.listener, else the first TLS listener, else
 * the first) and the base URL it gives; 1 when there is no listener. */
static int pick_listener(struct dap_service *svc, char *base, size_t len, char *err, size_t errlen)
{
	const cJSON *listen = tb_config_section(svc->core->config, "listen"), *it, *pick = NULL;
	const char *want = tb_cfg_str(svc->cfg, "listener");
	cJSON_ArrayForEach(it, listen) {
		const char *name = tb_cfg_str(it, "name");
		if (want && *want) {
			if (name && !strcmp(name, want))
				pick = it;
		} else if (!pick || (tb_cfg_bool(it, "tls") && !tb_cfg_bool(pick, "tls"))) {
			pick = it;
		}
	}
	if (!pick && want && *want) {
		snprintf(err, errlen, "dap.listener: no listener named '%s'", want);
		return TB_ERR_CONFIG;
	}
	if (!pick)
		return 1; /* no listener at all: nothing to serve DAP on */
	svc->listener = tb_cfg_str(pick, "name");
	const char *pub = tb_cfg_str(svc->cfg, "public_url");
	if (pub && *pub) {
		size_t n = strlen(pub);
		while (n > 0 && pub[n - 1] == '/')
			n--;
		snprintf(base, len, "%.*s", (int)n, pub);
		return 0;
	}
	/* Port 0 is only known once bound: dap_start (or, for the commands, the
	 * running instance's record) puts the real one in. */
	svc->listener_cfg = pick;
	svc->ephemeral_base = tb_cfg_int(pick, "port") == 0;
	listener_base(pick, (int)tb_cfg_int(pick, "port"), base, len);
	return 0;
}

/* Sets the public base and both aggregators' base URLs from it. */
void dap_set_public_base(struct dap_service *svc, const char *base)
{
	snprintf(svc->public_base, sizeof svc->public_base, "%s", base);
	for (int k = 0; k < 2; k++)
		snprintf(svc->agg[k].base_url, sizeof svc->agg[k].base_url, "%s/dap/%s/", base,
			 k == DAP_AGG_LEADER ? "leader" : "helper");
}

/* "https://<address>:<port>" of a listener entry. */
static void listener_base(const cJSON *l, int port, char *base, size_t len)
{
	const char *addr = tb_cfg_str(l, "address");
	int v6 = addr && strchr(addr, ':') != NULL;
	snprintf(base, len, "%s://%s%s%s:%d", tb_cfg_bool(l, "tls") ? "https" : "http", v6 ? "[" : "",
		 addr ? addr : "127.0.0.1", v6 ? "]" : "", port);
}

/*
 * For the commands of a configuration whose DAP listener has port 0: the
 * base the running instance recorded when it bound the port. TB_ERR_NOT_FOUND
 * when no instance has run with it.
 */
int dap_resolve_public_base(struct dap_service *svc)
{
	if (!svc->ephemeral_base)
		return 0;
	struct tb_bytes rec = { 0 };
	int rc = dap_db_kv_get(svc->core->store, DAP_KV_BOUND_BASE, &rec);
	if (!rc && (!rec.len || rec.len >= sizeof svc->public_base))
		rc = TB_ERR_NOT_FOUND;
	if (!rc) {
		char base[DAP_MAX_URL];
		snprintf(base, sizeof base, "%.*s", (int)rec.len, (const char *)rec.p);
		dap_set_public_base(svc, base);
	}
	tb_bytes_free(&rec);
	return rc;
}

static int dap_configure(struct tb_core *core, void **state, char *err, size_t errlen)
{
	const cJSON *sec = tb_config_section(core->config, "dap");
	*state = NULL;
	if (!sec || !tb_cfg_bool(sec, "enabled"))
		return 0;
	struct dap_service *svc = calloc(1, sizeof *svc);
	if (!svc)
		return TB_ERR_NOMEM;
	svc->core = core;
	svc->cfg = sec;
	const char *role = tb_cfg_str(sec, "role");
	svc->interop_role = role && !strcmp(role, "client")	 ? DAP_INTEROP_CLIENT :
			    role && !strcmp(role, "collector") ? DAP_INTEROP_COLLECTOR :
								 DAP_INTEROP_AGGREGATOR;
	int agg_role = svc->interop_role == DAP_INTEROP_AGGREGATOR;
	svc->run_leader = agg_role && (!role || strcmp(role, "helper") != 0);
	svc->run_helper = agg_role && (!role || strcmp(role, "leader") != 0);
	svc->max_upload_bytes = (size_t)tb_cfg_int(sec, "max_upload_bytes");
	svc->max_job_size = (size_t)tb_cfg_int(sec, "max_aggregation_job_size");
	svc->interop_api = tb_cfg_bool(sec, "interop_api");
	svc->aggregation_period_ms = (uint64_t)tb_cfg_int(sec, "aggregation_period_ms");
	const char *ca = tb_cfg_str(sec, "helper_ca_file");
	if (ca && *ca) {
		struct tb_bytes pem = { 0 };
		FILE *f = fopen(ca, "rb");
		char buf[4096];
		size_t n;
		while (f && (n = fread(buf, 1, sizeof buf, f)) > 0 && pem.len < (1u << 20))
			tb_bytes_append(&pem, buf, n);
		if (f)
			fclose(f);
		if (!f || !pem.len || !tb_bytes_cstr(&pem)) {
			snprintf(err, errlen, "dap.helper_ca_file: cannot read '%s'", ca);
			tb_bytes_free(&pem);
			dap_free(svc);
			return TB_ERR_CONFIG;
		}
		svc->helper_ca_pem = (char *)pem.p;
	}
	svc->demo_task = tb_cfg_bool(sec, "demo_task") && svc->run_leader && svc->run_helper;
	char base[DAP_MAX_URL - 32];
	int rc = pick_listener(svc, base, sizeof base, err, errlen);
	if (rc == 1) {
		TB_INFO("dap", "no listener: the DAP aggregators do not run");
		dap_free(svc);
		return 0;
	}
	for (int k = 0; k < 2 && !rc; k++) {
		struct dap_aggregator *agg = &svc->agg[k];
		agg->svc = svc;
		agg->kind = (enum dap_agg_kind)k;
		agg->name = k == DAP_AGG_LEADER ? "leader" : "helper";
		snprintf(agg->prefix, sizeof agg->prefix, "/dap/%s/", agg->name);
	}
	dap_set_public_base(svc, base);
	/* Every configured task is checked now, so a mistake stops the start. */
	const cJSON *it;
	cJSON_ArrayForEach(it, tb_cfg_get(sec, "tasks")) {
		struct dap_task t;
		if (rc)
			break;
		if ((rc = dap_task_from_json(it, &t, err, errlen)))
			break;
		const char *tr = tb_cfg_str(it, "role");
		int both = !tr || !strcmp(tr, "both");
		if ((both && !(svc->run_leader && svc->run_helper)) ||
		    (!both && t.role == DAP_AGG_LEADER && !svc->run_leader) ||
		    (!both && t.role == DAP_AGG_HELPER && !svc->run_helper)) {
			snprintf(err, errlen, "dap.tasks[].role: '%s' needs an aggregator this instance does not run (dap.role = %s)",
				 tr ? tr : "both", role ? role : "both");
			rc = TB_ERR_CONFIG;
		}
	}
	if (rc) {
		if (rc != TB_ERR_CONFIG)
			snprintf(err, errlen, "dap: %s", tb_strerror(rc));
		dap_free(svc);
		return TB_ERR_CONFIG;
	}
	*state = svc;
	return 0;
}

static int dap_start(void *state)
{
	struct dap_service *svc = state;
	int rc = dap_metrics_register();
	if (rc)
		return rc;
	if (!svc->core->http) {
		TB_ERROR("dap", "no HTTP server to serve DAP on");
		return TB_ERR_CONFIG;
	}
	if (svc->ephemeral_base) {
		/* The listeners are bound by now: the URLs tasks and the banner get
		 * carry the real port, and the commands read it from the store. */
		char base[DAP_MAX_URL - 32];
		int port = tb_http_listener_port(svc->core->http, svc->listener);
		if (port <= 0) {
			TB_ERROR("dap", "listener %s is not bound", svc->listener);
			return TB_ERR_STATE;
		}
		listener_base(svc->listener_cfg, port, base, sizeof base);
		dap_set_public_base(svc, base);
		rc = dap_db_kv_put_sync(svc->core->store, DAP_KV_BOUND_BASE, TB_BUF(base, strlen(base)));
	}
	for (int k = 0; k < 2 && !rc; k++) {
		if ((k == DAP_AGG_LEADER && !svc->run_leader) || (k == DAP_AGG_HELPER && !svc->run_helper))
			continue;
		rc = dap_db_load_keys(&svc->agg[k]);
		svc->agg[k].keys_read_ms = uv_now(svc->core->loop);
	}
	const cJSON *it;
	cJSON_ArrayForEach(it, tb_cfg_get(svc->cfg, "tasks")) {
		struct dap_task t;
		char msg[256];
		if (rc || (rc = dap_task_from_json(it, &t, msg, sizeof msg)))
			break;
		const char *tr = tb_cfg_str(it, "role");
		int both = !tr || !strcmp(tr, "both");
		for (int k = 0; k < 2 && !rc; k++) {
			struct dap_task copy = t;
			if (both || (int)t.role == k)
				rc = dap_provision(&svc->agg[k], &copy);
		}
	}
	char demo_id[64] = "";
	if (!rc && svc->demo_task)
		rc = demo_task(svc, demo_id, sizeof demo_id);
	for (int k = 0; k < 2 && !rc; k++) {
		if ((k == DAP_AGG_LEADER && !svc->run_leader) || (k == DAP_AGG_HELPER && !svc->run_helper))
			continue;
		rc = dap_api_mount(&svc->agg[k]);
		if (!rc)
			tb_core_announce(svc->core, "dap", k == DAP_AGG_LEADER ? "DAP leader" : "DAP helper",
					 "%s", svc->agg[k].base_url);
	}
	if (rc) {
		TB_ERROR("dap", "cannot start: %s", tb_strerror(rc));
		return rc;
	}
	if (!rc && svc->interop_api) {
		rc = dap_interop_mount(svc);
		if (rc) {
			TB_ERROR("dap", "cannot serve the interop API: %s", tb_strerror(rc));
			return rc;
		}
		tb_core_announce(svc->core, "dap", "DAP interop API", "%s/internal/test/",
				 svc->public_base);
	}
	if (!rc && (rc = dap_admin_mount(svc)) != 0) {
		TB_ERROR("dap", "cannot mount the admin API: %s", tb_strerror(rc));
		return rc;
	}
	if (*demo_id)
		tb_core_announce(svc->core, "dap", "DAP demo task", "%s", demo_id);
	if (svc->run_leader)
		dap_leader_start(svc);
	return 0;
}

void dap_service_check_stopped(struct dap_service *svc)
{
	if (!svc->stopping || !svc->stop_done || svc->inflight || svc->job || svc->timer_on)
		return;
	tb_done_cb done = svc->stop_done;
	svc->stop_done = NULL;
	done(svc->stop_arg);
}

static void dap_stop(void *state, tb_done_cb done, void *arg)
{
	struct dap_service *svc = state;
	svc->stopping = 1;
	svc->stop_done = done;
	svc->stop_arg = arg;
	dap_leader_stop(svc);
	if (svc->interop_role != DAP_INTEROP_AGGREGATOR)
		dap_interop_stop();
	dap_service_check_stopped(svc);
}

static void dap_free(void *state)
{
	struct dap_service *svc = state;
	if (!svc)
		return;
	for (int k = 0; k < 2; k++) {
		struct dap_aggregator *agg = &svc->agg[k];
		for (size_t i = 0; i < agg->n_tasks; i++) {
			tb_crypto_wipe(agg->tasks[i], sizeof *agg->tasks[i]);
			free(agg->tasks[i]);
		}
		free(agg->tasks);
		tb_crypto_wipe(agg->keys, sizeof agg->keys);
		tb_bytes_free(&agg->config_list);
	}
	free(svc->helper_ca_pem);
	if (svc->interop_role != DAP_INTEROP_AGGREGATOR)
		dap_interop_free();
	free(svc);
}

/* `trustbox dap collect ...` */
static int dap_command(void *state, int argc, char **argv)
{
	if (argc >= 1 && !strcmp(argv[0], "collect"))
		return dap_collect_command(state, argc - 1, argv + 1);
	if (argc >= 1 && !strcmp(argv[0], "upload"))
		return dap_upload_command(state, argc - 1, argv + 1);
	if (argc >= 1 && !strcmp(argv[0], "task"))
		return dap_task_command(state, argc - 1, argv + 1);
	if (argc >= 1 && !strcmp(argv[0], "key"))
		return dap_key_command(state, argc - 1, argv + 1);
	if (argc >= 1 && !strcmp(argv[0], "interop"))
		return dap_interop_command(argc - 1, argv + 1);
	fprintf(stderr, "trustbox: usage: trustbox dap task create|import|list|show|delete ... | key list|rotate|retire ... | upload ... | collect ... | interop ROLE ...\n");
	return 2;
}

/* Clients of other instances: they need neither the store nor a data directory. */
static const char *const dap_client_commands[] = { "upload", "collect", "interop", NULL };

const struct tb_subsystem dap_subsystem = {
	.client_commands = dap_client_commands,
	.command = dap_command,
	.command_usage = "task|key|upload|collect|interop",
	.name = "dap",
	.sections = dap_sections,
	.configure = dap_configure,
	.migrations = dap_migrations,
	.start = dap_start,
	.stop = dap_stop,
	.free = dap_free,
};
