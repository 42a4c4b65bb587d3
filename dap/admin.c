/*
 * DESIGN: the DAP part of the admin API (/api/v1/dap/..., docs/api.md).
 *
 * Reads: the tasks of both aggregators with their figures (reports
 * received, aggregated, collected, refused or failed by reason), and per
 * task its aggregation jobs, batches and collection jobs; never a secret.
 * Writes (token always needed): creating a task goes through the code of
 * `trustbox dap task create` (dap_task_new: fresh id, keys and tokens) and
 * is stored in one job with the collector credential, which the answer
 * shows once, with a divviup-ts upload snippet filled with this instance's
 * URLs; deleting a task removes its records. Collecting runs the collector
 * of `trustbox dap collect` (collection job URL, Collection opening and
 * unsharding from collector.c) over HTTP against this instance's leader,
 * asynchronously, with the credential stored for tasks created here: a lab
 * convenience (whoever holds the admin token reads every aggregate of
 * those tasks), which docs/dap.md spells out.
 */
#include "dap/dap_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/clock.h"
#include "core/admin.h"
#include "core/ca.h"
#include "core/crypto.h"
#include "core/error.h"
#include "core/http.h"
#include "core/log.h"

#define COLLECT_WAIT_MS 30000u   /* how long one collect call waits for the Collection */
#define COLLECT_MAX_RESPONSE (256u << 20)

static const char *const vdaf_api_names[] = { "count", "sum", "sumvec", "histogram" };

/* ---- task JSON ---- */

static cJSON *task_json(struct dap_service *svc, const char *agg, const struct dap_task *t)
{
	char id[64], ts[32];
	dap_b64url(t->id, DAP_TASK_ID_LEN, id, sizeof id);
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "id", id);
	cJSON_AddStringToObject(o, "role", agg);
	cJSON *v = cJSON_AddObjectToObject(o, "vdaf");
	cJSON_AddStringToObject(v, "type", vdaf_api_names[t->vdaf_type]);
	if (t->vdaf_type == DAP_PRIO3_SUM || t->vdaf_type == DAP_PRIO3_SUMVEC)
		cJSON_AddNumberToObject(v, "bits", t->params.bits);
	else
		cJSON_AddNullToObject(v, "bits");
	if (t->vdaf_type == DAP_PRIO3_SUMVEC) {
		cJSON_AddNumberToObject(v, "length", t->params.length);
		cJSON_AddNumberToObject(v, "chunk_length", t->params.chunk_length);
	} else if (t->vdaf_type == DAP_PRIO3_HISTOGRAM) {
		cJSON_AddNullToObject(v, "length");
		cJSON_AddNumberToObject(v, "chunk_length", t->params.chunk_length);
	} else {
		cJSON_AddNullToObject(v, "length");
		cJSON_AddNullToObject(v, "chunk_length");
	}
	if (t->vdaf_type == DAP_PRIO3_HISTOGRAM)
		cJSON_AddNumberToObject(v, "buckets", t->params.length);
	else
		cJSON_AddNullToObject(v, "buckets");
	cJSON_AddStringToObject(o, "query_type", t->query_type == DAP_QUERY_FIXED_SIZE ? "fixed_size" : "time_interval");
	cJSON_AddNumberToObject(o, "time_precision", (double)t->time_precision);
	cJSON_AddNumberToObject(o, "min_batch_size", (double)t->min_batch_size);
	if (t->max_batch_size)
		cJSON_AddNumberToObject(o, "max_batch_size", (double)t->max_batch_size);
	else
		cJSON_AddNullToObject(o, "max_batch_size");
	if (t->task_expiration)
		cJSON_AddStringToObject(o, "expiration", tb_admin_time((int64_t)t->task_expiration, ts, sizeof ts));
	else
		cJSON_AddNullToObject(o, "expiration");
	cJSON_AddStringToObject(o, "leader_url", t->leader_url);
	cJSON_AddStringToObject(o, "helper_url", t->helper_url);
	uint64_t received = 0, aggregated = 0, collected = 0;
	cJSON *counts = cJSON_AddObjectToObject(o, "counts");
	cJSON *rejected = cJSON_CreateObject();
	dap_db_task_counts(svc->core->store, agg, t->id, &received, &aggregated, &collected, rejected);
	cJSON_AddNumberToObject(counts, "received", (double)received);
	cJSON_AddNumberToObject(counts, "aggregated", (double)aggregated);
	cJSON_AddNumberToObject(counts, "collected", (double)collected);
	cJSON_AddItemToObject(counts, "rejected", rejected);
	if (!strcmp(agg, "leader")) {
		struct tb_bytes cred = { 0 };
		int stored = dap_db_get_credential(svc->core->store, t->id, &cred) == 0;
		tb_crypto_wipe(cred.p, cred.len);
		tb_bytes_free(&cred);
		cJSON_AddBoolToObject(o, "collector_stored", stored);
	}
	return o;
}

