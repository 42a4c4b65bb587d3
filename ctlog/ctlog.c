/*
 * DESIGN: the ctlog subsystem: one or more Certificate Transparency logs in
 * the shape of Sunlight (static-ct-api tiles, zero merge delay) that also
 * answer the RFC 6962 read API from the same tree.
 *
 *   configure  the `ctlog { ... }` section: logs with their URL prefixes,
 *              accepted roots and NotAfter shard; period and pool size
 *   migrate    ct_* tables (log.c)
 *   start      per log: key (generated on first start, kept in ct_keys),
 *              tree state rebuilt and checked from the store, HTTP routes
 *              (api.c), the sequencing timer, and a tb_ct_submitter so the
 *              CA gets SCTs in-process through the same durable path; one
 *              more tb_ct_submitter per `external` remote log (external.c)
 *   stop       refuse new work, answer the pool with 503, wait for the
 *              batch in flight and the validations on the thread pool
 *
 * URLs: a log named N defaults to https://<first TLS listener>/ct/N/ for
 * both prefixes; its checkpoint origin is the submission prefix without
 * scheme and trailing slash, as static-ct-api requires.
 */
#include "ctlog/ctlog_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/ca.h"
#include "core/clock.h"
#include "core/crypto.h"
#include "core/config.h"
#include "core/error.h"
#include "core/log.h"
#include "ctlog/metrics.h"

static const struct tb_option log_options[] = {
	{ .name = "name", .type = TB_OPT_STRING, .required = 1,
		.help = "short name of the log (letters, digits, '-', '_'); default URL path /ct/<name>/" },
	{ .name = "submission_url", .type = TB_OPT_STRING, .def = "\"\"",
		.help = "submission prefix; default https://<first TLS listener>/ct/<name>/" },
	{ .name = "monitoring_url", .type = TB_OPT_STRING, .def = "\"\"",
		.help = "monitoring prefix (checkpoint, tiles, issuers); default the submission prefix" },
	{ .name = "roots", .type = TB_OPT_STRINGS, .def = "[]",
		.help = "PEM files with additional accepted roots" },
	{ .name = "trustbox_root", .type = TB_OPT_BOOL, .def = "true",
		.help = "accept chains to trustbox's own root CA" },
	{ .name = "not_after_start", .type = TB_OPT_STRING, .def = "\"\"",
		.help = "temporal shard: accept leaves whose NotAfter is at or after this time (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ)" },
	{ .name = "not_after_limit", .type = TB_OPT_STRING, .def = "\"\"",
		.help = "temporal shard: accept leaves whose NotAfter is before this time" },
	{ .name = "mmd", .type = TB_OPT_INT, .def = "86400", .min = 1, .max = 604800,
		.help = "maximum merge delay announced in log lists, seconds" },
	TB_OPTIONS_END
};

static const struct tb_option external_options[] = {
	{ .name = "url", .type = TB_OPT_STRING, .required = 1,
		.help = "submission prefix of a remote RFC 6962 or static-ct-api log" },
	{ .name = "key", .type = TB_OPT_STRING, .def = "\"\"",
		.help = "its base64 DER public key (as in log lists); when set, SCTs are verified" },
	{ .name = "timeout_ms", .type = TB_OPT_INT, .def = "10000", .min = 100, .max = 300000,
		.help = "whole add-chain request deadline" },
	TB_OPTIONS_END
};

static const struct tb_option ctlog_options[] = {
	{ .name = "enabled", .type = TB_OPT_BOOL, .def = "true", .help = "run the CT logs" },
	{ .name = "period_ms", .type = TB_OPT_INT, .def = "1000", .min = 10, .max = 60000,
		.help = "sequencing period: submissions are pooled this long, then committed and answered" },
	{ .name = "pool_size", .type = TB_OPT_INT, .def = "4096", .min = 1, .max = 1000000,
		.help = "pending submissions per log; beyond it add-chain answers 503 with Retry-After" },
	{ .name = "logs", .type = TB_OPT_TABLES, .def = "[{\"name\":\"lab\"}]",
		.help = "the logs served", .children = log_options },
	{ .name = "external", .type = TB_OPT_TABLES, .def = "[]",
		.help = "remote logs the CA also submits to (tb_ct_submitter over HTTP)",
		.children = external_options },
	TB_OPTIONS_END
};