struct list_ctx {
	struct dap_service *svc;
	cJSON *items;
	size_t i, offset, limit, total;
	const uint8_t *only;
	struct dap_task *found;         /* show: the record found (leader's first) */
	char found_agg[16];
};

static void list_one(const char *agg, const char *record, void *arg)
{
	struct list_ctx *l = arg;
	size_t i = l->total++;
	if (l->items && (i < l->offset || i >= l->offset + l->limit))
		return;
	cJSON *j = cJSON_Parse(record);
	struct dap_task *t = malloc(sizeof *t);
	char err[256];
	if (j && t && !dap_task_from_json(j, t, err, sizeof err)) {
		if (l->items) {
			cJSON_AddItemToArray(l->items, task_json(l->svc, agg, t));
		} else if (!l->found || !strcmp(agg, "leader")) {
			if (l->found) {
				tb_crypto_wipe(l->found, sizeof *l->found);
				free(l->found);
			}
			l->found = t;
			snprintf(l->found_agg, sizeof l->found_agg, "%s", agg);
			t = NULL;
		}
	}
	cJSON_Delete(j);
	if (t) {
		tb_crypto_wipe(t, sizeof *t);
		free(t);
	}
}

static int tasks_list(struct tb_http_request *req, void *arg)
{
	struct dap_service *svc = arg;
	struct tb_admin_page pg;
	int64_t off;
	if (tb_admin_page_get(req, &pg))
		return 0;
	if (tb_admin_cursor_int(&pg, &off))
		return tb_admin_problem(req, 400, "malformed", "cursor: not one this API gave");
	struct list_ctx l = { .svc = svc, .items = cJSON_CreateArray(), .offset = (size_t)off, .limit = pg.limit };
	int rc = dap_db_list_tasks(svc->core->store, NULL, NULL, list_one, &l);
	if (rc && rc != TB_ERR_NOT_FOUND) {
		cJSON_Delete(l.items);
		return rc;
	}
	char nx[32];
	snprintf(nx, sizeof nx, "%zu", l.offset + l.limit);
	return tb_admin_respond_list(req, l.items, l.offset + l.limit < l.total ? nx : NULL);
}

/* The task named in the path, leader's record first; NULL after answering. */
static struct dap_task *task_param(struct tb_http_request *req, struct dap_service *svc, char *agg, size_t agglen)
{
	uint8_t id[DAP_TASK_ID_LEN];
	const char *p = tb_http_path_param(req, "id");
	if (!p || dap_unb64url_exact(p, id, sizeof id)) {
		tb_admin_problem(req, 404, "notFound", "a task id is 32 bytes in base64url");
		return NULL;
	}
	struct list_ctx l = { .svc = svc, .only = id };
	dap_db_list_tasks(svc->core->store, NULL, id, list_one, &l);
	if (!l.found) {
		tb_admin_problem(req, 404, "notFound", "no such task");
		return NULL;
	}
	snprintf(agg, agglen, "%s", l.found_agg);
	return l.found;
}

static void task_free(struct dap_task *t)
{
	tb_crypto_wipe(t, sizeof *t);
	free(t);
}