static const struct tb_section_def ctlog_section = {
	.name = "ctlog",
	.options = ctlog_options,
	.help = "Certificate Transparency logs: static-ct-api tiles and the RFC 6962 API",
};

static const struct tb_section_def *const ctlog_sections[] = { &ctlog_section, NULL };

/* "2026-01-01" or "2026-01-01T00:00:00Z" -> Unix seconds; "" -> 0. */
static int parse_time(const char *s, int64_t *out)
{
	*out = 0;
	if (!s || !*s)
		return 0;
	struct tm tm = { 0 };
	char tail = 0;
	int n = sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%c", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
		&tm.tm_hour, &tm.tm_min, &tm.tm_sec, &tail);
	if (!(n == 3 && strlen(s) == 10) && !(n == 7 && tail == 'Z' && strlen(s) == 20))
		return TB_ERR_INVALID;
	if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
		tm.tm_min > 59 || tm.tm_sec > 60)
		return TB_ERR_INVALID;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	*out = (int64_t)timegm(&tm);
	return 0;
}

/* Splits "https://host[:port]/path/" into a path (with a trailing slash) and an origin. */
static int split_url(const char *url, char *path, size_t pathlen, char *origin, size_t originlen)
{
	const char *hostp = strstr(url, "://");
	if (!hostp || (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0))
		return TB_ERR_INVALID;
	hostp += 3;
	const char *slash = strchr(hostp, '/');
	if (!slash || slash == hostp)
		return TB_ERR_INVALID;
	size_t pl = strlen(slash);
	int add = slash[pl - 1] != '/';
	if (pl + add + 1 > pathlen)
		return TB_ERR_TOO_LARGE;
	snprintf(path, pathlen, "%s%s", slash, add ? "/" : "");
	if (origin) {
		size_t ol = strlen(hostp);
		while (ol > 0 && hostp[ol - 1] == '/')
			ol--;
		if (ol == 0 || ol + 1 > originlen || ol > CT_MAX_ORIGIN)
			return TB_ERR_INVALID;
		memcpy(origin, hostp, ol);
		origin[ol] = 0;
		for (size_t i = 0; i < ol; i++)
			if (origin[i] <= ' ' || origin[i] == '+' || (unsigned char)origin[i] >= 0x7f)
				return TB_ERR_INVALID;
	}
	return 0;
}

/* https://<address>:<port> of the first TLS listener (else the first listener). */
static int default_base(struct tb_core *core, char *out, size_t len)
{
	const cJSON *listen = tb_config_section(core->config, "listen"), *it, *pick = NULL;
	cJSON_ArrayForEach(it, listen) {
		if (!pick || (tb_cfg_bool(it, "tls") && !tb_cfg_bool(pick, "tls")))
			pick = it;
	}
	if (!pick)
		return TB_ERR_CONFIG;
	const char *addr = tb_cfg_str(pick, "address");
	int v6 = addr && strchr(addr, ':') != NULL;
	snprintf(out, len, "%s://%s%s%s:%lld", tb_cfg_bool(pick, "tls") ? "https" : "http",
		v6 ? "[" : "", addr ? addr : "127.0.0.1", v6 ? "]" : "", tb_cfg_int(pick, "port"));
	return 0;
}

/* A roots file bigger than this is a mistake (the CCADB has a few hundred roots). */
#define CT_MAX_ROOTS_FILE (16u * 1024 * 1024)

static void ctlog_free(void *state);