static int task_show(struct tb_http_request *req, void *arg)
{
	struct dap_service *svc = arg;
	char agg[16];
	struct dap_task *t = task_param(req, svc, agg, sizeof agg);
	if (!t)
		return 0;
	cJSON *o = task_json(svc, agg, t);
	cJSON *jobs = cJSON_AddArrayToObject(o, "aggregation_jobs");
	cJSON *batches = cJSON_AddArrayToObject(o, "batches");
	cJSON *cols = cJSON_AddArrayToObject(o, "collections");
	int rc = dap_db_task_detail(svc->core->store, agg, t, jobs, batches, cols);
	task_free(t);
	if (rc) {
		cJSON_Delete(o);
		return rc;
	}
	return tb_admin_respond(req, 200, o);
}

/* ---- create ---- */

/* The upload code a client runs, filled with this task's parameters. */
static char *client_snippet(const struct dap_task *t, const cJSON *params)
{
	char *p = cJSON_Print(params);
	const char *example;
	char buf[64];
	switch (t->vdaf_type) {
	case DAP_PRIO3_COUNT: example = "true"; break;
	case DAP_PRIO3_SUM:
		snprintf(buf, sizeof buf, "%llu", t->params.bits >= 6 ? 42ull : (1ull << t->params.bits) - 1);
		example = buf;
		break;
	case DAP_PRIO3_SUMVEC: example = "[/* one integer per element */]"; break;
	default: example = "0 /* the bucket's index */"; break;
	}
	struct tb_bytes b = { 0 };
	tb_bytes_printf(&b,
			"import { Task } from \"@divviup/dap\";\n\n"
			"const task = new Task(%s);\n\n"
			"await task.sendMeasurement(%s);\n",
			p ? p : "{}", example);
	free(p);
	return tb_bytes_cstr(&b) ? (char *)b.p : NULL;
}

struct create_ctx {
	struct tb_http_request *req;
	struct dap_service *svc;
	struct dap_new_task n;
	char *credential;
};

static void create_ctx_free(struct create_ctx *c)
{
	if (c->credential) {
		tb_crypto_wipe(c->credential, strlen(c->credential));
		free(c->credential);
	}
	tb_crypto_wipe(&c->n, sizeof c->n);
	free(c);
}

static void created(int status, void *arg)
{
	struct create_ctx *c = arg;
	struct dap_service *svc = c->svc;
	struct tb_http_request *req = c->req;
	svc->inflight--;
	if (status) {
		tb_admin_problem(req, 503, "unavailable", "the task could not be stored");
	} else {
		dap_cache_task(&svc->agg[DAP_AGG_LEADER], &c->n.leader);
		if (c->n.local_helper)
			dap_cache_task(&svc->agg[DAP_AGG_HELPER], &c->n.helper);
		tb_admin_log_write(req, "DAP task %s created (%s, leader %s, helper %s)", c->n.id,
				   c->n.leader.vdaf_name, c->n.leader.leader_url, c->n.leader.helper_url);
		cJSON *o = task_json(svc, "leader", &c->n.leader);
		cJSON *params = dap_divviup_ts_params(&c->n.leader);
		char *snippet = client_snippet(&c->n.leader, params);
		cJSON_AddStringToObject(o, "client_snippet", snippet ? snippet : "");
		free(snippet);
		cJSON_AddItemToObject(o, "client", params);
		/* shown once: only the stored copy remains (for collect) */
		cJSON *col = cJSON_AddObjectToObject(o, "collector");
		char cfg[256], sk[128];
		struct tb_bytes enc = { 0 };
		dap_hpke_config_encode(&c->n.config, &enc);
		dap_b64url(enc.p, enc.len, cfg, sizeof cfg);
		tb_bytes_free(&enc);
		dap_b64url(c->n.kp.sk, c->n.kp.sk_len, sk, sizeof sk);
		cJSON_AddStringToObject(col, "hpke_config", cfg);
		cJSON_AddStringToObject(col, "hpke_private_key", sk);
		cJSON_AddStringToObject(col, "auth_token", c->n.collector_token);
		cJSON_AddItemToObject(col, "credential", cJSON_Parse(c->credential));
		tb_crypto_wipe(sk, sizeof sk);
		if (!c->n.local_helper)
			cJSON_AddItemToObject(o, "helper_task", dap_task_to_json(&c->n.helper));
		char *text = cJSON_PrintUnformatted(o);
		cJSON_Delete(o);
		if (text) {
			tb_http_set_header(req, "Cache-Control", "no-store");
			tb_http_respond(req, 201, "application/json", text, strlen(text));
			tb_crypto_wipe(text, strlen(text));
			free(text);
		} else {
			tb_admin_problem(req, 503, "unavailable", "out of memory");
		}
	}
	create_ctx_free(c);
	dap_service_check_stopped(svc);
}

static int task_create(struct tb_http_request *req, void *arg)
{
	struct dap_service *svc = arg;
	cJSON *b = NULL;
	if (tb_admin_json_body(req, &b))
		return 0;
	/* only the task's shape comes from the caller; ids, keys and tokens are fresh */
	static const char *const keep[] = { "bits", "length", "chunk_length", "query", "max_batch_size",
					    "min_batch_size", "time_precision", "task_expiration", "dp_epsilon",
					    "max_batch_query_count", "tolerable_clock_skew", "report_expiry_age" };
	cJSON *params = cJSON_CreateObject();
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(b, "vdaf");
	if (cJSON_IsObject(v)) {
		/* {"vdaf": {"type", "bits", "length", "chunk_length"}} as the listing shows it */
		const cJSON *f;
		cJSON_ArrayForEach(f, v) {
			if (!strcmp(f->string, "type"))
				cJSON_AddItemToObject(params, "vdaf", cJSON_Duplicate(f, 1));
			else if (!strcmp(f->string, "buckets"))
				cJSON_AddItemToObject(params, "length", cJSON_Duplicate(f, 1));
			else if (!cJSON_IsNull(f) && !cJSON_GetObjectItemCaseSensitive(params, f->string))
				cJSON_AddItemToObject(params, f->string, cJSON_Duplicate(f, 1));
		}
	} else if (v) {
		cJSON_AddItemToObject(params, "vdaf", cJSON_Duplicate(v, 1));
	}
	const cJSON *qt = cJSON_GetObjectItemCaseSensitive(b, "query_type");
	if (qt)
		cJSON_AddItemToObject(params, "query", cJSON_Duplicate(qt, 1));
	for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++) {
		const cJSON *f = cJSON_GetObjectItemCaseSensitive(b, keep[i]);
		if (f && !cJSON_GetObjectItemCaseSensitive(params, keep[i]))
			cJSON_AddItemToObject(params, keep[i], cJSON_Duplicate(f, 1));
	}
	const char *helper = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(b, "helper_url"));
	const char *helper_token = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(b, "helper_token"));
	struct create_ctx *c = calloc(1, sizeof *c);
	if (!c) {
		cJSON_Delete(params);
		cJSON_Delete(b);
		return TB_ERR_NOMEM;
	}
	char err[512];
	int rc = dap_task_new(svc, params, helper, helper_token, &c->n, err, sizeof err);
	cJSON_Delete(params);
	cJSON_Delete(b);
	if (rc) {
		create_ctx_free(c);
		return tb_admin_problem(req, rc == TB_ERR_INVALID ? 400 : 503,
					rc == TB_ERR_INVALID ? "malformed" : "unavailable", err);
	}
	c->req = req;
	c->svc = svc;
	c->credential = dap_credential_json(&c->n.config, &c->n.kp, c->n.collector_token);
	rc = c->credential ? dap_db_create_task(svc->core->store, &c->n.leader, c->n.local_helper ? &c->n.helper : NULL,
						c->credential, created, c) :
			     TB_ERR_NOMEM;
	if (rc) {
		create_ctx_free(c);
		return tb_admin_problem(req, 503, "unavailable", "the task could not be stored");
	}
	svc->inflight++;
	return TB_HTTP_LATER;
}

/* ---- delete ---- */

struct delete_ctx {
	struct tb_http_request *req;
	struct dap_service *svc;
	uint8_t id[DAP_TASK_ID_LEN];
	char id_text[64];
};