static int configure_log(struct ct_service *svc, struct ct_log *log, const cJSON *c, char *err,
	size_t errlen)
{
	log->svc = svc;
	log->cfg = c;
	const char *name = tb_cfg_str(c, "name");
	size_t nl = name ? strlen(name) : 0;
	if (nl == 0 || nl >= sizeof log->name) {
		snprintf(err, errlen, "ctlog.logs[].name: expected 1 to %zu characters", sizeof log->name - 1);
		return TB_ERR_CONFIG;
	}
	for (size_t i = 0; i < nl; i++) {
		char ch = name[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
			ch == '-' || ch == '_')) {
			snprintf(err, errlen, "ctlog.logs[].name: '%s' may hold only letters, digits, '-' and '_'", name);
			return TB_ERR_CONFIG;
		}
	}
	for (size_t i = 0; i < svc->n_logs; i++) {
		if (strcmp(svc->logs[i].name, name) == 0) {
			snprintf(err, errlen, "ctlog.logs[].name: '%s' given twice", name);
			return TB_ERR_CONFIG;
		}
	}
	memcpy(log->name, name, nl + 1);
	const char *sub = tb_cfg_str(c, "submission_url"), *mon = tb_cfg_str(c, "monitoring_url");
	if (sub && *sub) {
		snprintf(log->sub_url, sizeof log->sub_url, "%s%s", sub, sub[strlen(sub) - 1] == '/' ? "" : "/");
	} else {
		char base[300];
		if (default_base(svc->core, base, sizeof base)) {
			snprintf(err, errlen, "ctlog.logs[%s].submission_url: no listener to derive it from", name);
			return TB_ERR_CONFIG;
		}
		snprintf(log->sub_url, sizeof log->sub_url, "%s/ct/%s/", base, name);
	}
	if (mon && *mon)
		snprintf(log->mon_url, sizeof log->mon_url, "%s%s", mon, mon[strlen(mon) - 1] == '/' ? "" : "/");
	else
		memcpy(log->mon_url, log->sub_url, sizeof log->mon_url);
	if (split_url(log->sub_url, log->sub_path, sizeof log->sub_path, log->origin, sizeof log->origin)) {
		snprintf(err, errlen, "ctlog.logs[%s].submission_url: expected an http(s) URL with a path, got '%s'",
			name, log->sub_url);
		return TB_ERR_CONFIG;
	}
	if (split_url(log->mon_url, log->mon_path, sizeof log->mon_path, NULL, 0)) {
		snprintf(err, errlen, "ctlog.logs[%s].monitoring_url: expected an http(s) URL with a path, got '%s'",
			name, log->mon_url);
		return TB_ERR_CONFIG;
	}
	if (parse_time(tb_cfg_str(c, "not_after_start"), &log->policy.not_after_start) ||
		parse_time(tb_cfg_str(c, "not_after_limit"), &log->policy.not_after_limit)) {
		snprintf(err, errlen, "ctlog.logs[%s].not_after_start/not_after_limit: expected YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ", name);
		return TB_ERR_CONFIG;
	}
	if (log->policy.not_after_start && log->policy.not_after_limit &&
		log->policy.not_after_start >= log->policy.not_after_limit) {
		snprintf(err, errlen, "ctlog.logs[%s].not_after_limit: must be after not_after_start", name);
		return TB_ERR_CONFIG;
	}
	log->mmd = (int)tb_cfg_int(c, "mmd");
	if (ct_roots_new(&log->roots))
		return TB_ERR_NOMEM;
	const cJSON *roots = tb_cfg_get(c, "roots"), *it;
	cJSON_ArrayForEach(it, roots) {
		struct tb_bytes pem = { 0 };
		int rc = cJSON_IsString(it) ? tb_read_file(it->valuestring, CT_MAX_ROOTS_FILE, &pem)
					    : TB_ERR_INVALID;
		if (!rc)
			rc = ct_roots_add_pem(log->roots, (const char *)pem.p, pem.len);
		tb_bytes_free(&pem);
		if (rc) {
			snprintf(err, errlen, "ctlog.logs[%s].roots: cannot load '%s': %s", name,
				cJSON_IsString(it) ? it->valuestring : "?", tb_strerror(rc));
			return TB_ERR_CONFIG;
		}
	}
	return 0;
}

static int ctlog_configure(struct tb_core *core, void **state, char *err, size_t errlen)
{
	const cJSON *sec = tb_config_section(core->config, "ctlog");
	*state = NULL;
	if (!sec || !tb_cfg_bool(sec, "enabled"))
		return 0;
	struct ct_service *svc = calloc(1, sizeof *svc);
	if (!svc)
		return TB_ERR_NOMEM;
	svc->core = core;
	svc->period_ms = (uint64_t)tb_cfg_int(sec, "period_ms");
	svc->pool_size = (size_t)tb_cfg_int(sec, "pool_size");
	const cJSON *logs = tb_cfg_get(sec, "logs"), *it;
	int rc = 0;
	cJSON_ArrayForEach(it, logs) {
		if (svc->n_logs == CT_MAX_LOGS) {
			snprintf(err, errlen, "ctlog.logs: at most %d logs", CT_MAX_LOGS);
			rc = TB_ERR_CONFIG;
			break;
		}
		struct ct_log *log = &svc->logs[svc->n_logs];
		rc = configure_log(svc, log, it, err, errlen);
		svc->n_logs++;
		if (rc)
			break;
		for (size_t i = 0; i + 1 < svc->n_logs; i++) {
			if (strcmp(svc->logs[i].sub_path, log->sub_path) == 0 ||
				strcmp(svc->logs[i].mon_path, log->mon_path) == 0) {
				snprintf(err, errlen, "ctlog.logs[%s]: URL path shared with log %s", log->name,
					svc->logs[i].name);
				rc = TB_ERR_CONFIG;
			}
		}
		if (rc)
			break;
	}
	const cJSON *ext = tb_cfg_get(sec, "external");
	cJSON_ArrayForEach(it, ext) {
		if (rc)
			break;
		if (svc->n_external == CT_MAX_LOGS) {
			snprintf(err, errlen, "ctlog.external: at most %d logs", CT_MAX_LOGS);
			rc = TB_ERR_CONFIG;
			break;
		}
		const char *url = tb_cfg_str(it, "url");
		rc = ct_external_new(core->loop, url, tb_cfg_str(it, "key"),
			(uint64_t)tb_cfg_int(it, "timeout_ms"), &svc->external[svc->n_external]);
		if (rc) {
			snprintf(err, errlen, "ctlog.external[%s]: expected an http(s) URL and a base64 DER public key",
				url ? url : "?");
			rc = TB_ERR_CONFIG;
			break;
		}
		svc->n_external++;
	}
	if (rc) {
		ctlog_free(svc);
		return rc;
	}
	*state = svc;
	return 0;
}

/* ---- in-process submitter ---------------------------------------------- */

/* The CA's callback and argument, until the sequencer completes the submission. */
struct local_sub {
	tb_sct_cb cb;
	void *arg;
};

static void local_done(void *ctx, const struct ct_result *res)
{
	struct local_sub *ls = ctx;
	ls->cb(res->status, res->sct, ls->arg);
	free(ls);
}

static int submit_local(void *impl, const struct tb_buf *chain, size_t n, int precert,
	tb_sct_cb cb, void *arg)
{
	struct ct_log *log = impl;
	if (n < 1 || n > CT_MAX_CHAIN)
		return TB_ERR_INVALID;
	struct ct_chain c = { 0 };
	for (size_t i = 0; i < n; i++) {
		if (chain[i].len == 0 || chain[i].len > CT_MAX_CERT ||
			tb_bytes_append(&c.der[i], chain[i].p, chain[i].len)) {
			ct_chain_free(&c);
			return TB_ERR_INVALID;
		}
	}
	c.n = n;
	struct local_sub *ls = calloc(1, sizeof *ls);
	if (!ls) {
		ct_chain_free(&c);
		return TB_ERR_NOMEM;
	}
	ls->cb = cb;
	ls->arg = arg;
	int err = ct_log_submit(log, &c, precert, local_done, ls);
	ct_chain_free(&c);
	if (err)
		free(ls);
	return err;
}

/* ---- log list -------------------------------------------------------- */

static void add_time(cJSON *o, const char *name, int64_t t)
{
	char buf[32];
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
	cJSON_AddStringToObject(o, name, buf);
}

/*
 * The logs in the v3 log list schema that monitors and CT clients load: each
 * log appears under "logs" (RFC 6962 API, url = submission prefix) and under
 * "tiled_logs" (static-ct-api, submission and monitoring prefixes).
 */