static void deleted(int status, void *arg)
{
	struct delete_ctx *c = arg;
	struct dap_service *svc = c->svc;
	svc->inflight--;
	if (status == TB_ERR_NOT_FOUND) {
		tb_admin_problem(c->req, 404, "notFound", "no such task");
	} else if (status) {
		tb_admin_problem(c->req, 503, "unavailable", "the task could not be deleted");
	} else {
		for (int k = 0; k < 2; k++)
			dap_uncache_task(&svc->agg[k], c->id);
		tb_admin_log_write(c->req, "DAP task %s deleted", c->id_text);
		tb_http_respond(c->req, 204, NULL, NULL, 0);
	}
	free(c);
	dap_service_check_stopped(svc);
}

static int task_delete(struct tb_http_request *req, void *arg)
{
	struct dap_service *svc = arg;
	struct delete_ctx *c = calloc(1, sizeof *c);
	if (!c)
		return TB_ERR_NOMEM;
	const char *p = tb_http_path_param(req, "id");
	if (!p || dap_unb64url_exact(p, c->id, sizeof c->id)) {
		free(c);
		return tb_admin_problem(req, 404, "notFound", "a task id is 32 bytes in base64url");
	}
	snprintf(c->id_text, sizeof c->id_text, "%s", p);
	c->req = req;
	c->svc = svc;
	if (dap_db_delete_task(svc->core->store, c->id, deleted, c)) {
		free(c);
		return tb_admin_problem(req, 503, "unavailable", "the server is stopping");
	}
	svc->inflight++;
	return TB_HTTP_LATER;
}

/* ---- collect ---- */

struct collect_ctx {
	struct tb_http_request *req;
	struct dap_service *svc;
	struct dap_task task;
	struct dap_collector_cred cred;
	struct dap_collection_req cr;
	struct tb_bytes body;          /* the encoded CollectionReq */
	struct tb_bytes url;
	char job_id[64], auth[DAP_MAX_TOKEN + 16];
	uint64_t deadline;             /* uv_now after which the caller gets a 202 */
	uv_timer_t timer;
	int polling;
};

static void collect_closed(uv_handle_t *h)
{
	struct collect_ctx *c = h->data;
	struct dap_service *svc = c->svc;
	tb_bytes_free(&c->body);
	tb_bytes_free(&c->url);
	tb_crypto_wipe(c, sizeof *c);
	free(c);
	svc->inflight--;
	dap_service_check_stopped(svc);
}

/* Answers (the request is gone afterwards) and ends the collection's context. */
static void collect_end(struct collect_ctx *c)
{
	uv_close((uv_handle_t *)&c->timer, collect_closed);
}

static void collect_send(struct collect_ctx *c);

static void collect_problem(struct collect_ctx *c, int status, const char *what, const struct tb_http_client_resp *r)
{
	char d[600];
	snprintf(d, sizeof d, "%s: the leader answered %d %.*s", what, r ? r->status : 0,
		 r ? (int)(r->body.len < 400 ? r->body.len : 400) : 0, r && r->body.p ? (const char *)r->body.p : "");
	tb_admin_problem(c->req, status, status == 409 ? "conflict" : "unavailable", d);
	collect_end(c);
}

static void on_timer(uv_timer_t *t)
{
	collect_send(t->data);
}