cJSON *ct_loglist_json(struct ct_service *svc)
{
	cJSON *root = cJSON_CreateObject();
	cJSON_AddStringToObject(root, "version", "1.0");
	add_time(root, "log_list_timestamp", tb_time_now());
	cJSON *ops = cJSON_AddArrayToObject(root, "operators");
	cJSON *op = cJSON_CreateObject();
	cJSON_AddItemToArray(ops, op);
	cJSON_AddStringToObject(op, "name", "trustbox");
	cJSON_AddArrayToObject(op, "email");
	cJSON *logs = cJSON_AddArrayToObject(op, "logs");
	cJSON *tiled = cJSON_AddArrayToObject(op, "tiled_logs");
	for (size_t i = 0; i < svc->n_logs; i++) {
		struct ct_log *log = &svc->logs[i];
		for (int k = 0; k < 2; k++) {
			cJSON *o = cJSON_CreateObject();
			char desc[128];
			snprintf(desc, sizeof desc, "trustbox '%s' log", log->name);
			cJSON_AddStringToObject(o, "description", desc);
			ct_json_add_b64(o, "log_id", log->log_id, CT_HASH_LEN);
			ct_json_add_b64(o, "key", log->spki.p, log->spki.len);
			if (k == 0) {
				cJSON_AddStringToObject(o, "url", log->sub_url);
			} else {
				cJSON_AddStringToObject(o, "submission_url", log->sub_url);
				cJSON_AddStringToObject(o, "monitoring_url", log->mon_url);
			}
			cJSON_AddNumberToObject(o, "mmd", log->mmd);
			cJSON *state = cJSON_AddObjectToObject(o, "state");
			add_time(cJSON_AddObjectToObject(state, "usable"), "timestamp",
				(int64_t)(log->sth_timestamp / 1000));
			if (log->policy.not_after_start || log->policy.not_after_limit) {
				cJSON *ti = cJSON_AddObjectToObject(o, "temporal_interval");
				add_time(ti, "start_inclusive", log->policy.not_after_start);
				add_time(ti, "end_exclusive", log->policy.not_after_limit ?
					log->policy.not_after_limit : (int64_t)253402300799);
			}
			cJSON_AddItemToArray(k == 0 ? logs : tiled, o);
		}
	}
	return root;
}

/* Writes <data_dir>/ctlog-loglist.json and <data_dir>/ctlog-<name>.pem (public keys). */
static void export_public(struct ct_service *svc)
{
	const char *dir = svc->core->data_dir ? svc->core->data_dir : ".";
	char path[1024];
	for (size_t i = 0; i < svc->n_logs; i++) {
		struct ct_log *log = &svc->logs[i];
		struct tb_bytes pem = { 0 };
		snprintf(path, sizeof path, "%s/ctlog-%s.pem", dir, log->name);
		FILE *f = fopen(path, "w");
		if (f && tb_pkey_write_public_pem(log->key, &pem) == 0)
			fwrite(pem.p, 1, pem.len, f);
		if (f)
			fclose(f);
		tb_bytes_free(&pem);
	}
	cJSON *list = ct_loglist_json(svc);
	char *text = list ? cJSON_Print(list) : NULL;
	snprintf(path, sizeof path, "%s/ctlog-loglist.json", dir);
	FILE *f = text ? fopen(path, "w") : NULL;
	if (f) {
		fputs(text, f);
		fputc('\n', f);
		fclose(f);
	} else {
		TB_WARN("ctlog", "cannot write %s", path);
	}
	free(text);
	cJSON_Delete(list);
}

/* ---- lifecycle --------------------------------------------------------- */

static int ctlog_start(void *state)
{
	struct ct_service *svc = state;
	int merr = ct_metrics_start(svc);
	if (merr)
		return merr;
	for (size_t i = 0; i < svc->n_logs; i++) {
		struct ct_log *log = &svc->logs[i];
		int err = 0;
		if (tb_cfg_bool(log->cfg, "trustbox_root") && svc->core->ca)
			err = ct_roots_add_der(log->roots, TB_BUF(svc->core->ca->root.raw.p,
				svc->core->ca->root.raw.len));
		if (!err && ct_roots_count(log->roots) == 0) {
			TB_ERROR("ctlog", "log %s: no accepted roots", log->name);
			err = TB_ERR_CONFIG;
		}
		if (!err)
			err = ct_log_open(log);
		if (!err)
			err = ct_api_register(log);
		if (!err)
			err = ct_log_start(log);
		if (err) {
			TB_ERROR("ctlog", "log %s: cannot start: %s", log->name, tb_strerror(err));
			return err;
		}
		log->submitter.impl = log;
		log->submitter.submit = submit_local;
		log->submitter.name = log->name;
		memcpy(log->submitter.log_id, log->log_id, sizeof log->submitter.log_id);
		log->submitter.has_log_id = 1;
		struct tb_services *s = svc->core->services;
		if (s && s->n_ct < sizeof s->ct / sizeof s->ct[0])
			s->ct[s->n_ct++] = &log->submitter;
		tb_core_announce(svc->core, "ctlog", "CT log submission", "%s", log->sub_url);
		if (strcmp(log->mon_url, log->sub_url) != 0)
			tb_core_announce(svc->core, "ctlog", "CT log monitoring", "%s", log->mon_url);
		TB_INFO("ctlog", "log %s: origin %s, tree size %llu, %zu accepted roots", log->name,
			log->origin, (unsigned long long)log->size, ct_roots_count(log->roots));
	}
	for (size_t i = 0; i < svc->n_external; i++) {
		struct tb_services *s = svc->core->services;
		if (s && s->n_ct < sizeof s->ct / sizeof s->ct[0])
			s->ct[s->n_ct++] = ct_external_submitter(svc->external[i]);
	}
	export_public(svc);
	return ct_admin_register(svc);
}

void ct_service_check_stopped(struct ct_service *svc)
{
	if (!svc->stopping || !svc->stop_done || svc->closing_timers)
		return;
	for (size_t i = 0; i < svc->n_logs; i++)
		if (svc->logs[i].inflight || svc->logs[i].validating)
			return;
	tb_done_cb done = svc->stop_done;
	svc->stop_done = NULL;
	done(svc->stop_arg);
}

static void timer_closed(uv_handle_t *h)
{
	struct ct_log *log = h->data;
	log->svc->closing_timers--;
	ct_service_check_stopped(log->svc);
}

static void ctlog_stop(void *state, tb_done_cb done, void *arg)
{
	struct ct_service *svc = state;
	svc->stopping = 1;
	svc->stop_done = done;
	svc->stop_arg = arg;
	for (size_t i = 0; i < svc->n_external; i++) {
		struct tb_services *s = svc->core->services;
		for (size_t k = 0; s && k < s->n_ct; k++) {
			if (s->ct[k] == ct_external_submitter(svc->external[i])) {
				s->ct[k] = s->ct[--s->n_ct];
				break;
			}
		}
	}
	for (size_t i = 0; i < svc->n_logs; i++) {
		struct ct_log *log = &svc->logs[i];
		struct tb_services *s = svc->core->services;
		for (size_t k = 0; s && k < s->n_ct; k++) {
			if (s->ct[k] == &log->submitter) {
				s->ct[k] = s->ct[--s->n_ct];
				break;
			}
		}
		if (uv_is_active((uv_handle_t *)&log->timer) || log->timer.loop) {
			if (!uv_is_closing((uv_handle_t *)&log->timer)) {
				svc->closing_timers++;
				uv_close((uv_handle_t *)&log->timer, timer_closed);
			}
		}
		ct_log_cancel_pool(log);
	}
	ct_service_check_stopped(svc);
}

static void ctlog_free(void *state)
{
	struct ct_service *svc = state;
	if (!svc)
		return;
	ct_metrics_stop(svc);
	for (size_t i = 0; i < svc->n_logs; i++)
		ct_log_close(&svc->logs[i]);
	for (size_t i = 0; i < svc->n_external; i++)
		ct_external_free(svc->external[i]);
	free(svc);
}

/* `trustbox ctlog loglist`: the v3 log list monitors and CT clients load. */
static int ctlog_command(void *state, int argc, char **argv)
{
	struct ct_service *svc = state;
	if (argc != 1 || strcmp(argv[0], "loglist") != 0) {
		fprintf(stderr, "trustbox: usage: trustbox ctlog loglist [-c FILE]\n");
		return 2;
	}
	for (size_t i = 0; i < svc->n_logs; i++) {
		int err = ct_log_open(&svc->logs[i]);
		if (err) {
			fprintf(stderr, "trustbox: log %s: cannot open: %s\n", svc->logs[i].name, tb_strerror(err));
			return 1;
		}
	}
	cJSON *list = ct_loglist_json(svc);
	char *text = list ? cJSON_Print(list) : NULL;
	if (text)
		printf("%s\n", text);
	free(text);
	cJSON_Delete(list);
	return text ? 0 : 1;
}

const struct tb_subsystem ctlog_subsystem = {
	.command = ctlog_command,
	.command_usage = "loglist",
	.name = "ctlog",
	.sections = ctlog_sections,
	.configure = ctlog_configure,
	.migrations = ct_migrations,
	.start = ctlog_start,
	.stop = ctlog_stop,
	.free = ctlog_free,
};