static void on_collect_resp(int err, const struct tb_http_client_resp *r, void *arg)
{
	struct collect_ctx *c = arg;
	if (err) {
		char d[200];
		snprintf(d, sizeof d, "the leader could not be reached: %s", tb_strerror(err));
		tb_admin_problem(c->req, 503, "unavailable", d);
		collect_end(c);
		return;
	}
	if (!c->polling) {
		if (r->status != 201 && r->status != 200) {
			collect_problem(c, r->status == 400 || r->status == 409 ? 409 : 503,
					"creating the collection job", r);
			return;
		}
		c->polling = 1;
		collect_send(c);
		return;
	}
	if (r->status == 202) {
		uint64_t now = uv_now(c->svc->core->loop);
		if (c->svc->stopping || now >= c->deadline) {
			/* not ready: the caller asks again with the same job id */
			cJSON *o = cJSON_CreateObject();
			cJSON_AddStringToObject(o, "job_id", c->job_id);
			cJSON_AddStringToObject(o, "state", "pending");
			tb_http_set_header(c->req, "Retry-After", "1");
			tb_admin_respond(c->req, 202, o);
			collect_end(c);
			return;
		}
		const char *ra = tb_http_client_header(r, "Retry-After");
		long wait = ra ? strtol(ra, NULL, 10) : 1;
		uint64_t ms = wait > 0 && wait < 10 ? (uint64_t)wait * 1000 : 1000;
		if (ms > 250)
			ms = 250; /* the leader's aggregation period is short in a lab; do not idle a second */
		uv_timer_start(&c->timer, on_timer, ms, 0);
		return;
	}
	const char *ct = tb_http_client_header(r, "Content-Type");
	struct dap_collection col;
	if (r->status != 200 || !ct || strncmp(ct, DAP_MT_COLLECTION, strlen(DAP_MT_COLLECTION)) ||
	    dap_collection_decode(r->body, &col)) {
		collect_problem(c, r->status == 400 ? 409 : 503, "polling the collection job", r);
		return;
	}
	struct tb_bytes res = { 0 };
	int rc = dap_collect_open(&c->task, &c->cred, &c->cr, &col, &res);
	cJSON *o = rc || !tb_bytes_cstr(&res) ? NULL : cJSON_Parse((const char *)res.p);
	tb_bytes_free(&res);
	if (!o) {
		tb_admin_problem(c->req, 503, "unavailable", "the aggregate shares do not open or unshard");
	} else {
		cJSON_AddStringToObject(o, "job_id", c->job_id);
		tb_admin_log_write(c->req, "DAP task collected (job %s, %llu reports)", c->job_id,
				   (unsigned long long)col.report_count);
		tb_admin_respond(c->req, 200, o);
	}
	collect_end(c);
}

static void collect_send(struct collect_ctx *c)
{
	struct tb_http_header h[] = { { "Authorization", c->auth }, { "Content-Type", DAP_MT_COLLECT_REQ } };
	const char *roots = c->svc->helper_ca_pem ? c->svc->helper_ca_pem :
			    c->svc->core->ca ? c->svc->core->ca->root_pem : NULL;
	struct tb_http_client_req r = {
		.method = c->polling ? "POST" : "PUT",
		.url = (const char *)c->url.p,
		.headers = h,
		.n_headers = c->polling ? 1 : 2,
		.body = c->polling ? TB_BUF(NULL, 0) : tb_bytes_buf(&c->body),
		.max_body = COLLECT_MAX_RESPONSE,
		.ca_pem = roots,
		.timeout_ms = 60000,
	};
	int err = tb_http_client_request(c->svc->core->loop, &r, on_collect_resp, c);
	if (err) {
		tb_admin_problem(c->req, 503, "unavailable", "the collection request could not be sent");
		collect_end(c);
	}
}

static int task_collect(struct tb_http_request *req, void *arg)
{
	struct dap_service *svc = arg;
	uint8_t id[DAP_TASK_ID_LEN];
	const char *p = tb_http_path_param(req, "id");
	if (!p || dap_unb64url_exact(p, id, sizeof id))
		return tb_admin_problem(req, 404, "notFound", "a task id is 32 bytes in base64url");
	struct dap_task *t = svc->run_leader ? dap_find_task(&svc->agg[DAP_AGG_LEADER], id) : NULL;
	if (!t)
		return tb_admin_problem(req, 404, "notFound", "no such task on this instance's leader");
	if (svc->stopping)
		return tb_admin_problem(req, 503, "unavailable", "the server is stopping");
	cJSON *b = NULL;
	if (tb_admin_json_body(req, &b))
		return 0;
	struct collect_ctx *c = calloc(1, sizeof *c);
	if (!c) {
		cJSON_Delete(b);
		return TB_ERR_NOMEM;
	}
	c->task = *t;
	struct tb_bytes cred = { 0 };
	int rc = dap_db_get_credential(svc->core->store, id, &cred);
	if (!rc)
		rc = dap_credential_parse((const char *)cred.p, cred.len, &c->cred);
	tb_crypto_wipe(cred.p, cred.len);
	tb_bytes_free(&cred);
	const char *why = NULL;
	int status = 400;
	if (rc) {
		why = "no collector credential is stored for this task (only tasks created through this API have one)";
		status = 409;
	}
	/* the query: an interval (time_interval), else the current batch (fixed_size) */
	const cJSON *js = cJSON_GetObjectItemCaseSensitive(b, "batch_interval_start");
	const cJSON *jd = cJSON_GetObjectItemCaseSensitive(b, "duration");
	const char *job = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(b, "job_id"));
	uint64_t tp = t->time_precision ? t->time_precision : 1, now = (uint64_t)tb_time_now();
	if (!why && t->query_type == DAP_QUERY_TIME_INTERVAL) {
		/* default: the last day up to the end of the current time step */
		uint64_t start = now > 86400 ? (now - 86400) / tp * tp : 0;
		uint64_t end = (now / tp + 1) * tp;
		if ((js && (!cJSON_IsNumber(js) || js->valuedouble < 0)) ||
		    (jd && (!cJSON_IsNumber(jd) || jd->valuedouble <= 0)))
			why = "batch_interval_start and duration: non-negative integers (seconds)";
		else {
			if (js)
				start = (uint64_t)js->valuedouble;
			uint64_t dur = jd ? (uint64_t)jd->valuedouble : end - start;
			c->cr.query = (struct dap_query){ .query_type = DAP_QUERY_TIME_INTERVAL,
							  .interval = { start, dur } };
		}
	} else if (!why) {
		c->cr.query.query_type = DAP_QUERY_FIXED_SIZE;
		c->cr.query.fixed_size_type = DAP_FIXED_SIZE_CURRENT_BATCH;
	}
	uint8_t jid[DAP_COLLECTION_JOB_ID_LEN];
	if (!why && job && dap_unb64url_exact(job, jid, sizeof jid))
		why = "job_id: a collection job id (16 bytes in base64url) from an earlier 202";
	cJSON_Delete(b);
	if (why) {
		tb_crypto_wipe(c, sizeof *c);
		free(c);
		return tb_admin_problem(req, status, status == 409 ? "conflict" : "malformed", why);
	}
	if (!job)
		tb_random(jid, sizeof jid);
	dap_b64url(jid, sizeof jid, c->job_id, sizeof c->job_id);
	dap_collection_req_encode(&c->cr, &c->body);
	dap_collect_url(t->leader_url, p, c->job_id, &c->url);
	snprintf(c->auth, sizeof c->auth, "Bearer %s", c->cred.token);
	if (!tb_bytes_cstr(&c->url) || c->body.err) {
		tb_bytes_free(&c->body);
		tb_bytes_free(&c->url);
		tb_crypto_wipe(c, sizeof *c);
		free(c);
		return TB_ERR_NOMEM;
	}
	c->req = req;
	c->svc = svc;
	c->deadline = uv_now(svc->core->loop) + COLLECT_WAIT_MS;
	uv_timer_init(svc->core->loop, &c->timer);
	c->timer.data = c;
	svc->inflight++;
	collect_send(c);
	return TB_HTTP_LATER;
}

/* ---- the table ---- */

#define R TB_ROUTE_ADMIN_READ
#define W TB_ROUTE_ADMIN_WRITE
static const struct tb_http_route_def admin_routes[] = {
	{ "GET", "/tasks", tasks_list, 0, R },
	{ "POST", "/tasks", task_create, 64 * 1024, W },
	{ "GET", "/tasks/{id}", task_show, 0, R },
	{ "DELETE", "/tasks/{id}", task_delete, 0, W },
	{ "POST", "/tasks/{id}/collect", task_collect, 0, W },
};
#undef R
#undef W
static const struct tb_http_table admin_table = TB_HTTP_TABLE(admin_routes, NULL);

int dap_admin_mount(struct dap_service *svc)
{
	if (!svc->core->http || !svc->core->store)
		return 0;
	return tb_http_mount(svc->core->http, NULL, "/api/v1/dap", &admin_table, svc);
}
